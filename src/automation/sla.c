/*
 * The SLA engine (automation.h): business calendars and policies as data, one clock per record
 * and target in rp_sla_clock, driven by the change log with a cursor of its own.
 *
 * A dispatch pass plans on a reader (which policy applies to each changed record, whether it is
 * paused, which targets are met, what the record's due fields say) and applies the plan in one
 * writer unit that also moves the cursor. Every clock update is conditional on the clock still
 * being what the plan read (gen, state, warned); if a timer fired meanwhile the unit fails with
 * RP_ECONFLICT and the pass is planned again. The due fields are then written through the
 * records write path as internal work; they are a copy for people and the UI, the clock is the
 * truth, so a crash before that write only leaves the copy stale until the record's next change.
 *
 * Warnings and breaches are sla.timer jobs, one per clock, schedule (gen) and kind, queued at
 * the warning or due time. A job whose clock moved on (met, paused, stopped, rescheduled) does
 * nothing; the one that fires marks the clock in a unit (warned, or state "breached"), appends
 * an "event" change (op sla.warning or sla.breached) and then performs the target's escalation
 * actions through the action table, with writes keyed by the job, so a retry after a crash
 * performs them without duplicating them and the event is never appended twice.
 */
#include "automation/automation.h"
#include "base/json.h"
#include "automation/automation_int.h"
#include "base/arena.h"
#include "base/calendar.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/sql.h"
#include "base/str.h"
#include "base/uuid.h"
#include "expr/expr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CURSOR_KEY     "sla.cursor"
#define DISPATCH_BATCH 500
#define MAX_POLICIES   100
#define MAX_TARGETS    10
#define MAX_ACTIONS    20
#define MAX_CALENDARS  32
#define PLAN_TRIES     3
#define MINUTE_MS      INT64_C(60000)

/* 24x7: the calendar of a policy that names none. */
static const char always_open[] =
    "{\"time_zone\":\"UTC\",\"hours\":{\"mon\":[[\"00:00\",\"24:00\"]],"
    "\"tue\":[[\"00:00\",\"24:00\"]],\"wed\":[[\"00:00\",\"24:00\"]],"
    "\"thu\":[[\"00:00\",\"24:00\"]],\"fri\":[[\"00:00\",\"24:00\"]],"
    "\"sat\":[[\"00:00\",\"24:00\"]],\"sun\":[[\"00:00\",\"24:00\"]]}}";

static char *text_copy(struct rp_arena *a, const struct rp_value *v)
{
    return v->type == RP_V_TEXT ? rp_arena_strndup(a, v->u.s.p, v->u.s.len) : NULL;
}

static int64_t int_or(const struct rp_value *v, int64_t def)
{
    return v->type == RP_V_NULL ? def : v->u.i;
}

/* ---- definitions ---- */

static int check_condition(const struct rp_meta *m, const struct rp_object *o, const json_t *src,
                           const char *where, struct rp_arena *a, struct rp_error *err)
{
    const char *s = json_string_value(src);
    struct rp_expr *e;
    struct rp_error sub;

    if (!src)
        return 0;
    rp_error_init(&sub, a);
    if (!s || rp_meta_parse_expr(m, o, s, strlen(s), 0, a, &e, &sub) < 0 ||
        rp_expr_type(e) != RP_V_BOOL)
        return rp_error_field(err, RP_EVALIDATION, where, "invalid_expression",
                              "invalid condition: %s",
                              sub.detail ? sub.detail : "it must be a condition");
    return 0;
}

static int check_actions(const struct rp_meta *m, const struct rp_object *o, const json_t *acts,
                         const char *where, struct rp_arena *a, struct rp_error *err)
{
    size_t i;
    json_t *act;

    if (!acts)
        return 0;
    if (!json_is_array(acts) || json_array_size(acts) > MAX_ACTIONS)
        return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                              "\"%s\" must be an array of at most %d actions", where, MAX_ACTIONS);
    json_array_foreach(acts, i, act)
    {
        const char *type = json_string_value(json_object_get(act, "type"));
        const struct rp_action_kind *kind = rp_action_kind(type);
        struct rp_action_check c = {.meta = m,
                                    .object = o,
                                    .record = o,
                                    .where = rp_arena_sprintf(a, "%s[%zu]", where, i),
                                    .arena = a};
        int rc;
        if (!json_is_object(act) || !kind)
            return rp_error_field(err, RP_EVALIDATION, c.where, "unknown_action",
                                  "unknown action type \"%s\"", type ? type : "");
        if ((rc = kind->check(&c, act, err)) < 0)
            return rc;
    }
    return 0;
}

static int check_target(const struct rp_meta *m, const struct rp_object *o, const json_t *t,
                        size_t i, struct rp_arena *a, struct rp_error *err)
{
    static const char *const keys[] = {
        "name",       "minutes",   "due_field", "met_when", "warn_before_minutes",
        "on_warning", "on_breach", NULL};
    const char *p = rp_arena_sprintf(a, "targets[%zu].", i);
    const json_t *minutes = json_object_get(t, "minutes"), *warn;
    const char *due = json_string_value(json_object_get(t, "due_field"));
    int rc;

    if (!json_is_object(t))
        return rp_error_field(err, RP_EVALIDATION, rp_arena_sprintf(a, "targets[%zu]", i),
                              "invalid", "a target is an object");
    if ((rc = rp_json_check_keys(t, keys, "an SLA target", p, err)) < 0)
        return rc;
    if (!rp_str_is_name(json_string_value(json_object_get(t, "name"))))
        return rp_error_field(err, RP_EVALIDATION, rp_arena_sprintf(a, "%sname", p), "invalid",
                              "a target's \"name\" is 1-64 of a-z, 0-9 and '_'");
    if (!json_is_integer(minutes) || json_integer_value(minutes) < 1 ||
        json_integer_value(minutes) > RP_CAL_MAX_MINUTES / 2)
        return rp_error_field(err, RP_EVALIDATION, rp_arena_sprintf(a, "%sminutes", p), "invalid",
                              "\"minutes\" is a whole number of working minutes, 1-%d",
                              RP_CAL_MAX_MINUTES / 2);
    warn = json_object_get(t, "warn_before_minutes");
    if (warn && (!json_is_integer(warn) || json_integer_value(warn) < 1 ||
                 json_integer_value(warn) >= json_integer_value(minutes)))
        return rp_error_field(err, RP_EVALIDATION, rp_arena_sprintf(a, "%swarn_before_minutes", p),
                              "invalid", "\"warn_before_minutes\" is 1 to less than \"minutes\"");
    if (json_object_get(t, "due_field")) {
        const struct rp_field *f = due ? rp_meta_field(o, due) : NULL;
        if (!f || f->system || f->type != RP_F_DATETIME)
            return rp_error_field(err, RP_EVALIDATION, rp_arena_sprintf(a, "%sdue_field", p),
                                  "invalid", "\"due_field\" must name a datetime field of %s",
                                  o->name);
    }
    if ((rc = check_condition(m, o, json_object_get(t, "met_when"),
                              rp_arena_sprintf(a, "%smet_when", p), a, err)) < 0 ||
        (rc = check_actions(m, o, json_object_get(t, "on_warning"),
                            rp_arena_sprintf(a, "%son_warning", p), a, err)) < 0 ||
        (rc = check_actions(m, o, json_object_get(t, "on_breach"),
                            rp_arena_sprintf(a, "%son_breach", p), a, err)) < 0)
        return rc;
    return 0;
}

static int check_policy(const struct rp_meta *m, const json_t *def, bool calendar_exists,
                        struct rp_arena *a, struct rp_error *err)
{
    static const char *const keys[] = {"object",     "criteria", "order",       "calendar",
                                       "pause_when", "targets",  "description", NULL};
    const char *object = json_string_value(json_object_get(def, "object"));
    const struct rp_object *o = object ? rp_meta_object(m, object) : NULL;
    const json_t *targets = json_object_get(def, "targets"), *order = json_object_get(def, "order");
    const json_t *cal = json_object_get(def, "calendar"), *t;
    size_t i;
    int rc;

