/* Wiring of the modules; see app.h. */
#include "app/app.h"
#include "base/json.h"
#include "base/log.h"
#include "base/uuid.h"

#include "records/privacy.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define RETENTION_JOB "privacy.retention"
#define SCORING_JOB   "scoring.recompute"
#define DAY_MS        (INT64_C(86400) * 1000)

/* The retention policies as a job: retried with backoff if a run fails. */
static int retention_job(void *ctx, const struct rp_job *job, struct rp_error *err)
{
    struct rp_app *app = ctx;
    struct rp_arena a;
    struct rp_buf out;
    int rc;

    (void)job;
    rp_arena_init(&a);
    rp_buf_init(&out, &a, 65536);
    rc = rp_records_retention_run(app->records, &app->system, &a, &out, err);
    if (rc == 0)
        rp_log_info("retention run: %s", out.data);
    rp_arena_release(&a);
    return rc;
}

/* The daily score recompute: decaying behaviour points fall as touchpoints age. */
static int scoring_job(void *ctx, const struct rp_job *job, struct rp_error *err)
{
    struct rp_app *app = ctx;
    size_t updated = 0;
    int rc;

    (void)job;
    rc = rp_sales_score_recompute(app->sales, NULL, &updated, err);
    if (rc == 0)
        rp_log_info("score recompute: %zu scores changed", updated);
    return rc;
}

int rp_app_open(const struct rp_app_config *cfg, struct rp_app **out, struct rp_error *err)
{
    struct rp_app *app = rp_xcalloc(1, sizeof(*app));
    struct rp_store_config scfg = {.memory = cfg->memory};
    struct rp_auth_config acfg = {0};
    struct rp_meta *meta = NULL;
    int rc;

    if (cfg->fixed_clock)
        rp_clock_init_fixed(&app->clock, cfg->fixed_clock_ms);
    else
        rp_clock_init_system(&app->clock);
    app->system.user_id = "system";
    app->system.username = "system";
    app->system.display_name = "Rapport";
    app->system.is_admin = true;
    pthread_mutex_init(&app->_lock, NULL);
    pthread_cond_init(&app->_wake, NULL);

    rc = rp_store_open(cfg->db, &scfg, &app->store, err);
    if (rc < 0)
        goto fail;
    rc = rp_records_load_metadata(app->store, &app->clock, &meta, err);
    if (rc < 0)
        goto fail;
    app->meta = rp_meta_registry_new(meta);
    acfg.store = app->store;
    acfg.clock = &app->clock;
    if (cfg->fast_passwords) {
        acfg.pw_opslimit = crypto_pwhash_OPSLIMIT_MIN;
        acfg.pw_memlimit = crypto_pwhash_MEMLIMIT_MIN;
    }
    app->auth = rp_auth_new(&acfg);
    if (!app->auth) {
        rc = rp_error_set(err, RP_EINTERNAL, "could not initialise libsodium");
        goto fail;
    }
    app->records = rp_records_new(
        &(struct rp_records_config){.store = app->store, .meta = app->meta, .clock = &app->clock});
    {
        char worker[128];
        char host[64] = "host";
        gethostname(host, sizeof(host) - 1);
        snprintf(worker, sizeof(worker), "%s:%d", host, (int)getpid());
        app->jobs = rp_jobs_new(&(struct rp_jobs_config){.store = app->store,
                                                         .clock = &app->clock,
                                                         .worker = worker,
                                                         .threads = 2,
                                                         .lease_ms = cfg->job_lease_ms});
    }
    rp_jobs_register(app->jobs, RETENTION_JOB, retention_job, app, 5);
    app->automation = rp_automation_new(&(struct rp_automation_config){.store = app->store,
                                                                       .meta = app->meta,
                                                                       .records = app->records,
                                                                       .jobs = app->jobs,
                                                                       .clock = &app->clock,
                                                                       .nats_url = cfg->nats_url});
    app->sales = rp_sales_new(&(struct rp_sales_config){.automation = app->automation,
                                                        .store = app->store,
                                                        .meta = app->meta,
                                                        .records = app->records,
                                                        .jobs = app->jobs,
                                                        .clock = &app->clock});
    app->analytics = rp_analytics_new(&(struct rp_analytics_config){
        .store = app->store, .meta = app->meta, .clock = &app->clock});
    rp_jobs_register(app->jobs, SCORING_JOB, scoring_job, app, 5);
    app->api = rp_api_new(&(struct rp_api_config){.records = app->records,
                                                  .auth = app->auth,
                                                  .meta = app->meta,
                                                  .store = app->store,
                                                  .clock = &app->clock,
                                                  .automation = app->automation,
                                                  .sales = app->sales,
                                                  .analytics = app->analytics});
    app->router = rp_api_router_new(app->api);
    rp_json_init(); /* jansson's allocator; RP_FAULT=json:N in debug builds */
    *out = app;
    return 0;
fail:
    rp_app_close(app);
    return rc;
}

