/*
 * Private to src/store/: the driver interface between the generic store (store.c: the
 * reader pool, the write queue, the writer thread with group commit, fault injection,
 * statistics) and the engines (store_sqlite.c, store_pg.c), and the migrations.
 *
 * A driver's connection struct begins with struct rp_store_conn, so the generic code can
 * pool and hand out connections without knowing the engine.
 */
#ifndef RP_STORE_STORE_INT_H
#define RP_STORE_STORE_INT_H

#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>

/* The head of every driver's connection. */
struct rp_store_conn {
    struct rp_store *owner; /* NULL until rp_store_open has set it */
    struct rp_store_conn *next_free;
    char conflict[128]; /* "table.column" of the last unique violation, or "" */
};

struct store_driver {
    const char *name;
    enum rp_sql_dialect dialect;
    const char *begin_sql; /* starts the writer's transaction */
    /* Sets up the engine's per-store state from s->url (s->temp: a private test database). */
    int (*open)(struct rp_store *s, struct rp_error *err);
    /* Background work once the writer runs (SQLite's checkpoints); may be NULL. */
    int (*start)(struct rp_store *s, struct rp_error *err);
    /* Stops what start started, after the writer has stopped; may be NULL. */
    void (*stop)(struct rp_store *s);
    /* Frees the per-store state, after every connection is closed. */
    void (*close)(struct rp_store *s);
    int (*conn_open)(struct rp_store *s, bool writer, struct rp_store_conn **out,
                     struct rp_error *err);
    void (*conn_close)(struct rp_store_conn *c);
    int (*query)(struct rp_store_conn *c, const struct rp_sql *q, rp_store_row_fn fn, void *ctx,
                 struct rp_error *err);
    int64_t (*changes)(struct rp_store_conn *c); /* rows changed by the last query */
    int (*exec_script)(struct rp_store_conn *c, const char *sql, struct rp_error *err);
    int (*exec_simple)(struct rp_store_conn *c, const char *sql); /* 0 or RP_EDB, logged */
    bool (*in_transaction)(struct rp_store_conn *c);              /* one is open on c */
    int (*migrate)(struct rp_store_conn *c, int *version, struct rp_error *err);
    int (*backup)(struct rp_store *s, const char *path, struct rp_error *err);
    int (*integrity_check)(struct rp_store *s, struct rp_error *err);
    /* Sends one notice in the writer's transaction: a RP_SQL_FRAGMENT whose one "?" is the
       payload; NULL: notices go nowhere (one process per database). */
    const char *notify_sql;
    /* Starts the thread that listens for other processes' notices and hands each payload to
       rp_store_deliver; NULL: nothing to listen to. */
    int (*listen_start)(struct rp_store *s, struct rp_error *err);
    /* Stops it (before any connection is closed); NULL with listen_start. */
    void (*listen_stop)(struct rp_store *s);
};

extern const struct store_driver rp_store_driver_sqlite;
extern const struct store_driver rp_store_driver_pg;

struct write_unit;

#define RP_STORE_SUBSCRIBERS_MAX 16

struct store_subscriber {
    rp_store_notice_fn fn;
    void *ctx;
};

struct rp_store {
    const struct store_driver *drv;
    void *drv_state;
    char *url; /* the driver's address: a SQLite path or a PostgreSQL URL */
    bool temp; /* a private test database, removed at close */
    int schema_version;
    struct rp_store_config cfg;

    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    struct rp_store_conn *free_readers;
    unsigned nreaders;

    struct rp_store_conn *writer;
    pthread_t writer_thread;
    rp_store_precommit_fn precommit; /* per group, before COMMIT */
    void *precommit_ctx;
    pthread_cond_t stop_cond; /* signalled at close, for drivers' background threads */
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_cond;
    struct write_unit *queue_head, *queue_tail;
    size_t queue_len;
    bool stopping;

    char instance[24];        /* random id of this store: the sender in a notice's payload */
    pthread_mutex_t sub_lock; /* held while subscribers run, so unsubscribing waits for them */
    struct store_subscriber subs[RP_STORE_SUBSCRIBERS_MAX];
    size_t nsubs;
    bool listening;     /* listen_start succeeded; guarded by sub_lock */
    void *listen_state; /* the driver's listener */
    _Atomic uint64_t notices, listen_connects;

    _Atomic uint64_t commits, units, units_failed;
    _Atomic uint64_t fault_left; /* queries until the injected fault; 0 = none armed */
    _Atomic bool fault_fired;
    _Atomic bool fault_on_writer; /* the fault fired on the writer's connection (in a unit) */
};

/**
 * Hands a notice's payload ("<instance> <topic>[ <arg>]") to the subscribers, unless this store
 * sent it; called on the listener's thread.
 */
void rp_store_deliver(struct rp_store *s, const char *payload);
/** Calls every subscriber with RP_STORE_NOTICE_ALL (the listener (re)connected). */
void rp_store_deliver_all(struct rp_store *s);

/** Applies every system migration newer than the database's user_version. */
int rp_store_migrate_sqlite(struct rp_store_conn *c, int *version, struct rp_error *err);
/** The same versioned steps for PostgreSQL (store_migrate_pg.c). */
int rp_store_migrate_pg(struct rp_store_conn *c, int *version, struct rp_error *err);

/** How many steps each list has (they must agree: the conformance test checks). */
int rp_store_migrations_sqlite_count(void);
int rp_store_migrations_pg_count(void);

/**
 * PostgreSQL's text for sql: ?N markers become $N, bare ? the next number; quoted text is
 * left alone. Returns the highest marker number, or -1 for a malformed one.
 */
int rp_store_pg_translate(const char *sql, struct rp_buf *out);

/** Runs sql on c and reports its first column as an integer (migrations' version checks). */
int rp_store_query_int(struct rp_store_conn *c, const char *sql, int64_t *out,
                       struct rp_error *err);

#endif
