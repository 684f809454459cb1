/*
 * KPIs through the HTTP API on small hand-made data (docs/kpis.md): each KPI's value with its
 * numerator and denominator, grouping by a field and by period, the from/to range, access
 * control (a sales rep's KPIs count only the opportunities the rep can read), the catalogue,
 * and every bad parameter refused with 400 naming it (404 for an unknown KPI). Also the import
 * of created_at, which only administrators may set when creating.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "test_app.h"

static json_t *call_as(struct rp_test_app *t, const char *token, const char *method,
                       const char *target, const char *body, int expect)
{
    char *out = NULL;
    int status = rp_test_request_as(t, token, method, target, body, &out);
    json_t *j;

    if (status != expect)
        fprintf(stderr, "%s %s: %d %s\n", method, target, status, out ? out : "");
    assert_int_equal(status, expect);
    j = out && *out ? json_loads(out, JSON_DECODE_ANY, NULL) : json_object();
    free(out);
    return j ? j : json_object();
}

static json_t *call(struct rp_test_app *t, const char *method, const char *target, const char *body,
                    int expect)
{
    return call_as(t, t->token, method, target, body, expect);
}

static const char *PIPELINE = "{\"object\": \"opportunity\", \"field\": \"stage\", \"stages\": ["
                              "{\"value\": \"prospecting\", \"probability\": 10},"
                              "{\"value\": \"qualification\", \"probability\": 20},"
                              "{\"value\": \"proposal\", \"probability\": 50},"
                              "{\"value\": \"negotiation\", \"probability\": 75},"
                              "{\"value\": \"closed_won\", \"probability\": 100, \"won\": true},"
                              "{\"value\": \"closed_lost\", \"probability\": 0, \"lost\": true}]}";

/* The data points of a KPI answer. */
static json_t *kpi(struct rp_test_app *t, const char *token, const char *query)
{
    char target[256];
    json_t *j, *data;

    snprintf(target, sizeof(target), "/api/v1/kpis/%s", query);
    j = call_as(t, token, "GET", target, NULL, 200);
    data = json_incref(json_object_get(j, "data"));
    assert_true(json_is_array(data));
    json_decref(j);
    return data;
}

