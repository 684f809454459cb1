/*
 * Tokens: issue, list, revoke, verify, and the verified-token cache.
 *
 * A clear token is "rp_" followed by 32 random bytes in unpadded base64url
 * (46 characters). The database keeps only token_hash: the hex BLAKE2b-256 of
 * the clear token keyed with a per-database pepper, so a copy of the database
 * (or a backup) yields no usable token, and a fast keyed hash suffices because
 * the input has 256 bits of entropy. The pepper lives in rp_setting under
 * "token_pepper"; the first process to need it inserts a random one if absent
 * and reads back whatever is stored, so processes sharing a database agree.
 *
 * Verification checks the token's shape before anything else, then looks in
 * a small in-memory cache (a set-associative table keyed by the token hash,
 * entries valid for cache_ttl) and only then queries the store. Cached entries
 * carry the token's expiry, so an expired token is never served from cache.
 * Revocation and password changes through this process evict at once and bump
 * a generation counter, so a lookup that raced with them cannot put a stale
 * entry back. Other processes drop their entry when the revocation's store notice
 * (RP_AUTH_NOTICE_TOKEN) reaches them, and without one after at most cache_ttl.
 *
 * last_used_at is written at most once a minute per token, asynchronously, so
 * that verification stays a read. Clear tokens are never logged.
 *
 * Issuing a token and revoking one through rp_auth_token_revoke_from write
 * their audit entry (login, token_create, token_revoke) in the same writer
 * unit as the token change, so neither exists without the other.
 */
#include "auth/auth.h"
#include "auth/auth_int.h"
#include "base/arena.h"
#include "base/log.h"
#include "base/time.h"
#include "base/uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEPPER_SETTING "token_pepper"
#define HASH_HEX_SIZE  (2 * RP_AUTH_KEY_BYTES + 1)
#define B64_VARIANT    sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* ---- the pepper ---- */

struct pepper_unit {
    const struct rp_auth *a;
    const char *candidate;   /* hex of fresh random bytes, used if none is stored */
    char hex[HASH_HEX_SIZE]; /* out: the stored value, "" if unusable */
};

static int pepper_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct pepper_unit *x = ctx;
    if (n >= 1 && cols[0].type == RP_V_TEXT && cols[0].u.s.len == HASH_HEX_SIZE - 1)
        rp_auth_copy_text(x->hex, sizeof(x->hex), &cols[0]);
    return 1;
}

static int pepper_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct pepper_unit *x = ctx;
    struct rp_arena arena;
    struct rp_sql q;
    int rc;

    rp_arena_init(&arena);
    rp_auth_sql_init(x->a, &q, &arena);
    rp_sql_add(&q, "INSERT INTO rp_setting (key, value) VALUES (");
    rp_sql_param(&q, rp_value_cstr(PEPPER_SETTING));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(x->candidate));
    rp_sql_add(&q, ") ON CONFLICT (key) DO NOTHING");
    rc = rp_store_exec(c, &q, NULL, err);
    if (rc < 0)
        goto out;

    rp_auth_sql_init(x->a, &q, &arena);
    rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = ");
    rp_sql_param(&q, rp_value_cstr(PEPPER_SETTING));
    rc = rp_store_query(c, &q, pepper_row, x, err);
out:
    rp_arena_release(&arena);
    return rc;
}

static int pepper_load(struct rp_auth *a, struct rp_error *err)
{
    unsigned char raw[RP_AUTH_KEY_BYTES];
    char candidate[HASH_HEX_SIZE];
    struct pepper_unit x = {.a = a, .candidate = candidate};
    const char *end = NULL;
    size_t len = 0;
    int rc;

    rp_random_bytes(raw, sizeof(raw));
    sodium_bin2hex(candidate, sizeof(candidate), raw, sizeof(raw));
    rc = rp_store_write(a->store, pepper_run, &x, err);
    if (rc < 0)
        goto out;
    if (sodium_hex2bin(a->pepper, sizeof(a->pepper), x.hex, strlen(x.hex), NULL, &len, &end) != 0 ||
        len != sizeof(a->pepper) || *end != '\0') {
        rp_log_error("setting \"%s\" is not %d hex digits; tokens cannot be checked",
                     PEPPER_SETTING, 2 * RP_AUTH_KEY_BYTES);
        rc = rp_error_set(err, RP_EINTERNAL, "could not load the token key");
        goto out;
    }
    a->have_pepper = true;
out:
    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(candidate, sizeof(candidate));
    sodium_memzero(&x, sizeof(x));
    return rc;
}

