/*
 * Administration of access control: roles, permission sets, org-wide defaults, sharing rules
 * and users' assignments.
 *
 * Every change is checked against the current snapshot on the caller's thread, then written
 * in one writer unit with its "permission_change" audit entry and a new acl.version, after
 * which this process installs the new snapshot at once (others within a second). Callers
 * check the manage_users permission; nothing here does.
 */
#include "auth/auth_acl.h"
#include "base/json.h"
#include "auth/auth_int.h"
#include "base/str.h"
#include "base/arena.h"
#include "base/utf8.h"

#include <string.h>

#define LABEL_MAX     255
#define CRITERIA_MAX  4096
#define MAX_USER_SETS 32

/* ---- one change: statements, an audit entry, a new version ---- */

struct acl_change {
    struct rp_auth *a;
    const struct rp_auth_client *client;
    struct rp_sql stmts[2 + MAX_USER_SETS];
    size_t n;
    int must_change;     /* index of a statement that must change a row, else RP_ENOTFOUND; -1 */
    const char *missing; /* the RP_ENOTFOUND message */
    struct rp_buf audit; /* the entry's changes document */
    struct rp_arena *arena;
};

static void change_init(struct acl_change *x, struct rp_auth *a,
                        const struct rp_auth_client *client, struct rp_arena *arena,
                        const char *kind, const char *name)
{
    memset(x, 0, sizeof(*x));
    x->a = a;
    x->client = client;
    x->arena = arena;
    x->must_change = -1;
    rp_buf_init(&x->audit, arena, 16384);
    rp_buf_adds(&x->audit, "{\"kind\":");
    rp_buf_add_json_str(&x->audit, kind, strlen(kind));
    rp_buf_adds(&x->audit, ",\"name\":");
    rp_buf_add_json_str(&x->audit, name, strlen(name));
}

static struct rp_sql *change_stmt(struct acl_change *x)
{
    struct rp_sql *q = &x->stmts[x->n++];
    rp_auth_sql_init(x->a, q, x->arena);
    return q;
}

static int change_unit(struct rp_store_conn *c, void *vctx, struct rp_error *err)
{
    struct acl_change *x = vctx;
    const char *actor = x->client && x->client->actor ? x->client->actor : NULL;
    int rc;

    for (size_t i = 0; i < x->n; i++) {
        int64_t changed = 0;
        if ((rc = rp_store_exec(c, &x->stmts[i], &changed, err)) < 0)
            return rc;
        if ((int)i == x->must_change && changed == 0)
            return rp_error_set(err, RP_ENOTFOUND, "%s", x->missing);
    }
    if ((rc = rp_auth_audit_insert(c, x->a, x->arena, rp_auth_now(x->a), actor, "permission_change",
                                   x->audit.data, x->client, err)) < 0)
        return rc;
    return rp_acl_bump(c, x->a, x->arena, err);
}

static int change_run(struct acl_change *x, struct rp_error *err)
{
    struct rp_error ignore;
    int rc;

    rp_buf_addc(&x->audit, '}');
    if (rp_buf_error(&x->audit))
        return rp_error_set(err, RP_ETOOBIG, "the change is too large to audit");
    for (size_t i = 0; i < x->n; i++)
        if (rp_sql_error(&x->stmts[i]) < 0)
            return rp_error_set(err, RP_ETOOBIG, "the change is too large");
    if ((rc = rp_store_write(x->a->store, change_unit, x, err)) < 0)
        return rc;
    /* Committed: the change stands whatever the reload does. One that fails leaves the snapshot
       stale, and the next rp_acl_acquire loads it. */
    rp_error_init(&ignore, NULL);
    if (rp_acl_reload(x->a, &ignore) < 0)
        rp_acl_invalidate(x->a);
    return 0;
}

static int name_error(struct rp_error *err, const char *field, const char *what)
{
    return rp_error_field(err, RP_EVALIDATION, field, "invalid",
                          "%s must be 1-64 characters of a-z, 0-9 and '_', starting with a letter",
                          what);
}

