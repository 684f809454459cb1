/* /api/v1/auth/...: login, logout, the current user and named API tokens. */
#include "api/api_int.h"
#include "base/time.h"

static int check_body_keys(struct rp_http_req *req, const json_t *body, const char *const *allowed)
{
    const char *key;
    json_t *v;

    if (!json_is_object(body))
        return rp_error_set(&req->err, RP_EINVAL, "the request body must be a JSON object");
    json_object_foreach((json_t *)body, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i]; i++)
            if (strcmp(key, allowed[i]) == 0)
                ok = true;
        if (!ok)
            return rp_error_field(&req->err, RP_EINVAL, key, "unknown_field",
                                  "unknown field \"%s\"", key);
    }
    (void)v;
    return 0;
}

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

static void user_json(struct rp_buf *b, const struct rp_user_info *u)
{
    rp_buf_adds(b, "{\"id\":");
    rp_buf_add_json_str(b, u->id, strlen(u->id));
    rp_buf_adds(b, ",\"username\":");
    rp_buf_add_json_str(b, u->username, strlen(u->username));
    rp_buf_adds(b, ",\"display_name\":");
    rp_buf_add_json_str(b, u->display_name, strlen(u->display_name));
    rp_buf_addf(b, ",\"is_admin\":%s}", u->is_admin ? "true" : "false");
}

static int h_login(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const keys[] = {"username", "password", NULL};
    struct rp_api *api = api_of(req);
    struct rp_user_info user;
    struct rp_buf token;
    const char *username, *password;
    int64_t expires;
    json_t *body;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 || !(body = api_body_json(req)))
        return rc < 0 ? rc : req->err.code;
    if ((rc = check_body_keys(req, body, keys)) < 0)
        return rc;
    username = string_field(req, body, "username");
    password = string_field(req, body, "password");
    if (!username || !password)
        return req->err.code;
    rp_buf_init(&token, &req->arena, 256);
    rc = rp_auth_login(api->auth, username, password, &token, &expires, &user, &req->err);
    if (rc < 0)
        return rc;
    rp_buf_adds(&resp->body, "{\"token\":");
    rp_buf_add_json_str(&resp->body, token.data, token.len);
    rp_buf_adds(&resp->body, ",\"expires_at\":\"");
    rp_time_format_datetime(&resp->body, expires);
    rp_buf_adds(&resp->body, "\",\"user\":");
    user_json(&resp->body, &user);
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
    user_json(&resp->body, &user);
    return 0;
}

static int h_token_create(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const keys[] = {"name", "expires_at", NULL};
    struct rp_api *api = api_of(req);
    const struct rp_principal *p = principal_of(req);
    const json_t *exp;
    struct rp_buf token;
    const char *name;
    int64_t expires = 0;
    char id[40];
    json_t *body;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 || !(body = api_body_json(req)))
        return rc < 0 ? rc : req->err.code;
    if ((rc = check_body_keys(req, body, keys)) < 0)
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
    rc = rp_auth_token_create(api->auth, p->user_id, name, expires, &token, id, &req->err);
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
}
