/* The shared test fixture; see test_app.h. */
#include "test_app.h"

#include <stdio.h>

void rp_test_app_open(struct rp_test_app *t)
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
    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rp_buf_init(&token, &a, 256);
    if (rp_app_open(&cfg, &t->app, &err) < 0 ||
        rp_auth_user_add(t->app->auth, "admin", "correct horse battery", "Admin", true, &u, &err) <
            0 ||
        rp_auth_token_create(t->app->auth, u.id, "tests", 0, &token, id, &err) < 0) {
        fprintf(stderr, "test fixture: %s\n", err.detail ? err.detail : "failed");
        abort();
    }
    snprintf(t->token, sizeof(t->token), "%s", token.data);
    snprintf(t->user_id, sizeof(t->user_id), "%s", u.id);
    rp_api_set_ready(t->app->api, true);
    rp_arena_release(&a);
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
    char auth[160];
    struct rp_http_pair headers[2];
    struct rp_http_dispatch in = {.method = method, .target = target, .headers = headers};
    struct rp_http_result res;
    int status;

    snprintf(auth, sizeof(auth), "Bearer %s", t->token);
    headers[in.nheaders].name = "Authorization";
    headers[in.nheaders++].value = auth;
    if (body) {
        headers[in.nheaders].name = "Content-Type";
        headers[in.nheaders++].value = "application/json";
        in.body = body;
        in.body_len = strlen(body);
    }
    if (rp_http_dispatch(t->app->router, &in, &res) < 0)
        return -1;
    status = res.status;
    if (out_body) {
        *out_body = malloc(res.body_len + 1);
        memcpy(*out_body, res.body, res.body_len);
        (*out_body)[res.body_len] = '\0';
    }
    rp_http_dispatch_release(&res);
    return status;
}
