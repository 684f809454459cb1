/*
 * Governance endpoints: GET /api/v1/audit (the audit log, for admins) and
 * GET /api/v1/records/{object}/export (CSV export, audited). The audit log has
 * no route that changes it: it is append-only by construction.
 */
#include "api/api_int.h"
#include "base/limits.h"
#include "base/time.h"

#include <stdio.h>

static int datetime_param(struct rp_http_req *req, const char *name, bool *has, int64_t *out)
{
    const char *v = rp_http_query(req, name);

    *has = v != NULL;
    if (v && rp_time_parse_datetime(v, strlen(v), out) < 0)
        return rp_error_field(
            &req->err, RP_EINVAL, name, "invalid",
            "parameter \"%s\" must be an RFC 3339 datetime, e.g. 2026-11-22T08:00:00Z", name);
    return 0;
}

/* A parameter that must be one of the NULL-terminated choices; *index gets its position. */
static int choice_param(struct rp_http_req *req, const char *name, const char *const *choices,
                        size_t def, size_t *index)
{
    const char *v = rp_http_query(req, name);
    struct rp_buf list;

    *index = def;
    if (!v)
        return 0;
    for (size_t i = 0; choices[i]; i++) {
        if (strcmp(v, choices[i]) == 0) {
            *index = i;
            return 0;
        }
    }
    rp_buf_init(&list, &req->arena, 256);
    for (size_t i = 0; choices[i]; i++)
        rp_buf_addf(&list, "%s%s", i ? ", " : "", choices[i]);
    return rp_error_field(&req->err, RP_EINVAL, name, "invalid",
                          "parameter \"%s\" must be one of %s, not \"%s\"", name, list.data, v);
}

static int h_audit(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const params[] = {"actor", "action",     "object", "record_id",
                                         "since", "until",      "after",  "before",
                                         "limit", "request_id", "order",  NULL};
    static const char *const orders[] = {"desc", "asc", NULL};
    struct rp_api *api = api_of(req);
    struct rp_audit_query aq = {0};
    int64_t after, before, limit;
    size_t order;
    int rc;

    if ((rc = api_check_params(req, params)) < 0 ||
        (rc = api_int_param(req, "after", 0, INT64_MAX, 0, &after)) < 0 ||
        (rc = api_int_param(req, "before", 1, INT64_MAX, 0, &before)) < 0 ||
        (rc = api_int_param(req, "limit", 1, RP_LIMIT_PAGE_MAX, 100, &limit)) < 0 ||
        (rc = choice_param(req, "order", orders, 0, &order)) < 0 ||
        (rc = datetime_param(req, "since", &aq.has_since, &aq.since)) < 0 ||
        (rc = datetime_param(req, "until", &aq.has_until, &aq.until)) < 0)
        return rc;
    aq.actor = rp_http_query(req, "actor");
    aq.actions = rp_http_query(req, "action");
    aq.object = rp_http_query(req, "object");
    aq.record_id = rp_http_query(req, "record_id");
    aq.request_id = rp_http_query(req, "request_id");
    aq.after = after;
    aq.before = before;
    aq.limit = (size_t)limit;
    aq.ascending = order == 1;
    return rp_records_audit_list(api->records, principal_of(req), &aq, &req->arena, &resp->body,
                                 &req->err);
}

static int h_export(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const params[] = {"format", "filter", "sort", "fields",
                                         "q",      "label",  "bom",  NULL};
    static const char *const formats[] = {"csv", NULL};
    static const char *const labels[] = {"en", "zh", NULL};
    static const char *const bools[] = {"false", "true", NULL};
    struct rp_api *api = api_of(req);
    struct rp_export_query eq = {0};
    struct rp_export_result res;
    struct rp_buf date;
    size_t format, label, bom;
    char value[32];
    int rc;

    if ((rc = api_check_params(req, params)) < 0 ||
        (rc = choice_param(req, "format", formats, 0, &format)) < 0 ||
        (rc = choice_param(req, "label", labels, SIZE_MAX, &label)) < 0 ||
        (rc = choice_param(req, "bom", bools, 0, &bom)) < 0)
        return rc;
    (void)format; /* CSV is the only format so far */
    eq.filter = rp_http_query(req, "filter");
    eq.sort = rp_http_query(req, "sort");
    eq.fields = rp_http_query(req, "fields");
    eq.q = rp_http_query(req, "q");
    eq.header = label == 0   ? RP_EXPORT_HEADER_EN
                : label == 1 ? RP_EXPORT_HEADER_ZH
                             : RP_EXPORT_HEADER_NAMES;
    eq.bom = bom == 1;
    eq.request_id = req->request_id;
    if (eq.filter && strlen(eq.filter) > RP_LIMIT_EXPR_BYTES)
        return rp_error_field(&req->err, RP_EINVAL, "filter", "too_long",
                              "parameter \"filter\" is longer than %d bytes", RP_LIMIT_EXPR_BYTES);
    rc = rp_records_export_csv(api->records, principal_of(req), req->params[0], &eq, &req->arena,
                               &resp->body, &res, &req->err);
    if (rc == RP_ERATELIMIT && res.retry_after_s > 0) {
        snprintf(value, sizeof(value), "%lld", (long long)res.retry_after_s);
        rp_http_resp_header(req, resp, "Retry-After", value);
    }
    if (rc < 0)
        return rc;
    /* The object name is a validated API name, safe inside the quoted filename. */
    rp_buf_init(&date, &req->arena, 64);
    rp_time_format_date(&date, rp_time_day_of(rp_clock_now_ms(api->clock)));
    resp->content_type = "text/csv; charset=utf-8";
    rp_http_resp_header(req, resp, "Content-Disposition",
                        rp_arena_sprintf(&req->arena, "attachment; filename=\"%s-%s.csv\"",
                                         req->params[0], date.data));
    snprintf(value, sizeof(value), "%zu", res.rows);
    rp_http_resp_header(req, resp, "X-Export-Rows", value);
    rp_http_resp_header(req, resp, "X-Export-Truncated", res.truncated ? "true" : "false");
    return 0;
}

void api_register_audit(struct rp_http_router *r)
{
    rp_http_route(r, RP_HTTP_GET, "/api/v1/audit", 0, h_audit);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/records/{object}/export", 0, h_export);
}
