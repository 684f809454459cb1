/*
 * The evaluator: SQL three-valued logic (truth tables for and, or, not,
 * comparisons, in, is null), null through arithmetic and functions, date and
 * datetime arithmetic around the epoch, exact money, division, the
 * functions, Chinese text, multi-picklist membership, and how values from
 * the getter are accepted, converted or refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/time.h"
#include "expr/expr.h"

#define NOW_MS  INT64_C(1700000000000) /* 2023-11-14T22:13:20Z, day 19675 */
#define MAXVARS 16

struct fx {
    struct rp_arena arena;
    struct rp_error err;
    struct rp_expr_env env;
    const char *names[MAXVARS];
    struct rp_value vals[MAXVARS];
    size_t nvars;
    int get_rc;  /* what the getter returns when non-zero */
    size_t gets; /* getter calls */
};

static const struct {
    const char *path;
    enum rp_vtype type;
    bool multi;
} fields[] = {
    {"a", RP_V_BOOL, false},          {"b", RP_V_BOOL, false},
    {"name", RP_V_TEXT, false},       {"last_name", RP_V_TEXT, false},
    {"amount", RP_V_MONEY, false},    {"score", RP_V_NUM, false},
    {"close_date", RP_V_DATE, false}, {"created_at", RP_V_DATETIME, false},
    {"tags", RP_V_TEXT, true},        {"account.tier", RP_V_TEXT, false},
};

static int resolve(void *ctx, const char *path, struct rp_expr_field *out, struct rp_error *err)
{
    (void)ctx;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strcmp(fields[i].path, path) == 0) {
            out->type = fields[i].type;
            out->multi = fields[i].multi;
            out->sql = path;
            return 0;
        }
    }
    return rp_error_set(err, RP_EINVAL, "unknown field \"%s\"", path);
}

static int get(void *ctx, const char *path, struct rp_value *out)
{
    struct fx *f = ctx;

    f->gets++;
    if (f->get_rc)
        return f->get_rc;
    for (size_t i = 0; i < f->nvars; i++) {
        if (strcmp(f->names[i], path) == 0) {
            *out = f->vals[i];
            return 0;
        }
    }
    *out = rp_value_null();
    return 0;
}

static void set(struct fx *f, const char *path, struct rp_value v)
{
    for (size_t i = 0; i < f->nvars; i++) {
        if (strcmp(f->names[i], path) == 0) {
            f->vals[i] = v;
            return;
        }
    }
    assert_true(f->nvars < MAXVARS);
    f->names[f->nvars] = path;
    f->vals[f->nvars++] = v;
}

static int setup(void **state)
{
    struct fx *f = rp_xcalloc(1, sizeof(*f));
    rp_arena_init(&f->arena);
    rp_error_init(&f->err, &f->arena);
    f->env.resolve = resolve;
    f->env.now_ms = NOW_MS;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    rp_arena_release(&f->arena);
    free(f);
    return 0;
}

static int eval(struct fx *f, const char *src, struct rp_value *out)
{
    struct rp_expr *e;
    int rc;

    rp_error_clear(&f->err);
    rc = rp_expr_parse(&f->arena, src, strlen(src), &f->env, &e, &f->err);
    if (rc != 0)
        fail_msg("parse of \"%s\" failed: %s", src, f->err.detail);
    return rp_expr_eval(e, get, f, &f->arena, out, &f->err);
}

static struct rp_value value_of(struct fx *f, const char *src)
{
    struct rp_value v;
    int rc = eval(f, src, &v);
    if (rc != 0)
        fail_msg("eval of \"%s\" failed: %s", src, f->err.detail);
    return v;
}

/* 't', 'f' or 'n' (null) */
static char truth(struct fx *f, const char *src)
{
    struct rp_value v = value_of(f, src);
    if (v.type == RP_V_NULL)
        return 'n';
    if (v.type != RP_V_BOOL)
        fail_msg("%s: not a bool but %s", src, rp_vtype_name(v.type));
    return v.u.b ? 't' : 'f';
}

