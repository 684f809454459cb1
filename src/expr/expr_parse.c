/*
 * Lexer, parser and type checker of the expression language
 * (docs/expressions.md).
 *
 * Recursive descent, one function per precedence level:
 *   or < and < not < comparison < additive < multiplicative < unary.
 * Recursion happens only through parentheses, function arguments, in-list
 * items, "not" and unary minus, and each of those counts against
 * RP_LIMIT_EXPR_DEPTH, so hostile input cannot exhaust the stack. Binary
 * operators loop instead of recursing.
 *
 * Every node is type-checked as it is built. Implicit conversions become
 * explicit nodes (expr_int.h) and constant subtrees are folded at once by
 * the evaluator. Number literals stay "untyped" exact decimals until the
 * other operand decides what they are (money, integer or number), so
 * `amount = 0.1 + 0.2` compares exact money units.
 *
 * Columns in messages count Unicode code points from 1.
 */
#include "expr/expr.h"
#include "expr/expr_int.h"
#include "base/arena.h"
#include "base/limits.h"
#include "base/time.h"
#include "base/utf8.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EXPR_IN_MAX     1000 /* items in one in (...) list */
#define EXPR_ARGS_MAX   4    /* arguments parsed for one function call */
#define EXPR_DEC_DIGITS 18   /* exact decimals keep at most this many fraction digits */

#define CMP_NULL   "a comparison with null is always null"
#define ARITH_NULL "arithmetic with null is always null"
#define ANY_NULL   "the result would always be null"

enum tok_kind {
    TK_EOF,
    TK_IDENT,
    TK_NUMBER,
    TK_STRING,
    TK_LPAREN,
    TK_RPAREN,
    TK_COMMA,
    TK_EQ,
    TK_NE,
    TK_LT,
    TK_LE,
    TK_GT,
    TK_GE,
    TK_PLUS,
    TK_MINUS,
    TK_STAR,
    TK_SLASH,
};

enum kw {
    KW_NONE,
    KW_AND,
    KW_OR,
    KW_NOT,
    KW_IN,
    KW_IS,
    KW_NULL,
    KW_TRUE,
    KW_FALSE,
    KW_CONTAINS,
    KW_STARTS_WITH,
};

static const struct {
    const char *name;
    enum kw kw;
} keywords[] = {
    {"and", KW_AND},
    {"or", KW_OR},
    {"not", KW_NOT},
    {"in", KW_IN},
    {"is", KW_IS},
    {"null", KW_NULL},
    {"true", KW_TRUE},
    {"false", KW_FALSE},
    {"contains", KW_CONTAINS},
    {"starts_with", KW_STARTS_WITH},
};

struct tok {
    enum tok_kind kind;
    enum kw kw;      /* TK_IDENT spelling a keyword (case-insensitive) */
    const char *p;   /* the token's source text */
    size_t len;      /* its length in bytes */
    unsigned col;    /* its column */
    bool dotted;     /* TK_IDENT with "." inside: always a field path */
    const char *str; /* TK_STRING: the decoded value, in the arena */
    size_t slen;
};

struct parser {
    const char *src;
    size_t len;
    size_t pos;   /* lexer cursor, bytes */
    unsigned col; /* column at pos */
    struct tok tok;
    struct rp_arena *arena;
    const struct rp_expr_env *env;
    struct rp_error *err;
    unsigned depth; /* recursion that counts against RP_LIMIT_EXPR_DEPTH */
    size_t nodes;   /* nodes the source asked for */
    const char **paths;
    size_t npaths, cappaths;
};

static int parse_expr(struct parser *p, struct expr_node **out);
static int parse_not(struct parser *p, struct expr_node **out);
static int parse_unary(struct parser *p, struct expr_node **out);

static const int64_t pow10_table[19] = {1,
                                        10,
                                        100,
                                        1000,
                                        10000,
                                        100000,
                                        1000000,
                                        10000000,
                                        100000000,
                                        1000000000,
                                        10000000000,
                                        100000000000,
                                        1000000000000,
                                        10000000000000,
                                        100000000000000,
                                        1000000000000000,
                                        10000000000000000,
                                        100000000000000000,
                                        1000000000000000000};

/* ---- lexer ---- */

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_ident_char(char c)
{
    return is_ident_start(c) || is_digit(c);
}

static void advance(struct parser *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)p->src[p->pos + i] & 0xc0) != 0x80)
            p->col++;
    p->pos += n;
}

static int syntax_error(struct parser *p, unsigned col, const char *detail)
{
    return rp_error_set(p->err, RP_EINVAL, "syntax error at column %u: %s", col, detail);
}

/* "unexpected ..." naming the current token, cut to a readable length. */
static int unexpected(struct parser *p)
{
    const struct tok *t = &p->tok;
    size_t n = 0;

    if (t->kind == TK_EOF)
        return syntax_error(p, t->col, "unexpected end of expression");
    while (n < t->len && n < 40) {
        size_t k = rp_utf8_valid_prefix(t->p + n, t->len - n);
        n += k ? k : 1;
    }
    return rp_error_set(p->err, RP_EINVAL, "syntax error at column %u: unexpected \"%.*s\"%s",
                        t->col, (int)n, t->p, n < t->len ? "..." : "");
}

static int lex_ident(struct parser *p, struct tok *t)
{
    const char *s = p->src;
    size_t i = p->pos;

    for (;;) {
        while (i < p->len && is_ident_char(s[i]))
            i++;
        if (i >= p->len || s[i] != '.')
            break;
        if (i + 1 >= p->len || !is_ident_start(s[i + 1]))
            return syntax_error(p, t->col + (unsigned)(i - p->pos),
                                "expected a field name after \".\"");
        t->dotted = true;
        i++;
    }
    t->kind = TK_IDENT;
    t->len = i - p->pos;
    for (size_t k = 0; !t->dotted && k < sizeof(keywords) / sizeof(keywords[0]); k++)
        if (strlen(keywords[k].name) == t->len && strncasecmp(keywords[k].name, t->p, t->len) == 0)
            t->kw = keywords[k].kw;
    advance(p, t->len);
    return 0;
}

static int lex_number(struct parser *p, struct tok *t)
{
    const char *s = p->src;
    size_t i = p->pos;

    while (i < p->len && is_digit(s[i]))
        i++;
    if (i + 1 < p->len && s[i] == '.' && is_digit(s[i + 1])) {
        i++;
        while (i < p->len && is_digit(s[i]))
            i++;
    }
    if (i < p->len && (is_ident_char(s[i]) || s[i] == '.'))
        return syntax_error(p, t->col, "invalid number");
    t->kind = TK_NUMBER;
    t->len = i - p->pos;
    advance(p, t->len);
    return 0;
}

