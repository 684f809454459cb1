/*
 * Webhooks (automation.h): subscriptions as rows, deliveries as durable jobs queued from the
 * change log by a cursor (like rules), each POST signed and sent through the SSRF-safe
 * outbound client (base/outbound.h).
 */
#include "automation/automation.h"
#include "base/json.h"
#include "automation/automation_int.h"
#include "expr/expr.h"
#include "base/arena.h"
#include "base/log.h"
#include "base/outbound.h"
#include "base/sql.h"
#include "base/str.h"
#include "base/time.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CURSOR_KEY       "webhooks.cursor"
#define ALLOW_KEY        "webhooks.allow"
#define DISPATCH_BATCH   500
#define MAX_HOOKS        200
#define DELIVERY_TRIES   32 /* 10 s doubling to an hour: a little over 24 hours of retries */
#define SECRET_HEX_BYTES 65

struct hook {
    char name[65];
    char url[2049];
    char secret[SECRET_HEX_BYTES];
    json_t *objects; /* names, or NULL: every object */
    json_t *ops;     /* ops or event types, or NULL: every op */
    json_t *filter;  /* a condition on the record of the one object, or NULL */
    bool active;
};

struct hook_set {
    struct hook items[MAX_HOOKS];
    size_t n;
};

static int hook_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct hook_set *hs = ctx;
    struct hook *h;
    json_t *def;

    if (n < 4 || hs->n == MAX_HOOKS || cols[2].type != RP_V_TEXT)
        return 0;
    h = &hs->items[hs->n];
    memset(h, 0, sizeof(*h));
    snprintf(h->name, sizeof(h->name), "%.*s", (int)cols[0].u.s.len, cols[0].u.s.p);
    snprintf(h->secret, sizeof(h->secret), "%.*s", (int)cols[1].u.s.len, cols[1].u.s.p);
    def = rp_json_loadb(cols[2].u.s.p, cols[2].u.s.len, 0, NULL);
    if (!def)
        return 0;
    snprintf(h->url, sizeof(h->url), "%s", json_string_value(json_object_get(def, "url")));
    h->objects = json_incref(json_object_get(def, "objects"));
    h->ops = json_incref(json_object_get(def, "events"));
    h->filter = json_incref(json_object_get(def, "filter"));
    h->active = !json_is_false(json_object_get(def, "active"));
    json_decref(def);
    hs->n++;
    return 0;
}

static void hooks_free(struct hook_set *hs)
{
    for (size_t i = 0; i < hs->n; i++) {
        json_decref(hs->items[i].objects);
        json_decref(hs->items[i].ops);
        json_decref(hs->items[i].filter);
    }
    sodium_memzero(hs, sizeof(*hs));
}

static int hooks_load(struct rp_store_conn *c, struct hook_set *hs, const char *name,
                      struct rp_arena *a, struct rp_error *err)
{
    struct rp_sql q;

    hs->n = 0;
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT name, secret, definition, created_at FROM rp_webhook");
    if (name) {
        rp_sql_add(&q, " WHERE name = ");
        rp_sql_param(&q, rp_value_cstr(name));
    }
    rp_sql_add(&q, " ORDER BY name");
    return rp_store_query(c, &q, hook_row, hs, err);
}

static bool list_has(const json_t *list, const char *s, size_t n)
{
    size_t i;
    json_t *v;
    if (!list)
        return true;
    json_array_foreach(list, i, v)
    {
        if (json_is_string(v) && json_string_length(v) == n &&
            memcmp(json_string_value(v), s, n) == 0)
            return true;
    }
    return false;
}

/* ---- subscriptions ---- */

static int check_string_list(const json_t *v, const char *key, struct rp_error *err)
{
    size_t i;
    json_t *e;
    if (!v)
        return 0;
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 64)
        return rp_error_field(err, RP_EVALIDATION, key, "invalid",
                              "\"%s\" must be a list of 1-64 names (or absent: every one)", key);
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e) || json_string_length(e) == 0 || json_string_length(e) > 64)
            return rp_error_field(err, RP_EVALIDATION, key, "invalid", "\"%s\" must hold names",
                                  key);
    }
    return 0;
}

