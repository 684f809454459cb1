/*
 * The metadata loader: catalogue JSON and custom definitions in, one
 * immutable snapshot out. The loader is strict — unknown keys, bad names,
 * dangling references and rules that do not type-check are errors — because a
 * definition accepted here becomes a real column and index.
 */
#include "meta/meta.h"
#include "base/json.h"
#include "base/limits.h"
#include "base/str.h"
#include "base/time.h"
#include "expr/expr.h"

#include <math.h>

#define MAX_OBJECTS 1000
#define MAX_FIELDS  RP_LIMIT_FIELDS_PER_RECORD

extern const char rp_meta_catalogue_json[];

const char *rp_meta_catalogue(void)
{
    return rp_meta_catalogue_json;
}

static const char *const ftype_names[] = {
#define RP_FTYPE_NAME(name, str, vtype, sqltype) str,
    RP_FIELD_TYPES(RP_FTYPE_NAME)
#undef RP_FTYPE_NAME
};

static const enum rp_vtype ftype_vtypes[] = {
#define RP_FTYPE_VT(name, str, vtype, sqltype) vtype,
    RP_FIELD_TYPES(RP_FTYPE_VT)
#undef RP_FTYPE_VT
};

const char *rp_ftype_name(enum rp_ftype t)
{
    return ftype_names[t];
}

static bool ftype_parse(const char *s, enum rp_ftype *out)
{
    for (size_t i = 0; i < sizeof(ftype_names) / sizeof(ftype_names[0]); i++) {
        if (strcmp(s, ftype_names[i]) == 0 && i != RP_F_INTEGER) {
            *out = (enum rp_ftype)i;
            return true;
        }
    }
    return false;
}

static const char *const sharing_names[] = {"private", "public_read", "public_read_write",
                                            "parent"};

const char *rp_sharing_name(enum rp_sharing s)
{
    return sharing_names[s];
}

bool rp_sharing_parse(const char *s, enum rp_sharing *out)
{
    for (size_t i = 0; s && i < RP_SHARING_PARENT; i++) {
        if (strcmp(s, sharing_names[i]) == 0) {
            *out = (enum rp_sharing)i;
            return true;
        }
    }
    return false;
}

static const char *const system_names[] = {"id",         "version",    "created_at", "updated_at",
                                           "created_by", "updated_by", "owner_id",   "deleted_at"};

bool rp_meta_is_system_name(const char *name)
{
    for (size_t i = 0; i < sizeof(system_names) / sizeof(system_names[0]); i++)
        if (strcmp(name, system_names[i]) == 0)
            return true;
    return false;
}

/* Objects and fields grow while loading; the arrays are reallocated in the arena. */
struct build_object {
    struct rp_object o;
    const char *sharing_parent; /* field name, linked in link_snapshot */
    size_t cap;
    struct rp_rule *rules;
    size_t rcap;
};

/* A deleted custom object (field NULL) or field: its name is not defined again. */
struct tomb {
    const char *object, *field;
};

struct builder {
    struct rp_meta *m;
    struct rp_arena *a;
    struct build_object *objs;
    size_t nobjs, cap;
    struct tomb *tombs;
    size_t ntombs;
    struct rp_error *err;
    int64_t now_ms;
};

static struct build_object *find_obj(struct builder *b, const char *name)
{
    for (size_t i = 0; i < b->nobjs; i++)
        if (strcmp(b->objs[i].o.name, name) == 0)
            return &b->objs[i];
    return NULL;
}

static bool is_tomb(const struct builder *b, const char *object, const char *field)
{
    for (size_t i = 0; i < b->ntombs; i++)
        if (strcmp(b->tombs[i].object, object) == 0 &&
            (field ? b->tombs[i].field && strcmp(b->tombs[i].field, field) == 0
                   : !b->tombs[i].field))
            return true;
    return false;
}

static void add_tomb(struct builder *b, const char *object, const char *field)
{
    b->tombs = rp_arena_realloc(b->a, b->tombs, b->ntombs * sizeof(*b->tombs),
                                (b->ntombs + 1) * sizeof(*b->tombs));
    b->tombs[b->ntombs].object = rp_arena_strdup(b->a, object);
    b->tombs[b->ntombs].field = field ? rp_arena_strdup(b->a, field) : NULL;
    b->ntombs++;
}