static int lex_string(struct parser *p, struct tok *t)
{
    const char *s = p->src;
    size_t i, n = 0, end;
    char *out;

    /* Find the closing quote first so the value is allocated at its real size. */
    for (end = p->pos + 1;; end++) {
        if (end >= p->len)
            return rp_error_set(p->err, RP_EINVAL, "unterminated string at column %u", t->col);
        if (s[end] != '\'')
            continue;
        if (end + 1 < p->len && s[end + 1] == '\'') {
            end++;
            continue;
        }
        break;
    }
    out = rp_arena_alloc(p->arena, end - p->pos);
    for (i = p->pos + 1; i < end; i++) {
        out[n++] = s[i];
        if (s[i] == '\'')
            i++;
    }
    out[n] = '\0';
    t->kind = TK_STRING;
    t->len = end + 1 - p->pos;
    t->str = out;
    t->slen = n;
    advance(p, t->len);
    return 0;
}

static int lex_op(struct parser *p, struct tok *t)
{
    const char *s = p->src + p->pos;
    char next = p->pos + 1 < p->len ? s[1] : '\0';

    t->len = 1;
    switch (s[0]) {
    case '(':
        t->kind = TK_LPAREN;
        break;
    case ')':
        t->kind = TK_RPAREN;
        break;
    case ',':
        t->kind = TK_COMMA;
        break;
    case '+':
        t->kind = TK_PLUS;
        break;
    case '-':
        t->kind = TK_MINUS;
        break;
    case '*':
        t->kind = TK_STAR;
        break;
    case '/':
        t->kind = TK_SLASH;
        break;
    case '=':
        t->kind = TK_EQ;
        break;
    case '!':
        if (next != '=')
            return syntax_error(p, t->col, "unexpected \"!\"");
        t->kind = TK_NE;
        t->len = 2;
        break;
    case '<':
        t->kind = next == '=' ? TK_LE : next == '>' ? TK_NE : TK_LT;
        t->len = t->kind == TK_LT ? 1 : 2;
        break;
    case '>':
        t->kind = next == '=' ? TK_GE : TK_GT;
        t->len = t->kind == TK_GT ? 1 : 2;
        break;
    default: {
        size_t n = rp_utf8_valid_prefix(s, p->len - p->pos);
        return rp_error_set(p->err, RP_EINVAL, "syntax error at column %u: unexpected \"%.*s\"",
                            t->col, (int)(n ? n : 1), s);
    }
    }
    advance(p, t->len);
    return 0;
}

/* Reads the next token into p->tok. */
static int lex(struct parser *p)
{
    struct tok *t = &p->tok;
    char c;

    while (p->pos < p->len && strchr(" \t\r\n", p->src[p->pos]))
        advance(p, 1);
    memset(t, 0, sizeof(*t));
    t->p = p->src + p->pos;
    t->col = p->col;
    if (p->pos >= p->len) {
        t->kind = TK_EOF;
        return 0;
    }
    c = p->src[p->pos];
    if (is_ident_start(c))
        return lex_ident(p, t);
    if (is_digit(c))
        return lex_number(p, t);
    if (c == '\'')
        return lex_string(p, t);
    return lex_op(p, t);
}

static bool at_kw(const struct parser *p, enum kw kw)
{
    return p->tok.kind == TK_IDENT && p->tok.kw == kw;
}

/* ---- exact decimals for untyped number literals ---- */

static void dec_trim(struct expr_dec *d)
{
    while (d->exact && d->scale > 0 && d->mant % 10 == 0) {
        d->mant /= 10;
        d->scale--;
    }
    if (d->exact && d->scale > EXPR_DEC_DIGITS)
        d->exact = false;
}

/* Correctly rounded: strtod of "<mantissa>e-<scale>" needs no locale's decimal point. */
static double dec_double(const struct expr_dec *d)
{
    char tmp[48];

    if (!d->exact)
        return d->d;
    snprintf(tmp, sizeof(tmp), "%" PRId64 "e-%d", d->mant, d->scale);
    return strtod(tmp, NULL);
}

static struct expr_dec dec_literal(struct parser *p, const char *s, size_t n)
{
    struct expr_dec d = {.exact = true};
    char *digits = rp_arena_alloc(p->arena, n + 32);
    size_t k = 0, end = n;
    bool frac = false;

    /* Trailing fraction zeros change nothing and must not overflow the mantissa. */
    if (memchr(s, '.', n)) {
        while (s[end - 1] == '0')
            end--;
        if (s[end - 1] == '.')
            end--;
    }
    for (size_t i = 0; i < end; i++) {
        if (s[i] == '.') {
            frac = true;
            continue;
        }
        digits[k++] = s[i];
        d.scale += frac;
        if (__builtin_mul_overflow(d.mant, 10, &d.mant) ||
            __builtin_add_overflow(d.mant, s[i] - '0', &d.mant))
            d.exact = false;
    }
    snprintf(digits + k, 32, "e-%d", d.scale);
    d.d = strtod(digits, NULL);
    if (d.exact)
        dec_trim(&d);
    return d;
}

static bool dec_align(const struct expr_dec *a, const struct expr_dec *b, int64_t *ma, int64_t *mb)
{
    int s = a->scale > b->scale ? a->scale : b->scale;
    return !__builtin_mul_overflow(a->mant, pow10_table[s - a->scale], ma) &&
           !__builtin_mul_overflow(b->mant, pow10_table[s - b->scale], mb);
}

/* a op b for op in + - * on untyped constants; exact while it fits, else double. */
static struct expr_dec dec_arith(enum expr_kind op, const struct expr_dec *a,
                                 const struct expr_dec *b)
{
    struct expr_dec r = {.exact = a->exact && b->exact};
    int64_t ma, mb;

    if (r.exact && op == EK_MUL) {
        r.scale = a->scale + b->scale;
        r.exact = !__builtin_mul_overflow(a->mant, b->mant, &r.mant);
    } else if (r.exact) {
        r.scale = a->scale > b->scale ? a->scale : b->scale;
        r.exact =
            dec_align(a, b, &ma, &mb) && !(op == EK_ADD ? __builtin_add_overflow(ma, mb, &r.mant)
                                                        : __builtin_sub_overflow(ma, mb, &r.mant));
    }
    dec_trim(&r);
    if (r.exact) {
        r.d = dec_double(&r);
    } else {
        double x = a->d, y = b->d;
        r.d = op == EK_ADD ? x + y : op == EK_SUB ? x - y : x * y;
    }
    return r;
}

