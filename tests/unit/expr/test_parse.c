/*
 * The parser and type checker, and the SQL they lead to: the documented
 * examples, precedence, literals and their typing by context, constant
 * folding, type errors and syntax errors with their exact messages and
 * columns, the limits (length, nesting, nodes, in-list size), hostile input
 * (quotes, NUL bytes, invalid UTF-8, injection attempts, random bytes and
 * token soup), and the rule that no value ever appears in SQL text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/limits.h"
#include "base/time.h"
#include "expr/expr.h"

#define NOW_MS INT64_C(1700000000000) /* 2023-11-14T22:13:20Z, day 19675 */

struct fx {
    struct rp_arena arena;
    struct rp_error err;
    struct rp_expr_env env;
    bool resolver_silent; /* fail without setting a message */
};

static const struct {
    const char *path;
    enum rp_vtype type;
    bool multi;
} fields[] = {
    {"name", RP_V_TEXT, false},
    {"last_name", RP_V_TEXT, false},
    {"email", RP_V_TEXT, false},
    {"stage", RP_V_TEXT, false},
    {"amount", RP_V_MONEY, false},
    {"score", RP_V_NUM, false},
    {"close_date", RP_V_DATE, false},
    {"created_at", RP_V_DATETIME, false},
    {"active", RP_V_BOOL, false},
    {"do_not_email", RP_V_BOOL, false},
    {"tags", RP_V_TEXT, true},
    {"account.tier", RP_V_TEXT, false},
    {"account.parent.name", RP_V_TEXT, false},
};

static int resolve(void *ctx, const char *path, struct rp_expr_field *out, struct rp_error *err)
{
    struct fx *f = ctx;

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strcmp(fields[i].path, path) != 0)
            continue;
        out->type = fields[i].type;
        out->multi = fields[i].multi;
        if (strcmp(path, "account.tier") == 0)
            out->sql = "SELECT \"tier\" FROM \"account\" WHERE \"id\" = \"t\".\"account_id\"";
        else
            out->sql = rp_arena_sprintf(&f->arena, "\"t\".\"%s\"", path);
        return 0;
    }
    if (f->resolver_silent)
        return RP_EINVAL;
    return rp_error_set(err, RP_EINVAL, "unknown field \"%s\" on object \"opportunity\"", path);
}