/*
 * Loads the pepper on first use; secret_lock is held across that one writer
 * unit so concurrent first callers wait for a single load instead of racing
 * to insert.
 */
int rp_auth_pepper(struct rp_auth *a, unsigned char out[RP_AUTH_KEY_BYTES], struct rp_error *err)
{
    int rc = 0;

    pthread_mutex_lock(&a->secret_lock);
    if (!a->have_pepper)
        rc = pepper_load(a, err);
    if (rc == 0)
        memcpy(out, a->pepper, RP_AUTH_KEY_BYTES);
    pthread_mutex_unlock(&a->secret_lock);
    return rc;
}

/* The keyed hash of a clear token. */
static int token_key(struct rp_auth *a, const char *token, size_t len,
                     unsigned char key[RP_AUTH_KEY_BYTES], struct rp_error *err)
{
    unsigned char pepper[RP_AUTH_KEY_BYTES];
    int rc = rp_auth_pepper(a, pepper, err);

    if (rc < 0)
        return rc;
    crypto_generichash(key, RP_AUTH_KEY_BYTES, (const unsigned char *)token, len, pepper,
                       sizeof(pepper));
    sodium_memzero(pepper, sizeof(pepper));
    return 0;
}

/** True if token has the exact shape of one we issue; no database needed to say no. */
static bool token_shape_is_valid(const char *token)
{
    unsigned char raw[RP_AUTH_KEY_BYTES];
    const char *end = NULL;
    size_t n, len = 0;

    if (!token)
        return false;
    n = strnlen(token, RP_AUTH_TOKEN_LEN + 1);
    if (n != RP_AUTH_TOKEN_LEN || memcmp(token, "rp_", 3) != 0)
        return false;
    for (size_t i = 3; i < n; i++) {
        char c = token[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    /* The decoder also rejects non-zero trailing bits, so each token has one spelling. */
    if (sodium_base642bin(raw, sizeof(raw), token + 3, n - 3, NULL, &len, &end, B64_VARIANT) != 0 ||
        len != sizeof(raw) || end != token + n)
        return false;
    return true;
}

/* ---- the cache ---- */

enum cache_result { CACHE_MISS, CACHE_HIT, CACHE_EXPIRED };

static struct rp_auth_cache_entry *cache_set(struct rp_auth *a,
                                             const unsigned char key[RP_AUTH_KEY_BYTES])
{
    uint64_t h;
    /* The key is a keyed hash already: any 8 of its bytes are uniformly spread. */
    memcpy(&h, key, sizeof(h));
    return &a->cache[(h & (RP_AUTH_CACHE_SETS - 1)) * RP_AUTH_CACHE_WAYS];
}

static void cache_entry_clear(struct rp_auth_cache_entry *e)
{
    sodium_memzero(e, sizeof(*e));
}

/*
 * Looks key up at time now. On a hit copies the entry to out and sets *touch
 * when last_used_at is due to be written. *gen receives the generation to
 * hand to cache_put after a miss.
 */
static enum cache_result cache_get(struct rp_auth *a, const unsigned char key[RP_AUTH_KEY_BYTES],
                                   int64_t now, struct rp_auth_cache_entry *out, bool *touch,
                                   uint64_t *gen)
{
    enum cache_result res = CACHE_MISS;
    struct rp_auth_cache_entry *set;

    pthread_mutex_lock(&a->cache_lock);
    *gen = a->cache_gen;
    if (a->cache_ttl_ms <= 0)
        goto out;
    set = cache_set(a, key);
    for (int w = 0; w < RP_AUTH_CACHE_WAYS; w++) {
        struct rp_auth_cache_entry *e = &set[w];
        if (!e->used || sodium_memcmp(e->key, key, RP_AUTH_KEY_BYTES) != 0)
            continue;
        if (e->expires_at != 0 && now >= e->expires_at) {
            cache_entry_clear(e);
            res = CACHE_EXPIRED;
            break;
        }
        /* A clock set backwards also ends an entry. */
        if (now < e->cached_at || now - e->cached_at >= a->cache_ttl_ms) {
            cache_entry_clear(e);
            break;
        }
        *out = *e;
        if (now - e->touched_at >= RP_AUTH_TOUCH_MS) {
            e->touched_at = now;
            *touch = true;
        }
        res = CACHE_HIT;
        break;
    }
out:
    pthread_mutex_unlock(&a->cache_lock);
    return res;
}

/* Stores e unless an eviction happened since gen was read (the lookup may be stale). */
static void cache_put(struct rp_auth *a, const struct rp_auth_cache_entry *e, uint64_t gen)
{
    struct rp_auth_cache_entry *set, *victim = NULL;

    pthread_mutex_lock(&a->cache_lock);
    if (a->cache_ttl_ms <= 0 || a->cache_gen != gen)
        goto out;
    set = cache_set(a, e->key);
    for (int w = 0; w < RP_AUTH_CACHE_WAYS && !victim; w++)
        if (set[w].used && sodium_memcmp(set[w].key, e->key, RP_AUTH_KEY_BYTES) == 0)
            victim = &set[w];
    for (int w = 0; w < RP_AUTH_CACHE_WAYS && !victim; w++)
        if (!set[w].used)
            victim = &set[w];
    if (!victim) {
        victim = &set[0];
        for (int w = 1; w < RP_AUTH_CACHE_WAYS; w++)
            if (set[w].cached_at < victim->cached_at)
                victim = &set[w];
    }
    *victim = *e;
    victim->used = true;
out:
    pthread_mutex_unlock(&a->cache_lock);
}

/* Drops the entries of token_id, of user_id, or (both NULL) every entry. */
static void cache_evict(struct rp_auth *a, const char *token_id, const char *user_id)
{
    bool all = !token_id && !user_id;

    pthread_mutex_lock(&a->cache_lock);
    a->cache_gen++;
    for (size_t i = 0; i < RP_AUTH_CACHE_SETS * RP_AUTH_CACHE_WAYS; i++) {
        struct rp_auth_cache_entry *e = &a->cache[i];
        if (!e->used)
            continue;
        if (all || (token_id && strcmp(e->token_id, token_id) == 0) ||
            (user_id && strcmp(e->user_id, user_id) == 0))
            cache_entry_clear(e);
    }
    pthread_mutex_unlock(&a->cache_lock);
}

void rp_auth_cache_evict_token(struct rp_auth *a, const char *token_id)
{
    if (*token_id)
        cache_evict(a, token_id, NULL);
}

void rp_auth_cache_evict_all(struct rp_auth *a)
{
    cache_evict(a, NULL, NULL);
}

void rp_auth_cache_evict_user(struct rp_auth *a, const char *user_id)
{
    if (*user_id)
        cache_evict(a, NULL, user_id);
}

/* ---- last_used_at ---- */

/* Owns itself: the writer's done callback frees it, so it must not point into rp_auth. */
struct touch_unit {
    enum rp_sql_dialect dialect;
    int64_t at;
    char token_id[RP_AUTH_ID_SIZE];
    struct rp_error err;
};

static int touch_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct touch_unit *t = ctx;
    struct rp_arena arena;
    struct rp_sql q;
    int rc;

    rp_arena_init(&arena);
    rp_sql_init(&q, &arena, t->dialect);
    rp_sql_add(&q, "UPDATE rp_token SET last_used_at = ");
    rp_sql_param(&q, rp_value_int(t->at));
    rp_sql_add(&q, " WHERE id = ");
    rp_sql_param(&q, rp_value_cstr(t->token_id));
    rp_sql_add(&q, " AND (last_used_at IS NULL OR last_used_at < ");
    rp_sql_param(&q, rp_value_int(t->at));
    rp_sql_add(&q, ")");
    rc = rp_store_exec(c, &q, NULL, err);
    rp_arena_release(&arena);
    return rc;
}

static void touch_done(void *ctx, int rc)
{
    (void)rc; /* a lost update of last_used_at is harmless; the next one comes within a minute */
    free(ctx);
}

static void touch_submit(struct rp_auth *a, const char *token_id, int64_t now)
{
    struct touch_unit *t = rp_xcalloc(1, sizeof(*t));

    t->dialect = rp_store_dialect(a->store);
    t->at = now;
    snprintf(t->token_id, sizeof(t->token_id), "%s", token_id);
    rp_error_init(&t->err, NULL);
    /* A full queue means the writer is behind: skip rather than add to its load. */
    if (rp_store_write_submit(a->store, touch_run, touch_done, t, &t->err) < 0)
        free(t);
}

/* ---- issue and revoke ---- */

struct issue_unit {
    const struct rp_auth *a;
    const struct rp_auth_issue *in;
    const char *id;
    const char *hash;
    int64_t now;
};

struct user_state {
    bool found;
    bool active;
};

static int user_state_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct user_state *s = ctx;
    s->found = true;
    s->active = n >= 1 && rp_auth_col_int(&cols[0]) != 0;
    return 1;
}

