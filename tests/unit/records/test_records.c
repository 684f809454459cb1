/* The one write path under concurrency and at its limits, through records.h directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>

#include "base/limits.h"
#include "test_app.h"

/* One write through rp_records_write; returns the item status. */
static int write_one(struct rp_test_app *t, enum rp_write_op op, const char *object, const char *id,
                     const char *json, int64_t if_match, char *new_id)
{
    struct rp_arena a;
    struct rp_error err;
    struct rp_write w = {.op = op, .id = id, .if_match = if_match};
    struct rp_write_request wr = {.principal = &t->app->system,
                                  .object = object,
                                  .writes = &w,
                                  .nwrites = 1,
                                  .arena = &a,
                                  .err = &err};
    json_t *data = json ? json_loads(json, 0, NULL) : NULL;
    int status;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    w.data = data;
    rp_records_write(t->app->records, &wr);
    status = err.code ? rp_err_http_status(err.code) : w.status;
    if (new_id)
        snprintf(new_id, 40, "%s", w.new_id);
    json_decref(data);
    rp_arena_release(&a);
    return status;
}

struct race {
    struct rp_test_app *t;
    const char *id;
    int status;
    int n;
};

static void *race_worker(void *p)
{
    struct race *r = p;
    char json[64];
    snprintf(json, sizeof(json), "{\"tier\":\"%s\"}", r->n % 2 ? "gold" : "vip");
    r->status = write_one(r->t, RP_WRITE_UPDATE, "account", r->id, json, 1, NULL);
    return NULL;
}

/* Eight writers update version 1 at once: exactly one wins, the rest get 412. */
static void test_if_match_race(void **state)
{
    struct rp_test_app *t = *state;
    char id[40];
    pthread_t th[8];
    struct race r[8];
    int won = 0, stale = 0;

    assert_int_equal(
        write_one(t, RP_WRITE_CREATE, "account", NULL, "{\"name\":\"Race Ltd\"}", -1, id), 201);
    for (int i = 0; i < 8; i++) {
        r[i] = (struct race){.t = t, .id = id, .n = i};
        pthread_create(&th[i], NULL, race_worker, &r[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        won += r[i].status == 200;
        stale += r[i].status == 412;
    }
    assert_int_equal(won, 1);
    assert_int_equal(stale, 7);
}

/* A full batch of 1,000 creates commits atomically, with one change event each. */
static void test_batch_of_1000(void **state)
{
    struct rp_test_app *t = *state;
    struct rp_arena a;
    struct rp_error err;
    struct rp_write *w = calloc(RP_LIMIT_BATCH_OPS, sizeof(*w));
    json_t **data = calloc(RP_LIMIT_BATCH_OPS, sizeof(*data));
    struct rp_write_request wr = {.principal = &t->app->system,
                                  .object = "product",
                                  .writes = w,
                                  .nwrites = RP_LIMIT_BATCH_OPS,
                                  .batch = true,
                                  .atomic = true,
                                  .arena = &a,
                                  .err = &err};
    char *out;
    json_t *j;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    for (int i = 0; i < RP_LIMIT_BATCH_OPS; i++) {
        data[i] = json_pack("{ssss}", "name", "Widget", "sku", rp_arena_sprintf(&a, "W-%04d", i));
        w[i] = (struct rp_write){.op = RP_WRITE_CREATE, .data = data[i], .if_match = -1};
    }
    assert_int_equal(rp_records_write(t->app->records, &wr), 0);
    for (int i = 0; i < RP_LIMIT_BATCH_OPS; i++)
        assert_int_equal(w[i].status, 201);
    assert_int_equal(
        rp_test_request(t, "GET", "/api/v1/changes?objects=product&limit=1000", NULL, &out), 200);
    j = json_loads(out, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "data")), RP_LIMIT_BATCH_OPS);
    json_decref(j);
    free(out);
    for (int i = 0; i < RP_LIMIT_BATCH_OPS; i++)
        json_decref(data[i]);
    free(data);
    free(w);
    rp_arena_release(&a);
}

/* A batch over the limit is refused before anything is validated or written. */
static void test_batch_over_limit(void **state)
{
    struct rp_test_app *t = *state;
    struct rp_arena a;
    struct rp_error err;
    struct rp_write *w = calloc(RP_LIMIT_BATCH_OPS + 1, sizeof(*w));
    struct rp_write_request wr = {.principal = &t->app->system,
                                  .object = "product",
                                  .writes = w,
                                  .nwrites = RP_LIMIT_BATCH_OPS + 1,
                                  .batch = true,
                                  .arena = &a,
                                  .err = &err};
    rp_arena_init(&a);
    rp_error_init(&err, &a);
    assert_int_equal(rp_records_write(t->app->records, &wr), RP_ETOOBIG);
    free(w);
    rp_arena_release(&a);
}

/* Custom fields defined from several threads at once all land, each exactly once. */
struct define_arg {
    struct rp_test_app *t;
    int n;
    int rc;
};

static void *define_worker(void *p)
{
    struct define_arg *d = p;
    struct rp_arena a;
    struct rp_error err;
    char name[32];
    json_t *def;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    snprintf(name, sizeof(name), "extra_%d", d->n);
    def = json_pack("{ssss}", "name", name, "type", "text");
    d->rc =
        rp_records_define(d->t->app->records, &d->t->app->system, "field", "account", def, &err);
    json_decref(def);
    rp_arena_release(&a);
    return NULL;
}

