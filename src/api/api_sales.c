/*
 * The lead-to-order loop (docs/api.md, "Sales"): these handlers read parameters and bodies;
 * the work is in sales/sales.h.
 */
#include "api/api_int.h"

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

void api_register_sales(struct rp_http_router *r)
{
    rp_http_route(r, RP_HTTP_GET, "/api/v1/records/{object}/{id}/stages", 0, h_stages);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/records/lead/{id}/convert", 0, h_convert);
}
