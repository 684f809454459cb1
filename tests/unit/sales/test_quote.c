/*
 * CPQ through the HTTP API and sales.h: lines priced from the price book (volume tiers,
 * inactive entries, the standard book, the product's list price), exact totals rounded half
 * up to the cent, discount ceilings (line, unit price, quote discount), totals after a line is
 * deleted and restored, pricing read-only once approved until re-opened, the approval matrix
 * by effective discount (four bands, right and wrong approvers), the quote PDF (deterministic,
 * Chinese text) and quote expiry by the daily job on the fake clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "test_app.h"

#define DAY_MS (INT64_C(86400) * 1000)

static json_t *call_as(struct rp_test_app *t, const char *token, const char *method,
                       const char *target, const char *body, int expect)
{
    char *out = NULL;
    int status = token ? rp_test_request_as(t, token, method, target, body, &out)
                       : rp_test_request(t, method, target, body, &out);
    json_t *j;

    if (status != expect)
        fprintf(stderr, "%s %s %s: %d %s\n", method, target, body ? body : "", status,
                out ? out : "");
    assert_int_equal(status, expect);
    j = out && *out ? json_loads(out, 0, NULL) : json_object();
    free(out);
    return j ? j : json_object();
}

static json_t *call(struct rp_test_app *t, const char *method, const char *target, const char *body,
                    int expect)
{
    return call_as(t, NULL, method, target, body, expect);
}

static const char *str(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

static double num(const json_t *j, const char *key)
{
    return json_number_value(json_object_get(j, key));
}

static json_t *get(struct rp_test_app *t, const char *object, const char *id)
{
    char target[160];
    snprintf(target, sizeof(target), "/api/v1/records/%s/%s", object, id);
    return call(t, "GET", target, NULL, 200);
}

static json_t *patch(struct rp_test_app *t, const char *token, const char *object, const char *id,
                     const char *body, int expect)
{
    char target[160];
    snprintf(target, sizeof(target), "/api/v1/records/%s/%s", object, id);
    return call_as(t, token, "PATCH", target, body, expect);
}

/* A line on quote q; returns the created line (caller decrefs). */
static json_t *add_line(struct rp_test_app *t, const char *token, const char *q,
                        const char *product, const char *extra, int expect)
{
    char body[512];
    if (product)
        snprintf(body, sizeof(body), "{\"quote_id\": \"%s\", \"product_id\": \"%s\"%s%s}", q,
                 product, extra ? ", " : "", extra ? extra : "");
    else
        snprintf(body, sizeof(body), "{\"quote_id\": \"%s\"%s%s}", q, extra ? ", " : "",
                 extra ? extra : "");
    return call_as(t, token, "POST", "/api/v1/records/quote_line", body, expect);
}

static void product(struct rp_test_app *t, const char *sku, const char *name, const char *price,
                    const char *ceiling, char *id)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"sku\": \"%s\", \"name\": \"%s\", \"list_price\": \"%s\"%s%s}",
             sku, name, price, ceiling ? ", \"discount_ceiling\": " : "", ceiling ? ceiling : "");
    rp_test_create(t, "product", body, id);
}

static void entry(struct rp_test_app *t, const char *book, const char *prod, const char *price,
                  const char *extra)
{
    char body[512], id[40];
    snprintf(body, sizeof(body),
             "{\"price_book_id\": \"%s\", \"product_id\": \"%s\", \"unit_price\": \"%s\"%s%s}",
             book, prod, price, extra ? ", " : "", extra ? extra : "");
    rp_test_create(t, "price_book_entry", body, id);
}

