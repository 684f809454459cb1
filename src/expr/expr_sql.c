/*
 * The SQL back end: turns the typed tree into one SQL expression for SQLite
 * or PostgreSQL with a placeholder for every constant.
 *
 * Each emitted piece is self-delimiting (parenthesised, a placeholder or a
 * function call), so operator precedence in the target never matters and
 * "-" can never meet "-" to start a comment.
 *
 * Representation, shared with the store: money, dates, datetimes and
 * integers are 64-bit integers, numbers are doubles, bools are integer 0/1
 * columns. A bool-typed expression is a 0/1 integer in SQLite and a boolean
 * in PostgreSQL, so a bool field is read as `(col) <> 0` (null stays null).
 * In PostgreSQL every placeholder carries a cast, because a bare $n has no
 * type for COLLATE, operators or CASE to work with.
 *
 * The evaluator (expr_eval.c) gives the same value node by node; the
 * comments here say why each SQL form matches it.
 */
#include "expr/expr.h"
#include "expr/expr_int.h"

struct sqlc {
    struct rp_sql *q;
    bool pg;
};

static void emit(struct sqlc *c, const struct expr_node *n);

static void add(struct sqlc *c, const char *s)
{
    rp_sql_add(c->q, s);
}

static void emit_param(struct sqlc *c, struct rp_value v, int type)
{
    if (!c->pg) {
        /* Money, dates, datetimes and bools bind as integers, numbers as doubles. */
        rp_sql_param(c->q, v);
        return;
    }
    add(c, "(");
    rp_sql_param(c->q, v);
    switch (type) {
    case RP_V_TEXT:
        add(c, "::text)");
        break;
    case RP_V_NUM:
        add(c, "::float8)");
        break;
    case RP_V_BOOL:
        add(c, "::bigint <> 0)");
        break;
    case RP_V_NULL:
        add(c, ")");
        break;
    default:
        add(c, "::bigint)");
        break;
    }
}

/*
 * Text comparisons are bytewise whatever the column's collation. PostgreSQL's collations are
 * deterministic (a database's default always is), so equal means byte-equal there already:
 * equality and IN go without COLLATE "C", which would keep the column's indexes from answering
 * them; only the order comparisons need it.
 */
static void emit_collated(struct sqlc *c, const struct expr_node *n, bool ordering)
{
    emit(c, n);
    if (!c->pg)
        add(c, " COLLATE BINARY");
    else if (ordering)
        add(c, " COLLATE \"C\"");
}

/* The resolver's SQL, with its "?" markers bound in order (identifiers never contain "?"). */
static void emit_field_sql(struct sqlc *c, const struct expr_node *n)
{
    const char *s = n->sql;
    size_t k = 0;

    for (const char *q = strchr(s, '?'); q && k < n->nsql_params; q = strchr(s, '?')) {
        rp_buf_add(&c->q->text, s, (size_t)(q - s));
        rp_sql_param(c->q, n->sql_params[k++]);
        s = q + 1;
    }
    add(c, s);
}

static void emit_field(struct sqlc *c, const struct expr_node *n)
{
    add(c, n->type == RP_V_BOOL ? "((" : "(");
    emit_field_sql(c, n);
    add(c, n->type == RP_V_BOOL ? ") <> 0)" : ")");
}

static void emit_binary(struct sqlc *c, const struct expr_node *n, const char *op)
{
    add(c, "(");
    if (n->kind == EK_CMP && n->a->type == RP_V_TEXT)
        emit_collated(c, n->a, n->cmp != EC_EQ && n->cmp != EC_NE);
    else
        emit(c, n->a);
    add(c, op);
    emit(c, n->b);
    add(c, ")");
}

static const char *cmp_sql(enum expr_cmp op)
{
    static const char *const ops[] = {" = ", " <> ", " < ", " <= ", " > ", " >= "};
    return ops[op];
}

static void emit_call(struct sqlc *c, const char *fn, const struct expr_node *n, const char *tail)
{
    add(c, fn);
    emit(c, n);
    add(c, tail);
}

/* Floor division to the UTC day: truncating division corrected for negative remainders. */
static void emit_dayof(struct sqlc *c, const struct expr_node *n)
{
    emit_call(c, "(", n->a, " / 86400000 - CASE WHEN ");
    emit_call(c, "", n->a, " % 86400000 < 0 THEN 1 ELSE 0 END)");
}

static void emit_in(struct sqlc *c, const struct expr_node *n)
{
    add(c, "(");
    if (n->a->type == RP_V_TEXT)
        emit_collated(c, n->a, false);
    else
        emit(c, n->a);
    add(c, " IN (");
    for (size_t i = 0; i < n->nitems; i++) {
        if (i)
            add(c, ", ");
        emit_param(c, n->items[i], n->a->type);
    }
    add(c, "))");
}

/*
 * Membership in a JSON array of strings. Null when either side is null (an
 * IN over an empty set would say false). In SQLite the needle stays outside
 * the json_each() subquery, so a field's SQL can never be captured by
 * json_each's own column names.
 */
