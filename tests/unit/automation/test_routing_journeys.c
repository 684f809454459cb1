/*
 * Queues, assignment rule sets and journeys with the fake clock, the dispatcher and the job
 * queue run by hand: leads are routed by the first entry whose criteria hold (to a queue taken
 * in turn, or a user), and keep their owner when none holds; a journey's steps run once each,
 * after their waits, only when their conditions hold, and stop at the exit condition or a
 * leave; invalid definitions are refused naming the part.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "test_app.h"

#define DAY_MS (INT64_C(86400) * 1000)

/* Dispatches the change log and runs the due jobs until nothing is left; returns jobs run. */
static void expect_owner(struct rp_test_app *t, const char *id, const char *owner)
{
    char target[128];
    json_t *j;

    snprintf(target, sizeof(target), "/api/v1/records/lead/%s", id);
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_string_equal(rp_test_str(j, "owner_id"), owner);
    json_decref(j);
}

static void test_routing_by_rules_and_queue(void **state)
{
    struct rp_test_app *t = *state;
    char u1[40], u2[40], u3[40], tok[128], body[1024], east[3][40], big[40], small[40];

    rp_test_user(t, "east1", "east1-password", false, tok, sizeof(tok), u1);
    rp_test_user(t, "east2", "east2-password", false, tok, sizeof(tok), u2);
    rp_test_user(t, "key_accounts", "key-accounts-password", false, tok, sizeof(tok), u3);
    snprintf(body, sizeof(body), "{\"members\": [\"%s\", \"%s\"], \"strategy\": \"round_robin\"}",
             u1, u2);
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/queues/east_team", body, 201));
    snprintf(body, sizeof(body),
             "{\"object\": \"lead\", \"entries\": ["
             "{\"criteria\": \"region = 'east_china'\", \"queue\": \"east_team\"},"
             "{\"criteria\": \"annual_revenue > 1000000\", \"user\": \"%s\"}]}",
             u3);
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/definitions/assignment-rules/lead_routing", body, 201));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/route",
                     "{\"object\": \"lead\", \"trigger\": {\"on\": \"created\"}, \"actions\":"
                     " [{\"type\": \"assign\", \"strategy\": \"rules\", \"rules\":"
                     " \"lead_routing\"}]}",
                     201));
    for (int i = 0; i < 3; i++)
        rp_test_create(t, "lead", "{\"last_name\": \"East\", \"region\": \"east_china\"}", east[i]);
    rp_test_create(t, "lead",
                   "{\"last_name\": \"Big\", \"region\": \"emea\", \"annual_revenue\": 5000000}",
                   big);
    rp_test_create(t, "lead",
                   "{\"last_name\": \"Small\", \"region\": \"emea\", \"annual_revenue\": 10}",
                   small);
    assert_int_equal(rp_test_settle(t), 5);
    expect_owner(t, east[0], u1);
    expect_owner(t, east[1], u2);
    expect_owner(t, east[2], u1);
    expect_owner(t, big, u3);
    expect_owner(t, small, t->user_id); /* no entry holds: the owner stays */

    /* the definitions are listed with their object */
    {
        json_t *j = rp_test_call(t, "GET", "/api/v1/definitions/assignment-rules", NULL, 200);
        const json_t *d = json_array_get(json_object_get(j, "data"), 0);
        assert_string_equal(rp_test_str(d, "name"), "lead_routing");
        assert_string_equal(rp_test_str(d, "object"), "lead");
        json_decref(j);
    }
    /* a queue still in use may be deleted; the rule's run then fails and says why */
    json_decref(rp_test_call(t, "DELETE", "/api/v1/definitions/queues/east_team", NULL, 204));
    rp_test_create(t, "lead", "{\"last_name\": \"Orphan\", \"region\": \"east_china\"}", east[0]);
    rp_test_settle(t);
    expect_owner(t, east[0], t->user_id);
    {
        json_t *j = rp_test_call(t, "GET", "/api/v1/automation/runs?rule=route", NULL, 200);
        const json_t *last = json_array_get(json_object_get(j, "data"), 0);
        assert_string_equal(rp_test_str(last, "outcome"), "failed");
        assert_non_null(strstr(rp_test_str(last, "detail"), "east_team"));
        json_decref(j);
    }
}

