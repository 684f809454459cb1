/*
 * The SLA engine with the fake clock, the dispatchers and the job queue run by hand: deadlines
 * in a business calendar across a weekend and a holiday, a pause spanning a night moving the
 * deadline by its working time (and the breach timer queued again), the policy chosen by
 * criteria and order (and changed with the criteria), warnings and breaches firing exactly
 * once however often everything runs, a target met in time never breaching, escalation
 * actions applied and the sla.* events in the change log, start_sla and stop_sla as rule
 * actions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/value.h"
#include "test_app.h"

#define MINUTE_MS (INT64_C(60) * 1000)

/* Instants used below, in UTC (Shanghai is UTC+8 all year). */
#define FRI_1700_CST INT64_C(1795770000000) /* 2026-11-27 17:00 +08, a Friday */
#define TUE_1000_CST INT64_C(1796090400000) /* 2026-12-01 10:00 +08 */
#define TUE_1700_CST INT64_C(1796115600000) /* 2026-12-01 17:00 +08 */
#define TUE_1730_CST INT64_C(1796117400000) /* 2026-12-01 17:30 +08 */
#define WED_1000_CST INT64_C(1796176800000) /* 2026-12-02 10:00 +08 */
#define WED_1130_CST INT64_C(1796182200000) /* 2026-12-02 11:30 +08 */

static const char calendar[] =
    "{\"time_zone\": \"Asia/Shanghai\", \"hours\": {\"mon\": [[\"09:00\",\"12:00\"],"
    "[\"13:00\",\"18:00\"]], \"tue\": [[\"09:00\",\"12:00\"],[\"13:00\",\"18:00\"]],"
    " \"wed\": [[\"09:00\",\"12:00\"],[\"13:00\",\"18:00\"]], \"thu\": [[\"09:00\",\"12:00\"],"
    "[\"13:00\",\"18:00\"]], \"fri\": [[\"09:00\",\"12:00\"],[\"13:00\",\"18:00\"]]},"
    " \"holidays\": [\"2026-11-30\"]}";

/* Runs the SLA engine, the rules and the due jobs until nothing is left; returns jobs run. */
static void at(struct rp_test_app *t, int64_t ms)
{
    rp_clock_set(&t->app->clock, ms);
}

/* The instant ms as the API writes datetimes. */
static const char *iso(int64_t ms, char *buf, size_t n)
{
    struct rp_buf b;
    struct rp_value v = rp_value_typed_int(RP_V_DATETIME, ms);

    rp_buf_init(&b, NULL, 64);
    rp_value_to_json(&b, &v);
    snprintf(buf, n, "%.*s", b.len > 2 ? (int)b.len - 2 : 0, b.data + 1); /* without quotes */
    rp_buf_release(&b);
    return buf;
}

/* The clock of target of a case (an object of GET .../sla, owned by the caller). */
static json_t *clock_of(struct rp_test_app *t, const char *object, const char *id,
                        const char *target)
{
    char path[160];
    json_t *j, *e, *found = NULL;
    size_t i;

    snprintf(path, sizeof(path), "/api/v1/records/%s/%s/sla", object, id);
    j = rp_test_call(t, "GET", path, NULL, 200);
    json_array_foreach(json_object_get(j, "data"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "target")), target) == 0)
            found = json_incref(e);
    }
    json_decref(j);
    assert_non_null(found);
    return found;
}

static const char *s_of(const json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "";
}

static json_t *record(struct rp_test_app *t, const char *object, const char *id)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/records/%s/%s", object, id);
    return rp_test_call(t, "GET", path, NULL, 200);
}

static void patch(struct rp_test_app *t, const char *object, const char *id, const char *body)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/records/%s/%s", object, id);
    json_decref(rp_test_call(t, "PATCH", path, body, 200));
}

/* Change events of op (e.g. "sla.breached") about record id. */
static size_t events(struct rp_test_app *t, const char *op, const char *id)
{
    json_t *j =
        rp_test_call(t, "GET", "/api/v1/changes?after=0&limit=1000&objects=event", NULL, 200);
    json_t *e;
    size_t i, n = 0;

    json_array_foreach(json_object_get(j, "data"), i, e)
    {
        const json_t *ch = json_object_get(e, "changes");
        if (strcmp(s_of(e, "op"), op) == 0 && strcmp(s_of(ch, "record_id"), id) == 0)
            n++;
    }
    json_decref(j);
    return n;
}

