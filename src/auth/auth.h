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
 * Logins are rate limited per username and per client address with an
 * exponential lockout kept in the database (so processes sharing it agree),
 * and audited (login, login_failed), as are token creation and revocation.
 * The web UI carries its session token in the rp_session cookie; a CSRF token
 * derived from the session id and a per-database key guards its writes.
 *
 * The policy engine is the one place that decides what a principal may do:
 * rp_policy_check (object and system permissions), rp_policy_row_sql (the SQL
 * condition of the records a principal may read or change, in every query) and
 * rp_policy_field (field-level security), over an immutable access-control
 * snapshot that each verified principal holds for its request.
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
#include "meta/meta.h"
#include "store/store.h"

struct rp_auth;
struct rp_access; /* one user's effective permissions in one access-control snapshot */

/** Who is acting. Strings live as long as the request (or the auth cache entry copy). */
struct rp_principal {
    const char *user_id; /* rp_user.id, or "system" for internal work */
    const char *username;
    const char *display_name;
    const char *token_id; /* the token used, for logout/revocation */
    bool is_admin;
    bool is_session; /* the token is a login session, not a named API token */
    bool via_cookie; /* set by the API: the token came in the session cookie (CSRF applies) */
    /* the user's permissions, held for the request by rp_auth_verify; NULL: none */
    const struct rp_access *access;
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
 * Where a request comes from, for the login limits and the audit log. Every
 * field may be NULL; a NULL client (the CLI, tests) means no address limit
 * and audit entries without address or request id.
 */
struct rp_auth_client {
    const char *addr;       /* client address as text (at most 64 bytes are used) */
    const char *request_id; /* the request's id, written to audit entries */
    const char *actor;      /* user id of the caller; NULL: the user the entry is about */
};

/*
 * Login limits. Failed logins are counted per username (known or not, so the
 * answer never tells whether a user exists) and per client address. A run of
 * failures continues while each comes within RP_AUTH_LOCK_WINDOW_MS of the
 * previous one or of the end of the last lockout. From the Nth failure of a
 * run on, the key is locked for RP_AUTH_LOCK_BASE_MS, doubling with every
 * further failure up to RP_AUTH_LOCK_MAX_MS; a locked key is refused before
 * the password is looked at. A successful login ends the username's run.
 */
#define RP_AUTH_LOCK_USER_FAILURES 5
#define RP_AUTH_LOCK_ADDR_FAILURES 20
#define RP_AUTH_LOCK_WINDOW_MS     (15 * 60 * INT64_C(1000))
#define RP_AUTH_LOCK_BASE_MS       (60 * INT64_C(1000))
#define RP_AUTH_LOCK_MAX_MS        (60 * 60 * INT64_C(1000))

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
 * This is rp_auth_login_from with a NULL client: the username limit applies
 * (RP_ERATELIMIT) and the attempt is audited.
 */
int rp_auth_login(struct rp_auth *a, const char *username, const char *password,
                  struct rp_buf *token, int64_t *expires_at, struct rp_user_info *user,
                  struct rp_error *err);

/** What a login reports besides the clear token. */
struct rp_auth_login_info {
    char token_id[40];  /* the new session's id */
    int64_t expires_at; /* the session's expiry */
    struct rp_user_info user;
    int64_t retry_after_ms; /* with RP_ERATELIMIT: how long the lockout still lasts */
};

/**
 * rp_auth_login with the login limits of client (see RP_AUTH_LOCK_*) and an
 * audit entry: "login" (actor: the user) or "login_failed" (actor NULL),
 * changes {"username", "remote_addr", ...}, never the password. Every login
 * creates a new session; nothing the client sends chooses its id or token.
 * Returns 0 with token and *out filled (out may be NULL); RP_EUNAUTH with the
 * one login failure message; RP_ERATELIMIT while the username or the address
 * is locked (also with the right password), out->retry_after_ms set; or the
 * store's error if the failure could not be recorded (a failed login is never
 * answered without being counted).
 */
int rp_auth_login_from(struct rp_auth *a, const struct rp_auth_client *client, const char *username,
                       const char *password, struct rp_buf *token, struct rp_auth_login_info *out,
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
/**
 * rp_auth_token_create for a request from client: the "token_create" audit
 * entry (written with the token, in one transaction) names client->actor and
 * the request. rp_auth_token_create is this with a NULL client (actor: the
 * token's user).
 */
int rp_auth_token_create_from(struct rp_auth *a, const struct rp_auth_client *client,
                              const char *user_id, const char *name, int64_t expires_at,
                              struct rp_buf *token, char *id_out, struct rp_error *err);
/** Revokes a token by id (logout); again is fine. RP_ENOTFOUND for an unknown id. */
int rp_auth_token_revoke(struct rp_auth *a, const char *token_id, struct rp_error *err);
/**
 * Revokes a live (unrevoked, unexpired) token of owner_id, or of anyone when
 * owner_id is NULL (admins), and audits it as "token_revoke". RP_ENOTFOUND,
 * with one message, for a token that is unknown, no longer live or another
 * user's, so ids of other users' tokens cannot be probed.
 */
int rp_auth_token_revoke_from(struct rp_auth *a, const struct rp_auth_client *client,
                              const char *token_id, const char *owner_id, struct rp_error *err);

/** A token as listed; never the token itself or its hash. */
struct rp_auth_token_info {
    char id[40];
    char kind[16];  /* "session" or "api" */
    char name[256]; /* "" for sessions */
    int64_t created_at;
    int64_t expires_at;   /* 0 = never */
    int64_t last_used_at; /* 0 = not yet; written at most once a minute */
};

#define RP_AUTH_TOKEN_LIST_MAX 1000

/**
 * Calls fn for each live token of user_id (sessions and API tokens), newest
 * first, at most RP_AUTH_TOKEN_LIST_MAX of them.
 */
int rp_auth_token_list(struct rp_auth *a, const char *user_id,
                       void (*fn)(void *ctx, const struct rp_auth_token_info *t), void *ctx,
                       struct rp_error *err);

/**
 * Verifies a clear token and fills *p with strings in arena. RP_EUNAUTH for
 * unknown, expired or revoked tokens and for inactive users.
 */
int rp_auth_verify(struct rp_auth *a, const char *token, struct rp_arena *arena,
                   struct rp_principal *p, struct rp_error *err);

/* ---- web UI sessions (auth_session.c) ---- */

#define RP_AUTH_COOKIE   "rp_session"
#define RP_AUTH_CSRF_LEN 43 /* base64url of a 256-bit tag, unpadded */

struct rp_http_pair;

/**
 * Finds the rp_session cookie in every "Cookie" header of headers (RFC 6265
 * "name=value; name=value"). Pairs without '=', with an empty value or with
 * characters a cookie value may not hold are skipped; a value in double
 * quotes is unquoted.
 * Returns 1 with the value in out (size bytes; "" if it does not fit, which
 * no valid token does), 0 when there is no such cookie, or RP_EINVAL with out
 * "" when several rp_session cookies disagree: which one the browser meant
 * cannot be known (a sibling site may have planted one), so none is used.
 */
int rp_auth_session_cookie(const struct rp_http_pair *headers, size_t n, char *out, size_t size);
/**
 * Appends a Set-Cookie value for the session cookie: HttpOnly,
 * SameSite=Strict, Path=/, Max-Age=max_age_s, Secure when secure. A NULL
 * token clears the cookie (empty value, Max-Age=0).
 */
void rp_auth_session_cookie_format(struct rp_buf *out, const char *token, int64_t max_age_s,
                                   bool secure);
/**
 * Appends the CSRF token of session token_id: the base64url HMAC-SHA-512-256
 * of the id under a key derived from the per-database token pepper. It needs
 * no storage and dies with the session. Returns 0 or the pepper's load error.
 */
int rp_auth_csrf_token(struct rp_auth *a, const char *token_id, struct rp_buf *out,
                       struct rp_error *err);
/** True if csrf is the CSRF token of token_id (constant-time compare; false on any error). */
bool rp_auth_csrf_is_valid(struct rp_auth *a, const char *token_id, const char *csrf);

/** What a principal may do to one record; each level includes the ones before it. */
enum rp_access_level {
    RP_ACCESS_NONE,
    RP_ACCESS_READ,
    RP_ACCESS_EDIT,
    RP_ACCESS_FULL, /* the owner's rights: delete, restore, share */
};

/* ---- administration of access control (auth_admin.c) ----
 *
 * Each change is one transaction with a "permission_change" audit entry naming
 * client->actor, and takes effect in this process before the call returns (in other
 * processes on the same database within a second). The caller checks manage_users.
 */

struct rp_role_def {
    const char *name; /* a-z, 0-9, '_' */
    const char *label;
    const char *parent;           /* NULL: a top role */
    int64_t export_rows_per_hour; /* -1: the installation's default */
    bool export_block;            /* over the threshold: refuse (429), not only record */
};

/** Creates or replaces a role; *created (may be NULL) tells which. */
int rp_acl_role_put(struct rp_auth *a, const struct rp_auth_client *client,
                    const struct rp_role_def *r, bool *created, struct rp_error *err);
/** Deletes a role: its users keep no role, the roles under it move up. RP_ENOTFOUND. */
int rp_acl_role_delete(struct rp_auth *a, const struct rp_auth_client *client, const char *name,
                       struct rp_error *err);
/** Creates or replaces a permission set (definition: see rp_acl_check_definition). */
int rp_acl_set_put(struct rp_auth *a, const struct rp_auth_client *client, const char *name,
                   const char *label, const json_t *definition, bool *created,
                   struct rp_error *err);
int rp_acl_set_delete(struct rp_auth *a, const struct rp_auth_client *client, const char *name,
                      struct rp_error *err);
/** Sets o's org-wide default ("private", "public_read", "public_read_write"; NULL: the catalogue's). */
int rp_acl_sharing_put(struct rp_auth *a, const struct rp_auth_client *client,
                       const struct rp_object *o, const char *access, struct rp_error *err);

struct rp_sharing_rule_def {
    const char *name;
    const char *object;
    const char *criteria;        /* a condition on the record; user.<attribute> allowed */
    const char *role;            /* shared with this role; NULL: with every user */
    bool subordinates;           /* and with the roles below it */
    enum rp_access_level access; /* RP_ACCESS_READ or RP_ACCESS_EDIT */
};

int rp_acl_rule_put(struct rp_auth *a, const struct rp_auth_client *client, const struct rp_meta *m,
                    const struct rp_sharing_rule_def *r, bool *created, struct rp_error *err);
int rp_acl_rule_delete(struct rp_auth *a, const struct rp_auth_client *client, const char *name,
                       struct rp_error *err);

/** What rp_auth_user_update changes; the set_* flags and -1 for "unchanged". */
struct rp_user_update {
    bool set_role;
    const char *role; /* NULL: none */
    bool set_sets;
    const char *const *sets;
    size_t nsets;
    bool set_attributes;
    const json_t *attributes; /* a flat object; NULL: none */
    int active;               /* 0 also revokes every token of the user */
    int is_admin;
    const char *display_name; /* NULL: unchanged */
    const char *email;        /* NULL: unchanged; "": none */
};

int rp_auth_user_update(struct rp_auth *a, const struct rp_auth_client *client, const char *user_id,
                        const struct rp_user_update *u, struct rp_error *err);

enum rp_acl_part { RP_ACL_ROLES, RP_ACL_PERMISSION_SETS, RP_ACL_SHARING, RP_ACL_SHARING_RULES };

/** Writes {"data": [...]} describing one part of the current access control. */
int rp_acl_describe(struct rp_auth *a, enum rp_acl_part part, const struct rp_meta *m,
                    struct rp_buf *out, struct rp_error *err);
/** Appends ,"role":...,"permission_sets":[...],"attributes":{...} of a user. */
void rp_acl_user_json(struct rp_auth *a, const char *user_id, struct rp_buf *out);

/* ---- policy (auth_policy.c) ---- */

enum rp_policy_action {
    /* on an object */
    RP_ACT_READ,
    RP_ACT_CREATE,
    RP_ACT_EDIT,
    RP_ACT_DELETE,
    RP_ACT_EXPORT,
    /* system permissions */
    RP_ACT_MANAGE_METADATA,
    RP_ACT_MANAGE_USERS,
    RP_ACT_MANAGE_AUTOMATION,
    RP_ACT_VIEW_AUDIT,
    RP_ACT_REVEAL,         /* sensitive fields in clear */
    RP_ACT_TRANSFER,       /* change the owner of records one may edit */
    RP_ACT_PRIVACY,        /* subject access export and erasure */
    RP_ACT_PUBLISH_EVENTS, /* POST /api/v1/events/{type} (integrations) */
};

/** Field-level security; each level includes the ones before it. */
enum rp_field_access { RP_FIELD_HIDDEN, RP_FIELD_READ, RP_FIELD_EDIT };

/** True for administrators and the internal system principal: no check restricts them. */
bool rp_policy_is_unrestricted(const struct rp_principal *p);
/** May p do action (on object; NULL for system permissions)? */
bool rp_policy_allows(const struct rp_principal *p, const char *object,
                      enum rp_policy_action action);
/**
 * rp_policy_allows as an error: 0, RP_EUNAUTH without a principal, or RP_EFORBIDDEN naming the
 * permission. Record-level access is not decided here but in rp_policy_row_sql.
 */
int rp_policy_check(const struct rp_principal *p, const char *object, enum rp_policy_action action,
                    struct rp_error *err);
/**
 * Appends to q a condition (in parentheses) that is true for exactly the rows of o, under
 * table alias alias, to which p has at least level. Every read, list, search, export, history
 * and change-feed query includes it at RP_ACCESS_READ; writes check EDIT or FULL. m resolves
 * sharing criteria and parents. Values are parameters of q.
 */
void rp_policy_row_sql(const struct rp_principal *p, const struct rp_meta *m,
                       const struct rp_object *o, const char *alias, enum rp_access_level level,
                       struct rp_sql *q);
/** Field-level security of f for p (system fields are never hidden, at most read-only). */
enum rp_field_access rp_policy_field(const struct rp_principal *p, const struct rp_object *o,
                                     const struct rp_field *f);
/** True if field-level security limits some field of o for p (then ask rp_policy_field). */
bool rp_policy_limits_fields(const struct rp_principal *p, const struct rp_object *o);
/**
 * The scope in which p's own expressions (filters) are parsed: fields p may not read are
 * unknown, and related records p may not read are null. NULL (the default scope) for
 * unrestricted principals. Lives in arena.
 */
const struct rp_meta_scope *rp_policy_scope(const struct rp_principal *p, const struct rp_meta *m,
                                            struct rp_arena *arena);
/** True if p holds role (by name). */
bool rp_policy_has_role(const struct rp_principal *p, const char *role);
/** True if the role of user_id reports directly to p's role (p is the user's manager). */
bool rp_policy_manages(const struct rp_principal *p, const char *user_id);
/**
 * The export threshold of p's role: true with *rows_per_hour and *block if the role sets one,
 * false to use the installation's default.
 */
bool rp_policy_export_limit(const struct rp_principal *p, int64_t *rows_per_hour, bool *block);
/**
 * Writes p's effective permissions as JSON for clients that adapt to them (the web UI):
 * {"role", "permission_sets", "system": [...], "objects": {"account": ["read", ...]}}.
 */
void rp_policy_describe(const struct rp_principal *p, const struct rp_meta *m, struct rp_buf *out);

#endif
