/*
 * E-signature through the HTTP API: an approved quote gets a single-use signing link; the
 * signer, with no account, reads the quote and its exact PDF by the token and signs with a
 * name; the signing records name, time, address and the PDF's SHA-256 (refusing a document
 * that changed since it was read), makes the quote signed with its contract, order and won
 * opportunity in the same transaction, and the link cannot sign again. Expired links, unknown
 * tokens, quotes not approved and missing names are refused; the signer's page escapes what
 * it shows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "base/arena.h"
#include "test_app.h"

#define DAY_MS (INT64_C(86400) * 1000)

/* A public request with a body of the given type; *out gets the body (malloc'd). */
static int request_public(struct rp_test_app *t, const char *method, const char *target,
                          const char *type, const char *body, char **out, size_t *len)
{
    struct rp_http_pair headers[] = {{"Content-Type", type}};
    struct rp_http_dispatch in = {.method = method,
                                  .target = target,
                                  .headers = headers,
                                  .nheaders = body ? 1 : 0,
                                  .body = body,
                                  .body_len = body ? strlen(body) : 0};
    struct rp_http_result res;
    int status;

    assert_int_equal(rp_http_dispatch(t->app->router, &in, &res), 0);
    status = res.status;
    *out = rp_xstrndup(res.body, res.body_len);
    if (len)
        *len = res.body_len;
    rp_http_dispatch_release(&res);
    return status;
}

/* An approved quote of an opportunity, with one priced line; returns its id in quote. */
static void approved_quote(struct rp_test_app *t, const char *name, char *quote, char *opp)
{
    char account[40], product[40], line[40], body[512], target[160];

    rp_test_create(t, "account", "{\"name\": \"Signing Co\"}", account);
    snprintf(body, sizeof(body),
             "{\"name\": \"Deal\", \"account_id\": \"%s\", \"stage\": \"negotiation\"}", account);
    rp_test_create(t, "opportunity", body, opp);
    rp_test_create(t, "product",
                   "{\"name\": \"Licence\", \"sku\": \"LIC-1\", \"list_price\": 1000}", product);
    snprintf(body, sizeof(body),
             "{\"name\": \"%s\", \"account_id\": \"%s\", \"opportunity_id\": \"%s\"}", name,
             account, opp);
    rp_test_create(t, "quote", body, quote);
    snprintf(body, sizeof(body), "{\"quote_id\": \"%s\", \"product_id\": \"%s\", \"quantity\": 3}",
             quote, product);
    rp_test_create(t, "quote_line", body, line);
    snprintf(target, sizeof(target), "/api/v1/records/quote/%s/approval/submit", quote);
    json_decref(rp_test_call(t, "POST", target, NULL, 200));
}

static void sha256_hex(const char *data, size_t n, char out[65])
{
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(d, (const unsigned char *)data, n);
    sodium_bin2hex(out, 65, d, sizeof(d));
}

static int setup(void **state)
{
    struct rp_test_app *t;
    int rc = rp_test_app_setup(state);

    t = *state;
    /* small discounts need nobody: the quote is approved at submission */
    json_decref(rp_test_call(
        t, "PUT", "/api/v1/approvals/processes/no_discount",
        "{\"object\": \"quote\", \"criteria\": \"effective_discount_percent <= 10\", \"steps\":"
        " [], \"on_submit\": {\"status\": \"pending_approval\"}, \"on_approve\": {\"status\":"
        " \"approved\"}}",
        201));
    return rc;
}

