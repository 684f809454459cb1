/*
 * Approvals (automation.h): processes as data, one pending approval per record, sequential
 * steps, the record locked (rp_record_lock) while pending, every action in rp_approval_action
 * and the audit log, and an event in the change log for rules and integrations.
 */
#include "automation/automation.h"
#include "base/json.h"
#include "automation/automation_int.h"
#include "base/arena.h"
#include "base/log.h"
#include "base/sql.h"
#include "base/str.h"
#include "base/uuid.h"
#include "expr/expr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PROCESSES 100
#define MAX_STEPS     10
#define MAX_GUARDS    10
#define COMMENT_MAX   2000

static const char *const action_names[] = {"submit", "approve", "reject", "recall"};

/* ---- processes ---- */

static int check_condition(const struct rp_meta *m, const struct rp_object *o, const char *src,
                           const char *where, struct rp_arena *a, struct rp_error *err)
{
    struct rp_expr *e;
    struct rp_error sub;

    rp_error_init(&sub, a);
    if (!src || rp_meta_parse_expr(m, o, src, strlen(src), 0, a, &e, &sub) < 0 ||
        rp_expr_type(e) != RP_V_BOOL)
        return rp_error_field(err, RP_EVALIDATION, where, "invalid_expression",
                              "invalid condition: %s",
                              sub.detail ? sub.detail : "it must be a condition");
    return 0;
}

static int check_field_values(const struct rp_object *o, const json_t *values, const char *where,
                              struct rp_arena *a, struct rp_error *err)
{
    const char *key;
    json_t *v;

    if (!values)
        return 0;
    if (!json_is_object(values))
        return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                              "\"%s\" maps field names to values", where);
    json_object_foreach((json_t *)values, key, v)
    {
        const struct rp_field *f = rp_meta_field(o, key);
        struct rp_value out;
        struct rp_error sub;
        rp_error_init(&sub, a);
        if (!f || f->system || f->type == RP_F_FORMULA ||
            rp_meta_value_from_json(f, v, a, &out, &sub) < 0)
            return rp_error_field(err, RP_EVALIDATION, where, "invalid_value",
                                  "\"%s\" cannot be set to that value on %s", key, o->name);
    }
    return 0;
}

static int check_process(const struct rp_meta *m, const json_t *def, struct rp_arena *a,
                         struct rp_error *err)
{
    static const char *const keys[] = {"object",    "criteria",    "order",      "guards",
                                       "steps",     "on_submit",   "on_approve", "on_reject",
                                       "on_recall", "description", NULL};
    const char *object = json_string_value(json_object_get(def, "object"));
    const struct rp_object *o = object ? rp_meta_object(m, object) : NULL;
    const json_t *steps = json_object_get(def, "steps"), *guards = json_object_get(def, "guards");
    json_t *v;
    size_t i;
    int rc;

    if (rp_json_check_keys(def, keys, "an approval process", NULL, err) < 0)
        return err->code;
    if (!o)
        return rp_error_field(err, RP_EVALIDATION, "object", "not_found",
                              "\"object\" must name an object");
    if (!o->owned)
        return rp_error_field(err, RP_EVALIDATION, "object", "not_owned",
                              "approvals need records with owners");
    if (json_object_get(def, "criteria") &&
        (rc = check_condition(m, o, json_string_value(json_object_get(def, "criteria")), "criteria",
                              a, err)) < 0)
        return rc;
    /* no steps: approved as it is submitted (the band of a matrix that needs nobody) */
    if (!json_is_array(steps) || json_array_size(steps) > MAX_STEPS)
        return rp_error_field(err, RP_EVALIDATION, "steps", "invalid",
                              "\"steps\" must be an array of 0-%d steps", MAX_STEPS);
    json_array_foreach(steps, i, v)
    {
        const json_t *ap = json_object_get(v, "approver");
        const char *type = json_string_value(json_object_get(ap, "type"));
        char where[48];
        snprintf(where, sizeof(where), "steps[%zu].approver", i);
        if (!type ||
            (strcmp(type, "manager") != 0 &&
             !(strcmp(type, "role") == 0 && json_is_string(json_object_get(ap, "role"))) &&
             !(strcmp(type, "user") == 0 && json_is_string(json_object_get(ap, "user_id")))))
            return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                                  "an approver is {\"type\": \"manager\"}, {\"type\": \"role\", "
                                  "\"role\"} or {\"type\": \"user\", \"user_id\"}");
    }
    if (guards && (!json_is_array(guards) || json_array_size(guards) > MAX_GUARDS))
        return rp_error_field(err, RP_EVALIDATION, "guards", "invalid",
                              "\"guards\" must be an array of at most %d guards", MAX_GUARDS);
    json_array_foreach(guards, i, v)
    {
        char where[48];
        snprintf(where, sizeof(where), "guards[%zu]", i);
        if ((rc = check_condition(m, o, json_string_value(json_object_get(v, "condition")), where,
                                  a, err)) < 0)
            return rc;
    }
    if ((rc = check_field_values(o, json_object_get(def, "on_submit"), "on_submit", a, err)) < 0 ||
        (rc = check_field_values(o, json_object_get(def, "on_approve"), "on_approve", a, err)) <
            0 ||
        (rc = check_field_values(o, json_object_get(def, "on_reject"), "on_reject", a, err)) < 0 ||
        (rc = check_field_values(o, json_object_get(def, "on_recall"), "on_recall", a, err)) < 0)
        return rc;
    return 0;
}