static int check_keys(struct builder *b, const json_t *j, const char *const *allowed,
                      const char *what)
{
    const char *key;
    json_t *v;

    if (!json_is_object(j))
        return rp_error_set(b->err, RP_EINVAL, "%s must be a JSON object", what);
    json_object_foreach((json_t *)j, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i]; i++)
            if (strcmp(key, allowed[i]) == 0)
                ok = true;
        if (!ok)
            return rp_error_field(b->err, RP_EINVAL, key, "unknown_field",
                                  "unknown key \"%s\" in %s", key, what);
    }
    (void)v;
    return 0;
}

static int get_label(struct builder *b, const json_t *j, const char *key, const char *fallback,
                     struct rp_label *out, const char *what)
{
    const json_t *l = json_object_get(j, key);
    const json_t *en, *zh;

    out->en = out->zh = fallback;
    if (!l)
        return 0;
    en = json_object_get(l, "en");
    zh = json_object_get(l, "zh");
    if (!json_is_object(l) || (en && !json_is_string(en)) || (zh && !json_is_string(zh)) ||
        json_object_size(l) != (size_t)(!!en + !!zh))
        return rp_error_set(b->err, RP_EINVAL,
                            "%s of %s must be an object with string keys \"en\" and \"zh\"", key,
                            what);
    if (en)
        out->en = rp_arena_strdup(b->a, json_string_value(en));
    if (zh)
        out->zh = rp_arena_strdup(b->a, json_string_value(zh));
    if (!out->zh)
        out->zh = out->en;
    if (!out->en)
        out->en = out->zh;
    return 0;
}

static bool get_bool(const json_t *j, const char *key)
{
    return json_is_true(json_object_get(j, key));
}

static struct rp_field *add_field(struct builder *b, struct build_object *bo)
{
    struct rp_field *f;
    if (bo->o.nfields == bo->cap) {
        size_t ncap = bo->cap ? bo->cap * 2 : 32;
        bo->o.fields =
            rp_arena_realloc(b->a, bo->o.fields, bo->cap * sizeof(*f), ncap * sizeof(*f));
        bo->cap = ncap;
    }
    f = &bo->o.fields[bo->o.nfields];
    memset(f, 0, sizeof(*f));
    f->index = bo->o.nfields++;
    return f;
}

static void add_system_field(struct builder *b, struct build_object *bo, const char *name,
                             enum rp_ftype t, const char *en, const char *zh)
{
    struct rp_field *f = add_field(b, bo);
    f->name = name;
    f->type = t;
    f->vtype = ftype_vtypes[t];
    f->label.en = en;
    f->label.zh = zh;
    f->system = true;
    /* Lists filter and sort by owner and by time; who created or last changed a record is
     * looked up through the audit trail, so those two need no index of their own. */
    f->indexed = strcmp(name, "owner_id") == 0 || strcmp(name, "created_at") == 0 ||
                 strcmp(name, "updated_at") == 0;
}

static int check_name(struct builder *b, const json_t *j, const char *what, const char **out)
{
    const char *name = json_string_value(json_object_get(j, "name"));
    if (!name || !rp_str_is_api_name(name, strlen(name)) || strlen(name) > 40)
        return rp_error_field(
            b->err, RP_EINVAL, "name", "invalid",
            "%s name must be 1-40 characters of a-z, 0-9 and _, starting with a letter", what);
    if (strncmp(name, "rp_", 3) == 0)
        return rp_error_field(b->err, RP_EINVAL, "name", "reserved",
                              "%s name \"%s\" uses the reserved prefix \"rp_\"", what, name);
    *out = name;
    return 0;
}

static int load_default(struct builder *b, struct rp_field *f, const json_t *d, const char *what)
{
    struct rp_error sub;
    int rc;

    rp_error_init(&sub, b->a);
    rc = rp_meta_value_from_json(f, d, b->a, &f->default_value, &sub);
    if (rc < 0)
        return rp_error_set(b->err, RP_EINVAL, "default of %s is not valid: %s", what, sub.detail);
    f->has_default = f->default_value.type != RP_V_NULL;
    return 0;
}