static int label_check(const char *label, struct rp_error *err)
{
    if (!label || !rp_auth_text_is_valid(label, LABEL_MAX))
        return rp_error_field(err, RP_EVALIDATION, "label", "invalid",
                              "\"label\" must be 1-%d bytes of UTF-8", LABEL_MAX);
    return 0;
}

/* ---- roles ---- */

int rp_acl_role_put(struct rp_auth *a, const struct rp_auth_client *client,
                    const struct rp_role_def *r, bool *created, struct rp_error *err)
{
    struct rp_arena arena;
    struct acl_change x;
    struct rp_acl *acl;
    struct rp_sql *q;
    int rc;

    if (!rp_str_is_name(r->name))
        return name_error(err, "name", "a role name");
    if ((rc = label_check(r->label, err)) < 0)
        return rc;
    if (r->export_rows_per_hour < -1)
        return rp_error_field(err, RP_EVALIDATION, "export_rows_per_hour", "invalid",
                              "\"export_rows_per_hour\" must be a number of rows or null");
    if (!(acl = rp_acl_acquire(a, err)))
        return err->code;
    if (r->parent) {
        int p = rp_acl_role_index(acl, r->parent), depth = 0;
        /* The new parent must exist and must not be the role or one of its descendants. */
        for (int i = p; i >= 0 && depth < 64; i = acl->roles[i].parent_index, depth++)
            if (strcmp(acl->roles[i].name, r->name) == 0)
                p = -2;
        if (p < 0) {
            rp_acl_release(acl);
            return rp_error_field(err, RP_EVALIDATION, "parent", p == -2 ? "cycle" : "not_found",
                                  p == -2
                                      ? "role \"%s\" cannot report to itself or to a role below it"
                                      : "parent role \"%s\" does not exist",
                                  p == -2 ? r->name : r->parent);
        }
    }
    if (created)
        *created = rp_acl_role_index(acl, r->name) < 0;
    rp_acl_release(acl);

    rp_arena_init(&arena);
    change_init(&x, a, client, &arena, "role", r->name);
    q = change_stmt(&x);
    rp_sql_add(q, "INSERT INTO rp_role (name, label, parent, export_rows_per_hour, export_block,"
                  " created_at, updated_at) VALUES (");
    rp_sql_param(q, rp_value_cstr(r->name));
    rp_sql_add(q, ", ");
    rp_sql_param(q, rp_value_cstr(r->label));
    rp_sql_add(q, ", ");
    rp_sql_param(q, r->parent ? rp_value_cstr(r->parent) : rp_value_null());
    rp_sql_add(q, ", ");
    rp_sql_param(q, r->export_rows_per_hour >= 0 ? rp_value_int(r->export_rows_per_hour)
                                                 : rp_value_null());
    rp_sql_add(q, ", ");
    rp_sql_param(q, rp_value_bool(r->export_block));
    rp_sql_add(q, ", ");
    rp_sql_param(q, rp_value_int(rp_auth_now(a)));
    rp_sql_add(q, ", ");
    rp_sql_param(q, rp_value_int(rp_auth_now(a)));
    rp_sql_add(q, ") ON CONFLICT (name) DO UPDATE SET label = excluded.label,"
                  " parent = excluded.parent, export_rows_per_hour = excluded.export_rows_per_hour,"
                  " export_block = excluded.export_block, updated_at = excluded.updated_at");
    rp_buf_adds(&x.audit, ",\"label\":");
    rp_buf_add_json_str(&x.audit, r->label, strlen(r->label));
    rp_buf_adds(&x.audit, ",\"parent\":");
    if (r->parent)
        rp_buf_add_json_str(&x.audit, r->parent, strlen(r->parent));
    else
        rp_buf_adds(&x.audit, "null");
    rp_buf_addf(&x.audit, ",\"export_rows_per_hour\":%lld,\"export_block\":%s",
                (long long)r->export_rows_per_hour, r->export_block ? "true" : "false");
    rc = change_run(&x, err);
    rp_arena_release(&arena);
    return rc;
}

