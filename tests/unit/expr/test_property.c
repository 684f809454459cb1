/*
 * The property that holds the two back ends of the expression language
 * together: for random well-typed expressions over random records, the SQL
 * from rp_expr_compile_sql run by SQLite gives exactly what rp_expr_eval
 * gives, null included.
 *
 * Records (with nulls and edge values: negative dates, empty and Chinese
 * strings, equal values, huge and tiny doubles) go into an in-memory table
 * "t" with one column per value type, plus "account" for the dotted paths.
 * Expressions are generated as text from the grammar, so the parser is
 * exercised too; each is compared on every record twice: the value of
 * SELECT (<sql>) against the evaluated value, and for conditions the ids of
 * SELECT id ... WHERE <sql> against the records the evaluator calls true.
 *
 * The seed is fixed so runs repeat; RP_PROPERTY_SEED overrides it and
 * RP_PROPERTY_EXPRS the number of expressions. A failure prints the seed,
 * the expression, its SQL and the record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/limits.h"
#include "base/time.h"
#include "expr/expr.h"

#define NRECORDS     300
#define NEXPRS       2200
#define MAX_DEPTH    5
#define NOW_MS       INT64_C(1700000000000) /* 2023-11-14T22:13:20Z */
#define DEFAULT_SEED UINT64_C(0x5eed2024)
#define NACCOUNTS    6

struct record {
    int64_t id;
    struct rp_value name, amount, score, close_date, created_at, active, tags;
    int64_t account_id; /* 0 = null; 99 names no account */
};

struct account {
    int64_t id;
    const char *tier; /* NULL = null */
    const char *name;
};

static const struct account accounts[NACCOUNTS] = {
    {1, "vip", "Acme"}, {2, "gold", "张氏集团"}, {3, NULL, "Null Tier"}, {4, "张", NULL},
    {5, "", ""},        {6, "VIP", "acme"},
};

static const char *const texts[] = {
    "",       "a",   "A",     "ab",   "abc",  "b",    "张",   "张三", "李四", "O'Brien",
    "vip",    "VIP", "gold",  "x y",  "Ab",   "ÄB",   "100",  "%",    "_",    "aa",
    "张三丰", "a'b", "\"q\"", "abc ", " abc", "Acme", "acme", "ZOO",  "zoo",
};

static const char *const money_lits[] = {
    "0", "1", "0.3", "0.1 + 0.2", "12.5", "10000", "0.0001", "-3", "1000.5", "-0.3", "2 * 1.5",
};
static const char *const num_lits[] = {
    "0", "0.1", "2.5", "3", "1000000", "0.30000000000000004", "-1.5", "1 / 3", "0.2 + 0.1",
};
static const char *const int_lits[] = {"0", "1", "2", "30", "365", "-1", "7"};
static const char *const date_lits[] = {"'1970-01-01'", "'2023-11-14'", "'1969-12-31'",
                                        "'2024-02-29'", "'2023-10-15'"};
static const char *const dt_lits[] = {
    "'2023-11-14T22:13:20Z'",     "'1970-01-01T00:00:00Z'",      "'2023-11-14'",
    "'1969-12-31T23:59:59.999Z'", "'2023-11-14T12:00:00+08:00'", "'1970-01-01'",
};
static const char *const cmp_ops[] = {"=", "!=", "<>", "<", "<=", ">", ">="};

struct prop {
    uint64_t rng;
    uint64_t seed;
    sqlite3 *db;
    struct record recs[NRECORDS];
    struct rp_arena data; /* record text */
};

/* ---- random ---- */

