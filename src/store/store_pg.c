/*
 * PostgreSQL driver (struct store_driver, store_int.h) on libpq.
 *
 * Connections: the writer is one connection owned by the writer thread (store.c runs each
 * group in one transaction and commits once, as on SQLite); readers are pooled connections
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
 */
#include "store/store.h"
#include "store/store_int.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/limits.h"
#include "base/log.h"

#include <ctype.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STMT_CACHE_SLOTS 512 /* power of two */
#define PG_PARAMS_MAX    65535

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
    if (c->writer && strcmp(sql, "BEGIN") != 0) {
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
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
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

const struct store_driver rp_store_driver_pg = {
    .name = "postgres",
    .dialect = RP_SQL_PG,
    .begin_sql = "BEGIN",
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
};