/* ---- nodes ---- */

static int count_node(struct parser *p, unsigned col)
{
    if (++p->nodes > RP_LIMIT_EXPR_NODES)
        return rp_error_set(p->err, RP_ETOOBIG,
                            "expression has too many parts at column %u (limit %d)", col,
                            RP_LIMIT_EXPR_NODES);
    return 0;
}

static int enter(struct parser *p)
{
    if (++p->depth > RP_LIMIT_EXPR_DEPTH)
        return rp_error_set(p->err, RP_ETOOBIG,
                            "expression nesting too deep at column %u (limit %d)", p->tok.col,
                            RP_LIMIT_EXPR_DEPTH);
    return 0;
}

static struct expr_node *node_new(struct parser *p, enum expr_kind kind, int type, unsigned col)
{
    struct expr_node *n = rp_arena_calloc(p->arena, 1, sizeof(*n));
    n->kind = kind;
    n->type = type;
    n->col = col;
    return n;
}

static struct expr_node *const_new(struct parser *p, struct rp_value v, int type, unsigned col)
{
    struct expr_node *n = node_new(p, EK_CONST, type, col);
    n->v = v;
    return n;
}

static struct expr_node *binary_new(struct parser *p, enum expr_kind kind, int type,
                                    struct expr_node *a, struct expr_node *b)
{
    struct expr_node *n = node_new(p, kind, type, a->col);
    n->a = a;
    n->b = b;
    return n;
}

/* Replaces a node whose operands are all constant by its value. */
static int fold(struct parser *p, struct expr_node **np)
{
    struct expr_node *n = *np;
    struct rp_error tmp;
    struct rp_value v;
    int rc;

    if (n->kind == EK_CONST || n->kind == EK_FIELD)
        return 0;
    if ((n->a && n->a->kind != EK_CONST) || (n->b && n->b->kind != EK_CONST))
        return 0;
    rp_error_init(&tmp, p->arena);
    rc = rp_expr__eval_node(n, NULL, NULL, p->arena, &v, &tmp);
    if (rc < 0)
        return rp_error_set(p->err, rc, "%s", tmp.detail ? tmp.detail : "invalid constant");
    *np = const_new(p, v, n->type, n->col);
    return 0;
}

/* Wraps an implicit conversion around *np (folded when *np is constant). */
static int wrap(struct parser *p, struct expr_node **np, enum expr_kind kind, int type)
{
    struct expr_node *n = node_new(p, kind, type, (*np)->col);
    n->a = *np;
    *np = n;
    return fold(p, np);
}

/* ---- types ---- */

static bool is_numeric(int t)
{
    return t == EXPR_T_UNTYPED || t == RP_V_INT || t == RP_V_NUM || t == RP_V_MONEY;
}

static bool is_datelike(int t)
{
    return t == RP_V_DATE || t == RP_V_DATETIME;
}

static const char *type_name(const struct expr_node *n)
{
    if (n->nulllit)
        return "null";
    if (n->type == EXPR_T_UNTYPED)
        return "number";
    if (n->multi)
        return "multi-picklist";
    return rp_vtype_name((enum rp_vtype)n->type);
}

/* An untyped constant that is a whole number fitting in 64 bits. */
static bool dec_is_int(const struct expr_node *n)
{
    return n->type == EXPR_T_UNTYPED && n->dec.exact && n->dec.scale == 0;
}

static int to_num(struct parser *p, struct expr_node **np)
{
    struct expr_node *n = *np;
    double d;

    switch (n->type) {
    case RP_V_NUM:
        return 0;
    case RP_V_INT:
        return wrap(p, np, EK_INT_NUM, RP_V_NUM);
    case RP_V_MONEY:
        return wrap(p, np, EK_MONEY_NUM, RP_V_NUM);
    case EXPR_T_UNTYPED:
        d = dec_double(&n->dec);
        *np = const_new(p, isnan(d) ? rp_value_null() : rp_value_num(d), RP_V_NUM, n->col);
        return 0;
    default:
        return rp_error_set(p->err, RP_EINTERNAL, "cannot convert %s to number", type_name(n));
    }
}

static int to_money(struct parser *p, struct expr_node **np)
{
    struct expr_node *n = *np;
    int64_t units;

    if (n->type == RP_V_MONEY)
        return 0;
    if (n->dec.exact && n->dec.scale > RP_MONEY_DIGITS)
        return rp_error_set(p->err, RP_EINVAL,
                            "invalid money value at column %u: more than %d decimal places", n->col,
                            RP_MONEY_DIGITS);
    if (!n->dec.exact ||
        __builtin_mul_overflow(n->dec.mant, pow10_table[RP_MONEY_DIGITS - n->dec.scale], &units))
        return rp_error_set(p->err, RP_EINVAL, "money value out of range at column %u", n->col);
    *np = const_new(p, rp_value_typed_int(RP_V_MONEY, units), RP_V_MONEY, n->col);
    return 0;
}

static int to_int(struct parser *p, struct expr_node **np)
{
    struct expr_node *n = *np;

    if (n->type == RP_V_INT)
        return 0;
    if (!dec_is_int(n))
        return rp_error_set(p->err, RP_EINVAL, "expected a whole number at column %u", n->col);
    *np = const_new(p, rp_value_int(n->dec.mant), RP_V_INT, n->col);
    return 0;
}

/* A string literal read as a date (YYYY-MM-DD) or datetime (RFC 3339 or YYYY-MM-DD). */
static int literal_to_time(struct parser *p, struct expr_node **np, int type)
{
    struct expr_node *n = *np;
    const char *s = n->v.u.s.p;
    size_t len = n->v.u.s.len;
    int64_t days, ms;

    if (rp_time_parse_date(s, len, &days) == 0) {
        if (type == RP_V_DATE)
            *np = const_new(p, rp_value_typed_int(RP_V_DATE, days), RP_V_DATE, n->col);
        else
            *np = const_new(p, rp_value_typed_int(RP_V_DATETIME, days * RP_MS_PER_DAY),
                            RP_V_DATETIME, n->col);
        return 0;
    }
    if (type == RP_V_DATETIME && rp_time_parse_datetime(s, len, &ms) == 0) {
        *np = const_new(p, rp_value_typed_int(RP_V_DATETIME, ms), RP_V_DATETIME, n->col);
        return 0;
    }
    if (type == RP_V_DATE)
        return rp_error_set(p->err, RP_EINVAL,
                            "invalid date \"%.*s\" at column %u: expected YYYY-MM-DD", (int)len, s,
                            n->col);
    return rp_error_set(p->err, RP_EINVAL,
                        "invalid datetime \"%.*s\" at column %u: expected RFC 3339 or YYYY-MM-DD",
                        (int)len, s, n->col);
}