static void test_price_book_pricing(void **state)
{
    struct rp_test_app *t = *state;
    char a[40], b[40], book[40], std[40], q[40], q2[40], body[256];
    json_t *l;

    product(t, "A-1", "Analytics", "100", "20", a);
    product(t, "B-1", "Backup", "50", NULL, b);
    rp_test_create(t, "price_book", "{\"name\": \"Partner\"}", book);
    rp_test_create(t, "price_book", "{\"name\": \"Standard\", \"is_standard\": true}", std);
    entry(t, book, a, "80", NULL);
    entry(t, book, a, "70", "\"min_quantity\": 10");
    entry(t, book, a, "1", "\"active\": false");
    entry(t, std, a, "90", NULL);
    snprintf(body, sizeof(body), "{\"name\": \"Partner deal\", \"price_book_id\": \"%s\"}", book);
    rp_test_create(t, "quote", body, q);

    /* the entry of the quote's book, not the inactive one */
    l = add_line(t, NULL, q, a, "\"quantity\": 2", 201);
    assert_true(num(l, "list_price") == 80);
    assert_true(num(l, "unit_price") == 80);
    assert_true(num(l, "line_total") == 160);
    json_decref(l);
    /* the volume tier from 10 */
    l = add_line(t, NULL, q, a, "\"quantity\": 10", 201);
    assert_true(num(l, "list_price") == 70);
    assert_true(num(l, "line_total") == 700);
    /* dropping below the tier reprices: the unit price followed the list price */
    json_decref(patch(t, NULL, "quote_line", str(l, "id"), "{\"quantity\": 9}", 200));
    json_decref(l);
    /* no entry: the product's list price */
    l = add_line(t, NULL, q, b, "\"quantity\": 3", 201);
    assert_true(num(l, "list_price") == 50);
    assert_true(num(l, "line_total") == 150);
    json_decref(l);
    l = get(t, "quote", q);
    assert_true(num(l, "subtotal") == 160 + 9 * 80 + 150);
    assert_true(num(l, "total") == 160 + 9 * 80 + 150);
    assert_non_null(str(l, "quote_number"));
    assert_int_equal(strncmp(str(l, "quote_number"), "Q-20261122-", 11), 0);
    json_decref(l);

    /* without a price book: the standard one */
    rp_test_create(t, "quote", "{\"name\": \"List deal\"}", q2);
    l = add_line(t, NULL, q2, a, NULL, 201);
    assert_true(num(l, "list_price") == 90);
    assert_true(num(l, "quantity") == 1);
    json_decref(l);
    /* an own unit price stays when the quantity changes */
    l = add_line(t, NULL, q2, b, "\"unit_price\": 45", 201);
    assert_true(num(l, "list_price") == 50);
    assert_true(num(l, "unit_price") == 45);
    json_decref(patch(t, NULL, "quote_line", str(l, "id"), "{\"quantity\": 2}", 200));
    json_decref(l);
    l = get(t, "quote", q2);
    assert_true(num(l, "subtotal") == 90 + 90);
    json_decref(l);
    /* a line without a product needs a price */
    l = add_line(t, NULL, q2, NULL, "\"description\": \"Travel\"", 422);
    assert_string_equal(str(json_array_get(json_object_get(l, "errors"), 0), "field"),
                        "unit_price");
    json_decref(l);
}

static void test_exact_totals(void **state)
{
    struct rp_test_app *t = *state;
    char c[40], q[40];
    json_t *l, *j;

    product(t, "C-1", "Consulting hour", "33.33", "50", c);
    rp_test_create(t, "quote", "{\"name\": \"Awkward\", \"tax_percent\": 13}", q);
    /* 3 × 33.33 × 0.875 = 87.49125 → 87.49 */
    l = add_line(t, NULL, q, c, "\"quantity\": 3, \"discount_percent\": 12.5", 201);
    assert_true(num(l, "line_total") == 87.49);
    json_decref(l);
    /* half a cent rounds up */
    l = add_line(t, NULL, q, NULL, "\"description\": \"Rounding\", \"unit_price\": 0.005", 201);
    assert_true(num(l, "line_total") == 0.01);
    json_decref(l);
    j = get(t, "quote", q);
    assert_true(num(j, "subtotal") == 87.5);
    assert_true(num(j, "tax_amount") == 11.38); /* 87.50 × 13% = 11.375 → 11.38 */
    assert_true(num(j, "total") == 98.88);
    json_decref(j);
    /* a 10% quote discount: 8.75 off, 78.75 × 13% = 10.2375 → 10.24, total 88.99 */
    j = patch(t, NULL, "quote", q, "{\"discount_percent\": 10}", 200);
    assert_true(num(j, "discount_amount") == 8.75);
    assert_true(num(j, "tax_amount") == 10.24);
    assert_true(num(j, "total") == 88.99);
    /* list amounts 99.99 + 0.01: the net 78.75 is 21.25% below */
    assert_true(num(j, "effective_discount_percent") == 21.25);
    json_decref(j);
    /* computed fields cannot be set by hand */
    j = patch(t, NULL, "quote", q, "{\"total\": 1, \"subtotal\": 2}", 200);
    assert_true(num(j, "total") == 88.99);
    assert_true(num(j, "subtotal") == 87.5);
    json_decref(j);
    /* more than 4 decimals of quantity are refused */
    json_decref(add_line(t, NULL, q, c, "\"quantity\": 1.00001", 422));
    /* an amount past 10^12 is refused rather than overflowing */
    json_decref(
        add_line(t, NULL, q, NULL, "\"unit_price\": 99999999, \"quantity\": 100000000", 422));
    j = get(t, "quote", q);
    assert_true(num(j, "total") == 88.99);
    json_decref(j);
}

