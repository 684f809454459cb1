/*
 * Lead conversion through the HTTP API: one transaction creates (or links) the account,
 * contact and opportunity, marks the lead converted with its links, carries the lead's
 * activities, campaign memberships, touchpoints and consent over to the contact, and appends
 * the lead.converted event; converting again answers the same links; a failing part writes
 * nothing at all; bad options, unknown and disqualified leads are refused precisely.
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

static json_t *get(struct rp_test_app *t, const char *object, const char *id)
{
    char target[160];
    snprintf(target, sizeof(target), "/api/v1/records/%s/%s", object, id);
    return rp_test_call(t, "GET", target, NULL, 200);
}

static size_t count(struct rp_test_app *t, const char *object, const char *filter)
{
    char target[512];
    json_t *j;
    size_t n;

    snprintf(target, sizeof(target), "/api/v1/records/%s?limit=200%s%s", object,
             filter ? "&filter=" : "", filter ? filter : "");
    j = rp_test_call(t, "GET", target, NULL, 200);
    n = json_array_size(json_object_get(j, "data"));
    json_decref(j);
    return n;
}

static void convert_url(char *buf, size_t n, const char *lead)
{
    snprintf(buf, n, "/api/v1/records/lead/%s/convert", lead);
}

static void test_convert_carries_everything(void **state)
{
    struct rp_test_app *t = *state;
    char campaign[40], lead[40], act[40], member[40], touch[40], consent[40], body[512],
        target[160];
    json_t *r, *j;

    rp_test_create(t, "campaign", "{\"name\": \"Spring webinar\", \"type\": \"webinar\"}",
                   campaign);
    snprintf(body, sizeof(body),
             "{\"first_name\": \"Li\", \"last_name\": \"Wei\", \"company\": \"Hangzhou Tea Co\","
             " \"email\": \"li.wei@tea.example\", \"phone\": \"+8613812345678\", \"title\":"
             " \"CTO\", \"source\": \"web\", \"campaign_id\": \"%s\", \"status\": \"sql\","
             " \"city\": \"Hangzhou\"}",
             campaign);
    rp_test_create(t, "lead", body, lead);
    snprintf(body, sizeof(body),
             "{\"type\": \"call\", \"subject\": \"Intro call\", \"lead_id\": \"%s\"}", lead);
    rp_test_create(t, "activity", body, act);
    snprintf(body, sizeof(body),
             "{\"campaign_id\": \"%s\", \"lead_id\": \"%s\", \"status\": \"attended\"}", campaign,
             lead);
    rp_test_create(t, "campaign_member", body, member);
    snprintf(body, sizeof(body),
             "{\"campaign_id\": \"%s\", \"lead_id\": \"%s\", \"type\": \"clicked\","
             " \"occurred_at\": \"2026-11-20T10:00:00Z\"}",
             campaign, lead);
    rp_test_create(t, "touchpoint", body, touch);
    snprintf(body, sizeof(body),
             "{\"lead_id\": \"%s\", \"channel\": \"email\", \"purpose\": \"marketing\","
             " \"action\": \"withdraw\", \"source\": \"web_form\", \"occurred_at\":"
             " \"2026-11-21T09:00:00Z\"}",
             lead);
    rp_test_create(t, "consent", body, consent);

    convert_url(target, sizeof(target), lead);
    r = rp_test_call(t, "POST", target,
                     "{\"opportunity\": {\"amount\": 120000, \"stage\":"
                     " \"qualification\"}}",
                     201);
    assert_false(json_is_true(json_object_get(r, "already_converted")));
    assert_true(json_is_true(json_object_get(json_object_get(r, "created"), "account")));
    assert_non_null(rp_test_str(r, "converted_at"));

    j = get(t, "account", rp_test_str(r, "account_id"));
    assert_string_equal(rp_test_str(j, "name"), "Hangzhou Tea Co");
    assert_string_equal(rp_test_str(j, "city"), "Hangzhou");
    json_decref(j);
    j = get(t, "contact", rp_test_str(r, "contact_id"));
    assert_string_equal(rp_test_str(j, "last_name"), "Wei");
    assert_string_equal(rp_test_str(j, "email"), "li.wei@tea.example");
    assert_string_equal(rp_test_str(j, "account_id"), rp_test_str(r, "account_id"));
    assert_string_equal(rp_test_str(j, "lead_source"), "web");
    assert_string_equal(rp_test_str(j, "mailing_city"), "Hangzhou");
    json_decref(j);
    j = get(t, "opportunity", rp_test_str(r, "opportunity_id"));
    assert_string_equal(rp_test_str(j, "name"), "Hangzhou Tea Co");
    assert_string_equal(rp_test_str(j, "account_id"), rp_test_str(r, "account_id"));
    assert_string_equal(rp_test_str(j, "primary_contact_id"), rp_test_str(r, "contact_id"));
    assert_string_equal(rp_test_str(j, "campaign_id"), campaign);
    assert_string_equal(rp_test_str(j, "stage"), "qualification");
    json_decref(j);
    j = get(t, "lead", lead);
    assert_string_equal(rp_test_str(j, "status"), "converted");
    assert_string_equal(rp_test_str(j, "converted_account_id"), rp_test_str(r, "account_id"));
    assert_string_equal(rp_test_str(j, "converted_contact_id"), rp_test_str(r, "contact_id"));
    assert_string_equal(rp_test_str(j, "converted_opportunity_id"),
                        rp_test_str(r, "opportunity_id"));
    assert_string_equal(rp_test_str(j, "converted_at"), rp_test_str(r, "converted_at"));
    json_decref(j);

    /* lineage */
    j = get(t, "activity", act);
    assert_string_equal(rp_test_str(j, "contact_id"), rp_test_str(r, "contact_id"));
    assert_string_equal(rp_test_str(j, "account_id"), rp_test_str(r, "account_id"));
    assert_string_equal(rp_test_str(j, "lead_id"), lead);
    json_decref(j);
    j = get(t, "campaign_member", member);
    assert_string_equal(rp_test_str(j, "contact_id"), rp_test_str(r, "contact_id"));
    json_decref(j);
    j = get(t, "touchpoint", touch);
    assert_string_equal(rp_test_str(j, "contact_id"), rp_test_str(r, "contact_id"));
    json_decref(j);
    {
        char filter[160];
        snprintf(filter, sizeof(filter), "contact_id%%20%%3D%%20%%27%s%%27",
                 rp_test_str(r, "contact_id"));
        char list[320];
        snprintf(list, sizeof(list), "/api/v1/records/consent?filter=%s", filter);
        j = rp_test_call(t, "GET", list, NULL, 200);
        assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
        assert_string_equal(rp_test_str(json_array_get(json_object_get(j, "data"), 0), "action"),
                            "withdraw");
        assert_string_equal(
            rp_test_str(json_array_get(json_object_get(j, "data"), 0), "occurred_at"),
            "2026-11-21T09:00:00Z");
        json_decref(j);
    }
    /* the event, in the change feed */
    j = rp_test_call(t, "GET", "/api/v1/changes?limit=1000&objects=event", NULL, 200);
    {
        size_t i, found = 0;
        const json_t *e;
        json_array_foreach(json_object_get(j, "data"), i, e)
        {
            if (strcmp(rp_test_str(e, "op"), "lead.converted") == 0 &&
                strcmp(rp_test_str(e, "id"), lead) == 0 &&
                strcmp(rp_test_str(json_object_get(e, "changes"), "contact_id"),
                       rp_test_str(r, "contact_id")) == 0)
                found++;
        }
        assert_int_equal(found, 1);
    }
    json_decref(j);

    /* again: the same links, nothing new */
    j = rp_test_call(t, "POST", target, NULL, 200);
    assert_true(json_is_true(json_object_get(j, "already_converted")));
    assert_string_equal(rp_test_str(j, "account_id"), rp_test_str(r, "account_id"));
    assert_string_equal(rp_test_str(j, "opportunity_id"), rp_test_str(r, "opportunity_id"));
    assert_string_equal(rp_test_str(j, "converted_at"), rp_test_str(r, "converted_at"));
    json_decref(j);
    assert_int_equal(count(t, "account", NULL), 1);
    assert_int_equal(count(t, "contact", NULL), 1);
    assert_int_equal(count(t, "opportunity", NULL), 1);
    json_decref(r);
}

