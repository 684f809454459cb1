/*
 * The KPI engine against real data: the Maven Analytics "CRM + Sales Opportunities" files
 * (../shared/data/crm-sales-opportunities; see its README for the quirks) are loaded through
 * the HTTP API as an import would be: the 35 sales agents as users under a role per manager,
 * the 7 products, the 85 accounts (with their parents), and the 8,800 opportunities through
 * the batch endpoint, 1,000 at a time, with created_at and closed_at from the CSV's
 * engage_date and close_date. Then the win rate, the won revenue (in total, per agent and for
 * one manager's team, read as that manager), the median sales cycle, the win rate by amount
 * and the open pipeline by stage that GET /api/v1/kpis reports are compared with values this
 * file computes from the CSV on its own (plain C, no SQL).
 *
 * The data lives outside the repository. Its folder is the environment variable
 * RP_SHARED_DATA, else the path CMake found at configure time (RP_SHARED_DATA_DEFAULT: the
 * nearest shared/data beside the source tree or a parent folder of it); missing files fail
 * the test, naming the path tried.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_app.h"

#ifndef RP_SHARED_DATA_DEFAULT
#define RP_SHARED_DATA_DEFAULT "../shared/data"
#endif

#define MAX_COLS  16
#define MAX_ROWS  10000
#define BATCH     1000
#define N_OPPS    8800
#define N_AGENTS  35
#define N_ACCOUNT 85

/* ---- CSV: a whole file in memory, split into rows of cells ---- */

struct csv {
    char *text;
    char **cells; /* row r, column c: cells[r * ncols + c]; row 0 is the header */
    size_t nrows, ncols;
};

static const char *data_dir(void)
{
    const char *env = getenv("RP_SHARED_DATA");
    return env && *env ? env : RP_SHARED_DATA_DEFAULT;
}

/* Splits one line (CR already removed) on commas; a cell in double quotes may hold commas. */
static size_t split(char *line, char **cells, size_t max)
{
    size_t n = 0;
    char *p = line;

    for (;;) {
        char *start = p, *w;
        if (n == max)
            return n;
        if (*p == '"') {
            start = w = ++p;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"')
                    p++;
                *w++ = *p++;
            }
            if (*p == '"')
                p++;
            *w = '\0';
            cells[n++] = start;
            if (*p != ',')
                return n;
            *p++ = '\0';
            continue;
        }
        while (*p && *p != ',')
            p++;
        cells[n++] = start;
        if (!*p)
            return n;
        *p++ = '\0';
    }
}

