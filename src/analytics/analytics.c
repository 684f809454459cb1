/*
 * The KPI engine (analytics.h): checks the common parameters, builds the one statement around a
 * KPI's joins, conditions and aggregates, and turns its rows into data points by the KPI's
 * shape. Nothing here knows a particular KPI; those are entries of analytics_kpi.c.
 */
#include "analytics/analytics_int.h"

#include "base/json.h"
#include "base/time.h"
#include "base/uuid.h"
#include "base/value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS   (INT64_C(86400) * 1000)
#define MAX_COLS 5 /* aggregate columns of a row (the funnel's five steps) */
/* Data points one answer may hold (groups times periods). */
#define MAX_ROWS 100000

static const char *const PERIODS[] = {"day", "week", "month", "quarter", "year", NULL};

struct rp_analytics *rp_analytics_new(const struct rp_analytics_config *cfg)
{
    struct rp_analytics *an = rp_xcalloc(1, sizeof(*an));

    an->store = cfg->store;
    an->meta = cfg->meta;
    an->clock = cfg->clock;
    return an;
}

void rp_analytics_free(struct rp_analytics *an)
{
    free(an);
}

static const char *unit_name(enum kpi_unit u)
{
    switch (u) {
    case KPI_UNIT_RATIO:
        return "ratio";
    case KPI_UNIT_MONEY:
        return "money";
    case KPI_UNIT_COUNT:
        return "count";
    case KPI_UNIT_DAYS:
        return "days";
    case KPI_UNIT_HOURS:
        return "hours";
    }
    return "number";
}

static const struct rp_kpi *kpi_find(const char *name)
{
    for (const struct rp_kpi *d = rp_analytics_kpis; name && d->name; d++)
        if (strcmp(d->name, name) == 0)
            return d;
    return NULL;
}

static void add_str_or_null(struct rp_buf *out, const char *s)
{
    if (s)
        rp_buf_add_json_str(out, s, strlen(s));
    else
        rp_buf_adds(out, "null");
}

void rp_analytics_kpi_list(struct rp_analytics *an, struct rp_buf *out)
{
    (void)an;
    rp_buf_adds(out, "{\"data\":[");
    for (const struct rp_kpi *d = rp_analytics_kpis; d->name; d++) {
        if (d != rp_analytics_kpis)
            rp_buf_addc(out, ',');
        rp_buf_adds(out, "{\"name\":");
        add_str_or_null(out, d->name);
        rp_buf_adds(out, ",\"description\":");
        add_str_or_null(out, d->description);
        rp_buf_adds(out, ",\"object\":");
        add_str_or_null(out, d->object);
        rp_buf_adds(out, ",\"date_field\":");
        add_str_or_null(out, d->date_field);
        rp_buf_adds(out, ",\"default_group\":");
        add_str_or_null(out, d->default_group);
        rp_buf_adds(out, ",\"unit\":");
        add_str_or_null(out, unit_name(d->unit));
        rp_buf_adds(out, ",\"keys\":[");
        for (size_t i = 0; d->keys && d->keys[i]; i += 2) {
            if (i)
                rp_buf_addc(out, ',');
            add_str_or_null(out, d->keys[i]);
        }
        rp_buf_adds(out, "]}");
    }
    rp_buf_adds(out, "]}");
}

/* ---- pipelines ---- */

static int text_row(void *ctx, const struct rp_value *cols, size_t n)
{
    char **out = ctx;

    if (n > 0 && cols[0].type == RP_V_TEXT && !*out)
        *out = rp_xstrndup(cols[0].u.s.p, cols[0].u.s.len);
    return 1;
}

static void stages_default(struct kpi_stages *st, struct rp_arena *arena)
{
    if (!st->field)
        st->field = "stage";
    if (st->nwon == 0) {
        st->won = rp_arena_alloc(arena, sizeof(*st->won));
        st->won[0] = "closed_won";
        st->nwon = 1;
    }
    if (st->nlost == 0) {
        st->lost = rp_arena_alloc(arena, sizeof(*st->lost));
        st->lost[0] = "closed_lost";
        st->nlost = 1;
    }
}

