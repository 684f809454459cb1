/*
 * PostgreSQL driver (struct store_driver, store_int.h) on libpq.
 *
 * Connections: the writer is one connection owned by the writer thread (store.c runs each
 * group in one transaction and commits once, as on SQLite; across processes, groups take turns:
 * GROUP_LOCK_KEY below); readers are pooled connections
 * in autocommit, so they see committed data only. Every connection is set to UTC and
 * synchronous_commit=on: a COMMIT that returned is durable.
 *
 * Statements: callers write ?N markers (RP_SQL_SQLITE text) or $N (RP_SQL_PG); the first
 * time a connection sees a statement text it renumbers the markers as $N, prepares it under
 * a generated name and caches the name by the original text, so each query shape is
 * prepared once per connection. Parameters travel as text with a type where the value has
 * one (int8 for integers, booleans, money, dates and datetimes; float8 for numbers) and
 * unknown for text and NULL, letting the server infer them from the context as SQLite's
 * affinity would.
 *
 * Rows: int2/int4/int8/oid and bool arrive as RP_V_INT, float4/float8 as RP_V_NUM, numeric
 * as RP_V_INT when integral (sum() of bigint is numeric) else RP_V_NUM, everything else as
 * RP_V_TEXT borrowed until the row callback returns.
 *
 * Errors: unique_violation is RP_ECONFLICT with "table.column" in the conflict slot, as the
 * SQLite driver reports it; serialization failures, deadlocks, lock timeouts and
 * cancellations are RP_EBUSY; the rest RP_EDB, engine text only in the log. Unlike SQLite,
 * a failed statement aborts the enclosing transaction: a unit that wants to go on after a
 * failure must put the statement in a savepoint (rp_store_savepoint), as batches do.
 *
 * Notices (store.h): rp_store_notify is pg_notify on the channel "rapport_config" in the
 * writer's transaction, so PostgreSQL delivers it only on commit. A listening store has one
 * more connection, owned by a thread that LISTENs on the channel and waits in poll() on its
 * socket and on a pipe that stopping writes to. A broken connection is made again with doubling
 * waits (0.1 s to 5 s); TCP keepalives notice a server that vanished without a word. After
 * every LISTEN the subscribers are told to reload everything, since notices sent while no
 * LISTEN was in force are lost (PostgreSQL keeps none for sessions that are not listening).
 */
#include "store/store.h"
#include "store/store_int.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/limits.h"
#include "base/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STMT_CACHE_SLOTS 512 /* power of two */
/*
 * The key of the advisory lock every writer's transaction takes first, held until it ends:
 * the groups of all processes on the database commit one at a time. The change log needs it:
 * rp_change.seq comes from a sequence, and without it two processes' transactions could commit
 * out of seq order (seq 101 after seq 102), so a consumer that had read up to 102 (automation
 * rules, webhooks, SLA clocks, the bus, GET /changes) would never see 101. With it, a committed
 * seq N means every seq below N is committed or gone. Taken first, before any other lock, it
 * cannot take part in a deadlock between writers. Any constant ("rapport" in ASCII).
 */
#define GROUP_LOCK_KEY "32195282895598196"
#define PG_PARAMS_MAX  65535

/* Type oids from pg_type.h (server headers are not part of libpq-dev). */
#define OID_BOOL    16
#define OID_INT8    20
#define OID_INT2    21
#define OID_INT4    23
#define OID_OID     26
#define OID_FLOAT4  700
#define OID_FLOAT8  701
#define OID_NUMERIC 1700

struct pg_slot {
    char *sql;     /* the caller's text, the cache key */
    unsigned name; /* prepared as "rp<name>" */
    int nparams;   /* markers in the statement, to check against the bound params */
};

struct pg_conn {
    struct rp_store_conn base;
    PGconn *pg;
    struct pg_slot cache[STMT_CACHE_SLOTS];
    size_t ncached;
    unsigned next_name;
    int64_t changes;
    bool writer;
};

