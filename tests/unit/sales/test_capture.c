/*
 * Web-to-lead through the public endpoint (no token): a submission creates the lead with its
 * campaign attribution (touchpoint, campaign membership), consent when the box is ticked and
 * the form.submitted event; the same e-mail again enriches that lead instead of duplicating it;
 * a filled honeypot is dropped quietly; the hourly limit per address answers 429; double
 * opt-in records consent only through the mailed single-use link; bad forms, fields and
 * definitions are refused precisely.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "base/arena.h"
#include "test_app.h"

#define HOUR_MS (INT64_C(3600) * 1000)

/* A public request (no token) with a content type of our choosing. */
static int post_public(struct rp_test_app *t, const char *target, const char *type,
                       const char *body, char **out)
{
    struct rp_http_pair headers[] = {{"Content-Type", type},
                                     {"Referer", "https://example.com/webinar"}};
    struct rp_http_dispatch in = {.method = "POST",
                                  .target = target,
                                  .headers = headers,
                                  .nheaders = 2,
                                  .body = body,
                                  .body_len = strlen(body)};
    struct rp_http_result res;
    int status;

    assert_int_equal(rp_http_dispatch(t->app->router, &in, &res), 0);
    status = res.status;
    if (out)
        *out = rp_xstrndup(res.body, res.body_len);
    rp_http_dispatch_release(&res);
    return status;
}

static void submit(struct rp_test_app *t, const char *form, const char *type, const char *body,
                   int expect)
{
    char target[128], *out = NULL;
    int status;

    snprintf(target, sizeof(target), "/api/v1/forms/%s/submissions", form);
    status = post_public(t, target, type, body, &out);
    if (status != expect)
        fprintf(stderr, "submit %s: %d %s\n", form, status, out);
    assert_int_equal(status, expect);
    free(out);
}

static size_t count(struct rp_test_app *t, const char *object)
{
    char target[128];
    json_t *j;
    size_t n;

    snprintf(target, sizeof(target), "/api/v1/records/%s?limit=200", object);
    j = rp_test_call(t, "GET", target, NULL, 200);
    n = json_array_size(json_object_get(j, "data"));
    json_decref(j);
    return n;
}

static json_t *first(struct rp_test_app *t, const char *object)
{
    char target[128];
    json_t *j, *r;

    snprintf(target, sizeof(target), "/api/v1/records/%s?limit=1", object);
    j = rp_test_call(t, "GET", target, NULL, 200);
    r = json_incref(json_array_get(json_object_get(j, "data"), 0));
    json_decref(j);
    return r;
}

static const char *JSON = "application/json";
static const char *FORM = "application/x-www-form-urlencoded";

static void put_form(struct rp_test_app *t, const char *campaign)
{
    char body[1024];

    snprintf(body, sizeof(body),
             "{\"fields\": [\"first_name\", \"last_name\", \"email\", \"company\", \"phone\"],"
             " \"required\": [\"last_name\", \"email\"], \"values\": {\"source\": \"web\"},"
             " \"campaign_id\": \"%s\", \"honeypot\": \"website_url\", \"rate_limit_per_hour\": 4,"
             " \"consent\": {\"field\": \"newsletter\", \"channel\": \"email\", \"purpose\":"
             " \"marketing\", \"policy_version\": \"v1\"}}",
             campaign);
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/capture-forms/webinar", body, 201));
}

