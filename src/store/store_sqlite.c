/*
 * SQLite driver: one writer connection owned by the writer thread, a pool of
 * read connections, WAL with synchronous=FULL so a commit is durable when it
 * returns, and a per-connection statement cache keyed by SQL text.
 *
 * The writer takes every queued unit (up to max_batch), runs each inside a
 * savepoint of one BEGIN IMMEDIATE transaction, commits once, and only then
 * reports each unit's result: one fsync covers the whole group.
 */
#include "store/store.h"
#include "store/store_int.h"
#include "base/arena.h"
#include "base/limits.h"
#include "base/log.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <unistd.h>

#define STMT_CACHE_SLOTS 512 /* power of two */
#define READERS_MAX      32
#define QUEUE_MAX        20000

struct stmt_slot {
    char *sql;
    sqlite3_stmt *stmt;
};

struct rp_store_conn {
    sqlite3 *db;
    struct stmt_slot cache[STMT_CACHE_SLOTS];
    size_t ncached;
    char conflict[128];
    struct rp_store_conn *next_free;
    struct rp_store *owner; /* for fault injection; NULL before rp_store_open sets it */
};

struct write_unit {
    rp_store_write_fn fn;
    rp_store_done_fn done;
    void *ctx;
    struct rp_error *err;
    int rc;
    struct write_unit *next;
};

struct rp_store {
    char *path;
    bool temp; /* unlink path at close */
    int schema_version;
    struct rp_store_config cfg;

    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    struct rp_store_conn *free_readers;
    unsigned nreaders;

    struct rp_store_conn *writer;
    pthread_t writer_thread;
    pthread_t checkpoint_thread;
    rp_store_precommit_fn precommit; /* per group, before COMMIT */
    void *precommit_ctx;
    struct rp_store_conn *checkpointer; /* its own connection: copies the WAL back */
    pthread_cond_t stop_cond;
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_cond;
    struct write_unit *queue_head, *queue_tail;
    size_t queue_len;
    bool stopping;

    _Atomic uint64_t commits, units, units_failed;
    _Atomic uint64_t fault_left; /* queries until the injected fault; 0 = none armed */
    _Atomic bool fault_fired;
    _Atomic bool fault_on_writer; /* the fault fired on the writer's connection (in a unit) */
};

#ifndef RP_FAULT_INJECTION
#define RP_FAULT_INJECTION 0
#endif

/*
 * Fault injection (debug builds): true for the query that is due to fail. Counting every
 * query of every connection of the store makes "the Nth store call" well defined within a
 * single-threaded test; a server under concurrent load counts them in some order.
 */
static bool fault_due(struct rp_store *s, const struct rp_store_conn *c)
{
    uint64_t left;

    if (!RP_FAULT_INJECTION || !s)
        return false;
    left = atomic_load(&s->fault_left);
    while (left > 0) {
        if (atomic_compare_exchange_weak(&s->fault_left, &left, left - 1)) {
            if (left != 1)
                return false;
            atomic_store(&s->fault_on_writer, c == s->writer);
            atomic_store(&s->fault_fired, true);
            return true;
        }
    }
    return false;
}

void rp_store_fault_arm(struct rp_store *s, uint64_t n)
{
    atomic_store(&s->fault_fired, false);
    atomic_store(&s->fault_left, RP_FAULT_INJECTION ? n : 0);
}

bool rp_store_fault_fired(struct rp_store *s)
{
    return atomic_load(&s->fault_fired);
}

bool rp_store_fault_fired_in_unit(struct rp_store *s)
{
    return atomic_load(&s->fault_fired) && atomic_load(&s->fault_on_writer);
}

