/*
 * Login limits: failure counters with an exponential lockout.
 *
 * One row of rp_login_failure per key ("user:<username>", "addr:<address>")
 * holds the current run of failures: how many, when the last was, until
 * when the key is locked, and when the row stops mattering (forget_at: the
 * window after the later of the last failure and the end of the lock). A
 * failure after forget_at starts a new run. Everything lives in the database
 * and is changed inside writer units, so several processes on one database
 * count together, and the app clock decides every time, so tests move it
 * instead of sleeping.
 *
 * The check is a read before the password is verified; two attempts racing
 * past it are both counted afterwards, and a failure never shortens a lock.
 * Rows past forget_at are deleted by the next failure (an index on forget_at
 * keeps that cheap), so keys a sprayer invents do not accumulate.
 */
#include "auth/auth.h"
#include "auth/auth_int.h"
#include "base/arena.h"

#include <stdio.h>
#include <string.h>

void rp_auth_lock_keys_init(struct rp_auth_lock_keys *k, const char *username,
                            const struct rp_auth_client *client)
{
    /*
     * Names that cannot exist share one key: they can never log in, so
     * locking them together costs nobody anything and bounds the rows.
     */
    snprintf(k->user, sizeof(k->user), "user:%s",
             rp_auth_username_is_valid(username) ? username : "");
    k->addr[0] = '\0';
    if (client && client->addr && *client->addr)
        snprintf(k->addr, sizeof(k->addr), "addr:%.*s", RP_AUTH_ADDR_MAX, client->addr);
}

struct lock_row {
    int64_t locked_until; /* the latest lock among the keys read */
};

static int lock_row_fn(void *ctx, const struct rp_value *cols, size_t n)
{
    struct lock_row *x = ctx;
    int64_t until = n >= 1 ? rp_auth_col_int(&cols[0]) : 0;

    if (until > x->locked_until)
        x->locked_until = until;
    return 0;
}

int rp_auth_lock_check(struct rp_auth *a, const struct rp_auth_lock_keys *k, int64_t now,
                       int64_t *retry_after_ms, struct rp_error *err)
{
    struct lock_row x = {0};
    struct rp_arena arena;
    struct rp_sql q;
    int rc;

    *retry_after_ms = 0;
    rp_arena_init(&arena);
    rp_auth_sql_init(a, &q, &arena);
    rp_sql_add(&q, "SELECT locked_until FROM rp_login_failure WHERE key IN (");
    rp_sql_param(&q, rp_value_cstr(k->user));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(k->addr));
    rp_sql_add(&q, ") AND locked_until > ");
    rp_sql_param(&q, rp_value_int(now));
    rc = rp_auth_read(a, &q, lock_row_fn, &x, err);
    rp_arena_release(&arena);
    if (rc < 0)
        return rc;
    if (x.locked_until <= now)
        return 0;
    *retry_after_ms = x.locked_until - now;
    /* One message for the username and the address: neither says whether the user exists. */
    return rp_error_set(err, RP_ERATELIMIT, RP_AUTH_LOCKED);
}

/* How long the failures-th failure of a run locks a key whose limit is threshold. */
static int64_t lock_ms(int64_t failures, int threshold)
{
    int64_t over = failures - threshold, ms = RP_AUTH_LOCK_BASE_MS;

    if (over < 0)
        return 0;
    /* Doubling stops at the cap; the loop bound also keeps the shift from overflowing. */
    for (int64_t i = 0; i < over && ms < RP_AUTH_LOCK_MAX_MS; i++)
        ms *= 2;
    return ms < RP_AUTH_LOCK_MAX_MS ? ms : RP_AUTH_LOCK_MAX_MS;
}

struct run_row {
    bool found;
    int64_t failures;
    int64_t locked_until;
    int64_t forget_at;
};

static int run_row_fn(void *ctx, const struct rp_value *cols, size_t n)
{
    struct run_row *x = ctx;

    if (n < 3)
        return 1;
    x->found = true;
    x->failures = rp_auth_col_int(&cols[0]);
    x->locked_until = rp_auth_col_int(&cols[1]);
    x->forget_at = rp_auth_col_int(&cols[2]);
    return 1;
}

