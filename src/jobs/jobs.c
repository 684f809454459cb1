/*
 * The durable job queue (jobs.h). Claiming is one UPDATE ... RETURNING in a writer unit: due
 * jobs (queued and run_at reached, or running with an expired lease) become running under this
 * worker's lease with their attempt counted. Finishing checks the lease, so a worker that lost
 * its lease (it was too slow, or another process took the job over after a crash) writes
 * nothing and only logs.
 */
#include "jobs/jobs.h"
#include "base/arena.h"
#include "base/log.h"
#include "base/sql.h"
#include "base/uuid.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef RP_FAULT_INJECTION
#define RP_FAULT_INJECTION 0
#endif

#define MAX_KINDS   32
#define CLAIM_BATCH 8
#define ERROR_MAX   1000

struct handler {
    char kind[64];
    rp_job_fn fn;
    void *ctx;
    int max_attempts;
};

struct rp_jobs {
    struct rp_store *store;
    const struct rp_clock *clock;
    char worker[128];
    int64_t lease_ms, poll_ms;
    int64_t delay_ms; /* debug builds: RP_FAULT_JOB_DELAY_MS before every attempt */
    unsigned nthreads;
    struct handler handlers[MAX_KINDS];
    size_t nhandlers;

    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping, woken;
    pthread_t *threads;
    unsigned started;
};

static int64_t now_ms(const struct rp_jobs *j)
{
    return rp_clock_now_ms(j->clock);
}

int64_t rp_jobs_backoff_ms(int attempt)
{
    int64_t d = RP_JOBS_BACKOFF_BASE_MS;
    for (int i = 1; i < attempt && d < RP_JOBS_BACKOFF_MAX_MS; i++)
        d *= 2;
    return d < RP_JOBS_BACKOFF_MAX_MS ? d : RP_JOBS_BACKOFF_MAX_MS;
}

struct rp_jobs *rp_jobs_new(const struct rp_jobs_config *cfg)
{
    struct rp_jobs *j = rp_xcalloc(1, sizeof(*j));

    j->store = cfg->store;
    j->clock = cfg->clock;
    snprintf(j->worker, sizeof(j->worker), "%s", cfg->worker ? cfg->worker : "rapport");
    j->lease_ms = cfg->lease_ms > 0 ? cfg->lease_ms : RP_JOBS_LEASE_MS;
    j->poll_ms = cfg->poll_ms > 0 ? cfg->poll_ms : 200;
    j->nthreads = cfg->threads ? cfg->threads : 1;
    if (RP_FAULT_INJECTION) {
        /* Slow handlers on demand, so a crash test can kill the process inside one. */
        const char *d = getenv("RP_FAULT_JOB_DELAY_MS");
        j->delay_ms = d ? strtoll(d, NULL, 10) : 0;
        if (j->delay_ms > 0)
            rp_log_warn("RP_FAULT_JOB_DELAY_MS: every job attempt waits %lld ms first",
                        (long long)j->delay_ms);
    }
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->wake, NULL);
    return j;
}

void rp_jobs_free(struct rp_jobs *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->lock);
    j->stopping = true;
    pthread_cond_broadcast(&j->wake);
    pthread_mutex_unlock(&j->lock);
    for (unsigned i = 0; i < j->started; i++)
        pthread_join(j->threads[i], NULL);
    free(j->threads);
    pthread_cond_destroy(&j->wake);
    pthread_mutex_destroy(&j->lock);
    free(j);
}

void rp_jobs_register(struct rp_jobs *j, const char *kind, rp_job_fn fn, void *ctx,
                      int max_attempts)
{
    struct handler *h;

    if (j->nhandlers == MAX_KINDS) {
        rp_log_error("too many job kinds; \"%s\" is not registered", kind);
        return;
    }
    h = &j->handlers[j->nhandlers++];
    snprintf(h->kind, sizeof(h->kind), "%s", kind);
    h->fn = fn;
    h->ctx = ctx;
    h->max_attempts = max_attempts > 0 ? max_attempts : RP_JOBS_DEFAULT_ATTEMPTS;
}

