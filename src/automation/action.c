/*
 * The actions of automation rules (automation_int.h): each kind is a check against the metadata,
 * run when a rule is saved, and a run, performed by the rule's job. Values shared by the kinds
 * are resolved and written here.
 */
#include "automation/automation_int.h"
#include "base/json.h"
#include "base/arena.h"
#include "base/sql.h"
#include "base/str.h"
#include "expr/expr.h"

#include <stdio.h>
#include <string.h>

/* A value of an action: a JSON literal, {"expr": "..."} on the triggering record, or
   {"event": "name"} from the incoming event's data. */
static const char *value_expr(const json_t *v)
{
    return json_is_object(v) ? json_string_value(json_object_get(v, "expr")) : NULL;
}

static const char *value_event(const json_t *v)
{
    return json_is_object(v) ? json_string_value(json_object_get(v, "event")) : NULL;
}

int rp_action_check_values(const struct rp_action_check *c, const struct rp_object *dst,
                           const json_t *values, struct rp_error *err)
{
    const struct rp_meta *m = c->meta;
    const struct rp_object *src = c->record;
    const char *where = c->where;
    struct rp_arena *a = c->arena;
    const char *key;
    json_t *v;

    if (!json_is_object(values) || json_object_size(values) == 0)
        return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                              "\"values\" must map field names to values");
    json_object_foreach((json_t *)values, key, v)
    {
        const struct rp_field *f = dst ? rp_meta_field(dst, key) : NULL;
        const char *e = value_expr(v);
        if (!dst && !rp_str_is_name(key))
            return rp_error_field(err, RP_EVALIDATION, where, "invalid_name",
                                  "\"%s\" is not a name (a-z, 0-9 and '_', starting with a letter)",
                                  key);
        if (dst && (!f || (f->system && strcmp(key, "owner_id") != 0) || f->type == RP_F_FORMULA))
            return rp_error_field(err, RP_EVALIDATION, where, "unknown_field",
                                  "\"%s\" is not a field of %s that can be set", key, dst->name);
        if (value_event(v)) {
            if (!c->event)
                return rp_error_field(err, RP_EVALIDATION, where, "no_event",
                                      "value of \"%s\": only an event trigger has event data", key);
        } else if (e) {
            struct rp_expr *x;
            struct rp_error sub;
            rp_error_init(&sub, a);
            if (!src)
                return rp_error_field(err, RP_EVALIDATION, where, "no_record",
                                      "a scheduled rule has no record to evaluate \"%s\" on", e);
            if (rp_meta_parse_expr(m, src, e, strlen(e), 0, a, &x, &sub) < 0)
                return rp_error_field(err, RP_EVALIDATION, where, "invalid_expression",
                                      "value of \"%s\": %s", key, sub.detail);
        } else if (dst && strcmp(key, "owner_id") != 0) {
            struct rp_value out;
            struct rp_error sub;
            rp_error_init(&sub, a);
            if (rp_meta_value_from_json(f, v, a, &out, &sub) < 0)
                return rp_error_field(err, RP_EVALIDATION, where, "invalid_value",
                                      "value of \"%s\": %s", key, sub.detail);
        }
    }
    return 0;
}

/* Checks a parsed rule against the metadata. */

struct expr_value {
    const char *key;
    struct rp_expr *e;
};

struct expr_row {
    const struct expr_value *exprs;
    size_t n;
    json_t *data;
    struct rp_arena *arena;
    bool found;
};