static void test_sign(void **state)
{
    struct rp_test_app *t = *state;
    char quote[40], opp[40], target[256], hash[65], body[512], *out = NULL;
    const char *token;
    json_t *link, *j;
    size_t len;

    approved_quote(t, "Annual licences", quote, opp);
    snprintf(target, sizeof(target), "/api/v1/records/quote/%s/signing-link", quote);
    link = rp_test_call(t, "POST", target,
                        "{\"signer_name\": \"Li Wei\", \"signer_email\": \"li@example.com\"}", 201);
    token = rp_test_str(link, "token");
    assert_int_equal(strlen(token), 64);
    snprintf(body, sizeof(body), "/sign/%s", token);
    assert_string_equal(rp_test_str(link, "url"), body);
    assert_string_equal(rp_test_str(link, "expires_at"), "2026-12-22T08:00:00Z");
    snprintf(target, sizeof(target), "/api/v1/records/quote/%s", quote);
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_string_equal(rp_test_str(j, "status"), "sent");
    json_decref(j);

    /* what the signer sees, without an account */
    snprintf(target, sizeof(target), "/api/v1/signing/%s", token);
    j = rp_test_call_as(t, NULL, "GET", target, NULL, 200);
    assert_string_equal(rp_test_str(j, "state"), "open");
    assert_string_equal(rp_test_str(j, "name"), "Annual licences");
    assert_true(json_number_value(json_object_get(j, "total")) == 3000);
    assert_null(json_object_get(j, "owner_id"));
    json_decref(j);
    snprintf(target, sizeof(target), "/api/v1/signing/%s/pdf", token);
    assert_int_equal(request_public(t, "GET", target, "application/json", NULL, &out, &len), 200);
    assert_memory_equal(out, "%PDF", 4);
    sha256_hex(out, len, hash);
    free(out);

    /* a document other than the one read is not signed */
    snprintf(target, sizeof(target), "/api/v1/signing/%s", token);
    json_decref(
        rp_test_call_as(t, NULL, "POST", target,
                        "{\"name\": \"Li Wei\", \"accept\": true, \"pdf_sha256\": "
                        "\"0000000000000000000000000000000000000000000000000000000000000000\"}",
                        409));
    json_decref(rp_test_call_as(t, NULL, "POST", target, "{\"accept\": true}", 422));
    json_decref(rp_test_call_as(t, NULL, "POST", target, "{\"name\": \"Li Wei\"}", 422));
    json_decref(rp_test_call_as(t, NULL, "POST", target, "{\"name\": \"Li\", \"pen\": 1}", 400));

    snprintf(body, sizeof(body), "{\"name\": \"Li Wei\", \"accept\": true, \"pdf_sha256\": \"%s\"}",
             hash);
    j = rp_test_call_as(t, NULL, "POST", target, body, 200);
    assert_string_equal(rp_test_str(j, "state"), "signed");
    assert_string_equal(rp_test_str(j, "pdf_sha256"), hash);
    json_decref(j);
    /* once */
    json_decref(rp_test_call_as(t, NULL, "POST", target, body, 409));

    snprintf(target, sizeof(target), "/api/v1/records/quote/%s", quote);
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_string_equal(rp_test_str(j, "status"), "signed");
    assert_string_equal(rp_test_str(j, "signer_name"), "Li Wei");
    assert_string_equal(rp_test_str(j, "signed_at"), "2026-11-22T08:00:00Z");
    json_decref(j);
    snprintf(target, sizeof(target), "/api/v1/records/opportunity/%s", opp);
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_string_equal(rp_test_str(j, "stage"), "closed_won");
    json_decref(j);
    snprintf(target, sizeof(target),
             "/api/v1/records/contract?filter=quote_id%%20%%3D%%20%%27%s%%27", quote);
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
    json_decref(j);
    snprintf(target, sizeof(target), "/api/v1/records/quote/%s/signing", quote);
    j = rp_test_call(t, "GET", target, NULL, 200);
    {
        const json_t *s = json_array_get(json_object_get(j, "data"), 0);
        assert_string_equal(rp_test_str(s, "state"), "signed");
        assert_string_equal(rp_test_str(s, "signer_name"), "Li Wei");
        assert_string_equal(rp_test_str(s, "signer_address"), "in-process");
        assert_string_equal(rp_test_str(s, "pdf_sha256"), hash);
        assert_null(json_object_get(s, "token"));
    }
    json_decref(j);
    j = rp_test_call(t, "GET", "/api/v1/changes?objects=event&limit=1000", NULL, 200);
    {
        size_t i, n = 0;
        const json_t *e;
        json_array_foreach(json_object_get(j, "data"), i, e)
        {
            if (strcmp(rp_test_str(e, "op"), "quote.signed") == 0 &&
                strcmp(rp_test_str(json_object_get(e, "changes"), "pdf_sha256"), hash) == 0)
                n++;
        }
        assert_int_equal(n, 1);
    }
    json_decref(j);
    json_decref(link);
}

