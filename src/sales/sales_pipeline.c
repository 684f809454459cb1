/*
 * Pipelines (sales.h): stage definitions with probabilities and entry criteria, enforced by a
 * write hook, and the stage history of a record read from the change log.
 */
#include "sales/sales_int.h"
#include "base/json.h"

#include "base/arena.h"
#include "base/sql.h"
#include "base/uuid.h"
#include "expr/expr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STAGES   50
#define MAX_CRITERIA 20
#define DAY_MS       (INT64_C(86400) * 1000)

static const struct rp_field *picklist(const struct rp_object *o, const char *name)
{
    const struct rp_field *f = name ? rp_meta_field(o, name) : NULL;
    return f && f->type == RP_F_PICKLIST ? f : NULL;
}

static bool picklist_has(const struct rp_field *f, const char *value)
{
    for (size_t i = 0; value && i < f->nvalues; i++)
        if (strcmp(f->values[i].value, value) == 0)
            return true;
    return false;
}

/*
 * {"object": "opportunity", "field": "stage", "stages": [{"value": "proposal",
 *  "probability": 50, "forecast_category": "pipeline", "won"?: bool, "lost"?: bool,
 *  "entry_criteria": [{"condition": "pain_confirmed = true", "message": "..."}]}]}
 */
int rp_sales_pipeline_check(void *ctx, const struct rp_meta *m, const json_t *def,
                            struct rp_arena *arena, struct rp_error *err)
{
    static const char *const keys[] = {"object", "field", "stages", "description", NULL};
    static const char *const stage_keys[] = {
        "value", "probability", "forecast_category", "won", "lost", "entry_criteria", NULL};
    const char *object = json_string_value(json_object_get(def, "object"));
    const struct rp_object *o = object ? rp_meta_object(m, object) : NULL;
    const struct rp_field *f;
    const json_t *stages = json_object_get(def, "stages"), *st;
    size_t i;
    int rc;

    (void)ctx;
    if ((rc = rp_json_check_keys(def, keys, "a pipeline", NULL, err)) < 0)
        return rc;
    if (!o)
        return rp_error_field(err, RP_EVALIDATION, "object", "not_found",
                              "\"object\" must name an object");
    if (!(f = picklist(o, json_string_value(json_object_get(def, "field")))))
        return rp_error_field(err, RP_EVALIDATION, "field", "invalid",
                              "\"field\" must name a picklist field of %s", o->name);
    if (!json_is_array(stages) || json_array_size(stages) == 0 ||
        json_array_size(stages) > MAX_STAGES)
        return rp_error_field(err, RP_EVALIDATION, "stages", "invalid",
                              "\"stages\" must be an array of 1-%d stages", MAX_STAGES);
    json_array_foreach(stages, i, st)
    {
        const char *where = rp_arena_sprintf(arena, "stages[%zu]", i);
        const char *value = json_string_value(json_object_get(st, "value"));
        const json_t *p = json_object_get(st, "probability");
        const json_t *criteria = json_object_get(st, "entry_criteria"), *cr;
        size_t k;
        if (!json_is_object(st))
            return rp_error_field(err, RP_EVALIDATION, where, "invalid", "a stage is an object");
        if ((rc = rp_json_check_keys(st, stage_keys, "a stage", where, err)) < 0)
            return rc;
        if (!picklist_has(f, value))
            return rp_error_field(err, RP_EVALIDATION, where, "unknown_value",
                                  "\"value\" must be a value of %s.%s", o->name, f->name);
        for (k = 0; k < i; k++)
            if (strcmp(json_string_value(json_object_get(json_array_get(stages, k), "value")),
                       value) == 0)
                return rp_error_field(err, RP_EVALIDATION, where, "duplicate",
                                      "stage \"%s\" is defined twice", value);
        if (p && (!json_is_number(p) || json_number_value(p) < 0 || json_number_value(p) > 100))
            return rp_error_field(err, RP_EVALIDATION, where, "invalid_probability",
                                  "\"probability\" is a percentage from 0 to 100");
        if (json_is_true(json_object_get(st, "won")) && json_is_true(json_object_get(st, "lost")))
            return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                                  "a stage is won or lost, not both");
        if (criteria && (!json_is_array(criteria) || json_array_size(criteria) > MAX_CRITERIA))
            return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                                  "\"entry_criteria\" is an array of at most %d criteria",
                                  MAX_CRITERIA);
        json_array_foreach(criteria, k, cr)
        {
            const char *cond = json_string_value(json_object_get(cr, "condition"));
            const char *cwhere = rp_arena_sprintf(arena, "%s.entry_criteria[%zu]", where, k);
            struct rp_expr *e;
            struct rp_error sub;
            static const char *const ckeys[] = {"condition", "message", NULL};
            if (!json_is_object(cr) || !json_is_string(json_object_get(cr, "message")) ||
                rp_json_check_keys(cr, ckeys, "an entry criterion", cwhere, err) < 0)
                return err->code ? err->code
                                 : rp_error_field(err, RP_EVALIDATION, cwhere, "invalid",
                                                  "a criterion is {\"condition\", \"message\"}");
            rp_error_init(&sub, arena);
            if (!cond || rp_meta_parse_expr(m, o, cond, strlen(cond), 0, arena, &e, &sub) < 0 ||
                rp_expr_type(e) != RP_V_BOOL)
                return rp_error_field(err, RP_EVALIDATION, cwhere, "invalid_expression",
                                      "invalid condition: %s",
                                      sub.detail ? sub.detail : "it must be a condition");
        }
    }
    return 0;
}

