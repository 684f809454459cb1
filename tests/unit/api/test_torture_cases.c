/*
 * Fault injection over every API case file (tests/api/cases/*.case): each step of each case is
 * replayed with the 1st, 2nd, ... store query failing (rp_store_fault_arm), and then with the
 * 1st, 2nd, ... allocation of the JSON layer failing (rp_json_fault_arm), until it runs without
 * the fault firing; that last run must pass the case file's own check, and the case goes on to
 * its next step. Each run that hit the fault must end in
 *
 *   - a clean 5xx: application/problem+json whose "status" is the status and with a "code",
 *     and nothing written: a checksum of every table's rows is what it was before the step
 *     (computed only when the writer committed something, rp_store_stats); or
 *   - the step's normal answer, as the case file expects it (the fault hit something the
 *     request could do without). When that answer wrote, the state has moved on and the step
 *     cannot be retried on it: the case is run again from the start up to that step, and its
 *     replay resumes with the next fault; or
 *   - a clean 5xx from a store read that failed after the request's unit had committed
 *     (rp_store_fault_fired_in_unit false): the write is whole, only its answer is lost, and
 *     the case resumes as above. A fault inside a unit that leaves anything written fails.
 *
 * Crashes and sanitizer reports end the test; LeakSanitizer checks every error path at exit.
 * Steps with many faultable points are sampled: every N up to 24, then N grows by an eighth
 * (RP_TORTURE_EVERY=1 tries every N), and a step whose faulted runs keep writing (so that the
 * case must be replayed up to it) sparser still; after RESTART_BUDGET replays of a case, such a
 * step's later faults are left untried ("cut short") and the case goes on. RP_TORTURE_ONLY=SUBSTRING limits the case files and
 * RP_TORTURE_KIND=store|json the kind of fault. The hooks exist only in debug builds; elsewhere
 * this skips.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "api_cases.h"
#include "base/json.h"
#include "base/log.h"
#include "base/sql.h"
#include "store/store.h"

#define DENSE_UNTIL 24
/*
 * Replays of a case from its start per kind of fault; past them a step whose faulted run wrote
 * and answered normally is taken as done (its later faults untried) and the case goes on.
 */
#define RESTART_BUDGET 16
#define RESTART_SPARSE 4

enum kind { FAULT_STORE, FAULT_JSON };

static const char *const kind_names[] = {"store", "json"};

struct torture {
    enum kind kind;
    bool every;
    /* where this run resumes: steps before start_step run without faults */
    int start_step;
    uint64_t start_n;
    /* set by a step whose faulted run wrote and answered normally: resume there */
    int resume_step;
    uint64_t resume_n;
    /* totals */
    uint64_t runs, fired, clean_5xx, normal, lost_answers, restarts, skipped;
    int step_restarts; /* replays for the step the case resumes at */
};

static uint64_t next_n(const struct torture *x, uint64_t n)
{
    if (x->every || n < DENSE_UNTIL)
        return n + 1;
    return n + n / 8;
}

/*
 * The fault to resume with when a faulted run of step wrote: the next one at first, then, once
 * the same step has needed RESTART_SPARSE replays, half again as far (each replay costs the
 * whole case up to the step).
 */
static uint64_t resume_n(struct torture *x, int step, uint64_t n)
{
    x->step_restarts = step == x->start_step ? x->step_restarts + 1 : 1;
    if (x->every || x->step_restarts < RESTART_SPARSE)
        return next_n(x, n);
    return n + n / 2 + 1;
}

/*
 * A faulted run of step n wrote and the state moved on: the case is replayed up to the step and
 * resumes with the next fault, or, past RESTART_BUDGET replays, with the step after it (the
 * step's later faults untried: counted as cut short).
 */
static void resume_after(struct torture *x, int step, uint64_t n)
{
    if (x->restarts >= RESTART_BUDGET) {
        x->skipped++;
        x->resume_step = step + 1;
        x->resume_n = 1;
        return;
    }
    x->resume_step = step;
    x->resume_n = resume_n(x, step, n);
}

