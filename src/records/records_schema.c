/*
 * Record tables follow the metadata: one table per object named after it,
 * system columns first, one column per stored field, an index per indexed
 * field, a partial unique index per unique field (soft-deleted rows do not
 * count), and for objects with searchable fields an FTS5 trigram index kept
 * in step by triggers. Syncing is idempotent and only ever adds: columns of
 * removed fields stay, so no data is lost by a metadata change.
 */
#include "records/records_int.h"
#include "base/json.h"
#include "base/log.h"

#include <stdio.h>

/* Storage types (docs/architecture.md): the same values on both engines, 64-bit integers for
 * money (1/10,000), dates (day numbers), datetimes (epoch ms) and booleans (0/1). */
static const char *column_type(const struct rp_field *f, enum rp_sql_dialect d)
{
    switch (f->type) {
    case RP_F_NUMBER:
    case RP_F_PERCENT:
        return rp_sql_idiom(d, RP_SQL_TYPE_REAL);
    case RP_F_MONEY:
    case RP_F_DATE:
    case RP_F_DATETIME:
    case RP_F_BOOL:
    case RP_F_INTEGER:
        return rp_sql_idiom(d, RP_SQL_TYPE_INT);
    default:
        return "TEXT";
    }
}

static bool is_stored(const struct rp_field *f)
{
    return f->type != RP_F_FORMULA;
}

struct name_list {
    char **names;
    size_t n;
    struct rp_arena *a;
};

static int name_row(void *ctx, const struct rp_value *cols, size_t ncols)
{
    struct name_list *l = ctx;
    if (ncols < 1 || cols[0].type != RP_V_TEXT)
        return 0;
    l->names = rp_arena_realloc(l->a, l->names, l->n * sizeof(char *), (l->n + 1) * sizeof(char *));
    l->names[l->n++] = rp_arena_strndup(l->a, cols[0].u.s.p, cols[0].u.s.len);
    return 0;
}

static bool has_name(const struct name_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0)
            return true;
    return false;
}

static int run(struct rp_store_conn *c, struct rp_buf *b, struct rp_error *err)
{
    int rc;
    if (rp_buf_error(b))
        return rp_error_set(err, RP_ETOOBIG, "schema statement too large");
    rc = rp_store_exec_script(c, b->data, err);
    rp_buf_reset(b);
    return rc;
}

/*
 * The text a record contributes to its full-text index: every searchable field, one per line,
 * and for people both orders of their name without and with a space, so that "张浩然" and
 * "John Smith" match although surname and given name are separate fields. The trigram
 * tokenizer only matches within this one column, which is why the names are joined here.
 */
static void fts_doc_sql(const struct rp_object *o, const char *row, struct rp_buf *b)
{
    rp_records_search_doc_sql(o, row, RP_SQL_SQLITE, b);
}

void rp_records_search_doc_sql(const struct rp_object *o, const char *row, enum rp_sql_dialect d,
                               struct rp_buf *b)
{
    const char *nl = rp_sql_idiom(d, RP_SQL_NEWLINE), *dot = row ? "." : "";
    bool first = true, has_first = false, has_last = false;

    row = row ? row : "";
    for (size_t i = 0; i < o->nfields; i++) {
        const struct rp_field *f = &o->fields[i];
        if (!f->searchable)
            continue;
        if (!first)
            rp_buf_addf(b, " || %s || ", nl);
        rp_buf_addf(b, "coalesce(%s%s\"%s\",'')", row, dot, f->name);
        first = false;
        has_first |= strcmp(f->name, "first_name") == 0;
        has_last |= strcmp(f->name, "last_name") == 0;
    }
    if (has_first && has_last)
        rp_buf_addf(b,
                    " || %s || coalesce(%s%s\"last_name\",'') || coalesce(%s%s\"first_name\",'')"
                    " || %s || coalesce(%s%s\"first_name\",'') || ' ' ||"
                    " coalesce(%s%s\"last_name\",'')",
                    nl, row, dot, row, dot, nl, row, dot, row, dot);
}

