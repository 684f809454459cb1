/*
 * Automation rules (automation.h): definitions, the dispatcher over the change log, dated
 * triggers, and the job that performs a rule's actions.
 */
#include "automation/automation.h"
#include "base/json.h"
#include "automation/automation_int.h"
#include "base/arena.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/sql.h"
#include "base/str.h"
#include "base/time.h"
#include "base/uuid.h"
#include "expr/expr.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DISPATCH_BATCH 1000
#define MAX_RULES      500
#define MAX_ACTIONS    20
#define SCAN_EVERY_MS  (60 * INT64_C(1000))
#define DAY_MS         (INT64_C(86400) * 1000)
#define CURSOR_KEY     "automation.cursor"

static int64_t now_ms(const struct rp_automation *a)
{
    return rp_clock_now_ms(a->clock);
}

/* ---- rules as data ---- */

enum trigger_kind {
    T_CREATED,
    T_UPDATED,
    T_DELETED,
    T_CHANGED,
    T_DATE,
    T_YEARLY,
    T_SCHEDULE,
    T_EVENT
};

static const char *const trigger_names[] = {"created", "updated", "deleted",  "changed",
                                            "date",    "yearly",  "schedule", "event"};

/* Incoming events are change events of this pseudo-object. */
#define EVENT_OBJECT "event"

struct rule {
    const char *name;
    const char *object;
    bool active;
    json_t *def; /* owned */
    enum trigger_kind trigger;
    const json_t *fields; /* changed: field names */
    const char *date_field;
    const char *event_type; /* event */
    int64_t offset_days, every_minutes;
    const char *condition; /* NULL: always */
    const json_t *actions;
    int64_t since_seq; /* change events up to this one happened before the rule existed */
};

static void rule_free(struct rule *r)
{
    json_decref(r->def);
    r->def = NULL;
}

/* Reads the parts of a definition; checks only its shape (rule_check checks the meaning). */
static int rule_parse(const char *name, json_t *def, struct rule *r, struct rp_error *err)
{
    static const char *const rule_keys[] = {"object", "trigger",     "condition", "actions",
                                            "active", "description", NULL};
    const json_t *trig = json_object_get(def, "trigger"), *v;
    const char *on = json_string_value(json_object_get(trig, "on"));
    size_t i;

    memset(r, 0, sizeof(*r));
    r->name = name;
    r->def = def;
    if (rp_json_check_keys(def, rule_keys, "a rule", NULL, err) < 0)
        return err->code;
    r->object = json_string_value(json_object_get(def, "object"));
    if (!r->object)
        return rp_error_field(err, RP_EVALIDATION, "object", "required",
                              "a rule needs the \"object\" it watches");
    r->active = !json_is_false(json_object_get(def, "active"));
    for (i = 0; on && i < sizeof(trigger_names) / sizeof(trigger_names[0]); i++)
        if (strcmp(on, trigger_names[i]) == 0)
            break;
    if (!on || i == sizeof(trigger_names) / sizeof(trigger_names[0]))
        return rp_error_field(err, RP_EVALIDATION, "trigger.on", "invalid",
                              "\"trigger.on\" must be created, updated, deleted, changed, date, "
                              "yearly, schedule or event");
    r->trigger = (enum trigger_kind)i;
    r->fields = json_object_get(trig, "fields");
    r->date_field = json_string_value(json_object_get(trig, "field"));
    r->event_type = json_string_value(json_object_get(trig, "type"));
    r->offset_days = json_integer_value(json_object_get(trig, "offset_days"));
    r->every_minutes = json_integer_value(json_object_get(trig, "every_minutes"));
    v = json_object_get(def, "condition");
    if (v && !json_is_null(v) && !json_is_string(v))
        return rp_error_field(err, RP_EVALIDATION, "condition", "invalid_type",
                              "\"condition\" must be an expression (a string)");
    r->condition = json_string_value(v);
    r->actions = json_object_get(def, "actions");
    if (!json_is_array(r->actions) || json_array_size(r->actions) == 0 ||
        json_array_size(r->actions) > MAX_ACTIONS)
        return rp_error_field(err, RP_EVALIDATION, "actions", "invalid",
                              "\"actions\" must be an array of 1-%d actions", MAX_ACTIONS);
    return 0;
}

bool rp_automation_event_type_is_valid(const char *t)
{
    size_t n = t ? strlen(t) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') || t[i] == '.' ||
              t[i] == '_' || t[i] == '-'))
            return false;
    return true;
}

static int rule_check(struct rp_automation *au, const struct rp_meta *m, const struct rule *r,
                      struct rp_arena *a, struct rp_error *err)
{
    const struct rp_object *o = rp_meta_object(m, r->object);
    const struct rp_object *src;
    size_t i;
    json_t *act;

    if (!o)
        return rp_error_field(err, RP_EVALIDATION, "object", "not_found",
                              "object \"%s\" does not exist", r->object);
    src = r->trigger == T_SCHEDULE ? NULL : o;
    if (r->trigger == T_CHANGED) {
        const json_t *f;
        if (!json_is_array(r->fields) || json_array_size(r->fields) == 0)
            return rp_error_field(err, RP_EVALIDATION, "trigger.fields", "required",
                                  "a \"changed\" trigger names the fields it watches");
        json_array_foreach(r->fields, i, f)
        {
            if (!json_is_string(f) || !rp_meta_field(o, json_string_value(f)))
                return rp_error_field(err, RP_EVALIDATION, "trigger.fields", "unknown_field",
                                      "\"%s\" is not a field of %s",
                                      json_is_string(f) ? json_string_value(f) : "?", o->name);
        }
    }
    if (r->trigger == T_DATE || r->trigger == T_YEARLY) {
        const struct rp_field *f = r->date_field ? rp_meta_field(o, r->date_field) : NULL;
        if (!f || f->type != RP_F_DATE)
            return rp_error_field(err, RP_EVALIDATION, "trigger.field", "invalid",
                                  "a %s trigger needs \"field\": a date field of %s",
                                  trigger_names[r->trigger], o->name);
        if (r->offset_days < -3660 || r->offset_days > 3660)
            return rp_error_field(err, RP_EVALIDATION, "trigger.offset_days", "invalid",
                                  "\"offset_days\" must be within ten years");
    }
    if (r->trigger == T_EVENT && !rp_automation_event_type_is_valid(r->event_type))
        return rp_error_field(err, RP_EVALIDATION, "trigger.type", "invalid",
                              "an event trigger needs \"type\": 1-64 of a-z, 0-9, '.', '_', '-'");
    if (r->trigger == T_SCHEDULE && (r->every_minutes < 1 || r->every_minutes > 7 * 24 * 60))
        return rp_error_field(err, RP_EVALIDATION, "trigger.every_minutes", "invalid",
                              "a schedule needs \"every_minutes\" from 1 to 10080");
    if (r->condition) {
        struct rp_expr *e;
        struct rp_error sub;
        rp_error_init(&sub, a);
        if (!src)
            return rp_error_field(err, RP_EVALIDATION, "condition", "no_record",
                                  "a scheduled rule has no record to test a condition on");
        if (rp_meta_parse_expr(m, o, r->condition, strlen(r->condition), 0, a, &e, &sub) < 0 ||
            rp_expr_type(e) != RP_V_BOOL)
            return rp_error_field(err, RP_EVALIDATION, "condition", "invalid_expression",
                                  "invalid condition: %s",
                                  sub.detail ? sub.detail : "it must be a condition");
    }
    json_array_foreach(r->actions, i, act)
    {
        const char *type = json_string_value(json_object_get(act, "type"));
        const struct rp_action_kind *kind = rp_action_kind(type);
        struct rp_action_check c = {.a = au,
                                    .meta = m,
                                    .object = o,
                                    .record = src,
                                    .event = r->trigger == T_EVENT,
                                    .where = rp_arena_sprintf(a, "actions[%zu]", i),
                                    .arena = a};
        int rc;
        if (!kind) {
            size_t n;
            const struct rp_action_kind *all = rp_action_kinds(&n);
            struct rp_buf names;
            rp_buf_init(&names, a, 256);
            for (size_t k = 0; k < n; k++)
                rp_buf_addf(&names, "%s%s", k ? ", " : "", all[k].type);
            rp_buf_addc(&names, 0);
            return rp_error_field(err, RP_EVALIDATION, c.where, "unknown_action",
                                  "unknown action type \"%s\"; expected one of %s",
                                  type ? type : "(none)", names.data);
        }
        if (kind->needs_record && !src)
            return rp_error_field(err, RP_EVALIDATION, c.where, "no_record",
                                  "a scheduled rule has no record for %s", kind->type);
        if ((rc = kind->check(&c, act, err)) < 0)
            return rc;
    }
    return 0;
}