static void arm(enum kind k, struct rp_test_app *t, uint64_t n)
{
    if (k == FAULT_STORE)
        rp_store_fault_arm(t->app->store, n);
    else
        rp_json_fault_arm(n);
}

static bool fired(enum kind k, struct rp_test_app *t)
{
    return k == FAULT_STORE ? rp_store_fault_fired(t->app->store) : rp_json_fault_fired();
}

/* ---- a checksum of every row of every table ---- */

static void fnv(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= UINT64_C(1099511628211);
    }
}

static int sum_row(void *ctx, const struct rp_value *cols, size_t n)
{
    uint64_t *h = ctx;

    for (size_t i = 0; i < n; i++) {
        unsigned char type = (unsigned char)cols[i].type;
        fnv(h, &type, 1);
        if (cols[i].type == RP_V_TEXT) {
            fnv(h, &cols[i].u.s.len, sizeof(cols[i].u.s.len));
            fnv(h, cols[i].u.s.p, cols[i].u.s.len);
        } else if (cols[i].type == RP_V_NUM) {
            fnv(h, &cols[i].u.d, sizeof(cols[i].u.d));
        } else if (cols[i].type != RP_V_NULL) {
            fnv(h, &cols[i].u.i, sizeof(cols[i].u.i));
        }
    }
    fnv(h, "\n", 1);
    return 0;
}

struct names {
    struct rp_arena *arena;
    const char *name[1024];
    size_t n;
};

static int name_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct names *x = ctx;
    if (n == 1 && cols[0].type == RP_V_TEXT && x->n < 1024)
        x->name[x->n++] = rp_arena_strndup(x->arena, cols[0].u.s.p, cols[0].u.s.len);
    return 0;
}

/* Every row of every ordinary table (virtual tables are covered by their shadow tables). */
static uint64_t checksum(struct rp_test_app *t)
{
    struct rp_arena a;
    struct rp_error err;
    struct rp_sql q;
    struct names names = {.arena = &a};
    struct rp_store_conn *c = rp_store_reader_acquire(t->app->store);
    uint64_t h = UINT64_C(14695981039346656037);
    enum rp_sql_dialect d = rp_store_dialect(t->app->store);

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rp_sql_init(&q, &a, d);
    if (d == RP_SQL_PG)
        rp_sql_add(&q, "SELECT table_name FROM information_schema.tables WHERE table_schema ="
                       " current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name");
    else
        rp_sql_add(&q, "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE "
                       "'CREATE VIRTUAL%' ORDER BY name");
    if (rp_store_query(c, &q, name_row, &names, &err) < 0)
        abort();
    for (size_t i = 0; i < names.n; i++) {
        /* Authentication notes a token's last use on its own, whatever becomes of the request
           (auth_token.c); that is bookkeeping, not a write of the request. */
        const char *cols = strcmp(names.name[i], "rp_token") == 0
                               ? "id, user_id, kind, name, token_hash, created_at, expires_at, "
                                 "revoked_at"
                               : NULL;
        fnv(&h, names.name[i], strlen(names.name[i]) + 1);
        rp_sql_init(&q, &a, d);
        /* PostgreSQL's heap order is no order: each row as text, sorted */
        if (d == RP_SQL_PG)
            rp_sql_addf(&q, "SELECT ROW(%s)::text FROM ", cols ? cols : "t.*");
        else
            rp_sql_addf(&q, "SELECT %s FROM ", cols ? cols : "*");
        rp_sql_ident(&q, names.name[i]);
        rp_sql_add(&q, d == RP_SQL_PG ? " AS t ORDER BY 1" : "");
        if (rp_store_query(c, &q, sum_row, &h, &err) < 0)
            abort();
    }
    rp_store_reader_release(t->app->store, c);
    rp_arena_release(&a);
    return h;
}

static uint64_t commits(struct rp_test_app *t)
{
    struct rp_store_stats st;
    rp_store_stats(t->app->store, &st);
    return st.commits;
}

/* ---- the dispatch hook ---- */

