/*
 * Users, passwords and login.
 *
 * Password hashes are argon2id strings from crypto_pwhash_str_alg, computed
 * on the caller's thread before any writer unit is queued: a hash takes tens
 * of milliseconds and the single writer must never wait for one.
 *
 * Login does the same work whatever goes wrong: an unknown (or syntactically
 * impossible) username is verified against a dummy hash made with the
 * configured cost, an inactive user's password is still verified, and every
 * failure carries one message. So neither the answer nor its timing tells
 * whether a username exists. Passwords are never logged, not even in part.
 * Before any of that, the login limits (auth_lockout.c) are checked; a
 * failure is counted and audited in one writer unit before it is answered,
 * and a success issues the session, clears the username's counter and
 * writes its audit entry in another.
 */
#include "auth/auth.h"
#include "auth/auth_int.h"
#include "base/arena.h"
#include "base/log.h"
#include "base/utf8.h"
#include "base/uuid.h"

#include <string.h>

#define USER_COLS  "id, username, display_name, email, is_admin, active, created_at"
#define USER_NCOLS 7

static void row_to_user(const struct rp_value *cols, size_t n, struct rp_user_info *u)
{
    memset(u, 0, sizeof(*u));
    if (n < USER_NCOLS)
        return;
    rp_auth_copy_text(u->id, sizeof(u->id), &cols[0]);
    rp_auth_copy_text(u->username, sizeof(u->username), &cols[1]);
    rp_auth_copy_text(u->display_name, sizeof(u->display_name), &cols[2]);
    rp_auth_copy_text(u->email, sizeof(u->email), &cols[3]);
    u->is_admin = rp_auth_col_int(&cols[4]) != 0;
    u->active = rp_auth_col_int(&cols[5]) != 0;
    u->created_at = rp_auth_col_int(&cols[6]);
}

static int password_check(const char *password, struct rp_error *err)
{
    size_t n;

    if (!password)
        return rp_error_field(err, RP_EVALIDATION, "password", "required", "password is required");
    n = strnlen(password, RP_AUTH_PW_MAX + 1);
    if (n < RP_AUTH_PW_MIN)
        return rp_error_field(err, RP_EVALIDATION, "password", "too_short",
                              "password must be at least %d bytes long", RP_AUTH_PW_MIN);
    if (n > RP_AUTH_PW_MAX)
        return rp_error_field(err, RP_EVALIDATION, "password", "too_long",
                              "password must be at most %d bytes long", RP_AUTH_PW_MAX);
    if (!rp_utf8_is_valid(password, n))
        return rp_error_field(err, RP_EVALIDATION, "password", "invalid",
                              "password must be valid UTF-8");
    return 0;
}

static int password_hash(const struct rp_auth *a, const char *password, size_t len,
                         char out[crypto_pwhash_STRBYTES], struct rp_error *err)
{
    if (crypto_pwhash_str_alg(out, password, len, a->pw_opslimit, a->pw_memlimit,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        /* Only memory can make argon2id fail here; the limits were clamped at rp_auth_new. */
        rp_log_error("could not hash a password with argon2id (memlimit %zu bytes)",
                     a->pw_memlimit);
        return rp_error_set(err, RP_EINTERNAL, "could not hash the password");
    }
    return 0;
}

/*
 * The hash of a random password nobody knows, made once with the configured
 * cost so that verifying against it takes as long as verifying a real user.
 * It is computed outside the lock: two first callers may both compute one,
 * which costs a little time once instead of stalling token verification
 * (which shares secret_lock) behind an argon2 run.
 */
static int dummy_hash_get(struct rp_auth *a, char out[crypto_pwhash_STRBYTES], struct rp_error *err)
{
    unsigned char raw[16];
    char pw[2 * sizeof(raw) + 1];
    char fresh[crypto_pwhash_STRBYTES];
    bool have;
    int rc;

    pthread_mutex_lock(&a->secret_lock);
    have = a->have_dummy;
    if (have)
        memcpy(out, a->dummy_hash, crypto_pwhash_STRBYTES);
    pthread_mutex_unlock(&a->secret_lock);
    if (have)
        return 0;

    rp_random_bytes(raw, sizeof(raw));
    sodium_bin2hex(pw, sizeof(pw), raw, sizeof(raw));
    rc = password_hash(a, pw, strlen(pw), fresh, err);
    sodium_memzero(pw, sizeof(pw));
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&a->secret_lock);
    if (!a->have_dummy) {
        memcpy(a->dummy_hash, fresh, sizeof(fresh));
        a->have_dummy = true;
    }
    memcpy(out, a->dummy_hash, crypto_pwhash_STRBYTES);
    pthread_mutex_unlock(&a->secret_lock);
    return 0;
}

