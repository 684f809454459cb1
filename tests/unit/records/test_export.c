/*
 * CSV export and the audit log: exact CSV bytes (quoting, formula neutralisation, Chinese
 * text, money, dates, multi-picklists, labels, BOM), truncation at the row cap and the size
 * cap, reads across many pages, the hourly limit (429, Retry-After, export.anomaly) and the
 * admin-only audit route.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>

#include "base/limits.h"
#include "test_app.h"

struct response {
    int status;
    char *body;
    size_t body_len;
    char *retry_after; /* NULL when absent */
    char *rows;        /* X-Export-Rows */
    char *truncated;   /* X-Export-Truncated */
};

static char *dup_or_null(const char *s)
{
    return s ? rp_xstrdup(s) : NULL;
}

static void response_free(struct response *r)
{
    free(r->body);
    free(r->retry_after);
    free(r->rows);
    free(r->truncated);
    memset(r, 0, sizeof(*r));
}

/* One request with the given bearer token. */
static void request_as(struct rp_test_app *t, const char *token, const char *method,
                       const char *target, const char *body, struct response *out)
{
    char auth[160];
    struct rp_http_pair h[2] = {{"Authorization", auth}, {"Content-Type", "application/json"}};
    struct rp_http_dispatch in = {method, target, h, body ? 2 : 1, body, body ? strlen(body) : 0};
    struct rp_http_result res;

    snprintf(auth, sizeof(auth), "Bearer %s", token);
    assert_int_equal(rp_http_dispatch(t->app->router, &in, &res), 0);
    out->status = res.status;
    out->body = rp_xstrndup(res.body, res.body_len);
    out->body_len = res.body_len;
    out->retry_after = dup_or_null(rp_http_result_header(&res, "Retry-After"));
    out->rows = dup_or_null(rp_http_result_header(&res, "X-Export-Rows"));
    out->truncated = dup_or_null(rp_http_result_header(&res, "X-Export-Truncated"));
    rp_http_dispatch_release(&res);
}

struct setting_write {
    const char *key;
    const char *value; /* NULL removes the setting */
};

static int setting_unit(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct setting_write *sw = ctx;
    struct rp_arena a;
    struct rp_sql q;
    int rc;

    rp_arena_init(&a);
    rp_sql_init(&q, &a, RP_SQL_SQLITE);
    if (sw->value) {
        const struct rp_value v[] = {rp_value_cstr(sw->key), rp_value_cstr(sw->value)};
        rp_sql_add(&q, "INSERT INTO rp_setting(key, value) VALUES ");
        rp_sql_param_list(&q, v, 2);
        rp_sql_add(&q, " ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    } else {
        rp_sql_add(&q, "DELETE FROM rp_setting WHERE key = ");
        rp_sql_param(&q, rp_value_cstr(sw->key));
    }
    rc = rp_store_exec(c, &q, NULL, err);
    rp_arena_release(&a);
    return rc;
}

static void set_export_limit(struct rp_test_app *t, const char *value)
{
    struct setting_write sw = {"export.max_rows_per_hour", value};
    struct rp_error err;
    rp_error_init(&err, NULL);
    assert_int_equal(rp_store_write(t->app->store, setting_unit, &sw, &err), 0);
}

/* The newest audit entry with one of actions, as JSON (caller decrefs). */
static json_t *last_audit(struct rp_test_app *t, const char *actions)
{
    char target[256], *body = NULL;
    json_t *j, *e;

    snprintf(target, sizeof(target), "/api/v1/audit?limit=1&action=%s", actions);
    assert_int_equal(rp_test_request(t, "GET", target, NULL, &body), 200);
    j = json_loads(body, 0, NULL);
    free(body);
    assert_non_null(j);
    e = json_incref(json_array_get(json_object_get(j, "data"), 0));
    json_decref(j);
    assert_non_null(e);
    return e;
}

static int64_t changes_int(const json_t *entry, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(entry, "changes"), key));
}

/* ---- CSV content ---- */