static int load_picklist(struct builder *b, struct rp_field *f, const json_t *vals,
                         const char *what)
{
    static const char *const keys[] = {"value", "label", "active", NULL};
    struct rp_picklist_value *pv;
    size_t i;
    json_t *v;

    if (!json_is_array(vals) || json_array_size(vals) == 0 || json_array_size(vals) > 1000)
        return rp_error_set(b->err, RP_EINVAL, "%s needs \"values\": an array of 1-1000 values",
                            what);
    pv = rp_arena_calloc(b->a, json_array_size(vals), sizeof(*pv));
    json_array_foreach(vals, i, v)
    {
        const char *value = json_string_value(json_object_get(v, "value"));
        if (check_keys(b, v, keys, what) < 0)
            return b->err->code;
        if (!value || !*value || strlen(value) > 100)
            return rp_error_set(b->err, RP_EINVAL,
                                "%s: picklist value %zu needs a \"value\" of 1-100 characters",
                                what, i + 1);
        for (size_t k = 0; k < i; k++)
            if (strcmp(pv[k].value, value) == 0)
                return rp_error_set(b->err, RP_EINVAL, "%s: picklist value \"%s\" is repeated",
                                    what, value);
        pv[i].value = rp_arena_strdup(b->a, value);
        if (get_label(b, v, "label", pv[i].value, &pv[i].label, what) < 0)
            return b->err->code;
        if (json_object_get(v, "active") && !json_is_boolean(json_object_get(v, "active")))
            return rp_error_set(b->err, RP_EINVAL,
                                "%s: \"active\" of picklist value \"%s\" must be "
                                "true or false",
                                what, value);
        pv[i].inactive = json_is_false(json_object_get(v, "active"));
    }
    f->values = pv;
    f->nvalues = json_array_size(vals);
    return 0;
}

