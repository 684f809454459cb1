/*
 * The policy engine's coarse rules until issue #3: the system principal and
 * admins may do everything, users may work with records but not manage
 * metadata or users, and nobody unauthenticated may do anything or see any
 * row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "auth/auth.h"
#include "base/arena.h"

static const enum rp_policy_action all_actions[] = {
    RP_ACT_READ,   RP_ACT_CREATE,          RP_ACT_EDIT,         RP_ACT_DELETE,
    RP_ACT_EXPORT, RP_ACT_MANAGE_METADATA, RP_ACT_MANAGE_USERS, RP_ACT_VIEW_CHANGES,
};
#define NACTIONS (sizeof(all_actions) / sizeof(all_actions[0]))

static const struct rp_principal admin = {
    .user_id = "0190d3c0-0000-7000-8000-000000000001", .username = "root", .is_admin = true};
static const struct rp_principal user = {
    .user_id = "0190d3c0-0000-7000-8000-000000000002", .username = "jane", .is_admin = false};
static const struct rp_principal sys = {.user_id = "system", .username = "system"};

static void test_admin_and_system_may_do_everything(void **state)
{
    struct rp_error err;
    (void)state;

    for (size_t i = 0; i < NACTIONS; i++) {
        rp_error_init(&err, NULL);
        assert_int_equal(rp_policy_check(&admin, "deal", all_actions[i], &err), 0);
        assert_int_equal(rp_policy_check(&admin, NULL, all_actions[i], &err), 0);
        assert_int_equal(rp_policy_check(&sys, "deal", all_actions[i], &err), 0);
        assert_int_equal(rp_policy_check(&sys, NULL, all_actions[i], &err), 0);
        assert_int_equal(err.code, 0);
    }
}

static void test_user_works_with_records_only(void **state)
{
    struct rp_arena arena;
    struct rp_error err;
    (void)state;

    rp_arena_init(&arena);
    for (size_t i = 0; i < NACTIONS; i++) {
        enum rp_policy_action act = all_actions[i];
        bool manage = act == RP_ACT_MANAGE_METADATA || act == RP_ACT_MANAGE_USERS;
        rp_error_init(&err, &arena);
        assert_int_equal(rp_policy_check(&user, "contact", act, &err), manage ? RP_EFORBIDDEN : 0);
    }
    rp_error_init(&err, &arena);
    assert_int_equal(rp_policy_check(&user, "contact", RP_ACT_MANAGE_METADATA, &err),
                     RP_EFORBIDDEN);
    assert_string_equal(err.detail, "permission \"manage_metadata\" is required");
    rp_error_init(&err, &arena);
    assert_int_equal(rp_policy_check(&user, NULL, RP_ACT_MANAGE_USERS, &err), RP_EFORBIDDEN);
    assert_string_equal(err.detail, "permission \"manage_users\" is required");
    /* The error is optional. */
    assert_int_equal(rp_policy_check(&user, NULL, RP_ACT_MANAGE_USERS, NULL), RP_EFORBIDDEN);
    /* An action the engine does not know is refused. */
    rp_error_init(&err, &arena);
    assert_int_equal(rp_policy_check(&user, "contact", (enum rp_policy_action)99, &err),
                     RP_EFORBIDDEN);
    rp_arena_release(&arena);
}

static void test_nobody_may_do_nothing(void **state)
{
    struct rp_principal anon = {.username = "ghost", .is_admin = true};
    struct rp_arena arena;
    struct rp_error err;
    (void)state;

    rp_arena_init(&arena);
    for (size_t i = 0; i < NACTIONS; i++) {
        rp_error_init(&err, &arena);
        assert_int_equal(rp_policy_check(NULL, "deal", all_actions[i], &err), RP_EUNAUTH);
        assert_string_equal(err.detail, "authentication required");
        rp_error_init(&err, &arena);
        assert_int_equal(rp_policy_check(&anon, "deal", all_actions[i], &err), RP_EUNAUTH);
    }
    rp_arena_release(&arena);
}

static void test_read_sql(void **state)
{
    struct rp_arena arena;
    struct rp_sql q;
    (void)state;

    rp_arena_init(&arena);
    rp_sql_init(&q, &arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT id FROM deal AS r WHERE ");
    rp_policy_read_sql(&user, "deal", "r", &q);
    assert_string_equal(q.text.data, "SELECT id FROM deal AS r WHERE (1 = 1)");
    assert_int_equal(q.nparams, 0);

    rp_sql_init(&q, &arena, RP_SQL_SQLITE);
    rp_policy_read_sql(&admin, "deal", "r", &q);
    assert_string_equal(q.text.data, "(1 = 1)");
    rp_sql_init(&q, &arena, RP_SQL_SQLITE);
    rp_policy_read_sql(&sys, "deal", "r", &q);
    assert_string_equal(q.text.data, "(1 = 1)");

    rp_sql_init(&q, &arena, RP_SQL_PG);
    rp_policy_read_sql(NULL, "deal", "r", &q);
    assert_string_equal(q.text.data, "(1 = 0)");
    assert_int_equal(q.nparams, 0);
    rp_arena_release(&arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admin_and_system_may_do_everything),
        cmocka_unit_test(test_user_works_with_records_only),
        cmocka_unit_test(test_nobody_may_do_nothing),
        cmocka_unit_test(test_read_sql),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
