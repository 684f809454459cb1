/*
 * The access-control snapshot: loaded from the database, compiled per user, swapped when
 * acl.version moves.
 *
 * Every change to roles, permission sets, user assignments, org-wide defaults or sharing
 * rules bumps rp_setting "acl.version" in its own transaction. A process rebuilds its
 * snapshot at once after its own changes and checks the version of the database at most
 * once a second otherwise, so processes sharing a database agree within a second.
 *
 * Union of permission sets: a user may do on an object what any of the user's sets allows
 * (a set's entry for the object, or its "*" entry). A field is limited only if every set
 * that lets the user read the object limits it; the most generous limit wins.
 */
#include "auth/auth_acl.h"
#include "base/json.h"
#include "auth/auth_int.h"
#include "base/log.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>

#define ACL_CHECK_MS   1000
#define ROLE_MAX_DEPTH 32

static const char *const system_names[] = {
#define RP_SYS_NAME(name, str) str,
    RP_SYSTEM_PERMISSIONS(RP_SYS_NAME)
#undef RP_SYS_NAME
};

const char *rp_acl_system_name(unsigned i)
{
    return i < RP_SYS_COUNT ? system_names[i] : NULL;
}

static const struct {
    const char *name;
    unsigned bit;
} perm_names[] = {
    {"read", RP_PERM_READ},
    {"create", RP_PERM_CREATE},
    {"edit", RP_PERM_EDIT},
    {"delete", RP_PERM_DELETE},
    {"export", RP_PERM_EXPORT},
    {"view_all", RP_PERM_VIEW_ALL},
    {"modify_all", RP_PERM_MODIFY_ALL},
};

/* ---- permission set definitions ---- */

static bool field_level_parse(const char *s, enum rp_field_access *out)
{
    if (!s)
        return false;
    if (strcmp(s, "none") == 0)
        *out = RP_FIELD_HIDDEN;
    else if (strcmp(s, "read") == 0)
        *out = RP_FIELD_READ;
    else if (strcmp(s, "edit") == 0)
        *out = RP_FIELD_EDIT;
    else
        return false;
    return true;
}

static unsigned entry_perms(const json_t *entry)
{
    unsigned perms = 0;
    for (size_t i = 0; i < sizeof(perm_names) / sizeof(perm_names[0]); i++)
        if (json_is_true(json_object_get(entry, perm_names[i].name)))
            perms |= perm_names[i].bit;
    /* Wider permissions include the narrower ones they cannot work without. */
    if (perms & RP_PERM_MODIFY_ALL)
        perms |= RP_PERM_VIEW_ALL | RP_PERM_EDIT | RP_PERM_DELETE;
    if (perms &
        (RP_PERM_VIEW_ALL | RP_PERM_CREATE | RP_PERM_EDIT | RP_PERM_DELETE | RP_PERM_EXPORT))
        perms |= RP_PERM_READ;
    return perms;
}

static int check_entry(const char *object, const json_t *entry, struct rp_error *err)
{
    const char *key, *fname;
    const json_t *v, *fv;

    if (!json_is_object(entry))
        return rp_error_field(err, RP_EVALIDATION, "definition.objects", "invalid",
                              "the entry for \"%s\" must be an object", object);
    json_object_foreach((json_t *)entry, key, v)
    {
        bool known = strcmp(key, "fields") == 0;
        for (size_t i = 0; !known && i < sizeof(perm_names) / sizeof(perm_names[0]); i++)
            known = strcmp(key, perm_names[i].name) == 0;
        if (!known)
            return rp_error_field(err, RP_EVALIDATION, "definition.objects", "unknown_key",
                                  "unknown key \"%s\" in the entry for \"%s\"; expected read, "
                                  "create, edit, delete, export, view_all, modify_all, fields",
                                  key, object);
        if (strcmp(key, "fields") != 0 && !json_is_boolean(v))
            return rp_error_field(err, RP_EVALIDATION, "definition.objects", "invalid_type",
                                  "\"%s\" of \"%s\" must be true or false", key, object);
    }
    v = json_object_get(entry, "fields");
    if (v && !json_is_object(v))
        return rp_error_field(err, RP_EVALIDATION, "definition.objects", "invalid_type",
                              "\"fields\" of \"%s\" must map field names to access", object);
    json_object_foreach((json_t *)v, fname, fv)
    {
        enum rp_field_access level;
        if (!rp_str_is_name(fname) || !field_level_parse(json_string_value(fv), &level))
            return rp_error_field(err, RP_EVALIDATION, "definition.objects", "invalid_field",
                                  "field access of \"%s\" on \"%s\" must be \"edit\", \"read\" or "
                                  "\"none\" for a field name",
                                  fname, object);
    }
    return 0;
}

