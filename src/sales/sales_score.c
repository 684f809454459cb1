/*
 * Lead scoring (sales.h): scoring models as named definitions, kept current by a write hook
 * and a daily recompute, with the explanation of each score; and a learned model (logistic
 * regression through liblinear) trained on the CRM's own labelled history.
 *
 * A rules model is a list of rules, each handled by a kind chosen by the key it carries
 * ("condition" or "touchpoint"): a kind is a check (when the model is saved) and a function
 * giving the rule's points for one record, so a new kind of rule is one entry in rule_kinds.
 *
 * Scores are written through the records write path (rp_records_write_in) by the internal
 * "scoring" principal, inside the write that caused them, so they commit with it and appear in
 * the change log like any change. The hook ignores a write that changed only score fields, and
 * a score is written only when it differs from the stored one, so scoring never feeds itself.
 * Each computation also stores its explanation in rp_score (one row per record and model);
 * trained weights live in rp_score_model.
 */
#include "sales/sales_int.h"

#include "base/arena.h"
#include "base/json.h"
#include "base/log.h"
#include "base/sql.h"
#include "expr/expr.h"

#include <linear.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS          (INT64_C(86400) * 1000)
#define MAX_RULES       100
#define MAX_FEATURES    50
#define MAX_LEVELS      200
#define MIN_TRAIN_ROWS  10
#define TOP_FEATURES    5
#define RECOMPUTE_BATCH 200
#define MAX_POINTS      100000.0
#define TRAIN_MAX_ROWS  1000000

static const struct rp_principal scoring_actor = {
    .user_id = "scoring", .username = "scoring", .display_name = "Lead scoring", .is_admin = true};

static const char *const categories[] = {"profile", "behaviour", "channel", "engagement", "fit"};

static double round2(double x)
{
    return round(x * 100.0) / 100.0;
}

/* ---- the learned model's primitives ---- */

bool rp_sales_is_holdout(const char *key)
{
    uint64_t h = UINT64_C(14695981039346656037);

    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * UINT64_C(1099511628211);
    return h % 5 == 0;
}

struct ranked {
    double score;
    int label;
};

static int ranked_cmp(const void *a, const void *b)
{
    double x = ((const struct ranked *)a)->score, y = ((const struct ranked *)b)->score;
    return (x > y) - (x < y);
}

double rp_sales_auc(const double *scores, const int *labels, size_t n)
{
    struct ranked *r = rp_xcalloc(n ? n : 1, sizeof(*r));
    double npos = 0, nneg = 0, rank_sum = 0;
    size_t i = 0;

    for (size_t k = 0; k < n; k++) {
        r[k].score = scores[k];
        r[k].label = labels[k];
        if (labels[k])
            npos++;
        else
            nneg++;
    }
    qsort(r, n, sizeof(*r), ranked_cmp);
    /* ranks from 1; a run of equal scores shares the mean of its ranks */
    while (i < n) {
        size_t j = i;
        double mid;
        while (j + 1 < n && r[j + 1].score == r[i].score)
            j++;
        mid = ((double)(i + 1) + (double)(j + 1)) / 2.0;
        for (size_t k = i; k <= j; k++)
            if (r[k].label)
                rank_sum += mid;
        i = j + 1;
    }
    free(r);
    if (npos == 0 || nneg == 0)
        return NAN;
    return (rank_sum - npos * (npos + 1) / 2.0) / (npos * nneg);
}

/* A number cell, after the feature's transform; false when missing or not a number. */
static bool cell_number(const char *cell, bool log1p_, double *out)
{
    char *end;
    double v;

    if (!cell || !*cell)
        return false;
    v = strtod(cell, &end);
    while (*end == ' ')
        end++;
    if (*end || !isfinite(v))
        return false;
    if (log1p_)
        v = v > -1 ? log1p(v) : 0;
    *out = v;
    return true;
}

static bool cell_missing(const char *cell)
{
    return !cell || !*cell;
}

/* One column of the design matrix per number, per kept level, and per missing indicator. */
struct column_map {
    json_t *features; /* the model's features, filled with levels, means and sds */
    size_t ncols;
};

static int level_cmp(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t cx = json_integer_value(json_array_get(x, 1));
    json_int_t cy = json_integer_value(json_array_get(y, 1));
    if (cx != cy)
        return cx < cy ? 1 : -1;
    return strcmp(json_string_value(json_array_get(x, 0)), json_string_value(json_array_get(y, 0)));
}

/* Levels seen at least twice in training (the most frequent MAX_LEVELS), as column numbers. */
static json_t *category_levels(const struct rp_score_data *d, size_t j, size_t *next_col)
{
    json_t *counts = json_object(), *levels = json_object(), *v;
    json_t **sorted;
    const char *key;
    size_t n = 0, k;

    for (size_t r = 0; r < d->nrows; r++) {
        const char *cell = d->cells[r * d->nfeatures + j];
        if (d->holdout[r] || cell_missing(cell))
            continue;
        v = json_object_get(counts, cell);
        json_object_set_new(counts, cell, json_integer(v ? json_integer_value(v) + 1 : 1));
    }
    sorted = rp_xcalloc(json_object_size(counts) + 1, sizeof(*sorted));
    json_object_foreach(counts, key, v)
    {
        if (json_integer_value(v) >= 2)
            sorted[n++] = json_pack("[sI]", key, json_integer_value(v));
    }
    qsort(sorted, n, sizeof(*sorted), level_cmp);
    for (k = 0; k < n; k++) {
        if (k < MAX_LEVELS)
            json_object_set_new(levels, json_string_value(json_array_get(sorted[k], 0)),
                                json_integer((json_int_t)(*next_col)++));
        json_decref(sorted[k]);
    }
    free(sorted);
    json_decref(counts);
    return levels;
}

static void map_columns(const struct rp_score_data *d, struct column_map *cm)
{
    size_t col = 0;

    cm->features = json_array();
    for (size_t j = 0; j < d->nfeatures; j++) {
        const struct rp_score_feature *f = &d->features[j];
        json_t *fj = json_pack("{ss}", "field", f->name);
        if (f->type == RP_SCORE_NUMBER) {
            double sum = 0, sq = 0, v, mean, sd;
            size_t n = 0;
            for (size_t r = 0; r < d->nrows; r++) {
                if (d->holdout[r] || !cell_number(d->cells[r * d->nfeatures + j], f->log1p, &v))
                    continue;
                sum += v;
                sq += v * v;
                n++;
            }
            mean = n ? sum / (double)n : 0;
            sd = n > 1 ? sqrt(fmax(sq / (double)n - mean * mean, 0)) : 0;
            json_object_set_new(fj, "type", json_string("number"));
            if (f->log1p)
                json_object_set_new(fj, "transform", json_string("log1p"));
            json_object_set_new(fj, "mean", json_real(mean));
            json_object_set_new(fj, "sd", json_real(sd > 1e-12 ? sd : 1));
            json_object_set_new(fj, "_col", json_integer((json_int_t)col++));
        } else {
            json_object_set_new(fj, "type", json_string("category"));
            json_object_set_new(fj, "_levels", category_levels(d, j, &col));
        }
        json_object_set_new(fj, "_missing", json_integer((json_int_t)col++));
        json_array_append_new(cm->features, fj);
    }
    cm->ncols = col;
}

/* The nonzero columns of a row (0-based column, value), at most 2 per feature. */
static size_t encode_row(const json_t *features, const char *const *cells, size_t *cols,
                         double *vals)
{
    size_t n = 0, j;
    const json_t *fj;

    json_array_foreach(features, j, fj)
    {
        const char *type = json_string_value(json_object_get(fj, "type"));
        const json_t *lv;
        double v;
        if (strcmp(type, "number") == 0) {
            bool log = json_object_get(fj, "transform") != NULL;
            if (cell_number(cells[j], log, &v)) {
                cols[n] = (size_t)json_integer_value(json_object_get(fj, "_col"));
                vals[n++] = (v - json_real_value(json_object_get(fj, "mean"))) /
                            json_real_value(json_object_get(fj, "sd"));
                continue;
            }
        } else if (!cell_missing(cells[j])) {
            if ((lv = json_object_get(json_object_get(fj, "_levels"), cells[j]))) {
                cols[n] = (size_t)json_integer_value(lv);
                vals[n++] = 1;
            }
            continue; /* an unseen level: no column, like the baseline */
        }
        cols[n] = (size_t)json_integer_value(json_object_get(fj, "_missing"));
        vals[n++] = 1;
    }
    return n;
}

static void quiet(const char *s)
{
    (void)s;
}

