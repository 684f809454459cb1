/*
 * Private to src/expr: the typed syntax tree shared by the parser
 * (expr_parse.c), the evaluator (expr_eval.c) and the SQL compiler
 * (expr_sql.c).
 *
 * The parser leaves a tree in which every node has a concrete static type
 * and every implicit conversion is an explicit node (money to number, date
 * to datetime, ...), so the two back ends never decide types themselves:
 * they walk the same tree and apply the same operation per node. Constant
 * subtrees are already folded into EK_CONST nodes by the parser, which calls
 * the evaluator to fold, so folding and evaluation cannot disagree.
 */
#ifndef RP_EXPR_EXPR_INT_H
#define RP_EXPR_EXPR_INT_H

#include "expr/expr.h"

/*
 * Static type of a number literal (or of arithmetic on number literals only)
 * before context has decided whether it is money, an integer or a double.
 * Never survives parsing.
 */
#define EXPR_T_UNTYPED 100

enum expr_kind {
    EK_CONST,     /* v (or dec while untyped) */
    EK_FIELD,     /* path, sql, multi */
    EK_NOT,       /* a */
    EK_AND,       /* a, b */
    EK_OR,        /* a, b */
    EK_NEG,       /* a; integer (checked) or number by type */
    EK_ADD,       /* a, b: integer domain (checked) unless type is number */
    EK_SUB,       /* a, b */
    EK_MUL,       /* a, b */
    EK_DIV,       /* a, b: always number; a zero divisor gives null */
    EK_CMP,       /* a, b of one type; cmp */
    EK_ISNULL,    /* a; neg for "is not null" */
    EK_IN,        /* a; items of a's type, never null */
    EK_CONTAINS,  /* a, b text: substring */
    EK_MCONTAINS, /* a multi-picklist JSON text, b text: membership */
    EK_STARTS,    /* a, b text: prefix */
    EK_LOWER,     /* a text: ASCII lower case */
    EK_LEN,       /* a text: code points */
    EK_DAYOF,     /* a datetime: UTC day (floor division) */
    EK_MONEY_NUM, /* a money: units / 10000.0 */
    EK_INT_NUM,   /* a integer: as a double */
    EK_DATE_DT,   /* a date: midnight UTC as a datetime */
    EK_DAYS_MS,   /* a integer days: milliseconds */
};

enum expr_cmp { EC_EQ, EC_NE, EC_LT, EC_LE, EC_GT, EC_GE };

/*
 * An untyped number constant: exact decimal mant / 10^scale while it fits
 * (scale trimmed of trailing zeros), else only the double d.
 */
struct expr_dec {
    bool exact;
    int64_t mant;
    int scale;
    double d; /* nearest double; valid whether exact or not */
};

struct expr_node {
    enum expr_kind kind;
    int type;            /* enum rp_vtype, or EXPR_T_UNTYPED while parsing */
    unsigned col;        /* 1-based character column where the node's text starts */
    enum expr_cmp cmp;   /* EK_CMP */
    bool neg;            /* EK_ISNULL: "is not null" */
    bool strlit;         /* EK_CONST written as a string literal (may become a date) */
    bool nulllit;        /* EK_CONST written as the null literal */
    bool multi;          /* EK_FIELD of a multi-picklist */
    struct expr_node *a; /* first operand */
    struct expr_node *b; /* second operand */
    struct rp_value v;   /* EK_CONST once typed */
    struct expr_dec dec; /* EK_CONST while EXPR_T_UNTYPED */
    const char *path;    /* EK_FIELD: NUL-terminated, in the parse arena */
    const char *sql;     /* EK_FIELD: the resolver's SQL text */
    const struct rp_value *sql_params; /* EK_FIELD: values of the "?" markers in sql */
    size_t nsql_params;
    struct rp_value *items; /* EK_IN */
    size_t nitems;
};

struct rp_expr {
    struct expr_node *root;
    const char **paths; /* distinct, first-use order */
    size_t npaths;
};

/*
 * Evaluates one node. get may be NULL while folding constants (no EK_FIELD
 * is reachable then). Text results live in scratch, the parse arena or the
 * getter's memory.
 */
int rp_expr__eval_node(const struct expr_node *n, rp_expr_get_fn get, void *ctx,
                       struct rp_arena *scratch, struct rp_value *out, struct rp_error *err);

#endif
