/*
 * /api/v1/auth through the real router, where the case files cannot reach:
 * the Set-Cookie value itself, session fixation, the lockout's growing
 * Retry-After under the fake clock, sessions of two users, and the audit
 * rows logins and token creation leave.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>

#include "base/log.h"
#include "test_app.h"

#define ADMIN_PW "correct horse battery"
#define MINUTE   (60 * INT64_C(1000))

struct resp {
    int status;
    char body[8192];
    char set_cookie[256];  /* "" when absent */
    char retry_after[32];  /* "" when absent */
    char cookie_token[64]; /* the rp_session value of set_cookie */
};

/* Sends a request with the given headers (NULL-terminated name, value list). */
static void call(struct rp_test_app *t, const char *method, const char *target, const char *body,
                 struct resp *r, ...)
{
    struct rp_http_pair h[8];
    struct rp_http_dispatch in = {.method = method, .target = target, .headers = h};
    struct rp_http_result res;
    const char *v;
    va_list ap;

    va_start(ap, r);
    while (in.nheaders < 7 && (h[in.nheaders].name = va_arg(ap, const char *)) != NULL)
        h[in.nheaders++].value = va_arg(ap, const char *);
    va_end(ap);
    if (body) {
        h[in.nheaders].name = "Content-Type";
        h[in.nheaders++].value = "application/json";
        in.body = body;
        in.body_len = strlen(body);
    }
    memset(r, 0, sizeof(*r));
    assert_int_equal(rp_http_dispatch(t->app->router, &in, &res), 0);
    r->status = res.status;
    snprintf(r->body, sizeof(r->body), "%.*s", (int)res.body_len, res.body);
    if ((v = rp_http_result_header(&res, "Set-Cookie")))
        snprintf(r->set_cookie, sizeof(r->set_cookie), "%s", v);
    if ((v = rp_http_result_header(&res, "Retry-After")))
        snprintf(r->retry_after, sizeof(r->retry_after), "%s", v);
    if (strncmp(r->set_cookie, "rp_session=", 11) == 0)
        snprintf(r->cookie_token, sizeof(r->cookie_token), "%.*s",
                 (int)strcspn(r->set_cookie + 11, ";"), r->set_cookie + 11);
    rp_http_dispatch_release(&res);
}

/* A string member of the JSON body ("" when absent or not a string). */
static const char *body_str(const struct resp *r, const char *key, char *buf, size_t n)
{
    json_t *j = json_loads(r->body, 0, NULL);
    const char *s = j ? json_string_value(json_object_get(j, key)) : NULL;
    snprintf(buf, n, "%s", s ? s : "");
    json_decref(j);
    return buf;
}

static bool body_has(const struct resp *r, const char *key)
{
    json_t *j = json_loads(r->body, 0, NULL);
    bool has = j && json_object_get(j, key) != NULL;
    json_decref(j);
    return has;
}

static void cookie_login(struct rp_test_app *t, struct resp *r, const char *cookie)
{
    call(t, "POST", "/api/v1/auth/login",
         "{\"username\":\"admin\",\"password\":\"" ADMIN_PW "\",\"session\":\"cookie\"}", r,
         cookie ? "Cookie" : NULL, cookie, NULL);
    assert_int_equal(r->status, 200);
}

