/*
 * Rows: reading an object's columns, converting stored integers back to
 * money, dates, datetimes and booleans, computing formulas in memory and
 * writing a record as JSON (sensitive fields masked for callers who may not
 * reveal them: records_mask.c).
 */
#include "records/records_int.h"
#include "base/limits.h"
#include "expr/expr.h"

#include <math.h>

void rp_records_select_columns(const struct rp_object *o, struct rp_sql *q)
{
    /* On every read: plain appends, no formatting. */
    for (size_t i = 0; i < o->nfields; i++) {
        const struct rp_field *f = &o->fields[i];
        if (f->type == RP_F_FORMULA) {
            rp_sql_add(q, "NULL, ");
            continue;
        }
        rp_sql_add(q, "\"t\".\"");
        rp_sql_add(q, f->name);
        rp_sql_add(q, "\", ");
    }
    rp_sql_add(q, "\"t\".\"deleted_at\", \"t\".rowid");
}

struct rp_value rp_records_column_value(const struct rp_field *f, const struct rp_value *col,
                                        struct rp_arena *arena)
{
    switch (col->type) {
    case RP_V_NULL:
        return rp_value_null();
    case RP_V_INT:
        if (f->vtype == RP_V_BOOL)
            return rp_value_bool(col->u.i != 0);
        if (f->vtype == RP_V_NUM)
            return rp_value_num((double)col->u.i);
        return rp_value_typed_int(f->vtype == RP_V_TEXT ? RP_V_INT : f->vtype, col->u.i);
    case RP_V_NUM:
        return f->vtype == RP_V_NUM ? *col : rp_value_typed_int(f->vtype, (int64_t)col->u.d);
    case RP_V_TEXT:
        return rp_value_text(arena ? rp_arena_strndup(arena, col->u.s.p, col->u.s.len) : col->u.s.p,
                             col->u.s.len);
    default:
        return *col;
    }
}

void rp_records_decode_row(const struct rp_object *o, const struct rp_value *cols, size_t ncols,
                           struct rp_arena *arena, struct rp_row *row)
{
    row->object = o;
    row->values = rp_arena_calloc(arena, o->nfields, sizeof(*row->values));
    for (size_t i = 0; i < o->nfields && i < ncols; i++)
        row->values[i] = rp_records_column_value(&o->fields[i], &cols[i], arena);
    row->deleted_at =
        ncols > o->nfields && cols[o->nfields].type == RP_V_INT ? cols[o->nfields].u.i : 0;
    row->rowid = ncols > o->nfields + 1 && cols[o->nfields + 1].type == RP_V_INT
                     ? cols[o->nfields + 1].u.i
                     : 0;
}

struct fetch_ctx {
    const struct rp_object *o;
    struct rp_arena *arena;
    struct rp_row *row;
    bool found;
};

static int fetch_row(void *vctx, const struct rp_value *cols, size_t ncols)
{
    struct fetch_ctx *ctx = vctx;
    rp_records_decode_row(ctx->o, cols, ncols, ctx->arena, ctx->row);
    ctx->found = true;
    return 1;
}

int rp_records_fetch(struct rp_store_conn *c, const struct rp_meta *m, const struct rp_principal *p,
                     const struct rp_object *o, const char *id, struct rp_arena *arena,
                     struct rp_row *row, struct rp_error *err)
{
    struct fetch_ctx ctx = {.o = o, .arena = arena, .row = row};
    struct rp_sql q;
    int rc;

    rp_sql_init(&q, arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT ");
    rp_records_select_columns(o, &q);
    rp_sql_addf(&q, " FROM \"%s\" AS \"t\" WHERE \"t\".\"id\" = ", o->name);
    rp_sql_param(&q, rp_value_cstr(id));
    if (p) {
        rp_sql_add(&q, " AND ");
        rp_policy_row_sql(p, m, o, "t", RP_ACCESS_READ, &q);
    }
    rc = rp_store_query(c, &q, fetch_row, &ctx, err);
    if (rc < 0)
        return rc;
    if (!ctx.found)
        return rp_error_set(err, RP_ENOTFOUND, "%s \"%s\" not found", o->name, id);
    return 0;
}

int rp_records_check_access(struct rp_store_conn *c, const struct rp_meta *m,
                            const struct rp_principal *p, const struct rp_object *o, const char *id,
                            enum rp_access_level level, struct rp_arena *arena,
                            struct rp_error *err)
{
    struct rp_sql q;
    bool found = false;
    int rc;

