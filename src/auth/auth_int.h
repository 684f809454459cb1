/*
 * Private to src/auth: the rp_auth handle and helpers shared by its files.
 *
 * Locks: secret_lock guards the token pepper and the dummy password hash;
 * cache_lock guards the verified-token cache and its generation counter.
 * Neither is held while calling into another module except that secret_lock
 * is held across the one writer unit that creates the pepper (the writer
 * never takes an auth lock, so this cannot deadlock). Nothing here may be
 * called from inside a writer unit that would itself wait for the writer.
 */
#ifndef RP_AUTH_AUTH_INT_H
#define RP_AUTH_AUTH_INT_H

#include "auth/auth.h"

#include <pthread.h>
#include <sodium.h>

#define RP_AUTH_KEY_BYTES   32 /* BLAKE2b-256 of a token, the pepper, the token's entropy */
#define RP_AUTH_TOKEN_LEN   46 /* "rp_" + 43 base64url characters of 32 random bytes */
#define RP_AUTH_ID_SIZE     40 /* room for a UUID and its NUL, as in struct rp_user_info */
#define RP_AUTH_PW_MIN      8
#define RP_AUTH_PW_MAX      1024
#define RP_AUTH_NAME_MAX    255 /* display names and token names, in bytes */
#define RP_AUTH_CACHE_SETS  128 /* a power of two */
#define RP_AUTH_CACHE_WAYS  4
#define RP_AUTH_TOUCH_MS    60000 /* last_used_at is written at most this often per token */
#define RP_AUTH_ADDR_MAX    64    /* bytes of a client address used in keys and the audit log */
#define RP_AUTH_LOGIN_FAIL  "invalid username or password"
#define RP_AUTH_VERIFY_FAIL "invalid or expired token"
#define RP_AUTH_LOCKED      "too many failed login attempts; try again later"

/** One verified token, copied out of the database so a hit needs no query. */
struct rp_auth_cache_entry {
    unsigned char key[RP_AUTH_KEY_BYTES]; /* keyed hash of the clear token */
    bool used;
    bool is_admin;
    bool is_session;    /* kind "session" */
    int64_t cached_at;  /* clock ms when it was read from the database */
    int64_t expires_at; /* the token's expiry, 0 = never; checked on every hit */
    int64_t touched_at; /* last_used_at as last written or seen */
    char user_id[RP_AUTH_ID_SIZE];
    char token_id[RP_AUTH_ID_SIZE];
    char username[128];
    char display_name[256];
};

struct rp_acl;

struct rp_auth {
    struct rp_store *store;
    const struct rp_clock *clock; /* NULL reads the system clock */
    int64_t session_ttl_ms;
    int64_t cache_ttl_ms; /* <= 0 after defaults: caching is off */
    unsigned long long pw_opslimit;
    size_t pw_memlimit;

    pthread_mutex_t secret_lock;
    bool have_pepper;
    unsigned char pepper[RP_AUTH_KEY_BYTES]; /* keys the token hashes; from rp_setting */
    bool have_dummy;
    char dummy_hash[crypto_pwhash_STRBYTES]; /* verified against for unknown users */

    pthread_mutex_t acl_lock;
    struct rp_acl *acl;     /* the current access-control snapshot (auth_acl.c) */
    int64_t acl_checked_at; /* when the database's acl.version was last compared */
    bool acl_stale;         /* a check or reload failed: the next acquire checks again */

    pthread_mutex_t cache_lock;
    uint64_t cache_gen; /* bumped by every eviction; a stale lookup must not refill */
    struct rp_auth_cache_entry cache[RP_AUTH_CACHE_SETS * RP_AUTH_CACHE_WAYS];
};

/** err, or local initialised without an arena when the caller passed NULL. */
static inline struct rp_error *rp_auth_err_or(struct rp_error *err, struct rp_error *local)
{
    if (err)
        return err;
    rp_error_init(local, NULL);
    return local;
}

static inline int64_t rp_auth_now(const struct rp_auth *a)
{
    return rp_clock_now_ms(a->clock);
}

/** Starts q in the store's dialect with memory from arena. */
void rp_auth_sql_init(const struct rp_auth *a, struct rp_sql *q, struct rp_arena *arena);
/** Runs a read-only q on a pooled read connection. */
int rp_auth_read(struct rp_auth *a, const struct rp_sql *q, rp_store_row_fn fn, void *ctx,
                 struct rp_error *err);
/** Row callback that sets *(bool *)ctx and stops. */
int rp_auth_row_exists(void *ctx, const struct rp_value *cols, size_t ncols);
/** Copies a TEXT column into dst (NUL-terminated, cut at a character boundary); "" otherwise. */
void rp_auth_copy_text(char *dst, size_t size, const struct rp_value *v);
/** An INTEGER column, or 0 for NULL and other types. */
int64_t rp_auth_col_int(const struct rp_value *v);
/** True if s is 1..max bytes of valid UTF-8 (no NUL, by construction). */
bool rp_auth_text_is_valid(const char *s, size_t max);