static int load_field(struct builder *b, struct build_object *bo, const json_t *j, bool custom)
{
    static const char *const keys[] = {"name",      "type",    "label",      "help",    "required",
                                       "unique",    "indexed", "max_length", "min",     "max",
                                       "default",   "values",  "target",     "formula", "result",
                                       "sensitive", NULL};
    const char *name, *type;
    struct rp_field *f;
    const json_t *v;
    char what[160];

    if (check_keys(b, j, keys, "field definition") < 0 || check_name(b, j, "field", &name) < 0)
        return b->err->code;
    snprintf(what, sizeof(what), "field \"%s\" of object \"%s\"", name, bo->o.name);
    if (rp_meta_is_system_name(name))
        return rp_error_field(b->err, RP_EINVAL, "name", "reserved",
                              "%s: \"%s\" is a system field name", what, name);
    for (size_t i = 0; i < bo->o.nfields; i++)
        if (strcmp(bo->o.fields[i].name, name) == 0)
            return rp_error_field(b->err, RP_ECONFLICT, "name", "exists", "%s already exists",
                                  what);
    if (is_tomb(b, bo->o.name, name))
        return rp_error_field(b->err, RP_ECONFLICT, "name", "deleted",
                              "%s was deleted; its column keeps its data, so choose another name",
                              what);
    if (bo->o.nfields >= MAX_FIELDS)
        return rp_error_set(b->err, RP_EINVAL, "object \"%s\" has the maximum of %d fields",
                            bo->o.name, MAX_FIELDS);
    f = add_field(b, bo);
    f->name = rp_arena_strdup(b->a, name);
    f->custom = custom;
    type = json_string_value(json_object_get(j, "type"));
    if (!type || !ftype_parse(type, &f->type))
        return rp_error_field(b->err, RP_EINVAL, "type", "invalid", "%s: unknown type \"%s\"", what,
                              type ? type : "");
    f->vtype = ftype_vtypes[f->type];
    if (get_label(b, j, "label", f->name, &f->label, what) < 0 ||
        get_label(b, j, "help", NULL, &f->help, what) < 0)
        return b->err->code;
    f->required = get_bool(j, "required");
    f->unique = get_bool(j, "unique");
    f->indexed = get_bool(j, "indexed") || f->unique || f->type == RP_F_REFERENCE;
    f->sensitive = get_bool(j, "sensitive");
    f->max_length = 255;
    if ((v = json_object_get(j, "max_length"))) {
        json_int_t n = json_integer_value(v);
        if (!json_is_integer(v) || n < 1 || n > RP_LIMIT_STRING_BYTES)
            return rp_error_set(b->err, RP_EINVAL, "%s: max_length must be 1-%d", what,
                                RP_LIMIT_STRING_BYTES);
        f->max_length = (unsigned)n;
    }
    if ((v = json_object_get(j, "min"))) {
        if (!json_is_number(v))
            return rp_error_set(b->err, RP_EINVAL, "%s: min must be a number", what);
        f->has_min = true;
        f->min = json_number_value(v);
    }
    if ((v = json_object_get(j, "max"))) {
        if (!json_is_number(v))
            return rp_error_set(b->err, RP_EINVAL, "%s: max must be a number", what);
        f->has_max = true;
        f->max = json_number_value(v);
    }
    if (f->type == RP_F_PICKLIST || f->type == RP_F_MULTI_PICKLIST) {
        if (load_picklist(b, f, json_object_get(j, "values"), what) < 0)
            return b->err->code;
    } else if (json_object_get(j, "values")) {
        return rp_error_set(b->err, RP_EINVAL, "%s: only picklists take \"values\"", what);
    }
    if (f->type == RP_F_REFERENCE) {
        const char *target = json_string_value(json_object_get(j, "target"));
        size_t n = strlen(f->name);
        if (!target)
            return rp_error_set(b->err, RP_EINVAL, "%s: a reference needs a \"target\" object",
                                what);
        if (n < 4 || strcmp(f->name + n - 3, "_id") != 0)
            return rp_error_set(b->err, RP_EINVAL, "%s: a reference field name must end in \"_id\"",
                                what);
        f->target = rp_arena_strdup(b->a, target);
        f->relation = rp_arena_strndup(b->a, f->name, n - 3);
    } else if (json_object_get(j, "target")) {
        return rp_error_set(b->err, RP_EINVAL, "%s: only references take a \"target\"", what);
    }
    if (f->type == RP_F_FORMULA) {
        const char *formula = json_string_value(json_object_get(j, "formula"));
        const char *result = json_string_value(json_object_get(j, "result"));
        enum rp_ftype rt;
        if (!formula || !result || !ftype_parse(result, &rt) || rt == RP_F_FORMULA)
            return rp_error_set(b->err, RP_EINVAL,
                                "%s: a formula needs \"formula\" and a \"result\" type", what);
        f->formula = rp_arena_strdup(b->a, formula);
        f->vtype = ftype_vtypes[rt];
        if (f->required || f->unique || json_object_get(j, "default"))
            return rp_error_set(b->err, RP_EINVAL,
                                "%s: a formula cannot be required, unique or have a default", what);
    } else if (json_object_get(j, "formula") || json_object_get(j, "result")) {
        return rp_error_set(b->err, RP_EINVAL, "%s: only formulas take \"formula\" and \"result\"",
                            what);
    }
    if ((v = json_object_get(j, "default")) && load_default(b, f, v, what) < 0)
        return b->err->code;
    return 0;
}

static int load_rule(struct builder *b, struct build_object *bo, const json_t *j)
{
    static const char *const keys[] = {"name", "check", "field", "message", NULL};
    const char *name, *check, *field;
    struct rp_rule *r;

    if (check_keys(b, j, keys, "rule") < 0 || check_name(b, j, "rule", &name) < 0)
        return b->err->code;
    check = json_string_value(json_object_get(j, "check"));
    field = json_string_value(json_object_get(j, "field"));
    if (!check)
        return rp_error_set(b->err, RP_EINVAL, "rule \"%s\" of object \"%s\" needs a \"check\"",
                            name, bo->o.name);
    if (bo->o.nrules == bo->rcap) {
        size_t ncap = bo->rcap ? bo->rcap * 2 : 8;
        bo->rules = rp_arena_realloc(b->a, bo->rules, bo->rcap * sizeof(*r), ncap * sizeof(*r));
        bo->rcap = ncap;
    }
    r = &bo->rules[bo->o.nrules++];
    memset(r, 0, sizeof(*r));
    r->name = rp_arena_strdup(b->a, name);
    r->check = rp_arena_strdup(b->a, check);
    r->field = field ? rp_arena_strdup(b->a, field) : NULL;
    bo->o.rules = bo->rules;
    return get_label(b, j, "message", r->check, &r->message, "rule");
}

