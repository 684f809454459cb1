/*
 * The policy engine: the one place that decides what a principal may do.
 *
 * Three questions, asked by every path of the records module:
 * - may the principal do this action on this object at all (rp_policy_check: the union of
 *   the user's permission sets, plus system permissions such as view_audit or reveal);
 * - which records (rp_policy_row_sql: a SQL condition over the record's row, compiled from
 *   the org-wide default, ownership, the role hierarchy, record shares and teams, and the
 *   sharing rules whose criteria are expressions, with user.<attribute> bound as parameters);
 * - which fields (rp_policy_field: field-level security).
 * The internal "system" principal and administrators may do everything; a principal without
 * an access entry (a user created after the snapshot, or a deactivated one) may do nothing.
 */
#include "auth/auth.h"
#include "auth/auth_acl.h"
#include "auth/auth_int.h"
#include "base/log.h"

#include <stdio.h>
#include <string.h>

#define SYSTEM_USER_ID   "system"
#define PARENT_MAX_DEPTH 4

static const char *action_name(enum rp_policy_action action)
{
    switch (action) {
    case RP_ACT_READ:
        return "read";
    case RP_ACT_CREATE:
        return "create";
    case RP_ACT_EDIT:
        return "edit";
    case RP_ACT_DELETE:
        return "delete";
    case RP_ACT_EXPORT:
        return "export";
    case RP_ACT_MANAGE_METADATA:
        return "manage_metadata";
    case RP_ACT_MANAGE_USERS:
        return "manage_users";
    case RP_ACT_MANAGE_AUTOMATION:
        return "manage_automation";
    case RP_ACT_VIEW_AUDIT:
        return "view_audit";
    case RP_ACT_REVEAL:
        return "reveal";
    case RP_ACT_TRANSFER:
        return "transfer";
    case RP_ACT_PRIVACY:
        return "privacy";
    case RP_ACT_PUBLISH_EVENTS:
        return "publish_events";
    }
    return "unknown";
}

static bool is_system(const struct rp_principal *p)
{
    return strcmp(p->user_id, SYSTEM_USER_ID) == 0;
}

bool rp_policy_is_unrestricted(const struct rp_principal *p)
{
    return p && p->user_id && (p->is_admin || is_system(p));
}

static const struct rp_access *access_of(const struct rp_principal *p)
{
    return p && p->access && p->access->active ? p->access : NULL;
}

/* The object permissions of acc on object, with the data-wide system permissions folded in. */
static unsigned object_perms(const struct rp_access *acc, const char *object)
{
    unsigned perms = rp_acl_object_entry(acc, object)->perms;
    if (acc->system & RP_SYS(MODIFY_ALL_DATA))
        perms |=
            RP_PERM_READ | RP_PERM_VIEW_ALL | RP_PERM_EDIT | RP_PERM_DELETE | RP_PERM_MODIFY_ALL;
    if (acc->system & RP_SYS(VIEW_ALL_DATA))
        perms |= RP_PERM_READ | RP_PERM_VIEW_ALL;
    return perms;
}

static unsigned action_bit(enum rp_policy_action action, bool *system)
{
    *system = false;
    switch (action) {
    case RP_ACT_READ:
        return RP_PERM_READ;
    case RP_ACT_CREATE:
        return RP_PERM_CREATE;
    case RP_ACT_EDIT:
        return RP_PERM_EDIT;
    case RP_ACT_DELETE:
        return RP_PERM_DELETE;
    case RP_ACT_EXPORT:
        return RP_PERM_EXPORT;
    default:
        break;
    }
    *system = true;
    switch (action) {
    case RP_ACT_MANAGE_METADATA:
        return RP_SYS(MANAGE_METADATA);
    case RP_ACT_MANAGE_USERS:
        return RP_SYS(MANAGE_USERS);
    case RP_ACT_MANAGE_AUTOMATION:
        return RP_SYS(MANAGE_AUTOMATION);
    case RP_ACT_VIEW_AUDIT:
        return RP_SYS(VIEW_AUDIT);
    case RP_ACT_REVEAL:
        return RP_SYS(REVEAL);
    case RP_ACT_TRANSFER:
        return RP_SYS(TRANSFER);
    case RP_ACT_PRIVACY:
        return RP_SYS(PRIVACY);
    case RP_ACT_PUBLISH_EVENTS:
        return RP_SYS(PUBLISH_EVENTS);
    default:
        return 0; /* unknown actions are refused: deny by default */
    }
}

