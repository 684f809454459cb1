/*
 * Lead scoring through the HTTP API: rule points and clamping, recomputation when a lead
 * changes and when a touchpoint of it is written (without the score write feeding itself),
 * decay under the fake clock and the daily recompute job, the explanation, invalid models and
 * callers without manage_metadata; the learned model trained on a synthetic history (an
 * informative feature gives a high AUC, a random one about 0.5); and the AUC itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sales/sales.h"
#include "test_app.h"

#define DAY_MS (INT64_C(86400) * 1000)

static json_t *call(struct rp_test_app *t, const char *method, const char *target, const char *body,
                    int expect)
{
    char *out = NULL;
    int status = rp_test_request(t, method, target, body, &out);
    json_t *j;

    if (status != expect)
        fprintf(stderr, "%s %s: %d %s\n", method, target, status, out ? out : "");
    assert_int_equal(status, expect);
    j = out && *out ? json_loads(out, 0, NULL) : json_object();
    free(out);
    return j ? j : json_object();
}

static json_t *get_lead(struct rp_test_app *t, const char *id)
{
    char target[160];
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s", id);
    return call(t, "GET", target, NULL, 200);
}

static double score_of(struct rp_test_app *t, const char *id)
{
    json_t *j = get_lead(t, id);
    double s = json_is_number(json_object_get(j, "score"))
                   ? json_number_value(json_object_get(j, "score"))
                   : -1;
    json_decref(j);
    return s;
}

static json_int_t version_of(struct rp_test_app *t, const char *id)
{
    json_t *j = get_lead(t, id);
    json_int_t v = json_integer_value(json_object_get(j, "version"));
    json_decref(j);
    return v;
}

static void patch_lead(struct rp_test_app *t, const char *id, const char *body)
{
    char target[160];
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s", id);
    json_decref(call(t, "PATCH", target, body, 200));
}

static void put_model(struct rp_test_app *t, const char *name, const char *def)
{
    char target[160];
    json_t *j;

    snprintf(target, sizeof(target), "/api/v1/definitions/scoring-models/%s", name);
    j = call(t, "PUT", target, def, 201);
    json_decref(j);
}

static void put_model_again(struct rp_test_app *t, const char *name, const char *def)
{
    char target[160];

    snprintf(target, sizeof(target), "/api/v1/definitions/scoring-models/%s", name);
    json_decref(call(t, "PUT", target, def, 200));
}

static void touch(struct rp_test_app *t, const char *lead, const char *type, const char *at)
{
    char body[256], id[40];
    snprintf(body, sizeof(body), "{\"lead_id\": \"%s\", \"type\": \"%s\", \"occurred_at\": \"%s\"}",
             lead, type, at);
    rp_test_create(t, "touchpoint", body, id);
}

#define RULES                                                                                   \
    "{\"object\": \"lead\", \"field\": \"score\", \"max\": 30, \"rules\": ["                    \
    "{\"name\": \"big company\", \"category\": \"profile\", \"condition\": \"employees >= "     \
    "500\", \"points\": 20},"                                                                   \
    "{\"name\": \"from referral\", \"category\": \"channel\", \"condition\": \"source = "       \
    "'referral'\", \"points\": 15},"                                                            \
    "{\"name\": \"do not call\", \"category\": \"profile\", \"condition\": \"do_not_call = "    \
    "true\", \"points\": -50},"                                                                 \
    "{\"name\": \"opened an email\", \"category\": \"behaviour\", \"touchpoint\": \"opened\", " \
    "\"points\": 4, \"decay_days\": 30, \"max_points\": 10}]}"

static void test_rule_points_and_clamping(void **state)
{
    struct rp_test_app *t = *state;
    char a[40], b[40], c[40], d[40];

    put_model(t, "basic", RULES);
    rp_test_create(t, "lead", "{\"last_name\": \"A\", \"employees\": 800}", a);
    rp_test_create(t, "lead",
                   "{\"last_name\": \"B\", \"employees\": 800, \"source\": \"referral\"}", b);
    rp_test_create(t, "lead",
                   "{\"last_name\": \"C\", \"source\": \"referral\", \"do_not_call\": true}", c);
    rp_test_create(t, "lead", "{\"last_name\": \"D\", \"employees\": 5}", d);
    assert_true(score_of(t, a) == 20);
    assert_true(score_of(t, b) == 30); /* 35, clamped to max */
    assert_true(score_of(t, c) == 0);  /* -35, clamped to 0 */
    assert_true(score_of(t, d) == 0);
    {
        /* the score the create's hook wrote follows the create in the change feed */
        json_t *j =
            rp_test_call(t, "GET", "/api/v1/changes?after=0&limit=1000&objects=lead", NULL, 200);
        json_t *e;
        size_t i;
        const char *first = NULL;
        bool scored = false;

        json_array_foreach(json_object_get(j, "data"), i, e)
        {
            if (strcmp(json_string_value(json_object_get(e, "id")), a) != 0)
                continue;
            if (!first)
                first = json_string_value(json_object_get(e, "op"));
            scored = scored || json_object_get(json_object_get(e, "changes"), "score");
        }
        assert_non_null(first);
        assert_string_equal(first, "create");
        assert_true(scored);
        json_decref(j);
    }
}

