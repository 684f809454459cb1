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
    /* private */
    size_t _cap;
    struct rp_arena *_arena;
};

/** All memory comes from arena; text is capped at 1 MiB (RP_ETOOBIG via rp_sql_error). */
void rp_sql_init(struct rp_sql *q, struct rp_arena *arena, enum rp_sql_dialect dialect);
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

#endif
