/*
 * Data-driven API tests: the case-file machinery shared by tests/api/run_cases.c and the
 * torture test. Each tests/api/cases/NNNN-slug.case file is a
 * sequence of requests and expectations run in-process through the real
 * router against a fresh app (temporary SQLite file, fixed clock, an admin
 * with a token):
 *
 *   ### request [noauth]
 *   POST /api/v1/records/account
 *   Idempotency-Key: k1            (headers until a blank line; then the body)
 *
 *   {"name": "Acme"}
 *   ### expect 201
 *   > Location: $any               (expected response headers, optional)
 *   {"name": "Acme", "id": "$capture:acct"}
 *
 * Expected JSON matches structurally: objects need the listed keys (others
 * may be present), arrays match element by element and in length, "$any"
 * matches any present value, "$capture:NAME" stores the value and "$NAME"
 * anywhere in later text is replaced by it ($token is the admin token).
 * "### expect 201 raw" compares the body as text instead. Lines starting
 * with "#" outside a body are comments.
 */
#ifndef RP_TEST_API_CASES_H
#define RP_TEST_API_CASES_H

#include <stdbool.h>
#include <stddef.h>

#include "test_app.h"

/* A hook's answers: the step passed and the case should stop after it (see rp_case_hooks);
   the same without judging *res, which the hook did not fill. */
#define RP_CASE_STOP           1
#define RP_CASE_STOP_UNCHECKED 2

/** The step being dispatched, for a dispatch hook. */
struct rp_case_step {
    const char *file;
    int step;        /* 1-based */
    int want_status; /* what the case file expects */
    /** Judges a response as the runner will (0, or -1 after printing why); captures. */
    int (*check)(void *check_ctx, const struct rp_http_result *res);
    void *check_ctx;
};

struct rp_case_hooks {
    /**
     * Dispatches a step instead of rp_http_dispatch: fills *res (released by the runner,
     * which then judges it) and returns 0, or RP_CASE_STOP to have the case end successfully
     * after this step, or RP_CASE_STOP_UNCHECKED for the same with *res not filled, or -1
     * (failure reported by the hook; *res is not filled).
     */
    int (*dispatch)(void *ctx, struct rp_test_app *t, const struct rp_case_step *step,
                    const struct rp_http_dispatch *in, struct rp_http_result *res);
    /** Called once the case's app is open, before the first step. May be NULL. */
    void (*opened)(void *ctx, struct rp_test_app *t);
    void *ctx;
    bool quiet; /* no "ok" line per passing case */
};

/**
 * Runs one case file on a fresh app (hooks may be NULL). Returns 0 when every step passed,
 * RP_CASE_STOP when a hook stopped it early, or -1 (the failure is printed to stderr).
 */
int rp_case_run(const char *path, const char *name, const struct rp_case_hooks *hooks);

/** The *.case files of dir whose name contains only (NULL: all), sorted; count returned. */
size_t rp_case_list(const char *dir, const char *only, char ***names);
void rp_case_list_free(char **names, size_t n);

#endif
