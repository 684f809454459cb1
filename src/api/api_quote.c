/*
 * CPQ (docs/api.md, "Quotes"): the quote PDF. Pricing needs no handler of its own: quotes and
 * lines are written through /api/v1/records like any record, and the write hooks of
 * sales/sales_quote.c price them; approvals go through /api/v1/records/quote/{id}/approval.
 */
#include "api/api_int.h"

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

void api_register_quote(struct rp_http_router *r)
{
    rp_http_route(r, RP_HTTP_GET, "/api/v1/records/quote/{id}/pdf", 0, h_quote_pdf);
}
