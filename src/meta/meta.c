/*
 * Metadata queries, value validation, expression resolution and the snapshot
 * registry. Validation is one function over the field type table, so a new
 * field type is a row in RP_FIELD_TYPES plus a case here.
 */
#include "meta/meta.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/limits.h"
#include "base/time.h"
#include "base/utf8.h"
#include "base/uuid.h"
#include "expr/expr.h"

#include <math.h>
#include <pthread.h>

const struct rp_object *rp_meta_object(const struct rp_meta *m, const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < m->nobjects; i++)
        if (strcmp(m->objects[i].name, name) == 0)
            return &m->objects[i];
    return NULL;
}

const struct rp_field *rp_meta_field(const struct rp_object *o, const char *name)
{
    if (!o || !name)
        return NULL;
    for (size_t i = 0; i < o->nfields; i++)
        if (strcmp(o->fields[i].name, name) == 0)
            return &o->fields[i];
    return NULL;
}

const struct rp_picklist_value *rp_meta_picklist_value(const struct rp_field *f, const char *v,
                                                       size_t n)
{
    for (size_t i = 0; i < f->nvalues; i++)
        if (strlen(f->values[i].value) == n && memcmp(f->values[i].value, v, n) == 0)
            return &f->values[i];
    return NULL;
}

/* ---- value validation ---- */

static bool email_is_valid(const char *s, size_t n)
{
    const char *at = memchr(s, '@', n);
    size_t local, domain;

    if (!at || n > 254 || memchr(at + 1, '@', n - (size_t)(at - s) - 1))
        return false;
    local = (size_t)(at - s);
    domain = n - local - 1;
    if (local == 0 || local > 64 || domain < 3 || !memchr(at + 1, '.', domain))
        return false;
    if (at[1] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == '<' || s[i] == '>' || s[i] == ',')
            return false;
    return true;
}

static bool phone_is_valid(const char *s, size_t n)
{
    size_t digits = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            digits++;
        else if (!(c == '+' && i == 0) && c != ' ' && c != '-' && c != '(' && c != ')' &&
                 c != '.' && c != 'x' && c != '#')
            return false;
    }
    return digits >= 3 && digits <= 20;
}

static bool url_is_valid(const char *s, size_t n)
{
    size_t skip;
    if (n > 2048)
        return false;
    if (n > 8 && strncmp(s, "https://", 8) == 0)
        skip = 8;
    else if (n > 7 && strncmp(s, "http://", 7) == 0)
        skip = 7;
    else
        return false;
    for (size_t i = skip; i < n; i++)
        if ((unsigned char)s[i] <= ' ')
            return false;
    return s[skip] != '/' && s[skip] != '?';
}

static int type_error(const struct rp_field *f, const char *want, struct rp_error *err)
{
    return rp_error_field(err, RP_EVALIDATION, f->name, "invalid_type", "field \"%s\" must be %s",
                          f->name, want);
}

static int check_range(const struct rp_field *f, double d, struct rp_error *err)
{
    if (f->has_min && d < f->min)
        return rp_error_field(err, RP_EVALIDATION, f->name, "out_of_range",
                              "field \"%s\" must be at least %g", f->name, f->min);
    if (f->has_max && d > f->max)
        return rp_error_field(err, RP_EVALIDATION, f->name, "out_of_range",
                              "field \"%s\" must be at most %g", f->name, f->max);
    return 0;
}

/* kept: a picklist value that was switched off is accepted (see rp_meta_value_from_json_kept) */
static int text_from_json(const struct rp_field *f, const json_t *j, bool kept, struct rp_arena *a,
                          struct rp_value *out, struct rp_error *err)
{
    const char *s;
    size_t n;