int rp_acl_role_delete(struct rp_auth *a, const struct rp_auth_client *client, const char *name,
                       struct rp_error *err)
{
    struct rp_arena arena;
    struct acl_change x;
    struct rp_sql *q;
    int rc;

    if (!rp_str_is_name(name))
        return rp_error_set(err, RP_ENOTFOUND, "role \"%s\" not found", name ? name : "");
    rp_arena_init(&arena);
    change_init(&x, a, client, &arena, "role_delete", name);
    /* Its users lose the role; the roles under it move up to its parent. */
    q = change_stmt(&x);
    rp_sql_add(q, "UPDATE rp_role SET parent = (SELECT parent FROM rp_role WHERE name = ");
    rp_sql_param(q, rp_value_cstr(name));
    rp_sql_add(q, ") WHERE parent = ");
    rp_sql_param(q, rp_value_cstr(name));
    q = change_stmt(&x);
    rp_sql_add(q, "UPDATE rp_user SET role = NULL WHERE role = ");
    rp_sql_param(q, rp_value_cstr(name));
    q = change_stmt(&x);
    rp_sql_add(q, "DELETE FROM rp_role WHERE name = ");
    rp_sql_param(q, rp_value_cstr(name));
    x.must_change = 2;
    x.missing = rp_arena_sprintf(&arena, "role \"%s\" not found", name);
    rc = change_run(&x, err);
    rp_arena_release(&arena);
    return rc;
}

/* ---- permission sets ---- */

int rp_acl_set_put(struct rp_auth *a, const struct rp_auth_client *client, const char *name,
                   const char *label, const json_t *definition, bool *created, struct rp_error *err)
{
    struct rp_arena arena;
    struct acl_change x;
    struct rp_acl *acl;
    struct rp_sql *q;
    char *text;
    int rc;

    if (!rp_str_is_name(name))
        return name_error(err, "name", "a permission set name");
    if ((rc = label_check(label, err)) < 0 || (rc = rp_acl_check_definition(definition, err)) < 0)
        return rc;
    if (!(acl = rp_acl_acquire(a, err)))
        return err->code;
    if (created) {
        *created = true;
        for (size_t i = 0; i < acl->nsets; i++)
            if (strcmp(acl->sets[i].name, name) == 0)
                *created = false;
    }
    rp_acl_release(acl);
    if (!(text = rp_json_dumps(definition, JSON_COMPACT | JSON_SORT_KEYS, err)))
        return err->code;
    rp_arena_init(&arena);
    rp_arena_defer(&arena, free, text);
    change_init(&x, a, client, &arena, "permission_set", name);
    q = change_stmt(&x);
    rp_sql_add(q, "INSERT INTO rp_permission_set (name, label, definition, created_at, updated_at)"
                  " VALUES (");
    rp_sql_param(q, rp_value_cstr(name));
    rp_sql_add(q, ", ");
    rp_sql_param(q, rp_value_cstr(label));
    rp_sql_add(q, ", ");
    rp_sql_param(q, rp_value_cstr(text));
    rp_sql_add(q, ", ");
    rp_sql_param(q, rp_value_int(rp_auth_now(a)));
    rp_sql_add(q, ", ");
    rp_sql_param(q, rp_value_int(rp_auth_now(a)));
    rp_sql_add(q, ") ON CONFLICT (name) DO UPDATE SET label = excluded.label,"
                  " definition = excluded.definition, updated_at = excluded.updated_at");
    rp_buf_adds(&x.audit, ",\"definition\":");
    rp_buf_adds(&x.audit, text);
    rc = change_run(&x, err);
    rp_arena_release(&arena);
    return rc;
}

int rp_acl_set_delete(struct rp_auth *a, const struct rp_auth_client *client, const char *name,
                      struct rp_error *err)
{
    struct rp_arena arena;
    struct acl_change x;
    struct rp_sql *q;
    int rc;