/* "sharing" is an org-wide default or "parent" with "sharing_parent" naming a reference. */
static int load_sharing(struct builder *b, struct build_object *bo, const json_t *j,
                        const char *what)
{
    const json_t *v = json_object_get(j, "sharing");
    const char *s = json_string_value(v), *parent;

    bo->o.sharing = bo->o.custom ? RP_SHARING_PRIVATE : RP_SHARING_PUBLIC_READ_WRITE;
    parent = json_string_value(json_object_get(j, "sharing_parent"));
    if (s && strcmp(s, "parent") == 0 && parent) {
        bo->o.sharing = RP_SHARING_PARENT;
        bo->sharing_parent = rp_arena_strdup(b->a, parent);
        return 0;
    }
    if ((v && !rp_sharing_parse(s, &bo->o.sharing)) || (!v && parent) || (parent && s))
        return rp_error_field(
            b->err, RP_EINVAL, "sharing", "invalid",
            "%s: \"sharing\" must be \"private\", \"public_read\", \"public_read_write\" or "
            "\"parent\" with \"sharing_parent\" naming a required reference field",
            what);
    return 0;
}

static int load_object(struct builder *b, const json_t *j, bool custom)
{
    static const char *const keys[] = {"name",        "label",          "plural", "owned",
                                       "append_only", "search",         "fields", "rules",
                                       "sharing",     "sharing_parent", NULL};
    struct build_object *bo;
    const char *name;
    const json_t *fields, *rules, *search, *v;
    size_t i;
    char what[96];

    if (check_keys(b, j, keys, "object definition") < 0 || check_name(b, j, "object", &name) < 0)
        return b->err->code;
    snprintf(what, sizeof(what), "object \"%s\"", name);
    if (find_obj(b, name))
        return rp_error_field(b->err, RP_ECONFLICT, "name", "exists", "%s already exists", what);
    if (is_tomb(b, name, NULL))
        return rp_error_field(b->err, RP_ECONFLICT, "name", "deleted",
                              "%s was deleted; its table keeps its data, so choose another name",
                              what);
    if (b->nobjs >= MAX_OBJECTS)
        return rp_error_set(b->err, RP_EINVAL, "the maximum of %d objects is reached", MAX_OBJECTS);
    if (b->nobjs == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 32;
        b->objs = rp_xrealloc(b->objs, ncap * sizeof(*b->objs));
        b->cap = ncap;
    }
    bo = &b->objs[b->nobjs++];
    memset(bo, 0, sizeof(*bo));
    bo->o.name = rp_arena_strdup(b->a, name);
    bo->o.custom = custom;
    bo->o.owned = json_object_get(j, "owned") ? get_bool(j, "owned") : true;
    bo->o.append_only = get_bool(j, "append_only");
    if (load_sharing(b, bo, j, what) < 0)
        return b->err->code;
    if (get_label(b, j, "label", bo->o.name, &bo->o.label, what) < 0 ||
        get_label(b, j, "plural", bo->o.label.en, &bo->o.plural, what) < 0)
        return b->err->code;
    add_system_field(b, bo, "id", RP_F_TEXT, "ID", "ID");
    add_system_field(b, bo, "version", RP_F_INTEGER, "Version", "版本");
    add_system_field(b, bo, "created_at", RP_F_DATETIME, "Created at", "创建时间");
    add_system_field(b, bo, "updated_at", RP_F_DATETIME, "Updated at", "更新时间");
    add_system_field(b, bo, "created_by", RP_F_TEXT, "Created by", "创建人");
    add_system_field(b, bo, "updated_by", RP_F_TEXT, "Updated by", "更新人");
    if (bo->o.owned)
        add_system_field(b, bo, "owner_id", RP_F_TEXT, "Owner", "负责人");
    fields = json_object_get(j, "fields");
    if (fields && !json_is_array(fields))
        return rp_error_set(b->err, RP_EINVAL, "%s: \"fields\" must be an array", what);
    json_array_foreach(fields, i, v)
    {
        if (load_field(b, bo, v, custom) < 0)
            return b->err->code;
    }
    rules = json_object_get(j, "rules");
    json_array_foreach(rules, i, v)
    {
        if (load_rule(b, bo, v) < 0)
            return b->err->code;
    }
    search = json_object_get(j, "search");
    json_array_foreach(search, i, v)
    {
        const char *fname = json_string_value(v);
        struct rp_field *f = NULL;
        for (size_t k = 0; fname && k < bo->o.nfields; k++)
            if (strcmp(bo->o.fields[k].name, fname) == 0)
                f = &bo->o.fields[k];
        if (!f || f->system || f->vtype != RP_V_TEXT || f->type == RP_F_FORMULA)
            return rp_error_set(b->err, RP_EINVAL, "%s: search field \"%s\" is not a text field",
                                what, fname ? fname : "");
        if (!f->searchable) {
            f->searchable = true;
            bo->o.nsearch++;
        }
    }
    return 0;
}

