/*
 * Typed scalar values: what a field holds, what an expression computes and
 * what the store binds and returns. Text is a borrowed slice; the owner of the
 * bytes (an arena, a row) must outlive the value.
 *
 * Representations are chosen so that the SQL and in-memory back ends of the
 * expression language agree exactly: money is an integer of 1/10,000 units
 * (no binary floating point), dates are days since 1970-01-01 and datetimes
 * are milliseconds since 1970-01-01T00:00:00Z, all as 64-bit integers.
 */
#ifndef RP_BASE_VALUE_H
#define RP_BASE_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rp_buf;

enum rp_vtype {
    RP_V_NULL = 0,
    RP_V_BOOL,     /* u.b */
    RP_V_INT,      /* u.i: integers (counts, versions, sequence numbers) */
    RP_V_NUM,      /* u.d: number and percent fields */
    RP_V_MONEY,    /* u.i: units of 1/RP_MONEY_SCALE */
    RP_V_TEXT,     /* u.s: UTF-8, not NUL-terminated in general */
    RP_V_DATE,     /* u.i: days since 1970-01-01 */
    RP_V_DATETIME, /* u.i: milliseconds since the epoch, UTC */
};

#define RP_MONEY_SCALE  10000
#define RP_MONEY_DIGITS 4

struct rp_value {
    enum rp_vtype type;
    union {
        bool b;
        int64_t i;
        double d;
        struct {
            const char *p;
            size_t len;
        } s;
    } u;
};

static inline struct rp_value rp_value_null(void)
{
    struct rp_value v = {.type = RP_V_NULL};
    return v;
}

static inline struct rp_value rp_value_bool(bool b)
{
    struct rp_value v = {.type = RP_V_BOOL, .u.b = b};
    return v;
}

static inline struct rp_value rp_value_int(int64_t i)
{
    struct rp_value v = {.type = RP_V_INT, .u.i = i};
    return v;
}

static inline struct rp_value rp_value_num(double d)
{
    struct rp_value v = {.type = RP_V_NUM, .u.d = d};
    return v;
}

static inline struct rp_value rp_value_typed_int(enum rp_vtype t, int64_t i)
{
    struct rp_value v = {.type = t, .u.i = i};
    return v;
}

static inline struct rp_value rp_value_text(const char *p, size_t len)
{
    struct rp_value v = {.type = RP_V_TEXT};
    v.u.s.p = p;
    v.u.s.len = len;
    return v;
}

/** Text value of a NUL-terminated string. */
struct rp_value rp_value_cstr(const char *s);

/** Name of a type for messages: "null", "bool", "integer", "number", "money", "text",
 *  "date", "datetime". */
const char *rp_vtype_name(enum rp_vtype t);

/** True if both are non-null and of one type with equal contents (text bytewise). */
bool rp_value_equal(const struct rp_value *a, const struct rp_value *b);

/**
 * Orders two non-null values of one type: <0, 0, >0. Text compares bytewise
 * (SQLite BINARY collation), bool false < true. Values of different types
 * order by type tag, so callers compare like with like.
 */
int rp_value_cmp(const struct rp_value *a, const struct rp_value *b);

/** Appends the JSON form: null, true, 12, 1.5, "text"; money as an exact decimal number
 *  ("12.5" → 12.5), dates "YYYY-MM-DD", datetimes RFC 3339 UTC. */
void rp_value_to_json(struct rp_buf *out, const struct rp_value *v);

/** Formats money units as a decimal string without trailing zeros ("-12.5"). */
void rp_money_format(struct rp_buf *out, int64_t units);
/**
 * Parses a decimal string ("-1234.56", at most 4 fraction digits, no
 * exponent) into money units. Returns 0, RP_EINVAL on bad syntax or more
 * than 4 decimals, RP_ETOOBIG past the 64-bit range.
 */
int rp_money_parse(const char *s, size_t n, int64_t *units);

#endif