static int setup(void **state)
{
    struct fx *f = rp_xcalloc(1, sizeof(*f));
    rp_arena_init(&f->arena);
    rp_error_init(&f->err, &f->arena);
    f->env.resolve = resolve;
    f->env.resolve_ctx = f;
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

static int parse(struct fx *f, const char *src, size_t len, struct rp_expr **e)
{
    rp_error_clear(&f->err);
    return rp_expr_parse(&f->arena, src, len, &f->env, e, &f->err);
}

static struct rp_expr *parse_ok(struct fx *f, const char *src)
{
    struct rp_expr *e = NULL;
    int rc = parse(f, src, strlen(src), &e);
    if (rc != 0)
        fail_msg("parse of \"%s\" failed: %s", src, f->err.detail);
    assert_non_null(e);
    return e;
}

static void compile(struct fx *f, const struct rp_expr *e, enum rp_sql_dialect d, struct rp_sql *q)
{
    rp_sql_init(q, &f->arena, d);
    assert_int_equal(rp_expr_compile_sql(e, q, &f->err), 0);
}

/* Asserts the SQLite text of src and returns the query for checking parameters. */
static struct rp_sql sql_is(struct fx *f, const char *src, const char *want)
{
    struct rp_sql q;
    compile(f, parse_ok(f, src), RP_SQL_SQLITE, &q);
    if (strcmp(q.text.data, want) != 0)
        fail_msg("%s\n  got:  %s\n  want: %s", src, q.text.data, want);
    return q;
}

static void pg_is(struct fx *f, const char *src, const char *want)
{
    struct rp_sql q;
    compile(f, parse_ok(f, src), RP_SQL_PG, &q);
    if (strcmp(q.text.data, want) != 0)
        fail_msg("%s\n  got:  %s\n  want: %s", src, q.text.data, want);
}

static void error_is(struct fx *f, const char *src, int code, const char *want)
{
    struct rp_expr *e = NULL;
    int rc = parse(f, src, strlen(src), &e);
    if (rc != code || !f->err.detail || strcmp(f->err.detail, want) != 0)
        fail_msg("%s\n  got:  %s %s\n  want: %s %s", src, rp_err_name(rc),
                 f->err.detail ? f->err.detail : "(none)", rp_err_name(code), want);
    assert_null(e);
}

static void param_is(const struct rp_sql *q, size_t i, enum rp_vtype type, int64_t v)
{
    assert_true(i < q->nparams);
    assert_int_equal(q->params[i].type, type);
    assert_int_equal(q->params[i].u.i, v);
}

static void text_param_is(const struct rp_sql *q, size_t i, const char *want)
{
    assert_true(i < q->nparams);
    assert_int_equal(q->params[i].type, RP_V_TEXT);
    assert_int_equal(q->params[i].u.s.len, strlen(want));
    assert_memory_equal(q->params[i].u.s.p, want, strlen(want));
}

#define TIER_SQL "(SELECT \"tier\" FROM \"account\" WHERE \"id\" = \"t\".\"account_id\")"

static void test_brief_examples(void **state)
{
    struct fx *f = *state;
    struct rp_sql q;

    q = sql_is(f,
               "stage in ('proposal','negotiation') and amount >= 10000 and account.tier = 'vip'",
               "((((\"t\".\"stage\") COLLATE BINARY IN (?1, ?2)) AND ((\"t\".\"amount\") >= ?3)) "
               "AND (" TIER_SQL " COLLATE BINARY = ?4))");
    assert_int_equal(q.nparams, 4);
    text_param_is(&q, 0, "proposal");
    text_param_is(&q, 1, "negotiation");
    param_is(&q, 2, RP_V_MONEY, INT64_C(100000000)); /* 10000.0000 exactly */
    text_param_is(&q, 3, "vip");

    q = sql_is(f, "last_name = '张' and created_at >= today() - 30",
               "(((\"t\".\"last_name\") COLLATE BINARY = ?1) AND ((\"t\".\"created_at\") >= ?2))");
    text_param_is(&q, 0, "张");
    param_is(&q, 1, RP_V_DATETIME, (INT64_C(19675) - 30) * RP_MS_PER_DAY);

    q = sql_is(f, "email is null or do_not_email = true",
               "(((\"t\".\"email\") IS NULL) OR (((\"t\".\"do_not_email\") <> 0) = ?1))");
    assert_int_equal(q.params[0].type, RP_V_BOOL);
    assert_true(q.params[0].u.b);

    pg_is(f, "stage in ('proposal','negotiation') and amount >= 10000 and account.tier = 'vip'",
          "((((\"t\".\"stage\") IN (($1::text), ($2::text))) AND ((\"t\".\"amount\") >= "
          "($3::bigint))) AND (" TIER_SQL " = ($4::text)))");
    /* equality is bytewise in PostgreSQL already (and an index can answer it); order is not */
    pg_is(f, "name >= 'M' and name <> 'X'",
          "(((\"t\".\"name\") COLLATE \"C\" >= ($1::text)) AND ((\"t\".\"name\") <> ($2::text)))");
}

static void test_precedence(void **state)
{
    struct fx *f = *state;
    struct rp_sql q;

    sql_is(
        f, "active or amount > 1 and score < 2",
        "(((\"t\".\"active\") <> 0) OR (((\"t\".\"amount\") > ?1) AND ((\"t\".\"score\") < ?2)))");
    sql_is(f, "not active and do_not_email",
           "((NOT ((\"t\".\"active\") <> 0)) AND ((\"t\".\"do_not_email\") <> 0))");
    sql_is(f, "not amount > 1", "(NOT ((\"t\".\"amount\") > ?1))");
    sql_is(f, "score + score * score",
           "((\"t\".\"score\") + ((\"t\".\"score\") * (\"t\".\"score\")))");
    sql_is(f, "score - score - score",
           "(((\"t\".\"score\") - (\"t\".\"score\")) - (\"t\".\"score\"))");
    sql_is(f, "score / score * score",
           "(((\"t\".\"score\") / NULLIF((\"t\".\"score\"), 0)) * (\"t\".\"score\"))");
    sql_is(f, "-score * score", "((-(\"t\".\"score\")) * (\"t\".\"score\"))");
    sql_is(
        f, "(active or do_not_email) and active",
        "((((\"t\".\"active\") <> 0) OR ((\"t\".\"do_not_email\") <> 0)) AND ((\"t\".\"active\") "
        "<> 0))");
    sql_is(
        f, "name not in ('a') or not name contains 'b'",
        "((NOT ((\"t\".\"name\") COLLATE BINARY IN (?1))) OR (NOT (instr((\"t\".\"name\"), ?2) > "
        "0)))");

    /* Folded constants show precedence as values. */
    q = sql_is(f, "1 + 2 * 3 = 7", "?1");
    assert_true(q.params[0].u.b);
    q = sql_is(f, "(1 + 2) * 3 = 9", "?1");
    assert_true(q.params[0].u.b);
    q = sql_is(f, "not true and false", "?1"); /* (not true) and false */
    assert_false(q.params[0].u.b);
    q = sql_is(f, "true or false and false", "?1"); /* true or (false and false) */
    assert_true(q.params[0].u.b);
    q = sql_is(f, "- 2 * 3 = -6", "?1");
    assert_true(q.params[0].u.b);
    q = sql_is(f, "10 - 4 - 3 = 3", "?1");
    assert_true(q.params[0].u.b);
}

static void test_keywords_and_spelling(void **state)
{
    struct fx *f = *state;

    sql_is(
        f, "name IS NOT NULL And stage In ('a') OR Not active",
        "((((\"t\".\"name\") IS NOT NULL) AND ((\"t\".\"stage\") COLLATE BINARY IN (?1))) OR (NOT "
        "((\"t\".\"active\") <> 0)))");
    sql_is(f, "close_date = TODAY()", "((\"t\".\"close_date\") = ?1)");
    sql_is(f, "Days_Between(close_date, Now()) > 1", "((?1 - (\"t\".\"close_date\")) > ?2)");
    sql_is(f, "amount <> 1", "((\"t\".\"amount\") <> ?1)");
    sql_is(f, "amount != 1", "((\"t\".\"amount\") <> ?1)");
    sql_is(f, "\tamount\r\n>=\n1 ", "((\"t\".\"amount\") >= ?1)");
    sql_is(f, "account.parent.name starts_with 'A'",
           "(substr((\"t\".\"account.parent.name\"), 1, length(?1)) COLLATE BINARY = ?2)");
    sql_is(f, "tags contains 'vip'",
           "(CASE WHEN (\"t\".\"tags\") IS NULL OR ?1 IS NULL THEN NULL ELSE ?2 COLLATE BINARY IN "
           "(SELECT \"value\" FROM json_each((\"t\".\"tags\")) WHERE \"type\" = 'text') END)");
    sql_is(f, "tags is not null", "((\"t\".\"tags\") IS NOT NULL)");
}

static void test_result_types(void **state)
{
    static const struct {
        const char *src;
        enum rp_vtype type;
    } cases[] = {
        {"amount > 1", RP_V_BOOL},
        {"amount + 1", RP_V_MONEY},
        {"amount - amount", RP_V_MONEY},
        {"-amount", RP_V_MONEY},
        {"amount * 2", RP_V_NUM},
        {"amount / 2", RP_V_NUM},
        {"amount + score", RP_V_NUM},
        {"len(name)", RP_V_INT},
        {"len(name) + 1", RP_V_INT},
        {"len(name) * 2", RP_V_INT},
        {"len(name) + 0.5", RP_V_NUM},
        {"len(name) / 2", RP_V_NUM},
        {"days_between(close_date, today())", RP_V_INT},
        {"1 + 1", RP_V_NUM},
        {"7 / 2", RP_V_NUM},
        {"name", RP_V_TEXT},
        {"lower(name)", RP_V_TEXT},
        {"today() - 30", RP_V_DATE},
        {"30 + close_date", RP_V_DATE},
        {"close_date + len(name)", RP_V_DATE},
        {"created_at + 1", RP_V_DATETIME},
        {"now()", RP_V_DATETIME},
        {"active", RP_V_BOOL},
        {"null and active", RP_V_BOOL},
    };
    struct fx *f = *state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum rp_vtype t = rp_expr_type(parse_ok(f, cases[i].src));
        if (t != cases[i].type)
            fail_msg("%s: type %s, want %s", cases[i].src, rp_vtype_name(t),
                     rp_vtype_name(cases[i].type));
    }
}