/* The field a change or deletion names ({"field": name}); NULL with err set when none. */
static struct rp_field *named_field(struct builder *b, struct build_object *bo, const json_t *j)
{
    const char *name = json_string_value(json_object_get(j, "field"));

    for (size_t i = 0; name && i < bo->o.nfields; i++)
        if (strcmp(bo->o.fields[i].name, name) == 0)
            return &bo->o.fields[i];
    rp_error_set(b->err, RP_ENOTFOUND, "object \"%s\" has no field \"%s\"", bo->o.name,
                 name ? name : "");
    return NULL;
}

static int change_object(struct builder *b, struct build_object *bo, const json_t *j)
{
    static const char *const keys[] = {"label", "plural", NULL};
    char what[96];

    snprintf(what, sizeof(what), "object \"%s\"", bo->o.name);
    if (check_keys(b, j, keys, "object change") < 0)
        return b->err->code;
    if (json_object_get(j, "label") && get_label(b, j, "label", bo->o.name, &bo->o.label, what) < 0)
        return b->err->code;
    if (json_object_get(j, "plural") &&
        get_label(b, j, "plural", bo->o.label.en, &bo->o.plural, what) < 0)
        return b->err->code;
    return 0;
}

/* Labels, help and picklist values of any non-system field; a value is never removed (records
 * hold it), only deactivated. */
static int change_field(struct builder *b, struct build_object *bo, const json_t *j)
{
    static const char *const keys[] = {"field", "label", "help", "values", NULL};
    struct rp_field *f, old;
    const json_t *v;
    char what[160];

    if (check_keys(b, j, keys, "field change") < 0 || !(f = named_field(b, bo, j)))
        return b->err->code;
    snprintf(what, sizeof(what), "field \"%s\" of object \"%s\"", f->name, bo->o.name);
    if (f->system)
        return rp_error_set(b->err, RP_EINVAL, "%s is a system field", what);
    if (json_object_get(j, "label") && get_label(b, j, "label", f->name, &f->label, what) < 0)
        return b->err->code;
    if (json_object_get(j, "help") && get_label(b, j, "help", NULL, &f->help, what) < 0)
        return b->err->code;
    if (!(v = json_object_get(j, "values")))
        return 0;
    if (f->type != RP_F_PICKLIST && f->type != RP_F_MULTI_PICKLIST)
        return rp_error_field(b->err, RP_EINVAL, "values", "invalid",
                              "%s: only picklists take \"values\"", what);
    old = *f;
    if (load_picklist(b, f, v, what) < 0)
        return b->err->code;
    for (size_t i = 0; i < old.nvalues; i++)
        if (!rp_meta_picklist_value(f, old.values[i].value, strlen(old.values[i].value)))
            return rp_error_field(b->err, RP_EINVAL, "values", "removed",
                                  "%s: picklist value \"%s\" cannot be removed (records may "
                                  "hold it); deactivate it with \"active\": false",
                                  what, old.values[i].value);
    return 0;
}