/* Converts *np to type, which common_type() chose for it. */
static int coerce(struct parser *p, struct expr_node **np, int type)
{
    struct expr_node *n = *np;

    if (n->type == type)
        return 0;
    switch (type) {
    case RP_V_NUM:
        return to_num(p, np);
    case RP_V_MONEY:
        return to_money(p, np);
    case RP_V_INT:
        return to_int(p, np);
    case RP_V_DATE:
    case RP_V_DATETIME:
        if (n->strlit)
            return literal_to_time(p, np, type);
        if (n->type == RP_V_DATE)
            return wrap(p, np, EK_DATE_DT, RP_V_DATETIME);
        break;
    default:
        break;
    }
    return rp_error_set(p->err, RP_EINTERNAL, "cannot convert %s to %s", type_name(n),
                        rp_vtype_name((enum rp_vtype)type));
}

/* The null literal only makes sense where a null operand can change the result. */
static int no_null(struct parser *p, const struct expr_node *n, const char *what)
{
    if (!n->nulllit)
        return 0;
    return rp_error_set(p->err, RP_EINVAL,
                        "invalid use of null at column %u: %s; use \"is null\" or \"is not null\"",
                        n->col, what);
}

static int no_multi(struct parser *p, const struct expr_node *n)
{
    if (!n->multi)
        return 0;
    return rp_error_set(p->err, RP_EINVAL,
                        "multi-picklist field \"%s\" at column %u can only be used with "
                        "\"contains\" or \"is null\"",
                        n->path, n->col);
}

/*
 * The type two operands of a comparison are compared as. Number literals
 * take the other side's type; money meets number as number; a date meets a
 * datetime as datetime; a string literal meets a date as a date.
 */
static int common_type(struct parser *p, const struct expr_node *a, int ta,
                       const struct expr_node *b, unsigned col, int *out)
{
    int tb = b->type;
    bool alit = a->strlit && ta == RP_V_TEXT; /* in an in list, ta may already be a date */
    int rc;

    if ((rc = no_null(p, a, CMP_NULL)) < 0 || (rc = no_null(p, b, CMP_NULL)) < 0 ||
        (rc = no_multi(p, a)) < 0 || (rc = no_multi(p, b)) < 0)
        return rc;
    if (ta == tb) {
        *out = ta == EXPR_T_UNTYPED ? RP_V_NUM : ta;
        return 0;
    }
    if ((alit && is_datelike(tb)) || (b->strlit && is_datelike(ta))) {
        *out = alit ? tb : ta;
        return 0;
    }
    if (is_numeric(ta) && is_numeric(tb)) {
        int other = ta == EXPR_T_UNTYPED ? tb : ta;
        const struct expr_node *lit = ta == EXPR_T_UNTYPED ? a : b;
        if (ta != EXPR_T_UNTYPED && tb != EXPR_T_UNTYPED)
            *out = RP_V_NUM;
        else if (other == RP_V_MONEY)
            *out = RP_V_MONEY;
        else if (other == RP_V_INT)
            *out = dec_is_int(lit) ? RP_V_INT : RP_V_NUM;
        else
            *out = RP_V_NUM;
        return 0;
    }
    if (is_datelike(ta) && is_datelike(tb)) {
        *out = RP_V_DATETIME;
        return 0;
    }
    return rp_error_set(p->err, RP_EINVAL, "type mismatch at column %u: cannot compare %s with %s",
                        col, ta == a->type ? type_name(a) : rp_vtype_name((enum rp_vtype)ta),
                        type_name(b));
}

static int unify(struct parser *p, struct expr_node **a, struct expr_node **b, unsigned col,
                 int *type)
{
    int rc = common_type(p, *a, (*a)->type, *b, col, type);
    if (rc == 0)
        rc = coerce(p, a, *type);
    if (rc == 0)
        rc = coerce(p, b, *type);
    return rc;
}

/* Settles a number literal with no context as a number (double). */
static int settle(struct parser *p, struct expr_node **np)
{
    return (*np)->type == EXPR_T_UNTYPED ? to_num(p, np) : 0;
}

static int expect_bool(struct parser *p, struct expr_node **np, const char *op)
{
    struct expr_node *n = *np;

    if (n->nulllit) {
        *np = const_new(p, rp_value_null(), RP_V_BOOL, n->col);
        return 0;
    }
    if (n->type == RP_V_BOOL)
        return 0;
    return rp_error_set(p->err, RP_EINVAL,
                        "type mismatch at column %u: \"%s\" expects bool, not %s", n->col, op,
                        type_name(n));
}

static int expect_text(struct parser *p, const struct expr_node *n, const char *what)
{
    int rc;

    if ((rc = no_null(p, n, ANY_NULL)) < 0 || (rc = no_multi(p, n)) < 0)
        return rc;
    if (n->type == RP_V_TEXT)
        return 0;
    return rp_error_set(p->err, RP_EINVAL, "type mismatch at column %u: %s expects text, not %s",
                        n->col, what, type_name(n));
}

/* ---- typed node builders ---- */

static int make_logic(struct parser *p, enum expr_kind kind, struct expr_node **l,
                      struct expr_node *r)
{
    const char *op = kind == EK_AND ? "and" : "or";
    int rc;

    if ((rc = expect_bool(p, l, op)) < 0 || (rc = expect_bool(p, &r, op)) < 0)
        return rc;
    *l = binary_new(p, kind, RP_V_BOOL, *l, r);
    return fold(p, l);
}

static int make_not(struct parser *p, struct expr_node **np, unsigned col)
{
    int rc = expect_bool(p, np, "not");
    struct expr_node *n;

    if (rc < 0)
        return rc;
    n = node_new(p, EK_NOT, RP_V_BOOL, col);
    n->a = *np;
    *np = n;
    return fold(p, np);
}

