/*
 * The durable job queue: work that must happen later or again until it succeeds (rule
 * actions, date triggers, webhook deliveries, retention) is a row of rp_job, so a crash or a
 * restart loses none of it.
 *
 * A job is queued with a kind (the name its handler is registered under), a JSON payload, a
 * run-at time and at most max_attempts tries. A worker claims due jobs in one writer unit,
 * taking a lease (lease_owner, lease_until); a job whose lease ran out without an outcome (its
 * process died) is due again and is claimed anew, by any process sharing the database. The
 * handler runs outside any transaction; its outcome is written in another unit only while the
 * lease is still the worker's own, so a job is finished once; the outcomes of jobs claimed
 * together are written together. Handlers therefore run at least once and must be idempotent (record writes use the job id as their Idempotency-Key).
 * A failed attempt is retried after an exponential backoff (RP_JOBS_BACKOFF_*); after the last
 * attempt the job is dead (state "dead"), kept with its error for `rapport jobs retry`.
 * Every attempt is logged in rp_job_run.
 *
 * In debug builds the environment variable RP_FAULT_JOB_DELAY_MS=N makes every attempt wait N ms
 * before its handler runs (fault injection: the crash test kills a server inside running jobs).
 *
 * Time comes from the injected clock, so tests run due jobs by moving a fake clock and calling
 * rp_jobs_run_due, without sleeping.
 *
 * Thread-safety: all functions are thread-safe; none may be called from inside a writer unit
 * except rp_jobs_enqueue_in, which exists for exactly that.
 */
#ifndef RP_JOBS_JOBS_H
#define RP_JOBS_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "store/store.h"

#define RP_JOBS_BACKOFF_BASE_MS  (10 * INT64_C(1000))
#define RP_JOBS_BACKOFF_MAX_MS   (60 * 60 * INT64_C(1000))
#define RP_JOBS_DEFAULT_ATTEMPTS 10
#define RP_JOBS_LEASE_MS         (5 * 60 * INT64_C(1000))

struct rp_jobs;

/** A claimed job, as its handler sees it. Strings live until the handler returns. */
struct rp_job {
    const char *id;
    const char *kind;
    const char *payload; /* JSON text */
    int attempt;         /* 1 for the first try */
    int max_attempts;
};

/**
 * Runs one job. Returns 0 when it is done, or a negative code with err set: the attempt
 * failed and is retried after the backoff; RP_EINVAL fails it at once (the payload can never
 * work), and so does any failure of its last attempt.
 */
typedef int (*rp_job_fn)(void *ctx, const struct rp_job *job, struct rp_error *err);

struct rp_jobs_config {
    struct rp_store *store;
    const struct rp_clock *clock; /* NULL: the system clock */
    const char *worker;           /* names this process in leases and the run log */
    int64_t lease_ms;             /* 0: RP_JOBS_LEASE_MS */
    int64_t poll_ms;              /* background workers look for due jobs this often; 0: 200 */
    unsigned threads;             /* background workers; 0: 1 */
};

struct rp_jobs *rp_jobs_new(const struct rp_jobs_config *cfg);
/** Stops the workers (waiting for running handlers) and frees. NULL allowed. */
void rp_jobs_free(struct rp_jobs *j);

/** Registers the handler of kind (before start); max_attempts 0: RP_JOBS_DEFAULT_ATTEMPTS. */
void rp_jobs_register(struct rp_jobs *j, const char *kind, rp_job_fn fn, void *ctx,
                      int max_attempts);

/** What to queue. */
struct rp_job_spec {
    const char *kind;
    const char *payload;   /* JSON text; NULL: "{}" */
    int64_t run_at;        /* ms; 0: now */
    const char *dedup_key; /* a job that may exist once (a trigger occurrence); NULL: none */
    int max_attempts;      /* 0: the kind's */
};

/**
 * Inside a writer unit: queues a job in the unit's transaction, so it exists exactly when the
 * work that caused it commits. A dedup_key already queued (in any state) is not queued again:
 * *queued (may be NULL) tells. id_out (40 bytes, may be NULL) receives the new id.
 */
int rp_jobs_enqueue_in(struct rp_store_conn *c, const struct rp_clock *clock,
                       const struct rp_job_spec *spec, char *id_out, bool *queued,
                       struct rp_error *err);
/** rp_jobs_enqueue_in in a unit of its own, and wakes the workers. */
int rp_jobs_enqueue(struct rp_jobs *j, const struct rp_job_spec *spec, char *id_out, bool *queued,
                    struct rp_error *err);
/** Wakes the background workers (new jobs were queued by a unit of the caller's). */
void rp_jobs_wake(struct rp_jobs *j);

/** Starts the background workers. */
int rp_jobs_start(struct rp_jobs *j, struct rp_error *err);

/**
 * Claims up to max due jobs and runs them on the calling thread; *ran (may be NULL) gets how
 * many. For tests and the CLI; the background workers do the same in a loop.
 */
int rp_jobs_run_due(struct rp_jobs *j, size_t max, size_t *ran, struct rp_error *err);

/**
 * Writes {"data":[{"id","kind","state","run_at","attempts","max_attempts","last_error",
 * "created_at","finished_at","payload"}]}, newest first, at most limit (1-1000); state NULL for
 * every state ("queued", "running", "done", "dead", "cancelled").
 */
int rp_jobs_list(struct rp_store *s, const char *state, size_t limit, struct rp_buf *out,
                 struct rp_error *err);
/** Queues a dead or cancelled job again now with a fresh set of attempts. RP_ENOTFOUND,
 *  RP_ECONFLICT (it is queued, running or done). */
int rp_jobs_retry(struct rp_store *s, const struct rp_clock *clock, const char *id,
                  struct rp_error *err);
/** Cancels a queued job (a running one finishes its attempt). RP_ENOTFOUND, RP_ECONFLICT. */
int rp_jobs_cancel(struct rp_store *s, const struct rp_clock *clock, const char *id,
                   struct rp_error *err);

/** The delay before attempt n + 1 after attempt n failed. */
int64_t rp_jobs_backoff_ms(int attempt);

#endif
