/*
 * The expression language: one grammar for API filters, validation rules,
 * stage criteria, sharing criteria, automation conditions, scoring rules and
 * formula fields (docs/expressions.md).
 *
 * An expression is parsed and type-checked once against a resolver that knows
 * the fields (rp_expr_parse), then either compiled to parameterised SQL
 * (rp_expr_compile_sql) or evaluated in memory (rp_expr_eval). The two back
 * ends have the same semantics, SQL three-valued logic included: a comparison
 * with null is null, and a filter keeps a row only when the result is true.
 * A property test (tests/unit/expr/test_property.c) holds them equal.
 *
 * Constant parts (literals, today(), now(), arithmetic on them) are folded at
 * parse time with the clock reading in the environment, so both back ends see
 * the same constants and no value is ever spliced into SQL text.
 *
 * Memory: everything returned lives in the arena passed to rp_expr_parse.
 * Threads: there is no global state, and a parsed expression is never
 * modified, so one may be compiled and evaluated from several threads at
 * once as long as each call has its own rp_sql or scratch arena.
 */
#ifndef RP_EXPR_EXPR_H
#define RP_EXPR_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/sql.h"
#include "base/value.h"

struct rp_arena;
struct rp_expr;

/** What the language knows about a field path, supplied by the resolver. */
struct rp_expr_field {
    enum rp_vtype type; /* value type; never RP_V_NULL or RP_V_INT */
    bool multi;         /* multi-picklist: the value is a JSON array of strings as text,
                           and `contains` tests membership */
    const char *sql;    /* SQL expression yielding the stored value, e.g. "t"."amount" or a
                           scalar subquery for a dotted path; built only from validated
                           identifiers; lives at least as long as the parse arena. Each "?"
                           in it stands for the next of params, bound as a placeholder */
    const struct rp_value *params; /* values for the "?" markers of sql, in order */
    size_t nparams;
};

/**
 * Resolves a field path ("amount", "account.tier") for the parser. Returns 0
 * and fills out, or a negative code with err set (RP_EINVAL, e.g.
 * `unknown field "amout" on object "opportunity"`).
 */
typedef int (*rp_expr_resolve_fn)(void *ctx, const char *path, struct rp_expr_field *out,
                                  struct rp_error *err);

/**
 * Fetches the current value of a field path for the evaluator. Text values
 * must stay valid until rp_expr_eval returns. Returns 0 or a negative code.
 * The value should have the field's type or be RP_V_NULL; RP_V_INT is also
 * accepted for bool (non-zero is true), money, date, datetime and number
 * fields, and a NaN number reads as null. Any other type is RP_EINTERNAL.
 */
typedef int (*rp_expr_get_fn)(void *ctx, const char *path, struct rp_value *out);

struct rp_expr_env {
    rp_expr_resolve_fn resolve;
    void *resolve_ctx;
    int64_t now_ms; /* what now() and today() (its UTC date) mean in this expression */
};

/**
 * Parses and type-checks src (UTF-8, at most RP_LIMIT_EXPR_BYTES bytes,
 * RP_LIMIT_EXPR_DEPTH nesting, RP_LIMIT_EXPR_NODES nodes). Returns 0 and sets
 * *out, or RP_EINVAL with a message naming the column: `syntax error at
 * column 14: expected ")"`, `type mismatch at column 1: cannot compare
 * money with text`; RP_ETOOBIG past a limit. Columns count code points from
 * 1. An unknown field keeps the resolver's message. env->now_ms is read here,
 * once: today() and now() are folded into constants.
 */
int rp_expr_parse(struct rp_arena *arena, const char *src, size_t len,
                  const struct rp_expr_env *env, struct rp_expr **out, struct rp_error *err);

/** Result type of a parsed expression (RP_V_BOOL for conditions; RP_V_INT for
 *  len(), days_between() and integer arithmetic on them; never RP_V_NULL). */
enum rp_vtype rp_expr_type(const struct rp_expr *e);

/** The field paths the expression reads, in first-use order. */
size_t rp_expr_paths(const struct rp_expr *e, const char *const **paths);

/**
 * Appends the expression as SQL to q (placeholders for every constant). The
 * SQL yields the same value as rp_expr_eval, with SQL NULL for null.
 * Parameters are RP_V_MONEY/DATE/DATETIME/INT (bind as 64-bit integers),
 * RP_V_BOOL (bind as integer 0/1), RP_V_NUM (double), RP_V_TEXT (borrowed
 * from the parse arena) or RP_V_NULL. A bool-typed expression is a 0/1
 * integer in SQLite and a boolean in PostgreSQL; bool columns are integer
 * 0/1 in both. Returns 0 or a negative code with err set (RP_ETOOBIG when
 * the SQL text outgrows q).
 */
int rp_expr_compile_sql(const struct rp_expr *e, struct rp_sql *q, struct rp_error *err);

/**
 * Evaluates e in memory, reading fields through get. scratch holds
 * intermediate text. Returns 0 and sets *out (RP_V_NULL for null), or a
 * negative code with err set (a failing get).
 */
int rp_expr_eval(const struct rp_expr *e, rp_expr_get_fn get, void *ctx, struct rp_arena *scratch,
                 struct rp_value *out, struct rp_error *err);

/** Convenience for conditions: true only when the value is boolean true. */
bool rp_expr_is_true(const struct rp_value *v);

#endif