static void test_cookie_login(void **state)
{
    struct rp_test_app *t = *state;
    struct resp r, me;
    char want[256], csrf[64], csrf2[64], cookie[128], tok[64];

    cookie_login(t, &r, NULL);
    assert_int_equal(strlen(r.cookie_token), 46);
    snprintf(want, sizeof(want), "rp_session=%s; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict",
             r.cookie_token);
    assert_string_equal(r.set_cookie, want);
    /* Scripts never see the session token: it is only in the HttpOnly cookie. */
    assert_false(body_has(&r, "token"));
    assert_null(strstr(r.body, r.cookie_token));
    body_str(&r, "csrf_token", csrf, sizeof(csrf));
    assert_int_equal(strlen(csrf), 43);
    snprintf(tok, sizeof(tok), "%s", r.cookie_token);

    /* The cookie authenticates; /auth/me gives the same CSRF token back. */
    snprintf(cookie, sizeof(cookie), "rp_session=%s", tok);
    call(t, "GET", "/api/v1/auth/me", NULL, &me, "Cookie", cookie, NULL);
    assert_int_equal(me.status, 200);
    assert_string_equal(body_str(&me, "csrf_token", csrf2, sizeof(csrf2)), csrf);
    call(t, "POST", "/api/v1/records/account", "{\"name\":\"From the UI\"}", &me, "Cookie", cookie,
         "X-CSRF-Token", csrf, NULL);
    assert_int_equal(me.status, 201);
    call(t, "POST", "/api/v1/records/account", "{\"name\":\"Forged\"}", &me, "Cookie", cookie,
         NULL);
    assert_int_equal(me.status, 403);
    /* Bearer callers get no CSRF token: they need none. */
    {
        char *body = NULL;
        assert_int_equal(rp_test_request(t, "GET", "/api/v1/auth/me", NULL, &body), 200);
        assert_null(strstr(body, "csrf_token"));
        free(body);
    }

    /* Behind a TLS proxy the cookie is Secure. */
    call(t, "POST", "/api/v1/auth/login",
         "{\"username\":\"admin\",\"password\":\"" ADMIN_PW "\",\"session\":\"cookie\"}", &r,
         "X-Forwarded-Proto", "https", NULL);
    snprintf(want, sizeof(want),
             "rp_session=%s; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict; Secure",
             r.cookie_token);
    assert_string_equal(r.set_cookie, want);
    call(t, "POST", "/api/v1/auth/login",
         "{\"username\":\"admin\",\"password\":\"" ADMIN_PW "\",\"session\":\"cookie\"}", &r,
         "X-Forwarded-Proto", "http", NULL);
    assert_null(strstr(r.set_cookie, "Secure"));

    /* A token-mode login sets no cookie. */
    call(t, "POST", "/api/v1/auth/login", "{\"username\":\"admin\",\"password\":\"" ADMIN_PW "\"}",
         &r, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.set_cookie, "");
}

