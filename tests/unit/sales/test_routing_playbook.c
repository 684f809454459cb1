/*
 * The lead routing playbook of issue #5, built only from configuration through the HTTP API
 * (queues, an assignment rule set, a business calendar and SLA policy, a nurture journey and
 * rules whose thresholds are data): a lead scoring 80 or more becomes an MQL, goes to the SDRs
 * in turn and gets a first-touch deadline five business hours on; below 60 it is nurtured; a
 * click-through rate above 8 % or a white-paper download wakes an SDR with a task; changing a
 * threshold is a PUT, not a code change.
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

/* Dispatches rules and SLA clocks and runs due jobs until nothing is left. */
static json_t *get(struct rp_test_app *t, const char *object, const char *id)
{
    char target[160];
    snprintf(target, sizeof(target), "/api/v1/records/%s/%s", object, id);
    return rp_test_call(t, "GET", target, NULL, 200);
}

/* Tasks whose subject is s, and the owner of the first. */
static size_t tasks(struct rp_test_app *t, const char *subject, char *owner)
{
    char target[256];
    json_t *j;
    size_t n;

    snprintf(target, sizeof(target),
             "/api/v1/records/activity?filter=subject%%20%%3D%%20%%27%s%%27", subject);
    j = rp_test_call(t, "GET", target, NULL, 200);
    n = json_array_size(json_object_get(j, "data"));
    if (owner && n)
        snprintf(owner, 40, "%s",
                 rp_test_str(json_array_get(json_object_get(j, "data"), 0), "owner_id"));
    json_decref(j);
    return n;
}

static void touch(struct rp_test_app *t, const char *lead, const char *type, const char *url,
                  int times)
{
    char body[512], id[40];

    for (int i = 0; i < times; i++) {
        snprintf(body, sizeof(body),
                 "{\"lead_id\": \"%s\", \"type\": \"%s\", \"occurred_at\": \"2026-11-22T08:00:00Z\""
                 "%s%s%s}",
                 lead, type, url ? ", \"url\": \"" : "", url ? url : "", url ? "\"" : "");
        rp_test_create(t, "touchpoint", body, id);
    }
}

static void configure(struct rp_test_app *t, const char *sdr1, const char *sdr2)
{
    char body[1024];

    snprintf(body, sizeof(body), "{\"members\": [\"%s\", \"%s\"], \"strategy\": \"round_robin\"}",
             sdr1, sdr2);
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/queues/sdr_team", body, 201));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/assignment-rules/mql_routing",
                             "{\"object\": \"lead\", \"entries\": [{\"queue\": \"sdr_team\"}]}",
                             201));
    json_decref(rp_test_call(
        t, "PUT", "/api/v1/sla/calendars/cn_business",
        "{\"time_zone\": \"Asia/Shanghai\", \"hours\": {\"mon\": [[\"09:00\", \"18:00\"]],"
        " \"tue\": [[\"09:00\", \"18:00\"]], \"wed\": [[\"09:00\", \"18:00\"]], \"thu\":"
        " [[\"09:00\", \"18:00\"]], \"fri\": [[\"09:00\", \"18:00\"]]}}",
        201));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/sla/policies/lead_first_touch",
                     "{\"object\": \"lead\", \"criteria\": \"status = 'mql'\", \"calendar\":"
                     " \"cn_business\", \"targets\": [{\"name\": \"first_touch\", \"minutes\": 300,"
                     " \"due_field\": \"first_touch_due\", \"met_when\": \"first_touched_at is not"
                     " null\"}]}",
                     201));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/definitions/journeys/nurture",
                     "{\"object\": \"lead\", \"exit_when\": \"status != 'nurturing'\", \"steps\":"
                     " [{\"actions\": [{\"type\": \"set_fields\", \"values\": {\"rating\":"
                     " \"cold\"}}]}, {\"wait_days\": 7, \"actions\": [{\"type\": \"set_fields\","
                     " \"values\": {\"rating\": \"warm\"}}]}]}",
                     201));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/mql",
                     "{\"object\": \"lead\", \"trigger\": {\"on\": \"changed\", \"fields\":"
                     " [\"score\"]}, \"condition\": \"score >= 80 and status in ('new', 'working',"
                     " 'nurturing')\", \"actions\": [{\"type\": \"set_fields\", \"values\":"
                     " {\"status\": \"mql\"}}, {\"type\": \"assign\", \"strategy\": \"rules\","
                     " \"rules\": \"mql_routing\"}, {\"type\": \"leave_journey\", \"journey\":"
                     " \"nurture\"}]}",
                     201));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/nurture",
                     "{\"object\": \"lead\", \"trigger\": {\"on\": \"changed\", \"fields\":"
                     " [\"score\"]}, \"condition\": \"score < 60 and status = 'new'\", \"actions\":"
                     " [{\"type\": \"set_fields\", \"values\": {\"status\": \"nurturing\"}},"
                     " {\"type\": \"enrol_journey\", \"journey\": \"nurture\"}]}",
                     201));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/wake_on_ctr",
                     "{\"object\": \"touchpoint\", \"trigger\": {\"on\": \"created\"},"
                     " \"condition\": \"type = 'clicked' and lead.email_ctr > 8 and lead.status ="
                     " 'nurturing'\", \"actions\": [{\"type\": \"create_record\", \"object\":"
                     " \"activity\", \"values\": {\"type\": \"task\", \"subject\": \"Hot lead\","
                     " \"lead_id\": {\"expr\": \"lead_id\"}}}]}",
                     201));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/wake_on_download",
                     "{\"object\": \"touchpoint\", \"trigger\": {\"on\": \"created\"},"
                     " \"condition\": \"type = 'download' and url contains 'white-paper'\","
                     " \"actions\": [{\"type\": \"create_record\", \"object\": \"activity\","
                     " \"values\": {\"type\": \"task\", \"subject\": \"Read the white paper\","
                     " \"lead_id\": {\"expr\": \"lead_id\"}}}]}",
                     201));
    /* the tasks go to the SDRs in turn too */
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/tasks_to_sdrs",
                     "{\"object\": \"activity\", \"trigger\": {\"on\": \"created\"}, \"condition\":"
                     " \"type = 'task' and lead_id is not null\", \"actions\": [{\"type\":"
                     " \"assign\", \"strategy\": \"queue\", \"queue\": \"sdr_team\"}]}",
                     201));
}