static void test_yen(void **state)
{
    struct rp_test_app *t = *state;
    char y[40], c[40], q[40];
    json_t *l, *j;

    rp_test_create(t, "product",
                   "{\"sku\": \"JP-1\", \"name\": \"Tokyo seat\", \"list_price\": 999,"
                   " \"currency\": \"jpy\"}",
                   y);
    product(t, "CN-1", "Beijing seat", "100", NULL, c);
    rp_test_create(t, "quote", "{\"name\": \"Yen\", \"currency\": \"jpy\", \"tax_percent\": 10}",
                   q);
    /* 999 × 0.875 = 874.125: whole yen */
    l = add_line(t, NULL, q, y, "\"discount_percent\": 12.5", 201);
    assert_true(num(l, "line_total") == 874);
    json_decref(l);
    /* 3 × 999 less 33.3333% = 1998.0002 → 1998 */
    l = add_line(t, NULL, q, y, "\"quantity\": 3, \"discount_percent\": 33.3333", 201);
    assert_true(num(l, "line_total") == 1998);
    json_decref(l);
    j = get(t, "quote", q);
    assert_true(num(j, "subtotal") == 2872);
    assert_true(num(j, "tax_amount") == 287); /* 287.2 */
    assert_true(num(j, "total") == 3159);
    json_decref(j);
    /* a product priced only in yuan has no price on a yen quote */
    l = add_line(t, NULL, q, c, NULL, 422);
    assert_string_equal(str(json_array_get(json_object_get(l, "errors"), 0), "code"), "no_price");
    json_decref(l);
}

static void test_ceiling(void **state)
{
    struct rp_test_app *t = *state;
    char a[40], q[40];
    json_t *l, *e, *ok;

    product(t, "A-2", "Appliance", "100", "20", a);
    rp_test_create(t, "quote", "{\"name\": \"Ceiling\"}", q);
    l = add_line(t, NULL, q, a, "\"discount_percent\": 25", 422);
    e = json_array_get(json_object_get(l, "errors"), 0);
    assert_string_equal(str(e, "field"), "discount_percent");
    assert_string_equal(str(e, "code"), "discount_ceiling");
    assert_non_null(strstr(str(e, "message"), "ceiling of 20%"));
    json_decref(l);
    /* a unit price 30% below list is a discount too */
    l = add_line(t, NULL, q, a, "\"unit_price\": 70", 422);
    assert_string_equal(str(json_array_get(json_object_get(l, "errors"), 0), "field"),
                        "unit_price");
    json_decref(l);
    /* exactly the ceiling is allowed */
    json_decref(add_line(t, NULL, q, a, "\"discount_percent\": 20", 201));
    ok = get(t, "quote", q);
    assert_true(num(ok, "subtotal") == 80);
    json_decref(ok);
    /* the quote's discount on top would take the line past its ceiling */
    l = patch(t, NULL, "quote", q, "{\"discount_percent\": 5}", 422);
    e = json_array_get(json_object_get(l, "errors"), 0);
    assert_string_equal(str(e, "field"), "discount_percent");
    assert_non_null(strstr(str(e, "message"), "A-2"));
    json_decref(l);
    ok = get(t, "quote", q);
    assert_true(num(ok, "discount_percent") == 0);
    json_decref(ok);
}