struct put_unit {
    const char *name, *def, *secret;
    bool remove;
    int64_t now;
    bool created; /* out */
};

static int put_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct put_unit *x = ctx;
    struct rp_arena a;
    struct rp_sql q;
    bool exists = false;
    int64_t changed = 0;
    int rc;

    rp_arena_init(&a);
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT 1 FROM rp_webhook WHERE name = ");
    rp_sql_param(&q, rp_value_cstr(x->name));
    if ((rc = rp_store_query(c, &q, rp_store_row_exists, &exists, err)) < 0)
        goto out;
    x->created = !exists;
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    if (x->remove) {
        rp_sql_add(&q, "DELETE FROM rp_webhook WHERE name = ");
        rp_sql_param(&q, rp_value_cstr(x->name));
    } else {
        /* The secret is made once, at creation, and kept when the subscription changes. */
        rp_sql_add(&q, "INSERT INTO rp_webhook (name, secret, definition, created_at, updated_at)"
                       " VALUES (");
        rp_sql_param(&q, rp_value_cstr(x->name));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_cstr(x->secret));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_cstr(x->def));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_int(x->now));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_int(x->now));
        rp_sql_add(&q, ") ON CONFLICT (name) DO UPDATE SET definition = excluded.definition,"
                       " updated_at = excluded.updated_at");
    }
    if ((rc = rp_store_exec(c, &q, &changed, err)) < 0)
        goto out;
    if (x->remove && changed == 0) {
        rc = rp_error_set(err, RP_ENOTFOUND, "webhook \"%s\" not found", x->name);
        goto out;
    }
    /* Deliveries start with what happens after the first subscription. */
    rc = rp_automation_cursor_start(c, CURSOR_KEY, &a, err);
out:
    rp_arena_release(&a);
    return rc;
}

/* "filter": a condition on the record, for a subscription to exactly one object. */
static int check_filter(struct rp_automation *a, const json_t *def, struct rp_error *err)
{
    const json_t *filter = json_object_get(def, "filter"), *objects;
    const char *text = json_string_value(filter);
    struct rp_meta *m;
    struct rp_arena arena;
    struct rp_expr *e;
    struct rp_error sub;
    int rc = 0;

    if (!filter)
        return 0;
    objects = json_object_get(def, "objects");
    if (!text || json_array_size(objects) != 1)
        return rp_error_field(err, RP_EVALIDATION, "filter", "invalid",
                              "\"filter\" is a condition (a string) on the records of the one "
                              "object in \"objects\"");
    rp_arena_init(&arena);
    rp_error_init(&sub, &arena);
    m = rp_meta_acquire(a->meta);
    {
        const struct rp_object *o =
            rp_meta_object(m, json_string_value(json_array_get(objects, 0)));
        if (!o || rp_meta_parse_expr(m, o, text, strlen(text), 0, &arena, &e, &sub) < 0 ||
            rp_expr_type(e) != RP_V_BOOL)
            rc = rp_error_field(err, RP_EVALIDATION, "filter", "invalid_expression",
                                "invalid filter: %s",
                                !o           ? "unknown object"
                                : sub.detail ? sub.detail
                                             : "not a condition");
    }
    rp_meta_release(m);
    rp_arena_release(&arena);
    return rc;
}

