/*
 * The route tree and the transport's metrics.
 *
 * Patterns are split on '/' into a tree with one node per segment; a node
 * has literal children and at most one {capture} child. Matching walks the
 * decoded request segments depth first, literal before capture, and
 * backtracks, so literal segments win wherever both could match. The first
 * node (in that order) that routes the request's method wins; if nodes match
 * the path but none has the method, the union of their methods is the Allow
 * header of a 405.
 *
 * Metrics live next to the routes: one block of atomic counters per route
 * pattern plus one for "unmatched", indexed by method slot and by status
 * slot (a fixed list of common codes plus one "Nxx" slot per class), so the
 * number of series is bounded by the routes, never by client input. The hot
 * path is three relaxed atomic adds.
 */
#include "http/http_int.h"

#include <inttypes.h>
#include <stdio.h>

#include "base/log.h"
#include "base/uuid.h"

static const char *const method_names[HTTP_METHOD_SLOTS] = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER",
};

/* Status codes with a series of their own; others count as "1xx".."5xx". */
static const int status_codes[] = {
    200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 406, 408,
    409, 410, 411, 412, 413, 414, 415, 416, 422, 428, 429, 431, 500, 501, 502, 503, 504,
};
#define HTTP_NSTATUS_CODES (sizeof(status_codes) / sizeof(status_codes[0]))
_Static_assert(HTTP_NSTATUS_CODES + 5 <= HTTP_STATUS_SLOTS, "status slots");

/* Histogram bounds in microseconds; the last bucket is +Inf. */
static const int64_t bucket_bounds_us[HTTP_HIST_BUCKETS - 1] = {
    1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
};
static const char *const bucket_labels[HTTP_HIST_BUCKETS] = {
    "0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
};

unsigned http_method_slot(unsigned method)
{
    if (method == 0 || (method & (method - 1)) != 0 || method > RP_HTTP_OPTIONS)
        return HTTP_NMETHODS;
    return (unsigned)__builtin_ctz(method);
}

static unsigned status_slot(int status)
{
    size_t lo = 0, hi = HTTP_NSTATUS_CODES;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (status_codes[mid] == status)
            return (unsigned)mid;
        if (status_codes[mid] < status)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (status < 100 || status >= HTTP_MAX_STATUS)
        status = 500;
    return (unsigned)(HTTP_NSTATUS_CODES + (size_t)(status / 100 - 1));
}

static struct http_metrics *metrics_new(struct rp_http_router *r, const char *route)
{
    struct http_metrics *m = rp_arena_calloc(&r->arena, 1, sizeof(*m));
    m->route = route;
    if (r->metrics_tail)
        r->metrics_tail->next = m;
    else
        r->metrics_head = m;
    r->metrics_tail = m;
    return m;
}

struct rp_http_router *rp_http_router_new(void *app)
{
    struct rp_http_router *r = rp_xcalloc(1, sizeof(*r));
    r->app = app;
    rp_arena_init(&r->arena);
    rp_random_bytes(&r->rid_key, sizeof(r->rid_key));
    r->unmatched = metrics_new(r, "unmatched");
    return r;
}

void rp_http_router_free(struct rp_http_router *r)
{
    if (!r)
        return;
    free(r->middleware);
    rp_arena_release(&r->arena);
    free(r);
}

static _Noreturn void bad_pattern(const char *pattern, const char *why)
{
    rp_log_error("invalid route pattern \"%s\": %s", pattern, why);
    abort();
}

static struct http_node *node_child(struct rp_http_router *r, struct http_node *n, const char *seg,
                                    size_t len, bool capture)
{
    struct http_node *c;

    if (capture) {
        if (!n->capture)
            n->capture = rp_arena_calloc(&r->arena, 1, sizeof(*c));
        return n->capture;
    }
    for (c = n->children; c; c = c->next) {
        if (c->literal_len == len && memcmp(c->literal, seg, len) == 0)
            return c;
    }
    c = rp_arena_calloc(&r->arena, 1, sizeof(*c));
    c->literal = rp_arena_strndup(&r->arena, seg, len);
    c->literal_len = len;
    /* Appending keeps registration order, which only matters for readability of dumps. */
    if (!n->children) {
        n->children = c;
    } else {
        struct http_node *last = n->children;
        while (last->next)
            last = last->next;
        last->next = c;
    }
    return c;
}

