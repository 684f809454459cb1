/*
 * Private to src/auth: the access-control snapshot (auth_acl.c) that the policy engine
 * (auth_policy.c) reads.
 *
 * A snapshot holds every role, permission set, user assignment, org-wide default override
 * and sharing rule of the database, with each user's effective permissions (the union of
 * the user's permission sets) compiled once. It is immutable and reference counted: a
 * request's principal holds the snapshot it was authenticated with until the request ends,
 * and a change builds and installs a new one. Record shares (teams) are not in it; they are
 * rows the policy's SQL reads.
 */
#ifndef RP_AUTH_AUTH_ACL_H
#define RP_AUTH_AUTH_ACL_H

#include "auth/auth.h"
#include "base/arena.h"

#include <pthread.h>
#include <stdatomic.h>

/* Object permission bits of a permission set entry. */
enum {
    RP_PERM_READ = 1 << 0,
    RP_PERM_CREATE = 1 << 1,
    RP_PERM_EDIT = 1 << 2,
    RP_PERM_DELETE = 1 << 3,
    RP_PERM_EXPORT = 1 << 4,
    RP_PERM_VIEW_ALL = 1 << 5,
    RP_PERM_MODIFY_ALL = 1 << 6,
};

/* System permission bits. */
#define RP_SYSTEM_PERMISSIONS(X)              \
    X(MANAGE_METADATA, "manage_metadata")     \
    X(MANAGE_USERS, "manage_users")           \
    X(MANAGE_AUTOMATION, "manage_automation") \
    X(VIEW_AUDIT, "view_audit")               \
    X(REVEAL, "reveal")                       \
    X(TRANSFER, "transfer")                   \
    X(PRIVACY, "privacy")                     \
    X(VIEW_ALL_DATA, "view_all_data")         \
    X(MODIFY_ALL_DATA, "modify_all_data")     \
    X(PUBLISH_EVENTS, "publish_events")

enum {
#define RP_SYS_BIT(name, str) RP_SYS_BIT_##name,
    RP_SYSTEM_PERMISSIONS(RP_SYS_BIT)
#undef RP_SYS_BIT
        RP_SYS_COUNT
};
#define RP_SYS(name) (1u << RP_SYS_BIT_##name)

/** The name of system permission bit i, or NULL. */
const char *rp_acl_system_name(unsigned i);

struct rp_acl_field {
    const char *name;
    enum rp_field_access level; /* below RP_FIELD_EDIT: fields not listed are editable */
};

/** A user's permissions on one object (or on every object not named: name "*"). */
struct rp_acl_object {
    const char *name;
    unsigned perms; /* RP_PERM_* */
    struct rp_acl_field *fields;
    size_t nfields;
};

struct rp_acl_role {
    const char *name;
    const char *label;
    const char *parent;           /* as stored; NULL for a top role */
    int parent_index;             /* -1: none (or an unknown parent) */
    int64_t export_rows_per_hour; /* < 0: the installation's default */
    bool export_block;
    const char **below; /* ids of active users in roles under this one */
    size_t nbelow;
};

struct rp_acl_rule {
    const char *name;
    const char *object;
    const char *criteria;
    const char *role; /* NULL: every user */
    bool subordinates;
    enum rp_access_level access; /* READ or EDIT */
};

struct rp_acl_set {
    const char *name;
    const char *label;
    const char *definition; /* JSON text as stored */
};

struct rp_access {
    const struct rp_acl *acl;
    const char *user_id;
    bool active;
    const char *role_name; /* as stored, or NULL */
    int role;              /* index into acl->roles, -1 for none or an unknown role */
    const char **set_names;
    size_t nsets;
    const char **attr_names, **attr_values; /* user attributes for sharing criteria */
    size_t nattrs;
    const char *attributes;        /* JSON text as stored, or NULL */
    unsigned system;               /* RP_SYS(...) bits */
    struct rp_acl_object *objects; /* named objects, then the "*" entry last */
    size_t nobjects;
    const struct rp_acl_rule **rules; /* sharing rules that apply to this user */
    size_t nrules;
};

/* A sharing rule's criteria compiled for one user, object and alias (see criteria_sql). */
struct rp_acl_fragment {
    const struct rp_access *acc;
    const struct rp_acl_rule *rule;
    const char *alias;
    uint64_t meta_generation;
    const char *sql; /* "?" markers */
    struct rp_value *params;
    size_t nparams;
};

#define RP_ACL_FRAGMENTS 256

struct rp_acl {
    struct rp_arena arena; /* grows after the build only under cache_lock */
    atomic_int refs;
    pthread_mutex_t cache_lock;
    struct rp_acl_fragment fragments[RP_ACL_FRAGMENTS];
    size_t nfragments;
    int64_t version;
    const struct rp_clock *clock;
    enum rp_sql_dialect dialect; /* the store's: sharing-rule fragments are written in it */
    struct rp_acl_role *roles;
    size_t nroles;
    struct rp_acl_set *sets;
    size_t nsets;
    struct rp_access *users; /* sorted by user_id */
    size_t nusers;
    const char **sharing_objects; /* org-wide default overrides */
    enum rp_sharing *sharing_levels;
    size_t nsharing;
    struct rp_acl_rule *rules;
    size_t nrules;
};

/** The current snapshot with a reference taken (reloaded if the database moved on). */
struct rp_acl *rp_acl_acquire(struct rp_auth *a, struct rp_error *err);
void rp_acl_release(struct rp_acl *acl);
/** The user's access in acl, or NULL. */
const struct rp_access *rp_acl_user(const struct rp_acl *acl, const char *user_id);
/** The permissions entry of acc for object (a named entry or "*"); never NULL. */
const struct rp_acl_object *rp_acl_object_entry(const struct rp_access *acc, const char *object);
/** The org-wide default of o in acl (an override, or the catalogue's). */
enum rp_sharing rp_acl_sharing(const struct rp_acl *acl, const struct rp_object *o);
/** Index of role name in acl, or -1. */
int rp_acl_role_index(const struct rp_acl *acl, const char *name);

/**
 * Checks a permission set definition: {"objects": {"<object>|*": {"read": bool, "create",
 * "edit", "delete", "export", "view_all", "modify_all", "fields": {"<field>": "read"|"none"|
 * "edit"}}}, "system": ["view_audit", ...]}. Returns 0, or RP_EVALIDATION with err naming the
 * part ("definition.objects.account.fields.amount").
 */
int rp_acl_check_definition(const json_t *def, struct rp_error *err);

/**
 * Parses sharing criteria on o's row under alias: the expression language, with user.id,
 * user.role and user.<attribute> as text parameters of acc (NULL when checking a rule: all
 * null) and record.<path> as another name for <path>.
 */
int rp_policy_parse_criteria(const struct rp_access *acc, const struct rp_meta *m,
                             const struct rp_object *o, const char *alias, const char *criteria,
                             int64_t now_ms, struct rp_arena *a, struct rp_expr **out,
                             struct rp_error *err);

#endif