static const struct handler *handler_of(const struct rp_jobs *j, const char *kind)
{
    for (size_t i = 0; i < j->nhandlers; i++)
        if (strcmp(j->handlers[i].kind, kind) == 0)
            return &j->handlers[i];
    return NULL;
}

/* ---- queueing ---- */

int rp_jobs_enqueue_in(struct rp_store_conn *c, const struct rp_clock *clock,
                       const struct rp_job_spec *spec, char *id_out, bool *queued,
                       struct rp_error *err)
{
    struct rp_arena a;
    struct rp_sql q;
    char id[RP_UUID_STRLEN + 1];
    int64_t now = rp_clock_now_ms(clock);
    bool exists = false;
    int rc = 0;

    if (queued)
        *queued = false;
    rp_arena_init(&a);
    if (spec->dedup_key) {
        rp_sql_init(&q, &a, rp_store_conn_dialect(c));
        rp_sql_add(&q, "SELECT 1 FROM rp_job WHERE dedup_key = ");
        rp_sql_param(&q, rp_value_cstr(spec->dedup_key));
        if ((rc = rp_store_query(c, &q, rp_store_row_exists, &exists, err)) < 0 || exists)
            goto out;
    }
    rp_uuid_v7(id, now);
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_job (id, kind, payload, run_at, state, max_attempts,"
                   " dedup_key, created_at, updated_at) VALUES (");
    rp_sql_param(&q, rp_value_cstr(id));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(spec->kind));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(spec->payload ? spec->payload : "{}"));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_int(spec->run_at > 0 ? spec->run_at : now));
    rp_sql_add(&q, ", 'queued', ");
    rp_sql_param(&q, rp_value_int(spec->max_attempts > 0 ? spec->max_attempts : 0));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, spec->dedup_key ? rp_value_cstr(spec->dedup_key) : rp_value_null());
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_int(now));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_int(now));
    rp_sql_add(&q, ")");
    if ((rc = rp_store_exec(c, &q, NULL, err)) < 0)
        goto out;
    if (id_out)
        memcpy(id_out, id, sizeof(id));
    if (queued)
        *queued = true;
out:
    rp_arena_release(&a);
    return rc;
}

struct enqueue_unit {
    const struct rp_jobs *j;
    const struct rp_job_spec *spec;
    char *id_out;
    bool *queued;
};

static int enqueue_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct enqueue_unit *x = ctx;
    return rp_jobs_enqueue_in(c, x->j->clock, x->spec, x->id_out, x->queued, err);
}

int rp_jobs_enqueue(struct rp_jobs *j, const struct rp_job_spec *spec, char *id_out, bool *queued,
                    struct rp_error *err)
{
    struct enqueue_unit x = {j, spec, id_out, queued};
    int rc = rp_store_write(j->store, enqueue_run, &x, err);

    if (rc == 0)
        rp_jobs_wake(j);
    return rc;
}

void rp_jobs_wake(struct rp_jobs *j)
{
    pthread_mutex_lock(&j->lock);
    j->woken = true;
    pthread_cond_broadcast(&j->wake);
    pthread_mutex_unlock(&j->lock);
}

/* ---- claiming and finishing ---- */

struct claimed {
    char id[RP_UUID_STRLEN + 1];
    char kind[64];
    char *payload; /* malloc'd */
    int attempt, max_attempts;
    int64_t run_at, rowid; /* the claim's order */
};

struct claim_unit {
    struct rp_jobs *j;
    size_t max;
    int64_t now;
    struct claimed jobs[CLAIM_BATCH];
    size_t n;
};

static void copy_text(char *dst, size_t size, const struct rp_value *v)
{
    size_t n = v->type == RP_V_TEXT ? v->u.s.len : 0;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(dst, v->u.s.p, n);
    dst[n] = '\0';
}

