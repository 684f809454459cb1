/*
 * Retention policies: records nobody changed for N days are purged (row gone, values redacted
 * from their history, audited, a "purge" change event) or anonymised (personal fields erased,
 * the rest kept); the audit log drops entries older than its policy; running again changes
 * nothing; policies need the privacy permission and are validated.
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

static int64_t records_of(const json_t *run, const char *object)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(run, "objects"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "object")), object) == 0)
            return json_integer_value(json_object_get(e, "records"));
    }
    return -1;
}

static void test_policies_are_validated(void **state)
{
    struct rp_test_app *t = *state;
    char token[128];
    char *out = NULL;

    json_decref(rp_test_call(t, "PUT", "/api/v1/privacy/retention/no_such_object",
                             "{\"days\": 30, \"action\": \"purge\"}", 404));
    json_decref(rp_test_call(t, "PUT", "/api/v1/privacy/retention/account",
                             "{\"days\": 30, \"action\": \"shred\"}", 422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/privacy/retention/account", "{\"days\": -1}", 422));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/privacy/retention/account", "{\"days\": \"30\"}", 422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/privacy/retention/account",
                             "{\"days\": 30, \"action\": \"purge\", \"x\": 1}", 400));
    /* the consent ledger is the legal record: anonymised, never purged */
    json_decref(rp_test_call(t, "PUT", "/api/v1/privacy/retention/consent",
                             "{\"days\": 30, \"action\": \"purge\"}", 422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/privacy/retention/consent",
                             "{\"days\": 30, \"action\": \"anonymise\"}", 200));
    /* without the privacy permission */
    rp_test_user(t, "clerk", "clerk-password", false, token, sizeof(token), NULL);
    assert_int_equal(rp_test_request_as(t, token, "PUT", "/api/v1/privacy/retention/account",
                                        "{\"days\": 1, \"action\": \"purge\"}", &out),
                     403);
    free(out);
    assert_int_equal(
        rp_test_request_as(t, token, "POST", "/api/v1/privacy/retention/run", NULL, &out), 403);
    free(out);
    /* removing a policy */
    {
        json_t *l =
            rp_test_call(t, "PUT", "/api/v1/privacy/retention/consent", "{\"days\": 0}", 200);
        assert_int_equal(json_array_size(json_object_get(l, "data")), 0);
        json_decref(l);
    }
}

static void test_purge_anonymise_and_audit(void **state)
{
    struct rp_test_app *t = *state;
    char old_acct[40], new_acct[40], old_contact[40], fresh_contact[40], target[160];
    json_t *run, *j;
    char *out = NULL;

    rp_test_create(t, "account", "{\"name\": \"Old Co\", \"phone\": \"010-12345678\"}", old_acct);
    rp_test_create(t, "contact",
                   "{\"last_name\": \"旧\", \"first_name\": \"人\", \"mobile\": \"13900001111\","
                   " \"title\": \"CFO\"}",
                   old_contact);
    rp_test_create(t, "contact", "{\"last_name\": \"Fresh\", \"mobile\": \"13900002222\"}",
                   fresh_contact);
    rp_clock_advance(&t->app->clock, 10 * DAY_MS);
    rp_test_create(t, "account", "{\"name\": \"New Co\"}", new_acct);
    snprintf(target, sizeof(target), "/api/v1/records/contact/%s", fresh_contact);
    json_decref(rp_test_call(t, "PATCH", target, "{\"title\": \"CEO\"}", 200));

    json_decref(rp_test_call(t, "PUT", "/api/v1/privacy/retention/account",
                             "{\"days\": 5, \"action\": \"purge\"}", 200));
    json_decref(rp_test_call(t, "PUT", "/api/v1/privacy/retention/contact",
                             "{\"days\": 5, \"action\": \"anonymise\"}", 200));
    j = rp_test_call(t, "PUT", "/api/v1/privacy/retention/audit", "{\"days\": 3}", 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 3);
    json_decref(j);

    run = rp_test_call(t, "POST", "/api/v1/privacy/retention/run", NULL, 200);
    assert_int_equal(records_of(run, "account"), 1);
    assert_int_equal(records_of(run, "contact"), 1);
    assert_true(records_of(run, "audit") >= 4); /* the creates of day 0 */
    json_decref(run);

    /* the old account is gone, the new one stays */
    snprintf(target, sizeof(target), "/api/v1/records/account/%s", old_acct);
    json_decref(rp_test_call(t, "GET", target, NULL, 404));
    snprintf(target, sizeof(target), "/api/v1/records/account/%s", new_acct);
    json_decref(rp_test_call(t, "GET", target, NULL, 200));
    /* its purge is audited and announced, with nothing of its values */
    snprintf(target, sizeof(target), "/api/v1/audit?action=purge&record_id=%s", old_acct);
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
    json_decref(j);
    assert_int_equal(rp_test_request(t, "GET", "/api/v1/changes?limit=1000", NULL, &out), 200);
    assert_non_null(strstr(out, "\"op\":\"purge\""));
    assert_null(strstr(out, "010-12345678"));
    assert_null(strstr(out, "Old Co"));
    free(out);

    /* the old contact is anonymised, the recently changed one is not */
    snprintf(target, sizeof(target), "/api/v1/records/contact/%s", old_contact);
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_true(json_is_null(json_object_get(j, "mobile")));
    assert_string_equal(json_string_value(json_object_get(j, "last_name")), "[erased]");
    assert_string_equal(json_string_value(json_object_get(j, "title")), "CFO");
    json_decref(j);
    snprintf(target, sizeof(target), "/api/v1/records/contact/%s", fresh_contact);
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(j, "mobile")), "13900002222");
    json_decref(j);

    /* audit entries of day 0 are gone; today's remain */
    j = rp_test_call(t, "GET", "/api/v1/audit?action=create&limit=100", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1); /* New Co */
    json_decref(j);

    /* a second run finds nothing more to do */
    run = rp_test_call(t, "POST", "/api/v1/privacy/retention/run", NULL, 200);
    assert_int_equal(records_of(run, "account"), 0);
    assert_int_equal(records_of(run, "contact"), 0);
    json_decref(run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_policies_are_validated, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_purge_anonymise_and_audit, rp_test_app_setup,
                                        rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
