/*
 * Quote pricing (sales.h, "CPQ"): write hooks that price quote lines from the price book and
 * keep each quote's totals equal to its live lines, in the write's own transaction.
 *
 * Arithmetic is exact: money is an integer of 1/10,000 units, and quantities and percentages
 * (stored as doubles) are taken as integers of 1/10,000 (a value with more decimals is
 * refused), so a line total is one 128-bit product rounded once, half up, to the currency's
 * minor unit. No binary floating point touches an amount.
 *
 * Before hooks compute what the write stores (a line's list_price, unit_price and line_total;
 * a quote's subtotal, discount_amount, tax_amount, total and effective_discount_percent), so a
 * write is logged once with its computed values. After hooks on lines write the quote's new
 * totals with rp_records_write_in.
 */
#include "sales/sales_int.h"

#include "base/arena.h"
#include "base/log.h"
#include "base/sql.h"
#include "base/time.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCT_ONE      INT64_C(1000000) /* 100% in 1/10,000 of a percent */
#define QTY_SCALE    INT64_C(10000)   /* quantities in 1/10,000 */
#define QTY_MAX      1e9              /* larger quantities are refused */
#define LINES_MAX    500              /* live lines one quote may have */
#define NUMBER_TRIES 100
/* Largest line total (10^12 currency units): LINES_MAX of them still sum within 64 bits. */
#define LINE_TOTAL_MAX (INT64_C(1000000000000) * RP_MONEY_SCALE)

/* ---- exact arithmetic ---- */

/* A number or percent field's double as an integer of 1/10,000; false past 4 decimals. */
static bool fixed4(double d, int64_t *out)
{
    double scaled = d * 10000.0;

    if (!isfinite(scaled) || fabs(scaled) > 9e15)
        return false;
    *out = (int64_t)llround(scaled);
    return fabs(scaled - (double)*out) <= 1e-6 + fabs(scaled) * 1e-12;
}

/* num / den rounded half up; both non-negative, den > 0. */
static __int128 div_half_up(__int128 num, __int128 den)
{
    __int128 q = num / den, r = num % den;
    return 2 * r >= den ? q + 1 : q;
}

int64_t rp_sales_money_step(const char *currency)
{
    /* the yen has no minor unit in use; the other currencies of the catalogue have cents */
    return currency && strcmp(currency, "jpy") == 0 ? RP_MONEY_SCALE : RP_MONEY_SCALE / 100;
}

/* qty × price × (1 − d) rounded half up to step; qty and d in 1/10,000. */
static int64_t line_amount(int64_t qty, int64_t price, int64_t disc, int64_t step)
{
    __int128 num = (__int128)qty * price * (PCT_ONE - disc);
    __int128 den = (__int128)QTY_SCALE * PCT_ONE * step;
    return (int64_t)(div_half_up(num, den) * step);
}

/* amount × pct rounded half up to step; pct in 1/10,000 of a percent. */
static int64_t pct_of(int64_t amount, int64_t pct, int64_t step)
{
    return (int64_t)(div_half_up((__int128)amount * pct, (__int128)PCT_ONE * step) * step);
}

void rp_sales_quote_totals_compute(struct rp_sales_totals *t, int64_t discount_pct, int64_t tax_pct,
                                   int64_t step)
{
    int64_t net;

    t->discount_amount = pct_of(t->subtotal, discount_pct, step);
    net = t->subtotal - t->discount_amount;
    t->tax_amount = pct_of(net, tax_pct, step);
    t->total = net + t->tax_amount;
    /* rounded up to 1/10,000 of a percent, so a discount above a band's bound never reads as it */
    t->effective_pct = 0;
    if (t->list_total > 0 && net < t->list_total) {
        __int128 num = (__int128)(t->list_total - net) * PCT_ONE;
        t->effective_pct = (int64_t)((num + t->list_total - 1) / t->list_total);
    }
}

/* ---- reading on the unit's connection ---- */

static struct rp_value text_copy(struct rp_arena *a, const struct rp_value *v)
{
    if (v->type != RP_V_TEXT)
        return *v;
    return rp_value_text(rp_arena_strndup(a, v->u.s.p, v->u.s.len), v->u.s.len);
}

struct cols_row {
    struct rp_value *cols;
    size_t n;
    struct rp_arena *arena;
    bool found;
};

static int cols_row_fn(void *ctx, const struct rp_value *cols, size_t n)
{
    struct cols_row *x = ctx;

    for (size_t i = 0; i < n && i < x->n; i++)
        x->cols[i] = text_copy(x->arena, &cols[i]);
    x->found = true;
    return 1;
}

static const char *cstr(struct rp_arena *a, const struct rp_value *v)
{
    return v->type == RP_V_TEXT ? rp_arena_strndup(a, v->u.s.p, v->u.s.len) : NULL;
}