int rp_approval_check(void *ctx, const struct rp_meta *m, const json_t *def, struct rp_arena *arena,
                      struct rp_error *err)
{
    (void)ctx;
    return check_process(m, def, arena, err);
}

/* ---- acting on a record ---- */

struct process_list {
    char names[MAX_PROCESSES][65];
    json_t *defs[MAX_PROCESSES];
    size_t n;
};

static int process_list_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct process_list *l = ctx;
    if (n < 2 || l->n == MAX_PROCESSES || cols[1].type != RP_V_TEXT)
        return 0;
    snprintf(l->names[l->n], sizeof(l->names[l->n]), "%.*s", (int)cols[0].u.s.len, cols[0].u.s.p);
    l->defs[l->n] = rp_json_loadb(cols[1].u.s.p, cols[1].u.s.len, 0, NULL);
    if (l->defs[l->n])
        l->n++;
    return 0;
}

static void process_list_free(struct process_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        json_decref(l->defs[i]);
    l->n = 0;
}

/* Whether condition src holds for the record (a reader's view of the committed row). */
static int holds(struct rp_automation *a, const struct rp_meta *m, const struct rp_object *o,
                 const char *id, const char *src, struct rp_arena *arena, bool *out,
                 struct rp_error *err)
{
    struct rp_expr *e;
    struct rp_store_conn *c;
    struct rp_sql q;
    int64_t v = 0;
    int rc;

    *out = true;
    if (!src)
        return 0;
    if ((rc = rp_meta_parse_expr(m, o, src, strlen(src), rp_clock_now_ms(a->clock), arena, &e,
                                 err)) < 0)
        return rc;
    rp_sql_init(&q, arena, rp_store_dialect(a->store));
    rp_sql_add(&q, "SELECT CASE WHEN (");
    if ((rc = rp_expr_compile_sql(e, &q, err)) < 0)
        return rc;
    rp_sql_addf(&q, ") THEN 1 ELSE 0 END FROM \"%s\" AS \"t\" WHERE \"t\".\"id\" = ", o->name);
    rp_sql_param(&q, rp_value_cstr(id));
    c = rp_store_reader_acquire(a->store);
    rc = rp_store_query(c, &q, rp_store_row_int, &v, err);
    rp_store_reader_release(a->store, c);
    *out = v == 1;
    return rc;
}

struct pending {
    char id[40], process[65], submitted_by[64], state[16];
    int64_t step;
    bool found;
};

static int pending_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct pending *x = ctx;
    if (n < 5)
        return 1;
    snprintf(x->id, sizeof(x->id), "%.*s", (int)cols[0].u.s.len, cols[0].u.s.p);
    snprintf(x->process, sizeof(x->process), "%.*s", (int)cols[1].u.s.len, cols[1].u.s.p);
    snprintf(x->submitted_by, sizeof(x->submitted_by), "%.*s", (int)cols[2].u.s.len, cols[2].u.s.p);
    x->step = cols[3].u.i;
    snprintf(x->state, sizeof(x->state), "%.*s", (int)cols[4].u.s.len, cols[4].u.s.p);
    x->found = true;
    return 1;
}

