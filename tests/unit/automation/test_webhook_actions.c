/*
 * Webhook filters and the actions that reach other systems, against a real HTTP receiver
 * (libmicrohttpd on 127.0.0.1): a subscription with a filter receives only the changes whose
 * record meets it; a rule's call_webhook action delivers a signed body with its values and the
 * record; a rule's request_approval action submits the record for approval; definitions that
 * name unknown subscriptions, or filter several objects, are refused.
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
#include <string.h>

#include "base/outbound.h"
#include "test_app.h"

#define MAX_BODIES 64

struct receiver {
    struct MHD_Daemon *d;
    uint16_t port;
    pthread_mutex_t lock;
    char secret[80];
    char *bodies[MAX_BODIES];
    char *ids[MAX_BODIES];
    size_t n;
    unsigned bad_signatures;
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
    if (!sig || !up->data ||
        rp_outbound_verify((const uint8_t *)rv->secret, strlen(rv->secret), sig, up->data, up->len,
                           0, INT64_MAX / 2) != 0)
        rv->bad_signatures++;
    if (rv->n < MAX_BODIES) {
        rv->bodies[rv->n] = strdup(up->data ? up->data : "");
        rv->ids[rv->n] = strdup(id ? id : "");
        rv->n++;
    }
    pthread_mutex_unlock(&rv->lock);
    resp = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    ret = MHD_queue_response(conn, 200, resp);
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

static void receiver_start(struct receiver *rv)
{
    const union MHD_DaemonInfo *info;

    pthread_mutex_init(&rv->lock, NULL);
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
    for (size_t i = 0; i < rv->n; i++) {
        free(rv->bodies[i]);
        free(rv->ids[i]);
    }
    pthread_mutex_destroy(&rv->lock);
}

/* Dispatches rules and webhooks and runs due jobs until nothing is left. */
/* Creates a subscription to the receiver; its secret goes to the receiver. */
static void subscribe(struct rp_test_app *t, struct receiver *rv, const char *name,
                      const char *rest)
{
    char target[128], body[1024];
    json_t *j;

    snprintf(target, sizeof(target), "/api/v1/webhooks/%s", name);
    snprintf(body, sizeof(body), "{\"url\": \"http://127.0.0.1:%u/hook\", %s}", rv->port, rest);
    j = rp_test_call(t, "PUT", target, body, 201);
    snprintf(rv->secret, sizeof(rv->secret), "%s", json_string_value(json_object_get(j, "secret")));
    json_decref(j);
}

static void test_filter(void **state)
{
    struct rp_test_app *t = *state;
    struct receiver rv = {0};
    char won[40], lost[40], target[128];
    json_t *b;

    receiver_start(&rv);
    json_decref(rp_test_call(t, "PUT", "/api/v1/admin/settings/webhooks.allow",
                             "{\"value\": \"127.0.0.1/32\"}", 200));
    subscribe(t, &rv, "won_deals",
              "\"objects\": [\"opportunity\"], \"filter\": \"stage = 'closed_won'\"");
    rp_test_create(t, "opportunity",
                   "{\"name\": \"Big deal\", \"stage\": \"prospecting\", \"amount\": 1000}", won);
    rp_test_create(t, "opportunity",
                   "{\"name\": \"Lost deal\", \"stage\": \"prospecting\", \"amount\": 10}", lost);
    rp_test_settle(t);
    assert_int_equal(rv.n, 0); /* neither is won yet */
    snprintf(target, sizeof(target), "/api/v1/records/opportunity/%s", won);
    json_decref(rp_test_call(t, "PATCH", target, "{\"stage\": \"closed_won\"}", 200));
    snprintf(target, sizeof(target), "/api/v1/records/opportunity/%s", lost);
    json_decref(rp_test_call(t, "PATCH", target,
                             "{\"stage\": \"closed_lost\", \"lost_reason\": \"price\"}", 200));
    rp_test_settle(t);
    assert_int_equal(rv.n, 1);
    assert_int_equal(rv.bad_signatures, 0);
    b = json_loads(rv.bodies[0], 0, NULL);
    assert_string_equal(json_string_value(json_object_get(b, "record_id")), won);
    assert_string_equal(json_string_value(json_object_get(b, "op")), "update");
    json_decref(b);
    b = rp_test_call(t, "GET", "/api/v1/webhooks", NULL, 200);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(b, "data"), 0), "filter")),
        "stage = 'closed_won'");
    json_decref(b);

    /* a filter needs one object and a condition on it */
    json_decref(rp_test_call(t, "PUT", "/api/v1/webhooks/two",
                             "{\"url\": \"http://127.0.0.1:9/\", \"objects\": [\"lead\", \"case\"],"
                             " \"filter\": \"true\"}",
                             422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/webhooks/bad",
                             "{\"url\": \"http://127.0.0.1:9/\", \"objects\": [\"lead\"],"
                             " \"filter\": \"no_such_field = 1\"}",
                             422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/webhooks/bad",
                             "{\"url\": \"http://127.0.0.1:9/\", \"objects\": [\"lead\"],"
                             " \"filter\": \"last_name\"}",
                             422));
    receiver_stop(&rv);
}