static void test_recompute_on_change_and_touchpoint(void **state)
{
    struct rp_test_app *t = *state;
    char lead[40];
    json_int_t v;

    put_model(t, "basic", RULES);
    rp_test_create(t, "lead", "{\"last_name\": \"Zhao\", \"employees\": 10}", lead);
    assert_true(score_of(t, lead) == 0);

    /* a change the score depends on: the lead's write plus one score write */
    v = version_of(t, lead);
    patch_lead(t, lead, "{\"employees\": 600}");
    assert_true(score_of(t, lead) == 20);
    assert_int_equal(version_of(t, lead), v + 2);

    /* a change that leaves the score alone: only the lead's write, nothing loops */
    v = version_of(t, lead);
    patch_lead(t, lead, "{\"title\": \"CTO\"}");
    assert_int_equal(version_of(t, lead), v + 1);

    /* a score written by hand: only that write; it does not trigger a recompute of itself */
    v = version_of(t, lead);
    patch_lead(t, lead, "{\"score\": 7}");
    assert_int_equal(version_of(t, lead), v + 1);
    assert_true(score_of(t, lead) == 7);

    /* touchpoints of the lead: 4 points each (fresh), capped at 10 */
    touch(t, lead, "opened", "2026-11-22T08:00:00Z");
    assert_true(score_of(t, lead) == 24);
    touch(t, lead, "opened", "2026-11-22T08:00:00Z");
    assert_true(score_of(t, lead) == 28);
    touch(t, lead, "opened", "2026-11-22T08:00:00Z");
    assert_true(score_of(t, lead) == 30); /* 20 + min(12, 10) = 30 */
    /* a touchpoint of another type counts no points (the lead's click counter moves: one write) */
    v = version_of(t, lead);
    touch(t, lead, "clicked", "2026-11-22T08:00:00Z");
    assert_int_equal(version_of(t, lead), v + 1);
    assert_true(score_of(t, lead) == 30);
}

static void test_decay_and_daily_recompute(void **state)
{
    struct rp_test_app *t = *state;
    struct rp_error err;
    char lead[40];
    size_t ran = 0;

    put_model(t, "decaying",
              "{\"object\": \"lead\", \"field\": \"score\", \"rules\": [{\"name\": \"opened\", "
              "\"category\": \"behaviour\", \"touchpoint\": \"opened\", \"points\": 10, "
              "\"decay_days\": 30}, {\"name\": \"clicked\", \"category\": \"behaviour\", "
              "\"touchpoint\": \"clicked\", \"points\": 8, \"decay_days\": 10, \"decay\": "
              "\"exponential\"}]}");
    rp_test_create(t, "lead", "{\"last_name\": \"Qian\"}", lead);
    touch(t, lead, "opened", "2026-11-22T08:00:00Z");
    touch(t, lead, "clicked", "2026-11-22T08:00:00Z");
    assert_true(score_of(t, lead) == 18);

    /* 10 days on: opened 10 × (1 − 10/30), clicked 8 × 2^−1 */
    rp_error_init(&err, NULL);
    rp_clock_advance(&t->app->clock, 10 * DAY_MS);
    assert_true(score_of(t, lead) == 18); /* nothing recomputed yet */
    rp_app_maintain(t->app);
    assert_int_equal(rp_jobs_run_due(t->app->jobs, 10, &ran, &err), 0);
    assert_int_equal(ran, 3); /* the hour's retention run, the day's quote expiry and recompute */
    assert_true(fabs(score_of(t, lead) - 10.67) < 1e-9);
    /* the same day again: the job is not queued twice */
    rp_app_maintain(t->app);
    assert_int_equal(rp_jobs_run_due(t->app->jobs, 10, &ran, &err), 0);
    assert_int_equal(ran, 0);

    /* 40 days on: the opened email is worth nothing, the click 8 × 2^−4 */
    rp_clock_advance(&t->app->clock, 30 * DAY_MS);
    rp_app_maintain(t->app);
    assert_int_equal(rp_jobs_run_due(t->app->jobs, 10, &ran, &err), 0);
    assert_int_equal(ran, 3); /* the new day's retention run, quote expiry and recompute */
    assert_true(score_of(t, lead) == 0.5);
}