    if ((rc = rp_json_check_keys(def, keys, "an SLA policy", NULL, err)) < 0)
        return rc;
    if (!o)
        return rp_error_field(err, RP_EVALIDATION, "object", "not_found",
                              "\"object\" must name an object");
    if (order && !json_is_integer(order))
        return rp_error_field(err, RP_EVALIDATION, "order", "invalid", "\"order\" is an integer");
    if (cal && (!json_is_string(cal) || !calendar_exists))
        return rp_error_field(err, RP_EVALIDATION, "calendar", "not_found",
                              "\"calendar\" must name a business calendar");
    if ((rc = check_condition(m, o, json_object_get(def, "criteria"), "criteria", a, err)) < 0 ||
        (rc = check_condition(m, o, json_object_get(def, "pause_when"), "pause_when", a, err)) < 0)
        return rc;
    if (!json_is_array(targets) || json_array_size(targets) == 0 ||
        json_array_size(targets) > MAX_TARGETS)
        return rp_error_field(err, RP_EVALIDATION, "targets", "invalid",
                              "\"targets\" must be an array of 1-%d targets", MAX_TARGETS);
    json_array_foreach(targets, i, t)
    {
        if ((rc = check_target(m, o, t, i, a, err)) < 0)
            return rc;
        for (size_t k = 0; k < i; k++)
            if (json_equal(json_object_get(t, "name"),
                           json_object_get(json_array_get(targets, k), "name")))
                return rp_error_field(
                    err, RP_EVALIDATION, rp_arena_sprintf(a, "targets[%zu].name", i), "duplicate",
                    "two targets are called \"%s\"", json_string_value(json_object_get(t, "name")));
    }
    return 0;
}

/* ---- calendars and policies: named definitions (records.h) ---- */

static int calendar_check(void *ctx, const struct rp_meta *m, const json_t *def,
                          struct rp_arena *arena, struct rp_error *err)
{
    struct rp_calendar cal;
    char *text = rp_json_dumps(def, JSON_COMPACT, err);
    int rc;

    (void)ctx;
    (void)m;
    (void)arena;
    if (!text)
        return err->code;
    if (strlen(text) > RP_CAL_JSON_MAX) {
        free(text);
        return rp_error_set(err, RP_ETOOBIG, "a business calendar is at most %d bytes",
                            RP_CAL_JSON_MAX);
    }
    rp_calendar_init(&cal);
    rc = rp_calendar_parse_json(&cal, text, strlen(text), err);
    rp_calendar_release(&cal);
    free(text);
    return rc;
}

/* A calendar in use stays: its policies would silently fall back to 24x7. */
static int calendar_stored(void *ctx, struct rp_store_conn *c,
                           const struct rp_definition_change *ch, struct rp_error *err)
{
    struct rp_arena a;
    struct rp_sql q;
    bool used = false;
    int rc;

    (void)ctx;
    if (!ch->deleted)
        return 0;
    rp_arena_init(&a);
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT 1 FROM rp_definition WHERE kind = '" RP_DEF_SLA_POLICY "' AND ");
    rp_sql_json_begin(&q);
    rp_sql_add(&q, "definition");
    rp_sql_json_end(&q, "calendar", false);
    rp_sql_add(&q, " = ");
    rp_sql_param(&q, rp_value_cstr(ch->name));
    rc = rp_store_query(c, &q, rp_store_row_exists, &used, err);
    rp_arena_release(&a);
    if (rc == 0 && used)
        rc = rp_error_set(err, RP_ECONFLICT, "business calendar \"%s\" is used by a policy",
                          ch->name);
    return rc;
}

/* Whether a calendar of that name exists, into *found; a failed read is an error, not "no". */
static int calendar_exists(struct rp_automation *a, const char *name, struct rp_arena *arena,
                           bool *found, struct rp_error *err)
{
    struct rp_store_conn *c = rp_store_reader_acquire(a->store);
    struct rp_sql q;
    int rc;

    *found = false;
    rp_sql_init(&q, arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT 1 FROM rp_definition WHERE kind = '" RP_DEF_CALENDAR "' AND name = ");
    rp_sql_param(&q, rp_value_cstr(name ? name : ""));
    rc = rp_store_query(c, &q, rp_store_row_exists, found, err);
    rp_store_reader_release(a->store, c);
    return rc;
}

static int policy_check(void *ctx, const struct rp_meta *m, const json_t *def,
                        struct rp_arena *arena, struct rp_error *err)
{
    bool has_cal = false;
    int rc = calendar_exists(ctx, json_string_value(json_object_get(def, "calendar")), arena,
                             &has_cal, err);

    return rc < 0 ? rc : check_policy(m, def, has_cal, arena, err);
}

/* The engine starts with what happens after the first policy, not the whole log. */
static int policy_stored(void *ctx, struct rp_store_conn *c, const struct rp_definition_change *ch,
                         struct rp_error *err)
{
    struct rp_arena a;
    int rc;

    (void)ctx;
    if (ch->deleted)
        return 0;
    rp_arena_init(&a);
    rc = rp_automation_cursor_start(c, CURSOR_KEY, &a, err);
    rp_arena_release(&a);
    return rc;
}

/* ---- what the engine reads ---- */

struct policy {
    const char *name, *object, *calendar; /* arena */
    json_t *def;                          /* owned */
    const json_t *targets;
};

struct policy_set {
    struct policy items[MAX_POLICIES];
    size_t n;
    struct rp_arena *arena;
};

static int policy_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct policy_set *ps = ctx;
    struct policy *pol;

    if (n < 3 || ps->n == MAX_POLICIES || cols[2].type != RP_V_TEXT)
        return 0;
    pol = &ps->items[ps->n];
    pol->def = rp_json_loadb(cols[2].u.s.p, cols[2].u.s.len, 0, NULL);
    if (!pol->def)
        return 0;
    pol->name = text_copy(ps->arena, &cols[0]);
    pol->object = text_copy(ps->arena, &cols[1]);
    pol->calendar = json_string_value(json_object_get(pol->def, "calendar"));
    pol->targets = json_object_get(pol->def, "targets");
    ps->n++;
    return 0;
}

static void policies_free(struct policy_set *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        json_decref(ps->items[i].def);
    ps->n = 0;
}

/* Every policy, in the order they are tried: "order", then name. */
static int policies_load(struct rp_store_conn *c, struct policy_set *ps, struct rp_error *err)
{
    struct rp_sql q;

    ps->n = 0;
    rp_sql_init(&q, ps->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q,
               "SELECT name, object, definition FROM rp_definition WHERE kind = '" RP_DEF_SLA_POLICY
               "' ORDER BY COALESCE(");
    rp_sql_json_begin(&q);
    rp_sql_add(&q, "definition");
    rp_sql_json_end(&q, "order", true);
    rp_sql_add(&q, ", 0), name");
    return rp_store_query(c, &q, policy_row, ps, err);
}

static const struct policy *policy_named(const struct policy_set *ps, const char *name)
{
    for (size_t i = 0; name && i < ps->n; i++)
        if (strcmp(ps->items[i].name, name) == 0)
            return &ps->items[i];
    return NULL;
}

static const json_t *target_named(const struct policy *pol, const char *name, size_t *index)
{
    size_t i;
    json_t *t;

    json_array_foreach(pol->targets, i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0) {
            if (index)
                *index = i;
            return t;
        }
    }
    return NULL;
}

/* Calendars parsed once per pass (a zone is a file read), by name; "" is 24x7. */
struct calendars {
    char names[MAX_CALENDARS][65];
    struct rp_calendar cals[MAX_CALENDARS];
    size_t n;
};

static void calendars_free(struct calendars *cs)
{
    for (size_t i = 0; i < cs->n; i++)
        rp_calendar_release(&cs->cals[i]);
    cs->n = 0;
}

struct text_out {
    struct rp_arena *a;
    char *text;
};

static int text_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct text_out *x = ctx;
    if (n > 0)
        x->text = text_copy(x->a, &cols[0]);
    return 1;
}

/* Reads on c, the planner's reader: a second reader while holding one could wait for ever. */
static int calendar_get(struct rp_store_conn *c, struct calendars *cs, const char *name,
                        struct rp_arena *arena, const struct rp_calendar **out,
                        struct rp_error *err)
{
    struct text_out t = {.a = arena};
    const char *key = name ? name : "";
    int rc;

    for (size_t i = 0; i < cs->n; i++)
        if (strcmp(cs->names[i], key) == 0) {
            *out = &cs->cals[i];
            return 0;
        }
    if (cs->n == MAX_CALENDARS)
        return rp_error_set(err, RP_EINTERNAL, "too many business calendars in one pass");
    if (name) {
        struct rp_sql q;
        rp_sql_init(&q, arena, rp_store_conn_dialect(c));
        rp_sql_add(&q, "SELECT definition FROM rp_definition WHERE kind = '" RP_DEF_CALENDAR
                       "' AND name = ");
        rp_sql_param(&q, rp_value_cstr(name));
        if ((rc = rp_store_query(c, &q, text_row, &t, err)) < 0)
            return rc;
        if (!t.text)
            return rp_error_set(err, RP_EINVAL, "business calendar \"%s\" not found", name);
    }
    rp_calendar_init(&cs->cals[cs->n]);
    if ((rc = rp_calendar_parse_json(&cs->cals[cs->n], t.text ? t.text : always_open,
                                     strlen(t.text ? t.text : always_open), err)) < 0)
        return rc;
    snprintf(cs->names[cs->n], sizeof(cs->names[cs->n]), "%s", key);
    *out = &cs->cals[cs->n++];
    return 0;
}