/* Inside a writer unit: one more failure for key at now. */
static int count_failure(struct rp_store_conn *c, const struct rp_auth *a, struct rp_arena *arena,
                         const char *key, int threshold, int64_t now, struct rp_error *err)
{
    struct run_row run = {0};
    int64_t failures, until, forget;
    struct rp_sql q;
    int rc;

    rp_auth_sql_init(a, &q, arena);
    rp_sql_add(&q, "SELECT failures, locked_until, forget_at FROM rp_login_failure WHERE key = ");
    rp_sql_param(&q, rp_value_cstr(key));
    rc = rp_store_query(c, &q, run_row_fn, &run, err);
    if (rc < 0)
        return rc;
    failures = run.found && now <= run.forget_at ? run.failures + 1 : 1;
    until = lock_ms(failures, threshold);
    until = until > 0 ? now + until : 0;
    if (run.found && run.locked_until > until)
        until = run.locked_until;
    forget = (until > now ? until : now) + RP_AUTH_LOCK_WINDOW_MS;

    rp_auth_sql_init(a, &q, arena);
    rp_sql_add(&q, "INSERT INTO rp_login_failure (key, failures, last_at, locked_until, forget_at)"
                   " VALUES (");
    rp_sql_param(&q, rp_value_cstr(key));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_int(failures));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_int(now));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_int(until));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_int(forget));
    rp_sql_add(&q, ") ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,"
                   " last_at = excluded.last_at, locked_until = excluded.locked_until,"
                   " forget_at = excluded.forget_at");
    return rp_store_exec(c, &q, NULL, err);
}

struct fail_unit {
    const struct rp_auth *a;
    const struct rp_auth_lock_keys *k;
    const char *username;
    const char *user_id; /* NULL for an unknown user */
    const struct rp_auth_client *client;
    int64_t now;
};

static int fail_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct fail_unit *x = ctx;
    struct rp_arena arena;
    struct rp_sql q;
    struct rp_buf b;
    int rc;

    rp_arena_init(&arena);
    rp_auth_sql_init(x->a, &q, &arena);
    rp_sql_add(&q, "DELETE FROM rp_login_failure WHERE forget_at < ");
    rp_sql_param(&q, rp_value_int(x->now));
    rc = rp_store_exec(c, &q, NULL, err);
    if (rc == 0)
        rc = count_failure(c, x->a, &arena, x->k->user, RP_AUTH_LOCK_USER_FAILURES, x->now, err);
    if (rc == 0 && x->k->addr[0])
        rc = count_failure(c, x->a, &arena, x->k->addr, RP_AUTH_LOCK_ADDR_FAILURES, x->now, err);
    if (rc < 0)
        goto out;

    rp_buf_init(&b, &arena, 4096);
    rp_auth_audit_begin(&b, x->username, x->client);
    if (x->user_id) {
        rp_buf_adds(&b, ",\"user_id\":");
        rp_buf_add_json_str(&b, x->user_id, strlen(x->user_id));
    }
    rp_buf_addc(&b, '}');
    rc =
        rp_auth_audit_insert(c, x->a, &arena, x->now, NULL, "login_failed", b.data, x->client, err);
out:
    rp_arena_release(&arena);
    return rc;
}

int rp_auth_lock_fail(struct rp_auth *a, const struct rp_auth_lock_keys *k, const char *username,
                      const char *user_id, const struct rp_auth_client *client, int64_t now,
                      struct rp_error *err)
{
    struct fail_unit x = {
        .a = a, .k = k, .username = username, .user_id = user_id, .client = client, .now = now};

    return rp_store_write(a->store, fail_run, &x, err);
}

int rp_auth_lock_reset(struct rp_store_conn *c, const struct rp_auth *a, struct rp_arena *arena,
                       const char *key, struct rp_error *err)
{
    struct rp_sql q;

    rp_auth_sql_init(a, &q, arena);
    rp_sql_add(&q, "DELETE FROM rp_login_failure WHERE key = ");
    rp_sql_param(&q, rp_value_cstr(key));
    return rp_store_exec(c, &q, NULL, err);
}