/* Replaces the column numbers of cm's features with the fitted weights. */
static void attach_weights(json_t *features, const struct model *lm, int label_idx)
{
    size_t j;
    json_t *fj;

#define W(col) get_decfun_coef(lm, (int)(col) + 1, label_idx)
    json_array_foreach(features, j, fj)
    {
        json_t *lv = json_object_get(fj, "_levels"), *v, *levels;
        const char *key;
        if (json_object_get(fj, "_col"))
            json_object_set_new(fj, "weight",
                                json_real(W(json_integer_value(json_object_get(fj, "_col")))));
        if (lv) {
            levels = json_object();
            json_object_foreach(lv, key, v)
            {
                json_object_set_new(levels, key, json_real(W(json_integer_value(v))));
            }
            json_object_set_new(fj, "levels", levels);
        }
        json_object_set_new(fj, "missing_weight",
                            json_real(W(json_integer_value(json_object_get(fj, "_missing")))));
        json_object_del(fj, "_col");
        json_object_del(fj, "_levels");
        json_object_del(fj, "_missing");
    }
#undef W
}

int rp_sales_lr_train(const struct rp_score_data *d, double c, json_t **model,
                      struct rp_score_fit *fit, struct rp_error *err)
{
    struct column_map cm;
    struct problem prob = {0};
    struct parameter param = {.solver_type = L2R_LR, .eps = 0.01, .C = c > 0 ? c : 1.0};
    struct feature_node *space = NULL;
    struct model *lm = NULL;
    size_t *cols = rp_xcalloc(2 * d->nfeatures + 1, sizeof(*cols));
    double *vals = rp_xcalloc(2 * d->nfeatures + 1, sizeof(*vals));
    double *scores = NULL;
    int *labels = NULL;
    size_t ntrain = 0, used = 0, ntest = 0, k;
    int label_idx = 0, rc = RP_EVALIDATION;
    const char *msg;

    *model = NULL;
    memset(fit, 0, sizeof(*fit));
    fit->auc = NAN;
    for (size_t r = 0; r < d->nrows; r++) {
        if (d->holdout[r])
            continue;
        ntrain++;
        fit->positives += d->labels[r] ? 1 : 0;
    }
    fit->rows = ntrain;
    if (ntrain < MIN_TRAIN_ROWS || fit->positives == 0 || fit->positives == ntrain) {
        rp_error_set(err, RP_EVALIDATION,
                     "training needs at least %d rows with both positive and negative examples "
                     "(found %zu rows, %zu positive)",
                     MIN_TRAIN_ROWS, ntrain, fit->positives);
        goto out_free;
    }
    map_columns(d, &cm);
    prob.l = (int)ntrain;
    prob.n = (int)cm.ncols + 1; /* the last column is the bias */
    prob.bias = 1;
    prob.y = rp_xcalloc(ntrain, sizeof(*prob.y));
    prob.x = rp_xcalloc(ntrain, sizeof(*prob.x));
    space = rp_xcalloc(ntrain * (2 * d->nfeatures + 2), sizeof(*space));
    k = 0;
    for (size_t r = 0; r < d->nrows; r++) {
        size_t n;
        if (d->holdout[r])
            continue;
        n = encode_row(cm.features, d->cells + r * d->nfeatures, cols, vals);
        prob.x[k] = space + used;
        prob.y[k] = d->labels[r] ? 1 : -1;
        /* liblinear wants ascending indexes: the encoding emits them per feature in order */
        for (size_t i = 0; i < n; i++)
            space[used++] = (struct feature_node){.index = (int)cols[i] + 1, .value = vals[i]};
        space[used++] = (struct feature_node){.index = prob.n, .value = 1};
        space[used++] = (struct feature_node){.index = -1};
        k++;
    }
    if ((msg = check_parameter(&prob, &param))) {
        rp_error_set(err, RP_EINTERNAL, "liblinear refused the problem: %s", msg);
        json_decref(cm.features);
        goto out;
    }
    set_print_string_function(quiet);
    lm = train(&prob, &param);
    if (lm->nr_class == 2 && lm->label[1] == 1)
        label_idx = 1;
    attach_weights(cm.features, lm, label_idx);
    *model = json_pack("{sfso}", "bias", get_decfun_bias(lm, label_idx), "features", cm.features);

    /* the held-out rows, scored the way records are */
    scores = rp_xcalloc(d->nrows + 1, sizeof(*scores));
    labels = rp_xcalloc(d->nrows + 1, sizeof(*labels));
    for (size_t r = 0; r < d->nrows; r++) {
        if (!d->holdout[r])
            continue;
        scores[ntest] = rp_sales_lr_predict(*model, d->cells + r * d->nfeatures, NULL, 0);
        labels[ntest++] = d->labels[r] ? 1 : 0;
    }
    fit->test_rows = ntest;
    fit->auc = rp_sales_auc(scores, labels, ntest);
    rc = 0;
out:
    if (lm)
        free_and_destroy_model(&lm);
    free(space);
    free(prob.x);
    free(prob.y);
out_free:
    free(scores);
    free(labels);
    free(cols);
    free(vals);
    return rc;
}

struct contribution {
    const char *feature;
    const char *value;
    double c; /* log-odds */
};

static int contribution_cmp(const void *a, const void *b)
{
    double x = fabs(((const struct contribution *)a)->c);
    double y = fabs(((const struct contribution *)b)->c);
    return (x < y) - (x > y);
}

double rp_sales_lr_predict(const json_t *model, const char *const *cells, json_t *explain,
                           size_t top)
{
    const json_t *features = json_object_get(model, "features"), *fj;
    size_t nf = json_array_size(features), j;
    struct contribution *cs = rp_xcalloc(nf + 1, sizeof(*cs));
    double z = json_number_value(json_object_get(model, "bias"));

    json_array_foreach(features, j, fj)
    {
        const char *type = json_string_value(json_object_get(fj, "type"));
        double v, c = 0;
        cs[j].feature = json_string_value(json_object_get(fj, "field"));
        cs[j].value = cells[j];
        if (type && strcmp(type, "number") == 0) {
            bool log = json_object_get(fj, "transform") != NULL;
            if (cell_number(cells[j], log, &v))
                c = json_number_value(json_object_get(fj, "weight")) *
                    (v - json_number_value(json_object_get(fj, "mean"))) /
                    json_number_value(json_object_get(fj, "sd"));
            else
                c = json_number_value(json_object_get(fj, "missing_weight"));
        } else if (cell_missing(cells[j])) {
            c = json_number_value(json_object_get(fj, "missing_weight"));
        } else {
            c = json_number_value(json_object_get(json_object_get(fj, "levels"), cells[j]));
        }
        cs[j].c = c;
        z += c;
    }
    if (explain) {
        qsort(cs, nf, sizeof(*cs), contribution_cmp);
        for (j = 0; j < nf && j < top; j++)
            json_array_append_new(explain, json_pack("{sssssf}", "feature", cs[j].feature, "value",
                                                     cs[j].value ? cs[j].value : "(missing)",
                                                     "weight", cs[j].c));
    }
    free(cs);
    return 1.0 / (1.0 + exp(-z));
}

/* ---- the definition ---- */

struct score_ctx {
    struct rp_store_conn *c;
    const struct rp_meta *m;
    const struct rp_object *o;
    const char *id;
    int64_t now;
    struct rp_arena *arena;
    struct rp_error *err;
};

/* The reference field of touchpoint that points at o (lead_id for lead), or NULL. */
static const struct rp_field *touchpoint_ref(const struct rp_meta *m, const struct rp_object *o)
{
    const struct rp_object *tp = rp_meta_object(m, "touchpoint");

    for (size_t i = 0; tp && i < tp->nfields; i++)
        if (tp->fields[i].type == RP_F_REFERENCE && tp->fields[i].target &&
            strcmp(tp->fields[i].target, o->name) == 0)
            return &tp->fields[i];
    return NULL;
}

static int check_condition(const struct rp_meta *m, const struct rp_object *o, const json_t *rule,
                           const char *where, struct rp_arena *arena, struct rp_error *err)
{
    const char *cond = json_string_value(json_object_get(rule, "condition"));
    struct rp_expr *e;
    struct rp_error sub;

    rp_error_init(&sub, arena);
    if (!cond || rp_meta_parse_expr(m, o, cond, strlen(cond), 0, arena, &e, &sub) < 0 ||
        rp_expr_type(e) != RP_V_BOOL)
        return rp_error_field(err, RP_EVALIDATION, where, "invalid_expression",
                              "invalid condition: %s",
                              sub.detail ? sub.detail : "it must be a condition");
    if (json_object_get(rule, "decay_days") || json_object_get(rule, "max_points"))
        return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                              "\"decay_days\" and \"max_points\" belong to touchpoint rules");
    return 0;
}

