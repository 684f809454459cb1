/*
 * Wiring: one struct rp_app holds the clock, the store, the metadata
 * registry, the auth and records services, the API router and (when serving)
 * the HTTP server. It is the only place that knows every module; the CLI and
 * the tests build an app and use its parts.
 */
#ifndef RP_APP_APP_H
#define RP_APP_APP_H

#include <pthread.h>
#include <stdbool.h>

#include "analytics/analytics.h"
#include "api/api.h"
#include "auth/auth.h"
#include "automation/automation.h"
#include "base/clock.h"
#include "http/http.h"
#include "jobs/jobs.h"
#include "meta/meta.h"
#include "records/records.h"
#include "sales/sales.h"
#include "store/store.h"

struct rp_app_config {
    const char *db;   /* SQLite file (or sqlite:PATH); ignored when memory */
    bool memory;      /* a private temporary database (tests) */
    bool fixed_clock; /* tests: start a fake clock at fixed_clock_ms */
    int64_t fixed_clock_ms;
    bool fast_passwords;  /* tests: argon2id at its minimum cost */
    const char *nats_url; /* the message bus (automation.h); NULL: the setting "bus.nats_url" */
    int64_t job_lease_ms; /* how long a claimed job is its worker's; 0: RP_JOBS_LEASE_MS */
};

struct rp_app {
    struct rp_clock clock;
    struct rp_store *store;
    struct rp_meta_registry *meta;
    struct rp_auth *auth;
    struct rp_records *records;
    struct rp_jobs *jobs;
    struct rp_automation *automation;
    struct rp_sales *sales;
    struct rp_analytics *analytics;
    struct rp_api *api;
    struct rp_http_router *router;
    struct rp_http_server *server;
    struct rp_principal system; /* the principal of internal work (demo data, CLI) */
    /* private: the maintenance thread of a serving app (queues the hourly jobs) */
    pthread_t _maintenance;
    pthread_mutex_t _lock;
    pthread_cond_t _wake;
    bool _maintaining, _stopping;
};

/* How often a serving app queues the retention run (records/privacy.h) as a job. */
#define RP_APP_MAINTENANCE_MS (60 * 60 * INT64_C(1000))

/**
 * Queues the periodic jobs due at the app's clock: this hour's retention run and today's score
 * recompute ("scoring.recompute"), each with a dedup key per period, so calling it often (every
 * process, every hour) queues each once. The serving app's maintenance thread calls it hourly.
 */
void rp_app_maintain(struct rp_app *app);

/** Opens the store (migrating it), loads metadata and syncs tables, builds the services and the
 *  router. Returns 0 or an error with err set. */
int rp_app_open(const struct rp_app_config *cfg, struct rp_app **out, struct rp_error *err);
/** Stops the server if running and frees everything. NULL allowed. */
void rp_app_close(struct rp_app *app);

/** Starts serving on cfg and the maintenance thread; marks the API ready. */
int rp_app_serve(struct rp_app *app, const struct rp_http_server_config *cfg, struct rp_error *err);

/**
 * On a database without users, creates user "admin" with a random password
 * written to password (at least 33 bytes) and returns 1; returns 0 when users
 * exist, or a negative error.
 */
int rp_app_ensure_admin(struct rp_app *app, char *password, size_t size, struct rp_error *err);

/**
 * Loads the demo data set (accounts, contacts, leads, opportunities, products,
 * cases, activities; Chinese and English) if the database holds no accounts.
 * Returns the number of records created (0 when skipped) or a negative error.
 */
int rp_app_load_demo(struct rp_app *app, struct rp_error *err);

#endif
