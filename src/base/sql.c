/* Parameterised SQL builder; see sql.h. */
#include "base/sql.h"
#include "base/arena.h"

#include <stdarg.h>

#define SQL_TEXT_MAX (1024 * 1024)

void rp_sql_init(struct rp_sql *q, struct rp_arena *arena, enum rp_sql_dialect dialect)
{
    rp_buf_init(&q->text, arena, SQL_TEXT_MAX);
    q->params = NULL;
    q->nparams = 0;
    q->dialect = dialect;
    q->target = dialect == RP_SQL_FRAGMENT ? RP_SQL_SQLITE : dialect;
    q->_cap = 0;
    q->_arena = arena;
}

void rp_sql_init_fragment(struct rp_sql *q, struct rp_arena *arena, enum rp_sql_dialect target)
{
    rp_sql_init(q, arena, RP_SQL_FRAGMENT);
    q->target = target == RP_SQL_PG ? RP_SQL_PG : RP_SQL_SQLITE;
}

void rp_sql_add(struct rp_sql *q, const char *text)
{
    rp_buf_adds(&q->text, text);
}

void rp_sql_addf(struct rp_sql *q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rp_buf_vaddf(&q->text, fmt, ap);
    va_end(ap);
}

void rp_sql_ident(struct rp_sql *q, const char *name)
{
    rp_buf_add_ident(&q->text, name);
}

void rp_sql_param(struct rp_sql *q, struct rp_value v)
{
    if (q->nparams == q->_cap) {
        size_t ncap = q->_cap ? q->_cap * 2 : 8;
        q->params = rp_arena_realloc(q->_arena, q->params, q->_cap * sizeof(*q->params),
                                     ncap * sizeof(*q->params));
        q->_cap = ncap;
    }
    q->params[q->nparams++] = v;
    if (q->dialect == RP_SQL_FRAGMENT)
        rp_buf_addc(&q->text, '?');
    else
        rp_buf_addf(&q->text, q->dialect == RP_SQL_PG ? "$%zu" : "?%zu", q->nparams);
}

void rp_sql_param_list(struct rp_sql *q, const struct rp_value *v, size_t n)
{
    rp_sql_add(q, "(");
    for (size_t i = 0; i < n; i++) {
        if (i)
            rp_sql_add(q, ", ");
        rp_sql_param(q, v[i]);
    }
    rp_sql_add(q, ")");
}

int rp_sql_error(const struct rp_sql *q)
{
    return rp_buf_error(&q->text);
}

struct rp_arena *rp_sql_arena(const struct rp_sql *q)
{
    return q->_arena;
}

void rp_sql_add_fragment(struct rp_sql *q, const char *text, const struct rp_value *params,
                         size_t nparams)
{
    const char *s = text;
    size_t k = 0;

    /* Fragments hold no string literals (values are parameters), so every "?" is a marker. */
    for (const char *m = strchr(s, '?'); m && k < nparams; m = strchr(s, '?')) {
        rp_buf_add(&q->text, s, (size_t)(m - s));
        rp_sql_param(q, params[k++]);
        s = m + 1;
    }
    rp_buf_adds(&q->text, s);
}

/* [idiom][0] SQLite, [idiom][1] PostgreSQL. */
static const char *const idioms[RP_SQL_IDIOM_COUNT][2] = {
    [RP_SQL_TYPE_INT] = {"INTEGER", "BIGINT"},
    [RP_SQL_TYPE_REAL] = {"REAL", "DOUBLE PRECISION"},
    /* SQLite tables have a rowid; PostgreSQL's get a column of that name, so keyset paging
     * and full-text maintenance can name "rowid" on both. */
    [RP_SQL_ROWID_COLUMN] = {"", ", rowid BIGSERIAL UNIQUE NOT NULL"},
    /* SQLite has one writer, so a claim cannot race; PostgreSQL instances claim in parallel. */
    [RP_SQL_SKIP_LOCKED] = {"", " FOR UPDATE SKIP LOCKED"},
    [RP_SQL_TABLE_COLUMNS] = {"SELECT name FROM pragma_table_info(?)",
                              "SELECT column_name::text AS name FROM information_schema.columns"
                              " WHERE table_schema = current_schema() AND table_name = ?"},
    [RP_SQL_TABLE_INDEXES] = {"SELECT name FROM sqlite_master WHERE type = 'index'"
                              " AND tbl_name = ?",
                              "SELECT indexname::text AS name FROM pg_indexes"
                              " WHERE schemaname = current_schema() AND tablename = ?"},
    [RP_SQL_NEWLINE] = {"char(10)", "chr(10)"},
    [RP_SQL_ILIKE] = {"LIKE", "ILIKE"},
    [RP_SQL_GREATEST] = {"MAX", "GREATEST"},
    [RP_SQL_MONTH_DAY_OPEN] = {"strftime('%m-%d', ", "to_char(to_timestamp("},
    [RP_SQL_MONTH_DAY_CLOSE] = {", 'unixepoch')", "), 'MM-DD')"},
};

const char *rp_sql_idiom(enum rp_sql_dialect d, enum rp_sql_idiom i)
{
    if ((unsigned)i >= RP_SQL_IDIOM_COUNT)
        return "";
    return idioms[i][d == RP_SQL_PG ? 1 : 0];
}

void rp_sql_json_begin(struct rp_sql *q)
{
    rp_sql_add(q, q->target == RP_SQL_PG ? "((" : "json_extract(");
}

void rp_sql_json_end_item(struct rp_sql *q, const char *key, int index)
{
    if (q->target == RP_SQL_PG)
        rp_sql_addf(q, ")::jsonb -> '%s' ->> %d)", key, index);
    else
        rp_sql_addf(q, ", '$.%s[%d]')", key, index);
}

void rp_sql_json_end(struct rp_sql *q, const char *key, bool numeric)
{
    if (q->target == RP_SQL_PG)
        rp_sql_addf(q, ")::jsonb ->> '%s')%s", key, numeric ? "::double precision" : "");
    else
        rp_sql_addf(q, ", '$.%s')", key);
}