/* The pipeline of an object (the first by name), or NULL. */
static json_t *pipeline_of(struct rp_store_conn *c, const char *object, struct rp_arena *arena,
                           struct rp_error *err, int *rc)
{
    struct rp_sql q;
    char *text = NULL;
    json_t *def = NULL;

    rp_sql_init(&q, arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT definition FROM rp_definition WHERE kind = '" RP_SALES_PIPELINES
                   "' AND object = ");
    rp_sql_param(&q, rp_value_cstr(object));
    rp_sql_add(&q, " ORDER BY name LIMIT 1");
    *rc = rp_store_query(c, &q, rp_sales_row_text, &text, err);
    if (*rc == 0 && text)
        def = rp_json_loads(text, 0, NULL);
    free(text);
    return def;
}

static const json_t *stage_of(const json_t *def, const char *value)
{
    size_t i;
    const json_t *st;

    json_array_foreach(json_object_get(def, "stages"), i, st)
    {
        if (value && strcmp(json_string_value(json_object_get(st, "value")), value) == 0)
            return st;
    }
    return NULL;
}

struct criteria_row {
    const json_t *criteria;
    const char *field;
    struct rp_error *err;
};

static int criteria_row_fn(void *ctx, const struct rp_value *cols, size_t n)
{
    struct criteria_row *x = ctx;

    for (size_t i = 0; i < n; i++)
        if (cols[i].type != RP_V_INT || cols[i].u.i == 0) /* false or null: not met */
            rp_error_field(
                x->err, RP_EVALIDATION, x->field, "entry_criteria", "%s",
                json_string_value(json_object_get(json_array_get(x->criteria, i), "message")));
    return 1;
}

/* The write hook: a record entering a stage must meet the stage's entry criteria. */
static int stage_gate(void *ctx, const struct rp_write_event *ev, struct rp_error *err)
{
    const char *field;
    const struct rp_field *f;
    const json_t *stage, *criteria, *cr;
    json_t *def;
    struct rp_sql q;
    size_t i;
    bool any;
    int rc;

    (void)ctx;
    if (ev->op != RP_WRITE_CREATE && ev->op != RP_WRITE_UPDATE)
        return 0;
    if ((rc = rp_records_definitions_exist(ev->rs, ev->c, RP_SALES_PIPELINES, ev->object->name,
                                           &any, err)) < 0 ||
        !any || !(def = pipeline_of(ev->c, ev->object->name, ev->arena, err, &rc)))
        return rc;
    field = json_string_value(json_object_get(def, "field"));
    f = picklist(ev->object, field);
    if (!f || !rp_write_event_changed(ev, field) || ev->values[f->index].type != RP_V_TEXT) {
        json_decref(def);
        return 0;
    }
    stage = stage_of(
        def, rp_arena_strndup(ev->arena, ev->values[f->index].u.s.p, ev->values[f->index].u.s.len));
    criteria = json_object_get(stage, "entry_criteria");
    if (json_array_size(criteria) == 0) {
        json_decref(def);
        return 0;
    }
    rp_sql_init(&q, ev->arena, rp_store_conn_dialect(ev->c));
    rp_sql_add(&q, "SELECT ");
    rc = 0;
    json_array_foreach(criteria, i, cr)
    {
        const char *cond = json_string_value(json_object_get(cr, "condition"));
        struct rp_expr *e;
        if ((rc = rp_meta_parse_expr(ev->meta, ev->object, cond, strlen(cond), ev->now, ev->arena,
                                     &e, err)) < 0)
            break;
        rp_sql_add(&q, i ? ", (" : "(");
        if ((rc = rp_expr_compile_sql(e, &q, err)) < 0)
            break;
        rp_sql_add(&q, ")");
    }
    if (rc == 0) {
        struct criteria_row x = {criteria, field, err};
        rp_sql_addf(&q, " FROM \"%s\" AS \"t\" WHERE \"t\".\"id\" = ", ev->object->name);
        rp_sql_param(&q, rp_value_cstr(ev->id));
        if ((rc = rp_store_query(ev->c, &q, criteria_row_fn, &x, err)) == 0 && err->code)
            rc = err->code;
    }
    json_decref(def);
    return rc;
}