/* Loads the stages of object's pipeline (the first by name, as the stage gate reads it). */
static int stages_load(struct kpi_ctx *k, const char *object, struct kpi_stages *st,
                       struct rp_error *err)
{
    struct rp_sql q;
    char *text = NULL;
    json_t *def = NULL, *stages, *s;
    size_t i, n;
    int rc;

    memset(st, 0, sizeof(*st));
    rp_sql_init(&q, k->arena, rp_store_conn_dialect(k->c));
    rp_sql_add(&q, "SELECT definition FROM rp_definition WHERE kind = 'pipelines' AND object = ");
    rp_sql_param(&q, rp_value_cstr(object));
    rp_sql_add(&q, " ORDER BY name LIMIT 1");
    if ((rc = rp_store_query(k->c, &q, text_row, &text, err)) < 0)
        return rc;
    if (text)
        def = rp_json_loads(text, 0, NULL);
    free(text);
    stages = json_object_get(def, "stages");
    n = json_array_size(stages);
    if (def) {
        st->field = rp_arena_strdup(k->arena, json_string_value(json_object_get(def, "field")));
        st->won = rp_arena_calloc(k->arena, n + 1, sizeof(*st->won));
        st->lost = rp_arena_calloc(k->arena, n + 1, sizeof(*st->lost));
        st->values = rp_arena_calloc(k->arena, n + 1, sizeof(*st->values));
        st->probability = rp_arena_calloc(k->arena, n + 1, sizeof(*st->probability));
    }
    json_array_foreach(stages, i, s)
    {
        const char *v = rp_arena_strdup(k->arena, json_string_value(json_object_get(s, "value")));
        const json_t *pr = json_object_get(s, "probability");
        if (!v)
            continue;
        if (json_is_true(json_object_get(s, "won")))
            st->won[st->nwon++] = v;
        if (json_is_true(json_object_get(s, "lost")))
            st->lost[st->nlost++] = v;
        if (json_is_number(pr)) {
            st->values[st->nvalues] = v;
            st->probability[st->nvalues++] = json_number_value(pr);
        }
    }
    json_decref(def);
    stages_default(st, k->arena);
    return 0;
}

void rp_analytics_stage_in(const struct kpi_stages *st, const char *alias, struct rp_sql *q,
                           bool won, bool lost)
{
    bool first = true;

    rp_sql_ident(q, alias);
    rp_sql_add(q, ".");
    rp_sql_ident(q, st->field);
    rp_sql_add(q, " IN (");
    for (size_t i = 0; won && i < st->nwon; i++, first = false) {
        rp_sql_add(q, first ? "" : ", ");
        rp_sql_param(q, rp_value_cstr(st->won[i]));
    }
    for (size_t i = 0; lost && i < st->nlost; i++, first = false) {
        rp_sql_add(q, first ? "" : ", ");
        rp_sql_param(q, rp_value_cstr(st->lost[i]));
    }
    rp_sql_add(q, ")");
}

void rp_analytics_stage_probability(const struct kpi_stages *st, const char *alias,
                                    struct rp_sql *q)
{
    if (st->nvalues == 0) {
        rp_sql_add(q, "0");
        return;
    }
    rp_sql_add(q, "(CASE ");
    rp_sql_ident(q, alias);
    rp_sql_add(q, ".");
    rp_sql_ident(q, st->field);
    for (size_t i = 0; i < st->nvalues; i++) {
        rp_sql_add(q, " WHEN ");
        rp_sql_param(q, rp_value_cstr(st->values[i]));
        rp_sql_add(q, " THEN ");
        rp_sql_param(q, rp_value_num(st->probability[i]));
    }
    rp_sql_add(q, " ELSE 0 END)");
}

/* ---- parameters ---- */