#define PC(c) ((struct pg_conn *)(c))

static void notice_ignore(void *arg, const char *msg)
{
    (void)arg;
    rp_log_debug("postgres: %s", msg);
}

static int pg_open(struct rp_store *s, struct rp_error *err)
{
    (void)err;
    s->drv_state = NULL;
    return 0;
}

static void pg_close(struct rp_store *s)
{
    (void)s;
}

/* Every session: UTC, durable commits, quiet notices; readers read-only (SQLite's are). */
static int session_setup(PGconn *pg, bool writer)
{
    PGresult *r = PQexec(pg, writer ? "SET TIME ZONE 'UTC'; SET synchronous_commit = on;"
                                      " SET client_min_messages = warning"
                                    : "SET TIME ZONE 'UTC'; SET client_min_messages = warning;"
                                      " SET default_transaction_read_only = on");
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : RP_EIO;

    if (rc < 0)
        rp_log_error("could not configure the PostgreSQL session: %s", PQerrorMessage(pg));
    PQclear(r);
    return rc;
}

static void cache_forget(struct pg_conn *c);

static int conn_open(struct rp_store *s, bool writer, struct rp_store_conn **out,
                     struct rp_error *err)
{
    struct pg_conn *c;
    PGconn *pg = PQconnectdb(s->url);

    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        /* The URL may carry a password: log the server's message, not the URL. */
        rp_log_error("could not connect to PostgreSQL: %s", pg ? PQerrorMessage(pg) : "no memory");
        PQfinish(pg);
        return rp_error_set(err, RP_EIO, "could not connect to the PostgreSQL database");
    }
    PQsetNoticeProcessor(pg, notice_ignore, NULL);
    if (session_setup(pg, writer) < 0) {
        PQfinish(pg);
        return rp_error_set(err, RP_EIO, "could not connect to the PostgreSQL database");
    }
    c = rp_xcalloc(1, sizeof(*c));
    c->pg = pg;
    c->writer = writer;
    *out = &c->base;
    return 0;
}

/*
 * A connection the server dropped (restart, failover, idle timeout) is opened again before
 * the next statement; its prepared statements and session settings went with it. A reader
 * reconnects at any statement. The writer only when sql starts its transaction: in the
 * middle of one, the work before the break is lost, and running the rest in a new session
 * (or a COMMIT there, which would "succeed") would report a partial group as durable.
 */
static int ensure_connected(struct pg_conn *c, const char *sql)
{
    if (PQstatus(c->pg) == CONNECTION_OK)
        return 0;
    if (c->writer && strncmp(sql, "BEGIN", 5) != 0) {
        rp_log_error("the PostgreSQL connection broke inside a transaction");
        return RP_EIO;
    }
    cache_forget(c);
    PQreset(c->pg);
    if (PQstatus(c->pg) != CONNECTION_OK || session_setup(c->pg, c->writer) < 0) {
        rp_log_error("lost the PostgreSQL connection: %s", PQerrorMessage(c->pg));
        return RP_EIO;
    }
    rp_log_warn("reconnected to PostgreSQL");
    return 0;
}

static void cache_forget(struct pg_conn *c)
{
    for (size_t i = 0; i < STMT_CACHE_SLOTS; i++) {
        free(c->cache[i].sql);
        c->cache[i].sql = NULL;
    }
    c->ncached = 0;
}

static void cache_clear(struct pg_conn *c)
{
    PGresult *r;

    if (c->ncached == 0)
        return;
    cache_forget(c);
    r = PQexec(c->pg, "DEALLOCATE ALL");
    PQclear(r);
}

static void conn_close(struct rp_store_conn *conn)
{
    struct pg_conn *c = PC(conn);
    if (!c)
        return;
    cache_forget(c);
    PQfinish(c->pg);
    free(c);
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211u;
    return h;
}