#define TRUTH(f, src, want)                                   \
    do {                                                      \
        char got_ = truth(f, src);                            \
        if (got_ != (want))                                   \
            fail_msg("%s: got %c, want %c", src, got_, want); \
    } while (0)

static struct rp_value tri(char c)
{
    return c == 'n' ? rp_value_null() : rp_value_bool(c == 't');
}

static void test_truth_tables(void **state)
{
    static const char vals[] = "tfn";
    /* rows: a; columns: b (t f n) */
    static const char *const and_table[] = {"tfn", "fff", "nfn"};
    static const char *const or_table[] = {"ttt", "tfn", "tnn"};
    static const char not_table[] = "ftn";
    static const char eq_table[3][4] = {"tfn", "ftn", "nnn"};
    struct fx *f = *state;

    for (int i = 0; i < 3; i++) {
        set(f, "a", tri(vals[i]));
        TRUTH(f, "not a", not_table[i]);
        TRUTH(f, "a is null", vals[i] == 'n' ? 't' : 'f');
        TRUTH(f, "a is not null", vals[i] == 'n' ? 'f' : 't');
        TRUTH(f, "a", vals[i]);
        TRUTH(f, "a = true", vals[i]);
        for (int j = 0; j < 3; j++) {
            set(f, "b", tri(vals[j]));
            TRUTH(f, "a and b", and_table[i][j]);
            TRUTH(f, "b and a", and_table[i][j]);
            TRUTH(f, "a or b", or_table[i][j]);
            TRUTH(f, "b or a", or_table[i][j]);
            TRUTH(f, "a = b", eq_table[i][j]);
            TRUTH(f, "not (a = b)",
                  not_table[eq_table[i][j] == 't'   ? 0
                            : eq_table[i][j] == 'f' ? 1
                                                    : 2]);
        }
    }
    /* The null literal takes part the same way. */
    set(f, "a", rp_value_bool(false));
    TRUTH(f, "null and a", 'f');
    TRUTH(f, "null or a", 'n');
    TRUTH(f, "not null or not a", 't');
    TRUTH(f, "(null and true) is null", 't');
}

static void test_null_propagation(void **state)
{
    struct fx *f = *state;
    struct rp_value v;

    /* Every field is null: comparisons, arithmetic and functions are null; is null is not. */
    TRUTH(f, "amount = 1", 'n');
    TRUTH(f, "amount != 1", 'n');
    TRUTH(f, "name < 'a'", 'n');
    TRUTH(f, "amount + 1 > 0", 'n');
    TRUTH(f, "-score < 0", 'n');
    TRUTH(f, "len(name) = 0", 'n');
    TRUTH(f, "lower(name) = 'a'", 'n');
    TRUTH(f, "days_between(close_date, today()) > 0", 'n');
    TRUTH(f, "name in ('a', 'b')", 'n');
    TRUTH(f, "name not in ('a', 'b')", 'n');
    TRUTH(f, "name contains ''", 'n');
    TRUTH(f, "'abc' contains name", 'n');
    TRUTH(f, "name starts_with ''", 'n');
    TRUTH(f, "tags contains 'a'", 'n');
    TRUTH(f, "name is null and amount is null and tags is null", 't');
    TRUTH(f, "(amount + 1) is null", 't');
    TRUTH(f, "amount > 1 or name is null", 't');
    TRUTH(f, "amount > 1 and name is not null", 'f');
    v = value_of(f, "amount * 2");
    assert_int_equal(v.type, RP_V_NULL);
    v = value_of(f, "lower(name)");
    assert_int_equal(v.type, RP_V_NULL);

    assert_false(rp_expr_is_true(&v));
    v = rp_value_bool(false);
    assert_false(rp_expr_is_true(&v));
    v = rp_value_int(1);
    assert_false(rp_expr_is_true(&v));
    v = rp_value_bool(true);
    assert_true(rp_expr_is_true(&v));
}