struct plan {
    const struct rp_kpi *def;
    bool has_from, has_to;
    int64_t from_day, to_day;
    const char *period;    /* a PERIODS entry or NULL */
    const char *group;     /* the grouping's name or NULL */
    const char *group_sql; /* its SQL */
    const char *date_sql;  /* the date the range and periods apply to */
    bool date_is_day;      /* a date field (day numbers), else epoch milliseconds */
    const char *owner;     /* only records this user owns, or NULL */
};

static int parse_day(const char *name, const char *s, int64_t *day, struct rp_error *err)
{
    if (rp_time_parse_date(s, strlen(s), day) < 0)
        return rp_error_field(err, RP_EINVAL, name, "invalid_date",
                              "parameter \"%s\" must be a date YYYY-MM-DD, not \"%s\"", name, s);
    return 0;
}

static bool groupable(const struct rp_field *f)
{
    switch (f->type) {
    case RP_F_FORMULA:
    case RP_F_MONEY:
    case RP_F_DATE:
    case RP_F_DATETIME:
    case RP_F_MULTI_PICKLIST:
    case RP_F_NUMBER:
    case RP_F_PERCENT:
        return false;
    default:
        return strcmp(f->name, "id") != 0;
    }
}

static int plan_group(struct kpi_ctx *k, struct plan *pl, const char *group, struct rp_error *err)
{
    const struct rp_field *f;

    if (!group || strcmp(group, "none") == 0)
        return 0;
    for (size_t i = 0; pl->def->keys && pl->def->keys[i]; i += 2)
        if (strcmp(pl->def->keys[i], group) == 0) {
            pl->group = pl->def->keys[i];
            pl->group_sql = pl->def->keys[i + 1];
            return 0;
        }
    f = rp_meta_field(k->o, group);
    if (!f || rp_policy_field(k->p, k->o, f) == RP_FIELD_HIDDEN)
        return rp_error_field(err, RP_EINVAL, "group", "unknown_field",
                              "cannot group by \"%s\": %s has no such field", group, k->o->name);
    if (!groupable(f))
        return rp_error_field(err, RP_EINVAL, "group", "not_groupable",
                              "cannot group by \"%s\": a %s field is not a category", group,
                              rp_ftype_name(f->type));
    pl->group = f->name;
    pl->group_sql = rp_arena_sprintf(k->arena, "\"t\".\"%s\"", f->name);
    return 0;
}

static int plan_make(struct kpi_ctx *k, struct plan *pl, const struct rp_kpi_params *kp,
                     struct rp_error *err)
{
    const struct rp_kpi *d = pl->def;
    int rc;

    if (kp->from && (rc = parse_day("from", kp->from, &pl->from_day, err)) < 0)
        return rc;
    if (kp->to && (rc = parse_day("to", kp->to, &pl->to_day, err)) < 0)
        return rc;
    pl->has_from = kp->from != NULL;
    pl->has_to = kp->to != NULL;
    if (kp->owner) {
        if (!k->o->owned)
            return rp_error_field(err, RP_EINVAL, "owner", "not_owned",
                                  "%s records have no owner to filter by", k->o->name);
        if (!rp_uuid_is_valid(kp->owner, strlen(kp->owner)))
            return rp_error_field(err, RP_EINVAL, "owner", "invalid",
                                  "parameter \"owner\" must be a user id");
        pl->owner = kp->owner;
    }
    if (pl->has_from && pl->has_to && pl->to_day < pl->from_day)
        return rp_error_field(err, RP_EINVAL, "to", "invalid_range",
                              "parameter \"to\" (%s) is before \"from\" (%s)", kp->to, kp->from);
    if (kp->period) {
        for (size_t i = 0; PERIODS[i]; i++)
            if (strcmp(PERIODS[i], kp->period) == 0)
                pl->period = PERIODS[i];
        if (!pl->period)
            return rp_error_field(
                err, RP_EINVAL, "period", "invalid_period",
                "parameter \"period\" must be day, week, month, quarter or year, not \"%s\"",
                kp->period);
    }
    if ((rc = plan_group(k, pl, kp->group ? kp->group : d->default_group, err)) < 0)
        return rc;
    if (d->date_sql) {
        pl->date_sql = d->date_sql;
        pl->date_is_day = false;
    } else {
        const struct rp_field *f = rp_meta_field(k->o, d->date_field);
        if (!f)
            return rp_error_set(err, RP_EINTERNAL, "KPI %s: no date field %s", d->name,
                                d->date_field);
        pl->date_sql = rp_arena_sprintf(k->arena, "\"t\".\"%s\"", f->name);
        pl->date_is_day = f->type == RP_F_DATE;
    }
    return 0;
}