static void test_capture_and_enrich(void **state)
{
    struct rp_test_app *t = *state;
    char campaign[40];
    json_t *lead, *j;

    rp_test_create(t, "campaign", "{\"name\": \"Autumn webinar\", \"type\": \"webinar\"}",
                   campaign);
    put_form(t, campaign);
    submit(t, "webinar", JSON,
           "{\"first_name\": \"Mei\", \"last_name\": \"Lin\", \"email\": \"Mei.Lin@Example.com\","
           " \"company\": \"Lin Tea\", \"newsletter\": \"on\", \"utm_source\": \"wechat\","
           " \"utm_campaign\": \"autumn\"}",
           201);
    assert_int_equal(count(t, "lead"), 1);
    lead = first(t, "lead");
    assert_string_equal(json_string_value(json_object_get(lead, "source")), "web");
    assert_string_equal(json_string_value(json_object_get(lead, "campaign_id")), campaign);
    assert_true(json_is_null(json_object_get(lead, "phone")));
    j = first(t, "touchpoint");
    assert_string_equal(json_string_value(json_object_get(j, "type")), "form_submit");
    assert_string_equal(json_string_value(json_object_get(j, "utm_source")), "wechat");
    assert_string_equal(json_string_value(json_object_get(j, "url")),
                        "https://example.com/webinar");
    assert_string_equal(json_string_value(json_object_get(j, "lead_id")),
                        json_string_value(json_object_get(lead, "id")));
    json_decref(j);
    j = first(t, "campaign_member");
    assert_string_equal(json_string_value(json_object_get(j, "status")), "responded");
    json_decref(j);
    j = first(t, "consent");
    assert_string_equal(json_string_value(json_object_get(j, "action")), "grant");
    assert_string_equal(json_string_value(json_object_get(j, "source")), "web_form");
    assert_string_equal(json_string_value(json_object_get(j, "policy_version")), "v1");
    json_decref(j);
    j = rp_test_call(t, "GET", "/api/v1/changes?objects=event&limit=100", NULL, 200);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "op")),
        "form.submitted");
    json_decref(j);

    /* the same address again, as an HTML form: the lead is enriched, not duplicated */
    submit(t, "webinar", FORM,
           "last_name=Lin&email=mei.lin%40example.com&phone=%2B8613800001111&company=Other", 201);
    assert_int_equal(count(t, "lead"), 1);
    j = first(t, "lead");
    assert_string_equal(json_string_value(json_object_get(j, "phone")), "+8613800001111");
    assert_string_equal(json_string_value(json_object_get(j, "company")), "Lin Tea");
    json_decref(j);
    assert_int_equal(count(t, "touchpoint"), 2);
    assert_int_equal(count(t, "campaign_member"), 1);
    assert_int_equal(count(t, "consent"), 1); /* no box ticked this time */

    /* a bot fills the honeypot: accepted in appearance, nothing created */
    submit(t, "webinar", JSON,
           "{\"last_name\": \"Bot\", \"email\": \"bot@spam.example\", \"website_url\":"
           " \"http://spam.example\"}",
           201);
    assert_int_equal(count(t, "lead"), 1);

    /* the fourth submission of the hour from this address is one too many */
    submit(t, "webinar", JSON, "{\"last_name\": \"Wu\", \"email\": \"wu@example.com\"}", 201);
    submit(t, "webinar", JSON, "{\"last_name\": \"Xu\", \"email\": \"xu@example.com\"}", 429);
    rp_clock_advance(&t->app->clock, HOUR_MS + 1);
    submit(t, "webinar", JSON, "{\"last_name\": \"Xu\", \"email\": \"xu@example.com\"}", 201);
    assert_int_equal(count(t, "lead"), 3);
    json_decref(lead);
}

static void test_refusals(void **state)
{
    struct rp_test_app *t = *state;
    char campaign[40], tok[128], *out = NULL;

    rp_test_create(t, "campaign", "{\"name\": \"C\"}", campaign);
    put_form(t, campaign);
    submit(t, "nope", JSON, "{\"last_name\": \"A\", \"email\": \"a@example.com\"}", 404);
    submit(t, "webinar", JSON,
           "{\"last_name\": \"A\", \"email\": \"a@example.com\", \"salary\": \"1\"}", 400);
    submit(t, "webinar", JSON, "{\"last_name\": \"A\"}", 422);
    submit(t, "webinar", JSON, "{\"last_name\": \"A\", \"email\": \"not-an-email\"}", 422);
    submit(t, "webinar", JSON, "{\"last_name\": {\"x\": 1}, \"email\": \"a@example.com\"}", 400);
    submit(t, "webinar", JSON, "[]", 400);
    submit(t, "webinar", FORM, "last_name=A&last_name=B&email=a%40example.com", 400);
    submit(t, "webinar", FORM, "last_name=%ZZ", 400);
    assert_int_equal(count(t, "lead"), 0);

    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/capture-forms/bad",
                             "{\"fields\": [\"salary\"]}", 422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/capture-forms/bad",
                             "{\"fields\": [\"email\"], \"required\": [\"last_name\"]}", 422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/capture-forms/bad",
                             "{\"fields\": [\"email\"], \"double_opt_in\": {\"template\": \"x\"}}",
                             422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/capture-forms/bad",
                             "{\"fields\": [\"status\"]}", 422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/capture-forms/bad",
                             "{\"fields\": [\"email\"], \"values\": {\"source\": \"pigeon\"}}",
                             422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/definitions/capture-forms/off",
                             "{\"fields\": [\"last_name\"], \"active\": false}", 201));
    submit(t, "off", JSON, "{\"last_name\": \"A\"}", 404);
    rp_test_user(t, "marketer", "marketer-password", false, tok, sizeof(tok), NULL);
    assert_int_equal(rp_test_request_as(t, tok, "PUT", "/api/v1/definitions/capture-forms/m",
                                        "{\"fields\": [\"last_name\"]}", &out),
                     403);
    free(out);
}