/* Converts the computed values, typed by their expressions, into JSON values of data. */
static int expr_row_fn(void *ctx, const struct rp_value *cols, size_t ncols)
{
    struct expr_row *x = ctx;

    x->found = true;
    for (size_t i = 0; i < x->n && i < ncols; i++) {
        enum rp_vtype t = rp_expr_type(x->exprs[i].e);
        struct rp_value v = cols[i];
        struct rp_buf b;
        json_t *j;
        if (v.type == RP_V_INT && t != RP_V_NUM)
            v = t == RP_V_BOOL ? rp_value_bool(v.u.i != 0) : rp_value_typed_int(t, v.u.i);
        rp_buf_init(&b, x->arena, 512);
        if (v.type == RP_V_TEXT) {
            j = json_stringn(v.u.s.p, v.u.s.len);
        } else {
            rp_value_to_json(&b, &v);
            j = rp_buf_error(&b) ? json_null()
                                 : rp_json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
        }
        json_object_set_new(x->data, x->exprs[i].key, j ? j : json_null());
    }
    return 1;
}

/* Writes the values of an action as JSON: literals as given, {"expr"} evaluated on the record. */
int rp_action_resolve_values(const struct rp_action_run *x, const struct rp_object *src,
                             const json_t *values, json_t *data, struct rp_error *err)
{
    struct rp_automation *a = x->a;
    const char *record_id = x->record_id;
    struct rp_arena *arena = x->arena;
    struct expr_value exprs[64];
    struct expr_row row = {.exprs = exprs, .data = data, .arena = arena};
    struct rp_store_conn *c;
    const char *key;
    json_t *v;
    struct rp_sql q;
    int rc;

    json_object_foreach((json_t *)values, key, v)
    {
        const char *e = value_expr(v), *ev = value_event(v);
        if (ev) {
            json_t *from = json_object_get(x->event, ev);
            json_object_set(data, key, from ? from : json_null());
            continue;
        }
        if (!e) {
            json_object_set(data, key, v);
            continue;
        }
        if (row.n == 64 || !src || !record_id)
            return rp_error_set(err, RP_EINVAL, "an action has too many expression values");
        exprs[row.n].key = key;
        if (rp_meta_parse_expr(x->meta, src, e, strlen(e), rp_clock_now_ms(a->clock), arena,
                               &exprs[row.n].e, err) < 0)
            return RP_EINVAL;
        row.n++;
    }
    if (row.n == 0)
        return 0;
    rp_sql_init(&q, arena, rp_store_dialect(a->store));
    rp_sql_add(&q, "SELECT ");
    for (size_t i = 0; i < row.n; i++) {
        rp_sql_add(&q, i ? ", (" : "(");
        if (rp_expr_compile_sql(exprs[i].e, &q, err) < 0)
            return RP_EINVAL;
        rp_sql_add(&q, ")");
    }
    rp_sql_addf(&q, " FROM \"%s\" AS \"t\" WHERE \"t\".\"id\" = ", src->name);
    rp_sql_param(&q, rp_value_cstr(record_id));
    c = rp_store_reader_acquire(a->store);
    rc = rp_store_query(c, &q, expr_row_fn, &row, err);
    rp_store_reader_release(a->store, c);
    if (rc == 0 && !row.found)
        rc = rp_error_set(err, RP_EINVAL, "the record is gone");
    return rc;
}

/* One write through the records path as the automation principal, idempotent per job action. */
int rp_action_write(const struct rp_action_run *x, const char *object, enum rp_write_op op,
                    const char *id, json_t *data, struct rp_error *err)
{
    struct rp_automation *a = x->a;
    struct rp_arena *arena = x->arena;
    const struct rp_job *job = x->job;
    size_t action = x->index;
    const char *cause = x->cause;
    struct rp_write w = {.op = op, .id = id, .data = data, .if_match = -1};
    char *fp = rp_arena_sprintf(arena, "%s:%zu", job->id, action);
    /* The write path's errors live in the job's arena; err outlives it, so they are copied. */
    struct rp_error werr;
    struct rp_write_request wr = {.principal = &a->actor,
                                  .object = object,
                                  .writes = &w,
                                  .nwrites = 1,
                                  .idempotency_key =
                                      rp_arena_sprintf(arena, "job:%s:%zu", job->id, action),
                                  .fingerprint = fp,
                                  .cause = cause,
                                  .arena = arena,
                                  .err = &werr};
    int rc;

    rp_error_init(&werr, arena);
    rc = rp_records_write(a->records, &wr);
    rp_records_request_release(&wr);
    if (rc < 0) {
        rp_error_copy(err, &werr);
        /* A write the metadata refuses before it is queued will be refused again: no retry. */
        return rc == RP_EVALIDATION || rc == RP_ENOTFOUND ? RP_EINVAL : rc;
    }
    if (w.status >= 400) {
        rp_error_copy(err, &w.err);
        /* A write the metadata refuses will be refused again: no retry. */
        return w.err.code == RP_EVALIDATION || w.err.code == RP_EINVAL ||
                       w.err.code == RP_ENOTFOUND || w.err.code == RP_ECONFLICT
                   ? RP_EINVAL
                   : w.err.code;
    }
    return 0;
}

