/*
 * Webhooks against a real HTTP receiver (libmicrohttpd on 127.0.0.1) that fails 30% of the
 * requests: every one of many events is delivered, retried with the fake clock until it is;
 * a receiver that processed a request but answered 500 sees the retry with the same event id
 * and body; every delivery carries a signature that verifies with the subscription's secret.
 * Also: internal URLs are refused without the allow-list, replay from a position, and a
 * deleted subscription delivers nothing more.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/outbound.h"
#include "test_app.h"

#define NEVENTS_DEFAULT 10000

struct receiver {
    struct MHD_Daemon *d;
    uint16_t port;
    pthread_mutex_t lock;
    char secret[80];
    unsigned requests, bad_signatures;
    unsigned *accepted; /* per event seq: times the receiver processed it */
    char **bodies;      /* per event seq: the first body processed */
    size_t cap;
    bool mismatched; /* a retry carried another body for the same id */
};

struct upload {
    char *data;
    size_t len;
};

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **state)
{
    struct receiver *rv = cls;
    struct upload *up = *state;
    const char *sig, *id;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    unsigned n, status = 200;
    long long seq = -1;

    (void)url;
    (void)method;
    (void)version;
    if (!up) {
        *state = calloc(1, sizeof(struct upload));
        return MHD_YES;
    }
    if (*size) {
        up->data = realloc(up->data, up->len + *size + 1);
        memcpy(up->data + up->len, data, *size);
        up->len += *size;
        up->data[up->len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    sig = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Rapport-Signature");
    id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Rapport-Event-Id");
    pthread_mutex_lock(&rv->lock);
    n = rv->requests++;
    if (!sig || !up->data ||
        rp_outbound_verify((const uint8_t *)rv->secret, strlen(rv->secret), sig, up->data, up->len,
                           0, INT64_MAX / 2) != 0)
        rv->bad_signatures++;
    if (id)
        sscanf(id, "evt_%lld", &seq);
    /* 30% fail: 15% before processing, 15% after (the sender cannot tell). */
    if (n % 20 < 3) {
        status = 500;
    } else if (seq >= 0 && (size_t)seq < rv->cap) {
        if (!rv->bodies[seq])
            rv->bodies[seq] = strdup(up->data ? up->data : "");
        else if (strcmp(rv->bodies[seq], up->data ? up->data : "") != 0)
            rv->mismatched = true;
        rv->accepted[seq]++;
        if (n % 20 < 6)
            status = 500;
    }
    pthread_mutex_unlock(&rv->lock);
    resp = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode toe)
{
    struct upload *up = *state;
    (void)cls;
    (void)c;
    (void)toe;
    if (up) {
        free(up->data);
        free(up);
    }
    *state = NULL;
}

static void receiver_start(struct receiver *rv, size_t cap)
{
    const union MHD_DaemonInfo *info;

    pthread_mutex_init(&rv->lock, NULL);
    rv->cap = cap;
    rv->accepted = calloc(cap, sizeof(unsigned));
    rv->bodies = calloc(cap, sizeof(char *));
    rv->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, handle, rv,
        MHD_OPTION_NOTIFY_COMPLETED, completed, rv, MHD_OPTION_SOCK_ADDR,
        &(struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
        MHD_OPTION_END);
    assert_non_null(rv->d);
    info = MHD_get_daemon_info(rv->d, MHD_DAEMON_INFO_BIND_PORT);
    rv->port = info->port;
}

static void receiver_stop(struct receiver *rv)
{
    MHD_stop_daemon(rv->d);
    for (size_t i = 0; i < rv->cap; i++)
        free(rv->bodies[i]);
    free(rv->bodies);
    free(rv->accepted);
    pthread_mutex_destroy(&rv->lock);
}

/* Dispatches, runs due jobs, and moves the clock past backoffs until nothing is queued. */
static void deliver_all(struct rp_test_app *t)
{
    struct rp_error err;
    size_t queued = 0, ran = 0;

    rp_error_init(&err, NULL);
    assert_int_equal(rp_webhook_dispatch(t->app->automation, &queued, &err), 0);
    for (int round = 0; round < 100; round++) {
        size_t total = 0;
        do {
            assert_int_equal(rp_jobs_run_due(t->app->jobs, 1000, &ran, &err), 0);
            total += ran;
        } while (ran);
        if (total == 0 && round > 0) {
            char *out = NULL;
            int status = rp_test_request(t, "GET", "/api/v1/jobs?state=queued&limit=1", NULL, &out);
            bool none = status == 200 && strstr(out, "\"data\":[]");
            free(out);
            if (none)
                return;
        }
        rp_clock_advance(&t->app->clock, RP_JOBS_BACKOFF_MAX_MS);
    }
    fail_msg("deliveries did not finish");
}

static void test_all_delivered_despite_failures(void **state)
{
    struct rp_test_app *t = *state;
    const char *env = getenv("RP_WEBHOOK_EVENTS");
    size_t nevents = env ? (size_t)strtoul(env, NULL, 10) : NEVENTS_DEFAULT;
    struct receiver rv = {0};
    char url[128], body[256], *out = NULL;
    struct rp_error err;
    json_t *j;
    size_t seq0, missing = 0, duplicated = 0;

    receiver_start(&rv, nevents + 100);
    rp_error_init(&err, NULL);
    assert_int_equal(rp_test_request(t, "PUT", "/api/v1/admin/settings/webhooks.allow",
                                     "{\"value\": \"127.0.0.1/32\"}", &out),
                     200);
    free(out);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/hook", rv.port);
    snprintf(body, sizeof(body), "{\"url\": \"%s\", \"objects\": [\"account\"]}", url);
    assert_int_equal(rp_test_request(t, "PUT", "/api/v1/webhooks/crm_sync", body, &out), 201);
    j = json_loads(out, 0, NULL);
    snprintf(rv.secret, sizeof(rv.secret), "%s", json_string_value(json_object_get(j, "secret")));
    json_decref(j);
    free(out);
    assert_int_equal(strlen(rv.secret), 64);

    /* the events: account creates in batches of 1,000 */
    {
        json_t *last;
        assert_int_equal(rp_test_request(t, "GET", "/api/v1/changes?limit=1", NULL, &out), 200);
        j = json_loads(out, 0, NULL);
        free(out);
        last = json_object_get(j, "next");
        seq0 = (size_t)json_integer_value(last);
        json_decref(j);
    }
    for (size_t done = 0; done < nevents;) {
        size_t n = nevents - done < 1000 ? nevents - done : 1000;
        json_t *ops = json_array(), *req;
        char *text;
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                ops, json_pack("{ss s{ss}}", "op", "create", "data", "name", "Hooked"));
        req = json_pack("{sbso}", "atomic", 1, "operations", ops);
        text = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        assert_int_equal(rp_test_request(t, "POST", "/api/v1/records/account/batch", text, &out),
                         200);
        free(text);
        free(out);
        done += n;
    }
    /* a contact is not subscribed to */
    {
        char id[40];
        rp_test_create(t, "contact", "{\"last_name\": \"Unhooked\"}", id);
    }
    deliver_all(t);

    for (size_t i = 0; i < nevents; i++) {
        size_t seq = seq0 + 1 + i;
        if (rv.accepted[seq] == 0)
            missing++;
        if (rv.accepted[seq] > 1)
            duplicated++;
    }
    print_message("webhooks: %zu events, %u requests, %zu delivered more than once\n", nevents,
                  rv.requests, duplicated);
    assert_int_equal(missing, 0);
    assert_true(duplicated > 0); /* the receiver's lost answers were retried ... */
    assert_false(rv.mismatched); /* ... with the same id and body */
    assert_int_equal(rv.bad_signatures, 0);
    assert_true(rv.requests >= nevents + nevents / 4);

    /* replay from a position: the last ten events again, same ids */
    {
        char target[128];
        unsigned before = rv.requests;
        snprintf(target, sizeof(target), "/api/v1/webhooks/crm_sync/replay?after=%zu",
                 seq0 + nevents - 10);
        assert_int_equal(rp_test_request(t, "POST", target, NULL, &out), 202);
        assert_non_null(strstr(out, "\"queued\":10"));
        free(out);
        deliver_all(t);
        assert_true(rv.requests >= before + 10);
    }

    /* deleted: nothing more is sent */
    {
        char id[40];
        unsigned before;
        assert_int_equal(rp_test_request(t, "DELETE", "/api/v1/webhooks/crm_sync", NULL, &out),
                         204);
        free(out);
        before = rv.requests;
        rp_test_create(t, "account", "{\"name\": \"After\"}", id);
        deliver_all(t);
        assert_int_equal(rv.requests, before);
    }
    receiver_stop(&rv);
}

static void test_internal_urls_refused(void **state)
{
    struct rp_test_app *t = *state;
    static const char *const urls[] = {
        "http://127.0.0.1:9/x",
        "http://2130706433/x",
        "http://0177.0.0.1/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://169.254.169.254/latest",
        "http://10.0.0.5/x",
        "http://localhost/x",
        "http://metadata.google.internal/x",
        "ftp://example.com/x",
        "http://user:pw@example.com/x",
    };
    char body[256], *out = NULL;

    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        snprintf(body, sizeof(body), "{\"url\": \"%s\"}", urls[i]);
        assert_int_equal(rp_test_request(t, "PUT", "/api/v1/webhooks/bad", body, &out), 422);
        free(out);
    }
    assert_int_equal(rp_test_request(t, "GET", "/api/v1/webhooks", NULL, &out), 200);
    assert_non_null(strstr(out, "\"data\":[]"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_all_delivered_despite_failures, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_internal_urls_refused, rp_test_app_setup,
                                        rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
