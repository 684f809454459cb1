/*
 * Demo data: it loads into an empty in-memory app, the count it returns is
 * what the records API lists, a second load does nothing, every account's
 * unified social credit code passes a checksum written here independently
 * of the generator, Chinese contacts can be filtered by surname, and the
 * business rules the catalogue states hold on the generated rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "base/limits.h"

static const char *const objects[] = {
    "account",
    "contact",
    "lead",
    "opportunity",
    "product",
    "price_book",
    "price_book_entry",
    "campaign",
    "campaign_member",
    "case",
    "activity",
    "quote",
    "quote_line",
};

struct fx {
    struct rp_app *app;
    struct rp_arena arena;
    struct rp_error err;
    int loaded; /* what the first load returned */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct rp_error err;
    struct rp_arena a;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    if (rp_app_open(&(struct rp_app_config){.memory = true, .fast_passwords = true}, &f->app,
                    &err) < 0) {
        fprintf(stderr, "could not open the app: %s\n", err.detail ? err.detail : "");
        rp_arena_release(&a);
        free(f);
        return -1;
    }
    rp_arena_release(&a);
    rp_arena_init(&f->arena);
    rp_error_init(&f->err, &f->arena);
    f->loaded = rp_app_load_demo(f->app, &f->err);
    if (f->loaded < 0)
        fprintf(stderr, "demo load failed: %s\n", f->err.detail ? f->err.detail : "");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    rp_app_close(f->app);
    rp_arena_release(&f->arena);
    free(f);
    return 0;
}

/* Lists object with q (filter may be NULL) as the system principal; the caller decrefs. */
static json_t *list(struct fx *f, const char *object, const struct rp_list_query *q)
{
    struct rp_buf out;
    json_error_t jerr;
    json_t *root;
    int rc;

    rp_buf_init(&out, &f->arena, RP_LIMIT_RESPONSE_BYTES);
    rc = rp_records_list(f->app->records, &f->app->system, object, q, &f->arena, &out, &f->err);
    if (rc < 0)
        fprintf(stderr, "list %s: %s\n", object, f->err.detail ? f->err.detail : "");
    assert_int_equal(rc, 0);
    root = json_loadb(out.data, out.len, 0, &jerr);
    assert_non_null(root);
    return root;
}

static json_int_t count(struct fx *f, const char *object)
{
    json_t *root = list(f, object, &(struct rp_list_query){.limit = 1, .count = true});
    json_t *total = json_object_get(json_object_get(root, "total"), "count");
    json_int_t n;

    assert_true(json_is_integer(total));
    assert_true(json_is_true(json_object_get(json_object_get(root, "total"), "exact")));
    n = json_integer_value(total);
    json_decref(root);
    return n;
}

static void test_counts_match(void **state)
{
    struct fx *f = *state;
    json_int_t total = 0;

    assert_true(f->loaded > 0);
    for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
        json_int_t n = count(f, objects[i]);
        print_message("%-17s %lld\n", objects[i], (long long)n);
        assert_true(n > 0);
        total += n;
    }
    assert_int_equal(total, f->loaded);
    assert_true(count(f, "account") >= 40);
    assert_true(count(f, "contact") >= 120);
    assert_true(count(f, "lead") >= 80);
    assert_true(count(f, "opportunity") >= 60);
    assert_true(count(f, "case") >= 30);
    assert_true(count(f, "activity") >= 100);
}

/* The loop's configuration comes with the demo: pipeline, scoring model (leads scored), form. */
static void test_configuration(void **state)
{
    struct fx *f = *state;
    static const char *const kinds[][2] = {{"pipelines", "\"sales\""},
                                           {"scoring-models", "\"lead_fit\""},
                                           {"capture-forms", "\"website\""}};
    json_t *root, *total;

    assert_true(f->loaded > 0);
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        struct rp_buf out;
        rp_buf_init(&out, &f->arena, RP_LIMIT_RESPONSE_BYTES);
        assert_int_equal(rp_records_definitions(f->app->records, &f->app->system, kinds[i][0], NULL,
                                                &out, &f->err),
                         0);
        rp_buf_addc(&out, '\0');
        assert_non_null(strstr(out.data, kinds[i][1]));
    }
    root =
        list(f, "lead", &(struct rp_list_query){.filter = "score > 0", .limit = 1, .count = true});
    total = json_object_get(json_object_get(root, "total"), "count");
    assert_true(json_integer_value(total) > 10);
    json_decref(root);
}

static void test_second_load_is_noop(void **state)
{
    struct fx *f = *state;
    json_int_t before = count(f, "contact");

    assert_int_equal(rp_app_load_demo(f->app, &f->err), 0);
    assert_int_equal(count(f, "contact"), before);
}

/* GB 11714-1997: the organisation code's check character over its first 8 characters. */
static bool org_code_ok(const char *s)
{
    static const int w[8] = {3, 7, 9, 10, 5, 8, 4, 2};
    int sum = 0, c;
    char want;

    for (int i = 0; i < 8; i++) {
        int v;
        if (s[i] >= '0' && s[i] <= '9')
            v = s[i] - '0';
        else if (s[i] >= 'A' && s[i] <= 'Z')
            v = s[i] - 'A' + 10;
        else
            return false;
        sum += v * w[i];
    }
    c = 11 - sum % 11;
    want = c == 10 ? 'X' : c == 11 ? '0' : (char)('0' + c);
    return s[8] == want;
}

