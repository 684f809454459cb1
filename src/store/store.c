/*
 * The generic store: what every engine shares. The reader pool, the queue of write units,
 * the writer thread that runs every queued unit in one transaction and commits once (group
 * commit), fault injection and statistics. The engine behind a store (struct store_driver,
 * store_int.h) runs the SQL: store_sqlite.c for SQLite files, store_pg.c for PostgreSQL.
 */
#include "store/store.h"
#include "store/store_int.h"
#include "base/arena.h"
#include "base/json.h"
#include "base/log.h"
#include "base/uuid.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define QUEUE_MAX   20000
#define READERS_MAX 32

struct write_unit {
    rp_store_write_fn fn;
    rp_store_done_fn done;
    void *ctx;
    struct rp_error *err;
    int rc;
    struct write_unit *next;
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

/* ---- running SQL: the driver does it; fault injection and conflicts are common ---- */

int rp_store_query(struct rp_store_conn *c, const struct rp_sql *q, rp_store_row_fn fn, void *ctx,
                   struct rp_error *err)
{
    if (rp_sql_error(q))
        return rp_error_set(err, RP_ETOOBIG, "query too large");
    c->conflict[0] = '\0';
    if (fault_due(c->owner, c)) {
        rp_log_warn("injected fault (RP_FAULT) on: %s", q->text.data);
        return rp_error_set(err, RP_EDB, "could not run a database query");
    }
    return c->owner ? c->owner->drv->query(c, q, fn, ctx, err)
                    : rp_error_set(err, RP_EINTERNAL, "connection without a store");
}

int rp_store_exec(struct rp_store_conn *c, const struct rp_sql *q, int64_t *changes,
                  struct rp_error *err)
{
    int rc = rp_store_query(c, q, NULL, NULL, err);
    if (rc == 0 && changes)
        *changes = c->owner->drv->changes(c);
    return rc;
}

int rp_store_exec_script(struct rp_store_conn *c, const char *sql, struct rp_error *err)
{
    return c->owner->drv->exec_script(c, sql, err);
}

const char *rp_store_conflict_index(struct rp_store_conn *c)
{
    return c->conflict;
}

enum rp_sql_dialect rp_store_conn_dialect(const struct rp_store_conn *c)
{
    return c->owner->drv->dialect;
}

static int exec_simple(struct rp_store_conn *c, const char *sql)
{
    return c->owner->drv->exec_simple(c, sql);
}

int rp_store_query_int(struct rp_store_conn *c, const char *sql, int64_t *out, struct rp_error *err)
{
    struct rp_arena a;
    struct rp_sql q;
    int rc;

    rp_arena_init(&a);
    rp_sql_init(&q, &a, RP_SQL_SQLITE);
    rp_sql_add(&q, sql);
    rc = rp_store_query(c, &q, rp_store_row_int, out, err);
    rp_arena_release(&a);
    return rc;
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
    uint64_t failed_allocs;

    for (struct write_unit *u = head; u; u = u->next) {
        rp_error_clear(u->err);
        if (savepoints && rp_store_savepoint(w, "unit") != 0) {
            u->rc = rp_error_set(u->err, RP_EDB, "could not start a transaction");
            continue;
        }
        failed_allocs = rp_json_failed_allocs();
        u->rc = u->fn(w, u->ctx, u->err);
        /* a JSON value built in the unit may lack what a failed allocation left out (jansson's
           setters only return -1): the unit is not trusted then and rolls back (fault injection
           only; elsewhere jansson's allocations abort, base/json.h) */
        if (u->rc == 0 && rp_json_failed_allocs() != failed_allocs)
            u->rc = rp_json_error_alloc(u->err);
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
    int rc = exec_simple(w, s->drv->begin_sql);

    if (rc == 0) {
        ok = run_units(s, head, false);
        if (!ok) {
            exec_simple(w, "ROLLBACK");
            rc = head->next ? exec_simple(w, s->drv->begin_sql) : RP_EINTERNAL;
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

/* ---- notices between processes ---- */

static bool topic_is_valid(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = t[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.'))
            return false;
    }
    return true;
}

int rp_store_notify(struct rp_store_conn *c, const char *topic, const char *arg,
                    struct rp_error *err)
{
    struct rp_store *s = c->owner;
    char payload[24 + 1 + 32 + 1 + 256 + 1];
    struct rp_arena a;
    struct rp_sql q;
    int rc;

    if (!topic_is_valid(topic) || (arg && strlen(arg) > 256))
        return rp_error_set(err, RP_EINVAL, "malformed configuration notice");
    if (!s || !s->drv->notify_sql)
        return 0;
    snprintf(payload, sizeof(payload), "%s %s%s%s", s->instance, topic, arg && *arg ? " " : "",
             arg ? arg : "");
    rp_arena_init(&a);
    rp_sql_init(&q, &a, RP_SQL_SQLITE);
    {
        const struct rp_value v = rp_value_cstr(payload);
        rp_sql_add_fragment(&q, s->drv->notify_sql, &v, 1);
    }
    rc = rp_store_query(c, &q, NULL, NULL, err);
    rp_arena_release(&a);
    return rc;
}

void rp_store_subscribe(struct rp_store *s, rp_store_notice_fn fn, void *ctx)
{
    pthread_mutex_lock(&s->sub_lock);
    if (s->nsubs < RP_STORE_SUBSCRIBERS_MAX)
        s->subs[s->nsubs++] = (struct store_subscriber){fn, ctx};
    else
        rp_log_error("too many configuration subscribers; one is ignored");
    pthread_mutex_unlock(&s->sub_lock);
}

void rp_store_unsubscribe(struct rp_store *s, rp_store_notice_fn fn, void *ctx)
{
    pthread_mutex_lock(&s->sub_lock);
    for (size_t i = 0; i < s->nsubs; i++) {
        if (s->subs[i].fn == fn && s->subs[i].ctx == ctx) {
            memmove(&s->subs[i], &s->subs[i + 1], (s->nsubs - i - 1) * sizeof(s->subs[0]));
            s->nsubs--;
            break;
        }
    }
    pthread_mutex_unlock(&s->sub_lock);
}

static void deliver(struct rp_store *s, const char *topic, const char *arg)
{
    atomic_fetch_add(&s->notices, 1);
    pthread_mutex_lock(&s->sub_lock);
    for (size_t i = 0; i < s->nsubs; i++)
        s->subs[i].fn(s->subs[i].ctx, topic, arg);
    pthread_mutex_unlock(&s->sub_lock);
}

void rp_store_deliver(struct rp_store *s, const char *payload)
{
    char topic[33];
    const char *sp = strchr(payload, ' '), *arg;
    size_t n;

    /* Malformed payloads (another program on the channel) are ignored. */
    if (!sp || (size_t)(sp - payload) != strlen(s->instance))
        return;
    if (memcmp(payload, s->instance, (size_t)(sp - payload)) == 0)
        return; /* our own: this process updated its copies after its commit */
    arg = strchr(sp + 1, ' ');
    n = arg ? (size_t)(arg - sp - 1) : strlen(sp + 1);
    if (n == 0 || n >= sizeof(topic))
        return;
    memcpy(topic, sp + 1, n);
    topic[n] = '\0';
    if (!topic_is_valid(topic))
        return;
    deliver(s, topic, arg ? arg + 1 : "");
}

void rp_store_deliver_all(struct rp_store *s)
{
    deliver(s, RP_STORE_NOTICE_ALL, "");
}

int rp_store_listen(struct rp_store *s, struct rp_error *err)
{
    int rc = 0;

    pthread_mutex_lock(&s->sub_lock);
    if (!s->listening && s->drv->listen_start) {
        rc = s->drv->listen_start(s, err);
        s->listening = rc == 0;
    }
    pthread_mutex_unlock(&s->sub_lock);
    return rc;
}

void rp_store_listen_stats(struct rp_store *s, uint64_t *notices, uint64_t *connects)
{
    *notices = atomic_load(&s->notices);
    *connects = atomic_load(&s->listen_connects);
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
            if (s->drv->conn_open(s, false, &c, &err) == 0) {
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
    if (s->drv->in_transaction(c)) {
        rp_log_warn("a read connection came back inside a transaction; rolling it back");
        s->drv->exec_simple(c, "ROLLBACK");
    }
    pthread_mutex_lock(&s->pool_lock);
    c->next_free = s->free_readers;
    s->free_readers = c;
    pthread_cond_signal(&s->pool_cond);
    pthread_mutex_unlock(&s->pool_lock);
}

/* ---- open and close ---- */

static bool is_pg_url(const char *url)
{
    return url && (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0);
}

static void store_free(struct rp_store *s)
{
    if (s->writer)
        s->drv->conn_close(s->writer);
    while (s->free_readers) {
        struct rp_store_conn *c = s->free_readers;
        s->free_readers = c->next_free;
        s->drv->conn_close(c);
    }
    s->drv->close(s);
    free(s->url);
    pthread_mutex_destroy(&s->pool_lock);
    pthread_cond_destroy(&s->pool_cond);
    pthread_mutex_destroy(&s->queue_lock);
    pthread_cond_destroy(&s->queue_cond);
    pthread_cond_destroy(&s->stop_cond);
    pthread_mutex_destroy(&s->sub_lock);
    free(s);
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
    /* A memory store is a private SQLite file; a PostgreSQL URL always names a database. */
    if (!s->cfg.memory && is_pg_url(url)) {
        s->drv = &rp_store_driver_pg;
        s->url = rp_xstrdup(url);
    } else {
        s->drv = &rp_store_driver_sqlite;
        s->temp = s->cfg.memory;
        if (!s->temp)
            s->url = rp_xstrdup(strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url);
    }
    pthread_mutex_init(&s->pool_lock, NULL);
    pthread_cond_init(&s->pool_cond, NULL);
    pthread_mutex_init(&s->queue_lock, NULL);
    pthread_cond_init(&s->queue_cond, NULL);
    pthread_cond_init(&s->stop_cond, NULL);
    pthread_mutex_init(&s->sub_lock, NULL);
    {
        unsigned char raw[8];
        rp_random_bytes(raw, sizeof(raw));
        for (size_t i = 0; i < sizeof(raw); i++)
            snprintf(s->instance + 2 * i, 3, "%02x", raw[i]);
    }

    rc = s->drv->open(s, err);
    if (rc < 0) {
        free(s->url);
        pthread_mutex_destroy(&s->pool_lock);
        pthread_cond_destroy(&s->pool_cond);
        pthread_mutex_destroy(&s->queue_lock);
        pthread_cond_destroy(&s->queue_cond);
        pthread_cond_destroy(&s->stop_cond);
        pthread_mutex_destroy(&s->sub_lock);
        free(s);
        return rc;
    }
    rc = s->drv->conn_open(s, true, &s->writer, err);
    if (rc < 0)
        goto fail;
    s->writer->owner = s;
    rc = s->drv->migrate(s->writer, &s->schema_version, err);
    if (rc < 0)
        goto fail;
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
    if (s->drv->start && (rc = s->drv->start(s, err)) < 0) {
        pthread_mutex_lock(&s->queue_lock);
        s->stopping = true;
        pthread_cond_signal(&s->queue_cond);
        pthread_mutex_unlock(&s->queue_lock);
        pthread_join(s->writer_thread, NULL);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    store_free(s);
    return rc;
}

void rp_store_close(struct rp_store *s)
{
    if (!s)
        return;
    /* The listener's subscribers read through the pool: stop it while the pool is whole. */
    if (s->listening)
        s->drv->listen_stop(s);
    s->listening = false;
    pthread_mutex_lock(&s->queue_lock);
    s->stopping = true;
    pthread_cond_signal(&s->queue_cond);
    pthread_cond_broadcast(&s->stop_cond);
    pthread_mutex_unlock(&s->queue_lock);
    pthread_join(s->writer_thread, NULL);
    if (s->drv->stop)
        s->drv->stop(s);
    store_free(s);
}

enum rp_sql_dialect rp_store_dialect(const struct rp_store *s)
{
    return s->drv->dialect;
}

int rp_store_schema_version(struct rp_store *s)
{
    return s->schema_version;
}

int rp_store_backup(struct rp_store *s, const char *path, struct rp_error *err)
{
    return s->drv->backup(s, path, err);
}

int rp_store_integrity_check(struct rp_store *s, struct rp_error *err)
{
    return s->drv->integrity_check(s, err);
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