/*
 * PostgreSQL's full-text index (pg_trgm): a GIN trigram index on the same document
 * expression, over the row's own columns, so there is nothing to maintain per write and no
 * pending table. A search word of three characters or more becomes an ILIKE on the
 * expression, which the index answers (records_read.c); trigrams work on Chinese as on Latin
 * text in a UTF-8 database. rp_setting keeps the expression the index was built on, so a
 * change of searchable fields rebuilds it.
 */
static int sync_trgm(struct rp_store_conn *c, const struct rp_object *o, struct rp_arena *a,
                     struct rp_error *err)
{
    struct name_list existing = {.a = a};
    struct rp_buf doc, b;
    struct rp_sql q;
    char key[128];
    int rc;

    rp_buf_init(&doc, a, 1 << 16);
    rp_records_search_doc_sql(o, NULL, RP_SQL_PG, &doc);
    snprintf(key, sizeof(key), "fts:%s", o->name);
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = ");
    rp_sql_param(&q, rp_value_cstr(key));
    rc = rp_store_query(c, &q, name_row, &existing, err);
    if (rc < 0)
        return rc;
    if (existing.n == 1 && strncmp(existing.names[0], "trgm-v1 ", 8) == 0 &&
        strcmp(existing.names[0] + 8, doc.data) == 0)
        return 0;
    rp_buf_init(&b, a, 1 << 20);
    rp_buf_addf(&b, "DROP INDEX IF EXISTS \"%s__trgm\";", o->name);
    if (doc.len)
        rp_buf_addf(&b,
                    "CREATE EXTENSION IF NOT EXISTS pg_trgm;"
                    "CREATE INDEX \"%s__trgm\" ON \"%s\" USING gin ((%s) gin_trgm_ops);",
                    o->name, o->name, doc.data);
    rc = run(c, &b, err);
    if (rc < 0)
        return rc;
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_setting(key, value) VALUES (");
    rp_sql_param(&q, rp_value_cstr(key));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(rp_arena_sprintf(a, "trgm-v1 %s", doc.data)));
    rp_sql_add(&q, ") ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    return rp_store_exec(c, &q, NULL, err);
}

static int sync_fts(struct rp_store_conn *c, const struct rp_object *o, struct rp_arena *a,
                    struct rp_error *err)
{
    struct rp_buf newdoc, olddoc, cols, b, sig;
    struct rp_sql q;
    struct name_list existing = {.a = a};
    char key[128];
    int rc;

    rp_buf_init(&newdoc, a, 1 << 16);
    rp_buf_init(&olddoc, a, 1 << 16);
    rp_buf_init(&cols, a, 1 << 16);
    fts_doc_sql(o, "new", &newdoc);
    fts_doc_sql(o, "old", &olddoc);
    for (size_t i = 0; i < o->nfields; i++)
        if (o->fields[i].searchable)
            rp_buf_addf(&cols, "%s\"%s\"", cols.len ? ", " : "", o->fields[i].name);
    snprintf(key, sizeof(key), "fts:%s", o->name);
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = ");
    rp_sql_param(&q, rp_value_cstr(key));
    rc = rp_store_query(c, &q, name_row, &existing, err);
    if (rc < 0)
        return rc;
    /* The signature is the maintenance scheme and the document expression: a change rebuilds. */
    rp_buf_init(&sig, a, 1 << 16);
    rp_buf_adds(&sig, "pending-v2 ");
    rp_buf_add(&sig, newdoc.data, newdoc.len);
    if (existing.n == 1 && strcmp(existing.names[0], sig.data) == 0)
        return 0;