/* What one action writes, in one unit. */
struct act_unit {
    struct rp_automation *a;
    const struct rp_principal *p;
    const char *object, *record_id, *process, *comment, *approval_id;
    enum rp_approval_action action;
    int64_t step, next_step; /* next_step < 0: the approval ends with state */
    const char *state;       /* pending, approved, rejected, recalled */
    int64_t now;
    const json_t *values;   /* the process's field values for this outcome, or NULL */
    const char *values_key; /* their write's idempotency key */
};

/*
 * Writes the process's field values for the outcome inside the approval's unit, as internal
 * work (the lock allows it), so the decision and its values commit together. A value the
 * record refuses (a validation rule) is logged and the decision stands, as before; a failure of
 * the write itself fails the unit.
 */
static int apply_values_in(struct act_unit *x, struct rp_store_conn *c, struct rp_arena *arena,
                           struct rp_error *err)
{
    struct rp_write w = {
        .op = RP_WRITE_UPDATE, .id = x->record_id, .data = x->values, .if_match = -1};
    struct rp_error werr;
    struct rp_write_request wr = {.principal = &x->a->actor,
                                  .object = x->object,
                                  .writes = &w,
                                  .nwrites = 1,
                                  .idempotency_key = x->values_key,
                                  .fingerprint = x->values_key,
                                  .arena = arena,
                                  .err = &werr};
    int rc;

    if (!json_is_object(x->values) || json_object_size(x->values) == 0)
        return 0;
    rp_error_init(&werr, arena);
    rc = rp_records_write_in(x->a->records, c, &wr);
    if (rc < 0)
        rc = rp_error_set(err, rc, "%s", werr.detail ? werr.detail : rp_err_title(rc));
    else if (w.status >= 400)
        rp_log_warn("approval of %s %s: its field values were not written: %s", x->object,
                    x->record_id, w.err.detail ? w.err.detail : "?");
    rp_records_request_release(&wr);
    return rc < 0 ? rc : 0;
}