static void test_session_fixation(void **state)
{
    struct rp_test_app *t = *state;
    struct resp r, old, me;
    char cookie[128];

    /* A value the client makes up is never taken on. */
    cookie_login(t, &r, "rp_session=rp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_string_not_equal(r.cookie_token, "rp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_int_equal(strlen(r.cookie_token), 46);

    /* Nor is a real session the browser already has (planted, or the last user's). */
    cookie_login(t, &old, NULL);
    snprintf(cookie, sizeof(cookie), "theme=dark; rp_session=%s", old.cookie_token);
    cookie_login(t, &r, cookie);
    assert_string_not_equal(r.cookie_token, old.cookie_token);
    /* ... and that one ends now. */
    call(t, "GET", "/api/v1/auth/me", NULL, &me, "Cookie", cookie, NULL);
    assert_int_equal(me.status, 401);
    snprintf(cookie, sizeof(cookie), "rp_session=%s", r.cookie_token);
    call(t, "GET", "/api/v1/auth/me", NULL, &me, "Cookie", cookie, NULL);
    assert_int_equal(me.status, 200);
}

static void test_logout_and_revoke_clear_cookie(void **state)
{
    struct rp_test_app *t = *state;
    struct resp r, x;
    char cookie[128], csrf[64], path[128], id[64];

    cookie_login(t, &r, NULL);
    snprintf(cookie, sizeof(cookie), "rp_session=%s", r.cookie_token);
    body_str(&r, "csrf_token", csrf, sizeof(csrf));
    call(t, "POST", "/api/v1/auth/logout", NULL, &x, "Cookie", cookie, "X-CSRF-Token", csrf, NULL);
    assert_int_equal(x.status, 204);
    assert_string_equal(x.set_cookie, "rp_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
    call(t, "GET", "/api/v1/auth/me", NULL, &x, "Cookie", cookie, NULL);
    assert_int_equal(x.status, 401);

    /* Ending the current session through /auth/sessions clears the cookie too. */
    cookie_login(t, &r, NULL);
    snprintf(cookie, sizeof(cookie), "rp_session=%s", r.cookie_token);
    body_str(&r, "csrf_token", csrf, sizeof(csrf));
    call(t, "GET", "/api/v1/auth/sessions", NULL, &x, "Cookie", cookie, NULL);
    assert_int_equal(x.status, 200);
    {
        json_t *j = json_loads(x.body, 0, NULL);
        json_t *data = json_object_get(j, "data");
        size_t i;
        json_t *v;
        id[0] = '\0';
        json_array_foreach(data, i, v)
        {
            if (json_is_true(json_object_get(v, "current")))
                snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(v, "id")));
            assert_null(json_object_get(v, "token"));
        }
        json_decref(j);
    }
    assert_int_equal(strlen(id), 36);
    snprintf(path, sizeof(path), "/api/v1/auth/sessions/%s", id);
    call(t, "DELETE", path, NULL, &x, "Cookie", cookie, NULL);
    assert_int_equal(x.status, 403); /* DELETE with the cookie needs the CSRF token */
    call(t, "DELETE", path, NULL, &x, "Cookie", cookie, "X-CSRF-Token", csrf, NULL);
    assert_int_equal(x.status, 204);
    assert_string_equal(x.set_cookie, "rp_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
    call(t, "GET", "/api/v1/auth/me", NULL, &x, "Cookie", cookie, NULL);
    assert_int_equal(x.status, 401);
}

static void login_expect(struct rp_test_app *t, const char *pw, int status, const char *retry)
{
    struct resp r;
    char body[256];

    snprintf(body, sizeof(body), "{\"username\":\"admin\",\"password\":\"%s\"}", pw);
    call(t, "POST", "/api/v1/auth/login", body, &r, NULL);
    assert_int_equal(r.status, status);
    assert_string_equal(r.retry_after, retry);
}

static void test_lockout_backoff(void **state)
{
    struct rp_test_app *t = *state;
    struct rp_clock *clock = &t->app->clock;
    static const char *const waits[] = {"60", "120", "240", "480", "960", "1920", "3600", "3600"};

    for (int i = 0; i < 5; i++)
        login_expect(t, "wrong password", 401, "");
    for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
        int64_t s = strtoll(waits[i], NULL, 10);
        login_expect(t, ADMIN_PW, 429, waits[i]);
        rp_clock_advance(clock, s * 1000 / 2);
        /* Retry-After counts down, rounded up to whole seconds. */
        {
            char half[32];
            snprintf(half, sizeof(half), "%lld", (long long)(s - s / 2));
            login_expect(t, ADMIN_PW, 429, half);
        }
        rp_clock_advance(clock, s * 1000 - s * 1000 / 2 - 1);
        login_expect(t, "wrong password", 429, "1");
        rp_clock_advance(clock, 1);
        login_expect(t, "wrong password", 401, "");
    }
    /* After the lock, the right password works and ends the run. */
    rp_clock_advance(clock, 3600 * 1000);
    login_expect(t, ADMIN_PW, 200, "");
    for (int i = 0; i < 4; i++)
        login_expect(t, "wrong password", 401, "");
    login_expect(t, ADMIN_PW, 200, "");
}

