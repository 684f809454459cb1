/*
 * Contract to order (sales.h): write hooks that carry a signed quote into a contract, an order
 * with its lines and a won opportunity in the signing's transaction, and keep an order's
 * shipping dates and the invoice request in step with its status.
 */
#include "sales/sales_int.h"
#include "base/json.h"

#include "base/arena.h"
#include "base/sql.h"
#include "base/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONTRACT_MONTHS 12
#define MAX_LINES       1000

struct order_ctx {
    const struct rp_write_event *ev;
    struct rp_principal internal; /* the writer, unrestricted: the loop's own records */
    struct rp_error *err;
};

static bool changed_to(const struct rp_write_event *ev, const char *field, const char *value)
{
    const struct rp_field *f = rp_meta_field(ev->object, field);
    const struct rp_value *v =
        f && ev->changed && ev->changed[f->index] ? &ev->values[f->index] : NULL;
    return v && v->type == RP_V_TEXT && v->u.s.len == strlen(value) &&
           memcmp(v->u.s.p, value, v->u.s.len) == 0;
}

static int write_one(struct order_ctx *x, const char *object, enum rp_write_op op, const char *id,
                     json_t *data, char *new_id)
{
    const struct rp_write_event *ev = x->ev;
    struct rp_error sub;
    struct rp_write w = {.op = op, .id = id, .data = data, .if_match = -1};
    struct rp_write_request wr = {.principal = &x->internal,
                                  .object = object,
                                  .writes = &w,
                                  .nwrites = 1,
                                  .request_id = ev->request_id,
                                  .cause = ev->cause,
                                  .arena = ev->arena,
                                  .err = &sub};
    int rc;

    rp_error_init(&sub, ev->arena);
    if ((rc = rp_records_write_in(ev->rs, ev->c, &wr)) < 0) {
        *x->err = sub;
        x->err->detail = rp_arena_sprintf(ev->arena, "%s: %s", object,
                                          sub.detail ? sub.detail : "could not write");
        return rc;
    }
    if (new_id)
        snprintf(new_id, 40, "%s", w.new_id);
    return 0;
}

static json_t *read_one(struct order_ctx *x, const char *object, const char *id)
{
    struct rp_buf b;
    struct rp_error sub;

    rp_error_init(&sub, x->ev->arena);
    rp_buf_init(&b, x->ev->arena, 1 << 20);
    if (rp_records_read_in(x->ev->rs, x->ev->c, &x->internal, object, id, true, x->ev->arena, &b,
                           &sub) < 0)
        return NULL;
    return rp_json_loadb(b.data, b.len, 0, NULL);
}

static json_t *date_json(struct rp_arena *arena, int64_t days)
{
    struct rp_buf b;

    rp_buf_init(&b, arena, 32);
    rp_buf_addc(&b, '"');
    rp_time_format_date(&b, days);
    rp_buf_addc(&b, '"');
    return rp_json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
}

static json_t *datetime_json(struct rp_arena *arena, int64_t ms)
{
    struct rp_buf b;

    rp_buf_init(&b, arena, 48);
    rp_buf_addc(&b, '"');
    rp_time_format_datetime(&b, ms);
    rp_buf_addc(&b, '"');
    return rp_json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
}

/* The last day of a term of months from start: the day before the same day months on (that
   day clamped to its month's length: a term from 31 January ends on 27 or 28 February). */
static int64_t term_end(int64_t start, int months)
{
    int64_t y, first, next, day;
    unsigned m, d, total;

    rp_time_civil_from_days(start, &y, &m, &d);
    total = m - 1 + (unsigned)months;
    y += total / 12;
    m = total % 12 + 1;
    first = rp_time_days_from_civil(y, m, 1);
    next = m == 12 ? rp_time_days_from_civil(y + 1, 1, 1) : rp_time_days_from_civil(y, m + 1, 1);
    day = first + d - 1;
    return (day < next ? day : next - 1) - 1;
}

struct line_rows {
    json_t *rows;
};

static int line_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct line_rows *x = ctx;

    if (n >= 1 && cols[0].type == RP_V_TEXT)
        json_array_append_new(x->rows, json_stringn(cols[0].u.s.p, cols[0].u.s.len));
    return 0;
}

static int contract_exists(struct order_ctx *x, const char *quote_id, bool *exists)
{
    struct rp_sql q;

    rp_sql_init(&q, x->ev->arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT 1 FROM \"contract\" WHERE \"deleted_at\" IS NULL AND \"quote_id\" = ");
    rp_sql_param(&q, rp_value_cstr(quote_id));
    return rp_store_query(x->ev->c, &q, rp_store_row_exists, exists, x->err);
}