/* GB 32100-2015: charset, weights and check character of an 18-character code. */
static bool uscc_ok(const char *s)
{
    static const char cs[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    static const int w[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
    int sum = 0;

    if (strlen(s) != 18)
        return false;
    for (int i = 0; i < 18; i++)
        if (!s[i] || !strchr(cs, s[i]))
            return false;
    for (int i = 2; i < 8; i++)
        if (s[i] < '0' || s[i] > '9')
            return false; /* administrative division code */
    for (int i = 0; i < 17; i++)
        sum += (int)(strchr(cs, s[i]) - cs) * w[i];
    return s[17] == cs[(31 - sum % 31) % 31] && org_code_ok(s + 8);
}

static void test_checksum_helpers(void **state)
{
    (void)state;
    /* Worked examples computed by hand from the two standards. */
    assert_true(org_code_ok("123456788"));
    assert_false(org_code_ok("123456789"));
    assert_true(uscc_ok("913100001234567883"));
    assert_true(uscc_ok("91440300MA1FL2XQ5L"));
    assert_false(uscc_ok("913100001234567884"));
    assert_false(uscc_ok("913100001234567896")); /* GB 32100 check right, GB 11714 wrong */
    assert_false(uscc_ok("9131000012345678I3")); /* I is not in the charset */
    assert_false(uscc_ok("91310000123456788"));  /* 17 characters */
}

static void test_uscc_valid(void **state)
{
    struct fx *f = *state;
    json_t *root = list(f, "account", &(struct rp_list_query){.limit = 500, .fields = "name,uscc"});
    json_t *rows = json_object_get(root, "data"), *row;
    size_t i, with_code = 0;

    assert_true(json_array_size(rows) >= 40);
    json_array_foreach(rows, i, row)
    {
        const char *code = json_string_value(json_object_get(row, "uscc"));
        if (!code)
            continue;
        if (!uscc_ok(code))
            fail_msg("account %s has an invalid credit code %s",
                     json_string_value(json_object_get(row, "name")), code);
        with_code++;
    }
    /* About two thirds of the accounts are Chinese companies. */
    assert_true(with_code >= 20);
    json_decref(root);

    root = list(f, "lead", &(struct rp_list_query){.limit = 500, .filter = "uscc is not null"});
    json_array_foreach(json_object_get(root, "data"), i, row)
        assert_true(uscc_ok(json_string_value(json_object_get(row, "uscc"))));
    json_decref(root);
}

static void test_filter_by_surname(void **state)
{
    struct fx *f = *state;
    json_t *root =
        list(f, "contact", &(struct rp_list_query){.limit = 500, .filter = "last_name = '王'"});
    json_t *rows = json_object_get(root, "data"), *row;
    size_t i;

    assert_true(json_array_size(rows) > 0);
    json_array_foreach(rows, i, row)
    {
        assert_string_equal(json_string_value(json_object_get(row, "last_name")), "王");
        assert_non_null(strchr(json_string_value(json_object_get(row, "email")), '@'));
    }
    json_decref(root);
}

static json_int_t count_where(struct fx *f, const char *object, const char *filter)
{
    json_t *root =
        list(f, object, &(struct rp_list_query){.limit = 1, .count = true, .filter = filter});
    json_int_t n = json_integer_value(json_object_get(json_object_get(root, "total"), "count"));
    json_decref(root);
    return n;
}

static void test_variety(void **state)
{
    static const char *const stages[] = {"prospecting", "qualification", "needs_analysis",
                                         "proposal",    "negotiation",   "closed_won",
                                         "closed_lost"};
    static const char *const statuses[] = {"new", "working",   "nurturing",   "mql",
                                           "sql", "converted", "disqualified"};
    struct fx *f = *state;
    char filter[128];

    for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++) {
        snprintf(filter, sizeof(filter), "stage = '%s'", stages[i]);
        assert_true(count_where(f, "opportunity", filter) > 0);
    }
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        snprintf(filter, sizeof(filter), "status = '%s'", statuses[i]);
        assert_true(count_where(f, "lead", filter) > 0);
    }
    assert_int_equal(count_where(f, "opportunity", "stage = 'closed_lost' and lost_reason is null"),
                     0);
    assert_int_equal(count_where(f, "opportunity", "stage = 'closed_won' and closed_at is null"),
                     0);
    assert_int_equal(
        count_where(f, "lead", "status = 'disqualified' and disqualified_reason is null"), 0);
    assert_int_equal(
        count_where(f, "lead", "status = 'converted' and converted_account_id is null"), 0);
    assert_true(count_where(f, "opportunity", "currency = 'usd'") > 0);
    assert_true(count_where(f, "account", "tier = 'vip'") > 0);
    assert_true(count_where(f, "account", "parent_id is not null") > 0);
    assert_true(count_where(f, "contact", "do_not_email = true") > 0);
    assert_true(count_where(f, "contact", "reports_to_id is not null") > 0);
    assert_true(count_where(f, "price_book", "is_standard = true") == 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checksum_helpers), cmocka_unit_test(test_counts_match),
        cmocka_unit_test(test_configuration),    cmocka_unit_test(test_second_load_is_noop),
        cmocka_unit_test(test_uscc_valid),       cmocka_unit_test(test_filter_by_surname),
        cmocka_unit_test(test_variety),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