static const json_t *contribution(const json_t *list, const char *rule)
{
    size_t i;
    const json_t *c;

    json_array_foreach(list, i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "rule")), rule) == 0)
            return c;
    }
    return NULL;
}

static void test_explanation(void **state)
{
    struct rp_test_app *t = *state;
    char lead[40], target[160];
    const json_t *list, *c;
    json_t *j;

    put_model(t, "basic", RULES);
    rp_test_create(t, "lead",
                   "{\"last_name\": \"Sun\", \"employees\": 900, \"source\": \"referral\"}", lead);
    touch(t, lead, "opened", "2026-11-22T08:00:00Z");
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s/score", lead);
    j = call(t, "GET", target, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(j, "model")), "basic");
    assert_true(json_number_value(json_object_get(j, "score")) == 30);
    assert_string_equal(json_string_value(json_object_get(j, "computed_at")),
                        "2026-11-22T08:00:00Z");
    list = json_object_get(j, "contributions");
    assert_int_equal(json_array_size(list), 3); /* rules that gave nothing are not listed */
    assert_non_null(c = contribution(list, "big company"));
    assert_string_equal(json_string_value(json_object_get(c, "category")), "profile");
    assert_true(json_number_value(json_object_get(c, "points")) == 20);
    assert_string_equal(json_string_value(json_object_get(c, "detail")), "employees >= 500");
    assert_non_null(c = contribution(list, "from referral"));
    assert_string_equal(json_string_value(json_object_get(c, "category")), "channel");
    assert_non_null(c = contribution(list, "opened an email"));
    assert_string_equal(json_string_value(json_object_get(c, "category")), "behaviour");
    assert_true(json_number_value(json_object_get(c, "points")) == 4);
    assert_non_null(strstr(json_string_value(json_object_get(c, "detail")), "1 opened"));
    assert_null(contribution(list, "do not call"));
    json_decref(j);

    /* unknown records and models */
    json_decref(call(t, "GET", "/api/v1/records/lead/0190d9f0-0000-7000-8000-000000000000/score",
                     NULL, 404));
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s/score?model=nope", lead);
    json_decref(call(t, "GET", target, NULL, 404));
}