/* The signed quote becomes a contract, an order with its lines, and a won opportunity. */
static int quote_signed(void *ctx, const struct rp_write_event *ev, struct rp_error *err)
{
    struct order_ctx x = {.ev = ev, .internal = *ev->principal, .err = err};
    char contract[40], order[40];
    json_t *quote, *data, *lines = NULL, *line_ids, *ev_data;
    const char *opp, *account;
    int64_t today = rp_time_day_of(ev->now);
    struct line_rows lr = {json_array()};
    struct rp_sql q;
    bool exists = false;
    size_t i;
    int rc;

    (void)ctx;
    x.internal.is_admin = true;
    if (ev->op != RP_WRITE_UPDATE || !changed_to(ev, "status", "signed")) {
        json_decref(lr.rows);
        return 0;
    }
    if ((rc = contract_exists(&x, ev->id, &exists)) < 0 || exists) {
        json_decref(lr.rows);
        return rc; /* signed again: the contract exists already */
    }
    if (!(quote = read_one(&x, "quote", ev->id))) {
        json_decref(lr.rows);
        return rp_error_set(err, RP_EINTERNAL, "the signed quote cannot be read");
    }
    opp = json_string_value(json_object_get(quote, "opportunity_id"));
    account = json_string_value(json_object_get(quote, "account_id"));
    if (!account && opp) {
        json_t *o = read_one(&x, "opportunity", opp);
        account =
            o ? rp_arena_strdup(ev->arena, json_string_value(json_object_get(o, "account_id"))
                                               ? json_string_value(json_object_get(o, "account_id"))
                                               : "")
              : NULL;
        account = account && *account ? account : NULL;
        json_decref(o);
    }
    if (!account) {
        json_decref(quote);
        json_decref(lr.rows);
        return rp_error_field(err, RP_EVALIDATION, "account_id", "required",
                              "a quote is signed for an account: give the quote (or its "
                              "opportunity) an account first");
    }

    /* the contract */
    data = json_pack("{sssssssssssisoso}", "name",
                     json_string_value(json_object_get(quote, "name"))
                         ? json_string_value(json_object_get(quote, "name"))
                         : "Contract",
                     "account_id", account, "quote_id", ev->id, "status", "active", "currency",
                     json_string_value(json_object_get(quote, "currency"))
                         ? json_string_value(json_object_get(quote, "currency"))
                         : "cny",
                     "term_months", CONTRACT_MONTHS, "start_date", date_json(ev->arena, today),
                     "end_date", date_json(ev->arena, term_end(today, CONTRACT_MONTHS)));
    json_object_set_new(data, "signed_at", datetime_json(ev->arena, ev->now));
    if (opp)
        json_object_set_new(data, "opportunity_id", json_string(opp));
    if (json_is_string(json_object_get(quote, "contact_id")))
        json_object_set(data, "customer_signer_id", json_object_get(quote, "contact_id"));
    if (json_object_get(quote, "total") && !json_is_null(json_object_get(quote, "total")))
        json_object_set(data, "value", json_object_get(quote, "total"));
    rc = write_one(&x, "contract", RP_WRITE_CREATE, NULL, data, contract);
    json_decref(data);
    if (rc < 0)
        goto out;

    /* the order and its lines */
    data = json_pack("{sssssssssoss}", "account_id", account, "contract_id", contract, "quote_id",
                     ev->id, "status", "created", "order_date", date_json(ev->arena, today),
                     "currency",
                     json_string_value(json_object_get(quote, "currency"))
                         ? json_string_value(json_object_get(quote, "currency"))
                         : "cny");
    if (opp)
        json_object_set_new(data, "opportunity_id", json_string(opp));
    if (json_object_get(quote, "total") && !json_is_null(json_object_get(quote, "total")))
        json_object_set(data, "total", json_object_get(quote, "total"));
    rc = write_one(&x, "order", RP_WRITE_CREATE, NULL, data, order);
    json_decref(data);
    if (rc < 0)
        goto out;
    rp_sql_init(&q, ev->arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT \"id\" FROM \"quote_line\" WHERE \"deleted_at\" IS NULL AND"
                   " \"quote_id\" = ");
    rp_sql_param(&q, rp_value_cstr(ev->id));
    rp_sql_addf(&q, " ORDER BY \"sort_order\", \"id\" LIMIT %d", MAX_LINES);
    if ((rc = rp_store_query(ev->c, &q, line_row, &lr, err)) < 0)
        goto out;
    lines = json_array();
    json_array_foreach(lr.rows, i, line_ids)
    {
        static const char *const copied[] = {"product_id",      "description", "quantity",
                                             "unit_price",      "line_total",  "sort_order",
                                             "discount_percent"};
        json_t *ql = read_one(&x, "quote_line", json_string_value(line_ids));
        if (!ql)
            continue;
        data = json_pack("{ss}", "order_id", order);
        for (size_t k = 0; k < sizeof(copied) / sizeof(copied[0]); k++) {
            const json_t *v = json_object_get(ql, copied[k]);
            if (v && !json_is_null(v))
                json_object_set(data, copied[k], (json_t *)v);
        }
        json_decref(ql);
        json_array_append(lines, data);
        rc = write_one(&x, "order_line", RP_WRITE_CREATE, NULL, data, NULL);
        json_decref(data);
        if (rc < 0)
            goto out;
    }

    /* the opportunity is won */
    if (opp) {
        json_t *o = read_one(&x, "opportunity", opp);
        const char *stage = json_string_value(json_object_get(o, "stage"));
        if (o && (!stage || strcmp(stage, "closed_won") != 0)) {
            data = json_pack("{ssso}", "stage", "closed_won", "closed_at",
                             datetime_json(ev->arena, ev->now));
            rc = write_one(&x, "opportunity", RP_WRITE_UPDATE, opp, data, NULL);
            json_decref(data);
        }
        json_decref(o);
        if (rc < 0)
            goto out;
    }

    ev_data =
        json_pack("{ssssss}", "contract_id", contract, "quote_id", ev->id, "account_id", account);
    rc = rp_records_event_in(ev->c, ev->now, "contract.signed", contract, ev->principal->user_id,
                             ev_data, ev->arena, err);
    json_decref(ev_data);
    if (rc < 0)
        goto out;
    ev_data =
        json_pack("{sssssssssOsO}", "order_id", order, "contract_id", contract, "quote_id", ev->id,
                  "account_id", account, "total",
                  json_object_get(quote, "total") ? json_object_get(quote, "total") : json_null(),
                  "lines", lines);
    if (json_object_get(quote, "currency"))
        json_object_set(ev_data, "currency", json_object_get(quote, "currency"));
    rc = rp_records_event_in(ev->c, ev->now, "order.created", order, ev->principal->user_id,
                             ev_data, ev->arena, err);
    json_decref(ev_data);
out:
    json_decref(lines);
    json_decref(lr.rows);
    json_decref(quote);
    return rc;
}

