/*
 * Pipelines through the HTTP API: a stage's entry criteria refuse a write that moves a record
 * into it, naming every failed criterion, on create and on update; once they hold the move is
 * accepted; the stage history tells how long the record spent in each stage (fake clock);
 * invalid pipeline definitions and callers without manage_metadata are refused.
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

#define DAY_MS (INT64_C(86400) * 1000)

static const char *PIPELINE =
    "{\"object\": \"opportunity\", \"field\": \"stage\", \"stages\": ["
    "{\"value\": \"prospecting\", \"probability\": 10},"
    "{\"value\": \"qualification\", \"probability\": 20},"
    "{\"value\": \"proposal\", \"probability\": 50, \"entry_criteria\": ["
    "  {\"condition\": \"pain_confirmed = true\", \"message\": \"Confirm the pain first\"},"
    "  {\"condition\": \"economic_buyer_id is not null\", \"message\": \"Name the economic "
    "buyer\"}]},"
    "{\"value\": \"negotiation\", \"probability\": 75},"
    "{\"value\": \"closed_won\", \"probability\": 100, \"won\": true},"
    "{\"value\": \"closed_lost\", \"probability\": 0, \"lost\": true}]}";

static size_t count_errors(const json_t *problem, const char *code)
{
    size_t i, n = 0;
    const json_t *e;

    json_array_foreach(json_object_get(problem, "errors"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "code")), code) == 0 &&
            strcmp(json_string_value(json_object_get(e, "field")), "stage") == 0)
            n++;
    }
    return n;
}

static void test_entry_criteria(void **state)
{
    struct rp_test_app *t = *state;
    char opp[40], buyer[40], target[160], body[256];
    json_t *j;

    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/pipelines/sales", PIPELINE, 201));
    rp_test_create(t, "opportunity", "{\"name\": \"Deal\", \"stage\": \"prospecting\"}", opp);
    snprintf(target, sizeof(target), "/api/v1/records/opportunity/%s", opp);

    j = rp_test_call(t, "PATCH", target, "{\"stage\": \"proposal\"}", 422);
    assert_int_equal(count_errors(j, "entry_criteria"), 2);
    json_decref(j);
    j = rp_test_call(t, "PATCH", target, "{\"stage\": \"proposal\", \"pain_confirmed\": true}",
                     422);
    assert_int_equal(count_errors(j, "entry_criteria"), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "errors"), 0), "message")),
                        "Name the economic buyer");
    json_decref(j);
    /* nothing of a refused write is kept */
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(j, "stage")), "prospecting");
    assert_false(json_is_true(json_object_get(j, "pain_confirmed")));
    json_decref(j);

    /* a create straight into the stage is judged the same */
    j = rp_test_call(t, "POST", "/api/v1/records/opportunity",
                     "{\"name\": \"Skipper\", \"stage\": \"proposal\"}", 422);
    assert_int_equal(count_errors(j, "entry_criteria"), 2);
    json_decref(j);

    rp_test_create(t, "contact", "{\"last_name\": \"Buyer\"}", buyer);
    rp_clock_advance(&t->app->clock, DAY_MS);
    snprintf(body, sizeof(body),
             "{\"stage\": \"proposal\", \"pain_confirmed\": true, \"economic_buyer_id\": \"%s\"}",
             buyer);
    json_decref(rp_test_call(t, "PATCH", target, body, 200));
    /* a write that leaves the stage as it is does not judge it again */
    json_decref(rp_test_call(t, "PATCH", target, "{\"next_step\": \"Send the proposal\"}", 200));
    rp_clock_advance(&t->app->clock, 2 * DAY_MS);
    json_decref(rp_test_call(t, "PATCH", target, "{\"stage\": \"negotiation\"}", 200));
    rp_clock_advance(&t->app->clock, DAY_MS / 2);

    snprintf(target, sizeof(target), "/api/v1/records/opportunity/%s/stages", opp);
    j = rp_test_call(t, "GET", target, NULL, 200);
    {
        const json_t *d = json_object_get(j, "data");
        assert_int_equal(json_array_size(d), 3);
        assert_string_equal(json_string_value(json_object_get(json_array_get(d, 0), "stage")),
                            "prospecting");
        assert_true(fabs(json_real_value(json_object_get(json_array_get(d, 0), "days")) - 1.0) <
                    1e-6);
        assert_string_equal(json_string_value(json_object_get(json_array_get(d, 1), "stage")),
                            "proposal");
        assert_true(fabs(json_real_value(json_object_get(json_array_get(d, 1), "days")) - 2.0) <
                    1e-6);
        assert_string_equal(json_string_value(json_object_get(json_array_get(d, 1), "entered_at")),
                            "2026-11-23T08:00:00Z");
        assert_true(json_is_null(json_object_get(json_array_get(d, 2), "left_at")));
        assert_true(fabs(json_real_value(json_object_get(json_array_get(d, 2), "days")) - 0.5) <
                    1e-6);
        assert_string_equal(json_string_value(json_object_get(json_array_get(d, 2), "by")),
                            t->user_id);
    }
    json_decref(j);

    /* no pipeline, no stages; an unknown record is 404 */
    {
        char account[40];
        rp_test_create(t, "account", "{\"name\": \"Acme\"}", account);
        snprintf(target, sizeof(target), "/api/v1/records/account/%s/stages", account);
        json_decref(rp_test_call(t, "GET", target, NULL, 404));
    }
    json_decref(rp_test_call(
        t, "GET", "/api/v1/records/opportunity/0190a000-0000-7000-8000-000000000000/stages", NULL,
        404));
    /* removing the pipeline removes the gate */
    json_decref(rp_test_call(t, "DELETE", "/api/v1/definitions/pipelines/sales", NULL, 204));
    json_decref(rp_test_call(t, "POST", "/api/v1/records/opportunity",
                             "{\"name\": \"Free\", \"stage\": \"proposal\"}", 201));
}