static void emit_mcontains(struct sqlc *c, const struct expr_node *n)
{
    emit_call(c, "(CASE WHEN ", n->a, " IS NULL OR ");
    emit_call(c, "", n->b, " IS NULL THEN NULL ELSE ");
    if (c->pg) {
        /* jsonb's "?" operator by its function name: a "?" in the text would be taken for a
         * parameter marker once the SQL is a fragment or passes through the store */
        emit_call(c, "jsonb_exists(", n->a, "::jsonb, ");
        emit_call(c, "", n->b, ")");
    } else {
        emit_call(c, "", n->b, " COLLATE BINARY IN (SELECT \"value\" FROM json_each(");
        emit_call(c, "", n->a, ") WHERE \"type\" = 'text')");
    }
    add(c, " END)");
}

static void emit_starts(struct sqlc *c, const struct expr_node *n)
{
    if (c->pg) {
        emit_call(c, "starts_with(", n->a, ", ");
        emit_call(c, "", n->b, ")");
        return;
    }
    /* substr/length count characters; for valid UTF-8 that is a byte prefix test. */
    emit_call(c, "(substr(", n->a, ", 1, length(");
    emit_call(c, "", n->b, ")) COLLATE BINARY = ");
    emit_call(c, "", n->b, ")");
}

static void emit_conversion(struct sqlc *c, const struct expr_node *n)
{
    switch (n->kind) {
    case EK_MONEY_NUM:
        /* (double)units / 10000.0 in both engines; PostgreSQL must not go through numeric. */
        emit_call(c, "(", n->a, c->pg ? "::float8 / 10000::float8)" : " / 10000.0)");
        break;
    case EK_INT_NUM:
        if (c->pg)
            emit_call(c, "(", n->a, "::float8)");
        else
            emit_call(c, "CAST(", n->a, " AS REAL)");
        break;
    default: /* EK_DATE_DT, EK_DAYS_MS */
        emit_call(c, "(", n->a, " * 86400000)");
        break;
    }
}

static void emit(struct sqlc *c, const struct expr_node *n)
{
    /*
     * day() repeats its operand, so nested days_between() doubles the text
     * per level. Once the text is past its cap, stop walking: the work stays
     * bounded by the cap, not by 2^depth.
     */
    if (rp_sql_error(c->q))
        return;
    switch (n->kind) {
    case EK_CONST:
        emit_param(c, n->v, n->type);
        break;
    case EK_FIELD:
        emit_field(c, n);
        break;
    case EK_NOT:
        emit_call(c, "(NOT ", n->a, ")");
        break;
    case EK_AND:
        emit_binary(c, n, " AND ");
        break;
    case EK_OR:
        emit_binary(c, n, " OR ");
        break;
    case EK_NEG:
        emit_call(c, "(-", n->a, ")");
        break;
    case EK_ADD:
        emit_binary(c, n, " + ");
        break;
    case EK_SUB:
        emit_binary(c, n, " - ");
        break;
    case EK_MUL:
        emit_binary(c, n, " * ");
        break;
    case EK_DIV:
        /* A zero divisor gives null: SQLite does so itself, PostgreSQL would raise. */
        emit_call(c, "(", n->a, " / NULLIF(");
        emit_call(c, "", n->b, ", 0))");
        break;
    case EK_CMP:
        emit_binary(c, n, cmp_sql(n->cmp));
        break;
    case EK_ISNULL:
        emit_call(c, "(", n->a, n->neg ? " IS NOT NULL)" : " IS NULL)");
        break;
    case EK_IN:
        emit_in(c, n);
        break;
    case EK_CONTAINS:
        /* instr/strpos of an empty needle is 1, so the empty string is contained. */
        emit_call(c, c->pg ? "(strpos(" : "(instr(", n->a, ", ");
        emit_call(c, "", n->b, ") > 0)");
        break;
    case EK_MCONTAINS:
        emit_mcontains(c, n);
        break;
    case EK_STARTS:
        emit_starts(c, n);
        break;
    case EK_LOWER:
        /* ASCII only, as SQLite's built-in lower(); PostgreSQL's lower() follows the locale. */
        if (c->pg)
            emit_call(c, "translate(", n->a,
                      ", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')");
        else
            emit_call(c, "lower(", n->a, ")");
        break;
    case EK_LEN:
        emit_call(c, c->pg ? "(char_length(" : "length(", n->a, c->pg ? ")::bigint)" : ")");
        break;
    case EK_DAYOF:
        emit_dayof(c, n);
        break;
    default:
        emit_conversion(c, n);
        break;
    }
}

int rp_expr_compile_sql(const struct rp_expr *e, struct rp_sql *q, struct rp_error *err)
{
    struct sqlc c = {q, q->target == RP_SQL_PG};
    int rc;

    emit(&c, e->root);
    rc = rp_sql_error(q);
    if (rc < 0)
        return rp_error_set(err, rc, "expression too large to compile");
    return 0;
}