/* What pricing needs of a quote. */
struct quote_head {
    bool found;
    const char *status, *price_book_id, *currency, *number;
    struct rp_value discount, tax; /* percent */
};

static int read_quote(struct rp_store_conn *c, const char *id, struct rp_arena *a,
                      struct quote_head *h, struct rp_error *err)
{
    struct rp_value cols[7];
    struct cols_row x = {cols, 7, a, false};
    struct rp_sql q;
    int rc;

    memset(h, 0, sizeof(*h));
    if (!id)
        return 0;
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT \"status\", \"price_book_id\", \"currency\", \"discount_percent\","
                   " \"tax_percent\", \"quote_number\", \"deleted_at\" FROM \"quote\" WHERE"
                   " \"id\" = ");
    rp_sql_param(&q, rp_value_cstr(id));
    if ((rc = rp_store_query(c, &q, cols_row_fn, &x, err)) < 0 || !x.found ||
        cols[6].type != RP_V_NULL)
        return rc;
    h->found = true;
    h->status = cstr(a, &cols[0]);
    h->price_book_id = cstr(a, &cols[1]);
    h->currency = cstr(a, &cols[2]);
    h->discount = cols[3];
    h->tax = cols[4];
    h->number = cstr(a, &cols[5]);
    return 0;
}

/* Pricing of a quote in these states changes only after it is re-opened (status draft). */
static bool pricing_open(const char *status)
{
    return !status || strcmp(status, "draft") == 0 || strcmp(status, "rejected") == 0;
}

static int locked_error(struct rp_error *err, const char *quote_id, const struct quote_head *h)
{
    return rp_error_set(err, RP_ECONFLICT,
                        "quote \"%s\" is %s: set its status to draft to change its pricing",
                        h->number ? h->number : quote_id, h->status);
}

static int64_t pct_value(const struct rp_value *v)
{
    int64_t out = 0;
    if (v->type == RP_V_NUM && fixed4(v->u.d, &out))
        return out;
    return 0;
}

static int pct_field(const struct rp_value *v, const char *field, int64_t *out,
                     struct rp_error *err)
{
    *out = 0;
    if (v->type == RP_V_NULL)
        return 0;
    if (v->type != RP_V_NUM || !fixed4(v->u.d, out) || *out < 0 || *out > PCT_ONE)
        return rp_error_field(err, RP_EVALIDATION, field, "invalid_percent",
                              "\"%s\" is a percentage from 0 to 100 with at most 4 decimals",
                              field);
    return 0;
}

/* ---- totals of a quote ---- */

struct totals_rows {
    struct rp_sales_totals *t;
    int64_t step;
    size_t n;
};

static int totals_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct totals_rows *x = ctx;
    int64_t qty = 0, list, total;

    if (n < 3)
        return 0;
    total = cols[0].type == RP_V_MONEY || cols[0].type == RP_V_INT ? cols[0].u.i : 0;
    list = cols[1].type == RP_V_MONEY || cols[1].type == RP_V_INT ? cols[1].u.i : -1;
    if (cols[2].type == RP_V_NUM)
        fixed4(cols[2].u.d, &qty);
    x->t->subtotal += total;
    x->t->list_total += list >= 0 ? line_amount(qty, list, 0, x->step) : total;
    x->n++;
    return 0;
}

/* Sums the quote's live lines (line totals, and list amounts for the effective discount). */
static int sum_lines(struct rp_store_conn *c, const char *quote_id, int64_t step,
                     struct rp_arena *a, struct rp_sales_totals *t, struct rp_error *err)
{
    struct totals_rows x = {t, step, 0};
    struct rp_sql q;

    memset(t, 0, sizeof(*t));
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT \"line_total\", \"list_price\", \"quantity\" FROM \"quote_line\""
                   " WHERE \"deleted_at\" IS NULL AND \"quote_id\" = ");
    rp_sql_param(&q, rp_value_cstr(quote_id));
    return rp_store_query(c, &q, totals_row, &x, err);
}

static struct rp_value money_value(int64_t units)
{
    return rp_value_typed_int(RP_V_MONEY, units);
}

static struct rp_value pct_double(int64_t pct)
{
    return rp_value_num((double)pct / 10000.0);
}

/* Money as the API takes it exactly: a decimal string. */
static json_t *money_json(struct rp_arena *a, int64_t units)
{
    struct rp_buf b;

    rp_buf_init(&b, a, 64);
    rp_money_format(&b, units);
    return json_string(b.data);
}

/* The internal principal pricing writes as: the caller, unrestricted (like lead conversion). */
static struct rp_principal internal_of(const struct rp_principal *p)
{
    struct rp_principal in = *p;
    in.is_admin = true;
    return in;
}