    if (!json_is_string(j))
        return type_error(f, "a string", err);
    s = json_string_value(j);
    n = json_string_length(j);
    if (memchr(s, '\0', n) || !rp_utf8_is_valid(s, n))
        return rp_error_field(err, RP_EVALIDATION, f->name, "invalid_text",
                              "field \"%s\" contains a NUL character or invalid UTF-8", f->name);
    if (rp_utf8_length(s, n) > f->max_length)
        return rp_error_field(err, RP_EVALIDATION, f->name, "too_long",
                              "field \"%s\" is longer than %u characters", f->name, f->max_length);
    switch (f->type) {
    case RP_F_EMAIL:
        if (!email_is_valid(s, n))
            return rp_error_field(err, RP_EVALIDATION, f->name, "invalid_email",
                                  "field \"%s\" is not a valid email address", f->name);
        break;
    case RP_F_PHONE:
        if (!phone_is_valid(s, n))
            return rp_error_field(err, RP_EVALIDATION, f->name, "invalid_phone",
                                  "field \"%s\" is not a valid phone number", f->name);
        break;
    case RP_F_URL:
        if (!url_is_valid(s, n))
            return rp_error_field(err, RP_EVALIDATION, f->name, "invalid_url",
                                  "field \"%s\" must be an http or https URL", f->name);
        break;
    case RP_F_PICKLIST: {
        const struct rp_picklist_value *pv = rp_meta_picklist_value(f, s, n);
        if (!pv || (pv->inactive && !kept))
            return rp_error_field(err, RP_EVALIDATION, f->name, "invalid_choice",
                                  "field \"%s\" has no %svalue \"%.*s\"", f->name,
                                  pv ? "active " : "", (int)(n > 100 ? 100 : n), s);
        break;
    }
    case RP_F_REFERENCE:
        if (!rp_uuid_is_valid(s, n))
            return rp_error_field(err, RP_EVALIDATION, f->name, "invalid_reference",
                                  "field \"%s\" must be the id of a %s record", f->name, f->target);
        break;
    default:
        break;
    }
    *out = rp_value_text(rp_arena_strndup(a, s, n), n);
    return 0;
}

static int multi_from_json(const struct rp_field *f, const json_t *j, bool kept, struct rp_arena *a,
                           struct rp_value *out, struct rp_error *err)
{
    struct rp_buf b;
    size_t i, k;
    json_t *v;

    if (!json_is_array(j) || json_array_size(j) > f->nvalues)
        return type_error(f, "an array of picklist values", err);
    /* Canonical form: values in picklist order, each once, so equal sets store equal text. */
    rp_buf_init(&b, a, RP_LIMIT_STRING_BYTES);
    rp_buf_addc(&b, '[');
    json_array_foreach(j, i, v)
    {
        const struct rp_picklist_value *pv =
            json_is_string(v)
                ? rp_meta_picklist_value(f, json_string_value(v), json_string_length(v))
                : NULL;
        if (!pv || (pv->inactive && !kept))
            return rp_error_field(err, RP_EVALIDATION, f->name, "invalid_choice",
                                  "field \"%s\" has no %svalue \"%s\"", f->name,
                                  pv ? "active " : "",
                                  json_is_string(v) ? json_string_value(v) : "(not a string)");
        for (k = 0; k < i; k++)
            if (json_equal(v, json_array_get(j, k)))
                return rp_error_field(err, RP_EVALIDATION, f->name, "duplicate",
                                      "field \"%s\" lists \"%s\" twice", f->name,
                                      json_string_value(v));
    }
    k = 0;
    for (i = 0; i < f->nvalues; i++) {
        json_array_foreach(j, k, v)
        {
            if (strcmp(json_string_value(v), f->values[i].value) == 0) {
                if (b.len > 1)
                    rp_buf_addc(&b, ',');
                rp_buf_add_json_str(&b, f->values[i].value, strlen(f->values[i].value));
            }
        }
    }
    rp_buf_addc(&b, ']');
    *out = rp_value_text(b.data, b.len);
    return 0;
}