    if (!rp_str_is_name(name))
        return rp_error_set(err, RP_ENOTFOUND, "permission set \"%s\" not found", name ? name : "");
    rp_arena_init(&arena);
    change_init(&x, a, client, &arena, "permission_set_delete", name);
    q = change_stmt(&x);
    rp_sql_add(q, "DELETE FROM rp_user_permission_set WHERE permission_set = ");
    rp_sql_param(q, rp_value_cstr(name));
    q = change_stmt(&x);
    rp_sql_add(q, "DELETE FROM rp_permission_set WHERE name = ");
    rp_sql_param(q, rp_value_cstr(name));
    x.must_change = 1;
    x.missing = rp_arena_sprintf(&arena, "permission set \"%s\" not found", name);
    rc = change_run(&x, err);
    rp_arena_release(&arena);
    return rc;
}

/* ---- org-wide defaults and sharing rules ---- */

int rp_acl_sharing_put(struct rp_auth *a, const struct rp_auth_client *client,
                       const struct rp_object *o, const char *access, struct rp_error *err)
{
    struct rp_arena arena;
    struct acl_change x;
    enum rp_sharing level;
    struct rp_sql *q;
    int rc;

    if (o->sharing == RP_SHARING_PARENT)
        return rp_error_field(err, RP_EVALIDATION, "default_access", "controlled_by_parent",
                              "access to %s records follows their %s; it has no default of its own",
                              o->name, o->sharing_parent->name);
    if (access && !rp_sharing_parse(access, &level))
        return rp_error_field(err, RP_EVALIDATION, "default_access", "invalid",
                              "\"default_access\" must be \"private\", \"public_read\", "
                              "\"public_read_write\" or null (the catalogue's default)");
    rp_arena_init(&arena);
    change_init(&x, a, client, &arena, "sharing", o->name);
    q = change_stmt(&x);
    if (access) {
        rp_sql_add(q, "INSERT INTO rp_object_sharing (object, default_access) VALUES (");
        rp_sql_param(q, rp_value_cstr(o->name));
        rp_sql_add(q, ", ");
        rp_sql_param(q, rp_value_cstr(access));
        rp_sql_add(q, ") ON CONFLICT (object) DO UPDATE SET default_access = "
                      "excluded.default_access");
    } else {
        rp_sql_add(q, "DELETE FROM rp_object_sharing WHERE object = ");
        rp_sql_param(q, rp_value_cstr(o->name));
    }
    rp_buf_adds(&x.audit, ",\"default_access\":");
    if (access)
        rp_buf_add_json_str(&x.audit, access, strlen(access));
    else
        rp_buf_adds(&x.audit, "null");
    rc = change_run(&x, err);
    rp_arena_release(&arena);
    return rc;
}

