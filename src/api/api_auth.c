/*
 * /api/v1/auth/...: login, logout, the current user, sessions and named API
 * tokens.
 *
 * Login answers API clients with the session token in JSON. A browser asks
 * for {"session": "cookie"} instead: the token then goes only into the
 * HttpOnly rp_session cookie (scripts never see it) and the answer carries
 * the session's CSRF token for the X-CSRF-Token header. Either way a login
 * creates a new session and never reuses one the client names; a cookie
 * login also revokes the valid session cookie the browser sent along, once
 * the new session exists.
 */
#include "api/api_int.h"
#include "base/time.h"

#include <strings.h>

static const char *string_field(struct rp_http_req *req, const json_t *body, const char *name)
{
    const json_t *v = json_object_get(body, name);
    if (!json_is_string(v) || json_string_length(v) == 0) {
        rp_error_field(&req->err, RP_EVALIDATION, name, v ? "invalid_type" : "required",
                       "field \"%s\" must be a non-empty string", name);
        return NULL;
    }
    return json_string_value(v);
}

/* The user object without its closing brace, so callers can add to it. */
static void user_json_open(struct rp_buf *b, const struct rp_user_info *u)
{
    rp_buf_adds(b, "{\"id\":");
    rp_buf_add_json_str(b, u->id, strlen(u->id));
    rp_buf_adds(b, ",\"username\":");
    rp_buf_add_json_str(b, u->username, strlen(u->username));
    rp_buf_adds(b, ",\"display_name\":");
    rp_buf_add_json_str(b, u->display_name, strlen(u->display_name));
    rp_buf_addf(b, ",\"is_admin\":%s", u->is_admin ? "true" : "false");
}

static void user_json(struct rp_buf *b, const struct rp_user_info *u)
{
    user_json_open(b, u);
    rp_buf_addc(b, '}');
}

/*
 * We serve plain HTTP; behind a TLS-terminating proxy the cookie must still
 * be Secure, and the proxy says so with X-Forwarded-Proto. Trusting it is
 * safe either way: Secure only ever restricts where the browser sends it.
 */
static bool request_is_https(const struct rp_http_req *req)
{
    const char *proto = rp_http_header(req, "X-Forwarded-Proto");
    return proto && strcasecmp(proto, "https") == 0;
}

static void set_session_cookie(struct rp_http_req *req, struct rp_http_resp *resp,
                               const char *token, int64_t max_age_s)
{
    struct rp_buf b;

    rp_buf_init(&b, &req->arena, 512);
    rp_auth_session_cookie_format(&b, token, max_age_s, request_is_https(req));
    rp_http_resp_header(req, resp, "Set-Cookie", b.data);
}

/* Appends ,"csrf_token":"..." for session token_id. */
static int add_csrf(struct rp_http_req *req, struct rp_buf *out, const char *token_id)
{
    struct rp_buf csrf;
    int rc;

    rp_buf_init(&csrf, &req->arena, 128);
    if ((rc = rp_auth_csrf_token(api_of(req)->auth, token_id, &csrf, &req->err)) < 0)
        return rc;
    rp_buf_adds(out, ",\"csrf_token\":");
    rp_buf_add_json_str(out, csrf.data, csrf.len);
    return 0;
}

/* {"session": "token" | "cookie"}: true for a cookie, false (the default) for a token. */
static int session_mode(struct rp_http_req *req, const json_t *body, bool *cookie)
{
    const json_t *v = json_object_get(body, "session");

    *cookie = false;
    if (!v)
        return 0;
    if (json_is_string(v) && strcmp(json_string_value(v), "cookie") == 0)
        *cookie = true;
    else if (!json_is_string(v) || strcmp(json_string_value(v), "token") != 0)
        return rp_error_field(&req->err, RP_EVALIDATION, "session", "invalid",
                              "field \"session\" must be \"token\" or \"cookie\"");
    return 0;
}

/* Revokes the session of a valid rp_session cookie the login request carried, if any. */
static void revoke_old_cookie_session(struct rp_http_req *req, const char *new_id)
{
    struct rp_api *api = api_of(req);
    struct rp_principal old = {0};
    struct rp_error ignore;
    char token[64];

    if (rp_auth_session_cookie(req->headers, req->nheaders, token, sizeof(token)) != 1)
        return;
    rp_error_init(&ignore, &req->arena);
    if (rp_auth_verify(api->auth, token, &req->arena, &old, &ignore) < 0 || !old.is_session ||
        strcmp(old.token_id, new_id) == 0)
        return;
    /* Best effort: the new session stands either way, and the old one still expires. */
    rp_auth_token_revoke(api->auth, old.token_id, &ignore);
}