/*
 * The statement text for the server: every ?N becomes $N and every bare ? (a fragment's
 * marker) the next number; $N stays. Quoted literals, quoted identifiers and comments are copied as
 * they are. Returns the number of markers (the highest), or -1 on a malformed marker.
 */
static int translate(const char *sql, struct rp_buf *out, bool markers)
{
    int next = 0, highest = 0;

    for (const char *p = sql; *p;) {
        char ch = *p;
        if (ch == '\'' || ch == '"') {
            const char *e = p + 1;
            for (;;) {
                if (!*e)
                    break;
                if (*e == ch) {
                    if (e[1] == ch) { /* doubled quote: still inside */
                        e += 2;
                        continue;
                    }
                    e++;
                    break;
                }
                e++;
            }
            rp_buf_add(out, p, (size_t)(e - p));
            p = e;
        } else if (ch == '-' && p[1] == '-') {
            const char *e = strchr(p, '\n');
            e = e ? e : p + strlen(p);
            rp_buf_add(out, p, (size_t)(e - p));
            p = e;
        } else if (ch == '$' && isdigit((unsigned char)p[1])) {
            /* already PostgreSQL's marker (RP_SQL_PG text) */
            char *e;
            long v = strtol(p + 1, &e, 10);
            if (v < 1 || v > PG_PARAMS_MAX)
                return -1;
            if ((int)v > highest)
                highest = (int)v;
            rp_buf_add(out, p, (size_t)(e - p));
            p = e;
        } else if (ch == '?' && markers) {
            int n;
            p++;
            if (isdigit((unsigned char)*p)) {
                char *e;
                long v = strtol(p, &e, 10);
                if (v < 1 || v > PG_PARAMS_MAX)
                    return -1;
                n = (int)v;
                p = e;
                next = n;
            } else {
                n = ++next;
            }
            if (n > highest)
                highest = n;
            rp_buf_addf(out, "$%d", n);
        } else {
            rp_buf_addc(out, ch);
            p++;
        }
    }
    return highest;
}

int rp_store_pg_translate(const char *sql, struct rp_buf *out)
{
    return translate(sql, out, true);
}

/* The highest $N in PostgreSQL text (outside quotes). */
static int highest_dollar(const char *sql)
{
    struct rp_arena a;
    struct rp_buf scratch;
    int n;

    rp_arena_init(&a);
    rp_buf_init(&scratch, &a, 2 * 1024 * 1024);
    n = translate(sql, &scratch, false);
    rp_arena_release(&a);
    return n;
}

/* The cache slot of sql, preparing the statement on first use. */
static int conn_prepare(struct pg_conn *c, const char *sql, bool translate, struct pg_slot **out,
                        struct rp_error *err)
{
    uint64_t h = hash_str(sql);
    size_t i, mask = STMT_CACHE_SLOTS - 1;
    struct rp_arena a;
    struct rp_buf text;
    char name[24];
    PGresult *r;
    int n, rc = 0;

    for (i = h & mask;; i = (i + 1) & mask) {
        if (!c->cache[i].sql)
            break;
        if (strcmp(c->cache[i].sql, sql) == 0) {
            *out = &c->cache[i];
            return 0;
        }
    }
    if (c->ncached >= STMT_CACHE_SLOTS / 2) {
        cache_clear(c);
        i = h & mask;
    }
    rp_arena_init(&a);
    rp_buf_init(&text, &a, 2 * 1024 * 1024);
    /* Text built for PostgreSQL has $N already, and "?" may be jsonb's operator there. */
    if (translate) {
        n = rp_store_pg_translate(sql, &text);
    } else {
        rp_buf_adds(&text, sql);
        n = highest_dollar(sql);
    }
    if (n < 0 || rp_buf_error(&text)) {
        rp_log_error("could not translate statement for PostgreSQL: %s", sql);
        rc = rp_error_set(err, RP_EDB, "could not run a database query");
        goto out;
    }
    snprintf(name, sizeof(name), "rp%u", c->next_name);
    r = PQprepare(c->pg, name, text.data, 0, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        rp_log_error("could not prepare statement: %s; sql: %s", PQresultErrorMessage(r),
                     text.data);
        PQclear(r);
        rc = rp_error_set(err, RP_EDB, "could not run a database query");
        goto out;
    }
    PQclear(r);
    c->cache[i].sql = rp_xstrdup(sql);
    c->cache[i].name = c->next_name++;
    c->cache[i].nparams = n;
    c->ncached++;
    *out = &c->cache[i];
out:
    rp_arena_release(&a);
    return rc;
}