static int act_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct act_unit *x = ctx;
    struct rp_arena a;
    struct rp_sql q;
    char event_id[40];
    int rc;

    rp_arena_init(&a);
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    if (x->action == RP_APPROVAL_SUBMIT) {
        bool decided = strcmp(x->state, "pending") != 0;
        rp_sql_add(&q, "INSERT INTO rp_approval (id, process, object, record_id, state, step,"
                       " submitted_by, submitted_at, decided_at) VALUES (");
        rp_sql_param(&q, rp_value_cstr(x->approval_id));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_cstr(x->process));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_cstr(x->object));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_cstr(x->record_id));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_cstr(x->state));
        rp_sql_add(&q, ", 0, ");
        rp_sql_param(&q, rp_value_cstr(x->p->user_id));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_int(x->now));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, decided ? rp_value_int(x->now) : rp_value_null());
        rp_sql_add(&q, ")");
        if ((rc = rp_store_exec(c, &q, NULL, err)) < 0) {
            if (rc == RP_ECONFLICT)
                rc = rp_error_set(err, RP_ECONFLICT, "%s \"%s\" already awaits approval", x->object,
                                  x->record_id);
            goto out;
        }
        rp_sql_init(&q, &a, rp_store_conn_dialect(c));
        if (decided) { /* nothing to wait for: no lock */
            rp_sql_add(&q, "SELECT 1");
        } else {
            rp_sql_add(&q, "INSERT INTO rp_record_lock (object, record_id, reason, created_at)"
                           " VALUES (");
            rp_sql_param(&q, rp_value_cstr(x->object));
            rp_sql_add(&q, ", ");
            rp_sql_param(&q, rp_value_cstr(x->record_id));
            rp_sql_add(&q, ", ");
            rp_sql_param(
                &q, rp_value_cstr(rp_arena_sprintf(&a, "approval \"%s\" is pending", x->process)));
            rp_sql_add(&q, ", ");
            rp_sql_param(&q, rp_value_int(x->now));
            rp_sql_add(&q, ") ON CONFLICT (object, record_id) DO UPDATE SET reason ="
                           " excluded.reason");
        }
    } else {
        /* The state the caller saw must still be there: a concurrent decision wins once. */
        int64_t changed = 0;
        rp_sql_add(&q, "UPDATE rp_approval SET state = ");
        rp_sql_param(&q, rp_value_cstr(x->state));
        rp_sql_add(&q, ", step = ");
        rp_sql_param(&q, rp_value_int(x->next_step >= 0 ? x->next_step : x->step));
        rp_sql_add(&q, ", decided_at = ");
        rp_sql_param(&q, x->next_step >= 0 ? rp_value_null() : rp_value_int(x->now));
        rp_sql_add(&q, " WHERE id = ");
        rp_sql_param(&q, rp_value_cstr(x->approval_id));
        rp_sql_add(&q, " AND state = 'pending' AND step = ");
        rp_sql_param(&q, rp_value_int(x->step));
        if ((rc = rp_store_exec(c, &q, &changed, err)) < 0)
            goto out;
        if (changed == 0) {
            rc = rp_error_set(err, RP_ECONFLICT, "the approval moved on meanwhile; reload it");
            goto out;
        }
        rp_sql_init(&q, &a, rp_store_conn_dialect(c));
        if (x->next_step >= 0) {
            rp_sql_add(&q, "SELECT 1");
        } else {
            rp_sql_add(&q, "DELETE FROM rp_record_lock WHERE object = ");
            rp_sql_param(&q, rp_value_cstr(x->object));
            rp_sql_add(&q, " AND record_id = ");
            rp_sql_param(&q, rp_value_cstr(x->record_id));
        }
    }
    if ((rc = rp_store_exec(c, &q, NULL, err)) < 0)
        goto out;
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_approval_action (approval_id, step, actor, action, comment, at)"
                   " VALUES (");
    rp_sql_param(&q, rp_value_cstr(x->approval_id));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_int(x->step));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(x->p->user_id));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(action_names[x->action]));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, x->comment ? rp_value_cstr(x->comment) : rp_value_null());
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_int(x->now));
    rp_sql_add(&q, ")");
    if ((rc = rp_store_exec(c, &q, NULL, err)) < 0)
        goto out;
    /* The audit entry, and an event for rules and integrations. */
    {
        const char *changes = rp_arena_sprintf(
            &a, "{\"approval_id\":\"%s\",\"process\":\"%s\",\"step\":%lld,\"state\":\"%s\"}",
            x->approval_id, x->process, (long long)x->step, x->state);
        const char *ev = rp_arena_sprintf(&a, "approval.%s", action_names[x->action]);
        const char *ev_changes = rp_arena_sprintf(
            &a,
            "{\"record_id\":\"%s\",\"data\":{\"object\":\"%s\",\"approval_id\":\"%s\","
            "\"process\":\"%s\",\"state\":\"%s\"}}",
            x->record_id, x->object, x->approval_id, x->process, x->state);
        const struct rp_value audit[] = {rp_value_int(x->now),        rp_value_cstr(x->p->user_id),
                                         rp_value_cstr(ev),           rp_value_cstr(x->object),
                                         rp_value_cstr(x->record_id), rp_value_cstr(changes)};
        rp_uuid_v7(event_id, x->now);
        const struct rp_value change[] = {rp_value_int(x->now),         rp_value_cstr("event"),
                                          rp_value_cstr(event_id),      rp_value_cstr(ev),
                                          rp_value_cstr(x->p->user_id), rp_value_cstr(ev_changes)};
        rp_sql_init(&q, &a, rp_store_conn_dialect(c));
        rp_sql_add(&q, "INSERT INTO rp_audit (at, actor, action, object, record_id, changes)"
                       " VALUES ");
        rp_sql_param_list(&q, audit, sizeof(audit) / sizeof(audit[0]));
        if ((rc = rp_store_exec(c, &q, NULL, err)) < 0)
            goto out;
        rp_sql_init(&q, &a, rp_store_conn_dialect(c));
        rp_sql_add(&q, "INSERT INTO rp_change (at, object, record_id, op, actor, changes) VALUES ");
        rp_sql_param_list(&q, change, sizeof(change) / sizeof(change[0]));
        if ((rc = rp_store_exec(c, &q, NULL, err)) < 0)
            goto out;
    }
    rc = apply_values_in(x, c, &a, err);
