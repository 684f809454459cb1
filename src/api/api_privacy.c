/*
 * Privacy endpoints: the consent state of a contact, derived from the consent ledger, and the
 * subject access export and erasure of a contact, and retention policies (the "privacy"
 * permission). The services are in records/privacy.h; these handlers only check parameters.
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

static int h_retention(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    return rp_records_retention_list(api_of(req)->records, principal_of(req), &req->arena,
                                     &resp->body, &req->err);
}

static int h_retention_put(struct rp_http_req *req, struct rp_http_resp *resp)
{
    const json_t *body, *days, *action;
    const char *key;
    json_t *v;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (!(body = api_body_json(req)))
        return req->err.code;
    json_object_foreach((json_t *)body, key, v)
    {
        if (strcmp(key, "days") != 0 && strcmp(key, "action") != 0)
            return rp_error_field(&req->err, RP_EINVAL, key, "unknown_field",
                                  "unknown key \"%s\"; a policy is {\"days\", \"action\"}", key);
    }
    days = json_object_get(body, "days");
    action = json_object_get(body, "action");
    if (!json_is_integer(days))
        return rp_error_field(&req->err, RP_EVALIDATION, "days", "invalid_type",
                              "\"days\" must be a whole number of days (0 removes the policy)");
    if (action && !json_is_string(action))
        return rp_error_field(&req->err, RP_EVALIDATION, "action", "invalid_type",
                              "\"action\" must be \"purge\" or \"anonymise\"");
    if ((rc = rp_records_retention_put(api_of(req)->records, principal_of(req), req->params[0],
                                       json_integer_value(days), json_string_value(action),
                                       req->request_id, &req->arena, &req->err)) < 0)
        return rc;
    return h_retention(req, resp);
}

static int h_retention_run(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    return rp_records_retention_run(api_of(req)->records, principal_of(req), &req->arena,
                                    &resp->body, &req->err);
}

void api_register_privacy(struct rp_http_router *r)
{
    rp_http_route(r, RP_HTTP_GET, "/api/v1/privacy/retention", 0, h_retention);
    rp_http_route(r, RP_HTTP_PUT, "/api/v1/privacy/retention/{object}", RP_ROUTE_JSON_BODY,
                  h_retention_put);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/privacy/retention/run", 0, h_retention_run);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/privacy/contacts/{contact_id}/consent", 0, h_consent);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/privacy/subjects/{contact_id}/export", 0, h_export);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/privacy/subjects/{contact_id}/erase", 0, h_erase);
}