/* ---- clocks ---- */

struct clock {
    char object[RP_LIMIT_NAME_BYTES + 1], record_id[40], target[65], policy[65];
    char state[12];
    int64_t started_at, due_at, warn_at, paused_since, paused_ms, gen, breached_at, met_at;
    bool warned;
    const char *warn_job, *breach_job; /* arena, or NULL */
    /* plan */
    bool fresh;      /* not in the table yet */
    bool dirty;      /* to be written */
    int64_t old_gen; /* the update applies only if these still hold */
    char old_state[12];
    bool old_warned;
    const char *due_field; /* the field showing due_at, or NULL */
    int64_t shown;         /* its value in the record; -1: NULL */
};

struct clock_list {
    struct clock *items;
    size_t n, cap;
    struct rp_arena *arena;
};

static struct clock *clock_add(struct clock_list *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct clock *items = rp_arena_calloc(l->arena, cap, sizeof(*items));
        if (l->n)
            memcpy(items, l->items, l->n * sizeof(*items));
        l->items = items;
        l->cap = cap;
    }
    memset(&l->items[l->n], 0, sizeof(l->items[0]));
    l->items[l->n].shown = -1;
    return &l->items[l->n++];
}

#define CLOCK_COLUMNS                                                                      \
    "object, record_id, target, policy, state, started_at, due_at, warn_at, paused_since," \
    " paused_ms, gen, warned, breached_at, met_at, warn_job, breach_job"

static int clock_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct clock_list *l = ctx;
    struct clock *k;

    if (n < 16)
        return 0;
    k = clock_add(l);
    snprintf(k->object, sizeof(k->object), "%.*s", (int)cols[0].u.s.len, cols[0].u.s.p);
    snprintf(k->record_id, sizeof(k->record_id), "%.*s", (int)cols[1].u.s.len, cols[1].u.s.p);
    snprintf(k->target, sizeof(k->target), "%.*s", (int)cols[2].u.s.len, cols[2].u.s.p);
    snprintf(k->policy, sizeof(k->policy), "%.*s", (int)cols[3].u.s.len, cols[3].u.s.p);
    snprintf(k->state, sizeof(k->state), "%.*s", (int)cols[4].u.s.len, cols[4].u.s.p);
    k->started_at = cols[5].u.i;
    k->due_at = cols[6].u.i;
    k->warn_at = int_or(&cols[7], -1);
    k->paused_since = int_or(&cols[8], -1);
    k->paused_ms = cols[9].u.i;
    k->gen = cols[10].u.i;
    k->warned = cols[11].u.i != 0;
    k->breached_at = int_or(&cols[12], -1);
    k->met_at = int_or(&cols[13], -1);
    k->warn_job = text_copy(l->arena, &cols[14]);
    k->breach_job = text_copy(l->arena, &cols[15]);
    k->old_gen = k->gen;
    memcpy(k->old_state, k->state, sizeof(k->state));
    k->old_warned = k->warned;
    return 0;
}

static bool is_live(const struct clock *k)
{
    return strcmp(k->state, "running") == 0 || strcmp(k->state, "paused") == 0;
}

/* Due and warning times: working minutes from the start, plus the working time paused so far
   in whole minutes (rounded down), so a pause moves the deadline by exactly its working time. */
static int schedule(const struct rp_calendar *cal, const json_t *target, struct clock *k,
                    struct rp_error *err)
{
    int64_t minutes =
        json_integer_value(json_object_get(target, "minutes")) + k->paused_ms / MINUTE_MS;
    const json_t *warn = json_object_get(target, "warn_before_minutes");
    int rc;

    if (minutes > RP_CAL_MAX_MINUTES)
        minutes = RP_CAL_MAX_MINUTES;
    k->warn_at = -1;
    if ((rc = rp_calendar_add_minutes(cal, k->started_at, minutes, &k->due_at)) == 0 && warn)
        rc = rp_calendar_add_minutes(cal, k->started_at, minutes - json_integer_value(warn),
                                     &k->warn_at);
    if (rc < 0)
        return rp_error_set(err, rc, "SLA %s of %s %s: no deadline within the calendar's range",
                            k->target, k->object, k->record_id);
    return 0;
}

/* ---- timers ---- */

#define TIMER_WARNING "warning"
#define TIMER_BREACH  "breach"

static int queue_timer(struct rp_store_conn *c, struct rp_automation *a, const struct clock *k,
                       const char *kind, int64_t at, size_t *queued, struct rp_error *err)
{
    json_t *payload =
        json_pack("{sssssssssIsI}", "object", k->object, "record_id", k->record_id, "target",
                  k->target, "kind", kind, "gen", (json_int_t)k->gen, "at", (json_int_t)at);
    char *text = rp_json_dumps(payload, JSON_COMPACT, err), dedup[256];
    bool fresh = false;
    int rc;

    if (!text) {
        json_decref(payload);
        return err->code;
    }
    snprintf(dedup, sizeof(dedup), "sla:%s:%s:%s:%s:%lld:%lld", k->object, k->record_id, k->target,
             kind, (long long)k->gen, (long long)at);
    rc = rp_jobs_enqueue_in(
        c, a->clock,
        &(struct rp_job_spec){
            .kind = RP_SLA_JOB, .payload = text, .run_at = at, .dedup_key = dedup},
        NULL, &fresh, err);
    free(text);
    json_decref(payload);
    if (rc == 0 && fresh && queued)
        (*queued)++;
    return rc;
}

/* The timers of a running clock's current schedule (dedup: queuing twice is harmless). */
static int queue_timers(struct rp_store_conn *c, struct rp_automation *a, const struct clock *k,
                        size_t *queued, struct rp_error *err)
{
    int rc = 0;

    if (strcmp(k->state, "running") != 0)
        return 0;
    if (k->warn_at >= 0 && !k->warned)
        rc = queue_timer(c, a, k, TIMER_WARNING, k->warn_at, queued, err);
    if (rc == 0)
        rc = queue_timer(c, a, k, TIMER_BREACH, k->due_at, queued, err);
    return rc;
}

/* Inside a unit: writes planned clocks, each only if it is still what the plan read. */
static int clocks_apply(struct rp_store_conn *c, struct rp_automation *a, struct clock_list *l,
                        size_t *queued, struct rp_arena *arena, struct rp_error *err)
{
    int64_t now = rp_clock_now_ms(a->clock);

    for (size_t i = 0; i < l->n; i++) {
        struct clock *k = &l->items[i];
        const struct rp_value v[] = {
            rp_value_cstr(k->policy),
            rp_value_cstr(k->state),
            rp_value_int(k->started_at),
            rp_value_int(k->due_at),
            k->warn_at >= 0 ? rp_value_int(k->warn_at) : rp_value_null(),
            k->paused_since >= 0 ? rp_value_int(k->paused_since) : rp_value_null(),
            rp_value_int(k->paused_ms),
            rp_value_int(k->gen),
            rp_value_bool(k->warned),
            k->breached_at >= 0 ? rp_value_int(k->breached_at) : rp_value_null(),
            k->met_at >= 0 ? rp_value_int(k->met_at) : rp_value_null(),
            k->warn_job ? rp_value_cstr(k->warn_job) : rp_value_null(),
            k->breach_job ? rp_value_cstr(k->breach_job) : rp_value_null(),
            rp_value_int(now),
        };
        static const char *const names[] = {
            "policy", "state",  "started_at",  "due_at", "warn_at",  "paused_since", "paused_ms",
            "gen",    "warned", "breached_at", "met_at", "warn_job", "breach_job",   "updated_at"};
        struct rp_sql q;
        int64_t n = 0;
        int rc;

        if (!k->dirty)
            continue;
        rp_sql_init(&q, arena, rp_store_conn_dialect(c));
        if (k->fresh) {
            rp_sql_add(&q, "INSERT INTO rp_sla_clock (object, record_id, target, ");
            for (size_t f = 0; f < 14; f++)
                rp_sql_addf(&q, "%s%s", f ? ", " : "", names[f]);
            rp_sql_add(&q, ") VALUES (");
            rp_sql_param(&q, rp_value_cstr(k->object));
            rp_sql_add(&q, ", ");
            rp_sql_param(&q, rp_value_cstr(k->record_id));
            rp_sql_add(&q, ", ");
            rp_sql_param(&q, rp_value_cstr(k->target));
            for (size_t f = 0; f < 14; f++) {
                rp_sql_add(&q, ", ");
                rp_sql_param(&q, v[f]);
            }
            rp_sql_add(&q, ")");
        } else {
            rp_sql_add(&q, "UPDATE rp_sla_clock SET ");
            for (size_t f = 0; f < 14; f++) {
                rp_sql_addf(&q, "%s%s = ", f ? ", " : "", names[f]);
                rp_sql_param(&q, v[f]);
            }
            rp_sql_add(&q, " WHERE object = ");
            rp_sql_param(&q, rp_value_cstr(k->object));
            rp_sql_add(&q, " AND record_id = ");
            rp_sql_param(&q, rp_value_cstr(k->record_id));
            rp_sql_add(&q, " AND target = ");
            rp_sql_param(&q, rp_value_cstr(k->target));
            rp_sql_add(&q, " AND gen = ");
            rp_sql_param(&q, rp_value_int(k->old_gen));
            rp_sql_add(&q, " AND state = ");
            rp_sql_param(&q, rp_value_cstr(k->old_state));
            rp_sql_add(&q, " AND warned = ");
            rp_sql_param(&q, rp_value_bool(k->old_warned));
        }
        if ((rc = rp_store_exec(c, &q, &n, err)) < 0)
            return rc;
        if (n == 0)
            return rp_error_set(err, RP_ECONFLICT, "an SLA clock changed while it was planned");
        if ((rc = queue_timers(c, a, k, queued, err)) < 0)
            return rc;
    }
    return 0;
}

