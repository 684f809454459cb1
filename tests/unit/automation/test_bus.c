/*
 * The message bus against a real nats-server on 127.0.0.1 (started here on a free port, killed
 * by its PID, and unable to outlive the test: PR_SET_PDEATHSIG). A libnats subscriber on
 * "rapport.>" sees every change event committed after the bus was turned on (records created,
 * updated, deleted and restored through the API, an incoming event) exactly once, on
 * "rapport.<object>.<op>", with the webhook body and Nats-Msg-Id. With the server stopped the
 * events wait (the cursor does not move); once it is back they are all published. The rule
 * action "publish" arrives on its subject with an id made of the job and the action, the same
 * after a retry when NATS was down; subjects with wildcards or under "rapport." are refused. An
 * event over the server's max_payload goes out without its changes, not holding back the rest.
 * A server that stops answering (SIGSTOP) costs the dispatcher one flush timeout, not one a tick.
 * Without nats-server the test fails: it is installed by scripts/install-deps.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/sql.h"
#include "test_app.h"

#define NATS_SERVER "/usr/sbin/nats-server"
#define MAX_EVENTS  64

/* ---- nats-server ---- */

struct server {
    pid_t pid;
    int port;
};

static struct server srv; /* the running one, for the teardown */

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static bool accepts(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

    if (fd >= 0)
        close(fd);
    return ok;
}

/* Starts nats-server on port, with the configuration file config unless NULL. */
static void server_start_with(int port, const char *config)
{
    pid_t parent = getpid(), pid;
    char p[16];

    if (access(NATS_SERVER, X_OK) != 0)
        fail_msg("%s is missing (scripts/install-deps.sh installs nats-server)", NATS_SERVER);
    snprintf(p, sizeof(p), "%d", port);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        /* Dies with the test, however the test ends. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        if (config)
            execl(NATS_SERVER, "nats-server", "-c", config, "-a", "127.0.0.1", "-p", p,
                  (char *)NULL);
        else
            execl(NATS_SERVER, "nats-server", "-a", "127.0.0.1", "-p", p, (char *)NULL);
        _exit(127);
    }
    srv.pid = pid;
    srv.port = port;
    for (int i = 0; i < 200; i++) {
        int status;
        if (accepts(port))
            return;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            srv.pid = 0;
            fail_msg("nats-server exited before accepting (status %d)", status);
        }
        pause_ms(50);
    }
    fail_msg("nats-server did not accept on port %d within 10 s", port);
}

static void server_start(int port)
{
    server_start_with(port, NULL);
}

static void server_stop(void)
{
    if (srv.pid <= 0)
        return;
    kill(srv.pid, SIGKILL); /* also when stopped (SIGSTOP) */
    waitpid(srv.pid, NULL, 0);
    srv.pid = 0;
}

/* ---- the subscriber ---- */

struct sub {
    natsConnection *nc;
    natsSubscription *changes, *custom;
};

static void sub_open(struct sub *s, int port)
{
    natsOptions *o = NULL;
    char url[64];

    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", port);
    assert_int_equal(natsOptions_Create(&o), NATS_OK);
    assert_int_equal(natsOptions_SetURL(o, url), NATS_OK);
    assert_int_equal(natsOptions_SetMaxReconnect(o, -1), NATS_OK);
    assert_int_equal(natsOptions_SetReconnectWait(o, 100), NATS_OK);
    assert_int_equal(natsConnection_Connect(&s->nc, o), NATS_OK);
    natsOptions_Destroy(o);
    assert_int_equal(natsConnection_SubscribeSync(&s->changes, s->nc, "rapport.>"), NATS_OK);
    assert_int_equal(natsConnection_SubscribeSync(&s->custom, s->nc, "crm.>"), NATS_OK);
    assert_int_equal(natsConnection_FlushTimeout(s->nc, 5000), NATS_OK);
}

static void sub_close(struct sub *s)
{
    natsSubscription_Destroy(s->changes);
    natsSubscription_Destroy(s->custom);
    natsConnection_Destroy(s->nc);
}