/* Writes the quote's totals from its live lines (the quote's before hook computes them). */
static int touch_quote(const struct rp_write_event *ev, const char *quote_id, struct rp_error *err)
{
    struct rp_principal in = internal_of(ev->principal);
    struct quote_head h;
    struct rp_sales_totals t;
    struct rp_error sub;
    int64_t step;
    json_t *data;
    int rc;

    if ((rc = read_quote(ev->c, quote_id, ev->arena, &h, err)) < 0 || !h.found)
        return rc;
    step = rp_sales_money_step(h.currency);
    if ((rc = sum_lines(ev->c, quote_id, step, ev->arena, &t, err)) < 0)
        return rc;
    rp_sales_quote_totals_compute(&t, pct_value(&h.discount), pct_value(&h.tax), step);
    /* every total, so a write that leaves the subtotal alone still moves the rest */
    data = json_object();
    json_object_set_new(data, "subtotal", money_json(ev->arena, t.subtotal));
    json_object_set_new(data, "discount_amount", money_json(ev->arena, t.discount_amount));
    json_object_set_new(data, "tax_amount", money_json(ev->arena, t.tax_amount));
    json_object_set_new(data, "total", money_json(ev->arena, t.total));
    json_object_set_new(data, "effective_discount_percent",
                        json_real((double)t.effective_pct / 10000.0));
    {
        struct rp_write w = {.op = RP_WRITE_UPDATE, .id = quote_id, .data = data, .if_match = -1};
        struct rp_write_request wr = {.principal = &in,
                                      .object = "quote",
                                      .writes = &w,
                                      .nwrites = 1,
                                      .request_id = ev->request_id,
                                      .cause = ev->cause,
                                      .arena = ev->arena,
                                      .err = &sub};
        rp_error_init(&sub, ev->arena);
        rc = rp_records_write_in(ev->rs, ev->c, &wr);
        if (rc < 0)
            rp_error_copy(err, &sub);
    }
    json_decref(data);
    return rc;
}

/* ---- the line hooks ---- */

static int check_head_ceiling(const struct rp_write_event *ev, const char *quote_id,
                              int64_t head_disc, struct rp_error *err);

struct product_row {
    bool found, active, deleted;
    const char *sku, *currency;
    struct rp_value list_price, ceiling;
};

static int read_product(struct rp_store_conn *c, const char *id, struct rp_arena *a,
                        struct product_row *p, struct rp_error *err)
{
    struct rp_value cols[6];
    struct cols_row x = {cols, 6, a, false};
    struct rp_sql q;
    int rc;

    memset(p, 0, sizeof(*p));
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT \"sku\", \"currency\", \"list_price\", \"discount_ceiling\", \"active\","
                   " \"deleted_at\" FROM \"product\" WHERE \"id\" = ");
    rp_sql_param(&q, rp_value_cstr(id));
    if ((rc = rp_store_query(c, &q, cols_row_fn, &x, err)) < 0 || !x.found)
        return rc;
    p->found = true;
    p->sku = cstr(a, &cols[0]);
    p->currency = cstr(a, &cols[1]);
    p->list_price = cols[2];
    p->ceiling = cols[3];
    p->active = cols[4].type != RP_V_INT || cols[4].u.i != 0;
    p->deleted = cols[5].type != RP_V_NULL;
    return 0;
}

/*
 * The list price of product for quote h at quantity qty: the best applicable entry (active,
 * min_quantity reached, the quote's currency) of the quote's price book, else of the active
 * standard price book; *found false when neither has one.
 */
static int entry_price(struct rp_store_conn *c, const struct quote_head *h, const char *product,
                       int64_t qty, struct rp_arena *a, int64_t *price, bool *found,
                       struct rp_error *err)
{
    struct rp_value cols[1];
    struct cols_row x = {cols, 1, a, false};
    struct rp_sql q;
    int rc;

    *found = false;
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT e.\"unit_price\" FROM \"price_book_entry\" AS e JOIN \"price_book\" AS b"
                   " ON b.\"id\" = e.\"price_book_id\" WHERE e.\"deleted_at\" IS NULL AND"
                   " e.\"active\" = 1 AND b.\"deleted_at\" IS NULL AND b.\"active\" = 1 AND"
                   " e.\"product_id\" = ");
    rp_sql_param(&q, rp_value_cstr(product));
    rp_sql_add(&q, " AND (e.\"min_quantity\" IS NULL OR e.\"min_quantity\" <= ");
    rp_sql_param(&q, rp_value_num((double)qty / (double)QTY_SCALE));
    rp_sql_add(&q, ") AND (e.\"currency\" IS NULL OR e.\"currency\" = ");
    rp_sql_param(&q, h->currency ? rp_value_cstr(h->currency) : rp_value_cstr("cny"));
    rp_sql_add(&q, ") AND ");
    if (h->price_book_id) {
        rp_sql_add(&q, "b.\"id\" = ");
        rp_sql_param(&q, rp_value_cstr(h->price_book_id));
    } else {
        rp_sql_add(&q, "b.\"is_standard\" = 1");
    }
    /* volume tiers: the highest minimum quantity reached wins */
    rp_sql_add(&q, " ORDER BY COALESCE(e.\"min_quantity\", 0) DESC, b.\"name\", e.\"id\" LIMIT 1");
    if ((rc = rp_store_query(c, &q, cols_row_fn, &x, err)) < 0)
        return rc;
    if (x.found && (cols[0].type == RP_V_MONEY || cols[0].type == RP_V_INT)) {
        *price = cols[0].u.i;
        *found = true;
    }
    return 0;
}