/* ---- add ---- */

struct user_add_unit {
    const struct rp_auth *a;
    const struct rp_user_info *u;
    const char *hash;
};

static int user_add_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct user_add_unit *x = ctx;
    struct rp_arena arena;
    struct rp_sql q;
    bool exists = false;
    int rc;

    rp_arena_init(&arena);
    /*
     * The unique index would catch a duplicate too, but only with a generic
     * message; the writer runs units one at a time, so this check cannot race
     * another add through this store.
     */
    rp_auth_sql_init(x->a, &q, &arena);
    rp_sql_add(&q, "SELECT 1 FROM rp_user WHERE username = ");
    rp_sql_param(&q, rp_value_cstr(x->u->username));
    rc = rp_store_query(c, &q, rp_auth_row_exists, &exists, err);
    if (rc < 0)
        goto out;
    if (exists) {
        rc = rp_error_field(err, RP_ECONFLICT, "username", "duplicate",
                            "user \"%s\" already exists", x->u->username);
        goto out;
    }

    rp_auth_sql_init(x->a, &q, &arena);
    rp_sql_add(&q, "INSERT INTO rp_user (id, username, display_name, password_hash, is_admin,"
                   " active, created_at, updated_at) VALUES (");
    rp_sql_param(&q, rp_value_cstr(x->u->id));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(x->u->username));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(x->u->display_name));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(x->hash));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_bool(x->u->is_admin));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_bool(true));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_int(x->u->created_at));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_int(x->u->created_at));
    rp_sql_add(&q, ")");
    if ((rc = rp_store_exec(c, &q, NULL, err)) < 0)
        goto out;
    /* New users start with the standard permission set; admins change that later. */
    rp_auth_sql_init(x->a, &q, &arena);
    rp_sql_add(&q, "INSERT INTO rp_user_permission_set (user_id, permission_set) VALUES (");
    rp_sql_param(&q, rp_value_cstr(x->u->id));
    rp_sql_add(&q, ", 'standard')");
    if ((rc = rp_store_exec(c, &q, NULL, err)) < 0)
        goto out;
    rc = rp_acl_bump(c, x->a, &arena, err);
out:
    rp_arena_release(&arena);
    return rc;
}

int rp_auth_user_add(struct rp_auth *a, const char *username, const char *password,
                     const char *display_name, bool is_admin, struct rp_user_info *out,
                     struct rp_error *err)
{
    struct rp_error local, ignore;
    struct rp_user_info u;
    char hash[crypto_pwhash_STRBYTES];
    struct user_add_unit x = {.a = a, .u = &u, .hash = hash};
    bool bad = false;
    int rc;

    err = rp_auth_err_or(err, &local);
    /* Report every bad field at once, as the API does for records. */
    if (!rp_auth_username_is_valid(username)) {
        rp_error_field(err, RP_EVALIDATION, "username", "invalid",
                       "username must be 1-64 characters of letters, digits, '.', '_', '-' or '@'");
        bad = true;
    }
    if (display_name && *display_name && !rp_auth_text_is_valid(display_name, RP_AUTH_NAME_MAX)) {
        rp_error_field(err, RP_EVALIDATION, "display_name", "invalid",
                       "display name must be at most %d bytes of valid UTF-8", RP_AUTH_NAME_MAX);
        bad = true;
    }
    if (password_check(password, err) < 0)
        bad = true;
    if (bad)
        return RP_EVALIDATION;