/*
 * An order's status moves its dates: shipped sets shipped_at, delivered sets delivered_at and,
 * when the order's contract is signed, raises invoice.requested for the ERP.
 */
static int order_status(void *ctx, const struct rp_write_event *ev, struct rp_error *err)
{
    struct order_ctx x = {.ev = ev, .internal = *ev->principal, .err = err};
    bool shipped = changed_to(ev, "status", "shipped");
    bool delivered = changed_to(ev, "status", "delivered");
    const char *field = shipped ? "shipped_at" : "delivered_at";
    const struct rp_field *f;
    json_t *order, *data;
    int rc = 0;

    (void)ctx;
    x.internal.is_admin = true;
    if (ev->op != RP_WRITE_UPDATE || (!shipped && !delivered))
        return 0;
    f = rp_meta_field(ev->object, field);
    if (!(order = read_one(&x, "order", ev->id)))
        return rp_error_set(err, RP_EINTERNAL, "the order cannot be read");
    if (f && json_is_null(json_object_get(order, field)) && !ev->changed[f->index]) {
        data = json_pack("{so}", field, datetime_json(ev->arena, ev->now));
        rc = write_one(&x, "order", RP_WRITE_UPDATE, ev->id, data, NULL);
        json_decref(data);
    }
    if (rc == 0 && delivered && json_is_string(json_object_get(order, "contract_id"))) {
        json_t *contract =
            read_one(&x, "contract", json_string_value(json_object_get(order, "contract_id")));
        if (contract && json_is_string(json_object_get(contract, "signed_at"))) {
            json_t *ev_data = json_pack(
                "{sssOsOsOsO}", "order_id", ev->id, "contract_id",
                json_object_get(order, "contract_id"), "account_id",
                json_object_get(order, "account_id"), "total",
                json_object_get(order, "total") ? json_object_get(order, "total") : json_null(),
                "currency",
                json_object_get(order, "currency") ? json_object_get(order, "currency")
                                                   : json_null());
            rc = rp_records_event_in(ev->c, ev->now, "invoice.requested", ev->id,
                                     ev->principal->user_id, ev_data, ev->arena, err);
            json_decref(ev_data);
        }
        json_decref(contract);
    }
    json_decref(order);
    return rc;
}

void rp_sales_order_register(struct rp_sales *s)
{
    rp_records_hook_add(s->records, &(struct rp_write_hook){.object = "quote", .fn = quote_signed});
    rp_records_hook_add(s->records, &(struct rp_write_hook){.object = "order", .fn = order_status});
}
