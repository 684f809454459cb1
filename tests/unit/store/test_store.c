/* Unit tests for src/store: the writer's group commit, unit isolation, conflicts, readers,
 * backups and migrations on a real SQLite file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/arena.h"
#include "store/store.h"

struct fixture {
    struct rp_store *s;
    struct rp_arena a;
    struct rp_error err;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    rp_arena_init(&f->a);
    rp_error_init(&f->err, &f->a);
    assert_int_equal(rp_store_open(NULL, &(struct rp_store_config){.memory = true}, &f->s, &f->err),
                     0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    rp_store_close(f->s);
    rp_arena_release(&f->a);
    free(f);
    return 0;
}

static int exec_text(struct rp_store_conn *c, const char *sql, struct rp_error *err)
{
    struct rp_arena a;
    struct rp_sql q;
    int rc;
    rp_arena_init(&a);
    rp_sql_init(&q, &a, RP_SQL_SQLITE);
    rp_sql_add(&q, sql);
    rc = rp_store_exec(c, &q, NULL, err);
    rp_arena_release(&a);
    return rc;
}

static int create_table(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    (void)ctx;
    return rp_store_exec_script(c, "CREATE TABLE t (k TEXT UNIQUE, v INTEGER)", err);
}

struct insert {
    const char *k;
    int64_t v;
};

static int insert_row(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct insert *in = ctx;
    struct rp_arena a;
    struct rp_sql q;
    int rc;
    rp_arena_init(&a);
    rp_sql_init(&q, &a, RP_SQL_SQLITE);
    rp_sql_add(&q, "INSERT INTO t(k, v) VALUES (");
    rp_sql_param(&q, rp_value_cstr(in->k));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_int(in->v));
    rp_sql_add(&q, ")");
    rc = rp_store_exec(c, &q, NULL, err);
    rp_arena_release(&a);
    return rc;
}

static int count_row(void *ctx, const struct rp_value *cols, size_t n)
{
    assert_true(n >= 1);
    *(int64_t *)ctx = cols[0].u.i;
    return 0;
}

static int64_t count(struct rp_store *s, const char *sql)
{
    struct rp_store_conn *c = rp_store_reader_acquire(s);
    struct rp_arena a;
    struct rp_error err;
    struct rp_sql q;
    int64_t n = -1;
    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rp_sql_init(&q, &a, RP_SQL_SQLITE);
    rp_sql_add(&q, sql);
    assert_int_equal(rp_store_query(c, &q, count_row, &n, &err), 0);
    rp_store_reader_release(s, c);
    rp_arena_release(&a);
    return n;
}

static void test_migrated(void **state)
{
    struct fixture *f = *state;
    assert_true(rp_store_schema_version(f->s) >= 1);
    assert_int_equal(count(f->s, "SELECT count(*) FROM rp_change"), 0);
}

static void test_unit_failure_is_isolated(void **state)
{
    struct fixture *f = *state;
    struct insert a = {"a", 1}, dup = {"a", 2}, b = {"b", 3};

    assert_int_equal(rp_store_write(f->s, create_table, NULL, &f->err), 0);
    assert_int_equal(rp_store_write(f->s, insert_row, &a, &f->err), 0);
    assert_int_equal(rp_store_write(f->s, insert_row, &dup, &f->err), RP_ECONFLICT);
    rp_error_clear(&f->err);
    assert_int_equal(rp_store_write(f->s, insert_row, &b, &f->err), 0);
    assert_int_equal(count(f->s, "SELECT count(*) FROM t"), 2);
    assert_int_equal(count(f->s, "SELECT v FROM t WHERE k = 'a'"), 1);
}

/* Many threads write at once: every unit commits, in fewer transactions than units. */
struct writer_arg {
    struct rp_store *s;
    int id;
};

