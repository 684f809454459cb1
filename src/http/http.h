/*
 * HTTP transport: a router of handlers over libmicrohttpd, knowing nothing of
 * CRM objects.
 *
 * A request lives in its own arena (req->arena); everything a handler
 * allocates for it comes from there and is freed when the response has been
 * sent. Limits (URL, header count and bytes, body bytes) are enforced before
 * memory is reserved for the input they bound.
 *
 * Handlers may suspend a request (rp_http_suspend) and hand it to another
 * thread, typically the store's writer; that thread calls rp_http_resume when
 * the work is durable and the continuation then builds the response on a
 * worker thread. The same router is driven without sockets by
 * rp_http_dispatch(), which the in-process API tests use.
 *
 * Errors: a handler returns a negative RP_E* with details in req->err and the
 * transport writes an RFC 9457 problem+json response from it.
 */
#ifndef RP_HTTP_HTTP_H
#define RP_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"

struct rp_http_router;
struct rp_http_server;

enum rp_http_method {
    RP_HTTP_GET = 1u << 0,
    RP_HTTP_HEAD = 1u << 1,
    RP_HTTP_POST = 1u << 2,
    RP_HTTP_PUT = 1u << 3,
    RP_HTTP_PATCH = 1u << 4,
    RP_HTTP_DELETE = 1u << 5,
    RP_HTTP_OPTIONS = 1u << 6,
};

/** Route flags, available to middleware as req->route_flags. */
enum rp_http_route_flags {
    RP_ROUTE_PUBLIC = 1u << 0,    /* no authentication required */
    RP_ROUTE_JSON_BODY = 1u << 1, /* a body, when present, must be application/json (415) */
    RP_ROUTE_BIG_BODY = 1u << 2,  /* body limit RP_LIMIT_BATCH_BODY_BYTES instead of
                                     RP_LIMIT_BODY_BYTES */
};

struct rp_http_pair {
    const char *name;  /* NUL-terminated, percent-decoded */
    const char *value; /* NUL-terminated, percent-decoded; "" when absent */
};

#define RP_HTTP_MAX_ROUTE_PARAMS 6
#define RP_HTTP_MAX_RESP_HEADERS 16

struct rp_http_req;
struct rp_http_resp;

/**
 * Returns 0 with resp filled, RP_HTTP_SUSPENDED, or a negative RP_E* (see
 * req->err). On a negative code the body is replaced by a problem+json
 * document; headers the handler set (e.g. Retry-After) are kept.
 */
typedef int (*rp_http_handler_fn)(struct rp_http_req *req, struct rp_http_resp *resp);
/**
 * Runs before every handler (and the fallback) in registration order; same
 * return convention. 0 = continue; a negative code or RP_HTTP_SUSPENDED ends
 * the chain and the route handler is not called (after a suspension the
 * continuation given to rp_http_suspend produces the response).
 */
typedef int (*rp_http_middleware_fn)(struct rp_http_req *req, struct rp_http_resp *resp);

#define RP_HTTP_SUSPENDED 1

struct rp_http_req {
    struct rp_arena arena; /* everything for this request */
    struct rp_error err;   /* detail for an error response */
    enum rp_http_method method;
    const char *method_name;    /* "GET" */
    const char *path;           /* percent-decoded path, no query string */
    struct rp_http_pair *query; /* decoded query parameters in order */
    size_t nquery;
    struct rp_http_pair *headers; /* names as sent; look up with rp_http_header */
    size_t nheaders;
    const char *body; /* NUL-terminated copy in the arena; NULL when none */
    size_t body_len;
    const char *params[RP_HTTP_MAX_ROUTE_PARAMS]; /* captured {segments}, in order */
    size_t nparams;
    /* flags of the matched route; RP_ROUTE_PUBLIC for the fallback */
    unsigned route_flags;
    /* e.g. "/api/v1/records/{object}/{id}"; NULL when no route matched (fallback) */
    const char *route_pattern;
    /* from a valid X-Request-Id header (1-64 of [A-Za-z0-9._-]), or a new UUIDv7 */
    char request_id[65];
    const char *remote_addr; /* peer address as text; "in-process" for dispatch */
    void *app;               /* the pointer given to rp_http_router_new */
    void *auth;              /* set by middleware (the authenticated principal) */
    void *handler_ctx;       /* a handler's state for its continuation after a suspend */
    /* private */
    rp_http_handler_fn _resume_fn;
    void *_conn;
    struct rp_http_server *_server;
    int64_t _start_us;
    volatile int _resumed;
};

