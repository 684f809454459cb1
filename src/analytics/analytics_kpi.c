/*
 * The KPI table (analytics_int.h): each KPI is data (object, date field, grouping, the fields it
 * reads, its result shape) and the few SQL pieces that differ from the others. docs/kpis.md
 * defines every one of them in words; keep the two in step.
 */
#include "analytics/analytics_int.h"

/* ---- opportunities ---- */

static void where_closed(struct kpi_ctx *k, struct rp_sql *q)
{
    rp_sql_add(q, " AND ");
    rp_analytics_stage_in(&k->opp, "t", q, true, true);
}

static void where_won(struct kpi_ctx *k, struct rp_sql *q)
{
    rp_sql_add(q, " AND ");
    rp_analytics_stage_in(&k->opp, "t", q, true, false);
}

static void where_open(struct kpi_ctx *k, struct rp_sql *q)
{
    rp_sql_add(q, " AND \"t\".");
    rp_sql_ident(q, k->opp.field);
    rp_sql_add(q, " IS NOT NULL AND NOT ");
    rp_analytics_stage_in(&k->opp, "t", q, true, true);
}

static void where_won_cycle(struct kpi_ctx *k, struct rp_sql *q)
{
    where_won(k, q);
    rp_sql_add(q, " AND \"t\".\"closed_at\" IS NOT NULL");
}

static void m_win_count(struct kpi_ctx *k, struct rp_sql *q)
{
    rp_sql_add(q, ", SUM(CASE WHEN ");
    rp_analytics_stage_in(&k->opp, "t", q, true, false);
    rp_sql_add(q, " THEN 1 ELSE 0 END), COUNT(*)");
}

static void m_win_amount(struct kpi_ctx *k, struct rp_sql *q)
{
    rp_sql_add(q, ", SUM(CASE WHEN ");
    rp_analytics_stage_in(&k->opp, "t", q, true, false);
    rp_sql_add(q, " THEN COALESCE(\"t\".\"amount\", 0) ELSE 0 END),"
                  " SUM(COALESCE(\"t\".\"amount\", 0)), COUNT(*)");
}

static void m_amount(struct kpi_ctx *k, struct rp_sql *q)
{
    (void)k;
    rp_sql_add(q, ", SUM(COALESCE(\"t\".\"amount\", 0)), COUNT(*)");
}

static void m_cycle_days(struct kpi_ctx *k, struct rp_sql *q)
{
    (void)k;
    rp_sql_add(q, ", (\"t\".\"closed_at\" - \"t\".\"created_at\") / 86400000.0");
}

/*
 * Amount × probability, rounded to the money unit per opportunity so the sum stays an exact
 * integer: the opportunity's own probability, else its stage's in the pipeline. With won_full,
 * won stages count whole and lost ones not at all (the forecast).
 */
static void weighted(struct kpi_ctx *k, struct rp_sql *q, bool won_full)
{
    rp_sql_add(q, ", SUM(CAST(ROUND(COALESCE(\"t\".\"amount\", 0) * ");
    if (won_full) {
        rp_sql_add(q, "(CASE WHEN ");
        rp_analytics_stage_in(&k->opp, "t", q, true, false);
        rp_sql_add(q, " THEN 100 WHEN ");
        rp_analytics_stage_in(&k->opp, "t", q, false, true);
        rp_sql_add(q, " THEN 0 ELSE ");
    }
    rp_sql_add(q, "COALESCE(\"t\".\"probability\", ");
    rp_analytics_stage_probability(&k->opp, "t", q);
    rp_sql_add(q, won_full ? ") END)" : ")");
    rp_sql_add(q, " / 100.0) AS BIGINT)), COUNT(*)");
}

static void m_weighted(struct kpi_ctx *k, struct rp_sql *q)
{
    weighted(k, q, false);
}

static void m_forecast(struct kpi_ctx *k, struct rp_sql *q)
{
    weighted(k, q, true);
}

/* ---- leads ---- */

/*
 * How far each lead got: 0 none, 1 mql, 2 sql, 3 converted; the furthest of its status now, any
 * status the change log shows it had, and converted_at. The change log is read in one pass
 * (grouped by record) rather than once per lead.
 */
