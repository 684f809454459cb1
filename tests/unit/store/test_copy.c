/*
 * rp_store_copy: a SQLite installation (records of every field type, a custom object and a
 * custom field, audit and change rows, jobs, users and tokens) copied into the throwaway
 * PostgreSQL of tests/helpers/pg.sh, then read back through a rapport app on PostgreSQL and
 * through the store; a destination with data refused, --force, a failed copy leaving the
 * destination as it was, and the verifier catching a changed or missing destination row.
 * Registered only under pg.sh (store/test_copy_pg): without PostgreSQL it fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_app.h"
#include "test_store.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
    struct rp_test_app src; /* the SQLite installation */
    struct rp_store *dst;   /* the PostgreSQL database, opened (migrated) as rapport copy does */
    const char *dst_url;
    char gadget_full[40], gadget_empty[40], account[40], contact[40], job[40];
};

/* The same admin's view of a database that already has the admin and token (the copy's). */
static void open_pg_app(struct rp_test_app *t, const struct rp_test_app *like, const char *url)
{
    struct rp_app_config cfg = {.db = url,
                                .fixed_clock = true,
                                .fixed_clock_ms = RP_TEST_NOW_MS + 60000,
                                .fast_passwords = true};
    struct rp_error err;

    memset(t, 0, sizeof(*t));
    rp_error_init(&err, NULL);
    if (rp_app_open(&cfg, &t->app, &err) < 0) {
        fprintf(stderr, "destination app: %s\n", err.detail ? err.detail : "failed");
        abort();
    }
    snprintf(t->token, sizeof(t->token), "%s", like->token);
    snprintf(t->user_id, sizeof(t->user_id), "%s", like->user_id);
    rp_api_set_ready(t->app->api, true);
}

static const char GADGET[] =
    "{\"name\": \"gadget\", \"label\": {\"en\": \"Gadget\", \"zh\": \"小工具\"}, \"search\": [\"title\"], "
    "\"fields\": ["
    "{\"name\": \"title\", \"type\": \"text\"},"
    "{\"name\": \"mail\", \"type\": \"email\", \"unique\": true},"
    "{\"name\": \"tel\", \"type\": \"phone\"},"
    "{\"name\": \"site\", \"type\": \"url\"},"
    "{\"name\": \"weight\", \"type\": \"number\"},"
    "{\"name\": \"price\", \"type\": \"money\", \"indexed\": true},"
    "{\"name\": \"ratio\", \"type\": \"percent\"},"
    "{\"name\": \"made\", \"type\": \"date\"},"
    "{\"name\": \"seen_at\", \"type\": \"datetime\"},"
    "{\"name\": \"active\", \"type\": \"bool\"},"
    "{\"name\": \"colour\", \"type\": \"picklist\", \"values\": [{\"value\": \"red\"}, "
    "{\"value\": \"green\"}]},"
    "{\"name\": \"tags\", \"type\": \"multi_picklist\", \"values\": [{\"value\": \"a\"}, "
    "{\"value\": \"b\"}, {\"value\": \"c\"}]},"
    "{\"name\": \"account_id\", \"type\": \"reference\", \"target\": \"account\"},"
    "{\"name\": \"double_price\", \"type\": \"formula\", \"formula\": \"price * 2\", "
    "\"result\": \"money\"}]}";

