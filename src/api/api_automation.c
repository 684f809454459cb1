/*
 * Automation rules, their run log, and the durable job queue (docs/api.md, "Automation"), all
 * behind the manage_automation permission; and incoming events from integrations
 * (publish_events). The services are in automation/automation.h and
 * jobs/jobs.h; these handlers only read parameters and bodies.
 */
#include "api/api_int.h"

#include <string.h>

static int h_rules(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    return rp_automation_rules(api_of(req)->automation, principal_of(req), &resp->body, &req->err);
}

static int h_rule_put(struct rp_http_req *req, struct rp_http_resp *resp)
{
    const json_t *body;
    bool created = false;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (!(body = api_body_json(req)))
        return req->err.code;
    if ((rc = rp_automation_rule_put(api_of(req)->automation, principal_of(req), req->params[0],
                                     body, &created, &req->err)) < 0)
        return rc;
    resp->status = created ? 201 : 200;
    return rp_automation_rules(api_of(req)->automation, principal_of(req), &resp->body, &req->err);
}

static int h_rule_delete(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 ||
        (rc = rp_automation_rule_delete(api_of(req)->automation, principal_of(req), req->params[0],
                                        &req->err)) < 0)
        return rc;
    resp->status = 204;
    return 0;
}

static int h_runs(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const params[] = {"rule", "limit", NULL};
    int64_t limit;
    int rc;

    if ((rc = api_check_params(req, params)) < 0 ||
        (rc = api_int_param(req, "limit", 1, 1000, 100, &limit)) < 0)
        return rc;
    return rp_automation_runs(api_of(req)->automation, principal_of(req),
                              rp_http_query(req, "rule"), (size_t)limit, &resp->body, &req->err);
}

static int h_jobs(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const params[] = {"state", "limit", NULL};
    static const char *const states[] = {"queued", "running", "done", "dead", "cancelled", NULL};
    const char *state;
    int64_t limit;
    int rc;

    if ((rc = api_check_params(req, params)) < 0 ||
        (rc = api_int_param(req, "limit", 1, 1000, 100, &limit)) < 0 ||
        (rc = rp_policy_check(principal_of(req), NULL, RP_ACT_MANAGE_AUTOMATION, &req->err)) < 0)
        return rc;
    state = rp_http_query(req, "state");
    if (state) {
        size_t i = 0;
        while (states[i] && strcmp(states[i], state) != 0)
            i++;
        if (!states[i])
            return rp_error_field(&req->err, RP_EINVAL, "state", "invalid",
                                  "\"state\" must be queued, running, done, dead or cancelled");
    }
    return rp_jobs_list(api_of(req)->store, state, (size_t)limit, &resp->body, &req->err);
}

static int job_action(struct rp_http_req *req, bool retry)
{
    struct rp_api *api = api_of(req);
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 ||
        (rc = rp_policy_check(principal_of(req), NULL, RP_ACT_MANAGE_AUTOMATION, &req->err)) < 0)
        return rc;
    return retry ? rp_jobs_retry(api->store, api->clock, req->params[0], &req->err)
                 : rp_jobs_cancel(api->store, api->clock, req->params[0], &req->err);
}

static int h_job_retry(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc = job_action(req, true);
    if (rc == 0)
        resp->status = 204;
    return rc;
}

static int h_job_cancel(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc = job_action(req, false);
    if (rc == 0)
        resp->status = 204;
    return rc;
}

static int h_event(struct rp_http_req *req, struct rp_http_resp *resp)
{
    const json_t *body;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (!(body = api_body_json(req)))
        return req->err.code;
    if ((rc = rp_automation_event(api_of(req)->automation, principal_of(req), req->params[0], body,
                                  rp_http_header(req, "Idempotency-Key"), &resp->body, &req->err)) <
        0)
        return rc;
    resp->status = 202;
    return 0;
}

/* Approval processes are named definitions (kind "approval-processes") under their own path. */
static int h_processes(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return api_definitions_get(req, resp, "approval-processes", NULL);
}

static int h_process_put(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return api_definition_put(req, resp, "approval-processes", req->params[0]);
}

static int h_process_delete(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return api_definition_delete(req, resp, "approval-processes", req->params[0]);
}

static int h_approval(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    return rp_approval_history(api_of(req)->automation, principal_of(req), req->params[0],
                               req->params[1], &req->arena, &resp->body, &req->err);
}