struct text_row {
    char *text;
};

static int text_fn(void *ctx, const struct rp_value *cols, size_t n)
{
    struct text_row *x = ctx;
    if (n && cols[0].type == RP_V_TEXT)
        x->text = rp_xstrndup(cols[0].u.s.p, cols[0].u.s.len);
    return 1;
}

static void test_double_opt_in(void **state)
{
    struct rp_test_app *t = *state;
    struct text_row row = {NULL};
    struct rp_store_conn *c;
    struct rp_arena a;
    struct rp_sql q;
    struct rp_error err;
    char target[512], *link, *out = NULL;

    json_decref(rp_test_call(t, "PUT", "/api/v1/admin/settings/email.tracking_base_url",
                             "{\"value\": \"https://crm.example.com\"}", 200));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/email/templates/confirm_subscription",
                     "{\"object\": \"lead\", \"subject\": \"Please confirm\", \"text\": \"Hello"
                     " {{first_name}}, confirm here: {{confirm_url}}\", \"to\": \"email\"}",
                     201));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/definitions/capture-forms/newsletter",
                     "{\"fields\": [\"first_name\", \"last_name\", \"email\"], \"required\":"
                     " [\"email\", \"last_name\"], \"consent\": {\"field\": \"subscribe\","
                     " \"channel\": \"email\", \"purpose\": \"newsletter\"}, \"double_opt_in\":"
                     " {\"template\": \"confirm_subscription\"}}",
                     201));
    submit(t, "newsletter", JSON,
           "{\"first_name\": \"Ann\", \"last_name\": \"Ho\", \"email\": \"ann@example.com\","
           " \"subscribe\": true}",
           201);
    assert_int_equal(count(t, "consent"), 0); /* not before the link */

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rp_sql_init(&q, &a, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT body_text FROM rp_email_message");
    c = rp_store_reader_acquire(t->app->store);
    assert_int_equal(rp_store_query(c, &q, text_fn, &row, &err), 0);
    rp_store_reader_release(t->app->store, c);
    rp_arena_release(&a);
    assert_non_null(row.text);
    link = strstr(row.text, "https://crm.example.com/api/v1/forms/confirm?t=");
    assert_non_null(link);
    snprintf(target, sizeof(target), "%s", link + strlen("https://crm.example.com"));
    for (char *p = target; *p; p++)
        if (*p == ' ' || *p == '\r' || *p == '\n')
            *p = '\0';
    free(row.text);

    assert_int_equal(rp_test_request_as(t, NULL, "GET", target, NULL, &out), 200);
    assert_non_null(strstr(out, "confirmed"));
    free(out);
    assert_int_equal(count(t, "consent"), 1);
    {
        json_t *j = first(t, "consent");
        assert_string_equal(json_string_value(json_object_get(j, "source")), "double_opt_in");
        assert_string_equal(json_string_value(json_object_get(j, "purpose")), "newsletter");
        json_decref(j);
    }
    /* the link works once; a tampered one not at all */
    assert_int_equal(rp_test_request_as(t, NULL, "GET", target, NULL, &out), 200);
    free(out);
    assert_int_equal(count(t, "consent"), 1);
    target[strlen(target) - 1] = target[strlen(target) - 1] == '0' ? '1' : '0';
    assert_int_equal(rp_test_request_as(t, NULL, "GET", target, NULL, &out), 400);
    free(out);
    assert_int_equal(rp_test_request_as(t, NULL, "GET", "/api/v1/forms/confirm?t=x", NULL, &out),
                     400);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_capture_and_enrich, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_refusals, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_double_opt_in, rp_test_app_setup,
                                        rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
