/*
 * rapport copy (store.h, rp_store_copy): moves an installation from its SQLite file to a
 * PostgreSQL database, and proves the move by reading both sides back.
 *
 * The source is read inside one read transaction (a snapshot: a server may go on writing to
 * it, and those later writes are simply not part of the copy). The destination is written by
 * one unit of its writer, so in one transaction: a failure anywhere rolls back everything,
 * the emptying of a --force included. Record tables are not created here: the caller's schema
 * step builds them from the copied rp_meta_custom with the code that serves the API, so custom
 * objects and fields get the same columns, types and indexes as they would at run time.
 *
 * What is copied: every table of the source but SQLite's own bookkeeping (sqlite_*, the FTS5
 * tables "<object>__fts*", rp_fts_pending, and the "fts:" entries of rp_setting, which record
 * how each engine's search index was built); columns by name, the implicit SQLite rowid into
 * the destination's "rowid" column where it has one (keyset cursors and job order use it).
 * Values travel as the drivers return them (integers, doubles, text, NULL) and are bound as
 * parameters, so money, dates, datetimes and booleans stay integers and text stays bytes.
 *
 * Verification recomputes, for each table and on each side, a SHA-256 over a canonical text of
 * every row in primary-key order (text compared in byte order on both engines: COLLATE "C" on
 * PostgreSQL is SQLite's BINARY), from the values read back, never from what was sent.
 */
#include "store/store.h"
#include "store/store_int.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/log.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_PARAMS   16000 /* PostgreSQL allows 65,535 parameters per statement */
#define BATCH_ROWS_MAX 1000
#define FETCH_ROWS     2000 /* rows per FETCH of a PostgreSQL cursor */

/* One column of a copied table. */
struct col {
    const char *name; /* "rowid": SQLite's implicit rowid into the destination's column */
    bool text;        /* text on the destination: ordered with COLLATE "C" there */
    int pk;           /* position in the source's primary key from 1; 0 when not in it */
};

struct table {
    const char *name;
    bool system;       /* an rp_ table: copied before the schema step */
    const char *keep;  /* condition leaving out another engine's bookkeeping rows, or NULL */
    int64_t seq_floor; /* SQLite's AUTOINCREMENT high-water mark (sqlite_sequence), or 0 */
    struct col *cols;
    size_t ncols;
};

struct plan {
    struct table *t;
    size_t n;
};

/* Rows that record how one engine built its search index: neither copied nor compared. */
static const struct {
    const char *table, *keep;
} bookkeeping[] = {
    {"rp_setting", "\"key\" NOT LIKE 'fts:%'"},
};

/* What a freshly migrated (or schema-synced) destination already holds: not "data". */
static const struct {
    const char *table, *seeded;
} seeds[] = {
    {"rp_schema_version", "true"},
    {"rp_setting", "\"key\" = 'acl.version' OR \"key\" LIKE 'fts:%'"},
    {"rp_permission_set", "\"name\" IN ('standard', 'read_only')"},
};

static bool sqlite_only(const char *name)
{
    const char *fts = strstr(name, "__fts");
    return strcmp(name, "rp_fts_pending") == 0 || (fts && (fts[5] == '\0' || fts[5] == '_'));
}

/* ---- small helpers ---- */

struct names {
    char **v;
    int64_t *num; /* a second column when it is an integer, else 0 */
    char **text;  /* a second column when it is text, else NULL */
    size_t n;
    struct rp_arena *a;
};

static int names_row(void *ctx, const struct rp_value *cols, size_t ncols)
{
    struct names *l = ctx;
    if (ncols < 1 || cols[0].type != RP_V_TEXT)
        return 0;
    l->v = rp_arena_realloc(l->a, l->v, l->n * sizeof(*l->v), (l->n + 1) * sizeof(*l->v));
    l->num = rp_arena_realloc(l->a, l->num, l->n * sizeof(*l->num), (l->n + 1) * sizeof(*l->num));
    l->text =
        rp_arena_realloc(l->a, l->text, l->n * sizeof(*l->text), (l->n + 1) * sizeof(*l->text));
    l->v[l->n] = rp_arena_strndup(l->a, cols[0].u.s.p, cols[0].u.s.len);
    l->num[l->n] = ncols > 1 && cols[1].type == RP_V_INT ? cols[1].u.i : 0;
    l->text[l->n] = ncols > 1 && cols[1].type == RP_V_TEXT
                        ? rp_arena_strndup(l->a, cols[1].u.s.p, cols[1].u.s.len)
                        : NULL;
    l->n++;
    return 0;
}