    rp_buf_init(&b, a, 1 << 20);
    rp_buf_addf(&b,
                "DROP TRIGGER IF EXISTS \"%s__fts_ai\"; DROP TRIGGER IF EXISTS \"%s__fts_ad\";"
                "DROP TRIGGER IF EXISTS \"%s__fts_au\"; DROP TABLE IF EXISTS \"%s__fts\";"
                "DELETE FROM rp_fts_pending WHERE object = '%s';",
                o->name, o->name, o->name, o->name, o->name);
    if (newdoc.len) {
        struct rp_buf rowdoc;
        rp_buf_init(&rowdoc, a, 1 << 16);
        fts_doc_sql(o, "\"t\"", &rowdoc);
        /*
         * Contentless: the index keeps only trigrams. Triggers only note which rows changed,
         * with the text they were indexed under; rp_records_fts_flush brings the index up to
         * date once per commit group, because FTS5 writes a segment for every statement
         * that touches it inside a transaction.
         */
        rp_buf_addf(
            &b,
            "CREATE VIRTUAL TABLE \"%s__fts\" USING fts5(doc, content='', tokenize='trigram');"
            "INSERT INTO \"%s__fts\"(rowid, doc) SELECT \"t\".rowid, %s FROM \"%s\" AS \"t\";",
            o->name, o->name, rowdoc.data, o->name);
        rp_buf_addf(&b,
                    "CREATE TRIGGER \"%s__fts_ai\" AFTER INSERT ON \"%s\" BEGIN"
                    " INSERT INTO rp_fts_pending(object, row, old_doc) VALUES ('%s', new.rowid,"
                    " NULL); END;",
                    o->name, o->name, o->name);
        rp_buf_addf(
            &b,
            "CREATE TRIGGER \"%s__fts_ad\" AFTER DELETE ON \"%s\" BEGIN"
            " INSERT INTO rp_fts_pending(object, row, old_doc) VALUES ('%s', old.rowid, %s);"
            " END;",
            o->name, o->name, o->name, olddoc.data);
        rp_buf_addf(
            &b,
            "CREATE TRIGGER \"%s__fts_au\" AFTER UPDATE OF %s ON \"%s\" BEGIN"
            " INSERT INTO rp_fts_pending(object, row, old_doc) VALUES ('%s', old.rowid, %s);"
            " END;",
            o->name, cols.data, o->name, o->name, olddoc.data);
    }
    rc = run(c, &b, err);
    if (rc < 0)
        return rc;
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_setting(key, value) VALUES (");
    rp_sql_param(&q, rp_value_cstr(key));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_text(sig.data, sig.len));
    rp_sql_add(&q, ") ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    return rp_store_exec(c, &q, NULL, err);
}

/*
 * Brings the full-text index of every object with pending rows up to date, in two
 * statements per object. For each row, the first pending note of the group holds the text
 * the row is indexed under (none for a row the group inserted), which is what must be
 * deleted; the row's current text is then indexed if it still exists.
 */
static int fts_flush(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct rp_records *rs = ctx;
    struct name_list objects;
    struct rp_meta *m;
    struct rp_arena a;
    struct rp_sql q;
    int rc;

    rp_arena_init(&a);
    objects = (struct name_list){.a = &a};
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT DISTINCT object FROM rp_fts_pending");
    rc = rp_store_query(c, &q, name_row, &objects, err);
    if (rc < 0 || objects.n == 0) {
        rp_arena_release(&a);
        return rc;
    }
    m = rp_meta_acquire(rs->meta);
    for (size_t i = 0; i < objects.n && rc == 0; i++) {
        const struct rp_object *o = rp_meta_object(m, objects.names[i]);
        struct rp_buf doc;
        if (o && o->nsearch) {
            rp_buf_init(&doc, &a, 1 << 16);
            fts_doc_sql(o, "\"t\"", &doc);
            rp_sql_init(&q, &a, rp_store_conn_dialect(c));
            rp_sql_addf(&q,
                        "INSERT INTO \"%s__fts\"(\"%s__fts\", rowid, doc) SELECT 'delete', p.row,"
                        " p.old_doc FROM rp_fts_pending AS p WHERE p.object = ",
                        o->name, o->name);
            rp_sql_param(&q, rp_value_cstr(o->name));
            rp_sql_add(&q, " AND p.old_doc IS NOT NULL AND p.seq = (SELECT min(x.seq) FROM"
                           " rp_fts_pending AS x WHERE x.object = p.object AND x.row = p.row)");
            rc = rp_store_exec(c, &q, NULL, err);
            if (rc < 0)
                break;
            rp_sql_init(&q, &a, rp_store_conn_dialect(c));
            rp_sql_addf(
                &q,
                "INSERT INTO \"%s__fts\"(rowid, doc) SELECT \"t\".rowid, %s FROM \"%s\" AS"
                " \"t\" WHERE \"t\".rowid IN (SELECT row FROM rp_fts_pending WHERE object = ",
                o->name, doc.data, o->name);
            rp_sql_param(&q, rp_value_cstr(o->name));
            rp_sql_add(&q, ")");
            rc = rp_store_exec(c, &q, NULL, err);
        }
        if (rc == 0) {
            rp_sql_init(&q, &a, rp_store_conn_dialect(c));
            rp_sql_add(&q, "DELETE FROM rp_fts_pending WHERE object = ");
            rp_sql_param(&q, rp_value_cstr(objects.names[i]));
            rc = rp_store_exec(c, &q, NULL, err);
        }
    }
    rp_meta_release(m);
    rp_arena_release(&a);
    return rc;
}

/*
 * Indexes this module created (named "<object>__...") that the metadata no longer asks for,
 * e.g. after an index changed shape, are dropped: they cost every write and hold no data.
 */
static int drop_stale_indexes(struct rp_store_conn *c, const struct rp_object *o,
                              const struct name_list *expected, struct rp_buf *b,
                              struct rp_arena *a, struct rp_error *err)
{
    struct name_list have = {.a = a};
    size_t plen = strlen(o->name);
    struct rp_sql q;
    int rc;