static void test_invalid_definitions(void **state)
{
    struct rp_test_app *t = *state;
    char u1[40], tok[128], body[512], *out = NULL;
    json_t *j;

    rp_test_user(t, "member", "member-password", false, tok, sizeof(tok), u1);
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/widgets/x", "{}", 404));
    json_decref(rp_test_call(t, "GET", "/api/v1/definitions/widgets", NULL, 404));
    j = rp_test_call(t, "PUT", "/api/v1/definitions/queues/q", "{\"members\": [\"nobody\"]}", 422);
    {
        char *text = json_dumps(j, 0);
        assert_non_null(strstr(text, "unknown_user"));
        free(text);
    }
    json_decref(j);
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/queues/q", "{\"members\": []}", 422));
    snprintf(body, sizeof(body), "{\"members\": [\"%s\"], \"colour\": \"red\"}", u1);
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/queues/q", body, 422));
    snprintf(body, sizeof(body), "{\"members\": [\"%s\"], \"strategy\": \"random\"}", u1);
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/queues/q", body, 422));
    snprintf(body, sizeof(body), "{\"members\": [\"%s\"]}", u1);
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/queues/Bad-Name", body, 422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/queues/q", body, 201));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/queues/q", body, 200));

    /* assignment rule sets: an unreachable entry, bad criteria, unknown queue, both targets */
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/assignment-rules/r",
                             "{\"object\": \"lead\", \"entries\": [{\"queue\": \"q\"},"
                             " {\"criteria\": \"score > 1\", \"queue\": \"q\"}]}",
                             422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/assignment-rules/r",
                             "{\"object\": \"lead\", \"entries\": [{\"criteria\": \"nope = 1\","
                             " \"queue\": \"q\"}]}",
                             422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/assignment-rules/r",
                             "{\"object\": \"lead\", \"entries\": [{\"queue\": \"missing\"}]}",
                             422));
    snprintf(body, sizeof(body),
             "{\"object\": \"lead\", \"entries\": [{\"queue\": \"q\", \"user\": \"%s\"}]}", u1);
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/assignment-rules/r", body, 422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/assignment-rules/r",
                             "{\"object\": \"product\", \"entries\": [{\"queue\": \"q\"}]}", 422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/assignment-rules/r",
                             "{\"object\": \"lead\", \"entries\": [{\"queue\": \"q\"}]}", 201));

    /* rules naming them: unknown queue, a rule set of another object, unknown journey */
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/a1",
                     "{\"object\": \"lead\", \"trigger\": {\"on\": \"created\"}, \"actions\":"
                     " [{\"type\": \"assign\", \"strategy\": \"queue\", \"queue\": \"zz\"}]}",
                     422));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/a1",
                     "{\"object\": \"case\", \"trigger\": {\"on\": \"created\"}, \"actions\":"
                     " [{\"type\": \"assign\", \"strategy\": \"rules\", \"rules\": \"r\"}]}",
                     422));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/a1",
                     "{\"object\": \"lead\", \"trigger\": {\"on\": \"created\"}, \"actions\":"
                     " [{\"type\": \"enrol_journey\", \"journey\": \"nope\"}]}",
                     422));

    /* journeys: bad wait, bad condition, an unknown action in a step */
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/definitions/journeys/j",
                     "{\"object\": \"contact\", \"steps\": [{\"wait_days\": -1, \"actions\":"
                     " [{\"type\": \"set_fields\", \"values\": {\"title\": \"x\"}}]}]}",
                     422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/journeys/j",
                             "{\"object\": \"contact\", \"exit_when\": \"title +\", \"steps\":"
                             " [{\"actions\": [{\"type\": \"set_fields\", \"values\": {\"title\":"
                             " \"x\"}}]}]}",
                             422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/journeys/j",
                             "{\"object\": \"contact\", \"steps\": [{\"actions\": [{\"type\":"
                             " \"launch\"}]}]}",
                             422));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/definitions/journeys/j", "{\"object\": \"contact\"}", 422));

    /* without manage_automation */
    assert_int_equal(rp_test_request_as(t, tok, "GET", "/api/v1/definitions/queues", NULL, &out),
                     403);
    free(out);
    assert_int_equal(rp_test_request_as(t, tok, "PUT", "/api/v1/definitions/queues/q2", body, &out),
                     403);
    free(out);
    json_decref(rp_test_call(t, "DELETE", "/api/v1/definitions/journeys/never_made", NULL, 404));
}

static size_t count_subject(struct rp_test_app *t, const char *subject, const char *related)
{
    char target[256];
    json_t *j;
    size_t n;

    snprintf(target, sizeof(target),
             "/api/v1/records/activity?filter=subject%%20%%3D%%20%%27%s%%27%%20and%%20related_id"
             "%%20%%3D%%20%%27%s%%27",
             subject, related);
    j = rp_test_call(t, "GET", target, NULL, 200);
    n = json_array_size(json_object_get(j, "data"));
    json_decref(j);
    return n;
}

static const char *state_of(const json_t *enrolments, const char *record_id)
{
    size_t i;
    const json_t *e;

    json_array_foreach(json_object_get(enrolments, "data"), i, e)
    {
        if (strcmp(rp_test_str(e, "record_id"), record_id) == 0)
            return rp_test_str(e, "state");
    }
    return "none";
}