static int conn_open(const char *path, bool writer, struct rp_store_conn **out,
                     struct rp_error *err)
{
    struct rp_store_conn *c = rp_xcalloc(1, sizeof(*c));
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    char *msg = NULL;
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);

    if (rc != SQLITE_OK) {
        rp_log_error("could not open database \"%s\": %s", path,
                     c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sqlite3_close(c->db);
        free(c);
        return rp_error_set(err, RP_EIO, "could not open database \"%s\": %s", path,
                            sqlite3_errstr(rc));
    }
    sqlite3_busy_timeout(c->db, 10000);
    sqlite3_extended_result_codes(c->db, 1);
    /* WAL makes readers independent of the writer; FULL makes each commit durable. */
    rc = sqlite3_exec(c->db,
                      writer ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                               "PRAGMA foreign_keys=OFF; PRAGMA cache_size=-32768;"
                               "PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=67108864;"
                               "PRAGMA temp_store=MEMORY;"
                             : "PRAGMA synchronous=FULL; PRAGMA cache_size=-4096;"
                               "PRAGMA query_only=ON; PRAGMA mmap_size=4294967296;",
                      NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        rp_log_error("could not configure database \"%s\": %s", path, msg ? msg : "");
        sqlite3_free(msg);
        sqlite3_close(c->db);
        free(c);
        return rp_error_set(err, RP_EIO, "could not open database \"%s\": not a usable SQLite file",
                            path);
    }
    *out = c;
    return 0;
}

static void conn_close(struct rp_store_conn *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < STMT_CACHE_SLOTS; i++) {
        if (c->cache[i].stmt) {
            sqlite3_finalize(c->cache[i].stmt);
            free(c->cache[i].sql);
        }
    }
    sqlite3_close(c->db);
    free(c);
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211u;
    return h;
}

static void cache_clear(struct rp_store_conn *c)
{
    for (size_t i = 0; i < STMT_CACHE_SLOTS; i++) {
        if (c->cache[i].stmt) {
            sqlite3_finalize(c->cache[i].stmt);
            free(c->cache[i].sql);
            c->cache[i].stmt = NULL;
            c->cache[i].sql = NULL;
        }
    }
    c->ncached = 0;
}

/* Returns a reset statement for sql, preparing and caching it on first use. */
static int conn_prepare(struct rp_store_conn *c, const char *sql, sqlite3_stmt **out,
                        struct rp_error *err)
{
    uint64_t h = hash_str(sql);
    size_t i, mask = STMT_CACHE_SLOTS - 1;
    sqlite3_stmt *st = NULL;
    int rc;

    for (i = h & mask;; i = (i + 1) & mask) {
        if (!c->cache[i].stmt)
            break;
        if (strcmp(c->cache[i].sql, sql) == 0) {
            *out = c->cache[i].stmt;
            return 0;
        }
    }
    rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        rp_log_error("could not prepare statement: %s; sql: %s", sqlite3_errmsg(c->db), sql);
        return rp_error_set(err, RP_EDB, "could not run a database query");
    }
    if (c->ncached >= STMT_CACHE_SLOTS / 2) {
        cache_clear(c);
        for (i = h & mask; c->cache[i].stmt; i = (i + 1) & mask)
            ;
    }
    c->cache[i].sql = rp_xstrdup(sql);
    c->cache[i].stmt = st;
    c->ncached++;
    *out = st;
    return 0;
}

static int bind_params(struct rp_store_conn *c, sqlite3_stmt *st, const struct rp_sql *q,
                       struct rp_error *err)
{
    for (size_t i = 0; i < q->nparams; i++) {
        const struct rp_value *v = &q->params[i];
        int idx = (int)i + 1, rc;
        switch (v->type) {
        case RP_V_NULL:
            rc = sqlite3_bind_null(st, idx);
            break;
        case RP_V_BOOL:
            rc = sqlite3_bind_int64(st, idx, v->u.b ? 1 : 0);
            break;
        case RP_V_NUM:
            rc = sqlite3_bind_double(st, idx, v->u.d);
            break;
        case RP_V_TEXT:
            rc = sqlite3_bind_text64(st, idx, v->u.s.len ? v->u.s.p : "", v->u.s.len, SQLITE_STATIC,
                                     SQLITE_UTF8);
            break;
        default:
            rc = sqlite3_bind_int64(st, idx, v->u.i);
            break;
        }
        if (rc != SQLITE_OK) {
            rp_log_error("could not bind parameter %d: %s", idx, sqlite3_errmsg(c->db));
            return rp_error_set(err, RP_EDB, "could not run a database query");
        }
    }
    return 0;
}

