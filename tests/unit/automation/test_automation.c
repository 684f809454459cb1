/*
 * Automation rules with the fake clock, the dispatcher and the job queue run by hand: a rule
 * fires exactly once per trigger and only when its condition holds; actions set fields, create
 * related records with values computed from the trigger, and assign round-robin; a rule whose
 * own write would trigger it again is stopped and logged; date triggers fire on the right day
 * once; schedules once per slot; invalid rules and callers without manage_automation are
 * refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>

#include "test_app.h"

#define DAY_MS (INT64_C(86400) * 1000)

/* Dispatches the change log and runs the due jobs; returns the jobs run. */
static size_t runs_with(struct rp_test_app *t, const char *rule, const char *outcome)
{
    char target[128];
    json_t *j, *e;
    size_t i, n = 0;

    snprintf(target, sizeof(target), "/api/v1/automation/runs?rule=%s&limit=1000", rule);
    j = rp_test_call(t, "GET", target, NULL, 200);
    json_array_foreach(json_object_get(j, "data"), i, e)
    {
        if (strcmp(rp_test_str(e, "outcome"), outcome) == 0)
            n++;
    }
    json_decref(j);
    return n;
}

static void test_fires_once_when_condition_holds(void **state)
{
    struct rp_test_app *t = *state;
    char p1[40], p2[40], target[128];
    json_t *j;

    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/escalate_p1",
                     "{\"object\": \"case\", \"trigger\": {\"on\": \"created\"},"
                     " \"condition\": \"priority = 'p1'\","
                     " \"actions\": [{\"type\": \"set_fields\", \"values\": {\"escalated\": true,"
                     " \"status\": \"escalated\"}}, {\"type\": \"create_record\", \"object\":"
                     " \"activity\", \"values\": {\"type\": \"task\", \"subject\": {\"expr\":"
                     " \"subject\"}, \"related_object\": \"case\", \"related_id\":"
                     " {\"expr\": \"id\"}}}]}",
                     201));
    rp_test_create(t, "case", "{\"subject\": \"Down\", \"priority\": \"p1\", \"status\": \"new\"}",
                   p1);
    rp_test_create(t, "case", "{\"subject\": \"Slow\", \"priority\": \"p2\", \"status\": \"new\"}",
                   p2);
    assert_int_equal(rp_test_settle(t), 1);
    assert_int_equal(rp_test_settle(t), 0); /* exactly once */

    snprintf(target, sizeof(target), "/api/v1/records/case/%s", p1);
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_string_equal(rp_test_str(j, "status"), "escalated");
    assert_true(json_is_true(json_object_get(j, "escalated")));
    assert_string_equal(rp_test_str(j, "updated_by"), "automation");
    json_decref(j);
    snprintf(target, sizeof(target), "/api/v1/records/case/%s", p2);
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_string_equal(rp_test_str(j, "status"), "new");
    json_decref(j);
    j = rp_test_call(t, "GET", "/api/v1/records/activity?count=true", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
    assert_string_equal(rp_test_str(json_array_get(json_object_get(j, "data"), 0), "subject"),
                        "Down");
    assert_string_equal(rp_test_str(json_array_get(json_object_get(j, "data"), 0), "related_id"),
                        p1);
    json_decref(j);
    assert_int_equal(runs_with(t, "escalate_p1", "queued"), 1);
    assert_int_equal(runs_with(t, "escalate_p1", "done"), 1);
}

static void test_loop_is_stopped(void **state)
{
    struct rp_test_app *t = *state;
    char id[40];

    /* Every update of an account updates it again: its own change must not fire it again. */
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/touch",
                     "{\"object\": \"account\", \"trigger\": {\"on\": \"updated\"},"
                     " \"actions\": [{\"type\": \"set_fields\", \"values\": {\"description\":"
                     " {\"expr\": \"name\"}}}]}",
                     201));
    rp_test_create(t, "account", "{\"name\": \"Loop Co\"}", id);
    {
        char target[128], *out = NULL;
        snprintf(target, sizeof(target), "/api/v1/records/account/%s", id);
        assert_int_equal(rp_test_request(t, "PATCH", target, "{\"tier\": \"vip\"}", &out), 200);
        free(out);
    }
    assert_int_equal(rp_test_settle(t), 1);
    assert_int_equal(runs_with(t, "touch", "done"), 1);
    assert_int_equal(runs_with(t, "touch", "loop_stopped"), 1);
}

