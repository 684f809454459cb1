/*
 * Test fixture: an app on a temporary SQLite file with a fixed clock, an
 * admin user and a bearer token, and a one-call in-process request helper.
 */
#ifndef RP_TEST_APP_H
#define RP_TEST_APP_H

#include <jansson.h>

#include "app/app.h"

/* 2026-11-22T08:00:00Z, the clock every fixture starts at. */
#define RP_TEST_NOW_MS INT64_C(1795334400000)

struct rp_test_app {
    struct rp_app *app;
    char token[128];  /* admin bearer token */
    char user_id[40]; /* admin user id */
};

/** Opens the fixture; aborts the test process on failure. */
void rp_test_app_open(struct rp_test_app *t);
/** The same, but always on a private SQLite database whatever RP_TEST_STORE says, its admin
 *  named admin_name (the source of a copy to PostgreSQL). */
void rp_test_app_open_sqlite(struct rp_test_app *t, const char *admin_name);
void rp_test_app_close(struct rp_test_app *t);

/** cmocka fixtures: *state becomes a heap struct rp_test_app opened as above. */
int rp_test_app_setup(void **state);
int rp_test_app_teardown(void **state);

/**
 * Sends one request through the router as the admin (unless headers already
 * carry Authorization, or token is NULL). Returns the status; *body (may be
 * NULL) gets a malloc'd copy of the response body.
 */
int rp_test_request(struct rp_test_app *t, const char *method, const char *target, const char *body,
                    char **out_body);
/** As rp_test_request, with another bearer token (NULL sends none). */
int rp_test_request_as(struct rp_test_app *t, const char *token, const char *method,
                       const char *target, const char *body, char **out_body);

/**
 * Adds a user with the given password and a named API token for it; aborts on failure.
 * token receives the clear token (n bytes), user_id (40 bytes, may be NULL) its id.
 */
void rp_test_user(struct rp_test_app *t, const char *username, const char *password, bool admin,
                  char *token, size_t n, char *user_id);

/** The standard catalogue as a snapshot at RP_TEST_NOW_MS (caller releases); aborts on failure. */
struct rp_meta *rp_test_catalogue(void);

/**
 * Sends a request as the admin (rp_test_call) or with token (NULL: none) and checks its status,
 * printing the body when it differs. Returns the JSON body, an empty object when there is none;
 * the caller decrefs it.
 */
json_t *rp_test_call(struct rp_test_app *t, const char *method, const char *target,
                     const char *body, int expect);
json_t *rp_test_call_as(struct rp_test_app *t, const char *token, const char *method,
                        const char *target, const char *body, int expect);
/**
 * Runs the background work of a serving app by hand until none is left: the rule, webhook and
 * SLA dispatchers over the change log and the jobs due on the fake clock. Returns the jobs run.
 */
size_t rp_test_settle(struct rp_test_app *t);
/** The string member key of j, or NULL. */
const char *rp_test_str(const json_t *j, const char *key);

/** Creates a record as the admin and copies its id into id (40 bytes); aborts unless 201. */
void rp_test_create(struct rp_test_app *t, const char *object, const char *json, char *id);

#endif