static uint64_t next_u64(struct prop *p)
{
    /* splitmix64: tiny, full period, good enough to pick grammar branches */
    uint64_t z = (p->rng += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static unsigned pick(struct prop *p, unsigned n)
{
    return (unsigned)(next_u64(p) % n);
}

static int64_t range(struct prop *p, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(next_u64(p) % (uint64_t)(hi - lo + 1));
}

#define PICK(p, arr) (arr)[pick(p, sizeof(arr) / sizeof((arr)[0]))]

/* ---- records ---- */

static struct rp_value maybe_null(struct prop *p, struct rp_value v)
{
    return pick(p, 7) == 0 ? rp_value_null() : v;
}

static struct rp_value random_text(struct prop *p)
{
    const char *s = PICK(p, texts);
    if (pick(p, 5) == 0) {
        char *j = rp_arena_sprintf(&p->data, "%s%s", s, PICK(p, texts));
        return rp_value_cstr(j);
    }
    return rp_value_cstr(s);
}

static struct rp_value random_money(struct prop *p)
{
    static const int64_t edge[] = {0,     1,       -1,      10000,  -10000,    3000,
                                   1000,  2000,    125000,  -30000, 99990000,  10005000,
                                   30000, 1000000, -500000, 5000,   123456789, 15000};
    int64_t v = pick(p, 3) ? PICK(p, edge) : range(p, -1000000000, 1000000000);
    return rp_value_typed_int(RP_V_MONEY, v);
}

static struct rp_value random_score(struct prop *p)
{
    static const double edge[] = {0.0,  -0.0, 0.1,     0.2,    0.3,  0.30000000000000004,
                                  1.0,  -2.5, 1e300,   -1e300, 3.0,  1e-300,
                                  12.5, 2.5,  1000000, 0.5,    -1.5, 7.0};
    double v = pick(p, 3) ? PICK(p, edge) : (double)range(p, -100000, 100000) / 64.0;
    return rp_value_num(v);
}

static struct rp_value random_date(struct prop *p)
{
    static const int64_t edge[] = {0, -1, 19675, 19645, 19676, 19782, 20000, -719468, 365, 19674};
    int64_t v = pick(p, 2) ? PICK(p, edge) : range(p, -100000, 100000);
    return rp_value_typed_int(RP_V_DATE, v);
}

static struct rp_value random_datetime(struct prop *p)
{
    static const int64_t edge[] = {0,
                                   -1,
                                   -86400000,
                                   -86400001,
                                   NOW_MS,
                                   NOW_MS - 30 * RP_MS_PER_DAY,
                                   1699920000000, /* 2023-11-14T00:00:00Z */
                                   1699963200000, /* 2023-11-14T12:00:00Z */
                                   1699963200000 - 8 * 3600000,
                                   86399999,
                                   1697328000000 /* 2023-10-15 */};
    int64_t v = pick(p, 2) ? PICK(p, edge) : range(p, -10000000000000, 10000000000000);
    return rp_value_typed_int(RP_V_DATETIME, v);
}

static struct rp_value random_tags(struct prop *p)
{
    static const char *const elems[] = {"a", "b", "张", "vip", "", "A", "a\"b", "gold", "张三"};
    json_t *arr = json_array();
    unsigned n = pick(p, 4);
    char *s, *copy;

    if (pick(p, 12) == 0)
        json_array_append_new(arr, json_integer(1));
    for (unsigned i = 0; i < n; i++)
        json_array_append_new(arr, json_string(PICK(p, elems)));
    s = json_dumps(arr, JSON_COMPACT | (pick(p, 2) ? JSON_ENSURE_ASCII : 0));
    copy = rp_arena_strdup(&p->data, s);
    free(s);
    json_decref(arr);
    return rp_value_cstr(copy);
}

static void make_records(struct prop *p)
{
    for (int i = 0; i < NRECORDS; i++) {
        struct record *r = &p->recs[i];
        r->id = i + 1;
        r->name = maybe_null(p, random_text(p));
        r->amount = maybe_null(p, random_money(p));
        r->score = maybe_null(p, random_score(p));
        r->close_date = maybe_null(p, random_date(p));
        r->created_at = maybe_null(p, random_datetime(p));
        r->active = maybe_null(p, rp_value_bool(pick(p, 2)));
        r->tags = maybe_null(p, random_tags(p));
        r->account_id = pick(p, 8) == 0 ? 0 : pick(p, 10) == 0 ? 99 : range(p, 1, NACCOUNTS);
    }
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
}

static void bind_value(sqlite3_stmt *st, int i, const struct rp_value *v)
{
    switch (v->type) {
    case RP_V_NULL:
        sqlite3_bind_null(st, i);
        break;
    case RP_V_BOOL:
        sqlite3_bind_int64(st, i, v->u.b);
        break;
    case RP_V_NUM:
        sqlite3_bind_double(st, i, v->u.d);
        break;
    case RP_V_TEXT:
        sqlite3_bind_text(st, i, v->u.s.p, (int)v->u.s.len, SQLITE_STATIC);
        break;
    default:
        sqlite3_bind_int64(st, i, v->u.i);
        break;
    }
}

static void load_db(struct prop *p)
{
    sqlite3_stmt *st;

    assert_int_equal(sqlite3_open(":memory:", &p->db), SQLITE_OK);
    exec(p->db, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, amount INTEGER, score REAL, "
                "close_date INTEGER, created_at INTEGER, active INTEGER, tags TEXT, "
                "account_id INTEGER)");
    exec(p->db, "CREATE TABLE account (id INTEGER PRIMARY KEY, tier TEXT, name TEXT)");
    assert_int_equal(
        sqlite3_prepare_v2(p->db, "INSERT INTO account VALUES (?1, ?2, ?3)", -1, &st, NULL),
        SQLITE_OK);
    for (int i = 0; i < NACCOUNTS; i++) {
        sqlite3_bind_int64(st, 1, accounts[i].id);
        sqlite3_bind_text(st, 2, accounts[i].tier, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, accounts[i].name, -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(p->db,
                                        "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    for (int i = 0; i < NRECORDS; i++) {
        const struct record *r = &p->recs[i];
        sqlite3_bind_int64(st, 1, r->id);
        bind_value(st, 2, &r->name);
        bind_value(st, 3, &r->amount);
        bind_value(st, 4, &r->score);
        bind_value(st, 5, &r->close_date);
        bind_value(st, 6, &r->created_at);
        bind_value(st, 7, &r->active);
        bind_value(st, 8, &r->tags);
        if (r->account_id)
            sqlite3_bind_int64(st, 9, r->account_id);
        else
            sqlite3_bind_null(st, 9);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
}

/* ---- resolver and getter ---- */

static const struct {
    const char *path;
    enum rp_vtype type;
    bool multi;
    const char *sql;
} fields[] = {
    {"name", RP_V_TEXT, false, "\"t\".\"name\""},
    {"amount", RP_V_MONEY, false, "\"t\".\"amount\""},
    {"score", RP_V_NUM, false, "\"t\".\"score\""},
    {"close_date", RP_V_DATE, false, "\"t\".\"close_date\""},
    {"created_at", RP_V_DATETIME, false, "\"t\".\"created_at\""},
    {"active", RP_V_BOOL, false, "\"t\".\"active\""},
    {"tags", RP_V_TEXT, true, "\"t\".\"tags\""},
    {"account.tier", RP_V_TEXT, false,
     "(SELECT \"tier\" FROM \"account\" WHERE \"id\" = \"t\".\"account_id\")"},
    {"account.name", RP_V_TEXT, false,
     "(SELECT \"name\" FROM \"account\" WHERE \"id\" = \"t\".\"account_id\")"},
};

static int resolve(void *ctx, const char *path, struct rp_expr_field *out, struct rp_error *err)
{
    (void)ctx;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strcmp(fields[i].path, path) == 0) {
            out->type = fields[i].type;
            out->multi = fields[i].multi;
            out->sql = fields[i].sql;
            return 0;
        }
    }
    return rp_error_set(err, RP_EINVAL, "unknown field \"%s\"", path);
}

static int get(void *ctx, const char *path, struct rp_value *out)
{
    const struct record *r = ctx;

    if (strncmp(path, "account.", 8) == 0) {
        *out = rp_value_null();
        for (int i = 0; i < NACCOUNTS; i++) {
            const char *s = strcmp(path + 8, "tier") == 0 ? accounts[i].tier : accounts[i].name;
            if (accounts[i].id == r->account_id && s)
                *out = rp_value_cstr(s);
        }
        return 0;
    }
    if (strcmp(path, "name") == 0)
        *out = r->name;
    else if (strcmp(path, "amount") == 0)
        *out = r->amount;
    else if (strcmp(path, "score") == 0)
        *out = r->score;
    else if (strcmp(path, "close_date") == 0)
        *out = r->close_date;
    else if (strcmp(path, "created_at") == 0)
        *out = r->created_at;
    else if (strcmp(path, "active") == 0)
        *out = r->active;
    else if (strcmp(path, "tags") == 0)
        *out = r->tags;
    else
        return RP_ENOTFOUND;
    return 0;
}

/* ---- expression generator ---- */

enum gtype { G_BOOL, G_TEXT, G_MONEY, G_NUM, G_INT, G_DATE, G_DT, G_NTYPES };

static void gen(struct prop *p, struct rp_buf *b, enum gtype t, int depth);

static void text_literal(struct prop *p, struct rp_buf *b)
{
    const char *s = PICK(p, texts);
    rp_buf_addc(b, '\'');
    for (; *s; s++) {
        if (*s == '\'')
            rp_buf_addc(b, '\'');
        rp_buf_addc(b, *s);
    }
    rp_buf_addc(b, '\'');
}

static void gen_text(struct prop *p, struct rp_buf *b, int depth)
{
    unsigned r = depth > 0 ? pick(p, 7) : pick(p, 4);

    switch (r) {
    case 0:
        rp_buf_adds(b, "name");
        break;
    case 1:
        rp_buf_adds(b, pick(p, 2) ? "account.tier" : "account.name");
        break;
    case 2:
    case 3:
        text_literal(p, b);
        break;
    case 4:
    case 5:
        rp_buf_adds(b, pick(p, 2) ? "lower(" : "LOWER(");
        gen(p, b, G_TEXT, depth - 1);
        rp_buf_adds(b, ")");
        break;
    default:
        rp_buf_adds(b, "(");
        gen(p, b, G_TEXT, depth - 1);
        rp_buf_adds(b, ")");
        break;
    }
}

static void binary(struct prop *p, struct rp_buf *b, enum gtype l, const char *op, enum gtype r,
                   int depth)
{
    rp_buf_adds(b, "(");
    gen(p, b, l, depth - 1);
    rp_buf_addf(b, " %s ", op);
    gen(p, b, r, depth - 1);
    rp_buf_adds(b, ")");
}

static void with_literal(struct prop *p, struct rp_buf *b, enum gtype t, const char *op,
                         const char *lit, int depth, bool lit_first)
{
    rp_buf_adds(b, "(");
    if (lit_first)
        rp_buf_addf(b, "%s %s ", lit, op);
    gen(p, b, t, depth - 1);
    if (!lit_first)
        rp_buf_addf(b, " %s %s", op, lit);
    rp_buf_adds(b, ")");
}

static void gen_money(struct prop *p, struct rp_buf *b, int depth)
{
    if (depth <= 0 || pick(p, 3) == 0) {
        rp_buf_adds(b, "amount");
        return;
    }
    switch (pick(p, 5)) {
    case 0:
        binary(p, b, G_MONEY, pick(p, 2) ? "+" : "-", G_MONEY, depth);
        break;
    case 1:
        with_literal(p, b, G_MONEY, pick(p, 2) ? "+" : "-", PICK(p, money_lits), depth, false);
        break;
    case 2:
        with_literal(p, b, G_MONEY, "+", PICK(p, money_lits), depth, true);
        break;
    case 3:
        rp_buf_adds(b, "-");
        gen(p, b, G_MONEY, depth - 1);
        break;
    default:
        rp_buf_adds(b, "(");
        gen(p, b, G_MONEY, depth - 1);
        rp_buf_adds(b, ")");
        break;
    }
}

static void gen_num(struct prop *p, struct rp_buf *b, int depth)
{
    static const char *const ops[] = {"+", "-", "*", "/"};

    if (depth <= 0 || pick(p, 4) == 0) {
        rp_buf_adds(b, "score");
        return;
    }
    switch (pick(p, 9)) {
    case 0:
    case 1:
        binary(p, b, G_NUM, PICK(p, ops), G_NUM, depth);
        break;
    case 2:
        with_literal(p, b, G_MONEY, pick(p, 2) ? "*" : "/", PICK(p, num_lits), depth, false);
        break;
    case 3:
        binary(p, b, G_MONEY, PICK(p, ops), G_NUM, depth);
        break;
    case 4:
        binary(p, b, G_INT, "/", G_INT, depth);
        break;
    case 5:
        with_literal(p, b, G_INT, "*", "2.5", depth, false);
        break;
    case 6:
        binary(p, b, G_INT, pick(p, 2) ? "+" : "*", G_NUM, depth);
        break;
    case 7:
        with_literal(p, b, G_NUM, PICK(p, ops), PICK(p, num_lits), depth, pick(p, 2));
        break;
    default:
        rp_buf_adds(b, "-");
        gen(p, b, G_NUM, depth - 1);
        break;
    }
}

static void day_arg(struct prop *p, struct rp_buf *b, int depth)
{
    switch (pick(p, 5)) {
    case 0:
    case 1:
        gen(p, b, G_DATE, depth);
        break;
    case 2:
    case 3:
        gen(p, b, G_DT, depth);
        break;
    default:
        rp_buf_adds(b, pick(p, 2) ? PICK(p, date_lits) : PICK(p, dt_lits));
        break;
    }
}

/* Integers stay far from 2^63: products only of a leaf and a small literal. */
static void gen_int_leaf(struct prop *p, struct rp_buf *b, int depth)
{
    if (pick(p, 2)) {
        rp_buf_adds(b, pick(p, 3) ? "len(" : "LEN(");
        gen(p, b, G_TEXT, depth - 1);
        rp_buf_adds(b, ")");
        return;
    }
    rp_buf_adds(b, "days_between(");
    day_arg(p, b, depth - 1);
    rp_buf_adds(b, ", ");
    day_arg(p, b, depth - 1);
    rp_buf_adds(b, ")");
}

static void gen_int(struct prop *p, struct rp_buf *b, int depth)
{
    if (depth <= 1 || pick(p, 3) == 0) {
        gen_int_leaf(p, b, depth);
        return;
    }
    switch (pick(p, 5)) {
    case 0:
        binary(p, b, G_INT, pick(p, 2) ? "+" : "-", G_INT, depth);
        break;
    case 1:
        rp_buf_adds(b, "(");
        gen_int_leaf(p, b, depth - 1);
        rp_buf_addf(b, " * %s)", PICK(p, int_lits));
        break;
    case 2:
        with_literal(p, b, G_INT, pick(p, 2) ? "+" : "-", PICK(p, int_lits), depth, false);
        break;
    case 3:
        rp_buf_adds(b, "-");
        gen(p, b, G_INT, depth - 1);
        break;
    default:
        gen_int_leaf(p, b, depth);
        break;
    }
}

static void gen_date(struct prop *p, struct rp_buf *b, int depth, enum gtype t)
{
    if (depth <= 0 || pick(p, 3) == 0) {
        if (pick(p, 4) == 0)
            rp_buf_adds(b, t == G_DATE ? (pick(p, 2) ? "today()" : "TODAY( )") : "now()");
        else
            rp_buf_adds(b, t == G_DATE ? "close_date" : "created_at");
        return;
    }
    switch (pick(p, 4)) {
    case 0:
        with_literal(p, b, t, pick(p, 2) ? "+" : "-", PICK(p, int_lits), depth, false);
        break;
    case 1:
        with_literal(p, b, t, "+", PICK(p, int_lits), depth, true);
        break;
    case 2:
        binary(p, b, t, pick(p, 2) ? "+" : "-", G_INT, depth);
        break;
    default:
        rp_buf_adds(b, "(");
        gen(p, b, t, depth - 1);
        rp_buf_adds(b, ")");
        break;
    }
}

/* Two operands of one comparable kind, with literals where the language allows them. */
static void gen_cmp(struct prop *p, struct rp_buf *b, int depth)
{
    const char *op = PICK(p, cmp_ops);
    unsigned k = pick(p, 17);

    rp_buf_adds(b, "(");
    switch (k) {
    case 0:
    case 1:
        gen(p, b, G_TEXT, depth - 1);
        rp_buf_addf(b, " %s ", op);
        gen(p, b, G_TEXT, depth - 1);
        break;
    case 2:
        gen(p, b, G_MONEY, depth - 1);
        rp_buf_addf(b, " %s ", op);
        gen(p, b, pick(p, 2) ? G_MONEY : G_NUM, depth - 1);
        break;
    case 3:
        if (pick(p, 2)) {
            gen(p, b, G_MONEY, depth - 1);
            rp_buf_addf(b, " %s %s", op, PICK(p, money_lits));
        } else {
            rp_buf_addf(b, "%s %s ", PICK(p, money_lits), op);
            gen(p, b, G_MONEY, depth - 1);
        }
        break;
    case 4:
        gen(p, b, G_NUM, depth - 1);
        rp_buf_addf(b, " %s ", op);
        gen(p, b, G_NUM, depth - 1);
        break;
    case 5:
        gen(p, b, G_NUM, depth - 1);
        rp_buf_addf(b, " %s %s", op, PICK(p, num_lits));
        break;
    case 6:
        gen(p, b, G_INT, depth - 1);
        rp_buf_addf(b, " %s ", op);
        gen(p, b, pick(p, 3) ? G_INT : G_NUM, depth - 1);
        break;
    case 7:
        gen(p, b, G_INT, depth - 1);
        rp_buf_addf(b, " %s %s", op, pick(p, 2) ? PICK(p, int_lits) : PICK(p, num_lits));
        break;
    case 8:
        gen(p, b, G_DATE, depth - 1);
        rp_buf_addf(b, " %s ", op);
        gen(p, b, pick(p, 2) ? G_DATE : G_DT, depth - 1);
        break;
    case 9:
        gen(p, b, G_DATE, depth - 1);
        rp_buf_addf(b, " %s %s", op, PICK(p, date_lits));
        break;
    case 10:
        gen(p, b, G_DT, depth - 1);
        rp_buf_addf(b, " %s ", op);
        gen(p, b, pick(p, 2) ? G_DT : G_DATE, depth - 1);
        break;
    case 11:
        rp_buf_addf(b, "%s %s ", PICK(p, dt_lits), op);
        gen(p, b, G_DT, depth - 1);
        break;
    case 12:
        /* "not" binds looser than "=", so bool operands need their own parentheses. */
        rp_buf_adds(b, "(");
        gen(p, b, G_BOOL, depth - 1);
        rp_buf_adds(b, pick(p, 2) ? ") = (" : ") != (");
        gen(p, b, G_BOOL, depth - 1);
        rp_buf_adds(b, ")");
        break;
    case 13:
        rp_buf_adds(b, "active");
        rp_buf_adds(b, pick(p, 2) ? " = " : " <> ");
        rp_buf_adds(b, pick(p, 2) ? "true" : "FALSE");
        break;
    case 14:
        gen(p, b, G_MONEY, depth - 1);
        rp_buf_addf(b, " %s ", op);
        gen(p, b, G_INT, depth - 1);
        break;
    case 15:
        rp_buf_addf(b, "%s %s %s", PICK(p, num_lits), op, PICK(p, money_lits));
        break;
    default:
        gen(p, b, G_TEXT, depth - 1);
        rp_buf_addf(b, " %s ", op);
        text_literal(p, b);
        break;
    }
    rp_buf_adds(b, ")");
}

static void gen_in(struct prop *p, struct rp_buf *b, int depth)
{
    unsigned k = pick(p, 7), n = 1 + pick(p, 4);

    rp_buf_adds(b, "(");
    switch (k) {
    case 0:
        gen(p, b, G_TEXT, depth - 1);
        break;
    case 1:
        gen(p, b, G_MONEY, depth - 1);
        break;
    case 2:
        gen(p, b, G_NUM, depth - 1);
        break;
    case 3:
        gen(p, b, G_INT, depth - 1);
        break;
    case 4:
        gen(p, b, G_DATE, depth - 1);
        break;
    case 5:
        gen(p, b, G_DT, depth - 1);
        break;
    default:
        gen(p, b, G_BOOL, depth - 1);
        break;
    }
    rp_buf_adds(b, pick(p, 3) ? " in (" : " NOT IN (");
    for (unsigned i = 0; i < n; i++) {
        if (i)
            rp_buf_adds(b, ", ");
        switch (k) {
        case 0:
            text_literal(p, b);
            break;
        case 1:
            rp_buf_adds(b, PICK(p, money_lits));
            break;
        case 2:
            rp_buf_adds(b, PICK(p, num_lits));
            break;
        case 3:
            rp_buf_adds(b, pick(p, 4) ? PICK(p, int_lits) : "2.5");
            break;
        case 4:
            rp_buf_adds(b, pick(p, 4) ? PICK(p, date_lits) : "today() - 30");
            break;
        case 5:
            rp_buf_adds(b, pick(p, 4) ? PICK(p, dt_lits) : "now()");
            break;
        default:
            rp_buf_adds(b, pick(p, 2) ? "true" : "false");
            break;
        }
    }
    rp_buf_adds(b, "))");
}

static void gen_bool(struct prop *p, struct rp_buf *b, int depth)
{
    static const char *const logic[] = {" and ", " or ", " AND ", " Or "};
    unsigned r = depth <= 0 ? 13 + pick(p, 3) : pick(p, 16);

    switch (r) {
    case 0:
    case 1:
    case 2:
        gen_cmp(p, b, depth);
        break;
    case 3:
    case 4:
        rp_buf_adds(b, "(");
        gen(p, b, G_BOOL, depth - 1);
        rp_buf_adds(b, PICK(p, logic));
        gen(p, b, G_BOOL, depth - 1);
        rp_buf_adds(b, ")");
        break;
    case 5:
        rp_buf_adds(b, pick(p, 2) ? "not " : "NOT ");
        gen(p, b, G_BOOL, depth - 1);
        break;
    case 6:
        rp_buf_adds(b, "(");
        if (pick(p, 4) == 0)
            rp_buf_adds(b, "tags");
        else
            gen(p, b, (enum gtype)pick(p, G_NTYPES), depth - 1);
        rp_buf_adds(b, pick(p, 2) ? " is null)" : " IS NOT NULL)");
        break;
    case 7:
        gen_in(p, b, depth);
        break;
    case 8:
    case 9:
        rp_buf_adds(b, "(");
        gen(p, b, G_TEXT, depth - 1);
        rp_buf_adds(b, pick(p, 3) ? " " : " not ");
        rp_buf_adds(b, pick(p, 2) ? "contains " : "starts_with ");
        gen(p, b, G_TEXT, depth - 1);
        rp_buf_adds(b, ")");
        break;
    case 10:
        rp_buf_adds(b, pick(p, 4) ? "(tags contains " : "(tags not contains ");
        gen(p, b, G_TEXT, depth - 1);
        rp_buf_adds(b, ")");
        break;
    case 11:
        rp_buf_adds(b, "(null");
        rp_buf_adds(b, PICK(p, logic));
        gen(p, b, G_BOOL, depth - 1);
        rp_buf_adds(b, ")");
        break;
    case 12:
        rp_buf_adds(b, "(");
        gen(p, b, G_BOOL, depth - 1);
        rp_buf_adds(b, ")");
        break;
    case 13:
        rp_buf_adds(b, "active");
        break;
    case 14:
        rp_buf_adds(b, pick(p, 3) ? "(name = 'a')" : "(amount > 0)");
        break;
    default:
        rp_buf_adds(b, pick(p, 2) ? "true" : "(close_date is null)");
        break;
    }
}

static void gen(struct prop *p, struct rp_buf *b, enum gtype t, int depth)
{
    switch (t) {
    case G_BOOL:
        gen_bool(p, b, depth);
        break;
    case G_TEXT:
        gen_text(p, b, depth);
        break;
    case G_MONEY:
        gen_money(p, b, depth);
        break;
    case G_NUM:
        gen_num(p, b, depth);
        break;
    case G_INT:
        gen_int(p, b, depth);
        break;
    case G_DATE:
        gen_date(p, b, depth, G_DATE);
        break;
    default:
        gen_date(p, b, depth, G_DT);
        break;
    }
}

/* ---- comparison ---- */

static void describe(struct rp_buf *out, const struct rp_value *v)
{
    if (v->type == RP_V_NUM)
        rp_buf_addf(out, "%.17g", v->u.d);
    else if (v->type == RP_V_NULL)
        rp_buf_adds(out, "null");
    else
        rp_value_to_json(out, v);
}

static void describe_record(struct rp_buf *out, const struct record *r)
{
    const struct rp_value *vals[] = {&r->name,       &r->amount, &r->score, &r->close_date,
                                     &r->created_at, &r->active, &r->tags};
    const char *names[] = {"name", "amount", "score", "close_date", "created_at", "active", "tags"};

    rp_buf_addf(out, "{id: %" PRId64, r->id);
    for (size_t i = 0; i < 7; i++) {
        rp_buf_addf(out, ", %s: ", names[i]);
        describe(out, vals[i]);
    }
    rp_buf_addf(out, ", account_id: %" PRId64 "}", r->account_id);
}

/* The SQL result column as a value of the expression's type. */
static bool sql_value(sqlite3_stmt *st, int col, enum rp_vtype type, struct rp_value *out)
{
    int ct = sqlite3_column_type(st, col);

    if (ct == SQLITE_NULL) {
        *out = rp_value_null();
        return true;
    }
    switch (type) {
    case RP_V_TEXT:
        if (ct != SQLITE_TEXT)
            return false;
        *out = rp_value_text((const char *)sqlite3_column_text(st, col),
                             (size_t)sqlite3_column_bytes(st, col));
        return true;
    case RP_V_NUM:
        if (ct != SQLITE_FLOAT)
            return false;
        *out = rp_value_num(sqlite3_column_double(st, col));
        return true;
    case RP_V_BOOL:
        if (ct != SQLITE_INTEGER || (uint64_t)sqlite3_column_int64(st, col) > 1)
            return false;
        *out = rp_value_bool(sqlite3_column_int64(st, col) == 1);
        return true;
    default:
        if (ct != SQLITE_INTEGER)
            return false;
        *out = rp_value_typed_int(type, sqlite3_column_int64(st, col));
        return true;
    }
}

static bool same(const struct rp_value *a, const struct rp_value *b)
{
    if (a->type == RP_V_NULL || b->type == RP_V_NULL)
        return a->type == b->type;
    return a->type == b->type && rp_value_cmp(a, b) == 0;
}

static sqlite3_stmt *prepare(struct prop *p, const char *expr, const struct rp_sql *q, bool filter)
{
    char *sql =
        filter
            ? rp_arena_sprintf(q->text.arena, "SELECT id FROM t WHERE %s ORDER BY id", q->text.data)
            : rp_arena_sprintf(q->text.arena, "SELECT id, (%s) FROM t ORDER BY id", q->text.data);
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("seed %" PRIu64 ": %s\n  sql: %s\n  sqlite: %s", p->seed, expr, sql,
                 sqlite3_errmsg(p->db));
    for (size_t i = 0; i < q->nparams; i++)
        bind_value(st, (int)i + 1, &q->params[i]);
    return st;
}

static void mismatch(struct prop *p, const char *expr, const struct rp_sql *q,
                     const struct record *r, const char *what, const struct rp_value *ev,
                     const struct rp_value *sv)
{
    struct rp_buf msg;

    rp_buf_init(&msg, NULL, 1 << 16);
    rp_buf_addf(&msg, "seed %" PRIu64 ": %s\n  expr: %s\n  sql:  %s\n  record: ", p->seed, what,
                expr, q->text.data);
    describe_record(&msg, r);
    rp_buf_adds(&msg, "\n  eval: ");
    describe(&msg, ev);
    rp_buf_adds(&msg, "\n  sql:  ");
    if (sv)
        describe(&msg, sv);
    else
        rp_buf_adds(&msg, "(a value of another type)");
    print_error("%s\n", msg.data);
    rp_buf_release(&msg);
    fail();
}

static void check_expr(struct prop *p, const char *src, struct rp_arena *arena)
{
    struct rp_expr_env env = {resolve, NULL, NOW_MS};
    struct rp_value evals[NRECORDS];
    struct rp_expr *e;
    struct rp_error err;
    struct rp_sql q;
    sqlite3_stmt *st;
    enum rp_vtype type;
    int rc, i = 0;

    rp_error_init(&err, arena);
    rc = rp_expr_parse(arena, src, strlen(src), &env, &e, &err);
    if (rc < 0)
        fail_msg("seed %" PRIu64 ": generated expression rejected: %s\n  expr: %s", p->seed,
                 err.detail, src);
    type = rp_expr_type(e);
    rp_sql_init(&q, arena, RP_SQL_SQLITE);
    assert_int_equal(rp_expr_compile_sql(e, &q, &err), 0);

    for (int k = 0; k < NRECORDS; k++) {
        rc = rp_expr_eval(e, get, &p->recs[k], arena, &evals[k], &err);
        if (rc < 0)
            fail_msg("seed %" PRIu64 ": eval failed: %s\n  expr: %s", p->seed, err.detail, src);
        if (evals[k].type != RP_V_NULL && evals[k].type != type)
            fail_msg("seed %" PRIu64 ": eval gave %s for a %s expression: %s", p->seed,
                     rp_vtype_name(evals[k].type), rp_vtype_name(type), src);
    }

    st = prepare(p, src, &q, false);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct rp_value sv;
        const struct record *r = &p->recs[i];
        assert_int_equal(sqlite3_column_int64(st, 0), r->id);
        if (!sql_value(st, 1, type, &sv))
            mismatch(p, src, &q, r, "SQL value of the wrong type", &evals[i], NULL);
        if (!same(&evals[i], &sv))
            mismatch(p, src, &q, r, "back ends disagree", &evals[i], &sv);
        i++;
    }
    if (rc != SQLITE_DONE)
        fail_msg("seed %" PRIu64 ": %s\n  sql: %s\n  sqlite: %s", p->seed, src, q.text.data,
                 sqlite3_errmsg(p->db));
    assert_int_equal(i, NRECORDS);
    sqlite3_finalize(st);

    if (type != RP_V_BOOL)
        return;
    /* As a filter: exactly the records the evaluator calls true, no null ones. */
    st = prepare(p, src, &q, true);
    i = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        while (i < NRECORDS && p->recs[i].id < id) {
            if (rp_expr_is_true(&evals[i]))
                mismatch(p, src, &q, &p->recs[i], "WHERE dropped a true record", &evals[i], NULL);
            i++;
        }
        assert_true(i < NRECORDS && p->recs[i].id == id);
        if (!rp_expr_is_true(&evals[i]))
            mismatch(p, src, &q, &p->recs[i], "WHERE kept a record that is not true", &evals[i],
                     NULL);
        i++;
    }
    assert_int_equal(rc, SQLITE_DONE);
    for (; i < NRECORDS; i++)
        if (rp_expr_is_true(&evals[i]))
            mismatch(p, src, &q, &p->recs[i], "WHERE dropped a true record", &evals[i], NULL);
    sqlite3_finalize(st);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    return s && *s ? strtoull(s, NULL, 0) : dflt;
}

static void test_sql_matches_eval(void **state)
{
    /* Mostly conditions (filters and rules), the rest values (formula fields). */
    static const enum gtype tops[] = {G_BOOL, G_BOOL, G_BOOL,  G_BOOL, G_BOOL, G_BOOL, G_BOOL,
                                      G_BOOL, G_TEXT, G_MONEY, G_NUM,  G_INT,  G_DATE, G_DT};
    struct prop *p = rp_xcalloc(1, sizeof(*p));
    uint64_t n = env_u64("RP_PROPERTY_EXPRS", NEXPRS);
    struct rp_arena arena;
    struct rp_buf b;
    unsigned per_type[G_NTYPES] = {0};

    (void)state;
    p->seed = env_u64("RP_PROPERTY_SEED", DEFAULT_SEED);
    p->rng = p->seed;
    print_message("property seed %" PRIu64 " (set RP_PROPERTY_SEED to repeat another)\n", p->seed);
    rp_arena_init(&p->data);
    rp_arena_init(&arena);
    make_records(p);
    load_db(p);

    for (uint64_t k = 0; k < n; k++) {
        enum gtype t = PICK(p, tops);
        rp_buf_init(&b, &arena, RP_LIMIT_EXPR_BYTES);
        gen(p, &b, t, 1 + (int)pick(p, MAX_DEPTH));
        if (rp_buf_error(&b) == 0) {
            check_expr(p, b.data, &arena);
            per_type[t]++;
        }
        rp_arena_reset(&arena);
    }
    print_message("checked %u conditions and %u value expressions on %d records\n",
                  per_type[G_BOOL],
                  per_type[G_TEXT] + per_type[G_MONEY] + per_type[G_NUM] + per_type[G_INT] +
                      per_type[G_DATE] + per_type[G_DT],
                  NRECORDS);
    sqlite3_close(p->db);
    rp_arena_release(&arena);
    rp_arena_release(&p->data);
    free(p);
}

/* The handful of cases the property found or that matter most, pinned. */
static void test_pinned_cases(void **state)
{
    static const char *const cases[] = {
        "tags contains name",         "tags contains account.tier",
        "(null and active) is null",  "days_between(created_at, close_date) >= 0",
        "created_at >= today() - 30", "score / 0 is null",
        "amount = 0.1 + 0.2",         "(score * score - score * score) is null",
        "tags contains '张'",         "lower(name) = 'äb' or lower(name) = 'Äb'",
    };
    struct prop *p = rp_xcalloc(1, sizeof(*p));
    struct rp_arena arena;

    (void)state;
    p->seed = p->rng = DEFAULT_SEED;
    rp_arena_init(&p->data);
    rp_arena_init(&arena);
    make_records(p);
    load_db(p);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        check_expr(p, cases[i], &arena);
        rp_arena_reset(&arena);
    }
    sqlite3_close(p->db);
    rp_arena_release(&arena);
    rp_arena_release(&p->data);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pinned_cases),
        cmocka_unit_test(test_sql_matches_eval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