static void test_literals_typed_by_context(void **state)
{
    struct fx *f = *state;
    struct rp_sql q;

    /* Money literals are exact decimal units, never doubles. */
    q = sql_is(f, "amount = 0.1 + 0.2", "((\"t\".\"amount\") = ?1)");
    param_is(&q, 0, RP_V_MONEY, 3000);
    q = sql_is(f, "amount = -3", "((\"t\".\"amount\") = ?1)");
    param_is(&q, 0, RP_V_MONEY, -30000);
    q = sql_is(f, "amount > 1.0001 * 3", "((\"t\".\"amount\") > ?1)");
    param_is(&q, 0, RP_V_MONEY, 30003);
    q = sql_is(f, "amount + 0.5 >= 12.5", "(((\"t\".\"amount\") + ?1) >= ?2)");
    param_is(&q, 0, RP_V_MONEY, 5000);
    param_is(&q, 1, RP_V_MONEY, 125000);
    q = sql_is(f, "amount = 922337203685477.5807", "((\"t\".\"amount\") = ?1)");
    param_is(&q, 0, RP_V_MONEY, INT64_MAX);

    /* With number fields they are doubles; money then meets them as a double. */
    q = sql_is(f, "score = 0.1 + 0.2", "((\"t\".\"score\") = ?1)");
    assert_int_equal(q.params[0].type, RP_V_NUM);
    assert_true(q.params[0].u.d == 0.3); /* exact decimal sum, rounded once */
    sql_is(f, "amount < score", "(((\"t\".\"amount\") / 10000.0) < (\"t\".\"score\"))");
    pg_is(f, "amount < score",
          "(((\"t\".\"amount\")::float8 / 10000::float8) < (\"t\".\"score\"))");

    /* Integers: whole literals stay integers, fractions make the comparison a double one. */
    q = sql_is(f, "len(name) > 2", "(length((\"t\".\"name\")) > ?1)");
    param_is(&q, 0, RP_V_INT, 2);
    sql_is(f, "len(name) > 2.5", "(CAST(length((\"t\".\"name\")) AS REAL) > ?1)");

    /* Strings meet dates as dates. */
    q = sql_is(f, "close_date >= '2024-02-29'", "((\"t\".\"close_date\") >= ?1)");
    param_is(&q, 0, RP_V_DATE, 19782);
    q = sql_is(f, "'2024-01-01' < created_at", "(?1 < (\"t\".\"created_at\"))");
    param_is(&q, 0, RP_V_DATETIME, INT64_C(1704067200000));
    q = sql_is(f, "created_at < '2024-01-01T08:00:00+08:00'", "((\"t\".\"created_at\") < ?1)");
    param_is(&q, 0, RP_V_DATETIME, INT64_C(1704067200000));
    sql_is(f, "close_date < created_at",
           "(((\"t\".\"close_date\") * 86400000) < (\"t\".\"created_at\"))");
    q = sql_is(f, "created_at + 2 > now()", "(((\"t\".\"created_at\") + ?1) > ?2)");
    param_is(&q, 0, RP_V_INT, 2 * RP_MS_PER_DAY);
    param_is(&q, 1, RP_V_DATETIME, NOW_MS);

    /* Quotes, Chinese text and in-list items. */
    q = sql_is(
        f, "name = 'it''s' or name = '''' or name = ''",
        "((((\"t\".\"name\") COLLATE BINARY = ?1) OR ((\"t\".\"name\") COLLATE BINARY = ?2)) "
        "OR ((\"t\".\"name\") COLLATE BINARY = ?3))");
    text_param_is(&q, 0, "it's");
    text_param_is(&q, 1, "'");
    text_param_is(&q, 2, "");
    q = sql_is(f, "close_date in ('2024-01-01', today() - 1)",
               "((\"t\".\"close_date\") IN (?1, ?2))");
    param_is(&q, 0, RP_V_DATE, 19723);
    param_is(&q, 1, RP_V_DATE, 19674);
    q = sql_is(f, "amount not in (1, 2.5)", "(NOT ((\"t\".\"amount\") IN (?1, ?2)))");
    param_is(&q, 1, RP_V_MONEY, 25000);
    q = sql_is(f, "amount = 1.500000000000000000000000000", "((\"t\".\"amount\") = ?1)");
    param_is(&q, 0, RP_V_MONEY, 15000);
    q = sql_is(f, "'2024-01-02' in (today(), '2024-01-02')", "?1");
    assert_true(q.params[0].u.b);
}

