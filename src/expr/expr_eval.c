/*
 * The in-memory back end: walks the typed tree that expr_parse.c built and
 * computes one value per node with SQL three-valued logic.
 *
 * Every operation here has a twin in expr_sql.c that must give the same
 * result in SQLite and PostgreSQL; the property test holds them equal. The
 * rules that make that possible: integers (money, dates, datetimes, counts)
 * use 64-bit arithmetic, which SQL engines share, numbers use IEEE doubles,
 * which they also share (a NaN result is null, as in SQLite), text compares
 * bytewise, and a zero divisor gives null. Integer overflow is an error here
 * and in PostgreSQL; SQLite would switch to floating point, so the language
 * documents values past 2^63 as out of range.
 *
 * The parser folds constants by calling rp_expr__eval_node() with no getter,
 * so folding and evaluation are the same code.
 */
#include "expr/expr.h"
#include "base/json.h"
#include "expr/expr_int.h"
#include "base/arena.h"
#include "base/time.h"
#include "base/utf8.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

struct ev {
    rp_expr_get_fn get;
    void *ctx;
    struct rp_arena *scratch;
    struct rp_error *err;
};

static int eval(const struct expr_node *n, struct ev *ev, struct rp_value *out);

static int out_of_range(struct ev *ev, const struct expr_node *n)
{
    return rp_error_set(ev->err, RP_EINVAL, "integer out of range at column %u", n->col);
}

/* Floor division: the UTC day of a datetime, exact for negative values too. */
static int64_t day_of(int64_t ms)
{
    int64_t q = ms / RP_MS_PER_DAY;
    return ms % RP_MS_PER_DAY < 0 ? q - 1 : q;
}

static bool is_int_type(int t)
{
    return t == RP_V_INT || t == RP_V_MONEY || t == RP_V_DATE || t == RP_V_DATETIME;
}

/*
 * Reads a field and brings the getter's value to the field's declared type.
 * Integer stand-ins for integer-represented types are accepted because that
 * is how rows store them; anything else is a caller bug.
 */
static int fetch(const struct expr_node *n, struct ev *ev, struct rp_value *out)
{
    struct rp_value v = rp_value_null();
    int rc;

    if (!ev->get)
        return rp_error_set(ev->err, RP_EINTERNAL, "no value for field \"%s\"", n->path);
    rc = ev->get(ev->ctx, n->path, &v);
    if (rc < 0)
        return rp_error_set(ev->err, rc, "could not read field \"%s\"", n->path);
    if (v.type == RP_V_NULL) {
        *out = v;
        return 0;
    }
    if (v.type == RP_V_INT && n->type != RP_V_INT) {
        if (n->type == RP_V_BOOL)
            v = rp_value_bool(v.u.i != 0);
        else if (n->type == RP_V_NUM)
            v = rp_value_num((double)v.u.i);
        else if (is_int_type(n->type))
            v = rp_value_typed_int((enum rp_vtype)n->type, v.u.i);
    }
    if ((int)v.type != n->type)
        return rp_error_set(ev->err, RP_EINTERNAL, "field \"%s\" holds %s, expected %s", n->path,
                            rp_vtype_name(v.type), rp_vtype_name((enum rp_vtype)n->type));
    if (v.type == RP_V_NUM && isnan(v.u.d))
        v = rp_value_null();
    *out = v;
    return 0;
}

static struct rp_value num_result(double d)
{
    /* SQLite turns a NaN result into NULL; PostgreSQL never produces one from finite input. */
    return isnan(d) ? rp_value_null() : rp_value_num(d);
}

static int eval_logic(const struct expr_node *n, struct ev *ev, struct rp_value *out)
{
    struct rp_value a, b;
    bool stop = n->kind == EK_OR; /* the value that decides the result alone */
    int rc;

    rc = eval(n->a, ev, &a);
    if (rc < 0)
        return rc;
    if (a.type == RP_V_BOOL && a.u.b == stop) {
        *out = a;
        return 0;
    }
    rc = eval(n->b, ev, &b);
    if (rc < 0)
        return rc;
    if (b.type == RP_V_BOOL && b.u.b == stop)
        *out = b;
    else if (a.type == RP_V_NULL || b.type == RP_V_NULL)
        *out = rp_value_null();
    else
        *out = rp_value_bool(!stop);
    return 0;
}

static int eval_int_arith(const struct expr_node *n, int64_t a, int64_t b, struct ev *ev,
                          struct rp_value *out)
{
    int64_t r = 0;
    bool ovf = false;