/* ---- loading rules ---- */

struct rule_set {
    struct rule items[MAX_RULES];
    char names[MAX_RULES][65];
    size_t n;
};

static int rule_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct rule_set *rs = ctx;
    struct rp_error ignore;
    json_t *def;

    if (n < 3 || rs->n == MAX_RULES || cols[0].type != RP_V_TEXT || cols[1].type != RP_V_TEXT)
        return 0;
    def = rp_json_loadb(cols[1].u.s.p, cols[1].u.s.len, 0, NULL);
    snprintf(rs->names[rs->n], sizeof(rs->names[rs->n]), "%.*s", (int)cols[0].u.s.len,
             cols[0].u.s.p);
    rp_error_init(&ignore, NULL);
    if (!def || rule_parse(rs->names[rs->n], def, &rs->items[rs->n], &ignore) < 0) {
        json_decref(def);
        return 0;
    }
    if (!rs->items[rs->n].active) {
        rule_free(&rs->items[rs->n]);
        return 0;
    }
    rs->items[rs->n].since_seq = cols[2].type == RP_V_INT ? cols[2].u.i : 0;
    rs->n++;
    return 0;
}

static void rules_free(struct rule_set *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        rule_free(&rs->items[i]);
    rs->n = 0;
}

/* Active rules, on connection c (the writer's inside a unit, else a reader's). */
static int rules_load(struct rp_store_conn *c, struct rule_set *rs, const char *name,
                      struct rp_arena *a, struct rp_error *err)
{
    struct rp_sql q;

    rs->n = 0;
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT name, definition, since_seq FROM rp_automation_rule WHERE active = 1");
    if (name) {
        rp_sql_add(&q, " AND name = ");
        rp_sql_param(&q, rp_value_cstr(name));
    }
    rp_sql_add(&q, " ORDER BY name");
    return rp_store_query(c, &q, rule_row, rs, err);
}

/* ---- dispatching change events ---- */

struct event {
    int64_t seq;
    char object[RP_LIMIT_NAME_BYTES + 1];
    char record_id[40]; /* the record; an incoming event's "record_id", or "" */
    char op[80];
    json_t *changes; /* owned */
    json_t *cause;   /* owned, or NULL */
};

struct event_list {
    struct event items[DISPATCH_BATCH];
    size_t n;
};

static int event_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct event_list *l = ctx;
    struct event *e;

    if (n < 6 || l->n == DISPATCH_BATCH)
        return 0;
    e = &l->items[l->n++];
    memset(e, 0, sizeof(*e));
    e->seq = cols[0].u.i;
    snprintf(e->object, sizeof(e->object), "%.*s", (int)cols[1].u.s.len, cols[1].u.s.p);
    snprintf(e->record_id, sizeof(e->record_id), "%.*s", (int)cols[2].u.s.len, cols[2].u.s.p);
    snprintf(e->op, sizeof(e->op), "%.*s", (int)cols[3].u.s.len, cols[3].u.s.p);
    if (cols[4].type == RP_V_TEXT)
        e->changes = rp_json_loadb(cols[4].u.s.p, cols[4].u.s.len, 0, NULL);
    if (strcmp(e->object, EVENT_OBJECT) == 0) {
        const char *target = json_string_value(json_object_get(e->changes, "record_id"));
        snprintf(e->record_id, sizeof(e->record_id), "%s",
                 target && strlen(target) < sizeof(e->record_id) ? target : "");
    }
    if (cols[5].type == RP_V_TEXT)
        e->cause = rp_json_loadb(cols[5].u.s.p, cols[5].u.s.len, 0, NULL);
    return 0;
}

static void events_free(struct event_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        json_decref(l->items[i].changes);
        json_decref(l->items[i].cause);
    }
    l->n = 0;
}

static bool trigger_matches(const struct rule *r, const struct event *e)
{
    size_t i;
    const json_t *f;
    if (r->trigger == T_EVENT)
        return strcmp(e->object, EVENT_OBJECT) == 0 && strcmp(e->op, r->event_type) == 0;
    if (strcmp(r->object, e->object) != 0)
        return false;
    switch (r->trigger) {
    case T_CREATED:
        return strcmp(e->op, "create") == 0;
    case T_UPDATED:
        return strcmp(e->op, "update") == 0;
    case T_DELETED:
        return strcmp(e->op, "delete") == 0;
    case T_CHANGED:
        if (strcmp(e->op, "create") != 0 && strcmp(e->op, "update") != 0)
            return false;
        json_array_foreach(r->fields, i, f)
        {
            if (json_object_get(e->changes, json_string_value(f)))
                return true;
        }
        return false;
    default:
        return false;
    }
}

/* The events of a batch in record id order, to find a record's events by binary search. */
struct by_record {
    const struct event_list *ev;
    size_t *order; /* event indexes sorted by record id */
};

static int cmp_event_record(const void *a, const void *b, void *ctx)
{
    const struct event_list *ev = ctx;
    return strcmp(ev->items[*(const size_t *)a].record_id, ev->items[*(const size_t *)b].record_id);
}

struct condition_rows {
    const struct by_record *idx;
    size_t nrules;
    bool **holds; /* per rule of the query, per event */
};

/* A row: the record id, then whether each rule's condition holds for it. */
static int condition_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct condition_rows *x = ctx;
    const struct event_list *ev = x->idx->ev;
    size_t lo = 0, hi = ev->n;

    if (n < 1 + x->nrules || cols[0].type != RP_V_TEXT)
        return 0;
    while (lo < hi) { /* the first event of this record */
        size_t mid = (lo + hi) / 2;
        const char *id = ev->items[x->idx->order[mid]].record_id;
        int c = strncmp(id, cols[0].u.s.p, cols[0].u.s.len);
        if (c < 0 || (c == 0 && strlen(id) < cols[0].u.s.len))
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < ev->n; lo++) {
        size_t i = x->idx->order[lo];
        if (strlen(ev->items[i].record_id) != cols[0].u.s.len ||
            memcmp(ev->items[i].record_id, cols[0].u.s.p, cols[0].u.s.len) != 0)
            break;
        for (size_t k = 0; k < x->nrules; k++)
            x->holds[k][i] = cols[1 + k].type == RP_V_INT && cols[1 + k].u.i != 0;
    }
    return 0;
}