static double num(const json_t *point, const char *key)
{
    const json_t *v = json_object_get(point, key);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static void assert_near(double a, double b)
{
    if (fabs(a - b) > 1e-9)
        fprintf(stderr, "%.12g != %.12g\n", a, b);
    assert_true(fabs(a - b) <= 1e-9);
}

/* The one point of an ungrouped KPI. */
static json_t *only(json_t *data)
{
    assert_int_equal(json_array_size(data), 1);
    return json_array_get(data, 0);
}

static const json_t *point_where(const json_t *data, const char *key, const char *value)
{
    size_t i;
    const json_t *p;

    json_array_foreach(data, i, p)
    {
        const char *s = json_string_value(json_object_get(p, key));
        if (s && strcmp(s, value) == 0)
            return p;
    }
    fail_msg("no point with %s = %s", key, value);
    return NULL;
}

static void opp(struct rp_test_app *t, const char *owner, const char *stage, const char *amount,
                const char *created, const char *closed, const char *extra)
{
    char body[768], id[40];

    snprintf(body, sizeof(body),
             "{\"name\": \"Deal\", \"stage\": \"%s\", \"amount\": %s, \"owner_id\": \"%s\"%s%s%s"
             "%s%s%s%s%s}",
             stage, amount, owner, created ? ", \"created_at\": \"" : "", created ? created : "",
             created ? "\"" : "", closed ? ", \"closed_at\": \"" : "", closed ? closed : "",
             closed ? "\"" : "",
             strcmp(stage, "closed_lost") == 0 ? ", \"lost_reason\": \"price\"" : "",
             extra ? extra : "");
    rp_test_create(t, "opportunity", body, id);
}

static void test_opportunity_kpis(void **state)
{
    struct rp_test_app *t = *state;
    char rep[128], rep_id[40];
    json_t *d;
    const json_t *p;

    json_decref(call(t, "PUT", "/api/v1/definitions/pipelines/sales", PIPELINE, 201));
    rp_test_user(t, "rep", "rep-password", false, rep, sizeof(rep), rep_id);
    opp(t, t->user_id, "closed_won", "1000.5", "2026-01-01T00:00:00Z", "2026-01-11T00:00:00Z",
        NULL);
    opp(t, t->user_id, "closed_won", "2000", "2026-01-01T00:00:00Z", "2026-01-31T00:00:00Z", NULL);
    opp(t, t->user_id, "closed_lost", "500", "2026-02-01T00:00:00Z", "2026-04-02T00:00:00Z", NULL);
    opp(t, t->user_id, "proposal", "10000", NULL, NULL,
        ", \"expected_close_date\": \"2026-12-15\"");
    opp(t, t->user_id, "negotiation", "3333.33", NULL, NULL,
        ", \"probability\": 10, \"expected_close_date\": \"2027-01-10\"");
    opp(t, rep_id, "closed_won", "700", "2026-02-01T00:00:00Z", "2026-02-06T00:00:00Z", NULL);

    /* win rate: 3 won of 4 closed; by amount 3700.5 of 4200.5 */
    d = kpi(t, t->token, "win_rate");
    p = only(d);
    assert_near(num(p, "value"), 0.75);
    assert_int_equal(num(p, "numerator"), 3);
    assert_int_equal(num(p, "denominator"), 4);
    assert_int_equal(num(p, "count"), 4);
    json_decref(d);
    d = kpi(t, t->token, "win_rate_amount");
    p = only(d);
    assert_near(num(p, "numerator"), 3700.5);
    assert_near(num(p, "denominator"), 4200.5);
    assert_near(num(p, "value"), 3700.5 / 4200.5);
    json_decref(d);
    d = kpi(t, t->token, "won_revenue");
    assert_near(num(only(d), "value"), 3700.5);
    assert_int_equal(num(only(d), "count"), 3);
    json_decref(d);

    /* one owner's: the rep won 1 of 1 for 700 */
    {
        char q[160];
        snprintf(q, sizeof(q), "win_rate?owner=%s", rep_id);
        d = kpi(t, t->token, q);
        assert_int_equal(num(only(d), "numerator"), 1);
        assert_int_equal(num(only(d), "denominator"), 1);
        json_decref(d);
        snprintf(q, sizeof(q), "won_revenue?owner=%s", t->user_id);
        d = kpi(t, t->token, q);
        assert_near(num(only(d), "value"), 3000.5);
        json_decref(d);
    }

    /* median cycle of won deals: 5, 10, 30 days; lost ones do not count */
    d = kpi(t, t->token, "median_sales_cycle_days");
    assert_near(num(only(d), "value"), 10);
    assert_int_equal(num(only(d), "count"), 3);
    json_decref(d);
    d = kpi(t, t->token, "median_sales_cycle_days?group=owner_id");
    assert_int_equal(json_array_size(d), 2);
    assert_near(num(point_where(d, "group", t->user_id), "value"), 20); /* (10 + 30) / 2 */
    assert_near(num(point_where(d, "group", rep_id), "value"), 5);
    json_decref(d);

    /* periods of the close date, and the range */
    d = kpi(t, t->token, "win_rate?period=month");
    assert_int_equal(json_array_size(d), 3);
    assert_near(num(point_where(d, "period", "2026-01"), "value"), 1);
    assert_near(num(point_where(d, "period", "2026-02"), "value"), 1);
    assert_near(num(point_where(d, "period", "2026-04"), "value"), 0);
    json_decref(d);
    d = kpi(t, t->token, "win_rate?period=quarter&group=owner_id");
    assert_int_equal(json_array_size(d), 3);
    json_decref(d);
    d = kpi(t, t->token, "win_rate?period=quarter");
    assert_int_equal(num(point_where(d, "period", "2026-Q1"), "denominator"), 3);
    assert_int_equal(num(point_where(d, "period", "2026-Q2"), "denominator"), 1);
    json_decref(d);
    d = kpi(t, t->token, "win_rate?period=year");
    assert_near(num(point_where(d, "period", "2026"), "value"), 0.75);
    json_decref(d);
    d = kpi(t, t->token, "win_rate?from=2026-02-01&to=2026-04-02");
    assert_int_equal(num(only(d), "numerator"), 1);
    assert_int_equal(num(only(d), "denominator"), 2);
    json_decref(d);
    d = kpi(t, t->token, "win_rate?from=2026-02-01&to=2026-04-01");
    assert_int_equal(num(only(d), "denominator"), 1); /* to is inclusive, by day */
    json_decref(d);
    d = kpi(t, t->token, "win_rate?period=week&to=2026-01-31");
    assert_near(num(point_where(d, "period", "2026-01-05"), "value"), 1); /* Mon of 01-11 */
    assert_near(num(point_where(d, "period", "2026-01-26"), "value"), 1);
    json_decref(d);

    /* open pipeline by stage, weighted by the opportunity's probability, else the stage's */
    d = kpi(t, t->token, "pipeline_by_stage");
    assert_int_equal(json_array_size(d), 2);
    assert_near(num(point_where(d, "group", "proposal"), "value"), 10000);
    assert_near(num(point_where(d, "group", "negotiation"), "value"), 3333.33);
    json_decref(d);
    d = kpi(t, t->token, "weighted_pipeline");
    assert_near(num(point_where(d, "group", t->user_id), "value"), 5000 + 333.333);
    json_decref(d);
    d = kpi(t, t->token, "weighted_pipeline?group=none&period=month");
    assert_near(num(point_where(d, "period", "2026-12"), "value"), 5000);
    assert_near(num(point_where(d, "period", "2027-01"), "value"), 333.333);
    json_decref(d);
    /* a date field (day numbers) in the range */
    d = kpi(t, t->token, "weighted_pipeline?from=2027-01-01&group=none");
    assert_near(num(only(d), "value"), 333.333);
    json_decref(d);
    d = kpi(t, t->token, "weighted_pipeline?to=2026-12-15&group=none");
    assert_near(num(only(d), "value"), 5000);
    json_decref(d);
    d = kpi(t, t->token, "forecast");
    assert_near(num(point_where(d, "group", t->user_id), "value"), 3000.5 + 5000 + 333.333);
    assert_near(num(point_where(d, "group", rep_id), "value"), 700);
    json_decref(d);

    /* the rep reads only their own opportunity (sharing is private) */
    d = kpi(t, rep, "win_rate");
    assert_int_equal(num(only(d), "numerator"), 1);
    assert_int_equal(num(only(d), "denominator"), 1);
    json_decref(d);
    d = kpi(t, rep, "median_sales_cycle_days");
    assert_near(num(only(d), "value"), 5);
    json_decref(d);
    d = kpi(t, rep, "pipeline_by_stage");
    assert_int_equal(json_array_size(d), 0);
    json_decref(d);
}

static void patch(struct rp_test_app *t, const char *object, const char *id, const char *body)
{
    char target[160];
    snprintf(target, sizeof(target), "/api/v1/records/%s/%s", object, id);
    json_decref(call(t, "PATCH", target, body, 200));
}

static void test_lead_kpis(void **state)
{
    struct rp_test_app *t = *state;
    char l1[40], l2[40], l3[40], l4[40], target[160];
    json_t *d, *r;
    const json_t *p;

    json_decref(call(t, "PUT", "/api/v1/definitions/pipelines/sales", PIPELINE, 201));
    rp_test_create(t, "lead",
                   "{\"last_name\": \"One\", \"company\": \"A\", \"source\": \"web\","
                   " \"first_touched_at\": \"2026-11-22T10:00:00Z\"}",
                   l1);
    rp_test_create(t, "lead",
                   "{\"last_name\": \"Two\", \"source\": \"web\","
                   " \"first_touched_at\": \"2026-11-22T12:00:00Z\"}",
                   l2);
    rp_test_create(t, "lead",
                   "{\"last_name\": \"Three\", \"status\": \"sql\", \"source\": \"event\"}", l3);
    rp_test_create(t, "lead", "{\"last_name\": \"Four\", \"source\": \"event\"}", l4);
    /* l1: mql, sql, converted, won; l2: mql, then disqualified (it still reached mql) */
    patch(t, "lead", l1, "{\"status\": \"mql\"}");
    patch(t, "lead", l1, "{\"status\": \"sql\"}");
    patch(t, "lead", l2, "{\"status\": \"mql\"}");
    patch(t, "lead", l2, "{\"status\": \"disqualified\", \"disqualified_reason\": \"no_budget\"}");
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s/convert", l1);
    r = call(t, "POST", target, "{\"opportunity\": {\"amount\": 100}}", 201);

    d = kpi(t, t->token, "lead_funnel");
    assert_int_equal(json_array_size(d), 5);
    assert_int_equal(num(point_where(d, "step", "lead"), "count"), 4);
    assert_int_equal(num(point_where(d, "step", "mql"), "count"), 3);
    assert_int_equal(num(point_where(d, "step", "sql"), "count"), 2);
    assert_int_equal(num(point_where(d, "step", "opportunity"), "count"), 1);
    assert_int_equal(num(point_where(d, "step", "won"), "count"), 0);
    assert_near(num(point_where(d, "step", "sql"), "value"), 2.0 / 3);
    assert_near(num(point_where(d, "step", "opportunity"), "of_leads"), 0.25);
    json_decref(d);

    patch(t, "opportunity", json_string_value(json_object_get(r, "opportunity_id")),
          "{\"stage\": \"closed_won\", \"closed_at\": \"2026-11-22T08:00:00Z\"}");
    json_decref(r);
    d = kpi(t, t->token, "lead_funnel?group=source");
    assert_int_equal(json_array_size(d), 10);
    p = json_array_get(d, 9); /* web sorts after event: its won step */
    assert_string_equal(json_string_value(json_object_get(p, "group")), "web");
    assert_string_equal(json_string_value(json_object_get(p, "step")), "won");
    assert_int_equal(num(p, "count"), 1);
    assert_near(num(p, "value"), 1);
    json_decref(d);

    d = kpi(t, t->token, "mql_to_sql_rate");
    assert_int_equal(num(only(d), "numerator"), 2);
    assert_int_equal(num(only(d), "denominator"), 3);
    json_decref(d);

    /* created at 08:00; touched after 2 h and 4 h */
    d = kpi(t, t->token, "first_touch_time");
    assert_near(num(only(d), "value"), 3);
    assert_int_equal(num(only(d), "count"), 2);
    json_decref(d);
    d = kpi(t, t->token, "first_touch_time?from=2026-11-23");
    assert_int_equal(json_array_size(d), 0);
    json_decref(d);
    d = kpi(t, t->token, "lead_funnel?period=day");
    assert_string_equal(json_string_value(json_object_get(json_array_get(d, 0), "period")),
                        "2026-11-22");
    json_decref(d);
}

static int add_clocks(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    const char *const *ids = ctx;
    char sql[2048];

    snprintf(sql, sizeof(sql),
             "INSERT INTO rp_sla_clock (object, record_id, target, policy, state, started_at,"
             " due_at, updated_at) VALUES"
             " ('lead', '%s', 'first_touch', 'p', 'met', 1795334400000, 1795352400000, 0),"
             " ('lead', '%s', 'first_touch', 'p', 'breached', 1795334400000, 1795352400000, 0),"
             " ('lead', '%s', 'first_touch', 'p', 'running', 1795334400000, 1795352400000, 0),"
             " ('lead', '%s', 'follow_up', 'p', 'met', 1795334400000, 1795352400000, 0),"
             " ('case', '%s', 'first_touch', 'p', 'breached', 1795334400000, 1795352400000, 0)",
             ids[0], ids[1], ids[2], ids[0], ids[0]);
    return rp_store_exec_script(c, sql, err);
}

static void test_sla_attainment(void **state)
{
    struct rp_test_app *t = *state;
    char a[40], b[40], c[40], rep[128];
    const char *ids[] = {a, b, c};
    struct rp_arena arena;
    struct rp_error err;
    json_t *d;

    rp_test_create(t, "lead", "{\"last_name\": \"A\"}", a);
    rp_test_create(t, "lead", "{\"last_name\": \"B\"}", b);
    rp_test_create(t, "lead", "{\"last_name\": \"C\"}", c);
    rp_arena_init(&arena);
    rp_error_init(&err, &arena);
    assert_int_equal(rp_store_write(t->app->store, add_clocks, ids, &err), 0);
    rp_arena_release(&arena);

    d = kpi(t, t->token, "sla_attainment");
    assert_int_equal(json_array_size(d), 2);
    assert_near(num(point_where(d, "group", "first_touch"), "value"), 0.5);
    assert_int_equal(num(point_where(d, "group", "first_touch"), "denominator"), 2);
    assert_near(num(point_where(d, "group", "follow_up"), "value"), 1);
    json_decref(d);
    d = kpi(t, t->token, "sla_attainment?group=none&period=month");
    assert_int_equal(num(only(d), "numerator"), 2);
    assert_int_equal(num(only(d), "denominator"), 3);
    assert_string_equal(json_string_value(json_object_get(only(d), "period")), "2026-11");
    json_decref(d);
    d = kpi(t, t->token, "sla_attainment?object=case");
    assert_int_equal(json_array_size(d), 0); /* the case clock names no case record */
    json_decref(d);

    /* leads are public to read: a rep sees the same clocks */
    rp_test_user(t, "rep", "rep-password", false, rep, sizeof(rep), NULL);
    d = kpi(t, rep, "sla_attainment?group=none");
    assert_int_equal(num(only(d), "denominator"), 3);
    json_decref(d);
}

static void bad(struct rp_test_app *t, const char *query, int status, const char *field)
{
    char target[256];
    json_t *j;

    snprintf(target, sizeof(target), "/api/v1/kpis/%s", query);
    j = call(t, "GET", target, NULL, status);
    if (field) {
        const json_t *e = json_array_get(json_object_get(j, "errors"), 0);
        assert_string_equal(json_string_value(json_object_get(e, "field")), field);
    }
    json_decref(j);
}

static void test_bad_parameters(void **state)
{
    struct rp_test_app *t = *state;
    json_t *j;
    size_t i;
    const json_t *k;
    bool seen = false;

    bad(t, "no_such_kpi", 404, NULL);
    bad(t, "win_rate?from=2026-13-01", 400, "from");
    bad(t, "win_rate?to=yesterday", 400, "to");
    bad(t, "win_rate?from=2026-05-01&to=2026-04-01", 400, "to");
    bad(t, "win_rate?period=fortnight", 400, "period");
    bad(t, "win_rate?group=colour", 400, "group");
    bad(t, "win_rate?group=amount", 400, "group");
    bad(t, "win_rate?group=weighted_amount", 400, "group");
    bad(t, "win_rate?limit=5", 400, "limit");
    bad(t, "win_rate?object=lead", 400, "object");
    bad(t, "sla_attainment?object=spaceship", 400, "object");
    bad(t, "win_rate?owner=me", 400, "owner");
    bad(t, "win_rate?period=day&period=week", 400, "period");

    j = call(t, "GET", "/api/v1/kpis", NULL, 200);
    json_array_foreach(json_object_get(j, "data"), i, k)
    {
        if (strcmp(json_string_value(json_object_get(k, "name")), "median_sales_cycle_days") == 0) {
            assert_string_equal(json_string_value(json_object_get(k, "object")), "opportunity");
            assert_string_equal(json_string_value(json_object_get(k, "date_field")), "closed_at");
            seen = true;
        }
    }
    assert_true(seen);
    assert_true(json_array_size(json_object_get(j, "data")) >= 11);
    json_decref(j);
    assert_int_equal(rp_test_request_as(t, NULL, "GET", "/api/v1/kpis/win_rate", NULL, NULL), 401);
}

/* A KPI that reads a field hidden from the caller would reveal it: 403; one that does not is
 * fine; grouping by the hidden field is an unknown field. */
static void test_hidden_fields(void **state)
{
    struct rp_test_app *t = *state;
    char bob[128], bob_id[40], target[160];

    json_decref(call(t, "PUT", "/api/v1/admin/permission-sets/no_amounts",
                     "{\"label\": \"No amounts\", \"definition\": {\"objects\": {\"*\": {\"read\":"
                     " true, \"create\": true, \"edit\": true}, \"opportunity\": {\"read\": true,"
                     " \"fields\": {\"amount\": \"none\", \"lost_reason\": \"none\"}}}}}",
                     201));
    rp_test_user(t, "bob", "bob-password-1", false, bob, sizeof(bob), bob_id);
    snprintf(target, sizeof(target), "/api/v1/admin/users/%s", bob_id);
    json_decref(call(t, "PATCH", target, "{\"permission_sets\": [\"no_amounts\"]}", 200));
    opp(t, bob_id, "closed_won", "1000", "2026-01-01T00:00:00Z", "2026-01-11T00:00:00Z", NULL);

    json_decref(call_as(t, bob, "GET", "/api/v1/kpis/won_revenue", NULL, 403));
    json_decref(call_as(t, bob, "GET", "/api/v1/kpis/win_rate_amount", NULL, 403));
    json_decref(call_as(t, bob, "GET", "/api/v1/kpis/pipeline_by_stage", NULL, 403));
    json_decref(call_as(t, bob, "GET", "/api/v1/kpis/win_rate?group=lost_reason", NULL, 400));
    json_decref(call_as(t, bob, "GET", "/api/v1/kpis/win_rate?group=owner_id", NULL, 200));
    json_decref(call(t, "GET", "/api/v1/kpis/won_revenue", NULL, 200));
}

static void test_created_at_import(void **state)
{
    struct rp_test_app *t = *state;
    char rep[128], id[40], target[160];
    json_t *j;

    rp_test_create(t, "account", "{\"name\": \"Old\", \"created_at\": \"2016-10-20T00:00:00Z\"}",
                   id);
    snprintf(target, sizeof(target), "/api/v1/records/account/%s", id);
    j = call(t, "GET", target, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(j, "created_at")),
                        "2016-10-20T00:00:00Z");
    json_decref(j);
    /* not after now, not on update, not for others */
    json_decref(call(t, "POST", "/api/v1/records/account",
                     "{\"name\": \"Future\", \"created_at\": \"2030-01-01T00:00:00Z\"}", 422));
    json_decref(call(t, "PATCH", target, "{\"created_at\": \"2015-01-01T00:00:00Z\"}", 422));
    rp_test_user(t, "rep", "rep-password", false, rep, sizeof(rep), NULL);
    json_decref(call_as(t, rep, "POST", "/api/v1/records/account",
                        "{\"name\": \"Backdated\", \"created_at\": \"2016-01-01T00:00:00Z\"}",
                        422));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_opportunity_kpis, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_lead_kpis, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_sla_attainment, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_bad_parameters, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_hidden_fields, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_created_at_import, rp_test_app_setup,
                                        rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
