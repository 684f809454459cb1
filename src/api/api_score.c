/*
 * Lead scoring (docs/scoring.md): the explanation of a record's score and the training of a
 * learned model; the models themselves are named definitions (/api/v1/definitions/
 * scoring-models/{name}). The work is in sales/sales.h.
 */
#include "api/api_int.h"

#include <string.h>

/* GET /api/v1/records/{object}/{id}/score[?model=]: the score and its contributions. */
static int h_score(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const params[] = {"model", NULL};
    int rc;

    if ((rc = api_check_params(req, params)) < 0)
        return rc;
    return rp_sales_score_explain(api_of(req)->sales, principal_of(req), req->params[0],
                                  req->params[1], rp_http_query(req, "model"), &req->arena,
                                  &resp->body, &req->err);
}

/* POST /api/v1/scoring/{model}/train: fits a learned model on the CRM's labelled records. */
static int h_train(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (req->body && req->body_len)
        return rp_error_set(&req->err, RP_EINVAL, "training takes no body");
    return rp_sales_score_train(api_of(req)->sales, principal_of(req), req->params[0], &req->arena,
                                &resp->body, &req->err);
}

/* POST /api/v1/scoring/{model}/recompute: rescores every record of the model's object now. */
static int h_recompute(struct rp_http_req *req, struct rp_http_resp *resp)
{
    size_t updated = 0;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 ||
        (rc = rp_policy_check(principal_of(req), NULL, RP_ACT_MANAGE_METADATA, &req->err)) < 0)
        return rc;
    if (req->body && req->body_len)
        return rp_error_set(&req->err, RP_EINVAL, "a recompute takes no body");
    if ((rc = rp_sales_score_recompute(api_of(req)->sales, req->params[0], &updated, &req->err)) <
        0)
        return rc;
    rp_buf_adds(&resp->body, "{\"model\":");
    rp_buf_add_json_str(&resp->body, req->params[0], strlen(req->params[0]));
    rp_buf_addf(&resp->body, ",\"updated\":%zu}", updated);
    return 0;
}

void api_register_score(struct rp_http_router *r)
{
    rp_http_route(r, RP_HTTP_GET, "/api/v1/records/{object}/{id}/score", 0, h_score);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/scoring/{model}/train", 0, h_train);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/scoring/{model}/recompute", 0, h_recompute);
}