/*
 * Keeps the candidate events whose record meets each rule's condition now: one query per
 * object over every candidate record of the batch, one column per rule (rules[] of object o,
 * candidate[k] their candidates). A condition that no longer compiles (a field removed) drops
 * its rule with a warning. A deleted record is no longer there to test: delete triggers pass.
 */
static int filter_by_conditions(struct rp_store_conn *c, const struct rp_meta *m,
                                const struct rp_object *o, const struct rule *const *rules,
                                bool **candidate, size_t nrules, const struct by_record *idx,
                                int64_t now, struct rp_arena *a, struct rp_error *err)
{
    const struct event_list *ev = idx->ev;
    struct condition_rows x = {idx, 0, rp_arena_calloc(a, nrules, sizeof(bool *))};
    size_t *col = rp_arena_calloc(a, nrules, sizeof(size_t)); /* rule -> column, or SIZE_MAX */
    bool *wanted = rp_arena_calloc(a, ev->n + 1, sizeof(bool));
    struct rp_sql q;
    bool first = true;
    int rc;

    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT \"t\".\"id\"");
    for (size_t k = 0; k < nrules; k++) {
        struct rp_expr *e;
        struct rp_error sub;
        col[k] = SIZE_MAX;
        rp_error_init(&sub, a);
        if (rp_meta_parse_expr(m, o, rules[k]->condition, strlen(rules[k]->condition), now, a, &e,
                               &sub) < 0) {
            rp_log_warn("automation rule \"%s\": %s", rules[k]->name, sub.detail);
            for (size_t i = 0; i < ev->n; i++)
                candidate[k][i] = false;
            continue;
        }
        rp_sql_add(&q, ", (");
        if ((rc = rp_expr_compile_sql(e, &q, err)) < 0)
            return rc;
        rp_sql_add(&q, ")");
        col[k] = x.nrules;
        x.holds[x.nrules++] = rp_arena_calloc(a, ev->n + 1, sizeof(bool));
        for (size_t i = 0; i < ev->n; i++)
            wanted[i] = wanted[i] || candidate[k][i];
    }
    if (x.nrules == 0)
        return 0;
    rp_sql_addf(&q, " FROM \"%s\" AS \"t\" WHERE \"t\".\"id\" IN (", o->name);
    for (size_t i = 0; i < ev->n; i++) {
        /* each record once: its events are next to each other in idx->order */
        size_t at = idx->order[i];
        if (!wanted[at] ||
            (i > 0 &&
             strcmp(ev->items[idx->order[i - 1]].record_id, ev->items[at].record_id) == 0 &&
             wanted[idx->order[i - 1]]))
            continue;
        rp_sql_add(&q, first ? "" : ", ");
        rp_sql_param(&q, rp_value_cstr(ev->items[at].record_id));
        first = false;
    }
    rp_sql_add(&q, ")");
    if (first)
        return 0;
    if ((rc = rp_store_query(c, &q, condition_row, &x, err)) < 0)
        return rc;
    for (size_t k = 0; k < nrules; k++)
        for (size_t i = 0; col[k] != SIZE_MAX && i < ev->n; i++)
            candidate[k][i] = candidate[k][i] && x.holds[col[k]][i];
    return 0;
}

static int log_run(struct rp_store_conn *c, const char *rule, const char *object,
                   const char *record_id, const char *trigger, int64_t at, const char *outcome,
                   const char *detail, int64_t seq, const char *job_id, struct rp_arena *a,
                   struct rp_error *err)
{
    struct rp_sql q;
    const struct rp_value v[] = {
        rp_value_cstr(rule),
        object ? rp_value_cstr(object) : rp_value_null(),
        record_id ? rp_value_cstr(record_id) : rp_value_null(),
        rp_value_cstr(trigger),
        rp_value_int(at),
        rp_value_cstr(outcome),
        detail ? rp_value_cstr(detail) : rp_value_null(),
        seq > 0 ? rp_value_int(seq) : rp_value_null(),
        job_id ? rp_value_cstr(job_id) : rp_value_null(),
    };

    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_automation_run (rule, object, record_id, trigger, at, outcome,"
                   " detail, change_seq, job_id) VALUES ");
    rp_sql_param_list(&q, v, sizeof(v) / sizeof(v[0]));
    return rp_store_exec(c, &q, NULL, err);
}

/*
 * Queues the job of rule r for a record (NULL for a schedule), logged as "queued". depth is the
 * chain length of the write that triggered it.
 */
static int queue_firing(struct rp_store_conn *c, struct rp_automation *a, const struct rule *r,
                        const char *record_id, const char *trigger, int64_t seq, int depth,
                        const json_t *event, const char *dedup, struct rp_arena *arena,
                        size_t *queued, struct rp_error *err)
{
    json_t *payload = json_pack("{sssssiss}", "rule", r->name, "object", r->object, "depth", depth,
                                "trigger", trigger);
    char *text, id[40];
    bool fresh = false;
    int rc;
    if (record_id && *record_id)
        json_object_set_new(payload, "record_id", json_string(record_id));
    if (event)
        json_object_set(payload, "event", (json_t *)event);
    text = rp_json_dumps(payload, JSON_COMPACT, err);
    json_decref(payload);
    if (!text)
        return err->code;
    rc = rp_jobs_enqueue_in(
        c, a->clock,
        &(struct rp_job_spec){.kind = RP_AUTOMATION_JOB, .payload = text, .dedup_key = dedup}, id,
        &fresh, err);
    free(text);
    if (rc < 0 || !fresh)
        return rc;
    (*queued)++;
    return log_run(c, r->name, r->object, record_id, trigger, now_ms(a), "queued", NULL, seq, id,
                   arena, err);
}

struct dispatch_unit {
    struct rp_automation *a;
    struct rp_meta *m;
    const struct dispatch_plan *plan;
    size_t queued; /* outcome */
    bool stale;    /* outcome: the cursor moved since the plan was read */
};

/* One batch of change events, read and judged on a reader, then applied by the writer. */
struct firing {
    size_t rule, event;
    const char *loop; /* why it is stopped as a loop, or NULL: queue it */
};

struct dispatch_plan {
    struct rule_set *rules;
    struct event_list *ev;
    int64_t cursor_before, cursor_after;
    bool init; /* no cursor yet: the writer starts it at the end of the log */
    struct firing *firings;
    size_t n, cap;
};

static void plan_add(struct dispatch_plan *pl, size_t rule, size_t event, const char *loop)
{
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? pl->cap * 2 : 64;
        pl->firings = rp_xrealloc(pl->firings, pl->cap * sizeof(*pl->firings));
    }
    pl->firings[pl->n++] = (struct firing){rule, event, loop};
}

static void plan_free(struct dispatch_plan *pl)
{
    events_free(pl->ev);
    rules_free(pl->rules);
    free(pl->ev);
    free(pl->rules);
    free(pl->firings);
    memset(pl, 0, sizeof(*pl));
}

/*
 * Reads the events after the cursor and decides which rules fire, on a reader: conditions are
 * evaluated per rule over the whole batch in one query, and none of it holds the writer.
 */
static int dispatch_plan(struct rp_automation *a, const struct rp_meta *m, struct dispatch_plan *pl,
                         struct rp_arena *arena, struct rp_error *err)
{
    struct rp_store_conn *c = rp_store_reader_acquire(a->store);
    struct rp_sql q;
    int64_t now = now_ms(a);
    int rc;