int rp_acl_rule_put(struct rp_auth *a, const struct rp_auth_client *client, const struct rp_meta *m,
                    const struct rp_sharing_rule_def *r, bool *created, struct rp_error *err)
{
    const struct rp_object *o = r->object ? rp_meta_object(m, r->object) : NULL;
    const char *criteria = r->criteria;
    struct rp_arena arena;
    struct acl_change x;
    struct rp_acl *acl;
    struct rp_expr *e;
    struct rp_sql *q;
    struct rp_error sub;
    int rc;

    if (!rp_str_is_name(r->name))
        return name_error(err, "name", "a sharing rule name");
    if (!o)
        return rp_error_field(err, RP_EVALIDATION, "object", "not_found",
                              "object \"%s\" does not exist", r->object ? r->object : "");
    if (o->sharing == RP_SHARING_PARENT)
        return rp_error_field(err, RP_EVALIDATION, "object", "controlled_by_parent",
                              "access to %s records follows their %s; share that instead", o->name,
                              o->sharing_parent->name);
    if (r->access != RP_ACCESS_READ && r->access != RP_ACCESS_EDIT)
        return rp_error_field(err, RP_EVALIDATION, "access", "invalid",
                              "\"access\" must be \"read\" or \"edit\"");
    if (!criteria || !*criteria || strlen(criteria) > CRITERIA_MAX)
        return rp_error_field(err, RP_EVALIDATION, "criteria", "invalid",
                              "\"criteria\" must be a condition of at most %d bytes", CRITERIA_MAX);
    rp_arena_init(&arena);
    rp_error_init(&sub, &arena);
    if (rp_policy_parse_criteria(NULL, m, o, "t", criteria, rp_auth_now(a), &arena, &e, &sub) < 0) {
        rc = rp_error_field(err, RP_EVALIDATION, "criteria", "invalid_expression",
                            "invalid criteria: %s", sub.detail);
        goto out;
    }
    if (!(acl = rp_acl_acquire(a, err))) {
        rc = err->code;
        goto out;
    }
    rc = r->role && rp_acl_role_index(acl, r->role) < 0 ? -1 : 0;
    if (created) {
        *created = true;
        for (size_t i = 0; i < acl->nrules; i++)
            if (strcmp(acl->rules[i].name, r->name) == 0)
                *created = false;
    }
    rp_acl_release(acl);
    if (rc < 0) {
        rc = rp_error_field(err, RP_EVALIDATION, "role", "not_found", "role \"%s\" does not exist",
                            r->role);
        goto out;
    }
    change_init(&x, a, client, &arena, "sharing_rule", r->name);
    q = change_stmt(&x);
    rp_sql_add(q, "INSERT INTO rp_sharing_rule (name, object, criteria, role, subordinates, access,"
                  " created_at) VALUES (");
    rp_sql_param(q, rp_value_cstr(r->name));
    rp_sql_add(q, ", ");
    rp_sql_param(q, rp_value_cstr(o->name));
    rp_sql_add(q, ", ");
    rp_sql_param(q, rp_value_cstr(criteria));
    rp_sql_add(q, ", ");
    rp_sql_param(q, r->role ? rp_value_cstr(r->role) : rp_value_null());
    rp_sql_add(q, ", ");
    rp_sql_param(q, rp_value_bool(r->subordinates));
    rp_sql_add(q, ", ");
    rp_sql_param(q, rp_value_cstr(r->access == RP_ACCESS_EDIT ? "edit" : "read"));
    rp_sql_add(q, ", ");
    rp_sql_param(q, rp_value_int(rp_auth_now(a)));
    rp_sql_add(q, ") ON CONFLICT (name) DO UPDATE SET object = excluded.object,"
                  " criteria = excluded.criteria, role = excluded.role,"
                  " subordinates = excluded.subordinates, access = excluded.access");
    rp_buf_adds(&x.audit, ",\"object\":");
    rp_buf_add_json_str(&x.audit, o->name, strlen(o->name));
    rp_buf_adds(&x.audit, ",\"criteria\":");
    rp_buf_add_json_str(&x.audit, criteria, strlen(criteria));
    rp_buf_adds(&x.audit, ",\"role\":");
    if (r->role)
        rp_buf_add_json_str(&x.audit, r->role, strlen(r->role));
    else
        rp_buf_adds(&x.audit, "null");
    rp_buf_addf(&x.audit, ",\"subordinates\":%s,\"access\":\"%s\"",
                r->subordinates ? "true" : "false", r->access == RP_ACCESS_EDIT ? "edit" : "read");
    rc = change_run(&x, err);
out:
    rp_arena_release(&arena);
    return rc;
}

int rp_acl_rule_delete(struct rp_auth *a, const struct rp_auth_client *client, const char *name,
                       struct rp_error *err)
{
    struct rp_arena arena;
    struct acl_change x;
    struct rp_sql *q;
    int rc;

    if (!rp_str_is_name(name))
        return rp_error_set(err, RP_ENOTFOUND, "sharing rule \"%s\" not found", name ? name : "");
    rp_arena_init(&arena);
    change_init(&x, a, client, &arena, "sharing_rule_delete", name);
    q = change_stmt(&x);
    rp_sql_add(q, "DELETE FROM rp_sharing_rule WHERE name = ");
    rp_sql_param(q, rp_value_cstr(name));
    x.must_change = 0;
    x.missing = rp_arena_sprintf(&arena, "sharing rule \"%s\" not found", name);
    rc = change_run(&x, err);
    rp_arena_release(&arena);
    return rc;
}

/* ---- users ---- */

