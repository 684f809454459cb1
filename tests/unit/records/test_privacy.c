/*
 * Privacy: the subject access export holds the contact, the records pointing at it and its
 * history, and is audited; erasure removes personal values from the contact, its related
 * records, search and earlier history, keeps amounts, is audited and idempotent; both are for
 * admins only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>

#include "test_app.h"

static int request_as(struct rp_test_app *t, const char *token, const char *method,
                      const char *target, char **body)
{
    int status = rp_test_request_as(t, token, method, target, NULL, body);
    assert_true(status > 0);
    return status;
}

static json_t *get_json(struct rp_test_app *t, const char *method, const char *target, int expect)
{
    char *body = NULL;
    int status = rp_test_request(t, method, target, NULL, &body);
    json_t *j;
    if (status != expect)
        fprintf(stderr, "%s %s: %d %s\n", method, target, status, body);
    assert_int_equal(status, expect);
    j = json_loads(body, 0, NULL);
    assert_non_null(j);
    free(body);
    return j;
}

struct person {
    char contact[40], activity[40], kase[40], consent[40], opp[40], other[40];
};

static void seed(struct rp_test_app *t, struct person *s)
{
    char json[512], *body = NULL;

    rp_test_create(
        t, "contact",
        "{\"last_name\": \"李\", \"first_name\": \"明\", \"email\": \"li.ming@example.cn\","
        " \"mobile\": \"13912345678\", \"title\": \"CTO\"}",
        s->contact);
    rp_test_create(t, "contact", "{\"last_name\": \"Other\", \"email\": \"other@example.cn\"}",
                   s->other);
    snprintf(json, sizeof(json),
             "{\"type\": \"call\", \"subject\": \"Intro call\", \"contact_id\": \"%s\"}",
             s->contact);
    rp_test_create(t, "activity", json, s->activity);
    snprintf(json, sizeof(json),
             "{\"subject\": \"Login fails\", \"priority\": \"p2\", \"status\": \"new\","
             " \"contact_id\": \"%s\", \"supplied_email\": \"li.ming@example.cn\","
             " \"supplied_phone\": \"13912345678\"}",
             s->contact);
    rp_test_create(t, "case", json, s->kase);
    snprintf(json, sizeof(json),
             "{\"contact_id\": \"%s\", \"channel\": \"email\", \"purpose\": \"marketing\","
             " \"action\": \"grant\", \"occurred_at\": \"2026-01-10T09:00:00Z\","
             " \"ip_address\": \"203.0.113.7\", \"evidence\": \"signup form v3\"}",
             s->contact);
    rp_test_create(t, "consent", json, s->consent);
    snprintf(json, sizeof(json),
             "{\"name\": \"Deal\", \"stage\": \"prospecting\", \"amount\": \"12345.67\","
             " \"primary_contact_id\": \"%s\"}",
             s->contact);
    rp_test_create(t, "opportunity", json, s->opp);
    /* An update, so the history holds an old value of a sensitive field. */
    snprintf(json, sizeof(json), "/api/v1/records/contact/%s", s->contact);
    assert_int_equal(rp_test_request(t, "PATCH", json, "{\"mobile\": \"13987654321\"}", &body),
                     200);
    free(body);
}

static const json_t *related(const json_t *exp, const char *object)
{
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(exp, "related"), i, g)
    {
        if (strcmp(json_string_value(json_object_get(g, "object")), object) == 0)
            return json_object_get(g, "records");
    }
    return NULL;
}

static void test_export(void **state)
{
    struct rp_test_app *t = *state;
    struct person s;
    char target[160];
    json_t *exp, *audit;
    const json_t *recs;

    seed(t, &s);
    snprintf(target, sizeof(target), "/api/v1/privacy/subjects/%s/export", s.contact);
    exp = get_json(t, "GET", target, 200);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(exp, "contact"), "mobile")),
        "13987654321");
    assert_non_null(recs = related(exp, "activity"));
    assert_int_equal(json_array_size(recs), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 0), "id")),
                        s.activity);
    assert_non_null(recs = related(exp, "case"));
    assert_int_equal(json_array_size(recs), 1);
    assert_non_null(recs = related(exp, "consent"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 0), "id")),
                        s.consent);
    assert_non_null(related(exp, "opportunity"));
    /* Another person's data is not in it. */
    {
        char *text = json_dumps(exp, 0);
        assert_null(strstr(text, "other@example.cn"));
        free(text);
    }
    /* History: the create and the update of the contact. */
    assert_int_equal(json_array_size(json_object_get(exp, "history")), 2);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(exp, "history"), 1), "action")),
                        "update");
    json_decref(exp);

    snprintf(target, sizeof(target), "/api/v1/audit?action=subject_export&record_id=%s", s.contact);
    audit = get_json(t, "GET", target, 200);
    assert_int_equal(json_array_size(json_object_get(audit, "data")), 1);
    json_decref(audit);
}