int rp_webhook_put(struct rp_automation *a, const struct rp_principal *p, const char *name,
                   const json_t *def, struct rp_buf *out, struct rp_error *err)
{
    static const char *const keys[] = {"url",    "objects",     "events", "filter",
                                       "active", "description", NULL};
    struct put_unit x = {.name = name, .now = rp_clock_now_ms(a->clock)};
    struct rp_outbound_target target;
    unsigned char raw[32];
    char secret[SECRET_HEX_BYTES];
    int rc;

    if ((rc = rp_policy_check(p, NULL, RP_ACT_MANAGE_AUTOMATION, err)) < 0)
        return rc;
    if (!rp_str_is_name(name))
        return rp_error_field(err, RP_EVALIDATION, "name", "invalid",
                              "a webhook name is 1-64 of a-z, 0-9 and '_', starting with a letter");
    if (!json_is_object(def))
        return rp_error_set(err, RP_EINVAL, "a webhook is a JSON object");
    if (rp_json_check_keys(def, keys, "a webhook", NULL, err) < 0)
        return err->code;
    if ((rc = check_filter(a, def, err)) < 0)
        return rc;
    if (!json_is_string(json_object_get(def, "url")) ||
        json_string_length(json_object_get(def, "url")) > 2048)
        return rp_error_field(err, RP_EVALIDATION, "url", "required",
                              "\"url\" must be an http(s) URL of at most 2048 bytes");
    if ((rc = check_string_list(json_object_get(def, "objects"), "objects", err)) < 0 ||
        (rc = check_string_list(json_object_get(def, "events"), "events", err)) < 0)
        return rc;
    /* Refused at once if it points inside: checked again at every delivery (DNS moves). */
    {
        struct rp_arena arena;
        struct rp_error sub;
        const char *allow[RP_OUTBOUND_ALLOW_MAX];
        struct rp_outbound_policy pol = {.allow = allow};
        rp_arena_init(&arena);
        rp_error_init(&sub, &arena);
        pol.nallow = rp_webhook_allow_list(a, &arena, allow, RP_OUTBOUND_ALLOW_MAX);
        rc = rp_outbound_check_url(json_string_value(json_object_get(def, "url")), &pol, &target,
                                   &sub);
        if (rc < 0)
            rc = rp_error_field(err, RP_EVALIDATION, "url", "refused", "%s", sub.detail);
        rp_arena_release(&arena);
        if (rc < 0)
            return rc;
    }
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(secret, sizeof(secret), raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
    x.secret = secret;
    x.def = rp_json_dumps(def, JSON_COMPACT | JSON_SORT_KEYS, err);
    rc = !x.def ? err->code : rp_store_write(a->store, put_run, &x, err);
    free((char *)x.def);
    if (rc == 0) {
        rp_buf_adds(out, "{\"name\":");
        rp_buf_add_json_str(out, name, strlen(name));
        rp_buf_addf(out, ",\"created\":%s", x.created ? "true" : "false");
        if (x.created) /* shown once */
            rp_buf_addf(out, ",\"secret\":\"%s\"", secret);
        rp_buf_addc(out, '}');
    }
    sodium_memzero(secret, sizeof(secret));
    return rc;
}

int rp_webhook_delete(struct rp_automation *a, const struct rp_principal *p, const char *name,
                      struct rp_error *err)
{
    struct put_unit x = {.name = name, .remove = true, .now = rp_clock_now_ms(a->clock)};
    int rc;

    if ((rc = rp_policy_check(p, NULL, RP_ACT_MANAGE_AUTOMATION, err)) < 0)
        return rc;
    return rp_store_write(a->store, put_run, &x, err);
}

int rp_webhooks(struct rp_automation *a, const struct rp_principal *p, struct rp_buf *out,
                struct rp_error *err)
{
    struct hook_set *hs = rp_xcalloc(1, sizeof(*hs));
    struct rp_store_conn *c;
    struct rp_arena arena;
    int rc;

    if ((rc = rp_policy_check(p, NULL, RP_ACT_MANAGE_AUTOMATION, err)) < 0) {
        free(hs);
        return rc;
    }
    rp_arena_init(&arena);
    c = rp_store_reader_acquire(a->store);
    rc = hooks_load(c, hs, NULL, &arena, err);
    rp_store_reader_release(a->store, c);
    rp_buf_adds(out, "{\"data\":[");
    for (size_t i = 0; rc == 0 && i < hs->n; i++) {
        const struct hook *h = &hs->items[i];
        char *objects = h->objects ? rp_json_dumps(h->objects, JSON_COMPACT, NULL) : NULL;
        char *ops = h->ops ? rp_json_dumps(h->ops, JSON_COMPACT, NULL) : NULL;
        rp_buf_adds(out, i ? ",{\"name\":" : "{\"name\":");
        rp_buf_add_json_str(out, h->name, strlen(h->name));
        rp_buf_adds(out, ",\"url\":");
        rp_buf_add_json_str(out, h->url, strlen(h->url));
        rp_buf_addf(out, ",\"objects\":%s,\"events\":%s,\"active\":%s,\"filter\":",
                    objects ? objects : "null", ops ? ops : "null", h->active ? "true" : "false");
        if (h->filter)
            rp_buf_add_json_str(out, json_string_value(h->filter), json_string_length(h->filter));
        else
            rp_buf_adds(out, "null");
        rp_buf_addc(out, '}');
        free(objects);
        free(ops);
    }
    rp_buf_adds(out, "]}");
    hooks_free(hs);
    free(hs);
    rp_arena_release(&arena);
    return rc;
}

/* ---- the allow-list ---- */

struct text_row {
    struct rp_arena *a;
    char *text;
};

static int text_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct text_row *x = ctx;
    if (n > 0 && cols[0].type == RP_V_TEXT)
        x->text = rp_arena_strndup(x->a, cols[0].u.s.p, cols[0].u.s.len);
    return 1;
}

