/*
 * The store: one interface over SQLite (embedded default) and PostgreSQL
 * (store_pg.c). Callers compose SQL with struct rp_sql (parameterised) and run
 * it on a connection. Text written with ?N markers (RP_SQL_SQLITE) runs on
 * both engines: the PostgreSQL driver renumbers the markers as $N. SQL that
 * differs between engines takes its pieces from rp_sql_idiom() (base/sql.h).
 *
 * Reads: each worker thread borrows a read connection from a small pool
 * (rp_store_reader_acquire/release); each connection caches its prepared
 * statements by SQL text, so the same query shape is prepared once.
 *
 * Writes: every mutation is a unit of work (rp_store_write_fn) run by the
 * single writer thread. The writer takes every unit queued, runs them in one
 * transaction and commits once (group commit); only then is each unit's
 * completion called with its result. A unit that fails is rolled back without
 * affecting the others (the group is re-run with a savepoint per unit). Nothing
 * is acknowledged before its commit is durable (WAL, synchronous=FULL).
 *
 * Row values: INTEGER columns arrive as RP_V_INT, REAL as RP_V_NUM, TEXT as
 * RP_V_TEXT (borrowed until the row callback returns), NULL as RP_V_NULL.
 * Parameters of types BOOL, MONEY, DATE and DATETIME bind as integers.
 *
 * Thread-safety: rp_store_* functions are thread-safe except that a
 * connection is used by one thread at a time.
 */
#ifndef RP_STORE_STORE_H
#define RP_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/sql.h"
#include "base/value.h"

struct rp_store;
struct rp_store_conn;

struct rp_store_config {
    unsigned readers;   /* read connections in the pool, default 4 */
    unsigned max_batch; /* largest commit group, default 512 */
    bool memory;        /* a private in-memory database (tests); url is ignored */
};

/**
 * Opens (creating if needed) the database at url: a file path, "sqlite:PATH",
 * or a PostgreSQL URL ("postgres://..." or "postgresql://..."). Applies the system migrations and starts the writer thread.
 * Returns 0, or RP_EIO/RP_EDB/RP_EUNSUPPORTED with err set.
 */
int rp_store_open(const char *url, const struct rp_store_config *cfg, struct rp_store **out,
                  struct rp_error *err);
/** Drains queued writes, stops the writer and closes every connection. NULL allowed. */
void rp_store_close(struct rp_store *s);

enum rp_sql_dialect rp_store_dialect(const struct rp_store *s);
/** The dialect of the store c belongs to (for SQL built inside a write unit). */
enum rp_sql_dialect rp_store_conn_dialect(const struct rp_store_conn *c);
/** Schema version after migrations. */
int rp_store_schema_version(struct rp_store *s);

struct rp_store_conn *rp_store_reader_acquire(struct rp_store *s);
void rp_store_reader_release(struct rp_store *s, struct rp_store_conn *c);

/** Called for each row; return 0 to go on, 1 to stop early, or a negative code. */
typedef int (*rp_store_row_fn)(void *ctx, const struct rp_value *cols, size_t ncols);

/** Row callback: sets *(bool *)ctx and stops (does a row exist?). */
int rp_store_row_exists(void *ctx, const struct rp_value *cols, size_t ncols);
/**
 * Row callback: the first column of the first row as an integer into *(int64_t *)ctx (an
 * INTEGER, or TEXT holding a number as rp_setting does), and stops. Leaves *ctx alone on NULL.
 */
int rp_store_row_int(void *ctx, const struct rp_value *cols, size_t ncols);

/** Runs q; rows go to fn (may be NULL). Returns 0, the callback's negative code, or RP_EDB
 *  (unique violations: RP_ECONFLICT) with err set; SQL and engine text go only to the log. */
int rp_store_query(struct rp_store_conn *c, const struct rp_sql *q, rp_store_row_fn fn, void *ctx,
                   struct rp_error *err);
/** Runs q for its effect; *changes (may be NULL) gets the number of rows changed. */
int rp_store_exec(struct rp_store_conn *c, const struct rp_sql *q, int64_t *changes,
                  struct rp_error *err);
/** Runs parameterless SQL, possibly several statements (DDL). */
int rp_store_exec_script(struct rp_store_conn *c, const char *sql, struct rp_error *err);
/** Name of the unique index a RP_ECONFLICT came from ("" if unknown); valid until next call. */
const char *rp_store_conflict_index(struct rp_store_conn *c);

/**
 * A unit of work run by the writer inside the group's transaction. Return 0 to keep its
 * effects; on failure its effects are rolled back and the others' are not. A unit may be
 * run more than once before its fate is decided (the group is retried with per-unit
 * savepoints when one unit fails), so it must start from its inputs each time and not keep
 * state from an earlier run; err is cleared before each run.
 */
typedef int (*rp_store_write_fn)(struct rp_store_conn *c, void *ctx, struct rp_error *err);
/** Called on the writer thread once the unit's fate is durable: rc is 0 or its failure. */
typedef void (*rp_store_done_fn)(void *ctx, int rc);