static int claim_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct claim_unit *x = ctx;
    struct claimed *cl;

    if (n < 5 || x->n == CLAIM_BATCH)
        return 0;
    cl = &x->jobs[x->n++];
    copy_text(cl->id, sizeof(cl->id), &cols[0]);
    copy_text(cl->kind, sizeof(cl->kind), &cols[1]);
    cl->payload =
        cols[2].type == RP_V_TEXT ? rp_xstrndup(cols[2].u.s.p, cols[2].u.s.len) : rp_xstrdup("{}");
    cl->attempt = cols[3].type == RP_V_INT ? (int)cols[3].u.i : 1;
    cl->max_attempts = cols[4].type == RP_V_INT ? (int)cols[4].u.i : 0;
    cl->run_at = n > 5 && cols[5].type == RP_V_INT ? cols[5].u.i : 0;
    cl->rowid = n > 6 && cols[6].type == RP_V_INT ? cols[6].u.i : 0;
    return 0;
}

/* Due first, then in the order queued: RETURNING promises no order on either engine. */
static int claimed_cmp(const void *pa, const void *pb)
{
    const struct claimed *a = pa, *b = pb;
    if (a->run_at != b->run_at)
        return a->run_at < b->run_at ? -1 : 1;
    return a->rowid < b->rowid ? -1 : a->rowid > b->rowid;
}

static void claimed_free(struct claim_unit *x)
{
    for (size_t i = 0; i < x->n; i++)
        free(x->jobs[i].payload);
    x->n = 0;
}

static int claim_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct claim_unit *x = ctx;
    struct rp_arena a;
    struct rp_sql q;
    int rc;

    claimed_free(x); /* a unit may run again: start from the inputs */
    rp_arena_init(&a);
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "UPDATE rp_job SET state = 'running', attempts = attempts + 1, lease_owner = ");
    rp_sql_param(&q, rp_value_cstr(x->j->worker));
    rp_sql_add(&q, ", lease_until = ");
    rp_sql_param(&q, rp_value_int(x->now + x->j->lease_ms));
    rp_sql_add(&q, ", updated_at = ");
    rp_sql_param(&q, rp_value_int(x->now));
    rp_sql_add(&q, " WHERE id IN (SELECT id FROM rp_job WHERE (state = 'queued' AND run_at <= ");
    rp_sql_param(&q, rp_value_int(x->now));
    rp_sql_add(&q, ") OR (state = 'running' AND lease_until < ");
    rp_sql_param(&q, rp_value_int(x->now));
    rp_sql_add(&q, ") ORDER BY run_at, rowid LIMIT ");
    rp_sql_param(&q, rp_value_int((int64_t)x->max));
    /* Several processes on one PostgreSQL claim at once: each skips the rows another holds. */
    rp_sql_add(&q, rp_sql_idiom(rp_store_conn_dialect(c), RP_SQL_SKIP_LOCKED));
    rp_sql_add(&q, ") RETURNING id, kind, payload, attempts, max_attempts, run_at, rowid");
    rc = rp_store_query(c, &q, claim_row, x, err);
    if (rc == 0)
        qsort(x->jobs, x->n, sizeof(x->jobs[0]), claimed_cmp);
    rp_arena_release(&a);
    return rc;
}

struct finish_unit {
    struct rp_jobs *j;
    const struct claimed *cl;
    int64_t started, now;
    int rc;            /* the handler's */
    const char *error; /* its message */
    int max_attempts;
    bool lost; /* out: the lease was no longer ours */
};