/* The rows of a constant query without parameters. */
static int run_names(struct rp_store_conn *c, struct rp_arena *a, const char *sql,
                     struct names *out, struct rp_error *err)
{
    struct rp_sql q;

    *out = (struct names){.a = a};
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, sql);
    return rp_store_query(c, &q, names_row, out, err);
}

static int simple(struct rp_store_conn *c, const char *sql, struct rp_error *err)
{
    if (c->owner->drv->exec_simple(c, sql) < 0)
        return rp_error_set(err, RP_EDB, "could not run \"%s\" on the database", sql);
    return 0;
}

/* A read transaction: SQLite's first read fixes the snapshot; PostgreSQL's at the first query. */
static int snapshot_begin(struct rp_store_conn *c, struct rp_error *err)
{
    return simple(c,
                  rp_store_conn_dialect(c) == RP_SQL_PG
                      ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                      : "BEGIN",
                  err);
}

static void snapshot_end(struct rp_store_conn *c)
{
    if (c && c->owner->drv->in_transaction(c))
        c->owner->drv->exec_simple(c, "COMMIT");
}

static const char *keep_of(const char *table)
{
    for (size_t i = 0; i < sizeof(bookkeeping) / sizeof(bookkeeping[0]); i++)
        if (strcmp(bookkeeping[i].table, table) == 0)
            return bookkeeping[i].keep;
    return NULL;
}

/* ---- the plan: the source's tables, then each one's columns ---- */

static int plan_source(struct rp_store_conn *sc, struct rp_arena *a, struct plan *p,
                       struct rp_error *err)
{
    struct names all, seq;
    int rc = run_names(sc, a,
                       "SELECT name FROM sqlite_master WHERE type = 'table'"
                       " AND name NOT LIKE 'sqlite!_%' ESCAPE '!' ORDER BY name",
                       &all, err);

    if (rc < 0)
        return rc;
    /* AUTOINCREMENT high-water marks; the table exists once some AUTOINCREMENT table does */
    rc = run_names(sc, a, "SELECT name FROM sqlite_master WHERE name = 'sqlite_sequence'", &seq,
                   err);
    if (rc == 0 && seq.n == 1)
        rc = run_names(sc, a, "SELECT name, seq FROM sqlite_sequence", &seq, err);
    else
        seq.n = 0;
    if (rc < 0)
        return rc;
    p->t = rp_arena_calloc(a, all.n ? all.n : 1, sizeof(*p->t));
    p->n = 0;
    /* system tables first: the schema step reads rp_meta_custom on the destination */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < all.n; i++) {
            struct table *t;
            bool system = strncmp(all.v[i], "rp_", 3) == 0;
            if (sqlite_only(all.v[i]) || system != (pass == 0))
                continue;
            t = &p->t[p->n++];
            t->name = all.v[i];
            t->system = system;
            t->keep = keep_of(t->name);
            for (size_t k = 0; k < seq.n; k++)
                if (strcmp(seq.v[k], t->name) == 0)
                    t->seq_floor = seq.num[k];
        }
    }
    return 0;
}

struct dst_cols {
    struct names names;
    bool *text;
};

static int dst_col_row(void *ctx, const struct rp_value *cols, size_t ncols)
{
    struct dst_cols *d = ctx;
    size_t n = d->names.n;
    int rc = names_row(&d->names, cols, ncols);

    if (d->names.n > n) {
        d->text = rp_arena_realloc(d->names.a, d->text, n * sizeof(bool), (n + 1) * sizeof(bool));
        d->text[n] = ncols > 1 && cols[1].type == RP_V_TEXT && cols[1].u.s.len == 4 &&
                     memcmp(cols[1].u.s.p, "text", 4) == 0;
    }
    return rc;
}

/* The columns of t: the source's, each of which the destination must have, and the rowid. */
static int resolve(struct rp_store_conn *sc, struct rp_store_conn *dc, struct table *t,
                   struct rp_arena *a, struct rp_error *err)
{
    struct names src;
    struct dst_cols dst = {.names = {.a = a}};
    struct rp_sql q;
    bool dst_rowid = false;
    int rc;