    pl->rules = rp_xcalloc(1, sizeof(*pl->rules));
    pl->ev = rp_xcalloc(1, sizeof(*pl->ev));
    pl->cursor_before = -1;
    rp_sql_init(&q, arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = '" CURSOR_KEY "'");
    if ((rc = rp_store_query(c, &q, rp_store_row_int, &pl->cursor_before, err)) < 0)
        goto out;
    pl->cursor_after = pl->cursor_before;
    if (pl->cursor_before < 0) {
        pl->init = true;
        goto out;
    }
    rp_sql_init(&q, arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT seq, object, record_id, op, changes, cause FROM rp_change"
                   " WHERE seq > ");
    rp_sql_param(&q, rp_value_int(pl->cursor_before));
    rp_sql_add(&q, " ORDER BY seq LIMIT ");
    rp_sql_param(&q, rp_value_int(DISPATCH_BATCH));
    if ((rc = rp_store_query(c, &q, event_row, pl->ev, err)) < 0)
        goto out;
    if (pl->ev->n == 0)
        goto out;
    pl->cursor_after = pl->ev->items[pl->ev->n - 1].seq;
    if ((rc = rules_load(c, pl->rules, NULL, arena, err)) < 0)
        goto out;
    {
        const struct event_list *ev = pl->ev;
        size_t nr = pl->rules->n;
        bool **candidate = rp_arena_calloc(arena, nr + 1, sizeof(bool *));
        bool *judged = rp_arena_calloc(arena, nr + 1, sizeof(bool)); /* its condition is asked */
        struct by_record idx = {ev, rp_arena_calloc(arena, ev->n + 1, sizeof(size_t))};

        for (size_t i = 0; i < ev->n; i++)
            idx.order[i] = i;
        qsort_r(idx.order, ev->n, sizeof(size_t), cmp_event_record, (void *)ev);
        /* which events could fire which rule, before conditions */
        for (size_t k = 0; k < nr; k++) {
            const struct rule *r = &pl->rules->items[k];
            const struct rp_object *o = rp_meta_object(m, r->object);
            size_t ncand = 0;
            candidate[k] = rp_arena_calloc(arena, ev->n + 1, sizeof(bool));
            for (size_t i = 0; o && i < ev->n; i++) {
                const struct event *e = &ev->items[i];
                int depth = (int)json_integer_value(json_object_get(e->cause, "depth"));
                const char *by = json_string_value(json_object_get(e->cause, "rule"));
                if (e->seq <= r->since_seq || !trigger_matches(r, e))
                    continue;
                if (r->trigger == T_EVENT && r->condition && !e->record_id[0])
                    continue; /* a condition on the record, and the event names none */
                if (depth >= RP_AUTOMATION_MAX_DEPTH || (by && strcmp(by, r->name) == 0)) {
                    /* A rule's own write, or a chain too long: a loop, stopped here. */
                    plan_add(pl, k, i,
                             by && strcmp(by, r->name) == 0
                                 ? "the rule's own change would trigger it again"
                                 : "the chain of rules is too deep");
                    continue;
                }
                candidate[k][i] = true;
                ncand++;
            }
            judged[k] = ncand && r->condition && r->trigger != T_DELETED;
        }
        /* the conditions: one query per object for all its rules */
        for (size_t k = 0; k < nr; k++) {
            const struct rp_object *o;
            const struct rule **group;
            bool **cands;
            size_t ng = 0;
            if (!judged[k])
                continue;
            o = rp_meta_object(m, pl->rules->items[k].object);
            group = rp_arena_calloc(arena, nr, sizeof(*group));
            cands = rp_arena_calloc(arena, nr, sizeof(*cands));
            for (size_t j = k; j < nr; j++) {
                if (!judged[j] || strcmp(pl->rules->items[j].object, o->name) != 0)
                    continue;
                group[ng] = &pl->rules->items[j];
                cands[ng++] = candidate[j];
                judged[j] = false;
            }
            if ((rc = filter_by_conditions(c, m, o, group, cands, ng, &idx, now, arena, err)) < 0)
                goto out;
        }
        for (size_t k = 0; k < nr; k++)
            for (size_t i = 0; i < ev->n; i++)
                if (candidate[k][i])
                    plan_add(pl, k, i, NULL);
    }
out:
    rp_store_reader_release(a->store, c);
    return rc;
}

/*
 * Applies a plan in one transaction with the cursor, so each event fires each rule once. If
 * another process moved the cursor since the plan was read, nothing is written (stale).
 */
static int dispatch_apply(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct dispatch_unit *x = ctx;
    const struct dispatch_plan *pl = x->plan;
    struct rp_arena arena;
    struct rp_sql q;
    int64_t cursor = -1, now = now_ms(x->a);
    int rc;

    x->queued = 0;
    x->stale = false;
    rp_arena_init(&arena);
    rp_sql_init(&q, &arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = '" CURSOR_KEY "'");
    if ((rc = rp_store_query(c, &q, rp_store_row_int, &cursor, err)) < 0)
        goto out;
    if (pl->init) {
        /* First start: rules apply to what happens from now on, not to the past. */
        rc = rp_automation_cursor_start(c, CURSOR_KEY, &arena, err);
        goto out;
    }
    if (cursor != pl->cursor_before) {
        x->stale = true;
        goto out;
    }
    for (size_t i = 0; i < pl->n; i++) {
        const struct firing *f = &pl->firings[i];
        const struct rule *r = &pl->rules->items[f->rule];
        const struct event *e = &pl->ev->items[f->event];
        char dedup[160];
        if (f->loop) {
            rc = log_run(c, r->name, e->object, e->record_id, trigger_names[r->trigger], now,
                         "loop_stopped", f->loop, e->seq, NULL, &arena, err);
        } else {
            snprintf(dedup, sizeof(dedup), "rule:%s:change:%lld", r->name, (long long)e->seq);
            rc = queue_firing(c, x->a, r, e->record_id, trigger_names[r->trigger], e->seq,
                              (int)json_integer_value(json_object_get(e->cause, "depth")),
                              r->trigger == T_EVENT ? json_object_get(e->changes, "data") : NULL,
                              dedup, &arena, &x->queued, err);
        }
        if (rc < 0)
            goto out;
    }
    if (pl->cursor_after != pl->cursor_before) {
        rp_sql_init(&q, &arena, rp_store_conn_dialect(c));
        rp_sql_add(&q, "UPDATE rp_setting SET value = ");
        rp_sql_param(&q,
                     rp_value_cstr(rp_arena_sprintf(&arena, "%lld", (long long)pl->cursor_after)));
        rp_sql_add(&q, " WHERE key = '" CURSOR_KEY "'");
        rc = rp_store_exec(c, &q, NULL, err);
    }
out:
    rp_arena_release(&arena);
    return rc;
}

int rp_automation_dispatch(struct rp_automation *a, size_t *queued, struct rp_error *err)
{
    struct dispatch_unit x = {.a = a, .m = rp_meta_acquire(a->meta)};
    size_t total = 0, events;
    int rc, tries = 0;

    do {
        struct dispatch_plan pl = {0};
        struct rp_arena arena;
        rp_arena_init(&arena);
        rc = dispatch_plan(a, x.m, &pl, &arena, err);
        x.plan = &pl;
        if (rc == 0)
            rc = rp_store_write(a->store, dispatch_apply, &x, err);
        events = pl.ev ? pl.ev->n : 0;
        plan_free(&pl);
        rp_arena_release(&arena);
        if (rc < 0)
            break;
        total += x.queued;
        if (x.stale && ++tries > 100)
            break; /* another process dispatches: it will get there */
    } while (x.stale || events == DISPATCH_BATCH);
    rp_meta_release(x.m);
    if (queued)
        *queued = total;
    if (rc == 0 && total)
        rp_jobs_wake(a->jobs);
    return rc;
}

/* ---- dated triggers ---- */

struct id_list {
    char (*ids)[40];
    size_t n, cap;
    struct rp_arena *a;
};

static int id_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct id_list *l = ctx;
    if (n < 1 || cols[0].type != RP_V_TEXT || cols[0].u.s.len >= 40)
        return 0;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        l->ids = rp_arena_realloc(l->a, l->ids, l->cap * sizeof(*l->ids), ncap * sizeof(*l->ids));
        l->cap = ncap;
    }
    memcpy(l->ids[l->n], cols[0].u.s.p, cols[0].u.s.len);
    l->ids[l->n][cols[0].u.s.len] = '\0';
    l->n++;
    return l->n >= 10000 ? 1 : 0;
}