size_t rp_webhook_allow_list(struct rp_automation *a, struct rp_arena *arena, const char **allow,
                             size_t max)
{
    struct text_row x = {.a = arena};
    struct rp_store_conn *c = rp_store_reader_acquire(a->store);
    struct rp_error ignore;
    struct rp_sql q;
    size_t n = 0;

    rp_error_init(&ignore, NULL);
    rp_sql_init(&q, arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = '" ALLOW_KEY "'");
    rp_store_query(c, &q, text_row, &x, &ignore);
    rp_store_reader_release(a->store, c);
    for (char *s = x.text, *save = NULL, *tok; s && n < max; s = NULL) {
        while ((tok = strtok_r(s, ", ", &save)) && n < max) {
            allow[n++] = tok;
            s = NULL;
        }
        break;
    }
    return n;
}

/* ---- dispatching the change log ---- */

struct dispatch_unit {
    struct rp_automation *a;
    int64_t from; /* replay: from this seq for one hook; -1: the cursor */
    const char *only;
    size_t queued, events; /* out */
};

struct event_row {
    const struct hook_set *hs;
    struct dispatch_unit *x;
    struct rp_store_conn *c;
    struct rp_error *err;
    int64_t last;
    int rc;
};

/*
 * Whether the filter of h holds for the record of a change event, as the record is when the
 * event is dispatched (within a tick of the commit). A record that is gone does not match.
 */
static int filter_holds(struct event_row *er, const struct hook *h, const struct rp_value *object,
                        const struct rp_value *record_id, bool *holds)
{
    struct rp_meta *m = rp_meta_acquire(er->x->a->meta);
    const char *text = json_string_value(h->filter);
    const struct rp_object *o;
    struct rp_arena arena;
    struct rp_expr *e;
    struct rp_sql q;
    int rc = 0;

    *holds = false;
    rp_arena_init(&arena);
    o = object->type == RP_V_TEXT
            ? rp_meta_object(m, rp_arena_strndup(&arena, object->u.s.p, object->u.s.len))
            : NULL;
    if (o && record_id->type == RP_V_TEXT &&
        (rc = rp_meta_parse_expr(m, o, text, strlen(text), rp_clock_now_ms(er->x->a->clock), &arena,
                                 &e, er->err)) == 0) {
        rp_sql_init(&q, &arena, rp_store_dialect(er->x->a->store));
        rp_sql_addf(&q, "SELECT 1 FROM \"%s\" AS \"t\" WHERE \"t\".\"id\" = ", o->name);
        rp_sql_param(&q, *record_id);
        rp_sql_add(&q, " AND (");
        if ((rc = rp_expr_compile_sql(e, &q, er->err)) == 0) {
            rp_sql_add(&q, ")");
            rc = rp_store_query(er->c, &q, rp_store_row_exists, holds, er->err);
        }
    }
    if (rc == RP_EINVAL || rc == RP_EVALIDATION) {
        /* a filter the metadata no longer accepts matches nothing */
        rp_error_clear(er->err);
        rc = 0;
    }
    rp_meta_release(m);
    rp_arena_release(&arena);
    return rc;
}

static int event_row_fn(void *ctx, const struct rp_value *cols, size_t n)
{
    struct event_row *er = ctx;
    int64_t seq;

    if (n < 4)
        return 0;
    seq = cols[0].u.i;
    er->last = seq;
    er->x->events++;
    for (size_t i = 0; i < er->hs->n; i++) {
        const struct hook *h = &er->hs->items[i];
        char dedup[160], payload[128];
        bool queued = false;
        if (!h->active || (er->x->only && strcmp(er->x->only, h->name) != 0) ||
            !list_has(h->objects, cols[1].u.s.p, cols[1].u.s.len) ||
            !list_has(h->ops, cols[2].u.s.p, cols[2].u.s.len))
            continue;
        if (h->filter) {
            bool holds = false;
            if ((er->rc = filter_holds(er, h, &cols[1], &cols[3], &holds)) < 0)
                return er->rc;
            if (!holds)
                continue;
        }
        snprintf(payload, sizeof(payload), "{\"webhook\":\"%s\",\"seq\":%lld}", h->name,
                 (long long)seq);
        if (er->x->from >= 0)
            snprintf(dedup, sizeof(dedup), "webhook:%s:%lld:replay:%lld", h->name, (long long)seq,
                     (long long)rp_clock_now_ms(er->x->a->clock));
        else
            snprintf(dedup, sizeof(dedup), "webhook:%s:%lld", h->name, (long long)seq);
        er->rc = rp_jobs_enqueue_in(er->c, er->x->a->clock,
                                    &(struct rp_job_spec){.kind = RP_WEBHOOK_JOB,
                                                          .payload = payload,
                                                          .dedup_key = dedup,
                                                          .max_attempts = DELIVERY_TRIES},
                                    NULL, &queued, er->err);
        if (er->rc < 0)
            return er->rc;
        er->x->queued += queued;
    }
    return 0;
}

/* Reads the change log after the cursor (or from a replay position) and queues deliveries. */
static int dispatch_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct dispatch_unit *x = ctx;
    struct hook_set *hs = rp_xcalloc(1, sizeof(*hs));
    struct event_row er = {.hs = hs, .x = x, .c = c, .err = err};
    struct rp_arena arena;
    struct rp_sql q;
    int64_t cursor = -1;
    int rc;

    x->queued = x->events = 0;
    rp_arena_init(&arena);
    if (x->from >= 0) {
        cursor = x->from;
    } else {
        rp_sql_init(&q, &arena, rp_store_conn_dialect(c));
        rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = '" CURSOR_KEY "'");
        if ((rc = rp_store_query(c, &q, rp_store_row_int, &cursor, err)) < 0 || cursor < 0)
            goto out; /* no subscription was ever made */
    }
    if ((rc = hooks_load(c, hs, x->only, &arena, err)) < 0)
        goto out;
    er.last = cursor;
    rp_sql_init(&q, &arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT seq, object, op, record_id FROM rp_change WHERE seq > ");
    rp_sql_param(&q, rp_value_int(cursor));
    rp_sql_add(&q, " ORDER BY seq LIMIT ");
    rp_sql_param(&q, rp_value_int(DISPATCH_BATCH));
    if ((rc = rp_store_query(c, &q, event_row_fn, &er, err)) < 0)
        goto out;
    if (x->from >= 0) {
        x->from = er.last;
        goto out;
    }
    rp_sql_init(&q, &arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "UPDATE rp_setting SET value = ");
    rp_sql_param(&q, rp_value_cstr(rp_arena_sprintf(&arena, "%lld", (long long)er.last)));
    rp_sql_add(&q, " WHERE key = '" CURSOR_KEY "'");
    rc = rp_store_exec(c, &q, NULL, err);
out:
    hooks_free(hs);
    free(hs);
    rp_arena_release(&arena);
    return rc;
}

/* Runs dispatch units from x until a batch comes back short; *queued gets the total. */
static int dispatch_loop(struct rp_automation *a, struct dispatch_unit *x, size_t *queued,
                         struct rp_error *err)
{
    size_t total = 0;
    int rc;

    do {
        if ((rc = rp_store_write(a->store, dispatch_run, x, err)) < 0)
            break;
        total += x->queued;
    } while (x->events == DISPATCH_BATCH);
    if (queued)
        *queued = total;
    if (rc == 0 && total)
        rp_jobs_wake(a->jobs);
    return rc;
}

int rp_webhook_dispatch(struct rp_automation *a, size_t *queued, struct rp_error *err)
{
    struct dispatch_unit x = {.a = a, .from = -1};
    return dispatch_loop(a, &x, queued, err);
}

int rp_webhook_replay(struct rp_automation *a, const struct rp_principal *p, const char *name,
                      int64_t after_seq, size_t *queued, struct rp_error *err)
{
    struct dispatch_unit x = {.a = a, .from = after_seq < 0 ? 0 : after_seq, .only = name};
    int rc;

    if ((rc = rp_policy_check(p, NULL, RP_ACT_MANAGE_AUTOMATION, err)) < 0)
        return rc;
    return dispatch_loop(a, &x, queued, err);
}

/* ---- delivering ---- */

struct change_json {
    struct rp_buf *out;
    bool found;
};

static int change_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct change_json *x = ctx;

    if (n < RP_CHANGE_JSON_NCOLS)
        return 1;
    x->found = true;
    rp_automation_change_json(cols, x->out);
    return 1;
}