static void test_deadline_across_weekend_and_holiday(void **state)
{
    struct rp_test_app *t = *state;
    char id[40], want[64];
    json_t *k, *c;

    json_decref(rp_test_call(t, "PUT", "/api/v1/sla/calendars/cn_support", calendar, 201));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/sla/policies/standard",
                     "{\"object\": \"case\", \"calendar\": \"cn_support\", \"targets\":"
                     " [{\"name\": \"first_response\", \"minutes\": 120, \"due_field\":"
                     " \"first_response_due\", \"met_when\": \"first_responded_at is not null\"}]}",
                     201));
    /* Friday 17:00: one working hour on Friday, none on the weekend, Monday is a holiday, so
       the second hour is Tuesday 09:00-10:00. */
    at(t, FRI_1700_CST);
    rp_test_create(t, "case", "{\"subject\": \"Printer\", \"priority\": \"p3\"}", id);
    rp_test_settle(t);
    k = clock_of(t, "case", id, "first_response");
    assert_string_equal(s_of(k, "state"), "running");
    assert_string_equal(s_of(k, "policy"), "standard");
    assert_string_equal(s_of(k, "started_at"), iso(FRI_1700_CST, want, sizeof(want)));
    assert_string_equal(s_of(k, "due_at"), iso(TUE_1000_CST, want, sizeof(want)));
    json_decref(k);
    c = record(t, "case", id);
    assert_string_equal(s_of(c, "first_response_due"), iso(TUE_1000_CST, want, sizeof(want)));
    json_decref(c);
    /* The due-field write is itself a change: judging it again changes nothing. */
    assert_int_equal(rp_test_settle(t), 0);
}

static void test_pause_over_night_moves_deadline(void **state)
{
    struct rp_test_app *t = *state;
    char id[40], want[64];
    json_t *k, *c;

    json_decref(rp_test_call(t, "PUT", "/api/v1/sla/calendars/cn_support", calendar, 201));
    json_decref(rp_test_call(t, "PUT", "/api/v1/sla/policies/standard",
                             "{\"object\": \"case\", \"calendar\": \"cn_support\","
                             " \"pause_when\": \"status = 'pending_customer'\", \"targets\":"
                             " [{\"name\": \"resolution\", \"minutes\": 120, \"due_field\":"
                             " \"resolution_due\", \"met_when\": \"resolved_at is not null\","
                             " \"on_breach\": [{\"type\": \"set_fields\", \"values\":"
                             " {\"sla_breached\": true}}]}]}",
                             201));
    at(t, TUE_1700_CST);
    rp_test_create(t, "case", "{\"subject\": \"Invoice\", \"status\": \"open\"}", id);
    rp_test_settle(t);
    k = clock_of(t, "case", id, "resolution");
    /* Tuesday 17:00-18:00, then Wednesday 09:00-10:00. */
    assert_string_equal(s_of(k, "due_at"), iso(WED_1000_CST, want, sizeof(want)));
    json_decref(k);

    /* Waiting on the customer from 17:30 until Wednesday 10:00: 30 + 60 working minutes. */
    at(t, TUE_1730_CST);
    patch(t, "case", id, "{\"status\": \"pending_customer\"}");
    rp_test_settle(t);
    k = clock_of(t, "case", id, "resolution");
    assert_string_equal(s_of(k, "state"), "paused");
    assert_string_equal(s_of(k, "paused_since"), iso(TUE_1730_CST, want, sizeof(want)));
    json_decref(k);
    /* The old deadline passes while paused: the breach timer finds it paused and does nothing. */
    at(t, WED_1000_CST);
    rp_test_settle(t);
    k = clock_of(t, "case", id, "resolution");
    assert_string_equal(s_of(k, "state"), "paused");
    json_decref(k);
    patch(t, "case", id, "{\"status\": \"open\"}");
    rp_test_settle(t);
    k = clock_of(t, "case", id, "resolution");
    assert_string_equal(s_of(k, "state"), "running");
    assert_int_equal(json_integer_value(json_object_get(k, "paused_ms")), 90 * MINUTE_MS);
    /* 30 working minutes ran before the pause; the other 90 run from Wednesday 10:00. */
    assert_string_equal(s_of(k, "due_at"), iso(WED_1130_CST, want, sizeof(want)));
    json_decref(k);
    c = record(t, "case", id);
    assert_string_equal(s_of(c, "resolution_due"), iso(WED_1130_CST, want, sizeof(want)));
    json_decref(c);
    /* The breach timer was queued again at the new deadline. */
    {
        json_t *j = rp_test_call(t, "GET", "/api/v1/jobs?state=queued", NULL, 200), *e;
        size_t i, n = 0;
        json_array_foreach(json_object_get(j, "data"), i, e)
        {
            if (strcmp(s_of(e, "kind"), "sla.timer") == 0 &&
                strcmp(s_of(e, "run_at"), iso(WED_1130_CST, want, sizeof(want))) == 0)
                n++;
        }
        json_decref(j);
        assert_int_equal(n, 1);
    }
    at(t, WED_1130_CST - MINUTE_MS);
    rp_test_settle(t);
    assert_int_equal(events(t, "sla.breached", id), 0);
    at(t, WED_1130_CST);
    rp_test_settle(t);
    assert_int_equal(events(t, "sla.breached", id), 1);
    c = record(t, "case", id);
    assert_true(json_is_true(json_object_get(c, "sla_breached")));
    json_decref(c);
}