    memset(&u, 0, sizeof(u));
    u.created_at = rp_auth_now(a);
    rp_uuid_v7(u.id, u.created_at);
    memcpy(u.username, username, strlen(username) + 1);
    /* Without a display name the username stands in, so principals always have one. */
    if (!display_name || !*display_name)
        display_name = username;
    memcpy(u.display_name, display_name, strlen(display_name) + 1);
    u.is_admin = is_admin;
    u.active = true;

    rc = password_hash(a, password, strlen(password), hash, err);
    if (rc < 0)
        return rc;
    rc = rp_store_write(a->store, user_add_run, &x, err);
    if (rc < 0)
        return rc;
    rp_error_init(&ignore, NULL);
    if (rp_acl_reload(a, &ignore) < 0)
        rp_acl_invalidate(a); /* the user is added; the next check loads the snapshot */
    if (out)
        *out = u;
    return 0;
}

/* ---- passwd ---- */

struct passwd_unit {
    const struct rp_auth *a;
    const char *username;
    const char *hash;
    int64_t now;
    char user_id[RP_AUTH_ID_SIZE]; /* out: whose tokens to evict */
};

static int user_id_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct passwd_unit *x = ctx;
    if (n >= 1)
        rp_auth_copy_text(x->user_id, sizeof(x->user_id), &cols[0]);
    return 1;
}

static int passwd_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct passwd_unit *x = ctx;
    struct rp_arena arena;
    struct rp_sql q;
    int rc;

    rp_arena_init(&arena);
    rp_auth_sql_init(x->a, &q, &arena);
    rp_sql_add(&q, "SELECT id FROM rp_user WHERE username = ");
    rp_sql_param(&q, rp_value_cstr(x->username));
    rc = rp_store_query(c, &q, user_id_row, x, err);
    if (rc < 0)
        goto out;
    if (!x->user_id[0]) {
        rc = rp_error_set(err, RP_ENOTFOUND, "user \"%s\" does not exist", x->username);
        goto out;
    }

    rp_auth_sql_init(x->a, &q, &arena);
    rp_sql_add(&q, "UPDATE rp_user SET password_hash = ");
    rp_sql_param(&q, rp_value_cstr(x->hash));
    rp_sql_add(&q, ", updated_at = ");
    rp_sql_param(&q, rp_value_int(x->now));
    rp_sql_add(&q, " WHERE id = ");
    rp_sql_param(&q, rp_value_cstr(x->user_id));
    rc = rp_store_exec(c, &q, NULL, err);
    if (rc < 0)
        goto out;

    /* A changed password ends every session in the same transaction; API tokens stay. */
    rp_auth_sql_init(x->a, &q, &arena);
    rp_sql_add(&q, "UPDATE rp_token SET revoked_at = ");
    rp_sql_param(&q, rp_value_int(x->now));
    rp_sql_add(&q, " WHERE user_id = ");
    rp_sql_param(&q, rp_value_cstr(x->user_id));
    rp_sql_add(&q, " AND kind = ");
    rp_sql_param(&q, rp_value_cstr("session"));
    rp_sql_add(&q, " AND revoked_at IS NULL");
    rc = rp_store_exec(c, &q, NULL, err);
    if (rc == 0)
        rc = rp_store_notify(c, RP_AUTH_NOTICE_USER, x->user_id, err);
out:
    rp_arena_release(&arena);
    return rc;
}

int rp_auth_user_passwd(struct rp_auth *a, const char *username, const char *password,
                        struct rp_error *err)
{
    struct rp_error local;
    char hash[crypto_pwhash_STRBYTES];
    struct passwd_unit x = {.a = a, .username = username, .hash = hash};
    int rc;