static const char *cmp_name(enum expr_cmp op)
{
    static const char *const names[] = {"=", "!=", "<", "<=", ">", ">="};
    return names[op];
}

static int make_cmp(struct parser *p, enum expr_cmp op, struct expr_node **l, struct expr_node *r)
{
    int type, rc;
    unsigned col = (*l)->col;

    rc = unify(p, l, &r, col, &type);
    if (rc < 0)
        return rc;
    if (type == RP_V_BOOL && op != EC_EQ && op != EC_NE)
        return rp_error_set(p->err, RP_EINVAL,
                            "type mismatch at column %u: cannot use \"%s\" on bool", col,
                            cmp_name(op));
    *l = binary_new(p, EK_CMP, RP_V_BOOL, *l, r);
    (*l)->cmp = op;
    return fold(p, l);
}

static int arith_mismatch(struct parser *p, enum expr_kind op, const struct expr_node *a,
                          const struct expr_node *b)
{
    const char *x = type_name(a), *y = type_name(b);

    switch (op) {
    case EK_ADD:
        return rp_error_set(p->err, RP_EINVAL, "type mismatch at column %u: cannot add %s and %s",
                            a->col, x, y);
    case EK_SUB:
        if (is_datelike(a->type) && is_datelike(b->type))
            return rp_error_set(p->err, RP_EINVAL,
                                "type mismatch at column %u: cannot subtract %s from %s; use "
                                "days_between()",
                                a->col, y, x);
        return rp_error_set(p->err, RP_EINVAL,
                            "type mismatch at column %u: cannot subtract %s from %s", a->col, y, x);
    case EK_MUL:
        return rp_error_set(p->err, RP_EINVAL,
                            "type mismatch at column %u: cannot multiply %s by %s", a->col, x, y);
    default:
        return rp_error_set(p->err, RP_EINVAL, "type mismatch at column %u: cannot divide %s by %s",
                            a->col, x, y);
    }
}

/* date ± days and datetime ± days: the day count must be a whole number. */
static int make_date_arith(struct parser *p, enum expr_kind op, struct expr_node **l,
                           struct expr_node *r)
{
    struct expr_node **date = is_datelike((*l)->type) ? l : &r;
    struct expr_node **days = date == l ? &r : l;
    int type = (*date)->type, rc;

    if ((*days)->type != RP_V_INT && !dec_is_int(*days))
        return rp_error_set(p->err, RP_EINVAL,
                            "type mismatch at column %u: %s arithmetic needs a whole number of "
                            "days, not %s",
                            (*days)->col, type_name(*date),
                            (*days)->type == EXPR_T_UNTYPED ? "a fraction" : type_name(*days));
    if ((rc = to_int(p, days)) < 0)
        return rc;
    if (type == RP_V_DATETIME && (rc = wrap(p, days, EK_DAYS_MS, RP_V_INT)) < 0)
        return rc;
    *l = binary_new(p, op, type, *l, r);
    return fold(p, l);
}

static int make_arith(struct parser *p, enum expr_kind op, struct expr_node **l,
                      struct expr_node *r)
{
    int ta = (*l)->type, tb = r->type, type, rc;

    if ((rc = no_null(p, *l, ARITH_NULL)) < 0 || (rc = no_null(p, r, ARITH_NULL)) < 0 ||
        (rc = no_multi(p, *l)) < 0 || (rc = no_multi(p, r)) < 0)
        return rc;
    if (ta == EXPR_T_UNTYPED && tb == EXPR_T_UNTYPED && op != EK_DIV) {
        struct expr_node *c = node_new(p, EK_CONST, EXPR_T_UNTYPED, (*l)->col);
        c->dec = dec_arith(op, &(*l)->dec, &r->dec);
        *l = c;
        return 0;
    }
    if (op != EK_MUL && op != EK_DIV) {
        if ((is_datelike(ta) && is_numeric(tb)) ||
            (op == EK_ADD && is_datelike(tb) && is_numeric(ta)))
            return make_date_arith(p, op, l, r);
    }
    if (!is_numeric(ta) || !is_numeric(tb))
        return arith_mismatch(p, op, *l, r);
    /* Exact integer arithmetic where both sides are exact; everything else is a double. */
    if (op == EK_DIV)
        type = RP_V_NUM;
    else if ((ta == RP_V_INT || dec_is_int(*l)) && (tb == RP_V_INT || dec_is_int(r)))
        type = RP_V_INT;
    else if (op != EK_MUL && (ta == RP_V_MONEY || tb == RP_V_MONEY) &&
             (ta == tb || ta == EXPR_T_UNTYPED || tb == EXPR_T_UNTYPED))
        type = RP_V_MONEY;
    else
        type = RP_V_NUM;
    if ((rc = coerce(p, l, type)) < 0 || (rc = coerce(p, &r, type)) < 0)
        return rc;
    *l = binary_new(p, op, type, *l, r);
    return fold(p, l);
}

static int make_neg(struct parser *p, struct expr_node **np, unsigned col)
{
    struct expr_node *a = *np, *n;
    int rc;

    if ((rc = no_null(p, a, ARITH_NULL)) < 0 || (rc = no_multi(p, a)) < 0)
        return rc;
    if (a->type == EXPR_T_UNTYPED) {
        struct expr_dec zero = {.exact = true};
        n = node_new(p, EK_CONST, EXPR_T_UNTYPED, col);
        n->dec = dec_arith(EK_SUB, &zero, &a->dec);
        *np = n;
        return 0;
    }
    if (a->type != RP_V_INT && a->type != RP_V_NUM && a->type != RP_V_MONEY)
        return rp_error_set(p->err, RP_EINVAL, "type mismatch at column %u: cannot negate %s", col,
                            type_name(a));
    n = node_new(p, EK_NEG, a->type, col);
    n->a = a;
    *np = n;
    return fold(p, np);
}

static int make_isnull(struct parser *p, struct expr_node **np, bool neg)
{
    struct expr_node *n;
    int rc = settle(p, np);

    if (rc < 0)
        return rc;
    n = node_new(p, EK_ISNULL, RP_V_BOOL, (*np)->col);
    n->a = *np;
    n->neg = neg;
    *np = n;
    return fold(p, np);
}