/* The audit entry of a new token: "login" for sessions, "token_create" for API tokens. */
static int issue_audit(struct rp_store_conn *c, struct issue_unit *x, struct rp_arena *arena,
                       struct rp_error *err)
{
    const struct rp_auth_issue *in = x->in;
    const char *actor = in->client && in->client->actor ? in->client->actor : in->user_id;
    struct rp_buf b;

    rp_buf_init(&b, arena, 4096);
    rp_auth_audit_begin(&b, in->username, in->client);
    rp_buf_adds(&b, ",\"token_id\":");
    rp_buf_add_json_str(&b, x->id, strlen(x->id));
    rp_buf_adds(&b, ",\"kind\":");
    rp_buf_add_json_str(&b, in->kind, strlen(in->kind));
    rp_buf_adds(&b, ",\"user_id\":");
    rp_buf_add_json_str(&b, in->user_id, strlen(in->user_id));
    if (in->name) {
        rp_buf_adds(&b, ",\"name\":");
        rp_buf_add_json_str(&b, in->name, strlen(in->name));
    }
    rp_buf_adds(&b, ",\"expires_at\":");
    if (in->expires_at) {
        rp_buf_addc(&b, '"');
        rp_time_format_datetime(&b, in->expires_at);
        rp_buf_addc(&b, '"');
    } else {
        rp_buf_adds(&b, "null");
    }
    rp_buf_addc(&b, '}');
    if (rp_buf_error(&b) < 0)
        return rp_error_set(err, RP_EINTERNAL, "could not write the audit entry");
    return rp_auth_audit_insert(c, x->a, arena, x->now, actor, in->audit_action, b.data, in->client,
                                err);
}