void rp_http_route(struct rp_http_router *r, unsigned methods, const char *pattern, unsigned flags,
                   rp_http_handler_fn fn)
{
    struct http_node *n = &r->root;
    unsigned nparams = 0;
    const char *p;

    if (!pattern || pattern[0] != '/')
        bad_pattern(pattern ? pattern : "(null)", "must start with '/'");
    if (!fn || methods == 0 || (methods & ~((1u << HTTP_NMETHODS) - 1)) != 0)
        bad_pattern(pattern, "needs a handler and known methods");
    /* "/" is the root; otherwise every '/' starts a segment, so "/a/" ends in "". */
    for (p = pattern + 1; strcmp(pattern, "/") != 0;) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        bool capture = len >= 2 && p[0] == '{' && p[len - 1] == '}';
        size_t inner = capture ? len - 2 : len;

        if (memchr(p + capture, '{', inner) || memchr(p + capture, '}', inner))
            bad_pattern(pattern, "braces must enclose a whole segment");
        if (capture && ++nparams > RP_HTTP_MAX_ROUTE_PARAMS)
            bad_pattern(pattern, "too many captures");
        n = node_child(r, n, p, len, capture);
        if (!end)
            break;
        p = end + 1;
    }
    n->nparams = nparams;
    if (!n->pattern)
        n->pattern = rp_arena_strdup(&r->arena, pattern);
    if (!n->metrics)
        n->metrics = metrics_new(r, n->pattern);
    for (unsigned i = 0; i < HTTP_NMETHODS; i++) {
        if (!(methods & (1u << i)))
            continue;
        if (n->methods & (1u << i))
            rp_log_warn("route %s %s registered twice; the last one wins", method_names[i],
                        pattern);
        n->by_method[i].fn = fn;
        n->by_method[i].flags = flags;
    }
    n->methods |= methods;
}

void rp_http_router_use(struct rp_http_router *r, rp_http_middleware_fn fn)
{
    r->middleware = rp_xrealloc(r->middleware, (r->nmiddleware + 1) * sizeof(*r->middleware));
    r->middleware[r->nmiddleware++] = fn;
}

void rp_http_router_fallback(struct rp_http_router *r, rp_http_handler_fn fn)
{
    r->fallback = fn;
}

/* ---- matching ---- */

struct match {
    char **segs;
    size_t nsegs;
    unsigned method; /* one enum rp_http_method bit, or 0 */
    const char *params[RP_HTTP_MAX_ROUTE_PARAMS];
    const struct http_node *found;
    const struct http_node *path_node; /* first node that matched the path, any method */
    unsigned allow;                    /* methods of every node that matched the path */
};

/* The slot whose handler serves method at n, or -1. HEAD falls back to GET. */
static int node_slot(const struct http_node *n, unsigned method)
{
    if (method && (n->methods & method))
        return (int)http_method_slot(method);
    if (method == RP_HTTP_HEAD && (n->methods & RP_HTTP_GET))
        return (int)http_method_slot(RP_HTTP_GET);
    return -1;
}

static bool walk(struct match *m, const struct http_node *n, size_t i, size_t np)
{
    const char *seg;
    size_t len;

    if (i == m->nsegs) {
        if (!n->methods)
            return false;
        m->allow |= n->methods;
        if (!m->path_node)
            m->path_node = n;
        if (node_slot(n, m->method) < 0)
            return false;
        m->found = n;
        return true;
    }
    seg = m->segs[i];
    len = strlen(seg);
    for (const struct http_node *c = n->children; c; c = c->next) {
        if (c->literal_len == len && memcmp(c->literal, seg, len) == 0) {
            if (walk(m, c, i + 1, np))
                return true;
            break; /* literals are unique among siblings */
        }
    }
    if (n->capture && len > 0 && np < RP_HTTP_MAX_ROUTE_PARAMS) {
        m->params[np] = seg;
        if (walk(m, n->capture, i + 1, np + 1))
            return true;
    }
    return false;
}

void http_route_match(struct http_ctx *c, char **segs, size_t nsegs)
{
    struct match m = {.segs = segs, .nsegs = nsegs, .method = c->req.method};
    int slot;

    walk(&m, &c->router->root, 0, 0);
    c->allow = m.allow;
    if (!m.found) {
        /* A 405 still counts under the pattern that matched the path. */
        if (m.path_node) {
            c->metrics = m.path_node->metrics;
            c->req.route_pattern = m.path_node->pattern;
        }
        return;
    }
    slot = node_slot(m.found, m.method);
    c->node = m.found;
    c->metrics = m.found->metrics;
    c->handler = m.found->by_method[slot].fn;
    c->req.route_flags = m.found->by_method[slot].flags;
    c->req.route_pattern = m.found->pattern;
    c->req.nparams = m.found->nparams;
    memcpy(c->req.params, m.params, m.found->nparams * sizeof(m.params[0]));
}

const char *http_allow_header(struct rp_arena *a, unsigned methods)
{
    char tmp[64];
    size_t n = 0;

    if (methods & RP_HTTP_GET)
        methods |= RP_HTTP_HEAD;
    for (unsigned i = 0; i < HTTP_NMETHODS; i++) {
        size_t len;
        if (!(methods & (1u << i)))
            continue;
        len = strlen(method_names[i]);
        if (n) {
            memcpy(tmp + n, ", ", 2);
            n += 2;
        }
        memcpy(tmp + n, method_names[i], len);
        n += len;
    }
    return rp_arena_strndup(a, tmp, n);
}