static int make_text_op(struct parser *p, enum kw op, struct expr_node **l, struct expr_node *r)
{
    const char *name = op == KW_CONTAINS ? "contains" : "starts_with";
    enum expr_kind kind = op == KW_CONTAINS ? EK_CONTAINS : EK_STARTS;
    int rc;

    if (op == KW_CONTAINS && (*l)->multi)
        kind = EK_MCONTAINS;
    else if ((rc = expect_text(p, *l, name)) < 0)
        return rc;
    if ((rc = expect_text(p, r, name)) < 0)
        return rc;
    *l = binary_new(p, kind, RP_V_BOOL, *l, r);
    return fold(p, l);
}

/* ---- grammar ---- */

static int expect(struct parser *p, enum tok_kind kind, const char *what)
{
    if (p->tok.kind != kind)
        return rp_error_set(p->err, RP_EINVAL, "syntax error at column %u: expected \"%s\"",
                            p->tok.col, what);
    return lex(p);
}

static int add_path(struct parser *p, const char *path)
{
    for (size_t i = 0; i < p->npaths; i++)
        if (strcmp(p->paths[i], path) == 0)
            return 0;
    if (p->npaths == p->cappaths) {
        size_t ncap = p->cappaths ? p->cappaths * 2 : 8;
        p->paths = rp_arena_realloc(p->arena, p->paths, p->cappaths * sizeof(*p->paths),
                                    ncap * sizeof(*p->paths));
        p->cappaths = ncap;
    }
    p->paths[p->npaths++] = path;
    return 0;
}

static bool valid_field_type(enum rp_vtype t)
{
    return t == RP_V_BOOL || t == RP_V_NUM || t == RP_V_MONEY || t == RP_V_TEXT || t == RP_V_DATE ||
           t == RP_V_DATETIME;
}

static int parse_field(struct parser *p, const struct tok *t, struct expr_node **out)
{
    struct rp_expr_field f = {0};
    struct expr_node *n;
    char *path;
    int rc;

    for (size_t i = 0; i < t->len; i++)
        if (t->p[i] >= 'A' && t->p[i] <= 'Z')
            return rp_error_set(p->err, RP_EINVAL,
                                "syntax error at column %u: field name \"%.*s\" must be lower case",
                                t->col, (int)t->len, t->p);
    path = rp_arena_strndup(p->arena, t->p, t->len);
    if (!p->env || !p->env->resolve)
        return rp_error_set(p->err, RP_EINVAL, "unknown field \"%s\" at column %u", path, t->col);
    rc = p->env->resolve(p->env->resolve_ctx, path, &f, p->err);
    if (rc < 0) {
        rp_error_set(p->err, RP_EINVAL, "unknown field \"%s\" at column %u", path, t->col);
        return p->err->code;
    }
    if (!valid_field_type(f.type) || !f.sql || (f.multi && f.type != RP_V_TEXT))
        return rp_error_set(p->err, RP_EINTERNAL, "field \"%s\" has an unsupported type", path);
    n = node_new(p, EK_FIELD, f.type, t->col);
    n->path = path;
    n->sql = f.sql;
    n->sql_params = f.params;
    n->nsql_params = f.nparams;
    n->multi = f.multi;
    *out = n;
    return add_path(p, path);
}

static int parse_args(struct parser *p, struct expr_node **args, int *nargs)
{
    int rc;

    *nargs = 0;
    if ((rc = expect(p, TK_LPAREN, "(")) < 0)
        return rc;
    if (p->tok.kind == TK_RPAREN)
        return lex(p);
    for (;;) {
        struct expr_node *a;
        if (*nargs == EXPR_ARGS_MAX)
            return syntax_error(p, p->tok.col, "too many arguments");
        if ((rc = parse_expr(p, &a)) < 0)
            return rc;
        args[(*nargs)++] = a;
        if (p->tok.kind != TK_COMMA)
            break;
        if ((rc = lex(p)) < 0)
            return rc;
    }
    return expect(p, TK_RPAREN, ")");
}

/* An argument of days_between() as a day number (int64 days). */
static int day_number(struct parser *p, struct expr_node **np)
{
    struct expr_node *n = *np;
    int rc;

    if (n->strlit) {
        int64_t days;
        int type =
            rp_time_parse_date(n->v.u.s.p, n->v.u.s.len, &days) == 0 ? RP_V_DATE : RP_V_DATETIME;
        if ((rc = literal_to_time(p, np, type)) < 0)
            return rc;
        n = *np;
    }
    if (n->type == RP_V_DATE)
        return 0;
    if (n->type == RP_V_DATETIME)
        return wrap(p, np, EK_DAYOF, RP_V_INT);
    if ((rc = no_null(p, n, ANY_NULL)) < 0)
        return rc;
    return rp_error_set(p->err, RP_EINVAL,
                        "type mismatch at column %u: days_between() expects a date or datetime, "
                        "not %s",
                        n->col, type_name(n));
}

static const char *const functions[] = {"today", "now", "days_between", "lower", "len"};
static const int function_arity[] = {0, 0, 2, 1, 1};