static void assert_absent(struct rp_test_app *t, const char *target, const char *needle)
{
    char *body = NULL;
    assert_int_equal(rp_test_request(t, "GET", target, NULL, &body), 200);
    if (strstr(body, needle))
        fprintf(stderr, "%s still holds %s: %s\n", target, needle, body);
    assert_null(strstr(body, needle));
    free(body);
}

static void test_erase(void **state)
{
    struct rp_test_app *t = *state;
    struct person s;
    char target[160];
    json_t *j, *r;

    seed(t, &s);
    snprintf(target, sizeof(target), "/api/v1/privacy/subjects/%s/erase", s.contact);
    j = get_json(t, "POST", target, 200);
    /* The contact, the case (supplied email and phone) and the consent entry. */
    assert_int_equal(json_integer_value(json_object_get(j, "records")), 3);
    json_decref(j);

    snprintf(target, sizeof(target), "/api/v1/records/contact/%s", s.contact);
    r = get_json(t, "GET", target, 200);
    assert_true(json_is_null(json_object_get(r, "email")));
    assert_true(json_is_null(json_object_get(r, "mobile")));
    assert_true(json_is_null(json_object_get(r, "first_name")));
    assert_string_equal(json_string_value(json_object_get(r, "last_name")), "[erased]");
    assert_string_equal(json_string_value(json_object_get(r, "title")), "CTO");
    assert_int_equal(json_integer_value(json_object_get(r, "version")), 3);
    json_decref(r);

    snprintf(target, sizeof(target), "/api/v1/records/case/%s", s.kase);
    r = get_json(t, "GET", target, 200);
    assert_true(json_is_null(json_object_get(r, "supplied_email")));
    assert_string_equal(json_string_value(json_object_get(r, "subject")), "Login fails");
    json_decref(r);

    snprintf(target, sizeof(target), "/api/v1/records/consent/%s", s.consent);
    r = get_json(t, "GET", target, 200);
    assert_true(json_is_null(json_object_get(r, "ip_address")));
    assert_true(json_is_null(json_object_get(r, "evidence")));
    assert_string_equal(json_string_value(json_object_get(r, "action")), "grant");
    json_decref(r);

    snprintf(target, sizeof(target), "/api/v1/records/opportunity/%s", s.opp);
    r = get_json(t, "GET", target, 200);
    assert_true(json_number_value(json_object_get(r, "amount")) == 12345.67);
    json_decref(r);

    /* Nothing finds the old values any more: search, lists, history, change feed. */
    assert_absent(t, "/api/v1/records/contact?q=li.ming", "li.ming");
    assert_absent(t, "/api/v1/records/contact?q=13912345678", "1391234");
    assert_absent(t, "/api/v1/records/case?q=li.ming", "li.ming");
    assert_absent(t, "/api/v1/records/contact", "13987654321");
    snprintf(target, sizeof(target), "/api/v1/records/contact/%s/history", s.contact);
    assert_absent(t, target, "13987654321");
    assert_absent(t, "/api/v1/changes?limit=200", "li.ming");
    assert_absent(t, "/api/v1/audit?limit=200", "13912345678");
    /* The other contact is untouched. */
    snprintf(target, sizeof(target), "/api/v1/records/contact/%s", s.other);
    r = get_json(t, "GET", target, 200);
    assert_string_equal(json_string_value(json_object_get(r, "email")), "other@example.cn");
    json_decref(r);

    /* Audited with field names, never values. */
    snprintf(target, sizeof(target), "/api/v1/audit?action=erase&record_id=%s", s.contact);
    r = get_json(t, "GET", target, 200);
    assert_int_equal(json_array_size(json_object_get(r, "data")), 1);
    j = json_object_get(json_array_get(json_object_get(r, "data"), 0), "changes");
    assert_non_null(json_object_get(j, "erased"));
    json_decref(r);

    /* Erasing again is fine and changes nothing. */
    snprintf(target, sizeof(target), "/api/v1/privacy/subjects/%s/erase", s.contact);
    j = get_json(t, "POST", target, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "records")), 0);
    json_decref(j);
}

static void test_admin_only(void **state)
{
    struct rp_test_app *t = *state;
    struct person s;
    char bob[128], target[160], *body = NULL;

    seed(t, &s);
    rp_test_user(t, "bob", "password123", false, bob, sizeof(bob), NULL);
    snprintf(target, sizeof(target), "/api/v1/privacy/subjects/%s/export", s.contact);
    assert_int_equal(request_as(t, bob, "GET", target, &body), 403);
    free(body);
    snprintf(target, sizeof(target), "/api/v1/privacy/subjects/%s/erase", s.contact);
    assert_int_equal(request_as(t, bob, "POST", target, &body), 403);
    free(body);
    snprintf(target, sizeof(target), "/api/v1/records/contact/%s", s.contact);
    json_decref(get_json(t, "GET", target, 200));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_export, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_erase, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_admin_only, rp_test_app_setup, rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