static void test_playbook(void **state)
{
    struct rp_test_app *t = *state;
    char tok[128], sdr1[40], sdr2[40], hot[2][40], cold[40], reader[40], owner[40], later[40],
        target[160];
    json_t *j;

    rp_test_user(t, "sdr_one", "sdr-one-password", false, tok, sizeof(tok), sdr1);
    rp_test_user(t, "sdr_two", "sdr-two-password", false, tok, sizeof(tok), sdr2);
    configure(t, sdr1, sdr2);

    /* Sunday 2026-11-22 08:00 UTC: two hot leads, one cold, one that reads */
    rp_test_create(t, "lead", "{\"last_name\": \"Hot\", \"score\": 85}", hot[0]);
    rp_test_create(t, "lead", "{\"last_name\": \"Hotter\", \"score\": 92}", hot[1]);
    rp_test_create(t, "lead", "{\"last_name\": \"Cold\", \"score\": 40}", cold);
    rp_test_create(t, "lead", "{\"last_name\": \"Reader\", \"score\": 55}", reader);
    rp_test_settle(t);

    j = get(t, "lead", hot[0]);
    assert_string_equal(rp_test_str(j, "status"), "mql");
    assert_string_equal(rp_test_str(j, "owner_id"), sdr1);
    /* Monday 09:00 in Shanghai + 5 business hours = 14:00 CST = 06:00 UTC */
    assert_string_equal(rp_test_str(j, "first_touch_due"), "2026-11-23T06:00:00Z");
    json_decref(j);
    j = get(t, "lead", hot[1]);
    assert_string_equal(rp_test_str(j, "owner_id"), sdr2);
    json_decref(j);
    j = get(t, "lead", cold);
    assert_string_equal(rp_test_str(j, "status"), "nurturing");
    assert_string_equal(rp_test_str(j, "rating"), "cold"); /* the journey's first step */
    assert_true(json_is_null(json_object_get(j, "first_touch_due")));
    json_decref(j);

    /* 13 sent and 1 click: 7.7 % is not above 8 %; the second click (15.4 %) is */
    touch(t, cold, "sent", NULL, 13);
    touch(t, cold, "clicked", NULL, 1);
    rp_test_settle(t);
    assert_int_equal(tasks(t, "Hot%20lead", NULL), 0);
    j = get(t, "lead", cold);
    assert_true(json_number_value(json_object_get(j, "email_sends")) == 13);
    assert_true(json_number_value(json_object_get(j, "email_clicks")) == 1);
    json_decref(j);
    touch(t, cold, "clicked", NULL, 1);
    rp_test_settle(t);
    assert_int_equal(tasks(t, "Hot%20lead", owner), 1);
    assert_true(strcmp(owner, sdr1) == 0 || strcmp(owner, sdr2) == 0);

    /* a white paper read wakes an SDR too; another download does not */
    touch(t, reader, "download", "https://example.com/white-paper.pdf", 1);
    touch(t, reader, "download", "https://example.com/price-list.pdf", 1);
    rp_test_settle(t);
    assert_int_equal(tasks(t, "Read%20the%20white%20paper", owner), 1);
    assert_true(strcmp(owner, sdr1) == 0 || strcmp(owner, sdr2) == 0);

    /* the threshold is configuration: from 70 up, a lead is an MQL */
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/mql",
                     "{\"object\": \"lead\", \"trigger\": {\"on\": \"changed\", \"fields\":"
                     " [\"score\"]}, \"condition\": \"score >= 70 and status in ('new', 'working',"
                     " 'nurturing')\", \"actions\": [{\"type\": \"set_fields\", \"values\":"
                     " {\"status\": \"mql\"}}, {\"type\": \"assign\", \"strategy\": \"rules\","
                     " \"rules\": \"mql_routing\"}, {\"type\": \"leave_journey\", \"journey\":"
                     " \"nurture\"}]}",
                     200));
    rp_test_create(t, "lead", "{\"last_name\": \"Later\", \"score\": 75}", later);
    /* and the nurtured lead warms up: it leaves the journey */
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s", cold);
    json_decref(rp_test_call(t, "PATCH", target, "{\"score\": 81}", 200));
    rp_test_settle(t);
    j = get(t, "lead", later);
    assert_string_equal(rp_test_str(j, "status"), "mql");
    json_decref(j);
    j = get(t, "lead", cold);
    assert_string_equal(rp_test_str(j, "status"), "mql");
    json_decref(j);
    j = rp_test_call(t, "GET", "/api/v1/journeys/nurture/enrolments", NULL, 200);
    {
        size_t i, left = 0;
        const json_t *e;
        json_array_foreach(json_object_get(j, "data"), i, e)
        {
            if (strcmp(rp_test_str(e, "record_id"), cold) == 0 &&
                strcmp(rp_test_str(e, "state"), "left") == 0)
                left++;
        }
        assert_int_equal(left, 1);
    }
    json_decref(j);
}