out:
    rp_arena_release(&a);
    return rc;
}

/* May p act on step of process def for a record owned by owner? */
static bool may_approve(const struct rp_principal *p, const json_t *def, int64_t step,
                        const char *owner)
{
    const json_t *ap =
        json_object_get(json_array_get(json_object_get(def, "steps"), (size_t)step), "approver");
    const char *type = json_string_value(json_object_get(ap, "type"));

    if (!type)
        return false;
    if (strcmp(type, "manager") == 0)
        return owner && rp_policy_manages(p, owner);
    if (strcmp(type, "role") == 0)
        return rp_policy_has_role(p, json_string_value(json_object_get(ap, "role")));
    return strcmp(p->user_id, json_string_value(json_object_get(ap, "user_id"))) == 0;
}

static int owner_row(void *ctx, const struct rp_value *cols, size_t n)
{
    char *owner = ctx;
    if (n > 0 && cols[0].type == RP_V_TEXT)
        snprintf(owner, 64, "%.*s", (int)cols[0].u.s.len, cols[0].u.s.p);
    return 1;
}

int rp_approval_act(struct rp_automation *a, const struct rp_principal *p, const char *object,
                    const char *id, enum rp_approval_action action, const char *comment,
                    struct rp_arena *arena, struct rp_buf *out, struct rp_error *err)
{
    struct rp_meta *m = rp_meta_acquire(a->meta);
    const struct rp_object *o = rp_meta_object(m, object);
    struct process_list procs = {0};
    struct pending pend = {0};
    struct act_unit x = {.p = p,
                         .object = object,
                         .record_id = id,
                         .comment = comment,
                         .action = action,
                         .now = rp_clock_now_ms(a->clock)};
    const json_t *def = NULL;
    struct rp_store_conn *c;
    struct rp_buf probe;
    struct rp_sql q;
    char owner[64] = "", approval_id[40];
    int64_t version;
    int rc;

    if (!o) {
        rc = rp_error_set(err, RP_ENOTFOUND, "object \"%s\" does not exist", object);
        goto out;
    }
    if (comment && strlen(comment) > COMMENT_MAX) {
        rc = rp_error_field(err, RP_EVALIDATION, "comment", "too_long",
                            "a comment is at most %d bytes", COMMENT_MAX);
        goto out;
    }
    /* The caller must see the record: otherwise it answers 404 like a missing one. */
    rp_buf_init(&probe, arena, 1 << 20);
    if ((rc = rp_records_get(a->records, p, object, id, NULL, arena, &probe, &version, err)) < 0)
        goto out;
    c = rp_store_reader_acquire(a->store);
    rp_sql_init(&q, arena, RP_SQL_SQLITE);
    rp_sql_addf(&q, "SELECT \"owner_id\" FROM \"%s\" WHERE \"id\" = ", o->name);
    rp_sql_param(&q, rp_value_cstr(id));
    rc = rp_store_query(c, &q, owner_row, owner, err);
    if (rc == 0) {
        rp_sql_init(&q, arena, RP_SQL_SQLITE);
        rp_sql_add(&q, "SELECT id, process, submitted_by, step, state FROM rp_approval"
                       " WHERE object = ");
        rp_sql_param(&q, rp_value_cstr(object));
        rp_sql_add(&q, " AND record_id = ");
        rp_sql_param(&q, rp_value_cstr(id));
        rp_sql_add(&q, " AND state = 'pending'");
        rc = rp_store_query(c, &q, pending_row, &pend, err);
    }
    if (rc == 0) {
        rp_sql_init(&q, arena, rp_store_conn_dialect(c));
        rp_sql_add(&q, "SELECT name, definition FROM rp_definition WHERE kind = '" RP_DEF_APPROVAL
                       "' AND object = ");
        rp_sql_param(&q, rp_value_cstr(object));
        rp_sql_add(&q, " ORDER BY ");
        rp_sql_json_begin(&q);
        rp_sql_add(&q, "definition");
        rp_sql_json_end(&q, "order", true);
        rp_sql_add(&q, ", name");
        rc = rp_store_query(c, &q, process_list_row, &procs, err);
    }
    rp_store_reader_release(a->store, c);
    if (rc < 0)
        goto out;

