/*
 * Journeys (automation.h, "Journeys"): a record enrolled in a journey goes through its steps,
 * each after a wait, performing the step's actions (rule actions) when its condition holds,
 * until the last step (completed), the journey's exit condition (exited) or a leave (left).
 *
 * Each step is one durable job ("journey.step", dedup key per enrolment and step) queued when
 * the previous step finished, so a step runs exactly once: the job performs the actions with
 * idempotent writes, then moves the enrolment on only if it is still at that step.
 */
#include "automation/automation_int.h"
#include "base/json.h"
#include "base/arena.h"
#include "base/sql.h"
#include "base/uuid.h"
#include "expr/expr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STEPS      20
#define MAX_WAIT_MIN   (366 * 24 * 60)
#define MINUTE_MS      (INT64_C(60) * 1000)
#define ENROL_MAX_LIST 1000

/* The wait before a step, in ms ("wait_minutes" or "wait_days"). */
static int64_t step_wait_ms(const json_t *step)
{
    return (json_integer_value(json_object_get(step, "wait_minutes")) +
            json_integer_value(json_object_get(step, "wait_days")) * 24 * 60) *
           MINUTE_MS;
}

static int check_condition(const struct rp_meta *m, const struct rp_object *o, const json_t *v,
                           const char *where, struct rp_arena *arena, struct rp_error *err)
{
    const char *text = json_string_value(v);
    struct rp_expr *x;
    struct rp_error sub;

    if (!v)
        return 0;
    rp_error_init(&sub, arena);
    if (!text || rp_meta_parse_expr(m, o, text, strlen(text), 0, arena, &x, &sub) < 0 ||
        rp_expr_type(x) != RP_V_BOOL)
        return rp_error_field(err, RP_EVALIDATION, where, "invalid_expression",
                              "invalid condition: %s",
                              sub.detail ? sub.detail : "it must be a condition (a string)");
    return 0;
}

int rp_journey_check(void *ctx, const struct rp_meta *m, const json_t *def, struct rp_arena *arena,
                     struct rp_error *err)
{
    struct rp_automation *a = ctx;
    static const char *const keys[] = {"object",  "steps",       "exit_when",
                                       "reenter", "description", NULL};
    static const char *const step_keys[] = {"name",      "wait_minutes", "wait_days",
                                            "condition", "actions",      NULL};
    const char *name = json_string_value(json_object_get(def, "object"));
    const struct rp_object *o = name ? rp_meta_object(m, name) : NULL;
    const json_t *steps = json_object_get(def, "steps"), *step;
    size_t i;
    int rc;

    if (rp_json_check_keys(def, keys, "a journey", NULL, err) < 0)
        return err->code;
    if (!o)
        return rp_error_field(err, RP_EVALIDATION, "object", "not_found",
                              "\"object\" must name an object");
    if ((rc = check_condition(m, o, json_object_get(def, "exit_when"), "exit_when", arena, err)) <
        0)
        return rc;
    if (!json_is_array(steps) || json_array_size(steps) == 0 || json_array_size(steps) > MAX_STEPS)
        return rp_error_field(err, RP_EVALIDATION, "steps", "invalid",
                              "\"steps\" must be an array of 1-%d steps", MAX_STEPS);
    json_array_foreach(steps, i, step)
    {
        const char *where = rp_arena_sprintf(arena, "steps[%zu]", i);
        const json_t *actions = json_object_get(step, "actions"), *act;
        int64_t minutes = json_integer_value(json_object_get(step, "wait_minutes")) +
                          json_integer_value(json_object_get(step, "wait_days")) * 24 * 60;
        size_t j;
        if (!json_is_object(step))
            return rp_error_field(err, RP_EVALIDATION, where, "invalid", "a step is an object");
        if (rp_json_check_keys(step, step_keys, "a step", where, err) < 0)
            return err->code;
        if ((json_object_get(step, "wait_minutes") &&
             !json_is_integer(json_object_get(step, "wait_minutes"))) ||
            (json_object_get(step, "wait_days") &&
             !json_is_integer(json_object_get(step, "wait_days"))) ||
            minutes < 0 || minutes > MAX_WAIT_MIN)
            return rp_error_field(err, RP_EVALIDATION, where, "invalid_wait",
                                  "a step waits a whole number of minutes or days, up to a year");
        if ((rc = check_condition(m, o, json_object_get(step, "condition"), where, arena, err)) < 0)
            return rc;
        if (!json_is_array(actions) || json_array_size(actions) == 0 ||
            json_array_size(actions) > 20)
            return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                                  "a step has \"actions\": an array of 1-20 actions");
        json_array_foreach(actions, j, act)
        {
            const char *type = json_string_value(json_object_get(act, "type"));
            const struct rp_action_kind *kind = rp_action_kind(type);
            struct rp_action_check c = {
                .a = a,
                .meta = m,
                .object = o,
                .record = o,
                .where = rp_arena_sprintf(arena, "steps[%zu].actions[%zu]", i, j),
                .arena = arena};
            if (!kind)
                return rp_error_field(err, RP_EVALIDATION, c.where, "unknown_action",
                                      "unknown action type \"%s\"", type ? type : "(none)");
            if ((rc = kind->check(&c, act, err)) < 0)
                return rc;
        }
    }
    return 0;
}