static int condition_points(struct score_ctx *x, const json_t *rule, double *points,
                            const char **detail)
{
    const char *cond = json_string_value(json_object_get(rule, "condition"));
    struct rp_expr *e;
    struct rp_sql q;
    int64_t holds = 0;
    int rc;

    *points = 0;
    if ((rc = rp_meta_parse_expr(x->m, x->o, cond, strlen(cond), x->now, x->arena, &e, x->err)) < 0)
        return rc;
    rp_sql_init(&q, x->arena, rp_store_conn_dialect(x->c));
    /* true is 1, false and unknown 0, on both engines (PostgreSQL's conditions are boolean) */
    rp_sql_add(&q, "SELECT CASE WHEN (");
    if ((rc = rp_expr_compile_sql(e, &q, x->err)) < 0)
        return rc;
    rp_sql_addf(&q, ") THEN 1 ELSE 0 END FROM \"%s\" AS \"t\" WHERE \"t\".\"id\" = ", x->o->name);
    rp_sql_param(&q, rp_value_cstr(x->id));
    if ((rc = rp_store_query(x->c, &q, rp_store_row_int, &holds, x->err)) < 0)
        return rc;
    if (holds) {
        *points = json_number_value(json_object_get(rule, "points"));
        *detail = rp_arena_sprintf(x->arena, "%s", cond);
    }
    return 0;
}

static int check_touchpoint(const struct rp_meta *m, const struct rp_object *o, const json_t *rule,
                            const char *where, struct rp_arena *arena, struct rp_error *err)
{
    const struct rp_object *tp = rp_meta_object(m, "touchpoint");
    const struct rp_field *type = tp ? rp_meta_field(tp, "type") : NULL;
    const char *value = json_string_value(json_object_get(rule, "touchpoint"));
    const json_t *days = json_object_get(rule, "decay_days");
    const json_t *cap = json_object_get(rule, "max_points");
    const char *decay = json_string_value(json_object_get(rule, "decay"));
    size_t i = 0;

    (void)arena;
    if (!touchpoint_ref(m, o))
        return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                              "touchpoints do not refer to %s", o->name);
    while (type && value && i < type->nvalues && strcmp(type->values[i].value, value))
        i++;
    if (!type || !value || i == type->nvalues)
        return rp_error_field(err, RP_EVALIDATION, where, "unknown_value",
                              "\"touchpoint\" must be a value of touchpoint.type");
    if (days &&
        (!json_is_number(days) || json_number_value(days) <= 0 || json_number_value(days) > 3650))
        return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                              "\"decay_days\" is a number of days from 0 to 3650");
    if (cap && (!json_is_number(cap) || json_number_value(cap) < 0))
        return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                              "\"max_points\" is a number of at least 0");
    if (json_object_get(rule, "decay") &&
        (!decay || (strcmp(decay, "linear") && strcmp(decay, "exponential"))))
        return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                              "\"decay\" is \"linear\" or \"exponential\"");
    return 0;
}

struct touch_sum {
    int64_t now;
    double points, days;
    bool exponential;
    double sum;
    size_t n;
};

static int touch_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct touch_sum *t = ctx;
    int64_t at;
    double age, w = 1;

    if (n < 1 || cols[0].type != RP_V_INT)
        return 0;
    at = cols[0].u.i;
    age = at < t->now ? (double)(t->now - at) / (double)DAY_MS : 0;
    if (t->days > 0)
        w = t->exponential ? pow(0.5, age / t->days) : fmax(0, 1 - age / t->days);
    t->sum += t->points * w;
    t->n++;
    return 0;
}

static int touchpoint_points(struct score_ctx *x, const json_t *rule, double *points,
                             const char **detail)
{
    const struct rp_field *ref = touchpoint_ref(x->m, x->o);
    const char *decay = json_string_value(json_object_get(rule, "decay"));
    const json_t *cap = json_object_get(rule, "max_points");
    struct touch_sum t = {.now = x->now,
                          .points = json_number_value(json_object_get(rule, "points")),
                          .days = json_number_value(json_object_get(rule, "decay_days")),
                          .exponential = decay && strcmp(decay, "exponential") == 0};
    struct rp_sql q;
    int rc;

    *points = 0;
    if (!ref)
        return 0;
    rp_sql_init(&q, x->arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT coalesce(\"occurred_at\", \"created_at\") FROM \"touchpoint\" WHERE ");
    rp_sql_ident(&q, ref->name);
    rp_sql_add(&q, " = ");
    rp_sql_param(&q, rp_value_cstr(x->id));
    rp_sql_add(&q, " AND \"type\" = ");
    rp_sql_param(&q, rp_value_cstr(json_string_value(json_object_get(rule, "touchpoint"))));
    rp_sql_add(&q, " AND \"deleted_at\" IS NULL");
    if ((rc = rp_store_query(x->c, &q, touch_row, &t, x->err)) < 0)
        return rc;
    if (cap)
        t.sum =
            t.sum >= 0 ? fmin(t.sum, json_number_value(cap)) : fmax(t.sum, -json_number_value(cap));
    *points = t.sum;
    if (t.n)
        *detail = rp_arena_sprintf(x->arena, "%zu %s touchpoint%s%s%s", t.n,
                                   json_string_value(json_object_get(rule, "touchpoint")),
                                   t.n == 1 ? "" : "s", t.days > 0 ? ", decayed" : "",
                                   cap ? ", capped" : "");
    return 0;
}

/* The kinds of rule: the key a rule carries selects its kind. */
static const struct rule_kind {
    const char *key;
    int (*check)(const struct rp_meta *m, const struct rp_object *o, const json_t *rule,
                 const char *where, struct rp_arena *arena, struct rp_error *err);
    int (*points)(struct score_ctx *x, const json_t *rule, double *points, const char **detail);
} rule_kinds[] = {
    {"condition", check_condition, condition_points},
    {"touchpoint", check_touchpoint, touchpoint_points},
};

static const struct rule_kind *kind_of(const json_t *rule)
{
    for (size_t i = 0; i < sizeof(rule_kinds) / sizeof(rule_kinds[0]); i++)
        if (json_object_get(rule, rule_kinds[i].key))
            return &rule_kinds[i];
    return NULL;
}

static bool is_learned(const json_t *def)
{
    const char *kind = json_string_value(json_object_get(def, "kind"));
    return kind && strcmp(kind, "learned") == 0;
}

static int check_rules(const struct rp_meta *m, const struct rp_object *o, const json_t *def,
                       struct rp_arena *arena, struct rp_error *err)
{
    static const char *const rule_keys[] = {"name",        "category",   "condition", "touchpoint",
                                            "points",      "decay_days", "decay",     "max_points",
                                            "description", NULL};
    const json_t *rules = json_object_get(def, "rules"), *r;
    size_t i;
    int rc;

    if (!json_is_array(rules) || json_array_size(rules) == 0 || json_array_size(rules) > MAX_RULES)
        return rp_error_field(err, RP_EVALIDATION, "rules", "invalid",
                              "\"rules\" must be an array of 1-%d rules", MAX_RULES);
    json_array_foreach(rules, i, r)
    {
        const char *where = rp_arena_sprintf(arena, "rules[%zu]", i);
        const char *cat = json_string_value(json_object_get(r, "category"));
        const json_t *pts = json_object_get(r, "points");
        const struct rule_kind *k;
        size_t c = 0;
        if (!json_is_object(r))
            return rp_error_field(err, RP_EVALIDATION, where, "invalid", "a rule is an object");
        if ((rc = rp_json_check_keys(r, rule_keys, "a scoring rule", where, err)) < 0)
            return rc;
        if (!json_is_string(json_object_get(r, "name")))
            return rp_error_field(err, RP_EVALIDATION, where, "invalid", "a rule needs a \"name\"");
        while (cat && c < sizeof(categories) / sizeof(categories[0]) && strcmp(categories[c], cat))
            c++;
        if (!cat || c == sizeof(categories) / sizeof(categories[0]))
            return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                                  "\"category\" is one of profile, behaviour, channel, "
                                  "engagement, fit");
        if (!json_is_number(pts) || fabs(json_number_value(pts)) > MAX_POINTS)
            return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                                  "\"points\" is a number from -100000 to 100000");
        if (!(k = kind_of(r)))
            return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                                  "a rule has a \"condition\" or a \"touchpoint\"");
        if (json_object_get(r, "condition") && json_object_get(r, "touchpoint"))
            return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                                  "a rule has a \"condition\" or a \"touchpoint\", not both");
        if ((rc = k->check(m, o, r, where, arena, err)) < 0)
            return rc;
    }
    return 0;
}

