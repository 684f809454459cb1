/*
 * The store conformance suite: one set of tests, run once per engine. ctest runs it on
 * SQLite (store/conformance) and, under tests/helpers/pg.sh with RP_TEST_STORE=pg, on a
 * real PostgreSQL 15 (store/conformance_pg). Everything goes through store.h, so what
 * passes here behaves the same on both: values in and out, a unit's rollback, group commit,
 * unique violations, migrations, keyset pagination and savepoints. The job queue's claim and
 * leases are tested on both engines by tests/unit/jobs/test_jobs.c (jobs/test_jobs_pg).
 * Configuration notices between processes (rp_store_notify, rp_store_listen) are tested with
 * two stores on one PostgreSQL database: delivered on commit only, never to their sender, and
 * "reload everything" after the listener's connection is cut.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/arena.h"
#include "store/store.h"
#include "store/store_int.h"
#include "test_store.h"

struct fx {
    struct rp_store *s;
    struct rp_arena a;
    struct rp_error err;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    rp_arena_init(&f->a);
    rp_error_init(&f->err, &f->a);
    f->s = rp_test_store_open();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    rp_store_close(f->s);
    rp_arena_release(&f->a);
    free(f);
    return 0;
}

/* ---- helpers: a unit that runs one script or one parameterised statement ---- */

static int script_unit(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    return rp_store_exec_script(c, ctx, err);
}

static void script(struct fx *f, const char *sql)
{
    rp_error_clear(&f->err);
    assert_int_equal(rp_store_write(f->s, script_unit, (void *)sql, &f->err), 0);
}

/* The table every test uses: the portable subset of column types. */
static void make_table(struct fx *f)
{
    script(f, rp_store_dialect(f->s) == RP_SQL_PG
                  ? "CREATE TABLE t (k TEXT UNIQUE, n BIGINT, x DOUBLE PRECISION, s TEXT,"
                    " at BIGINT NOT NULL DEFAULT 0)"
                  : "CREATE TABLE t (k TEXT UNIQUE, n INTEGER, x REAL, s TEXT,"
                    " at INTEGER NOT NULL DEFAULT 0)");
}

struct row_in {
    const char *k;
    int64_t n;
    int64_t at;
    const char *k2; /* a second row in the same unit, when set */
};

static int insert_unit(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct row_in *in = ctx;
    struct rp_arena a;
    struct rp_sql q;
    int rc;

    rp_arena_init(&a);
    for (int i = 0; i < (in->k2 ? 2 : 1); i++) {
        rp_sql_init(&q, &a, RP_SQL_SQLITE);
        rp_sql_add(&q, "INSERT INTO t (k, n, at) VALUES (");
        rp_sql_param(&q, rp_value_cstr(i ? in->k2 : in->k));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_int(in->n));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_int(in->at));
        rp_sql_add(&q, ")");
        rc = rp_store_exec(c, &q, NULL, err);
        if (rc < 0)
            break;
    }
    rp_arena_release(&a);
    return rc;
}

static int64_t count_rows(struct fx *f, const char *where)
{
    struct rp_store_conn *c = rp_store_reader_acquire(f->s);
    struct rp_sql q;
    int64_t n = -1;

    rp_sql_init(&q, &f->a, RP_SQL_SQLITE);
    rp_sql_addf(&q, "SELECT count(*) FROM t%s%s", where ? " WHERE " : "", where ? where : "");
    assert_int_equal(rp_store_query(c, &q, rp_store_row_int, &n, &f->err), 0);
    rp_store_reader_release(f->s, c);
    return n;
}

/* ---- values ---- */

struct typed_row {
    struct rp_value v[5];
    char text[64];
    int rows;
};

static int typed_cb(void *ctx, const struct rp_value *cols, size_t n)
{
    struct typed_row *r = ctx;
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)
        r->v[i] = cols[i];
    if (cols[1].type == RP_V_TEXT)
        snprintf(r->text, sizeof(r->text), "%.*s", (int)cols[1].u.s.len, cols[1].u.s.p);
    r->rows++;
    return 0;
}