static void test_constant_folding(void **state)
{
    struct fx *f = *state;
    struct rp_sql q;

    q = sql_is(f, "today()", "?1");
    param_is(&q, 0, RP_V_DATE, 19675);
    q = sql_is(f, "now() - 1", "?1");
    param_is(&q, 0, RP_V_DATETIME, NOW_MS - RP_MS_PER_DAY);
    q = sql_is(f, "days_between('2024-01-01', '2024-03-01')", "?1");
    param_is(&q, 0, RP_V_INT, 60);
    q = sql_is(f, "len('张三') = 2 and lower('ÀBC') = 'Àbc'", "?1");
    assert_true(q.params[0].u.b);
    q = sql_is(f, "1 / 0 is null", "?1");
    assert_true(q.params[0].u.b);
    q = sql_is(f, "null or true", "?1");
    assert_true(q.params[0].u.b);
    q = sql_is(f, "(null and true) is null", "?1");
    assert_true(q.params[0].u.b);

    /* Before the epoch today() is the floor, not the truncation. */
    f->env.now_ms = -1;
    q = sql_is(f, "today()", "?1");
    param_is(&q, 0, RP_V_DATE, -1);
    f->env.now_ms = NOW_MS;

    /* Constant overflow is a parse error, not a wrapped value. */
    error_is(f, "created_at > now() + 106751991167", RP_EINVAL,
             "integer out of range at column 14");
}