bool rp_policy_allows(const struct rp_principal *p, const char *object,
                      enum rp_policy_action action)
{
    const struct rp_access *acc;
    bool system;
    unsigned bit;

    if (!p || !p->user_id)
        return false;
    if (rp_policy_is_unrestricted(p))
        return true;
    if (!(acc = access_of(p)))
        return false;
    bit = action_bit(action, &system);
    if (system)
        return (acc->system & bit) != 0;
    return object && (object_perms(acc, object) & bit) == bit && bit != 0;
}

int rp_policy_check(const struct rp_principal *p, const char *object, enum rp_policy_action action,
                    struct rp_error *err)
{
    struct rp_error local;
    bool system;

    err = rp_auth_err_or(err, &local);
    if (!p || !p->user_id)
        return rp_error_set(err, RP_EUNAUTH, "authentication required");
    if (rp_policy_allows(p, object, action))
        return 0;
    action_bit(action, &system);
    if (system || !object)
        return rp_error_set(err, RP_EFORBIDDEN, "permission \"%s\" is required",
                            action_name(action));
    return rp_error_set(err, RP_EFORBIDDEN, "permission \"%s\" on object \"%s\" is required",
                        action_name(action), object);
}

static enum rp_field_access field_level(const struct rp_access *acc, const struct rp_object *o,
                                        const struct rp_field *f, int depth);

/* True if acc may read every record of o, whoever owns it. */
static bool reads_every_record(const struct rp_access *acc, const struct rp_object *o)
{
    unsigned perms = object_perms(acc, o->name);
    return (perms & RP_PERM_READ) &&
           ((perms & RP_PERM_VIEW_ALL) || rp_acl_sharing(acc->acl, o) == RP_SHARING_PUBLIC_READ ||
            rp_acl_sharing(acc->acl, o) == RP_SHARING_PUBLIC_READ_WRITE);
}

/*
 * A formula shows what it reads: it is readable only if every field on every path it reads
 * is, and a path through a reference only if the reader may read every record of the target
 * (formulas are computed without record-level checks on related records).
 */
static enum rp_field_access formula_level(const struct rp_access *acc, const struct rp_object *o,
                                          const struct rp_field *f, int depth)
{
    const char *const *paths;
    size_t n;

    if (!f->formula_expr || depth > 4)
        return RP_FIELD_HIDDEN;
    n = rp_expr_paths(f->formula_expr, &paths);
    for (size_t i = 0; i < n; i++) {
        const struct rp_object *cur = o;
        const char *s = paths[i];
        for (;;) {
            const char *dot = strchr(s, '.');
            size_t len = dot ? (size_t)(dot - s) : strlen(s);
            const struct rp_field *g = NULL;
            for (size_t k = 0; k < cur->nfields && !g; k++) {
                const char *name =
                    dot && cur->fields[k].relation ? cur->fields[k].relation : cur->fields[k].name;
                if (strlen(name) == len && memcmp(name, s, len) == 0)
                    g = &cur->fields[k];
            }
            if (!g || field_level(acc, cur, g, depth + 1) == RP_FIELD_HIDDEN)
                return RP_FIELD_HIDDEN;
            if (!dot)
                break;
            if (!g->target_object || !reads_every_record(acc, g->target_object))
                return RP_FIELD_HIDDEN;
            cur = g->target_object;
            s = dot + 1;
        }
    }
    return RP_FIELD_READ;
}