/* Every field the KPI reads must be visible to the caller, or its value would leak. */
static int check_uses(struct kpi_ctx *k, const struct rp_kpi *d, struct rp_error *err)
{
    const char *s = d->uses;

    while (s && *s) {
        size_t n = strcspn(s, ",");
        const char *name = rp_arena_strndup(k->arena, s, n);
        const struct rp_field *f = rp_meta_field(k->o, name);
        if (f && rp_policy_field(k->p, k->o, f) == RP_FIELD_HIDDEN)
            return rp_error_set(err, RP_EFORBIDDEN,
                                "KPI \"%s\" reads the field \"%s\", which is hidden from you",
                                d->name, name);
        s += n + (s[n] == ',');
    }
    return 0;
}

/* ---- the statement ---- */

/* The same labels on PostgreSQL (sessions run in UTC; date_trunc's weeks start on Monday). */
static void add_period_pg(struct rp_sql *q, const char *period, const char *s)
{
    const char *fmt = strcmp(period, "day") == 0 || strcmp(period, "week") == 0 ? "YYYY-MM-DD"
                      : strcmp(period, "month") == 0                            ? "YYYY-MM"
                      : strcmp(period, "quarter") == 0                          ? "YYYY-\"Q\"Q"
                                                                                : "YYYY";
    if (strcmp(period, "week") == 0)
        rp_sql_addf(q, "to_char(date_trunc('week', to_timestamp(%s)), '%s')", s, fmt);
    else
        rp_sql_addf(q, "to_char(to_timestamp(%s), '%s')", s, fmt);
}

static void add_period(struct rp_sql *q, const struct plan *pl)
{
    const char *s = rp_arena_sprintf(
        rp_sql_arena(q), pl->date_is_day ? "(%s * 86400)" : "(%s / 1000)", pl->date_sql);

    if (!pl->period)
        rp_sql_add(q, "NULL");
    else if (q->dialect == RP_SQL_PG)
        add_period_pg(q, pl->period, s);
    else if (strcmp(pl->period, "day") == 0)
        rp_sql_addf(q, "date(%s, 'unixepoch')", s);
    else if (strcmp(pl->period, "week") == 0) /* the Monday of the week */
        rp_sql_addf(q, "date(%s, 'unixepoch', 'weekday 0', '-6 days')", s);
    else if (strcmp(pl->period, "month") == 0)
        rp_sql_addf(q, "strftime('%%Y-%%m', %s, 'unixepoch')", s);
    else if (strcmp(pl->period, "quarter") == 0)
        rp_sql_addf(q,
                    "strftime('%%Y', %s, 'unixepoch') || '-Q' ||"
                    " ((CAST(strftime('%%m', %s, 'unixepoch') AS INTEGER) + 2) / 3)",
                    s, s);
    else
        rp_sql_addf(q, "strftime('%%Y', %s, 'unixepoch')", s);
}

static void add_range(struct rp_sql *q, const struct plan *pl)
{
    int64_t scale = pl->date_is_day ? 1 : DAY_MS;

    if (pl->has_from) {
        rp_sql_addf(q, " AND %s >= ", pl->date_sql);
        rp_sql_param(q, rp_value_int(pl->from_day * scale));
    }
    if (pl->has_to) {
        rp_sql_addf(q, " AND %s < ", pl->date_sql);
        rp_sql_param(q, rp_value_int((pl->to_day + 1) * scale));
    }
}