static void test_refusals_and_page(void **state)
{
    struct rp_test_app *t = *state;
    char quote[40], opp[40], draft[40], target[256], *out = NULL;
    json_t *link;

    /* the signer's page escapes what it shows and posts a plain form */
    approved_quote(t, "<script>alert(1)</script> Deal", quote, opp);
    snprintf(target, sizeof(target), "/api/v1/records/quote/%s/signing-link", quote);
    link = rp_test_call(t, "POST", target, "{\"expires_in_days\": 1}", 201);
    snprintf(target, sizeof(target), "/sign/%s", rp_test_str(link, "token"));
    assert_int_equal(rp_test_request_as(t, NULL, "GET", target, NULL, &out), 200);
    assert_null(strstr(out, "<script>alert"));
    assert_non_null(strstr(out, "&lt;script&gt;alert(1)&lt;/script&gt; Deal"));
    assert_non_null(strstr(out, "<form method=\"post\">"));
    free(out);

    /* a day and more later the link has expired */
    rp_clock_advance(&t->app->clock, 2 * DAY_MS);
    assert_int_equal(request_public(t, "POST", target, "application/x-www-form-urlencoded",
                                    "name=Li+Wei&accept=true", &out, NULL),
                     409);
    free(out);
    json_decref(link);

    json_decref(rp_test_call_as(t, NULL, "GET",
                                "/api/v1/signing/"
                                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                NULL, 404));
    json_decref(rp_test_call_as(t, NULL, "GET", "/api/v1/signing/short", NULL, 404));
    rp_test_create(t, "quote", "{\"name\": \"Not approved\"}", draft);
    snprintf(target, sizeof(target), "/api/v1/records/quote/%s/signing-link", draft);
    json_decref(rp_test_call(t, "POST", target, NULL, 409));
    json_decref(rp_test_call(t, "POST", target, "{\"expires_in_days\": 400}", 400));
    json_decref(rp_test_call(t, "POST", target, "{\"colour\": 1}", 400));
    json_decref(rp_test_call_as(t, NULL, "POST", target, NULL, 401));
}

static void test_sign_by_form(void **state)
{
    struct rp_test_app *t = *state;
    char quote[40], opp[40], target[256], *out = NULL;
    json_t *link, *j;

    approved_quote(t, "By hand", quote, opp);
    snprintf(target, sizeof(target), "/api/v1/records/quote/%s/signing-link", quote);
    link = rp_test_call(t, "POST", target, NULL, 201);
    snprintf(target, sizeof(target), "/sign/%s", rp_test_str(link, "token"));
    assert_int_equal(request_public(t, "POST", target, "application/x-www-form-urlencoded",
                                    "name=%E6%9D%8E%E4%BC%9F&accept=true", &out, NULL),
                     200);
    assert_non_null(strstr(out, "李伟"));
    free(out);
    snprintf(target, sizeof(target), "/api/v1/records/quote/%s", quote);
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_string_equal(rp_test_str(j, "status"), "signed");
    assert_string_equal(rp_test_str(j, "signer_name"), "李伟");
    json_decref(j);
    json_decref(link);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sign, setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_refusals_and_page, setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_sign_by_form, setup, rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