    src = (struct names){.a = a};
    rp_sql_init(&q, a, rp_store_conn_dialect(sc));
    rp_sql_add(&q, "SELECT name, pk FROM pragma_table_info(");
    rp_sql_param(&q, rp_value_cstr(t->name));
    rp_sql_add(&q, ") ORDER BY cid");
    rc = rp_store_query(sc, &q, names_row, &src, err);
    if (rc < 0)
        return rc;
    rp_sql_init(&q, a, rp_store_conn_dialect(dc));
    rp_sql_add(&q, "SELECT column_name::text, data_type::text FROM information_schema.columns"
                   " WHERE table_schema = current_schema() AND table_name = ");
    rp_sql_param(&q, rp_value_cstr(t->name));
    rc = rp_store_query(dc, &q, dst_col_row, &dst, err);
    if (rc < 0)
        return rc;
    if (dst.names.n == 0)
        return rp_error_set(
            err, RP_EDB, "table \"%s\" of the source does not exist in the destination", t->name);
    t->cols = rp_arena_calloc(a, src.n + 1, sizeof(*t->cols));
    t->ncols = 0;
    for (size_t i = 0; i < src.n; i++) {
        size_t k = 0;
        while (k < dst.names.n && strcmp(dst.names.v[k], src.v[i]) != 0)
            k++;
        if (k == dst.names.n)
            return rp_error_set(err, RP_EDB,
                                "column \"%s\" of table \"%s\" does not exist in the destination",
                                src.v[i], t->name);
        t->cols[t->ncols++] =
            (struct col){.name = src.v[i], .text = dst.text[k], .pk = (int)src.num[i]};
    }
    for (size_t k = 0; k < dst.names.n; k++)
        dst_rowid |= strcmp(dst.names.v[k], "rowid") == 0;
    for (size_t i = 0; i < src.n; i++)
        dst_rowid &= strcmp(src.v[i], "rowid") != 0;
    if (dst_rowid)
        t->cols[t->ncols++] = (struct col){.name = "rowid"};
    return 0;
}

/* SELECT of t's columns on c's engine, in canonical order when ordered. */
static void select_sql(struct rp_sql *q, const struct table *t, bool ordered)
{
    bool pg = q->dialect == RP_SQL_PG, any_pk = false;
    const char *sep = "";

    rp_sql_add(q, "SELECT ");
    for (size_t i = 0; i < t->ncols; i++) {
        rp_sql_add(q, i ? ", " : "");
        if (strcmp(t->cols[i].name, "rowid") == 0)
            rp_sql_add(q, "rowid"); /* bare: SQLite's implicit one, PostgreSQL's column */
        else
            rp_sql_ident(q, t->cols[i].name);
        any_pk |= t->cols[i].pk > 0;
    }
    rp_sql_add(q, " FROM ");
    rp_sql_ident(q, t->name);
    if (t->keep)
        rp_sql_addf(q, " WHERE %s", t->keep);
    if (!ordered)
        return;
    rp_sql_add(q, " ORDER BY ");
    /* the primary key in its order; a table without one by every column (equal rows are
     * equal text, so their order does not matter) */
    for (int pos = 1; pos <= (int)t->ncols; pos++) {
        for (size_t i = 0; i < t->ncols; i++) {
            const struct col *c = &t->cols[i];
            if (any_pk ? c->pk != pos : (size_t)pos != i + 1)
                continue;
            rp_sql_add(q, sep);
            if (strcmp(c->name, "rowid") == 0)
                rp_sql_add(q, "rowid");
            else
                rp_sql_ident(q, c->name);
            if (pg)
                rp_sql_add(q, c->text ? " COLLATE \"C\" NULLS FIRST" : " NULLS FIRST");
            sep = ", ";
        }
    }
}

/*
 * Every row of q's SELECT to fn. SQLite streams its rows; PostgreSQL's driver keeps a whole
 * result in memory, so there the rows come through a cursor, FETCH_ROWS at a time (c must be
 * inside a transaction).
 */
struct fetch_ctx {
    rp_store_row_fn fn;
    void *ctx;
    size_t n;
};

static int fetch_row(void *vctx, const struct rp_value *cols, size_t ncols)
{
    struct fetch_ctx *f = vctx;
    f->n++;
    return f->fn(f->ctx, cols, ncols);
}

static int scan(struct rp_store_conn *c, const struct rp_sql *select, rp_store_row_fn fn, void *ctx,
                struct rp_arena *a, struct rp_error *err)
{
    struct fetch_ctx f = {.fn = fn, .ctx = ctx};
    struct rp_buf decl;
    struct rp_sql fetch;
    int rc;