/** Copies the token pepper (loading it on first use) into out. */
int rp_auth_pepper(struct rp_auth *a, unsigned char out[RP_AUTH_KEY_BYTES], struct rp_error *err);

/** What rp_auth_token_issue creates, and what it writes with the token. */
struct rp_auth_issue {
    const char *user_id;
    const char *kind;   /* "session" or "api" */
    const char *name;   /* NULL for sessions */
    int64_t expires_at; /* 0 = never */
    /* a login: the login failure message if the user vanished or was deactivated meanwhile */
    bool login;
    const char *username;                /* login: for the audit entry */
    const char *reset_key;               /* a login failure counter to clear, or NULL */
    const char *audit_action;            /* "login", "token_create" or NULL for no entry */
    const struct rp_auth_client *client; /* may be NULL */
};

/**
 * Creates a token for an existing, active user inside one writer unit, with
 * its audit entry and counter reset, and appends the clear token to token;
 * the new id goes to id_out (may be NULL). Must not be called from a writer
 * unit.
 */
int rp_auth_token_issue(struct rp_auth *a, const struct rp_auth_issue *in, struct rp_buf *token,
                        char *id_out, struct rp_error *err);

/* ---- audit entries of the auth module (auth.c) ---- */

/**
 * Starts a changes document in b: {"username": ..., "remote_addr": ...
 * (without the closing brace). username is cut to 128 bytes, NULL gives null.
 */
void rp_auth_audit_begin(struct rp_buf *b, const char *username,
                         const struct rp_auth_client *client);
/**
 * Inside a writer unit: appends an rp_audit entry at now with action, actor
 * (NULL allowed) and the changes JSON text; object and record_id stay NULL.
 */
int rp_auth_audit_insert(struct rp_store_conn *c, const struct rp_auth *a, struct rp_arena *arena,
                         int64_t now, const char *actor, const char *action, const char *changes,
                         const struct rp_auth_client *client, struct rp_error *err);

/* ---- login limits (auth_lockout.c) ---- */

/** The failure counters a login attempt is checked against; "" when not used. */
struct rp_auth_lock_keys {
    char user[8 + 64 + 1];               /* "user:" + a valid username, or "user:" */
    char addr[8 + RP_AUTH_ADDR_MAX + 1]; /* "addr:" + the client address */
};

void rp_auth_lock_keys_init(struct rp_auth_lock_keys *k, const char *username,
                            const struct rp_auth_client *client);
/**
 * Returns 0 if neither key is locked at now; RP_ERATELIMIT with
 * *retry_after_ms (the longer lock) and err set if one is.
 */
int rp_auth_lock_check(struct rp_auth *a, const struct rp_auth_lock_keys *k, int64_t now,
                       int64_t *retry_after_ms, struct rp_error *err);
/**
 * Counts a failed login against both keys and writes the "login_failed"
 * audit entry, in one writer unit. user_id is the user's id when the
 * username exists (for the audit entry only), else NULL.
 */
int rp_auth_lock_fail(struct rp_auth *a, const struct rp_auth_lock_keys *k, const char *username,
                      const char *user_id, const struct rp_auth_client *client, int64_t now,
                      struct rp_error *err);
/** Inside a writer unit: forgets key's failures (a successful login). */
int rp_auth_lock_reset(struct rp_store_conn *c, const struct rp_auth *a, struct rp_arena *arena,
                       const char *key, struct rp_error *err);
/**
 * Sets p->access from the current access-control snapshot, which arena holds until it is
 * released. A user missing from it gets NULL (no permissions).
 */
int rp_auth_principal_access(struct rp_auth *a, struct rp_principal *p, struct rp_arena *arena,
                             struct rp_error *err);
/** Inside a writer unit: moves acl.version on, so every process reloads its snapshot. */
int rp_acl_bump(struct rp_store_conn *c, const struct rp_auth *a, struct rp_arena *arena,
                struct rp_error *err);
/** Rebuilds the snapshot from the database now (after a change through this process). */
int rp_acl_reload(struct rp_auth *a, struct rp_error *err);
/** Has the next rp_acl_acquire compare acl.version and reload (after a failed reload). */
void rp_acl_invalidate(struct rp_auth *a);

/** Drops every cached token of user_id (after its tokens or password changed). */
void rp_auth_cache_evict_user(struct rp_auth *a, const char *user_id);
/** Drops the cached entry of token_id (revoked in another process). */
void rp_auth_cache_evict_token(struct rp_auth *a, const char *token_id);
/** Drops every cached token (users, roles or activeness may have changed elsewhere). */
void rp_auth_cache_evict_all(struct rp_auth *a);

/*
 * Topics of the store notices (store.h) that auth sends in the transaction of a change, so
 * every other process drops what it cached: a revoked token (argument: its id), a user's
 * password change that ended its sessions (argument: the user's id), and any change of users,
 * roles, permission sets or sharing (acl.version moved).
 */
#define RP_AUTH_NOTICE_TOKEN "token"
#define RP_AUTH_NOTICE_USER  "user"
#define RP_AUTH_NOTICE_ACL   "acl"

#endif