/* ---- enrolments ---- */

static int queue_step(struct rp_store_conn *c, struct rp_automation *a, const char *enrolment,
                      int64_t step, int64_t run_at, struct rp_arena *arena, struct rp_error *err)
{
    char *payload =
        rp_arena_sprintf(arena, "{\"enrolment\":\"%s\",\"step\":%lld}", enrolment, (long long)step);

    return rp_jobs_enqueue_in(
        c, a->clock,
        &(struct rp_job_spec){
            .kind = RP_JOURNEY_JOB,
            .payload = payload,
            .run_at = run_at,
            .dedup_key = rp_arena_sprintf(arena, "journey:%s:%lld", enrolment, (long long)step)},
        NULL, NULL, err);
}

struct enrol_unit {
    struct rp_automation *a;
    const char *journey, *object, *record_id;
    bool reenter;
    int64_t first_wait_ms;
    bool leave;
    bool done; /* out: enrolled (or left) */
};

static int enrol_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct enrol_unit *x = ctx;
    int64_t now = rp_clock_now_ms(x->a->clock), found = 0, changed = 0;
    struct rp_arena arena;
    struct rp_sql q;
    char id[RP_UUID_STRLEN + 1];
    int rc;

    x->done = false;
    rp_arena_init(&arena);
    rp_sql_init(&q, &arena, rp_store_conn_dialect(c));
    if (x->leave) {
        rp_sql_add(&q, "UPDATE rp_journey_enrolment SET state = 'left', updated_at = ");
        rp_sql_param(&q, rp_value_int(now));
        rp_sql_add(&q, " WHERE state = 'active' AND journey = ");
        rp_sql_param(&q, rp_value_cstr(x->journey));
        rp_sql_add(&q, " AND record_id = ");
        rp_sql_param(&q, rp_value_cstr(x->record_id));
        rc = rp_store_exec(c, &q, &changed, err);
        x->done = changed > 0;
        goto out;
    }
    /* Once at a time; again after the end only if the journey allows re-entry. */
    rp_sql_add(&q, "SELECT COUNT(*) FROM rp_journey_enrolment WHERE journey = ");
    rp_sql_param(&q, rp_value_cstr(x->journey));
    rp_sql_add(&q, " AND record_id = ");
    rp_sql_param(&q, rp_value_cstr(x->record_id));
    if (x->reenter)
        rp_sql_add(&q, " AND state = 'active'");
    if ((rc = rp_store_query(c, &q, rp_store_row_int, &found, err)) < 0 || found)
        goto out;
    rp_uuid_v7(id, now);
    rp_sql_init(&q, &arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_journey_enrolment (id, journey, object, record_id, state, step,"
                   " next_at, enrolled_at, updated_at) VALUES (");
    rp_sql_param(&q, rp_value_cstr(id));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(x->journey));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(x->object));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(x->record_id));
    rp_sql_add(&q, ", 'active', 0, ");
    rp_sql_param(&q, rp_value_int(now + x->first_wait_ms));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_int(now));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_int(now));
    rp_sql_add(&q, ")");
    if ((rc = rp_store_exec(c, &q, NULL, err)) == 0 &&
        (rc = queue_step(c, x->a, id, 0, now + x->first_wait_ms, &arena, err)) == 0)
        x->done = true;
