/*
 * The router and request pipeline, driven in-process with rp_http_dispatch:
 * matching and precedence, 404/405, decoding and its failures, query
 * parsing and limits, middleware, problem+json, default headers, request
 * ids, body limits and types, suspension resumed from another thread, and
 * the metrics the router keeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <sched.h>

#include "base/limits.h"
#include "base/uuid.h"
#include "http/http.h"

struct state {
    char trace[256]; /* letters appended by middleware and handlers, in call order */
    int mw_reject;   /* middleware "b" answers this code when non-zero */
    unsigned seen_flags;
    const char *seen_pattern;
    pthread_t writer;
    bool writer_started;
    int resume_mode; /* see h_suspend */
    int suspend_rounds;
    int written; /* set by the "writer" before each rp_http_resume */
};

static void trace(struct rp_http_req *req, char ch)
{
    struct state *st = req->app;
    size_t n = strlen(st->trace);
    if (n + 1 < sizeof(st->trace)) {
        st->trace[n] = ch;
        st->trace[n + 1] = '\0';
    }
}

static int reply(struct rp_http_req *req, struct rp_http_resp *resp, const char *text)
{
    (void)req;
    rp_buf_adds(&resp->body, text);
    return 0;
}

static int h_hello(struct rp_http_req *req, struct rp_http_resp *resp)
{
    trace(req, 'H');
    return reply(req, resp, "{\"hello\":\"world\"}");
}

static int h_echo_params(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct state *st = req->app;
    st->seen_pattern = req->route_pattern;
    rp_buf_addf(&resp->body, "%s:", req->route_pattern);
    for (size_t i = 0; i < req->nparams; i++)
        rp_buf_addf(&resp->body, "[%s]", req->params[i]);
    return 0;
}

static int h_literal(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return reply(req, resp, "literal");
}

static int h_body(struct rp_http_req *req, struct rp_http_resp *resp)
{
    if (req->body)
        rp_buf_add(&resp->body, req->body, req->body_len);
    resp->status = 201;
    return 0;
}

static int h_query(struct rp_http_req *req, struct rp_http_resp *resp)
{
    for (size_t i = 0; i < req->nquery; i++)
        rp_buf_addf(&resp->body, "%s=%s;", req->query[i].name, req->query[i].value);
    return 0;
}

static int h_invalid(struct rp_http_req *req, struct rp_http_resp *resp)
{
    (void)resp;
    rp_error_field(&req->err, RP_EVALIDATION, "email", "invalid_format",
                   "email \"%s\" is not an address", "x@");
    rp_error_field(&req->err, RP_EVALIDATION, "name", "required", "name is required");
    return RP_EVALIDATION;
}

static int h_conflict(struct rp_http_req *req, struct rp_http_resp *resp)
{
    (void)req;
    (void)resp;
    return RP_ECONFLICT;
}

static int h_busy(struct rp_http_req *req, struct rp_http_resp *resp)
{
    (void)req;
    (void)resp;
    return RP_EBUSY;
}

static int h_ratelimit(struct rp_http_req *req, struct rp_http_resp *resp)
{
    rp_http_resp_header(req, resp, "Retry-After", "30");
    return RP_ERATELIMIT;
}

static int h_cache(struct rp_http_req *req, struct rp_http_resp *resp)
{
    rp_http_resp_header(req, resp, "Cache-Control", "max-age=60");
    return reply(req, resp, "{}");
}

static int h_positive(struct rp_http_req *req, struct rp_http_resp *resp)
{
    (void)req;
    (void)resp;
    return 7;
}

static int h_fallback(struct rp_http_req *req, struct rp_http_resp *resp)
{
    trace(req, 'F');
    resp->content_type = "text/plain";
    rp_buf_adds(&resp->body, req->path);
    return 0;
}

static int mw_a(struct rp_http_req *req, struct rp_http_resp *resp)
{
    (void)resp;
    trace(req, 'a');
    return 0;
}

static int mw_b(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct state *st = req->app;
    (void)resp;
    trace(req, 'b');
    st->seen_flags = req->route_flags;
    if (st->mw_reject)
        return rp_error_set(&req->err, st->mw_reject, "token missing");
    return 0;
}

/* ---- suspension ---- */

