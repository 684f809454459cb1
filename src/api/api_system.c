/*
 * Operational endpoints (/healthz, /readyz, /metrics) and the OpenAPI 3.1
 * document, generated from the current metadata snapshot on each request so
 * custom objects and fields appear as soon as they are defined.
 */
#include "api/api_int.h"
#include "base/json.h"

#include <stdio.h>

static int h_healthz(struct rp_http_req *req, struct rp_http_resp *resp)
{
    (void)req;
    rp_buf_adds(&resp->body, "{\"status\":\"ok\"}");
    return 0;
}

static int h_readyz(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct rp_api *api = api_of(req);
    struct rp_store_stats st;

    rp_store_stats(api->store, &st);
    if (!atomic_load(&api->ready))
        return rp_error_set(&req->err, RP_EBUSY, "rapport is starting");
    rp_buf_addf(&resp->body, "{\"status\":\"ready\",\"write_queue\":%llu}",
                (unsigned long long)st.queue_depth);
    return 0;
}

static int h_metrics(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct rp_api *api = api_of(req);
    struct rp_store_stats st;

    rp_store_stats(api->store, &st);
    resp->content_type = "text/plain; version=0.0.4";
    rp_http_metrics(api->router, &resp->body);
    rp_buf_addf(&resp->body,
                "# HELP rapport_store_commits_total Write transactions committed (commit groups).\n"
                "# TYPE rapport_store_commits_total counter\n"
                "rapport_store_commits_total %llu\n"
                "# HELP rapport_store_units_total Write units run by the writer.\n"
                "# TYPE rapport_store_units_total counter\n"
                "rapport_store_units_total %llu\n"
                "# HELP rapport_store_units_failed_total Write units rolled back.\n"
                "# TYPE rapport_store_units_failed_total counter\n"
                "rapport_store_units_failed_total %llu\n"
                "# HELP rapport_store_write_queue Write units waiting for the writer.\n"
                "# TYPE rapport_store_write_queue gauge\n"
                "rapport_store_write_queue %llu\n"
                "# HELP rapport_uptime_seconds Seconds since start.\n"
                "# TYPE rapport_uptime_seconds gauge\n"
                "rapport_uptime_seconds %lld\n",
                (unsigned long long)st.commits, (unsigned long long)st.units,
                (unsigned long long)st.units_failed, (unsigned long long)st.queue_depth,
                (long long)((rp_clock_now_ms(api->clock) - api->started_ms) / 1000));
    {
        uint64_t notices = 0, connects = 0;
        rp_store_listen_stats(api->store, &notices, &connects);
        rp_buf_addf(&resp->body,
                    "# HELP rapport_config_notices_total Configuration notices from other "
                    "processes on the database (PostgreSQL LISTEN/NOTIFY), reloads of everything "
                    "after a (re)connection included.\n"
                    "# TYPE rapport_config_notices_total counter\n"
                    "rapport_config_notices_total %llu\n"
                    "# HELP rapport_config_listen_connects_total Connections of the configuration "
                    "listener (1 when it never lost one).\n"
                    "# TYPE rapport_config_listen_connects_total counter\n"
                    "rapport_config_listen_connects_total %llu\n",
                    (unsigned long long)notices, (unsigned long long)connects);
    }
    if (api->automation) {
        struct rp_bus_stats bus;
        rp_bus_stats(api->automation, &bus);
        rp_buf_addf(&resp->body,
                    "# HELP rapport_bus_published_total Messages the NATS server confirmed (change "
                    "events and publish actions).\n"
                    "# TYPE rapport_bus_published_total counter\n"
                    "rapport_bus_published_total %llu\n"
                    "# HELP rapport_bus_errors_total Publish attempts to NATS that failed.\n"
                    "# TYPE rapport_bus_errors_total counter\n"
                    "rapport_bus_errors_total %llu\n"
                    "# HELP rapport_bus_connected 1 when the message bus is on and connected.\n"
                    "# TYPE rapport_bus_connected gauge\n"
                    "rapport_bus_connected %d\n",
                    (unsigned long long)bus.published, (unsigned long long)bus.errors,
                    bus.connected ? 1 : 0);
    }
    return 0;
}

/* ---- OpenAPI ---- */