/**
 * Queues a unit. err must stay valid until done runs; done must not block.
 * Returns 0, or RP_EBUSY when the queue is full (nothing is queued then).
 */
int rp_store_write_submit(struct rp_store *s, rp_store_write_fn fn, rp_store_done_fn done,
                          void *ctx, struct rp_error *err);
/** Queues a unit and waits for its durable result. Returns the unit's rc. */
int rp_store_write(struct rp_store *s, rp_store_write_fn fn, void *ctx, struct rp_error *err);

/**
 * Work that runs once per commit group, after its units and before COMMIT, inside the same
 * transaction (e.g. maintaining indexes for every row the group wrote at once). A failure
 * rolls the whole group back. Set before writes start; one hook per store.
 */
typedef int (*rp_store_precommit_fn)(struct rp_store_conn *c, void *ctx, struct rp_error *err);
void rp_store_set_precommit(struct rp_store *s, rp_store_precommit_fn fn, void *ctx);

/*
 * Configuration notices between processes on one database. Processes keep copies of
 * configuration in memory (the metadata snapshot, the access-control snapshot, verified
 * tokens); when one process changes such configuration it calls rp_store_notify inside the
 * writer unit that makes the change, so the notice is sent only if and when that transaction
 * commits (on PostgreSQL: pg_notify on the channel "rapport_config"). Every other process whose
 * store listens (rp_store_listen) calls its subscribers with the notice's topic and argument,
 * on its listening thread, shortly after the commit; the owners of the copies reload or drop
 * them. The process that sent a notice does not receive it: it updates its own copies itself
 * after the commit, as it always has.
 *
 * The listener keeps one connection of its own and reconnects with backoff when it breaks;
 * since notices sent meanwhile are lost, after every (re)connection each subscriber is called
 * with topic RP_STORE_NOTICE_ALL ("*"): reload everything. On SQLite (one serving process per
 * file) notices go nowhere and listening does nothing.
 */
#define RP_STORE_NOTICE_ALL "*"

/** A notice: topic (e.g. "meta", "acl", "token", or "*") and its argument ("" when none). */
typedef void (*rp_store_notice_fn)(void *ctx, const char *topic, const char *arg);

/**
 * Inside a writer unit on c: announces that the configuration named by topic (lower-case
 * letters, digits, '_' or '.', at most 32 bytes) changed; arg (may be NULL; at most 256 bytes,
 * no NUL) says which item (a token's id, a user's id). Rolled back with the unit. Returns 0,
 * RP_EINVAL for a malformed topic or arg, or the query's error.
 */
int rp_store_notify(struct rp_store_conn *c, const char *topic, const char *arg,
                    struct rp_error *err);
/**
 * Calls fn(ctx, topic, arg) for every notice another process sends, on the listening thread.
 * fn must not call rp_store_subscribe or rp_store_unsubscribe; it may read (readers) and write.
 * Thread-safe; at most 16 subscribers.
 */
void rp_store_subscribe(struct rp_store *s, rp_store_notice_fn fn, void *ctx);
/** Removes a subscription; when it returns, fn is not running and will not be called again. */
void rp_store_unsubscribe(struct rp_store *s, rp_store_notice_fn fn, void *ctx);
/**
 * Starts listening for other processes' notices (a serving process does; CLI commands need
 * not). Idempotent; stopped by rp_store_close. Returns 0 or RP_EINTERNAL (no thread). The
 * first connection may come later: the listener keeps trying in the background.
 */
int rp_store_listen(struct rp_store *s, struct rp_error *err);
/** Notices delivered to subscribers so far and (re)connections of the listener (/metrics). */
void rp_store_listen_stats(struct rp_store *s, uint64_t *notices, uint64_t *connects);

/** Nested savepoint inside a unit (batch items). */
int rp_store_savepoint(struct rp_store_conn *c, const char *name);
int rp_store_release(struct rp_store_conn *c, const char *name);
int rp_store_rollback_to(struct rp_store_conn *c, const char *name);

/** Online backup to path (a consistent snapshot, taken while writes go on). */
int rp_store_backup(struct rp_store *s, const char *path, struct rp_error *err);
/**
 * Restores a backup into target, which no server may have open. First checks the backup: a
 * SQLite database whose PRAGMA integrity_check is "ok" and whose schema version is one this
 * build knows (1 to its latest migration: opening the target brings an older one up to date).
 * Then copies it page by page into target with the online backup API (created if missing; a
 * WAL-mode target gets the copy through its WAL, so no stale -wal file can undo it). A target
 * that already holds tables is refused unless force. *version (may be NULL) gets the backup's
 * schema version. Returns 0, RP_EIO (cannot open or copy), RP_EDB (not a database, failed
 * integrity check, unknown schema version) or RP_ECONFLICT (target not empty), with err set.
 */
int rp_store_restore(const char *backup, const char *target, bool force, int *version,
                     struct rp_error *err);
/** Runs PRAGMA integrity_check; 0 when "ok". */
int rp_store_integrity_check(struct rp_store *s, struct rp_error *err);

/*
 * Moving an installation to another engine (store_copy.c): `rapport copy`. Today from SQLite
 * to PostgreSQL.
 */