static int check_learned(const struct rp_meta *m, const struct rp_object *o, const json_t *def,
                         struct rp_arena *arena, struct rp_error *err)
{
    static const char *const feature_keys[] = {"field", "type", "transform", NULL};
    const json_t *label = json_object_get(def, "label");
    const json_t *features = json_object_get(def, "features"), *fj;
    const char *own = json_string_value(json_object_get(def, "field"));
    static const char *const sides[] = {"positive", "negative"};
    size_t i;
    int rc;

    if (!json_is_object(label) || json_object_size(label) != 2)
        return rp_error_field(err, RP_EVALIDATION, "label", "invalid",
                              "\"label\" is {\"positive\": condition, \"negative\": condition}");
    for (i = 0; i < 2; i++) {
        const char *cond = json_string_value(json_object_get(label, sides[i]));
        struct rp_expr *e;
        struct rp_error sub;
        rp_error_init(&sub, arena);
        if (!cond || rp_meta_parse_expr(m, o, cond, strlen(cond), 0, arena, &e, &sub) < 0 ||
            rp_expr_type(e) != RP_V_BOOL)
            return rp_error_field(err, RP_EVALIDATION,
                                  rp_arena_sprintf(arena, "label.%s", sides[i]),
                                  "invalid_expression", "invalid condition: %s",
                                  sub.detail ? sub.detail : "it must be a condition");
    }
    if (!json_is_array(features) || json_array_size(features) == 0 ||
        json_array_size(features) > MAX_FEATURES)
        return rp_error_field(err, RP_EVALIDATION, "features", "invalid",
                              "\"features\" must be an array of 1-%d features", MAX_FEATURES);
    json_array_foreach(features, i, fj)
    {
        const char *where = rp_arena_sprintf(arena, "features[%zu]", i);
        const char *name = json_string_value(json_object_get(fj, "field"));
        const char *type = json_string_value(json_object_get(fj, "type"));
        const char *tr = json_string_value(json_object_get(fj, "transform"));
        const struct rp_field *f = name ? rp_meta_field(o, name) : NULL;
        bool number;
        if (!json_is_object(fj))
            return rp_error_field(err, RP_EVALIDATION, where, "invalid", "a feature is an object");
        if ((rc = rp_json_check_keys(fj, feature_keys, "a feature", where, err)) < 0)
            return rc;
        if (!f || f->type == RP_F_FORMULA || (own && strcmp(own, f->name) == 0))
            return rp_error_field(err, RP_EVALIDATION, where, "unknown_field",
                                  "\"field\" must name a stored field of %s other than the score",
                                  o->name);
        if (!type || (strcmp(type, "category") && strcmp(type, "number")))
            return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                                  "\"type\" is \"category\" or \"number\"");
        number = strcmp(type, "number") == 0;
        if (number && f->type != RP_F_NUMBER && f->type != RP_F_MONEY && f->type != RP_F_PERCENT &&
            f->type != RP_F_INTEGER)
            return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                                  "\"%s\" is not a number field", f->name);
        if (!number && f->type != RP_F_TEXT && f->type != RP_F_PICKLIST && f->type != RP_F_BOOL)
            return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                                  "a category is a text, picklist or bool field");
        if (json_object_get(fj, "transform") && (!number || !tr || strcmp(tr, "log1p")))
            return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                                  "\"transform\" is \"log1p\", for numbers");
    }
    return 0;
}

int rp_sales_score_check(void *ctx, const struct rp_meta *m, const json_t *def,
                         struct rp_arena *arena, struct rp_error *err)
{
    static const char *const keys[] = {"object", "field",    "max",  "rules",       "kind",
                                       "label",  "features", "cost", "description", NULL};
    const char *object = json_string_value(json_object_get(def, "object"));
    const struct rp_object *o = object ? rp_meta_object(m, object) : NULL;
    const char *field = json_string_value(json_object_get(def, "field"));
    const struct rp_field *f = o && field ? rp_meta_field(o, field) : NULL;
    const json_t *max = json_object_get(def, "max"), *kind = json_object_get(def, "kind");
    const json_t *cost = json_object_get(def, "cost");
    int rc;

    (void)ctx;
    if ((rc = rp_json_check_keys(def, keys, "a scoring model", NULL, err)) < 0)
        return rc;
    if (!o)
        return rp_error_field(err, RP_EVALIDATION, "object", "not_found",
                              "\"object\" must name an object");
    if (!f || f->system || (f->type != RP_F_NUMBER && f->type != RP_F_PERCENT))
        return rp_error_field(err, RP_EVALIDATION, "field", "invalid",
                              "\"field\" must name a number field of %s", o->name);
    if (max && (!json_is_number(max) || json_number_value(max) <= 0 ||
                json_number_value(max) > MAX_POINTS))
        return rp_error_field(err, RP_EVALIDATION, "max", "invalid",
                              "\"max\" is a number from 0 to 100000");
    if (kind && (!json_is_string(kind) || (strcmp(json_string_value(kind), "rules") &&
                                           strcmp(json_string_value(kind), "learned"))))
        return rp_error_field(err, RP_EVALIDATION, "kind", "invalid",
                              "\"kind\" is \"rules\" or \"learned\"");
    if (cost && (!json_is_number(cost) || json_number_value(cost) <= 0))
        return rp_error_field(err, RP_EVALIDATION, "cost", "invalid",
                              "\"cost\" (liblinear C) is a positive number");
    if (is_learned(def)) {
        if (json_object_get(def, "rules"))
            return rp_error_field(err, RP_EVALIDATION, "rules", "invalid",
                                  "a learned model has features, not rules");
        return check_learned(m, o, def, arena, err);
    }
    if (json_object_get(def, "features") || json_object_get(def, "label"))
        return rp_error_field(err, RP_EVALIDATION, "features", "invalid",
                              "\"features\" and \"label\" belong to learned models");
    return check_rules(m, o, def, arena, err);
}

/* ---- loading models ---- */

static int model_row(void *ctx, const struct rp_value *cols, size_t n)
{
    json_t *list = ctx, *def;

    if (n < 2 || cols[0].type != RP_V_TEXT || cols[1].type != RP_V_TEXT)
        return 0;
    if ((def = rp_json_loadb(cols[1].u.s.p, cols[1].u.s.len, 0, NULL)))
        json_array_append_new(
            list, json_pack("{s:s%,s:o}", "name", cols[0].u.s.p, cols[0].u.s.len, "def", def));
    return 0;
}

/* [{"name","def"}] of the scoring models, by name; object and name (may be NULL) filter. */
static int load_models(struct rp_store_conn *c, const char *object, const char *name,
                       struct rp_arena *arena, json_t **out, struct rp_error *err)
{
    struct rp_sql q;
    int rc;