/*
 * A median is taken in SQL, so no per-record rows reach this process: the measure's rows are
 * numbered within their group and period in measure order, and the middle one (odd count) or
 * the mean of the middle two (even count) is kept.
 */
static const char MEDIAN_HEAD[] =
    "SELECT \"g\", \"p\", AVG(\"x\"), MAX(\"n\") FROM (SELECT \"g\", \"p\", \"x\","
    " ROW_NUMBER() OVER (PARTITION BY \"g\", \"p\" ORDER BY \"x\") AS \"rn\","
    " COUNT(*) OVER (PARTITION BY \"g\", \"p\") AS \"n\" FROM (";
static const char MEDIAN_TAIL[] =
    ") AS \"v\") AS \"r\" WHERE \"rn\" IN ((\"n\" + 1) / 2, (\"n\" + 2) / 2)"
    " GROUP BY \"g\", \"p\" ORDER BY \"g\", \"p\"";

static void build(struct kpi_ctx *k, const struct plan *pl, struct rp_sql *q)
{
    const struct rp_kpi *d = pl->def;
    bool median = d->shape == KPI_MEDIAN;

    rp_sql_init(q, k->arena, rp_store_conn_dialect(k->c));
    if (median)
        rp_sql_add(q, MEDIAN_HEAD);
    rp_sql_add(q, "SELECT ");
    rp_sql_add(q, pl->group_sql ? pl->group_sql : "NULL");
    rp_sql_add(q, " AS \"g\", ");
    add_period(q, pl);
    rp_sql_add(q, " AS \"p\"");
    d->measures(k, q);
    if (median)
        rp_sql_add(q, " AS \"x\"");
    rp_sql_add(q, " FROM ");
    rp_sql_ident(q, k->o->name);
    rp_sql_add(q, " AS \"t\"");
    if (d->joins)
        d->joins(k, q);
    rp_sql_add(q, " WHERE \"t\".\"deleted_at\" IS NULL AND ");
    rp_policy_row_sql(k->p, k->m, k->o, "t", RP_ACCESS_READ, q);
    add_range(q, pl);
    if (pl->owner) {
        rp_sql_add(q, " AND \"t\".\"owner_id\" = ");
        rp_sql_param(q, rp_value_cstr(pl->owner));
    }
    if (d->where)
        d->where(k, q);
    rp_sql_add(q, median ? MEDIAN_TAIL : " GROUP BY 1, 2 ORDER BY 1, 2");
}

/* ---- rows ---- */

struct row {
    struct rp_value group;
    const char *period;
    struct rp_value v[MAX_COLS];
};

struct rows {
    struct row *r;
    size_t n, cap;
    struct rp_arena *arena;
};

static struct rp_value copy_value(struct rp_arena *arena, const struct rp_value *v)
{
    struct rp_value c = *v;

    if (v->type == RP_V_TEXT)
        c.u.s.p = rp_arena_strndup(arena, v->u.s.p, v->u.s.len);
    return c;
}

static int row_fn(void *ctx, const struct rp_value *cols, size_t n)
{
    struct rows *rs = ctx;
    struct row *r;

    if (rs->n == MAX_ROWS)
        return RP_ETOOBIG;
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 64;
        rs->r = rp_arena_realloc(rs->arena, rs->r, rs->cap * sizeof(*rs->r), cap * sizeof(*rs->r));
        rs->cap = cap;
    }
    r = &rs->r[rs->n++];
    memset(r, 0, sizeof(*r));
    r->group = copy_value(rs->arena, &cols[0]);
    r->period = cols[1].type == RP_V_TEXT
                    ? rp_arena_strndup(rs->arena, cols[1].u.s.p, cols[1].u.s.len)
                    : NULL;
    for (size_t i = 2; i < n && i - 2 < MAX_COLS; i++)
        r->v[i - 2] = copy_value(rs->arena, &cols[i]);
    return 0;
}