struct rp_http_resp {
    int status;               /* default 200 */
    const char *content_type; /* default "application/json" */
    struct rp_buf body;       /* in req->arena, capped at RP_LIMIT_RESPONSE_BYTES */
    struct rp_http_pair headers[RP_HTTP_MAX_RESP_HEADERS];
    size_t nheaders;
};

/* ---- router ---- */

/** New router; app is handed to every request as req->app. Free with rp_http_router_free. */
struct rp_http_router *rp_http_router_new(void *app);
void rp_http_router_free(struct rp_http_router *r);
/**
 * Adds a route. pattern is a path with literal segments and {name} captures
 * (e.g. "/api/v1/records/{object}/{id}"); literal segments win over captures.
 * methods is a mask of enum rp_http_method. Routes are added before serving.
 */
void rp_http_route(struct rp_http_router *r, unsigned methods, const char *pattern, unsigned flags,
                   rp_http_handler_fn fn);
void rp_http_router_use(struct rp_http_router *r, rp_http_middleware_fn fn);
/**
 * Handler for paths no route matches (e.g. static files); default is a 404
 * problem. Middleware runs before it with route_flags RP_ROUTE_PUBLIC and
 * route_pattern NULL; it is called for every method.
 */
void rp_http_router_fallback(struct rp_http_router *r, rp_http_handler_fn fn);

/* ---- request helpers ---- */

/** Header value by case-insensitive name (the first if repeated), or NULL. */
const char *rp_http_header(const struct rp_http_req *req, const char *name);
/** Query parameter by exact name (the first if repeated), or NULL. */
const char *rp_http_query(const struct rp_http_req *req, const char *name);
/**
 * Decodes application/x-www-form-urlencoded text q[0..n) (a query string or a form body) into
 * at most max name/value pairs in arena, in order. 0, or RP_EINVAL: more than max pairs, a
 * malformed escape, or text that is not UTF-8.
 */
int rp_http_form_decode(const char *q, size_t n, size_t max, struct rp_arena *arena,
                        struct rp_http_pair **out, size_t *count, struct rp_error *err);

/**
 * Suspends the request: call it before handing req to another thread, then
 * return RP_HTTP_SUSPENDED. fn runs on a worker thread after rp_http_resume
 * (with the same resp) and may itself suspend again. req and its arena stay
 * valid until the response has been sent, so the other thread may write
 * results into them before it resumes.
 */
void rp_http_suspend(struct rp_http_req *req, rp_http_handler_fn fn);
/**
 * Resumes a suspended request; callable from any thread, exactly once per
 * rp_http_suspend, even before the handler has returned RP_HTTP_SUSPENDED.
 * The caller must not touch req afterwards.
 */
void rp_http_resume(struct rp_http_req *req);

/* ---- response helpers ---- */

/**
 * Adds a header; name and value are copied into the request arena. A name
 * that is not an HTTP token, a value with CR, LF or NUL, or a header past
 * RP_HTTP_MAX_RESP_HEADERS is dropped (and logged). Headers the handler sets
 * win over the transport's defaults (Cache-Control, Retry-After, ...).
 */
void rp_http_resp_header(struct rp_http_req *req, struct rp_http_resp *resp, const char *name,
                         const char *value);
/**
 * Writes an RFC 9457 problem+json body from req->err (code, title, detail,
 * errors[]) with status rp_err_http_status(code), replacing any body.
 */
void rp_http_resp_problem(struct rp_http_req *req, struct rp_http_resp *resp, int code);

/* ---- in-process dispatch (tests, CLI) ---- */

struct rp_http_dispatch {
    const char *method; /* "GET" */
    const char *target; /* path and optional query string, percent-encoded */
    const struct rp_http_pair *headers;
    size_t nheaders;
    const char *body; /* may be NULL */
    size_t body_len;
};

/**
 * Runs one request through the router without sockets, waiting for a
 * suspended request to be resumed. The same limits and middleware apply.
 * On return, *status, and the body and headers in out_req->arena, are valid
 * until rp_http_dispatch_release(). Returns 0 (any HTTP status) or a negative
 * code if the request could not be formed.
 */