    *out = json_array();
    rp_sql_init(&q, arena, rp_store_conn_dialect(c));
    rp_sql_add(&q,
               "SELECT name, definition FROM rp_definition WHERE kind = '" RP_SALES_SCORING "'");
    if (object) {
        rp_sql_add(&q, " AND object = ");
        rp_sql_param(&q, rp_value_cstr(object));
    }
    if (name) {
        rp_sql_add(&q, " AND name = ");
        rp_sql_param(&q, rp_value_cstr(name));
    }
    rp_sql_add(&q, " ORDER BY name");
    if ((rc = rp_store_query(c, &q, model_row, *out, err)) < 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* The trained weights of a learned model (*w NULL when untrained). */
static int load_weights(struct rp_store_conn *c, const char *name, struct rp_arena *arena,
                        json_t **w, struct rp_error *err)
{
    struct rp_sql q;
    char *text = NULL;
    int rc;

    *w = NULL;
    rp_sql_init(&q, arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT weights FROM rp_score_model WHERE name = ");
    rp_sql_param(&q, rp_value_cstr(name));
    rc = rp_store_query(c, &q, rp_sales_row_text, &text, err);
    if (rc == 0 && text)
        *w = rp_json_loads(text, 0, NULL);
    free(text);
    return rc;
}

/* ---- scoring one record ---- */

/* A stored value as a learned model's cell text (NULL: missing). */
static const char *cell_text(const struct rp_field *f, const struct rp_value *v,
                             struct rp_arena *arena)
{
    switch (v->type) {
    case RP_V_TEXT:
        return rp_arena_strndup(arena, v->u.s.p, v->u.s.len);
    case RP_V_INT:
    case RP_V_MONEY:
    case RP_V_BOOL:
        if (f->type == RP_F_BOOL)
            return (v->type == RP_V_BOOL ? v->u.b : v->u.i != 0) ? "true" : "false";
        if (f->type == RP_F_MONEY)
            return rp_arena_sprintf(arena, "%.4f", (double)v->u.i / RP_MONEY_SCALE);
        return rp_arena_sprintf(arena, "%lld", (long long)v->u.i);
    case RP_V_NUM:
        return rp_arena_sprintf(arena, "%.17g", v->u.d);
    default:
        return NULL;
    }
}

struct cells_row {
    const struct rp_object *o;
    const json_t *features;
    const char **cells;
    bool found;
    struct rp_arena *arena;
};

static int cells_row_fn(void *ctx, const struct rp_value *cols, size_t n)
{
    struct cells_row *x = ctx;
    size_t j;
    const json_t *fj;

    x->found = true;
    json_array_foreach(x->features, j, fj)
    {
        const struct rp_field *f =
            rp_meta_field(x->o, json_string_value(json_object_get(fj, "field")));
        x->cells[j] = j < n && f ? cell_text(f, &cols[j], x->arena) : NULL;
    }
    return 1;
}

/* The feature columns of a record (or, with q_tail, of many: the caller's callback). */
static void select_features(struct rp_sql *q, const json_t *features)
{
    size_t j;
    const json_t *fj;

    rp_sql_add(q, "SELECT ");
    json_array_foreach(features, j, fj)
    {
        if (j)
            rp_sql_add(q, ", ");
        rp_sql_add(q, "\"t\".");
        rp_sql_ident(q, json_string_value(json_object_get(fj, "field")));
    }
}

static int score_learned(struct score_ctx *x, const json_t *def, const json_t *weights,
                         double *score, json_t *contributions, bool *scored)
{
    const json_t *features = json_object_get(def, "features");
    struct cells_row cr = {.o = x->o, .features = features, .arena = x->arena};
    json_t *explain, *e;
    struct rp_sql q;
    size_t j;
    int rc;

    *scored = false;
    if (!weights)
        return 0;
    cr.cells = rp_arena_calloc(x->arena, json_array_size(features) + 1, sizeof(*cr.cells));
    rp_sql_init(&q, x->arena, RP_SQL_SQLITE);
    select_features(&q, features);
    rp_sql_addf(&q, " FROM \"%s\" AS \"t\" WHERE \"t\".\"id\" = ", x->o->name);
    rp_sql_param(&q, rp_value_cstr(x->id));
    if ((rc = rp_store_query(x->c, &q, cells_row_fn, &cr, x->err)) < 0 || !cr.found)
        return rc;
    explain = json_array();
    *score = round2(100.0 * rp_sales_lr_predict(weights, cr.cells, explain, TOP_FEATURES));
    json_array_foreach(explain, j, e)
    {
        json_array_append_new(
            contributions,
            json_pack("{sOsssOss}", "rule", json_object_get(e, "feature"), "category", "feature",
                      "points", json_object_get(e, "weight"), "detail",
                      rp_arena_sprintf(x->arena, "value %s (log-odds contribution)",
                                       json_string_value(json_object_get(e, "value")))));
    }
    json_decref(explain);
    *scored = true;
    return 0;
}

static int score_rules(struct score_ctx *x, const json_t *def, double *score, json_t *contributions)
{
    const json_t *max = json_object_get(def, "max"), *r;
    double sum = 0, cap = max ? json_number_value(max) : 100;
    size_t i;
    int rc;

    json_array_foreach(json_object_get(def, "rules"), i, r)
    {
        const struct rule_kind *k = kind_of(r);
        const char *detail = NULL;
        double points = 0;
        if (!k)
            continue;
        if ((rc = k->points(x, r, &points, &detail)) < 0)
            return rc;
        if (!detail)
            continue;
        sum += points;
        json_array_append_new(contributions,
                              json_pack("{sOsOsfss}", "rule", json_object_get(r, "name"),
                                        "category", json_object_get(r, "category"), "points",
                                        round2(points), "detail", detail));
    }
    *score = round2(fmin(fmax(sum, 0), cap));
    return 0;
}

/* Scores id (live) with one model; *scored false when the record is gone or untrained. */
/*
 * Scores id (live) with model ({"name", "def", "weights"?: preloaded learned weights});
 * *scored false when the record is gone or the model untrained.
 */
static int score_record(struct score_ctx *x, const json_t *model, double *score,
                        json_t *contributions, bool *scored)
{
    const json_t *def = json_object_get(model, "def");
    const json_t *pre = json_object_get(model, "weights");
    json_t *w = NULL;
    int rc;

    if (!is_learned(def)) {
        *scored = true;
        return score_rules(x, def, score, contributions);
    }
    if (!pre && (rc = load_weights(x->c, json_string_value(json_object_get(model, "name")),
                                   x->arena, &w, x->err)) < 0)
        return rc;
    rc = score_learned(x, def, pre ? pre : w, score, contributions, scored);
    json_decref(w);
    return rc;
}

struct current {
    bool live;
    bool has;
    double value;
};

static int current_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct current *cur = ctx;

    cur->live = true;
    if (n > 0 && cols[0].type == RP_V_NUM)
        cur->has = true, cur->value = cols[0].u.d;
    else if (n > 0 && cols[0].type == RP_V_INT)
        cur->has = true, cur->value = (double)cols[0].u.i;
    return 1;
}

/*
 * Inside a writer unit: scores a record with one model, stores the explanation and writes the
 * score when it changed. *updated (may be NULL) is set when it wrote.
 */
static int apply_score(struct rp_sales *s, struct rp_store_conn *c, const struct rp_meta *m,
                       const json_t *model, const char *id, int64_t now, const char *cause,
                       struct rp_arena *arena, bool *updated, struct rp_error *err)
{
    const char *name = json_string_value(json_object_get(model, "name"));
    const json_t *def = json_object_get(model, "def");
    const struct rp_object *o =
        rp_meta_object(m, json_string_value(json_object_get(def, "object")));
    const char *field = json_string_value(json_object_get(def, "field"));
    struct score_ctx x = {.c = c, .m = m, .o = o, .id = id, .now = now, .arena = arena, .err = err};
    struct current cur = {0};
    json_t *contributions;
    double score = 0;
    bool scored = false;
    char *text;
    struct rp_sql q;
    int rc;

    if (updated)
        *updated = false;
    if (!o || !field || !rp_meta_field(o, field))
        return 0; /* the metadata moved under the model; it is refused when saved again */
    rp_sql_init(&q, arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT ");
    rp_sql_ident(&q, field);
    rp_sql_addf(&q, " FROM \"%s\" WHERE \"id\" = ", o->name);
    rp_sql_param(&q, rp_value_cstr(id));
    rp_sql_add(&q, " AND \"deleted_at\" IS NULL");
    if ((rc = rp_store_query(c, &q, current_row, &cur, err)) < 0 || !cur.live)
        return rc;
    contributions = json_array();
    if ((rc = score_record(&x, model, &score, contributions, &scored)) < 0 || !scored) {
        json_decref(contributions);
        return rc;
    }
    text = rp_json_dumps(contributions, JSON_COMPACT | JSON_REAL_PRECISION(6), err);
    json_decref(contributions);
    if (!text)
        return err->code;
    {
        const struct rp_value row[] = {rp_value_cstr(o->name), rp_value_cstr(id),
                                       rp_value_cstr(name),    rp_value_num(score),
                                       rp_value_int(now),      rp_value_cstr(text)};
        rp_sql_init(&q, arena, rp_store_conn_dialect(c));
        rp_sql_add(&q, "INSERT INTO rp_score (object, record_id, model, score,"
                       " computed_at, contributions) VALUES ");
        rp_sql_param_list(&q, row, sizeof(row) / sizeof(row[0]));
        rp_sql_add(&q, " ON CONFLICT (object, record_id, model) DO UPDATE SET"
                       " score = excluded.score, computed_at = excluded.computed_at,"
                       " contributions = excluded.contributions");
        rc = rp_store_exec(c, &q, NULL, err);
    }
    free(text);
    if (rc < 0 || (cur.has && fabs(cur.value - score) < 1e-9))
        return rc;
    {
        json_t *data = json_pack("{sf}", field, score);
        struct rp_error sub;
        struct rp_write w = {.op = RP_WRITE_UPDATE, .id = id, .data = data, .if_match = -1};
        struct rp_write_request wr = {.principal = &scoring_actor,
                                      .object = o->name,
                                      .writes = &w,
                                      .nwrites = 1,
                                      .cause = cause,
                                      .arena = arena,
                                      .err = &sub};
        rp_error_init(&sub, arena);
        rc = rp_records_write_in(s->records, c, &wr);
        if (rc < 0)
            *err = sub.code ? sub : w.err;
        else if (w.status >= 400)
            rc = rp_error_set(err, w.err.code ? w.err.code : RP_EINTERNAL,
                              "could not write the score of %s \"%s\": %s", o->name, id,
                              w.err.detail ? w.err.detail : "refused");
        json_decref(data);
    }
    if (rc == 0 && updated)
        *updated = true;
    return rc;
}

/* ---- the write hook ---- */

static bool has_touchpoint_rule(const json_t *def)
{
    size_t i;
    const json_t *r;

    json_array_foreach(json_object_get(def, "rules"), i, r)
    {
        if (json_object_get(r, "touchpoint"))
            return true;
    }
    return false;
}

/* Whether the write changed a field that no scoring model of the object writes. */
static bool changed_other(const struct rp_write_event *ev, const json_t *models)
{
    if (ev->op != RP_WRITE_UPDATE || !ev->changed)
        return true;
    for (size_t i = 0; i < ev->object->nfields; i++) {
        size_t k;
        const json_t *mj;
        bool score_field = false;
        if (!ev->changed[i])
            continue;
        json_array_foreach(models, k, mj)
        {
            const char *f = json_string_value(json_object_get(json_object_get(mj, "def"), "field"));
            if (f && strcmp(f, ev->object->fields[i].name) == 0)
                score_field = true;
        }
        if (!score_field)
            return true;
    }
    return false;
}

/* The record a touchpoint write refers to through ref, after (new) and before (old) it. */
static const char *ref_id(const struct rp_write_event *ev, const struct rp_field *ref, bool after)
{
    const struct rp_value *v = NULL;
    size_t i = ref->index;

    if (after && ev->values && ev->changed && ev->changed[i])
        v = &ev->values[i];
    else if (ev->old)
        v = &ev->old[i];
    else if (after && ev->values && ev->op == RP_WRITE_CREATE)
        v = &ev->values[i];
    if (!v || v->type != RP_V_TEXT)
        return NULL;
    return rp_arena_strndup(ev->arena, v->u.s.p, v->u.s.len);
}

static int score_hook(void *ctx, const struct rp_write_event *ev, struct rp_error *err)
{
    struct rp_sales *s = ctx;
    bool touchpoint = strcmp(ev->object->name, "touchpoint") == 0;
    json_t *models = NULL, *own;
    const json_t *mj;
    size_t i;
    bool any;
    int rc;

    if (!touchpoint && (ev->op == RP_WRITE_DELETE))
        return 0;
    /* only a touchpoint concerns models of other objects */
    if ((rc = rp_records_definitions_exist(ev->rs, ev->c, RP_SALES_SCORING,
                                           touchpoint ? NULL : ev->object->name, &any, err)) < 0 ||
        !any)
        return rc;
    if ((rc = load_models(ev->c, touchpoint ? NULL : ev->object->name, NULL, ev->arena, &models,
                          err)) < 0)
        return rc;
    own = json_array();
    json_array_foreach(models, i, mj)
    {
        const char *obj = json_string_value(json_object_get(json_object_get(mj, "def"), "object"));
        if (obj && strcmp(obj, ev->object->name) == 0)
            json_array_append(own, (json_t *)mj);
    }
    if (json_array_size(own) && changed_other(ev, own)) {
        json_array_foreach(own, i, mj)
        {
            if ((rc = apply_score(s, ev->c, ev->meta, mj, ev->id, ev->now, ev->cause, ev->arena,
                                  NULL, err)) < 0)
                goto out;
        }
    }
    if (!touchpoint)
        goto out;
    json_array_foreach(models, i, mj)
    {
        const json_t *def = json_object_get(mj, "def");
        const struct rp_object *o =
            rp_meta_object(ev->meta, json_string_value(json_object_get(def, "object")));
        const struct rp_field *ref = o ? touchpoint_ref(ev->meta, o) : NULL;
        const char *after, *before;
        if (!ref || !has_touchpoint_rule(def))
            continue;
        after = ev->op == RP_WRITE_DELETE ? NULL : ref_id(ev, ref, true);
        before = ev->old ? ref_id(ev, ref, false) : NULL;
        if (after && (rc = apply_score(s, ev->c, ev->meta, mj, after, ev->now, ev->cause, ev->arena,
                                       NULL, err)) < 0)
            goto out;
        if (before && (!after || strcmp(before, after)) &&
            (rc = apply_score(s, ev->c, ev->meta, mj, before, ev->now, ev->cause, ev->arena, NULL,
                              err)) < 0)
            goto out;
    }
out:
    json_decref(own);
    json_decref(models);
    return rc;
}

void rp_sales_score_register(struct rp_sales *s)
{
    rp_records_definition_kind_add(
        s->records, &(struct rp_definition_kind){.kind = RP_SALES_SCORING,
                                                 .noun = "scoring model",
                                                 .permission = RP_ACT_MANAGE_METADATA,
                                                 .check = rp_sales_score_check,
                                                 .ctx = s});
    rp_records_hook_add(s->records, &(struct rp_write_hook){.fn = score_hook, .ctx = s});
}

/* ---- recomputing in bulk ---- */

static int id_row(void *ctx, const struct rp_value *cols, size_t n)
{
    json_t *ids = ctx;

    if (n > 0 && cols[0].type == RP_V_TEXT)
        json_array_append_new(ids, json_stringn(cols[0].u.s.p, cols[0].u.s.len));
    return 0;
}

struct recompute_unit {
    struct rp_sales *s;
    const struct rp_meta *m;
    const json_t *model;
    const json_t *ids;
    size_t from, to;
    size_t updated;
    struct rp_arena *arena;
    struct rp_error *err;
};

static int recompute_run(struct rp_store_conn *c, void *ctx, struct rp_error *unit_err)
{
    struct recompute_unit *u = ctx;
    int64_t now = rp_clock_now_ms(u->s->clock);
    int rc = 0;

    (void)unit_err;
    u->updated = 0;
    rp_error_clear(u->err);
    for (size_t i = u->from; i < u->to && rc == 0; i++) {
        bool updated = false;
        rc = apply_score(u->s, c, u->m, u->model, json_string_value(json_array_get(u->ids, i)), now,
                         "{\"scoring\":true,\"depth\":0}", u->arena, &updated, u->err);
        u->updated += updated;
    }
    return rc;
}

static int recompute_model(struct rp_sales *s, const struct rp_meta *m, const json_t *model,
                           size_t *updated, struct rp_error *err)
{
    const json_t *def = json_object_get(model, "def");
    const struct rp_object *o =
        rp_meta_object(m, json_string_value(json_object_get(def, "object")));
    json_t *ids = json_array();
    struct rp_store_conn *c;
    struct rp_arena a;
    struct rp_sql q;
    int rc;

    json_t *loaded = json_deep_copy(model), *w = NULL;

    if (!o) {
        json_decref(ids);
        json_decref(loaded);
        return 0;
    }
    rp_arena_init(&a);
    rp_sql_init(&q, &a, RP_SQL_SQLITE);
    rp_sql_addf(&q, "SELECT \"id\" FROM \"%s\" WHERE \"deleted_at\" IS NULL ORDER BY \"id\"",
                o->name);
    c = rp_store_reader_acquire(s->store);
    rc = rp_store_query(c, &q, id_row, ids, err);
    /* a learned model's weights, read once for every record */
    if (rc == 0 && is_learned(def) &&
        (rc = load_weights(c, json_string_value(json_object_get(model, "name")), &a, &w, err)) ==
            0 &&
        w)
        json_object_set_new(loaded, "weights", w);
    rp_store_reader_release(s->store, c);
    for (size_t i = 0; rc == 0 && i < json_array_size(ids); i += RECOMPUTE_BATCH) {
        struct rp_error store_err;
        struct recompute_unit u = {.s = s,
                                   .m = m,
                                   .model = loaded,
                                   .ids = ids,
                                   .from = i,
                                   .to = i + RECOMPUTE_BATCH,
                                   .arena = &a,
                                   .err = err};
        if (u.to > json_array_size(ids))
            u.to = json_array_size(ids);
        rp_error_init(&store_err, &a);
        rc = rp_store_write(s->store, recompute_run, &u, &store_err);
        if (rc < 0)
            rp_error_copy(err, &store_err);
        if (rc == 0 && updated)
            *updated += u.updated;
        rp_arena_reset(&a);
    }
    rp_arena_release(&a);
    json_decref(ids);
    json_decref(loaded);
    return rc;
}

int rp_sales_score_recompute(struct rp_sales *s, const char *model, size_t *updated,
                             struct rp_error *err)
{
    struct rp_meta *m = rp_meta_acquire(s->meta);
    struct rp_store_conn *c = rp_store_reader_acquire(s->store);
    struct rp_arena a;
    json_t *models = NULL;
    const json_t *mj;
    size_t i;
    int rc;

    if (updated)
        *updated = 0;
    rp_arena_init(&a);
    rc = load_models(c, NULL, model, &a, &models, err);
    rp_store_reader_release(s->store, c);
    if (rc == 0 && model && json_array_size(models) == 0)
        rc = rp_error_set(err, RP_ENOTFOUND, "scoring model \"%s\" does not exist", model);
    json_array_foreach(models, i, mj)
    {
        if (rc < 0)
            break;
        rc = recompute_model(s, m, mj, updated, err);
    }
    json_decref(models);
    rp_arena_release(&a);
    rp_meta_release(m);
    return rc;
}

/* ---- training ---- */

struct history {
    const struct rp_object *o;
    const json_t *features;
    size_t nf;
    struct rp_arena *arena;
    /* grown per row */
    const char **cells;
    int *labels;
    bool *holdout;
    size_t n, cap;
};

static int history_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct history *h = ctx;
    size_t j;
    const json_t *fj;

    if (n < h->nf + 3 || cols[h->nf].type != RP_V_TEXT)
        return 0;
    if (h->n >= TRAIN_MAX_ROWS)
        return 1;
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 256;
        h->cells = rp_xrealloc(h->cells, h->cap * h->nf * sizeof(*h->cells));
        h->labels = rp_xrealloc(h->labels, h->cap * sizeof(*h->labels));
        h->holdout = rp_xrealloc(h->holdout, h->cap * sizeof(*h->holdout));
    }
    json_array_foreach(h->features, j, fj)
    {
        const struct rp_field *f =
            rp_meta_field(h->o, json_string_value(json_object_get(fj, "field")));
        h->cells[h->n * h->nf + j] = f ? cell_text(f, &cols[j], h->arena) : NULL;
    }
    h->holdout[h->n] =
        rp_sales_is_holdout(rp_arena_strndup(h->arena, cols[h->nf].u.s.p, cols[h->nf].u.s.len));
    /* a row matching both conditions counts as positive */
    h->labels[h->n] = cols[h->nf + 1].type == RP_V_INT && cols[h->nf + 1].u.i != 0;
    h->n++;
    return 0;
}

static int add_condition(struct rp_sql *q, const struct rp_meta *m, const struct rp_object *o,
                         const char *cond, int64_t now, struct rp_arena *arena,
                         struct rp_error *err)
{
    struct rp_expr *e;
    int rc;