/* ---- planning ---- */

/* A changed record and what the policies of its object say about it now. */
struct rec {
    char id[40];
    int64_t at; /* of its latest change in the batch: when pauses and starts happen */
};

/* One policy's view of one record. */
struct verdict {
    bool found, criteria, pause;
    bool met[MAX_TARGETS];
    int64_t shown[MAX_TARGETS]; /* due field values; -1: NULL */
};

struct plan {
    struct rp_automation *a;
    const struct rp_meta *m;
    struct rp_arena *arena;
    struct policy_set *ps;
    struct calendars *cals;
    struct rp_store_conn *c; /* the reader the plan is made on */
    int64_t now;
    /* options of start_sla */
    const char *force_policy; /* start this policy, whatever its criteria */
    bool restart;             /* start targets again that are met, breached or stopped */
    /* out */
    struct clock_list clocks;
};

struct verdict_rows {
    const struct rec *recs;
    size_t nrec, ntargets;
    struct verdict *v; /* one per record */
};

static int verdict_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct verdict_rows *x = ctx;

    if (n < 3 + 2 * x->ntargets || cols[0].type != RP_V_TEXT)
        return 0;
    for (size_t i = 0; i < x->nrec; i++) {
        struct verdict *v = &x->v[i];
        if (strlen(x->recs[i].id) != cols[0].u.s.len ||
            memcmp(x->recs[i].id, cols[0].u.s.p, cols[0].u.s.len) != 0)
            continue;
        v->found = true;
        v->criteria = cols[1].u.i != 0;
        v->pause = cols[2].u.i != 0;
        for (size_t t = 0; t < x->ntargets; t++) {
            v->met[t] = cols[3 + t].u.i != 0;
            v->shown[t] = int_or(&cols[3 + x->ntargets + t], -1);
        }
    }
    return 0;
}

static int add_condition(struct rp_sql *q, const struct plan *pl, const struct rp_object *o,
                         const char *src, const char *absent, struct rp_error *err)
{
    struct rp_expr *e;
    int rc;

    if (!src) {
        rp_sql_addf(q, ", %s", absent);
        return 0;
    }
    if ((rc = rp_meta_parse_expr(pl->m, o, src, strlen(src), pl->now, pl->arena, &e, err)) < 0)
        return rc;
    rp_sql_add(q, ", CASE WHEN (");
    if ((rc = rp_expr_compile_sql(e, q, err)) < 0)
        return rc;
    rp_sql_add(q, ") THEN 1 ELSE 0 END");
    return 0;
}

/* What one policy says of every record, in one query over them (a deleted one is not found). */
static int policy_verdicts(struct rp_store_conn *c, const struct plan *pl,
                           const struct rp_object *o, const struct policy *pol,
                           const struct rec *recs, size_t nrec, struct verdict *v,
                           struct rp_error *err)
{
    struct verdict_rows x = {recs, nrec, json_array_size(pol->targets), v};
    struct rp_sql q;
    size_t i;
    json_t *t;
    int rc;

    rp_sql_init(&q, pl->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT \"t\".\"id\"");
    if ((rc = add_condition(&q, pl, o, json_string_value(json_object_get(pol->def, "criteria")),
                            "1", err)) < 0 ||
        (rc = add_condition(&q, pl, o, json_string_value(json_object_get(pol->def, "pause_when")),
                            "0", err)) < 0)
        return rc;
    json_array_foreach(pol->targets, i, t)
    {
        if ((rc = add_condition(&q, pl, o, json_string_value(json_object_get(t, "met_when")), "0",
                                err)) < 0)
            return rc;
    }
    json_array_foreach(pol->targets, i, t)
    {
        const char *f = json_string_value(json_object_get(t, "due_field"));
        if (f && rp_meta_field(o, f))
            rp_sql_addf(&q, ", \"t\".\"%s\"", f);
        else
            rp_sql_add(&q, ", NULL");
    }
    rp_sql_addf(&q,
                " FROM \"%s\" AS \"t\" WHERE \"t\".\"deleted_at\" IS NULL AND \"t\".\"id\" IN (",
                o->name);
    for (size_t r = 0; r < nrec; r++) {
        rp_sql_add(&q, r ? ", " : "");
        rp_sql_param(&q, rp_value_cstr(recs[r].id));
    }
    rp_sql_add(&q, ")");
    return rp_store_query(c, &q, verdict_row, &x, err);
}

