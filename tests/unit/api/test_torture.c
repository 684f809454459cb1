/*
 * Fault injection ("torture", after curl's): each request below is replayed with the 1st,
 * 2nd, ... store query failing (rp_store_fault_arm) until a run goes through without the
 * fault firing. Every run must end in the request's normal status or a clean 5xx
 * problem+json, and the data must stay whole: a refused write leaves no trace, rows,
 * rp_change and rp_audit agree, and an atomic batch is all or nothing. ASan's leak check
 * covers the error paths. The hooks exist only in debug builds; elsewhere this skips.
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

#include "base/log.h"
#include "base/sql.h"
#include "store/store.h"
#include "test_app.h"

#define MAX_FAULT 400 /* far more queries than any request below runs */

static int count_row(void *ctx, const struct rp_value *cols, size_t n)
{
    int64_t *out = ctx;
    assert_int_equal(n, 1);
    *out = cols[0].u.i;
    return 0;
}

/* One integer from SQL, read with the fault disarmed. */
static int64_t scalar(struct rp_test_app *t, const char *sql)
{
    struct rp_arena a;
    struct rp_error err;
    struct rp_sql q;
    struct rp_store_conn *c = rp_store_reader_acquire(t->app->store);
    int64_t v = -1;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rp_sql_init(&q, &a, rp_store_dialect(t->app->store));
    rp_sql_add(&q, sql);
    assert_int_equal(rp_store_query(c, &q, count_row, &v, &err), 0);
    rp_store_reader_release(t->app->store, c);
    rp_arena_release(&a);
    return v;
}

/* Rows, the change log and the audit trail tell the same story. */
static void assert_whole(struct rp_test_app *t)
{
    assert_int_equal(scalar(t, "SELECT count(*) FROM account"),
                     scalar(t, "SELECT count(*) FROM rp_change WHERE object = 'account' AND "
                               "op = 'create'"));
    assert_int_equal(scalar(t, "SELECT count(*) FROM account"),
                     scalar(t, "SELECT count(*) FROM rp_audit WHERE object = 'account' AND "
                               "action = 'create'"));
    /* every account has as many changes and audit entries as its version */
    assert_int_equal(scalar(t, "SELECT count(*) FROM account a WHERE version != (SELECT count(*) "
                               "FROM rp_change c WHERE c.record_id = a.id)"),
                     0);
    assert_int_equal(scalar(t, "SELECT count(*) FROM account a WHERE version != (SELECT count(*) "
                               "FROM rp_audit u WHERE u.record_id = a.id AND u.action IN "
                               "('create', 'update', 'delete', 'restore'))"),
                     0);
}

static void assert_clean_5xx(int status, const char *body)
{
    json_t *j;

    assert_true(status >= 500 && status <= 599);
    j = json_loads(body, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "status")), status);
    assert_non_null(json_string_value(json_object_get(j, "code")));
    json_decref(j);
}

/*
 * Runs the request with the nth query failing for n = 1, 2, ... until the fault no longer
 * fires; check(t, n, status, body) judges each run (status ok or a clean 5xx is checked here).
 */
typedef void (*check_fn)(struct rp_test_app *t, int n, int status, const char *body);

static int torture(struct rp_test_app *t, const char *method, const char *target,
                   const char *(*body_for)(int n), int ok, check_fn check)
{
    int n;

    for (n = 1; n <= MAX_FAULT; n++) {
        char *body = NULL;
        int status;
        bool fired;

        rp_store_fault_arm(t->app->store, (uint64_t)n);
        status = rp_test_request(t, method, target, body_for ? body_for(n) : NULL, &body);
        fired = rp_store_fault_fired(t->app->store);
        rp_store_fault_arm(t->app->store, 0);
        if (status != ok)
            assert_clean_5xx(status, body);
        if (check)
            check(t, n, status, body);
        assert_whole(t);
        free(body);
        if (!fired) {
            assert_int_equal(status, ok); /* no fault: the ordinary answer */
            break;
        }
    }
    assert_true(n <= MAX_FAULT);
    return n - 1;
}

static char body_buf[512];

static const char *create_body(int n)
{
    snprintf(body_buf, sizeof(body_buf), "{\"name\":\"torture-%d\",\"employees\":%d}", n, n);
    return body_buf;
}

static void check_create(struct rp_test_app *t, int n, int status, const char *body)
{
    char sql[128];
    (void)body;
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM account WHERE name = 'torture-%d'", n);
    assert_int_equal(scalar(t, sql), status == 201 ? 1 : 0);
}