static int h_login(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const keys[] = {"username", "password", "session", NULL};
    struct rp_api *api = api_of(req);
    struct rp_auth_client client = api_client_of(req);
    struct rp_auth_login_info info;
    struct rp_buf token;
    const char *username, *password;
    bool cookie;
    json_t *body;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 || !(body = api_body_json(req)))
        return rc < 0 ? rc : req->err.code;
    if ((rc = api_check_body_keys(req, body, keys)) < 0)
        return rc;
    username = string_field(req, body, "username");
    password = string_field(req, body, "password");
    if (session_mode(req, body, &cookie) < 0 || !username || !password)
        return req->err.code;
    rp_buf_init(&token, &req->arena, 256);
    rc = rp_auth_login_from(api->auth, &client, username, password, &token, &info, &req->err);
    if (rc == RP_ERATELIMIT) {
        char secs[24];
        snprintf(secs, sizeof(secs), "%lld", (long long)((info.retry_after_ms + 999) / 1000));
        rp_http_resp_header(req, resp, "Retry-After", secs);
    }
    if (rc < 0)
        return rc;
    rp_buf_addc(&resp->body, '{');
    if (cookie) {
        int64_t max_age = (info.expires_at - rp_clock_now_ms(api->clock)) / 1000;
        set_session_cookie(req, resp, token.data, max_age);
        revoke_old_cookie_session(req, info.token_id);
        rp_buf_adds(&resp->body, "\"session\":\"cookie\"");
        if ((rc = add_csrf(req, &resp->body, info.token_id)) < 0)
            return rc;
    } else {
        rp_buf_adds(&resp->body, "\"token\":");
        rp_buf_add_json_str(&resp->body, token.data, token.len);
    }
    rp_buf_adds(&resp->body, ",\"expires_at\":\"");
    rp_time_format_datetime(&resp->body, info.expires_at);
    rp_buf_adds(&resp->body, "\",\"user\":");
    user_json(&resp->body, &info.user);
    rp_buf_addc(&resp->body, '}');
    return 0;
}

static int h_logout(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct rp_api *api = api_of(req);
    const struct rp_principal *p = principal_of(req);
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if ((rc = rp_auth_token_revoke(api->auth, p->token_id, &req->err)) < 0)
        return rc;
    if (p->via_cookie)
        set_session_cookie(req, resp, NULL, 0);
    resp->status = 204;
    return 0;
}

static int h_me(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct rp_api *api = api_of(req);
    const struct rp_principal *p = principal_of(req);
    struct rp_user_info user;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if ((rc = rp_auth_user_get(api->auth, p->username, &user, &req->err)) < 0)
        return rc;
    user_json_open(&resp->body, &user);
    /* A reloaded page has lost the login answer: it fetches the CSRF token here. */
    if (p->via_cookie && (rc = add_csrf(req, &resp->body, p->token_id)) < 0)
        return rc;
    /* What the caller may do, so a client can offer only what will work. */
    {
        struct rp_meta *m = rp_meta_acquire(api->meta);
        rp_buf_adds(&resp->body, ",\"permissions\":");
        rp_policy_describe(p, m, &resp->body);
        rp_meta_release(m);
    }
    rp_buf_addc(&resp->body, '}');
    return 0;
}

static void add_time_or_null(struct rp_buf *b, const char *key, int64_t ms)
{
    rp_buf_addf(b, ",\"%s\":", key);
    if (!ms) {
        rp_buf_adds(b, "null");
        return;
    }
    rp_buf_addc(b, '"');
    rp_time_format_datetime(b, ms);
    rp_buf_addc(b, '"');
}

struct session_list {
    struct rp_buf *out;
    const char *current; /* the caller's token id */
    size_t n;
};

static void session_row(void *ctx, const struct rp_auth_token_info *t)
{
    struct session_list *x = ctx;
    struct rp_buf *b = x->out;

    rp_buf_adds(b, x->n++ ? ",{\"id\":" : "{\"id\":");
    rp_buf_add_json_str(b, t->id, strlen(t->id));
    rp_buf_adds(b, ",\"kind\":");
    rp_buf_add_json_str(b, t->kind, strlen(t->kind));
    rp_buf_adds(b, ",\"name\":");
    if (t->name[0])
        rp_buf_add_json_str(b, t->name, strlen(t->name));
    else
        rp_buf_adds(b, "null");
    add_time_or_null(b, "created_at", t->created_at);
    add_time_or_null(b, "expires_at", t->expires_at);
    add_time_or_null(b, "last_used_at", t->last_used_at);
    rp_buf_addf(b, ",\"current\":%s}", strcmp(t->id, x->current) == 0 ? "true" : "false");
}