/* ---- set_fields, create_record ---- */

static int set_fields_check(const struct rp_action_check *c, const json_t *act,
                            struct rp_error *err)
{
    return rp_action_check_values(c, c->object, json_object_get(act, "values"), err);
}

static int set_fields_run(const struct rp_action_run *x, const json_t *act, struct rp_error *err)
{
    json_t *data = json_object();
    int rc = rp_action_resolve_values(x, x->object, json_object_get(act, "values"), data, err);

    if (rc == 0)
        rc = rp_action_write(x, x->object->name, RP_WRITE_UPDATE, x->record_id, data, err);
    json_decref(data);
    return rc;
}

static int create_record_check(const struct rp_action_check *c, const json_t *act,
                               struct rp_error *err)
{
    const char *target = json_string_value(json_object_get(act, "object"));
    const struct rp_object *t = target ? rp_meta_object(c->meta, target) : NULL;

    if (!t)
        return rp_error_field(err, RP_EVALIDATION, c->where, "not_found",
                              "create_record needs \"object\": an object name");
    return rp_action_check_values(c, t, json_object_get(act, "values"), err);
}

static int create_record_run(const struct rp_action_run *x, const json_t *act, struct rp_error *err)
{
    json_t *data = json_object();
    int rc = rp_action_resolve_values(x, x->record_id ? x->object : NULL,
                                      json_object_get(act, "values"), data, err);

    if (rc == 0)
        rc = rp_action_write(x, json_string_value(json_object_get(act, "object")), RP_WRITE_CREATE,
                             NULL, data, err);
    json_decref(data);
    return rc;
}

int rp_action_refused(struct rp_error *err, const char *where, const char *fcode)
{
    const char *detail = err->detail ? err->detail : "not found";

    rp_error_clear(err);
    return rp_error_field(err, RP_EVALIDATION, where, fcode, "%s", detail);
}

/* ---- the kinds ---- */

static const struct rp_action_kind kinds[] = {
    {"set_fields", true, set_fields_check, set_fields_run},
    {"create_record", false, create_record_check, create_record_run},
    {"assign", true, rp_assign_check, rp_assign_run},
    {"call_webhook", false, rp_webhook_action_check, rp_webhook_action_run},
    {"request_approval", true, rp_approval_action_check, rp_approval_action_run},
    {"enrol_journey", true, rp_journey_action_check, rp_journey_enrol_run},
    {"leave_journey", true, rp_journey_action_check, rp_journey_leave_run},
    {"start_sla", true, rp_sla_start_check, rp_sla_start_run},
    {"stop_sla", true, rp_sla_stop_check, rp_sla_stop_run},
    {"send_email", true, rp_email_action_check, rp_email_action_run},
    {"publish", false, rp_bus_publish_check, rp_bus_publish_run},
};

const struct rp_action_kind *rp_action_kind(const char *type)
{
    for (size_t i = 0; type && i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].type, type) == 0)
            return &kinds[i];
    return NULL;
}

const struct rp_action_kind *rp_action_kinds(size_t *n)
{
    *n = sizeof(kinds) / sizeof(kinds[0]);
    return kinds;
}