static int clocks_load(struct rp_store_conn *c, struct plan *pl, const struct rp_object *o,
                       const struct rec *recs, size_t nrec, struct rp_error *err)
{
    struct rp_sql q;

    rp_sql_init(&q, pl->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT " CLOCK_COLUMNS " FROM rp_sla_clock WHERE object = ");
    rp_sql_param(&q, rp_value_cstr(o->name));
    rp_sql_add(&q, " AND record_id IN (");
    for (size_t r = 0; r < nrec; r++) {
        rp_sql_add(&q, r ? ", " : "");
        rp_sql_param(&q, rp_value_cstr(recs[r].id));
    }
    rp_sql_add(&q, ") ORDER BY record_id, target");
    return rp_store_query(c, &q, clock_row, &pl->clocks, err);
}

/* The working time of k's running pause up to instant at. */
static int paused_working_ms(const struct rp_calendar *cal, const struct clock *k, int64_t at,
                             int64_t *ms, struct rp_error *err)
{
    if (rp_calendar_elapsed(cal, k->paused_since, at, ms) < 0)
        return rp_error_set(err, RP_EINVAL, "SLA %s of %s %s: a pause outside the calendar's range",
                            k->target, k->object, k->record_id);
    return 0;
}

/* Moves clock k of a record at instant at to what its policy's verdict v says. */
static int clock_judge(struct plan *pl, struct clock *k, const struct policy *pol,
                       const struct verdict *v, int64_t at, struct rp_error *err)
{
    size_t ti = 0;
    const json_t *t = target_named(pol, k->target, &ti);
    const struct rp_calendar *cal = NULL; /* set by calendar_get; GCC -O2 cannot tell */
    int64_t due = k->due_at, warn = k->warn_at;
    bool resched = k->fresh || strcmp(k->policy, pol->name) != 0;
    int rc;

    if (!t)
        return 0;
    if ((rc = calendar_get(pl->c, pl->cals, pol->calendar, pl->arena, &cal, err)) < 0)
        return rc;
    snprintf(k->policy, sizeof(k->policy), "%s", pol->name);
    k->due_field = json_string_value(json_object_get(t, "due_field"));
    k->shown = v->shown[ti];
    if (strcmp(k->state, "breached") == 0) {
        if (v->met[ti] && k->met_at < 0)
            k->met_at = at; /* late, but kept for reporting */
        return 0;
    }
    if (!is_live(k))
        return 0;
    if (v->met[ti] || v->pause) {
        if (strcmp(k->state, "running") == 0 && !v->met[ti]) {
            memcpy(k->state, "paused", sizeof("paused"));
            k->paused_since = at;
        }
    } else if (strcmp(k->state, "paused") == 0) {
        int64_t ms = 0;
        if ((rc = paused_working_ms(cal, k, at, &ms, err)) < 0)
            return rc;
        k->paused_ms += ms;
        k->paused_since = -1;
        memcpy(k->state, "running", sizeof("running"));
        /* A resumed clock gets timers of its own even when the pause took no working time
           (a timer that came due while it was paused found it paused and did nothing). */
        k->gen++;
        resched = true;
    }
    if (v->met[ti]) {
        if (k->paused_since >= 0) {
            int64_t ms = 0;
            if ((rc = paused_working_ms(cal, k, at, &ms, err)) < 0)
                return rc;
            k->paused_ms += ms;
            k->paused_since = -1;
        }
        memcpy(k->state, "met", sizeof("met"));
        k->met_at = at;
        return 0;
    }
    if ((rc = schedule(cal, t, k, err)) < 0)
        return rc;
    if (!resched && (k->due_at != due || k->warn_at != warn))
        k->gen++;
    return 0;
}

static bool clock_differs(const struct clock *k, const struct clock *before)
{
    return k->fresh || strcmp(k->policy, before->policy) != 0 ||
           strcmp(k->state, before->state) != 0 || k->due_at != before->due_at ||
           k->warn_at != before->warn_at || k->paused_since != before->paused_since ||
           k->paused_ms != before->paused_ms || k->gen != before->gen ||
           k->met_at != before->met_at || k->warned != before->warned;
}

/* A clock of target t of pol starting at instant at (or starting again, when k is given). */
static void clock_start(struct clock *k, const struct rp_object *o, const char *record_id,
                        const struct policy *pol, const json_t *t, int64_t at)
{
    int64_t gen = k->gen + (k->fresh ? 0 : 1);
    bool fresh = k->fresh;
    struct clock keep = *k;

    memset(k, 0, sizeof(*k));
    snprintf(k->object, sizeof(k->object), "%s", o->name);
    snprintf(k->record_id, sizeof(k->record_id), "%s", record_id);
    snprintf(k->target, sizeof(k->target), "%s", json_string_value(json_object_get(t, "name")));
    snprintf(k->policy, sizeof(k->policy), "%s", pol->name);
    memcpy(k->state, "running", sizeof("running"));
    k->started_at = at;
    k->paused_since = k->breached_at = k->met_at = k->warn_at = -1;
    k->gen = gen;
    k->fresh = fresh;
    k->shown = -1;
    k->old_gen = keep.old_gen;
    memcpy(k->old_state, keep.old_state, sizeof(k->old_state));
    k->old_warned = keep.old_warned;
}

/*
 * Plans the clocks of nrec changed records of object o: the first policy by order whose
 * criteria hold applies; its missing targets start; live clocks pause, resume, are met or
 * move to the applying policy's target of the same name; clocks of records that are gone stop.
 */
static int plan_object(struct rp_store_conn *c, struct plan *pl, const struct rp_object *o,
                       const struct rec *recs, size_t nrec, struct rp_error *err)
{
    size_t np = 0, first = pl->clocks.n, nclock;
    const struct policy **pols = rp_arena_calloc(pl->arena, pl->ps->n + 1, sizeof(*pols));
    struct verdict *v;
    struct clock *before;
    int rc;

    pl->c = c;
    for (size_t i = 0; i < pl->ps->n; i++)
        if (strcmp(pl->ps->items[i].object, o->name) == 0)
            pols[np++] = &pl->ps->items[i];
    if (np == 0 || nrec == 0)
        return 0;
    v = rp_arena_calloc(pl->arena, nrec * np, sizeof(*v));
    for (size_t j = 0; j < np; j++)
        if ((rc = policy_verdicts(c, pl, o, pols[j], recs, nrec, &v[j * nrec], err)) < 0)
            return rc;
    if ((rc = clocks_load(c, pl, o, recs, nrec, err)) < 0)
        return rc;
    nclock = pl->clocks.n;
    before = rp_arena_calloc(pl->arena, nclock - first + 1, sizeof(*before));
    if (nclock > first)
        memcpy(before, &pl->clocks.items[first], (nclock - first) * sizeof(*before));
    for (size_t r = 0; r < nrec; r++) {
        const struct policy *chosen = NULL;
        const struct verdict *cv = NULL;
        size_t ci = 0;
        bool found = false;

        for (size_t j = 0; j < np; j++) {
            const struct verdict *vj = &v[j * nrec + r];
            found = found || vj->found;
            if (!chosen && vj->found &&
                (pl->force_policy ? strcmp(pols[j]->name, pl->force_policy) == 0 : vj->criteria)) {
                chosen = pols[j];
                cv = vj;
                ci = j;
            }
        }
        /* The record's clocks: pause, resume, met, or moved to the applying policy. */
        for (size_t i = first; i < nclock; i++) {
            struct clock *k = &pl->clocks.items[i];
            const struct policy *own = NULL;
            size_t oi = 0;
            if (strcmp(k->record_id, recs[r].id) != 0)
                continue;
            if (!found) {
                if (is_live(k)) {
                    memcpy(k->state, "stopped", sizeof("stopped"));
                    k->paused_since = -1;
                    k->gen++;
                }
                continue;
            }
            if (chosen && target_named(chosen, k->target, NULL)) {
                own = chosen;
                oi = ci;
            } else {
                for (size_t j = 0; j < np && !own; j++)
                    if (strcmp(pols[j]->name, k->policy) == 0) {
                        own = pols[j];
                        oi = j;
                    }
            }
            if (!own || !v[oi * nrec + r].found)
                continue; /* its policy is gone: the clock stays as it is */
            if (pl->restart && own == chosen && !is_live(k))
                clock_start(k, o, recs[r].id, chosen, target_named(chosen, k->target, NULL),
                            recs[r].at);
            if ((rc = clock_judge(pl, k, own, &v[oi * nrec + r], recs[r].at, err)) < 0)
                return rc;
        }
        if (!chosen)
            continue;
        /* Targets of the applying policy with no clock yet start now. */
        {
            size_t ti;
            json_t *t;
            json_array_foreach(chosen->targets, ti, t)
            {
                const char *name = json_string_value(json_object_get(t, "name"));
                bool has = false;
                struct clock *k;
                for (size_t i = first; i < nclock && !has; i++)
                    has = strcmp(pl->clocks.items[i].record_id, recs[r].id) == 0 &&
                          strcmp(pl->clocks.items[i].target, name) == 0;
                if (has)
                    continue;
                k = clock_add(&pl->clocks);
                k->fresh = true;
                clock_start(k, o, recs[r].id, chosen, t, recs[r].at);
                if ((rc = clock_judge(pl, k, chosen, cv, recs[r].at, err)) < 0)
                    return rc;
            }
        }
    }
    /* What changed, against the rows as read. */
    for (size_t i = first; i < pl->clocks.n; i++) {
        struct clock *k = &pl->clocks.items[i];
        k->dirty = k->fresh || i >= nclock || clock_differs(k, &before[i - first]);
    }
    return 0;
}

/* ---- dispatching ---- */

struct change_rows {
    struct {
        char object[RP_LIMIT_NAME_BYTES + 1];
        char id[40];
        int64_t at;
    } items[DISPATCH_BATCH];
    size_t n;
    int64_t last;
};

static int change_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct change_rows *x = ctx;

    if (n < 4 || x->n == DISPATCH_BATCH)
        return 0;
    x->last = cols[0].u.i;
    snprintf(x->items[x->n].object, sizeof(x->items[x->n].object), "%.*s", (int)cols[1].u.s.len,
             cols[1].u.s.p);
    snprintf(x->items[x->n].id, sizeof(x->items[x->n].id), "%.*s", (int)cols[2].u.s.len,
             cols[2].u.s.p);
    x->items[x->n].at = cols[3].u.i;
    x->n++;
    return 0;
}

struct apply_unit {
    struct rp_automation *a;
    struct plan *pl;
    int64_t cursor, next; /* cursor < 0: not a dispatch (an action) */
    size_t queued;        /* out */
    bool moved;           /* out: another process moved the cursor first */
};

