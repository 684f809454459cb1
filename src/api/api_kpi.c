/*
 * KPIs (docs/kpis.md): the catalogue and one KPI with the common parameters. The work is in
 * analytics/analytics.h; these handlers only read parameters.
 */
#include "api/api_int.h"

/* GET /api/v1/kpis */
static int h_kpis(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    rp_analytics_kpi_list(api_of(req)->analytics, &resp->body);
    return 0;
}

/* GET /api/v1/kpis/{name}?from=&to=&period=&group=&object= */
static int h_kpi(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const allowed[] = {"from", "to", "period", "group", "object", "owner", NULL};
    struct rp_kpi_params kp;
    int rc;

    if ((rc = api_check_params(req, allowed)) < 0)
        return rc;
    kp = (struct rp_kpi_params){.from = rp_http_query(req, "from"),
                                .to = rp_http_query(req, "to"),
                                .period = rp_http_query(req, "period"),
                                .group = rp_http_query(req, "group"),
                                .object = rp_http_query(req, "object"),
                                .owner = rp_http_query(req, "owner")};
    return rp_analytics_kpi(api_of(req)->analytics, principal_of(req), req->params[0], &kp,
                            &req->arena, &resp->body, &req->err);
}

void api_register_kpi(struct rp_http_router *r)
{
    rp_http_route(r, RP_HTTP_GET, "/api/v1/kpis", 0, h_kpis);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/kpis/{name}", 0, h_kpi);
}