static void test_type_errors(void **state)
{
    static const struct {
        const char *src;
        const char *msg;
    } cases[] = {
        {"amount = 'x'", "type mismatch at column 1: cannot compare money with text"},
        {"'x' = amount", "type mismatch at column 1: cannot compare text with money"},
        {"name > 5", "type mismatch at column 1: cannot compare text with number"},
        {"active = 1", "type mismatch at column 1: cannot compare bool with number"},
        {"close_date = 5", "type mismatch at column 1: cannot compare date with number"},
        {"(amount) = name", "type mismatch at column 1: cannot compare money with text"},
        {"active and amount = name", "type mismatch at column 12: cannot compare money with text"},
        {"active < true", "type mismatch at column 1: cannot use \"<\" on bool"},
        {"amount = 1.23456", "invalid money value at column 10: more than 4 decimal places"},
        {"amount = 99999999999999999999", "money value out of range at column 10"},
        {"close_date = '2024-02-30'",
         "invalid date \"2024-02-30\" at column 14: expected YYYY-MM-DD"},
        {"close_date = '2024-01-01T00:00:00Z'",
         "invalid date \"2024-01-01T00:00:00Z\" at column 14: expected YYYY-MM-DD"},
        {"created_at > 'yesterday'",
         "invalid datetime \"yesterday\" at column 14: expected RFC 3339 or YYYY-MM-DD"},
        {"created_at - created_at",
         "type mismatch at column 1: cannot subtract datetime from datetime; use days_between()"},
        {"close_date - today() > 3",
         "type mismatch at column 1: cannot subtract date from date; use days_between()"},
        {"close_date + 1.5",
         "type mismatch at column 14: date arithmetic needs a whole number of days, not a fraction"},
        {"created_at + score",
         "type mismatch at column 14: datetime arithmetic needs a whole number of days, not number"},
        {"close_date - amount",
         "type mismatch at column 14: date arithmetic needs a whole number of days, not money"},
        {"close_date + created_at", "type mismatch at column 1: cannot add date and datetime"},
        {"created_at - len(name) * 1.5",
         "type mismatch at column 14: datetime arithmetic needs a whole number of days, not number"},
        {"close_date * 2", "type mismatch at column 1: cannot multiply date by number"},
        {"name + 'x'", "type mismatch at column 1: cannot add text and text"},
        {"1 - name", "type mismatch at column 1: cannot subtract text from number"},
        {"score / name", "type mismatch at column 1: cannot divide number by text"},
        {"-name", "type mismatch at column 1: cannot negate text"},
        {"name and active", "type mismatch at column 1: \"and\" expects bool, not text"},
        {"active or 1", "type mismatch at column 11: \"or\" expects bool, not number"},
        {"not amount", "type mismatch at column 5: \"not\" expects bool, not money"},
        {"lower(amount) = 'x'", "type mismatch at column 7: lower() expects text, not money"},
        {"len(5)", "type mismatch at column 5: len() expects text, not number"},
        {"amount contains 'x'", "type mismatch at column 1: contains expects text, not money"},
        {"name starts_with 1", "type mismatch at column 18: starts_with expects text, not number"},
        {"days_between(close_date, 5)",
         "type mismatch at column 26: days_between() expects a date or datetime, not number"},
        {"days_between(close_date, 'soon')",
         "invalid datetime \"soon\" at column 26: expected RFC 3339 or YYYY-MM-DD"},
        {"name in ('a', 1)", "type mismatch at column 15: cannot compare text with number"},
        {"name in (name)", "in list item at column 10 is not a constant"},
        {"score in (1 / 0)", "in list item at column 11 is null"},
        {"amount = null",
         "invalid use of null at column 10: a comparison with null is always null; use \"is "
         "null\" or \"is not null\""},
        {"name in ('a', null)",
         "invalid use of null at column 15: a comparison with null is always null; use \"is "
         "null\" or \"is not null\""},
        {"amount + null > 1",
         "invalid use of null at column 10: arithmetic with null is always null; use \"is null\" "
         "or \"is not null\""},
        {"null",
         "invalid use of null at column 1: the result would always be null; use \"is null\" or "
         "\"is not null\""},
        {"tags = 'a'",
         "multi-picklist field \"tags\" at column 1 can only be used with \"contains\" or \"is "
         "null\""},
        {"tags starts_with 'a'",
         "multi-picklist field \"tags\" at column 1 can only be used with \"contains\" or \"is "
         "null\""},
        {"name contains tags",
         "multi-picklist field \"tags\" at column 15 can only be used with \"contains\" or \"is "
         "null\""},
        {"len(tags) > 1",
         "multi-picklist field \"tags\" at column 5 can only be used with \"contains\" or \"is "
         "null\""},
        {"amout > 1", "unknown field \"amout\" on object \"opportunity\""},
        {"foo(1)", "unknown function \"foo\" at column 1"},
        {"name = 'x' or account.tier_x(1)", "unknown function \"account.tier_x\" at column 15"},
        {"len() > 1", "wrong number of arguments at column 1: len() takes 1, not 0"},
        {"today(1)", "wrong number of arguments at column 1: today() takes 0, not 1"},
        {"days_between(now())",
         "wrong number of arguments at column 1: days_between() takes 2, not 1"},
    };
    struct fx *f = *state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        error_is(f, cases[i].src, RP_EINVAL, cases[i].msg);
}

static void test_resolver_errors(void **state)
{
    struct fx *f = *state;

    f->resolver_silent = true;
    error_is(f, "active and nope = 1", RP_EINVAL, "unknown field \"nope\" at column 12");
    f->resolver_silent = false;
    f->env.resolve = NULL;
    error_is(f, "name = 'a'", RP_EINVAL, "unknown field \"name\" at column 1");
    f->env.resolve = resolve;
}