static int delete_field(struct builder *b, struct build_object *bo, const json_t *j)
{
    static const char *const keys[] = {"field", NULL};
    struct rp_field *f;
    size_t at;

    if (check_keys(b, j, keys, "field deletion") < 0 || !(f = named_field(b, bo, j)))
        return b->err->code;
    if (!f->custom)
        return rp_error_set(b->err, RP_EINVAL,
                            "field \"%s\" of object \"%s\" is not a custom field", f->name,
                            bo->o.name);
    if (f->searchable)
        return rp_error_set(b->err, RP_EINVAL,
                            "field \"%s\" of object \"%s\" is in the full-text index", f->name,
                            bo->o.name);
    add_tomb(b, bo->o.name, f->name);
    at = f->index;
    memmove(&bo->o.fields[at], &bo->o.fields[at + 1],
            (bo->o.nfields - at - 1) * sizeof(*bo->o.fields));
    bo->o.nfields--;
    for (size_t i = at; i < bo->o.nfields; i++)
        bo->o.fields[i].index = i;
    return 0;
}

static int delete_object(struct builder *b, struct build_object *bo, const json_t *j)
{
    static const char *const keys[] = {NULL};
    size_t at = (size_t)(bo - b->objs);

    if (check_keys(b, j, keys, "object deletion") < 0)
        return b->err->code;
    if (!bo->o.custom)
        return rp_error_set(b->err, RP_EINVAL, "object \"%s\" is not a custom object", bo->o.name);
    add_tomb(b, bo->o.name, NULL);
    memmove(&b->objs[at], &b->objs[at + 1], (b->nobjs - at - 1) * sizeof(*b->objs));
    b->nobjs--;
    return 0;
}

static int apply_custom(struct builder *b, const struct rp_meta_custom_def *d)
{
    json_t *j = rp_json_loads(d->definition, JSON_REJECT_DUPLICATES, NULL);
    struct build_object *bo;

    if (!j)
        return rp_error_set(b->err, RP_EINVAL, "stored definition of \"%s\" is not JSON",
                            d->object);
    rp_arena_defer(b->a, (rp_arena_cleanup_fn)json_decref, j);
    if (strcmp(d->kind, "object") == 0)
        return load_object(b, j, true);
    bo = find_obj(b, d->object);
    if (!bo)
        return rp_error_set(b->err, RP_ENOTFOUND, "object \"%s\" does not exist", d->object);
    if (strcmp(d->kind, "field") == 0)
        return load_field(b, bo, j, true);
    if (strcmp(d->kind, "object_change") == 0)
        return change_object(b, bo, j);
    if (strcmp(d->kind, "field_change") == 0)
        return change_field(b, bo, j);
    if (strcmp(d->kind, "field_delete") == 0)
        return delete_field(b, bo, j);
    if (strcmp(d->kind, "object_delete") == 0)
        return delete_object(b, bo, j);
    return rp_error_set(b->err, RP_EINVAL, "unknown kind of definition \"%s\"", d->kind);
}