static int cont(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct state *st = req->app;
    /* the continuation never runs before the writer has done its work */
    assert_int_equal(__atomic_exchange_n(&st->written, 0, __ATOMIC_ACQ_REL), 1);
    trace(req, 'C');
    if (st->suspend_rounds-- > 0) {
        rp_http_suspend(req, cont);
        st->written = 1;
        rp_http_resume(req); /* a continuation may suspend again */
        return RP_HTTP_SUSPENDED;
    }
    resp->status = 202;
    rp_buf_adds(&resp->body, "{\"durable\":true}");
    return 0;
}

/* Waits until dispatch has parked the request, then resumes it, like the store writer. */
static void *writer_parked(void *arg)
{
    struct rp_http_req *req = arg;
    struct state *st = req->app;
    /* A bounded wait: without parking (a bug) the test fails instead of hanging. */
    for (long i = 0; i < 100000000L; i++) {
        if (__atomic_load_n(&req->_resumed, __ATOMIC_ACQUIRE) == 2 /* HTTP_PARKED */)
            break;
        sched_yield();
    }
    __atomic_store_n(&st->written, 1, __ATOMIC_RELEASE);
    rp_http_resume(req);
    return NULL;
}

/* Resumes at once: it may win the race against the handler's return. */
static void *writer_now(void *arg)
{
    struct rp_http_req *req = arg;
    struct state *st = req->app;
    __atomic_store_n(&st->written, 1, __ATOMIC_RELEASE);
    rp_http_resume(req);
    return NULL;
}

static int h_suspend(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct state *st = req->app;
    (void)resp;
    trace(req, 'S');
    rp_http_suspend(req, cont);
    switch (st->resume_mode) {
    case 0:
        assert_int_equal(pthread_create(&st->writer, NULL, writer_parked, req), 0);
        st->writer_started = true;
        break;
    case 1:
        assert_int_equal(pthread_create(&st->writer, NULL, writer_now, req), 0);
        st->writer_started = true;
        break;
    default:
        st->written = 1;
        rp_http_resume(req); /* before the handler has even returned */
        break;
    }
    return RP_HTTP_SUSPENDED;
}

/* ---- fixture ---- */

struct fixture {
    struct rp_http_router *r;
    struct state st;
};

static int setup(void **ctx)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct rp_http_router *r = rp_http_router_new(&f->st);

    rp_http_route(r, RP_HTTP_GET, "/hello", RP_ROUTE_PUBLIC, h_hello);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/records/{object}/{id}", 0, h_echo_params);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/records/{object}/batch", 0, h_echo_params);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/records/meta/{id}", 0, h_echo_params);
    rp_http_route(r, RP_HTTP_GET, "/a/{x}/c", 0, h_echo_params);
    rp_http_route(r, RP_HTTP_GET, "/a/b/d", 0, h_literal);
    rp_http_route(r, RP_HTTP_GET, "/items/{id}", 0, h_echo_params);
    rp_http_route(r, RP_HTTP_POST | RP_HTTP_PUT, "/api/v1/things", RP_ROUTE_JSON_BODY, h_body);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/batch", RP_ROUTE_JSON_BODY | RP_ROUTE_BIG_BODY, h_body);
    rp_http_route(r, RP_HTTP_POST, "/raw", 0, h_body);
    rp_http_route(r, RP_HTTP_GET, "/q", 0, h_query);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/invalid", 0, h_invalid);
    rp_http_route(r, RP_HTTP_DELETE, "/api/v1/conflict", 0, h_conflict);
    rp_http_route(r, RP_HTTP_GET, "/busy", 0, h_busy);
    rp_http_route(r, RP_HTTP_GET, "/limited", 0, h_ratelimit);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/cached", 0, h_cache);
    rp_http_route(r, RP_HTTP_GET, "/positive", 0, h_positive);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/write", 0, h_suspend);
    rp_http_route(r, RP_HTTP_GET, "/", 0, h_literal);
    f->r = r;
    *ctx = f;
    return 0;
}

static int teardown(void **ctx)
{
    struct fixture *f = *ctx;
    rp_http_router_free(f->r);
    free(f);
    return 0;
}

static int run_full(struct fixture *f, const char *method, const char *target,
                    const struct rp_http_pair *h, size_t nh, const char *body, size_t body_len,
                    struct rp_http_result *res)
{
    struct rp_http_dispatch in = {method, target, h, nh, body, body_len};
    assert_int_equal(rp_http_dispatch(f->r, &in, res), 0);
    return res->status;
}