static enum rp_field_access field_level(const struct rp_access *acc, const struct rp_object *o,
                                        const struct rp_field *f, int depth)
{
    const struct rp_acl_object *e;

    if (!(object_perms(acc, o->name) & RP_PERM_READ))
        return RP_FIELD_HIDDEN;
    e = rp_acl_object_entry(acc, o->name);
    for (size_t i = 0; i < e->nfields; i++) {
        if (strcmp(e->fields[i].name, f->name) != 0)
            continue;
        /* A record's identity and bookkeeping are never hidden, only read-only. */
        if (f->system)
            return RP_FIELD_READ;
        return e->fields[i].level;
    }
    if (f->type == RP_F_FORMULA)
        return formula_level(acc, o, f, depth);
    return RP_FIELD_EDIT;
}

enum rp_field_access rp_policy_field(const struct rp_principal *p, const struct rp_object *o,
                                     const struct rp_field *f)
{
    const struct rp_access *acc;

    if (rp_policy_is_unrestricted(p))
        return RP_FIELD_EDIT;
    if (!(acc = access_of(p)))
        return RP_FIELD_HIDDEN;
    return field_level(acc, o, f, 0);
}

bool rp_policy_limits_fields(const struct rp_principal *p, const struct rp_object *o)
{
    const struct rp_access *acc;

    if (rp_policy_is_unrestricted(p))
        return false;
    if (!(acc = access_of(p)) || !(object_perms(acc, o->name) & RP_PERM_READ))
        return true;
    if (rp_acl_object_entry(acc, o->name)->nfields > 0)
        return true;
    for (size_t i = 0; i < o->nfields; i++)
        if (o->fields[i].type == RP_F_FORMULA)
            return true; /* formulas are limited by what they read */
    return false;
}

/* ---- record-level access ---- */

struct criteria_scope {
    const struct rp_access *acc;
    const struct rp_meta *m;
    const struct rp_object *o;
    struct rp_arena *a;
    struct rp_meta_scope inner; /* the row under its alias, without this hook */
};

/* user.<attribute> (and user.id, user.role) as parameters; record.<path> as the row's path. */
static int criteria_resolve(void *vctx, const char *path, struct rp_expr_field *out,
                            struct rp_error *err)
{
    struct criteria_scope *cs = vctx;
    const struct rp_access *acc = cs->acc;
    struct rp_value *v;
    const char *name;

    if (strncmp(path, "record.", 7) == 0)
        return rp_meta_resolve_field(cs->m, cs->o, &cs->inner, path + 7, cs->a, out, err);
    if (strncmp(path, "user.", 5) != 0)
        return 1;
    name = path + 5;
    v = rp_arena_alloc(cs->a, sizeof(*v));
    *v = rp_value_null();
    if (!acc) {
        /* checking a rule: any attribute name will do */
    } else if (strcmp(name, "id") == 0) {
        *v = rp_value_cstr(acc->user_id);
    } else if (strcmp(name, "role") == 0) {
        if (acc->role_name)
            *v = rp_value_cstr(acc->role_name);
    } else {
        for (size_t i = 0; i < acc->nattrs; i++)
            if (strcmp(acc->attr_names[i], name) == 0)
                *v = rp_value_cstr(acc->attr_values[i]);
    }
    out->type = RP_V_TEXT;
    out->multi = false;
    out->sql = "?";
    out->params = v;
    out->nparams = 1;
    return 0;
}

int rp_policy_parse_criteria(const struct rp_access *acc, const struct rp_meta *m,
                             const struct rp_object *o, const char *alias, const char *criteria,
                             int64_t now_ms, struct rp_arena *a, struct rp_expr **out,
                             struct rp_error *err)
{
    struct criteria_scope *cs = rp_arena_calloc(a, 1, sizeof(*cs));
    struct rp_meta_scope *scope = rp_arena_calloc(a, 1, sizeof(*scope));
    int rc;

    cs->acc = acc;
    cs->m = m;
    cs->o = o;
    cs->a = a;
    cs->inner.alias = alias;
    scope->alias = alias;
    scope->resolve = criteria_resolve;
    scope->ctx = cs;
    if ((rc = rp_meta_parse_expr_in(m, o, scope, criteria, strlen(criteria), now_ms, a, out, err)) <
        0)
        return rc;
    if (rp_expr_type(*out) != RP_V_BOOL)
        return rp_error_set(err, RP_EINVAL, "the expression must be a condition");
    return 0;
}