static bool value_changed(const struct rp_write_event *ev, const char *field)
{
    return rp_write_event_changed(ev, field);
}

static int64_t money_of(const struct rp_value *v, int64_t fallback)
{
    return v->type == RP_V_MONEY || v->type == RP_V_INT ? v->u.i : fallback;
}

/* Is the net price (unit price less both discounts) within the product's ceiling off list? */
static bool within_ceiling(int64_t list, int64_t unit, int64_t line_disc, int64_t head_disc,
                           int64_t ceiling)
{
    __int128 net = (__int128)unit * (PCT_ONE - line_disc) * (PCT_ONE - head_disc);
    __int128 floor = (__int128)list * (PCT_ONE - ceiling) * PCT_ONE;
    return list <= 0 || net >= floor;
}

/* How far below list the net price lies, in percent (for messages). */
static double below_list(int64_t list, int64_t unit, int64_t line_disc, int64_t head_disc)
{
    double net = (double)unit * (double)(PCT_ONE - line_disc) / (double)PCT_ONE *
                 (double)(PCT_ONE - head_disc) / (double)PCT_ONE;
    return list > 0 ? 100.0 * (1.0 - net / (double)list) : 0;
}

static int line_before(void *ctx, const struct rp_write_event *ev, struct rp_error *err)
{
    static const char *const priced[] = {"quote_id",         "product_id", "quantity",
                                         "unit_price",       "list_price", "line_total",
                                         "discount_percent", NULL};
    const char *quote_id = cstr(ev->arena, rp_write_event_value(ev, "quote_id"));
    const char *product_id = cstr(ev->arena, rp_write_event_value(ev, "product_id"));
    const struct rp_value *qv = rp_write_event_value(ev, "quantity");
    struct quote_head h;
    struct product_row prod = {0};
    int64_t qty = 0, disc, head_disc, list = -1, unit, step;
    bool any = ev->op == RP_WRITE_CREATE, found = false;
    int rc;

    (void)ctx;
    for (size_t i = 0; priced[i] && !any; i++)
        any = value_changed(ev, priced[i]);
    if ((rc = read_quote(ev->c, quote_id, ev->arena, &h, err)) < 0 || !h.found)
        return rc; /* the write path reports the missing quote */
    if (!pricing_open(h.status))
        return locked_error(err, quote_id, &h);
    if (ev->old && value_changed(ev, "quote_id")) {
        struct quote_head was;
        const struct rp_field *f = rp_meta_field(ev->object, "quote_id");
        const char *old_id = cstr(ev->arena, &ev->old[f->index]);
        if ((rc = read_quote(ev->c, old_id, ev->arena, &was, err)) < 0)
            return rc;
        if (was.found && !pricing_open(was.status))
            return locked_error(err, old_id, &was);
    }
    if (!any)
        return 0;
    if (qv->type == RP_V_NUM && (!fixed4(qv->u.d, &qty) || qv->u.d > QTY_MAX))
        return rp_error_field(err, RP_EVALIDATION, "quantity", "invalid_quantity",
                              "\"quantity\" has at most 4 decimals and is at most %.0f", QTY_MAX);
    if ((rc = pct_field(rp_write_event_value(ev, "discount_percent"), "discount_percent", &disc,
                        err)) < 0)
        return rc;
    head_disc = pct_value(&h.discount);
    step = rp_sales_money_step(h.currency);

    if (product_id) {
        if ((rc = read_product(ev->c, product_id, ev->arena, &prod, err)) < 0)
            return rc;
        if (!prod.found)
            return 0; /* the write path reports the reference */
        if ((prod.deleted || !prod.active) && value_changed(ev, "product_id"))
            return rp_error_field(err, RP_EVALIDATION, "product_id", "inactive",
                                  "product \"%s\" is not active", prod.sku ? prod.sku : product_id);
        if ((rc = entry_price(ev->c, &h, product_id, qty, ev->arena, &list, &found, err)) < 0)
            return rc;
        if (!found) {
            const char *cur = h.currency ? h.currency : "cny";
            if (prod.list_price.type == RP_V_NULL ||
                (prod.currency && strcmp(prod.currency, cur) != 0))
                return rp_error_field(err, RP_EVALIDATION, "product_id", "no_price",
                                      "product \"%s\" has no price in %s in the quote's price book"
                                      " or as its list price",
                                      prod.sku ? prod.sku : product_id, cur);
            list = prod.list_price.u.i;
        }
    } else {
        list = money_of(rp_write_event_value(ev, "list_price"), -1);
        if (list < 0)
            list = money_of(rp_write_event_value(ev, "unit_price"), -1);
        if (list < 0)
            return rp_error_field(err, RP_EVALIDATION, "unit_price", "required",
                                  "a line without a product needs a unit_price");
    }

    /* the unit price follows the list price unless the caller set one of its own */
    if (value_changed(ev, "unit_price") &&
        rp_write_event_value(ev, "unit_price")->type != RP_V_NULL) {
        unit = money_of(rp_write_event_value(ev, "unit_price"), list);
    } else if (ev->old) {
        const struct rp_field *fu = rp_meta_field(ev->object, "unit_price");
        const struct rp_field *fl = rp_meta_field(ev->object, "list_price");
        const struct rp_value *ou = &ev->old[fu->index], *ol = &ev->old[fl->index];
        bool followed = ou->type == RP_V_NULL || rp_value_equal(ou, ol);
        unit = followed || value_changed(ev, "unit_price") ? list : money_of(ou, list);
    } else {
        unit = list;
    }

    if (prod.found && prod.ceiling.type == RP_V_NUM) {
        int64_t ceiling = pct_value(&prod.ceiling);
        if (!within_ceiling(list, unit, disc, head_disc, ceiling)) {
            /* the line's own discount if it has one, else the unit price below list */
            const char *field = disc > 0 || unit >= list ? "discount_percent" : "unit_price";
            return rp_error_field(err, RP_EVALIDATION, field, "discount_ceiling",
                                  "a discount of %.4g%% off the list price of \"%s\" exceeds its"
                                  " ceiling of %.4g%%",
                                  below_list(list, unit, disc, head_disc),
                                  prod.sku ? prod.sku : product_id, prod.ceiling.u.d);
        }
    }
    if ((__int128)qty * unit / QTY_SCALE > LINE_TOTAL_MAX)
        return rp_error_field(err, RP_EVALIDATION, "quantity", "out_of_range",
                              "the line's amount is out of range");
    rp_write_event_set(ev, "list_price", money_value(list));
    rp_write_event_set(ev, "unit_price", money_value(unit));
    rp_write_event_set(ev, "line_total", money_value(line_amount(qty, unit, disc, step)));
    return 0;
}