static void test_syntax_errors(void **state)
{
    static const struct {
        const char *src;
        const char *msg;
    } cases[] = {
        {"(amount > 1", "syntax error at column 12: expected \")\""},
        {"stage in ('a', 'b'", "syntax error at column 19: expected \")\""},
        {"stage in 'a'", "syntax error at column 10: expected \"(\""},
        {"stage in ()", "syntax error at column 11: unexpected \")\""},
        {"name = 'abc", "unterminated string at column 8"},
        {"name = 'it''s", "unterminated string at column 8"},
        {"last_name = '张三' and foo(1)", "unknown function \"foo\" at column 22"},
        {"last_name = '张三' and", "syntax error at column 21: unexpected end of expression"},
        {"last_name = '张三' 张", "syntax error at column 18: unexpected \"张\""},
        {"", "syntax error at column 1: empty expression"},
        {"  ", "syntax error at column 3: empty expression"},
        {"amount >", "syntax error at column 9: unexpected end of expression"},
        {"amount >> 1", "syntax error at column 9: unexpected \">\""},
        {"amount == 1", "syntax error at column 9: unexpected \"=\""},
        {"amount ! 1", "syntax error at column 8: unexpected \"!\""},
        {"1 < 2 < 3", "syntax error at column 7: unexpected \"<\""},
        {"amount >= 10 000", "syntax error at column 14: unexpected \"000\""},
        {"1.5.3 > 1", "syntax error at column 1: invalid number"},
        {"10abc > 1", "syntax error at column 1: invalid number"},
        {"amount > 1.", "syntax error at column 10: invalid number"},
        {"account. tier = 'a'", "syntax error at column 8: expected a field name after \".\""},
        {"account .tier = 'a'", "syntax error at column 9: unexpected \".\""},
        {"Amount > 1", "syntax error at column 1: field name \"Amount\" must be lower case"},
        {"\"name\" = 'a'", "syntax error at column 1: unexpected \"\"\""},
        {"name = \"a\"", "syntax error at column 8: unexpected \"\"\""},
        {"name is 'a'", "syntax error at column 9: expected \"null\""},
        {"name is not", "syntax error at column 12: expected \"null\""},
        {"name not like 'a'",
         "syntax error at column 10: expected \"in\", \"contains\" or \"starts_with\" after \"not\""},
        {"and", "syntax error at column 1: unexpected \"and\""},
        {"name = 'a' or or", "syntax error at column 15: unexpected \"or\""},
        {"lower(name,)", "syntax error at column 12: unexpected \")\""},
        {"lower(name", "syntax error at column 11: expected \")\""},
        {"today(", "syntax error at column 7: unexpected end of expression"},
        {"name = 'a';", "syntax error at column 11: unexpected \";\""},
    };
    struct fx *f = *state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        error_is(f, cases[i].src, RP_EINVAL, cases[i].msg);
}

static void test_paths(void **state)
{
    struct fx *f = *state;
    const char *const *paths;
    struct rp_expr *e;
    size_t n;

    e = parse_ok(f, "account.tier = 'x' and amount > 1 or account.tier != 'y' and "
                    "days_between(close_date, created_at) > 0 and amount < 5");
    n = rp_expr_paths(e, &paths);
    assert_int_equal(n, 4);
    assert_string_equal(paths[0], "account.tier");
    assert_string_equal(paths[1], "amount");
    assert_string_equal(paths[2], "close_date");
    assert_string_equal(paths[3], "created_at");

    e = parse_ok(f, "today() > '2024-01-01'");
    assert_int_equal(rp_expr_paths(e, &paths), 0);
}

static char *repeat(struct fx *f, const char *head, const char *unit, size_t n, const char *tail)
{
    struct rp_buf b;
    rp_buf_init(&b, &f->arena, 1 << 20);
    rp_buf_adds(&b, head);
    for (size_t i = 0; i < n; i++)
        rp_buf_adds(&b, unit);
    rp_buf_adds(&b, tail);
    assert_int_equal(rp_buf_error(&b), 0);
    return b.data;
}

static int parse_str(struct fx *f, const char *src)
{
    struct rp_expr *e;
    return parse(f, src, strlen(src), &e);
}

static void test_limits(void **state)
{
    struct fx *f = *state;
    char *s;
    size_t n;

    /* Length: 4096 bytes pass, one more does not. */
    s = repeat(f, "name = '", "x", RP_LIMIT_EXPR_BYTES - 9, "'");
    assert_int_equal(strlen(s), RP_LIMIT_EXPR_BYTES);
    assert_int_equal(parse_str(f, s), 0);
    s = repeat(f, "name = '", "x", RP_LIMIT_EXPR_BYTES - 8, "'");
    error_is(f, s, RP_ETOOBIG, "expression is too long: 4097 bytes (limit 4096)");
    s = repeat(f, "", "(", 1 << 19, "");
    assert_int_equal(parse_str(f, s), RP_ETOOBIG);

    /* Nesting: the whole expression is level 1, each parenthesis one more. */
    s = repeat(f, "", "(", RP_LIMIT_EXPR_DEPTH - 1, "active");
    s = repeat(f, s, ")", RP_LIMIT_EXPR_DEPTH - 1, "");
    assert_int_equal(parse_str(f, s), 0);
    s = repeat(f, "", "(", RP_LIMIT_EXPR_DEPTH, "active");
    s = repeat(f, s, ")", RP_LIMIT_EXPR_DEPTH, "");
    error_is(f, s, RP_ETOOBIG, "expression nesting too deep at column 33 (limit 32)");
    assert_int_equal(parse_str(f, repeat(f, "", "not ", 40, "active")), RP_ETOOBIG);
    assert_int_equal(parse_str(f, repeat(f, "score = ", "-", 40, "1")), RP_ETOOBIG);
    assert_int_equal(parse_str(f, repeat(f, "", "lower(", 40, "name")), RP_ETOOBIG);
    assert_int_equal(parse_str(f, repeat(f, "name in (", "(", 40, "'a'")), RP_ETOOBIG);
    /* Hostile nesting up to the byte limit never reaches the stack's end. */
    assert_int_equal(parse_str(f, repeat(f, "", "(", RP_LIMIT_EXPR_BYTES, "")), RP_ETOOBIG);
    assert_int_equal(parse_str(f, repeat(f, "", "not ", RP_LIMIT_EXPR_BYTES / 4, "")), RP_ETOOBIG);
    assert_int_equal(parse_str(f, repeat(f, "", "-", RP_LIMIT_EXPR_BYTES, "")), RP_ETOOBIG);

    /* Nodes: a long flat chain is not deep but is big. Each term is 4 nodes. */
    n = RP_LIMIT_EXPR_NODES / 4;
    assert_int_equal(parse_str(f, repeat(f, "", "score = 1 or ", n - 1, "active")), 0);
    s = repeat(f, "", "score = 1 or ", n + 1, "active");
    assert_true(strlen(s) <= RP_LIMIT_EXPR_BYTES);
    assert_int_equal(parse_str(f, s), RP_ETOOBIG);
    assert_non_null(strstr(f->err.detail, "too many parts"));

    /* In lists: 1000 items fit (they do not count as nodes), 1001 do not. */
    s = repeat(f, "score in (0", ",1", 999, ")");
    assert_int_equal(parse_str(f, s), 0);
    s = repeat(f, "score in (0", ",1", 1000, ")");
    error_is(f, s, RP_ETOOBIG, "in list at column 2011 has more than 1000 items");
}

