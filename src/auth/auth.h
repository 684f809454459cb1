/*
 * Identity and the policy engine.
 *
 * Users have argon2id password hashes (libsodium crypto_pwhash_str); tokens
 * are 256-bit random strings of which only a keyed hash is stored, so a copy
 * of the database does not yield usable tokens. Session tokens (login) expire;
 * named API tokens do not unless given an expiry; both can be revoked.
 * Verified tokens are cached briefly in memory (revocation through this
 * process evicts at once).
 *
 * The policy engine is the one place that decides what a principal may do:
 * every read path asks rp_policy_read_sql for the SQL condition it must add,
 * every write path asks rp_policy_check. Record-level rules plug in here.
 *
 * Thread-safety: every function may be called from several threads at once.
 * None may be called from inside a store writer unit (they queue their own).
 * Errors: err may be NULL when only the code matters.
 */
#ifndef RP_AUTH_AUTH_H
#define RP_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/sql.h"
#include "store/store.h"

struct rp_auth;

/** Who is acting. Strings live as long as the request (or the auth cache entry copy). */
struct rp_principal {
    const char *user_id; /* rp_user.id, or "system" for internal work */
    const char *username;
    const char *display_name;
    const char *token_id; /* the token used, for logout/revocation */
    bool is_admin;
};

struct rp_user_info {
    char id[40];
    char username[128];
    char display_name[256];
    char email[256];
    bool is_admin;
    bool active;
    int64_t created_at;
};

struct rp_auth_config {
    struct rp_store *store;
    const struct rp_clock *clock;
    int64_t session_ttl_ms;         /* default 12 hours */
    int64_t cache_ttl_ms;           /* verified-token cache, default 5 s; < 0 turns it off */
    unsigned long long pw_opslimit; /* argon2id cost; default 2 passes */
    size_t pw_memlimit;             /* default 19 MiB */
};
/* Zero fields take the defaults; store is required, clock may be NULL (system clock). */

/**
 * Initialises libsodium and the token cache; cfg is copied, the store and
 * clock are borrowed and must outlive the handle. Touches no database (the
 * token pepper is loaded on first use). Returns NULL only if libsodium
 * cannot start.
 */
struct rp_auth *rp_auth_new(const struct rp_auth_config *cfg);
/** Frees the handle (NULL allowed). Queued last_used_at updates do not refer to it. */
void rp_auth_free(struct rp_auth *a);

/**
 * Usernames: 1-64 characters of a-z, A-Z, 0-9, '.', '_', '-', '@' (case
 * matters). Passwords: 8-1024 bytes of UTF-8.
 */
bool rp_auth_username_is_valid(const char *username);

/**
 * Creates a user. Returns 0 and fills *out (may be NULL), RP_ECONFLICT if the
 * username exists, RP_EVALIDATION for a bad username, password or display
 * name (at most 255 bytes of UTF-8; NULL or "" uses the username).
 */
int rp_auth_user_add(struct rp_auth *a, const char *username, const char *password,
                     const char *display_name, bool is_admin, struct rp_user_info *out,
                     struct rp_error *err);
/** Sets a new password and revokes the user's sessions. RP_ENOTFOUND for an unknown user. */
int rp_auth_user_passwd(struct rp_auth *a, const char *username, const char *password,
                        struct rp_error *err);
/** Calls fn for each user ordered by username. */
int rp_auth_user_list(struct rp_auth *a, void (*fn)(void *ctx, const struct rp_user_info *u),
                      void *ctx, struct rp_error *err);
int rp_auth_user_get(struct rp_auth *a, const char *username, struct rp_user_info *out,
                     struct rp_error *err);
/** Number of users (0 on a fresh database). */
int rp_auth_user_count(struct rp_auth *a, int64_t *count, struct rp_error *err);

/**
 * Checks a username and password (constant work whether or not the user
 * exists) and creates a session token. token receives the clear token (shown
 * once; appended), expires_at its expiry. RP_EUNAUTH on any mismatch, with one message
 * that does not say which part was wrong. expires_at and user may be NULL.
 */
int rp_auth_login(struct rp_auth *a, const char *username, const char *password,
                  struct rp_buf *token, int64_t *expires_at, struct rp_user_info *user,
                  struct rp_error *err);
/**
 * Creates a named API token for a user (expires_at 0 = never). The clear
 * token is appended to token; its id goes to id_out (40 bytes; may be NULL).
 * RP_ENOTFOUND for an unknown user, RP_EVALIDATION for an inactive user, a
 * missing name or an expiry not in the future.
 */
int rp_auth_token_create(struct rp_auth *a, const char *user_id, const char *name,
                         int64_t expires_at, struct rp_buf *token, char *id_out,
                         struct rp_error *err);
/** Revokes a token by id (logout); again is fine. RP_ENOTFOUND for an unknown id. */
int rp_auth_token_revoke(struct rp_auth *a, const char *token_id, struct rp_error *err);

/**
 * Verifies a clear token and fills *p with strings in arena. RP_EUNAUTH for
 * unknown, expired or revoked tokens and for inactive users.
 */
int rp_auth_verify(struct rp_auth *a, const char *token, struct rp_arena *arena,
                   struct rp_principal *p, struct rp_error *err);

/* ---- policy ---- */

enum rp_policy_action {
    RP_ACT_READ,
    RP_ACT_CREATE,
    RP_ACT_EDIT,
    RP_ACT_DELETE,
    RP_ACT_EXPORT,
    RP_ACT_MANAGE_METADATA,
    RP_ACT_MANAGE_USERS,
    RP_ACT_VIEW_CHANGES,
};

/**
 * May p perform action on object (NULL for system actions)? Returns 0, or
 * RP_EFORBIDDEN with err set. Record-level visibility is not decided here but
 * in rp_policy_read_sql.
 */
int rp_policy_check(const struct rp_principal *p, const char *object, enum rp_policy_action action,
                    struct rp_error *err);
/**
 * Appends to q a SQL condition (in parentheses) that is true for exactly the
 * rows of object, under table alias alias, that p may see. Every read, list,
 * search, export, history and change-feed query includes it.
 */
void rp_policy_read_sql(const struct rp_principal *p, const char *object, const char *alias,
                        struct rp_sql *q);

#endif