struct rp_http_result {
    int status;
    const char *content_type;
    const char *body;
    size_t body_len;
    const struct rp_http_pair *headers;
    size_t nheaders;
    /* private */
    struct rp_http_req *_req;
};
int rp_http_dispatch(struct rp_http_router *r, const struct rp_http_dispatch *in,
                     struct rp_http_result *out);
const char *rp_http_result_header(const struct rp_http_result *res, const char *name);
void rp_http_dispatch_release(struct rp_http_result *out);

/* ---- server ---- */

/*
 * Admission control. Every limit has a default that the zero value selects;
 * what happens past each one:
 *   - max_connections, max_per_ip: libmicrohttpd accepts the TCP connection
 *     and closes it at once, without an HTTP answer (the client sees the
 *     connection closed or reset). max_connections is shared out evenly
 *     among the worker threads; max_per_ip counts over the whole server.
 *   - max_inflight: a request whose headers arrive while that many requests
 *     are between their headers and their answer is answered at once with
 *     503 problem+json (code "overloaded", Retry-After: 1) without running
 *     its handler; its body, if any, is read and discarded. Nothing queues
 *     beyond the bound.
 *   - rate_limit / ip_rate_limit: token buckets checked when the headers
 *     arrive; an empty bucket is 429 problem+json (code "rate_limited") with
 *     Retry-After in whole seconds until the next token.
 *   - connection_timeout_s: libmicrohttpd closes a connection that sends or
 *     receives nothing for that long (idle keep-alive, stalled headers or
 *     body). header_timeout_s bounds the time from the connection's start, or
 *     from the end of its previous request, to the end of the next request's
 *     headers, however slowly they trickle in (slowloris); body_timeout_s
 *     bounds the whole upload of one body. Past either the connection is
 *     closed without an answer.
 */
struct rp_http_server_config {
    const char *address;           /* listen address, default "127.0.0.1" */
    unsigned port;                 /* 0 picks a free port (see rp_http_server_port) */
    unsigned threads;              /* worker threads, default: number of cores */
    unsigned max_connections;      /* default 1024 */
    unsigned max_per_ip;           /* connections per client address, default 256 */
    unsigned connection_timeout_s; /* idle/slow connection timeout, default 30 */
    unsigned header_timeout_s;     /* request line and headers, default 20 (see above) */
    unsigned body_timeout_s;       /* whole request body, default 60 */
    unsigned max_inflight;         /* requests between headers and answer, default 256 */
    double rate_limit;    /* requests/s per client (bearer token, else cookie, else address);
                             0 = no limit (the default) */
    double rate_burst;    /* bucket size of both rate limits; default 2 s worth, at least 1 */
    double ip_rate_limit; /* requests/s per client address, whatever it sends; 0 = no limit */
    bool access_log;      /* one JSON line per request on stderr */
};

#define RP_HTTP_DEFAULT_MAX_CONNECTIONS  1024u
#define RP_HTTP_DEFAULT_MAX_PER_IP       256u
#define RP_HTTP_DEFAULT_CONN_TIMEOUT_S   30u
#define RP_HTTP_DEFAULT_HEADER_TIMEOUT_S 20u
#define RP_HTTP_DEFAULT_BODY_TIMEOUT_S   60u
#define RP_HTTP_DEFAULT_MAX_INFLIGHT     256u

/** Starts serving r (borrowed; must outlive the server). Returns 0 or RP_EIO with err. */
int rp_http_server_start(struct rp_http_router *r, const struct rp_http_server_config *cfg,
                         struct rp_http_server **out, struct rp_error *err);
unsigned rp_http_server_port(const struct rp_http_server *s);
/**
 * Stops accepting, finishes in-flight requests, frees the server. NULL is
 * allowed. Waits for every request whose handler was called to be answered
 * (a suspended one must be resumed, so the threads that hold them must still
 * be running), and up to 2 s for request bodies still arriving; a body not
 * in by then is cut off with its connection, its handler never called.
 * Requests whose headers arrive meanwhile are answered 503 with
 * "Connection: close". The wait for handlers is unbounded: a caller that
 * needs a bound enforces it around this call (rapport serve
 * --shutdown-timeout).
 */
void rp_http_server_stop(struct rp_http_server *s);

/**
 * Appends the transport's Prometheus metrics (requests by method, route and
 * status; latency histogram; open connections) for everything served through
 * r, including in-process dispatch.
 */
void rp_http_metrics(struct rp_http_router *r, struct rp_buf *out);

#endif