static int deliver_job(void *ctx, const struct rp_job *job, struct rp_error *err)
{
    struct rp_automation *a = ctx;
    json_t *payload = rp_json_loads(job->payload, 0, NULL);
    const char *name = json_string_value(json_object_get(payload, "webhook"));
    int64_t seq = json_integer_value(json_object_get(payload, "seq"));
    struct hook_set *hs = rp_xcalloc(1, sizeof(*hs));
    struct rp_store_conn *c;
    struct rp_arena arena;
    struct rp_buf body;
    struct change_json cj;
    struct rp_sql q;
    int rc;

    rp_arena_init(&arena);
    rp_buf_init(&body, &arena, 4 << 20);
    cj.out = &body;
    cj.found = false;
    c = rp_store_reader_acquire(a->store);
    rc = name ? hooks_load(c, hs, name, &arena, err)
              : rp_error_set(err, RP_EINVAL, "the job names no webhook");
    if (rc == 0 && json_is_string(json_object_get(payload, "body"))) {
        /* a call_webhook action: the body was made when the rule ran */
        rp_buf_add(&body, json_string_value(json_object_get(payload, "body")),
                   json_string_length(json_object_get(payload, "body")));
        cj.found = true;
    } else if (rc == 0) {
        rp_sql_init(&q, &arena, RP_SQL_SQLITE);
        rp_sql_add(&q, "SELECT " RP_CHANGE_JSON_COLUMNS " FROM rp_change WHERE seq = ");
        rp_sql_param(&q, rp_value_int(seq));
        rc = rp_store_query(c, &q, change_row, &cj, err);
    }
    rp_store_reader_release(a->store, c);
    if (rc < 0)
        goto out;
    if (hs->n == 0 || !hs->items[0].active || !cj.found) {
        rc = 0; /* the subscription or the event is gone (retention): nothing to deliver */
        goto out;
    }
    {
        const struct hook *h = &hs->items[0];
        const char *allow[RP_OUTBOUND_ALLOW_MAX];
        struct rp_outbound_policy pol = {.allow = allow};
        char sig[RP_OUTBOUND_SIG_MAX], event_id[48];
        struct rp_outbound_header headers[3];
        struct rp_outbound_response resp;
        struct rp_outbound_request req = {.url = h->url,
                                          .body = body.data,
                                          .body_len = body.len,
                                          .headers = headers,
                                          .nheaders = 3};
        pol.nallow = rp_webhook_allow_list(a, &arena, allow, RP_OUTBOUND_ALLOW_MAX);
        if (json_is_string(json_object_get(payload, "event_id")))
            snprintf(event_id, sizeof(event_id), "%s",
                     json_string_value(json_object_get(payload, "event_id")));
        else
            snprintf(event_id, sizeof(event_id), "evt_%lld", (long long)seq);
        if (rp_outbound_sign((const uint8_t *)h->secret, strlen(h->secret),
                             rp_clock_now_ms(a->clock) / 1000, body.data, body.len, sig) < 0) {
            rc = rp_error_set(err, RP_EINTERNAL, "could not sign the delivery");
            goto out;
        }
        headers[0] = (struct rp_outbound_header){"X-Rapport-Signature", sig};
        headers[1] = (struct rp_outbound_header){"X-Rapport-Event-Id", event_id};
        headers[2] = (struct rp_outbound_header){"X-Rapport-Webhook", h->name};
        rc = rp_outbound_post(&req, &pol, &resp, NULL, err);
        if (rc >= 200 && rc < 300) {
            rc = 0;
        } else if (rc >= 0) {
            rc = rp_error_set(err, RP_EIO, "%s answered %d", h->url, rc);
        } else if (rc == RP_EFORBIDDEN ||
                   (rc == RP_EINVAL && resp.failure == RP_OUTBOUND_REFUSED_URL)) {
            rc = RP_EINVAL; /* a refused destination stays refused: no retries */
        }
    }
out:
    hooks_free(hs);
    free(hs);
    json_decref(payload);
    rp_arena_release(&arena);
    return rc;
}