static int insert_typed(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct rp_arena a;
    struct rp_sql q;
    int64_t changed = 0;
    int rc;

    (void)ctx;
    rp_arena_init(&a);
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO t (k, s, n, x, at) VALUES (");
    rp_sql_param(&q, rp_value_cstr("a"));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr("张浩然 O'Brien \"q\" ?1"));
    rp_sql_add(&q, ", ");
    /* money is an integer of 1/10,000: the largest exact amounts must survive */
    rp_sql_param(&q, (struct rp_value){.type = RP_V_MONEY, .u.i = INT64_C(9007199254740993)});
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_num(0.1));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, (struct rp_value){.type = RP_V_BOOL, .u.b = true});
    rp_sql_add(&q, ")");
    rc = rp_store_exec(c, &q, &changed, err);
    assert_int_equal(changed, 1);
    rp_arena_release(&a);
    return rc;
}

static void test_values_round_trip(void **state)
{
    struct fx *f = *state;
    struct typed_row r = {0};
    struct rp_store_conn *c;
    struct rp_sql q;

    make_table(f);
    assert_int_equal(rp_store_write(f->s, insert_typed, NULL, &f->err), 0);
    c = rp_store_reader_acquire(f->s);
    rp_sql_init(&q, &f->a, RP_SQL_SQLITE);
    /* a literal holding "?" and a fragment-style marker must both survive the translation */
    rp_sql_add(&q, "SELECT k, s, n, x, at FROM t WHERE k = ?1 AND s <> 'what?' AND n > ?2");
    q.params = rp_arena_alloc(&f->a, 2 * sizeof(*q.params));
    q.params[0] = rp_value_cstr("a");
    q.params[1] = rp_value_int(0);
    q.nparams = 2;
    assert_int_equal(rp_store_query(c, &q, typed_cb, &r, &f->err), 0);
    assert_int_equal(r.rows, 1);
    assert_int_equal(r.v[1].type, RP_V_TEXT);
    assert_string_equal(r.text, "张浩然 O'Brien \"q\" ?1");
    assert_int_equal(r.v[2].type, RP_V_INT);
    assert_true(r.v[2].u.i == INT64_C(9007199254740993));
    assert_int_equal(r.v[3].type, RP_V_NUM);
    assert_true(r.v[3].u.d == 0.1);
    assert_int_equal(r.v[4].type, RP_V_INT);
    assert_int_equal(r.v[4].u.i, 1);

    /* NULL, and an aggregate over integers stays an integer (numeric on PostgreSQL) */
    memset(&r, 0, sizeof(r));
    rp_sql_init(&q, &f->a, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT k, NULL, sum(n), avg(x), count(*) FROM t GROUP BY k");
    assert_int_equal(rp_store_query(c, &q, typed_cb, &r, &f->err), 0);
    assert_int_equal(r.v[1].type, RP_V_NULL);
    assert_int_equal(r.v[2].type, RP_V_INT);
    assert_true(r.v[2].u.i == INT64_C(9007199254740993));
    assert_int_equal(r.v[3].type, RP_V_NUM);
    assert_int_equal(r.v[4].type, RP_V_INT);
    assert_int_equal(r.v[4].u.i, 1);
    rp_store_reader_release(f->s, c);
}

/* ---- CRUD, changes, readers ---- */

static int update_unit(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    int64_t *changed = ctx;
    struct rp_arena a;
    struct rp_sql q;
    int rc;

    rp_arena_init(&a);
    rp_sql_init(&q, &a, RP_SQL_SQLITE);
    rp_sql_add(&q, "UPDATE t SET n = n + ");
    rp_sql_param(&q, rp_value_int(10));
    rp_sql_add(&q, " WHERE n < ");
    rp_sql_param(&q, rp_value_int(3));
    rc = rp_store_exec(c, &q, changed, err);
    rp_arena_release(&a);
    return rc;
}

static int delete_unit(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    int64_t *changed = ctx;
    struct rp_arena a;
    struct rp_sql q;
    int rc;

    rp_arena_init(&a);
    rp_sql_init(&q, &a, RP_SQL_SQLITE);
    rp_sql_add(&q, "DELETE FROM t WHERE k = ");
    rp_sql_param(&q, rp_value_cstr("k4"));
    rp_sql_add(&q, " RETURNING k");
    rc = rp_store_exec(c, &q, changed, err);
    rp_arena_release(&a);
    return rc;
}

static void test_crud(void **state)
{
    struct fx *f = *state;
    int64_t changed = 0;
    struct rp_store_conn *c;

    make_table(f);
    for (int i = 0; i < 5; i++) {
        char k[8];
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(
            rp_store_write(f->s, insert_unit, &(struct row_in){.k = k, .n = i}, &f->err), 0);
    }
    assert_int_equal(count_rows(f, NULL), 5);
    assert_int_equal(rp_store_write(f->s, update_unit, &changed, &f->err), 0);
    assert_int_equal(changed, 3);
    assert_int_equal(count_rows(f, "n >= 10"), 3);
    assert_int_equal(rp_store_write(f->s, delete_unit, &changed, &f->err), 0);
    assert_int_equal(changed, 1);
    assert_int_equal(count_rows(f, NULL), 4);

    /* readers are read-only, and a bad statement is RP_EDB, never a crash */
    c = rp_store_reader_acquire(f->s);
    rp_error_clear(&f->err);
    assert_int_not_equal(rp_store_exec_script(c, "CREATE TABLE z (a TEXT)", &f->err), 0);
    rp_error_clear(&f->err);
    {
        struct rp_sql q;
        rp_sql_init(&q, &f->a, RP_SQL_SQLITE);
        rp_sql_add(&q, "SELECT * FROM no_such_table");
        assert_int_equal(rp_store_query(c, &q, NULL, NULL, &f->err), RP_EDB);
        /* the connection is usable afterwards */
        rp_error_clear(&f->err);
        rp_sql_init(&q, &f->a, RP_SQL_SQLITE);
        rp_sql_add(&q, "SELECT count(*) FROM t");
        assert_int_equal(rp_store_query(c, &q, NULL, NULL, &f->err), 0);
    }
    rp_store_reader_release(f->s, c);
}

/* ---- units: rollback, conflicts, group commit, savepoints ---- */

static void test_unique_conflict(void **state)
{
    struct fx *f = *state;

    make_table(f);
    assert_int_equal(rp_store_write(f->s, insert_unit, &(struct row_in){.k = "dup"}, &f->err), 0);
    rp_error_clear(&f->err);
    assert_int_equal(rp_store_write(f->s, insert_unit, &(struct row_in){.k = "dup"}, &f->err),
                     RP_ECONFLICT);
    assert_int_equal(count_rows(f, "k = 'dup'"), 1);
}

/* A unit that conflicts records what the conflict slot said, inside the unit. */
struct conflict_probe {
    char where[128];
};

static int conflict_unit(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct conflict_probe *p = ctx;
    int rc = insert_unit(c, &(struct row_in){.k = "dup"}, err);
    snprintf(p->where, sizeof(p->where), "%s", rp_store_conflict_index(c));
    return rc;
}

static void test_conflict_index(void **state)
{
    struct fx *f = *state;
    struct conflict_probe p = {{0}};

    make_table(f);
    assert_int_equal(rp_store_write(f->s, insert_unit, &(struct row_in){.k = "dup"}, &f->err), 0);
    rp_error_clear(&f->err);
    assert_int_equal(rp_store_write(f->s, conflict_unit, &p, &f->err), RP_ECONFLICT);
    assert_string_equal(p.where, "t.k");
}

struct async_unit {
    struct row_in in;
    int rc;
    bool done;
    struct rp_error err;
};

static pthread_mutex_t async_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t async_cond = PTHREAD_COND_INITIALIZER;

static void async_done(void *ctx, int rc)
{
    struct async_unit *u = ctx;
    pthread_mutex_lock(&async_lock);
    u->rc = rc;
    u->done = true;
    pthread_cond_broadcast(&async_cond);
    pthread_mutex_unlock(&async_lock);
}

static int async_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct async_unit *u = ctx;
    return insert_unit(c, &u->in, err);
}

