/*
 * CPQ (docs/api.md, "Quotes"): the quote PDF and e-signature. Pricing needs no handler of its
 * own: quotes and lines are written through /api/v1/records like any record, and the write
 * hooks of sales/sales_quote.c price them; approvals go through
 * /api/v1/records/quote/{id}/approval. The signing endpoints are public: the link's token is
 * the authority, and they show the signer the quote and nothing else.
 */
#include "api/api_int.h"

#include "base/json.h"

#include <string.h>
#include <strings.h>

#define SIGN_FORM_MAX 8

/* GET /api/v1/records/quote/{id}/pdf: the quote as a PDF (the caller must read the quote). */
static int h_quote_pdf(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if ((rc = rp_sales_quote_pdf(api_of(req)->sales, principal_of(req), req->params[0], &req->arena,
                                 &resp->body, &req->err)) < 0)
        return rc;
    resp->content_type = "application/pdf";
    rp_http_resp_header(req, resp, "Content-Disposition", "inline; filename=\"quote.pdf\"");
    rp_http_resp_header(req, resp, "Cache-Control", "no-store");
    /* The web UI's quote builder previews the PDF in a frame of its own origin. */
    rp_http_resp_header(req, resp, "X-Frame-Options", "SAMEORIGIN");
    return 0;
}

/* POST /api/v1/records/quote/{id}/signing-link: send an approved quote for signature. */
static int h_signing_link(struct rp_http_req *req, struct rp_http_resp *resp)
{
    const json_t *options = NULL;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (req->body && req->body_len && !(options = api_body_json(req)))
        return req->err.code;
    if ((rc = rp_sales_signing_link(api_of(req)->sales, principal_of(req), req->params[0], options,
                                    &req->arena, &resp->body, &req->err)) < 0)
        return rc;
    resp->status = 201;
    return 0;
}

static int h_signings(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    return rp_sales_signings(api_of(req)->sales, principal_of(req), req->params[0], &req->arena,
                             &resp->body, &req->err);
}

static int h_signing_view(struct rp_http_req *req, struct rp_http_resp *resp)
{
    json_t *view;
    char *text;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 ||
        (rc = rp_sales_signing_view(api_of(req)->sales, req->params[0], &req->arena, &view,
                                    &req->err)) < 0)
        return rc;
    text = rp_json_dumps(view, JSON_COMPACT, &req->err);
    json_decref(view);
    if (!text)
        return req->err.code;
    rp_buf_adds(&resp->body, text);
    free(text);
    rp_http_resp_header(req, resp, "Cache-Control", "no-store");
    return 0;
}

static int h_signing_pdf(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 ||
        (rc = rp_sales_signing_pdf(api_of(req)->sales, req->params[0], &req->arena, &resp->body,
                                   &req->err)) < 0)
        return rc;
    resp->content_type = "application/pdf";
    rp_http_resp_header(req, resp, "Content-Disposition", "inline; filename=\"quote.pdf\"");
    rp_http_resp_header(req, resp, "Cache-Control", "no-store");
    return 0;
}

/* The signer's answer: JSON, or the page's urlencoded form. */
static json_t *signing_input(struct rp_http_req *req)
{
    const char *ct = rp_http_header(req, "Content-Type");
    struct rp_http_pair *pairs;
    size_t n;
    json_t *input;

    if (!req->body || !req->body_len) {
        rp_error_set(&req->err, RP_EINVAL, "signing needs a body: {\"name\", \"accept\"}");
        return NULL;
    }
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
        const json_t *body = api_body_json(req);
        return body ? json_incref((json_t *)body) : NULL;
    }
    if (rp_http_form_decode(req->body, req->body_len, SIGN_FORM_MAX, &req->arena, &pairs, &n,
                            &req->err) < 0)
        return NULL;
    input = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(input, pairs[i].name, json_string(pairs[i].value));
    return input;
}

static int h_sign(struct rp_http_req *req, struct rp_http_resp *resp)
{
    json_t *input;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (!(input = signing_input(req)))
        return req->err.code ? req->err.code : RP_EINVAL;
    rc = rp_sales_sign(api_of(req)->sales, req->params[0], input, req->remote_addr, &req->arena,
                       &resp->body, &req->err);
    json_decref(input);
    return rc;
}