static int line_after(void *ctx, const struct rp_write_event *ev, struct rp_error *err)
{
    static const char *const priced[] = {"quote_id",   "quantity",   "unit_price",
                                         "list_price", "line_total", NULL};
    const struct rp_field *f = rp_meta_field(ev->object, "quote_id");
    const char *quote_id, *old_id = NULL;
    bool any = ev->op != RP_WRITE_UPDATE;
    int rc;

    (void)ctx;
    if (!f)
        return 0;
    if (ev->op == RP_WRITE_DELETE || ev->op == RP_WRITE_RESTORE) {
        struct quote_head h;
        quote_id = cstr(ev->arena, &ev->old[f->index]);
        if ((rc = read_quote(ev->c, quote_id, ev->arena, &h, err)) < 0)
            return rc;
        if (h.found && !pricing_open(h.status))
            return locked_error(err, quote_id, &h);
        /* a line comes back with the prices it had: the quote's discount must still allow them */
        if (ev->op == RP_WRITE_RESTORE && h.found &&
            (rc = check_head_ceiling(ev, quote_id, pct_value(&h.discount), err)) < 0)
            return rc;
    } else {
        quote_id = cstr(ev->arena, rp_write_event_value(ev, "quote_id"));
        for (size_t i = 0; priced[i] && !any; i++)
            any = value_changed(ev, priced[i]);
        if (ev->old && value_changed(ev, "quote_id"))
            old_id = cstr(ev->arena, &ev->old[f->index]);
    }
    if (!any)
        return 0;
    if ((rc = touch_quote(ev, quote_id, err)) < 0)
        return rc;
    return old_id ? touch_quote(ev, old_id, err) : 0;
}

/* ---- the quote hooks ---- */

struct ceiling_rows {
    int64_t head_disc;
    const char *violation; /* sku */
    double below, ceiling;
    struct rp_arena *arena;
};

static int ceiling_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct ceiling_rows *x = ctx;
    int64_t list, unit, disc, ceiling;

    if (n < 5 || cols[3].type != RP_V_NUM)
        return 0;
    list = money_of(&cols[0], 0);
    unit = money_of(&cols[1], 0);
    disc = pct_value(&cols[2]);
    ceiling = pct_value(&cols[3]);
    if (!within_ceiling(list, unit, disc, x->head_disc, ceiling)) {
        x->violation = cstr(x->arena, &cols[4]);
        x->below = below_list(list, unit, disc, x->head_disc);
        x->ceiling = cols[3].u.d;
        return 1;
    }
    return 0;
}