/* After a server restart: connected again, and the server has our subscriptions. */
static void sub_wait_reconnected(struct sub *s)
{
    for (int i = 0; i < 300; i++) {
        if (natsConnection_Status(s->nc) == NATS_CONN_STATUS_CONNECTED &&
            natsConnection_FlushTimeout(s->nc, 1000) == NATS_OK)
            return;
        pause_ms(50);
    }
    fail_msg("the subscriber did not reconnect");
}

/* ---- the app ---- */

static void set_bus_url(struct rp_test_app *t, int port)
{
    char body[128];
    snprintf(body, sizeof(body), "{\"value\": \"nats://127.0.0.1:%d\"}", port);
    json_decref(rp_test_call(t, "PUT", "/api/v1/admin/settings/bus.nats_url", body, 200));
}

struct event {
    int64_t seq;
    char object[64], op[64], record_id[160];
    unsigned seen;
};

struct event_list {
    struct event items[MAX_EVENTS];
    size_t n;
};

static int event_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct event_list *l = ctx;
    struct event *e;

    assert_true(n == 4 && l->n < MAX_EVENTS);
    e = &l->items[l->n++];
    memset(e, 0, sizeof(*e));
    e->seq = cols[0].u.i;
    snprintf(e->object, sizeof(e->object), "%.*s", (int)cols[1].u.s.len, cols[1].u.s.p);
    snprintf(e->op, sizeof(e->op), "%.*s", (int)cols[2].u.s.len, cols[2].u.s.p);
    snprintf(e->record_id, sizeof(e->record_id), "%.*s", (int)cols[3].u.s.len, cols[3].u.s.p);
    return 0;
}