    if ((rc = rp_meta_parse_expr(m, o, cond, strlen(cond), now, arena, &e, err)) < 0)
        return rc;
    rp_sql_add(q, "CASE WHEN (");
    rc = rp_expr_compile_sql(e, q, err);
    rp_sql_add(q, ") THEN 1 ELSE 0 END");
    return rc;
}

struct store_unit {
    const char *name;
    const char *weights;
    struct rp_score_fit fit;
    int64_t now;
    const char *by;
    struct rp_arena *arena;
    struct rp_error *err;
};

static int store_run(struct rp_store_conn *c, void *ctx, struct rp_error *unit_err)
{
    struct store_unit *u = ctx;
    const struct rp_value row[] = {rp_value_cstr(u->name),
                                   rp_value_cstr(u->weights),
                                   rp_value_int((int64_t)u->fit.rows),
                                   rp_value_int((int64_t)u->fit.positives),
                                   isnan(u->fit.auc) ? rp_value_null() : rp_value_num(u->fit.auc),
                                   rp_value_int(u->now),
                                   rp_value_cstr(u->by)};
    struct rp_sql q;

    (void)unit_err;
    rp_sql_init(&q, u->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_score_model (name, weights, rows, positives, auc,"
                   " trained_at, trained_by) VALUES ");
    rp_sql_param_list(&q, row, sizeof(row) / sizeof(row[0]));
    rp_sql_add(&q, " ON CONFLICT (name) DO UPDATE SET weights = excluded.weights,"
                   " rows = excluded.rows, positives = excluded.positives, auc = excluded.auc,"
                   " trained_at = excluded.trained_at, trained_by = excluded.trained_by");
    return rp_store_exec(c, &q, NULL, u->err);
}

static json_t *datetime_json(struct rp_arena *arena, int64_t ms)
{
    struct rp_value t = rp_value_typed_int(RP_V_DATETIME, ms);
    struct rp_buf b;

    rp_buf_init(&b, arena, 64);
    rp_value_to_json(&b, &t);
    return rp_json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
}

static int read_history(struct rp_sales *s, const struct rp_principal *p, const struct rp_meta *m,
                        const struct rp_object *o, const json_t *def, int64_t now,
                        struct history *h, struct rp_error *err)
{
    const json_t *label = json_object_get(def, "label"), *fj;
    struct rp_store_conn *c;
    struct rp_sql q;
    size_t j;
    int rc;

    json_array_foreach(h->features, j, fj)
    {
        const struct rp_field *f =
            rp_meta_field(o, json_string_value(json_object_get(fj, "field")));
        if (rp_policy_field(p, o, f) == RP_FIELD_HIDDEN)
            return rp_error_set(err, RP_EFORBIDDEN, "the field \"%s\" is hidden from you", f->name);
    }
    rp_sql_init(&q, h->arena, rp_store_dialect(s->store));
    select_features(&q, h->features);
    rp_sql_add(&q, j ? ", \"t\".\"id\", " : "\"t\".\"id\", ");
    if ((rc = add_condition(&q, m, o, json_string_value(json_object_get(label, "positive")), now,
                            h->arena, err)) < 0)
        return rc;
    rp_sql_add(&q, ", ");
    if ((rc = add_condition(&q, m, o, json_string_value(json_object_get(label, "negative")), now,
                            h->arena, err)) < 0)
        return rc;
    rp_sql_addf(&q, " FROM \"%s\" AS \"t\" WHERE \"t\".\"deleted_at\" IS NULL AND ", o->name);
    rp_policy_row_sql(p, m, o, "t", RP_ACCESS_READ, &q);
    /* the conditions are 0/1 values (add_condition): compared, they are booleans on both */
    rp_sql_add(&q, " AND (");
    add_condition(&q, m, o, json_string_value(json_object_get(label, "positive")), now, h->arena,
                  err);
    rp_sql_add(&q, " = 1 OR ");
    add_condition(&q, m, o, json_string_value(json_object_get(label, "negative")), now, h->arena,
                  err);
    rp_sql_add(&q, " = 1) ORDER BY \"t\".\"id\"");
    c = rp_store_reader_acquire(s->store);
    rc = rp_store_query(c, &q, history_row, h, err);
    rp_store_reader_release(s->store, c);
    return rc;
}

int rp_sales_score_train(struct rp_sales *s, const struct rp_principal *p, const char *model,
                         struct rp_arena *arena, struct rp_buf *out, struct rp_error *err)
{
    struct rp_meta *m = NULL;
    struct rp_store_conn *c;
    struct rp_score_feature *feats = NULL;
    struct history h = {.arena = arena};
    struct rp_score_fit fit;
    json_t *models = NULL, *weights = NULL, *doc;
    const json_t *def, *fj;
    const struct rp_object *o;
    int64_t now = rp_clock_now_ms(s->clock);
    size_t j, updated = 0;
    char *text;
    int rc;

    if ((rc = rp_policy_check(p, NULL, RP_ACT_MANAGE_METADATA, err)) < 0)
        return rc;
    c = rp_store_reader_acquire(s->store);
    rc = load_models(c, NULL, model, arena, &models, err);
    rp_store_reader_release(s->store, c);
    if (rc < 0)
        return rc;
    m = rp_meta_acquire(s->meta);
    def = json_object_get(json_array_get(models, 0), "def");
    o = def ? rp_meta_object(m, json_string_value(json_object_get(def, "object"))) : NULL;
    if (!def || !o) {
        rc = rp_error_set(err, RP_ENOTFOUND, "scoring model \"%s\" does not exist", model);
        goto out;
    }
    if (!is_learned(def)) {
        rc =
            rp_error_set(err, RP_EVALIDATION,
                         "scoring model \"%s\" is a rules model; only learned models train", model);
        goto out;
    }
    h.o = o;
    h.features = json_object_get(def, "features");
    h.nf = json_array_size(h.features);
    if ((rc = read_history(s, p, m, o, def, now, &h, err)) < 0)
        goto out;
    feats = rp_xcalloc(h.nf + 1, sizeof(*feats));
    json_array_foreach(h.features, j, fj)
    {
        const char *type = json_string_value(json_object_get(fj, "type"));
        feats[j].name = json_string_value(json_object_get(fj, "field"));
        feats[j].type = strcmp(type, "number") == 0 ? RP_SCORE_NUMBER : RP_SCORE_CATEGORY;
        feats[j].log1p = json_object_get(fj, "transform") != NULL;
    }
    {
        struct rp_score_data d = {.features = feats,
                                  .nfeatures = h.nf,
                                  .nrows = h.n,
                                  .cells = h.cells,
                                  .labels = h.labels,
                                  .holdout = h.holdout};
        if ((rc = rp_sales_lr_train(&d, json_number_value(json_object_get(def, "cost")), &weights,
                                    &fit, err)) < 0)
            goto out;
    }
    if (!(text = rp_json_dumps(weights, JSON_COMPACT | JSON_REAL_PRECISION(10), err))) {
        rc = err->code;
        goto out;
    }
    {
        struct store_unit u = {.name = model,
                               .weights = text,
                               .fit = fit,
                               .now = now,
                               .by = p->user_id,
                               .arena = arena,
                               .err = err};
        struct rp_error store_err;
        rp_error_init(&store_err, arena);
        rc = rp_store_write(s->store, store_run, &u, &store_err);
        if (rc < 0)
            rp_error_copy(err, &store_err);
    }
    free(text);
    if (rc < 0 || (rc = rp_sales_score_recompute(s, model, &updated, err)) < 0)
        goto out;
    doc = json_pack("{sssIsIsIsososo}", "model", model, "rows", (json_int_t)fit.rows, "positives",
                    (json_int_t)fit.positives, "test_rows", (json_int_t)fit.test_rows, "auc",
                    isnan(fit.auc) ? json_null() : json_real(fit.auc), "trained_at",
                    datetime_json(arena, now), "rescored", json_integer((json_int_t)updated));
    if ((text = rp_json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(6), err)))
        rp_buf_adds(out, text);
    else
        rc = err->code;
    free(text);
    json_decref(doc);
out:
    free(h.cells);
    free(h.labels);
    free(h.holdout);
    free(feats);
    json_decref(weights);
    json_decref(models);
    rp_meta_release(m);
    return rc;
}

/* ---- the explanation ---- */

/*
 * The explanation as p may see it: the detail of a learned feature p may not read, or of a
 * condition that reads a field hidden from p (it does not parse in p's scope), is withheld.
 */
static void redact(const struct rp_principal *p, const struct rp_meta *m, const struct rp_object *o,
                   const json_t *def, json_t *contributions, struct rp_arena *arena)
{
    const struct rp_meta_scope *scope;
    size_t i, k;
    json_t *c;
    const json_t *r;

    if (!rp_policy_limits_fields(p, o))
        return;
    scope = rp_policy_scope(p, m, arena);
    json_array_foreach(contributions, i, c)
    {
        const char *rule = json_string_value(json_object_get(c, "rule"));
        bool hidden = false;
        if (is_learned(def)) {
            const struct rp_field *f = rule ? rp_meta_field(o, rule) : NULL;
            hidden = !f || rp_policy_field(p, o, f) == RP_FIELD_HIDDEN;
        }
        json_array_foreach(is_learned(def) ? NULL : json_object_get(def, "rules"), k, r)
        {
            const char *cond = json_string_value(json_object_get(r, "condition"));
            struct rp_expr *e;
            struct rp_error sub;
            if (!cond || !rule || strcmp(rule, json_string_value(json_object_get(r, "name"))))
                continue;
            rp_error_init(&sub, arena);
            hidden = rp_meta_parse_expr_in(m, o, scope, cond, strlen(cond), 0, arena, &e, &sub) < 0;
        }
        if (hidden)
            json_object_set_new(c, "detail",
                                json_string("(withheld: it reads a field hidden from you)"));
    }
}

struct stored {
    bool found;
    double score;
    int64_t at;
    json_t *contributions;
};

static int stored_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct stored *st = ctx;