static void test_sessions_of_two_users(void **state)
{
    struct rp_test_app *t = *state;
    struct rp_error err;
    struct rp_arena a;
    struct rp_user_info bob;
    struct rp_buf tok;
    char bob_auth[128], bob_id[40], admin_tok_id[64], path[128];
    struct resp r;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rp_buf_init(&tok, &a, 256);
    assert_int_equal(
        rp_auth_user_add(t->app->auth, "bob", "bob's password", "Bob", false, &bob, &err), 0);
    assert_int_equal(rp_auth_token_create(t->app->auth, bob.id, "bob's", 0, &tok, bob_id, &err), 0);
    snprintf(bob_auth, sizeof(bob_auth), "Bearer %s", tok.data);

    /* Bob sees only his own. */
    call(t, "GET", "/api/v1/auth/sessions", NULL, &r, "Authorization", bob_auth, NULL);
    assert_int_equal(r.status, 200);
    {
        json_t *j = json_loads(r.body, 0, NULL);
        json_t *data = json_object_get(j, "data");
        assert_int_equal(json_array_size(data), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(data, 0), "id")),
                            bob_id);
        json_decref(j);
    }
    call(t, "GET", "/api/v1/auth/sessions", NULL, &r, NULL);
    assert_int_equal(r.status, 401);
    {
        char *body = NULL;
        json_t *j;
        assert_int_equal(rp_test_request(t, "GET", "/api/v1/auth/sessions", NULL, &body), 200);
        j = json_loads(body, 0, NULL);
        assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
        snprintf(admin_tok_id, sizeof(admin_tok_id), "%s",
                 json_string_value(
                     json_object_get(json_array_get(json_object_get(j, "data"), 0), "id")));
        assert_string_not_equal(admin_tok_id, bob_id);
        json_decref(j);
        free(body);
    }

    /* Bob cannot end the admin's token: 404, as if it did not exist; it keeps working. */
    snprintf(path, sizeof(path), "/api/v1/auth/sessions/%s", admin_tok_id);
    call(t, "DELETE", path, NULL, &r, "Authorization", bob_auth, NULL);
    assert_int_equal(r.status, 404);
    assert_int_equal(rp_test_request(t, "GET", "/api/v1/auth/me", NULL, NULL), 200);

    /* The admin may end Bob's. */
    snprintf(path, sizeof(path), "/api/v1/auth/sessions/%s", bob_id);
    assert_int_equal(rp_test_request(t, "DELETE", path, NULL, NULL), 204);
    call(t, "GET", "/api/v1/auth/me", NULL, &r, "Authorization", bob_auth, NULL);
    assert_int_equal(r.status, 401);

    /* Bob ends his own. */
    rp_buf_reset(&tok);
    assert_int_equal(rp_auth_token_create(t->app->auth, bob.id, "second", 0, &tok, bob_id, &err),
                     0);
    snprintf(bob_auth, sizeof(bob_auth), "Bearer %s", tok.data);
    snprintf(path, sizeof(path), "/api/v1/auth/sessions/%s", bob_id);
    call(t, "DELETE", path, NULL, &r, "Authorization", bob_auth, NULL);
    assert_int_equal(r.status, 204);
    assert_string_equal(r.set_cookie, ""); /* no cookie to clear for a bearer */
    call(t, "GET", "/api/v1/auth/me", NULL, &r, "Authorization", bob_auth, NULL);
    assert_int_equal(r.status, 401);
    rp_arena_release(&a);
}

/* ---- audit rows ---- */

struct audit_rows {
    int n;
    char actor[16][64], action[16][32], request_id[16][80], changes[16][1024];
};

static void cell(char *dst, size_t n, const struct rp_value *v)
{
    if (v->type == RP_V_TEXT)
        snprintf(dst, n, "%.*s", (int)v->u.s.len, v->u.s.p);
    else
        snprintf(dst, n, "NULL");
}

static int audit_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct audit_rows *x = ctx;
    if (n < 4 || x->n >= 16)
        return 0;
    cell(x->actor[x->n], sizeof(x->actor[0]), &cols[0]);
    cell(x->action[x->n], sizeof(x->action[0]), &cols[1]);
    cell(x->request_id[x->n], sizeof(x->request_id[0]), &cols[2]);
    cell(x->changes[x->n], sizeof(x->changes[0]), &cols[3]);
    x->n++;
    return 0;
}