static int run(struct fixture *f, const char *method, const char *target,
               struct rp_http_result *res)
{
    return run_full(f, method, target, NULL, 0, NULL, 0, res);
}

static void assert_body(const struct rp_http_result *res, const char *want)
{
    assert_non_null(res->body);
    assert_int_equal(res->body_len, strlen(want));
    assert_string_equal(res->body, want);
}

/* Parses a problem+json answer and checks the fields every problem has. */
static json_t *assert_problem(const struct rp_http_result *res, int status, const char *code)
{
    json_error_t jerr;
    json_t *j;

    assert_int_equal(res->status, status);
    assert_string_equal(res->content_type, "application/problem+json");
    assert_string_equal(rp_http_result_header(res, "Content-Type"), "application/problem+json");
    j = json_loadb(res->body, res->body_len, 0, &jerr);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "about:blank");
    assert_non_null(json_string_value(json_object_get(j, "title")));
    assert_int_equal(json_integer_value(json_object_get(j, "status")), status);
    assert_string_equal(json_string_value(json_object_get(j, "code")), code);
    assert_non_null(json_string_value(json_object_get(j, "detail")));
    assert_string_equal(json_string_value(json_object_get(j, "request_id")),
                        rp_http_result_header(res, "X-Request-Id"));
    return j;
}

/* ---- tests ---- */

static void test_match_and_precedence(void **ctx)
{
    struct fixture *f = *ctx;
    struct rp_http_result res;

    assert_int_equal(run(f, "GET", "/hello", &res), 200);
    assert_body(&res, "{\"hello\":\"world\"}");
    assert_string_equal(res.content_type, "application/json");
    rp_http_dispatch_release(&res);

    assert_int_equal(run(f, "GET", "/api/v1/records/contact/42", &res), 200);
    assert_body(&res, "/api/v1/records/{object}/{id}:[contact][42]");
    rp_http_dispatch_release(&res);

    /* literal "batch" beats {id}; literal "meta" beats {object} */
    assert_int_equal(run(f, "GET", "/api/v1/records/deal/batch", &res), 200);
    assert_body(&res, "/api/v1/records/{object}/batch:[deal]");
    rp_http_dispatch_release(&res);
    assert_int_equal(run(f, "GET", "/api/v1/records/meta/7", &res), 200);
    assert_body(&res, "/api/v1/records/meta/{id}:[7]");
    rp_http_dispatch_release(&res);

    /* "/a/b" has no "c" below it: backtrack into the capture */
    assert_int_equal(run(f, "GET", "/a/b/c", &res), 200);
    assert_body(&res, "/a/{x}/c:[b]");
    rp_http_dispatch_release(&res);
    assert_int_equal(run(f, "GET", "/a/b/d", &res), 200);
    assert_body(&res, "literal");
    rp_http_dispatch_release(&res);

    assert_int_equal(run(f, "GET", "/", &res), 200);
    assert_body(&res, "literal");
    rp_http_dispatch_release(&res);

    /* a capture never matches an empty segment, and a trailing slash is a different path */
    assert_int_equal(run(f, "GET", "/items/", &res), 404);
    rp_http_dispatch_release(&res);
    assert_int_equal(run(f, "GET", "/hello/", &res), 404);
    rp_http_dispatch_release(&res);
}

static void test_not_found_and_method(void **ctx)
{
    struct fixture *f = *ctx;
    struct rp_http_result res;
    json_t *j;

    run(f, "GET", "/nope", &res);
    j = assert_problem(&res, 404, "not_found");
    assert_string_equal(json_string_value(json_object_get(j, "title")), "Not found");
    assert_null(json_object_get(j, "errors"));
    json_decref(j);
    rp_http_dispatch_release(&res);

    run(f, "POST", "/hello", &res);
    json_decref(assert_problem(&res, 405, "method_not_allowed"));
    assert_string_equal(rp_http_result_header(&res, "Allow"), "GET, HEAD");
    rp_http_dispatch_release(&res);

    run(f, "DELETE", "/api/v1/things", &res);
    json_decref(assert_problem(&res, 405, "method_not_allowed"));
    assert_string_equal(rp_http_result_header(&res, "Allow"), "POST, PUT");
    rp_http_dispatch_release(&res);

    run(f, "BREW", "/hello", &res);
    json_decref(assert_problem(&res, 405, "method_not_allowed"));
    rp_http_dispatch_release(&res);

    /* middleware does not run for transport errors */
    assert_string_equal(f->st.trace, "");
}