#define LEAD_RANK_WHEN " WHEN 'mql' THEN 1 WHEN 'sql' THEN 2 WHEN 'converted' THEN 3 ELSE 0 END)"
#define LEAD_REACHED_ARGS                                                \
    "COALESCE(\"h\".\"rank\", 0), (CASE \"t\".\"status\"" LEAD_RANK_WHEN \
    ", CASE WHEN \"t\".\"converted_at\" IS NOT NULL THEN 3 ELSE 0 END)"

/* ", SUM(...)": how many leads reached at least rank n. */
static void add_reached_at_least(struct rp_sql *q, int n)
{
    rp_sql_addf(q, ", SUM(CASE WHEN %s(" LEAD_REACHED_ARGS " >= %d THEN 1 ELSE 0 END)",
                rp_sql_idiom(q->target, RP_SQL_GREATEST), n);
}

static void j_lead_history(struct kpi_ctx *k, struct rp_sql *q)
{
    (void)k;
    rp_sql_add(q, " LEFT JOIN (SELECT record_id, MAX((CASE ");
    rp_sql_json_begin(q);
    rp_sql_add(q, "changes");
    rp_sql_json_end_item(q, "status", 1);
    rp_sql_add(q, LEAD_RANK_WHEN ") AS \"rank\" FROM rp_change"
                                 " WHERE object = 'lead' AND op IN ('create', 'update')"
                                 " AND changes LIKE '%\"status\"%' GROUP BY record_id) AS \"h\""
                                 " ON \"h\".\"record_id\" = \"t\".\"id\"");
}

static void m_mql_to_sql(struct kpi_ctx *k, struct rp_sql *q)
{
    (void)k;
    add_reached_at_least(q, 2);
    add_reached_at_least(q, 1);
}

/* A converted lead's opportunity counts as won only if the caller can read it. */
static void m_funnel(struct kpi_ctx *k, struct rp_sql *q)
{
    const struct rp_object *opp = rp_meta_object(k->m, "opportunity");

    rp_sql_add(q, ", COUNT(*)");
    for (int i = 1; i <= 3; i++)
        add_reached_at_least(q, i);
    if (!opp || !rp_policy_allows(k->p, opp->name, RP_ACT_READ)) {
        rp_sql_add(q, ", 0");
        return;
    }
    rp_sql_add(q, ", SUM(CASE WHEN EXISTS (SELECT 1 FROM \"opportunity\" AS \"o\""
                  " WHERE \"o\".\"id\" = \"t\".\"converted_opportunity_id\""
                  " AND \"o\".\"deleted_at\" IS NULL AND ");
    rp_analytics_stage_in(&k->opp, "o", q, true, false);
    rp_sql_add(q, " AND ");
    rp_policy_row_sql(k->p, k->m, opp, "o", RP_ACCESS_READ, q);
    rp_sql_add(q, ") THEN 1 ELSE 0 END)");
}

static void where_touched(struct kpi_ctx *k, struct rp_sql *q)
{
    (void)k;
    rp_sql_add(q, " AND \"t\".\"first_touched_at\" IS NOT NULL");
}

static void m_first_touch_hours(struct kpi_ctx *k, struct rp_sql *q)
{
    (void)k;
    rp_sql_add(
        q, ", COALESCE(SUM((\"t\".\"first_touched_at\" - \"t\".\"created_at\") / 3600000.0), 0.0),"
           " COUNT(*)");
}

/* ---- SLA clocks ---- */

static void j_sla(struct kpi_ctx *k, struct rp_sql *q)
{
    rp_sql_add(q, " JOIN rp_sla_clock AS \"k\" ON \"k\".\"record_id\" = \"t\".\"id\""
                  " AND \"k\".\"object\" = ");
    rp_sql_param(q, rp_value_cstr(k->o->name));
}

/* Decided clocks only: met in time, or breached (met late or not at all). */
static void where_sla_decided(struct kpi_ctx *k, struct rp_sql *q)
{
    (void)k;
    rp_sql_add(q, " AND \"k\".\"state\" IN ('met', 'breached')");
}

static void m_sla(struct kpi_ctx *k, struct rp_sql *q)
{
    (void)k;
    rp_sql_add(q, ", SUM(CASE WHEN \"k\".\"state\" = 'met' THEN 1 ELSE 0 END), COUNT(*)");
}

static const char *const SLA_KEYS[] = {"target", "\"k\".\"target\"", "policy", "\"k\".\"policy\"",
                                       NULL};

