/* The shared test fixture; see test_app.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_app.h"
#include "test_store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

/* any_store: on the store RP_TEST_STORE names; else on a private SQLite database */
static void open_app(struct rp_test_app *t, bool any_store, const char *admin_name)
{
    struct rp_app_config cfg = {.memory = true,
                                .fixed_clock = true,
                                .fixed_clock_ms = RP_TEST_NOW_MS,
                                .fast_passwords = true};
    struct rp_arena a;
    struct rp_error err;
    struct rp_user_info u;
    struct rp_buf token;
    char id[40];

    memset(t, 0, sizeof(*t));
    if (any_store)
        rp_test_store_target(&cfg.db, &cfg.memory);
    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rp_buf_init(&token, &a, 256);
    if (rp_app_open(&cfg, &t->app, &err) < 0 ||
        rp_auth_user_add(t->app->auth, "admin", "correct horse battery", admin_name, true, &u,
                         &err) < 0 ||
        rp_auth_token_create(t->app->auth, u.id, "tests", 0, &token, id, &err) < 0) {
        fprintf(stderr, "test fixture: %s\n", err.detail ? err.detail : "failed");
        abort();
    }
    snprintf(t->token, sizeof(t->token), "%s", token.data);
    snprintf(t->user_id, sizeof(t->user_id), "%s", u.id);
    rp_api_set_ready(t->app->api, true);
    rp_arena_release(&a);
}

void rp_test_app_open(struct rp_test_app *t)
{
    open_app(t, true, "Admin");
}

void rp_test_app_open_sqlite(struct rp_test_app *t, const char *admin_name)
{
    open_app(t, false, admin_name);
}

void rp_test_app_close(struct rp_test_app *t)
{
    rp_app_close(t->app);
    t->app = NULL;
}

int rp_test_app_setup(void **state)
{
    struct rp_test_app *t = rp_xcalloc(1, sizeof(*t));
    rp_test_app_open(t);
    *state = t;
    return 0;
}

int rp_test_app_teardown(void **state)
{
    rp_test_app_close(*state);
    free(*state);
    return 0;
}

int rp_test_request(struct rp_test_app *t, const char *method, const char *target, const char *body,
                    char **out_body)
{
    return rp_test_request_as(t, t->token, method, target, body, out_body);
}

int rp_test_request_as(struct rp_test_app *t, const char *token, const char *method,
                       const char *target, const char *body, char **out_body)
{
    char auth[160];
    struct rp_http_pair headers[2];
    struct rp_http_dispatch in = {.method = method, .target = target, .headers = headers};
    struct rp_http_result res;
    int status;

    if (token) {
        snprintf(auth, sizeof(auth), "Bearer %s", token);
        headers[in.nheaders].name = "Authorization";
        headers[in.nheaders++].value = auth;
    }
    if (body) {
        headers[in.nheaders].name = "Content-Type";
        headers[in.nheaders++].value = "application/json";
        in.body = body;
        in.body_len = strlen(body);
    }
    if (rp_http_dispatch(t->app->router, &in, &res) < 0)
        return -1;
    status = res.status;
    if (out_body)
        *out_body = rp_xstrndup(res.body, res.body_len);
    rp_http_dispatch_release(&res);
    return status;
}

void rp_test_user(struct rp_test_app *t, const char *username, const char *password, bool admin,
                  char *token, size_t n, char *user_id)
{
    struct rp_arena a;
    struct rp_error err;
    struct rp_user_info u;
    struct rp_buf tok;
    char id[40];

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rp_buf_init(&tok, &a, 256);
    if (rp_auth_user_add(t->app->auth, username, password, NULL, admin, &u, &err) < 0 ||
        rp_auth_token_create(t->app->auth, u.id, username, 0, &tok, id, &err) < 0) {
        fprintf(stderr, "test user %s: %s\n", username, err.detail ? err.detail : "failed");
        abort();
    }
    snprintf(token, n, "%s", tok.data);
    if (user_id)
        snprintf(user_id, 40, "%s", u.id);
    rp_arena_release(&a);
}

void rp_test_create(struct rp_test_app *t, const char *object, const char *json, char *id)
{
    char target[128], *body = NULL;
    json_t *j;
    int status;

    snprintf(target, sizeof(target), "/api/v1/records/%s", object);
    status = rp_test_request(t, "POST", target, json, &body);
    j = status == 201 ? json_loads(body, 0, NULL) : NULL;
    if (!json_is_string(json_object_get(j, "id"))) {
        fprintf(stderr, "create %s: %d %s\n", object, status, body ? body : "");
        abort();
    }
    snprintf(id, 40, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    free(body);
}

struct rp_meta *rp_test_catalogue(void)
{
    struct rp_arena a;
    struct rp_error err;
    struct rp_meta *m = NULL;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    if (rp_meta_build(rp_meta_catalogue(), NULL, 0, RP_TEST_NOW_MS, &m, &err) < 0) {
        fprintf(stderr, "catalogue: %s\n", err.detail ? err.detail : "failed");
        abort();
    }
    rp_arena_release(&a);
    return m;
}

json_t *rp_test_call_as(struct rp_test_app *t, const char *token, const char *method,
                        const char *target, const char *body, int expect)
{
    char *out = NULL;
    int status = rp_test_request_as(t, token, method, target, body, &out);
    json_t *j;

    if (status != expect)
        fprintf(stderr, "%s %s: %d %s\n", method, target, status, out ? out : "");
    assert_int_equal(status, expect);
    j = out && *out ? json_loads(out, 0, NULL) : NULL;
    free(out);
    return j ? j : json_object();
}

json_t *rp_test_call(struct rp_test_app *t, const char *method, const char *target,
                     const char *body, int expect)
{
    return rp_test_call_as(t, t->token, method, target, body, expect);
}

size_t rp_test_settle(struct rp_test_app *t)
{
    struct rp_error err;
    size_t rules = 0, hooks = 0, clocks = 0, ran = 0, total = 0;

    rp_error_init(&err, NULL);
    do {
        assert_int_equal(rp_automation_dispatch(t->app->automation, &rules, &err), 0);
        assert_int_equal(rp_webhook_dispatch(t->app->automation, &hooks, &err), 0);
        assert_int_equal(rp_sla_dispatch(t->app->automation, &clocks, &err), 0);
        assert_int_equal(rp_jobs_run_due(t->app->jobs, 1000, &ran, &err), 0);
        total += ran;
    } while (rules || hooks || clocks || ran);
    return total;
}

const char *rp_test_str(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}
