/*
 * The libmicrohttpd adapter: a thread pool of epoll workers driving the
 * shared pipeline in http_request.c.
 *
 * A request's context is created by the URI log callback, which is the only
 * place libmicrohttpd shows the raw request target (path and query, still
 * percent-encoded); the unescape callback is a no-op so nothing is decoded
 * twice. The access handler is then called:
 *
 *   1. once the headers are in: limits, routing and the declared body size
 *      are checked, and an oversized Content-Length is refused at once,
 *      without reading the body;
 *   2. for each piece of body, which is kept within the route's limit (or
 *      discarded when an error is already decided);
 *   3. with the whole request: middleware and handler run, or the request is
 *      suspended until rp_http_resume and the continuation runs on the next
 *      call.
 *
 * The response body is the request arena's buffer, handed over without a
 * copy; the arena is released when libmicrohttpd reports the request
 * completed, which is also where metrics and the access log are recorded.
 *
 * Stopping answers every new request, on open or new connections, with 503
 * and Connection: close, and waits until every request that reached its
 * handler has completed, so no connection is still suspended when the daemon
 * stops. The listener stays open until then: MHD_quiesce_daemon is not used
 * because on an epoll thread pool it races the workers removing the same
 * listen socket from their epoll sets and aborts the process (libmicrohttpd
 * 0.9.75, "Failed to remove listen FD from epoll set").
 */
#include "http/http_int.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/time.h"

/* How long a stop waits for request bodies that are still arriving. */
#define HTTP_STOP_UPLOAD_GRACE_US (2 * INT64_C(1000000))

/*
 * The header deadline of one connection. libmicrohttpd only times out inactivity, so a client
 * that trickles header lines would keep its connection for ever; the sweeper thread shuts
 * down the socket of a connection whose headers are overdue, and libmicrohttpd, reading
 * end-of-file, closes it on its own thread. An entry leaves the list (under watch_mu) in the
 * CLOSED notification, which libmicrohttpd sends before it closes the descriptor, so the
 * sweeper never touches a descriptor that was reused.
 */
struct conn_watch {
    int fd;
    _Atomic int64_t deadline_us; /* headers due by then; 0 = not waiting for headers */
    struct conn_watch *prev, *next;
};

struct rp_http_server {
    struct MHD_Daemon *daemon;
    struct rp_http_router *router;
    bool access_log;
    unsigned port;
    unsigned max_inflight;
    int64_t body_timeout_us;
    struct http_ratelimit *client_rate; /* per token, cookie or address; NULL = off */
    struct http_ratelimit *ip_rate;     /* per address; NULL = off */
    int64_t header_timeout_us;          /* 0 = no header deadline */
    pthread_mutex_t watch_mu;           /* guards watched and sweeper_stop */
    pthread_cond_t watch_cv;
    struct conn_watch *watched; /* connections, for the header deadline */
    bool sweeper_stop;
    bool sweeper_running;
    pthread_t sweeper;
    _Atomic uint64_t header_timeouts; /* connections cut for overdue headers */
    pthread_mutex_t mu;               /* with cv: stop waits for active to reach 0 */
    pthread_cond_t cv;
    _Atomic unsigned active;   /* requests whose headers arrived, not completed */
    _Atomic unsigned running;  /* of those, the ones whose handler was called */
    _Atomic bool closing;      /* stop has given up on unfinished uploads: no new handler */
    _Atomic unsigned admitted; /* of those, the ones counted against max_inflight */
    _Atomic bool stopping;
};

/* ---- libmicrohttpd callbacks ---- */