/*
 * Many units queued at once share commits; the one that fails (its second row conflicts)
 * leaves nothing behind, and the others are all kept.
 */
static void test_group_commit_and_unit_rollback(void **state)
{
    struct fx *f = *state;
    enum { N = 200 };
    struct async_unit *u = calloc(N, sizeof(*u));
    char(*keys)[16] = calloc(N, 16);
    struct rp_store_stats before, after;

    make_table(f);
    assert_int_equal(rp_store_write(f->s, insert_unit, &(struct row_in){.k = "taken"}, &f->err), 0);
    rp_store_stats(f->s, &before);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], 16, "g%d", i);
        u[i].in.k = keys[i];
        u[i].in.n = i;
        /* unit 57 writes its own row and then one that conflicts: all of it must go */
        if (i == 57)
            u[i].in.k2 = "taken";
        rp_error_init(&u[i].err, &f->a);
        assert_int_equal(rp_store_write_submit(f->s, async_run, async_done, &u[i], &u[i].err), 0);
    }
    pthread_mutex_lock(&async_lock);
    for (int i = 0; i < N; i++)
        while (!u[i].done)
            pthread_cond_wait(&async_cond, &async_lock);
    pthread_mutex_unlock(&async_lock);
    rp_store_stats(f->s, &after);
    for (int i = 0; i < N; i++)
        assert_int_equal(u[i].rc, i == 57 ? RP_ECONFLICT : 0);
    assert_int_equal(count_rows(f, "k LIKE 'g%'"), N - 1);
    assert_int_equal(count_rows(f, "k = 'g57'"), 0);
    /* grouped: fewer commits than units */
    assert_true(after.commits - before.commits < (uint64_t)N);
    assert_true(after.units - before.units >= (uint64_t)N);
    free(keys);
    free(u);
}