static void test_delete_restore(void **state)
{
    struct rp_test_app *t = *state;
    char a[40], q[40], target[160];
    json_t *l1, *l2, *j;

    product(t, "A-3", "Agent", "10.10", NULL, a);
    rp_test_create(t, "quote", "{\"name\": \"Lines\", \"tax_percent\": 6}", q);
    l1 = add_line(t, NULL, q, a, "\"quantity\": 3", 201);
    l2 = add_line(t, NULL, q, a, "\"quantity\": 1", 201);
    j = get(t, "quote", q);
    assert_true(num(j, "subtotal") == 40.4);
    assert_true(num(j, "tax_amount") == 2.42); /* 2.424 */
    json_decref(j);
    snprintf(target, sizeof(target), "/api/v1/records/quote_line/%s", str(l1, "id"));
    json_decref(call(t, "DELETE", target, NULL, 200));
    j = get(t, "quote", q);
    assert_true(num(j, "subtotal") == 10.1);
    assert_true(num(j, "tax_amount") == 0.61); /* 0.606 */
    assert_true(num(j, "total") == 10.71);
    json_decref(j);
    snprintf(target, sizeof(target), "/api/v1/records/quote_line/%s/restore", str(l1, "id"));
    json_decref(call(t, "POST", target, NULL, 200));
    j = get(t, "quote", q);
    assert_true(num(j, "subtotal") == 40.4);
    assert_true(num(j, "total") == 42.82);
    json_decref(j);
    /* moving a line to another quote moves its amount */
    {
        char q2[40], body[128];
        rp_test_create(t, "quote", "{\"name\": \"Other\"}", q2);
        snprintf(body, sizeof(body), "{\"quote_id\": \"%s\"}", q2);
        json_decref(patch(t, NULL, "quote_line", str(l2, "id"), body, 200));
        j = get(t, "quote", q);
        assert_true(num(j, "subtotal") == 30.3);
        json_decref(j);
        j = get(t, "quote", q2);
        assert_true(num(j, "subtotal") == 10.1);
        json_decref(j);
    }
    json_decref(l1);
    json_decref(l2);
}

/* ---- the approval matrix ---- */

struct people {
    char rep[128], manager[128], director[128], cfo[128];
};

static void login(struct rp_test_app *t, const char *user, const char *role, char *token)
{
    char body[256];
    json_t *j;

    snprintf(body, sizeof(body),
             "{\"username\": \"%s\", \"password\": \"%s-password\", \"role\":"
             " \"%s\"}",
             user, user, role);
    json_decref(call(t, "POST", "/api/v1/admin/users", body, 201));
    snprintf(body, sizeof(body), "{\"username\": \"%s\", \"password\": \"%s-password\"}", user,
             user);
    j = call_as(t, "", "POST", "/api/v1/auth/login", body, 200);
    snprintf(token, 128, "%s", str(j, "token"));
    json_decref(j);
}