static void test_invalid_models(void **state)
{
    struct rp_test_app *t = *state;
    static const char *const bad[] = {
        "{\"object\": \"lead\", \"field\": \"score\", \"rules\": []}",
        "{\"object\": \"nope\", \"field\": \"score\", \"rules\": [{\"name\": \"a\", "
        "\"category\": \"profile\", \"condition\": \"employees > 1\", \"points\": 1}]}",
        "{\"object\": \"lead\", \"field\": \"company\", \"rules\": [{\"name\": \"a\", "
        "\"category\": \"profile\", \"condition\": \"employees > 1\", \"points\": 1}]}",
        "{\"object\": \"lead\", \"field\": \"score\", \"rules\": [{\"name\": \"a\", "
        "\"category\": \"profile\", \"condition\": \"employees >\", \"points\": 1}]}",
        "{\"object\": \"lead\", \"field\": \"score\", \"rules\": [{\"name\": \"a\", "
        "\"category\": \"profile\", \"condition\": \"employees + 1\", \"points\": 1}]}",
        "{\"object\": \"lead\", \"field\": \"score\", \"rules\": [{\"name\": \"a\", "
        "\"category\": \"mood\", \"condition\": \"employees > 1\", \"points\": 1}]}",
        "{\"object\": \"lead\", \"field\": \"score\", \"rules\": [{\"name\": \"a\", "
        "\"category\": \"behaviour\", \"touchpoint\": \"teleported\", \"points\": 1}]}",
        "{\"object\": \"lead\", \"field\": \"score\", \"rules\": [{\"name\": \"a\", "
        "\"category\": \"behaviour\", \"touchpoint\": \"opened\", \"points\": 1, "
        "\"decay_days\": -3}]}",
        "{\"object\": \"lead\", \"field\": \"score\", \"rules\": [{\"name\": \"a\", "
        "\"category\": \"profile\", \"points\": 1}]}",
        "{\"object\": \"lead\", \"field\": \"score\", \"extra\": 1, \"rules\": [{\"name\": \"a\", "
        "\"category\": \"profile\", \"condition\": \"employees > 1\", \"points\": 1}]}",
        "{\"object\": \"lead\", \"field\": \"score\", \"kind\": \"learned\", \"label\": "
        "{\"positive\": \"status = 'converted'\"}, \"features\": [{\"field\": \"source\", "
        "\"type\": \"category\"}]}",
        "{\"object\": \"lead\", \"field\": \"score\", \"kind\": \"learned\", \"label\": "
        "{\"positive\": \"status = 'converted'\", \"negative\": \"status = 'disqualified'\"}, "
        "\"features\": [{\"field\": \"source\", \"type\": \"number\"}]}",
        "{\"object\": \"lead\", \"field\": \"score\", \"kind\": \"learned\", \"label\": "
        "{\"positive\": \"status = 'converted'\", \"negative\": \"status = 'disqualified'\"}, "
        "\"features\": [{\"field\": \"score\", \"type\": \"number\"}]}",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *out = NULL;
        int status =
            rp_test_request(t, "PUT", "/api/v1/definitions/scoring-models/bad", bad[i], &out);
        if (status != 422)
            fprintf(stderr, "model %zu: %d %s\n", i, status, out ? out : "");
        assert_int_equal(status, 422);
        free(out);
    }
}

static void test_forbidden_without_manage_metadata(void **state)
{
    struct rp_test_app *t = *state;
    char tok[128], *out = NULL;

    rp_test_user(t, "rep", "rep-password", false, tok, sizeof(tok), NULL);
    assert_int_equal(
        rp_test_request_as(t, tok, "PUT", "/api/v1/definitions/scoring-models/basic", RULES, &out),
        403);
    free(out);
    out = NULL;
    put_model(t, "basic", RULES);
    assert_int_equal(rp_test_request_as(t, tok, "POST", "/api/v1/scoring/basic/train", NULL, &out),
                     403);
    free(out);
}

static void test_explanation_respects_field_security(void **state)
{
    struct rp_test_app *t = *state;
    char lead[40], target[160], tok[128], uid[40], *out = NULL;
    json_t *j;
    const json_t *c;

    put_model(t, "basic", RULES);
    rp_test_create(t, "lead",
                   "{\"last_name\": \"Li\", \"employees\": 900, \"source\": \"referral\"}", lead);
    rp_test_user(t, "rep", "rep-password", false, tok, sizeof(tok), uid);
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s/score", lead);

    /* employees hidden: the rule reading it keeps its points, not its detail */
    json_decref(call(t, "PUT", "/api/v1/admin/permission-sets/no_size",
                     "{\"label\": \"No size\", \"definition\": {\"objects\": {\"*\": {\"read\": "
                     "true, \"create\": true, \"edit\": true, \"delete\": true}, \"lead\": "
                     "{\"read\": true, \"create\": true, \"edit\": true, \"delete\": true, "
                     "\"fields\": {\"employees\": \"none\"}}}}}",
                     201));
    snprintf(target, sizeof(target), "/api/v1/admin/users/%s", uid);
    json_decref(call(t, "PATCH", target, "{\"permission_sets\": [\"no_size\"]}", 200));
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s/score", lead);
    assert_int_equal(rp_test_request_as(t, tok, "GET", target, NULL, &out), 200);
    j = json_loads(out, 0, NULL);
    free(out);
    out = NULL;
    c = contribution(json_object_get(j, "contributions"), "big company");
    assert_non_null(c);
    assert_null(strstr(json_string_value(json_object_get(c, "detail")), "employees"));
    c = contribution(json_object_get(j, "contributions"), "from referral");
    assert_string_equal(json_string_value(json_object_get(c, "detail")), "source = 'referral'");
    json_decref(j);

    /* the score itself hidden: 403 */
    json_decref(call(t, "PUT", "/api/v1/admin/permission-sets/no_score",
                     "{\"label\": \"No score\", \"definition\": {\"objects\": {\"*\": {\"read\": "
                     "true}, \"lead\": {\"read\": true, \"fields\": {\"score\": \"none\"}}}}}",
                     201));
    snprintf(target, sizeof(target), "/api/v1/admin/users/%s", uid);
    json_decref(call(t, "PATCH", target, "{\"permission_sets\": [\"no_score\"]}", 200));
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s/score", lead);
    assert_int_equal(rp_test_request_as(t, tok, "GET", target, NULL, &out), 403);
    free(out);
}