/* A unit that keeps the first of two items when the second fails, through a savepoint. */
static int savepoint_unit(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct rp_error item;
    (void)ctx;
    if (insert_unit(c, &(struct row_in){.k = "sp1"}, err) < 0)
        return err->code;
    assert_int_equal(rp_store_savepoint(c, "item"), 0);
    rp_error_init(&item, NULL);
    if (insert_unit(c, &(struct row_in){.k = "sp1"}, &item) < 0)
        assert_int_equal(rp_store_rollback_to(c, "item"), 0);
    else
        rp_store_release(c, "item");
    return insert_unit(c, &(struct row_in){.k = "sp2"}, err);
}

static void test_savepoint_in_unit(void **state)
{
    struct fx *f = *state;

    make_table(f);
    assert_int_equal(rp_store_write(f->s, savepoint_unit, NULL, &f->err), 0);
    assert_int_equal(count_rows(f, "k IN ('sp1', 'sp2')"), 2);
}

/* ---- migrations ---- */

static void test_migrations(void **state)
{
    struct fx *f = *state;
    struct rp_store *again = NULL;
    const char *url;
    bool memory;

    /* both engines have every step */
    assert_int_equal(rp_store_migrations_sqlite_count(), rp_store_migrations_pg_count());
    assert_int_equal(rp_store_schema_version(f->s), rp_store_migrations_sqlite_count());
    /* the system tables are there and take rows */
    script(f, "INSERT INTO rp_setting (key, value) VALUES ('conformance', 'yes')");
    script(f, "INSERT INTO rp_change (at, object, record_id, op) VALUES (1, 'o', 'r', 'create');"
              "INSERT INTO rp_change (at, object, record_id, op) VALUES (2, 'o', 'r', 'update')");
    {
        struct rp_store_conn *c = rp_store_reader_acquire(f->s);
        int64_t seq = 0;
        assert_int_equal(rp_store_query_int(c, "SELECT max(seq) FROM rp_change", &seq, &f->err), 0);
        assert_int_equal(seq, 2);
        rp_store_reader_release(f->s, c);
    }
    /* opening again on the same database migrates nothing and keeps the data (PostgreSQL;
     * a memory store is private to its process and cannot be opened twice) */
    if (!rp_test_store_is_pg())
        return;
    url = getenv("RP_TEST_PG_URL");
    memory = false;
    assert_int_equal(
        rp_store_open(url, &(struct rp_store_config){.memory = memory}, &again, &f->err), 0);
    assert_int_equal(rp_store_schema_version(again), rp_store_migrations_pg_count());
    {
        struct rp_store_conn *c = rp_store_reader_acquire(again);
        int64_t n = 0;
        assert_int_equal(rp_store_query_int(c, "SELECT count(*) FROM rp_change", &n, &f->err), 0);
        assert_int_equal(n, 2);
        rp_store_reader_release(again, c);
    }
    rp_store_close(again);
}