void rp_app_close(struct rp_app *app)
{
    if (!app)
        return;
    rp_http_server_stop(app->server);
    if (app->_maintaining) {
        pthread_mutex_lock(&app->_lock);
        app->_stopping = true;
        pthread_cond_signal(&app->_wake);
        pthread_mutex_unlock(&app->_lock);
        pthread_join(app->_maintenance, NULL);
    }
    pthread_cond_destroy(&app->_wake);
    pthread_mutex_destroy(&app->_lock);
    /* The dispatcher queues jobs and the jobs use the automation handle: stop the dispatcher,
       then the job workers, then free the handle. */
    rp_automation_stop(app->automation);
    rp_jobs_free(app->jobs);
    rp_automation_free(app->automation);
    rp_sales_free(app->sales); /* its write hooks ran in jobs too */
    rp_analytics_free(app->analytics);
    rp_api_free(app->api); /* frees the router */
    rp_records_free(app->records);
    rp_auth_free(app->auth);
    rp_store_close(app->store);
    rp_meta_registry_free(app->meta);
    free(app);
}

/* Queues this hour's retention run, today's quote expiry and today's score recompute (each once
 * across every process on the database). */
void rp_app_maintain(struct rp_app *app)
{
    struct rp_error err;
    char key[64];

    rp_error_init(&err, NULL);
    snprintf(key, sizeof(key), "retention:%lld",
             (long long)(rp_clock_now_ms(&app->clock) / RP_APP_MAINTENANCE_MS));
    if (rp_jobs_enqueue(app->jobs, &(struct rp_job_spec){.kind = RETENTION_JOB, .dedup_key = key},
                        NULL, NULL, &err) < 0)
        rp_log_error("queueing the retention run failed: %s",
                     err.detail ? err.detail : "unknown error");
    /* quote expiry: once per UTC day, whichever process queues it first */
    rp_error_clear(&err);
    if (rp_sales_quote_expiry_queue(app->sales, &err) < 0)
        rp_log_error("queueing the quote expiry failed: %s",
                     err.detail ? err.detail : "unknown error");
    snprintf(key, sizeof(key), "scoring:%lld", (long long)(rp_clock_now_ms(&app->clock) / DAY_MS));
    rp_error_clear(&err);
    if (rp_jobs_enqueue(app->jobs, &(struct rp_job_spec){.kind = SCORING_JOB, .dedup_key = key},
                        NULL, NULL, &err) < 0)
        rp_log_error("queueing the score recompute failed: %s",
                     err.detail ? err.detail : "unknown error");
}

/* Queues the hourly work a minute after start and then every RP_APP_MAINTENANCE_MS. */
static void *maintenance_main(void *arg)
{
    struct rp_app *app = arg;
    int64_t wait_ms = 60 * 1000;

    pthread_mutex_lock(&app->_lock);
    while (!app->_stopping) {
        struct timespec until;
        int rc = 0;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += wait_ms / 1000;
        while (!app->_stopping && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&app->_wake, &app->_lock, &until);
        if (app->_stopping)
            break;
        pthread_mutex_unlock(&app->_lock);
        rp_app_maintain(app);
        pthread_mutex_lock(&app->_lock);
        wait_ms = RP_APP_MAINTENANCE_MS;
    }
    pthread_mutex_unlock(&app->_lock);
    return NULL;
}

int rp_app_serve(struct rp_app *app, const struct rp_http_server_config *cfg, struct rp_error *err)
{
    int rc = rp_http_server_start(app->router, cfg, &app->server, err);
    if (rc < 0)
        return rc;
    /* Other processes on the database announce their configuration changes (store.h). */
    if ((rc = rp_store_listen(app->store, err)) < 0)
        return rc;
    rp_api_set_ready(app->api, true);
    if (!app->_maintaining && pthread_create(&app->_maintenance, NULL, maintenance_main, app) == 0)
        app->_maintaining = true;
    if ((rc = rp_jobs_start(app->jobs, err)) < 0 ||
        (rc = rp_automation_start(app->automation, err)) < 0)
        return rc;
    return 0;
}

int rp_app_ensure_admin(struct rp_app *app, char *password, size_t size, struct rp_error *err)
{
    unsigned char raw[18];
    int64_t n = 0;
    int rc = rp_auth_user_count(app->auth, &n, err);

    if (rc < 0)
        return rc;
    if (n > 0)
        return 0;
    if (size < sodium_base64_ENCODED_LEN(sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING))
        return rp_error_set(err, RP_EINTERNAL, "password buffer too small");
    rp_random_bytes(raw, sizeof(raw));
    sodium_bin2base64(password, size, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    rc = rp_auth_user_add(app->auth, "admin", password, "Administrator", true, NULL, err);
    return rc < 0 ? rc : 1;
}
