/* Private to src/sales/. */
#ifndef RP_SALES_SALES_INT_H
#define RP_SALES_SALES_INT_H

#include "sales/sales.h"

#include <stdint.h>

struct rp_sales {
    struct rp_automation *automation; /* e-mail for double opt-in; may be NULL */
    struct rp_store *store;
    struct rp_meta_registry *meta;
    struct rp_records *records;
    struct rp_jobs *jobs; /* may be NULL: no expiry job kind */
    const struct rp_clock *clock;
    struct rp_principal internal; /* what pricing and expiry write as when nobody asked */
};

/* The totals of a quote, in money units (1/RP_MONEY_SCALE). */
struct rp_sales_totals {
    int64_t subtotal;        /* sum of the live lines' line_total */
    int64_t list_total;      /* sum of quantity × list_price, rounded like line totals */
    int64_t discount_amount; /* subtotal × the quote's discount_percent */
    int64_t tax_amount;      /* (subtotal − discount_amount) × tax_percent */
    int64_t total;           /* subtotal − discount_amount + tax_amount */
    int64_t effective_pct;   /* 1 − net / list_total, in 1/10,000 of a percent, rounded up */
};

/** The smallest amount of currency in money units (a cent; a yen for "jpy"). */
int64_t rp_sales_money_step(const char *currency);
/** Fills the totals from t->subtotal and t->list_total; percentages in 1/10,000 of a percent,
 *  each amount rounded half up to step. */
void rp_sales_quote_totals_compute(struct rp_sales_totals *t, int64_t discount_pct, int64_t tax_pct,
                                   int64_t step);
/** Registers the pricing hooks and the expiry job kind (rp_sales_new does). */
void rp_sales_quote_register(struct rp_sales *s);

/* The kinds of named definition (records.h) that hold pipelines and capture forms. */
#define RP_SALES_PIPELINES "pipelines"
#define RP_SALES_FORMS     "capture-forms"
#define RP_SALES_SCORING   "scoring-models"

int rp_sales_form_check(void *ctx, const struct rp_meta *m, const json_t *def,
                        struct rp_arena *arena, struct rp_error *err);
void rp_sales_form_register(struct rp_sales *s);
/** Registers the hooks from a signed quote to contract and order, and of an order's status. */
void rp_sales_order_register(struct rp_sales *s);
/** Registers the hook that counts e-mail touchpoints on leads and contacts. */
void rp_sales_engagement_register(struct rp_sales *s);

int rp_sales_pipeline_check(void *ctx, const struct rp_meta *m, const json_t *def,
                            struct rp_arena *arena, struct rp_error *err);
/** Registers the pipelines kind and the stage gate hook (rp_sales_new does). */
void rp_sales_pipeline_register(struct rp_sales *s);

/* The kind of named definition that holds duplicate rules. */
#define RP_SALES_DUPLICATE_RULES "duplicate-rules"

/** Registers the duplicate rules kind and the match key hook (rp_sales_new does). */
void rp_sales_dedup_register(struct rp_sales *s);
int rp_sales_score_check(void *ctx, const struct rp_meta *m, const json_t *def,
                         struct rp_arena *arena, struct rp_error *err);
/** Registers the scoring-models kind and the scoring write hook (rp_sales_new does). */
void rp_sales_score_register(struct rp_sales *s);

/** A row callback: the first column's text, malloc'd, into *(char **)ctx (the caller frees). */
int rp_sales_row_text(void *ctx, const struct rp_value *cols, size_t n);

#endif