static int finish_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct finish_unit *x = ctx;
    struct rp_arena a;
    struct rp_sql q;
    const char *state, *outcome;
    int64_t changed = 0, run_at = x->now;
    int rc;

    x->lost = false;
    if (x->rc == 0) {
        state = "done";
        outcome = "ok";
    } else if (x->rc == RP_EINVAL || x->cl->attempt >= x->max_attempts) {
        state = "dead";
        outcome = "dead";
    } else {
        state = "queued";
        outcome = "error";
        run_at = x->now + rp_jobs_backoff_ms(x->cl->attempt);
    }
    rp_arena_init(&a);
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "UPDATE rp_job SET state = ");
    rp_sql_param(&q, rp_value_cstr(state));
    rp_sql_add(&q, ", run_at = ");
    rp_sql_param(&q, rp_value_int(run_at));
    rp_sql_add(&q, ", lease_owner = NULL, lease_until = NULL, updated_at = ");
    rp_sql_param(&q, rp_value_int(x->now));
    rp_sql_add(&q, ", last_error = ");
    rp_sql_param(&q, x->error ? rp_value_cstr(x->error) : rp_value_null());
    rp_sql_add(&q, ", finished_at = ");
    rp_sql_param(&q,
                 x->rc == 0 || strcmp(state, "dead") == 0 ? rp_value_int(x->now) : rp_value_null());
    rp_sql_add(&q, " WHERE id = ");
    rp_sql_param(&q, rp_value_cstr(x->cl->id));
    rp_sql_add(&q, " AND state = 'running' AND lease_owner = ");
    rp_sql_param(&q, rp_value_cstr(x->j->worker));
    rp_sql_add(&q, " AND attempts = ");
    rp_sql_param(&q, rp_value_int(x->cl->attempt));
    if ((rc = rp_store_exec(c, &q, &changed, err)) < 0)
        goto out;
    if (changed == 0) {
        x->lost = true;
        outcome = "lease_lost";
    }
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_job_run (job_id, attempt, worker, started_at, finished_at,"
                   " outcome, error) VALUES (");
    rp_sql_param(&q, rp_value_cstr(x->cl->id));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_int(x->cl->attempt));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(x->j->worker));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_int(x->started));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_int(x->now));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(outcome));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, x->error ? rp_value_cstr(x->error) : rp_value_null());
    rp_sql_add(&q, ")");
    rc = rp_store_exec(c, &q, NULL, err);
out:
    rp_arena_release(&a);
    return rc;
}

/* Runs one claimed job's handler; the outcome goes into f (written later, with its batch). */
static void attempt(struct rp_jobs *j, const struct claimed *cl, struct finish_unit *f,
                    char msg[ERROR_MAX + 1])
{
    const struct handler *h = handler_of(j, cl->kind);
    struct rp_arena a;
    struct rp_error herr;

    memset(f, 0, sizeof(*f));
    f->j = j;
    f->cl = cl;
    f->started = now_ms(j);
    rp_arena_init(&a);
    rp_error_init(&herr, &a);
    f->max_attempts = cl->max_attempts > 0 ? cl->max_attempts
                      : h                  ? h->max_attempts
                                           : RP_JOBS_DEFAULT_ATTEMPTS;
    if (j->delay_ms > 0) {
        struct timespec ts = {j->delay_ms / 1000, (j->delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (!h) {
        f->rc = rp_error_set(&herr, RP_EINVAL, "no handler for job kind \"%s\"", cl->kind);
    } else {
        struct rp_job job = {.id = cl->id,
                             .kind = cl->kind,
                             .payload = cl->payload,
                             .attempt = cl->attempt,
                             .max_attempts = f->max_attempts};
        f->rc = h->fn(h->ctx, &job, &herr);
        if (f->rc > 0)
            f->rc = 0;
    }
    if (f->rc < 0) {
        snprintf(msg, ERROR_MAX + 1, "%s", herr.detail ? herr.detail : "failed");
        f->error = msg;
    }
    f->now = now_ms(j);
    rp_arena_release(&a);
}

struct finish_batch {
    struct finish_unit *items;
    size_t n;
};

/* The outcomes of a claimed batch in one transaction: one commit for up to CLAIM_BATCH jobs. */
static int finish_batch_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct finish_batch *b = ctx;
    int rc;

    for (size_t i = 0; i < b->n; i++)
        if ((rc = finish_run(c, &b->items[i], err)) < 0)
            return rc;
    return 0;
}

int rp_jobs_run_due(struct rp_jobs *j, size_t max, size_t *ran, struct rp_error *err)
{
    size_t total = 0;
    int rc = 0;

    while (total < max) {
        struct claim_unit x = {.j = j, .now = now_ms(j)};
        x.max = max - total < CLAIM_BATCH ? max - total : CLAIM_BATCH;
        if ((rc = rp_store_write(j->store, claim_run, &x, err)) < 0) {
            claimed_free(&x);
            break;
        }
        if (x.n) {
            struct finish_unit f[CLAIM_BATCH];
            char msgs[CLAIM_BATCH][ERROR_MAX + 1];
            struct finish_batch b = {f, x.n};
            struct rp_error ferr;
            rp_error_init(&ferr, NULL);
            for (size_t i = 0; i < x.n; i++)
                attempt(j, &x.jobs[i], &f[i], msgs[i]);
            if (rp_store_write(j->store, finish_batch_run, &b, &ferr) < 0)
                rp_log_error("the outcomes of %zu jobs could not be written: %s", x.n,
                             ferr.detail ? ferr.detail : "store error");
            for (size_t i = 0; i < x.n; i++) {
                const struct claimed *cl = &x.jobs[i];
                if (f[i].lost)
                    rp_log_warn("job %s (%s): the lease was lost before the attempt ended", cl->id,
                                cl->kind);
                else if (f[i].rc < 0)
                    rp_log_warn("job %s (%s) attempt %d of %d failed: %s", cl->id, cl->kind,
                                cl->attempt, f[i].max_attempts, f[i].error);
            }
        }
        total += x.n;
        claimed_free(&x);
        if (x.n < CLAIM_BATCH)
            break;
    }
    if (ran)
        *ran = total;
    return rc;
}

/* ---- background workers ---- */

static void *worker_main(void *arg)
{
    struct rp_jobs *j = arg;

    for (;;) {
        struct rp_error err;
        size_t ran = 0;
        pthread_mutex_lock(&j->lock);
        if (!j->stopping && !j->woken) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += (long)(j->poll_ms % 1000) * 1000000L;
            until.tv_sec += j->poll_ms / 1000 + until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&j->wake, &j->lock, &until);
        }
        j->woken = false;
        if (j->stopping) {
            pthread_mutex_unlock(&j->lock);
            break;
        }
        pthread_mutex_unlock(&j->lock);
        rp_error_init(&err, NULL);
        if (rp_jobs_run_due(j, CLAIM_BATCH, &ran, &err) < 0)
            rp_log_error("claiming jobs failed: %s", err.detail ? err.detail : "store error");
        if (ran == CLAIM_BATCH)
            rp_jobs_wake(j); /* more may be due */
    }
    return NULL;
}