/* Maps a failed result to a code; c->base.conflict gets "table.column" for a unique one. */
static int result_error(struct pg_conn *c, const PGresult *r, const char *sql, struct rp_error *err)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

    if (!state)
        state = "";
    if (strcmp(state, "23505") == 0) {
        const char *table = PQresultErrorField(r, PG_DIAG_TABLE_NAME);
        const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
        const char *col = detail ? strstr(detail, "Key (") : NULL;
        const char *end = col ? strstr(col, ")=") : NULL;
        if (col && end)
            snprintf(c->base.conflict, sizeof(c->base.conflict), "%s.%.*s", table ? table : "",
                     (int)(end - col - 5), col + 5);
        return rp_error_set(err, RP_ECONFLICT, "a record with the same unique value exists");
    }
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0 ||
        strcmp(state, "57014") == 0) {
        rp_log_warn("database busy: %s", PQresultErrorMessage(r));
        return rp_error_set(err, RP_EBUSY, "the database is busy; retry shortly");
    }
    rp_log_error("database error %s: %s; sql: %s", state, PQresultErrorMessage(r), sql);
    return rp_error_set(err, RP_EDB, "could not run a database query");
}

static struct rp_value column_value(const PGresult *r, int row, int col)
{
    const char *v;

    if (PQgetisnull(r, row, col))
        return rp_value_null();
    v = PQgetvalue(r, row, col);
    switch (PQftype(r, col)) {
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
        return rp_value_int(strtoll(v, NULL, 10));
    case OID_BOOL:
        return rp_value_int(v[0] == 't');
    case OID_FLOAT4:
    case OID_FLOAT8:
        return rp_value_num(strtod(v, NULL));
    case OID_NUMERIC:
        if (!strchr(v, '.') && !strchr(v, 'e') && !strchr(v, 'N'))
            return rp_value_int(strtoll(v, NULL, 10));
        return rp_value_num(strtod(v, NULL));
    default:
        return rp_value_text(v, (size_t)PQgetlength(r, row, col));
    }
}

/* Renders the parameters as text into a; types[i] is 0 (unknown: let the server infer). */
static void params_text(const struct rp_sql *q, struct rp_arena *a, const char **values,
                        int *lengths, int *formats)
{
    for (size_t i = 0; i < q->nparams; i++) {
        const struct rp_value *v = &q->params[i];
        char *t;
        formats[i] = 0;
        switch (v->type) {
        case RP_V_NULL:
            values[i] = NULL;
            lengths[i] = 0;
            break;
        case RP_V_BOOL:
            values[i] = v->u.b ? "1" : "0";
            lengths[i] = 1;
            break;
        case RP_V_NUM:
            t = rp_arena_alloc(a, 32);
            lengths[i] = snprintf(t, 32, "%.17g", v->u.d);
            values[i] = t;
            break;
        case RP_V_TEXT:
            /* Text parameters are not NUL-terminated: copy (a binary format would not help,
             * the server wants the type for that). */
            t = rp_arena_alloc(a, v->u.s.len + 1);
            memcpy(t, v->u.s.p, v->u.s.len);
            t[v->u.s.len] = '\0';
            values[i] = t;
            lengths[i] = (int)v->u.s.len;
            break;
        default:
            t = rp_arena_alloc(a, 24);
            lengths[i] = snprintf(t, 24, "%" PRId64, v->u.i);
            values[i] = t;
            break;
        }
    }
}

