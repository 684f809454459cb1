/*
 * SQLite driver (struct store_driver, store_int.h): WAL with synchronous=FULL so a commit is
 * durable when it returns, a per-connection statement cache keyed by SQL text, and WAL
 * checkpoints on their own thread and connection. The writer (store.c) runs each group in
 * one BEGIN IMMEDIATE transaction and commits once: one fsync covers the whole group.
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

struct stmt_slot {
    char *sql;
    sqlite3_stmt *stmt;
};

/* A SQLite connection: the common head, then the engine's handle and statement cache. */
struct sqlite_conn {
    struct rp_store_conn base;
    sqlite3 *db;
    struct stmt_slot cache[STMT_CACHE_SLOTS];
    size_t ncached;
};

struct sqlite_state {
    struct sqlite_conn *checkpointer; /* its own connection: copies the WAL back */
    pthread_t checkpoint_thread;
    bool checkpointing;
};

#define SQ(c) ((struct sqlite_conn *)(c))

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

/*
 * Whether db is another application's database: it has tables, none of them ours (rp_change
 * came with migration 1). Asked before anything is set or created, so such a file is left
 * exactly as it was: not switched to WAL, no schema added. A file that is not SQLite at all
 * fails here too (the PRAGMAs after would say the same).
 */
static bool is_foreign(sqlite3 *db)
{
    /* 1: foreign; 0: ours or empty; -1: unreadable, so not ours either */
    return file_int(db, "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table')"
                        " AND NOT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table'"
                        " AND name = 'rp_change')") != 0;
}