out:
    rp_arena_release(&arena);
    return rc;
}

int rp_journey_enrol(struct rp_automation *a, const char *journey, const char *object,
                     const char *record_id, bool leave, bool *done, struct rp_error *err)
{
    struct enrol_unit x = {.a = a, .journey = journey, .record_id = record_id, .leave = leave};
    json_t *def = NULL;
    int rc;

    if (!leave) {
        struct rp_store_conn *c = rp_store_reader_acquire(a->store);
        rc = rp_definition_load(c, RP_DEF_JOURNEY, journey, &def, err);
        rp_store_reader_release(a->store, c);
        if (rc < 0)
            return rc;
        x.object = json_string_value(json_object_get(def, "object"));
        if (strcmp(x.object, object) != 0) {
            rc = rp_error_set(err, RP_EINVAL, "journey \"%s\" enrols %s records, not %s", journey,
                              x.object, object);
            json_decref(def);
            return rc;
        }
        x.reenter = json_is_true(json_object_get(def, "reenter"));
        x.first_wait_ms = step_wait_ms(json_array_get(json_object_get(def, "steps"), 0));
    }
    rc = rp_store_write(a->store, enrol_run, &x, err);
    json_decref(def);
    if (rc == 0 && x.done && !leave)
        rp_jobs_wake(a->jobs);
    if (done)
        *done = x.done;
    return rc;
}

int rp_journey_enrol_record(struct rp_automation *a, const struct rp_principal *p,
                            const char *journey, const char *record_id, bool leave,
                            struct rp_buf *out, struct rp_error *err)
{
    struct rp_store_conn *c;
    struct rp_meta *m;
    struct rp_arena arena;
    struct rp_sql q;
    json_t *def = NULL;
    int64_t live = 0;
    bool done = false;
    int rc;

    if ((rc = rp_policy_check(p, NULL, RP_ACT_MANAGE_AUTOMATION, err)) < 0)
        return rc;
    if (!record_id || !rp_uuid_is_valid(record_id, strlen(record_id)))
        return rp_error_field(err, RP_EINVAL, "record_id", "invalid",
                              "\"record_id\" must be a record id");
    rp_arena_init(&arena);
    m = rp_meta_acquire(a->meta);
    c = rp_store_reader_acquire(a->store);
    if ((rc = rp_definition_load(c, RP_DEF_JOURNEY, journey, &def, err)) == 0) {
        const char *object = json_string_value(json_object_get(def, "object"));
        if (!rp_meta_object(m, object)) {
            rc = rp_error_set(err, RP_ECONFLICT, "journey \"%s\" is for %s, which is gone", journey,
                              object);
        } else {
            rp_sql_init(&q, &arena, RP_SQL_SQLITE);
            rp_sql_addf(&q,
                        "SELECT COUNT(*) FROM \"%s\" WHERE \"deleted_at\" IS NULL AND"
                        " \"id\" = ",
                        object);
            rp_sql_param(&q, rp_value_cstr(record_id));
            rc = rp_store_query(c, &q, rp_store_row_int, &live, err);
            if (rc == 0 && !live)
                rc = rp_error_set(err, RP_ENOTFOUND, "no live %s %s", object, record_id);
        }
    }
    rp_store_reader_release(a->store, c);
    if (rc == 0)
        rc = rp_journey_enrol(a, journey, json_string_value(json_object_get(def, "object")),
                              record_id, leave, &done, err);
    if (rc == 0)
        rp_buf_addf(out, "{\"journey\":\"%s\",\"record_id\":\"%s\",\"changed\":%s}", journey,
                    record_id, done ? "true" : "false");
    rp_meta_release(m);
    json_decref(def);
    rp_arena_release(&arena);
    return rc;
}

/* ---- the enrol_journey and leave_journey actions: {"journey": "<name>"} ---- */