static void test_fallback(void **ctx)
{
    struct fixture *f = *ctx;
    struct rp_http_result res;

    rp_http_router_use(f->r, mw_b);
    rp_http_router_fallback(f->r, h_fallback);
    assert_int_equal(run(f, "GET", "/app/index.html", &res), 200);
    assert_body(&res, "/app/index.html");
    assert_string_equal(res.content_type, "text/plain");
    assert_string_equal(f->st.trace, "bF");
    assert_int_equal(f->st.seen_flags, RP_ROUTE_PUBLIC);
    rp_http_dispatch_release(&res);

    /* a path with routes still answers 405 rather than falling back */
    assert_int_equal(run(f, "POST", "/hello", &res), 405);
    rp_http_dispatch_release(&res);
}

static void test_percent_decoding(void **ctx)
{
    struct fixture *f = *ctx;
    struct rp_http_result res;

    assert_int_equal(run(f, "GET", "/items/caf%C3%A9%2Fx%20y+z", &res), 200);
    assert_body(&res, "/items/{id}:[caf\xc3\xa9/x y+z]");
    rp_http_dispatch_release(&res);

    /* raw UTF-8 is accepted as is */
    assert_int_equal(run(f, "GET", "/items/\xe5\xbc\xa0", &res), 200);
    assert_body(&res, "/items/{id}:[\xe5\xbc\xa0]");
    rp_http_dispatch_release(&res);

    /* literal segments are compared after decoding */
    assert_int_equal(run(f, "GET", "/%68ello", &res), 200);
    rp_http_dispatch_release(&res);
}

static void test_bad_encodings(void **ctx)
{
    static const char *bad[] = {
        "/items/%zz", "/items/%4",          "/items/%",         "/items/a%00b", "/items/%C3",
        "/items/%ff", "/items/\xc3\x28",    "/items/%ED%A0%80", "/items/..",    "/items/%2e%2E",
        "/./hello",   "/q?a=%ff",           "/q?a=%zz",         "/q?%00=1",     "/q?a=\xff",
        "hello",      "http://example.com",
    };
    struct fixture *f = *ctx;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rp_http_result res;
        run(f, "GET", bad[i], &res);
        json_decref(assert_problem(&res, 400, "invalid_request"));
        rp_http_dispatch_release(&res);
    }
    /* absolute-form targets are routed by their path */
    {
        struct rp_http_result res;
        assert_int_equal(run(f, "GET", "http://example.com/hello", &res), 200);
        rp_http_dispatch_release(&res);
    }
}

static void test_query(void **ctx)
{
    struct fixture *f = *ctx;
    struct rp_http_result res;
    char target[512];
    size_t n;

    assert_int_equal(run(f, "GET", "/q?a=1&b=x%20y&c&&b=2&d=a+b%2B&e=&=v", &res), 200);
    assert_body(&res, "a=1;b=x y;c=;b=2;d=a b+;e=;=v;");
    rp_http_dispatch_release(&res);

    /* RP_LIMIT_QUERY_PARAMS is fine, one more is not */
    n = (size_t)snprintf(target, sizeof(target), "/q?");
    for (int i = 0; i < RP_LIMIT_QUERY_PARAMS; i++)
        n += (size_t)snprintf(target + n, sizeof(target) - n, "p%d=%d&", i, i);
    assert_int_equal(run(f, "GET", target, &res), 200);
    rp_http_dispatch_release(&res);
    snprintf(target + n, sizeof(target) - n, "extra=1");
    run(f, "GET", target, &res);
    json_decref(assert_problem(&res, 400, "invalid_request"));
    rp_http_dispatch_release(&res);
}

static int h_lookup(struct rp_http_req *req, struct rp_http_resp *resp)
{
    const char *a = rp_http_query(req, "a");
    const char *h = rp_http_header(req, "x-custom");
    rp_buf_addf(&resp->body, "%s|%s|%s", a ? a : "(null)", h ? h : "(null)",
                rp_http_query(req, "zz") ? "x" : "(null)");
    return 0;
}