static struct conn_watch *watch_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* Arms (now + the header timeout) or disarms (0) the header deadline of conn. */
static void watch_set(struct rp_http_server *s, struct MHD_Connection *conn, bool arm)
{
    struct conn_watch *w;

    if (!s->header_timeout_us || !(w = watch_of(conn)))
        return;
    atomic_store(&w->deadline_us, arm ? rp_clock_monotonic_us() + s->header_timeout_us : 0);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct rp_http_server *s = cls;
    struct http_ctx *c = http_ctx_new(s->router);
    size_t n = strlen(uri);

    c->req._server = s;
    c->req._conn = conn;
    c->target_len = n;
    /* Past the limit the target is not copied; http_begin answers 414. */
    if (n <= RP_LIMIT_URL_BYTES)
        c->target = rp_arena_strndup(&c->req.arena, uri, n);
    return c;
}

static size_t unescape_none(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return strlen(s);
}

struct header_fill {
    struct rp_http_pair *pairs;
    size_t n, max, bytes;
};

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  size_t key_size, const char *value, size_t value_size)
{
    struct header_fill *f = cls;

    (void)kind;
    f->bytes += key_size + value_size + 4; /* ": " and CRLF, as on the wire */
    if (f->n < f->max) {
        f->pairs[f->n].name = key;
        f->pairs[f->n].value = value ? value : "";
        f->n++;
    }
    return MHD_YES;
}

static void set_remote(struct http_ctx *c, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char text[INET6_ADDRSTRLEN] = "";

    if (!ci || !ci->client_addr)
        return;
    if (ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr,
                  text, sizeof(text));
    else if (ci->client_addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6,
                  &((const struct sockaddr_in6 *)(const void *)ci->client_addr)->sin6_addr, text,
                  sizeof(text));
    c->req.remote_addr = rp_arena_strdup(&c->req.arena, text);
}