static bool plan_changed(const PGresult *r)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return state && strcmp(state, "0A000") == 0;
}

static int query(struct rp_store_conn *conn, const struct rp_sql *q, rp_store_row_fn fn, void *ctx,
                 struct rp_error *err)
{
    struct pg_conn *c = PC(conn);
    struct rp_value cols[RP_LIMIT_FIELDS_PER_RECORD + 16];
    struct pg_slot *slot = NULL;
    struct rp_arena a;
    const char **values = NULL;
    int *lengths = NULL, *formats = NULL;
    char name[24];
    PGresult *r = NULL;
    int rc, tries = 0;

    if (ensure_connected(c, q->text.data) < 0)
        return rp_error_set(err, RP_EIO, "lost the connection to the database");
    rp_arena_init(&a);
again:
    rc = conn_prepare(c, q->text.data, q->dialect != RP_SQL_PG, &slot, err);
    if (rc < 0)
        goto out;
    if ((size_t)slot->nparams != q->nparams) {
        rp_log_error("statement has %d markers but %zu parameters: %s", slot->nparams, q->nparams,
                     q->text.data);
        rc = rp_error_set(err, RP_EINTERNAL, "could not run a database query");
        goto out;
    }
    if (q->nparams && !values) {
        values = rp_arena_alloc(&a, q->nparams * sizeof(*values));
        lengths = rp_arena_alloc(&a, q->nparams * sizeof(*lengths));
        formats = rp_arena_alloc(&a, q->nparams * sizeof(*formats));
        params_text(q, &a, values, lengths, formats);
    }
    snprintf(name, sizeof(name), "rp%u", slot->name);
    r = PQexecPrepared(c->pg, name, (int)q->nparams, values, lengths, formats, 0);
    switch (PQresultStatus(r)) {
    case PGRES_COMMAND_OK:
        c->changes = strtoll(PQcmdTuples(r), NULL, 10);
        rc = 0;
        break;
    case PGRES_TUPLES_OK: {
        int nrows = PQntuples(r), ncols = PQnfields(r);
        c->changes = strtoll(PQcmdTuples(r), NULL, 10);
        rc = 0;
        if (!fn)
            break;
        if (ncols > (int)(sizeof(cols) / sizeof(cols[0]))) {
            rc = rp_error_set(err, RP_EINTERNAL, "a query returned more columns than a record has");
            break;
        }
        for (int row = 0; row < nrows; row++) {
            for (int i = 0; i < ncols; i++)
                cols[i] = column_value(r, row, i);
            rc = fn(ctx, cols, (size_t)ncols);
            if (rc != 0) {
                if (rc > 0)
                    rc = 0;
                break;
            }
        }
        break;
    }
    default:
        /*
         * A table changed under a cached statement ("cached plan must not change result
         * type"): prepare it again, once, when no transaction was hurt by the failure.
         */
        if (!c->writer && PQstatus(c->pg) != CONNECTION_OK && tries++ == 0) {
            /* a reader whose connection the server dropped: once more on a new one */
            PQclear(r);
            r = NULL;
            if (ensure_connected(c, q->text.data) < 0) {
                rc = rp_error_set(err, RP_EIO, "lost the connection to the database");
                goto out;
            }
            goto again;
        }
        if (plan_changed(r) && tries++ == 0 && PQtransactionStatus(c->pg) == PQTRANS_IDLE) {
            PQclear(r);
            r = NULL;
            cache_clear(c);
            goto again;
        }
        rc = result_error(c, r, q->text.data, err);
    }
out:
    PQclear(r);
    rp_arena_release(&a);
    return rc;
}

static int64_t changes(struct rp_store_conn *c)
{
    return PC(c)->changes;
}