static void test_round_robin(void **state)
{
    struct rp_test_app *t = *state;
    char u1[40], u2[40], tok[128], body[512], id[3][40];
    json_t *j;

    rp_test_user(t, "rr1", "rr1-password", false, tok, sizeof(tok), u1);
    rp_test_user(t, "rr2", "rr2-password", false, tok, sizeof(tok), u2);
    snprintf(body, sizeof(body),
             "{\"object\": \"lead\", \"trigger\": {\"on\": \"created\"}, \"actions\": [{\"type\":"
             " \"assign\", \"strategy\": \"round_robin\", \"users\": [\"%s\", \"%s\"]}]}",
             u1, u2);
    json_decref(rp_test_call(t, "PUT", "/api/v1/automation/rules/route_leads", body, 201));
    for (int i = 0; i < 3; i++)
        rp_test_create(t, "lead", "{\"last_name\": \"Lead\", \"status\": \"new\"}", id[i]);
    assert_int_equal(rp_test_settle(t), 3);
    for (int i = 0; i < 3; i++) {
        char target[128];
        snprintf(target, sizeof(target), "/api/v1/records/lead/%s", id[i]);
        j = rp_test_call(t, "GET", target, NULL, 200);
        assert_string_equal(rp_test_str(j, "owner_id"), i % 2 ? u2 : u1);
        json_decref(j);
    }
}

static void test_date_and_schedule_triggers(void **state)
{
    struct rp_test_app *t = *state;
    char acct[40], c1[40], c2[40];
    struct rp_error err;
    size_t queued = 0;
    json_t *j;

    rp_error_init(&err, NULL);
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/renewal_90",
                     "{\"object\": \"contract\", \"trigger\": {\"on\": \"date\", \"field\":"
                     " \"end_date\", \"offset_days\": -90}, \"condition\": \"status = 'active'\","
                     " \"actions\": [{\"type\": \"create_record\", \"object\": \"activity\","
                     " \"values\": {\"type\": \"task\", \"subject\": \"Renewal in 90 days\","
                     " \"account_id\": {\"expr\": \"account_id\"}}}]}",
                     201));
    rp_test_create(t, "account", "{\"name\": \"Renewing Co\"}", acct);
    {
        char body[256];
        /* the fixture's today is 2026-11-22: 90 days later is 2027-02-20 */
        snprintf(body, sizeof(body),
                 "{\"account_id\": \"%s\", \"status\": \"active\", \"end_date\": \"2027-02-20\"}",
                 acct);
        rp_test_create(t, "contract", body, c1);
        snprintf(body, sizeof(body),
                 "{\"account_id\": \"%s\", \"status\": \"draft\", \"end_date\": \"2027-02-20\"}",
                 acct);
        rp_test_create(t, "contract", body, c2);
    }
    assert_int_equal(rp_automation_scan(t->app->automation, &queued, &err), 0);
    assert_int_equal(queued, 1);
    assert_int_equal(rp_automation_scan(t->app->automation, &queued, &err), 0);
    assert_int_equal(queued, 0);
    rp_test_settle(t);
    j = rp_test_call(
        t, "GET", "/api/v1/records/activity?filter=subject%20%3D%20%27Renewal%20in%2090%20days%27",
        NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
    assert_string_equal(rp_test_str(json_array_get(json_object_get(j, "data"), 0), "account_id"),
                        acct);
    json_decref(j);
    /* the next day nothing is due */
    rp_clock_advance(&t->app->clock, DAY_MS);
    assert_int_equal(rp_automation_scan(t->app->automation, &queued, &err), 0);
    assert_int_equal(queued, 0);

    /* a schedule: once per slot */
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/hourly_note",
                     "{\"object\": \"activity\", \"trigger\": {\"on\": \"schedule\","
                     " \"every_minutes\": 60}, \"actions\": [{\"type\": \"create_record\","
                     " \"object\": \"activity\", \"values\": {\"type\": \"note\", \"subject\":"
                     " \"Hourly\"}}]}",
                     201));
    assert_int_equal(rp_automation_scan(t->app->automation, &queued, &err), 0);
    assert_int_equal(queued, 1);
    assert_int_equal(rp_automation_scan(t->app->automation, &queued, &err), 0);
    assert_int_equal(queued, 0);
    rp_clock_advance(&t->app->clock, 60 * 60 * INT64_C(1000));
    assert_int_equal(rp_automation_scan(t->app->automation, &queued, &err), 0);
    assert_int_equal(queued, 1);
}