static bool clean_5xx(const struct rp_http_result *res)
{
    json_t *j, *status;
    bool ok;

    if (res->status < 500 || res->status > 599 || !res->content_type ||
        strcmp(res->content_type, "application/problem+json") != 0)
        return false;
    j = json_loadb(res->body, res->body_len, 0, NULL);
    status = json_object_get(j, "status");
    ok = json_is_integer(status) && json_integer_value(status) == res->status &&
         json_is_string(json_object_get(j, "code"));
    json_decref(j);
    return ok;
}

/*
 * A batch that is not atomic answers 200 with a result per operation; an operation the fault
 * failed carries its own clean 5xx problem there while the others go through.
 */
static bool batch_item_5xx(const struct rp_http_result *res)
{
    json_t *j = json_loadb(res->body, res->body_len, 0, NULL), *item;
    size_t i;
    bool found = false;

    json_array_foreach(json_object_get(j, "results"), i, item)
    {
        json_t *status = json_object_get(item, "status");
        json_t *problem = json_object_get(item, "error");
        if (json_integer_value(status) >= 500 &&
            json_integer_value(json_object_get(problem, "status")) == json_integer_value(status) &&
            json_is_string(json_object_get(problem, "code")))
            found = true;
    }
    json_decref(j);
    return found;
}

static int dispatch(void *ctx, struct rp_test_app *t, const struct rp_case_step *step,
                    const struct rp_http_dispatch *in, struct rp_http_result *res)
{
    struct torture *x = ctx;
    uint64_t n, sum = 0, before;
    bool have_sum = false;

    if (step->step < x->start_step)
        return rp_http_dispatch(t->app->router, in, res) < 0 ? -1 : 0;
    n = step->step == x->start_step ? x->start_n : 1;
    for (;; n = next_n(x, n)) {
        bool hit, wrote;

        if (!have_sum) {
            sum = checksum(t);
            have_sum = true;
        }
        before = commits(t);
        arm(x->kind, t, n);
        if (rp_http_dispatch(t->app->router, in, res) < 0) {
            arm(x->kind, t, 0);
            fprintf(stderr, "FAIL %s step %d (%s fault %llu): could not be dispatched\n",
                    step->file, step->step, kind_names[x->kind], (unsigned long long)n);
            return -1;
        }
        hit = fired(x->kind, t);
        arm(x->kind, t, 0);
        x->runs++;
        if (!hit)
            return 0; /* the runner judges the ordinary answer */
        x->fired++;
        wrote = commits(t) != before && checksum(t) != sum;
        if (res->status == step->want_status && res->status == 200 && batch_item_5xx(res)) {
            x->clean_5xx++;
            if (wrote) { /* the other operations went through */
                resume_after(x, step->step, n);
                rp_http_dispatch_release(res);
                return RP_CASE_STOP_UNCHECKED;
            }
        } else if (res->status == step->want_status) {
            /* The fault hit something the request does without: the answer must be whole. */
            if (step->check(step->check_ctx, res) < 0) {
                fprintf(stderr, "     ... with the %s fault %llu\n", kind_names[x->kind],
                        (unsigned long long)n);
                rp_http_dispatch_release(res);
                return -1;
            }
            x->normal++;
            if (wrote && x->restarts >= RESTART_BUDGET) {
                x->skipped++;
                return 0; /* the runner judges it again, and the case goes on from here */
            }
            if (wrote) {
                resume_after(x, step->step, n);
                return RP_CASE_STOP;
            }
        } else if (!clean_5xx(res)) {
            fprintf(stderr,
                    "FAIL %s step %d (%s fault %llu): %s %s answered %d (%s), expected %d or a "
                    "problem+json 5xx: %.*s\n",
                    step->file, step->step, kind_names[x->kind], (unsigned long long)n, in->method,
                    in->target, res->status, res->content_type ? res->content_type : "no type",
                    step->want_status, (int)(res->body_len > 600 ? 600 : res->body_len), res->body);
            rp_http_dispatch_release(res);
            return -1;
        } else if (wrote && x->kind == FAULT_STORE &&
                   !rp_store_fault_fired_in_unit(t->app->store)) {
            /* A read after the request's unit committed failed: the write is whole (a unit
               commits or rolls back as one) and only the answer was lost, as a client whose
               connection drops would find. The state moved on: resume from here. */
            x->lost_answers++;
            resume_after(x, step->step, n);
            rp_http_dispatch_release(res);
            return RP_CASE_STOP_UNCHECKED;
        } else if (wrote) {
            fprintf(stderr,
                    "FAIL %s step %d (%s fault %llu): %s %s answered %d but wrote (a partial "
                    "write): %.*s\n",
                    step->file, step->step, kind_names[x->kind], (unsigned long long)n, in->method,
                    in->target, res->status, (int)(res->body_len > 600 ? 600 : res->body_len),
                    res->body);
            rp_http_dispatch_release(res);
            return -1;
        } else {
            x->clean_5xx++;
        }
        rp_http_dispatch_release(res);
    }
}