static int exec_script(struct rp_store_conn *conn, const char *sql, struct rp_error *err)
{
    struct pg_conn *c = PC(conn);
    PGresult *r;
    int rc = 0;

    if (ensure_connected(c, sql) < 0)
        return rp_error_set(err, RP_EIO, "lost the connection to the database");
    r = PQexec(c->pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        rp_log_error("could not run script: %s; sql: %.200s", PQresultErrorMessage(r), sql);
        rc = rp_error_set(err, RP_EDB, "could not change the database schema");
    }
    PQclear(r);
    /* Statements whose tables changed must be prepared again (their result shape may have). */
    if (rc == 0)
        cache_clear(c);
    return rc;
}

static int exec_simple(struct rp_store_conn *conn, const char *sql)
{
    struct pg_conn *c = PC(conn);
    PGresult *r;
    int rc = 0;

    /* the writer's BEGIN comes here first: a group after a dropped connection reconnects */
    if (ensure_connected(c, sql) < 0)
        return RP_EDB;
    r = PQexec(c->pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        rp_log_error("%s failed: %s", sql, PQresultErrorMessage(r));
        rc = RP_EDB;
    }
    PQclear(r);
    return rc;
}

static bool in_transaction(struct rp_store_conn *conn)
{
    struct pg_conn *c = PC(conn);
    PGTransactionStatusType t = c->pg ? PQtransactionStatus(c->pg) : PQTRANS_UNKNOWN;

    return t != PQTRANS_IDLE && t != PQTRANS_UNKNOWN;
}

static int backup(struct rp_store *s, const char *path, struct rp_error *err)
{
    (void)s;
    (void)path;
    return rp_error_set(err, RP_EUNSUPPORTED,
                        "rapport backup copies SQLite files; back PostgreSQL up with pg_dump "
                        "or pg_basebackup");
}

/* PostgreSQL checks its pages itself (and amcheck goes further); this checks we can read. */
static int integrity_check(struct rp_store *s, struct rp_error *err)
{
    struct rp_store_conn *c = rp_store_reader_acquire(s);
    int64_t v = 0;
    int rc = rp_store_query_int(c, "SELECT 1", &v, err);

    rp_store_reader_release(s, c);
    if (rc == 0 && v != 1)
        rc = rp_error_set(err, RP_EDB, "integrity check failed");
    return rc;
}

/* ---- the listener: other processes' configuration notices ---- */

#define LISTEN_CHANNEL        "rapport_config"
#define LISTEN_BACKOFF_MS     100
#define LISTEN_BACKOFF_MAX_MS 5000

struct pg_listener {
    struct rp_store *s;
    pthread_t thread;
    int stop_pipe[2]; /* [1] is written once to stop the thread; [0] is polled */
};

/* Waits up to ms for the stop pipe (or, with fd >= 0, for fd to be readable). Returns 1 when
 * stopping, 0 otherwise. */
static int listener_wait(struct pg_listener *l, int fd, int ms)
{
    struct pollfd p[2] = {{.fd = l->stop_pipe[0], .events = POLLIN}, {.fd = fd, .events = POLLIN}};
    int n = poll(p, fd >= 0 ? 2 : 1, ms);

    if (n < 0 && errno != EINTR)
        rp_log_warn("configuration listener: poll failed: %s", strerror(errno));
    return n > 0 && (p[0].revents & (POLLIN | POLLHUP)) ? 1 : 0;
}

static PGconn *listener_connect(struct rp_store *s)
{
    /* The URL is expanded first (expand_dbname); the keys after it win over its own. */
    const char *keys[] = {
        "dbname",          "application_name",    "connect_timeout",  "keepalives",
        "keepalives_idle", "keepalives_interval", "keepalives_count", NULL};
    const char *values[] = {s->url, "rapport-listen", "5", "1", "10", "5", "3", NULL};
    PGconn *pg = PQconnectdbParams(keys, values, 1);
    PGresult *r;

    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        rp_log_warn("configuration listener: could not connect to PostgreSQL: %s",
                    pg ? PQerrorMessage(pg) : "no memory");
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, notice_ignore, NULL);
    r = PQexec(pg, "LISTEN " LISTEN_CHANNEL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        rp_log_warn("configuration listener: LISTEN failed: %s", PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(pg);
        return NULL;
    }
    PQclear(r);
    return pg;
}