static int value_from_json(const struct rp_field *f, const json_t *j, bool kept, struct rp_arena *a,
                           struct rp_value *out, struct rp_error *err)
{
    if (json_is_null(j)) {
        *out = rp_value_null();
        return 0;
    }
    switch (f->type) {
    case RP_F_TEXT:
    case RP_F_EMAIL:
    case RP_F_PHONE:
    case RP_F_URL:
    case RP_F_PICKLIST:
    case RP_F_REFERENCE:
        return text_from_json(f, j, kept, a, out, err);
    case RP_F_MULTI_PICKLIST:
        return multi_from_json(f, j, kept, a, out, err);
    case RP_F_NUMBER:
    case RP_F_PERCENT: {
        double d;
        if (!json_is_number(j))
            return type_error(f, "a number", err);
        d = json_number_value(j);
        if (!isfinite(d) || fabs(d) > 1e15)
            return rp_error_field(err, RP_EVALIDATION, f->name, "out_of_range",
                                  "field \"%s\" is out of range", f->name);
        *out = rp_value_num(d);
        return check_range(f, d, err);
    }
    case RP_F_MONEY: {
        int64_t units;
        if (json_is_integer(j)) {
            json_int_t n = json_integer_value(j);
            if (n > INT64_MAX / RP_MONEY_SCALE || n < INT64_MIN / RP_MONEY_SCALE)
                return rp_error_field(err, RP_EVALIDATION, f->name, "out_of_range",
                                      "field \"%s\" is out of range", f->name);
            units = (int64_t)n * RP_MONEY_SCALE;
        } else if (json_is_real(j)) {
            /* Binary doubles are exact to 4 decimals only below 2^53 / 10^4. */
            double d = json_real_value(j) * RP_MONEY_SCALE;
            if (!isfinite(d) || fabs(d) > 9e15)
                return rp_error_field(
                    err, RP_EVALIDATION, f->name, "out_of_range",
                    "field \"%s\" is too large for a JSON number; send it as a decimal string",
                    f->name);
            if (fabs(d - nearbyint(d)) > 1e-6 + fabs(d) * 1e-12)
                return rp_error_field(err, RP_EVALIDATION, f->name, "invalid_money",
                                      "field \"%s\" has more than 4 decimals", f->name);
            units = (int64_t)llround(d);
        } else if (json_is_string(j)) {
            int prc = rp_money_parse(json_string_value(j), json_string_length(j), &units);
            if (prc == RP_ETOOBIG)
                return rp_error_field(err, RP_EVALIDATION, f->name, "out_of_range",
                                      "field \"%s\" is out of range", f->name);
            if (prc < 0)
                return rp_error_field(
                    err, RP_EVALIDATION, f->name, "invalid_money",
                    "field \"%s\" must be a decimal amount with at most 4 decimals", f->name);
        } else {
            return type_error(f, "a decimal amount", err);
        }
        *out = rp_value_typed_int(RP_V_MONEY, units);
        return check_range(f, (double)units / RP_MONEY_SCALE, err);
    }
    case RP_F_DATE: {
        int64_t days;
        if (!json_is_string(j) ||
            rp_time_parse_date(json_string_value(j), json_string_length(j), &days) < 0)
            return type_error(f, "a date (YYYY-MM-DD)", err);
        *out = rp_value_typed_int(RP_V_DATE, days);
        return 0;
    }
    case RP_F_DATETIME: {
        int64_t ms;
        if (!json_is_string(j) ||
            rp_time_parse_datetime(json_string_value(j), json_string_length(j), &ms) < 0)
            return type_error(f, "an RFC 3339 timestamp (2026-11-22T08:00:00Z)", err);
        *out = rp_value_typed_int(RP_V_DATETIME, ms);
        return 0;
    }
    case RP_F_BOOL:
        if (!json_is_boolean(j))
            return type_error(f, "true or false", err);
        *out = rp_value_bool(json_is_true(j));
        return 0;
    case RP_F_INTEGER:
        if (!json_is_integer(j))
            return type_error(f, "an integer", err);
        *out = rp_value_int(json_integer_value(j));
        return 0;
    case RP_F_FORMULA:
        return rp_error_field(err, RP_EVALIDATION, f->name, "read_only",
                              "field \"%s\" is a formula and cannot be set", f->name);
    }
    return type_error(f, "a valid value", err);
}