/* The matrix of docs/api.md ("Quotes"): four processes chosen by order and criteria. */
static void matrix(struct rp_test_app *t, struct people *u)
{
    static const char *const outcome =
        "\"on_submit\": {\"status\": \"pending_approval\"}, \"on_approve\": {\"status\":"
        " \"approved\"}, \"on_reject\": {\"status\": \"rejected\"}, \"on_recall\": {\"status\":"
        " \"draft\"}, \"guards\": [{\"condition\": \"total > 0\", \"message\": \"add lines first\"},"
        " {\"condition\": \"status = 'draft' or status = 'rejected'\", \"message\": \"re-open\"}]";
    char body[1024];

    json_decref(call(t, "PUT", "/api/v1/admin/roles/cfo", "{\"label\": \"CFO\"}", 201));
    json_decref(call(t, "PUT", "/api/v1/admin/roles/director",
                     "{\"label\": \"Sales director\", \"parent\": \"cfo\"}", 201));
    json_decref(call(t, "PUT", "/api/v1/admin/roles/sales_manager",
                     "{\"label\": \"Sales manager\", \"parent\": \"director\"}", 201));
    json_decref(call(t, "PUT", "/api/v1/admin/roles/sales_rep",
                     "{\"label\": \"Sales rep\", \"parent\": \"sales_manager\"}", 201));
    login(t, "rita", "sales_rep", u->rep);
    login(t, "mark", "sales_manager", u->manager);
    login(t, "dora", "director", u->director);
    login(t, "carl", "cfo", u->cfo);
    snprintf(body, sizeof(body),
             "{\"object\": \"quote\", \"order\": 10, \"criteria\": \"effective_discount_percent"
             " <= 10\", \"steps\": [], %s}",
             outcome);
    json_decref(call(t, "PUT", "/api/v1/approvals/processes/quote_discount_10", body, 201));
    snprintf(body, sizeof(body),
             "{\"object\": \"quote\", \"order\": 20, \"criteria\": \"effective_discount_percent"
             " <= 20\", \"steps\": [{\"approver\": {\"type\": \"manager\"}}], %s}",
             outcome);
    json_decref(call(t, "PUT", "/api/v1/approvals/processes/quote_discount_20", body, 201));
    snprintf(body, sizeof(body),
             "{\"object\": \"quote\", \"order\": 30, \"criteria\": \"effective_discount_percent"
             " <= 30\", \"steps\": [{\"approver\": {\"type\": \"manager\"}}, {\"approver\":"
             " {\"type\": \"role\", \"role\": \"director\"}}], %s}",
             outcome);
    json_decref(call(t, "PUT", "/api/v1/approvals/processes/quote_discount_30", body, 201));
    snprintf(body, sizeof(body),
             "{\"object\": \"quote\", \"order\": 40, \"steps\": [{\"approver\": {\"type\":"
             " \"manager\"}}, {\"approver\": {\"type\": \"role\", \"role\": \"director\"}},"
             " {\"approver\": {\"type\": \"role\", \"role\": \"cfo\"}}], %s}",
             outcome);
    json_decref(call(t, "PUT", "/api/v1/approvals/processes/quote_discount_cfo", body, 201));
}

/* The rep's quote with one line at discount pct; its id into q. */
static void rep_quote(struct rp_test_app *t, struct people *u, const char *prod, const char *pct,
                      char *q)
{
    char extra[64];
    json_t *j = call_as(t, u->rep, "POST", "/api/v1/records/quote", "{\"name\": \"Band\"}", 201);
    json_t *l;

    snprintf(q, 40, "%s", str(j, "id"));
    json_decref(j);
    snprintf(extra, sizeof(extra), "\"quantity\": 4, \"discount_percent\": %s", pct);
    l = add_line(t, u->rep, q, prod, extra, 201);
    json_decref(l);
}

static json_t *act(struct rp_test_app *t, const char *token, const char *q, const char *action,
                   int expect)
{
    char target[160];
    snprintf(target, sizeof(target), "/api/v1/records/quote/%s/approval/%s", q, action);
    return call_as(t, token, "POST", target, NULL, expect);
}

static void expect_state(json_t *j, const char *state, int step)
{
    assert_string_equal(str(j, "state"), state);
    assert_int_equal((int)num(j, "step"), step);
    json_decref(j);
}

static void expect_status(struct rp_test_app *t, const char *q, const char *status)
{
    json_t *j = get(t, "quote", q);
    assert_string_equal(str(j, "status"), status);
    json_decref(j);
}

