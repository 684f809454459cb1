/* The sales service (sales.h): its handle. */
#include "sales/sales_int.h"

#include "base/arena.h"

#include <stdlib.h>

struct rp_sales *rp_sales_new(const struct rp_sales_config *cfg)
{
    struct rp_sales *s = rp_xcalloc(1, sizeof(*s));

    s->store = cfg->store;
    s->meta = cfg->meta;
    s->records = cfg->records;
    s->clock = cfg->clock;
    return s;
}

void rp_sales_free(struct rp_sales *s)
{
    free(s);
}