    if (n < 3 || cols[2].type != RP_V_TEXT)
        return 0;
    st->found = true;
    st->score = cols[0].type == RP_V_NUM ? cols[0].u.d : (double)cols[0].u.i;
    st->at = cols[1].u.i;
    st->contributions = rp_json_loadb(cols[2].u.s.p, cols[2].u.s.len, 0, NULL);
    return 1;
}

int rp_sales_score_explain(struct rp_sales *s, const struct rp_principal *p, const char *object,
                           const char *id, const char *model, struct rp_arena *arena,
                           struct rp_buf *out, struct rp_error *err)
{
    struct rp_buf probe;
    struct rp_meta *m;
    const struct rp_object *o;
    const struct rp_field *f = NULL;
    struct rp_store_conn *c;
    struct stored st = {0};
    json_t *models = NULL, *doc;
    const json_t *def;
    const char *name;
    int64_t version;
    struct rp_sql q;
    char *text;
    int rc;

    rp_buf_init(&probe, arena, 1 << 20);
    /* the caller must see the record (404 like a missing one otherwise) */
    if ((rc = rp_records_get(s->records, p, object, id, NULL, arena, &probe, &version, err)) < 0)
        return rc;
    m = rp_meta_acquire(s->meta);
    o = rp_meta_object(m, object);
    c = rp_store_reader_acquire(s->store);
    if ((rc = load_models(c, object, model, arena, &models, err)) < 0)
        goto out;
    def = json_object_get(json_array_get(models, 0), "def");
    name = json_string_value(json_object_get(json_array_get(models, 0), "name"));
    if (def && o)
        f = rp_meta_field(o, json_string_value(json_object_get(def, "field")));
    if (!f) {
        rc = model ? rp_error_set(err, RP_ENOTFOUND, "scoring model \"%s\" does not score %s",
                                  model, object)
                   : rp_error_set(err, RP_ENOTFOUND, "%s has no scoring model", object);
        goto out;
    }
    if (rp_policy_field(p, o, f) == RP_FIELD_HIDDEN) {
        rc = rp_error_set(err, RP_EFORBIDDEN, "the field \"%s\" is hidden from you", f->name);
        goto out;
    }
    rp_sql_init(&q, arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT score, computed_at, contributions FROM rp_score WHERE object = ");
    rp_sql_param(&q, rp_value_cstr(object));
    rp_sql_add(&q, " AND record_id = ");
    rp_sql_param(&q, rp_value_cstr(id));
    rp_sql_add(&q, " AND model = ");
    rp_sql_param(&q, rp_value_cstr(name));
    if ((rc = rp_store_query(c, &q, stored_row, &st, err)) < 0)
        goto out;
    if (!st.found) {
        /* never computed (the model is newer than the record): compute it now, unstored */
        struct score_ctx x = {.c = c,
                              .m = m,
                              .o = o,
                              .id = id,
                              .now = rp_clock_now_ms(s->clock),
                              .arena = arena,
                              .err = err};
        bool scored = false;
        st.contributions = json_array();
        st.at = x.now;
        if ((rc = score_record(&x, json_array_get(models, 0), &st.score, st.contributions,
                               &scored)) < 0)
            goto out;
        if (!scored) {
            rc = rp_error_set(err, RP_ENOTFOUND, "scoring model \"%s\" is not trained yet", name);
            goto out;
        }
    }
    if (st.contributions)
        redact(p, m, o, def, st.contributions, arena);
    doc = json_pack("{sssssfsoso}", "model", name, "field", f->name, "score", st.score,
                    "computed_at", datetime_json(arena, st.at), "contributions",
                    st.contributions ? json_incref(st.contributions) : json_array());
    if ((text = rp_json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(6), err)))
        rp_buf_adds(out, text);
    else
        rc = err->code;
    free(text);
    json_decref(doc);
out:
    rp_store_reader_release(s->store, c);
    json_decref(st.contributions);
    json_decref(models);
    rp_meta_release(m);
    return rc;
}