static void test_comparisons(void **state)
{
    struct fx *f = *state;

    set(f, "name", rp_value_cstr("b"));
    TRUTH(f, "name = 'b'", 't');
    TRUTH(f, "name <> 'b'", 'f');
    TRUTH(f, "name > 'B'", 't');  /* bytewise: 'b' (0x62) > 'B' (0x42) */
    TRUTH(f, "name < 'ba'", 't'); /* a prefix sorts first */
    TRUTH(f, "name >= 'b'", 't');
    TRUTH(f, "name <= 'a'", 'f');
    TRUTH(f, "name < '张'", 't'); /* UTF-8 bytes order like code points */
    TRUTH(f, "name in ('a', 'b')", 't');
    TRUTH(f, "name not in ('a', 'B')", 't');
    set(f, "name", rp_value_cstr(""));
    TRUTH(f, "name = ''", 't');
    TRUTH(f, "name is null", 'f'); /* empty text is not null */

    set(f, "score", rp_value_num(-0.0));
    TRUTH(f, "score = 0", 't');
    set(f, "score", rp_value_num(0.1 + 0.2));
    TRUTH(f, "score = 0.3", 'f'); /* doubles stay doubles */
    TRUTH(f, "score = 0.30000000000000004", 't');
    TRUTH(f, "score > 0.3", 't');
    set(f, "amount", rp_value_typed_int(RP_V_MONEY, 3000));
    TRUTH(f, "amount < score", 't'); /* 0.3 < 0.30000000000000004 as doubles */
    TRUTH(f, "amount * 1 = 0.3", 't');
}

static void test_money_is_exact(void **state)
{
    struct fx *f = *state;
    struct rp_value v;

    set(f, "amount", rp_value_typed_int(RP_V_MONEY, 3000)); /* 0.3 */
    TRUTH(f, "amount = 0.1 + 0.2", 't');
    TRUTH(f, "amount = 0.3", 't');
    TRUTH(f, "amount - 0.1 = 0.2", 't');
    TRUTH(f, "amount + amount + amount = 0.9", 't');
    TRUTH(f, "amount > 0.2999", 't');
    TRUTH(f, "amount in (0.1, 0.3)", 't');
    TRUTH(f, "-amount = -0.3", 't');
    v = value_of(f, "amount + 0.1");
    assert_int_equal(v.type, RP_V_MONEY);
    assert_int_equal(v.u.i, 4000);
    v = value_of(f, "amount - amount");
    assert_int_equal(v.type, RP_V_MONEY);
    assert_int_equal(v.u.i, 0);

    /* Multiplying or dividing money gives a number (a double), stated in the docs. */
    v = value_of(f, "amount * 3");
    assert_int_equal(v.type, RP_V_NUM);
    assert_true(v.u.d == 0.3 * 3);
    v = value_of(f, "amount / 3");
    assert_int_equal(v.type, RP_V_NUM);
    assert_true(v.u.d == 0.3 / 3);
    v = value_of(f, "amount / 0");
    assert_int_equal(v.type, RP_V_NULL);

    set(f, "amount", rp_value_typed_int(RP_V_MONEY, INT64_MAX));
    TRUTH(f, "amount = 922337203685477.5807", 't');
    assert_int_equal(eval(f, "amount + 0.0001 > 0", &v), RP_EINVAL);
    assert_string_equal(f->err.detail, "integer out of range at column 1");
}

static void test_division_and_numbers(void **state)
{
    struct fx *f = *state;
    struct rp_value v;

    v = value_of(f, "7 / 2");
    assert_int_equal(v.type, RP_V_NUM);
    assert_true(v.u.d == 3.5);
    set(f, "name", rp_value_cstr("abcde"));
    v = value_of(f, "len(name) / 2");
    assert_int_equal(v.type, RP_V_NUM);
    assert_true(v.u.d == 2.5);
    v = value_of(f, "len(name) * 3 - 1");
    assert_int_equal(v.type, RP_V_INT);
    assert_int_equal(v.u.i, 14);
    set(f, "score", rp_value_num(0.0));
    TRUTH(f, "1 / score is null", 't');
    TRUTH(f, "score / score is null", 't');
    set(f, "score", rp_value_num(1e300));
    v = value_of(f, "score * score");
    assert_true(isinf(v.u.d));
    TRUTH(f, "(score * score - score * score) is null", 't'); /* NaN is null, as in SQLite */
    set(f, "score", rp_value_num(NAN));
    TRUTH(f, "score is null", 't'); /* a NaN from the getter too */
}