static void test_request_helpers(void **ctx)
{
    struct fixture *f = *ctx;
    struct rp_http_result res;
    struct rp_http_pair h[] = {{"X-Custom", "one"}, {"x-custom", "two"}};

    rp_http_route(f->r, RP_HTTP_GET, "/lookup", 0, h_lookup);
    run_full(f, "GET", "/lookup?a=first&a=second", h, 2, NULL, 0, &res);
    assert_body(&res, "first|one|(null)");
    rp_http_dispatch_release(&res);
}

static void test_middleware(void **ctx)
{
    struct fixture *f = *ctx;
    struct rp_http_result res;

    rp_http_router_use(f->r, mw_a);
    rp_http_router_use(f->r, mw_b);
    assert_int_equal(run(f, "GET", "/hello", &res), 200);
    assert_string_equal(f->st.trace, "abH");
    assert_int_equal(f->st.seen_flags, RP_ROUTE_PUBLIC);
    rp_http_dispatch_release(&res);

    f->st.trace[0] = '\0';
    f->st.mw_reject = RP_EUNAUTH;
    run(f, "GET", "/hello", &res);
    {
        json_t *j = assert_problem(&res, 401, "unauthenticated");
        assert_string_equal(json_string_value(json_object_get(j, "detail")), "token missing");
        json_decref(j);
    }
    assert_string_equal(f->st.trace, "ab"); /* the handler never ran */
    rp_http_dispatch_release(&res);
}

static void test_problem_shape(void **ctx)
{
    struct fixture *f = *ctx;
    struct rp_http_result res;
    json_t *j, *errors, *e0;

    run(f, "POST", "/api/v1/invalid", &res);
    j = assert_problem(&res, 422, "validation_failed");
    assert_string_equal(json_string_value(json_object_get(j, "title")), "Validation failed");
    assert_string_equal(json_string_value(json_object_get(j, "detail")),
                        "email \"x@\" is not an address");
    errors = json_object_get(j, "errors");
    assert_int_equal(json_array_size(errors), 2);
    e0 = json_array_get(errors, 0);
    assert_string_equal(json_string_value(json_object_get(e0, "field")), "email");
    assert_string_equal(json_string_value(json_object_get(e0, "code")), "invalid_format");
    assert_string_equal(json_string_value(json_object_get(e0, "message")),
                        "email \"x@\" is not an address");
    assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 1), "field")),
                        "name");
    assert_int_equal(json_object_size(j), 7);
    json_decref(j);
    rp_http_dispatch_release(&res);

    /* a bare error code still gets a full problem with the default title as detail */
    run(f, "DELETE", "/api/v1/conflict", &res);
    j = assert_problem(&res, 409, "conflict");
    assert_string_equal(json_string_value(json_object_get(j, "detail")), "Conflict");
    assert_int_equal(json_object_size(j), 6);
    json_decref(j);
    assert_null(rp_http_result_header(&res, "Retry-After"));
    rp_http_dispatch_release(&res);

    run(f, "GET", "/busy", &res);
    json_decref(assert_problem(&res, 503, "overloaded"));
    assert_string_equal(rp_http_result_header(&res, "Retry-After"), "1");
    rp_http_dispatch_release(&res);

    run(f, "GET", "/limited", &res);
    json_decref(assert_problem(&res, 429, "rate_limited"));
    assert_string_equal(rp_http_result_header(&res, "Retry-After"), "30");
    rp_http_dispatch_release(&res);

    run(f, "GET", "/positive", &res);
    json_decref(assert_problem(&res, 500, "internal"));
    rp_http_dispatch_release(&res);
}

