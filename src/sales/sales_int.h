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

#endif