int rp_meta_value_from_json(const struct rp_field *f, const json_t *j, struct rp_arena *a,
                            struct rp_value *out, struct rp_error *err)
{
    return value_from_json(f, j, false, a, out, err);
}

int rp_meta_value_from_json_kept(const struct rp_field *f, const json_t *j, struct rp_arena *a,
                                 struct rp_value *out, struct rp_error *err)
{
    return value_from_json(f, j, true, a, out, err);
}

static bool array_has(const json_t *array, const json_t *item)
{
    size_t i;
    const json_t *x;

    json_array_foreach(array, i, x)
    {
        if (json_equal(x, item))
            return true;
    }
    return false;
}

const char *rp_meta_inactive_choice(const struct rp_field *f, const struct rp_value *v,
                                    const struct rp_value *old)
{
    const struct rp_picklist_value *pv;
    json_t *now, *before, *x;
    const char *found = NULL;
    size_t i;

    if (v->type != RP_V_TEXT)
        return NULL;
    if (f->type == RP_F_PICKLIST) {
        pv = rp_meta_picklist_value(f, v->u.s.p, v->u.s.len);
        return pv && pv->inactive && !(old && rp_value_equal(old, v)) ? pv->value : NULL;
    }
    if (f->type != RP_F_MULTI_PICKLIST)
        return NULL;
    now = rp_json_loadb(v->u.s.p, v->u.s.len, 0, NULL);
    before =
        old && old->type == RP_V_TEXT ? rp_json_loadb(old->u.s.p, old->u.s.len, 0, NULL) : NULL;
    json_array_foreach(now, i, x)
    {
        pv = json_is_string(x)
                 ? rp_meta_picklist_value(f, json_string_value(x), json_string_length(x))
                 : NULL;
        if (pv && pv->inactive && !array_has(before, x)) {
            found = pv->value;
            break;
        }
    }
    json_decref(now);
    json_decref(before);
    return found;
}

/* ---- expressions ---- */

#define PATH_MAX_DEPTH 5

static const struct rp_meta_scope default_scope = {.alias = "t"};

/*
 * A formula field inside an expression: its own expression, compiled on the same row (alias),
 * converted to the field's declared result as the in-memory computation does (a money formula
 * rounds to 1/10,000; a number formula of money yields currency units).
 */
static int inline_formula(const struct rp_meta *m, const struct rp_object *o,
                          const struct rp_field *f, const char *alias,
                          const struct rp_meta_scope *sc, struct rp_sql *q, struct rp_error *err)
{
    struct rp_meta_scope inner = *sc;
    struct rp_expr *e;
    enum rp_vtype et;

    if (sc->no_formulas)
        return rp_error_set(err, RP_EINVAL,
                            "formula field \"%s\" cannot be used inside another formula", f->name);
    inner.alias = alias;
    inner.no_formulas = true;
    if (rp_meta_parse_expr_in(m, o, &inner, f->formula, strlen(f->formula), sc->now_ms,
                              rp_sql_arena(q), &e, err) < 0)
        return err->code;
    et = rp_expr_type(e);
    if (f->vtype == RP_V_MONEY && et != RP_V_MONEY)
        rp_sql_add(q, "CAST(ROUND((");
    else
        rp_sql_add(q, "((");
    if (rp_expr_compile_sql(e, q, err) < 0)
        return err->code;
    if (f->vtype == RP_V_MONEY && et != RP_V_MONEY)
        rp_sql_addf(q, ") * %d) AS BIGINT)", RP_MONEY_SCALE); /* INTEGER is 32-bit on PG */
    else if (f->vtype == RP_V_NUM && et == RP_V_MONEY)
        rp_sql_addf(q, ") / %d.0)", RP_MONEY_SCALE);
    else
        rp_sql_add(q, "))");
    return 0;
}

