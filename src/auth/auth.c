/*
 * The auth handle: configuration defaults, libsodium start-up and helpers
 * shared by the user, token, session, lockout and policy files, among them
 * the audit entries the module writes (login, login_failed, token_create,
 * token_revoke). Those have no object or record id; what they are about is
 * in their changes document, which never holds a password or a token.
 *
 * Password hashing cost defaults follow OWASP's argon2id advice (2 passes
 * over 19 MiB, one lane); tests lower it to libsodium's minimum. The handle
 * holds no database state except the token pepper, which is loaded lazily
 * (see auth_token.c), so creating one never touches the store.
 */
#include "auth/auth.h"
#include "auth/auth_acl.h"
#include "auth/auth_int.h"
#include "base/arena.h"
#include "base/utf8.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SESSION_TTL_MS (12 * 60 * 60 * INT64_C(1000))
#define DEFAULT_CACHE_TTL_MS   INT64_C(5000)
#define DEFAULT_PW_OPSLIMIT    2ULL
#define DEFAULT_PW_MEMLIMIT    ((size_t)19 * 1024 * 1024)

/* Another process changed tokens, users or access control, or the listener reconnected. */
static void on_notice(void *ctx, const char *topic, const char *arg)
{
    struct rp_auth *a = ctx;

    if (strcmp(topic, RP_AUTH_NOTICE_TOKEN) == 0) {
        rp_auth_cache_evict_token(a, arg);
    } else if (strcmp(topic, RP_AUTH_NOTICE_USER) == 0) {
        rp_auth_cache_evict_user(a, arg);
    } else if (strcmp(topic, RP_AUTH_NOTICE_ACL) == 0 || strcmp(topic, RP_STORE_NOTICE_ALL) == 0) {
        /* Cached tokens carry is_admin and activeness, which such a change may have moved. */
        rp_auth_cache_evict_all(a);
        rp_acl_invalidate(a);
    }
}

struct rp_auth *rp_auth_new(const struct rp_auth_config *cfg)
{
    struct rp_auth *a;

    /* sodium_init is idempotent and thread-safe; 1 means "already started". */
    assert(cfg && cfg->store);
    if (sodium_init() < 0)
        return NULL;
    a = rp_xcalloc(1, sizeof(*a));
    a->store = cfg->store;
    a->clock = cfg->clock;
    a->session_ttl_ms = cfg->session_ttl_ms > 0 ? cfg->session_ttl_ms : DEFAULT_SESSION_TTL_MS;
    a->cache_ttl_ms = cfg->cache_ttl_ms == 0 ? DEFAULT_CACHE_TTL_MS : cfg->cache_ttl_ms;
    a->pw_opslimit = cfg->pw_opslimit ? cfg->pw_opslimit : DEFAULT_PW_OPSLIMIT;
    a->pw_memlimit = cfg->pw_memlimit ? cfg->pw_memlimit : DEFAULT_PW_MEMLIMIT;
    /* Below libsodium's floor crypto_pwhash_str_alg would fail every hash. */
    if (a->pw_opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN)
        a->pw_opslimit = crypto_pwhash_argon2id_OPSLIMIT_MIN;
    if (a->pw_memlimit < crypto_pwhash_argon2id_MEMLIMIT_MIN)
        a->pw_memlimit = crypto_pwhash_argon2id_MEMLIMIT_MIN;
    pthread_mutex_init(&a->secret_lock, NULL);
    pthread_mutex_init(&a->cache_lock, NULL);
    pthread_mutex_init(&a->acl_lock, NULL);
    rp_store_subscribe(a->store, on_notice, a);
    return a;
}

void rp_auth_free(struct rp_auth *a)
{
    if (!a)
        return;
    rp_store_unsubscribe(a->store, on_notice, a);
    pthread_mutex_destroy(&a->secret_lock);
    pthread_mutex_destroy(&a->cache_lock);
    pthread_mutex_destroy(&a->acl_lock);
    rp_acl_release(a->acl);
    sodium_memzero(a->pepper, sizeof(a->pepper));
    sodium_memzero(a->cache, sizeof(a->cache));
    free(a);
}

bool rp_auth_username_is_valid(const char *username)
{
    size_t n;

    if (!username)
        return false;
    n = strnlen(username, 65);
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = username[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '@'))
            return false;
    }
    return true;
}

void rp_auth_copy_text(char *dst, size_t size, const struct rp_value *v)
{
    size_t n = 0;

    if (v->type == RP_V_TEXT) {
        n = v->u.s.len < size - 1 ? v->u.s.len : size - 1;
        /* Never leave half a UTF-8 sequence at the end of a cut. */
        while (n > 0 && n < v->u.s.len && ((unsigned char)v->u.s.p[n] & 0xC0) == 0x80)
            n--;
        memcpy(dst, v->u.s.p, n);
    }
    dst[n] = '\0';
}

int64_t rp_auth_col_int(const struct rp_value *v)
{
    return v->type == RP_V_INT ? v->u.i : 0;
}

bool rp_auth_text_is_valid(const char *s, size_t max)
{
    size_t n;

    if (!s)
        return false;
    n = strnlen(s, max + 1);
    return n >= 1 && n <= max && rp_utf8_is_valid(s, n);
}

void rp_auth_sql_init(const struct rp_auth *a, struct rp_sql *q, struct rp_arena *arena)
{
    rp_sql_init(q, arena, rp_store_dialect(a->store));
}

int rp_auth_read(struct rp_auth *a, const struct rp_sql *q, rp_store_row_fn fn, void *ctx,
                 struct rp_error *err)
{
    struct rp_store_conn *c = rp_store_reader_acquire(a->store);
    int rc = rp_store_query(c, q, fn, ctx, err);
    rp_store_reader_release(a->store, c);
    return rc;
}

int rp_auth_row_exists(void *ctx, const struct rp_value *cols, size_t ncols)
{
    (void)cols;
    (void)ncols;
    *(bool *)ctx = true;
    return 1;
}

/* Appends s cut to at most max bytes at a character boundary, as a JSON string. */
static void json_str_cut(struct rp_buf *b, const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);

    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    rp_buf_add_json_str(b, s, n);
}

void rp_auth_audit_begin(struct rp_buf *b, const char *username,
                         const struct rp_auth_client *client)
{
    /* Usernames come from the client: any length, any bytes; valid ones are at most 64. */
    rp_buf_adds(b, "{\"username\":");
    if (username)
        json_str_cut(b, username, 128);
    else
        rp_buf_adds(b, "null");
    rp_buf_adds(b, ",\"remote_addr\":");
    if (client && client->addr && *client->addr)
        json_str_cut(b, client->addr, RP_AUTH_ADDR_MAX);
    else
        rp_buf_adds(b, "null");
}

int rp_auth_audit_insert(struct rp_store_conn *c, const struct rp_auth *a, struct rp_arena *arena,
                         int64_t now, const char *actor, const char *action, const char *changes,
                         const struct rp_auth_client *client, struct rp_error *err)
{
    const char *rid = client ? client->request_id : NULL;
    const struct rp_value v[] = {
        rp_value_int(now),
        actor ? rp_value_cstr(actor) : rp_value_null(),
        rp_value_cstr(action),
        rp_value_cstr(changes),
        rid ? rp_value_cstr(rid) : rp_value_null(),
    };
    struct rp_sql q;

    rp_auth_sql_init(a, &q, arena);
    rp_sql_add(&q, "INSERT INTO rp_audit (at, actor, action, changes, request_id) VALUES ");
    rp_sql_param_list(&q, v, sizeof(v) / sizeof(v[0]));
    return rp_store_exec(c, &q, NULL, err);
}