static int conn_open_path(const char *path, bool writer, struct sqlite_conn **out,
                          struct rp_error *err)
{
    struct sqlite_conn *c = rp_xcalloc(1, sizeof(*c));
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
    if (writer && is_foreign(c->db)) {
        sqlite3_close(c->db);
        free(c);
        return rp_error_set(err, RP_EIO,
                            "\"%s\" is not a rapport database (a SQLite database of another "
                            "application, or not SQLite at all); it was left as it was",
                            path);
    }
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

static int conn_open(struct rp_store *s, bool writer, struct rp_store_conn **out,
                     struct rp_error *err)
{
    struct sqlite_conn *c = NULL;
    int rc = conn_open_path(s->url, writer, &c, err);
    if (rc == 0)
        *out = &c->base;
    return rc;
}

static void conn_close_sqlite(struct sqlite_conn *c)
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

static void conn_close(struct rp_store_conn *c)
{
    conn_close_sqlite(SQ(c));
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211u;
    return h;
}

static void cache_clear(struct sqlite_conn *c)
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
static int conn_prepare(struct sqlite_conn *c, const char *sql, sqlite3_stmt **out,
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

static int bind_params(struct sqlite_conn *c, sqlite3_stmt *st, const struct rp_sql *q,
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

static int step_error(struct sqlite_conn *c, int rc, const char *sql, struct rp_error *err)
{
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        const char *m = sqlite3_errmsg(c->db), *colon = strstr(m, ": ");
        snprintf(c->base.conflict, sizeof(c->base.conflict), "%s", colon ? colon + 2 : "");
        return rp_error_set(err, RP_ECONFLICT, "a record with the same unique value exists");
    }
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
        rp_log_warn("database busy: %s", sqlite3_errmsg(c->db));
        return rp_error_set(err, RP_EBUSY, "the database is busy; retry shortly");
    }
    rp_log_error("database error %d: %s; sql: %s", rc, sqlite3_errmsg(c->db), sql);
    return rp_error_set(err, RP_EDB, "could not run a database query");
}

static int query(struct rp_store_conn *conn, const struct rp_sql *q, rp_store_row_fn fn, void *ctx,
                 struct rp_error *err)
{
    struct sqlite_conn *c = SQ(conn);
    sqlite3_stmt *st = NULL;
    struct rp_value cols[RP_LIMIT_FIELDS_PER_RECORD + 16]; /* a row of the widest object */
    int rc;

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

static int64_t changes(struct rp_store_conn *c)
{
    return sqlite3_changes64(SQ(c)->db);
}

static int exec_script(struct rp_store_conn *conn, const char *sql, struct rp_error *err)
{
    struct sqlite_conn *c = SQ(conn);
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

static int exec_simple(struct rp_store_conn *c, const char *sql)
{
    int rc = sqlite3_exec(SQ(c)->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        rp_log_error("%s failed: %s", sql, sqlite3_errmsg(SQ(c)->db));
    return rc == SQLITE_OK ? 0 : RP_EDB;
}

static bool in_transaction(struct rp_store_conn *c)
{
    return !sqlite3_get_autocommit(SQ(c)->db);
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
    struct sqlite_state *st = s->drv_state;
    int log = 0, done = 0;
    sqlite3_wal_checkpoint_v2(st->checkpointer->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    if (log > CHECKPOINT_RESTART_FRAMES)
        sqlite3_wal_checkpoint_v2(st->checkpointer->db, NULL, SQLITE_CHECKPOINT_RESTART, NULL,
                                  NULL);
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

static char *temp_db_path(void)
{
    char tmpl[] = "/tmp/rapport-test-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return NULL;
    close(fd);
    return rp_xstrdup(tmpl);
}

static int sqlite_open(struct rp_store *s, struct rp_error *err)
{
    if (s->temp) {
        s->url = temp_db_path();
        if (!s->url)
            return rp_error_set(err, RP_EIO, "could not create a temporary database");
    }
    s->drv_state = rp_xcalloc(1, sizeof(struct sqlite_state));
    return 0;
}

static int sqlite_migrate(struct rp_store_conn *c, int *version, struct rp_error *err)
{
    int rc = rp_store_migrate_sqlite(c, version, err);
    /* Planner statistics: sampled (cheap on large tables), taken once, refreshed at close. */
    if (rc == 0)
        exec_simple(c, "PRAGMA analysis_limit=1000");
    return rc;
}

static int sqlite_start(struct rp_store *s, struct rp_error *err)
{
    struct sqlite_state *st = s->drv_state;
    int rc = conn_open_path(s->url, false, &st->checkpointer, err);

    if (rc < 0)
        return rc;
    if (pthread_create(&st->checkpoint_thread, NULL, checkpoint_main, s) != 0)
        return rp_error_set(err, RP_EINTERNAL, "could not start the checkpoint thread");
    st->checkpointing = true;
    return 0;
}

static void sqlite_stop(struct rp_store *s)
{
    struct sqlite_state *st = s->drv_state;

    if (st->checkpointing)
        pthread_join(st->checkpoint_thread, NULL);
    st->checkpointing = false;
    conn_close_sqlite(st->checkpointer);
    st->checkpointer = NULL;
    if (s->writer) {
        exec_simple(s->writer, "PRAGMA optimize");
        sqlite3_wal_checkpoint_v2(SQ(s->writer)->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    }
}

static void sqlite_close(struct rp_store *s)
{
    struct sqlite_state *st = s->drv_state;

    if (st)
        conn_close_sqlite(st->checkpointer);
    free(st);
    if (s->temp && s->url) {
        char side[4096];
        unlink(s->url);
        snprintf(side, sizeof(side), "%s-wal", s->url);
        unlink(side);
        snprintf(side, sizeof(side), "%s-shm", s->url);
        unlink(side);
    }
}

/*
 * Copies the whole of src into dst with SQLite's backup API. One step copies everything inside
 * one read transaction: a consistent snapshot. what ("backup", "restore") and source ("database",
 * "backup") name them in errors. Returns 0, or RP_EIO with err set.
 */
static int copy_whole(sqlite3 *dst, sqlite3 *src, const char *what, const char *source,
                      struct rp_error *err)
{
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");

    if (!b)
        return rp_error_set(err, RP_EIO, "could not start the %s: %s", what, sqlite3_errmsg(dst));
    if (sqlite3_backup_step(b, -1) != SQLITE_DONE) {
        sqlite3_backup_finish(b);
        return rp_error_set(err, RP_EIO, "could not copy the %s: %s", source, sqlite3_errmsg(dst));
    }
    if (sqlite3_backup_finish(b) != SQLITE_OK)
        return rp_error_set(err, RP_EIO, "could not finish the %s: %s", what, sqlite3_errmsg(dst));
    return 0;
}

static int backup(struct rp_store *s, const char *path, struct rp_error *err)
{
    sqlite3 *src = NULL, *dst = NULL;
    int rc = RP_EIO;

    if (sqlite3_open_v2(s->url, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK) {
        rp_error_set(err, RP_EIO, "could not open backup target \"%s\"", path);
        goto out;
    }
    sqlite3_busy_timeout(src, 10000);
    if (copy_whole(dst, src, "backup", "database", err) < 0)
        goto out;
    rc = 0;
out:
    sqlite3_close(dst);
    sqlite3_close(src);
    return rc;
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
    if (v < 1 || v > rp_store_migrations_sqlite_count()) {
        rc = rp_error_set(err, RP_EDB,
                          "backup \"%s\" has schema version %lld; this rapport knows 1 to %d",
                          backup, (long long)v, rp_store_migrations_sqlite_count());
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
    if (copy_whole(dst, src, "restore", "backup", err) < 0)
        goto out;
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

static int integrity_check(struct rp_store *s, struct rp_error *err)
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

const struct store_driver rp_store_driver_sqlite = {
    .name = "sqlite",
    .dialect = RP_SQL_SQLITE,
    .begin_sql = "BEGIN IMMEDIATE",
    .open = sqlite_open,
    .start = sqlite_start,
    .stop = sqlite_stop,
    .close = sqlite_close,
    .conn_open = conn_open,
    .conn_close = conn_close,
    .query = query,
    .changes = changes,
    .exec_script = exec_script,
    .exec_simple = exec_simple,
    .in_transaction = in_transaction,
    .migrate = sqlite_migrate,
    .backup = backup,
    .integrity_check = integrity_check,
};
