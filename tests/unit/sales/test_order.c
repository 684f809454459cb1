/*
 * Contract to order through the HTTP API: signing a quote creates, in the same transaction,
 * the contract (a twelve-month term from the signing day), the order with the quote's lines
 * and the won opportunity, with the contract.signed and order.created events; signing again
 * creates nothing more; a quote without an account cannot be signed; inbound shipment.updated
 * events (a configured rule) move the order to shipped and delivered, which stamps its dates
 * and, the contract being signed, raises invoice.requested.
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

/* The only live record of object whose field is value. */
static json_t *only(struct rp_test_app *t, const char *object, const char *field, const char *value)
{
    char target[256];
    json_t *j, *r;

    snprintf(target, sizeof(target), "/api/v1/records/%s?filter=%s%%20%%3D%%20%%27%s%%27", object,
             field, value);
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
    r = json_incref(json_array_get(json_object_get(j, "data"), 0));
    json_decref(j);
    return r;
}

static size_t events(struct rp_test_app *t, const char *type, const char *id)
{
    json_t *j = rp_test_call(t, "GET", "/api/v1/changes?objects=event&limit=1000", NULL, 200);
    size_t i, n = 0;
    const json_t *e;

    json_array_foreach(json_object_get(j, "data"), i, e)
    {
        if (strcmp(rp_test_str(e, "op"), type) == 0 &&
            (!id || strcmp(rp_test_str(e, "id"), id) == 0))
            n++;
    }
    json_decref(j);
    return n;
}

