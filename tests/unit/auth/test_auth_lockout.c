/*
 * Login limits and the audit entries of logins and token creation, against a
 * private SQLite store with a fake clock: the lockout per username starts at
 * the fifth failure of a run, doubles up to an hour and refuses the right
 * password too; unknown usernames are locked alike; a success ends the run;
 * a quiet window ends it too; the per-address limit; two handles on one
 * database agree; stale counters are deleted; audit rows never hold the
 * password or a token.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "base/arena.h"

#define T0      INT64_C(1700000000000)
#define MINUTE  (60 * INT64_C(1000))
#define GOOD_PW "correct horse battery"
#define BAD_PW  "wrong horse battery"

struct fx {
    struct rp_store *store;
    struct rp_clock clock;
    struct rp_auth *auth;
    struct rp_arena arena;
    struct rp_error err;
    struct rp_user_info jane;
};

static struct rp_auth *auth_new(struct fx *f)
{
    struct rp_auth_config cfg = {
        .store = f->store,
        .clock = &f->clock,
        .cache_ttl_ms = -1,
        .pw_opslimit = crypto_pwhash_OPSLIMIT_MIN,
        .pw_memlimit = crypto_pwhash_MEMLIMIT_MIN,
    };
    struct rp_auth *a = rp_auth_new(&cfg);
    assert_non_null(a);
    return a;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct rp_error err;

    rp_error_init(&err, NULL);
    assert_int_equal(
        rp_store_open(NULL, &(struct rp_store_config){.memory = true}, &f->store, &err), 0);
    rp_clock_init_fixed(&f->clock, T0);
    f->auth = auth_new(f);
    rp_arena_init(&f->arena);
    rp_error_init(&f->err, &f->arena);
    assert_int_equal(rp_auth_user_add(f->auth, "jane", GOOD_PW, NULL, false, &f->jane, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    rp_auth_free(f->auth);
    rp_store_close(f->store);
    rp_arena_release(&f->arena);
    free(f);
    return 0;
}

static struct rp_error *E(struct fx *f)
{
    rp_error_init(&f->err, &f->arena);
    return &f->err;
}

/* One login attempt through handle a; *retry_ms (may be NULL) gets the lock's rest. */
static int attempt_with(struct fx *f, struct rp_auth *a, const struct rp_auth_client *client,
                        const char *user, const char *pw, int64_t *retry_ms)
{
    struct rp_auth_login_info info;
    struct rp_buf b;
    int rc;

    rp_buf_init(&b, &f->arena, 256);
    rc = rp_auth_login_from(a, client, user, pw, &b, &info, E(f));
    if (retry_ms)
        *retry_ms = rc == RP_ERATELIMIT ? info.retry_after_ms : -1;
    if (rc == RP_ERATELIMIT)
        assert_int_equal(b.len, 0);
    return rc;
}

static int attempt(struct fx *f, const char *user, const char *pw, int64_t *retry_ms)
{
    return attempt_with(f, f->auth, NULL, user, pw, retry_ms);
}

static void fail_n(struct fx *f, const struct rp_auth_client *client, const char *user, int n)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(attempt_with(f, f->auth, client, user, BAD_PW, NULL), RP_EUNAUTH);
}

/* Expects user to be locked for exactly ms more, with the right password as well. */
static void expect_locked(struct fx *f, const char *user, int64_t ms)
{
    int64_t retry;

    assert_int_equal(attempt(f, user, GOOD_PW, &retry), RP_ERATELIMIT);
    assert_int_equal(retry, ms);
    assert_string_equal(f->err.detail, "too many failed login attempts; try again later");
    assert_int_equal(attempt(f, user, BAD_PW, &retry), RP_ERATELIMIT);
    assert_int_equal(retry, ms);
}

/* ---- direct database reads ---- */

struct rows {
    int n;
    char text[16][1024]; /* the first columns, " | "-joined */
};

static int rows_fn(void *ctx, const struct rp_value *cols, size_t n)
{
    struct rows *r = ctx;
    char *out;
    size_t used = 0;

    if (r->n >= 16)
        return 0;
    out = r->text[r->n++];
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char cell[900];
        if (cols[i].type == RP_V_TEXT)
            snprintf(cell, sizeof(cell), "%.*s", (int)cols[i].u.s.len, cols[i].u.s.p);
        else if (cols[i].type == RP_V_INT)
            snprintf(cell, sizeof(cell), "%lld", (long long)cols[i].u.i);
        else
            snprintf(cell, sizeof(cell), "NULL");
        used += (size_t)snprintf(out + used, 1024 - used, "%s%s", i ? " | " : "", cell);
        if (used >= 1024)
            break;
    }
    return 0;
}