    if (rp_policy_is_unrestricted(p))
        return 0;
    rp_sql_init(&q, arena, rp_store_conn_dialect(c));
    rp_sql_addf(&q, "SELECT 1 FROM \"%s\" AS \"t\" WHERE \"t\".\"id\" = ", o->name);
    rp_sql_param(&q, rp_value_cstr(id));
    rp_sql_add(&q, " AND ");
    rp_policy_row_sql(p, m, o, "t", level, &q);
    if ((rc = rp_store_query(c, &q, rp_store_row_exists, &found, err)) < 0)
        return rc;
    if (!found)
        return rp_error_set(err, RP_EFORBIDDEN, "you may read %s \"%s\" but not %s it", o->name, id,
                            level == RP_ACCESS_FULL ? "delete, restore or share" : "change");
    return 0;
}

struct formula_ctx {
    struct rp_store_conn *c;
    const struct rp_meta *m;
    const struct rp_row *row;
    struct rp_arena *arena;
};

struct one_value {
    const struct rp_field *f;
    struct rp_arena *arena;
    struct rp_value *out;
};

static int one_value_row(void *vctx, const struct rp_value *cols, size_t ncols)
{
    struct one_value *ov = vctx;
    if (ncols > 0)
        *ov->out = rp_records_column_value(ov->f, &cols[0], ov->arena);
    return 1;
}

static int formula_get(void *vctx, const char *path, struct rp_value *out)
{
    struct formula_ctx *ctx = vctx;
    const struct rp_object *o = ctx->row->object;
    const struct rp_field *f;
    const char *sql;
    struct rp_error err;
    struct rp_sql q;
    struct one_value ov;

    *out = rp_value_null();
    if (!strchr(path, '.')) {
        f = rp_meta_field(o, path);
        if (f)
            *out = ctx->row->values[f->index];
        return 0;
    }
    /* A dotted path: ask the store, through the same subquery the SQL compiler uses. */
    rp_error_init(&err, ctx->arena);
    if (!ctx->c || rp_meta_resolve_path(ctx->m, o, path, ctx->arena, &f, &sql, &err) < 0)
        return 0;
    rp_sql_init(&q, ctx->arena, rp_store_conn_dialect(ctx->c));
    rp_sql_addf(&q, "SELECT %s FROM \"%s\" AS \"t\" WHERE \"t\".\"id\" = ", sql, o->name);
    rp_sql_param(&q, ctx->row->values[0]);
    ov.f = f;
    ov.arena = ctx->arena;
    ov.out = out;
    return rp_store_query(ctx->c, &q, one_value_row, &ov, &err) < 0 ? err.code : 0;
}

/* A formula's value converted to the field's declared result type. */
static struct rp_value formula_result(const struct rp_field *f, struct rp_value v)
{
    if (f->vtype == RP_V_NUM && v.type == RP_V_INT)
        return rp_value_num((double)v.u.i);
    if (f->vtype == RP_V_NUM && v.type == RP_V_MONEY)
        return rp_value_num((double)v.u.i / RP_MONEY_SCALE);
    if (f->vtype == RP_V_MONEY && v.type == RP_V_NUM)
        return isfinite(v.u.d) && fabs(v.u.d) < 9e14
                   ? rp_value_typed_int(RP_V_MONEY, (int64_t)llround(v.u.d * RP_MONEY_SCALE))
                   : rp_value_null();
    if (f->vtype == RP_V_MONEY && v.type == RP_V_INT)
        return rp_value_typed_int(RP_V_MONEY, v.u.i * RP_MONEY_SCALE);
    return v;
}

void rp_records_compute_formulas(struct rp_store_conn *c, const struct rp_meta *m,
                                 struct rp_row *rows, size_t nrows, int64_t now_ms,
                                 struct rp_arena *arena)
{
    const struct rp_object *o;