/* ---- metrics ---- */

void http_observe(struct http_ctx *c, int64_t duration_us)
{
    struct http_metrics *m = c->metrics ? c->metrics : c->router->unmatched;
    unsigned ms = http_method_slot(c->req.method);
    unsigned b = 0;

    if (duration_us < 0)
        duration_us = 0;
    while (b < HTTP_HIST_BUCKETS - 1 && duration_us > bucket_bounds_us[b])
        b++;
    atomic_fetch_add_explicit(&m->requests[ms][status_slot(c->status)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->buckets[ms][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->sum_us[ms], (uint64_t)duration_us, memory_order_relaxed);
}

/* Prometheus label values escape backslash, double quote and newline. */
static void add_label(struct rp_buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            rp_buf_addc(out, '\\');
        if (*s == '\n')
            rp_buf_adds(out, "\\n");
        else
            rp_buf_addc(out, *s);
    }
}

static void add_series(struct rp_buf *out, const char *name, const struct http_metrics *m,
                       unsigned ms)
{
    rp_buf_adds(out, name);
    rp_buf_adds(out, "{method=\"");
    rp_buf_adds(out, method_names[ms]);
    rp_buf_adds(out, "\",route=\"");
    add_label(out, m->route);
    rp_buf_addc(out, '"');
}

static void render_requests(struct rp_http_router *r, struct rp_buf *out)
{
    rp_buf_adds(out, "# HELP rapport_http_requests_total HTTP requests answered, by method, "
                     "route pattern and status.\n"
                     "# TYPE rapport_http_requests_total counter\n");
    for (const struct http_metrics *m = r->metrics_head; m; m = m->next) {
        for (unsigned ms = 0; ms < HTTP_METHOD_SLOTS; ms++) {
            for (unsigned ss = 0; ss < HTTP_STATUS_SLOTS; ss++) {
                uint64_t v = atomic_load_explicit(&m->requests[ms][ss], memory_order_relaxed);
                if (v == 0)
                    continue;
                add_series(out, "rapport_http_requests_total", m, ms);
                if (ss < HTTP_NSTATUS_CODES)
                    rp_buf_addf(out, ",status=\"%d\"} %" PRIu64 "\n", status_codes[ss], v);
                else
                    rp_buf_addf(out, ",status=\"%zuxx\"} %" PRIu64 "\n",
                                ss - HTTP_NSTATUS_CODES + 1, v);
            }
        }
    }
}

static void render_durations(struct rp_http_router *r, struct rp_buf *out)
{
    rp_buf_adds(out, "# HELP rapport_http_request_duration_seconds Time from the request line "
                     "to the last response byte.\n"
                     "# TYPE rapport_http_request_duration_seconds histogram\n");
    for (const struct http_metrics *m = r->metrics_head; m; m = m->next) {
        for (unsigned ms = 0; ms < HTTP_METHOD_SLOTS; ms++) {
            uint64_t counts[HTTP_HIST_BUCKETS], total = 0, sum;
            for (unsigned b = 0; b < HTTP_HIST_BUCKETS; b++) {
                counts[b] = atomic_load_explicit(&m->buckets[ms][b], memory_order_relaxed);
                total += counts[b];
            }
            if (total == 0)
                continue;
            sum = atomic_load_explicit(&m->sum_us[ms], memory_order_relaxed);
            total = 0;
            for (unsigned b = 0; b < HTTP_HIST_BUCKETS; b++) {
                total += counts[b];
                add_series(out, "rapport_http_request_duration_seconds_bucket", m, ms);
                rp_buf_addf(out, ",le=\"%s\"} %" PRIu64 "\n", bucket_labels[b], total);
            }
            add_series(out, "rapport_http_request_duration_seconds_sum", m, ms);
            rp_buf_addf(out, "} %" PRIu64 ".%06" PRIu64 "\n", sum / 1000000, sum % 1000000);
            add_series(out, "rapport_http_request_duration_seconds_count", m, ms);
            rp_buf_addf(out, "} %" PRIu64 "\n", total);
        }
    }
}

void rp_http_metrics(struct rp_http_router *r, struct rp_buf *out)
{
    render_requests(r, out);
    render_durations(r, out);
    rp_buf_addf(out,
                "# HELP rapport_http_connections_open Client connections currently open.\n"
                "# TYPE rapport_http_connections_open gauge\n"
                "rapport_http_connections_open %" PRId64 "\n",
                atomic_load_explicit(&r->connections_open, memory_order_relaxed));
}