static void test_concurrent_definitions(void **state)
{
    struct rp_test_app *t = *state;
    pthread_t th[4];
    struct define_arg d[4];
    struct rp_meta *m;
    const struct rp_object *o;

    for (int i = 0; i < 4; i++) {
        d[i] = (struct define_arg){.t = t, .n = i};
        pthread_create(&th[i], NULL, define_worker, &d[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(d[i].rc, 0);
    }
    m = rp_meta_acquire(t->app->meta);
    o = rp_meta_object(m, "account");
    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof(name), "extra_%d", i);
        assert_non_null(rp_meta_field(o, name));
    }
    rp_meta_release(m);
    assert_int_equal(write_one(t, RP_WRITE_CREATE, "account", NULL,
                               "{\"name\":\"X\",\"extra_0\":\"a\",\"extra_3\":\"b\"}", -1, NULL),
                     201);
}

static int make_stale_index(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    (void)ctx;
    return rp_store_exec_script(c, "CREATE INDEX \"account__name\" ON \"account\"(\"name\")", err);
}

static int count_row(void *ctx, const struct rp_value *cols, size_t n)
{
    *(int64_t *)ctx = n ? cols[0].u.i : -1;
    return 1;
}

/* Schema sync drops indexes it made that the metadata no longer asks for, and keeps the rest. */
static void test_sync_drops_stale_indexes(void **state)
{
    struct rp_test_app *t = *state;
    struct rp_arena a;
    struct rp_error err;
    struct rp_meta *m = NULL;
    struct rp_store_conn *c;
    struct rp_sql q;
    int64_t stale = -1, kept = -1;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    assert_int_equal(rp_store_write(t->app->store, make_stale_index, NULL, &err), 0);
    assert_int_equal(rp_records_load_metadata(t->app->store, &t->app->clock, &m, &err), 0);
    rp_meta_release(m);
    c = rp_store_reader_acquire(t->app->store);
    /* the table's indexes, through the catalogue idiom the schema sync itself uses */
    stale = kept = 0;
    for (int i = 0; i < 2; i++) {
        struct rp_value table = rp_value_cstr("account");
        rp_sql_init(&q, &a, RP_SQL_SQLITE);
        rp_sql_add(&q, "SELECT count(*) FROM (");
        rp_sql_add_fragment(&q, rp_sql_idiom(rp_store_conn_dialect(c), RP_SQL_TABLE_INDEXES),
                            &table, 1);
        rp_sql_add(&q, ") AS \"i\" WHERE 1 = 1");
        rp_sql_add(&q, i ? " AND \"i\".\"name\" = 'account__name__recent'"
                         : " AND \"i\".\"name\" = 'account__name'");
        assert_int_equal(rp_store_query(c, &q, count_row, i ? &kept : &stale, &err), 0);
    }
    rp_store_reader_release(t->app->store, c);
    assert_int_equal(stale, 0);
    assert_int_equal(kept, 1);
    rp_arena_release(&a);
}

/* Whether any definition of kind names object, as write hooks ask it (from memory). */
static bool defined(struct rp_test_app *t, const char *kind, const char *object)
{
    struct rp_error err;
    struct rp_store_conn *c = rp_store_reader_acquire(t->app->store);
    bool exists = false;

    rp_error_init(&err, NULL);
    assert_int_equal(rp_records_definitions_exist(t->app->records, c, kind, object, &exists, &err),
                     0);
    rp_store_reader_release(t->app->store, c);
    return exists;
}

static int put_rule(struct rp_test_app *t, const char *name, const char *object)
{
    struct rp_error err;
    json_t *def = json_pack("{sss[{ssss}]ss}", "object", object, "match", "method", "email",
                            "field", "email", "action", "warn");
    int rc;

    rp_error_init(&err, NULL);
    rc = rp_records_definition_put(t->app->records, &t->app->system, "duplicate-rules", name, def,
                                   NULL, &err);
    json_decref(def);
    return rc;
}

/*
 * What write hooks are told about definitions follows every definition write of the process at
 * once, and one that fails (a store fault inside its unit, in builds with fault injection)
 * leaves it as it was.
 */
static void test_definitions_exist(void **state)
{
    struct rp_test_app *t = *state;
    struct rp_error err;
    int rc;

    assert_false(defined(t, "duplicate-rules", "lead"));
    assert_false(defined(t, "duplicate-rules", NULL));
    assert_int_equal(put_rule(t, "leads", "lead"), 0);
    assert_true(defined(t, "duplicate-rules", "lead"));
    assert_true(defined(t, "duplicate-rules", NULL));
    assert_false(defined(t, "duplicate-rules", "contact"));
    assert_false(defined(t, "duplicate-rules", "lea"));
    assert_false(defined(t, "scoring-models", "lead"));

    /* a query inside the unit fails: the unit rolls back */
    rp_store_fault_arm(t->app->store, 2);
    rc = put_rule(t, "contacts", "contact");
#ifndef NDEBUG /* debug builds inject faults (CMakeLists.txt: RP_FAULT_INJECTION) */
    assert_true(rp_store_fault_fired_in_unit(t->app->store));
    assert_int_not_equal(rc, 0);
#endif
    rp_store_fault_arm(t->app->store, 0);
    assert_int_equal(defined(t, "duplicate-rules", "contact"), rc == 0);

    rp_error_init(&err, NULL);
    assert_int_equal(rp_records_definition_delete(t->app->records, &t->app->system,
                                                  "duplicate-rules", "leads", &err),
                     0);
    assert_false(defined(t, "duplicate-rules", "lead"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_if_match_race, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_batch_of_1000, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_batch_over_limit, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_sync_drops_stale_indexes, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_definitions, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_definitions_exist, rp_test_app_setup,
                                        rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