static int step_error(struct rp_store_conn *c, int rc, const char *sql, struct rp_error *err)
{
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        const char *m = sqlite3_errmsg(c->db), *colon = strstr(m, ": ");
        snprintf(c->conflict, sizeof(c->conflict), "%s", colon ? colon + 2 : "");
        return rp_error_set(err, RP_ECONFLICT, "a record with the same unique value exists");
    }
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
        rp_log_warn("database busy: %s", sqlite3_errmsg(c->db));
        return rp_error_set(err, RP_EBUSY, "the database is busy; retry shortly");
    }
    rp_log_error("database error %d: %s; sql: %s", rc, sqlite3_errmsg(c->db), sql);
    return rp_error_set(err, RP_EDB, "could not run a database query");
}

int rp_store_query(struct rp_store_conn *c, const struct rp_sql *q, rp_store_row_fn fn, void *ctx,
                   struct rp_error *err)
{
    sqlite3_stmt *st = NULL;
    struct rp_value cols[RP_LIMIT_FIELDS_PER_RECORD + 16]; /* a row of the widest object */
    int rc;

    if (rp_sql_error(q))
        return rp_error_set(err, RP_ETOOBIG, "query too large");
    c->conflict[0] = '\0';
    if (fault_due(c->owner, c)) {
        rp_log_warn("injected fault (RP_FAULT) on: %s", q->text.data);
        return rp_error_set(err, RP_EDB, "could not run a database query");
    }
    rc = conn_prepare(c, q->text.data, &st, err);
    if (rc < 0)
        return rc;
    rc = bind_params(c, st, q, err);
    if (rc < 0)
        goto out;
    for (;;) {
        int n, src = sqlite3_step(st);
        if (src == SQLITE_DONE) {
            rc = 0;
            break;
        }
        if (src != SQLITE_ROW) {
            rc = step_error(c, src, q->text.data, err);
            break;
        }
        if (!fn)
            continue;
        n = sqlite3_column_count(st);
        if (n > (int)(sizeof(cols) / sizeof(cols[0]))) {
            rc = rp_error_set(err, RP_EINTERNAL, "a query returned more columns than a record has");
            break;
        }
        for (int i = 0; i < n; i++) {
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_INTEGER:
                cols[i] = rp_value_int(sqlite3_column_int64(st, i));
                break;
            case SQLITE_FLOAT:
                cols[i] = rp_value_num(sqlite3_column_double(st, i));
                break;
            case SQLITE_NULL:
                cols[i] = rp_value_null();
                break;
            default: {
                const char *p = (const char *)sqlite3_column_text(st, i);
                cols[i] = rp_value_text(p ? p : "", (size_t)sqlite3_column_bytes(st, i));
            }
            }
        }
        rc = fn(ctx, cols, (size_t)n);
        if (rc != 0) {
            if (rc > 0)
                rc = 0;
            break;
        }
    }
out:
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int rp_store_exec(struct rp_store_conn *c, const struct rp_sql *q, int64_t *changes,
                  struct rp_error *err)
{
    int rc = rp_store_query(c, q, NULL, NULL, err);
    if (rc == 0 && changes)
        *changes = sqlite3_changes64(c->db);
    return rc;
}

int rp_store_exec_script(struct rp_store_conn *c, const char *sql, struct rp_error *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        rp_log_error("could not run script: %s; sql: %.200s", msg ? msg : "", sql);
        sqlite3_free(msg);
        return rp_error_set(err, RP_EDB, "could not change the database schema");
    }
    /* Schema changes invalidate cached statements; drop them rather than re-prepare lazily. */
    cache_clear(c);
    return 0;
}

const char *rp_store_conflict_index(struct rp_store_conn *c)
{
    return c->conflict;
}

static int exec_simple(struct rp_store_conn *c, const char *sql)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        rp_log_error("%s failed: %s", sql, sqlite3_errmsg(c->db));
    return rc == SQLITE_OK ? 0 : RP_EDB;
}

int rp_store_savepoint(struct rp_store_conn *c, const char *name)
{
    char sql[96];
    snprintf(sql, sizeof(sql), "SAVEPOINT \"%s\"", name);
    return exec_simple(c, sql);
}

int rp_store_release(struct rp_store_conn *c, const char *name)
{
    char sql[96];
    snprintf(sql, sizeof(sql), "RELEASE \"%s\"", name);
    return exec_simple(c, sql);
}