static int issue_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct issue_unit *x = ctx;
    const struct rp_auth_issue *in = x->in;
    struct user_state st = {0};
    struct rp_arena arena;
    struct rp_sql q;
    int rc;

    rp_arena_init(&arena);
    rp_auth_sql_init(x->a, &q, &arena);
    rp_sql_add(&q, "SELECT active FROM rp_user WHERE id = ");
    rp_sql_param(&q, rp_value_cstr(in->user_id));
    rc = rp_store_query(c, &q, user_state_row, &st, err);
    if (rc < 0)
        goto out;
    if (in->login && (!st.found || !st.active)) {
        /* Deactivated or deleted between the password check and now. */
        rc = rp_error_set(err, RP_EUNAUTH, RP_AUTH_LOGIN_FAIL);
        goto out;
    }
    if (!st.found) {
        rc = rp_error_set(err, RP_ENOTFOUND, "user \"%s\" does not exist", in->user_id);
        goto out;
    }
    if (!st.active) {
        rc = rp_error_field(err, RP_EVALIDATION, "user_id", "inactive", "user \"%s\" is not active",
                            in->user_id);
        goto out;
    }

    rp_auth_sql_init(x->a, &q, &arena);
    rp_sql_add(&q, "INSERT INTO rp_token (id, user_id, kind, name, token_hash, created_at,"
                   " expires_at) VALUES (");
    rp_sql_param(&q, rp_value_cstr(x->id));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(in->user_id));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(in->kind));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, in->name ? rp_value_cstr(in->name) : rp_value_null());
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(x->hash));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_int(x->now));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, in->expires_at ? rp_value_int(in->expires_at) : rp_value_null());
    rp_sql_add(&q, ")");
    rc = rp_store_exec(c, &q, NULL, err);
    if (rc == 0 && in->reset_key)
        rc = rp_auth_lock_reset(c, x->a, &arena, in->reset_key, err);
    if (rc == 0 && in->audit_action)
        rc = issue_audit(c, x, &arena, err);