/*
 * Compiles rule r's criteria for acc over o's row under alias into a fragment in the
 * snapshot's arena, so later queries only splice it in: parsing per query was a measurable
 * part of a restricted read. Criteria reading today() or now() are compiled every time (the
 * clock is folded in at parse). Returns NULL when the criteria no longer compile.
 */
static const struct rp_acl_fragment *
criteria_fragment(const struct rp_access *acc, const struct rp_meta *m, const struct rp_object *o,
                  const struct rp_acl_rule *r, const char *alias, struct rp_arena *a)
{
    struct rp_acl *acl = (struct rp_acl *)acc->acl;
    bool cacheable = !strstr(r->criteria, "today(") && !strstr(r->criteria, "now(");
    struct rp_acl_fragment *hit = NULL, *f;
    struct rp_expr *e;
    struct rp_error err;
    struct rp_sql frag;

    pthread_mutex_lock(&acl->cache_lock);
    for (size_t i = 0; cacheable && i < acl->nfragments && !hit; i++) {
        f = &acl->fragments[i];
        if (f->acc == acc && f->rule == r && f->meta_generation == m->generation &&
            strcmp(f->alias, alias) == 0)
            hit = f;
    }
    pthread_mutex_unlock(&acl->cache_lock);
    if (hit)
        return hit;
    rp_error_init(&err, a);
    rp_sql_init_fragment(&frag, a, acl->dialect);
    if (rp_policy_parse_criteria(acc, m, o, alias, r->criteria, rp_clock_now_ms(acl->clock), a, &e,
                                 &err) < 0 ||
        rp_expr_compile_sql(e, &frag, &err) < 0 || rp_sql_error(&frag) < 0) {
        rp_log_warn("sharing rule \"%s\" no longer compiles: %s", r->name, err.detail);
        return NULL;
    }
    pthread_mutex_lock(&acl->cache_lock);
    if (cacheable && acl->nfragments < RP_ACL_FRAGMENTS) {
        /* Copied into the snapshot: text parameters too, as the parse arena dies with q. */
        f = &acl->fragments[acl->nfragments++];
        f->acc = acc;
        f->rule = r;
        f->alias = rp_arena_strdup(&acl->arena, alias);
        f->meta_generation = m->generation;
        f->sql = rp_arena_strdup(&acl->arena, frag.text.data);
        f->nparams = frag.nparams;
        f->params = rp_arena_calloc(&acl->arena, frag.nparams + 1, sizeof(*f->params));
        for (size_t i = 0; i < frag.nparams; i++) {
            f->params[i] = frag.params[i];
            if (f->params[i].type == RP_V_TEXT)
                f->params[i].u.s.p =
                    rp_arena_strndup(&acl->arena, frag.params[i].u.s.p, frag.params[i].u.s.len);
        }
        hit = f;
    }
    pthread_mutex_unlock(&acl->cache_lock);
    if (!hit) {
        /* Not cached: a fragment of this query's own. */
        f = rp_arena_calloc(a, 1, sizeof(*f));
        f->sql = frag.text.data;
        f->params = frag.params;
        f->nparams = frag.nparams;
        hit = f;
    }
    return hit;
}

/* Appends the criteria of rule r for acc over o's row under alias, or "0" if it no longer
 * compiles (a field it names was removed): a broken rule shares nothing. */
static void criteria_sql(const struct rp_access *acc, const struct rp_meta *m,
                         const struct rp_object *o, const struct rp_acl_rule *r, const char *alias,
                         struct rp_sql *q)
{
    const struct rp_acl_fragment *f = criteria_fragment(acc, m, o, r, alias, rp_sql_arena(q));

    if (!f) {
        rp_sql_add(q, "0");
        return;
    }
    rp_sql_add(q, "(");
    rp_sql_add_fragment(q, f->sql, f->params, f->nparams);
    rp_sql_add(q, ") IS TRUE");
}