static void db_rows(struct fx *f, const char *sql, struct rows *r)
{
    struct rp_store_conn *c = rp_store_reader_acquire(f->store);
    struct rp_arena a;
    struct rp_sql q;
    struct rp_error err;

    memset(r, 0, sizeof(*r));
    rp_error_init(&err, NULL);
    rp_arena_init(&a);
    rp_sql_init(&q, &a, rp_store_dialect(f->store));
    rp_sql_add(&q, sql);
    assert_int_equal(rp_store_query(c, &q, rows_fn, r, &err), 0);
    rp_arena_release(&a);
    rp_store_reader_release(f->store, c);
}

/* ---- the username lock ---- */

static void test_lock_grows_and_caps(void **state)
{
    struct fx *f = *state;
    static const int64_t minutes[] = {1, 2, 4, 8, 16, 32, 60, 60};

    /* Four failures are only failures. */
    fail_n(f, NULL, "jane", 4);
    assert_int_equal(attempt(f, "jane", BAD_PW, NULL), RP_EUNAUTH); /* the fifth locks */
    for (size_t i = 0; i < sizeof(minutes) / sizeof(minutes[0]); i++) {
        expect_locked(f, "jane", minutes[i] * MINUTE);
        rp_clock_advance(&f->clock, minutes[i] * MINUTE - 1);
        expect_locked(f, "jane", 1);
        rp_clock_advance(&f->clock, 1);
        /* Open again for one try; a failure locks twice as long. */
        assert_int_equal(attempt(f, "jane", BAD_PW, NULL), RP_EUNAUTH);
    }
    expect_locked(f, "jane", 60 * MINUTE);
}

static void test_success_ends_the_run(void **state)
{
    struct fx *f = *state;
    int64_t retry;

    fail_n(f, NULL, "jane", 5);
    expect_locked(f, "jane", MINUTE);
    rp_clock_advance(&f->clock, MINUTE);
    assert_int_equal(attempt(f, "jane", GOOD_PW, &retry), 0);
    /* Back to a full allowance: four failures, and the fifth locks for a minute again. */
    fail_n(f, NULL, "jane", 4);
    assert_int_equal(attempt(f, "jane", GOOD_PW, NULL), 0);
    fail_n(f, NULL, "jane", 5);
    expect_locked(f, "jane", MINUTE);
}

static void test_quiet_window_ends_the_run(void **state)
{
    struct fx *f = *state;

    /* Failures less than 15 minutes apart form one run... */
    fail_n(f, NULL, "jane", 2);
    rp_clock_advance(&f->clock, 15 * MINUTE);
    fail_n(f, NULL, "jane", 2);
    rp_clock_advance(&f->clock, 15 * MINUTE + 1);
    /* ...a longer pause starts a new one. */
    fail_n(f, NULL, "jane", 4);
    assert_int_equal(attempt(f, "jane", GOOD_PW, NULL), 0);

    /* After a lock, the window counts from its end: a failure 15 minutes later still adds. */
    fail_n(f, NULL, "jane", 5);
    rp_clock_advance(&f->clock, MINUTE + 15 * MINUTE);
    fail_n(f, NULL, "jane", 1);
    expect_locked(f, "jane", 2 * MINUTE);
    rp_clock_advance(&f->clock, 2 * MINUTE + 15 * MINUTE + 1);
    fail_n(f, NULL, "jane", 4);
    assert_int_equal(attempt(f, "jane", GOOD_PW, NULL), 0);
}

static void test_unknown_users_locked_alike(void **state)
{
    struct fx *f = *state;
    char known[256], unknown[256];

    fail_n(f, NULL, "jane", 5);
    expect_locked(f, "jane", MINUTE);
    snprintf(known, sizeof(known), "%s", f->err.detail);
    fail_n(f, NULL, "ghost", 5);
    expect_locked(f, "ghost", MINUTE);
    snprintf(unknown, sizeof(unknown), "%s", f->err.detail);
    assert_string_equal(known, unknown);

    /* Names that cannot exist share one counter. */
    fail_n(f, NULL, "bad name!", 3);
    fail_n(f, NULL, "", 1);
    fail_n(f, NULL, NULL, 1);
    expect_locked(f, "another bad one?", MINUTE);
    /* Valid names are not affected by it. */
    assert_int_equal(attempt(f, "jane2", BAD_PW, NULL), RP_EUNAUTH);
}