static void begin(struct http_ctx *c, struct MHD_Connection *conn, const char *method)
{
    struct header_fill f = {0};
    int count = MHD_get_connection_values_n(conn, MHD_HEADER_KIND, NULL, NULL);

    set_remote(c, conn);
    /*
     * Headers stay in libmicrohttpd's connection pool until the request
     * completes, so the pairs borrow them. Too many headers are not copied.
     */
    f.max = count > 0 && count <= RP_LIMIT_HEADER_COUNT ? (size_t)count : 0;
    if (f.max) {
        f.pairs = rp_arena_alloc(&c->req.arena, f.max * sizeof(*f.pairs));
        MHD_get_connection_values_n(conn, MHD_HEADER_KIND, add_header, &f);
    }
    http_begin(c, method, c->target, c->target_len, f.pairs, count > 0 ? (size_t)count : 0, f.bytes,
               MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id"));
}

/*
 * Admission, once the headers are in and nothing else is wrong: shutdown,
 * the rate limits, then the bound on requests in flight. A refusal becomes
 * c->early, answered without running the handler.
 */
static void admit(struct rp_http_server *s, struct http_ctx *c)
{
    struct rp_http_req *req = &c->req;
    int64_t now = rp_clock_monotonic_us();
    unsigned wait = 0;

    if (atomic_load(&s->stopping)) {
        rp_http_resp_header(req, &c->resp, "Connection", "close");
        rp_http_resp_header(req, &c->resp, "Retry-After", "1");
        c->early = rp_error_set(&req->err, RP_EBUSY, "server is shutting down");
        return;
    }
    if (s->ip_rate)
        wait = http_ratelimit_take(s->ip_rate, req->remote_addr, strlen(req->remote_addr), now);
    if (!wait && s->client_rate) {
        /* The credentials name the client; without any, its address does. */
        const char *key = rp_http_header(req, "Authorization");
        if (!key)
            key = rp_http_header(req, "Cookie");
        if (!key)
            key = req->remote_addr;
        wait = http_ratelimit_take(s->client_rate, key, strlen(key), now);
    }
    if (wait) {
        char v[16];
        snprintf(v, sizeof(v), "%u", wait);
        rp_http_resp_header(req, &c->resp, "Retry-After", v);
        c->early = rp_error_set(&req->err, RP_ERATELIMIT,
                                "too many requests from this client; retry in %u s", wait);
        return;
    }
    if (atomic_fetch_add(&s->admitted, 1) >= s->max_inflight) {
        atomic_fetch_sub(&s->admitted, 1);
        c->early = rp_error_set(&req->err, RP_EBUSY,
                                "server has %u requests in flight, its limit; retry shortly",
                                s->max_inflight);
        return;
    }
    c->admitted = true;
    if (s->body_timeout_us && (c->chunked || (c->has_length && c->declared > 0)))
        c->body_deadline_us = now + s->body_timeout_us;
}

static enum MHD_Result send_response(struct http_ctx *c, struct MHD_Connection *conn)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(c->resp.body.len, c->resp.body.data,
                                        MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    for (size_t i = 0; i < c->nout_headers; i++) {
        if (MHD_add_response_header(r, c->out_headers[i].name, c->out_headers[i].value) != MHD_YES)
            rp_log_warn("libmicrohttpd refused response header \"%s\"", c->out_headers[i].name);
    }
    ret = MHD_queue_response(conn, (unsigned)c->status, r);
    MHD_destroy_response(r);
    return ret;
}

/*
 * Handles a handler's result: RP_HTTP_SUSPENDED parks the connection until
 * rp_http_resume (or runs the continuation at once if the resume already
 * came); anything else becomes the response.
 */
static enum MHD_Result settle(struct http_ctx *c, struct MHD_Connection *conn, int rc)
{
    struct rp_http_req *req = &c->req;

    while (rc == RP_HTTP_SUSPENDED) {
        int expected = HTTP_RUNNING;

        if (__atomic_load_n(&req->_resumed, __ATOMIC_ACQUIRE) == HTTP_EARLY) {
            __atomic_store_n(&req->_resumed, HTTP_RUNNING, __ATOMIC_RELEASE);
            rc = req->_resume_fn(req, &c->resp);
            continue;
        }
        /*
         * Suspend before publishing PARKED: once PARKED is visible another
         * thread may call MHD_resume_connection, which must find the
         * connection suspended.
         */
        c->parked = true;
        MHD_suspend_connection(conn);
        if (__atomic_compare_exchange_n(&req->_resumed, &expected, HTTP_PARKED, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return MHD_YES;
        /* The resume slipped in between: undo, and the next call continues. */
        __atomic_store_n(&req->_resumed, HTTP_RUNNING, __ATOMIC_RELEASE);
        MHD_resume_connection(conn);
        return MHD_YES;
    }
    http_finish(c, rc);
    return send_response(c, conn);
}

void http_server_resume(struct http_ctx *c)
{
    struct MHD_Connection *conn = c->req._conn;

    __atomic_store_n(&c->req._resumed, HTTP_RUNNING, __ATOMIC_RELEASE);
    MHD_resume_connection(conn); /* c may be gone as soon as this returns */
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct rp_http_server *s = cls;
    struct http_ctx *c = *con_cls;
    int rc;

    (void)version;
    if (!c) {
        /* Not reached while the URI log callback creates contexts; kept as a safety net. */
        c = on_uri(s, url, conn);
        *con_cls = c;
    }
    if (!c->begun) {
        watch_set(s, conn, false); /* the headers are in */
        begin(c, conn, method);
        atomic_fetch_add(&s->active, 1);
        if (!c->early)
            admit(s, c);
        /*
         * Answering now makes libmicrohttpd close the connection after the
         * response, even without a body; worth it only to refuse a body
         * that must not be read. Other early errors wait for the last call.
         */
        if (c->early == RP_ETOOBIG && http_finish_early(c))
            return send_response(c, conn);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (c->body_deadline_us && rp_clock_monotonic_us() > c->body_deadline_us) {
            rp_log_warn("closing the connection of %s: request body not in after %lld s",
                        c->req.remote_addr, (long long)(s->body_timeout_us / 1000000));
            return MHD_NO;
        }
        http_body_add(c, upload_data, *upload_data_size);
        *upload_data_size = 0;
        /* A client that keeps sending far past the limit is cut off. */
        return c->discarded > c->body_limit ? MHD_NO : MHD_YES;
    }
    if (c->parked) {
        c->parked = false;
        return settle(c, conn, c->req._resume_fn(&c->req, &c->resp));
    }
    if (http_finish_early(c))
        return send_response(c, conn);
    /*
     * Counted before closing is read, and stop sets closing before it reads running, so
     * either stop waits for this handler or this handler sees closing and does not start.
     */
    atomic_fetch_add(&s->running, 1);
    c->running = true;
    if (atomic_load(&s->closing))
        return MHD_NO; /* on_completed uncounts it */
    rc = http_run(c);
    return settle(c, conn, rc);
}

static void access_log(struct http_ctx *c, int64_t duration_us)
{
    struct rp_http_req *req = &c->req;
    struct rp_buf b;

    /* Never the query string, headers or body: they carry tokens and passwords. */
    rp_buf_init(&b, &req->arena, 4 * RP_LIMIT_URL_BYTES);
    rp_buf_adds(&b, "{\"ts\":\"");
    rp_time_format_datetime(&b, rp_clock_now_ms(NULL));
    rp_buf_adds(&b, "\",\"request_id\":");
    rp_buf_add_json_str(&b, req->request_id, strlen(req->request_id));
    rp_buf_adds(&b, ",\"remote\":");
    rp_buf_add_json_str(&b, req->remote_addr, strlen(req->remote_addr));
    rp_buf_adds(&b, ",\"method\":");
    rp_buf_add_json_str(&b, req->method_name, strlen(req->method_name));
    rp_buf_adds(&b, ",\"path\":");
    rp_buf_add_json_str(&b, req->path, strlen(req->path));
    rp_buf_adds(&b, ",\"route\":");
    if (req->route_pattern)
        rp_buf_add_json_str(&b, req->route_pattern, strlen(req->route_pattern));
    else
        rp_buf_adds(&b, "null");
    rp_buf_addf(&b, ",\"status\":%d,\"bytes\":%zu,\"duration_us\":%lld}\n", c->status, c->bytes,
                (long long)duration_us);
    if (rp_buf_error(&b) == 0)
        rp_log_json_line(b.data, b.len);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct rp_http_server *s = cls;
    struct http_ctx *c = *con_cls;

    (void)toe;
    /* the next request's headers are due within the header timeout from now */
    watch_set(s, conn, true);
    if (!c)
        return;
    if (c->status) {
        int64_t duration = rp_clock_monotonic_us() - c->req._start_us;
        http_observe(c, duration);
        if (s->access_log)
            access_log(c, duration);
    }
    if (c->admitted)
        atomic_fetch_sub(&s->admitted, 1);
    if (c->running)
        atomic_fetch_sub(&s->running, 1);
    if (c->begun)
        atomic_fetch_sub(&s->active, 1);
    if (atomic_load(&s->stopping)) {
        pthread_mutex_lock(&s->mu);
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    http_ctx_free(c);
    *con_cls = NULL;
}

static void watch_add(struct rp_http_server *s, struct MHD_Connection *conn, void **socket_context)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct conn_watch *w;

    if (!ci)
        return;
    w = rp_xcalloc(1, sizeof(*w));
    w->fd = ci->connect_fd;
    atomic_store(&w->deadline_us, rp_clock_monotonic_us() + s->header_timeout_us);
    pthread_mutex_lock(&s->watch_mu);
    w->next = s->watched;
    if (w->next)
        w->next->prev = w;
    s->watched = w;
    pthread_mutex_unlock(&s->watch_mu);
    *socket_context = w;
}

static void watch_remove(struct rp_http_server *s, void **socket_context)
{
    struct conn_watch *w = *socket_context;

    if (!w)
        return;
    pthread_mutex_lock(&s->watch_mu);
    if (w->prev)
        w->prev->next = w->next;
    else
        s->watched = w->next;
    if (w->next)
        w->next->prev = w->prev;
    pthread_mutex_unlock(&s->watch_mu);
    free(w);
    *socket_context = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct rp_http_server *s = cls;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add_explicit(&s->router->connections_open, 1, memory_order_relaxed);
        if (s->header_timeout_us)
            watch_add(s, conn, socket_context);
    } else {
        atomic_fetch_sub_explicit(&s->router->connections_open, 1, memory_order_relaxed);
        watch_remove(s, socket_context);
    }
}

/* Every 250 ms: shuts down the sockets of connections whose headers are overdue. */
static void *sweeper_main(void *arg)
{
    struct rp_http_server *s = arg;

    pthread_mutex_lock(&s->watch_mu);
    while (!s->sweeper_stop) {
        struct timespec ts;
        int64_t now = rp_clock_monotonic_us();

        for (struct conn_watch *w = s->watched; w; w = w->next) {
            int64_t d = atomic_load(&w->deadline_us);
            if (d && now > d) {
                atomic_store(&w->deadline_us, 0);
                shutdown(w->fd, SHUT_RDWR);
                atomic_fetch_add(&s->header_timeouts, 1);
            }
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->watch_cv, &s->watch_mu, &ts);
    }
    pthread_mutex_unlock(&s->watch_mu);
    return NULL;
}

static void sweeper_stop(struct rp_http_server *s)
{
    if (!s->sweeper_running)
        return;
    pthread_mutex_lock(&s->watch_mu);
    s->sweeper_stop = true;
    pthread_cond_broadcast(&s->watch_cv);
    pthread_mutex_unlock(&s->watch_mu);
    pthread_join(s->sweeper, NULL);
    s->sweeper_running = false;
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    rp_log_warn("libmicrohttpd: %s", msg);
}

/* ---- lifecycle ---- */

int rp_http_server_start(struct rp_http_router *r, const struct rp_http_server_config *cfg,
                         struct rp_http_server **out, struct rp_error *err)
{
    static const struct rp_http_server_config defaults = {0};
    struct rp_http_server *s = NULL;
    struct sockaddr_storage addr;
    const union MHD_DaemonInfo *info;
    const char *address;
    /*
     * Not MHD_USE_TURBO: it skips the graceful shutdown before close and
     * gains nothing on keep-alive connections.
     */
    unsigned threads,
        flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    long cores;
    int rc = RP_EIO;

    *out = NULL;
    if (!cfg)
        cfg = &defaults;
    address = cfg->address && *cfg->address ? cfg->address : "127.0.0.1";
    if (cfg->port > 65535) {
        if (err)
            rp_error_set(err, RP_EIO, "port %u is out of range", cfg->port);
        goto out;
    }
    memset(&addr, 0, sizeof(addr));
    if (strchr(address, ':')) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)cfg->port);
        if (inet_pton(AF_INET6, address, &a6->sin6_addr) != 1)
            goto bad_address;
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)cfg->port);
        if (inet_pton(AF_INET, address, &a4->sin_addr) != 1)
            goto bad_address;
    }
    cores = sysconf(_SC_NPROCESSORS_ONLN);
    threads = cfg->threads ? cfg->threads : (cores > 0 ? (unsigned)cores : 1);

    s = rp_xcalloc(1, sizeof(*s));
    s->router = r;
    s->access_log = cfg->access_log;
    s->max_inflight = cfg->max_inflight ? cfg->max_inflight : RP_HTTP_DEFAULT_MAX_INFLIGHT;
    s->header_timeout_us = (int64_t)(cfg->header_timeout_s ? cfg->header_timeout_s
                                                           : RP_HTTP_DEFAULT_HEADER_TIMEOUT_S) *
                           1000000;
    pthread_mutex_init(&s->watch_mu, NULL);
    pthread_cond_init(&s->watch_cv, NULL);
    s->body_timeout_us =
        (int64_t)(cfg->body_timeout_s ? cfg->body_timeout_s : RP_HTTP_DEFAULT_BODY_TIMEOUT_S) *
        1000000;
    {
        double burst_of =
            cfg->rate_limit > cfg->ip_rate_limit ? cfg->rate_limit : cfg->ip_rate_limit;
        double burst = cfg->rate_burst > 0 ? cfg->rate_burst : 2 * burst_of;
        s->client_rate = http_ratelimit_new(cfg->rate_limit, burst);
        s->ip_rate = http_ratelimit_new(
            cfg->ip_rate_limit, cfg->rate_burst > 0 ? cfg->rate_burst : 2 * cfg->ip_rate_limit);
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_access, s, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, s, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0u, MHD_OPTION_CONNECTION_LIMIT,
        cfg->max_connections ? cfg->max_connections : RP_HTTP_DEFAULT_MAX_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        cfg->max_per_ip ? cfg->max_per_ip : RP_HTTP_DEFAULT_MAX_PER_IP,
        MHD_OPTION_CONNECTION_TIMEOUT,
        cfg->connection_timeout_s ? cfg->connection_timeout_s : RP_HTTP_DEFAULT_CONN_TIMEOUT_S,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        s,
        /* libmicrohttpd clears its per-connection pool for every request: keep it to what
         * our header limit needs rather than its 32 KiB default. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)RP_HTTP_CONNECTION_MEMORY, MHD_OPTION_END);
    if (!s->daemon) {
        if (err)
            rp_error_set(err, RP_EIO, "could not listen on %s port %u", address, cfg->port);
        goto out;
    }
    if (pthread_create(&s->sweeper, NULL, sweeper_main, s) == 0)
        s->sweeper_running = true;
    else
        rp_log_warn("could not start the header deadline thread; only inactivity is timed out");
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : cfg->port;
    *out = s;
    s = NULL;
    rc = 0;
    goto out;

bad_address:
    if (err)
        rp_error_set(err, RP_EIO, "listen address \"%s\" is not an IP address", address);
out:
    if (s) {
        http_ratelimit_free(s->client_rate);
        http_ratelimit_free(s->ip_rate);
        pthread_cond_destroy(&s->watch_cv);
        pthread_mutex_destroy(&s->watch_mu);
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free(s);
    }
    return rc;
}

unsigned rp_http_server_port(const struct rp_http_server *s)
{
    return s ? s->port : 0;
}

/*
 * Waits (holding s->mu) until every request whose handler was called is answered, and every
 * request whose headers arrived is answered or upload_deadline_us has passed. libmicrohttpd
 * notices a client that closes in the middle of its body only at the inactivity timeout, so
 * waiting for uploads without a deadline could hold the stop for that long.
 */
static void wait_for_requests(struct rp_http_server *s, int64_t upload_deadline_us)
{
    for (;;) {
        struct timespec ts;
        bool running = atomic_load(&s->running) > 0;

        if (!running && atomic_load(&s->active) == 0)
            return;
        if (!running && rp_clock_monotonic_us() >= upload_deadline_us) {
            atomic_store(&s->closing, true);
            if (atomic_load(&s->running) == 0)
                return;
            continue; /* a handler started just before closing was set: wait for it */
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
}

void rp_http_server_stop(struct rp_http_server *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->stopping, true);
    if (atomic_load(&s->active) > 0)
        rp_log_info("stopping: waiting for %u requests to be answered", atomic_load(&s->active));
    wait_for_requests(s, rp_clock_monotonic_us() + HTTP_STOP_UPLOAD_GRACE_US);
    pthread_mutex_unlock(&s->mu);
    if (atomic_load(&s->active) > 0)
        rp_log_warn("stopping: cutting off %u requests whose body had not arrived",
                    atomic_load(&s->active));
    sweeper_stop(s);
    if (atomic_load(&s->header_timeouts))
        rp_log_info("closed %llu connections whose request headers were overdue",
                    (unsigned long long)atomic_load(&s->header_timeouts));
    MHD_stop_daemon(s->daemon);
    http_ratelimit_free(s->client_rate);
    http_ratelimit_free(s->ip_rate);
    pthread_cond_destroy(&s->watch_cv);
    pthread_mutex_destroy(&s->watch_mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