/*
 * Resolves the segments of path from o's row under alias into q (a fragment: "?" markers).
 * A dotted path becomes a scalar subquery into the referenced object, limited by the scope's
 * rows condition, under an alias that extends the outer one so nested subqueries never
 * shadow it.
 */
static int resolve_segments(const struct rp_meta *m, const struct rp_object *o, const char *path,
                            const char *alias, int depth, const struct rp_meta_scope *sc,
                            const struct rp_field **field, struct rp_sql *q, struct rp_error *err)
{
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    const struct rp_field *f = NULL;
    char sub[64];

    for (size_t i = 0; i < o->nfields; i++) {
        const struct rp_field *c = &o->fields[i];
        const char *name = dot && c->relation ? c->relation : c->name;
        if (strlen(name) == n && memcmp(name, path, n) == 0) {
            f = c;
            break;
        }
    }
    if (f && sc->field_visible && !sc->field_visible(sc->ctx, o, f))
        f = NULL;
    if (!f)
        return rp_error_set(err, RP_EINVAL, "unknown field \"%.*s\" on object \"%s\"", (int)n, path,
                            o->name);
    if (!dot) {
        *field = f;
        if (f->type == RP_F_FORMULA)
            return inline_formula(m, o, f, alias, sc, q, err);
        rp_sql_addf(q, "\"%s\".\"%s\"", alias, f->name);
        return 0;
    }
    if (f->type != RP_F_REFERENCE || !f->target_object)
        return rp_error_set(err, RP_EINVAL, "\"%.*s\" on object \"%s\" is not a reference", (int)n,
                            path, o->name);
    if (depth >= PATH_MAX_DEPTH)
        return rp_error_set(err, RP_EINVAL, "path \"%s\" is deeper than %d references", path,
                            PATH_MAX_DEPTH);
    snprintf(sub, sizeof(sub), "%s_%d", alias, depth + 1);
    rp_sql_add(q, "(SELECT ");
    if (resolve_segments(m, f->target_object, dot + 1, sub, depth + 1, sc, field, q, err) < 0)
        return err->code;
    rp_sql_addf(q, " FROM \"%s\" AS \"%s\" WHERE \"%s\".\"id\" = \"%s\".\"%s\"",
                f->target_object->name, sub, sub, alias, f->name);
    if (sc->rows)
        sc->rows(sc->ctx, f->target_object, sub, q);
    rp_sql_add(q, ")");
    return 0;
}

static int resolve_scoped(const struct rp_meta *m, const struct rp_object *o, const char *path,
                          const struct rp_meta_scope *sc, struct rp_arena *a,
                          const struct rp_field **field, struct rp_sql *q, struct rp_error *err)
{
    rp_sql_init(q, a, RP_SQL_FRAGMENT);
    if (resolve_segments(m, o, path, sc->alias ? sc->alias : "t", 0, sc, field, q, err) < 0)
        return err->code;
    if (rp_sql_error(q) < 0)
        return rp_error_set(err, RP_ETOOBIG, "path \"%s\" is too long", path);
    return 0;
}

int rp_meta_resolve_path(const struct rp_meta *m, const struct rp_object *o, const char *path,
                         struct rp_arena *a, const struct rp_field **field, const char **sql,
                         struct rp_error *err)
{
    struct rp_sql q;
    int rc = resolve_scoped(m, o, path, &default_scope, a, field, &q, err);

    if (rc < 0)
        return rc;
    *sql = q.text.data;
    return 0;
}

struct resolve_ctx {
    const struct rp_meta *m;
    const struct rp_object *o;
    struct rp_meta_scope scope; /* the caller's, with the parse's clock */
    struct rp_arena *a;
};

int rp_meta_resolve_field(const struct rp_meta *m, const struct rp_object *o,
                          const struct rp_meta_scope *scope, const char *path, struct rp_arena *a,
                          struct rp_expr_field *out, struct rp_error *err)
{
    const struct rp_field *f;
    struct rp_sql q;
    int rc;