static int parse_call(struct parser *p, const struct tok *t, struct expr_node **out)
{
    struct expr_node *args[EXPR_ARGS_MAX], *n;
    char *name = rp_arena_strndup(p->arena, t->p, t->len);
    int nargs, fn = -1, rc;
    int64_t today;

    for (char *c = name; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    for (int i = 0; i < (int)(sizeof(functions) / sizeof(functions[0])); i++)
        if (strcmp(name, functions[i]) == 0)
            fn = i;
    if (fn < 0)
        return rp_error_set(p->err, RP_EINVAL, "unknown function \"%.*s\" at column %u",
                            (int)t->len, t->p, t->col);
    if ((rc = count_node(p, t->col)) < 0 || (rc = parse_args(p, args, &nargs)) < 0)
        return rc;
    if (nargs != function_arity[fn])
        return rp_error_set(p->err, RP_EINVAL,
                            "wrong number of arguments at column %u: %s() takes %d, not %d", t->col,
                            name, function_arity[fn], nargs);
    switch (fn) {
    case 0:
        today = p->env ? p->env->now_ms / RP_MS_PER_DAY : 0;
        if (p->env && p->env->now_ms % RP_MS_PER_DAY < 0)
            today--;
        *out = const_new(p, rp_value_typed_int(RP_V_DATE, today), RP_V_DATE, t->col);
        return 0;
    case 1:
        *out = const_new(p, rp_value_typed_int(RP_V_DATETIME, p->env ? p->env->now_ms : 0),
                         RP_V_DATETIME, t->col);
        return 0;
    case 2:
        if ((rc = day_number(p, &args[0])) < 0 || (rc = day_number(p, &args[1])) < 0)
            return rc;
        n = node_new(p, EK_SUB, RP_V_INT, t->col);
        n->a = args[1];
        n->b = args[0];
        break;
    default:
        if ((rc = expect_text(p, args[0], fn == 3 ? "lower()" : "len()")) < 0)
            return rc;
        n = node_new(p, fn == 3 ? EK_LOWER : EK_LEN, fn == 3 ? RP_V_TEXT : RP_V_INT, t->col);
        n->a = args[0];
        break;
    }
    *out = n;
    return fold(p, out);
}

static int parse_primary(struct parser *p, struct expr_node **out)
{
    struct tok t = p->tok;
    struct expr_node *n;
    int rc;

    switch (t.kind) {
    case TK_NUMBER:
        n = node_new(p, EK_CONST, EXPR_T_UNTYPED, t.col);
        n->dec = dec_literal(p, t.p, t.len);
        *out = n;
        return count_node(p, t.col) < 0 ? p->err->code : lex(p);
    case TK_STRING:
        n = const_new(p, rp_value_text(t.str, t.slen), RP_V_TEXT, t.col);
        n->strlit = true;
        *out = n;
        return count_node(p, t.col) < 0 ? p->err->code : lex(p);
    case TK_LPAREN:
        if ((rc = lex(p)) < 0 || (rc = parse_expr(p, out)) < 0)
            return rc;
        (*out)->col = t.col;
        return expect(p, TK_RPAREN, ")");
    case TK_IDENT:
        break;
    default:
        return unexpected(p);
    }
    if (t.kw == KW_TRUE || t.kw == KW_FALSE || t.kw == KW_NULL) {
        if (t.kw == KW_NULL) {
            n = const_new(p, rp_value_null(), RP_V_NULL, t.col);
            n->nulllit = true;
        } else {
            n = const_new(p, rp_value_bool(t.kw == KW_TRUE), RP_V_BOOL, t.col);
        }
        *out = n;
        return count_node(p, t.col) < 0 ? p->err->code : lex(p);
    }
    if (t.kw != KW_NONE)
        return unexpected(p);
    if ((rc = lex(p)) < 0)
        return rc;
    if (p->tok.kind == TK_LPAREN)
        return parse_call(p, &t, out);
    if ((rc = count_node(p, t.col)) < 0)
        return rc;
    return parse_field(p, &t, out);
}

static int parse_unary(struct parser *p, struct expr_node **out)
{
    unsigned col = p->tok.col;
    int rc;

    if (p->tok.kind != TK_MINUS)
        return parse_primary(p, out);
    if ((rc = lex(p)) < 0 || (rc = enter(p)) < 0 || (rc = count_node(p, col)) < 0 ||
        (rc = parse_unary(p, out)) < 0)
        return rc;
    p->depth--;
    return make_neg(p, out, col);
}

static int parse_mul(struct parser *p, struct expr_node **out)
{
    int rc = parse_unary(p, out);

    while (rc == 0 && (p->tok.kind == TK_STAR || p->tok.kind == TK_SLASH)) {
        enum expr_kind op = p->tok.kind == TK_STAR ? EK_MUL : EK_DIV;
        struct expr_node *r;
        if ((rc = count_node(p, p->tok.col)) < 0 || (rc = lex(p)) < 0 ||
            (rc = parse_unary(p, &r)) < 0)
            return rc;
        rc = make_arith(p, op, out, r);
    }
    return rc;
}

static int parse_add(struct parser *p, struct expr_node **out)
{
    int rc = parse_mul(p, out);

    while (rc == 0 && (p->tok.kind == TK_PLUS || p->tok.kind == TK_MINUS)) {
        enum expr_kind op = p->tok.kind == TK_PLUS ? EK_ADD : EK_SUB;
        struct expr_node *r;
        if ((rc = count_node(p, p->tok.col)) < 0 || (rc = lex(p)) < 0 ||
            (rc = parse_mul(p, &r)) < 0)
            return rc;
        rc = make_arith(p, op, out, r);
    }
    return rc;
}

/* The items of in (...): constants of the left operand's type, never null. */
static int parse_in(struct parser *p, struct expr_node **l)
{
    struct expr_node **items = NULL, *n;
    size_t nitems = 0, cap = 0, saved;
    unsigned col = (*l)->col;
    int type = (*l)->type, rc;

    if ((rc = expect(p, TK_LPAREN, "(")) < 0)
        return rc;
    for (;;) {
        struct expr_node *item;
        if (nitems == EXPR_IN_MAX)
            return rp_error_set(p->err, RP_ETOOBIG, "in list at column %u has more than %d items",
                                p->tok.col, EXPR_IN_MAX);
        /* Items are bounded by EXPR_IN_MAX, not by the node limit. */
        saved = p->nodes;
        if ((rc = parse_expr(p, &item)) < 0)
            return rc;
        p->nodes = saved;
        if (item->kind != EK_CONST)
            return rp_error_set(p->err, RP_EINVAL, "in list item at column %u is not a constant",
                                item->col);
        if (nitems == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            items = rp_arena_realloc(p->arena, items, cap * sizeof(*items), ncap * sizeof(*items));
            cap = ncap;
        }
        items[nitems++] = item;
        if ((rc = common_type(p, *l, type, item, item->col, &type)) < 0)
            return rc;
        if (p->tok.kind != TK_COMMA)
            break;
        if ((rc = lex(p)) < 0)
            return rc;
    }
    if ((rc = expect(p, TK_RPAREN, ")")) < 0 || (rc = coerce(p, l, type)) < 0)
        return rc;
    n = node_new(p, EK_IN, RP_V_BOOL, col);
    n->a = *l;
    n->items = rp_arena_calloc(p->arena, nitems, sizeof(*n->items));
    n->nitems = nitems;
    for (size_t i = 0; i < nitems; i++) {
        if ((rc = coerce(p, &items[i], type)) < 0)
            return rc;
        if (items[i]->v.type == RP_V_NULL)
            return rp_error_set(p->err, RP_EINVAL, "in list item at column %u is null",
                                items[i]->col);
        n->items[i] = items[i]->v;
    }
    *l = n;
    return fold(p, l);
}

static enum expr_cmp cmp_op(enum tok_kind k)
{
    switch (k) {
    case TK_EQ:
        return EC_EQ;
    case TK_NE:
        return EC_NE;
    case TK_LT:
        return EC_LT;
    case TK_LE:
        return EC_LE;
    case TK_GT:
        return EC_GT;
    default:
        return EC_GE;
    }
}

/* The operators after the left operand of a comparison; "not" negates in/contains/starts_with. */
static int parse_cmp_tail(struct parser *p, struct expr_node **l)
{
    struct expr_node *r;
    unsigned col = p->tok.col;
    bool neg = false;
    enum kw op;
    int rc;

    if (p->tok.kind >= TK_EQ && p->tok.kind <= TK_GE) {
        enum expr_cmp c = cmp_op(p->tok.kind);
        if ((rc = count_node(p, col)) < 0 || (rc = lex(p)) < 0 || (rc = parse_add(p, &r)) < 0)
            return rc;
        return make_cmp(p, c, l, r);
    }
    if (at_kw(p, KW_IS)) {
        if ((rc = count_node(p, col)) < 0 || (rc = lex(p)) < 0)
            return rc;
        if (at_kw(p, KW_NOT)) {
            neg = true;
            if ((rc = lex(p)) < 0)
                return rc;
        }
        if (!at_kw(p, KW_NULL))
            return syntax_error(p, p->tok.col, "expected \"null\"");
        if ((rc = lex(p)) < 0)
            return rc;
        return make_isnull(p, l, neg);
    }
    if (at_kw(p, KW_NOT)) {
        neg = true;
        if ((rc = lex(p)) < 0)
            return rc;
        if (!at_kw(p, KW_IN) && !at_kw(p, KW_CONTAINS) && !at_kw(p, KW_STARTS_WITH))
            return syntax_error(p, p->tok.col,
                                "expected \"in\", \"contains\" or \"starts_with\" after \"not\"");
    }
    if (!at_kw(p, KW_IN) && !at_kw(p, KW_CONTAINS) && !at_kw(p, KW_STARTS_WITH))
        return 0;
    op = p->tok.kw;
    if ((rc = count_node(p, col)) < 0 || (rc = lex(p)) < 0)
        return rc;
    if (op == KW_IN) {
        rc = parse_in(p, l);
    } else {
        if ((rc = parse_add(p, &r)) < 0)
            return rc;
        rc = make_text_op(p, op, l, r);
    }
    if (rc == 0 && neg)
        rc = make_not(p, l, (*l)->col);
    return rc;
}

static int parse_cmp(struct parser *p, struct expr_node **out)
{
    int rc = parse_add(p, out);
    return rc < 0 ? rc : parse_cmp_tail(p, out);
}

static int parse_not(struct parser *p, struct expr_node **out)
{
    unsigned col = p->tok.col;
    int rc;

    if (!at_kw(p, KW_NOT))
        return parse_cmp(p, out);
    if ((rc = lex(p)) < 0 || (rc = enter(p)) < 0 || (rc = count_node(p, col)) < 0 ||
        (rc = parse_not(p, out)) < 0)
        return rc;
    p->depth--;
    return make_not(p, out, col);
}

static int parse_and(struct parser *p, struct expr_node **out)
{
    int rc = parse_not(p, out);

    while (rc == 0 && at_kw(p, KW_AND)) {
        struct expr_node *r;
        if ((rc = count_node(p, p->tok.col)) < 0 || (rc = lex(p)) < 0 ||
            (rc = parse_not(p, &r)) < 0)
            return rc;
        rc = make_logic(p, EK_AND, out, r);
    }
    return rc;
}

static int parse_or(struct parser *p, struct expr_node **out)
{
    int rc = parse_and(p, out);

    while (rc == 0 && at_kw(p, KW_OR)) {
        struct expr_node *r;
        if ((rc = count_node(p, p->tok.col)) < 0 || (rc = lex(p)) < 0 ||
            (rc = parse_and(p, &r)) < 0)
            return rc;
        rc = make_logic(p, EK_OR, out, r);
    }
    return rc;
}

static int parse_expr(struct parser *p, struct expr_node **out)
{
    int rc = enter(p);

    if (rc == 0)
        rc = parse_or(p, out);
    p->depth--;
    return rc;
}

/* Rejects NUL bytes and invalid UTF-8 before lexing, naming the column. */
static int check_source(struct parser *p)
{
    size_t i = 0;
    unsigned col = 1;

    while (i < p->len) {
        size_t n;
        if (p->src[i] == '\0')
            return syntax_error(p, col, "unexpected NUL byte");
        n = rp_utf8_valid_prefix(p->src + i, p->len - i);
        if (n == 0)
            return rp_error_set(p->err, RP_EINVAL, "invalid UTF-8 at column %u", col);
        i += n;
        col++;
    }
    return 0;
}

int rp_expr_parse(struct rp_arena *arena, const char *src, size_t len,
                  const struct rp_expr_env *env, struct rp_expr **out, struct rp_error *err)
{
    struct parser p = {0};
    struct expr_node *root = NULL;
    struct rp_expr *e;
    int rc;

    *out = NULL;
    if (len > RP_LIMIT_EXPR_BYTES)
        return rp_error_set(err, RP_ETOOBIG, "expression is too long: %zu bytes (limit %d)", len,
                            RP_LIMIT_EXPR_BYTES);
    p.src = src ? src : "";
    p.len = src ? len : 0;
    p.col = 1;
    p.arena = arena;
    p.env = env;
    p.err = err;
    if ((rc = check_source(&p)) < 0 || (rc = lex(&p)) < 0)
        return rc;
    if (p.tok.kind == TK_EOF)
        return syntax_error(&p, p.tok.col, "empty expression");
    if ((rc = parse_expr(&p, &root)) < 0)
        return rc;
    if (p.tok.kind != TK_EOF)
        return unexpected(&p);
    if ((rc = no_null(&p, root, ANY_NULL)) < 0 || (rc = settle(&p, &root)) < 0)
        return rc;
    e = rp_arena_calloc(arena, 1, sizeof(*e));
    e->root = root;
    e->paths = p.paths;
    e->npaths = p.npaths;
    *out = e;
    return 0;
}

enum rp_vtype rp_expr_type(const struct rp_expr *e)
{
    return (enum rp_vtype)e->root->type;
}

size_t rp_expr_paths(const struct rp_expr *e, const char *const **paths)
{
    *paths = e->paths;
    return e->npaths;
}