static void test_call_webhook_action(void **state)
{
    struct rp_test_app *t = *state;
    struct receiver rv = {0};
    char p1[40], p2[40];
    json_t *b;

    receiver_start(&rv);
    json_decref(rp_test_call(t, "PUT", "/api/v1/admin/settings/webhooks.allow",
                             "{\"value\": \"127.0.0.1/32\"}", 200));
    /* subscribed to no change events: it is called only by the rule */
    subscribe(t, &rv, "pager", "\"objects\": [\"kb_article\"], \"events\": [\"deleted\"]");
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/page_p1",
                     "{\"object\": \"case\", \"trigger\": {\"on\": \"created\"}, \"condition\":"
                     " \"priority = 'p1'\", \"actions\": [{\"type\": \"call_webhook\", \"webhook\":"
                     " \"pager\", \"values\": {\"summary\": {\"expr\": \"lower(subject)\"},"
                     " \"team\": \"support\"}}]}",
                     201));
    rp_test_create(t, "case", "{\"subject\": \"Down\", \"priority\": \"p1\"}", p1);
    rp_test_create(t, "case", "{\"subject\": \"Slow\", \"priority\": \"p3\"}", p2);
    rp_test_settle(t);
    rp_test_settle(t);
    assert_int_equal(rv.n, 1);
    assert_int_equal(rv.bad_signatures, 0);
    assert_int_equal(strncmp(rv.ids[0], "act_", 4), 0);
    b = json_loads(rv.bodies[0], 0, NULL);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(b, "id")), rv.ids[0]);
    assert_string_equal(json_string_value(json_object_get(b, "rule")), "page_p1");
    assert_string_equal(json_string_value(json_object_get(b, "record_id")), p1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "data"), "summary")),
                        "down");
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "data"), "team")),
                        "support");
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "record"), "subject")),
                        "Down");
    json_decref(b);

    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/nowhere",
                     "{\"object\": \"case\", \"trigger\": {\"on\": \"created\"}, \"actions\":"
                     " [{\"type\": \"call_webhook\", \"webhook\": \"missing\"}]}",
                     422));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/nowhere",
                     "{\"object\": \"case\", \"trigger\": {\"on\": \"created\"}, \"actions\":"
                     " [{\"type\": \"call_webhook\", \"webhook\": \"pager\", \"values\": {\"x\":"
                     " {\"expr\": \"nope\"}}}]}",
                     422));
    receiver_stop(&rv);
}

static void test_request_approval_action(void **state)
{
    struct rp_test_app *t = *state;
    char body[1024], q1[40], q2[40], target[160];
    json_t *j;

    snprintf(body, sizeof(body),
             "{\"object\": \"quote\", \"criteria\": \"discount_percent > 20\", \"steps\":"
             " [{\"approver\": {\"type\": \"user\", \"user_id\": \"%s\"}}], \"on_submit\":"
             " {\"status\": \"pending_approval\"}, \"on_approve\": {\"status\": \"approved\"}}",
             t->user_id);
    json_decref(rp_test_call(t, "PUT", "/api/v1/approvals/processes/deep_discount", body, 201));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/ask",
                     "{\"object\": \"quote\", \"trigger\": {\"on\": \"created\"}, \"condition\":"
                     " \"discount_percent > 20\", \"actions\": [{\"type\": \"request_approval\","
                     " \"comment\": \"discount over 20%\"}]}",
                     201));
    rp_test_create(t, "quote", "{\"name\": \"Deep\", \"discount_percent\": 35}", q1);
    rp_test_create(t, "quote", "{\"name\": \"Shallow\", \"discount_percent\": 5}", q2);
    rp_test_settle(t);
    snprintf(target, sizeof(target), "/api/v1/records/quote/%s/approval", q1);
    j = rp_test_call(t, "GET", target, NULL, 200);
    {
        const json_t *first = json_array_get(json_object_get(j, "data"), 0);
        assert_non_null(first);
        assert_string_equal(json_string_value(json_object_get(first, "state")), "pending");
        assert_string_equal(json_string_value(json_object_get(first, "comment")),
                            "discount over 20%");
    }
    json_decref(j);
    snprintf(target, sizeof(target), "/api/v1/records/quote/%s", q1);
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "pending_approval");
    json_decref(j);
    snprintf(target, sizeof(target), "/api/v1/records/quote/%s/approval", q2);
    j = rp_test_call(t, "GET", target, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 0);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_filter, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_call_webhook_action, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_request_approval_action, rp_test_app_setup,
                                        rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