/* ---- the signer's page: /sign/{token} (no script: the form posts back here) ---- */

static void page_start(struct rp_http_req *req, struct rp_http_resp *resp, const char *title)
{
    resp->content_type = "text/html; charset=utf-8";
    rp_http_resp_header(req, resp, "Cache-Control", "no-store");
    rp_buf_adds(&resp->body, "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\">"
                             "<meta name=\"viewport\" content=\"width=device-width\"><title>");
    rp_buf_add_html(&resp->body, title, strlen(title));
    rp_buf_adds(&resp->body, "</title><body>");
}

static void page_text(struct rp_buf *b, const char *tag, const char *label, const json_t *v)
{
    const char *s = json_string_value(v);
    char num[64];

    if (!s && json_is_number(v)) {
        snprintf(num, sizeof(num), "%.2f", json_number_value(v));
        s = num;
    }
    rp_buf_addf(b, "<%s>", tag);
    rp_buf_add_html(b, label, strlen(label));
    rp_buf_add_html(b, s ? s : "", s ? strlen(s) : 0);
    rp_buf_addf(b, "</%s>", tag);
}

static int h_sign_page(struct rp_http_req *req, struct rp_http_resp *resp)
{
    const char *token = req->params[0];
    json_t *view;
    struct rp_buf *b = &resp->body;
    const char *state;
    int rc;

    if (req->method == RP_HTTP_POST) {
        json_t *input = signing_input(req);
        struct rp_buf ignore;
        if (!input)
            return req->err.code ? req->err.code : RP_EINVAL;
        rp_buf_init(&ignore, &req->arena, 4096);
        rc = rp_sales_sign(api_of(req)->sales, token, input, req->remote_addr, &req->arena, &ignore,
                           &req->err);
        json_decref(input);
        if (rc < 0)
            return rc;
    }
    if ((rc = rp_sales_signing_view(api_of(req)->sales, token, &req->arena, &view, &req->err)) < 0)
        return rc;
    state = json_string_value(json_object_get(view, "state"));
    page_start(req, resp, "Quote for signature / 报价签署");
    page_text(b, "h1", "", json_object_get(view, "name"));
    page_text(b, "p", "Quote / 报价单: ", json_object_get(view, "quote_number"));
    page_text(b, "p", "Total / 总计: ", json_object_get(view, "total"));
    page_text(b, "p", "Currency / 币种: ", json_object_get(view, "currency"));
    page_text(b, "p", "Valid until / 有效期至: ", json_object_get(view, "valid_until"));
    rp_buf_adds(b, "<p><a href=\"/api/v1/signing/");
    rp_buf_add_html(b, token, strlen(token));
    rp_buf_adds(b, "/pdf\">Read the quote (PDF) / 阅读报价单</a></p>");
    if (strcmp(state, "open") == 0) {
        rp_buf_adds(b, "<form method=\"post\"><p><label>Full name / 姓名 <input name=\"name\""
                       " required maxlength=\"200\"></label></p><p><label><input"
                       " type=\"checkbox\" name=\"accept\" value=\"true\" required> I accept"
                       " this quote / 我接受此报价</label></p><p><button>Sign / 签署</button></p>"
                       "</form>");
    } else {
        page_text(b, "p", "Status / 状态: ", json_object_get(view, "state"));
        if (strcmp(state, "signed") == 0)
            page_text(b, "p", "Signed by / 签署人: ", json_object_get(view, "signer_name"));
    }
    rp_buf_adds(b, "</body></html>");
    json_decref(view);
    return 0;
}

void api_register_quote(struct rp_http_router *r)
{
    rp_http_route(r, RP_HTTP_GET, "/api/v1/records/quote/{id}/pdf", 0, h_quote_pdf);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/records/quote/{id}/signing-link", 0, h_signing_link);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/records/quote/{id}/signing", 0, h_signings);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/signing/{token}", RP_ROUTE_PUBLIC, h_signing_view);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/signing/{token}/pdf", RP_ROUTE_PUBLIC, h_signing_pdf);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/signing/{token}", RP_ROUTE_PUBLIC, h_sign);
    rp_http_route(r, RP_HTTP_GET | RP_HTTP_POST, "/sign/{token}", RP_ROUTE_PUBLIC, h_sign_page);
}