int rp_store_rollback_to(struct rp_store_conn *c, const char *name)
{
    char sql[96];
    snprintf(sql, sizeof(sql), "ROLLBACK TO \"%s\"; RELEASE \"%s\"", name, name);
    return exec_simple(c, sql);
}

/* ---- the writer ---- */

/*
 * Runs every unit of a group in order. With savepoints, a failing unit is rolled back alone
 * and the others go on; without, the first failure stops the run (returns false) and the
 * caller rolls the whole transaction back.
 */
static bool run_units(struct rp_store *s, struct write_unit *head, bool savepoints)
{
    struct rp_store_conn *w = s->writer;

    for (struct write_unit *u = head; u; u = u->next) {
        rp_error_clear(u->err);
        if (savepoints && rp_store_savepoint(w, "unit") != 0) {
            u->rc = rp_error_set(u->err, RP_EDB, "could not start a transaction");
            continue;
        }
        u->rc = u->fn(w, u->ctx, u->err);
        atomic_fetch_add(&s->units, 1);
        if (u->rc != 0)
            atomic_fetch_add(&s->units_failed, 1);
        if (!savepoints) {
            if (u->rc != 0)
                return false;
            continue;
        }
        if (u->rc == 0)
            rp_store_release(w, "unit");
        else
            rp_store_rollback_to(w, "unit");
    }
    return true;
}

/*
 * One group, one transaction. Units first run without savepoints: a savepoint per unit costs
 * a statement journal and makes FTS5 flush its pending terms once per row. If a unit fails,
 * the transaction is rolled back and, when others shared it, the group runs again with a
 * savepoint per unit so the failure stays its own. Units are therefore written to be run
 * more than once (store.h).
 */
static void run_group(struct rp_store *s, struct write_unit *head)
{
    struct rp_store_conn *w = s->writer;
    struct write_unit *u;
    bool ok;
    int rc = exec_simple(w, "BEGIN IMMEDIATE");

    if (rc == 0) {
        ok = run_units(s, head, false);
        if (!ok) {
            exec_simple(w, "ROLLBACK");
            rc = head->next ? exec_simple(w, "BEGIN IMMEDIATE") : RP_EINTERNAL;
            if (rc == 0)
                run_units(s, head, true);
            else if (!head->next)
                rc = 1; /* the only unit failed: nothing to commit, its error stands */
        }
    }
    if (rc == 0 && s->precommit) {
        struct rp_error perr;
        rp_error_init(&perr, NULL);
        if (s->precommit(w, s->precommit_ctx, &perr) < 0) {
            rp_log_error("pre-commit work failed (%s); rolling the group back",
                         rp_err_name(perr.code));
            exec_simple(w, "ROLLBACK");
            rc = RP_EDB;
        }
    }
    if (rc == 0) {
        rc = exec_simple(w, "COMMIT");
        if (rc != 0) {
            exec_simple(w, "ROLLBACK");
            for (u = head; u; u = u->next) {
                if (u->rc == 0)
                    u->rc = rp_error_set(u->err, RP_EDB, "could not commit the transaction");
            }
        } else {
            atomic_fetch_add(&s->commits, 1);
        }
    } else if (rc < 0) {
        for (u = head; u; u = u->next)
            if (u->rc == 0)
                u->rc = rp_error_set(u->err, RP_EDB, "could not commit the transaction");
    }
    while (head) {
        u = head;
        head = u->next;
        if (u->done)
            u->done(u->ctx, u->rc);
        free(u);
    }
}

static void *writer_main(void *arg)
{
    struct rp_store *s = arg;

    for (;;) {
        struct write_unit *head, *tail;
        size_t n = 0;

        pthread_mutex_lock(&s->queue_lock);
        while (!s->queue_head && !s->stopping)
            pthread_cond_wait(&s->queue_cond, &s->queue_lock);
        if (!s->queue_head) {
            pthread_mutex_unlock(&s->queue_lock);
            break;
        }
        head = tail = s->queue_head;
        for (n = 1; tail->next && n < s->cfg.max_batch; n++)
            tail = tail->next;
        s->queue_head = tail->next;
        if (!s->queue_head)
            s->queue_tail = NULL;
        s->queue_len -= n;
        tail->next = NULL;
        pthread_mutex_unlock(&s->queue_lock);
        run_group(s, head);
    }
    return NULL;
}