static void read_audit(struct rp_test_app *t, struct audit_rows *x)
{
    struct rp_store_conn *c = rp_store_reader_acquire(t->app->store);
    struct rp_arena a;
    struct rp_sql q;
    struct rp_error err;

    memset(x, 0, sizeof(*x));
    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rp_sql_init(&q, &a, rp_store_dialect(t->app->store));
    rp_sql_add(&q, "SELECT actor, action, request_id, changes FROM rp_audit"
                   " WHERE action IN ('login', 'login_failed', 'token_create') ORDER BY id");
    assert_int_equal(rp_store_query(c, &q, audit_row, x, &err), 0);
    rp_arena_release(&a);
    rp_store_reader_release(t->app->store, c);
}

static void test_audit_rows(void **state)
{
    struct rp_test_app *t = *state;
    struct audit_rows x;
    struct resp r;
    char want[512], tok_id[64];

    call(t, "POST", "/api/v1/auth/login",
         "{\"username\":\"admin\",\"password\":\"not the password\"}", &r, "X-Request-Id", "req-a",
         NULL);
    assert_int_equal(r.status, 401);
    call(t, "POST", "/api/v1/auth/login", "{\"username\":\"admin\",\"password\":\"" ADMIN_PW "\"}",
         &r, "X-Request-Id", "req-b", NULL);
    assert_int_equal(r.status, 200);
    call(t, "POST", "/api/v1/auth/tokens", "{\"name\":\"ERP sync\"}", &r, "Authorization",
         "Bearer x", NULL);
    assert_int_equal(r.status, 401); /* not created, not audited */
    {
        char *body = NULL;
        json_t *j;
        assert_int_equal(
            rp_test_request(t, "POST", "/api/v1/auth/tokens", "{\"name\":\"ERP sync\"}", &body),
            201);
        j = json_loads(body, 0, NULL);
        snprintf(tok_id, sizeof(tok_id), "%s", json_string_value(json_object_get(j, "id")));
        json_decref(j);
        free(body);
    }

    read_audit(t, &x);
    /* The fixture's own token (made without a request) comes first. */
    assert_int_equal(x.n, 4);
    assert_string_equal(x.action[0], "token_create");
    assert_string_equal(x.request_id[0], "NULL");

    assert_string_equal(x.action[1], "login_failed");
    assert_string_equal(x.actor[1], "NULL");
    assert_string_equal(x.request_id[1], "req-a");
    snprintf(want, sizeof(want),
             "{\"username\":\"admin\",\"remote_addr\":\"in-process\",\"user_id\":\"%s\"}",
             t->user_id);
    assert_string_equal(x.changes[1], want);

    assert_string_equal(x.action[2], "login");
    assert_string_equal(x.actor[2], t->user_id);
    assert_string_equal(x.request_id[2], "req-b");
    assert_non_null(strstr(x.changes[2], "\"username\":\"admin\",\"remote_addr\":\"in-process\""));

    assert_string_equal(x.action[3], "token_create");
    assert_string_equal(x.actor[3], t->user_id);
    assert_int_equal(strlen(x.request_id[3]), 36); /* a generated request id */
    assert_non_null(strstr(x.changes[3], "\"name\":\"ERP sync\""));
    assert_non_null(strstr(x.changes[3], tok_id));

    for (int i = 0; i < x.n; i++) {
        assert_null(strstr(x.changes[i], "password\""));
        assert_null(strstr(x.changes[i], ADMIN_PW));
        assert_null(strstr(x.changes[i], "not the password"));
        assert_null(strstr(x.changes[i], "rp_"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cookie_login, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_session_fixation, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_logout_and_revoke_clear_cookie, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_lockout_backoff, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_sessions_of_two_users, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_audit_rows, rp_test_app_setup, rp_test_app_teardown),
    };
    rp_log_set_level(RP_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