const struct rp_kpi rp_analytics_kpis[] = {
    {.name = "lead_funnel",
     .description =
         "Leads created in the range and how many reached MQL, SQL, an opportunity (converted) and a won opportunity, with each step's rate",
     .object = "lead",
     .date_field = "created_at",
     .uses = "status,converted_at,converted_opportunity_id",
     .shape = KPI_FUNNEL,
     .unit = KPI_UNIT_RATIO,
     .joins = j_lead_history,
     .measures = m_funnel},
    {.name = "mql_to_sql_rate",
     .description =
         "Of the leads created in the range that reached MQL, the share that reached SQL",
     .object = "lead",
     .date_field = "created_at",
     .uses = "status,converted_at",
     .shape = KPI_RATIO,
     .unit = KPI_UNIT_RATIO,
     .joins = j_lead_history,
     .measures = m_mql_to_sql},
    {.name = "win_rate",
     .description =
         "Won opportunities over closed (won or lost) ones, by count, closed in the range",
     .object = "opportunity",
     .date_field = "closed_at",
     .uses = "stage,closed_at",
     .shape = KPI_RATIO,
     .unit = KPI_UNIT_RATIO,
     .where = where_closed,
     .measures = m_win_count},
    {.name = "win_rate_amount",
     .description = "Won amount over closed (won or lost) amount, closed in the range",
     .object = "opportunity",
     .date_field = "closed_at",
     .uses = "stage,closed_at,amount",
     .shape = KPI_RATIO,
     .unit = KPI_UNIT_RATIO,
     .money = true,
     .where = where_closed,
     .measures = m_win_amount},
    {.name = "won_revenue",
     .description = "Sum of the amounts of won opportunities closed in the range",
     .object = "opportunity",
     .date_field = "closed_at",
     .uses = "stage,closed_at,amount",
     .shape = KPI_SUM,
     .unit = KPI_UNIT_MONEY,
     .money = true,
     .where = where_won,
     .measures = m_amount},
    {.name = "median_sales_cycle_days",
     .description = "Median days from creation to close of won opportunities closed in the range",
     .object = "opportunity",
     .date_field = "closed_at",
     .uses = "stage,closed_at",
     .shape = KPI_MEDIAN,
     .unit = KPI_UNIT_DAYS,
     .where = where_won_cycle,
     .measures = m_cycle_days},
    {.name = "pipeline_by_stage",
     .description = "Open opportunities per stage: their amount and count, by expected close date",
     .object = "opportunity",
     .date_field = "expected_close_date",
     .default_group = "stage",
     .uses = "stage,amount,expected_close_date",
     .shape = KPI_SUM,
     .unit = KPI_UNIT_MONEY,
     .money = true,
     .where = where_open,
     .measures = m_amount},
    {.name = "weighted_pipeline",
     .description =
         "Open opportunities' amount times probability (the opportunity's, else its stage's), by owner and expected close date",
     .object = "opportunity",
     .date_field = "expected_close_date",
     .default_group = "owner_id",
     .uses = "stage,amount,probability,expected_close_date",
     .shape = KPI_SUM,
     .unit = KPI_UNIT_MONEY,
     .money = true,
     .where = where_open,
     .measures = m_weighted},
    {.name = "forecast",
     .description =
         "Expected revenue by expected close date: won amounts whole plus open amounts times probability, by owner",
     .object = "opportunity",
     .date_field = "expected_close_date",
     .default_group = "owner_id",
     .uses = "stage,amount,probability,expected_close_date",
     .shape = KPI_SUM,
     .unit = KPI_UNIT_MONEY,
     .money = true,
     .measures = m_forecast},
    {.name = "first_touch_time",
     .description =
         "Average hours from a lead's creation to its first touch, over touched leads created in the range",
     .object = "lead",
     .date_field = "created_at",
     .uses = "first_touched_at",
     .shape = KPI_AVG,
     .unit = KPI_UNIT_HOURS,
     .where = where_touched,
     .measures = m_first_touch_hours},
    {.name = "sla_attainment",
     .description =
         "Share of decided SLA clocks (met or breached) that were met, per target, for clocks started in the range",
     .date_field = "started_at", /* of the clock, not of the record */
     .date_sql = "\"k\".\"started_at\"",
     .default_group = "target",
     .keys = SLA_KEYS,
     .shape = KPI_RATIO,
     .unit = KPI_UNIT_RATIO,
     .joins = j_sla,
     .where = where_sla_decided,
     .measures = m_sla},
    {.name = NULL},
};