void rp_sales_pipeline_register(struct rp_sales *s)
{
    rp_records_definition_kind_add(
        s->records, &(struct rp_definition_kind){.kind = RP_SALES_PIPELINES,
                                                 .noun = "pipeline",
                                                 .permission = RP_ACT_MANAGE_METADATA,
                                                 .readable = true,
                                                 .check = rp_sales_pipeline_check,
                                                 .ctx = s});
    rp_records_hook_add(s->records, &(struct rp_write_hook){.fn = stage_gate, .ctx = s});
}

/* ---- stage history ---- */

struct history {
    const char *field;
    json_t *data;
    json_t *current; /* the open entry */
    struct rp_arena *arena;
};

static json_t *datetime_json(struct rp_arena *arena, int64_t ms)
{
    struct rp_value t = rp_value_typed_int(RP_V_DATETIME, ms);
    struct rp_buf b;

    rp_buf_init(&b, arena, 64);
    rp_value_to_json(&b, &t);
    return rp_json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
}

static void close_entry(struct history *h, int64_t at)
{
    if (!h->current)
        return;
    json_object_set_new(h->current, "left_at", datetime_json(h->arena, at));
    json_object_set_new(
        h->current, "days",
        json_real((double)(at - json_integer_value(json_object_get(h->current, "_at"))) /
                  (double)DAY_MS));
    json_object_del(h->current, "_at");
    h->current = NULL;
}

static int history_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct history *h = ctx;
    json_t *changes, *pair, *stage;
    int64_t at;

    if (n < 3 || cols[2].type != RP_V_TEXT)
        return 0;
    at = cols[0].u.i;
    changes = rp_json_loadb(cols[2].u.s.p, cols[2].u.s.len, 0, NULL);
    pair = json_object_get(changes, h->field);
    stage = json_array_get(pair, 1);
    if (json_is_array(pair)) {
        close_entry(h, at);
        if (json_is_string(stage)) {
            h->current = json_pack(
                "{sOsosIso?}", "stage", stage, "entered_at", datetime_json(h->arena, at), "_at",
                (json_int_t)at, "by",
                cols[1].type == RP_V_TEXT ? json_stringn(cols[1].u.s.p, cols[1].u.s.len) : NULL);
            json_array_append_new(h->data, h->current);
        }
    }
    json_decref(changes);
    return 0;
}

int rp_sales_stage_history(struct rp_sales *s, const struct rp_principal *p, const char *object,
                           const char *id, struct rp_arena *arena, struct rp_buf *out,
                           struct rp_error *err)
{
    struct history h = {.data = json_array(), .arena = arena};
    struct rp_store_conn *c;
    struct rp_meta *m;
    const struct rp_object *o;
    const struct rp_field *f;
    struct rp_buf probe;
    struct rp_sql q;
    json_t *def = NULL;
    int64_t version;
    int rc;

    rp_buf_init(&probe, arena, 1 << 20);
    /* the caller must see the record (404 like a missing one otherwise) */
    if ((rc = rp_records_get(s->records, p, object, id, NULL, arena, &probe, &version, err)) < 0) {
        json_decref(h.data);
        return rc;
    }
    m = rp_meta_acquire(s->meta);
    o = rp_meta_object(m, object);
    c = rp_store_reader_acquire(s->store);
    def = pipeline_of(c, object, arena, err, &rc);
    h.field = def ? json_string_value(json_object_get(def, "field")) : NULL;
    f = o && h.field ? rp_meta_field(o, h.field) : NULL;
    if (rc == 0 && !f)
        rc = rp_error_set(err, RP_ENOTFOUND, "%s has no pipeline", object);
    else if (rc == 0 && rp_policy_field(p, o, f) == RP_FIELD_HIDDEN)
        rc = rp_error_set(err, RP_EFORBIDDEN, "the field \"%s\" is hidden from you", h.field);
    if (rc == 0) {
        rp_sql_init(&q, arena, RP_SQL_SQLITE);
        rp_sql_add(&q, "SELECT at, actor, changes FROM rp_change WHERE object = ");
        rp_sql_param(&q, rp_value_cstr(object));
        rp_sql_add(&q, " AND record_id = ");
        rp_sql_param(&q, rp_value_cstr(id));
        rp_sql_add(&q, " AND op IN ('create', 'update') ORDER BY seq");
        rc = rp_store_query(c, &q, history_row, &h, err);
    }
    rp_store_reader_release(s->store, c);
    if (rc == 0) {
        json_t *doc;
        char *text;
        if (h.current) { /* still there: the time so far */
            int64_t now = rp_clock_now_ms(s->clock);
            json_object_set_new(
                h.current, "days",
                json_real((double)(now - json_integer_value(json_object_get(h.current, "_at"))) /
                          (double)DAY_MS));
            json_object_set_new(h.current, "left_at", json_null());
            json_object_del(h.current, "_at");
        }
        doc = json_pack("{sO}", "data", h.data);
        text = rp_json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(6), err);
        if (text)
            rp_buf_adds(out, text);
        else
            rc = err->code;
        free(text);
        json_decref(doc);
    }
    json_decref(h.data);
    json_decref(def);
    rp_meta_release(m);
    return rc;
}
