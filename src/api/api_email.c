/*
 * Email (docs/api.md, "Email"): templates and the message log behind manage_automation, sending
 * a template on a record one may read, and the public endpoints a recipient reaches from a
 * message: unsubscribe (GET, and the RFC 8058 one-click POST), the open pixel and tracked
 * links. The public ones trust nothing but the link's signature (automation/email.c).
 */
#include "api/api_int.h"

#include <string.h>

/* Templates are named definitions (kind "email-templates") under their own path. */
static int h_templates(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return api_definitions_get(req, resp, "email-templates", NULL);
}

static int h_template(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return api_definitions_get(req, resp, "email-templates", req->params[0]);
}

static int h_template_put(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return api_definition_put(req, resp, "email-templates", req->params[0]);
}

static int h_template_delete(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return api_definition_delete(req, resp, "email-templates", req->params[0]);
}

static const char *body_string(struct rp_http_req *req, const json_t *body, const char *key,
                               bool required)
{
    const json_t *v = json_object_get(body, key);

    if (!v && !required)
        return NULL;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 1024) {
        rp_error_field(&req->err, RP_EVALIDATION, key, required ? "required" : "invalid_type",
                       "\"%s\" is a non-empty string", key);
        return NULL;
    }
    return json_string_value(v);
}

/* POST /email/send {"template", "record_id", "object"?, "to"?}; Idempotency-Key honoured. */
static int h_send(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const keys[] = {"template", "object", "record_id", "to", NULL};
    struct rp_email_request rq = {0};
    const json_t *body;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (!(body = api_body_json(req)))
        return req->err.code;
    if ((rc = api_check_body_keys(req, body, keys)) < 0)
        return rc;
    if (!(rq.template_name = body_string(req, body, "template", true)) ||
        !(rq.record_id = body_string(req, body, "record_id", true)))
        return req->err.code;
    rq.object = body_string(req, body, "object", false);
    rq.to = body_string(req, body, "to", false);
    if (req->err.code)
        return req->err.code;
    rq.key = rp_http_header(req, "Idempotency-Key");
    if ((rc = rp_email_send(api_of(req)->automation, principal_of(req), &rq, &req->arena,
                            &resp->body, &req->err)) < 0)
        return rc;
    resp->status = 202;
    return 0;
}

static int h_messages(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const params[] = {"record_id", "state", "limit", NULL};
    int64_t limit;
    int rc;

    if ((rc = api_check_params(req, params)) < 0 ||
        (rc = api_int_param(req, "limit", 1, 1000, 100, &limit)) < 0)
        return rc;
    return rp_email_messages(api_of(req)->automation, principal_of(req),
                             rp_http_query(req, "record_id"), rp_http_query(req, "state"),
                             (size_t)limit, &resp->body, &req->err);
}

/*
 * GET shows the recipient a page; POST is the mail client's one-click unsubscribe (RFC 8058,
 * body "List-Unsubscribe=One-Click"), which needs no page. Both carry the token as ?t=.
 */
static int h_unsubscribe(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const params[] = {"t", NULL};
    const char *t;
    int rc;

    if ((rc = api_check_params(req, params)) < 0)
        return rc;
    if (!(t = rp_http_query(req, "t")) || !*t)
        return rp_error_field(&req->err, RP_EINVAL, "t", "required",
                              "the unsubscribe link is incomplete");
    if ((rc = rp_email_unsubscribe(api_of(req)->automation, t, &req->err)) < 0)
        return rc;
    rp_http_resp_header(req, resp, "Cache-Control", "no-store");
    resp->content_type = "text/html; charset=utf-8";
    rp_buf_adds(&resp->body,
                "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Unsubscribed"
                "</title></head><body><p>You are unsubscribed and will receive no more of these "
                "emails.</p><p lang=\"zh\">您已退订，将不再收到此类邮件。</p></body></html>");
    return 0;
}

/* The smallest transparent GIF: 1x1, one palette entry. */
static const unsigned char pixel_gif[] = {
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00,
    0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};

static int h_open(struct rp_http_req *req, struct rp_http_resp *resp)
{
    const char *token = req->params[0], *url;
    size_t n = strlen(token);
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (n < 5 || strcmp(token + n - 4, ".gif") != 0)
        return rp_error_set(&req->err, RP_EINVAL, "the link is not valid");
    token = rp_arena_strndup(&req->arena, token, n - 4);
    if ((rc = rp_email_track(api_of(req)->automation, RP_EMAIL_LINK_OPEN, token, &req->arena, &url,
                             &req->err)) < 0)
        return rc;
    rp_http_resp_header(req, resp, "Cache-Control", "no-store");
    resp->content_type = "image/gif";
    rp_buf_add(&resp->body, pixel_gif, sizeof(pixel_gif));
    return 0;
}

static int h_click(struct rp_http_req *req, struct rp_http_resp *resp)
{
    const char *url = NULL;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 ||
        (rc = rp_email_track(api_of(req)->automation, RP_EMAIL_LINK_CLICK, req->params[0],
                             &req->arena, &url, &req->err)) < 0)
        return rc;
    /* Only where the signed token points: never a target taken from the request. */
    resp->status = 302;
    rp_http_resp_header(req, resp, "Location", url);
    rp_http_resp_header(req, resp, "Cache-Control", "no-store");
    resp->content_type = "text/plain; charset=utf-8";
    rp_buf_adds(&resp->body, "Redirecting\n");
    return 0;
}

void api_register_email(struct rp_http_router *r)
{
    rp_http_route(r, RP_HTTP_GET, "/api/v1/email/templates", 0, h_templates);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/email/templates/{name}", 0, h_template);
    rp_http_route(r, RP_HTTP_PUT, "/api/v1/email/templates/{name}", RP_ROUTE_JSON_BODY,
                  h_template_put);
    rp_http_route(r, RP_HTTP_DELETE, "/api/v1/email/templates/{name}", 0, h_template_delete);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/email/send", RP_ROUTE_JSON_BODY, h_send);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/email/messages", 0, h_messages);
    rp_http_route(r, RP_HTTP_GET | RP_HTTP_POST, "/api/v1/email/unsubscribe", RP_ROUTE_PUBLIC,
                  h_unsubscribe);
    rp_http_route(r, RP_HTTP_GET, "/t/o/{token}", RP_ROUTE_PUBLIC, h_open);
    rp_http_route(r, RP_HTTP_GET, "/t/c/{token}", RP_ROUTE_PUBLIC, h_click);
}