static json_t *field_schema(const struct rp_field *f)
{
    json_t *s = json_object();
    switch (f->type) {
    case RP_F_NUMBER:
    case RP_F_PERCENT:
        json_object_set_new(s, "type", json_string("number"));
        break;
    case RP_F_INTEGER:
        json_object_set_new(s, "type", json_string("integer"));
        break;
    case RP_F_MONEY:
        json_object_set_new(s, "type", json_pack("[ss]", "number", "string"));
        json_object_set_new(
            s, "description",
            json_string(
                "exact decimal with at most 4 fraction digits; send large amounts as a string"));
        break;
    case RP_F_BOOL:
        json_object_set_new(s, "type", json_string("boolean"));
        break;
    case RP_F_DATE:
        json_object_set_new(s, "type", json_string("string"));
        json_object_set_new(s, "format", json_string("date"));
        break;
    case RP_F_DATETIME:
        json_object_set_new(s, "type", json_string("string"));
        json_object_set_new(s, "format", json_string("date-time"));
        break;
    case RP_F_MULTI_PICKLIST: {
        json_t *items = json_object(), *vals = json_array();
        for (size_t i = 0; i < f->nvalues; i++)
            json_array_append_new(vals, json_string(f->values[i].value));
        json_object_set_new(items, "enum", vals);
        json_object_set_new(s, "type", json_string("array"));
        json_object_set_new(s, "items", items);
        break;
    }
    case RP_F_FORMULA:
        json_object_set_new(s, "readOnly", json_true());
        break;
    default:
        json_object_set_new(s, "type", json_string("string"));
        if (f->type == RP_F_EMAIL)
            json_object_set_new(s, "format", json_string("email"));
        else if (f->type == RP_F_URL)
            json_object_set_new(s, "format", json_string("uri"));
        else if (f->type == RP_F_REFERENCE)
            json_object_set_new(s, "format", json_string("uuid"));
        if (f->type == RP_F_PICKLIST) {
            json_t *vals = json_array();
            for (size_t i = 0; i < f->nvalues; i++)
                json_array_append_new(vals, json_string(f->values[i].value));
            json_object_set_new(s, "enum", vals);
        } else if (!f->system && f->type != RP_F_REFERENCE) {
            json_object_set_new(s, "maxLength", json_integer(f->max_length));
        }
    }
    if (f->has_min)
        json_object_set_new(s, "minimum", json_real(f->min));
    if (f->has_max)
        json_object_set_new(s, "maximum", json_real(f->max));
    if (f->system)
        json_object_set_new(s, "readOnly", json_true());
    if (f->label.en)
        json_object_set_new(s, "title", json_string(f->label.en));
    if (f->type != RP_F_FORMULA && !f->required && !f->system) {
        json_t *t = json_object_get(s, "type");
        /* Optional fields accept null. */
        if (json_is_string(t))
            json_object_set_new(s, "type", json_pack("[ss]", json_string_value(t), "null"));
        else if (json_is_array(t))
            json_array_append_new(t, json_string("null"));
    }
    return s;
}

static json_t *object_schema(const struct rp_object *o)
{
    json_t *s = json_object(), *props = json_object(), *req = json_array();
    json_object_set_new(s, "type", json_string("object"));
    json_object_set_new(s, "title", json_string(o->label.en));
    for (size_t i = 0; i < o->nfields; i++) {
        json_object_set_new(props, o->fields[i].name, field_schema(&o->fields[i]));
        if (o->fields[i].required)
            json_array_append_new(req, json_string(o->fields[i].name));
    }
    json_object_set_new(s, "properties", props);
    json_object_set_new(s, "required", req);
    json_object_set_new(s, "additionalProperties", json_false());
    return s;
}

static json_t *ref(const char *what, const char *name)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "#/components/%s/%s", what, name);
    return json_pack("{ss}", "$ref", buf);
}

static json_t *json_response(const char *desc, json_t *schema)
{
    return json_pack("{ss s{s{so}}}", "description", desc, "content", "application/json", "schema",
                     schema);
}

static json_t *errors(void)
{
    json_t *r = json_object();
    static const char *const codes[] = {"400", "401", "403", "404", "409", "412",
                                        "413", "415", "422", "429", "503", NULL};
    for (size_t i = 0; codes[i]; i++)
        json_object_set_new(r, codes[i], ref("responses", "Problem"));
    return r;
}