/*
 * Checkpoints run here rather than inside the writer's commits (SQLite's automatic
 * checkpoint would make every thousandth commit copy and fsync the database file while
 * writes wait). PASSIVE never blocks the writer or the readers.
 */
#define CHECKPOINT_INTERVAL_MS 200

#define CHECKPOINT_RESTART_FRAMES 8192 /* about 32 MiB of WAL at 4 KiB pages */

/*
 * Under continuous writes a passive checkpoint never catches up with the end of the WAL,
 * and the WAL can only start over once it has; past a size, one RESTART checkpoint waits
 * for the writer's current commit, finishes the copy and lets the next commit reuse the
 * file from its start.
 */
static void checkpoint_once(struct rp_store *s)
{
    int log = 0, done = 0;
    sqlite3_wal_checkpoint_v2(s->checkpointer->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    if (log > CHECKPOINT_RESTART_FRAMES)
        sqlite3_wal_checkpoint_v2(s->checkpointer->db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
}

static void *checkpoint_main(void *arg)
{
    struct rp_store *s = arg;

    pthread_mutex_lock(&s->queue_lock);
    while (!s->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += CHECKPOINT_INTERVAL_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->stop_cond, &s->queue_lock, &until);
        if (s->stopping)
            break;
        pthread_mutex_unlock(&s->queue_lock);
        checkpoint_once(s);
        pthread_mutex_lock(&s->queue_lock);
    }
    pthread_mutex_unlock(&s->queue_lock);
    return NULL;
}

void rp_store_set_precommit(struct rp_store *s, rp_store_precommit_fn fn, void *ctx)
{
    pthread_mutex_lock(&s->queue_lock);
    s->precommit = fn;
    s->precommit_ctx = ctx;
    pthread_mutex_unlock(&s->queue_lock);
}

int rp_store_write_submit(struct rp_store *s, rp_store_write_fn fn, rp_store_done_fn done,
                          void *ctx, struct rp_error *err)
{
    struct write_unit *u;

    pthread_mutex_lock(&s->queue_lock);
    if (s->stopping || s->queue_len >= QUEUE_MAX) {
        pthread_mutex_unlock(&s->queue_lock);
        return rp_error_set(err, RP_EBUSY, "too many writes are waiting; retry shortly");
    }
    u = rp_xcalloc(1, sizeof(*u));
    u->fn = fn;
    u->done = done;
    u->ctx = ctx;
    u->err = err;
    if (s->queue_tail)
        s->queue_tail->next = u;
    else
        s->queue_head = u;
    s->queue_tail = u;
    s->queue_len++;
    pthread_cond_signal(&s->queue_cond);
    pthread_mutex_unlock(&s->queue_lock);
    return 0;
}

struct sync_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool finished;
    int rc;
};

static void sync_done(void *ctx, int rc)
{
    struct sync_wait *w = ctx;
    pthread_mutex_lock(&w->lock);
    w->finished = true;
    w->rc = rc;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

struct sync_unit {
    rp_store_write_fn fn;
    void *ctx;
    struct sync_wait wait;
};

static int sync_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct sync_unit *su = ctx;
    return su->fn(c, su->ctx, err);
}

static void sync_unit_done(void *ctx, int rc)
{
    struct sync_unit *su = ctx;
    sync_done(&su->wait, rc);
}

int rp_store_write(struct rp_store *s, rp_store_write_fn fn, void *ctx, struct rp_error *err)
{
    struct sync_unit su = {.fn = fn, .ctx = ctx};
    int rc;

    pthread_mutex_init(&su.wait.lock, NULL);
    pthread_cond_init(&su.wait.cond, NULL);
    rc = rp_store_write_submit(s, sync_run, sync_unit_done, &su, err);
    if (rc == 0) {
        pthread_mutex_lock(&su.wait.lock);
        while (!su.wait.finished)
            pthread_cond_wait(&su.wait.cond, &su.wait.lock);
        pthread_mutex_unlock(&su.wait.lock);
        rc = su.wait.rc;
    }
    pthread_mutex_destroy(&su.wait.lock);
    pthread_cond_destroy(&su.wait.cond);
    return rc;
}