static void csv_load(struct csv *c, const char *name)
{
    char path[1024], *line, *next;
    FILE *f;
    long len;

    snprintf(path, sizeof(path), "%s/crm-sales-opportunities/%s", data_dir(), name);
    f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s: set RP_SHARED_DATA to the folder holding "
                 "crm-sales-opportunities/ (default %s)",
                 path, RP_SHARED_DATA_DEFAULT);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    c->text = calloc(1, (size_t)len + 1);
    assert_int_equal(fread(c->text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    c->cells = calloc(MAX_ROWS * MAX_COLS, sizeof(*c->cells));
    c->nrows = c->ncols = 0;
    for (line = c->text; line && *line; line = next) {
        char *row[MAX_COLS];
        size_t n, l;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[l - 1] = '\0';
        if (!*line)
            continue;
        n = split(line, row, MAX_COLS);
        if (c->nrows == 0)
            c->ncols = n;
        assert_int_equal(n, c->ncols);
        assert_true(c->nrows < MAX_ROWS);
        memcpy(&c->cells[c->nrows * c->ncols], row, n * sizeof(*row));
        c->nrows++;
    }
}

static const char *cell(const struct csv *c, size_t row, const char *column)
{
    for (size_t i = 0; i < c->ncols; i++)
        if (strcmp(c->cells[i], column) == 0)
            return c->cells[row * c->ncols + i];
    fail_msg("no column %s", column);
    return NULL;
}

static void csv_free(struct csv *c)
{
    free(c->cells);
    free(c->text);
}

/* ---- the expected values, from the CSV alone ---- */

/* Days since 1970-01-01 of "YYYY-MM-DD" (proleptic Gregorian), written out here on purpose. */
static long day_number(const char *s)
{
    int y, m, d;
    long era, yoe, doy, doe;

    assert_int_equal(sscanf(s, "%4d-%2d-%2d", &y, &m, &d), 3);
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

struct expected {
    long won, lost;
    long long won_revenue;
    double median_cycle;
    long ncycles;
};

static void expect_from_csv(const struct csv *pipe, const char *only_manager,
                            const struct csv *teams, struct expected *e)
{
    long *cycles = calloc(pipe->nrows, sizeof(*cycles));

    memset(e, 0, sizeof(*e));
    for (size_t r = 1; r < pipe->nrows; r++) {
        const char *stage = cell(pipe, r, "deal_stage");
        if (only_manager) {
            bool in_team = false;
            for (size_t a = 1; a < teams->nrows; a++)
                if (strcmp(cell(teams, a, "sales_agent"), cell(pipe, r, "sales_agent")) == 0)
                    in_team = strcmp(cell(teams, a, "manager"), only_manager) == 0;
            if (!in_team)
                continue;
        }
        if (strcmp(stage, "Won") == 0) {
            e->won++;
            e->won_revenue += atoll(cell(pipe, r, "close_value"));
            cycles[e->ncycles++] =
                day_number(cell(pipe, r, "close_date")) - day_number(cell(pipe, r, "engage_date"));
        } else if (strcmp(stage, "Lost") == 0) {
            e->lost++;
        }
    }
    qsort(cycles, (size_t)e->ncycles, sizeof(*cycles), cmp_long);
    if (e->ncycles)
        e->median_cycle = e->ncycles % 2
                              ? (double)cycles[e->ncycles / 2]
                              : (cycles[e->ncycles / 2 - 1] + cycles[e->ncycles / 2]) / 2.0;
    free(cycles);
}

/* ---- the import, through the API ---- */

static json_t *call_as(struct rp_test_app *t, const char *token, const char *method,
                       const char *target, const char *body, int expect)
{
    char *out = NULL;
    int status = rp_test_request_as(t, token, method, target, body, &out);
    json_t *j;

    if (status != expect)
        fprintf(stderr, "%s %s: %d %.2000s\n", method, target, status, out ? out : "");
    assert_int_equal(status, expect);
    j = out && *out ? json_loads(out, 0, NULL) : json_object();
    free(out);
    assert_non_null(j);
    return j;
}

static json_t *call(struct rp_test_app *t, const char *method, const char *target, const char *body,
                    int expect)
{
    return call_as(t, t->token, method, target, body, expect);
}

static json_t *call_json(struct rp_test_app *t, const char *method, const char *target,
                         json_t *body, int expect)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_t *j = call(t, method, target, text, expect);
    free(text);
    json_decref(body);
    return j;
}

/* "Anna Snelling" → "anna_snelling": usernames and role names (a-z, 0-9, '_'). */
static void slug(char *out, size_t n, const char *prefix, const char *name)
{
    size_t k = (size_t)snprintf(out, n, "%s", prefix);
    for (const char *p = name; *p && k + 1 < n; p++) {
        char ch = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
        out[k++] = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ? ch : '_';
    }
    out[k] = '\0';
}

/* Sends operations (a JSON array) as one non-atomic batch; every item must succeed. ids (may be
 * NULL) receive the new records' ids in order. */
static void batch(struct rp_test_app *t, const char *object, json_t *ops, json_t *ids)
{
    char target[128];
    size_t i, n = json_array_size(ops);
    const json_t *r;
    json_t *j;

    assert_true(n <= BATCH);
    snprintf(target, sizeof(target), "/api/v1/records/%s/batch", object);
    j = call_json(t, "POST", target, json_pack("{sbso}", "atomic", 0, "operations", ops), 200);
    assert_int_equal(json_array_size(json_object_get(j, "results")), n);
    json_array_foreach(json_object_get(j, "results"), i, r)
    {
        int status = (int)json_integer_value(json_object_get(r, "status"));
        if (status >= 300)
            fail_msg("%s batch item %zu: %s", object, i,
                     json_dumps(json_object_get(r, "error"), JSON_COMPACT));
        if (ids)
            json_array_append(ids, json_object_get(json_object_get(r, "record"), "id"));
    }
    json_decref(j);
}

static const char *industry_of(const char *sector)
{
    static const char *const map[][2] = {
        {"technolgy", "technology"}, /* the files' typo */
        {"technology", "technology"},
        {"medical", "healthcare"},
        {"retail", "retail"},
        {"software", "software"},
        {"entertainment", "media"},
        {"marketing", "professional_services"},
        {"finance", "financial_services"},
        {"services", "professional_services"},
        {"employment", "professional_services"},
        {"telecommunications", "telecommunications"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i][0], sector) == 0)
            return map[i][1];
    return "other";
}

