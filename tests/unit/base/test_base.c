/* Unit tests for src/base: arena, buf, time, money, utf8, uuid, json limits, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/json.h"
#include "base/limits.h"
#include "base/time.h"
#include "base/utf8.h"
#include "base/uuid.h"
#include "base/value.h"

static void test_arena(void **state)
{
    struct rp_arena a;
    struct rp_arena_mark m;
    char *big, *s;
    (void)state;

    rp_arena_init(&a);
    s = rp_arena_sprintf(&a, "%s-%d", "x", 42);
    assert_string_equal(s, "x-42");
    big = rp_arena_alloc(&a, 100000); /* its own chunk */
    memset(big, 1, 100000);
    m = rp_arena_mark(&a);
    for (int i = 0; i < 1000; i++)
        rp_arena_alloc(&a, 100);
    rp_arena_rewind(&a, m);
    assert_true(((uintptr_t)rp_arena_alloc(&a, 3) & 15) == 0);
    assert_null(rp_arena_strdup(&a, NULL));
    rp_arena_release(&a);
}

static void test_buf_cap_is_sticky(void **state)
{
    struct rp_buf b;
    (void)state;

    rp_buf_init(&b, NULL, 8);
    assert_string_equal(b.data, "");
    rp_buf_adds(&b, "12345");
    rp_buf_adds(&b, "6789"); /* past the cap: ignored, error set */
    assert_int_equal(rp_buf_error(&b), RP_ETOOBIG);
    assert_string_equal(b.data, "12345");
    rp_buf_adds(&b, "a"); /* still ignored */
    assert_string_equal(b.data, "12345");
    rp_buf_release(&b);
}

static void test_buf_json_escaping(void **state)
{
    struct rp_buf b;
    const char in[] = "a\"b\\c\n\x01\xe5\xbc\xa0\xff";
    (void)state;

    rp_buf_init(&b, NULL, 1024);
    rp_buf_add_json_str(&b, in, sizeof(in) - 1);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\xe5\xbc\xa0\\ufffd\"");
    rp_buf_release(&b);
}