static void test_head(void **ctx)
{
    struct fixture *f = *ctx;
    struct rp_http_result res;

    assert_int_equal(run(f, "HEAD", "/hello", &res), 200);
    assert_int_equal(res.body_len, 0);
    assert_string_equal(res.body, "");
    assert_string_equal(rp_http_result_header(&res, "Content-Type"), "application/json");
    assert_string_equal(f->st.trace, "H"); /* the GET handler served it */
    rp_http_dispatch_release(&res);
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_request_id(void **ctx)
{
    struct fixture *f = *ctx;
    struct rp_http_result res;
    char long_ok[65], too_long[66];
    struct rp_http_pair h[1] = {{"X-Request-Id", "abc.DEF_123-x"}};
    const char *bad[] = {"", "has space", "semi;colon", "\xc3\xa9", too_long};

    run_full(f, "GET", "/hello", h, 1, NULL, 0, &res);
    assert_string_equal(rp_http_result_header(&res, "X-Request-Id"), "abc.DEF_123-x");
    rp_http_dispatch_release(&res);

    memset(long_ok, 'a', 64);
    long_ok[64] = '\0';
    h[0].name = "x-request-id";
    h[0].value = long_ok;
    run_full(f, "GET", "/nope", h, 1, NULL, 0, &res);
    assert_string_equal(rp_http_result_header(&res, "X-Request-Id"), long_ok);
    json_decref(assert_problem(&res, 404, "not_found"));
    rp_http_dispatch_release(&res);

    memset(too_long, 'a', 65);
    too_long[65] = '\0';
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *rid;
        h[0].value = bad[i];
        run_full(f, "GET", "/hello", h, 1, NULL, 0, &res);
        rid = rp_http_result_header(&res, "X-Request-Id");
        assert_true(rp_uuid_is_valid(rid, strlen(rid)));
        assert_int_equal(rid[14], '7'); /* version 7 */
        rp_http_dispatch_release(&res);
    }

    /* no header: a fresh, well-formed UUIDv7 every time */
    {
        enum { N = 4000 };
        char(*ids)[RP_UUID_STRLEN + 1] = calloc(N, sizeof(*ids));
        for (size_t i = 0; i < N; i++) {
            const char *rid;
            run(f, "GET", "/hello", &res);
            rid = rp_http_result_header(&res, "X-Request-Id");
            assert_true(rp_uuid_is_valid(rid, strlen(rid)));
            assert_int_equal(rid[14], '7');
            assert_non_null(strchr("89ab", rid[19])); /* RFC 9562 variant */
            memcpy(ids[i], rid, RP_UUID_STRLEN + 1);
            rp_http_dispatch_release(&res);
        }
        qsort(ids, N, sizeof(*ids), cmp_id);
        for (size_t i = 1; i < N; i++)
            assert_string_not_equal(ids[i - 1], ids[i]);
        free(ids);
    }
}

static void test_security_headers(void **ctx)
{
    struct fixture *f = *ctx;
    struct rp_http_result res;

    run(f, "GET", "/hello", &res);
    assert_string_equal(rp_http_result_header(&res, "X-Content-Type-Options"), "nosniff");
    assert_string_equal(rp_http_result_header(&res, "X-Frame-Options"), "DENY");
    assert_string_equal(rp_http_result_header(&res, "Referrer-Policy"), "no-referrer");
    assert_null(rp_http_result_header(&res, "Cache-Control"));
    rp_http_dispatch_release(&res);

    run(f, "GET", "/api/v1/records/contact/1", &res);
    assert_string_equal(rp_http_result_header(&res, "Cache-Control"), "no-store");
    rp_http_dispatch_release(&res);

    /* errors carry them too */
    run(f, "GET", "/api/v1/nothing", &res);
    assert_int_equal(res.status, 404);
    assert_string_equal(rp_http_result_header(&res, "Cache-Control"), "no-store");
    assert_string_equal(rp_http_result_header(&res, "X-Frame-Options"), "DENY");
    rp_http_dispatch_release(&res);

    /* a handler's Cache-Control wins, and is not doubled */
    run(f, "GET", "/api/v1/cached", &res);
    assert_string_equal(rp_http_result_header(&res, "Cache-Control"), "max-age=60");
    {
        size_t n = 0;
        for (size_t i = 0; i < res.nheaders; i++)
            n += strcasecmp(res.headers[i].name, "Cache-Control") == 0;
        assert_int_equal(n, 1);
    }
    rp_http_dispatch_release(&res);
}