    if (rp_store_conn_dialect(c) != RP_SQL_PG)
        return rp_store_query(c, select, fn, ctx, err);
    rp_buf_init(&decl, a, 2 << 20);
    rp_buf_adds(&decl, "DECLARE rp_copy_scan NO SCROLL CURSOR FOR ");
    rp_buf_add(&decl, select->text.data, select->text.len);
    if (rp_buf_error(&decl) || select->nparams)
        return rp_error_set(err, RP_EINTERNAL, "could not read table rows");
    rc = simple(c, decl.data, err);
    rp_sql_init(&fetch, a, RP_SQL_PG);
    rp_sql_addf(&fetch, "FETCH FORWARD %d FROM rp_copy_scan", FETCH_ROWS);
    while (rc == 0) {
        f.n = 0;
        rc = rp_store_query(c, &fetch, fetch_row, &f, err);
        if (f.n < FETCH_ROWS)
            break;
    }
    if (rc == 0)
        rc = simple(c, "CLOSE rp_copy_scan", err);
    return rc;
}

/* ---- copying one table ---- */

struct copier {
    struct rp_store_conn *dst;
    const struct table *t;
    struct rp_arena batch; /* the values of the rows waiting for their INSERT */
    struct rp_value *vals;
    size_t nrows, max_rows;
    int64_t copied;
    struct rp_error *err;
};

static int flush(struct copier *cp)
{
    const struct table *t = cp->t;
    struct rp_sql q;
    int rc;

    if (cp->nrows == 0)
        return 0;
    rp_sql_init(&q, &cp->batch, rp_store_conn_dialect(cp->dst));
    rp_sql_add(&q, "INSERT INTO ");
    rp_sql_ident(&q, t->name);
    rp_sql_add(&q, " (");
    for (size_t i = 0; i < t->ncols; i++) {
        rp_sql_add(&q, i ? ", " : "");
        rp_sql_ident(&q, t->cols[i].name);
    }
    rp_sql_add(&q, ") VALUES ");
    for (size_t r = 0; r < cp->nrows; r++) {
        rp_sql_add(&q, r ? ", " : "");
        rp_sql_param_list(&q, &cp->vals[r * t->ncols], t->ncols);
    }
    rc = rp_store_exec(cp->dst, &q, NULL, cp->err);
    if (rc == 0)
        cp->copied += (int64_t)cp->nrows;
    cp->nrows = 0;
    rp_arena_reset(&cp->batch);
    cp->vals = NULL;
    return rc;
}

static int copy_row(void *ctx, const struct rp_value *cols, size_t ncols)
{
    struct copier *cp = ctx;
    size_t w = cp->t->ncols;
    struct rp_value *row;

    if (ncols != w)
        return rp_error_set(cp->err, RP_EINTERNAL, "a row of \"%s\" has %zu columns, not %zu",
                            cp->t->name, ncols, w);
    if (!cp->vals)
        cp->vals = rp_arena_alloc(&cp->batch, cp->max_rows * w * sizeof(*cp->vals));
    row = &cp->vals[cp->nrows * w];
    for (size_t i = 0; i < w; i++) {
        row[i] = cols[i];
        if (cols[i].type != RP_V_TEXT)
            continue;
        /* PostgreSQL text cannot hold a NUL byte: refuse rather than cut the value short */
        if (memchr(cols[i].u.s.p, '\0', cols[i].u.s.len))
            return rp_error_set(cp->err, RP_EDB,
                                "column \"%s\" of table \"%s\" holds a NUL byte, which "
                                "PostgreSQL text cannot store",
                                cp->t->cols[i].name, cp->t->name);
        {
            char *p = rp_arena_alloc(&cp->batch, cols[i].u.s.len + 1);
            memcpy(p, cols[i].u.s.p, cols[i].u.s.len);
            p[cols[i].u.s.len] = '\0';
            row[i] = rp_value_text(p, cols[i].u.s.len);
        }
    }
    if (++cp->nrows == cp->max_rows)
        return flush(cp);
    return 0;
}

static int copy_table(struct rp_store_conn *sc, struct rp_store_conn *dc, const struct table *t,
                      size_t batch_rows, int64_t *copied, struct rp_arena *a, struct rp_error *err)
{
    struct copier cp = {.dst = dc, .t = t, .err = err};
    struct rp_sql q;
    int rc;

    cp.max_rows = batch_rows ? batch_rows : BATCH_PARAMS / (t->ncols ? t->ncols : 1);
    if (cp.max_rows > BATCH_ROWS_MAX && !batch_rows)
        cp.max_rows = BATCH_ROWS_MAX;
    if (cp.max_rows < 1)
        cp.max_rows = 1;
    rp_arena_init(&cp.batch);
    rp_sql_init(&q, a, rp_store_conn_dialect(sc));
    select_sql(&q, t, false);
    rc = scan(sc, &q, copy_row, &cp, a, err);
    if (rc == 0)
        rc = flush(&cp);
    rp_arena_release(&cp.batch);
    *copied = cp.copied;
    return rc;
}