static void test_dates(void **state)
{
    struct rp_buf b;
    int64_t d, ms;
    (void)state;

    assert_int_equal(rp_time_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(rp_time_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(rp_time_parse_date("2024-02-29", 10, &d), 0);
    assert_int_equal(rp_time_parse_date("2023-02-29", 10, &d), RP_EINVAL);
    assert_int_equal(rp_time_parse_date("2026-13-01", 10, &d), RP_EINVAL);
    assert_int_equal(rp_time_parse_datetime("2026-11-22T08:00:00Z", 20, &ms), 0);
    assert_true(ms == INT64_C(1795334400000));
    assert_int_equal(rp_time_parse_datetime("2026-11-22T16:00:00+08:00", 25, &ms), 0);
    assert_true(ms == INT64_C(1795334400000));
    assert_int_equal(rp_time_parse_datetime("2026-11-22T08:00:00", 19, &ms), RP_EINVAL);
    rp_buf_init(&b, NULL, 64);
    rp_time_format_datetime(&b, -1); /* before the epoch */
    assert_string_equal(b.data, "1969-12-31T23:59:59.999Z");
    rp_buf_reset(&b);
    rp_time_format_date(&b, rp_time_days_from_civil(1900, 2, 28) + 1);
    assert_string_equal(b.data, "1900-03-01");
    rp_buf_release(&b);
}

static void test_money(void **state)
{
    struct rp_buf b;
    int64_t u;
    (void)state;

    assert_int_equal(rp_money_parse("0.1", 3, &u), 0);
    assert_true(u == 1000);
    assert_int_equal(rp_money_parse("-12.3456", 8, &u), 0);
    assert_true(u == -123456);
    assert_int_equal(rp_money_parse("1.23456", 7, &u), RP_EINVAL);
    assert_int_equal(rp_money_parse("1e5", 3, &u), RP_EINVAL);
    assert_int_equal(rp_money_parse(".5", 2, &u), RP_EINVAL);
    assert_int_equal(rp_money_parse("99999999999999999999", 20, &u), RP_ETOOBIG);
    assert_int_equal(rp_money_parse("922337203685477.5807", 20, &u), 0);
    assert_true(u == INT64_MAX);
    assert_int_equal(rp_money_parse("922337203685477.5808", 20, &u), RP_ETOOBIG);
    rp_buf_init(&b, NULL, 64);
    rp_money_format(&b, 123456789012345678);
    assert_string_equal(b.data, "12345678901234.5678");
    rp_buf_reset(&b);
    rp_money_format(&b, -5000);
    assert_string_equal(b.data, "-0.5");
    rp_buf_release(&b);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(rp_utf8_is_valid("张三", strlen("张三")));
    assert_int_equal(rp_utf8_length("张三abc", strlen("张三abc")), 5);
    assert_false(rp_utf8_is_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(rp_utf8_is_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(rp_utf8_is_valid("a\0b", 3));             /* NUL */
    assert_false(rp_utf8_is_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
}

static void test_uuid(void **state)
{
    char a[RP_UUID_STRLEN + 1], b[RP_UUID_STRLEN + 1];
    (void)state;
    rp_uuid_v7(a, 1000);
    rp_uuid_v7(b, 2000);
    assert_true(rp_uuid_is_valid(a, strlen(a)));
    assert_int_equal(a[14], '7');
    assert_true(strcmp(a, b) < 0); /* time-ordered */
    assert_false(rp_uuid_is_valid("not-a-uuid", 10));
}

/* Unknown keys of a definition: one error, where the caller says, naming what is expected. */
static void test_json_check_keys(void **state)
{
    static const char *const keys[] = {"object", "steps", NULL};
    static const char *const fields[] = {NULL, "steps[2].", "definition"};
    static const char *const want[] = {"colour", "steps[2].colour", "definition"};
    struct rp_arena a;
    struct rp_error err;
    json_t *ok = json_pack("{s:s,s:[]}", "object", "lead", "steps");
    json_t *bad = json_pack("{s:s,s:s}", "object", "lead", "colour", "red");
    (void)state;

    rp_arena_init(&a);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        rp_error_init(&err, &a);
        assert_int_equal(rp_json_check_keys(ok, keys, "a journey", fields[i], &err), 0);
        assert_int_equal(rp_json_check_keys(bad, keys, "a journey", fields[i], &err),
                         RP_EVALIDATION);
        assert_int_equal(err.nfields, 1);
        assert_string_equal(err.fields[0].field, want[i]);
        assert_string_equal(err.fields[0].code, "unknown_key");
        assert_string_equal(err.fields[0].message,
                            "unknown key \"colour\" in a journey; expected object, steps");
    }
    json_decref(ok);
    json_decref(bad);
    rp_arena_release(&a);
}

static void test_json_limits(void **state)
{
    struct rp_arena a;
    struct rp_error err;
    char deep[100];
    json_t *v;
    (void)state;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    memset(deep, '[', sizeof(deep));
    v = rp_json_parse(deep, sizeof(deep), 1000, &err);
    assert_null(v);
    assert_int_equal(err.code, RP_ETOOBIG);
    rp_error_clear(&err);
    v = rp_json_parse("{\"a\":1,\"a\":2}", 13, 1000, &err);
    assert_null(v);
    assert_int_equal(err.code, RP_EINVAL);
    rp_error_clear(&err);
    v = rp_json_parse("{\"a\":9007199254740993}", 22, 1000, &err);
    assert_non_null(v);
    assert_true(json_integer_value(json_object_get(v, "a")) == INT64_C(9007199254740993));
    json_decref(v);
    rp_arena_release(&a);
}

static void test_error_table(void **state)
{
    struct rp_arena a;
    struct rp_error err;
    (void)state;

    assert_int_equal(rp_err_http_status(RP_EVALIDATION), 422);
    assert_string_equal(rp_err_problem_code(RP_EPRECONDITION), "precondition_failed");
    assert_string_equal(rp_err_name(RP_ETOOBIG), "ETOOBIG");
    assert_int_equal(rp_err_http_status(12345), 500);
    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rp_error_field(&err, RP_EVALIDATION, "email", "invalid_email", "bad %s", "email");
    rp_error_set(&err, RP_EINVAL, "ignored: the first error wins");
    assert_int_equal(err.code, RP_EVALIDATION);
    assert_string_equal(err.detail, "bad email");
    assert_int_equal(err.nfields, 1);
    rp_arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_buf_cap_is_sticky),
        cmocka_unit_test(test_buf_json_escaping),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_money),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_json_limits),
        cmocka_unit_test(test_json_check_keys),
        cmocka_unit_test(test_error_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