static int group_setup(void **state)
{
    struct fixture *f = rp_xcalloc(1, sizeof(*f));
    struct rp_test_app *t = &f->src;
    struct rp_job_spec job = {.kind = "test.copy",
                              .payload = "{\"note\": \"续约提醒\", \"days\": 90}",
                              .run_at = RP_TEST_NOW_MS + 86400000};
    struct rp_error err;
    bool memory = false;
    char body[1024], id[40];
    json_t *j;

    if (!rp_test_store_is_pg()) {
        fprintf(stderr, "test_copy needs PostgreSQL: run it under tests/helpers/pg.sh with "
                        "RP_TEST_STORE=pg (ctest -R store/test_copy_pg)\n");
        return -1;
    }
    rp_test_app_open_sqlite(t, "管理员");
    j = rp_test_call(t, "POST", "/api/v1/meta/objects", GADGET, 201);
    json_decref(j);
    j = rp_test_call(
        t, "POST", "/api/v1/meta/objects/contact/fields",
        "{\"name\": \"wx_handle\", \"type\": \"text\", \"label\": {\"en\": \"WeChat\", "
        "\"zh\": \"微信\"}}",
        201);
    json_decref(j);
    rp_test_create(t, "account", "{\"name\": \"上海星云信息科技有限公司\", \"tier\": \"vip\"}",
                   f->account);
    snprintf(body, sizeof(body),
             "{\"title\": \"中文标题 with ‘quotes’ and \\\"escapes\\\" \\\\ and a\\nnewline\","
             " \"mail\": \"zhang@example.cn\", \"tel\": \"+86 138 0013 8000\","
             " \"site\": \"https://example.cn/路径?q=1\", \"weight\": 0.1,"
             " \"price\": \"12345.6789\", \"ratio\": 33.333333333333336,"
             " \"made\": \"2026-02-28\", \"seen_at\": \"2026-11-22T07:59:59.123Z\","
             " \"active\": true, \"colour\": \"green\", \"tags\": [\"c\", \"a\"],"
             " \"account_id\": \"%s\"}",
             f->account);
    rp_test_create(t, "gadget", body, f->gadget_full);
    rp_test_create(t, "gadget", "{\"title\": \"空\", \"price\": \"-0.0001\", \"active\": false}",
                   f->gadget_empty);
    rp_test_create(t, "contact",
                   "{\"last_name\": \"张\", \"first_name\": \"浩然\", \"wx_handle\": \"zhr_2026\"}",
                   f->contact);
    rp_test_create(t, "contact", "{\"last_name\": \"Smith\", \"first_name\": \"John\"}", id);
    for (int i = 0; i < 30; i++) {
        snprintf(body, sizeof(body), "{\"name\": \"客户 %d\", \"annual_revenue\": \"%d.25\"}", i,
                 i * 1000);
        rp_test_create(t, "account", body, id);
    }
    /* updates and a soft delete: audit and change rows with old and new values */
    snprintf(body, sizeof(body), "/api/v1/records/contact/%s", f->contact);
    json_decref(
        rp_test_call(t, "PATCH", body, "{\"wx_handle\": \"zhr_new\", \"title\": \"CTO\"}", 200));
    snprintf(body, sizeof(body), "/api/v1/records/account/%s", id);
    json_decref(rp_test_call(t, "DELETE", body, NULL, 200));
    rp_error_init(&err, NULL);
    assert_int_equal(rp_jobs_enqueue(t->app->jobs, &job, f->job, NULL, &err), 0);
    job.dedup_key = "copy-test";
    job.run_at = 0;
    assert_int_equal(rp_jobs_enqueue(t->app->jobs, &job, id, NULL, &err), 0);

    rp_test_store_target(&f->dst_url, &memory); /* empties the PostgreSQL database */
    assert_int_equal(rp_store_open(f->dst_url, NULL, &f->dst, &err), 0);
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    if (!f)
        return 0;
    rp_store_close(f->dst);
    rp_test_app_close(&f->src);
    free(f);
    return 0;
}

static int sync_schema(struct rp_store_conn *dst, void *ctx, struct rp_error *err)
{
    (void)ctx;
    return rp_records_sync_schema_in(dst, RP_TEST_NOW_MS, err);
}

static int failing_schema(struct rp_store_conn *dst, void *ctx, struct rp_error *err)
{
    (void)dst;
    (void)ctx;
    return rp_error_set(err, RP_EDB, "schema step failed on purpose");
}

static int copy(struct fixture *f, bool force, rp_store_schema_fn schema,
                struct rp_store_copy_report *rep, struct rp_error *err)
{
    struct rp_store_copy_options opt = {.force = force, .schema = schema, .batch_rows = 7};
    return rp_store_copy(f->src.app->store, f->dst, &opt, rep, err);
}

static const struct rp_store_copy_table *report_table(const struct rp_store_copy_report *rep,
                                                      const char *name)
{
    for (size_t i = 0; i < rep->ntables; i++)
        if (strcmp(rep->tables[i].name, name) == 0)
            return &rep->tables[i];
    fail_msg("table %s is not in the report", name);
    return NULL;
}