/* ---- the destination's transaction ---- */

struct copy_unit {
    struct rp_store_conn *src;
    struct plan *plan;
    const struct rp_store_copy_options *opt;
    struct rp_arena *a;
    int64_t *copied; /* per table of the plan */
};

/* Tables of the destination holding rows that no migration or schema step put there. */
static int check_empty(struct rp_store_conn *c, const struct names *tables, bool force,
                       struct rp_arena *a, struct rp_error *err)
{
    struct rp_buf busy;
    int rc = 0;

    rp_buf_init(&busy, a, 4096);
    for (size_t i = 0; i < tables->n && rc == 0; i++) {
        const char *seeded = NULL;
        bool rows = false;
        struct rp_sql q;
        for (size_t k = 0; k < sizeof(seeds) / sizeof(seeds[0]); k++)
            if (strcmp(seeds[k].table, tables->v[i]) == 0)
                seeded = seeds[k].seeded;
        rp_sql_init(&q, a, rp_store_conn_dialect(c));
        rp_sql_add(&q, "SELECT 1 FROM ");
        rp_sql_ident(&q, tables->v[i]);
        if (seeded)
            rp_sql_addf(&q, " WHERE NOT (%s)", seeded);
        rp_sql_add(&q, " LIMIT 1");
        rc = rp_store_query(c, &q, rp_store_row_exists, &rows, err);
        if (rc == 0 && rows)
            rp_buf_addf(&busy, "%s%s", busy.len ? ", " : "", tables->v[i]);
    }
    if (rc == 0 && busy.len && !force)
        rc = rp_error_set(err, RP_ECONFLICT,
                          "the destination database already holds data (in %s); --force empties "
                          "it first",
                          busy.data);
    return rc;
}

static int empty_destination(struct rp_store_conn *c, const struct names *tables,
                             struct rp_arena *a, struct rp_error *err)
{
    struct rp_sql q;
    bool any = false;

    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "TRUNCATE ");
    for (size_t i = 0; i < tables->n; i++) {
        if (strcmp(tables->v[i], "rp_schema_version") == 0)
            continue;
        rp_sql_add(&q, any ? ", " : "");
        rp_sql_ident(&q, tables->v[i]);
        any = true;
    }
    return any ? rp_store_exec(c, &q, NULL, err) : 0;
}

/*
 * Every sequence of the destination past the largest value its column now holds (and past
 * SQLite's AUTOINCREMENT mark, so a change-feed position is never handed out twice). setval
 * is not transactional: if the commit failed after this, the sequences stay ahead, which
 * costs nothing.
 */
static int fix_sequences(struct rp_store_conn *c, const struct plan *p, struct rp_arena *a,
                         struct rp_error *err)
{
    struct names cols;
    struct rp_sql q;
    int rc;

    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT DISTINCT table_name::text FROM information_schema.columns"
                   " WHERE table_schema = current_schema() AND column_default LIKE 'nextval(%'"
                   " ORDER BY 1");
    cols = (struct names){.a = a};
    rc = rp_store_query(c, &q, names_row, &cols, err);
    for (size_t i = 0; i < cols.n && rc == 0; i++) {
        struct names colnames;
        int64_t mark = 0;
        rp_sql_init(&q, a, rp_store_conn_dialect(c));
        rp_sql_add(&q, "SELECT column_name::text FROM information_schema.columns"
                       " WHERE table_schema = current_schema() AND column_default LIKE"
                       " 'nextval(%' AND table_name = ");
        rp_sql_param(&q, rp_value_cstr(cols.v[i]));
        colnames = (struct names){.a = a};
        rc = rp_store_query(c, &q, names_row, &colnames, err);
        for (size_t k = 0; k < p->n; k++)
            if (strcmp(p->t[k].name, cols.v[i]) == 0)
                mark = p->t[k].seq_floor;
        for (size_t j = 0; j < colnames.n && rc == 0; j++) {
            int64_t top = strcmp(colnames.v[j], "rowid") == 0 ? 0 : mark;
            rp_sql_init(&q, a, rp_store_conn_dialect(c));
            rp_sql_add(&q, "SELECT setval(pg_get_serial_sequence(");
            rp_sql_param(&q, rp_value_cstr(rp_arena_sprintf(a, "\"%s\"", cols.v[i])));
            rp_sql_add(&q, ", ");
            rp_sql_param(&q, rp_value_cstr(colnames.v[j]));
            rp_sql_add(&q, "), GREATEST(coalesce(max(");
            rp_sql_ident(&q, colnames.v[j]);
            rp_sql_add(&q, "), 0), ");
            rp_sql_param(&q, rp_value_int(top));
            rp_sql_add(&q, "::bigint) + 1, false) FROM ");
            rp_sql_ident(&q, cols.v[i]);
            rc = rp_store_query(c, &q, NULL, NULL, err);
        }
    }
    return rc;
}