struct scan_unit {
    struct rp_automation *a;
    struct rp_meta *m;
    size_t queued; /* outcome */
};

static int scan_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct scan_unit *x = ctx;
    struct rule_set *rules = rp_xcalloc(1, sizeof(*rules));
    struct rp_arena arena;
    int64_t now = now_ms(x->a), today = now >= 0 ? now / DAY_MS : (now - DAY_MS + 1) / DAY_MS;
    int rc;

    x->queued = 0;
    rp_arena_init(&arena);
    if ((rc = rules_load(c, rules, NULL, &arena, err)) < 0)
        goto out;
    for (size_t k = 0; k < rules->n; k++) {
        const struct rule *r = &rules->items[k];
        const struct rp_object *o = rp_meta_object(x->m, r->object);
        struct id_list ids = {.a = &arena};
        struct rp_sql q;
        char dedup[200];
        if (!o)
            continue;
        if (r->trigger == T_SCHEDULE) {
            int64_t slot = now / (r->every_minutes * 60 * 1000);
            snprintf(dedup, sizeof(dedup), "rule:%s:slot:%lld", r->name, (long long)slot);
            if ((rc = queue_firing(c, x->a, r, NULL, "schedule", 0, 0, NULL, dedup, &arena,
                                   &x->queued, err)) < 0)
                goto out;
            continue;
        }
        if (r->trigger != T_DATE && r->trigger != T_YEARLY)
            continue;
        /* Records whose date (plus the offset) is today, and that meet the condition. */
        rp_sql_init(&q, &arena, rp_store_conn_dialect(c));
        rp_sql_addf(&q,
                    "SELECT \"t\".\"id\" FROM \"%s\" AS \"t\" WHERE \"t\".\"deleted_at\" IS NULL"
                    " AND ",
                    o->name);
        if (r->trigger == T_DATE) {
            rp_sql_addf(&q, "\"t\".\"%s\" = ", r->date_field);
            rp_sql_param(&q, rp_value_int(today - r->offset_days));
        } else {
            enum rp_sql_dialect d = rp_store_conn_dialect(c);
            rp_sql_add(&q, rp_sql_idiom(d, RP_SQL_MONTH_DAY_OPEN));
            rp_sql_addf(&q, "\"t\".\"%s\" * 86400", r->date_field);
            rp_sql_add(&q, rp_sql_idiom(d, RP_SQL_MONTH_DAY_CLOSE));
            rp_sql_add(&q, " = ");
            rp_sql_add(&q, rp_sql_idiom(d, RP_SQL_MONTH_DAY_OPEN));
            rp_sql_param(&q, rp_value_int(today * 86400));
            rp_sql_add(&q, rp_sql_idiom(d, RP_SQL_MONTH_DAY_CLOSE));
        }
        if (r->condition) {
            struct rp_expr *e;
            if ((rc = rp_meta_parse_expr(x->m, o, r->condition, strlen(r->condition), now, &arena,
                                         &e, err)) < 0) {
                rp_log_warn("automation rule \"%s\": %s", r->name, err->detail);
                rp_error_clear(err);
                continue;
            }
            rp_sql_add(&q, " AND (");
            if ((rc = rp_expr_compile_sql(e, &q, err)) < 0)
                goto out;
            rp_sql_add(&q, ")");
        }
        if ((rc = rp_store_query(c, &q, id_row, &ids, err)) < 0)
            goto out;
        for (size_t i = 0; i < ids.n; i++) {
            snprintf(dedup, sizeof(dedup), "rule:%s:%s:day:%lld", r->name, ids.ids[i],
                     (long long)today);
            if ((rc = queue_firing(c, x->a, r, ids.ids[i], trigger_names[r->trigger], 0, 0, NULL,
                                   dedup, &arena, &x->queued, err)) < 0)
                goto out;
        }
    }
out:
    rules_free(rules);
    free(rules);
    rp_arena_release(&arena);
    return rc;
}

int rp_automation_scan(struct rp_automation *a, size_t *queued, struct rp_error *err)
{
    struct scan_unit x = {.a = a, .m = rp_meta_acquire(a->meta)};
    int rc = rp_store_write(a->store, scan_run, &x, err);

    rp_meta_release(x.m);
    if (queued)
        *queued = x.queued;
    if (rc == 0 && x.queued)
        rp_jobs_wake(a->jobs);
    return rc;
}

/* ---- performing a rule: the job ---- */

static int run_actions(struct rp_automation *a, const struct rp_job *job, const struct rule *r,
                       const char *record_id, const json_t *event, int depth,
                       struct rp_arena *arena, struct rp_error *err)
{
    struct rp_meta *m = rp_meta_acquire(a->meta);
    struct rp_action_run x = {.a = a,
                              .job = job,
                              .rule = r->name,
                              .meta = m,
                              .object = rp_meta_object(m, r->object),
                              .record_id = record_id,
                              .event = event,
                              .arena = arena};
    json_t *cause = json_pack("{sssi}", "rule", r->name, "depth", depth + 1);
    json_t *act;
    int rc = 0;

    if (record_id)
        json_object_set_new(cause, "record_id", json_string(record_id));
    {
        char *text = rp_json_dumps(cause, JSON_COMPACT, err);
        x.cause = text ? rp_arena_strdup(arena, text) : NULL;
        free(text);
    }
    json_decref(cause);
    if (!x.cause) {
        rc = err->code;
        goto out;
    }
    if (!x.object) {
        rc = rp_error_set(err, RP_EINVAL, "object \"%s\" no longer exists", r->object);
        goto out;
    }
    json_array_foreach(r->actions, x.index, act)
    {
        const char *type = json_string_value(json_object_get(act, "type"));
        const struct rp_action_kind *kind = rp_action_kind(type);
        if (!kind)
            rc = rp_error_set(err, RP_EINVAL, "unknown action type \"%s\"", type);
        else if (kind->needs_record && !record_id)
            rc = rp_error_set(err, RP_EINVAL, "the trigger names no record to change");
        else
            rc = kind->run(&x, act, err);
        if (rc < 0) {
            char *detail =
                rp_arena_sprintf(arena, "action %zu (%s): %s", x.index, type, err->detail);
            int code = err->code;
            rp_error_clear(err);
            rp_error_set(err, code, "%s", detail);
            break;
        }
    }
out:
    rp_meta_release(m);
    return rc;
}

struct outcome_unit {
    const char *rule, *object, *record_id, *trigger, *outcome, *detail, *job_id;
    int64_t at;
    int attempt; /* of the job */
};