/* Product names compared without spaces: the pipeline writes "GTXPro" for "GTX Pro". */
static bool same_product(const char *a, const char *b)
{
    for (;;) {
        while (*a == ' ')
            a++;
        while (*b == ' ')
            b++;
        if (*a != *b)
            return false;
        if (!*a)
            return true;
        a++, b++;
    }
}

struct loaded {
    json_t *users;    /* agent name → user id */
    json_t *products; /* product name → {"id", "price"} */
    json_t *accounts; /* account name → id */
};

/* A role per manager and one for their team below it; each agent a user in their team's role. */
static void load_people(struct rp_test_app *t, const struct csv *teams, struct loaded *l)
{
    char role[96], mrole[96], target[160];
    json_t *managers = json_object();

    for (size_t r = 1; r < teams->nrows; r++) {
        const char *agent = cell(teams, r, "sales_agent"), *manager = cell(teams, r, "manager");
        char uname[96];
        json_t *j;
        slug(mrole, sizeof(mrole), "mgr_", manager);
        slug(role, sizeof(role), "team_", manager);
        if (!json_object_get(managers, manager)) {
            json_object_set_new(managers, manager, json_true());
            snprintf(target, sizeof(target), "/api/v1/admin/roles/%s", mrole);
            json_decref(call_json(t, "PUT", target, json_pack("{ss}", "label", manager), 201));
            snprintf(target, sizeof(target), "/api/v1/admin/roles/%s", role);
            json_decref(call_json(t, "PUT", target,
                                  json_pack("{ssss}", "label", manager, "parent", mrole), 201));
        }
        slug(uname, sizeof(uname), "", agent);
        j = call_json(t, "POST", "/api/v1/admin/users",
                      json_pack("{sssssssss{ssss}}", "username", uname, "password",
                                "agent-password-1", "display_name", agent, "role", role,
                                "attributes", "manager", manager, "regional_office",
                                cell(teams, r, "regional_office")),
                      201);
        json_object_set(l->users, agent, json_object_get(j, "id"));
        json_decref(j);
    }
    assert_int_equal(json_object_size(l->users), N_AGENTS);
    json_decref(managers);
}

static void load_products(struct rp_test_app *t, const struct csv *products, struct loaded *l)
{
    json_t *ops = json_array(), *ids = json_array();

    for (size_t r = 1; r < products->nrows; r++)
        json_array_append_new(
            ops, json_pack("{sss{ssssssssssss}}", "op", "create", "data", "name",
                           cell(products, r, "product"), "sku", cell(products, r, "product"),
                           "list_price", cell(products, r, "sales_price"), "currency", "usd",
                           "family", "hardware", "description", cell(products, r, "series")));
    batch(t, "product", ops, ids);
    for (size_t r = 1; r < products->nrows; r++)
        json_object_set_new(l->products, cell(products, r, "product"),
                            json_pack("{sOss}", "id", json_array_get(ids, r - 1), "price",
                                      cell(products, r, "sales_price")));
    json_decref(ids);
}

