/*
 * Private to src/http: the router's tree, the metrics it keeps, and the
 * per-request context shared by the libmicrohttpd adapter (http_server.c)
 * and in-process dispatch (http_request.c).
 *
 * A request is a struct http_ctx whose first member is the public
 * struct rp_http_req, so either pointer converts to the other. The pipeline
 * is the same for both transports:
 *
 *   http_ctx_new -> http_begin (request line + headers: limits, request id,
 *   path, query, route, declared body size) -> body bytes -> http_run
 *   (middleware + handler) -> http_finish (problem, default headers, HEAD)
 *   -> send -> http_observe (metrics) -> http_ctx_free
 *
 * Everything a request allocates comes from req.arena except the context
 * itself and large upload buffers, which the arena frees through a cleanup.
 */
#ifndef RP_HTTP_HTTP_INT_H
#define RP_HTTP_HTTP_INT_H

/* libmicrohttpd's per-connection pool: request line, headers and response headers fit. */
#define RP_HTTP_CONNECTION_MEMORY (RP_LIMIT_URL_BYTES + RP_LIMIT_HEADER_BYTES + 4096)

#include "http/http.h"
#include "base/limits.h"

#include <pthread.h>
#include <stdatomic.h>

/* Method label slots for metrics: the seven known methods, then "OTHER". */
#define HTTP_NMETHODS     7
#define HTTP_METHOD_SLOTS (HTTP_NMETHODS + 1)
#define HTTP_STATUS_SLOTS 40 /* see http_status_slot() */
#define HTTP_HIST_BUCKETS 11 /* .001 .005 .01 .025 .05 .1 .25 .5 1 2.5 +Inf */
#define HTTP_MAX_STATUS   600

/*
 * Counters of one route pattern (or of "unmatched"). Updated with relaxed
 * atomic adds on the hot path and read without a lock by rp_http_metrics, so
 * a scrape may see a request in one family before another; totals converge.
 */
struct http_metrics {
    const char *route;         /* label value */
    struct http_metrics *next; /* registration order, for rendering */
    _Atomic uint64_t requests[HTTP_METHOD_SLOTS][HTTP_STATUS_SLOTS];
    _Atomic uint64_t buckets[HTTP_METHOD_SLOTS][HTTP_HIST_BUCKETS]; /* not cumulative */
    _Atomic uint64_t sum_us[HTTP_METHOD_SLOTS];
};

/* What one method of one route does. */
struct http_route_method {
    rp_http_handler_fn fn;
    unsigned flags; /* enum rp_http_route_flags */
};

/*
 * One path segment of the route tree. Literal children are tried before the
 * capture child, with backtracking, so "/a/b/c" finds "/a/{x}/c" when
 * "/a/b" has no "c" below it.
 */
struct http_node {
    const char *literal; /* segment text; NULL for a capture node */
    size_t literal_len;
    struct http_node *children; /* literal children */
    struct http_node *next;     /* next literal sibling */
    struct http_node *capture;  /* the {name} child, if any */
    unsigned methods;           /* mask of methods routed here; 0 = no route ends here */
    struct http_route_method by_method[HTTP_NMETHODS];
    unsigned nparams;             /* captures on the way here */
    const char *pattern;          /* first pattern registered for this node */
    struct http_metrics *metrics; /* set when methods != 0 */
};

struct rp_http_router {
    void *app;
    struct rp_arena arena; /* nodes, patterns and metrics: the router's lifetime */
    struct http_node root;
    rp_http_middleware_fn *middleware;
    size_t nmiddleware;
    rp_http_handler_fn fallback;
    struct http_metrics *unmatched;
    struct http_metrics *metrics_head, *metrics_tail;
    _Atomic int64_t connections_open;
    _Atomic uint64_t rid_next; /* request ids: a counter ... */
    uint64_t rid_key;          /* ... mixed with this random key (see new_request_id) */
};

/* Values of req->_resumed, the suspension handshake (see rp_http_resume). */
enum http_suspend_state {
    HTTP_RUNNING = 0, /* handler or continuation running, or not suspended */
    HTTP_EARLY = 1,   /* rp_http_resume came before the transport parked the request */
    HTTP_PARKED = 2,  /* the transport is waiting for rp_http_resume */
};

struct http_ctx {
    struct rp_http_req req; /* first: (struct http_ctx *)req is valid */
    struct rp_http_resp resp;
    struct rp_http_router *router;
    const struct http_node *node; /* matched route, or NULL */
    rp_http_handler_fn handler;   /* route handler, fallback, or NULL */
    struct http_metrics *metrics; /* the node's, or the router's "unmatched" */
    unsigned allow;               /* methods of the path, for 405 */