int rp_acl_check_definition(const json_t *def, struct rp_error *err)
{
    static const char *const set_keys[] = {"objects", "system", NULL};
    const json_t *objects, *system, *v;
    const char *key;
    size_t i;

    if (!json_is_object(def))
        return rp_error_field(err, RP_EVALIDATION, "definition", "invalid_type",
                              "a permission set definition must be a JSON object");
    if (rp_json_check_keys(def, set_keys, "a permission set", "definition", err) < 0)
        return err->code;
    objects = json_object_get(def, "objects");
    if (objects && !json_is_object(objects))
        return rp_error_field(err, RP_EVALIDATION, "definition.objects", "invalid_type",
                              "\"objects\" must map object names (or \"*\") to permissions");
    json_object_foreach((json_t *)objects, key, v)
    {
        if (strcmp(key, "*") != 0 && !rp_str_is_name(key))
            return rp_error_field(err, RP_EVALIDATION, "definition.objects", "invalid_name",
                                  "\"%s\" is not an object name", key);
        if (check_entry(key, v, err) < 0)
            return err->code;
    }
    system = json_object_get(def, "system");
    if (system && !json_is_array(system))
        return rp_error_field(err, RP_EVALIDATION, "definition.system", "invalid_type",
                              "\"system\" must be an array of permission names");
    json_array_foreach(system, i, v)
    {
        const char *s = json_string_value(v);
        bool known = false;
        for (unsigned b = 0; s && b < RP_SYS_COUNT; b++)
            known = known || strcmp(s, system_names[b]) == 0;
        if (!known)
            return rp_error_field(err, RP_EVALIDATION, "definition.system", "unknown_permission",
                                  "unknown system permission \"%s\"", s ? s : "(not a string)");
    }
    return 0;
}

/* ---- loading ---- */

struct load {
    struct rp_acl *acl;
    struct rp_arena *a;
    size_t cap_roles, cap_sets, cap_users, cap_sharing, cap_rules;
    struct pair {
        const char *user, *set;
    } * pairs; /* user -> permission set, in user order */
    size_t npairs, cap_pairs;
};

#define GROW(arr, n, cap, a)                                                                      \
    do {                                                                                          \
        if ((n) == (cap)) {                                                                       \
            size_t ncap_ = (cap) ? (cap)*2 : 16;                                                  \
            (arr) = rp_arena_realloc((a), (arr), (cap) * sizeof(*(arr)), ncap_ * sizeof(*(arr))); \
            (cap) = ncap_;                                                                        \
        }                                                                                         \
    } while (0)

static const char *text_or_null(struct rp_arena *a, const struct rp_value *v)
{
    return v->type == RP_V_TEXT ? rp_arena_strndup(a, v->u.s.p, v->u.s.len) : NULL;
}

static int version_row(void *ctx, const struct rp_value *cols, size_t n)
{
    int64_t *v = ctx;
    if (n >= 1 && cols[0].type == RP_V_TEXT)
        *v = strtoll(cols[0].u.s.p, NULL, 10);
    return 1;
}