out:
    rp_arena_release(&arena);
    return rc;
}

int rp_auth_token_issue(struct rp_auth *a, const struct rp_auth_issue *in, struct rp_buf *token,
                        char *id_out, struct rp_error *err)
{
    unsigned char raw[RP_AUTH_KEY_BYTES];
    unsigned char key[RP_AUTH_KEY_BYTES];
    char clear[RP_AUTH_TOKEN_LEN + 1];
    char hash[HASH_HEX_SIZE];
    char id[RP_UUID_STRLEN + 1];
    struct issue_unit x = {.a = a, .in = in, .id = id, .hash = hash};
    int rc;

    rp_random_bytes(raw, sizeof(raw));
    memcpy(clear, "rp_", 3);
    sodium_bin2base64(clear + 3, sizeof(clear) - 3, raw, sizeof(raw), B64_VARIANT);
    rc = token_key(a, clear, RP_AUTH_TOKEN_LEN, key, err);
    if (rc < 0)
        goto out;
    sodium_bin2hex(hash, sizeof(hash), key, sizeof(key));
    x.now = rp_auth_now(a);
    rp_uuid_v7(id, x.now);
    rc = rp_store_write(a->store, issue_run, &x, err);
    if (rc < 0)
        goto out;
    rp_buf_add(token, clear, RP_AUTH_TOKEN_LEN);
    rc = rp_buf_error(token);
    if (rc < 0) {
        rc = rp_error_set(err, rc, "no room for the token");
        goto out;
    }
    if (id_out)
        memcpy(id_out, id, sizeof(id));
out:
    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(clear, sizeof(clear));
    return rc;
}

int rp_auth_token_create_from(struct rp_auth *a, const struct rp_auth_client *client,
                              const char *user_id, const char *name, int64_t expires_at,
                              struct rp_buf *token, char *id_out, struct rp_error *err)
{
    struct rp_error local;
    struct rp_auth_issue in = {.user_id = user_id,
                               .kind = "api",
                               .name = name,
                               .expires_at = expires_at,
                               .audit_action = "token_create",
                               .client = client};

    err = rp_auth_err_or(err, &local);
    if (!rp_auth_text_is_valid(user_id, RP_AUTH_ID_SIZE - 1))
        return rp_error_set(err, RP_ENOTFOUND, "user does not exist");
    if (!name || !*name)
        return rp_error_field(err, RP_EVALIDATION, "name", "required", "token name is required");
    if (!rp_auth_text_is_valid(name, RP_AUTH_NAME_MAX))
        return rp_error_field(err, RP_EVALIDATION, "name", "invalid",
                              "token name must be at most %d bytes of valid UTF-8",
                              RP_AUTH_NAME_MAX);
    if (expires_at < 0 || (expires_at != 0 && expires_at <= rp_auth_now(a)))
        return rp_error_field(err, RP_EVALIDATION, "expires_at", "invalid",
                              "token expiry must be in the future");
    return rp_auth_token_issue(a, &in, token, id_out, err);
}

int rp_auth_token_create(struct rp_auth *a, const char *user_id, const char *name,
                         int64_t expires_at, struct rp_buf *token, char *id_out,
                         struct rp_error *err)
{
    return rp_auth_token_create_from(a, NULL, user_id, name, expires_at, token, id_out, err);
}

struct revoke_unit {
    const struct rp_auth *a;
    const char *token_id;
    int64_t now;
};