static void *writer(void *p)
{
    struct writer_arg *w = p;
    for (int i = 0; i < 50; i++) {
        char k[32];
        struct insert in = {k, i};
        struct rp_arena a;
        struct rp_error err;
        snprintf(k, sizeof(k), "w%d-%d", w->id, i);
        rp_arena_init(&a);
        rp_error_init(&err, &a);
        assert_int_equal(rp_store_write(w->s, insert_row, &in, &err), 0);
        rp_arena_release(&a);
    }
    return NULL;
}

static void test_group_commit(void **state)
{
    struct fixture *f = *state;
    pthread_t th[8];
    struct writer_arg args[8];
    struct rp_store_stats st;

    assert_int_equal(rp_store_write(f->s, create_table, NULL, &f->err), 0);
    for (int i = 0; i < 8; i++) {
        args[i].s = f->s;
        args[i].id = i;
        pthread_create(&th[i], NULL, writer, &args[i]);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(count(f->s, "SELECT count(*) FROM t"), 400);
    rp_store_stats(f->s, &st);
    assert_true(st.units >= 401);
    assert_true(st.commits <= st.units);
}

/* A gate unit holds the writer so that the next units queue up and form one group. */
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool entered, open;
};

static int gate_unit(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct gate *g = ctx;
    (void)c;
    (void)err;
    pthread_mutex_lock(&g->lock);
    g->entered = true;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
    return 0;
}

struct counted {
    struct insert in;
    int runs;
    int rc;
    bool done;
    struct rp_error err;
};

static int counted_unit(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct counted *u = ctx;
    u->runs++;
    return insert_row(c, &u->in, err);
}

static void counted_done(void *ctx, int rc)
{
    struct counted *u = ctx;
    u->rc = rc;
    __atomic_store_n(&u->done, true, __ATOMIC_RELEASE);
}

static void gate_done(void *ctx, int rc)
{
    (void)ctx;
    (void)rc;
}

/* One failing unit in a group: the group is retried with savepoints and only it fails. */
static void test_failure_inside_a_group(void **state)
{
    struct fixture *f = *state;
    struct gate g = {.entered = false, .open = false};
    struct counted u[5];
    const char *keys[5] = {"k1", "k2", "dup", "k4", "k5"};
    struct insert first = {"dup", 0};
    struct rp_error gerr;
    bool retried = false;

    assert_int_equal(rp_store_write(f->s, create_table, NULL, &f->err), 0);
    assert_int_equal(rp_store_write(f->s, insert_row, &first, &f->err), 0);
    pthread_mutex_init(&g.lock, NULL);
    pthread_cond_init(&g.cond, NULL);
    rp_error_init(&gerr, &f->a);
    assert_int_equal(rp_store_write_submit(f->s, gate_unit, gate_done, &g, &gerr), 0);
    pthread_mutex_lock(&g.lock);
    while (!g.entered)
        pthread_cond_wait(&g.cond, &g.lock);
    pthread_mutex_unlock(&g.lock);
    for (int i = 0; i < 5; i++) {
        u[i] = (struct counted){.in = {keys[i], i}};
        rp_error_init(&u[i].err, &f->a);
        assert_int_equal(rp_store_write_submit(f->s, counted_unit, counted_done, &u[i], &u[i].err),
                         0);
    }
    pthread_mutex_lock(&g.lock);
    g.open = true;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
    for (int i = 0; i < 5; i++) {
        while (!__atomic_load_n(&u[i].done, __ATOMIC_ACQUIRE))
            usleep(1000);
        assert_int_equal(u[i].rc, i == 2 ? RP_ECONFLICT : 0);
        retried |= u[i].runs > 1;
    }
    assert_true(retried);
    assert_int_equal(count(f->s, "SELECT count(*) FROM t"), 5);
    assert_int_equal(count(f->s, "SELECT v FROM t WHERE k = 'dup'"), 0);
    pthread_mutex_destroy(&g.lock);
    pthread_cond_destroy(&g.cond);
}