static double as_double(const struct rp_value *v)
{
    switch (v->type) {
    case RP_V_INT:
    case RP_V_MONEY:
        return (double)v->u.i;
    case RP_V_NUM:
        return v->u.d;
    default:
        return 0;
    }
}

static int64_t as_int(const struct rp_value *v)
{
    return v->type == RP_V_INT || v->type == RP_V_MONEY ? v->u.i
           : v->type == RP_V_NUM                        ? (int64_t)v->u.d
                                                        : 0;
}

/* ---- points ---- */

static void add_real(struct rp_buf *out, double d)
{
    rp_buf_addf(out, "%.12g", d);
}

static void add_amount(struct rp_buf *out, const struct rp_value *v, bool money)
{
    if (money)
        rp_money_format(out, as_int(v));
    else if (v->type == RP_V_NUM)
        add_real(out, v->u.d);
    else
        rp_buf_add_i64(out, as_int(v));
}

static void point_open(struct rp_buf *out, const struct plan *pl, const struct row *r, bool *first)
{
    rp_buf_adds(out, *first ? "{" : ",{");
    *first = false;
    if (pl->group) {
        rp_buf_adds(out, "\"group\":");
        rp_value_to_json(out, &r->group);
        rp_buf_addc(out, ',');
    }
    if (pl->period) {
        rp_buf_adds(out, "\"period\":");
        add_str_or_null(out, r->period);
        rp_buf_addc(out, ',');
    }
}

static void ratio_point(struct rp_buf *out, double num, double den)
{
    rp_buf_adds(out, "\"value\":");
    if (den != 0)
        add_real(out, num / den);
    else
        rp_buf_adds(out, "null");
}

static void write_point(struct rp_buf *out, const struct plan *pl, const struct row *r, bool *first)
{
    const struct rp_kpi *d = pl->def;

    point_open(out, pl, r, first);
    switch (d->shape) {
    case KPI_RATIO:
        ratio_point(out, as_double(&r->v[0]), as_double(&r->v[1]));
        rp_buf_adds(out, ",\"numerator\":");
        add_amount(out, &r->v[0], d->money);
        rp_buf_adds(out, ",\"denominator\":");
        add_amount(out, &r->v[1], d->money);
        rp_buf_adds(out, ",\"count\":");
        rp_buf_add_i64(out, as_int(&r->v[d->money ? 2 : 1]));
        break;
    case KPI_SUM:
        rp_buf_adds(out, "\"value\":");
        add_amount(out, &r->v[0], d->money);
        rp_buf_adds(out, ",\"count\":");
        rp_buf_add_i64(out, as_int(&r->v[1]));
        break;
    case KPI_MEDIAN: /* the median and the count, as the statement computed them */
        rp_buf_adds(out, "\"value\":");
        add_amount(out, &r->v[0], false);
        rp_buf_adds(out, ",\"count\":");
        rp_buf_add_i64(out, as_int(&r->v[1]));
        break;
    case KPI_AVG:
        ratio_point(out, as_double(&r->v[0]), as_double(&r->v[1]));
        rp_buf_adds(out, ",\"count\":");
        rp_buf_add_i64(out, as_int(&r->v[1]));
        break;
    default:
        break;
    }
    rp_buf_addc(out, '}');
}

static void funnel_points(struct rp_buf *out, const struct plan *pl, const struct row *r,
                          bool *first)
{
    static const char *const steps[] = {"lead", "mql", "sql", "opportunity", "won"};
    int64_t leads = as_int(&r->v[0]);

    for (size_t i = 0; i < 5; i++) {
        int64_t n = as_int(&r->v[i]), prev = i ? as_int(&r->v[i - 1]) : n;
        point_open(out, pl, r, first);
        rp_buf_adds(out, "\"step\":");
        add_str_or_null(out, steps[i]);
        rp_buf_addc(out, ',');
        ratio_point(out, (double)n, (double)prev);
        rp_buf_adds(out, ",\"numerator\":");
        rp_buf_add_i64(out, n);
        rp_buf_adds(out, ",\"denominator\":");
        rp_buf_add_i64(out, prev);
        rp_buf_adds(out, ",\"count\":");
        rp_buf_add_i64(out, n);
        rp_buf_adds(out, ",\"of_leads\":");
        if (leads)
            add_real(out, (double)n / (double)leads);
        else
            rp_buf_adds(out, "null");
        rp_buf_addc(out, '}');
    }
}