int rp_journey_action_check(const struct rp_action_check *c, const json_t *act,
                            struct rp_error *err)
{
    const char *name = json_string_value(json_object_get(act, "journey"));
    struct rp_store_conn *conn = rp_store_reader_acquire(c->a->store);
    json_t *def = NULL;
    int rc = rp_definition_load(conn, RP_DEF_JOURNEY, name, &def, err);

    rp_store_reader_release(c->a->store, conn);
    if (rc == RP_ENOTFOUND)
        return rp_action_refused(err, c->where, "not_found");
    if (rc == 0 && strcmp(json_string_value(json_object_get(def, "object")), c->object->name))
        rc = rp_error_field(err, RP_EVALIDATION, c->where, "invalid",
                            "journey \"%s\" enrols %s records", name,
                            json_string_value(json_object_get(def, "object")));
    json_decref(def);
    return rc;
}

int rp_journey_enrol_run(const struct rp_action_run *x, const json_t *act, struct rp_error *err)
{
    int rc = rp_journey_enrol(x->a, json_string_value(json_object_get(act, "journey")),
                              x->object->name, x->record_id, false, NULL, err);
    return rc == RP_ENOTFOUND ? RP_EINVAL : rc;
}

int rp_journey_leave_run(const struct rp_action_run *x, const json_t *act, struct rp_error *err)
{
    return rp_journey_enrol(x->a, json_string_value(json_object_get(act, "journey")),
                            x->object->name, x->record_id, true, NULL, err);
}

/* ---- the step job ---- */

struct enrolment {
    char journey[65], object[65], record_id[RP_UUID_STRLEN + 1];
    int64_t step;
    bool active, found;
};

static void copy_text(char *dst, size_t cap, const struct rp_value *v)
{
    size_t n = v->type == RP_V_TEXT ? v->u.s.len : 0;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, n ? v->u.s.p : "", n);
    dst[n] = 0;
}

static int enrolment_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct enrolment *e = ctx;

    if (n < 5)
        return 1;
    copy_text(e->journey, sizeof(e->journey), &cols[0]);
    copy_text(e->object, sizeof(e->object), &cols[1]);
    copy_text(e->record_id, sizeof(e->record_id), &cols[2]);
    e->active = cols[3].type == RP_V_TEXT && cols[3].u.s.len == 6 &&
                memcmp(cols[3].u.s.p, "active", 6) == 0;
    e->step = cols[4].u.i;
    e->found = true;
    return 1;
}

struct advance_unit {
    struct rp_automation *a;
    const char *enrolment;
    int64_t step;     /* the step that ran */
    const char *to;   /* "active" (next step), "completed", "exited", "failed" */
    int64_t wait_ms;  /* before the next step */
    const char *note; /* detail, may be NULL */
};

/* Moves the enrolment on from step, only if it is still active at that step. */
static int advance_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct advance_unit *x = ctx;
    int64_t now = rp_clock_now_ms(x->a->clock), changed = 0;
    bool next = strcmp(x->to, "active") == 0;
    struct rp_arena arena;
    struct rp_sql q;
    int rc;

    rp_arena_init(&arena);
    rp_sql_init(&q, &arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "UPDATE rp_journey_enrolment SET state = ");
    rp_sql_param(&q, rp_value_cstr(x->to));
    rp_sql_add(&q, ", step = ");
    rp_sql_param(&q, rp_value_int(next ? x->step + 1 : x->step));
    rp_sql_add(&q, ", next_at = ");
    rp_sql_param(&q, next ? rp_value_int(now + x->wait_ms) : rp_value_null());
    rp_sql_add(&q, ", updated_at = ");
    rp_sql_param(&q, rp_value_int(now));
    rp_sql_add(&q, ", detail = ");
    rp_sql_param(&q, x->note ? rp_value_cstr(x->note) : rp_value_null());
    rp_sql_add(&q, " WHERE state = 'active' AND id = ");
    rp_sql_param(&q, rp_value_cstr(x->enrolment));
    rp_sql_add(&q, " AND step = ");
    rp_sql_param(&q, rp_value_int(x->step));
    if ((rc = rp_store_exec(c, &q, &changed, err)) == 0 && changed && next)
        rc = queue_step(c, x->a, x->enrolment, x->step + 1, now + x->wait_ms, &arena, err);
    rp_arena_release(&arena);
    return rc;
}