static void test_policy_chosen_by_criteria_and_order(void **state)
{
    struct rp_test_app *t = *state;
    char p1[40], p3[40], want[64];
    json_t *k;

    /* The p1 policies both match a p1 case: the lower order wins, whatever the names. */
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/sla/policies/a_p1_late",
                     "{\"object\": \"case\", \"criteria\": \"priority = 'p1'\", \"order\": 30,"
                     " \"targets\": [{\"name\": \"first_response\", \"minutes\": 240}]}",
                     201));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/sla/policies/p1",
                     "{\"object\": \"case\", \"criteria\": \"priority = 'p1'\", \"order\": 10,"
                     " \"targets\": [{\"name\": \"first_response\", \"minutes\": 60}]}",
                     201));
    json_decref(rp_test_call(t, "PUT", "/api/v1/sla/policies/standard",
                             "{\"object\": \"case\", \"order\": 100, \"targets\": [{\"name\":"
                             " \"first_response\", \"minutes\": 480}]}",
                             201));
    rp_test_create(t, "case", "{\"subject\": \"Down\", \"priority\": \"p1\"}", p1);
    rp_test_create(t, "case", "{\"subject\": \"Slow\", \"priority\": \"p3\"}", p3);
    rp_test_settle(t);
    k = clock_of(t, "case", p1, "first_response");
    assert_string_equal(s_of(k, "policy"), "p1");
    assert_string_equal(s_of(k, "due_at"), iso(RP_TEST_NOW_MS + 60 * MINUTE_MS, want, 64));
    json_decref(k);
    k = clock_of(t, "case", p3, "first_response");
    assert_string_equal(s_of(k, "policy"), "standard");
    assert_string_equal(s_of(k, "due_at"), iso(RP_TEST_NOW_MS + 480 * MINUTE_MS, want, 64));
    json_decref(k);
    /* Raised to p1 ten minutes later: the clock keeps its start and takes p1's target. */
    rp_clock_advance(&t->app->clock, 10 * MINUTE_MS);
    patch(t, "case", p3, "{\"priority\": \"p1\"}");
    rp_test_settle(t);
    k = clock_of(t, "case", p3, "first_response");
    assert_string_equal(s_of(k, "policy"), "p1");
    assert_string_equal(s_of(k, "started_at"), iso(RP_TEST_NOW_MS, want, 64));
    assert_string_equal(s_of(k, "due_at"), iso(RP_TEST_NOW_MS + 60 * MINUTE_MS, want, 64));
    json_decref(k);
}