static int role_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct load *l = ctx;
    struct rp_acl *acl = l->acl;
    struct rp_acl_role *r;

    if (n < 5)
        return 0;
    GROW(acl->roles, acl->nroles, l->cap_roles, l->a);
    r = &acl->roles[acl->nroles++];
    memset(r, 0, sizeof(*r));
    r->name = text_or_null(l->a, &cols[0]);
    r->label = text_or_null(l->a, &cols[1]);
    r->parent = text_or_null(l->a, &cols[2]);
    r->export_rows_per_hour = cols[3].type == RP_V_INT ? cols[3].u.i : -1;
    r->export_block = rp_auth_col_int(&cols[4]) != 0;
    r->parent_index = -1;
    return 0;
}

static int set_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct load *l = ctx;
    struct rp_acl *acl = l->acl;
    struct rp_acl_set *s;

    if (n < 3)
        return 0;
    GROW(acl->sets, acl->nsets, l->cap_sets, l->a);
    s = &acl->sets[acl->nsets++];
    s->name = text_or_null(l->a, &cols[0]);
    s->label = text_or_null(l->a, &cols[1]);
    s->definition = text_or_null(l->a, &cols[2]);
    return 0;
}

static int user_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct load *l = ctx;
    struct rp_acl *acl = l->acl;
    struct rp_access *u;

    if (n < 4)
        return 0;
    GROW(acl->users, acl->nusers, l->cap_users, l->a);
    u = &acl->users[acl->nusers++];
    memset(u, 0, sizeof(*u));
    u->acl = acl;
    u->user_id = text_or_null(l->a, &cols[0]);
    u->role_name = text_or_null(l->a, &cols[1]);
    u->role = -1; /* linked once every role is in */
    u->attributes = text_or_null(l->a, &cols[2]);
    u->active = rp_auth_col_int(&cols[3]) != 0;
    return 0;
}

static int pair_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct load *l = ctx;

    if (n < 2)
        return 0;
    GROW(l->pairs, l->npairs, l->cap_pairs, l->a);
    l->pairs[l->npairs].user = text_or_null(l->a, &cols[0]);
    l->pairs[l->npairs].set = text_or_null(l->a, &cols[1]);
    l->npairs++;
    return 0;
}

static int sharing_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct load *l = ctx;
    struct rp_acl *acl = l->acl;
    enum rp_sharing s;
    size_t cap = l->cap_sharing;

    if (n < 2 || cols[1].type != RP_V_TEXT || !rp_sharing_parse(cols[1].u.s.p, &s))
        return 0;
    GROW(acl->sharing_objects, acl->nsharing, cap, l->a);
    GROW(acl->sharing_levels, acl->nsharing, l->cap_sharing, l->a);
    acl->sharing_objects[acl->nsharing] = text_or_null(l->a, &cols[0]);
    acl->sharing_levels[acl->nsharing] = s;
    acl->nsharing++;
    return 0;
}

static int rule_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct load *l = ctx;
    struct rp_acl *acl = l->acl;
    struct rp_acl_rule *r;

    if (n < 6)
        return 0;
    GROW(acl->rules, acl->nrules, l->cap_rules, l->a);
    r = &acl->rules[acl->nrules++];
    r->name = text_or_null(l->a, &cols[0]);
    r->object = text_or_null(l->a, &cols[1]);
    r->criteria = text_or_null(l->a, &cols[2]);
    r->role = text_or_null(l->a, &cols[3]);
    r->subordinates = rp_auth_col_int(&cols[4]) != 0;
    r->access = cols[5].type == RP_V_TEXT && strcmp(cols[5].u.s.p, "edit") == 0 ? RP_ACCESS_EDIT
                                                                                : RP_ACCESS_READ;
    return 0;
}

static int load_query(struct rp_auth *a, struct load *l, const char *sql, rp_store_row_fn fn,
                      struct rp_error *err)
{
    struct rp_arena scratch;
    struct rp_sql q;
    int rc;

    rp_arena_init(&scratch);
    rp_auth_sql_init(a, &q, &scratch);
    rp_sql_add(&q, sql);
    rc = rp_auth_read(a, &q, fn, l, err);
    rp_arena_release(&scratch);
    return rc;
}