static int outcome_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct outcome_unit *x = ctx;
    struct rp_arena a;
    struct rp_sql q;
    bool logged = false;
    int rc = 0;

    rp_arena_init(&a);
    /*
     * A job killed after this unit but before its own outcome was written runs again, and its
     * writes, idempotent, change nothing: the run log keeps the one "done". Only a repeated
     * attempt can find one, so first attempts do not pay for the look.
     */
    if (x->attempt > 1 && strcmp(x->outcome, "done") == 0) {
        rp_sql_init(&q, &a, rp_store_conn_dialect(c));
        rp_sql_add(&q, "SELECT 1 FROM rp_automation_run WHERE rule = ");
        rp_sql_param(&q, rp_value_cstr(x->rule));
        rp_sql_add(&q, " AND job_id = ");
        rp_sql_param(&q, rp_value_cstr(x->job_id));
        rp_sql_add(&q, " AND outcome = 'done'");
        rc = rp_store_query(c, &q, rp_store_row_exists, &logged, err);
    }
    if (rc == 0 && !logged)
        rc = log_run(c, x->rule, x->object, x->record_id, x->trigger, x->at, x->outcome, x->detail,
                     0, x->job_id, &a, err);
    rp_arena_release(&a);
    return rc;
}

static int rule_job(void *ctx, const struct rp_job *job, struct rp_error *err)
{
    struct rp_automation *a = ctx;
    json_t *payload = rp_json_loads(job->payload, 0, NULL);
    const char *name = json_string_value(json_object_get(payload, "rule"));
    const char *record_id = json_string_value(json_object_get(payload, "record_id"));
    int depth = (int)json_integer_value(json_object_get(payload, "depth"));
    struct rule_set *rules = rp_xcalloc(1, sizeof(*rules));
    struct outcome_unit out = {0};
    struct rp_store_conn *c;
    struct rp_arena arena;
    struct rp_error ignore;
    int rc;

    rp_arena_init(&arena);
    if (!name) {
        rc = rp_error_set(err, RP_EINVAL, "the job names no rule");
        goto out;
    }
    c = rp_store_reader_acquire(a->store);
    rc = rules_load(c, rules, name, &arena, err);
    rp_store_reader_release(a->store, c);
    if (rc < 0)
        goto out;
    out.rule = name;
    out.record_id = record_id;
    out.job_id = job->id;
    out.attempt = job->attempt;
    out.trigger = json_string_value(json_object_get(payload, "trigger"));
    out.trigger = out.trigger ? out.trigger : "?";
    if (rules->n == 0) {
        out.outcome = "skipped";
        out.detail = "the rule was deleted or deactivated";
    } else {
        out.object = rules->items[0].object;
        rc = run_actions(a, job, &rules->items[0], record_id, json_object_get(payload, "event"),
                         depth, &arena, err);
        out.outcome = rc == 0                                                ? "done"
                      : rc == RP_EINVAL || job->attempt >= job->max_attempts ? "failed"
                                                                             : "retrying";
        out.detail = rc < 0 ? err->detail : NULL;
    }
    out.at = now_ms(a);
    rp_error_init(&ignore, NULL);
    if (rp_store_write(a->store, outcome_run, &out, &ignore) < 0)
        rp_log_error("automation rule \"%s\": its run could not be logged", name);
out:
    rules_free(rules);
    free(rules);
    json_decref(payload);
    rp_arena_release(&arena);
    return rc;
}

int rp_automation_cursor_start(struct rp_store_conn *c, const char *key, struct rp_arena *arena,
                               struct rp_error *err)
{
    return rp_records_change_cursor_start(c, key, arena, err);
}

void rp_automation_change_json(const struct rp_value *cols, struct rp_buf *out)
{
    struct rp_value at = rp_value_typed_int(RP_V_DATETIME, cols[1].u.i);

    rp_buf_addf(out, "{\"id\":\"evt_%lld\",\"seq\":%lld,\"at\":", (long long)cols[0].u.i,
                (long long)cols[0].u.i);
    rp_value_to_json(out, &at);
    rp_buf_adds(out, ",\"object\":");
    rp_value_to_json(out, &cols[2]);
    rp_buf_adds(out, ",\"record_id\":");
    rp_value_to_json(out, &cols[3]);
    rp_buf_adds(out, ",\"op\":");
    rp_value_to_json(out, &cols[4]);
    rp_buf_adds(out, ",\"actor\":");
    rp_value_to_json(out, &cols[5]);
    rp_buf_adds(out, ",\"changes\":");
    if (cols[6].type == RP_V_TEXT)
        rp_buf_add(out, cols[6].u.s.p, cols[6].u.s.len); /* written by rapport as JSON */
    else
        rp_buf_adds(out, "{}");
    rp_buf_addc(out, '}');
}

/* ---- managing rules ---- */

struct rule_put {
    const char *name, *text;
    bool active, remove;
    int64_t now;
    bool created; /* out */
};

static int rule_put_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct rule_put *x = ctx;
    struct rp_arena a;
    struct rp_sql q;
    int64_t exists = 0, changed = 0;
    int rc;

    rp_arena_init(&a);
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT COUNT(*) FROM rp_automation_rule WHERE name = ");
    rp_sql_param(&q, rp_value_cstr(x->name));
    if ((rc = rp_store_query(c, &q, rp_store_row_int, &exists, err)) < 0)
        goto out;
    x->created = exists == 0;
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    if (x->remove) {
        rp_sql_add(&q, "DELETE FROM rp_automation_rule WHERE name = ");
        rp_sql_param(&q, rp_value_cstr(x->name));
    } else {
        /* A new rule applies to what happens from now on: since_seq is the log's end. */
        rp_sql_add(&q, "INSERT INTO rp_automation_rule (name, object, definition, active,"
                       " since_seq, created_at, updated_at) VALUES (");
        rp_sql_param(&q, rp_value_cstr(x->name));
        rp_sql_add(&q, ", ");
        rp_sql_json_begin(&q);
        rp_sql_param(&q, rp_value_cstr(x->text));
        rp_sql_json_end(&q, "object", false);
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_cstr(x->text));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_bool(x->active));
        rp_sql_add(&q, ", (SELECT COALESCE(MAX(seq), 0) FROM rp_change), ");
        rp_sql_param(&q, rp_value_int(x->now));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_int(x->now));
        rp_sql_add(&q, ") ON CONFLICT (name) DO UPDATE SET object = excluded.object,"
                       " definition = excluded.definition, active = excluded.active,"
                       " updated_at = excluded.updated_at");
    }
    if ((rc = rp_store_exec(c, &q, &changed, err)) < 0)
        goto out;
    /* The dispatcher starts where the first rule began, not at the start of the log. */
    if ((rc = rp_automation_cursor_start(c, CURSOR_KEY, &a, err)) < 0)
        goto out;
    if (x->remove && changed == 0) {
        rc = rp_error_set(err, RP_ENOTFOUND, "automation rule \"%s\" not found", x->name);
        goto out;
    }
    /* Audited like every change of what the system does on its own. */
    {
        const struct rp_value v[] = {
            rp_value_int(x->now), rp_value_cstr("automation"),
            rp_value_cstr(x->remove ? "automation_rule_delete" : "automation_rule"),
            rp_value_cstr(x->remove ? "{}" : x->text)};
        rp_sql_init(&q, &a, rp_store_conn_dialect(c));
        rp_sql_add(&q, "INSERT INTO rp_audit (at, actor, action, changes) VALUES ");
        rp_sql_param_list(&q, v, sizeof(v) / sizeof(v[0]));
        rc = rp_store_exec(c, &q, NULL, err);
    }
