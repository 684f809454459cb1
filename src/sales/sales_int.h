/* Private to src/sales/. */
#ifndef RP_SALES_SALES_INT_H
#define RP_SALES_SALES_INT_H

#include "sales/sales.h"

struct rp_sales {
    struct rp_automation *automation; /* e-mail for double opt-in; may be NULL */
    struct rp_store *store;
    struct rp_meta_registry *meta;
    struct rp_records *records;
    const struct rp_clock *clock;
};

/* The kinds of named definition (records.h) that hold pipelines and capture forms. */
#define RP_SALES_PIPELINES "pipelines"
#define RP_SALES_FORMS     "capture-forms"
#define RP_SALES_SCORING   "scoring-models"

int rp_sales_form_check(void *ctx, const struct rp_meta *m, const json_t *def,
                        struct rp_arena *arena, struct rp_error *err);
void rp_sales_form_register(struct rp_sales *s);

int rp_sales_pipeline_check(void *ctx, const struct rp_meta *m, const json_t *def,
                            struct rp_arena *arena, struct rp_error *err);
/** Registers the pipelines kind and the stage gate hook (rp_sales_new does). */
void rp_sales_pipeline_register(struct rp_sales *s);

int rp_sales_score_check(void *ctx, const struct rp_meta *m, const json_t *def,
                         struct rp_arena *arena, struct rp_error *err);
/** Registers the scoring-models kind and the scoring write hook (rp_sales_new does). */
void rp_sales_score_register(struct rp_sales *s);

/** A row callback: the first column's text, malloc'd, into *(char **)ctx (the caller frees). */
int rp_sales_row_text(void *ctx, const struct rp_value *cols, size_t n);

#endif