static void test_csv_cells(void **state)
{
    struct rp_test_app *t = *state;
    struct response r = {0};
    char a1[40], a2[40], a3[40], want[4096];

    assert_int_equal(
        rp_test_request(
            t, "POST", "/api/v1/meta/objects/account/fields",
            "{\"name\": \"tags\", \"type\": \"multi_picklist\", \"label\": {\"en\": \"Tags\", \"zh\": \"标签\"}, \"values\": [{\"value\": \"strategic\"}, {\"value\": \"at_risk\"}, {\"value\": \"reference\"}]}",
            NULL),
        201);
    assert_int_equal(rp_test_request(t, "POST", "/api/v1/meta/objects/account/fields",
                                     "{\"name\": \"adjustment\", \"type\": \"money\"}", NULL),
                     201);
    rp_test_create(
        t, "account",
        "{\"name\": \"A1 Acme, Inc.\", \"description\": \"He said \\\"hi\\\"\\nsecond line\", "
        "\"legal_representative\": \"=1+1\", \"city\": \"上海\", \"phone\": \"+86 21 5555 0000\", "
        "\"annual_revenue\": \"12345678901234.5678\", \"adjustment\": \"-0.5\", "
        "\"customer_since\": \"2024-02-29\", \"employees\": 1.5, "
        "\"tags\": [\"at_risk\", \"strategic\"]}",
        a1);
    rp_test_create(t, "account",
                   "{\"name\": \"A2 @SUM(A1:A9)\", \"description\": \"-2+3\", "
                   "\"legal_representative\": \"\\tTab\", \"city\": \"\\r\\nCR\", "
                   "\"adjustment\": \"-12\", \"annual_revenue\": \"0.1\", \"tags\": []}",
                   a2);
    rp_test_create(
        t, "account",
        "{\"name\": \"A3 =HYPERLINK(\\\"http://x\\\",\\\"y\\\")\", \"description\": \"张浩然，你好\"}",
        a3);

    request_as(t, t->token, "GET",
               "/api/v1/records/account/export?format=csv&sort=name&fields=name,description,"
               "legal_representative,city,phone,annual_revenue,adjustment,"
               "customer_since,employees,tags",
               NULL, &r);
    assert_int_equal(r.status, 200);
    snprintf(
        want, sizeof(want),
        "id,name,description,legal_representative,city,phone,annual_revenue,"
        "adjustment,customer_since,employees,tags\r\n"
        "%s,\"A1 Acme, Inc.\",\"He said \"\"hi\"\"\nsecond line\",'=1+1,上海,'+86 21 5555 0000,"
        "12345678901234.5678,-0.5,2024-02-29,1.5,strategic;at_risk\r\n"
        "%s,A2 @SUM(A1:A9),'-2+3,'\tTab,\"'\r\nCR\",,0.1,-12,,,\r\n"
        "%s,\"A3 =HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",张浩然，你好,,,,,,,,\r\n",
        a1, a2, a3);
    assert_string_equal(r.body, want);
    assert_string_equal(r.rows, "3");
    assert_string_equal(r.truncated, "false");
    response_free(&r);

    /* The filter picks one row; a negative-looking text is still neutralised. */
    request_as(
        t, t->token, "GET",
        "/api/v1/records/account/export?sort=name&fields=description&filter=name%20%3D%20%27A2%20%40SUM(A1%3AA9)%27",
        NULL, &r);
    assert_int_equal(r.status, 200);
    snprintf(want, sizeof(want), "id,description\r\n%s,'-2+3\r\n", a2);
    assert_string_equal(r.body, want);
    response_free(&r);
}