    if (nrows == 0)
        return;
    o = rows[0].object;
    for (size_t i = 0; i < o->nfields; i++) {
        const struct rp_field *f = &o->fields[i];
        struct rp_error err;
        struct rp_expr *e;
        if (f->type != RP_F_FORMULA || !f->formula_expr)
            continue;
        rp_error_init(&err, arena);
        /* Parsed once per call with the reader's clock, so that today() in a formula is today. */
        if (rp_meta_parse_expr_in(m, o, &(struct rp_meta_scope){.no_formulas = true}, f->formula,
                                  strlen(f->formula), now_ms, arena, &e, &err) < 0)
            e = NULL;
        for (size_t r = 0; r < nrows; r++) {
            struct formula_ctx ctx = {.c = c, .m = m, .row = &rows[r], .arena = arena};
            struct rp_value v = rp_value_null();
            if (e && rp_expr_eval(e, formula_get, &ctx, arena, &v, &err) < 0)
                v = rp_value_null();
            rows[r].values[i] = formula_result(f, v);
        }
    }
}

int rp_records_parse_fields(const struct rp_principal *p, const struct rp_object *o,
                            const char *fields, struct rp_arena *arena, bool **selected,
                            struct rp_error *err)
{
    bool *sel;
    const char *s = fields;

    *selected = NULL;
    if (!fields)
        return 0;
    if (!*fields)
        return rp_error_field(err, RP_EINVAL, "fields", "invalid",
                              "parameter \"fields\" must name at least one field");
    sel = rp_arena_calloc(arena, o->nfields, sizeof(bool));
    sel[0] = true; /* id */
    while (*s) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        char name[RP_LIMIT_NAME_BYTES + 1];
        const struct rp_field *f;
        if (n == 0 || n > RP_LIMIT_NAME_BYTES)
            return rp_error_field(
                err, RP_EINVAL, "fields", "invalid",
                "parameter \"fields\" must be a comma-separated list of field names");
        memcpy(name, s, n);
        name[n] = '\0';
        f = rp_meta_field(o, name);
        if (f && !rp_records_field_visible(p, o, f))
            f = NULL;
        if (!f)
            return rp_error_field(err, RP_EINVAL, "fields", "unknown_field",
                                  "unknown field \"%s\" on object \"%s\"", name, o->name);
        sel[f->index] = true;
        s += n;
        if (*s == ',')
            s++;
    }
    *selected = sel;
    return 0;
}

void rp_records_row_json(const struct rp_row *row, const bool *selected,
                         const struct rp_principal *p, struct rp_arena *arena, struct rp_buf *out)
{
    const struct rp_object *o = row->object;
    bool first = true, limited = rp_policy_limits_fields(p, o);

    rp_buf_addc(out, '{');
    for (size_t i = 0; i < o->nfields; i++) {
        const struct rp_field *f = &o->fields[i];
        const struct rp_value *v = &row->values[i];
        if ((selected && !selected[i]) || (limited && !rp_records_field_visible(p, o, f)))
            continue;
        if (!first)
            rp_buf_addc(out, ',');
        first = false;
        rp_buf_addc(out, '"');
        rp_buf_adds(out, f->name);
        rp_buf_adds(out, "\":");
        if (rp_records_masked(p, f)) {
            struct rp_value masked;
            rp_records_mask_value(f, v, arena, &masked);
            rp_value_to_json(out, &masked);
        } else if (f->type == RP_F_MULTI_PICKLIST && v->type == RP_V_TEXT) {
            rp_buf_add(out, v->u.s.p, v->u.s.len); /* stored as a canonical JSON array */
        } else {
            rp_value_to_json(out, v);
        }
    }
    if (row->deleted_at) {
        rp_buf_adds(out, ",\"deleted_at\":");
        struct rp_value d = rp_value_typed_int(RP_V_DATETIME, row->deleted_at);
        rp_value_to_json(out, &d);
    }
    rp_buf_addc(out, '}');
}