/* ---- readers ---- */

struct rp_store_conn *rp_store_reader_acquire(struct rp_store *s)
{
    struct rp_store_conn *c = NULL;
    struct rp_error err;

    pthread_mutex_lock(&s->pool_lock);
    for (;;) {
        if (s->free_readers) {
            c = s->free_readers;
            s->free_readers = c->next_free;
            break;
        }
        if (s->nreaders < READERS_MAX) {
            s->nreaders++;
            pthread_mutex_unlock(&s->pool_lock);
            rp_error_init(&err, NULL);
            if (conn_open(s->path, false, &c, &err) == 0) {
                c->owner = s;
                return c;
            }
            /* Opening failed (file gone, fds exhausted): wait for a pooled one instead. */
            pthread_mutex_lock(&s->pool_lock);
            s->nreaders--;
        }
        pthread_cond_wait(&s->pool_cond, &s->pool_lock);
    }
    pthread_mutex_unlock(&s->pool_lock);
    return c;
}

void rp_store_reader_release(struct rp_store *s, struct rp_store_conn *c)
{
    if (!c)
        return;
    /* A read transaction whose COMMIT failed is still open: ending it here keeps the
       connection from refusing every later BEGIN and from pinning an old snapshot. */
    if (!sqlite3_get_autocommit(c->db)) {
        rp_log_warn("a read connection came back inside a transaction; rolling it back");
        exec_simple(c, "ROLLBACK");
    }
    pthread_mutex_lock(&s->pool_lock);
    c->next_free = s->free_readers;
    s->free_readers = c;
    pthread_cond_signal(&s->pool_cond);
    pthread_mutex_unlock(&s->pool_lock);
}

/* ---- open and close ---- */

static char *temp_db_path(void)
{
    char tmpl[] = "/tmp/rapport-test-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return NULL;
    close(fd);
    return rp_xstrdup(tmpl);
}

int rp_store_open(const char *url, const struct rp_store_config *cfg, struct rp_store **out,
                  struct rp_error *err)
{
    struct rp_store *s = rp_xcalloc(1, sizeof(*s));
    int rc;

    if (cfg)
        s->cfg = *cfg;
    if (!s->cfg.max_batch)
        s->cfg.max_batch = 512;
    if (s->cfg.memory) {
        s->path = temp_db_path();
        s->temp = true;
        if (!s->path) {
            free(s);
            return rp_error_set(err, RP_EIO, "could not create a temporary database");
        }
    } else {
        if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
            free(s);
            return rp_error_set(err, RP_EUNSUPPORTED,
                                "the PostgreSQL driver is not built yet; use a SQLite file");
        }
        if (strncmp(url, "sqlite:", 7) == 0)
            url += 7;
        s->path = rp_xstrdup(url);
    }
    pthread_mutex_init(&s->pool_lock, NULL);
    pthread_cond_init(&s->pool_cond, NULL);
    pthread_mutex_init(&s->queue_lock, NULL);
    pthread_cond_init(&s->queue_cond, NULL);
    pthread_cond_init(&s->stop_cond, NULL);

    rc = conn_open(s->path, true, &s->writer, err);
    if (rc < 0)
        goto fail;
    rc = rp_store_migrate_sqlite(s->writer, &s->schema_version, err);
    if (rc < 0)
        goto fail;
    /* Planner statistics: sampled (cheap on large tables), taken once, refreshed at close. */
    exec_simple(s->writer, "PRAGMA analysis_limit=1000");
    rc = conn_open(s->path, false, &s->checkpointer, err);
    if (rc < 0)
        goto fail;
    s->writer->owner = s;
    {
        /* RP_FAULT=store:N fails the Nth query after opening (debug builds; see store.h). */
        const char *f = getenv("RP_FAULT");
        if (f && strncmp(f, "store:", 6) == 0)
            rp_store_fault_arm(s, strtoull(f + 6, NULL, 10));
    }
    if (pthread_create(&s->writer_thread, NULL, writer_main, s) != 0) {
        rc = rp_error_set(err, RP_EINTERNAL, "could not start the writer thread");
        goto fail;
    }
    if (pthread_create(&s->checkpoint_thread, NULL, checkpoint_main, s) != 0) {
        pthread_mutex_lock(&s->queue_lock);
        s->stopping = true;
        pthread_cond_signal(&s->queue_cond);
        pthread_mutex_unlock(&s->queue_lock);
        pthread_join(s->writer_thread, NULL);
        rc = rp_error_set(err, RP_EINTERNAL, "could not start the checkpoint thread");
        goto fail;
    }
    *out = s;
    return 0;
