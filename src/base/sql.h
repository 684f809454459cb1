/*
 * Parameterised SQL text under construction. Values never enter the text:
 * rp_sql_param() appends a placeholder (?N for SQLite, $N for PostgreSQL) and
 * records the value, so every module that composes SQL — the expression
 * compiler, the policy engine, the records read path — shares one numbering.
 * Identifiers are appended quoted and must already be validated API names.
 * Text parameters are borrowed: their bytes must outlive the query.
 */
#ifndef RP_BASE_SQL_H
#define RP_BASE_SQL_H

#include "base/buf.h"
#include "base/value.h"

/*
 * RP_SQL_FRAGMENT writes each placeholder as a bare "?": a fragment to be spliced into
 * another query that binds its params in order (the expression compiler's field SQL).
 */
enum rp_sql_dialect { RP_SQL_SQLITE, RP_SQL_PG, RP_SQL_FRAGMENT };

struct rp_sql {
    struct rp_buf text;
    struct rp_value *params;
    size_t nparams;
    enum rp_sql_dialect dialect;
    /* the engine whose syntax to write: dialect, or a fragment's (rp_sql_init_fragment) */
    enum rp_sql_dialect target;
    /* private */
    size_t _cap;
    struct rp_arena *_arena;
};

/** All memory comes from arena; text is capped at 1 MiB (RP_ETOOBIG via rp_sql_error). */
void rp_sql_init(struct rp_sql *q, struct rp_arena *arena, enum rp_sql_dialect dialect);
/** A RP_SQL_FRAGMENT ("?" markers) to be spliced into a query for target's engine. */
void rp_sql_init_fragment(struct rp_sql *q, struct rp_arena *arena, enum rp_sql_dialect target);
void rp_sql_add(struct rp_sql *q, const char *text);
void rp_sql_addf(struct rp_sql *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Appends "name" (double-quoted identifier). */
void rp_sql_ident(struct rp_sql *q, const char *name);
/** Appends a placeholder bound to v. */
void rp_sql_param(struct rp_sql *q, struct rp_value v);
/** Appends "(p1, p2, ...)": a parenthesised list of n placeholders bound to v[0..n). */
void rp_sql_param_list(struct rp_sql *q, const struct rp_value *v, size_t n);
/** Appends a RP_SQL_FRAGMENT's text, binding its "?" markers to params in order. */
void rp_sql_add_fragment(struct rp_sql *q, const char *text, const struct rp_value *params,
                         size_t nparams);
/** The arena q allocates from (for fragments built alongside it). */
struct rp_arena *rp_sql_arena(const struct rp_sql *q);
/** 0 or the sticky text error. */
int rp_sql_error(const struct rp_sql *q);

/*
 * SQL that differs between engines. Statements are written once, in the subset both engines
 * share (?N markers, which the PostgreSQL driver renumbers; ON CONFLICT upserts; RETURNING;
 * LIMIT/OFFSET; row values), and take each piece that differs by name from this one table
 * instead of testing the dialect. An idiom is a RP_SQL_FRAGMENT text: splice it with
 * rp_sql_add_fragment when it has "?" markers, or rp_sql_add/rp_buf_adds when not.
 */
enum rp_sql_idiom {
    RP_SQL_TYPE_INT,       /* 64-bit integer column: INTEGER | BIGINT */
    RP_SQL_TYPE_REAL,      /* double column: REAL | DOUBLE PRECISION */
    RP_SQL_ROWID_COLUMN,   /* record tables' rowid: implicit | ", rowid BIGSERIAL UNIQUE" */
    RP_SQL_SKIP_LOCKED,    /* after a claim's SELECT: "" (one writer) | FOR UPDATE SKIP LOCKED */
    RP_SQL_TABLE_COLUMNS,  /* SELECT of the column names ("name") of the table named by "?" */
    RP_SQL_TABLE_INDEXES,  /* SELECT of the index names ("name") of the table named by "?" */
    RP_SQL_NEWLINE,        /* a text of one line feed: char(10) | chr(10) */
    RP_SQL_ILIKE,          /* LIKE ignoring ASCII case: LIKE (SQLite's is) | ILIKE */
    RP_SQL_GREATEST,       /* the largest argument: MAX(a, b, ...) | GREATEST(a, b, ...) */
    RP_SQL_MONTH_DAY_OPEN, /* OPEN epoch-seconds CLOSE: its UTC day as text "MM-DD" */
    RP_SQL_MONTH_DAY_CLOSE,
    RP_SQL_IDIOM_COUNT
};

/** The idiom's text in dialect d (RP_SQL_FRAGMENT counts as SQLite). Never NULL. */
const char *rp_sql_idiom(enum rp_sql_dialect d, enum rp_sql_idiom i);

/*
 * A member of a JSON document stored as text, in q's dialect: write rp_sql_json_begin(q),
 * then the document (a column, or a parameter), then rp_sql_json_end(q, key, numeric).
 * SQLite: json_extract(doc, '$.key'); PostgreSQL: (doc)::jsonb ->> 'key', cast to double
 * precision when numeric (SQLite's json_extract returns numbers as numbers). key is a
 * constant of the caller's (letters, digits, '_'), never input.
 */
void rp_sql_json_begin(struct rp_sql *q);
void rp_sql_json_end(struct rp_sql *q, const char *key, bool numeric);
/** As rp_sql_json_end, for item index (from 0) of the array member key, as text. */
void rp_sql_json_end_item(struct rp_sql *q, const char *key, int index);

#endif