static int64_t query_int(struct rp_store *s, const char *sql)
{
    struct rp_store_conn *c = rp_store_reader_acquire(s);
    struct rp_error err;
    struct rp_arena a;
    struct rp_sql q;
    int64_t v = -1;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rp_sql_init(&q, &a, rp_store_dialect(s));
    rp_sql_add(&q, sql);
    assert_int_equal(rp_store_query(c, &q, rp_store_row_int, &v, &err), 0);
    rp_store_reader_release(s, c);
    rp_arena_release(&a);
    return v;
}

/* GET target on both apps: the same status and the same JSON. */
static void same_json(struct rp_test_app *src, struct rp_test_app *dst, const char *target)
{
    json_t *a = rp_test_call(src, "GET", target, NULL, 200);
    json_t *b = rp_test_call(dst, "GET", target, NULL, 200);
    if (!json_equal(a, b)) {
        char *x = json_dumps(a, JSON_SORT_KEYS), *y = json_dumps(b, JSON_SORT_KEYS);
        fail_msg("%s differs:\nSQLite:     %s\nPostgreSQL: %s", target, x, y);
    }
    json_decref(a);
    json_decref(b);
}

struct gadget_row {
    int rows;
    struct rp_value v[8];
    char text[8][256];
};

static int gadget_row(void *ctx, const struct rp_value *cols, size_t ncols)
{
    struct gadget_row *g = ctx;
    for (size_t i = 0; i < ncols && i < 8; i++) {
        g->v[i] = cols[i];
        if (cols[i].type == RP_V_TEXT)
            snprintf(g->text[i], sizeof(g->text[i]), "%.*s", (int)cols[i].u.s.len, cols[i].u.s.p);
    }
    g->rows++;
    return 0;
}