static json_t *op(const char *summary, const char *id, json_t *params, json_t *body,
                  const char *okcode, json_t *ok)
{
    json_t *o = json_object(), *resp = errors();
    json_object_set_new(o, "summary", json_string(summary));
    json_object_set_new(o, "operationId", json_string(id));
    if (params)
        json_object_set_new(o, "parameters", params);
    if (body)
        json_object_set_new(o, "requestBody",
                            json_pack("{sbs{s{so}}}", "required", 1, "content", "application/json",
                                      "schema", body));
    json_object_set_new(resp, okcode, ok);
    json_object_set_new(o, "responses", resp);
    return o;
}

static json_t *qparam(const char *name, const char *type, const char *desc)
{
    return json_pack("{sssssss{ss}}", "name", name, "in", "query", "description", desc, "schema",
                     "type", type);
}

static json_t *pparam(const char *name)
{
    return json_pack("{sssssbs{ss}}", "name", name, "in", "path", "required", 1, "schema", "type",
                     "string");
}

/* The query parameter of record writes that saves despite a duplicate warning. */
static json_t *allow_duplicates(void)
{
    return json_pack("[o]",
                     qparam("allow_duplicates", "boolean",
                            "true: save even though a duplicate rule warns (409 duplicate)"));
}

static void object_paths(json_t *paths, const struct rp_object *o)
{
    char p[256], id[128];
    json_t *item;
    json_t *list =
        json_pack("{sss{s{ss s o}s{s[ss]}s{ss s{s{ss}s{ss}}}}}", "type", "object", "properties",
                  "data", "type", "array", "items", ref("schemas", o->name), "next_cursor", "type",
                  "string", "null", "total", "type", "object", "properties", "count", "type",
                  "integer", "exact", "type", "boolean");
    snprintf(p, sizeof(p), "/api/v1/records/%s", o->name);
    snprintf(id, sizeof(id), "list_%s", o->name);
    item = json_object();
    json_object_set_new(
        item, "get",
        op("List, filter, sort, page and search", id,
           json_pack("[oooooooo]", qparam("filter", "string", "expression (docs/expressions.md)"),
                     qparam("sort", "string", "fields, '-' for descending"),
                     qparam("limit", "integer", "1-500, default 50"),
                     qparam("cursor", "string", "next_cursor of the previous page"),
                     qparam("fields", "string", "comma-separated field names"),
                     qparam("q", "string", "full-text search"),
                     qparam("count", "boolean", "include total (exact up to 10,000)"),
                     json_pack("{ss ss s{ss}}", "name", "Idempotency-Key", "in", "header", "schema",
                               "type", "string")),
           NULL, "200", json_response("a page", list)));
    snprintf(id, sizeof(id), "create_%s", o->name);
    json_object_set_new(item, "post",
                        op("Create", id, allow_duplicates(), ref("schemas", o->name), "201",
                           json_response("created", ref("schemas", o->name))));
    json_object_set_new(paths, p, item);

    snprintf(p, sizeof(p), "/api/v1/records/%s/{id}", o->name);
    item = json_object();
    json_object_set_new(item, "parameters", json_pack("[o]", pparam("id")));
    snprintf(id, sizeof(id), "get_%s", o->name);
    json_object_set_new(item, "get",
                        op("Get one (ETag)", id, NULL, NULL, "200",
                           json_response("the record", ref("schemas", o->name))));
    snprintf(id, sizeof(id), "update_%s", o->name);
    json_object_set_new(item, "patch",
                        op("Update the given fields (If-Match)", id, allow_duplicates(),
                           ref("schemas", o->name), "200",
                           json_response("updated", ref("schemas", o->name))));
    snprintf(id, sizeof(id), "delete_%s", o->name);
    json_object_set_new(item, "delete",
                        op("Soft-delete (restorable)", id, NULL, NULL, "200",
                           json_response("deleted", ref("schemas", o->name))));
    json_object_set_new(paths, p, item);

    snprintf(p, sizeof(p), "/api/v1/records/%s/{id}/restore", o->name);
    snprintf(id, sizeof(id), "restore_%s", o->name);
    json_object_set_new(paths, p,
                        json_pack("{s[o]so}", "parameters", pparam("id"), "post",
                                  op("Undelete", id, NULL, NULL, "200",
                                     json_response("restored", ref("schemas", o->name)))));
    snprintf(p, sizeof(p), "/api/v1/records/%s/{id}/reveal", o->name);
    snprintf(id, sizeof(id), "reveal_%s", o->name);
    json_object_set_new(
        paths, p,
        json_pack("{s[o]so}", "parameters", pparam("id"), "post",
                  op("Sensitive fields in clear (audited)", id, NULL, NULL, "200",
                     json_response("clear values", json_pack("{ss}", "type", "object")))));
    snprintf(p, sizeof(p), "/api/v1/records/%s/{id}/history", o->name);
    snprintf(id, sizeof(id), "history_%s", o->name);
    json_object_set_new(
        paths, p,
        json_pack("{s[o]so}", "parameters", pparam("id"), "get",
                  op("Audit trail of one record", id, NULL, NULL, "200",
                     json_response("history", json_pack("{ss}", "type", "object")))));
    snprintf(p, sizeof(p), "/api/v1/records/%s/by/{field}/{value}", o->name);
    snprintf(id, sizeof(id), "upsert_%s", o->name);
    json_object_set_new(
        paths, p,
        json_pack("{s[oo]so}", "parameters", pparam("field"), pparam("value"), "put",
                  op("Upsert by a unique field", id, allow_duplicates(), ref("schemas", o->name),
                     "200", json_response("updated (201 when created)", ref("schemas", o->name)))));
    snprintf(p, sizeof(p), "/api/v1/records/%s/batch", o->name);
    snprintf(id, sizeof(id), "batch_%s", o->name);
    json_object_set_new(
        paths, p,
        json_pack("{so}", "post",
                  op("Up to 1,000 operations, atomic or per item", id, NULL,
                     json_pack("{ss}", "type", "object"), "200",
                     json_response("per-item results", json_pack("{ss}", "type", "object")))));
    snprintf(p, sizeof(p), "/api/v1/records/%s/export", o->name);
    snprintf(id, sizeof(id), "export_%s", o->name);
    json_object_set_new(
        paths, p,
        json_pack(
            "{so}", "get",
            op("Export the visible rows as CSV (audited)", id,
               json_pack("[oooooo]", qparam("format", "string", "csv"),
                         qparam("filter", "string", "expression"),
                         qparam("sort", "string", "fields"), qparam("fields", "string", "columns"),
                         qparam("q", "string", "full-text search"),
                         qparam("label", "string", "en or zh column headers")),
               NULL, "200",
               json_pack("{ss s{s{s{ss}}}}", "description", "CSV", "content", "text/csv", "schema",
                         "type", "string"))));
}

