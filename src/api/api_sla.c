/*
 * The SLA engine's definitions (docs/api.md, "SLA"): business calendars and SLA policies,
 * behind manage_automation, and the SLA clocks of one record. The services are in
 * automation/automation.h; these handlers only read parameters and bodies.
 */
#include "api/api_int.h"

/* Calendars and policies are named definitions (kinds "business-calendars", "sla-policies"). */
static int h_calendars(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return api_definitions_get(req, resp, "business-calendars", NULL);
}

static int h_calendar(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return api_definitions_get(req, resp, "business-calendars", req->params[0]);
}

static int h_calendar_put(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return api_definition_put(req, resp, "business-calendars", req->params[0]);
}

static int h_calendar_delete(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return api_definition_delete(req, resp, "business-calendars", req->params[0]);
}

static int h_policies(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return api_definitions_get(req, resp, "sla-policies", NULL);
}

static int h_policy(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return api_definitions_get(req, resp, "sla-policies", req->params[0]);
}

static int h_policy_put(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return api_definition_put(req, resp, "sla-policies", req->params[0]);
}

static int h_policy_delete(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return api_definition_delete(req, resp, "sla-policies", req->params[0]);
}

static int h_record_sla(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    return rp_sla_clocks(api_of(req)->automation, principal_of(req), req->params[0], req->params[1],
                         &req->arena, &resp->body, &req->err);
}

void api_register_sla(struct rp_http_router *r)
{
    rp_http_route(r, RP_HTTP_GET, "/api/v1/sla/calendars", 0, h_calendars);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/sla/calendars/{name}", 0, h_calendar);
    rp_http_route(r, RP_HTTP_PUT, "/api/v1/sla/calendars/{name}", RP_ROUTE_JSON_BODY,
                  h_calendar_put);
    rp_http_route(r, RP_HTTP_DELETE, "/api/v1/sla/calendars/{name}", 0, h_calendar_delete);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/sla/policies", 0, h_policies);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/sla/policies/{name}", 0, h_policy);
    rp_http_route(r, RP_HTTP_PUT, "/api/v1/sla/policies/{name}", RP_ROUTE_JSON_BODY, h_policy_put);
    rp_http_route(r, RP_HTTP_DELETE, "/api/v1/sla/policies/{name}", 0, h_policy_delete);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/records/{object}/{id}/sla", 0, h_record_sla);
}