static void test_touchpoint_delete_rescores(void **state)
{
    struct rp_test_app *t = *state;
    char lead[40], tp[40], body[256], target[160];

    put_model(t, "basic", RULES);
    rp_test_create(t, "lead", "{\"last_name\": \"Zhou\"}", lead);
    snprintf(body, sizeof(body),
             "{\"lead_id\": \"%s\", \"type\": \"opened\", \"occurred_at\": "
             "\"2026-11-22T08:00:00Z\"}",
             lead);
    rp_test_create(t, "touchpoint", body, tp);
    assert_true(score_of(t, lead) == 4);
    snprintf(target, sizeof(target), "/api/v1/records/touchpoint/%s", tp);
    json_decref(call(t, "DELETE", target, NULL, 200));
    assert_true(score_of(t, lead) == 0);
}

static void test_new_model_reaches_older_records(void **state)
{
    struct rp_test_app *t = *state;
    char a[40], b[40], tok[128], *out = NULL;
    struct rp_error err;
    size_t ran = 0;
    json_t *j;

    rp_test_create(t, "lead", "{\"last_name\": \"Old\", \"employees\": 700}", a);
    rp_test_create(t, "lead", "{\"last_name\": \"Older\", \"source\": \"referral\"}", b);
    put_model(t, "basic", RULES);
    assert_true(score_of(t, a) == -1); /* not scored yet: null */

    /* at once, on request (manage_metadata) */
    rp_test_user(t, "rep", "rep-password", false, tok, sizeof(tok), NULL);
    assert_int_equal(
        rp_test_request_as(t, tok, "POST", "/api/v1/scoring/basic/recompute", NULL, &out), 403);
    free(out);
    j = call(t, "POST", "/api/v1/scoring/basic/recompute", NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "updated")), 2);
    json_decref(j);
    assert_true(score_of(t, a) == 20);
    assert_true(score_of(t, b) == 15);
    j = call(t, "POST", "/api/v1/scoring/basic/recompute", NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "updated")), 0); /* nothing changed */
    json_decref(j);
    json_decref(call(t, "POST", "/api/v1/scoring/nope/recompute", NULL, 404));

    /* or with the daily job: a changed model reaches every record */
    put_model_again(t, "basic",
                    "{\"object\": \"lead\", \"field\": \"score\", \"rules\": "
                    "[{\"name\": \"anyone\", \"category\": \"fit\", \"condition\": "
                    "\"last_name is not null\", \"points\": 3}]}");
    rp_error_init(&err, NULL);
    rp_app_maintain(t->app);
    assert_int_equal(rp_jobs_run_due(t->app->jobs, 10, &ran, &err), 0);
    assert_true(score_of(t, a) == 3);
    assert_true(score_of(t, b) == 3);
}

/* ---- the learned model ---- */