static void row_sql(const struct rp_principal *p, const struct rp_meta *m,
                    const struct rp_object *o, const char *alias, enum rp_access_level level,
                    int depth, struct rp_sql *q)
{
    const struct rp_access *acc = access_of(p);
    enum rp_sharing owd;
    unsigned perms;
    char sub[64];

    if (rp_policy_is_unrestricted(p)) {
        rp_sql_add(q, "(1 = 1)");
        return;
    }
    if (!acc || !((perms = object_perms(acc, o->name)) & RP_PERM_READ) || level == RP_ACCESS_NONE) {
        rp_sql_add(q, "(1 = 0)");
        return;
    }
    if ((perms & RP_PERM_MODIFY_ALL) || (level == RP_ACCESS_READ && (perms & RP_PERM_VIEW_ALL))) {
        rp_sql_add(q, "(1 = 1)");
        return;
    }
    owd = rp_acl_sharing(acc->acl, o);
    if (owd == RP_SHARING_PARENT) {
        const struct rp_field *f = o->sharing_parent;
        if (depth >= PARENT_MAX_DEPTH || !f || !f->target_object) {
            rp_sql_add(q, "(1 = 0)");
            return;
        }
        /* Managing a child (deleting a quote line) is editing its parent. */
        snprintf(sub, sizeof(sub), "%s_p", alias);
        rp_sql_addf(
            q, "(EXISTS (SELECT 1 FROM \"%s\" AS \"%s\" WHERE \"%s\".\"id\" = \"%s\".\"%s\" AND ",
            f->target_object->name, sub, sub, alias, f->name);
        row_sql(p, m, f->target_object, sub, level == RP_ACCESS_FULL ? RP_ACCESS_EDIT : level,
                depth + 1, q);
        rp_sql_add(q, "))");
        return;
    }
    if ((level == RP_ACCESS_READ && owd >= RP_SHARING_PUBLIC_READ) ||
        (level == RP_ACCESS_EDIT && owd == RP_SHARING_PUBLIC_READ_WRITE)) {
        rp_sql_add(q, "(1 = 1)");
        return;
    }
    rp_sql_add(q, "(");
    if (o->owned) {
        const struct rp_acl_role *role = acc->role >= 0 ? &acc->acl->roles[acc->role] : NULL;
        rp_sql_addf(q, "\"%s\".\"owner_id\" IN (", alias);
        rp_sql_param(q, rp_value_cstr(acc->user_id));
        for (size_t i = 0; role && i < role->nbelow; i++) {
            rp_sql_add(q, ", ");
            rp_sql_param(q, rp_value_cstr(role->below[i]));
        }
        rp_sql_add(q, ")");
    } else {
        rp_sql_add(q, "0");
    }
    if (level <= RP_ACCESS_EDIT) {
        rp_sql_addf(q, " OR EXISTS (SELECT 1 FROM \"rp_record_share\" AS \"rp_s\" WHERE"
                       " \"rp_s\".\"object\" = ");
        rp_sql_param(q, rp_value_cstr(o->name));
        rp_sql_addf(
            q, " AND \"rp_s\".\"record_id\" = \"%s\".\"id\" AND \"rp_s\".\"user_id\" = ", alias);
        rp_sql_param(q, rp_value_cstr(acc->user_id));
        rp_sql_add(q, " AND \"rp_s\".\"access\" >= ");
        rp_sql_param(q, rp_value_int(level));
        rp_sql_add(q, ")");
        for (size_t i = 0; i < acc->nrules; i++) {
            const struct rp_acl_rule *r = acc->rules[i];
            if (strcmp(r->object, o->name) != 0 || r->access < level)
                continue;
            rp_sql_add(q, " OR ");
            criteria_sql(acc, m, o, r, alias, q);
        }
    }
    rp_sql_add(q, ")");
}

void rp_policy_row_sql(const struct rp_principal *p, const struct rp_meta *m,
                       const struct rp_object *o, const char *alias, enum rp_access_level level,
                       struct rp_sql *q)
{
    if (!p || !p->user_id) {
        rp_sql_add(q, "(1 = 0)");
        return;
    }
    row_sql(p, m, o, alias, level, 0, q);
}

/* ---- the scope of a caller's own expressions (filters) ---- */

struct caller_scope {
    const struct rp_principal *p;
    const struct rp_meta *m;
};