/* A quote's discount must leave every line within its product's ceiling. */
static int check_head_ceiling(const struct rp_write_event *ev, const char *quote_id,
                              int64_t head_disc, struct rp_error *err)
{
    struct ceiling_rows x = {.head_disc = head_disc, .arena = ev->arena};
    struct rp_sql q;
    int rc;

    rp_sql_init(&q, ev->arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT l.\"list_price\", l.\"unit_price\", l.\"discount_percent\","
                   " p.\"discount_ceiling\", COALESCE(p.\"sku\", p.\"name\") FROM \"quote_line\""
                   " AS l JOIN \"product\" AS p ON p.\"id\" = l.\"product_id\" WHERE"
                   " l.\"deleted_at\" IS NULL AND p.\"discount_ceiling\" IS NOT NULL AND"
                   " l.\"quote_id\" = ");
    rp_sql_param(&q, rp_value_cstr(quote_id));
    rp_sql_add(&q, " ORDER BY l.\"id\"");
    if ((rc = rp_store_query(ev->c, &q, ceiling_row, &x, err)) < 0)
        return rc;
    if (x.violation)
        return rp_error_field(err, RP_EVALIDATION, "discount_percent", "discount_ceiling",
                              "with this discount \"%s\" would be sold %.4g%% below its list"
                              " price, past its ceiling of %.4g%%",
                              x.violation, x.below, x.ceiling);
    return 0;
}

static int live_lines(struct rp_store_conn *c, const char *quote_id, struct rp_arena *a, int64_t *n,
                      struct rp_error *err)
{
    struct rp_sql q;

    *n = 0;
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT COUNT(*) FROM \"quote_line\" WHERE \"deleted_at\" IS NULL AND"
                   " \"quote_id\" = ");
    rp_sql_param(&q, rp_value_cstr(quote_id));
    return rp_store_query(c, &q, rp_store_row_int, n, err);
}

/* Q-YYYYMMDD-NNNN: the next free number of the day. */
static int assign_number(const struct rp_write_event *ev, struct rp_error *err)
{
    int64_t y, n = 0;
    unsigned m, d;
    const char *prefix;
    struct rp_sql q;
    int rc;

    rp_time_civil_from_days(rp_time_day_of(ev->now), &y, &m, &d);
    prefix = rp_arena_sprintf(ev->arena, "Q-%04lld%02u%02u-", (long long)y, m, d);
    rp_sql_init(&q, ev->arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT COUNT(*) FROM \"quote\" WHERE substr(\"quote_number\", 1, 11) = ");
    rp_sql_param(&q, rp_value_cstr(prefix));
    if ((rc = rp_store_query(ev->c, &q, rp_store_row_int, &n, err)) < 0)
        return rc;
    for (int i = 0; i < NUMBER_TRIES; i++) {
        const char *number =
            rp_arena_sprintf(ev->arena, "%s%04lld", prefix, (long long)(n + 1 + i));
        bool taken = false;
        rp_sql_init(&q, ev->arena, RP_SQL_SQLITE);
        rp_sql_add(&q, "SELECT 1 FROM \"quote\" WHERE \"quote_number\" = ");
        rp_sql_param(&q, rp_value_cstr(number));
        if ((rc = rp_store_query(ev->c, &q, rp_store_row_exists, &taken, err)) < 0)
            return rc;
        if (!taken) {
            rp_write_event_set(ev, "quote_number", rp_value_cstr(number));
            return 0;
        }
    }
    return rp_error_set(err, RP_ECONFLICT, "could not number the quote; retry");
}

static const char *status_text(const struct rp_write_event *ev, const struct rp_value *v)
{
    return cstr(ev->arena, v);
}

/*
 * Status changes people may make (administrators and internal work may make any but one): approval
 * states come from the approval process, signed from signing, expired from the expiry job; a
 * quote is sent only once approved; a signed quote stays signed, whoever asks.
 */
static int check_status(const struct rp_write_event *ev, const char *from, const char *to,
                        struct rp_error *err)
{
    if (!to || (from && strcmp(from, to) == 0))
        return 0;
    /* a signed quote is a signed document: no one, administrators included, unsigns it */
    if (from && strcmp(from, "signed") == 0)
        return rp_error_set(err, RP_ECONFLICT, "a signed quote cannot change its status");
    if (rp_policy_is_unrestricted(ev->principal))
        return 0;
    if (strcmp(to, "pending_approval") == 0 || strcmp(to, "approved") == 0)
        return rp_error_field(err, RP_EVALIDATION, "status", "approval_only",
                              "status \"%s\" is set by the approval process: submit the quote"
                              " for approval",
                              to);
    if (strcmp(to, "signed") == 0 || strcmp(to, "expired") == 0)
        return rp_error_field(err, RP_EVALIDATION, "status", "system_only",
                              "status \"%s\" is set by %s", to,
                              strcmp(to, "signed") == 0 ? "signing" : "the expiry job");
    if (strcmp(to, "sent") == 0 && (!from || strcmp(from, "approved") != 0))
        return rp_error_set(err, RP_ECONFLICT, "a quote is sent only once it is approved");
    return 0;
}