/* The routes that are the same for every installation. */
static void fixed_paths(json_t *paths)
{
    static const struct {
        const char *path, *method, *summary, *id;
    } routes[] = {
        {"/api/v1/auth/login", "post", "Log in: a bearer token, or a session cookie", "login"},
        {"/api/v1/auth/logout", "post", "Revoke the token or session used", "logout"},
        {"/api/v1/auth/me", "get", "The caller", "me"},
        {"/api/v1/auth/tokens", "post", "Create a named API token (shown once)", "token_create"},
        {"/api/v1/auth/sessions", "get", "The caller's sessions and tokens", "sessions"},
        {"/api/v1/auth/sessions/{id}", "delete", "Revoke a session or token", "session_revoke"},
        {"/api/v1/audit", "get", "The audit log (view_audit)", "audit"},
        {"/api/v1/admin/users", "get", "Users with their roles and permission sets", "users"},
        {"/api/v1/admin/users", "post", "Create a user", "user_create"},
        {"/api/v1/admin/users/{id}", "get", "One user", "user"},
        {"/api/v1/admin/users/{id}", "patch", "Change a user's role, sets, attributes, activeness",
         "user_update"},
        {"/api/v1/admin/settings/{key}", "get", "An installation setting", "setting"},
        {"/api/v1/admin/settings/{key}", "put", "Change an installation setting", "setting_put"},
        {"/api/v1/admin/roles", "get", "The role hierarchy", "roles"},
        {"/api/v1/admin/roles/{name}", "put", "Create or replace a role", "role_put"},
        {"/api/v1/admin/roles/{name}", "delete", "Delete a role", "role_delete"},
        {"/api/v1/admin/permission-sets", "get", "Permission sets", "permission_sets"},
        {"/api/v1/admin/permission-sets/{name}", "put", "Create or replace a permission set",
         "permission_set_put"},
        {"/api/v1/admin/permission-sets/{name}", "delete", "Delete a permission set",
         "permission_set_delete"},
        {"/api/v1/admin/sharing", "get", "Org-wide defaults of every object", "sharing"},
        {"/api/v1/admin/sharing/{object}", "put", "Set an object's org-wide default",
         "sharing_put"},
        {"/api/v1/admin/sharing-rules", "get", "Criteria sharing rules", "sharing_rules"},
        {"/api/v1/admin/sharing-rules/{name}", "put", "Create or replace a sharing rule",
         "sharing_rule_put"},
        {"/api/v1/admin/sharing-rules/{name}", "delete", "Delete a sharing rule",
         "sharing_rule_delete"},
        {"/api/v1/automation/rules", "get", "Automation rules", "automation_rules"},
        {"/api/v1/automation/rules/{name}", "put", "Create or replace an automation rule",
         "automation_rule_put"},
        {"/api/v1/automation/rules/{name}", "delete", "Delete an automation rule",
         "automation_rule_delete"},
        {"/api/v1/automation/runs", "get", "The automation run log", "automation_runs"},
        {"/api/v1/definitions/{kind}", "get",
         "Named definitions of a kind (queues, assignment-rules, journeys, ...)", "definitions"},
        {"/api/v1/definitions/{kind}/{name}", "get", "One named definition", "definition"},
        {"/api/v1/definitions/{kind}/{name}", "put", "Create or replace a named definition",
         "definition_put"},
        {"/api/v1/definitions/{kind}/{name}", "delete", "Delete a named definition",
         "definition_delete"},
        {"/api/v1/journeys/{name}/enrolments", "get", "The enrolments of a journey",
         "journey_enrolments"},
        {"/api/v1/journeys/{name}/enrol", "post", "Enrol a record in a journey", "journey_enrol"},
        {"/api/v1/journeys/{name}/leave", "post", "Take a record out of a journey",
         "journey_leave"},
        {"/api/v1/events/{type}", "post", "Record an incoming event (integrations)", "event"},
        {"/api/v1/approvals/processes", "get", "Approval processes", "approval_processes"},
        {"/api/v1/approvals/processes/{name}", "put", "Create or replace an approval process",
         "approval_process_put"},
        {"/api/v1/approvals/processes/{name}", "delete", "Delete an approval process",
         "approval_process_delete"},
        {"/api/v1/records/{object}/{id}/stages", "get",
         "A record's stages with the time spent in each", "stage_history"},
        {"/api/v1/forms/{name}/submissions", "post",
         "Submit a web-to-lead form (public; JSON or urlencoded)", "form_submit"},
        {"/api/v1/forms/confirm", "get", "Confirm a double opt-in (public link)", "form_confirm"},
        {"/api/v1/records/lead/{id}/convert", "post",
         "Convert a lead into an account, contact and opportunity", "lead_convert"},
        {"/api/v1/records/quote/{id}/pdf", "get", "The quote as a PDF (application/pdf)",
         "quote_pdf"},
        {"/api/v1/records/quote/{id}/signing-link", "post",
         "Send an approved quote for e-signature: a single-use signing link", "signing_link"},
        {"/api/v1/records/quote/{id}/signing", "get", "A quote's signing links and signatures",
         "signings"},
        {"/api/v1/signing/{token}", "get", "What a signer sees (public, by token)", "signing_view"},
        {"/api/v1/signing/{token}/pdf", "get", "The exact PDF a link signs (public)",
         "signing_pdf"},
        {"/api/v1/signing/{token}", "post", "Sign with a name (public, single use)", "sign"},
        {"/api/v1/records/{object}/{id}/duplicates", "get",
         "Records that duplicate this one under the object's duplicate rules", "duplicates"},
        {"/api/v1/records/{object}/{id}/merge", "post",
         "Merge a duplicate into this record, re-pointing every reference", "merge"},
        {"/api/v1/merges/{id}", "get", "One merge", "merge_get"},
        {"/api/v1/merges/{id}/undo", "post", "Undo a merge", "merge_undo"},
        {"/api/v1/records/{object}/{id}/score", "get", "A record's score and why", "score_explain"},
        {"/api/v1/scoring/{model}/train", "post", "Train a learned scoring model", "score_train"},
        {"/api/v1/scoring/{model}/recompute", "post", "Rescore every record of a model's object",
         "score_recompute"},
        {"/api/v1/records/{object}/{id}/approval", "get", "A record's approval history",
         "approval_history"},
        {"/api/v1/records/{object}/{id}/approval/{action}", "post",
         "Submit, approve, reject or recall a record's approval", "approval_act"},
        {"/api/v1/kpis", "get", "The KPI catalogue", "kpis"},
        {"/api/v1/kpis/{name}", "get", "One KPI (from, to, period, group, object)", "kpi"},
        {"/api/v1/sla/calendars", "get", "Business calendars", "sla_calendars"},
        {"/api/v1/sla/calendars/{name}", "get", "One business calendar", "sla_calendar"},
        {"/api/v1/sla/calendars/{name}", "put", "Create or replace a business calendar",
         "sla_calendar_put"},
        {"/api/v1/sla/calendars/{name}", "delete", "Delete a business calendar",
         "sla_calendar_delete"},
        {"/api/v1/sla/policies", "get", "SLA policies", "sla_policies"},
        {"/api/v1/sla/policies/{name}", "get", "One SLA policy", "sla_policy"},
        {"/api/v1/sla/policies/{name}", "put", "Create or replace an SLA policy", "sla_policy_put"},
        {"/api/v1/sla/policies/{name}", "delete", "Delete an SLA policy", "sla_policy_delete"},
        {"/api/v1/records/{object}/{id}/sla", "get", "A record's SLA clocks", "sla_clocks"},
        {"/api/v1/webhooks", "get", "Webhook subscriptions", "webhooks"},
        {"/api/v1/webhooks/{name}", "put", "Create or change a webhook subscription",
         "webhook_put"},
        {"/api/v1/webhooks/{name}", "delete", "Delete a webhook subscription", "webhook_delete"},
        {"/api/v1/webhooks/{name}/replay", "post", "Deliver again from a change-feed position",
         "webhook_replay"},
        {"/api/v1/email/templates", "get", "Email templates", "email_templates"},
        {"/api/v1/email/templates/{name}", "get", "One email template", "email_template"},
        {"/api/v1/email/templates/{name}", "put", "Create or replace an email template",
         "email_template_put"},
        {"/api/v1/email/templates/{name}", "delete", "Delete an email template",
         "email_template_delete"},
        {"/api/v1/email/send", "post", "Send a template on a record", "email_send"},
        {"/api/v1/email/messages", "get", "Email messages and their states", "email_messages"},
        {"/api/v1/email/unsubscribe", "get", "Unsubscribe through a signed link (public)",
         "email_unsubscribe"},
        {"/api/v1/email/unsubscribe", "post", "One-click unsubscribe, RFC 8058 (public)",
         "email_unsubscribe_post"},
        {"/t/o/{token}", "get", "Email open pixel (public)", "email_open"},
        {"/t/c/{token}", "get", "Tracked email link: redirects to its signed URL (public)",
         "email_click"},
        {"/api/v1/jobs", "get", "Durable jobs", "jobs"},
        {"/api/v1/jobs/{id}/retry", "post", "Queue a dead or cancelled job again", "job_retry"},
        {"/api/v1/jobs/{id}/cancel", "post", "Cancel a queued job", "job_cancel"},
        {"/api/v1/privacy/retention", "get", "Retention policies", "retention"},
        {"/api/v1/privacy/retention/{object}", "put", "Set a retention policy", "retention_put"},
        {"/api/v1/privacy/retention/run", "post", "Apply the retention policies now",
         "retention_run"},
        {"/api/v1/records/{object}/{id}/shares", "get", "A record's shares (its team)", "shares"},
        {"/api/v1/records/{object}/{id}/shares/{user_id}", "put", "Share a record with a user",
         "share_put"},
        {"/api/v1/records/{object}/{id}/shares/{user_id}", "delete", "Stop sharing a record",
         "share_delete"},
        {"/api/v1/meta/objects", "get", "Objects and their fields", "meta_objects"},
        {"/api/v1/meta/objects/{object}", "get", "One object", "meta_object"},
        {"/api/v1/meta/objects/{object}/fields", "post", "Add a custom field", "meta_field"},
        {"/api/v1/meta/objects/{object}", "patch", "Change an object's labels",
         "meta_object_patch"},
        {"/api/v1/meta/objects/{object}", "delete", "Delete an empty custom object",
         "meta_object_delete"},
        {"/api/v1/meta/objects/{object}/fields/{field}", "patch",
         "Change a field's labels, help and picklist values", "meta_field_patch"},
        {"/api/v1/meta/objects/{object}/fields/{field}", "delete", "Delete a custom field",
         "meta_field_delete"},
        {"/api/v1/views", "get", "Saved list views (own and shared)", "views"},
        {"/api/v1/views", "post", "Save a list view", "view_create"},
        {"/api/v1/views/{id}", "patch", "Rename or change a saved view", "view_patch"},
        {"/api/v1/views/{id}", "delete", "Delete a saved view", "view_delete"},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        json_t *item = json_object_get(paths, routes[i].path);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, routes[i].path, item);
        }
        json_object_set_new(item, routes[i].method,
                            op(routes[i].summary, routes[i].id, NULL, NULL, "200",
                               json_response("ok", json_pack("{ss}", "type", "object"))));
    }
}

