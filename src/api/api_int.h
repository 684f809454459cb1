/* Private to src/api/: helpers shared by the handler files. */
#ifndef RP_API_API_INT_H
#define RP_API_API_INT_H

#include "api/api.h"

#include <jansson.h>
#include <stdatomic.h>

struct rp_api {
    struct rp_records *records;
    struct rp_auth *auth;
    struct rp_meta_registry *meta;
    struct rp_store *store;
    const struct rp_clock *clock;
    struct rp_automation *automation;
    struct rp_sales *sales;
    struct rp_analytics *analytics;
    struct rp_http_router *router;
    _Atomic bool ready;
    int64_t started_ms;
    const char *web_dir; /* the built web UI, or NULL: see api_web.c */
};

static inline struct rp_api *api_of(struct rp_http_req *req)
{
    return req->app;
}

static inline const struct rp_principal *principal_of(struct rp_http_req *req)
{
    return req->auth;
}

/** Who is asking, for the login limits and audit entries of the auth module. */
static inline struct rp_auth_client api_client_of(struct rp_http_req *req)
{
    const struct rp_principal *p = principal_of(req);
    return (struct rp_auth_client){
        .addr = req->remote_addr, .request_id = req->request_id, .actor = p ? p->user_id : NULL};
}

/** Rejects query parameters not in allowed (NULL-terminated): 400 naming the parameter. */
int api_check_params(struct rp_http_req *req, const char *const *allowed);
/** Rejects a body that is not an object (400) or has a key not in allowed (NULL-terminated):
 *  400 naming the key. */
int api_check_body_keys(struct rp_http_req *req, const json_t *body, const char *const *allowed);
/** Parses the JSON body (required): 400 for none or malformed, 413 past limits. Borrowed. */
json_t *api_body_json(struct rp_http_req *req);

/*
 * Named definitions of a kind (records.h): GET the list (name NULL) or one, PUT (201 created,
 * 200 replaced; answers the definition as stored), DELETE (204). For /api/v1/definitions/{kind}
 * and for the paths that name one kind (/approvals/processes, /email/templates, ...).
 */
int api_definitions_get(struct rp_http_req *req, struct rp_http_resp *resp, const char *kind,
                        const char *name);
int api_definition_put(struct rp_http_req *req, struct rp_http_resp *resp, const char *kind,
                       const char *name);
int api_definition_delete(struct rp_http_req *req, struct rp_http_resp *resp, const char *kind,
                          const char *name);
/** Parses a non-negative integer parameter in [min, max]; def when absent. */
int api_int_param(struct rp_http_req *req, const char *name, int64_t min, int64_t max, int64_t def,
                  int64_t *out);
/** Sets resp to 200 (or status) with the JSON text in b. */
void api_json(struct rp_http_resp *resp, int status, const struct rp_buf *b);
/** Copies err (from a service) into req->err and returns its code. */
int api_fail(struct rp_http_req *req, const struct rp_error *err);

void api_register_records(struct rp_http_router *r);
void api_register_auth(struct rp_http_router *r);
void api_register_meta(struct rp_http_router *r);
void api_register_system(struct rp_http_router *r);
void api_register_audit(struct rp_http_router *r);
void api_register_privacy(struct rp_http_router *r);
void api_register_admin(struct rp_http_router *r);
void api_register_automation(struct rp_http_router *r);
void api_register_sales(struct rp_http_router *r);
void api_register_kpi(struct rp_http_router *r);
void api_register_quote(struct rp_http_router *r);
void api_register_dedup(struct rp_http_router *r);
void api_register_score(struct rp_http_router *r);
void api_register_sla(struct rp_http_router *r);
void api_register_email(struct rp_http_router *r);
void api_register_views(struct rp_http_router *r);
void api_register_web(struct rp_http_router *r);
/** The authentication middleware. */
int api_authenticate(struct rp_http_req *req, struct rp_http_resp *resp);

#endif
