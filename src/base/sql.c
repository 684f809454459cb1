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
    q->_cap = 0;
    q->_arena = arena;
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