static void test_approval_bands(void **state)
{
    struct rp_test_app *t = *state;
    struct people u;
    char p[40], q[40], target[160];
    json_t *j, *l;

    matrix(t, &u);
    product(t, "P-1", "Platform", "1000", "50", p);

    /* ≤ 10%: approved at submission, nobody asked */
    rep_quote(t, &u, p, "10", q);
    j = get(t, "quote", q);
    assert_true(num(j, "effective_discount_percent") == 10);
    json_decref(j);
    j = act(t, u.rep, q, "submit", 200);
    assert_string_equal(str(j, "process"), "quote_discount_10");
    expect_state(j, "approved", 0);
    expect_status(t, q, "approved");
    /* approved: pricing is read-only, for the rep and the administrator alike */
    snprintf(target, sizeof(target), "/api/v1/records/quote_line?filter=quote_id%%20%%3D%%20'%s'",
             q);
    j = call(t, "GET", target, NULL, 200);
    l = json_incref(json_array_get(json_object_get(j, "data"), 0));
    json_decref(j);
    json_decref(patch(t, u.rep, "quote_line", str(l, "id"), "{\"quantity\": 5}", 409));
    json_decref(patch(t, NULL, "quote_line", str(l, "id"), "{\"quantity\": 5}", 409));
    json_decref(patch(t, u.rep, "quote", q, "{\"discount_percent\": 1}", 409));
    json_decref(add_line(t, u.rep, q, p, NULL, 409));
    /* the rep cannot approve by hand, nor send what is not approved */
    json_decref(patch(t, u.rep, "quote", q, "{\"status\": \"sent\"}", 200));
    json_decref(patch(t, u.rep, "quote", q, "{\"status\": \"approved\"}", 422));
    /* re-opened (status draft), the quote takes changes and must be approved again */
    json_decref(patch(t, u.rep, "quote", q, "{\"status\": \"draft\"}", 200));
    json_decref(patch(t, u.rep, "quote_line", str(l, "id"), "{\"discount_percent\": 15}", 200));
    json_decref(l);
    j = get(t, "quote", q);
    assert_true(num(j, "effective_discount_percent") == 15);
    json_decref(j);
    json_decref(patch(t, u.rep, "quote", q, "{\"status\": \"sent\"}", 409));

    /* ≤ 20%: the rep's manager */
    j = act(t, u.rep, q, "submit", 200);
    assert_string_equal(str(j, "process"), "quote_discount_20");
    expect_state(j, "pending", 0);
    expect_status(t, q, "pending_approval");
    json_decref(act(t, u.director, q, "approve", 403));
    json_decref(act(t, u.rep, q, "approve", 403));
    expect_state(act(t, u.manager, q, "approve", 200), "approved", 0);
    expect_status(t, q, "approved");
    /* an approved quote is not submitted again before it is re-opened */
    json_decref(act(t, u.rep, q, "submit", 422));

    /* ≤ 30%: the manager, then a director */
    rep_quote(t, &u, p, "25", q);
    j = act(t, u.rep, q, "submit", 200);
    assert_string_equal(str(j, "process"), "quote_discount_30");
    expect_state(j, "pending", 0);
    json_decref(act(t, u.director, q, "approve", 403));
    expect_state(act(t, u.manager, q, "approve", 200), "pending", 1);
    json_decref(act(t, u.cfo, q, "approve", 403));
    json_decref(act(t, u.manager, q, "approve", 403));
    expect_state(act(t, u.director, q, "approve", 200), "approved", 1);
    expect_status(t, q, "approved");

    /* > 30%: the manager, a director, then the CFO; a rejection on the way */
    rep_quote(t, &u, p, "35", q);
    j = act(t, u.rep, q, "submit", 200);
    assert_string_equal(str(j, "process"), "quote_discount_cfo");
    json_decref(j);
    expect_state(act(t, u.manager, q, "approve", 200), "pending", 1);
    expect_state(act(t, u.director, q, "approve", 200), "pending", 2);
    json_decref(act(t, u.director, q, "approve", 403));
    json_decref(act(t, u.manager, q, "approve", 403));
    expect_state(act(t, u.cfo, q, "approve", 200), "approved", 2);
    expect_status(t, q, "approved");

    rep_quote(t, &u, p, "40", q);
    json_decref(act(t, u.rep, q, "submit", 200));
    expect_state(act(t, u.manager, q, "reject", 200), "rejected", 0);
    expect_status(t, q, "rejected");

    /* a quote without lines is stopped by the guard */
    j = call_as(t, u.rep, "POST", "/api/v1/records/quote", "{\"name\": \"Empty\"}", 201);
    json_decref(act(t, u.rep, str(j, "id"), "submit", 422));
    json_decref(j);
}

/* ---- PDF ---- */