    switch (n->kind) {
    case EK_ADD:
        ovf = __builtin_add_overflow(a, b, &r);
        break;
    case EK_SUB:
        ovf = __builtin_sub_overflow(a, b, &r);
        break;
    case EK_MUL:
        ovf = __builtin_mul_overflow(a, b, &r);
        break;
    default:
        return rp_error_set(ev->err, RP_EINTERNAL, "bad integer operation");
    }
    if (ovf)
        return out_of_range(ev, n);
    *out = rp_value_typed_int((enum rp_vtype)n->type, r);
    return 0;
}

static int eval_arith(const struct expr_node *n, struct ev *ev, struct rp_value *out)
{
    struct rp_value a, b;
    int rc;

    rc = eval(n->a, ev, &a);
    if (rc == 0)
        rc = eval(n->b, ev, &b);
    if (rc < 0)
        return rc;
    if (a.type == RP_V_NULL || b.type == RP_V_NULL) {
        *out = rp_value_null();
        return 0;
    }
    if (n->type != RP_V_NUM)
        return eval_int_arith(n, a.u.i, b.u.i, ev, out);
    switch (n->kind) {
    case EK_ADD:
        *out = num_result(a.u.d + b.u.d);
        break;
    case EK_SUB:
        *out = num_result(a.u.d - b.u.d);
        break;
    case EK_MUL:
        *out = num_result(a.u.d * b.u.d);
        break;
    default:
        *out = b.u.d == 0 ? rp_value_null() : num_result(a.u.d / b.u.d);
        break;
    }
    return 0;
}

static bool cmp_holds(enum expr_cmp op, int c)
{
    switch (op) {
    case EC_EQ:
        return c == 0;
    case EC_NE:
        return c != 0;
    case EC_LT:
        return c < 0;
    case EC_LE:
        return c <= 0;
    case EC_GT:
        return c > 0;
    case EC_GE:
        return c >= 0;
    }
    return false;
}

static bool text_contains(const struct rp_value *hay, const struct rp_value *needle)
{
    if (needle->u.s.len == 0)
        return true;
    if (needle->u.s.len > hay->u.s.len)
        return false;
    return memmem(hay->u.s.p, hay->u.s.len, needle->u.s.p, needle->u.s.len) != NULL;
}

static bool json_is_text(json_t *j, const struct rp_value *needle)
{
    return json_is_string(j) && json_string_length(j) == needle->u.s.len &&
           memcmp(json_string_value(j), needle->u.s.p, needle->u.s.len) == 0;
}

/*
 * Membership in a multi-picklist value (JSON text). Mirrors SQLite's
 * json_each(): the elements of an array, the values of an object, or a
 * scalar itself; only string elements can match.
 */
static int multi_contains(const struct expr_node *n, const struct rp_value *json,
                          const struct rp_value *needle, struct ev *ev, bool *found)
{
    json_error_t jerr;
    json_t *root, *item;
    const char *key;
    size_t i;

    root = rp_json_loadb(json->u.s.p, json->u.s.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!root)
        return rp_error_set(ev->err, RP_EINVAL, "malformed multi-picklist value at column %u",
                            n->a->col);
    *found = false;
    if (json_is_array(root)) {
        json_array_foreach(root, i, item) if (json_is_text(item, needle)) *found = true;
    } else if (json_is_object(root)) {
        json_object_foreach(root, key, item) if (json_is_text(item, needle)) *found = true;
    } else {
        *found = json_is_text(root, needle);
    }
    json_decref(root);
    return 0;
}

static int eval_binary(const struct expr_node *n, struct ev *ev, struct rp_value *out)
{
    struct rp_value a, b;
    bool found = false;
    int rc;

    rc = eval(n->a, ev, &a);
    if (rc == 0)
        rc = eval(n->b, ev, &b);
    if (rc < 0)
        return rc;
    if (a.type == RP_V_NULL || b.type == RP_V_NULL) {
        *out = rp_value_null();
        return 0;
    }
    switch (n->kind) {
    case EK_CMP:
        *out = rp_value_bool(cmp_holds(n->cmp, rp_value_cmp(&a, &b)));
        break;
    case EK_CONTAINS:
        *out = rp_value_bool(text_contains(&a, &b));
        break;
    case EK_STARTS:
        *out = rp_value_bool(b.u.s.len <= a.u.s.len &&
                             (b.u.s.len == 0 || memcmp(a.u.s.p, b.u.s.p, b.u.s.len) == 0));
        break;
    default:
        rc = multi_contains(n, &a, &b, ev, &found);
        if (rc < 0)
            return rc;
        *out = rp_value_bool(found);
        break;
    }
    return 0;
}