/* day() repeats its operand in SQL; nesting must end in a clean error, not 2^n work. */
static void test_sql_blowup(void **state)
{
    struct fx *f = *state;
    struct rp_expr *e;
    struct rp_sql q;
    char *s;

    s = repeat(f, "", "days_between(created_at + ", 25, "1");
    s = repeat(f, s, ", now())", 25, "");
    assert_int_equal(parse(f, s, strlen(s), &e), 0);
    rp_sql_init(&q, &f->arena, RP_SQL_SQLITE);
    assert_int_equal(rp_expr_compile_sql(e, &q, &f->err), RP_ETOOBIG);
    assert_string_equal(f->err.detail, "expression too large to compile");
}

static void no_values_in_sql(struct fx *f, const char *src, const char *const *secrets)
{
    struct rp_expr *e = parse_ok(f, src);
    struct rp_sql q;

    for (int d = 0; d < 2; d++) {
        compile(f, e, d ? RP_SQL_PG : RP_SQL_SQLITE, &q);
        for (size_t i = 0; secrets[i]; i++)
            if (strstr(q.text.data, secrets[i]))
                fail_msg("value \"%s\" leaked into SQL: %s", secrets[i], q.text.data);
    }
}

static void test_hostile_input(void **state)
{
    static const char *const secrets[] = {"DROP", "drop", "--",   "12345", "0.5", "OR 1",
                                          "1=1",  "\\",   "张三", "2024",  "vip", NULL};
    struct fx *f = *state;
    struct rp_expr *e;
    struct rp_sql q;
    int rc;

    no_values_in_sql(f, "name = '''; DROP TABLE t; --'", secrets);
    no_values_in_sql(f, "name = ''' OR 1=1 --' or name contains 'drop table'", secrets);
    no_values_in_sql(f, "name in ('\\', '\\'';DROP', '张三') and amount > 12345.5", secrets);
    no_values_in_sql(f, "score > 0.5 and close_date > '2024-01-01' and tags contains 'vip'",
                     secrets);
    no_values_in_sql(f, "lower(name) starts_with '\"; DROP' and len(name) > 12345", secrets);

    /* "--" is two minus signs, never a comment, and "-(-x)" never prints as "--". */
    q = sql_is(f, "score = 1 -- 1", "((\"t\".\"score\") = ?1)");
    assert_true(q.params[0].u.d == 2.0);
    sql_is(f, "score = - -score", "((\"t\".\"score\") = (-(-(\"t\".\"score\"))))");

    /* The injection attempt is one text parameter, quotes and all. */
    compile(f, parse_ok(f, "name = '''; DROP TABLE t; --'"), RP_SQL_SQLITE, &q);
    assert_string_equal(q.text.data, "((\"t\".\"name\") COLLATE BINARY = ?1)");
    text_param_is(&q, 0, "'; DROP TABLE t; --");

    /* NUL bytes and invalid UTF-8 are rejected with their column, wherever they are. */
    rc = parse(f, "name = 'a\0b'", 12, &e);
    assert_int_equal(rc, RP_EINVAL);
    assert_string_equal(f->err.detail, "syntax error at column 10: unexpected NUL byte");
    rc = parse(f, "name = 'a'\0", 11, &e);
    assert_string_equal(f->err.detail, "syntax error at column 11: unexpected NUL byte");
    error_is(f, "name = '\xff'", RP_EINVAL, "invalid UTF-8 at column 9");
    error_is(f, "name = '张\xe5\xbc'", RP_EINVAL, "invalid UTF-8 at column 10");
    error_is(f, "name = '\xc0\xaf'", RP_EINVAL, "invalid UTF-8 at column 9");     /* overlong "/" */
    error_is(f, "name = '\xed\xa0\x80'", RP_EINVAL, "invalid UTF-8 at column 9"); /* surrogate */
    error_is(f, "\xf4\x90\x80\x80", RP_EINVAL, "invalid UTF-8 at column 1");      /* > U+10FFFF */
    error_is(f, "name\xc2", RP_EINVAL, "invalid UTF-8 at column 5");

    /* A NULL source of length 0 is just empty. */
    rc = parse(f, NULL, 0, &e);
    assert_int_equal(rc, RP_EINVAL);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Whatever comes in, the answer is a parsed expression or a clean error, never a crash. */
static void check_outcome(struct fx *f, const char *src, size_t len)
{
    struct rp_expr *e = NULL;
    struct rp_sql q;
    int rc = parse(f, src, len, &e);

    if (rc == 0) {
        assert_non_null(e);
        rp_sql_init(&q, &f->arena, RP_SQL_SQLITE);
        assert_int_equal(rp_expr_compile_sql(e, &q, &f->err), 0);
        rp_sql_init(&q, &f->arena, RP_SQL_PG);
        assert_int_equal(rp_expr_compile_sql(e, &q, &f->err), 0);
        return;
    }
    if (rc != RP_EINVAL && rc != RP_ETOOBIG)
        fail_msg("unexpected code %s for input of %zu bytes", rp_err_name(rc), len);
    assert_non_null(f->err.detail);
    assert_null(e);
}

static void test_random_input(void **state)
{
    static const char *const tokens[] = {
        "name",        "amount",
        "score",       "active",
        "tags",        "close_date",
        "created_at",  "account.tier",
        "(",           ")",
        ",",           "=",
        "!=",          "<",
        ">=",          "+",
        "-",           "*",
        "/",           "and",
        "or",          "not",
        "in",          "is",
        "null",        "true",
        "false",       "contains",
        "starts_with", "today()",
        "now()",       "lower(",
        "len(",        "days_between(",
        "'a'",         "'张'",
        "''''",        "1",
        "0.5",         "'2024-01-01'",
        "1.23456",     "99999999999999999999",
        "'",           "\xff",
        " ",
    };
    struct fx *f = *state;
    uint64_t seed = 42;
    char buf[512];

    for (int round = 0; round < 4000; round++) {
        size_t len = 0;
        if (round % 2) {
            size_t n = rng_next(&seed) % sizeof(buf);
            for (; len < n; len++)
                buf[len] = (char)(rng_next(&seed) % 256);
        } else {
            size_t n = 1 + rng_next(&seed) % 30;
            for (size_t i = 0; i < n; i++) {
                const char *t = tokens[rng_next(&seed) % (sizeof(tokens) / sizeof(tokens[0]))];
                size_t tl = strlen(t);
                if (len + tl + 1 >= sizeof(buf))
                    break;
                memcpy(buf + len, t, tl);
                len += tl;
                buf[len++] = ' ';
            }
        }
        check_outcome(f, buf, len);
        rp_arena_reset(&f->arena);
        rp_error_init(&f->err, &f->arena);
    }
}

static void test_pg_dialect(void **state)
{
    struct fx *f = *state;

    pg_is(f, "name contains 'a'", "(strpos((\"t\".\"name\"), ($1::text)) > 0)");
    pg_is(f, "name starts_with 'a'", "starts_with((\"t\".\"name\"), ($1::text))");
    pg_is(f, "lower(name) = 'a'",
          "(translate((\"t\".\"name\"), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
          "'abcdefghijklmnopqrstuvwxyz') = ($1::text))");
    pg_is(f, "len(name) > 2.5",
          "(((char_length((\"t\".\"name\"))::bigint)::float8) > ($1::float8))");
    pg_is(f, "tags contains 'a'",
          "(CASE WHEN (\"t\".\"tags\") IS NULL OR ($1::text) IS NULL THEN NULL ELSE "
          "jsonb_exists((\"t\".\"tags\")::jsonb, ($2::text)) END)");
    pg_is(f, "score / 2 > 1", "(((\"t\".\"score\") / NULLIF(($1::float8), 0)) > ($2::float8))");
    pg_is(f, "days_between(created_at, close_date) >= 0",
          "(((\"t\".\"close_date\") - ((\"t\".\"created_at\") / 86400000 - CASE WHEN "
          "(\"t\".\"created_at\") % 86400000 < 0 THEN 1 ELSE 0 END)) >= ($1::bigint))");
    pg_is(f, "active = true", "(((\"t\".\"active\") <> 0) = ($1::bigint <> 0))");
    pg_is(f, "null or active", "(($1::bigint <> 0) OR ((\"t\".\"active\") <> 0))");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_brief_examples, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keywords_and_spelling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_result_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_literals_typed_by_context, setup, teardown),
        cmocka_unit_test_setup_teardown(test_constant_folding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_type_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolver_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syntax_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sql_blowup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_dialect, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
