/*
 * score_eval: evaluates the learned lead-scoring model (sales.h, rp_sales_lr_train) on a CSV
 * file, through the same C code that trains models in the CRM: columns are mapped to category
 * and number features, a deterministic 20% of rows (rp_sales_is_holdout on a key column, or
 * on the row number) is held out, the rest trains, and the held-out AUC is printed.
 *
 *   score_eval x-education ../shared/data      the X Education leads (docs/benchmarks.md)
 *   score_eval bank ../shared/data             UCI bank marketing, without duration
 *   score_eval --csv FILE [--sep C] --label COL --positive VALUE [--key COL] [--missing V]...
 *              [--cat COL]... [--num COL]... [--log COL]... [--cost C]
 *
 * The data is read at run time from the path given; nothing of it is kept in the repository.
 */
#include "sales/sales.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLS     256
#define MAX_FEATURES 64
#define MAX_MISSING  8
#define MAX_BYTES    (256u * 1024 * 1024)

struct table {
    char *text;   /* the file, split in place */
    char **cells; /* nrows * ncols, row 0 the header */
    size_t nrows, ncols;
};

struct spec {
    const char *csv;
    char sep;
    const char *label, *positive, *key;
    const char *missing[MAX_MISSING];
    size_t nmissing;
    struct rp_score_feature features[MAX_FEATURES];
    size_t nfeatures;
    double cost;
};

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || (unsigned long)n > MAX_BYTES ||
        fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = rp_xcalloc((size_t)n + 1, 1);
    *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

/*
 * RFC 4180 with a chosen separator: quoted fields may hold separators, doubled quotes and line
 * breaks; CRLF or LF ends a record. Cells are unquoted in place.
 */
static int parse_csv(char *text, size_t len, char sep, struct table *t)
{
    size_t cap = 1024, n = 0, ncols = 0, col = 0;
    char *p = text, *end = text + len;

    t->cells = rp_xcalloc(cap, sizeof(*t->cells));
    while (p < end) {
        char *out = p, *start = p;
        bool quoted = *p == '"';
        if (quoted) {
            p++;
            while (p < end) {
                if (*p == '"' && p + 1 < end && p[1] == '"') {
                    *out++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *out++ = *p++;
                }
            }
        } else {
            while (p < end && *p != sep && *p != '\n' && *p != '\r')
                out++, p++;
        }
        if (n == cap) {
            cap *= 2;
            t->cells = rp_xrealloc(t->cells, cap * sizeof(*t->cells));
        }
        t->cells[n++] = start;
        col++;
        /* the terminator is read before the NUL goes in: unquoted cells end where it is */
        if (p < end && *p == sep) {
            *out = '\0';
            p++;
            continue;
        }
        if (p < end && *p == '\r')
            *out = '\0', p++;
        if (p < end && *p == '\n')
            *out = '\0', p++;
        *out = '\0';
        /* end of a record */
        if (!ncols)
            ncols = col;
        else if (col != ncols) {
            fprintf(stderr, "a record has %zu fields, the header %zu\n", col, ncols);
            return -1;
        }
        col = 0;
    }
    t->ncols = ncols;
    t->nrows = ncols ? n / ncols : 0;
    return 0;
}

static int column(const struct table *t, const char *name)
{
    for (size_t j = 0; j < t->ncols; j++)
        if (strcmp(t->cells[j], name) == 0)
            return (int)j;
    fprintf(stderr, "no column \"%s\"\n", name);
    return -1;
}

static bool is_missing(const struct spec *s, const char *v)
{
    if (!*v)
        return true;
    for (size_t i = 0; i < s->nmissing; i++)
        if (strcmp(s->missing[i], v) == 0)
            return true;
    return false;
}

static int evaluate(const struct spec *s)
{
    struct table t = {0};
    size_t len = 0, rows, positives = 0;
    int label, key = -1, cols[MAX_FEATURES];
    const char **cells;
    int *labels;
    bool *holdout;
    struct rp_score_data d;
    struct rp_score_fit fit;
    struct rp_error err;
    json_t *model = NULL;
    int rc = 1;

    if (!(t.text = read_file(s->csv, &len))) {
        fprintf(stderr, "cannot read %s\n", s->csv);
        return 1;
    }
    if (parse_csv(t.text, len, s->sep, &t) < 0 || t.nrows < 2 ||
        (label = column(&t, s->label)) < 0 || (s->key && (key = column(&t, s->key)) < 0)) {
        free(t.cells);
        free(t.text);
        return 1;
    }
    for (size_t j = 0; j < s->nfeatures; j++)
        if ((cols[j] = column(&t, s->features[j].name)) < 0)
            goto out;
    rows = t.nrows - 1;
    cells = rp_xcalloc(rows * s->nfeatures + 1, sizeof(*cells));
    labels = rp_xcalloc(rows + 1, sizeof(*labels));
    holdout = rp_xcalloc(rows + 1, sizeof(*holdout));
    for (size_t r = 0; r < rows; r++) {
        char **row = t.cells + (r + 1) * t.ncols;
        char num[32];
        labels[r] = strcmp(row[label], s->positive) == 0;
        positives += (size_t)labels[r];
        snprintf(num, sizeof(num), "row %zu", r);
        holdout[r] = rp_sales_is_holdout(key >= 0 ? row[key] : num);
        for (size_t j = 0; j < s->nfeatures; j++)
            cells[r * s->nfeatures + j] = is_missing(s, row[cols[j]]) ? NULL : row[cols[j]];
    }
    d = (struct rp_score_data){.features = s->features,
                               .nfeatures = s->nfeatures,
                               .nrows = rows,
                               .cells = cells,
                               .labels = labels,
                               .holdout = holdout};
    rp_error_init(&err, NULL);
    if (rp_sales_lr_train(&d, s->cost, &model, &fit, &err) < 0) {
        fprintf(stderr, "training failed: %s\n", err.detail ? err.detail : "?");
    } else {
        printf("file: %s\nrows: %zu (positive %zu, %.2f%%)\nfeatures: %zu\n"
               "train rows: %zu (positive %zu)\ntest rows: %zu\ntest AUC: %.4f\n",
               s->csv, rows, positives, 100.0 * (double)positives / (double)rows, s->nfeatures,
               fit.rows, fit.positives, fit.test_rows, fit.auc);
        rc = 0;
    }
    json_decref(model);
    free(cells);
    free(labels);
    free(holdout);
out:
    free(t.cells);
    free(t.text);
    return rc;
}