fail:
    conn_close(s->checkpointer);
    conn_close(s->writer);
    if (s->temp)
        unlink(s->path);
    free(s->path);
    pthread_mutex_destroy(&s->pool_lock);
    pthread_cond_destroy(&s->pool_cond);
    pthread_mutex_destroy(&s->queue_lock);
    pthread_cond_destroy(&s->queue_cond);
    pthread_cond_destroy(&s->stop_cond);
    free(s);
    return rc;
}

void rp_store_close(struct rp_store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->queue_lock);
    s->stopping = true;
    pthread_cond_signal(&s->queue_cond);
    pthread_cond_signal(&s->stop_cond);
    pthread_mutex_unlock(&s->queue_lock);
    pthread_join(s->writer_thread, NULL);
    pthread_join(s->checkpoint_thread, NULL);
    conn_close(s->checkpointer);
    exec_simple(s->writer, "PRAGMA optimize");
    sqlite3_wal_checkpoint_v2(s->writer->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    while (s->free_readers) {
        struct rp_store_conn *c = s->free_readers;
        s->free_readers = c->next_free;
        conn_close(c);
    }
    conn_close(s->writer);
    if (s->temp) {
        char side[4096];
        unlink(s->path);
        snprintf(side, sizeof(side), "%s-wal", s->path);
        unlink(side);
        snprintf(side, sizeof(side), "%s-shm", s->path);
        unlink(side);
    }
    free(s->path);
    pthread_mutex_destroy(&s->pool_lock);
    pthread_cond_destroy(&s->pool_cond);
    pthread_mutex_destroy(&s->queue_lock);
    pthread_cond_destroy(&s->queue_cond);
    pthread_cond_destroy(&s->stop_cond);
    free(s);
}

enum rp_sql_dialect rp_store_dialect(const struct rp_store *s)
{
    (void)s;
    return RP_SQL_SQLITE;
}

int rp_store_schema_version(struct rp_store *s)
{
    return s->schema_version;
}

int rp_store_backup(struct rp_store *s, const char *path, struct rp_error *err)
{
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *b;
    int rc = RP_EIO;

    if (sqlite3_open_v2(s->path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK) {
        rp_error_set(err, RP_EIO, "could not open backup target \"%s\"", path);
        goto out;
    }
    sqlite3_busy_timeout(src, 10000);
    b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
        rp_error_set(err, RP_EIO, "could not start the backup: %s", sqlite3_errmsg(dst));
        goto out;
    }
    /* One step copies everything inside one read transaction: a consistent snapshot. */
    if (sqlite3_backup_step(b, -1) != SQLITE_DONE) {
        sqlite3_backup_finish(b);
        rp_error_set(err, RP_EIO, "could not copy the database: %s", sqlite3_errmsg(dst));
        goto out;
    }
    if (sqlite3_backup_finish(b) != SQLITE_OK) {
        rp_error_set(err, RP_EIO, "could not finish the backup: %s", sqlite3_errmsg(dst));
        goto out;
    }
    rc = 0;
out:
    sqlite3_close(dst);
    sqlite3_close(src);
    return rc;
}

/* The first column of the first row as an integer (-1 when there is none). */
static int64_t file_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Whether PRAGMA integrity_check answers exactly one row, "ok". */
static bool file_intact(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    bool ok = false;

    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        ok = t && strcmp((const char *)t, "ok") == 0 && sqlite3_step(st) == SQLITE_DONE;
    }
    sqlite3_finalize(st);
    return ok;
}

int rp_store_restore(const char *backup, const char *target, bool force, int *version,
                     struct rp_error *err)
{
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *b;
    int64_t v, tables;
    int rc = RP_EIO;