static void test_signed_quote_to_invoice_request(void **state)
{
    struct rp_test_app *t = *state;
    char account[40], opp[40], product[40], quote[40], line[40], target[160], body[512];
    json_t *contract, *order, *j;

    rp_test_create(t, "account", "{\"name\": \"Shenzhen Robotics\"}", account);
    snprintf(body, sizeof(body),
             "{\"name\": \"Robots\", \"account_id\": \"%s\", \"stage\": \"negotiation\","
             " \"amount\": 24000}",
             account);
    rp_test_create(t, "opportunity", body, opp);
    rp_test_create(t, "product", "{\"name\": \"Arm\", \"sku\": \"ARM-1\", \"list_price\": 12000}",
                   product);
    snprintf(body, sizeof(body),
             "{\"name\": \"Robots Q1\", \"account_id\": \"%s\", \"opportunity_id\": \"%s\"}",
             account, opp);
    rp_test_create(t, "quote", body, quote);
    for (int i = 0; i < 2; i++) {
        snprintf(body, sizeof(body),
                 "{\"quote_id\": \"%s\", \"product_id\": \"%s\", \"quantity\": 1, \"unit_price\":"
                 " 12000, \"list_price\": 12000, \"sort_order\": %d}",
                 quote, product, i);
        rp_test_create(t, "quote_line", body, line);
    }
    snprintf(target, sizeof(target), "/api/v1/records/quote/%s", quote);
    json_decref(rp_test_call(t, "PATCH", target, "{\"status\": \"signed\"}", 200));

    contract = only(t, "contract", "quote_id", quote);
    assert_string_equal(rp_test_str(contract, "account_id"), account);
    assert_string_equal(rp_test_str(contract, "opportunity_id"), opp);
    assert_string_equal(rp_test_str(contract, "status"), "active");
    assert_string_equal(rp_test_str(contract, "start_date"), "2026-11-22");
    assert_string_equal(rp_test_str(contract, "end_date"), "2027-11-21");
    assert_string_equal(rp_test_str(contract, "signed_at"), "2026-11-22T08:00:00Z");
    order = only(t, "order", "quote_id", quote);
    assert_string_equal(rp_test_str(order, "contract_id"), rp_test_str(contract, "id"));
    assert_string_equal(rp_test_str(order, "status"), "created");
    {
        char filter[160];
        snprintf(filter, sizeof(filter),
                 "/api/v1/records/order_line?filter=order_id%%20%%3D%%20%%27%s%%27",
                 rp_test_str(order, "id"));
        j = rp_test_call(t, "GET", filter, NULL, 200);
        assert_int_equal(json_array_size(json_object_get(j, "data")), 2);
        assert_string_equal(
            rp_test_str(json_array_get(json_object_get(j, "data"), 0), "product_id"), product);
        json_decref(j);
    }
    snprintf(target, sizeof(target), "/api/v1/records/opportunity/%s", opp);
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_string_equal(rp_test_str(j, "stage"), "closed_won");
    assert_string_equal(rp_test_str(j, "closed_at"), "2026-11-22T08:00:00Z");
    json_decref(j);
    assert_int_equal(events(t, "contract.signed", rp_test_str(contract, "id")), 1);
    assert_int_equal(events(t, "order.created", rp_test_str(order, "id")), 1);

    /* a signed quote stays signed: no second contract can come of it */
    snprintf(target, sizeof(target), "/api/v1/records/quote/%s", quote);
    json_decref(rp_test_call(t, "PATCH", target, "{\"status\": \"sent\"}", 409));
    json_decref(only(t, "contract", "quote_id", quote));
    json_decref(only(t, "order", "quote_id", quote));

    /* shipment events from the warehouse, through a configured rule */
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/shipments",
                     "{\"object\": \"order\", \"trigger\": {\"on\": \"event\", \"type\":"
                     " \"shipment.updated\"}, \"actions\": [{\"type\": \"set_fields\","
                     " \"values\": {\"status\": {\"event\": \"status\"}, \"carrier\": {\"event\":"
                     " \"carrier\"}, \"tracking_number\": {\"event\": \"tracking_number\"}}}]}",
                     201));
    snprintf(body, sizeof(body),
             "{\"id\": \"shp-1\", \"record_id\": \"%s\", \"data\": {\"status\": \"shipped\","
             " \"carrier\": \"SF Express\", \"tracking_number\": \"SF1234567\"}}",
             rp_test_str(order, "id"));
    json_decref(rp_test_call(t, "POST", "/api/v1/events/shipment.updated", body, 202));
    rp_test_settle(t);
    snprintf(target, sizeof(target), "/api/v1/records/order/%s", rp_test_str(order, "id"));
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_string_equal(rp_test_str(j, "status"), "shipped");
    assert_string_equal(rp_test_str(j, "carrier"), "SF Express");
    assert_string_equal(rp_test_str(j, "shipped_at"), "2026-11-22T08:00:00Z");
    assert_true(json_is_null(json_object_get(j, "delivered_at")));
    json_decref(j);
    assert_int_equal(events(t, "invoice.requested", NULL), 0);
    rp_clock_advance(&t->app->clock, 2 * 86400 * INT64_C(1000));
    snprintf(body, sizeof(body),
             "{\"id\": \"shp-2\", \"record_id\": \"%s\", \"data\": {\"status\": \"delivered\","
             " \"carrier\": \"SF Express\", \"tracking_number\": \"SF1234567\"}}",
             rp_test_str(order, "id"));
    json_decref(rp_test_call(t, "POST", "/api/v1/events/shipment.updated", body, 202));
    rp_test_settle(t);
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_string_equal(rp_test_str(j, "status"), "delivered");
    assert_string_equal(rp_test_str(j, "delivered_at"), "2026-11-24T08:00:00Z");
    json_decref(j);
    assert_int_equal(events(t, "invoice.requested", rp_test_str(order, "id")), 1);
    json_decref(contract);
    json_decref(order);
}

static void test_quote_without_account(void **state)
{
    struct rp_test_app *t = *state;
    char quote[40], target[160];
    json_t *j;

    rp_test_create(t, "quote", "{\"name\": \"Nobody's\"}", quote);
    snprintf(target, sizeof(target), "/api/v1/records/quote/%s", quote);
    j = rp_test_call(t, "PATCH", target, "{\"status\": \"signed\"}", 422);
    assert_string_equal(rp_test_str(json_array_get(json_object_get(j, "errors"), 0), "field"),
                        "account_id");
    json_decref(j);
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_string_equal(rp_test_str(j, "status"), "draft");
    json_decref(j);
    j = rp_test_call(t, "GET", "/api/v1/records/contract", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 0);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_signed_quote_to_invoice_request, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_quote_without_account, rp_test_app_setup,
                                        rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