/* Accounts, then their parents (subsidiary_of) as updates once every account has an id. */
static void load_accounts(struct rp_test_app *t, const struct csv *accounts, struct loaded *l)
{
    json_t *ops = json_array(), *ids = json_array();

    for (size_t r = 1; r < accounts->nrows; r++) {
        char revenue[64];
        /* revenue is in millions of USD: "1100.04" → 1100040000 */
        snprintf(revenue, sizeof(revenue), "%.0f", atof(cell(accounts, r, "revenue")) * 1e6);
        json_array_append_new(ops, json_pack("{sss{sssssssIss}}", "op", "create", "data", "name",
                                             cell(accounts, r, "account"), "industry",
                                             industry_of(cell(accounts, r, "sector")),
                                             "annual_revenue", revenue, "employees",
                                             (json_int_t)atoll(cell(accounts, r, "employees")),
                                             "country", cell(accounts, r, "office_location")));
    }
    batch(t, "account", ops, ids);
    assert_int_equal(json_array_size(ids), N_ACCOUNT);
    for (size_t r = 1; r < accounts->nrows; r++)
        json_object_set(l->accounts, cell(accounts, r, "account"), json_array_get(ids, r - 1));
    ops = json_array();
    for (size_t r = 1; r < accounts->nrows; r++) {
        const char *parent = cell(accounts, r, "subsidiary_of");
        if (!*parent)
            continue;
        assert_non_null(json_object_get(l->accounts, parent));
        json_array_append_new(ops, json_pack("{sssOs{sO}}", "op", "update", "id",
                                             json_array_get(ids, r - 1), "data", "parent_id",
                                             json_object_get(l->accounts, parent)));
    }
    batch(t, "account", ops, NULL);
    json_decref(ids);
}

static const json_t *product_of(const struct loaded *l, const char *name)
{
    const char *key;
    const json_t *v;

    json_object_foreach(l->products, key, v)
    {
        if (same_product(key, name))
            return v;
    }
    fail_msg("unknown product %s", name);
    return NULL;
}

/*
 * One opportunity per CSV row: the agent owns it, stages map Won/Lost/Engaging/Prospecting to
 * closed_won/closed_lost/qualification/prospecting, a closed deal's amount is close_value and
 * an open one's the product's price, created_at is engage_date (Prospecting rows have none and
 * get the import time), closed_at close_date.
 */
static json_t *opportunity_data(const struct csv *pipe, size_t r, const struct loaded *l)
{
    const char *stage = cell(pipe, r, "deal_stage"), *engage = cell(pipe, r, "engage_date");
    const char *close = cell(pipe, r, "close_date"), *account = cell(pipe, r, "account");
    const json_t *product = product_of(l, cell(pipe, r, "product"));
    const json_t *owner = json_object_get(l->users, cell(pipe, r, "sales_agent"));
    bool won = strcmp(stage, "Won") == 0, lost = strcmp(stage, "Lost") == 0;
    json_t *d;

    assert_non_null(owner);
    d = json_pack("{sssOsOssss}", "name", cell(pipe, r, "opportunity_id"), "owner_id", owner,
                  "product_id", json_object_get(product, "id"), "currency", "usd", "stage",
                  won                              ? "closed_won"
                  : lost                           ? "closed_lost"
                  : strcmp(stage, "Engaging") == 0 ? "qualification"
                                                   : "prospecting");
    json_object_set_new(d, "amount",
                        json_string(won || lost
                                        ? cell(pipe, r, "close_value")
                                        : json_string_value(json_object_get(product, "price"))));
    if (lost)
        json_object_set_new(d, "lost_reason", json_string("other"));
    if (*account) {
        assert_non_null(json_object_get(l->accounts, account));
        json_object_set(d, "account_id", json_object_get(l->accounts, account));
    }
    if (*engage)
        json_object_set_new(d, "created_at", json_sprintf("%sT00:00:00Z", engage));
    if (*close)
        json_object_set_new(d, "closed_at", json_sprintf("%sT00:00:00Z", close));
    return d;
}

static void load_opportunities(struct rp_test_app *t, const struct csv *pipe, struct loaded *l)
{
    json_t *ops = json_array();
    size_t n = 0;

    json_decref(call(t, "POST", "/api/v1/meta/objects/opportunity/fields",
                     "{\"name\": \"product_id\", \"type\": \"reference\", \"target\": \"product\","
                     " \"label\": {\"en\": \"Product\", \"zh\": \"产品\"}}",
                     201));
    for (size_t r = 1; r < pipe->nrows; r++) {
        json_array_append_new(
            ops, json_pack("{ssso}", "op", "create", "data", opportunity_data(pipe, r, l)));
        if (json_array_size(ops) == BATCH || r + 1 == pipe->nrows) {
            n += json_array_size(ops);
            batch(t, "opportunity", ops, NULL);
            ops = json_array();
        }
    }
    json_decref(ops);
    assert_int_equal(n, N_OPPS);
}