    err = rp_auth_err_or(err, &local);
    rc = password_check(password, err);
    if (rc < 0)
        return rc;
    /* An impossible name cannot exist; don't echo arbitrary bytes back. */
    if (!rp_auth_username_is_valid(username))
        return rp_error_set(err, RP_ENOTFOUND, "user does not exist");
    rc = password_hash(a, password, strlen(password), hash, err);
    if (rc < 0)
        return rc;
    x.now = rp_auth_now(a);
    rc = rp_store_write(a->store, passwd_run, &x, err);
    if (rc < 0)
        return rc;
    rp_auth_cache_evict_user(a, x.user_id);
    return 0;
}

/* ---- reads ---- */

struct user_list_ctx {
    void (*fn)(void *ctx, const struct rp_user_info *u);
    void *ctx;
};

static int user_list_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct user_list_ctx *x = ctx;
    struct rp_user_info u;

    row_to_user(cols, n, &u);
    x->fn(x->ctx, &u);
    return 0;
}

int rp_auth_user_list(struct rp_auth *a, void (*fn)(void *ctx, const struct rp_user_info *u),
                      void *ctx, struct rp_error *err)
{
    struct rp_error local;
    struct user_list_ctx x = {.fn = fn, .ctx = ctx};
    struct rp_arena arena;
    struct rp_sql q;
    int rc;

    err = rp_auth_err_or(err, &local);
    rp_arena_init(&arena);
    rp_auth_sql_init(a, &q, &arena);
    rp_sql_add(&q, "SELECT " USER_COLS " FROM rp_user ORDER BY username");
    rc = rp_auth_read(a, &q, user_list_row, &x, err);
    rp_arena_release(&arena);
    return rc;
}

struct user_get_ctx {
    bool found;
    struct rp_user_info *u;
};

static int user_get_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct user_get_ctx *x = ctx;
    row_to_user(cols, n, x->u);
    x->found = true;
    return 1;
}

int rp_auth_user_get(struct rp_auth *a, const char *username, struct rp_user_info *out,
                     struct rp_error *err)
{
    struct rp_error local;
    struct rp_user_info u;
    struct user_get_ctx x = {.u = &u};
    struct rp_arena arena;
    struct rp_sql q;
    int rc;

    err = rp_auth_err_or(err, &local);
    if (!rp_auth_username_is_valid(username))
        return rp_error_set(err, RP_ENOTFOUND, "user does not exist");
    rp_arena_init(&arena);
    rp_auth_sql_init(a, &q, &arena);
    rp_sql_add(&q, "SELECT " USER_COLS " FROM rp_user WHERE username = ");
    rp_sql_param(&q, rp_value_cstr(username));
    rc = rp_auth_read(a, &q, user_get_row, &x, err);
    rp_arena_release(&arena);
    if (rc < 0)
        return rc;
    if (!x.found)
        return rp_error_set(err, RP_ENOTFOUND, "user \"%s\" does not exist", username);
    if (out)
        *out = u;
    return 0;
}

static int count_row(void *ctx, const struct rp_value *cols, size_t n)
{
    if (n >= 1)
        *(int64_t *)ctx = rp_auth_col_int(&cols[0]);
    return 1;
}

int rp_auth_user_count(struct rp_auth *a, int64_t *count, struct rp_error *err)
{
    struct rp_error local;
    struct rp_arena arena;
    struct rp_sql q;
    int64_t n = 0;
    int rc;

    err = rp_auth_err_or(err, &local);
    rp_arena_init(&arena);
    rp_auth_sql_init(a, &q, &arena);
    rp_sql_add(&q, "SELECT COUNT(*) FROM rp_user");
    rc = rp_auth_read(a, &q, count_row, &n, err);
    rp_arena_release(&arena);
    if (rc == 0)
        *count = n;
    return rc;
}

/* ---- login ---- */

struct login_row {
    bool found;
    bool hash_ok; /* a stored hash that fits the buffer */
    struct rp_user_info u;
    char hash[crypto_pwhash_STRBYTES];
};