    struct rp_value table = rp_value_cstr(o->name);

    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add_fragment(&q, rp_sql_idiom(rp_store_conn_dialect(c), RP_SQL_TABLE_INDEXES), &table,
                        1);
    rc = rp_store_query(c, &q, name_row, &have, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < have.n; i++) {
        const char *n = have.names[i];
        if (strncmp(n, o->name, plen) != 0 || strncmp(n + plen, "__", 2) != 0 ||
            has_name(expected, n))
            continue;
        rp_buf_addf(b, "DROP INDEX IF EXISTS \"%s\";", n);
    }
    return 0;
}

int rp_records_sync_object(struct rp_store_conn *c, const struct rp_object *o, struct rp_arena *a,
                           struct rp_error *err)
{
    struct name_list cols = {.a = a}, expected = {.a = a};
    enum rp_sql_dialect d = rp_store_conn_dialect(c);
    struct rp_value table = rp_value_cstr(o->name);
    const char *tint = rp_sql_idiom(d, RP_SQL_TYPE_INT);
    struct rp_buf b;
    struct rp_sql q;
    int rc;

    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add_fragment(&q, rp_sql_idiom(d, RP_SQL_TABLE_COLUMNS), &table, 1);
    rc = rp_store_query(c, &q, name_row, &cols, err);
    if (rc < 0)
        return rc;
    rp_buf_init(&b, a, 1 << 20);
    if (cols.n == 0) {
        rp_buf_addf(&b,
                    "CREATE TABLE \"%s\" (\"id\" TEXT PRIMARY KEY NOT NULL,"
                    " \"version\" %s NOT NULL, \"created_at\" %s NOT NULL,"
                    " \"updated_at\" %s NOT NULL, \"created_by\" TEXT, \"updated_by\" TEXT,"
                    " \"deleted_at\" %s%s",
                    o->name, tint, tint, tint, tint, rp_sql_idiom(d, RP_SQL_ROWID_COLUMN));
        for (size_t i = 0; i < o->nfields; i++) {
            const struct rp_field *f = &o->fields[i];
            if (f->system && strcmp(f->name, "owner_id") != 0)
                continue;
            if (is_stored(f))
                rp_buf_addf(&b, ", \"%s\" %s", f->name, column_type(f, d));
        }
        rp_buf_adds(&b, ");");
    } else {
        for (size_t i = 0; i < o->nfields; i++) {
            const struct rp_field *f = &o->fields[i];
            if (is_stored(f) && !has_name(&cols, f->name))
                rp_buf_addf(&b, "ALTER TABLE \"%s\" ADD COLUMN \"%s\" %s;", o->name, f->name,
                            column_type(f, d));
        }
    }
    for (size_t i = 0; i < o->nfields; i++) {
        const struct rp_field *f = &o->fields[i];
        const char *name;
        if (!is_stored(f) || !(f->unique || f->indexed))
            continue;
        if (f->unique) {
            name = rp_arena_sprintf(a, "%s__%s__uq", o->name, f->name);
            rp_buf_addf(&b,
                        "CREATE UNIQUE INDEX IF NOT EXISTS \"%s\" ON \"%s\"(\"%s\")"
                        " WHERE \"deleted_at\" IS NULL;",
                        name, o->name, f->name);
        } else if (strcmp(f->name, "created_at") == 0 || strcmp(f->name, "updated_at") == 0) {
            name = rp_arena_sprintf(a, "%s__%s", o->name, f->name);
            rp_buf_addf(&b, "CREATE INDEX IF NOT EXISTS \"%s\" ON \"%s\"(\"%s\");", name, o->name,
                        f->name);
        } else {
            /* (field, created_at, rowid): a filter on the field sorted by recency is one walk. */
            name = rp_arena_sprintf(a, "%s__%s__recent", o->name, f->name);
            rp_buf_addf(&b, "CREATE INDEX IF NOT EXISTS \"%s\" ON \"%s\"(\"%s\", \"created_at\");",
                        name, o->name, f->name);
        }
        expected.names = rp_arena_realloc(a, expected.names, expected.n * sizeof(char *),
                                          (expected.n + 1) * sizeof(char *));
        expected.names[expected.n++] = (char *)name;
    }
    if (d == RP_SQL_PG && o->nsearch) {
        /* the trigram index of sync_trgm is this module's too */
        expected.names = rp_arena_realloc(a, expected.names, expected.n * sizeof(char *),
                                          (expected.n + 1) * sizeof(char *));
        expected.names[expected.n++] = rp_arena_sprintf(a, "%s__trgm", o->name);
    }
    rc = drop_stale_indexes(c, o, &expected, &b, a, err);
    if (rc < 0)
        return rc;
    if (b.len) {
        rc = run(c, &b, err);
        if (rc < 0)
            return rc;
    }
    return d == RP_SQL_PG ? sync_trgm(c, o, a, err) : sync_fts(c, o, a, err);
}

/* ---- loading and defining metadata ---- */

struct defs {
    struct rp_meta_custom_def *d;
    size_t n;
    struct rp_arena *a;
};

static int def_row(void *ctx, const struct rp_value *cols, size_t ncols)
{
    struct defs *d = ctx;
    struct rp_meta_custom_def *def;
    if (ncols < 3)
        return 0;
    d->d = rp_arena_realloc(d->a, d->d, d->n * sizeof(*d->d), (d->n + 1) * sizeof(*d->d));
    def = &d->d[d->n++];
    def->kind = rp_arena_strndup(d->a, cols[0].u.s.p, cols[0].u.s.len);
    def->object = rp_arena_strndup(d->a, cols[1].u.s.p, cols[1].u.s.len);
    def->definition = rp_arena_strndup(d->a, cols[2].u.s.p, cols[2].u.s.len);
    return 0;
}

static int load_defs(struct rp_store_conn *c, struct rp_arena *a, struct defs *d,
                     struct rp_error *err)
{
    struct rp_sql q;
    d->a = a;
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT kind, object, definition FROM rp_meta_custom ORDER BY seq");
    return rp_store_query(c, &q, def_row, d, err);
}

struct load_ctx {
    const struct rp_clock *clock;
    struct rp_meta *meta;
};

static int sync_all(struct rp_store_conn *c, const struct rp_meta *m, struct rp_arena *a,
                    struct rp_error *err)
{
    for (size_t i = 0; i < m->nobjects; i++) {
        int rc = rp_records_sync_object(c, &m->objects[i], a, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A database that never had planner statistics gets them once (sampled, so quick). */
static int ensure_statistics(struct rp_store_conn *c, struct rp_arena *a, struct rp_error *err)
{
    struct name_list stat = {.a = a};
    struct rp_sql q;
    int rc;

    /* PostgreSQL's autovacuum gathers statistics by itself. */
    if (rp_store_conn_dialect(c) == RP_SQL_PG)
        return 0;
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'");
    rc = rp_store_query(c, &q, name_row, &stat, err);
    if (rc < 0 || stat.n > 0)
        return rc;
    return rp_store_exec_script(c, "ANALYZE", err);
}

int rp_records_sync_schema_in(struct rp_store_conn *c, int64_t now_ms, struct rp_error *err)
{
    struct rp_meta *m = NULL;
    struct rp_arena a;
    struct defs d = {0};
    int rc;

    rp_arena_init(&a);
    rc = load_defs(c, &a, &d, err);
    if (rc == 0)
        rc = rp_meta_build(rp_meta_catalogue(), d.d, d.n, now_ms, &m, err);
    if (rc == 0)
        rc = sync_all(c, m, &a, err);
    if (m)
        rp_meta_release(m);
    rp_arena_release(&a);
    return rc;
}

static int load_unit(struct rp_store_conn *c, void *vctx, struct rp_error *err)
{
    struct load_ctx *ctx = vctx;
    struct rp_arena a;
    struct defs d = {0};
    int rc;

    if (ctx->meta) { /* a second run of this unit after a rollback */
        rp_meta_release(ctx->meta);
        ctx->meta = NULL;
    }
    rp_arena_init(&a);
    rc = load_defs(c, &a, &d, err);
    if (rc == 0)
        rc = rp_meta_build(rp_meta_catalogue(), d.d, d.n, rp_clock_now_ms(ctx->clock), &ctx->meta,
                           err);
    if (rc == 0)
        rc = sync_all(c, ctx->meta, &a, err);
    if (rc == 0)
        rc = ensure_statistics(c, &a, err);
    if (rc < 0 && ctx->meta) {
        rp_meta_release(ctx->meta);
        ctx->meta = NULL;
    }
    rp_arena_release(&a);
    return rc;
}

int rp_records_load_metadata(struct rp_store *store, const struct rp_clock *clock,
                             struct rp_meta **out, struct rp_error *err)
{
    struct load_ctx ctx = {.clock = clock};
    int rc = rp_store_write(store, load_unit, &ctx, err);
    if (rc == 0)
        *out = ctx.meta;
    return rc;
}

struct define_ctx {
    struct rp_records *rs;
    const struct rp_principal *p;
    const char *kind, *object, *definition;
    struct rp_meta *next;
};

/* The audit action of a kind of custom definition (meta.h, struct rp_meta_custom_def). */
static const char *define_action(const char *kind)
{
    static const char *const map[][2] = {
        {"object", "define_object"},        {"field", "define_field"},
        {"object_change", "change_object"}, {"field_change", "change_field"},
        {"field_delete", "delete_field"},   {"object_delete", "delete_object"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i][0], kind) == 0)
            return map[i][1];
    return "define";
}

static int define_unit(struct rp_store_conn *c, void *vctx, struct rp_error *err)
{
    struct define_ctx *ctx = vctx;
    struct rp_arena a;
    struct defs d = {0};
    struct rp_sql q;
    const struct rp_object *o;
    int64_t now = rp_clock_now_ms(ctx->rs->clock);
    int rc;

    if (ctx->next) { /* a second run of this unit after a rollback */
        rp_meta_release(ctx->next);
        ctx->next = NULL;
    }
    rp_arena_init(&a);
    rc = load_defs(c, &a, &d, err);
    if (rc < 0)
        goto out;
    d.d = rp_arena_realloc(&a, d.d, d.n * sizeof(*d.d), (d.n + 1) * sizeof(*d.d));
    d.d[d.n].kind = ctx->kind;
    d.d[d.n].object = ctx->object;
    d.d[d.n].definition = ctx->definition;
    d.n++;
    rc = rp_meta_build(rp_meta_catalogue(), d.d, d.n, now, &ctx->next, err);
    if (rc < 0)
        goto out;
    o = rp_meta_object(ctx->next, ctx->object);
    if (strcmp(ctx->kind, "object_delete") == 0) {
        /* Only an empty object goes: its table stays (only ever added to), unused. */
        int64_t rows = 0;
        rp_sql_init(&q, &a, rp_store_conn_dialect(c));
        rp_sql_add(&q, "SELECT COUNT(*) FROM ");
        rp_sql_ident(&q, ctx->object);
        if ((rc = rp_store_query(c, &q, rp_store_row_int, &rows, err)) < 0)
            goto out;
        if (rows > 0) {
            rc = rp_error_set(err, RP_ECONFLICT,
                              "object \"%s\" has %lld records (deleted ones included); only an "
                              "empty object can be deleted",
                              ctx->object, (long long)rows);
            goto out;
        }
    } else if (!o) {
        rc = RP_EINTERNAL;
        goto out;
    }
    {
        const char *action = define_action(ctx->kind);
        const struct rp_value def[] = {rp_value_cstr(ctx->kind), rp_value_cstr(ctx->object),
                                       rp_value_cstr(ctx->definition), rp_value_int(now),
                                       rp_value_cstr(ctx->p->user_id)};
        const struct rp_value audit[] = {rp_value_int(now), rp_value_cstr(ctx->p->user_id),
                                         rp_value_cstr(action), rp_value_cstr(ctx->object),
                                         rp_value_cstr(ctx->definition)};
        rp_sql_init(&q, &a, rp_store_conn_dialect(c));
        rp_sql_add(&q, "INSERT INTO rp_meta_custom(kind, object, definition, created_at, "
                       "created_by) VALUES ");
        rp_sql_param_list(&q, def, sizeof(def) / sizeof(def[0]));
        rc = rp_store_exec(c, &q, NULL, err);
        if (rc == 0 && o)
            rc = rp_records_sync_object(c, o, &a, err);
        if (rc == 0) {
            /* Definitions are audited like record changes, with the definition as the change. */
            rp_sql_init(&q, &a, rp_store_conn_dialect(c));
            rp_sql_add(&q, "INSERT INTO rp_audit(at, actor, action, object, changes) VALUES ");
            rp_sql_param_list(&q, audit, sizeof(audit) / sizeof(audit[0]));
            rc = rp_store_exec(c, &q, NULL, err);
        }
        /* Other processes reload their snapshot once this commits. */
        if (rc == 0)
            rc = rp_store_notify(c, RP_RECORDS_NOTICE_META, ctx->object, err);
    }
out:
    if (rc < 0 && ctx->next) {
        rp_meta_release(ctx->next);
        ctx->next = NULL;
    }
    rp_arena_release(&a);
    return rc;
}

int rp_records_define(struct rp_records *rs, const struct rp_principal *p, const char *kind,
                      const char *object, const json_t *definition, struct rp_error *err)
{
    struct define_ctx ctx = {.rs = rs, .p = p, .kind = kind, .object = object};
    struct rp_meta *cur;
    char *text;
    int rc = rp_policy_check(p, NULL, RP_ACT_MANAGE_METADATA, err);

    if (rc < 0)
        return rc;
    cur = rp_meta_acquire(rs->meta);
    if (strcmp(kind, "object") != 0 && !rp_meta_object(cur, object))
        rc = rp_error_set(err, RP_ENOTFOUND, "object \"%s\" does not exist", object);
    rp_meta_release(cur);
    if (rc < 0)
        return rc;
    if (!(text = rp_json_dumps(definition, JSON_COMPACT | JSON_SORT_KEYS, err)))
        return err->code;
    ctx.definition = text;
    /* Serialised so that snapshots are swapped in the order their definitions committed. */
    pthread_mutex_lock(&rs->define_lock);
    rc = rp_store_write(rs->store, define_unit, &ctx, err);
    if (rc == 0) {
        rp_meta_registry_swap(rs->meta, ctx.next);
        rp_log_info("defined custom %s on \"%s\"", kind, object);
    } else if (ctx.next) {
        rp_meta_release(ctx.next); /* built, but the commit failed */
    }
    pthread_mutex_unlock(&rs->define_lock);
    free(text);
    return rc;
}

int rp_records_reload_metadata(struct rp_records *rs, struct rp_error *err)
{
    struct rp_store_conn *c;
    struct rp_meta *next = NULL;
    struct rp_arena a;
    struct defs d = {0};
    int rc;

    rp_arena_init(&a);
    /* Under the define lock: a snapshot read here cannot be swapped in after a newer one that
       a definition of this process built. */
    pthread_mutex_lock(&rs->define_lock);
    c = rp_store_reader_acquire(rs->store);
    rc = load_defs(c, &a, &d, err);
    rp_store_reader_release(rs->store, c);
    if (rc == 0)
        rc = rp_meta_build(rp_meta_catalogue(), d.d, d.n, rp_clock_now_ms(rs->clock), &next, err);
    if (rc == 0)
        rp_meta_registry_swap(rs->meta, next);
    pthread_mutex_unlock(&rs->define_lock);
    rp_arena_release(&a);
    return rc;
}

/* Another process changed metadata (or the listener reconnected): read it again. */
static void on_notice(void *ctx, const char *topic, const char *arg)
{
    struct rp_records *rs = ctx;
    struct rp_error err;

    if (strcmp(topic, RP_RECORDS_NOTICE_DEFINITION) == 0 || strcmp(topic, RP_STORE_NOTICE_ALL) == 0)
        rp_records_definitions_forget(rs);
    if (strcmp(topic, RP_RECORDS_NOTICE_META) != 0 && strcmp(topic, RP_STORE_NOTICE_ALL) != 0)
        return;
    rp_error_init(&err, NULL);
    if (rp_records_reload_metadata(rs, &err) < 0)
        rp_log_error("could not reload metadata after a change elsewhere (%s): %s", arg,
                     err.detail ? err.detail : rp_err_name(err.code));
    else if (*arg)
        rp_log_info("reloaded metadata: \"%s\" changed in another process", arg);
}

struct rp_records *rp_records_new(const struct rp_records_config *cfg)
{
    struct rp_records *rs = rp_xcalloc(1, sizeof(*rs));
    rs->store = cfg->store;
    rs->meta = cfg->meta;
    rs->clock = cfg->clock;
    pthread_mutex_init(&rs->define_lock, NULL);
    pthread_mutex_init(&rs->defined.lock, NULL);
    rp_store_subscribe(rs->store, on_notice, rs);
    /* FTS5 is brought up to date once per commit group; pg_trgm indexes need no help. */
    if (rp_store_dialect(rs->store) == RP_SQL_SQLITE)
        rp_store_set_precommit(rs->store, fts_flush, rs);
    return rs;
}

void rp_records_free(struct rp_records *rs)
{
    if (!rs)
        return;
    rp_store_unsubscribe(rs->store, on_notice, rs);
    rp_store_set_precommit(rs->store, NULL, NULL);
    pthread_mutex_destroy(&rs->define_lock);
    pthread_mutex_destroy(&rs->defined.lock);
    free(rs->defined.pairs);
    free(rs);
}