static void test_locks_are_per_username(void **state)
{
    struct fx *f = *state;

    assert_int_equal(rp_auth_user_add(f->auth, "joe", GOOD_PW, NULL, false, NULL, E(f)), 0);
    fail_n(f, NULL, "jane", 5);
    expect_locked(f, "jane", MINUTE);
    assert_int_equal(attempt(f, "joe", GOOD_PW, NULL), 0);
    /* Usernames are case-sensitive, and so are their counters. */
    assert_int_equal(attempt(f, "JANE", BAD_PW, NULL), RP_EUNAUTH);
}

/* ---- the address limit ---- */

static void test_address_limit(void **state)
{
    struct fx *f = *state;
    struct rp_auth_client a = {.addr = "192.0.2.7"}, b = {.addr = "192.0.2.8"};
    int64_t retry;
    char name[32];

    /* 20 failures from one address, four per username so that no username locks. */
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "user%d", i);
        fail_n(f, &a, name, 4);
    }
    assert_int_equal(attempt_with(f, f->auth, &a, "jane", GOOD_PW, &retry), RP_ERATELIMIT);
    assert_int_equal(retry, MINUTE);
    /* Another address, and logins without one (the CLI), are not affected. */
    assert_int_equal(attempt_with(f, f->auth, &b, "jane", GOOD_PW, NULL), 0);
    assert_int_equal(attempt_with(f, f->auth, NULL, "jane", GOOD_PW, NULL), 0);
    /* A success does not reset the address. */
    assert_int_equal(attempt_with(f, f->auth, &a, "user9", GOOD_PW, &retry), RP_ERATELIMIT);
    rp_clock_advance(&f->clock, MINUTE);
    assert_int_equal(attempt_with(f, f->auth, &a, "jane", GOOD_PW, NULL), 0);
    assert_int_equal(attempt_with(f, f->auth, &a, "user9", BAD_PW, NULL), RP_EUNAUTH);
    assert_int_equal(attempt_with(f, f->auth, &a, "jane", GOOD_PW, &retry), RP_ERATELIMIT);
    assert_int_equal(retry, 2 * MINUTE);
}

static void test_handles_share_counters(void **state)
{
    struct fx *f = *state;
    struct rp_auth *second = auth_new(f);
    int64_t retry;

    /* Failures through two handles (two processes on one database) add up. */
    fail_n(f, NULL, "jane", 3);
    assert_int_equal(attempt_with(f, second, NULL, "jane", BAD_PW, NULL), RP_EUNAUTH);
    assert_int_equal(attempt_with(f, second, NULL, "jane", BAD_PW, NULL), RP_EUNAUTH);
    assert_int_equal(attempt_with(f, f->auth, NULL, "jane", GOOD_PW, &retry), RP_ERATELIMIT);
    assert_int_equal(attempt_with(f, second, NULL, "jane", GOOD_PW, &retry), RP_ERATELIMIT);
    assert_int_equal(retry, MINUTE);
    rp_auth_free(second);
}

static void test_stale_counters_deleted(void **state)
{
    struct fx *f = *state;
    struct rows r;
    char name[32];

    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "spray%d", i);
        fail_n(f, NULL, name, 1);
    }
    db_rows(f, "SELECT COUNT(*) FROM rp_login_failure", &r);
    assert_string_equal(r.text[0], "10");
    rp_clock_advance(&f->clock, 15 * MINUTE + 1);
    fail_n(f, NULL, "jane", 1);
    db_rows(f, "SELECT key, failures, locked_until FROM rp_login_failure", &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.text[0], "user:jane | 1 | 0");
}

/* ---- audit ---- */