/* Attributes: a flat object of strings, numbers or booleans (user.<name> in criteria). */
static int attributes_check(const json_t *j, struct rp_error *err)
{
    const char *key;
    json_t *v;

    if (!json_is_object(j) || json_object_size(j) > 64)
        return rp_error_field(err, RP_EVALIDATION, "attributes", "invalid",
                              "\"attributes\" must be an object of at most 64 attributes");
    json_object_foreach((json_t *)j, key, v)
    {
        if (!rp_str_is_name(key) || strcmp(key, "id") == 0 || strcmp(key, "role") == 0)
            return rp_error_field(err, RP_EVALIDATION, "attributes", "invalid_name",
                                  "attribute \"%s\" must be a lower-case name other than id and "
                                  "role",
                                  key);
        if (!(json_is_string(v) && json_string_length(v) <= 256) && !json_is_integer(v) &&
            !json_is_boolean(v))
            return rp_error_field(err, RP_EVALIDATION, "attributes", "invalid_value",
                                  "attribute \"%s\" must be a string of at most 256 bytes, an "
                                  "integer or a boolean",
                                  key);
    }
    return 0;
}

int rp_auth_user_update(struct rp_auth *a, const struct rp_auth_client *client, const char *user_id,
                        const struct rp_user_update *u, struct rp_error *err)
{
    struct rp_arena arena;
    struct acl_change x;
    struct rp_acl *acl;
    struct rp_sql *q;
    char *attrs = NULL;
    bool bad = false;
    int rc;

    if (!(acl = rp_acl_acquire(a, err)))
        return err->code;
    if (!rp_acl_user(acl, user_id)) {
        rp_acl_release(acl);
        return rp_error_set(err, RP_ENOTFOUND, "user \"%s\" not found", user_id);
    }
    if (u->set_role && u->role && rp_acl_role_index(acl, u->role) < 0) {
        rp_error_field(err, RP_EVALIDATION, "role", "not_found", "role \"%s\" does not exist",
                       u->role);
        bad = true;
    }
    if (u->set_sets && u->nsets > MAX_USER_SETS) {
        rp_error_field(err, RP_EVALIDATION, "permission_sets", "too_many",
                       "a user holds at most %d permission sets", MAX_USER_SETS);
        bad = true;
    }
    for (size_t i = 0; u->set_sets && i < u->nsets && i < MAX_USER_SETS; i++) {
        bool known = false;
        for (size_t k = 0; k < acl->nsets; k++)
            known = known || strcmp(acl->sets[k].name, u->sets[i]) == 0;
        for (size_t k = 0; k < i; k++)
            known = known && strcmp(u->sets[k], u->sets[i]) != 0;
        if (!known) {
            rp_error_field(err, RP_EVALIDATION, "permission_sets", "not_found",
                           "permission set \"%s\" does not exist (or is named twice)", u->sets[i]);
            bad = true;
        }
    }
    rp_acl_release(acl);
    if (u->set_attributes && u->attributes && attributes_check(u->attributes, err) < 0)
        bad = true;
    if (u->display_name && !rp_auth_text_is_valid(u->display_name, RP_AUTH_NAME_MAX)) {
        rp_error_field(err, RP_EVALIDATION, "display_name", "invalid",
                       "display name must be 1-%d bytes of valid UTF-8", RP_AUTH_NAME_MAX);
        bad = true;
    }
    if (u->email && *u->email && !rp_auth_text_is_valid(u->email, RP_AUTH_NAME_MAX)) {
        rp_error_field(err, RP_EVALIDATION, "email", "invalid",
                       "email must be at most %d bytes of valid UTF-8", RP_AUTH_NAME_MAX);
        bad = true;
    }
    if (bad)
        return RP_EVALIDATION;

    rp_arena_init(&arena);
    change_init(&x, a, client, &arena, "user", user_id);
    q = change_stmt(&x);
    rp_sql_add(q, "UPDATE rp_user SET updated_at = ");
    rp_sql_param(q, rp_value_int(rp_auth_now(a)));
    if (u->set_role) {
        rp_sql_add(q, ", role = ");
        rp_sql_param(q, u->role ? rp_value_cstr(u->role) : rp_value_null());
        rp_buf_adds(&x.audit, ",\"role\":");
        if (u->role)
            rp_buf_add_json_str(&x.audit, u->role, strlen(u->role));
        else
            rp_buf_adds(&x.audit, "null");
    }
    if (u->set_attributes) {
        attrs = u->attributes ? rp_json_dumps(u->attributes, JSON_COMPACT | JSON_SORT_KEYS, NULL)
                              : NULL;
        if (attrs)
            rp_arena_defer(&arena, free, attrs);
        rp_sql_add(q, ", attributes = ");
        rp_sql_param(q, attrs ? rp_value_cstr(attrs) : rp_value_null());
        rp_buf_adds(&x.audit, ",\"attributes\":");
        rp_buf_adds(&x.audit, attrs ? attrs : "null");
    }
    if (u->active >= 0) {
        rp_sql_add(q, ", active = ");
        rp_sql_param(q, rp_value_bool(u->active));
        rp_buf_addf(&x.audit, ",\"active\":%s", u->active ? "true" : "false");
    }
    if (u->is_admin >= 0) {
        rp_sql_add(q, ", is_admin = ");
        rp_sql_param(q, rp_value_bool(u->is_admin));
        rp_buf_addf(&x.audit, ",\"is_admin\":%s", u->is_admin ? "true" : "false");
    }
    if (u->display_name) {
        rp_sql_add(q, ", display_name = ");
        rp_sql_param(q, rp_value_cstr(u->display_name));
    }
    if (u->email) {
        rp_sql_add(q, ", email = ");
        rp_sql_param(q, *u->email ? rp_value_cstr(u->email) : rp_value_null());
    }
    rp_sql_add(q, " WHERE id = ");
    rp_sql_param(q, rp_value_cstr(user_id));
    x.must_change = 0;
    x.missing = rp_arena_sprintf(&arena, "user \"%s\" not found", user_id);
    if (u->active == 0) {
        /* A deactivated user's sessions and tokens stop working at once. */
        q = change_stmt(&x);
        rp_sql_add(q, "UPDATE rp_token SET revoked_at = ");
        rp_sql_param(q, rp_value_int(rp_auth_now(a)));
        rp_sql_add(q, " WHERE user_id = ");
        rp_sql_param(q, rp_value_cstr(user_id));
        rp_sql_add(q, " AND revoked_at IS NULL");
    }
    if (u->set_sets) {
        q = change_stmt(&x);
        rp_sql_add(q, "DELETE FROM rp_user_permission_set WHERE user_id = ");
        rp_sql_param(q, rp_value_cstr(user_id));
        rp_buf_adds(&x.audit, ",\"permission_sets\":[");
        for (size_t i = 0; i < u->nsets; i++) {
            q = change_stmt(&x);
            rp_sql_add(q, "INSERT INTO rp_user_permission_set (user_id, permission_set) VALUES (");
            rp_sql_param(q, rp_value_cstr(user_id));
            rp_sql_add(q, ", ");
            rp_sql_param(q, rp_value_cstr(u->sets[i]));
            rp_sql_add(q, ")");
            if (i)
                rp_buf_addc(&x.audit, ',');
            rp_buf_add_json_str(&x.audit, u->sets[i], strlen(u->sets[i]));
        }
        rp_buf_addc(&x.audit, ']');
    }
    rc = change_run(&x, err);
    /* The token cache holds is_admin and activeness: drop what it knows of this user. */
    rp_auth_cache_evict_user(a, user_id);
    rp_arena_release(&arena);
    return rc;
}