int rp_jobs_start(struct rp_jobs *j, struct rp_error *err)
{
    j->threads = rp_xcalloc(j->nthreads, sizeof(pthread_t));
    for (unsigned i = 0; i < j->nthreads; i++) {
        if (pthread_create(&j->threads[i], NULL, worker_main, j) != 0)
            return rp_error_set(err, RP_EINTERNAL, "could not start a job worker");
        j->started++;
    }
    return 0;
}

/* ---- administration ---- */

struct list_ctx {
    struct rp_buf *out;
    size_t n;
};

static void add_time(struct rp_buf *out, const char *key, const struct rp_value *v)
{
    rp_buf_addf(out, ",\"%s\":", key);
    if (v->type == RP_V_INT) {
        struct rp_value t = rp_value_typed_int(RP_V_DATETIME, v->u.i);
        rp_value_to_json(out, &t);
    } else {
        rp_buf_adds(out, "null");
    }
}

static int list_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct list_ctx *l = ctx;

    if (n < 10)
        return 0;
    rp_buf_adds(l->out, l->n++ ? ",{\"id\":" : "{\"id\":");
    rp_value_to_json(l->out, &cols[0]);
    rp_buf_adds(l->out, ",\"kind\":");
    rp_value_to_json(l->out, &cols[1]);
    rp_buf_adds(l->out, ",\"state\":");
    rp_value_to_json(l->out, &cols[2]);
    add_time(l->out, "run_at", &cols[3]);
    rp_buf_adds(l->out, ",\"attempts\":");
    rp_value_to_json(l->out, &cols[4]);
    rp_buf_adds(l->out, ",\"max_attempts\":");
    rp_value_to_json(l->out, &cols[5]);
    rp_buf_adds(l->out, ",\"last_error\":");
    rp_value_to_json(l->out, &cols[6]);
    add_time(l->out, "created_at", &cols[7]);
    add_time(l->out, "finished_at", &cols[8]);
    rp_buf_adds(l->out, ",\"payload\":");
    if (cols[9].type == RP_V_TEXT)
        rp_buf_add(l->out, cols[9].u.s.p, cols[9].u.s.len); /* written by rapport as JSON */
    else
        rp_buf_adds(l->out, "null");
    rp_buf_addc(l->out, '}');
    return 0;
}