static void test_login_audit(void **state)
{
    struct fx *f = *state;
    struct rp_auth_client c = {.addr = "198.51.100.4", .request_id = "req-1"};
    struct rp_auth_login_info info;
    struct rp_buf b;
    struct rows r;
    char want[512];

    rp_buf_init(&b, &f->arena, 256);
    assert_int_equal(rp_auth_login_from(f->auth, &c, "jane", BAD_PW, &b, &info, E(f)), RP_EUNAUTH);
    assert_int_equal(rp_auth_login_from(f->auth, &c, "ghost", GOOD_PW, &b, &info, E(f)),
                     RP_EUNAUTH);
    c.request_id = "req-2";
    assert_int_equal(rp_auth_login_from(f->auth, &c, "jane", GOOD_PW, &b, &info, E(f)), 0);
    /* Refusals of a lock are not attempts: no entry. */
    fail_n(f, NULL, "ghost", 4);
    assert_int_equal(attempt(f, "ghost", GOOD_PW, NULL), RP_ERATELIMIT);

    db_rows(f,
            "SELECT at, COALESCE(actor, 'NULL'), action, object, record_id, request_id, changes"
            " FROM rp_audit ORDER BY id",
            &r);
    assert_int_equal(r.n, 7);
    snprintf(want, sizeof(want),
             "%lld | NULL | login_failed | NULL | NULL | req-1 | {\"username\":\"jane\","
             "\"remote_addr\":\"198.51.100.4\",\"user_id\":\"%s\"}",
             (long long)T0, f->jane.id);
    assert_string_equal(r.text[0], want);
    snprintf(want, sizeof(want),
             "%lld | NULL | login_failed | NULL | NULL | req-1 | {\"username\":\"ghost\","
             "\"remote_addr\":\"198.51.100.4\"}",
             (long long)T0);
    assert_string_equal(r.text[1], want);
    snprintf(want, sizeof(want),
             "%lld | %s | login | NULL | NULL | req-2 | {\"username\":\"jane\","
             "\"remote_addr\":\"198.51.100.4\",\"token_id\":\"%s\",\"kind\":\"session\","
             "\"user_id\":\"%s\",\"expires_at\":\"2023-11-15T10:13:20Z\"}",
             (long long)T0, f->jane.id, info.token_id, f->jane.id);
    assert_string_equal(r.text[2], want);
    /* Without a client: no address, no request id. */
    assert_non_null(strstr(r.text[3], "| NULL | {\"username\":\"ghost\",\"remote_addr\":null}"));
    for (int i = 0; i < r.n; i++) {
        assert_null(strstr(r.text[i], GOOD_PW));
        assert_null(strstr(r.text[i], BAD_PW));
        assert_null(strstr(r.text[i], "rp_"));
    }
}

static void test_audit_username_is_bounded(void **state)
{
    struct fx *f = *state;
    char name[4096];
    struct rows r;
    json_t *j;

    /* Whatever the client sends as a username, the entry holds at most 128 bytes of it. */
    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    name[127] = '\xc3'; /* a two-byte character across the cut */
    name[128] = '\xa4';
    fail_n(f, NULL, name, 1);
    db_rows(f, "SELECT changes FROM rp_audit", &r);
    j = json_loads(r.text[0], 0, NULL);
    assert_non_null(j);
    assert_int_equal(strlen(json_string_value(json_object_get(j, "username"))), 127);
    json_decref(j);
}

static void test_token_create_audit(void **state)
{
    struct fx *f = *state;
    struct rp_auth_client c = {.addr = "in-process", .request_id = "req-9", .actor = "someone"};
    struct rp_buf tok;
    char id[40], want[512];
    struct rows r;

    rp_buf_init(&tok, &f->arena, 256);
    assert_int_equal(
        rp_auth_token_create_from(f->auth, &c, f->jane.id, "ERP \"sync\"", 0, &tok, id, E(f)), 0);
    rp_buf_reset(&tok);
    assert_int_equal(
        rp_auth_token_create(f->auth, f->jane.id, "cli", T0 + MINUTE, &tok, NULL, E(f)), 0);
    /* A refused creation writes nothing. */
    assert_int_equal(rp_auth_token_create_from(f->auth, &c, f->jane.id, "", 0, &tok, NULL, E(f)),
                     RP_EVALIDATION);

    db_rows(f, "SELECT actor, action, request_id, changes FROM rp_audit ORDER BY id", &r);
    assert_int_equal(r.n, 2);
    snprintf(
        want, sizeof(want),
        "someone | token_create | req-9 | {\"username\":null,\"remote_addr\":\"in-process\","
        "\"token_id\":\"%s\",\"kind\":\"api\",\"user_id\":\"%s\",\"name\":\"ERP \\\"sync\\\"\","
        "\"expires_at\":null}",
        id, f->jane.id);
    assert_string_equal(r.text[0], want);
    /* Without a client the token's user is the actor. */
    assert_int_equal(strncmp(r.text[1], f->jane.id, strlen(f->jane.id)), 0);
    assert_non_null(strstr(r.text[1], "\"expires_at\":\"2023-11-14T22:14:20Z\"}"));
    assert_null(strstr(r.text[1], tok.data));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lock_grows_and_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_success_ends_the_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quiet_window_ends_the_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_users_locked_alike, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locks_are_per_username, setup, teardown),
        cmocka_unit_test_setup_teardown(test_address_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handles_share_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_counters_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_username_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_create_audit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