/*
 * The indexes of a destination table that no constraint owns (the record tables' field,
 * unique-field and trigram indexes), with their definitions: a table is loaded without them
 * and they are built again from the same definitions afterwards, in the same transaction,
 * because building an index once costs far less than maintaining it row by row (a GIN
 * trigram index above all).
 */
static int take_indexes(struct rp_store_conn *c, const char *table, struct names *idx,
                        struct rp_arena *a, struct rp_error *err)
{
    struct rp_sql q;
    int rc;

    *idx = (struct names){.a = a};
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT indexname::text, indexdef::text FROM pg_indexes i"
                   " WHERE schemaname = current_schema() AND tablename = ");
    rp_sql_param(&q, rp_value_cstr(table));
    rp_sql_add(&q, " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid ="
                   " to_regclass(quote_ident(i.indexname))) ORDER BY 1");
    rc = rp_store_query(c, &q, names_row, idx, err);
    for (size_t i = 0; i < idx->n && rc == 0; i++)
        rc = rp_store_exec_script(c, rp_arena_sprintf(a, "DROP INDEX \"%s\"", idx->v[i]), err);
    return rc;
}

/* Builds again what take_indexes dropped, from the definitions it read. */
static int put_indexes(struct rp_store_conn *c, const struct names *idx, struct rp_error *err)
{
    int rc = 0;
    for (size_t i = 0; i < idx->n && rc == 0; i++)
        rc = idx->text[i] ? rp_store_exec_script(c, idx->text[i], err) : RP_EINTERNAL;
    return rc;
}

static int copy_tables(struct copy_unit *u, struct rp_store_conn *c, bool system,
                       struct rp_error *err)
{
    for (size_t i = 0; i < u->plan->n; i++) {
        struct table *t = &u->plan->t[i];
        struct names indexes = {0}; /* dropped for the load, built again after it */
        struct rp_error inner;
        int rc;
        if (t->system != system)
            continue;
        rp_error_init(&inner, u->a);
        rc = resolve(u->src, c, t, u->a, &inner);
        if (rc == 0 && !system)
            rc = take_indexes(c, t->name, &indexes, u->a, &inner);
        if (rc == 0)
            rc = copy_table(u->src, c, t, u->opt->batch_rows, &u->copied[i], u->a, &inner);
        if (rc == 0)
            rc = put_indexes(c, &indexes, &inner);
        if (rc < 0)
            return rp_error_set(err, rc, "could not copy table \"%s\": %s", t->name,
                                inner.detail ? inner.detail : rp_err_title(rc));
        rp_log_info("copied %" PRId64 " rows of %s", u->copied[i], t->name);
    }
    return 0;
}

static int copy_unit_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct copy_unit *u = ctx;
    struct names tables;
    int rc;

    memset(u->copied, 0, u->plan->n * sizeof(*u->copied));
    rc = run_names(c, u->a,
                   "SELECT table_name::text FROM information_schema.tables"
                   " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
                   " ORDER BY 1",
                   &tables, err);
    if (rc == 0)
        rc = check_empty(c, &tables, u->opt->force, u->a, err);
    if (rc == 0)
        rc = empty_destination(c, &tables, u->a, err);
    if (rc == 0)
        rc = copy_tables(u, c, true, err);
    if (rc == 0) {
        rc = u->opt->schema(c, u->opt->schema_ctx, err);
        if (rc < 0)
            rp_error_set(err, rc, "could not create the record tables in the destination");
    }
    if (rc == 0)
        rc = copy_tables(u, c, false, err);
    if (rc == 0)
        rc = fix_sequences(c, u->plan, u->a, err);
    /* planner statistics for the new rows: without them the first queries guess (a list page
       measured at 40 ms before, 9 ms after); ANALYZE may run inside the transaction */
    if (rc == 0)
        rc = simple(c, "ANALYZE", err);
    return rc;
}

