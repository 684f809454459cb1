/* Hostile and malformed input through the real router: sizes, encodings, nesting, concurrency. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>

#include "base/limits.h"
#include "test_app.h"

static int send_raw(struct rp_test_app *t, const char *method, const char *target,
                    const char *ctype, const char *body, size_t len, char **out)
{
    char auth[160];
    struct rp_http_pair h[2] = {{"Authorization", auth}, {"Content-Type", ctype}};
    struct rp_http_dispatch in = {method, target, h, ctype ? 2 : 1, body, len};
    struct rp_http_result res;
    int status;

    snprintf(auth, sizeof(auth), "Bearer %s", t->token);
    assert_int_equal(rp_http_dispatch(t->app->router, &in, &res), 0);
    status = res.status;
    if (out) {
        *out = malloc(res.body_len + 1);
        memcpy(*out, res.body, res.body_len);
        (*out)[res.body_len] = '\0';
    }
    rp_http_dispatch_release(&res);
    return status;
}

static const char *problem_code(const char *body, char *buf, size_t n)
{
    json_t *j = json_loads(body, 0, NULL);
    snprintf(buf, n, "%s", j ? json_string_value(json_object_get(j, "code")) : "(not json)");
    json_decref(j);
    return buf;
}

static void test_oversized_body_is_413(void **state)
{
    struct rp_test_app *t = *state;
    size_t n = RP_LIMIT_BODY_BYTES + 10;
    char *big = malloc(n), *out, code[64];

    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    assert_int_equal(
        send_raw(t, "POST", "/api/v1/records/account", "application/json", big, n, &out), 413);
    assert_string_equal(problem_code(out, code, sizeof(code)), "payload_too_large");
    free(out);
    free(big);
}

static void test_non_utf8_and_nul(void **state)
{
    struct rp_test_app *t = *state;
    const char bad_utf8[] = "{\"name\":\"\xff\xfe\"}";
    const char nul[] = "{\"name\":\"a\\u0000b\"}";
    char *out, code[64];

    assert_int_equal(send_raw(t, "POST", "/api/v1/records/account", "application/json", bad_utf8,
                              sizeof(bad_utf8) - 1, &out),
                     400);
    assert_string_equal(problem_code(out, code, sizeof(code)), "invalid_request");
    free(out);
    assert_int_equal(send_raw(t, "POST", "/api/v1/records/account", "application/json", nul,
                              sizeof(nul) - 1, &out),
                     422);
    free(out);
    /* Invalid UTF-8 in the query string. */
    assert_int_equal(send_raw(t, "GET", "/api/v1/records/account?q=%FF%FE", NULL, NULL, 0, &out),
                     400);
    free(out);
}

static void test_deep_json_is_rejected(void **state)
{
    struct rp_test_app *t = *state;
    char body[512], *out;
    size_t n = 0;

    n += (size_t)snprintf(body + n, sizeof(body) - n, "{\"name\":");
    for (int i = 0; i < 40; i++)
        body[n++] = '[';
    for (int i = 0; i < 40; i++)
        body[n++] = ']';
    body[n++] = '}';
    assert_int_equal(
        send_raw(t, "POST", "/api/v1/records/account", "application/json", body, n, &out), 413);
    free(out);
}

static void test_huge_and_hostile_parameters(void **state)
{
    struct rp_test_app *t = *state;
    char target[8192], *out;

    assert_int_equal(send_raw(t, "GET", "/api/v1/records/account?limit=99999999999999999999", NULL,
                              NULL, 0, &out),
                     400);
    free(out);
    snprintf(target, sizeof(target), "/api/v1/records/account?filter=");
    for (size_t i = strlen(target); i < 6000; i++)
        target[i] = '(';
    target[6000] = '\0';
    assert_int_equal(send_raw(t, "GET", target, NULL, NULL, 0, &out), 400);
    free(out);
    assert_int_equal(
        send_raw(t, "GET",
                 "/api/v1/records/account?filter=name%20%3D%20%27x%27%3B%20DROP%20TABLE%20account",
                 NULL, NULL, 0, &out),
        400);
    free(out);
    assert_int_equal(send_raw(t, "GET", "/api/v1/records/account", NULL, NULL, 0, &out), 200);
    free(out);
}

/* Many concurrent requests with one Idempotency-Key create exactly one record. */
struct idem_arg {
    struct rp_test_app *t;
    int status;
};

static void *idem_worker(void *p)
{
    struct idem_arg *a = p;
    char auth[160];
    const char *body = "{\"name\":\"Once Only Ltd\"}";
    struct rp_http_pair h[3] = {{"Authorization", auth},
                                {"Content-Type", "application/json"},
                                {"Idempotency-Key", "same-key"}};
    struct rp_http_dispatch in = {"POST", "/api/v1/records/account", h, 3, body, strlen(body)};
    struct rp_http_result res;

    snprintf(auth, sizeof(auth), "Bearer %s", a->t->token);
    if (rp_http_dispatch(a->t->app->router, &in, &res) == 0) {
        a->status = res.status;
        rp_http_dispatch_release(&res);
    }
    return NULL;
}

static void test_idempotency_under_concurrency(void **state)
{
    struct rp_test_app *t = *state;
    pthread_t th[8];
    struct idem_arg args[8];
    char *out;
    json_t *j;

    for (int i = 0; i < 8; i++) {
        args[i].t = t;
        args[i].status = 0;
        pthread_create(&th[i], NULL, idem_worker, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].status, 201);
    }
    assert_int_equal(rp_test_request(t, "GET", "/api/v1/records/account?count=true", NULL, &out),
                     200);
    j = json_loads(out, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "total"), "count")), 1);
    json_decref(j);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_oversized_body_is_413, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_non_utf8_and_nul, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_deep_json_is_rejected, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_huge_and_hostile_parameters, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_idempotency_under_concurrency, rp_test_app_setup,
                                        rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