static void test_pdf(void **state)
{
    struct rp_test_app *t = *state;
    struct rp_principal admin = t->app->system;
    char acc[40], p1[40], p2[40], q[40], body[1024], target[160], other[128];
    struct rp_arena a;
    struct rp_buf b1, b2;
    struct rp_error err;
    json_t *j, *j2;
    const char *number;
    char *out = NULL;

    rp_test_create(t, "account", "{\"name\": \"杭州西湖龙井茶业有限公司\"}", acc);
    product(t, "TEA-1", "龙井茶叶礼盒 (特级)", "1288", NULL, p1);
    product(t, "SVC-1", "Implementation service", "33.33", "30", p2);
    snprintf(body, sizeof(body),
             "{\"name\": \"年度订阅报价 Annual subscription\", \"account_id\": \"%s\","
             " \"valid_until\": \"2026-12-31\", \"tax_percent\": 13, \"terms\": \"付款方式："
             "合同签订后30日内付清。\\nPayment within 30 days of signature. Prices in CNY,"
             " including VAT where stated. 本报价单自签发之日起有效，逾期作废。😀\"}",
             acc);
    rp_test_create(t, "quote", body, q);
    json_decref(add_line(t, NULL, q, p1, "\"quantity\": 12", 201));
    json_decref(add_line(t, NULL, q, p2, "\"quantity\": 3, \"discount_percent\": 12.5", 201));
    j = get(t, "quote", q);
    number = str(j, "quote_number");

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rp_buf_init(&b1, &a, 8 << 20);
    rp_buf_init(&b2, &a, 8 << 20);
    assert_int_equal(rp_sales_quote_pdf(t->app->sales, &admin, q, &a, &b1, &err), 0);
    assert_true(b1.len > 1000);
    assert_memory_equal(b1.data, "%PDF-", 5);
    assert_non_null(memmem(b1.data, b1.len, number, strlen(number)));
    assert_non_null(memmem(b1.data, b1.len, "GBK-EUC-H", 9));
    assert_non_null(memmem(b1.data, b1.len, "%%EOF", 5));
    if (getenv("RP_QUOTE_PDF_OUT")) { /* to look at it: RP_QUOTE_PDF_OUT=/tmp/q.pdf */
        FILE *fp = fopen(getenv("RP_QUOTE_PDF_OUT"), "wb");
        assert_non_null(fp);
        assert_int_equal(fwrite(b1.data, 1, b1.len, fp), b1.len);
        fclose(fp);
    }
    /* the same data a day later: the same bytes */
    rp_clock_advance(&t->app->clock, DAY_MS);
    assert_int_equal(rp_sales_quote_pdf(t->app->sales, &admin, q, &a, &b2, &err), 0);
    assert_int_equal(b1.len, b2.len);
    assert_memory_equal(b1.data, b2.data, b1.len);
    /* changed data, other bytes */
    json_decref(patch(t, NULL, "quote", q, "{\"discount_percent\": 5}", 200));
    rp_buf_reset(&b2);
    assert_int_equal(rp_sales_quote_pdf(t->app->sales, &admin, q, &a, &b2, &err), 0);
    assert_true(b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0);
    /* a missing quote */
    assert_int_equal(rp_sales_quote_pdf(t->app->sales, &admin,
                                        "0190d5a8-0000-7000-8000-000000000000", &a, &b2, &err),
                     RP_ENOTFOUND);

    /* many lines flow onto more pages, still the same bytes twice */
    {
        char q2[40], *ops = malloc(64 * 1024);
        size_t n = 0;
        rp_test_create(t, "quote", "{\"name\": \"长报价单 Long quote\"}", q2);
        n += (size_t)snprintf(ops + n, 64 * 1024 - n, "{\"atomic\": true, \"operations\": [");
        for (int i = 0; i < 90; i++)
            n += (size_t)snprintf(ops + n, 64 * 1024 - n,
                                  "%s{\"op\": \"create\", \"data\": {\"quote_id\": \"%s\","
                                  " \"product_id\": \"%s\", \"quantity\": %d,"
                                  " \"sort_order\": %d}}",
                                  i ? "," : "", q2, i % 2 ? p1 : p2, i + 1, i);
        snprintf(ops + n, 64 * 1024 - n, "]}");
        json_decref(call(t, "POST", "/api/v1/records/quote_line/batch", ops, 200));
        free(ops);
        j2 = get(t, "quote", q2);
        /* 45 × 1288 × (2 + 4 + ... + 90) + 45 × 33.33 × (1 + 3 + ... + 89) */
        assert_true(num(j2, "subtotal") == 1288.0 * 2070 + 33.33 * 2025);
        json_decref(j2);
        rp_buf_reset(&b1);
        rp_buf_reset(&b2);
        assert_int_equal(rp_sales_quote_pdf(t->app->sales, &admin, q2, &a, &b1, &err), 0);
        assert_int_equal(rp_sales_quote_pdf(t->app->sales, &admin, q2, &a, &b2, &err), 0);
        assert_non_null(memmem(b1.data, b1.len, "/Count 3", 8));
        assert_int_equal(b1.len, b2.len);
        assert_memory_equal(b1.data, b2.data, b1.len);
    }
    rp_arena_release(&a);

    /* through the API; someone who cannot read the quote gets 404 */
    snprintf(target, sizeof(target), "/api/v1/records/quote/%s/pdf", q);
    assert_int_equal(rp_test_request(t, "GET", target, NULL, &out), 200);
    assert_memory_equal(out, "%PDF-", 5);
    free(out);
    out = NULL;
    json_decref(call(t, "PUT", "/api/v1/admin/roles/clerk", "{\"label\": \"Clerk\"}", 201));
    login(t, "olga", "clerk", other);
    assert_int_equal(rp_test_request_as(t, other, "GET", target, NULL, &out), 404);
    free(out);
    json_decref(j);
}