/* splitmix64: every draw independent enough that the city carries nothing about the label */
static uint32_t draw(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/*
 * n leads, half converted and half disqualified. The industry tells the outcome 95% of the
 * time; the city is drawn independently of it.
 */
static void make_history(struct rp_test_app *t, size_t n)
{
    static const char *const good[] = {"software", "technology", "financial_services"};
    static const char *const poor[] = {"retail", "agriculture", "hospitality"};
    static const char *const cities[] = {"Beijing", "Shanghai", "Hangzhou", "Shenzhen",
                                         "Chengdu", "Wuhan",    "Xi'an",    "Nanjing"};
    uint64_t seed = 42;
    size_t done = 0;

    while (done < n) {
        json_t *ops = json_array(), *req;
        char *text, *out = NULL;
        for (size_t i = 0; i < 500 && done < n; i++, done++) {
            bool converted = done % 2 == 0;
            bool tells = draw(&seed) % 100 < 95;
            const char *industry =
                (converted == tells) ? good[draw(&seed) % 3] : poor[draw(&seed) % 3];
            json_t *data =
                json_pack("{sssssssf}", "last_name", "L", "industry", industry, "city",
                          cities[draw(&seed) % 8], "employees", (double)(draw(&seed) % 1000));
            if (converted)
                json_object_set_new(data, "status", json_string("converted"));
            else {
                json_object_set_new(data, "status", json_string("disqualified"));
                json_object_set_new(data, "disqualified_reason", json_string("no_need"));
            }
            json_array_append_new(ops, json_pack("{sssO}", "op", "create", "data", data));
            json_decref(data);
        }
        req = json_pack("{sbso}", "atomic", 1, "operations", ops);
        text = json_dumps(req, JSON_COMPACT);
        assert_int_equal(rp_test_request(t, "POST", "/api/v1/records/lead/batch", text, &out), 200);
        free(out);
        free(text);
        json_decref(req);
    }
}

static void show(const char *what, const json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    fprintf(stderr, "%s: %s\n", what, text);
    free(text);
}

static void test_learned_model(void **state)
{
    struct rp_test_app *t = *state;
    char lead[40], target[160];
    json_t *j;
    const json_t *list;

    make_history(t, 1000);
    put_model(t, "fit",
              "{\"object\": \"lead\", \"field\": \"score\", \"kind\": \"learned\", \"label\": "
              "{\"positive\": \"status = 'converted'\", \"negative\": \"status = "
              "'disqualified'\"}, \"features\": [{\"field\": \"industry\", \"type\": "
              "\"category\"}, {\"field\": \"employees\", \"type\": \"number\", \"transform\": "
              "\"log1p\"}]}");
    /* before training there is no score to explain */
    rp_test_create(t, "lead", "{\"last_name\": \"New\", \"industry\": \"software\"}", lead);
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s/score", lead);
    json_decref(call(t, "GET", target, NULL, 404));

    j = call(t, "POST", "/api/v1/scoring/fit/train", NULL, 200);
    show("informative", j);
    assert_true(json_integer_value(json_object_get(j, "rows")) > 700);
    assert_true(json_integer_value(json_object_get(j, "positives")) > 300);
    assert_true(json_number_value(json_object_get(j, "auc")) > 0.8);
    assert_non_null(json_object_get(j, "trained_at"));
    json_decref(j);

    /* the new software lead scores high, and its explanation names the features */
    assert_true(score_of(t, lead) > 60);
    j = call(t, "GET", target, NULL, 200);
    list = json_object_get(j, "contributions");
    assert_int_equal(json_array_size(list), 2);
    assert_non_null(contribution(list, "industry"));
    assert_non_null(contribution(list, "employees"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "rule")),
                        "industry"); /* the largest contribution first */
    json_decref(j);

    /* a feature that carries no information: about 0.5 */
    put_model(t, "noise",
              "{\"object\": \"lead\", \"field\": \"score\", \"kind\": \"learned\", \"label\": "
              "{\"positive\": \"status = 'converted'\", \"negative\": \"status = "
              "'disqualified'\"}, \"features\": [{\"field\": \"city\", \"type\": "
              "\"category\"}]}");
    j = call(t, "POST", "/api/v1/scoring/noise/train", NULL, 200);
    show("noise", j);
    assert_true(json_number_value(json_object_get(j, "auc")) > 0.35);
    assert_true(json_number_value(json_object_get(j, "auc")) < 0.65);
    json_decref(j);

    /* a rules model does not train; an unknown one is 404 */
    put_model(t, "basic", RULES);
    json_decref(call(t, "POST", "/api/v1/scoring/basic/train", NULL, 422));
    json_decref(call(t, "POST", "/api/v1/scoring/nope/train", NULL, 404));
}