int rp_jobs_list(struct rp_store *s, const char *state, size_t limit, struct rp_buf *out,
                 struct rp_error *err)
{
    struct rp_store_conn *c;
    struct list_ctx l = {.out = out};
    struct rp_arena a;
    struct rp_sql q;
    int rc;

    if (limit < 1 || limit > 1000)
        return rp_error_field(err, RP_EINVAL, "limit", "invalid", "limit must be 1-1000");
    rp_arena_init(&a);
    rp_sql_init(&q, &a, rp_store_dialect(s));
    rp_sql_add(&q, "SELECT id, kind, state, run_at, attempts, max_attempts, last_error,"
                   " created_at, finished_at, payload FROM rp_job");
    if (state) {
        rp_sql_add(&q, " WHERE state = ");
        rp_sql_param(&q, rp_value_cstr(state));
    }
    rp_sql_add(&q, " ORDER BY created_at DESC, id DESC LIMIT ");
    rp_sql_param(&q, rp_value_int((int64_t)limit));
    rp_buf_adds(out, "{\"data\":[");
    c = rp_store_reader_acquire(s);
    rc = rp_store_query(c, &q, list_row, &l, err);
    rp_store_reader_release(s, c);
    rp_buf_adds(out, "]}");
    rp_arena_release(&a);
    return rc;
}

struct admin_unit {
    const char *id;
    int64_t now;
    bool retry;
};

static int state_row(void *ctx, const struct rp_value *cols, size_t n)
{
    char *state = ctx;
    if (n > 0)
        copy_text(state, 16, &cols[0]);
    return 1;
}

static int admin_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct admin_unit *x = ctx;
    char state[16] = "";
    struct rp_arena a;
    struct rp_sql q;
    int rc;

    rp_arena_init(&a);
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT state FROM rp_job WHERE id = ");
    rp_sql_param(&q, rp_value_cstr(x->id));
    if ((rc = rp_store_query(c, &q, state_row, state, err)) < 0)
        goto out;
    if (!state[0]) {
        rc = rp_error_set(err, RP_ENOTFOUND, "job \"%s\" not found", x->id);
        goto out;
    }
    if (x->retry ? strcmp(state, "dead") != 0 && strcmp(state, "cancelled") != 0
                 : strcmp(state, "queued") != 0) {
        rc = rp_error_set(err, RP_ECONFLICT, "job \"%s\" is %s; only %s jobs can be %s", x->id,
                          state, x->retry ? "dead or cancelled" : "queued",
                          x->retry ? "retried" : "cancelled");
        goto out;
    }
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    if (x->retry)
        rp_sql_add(&q, "UPDATE rp_job SET state = 'queued', attempts = 0, finished_at = NULL,"
                       " run_at = ");
    else
        rp_sql_add(&q, "UPDATE rp_job SET state = 'cancelled', finished_at = ");
    rp_sql_param(&q, rp_value_int(x->now));
    rp_sql_add(&q, ", updated_at = ");
    rp_sql_param(&q, rp_value_int(x->now));
    rp_sql_add(&q, " WHERE id = ");
    rp_sql_param(&q, rp_value_cstr(x->id));
    rc = rp_store_exec(c, &q, NULL, err);
out:
    rp_arena_release(&a);
    return rc;
}

int rp_jobs_retry(struct rp_store *s, const struct rp_clock *clock, const char *id,
                  struct rp_error *err)
{
    struct admin_unit x = {.id = id, .now = rp_clock_now_ms(clock), .retry = true};
    return rp_store_write(s, admin_run, &x, err);
}

int rp_jobs_cancel(struct rp_store *s, const struct rp_clock *clock, const char *id,
                   struct rp_error *err)
{
    struct admin_unit x = {.id = id, .now = rp_clock_now_ms(clock), .retry = false};
    return rp_store_write(s, admin_run, &x, err);
}