static int apply_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct apply_unit *x = ctx;
    struct rp_arena a;
    struct rp_sql q;
    int rc;

    rp_arena_init(&a);
    x->queued = 0;
    x->moved = false;
    if (x->cursor >= 0) {
        int64_t cur = -1;
        rp_sql_init(&q, &a, rp_store_conn_dialect(c));
        rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = '" CURSOR_KEY "'");
        if ((rc = rp_store_query(c, &q, rp_store_row_int, &cur, err)) < 0)
            goto out;
        if (cur != x->cursor) {
            x->moved = true;
            goto out;
        }
    }
    if ((rc = clocks_apply(c, x->a, &x->pl->clocks, &x->queued, &a, err)) < 0)
        goto out;
    if (x->cursor >= 0) {
        rp_sql_init(&q, &a, rp_store_conn_dialect(c));
        rp_sql_add(&q, "UPDATE rp_setting SET value = ");
        rp_sql_param(&q, rp_value_cstr(rp_arena_sprintf(&a, "%lld", (long long)x->next)));
        rp_sql_add(&q, " WHERE key = '" CURSOR_KEY "'");
        rc = rp_store_exec(c, &q, NULL, err);
    }
out:
    rp_arena_release(&a);
    return rc;
}

/* Shows the planned due times in the records' due fields, as internal work. */
static void show_due(struct rp_automation *a, const struct plan *pl)
{
    for (size_t i = 0; i < pl->clocks.n; i++) {
        const struct clock *k = &pl->clocks.items[i];
        struct rp_arena arena;
        struct rp_buf b;
        struct rp_value due;
        struct rp_error err;
        json_t *data;
        struct rp_write w = {.op = RP_WRITE_UPDATE, .id = k->record_id, .if_match = -1};
        struct rp_write_request wr = {
            .principal = &a->actor, .object = k->object, .writes = &w, .nwrites = 1, .err = &err};

        if (!k->due_field || !is_live(k) || k->shown == k->due_at)
            continue;
        rp_arena_init(&arena);
        rp_error_init(&err, &arena);
        rp_buf_init(&b, &arena, 64);
        due = rp_value_typed_int(RP_V_DATETIME, k->due_at);
        rp_value_to_json(&b, &due);
        data = json_object();
        json_object_set_new(data, k->due_field,
                            rp_json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL));
        w.data = data;
        wr.arena = &arena;
        if (rp_records_write(a->records, &wr) < 0 || w.status >= 400)
            rp_log_warn("SLA of %s %s: \"%s\" was not written: %s", k->object, k->record_id,
                        k->due_field,
                        w.status >= 400 && w.err.detail ? w.err.detail
                        : err.detail                    ? err.detail
                                                        : "?");
        rp_records_request_release(&wr);
        json_decref(data);
        rp_arena_release(&arena);
    }
}

/* Plans the records of rows, object by object, on a reader. */
static int plan_rows(struct plan *pl, const struct change_rows *rows, struct rp_error *err)
{
    struct rp_store_conn *c = rp_store_reader_acquire(pl->a->store);
    struct rec *recs = rp_arena_calloc(pl->arena, rows->n + 1, sizeof(*recs));
    bool *done = rp_arena_calloc(pl->arena, rows->n + 1, sizeof(bool));
    int rc = 0;

    for (size_t i = 0; i < rows->n && rc == 0; i++) {
        const struct rp_object *o;
        size_t nrec = 0;
        if (done[i])
            continue;
        o = rp_meta_object(pl->m, rows->items[i].object);
        for (size_t j = i; j < rows->n; j++) {
            size_t r;
            if (strcmp(rows->items[j].object, rows->items[i].object) != 0)
                continue;
            done[j] = true;
            for (r = 0; r < nrec && strcmp(recs[r].id, rows->items[j].id) != 0; r++)
                ;
            if (r == nrec)
                snprintf(recs[nrec++].id, sizeof(recs[0].id), "%s", rows->items[j].id);
            recs[r].at = rows->items[j].at; /* rows are in seq order: the latest wins */
        }
        if (o)
            rc = plan_object(c, pl, o, recs, nrec, err);
    }
    rp_store_reader_release(pl->a->store, c);
    return rc;
}

static void plan_init(struct plan *pl, struct rp_automation *a, const struct rp_meta *m,
                      struct policy_set *ps, struct calendars *cals, struct rp_arena *arena)
{
    memset(pl, 0, sizeof(*pl));
    pl->a = a;
    pl->m = m;
    pl->ps = ps;
    pl->cals = cals;
    pl->arena = arena;
    pl->now = rp_clock_now_ms(a->clock);
    pl->clocks.arena = arena;
}