static void test_learned_needs_both_classes(void **state)
{
    struct rp_test_app *t = *state;
    char id[40];

    for (int i = 0; i < 20; i++)
        rp_test_create(t, "lead", "{\"last_name\": \"W\", \"status\": \"converted\"}", id);
    put_model(t, "fit",
              "{\"object\": \"lead\", \"field\": \"score\", \"kind\": \"learned\", \"label\": "
              "{\"positive\": \"status = 'converted'\", \"negative\": \"status = "
              "'disqualified'\"}, \"features\": [{\"field\": \"source\", \"type\": "
              "\"category\"}]}");
    json_decref(call(t, "POST", "/api/v1/scoring/fit/train", NULL, 422));
}

static void test_auc(void **state)
{
    const double perfect[] = {0.1, 0.2, 0.8, 0.9};
    const int labels[] = {0, 0, 1, 1};
    const int reversed[] = {1, 1, 0, 0};
    const double flat[] = {0.5, 0.5, 0.5, 0.5};
    const double tied[] = {0.5, 0.5, 0.9, 0.1};
    const int tied_labels[] = {1, 0, 1, 0};
    const int one_class[] = {1, 1, 1, 1};

    (void)state;
    assert_true(fabs(rp_sales_auc(perfect, labels, 4) - 1.0) < 1e-12);
    assert_true(fabs(rp_sales_auc(perfect, reversed, 4) - 0.0) < 1e-12);
    assert_true(fabs(rp_sales_auc(flat, labels, 4) - 0.5) < 1e-12);
    /* pairs: (0.5, 0.5) half, (0.5, 0.1), (0.9, 0.5), (0.9, 0.1) whole: 3.5 / 4 */
    assert_true(fabs(rp_sales_auc(tied, tied_labels, 4) - 0.875) < 1e-12);
    assert_true(isnan(rp_sales_auc(perfect, one_class, 4)));
    assert_true(isnan(rp_sales_auc(perfect, labels, 0)));
}

static void test_lr_primitives(void **state)
{
    /* a tiny table where "b" means positive and the number pushes up */
    static const struct rp_score_feature features[] = {{"kind", RP_SCORE_CATEGORY, false},
                                                       {"size", RP_SCORE_NUMBER, true}};
    const char *cells[40 * 2];
    char sizes[40][16];
    int labels[40];
    bool holdout[40];
    struct rp_score_data d = {features, 2, 40, cells, labels, holdout};
    struct rp_score_fit fit;
    struct rp_error err;
    json_t *model = NULL, *explain = json_array();
    const char *row_b[] = {"b", "100"}, *row_a[] = {"a", NULL};

    (void)state;
    for (int i = 0; i < 40; i++) {
        labels[i] = i % 2;
        cells[2 * i] = i % 2 ? (i % 7 ? "b" : "a") : (i % 5 ? "a" : "b");
        snprintf(sizes[i], sizeof(sizes[i]), "%d", labels[i] ? 50 + i : i);
        cells[2 * i + 1] = i % 9 == 0 ? NULL : sizes[i];
        holdout[i] = i % 5 == 0;
    }
    rp_error_init(&err, NULL);
    assert_int_equal(rp_sales_lr_train(&d, 1.0, &model, &fit, &err), 0);
    assert_int_equal(fit.rows, 32);
    assert_int_equal(fit.test_rows, 8);
    assert_true(rp_sales_lr_predict(model, row_b, explain, 5) >
                rp_sales_lr_predict(model, row_a, NULL, 0));
    assert_int_equal(json_array_size(explain), 2);
    assert_true(fit.auc > 0.8);
    json_decref(explain);
    json_decref(model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rule_points_and_clamping, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_recompute_on_change_and_touchpoint, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_decay_and_daily_recompute, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_explanation, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_explanation_respects_field_security, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_touchpoint_delete_rescores, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_new_model_reaches_older_records, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_models, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_forbidden_without_manage_metadata, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_learned_model, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_learned_needs_both_classes, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test(test_auc),
        cmocka_unit_test(test_lr_primitives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
