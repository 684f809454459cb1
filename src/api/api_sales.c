/*
 * The lead-to-order loop (docs/api.md, "Sales"): these handlers read parameters and bodies;
 * the work is in sales/sales.h.
 */
#include "api/api_int.h"

#include <strings.h>

/* Names a public form may send at most (its fields, attribution, consent, honeypot). */
#define FORM_MAX_INPUTS 64

/* POST /api/v1/records/lead/{id}/convert with optional options (sales.h). */
static int h_convert(struct rp_http_req *req, struct rp_http_resp *resp)
{
    const json_t *options = NULL;
    bool already = false;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (req->body && req->body_len && !(options = api_body_json(req)))
        return req->err.code;
    if ((rc = rp_sales_convert_lead(api_of(req)->sales, principal_of(req), req->params[0], options,
                                    req->request_id, &req->arena, &resp->body, &already,
                                    &req->err)) < 0)
        return rc;
    resp->status = already ? 200 : 201;
    return 0;
}

static int h_stages(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    return rp_sales_stage_history(api_of(req)->sales, principal_of(req), req->params[0],
                                  req->params[1], &req->arena, &resp->body, &req->err);
}

/* A submission as a JSON object of names: from a JSON body or an HTML form's urlencoded one. */
static json_t *submission_of(struct rp_http_req *req)
{
    const char *ct = rp_http_header(req, "Content-Type");
    struct rp_http_pair *pairs;
    size_t n;
    json_t *input;

    if (!req->body || !req->body_len) {
        rp_error_set(&req->err, RP_EINVAL, "a submission needs a body");
        return NULL;
    }
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
        const json_t *body = api_body_json(req);
        return body ? json_incref((json_t *)body) : NULL;
    }
    if (rp_http_form_decode(req->body, req->body_len, FORM_MAX_INPUTS, &req->arena, &pairs, &n,
                            &req->err) < 0)
        return NULL;
    input = json_object();
    for (size_t i = 0; i < n; i++) {
        if (json_object_get(input, pairs[i].name)) {
            rp_error_field(&req->err, RP_EINVAL, pairs[i].name, "duplicate", "\"%s\" is sent twice",
                           pairs[i].name);
            json_decref(input);
            return NULL;
        }
        json_object_set_new(input, pairs[i].name, json_string(pairs[i].value));
    }
    return input;
}

/* POST /api/v1/forms/{name}/submissions: public; any site may post (no credentials). */
static int h_form_submit(struct rp_http_req *req, struct rp_http_resp *resp)
{
    json_t *input;
    int rc;

    rp_http_resp_header(req, resp, "Access-Control-Allow-Origin", "*");
    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (!(input = submission_of(req)))
        return req->err.code ? req->err.code : RP_EINVAL;
    rc = rp_sales_form_submit(api_of(req)->sales, req->params[0], input, req->remote_addr,
                              rp_http_header(req, "Referer"), &req->arena, &resp->body, &req->err);
    json_decref(input);
    if (rc < 0)
        return rc;
    resp->status = 201;
    return 0;
}

/* GET /api/v1/forms/confirm?t=: the double opt-in link, opened from the confirmation e-mail. */
static int h_form_confirm(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const params[] = {"t", NULL};
    int rc;

    if ((rc = api_check_params(req, params)) < 0 ||
        (rc = rp_sales_form_confirm(api_of(req)->sales, rp_http_query(req, "t"), &req->arena,
                                    &req->err)) < 0)
        return rc;
    rp_http_resp_header(req, resp, "Cache-Control", "no-store");
    resp->content_type = "text/html; charset=utf-8";
    rp_buf_adds(&resp->body, "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">"
                             "<title>Confirmed</title><p>Thank you: your subscription is "
                             "confirmed.</p><p lang=\"zh\">谢谢：您的订阅已确认。</p></html>");
    return 0;
}

void api_register_sales(struct rp_http_router *r)
{
    rp_http_route(r, RP_HTTP_POST, "/api/v1/forms/{name}/submissions", RP_ROUTE_PUBLIC,
                  h_form_submit);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/forms/confirm", RP_ROUTE_PUBLIC, h_form_confirm);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/records/{object}/{id}/stages", 0, h_stages);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/records/lead/{id}/convert", 0, h_convert);
}