/* One case file under one kind of fault; 0 when every run passed. */
static int torture_case(const char *dir, const char *name, enum kind kind, bool every)
{
    struct torture x = {.kind = kind, .every = every, .start_step = 1, .start_n = 1};
    struct rp_case_hooks hooks = {.dispatch = dispatch, .ctx = &x, .quiet = true};
    char path[4096];
    struct timespec t0, t1;
    int rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    for (;;) {
        x.resume_step = 0;
        rc = rp_case_run(path, name, &hooks);
        if (rc != RP_CASE_STOP)
            break;
        x.restarts++;
        x.start_step = x.resume_step;
        x.start_n = x.resume_n;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%s %-5s %-34s runs %5llu, faults %5llu: %5llu clean 5xx, %4llu normal answers, "
           "%3llu 5xx after commit, %3llu restarts, %llu steps cut short, %.1f s\n",
           rc == 0 ? "ok  " : "FAIL", kind_names[kind], name, (unsigned long long)x.runs,
           (unsigned long long)x.fired, (unsigned long long)x.clean_5xx,
           (unsigned long long)x.normal, (unsigned long long)x.lost_answers,
           (unsigned long long)x.restarts, (unsigned long long)x.skipped,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    fflush(stdout);
    return rc;
}

/* Release builds have no hooks: arming does nothing and the fault never fires. */
static bool hooks_built_in(void)
{
    struct rp_test_app probe;
    json_t *o;
    bool store, json;

    rp_test_app_open(&probe);
    rp_store_fault_arm(probe.app->store, 1);
    rp_test_request(&probe, "GET", "/api/v1/auth/me", NULL, NULL);
    store = rp_store_fault_fired(probe.app->store);
    rp_store_fault_arm(probe.app->store, 0);
    rp_json_fault_arm(1);
    o = json_object();
    json = !o && rp_json_fault_fired();
    rp_json_fault_arm(0);
    json_decref(o);
    rp_test_app_close(&probe);
    return store && json;
}

int main(void)
{
    const char *src = getenv("RP_SOURCE_DIR"), *only = getenv("RP_TORTURE_ONLY");
    const char *kind_env = getenv("RP_TORTURE_KIND");
    bool every = getenv("RP_TORTURE_EVERY") && strcmp(getenv("RP_TORTURE_EVERY"), "1") == 0;
    char dir[4096], **names;
    size_t n;
    int failed = 0;

    rp_log_set_level(RP_LOG_OFF); /* every injected fault is logged; keep the output short */
    rp_log_init_from_env();       /* RAPPORT_LOG=warn shows them */
    if (!hooks_built_in()) {
        printf("fault injection is not built in (not a debug build): skipped\n");
        return 0;
    }
    snprintf(dir, sizeof(dir), "%s/tests/api/cases", src ? src : ".");
    n = rp_case_list(dir, only, &names);
    if (n == 0) {
        fprintf(stderr, "no case files in %s\n", dir);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        for (int k = FAULT_STORE; k <= FAULT_JSON; k++) {
            if (kind_env && strcmp(kind_env, kind_names[k]) != 0)
                continue;
            if (torture_case(dir, names[i], (enum kind)k, every) != 0)
                failed++;
        }
    }
    rp_case_list_free(names, n);
    printf("%d failed\n", failed);
    return failed ? 1 : 0;
}