    if (sqlite3_open_v2(backup, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        rp_error_set(err, RP_EIO, "could not open backup \"%s\"", backup);
        goto out;
    }
    sqlite3_busy_timeout(src, 10000);
    v = file_int(src, "SELECT user_version FROM pragma_user_version");
    if (file_int(src, "SELECT count(*) FROM sqlite_master") < 0) {
        rc = rp_error_set(err, RP_EDB, "\"%s\" is not a SQLite database", backup);
        goto out;
    }
    if (!file_intact(src)) {
        rc = rp_error_set(err, RP_EDB, "backup \"%s\" failed its integrity check", backup);
        goto out;
    }
    if (v < 1 || v > rp_store_migrations_latest()) {
        rc = rp_error_set(err, RP_EDB,
                          "backup \"%s\" has schema version %lld; this rapport knows 1 to %d",
                          backup, (long long)v, rp_store_migrations_latest());
        goto out;
    }
    if (sqlite3_open_v2(target, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        rp_error_set(err, RP_EIO, "could not open restore target \"%s\"", target);
        goto out;
    }
    sqlite3_busy_timeout(dst, 10000);
    tables = file_int(dst, "SELECT count(*) FROM sqlite_master");
    if (tables < 0 && !force) {
        rc = rp_error_set(err, RP_ECONFLICT, "\"%s\" is not an empty database; --force replaces it",
                          target);
        goto out;
    }
    if (tables > 0 && !force) {
        rc = rp_error_set(err, RP_ECONFLICT, "\"%s\" already holds a database; --force replaces it",
                          target);
        goto out;
    }
    b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
        rp_error_set(err, RP_EIO, "could not start the restore: %s", sqlite3_errmsg(dst));
        goto out;
    }
    if (sqlite3_backup_step(b, -1) != SQLITE_DONE) {
        sqlite3_backup_finish(b);
        rp_error_set(err, RP_EIO, "could not copy the backup: %s", sqlite3_errmsg(dst));
        goto out;
    }
    if (sqlite3_backup_finish(b) != SQLITE_OK) {
        rp_error_set(err, RP_EIO, "could not finish the restore: %s", sqlite3_errmsg(dst));
        goto out;
    }
    if (version)
        *version = (int)v;
    rc = 0;
out:
    sqlite3_close(dst);
    sqlite3_close(src);
    return rc;
}

static int integrity_row(void *ctx, const struct rp_value *cols, size_t n)
{
    bool *ok = ctx;
    if (n < 1 || cols[0].type != RP_V_TEXT || cols[0].u.s.len != 2 ||
        memcmp(cols[0].u.s.p, "ok", 2) != 0)
        *ok = false;
    return 0;
}

int rp_store_integrity_check(struct rp_store *s, struct rp_error *err)
{
    struct rp_store_conn *c = rp_store_reader_acquire(s);
    struct rp_arena a;
    struct rp_sql q;
    bool ok = true;
    int rc;

    rp_arena_init(&a);
    rp_sql_init(&q, &a, RP_SQL_SQLITE);
    rp_sql_add(&q, "PRAGMA integrity_check");
    rc = rp_store_query(c, &q, integrity_row, &ok, err);
    rp_store_reader_release(s, c);
    rp_arena_release(&a);
    if (rc == 0 && !ok)
        rc = rp_error_set(err, RP_EDB, "integrity check failed");
    return rc;
}

void rp_store_stats(struct rp_store *s, struct rp_store_stats *out)
{
    out->commits = atomic_load(&s->commits);
    out->units = atomic_load(&s->units);
    out->units_failed = atomic_load(&s->units_failed);
    pthread_mutex_lock(&s->queue_lock);
    out->queue_depth = s->queue_len;
    pthread_mutex_unlock(&s->queue_lock);
}

int rp_store_row_exists(void *ctx, const struct rp_value *cols, size_t ncols)
{
    (void)cols;
    (void)ncols;
    *(bool *)ctx = true;
    return 1;
}

int rp_store_row_int(void *ctx, const struct rp_value *cols, size_t ncols)
{
    int64_t *out = ctx;
    if (ncols > 0 && cols[0].type == RP_V_INT)
        *out = cols[0].u.i;
    else if (ncols > 0 && cols[0].type == RP_V_TEXT)
        *out = strtoll(cols[0].u.s.p, NULL, 10);
    return 1;
}
