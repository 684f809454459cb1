/*
 * The token buckets of the rate limit, with the time passed in: burst, refill,
 * the cap at the burst, Retry-After rounding, independent clients, and a
 * table that forgets old clients instead of growing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "http/http_int.h"

#define SEC INT64_C(1000000)

static void test_off(void **ctx)
{
    (void)ctx;
    assert_null(http_ratelimit_new(0, 10));
    assert_int_equal(http_ratelimit_take(NULL, "a", 1, 0), 0);
}

static void test_burst_and_refill(void **ctx)
{
    struct http_ratelimit *rl = http_ratelimit_new(2, 4); /* 2/s, bucket of 4 */
    int64_t t = 1000 * SEC;

    (void)ctx;
    for (int i = 0; i < 4; i++)
        assert_int_equal(http_ratelimit_take(rl, "tok", 3, t), 0);
    assert_int_equal(http_ratelimit_take(rl, "tok", 3, t), 1); /* 0.5 s away: says 1 */
    assert_int_equal(http_ratelimit_take(rl, "tok", 3, t + SEC / 2), 0);
    assert_int_equal(http_ratelimit_take(rl, "tok", 3, t + SEC / 2), 1);
    /* a long pause refills up to the burst, not beyond */
    t += 100 * SEC;
    for (int i = 0; i < 4; i++)
        assert_int_equal(http_ratelimit_take(rl, "tok", 3, t), 0);
    assert_int_equal(http_ratelimit_take(rl, "tok", 3, t), 1);
    /* another client has its own bucket */
    assert_int_equal(http_ratelimit_take(rl, "other", 5, t), 0);
    http_ratelimit_free(rl);
}

static void test_retry_after_rounds_up(void **ctx)
{
    struct http_ratelimit *rl = http_ratelimit_new(0.1, 1); /* one per 10 s */

    (void)ctx;
    assert_int_equal(http_ratelimit_take(rl, "k", 1, 0), 0);
    assert_int_equal(http_ratelimit_take(rl, "k", 1, 0), 10);
    assert_int_equal(http_ratelimit_take(rl, "k", 1, 5 * SEC + 1), 5);
    http_ratelimit_free(rl);
}

static void test_table_is_bounded(void **ctx)
{
    struct http_ratelimit *rl = http_ratelimit_new(0.001, 1);
    char key[32];

    (void)ctx;
    assert_int_equal(http_ratelimit_take(rl, "first", 5, 0), 0);
    assert_int_equal(http_ratelimit_take(rl, "first", 5, 0), 1000);
    /* far more clients than slots: the oldest are forgotten, nothing grows or fails */
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(key, sizeof(key), "client-%d", i);
        assert_int_equal(http_ratelimit_take(rl, key, (size_t)n, SEC + i), 0);
    }
    /* "first" was forgotten and comes back with a full bucket */
    assert_int_equal(http_ratelimit_take(rl, "first", 5, 2 * SEC), 0);
    http_ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_burst_and_refill),
        cmocka_unit_test(test_retry_after_rounds_up),
        cmocka_unit_test(test_table_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