    if (action == RP_APPROVAL_SUBMIT) {
        bool ok = false;
        if (pend.found) {
            rc = rp_error_set(err, RP_ECONFLICT, "%s \"%s\" already awaits approval", object, id);
            goto out;
        }
        if ((rc = rp_policy_check(p, object, RP_ACT_EDIT, err)) < 0)
            goto out;
        for (size_t i = 0; i < procs.n && !def; i++) {
            if ((rc = holds(a, m, o, id,
                            json_string_value(json_object_get(procs.defs[i], "criteria")), arena,
                            &ok, err)) < 0)
                goto out;
            if (ok) {
                def = procs.defs[i];
                x.process = procs.names[i];
            }
        }
        if (!def) {
            rc = rp_error_set(err, RP_EVALIDATION, "no approval process applies to %s \"%s\"",
                              object, id);
            goto out;
        }
        {
            size_t i;
            json_t *g;
            json_array_foreach(json_object_get(def, "guards"), i, g)
            {
                if ((rc = holds(a, m, o, id, json_string_value(json_object_get(g, "condition")),
                                arena, &ok, err)) < 0)
                    goto out;
                if (!ok) {
                    const char *msg = json_string_value(json_object_get(g, "message"));
                    rc = rp_error_set(err, RP_EVALIDATION, "%s",
                                      msg ? msg : "a guard of the approval process blocks it");
                    goto out;
                }
            }
        }
        rp_uuid_v7(approval_id, x.now);
        x.approval_id = approval_id;
        x.state = json_array_size(json_object_get(def, "steps")) ? "pending" : "approved";
        x.next_step = json_array_size(json_object_get(def, "steps")) ? 0 : -1;
    } else {
        if (!pend.found) {
            rc = rp_error_set(err, RP_ENOTFOUND, "%s \"%s\" has no pending approval", object, id);
            goto out;
        }
        for (size_t i = 0; i < procs.n && !def; i++)
            if (strcmp(procs.names[i], pend.process) == 0)
                def = procs.defs[i];
        x.approval_id = pend.id;
        x.process = pend.process;
        x.step = pend.step;
        if (action == RP_APPROVAL_RECALL) {
            if (strcmp(pend.submitted_by, p->user_id) != 0 && !rp_policy_is_unrestricted(p)) {
                rc = rp_error_set(err, RP_EFORBIDDEN, "only who submitted it may recall it");
                goto out;
            }
            x.state = "recalled";
            x.next_step = -1;
        } else {
            if (!rp_policy_is_unrestricted(p) && !(def && may_approve(p, def, pend.step, owner))) {
                rc = rp_error_set(err, RP_EFORBIDDEN, "you are not an approver of step %lld",
                                  (long long)pend.step + 1);
                goto out;
            }
            if (action == RP_APPROVAL_REJECT) {
                x.state = "rejected";
                x.next_step = -1;
            } else if (def &&
                       (size_t)pend.step + 1 < json_array_size(json_object_get(def, "steps"))) {
                x.state = "pending";
                x.next_step = pend.step + 1;
            } else {
                x.state = "approved";
                x.next_step = -1;
            }
        }
    }
    if (def) {
        const char *key = action == RP_APPROVAL_SUBMIT && strcmp(x.state, "pending") == 0
                              ? "on_submit"
                          : strcmp(x.state, "approved") == 0 ? "on_approve"
                          : strcmp(x.state, "rejected") == 0 ? "on_reject"
                          : strcmp(x.state, "recalled") == 0 ? "on_recall"
                                                             : NULL;
        if (key) {
            x.values = json_object_get(def, key);
            x.values_key = rp_arena_sprintf(arena, "approval:%s:%s", x.approval_id, key);
        }
    }
    x.a = a;
    if ((rc = rp_store_write(a->store, act_run, &x, err)) < 0)
        goto out;
    rp_buf_adds(out, "{\"approval_id\":");
    rp_buf_add_json_str(out, x.approval_id, strlen(x.approval_id));
    rp_buf_adds(out, ",\"process\":");
    rp_buf_add_json_str(out, x.process, strlen(x.process));
    rp_buf_addf(out, ",\"state\":\"%s\",\"step\":%lld}", x.state,
                (long long)(x.next_step >= 0 ? x.next_step : x.step));
out:
    process_list_free(&procs);
    rp_meta_release(m);
    return rc;
}