static int revoke_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct revoke_unit *x = ctx;
    struct rp_arena arena;
    struct rp_sql q;
    int64_t changes = 0;
    bool exists = false;
    int rc;

    rp_arena_init(&arena);
    rp_auth_sql_init(x->a, &q, &arena);
    rp_sql_add(&q, "UPDATE rp_token SET revoked_at = ");
    rp_sql_param(&q, rp_value_int(x->now));
    rp_sql_add(&q, " WHERE id = ");
    rp_sql_param(&q, rp_value_cstr(x->token_id));
    rp_sql_add(&q, " AND revoked_at IS NULL");
    rc = rp_store_exec(c, &q, &changes, err);
    if (rc == 0 && changes > 0)
        rc = rp_store_notify(c, RP_AUTH_NOTICE_TOKEN, x->token_id, err);
    if (rc < 0 || changes > 0)
        goto out;

    /* Revoking twice is not an error (a repeated logout); revoking nothing is. */
    rp_auth_sql_init(x->a, &q, &arena);
    rp_sql_add(&q, "SELECT 1 FROM rp_token WHERE id = ");
    rp_sql_param(&q, rp_value_cstr(x->token_id));
    rc = rp_store_query(c, &q, rp_auth_row_exists, &exists, err);
    if (rc == 0 && !exists)
        rc = rp_error_set(err, RP_ENOTFOUND, "token \"%s\" does not exist", x->token_id);
out:
    rp_arena_release(&arena);
    return rc;
}

int rp_auth_token_revoke(struct rp_auth *a, const char *token_id, struct rp_error *err)
{
    struct rp_error local;
    struct revoke_unit x = {.a = a, .token_id = token_id};
    int rc;

    err = rp_auth_err_or(err, &local);
    if (!rp_auth_text_is_valid(token_id, RP_AUTH_ID_SIZE - 1))
        return rp_error_set(err, RP_ENOTFOUND, "token does not exist");
    x.now = rp_auth_now(a);
    rc = rp_store_write(a->store, revoke_run, &x, err);
    if (rc < 0)
        return rc;
    /* After the commit: a lookup that read the row before it cannot refill (cache_gen). */
    cache_evict(a, token_id, NULL);
    return 0;
}

/* ---- revoke one's own, list ---- */

struct revoke_owned_unit {
    const struct rp_auth *a;
    const struct rp_auth_client *client;
    const char *token_id;
    const char *owner_id; /* NULL: any owner */
    int64_t now;
    char user_id[RP_AUTH_ID_SIZE]; /* out: whose token it was */
};

static int owner_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct revoke_owned_unit *x = ctx;
    if (n >= 1)
        rp_auth_copy_text(x->user_id, sizeof(x->user_id), &cols[0]);
    return 1;
}

/* The condition of a live token: neither revoked nor expired at now. */
static void live_sql(struct rp_sql *q, const char *alias, int64_t now)
{
    rp_sql_addf(q, " AND %s.revoked_at IS NULL AND (%s.expires_at IS NULL OR %s.expires_at > ",
                alias, alias, alias);
    rp_sql_param(q, rp_value_int(now));
    rp_sql_add(q, ")");
}

static int revoke_owned_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct revoke_owned_unit *x = ctx;
    const char *actor = x->client && x->client->actor ? x->client->actor : NULL;
    struct rp_arena arena;
    struct rp_buf b;
    struct rp_sql q;
    int rc;

    rp_arena_init(&arena);
    x->user_id[0] = '\0';
    rp_auth_sql_init(x->a, &q, &arena);
    rp_sql_add(&q, "SELECT t.user_id FROM rp_token AS t WHERE t.id = ");
    rp_sql_param(&q, rp_value_cstr(x->token_id));
    if (x->owner_id) {
        rp_sql_add(&q, " AND t.user_id = ");
        rp_sql_param(&q, rp_value_cstr(x->owner_id));
    }
    live_sql(&q, "t", x->now);
    rc = rp_store_query(c, &q, owner_row, x, err);
    if (rc < 0)
        goto out;
    if (!x->user_id[0]) {
        /* The same answer for another user's token as for none at all. */
        rc = rp_error_set(err, RP_ENOTFOUND, "session or token \"%s\" does not exist", x->token_id);
        goto out;
    }

    rp_auth_sql_init(x->a, &q, &arena);
    rp_sql_add(&q, "UPDATE rp_token SET revoked_at = ");
    rp_sql_param(&q, rp_value_int(x->now));
    rp_sql_add(&q, " WHERE id = ");
    rp_sql_param(&q, rp_value_cstr(x->token_id));
    rc = rp_store_exec(c, &q, NULL, err);
    if (rc == 0)
        rc = rp_store_notify(c, RP_AUTH_NOTICE_TOKEN, x->token_id, err);
    if (rc < 0)
        goto out;

    rp_buf_init(&b, &arena, 1024);
    rp_auth_audit_begin(&b, NULL, x->client);
    rp_buf_adds(&b, ",\"token_id\":");
    rp_buf_add_json_str(&b, x->token_id, strlen(x->token_id));
    rp_buf_adds(&b, ",\"user_id\":");
    rp_buf_add_json_str(&b, x->user_id, strlen(x->user_id));
    rp_buf_addc(&b, '}');
    rc = rp_auth_audit_insert(c, x->a, &arena, x->now, actor, "token_revoke", b.data, x->client,
                              err);