static void test_csv_labels_bom_and_types(void **state)
{
    struct rp_test_app *t = *state;
    struct response r = {0};
    char c1[40], want[2048];

    rp_test_create(
        t, "contact",
        "{\"last_name\": \"王\", \"first_name\": \"小明\", \"birthdate\": \"1960-05-04\", "
        "\"last_contacted_at\": \"2026-11-22T16:30:15.250+08:00\", \"do_not_email\": true}",
        c1);
    request_as(t, t->token, "GET",
               "/api/v1/records/contact/export?label=zh&bom=true&fields=last_name,first_name,"
               "birthdate,last_contacted_at,do_not_email,do_not_call,version",
               NULL, &r);
    assert_int_equal(r.status, 200);
    snprintf(want, sizeof(want),
             "\xEF\xBB\xBFID,姓,名,生日,最近联系时间,禁止邮件联系,禁止电话联系,版本\r\n"
             "%s,王,小明,1960-05-04,2026-11-22T08:30:15.250Z,true,false,1\r\n",
             c1);
    assert_string_equal(r.body, want);
    response_free(&r);

    request_as(t, t->token, "GET", "/api/v1/records/contact/export?label=en&fields=first_name",
               NULL, &r);
    assert_int_equal(r.status, 200);
    snprintf(want, sizeof(want), "ID,First name\r\n%s,小明\r\n", c1);
    assert_string_equal(r.body, want);
    response_free(&r);

    /* Without fields= every field is a column, in metadata order, id first. */
    request_as(t, t->token, "GET", "/api/v1/records/contact/export", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(
        strncmp(r.body, "id,version,created_at,updated_at,created_by,updated_by,owner_id,",
                strlen("id,version,created_at,updated_at,created_by,updated_by,owner_id,")) == 0);
    snprintf(want, sizeof(want), "\r\n%s,1,2026-11-22T08:00:00Z,2026-11-22T08:00:00Z,%s,%s,%s,", c1,
             t->user_id, t->user_id, t->user_id);
    assert_non_null(strstr(r.body, want));
    response_free(&r);
}

/* ---- truncation ---- */

static int export_direct(struct rp_test_app *t, const char *filter, size_t max_rows,
                         size_t max_bytes, struct rp_buf *out, struct rp_arena *a,
                         struct rp_export_result *res)
{
    struct rp_export_query eq = {
        .filter = filter, .sort = "name", .fields = "name", .max_rows = max_rows};
    struct rp_error err;

    rp_error_init(&err, a);
    rp_buf_init(out, a, max_bytes);
    return rp_records_export_csv(t->app->records, &t->app->system, "account", &eq, a, out, res,
                                 &err);
}

static void test_truncation(void **state)
{
    struct rp_test_app *t = *state;
    struct rp_export_result res;
    struct rp_arena a;
    struct rp_buf out;
    char id[40];
    json_t *e;

    for (int i = 0; i < 5; i++) {
        char json[64];
        snprintf(json, sizeof(json), "{\"name\": \"Row %d\"}", i);
        rp_test_create(t, "account", json, id);
    }
    rp_arena_init(&a);

    /* The row cap: three of five rows, and the audit entry says so. */
    assert_int_equal(export_direct(t, NULL, 3, RP_LIMIT_RESPONSE_BYTES, &out, &a, &res), 0);
    assert_int_equal(res.rows, 3);
    assert_true(res.truncated);
    assert_non_null(strstr(out.data, ",Row 2\r\n"));
    assert_null(strstr(out.data, "Row 3"));
    e = last_audit(t, "export");
    assert_int_equal(changes_int(e, "rows"), 3);
    assert_true(json_is_true(json_object_get(json_object_get(e, "changes"), "truncated")));
    assert_string_equal(json_string_value(json_object_get(e, "actor")), "system");
    json_decref(e);

    /* Exactly as many rows as the cap is not truncated. */
    assert_int_equal(export_direct(t, NULL, 5, RP_LIMIT_RESPONSE_BYTES, &out, &a, &res), 0);
    assert_int_equal(res.rows, 5);
    assert_false(res.truncated);

    /* The size cap: the header (9 bytes) and two rows of 44 fit in 9 + 2 * 44 + 43, a third not. */
    assert_int_equal(export_direct(t, NULL, 0, 9 + 2 * 44 + 43, &out, &a, &res), 0);
    assert_int_equal(res.rows, 2);
    assert_true(res.truncated);
    assert_int_equal(out.len, 9 + 2 * 44);
    assert_int_equal(rp_buf_error(&out), 0);
    assert_true(out.data[out.len - 2] == '\r' && out.data[out.len - 1] == '\n');
    e = last_audit(t, "export");
    assert_int_equal(changes_int(e, "rows"), 2);
    json_decref(e);

    /* A buffer too small for the header is an error, and nothing is audited. */
    assert_int_equal(export_direct(t, NULL, 0, 4, &out, &a, &res), RP_ETOOBIG);
    e = last_audit(t, "export");
    assert_int_equal(changes_int(e, "rows"), 2);
    json_decref(e);
    rp_arena_release(&a);
}

/* ---- many pages ---- */

static void test_many_pages(void **state)
{
    struct rp_test_app *t = *state;
    struct rp_buf batch;
    struct response r = {0};
    const char *tiers[] = {"standard", "silver", "gold", "vip"};
    char *body = NULL, *line, *save = NULL, prev[64] = "";
    size_t nrows = 0, n = 1203;
    json_t *ids = json_object();

    /* Sort keys with many ties, so pages continue on the id tie-breaker. */
    for (size_t done = 0; done < n;) {
        size_t k = n - done > 1000 ? 1000 : n - done;
        rp_buf_init(&batch, NULL, 1 << 24);
        rp_buf_adds(&batch, "{\"operations\": [");
        for (size_t i = 0; i < k; i++)
            rp_buf_addf(&batch,
                        "%s{\"op\": \"create\", \"data\": {\"name\": \"Paged %zu\", \"tier\": "
                        "\"%s\"}}",
                        i ? "," : "", done + i, tiers[(done + i) % 4]);
        rp_buf_adds(&batch, "]}");
        assert_int_equal(
            rp_test_request(t, "POST", "/api/v1/records/account/batch", batch.data, &body), 200);
        free(body);
        rp_buf_release(&batch);
        done += k;
    }
    request_as(t, t->token, "GET", "/api/v1/records/account/export?sort=tier&fields=tier", NULL,
               &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.rows, "1203");
    /* Every record once, sorted by tier. */
    line = strtok_r(r.body, "\r\n", &save);
    assert_string_equal(line, "id,tier");
    while ((line = strtok_r(NULL, "\r\n", &save))) {
        char *comma = strchr(line, ',');
        assert_non_null(comma);
        *comma = '\0';
        assert_null(json_object_get(ids, line));
        json_object_set_new(ids, line, json_true());
        assert_true(strcmp(prev, comma + 1) <= 0);
        snprintf(prev, sizeof(prev), "%s", comma + 1);
        nrows++;
    }
    assert_int_equal(nrows, n);
    response_free(&r);

    /* A search driven by the full-text index reads across pages too. */
    request_as(t, t->token, "GET", "/api/v1/records/account/export?q=Paged&fields=name", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.rows, "1203");
    response_free(&r);
    json_decref(ids);
}

/* ---- the hourly limit ---- */

static void test_hourly_limit(void **state)
{
    struct rp_test_app *t = *state;
    struct response r = {0};
    char id[40], bob[128], bob_id[40];
    json_t *e;

    for (int i = 0; i < 3; i++)
        rp_test_create(t, "account", "{\"name\": \"Limited\"}", id);
    set_export_limit(t, "5");
    rp_test_user(t, "bob", "bob's password", false, bob, sizeof(bob), bob_id);

    request_as(t, t->token, "GET", "/api/v1/records/account/export", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.rows, "3");
    response_free(&r);

    /* 3 + 3 > 5: refused until the first export leaves the window in an hour. */
    request_as(t, t->token, "GET", "/api/v1/records/account/export", NULL, &r);
    assert_int_equal(r.status, 429);
    assert_non_null(strstr(r.body, "\"rate_limited\""));
    assert_non_null(r.retry_after);
    assert_string_equal(r.retry_after, "3600");
    response_free(&r);
    e = last_audit(t, "export.anomaly");
    assert_string_equal(json_string_value(json_object_get(e, "actor")), t->user_id);
    assert_string_equal(json_string_value(json_object_get(e, "object")), "account");
    assert_int_equal(changes_int(e, "rows"), 3);
    assert_int_equal(changes_int(e, "limit"), 5);
    assert_int_equal(changes_int(e, "window_rows"), 3);
    json_decref(e);

    /* Refusals do not count; another user has a window of their own. */
    request_as(t, bob, "GET", "/api/v1/records/account/export", NULL, &r);
    assert_int_equal(r.status, 200);
    response_free(&r);

    /* Half an hour later: half an hour to wait; a smaller export fits now. */
    rp_clock_advance(&t->app->clock, 1800 * 1000);
    request_as(t, t->token, "GET", "/api/v1/records/account/export", NULL, &r);
    assert_int_equal(r.status, 429);
    assert_string_equal(r.retry_after, "1800");
    response_free(&r);
    request_as(t, t->token, "GET", "/api/v1/records/account/export?filter=name%20%3D%20%27none%27",
               NULL, &r);
    assert_int_equal(r.status, 200);
    response_free(&r);
    request_as(t, t->token, "GET", "/api/v1/records/account/export?sort=name&fields=name", NULL,
               &r);
    assert_int_equal(r.status, 429);
    response_free(&r);

    /* 3599.999 s after the first export it is still in the window, then it leaves. */
    rp_clock_advance(&t->app->clock, 1800 * 1000 - 1);
    request_as(t, t->token, "GET", "/api/v1/records/account/export", NULL, &r);
    assert_int_equal(r.status, 429);
    assert_string_equal(r.retry_after, "1");
    response_free(&r);
    rp_clock_advance(&t->app->clock, 1);
    request_as(t, t->token, "GET", "/api/v1/records/account/export", NULL, &r);
    assert_int_equal(r.status, 200);
    response_free(&r);

    /* An export larger than the limit never fits: wait a whole window, and narrow it. */
    set_export_limit(t, "2");
    rp_clock_advance(&t->app->clock, 3600 * 1000);
    request_as(t, t->token, "GET", "/api/v1/records/account/export", NULL, &r);
    assert_int_equal(r.status, 429);
    assert_string_equal(r.retry_after, "3600");
    assert_non_null(strstr(r.body, "narrow the export"));
    response_free(&r);

    /* A limit that is not a number refuses every export rather than allowing all. */
    set_export_limit(t, "lots");
    request_as(t, t->token, "GET", "/api/v1/records/account/export?filter=name%20%3D%20%27none%27",
               NULL, &r);
    assert_int_equal(r.status, 500);
    response_free(&r);

    /* Without the setting there is no limit. */
    set_export_limit(t, NULL);
    request_as(t, t->token, "GET", "/api/v1/records/account/export", NULL, &r);
    assert_int_equal(r.status, 200);
    response_free(&r);
}

/* ---- who may read the audit log ---- */

static void test_audit_admin_only(void **state)
{
    struct rp_test_app *t = *state;
    struct response r = {0};
    char bob[128], bob_id[40], target[128];
    json_t *e;

    rp_test_user(t, "bob", "bob's password", false, bob, sizeof(bob), bob_id);
    request_as(t, bob, "GET", "/api/v1/audit", NULL, &r);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "permission \\\"view_audit\\\" is required"));
    response_free(&r);
    request_as(t, bob, "GET", "/api/v1/audit?action=export", NULL, &r);
    assert_int_equal(r.status, 403);
    response_free(&r);

    /* A user's export is audited under their id, and an admin sees it. */
    request_as(t, bob, "GET", "/api/v1/records/account/export", NULL, &r);
    assert_int_equal(r.status, 200);
    response_free(&r);
    e = last_audit(t, "export");
    assert_string_equal(json_string_value(json_object_get(e, "actor")), bob_id);
    json_decref(e);
    snprintf(target, sizeof(target), "/api/v1/audit?actor=%s", bob_id);
    request_as(t, t->token, "GET", target, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"action\":\"export\""));
    response_free(&r);
}