static bool scope_field_visible(void *vctx, const struct rp_object *o, const struct rp_field *f)
{
    const struct caller_scope *cs = vctx;
    return rp_policy_field(cs->p, o, f) != RP_FIELD_HIDDEN;
}

static void scope_rows(void *vctx, const struct rp_object *o, const char *alias, struct rp_sql *q)
{
    const struct caller_scope *cs = vctx;
    rp_sql_add(q, " AND ");
    rp_policy_row_sql(cs->p, cs->m, o, alias, RP_ACCESS_READ, q);
}

const struct rp_meta_scope *rp_policy_scope(const struct rp_principal *p, const struct rp_meta *m,
                                            struct rp_arena *arena)
{
    struct caller_scope *cs;
    struct rp_meta_scope *scope;

    if (rp_policy_is_unrestricted(p))
        return NULL;
    cs = rp_arena_alloc(arena, sizeof(*cs));
    cs->p = p;
    cs->m = m;
    scope = rp_arena_calloc(arena, 1, sizeof(*scope));
    scope->field_visible = scope_field_visible;
    scope->rows = scope_rows;
    scope->ctx = cs;
    return scope;
}

/* ---- limits and description ---- */

bool rp_policy_has_role(const struct rp_principal *p, const char *role)
{
    const struct rp_access *acc = access_of(p);
    return acc && acc->role_name && role && strcmp(acc->role_name, role) == 0;
}

bool rp_policy_manages(const struct rp_principal *p, const char *user_id)
{
    const struct rp_access *acc = access_of(p), *other;
    if (!acc || acc->role < 0 || !(other = rp_acl_user(acc->acl, user_id)) || other->role < 0)
        return false;
    return acc->acl->roles[other->role].parent_index == acc->role;
}

bool rp_policy_export_limit(const struct rp_principal *p, int64_t *rows_per_hour, bool *block)
{
    const struct rp_access *acc = access_of(p);
    const struct rp_acl_role *r;

    if (!acc || acc->role < 0)
        return false;
    r = &acc->acl->roles[acc->role];
    if (r->export_rows_per_hour < 0)
        return false;
    *rows_per_hour = r->export_rows_per_hour;
    *block = r->export_block;
    return true;
}

void rp_policy_describe(const struct rp_principal *p, const struct rp_meta *m, struct rp_buf *out)
{
    static const char *const perm_words[] = {"read",   "create",   "edit",      "delete",
                                             "export", "view_all", "modify_all"};
    const struct rp_access *acc = access_of(p);
    bool all = rp_policy_is_unrestricted(p), first = true;

    rp_buf_adds(out, "{\"role\":");
    if (acc && acc->role_name)
        rp_buf_add_json_str(out, acc->role_name, strlen(acc->role_name));
    else
        rp_buf_adds(out, "null");
    rp_buf_adds(out, ",\"permission_sets\":[");
    for (size_t i = 0; acc && i < acc->nsets; i++) {
        if (i)
            rp_buf_addc(out, ',');
        rp_buf_add_json_str(out, acc->set_names[i], strlen(acc->set_names[i]));
    }
    rp_buf_adds(out, "],\"system\":[");
    for (unsigned b = 0; b < RP_SYS_COUNT; b++) {
        if (!all && !(acc && (acc->system & (1u << b))))
            continue;
        rp_buf_addf(out, "%s\"%s\"", first ? "" : ",", rp_acl_system_name(b));
        first = false;
    }
    rp_buf_adds(out, "],\"objects\":{");
    for (size_t i = 0; i < m->nobjects; i++) {
        const struct rp_object *o = &m->objects[i];
        unsigned perms = all ? ~0u : acc ? object_perms(acc, o->name) : 0;
        bool firstp = true;
        rp_buf_addf(out, "%s\"%s\":[", i ? "," : "", o->name);
        for (size_t k = 0; k < sizeof(perm_words) / sizeof(perm_words[0]); k++) {
            if (!(perms & (1u << k)))
                continue;
            rp_buf_addf(out, "%s\"%s\"", firstp ? "" : ",", perm_words[k]);
            firstp = false;
        }
        rp_buf_addc(out, ']');
    }
    rp_buf_adds(out, "}}");
}