    if ((rc = resolve_scoped(m, o, path, scope ? scope : &default_scope, a, &f, &q, err)) < 0)
        return rc;
    out->type = f->vtype == RP_V_INT ? RP_V_NUM : f->vtype;
    out->multi = f->type == RP_F_MULTI_PICKLIST;
    out->sql = q.text.data;
    out->params = q.params;
    out->nparams = q.nparams;
    return 0;
}

static int expr_resolve(void *vctx, const char *path, struct rp_expr_field *out,
                        struct rp_error *err)
{
    struct resolve_ctx *ctx = vctx;
    int rc;

    if (ctx->scope.resolve && (rc = ctx->scope.resolve(ctx->scope.ctx, path, out, err)) <= 0)
        return rc;
    return rp_meta_resolve_field(ctx->m, ctx->o, &ctx->scope, path, ctx->a, out, err);
}

int rp_meta_parse_expr_in(const struct rp_meta *m, const struct rp_object *o,
                          const struct rp_meta_scope *scope, const char *src, size_t len,
                          int64_t now_ms, struct rp_arena *arena, struct rp_expr **out,
                          struct rp_error *err)
{
    struct resolve_ctx *ctx = rp_arena_alloc(arena, sizeof(*ctx));
    struct rp_expr_env env = {.resolve = expr_resolve, .resolve_ctx = ctx, .now_ms = now_ms};

    ctx->m = m;
    ctx->o = o;
    ctx->scope = scope ? *scope : default_scope;
    ctx->scope.now_ms = now_ms;
    ctx->a = arena;
    return rp_expr_parse(arena, src, len, &env, out, err);
}

int rp_meta_parse_expr(const struct rp_meta *m, const struct rp_object *o, const char *src,
                       size_t len, int64_t now_ms, struct rp_arena *arena, struct rp_expr **out,
                       struct rp_error *err)
{
    return rp_meta_parse_expr_in(m, o, NULL, src, len, now_ms, arena, out, err);
}

/* ---- description ---- */

static void label_json(struct rp_buf *out, const char *key, const struct rp_label *l)
{
    rp_buf_addf(out, ",\"%s\":{\"en\":", key);
    rp_buf_add_json_str(out, l->en, strlen(l->en));
    rp_buf_adds(out, ",\"zh\":");
    rp_buf_add_json_str(out, l->zh, strlen(l->zh));
    rp_buf_addc(out, '}');
}

static void field_to_json(const struct rp_field *f, struct rp_buf *out)
{
    rp_buf_adds(out, "{\"name\":");
    rp_buf_add_json_str(out, f->name, strlen(f->name));
    rp_buf_addf(out, ",\"type\":\"%s\"", rp_ftype_name(f->type));
    label_json(out, "label", &f->label);
    if (f->help.en)
        label_json(out, "help", &f->help);
    rp_buf_addf(out, ",\"system\":%s,\"custom\":%s,\"required\":%s,\"unique\":%s",
                f->system ? "true" : "false", f->custom ? "true" : "false",
                f->required ? "true" : "false", f->unique ? "true" : "false");
    rp_buf_addf(out, ",\"indexed\":%s,\"sensitive\":%s,\"searchable\":%s",
                f->indexed ? "true" : "false", f->sensitive ? "true" : "false",
                f->searchable ? "true" : "false");
    if (f->vtype == RP_V_TEXT && f->type != RP_F_REFERENCE && !f->system)
        rp_buf_addf(out, ",\"max_length\":%u", f->max_length);
    if (f->has_min)
        rp_buf_addf(out, ",\"min\":%.17g", f->min);
    if (f->has_max)
        rp_buf_addf(out, ",\"max\":%.17g", f->max);
    if (f->has_default) {
        rp_buf_adds(out, ",\"default\":");
        rp_value_to_json(out, &f->default_value);
    }
    if (f->nvalues) {
        rp_buf_adds(out, ",\"values\":[");
        for (size_t i = 0; i < f->nvalues; i++) {
            rp_buf_adds(out, i ? ",{\"value\":" : "{\"value\":");
            rp_buf_add_json_str(out, f->values[i].value, strlen(f->values[i].value));
            label_json(out, "label", &f->values[i].label);
            if (f->values[i].inactive)
                rp_buf_adds(out, ",\"active\":false");
            rp_buf_addc(out, '}');
        }
        rp_buf_addc(out, ']');
    }
    if (f->target) {
        rp_buf_addf(out, ",\"target\":\"%s\",\"relation\":\"%s\"", f->target, f->relation);
    }
    if (f->formula) {
        rp_buf_adds(out, ",\"formula\":");
        rp_buf_add_json_str(out, f->formula, strlen(f->formula));
        rp_buf_addf(out, ",\"result\":\"%s\"", rp_vtype_name(f->vtype));
    }
    rp_buf_addc(out, '}');
}