static int h_openapi(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct rp_api *api = api_of(req);
    struct rp_meta *m = rp_meta_acquire(api->meta);
    json_t *doc, *paths = json_object(), *schemas = json_object();
    char *text;
    size_t len;

    for (size_t i = 0; i < m->nobjects; i++) {
        json_object_set_new(schemas, m->objects[i].name, object_schema(&m->objects[i]));
        object_paths(paths, &m->objects[i]);
    }
    json_object_set_new(schemas, "Problem",
                        json_pack("{sss{s{ss}s{ss}s{ss}s{ss}s{ss}s{ss}}}", "type", "object",
                                  "properties", "type", "type", "string", "title", "type", "string",
                                  "status", "type", "integer", "code", "type", "string", "detail",
                                  "type", "string", "errors", "type", "array"));
    fixed_paths(paths);
    json_object_set_new(
        paths, "/api/v1/changes",
        json_pack("{so}", "get",
                  op("Change feed", "changes",
                     json_pack("[ooo]", qparam("after", "integer", "sequence"),
                               qparam("limit", "integer", "1-1000"),
                               qparam("objects", "string", "comma-separated")),
                     NULL, "200", json_response("changes", json_pack("{ss}", "type", "object")))));
    doc = json_pack("{ss s{ss ss ss} so s{so s{s{sss{s{so}}}} s{s{ssss}}} s[{s[]}]}", "openapi",
                    "3.1.0", "info", "title", "Rapport CRM API", "version", RP_VERSION,
                    "description", "Generated from the metadata of this installation.", "paths",
                    paths, "components", "schemas", schemas, "responses", "Problem", "description",
                    "RFC 9457 problem", "content", "application/problem+json", "schema",
                    ref("schemas", "Problem"), "securitySchemes", "bearer", "type", "http",
                    "scheme", "bearer", "security", "bearer");
    rp_meta_release(m);
    if (!doc)
        return rp_error_set(&req->err, RP_EINTERNAL, "could not build the OpenAPI document");
    text = rp_json_dump_arena(&req->arena, doc, &len);
    json_decref(doc);
    rp_buf_add(&resp->body, text, len);
    return 0;
}

void api_register_system(struct rp_http_router *r)
{
    rp_http_route(r, RP_HTTP_GET, "/healthz", RP_ROUTE_PUBLIC, h_healthz);
    rp_http_route(r, RP_HTTP_GET, "/readyz", RP_ROUTE_PUBLIC, h_readyz);
    rp_http_route(r, RP_HTTP_GET, "/metrics", RP_ROUTE_PUBLIC, h_metrics);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/openapi.json", RP_ROUTE_PUBLIC, h_openapi);
}