/* ---- descriptions ---- */

static void str_or_null(struct rp_buf *out, const char *s)
{
    if (s)
        rp_buf_add_json_str(out, s, strlen(s));
    else
        rp_buf_adds(out, "null");
}

int rp_acl_describe(struct rp_auth *a, enum rp_acl_part part, const struct rp_meta *m,
                    struct rp_buf *out, struct rp_error *err)
{
    struct rp_acl *acl = rp_acl_acquire(a, err);

    if (!acl)
        return err->code;
    rp_buf_adds(out, "{\"data\":[");
    switch (part) {
    case RP_ACL_ROLES:
        for (size_t i = 0; i < acl->nroles; i++) {
            const struct rp_acl_role *r = &acl->roles[i];
            rp_buf_adds(out, i ? ",{\"name\":" : "{\"name\":");
            str_or_null(out, r->name);
            rp_buf_adds(out, ",\"label\":");
            str_or_null(out, r->label);
            rp_buf_adds(out, ",\"parent\":");
            str_or_null(out, r->parent);
            rp_buf_adds(out, ",\"export_rows_per_hour\":");
            if (r->export_rows_per_hour >= 0)
                rp_buf_add_i64(out, r->export_rows_per_hour);
            else
                rp_buf_adds(out, "null");
            rp_buf_addf(out, ",\"export_block\":%s}", r->export_block ? "true" : "false");
        }
        break;
    case RP_ACL_PERMISSION_SETS:
        for (size_t i = 0; i < acl->nsets; i++) {
            const struct rp_acl_set *s = &acl->sets[i];
            rp_buf_adds(out, i ? ",{\"name\":" : "{\"name\":");
            str_or_null(out, s->name);
            rp_buf_adds(out, ",\"label\":");
            str_or_null(out, s->label);
            rp_buf_adds(out, ",\"definition\":");
            rp_buf_adds(out, s->definition ? s->definition : "null");
            rp_buf_addc(out, '}');
        }
        break;
    case RP_ACL_SHARING:
        for (size_t i = 0; i < m->nobjects; i++) {
            const struct rp_object *o = &m->objects[i];
            rp_buf_adds(out, i ? ",{\"object\":" : "{\"object\":");
            str_or_null(out, o->name);
            rp_buf_addf(out, ",\"default_access\":\"%s\",\"catalogue_default\":\"%s\"",
                        rp_sharing_name(rp_acl_sharing(acl, o)), rp_sharing_name(o->sharing));
            rp_buf_adds(out, ",\"sharing_parent\":");
            str_or_null(out, o->sharing_parent ? o->sharing_parent->name : NULL);
            rp_buf_addc(out, '}');
        }
        break;
    case RP_ACL_SHARING_RULES:
        for (size_t i = 0; i < acl->nrules; i++) {
            const struct rp_acl_rule *r = &acl->rules[i];
            rp_buf_adds(out, i ? ",{\"name\":" : "{\"name\":");
            str_or_null(out, r->name);
            rp_buf_adds(out, ",\"object\":");
            str_or_null(out, r->object);
            rp_buf_adds(out, ",\"criteria\":");
            str_or_null(out, r->criteria);
            rp_buf_adds(out, ",\"role\":");
            str_or_null(out, r->role);
            rp_buf_addf(out, ",\"subordinates\":%s,\"access\":\"%s\"}",
                        r->subordinates ? "true" : "false",
                        r->access == RP_ACCESS_EDIT ? "edit" : "read");
        }
        break;
    }
    rp_buf_adds(out, "]}");
    rp_acl_release(acl);
    return 0;
}

void rp_acl_user_json(struct rp_auth *a, const char *user_id, struct rp_buf *out)
{
    struct rp_error ignore;
    struct rp_acl *acl;
    const struct rp_access *acc;

    rp_error_init(&ignore, NULL);
    acl = rp_acl_acquire(a, &ignore);
    acc = rp_acl_user(acl, user_id);
    rp_buf_adds(out, ",\"role\":");
    str_or_null(out, acc ? acc->role_name : NULL);
    rp_buf_adds(out, ",\"permission_sets\":[");
    for (size_t i = 0; acc && i < acc->nsets; i++) {
        if (i)
            rp_buf_addc(out, ',');
        rp_buf_add_json_str(out, acc->set_names[i], strlen(acc->set_names[i]));
    }
    rp_buf_adds(out, "],\"attributes\":");
    rp_buf_adds(out, acc && acc->attributes ? acc->attributes : "{}");
    rp_acl_release(acl);
}