static void test_incoming_events(void **state)
{
    struct rp_test_app *t = *state;
    char order_acct[40], target[160], tok[128], *out = NULL, body[512];
    json_t *j;

    rp_test_create(t, "account", "{\"name\": \"Shipping Co\"}", order_acct);
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/shipment_note",
                     "{\"object\": \"account\", \"trigger\": {\"on\": \"event\", \"type\":"
                     " \"shipment.updated\"}, \"actions\": [{\"type\": \"create_record\","
                     " \"object\": \"activity\", \"values\": {\"type\": \"note\", \"subject\":"
                     " {\"event\": \"status\"}, \"account_id\": {\"expr\": \"id\"}}}]}",
                     201));
    snprintf(body, sizeof(body),
             "{\"id\": \"evt-1\", \"record_id\": \"%s\", \"data\": {\"status\": \"shipped\"}}",
             order_acct);
    j = rp_test_call(t, "POST", "/api/v1/events/shipment.updated", body, 202);
    assert_false(json_is_true(json_object_get(j, "duplicate")));
    json_decref(j);
    /* the same event id again: accepted, recorded once */
    j = rp_test_call(t, "POST", "/api/v1/events/shipment.updated", body, 202);
    assert_true(json_is_true(json_object_get(j, "duplicate")));
    json_decref(j);
    json_decref(rp_test_call(t, "POST", "/api/v1/events/other.type", "{\"data\": {}}", 202));
    assert_int_equal(rp_test_settle(t), 1);
    snprintf(target, sizeof(target),
             "/api/v1/records/activity?filter=account_id%%20%%3D%%20%%27%s%%27", order_acct);
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
    assert_string_equal(rp_test_str(json_array_get(json_object_get(j, "data"), 0), "subject"),
                        "shipped");
    json_decref(j);
    /* bad input and missing permission */
    json_decref(rp_test_call(t, "POST", "/api/v1/events/Bad%20Type", "{}", 404));
    json_decref(rp_test_call(t, "POST", "/api/v1/events/x.y", "{\"extra\": 1}", 400));
    json_decref(rp_test_call(t, "POST", "/api/v1/events/x.y", "{\"data\": [1]}", 422));
    rp_test_user(t, "clerk2", "clerk2-password", false, tok, sizeof(tok), NULL);
    assert_int_equal(rp_test_request_as(t, tok, "POST", "/api/v1/events/x.y", "{}", &out), 403);
    free(out);
}

static void test_invalid_rules(void **state)
{
    struct rp_test_app *t = *state;
    char tok[128], *out = NULL;

    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/x",
                     "{\"object\": \"nope\", \"trigger\": {\"on\": \"created\"}, \"actions\":"
                     " [{\"type\": \"set_fields\", \"values\": {\"a\": 1}}]}",
                     422));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/x",
                     "{\"object\": \"case\", \"trigger\": {\"on\": \"sometimes\"}, \"actions\":"
                     " [{\"type\": \"set_fields\", \"values\": {\"status\": \"open\"}}]}",
                     422));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/x",
                     "{\"object\": \"case\", \"trigger\": {\"on\": \"created\"}, \"condition\":"
                     " \"priorty = 'p1'\", \"actions\": [{\"type\": \"set_fields\", \"values\":"
                     " {\"status\": \"open\"}}]}",
                     422));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/x",
                     "{\"object\": \"case\", \"trigger\": {\"on\": \"created\"}, \"actions\":"
                     " [{\"type\": \"set_fields\", \"values\": {\"status\": \"sideways\"}}]}",
                     422));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/x",
                     "{\"object\": \"case\", \"trigger\": {\"on\": \"created\"}, \"actions\":"
                     " [{\"type\": \"teleport\"}]}",
                     422));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/Bad-Name",
                     "{\"object\": \"case\", \"trigger\": {\"on\": \"created\"}, \"actions\":"
                     " [{\"type\": \"set_fields\", \"values\": {\"status\": \"open\"}}]}",
                     422));
    rp_test_user(t, "clerk", "clerk-password", false, tok, sizeof(tok), NULL);
    assert_int_equal(rp_test_request_as(t, tok, "GET", "/api/v1/automation/rules", NULL, &out),
                     403);
    free(out);
    assert_int_equal(rp_test_request_as(t, tok, "GET", "/api/v1/jobs", NULL, &out), 403);
    free(out);
    json_decref(rp_test_call(t, "DELETE", "/api/v1/automation/rules/never_made", NULL, 404));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fires_once_when_condition_holds, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_loop_is_stopped, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_round_robin, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_date_and_schedule_triggers, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_incoming_events, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_rules, rp_test_app_setup,
                                        rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