static int quote_before(void *ctx, const struct rp_write_event *ev, struct rp_error *err)
{
    static const char *const computed[] = {
        "subtotal", "discount_amount", "tax_amount", "total", "effective_discount_percent", NULL};
    const struct rp_field *fs = rp_meta_field(ev->object, "status");
    const char *from = ev->old && fs ? status_text(ev, &ev->old[fs->index]) : NULL;
    const char *to = status_text(ev, rp_write_event_value(ev, "status"));
    bool pricing = value_changed(ev, "discount_percent") || value_changed(ev, "tax_percent");
    bool any = ev->op == RP_WRITE_CREATE || pricing;
    struct rp_sales_totals t;
    int64_t head_disc, tax, step, nlines = 0;
    int rc;

    (void)ctx;
    for (size_t i = 0; computed[i] && !any; i++)
        any = value_changed(ev, computed[i]);
    if ((rc = check_status(ev, from, value_changed(ev, "status") ? to : NULL, err)) < 0)
        return rc;
    if (ev->op == RP_WRITE_CREATE) {
        const struct rp_value *num = rp_write_event_value(ev, "quote_number");
        if ((num->type == RP_V_NULL || (num->type == RP_V_TEXT && num->u.s.len == 0)) &&
            (rc = assign_number(ev, err)) < 0)
            return rc;
    }
    if (ev->old &&
        (pricing || value_changed(ev, "price_book_id") || value_changed(ev, "currency"))) {
        struct quote_head h = {.status = from,
                               .number = cstr(ev->arena, rp_write_event_value(ev, "quote_number"))};
        if (!pricing_open(from) && !(to && strcmp(to, "draft") == 0))
            return locked_error(err, ev->id, &h);
    }
    if (ev->old && (value_changed(ev, "price_book_id") || value_changed(ev, "currency"))) {
        if ((rc = live_lines(ev->c, ev->id, ev->arena, &nlines, err)) < 0)
            return rc;
        if (nlines > 0)
            return rp_error_field(err, RP_EVALIDATION,
                                  value_changed(ev, "currency") ? "currency" : "price_book_id",
                                  "has_lines",
                                  "the lines were priced from the current price book and currency;"
                                  " remove them before changing either");
    }
    if (!any)
        return 0;
    if ((rc = pct_field(rp_write_event_value(ev, "discount_percent"), "discount_percent",
                        &head_disc, err)) < 0 ||
        (rc = pct_field(rp_write_event_value(ev, "tax_percent"), "tax_percent", &tax, err)) < 0)
        return rc;
    step = rp_sales_money_step(cstr(ev->arena, rp_write_event_value(ev, "currency")));
    memset(&t, 0, sizeof(t));
    if (ev->old) {
        if (value_changed(ev, "discount_percent") &&
            (rc = check_head_ceiling(ev, ev->id, head_disc, err)) < 0)
            return rc;
        if ((rc = sum_lines(ev->c, ev->id, step, ev->arena, &t, err)) < 0)
            return rc;
    }
    rp_sales_quote_totals_compute(&t, head_disc, tax, step);
    rp_write_event_set(ev, "subtotal", money_value(t.subtotal));
    rp_write_event_set(ev, "discount_amount", money_value(t.discount_amount));
    rp_write_event_set(ev, "tax_amount", money_value(t.tax_amount));
    rp_write_event_set(ev, "total", money_value(t.total));
    rp_write_event_set(ev, "effective_discount_percent", pct_double(t.effective_pct));
    return 0;
}

/* A line added to a quote counts against LINES_MAX; more is refused. */
static int line_count_check(void *ctx, const struct rp_write_event *ev, struct rp_error *err)
{
    int64_t n = 0;
    const char *quote_id;
    int rc;

    (void)ctx;
    if (ev->op != RP_WRITE_CREATE && ev->op != RP_WRITE_RESTORE)
        return 0;
    if (ev->op == RP_WRITE_CREATE)
        quote_id = cstr(ev->arena, rp_write_event_value(ev, "quote_id"));
    else
        quote_id = cstr(ev->arena, &ev->old[rp_meta_field(ev->object, "quote_id")->index]);
    if (!quote_id || (rc = live_lines(ev->c, quote_id, ev->arena, &n, err)) < 0)
        return quote_id ? rc : 0;
    if (n > LINES_MAX)
        return rp_error_set(err, RP_EVALIDATION, "a quote has at most %d lines", LINES_MAX);
    return 0;
}

static int expire_job(void *ctx, const struct rp_job *job, struct rp_error *err);