out:
    rp_arena_release(&arena);
    return rc;
}

int rp_auth_token_revoke_from(struct rp_auth *a, const struct rp_auth_client *client,
                              const char *token_id, const char *owner_id, struct rp_error *err)
{
    struct rp_error local;
    struct revoke_owned_unit x = {
        .a = a, .client = client, .token_id = token_id, .owner_id = owner_id};
    int rc;

    err = rp_auth_err_or(err, &local);
    if (!rp_auth_text_is_valid(token_id, RP_AUTH_ID_SIZE - 1))
        return rp_error_set(err, RP_ENOTFOUND, "session or token does not exist");
    x.now = rp_auth_now(a);
    rc = rp_store_write(a->store, revoke_owned_run, &x, err);
    if (rc < 0)
        return rc;
    cache_evict(a, token_id, NULL);
    return 0;
}

struct token_list_ctx {
    void (*fn)(void *ctx, const struct rp_auth_token_info *t);
    void *ctx;
};

static int token_list_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct token_list_ctx *x = ctx;
    struct rp_auth_token_info t;

    if (n < 6)
        return 1;
    rp_auth_copy_text(t.id, sizeof(t.id), &cols[0]);
    rp_auth_copy_text(t.kind, sizeof(t.kind), &cols[1]);
    rp_auth_copy_text(t.name, sizeof(t.name), &cols[2]);
    t.created_at = rp_auth_col_int(&cols[3]);
    t.expires_at = rp_auth_col_int(&cols[4]);
    t.last_used_at = rp_auth_col_int(&cols[5]);
    x->fn(x->ctx, &t);
    return 0;
}

int rp_auth_token_list(struct rp_auth *a, const char *user_id,
                       void (*fn)(void *ctx, const struct rp_auth_token_info *t), void *ctx,
                       struct rp_error *err)
{
    struct rp_error local;
    struct token_list_ctx x = {.fn = fn, .ctx = ctx};
    struct rp_arena arena;
    struct rp_sql q;
    int rc;

    err = rp_auth_err_or(err, &local);
    if (!rp_auth_text_is_valid(user_id, RP_AUTH_ID_SIZE - 1))
        return 0;
    rp_arena_init(&arena);
    rp_auth_sql_init(a, &q, &arena);
    rp_sql_add(&q, "SELECT t.id, t.kind, t.name, t.created_at, t.expires_at, t.last_used_at"
                   " FROM rp_token AS t WHERE t.user_id = ");
    rp_sql_param(&q, rp_value_cstr(user_id));
    live_sql(&q, "t", rp_auth_now(a));
    /* Ties (one millisecond, or a fixed test clock) go by insertion order. */
    rp_sql_add(&q, " ORDER BY t.created_at DESC, t.rowid DESC LIMIT ");
    rp_sql_param(&q, rp_value_int(RP_AUTH_TOKEN_LIST_MAX));
    rc = rp_auth_read(a, &q, token_list_row, &x, err);
    rp_arena_release(&arena);
    return rc;
}

/* ---- verify ---- */

struct verify_row {
    bool found;
    int64_t last_used_at; /* 0 when never */
    struct rp_auth_cache_entry *e;
};

