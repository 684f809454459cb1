/* The sales service (sales.h): its handle. */
#include "sales/sales_int.h"

#include "base/arena.h"

#include <stdlib.h>
#include <string.h>

struct rp_sales *rp_sales_new(const struct rp_sales_config *cfg)
{
    struct rp_sales *s = rp_xcalloc(1, sizeof(*s));

    s->store = cfg->store;
    s->meta = cfg->meta;
    s->records = cfg->records;
    s->jobs = cfg->jobs;
    s->clock = cfg->clock;
    s->automation = cfg->automation;
    s->internal.user_id = "system";
    s->internal.username = "system";
    s->internal.display_name = "Rapport";
    s->internal.is_admin = true;
    rp_sales_pipeline_register(s);
    rp_sales_quote_register(s);
    rp_sales_form_register(s);
    rp_sales_engagement_register(s);
    rp_sales_order_register(s);
    rp_sales_dedup_register(s);
    rp_sales_score_register(s);
    return s;
}

int rp_sales_row_text(void *ctx, const struct rp_value *cols, size_t n)
{
    char **out = ctx;

    if (n > 0 && cols[0].type == RP_V_TEXT && !*out)
        *out = rp_xstrndup(cols[0].u.s.p, cols[0].u.s.len);
    return 1;
}

void rp_sales_free(struct rp_sales *s)
{
    free(s);
}