void rp_sales_quote_register(struct rp_sales *s)
{
    rp_records_hook_add(
        s->records,
        &(struct rp_write_hook){.object = "quote", .fn = quote_before, .ctx = s, .before = true});
    rp_records_hook_add(s->records,
                        &(struct rp_write_hook){
                            .object = "quote_line", .fn = line_before, .ctx = s, .before = true});
    rp_records_hook_add(s->records, &(struct rp_write_hook){
                                        .object = "quote_line", .fn = line_count_check, .ctx = s});
    rp_records_hook_add(
        s->records, &(struct rp_write_hook){.object = "quote_line", .fn = line_after, .ctx = s});
    if (s->jobs)
        rp_jobs_register(s->jobs, RP_SALES_QUOTE_EXPIRE_JOB, expire_job, s, 5);
}

/* ---- expiry ---- */

#define EXPIRE_BATCH 1000

struct expire_unit {
    struct rp_sales *s;
    int64_t now;
    size_t n;
    struct rp_error *err;
};

struct id_list {
    char (*ids)[40];
    size_t n;
};

static int id_list_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct id_list *l = ctx;

    if (n > 0 && cols[0].type == RP_V_TEXT && l->n < EXPIRE_BATCH)
        snprintf(l->ids[l->n++], 40, "%.*s", (int)cols[0].u.s.len, cols[0].u.s.p);
    return 0;
}

static int expire_run(struct rp_store_conn *c, void *ctx, struct rp_error *unit_err)
{
    struct expire_unit *x = ctx;
    struct rp_arena a;
    struct id_list l = {rp_xcalloc(EXPIRE_BATCH, 40), 0};
    struct rp_sql q;
    int rc;

    (void)unit_err;
    x->n = 0; /* the writer may run a unit again */
    rp_error_clear(x->err);
    rp_arena_init(&a);
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT \"id\" FROM \"quote\" WHERE \"deleted_at\" IS NULL AND \"status\" IN"
                   " ('draft', 'approved', 'sent') AND \"valid_until\" < ");
    rp_sql_param(&q, rp_value_int(rp_time_day_of(x->now)));
    rp_sql_addf(&q, " ORDER BY \"valid_until\", \"id\" LIMIT %d", EXPIRE_BATCH);
    if ((rc = rp_store_query(c, &q, id_list_row, &l, x->err)) < 0)
        goto out;
    for (size_t i = 0; i < l.n; i++) {
        json_t *data = json_pack("{ss}", "status", "expired");
        struct rp_write w = {.op = RP_WRITE_UPDATE, .id = l.ids[i], .data = data, .if_match = -1};
        struct rp_write_request wr = {.principal = &x->s->internal,
                                      .object = "quote",
                                      .writes = &w,
                                      .nwrites = 1,
                                      .cause = "{\"quote_expiry\":true,\"depth\":0}",
                                      .arena = &a,
                                      .err = x->err};
        rc = rp_records_write_in(x->s->records, c, &wr);
        if (rc == 0)
            rc = rp_records_event_in(c, x->now, "quote.expired", l.ids[i], "system", data, &a,
                                     x->err);
        json_decref(data);
        if (rc < 0)
            goto out;
        x->n++;
    }
out:
    free(l.ids);
    rp_arena_release(&a);
    return rc;
}

int rp_sales_quote_expire(struct rp_sales *s, size_t *n, struct rp_error *err)
{
    struct expire_unit x = {.s = s, .now = rp_clock_now_ms(s->clock), .err = err};
    struct rp_error store_err;
    int rc;

    rp_error_init(&store_err, NULL);
    rc = rp_store_write(s->store, expire_run, &x, &store_err);
    if (rc < 0) {
        rp_error_copy(err, &store_err);
        return err->code ? err->code : rc;
    }
    if (n)
        *n = x.n;
    return 0;
}

static int expire_job(void *ctx, const struct rp_job *job, struct rp_error *err)
{
    size_t n = 0;
    int rc;

    (void)job;
    rc = rp_sales_quote_expire(ctx, &n, err);
    if (rc == 0 && n > 0)
        rp_log_info("quote expiry: %zu quotes expired", n);
    return rc;
}

int rp_sales_quote_expiry_queue(struct rp_sales *s, struct rp_error *err)
{
    char key[64];
    int64_t y;
    unsigned m, d;

    if (!s->jobs)
        return rp_error_set(err, RP_EINTERNAL, "the sales service has no job queue");
    rp_time_civil_from_days(rp_time_day_of(rp_clock_now_ms(s->clock)), &y, &m, &d);
    snprintf(key, sizeof(key), "%s:%04lld-%02u-%02u", RP_SALES_QUOTE_EXPIRE_JOB, (long long)y, m,
             d);
    return rp_jobs_enqueue(
        s->jobs, &(struct rp_job_spec){.kind = RP_SALES_QUOTE_EXPIRE_JOB, .dedup_key = key}, NULL,
        NULL, err);
}