/* Performs the actions of step on the record, as a rule performs its actions. */
static int run_step(struct rp_automation *a, const struct rp_job *job, const char *journey,
                    const struct rp_object *o, const char *record_id, const json_t *step,
                    struct rp_meta *m, struct rp_arena *arena, struct rp_error *err)
{
    struct rp_action_run x = {.a = a,
                              .job = job,
                              .rule = rp_arena_sprintf(arena, "journey:%s", journey),
                              .meta = m,
                              .object = o,
                              .record_id = record_id,
                              .arena = arena};
    json_t *cause = json_pack("{sssiss}", "rule", x.rule, "depth", 1, "record_id", record_id);
    char *text = rp_json_dumps(cause, JSON_COMPACT, err);
    json_t *act;
    int rc = 0;

    x.cause = text ? rp_arena_strdup(arena, text) : NULL;
    free(text);
    json_decref(cause);
    if (!x.cause)
        return err->code;
    json_array_foreach(json_object_get(step, "actions"), x.index, act)
    {
        const char *type = json_string_value(json_object_get(act, "type"));
        const struct rp_action_kind *kind = rp_action_kind(type);
        rc = kind ? kind->run(&x, act, err)
                  : rp_error_set(err, RP_EINVAL, "unknown action type \"%s\"", type);
        if (rc < 0) {
            char *detail =
                rp_arena_sprintf(arena, "action %zu (%s): %s", x.index, type, err->detail);
            int code = err->code;
            rp_error_clear(err);
            rp_error_set(err, code, "%s", detail);
            break;
        }
    }
    return rc;
}

static int step_job(void *ctx, const struct rp_job *job, struct rp_error *err)
{
    struct rp_automation *a = ctx;
    json_t *payload = rp_json_loads(job->payload, 0, NULL), *def = NULL, *values, *data;
    const char *id = json_string_value(json_object_get(payload, "enrolment"));
    struct advance_unit adv = {.a = a, .enrolment = id, .to = "active"};
    struct enrolment e = {0};
    struct rp_store_conn *c;
    const struct rp_object *o;
    const json_t *steps, *step;
    struct rp_meta *m = NULL;
    struct rp_arena arena;
    struct rp_sql q;
    int rc;

    rp_arena_init(&arena);
    adv.step = json_integer_value(json_object_get(payload, "step"));
    if (!id) {
        rc = rp_error_set(err, RP_EINVAL, "the job names no enrolment");
        goto out;
    }
    rp_sql_init(&q, &arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT journey, object, record_id, state, step FROM rp_journey_enrolment"
                   " WHERE id = ");
    rp_sql_param(&q, rp_value_cstr(id));
    c = rp_store_reader_acquire(a->store);
    rc = rp_store_query(c, &q, enrolment_row, &e, err);
    if (rc == 0 && e.found && e.active && e.step == adv.step)
        rc = rp_definition_load(c, RP_DEF_JOURNEY, e.journey, &def, err);
    rp_store_reader_release(a->store, c);
    if (rc == RP_ENOTFOUND) {
        adv.to = "exited";
        adv.note = "the journey was deleted";
        rc = rp_store_write(a->store, advance_run, &adv, err);
        goto out;
    }
    if (rc < 0 || !def) /* left, finished, or this step already ran */
        goto out;
    m = rp_meta_acquire(a->meta);
    steps = json_object_get(def, "steps");
    step = json_array_get(steps, (size_t)adv.step);
    o = rp_meta_object(m, e.object);
    if (!o || !step) {
        adv.to = "exited";
        adv.note = o ? "the journey has fewer steps now" : "the object no longer exists";
        rc = rp_store_write(a->store, advance_run, &adv, err);
        goto out;
    }
    /* The exit condition and the step's condition, in one query on the record. */
    values = json_object();
    data = json_object();
    if (json_object_get(def, "exit_when"))
        json_object_set_new(values, "exit",
                            json_pack("{sO}", "expr", json_object_get(def, "exit_when")));
    if (json_object_get(step, "condition"))
        json_object_set_new(values, "run",
                            json_pack("{sO}", "expr", json_object_get(step, "condition")));
    {
        struct rp_action_run x = {
            .a = a, .meta = m, .object = o, .record_id = e.record_id, .arena = &arena};
        rc = rp_action_resolve_values(&x, o, values, data, err);
    }
    if (rc == RP_EINVAL || json_is_true(json_object_get(data, "exit"))) {
        adv.to = "exited";
        adv.note = rc == RP_EINVAL ? err->detail : "the exit condition holds";
        rc = rp_store_write(a->store, advance_run, &adv, err);
    } else if (rc == 0) {
        if (!json_object_get(step, "condition") || json_is_true(json_object_get(data, "run")))
            rc = run_step(a, job, e.journey, o, e.record_id, step, m, &arena, err);
        else
            adv.note = "the step's condition did not hold";
        if (rc == 0) {
            const json_t *next = json_array_get(steps, (size_t)adv.step + 1);
            adv.to = next ? "active" : "completed";
            adv.wait_ms = next ? step_wait_ms(next) : 0;
            rc = rp_store_write(a->store, advance_run, &adv, err);
            if (rc == 0 && next)
                rp_jobs_wake(a->jobs);
        } else if (rc == RP_EINVAL || job->attempt >= job->max_attempts) {
            struct rp_error keep = *err;
            adv.to = "failed";
            adv.note = err->detail;
            if (rp_store_write(a->store, advance_run, &adv, err) == 0)
                *err = keep;
        }
    }
    json_decref(values);
    json_decref(data);
out:
    if (m)
        rp_meta_release(m);
    json_decref(def);
    json_decref(payload);
    rp_arena_release(&arena);
    return rc;
}