static int verify_row_fn(void *ctx, const struct rp_value *cols, size_t n)
{
    struct verify_row *x = ctx;
    struct rp_auth_cache_entry *e = x->e;

    if (n < 8)
        return 1;
    rp_auth_copy_text(e->token_id, sizeof(e->token_id), &cols[0]);
    rp_auth_copy_text(e->user_id, sizeof(e->user_id), &cols[1]);
    e->expires_at = rp_auth_col_int(&cols[2]);
    x->last_used_at = rp_auth_col_int(&cols[3]);
    rp_auth_copy_text(e->username, sizeof(e->username), &cols[4]);
    if (cols[5].type == RP_V_TEXT && cols[5].u.s.len > 0)
        rp_auth_copy_text(e->display_name, sizeof(e->display_name), &cols[5]);
    else
        rp_auth_copy_text(e->display_name, sizeof(e->display_name), &cols[4]);
    e->is_admin = rp_auth_col_int(&cols[6]) != 0;
    e->is_session = cols[7].type == RP_V_TEXT && cols[7].u.s.len == 7 &&
                    memcmp(cols[7].u.s.p, "session", 7) == 0;
    x->found = true;
    return 1;
}

static int verify_lookup(struct rp_auth *a, const char *hash, int64_t now, struct verify_row *row,
                         struct rp_error *err)
{
    struct rp_arena arena;
    struct rp_sql q;
    int rc;

    rp_arena_init(&arena);
    rp_auth_sql_init(a, &q, &arena);
    rp_sql_add(&q, "SELECT t.id, t.user_id, t.expires_at, t.last_used_at, u.username,"
                   " u.display_name, u.is_admin, t.kind FROM rp_token AS t"
                   " JOIN rp_user AS u ON u.id = t.user_id WHERE t.token_hash = ");
    rp_sql_param(&q, rp_value_cstr(hash));
    rp_sql_add(&q, " AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ");
    rp_sql_param(&q, rp_value_int(now));
    rp_sql_add(&q, ") AND u.active = ");
    rp_sql_param(&q, rp_value_bool(true));
    rc = rp_auth_read(a, &q, verify_row_fn, row, err);
    rp_arena_release(&arena);
    return rc;
}

int rp_auth_verify(struct rp_auth *a, const char *token, struct rp_arena *arena,
                   struct rp_principal *p, struct rp_error *err)
{
    struct rp_error local;
    struct rp_auth_cache_entry e;
    struct verify_row row = {.e = &e};
    unsigned char key[RP_AUTH_KEY_BYTES];
    char hash[HASH_HEX_SIZE];
    enum cache_result res;
    bool touch = false;
    uint64_t gen = 0;
    int64_t now;
    int rc;

    err = rp_auth_err_or(err, &local);
    if (!token_shape_is_valid(token))
        return rp_error_set(err, RP_EUNAUTH, RP_AUTH_VERIFY_FAIL);
    rc = token_key(a, token, RP_AUTH_TOKEN_LEN, key, err);
    if (rc < 0)
        return rc;
    memset(&e, 0, sizeof(e));
    now = rp_auth_now(a);
    res = cache_get(a, key, now, &e, &touch, &gen);
    if (res == CACHE_EXPIRED)
        return rp_error_set(err, RP_EUNAUTH, RP_AUTH_VERIFY_FAIL);
    if (res == CACHE_MISS) {
        sodium_bin2hex(hash, sizeof(hash), key, sizeof(key));
        rc = verify_lookup(a, hash, now, &row, err);
        if (rc < 0)
            return rc;
        if (!row.found)
            return rp_error_set(err, RP_EUNAUTH, RP_AUTH_VERIFY_FAIL);
        memcpy(e.key, key, sizeof(key));
        e.cached_at = now;
        touch = row.last_used_at == 0 || now - row.last_used_at >= RP_AUTH_TOUCH_MS;
        e.touched_at = touch ? now : row.last_used_at;
        cache_put(a, &e, gen);
    }
    if (touch)
        touch_submit(a, e.token_id, now);

    p->user_id = rp_arena_strdup(arena, e.user_id);
    p->username = rp_arena_strdup(arena, e.username);
    p->display_name = rp_arena_strdup(arena, e.display_name);
    p->token_id = rp_arena_strdup(arena, e.token_id);
    p->is_admin = e.is_admin;
    p->is_session = e.is_session;
    p->via_cookie = false;
    sodium_memzero(&e, sizeof(e));
    return rp_auth_principal_access(a, p, arena, err);
}
