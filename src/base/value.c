/* Scalar values; see value.h. */
#include "base/value.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/time.h"

#include <math.h>
#include <stdio.h>

struct rp_value rp_value_cstr(const char *s)
{
    return rp_value_text(s, strlen(s));
}

const char *rp_vtype_name(enum rp_vtype t)
{
    switch (t) {
    case RP_V_NULL:
        return "null";
    case RP_V_BOOL:
        return "bool";
    case RP_V_INT:
        return "integer";
    case RP_V_NUM:
        return "number";
    case RP_V_MONEY:
        return "money";
    case RP_V_TEXT:
        return "text";
    case RP_V_DATE:
        return "date";
    case RP_V_DATETIME:
        return "datetime";
    }
    return "unknown";
}

int rp_value_cmp(const struct rp_value *a, const struct rp_value *b)
{
    if (a->type != b->type)
        return a->type < b->type ? -1 : 1;
    switch (a->type) {
    case RP_V_NULL:
        return 0;
    case RP_V_BOOL:
        return (int)a->u.b - (int)b->u.b;
    case RP_V_NUM:
        return a->u.d < b->u.d ? -1 : a->u.d > b->u.d ? 1 : 0;
    case RP_V_TEXT: {
        size_t n = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
        int c = n ? memcmp(a->u.s.p, b->u.s.p, n) : 0;
        if (c)
            return c < 0 ? -1 : 1;
        return a->u.s.len < b->u.s.len ? -1 : a->u.s.len > b->u.s.len ? 1 : 0;
    }
    default:
        return a->u.i < b->u.i ? -1 : a->u.i > b->u.i ? 1 : 0;
    }
}

bool rp_value_equal(const struct rp_value *a, const struct rp_value *b)
{
    if (a->type == RP_V_NULL || b->type == RP_V_NULL || a->type != b->type)
        return false;
    return rp_value_cmp(a, b) == 0;
}

void rp_money_format(struct rp_buf *out, int64_t units)
{
    uint64_t mag = units < 0 ? (uint64_t)0 - (uint64_t)units : (uint64_t)units;
    uint64_t whole = mag / RP_MONEY_SCALE, frac = mag % RP_MONEY_SCALE;
    char tmp[32];
    int n;

    if (frac == 0) {
        n = snprintf(tmp, sizeof(tmp), "%s%llu", units < 0 ? "-" : "", (unsigned long long)whole);
    } else {
        n = snprintf(tmp, sizeof(tmp), "%s%llu.%04llu", units < 0 ? "-" : "",
                     (unsigned long long)whole, (unsigned long long)frac);
        while (tmp[n - 1] == '0')
            n--;
    }
    rp_buf_add(out, tmp, (size_t)n);
}

int rp_money_parse(const char *s, size_t n, int64_t *units)
{
    size_t i = 0;
    bool neg = false;
    uint64_t whole = 0, frac = 0;
    int fdigits = 0, wdigits = 0;

    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (whole > UINT64_C(100000000000000000))
            return RP_ETOOBIG; /* far past the range; stop before uint64 overflows */
        whole = whole * 10 + (uint64_t)(s[i++] - '0');
        wdigits++;
    }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (++fdigits > RP_MONEY_DIGITS)
                return RP_EINVAL;
            frac = frac * 10 + (uint64_t)(s[i++] - '0');
        }
        if (fdigits == 0)
            return RP_EINVAL;
    }
    if (i != n || wdigits == 0)
        return RP_EINVAL;
    for (int k = fdigits; k < RP_MONEY_DIGITS; k++)
        frac *= 10;
    if (whole > ((uint64_t)INT64_MAX - frac) / RP_MONEY_SCALE)
        return RP_ETOOBIG;
    *units = (int64_t)(whole * RP_MONEY_SCALE + frac);
    if (neg)
        *units = -*units;
    return 0;
}

void rp_value_to_json(struct rp_buf *out, const struct rp_value *v)
{
    char tmp[40];

    switch (v->type) {
    case RP_V_NULL:
        rp_buf_adds(out, "null");
        break;
    case RP_V_BOOL:
        rp_buf_adds(out, v->u.b ? "true" : "false");
        break;
    case RP_V_INT:
        rp_buf_add_i64(out, v->u.i);
        break;
    case RP_V_NUM:
        if (!isfinite(v->u.d)) {
            rp_buf_adds(out, "null");
        } else if (v->u.d == floor(v->u.d) && fabs(v->u.d) < 1e15) {
            rp_buf_add_i64(out, (int64_t)v->u.d);
        } else {
            snprintf(tmp, sizeof(tmp), "%.17g", v->u.d);
            rp_buf_adds(out, tmp);
        }
        break;
    case RP_V_MONEY:
        rp_money_format(out, v->u.i);
        break;
    case RP_V_TEXT:
        rp_buf_add_json_str(out, v->u.s.p, v->u.s.len);
        break;
    case RP_V_DATE:
        rp_buf_addc(out, '"');
        rp_time_format_date(out, v->u.i);
        rp_buf_addc(out, '"');
        break;
    case RP_V_DATETIME:
        rp_buf_addc(out, '"');
        rp_time_format_datetime(out, v->u.i);
        rp_buf_addc(out, '"');
        break;
    }
}