static int login_row_fn(void *ctx, const struct rp_value *cols, size_t n)
{
    struct login_row *x = ctx;

    if (n < USER_NCOLS + 1)
        return 1;
    row_to_user(cols, n, &x->u);
    x->found = true;
    if (cols[USER_NCOLS].type == RP_V_TEXT && cols[USER_NCOLS].u.s.len < sizeof(x->hash)) {
        rp_auth_copy_text(x->hash, sizeof(x->hash), &cols[USER_NCOLS]);
        x->hash_ok = true;
    }
    return 1;
}

static int login_lookup(struct rp_auth *a, const char *username, struct login_row *row,
                        struct rp_error *err)
{
    struct rp_arena arena;
    struct rp_sql q;
    int rc;

    rp_arena_init(&arena);
    rp_auth_sql_init(a, &q, &arena);
    rp_sql_add(&q, "SELECT " USER_COLS ", password_hash FROM rp_user WHERE username = ");
    rp_sql_param(&q, rp_value_cstr(username));
    rc = rp_auth_read(a, &q, login_row_fn, row, err);
    rp_arena_release(&arena);
    return rc;
}

int rp_auth_login_from(struct rp_auth *a, const struct rp_auth_client *client, const char *username,
                       const char *password, struct rp_buf *token, struct rp_auth_login_info *out,
                       struct rp_error *err)
{
    struct rp_error local;
    struct rp_auth_lock_keys keys;
    struct rp_auth_issue in = {.kind = "session",
                               .login = true,
                               .username = username,
                               .audit_action = "login",
                               .client = client};
    struct login_row row;
    const char *pw = password ? password : "";
    size_t pwlen = strnlen(pw, RP_AUTH_PW_MAX + 1);
    int64_t now, retry = 0;
    const char *hash;
    char id[RP_AUTH_ID_SIZE];
    bool match;
    int rc;

    err = rp_auth_err_or(err, &local);
    memset(&row, 0, sizeof(row));
    if (out)
        memset(out, 0, sizeof(*out));
    now = rp_auth_now(a);
    rp_auth_lock_keys_init(&keys, username, client);
    /* Before the password is looked at: a locked key answers the same with the right one. */
    rc = rp_auth_lock_check(a, &keys, now, &retry, err);
    if (rc < 0) {
        if (out)
            out->retry_after_ms = retry;
        goto out;
    }
    if (rp_auth_username_is_valid(username)) {
        rc = login_lookup(a, username, &row, err);
        if (rc < 0)
            goto out;
    }
    if (row.found && row.hash_ok) {
        hash = row.hash;
    } else {
        rc = dummy_hash_get(a, row.hash, err);
        if (rc < 0)
            goto out;
        hash = row.hash;
        row.found = false;
    }
    /* Always exactly one verification, also for unknown and inactive users. */
    match = crypto_pwhash_str_verify(hash, pw, pwlen) == 0;
    if (!match || !row.found || !row.u.active || pwlen > RP_AUTH_PW_MAX) {
        rc = rp_auth_lock_fail(a, &keys, username, row.found ? row.u.id : NULL, client, now, err);
        if (rc == 0)
            rc = rp_error_set(err, RP_EUNAUTH, RP_AUTH_LOGIN_FAIL);
        goto out;
    }

    in.user_id = row.u.id;
    in.expires_at = rp_auth_now(a) + a->session_ttl_ms;
    in.reset_key = keys.user;
    rc = rp_auth_token_issue(a, &in, token, id, err);
    if (rc < 0)
        goto out;
    if (out) {
        memcpy(out->token_id, id, sizeof(out->token_id));
        out->expires_at = in.expires_at;
        out->user = row.u;
    }
out:
    sodium_memzero(&row, sizeof(row));
    return rc;
}

int rp_auth_login(struct rp_auth *a, const char *username, const char *password,
                  struct rp_buf *token, int64_t *expires_at, struct rp_user_info *user,
                  struct rp_error *err)
{
    struct rp_auth_login_info info;
    int rc = rp_auth_login_from(a, NULL, username, password, token, &info, err);

    if (rc == 0 && expires_at)
        *expires_at = info.expires_at;
    if (rc == 0 && user)
        *user = info.user;
    sodium_memzero(&info, sizeof(info));
    return rc;
}