/* ---- the comparison ---- */

static json_t *kpi_as(struct rp_test_app *t, const char *token, const char *query)
{
    char target[256];
    json_t *j, *data;

    snprintf(target, sizeof(target), "/api/v1/kpis/%s", query);
    j = call_as(t, token, "GET", target, NULL, 200);
    data = json_incref(json_object_get(j, "data"));
    json_decref(j);
    return data;
}

static double num(const json_t *point, const char *key)
{
    const json_t *v = json_object_get(point, key);
    if (!json_is_number(v))
        fail_msg("no number %s", key);
    return json_number_value(v);
}

static void check_totals(struct rp_test_app *t, const char *token, const struct expected *e,
                         const char *who)
{
    json_t *d;
    const json_t *p;

    d = kpi_as(t, token, "win_rate");
    assert_int_equal(json_array_size(d), 1);
    p = json_array_get(d, 0);
    printf("%s win rate: CSV %ld/%ld = %.6f, KPI %.0f/%.0f = %.6f\n", who, e->won, e->won + e->lost,
           (double)e->won / (double)(e->won + e->lost), num(p, "numerator"), num(p, "denominator"),
           num(p, "value"));
    assert_int_equal((long)num(p, "numerator"), e->won);
    assert_int_equal((long)num(p, "denominator"), e->won + e->lost);
    assert_true(fabs(num(p, "value") - (double)e->won / (double)(e->won + e->lost)) < 1e-9);
    json_decref(d);

    d = kpi_as(t, token, "won_revenue");
    p = json_array_get(d, 0);
    printf("%s won revenue: CSV %lld, KPI %.4f (%ld deals)\n", who, e->won_revenue, num(p, "value"),
           (long)num(p, "count"));
    assert_true(num(p, "value") == (double)e->won_revenue);
    assert_int_equal((long)num(p, "count"), e->won);
    json_decref(d);

    d = kpi_as(t, token, "median_sales_cycle_days");
    p = json_array_get(d, 0);
    printf("%s median sales cycle: CSV %.1f days of %ld, KPI %.4f of %ld\n", who, e->median_cycle,
           e->ncycles, num(p, "value"), (long)num(p, "count"));
    assert_true(fabs(num(p, "value") - e->median_cycle) < 1e-9);
    assert_int_equal((long)num(p, "count"), e->ncycles);
    json_decref(d);
}

/* Won revenue per agent, grouped by owner_id, against the CSV's sums per agent. */
static void check_per_agent(struct rp_test_app *t, const struct csv *pipe, const struct loaded *l)
{
    json_t *d = kpi_as(t, t->token, "won_revenue?group=owner_id"), *want = json_object();
    const char *agent;
    const json_t *id;
    size_t i, checked = 0;
    const json_t *p;

    for (size_t r = 1; r < pipe->nrows; r++) {
        const char *a = cell(pipe, r, "sales_agent");
        if (strcmp(cell(pipe, r, "deal_stage"), "Won") != 0)
            continue;
        json_object_set_new(want, a,
                            json_integer(json_integer_value(json_object_get(want, a)) +
                                         atoll(cell(pipe, r, "close_value"))));
    }
    json_object_foreach(l->users, agent, id)
    {
        const json_t *sum = json_object_get(want, agent);
        const json_t *got = NULL;
        json_array_foreach(d, i, p)
        {
            if (json_equal(json_object_get(p, "group"), id))
                got = p;
        }
        if (!sum) { /* five agents have no deals */
            assert_null(got);
            continue;
        }
        assert_non_null(got);
        assert_true(num(got, "value") == (double)json_integer_value(sum));
        checked++;
    }
    assert_int_equal(json_array_size(d), checked);
    printf("won revenue per agent: %zu agents agree\n", checked);
    json_decref(want);
    json_decref(d);
}

