/*
 * Duplicates and merge (docs/api.md, "Duplicates and merge"): these handlers read parameters
 * and bodies; the work is in sales/sales.h. Duplicate rules themselves are named definitions
 * of kind "duplicate-rules", served by the definitions endpoints.
 */
#include "api/api_int.h"

/* GET /api/v1/records/{object}/{id}/duplicates */
static int h_duplicates(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    return rp_sales_duplicates(api_of(req)->sales, principal_of(req), req->params[0],
                               req->params[1], &req->arena, &resp->body, &req->err);
}

/* POST /api/v1/records/{object}/{id}/merge {"duplicate_id", "fields": {"email": "duplicate"}} */
static int h_merge(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const keys[] = {"duplicate_id", "fields", NULL};
    const json_t *body, *dup;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (!(body = api_body_json(req)) || (rc = api_check_body_keys(req, body, keys)) < 0)
        return req->err.code;
    dup = json_object_get(body, "duplicate_id");
    if (!json_is_string(dup))
        return rp_error_field(&req->err, RP_EINVAL, "duplicate_id", "required",
                              "\"duplicate_id\" is required: the id of the record to merge in");
    if ((rc = rp_sales_merge(api_of(req)->sales, principal_of(req), req->params[0], req->params[1],
                             json_string_value(dup), json_object_get(body, "fields"),
                             req->request_id, &req->arena, &resp->body, &req->err)) < 0)
        return rc;
    resp->status = 201;
    return 0;
}

/* GET /api/v1/merges/{id} */
static int h_merge_get(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    return rp_sales_merge_get(api_of(req)->sales, principal_of(req), req->params[0], &req->arena,
                              &resp->body, &req->err);
}

/* POST /api/v1/merges/{id}/undo */
static int h_undo(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (req->body_len > 0)
        return rp_error_set(&req->err, RP_EINVAL, "this request takes no body");
    return rp_sales_merge_undo(api_of(req)->sales, principal_of(req), req->params[0],
                               req->request_id, &req->arena, &resp->body, &req->err);
}

void api_register_dedup(struct rp_http_router *r)
{
    rp_http_route(r, RP_HTTP_GET, "/api/v1/records/{object}/{id}/duplicates", 0, h_duplicates);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/records/{object}/{id}/merge", RP_ROUTE_JSON_BODY,
                  h_merge);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/merges/{id}", 0, h_merge_get);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/merges/{id}/undo", 0, h_undo);
}
