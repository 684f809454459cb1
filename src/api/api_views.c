/*
 * /api/v1/views: saved list views per user (docs/api.md, "Saved views"); the rules are in
 * records/records_view.c.
 */
#include "api/api_int.h"

static int h_views(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const params[] = {"object", NULL};
    int rc;

    if ((rc = api_check_params(req, params)) < 0)
        return rc;
    return rp_records_views(api_of(req)->records, principal_of(req), rp_http_query(req, "object"),
                            &resp->body, &req->err);
}

static int h_view_create(struct rp_http_req *req, struct rp_http_resp *resp)
{
    const json_t *body;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (!(body = api_body_json(req)))
        return req->err.code;
    if ((rc = rp_records_view_put(api_of(req)->records, principal_of(req), NULL, body, &resp->body,
                                  &req->err)) < 0)
        return rc;
    resp->status = 201;
    return 0;
}

static int h_view_change(struct rp_http_req *req, struct rp_http_resp *resp)
{
    const json_t *body;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (!(body = api_body_json(req)))
        return req->err.code;
    return rp_records_view_put(api_of(req)->records, principal_of(req), req->params[0], body,
                               &resp->body, &req->err);
}

static int h_view_delete(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 ||
        (rc = rp_records_view_delete(api_of(req)->records, principal_of(req), req->params[0],
                                     &req->err)) < 0)
        return rc;
    resp->status = 204;
    return 0;
}

void api_register_views(struct rp_http_router *r)
{
    rp_http_route(r, RP_HTTP_GET, "/api/v1/views", 0, h_views);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/views", RP_ROUTE_JSON_BODY, h_view_create);
    rp_http_route(r, RP_HTTP_PATCH, "/api/v1/views/{id}", RP_ROUTE_JSON_BODY, h_view_change);
    rp_http_route(r, RP_HTTP_DELETE, "/api/v1/views/{id}", 0, h_view_delete);
}