out:
    rp_arena_release(&a);
    return rc;
}

int rp_automation_rule_put(struct rp_automation *a, const struct rp_principal *p, const char *name,
                           const json_t *definition, bool *created, struct rp_error *err)
{
    struct rp_meta *m;
    struct rule r;
    struct rp_arena arena;
    struct rule_put x = {.name = name, .now = now_ms(a)};
    int rc;

    if ((rc = rp_policy_check(p, NULL, RP_ACT_MANAGE_AUTOMATION, err)) < 0)
        return rc;
    if (!rp_str_is_name(name))
        return rp_error_field(err, RP_EVALIDATION, "name", "invalid",
                              "a rule name is 1-64 characters of a-z, 0-9 and '_', starting with "
                              "a letter");
    if (!json_is_object(definition))
        return rp_error_set(err, RP_EINVAL, "a rule is a JSON object");
    rp_arena_init(&arena);
    m = rp_meta_acquire(a->meta);
    if ((rc = rule_parse(name, json_incref((json_t *)definition), &r, err)) == 0 &&
        (rc = rule_check(a, m, &r, &arena, err)) == 0) {
        x.text = rp_json_dumps(definition, JSON_COMPACT | JSON_SORT_KEYS, err);
        x.active = r.active;
        rc = !x.text ? err->code : rp_store_write(a->store, rule_put_run, &x, err);
        free((char *)x.text);
        if (created)
            *created = x.created;
    }
    rule_free(&r);
    rp_meta_release(m);
    rp_arena_release(&arena);
    return rc;
}

int rp_automation_rule_delete(struct rp_automation *a, const struct rp_principal *p,
                              const char *name, struct rp_error *err)
{
    struct rule_put x = {.name = name, .remove = true, .now = now_ms(a)};
    int rc;

    if ((rc = rp_policy_check(p, NULL, RP_ACT_MANAGE_AUTOMATION, err)) < 0)
        return rc;
    if (!rp_str_is_name(name))
        return rp_error_set(err, RP_ENOTFOUND, "automation rule \"%s\" not found", name);
    return rp_store_write(a->store, rule_put_run, &x, err);
}

struct json_rows {
    struct rp_buf *out;
    size_t n;
    bool runs;
};

static int rules_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct json_rows *l = ctx;

    if (n < 4)
        return 0;
    rp_buf_adds(l->out, l->n++ ? ",{\"name\":" : "{\"name\":");
    rp_value_to_json(l->out, &cols[0]);
    rp_buf_addf(l->out, ",\"active\":%s,\"definition\":",
                cols[1].type == RP_V_INT && cols[1].u.i ? "true" : "false");
    rp_buf_add(l->out, cols[2].u.s.p, cols[2].u.s.len); /* stored as JSON by rule_put */
    rp_buf_adds(l->out, ",\"updated_at\":");
    {
        struct rp_value t = rp_value_typed_int(RP_V_DATETIME, cols[3].u.i);
        rp_value_to_json(l->out, &t);
    }
    rp_buf_addc(l->out, '}');
    return 0;
}

static int runs_row(void *ctx, const struct rp_value *cols, size_t n)
{
    static const char *const names[] = {"id", "rule",    "object", "record_id",  "trigger",
                                        "at", "outcome", "detail", "change_seq", "job_id"};
    struct json_rows *l = ctx;

    if (n < 10)
        return 0;
    rp_buf_addc(l->out, l->n++ ? ',' : '{');
    if (l->n > 1)
        rp_buf_addc(l->out, '{');
    for (size_t i = 0; i < 10; i++) {
        struct rp_value v = cols[i];
        if (i == 5 && v.type == RP_V_INT)
            v = rp_value_typed_int(RP_V_DATETIME, v.u.i);
        rp_buf_addf(l->out, "%s\"%s\":", i ? "," : "", names[i]);
        rp_value_to_json(l->out, &v);
    }
    rp_buf_addc(l->out, '}');
    return 0;
}

static int read_json_rows(struct rp_automation *a, struct rp_sql *q, bool runs, struct rp_buf *out,
                          struct rp_error *err)
{
    struct json_rows l = {.out = out, .runs = runs};
    struct rp_store_conn *c = rp_store_reader_acquire(a->store);
    int rc;

    rp_buf_adds(out, "{\"data\":[");
    rc = rp_store_query(c, q, runs ? runs_row : rules_row, &l, err);
    rp_store_reader_release(a->store, c);
    rp_buf_adds(out, "]}");
    return rc;
}

int rp_automation_rules(struct rp_automation *a, const struct rp_principal *p, struct rp_buf *out,
                        struct rp_error *err)
{
    struct rp_arena arena;
    struct rp_sql q;
    int rc;

    if ((rc = rp_policy_check(p, NULL, RP_ACT_MANAGE_AUTOMATION, err)) < 0)
        return rc;
    rp_arena_init(&arena);
    rp_sql_init(&q, &arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT name, active, definition, updated_at FROM rp_automation_rule"
                   " ORDER BY name");
    rc = read_json_rows(a, &q, false, out, err);
    rp_arena_release(&arena);
    return rc;
}

int rp_automation_runs(struct rp_automation *a, const struct rp_principal *p, const char *rule,
                       size_t limit, struct rp_buf *out, struct rp_error *err)
{
    struct rp_arena arena;
    struct rp_sql q;
    int rc;

    if ((rc = rp_policy_check(p, NULL, RP_ACT_MANAGE_AUTOMATION, err)) < 0)
        return rc;
    rp_arena_init(&arena);
    rp_sql_init(&q, &arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT id, rule, object, record_id, trigger, at, outcome, detail,"
                   " change_seq, job_id FROM rp_automation_run");
    if (rule) {
        rp_sql_add(&q, " WHERE rule = ");
        rp_sql_param(&q, rp_value_cstr(rule));
    }
    rp_sql_add(&q, " ORDER BY id DESC LIMIT ");
    rp_sql_param(&q, rp_value_int((int64_t)(limit ? limit : 100)));
    rc = read_json_rows(a, &q, true, out, err);
    rp_arena_release(&arena);
    return rc;
}

/* ---- the dispatcher thread ---- */

/* The named definitions automation keeps (records.h, "Definitions"). */
static const struct {
    const char *kind, *noun;
    int (*check)(void *ctx, const struct rp_meta *m, const json_t *def, struct rp_arena *arena,
                 struct rp_error *err);
} definition_kinds[] = {
    {RP_DEF_QUEUE, "queue", rp_queue_check},
    {RP_DEF_ASSIGNMENT, "assignment rule set", rp_assignment_check},
    {RP_DEF_JOURNEY, "journey", rp_journey_check},
    {RP_DEF_APPROVAL, "approval process", rp_approval_check},
    {RP_DEF_EMAIL_TEMPLATE, "email template", rp_email_template_check},
};

int rp_definition_load(struct rp_store_conn *c, const char *kind, const char *name, json_t **def,
                       struct rp_error *err)
{
    const char *noun = kind;

    for (size_t i = 0; i < sizeof(definition_kinds) / sizeof(definition_kinds[0]); i++)
        if (strcmp(definition_kinds[i].kind, kind) == 0)
            noun = definition_kinds[i].noun;
    return rp_records_definition_load(c, kind, noun, name, def, err);
}

struct rp_automation *rp_automation_new(const struct rp_automation_config *cfg)
{
    struct rp_automation *a = rp_xcalloc(1, sizeof(*a));