static void test_backup_and_integrity(void **state)
{
    struct fixture *f = *state;
    struct insert a = {"x", 7};
    struct rp_store *copy;
    char path[] = "/tmp/rapport-backup-XXXXXX";
    int fd = mkstemp(path);

    close(fd);
    unlink(path);
    assert_int_equal(rp_store_write(f->s, create_table, NULL, &f->err), 0);
    assert_int_equal(rp_store_write(f->s, insert_row, &a, &f->err), 0);
    assert_int_equal(rp_store_backup(f->s, path, &f->err), 0);
    assert_int_equal(rp_store_integrity_check(f->s, &f->err), 0);
    assert_int_equal(rp_store_open(path, NULL, &copy, &f->err), 0);
    assert_int_equal(count(copy, "SELECT v FROM t WHERE k = 'x'"), 7);
    assert_int_equal(rp_store_integrity_check(copy, &f->err), 0);
    rp_store_close(copy);
    unlink(path);
}

static void test_bad_sql_is_an_error_not_a_crash(void **state)
{
    struct fixture *f = *state;
    struct rp_store_conn *c = rp_store_reader_acquire(f->s);
    assert_int_equal(exec_text(c, "SELECT * FROM no_such_table", &f->err), RP_EDB);
    /* Readers are read-only. */
    rp_error_clear(&f->err);
    assert_int_not_equal(exec_text(c, "CREATE TABLE z (a)", &f->err), 0);
    rp_store_reader_release(f->s, c);
}

static void test_open_errors(void **state)
{
    struct fixture *f = *state;
    struct rp_store *s = NULL;
    rp_error_clear(&f->err);
    assert_int_equal(rp_store_open("/nonexistent-dir/x.db", NULL, &s, &f->err), RP_EIO);
    rp_error_clear(&f->err);
    /* Nothing listens on port 1: the PostgreSQL driver reports it as an I/O error. */
    assert_int_equal(rp_store_open("postgres://127.0.0.1:1/x?connect_timeout=2", NULL, &s, &f->err),
                     RP_EIO);
}

/* The whole file at path into buf (at most cap bytes); returns its length. */
static size_t slurp(const char *path, char *buf, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    size_t n;

    assert_non_null(fp);
    n = fread(buf, 1, cap, fp);
    fclose(fp);
    return n;
}

/*
 * A SQLite file of another application, and a file that is not SQLite, are refused, and left
 * byte for byte as they were: no schema added, not switched to WAL.
 */
static void test_foreign_file_is_left_alone(void **state)
{
    static const char *const contents[] = {
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL);"
        "INSERT INTO orders VALUES (1, 9.5);",
        NULL /* a text file */};
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof(contents) / sizeof(contents[0]); i++) {
        char path[] = "/tmp/rp-foreign-XXXXXX", wal[64];
        static char before[65536], after[65536];
        struct rp_store *s = NULL;
        size_t n;
        int fd = mkstemp(path);

        assert_true(fd >= 0);
        if (contents[i]) {
            sqlite3 *db = NULL;
            close(fd);
            assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
            assert_int_equal(sqlite3_exec(db, contents[i], NULL, NULL, NULL), SQLITE_OK);
            sqlite3_close(db);
        } else {
            assert_int_equal(write(fd, "name,email\nLi,li@example.cn\n", 29), 29);
            close(fd);
        }
        n = slurp(path, before, sizeof(before));
        rp_error_clear(&f->err);
        assert_int_equal(rp_store_open(path, NULL, &s, &f->err), RP_EIO);
        assert_null(s);
        assert_non_null(strstr(f->err.detail, "is not a rapport database"));
        assert_int_equal(slurp(path, after, sizeof(after)), n);
        assert_memory_equal(before, after, n);
        snprintf(wal, sizeof(wal), "%s-wal", path);
        assert_int_not_equal(access(wal, F_OK), 0);
        unlink(path);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unit_failure_is_isolated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_inside_a_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_and_integrity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_sql_is_an_error_not_a_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_file_is_left_alone, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