static void test_content_type(void **ctx)
{
    struct fixture *f = *ctx;
    struct rp_http_result res;
    static const char body[] = "{\"a\":1}";
    struct rp_http_pair h[1] = {{"Content-Type", "text/plain"}};
    static const char *ok[] = {"application/json", "Application/JSON; charset=utf-8",
                               " application/json ;charset=UTF-8"};
    static const char *bad[] = {"text/plain", "application/jsonx", "application/xml",
                                "application/json-patch+json"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        h[0].value = bad[i];
        run_full(f, "POST", "/api/v1/things", h, 1, body, sizeof(body) - 1, &res);
        json_decref(assert_problem(&res, 415, "unsupported_media_type"));
        rp_http_dispatch_release(&res);
    }
    /* no Content-Type at all */
    run_full(f, "POST", "/api/v1/things", NULL, 0, body, sizeof(body) - 1, &res);
    json_decref(assert_problem(&res, 415, "unsupported_media_type"));
    rp_http_dispatch_release(&res);

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        h[0].value = ok[i];
        assert_int_equal(run_full(f, "PUT", "/api/v1/things", h, 1, body, sizeof(body) - 1, &res),
                         201);
        assert_body(&res, body);
        rp_http_dispatch_release(&res);
    }
    /* an empty body needs no type; a route without the flag takes anything */
    assert_int_equal(run_full(f, "POST", "/api/v1/things", NULL, 0, NULL, 0, &res), 201);
    rp_http_dispatch_release(&res);
    h[0].value = "text/plain";
    assert_int_equal(run_full(f, "POST", "/raw", h, 1, "plain", 5, &res), 201);
    assert_body(&res, "plain");
    rp_http_dispatch_release(&res);
}

static void test_body_limits(void **ctx)
{
    struct fixture *f = *ctx;
    struct rp_http_result res;
    struct rp_http_pair h[2] = {{"Content-Type", "application/json"}, {"Content-Length", ""}};
    char len[32];
    char *big;

    /* declared too big: 413 without looking at the body */
    snprintf(len, sizeof(len), "%u", RP_LIMIT_BODY_BYTES + 1);
    h[1].value = len;
    run_full(f, "POST", "/api/v1/things", h, 2, "{}", 2, &res);
    json_decref(assert_problem(&res, 413, "payload_too_large"));
    rp_http_dispatch_release(&res);

    /* the same size is fine on a RP_ROUTE_BIG_BODY route */
    assert_int_equal(run_full(f, "POST", "/api/v1/batch", h, 2, "{}", 2, &res), 201);
    rp_http_dispatch_release(&res);
    snprintf(len, sizeof(len), "%u", RP_LIMIT_BATCH_BODY_BYTES + 1);
    run_full(f, "POST", "/api/v1/batch", h, 2, "{}", 2, &res);
    json_decref(assert_problem(&res, 413, "payload_too_large"));
    rp_http_dispatch_release(&res);

    /* an actual body past the limit, without Content-Length */
    big = malloc(RP_LIMIT_BODY_BYTES + 1);
    memset(big, ' ', RP_LIMIT_BODY_BYTES + 1);
    run_full(f, "POST", "/raw", NULL, 0, big, RP_LIMIT_BODY_BYTES + 1, &res);
    json_decref(assert_problem(&res, 413, "payload_too_large"));
    rp_http_dispatch_release(&res);
    /* exactly the limit is accepted and copied NUL-terminated */
    assert_int_equal(run_full(f, "POST", "/raw", NULL, 0, big, RP_LIMIT_BODY_BYTES, &res), 201);
    assert_int_equal(res.body_len, RP_LIMIT_BODY_BYTES);
    rp_http_dispatch_release(&res);
    free(big);
}

static void test_request_limits(void **ctx)
{
    struct fixture *f = *ctx;
    struct rp_http_result res;
    struct rp_http_pair h[RP_LIMIT_HEADER_COUNT + 1];
    char *target = malloc(RP_LIMIT_URL_BYTES + 2);
    char *value = malloc(RP_LIMIT_HEADER_BYTES + 1);
    json_t *j;

    target[0] = '/';
    memset(target + 1, 'a', RP_LIMIT_URL_BYTES);
    target[RP_LIMIT_URL_BYTES + 1] = '\0';
    run(f, "GET", target, &res);
    j = assert_problem(&res, 414, "invalid_request");
    json_decref(j);
    rp_http_dispatch_release(&res);
    target[RP_LIMIT_URL_BYTES] = '\0'; /* exactly the limit: just not found */
    assert_int_equal(run(f, "GET", target, &res), 404);
    rp_http_dispatch_release(&res);

    for (size_t i = 0; i <= RP_LIMIT_HEADER_COUNT; i++)
        h[i] = (struct rp_http_pair){"X-A", "1"};
    run_full(f, "GET", "/hello", h, RP_LIMIT_HEADER_COUNT + 1, NULL, 0, &res);
    json_decref(assert_problem(&res, 431, "invalid_request"));
    rp_http_dispatch_release(&res);
    assert_int_equal(run_full(f, "GET", "/hello", h, RP_LIMIT_HEADER_COUNT, NULL, 0, &res), 200);
    rp_http_dispatch_release(&res);

    memset(value, 'v', RP_LIMIT_HEADER_BYTES);
    value[RP_LIMIT_HEADER_BYTES] = '\0';
    h[0].value = value;
    run_full(f, "GET", "/hello", h, 1, NULL, 0, &res);
    json_decref(assert_problem(&res, 431, "invalid_request"));
    rp_http_dispatch_release(&res);

    free(value);
    free(target);
}

