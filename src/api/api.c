/* The API service object, shared helpers and the authentication middleware. */
#include "api/api_int.h"
#include "base/json.h"
#include "base/limits.h"

#include <errno.h>
#include <stdio.h>

struct rp_api *rp_api_new(const struct rp_api_config *cfg)
{
    struct rp_api *api = rp_xcalloc(1, sizeof(*api));
    api->records = cfg->records;
    api->auth = cfg->auth;
    api->meta = cfg->meta;
    api->store = cfg->store;
    api->clock = cfg->clock;
    api->automation = cfg->automation;
    api->sales = cfg->sales;
    api->analytics = cfg->analytics;
    api->started_ms = rp_clock_now_ms(cfg->clock);
    return api;
}

void rp_api_free(struct rp_api *api)
{
    if (!api)
        return;
    rp_http_router_free(api->router);
    free(api);
}

void rp_api_set_ready(struct rp_api *api, bool ready)
{
    atomic_store(&api->ready, ready);
}

struct rp_http_router *rp_api_router_new(struct rp_api *api)
{
    struct rp_http_router *r = rp_http_router_new(api);
    rp_http_router_use(r, api_authenticate);
    api_register_system(r);
    api_register_auth(r);
    api_register_meta(r);
    api_register_records(r);
    api_register_audit(r);
    api_register_privacy(r);
    api_register_admin(r);
    api_register_automation(r);
    api_register_sales(r);
    api_register_kpi(r);
    api_register_quote(r);
    api_register_dedup(r);
    api_register_score(r);
    api_register_sla(r);
    api_register_email(r);
    api_register_views(r);
    api_register_web(r);
    api->router = r;
    return r;
}

int api_fail(struct rp_http_req *req, const struct rp_error *err)
{
    int code = err->code ? err->code : RP_EINTERNAL;
    if (&req->err != err) {
        struct rp_arena *keep = req->err._arena;
        req->err = *err;
        req->err._arena = keep;
    }
    return code;
}

int api_check_params(struct rp_http_req *req, const char *const *allowed)
{
    for (size_t i = 0; i < req->nquery; i++) {
        bool ok = false;
        for (size_t k = 0; allowed && allowed[k]; k++)
            if (strcmp(req->query[i].name, allowed[k]) == 0)
                ok = true;
        if (!ok)
            return rp_error_field(&req->err, RP_EINVAL, req->query[i].name, "unknown_parameter",
                                  "unknown query parameter \"%s\"", req->query[i].name);
        for (size_t k = 0; k < i; k++)
            if (strcmp(req->query[k].name, req->query[i].name) == 0)
                return rp_error_field(&req->err, RP_EINVAL, req->query[i].name, "repeated",
                                      "query parameter \"%s\" is given twice", req->query[i].name);
    }
    return 0;
}

json_t *api_body_json(struct rp_http_req *req)
{
    size_t max =
        req->route_flags & RP_ROUTE_BIG_BODY ? RP_LIMIT_BATCH_BODY_BYTES : RP_LIMIT_BODY_BYTES;
    if (!req->body || req->body_len == 0) {
        rp_error_set(&req->err, RP_EINVAL, "a JSON request body is required");
        return NULL;
    }
    return rp_json_parse_arena(&req->arena, req->body, req->body_len, max, &req->err);
}

int api_int_param(struct rp_http_req *req, const char *name, int64_t min, int64_t max, int64_t def,
                  int64_t *out)
{
    const char *v = rp_http_query(req, name);
    char *end;
    long long n;

    *out = def;
    if (!v)
        return 0;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (!*v || *end || errno || n < min || n > max)
        return rp_error_field(&req->err, RP_EINVAL, name, "out_of_range",
                              "parameter \"%s\" must be an integer between %lld and %lld", name,
                              (long long)min, (long long)max);
    *out = n;
    return 0;
}

void api_json(struct rp_http_resp *resp, int status, const struct rp_buf *b)
{
    resp->status = status;
    resp->content_type = "application/json";
    rp_buf_add(&resp->body, b->data, b->len);
}

/* Methods that change state: with cookie authentication they need the CSRF header. */
static bool method_is_unsafe(enum rp_http_method m)
{
    return m == RP_HTTP_POST || m == RP_HTTP_PUT || m == RP_HTTP_PATCH || m == RP_HTTP_DELETE;
}