    a->store = cfg->store;
    a->meta = cfg->meta;
    a->records = cfg->records;
    a->jobs = cfg->jobs;
    a->clock = cfg->clock;
    a->actor.user_id = "automation";
    a->actor.username = "automation";
    a->actor.display_name = "Automation";
    a->actor.is_admin = true;
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->wake, NULL);
    a->bus = rp_bus_new(cfg->nats_url, cfg->store);
    rp_jobs_register(a->jobs, RP_AUTOMATION_JOB, rule_job, a, 0);
    rp_webhook_register(a);
    rp_journey_register(a);
    for (size_t i = 0; i < sizeof(definition_kinds) / sizeof(definition_kinds[0]); i++)
        rp_records_definition_kind_add(
            cfg->records, &(struct rp_definition_kind){.kind = definition_kinds[i].kind,
                                                       .noun = definition_kinds[i].noun,
                                                       .permission = RP_ACT_MANAGE_AUTOMATION,
                                                       .check = definition_kinds[i].check,
                                                       .ctx = a});
    rp_sla_register(a);
    rp_email_register(a);
    return a;
}

static void *dispatcher_main(void *arg)
{
    struct rp_automation *a = arg;
    int64_t next_scan = 0;

    pthread_mutex_lock(&a->lock);
    while (!a->stopping) {
        struct timespec until;
        struct rp_error err;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&a->wake, &a->lock, &until);
        if (a->stopping)
            break;
        pthread_mutex_unlock(&a->lock);
        rp_error_init(&err, NULL);
        if (rp_automation_dispatch(a, NULL, &err) < 0)
            rp_log_error("automation dispatch failed: %s", err.detail ? err.detail : "?");
        rp_error_init(&err, NULL);
        if (rp_webhook_dispatch(a, NULL, &err) < 0)
            rp_log_error("webhook dispatch failed: %s", err.detail ? err.detail : "?");
        rp_error_init(&err, NULL);
        if (rp_sla_dispatch(a, NULL, &err) < 0)
            rp_log_error("SLA dispatch failed: %s", err.detail ? err.detail : "?");
        rp_bus_dispatch(a, NULL, &err); /* logs an outage itself, once */
        if (rp_clock_monotonic_us() / 1000 >= next_scan) {
            rp_error_init(&err, NULL);
            if (rp_automation_scan(a, NULL, &err) < 0)
                rp_log_error("automation scan failed: %s", err.detail ? err.detail : "?");
            next_scan = rp_clock_monotonic_us() / 1000 + SCAN_EVERY_MS;
        }
        pthread_mutex_lock(&a->lock);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

int rp_automation_start(struct rp_automation *a, struct rp_error *err)
{
    if (pthread_create(&a->thread, NULL, dispatcher_main, a) != 0)
        return rp_error_set(err, RP_EINTERNAL, "could not start the automation dispatcher");
    a->running = true;
    return 0;
}

void rp_automation_stop(struct rp_automation *a)
{
    if (!a || !a->running)
        return;
    pthread_mutex_lock(&a->lock);
    a->stopping = true;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL);
    a->running = false;
}

void rp_automation_free(struct rp_automation *a)
{
    if (!a)
        return;
    rp_automation_stop(a);
    rp_bus_free(a->bus);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

/* ---- incoming events ---- */

struct event_unit {
    const char *type, *id, *actor, *changes;
    int64_t now;
    bool duplicate; /* out */
};

static int event_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct event_unit *x = ctx;
    struct rp_arena a;
    struct rp_sql q;
    int64_t n = 0;
    int rc;

    rp_arena_init(&a);
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    rp_sql_add(&q,
               "SELECT COUNT(*) FROM rp_change WHERE object = '" EVENT_OBJECT "' AND record_id = ");
    rp_sql_param(&q, rp_value_cstr(x->id));
    if ((rc = rp_store_query(c, &q, rp_store_row_int, &n, err)) < 0)
        goto out;
    x->duplicate = n > 0;
    if (x->duplicate)
        goto out;
    {
        const struct rp_value v[] = {rp_value_int(x->now),    rp_value_cstr(EVENT_OBJECT),
                                     rp_value_cstr(x->id),    rp_value_cstr(x->type),
                                     rp_value_cstr(x->actor), rp_value_cstr(x->changes)};
        rp_sql_init(&q, &a, rp_store_conn_dialect(c));
        rp_sql_add(&q, "INSERT INTO rp_change (at, object, record_id, op, actor, changes) VALUES ");
        rp_sql_param_list(&q, v, sizeof(v) / sizeof(v[0]));
        rc = rp_store_exec(c, &q, NULL, err);
    }
out:
    rp_arena_release(&a);
    return rc;
}

int rp_automation_event(struct rp_automation *a, const struct rp_principal *p, const char *type,
                        const json_t *payload, const char *idempotency_key, struct rp_buf *out,
                        struct rp_error *err)
{
    struct event_unit x = {.type = type, .actor = p ? p->user_id : "system", .now = now_ms(a)};
    const json_t *id = json_object_get(payload, "id"), *rec = json_object_get(payload, "record_id");
    const json_t *data = json_object_get(payload, "data");
    const char *key;
    json_t *v, *stored;
    char fresh[40];
    char *text;
    int rc;

    if ((rc = rp_policy_check(p, NULL, RP_ACT_PUBLISH_EVENTS, err)) < 0)
        return rc;
    if (!rp_automation_event_type_is_valid(type))
        return rp_error_set(err, RP_ENOTFOUND, "event types are 1-64 of a-z, 0-9, '.', '_', '-'");
    if (!json_is_object(payload))
        return rp_error_set(err, RP_EINVAL, "an event is a JSON object");
    json_object_foreach((json_t *)payload, key, v)
    {
        if (strcmp(key, "id") && strcmp(key, "record_id") && strcmp(key, "data"))
            return rp_error_field(err, RP_EINVAL, key, "unknown_field",
                                  "unknown key \"%s\"; an event is {\"id\", \"record_id\", "
                                  "\"data\"}",
                                  key);
    }
    if ((id &&
         (!json_is_string(id) || json_string_length(id) == 0 || json_string_length(id) > 128)) ||
        (rec && !json_is_null(rec) && (!json_is_string(rec) || json_string_length(rec) > 36)) ||
        (data && !json_is_object(data)))
        return rp_error_set(err, RP_EVALIDATION,
                            "\"id\" is a string of 1-128 bytes, \"record_id\" a record id and "
                            "\"data\" an object");
    if (id) {
        x.id = json_string_value(id);
    } else if (idempotency_key) {
        x.id = idempotency_key;
    } else {
        rp_uuid_v7(fresh, x.now);
        x.id = fresh;
    }
    stored = json_object();
    json_object_set(stored, "record_id", rec ? (json_t *)rec : json_null());
    json_object_set(stored, "data", data ? (json_t *)data : json_null());
    text = rp_json_dumps(stored, JSON_COMPACT, err);
    json_decref(stored);
    x.changes = text;
    rc = !text ? err->code : rp_store_write(a->store, event_run, &x, err);
    free(text);
    if (rc < 0)
        return rc;
    rp_buf_adds(out, "{\"id\":");
    rp_buf_add_json_str(out, x.id, strlen(x.id));
    rp_buf_adds(out, ",\"type\":");
    rp_buf_add_json_str(out, type, strlen(type));
    rp_buf_addf(out, ",\"duplicate\":%s}", x.duplicate ? "true" : "false");
    pthread_mutex_lock(&a->lock);
    pthread_cond_signal(&a->wake); /* dispatch now rather than at the next tick */
    pthread_mutex_unlock(&a->lock);
    return 0;
}