/* Second pass: everything that needs the whole snapshot (targets, expressions). */
static int link_snapshot(struct builder *b)
{
    struct rp_meta *m = b->m;
    struct rp_object *objs = rp_arena_calloc(b->a, b->nobjs, sizeof(*objs));

    for (size_t i = 0; i < b->nobjs; i++) {
        objs[i] = b->objs[i].o;
        objs[i].index = i;
    }
    m->objects = objs;
    m->nobjects = b->nobjs;
    for (size_t i = 0; i < m->nobjects; i++) {
        const struct rp_field *f;
        if (!b->objs[i].sharing_parent)
            continue;
        f = rp_meta_field(&objs[i], b->objs[i].sharing_parent);
        if (!f || f->type != RP_F_REFERENCE || !f->required)
            return rp_error_set(
                b->err, RP_EINVAL,
                "object \"%s\": \"sharing_parent\" must name a required reference field",
                objs[i].name);
        objs[i].sharing_parent = f;
    }
    for (size_t i = 0; i < m->nobjects; i++) {
        struct rp_object *o = &objs[i];
        for (size_t k = 0; k < o->nfields; k++) {
            struct rp_field *f = &o->fields[k];
            if (f->type != RP_F_REFERENCE)
                continue;
            f->target_object = rp_meta_object(m, f->target);
            if (!f->target_object)
                return rp_error_set(
                    b->err, RP_EINVAL,
                    "field \"%s\" of object \"%s\" references unknown object \"%s\"", f->name,
                    o->name, f->target);
        }
    }
    for (size_t i = 0; i < m->nobjects; i++) {
        struct rp_object *o = &objs[i];
        for (size_t k = 0; k < o->nfields; k++) {
            struct rp_field *f = &o->fields[k];
            struct rp_error sub;
            if (f->type != RP_F_FORMULA)
                continue;
            rp_error_init(&sub, b->a);
            if (rp_meta_parse_expr_in(m, o, &(struct rp_meta_scope){.no_formulas = true},
                                      f->formula, strlen(f->formula), b->now_ms, b->a,
                                      &f->formula_expr, &sub) < 0)
                return rp_error_set(b->err, RP_EINVAL,
                                    "formula of field \"%s\" of object \"%s\": %s", f->name,
                                    o->name, sub.detail);
            /* Numbers convert to the declared result: a money formula rounds to 1/10,000. */
            if (rp_expr_type(f->formula_expr) != f->vtype &&
                !((f->vtype == RP_V_NUM || f->vtype == RP_V_MONEY) &&
                  (rp_expr_type(f->formula_expr) == RP_V_INT ||
                   rp_expr_type(f->formula_expr) == RP_V_NUM ||
                   rp_expr_type(f->formula_expr) == RP_V_MONEY)))
                return rp_error_set(b->err, RP_EINVAL,
                                    "formula of field \"%s\" of object \"%s\" yields %s, not %s",
                                    f->name, o->name, rp_vtype_name(rp_expr_type(f->formula_expr)),
                                    rp_vtype_name(f->vtype));
        }
        for (size_t k = 0; k < o->nrules; k++) {
            struct rp_rule *r = (struct rp_rule *)&o->rules[k];
            struct rp_error sub;
            rp_error_init(&sub, b->a);
            if (r->field && !rp_meta_field(o, r->field))
                return rp_error_set(b->err, RP_EINVAL,
                                    "rule \"%s\" of object \"%s\" names unknown field \"%s\"",
                                    r->name, o->name, r->field);
            if (rp_meta_parse_expr(m, o, r->check, strlen(r->check), b->now_ms, b->a, &r->expr,
                                   &sub) < 0)
                return rp_error_set(b->err, RP_EINVAL, "rule \"%s\" of object \"%s\": %s", r->name,
                                    o->name, sub.detail);
            if (rp_expr_type(r->expr) != RP_V_BOOL)
                return rp_error_set(b->err, RP_EINVAL,
                                    "rule \"%s\" of object \"%s\" must be a condition", r->name,
                                    o->name);
        }
    }
    return 0;
}

int rp_meta_build(const char *catalogue_json, const struct rp_meta_custom_def *defs, size_t ndefs,
                  int64_t now_ms, struct rp_meta **out, struct rp_error *err)
{
    struct rp_meta *m = rp_xcalloc(1, sizeof(*m));
    struct builder b = {.m = m, .a = &m->_arena, .err = err, .now_ms = now_ms};
    json_error_t jerr;
    json_t *cat, *objects, *v;
    size_t i;
    int rc = RP_EINVAL;

    rp_arena_init(&m->_arena);
    m->_refs = 1;
    cat = rp_json_loads(catalogue_json, JSON_REJECT_DUPLICATES, &jerr);
    if (!cat) {
        rp_error_set(err, RP_EINVAL, "catalogue is not valid JSON: line %d: %s", jerr.line,
                     jerr.text);
        goto out;
    }
    rp_arena_defer(&m->_arena, (rp_arena_cleanup_fn)json_decref, cat);
    objects = json_object_get(cat, "objects");
    if (!json_is_array(objects)) {
        rp_error_set(err, RP_EINVAL, "catalogue needs an \"objects\" array");
        goto out;
    }
    json_array_foreach(objects, i, v)
    {
        if ((rc = load_object(&b, v, false)) < 0)
            goto out;
    }
    for (i = 0; i < ndefs; i++) {
        if ((rc = apply_custom(&b, &defs[i])) < 0)
            goto out;
    }
    rc = link_snapshot(&b);
out:
    free(b.objs);
    if (rc < 0) {
        rp_meta_release(m);
        return rc;
    }
    *out = m;
    return 0;
}