static void test_invalid_pipelines(void **state)
{
    struct rp_test_app *t = *state;
    char tok[128], *out = NULL;

    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/pipelines/p",
                             "{\"object\": \"opportunity\", \"field\": \"name\", \"stages\":"
                             " [{\"value\": \"x\"}]}",
                             422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/pipelines/p",
                             "{\"object\": \"opportunity\", \"field\": \"stage\", \"stages\":"
                             " [{\"value\": \"dreaming\"}]}",
                             422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/pipelines/p",
                             "{\"object\": \"opportunity\", \"field\": \"stage\", \"stages\":"
                             " [{\"value\": \"proposal\", \"probability\": 150}]}",
                             422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/pipelines/p",
                             "{\"object\": \"opportunity\", \"field\": \"stage\", \"stages\":"
                             " [{\"value\": \"proposal\"}, {\"value\": \"proposal\"}]}",
                             422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/pipelines/p",
                             "{\"object\": \"opportunity\", \"field\": \"stage\", \"stages\":"
                             " [{\"value\": \"proposal\", \"entry_criteria\": [{\"condition\":"
                             " \"amount >\", \"message\": \"m\"}]}]}",
                             422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/pipelines/p",
                             "{\"object\": \"opportunity\", \"field\": \"stage\", \"stages\":"
                             " [{\"value\": \"proposal\", \"entry_criteria\": [{\"condition\":"
                             " \"amount > 0\"}]}]}",
                             422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/pipelines/p",
                             "{\"object\": \"opportunity\", \"field\": \"stage\", \"colour\": 1,"
                             " \"stages\": [{\"value\": \"proposal\"}]}",
                             422));
    rp_test_user(t, "rep", "rep-password", false, tok, sizeof(tok), NULL);
    assert_int_equal(
        rp_test_request_as(t, tok, "PUT", "/api/v1/definitions/pipelines/p", PIPELINE, &out), 403);
    free(out);
    /* the stages are for everyone to read, not to change */
    assert_int_equal(rp_test_request_as(t, tok, "GET", "/api/v1/definitions/pipelines", NULL, &out),
                     200);
    free(out);
    assert_int_equal(
        rp_test_request_as(t, tok, "GET", "/api/v1/definitions/scoring-models", NULL, &out), 403);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_entry_criteria, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_pipelines, rp_test_app_setup,
                                        rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