/* POST .../approval/{action} with an optional {"comment": "..."}. */
static int h_approval_act(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const actions[] = {"submit", "approve", "reject", "recall"};
    const char *comment = NULL;
    size_t i;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    for (i = 0; i < 4 && strcmp(actions[i], req->params[2]) != 0; i++)
        ;
    if (i == 4)
        return rp_error_set(&req->err, RP_ENOTFOUND,
                            "approval actions are submit, approve, reject and recall");
    if (req->body && req->body_len) {
        const json_t *body = api_body_json(req), *c;
        const char *key;
        json_t *v;
        if (!body)
            return req->err.code;
        if (!json_is_object(body))
            return rp_error_set(&req->err, RP_EINVAL, "the body is {\"comment\": \"...\"}");
        json_object_foreach((json_t *)body, key, v)
        {
            if (strcmp(key, "comment") != 0)
                return rp_error_field(&req->err, RP_EINVAL, key, "unknown_field",
                                      "unknown key \"%s\"; the body is {\"comment\"}", key);
        }
        c = json_object_get(body, "comment");
        if (c && !json_is_string(c) && !json_is_null(c))
            return rp_error_field(&req->err, RP_EVALIDATION, "comment", "invalid_type",
                                  "\"comment\" is a string");
        comment = json_string_value(c);
    }
    return rp_approval_act(api_of(req)->automation, principal_of(req), req->params[0],
                           req->params[1], (enum rp_approval_action)i, comment, &req->arena,
                           &resp->body, &req->err);
}

static int h_webhooks(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    return rp_webhooks(api_of(req)->automation, principal_of(req), &resp->body, &req->err);
}

static int h_webhook_put(struct rp_http_req *req, struct rp_http_resp *resp)
{
    const json_t *body;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (!(body = api_body_json(req)))
        return req->err.code;
    if ((rc = rp_webhook_put(api_of(req)->automation, principal_of(req), req->params[0], body,
                             &resp->body, &req->err)) < 0)
        return rc;
    resp->status = strstr(resp->body.data, "\"created\":true") ? 201 : 200;
    return 0;
}

static int h_webhook_delete(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 ||
        (rc = rp_webhook_delete(api_of(req)->automation, principal_of(req), req->params[0],
                                &req->err)) < 0)
        return rc;
    resp->status = 204;
    return 0;
}

static int h_webhook_replay(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const params[] = {"after", NULL};
    int64_t after;
    size_t queued = 0;
    int rc;

    if ((rc = api_check_params(req, params)) < 0 ||
        (rc = api_int_param(req, "after", 0, INT64_MAX, 0, &after)) < 0 ||
        (rc = rp_webhook_replay(api_of(req)->automation, principal_of(req), req->params[0], after,
                                &queued, &req->err)) < 0)
        return rc;
    rp_buf_addf(&resp->body, "{\"queued\":%zu}", queued);
    resp->status = 202;
    return 0;
}

static int h_enrolments(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const params[] = {"state", NULL};
    int rc;

    if ((rc = api_check_params(req, params)) < 0)
        return rc;
    return rp_journey_enrolments(api_of(req)->automation, principal_of(req), req->params[0],
                                 rp_http_query(req, "state"), &resp->body, &req->err);
}

/* POST .../enrol and .../leave: {"record_id"}. */
static int enrol_or_leave(struct rp_http_req *req, struct rp_http_resp *resp, bool leave)
{
    static const char *const keys[] = {"record_id", NULL};
    const json_t *body;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (!(body = api_body_json(req)))
        return req->err.code;
    if ((rc = api_check_body_keys(req, body, keys)) < 0)
        return rc;
    return rp_journey_enrol_record(api_of(req)->automation, principal_of(req), req->params[0],
                                   json_string_value(json_object_get(body, "record_id")), leave,
                                   &resp->body, &req->err);
}

static int h_enrol(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return enrol_or_leave(req, resp, false);
}

static int h_leave(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return enrol_or_leave(req, resp, true);
}

void api_register_automation(struct rp_http_router *r)
{
    rp_http_route(r, RP_HTTP_GET, "/api/v1/webhooks", 0, h_webhooks);
    rp_http_route(r, RP_HTTP_PUT, "/api/v1/webhooks/{name}", RP_ROUTE_JSON_BODY, h_webhook_put);
    rp_http_route(r, RP_HTTP_DELETE, "/api/v1/webhooks/{name}", 0, h_webhook_delete);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/webhooks/{name}/replay", 0, h_webhook_replay);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/approvals/processes", 0, h_processes);
    rp_http_route(r, RP_HTTP_PUT, "/api/v1/approvals/processes/{name}", RP_ROUTE_JSON_BODY,
                  h_process_put);
    rp_http_route(r, RP_HTTP_DELETE, "/api/v1/approvals/processes/{name}", 0, h_process_delete);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/records/{object}/{id}/approval", 0, h_approval);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/records/{object}/{id}/approval/{action}", 0,
                  h_approval_act);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/events/{type}", RP_ROUTE_JSON_BODY, h_event);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/automation/rules", 0, h_rules);
    rp_http_route(r, RP_HTTP_PUT, "/api/v1/automation/rules/{name}", RP_ROUTE_JSON_BODY,
                  h_rule_put);
    rp_http_route(r, RP_HTTP_DELETE, "/api/v1/automation/rules/{name}", 0, h_rule_delete);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/automation/runs", 0, h_runs);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/journeys/{name}/enrolments", 0, h_enrolments);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/journeys/{name}/enrol", RP_ROUTE_JSON_BODY, h_enrol);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/journeys/{name}/leave", RP_ROUTE_JSON_BODY, h_leave);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/jobs", 0, h_jobs);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/jobs/{id}/retry", 0, h_job_retry);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/jobs/{id}/cancel", 0, h_job_cancel);
}
