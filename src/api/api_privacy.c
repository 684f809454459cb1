/*
 * Privacy endpoints: the consent state of a contact, derived from the consent ledger, and the
 * subject access export and erasure of a contact (admins). The services are in
 * records/privacy.h; these handlers only check parameters.
 */
#include "api/api_int.h"
#include "records/privacy.h"

static int h_consent(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const params[] = {NULL};
    int rc;

    if ((rc = api_check_params(req, params)) < 0)
        return rc;
    return rp_records_consent_state(api_of(req)->records, principal_of(req), req->params[0],
                                    &req->arena, &resp->body, &req->err);
}

static int h_export(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const params[] = {NULL};
    int rc;

    if ((rc = api_check_params(req, params)) < 0)
        return rc;
    return rp_records_subject_export(api_of(req)->records, principal_of(req), req->params[0],
                                     req->request_id, &req->arena, &resp->body, &req->err);
}

static int h_erase(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const params[] = {NULL};
    int rc;

    if ((rc = api_check_params(req, params)) < 0)
        return rc;
    return rp_records_subject_erase(api_of(req)->records, principal_of(req), req->params[0],
                                    req->request_id, &req->arena, &resp->body, &req->err);
}

void api_register_privacy(struct rp_http_router *r)
{
    rp_http_route(r, RP_HTTP_GET, "/api/v1/privacy/contacts/{contact_id}/consent", 0, h_consent);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/privacy/subjects/{contact_id}/export", 0, h_export);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/privacy/subjects/{contact_id}/erase", 0, h_erase);
}