struct rows_out {
    struct rp_buf *out;
    size_t n;
};

static int history_row(void *ctx, const struct rp_value *cols, size_t n)
{
    static const char *const names[] = {"approval_id",   "process", "state",
                                        "approval_step", "step",    "actor",
                                        "action",        "comment", "at"};
    struct rows_out *l = ctx;

    if (n < 9)
        return 0;
    rp_buf_addc(l->out, l->n++ ? ',' : ' ');
    rp_buf_addc(l->out, '{');
    for (size_t i = 0; i < 9; i++) {
        struct rp_value v = cols[i];
        if (i == 8 && v.type == RP_V_INT)
            v = rp_value_typed_int(RP_V_DATETIME, v.u.i);
        rp_buf_addf(l->out, "%s\"%s\":", i ? "," : "", names[i]);
        rp_value_to_json(l->out, &v);
    }
    rp_buf_addc(l->out, '}');
    return 0;
}

int rp_approval_history(struct rp_automation *a, const struct rp_principal *p, const char *object,
                        const char *id, struct rp_arena *arena, struct rp_buf *out,
                        struct rp_error *err)
{
    struct rows_out l = {.out = out};
    struct rp_store_conn *c;
    struct rp_buf probe;
    struct rp_sql q;
    int64_t version;
    int rc;

    rp_buf_init(&probe, arena, 1 << 20);
    if ((rc = rp_records_get(a->records, p, object, id, NULL, arena, &probe, &version, err)) < 0)
        return rc;
    rp_sql_init(&q, arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT ap.id, ap.process, ap.state, ap.step, ac.step, ac.actor, ac.action,"
                   " ac.comment, ac.at FROM rp_approval AS ap JOIN rp_approval_action AS ac"
                   " ON ac.approval_id = ap.id WHERE ap.object = ");
    rp_sql_param(&q, rp_value_cstr(object));
    rp_sql_add(&q, " AND ap.record_id = ");
    rp_sql_param(&q, rp_value_cstr(id));
    rp_sql_add(&q, " ORDER BY ac.id LIMIT 1000");
    rp_buf_adds(out, "{\"data\":[");
    c = rp_store_reader_acquire(a->store);
    rc = rp_store_query(c, &q, history_row, &l, err);
    rp_store_reader_release(a->store, c);
    rp_buf_adds(out, "]}");
    return rc;
}

/* ---- the request_approval action: {"type": "request_approval", "comment": "..."} ---- */

int rp_approval_action_check(const struct rp_action_check *c, const json_t *act,
                             struct rp_error *err)
{
    const json_t *comment = json_object_get(act, "comment");

    if (!c->object->owned)
        return rp_error_field(err, RP_EVALIDATION, c->where, "no_owner",
                              "request_approval needs a record of an owned object");
    if (comment && (!json_is_string(comment) || json_string_length(comment) > COMMENT_MAX))
        return rp_error_field(err, RP_EVALIDATION, c->where, "invalid",
                              "\"comment\" is a string of at most %d bytes", COMMENT_MAX);
    return 0;
}

/* Submits the record as the automation principal. Already pending (a retried job, or a
   person submitted first) is done; no process applying or a guard blocking fails the run. */
int rp_approval_action_run(const struct rp_action_run *x, const json_t *act, struct rp_error *err)
{
    struct rp_buf out;
    int rc;

    rp_buf_init(&out, x->arena, 4096);
    rc = rp_approval_act(x->a, &x->a->actor, x->object->name, x->record_id, RP_APPROVAL_SUBMIT,
                         json_string_value(json_object_get(act, "comment")), x->arena, &out, err);
    if (rc == RP_ECONFLICT) {
        rp_error_clear(err);
        return 0;
    }
    return rc == RP_EVALIDATION || rc == RP_ENOTFOUND || rc == RP_EFORBIDDEN ? RP_EINVAL : rc;
}