static void *listener_main(void *arg)
{
    struct pg_listener *l = arg;
    struct rp_store *s = l->s;
    int backoff = LISTEN_BACKOFF_MS;
    bool lost = false;

    for (;;) {
        PGconn *pg = listener_connect(s);
        PGnotify *n;

        if (!pg) {
            if (listener_wait(l, -1, backoff))
                break;
            backoff = backoff * 2 > LISTEN_BACKOFF_MAX_MS ? LISTEN_BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        backoff = LISTEN_BACKOFF_MS;
        atomic_fetch_add(&s->listen_connects, 1);
        if (lost)
            rp_log_info("configuration listener: listening again; reloading every cache");
        /* Whatever changed before this LISTEN went unheard: reload everything. */
        rp_store_deliver_all(s);
        lost = false;
        while (!lost) {
            if (listener_wait(l, PQsocket(pg), -1)) {
                PQfinish(pg);
                return NULL;
            }
            if (!PQconsumeInput(pg) || PQstatus(pg) != CONNECTION_OK) {
                rp_log_warn("configuration listener: lost the connection: %s", PQerrorMessage(pg));
                lost = true;
            }
            while ((n = PQnotifies(pg)) != NULL) {
                if (strcmp(n->relname, LISTEN_CHANNEL) == 0)
                    rp_store_deliver(s, n->extra);
                PQfreemem(n);
            }
        }
        PQfinish(pg);
        if (listener_wait(l, -1, backoff))
            break;
    }
    return NULL;
}

static int listen_start(struct rp_store *s, struct rp_error *err)
{
    struct pg_listener *l = rp_xcalloc(1, sizeof(*l));

    l->s = s;
    if (pipe2(l->stop_pipe, O_CLOEXEC) != 0) {
        free(l);
        return rp_error_set(err, RP_EINTERNAL, "could not start the configuration listener");
    }
    if (pthread_create(&l->thread, NULL, listener_main, l) != 0) {
        close(l->stop_pipe[0]);
        close(l->stop_pipe[1]);
        free(l);
        return rp_error_set(err, RP_EINTERNAL, "could not start the configuration listener");
    }
    s->listen_state = l;
    return 0;
}

static void listen_stop(struct rp_store *s)
{
    struct pg_listener *l = s->listen_state;
    char one = 1;

    if (!l)
        return;
    if (write(l->stop_pipe[1], &one, 1) != 1)
        rp_log_error("could not stop the configuration listener: %s", strerror(errno));
    pthread_join(l->thread, NULL);
    close(l->stop_pipe[0]);
    close(l->stop_pipe[1]);
    free(l);
    s->listen_state = NULL;
}

const struct store_driver rp_store_driver_pg = {
    .name = "postgres",
    .dialect = RP_SQL_PG,
    .begin_sql = "BEGIN; SELECT pg_advisory_xact_lock(" GROUP_LOCK_KEY ")",
    .open = pg_open,
    .close = pg_close,
    .conn_open = conn_open,
    .conn_close = conn_close,
    .query = query,
    .changes = changes,
    .exec_script = exec_script,
    .exec_simple = exec_simple,
    .in_transaction = in_transaction,
    .migrate = rp_store_migrate_pg,
    .backup = backup,
    .integrity_check = integrity_check,
    .notify_sql = "SELECT pg_notify('" LISTEN_CHANNEL "', ?)",
    .listen_start = listen_start,
    .listen_stop = listen_stop,
};