/* One batch: reads the changes after the cursor, plans, applies; *more if the batch was full. */
static int dispatch_batch(struct rp_automation *a, const struct rp_meta *m, size_t *queued,
                          bool *more, struct rp_error *err)
{
    struct policy_set *ps = rp_xcalloc(1, sizeof(*ps));
    struct calendars *cals = rp_xcalloc(1, sizeof(*cals));
    struct change_rows *rows = rp_xcalloc(1, sizeof(*rows));
    struct apply_unit x = {.a = a};
    struct rp_store_conn *c;
    struct rp_arena arena;
    struct plan pl;
    struct rp_sql q;
    int64_t cursor = -1, end = 0;
    int rc;

    *more = false;
    rp_arena_init(&arena);
    ps->arena = &arena;
    c = rp_store_reader_acquire(a->store);
    rp_sql_init(&q, &arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = '" CURSOR_KEY "'");
    rc = rp_store_query(c, &q, rp_store_row_int, &cursor, err);
    if (rc == 0 && cursor >= 0) {
        rp_sql_init(&q, &arena, RP_SQL_SQLITE);
        rp_sql_add(&q, "SELECT COALESCE(MAX(seq), 0) FROM rp_change");
        rc = rp_store_query(c, &q, rp_store_row_int, &end, err);
    }
    if (rc == 0 && cursor >= 0 && end > cursor)
        rc = policies_load(c, ps, err);
    if (rc == 0 && cursor >= 0 && end > cursor && ps->n > 0) {
        /* Only the objects of policies matter; the cursor still moves over the rest. */
        rp_sql_init(&q, &arena, RP_SQL_SQLITE);
        rp_sql_add(&q, "SELECT seq, object, record_id, at FROM rp_change WHERE seq > ");
        rp_sql_param(&q, rp_value_int(cursor));
        rp_sql_add(&q, " AND seq <= ");
        rp_sql_param(&q, rp_value_int(end));
        rp_sql_add(
            &q, " AND object IN (SELECT object FROM rp_definition WHERE kind = '" RP_DEF_SLA_POLICY
                "') ORDER BY seq LIMIT ");
        rp_sql_param(&q, rp_value_int(DISPATCH_BATCH));
        rc = rp_store_query(c, &q, change_row, rows, err);
    }
    rp_store_reader_release(a->store, c);
    if (rc < 0 || cursor < 0 || end <= cursor)
        goto out;
    if (rows->n == DISPATCH_BATCH) {
        end = rows->last;
        *more = true;
    }
    for (int tries = 0;; tries++) {
        plan_init(&pl, a, m, ps, cals, &arena);
        if ((rc = plan_rows(&pl, rows, err)) < 0)
            goto out;
        x.pl = &pl;
        x.cursor = cursor;
        x.next = end;
        rc = rp_store_write(a->store, apply_run, &x, err);
        if (rc != RP_ECONFLICT || tries + 1 == PLAN_TRIES)
            break;
        rp_error_init(err, err->_arena); /* a timer fired meanwhile: plan again */
    }
    if (rc < 0)
        goto out;
    if (x.moved) {
        *more = false; /* another process dispatched this batch */
        goto out;
    }
    show_due(a, &pl);
    if (queued)
        *queued += x.queued;
    if (x.queued)
        rp_jobs_wake(a->jobs);
out:
    calendars_free(cals);
    policies_free(ps);
    free(cals);
    free(ps);
    free(rows);
    rp_arena_release(&arena);
    return rc;
}

int rp_sla_dispatch(struct rp_automation *a, size_t *queued, struct rp_error *err)
{
    struct rp_meta *m = rp_meta_acquire(a->meta);
    bool more = true;
    int rc = 0;

    if (queued)
        *queued = 0;
    while (rc == 0 && more)
        rc = dispatch_batch(a, m, queued, &more, err);
    rp_meta_release(m);
    return rc;
}

/* ---- the timer job ---- */

static int clock_get(struct rp_automation *a, const char *object, const char *record_id,
                     const char *target, struct clock_list *l, struct rp_error *err)
{
    struct rp_store_conn *c = rp_store_reader_acquire(a->store);
    struct rp_sql q;
    int rc;

    rp_sql_init(&q, l->arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT " CLOCK_COLUMNS " FROM rp_sla_clock WHERE object = ");
    rp_sql_param(&q, rp_value_cstr(object));
    rp_sql_add(&q, " AND record_id = ");
    rp_sql_param(&q, rp_value_cstr(record_id));
    rp_sql_add(&q, " AND target = ");
    rp_sql_param(&q, rp_value_cstr(target));
    rc = rp_store_query(c, &q, clock_row, l, err);
    rp_store_reader_release(a->store, c);
    return rc;
}

struct fire_unit {
    struct rp_automation *a;
    const struct clock *k;
    const char *job_id;
    bool warning;
    int64_t now;
    bool fired; /* out: this job marked the clock (now or in an earlier attempt) */
};

/* Marks the clock fired by this job and appends the event, once: a retried job finds its own
   id in the clock and only reports that it fired. */
static int fire_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct fire_unit *x = ctx;
    const struct clock *k = x->k;
    const char *col = x->warning ? "warn_job" : "breach_job";
    struct rp_arena a;
    struct rp_sql q;
    bool mine = false;
    int64_t n = 0;
    int rc;

    x->fired = false;
    rp_arena_init(&a);
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    rp_sql_addf(&q, "SELECT 1 FROM rp_sla_clock WHERE %s = ", col);
    rp_sql_param(&q, rp_value_cstr(x->job_id));
    rp_sql_add(&q, " AND object = ");
    rp_sql_param(&q, rp_value_cstr(k->object));
    rp_sql_add(&q, " AND record_id = ");
    rp_sql_param(&q, rp_value_cstr(k->record_id));
    rp_sql_add(&q, " AND target = ");
    rp_sql_param(&q, rp_value_cstr(k->target));
    if ((rc = rp_store_query(c, &q, rp_store_row_exists, &mine, err)) < 0)
        goto out;
    if (mine) {
        x->fired = true;
        goto out;
    }
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    if (x->warning) {
        rp_sql_add(&q, "UPDATE rp_sla_clock SET warned = 1, warn_job = ");
        rp_sql_param(&q, rp_value_cstr(x->job_id));
    } else {
        rp_sql_add(&q, "UPDATE rp_sla_clock SET state = 'breached', breached_at = ");
        rp_sql_param(&q, rp_value_int(x->now));
        rp_sql_add(&q, ", breach_job = ");
        rp_sql_param(&q, rp_value_cstr(x->job_id));
    }
    rp_sql_add(&q, ", updated_at = ");
    rp_sql_param(&q, rp_value_int(x->now));
    rp_sql_add(&q, " WHERE object = ");
    rp_sql_param(&q, rp_value_cstr(k->object));
    rp_sql_add(&q, " AND record_id = ");
    rp_sql_param(&q, rp_value_cstr(k->record_id));
    rp_sql_add(&q, " AND target = ");
    rp_sql_param(&q, rp_value_cstr(k->target));
    rp_sql_add(&q, " AND gen = ");
    rp_sql_param(&q, rp_value_int(k->gen));
    rp_sql_add(&q, " AND state = 'running'");
    if (x->warning)
        rp_sql_add(&q, " AND warned = 0");
    if ((rc = rp_store_exec(c, &q, &n, err)) < 0 || n == 0)
        goto out; /* met, paused, stopped or rescheduled meanwhile */
    x->fired = true;
    {
        struct rp_value due = rp_value_typed_int(RP_V_DATETIME, k->due_at);
        struct rp_buf b;
        char event_id[40];
        const char *op = x->warning ? "sla.warning" : "sla.breached";
        const char *changes;
        rp_buf_init(&b, &a, 4096);
        rp_buf_adds(&b, "{\"record_id\":");
        rp_buf_add_json_str(&b, k->record_id, strlen(k->record_id));
        rp_buf_adds(&b, ",\"data\":{\"object\":");
        rp_buf_add_json_str(&b, k->object, strlen(k->object));
        rp_buf_adds(&b, ",\"record_id\":");
        rp_buf_add_json_str(&b, k->record_id, strlen(k->record_id));
        rp_buf_adds(&b, ",\"policy\":");
        rp_buf_add_json_str(&b, k->policy, strlen(k->policy));
        rp_buf_adds(&b, ",\"target\":");
        rp_buf_add_json_str(&b, k->target, strlen(k->target));
        rp_buf_adds(&b, ",\"due_at\":");
        rp_value_to_json(&b, &due);
        rp_buf_adds(&b, "}}");
        changes = b.data;
        rp_uuid_v7(event_id, x->now);
        {
            const struct rp_value change[] = {rp_value_int(x->now),        rp_value_cstr("event"),
                                              rp_value_cstr(event_id),     rp_value_cstr(op),
                                              rp_value_cstr("automation"), rp_value_cstr(changes)};
            rp_sql_init(&q, &a, rp_store_conn_dialect(c));
            rp_sql_add(&q,
                       "INSERT INTO rp_change (at, object, record_id, op, actor, changes) VALUES ");
            rp_sql_param_list(&q, change, sizeof(change) / sizeof(change[0]));
            rc = rp_store_exec(c, &q, NULL, err);
        }
    }
out:
    rp_arena_release(&a);
    return rc;
}

/* The escalation actions of a fired timer, through the rule action table as "sla:<policy>". */
static int run_escalation(struct rp_automation *a, const struct rp_job *job, const struct clock *k,
                          const json_t *acts, struct rp_arena *arena, struct rp_error *err)
{
    struct rp_meta *m = rp_meta_acquire(a->meta);
    const char *rule = rp_arena_sprintf(arena, "sla:%s", k->policy);
    struct rp_action_run x = {.a = a,
                              .job = job,
                              .rule = rule,
                              .meta = m,
                              .object = rp_meta_object(m, k->object),
                              .record_id = k->record_id,
                              .arena = arena};
    json_t *cause = json_pack("{sssiss}", "rule", rule, "depth", 1, "record_id", k->record_id);
    char *text = rp_json_dumps(cause, JSON_COMPACT, err);
    json_t *act;
    int rc = 0;

    x.cause = text ? rp_arena_strdup(arena, text) : NULL;
    free(text);
    json_decref(cause);
    if (!x.cause) {
        rc = err->code;
        goto out;
    }
    if (!x.object) {
        rc = rp_error_set(err, RP_EINVAL, "object \"%s\" no longer exists", k->object);
        goto out;
    }
    json_array_foreach(acts, x.index, act)
    {
        const char *type = json_string_value(json_object_get(act, "type"));
        const struct rp_action_kind *kind = rp_action_kind(type);
        rc = kind ? kind->run(&x, act, err)
                  : rp_error_set(err, RP_EINVAL, "unknown action type \"%s\"", type);
        if (rc < 0) {
            rp_log_warn("SLA %s of %s %s: escalation action %zu (%s) failed: %s", k->target,
                        k->object, k->record_id, x.index, type ? type : "?",
                        err->detail ? err->detail : "?");
            break;
        }
    }
out:
    rp_meta_release(m);
    return rc;
}

struct requeue_unit {
    struct rp_automation *a;
    const struct clock *k;
};

static int requeue_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct requeue_unit *x = ctx;
    return queue_timers(c, x->a, x->k, NULL, err);
}

static int timer_job(void *ctx, const struct rp_job *job, struct rp_error *err)
{
    struct rp_automation *a = ctx;
    json_t *payload = rp_json_loads(job->payload, 0, NULL);
    const char *object = json_string_value(json_object_get(payload, "object"));
    const char *record_id = json_string_value(json_object_get(payload, "record_id"));
    const char *target = json_string_value(json_object_get(payload, "target"));
    const char *kind = json_string_value(json_object_get(payload, "kind"));
    int64_t gen = json_integer_value(json_object_get(payload, "gen"));
    bool warning = kind && strcmp(kind, TIMER_WARNING) == 0;
    struct policy_set *ps = rp_xcalloc(1, sizeof(*ps));
    struct rp_arena arena;
    struct clock_list l;
    struct fire_unit fu = {.a = a, .job_id = job->id, .warning = warning};
    const struct clock *k;
    const struct policy *pol;
    const json_t *t;
    int64_t at;
    int rc;

    rp_arena_init(&arena);
    memset(&l, 0, sizeof(l));
    l.arena = &arena;
    ps->arena = &arena;
    if (!object || !record_id || !target || !kind) {
        rc = rp_error_set(err, RP_EINVAL, "an SLA timer names its clock");
        goto out;
    }
    if ((rc = clock_get(a, object, record_id, target, &l, err)) < 0 || l.n == 0)
        goto out;
    k = &l.items[0];
    fu.k = k;
    fu.now = rp_clock_now_ms(a->clock);
    at = warning ? k->warn_at : k->due_at;
    /* A timer of an older schedule, or early: the current schedule's timers are queued (again:
       the dedup key makes that a no-op when the planner did it) and this one is done. A retry
       of the job that fired goes on to its actions. */
    if (!(warning ? k->warn_job && strcmp(k->warn_job, job->id) == 0
                  : k->breach_job && strcmp(k->breach_job, job->id) == 0) &&
        (k->gen != gen || at > fu.now)) {
        struct requeue_unit x = {a, k};
        rc = strcmp(k->state, "running") == 0 ? rp_store_write(a->store, requeue_run, &x, err) : 0;
        goto out;
    }
    if ((rc = rp_store_write(a->store, fire_run, &fu, err)) < 0 || !fu.fired)
        goto out;
    {
        struct rp_store_conn *c = rp_store_reader_acquire(a->store);
        rc = policies_load(c, ps, err);
        rp_store_reader_release(a->store, c);
    }
    if (rc < 0)
        goto out;
    pol = policy_named(ps, k->policy);
    t = pol ? target_named(pol, k->target, NULL) : NULL;
    if (t)
        rc = run_escalation(a, job, k, json_object_get(t, warning ? "on_warning" : "on_breach"),
                            &arena, err);
out:
    policies_free(ps);
    free(ps);
    json_decref(payload);
    rp_arena_release(&arena);
    return rc;
}