static int eval_in(const struct expr_node *n, struct ev *ev, struct rp_value *out)
{
    struct rp_value a;
    int rc = eval(n->a, ev, &a);

    if (rc < 0)
        return rc;
    if (a.type == RP_V_NULL) {
        *out = a;
        return 0;
    }
    for (size_t i = 0; i < n->nitems; i++) {
        if (rp_value_cmp(&a, &n->items[i]) == 0) {
            *out = rp_value_bool(true);
            return 0;
        }
    }
    *out = rp_value_bool(false);
    return 0;
}

static struct rp_value ascii_lower(const struct rp_value *s, struct rp_arena *arena)
{
    char *p = rp_arena_alloc(arena, s->u.s.len + 1);

    for (size_t i = 0; i < s->u.s.len; i++) {
        char c = s->u.s.p[i];
        p[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    p[s->u.s.len] = '\0';
    return rp_value_text(p, s->u.s.len);
}

/* Operations of one operand whose result is null when the operand is. */
static int eval_unary(const struct expr_node *n, struct ev *ev, struct rp_value *out)
{
    struct rp_value a;
    int64_t r;
    int rc = eval(n->a, ev, &a);

    if (rc < 0)
        return rc;
    if (n->kind == EK_ISNULL) {
        *out = rp_value_bool((a.type == RP_V_NULL) != n->neg);
        return 0;
    }
    if (a.type == RP_V_NULL) {
        *out = a;
        return 0;
    }
    switch (n->kind) {
    case EK_NOT:
        *out = rp_value_bool(!a.u.b);
        break;
    case EK_NEG:
        if (n->type == RP_V_NUM) {
            *out = rp_value_num(-a.u.d);
            break;
        }
        if (__builtin_sub_overflow((int64_t)0, a.u.i, &r))
            return out_of_range(ev, n);
        *out = rp_value_typed_int((enum rp_vtype)n->type, r);
        break;
    case EK_LOWER:
        *out = ascii_lower(&a, ev->scratch);
        break;
    case EK_LEN:
        *out = rp_value_int((int64_t)rp_utf8_length(a.u.s.p, a.u.s.len));
        break;
    case EK_DAYOF:
        *out = rp_value_int(day_of(a.u.i));
        break;
    case EK_MONEY_NUM:
        *out = rp_value_num((double)a.u.i / 10000.0);
        break;
    case EK_INT_NUM:
        *out = rp_value_num((double)a.u.i);
        break;
    case EK_DATE_DT:
    case EK_DAYS_MS:
        if (__builtin_mul_overflow(a.u.i, RP_MS_PER_DAY, &r))
            return out_of_range(ev, n);
        *out = rp_value_typed_int((enum rp_vtype)n->type, r);
        break;
    default:
        return rp_error_set(ev->err, RP_EINTERNAL, "bad unary operation");
    }
    return 0;
}

static int eval(const struct expr_node *n, struct ev *ev, struct rp_value *out)
{
    switch (n->kind) {
    case EK_CONST:
        if (n->type == EXPR_T_UNTYPED)
            return rp_error_set(ev->err, RP_EINTERNAL, "untyped constant at column %u", n->col);
        *out = n->v;
        return 0;
    case EK_FIELD:
        return fetch(n, ev, out);
    case EK_AND:
    case EK_OR:
        return eval_logic(n, ev, out);
    case EK_ADD:
    case EK_SUB:
    case EK_MUL:
    case EK_DIV:
        return eval_arith(n, ev, out);
    case EK_CMP:
    case EK_CONTAINS:
    case EK_MCONTAINS:
    case EK_STARTS:
        return eval_binary(n, ev, out);
    case EK_IN:
        return eval_in(n, ev, out);
    default:
        return eval_unary(n, ev, out);
    }
}

int rp_expr__eval_node(const struct expr_node *n, rp_expr_get_fn get, void *ctx,
                       struct rp_arena *scratch, struct rp_value *out, struct rp_error *err)
{
    struct ev ev = {get, ctx, scratch, err};
    return eval(n, &ev, out);
}

int rp_expr_eval(const struct rp_expr *e, rp_expr_get_fn get, void *ctx, struct rp_arena *scratch,
                 struct rp_value *out, struct rp_error *err)
{
    struct rp_value v;
    int rc = rp_expr__eval_node(e->root, get, ctx, scratch, &v, err);

    if (rc < 0)
        return rc;
    /* The getter's text need only live until we return; the result must outlive that. */
    if (v.type == RP_V_TEXT)
        v.u.s.p = v.u.s.len ? rp_arena_memdup(scratch, v.u.s.p, v.u.s.len) : "";
    *out = v;
    return 0;
}

bool rp_expr_is_true(const struct rp_value *v)
{
    return v->type == RP_V_BOOL && v->u.b;
}