/* The data's lost deals have a close_value of 0, so by amount every closed dollar was won. */
static void check_amounts(struct rp_test_app *t, const struct expected *e)
{
    json_t *d = kpi_as(t, t->token, "win_rate_amount");
    const json_t *p = json_array_get(d, 0);

    printf("win rate by amount: KPI %.4f / %.4f = %.6f (lost deals carry 0)\n", num(p, "numerator"),
           num(p, "denominator"), num(p, "value"));
    assert_true(num(p, "numerator") == (double)e->won_revenue);
    assert_true(num(p, "denominator") == (double)e->won_revenue);
    assert_int_equal((long)num(p, "count"), e->won + e->lost);
    json_decref(d);
}

/* Open deals per stage, valued at their product's list price (the import's choice). */
static void check_open_pipeline(struct rp_test_app *t, const struct csv *pipe,
                                const struct csv *products)
{
    static const char *const stages[][2] = {{"Engaging", "qualification"},
                                            {"Prospecting", "prospecting"}};
    json_t *d = kpi_as(t, t->token, "pipeline_by_stage");

    assert_int_equal(json_array_size(d), 2);
    for (size_t s = 0; s < 2; s++) {
        long long sum = 0;
        long n = 0;
        const json_t *p = NULL, *q;
        size_t i;
        for (size_t r = 1; r < pipe->nrows; r++) {
            if (strcmp(cell(pipe, r, "deal_stage"), stages[s][0]) != 0)
                continue;
            for (size_t k = 1; k < products->nrows; k++)
                if (same_product(cell(products, k, "product"), cell(pipe, r, "product")))
                    sum += atoll(cell(products, k, "sales_price"));
            n++;
        }
        json_array_foreach(d, i, q)
        {
            if (strcmp(json_string_value(json_object_get(q, "group")), stages[s][1]) == 0)
                p = q;
        }
        assert_non_null(p);
        printf("open pipeline %s: CSV %ld deals, %lld; KPI %ld deals, %.4f\n", stages[s][1], n, sum,
               (long)num(p, "count"), num(p, "value"));
        assert_int_equal((long)num(p, "count"), n);
        assert_true(num(p, "value") == (double)sum);
    }
    json_decref(d);
}

static void test_real_data(void **state)
{
    struct rp_test_app *t = *state;
    struct csv pipe, teams, products, accounts;
    struct loaded l = {json_object(), json_object(), json_object()};
    struct expected all, team;
    char mgr[128], mgr_id[40], body[128], target[160];
    json_t *j;

    csv_load(&pipe, "sales_pipeline.csv");
    csv_load(&teams, "sales_teams.csv");
    csv_load(&products, "products.csv");
    csv_load(&accounts, "accounts.csv");
    assert_int_equal(pipe.nrows - 1, N_OPPS);

    load_people(t, &teams, &l);
    load_products(t, &products, &l);
    load_accounts(t, &accounts, &l);
    load_opportunities(t, &pipe, &l);

    /* created_at kept the engage date */
    j = call(t, "GET",
             "/api/v1/records/opportunity?filter=name%20%3D%20%271C1I7A6R%27&fields=created_at,"
             "closed_at,amount,stage",
             NULL, 200);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "data"), 0), "created_at")),
                        "2016-10-20T00:00:00Z");
    json_decref(j);

    expect_from_csv(&pipe, NULL, NULL, &all);
    check_totals(t, t->token, &all, "all");
    check_per_agent(t, &pipe, &l);
    check_amounts(t, &all);
    check_open_pipeline(t, &pipe, &products);

    /* a manager sees their team's deals only (role hierarchy): Dustin Brinkmann's */
    rp_test_user(t, "dustin", "dustin-password-1", false, mgr, sizeof(mgr), mgr_id);
    snprintf(target, sizeof(target), "/api/v1/admin/users/%s", mgr_id);
    snprintf(body, sizeof(body), "{\"role\": \"mgr_dustin_brinkmann\"}");
    json_decref(call(t, "PATCH", target, body, 200));
    expect_from_csv(&pipe, "Dustin Brinkmann", &teams, &team);
    assert_true(team.won > 0 && team.won < all.won);
    check_totals(t, mgr, &team, "Dustin Brinkmann's team");

    json_decref(l.users);
    json_decref(l.products);
    json_decref(l.accounts);
    csv_free(&pipe);
    csv_free(&teams);
    csv_free(&products);
    csv_free(&accounts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_real_data, rp_test_app_setup, rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
