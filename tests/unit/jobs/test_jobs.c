/*
 * The durable job queue on a real store (SQLite; PostgreSQL under RP_TEST_STORE=pg, see
 * test_store.h) with a fake clock: a job runs once; a failure is retried after the backoff
 * and dies after its last attempt (retry revives it); a payload that can never work dies at
 * once; a dedup key queues once; an expired lease is taken over,
 * and the worker that lost it writes no outcome; cancel; the background workers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/arena.h"
#include "jobs/jobs.h"
#include "test_store.h"

#define T0 INT64_C(1795334400000)

struct fx {
    struct rp_store *s;
    struct rp_clock clock;
    struct rp_jobs *j;
    struct rp_arena a;
    struct rp_error err;
    /* handler behaviour and observations */
    int calls;
    int fail_until; /* attempts before this one fail */
    int fail_code;
    struct rp_jobs *other; /* test_lease: a second worker run from inside a handler */
};

static int handler(void *ctx, const struct rp_job *job, struct rp_error *err)
{
    struct fx *f = ctx;
    f->calls++;
    assert_string_equal(job->kind, "test.work");
    if (job->attempt < f->fail_until || f->fail_code == RP_EINVAL)
        return rp_error_set(err, f->fail_code ? f->fail_code : RP_EIO, "attempt %d failed",
                            job->attempt);
    return 0;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    rp_arena_init(&f->a);
    rp_error_init(&f->err, &f->a);
    rp_clock_init_fixed(&f->clock, T0);
    f->s = rp_test_store_open();
    f->j = rp_jobs_new(&(struct rp_jobs_config){.store = f->s, .clock = &f->clock, .worker = "w1"});
    rp_jobs_register(f->j, "test.work", handler, f, 3);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    rp_jobs_free(f->j);
    rp_jobs_free(f->other);
    rp_store_close(f->s);
    rp_arena_release(&f->a);
    free(f);
    return 0;
}

