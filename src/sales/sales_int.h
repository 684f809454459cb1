/* Private to src/sales/. */
#ifndef RP_SALES_SALES_INT_H
#define RP_SALES_SALES_INT_H

#include "sales/sales.h"

struct rp_sales {
    struct rp_store *store;
    struct rp_meta_registry *meta;
    struct rp_records *records;
    const struct rp_clock *clock;
};

/* The kind of named definition (records.h) that holds pipelines. */
#define RP_SALES_PIPELINES "pipelines"

int rp_sales_pipeline_check(void *ctx, const struct rp_meta *m, const json_t *def,
                            struct rp_arena *arena, struct rp_error *err);
/** Registers the pipelines kind and the stage gate hook (rp_sales_new does). */
void rp_sales_pipeline_register(struct rp_sales *s);

/* The kind of named definition that holds duplicate rules. */
#define RP_SALES_DUPLICATE_RULES "duplicate-rules"

/** Registers the duplicate rules kind and the match key hook (rp_sales_new does). */
void rp_sales_dedup_register(struct rp_sales *s);

/** A row callback: the first column's text, malloc'd, into *(char **)ctx (the caller frees). */
int rp_sales_row_text(void *ctx, const struct rp_value *cols, size_t n);

#endif