void rp_sla_register(struct rp_automation *a)
{
    rp_jobs_register(a->jobs, RP_SLA_JOB, timer_job, a, 0);
    rp_records_definition_kind_add(
        a->records, &(struct rp_definition_kind){.kind = RP_DEF_CALENDAR,
                                                 .noun = "business calendar",
                                                 .permission = RP_ACT_MANAGE_AUTOMATION,
                                                 .check = calendar_check,
                                                 .stored = calendar_stored,
                                                 .ctx = a});
    rp_records_definition_kind_add(
        a->records, &(struct rp_definition_kind){.kind = RP_DEF_SLA_POLICY,
                                                 .noun = "SLA policy",
                                                 .permission = RP_ACT_MANAGE_AUTOMATION,
                                                 .check = policy_check,
                                                 .stored = policy_stored,
                                                 .ctx = a});
}

/* ---- start_sla and stop_sla, actions of rules ---- */

int rp_sla_start_check(const struct rp_action_check *c, const json_t *act, struct rp_error *err)
{
    const json_t *pol = json_object_get(act, "policy");

    static const char *const keys[] = {"type", "policy", NULL};

    if (rp_json_check_keys(act, keys, "start_sla", c->where, err) < 0)
        return err->code;
    if (pol && !rp_str_is_name(json_string_value(pol)))
        return rp_error_field(err, RP_EVALIDATION, c->where, "invalid",
                              "\"policy\" must name an SLA policy");
    return 0;
}

int rp_sla_start_run(const struct rp_action_run *r, const json_t *act, struct rp_error *err)
{
    struct rp_automation *a = r->a;
    struct policy_set *ps = rp_xcalloc(1, sizeof(*ps));
    struct calendars *cals = rp_xcalloc(1, sizeof(*cals));
    struct rec rec = {.at = rp_clock_now_ms(a->clock)};
    struct apply_unit x = {.a = a, .cursor = -1};
    struct rp_store_conn *c;
    struct plan pl;
    const char *force = json_string_value(json_object_get(act, "policy"));
    int rc;

    ps->arena = r->arena;
    snprintf(rec.id, sizeof(rec.id), "%s", r->record_id);
    c = rp_store_reader_acquire(a->store);
    rc = policies_load(c, ps, err);
    plan_init(&pl, a, r->meta, ps, cals, r->arena);
    pl.force_policy = force;
    pl.restart = true;
    if (rc == 0 && force) {
        const struct policy *p = policy_named(ps, force);
        if (!p || strcmp(p->object, r->object->name) != 0)
            rc = rp_error_set(err, RP_EINVAL, "start_sla: no SLA policy \"%s\" for %s", force,
                              r->object->name);
    }
    if (rc == 0)
        rc = plan_object(c, &pl, r->object, &rec, 1, err);
    rp_store_reader_release(a->store, c);
    if (rc == 0)
        rc = rp_store_write(a->store, apply_run, (x.pl = &pl, &x), err);
    if (rc == 0) {
        show_due(a, &pl);
        rp_jobs_wake(a->jobs);
    }
    calendars_free(cals);
    policies_free(ps);
    free(cals);
    free(ps);
    return rc;
}

int rp_sla_stop_check(const struct rp_action_check *c, const json_t *act, struct rp_error *err)
{
    const json_t *t = json_object_get(act, "target");

    static const char *const keys[] = {"type", "target", NULL};

    if (rp_json_check_keys(act, keys, "stop_sla", c->where, err) < 0)
        return err->code;
    if (t && !rp_str_is_name(json_string_value(t)))
        return rp_error_field(err, RP_EVALIDATION, c->where, "invalid",
                              "\"target\" must name an SLA target");
    return 0;
}

struct stop_unit {
    const char *object, *record_id, *target;
    int64_t now;
};

static int stop_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct stop_unit *x = ctx;
    struct rp_arena a;
    struct rp_sql q;
    int rc;

    rp_arena_init(&a);
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "UPDATE rp_sla_clock SET state = 'stopped', paused_since = NULL,"
                   " gen = gen + 1, updated_at = ");
    rp_sql_param(&q, rp_value_int(x->now));
    rp_sql_add(&q, " WHERE object = ");
    rp_sql_param(&q, rp_value_cstr(x->object));
    rp_sql_add(&q, " AND record_id = ");
    rp_sql_param(&q, rp_value_cstr(x->record_id));
    rp_sql_add(&q, " AND state IN ('running', 'paused')");
    if (x->target) {
        rp_sql_add(&q, " AND target = ");
        rp_sql_param(&q, rp_value_cstr(x->target));
    }
    rc = rp_store_exec(c, &q, NULL, err);
    rp_arena_release(&a);
    return rc;
}

int rp_sla_stop_run(const struct rp_action_run *r, const json_t *act, struct rp_error *err)
{
    struct stop_unit x = {.object = r->object->name,
                          .record_id = r->record_id,
                          .target = json_string_value(json_object_get(act, "target")),
                          .now = rp_clock_now_ms(r->a->clock)};
    return rp_store_write(r->a->store, stop_run, &x, err);
}

/* ---- a record's clocks ---- */

struct clock_rows {
    struct rp_buf *out;
    size_t n;
};

static int clock_json_row(void *ctx, const struct rp_value *cols, size_t n)
{
    static const char *const names[] = {"target", "policy",      "state",        "started_at",
                                        "due_at", "warn_at",     "paused_since", "paused_ms",
                                        "warned", "breached_at", "met_at"};
    struct clock_rows *l = ctx;

    if (n < 11)
        return 0;
    rp_buf_adds(l->out, l->n++ ? ",{" : "{");
    for (size_t i = 0; i < 11; i++) {
        struct rp_value v = cols[i];
        bool time = i >= 3 && i != 7 && i != 8;
        if (time && v.type == RP_V_INT)
            v = rp_value_typed_int(RP_V_DATETIME, v.u.i);
        if (i == 8 && v.type == RP_V_INT)
            v = rp_value_bool(v.u.i != 0);
        rp_buf_addf(l->out, "%s\"%s\":", i ? "," : "", names[i]);
        rp_value_to_json(l->out, &v);
    }
    rp_buf_addc(l->out, '}');
    return 0;
}

int rp_sla_clocks(struct rp_automation *a, const struct rp_principal *p, const char *object,
                  const char *id, struct rp_arena *arena, struct rp_buf *out, struct rp_error *err)
{
    struct clock_rows l = {.out = out};
    struct rp_store_conn *c;
    struct rp_buf probe;
    struct rp_sql q;
    int64_t version;
    int rc;

    /* Only for a record the caller may read: otherwise 404, like a missing one. */
    rp_buf_init(&probe, arena, 1 << 20);
    if ((rc = rp_records_get(a->records, p, object, id, NULL, arena, &probe, &version, err)) < 0)
        return rc;
    rp_sql_init(&q, arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT target, policy, state, started_at, due_at, warn_at, paused_since,"
                   " paused_ms, warned, breached_at, met_at FROM rp_sla_clock WHERE object = ");
    rp_sql_param(&q, rp_value_cstr(object));
    rp_sql_add(&q, " AND record_id = ");
    rp_sql_param(&q, rp_value_cstr(id));
    rp_sql_add(&q, " ORDER BY target");
    rp_buf_adds(out, "{\"data\":[");
    c = rp_store_reader_acquire(a->store);
    rc = rp_store_query(c, &q, clock_json_row, &l, err);
    rp_store_reader_release(a->store, c);
    rp_buf_adds(out, "]}");
    return rc;
}