/* The change events after seq, from the database. */
static void events_after(struct rp_test_app *t, int64_t seq, struct event_list *l)
{
    struct rp_store_conn *c = rp_store_reader_acquire(t->app->store);
    struct rp_arena a;
    struct rp_error err;
    struct rp_sql q;

    l->n = 0;
    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rp_sql_init(&q, &a, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT seq, object, op, record_id FROM rp_change WHERE seq > ");
    rp_sql_param(&q, rp_value_int(seq));
    rp_sql_add(&q, " ORDER BY seq");
    assert_int_equal(rp_store_query(c, &q, event_row, l, &err), 0);
    rp_store_reader_release(t->app->store, c);
    rp_arena_release(&a);
}

static int64_t setting_int(struct rp_test_app *t, const char *key)
{
    struct rp_store_conn *c = rp_store_reader_acquire(t->app->store);
    struct rp_arena a;
    struct rp_error err;
    struct rp_sql q;
    int64_t v = -1;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rp_sql_init(&q, &a, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = ");
    rp_sql_param(&q, rp_value_cstr(key));
    assert_int_equal(rp_store_query(c, &q, rp_store_row_int, &v, &err), 0);
    rp_store_reader_release(t->app->store, c);
    rp_arena_release(&a);
    return v;
}

/*
 * Receives the change events of l: each must arrive with its subject, body and Nats-Msg-Id;
 * once exactly (a quiet half second after the last), or at least once when duplicates are
 * allowed (after an outage a batch may be sent again).
 */
static void expect_events(struct sub *s, struct event_list *l, bool exactly_once)
{
    size_t distinct = 0;
    int quiet_ms = 0;

    while (distinct < l->n || quiet_ms < 500) {
        natsMsg *m = NULL;
        natsStatus st = natsSubscription_NextMsg(&m, s->changes, 100);
        const char *hdr = NULL;
        char subject[200], id[32];
        struct event *e = NULL;
        json_t *body;
        if (st == NATS_TIMEOUT) {
            quiet_ms += 100;
            if (distinct < l->n && quiet_ms > 10000)
                fail_msg("only %zu of %zu change events arrived", distinct, l->n);
            continue;
        }
        assert_int_equal(st, NATS_OK);
        quiet_ms = 0;
        body = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
        assert_non_null(body);
        for (size_t i = 0; i < l->n; i++)
            if (l->items[i].seq == json_integer_value(json_object_get(body, "seq")))
                e = &l->items[i];
        if (!e)
            fail_msg("an unexpected event: %s", natsMsg_GetData(m));
        snprintf(subject, sizeof(subject), "rapport.%s.%s", e->object, e->op);
        snprintf(id, sizeof(id), "evt_%lld", (long long)e->seq);
        assert_string_equal(natsMsg_GetSubject(m), subject);
        assert_string_equal(rp_test_str(body, "id"), id);
        assert_int_equal(natsMsgHeader_Get(m, "Nats-Msg-Id", &hdr), NATS_OK);
        assert_string_equal(hdr, id);
        assert_string_equal(rp_test_str(body, "object"), e->object);
        assert_string_equal(rp_test_str(body, "op"), e->op);
        assert_string_equal(rp_test_str(body, "record_id"), e->record_id);
        assert_non_null(rp_test_str(body, "at"));
        assert_non_null(rp_test_str(body, "actor"));
        assert_true(json_is_object(json_object_get(body, "changes")));
        if (e->seen++ == 0)
            distinct++;
        else if (exactly_once)
            fail_msg("event %s arrived twice", id);
        json_decref(body);
        natsMsg_Destroy(m);
    }
}

/* ---- tests ---- */

static int setup(void **state)
{
    srv.pid = 0;
    return rp_test_app_setup(state);
}

static int teardown(void **state)
{
    int rc = rp_test_app_teardown(state);
    server_stop();
    return rc;
}

static void test_change_events(void **state)
{
    struct rp_test_app *t = *state;
    struct sub s = {0};
    struct event_list *l = calloc(1, sizeof(*l));
    struct rp_bus_stats st;
    struct rp_error err;
    char lead[40], acct[40], target[128];
    size_t published = 0;
    int64_t seq0, before;
    int rc;

    rp_error_init(&err, NULL);
    server_start(free_port());
    sub_open(&s, srv.port);

    /* off until configured; the setting takes nats:// and tls:// URLs only */
    assert_int_equal(rp_bus_dispatch(t->app->automation, &published, &err), 0);
    assert_int_equal(published, 0);
    json_decref(rp_test_call(t, "PUT", "/api/v1/admin/settings/bus.nats_url",
                             "{\"value\": \"http://127.0.0.1:4222\"}", 422));
    json_decref(rp_test_call(t, "PUT", "/api/v1/admin/settings/bus.nats_url",
                             "{\"value\": \"nats://127.0.0.1:4222/x\"}", 422));
    rp_test_create(t, "account", "{\"name\": \"Before the bus\"}", acct);
    assert_int_equal(setting_int(t, RP_BUS_CURSOR_KEY), -1);
    /* the cursor starts with the setting: what commits before the first tick is published */
    set_bus_url(t, srv.port);
    seq0 = setting_int(t, RP_BUS_CURSOR_KEY);
    assert_true(seq0 >= 1);

    /* every kind of change, and an incoming event */
    rp_test_create(t, "lead", "{\"last_name\": \"Bus\", \"company\": \"NATS Ltd\"}", lead);
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s", lead);
    json_decref(rp_test_call(t, "PATCH", target, "{\"title\": \"CTO\"}", 200));
    rp_test_create(t, "account", "{\"name\": \"Bus Account\"}", acct);
    json_decref(rp_test_call(t, "DELETE", target, NULL, 200));
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s/restore", lead);
    json_decref(rp_test_call(t, "POST", target, NULL, 200));
    json_decref(rp_test_call(t, "POST", "/api/v1/events/shipment.updated",
                             "{\"id\": \"ship-1\", \"data\": {\"status\": \"shipped\"}}", 202));
    events_after(t, seq0, l);
    assert_int_equal(l->n, 6);
    assert_string_equal(l->items[5].object, "event");
    assert_string_equal(l->items[5].op, "shipment.updated");

    assert_int_equal(rp_bus_dispatch(t->app->automation, &published, &err), 0);
    assert_int_equal(published, 6);
    expect_events(&s, l, true);
    assert_int_equal(setting_int(t, RP_BUS_CURSOR_KEY), l->items[5].seq);
    assert_int_equal(rp_bus_dispatch(t->app->automation, &published, &err), 0);
    assert_int_equal(published, 0); /* nothing twice */

    /* NATS goes away: the events wait, the cursor stays */
    before = l->items[5].seq;
    server_stop();
    for (int i = 0; i < 3; i++) {
        char id[40];
        rp_test_create(t, "lead", "{\"last_name\": \"Missed\"}", id);
    }
    for (int i = 0; i < 10; i++) {
        rc = rp_bus_dispatch(t->app->automation, &published, &err);
        assert_int_equal(rc, RP_EIO);
        assert_int_equal(published, 0);
        pause_ms(50);
    }
    assert_int_equal(setting_int(t, RP_BUS_CURSOR_KEY), before);
    rp_bus_stats(t->app->automation, &st);
    assert_true(st.configured);
    assert_false(st.connected);
    assert_int_equal(st.published, 6);

    /* back on the same port: everything that waited is published */
    server_start(srv.port);
    sub_wait_reconnected(&s);
    for (int i = 0;; i++) {
        if (i == 300)
            fail_msg("the publisher did not get back to NATS");
        rc = rp_bus_dispatch(t->app->automation, &published, &err);
        if (rc == 0 && published > 0)
            break;
        assert_true(rc == 0 || rc == RP_EIO);
        pause_ms(50);
    }
    events_after(t, before, l);
    assert_int_equal(l->n, 3);
    assert_int_equal(published, 3);
    expect_events(&s, l, false);
    assert_int_equal(setting_int(t, RP_BUS_CURSOR_KEY), l->items[2].seq);
    rp_bus_stats(t->app->automation, &st);
    assert_true(st.connected);
    assert_int_equal(st.published, 9);

    /* the counters are in /metrics */
    {
        char *out = NULL;
        assert_int_equal(rp_test_request(t, "GET", "/metrics", NULL, &out), 200);
        assert_non_null(strstr(out, "rapport_bus_published_total 9\n"));
        assert_non_null(strstr(out, "rapport_bus_errors_total "));
        assert_non_null(strstr(out, "rapport_bus_connected 1\n"));
        free(out);
    }
    sub_close(&s);
    free(l);
}

/* An event larger than the server's max_payload goes out without its changes, and the events
 * after it are not held back. */
static void test_oversized_event(void **state)
{
    struct rp_test_app *t = *state;
    char config[] = "/tmp/rapport-nats-XXXXXX", big[40], small[40], body[4200];
    struct sub s = {0};
    struct rp_error err;
    size_t published = 0;
    const char *expect[] = {big, small};
    int fd = mkstemp(config);

    assert_true(fd >= 0);
    assert_true(write(fd, "max_payload: 1024\n", 18) == 18);
    close(fd);
    rp_error_init(&err, NULL);
    server_start_with(free_port(), config);
    sub_open(&s, srv.port);
    set_bus_url(t, srv.port);
    {
        char filler[3001];
        memset(filler, 'x', 3000);
        filler[3000] = '\0';
        snprintf(body, sizeof(body), "{\"last_name\": \"Big\", \"description\": \"%s\"}", filler);
    }
    rp_test_create(t, "lead", body, big);
    rp_test_create(t, "lead", "{\"last_name\": \"Small\"}", small);
    assert_int_equal(rp_bus_dispatch(t->app->automation, &published, &err), 0);
    assert_int_equal(published, 2);
    for (size_t i = 0; i < 2; i++) {
        natsMsg *m = NULL;
        json_t *b;
        assert_int_equal(natsSubscription_NextMsg(&m, s.changes, 5000), NATS_OK);
        assert_string_equal(natsMsg_GetSubject(m), "rapport.lead.create");
        b = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
        assert_non_null(b);
        assert_string_equal(rp_test_str(b, "record_id"), expect[i]);
        assert_int_equal(json_is_true(json_object_get(b, "changes_omitted")), i == 0);
        assert_int_equal(json_object_size(json_object_get(b, "changes")) == 0, i == 0);
        json_decref(b);
        natsMsg_Destroy(m);
    }
    sub_close(&s);
    unlink(config);
}

static int64_t now_ms(void)
{
    return rp_clock_monotonic_us() / 1000;
}

/* A server that stops answering (SIGSTOP) costs one flush timeout, then the dispatcher is not
 * held again for a while; once it answers, the events are published, none lost. */
static void test_stalled_server(void **state)
{
    struct rp_test_app *t = *state;
    struct event_list *l = calloc(1, sizeof(*l));
    struct sub s = {0};
    struct rp_error err;
    size_t published = 0;
    int64_t seq0, started;
    char id[40];

    rp_error_init(&err, NULL);
    server_start(free_port());
    sub_open(&s, srv.port);
    set_bus_url(t, srv.port);
    seq0 = setting_int(t, RP_BUS_CURSOR_KEY);
    assert_int_equal(rp_bus_dispatch(t->app->automation, &published, &err), 0);
    assert_int_equal(kill(srv.pid, SIGSTOP), 0);
    rp_test_create(t, "lead", "{\"last_name\": \"Stalled 1\"}", id);
    rp_test_create(t, "lead", "{\"last_name\": \"Stalled 2\"}", id);
    started = now_ms();
    assert_int_equal(rp_bus_dispatch(t->app->automation, &published, &err), RP_EIO);
    assert_true(now_ms() - started >= 1500); /* the flush timed out */
    started = now_ms();
    assert_int_equal(rp_bus_dispatch(t->app->automation, &published, &err), RP_EIO);
    assert_true(now_ms() - started < 500); /* and the next tick does not wait for it again */
    assert_int_equal(setting_int(t, RP_BUS_CURSOR_KEY), seq0);
    assert_int_equal(kill(srv.pid, SIGCONT), 0);
    for (int i = 0;; i++) {
        int rc = rp_bus_dispatch(t->app->automation, &published, &err);
        if (rc == 0 && published > 0)
            break;
        if (i == 300)
            fail_msg("nothing was published after the server answered again");
        pause_ms(50);
    }
    events_after(t, seq0, l);
    assert_int_equal(l->n, 2);
    expect_events(&s, l, false);
    assert_int_equal(setting_int(t, RP_BUS_CURSOR_KEY), l->items[1].seq);
    sub_close(&s);
    free(l);
}

/* Dispatches the change log to rules and runs the due jobs once. */
static void run_rules(struct rp_test_app *t)
{
    struct rp_error err;
    size_t ran = 0;

    rp_error_init(&err, NULL);
    assert_int_equal(rp_automation_dispatch(t->app->automation, NULL, &err), 0);
    assert_int_equal(rp_jobs_run_due(t->app->jobs, 100, &ran, &err), 0);
}

/* The newest done automation.run job's id; returns how many are done. */
static size_t newest_rule_job(struct rp_test_app *t, char *id, size_t n)
{
    json_t *j = rp_test_call(t, "GET", "/api/v1/jobs?state=done&limit=100", NULL, 200), *e;
    size_t i, found = 0;

    json_array_foreach(json_object_get(j, "data"), i, e)
    {
        if (strcmp(rp_test_str(e, "kind"), RP_AUTOMATION_JOB) == 0 && found++ == 0)
            snprintf(id, n, "%s", rp_test_str(e, "id"));
    }
    json_decref(j);
    return found;
}

/* The message of the rule "notify" for a lead named name, once, with the id of job_id. */
static void expect_custom(struct sub *s, const char *job_id, const char *name)
{
    natsMsg *m = NULL;
    const char *hdr = NULL;
    char id[96];
    json_t *body;

    assert_int_equal(natsSubscription_NextMsg(&m, s->custom, 5000), NATS_OK);
    snprintf(id, sizeof(id), "job:%s:0", job_id);
    assert_string_equal(natsMsg_GetSubject(m), "crm.custom.lead_created");
    body = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
    assert_non_null(body);
    assert_string_equal(rp_test_str(body, "id"), id);
    assert_int_equal(natsMsgHeader_Get(m, "Nats-Msg-Id", &hdr), NATS_OK);
    assert_string_equal(hdr, id);
    assert_string_equal(rp_test_str(body, "rule"), "notify");
    assert_string_equal(rp_test_str(body, "object"), "lead");
    assert_non_null(rp_test_str(body, "record_id"));
    assert_string_equal(rp_test_str(json_object_get(body, "values"), "name"), name);
    assert_string_equal(rp_test_str(json_object_get(body, "values"), "source"), "web");
    json_decref(body);
    natsMsg_Destroy(m);
    /* once */
    assert_int_equal(natsSubscription_NextMsg(&m, s->custom, 300), NATS_TIMEOUT);
}

static void test_publish_action(void **state)
{
    struct rp_test_app *t = *state;
    static const char *const bad[] = {"crm.*", "crm.>", "rapport.lead.create", "crm..x", ".crm",
                                      "crm.",  "crm x", "$JS.API.STREAM",      ""};
    struct sub s = {0};
    char id[40], job[64], body[512];
    natsMsg *m = NULL;

    server_start(free_port());
    sub_open(&s, srv.port);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(body, sizeof(body),
                 "{\"object\": \"lead\", \"trigger\": {\"on\": \"created\"}, \"actions\":"
                 " [{\"type\": \"publish\", \"subject\": \"%s\"}]}",
                 bad[i]);
        json_decref(rp_test_call(t, "PUT", "/api/v1/automation/rules/bad", body, 422));
    }
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/bad",
                     "{\"object\": \"lead\", \"trigger\": {\"on\": \"created\"}, \"actions\":"
                     " [{\"type\": \"publish\", \"subject\": \"crm.x\", \"values\": {\"Bad-Key\":"
                     " 1}}]}",
                     422));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/bad",
                     "{\"object\": \"lead\", \"trigger\": {\"on\": \"created\"}, \"actions\":"
                     " [{\"type\": \"publish\", \"subject\": \"crm.x\", \"to\": \"y\"}]}",
                     422));
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/notify",
                     "{\"object\": \"lead\", \"trigger\": {\"on\": \"created\"}, \"actions\":"
                     " [{\"type\": \"publish\", \"subject\": \"crm.custom.lead_created\","
                     " \"values\": {\"name\": {\"expr\": \"last_name\"}, \"source\": \"web\","
                     " \"score\": 3}}]}",
                     201));

    /* the bus is off: the attempt fails and is retried once it is on */
    rp_test_create(t, "lead", "{\"last_name\": \"Early\"}", id);
    run_rules(t);
    assert_int_equal(natsSubscription_NextMsg(&m, s.custom, 200), NATS_TIMEOUT);
    set_bus_url(t, srv.port);
    rp_clock_advance(&t->app->clock, RP_JOBS_BACKOFF_MAX_MS);
    run_rules(t);
    assert_int_equal(newest_rule_job(t, job, sizeof(job)), 1);
    expect_custom(&s, job, "Early");

    /* NATS down: the job fails and retries until it is back, with the same message id */
    server_stop();
    rp_test_create(t, "lead", "{\"last_name\": \"Late\"}", id);
    run_rules(t);
    server_start(srv.port);
    sub_wait_reconnected(&s);
    for (int i = 0;; i++) {
        struct rp_bus_stats st;
        rp_bus_stats(t->app->automation, &st);
        if (st.connected)
            break;
        if (i == 300)
            fail_msg("the publisher did not get back to NATS");
        pause_ms(50);
    }
    rp_clock_advance(&t->app->clock, RP_JOBS_BACKOFF_MAX_MS);
    run_rules(t);
    assert_int_equal(newest_rule_job(t, job, sizeof(job)), 2);
    expect_custom(&s, job, "Late");
    {
        /* the run log shows the failed attempt before the one that published */
        json_t *j = rp_test_call(t, "GET", "/api/v1/automation/runs?rule=notify&limit=100", NULL,
                                 200),
               *e;
        size_t i, retrying = 0, done = 0;
        json_array_foreach(json_object_get(j, "data"), i, e)
        {
            retrying += strcmp(rp_test_str(e, "outcome"), "retrying") == 0;
            done += strcmp(rp_test_str(e, "outcome"), "done") == 0;
        }
        json_decref(j);
        assert_true(retrying >= 2); /* bus off, then NATS down */
        assert_int_equal(done, 2);
    }
    sub_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_change_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_action, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stalled_server, setup, teardown),
    };
    int rc;

    signal(SIGPIPE, SIG_IGN);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    nats_CloseAndWait(5000);
    return rc;
}