void rp_meta_object_to_json(const struct rp_object *o, struct rp_buf *out)
{
    rp_buf_adds(out, "{\"name\":");
    rp_buf_add_json_str(out, o->name, strlen(o->name));
    label_json(out, "label", &o->label);
    label_json(out, "plural", &o->plural);
    rp_buf_addf(out, ",\"owned\":%s,\"custom\":%s,\"append_only\":%s,\"sharing\":\"%s\"",
                o->owned ? "true" : "false", o->custom ? "true" : "false",
                o->append_only ? "true" : "false", rp_sharing_name(o->sharing));
    if (o->sharing_parent)
        rp_buf_addf(out, ",\"sharing_parent\":\"%s\"", o->sharing_parent->name);
    rp_buf_adds(out, ",\"fields\":[");
    for (size_t i = 0; i < o->nfields; i++) {
        if (i)
            rp_buf_addc(out, ',');
        field_to_json(&o->fields[i], out);
    }
    rp_buf_adds(out, "],\"rules\":[");
    for (size_t i = 0; i < o->nrules; i++) {
        const struct rp_rule *r = &o->rules[i];
        rp_buf_adds(out, i ? ",{\"name\":" : "{\"name\":");
        rp_buf_add_json_str(out, r->name, strlen(r->name));
        rp_buf_adds(out, ",\"check\":");
        rp_buf_add_json_str(out, r->check, strlen(r->check));
        if (r->field)
            rp_buf_addf(out, ",\"field\":\"%s\"", r->field);
        label_json(out, "message", &r->message);
        rp_buf_addc(out, '}');
    }
    rp_buf_adds(out, "]}");
}

/* ---- registry ---- */

struct rp_meta_registry {
    pthread_mutex_t lock;
    struct rp_meta *current;
    uint64_t generation;
};

struct rp_meta_registry *rp_meta_registry_new(struct rp_meta *initial)
{
    struct rp_meta_registry *r = rp_xcalloc(1, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    r->current = initial;
    initial->generation = ++r->generation;
    return r;
}

void rp_meta_registry_free(struct rp_meta_registry *r)
{
    if (!r)
        return;
    rp_meta_release(r->current);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

struct rp_meta *rp_meta_acquire(struct rp_meta_registry *r)
{
    struct rp_meta *m;
    pthread_mutex_lock(&r->lock);
    m = r->current;
    __atomic_add_fetch(&m->_refs, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&r->lock);
    return m;
}

void rp_meta_release(struct rp_meta *m)
{
    if (!m)
        return;
    if (__atomic_sub_fetch(&m->_refs, 1, __ATOMIC_ACQ_REL) == 0) {
        rp_arena_release(&m->_arena);
        free(m);
    }
}

void rp_meta_registry_swap(struct rp_meta_registry *r, struct rp_meta *next)
{
    struct rp_meta *old;
    pthread_mutex_lock(&r->lock);
    old = r->current;
    next->generation = ++r->generation;
    r->current = next;
    pthread_mutex_unlock(&r->lock);
    rp_meta_release(old);
}