static void add_feature(struct spec *s, const char *name, enum rp_score_ftype type, bool log1p_)
{
    if (s->nfeatures < MAX_FEATURES)
        s->features[s->nfeatures++] = (struct rp_score_feature){name, type, log1p_};
}

/*
 * X Education: only what is known when the lead arrives (docs/benchmarks.md explains the
 * choice); "Select" is the form's unanswered value.
 */
static void preset_x_education(struct spec *s, const char *dir, char *path, size_t n)
{
    static const char *const cats[] = {
        "Lead Origin",
        "Lead Source",
        "Do Not Email",
        "Do Not Call",
        "Country",
        "Specialization",
        "How did you hear about X Education",
        "What is your current occupation",
        "What matters most to you in choosing a course",
        "Search",
        "Magazine",
        "Newspaper Article",
        "X Education Forums",
        "Newspaper",
        "Digital Advertisement",
        "Through Recommendations",
        "Receive More Updates About Our Courses",
        "Update me on Supply Chain Content",
        "Get updates on DM Content",
        "City",
        "A free copy of Mastering The Interview",
    };
    snprintf(path, n, "%s/lead-scoring-x-education/Leads.csv", dir);
    s->csv = path;
    s->sep = ',';
    s->label = "Converted";
    s->positive = "1";
    s->key = "Prospect ID";
    s->missing[s->nmissing++] = "Select";
    for (size_t i = 0; i < sizeof(cats) / sizeof(cats[0]); i++)
        add_feature(s, cats[i], RP_SCORE_CATEGORY, false);
}

/* Bank marketing (bank-additional-full.csv) without duration, known only after the call. */
static void preset_bank(struct spec *s, const char *dir, char *path, size_t n)
{
    static const char *const cats[] = {"job",  "marital", "education", "default",     "housing",
                                       "loan", "contact", "month",     "day_of_week", "poutcome"};
    static const char *const nums[] = {"age",          "campaign",       "previous",
                                       "emp.var.rate", "cons.price.idx", "cons.conf.idx",
                                       "euribor3m",    "nr.employed"};
    snprintf(path, n, "%s/bank-marketing/bank-additional-full.csv", dir);
    s->csv = path;
    s->sep = ';';
    s->label = "y";
    s->positive = "yes";
    s->missing[s->nmissing++] = "unknown";
    for (size_t i = 0; i < sizeof(cats) / sizeof(cats[0]); i++)
        add_feature(s, cats[i], RP_SCORE_CATEGORY, false);
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        add_feature(s, nums[i], RP_SCORE_NUMBER,
                    strcmp(nums[i], "campaign") == 0 || strcmp(nums[i], "previous") == 0);
    /* pdays: 999 means never contacted before, so it is a category, not a distance */
    add_feature(s, "pdays", RP_SCORE_CATEGORY, false);
}

static int usage(void)
{
    fprintf(stderr,
            "usage: score_eval x-education|bank DATA_DIR\n"
            "       score_eval --csv FILE [--sep C] --label COL --positive VALUE [--key COL]\n"
            "                  [--missing V]... [--cat COL]... [--num COL]... [--log COL]...\n"
            "                  [--cost C]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct spec s = {.sep = ','};
    char path[4096];

    if (argc == 3 && strcmp(argv[1], "x-education") == 0)
        preset_x_education(&s, argv[2], path, sizeof(path));
    else if (argc == 3 && strcmp(argv[1], "bank") == 0)
        preset_bank(&s, argv[2], path, sizeof(path));
    else {
        for (int i = 1; i < argc; i++) {
            const char *opt = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
            if (!v)
                return usage();
            i++;
            if (strcmp(opt, "--csv") == 0)
                s.csv = v;
            else if (strcmp(opt, "--sep") == 0)
                s.sep = v[0];
            else if (strcmp(opt, "--label") == 0)
                s.label = v;
            else if (strcmp(opt, "--positive") == 0)
                s.positive = v;
            else if (strcmp(opt, "--key") == 0)
                s.key = v;
            else if (strcmp(opt, "--missing") == 0 && s.nmissing < MAX_MISSING)
                s.missing[s.nmissing++] = v;
            else if (strcmp(opt, "--cat") == 0)
                add_feature(&s, v, RP_SCORE_CATEGORY, false);
            else if (strcmp(opt, "--num") == 0)
                add_feature(&s, v, RP_SCORE_NUMBER, false);
            else if (strcmp(opt, "--log") == 0)
                add_feature(&s, v, RP_SCORE_NUMBER, true);
            else if (strcmp(opt, "--cost") == 0)
                s.cost = strtod(v, NULL);
            else
                return usage();
        }
    }
    if (!s.csv || !s.label || !s.positive || s.nfeatures == 0)
        return usage();
    return evaluate(&s);
}