/* Per-role thresholds: a role that only watches lets the export through and raises the anomaly
 * (audit entry and change event); a role that blocks refuses it. */
static void test_role_thresholds(void **state)
{
    struct rp_test_app *t = *state;
    struct response r = {0};
    char id[40], tok[128], uid[40], target[128], *out = NULL;
    json_t *e;

    for (int i = 0; i < 3; i++)
        rp_test_create(t, "account", "{\"name\": \"Watched\"}", id);
    rp_test_user(t, "carol", "carol's password", false, tok, sizeof(tok), uid);
    assert_int_equal(rp_test_request(t, "PUT", "/api/v1/admin/roles/analyst",
                                     "{\"label\": \"Analyst\", \"export_rows_per_hour\": 2,"
                                     " \"export_block\": false}",
                                     &out),
                     201);
    free(out);
    snprintf(target, sizeof(target), "/api/v1/admin/users/%s", uid);
    assert_int_equal(rp_test_request(t, "PATCH", target, "{\"role\": \"analyst\"}", &out), 200);
    free(out);

    request_as(t, tok, "GET", "/api/v1/records/account/export", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.rows, "3");
    response_free(&r);
    e = last_audit(t, "export.anomaly");
    assert_string_equal(json_string_value(json_object_get(e, "actor")), uid);
    assert_int_equal(changes_int(e, "limit"), 2);
    assert_true(json_is_false(json_object_get(json_object_get(e, "changes"), "blocked")));
    json_decref(e);
    assert_int_equal(rp_test_request(t, "GET", "/api/v1/changes?objects=event", NULL, &out), 200);
    assert_non_null(strstr(out, "\"op\":\"export.anomaly\""));
    free(out);

    /* the role now blocks */
    assert_int_equal(rp_test_request(t, "PUT", "/api/v1/admin/roles/analyst",
                                     "{\"label\": \"Analyst\", \"export_rows_per_hour\": 2,"
                                     " \"export_block\": true}",
                                     &out),
                     200);
    free(out);
    request_as(t, tok, "GET", "/api/v1/records/account/export", NULL, &r);
    assert_int_equal(r.status, 429);
    response_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_csv_cells, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_csv_labels_bom_and_types, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_truncation, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_many_pages, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_hourly_limit, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_role_thresholds, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_audit_admin_only, rp_test_app_setup,
                                        rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