    int early;        /* RP_E* decided before the handler (0 = none) */
    int early_status; /* status for early (414, 431), 0 = from the table */

    /* body */
    size_t body_limit; /* largest accepted body for this route */
    uint64_t declared; /* Content-Length, when has_length */
    bool has_length;   /* a Content-Length header was sent */
    bool chunked;      /* Transfer-Encoding: chunked */
    bool body_too_big; /* the upload passed body_limit: discard, answer 413 */
    char *body;        /* accumulated body (arena or body_heap) */
    size_t body_len;
    size_t body_cap;    /* bytes available in body, NUL included */
    char *body_heap;    /* heap buffer of a large upload, freed by an arena cleanup */
    uint64_t discarded; /* bytes dropped after body_too_big */

    /* response, as sent */
    const struct rp_http_pair *out_headers;
    size_t nout_headers;
    int status;   /* 0 until a response is produced */
    size_t bytes; /* body bytes sent */

    /* transport state */
    bool begun;               /* http_begin ran */
    bool parked;              /* suspended in the transport; the next call resumes */
    bool admitted;            /* counted against the server's max_inflight */
    bool running;             /* its handler was called (counted for a graceful stop) */
    int64_t body_deadline_us; /* the body must be in by then; 0 = no deadline */
    const char *target;       /* raw request target, NULL when longer than the limit */
    size_t target_len;

    /* in-process dispatch */
    pthread_mutex_t mu; /* guards the wait for rp_http_resume */
    pthread_cond_t cv;
    bool sync_init; /* mu and cv were initialised */
};

/* ---- http_request.c ---- */

/** Allocates a context for one request on router r (the caller sets _server, _conn). */
struct http_ctx *http_ctx_new(struct rp_http_router *r);
void http_ctx_free(struct http_ctx *c);

/**
 * Request line and headers: checks limits, picks the request id, decodes
 * path and query, routes, and checks the declared body against the route's
 * limit and content type. Any failure is left in c->early for http_finish.
 * headers are borrowed and must live as long as the request.
 */
void http_begin(struct http_ctx *c, const char *method, const char *target, size_t target_len,
                const struct rp_http_pair *headers, size_t nheaders, size_t header_bytes,
                const char *xrid);
/** Appends n body bytes, keeping memory bounded by the route's limit. */
void http_body_add(struct http_ctx *c, const char *data, size_t n);
/** Runs the checks that need the whole body, then middleware and handler. */
int http_run(struct http_ctx *c);
/** Turns a handler's result into the final status, body and headers. */
void http_finish(struct http_ctx *c, int rc);
/** Writes the early error (if any) as the response; true if there was one. */
bool http_finish_early(struct http_ctx *c);

/* ---- http_server.c ---- */

/** Wakes a request the server parked; the caller must not touch it afterwards. */
void http_server_resume(struct http_ctx *c);

/* ---- http_limit.c ---- */

struct http_ratelimit;

/**
 * A table of token buckets refilled at rate per second up to burst (at least
 * 1); NULL when rate is not positive (no limit). Free with
 * http_ratelimit_free (NULL allowed). Thread-safe.
 */
struct http_ratelimit *http_ratelimit_new(double rate, double burst);
void http_ratelimit_free(struct http_ratelimit *rl);
/**
 * Takes one token from the bucket of the client key[0..n) at time now_us
 * (monotonic microseconds). Returns 0 when the request may go ahead, or the
 * whole seconds (at least 1) until the client has a token again. A NULL rl
 * always allows.
 */
unsigned http_ratelimit_take(struct http_ratelimit *rl, const char *key, size_t n, int64_t now_us);

/* ---- http_router.c ---- */

/**
 * Routes c->req.method (one enum rp_http_method bit, or 0 when unknown)
 * over the decoded path segments: sets node, handler, metrics, route flags,
 * pattern and params on a match, and allow to the methods of every route
 * whose pattern matched the path.
 */
void http_route_match(struct http_ctx *c, char **segs, size_t nsegs);
/** Records one finished request in the metrics. */
void http_observe(struct http_ctx *c, int64_t duration_us);
/** Index of a method bit into by_method[] (0..6), or HTTP_NMETHODS for others. */
unsigned http_method_slot(unsigned method);
/** Writes "GET, HEAD, POST" for a method mask. */
const char *http_allow_header(struct rp_arena *a, unsigned methods);

#endif
