/*
 * The libmicrohttpd server over real sockets on 127.0.0.1 (port 0): plain
 * requests, bodies and their limits, header floods, suspension resumed by a
 * simulated writer thread, metrics, the access log, concurrent clients, and
 * a clean stop. Every test stops the server it starts; sockets have a
 * receive timeout only as a safety net, nothing asserts on time.
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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/limits.h"
#include "base/log.h"
#include "http/http.h"

/* ---- a minimal HTTP/1.1 client ---- */

struct res {
    int status;
    char *head; /* status line and headers, NUL-terminated */
    char *body; /* NUL-terminated */
    size_t body_len;
};

static void res_free(struct res *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static int conn_open(unsigned port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 20};
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static bool send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}

/* Value of a response header (case-insensitive name) copied into out, or NULL. */
static const char *res_header(const struct res *r, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (const char *line = strstr(r->head, "\r\n"); line && line[2];
         line = strstr(line + 2, "\r\n")) {
        const char *p = line + 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1, *end = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            snprintf(out, cap, "%.*s", (int)(end - v), v);
            return out;
        }
    }
    return NULL;
}

/* Reads one response; false if the connection ended first. */
static bool read_response(int fd, struct res *r, bool head_request)
{
    size_t cap = 4096, n = 0, hlen, want;
    char *buf = malloc(cap), *end = NULL, tmp[32];

    memset(r, 0, sizeof(*r));
    while (!end) {
        ssize_t got;
        if (n + 1024 > cap)
            buf = realloc(buf, cap *= 2);
        got = recv(fd, buf + n, cap - n - 1, 0);
        if (got <= 0) {
            free(buf);
            return false;
        }
        n += (size_t)got;
        buf[n] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    hlen = (size_t)(end - buf) + 4;
    r->head = strndup(buf, hlen - 2);
    if (sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1)
        r->status = -1;
    if (head_request || r->status == 204 || r->status == 304)
        want = 0;
    else if (res_header(r, "Content-Length", tmp, sizeof(tmp)))
        want = strtoul(tmp, NULL, 10);
    else
        want = SIZE_MAX; /* until the server closes */
    r->body = malloc(want == SIZE_MAX ? 1 : want + 1);
    r->body_len = n - hlen < want ? n - hlen : want;
    memcpy(r->body, buf + hlen, r->body_len);
    free(buf);
    while (r->body_len < want) {
        char chunk[16384];
        ssize_t got = recv(fd, chunk, sizeof(chunk), 0);
        if (got <= 0) {
            if (want == SIZE_MAX)
                break;
            return false;
        }
        if (want == SIZE_MAX)
            r->body = realloc(r->body, r->body_len + (size_t)got + 1);
        memcpy(r->body + r->body_len, chunk, (size_t)got);
        r->body_len += (size_t)got;
    }
    r->body[r->body_len] = '\0';
    return true;
}

/* One request on a new connection with "Connection: close". */
static void request(unsigned port, const char *raw, struct res *r)
{
    int fd = conn_open(port);
    assert_true(send_all(fd, raw, strlen(raw)));
    assert_true(read_response(fd, r, strncmp(raw, "HEAD ", 5) == 0));
    close(fd);
}

/* A connection from a given loopback address (all of 127.0.0.0/8 is local on Linux). */
static int conn_open_from(unsigned port, const char *from)
{
    struct sockaddr_in src = {.sin_family = AF_INET};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 20};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    inet_pton(AF_INET, from, &src.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static bool at_eof(int fd)
{
    char c;
    return recv(fd, &c, 1, 0) <= 0;
}

/* ---- the writer thread: takes suspended requests and resumes them ---- */

struct job {
    struct rp_http_req *req;
    int seq;    /* from the request */
    int result; /* set by the writer before it resumes */
    struct job *next;
};

struct writer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *head, *tail;
    bool quit;
    bool hold;     /* keep jobs until released */
    int taken;     /* jobs handed to the writer so far */
    int committed; /* "transactions" committed */
    pthread_t thread;
};

static void writer_push(struct writer *w, struct job *j)
{
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    w->taken++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        struct job *j;
        while (!w->quit && (!w->head || w->hold))
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->head)
            break;
        /* group commit: everything queued becomes durable at once */
        j = w->head;
        w->head = w->tail = NULL;
        w->committed++;
        pthread_mutex_unlock(&w->mu);
        while (j) {
            struct job *next = j->next; /* j lives in the request arena */
            j->result = 1000 + j->seq;
            rp_http_resume(j->req);
            j = next;
        }
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---- handlers ---- */

struct fixture {
    struct rp_http_router *r;
    struct rp_http_server *s;
    unsigned port;
    struct writer w;
};

static int h_hello(struct rp_http_req *req, struct rp_http_resp *resp)
{
    (void)req;
    rp_buf_adds(&resp->body, "{\"hello\":\"world\"}");
    return 0;
}

static int h_echo(struct rp_http_req *req, struct rp_http_resp *resp)
{
    const char *i = rp_http_query(req, "i");
    resp->status = req->body ? 201 : 200;
    if (req->body)
        rp_buf_add(&resp->body, req->body, req->body_len);
    else
        rp_buf_addf(&resp->body, "{\"i\":\"%s\",\"param\":\"%s\"}", i ? i : "",
                    req->nparams ? req->params[0] : "");
    return 0;
}

static int h_metrics(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct fixture *f = req->app;
    resp->content_type = "text/plain; version=0.0.4";
    rp_http_metrics(f->r, &resp->body);
    return 0;
}

static int h_write_done(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct job *j = req->auth;
    resp->status = 201;
    rp_buf_addf(&resp->body, "{\"result\":%d}", j->result);
    return 0;
}

static int h_write(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct fixture *f = req->app;
    struct job *j = rp_arena_calloc(&req->arena, 1, sizeof(*j));
    const char *n = rp_http_query(req, "n");

    (void)resp;
    j->req = req;
    j->seq = n ? (int)strtol(n, NULL, 10) : 0;
    req->auth = j;
    rp_http_suspend(req, h_write_done);
    writer_push(&f->w, j);
    return RP_HTTP_SUSPENDED;
}

static int start_with(void **ctx, const struct rp_http_server_config *limits)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct rp_http_server_config cfg = *limits;
    struct rp_error err;

    cfg.address = "127.0.0.1";
    cfg.port = 0;
    if (!cfg.threads)
        cfg.threads = 2;
    assert_non_null(f);
    f->r = rp_http_router_new(f);
    rp_http_route(f->r, RP_HTTP_GET, "/hello", 0, h_hello);
    rp_http_route(f->r, RP_HTTP_GET | RP_HTTP_POST, "/api/v1/echo", RP_ROUTE_JSON_BODY, h_echo);
    rp_http_route(f->r, RP_HTTP_GET, "/items/{id}", 0, h_echo);
    rp_http_route(f->r, RP_HTTP_POST, "/raw", 0, h_echo);
    rp_http_route(f->r, RP_HTTP_GET, "/metrics", 0, h_metrics);
    rp_http_route(f->r, RP_HTTP_POST, "/api/v1/write", 0, h_write);

    pthread_mutex_init(&f->w.mu, NULL);
    pthread_cond_init(&f->w.cv, NULL);
    assert_int_equal(pthread_create(&f->w.thread, NULL, writer_main, &f->w), 0);

    rp_error_init(&err, NULL);
    assert_int_equal(rp_http_server_start(f->r, &cfg, &f->s, &err), 0);
    f->port = rp_http_server_port(f->s);
    assert_true(f->port > 0);
    *ctx = f;
    return 0;
}