/* ---- keyset pagination ---- */

struct page {
    char keys[8][16];
    int64_t at[8];
    int n;
};

static int page_cb(void *ctx, const struct rp_value *cols, size_t n)
{
    struct page *p = ctx;
    assert_int_equal(n, 2);
    snprintf(p->keys[p->n], 16, "%.*s", (int)cols[0].u.s.len, cols[0].u.s.p);
    p->at[p->n] = cols[1].u.i;
    p->n++;
    return 0;
}

/* Pages of 7 over (at DESC, k DESC) with ties on at: every row once, in order. */
static void test_keyset_pagination(void **state)
{
    struct fx *f = *state;
    struct rp_store_conn *c;
    char seen[64] = {0};
    char last_k[16] = "";
    int64_t last_at = 0;
    int total = 0;
    bool first = true;

    make_table(f);
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof(k), "p%02d", i);
        assert_int_equal(
            rp_store_write(f->s, insert_unit, &(struct row_in){.k = k, .at = (i * 7) % 5}, &f->err),
            0);
    }
    c = rp_store_reader_acquire(f->s);
    for (;;) {
        struct page p = {0};
        struct rp_sql q;
        rp_sql_init(&q, &f->a, rp_store_dialect(f->s));
        rp_sql_add(&q, "SELECT k, at FROM t");
        if (!first) {
            rp_sql_add(&q, " WHERE (at < ");
            rp_sql_param(&q, rp_value_int(last_at));
            rp_sql_add(&q, " OR (at = ");
            rp_sql_param(&q, rp_value_int(last_at));
            rp_sql_add(&q, " AND k < ");
            rp_sql_param(&q, rp_value_cstr(last_k));
            rp_sql_add(&q, "))");
        }
        rp_sql_add(&q, " ORDER BY at DESC, k DESC LIMIT ");
        rp_sql_param(&q, rp_value_int(7));
        assert_int_equal(rp_store_query(c, &q, page_cb, &p, &f->err), 0);
        if (p.n == 0)
            break;
        for (int i = 0; i < p.n; i++) {
            int idx = (int)strtol(p.keys[i] + 1, NULL, 10);
            if (!first || i > 0)
                assert_true(p.at[i] < last_at ||
                            (p.at[i] == last_at && strcmp(p.keys[i], last_k) < 0));
            assert_int_equal(seen[idx], 0);
            seen[idx] = 1;
            last_at = p.at[i];
            snprintf(last_k, sizeof(last_k), "%s", p.keys[i]);
            first = false;
            total++;
        }
    }
    rp_store_reader_release(f->s, c);
    assert_int_equal(total, 50);
}