/* Opportunities of VIP accounts go to the senior AE, others to the AEs in turn. */
static void test_vip_accounts_to_senior_aes(void **state)
{
    struct rp_test_app *t = *state;
    char tok[128], senior[40], ae1[40], ae2[40], vip[40], plain[40], opp[3][40], body[512];
    json_t *j;

    rp_test_user(t, "senior_ae", "senior-ae-password", false, tok, sizeof(tok), senior);
    rp_test_user(t, "ae_one", "ae-one-password", false, tok, sizeof(tok), ae1);
    rp_test_user(t, "ae_two", "ae-two-password", false, tok, sizeof(tok), ae2);
    snprintf(body, sizeof(body), "{\"members\": [\"%s\", \"%s\"], \"strategy\": \"least_loaded\"}",
             ae1, ae2);
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/queues/ae_team", body, 201));
    snprintf(body, sizeof(body),
             "{\"object\": \"opportunity\", \"entries\": [{\"criteria\": \"account.tier ="
             " 'vip'\", \"user\": \"%s\"}, {\"queue\": \"ae_team\"}]}",
             senior);
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/definitions/assignment-rules/opp_routing", body, 201));
    json_decref(rp_test_call(t, "PUT", "/api/v1/automation/rules/route_opps",
                             "{\"object\": \"opportunity\", \"trigger\": {\"on\": \"created\"},"
                             " \"actions\": [{\"type\": \"assign\", \"strategy\": \"rules\","
                             " \"rules\": \"opp_routing\"}]}",
                             201));
    rp_test_create(t, "account", "{\"name\": \"Big Bank\", \"tier\": \"vip\"}", vip);
    rp_test_create(t, "account", "{\"name\": \"Corner Shop\"}", plain);
    snprintf(body, sizeof(body), "{\"name\": \"Core banking\", \"account_id\": \"%s\"}", vip);
    rp_test_create(t, "opportunity", body, opp[0]);
    snprintf(body, sizeof(body), "{\"name\": \"Till\", \"account_id\": \"%s\"}", plain);
    rp_test_create(t, "opportunity", body, opp[1]);
    snprintf(body, sizeof(body), "{\"name\": \"Scales\", \"account_id\": \"%s\"}", plain);
    rp_test_create(t, "opportunity", body, opp[2]);
    rp_test_settle(t);
    j = get(t, "opportunity", opp[0]);
    assert_string_equal(rp_test_str(j, "owner_id"), senior);
    json_decref(j);
    /* least loaded: the first AE takes one, then the second (who now owns fewer) the next */
    j = get(t, "opportunity", opp[1]);
    assert_string_equal(rp_test_str(j, "owner_id"), ae1);
    json_decref(j);
    j = get(t, "opportunity", opp[2]);
    assert_string_equal(rp_test_str(j, "owner_id"), ae2);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_playbook, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_vip_accounts_to_senior_aes, rp_test_app_setup,
                                        rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