static void write_result(struct rp_buf *out, const struct plan *pl, const struct rp_kpi_params *kp,
                         const struct rows *rs)
{
    bool first = true;

    rp_buf_adds(out, "{\"kpi\":");
    add_str_or_null(out, pl->def->name);
    rp_buf_adds(out, ",\"unit\":");
    add_str_or_null(out, unit_name(pl->def->unit));
    rp_buf_adds(out, ",\"from\":");
    add_str_or_null(out, kp->from);
    rp_buf_adds(out, ",\"to\":");
    add_str_or_null(out, kp->to);
    rp_buf_adds(out, ",\"period\":");
    add_str_or_null(out, pl->period);
    rp_buf_adds(out, ",\"group\":");
    add_str_or_null(out, pl->group);
    rp_buf_adds(out, ",\"data\":[");
    for (size_t i = 0; i < rs->n;) {
        size_t j = i + 1;
        if (pl->def->shape == KPI_FUNNEL) {
            funnel_points(out, pl, &rs->r[i], &first);
        } else {
            write_point(out, pl, &rs->r[i], &first);
        }
        i = j;
    }
    rp_buf_adds(out, "]}");
}

int rp_analytics_kpi(struct rp_analytics *an, const struct rp_principal *p, const char *name,
                     const struct rp_kpi_params *kp, struct rp_arena *arena, struct rp_buf *out,
                     struct rp_error *err)
{
    const struct rp_kpi *d = kpi_find(name);
    struct kpi_ctx k = {.p = p, .arena = arena};
    struct plan pl = {.def = d};
    struct rows rs = {.arena = arena};
    struct rp_meta *m = NULL;
    const char *object;
    struct rp_sql q;
    int rc;

    if (!d)
        return rp_error_set(err, RP_ENOTFOUND, "there is no KPI \"%s\"", name ? name : "");
    if (kp->object && d->object)
        return rp_error_field(err, RP_EINVAL, "object", "unknown_parameter",
                              "KPI \"%s\" has no \"object\" parameter", d->name);
    m = rp_meta_acquire(an->meta);
    k.m = m;
    object = d->object ? d->object : kp->object ? kp->object : "lead";
    if (!(k.o = rp_meta_object(m, object))) {
        rc = rp_error_field(err, RP_EINVAL, "object", "unknown_object", "there is no object \"%s\"",
                            object);
        goto out;
    }
    if ((rc = rp_policy_check(p, k.o->name, RP_ACT_READ, err)) < 0 ||
        (rc = check_uses(&k, d, err)) < 0 || (rc = plan_make(&k, &pl, kp, err)) < 0)
        goto out;
    k.c = rp_store_reader_acquire(an->store);
    if ((rc = stages_load(&k, "opportunity", &k.opp, err)) == 0) {
        build(&k, &pl, &q);
        if ((rc = rp_sql_error(&q)) < 0)
            rp_error_set(err, rc, "the KPI query is too large");
        else
            rc = rp_store_query(k.c, &q, row_fn, &rs, err);
        if (rc == RP_ETOOBIG && !err->code) /* the client can ask for fewer points */
            rc = rp_error_field(err, RP_EINVAL, pl.period ? "period" : "group", "too_many_points",
                                "KPI \"%s\" would give more than %d data points; use a longer "
                                "period, a narrower range or another grouping",
                                d->name, MAX_ROWS);
    }
    rp_store_reader_release(an->store, k.c);
    if (rc == 0)
        write_result(out, &pl, kp, &rs);
out:
    rp_meta_release(m);
    return rc;
}