static int h_sessions(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct rp_api *api = api_of(req);
    const struct rp_principal *p = principal_of(req);
    struct session_list x = {.out = &resp->body, .current = p->token_id};
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    rp_buf_adds(&resp->body, "{\"data\":[");
    if ((rc = rp_auth_token_list(api->auth, p->user_id, session_row, &x, &req->err)) < 0)
        return rc;
    rp_buf_adds(&resp->body, "]}");
    return rp_buf_error(&resp->body);
}

static int h_session_revoke(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct rp_api *api = api_of(req);
    const struct rp_principal *p = principal_of(req);
    struct rp_auth_client client = api_client_of(req);
    const char *id = req->params[0];
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    /* Admins may end anyone's session; everyone else only their own (others' are 404). */
    rc = rp_auth_token_revoke_from(api->auth, &client, id, p->is_admin ? NULL : p->user_id,
                                   &req->err);
    if (rc < 0)
        return rc;
    if (p->via_cookie && strcmp(id, p->token_id) == 0)
        set_session_cookie(req, resp, NULL, 0);
    resp->status = 204;
    return 0;
}

static int h_token_create(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const keys[] = {"name", "expires_at", NULL};
    struct rp_api *api = api_of(req);
    const struct rp_principal *p = principal_of(req);
    struct rp_auth_client client = api_client_of(req);
    const json_t *exp;
    struct rp_buf token;
    const char *name;
    int64_t expires = 0;
    char id[40];
    json_t *body;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 || !(body = api_body_json(req)))
        return rc < 0 ? rc : req->err.code;
    if ((rc = api_check_body_keys(req, body, keys)) < 0)
        return rc;
    if (!(name = string_field(req, body, "name")))
        return req->err.code;
    if (strlen(name) > 100)
        return rp_error_field(&req->err, RP_EVALIDATION, "name", "too_long",
                              "field \"name\" is longer than 100 characters");
    exp = json_object_get(body, "expires_at");
    if (exp && !json_is_null(exp)) {
        if (!json_is_string(exp) ||
            rp_time_parse_datetime(json_string_value(exp), json_string_length(exp), &expires) < 0)
            return rp_error_field(&req->err, RP_EVALIDATION, "expires_at", "invalid_type",
                                  "field \"expires_at\" must be an RFC 3339 timestamp");
        if (expires <= rp_clock_now_ms(api->clock))
            return rp_error_field(&req->err, RP_EVALIDATION, "expires_at", "in_past",
                                  "field \"expires_at\" must be in the future");
    }
    rp_buf_init(&token, &req->arena, 256);
    rc = rp_auth_token_create_from(api->auth, &client, p->user_id, name, expires, &token, id,
                                   &req->err);
    if (rc < 0)
        return rc;
    resp->status = 201;
    rp_buf_adds(&resp->body, "{\"id\":");
    rp_buf_add_json_str(&resp->body, id, strlen(id));
    rp_buf_adds(&resp->body, ",\"name\":");
    rp_buf_add_json_str(&resp->body, name, strlen(name));
    rp_buf_adds(&resp->body, ",\"token\":");
    rp_buf_add_json_str(&resp->body, token.data, token.len);
    rp_buf_adds(&resp->body, ",\"expires_at\":");
    if (expires) {
        rp_buf_addc(&resp->body, '"');
        rp_time_format_datetime(&resp->body, expires);
        rp_buf_addc(&resp->body, '"');
    } else {
        rp_buf_adds(&resp->body, "null");
    }
    rp_buf_addc(&resp->body, '}');
    return 0;
}

void api_register_auth(struct rp_http_router *r)
{
    rp_http_route(r, RP_HTTP_POST, "/api/v1/auth/login", RP_ROUTE_PUBLIC | RP_ROUTE_JSON_BODY,
                  h_login);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/auth/logout", 0, h_logout);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/auth/me", 0, h_me);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/auth/tokens", RP_ROUTE_JSON_BODY, h_token_create);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/auth/sessions", 0, h_sessions);
    rp_http_route(r, RP_HTTP_DELETE, "/api/v1/auth/sessions/{id}", 0, h_session_revoke);
}