static void test_journey(void **state)
{
    struct rp_test_app *t = *state;
    char a[40], b[40], c[40], target[160], body[128];
    json_t *j;

    json_decref(rp_test_call(
        t, "PUT", "/api/v1/definitions/journeys/onboarding",
        "{\"object\": \"contact\", \"exit_when\": \"do_not_email = true\", \"steps\": ["
        "{\"name\": \"welcome\", \"actions\": [{\"type\": \"create_record\", \"object\":"
        " \"activity\", \"values\": {\"type\": \"task\", \"subject\": \"Welcome\","
        " \"related_object\": \"contact\", \"related_id\": {\"expr\": \"id\"}}}]},"
        "{\"wait_days\": 3, \"condition\": \"title is not null\", \"actions\": [{\"type\":"
        " \"create_record\", \"object\": \"activity\", \"values\": {\"type\": \"task\","
        " \"subject\": \"Check in\", \"related_object\": \"contact\", \"related_id\":"
        " {\"expr\": \"id\"}}}]},"
        "{\"wait_days\": 7, \"actions\": [{\"type\": \"create_record\", \"object\": \"activity\","
        " \"values\": {\"type\": \"task\", \"subject\": \"Week two\", \"related_object\":"
        " \"contact\", \"related_id\": {\"expr\": \"id\"}}}]}]}",
        201));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/enrol_new",
                     "{\"object\": \"contact\", \"trigger\": {\"on\": \"created\"}, \"actions\":"
                     " [{\"type\": \"enrol_journey\", \"journey\": \"onboarding\"}]}",
                     201));
    rp_test_create(t, "contact", "{\"last_name\": \"Ada\", \"title\": \"CTO\"}", a);
    rp_test_create(t, "contact", "{\"last_name\": \"Bo\"}", b);
    rp_test_create(t, "contact", "{\"last_name\": \"Cy\", \"title\": \"CFO\"}", c);
    rp_test_settle(t);
    assert_int_equal(count_subject(t, "Welcome", a), 1);
    assert_int_equal(count_subject(t, "Welcome", b), 1);
    assert_int_equal(count_subject(t, "Welcome", c), 1);
    assert_int_equal(count_subject(t, "Check%20in", a), 0); /* its wait has not passed */

    /* C opts out before day 3: it exits there; B has no title: its step 2 is skipped */
    snprintf(target, sizeof(target), "/api/v1/records/contact/%s", c);
    json_decref(rp_test_call(t, "PATCH", target, "{\"do_not_email\": true}", 200));
    rp_clock_advance(&t->app->clock, 3 * DAY_MS);
    rp_test_settle(t);
    assert_int_equal(count_subject(t, "Check%20in", a), 1);
    assert_int_equal(count_subject(t, "Check%20in", b), 0);
    assert_int_equal(count_subject(t, "Check%20in", c), 0);

    /* B leaves by hand; enrolling A again changes nothing (no re-entry while active) */
    snprintf(body, sizeof(body), "{\"record_id\": \"%s\"}", b);
    j = rp_test_call(t, "POST", "/api/v1/journeys/onboarding/leave", body, 200);
    assert_true(json_is_true(json_object_get(j, "changed")));
    json_decref(j);
    snprintf(body, sizeof(body), "{\"record_id\": \"%s\"}", a);
    j = rp_test_call(t, "POST", "/api/v1/journeys/onboarding/enrol", body, 200);
    assert_true(json_is_false(json_object_get(j, "changed")));
    json_decref(j);
    json_decref(rp_test_call(t, "POST", "/api/v1/journeys/onboarding/enrol",
                             "{\"record_id\": \"not-an-id\"}", 400));
    json_decref(rp_test_call(t, "POST", "/api/v1/journeys/onboarding/enrol",
                             "{\"record_id\": \"0190a000-0000-7000-8000-000000000000\"}", 404));
    json_decref(rp_test_call(t, "POST", "/api/v1/journeys/nope/enrol", body, 404));
    json_decref(rp_test_call(t, "POST", "/api/v1/journeys/onboarding/enrol",
                             "{\"record_id\": \"x\", \"extra\": 1}", 400));

    rp_clock_advance(&t->app->clock, 7 * DAY_MS);
    rp_test_settle(t);
    assert_int_equal(count_subject(t, "Week%20two", a), 1);
    assert_int_equal(count_subject(t, "Week%20two", b), 0);
    assert_int_equal(count_subject(t, "Week%20two", c), 0);
    /* once each, however often the queue runs */
    rp_clock_advance(&t->app->clock, 30 * DAY_MS);
    assert_int_equal(rp_test_settle(t), 0);
    assert_int_equal(count_subject(t, "Welcome", a), 1);
    assert_int_equal(count_subject(t, "Week%20two", a), 1);

    j = rp_test_call(t, "GET", "/api/v1/journeys/onboarding/enrolments", NULL, 200);
    assert_string_equal(state_of(j, a), "completed");
    assert_string_equal(state_of(j, b), "left");
    assert_string_equal(state_of(j, c), "exited");
    json_decref(j);
    j = rp_test_call(t, "GET", "/api/v1/journeys/onboarding/enrolments?state=completed", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_routing_by_rules_and_queue, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_definitions, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_journey, rp_test_app_setup, rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