/** One table of a copy: what was written and what both sides hold when read back. */
struct rp_store_copy_table {
    char name[64];
    int64_t copied;   /* rows inserted by the copy (0 for rp_store_copy_verify) */
    int64_t src_rows; /* count(*) in the source snapshot (bookkeeping rows left out) */
    int64_t dst_rows; /* count(*) in the destination */
    char src_sum[65]; /* SHA-256 (hex) of the source rows' canonical text, by primary key */
    char dst_sum[65]; /* the same over the destination's rows */
    bool ok;          /* counts and checksums agree */
};

struct rp_store_copy_report {
    struct rp_store_copy_table *tables; /* heap; rp_store_copy_report_release frees it */
    size_t ntables;
    int64_t rows; /* rows copied in all */
    bool ok;      /* every table agrees */
};

/**
 * The destination's schema step of a copy: called inside the copy's transaction on the
 * destination's writer connection, after the system tables (rp_meta_custom among them) were
 * copied and before the record tables are: it must create every record table, custom column and
 * index the copied metadata asks for (rp_records_sync_schema_in). Returns 0 or a negative code.
 */
typedef int (*rp_store_schema_fn)(struct rp_store_conn *dst, void *ctx, struct rp_error *err);

struct rp_store_copy_options {
    bool force;                /* empty a destination that holds data, instead of refusing */
    rp_store_schema_fn schema; /* required */
    void *schema_ctx;
    size_t batch_rows; /* rows per INSERT; 0: as many as fit 16,000 parameters, at most 1,000 */
};

/**
 * Copies every table of src (a SQLite store) into dst (a PostgreSQL store, migrated by
 * rp_store_open), then verifies it. The source is read in one read transaction: a consistent
 * snapshot, taken while a server may go on writing to it (writes after the snapshot are not
 * copied). The destination is written in ONE transaction: emptied (TRUNCATE of every table
 * but rp_schema_version), the system tables copied, opt->schema run, the record tables copied
 * in batches of parameterised multi-row INSERTs, every sequence set past the largest value
 * copied (and past SQLite's AUTOINCREMENT high-water mark), so a failure leaves it as it was.
 * A destination holding rows other than what migrations seed is refused unless opt->force.
 * SQLite's own bookkeeping is not copied (its FTS5 tables, rp_fts_pending, the "fts:" entries
 * of rp_setting); PostgreSQL builds its own from the copied metadata.
 *
 * Then every copied table is counted and checksummed on both sides (rp_store_copy_verify's
 * canonical text), the source still inside its snapshot. rep is filled (release it with
 * rp_store_copy_report_release) once the copy committed, whatever the verification found.
 * Returns 0 when every table agrees; RP_EUNSUPPORTED (engines), RP_EINVAL (a source without
 * users: never served, or not a rapport database), RP_ECONFLICT (destination not empty), RP_EDB/RP_EIO (a table could not be read or written: nothing was committed), or
 * RP_EDB with rep->ok false when the copy committed but verification found a difference; err
 * names the table.
 */
int rp_store_copy(struct rp_store *src, struct rp_store *dst,
                  const struct rp_store_copy_options *opt, struct rp_store_copy_report *rep,
                  struct rp_error *err);

/**
 * Compares src with dst table by table without copying: for every table of a copy, the number
 * of rows and a SHA-256 over a canonical text of each row (NULL, integer, number as %.17g,
 * text with its length; rows ordered by primary key, text in byte order), computed here from
 * the values each engine returns. The source is read in one snapshot, the destination in
 * another. Fills rep (release it); returns 0 when every table agrees, RP_EDB with rep->ok
 * false when one differs, or another error with err set.
 */
int rp_store_copy_verify(struct rp_store *src, struct rp_store *dst,
                         struct rp_store_copy_report *rep, struct rp_error *err);
/** Frees what a report holds; NULL and a zeroed report are allowed. */
void rp_store_copy_report_release(struct rp_store_copy_report *rep);

/**
 * Fault injection, in builds with RP_FAULT_INJECTION (the Debug ones, so the ASan build of
 * CI): the nth query run through any connection of s from now on fails with RP_EDB, once;
 * n = 0 disarms. Elsewhere it arms nothing. rp_store_open arms it from the environment
 * variable RP_FAULT=store:N, counting from the end of opening. Thread-safe.
 */
void rp_store_fault_arm(struct rp_store *s, uint64_t n);
/** True when the fault armed last has fired. */
bool rp_store_fault_fired(struct rp_store *s);
/**
 * True when it fired on the writer's connection, inside a unit (which then fails and rolls back
 * whole), rather than on a read: a read that fails after a request's unit committed leaves that
 * write whole, and only the answer is lost.
 */
bool rp_store_fault_fired_in_unit(struct rp_store *s);

/** Counters for /metrics. */
struct rp_store_stats {
    uint64_t commits;      /* transactions committed by the writer */
    uint64_t units;        /* units run */
    uint64_t units_failed; /* units rolled back */
    uint64_t queue_depth;  /* units waiting now */
};
void rp_store_stats(struct rp_store *s, struct rp_store_stats *out);

#endif