/* ---- verification ---- */

struct summer {
    crypto_hash_sha256_state st;
    int64_t rows;
};

/*
 * The canonical text of a row: per column "N" for NULL, "I<decimal>;" for an integer,
 * "R<%.17g>;" for a number (exact for a double), "T<bytes>:<text>" for text; then a newline.
 */
static int sum_row(void *ctx, const struct rp_value *cols, size_t ncols)
{
    struct summer *s = ctx;
    char num[48];
    int n;

    for (size_t i = 0; i < ncols; i++) {
        const struct rp_value *v = &cols[i];
        switch (v->type) {
        case RP_V_NULL:
            crypto_hash_sha256_update(&s->st, (const unsigned char *)"N", 1);
            break;
        case RP_V_TEXT:
            n = snprintf(num, sizeof(num), "T%zu:", v->u.s.len);
            crypto_hash_sha256_update(&s->st, (const unsigned char *)num, (size_t)n);
            crypto_hash_sha256_update(&s->st, (const unsigned char *)v->u.s.p, v->u.s.len);
            break;
        case RP_V_NUM:
            n = snprintf(num, sizeof(num), "R%.17g;", v->u.d);
            crypto_hash_sha256_update(&s->st, (const unsigned char *)num, (size_t)n);
            break;
        case RP_V_BOOL:
            n = snprintf(num, sizeof(num), "I%d;", v->u.b ? 1 : 0);
            crypto_hash_sha256_update(&s->st, (const unsigned char *)num, (size_t)n);
            break;
        default:
            n = snprintf(num, sizeof(num), "I%" PRId64 ";", v->u.i);
            crypto_hash_sha256_update(&s->st, (const unsigned char *)num, (size_t)n);
            break;
        }
    }
    crypto_hash_sha256_update(&s->st, (const unsigned char *)"\n", 1);
    s->rows++;
    return 0;
}

/* count(*) and the checksum of t on c; the count is asked separately from the rows summed. */
static int table_sum(struct rp_store_conn *c, const struct table *t, int64_t *rows, char hex[65],
                     struct rp_arena *a, struct rp_error *err)
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    struct summer s = {.rows = 0};
    struct rp_sql q;
    int64_t count = -1;
    int rc;

    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT count(*) FROM ");
    rp_sql_ident(&q, t->name);
    if (t->keep)
        rp_sql_addf(&q, " WHERE %s", t->keep);
    rc = rp_store_query(c, &q, rp_store_row_int, &count, err);
    if (rc < 0)
        return rc;
    crypto_hash_sha256_init(&s.st);
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    select_sql(&q, t, true);
    rc = scan(c, &q, sum_row, &s, a, err);
    if (rc < 0)
        return rc;
    crypto_hash_sha256_final(&s.st, digest);
    sodium_bin2hex(hex, 65, digest, sizeof(digest));
    /* a count that disagrees with the rows read shows as a mismatch of the two sides */
    *rows = count == s.rows ? count : -1;
    return 0;
}

static int verify_plan(struct rp_store_conn *sc, struct rp_store_conn *dc, struct plan *p,
                       bool resolved, struct rp_store_copy_report *rep, struct rp_arena *a,
                       struct rp_error *err)
{
    rep->tables = rp_xcalloc(p->n ? p->n : 1, sizeof(*rep->tables));
    rep->ntables = p->n;
    rep->ok = true;
    for (size_t i = 0; i < p->n; i++) {
        struct rp_store_copy_table *r = &rep->tables[i];
        struct table *t = &p->t[i];
        struct rp_error inner;
        int rc = 0;

        snprintf(r->name, sizeof(r->name), "%s", t->name);
        rp_error_init(&inner, a);
        if (!resolved)
            rc = resolve(sc, dc, t, a, &inner);
        if (rc == 0)
            rc = table_sum(sc, t, &r->src_rows, r->src_sum, a, &inner);
        if (rc == 0)
            rc = table_sum(dc, t, &r->dst_rows, r->dst_sum, a, &inner);
        if (rc < 0)
            return rp_error_set(err, rc, "could not verify table \"%s\": %s", t->name,
                                inner.detail ? inner.detail : rp_err_title(rc));
        r->ok =
            r->src_rows >= 0 && r->src_rows == r->dst_rows && strcmp(r->src_sum, r->dst_sum) == 0;
        rep->ok &= r->ok;
    }
    return 0;
}

