/* Private to src/analytics/: the KPI table and what its functions see. */
#ifndef RP_ANALYTICS_ANALYTICS_INT_H
#define RP_ANALYTICS_ANALYTICS_INT_H

#include "analytics/analytics.h"
#include "base/sql.h"

#include <jansson.h>

struct rp_analytics {
    struct rp_store *store;
    struct rp_meta_registry *meta;
    const struct rp_clock *clock;
};

/* How the aggregate columns of a KPI's rows become data points (analytics.c). */
enum kpi_shape {
    KPI_RATIO,  /* numerator, denominator[, count]: value = numerator / denominator */
    KPI_SUM,    /* value, count */
    KPI_AVG,    /* sum, count: value = sum / count */
    KPI_MEDIAN, /* the measure of each record: value = its median per point (in SQL), count */
    KPI_FUNNEL, /* leads, mql, sql, converted, won: one point per step */
};

enum kpi_unit { KPI_UNIT_RATIO, KPI_UNIT_MONEY, KPI_UNIT_COUNT, KPI_UNIT_DAYS, KPI_UNIT_HOURS };

/* The stages of a pipeline: which values are won and lost, and each one's probability. */
struct kpi_stages {
    const char *field;        /* the stage field ("stage") */
    const char **won, **lost; /* stage values */
    size_t nwon, nlost;
    const char **values; /* every stage with a probability */
    double *probability; /* percent, by values[] */
    size_t nvalues;
};

/* One computation: the checked parameters and what the KPI's functions need. */
struct kpi_ctx {
    const struct rp_principal *p;
    const struct rp_meta *m;
    const struct rp_object *o; /* the KPI's object, as alias "t" */
    const char *object_param;  /* sla_attainment: the object of the clocks */
    struct rp_store_conn *c;
    struct rp_arena *arena;
    struct kpi_stages opp; /* the opportunity pipeline's stages (else closed_won/closed_lost) */
};

struct rp_kpi {
    const char *name;
    const char *description;
    const char *object;        /* NULL: the "object" parameter */
    const char *date_field;    /* field of "t" that from/to and period apply to */
    const char *date_sql;      /* if set, the date's SQL instead (a datetime in ms), for a date
                                  that is not a field of "t"; date_field then only names it */
    const char *default_group; /* NULL: ungrouped unless group= is given */
    const char *uses;          /* comma-separated fields the KPI reads (field-level security) */
    const char *const *keys;   /* extra group keys: name, SQL, ..., NULL */
    enum kpi_shape shape;
    enum kpi_unit unit;
    bool money; /* numerator/denominator (ratio) or value (sum) are money units */
    /* Appends joins after FROM "<object>" AS "t" (may be NULL). */
    void (*joins)(struct kpi_ctx *k, struct rp_sql *q);
    /* Appends " AND ..." conditions (may be NULL). */
    void (*where)(struct kpi_ctx *k, struct rp_sql *q);
    /* Appends ", <aggregate>, ..." in the order the shape reads them. */
    void (*measures)(struct kpi_ctx *k, struct rp_sql *q);
};

/** The KPI table (analytics_kpi.c), ended by an entry with a NULL name. */
extern const struct rp_kpi rp_analytics_kpis[];

/** Appends "<alias>"."<stage field>" IN (...) of the won, lost or both (closed) stages. */
void rp_analytics_stage_in(const struct kpi_stages *st, const char *alias, struct rp_sql *q,
                           bool won, bool lost);
/** Appends the probability (percent) of "<alias>"'s stage from the pipeline (else 0). */
void rp_analytics_stage_probability(const struct kpi_stages *st, const char *alias,
                                    struct rp_sql *q);

#endif