static int start(void **ctx, bool access_log)
{
    struct rp_http_server_config cfg = {.access_log = access_log};
    return start_with(ctx, &cfg);
}

static int setup(void **ctx)
{
    return start(ctx, false);
}

static void writer_stop(struct writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->quit = true;
    w->hold = false;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

static int teardown(void **ctx)
{
    struct fixture *f = *ctx;
    rp_http_server_stop(f->s);
    writer_stop(&f->w);
    rp_http_router_free(f->r);
    free(f);
    return 0;
}

/* ---- tests ---- */

static void test_get(void **ctx)
{
    struct fixture *f = *ctx;
    struct res r;
    char v[128];

    request(f->port, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"hello\":\"world\"}");
    assert_string_equal(res_header(&r, "Content-Type", v, sizeof(v)), "application/json");
    assert_string_equal(res_header(&r, "X-Content-Type-Options", v, sizeof(v)), "nosniff");
    assert_string_equal(res_header(&r, "X-Frame-Options", v, sizeof(v)), "DENY");
    assert_string_equal(res_header(&r, "Referrer-Policy", v, sizeof(v)), "no-referrer");
    assert_non_null(res_header(&r, "X-Request-Id", v, sizeof(v)));
    assert_int_equal(strlen(v), 36);
    res_free(&r);

    request(f->port,
            "GET /items/a%2Fb%20c?i=x%26y HTTP/1.1\r\nHost: x\r\nX-Request-Id: trace-42\r\n"
            "Connection: close\r\n\r\n",
            &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"i\":\"x&y\",\"param\":\"a/b c\"}");
    assert_string_equal(res_header(&r, "X-Request-Id", v, sizeof(v)), "trace-42");
    res_free(&r);

    request(f->port, "HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(res_header(&r, "Content-Length", v, sizeof(v)), "17");
    assert_int_equal(r.body_len, 0);
    res_free(&r);
}

static void test_errors_on_the_wire(void **ctx)
{
    struct fixture *f = *ctx;
    struct res r;
    char v[128];
    json_t *j;
    char *raw;
    size_t n;

    request(f->port, "GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(res_header(&r, "Content-Type", v, sizeof(v)), "application/problem+json");
    j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "not_found");
    assert_string_equal(json_string_value(json_object_get(j, "request_id")),
                        res_header(&r, "X-Request-Id", v, sizeof(v)));
    json_decref(j);
    res_free(&r);

    request(f->port, "DELETE /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(res_header(&r, "Allow", v, sizeof(v)), "GET, HEAD");
    res_free(&r);

    request(f->port, "GET /items/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r);
    assert_int_equal(r.status, 400);
    res_free(&r);

    /* a long target still fits libmicrohttpd's buffer, so the answer is ours */
    raw = malloc(RP_LIMIT_URL_BYTES + 256);
    n = (size_t)snprintf(raw, 16, "GET /");
    memset(raw + n, 'a', RP_LIMIT_URL_BYTES);
    n += RP_LIMIT_URL_BYTES;
    snprintf(raw + n, 200, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    request(f->port, raw, &r);
    assert_int_equal(r.status, 414);
    assert_string_equal(res_header(&r, "Content-Type", v, sizeof(v)), "application/problem+json");
    j = json_loads(r.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "invalid_request");
    json_decref(j);
    res_free(&r);
    free(raw);
}

static void test_post_json(void **ctx)
{
    struct fixture *f = *ctx;
    struct res r;
    int fd = conn_open(f->port);
    static const char req1[] = "POST /api/v1/echo HTTP/1.1\r\nHost: x\r\n"
                               "Content-Type: application/json; charset=utf-8\r\n"
                               "Content-Length: 14\r\n\r\n{\"name\":\"\xe5\xbc\xa0\"}";
    static const char req2[] = "POST /api/v1/echo HTTP/1.1\r\nHost: x\r\n"
                               "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi";
    static const char req3[] = "POST /raw HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";

    /* one keep-alive connection for all three */
    assert_true(send_all(fd, req1, sizeof(req1) - 1));
    assert_true(read_response(fd, &r, false));
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body, "{\"name\":\"\xe5\xbc\xa0\"}");
    res_free(&r);

    assert_true(send_all(fd, req2, sizeof(req2) - 1));
    assert_true(read_response(fd, &r, false));
    assert_int_equal(r.status, 415);
    res_free(&r);
    close(fd);

    fd = conn_open(f->port);
    assert_true(send_all(fd, req3, sizeof(req3) - 1));
    assert_true(read_response(fd, &r, false));
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body, "abcdefg");
    res_free(&r);
    close(fd);
}

static void test_oversized_body(void **ctx)
{
    struct fixture *f = *ctx;
    struct res r;
    char head[256];
    int fd;

    /* declared too big: answered from the headers alone, then the connection closes */
    fd = conn_open(f->port);
    snprintf(head, sizeof(head),
             "POST /api/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %u\r\n\r\n",
             RP_LIMIT_BODY_BYTES + 1);
    assert_true(send_all(fd, head, strlen(head)));
    assert_true(read_response(fd, &r, false));
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.body, "\"code\":\"payload_too_large\""));
    res_free(&r);
    assert_true(at_eof(fd));
    close(fd);

    /* chunked past the limit: the server keeps reading but not storing, then answers 413 */
    {
        size_t chunk = 256 * 1024, sent = 0;
        char *data = malloc(chunk);
        char line[32];

        memset(data, 'x', chunk);
        fd = conn_open(f->port);
        snprintf(head, sizeof(head),
                 "POST /raw HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_true(send_all(fd, head, strlen(head)));
        while (sent <= RP_LIMIT_BODY_BYTES) {
            snprintf(line, sizeof(line), "%zx\r\n", chunk);
            assert_true(send_all(fd, line, strlen(line)));
            assert_true(send_all(fd, data, chunk));
            assert_true(send_all(fd, "\r\n", 2));
            sent += chunk;
        }
        assert_true(send_all(fd, "0\r\n\r\n", 5));
        assert_true(read_response(fd, &r, false));
        assert_int_equal(r.status, 413);
        res_free(&r);
        close(fd);
        free(data);
    }
}

static void test_header_flood(void **ctx)
{
    struct fixture *f = *ctx;
    struct res r;
    size_t cap = 64 * 1024, n;
    char *raw = malloc(cap);

    n = (size_t)snprintf(raw, cap, "GET /hello HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(raw + n, cap - n, "X-H%d: v\r\n", i);
    snprintf(raw + n, cap - n, "Connection: close\r\n\r\n");
    request(f->port, raw, &r);
    assert_int_equal(r.status, 431);
    res_free(&r);

    /* far past what libmicrohttpd buffers: some error status or a closed connection */
    n = (size_t)snprintf(raw, cap, "GET /hello HTTP/1.1\r\nHost: x\r\n");
    while (n < cap - 100)
        n += (size_t)snprintf(raw + n, cap - n, "X-Flood: %0100d\r\n", 0);
    snprintf(raw + n, cap - n, "\r\n");
    {
        int fd = conn_open(f->port);
        send_all(fd, raw, strlen(raw));
        if (read_response(fd, &r, false)) {
            assert_true(r.status >= 400);
            res_free(&r);
        }
        close(fd);
    }
    free(raw);

    /* the server is still fine */
    request(f->port, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    res_free(&r);
}

static void test_suspend_resume(void **ctx)
{
    struct fixture *f = *ctx;
    struct res r;
    int fds[8];

    request(f->port, "POST /api/v1/write HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body, "{\"result\":1000}");
    res_free(&r);

    /* hold the writer so that all of these are parked together, then commit them at once */
    pthread_mutex_lock(&f->w.mu);
    f->w.hold = true;
    f->w.taken = 0;
    pthread_mutex_unlock(&f->w.mu);
    for (int i = 0; i < 8; i++) {
        char raw[128];
        fds[i] = conn_open(f->port);
        snprintf(raw, sizeof(raw), "POST /api/v1/write?n=%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
        assert_true(send_all(fds[i], raw, strlen(raw)));
    }
    pthread_mutex_lock(&f->w.mu);
    while (f->w.taken < 8)
        pthread_cond_wait(&f->w.cv, &f->w.mu);
    f->w.hold = false;
    pthread_cond_broadcast(&f->w.cv);
    pthread_mutex_unlock(&f->w.mu);
    for (int i = 0; i < 8; i++) {
        char want[64];
        assert_true(read_response(fds[i], &r, false));
        assert_int_equal(r.status, 201);
        snprintf(want, sizeof(want), "{\"result\":%d}", 1000 + i);
        assert_string_equal(r.body, want);
        res_free(&r);
        close(fds[i]);
    }
}

/* The counter for a series in a metrics body, or 0 when absent. */
static unsigned long metric(const char *body, const char *series)
{
    const char *p = strstr(body, series);
    return p ? strtoul(p + strlen(series), NULL, 10) : 0;
}

static void test_metrics(void **ctx)
{
    struct fixture *f = *ctx;
    static const char hello[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char scrape[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char nowhere[] = "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char series[] =
        "rapport_http_requests_total{method=\"GET\",route=\"/hello\",status=\"200\"} ";
    static const char count[] =
        "rapport_http_request_duration_seconds_count{method=\"GET\",route=\"/hello\"} ";
    unsigned long before, before_count;
    struct res r;
    int fd = conn_open(f->port);

    /* On one keep-alive connection a request completes before the next is read. */
    assert_true(send_all(fd, hello, sizeof(hello) - 1));
    assert_true(read_response(fd, &r, false));
    res_free(&r);
    assert_true(send_all(fd, scrape, sizeof(scrape) - 1));
    assert_true(read_response(fd, &r, false));
    assert_int_equal(r.status, 200);
    before = metric(r.body, series);
    before_count = metric(r.body, count);
    assert_true(before >= 1);
    assert_true(metric(r.body, "\nrapport_http_connections_open ") >= 1);
    res_free(&r);

    for (int i = 0; i < 3; i++) {
        assert_true(send_all(fd, hello, sizeof(hello) - 1));
        assert_true(read_response(fd, &r, false));
        res_free(&r);
    }
    assert_true(send_all(fd, nowhere, sizeof(nowhere) - 1));
    assert_true(read_response(fd, &r, false));
    assert_int_equal(r.status, 404);
    res_free(&r);
    assert_true(send_all(fd, scrape, sizeof(scrape) - 1));
    assert_true(read_response(fd, &r, false));
    assert_int_equal(metric(r.body, series), before + 3);
    assert_int_equal(metric(r.body, count), before_count + 3);
    assert_true(metric(r.body, "rapport_http_requests_total{method=\"GET\",route=\"unmatched\","
                               "status=\"404\"} ") >= 1);
    assert_null(strstr(r.body, "nowhere"));
    res_free(&r);
    close(fd);
}

struct client {
    unsigned port;
    int id;
    int ok;
};

static void *client_main(void *arg)
{
    struct client *c = arg;
    int fd = -1;

    for (int i = 0; i < 200; i++) {
        char raw[160], want[96];
        struct res r;

        if (fd < 0)
            fd = conn_open(c->port);
        if (i % 50 == 49) /* reconnect now and then */
            snprintf(raw, sizeof(raw),
                     "GET /items/c%d?i=%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", c->id,
                     i);
        else if (i % 10 == 3)
            snprintf(raw, sizeof(raw), "POST /api/v1/write?n=%d HTTP/1.1\r\nHost: x\r\n\r\n",
                     c->id);
        else
            snprintf(raw, sizeof(raw), "GET /items/c%d?i=%d HTTP/1.1\r\nHost: x\r\n\r\n", c->id, i);
        if (!send_all(fd, raw, strlen(raw)) || !read_response(fd, &r, false))
            break;
        if (i % 10 == 3)
            snprintf(want, sizeof(want), "{\"result\":%d}", 1000 + c->id);
        else
            snprintf(want, sizeof(want), "{\"i\":\"%d\",\"param\":\"c%d\"}", i, c->id);
        if (strcmp(r.body, want) == 0 && (r.status == 200 || r.status == 201))
            c->ok++;
        res_free(&r);
        if (i % 50 == 49) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void test_concurrent_clients(void **ctx)
{
    struct fixture *f = *ctx;
    struct client c[4];
    pthread_t t[4];

    for (int i = 0; i < 4; i++) {
        c[i] = (struct client){.port = f->port, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, client_main, &c[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(c[i].ok, 200);
    }
}

struct stopper {
    struct rp_http_server *s;
};

static void *stop_main(void *arg)
{
    struct stopper *st = arg;
    rp_http_server_stop(st->s);
    return NULL;
}

static void test_stop_waits_for_suspended(void **ctx)
{
    struct fixture *f = *ctx;
    struct stopper st = {f->s};
    static const char post[] = "POST /api/v1/write HTTP/1.1\r\nHost: x\r\n\r\n";
    pthread_t t;
    struct res r;
    int fd;

    pthread_mutex_lock(&f->w.mu);
    f->w.hold = true;
    f->w.taken = 0;
    pthread_mutex_unlock(&f->w.mu);
    fd = conn_open(f->port);
    assert_true(send_all(fd, post, sizeof(post) - 1));
    pthread_mutex_lock(&f->w.mu);
    while (f->w.taken < 1)
        pthread_cond_wait(&f->w.cv, &f->w.mu);
    pthread_mutex_unlock(&f->w.mu);

    /* stop while the request is parked; it must still be answered */
    assert_int_equal(pthread_create(&t, NULL, stop_main, &st), 0);
    pthread_mutex_lock(&f->w.mu);
    f->w.hold = false;
    pthread_cond_broadcast(&f->w.cv);
    pthread_mutex_unlock(&f->w.mu);
    assert_true(read_response(fd, &r, false));
    assert_int_equal(r.status, 201);
    res_free(&r);
    close(fd);
    pthread_join(t, NULL);
    f->s = NULL; /* already stopped */
}

static void test_access_log(void **ctx)
{
    struct fixture *f;
    char path[] = "/tmp/rp_access_log_XXXXXX";
    int tmp = mkstemp(path), saved = dup(STDERR_FILENO);
    struct res r;
    char text[8192];
    ssize_t n;
    json_t *j;

    assert_true(tmp >= 0 && saved >= 0);
    unlink(path);
    start(ctx, true);
    f = *ctx;
    fflush(stderr);
    dup2(tmp, STDERR_FILENO);
    request(
        f->port,
        "GET /items/7?token=s3cr3t-tok&password=hunter2&i=1 HTTP/1.1\r\nHost: x\r\n"
        "X-Request-Id: log-check-1\r\nAuthorization: Bearer b3arer\r\nConnection: close\r\n\r\n",
        &r);
    assert_int_equal(r.status, 200);
    res_free(&r);
    rp_http_server_stop(f->s); /* every completion has run when this returns */
    f->s = NULL;
    dup2(saved, STDERR_FILENO);
    close(saved);

    n = pread(tmp, text, sizeof(text) - 1, 0);
    close(tmp);
    assert_true(n > 0);
    text[n] = '\0';
    assert_null(strstr(text, "s3cr3t-tok"));
    assert_null(strstr(text, "hunter2"));
    assert_null(strstr(text, "b3arer"));
    {
        char *line = strstr(text, "{\"ts\":");
        char *end;
        assert_non_null(line);
        end = strchr(line, '\n');
        assert_non_null(end);
        j = json_loadb(line, (size_t)(end - line), 0, NULL);
    }
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "request_id")), "log-check-1");
    assert_string_equal(json_string_value(json_object_get(j, "remote")), "127.0.0.1");
    assert_string_equal(json_string_value(json_object_get(j, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/items/7");
    assert_string_equal(json_string_value(json_object_get(j, "route")), "/items/{id}");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 200);
    assert_true(json_integer_value(json_object_get(j, "bytes")) > 0);
    assert_true(json_is_integer(json_object_get(j, "duration_us")));
    assert_non_null(json_string_value(json_object_get(j, "ts")));
    json_decref(j);
}

static void test_start_errors(void **ctx)
{
    struct fixture *f = *ctx;
    struct rp_http_server_config cfg = {.address = "127.0.0.1", .port = f->port, .threads = 1};
    struct rp_http_server *s = NULL;
    struct rp_error err;

    /* the port is taken by the fixture's server */
    rp_error_init(&err, NULL);
    assert_int_equal(rp_http_server_start(f->r, &cfg, &s, &err), RP_EIO);
    assert_null(s);
    cfg.address = "not-an-address";
    cfg.port = 0;
    rp_error_init(&err, NULL);
    assert_int_equal(rp_http_server_start(f->r, &cfg, &s, &err), RP_EIO);
    assert_null(s);
    rp_http_server_stop(NULL);
}

/* Holds the writer and parks n POSTs on their own connections (returned in fds). */
static void park_writes(struct fixture *f, int *fds, int n)
{
    static const char post[] = "POST /api/v1/write HTTP/1.1\r\nHost: x\r\n\r\n";

    pthread_mutex_lock(&f->w.mu);
    f->w.hold = true;
    f->w.taken = 0;
    pthread_mutex_unlock(&f->w.mu);
    for (int i = 0; i < n; i++) {
        fds[i] = conn_open(f->port);
        assert_true(send_all(fds[i], post, sizeof(post) - 1));
    }
    pthread_mutex_lock(&f->w.mu);
    while (f->w.taken < n)
        pthread_cond_wait(&f->w.cv, &f->w.mu);
    pthread_mutex_unlock(&f->w.mu);
}

static void release_writes(struct fixture *f, int *fds, int n)
{
    struct res r;

    pthread_mutex_lock(&f->w.mu);
    f->w.hold = false;
    pthread_cond_broadcast(&f->w.cv);
    pthread_mutex_unlock(&f->w.mu);
    for (int i = 0; i < n; i++) {
        assert_true(read_response(fds[i], &r, false));
        assert_int_equal(r.status, 201);
        res_free(&r);
        close(fds[i]);
    }
}

static void assert_problem(const struct res *r, int status, const char *code)
{
    char v[64];
    json_t *j = json_loads(r->body, 0, NULL);

    assert_int_equal(r->status, status);
    assert_non_null(res_header(r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "application/problem+json");
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "code")), code);
    json_decref(j);
}

static int setup_inflight(void **ctx)
{
    struct rp_http_server_config cfg = {.max_inflight = 3};
    return start_with(ctx, &cfg);
}

/* Past max_inflight a request is refused at once with 503, and served again once below it. */
static void test_inflight_bound(void **ctx)
{
    struct fixture *f = *ctx;
    struct res r;
    char v[16];
    int fds[3];

    park_writes(f, fds, 3);
    request(f->port, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r);
    assert_problem(&r, 503, "overloaded");
    assert_non_null(res_header(&r, "Retry-After", v, sizeof(v)));
    assert_string_equal(v, "1");
    res_free(&r);
    /* a refused request with a body: the body is read and dropped, the handler never runs */
    request(f->port,
            "POST /api/v1/write HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            "Content-Length: 2\r\n\r\n{}",
            &r);
    assert_problem(&r, 503, "overloaded");
    res_free(&r);
    pthread_mutex_lock(&f->w.mu);
    assert_int_equal(f->w.taken, 3);
    pthread_mutex_unlock(&f->w.mu);

    release_writes(f, fds, 3);
    /*
     * A slot is given back when libmicrohttpd reports the request completed, which may come
     * just after the client has read its answer: retry (bounded) until served.
     */
    for (int i = 0; i < 200; i++) {
        struct timespec pause = {.tv_nsec = 10 * 1000 * 1000};
        request(f->port, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r);
        if (r.status == 200)
            break;
        assert_problem(&r, 503, "overloaded");
        res_free(&r);
        nanosleep(&pause, NULL);
    }
    assert_int_equal(r.status, 200);
    res_free(&r);
}

static int setup_rate(void **ctx)
{
    /* a refill of one request per 1000 s: only the burst counts within a test */
    struct rp_http_server_config cfg = {.rate_limit = 0.001, .rate_burst = 2};
    return start_with(ctx, &cfg);
}

static void get_as(unsigned port, const char *token, struct res *r)
{
    char raw[256];
    snprintf(raw, sizeof(raw),
             "GET /hello HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Connection: close\r\n\r\n",
             token);
    request(port, raw, r);
}

/* Each token has its own bucket; an empty one is 429 with Retry-After in seconds. */
static void test_rate_limit(void **ctx)
{
    struct fixture *f = *ctx;
    struct res r;
    char v[16];

    for (int i = 0; i < 2; i++) {
        get_as(f->port, "alice", &r);
        assert_int_equal(r.status, 200);
        res_free(&r);
    }
    get_as(f->port, "alice", &r);
    assert_problem(&r, 429, "rate_limited");
    assert_non_null(res_header(&r, "Retry-After", v, sizeof(v)));
    assert_true(strtoul(v, NULL, 10) >= 1);
    res_free(&r);
    get_as(f->port, "bob", &r);
    assert_int_equal(r.status, 200);
    res_free(&r);
    /* without credentials the address is the client: 2 more, then 429 */
    for (int i = 0; i < 3; i++) {
        request(f->port, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r);
        assert_int_equal(r.status, i < 2 ? 200 : 429);
        res_free(&r);
    }
}

static int setup_ip_rate(void **ctx)
{
    struct rp_http_server_config cfg = {.ip_rate_limit = 0.001, .rate_burst = 3};
    return start_with(ctx, &cfg);
}

/* The per-address limit holds whatever credentials are sent; other addresses are not affected. */
static void test_ip_rate_limit(void **ctx)
{
    struct fixture *f = *ctx;
    const char *tokens[] = {"t1", "t2", "t3", "t4"};
    static const char get[] = "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    struct res r;
    int fd;

    for (int i = 0; i < 4; i++) {
        get_as(f->port, tokens[i], &r);
        assert_int_equal(r.status, i < 3 ? 200 : 429);
        res_free(&r);
    }
    fd = conn_open_from(f->port, "127.0.0.2");
    assert_true(send_all(fd, get, sizeof(get) - 1));
    assert_true(read_response(fd, &r, false));
    assert_int_equal(r.status, 200);
    res_free(&r);
    close(fd);
}

static int setup_per_ip(void **ctx)
{
    struct rp_http_server_config cfg = {.max_per_ip = 3};
    return start_with(ctx, &cfg);
}

/*
 * Past max_per_ip the server closes new connections from that address without an answer,
 * while the open ones keep working and another address is still served.
 */
static void test_per_ip_limit(void **ctx)
{
    struct fixture *f = *ctx;
    static const char get[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    struct res r;
    int fds[3], extra, other;

    for (int i = 0; i < 3; i++) {
        fds[i] = conn_open(f->port);
        assert_true(send_all(fds[i], get, sizeof(get) - 1));
        assert_true(read_response(fds[i], &r, false)); /* accepted and counted */
        assert_int_equal(r.status, 200);
        res_free(&r);
    }
    extra = conn_open(f->port); /* the kernel completes the handshake ... */
    send_all(extra, get, sizeof(get) - 1);
    assert_false(read_response(extra, &r, false)); /* ... the server closes it unanswered */
    close(extra);

    other = conn_open_from(f->port, "127.0.0.2");
    assert_true(send_all(other, get, sizeof(get) - 1));
    assert_true(read_response(other, &r, false));
    assert_int_equal(r.status, 200);
    res_free(&r);
    close(other);
    for (int i = 0; i < 3; i++) {
        assert_true(send_all(fds[i], get, sizeof(get) - 1));
        assert_true(read_response(fds[i], &r, false));
        assert_int_equal(r.status, 200);
        res_free(&r);
        close(fds[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_on_the_wire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_flood, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suspend_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_waits_for_suspended, setup, teardown),
        cmocka_unit_test_teardown(test_access_log, teardown),
        cmocka_unit_test_setup_teardown(test_start_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inflight_bound, setup_inflight, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit, setup_rate, teardown),
        cmocka_unit_test_setup_teardown(test_ip_rate_limit, setup_ip_rate, teardown),
        cmocka_unit_test_setup_teardown(test_per_ip_limit, setup_per_ip, teardown),
    };
    rp_log_set_level(RP_LOG_ERROR); /* libmicrohttpd's warnings about test abuse are expected */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