static void test_dates(void **state)
{
    struct fx *f = *state;
    struct rp_value v;

    v = value_of(f, "today()");
    assert_int_equal(v.type, RP_V_DATE);
    assert_int_equal(v.u.i, 19675);
    v = value_of(f, "now()");
    assert_int_equal(v.type, RP_V_DATETIME);
    assert_int_equal(v.u.i, NOW_MS);

    set(f, "close_date", rp_value_typed_int(RP_V_DATE, -1)); /* 1969-12-31 */
    TRUTH(f, "close_date = '1969-12-31'", 't');
    TRUTH(f, "close_date + 1 = '1970-01-01'", 't');
    TRUTH(f, "1 + close_date = '1970-01-01'", 't');
    TRUTH(f, "close_date - 365 = '1968-12-31'", 't'); /* 1968 is a leap year */
    v = value_of(f, "close_date + 1");
    assert_int_equal(v.type, RP_V_DATE);
    assert_int_equal(v.u.i, 0);

    /* Datetimes: floor to the UTC day, also before 1970. */
    set(f, "created_at", rp_value_typed_int(RP_V_DATETIME, -1)); /* 1969-12-31T23:59:59.999Z */
    v = value_of(f, "days_between(created_at, close_date)");
    assert_int_equal(v.type, RP_V_INT);
    assert_int_equal(v.u.i, 0);
    v = value_of(f, "days_between(created_at, '1970-01-01T00:00:00Z')");
    assert_int_equal(v.u.i, 1);
    v = value_of(f, "days_between('1970-01-01', created_at)");
    assert_int_equal(v.u.i, -1);
    v = value_of(f, "days_between('2024-03-01', '2024-02-28')");
    assert_int_equal(v.u.i, -2);
    TRUTH(f, "created_at < close_date + 1", 't');
    TRUTH(f, "created_at >= close_date", 't'); /* the date is its midnight */
    TRUTH(f, "created_at + 1 = '1970-01-01T23:59:59.999Z'", 't');
    TRUTH(f, "created_at - 1 < '1969-12-30T23:59:59.999+00:00'", 'f');
    TRUTH(f, "created_at > '1969-12-31'", 't');

    /* The brief's example: created in the last 30 days. */
    set(f, "created_at", rp_value_typed_int(RP_V_DATETIME, (19675 - 30) * RP_MS_PER_DAY));
    TRUTH(f, "created_at >= today() - 30", 't');
    set(f, "created_at", rp_value_typed_int(RP_V_DATETIME, (19675 - 30) * RP_MS_PER_DAY - 1));
    TRUTH(f, "created_at >= today() - 30", 'f');
    TRUTH(f, "days_between(created_at, now()) = 31", 't');

    set(f, "close_date", rp_value_typed_int(RP_V_DATE, INT64_MAX / 2));
    assert_int_equal(eval(f, "close_date < created_at", &v), RP_EINVAL);
    assert_string_equal(f->err.detail, "integer out of range at column 1");
}