void rp_journey_register(struct rp_automation *a)
{
    rp_jobs_register(a->jobs, RP_JOURNEY_JOB, step_job, a, 0);
}

/* ---- listing ---- */

static int enrolments_row(void *ctx, const struct rp_value *cols, size_t n)
{
    json_t *data = ctx;
    json_t *row = json_object();
    static const char *const names[] = {"id",      "object",      "record_id",  "state", "step",
                                        "next_at", "enrolled_at", "updated_at", "detail"};

    for (size_t i = 0; i < n && i < sizeof(names) / sizeof(names[0]); i++)
        json_object_set_new(row, names[i],
                            cols[i].type == RP_V_TEXT ? json_stringn(cols[i].u.s.p, cols[i].u.s.len)
                            : cols[i].type == RP_V_INT ? json_integer(cols[i].u.i)
                                                       : json_null());
    json_array_append_new(data, row);
    return 0;
}

int rp_journey_enrolments(struct rp_automation *a, const struct rp_principal *p,
                          const char *journey, const char *state, struct rp_buf *out,
                          struct rp_error *err)
{
    json_t *data = json_array(), *doc;
    struct rp_store_conn *c;
    struct rp_arena arena;
    struct rp_sql q;
    char *text;
    int rc;

    if ((rc = rp_policy_check(p, NULL, RP_ACT_MANAGE_AUTOMATION, err)) < 0) {
        json_decref(data);
        return rc;
    }
    rp_arena_init(&arena);
    rp_sql_init(&q, &arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT id, object, record_id, state, step, next_at, enrolled_at, updated_at,"
                   " detail FROM rp_journey_enrolment WHERE journey = ");
    rp_sql_param(&q, rp_value_cstr(journey));
    if (state) {
        rp_sql_add(&q, " AND state = ");
        rp_sql_param(&q, rp_value_cstr(state));
    }
    rp_sql_addf(&q, " ORDER BY enrolled_at DESC, id DESC LIMIT %d", ENROL_MAX_LIST);
    c = rp_store_reader_acquire(a->store);
    rc = rp_store_query(c, &q, enrolments_row, data, err);
    rp_store_reader_release(a->store, c);
    doc = json_pack("{so}", "data", data);
    if (rc == 0) {
        text = rp_json_dumps(doc, JSON_COMPACT, err);
        if (text)
            rp_buf_adds(out, text);
        else
            rc = err->code;
        free(text);
    }
    json_decref(doc);
    rp_arena_release(&arena);
    return rc;
}