static int authenticate_bearer(struct rp_http_req *req, struct rp_http_resp *resp, const char *h,
                               struct rp_principal *p)
{
    int rc;

    if (strncasecmp(h, "Bearer ", 7) != 0) {
        rp_http_resp_header(req, resp, "WWW-Authenticate", "Bearer realm=\"rapport\"");
        return rp_error_set(&req->err, RP_EUNAUTH,
                            "this endpoint needs an \"Authorization: Bearer <token>\" header");
    }
    rc = rp_auth_verify(api_of(req)->auth, h + 7, &req->arena, p, &req->err);
    if (rc < 0)
        rp_http_resp_header(req, resp, "WWW-Authenticate",
                            "Bearer realm=\"rapport\", error=\"invalid_token\"");
    return rc;
}

/*
 * The rp_session cookie: only session tokens (an API token has no business in
 * a browser). State-changing methods also need the session's CSRF token.
 */
static int authenticate_cookie(struct rp_http_req *req, struct rp_http_resp *resp,
                               const char *token, int found, struct rp_principal *p)
{
    struct rp_api *api = api_of(req);
    const char *csrf;
    int rc;

    if (found != 1)
        rc = rp_error_set(&req->err, RP_EUNAUTH, "several \"%s\" cookies were sent; log in again",
                          RP_AUTH_COOKIE);
    else if ((rc = rp_auth_verify(api->auth, token, &req->arena, p, &req->err)) == 0 &&
             !p->is_session)
        rc = rp_error_set(&req->err, RP_EUNAUTH, "the session cookie holds no session");
    if (rc < 0) {
        if (rc == RP_EUNAUTH)
            rp_http_resp_header(req, resp, "WWW-Authenticate", "Bearer realm=\"rapport\"");
        return rc;
    }
    p->via_cookie = true;
    if (!method_is_unsafe(req->method))
        return 0;
    csrf = rp_http_header(req, "X-CSRF-Token");
    if (!csrf || !*csrf)
        return rp_error_set(
            &req->err, RP_EFORBIDDEN,
            "a %s request with the session cookie needs the session's \"X-CSRF-Token\" header",
            req->method_name);
    if (!rp_auth_csrf_is_valid(api->auth, p->token_id, csrf))
        return rp_error_set(&req->err, RP_EFORBIDDEN,
                            "the \"X-CSRF-Token\" header does not match the session");
    return 0;
}

int api_authenticate(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct rp_principal *p;
    char token[64]; /* longer values are no token; they arrive as "" and fail to verify */
    const char *h;
    int found, rc;

    if (req->route_flags & RP_ROUTE_PUBLIC)
        return 0;
    p = rp_arena_calloc(&req->arena, 1, sizeof(*p));
    /* A bearer token wins: API clients never need the CSRF header, even with a cookie. */
    h = rp_http_header(req, "Authorization");
    if (h) {
        rc = authenticate_bearer(req, resp, h, p);
    } else if ((found = rp_auth_session_cookie(req->headers, req->nheaders, token,
                                               sizeof(token))) != 0) {
        rc = authenticate_cookie(req, resp, token, found, p);
    } else {
        rp_http_resp_header(req, resp, "WWW-Authenticate", "Bearer realm=\"rapport\"");
        rc = rp_error_set(
            &req->err, RP_EUNAUTH,
            "this endpoint needs an \"Authorization: Bearer <token>\" header or a session cookie");
    }
    if (rc < 0)
        return rc;
    req->auth = p;
    return 0;
}

int api_check_body_keys(struct rp_http_req *req, const json_t *body, const char *const *allowed)
{
    const char *key;
    json_t *v;

    if (!json_is_object(body))
        return rp_error_set(&req->err, RP_EINVAL, "the request body must be a JSON object");
    json_object_foreach((json_t *)body, key, v)
    {
        bool known = false;
        for (size_t i = 0; allowed[i] && !known; i++)
            known = strcmp(allowed[i], key) == 0;
        if (!known)
            return rp_error_field(&req->err, RP_EINVAL, key, "unknown_field",
                                  "unknown field \"%s\"", key);
    }
    return 0;
}
