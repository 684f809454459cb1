/*
 * Analytics: KPIs computed on demand over the store (docs/kpis.md has every definition).
 *
 * A KPI is an entry in one table (analytics_kpi.c): its name, description, object, date field,
 * default grouping, the fields it reads, and a few small functions that append its conditions
 * and aggregate columns to one SQL statement the engine builds around them:
 *
 *   SELECT <group key>, <period key>, <the KPI's aggregates>
 *   FROM "<object>" AS "t" <the KPI's joins>
 *   WHERE "t"."deleted_at" IS NULL AND <rp_policy_row_sql at read> AND <from/to on the date
 *         field> AND <the KPI's conditions>
 *   GROUP BY 1, 2 ORDER BY 1, 2
 *
 * and a result shape (a ratio, a sum, an average, a median, a funnel) that turns the rows into
 * data points. So every KPI counts only records the caller can read, a new KPI is a table entry
 * and a function or two, and money is summed as integers of 1/10,000 units (exact).
 *
 * Thread-safety: the handle is immutable after rp_analytics_new; calls run on a pooled reader
 * and may run concurrently.
 */
#ifndef RP_ANALYTICS_ANALYTICS_H
#define RP_ANALYTICS_ANALYTICS_H

#include "auth/auth.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "meta/meta.h"
#include "store/store.h"

struct rp_analytics;

struct rp_analytics_config {
    struct rp_store *store;
    struct rp_meta_registry *meta;
    const struct rp_clock *clock;
};

/** Allocates the service; borrows everything in cfg (it must outlive the service). */
struct rp_analytics *rp_analytics_new(const struct rp_analytics_config *cfg);
/** Frees the service; accepts NULL. */
void rp_analytics_free(struct rp_analytics *an);

/** The common parameters of every KPI, as the client gave them (NULL: absent). */
struct rp_kpi_params {
    const char *from;   /* "YYYY-MM-DD": the date field on or after this day (UTC) */
    const char *to;     /* "YYYY-MM-DD": the date field on or before this day (UTC) */
    const char *period; /* "day", "week", "month", "quarter" or "year": one point per period */
    const char *group;  /* a field of the KPI's object (or a KPI-specific key); "none": no
                           grouping even where the KPI has a default */
    const char *object; /* sla_attainment: the object whose clocks count (default "lead") */
    const char *owner;  /* a user id: only records this user owns (objects with owners) */
};

/**
 * Writes {"data":[{"name","description","object","date_field","default_group","unit",
 * "groups"}]}: the KPI catalogue. Never fails.
 */
void rp_analytics_kpi_list(struct rp_analytics *an, struct rp_buf *out);

/**
 * Computes KPI name for p and writes {"kpi","from","to","period","group","unit","data":[...]}
 * (docs/kpis.md). Each data point has "value" and, as the KPI defines them, "numerator",
 * "denominator", "count", "step"; "group" when grouped, "period" when a period is given.
 * Errors: RP_ENOTFOUND (no such KPI), RP_EINVAL (a bad parameter, named in err->field),
 * RP_EFORBIDDEN (p may not read the object or a field the KPI reads), store errors.
 * Memory comes from arena.
 */
int rp_analytics_kpi(struct rp_analytics *an, const struct rp_principal *p, const char *name,
                     const struct rp_kpi_params *kp, struct rp_arena *arena, struct rp_buf *out,
                     struct rp_error *err);

#endif