void rp_webhook_register(struct rp_automation *a)
{
    rp_jobs_register(a->jobs, RP_WEBHOOK_JOB, deliver_job, a, DELIVERY_TRIES);
}

/* ---- the call_webhook action ----
 *
 * {"type": "call_webhook", "webhook": "<subscription>", "values": {"key": value, ...}} delivers
 * {"id": "act_<job>_<n>", "at", "rule", "object", "record_id", "record": {...} (as it is now),
 * "data": {values}} to the subscription's URL, signed and retried like change events.
 */

int rp_webhook_action_check(const struct rp_action_check *c, const json_t *act,
                            struct rp_error *err)
{
    const char *name = json_string_value(json_object_get(act, "webhook"));
    const json_t *values = json_object_get(act, "values"), *v;
    struct rp_store_conn *conn;
    struct rp_sql q;
    const char *key;
    int64_t found = 0;
    int rc;

    if (!name)
        return rp_error_field(err, RP_EVALIDATION, c->where, "required",
                              "call_webhook needs \"webhook\": a subscription name");
    rp_sql_init(&q, c->arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT COUNT(*) FROM rp_webhook WHERE name = ");
    rp_sql_param(&q, rp_value_cstr(name));
    conn = rp_store_reader_acquire(c->a->store);
    rc = rp_store_query(conn, &q, rp_store_row_int, &found, err);
    rp_store_reader_release(c->a->store, conn);
    if (rc < 0)
        return rc;
    if (!found)
        return rp_error_field(err, RP_EVALIDATION, c->where, "not_found",
                              "webhook \"%s\" not found", name);
    if (values && !json_is_object(values))
        return rp_error_field(err, RP_EVALIDATION, c->where, "invalid",
                              "\"values\" maps names to values");
    json_object_foreach((json_t *)values, key, v)
    {
        const char *e = json_is_object(v) ? json_string_value(json_object_get(v, "expr")) : NULL;
        struct rp_expr *x;
        struct rp_error sub;
        if (!rp_str_is_name(key))
            return rp_error_field(err, RP_EVALIDATION, c->where, "invalid",
                                  "value names are 1-64 of a-z, 0-9 and '_'");
        if (!e)
            continue;
        rp_error_init(&sub, c->arena);
        if (!c->record ||
            rp_meta_parse_expr(c->meta, c->record, e, strlen(e), 0, c->arena, &x, &sub) < 0)
            return rp_error_field(err, RP_EVALIDATION, c->where, "invalid_expression",
                                  "value of \"%s\": %s", key,
                                  sub.detail ? sub.detail : "there is no record");
    }
    return 0;
}

int rp_webhook_action_run(const struct rp_action_run *x, const json_t *act, struct rp_error *err)
{
    const char *name = json_string_value(json_object_get(act, "webhook"));
    char *event_id = rp_arena_sprintf(x->arena, "act_%s_%zu", x->job->id, x->index);
    json_t *data = json_object(), *body, *record = NULL, *payload;
    struct rp_value at = rp_value_typed_int(RP_V_DATETIME, rp_clock_now_ms(x->a->clock));
    struct rp_buf when;
    char *text;
    int rc = 0;

    if (json_object_get(act, "values"))
        rc = rp_action_resolve_values(x, x->record_id ? x->object : NULL,
                                      json_object_get(act, "values"), data, err);
    if (rc == 0 && x->record_id) {
        struct rp_buf rec;
        int64_t version;
        rp_buf_init(&rec, x->arena, 1 << 20);
        rc = rp_records_get(x->a->records, &x->a->actor, x->object->name, x->record_id, NULL,
                            x->arena, &rec, &version, err);
        if (rc == 0)
            record = rp_json_loadb(rec.data, rec.len, 0, NULL);
        else if (rc == RP_ENOTFOUND)
            rc = RP_EINVAL;
    }
    if (rc < 0) {
        json_decref(data);
        return rc;
    }
    rp_buf_init(&when, x->arena, 64);
    rp_value_to_json(&when, &at);
    body = json_pack("{sssssssoso}", "id", event_id, "rule", x->rule, "object", x->object->name,
                     "record", record ? record : json_null(), "data", data);
    json_object_set_new(body, "at", rp_json_loadb(when.data, when.len, JSON_DECODE_ANY, NULL));
    json_object_set_new(body, "record_id", x->record_id ? json_string(x->record_id) : json_null());
    text = rp_json_dumps(body, JSON_COMPACT, NULL);
    payload = json_pack("{sssssi}", "webhook", name, "event_id", event_id, "seq", 0);
    json_object_set_new(payload, "body", json_string(text));
    free(text);
    json_decref(body);
    text = rp_json_dumps(payload, JSON_COMPACT, err);
    json_decref(payload);
    if (!text)
        return err->code;
    rc = rp_jobs_enqueue(x->a->jobs,
                         &(struct rp_job_spec){.kind = RP_WEBHOOK_JOB,
                                               .payload = text,
                                               .dedup_key = rp_arena_sprintf(
                                                   x->arena, "webhook:%s:%s", name, event_id),
                                               .max_attempts = DELIVERY_TRIES},
                         NULL, NULL, err);
    free(text);
    return rc;
}