static int verdict(const struct rp_store_copy_report *rep, struct rp_error *err)
{
    size_t bad = 0;
    const char *first = NULL;

    for (size_t i = 0; i < rep->ntables; i++) {
        if (!rep->tables[i].ok) {
            bad++;
            first = first ? first : rep->tables[i].name;
        }
    }
    if (!bad)
        return 0;
    return rp_error_set(err, RP_EDB,
                        "verification failed: %zu of %zu tables differ between source and "
                        "destination (first: \"%s\")",
                        bad, rep->ntables, first);
}

static int check_engines(struct rp_store *src, struct rp_store *dst, struct rp_error *err)
{
    if (src->drv->dialect != RP_SQL_SQLITE || dst->drv->dialect != RP_SQL_PG)
        return rp_error_set(err, RP_EUNSUPPORTED,
                            "a copy goes from a SQLite database to a PostgreSQL database");
    return 0;
}

int rp_store_copy(struct rp_store *src, struct rp_store *dst,
                  const struct rp_store_copy_options *opt, struct rp_store_copy_report *rep,
                  struct rp_error *err)
{
    struct rp_store_conn *sc = NULL, *dc = NULL;
    struct copy_unit u = {.opt = opt};
    struct plan plan = {0};
    struct rp_arena a;
    int64_t users = 0;
    int rc;

    memset(rep, 0, sizeof(*rep));
    if ((rc = check_engines(src, dst, err)) < 0)
        return rc;
    if (!opt || !opt->schema)
        return rp_error_set(err, RP_EINTERNAL, "a copy needs a schema step");
    rp_arena_init(&a);
    sc = rp_store_reader_acquire(src);
    rc = snapshot_begin(sc, err);
    if (rc == 0)
        rc = plan_source(sc, &a, &plan, err);
    if (rc == 0)
        rc = rp_store_query_int(sc, "SELECT count(*) FROM rp_user", &users, err);
    if (rc == 0 && users == 0)
        rc = rp_error_set(err, RP_EINVAL,
                          "the source database has no users: it is not a rapport installation "
                          "that has been served, and there is nothing to copy");
    if (rc < 0)
        goto out;
    u.src = sc;
    u.plan = &plan;
    u.a = &a;
    u.copied = rp_arena_calloc(&a, plan.n ? plan.n : 1, sizeof(*u.copied));
    rc = rp_store_write(dst, copy_unit_run, &u, err);
    if (rc < 0)
        goto out;
    dc = rp_store_reader_acquire(dst);
    rc = snapshot_begin(dc, err);
    if (rc == 0)
        rc = verify_plan(sc, dc, &plan, true, rep, &a, err);
    for (size_t i = 0; i < plan.n && i < rep->ntables; i++) {
        rep->tables[i].copied = u.copied[i];
        rep->rows += u.copied[i];
    }
    if (rc == 0)
        rc = verdict(rep, err);
out:
    snapshot_end(sc);
    snapshot_end(dc);
    if (sc)
        rp_store_reader_release(src, sc);
    if (dc)
        rp_store_reader_release(dst, dc);
    rp_arena_release(&a);
    return rc;
}

int rp_store_copy_verify(struct rp_store *src, struct rp_store *dst,
                         struct rp_store_copy_report *rep, struct rp_error *err)
{
    struct rp_store_conn *sc = NULL, *dc = NULL;
    struct plan plan = {0};
    struct rp_arena a;
    int rc;

    memset(rep, 0, sizeof(*rep));
    if ((rc = check_engines(src, dst, err)) < 0)
        return rc;
    rp_arena_init(&a);
    sc = rp_store_reader_acquire(src);
    dc = rp_store_reader_acquire(dst);
    rc = snapshot_begin(sc, err);
    if (rc == 0)
        rc = snapshot_begin(dc, err);
    if (rc == 0)
        rc = plan_source(sc, &a, &plan, err);
    if (rc == 0)
        rc = verify_plan(sc, dc, &plan, false, rep, &a, err);
    if (rc == 0)
        rc = verdict(rep, err);
    snapshot_end(sc);
    snapshot_end(dc);
    rp_store_reader_release(src, sc);
    rp_store_reader_release(dst, dc);
    rp_arena_release(&a);
    return rc;
}

void rp_store_copy_report_release(struct rp_store_copy_report *rep)
{
    if (!rep)
        return;
    free(rep->tables);
    memset(rep, 0, sizeof(*rep));
}