static void test_warning_and_breach_fire_once(void **state)
{
    struct rp_test_app *t = *state;
    char id[40], user[40], tok[128], body[1024];
    json_t *k, *c;

    rp_test_user(t, "lead_agent", "lead-agent-password", false, tok, sizeof(tok), user);
    /* 24x7 (no calendar): warning at 45 minutes, breach at 60. */
    snprintf(body, sizeof(body),
             "{\"object\": \"case\", \"criteria\": \"priority = 'p1'\", \"targets\":"
             " [{\"name\": \"first_response\", \"minutes\": 60, \"due_field\":"
             " \"first_response_due\", \"met_when\": \"first_responded_at is not null\","
             " \"warn_before_minutes\": 15, \"on_warning\": [{\"type\": \"set_fields\","
             " \"values\": {\"escalated\": true}}], \"on_breach\": [{\"type\": \"set_fields\","
             " \"values\": {\"sla_breached\": true, \"escalated_at\": {\"expr\": \"now()\"}}},"
             " {\"type\": \"assign\", \"strategy\": \"user\", \"users\": [\"%s\"]}]}]}",
             user);
    json_decref(rp_test_call(t, "PUT", "/api/v1/sla/policies/p1", body, 201));
    /* Rules react to the breach event like to any incoming event. */
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/on_breach",
                     "{\"object\": \"case\", \"trigger\": {\"on\": \"event\", \"type\":"
                     " \"sla.breached\"}, \"actions\": [{\"type\": \"create_record\","
                     " \"object\": \"activity\", \"values\": {\"type\": \"task\", \"subject\":"
                     " \"Call the customer\", \"related_object\": \"case\", \"related_id\":"
                     " {\"expr\": \"id\"}}}]}",
                     201));
    rp_test_create(t, "case", "{\"subject\": \"Down\", \"priority\": \"p1\"}", id);
    rp_test_settle(t);
    rp_clock_advance(&t->app->clock, 44 * MINUTE_MS);
    rp_test_settle(t);
    assert_int_equal(events(t, "sla.warning", id), 0);
    rp_clock_advance(&t->app->clock, 1 * MINUTE_MS);
    rp_test_settle(t);
    rp_test_settle(t);
    assert_int_equal(events(t, "sla.warning", id), 1);
    c = record(t, "case", id);
    assert_true(json_is_true(json_object_get(c, "escalated")));
    assert_false(json_is_true(json_object_get(c, "sla_breached")));
    json_decref(c);
    k = clock_of(t, "case", id, "first_response");
    assert_true(json_is_true(json_object_get(k, "warned")));
    assert_string_equal(s_of(k, "state"), "running");
    json_decref(k);

    rp_clock_advance(&t->app->clock, 15 * MINUTE_MS);
    for (int i = 0; i < 3; i++) {
        rp_test_settle(t);
        rp_clock_advance(&t->app->clock, MINUTE_MS);
    }
    assert_int_equal(events(t, "sla.warning", id), 1);
    assert_int_equal(events(t, "sla.breached", id), 1);
    k = clock_of(t, "case", id, "first_response");
    assert_string_equal(s_of(k, "state"), "breached");
    json_decref(k);
    c = record(t, "case", id);
    assert_true(json_is_true(json_object_get(c, "sla_breached")));
    assert_string_equal(s_of(c, "owner_id"), user);
    assert_non_null(json_string_value(json_object_get(c, "escalated_at")));
    json_decref(c);
    c = rp_test_call(t, "GET",
                     "/api/v1/records/activity?filter=subject%20%3D%20'Call%20the%20customer'",
                     NULL, 200);
    assert_int_equal(json_array_size(json_object_get(c, "data")), 1);
    assert_string_equal(s_of(json_array_get(json_object_get(c, "data"), 0), "related_id"), id);
    json_decref(c);
    /* Responding late is recorded, and nothing fires again. */
    patch(t, "case", id, "{\"first_responded_at\": \"2026-11-22T10:00:00Z\"}");
    rp_test_settle(t);
    k = clock_of(t, "case", id, "first_response");
    assert_string_equal(s_of(k, "state"), "breached");
    assert_non_null(json_string_value(json_object_get(k, "met_at")));
    json_decref(k);
    assert_int_equal(events(t, "sla.breached", id), 1);
}

static void test_met_in_time_never_breaches(void **state)
{
    struct rp_test_app *t = *state;
    char id[40];
    json_t *k, *c;

    json_decref(rp_test_call(t, "PUT", "/api/v1/sla/policies/std",
                             "{\"object\": \"case\", \"targets\": [{\"name\": \"first_response\","
                             " \"minutes\": 60, \"met_when\": \"first_responded_at is not null\","
                             " \"on_breach\": [{\"type\": \"set_fields\", \"values\":"
                             " {\"sla_breached\": true}}]}]}",
                             201));
    rp_test_create(t, "case", "{\"subject\": \"Question\"}", id);
    rp_test_settle(t);
    rp_clock_advance(&t->app->clock, 30 * MINUTE_MS);
    patch(t, "case", id, "{\"first_responded_at\": \"2026-11-22T08:30:00Z\"}");
    rp_test_settle(t);
    rp_clock_advance(&t->app->clock, 2 * 60 * MINUTE_MS);
    rp_test_settle(t);
    k = clock_of(t, "case", id, "first_response");
    assert_string_equal(s_of(k, "state"), "met");
    json_decref(k);
    assert_int_equal(events(t, "sla.breached", id), 0);
    c = record(t, "case", id);
    assert_false(json_is_true(json_object_get(c, "sla_breached")));
    json_decref(c);
}