/* ---- expiry ---- */

static void test_expiry(void **state)
{
    struct rp_test_app *t = *state;
    char past[40], today[40], rejected[40], signed_q[40], sent[40];
    struct rp_error err;
    size_t ran = 0;

    /* the fixture's clock: 2026-11-22 */
    rp_test_create(t, "quote", "{\"name\": \"Past\", \"valid_until\": \"2026-11-21\"}", past);
    rp_test_create(t, "quote", "{\"name\": \"Today\", \"valid_until\": \"2026-11-22\"}", today);
    rp_test_create(t, "quote",
                   "{\"name\": \"Rejected\", \"valid_until\": \"2026-11-01\", \"status\":"
                   " \"rejected\"}",
                   rejected);
    rp_test_create(
        t, "quote",
        "{\"name\": \"Signed\", \"valid_until\": \"2026-11-01\", \"status\": \"signed\"}",
        signed_q);
    rp_test_create(t, "quote",
                   "{\"name\": \"Sent\", \"valid_until\": \"2026-11-20\", \"status\": \"sent\"}",
                   sent);

    rp_error_init(&err, NULL);
    assert_int_equal(rp_sales_quote_expiry_queue(t->app->sales, &err), 0);
    assert_int_equal(rp_sales_quote_expiry_queue(t->app->sales, &err), 0); /* same day: once */
    assert_int_equal(rp_jobs_run_due(t->app->jobs, 10, &ran, &err), 0);
    assert_int_equal(ran, 1);
    expect_status(t, past, "expired");
    expect_status(t, sent, "expired");
    expect_status(t, today, "draft");
    expect_status(t, rejected, "rejected");
    expect_status(t, signed_q, "signed");

    /* the next day the job runs again and "today" has passed */
    rp_clock_advance(&t->app->clock, DAY_MS);
    assert_int_equal(rp_sales_quote_expiry_queue(t->app->sales, &err), 0);
    assert_int_equal(rp_jobs_run_due(t->app->jobs, 10, &ran, &err), 0);
    assert_int_equal(ran, 1);
    expect_status(t, today, "expired");
    {
        char target[200];
        json_t *j;
        char *text;
        snprintf(target, sizeof(target), "/api/v1/changes?objects=event&limit=100");
        j = call(t, "GET", target, NULL, 200);
        text = json_dumps(j, 0);
        assert_non_null(strstr(text, "quote.expired"));
        free(text);
        json_decref(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_price_book_pricing, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_exact_totals, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_yen, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_ceiling, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_delete_restore, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_approval_bands, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_pdf, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_expiry, rp_test_app_setup, rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