static void test_link_existing_and_no_opportunity(void **state)
{
    struct rp_test_app *t = *state;
    char account[40], lead[40], target[160], body[256];
    json_t *r, *j;

    rp_test_create(t, "account", "{\"name\": \"Existing Ltd\"}", account);
    rp_test_create(t, "lead", "{\"last_name\": \"Zhao\", \"company\": \"Existing\"}", lead);
    convert_url(target, sizeof(target), lead);
    snprintf(body, sizeof(body), "{\"account_id\": \"%s\", \"create_opportunity\": false}",
             account);
    r = rp_test_call(t, "POST", target, body, 201);
    assert_string_equal(rp_test_str(r, "account_id"), account);
    assert_true(json_is_null(json_object_get(r, "opportunity_id")));
    assert_false(json_is_true(json_object_get(json_object_get(r, "created"), "account")));
    assert_int_equal(count(t, "account", NULL), 1);
    assert_int_equal(count(t, "opportunity", NULL), 0);
    j = get(t, "contact", rp_test_str(r, "contact_id"));
    assert_string_equal(rp_test_str(j, "account_id"), account);
    assert_string_equal(rp_test_str(j, "last_name"), "Zhao");
    json_decref(j);
    json_decref(r);
}

static void test_refusals_write_nothing(void **state)
{
    struct rp_test_app *t = *state;
    char lead[40], dq[40], target[160];
    json_t *j;

    rp_test_create(t, "lead", "{\"last_name\": \"Qian\", \"company\": \"Qian Co\"}", lead);
    convert_url(target, sizeof(target), lead);
    /* the opportunity fails its validation: account and contact are rolled back with it */
    j = rp_test_call(t, "POST", target, "{\"opportunity\": {\"stage\": \"nope\"}}", 422);
    assert_non_null(strstr(rp_test_str(j, "detail"), "opportunity"));
    json_decref(j);
    assert_int_equal(count(t, "account", NULL), 0);
    assert_int_equal(count(t, "contact", NULL), 0);
    j = get(t, "lead", lead);
    assert_string_equal(rp_test_str(j, "status"), "new");
    json_decref(j);

    json_decref(rp_test_call(t, "POST", target, "{\"colour\": \"red\"}", 400));
    json_decref(rp_test_call(t, "POST", target, "{\"account_id\": \"x\"}", 400));
    json_decref(rp_test_call(t, "POST", target, "{\"create_opportunity\": \"yes\"}", 400));
    json_decref(rp_test_call(t, "POST", target,
                             "{\"create_opportunity\": false, \"opportunity\": {\"amount\": 1}}",
                             400));
    json_decref(rp_test_call(t, "POST", target, "[1]", 400));
    j = rp_test_call(t, "POST", target,
                     "{\"account_id\": \"0190a000-0000-7000-8000-000000000000\"}", 422);
    assert_string_equal(rp_test_str(json_array_get(json_object_get(j, "errors"), 0), "field"),
                        "account_id");
    json_decref(j);
    json_decref(rp_test_call(
        t, "POST", "/api/v1/records/lead/0190a000-0000-7000-8000-000000000000/convert", NULL, 404));
    json_decref(rp_test_call(t, "POST", "/api/v1/records/lead/not-an-id/convert", NULL, 404));

    rp_test_create(t, "lead",
                   "{\"last_name\": \"Sun\", \"status\": \"disqualified\","
                   " \"disqualified_reason\": \"spam\"}",
                   dq);
    convert_url(target, sizeof(target), dq);
    json_decref(rp_test_call(t, "POST", target, NULL, 409));
    assert_int_equal(count(t, "account", NULL), 0);

    /* without a token */
    {
        char *out = NULL;
        convert_url(target, sizeof(target), lead);
        assert_int_equal(rp_test_request_as(t, NULL, "POST", target, "{}", &out), 401);
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_convert_carries_everything, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_link_existing_and_no_opportunity, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_refusals_write_nothing, rp_test_app_setup,
                                        rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