static char patch_id[40];

static const char *patch_body(int n)
{
    snprintf(body_buf, sizeof(body_buf), "{\"employees\":%d}", 1000 + n);
    return body_buf;
}

static void check_patch(struct rp_test_app *t, int n, int status, const char *body)
{
    static int64_t version = 1;
    char sql[160];
    int64_t v;

    (void)body;
    snprintf(sql, sizeof(sql), "SELECT version FROM account WHERE id = '%s'", patch_id);
    v = scalar(t, sql);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM account WHERE id = '%s' AND employees = %d",
             patch_id, 1000 + n);
    if (status == 200) {
        assert_int_equal(v, version + 1);
        assert_int_equal(scalar(t, sql), 1);
        version = v;
    } else {
        assert_int_equal(v, version); /* nothing of the failed update remains */
        assert_int_equal(scalar(t, sql), 0);
    }
}

static const char *batch_body(int n)
{
    snprintf(body_buf, sizeof(body_buf),
             "{\"atomic\":true,\"operations\":["
             "{\"op\":\"create\",\"data\":{\"name\":\"batch-%d-a\"}},"
             "{\"op\":\"create\",\"data\":{\"name\":\"batch-%d-b\"}},"
             "{\"op\":\"create\",\"data\":{\"name\":\"batch-%d-c\"}}]}",
             n, n, n);
    return body_buf;
}

static void check_batch(struct rp_test_app *t, int n, int status, const char *body)
{
    char sql[128];
    (void)body;
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM account WHERE name LIKE 'batch-%d-_'", n);
    assert_int_equal(scalar(t, sql), status == 200 ? 3 : 0); /* all or nothing */
}

static void test_writes(void **state)
{
    struct rp_test_app *t = *state;
    char target[128], id[40];
    int faults;

    faults = torture(t, "POST", "/api/v1/records/account", create_body, 201, check_create);
    assert_true(faults > 0);
    print_message("create: %d injected faults\n", faults);

    rp_test_create(t, "account", "{\"name\":\"patched\"}", patch_id);
    snprintf(target, sizeof(target), "/api/v1/records/account/%s", patch_id);
    faults = torture(t, "PATCH", target, patch_body, 200, check_patch);
    print_message("update: %d injected faults\n", faults);

    faults = torture(t, "POST", "/api/v1/records/account/batch", batch_body, 200, check_batch);
    print_message("atomic batch: %d injected faults\n", faults);

    /* a delete that failed leaves the record live; the one that succeeds deletes it */
    rp_test_create(t, "account", "{\"name\":\"doomed\"}", id);
    snprintf(target, sizeof(target), "/api/v1/records/account/%s", id);
    faults = torture(t, "DELETE", target, NULL, 200, NULL);
    print_message("delete: %d injected faults\n", faults);
    assert_int_equal(
        scalar(t, "SELECT count(*) FROM account WHERE name = 'doomed' AND deleted_at IS NOT NULL"),
        1);
}

static void test_reads(void **state)
{
    struct rp_test_app *t = *state;
    char id[40], target[128];

    rp_test_create(t, "account", "{\"name\":\"read me\",\"city\":\"上海\"}", id);
    snprintf(target, sizeof(target), "/api/v1/records/account/%s", id);
    torture(t, "GET", target, NULL, 200, NULL);
    torture(t, "GET",
            "/api/v1/records/account?filter=city%20%3D%20%27%E4%B8%8A%E6%B5%B7%27&count=true"
            "&sort=-created_at",
            NULL, 200, NULL);
    torture(t, "GET", "/api/v1/changes?after=0&limit=5", NULL, 200, NULL);
    torture(t, "GET", "/api/v1/auth/me", NULL, 200, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_writes, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_reads, rp_test_app_setup, rp_test_app_teardown),
    };
    struct rp_test_app probe;
    int rc;

    rp_log_set_level(RP_LOG_OFF); /* every injected fault is logged; keep the output short */
    /* Release builds have no hooks: arming does nothing and the fault never fires. */
    rp_test_app_open(&probe);
    rp_store_fault_arm(probe.app->store, 1);
    rp_test_request(&probe, "GET", "/api/v1/auth/me", NULL, NULL);
    rc = rp_store_fault_fired(probe.app->store);
    rp_store_fault_arm(probe.app->store, 0);
    rp_test_app_close(&probe);
    if (!rc) {
        printf("fault injection is not built in (not a debug build): skipped\n");
        return 0;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