int rp_acl_role_index(const struct rp_acl *acl, const char *name)
{
    for (size_t i = 0; name && i < acl->nroles; i++)
        if (strcmp(acl->roles[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int cmp_user(const void *x, const void *y)
{
    const struct rp_access *a = x, *b = y;
    return strcmp(a->user_id, b->user_id);
}

const struct rp_access *rp_acl_user(const struct rp_acl *acl, const char *user_id)
{
    struct rp_access key = {.user_id = user_id};
    if (!acl || !user_id)
        return NULL;
    return bsearch(&key, acl->users, acl->nusers, sizeof(key), cmp_user);
}

/* True if role r is below (or, with or_self, is) role top. */
static bool role_within(const struct rp_acl *acl, int r, int top, bool or_self)
{
    int depth = 0;
    if (r < 0 || top < 0)
        return false;
    if (!or_self)
        r = acl->roles[r].parent_index;
    for (; r >= 0 && depth < ROLE_MAX_DEPTH; r = acl->roles[r].parent_index, depth++)
        if (r == top)
            return true;
    return false;
}

static void link_roles(struct rp_acl *acl, struct rp_arena *a)
{
    size_t *caps = rp_arena_calloc(a, acl->nroles + 1, sizeof(size_t));

    for (size_t i = 0; i < acl->nroles; i++)
        acl->roles[i].parent_index = rp_acl_role_index(acl, acl->roles[i].parent);
    /* A cycle stored by hand would loop; role_within stops at ROLE_MAX_DEPTH anyway. */
    for (size_t u = 0; u < acl->nusers; u++) {
        struct rp_access *acc = &acl->users[u];
        int r = acc->role;
        int depth = 0;
        if (!acc->active || r < 0)
            continue;
        for (r = acl->roles[r].parent_index; r >= 0 && depth < ROLE_MAX_DEPTH;
             r = acl->roles[r].parent_index, depth++) {
            struct rp_acl_role *top = &acl->roles[r];
            GROW(top->below, top->nbelow, caps[r], a);
            top->below[top->nbelow++] = acc->user_id;
        }
    }
}

/* ---- compiling one user's permissions ---- */

struct set_doc {
    const char *name;
    json_t *def; /* NULL when the stored text is unreadable: grants nothing */
};

/* The entry a set uses for object (its own, or "*"), or NULL. */
static const json_t *set_entry(const json_t *def, const char *object)
{
    const json_t *objects = json_object_get(def, "objects");
    const json_t *e = json_object_get(objects, object);
    return e ? e : json_object_get(objects, "*");
}

static void compile_object(struct rp_arena *a, const json_t *const *defs, size_t ndefs,
                           const char *object, struct rp_acl_object *out)
{
    size_t cap = 0;

    memset(out, 0, sizeof(*out));
    out->name = object;
    for (size_t i = 0; i < ndefs; i++)
        out->perms |= entry_perms(set_entry(defs[i], object));
    if (!(out->perms & RP_PERM_READ))
        return;
    /* Every field some granting set limits, at the most generous level among them. */
    for (size_t i = 0; i < ndefs; i++) {
        const json_t *e = set_entry(defs[i], object), *fv;
        const char *fname;
        if (!(entry_perms(e) & RP_PERM_READ))
            continue;
        json_object_foreach((json_t *)json_object_get(e, "fields"), fname, fv)
        {
            enum rp_field_access level = RP_FIELD_HIDDEN;
            bool seen = false;
            for (size_t k = 0; k < out->nfields; k++)
                seen = seen || strcmp(out->fields[k].name, fname) == 0;
            for (size_t j = 0; !seen && j < ndefs; j++) {
                const json_t *ej = set_entry(defs[j], object);
                const json_t *lj = json_object_get(json_object_get(ej, "fields"), fname);
                enum rp_field_access other = RP_FIELD_EDIT;
                if (!(entry_perms(ej) & RP_PERM_READ))
                    continue;
                if (lj)
                    field_level_parse(json_string_value(lj), &other);
                if (other > level)
                    level = other;
            }
            if (!seen && level < RP_FIELD_EDIT) {
                GROW(out->fields, out->nfields, cap, a);
                out->fields[out->nfields].name = rp_arena_strdup(a, fname);
                out->fields[out->nfields].level = level;
                out->nfields++;
            }
        }
    }
}

static void compile_user(struct rp_acl *acl, struct rp_access *acc, const struct set_doc *docs,
                         size_t ndocs, struct rp_arena *a)
{
    const json_t **defs = rp_arena_calloc(a, acc->nsets + 1, sizeof(*defs));
    const char **names = NULL;
    size_t ndefs = 0, nnames = 0, cap = 0, rcap = 0;

    for (size_t i = 0; i < acc->nsets; i++)
        for (size_t k = 0; k < ndocs; k++)
            if (docs[k].def && strcmp(docs[k].name, acc->set_names[i]) == 0)
                defs[ndefs++] = docs[k].def;
    for (size_t i = 0; i < ndefs; i++) {
        const json_t *v;
        const char *key;
        size_t k;
        json_array_foreach(json_object_get(defs[i], "system"), k, v)
        {
            for (unsigned b = 0; b < RP_SYS_COUNT; b++)
                if (json_is_string(v) && strcmp(json_string_value(v), system_names[b]) == 0)
                    acc->system |= 1u << b;
        }
        json_object_foreach((json_t *)json_object_get(defs[i], "objects"), key, v)
        {
            bool seen = strcmp(key, "*") == 0;
            for (size_t j = 0; !seen && j < nnames; j++)
                seen = strcmp(names[j], key) == 0;
            if (!seen) {
                GROW(names, nnames, cap, a);
                names[nnames++] = rp_arena_strdup(a, key);
            }
        }
    }
    acc->objects = rp_arena_calloc(a, nnames + 1, sizeof(*acc->objects));
    acc->nobjects = nnames + 1;
    for (size_t i = 0; i < nnames; i++)
        compile_object(a, defs, ndefs, names[i], &acc->objects[i]);
    compile_object(a, defs, ndefs, "*", &acc->objects[nnames]);
    for (size_t i = 0; i < acl->nrules; i++) {
        const struct rp_acl_rule *r = &acl->rules[i];
        int ri = rp_acl_role_index(acl, r->role);
        if (r->role && !(acc->role == ri && ri >= 0) &&
            !(r->subordinates && role_within(acl, acc->role, ri, false)))
            continue;
        GROW(acc->rules, acc->nrules, rcap, a);
        acc->rules[acc->nrules++] = r;
    }
}

/* Attributes: a flat JSON object of strings (numbers and booleans as their text). */
static void parse_attributes(struct rp_access *acc, struct rp_arena *a)
{
    json_t *j = acc->attributes ? rp_json_loads(acc->attributes, 0, NULL) : NULL;
    const char *key;
    json_t *v;
    size_t i = 0;

    if (!json_is_object(j)) {
        json_decref(j);
        return;
    }
    acc->attr_names = rp_arena_calloc(a, json_object_size(j) + 1, sizeof(char *));
    acc->attr_values = rp_arena_calloc(a, json_object_size(j) + 1, sizeof(char *));
    json_object_foreach(j, key, v)
    {
        if (json_is_string(v))
            acc->attr_values[i] = rp_arena_strdup(a, json_string_value(v));
        else if (json_is_integer(v))
            acc->attr_values[i] = rp_arena_sprintf(a, "%lld", (long long)json_integer_value(v));
        else if (json_is_boolean(v))
            acc->attr_values[i] = json_is_true(v) ? "true" : "false";
        else
            continue;
        acc->attr_names[i++] = rp_arena_strdup(a, key);
    }
    acc->nattrs = i;
    json_decref(j);
}

static int acl_load(struct rp_auth *a, int64_t version, struct rp_acl **out, struct rp_error *err)
{
    struct rp_acl *acl = rp_xcalloc(1, sizeof(*acl));
    struct load l = {.acl = acl, .a = &acl->arena};
    struct set_doc *docs;
    size_t p = 0;
    int rc;

    rp_arena_init(&acl->arena);
    atomic_init(&acl->refs, 1);
    pthread_mutex_init(&acl->cache_lock, NULL);
    acl->version = version;
    acl->clock = a->clock;
    acl->dialect = rp_store_dialect(a->store);
    if ((rc = load_query(a, &l,
                         "SELECT name, label, parent, export_rows_per_hour, export_block"
                         " FROM rp_role ORDER BY name",
                         role_row, err)) < 0 ||
        (rc = load_query(a, &l,
                         "SELECT name, label, definition FROM rp_permission_set ORDER BY name",
                         set_row, err)) < 0 ||
        (rc = load_query(a, &l, "SELECT id, role, attributes, active FROM rp_user ORDER BY id",
                         user_row, err)) < 0 ||
        (rc = load_query(a, &l,
                         "SELECT user_id, permission_set FROM rp_user_permission_set"
                         " ORDER BY user_id, permission_set",
                         pair_row, err)) < 0 ||
        (rc = load_query(a, &l, "SELECT object, default_access FROM rp_object_sharing", sharing_row,
                         err)) < 0 ||
        (rc = load_query(a, &l,
                         "SELECT name, object, criteria, role, subordinates, access"
                         " FROM rp_sharing_rule ORDER BY name",
                         rule_row, err)) < 0) {
        rp_acl_release(acl);
        return rc;
    }
    docs = rp_arena_calloc(&acl->arena, acl->nsets + 1, sizeof(*docs));
    for (size_t i = 0; i < acl->nsets; i++) {
        docs[i].name = acl->sets[i].name;
        docs[i].def = rp_json_loads(acl->sets[i].definition, 0, NULL);
        if (docs[i].def)
            rp_arena_defer(&acl->arena, (rp_arena_cleanup_fn)json_decref, docs[i].def);
        else
            rp_log_error("permission set \"%s\" holds unreadable JSON; it grants nothing",
                         acl->sets[i].name);
    }
    /* Users and pairs are both in user id order (ORDER BY id uses the same collation). */
    for (size_t u = 0; u < acl->nusers; u++) {
        struct rp_access *acc = &acl->users[u];
        acc->role = rp_acl_role_index(acl, acc->role_name);
        acc->set_names = rp_arena_calloc(&acl->arena, 1, sizeof(char *));
        while (p < l.npairs && strcmp(l.pairs[p].user, acc->user_id) < 0)
            p++;
        for (; p < l.npairs && strcmp(l.pairs[p].user, acc->user_id) == 0; p++) {
            size_t cap = acc->nsets; /* grows by one: sets per user are few */
            acc->set_names = rp_arena_realloc(&acl->arena, acc->set_names, cap * sizeof(char *),
                                              (cap + 1) * sizeof(char *));
            acc->set_names[acc->nsets++] = l.pairs[p].set;
        }
        parse_attributes(acc, &acl->arena);
    }
    link_roles(acl, &acl->arena);
    for (size_t u = 0; u < acl->nusers; u++)
        compile_user(acl, &acl->users[u], docs, acl->nsets, &acl->arena);
    *out = acl;
    return 0;
}

void rp_acl_release(struct rp_acl *acl)
{
    if (!acl || atomic_fetch_sub(&acl->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&acl->cache_lock);
    rp_arena_release(&acl->arena);
    free(acl);
}

static int read_version(struct rp_auth *a, int64_t *version, struct rp_error *err)
{
    struct rp_arena scratch;
    struct rp_sql q;
    int rc;

    *version = 0;
    rp_arena_init(&scratch);
    rp_auth_sql_init(a, &q, &scratch);
    rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = 'acl.version'");
    rc = rp_auth_read(a, &q, version_row, version, err);
    rp_arena_release(&scratch);
    return rc;
}

/* Builds the snapshot of the database's version and installs it unless a newer one is in. */
int rp_acl_reload(struct rp_auth *a, struct rp_error *err)
{
    struct rp_acl *next, *old = NULL;
    int64_t version;
    int rc;

    if ((rc = read_version(a, &version, err)) < 0 || (rc = acl_load(a, version, &next, err)) < 0)
        return rc;
    pthread_mutex_lock(&a->acl_lock);
    if (!a->acl || a->acl->version <= version) {
        old = a->acl;
        a->acl = next;
        next = NULL;
    }
    a->acl_checked_at = rp_auth_now(a);
    pthread_mutex_unlock(&a->acl_lock);
    rp_acl_release(old);
    rp_acl_release(next);
    return 0;
}

void rp_acl_invalidate(struct rp_auth *a)
{
    pthread_mutex_lock(&a->acl_lock);
    a->acl_stale = true;
    pthread_mutex_unlock(&a->acl_lock);
}

struct rp_acl *rp_acl_acquire(struct rp_auth *a, struct rp_error *err)
{
    struct rp_acl *acl;
    int64_t now = rp_auth_now(a), version = -1;
    bool check, stale;

    pthread_mutex_lock(&a->acl_lock);
    stale = a->acl_stale;
    check = stale || !a->acl || now - a->acl_checked_at >= ACL_CHECK_MS || now < a->acl_checked_at;
    if (check) {
        a->acl_checked_at = now; /* one thread checks; the others go on with what is in */
        a->acl_stale = false;
    }
    pthread_mutex_unlock(&a->acl_lock);
    if (check) {
        struct rp_error ignore;
        bool failed = false;
        rp_error_init(&ignore, NULL);
        if (read_version(a, &version, &ignore) < 0)
            failed = true;
        else if (!(a->acl && version == a->acl->version) && rp_acl_reload(a, err) < 0)
            failed = true;
        if (failed)
            rp_acl_invalidate(a);
        /* A snapshot known to be older than a committed change is not used: fail closed. */
        if (failed && (stale || !a->acl)) {
            rp_error_set(err, RP_EINTERNAL, "access control could not be loaded");
            return NULL;
        }
    }
    pthread_mutex_lock(&a->acl_lock);
    acl = a->acl;
    if (acl)
        atomic_fetch_add(&acl->refs, 1);
    pthread_mutex_unlock(&a->acl_lock);
    if (!acl)
        rp_error_set(err, RP_EINTERNAL, "access control is not loaded");
    return acl;
}

const struct rp_acl_object *rp_acl_object_entry(const struct rp_access *acc, const char *object)
{
    for (size_t i = 0; i + 1 < acc->nobjects; i++)
        if (strcmp(acc->objects[i].name, object) == 0)
            return &acc->objects[i];
    return &acc->objects[acc->nobjects - 1];
}

enum rp_sharing rp_acl_sharing(const struct rp_acl *acl, const struct rp_object *o)
{
    if (o->sharing == RP_SHARING_PARENT)
        return o->sharing;
    for (size_t i = 0; acl && i < acl->nsharing; i++)
        if (strcmp(acl->sharing_objects[i], o->name) == 0)
            return acl->sharing_levels[i];
    return o->sharing;
}

int rp_auth_principal_access(struct rp_auth *a, struct rp_principal *p, struct rp_arena *arena,
                             struct rp_error *err)
{
    struct rp_acl *acl = rp_acl_acquire(a, err);

    if (!acl)
        return err ? err->code : RP_EINTERNAL;
    rp_arena_defer(arena, (rp_arena_cleanup_fn)rp_acl_release, acl);
    p->access = rp_acl_user(acl, p->user_id);
    return 0;
}

int rp_acl_bump(struct rp_store_conn *c, const struct rp_auth *a, struct rp_arena *arena,
                struct rp_error *err)
{
    struct rp_sql q;
    int rc;

    rp_auth_sql_init(a, &q, arena);
    rp_sql_add(&q, "UPDATE rp_setting SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT)"
                   " WHERE key = 'acl.version'");
    rc = rp_store_exec(c, &q, NULL, err);
    /* Other processes reload at once instead of at their next check of acl.version. */
    return rc < 0 ? rc : rp_store_notify(c, RP_AUTH_NOTICE_ACL, NULL, err);
}