/* ---- PostgreSQL: a reader whose connection the server dropped carries on ---- */

static int terminate_unit(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct rp_arena a;
    struct rp_sql q;
    int rc;

    rp_arena_init(&a);
    rp_sql_init(&q, &a, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT pg_terminate_backend(CAST(");
    rp_sql_param(&q, rp_value_int(*(int64_t *)ctx));
    rp_sql_add(&q, " AS INTEGER))");
    rc = rp_store_query(c, &q, NULL, NULL, err);
    rp_arena_release(&a);
    return rc;
}

static void test_reader_reconnects(void **state)
{
    struct fx *f = *state;
    struct rp_store_conn *c;
    int64_t pid = 0, after = 0;

    if (!rp_test_store_is_pg())
        return; /* a SQLite connection is a file handle: nothing to drop */
    make_table(f);
    c = rp_store_reader_acquire(f->s);
    assert_int_equal(rp_store_query_int(c, "SELECT pg_backend_pid()", &pid, &f->err), 0);
    assert_int_equal(rp_store_write(f->s, terminate_unit, &pid, &f->err), 0);
    rp_error_clear(&f->err);
    assert_int_equal(rp_store_query_int(c, "SELECT pg_backend_pid()", &after, &f->err), 0);
    assert_true(after != 0 && after != pid);
    /* still read-only after reconnecting */
    rp_error_clear(&f->err);
    assert_int_not_equal(rp_store_exec_script(c, "CREATE TABLE z (a TEXT)", &f->err), 0);
    rp_store_reader_release(f->s, c);
}

/* ---- configuration notices ---- */

struct recorder {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char seen[32][80]; /* "topic arg" in order of arrival */
    int n;
};

static void record_notice(void *ctx, const char *topic, const char *arg)
{
    struct recorder *r = ctx;
    pthread_mutex_lock(&r->lock);
    if (r->n < 32)
        snprintf(r->seen[r->n++], sizeof(r->seen[0]), "%s %s", topic, arg);
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

/* Waits (at most 10 s: a bound, not a speed check) until r has more than n notices. */
static bool wait_notices(struct recorder *r, int n)
{
    struct timespec until;
    bool more;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&r->lock);
    while (r->n <= n && pthread_cond_timedwait(&r->cond, &r->lock, &until) == 0)
        ;
    more = r->n > n;
    pthread_mutex_unlock(&r->lock);
    return more;
}

struct notice_in {
    const char *topic, *arg;
    bool fail; /* fail the unit after notifying: the notice goes with its rollback */
};

static int notify_unit(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    const struct notice_in *in = ctx;
    int rc = rp_store_notify(c, in->topic, in->arg, err);
    if (rc == 0 && in->fail)
        rc = rp_error_set(err, RP_ECONFLICT, "failed on purpose");
    return rc;
}

static int terminate_listeners(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    (void)ctx;
    return rp_store_exec_script(c,
                                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                " WHERE application_name = 'rapport-listen'",
                                err);
}

static void test_notices(void **state)
{
    struct fx *f = *state;
    struct recorder mine = {.n = 0}, theirs = {.n = 0};
    struct rp_store *other = NULL;
    uint64_t notices = 0, connects = 0;
    int n;

    pthread_mutex_init(&mine.lock, NULL);
    pthread_cond_init(&mine.cond, NULL);
    pthread_mutex_init(&theirs.lock, NULL);
    pthread_cond_init(&theirs.cond, NULL);
    /* malformed topics and arguments are refused on both engines */
    assert_int_equal(rp_store_write(f->s, notify_unit, &(struct notice_in){"Meta", NULL}, &f->err),
                     RP_EINVAL);
    rp_error_clear(&f->err);
    assert_int_equal(rp_store_write(f->s, notify_unit, &(struct notice_in){"", NULL}, &f->err),
                     RP_EINVAL);
    rp_error_clear(&f->err);
    assert_int_equal(rp_store_listen(f->s, &f->err), 0);
    assert_int_equal(rp_store_listen(f->s, &f->err), 0); /* idempotent */
    rp_store_subscribe(f->s, record_notice, &mine);
    if (!rp_test_store_is_pg()) {
        /* one process per file: notices are accepted and go nowhere */
        assert_int_equal(
            rp_store_write(f->s, notify_unit, &(struct notice_in){"meta", "contact"}, &f->err), 0);
        rp_store_unsubscribe(f->s, record_notice, &mine);
        assert_int_equal(mine.n, 0);
        goto out;
    }
    assert_int_equal(
        rp_store_open(getenv("RP_TEST_PG_URL"), &(struct rp_store_config){0}, &other, &f->err), 0);
    rp_store_subscribe(other, record_notice, &theirs);
    assert_int_equal(rp_store_listen(other, &f->err), 0);
    /* each listener's first LISTEN asks for a reload of everything */
    assert_true(wait_notices(&theirs, 0));
    assert_string_equal(theirs.seen[0], "* ");
    assert_true(wait_notices(&mine, 0));
    assert_string_equal(mine.seen[0], "* ");

    /* committed: delivered to the other store, not to the sender */
    assert_int_equal(
        rp_store_write(f->s, notify_unit, &(struct notice_in){"meta", "contact"}, &f->err), 0);
    assert_true(wait_notices(&theirs, 1));
    assert_string_equal(theirs.seen[1], "meta contact");
    /* rolled back: never delivered; the next committed one arrives next */
    assert_int_equal(
        rp_store_write(f->s, notify_unit, &(struct notice_in){"token", "t1", true}, &f->err),
        RP_ECONFLICT);
    rp_error_clear(&f->err);
    assert_int_equal(rp_store_write(f->s, notify_unit, &(struct notice_in){"acl", NULL}, &f->err),
                     0);
    assert_true(wait_notices(&theirs, 2));
    assert_string_equal(theirs.seen[2], "acl ");
    /* and the other way round */
    assert_int_equal(
        rp_store_write(other, notify_unit, &(struct notice_in){"user", "u-1"}, &f->err), 0);
    assert_true(wait_notices(&mine, 1));
    assert_string_equal(mine.seen[1], "user u-1");
    pthread_mutex_lock(&mine.lock);
    assert_int_equal(mine.n, 2); /* nothing of its own came back */
    pthread_mutex_unlock(&mine.lock);

    /* a cut connection: the listeners come back and ask for a reload of everything */
    pthread_mutex_lock(&theirs.lock);
    n = theirs.n;
    pthread_mutex_unlock(&theirs.lock);
    assert_int_equal(rp_store_write(f->s, terminate_listeners, NULL, &f->err), 0);
    assert_true(wait_notices(&theirs, n));
    assert_string_equal(theirs.seen[n], "* ");
    rp_store_listen_stats(other, &notices, &connects);
    assert_int_equal(connects, 2);
    assert_true(notices >= 4);
    /* and hear what is sent after */
    assert_int_equal(
        rp_store_write(f->s, notify_unit, &(struct notice_in){"meta", "lead"}, &f->err), 0);
    assert_true(wait_notices(&theirs, n + 1));
    assert_string_equal(theirs.seen[n + 1], "meta lead");

    rp_store_unsubscribe(other, record_notice, &theirs);
    rp_store_close(other);
    rp_store_unsubscribe(f->s, record_notice, &mine);
out:
    pthread_mutex_destroy(&mine.lock);
    pthread_cond_destroy(&mine.cond);
    pthread_mutex_destroy(&theirs.lock);
    pthread_cond_destroy(&theirs.cond);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_values_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unique_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflict_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_and_unit_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_savepoint_in_unit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyset_pagination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_reconnects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notices, setup, teardown),
    };
    return cmocka_run_group_tests_name(rp_test_store_is_pg() ? "store conformance (postgres)"
                                                             : "store conformance (sqlite)",
                                       tests, NULL, NULL);
}