static void test_start_and_stop_actions(void **state)
{
    struct rp_test_app *t = *state;
    char id[40];
    json_t *k;

    /* A lead's first touch, stopped by a rule when the lead goes to nurturing and started again
       (a fresh clock) when it is reopened. */
    json_decref(rp_test_call(t, "PUT", "/api/v1/sla/policies/lead_touch",
                             "{\"object\": \"lead\", \"targets\": [{\"name\": \"first_touch\","
                             " \"minutes\": 30, \"due_field\": \"first_touch_due\","
                             " \"met_when\": \"first_touched_at is not null\"}]}",
                             201));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/stop_on_nurture",
                     "{\"object\": \"lead\", \"trigger\": {\"on\": \"changed\", \"fields\":"
                     " [\"status\"]}, \"condition\": \"status = 'nurturing'\","
                     " \"actions\": [{\"type\": \"stop_sla\", \"target\": \"first_touch\"}]}",
                     201));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/restart_on_reopen",
                     "{\"object\": \"lead\", \"trigger\": {\"on\": \"changed\", \"fields\":"
                     " [\"status\"]}, \"condition\": \"status = 'new'\","
                     " \"actions\": [{\"type\": \"start_sla\", \"policy\": \"lead_touch\"}]}",
                     201));
    rp_test_create(t, "lead", "{\"last_name\": \"Wang\", \"status\": \"new\"}", id);
    rp_test_settle(t);
    patch(t, "lead", id, "{\"status\": \"nurturing\"}");
    rp_test_settle(t);
    k = clock_of(t, "lead", id, "first_touch");
    assert_string_equal(s_of(k, "state"), "stopped");
    json_decref(k);
    rp_clock_advance(&t->app->clock, 60 * MINUTE_MS);
    rp_test_settle(t);
    assert_int_equal(events(t, "sla.breached", id), 0);
    patch(t, "lead", id, "{\"status\": \"new\"}");
    rp_test_settle(t);
    k = clock_of(t, "lead", id, "first_touch");
    assert_string_equal(s_of(k, "state"), "running");
    {
        char want[64];
        assert_string_equal(s_of(k, "started_at"),
                            iso(RP_TEST_NOW_MS + 60 * MINUTE_MS, want, sizeof(want)));
    }
    json_decref(k);
    rp_clock_advance(&t->app->clock, 30 * MINUTE_MS);
    rp_test_settle(t);
    assert_int_equal(events(t, "sla.breached", id), 1);
}

static void test_invalid_definitions(void **state)
{
    struct rp_test_app *t = *state;

    json_decref(rp_test_call(t, "PUT", "/api/v1/sla/calendars/bad",
                             "{\"time_zone\": \"Asia/Shanghai\", \"hours\": {\"mon\": [[\"9:00\","
                             " \"18:00\"]]}}",
                             422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/sla/policies/x",
                             "{\"object\": \"case\", \"calendar\": \"nowhere\", \"targets\":"
                             " [{\"name\": \"r\", \"minutes\": 5}]}",
                             422));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/sla/policies/x",
                     "{\"object\": \"case\", \"targets\": [{\"name\": \"r\", \"minutes\": 5,"
                     " \"due_field\": \"subject\"}]}",
                     422));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/sla/policies/x",
                     "{\"object\": \"case\", \"targets\": [{\"name\": \"r\", \"minutes\": 5,"
                     " \"warn_before_minutes\": 5}]}",
                     422));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/sla/policies/x",
                     "{\"object\": \"case\", \"targets\": [{\"name\": \"r\", \"minutes\": 5,"
                     " \"on_breach\": [{\"type\": \"set_fields\", \"values\": {\"nope\": 1}}]}]}",
                     422));
    json_decref(rp_test_call(t, "GET", "/api/v1/sla/policies/x", NULL, 404));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deadline_across_weekend_and_holiday, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_pause_over_night_moves_deadline, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_policy_chosen_by_criteria_and_order, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_warning_and_breach_fire_once, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_met_in_time_never_breaches, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_start_and_stop_actions, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_definitions, rp_test_app_setup,
                                        rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
