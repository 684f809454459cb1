/* Unit tests for the PostgreSQL driver's marker translation (no server needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/arena.h"
#include "store/store_int.h"

static void check(const char *in, const char *want, int markers)
{
    struct rp_arena a;
    struct rp_buf out;

    rp_arena_init(&a);
    rp_buf_init(&out, &a, 1 << 16);
    assert_int_equal(rp_store_pg_translate(in, &out), markers);
    if (want)
        assert_string_equal(out.data, want);
    rp_arena_release(&a);
}

static void test_numbered(void **state)
{
    (void)state;
    check("SELECT a FROM t WHERE b = ?1 AND c = ?2", "SELECT a FROM t WHERE b = $1 AND c = $2", 2);
    check("SELECT ?12", "SELECT $12", 12);
    check("SELECT 1", "SELECT 1", 0);
}

static void test_bare_markers_count_on(void **state)
{
    (void)state;
    check("a = ? AND b = ?", "a = $1 AND b = $2", 2);
    /* a bare marker after ?N takes the next number, as SQLite does */
    check("a = ?3 AND b = ?", "a = $3 AND b = $4", 4);
}

static void test_quoted_text_is_kept(void **state)
{
    (void)state;
    check("SELECT 'what?', \"odd?name\" FROM t WHERE k = ?1",
          "SELECT 'what?', \"odd?name\" FROM t WHERE k = $1", 1);
    check("SELECT 'it''s ?' || ?1", "SELECT 'it''s ?' || $1", 1);
    check("SELECT 1 -- really?\n, ?1", "SELECT 1 -- really?\n, $1", 1);
    check("SELECT '张浩然?' = ?1", "SELECT '张浩然?' = $1", 1);
}

static void test_dollar_markers_stay(void **state)
{
    (void)state;
    check("SELECT $1, $2", "SELECT $1, $2", 2);
}

static void test_malformed(void **state)
{
    (void)state;
    check("SELECT ?0", NULL, -1);
    check("SELECT ?99999999", NULL, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbered),
        cmocka_unit_test(test_bare_markers_count_on),
        cmocka_unit_test(test_quoted_text_is_kept),
        cmocka_unit_test(test_dollar_markers_stay),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