/* The one job's field, from the list. */
static json_t *job_of(struct fx *f)
{
    struct rp_buf out;
    json_t *j, *first;

    rp_buf_init(&out, &f->a, 1 << 20);
    assert_int_equal(rp_jobs_list(f->s, NULL, 10, &out, &f->err), 0);
    j = json_loads(out.data, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
    first = json_incref(json_array_get(json_object_get(j, "data"), 0));
    json_decref(j);
    return first;
}

static void assert_state(struct fx *f, const char *state, int attempts)
{
    json_t *job = job_of(f);
    assert_string_equal(json_string_value(json_object_get(job, "state")), state);
    assert_int_equal(json_integer_value(json_object_get(job, "attempts")), attempts);
    json_decref(job);
}

static size_t run(struct fx *f)
{
    size_t ran = 0;
    assert_int_equal(rp_jobs_run_due(f->j, 100, &ran, &f->err), 0);
    return ran;
}

static void enqueue(struct fx *f, const char *dedup, bool expect_queued)
{
    bool queued = false;
    char id[40];
    struct rp_job_spec spec = {.kind = "test.work", .payload = "{\"n\":1}", .dedup_key = dedup};
    assert_int_equal(rp_jobs_enqueue(f->j, &spec, id, &queued, &f->err), 0);
    assert_int_equal(queued, expect_queued);
}

static void test_runs_once(void **state)
{
    struct fx *f = *state;

    enqueue(f, NULL, true);
    assert_int_equal(run(f), 1);
    assert_int_equal(f->calls, 1);
    assert_state(f, "done", 1);
    assert_int_equal(run(f), 0);
    rp_clock_advance(&f->clock, 24 * 3600 * INT64_C(1000));
    assert_int_equal(run(f), 0);
    assert_int_equal(f->calls, 1);
}

static void test_backoff_dead_and_retry(void **state)
{
    struct fx *f = *state;
    json_t *job;

    f->fail_until = 100;
    enqueue(f, NULL, true);
    assert_int_equal(run(f), 1);
    assert_state(f, "queued", 1);
    /* not before the backoff */
    rp_clock_advance(&f->clock, rp_jobs_backoff_ms(1) - 1);
    assert_int_equal(run(f), 0);
    rp_clock_advance(&f->clock, 1);
    assert_int_equal(run(f), 1);
    rp_clock_advance(&f->clock, rp_jobs_backoff_ms(2));
    assert_int_equal(run(f), 1);
    /* three attempts were allowed */
    assert_state(f, "dead", 3);
    job = job_of(f);
    assert_string_equal(json_string_value(json_object_get(job, "last_error")), "attempt 3 failed");
    assert_int_equal(
        rp_jobs_cancel(f->s, &f->clock, json_string_value(json_object_get(job, "id")), &f->err),
        RP_ECONFLICT);
    /* revived with fresh attempts */
    f->fail_until = 0;
    assert_int_equal(
        rp_jobs_retry(f->s, &f->clock, json_string_value(json_object_get(job, "id")), &f->err), 0);
    json_decref(job);
    assert_int_equal(run(f), 1);
    assert_state(f, "done", 1);
    assert_int_equal(f->calls, 4);
    /* backoff doubles up to its cap */
    assert_int_equal(rp_jobs_backoff_ms(1), RP_JOBS_BACKOFF_BASE_MS);
    assert_int_equal(rp_jobs_backoff_ms(2), 2 * RP_JOBS_BACKOFF_BASE_MS);
    assert_int_equal(rp_jobs_backoff_ms(40), RP_JOBS_BACKOFF_MAX_MS);
}

static void test_invalid_payload_dies_at_once(void **state)
{
    struct fx *f = *state;

    f->fail_code = RP_EINVAL;
    enqueue(f, NULL, true);
    assert_int_equal(run(f), 1);
    assert_state(f, "dead", 1);
}

static void test_dedup_and_cancel(void **state)
{
    struct fx *f = *state;
    json_t *job;

    enqueue(f, "rule:x:record:y", true);
    enqueue(f, "rule:x:record:y", false);
    job = job_of(f);
    assert_int_equal(
        rp_jobs_cancel(f->s, &f->clock, json_string_value(json_object_get(job, "id")), &f->err), 0);
    json_decref(job);
    assert_int_equal(run(f), 0);
    assert_state(f, "cancelled", 0);
    assert_int_equal(rp_jobs_cancel(f->s, &f->clock, "no-such-job", &f->err), RP_ENOTFOUND);
    /* the dedup key stays taken by the cancelled job */
    enqueue(f, "rule:x:record:y", false);
}

/* Worker 1's handler is slow: its lease runs out and worker 2 takes the job over. */
static int slow_handler(void *ctx, const struct rp_job *job, struct rp_error *err)
{
    struct fx *f = ctx;
    size_t ran = 0;
    (void)job;
    (void)err;
    f->calls++;
    if (f->calls == 1) {
        rp_clock_advance(&f->clock, RP_JOBS_LEASE_MS + 1);
        assert_int_equal(rp_jobs_run_due(f->other, 10, &ran, &f->err), 0);
        assert_int_equal(ran, 1);
    }
    return 0;
}

static void test_lease_taken_over(void **state)
{
    struct fx *f = *state;
    struct rp_jobs *j1 =
        rp_jobs_new(&(struct rp_jobs_config){.store = f->s, .clock = &f->clock, .worker = "slow"});
    size_t ran = 0;

    f->other =
        rp_jobs_new(&(struct rp_jobs_config){.store = f->s, .clock = &f->clock, .worker = "quick"});
    rp_jobs_register(j1, "test.work", slow_handler, f, 3);
    rp_jobs_register(f->other, "test.work", slow_handler, f, 3);
    enqueue(f, NULL, true);
    assert_int_equal(rp_jobs_run_due(j1, 10, &ran, &f->err), 0);
    assert_int_equal(f->calls, 2);
    /* finished once, by the worker holding the lease; the other's outcome was refused */
    assert_state(f, "done", 2);
    assert_int_equal(rp_jobs_run_due(j1, 10, &ran, &f->err), 0);
    assert_int_equal(ran, 0);
    rp_jobs_free(j1);
}

static void test_background_workers(void **state)
{
    struct fx *f = *state;
    int waited = 0;

    assert_int_equal(rp_jobs_start(f->j, &f->err), 0);
    for (int i = 0; i < 20; i++) {
        struct rp_job_spec spec = {.kind = "test.work"};
        assert_int_equal(rp_jobs_enqueue(f->j, &spec, NULL, NULL, &f->err), 0);
    }
    while (f->calls < 20 && waited++ < 500)
        usleep(10000);
    assert_int_equal(f->calls, 20);
}

/* ---- PostgreSQL: two processes' queues on one database run each job once ---- */

#define TWO_N 300

struct two_count {
    _Atomic int runs[TWO_N];
    _Atomic int total;
    _Atomic int by_second; /* jobs the second instance ran */
};

struct two_ctx {
    struct two_count *count;
    bool second;
};

static int count_handler(void *ctx, const struct rp_job *job, struct rp_error *err)
{
    struct two_ctx *x = ctx;
    json_t *p = json_loads(job->payload, 0, NULL);
    json_int_t n = json_integer_value(json_object_get(p, "n"));

    json_decref(p);
    if (n < 0 || n >= TWO_N)
        return rp_error_set(err, RP_EINVAL, "bad payload");
    atomic_fetch_add(&x->count->runs[n], 1);
    atomic_fetch_add(&x->count->total, 1);
    if (x->second)
        atomic_fetch_add(&x->count->by_second, 1);
    return 0;
}

/*
 * Two stores on one PostgreSQL database stand for two rapport processes, each with two
 * background workers claiming with FOR UPDATE SKIP LOCKED: every job runs exactly once,
 * and both take part.
 */
static void test_two_instances_run_each_job_once(void **state)
{
    struct fx *f = *state;
    struct rp_store *s2 = NULL;
    struct rp_jobs *a, *b;
    struct two_count *count;
    struct two_ctx ca, cb;
    int waited = 0;

    if (!rp_test_store_is_pg())
        return; /* one SQLite file has one writer: nothing to race */
    count = calloc(1, sizeof(*count));
    ca = (struct two_ctx){count, false};
    cb = (struct two_ctx){count, true};
    assert_int_equal(rp_store_open(getenv("RP_TEST_PG_URL"), NULL, &s2, &f->err), 0);
    a = rp_jobs_new(&(struct rp_jobs_config){
        .store = f->s, .worker = "instance-a", .poll_ms = 5, .threads = 2});
    b = rp_jobs_new(
        &(struct rp_jobs_config){.store = s2, .worker = "instance-b", .poll_ms = 5, .threads = 2});
    rp_jobs_register(a, "test.count", count_handler, &ca, 3);
    rp_jobs_register(b, "test.count", count_handler, &cb, 3);
    for (int i = 0; i < TWO_N; i++) {
        char payload[32];
        struct rp_job_spec spec = {.kind = "test.count", .payload = payload};
        snprintf(payload, sizeof(payload), "{\"n\":%d}", i);
        assert_int_equal(rp_jobs_enqueue(a, &spec, NULL, NULL, &f->err), 0);
    }
    assert_int_equal(rp_jobs_start(a, &f->err), 0);
    assert_int_equal(rp_jobs_start(b, &f->err), 0);
    while (atomic_load(&count->total) < TWO_N && waited++ < 3000)
        usleep(10000);
    usleep(200000); /* a second run of any job would show now */
    rp_jobs_free(a);
    rp_jobs_free(b);
    rp_store_close(s2);
    assert_int_equal(atomic_load(&count->total), TWO_N);
    for (int i = 0; i < TWO_N; i++)
        assert_int_equal(atomic_load(&count->runs[i]), 1);
    assert_true(atomic_load(&count->by_second) > 0);
    assert_true(atomic_load(&count->by_second) < TWO_N);
    free(count);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_runs_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backoff_dead_and_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_payload_dies_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_taken_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_workers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_instances_run_each_job_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