static void test_text_functions(void **state)
{
    struct fx *f = *state;
    struct rp_value v;

    set(f, "last_name", rp_value_cstr("张"));
    set(f, "name", rp_value_cstr("张三"));
    TRUTH(f, "last_name = '张' and len(name) = 2", 't');
    TRUTH(f, "name starts_with last_name", 't');
    TRUTH(f, "name contains '三'", 't');
    TRUTH(f, "name contains '四'", 'f');
    TRUTH(f, "len('') = 0 and len('a''b') = 3 and len('😀') = 1", 't');

    set(f, "name", rp_value_cstr("ÀBc Déf"));
    v = value_of(f, "lower(name)");
    assert_int_equal(v.type, RP_V_TEXT);
    assert_int_equal(v.u.s.len, strlen("Àbc déf"));
    assert_memory_equal(v.u.s.p, "Àbc déf", v.u.s.len); /* ASCII only, like SQLite's lower() */
    TRUTH(f, "lower(name) = 'Àbc déf'", 't');
    TRUTH(f, "name contains 'bc'", 'f'); /* case-sensitive */
    TRUTH(f, "lower(name) contains 'bc'", 't');
    TRUTH(f, "name contains ''", 't');
    TRUTH(f, "name starts_with ''", 't');
    TRUTH(f, "name starts_with 'ÀB'", 't');
    TRUTH(f, "name starts_with 'ÀBc Déf!'", 'f');
    TRUTH(f, "name not starts_with 'x'", 't');
    TRUTH(f, "name not contains 'Déf'", 'f');
    TRUTH(f, "'' contains ''", 't');
}

static void test_multi_picklist(void **state)
{
    struct fx *f = *state;
    struct rp_value v;

    TRUTH(f, "tags contains 'a'", 'n');
    set(f, "tags", rp_value_cstr("[]"));
    TRUTH(f, "tags contains 'a'", 'f');
    TRUTH(f, "tags contains ''", 'f');
    TRUTH(f, "tags is null", 'f');
    set(f, "tags", rp_value_cstr("[\"a\",\"b\"]"));
    TRUTH(f, "tags contains 'a'", 't');
    TRUTH(f, "tags contains 'A'", 'f');
    TRUTH(f, "tags contains 'ab'", 'f'); /* membership, not substring */
    TRUTH(f, "tags not contains 'c'", 't');
    TRUTH(f, "tags contains name", 'n'); /* a null needle gives null */
    set(f, "name", rp_value_cstr("b"));
    TRUTH(f, "tags contains name", 't');
    set(f, "tags", rp_value_cstr("[\"\\u5f20\", \"a\\\"b\", 1, null]"));
    TRUTH(f, "tags contains '张'", 't'); /* JSON escapes are decoded */
    TRUTH(f, "tags contains 'a\"b'", 't');
    TRUTH(f, "tags contains '1'", 'f'); /* only strings match */
    set(f, "tags", rp_value_cstr("[\"a\""));
    assert_int_equal(eval(f, "tags contains 'a'", &v), RP_EINVAL);
    assert_string_equal(f->err.detail, "malformed multi-picklist value at column 1");
}

static void test_getter_contract(void **state)
{
    struct fx *f = *state;
    struct rp_value v;
    char buf[8] = "abc";

    /* Integer stand-ins are accepted for integer-represented types. */
    set(f, "a", rp_value_int(2));
    set(f, "amount", rp_value_int(10000));
    set(f, "score", rp_value_int(3));
    set(f, "close_date", rp_value_int(0));
    TRUTH(f, "a and amount = 1 and score = 3 and close_date = '1970-01-01'", 't');

    /* Anything else is a caller bug. */
    set(f, "amount", rp_value_cstr("12"));
    assert_int_equal(eval(f, "amount > 1", &v), RP_EINTERNAL);
    assert_string_equal(f->err.detail, "field \"amount\" holds text, expected money");

    /* A failing getter fails the evaluation with its code. */
    f->get_rc = RP_EDB;
    assert_int_equal(eval(f, "name = 'a'", &v), RP_EDB);
    assert_string_equal(f->err.detail, "could not read field \"name\"");
    f->get_rc = 0;

    /* A text result outlives the getter's buffer. */
    set(f, "name", rp_value_text(buf, 3));
    v = value_of(f, "name");
    memcpy(buf, "xyz", 3);
    assert_int_equal(v.type, RP_V_TEXT);
    assert_memory_equal(v.u.s.p, "abc", 3);

    /* Constants are folded: no field, no getter call. */
    f->gets = 0;
    TRUTH(f, "today() - 1 < now() and 'a' in ('a')", 't');
    assert_int_equal(f->gets, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_truth_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_propagation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_comparisons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_money_is_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_division_and_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_functions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_picklist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_getter_contract, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