static void test_suspend_resume(void **ctx)
{
    struct fixture *f = *ctx;
    struct rp_http_result res;

    /* 0: resumed by another thread once parked; 1: by a thread at once; 2: inline */
    for (int mode = 0; mode < 3; mode++) {
        f->st.trace[0] = '\0';
        f->st.resume_mode = mode;
        f->st.writer_started = false;
        assert_int_equal(run(f, "POST", "/api/v1/write", &res), 202);
        assert_body(&res, "{\"durable\":true}");
        assert_string_equal(f->st.trace, "SC");
        assert_non_null(rp_http_result_header(&res, "X-Request-Id"));
        rp_http_dispatch_release(&res);
        if (f->st.writer_started)
            pthread_join(f->st.writer, NULL);
    }

    /* a continuation that suspends again */
    f->st.trace[0] = '\0';
    f->st.resume_mode = 0;
    f->st.suspend_rounds = 2;
    assert_int_equal(run(f, "POST", "/api/v1/write", &res), 202);
    assert_string_equal(f->st.trace, "SCCC");
    rp_http_dispatch_release(&res);
    pthread_join(f->st.writer, NULL);
}

static void test_metrics(void **ctx)
{
    struct fixture *f = *ctx;
    struct rp_http_result res;
    struct rp_buf out;

    for (int i = 0; i < 3; i++) {
        run(f, "GET", "/api/v1/records/contact/1", &res);
        rp_http_dispatch_release(&res);
    }
    run(f, "GET", "/no/such/path", &res);
    rp_http_dispatch_release(&res);
    run(f, "GET", "/another/missing", &res);
    rp_http_dispatch_release(&res);
    run(f, "PATCH", "/hello", &res);
    rp_http_dispatch_release(&res);

    rp_buf_init(&out, NULL, 1 << 20);
    rp_http_metrics(f->r, &out);
    assert_int_equal(rp_buf_error(&out), 0);
    assert_non_null(strstr(out.data, "# TYPE rapport_http_requests_total counter\n"));
    assert_non_null(strstr(out.data, "rapport_http_requests_total{method=\"GET\",route=\"/api/v1/"
                                     "records/{object}/{id}\",status=\"200\"} 3\n"));
    assert_non_null(strstr(
        out.data,
        "rapport_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 2\n"));
    assert_non_null(strstr(
        out.data,
        "rapport_http_requests_total{method=\"PATCH\",route=\"/hello\",status=\"405\"} 1\n"));
    assert_null(strstr(out.data, "no/such")); /* raw paths never become labels */
    assert_non_null(strstr(out.data, "# TYPE rapport_http_request_duration_seconds histogram\n"));
    assert_non_null(strstr(out.data, "rapport_http_request_duration_seconds_bucket{method=\"GET\","
                                     "route=\"/api/v1/records/{object}/{id}\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(out.data, "rapport_http_request_duration_seconds_count{method=\"GET\","
                                     "route=\"/api/v1/records/{object}/{id}\"} 3\n"));
    assert_non_null(strstr(out.data, "rapport_http_request_duration_seconds_sum{method=\"GET\","
                                     "route=\"/api/v1/records/{object}/{id}\"} "));
    assert_non_null(strstr(out.data, "le=\"0.001\"}"));
    assert_non_null(strstr(out.data, "le=\"2.5\"}"));
    assert_non_null(strstr(out.data, "# TYPE rapport_http_connections_open gauge\n"
                                     "rapport_http_connections_open 0\n"));
    rp_buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_match_and_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found_and_method, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_percent_decoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_encodings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_helpers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_middleware, setup, teardown),
        cmocka_unit_test_setup_teardown(test_problem_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_security_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_content_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suspend_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