static void test_copy_round_trip(void **state)
{
    struct fixture *f = *state;
    struct rp_store_copy_report rep;
    struct rp_test_app dst;
    struct gadget_row g = {0};
    struct rp_store_conn *c;
    struct rp_error err;
    struct rp_arena a;
    struct rp_sql q;
    char target[256];
    int64_t changes, max_seq;
    json_t *j;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    assert_int_equal(copy(f, false, sync_schema, &rep, &err), 0);
    assert_true(rep.ok);
    assert_true(rep.rows > 100);
    /* system tables, the custom object's table, a standard one with a custom column */
    assert_int_equal(report_table(&rep, "gadget")->dst_rows, 2);
    assert_int_equal(report_table(&rep, "gadget")->copied, 2);
    assert_int_equal(report_table(&rep, "account")->dst_rows, 31);
    assert_int_equal(report_table(&rep, "rp_job")->dst_rows, 2);
    assert_int_equal(report_table(&rep, "rp_meta_custom")->dst_rows, 2);
    assert_true(report_table(&rep, "rp_audit")->dst_rows >= 37);
    assert_true(report_table(&rep, "rp_change")->dst_rows >= 37);
    assert_string_equal(report_table(&rep, "contact")->src_sum,
                        report_table(&rep, "contact")->dst_sum);
    for (size_t i = 0; i < rep.ntables; i++) {
        assert_true(rep.tables[i].ok);
        assert_int_equal(rep.tables[i].copied, rep.tables[i].src_rows);
        assert_null(strstr(rep.tables[i].name, "__fts")); /* SQLite's own: not copied */
        assert_string_not_equal(rep.tables[i].name, "rp_fts_pending");
    }
    rp_store_copy_report_release(&rep);
    /* the copy left planner statistics behind (ANALYZE in its transaction) */
    assert_true(query_int(f->dst, "SELECT COUNT(*) FROM pg_stats WHERE tablename = 'gadget'") > 0);

    /* the exact stored values, through the store */
    c = rp_store_reader_acquire(f->dst);
    rp_sql_init(&q, &a, rp_store_dialect(f->dst));
    rp_sql_add(&q, "SELECT \"title\", \"price\", \"weight\", \"active\", \"made\", \"seen_at\","
                   " \"tags\", \"ratio\" FROM \"gadget\" WHERE \"id\" = ");
    rp_sql_param(&q, rp_value_cstr(f->gadget_full));
    assert_int_equal(rp_store_query(c, &q, gadget_row, &g, &err), 0);
    rp_store_reader_release(f->dst, c);
    assert_int_equal(g.rows, 1);
    assert_string_equal(g.text[0], "中文标题 with ‘quotes’ and \"escapes\" \\ and a\nnewline");
    assert_int_equal(g.v[1].type, RP_V_INT);
    assert_int_equal(g.v[1].u.i, 123456789); /* money: 1/10,000 units */
    assert_int_equal(g.v[2].type, RP_V_NUM);
    assert_true(g.v[2].u.d == 0.1);
    assert_int_equal(g.v[3].type, RP_V_INT);
    assert_int_equal(g.v[3].u.i, 1);
    assert_int_equal(g.v[4].type, RP_V_INT);
    assert_int_equal(g.v[5].type, RP_V_INT);
    assert_int_equal(g.v[5].u.i, RP_TEST_NOW_MS - 877); /* 07:59:59.123 */
    assert_string_equal(g.text[6], "[\"a\",\"c\"]");
    assert_true(g.v[7].u.d == 33.333333333333336);

    /* every record and list through the API of an app on PostgreSQL, with the copied token */
    open_pg_app(&dst, &f->src, f->dst_url);
    snprintf(target, sizeof(target), "/api/v1/records/gadget/%s", f->gadget_full);
    same_json(&f->src, &dst, target);
    snprintf(target, sizeof(target), "/api/v1/records/gadget/%s", f->gadget_empty);
    same_json(&f->src, &dst, target);
    snprintf(target, sizeof(target), "/api/v1/records/contact/%s", f->contact);
    same_json(&f->src, &dst, target);
    snprintf(target, sizeof(target), "/api/v1/records/contact/%s/history", f->contact);
    same_json(&f->src, &dst, target);
    same_json(&f->src, &dst, "/api/v1/records/account?limit=500&sort=name");
    same_json(&f->src, &dst, "/api/v1/records/gadget?sort=price");
    same_json(&f->src, &dst, "/api/v1/meta/objects/gadget");
    same_json(&f->src, &dst, "/api/v1/changes?after=0&limit=1000");
    j = rp_test_call(&dst, "GET", "/api/v1/records/contact?filter=wx_handle%20%3D%20%27zhr_new%27",
                     NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
    json_decref(j);
    /* full text on PostgreSQL's own index, built from the copied metadata */
    j = rp_test_call(&dst, "GET", "/api/v1/records/contact?q=%E5%BC%A0%E6%B5%A9%E7%84%B6", NULL,
                     200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
    json_decref(j);

    /* the indexes the metadata asks for are there (built once after the rows were loaded) */
    assert_int_equal(query_int(f->dst, "SELECT count(*) FROM pg_indexes WHERE indexname IN"
                                       " ('gadget__trgm', 'gadget__mail__uq',"
                                       " 'gadget__price__recent', 'contact__trgm',"
                                       " 'gadget_pkey', 'gadget_rowid_key')"),
                     6);
    j = rp_test_call(&dst, "POST", "/api/v1/records/gadget", "{\"mail\": \"zhang@example.cn\"}",
                     409);
    json_decref(j);

    /* new rows after the copy do not collide with copied ones (sequences were moved on) */
    changes = query_int(f->dst, "SELECT count(*) FROM rp_change");
    max_seq = query_int(f->dst, "SELECT max(seq) FROM rp_change");
    assert_int_equal(max_seq, query_int(f->src.app->store, "SELECT max(seq) FROM rp_change"));
    rp_test_create(&dst, "gadget", "{\"title\": \"after the move\", \"price\": 1}", target);
    assert_int_equal(query_int(f->dst, "SELECT count(*) FROM rp_change"), changes + 1);
    assert_int_equal(query_int(f->dst, "SELECT max(seq) FROM rp_change"), max_seq + 1);
    assert_true(query_int(f->dst, "SELECT max(rowid) FROM gadget") >
                query_int(f->src.app->store, "SELECT max(rowid) FROM gadget"));
    rp_test_app_close(&dst);
    rp_arena_release(&a);
}

static void test_copy_refuses_data_unless_forced(void **state)
{
    struct fixture *f = *state;
    struct rp_store_copy_report rep;
    struct rp_error err;
    struct rp_arena a;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    /* the destination holds data now (the copy, and the record added after it) */
    assert_int_equal(copy(f, false, sync_schema, &rep, &err), RP_ECONFLICT);
    assert_non_null(strstr(err.detail, "--force"));
    assert_non_null(strstr(err.detail, "rp_user"));
    assert_int_equal(rep.ntables, 0);

    /* a forced copy that fails half-way leaves the destination exactly as it was */
    rp_error_init(&err, &a);
    assert_int_equal(copy(f, true, failing_schema, &rep, &err), RP_EDB);
    assert_non_null(strstr(err.detail, "on purpose"));
    assert_int_equal(query_int(f->dst, "SELECT count(*) FROM gadget"), 3);
    assert_true(query_int(f->dst, "SELECT count(*) FROM rp_user") == 1);

    rp_error_init(&err, &a);
    assert_int_equal(copy(f, true, sync_schema, &rep, &err), 0);
    assert_true(rep.ok);
    assert_int_equal(report_table(&rep, "gadget")->dst_rows, 2);
    assert_int_equal(query_int(f->dst, "SELECT count(*) FROM gadget"), 2);
    rp_store_copy_report_release(&rep);
    rp_arena_release(&a);
}

static int run_sql(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    return rp_store_exec_script(c, ctx, err);
}

static void test_verify_detects_changed_rows(void **state)
{
    struct fixture *f = *state;
    struct rp_store_copy_report rep;
    struct rp_error err;
    struct rp_arena a;
    char sql[256];

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    assert_int_equal(rp_store_copy_verify(f->src.app->store, f->dst, &rep, &err), 0);
    assert_true(rep.ok);
    rp_store_copy_report_release(&rep);

    /* one value of one row, changed in a way no count would notice */
    snprintf(sql, sizeof(sql), "UPDATE contact SET wx_handle = 'zhr_neW' WHERE id = '%s'",
             f->contact);
    assert_int_equal(rp_store_write(f->dst, run_sql, sql, &err), 0);
    assert_int_equal(rp_store_copy_verify(f->src.app->store, f->dst, &rep, &err), RP_EDB);
    assert_false(rep.ok);
    assert_non_null(strstr(err.detail, "contact"));
    for (size_t i = 0; i < rep.ntables; i++)
        assert_int_equal(rep.tables[i].ok, strcmp(rep.tables[i].name, "contact") != 0);
    assert_int_equal(report_table(&rep, "contact")->src_rows,
                     report_table(&rep, "contact")->dst_rows);
    assert_string_not_equal(report_table(&rep, "contact")->src_sum,
                            report_table(&rep, "contact")->dst_sum);
    rp_store_copy_report_release(&rep);

    /* a number that differs in its last bit, then a missing row */
    rp_error_init(&err, &a);
    snprintf(sql, sizeof(sql),
             "UPDATE contact SET wx_handle = 'zhr_new' WHERE id = '%s';"
             " UPDATE gadget SET weight = 0.10000000000000002 WHERE id = '%s'",
             f->contact, f->gadget_full);
    assert_int_equal(rp_store_write(f->dst, run_sql, sql, &err), 0);
    assert_int_equal(rp_store_copy_verify(f->src.app->store, f->dst, &rep, &err), RP_EDB);
    assert_true(report_table(&rep, "contact")->ok);
    assert_false(report_table(&rep, "gadget")->ok);
    rp_store_copy_report_release(&rep);
    rp_error_init(&err, &a);
    assert_int_equal(
        rp_store_write(f->dst, run_sql, "DELETE FROM rp_job WHERE dedup_key IS NULL", &err), 0);
    assert_int_equal(rp_store_copy_verify(f->src.app->store, f->dst, &rep, &err), RP_EDB);
    assert_false(report_table(&rep, "rp_job")->ok);
    assert_int_equal(report_table(&rep, "rp_job")->src_rows, 2);
    assert_int_equal(report_table(&rep, "rp_job")->dst_rows, 1);
    rp_store_copy_report_release(&rep);
    rp_arena_release(&a);
}

/* ---- a copy while the source is being written ---- */

struct writer {
    struct fixture *f;
    _Atomic bool stop;
    int writes;
};

static void *write_loop(void *arg)
{
    struct writer *w = arg;
    char target[128];

    snprintf(target, sizeof(target), "/api/v1/records/account/%s", w->f->account);
    while (!atomic_load(&w->stop)) {
        char body[64];
        snprintf(body, sizeof(body), "{\"description\": \"写入 %d\"}", w->writes);
        json_decref(rp_test_call(&w->f->src, "PATCH", target, body, 200));
        w->writes++;
    }
    return NULL;
}

/* The schema step runs after the source's snapshot was taken: a write here must not be copied. */
static int write_then_sync(struct rp_store_conn *dst, void *ctx, struct rp_error *err)
{
    struct fixture *f = ctx;
    char id[40];

    rp_test_create(&f->src, "account", "{\"name\": \"after the snapshot\"}", id);
    return rp_records_sync_schema_in(dst, RP_TEST_NOW_MS, err);
}

static void test_copy_is_one_snapshot(void **state)
{
    struct fixture *f = *state;
    struct rp_store_copy_options opt = {.force = true, .schema = write_then_sync, .schema_ctx = f};
    struct rp_store_copy_report rep;
    struct writer w = {.f = f};
    struct rp_error err;
    struct rp_arena a;
    pthread_t t;
    int rc;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    assert_int_equal(pthread_create(&t, NULL, write_loop, &w), 0);
    rc = rp_store_copy(f->src.app->store, f->dst, &opt, &rep, &err);
    atomic_store(&w.stop, true);
    pthread_join(t, NULL);
    assert_int_equal(rc, 0);
    assert_true(rep.ok); /* verified against the same snapshot */
    rp_store_copy_report_release(&rep);
    assert_true(w.writes > 0);
    /* the write made after the snapshot is in the source, not in the copy */
    assert_int_equal(query_int(f->src.app->store,
                               "SELECT count(*) FROM account WHERE name = 'after the snapshot'"),
                     1);
    assert_int_equal(
        query_int(f->dst, "SELECT count(*) FROM account WHERE name = 'after the snapshot'"), 0);
    /* every copied record has exactly its change events: rows and log from one moment */
    assert_int_equal(query_int(f->dst, "SELECT count(*) FROM account a WHERE a.version !="
                                       " (SELECT count(*) FROM rp_change c WHERE"
                                       " c.object = 'account' AND c.record_id = a.id)"),
                     0);
    assert_int_equal(query_int(f->dst, "SELECT count(*) FROM rp_audit WHERE object = 'account'"
                                       " AND record_id IS NOT NULL"),
                     query_int(f->dst, "SELECT count(*) FROM rp_change WHERE object = 'account'"));
    /* and a new snapshot of the source no longer matches: the final copy needs writes stopped */
    rp_error_init(&err, &a);
    assert_int_equal(rp_store_copy_verify(f->src.app->store, f->dst, &rep, &err), RP_EDB);
    assert_false(report_table(&rep, "account")->ok);
    rp_store_copy_report_release(&rep);
    rp_arena_release(&a);
}

static void test_copy_refuses_other_engines(void **state)
{
    struct fixture *f = *state;
    struct rp_store_copy_options opt = {.schema = sync_schema};
    struct rp_store_copy_report rep;
    struct rp_error err;

    rp_error_init(&err, NULL);
    assert_int_equal(rp_store_copy(f->dst, f->src.app->store, &opt, &rep, &err), RP_EUNSUPPORTED);
    assert_int_equal(rep.ntables, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_round_trip),
        cmocka_unit_test(test_copy_refuses_data_unless_forced),
        cmocka_unit_test(test_verify_detects_changed_rows),
        cmocka_unit_test(test_copy_is_one_snapshot),
        cmocka_unit_test(test_copy_refuses_other_engines),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
