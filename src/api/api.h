/*
 * The REST API (v1): routes, parameter checks and JSON framing over the
 * records, auth and metadata services. Handlers know no sockets; they run
 * the same way under the server and in-process dispatch.
 *
 * Every route but login, health, metrics and the OpenAPI document requires a
 * bearer token or a session cookie (with an X-CSRF-Token header on state-changing
 * requests); the authentication middleware turns it into req->auth (struct
 * rp_principal).
 */
#ifndef RP_API_API_H
#define RP_API_API_H

#include "analytics/analytics.h"
#include "auth/auth.h"
#include "automation/automation.h"
#include "sales/sales.h"
#include "http/http.h"
#include "meta/meta.h"
#include "records/records.h"
#include "store/store.h"

struct rp_api;

struct rp_api_config {
    struct rp_records *records;
    struct rp_auth *auth;
    struct rp_meta_registry *meta;
    struct rp_store *store;
    const struct rp_clock *clock;
    struct rp_automation *automation;
    struct rp_sales *sales;
    struct rp_analytics *analytics;
};

struct rp_api *rp_api_new(const struct rp_api_config *cfg);
void rp_api_free(struct rp_api *api);
/** A router whose requests carry api as req->app, with every v1 route registered. */
struct rp_http_router *rp_api_router_new(struct rp_api *api);
/** Marks the API ready (/readyz answers 200 once the server accepts traffic). */
void rp_api_set_ready(struct rp_api *api, bool ready);
/**
 * Serves the built web UI from dir (borrowed; must outlive the API) at "/": its files, and
 * index.html for client-side routes. NULL (the default) serves nothing (404). Call before
 * serving.
 */
void rp_api_set_web_dir(struct rp_api *api, const char *dir);

#endif
