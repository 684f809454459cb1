/*
 * The request pipeline shared by the socket server and in-process dispatch:
 * parsing and limits, middleware and handler, problem+json, default headers,
 * suspension, and rp_http_dispatch itself.
 *
 * Every input is checked against its limit in src/base/limits.h before
 * memory is sized from it. Errors the transport finds before the handler
 * (bad target, too many headers, unknown route, body too big or of the
 * wrong type) are kept in ctx->early and answered without running
 * middleware, so a server can answer them before reading a body.
 *
 * Suspension is a three-state handshake in req->_resumed (enum
 * http_suspend_state): rp_http_resume either marks the request EARLY, when
 * the transport has not parked it yet and will notice on its own, or, when
 * it finds it PARKED, wakes the transport. Whichever side comes second acts,
 * so a resume racing the handler's return is never lost.
 */
#include "http/http_int.h"

#include <strings.h>

#include "base/clock.h"
#include "base/json.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/utf8.h"
#include "base/uuid.h"

/* Bodies up to this size are copied into the arena in one piece; larger ones grow. */
#define HTTP_SMALL_BODY      (64u * 1024)
#define HTTP_MAX_OUT_HEADERS (RP_HTTP_MAX_RESP_HEADERS + 8)

struct http_ctx *http_ctx_new(struct rp_http_router *r)
{
    struct http_ctx *c = rp_xcalloc(1, sizeof(*c));

    c->router = r;
    rp_arena_init(&c->req.arena);
    rp_error_init(&c->req.err, &c->req.arena);
    c->req.app = r->app;
    c->req.method_name = "";
    c->req.path = "";
    c->req.remote_addr = "";
    c->req._start_us = rp_clock_monotonic_us();
    c->resp.status = 200;
    c->resp.content_type = "application/json";
    rp_buf_init(&c->resp.body, &c->req.arena, RP_LIMIT_RESPONSE_BYTES);
    c->body_limit = RP_LIMIT_BODY_BYTES;
    return c;
}

void http_ctx_free(struct http_ctx *c)
{
    if (!c)
        return;
    rp_arena_release(&c->req.arena);
    if (c->sync_init) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
    }
    free(c);
}

/* ---- parsing ---- */

static unsigned method_of(const char *m)
{
    static const struct {
        const char *name;
        unsigned bit;
    } methods[] = {
        {"GET", RP_HTTP_GET},         {"HEAD", RP_HTTP_HEAD},   {"POST", RP_HTTP_POST},
        {"PUT", RP_HTTP_PUT},         {"PATCH", RP_HTTP_PATCH}, {"DELETE", RP_HTTP_DELETE},
        {"OPTIONS", RP_HTTP_OPTIONS},
    };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(m, methods[i].name) == 0)
            return methods[i].bit;
    }
    return 0; /* unknown methods are answered 405 or 404 */
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Percent-decodes s[0..n) into out (room for n + 1 bytes), '+' becoming a
 * space when plus_space. False on a malformed escape or when the result is
 * not UTF-8 without NUL.
 */
static bool pct_decode(char *out, const char *s, size_t n, bool plus_space, size_t *outlen)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            int hi, lo;
            if (n - i < 3)
                return false;
            hi = hex_digit(s[i + 1]);
            lo = hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            ch = (char)(hi << 4 | lo);
            i += 2;
        } else if (ch == '+' && plus_space) {
            ch = ' ';
        }
        out[o++] = ch;
    }
    out[o] = '\0';
    *outlen = o;
    return rp_utf8_is_valid(out, o);
}

static bool is_rid_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-';
}

/* SplitMix64's finaliser: a bijection on 64 bits that scatters consecutive inputs. */
static uint64_t mix64(uint64_t x)
{
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/*
 * A UUIDv7 (RFC 9562) for a request that brought no usable id. Request ids
 * need to be unique, not secret, so instead of a getrandom(2) call per
 * request (rp_uuid_v7, about 2 us here) the 74 random bits come from a
 * per-router random key and a counter through a bijective mix: distinct
 * counters give distinct ids within a router.
 */
static void new_request_id(struct rp_http_router *r, char out[RP_UUID_STRLEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t n = atomic_fetch_add_explicit(&r->rid_next, 1, memory_order_relaxed);
    uint64_t a = mix64(n ^ r->rid_key);
    uint64_t b = mix64(a + r->rid_key);
    uint64_t ms = (uint64_t)rp_clock_now_ms(NULL);
    unsigned char u[16];
    size_t o = 0;

    for (int i = 0; i < 6; i++)
        u[i] = (unsigned char)(ms >> (40 - 8 * i));
    /* rand_a: bits 0-11 of a; rand_b: bits 12-63 of a, then 10 bits of b */
    u[6] = (unsigned char)(0x70 | (a & 0x0f));
    u[7] = (unsigned char)(a >> 4);
    u[8] = (unsigned char)(0x80 | ((a >> 12) & 0x3f));
    for (int i = 9; i < 14; i++)
        u[i] = (unsigned char)(a >> (18 + 8 * (i - 9)));
    u[14] = (unsigned char)((a >> 58) | (b << 6));
    u[15] = (unsigned char)(b >> 2);
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[u[i] >> 4];
        out[o++] = hex[u[i] & 15];
    }
    out[o] = '\0';
}

static void set_request_id(struct http_ctx *c, const char *xrid)
{
    struct rp_http_req *req = &c->req;
    size_t n = 0;

    if (xrid) {
        while (n <= 64 && xrid[n] && is_rid_char(xrid[n]))
            n++;
        if (n >= 1 && n <= 64 && xrid[n] == '\0') {
            memcpy(req->request_id, xrid, n + 1);
            return;
        }
    }
    new_request_id(c->router, req->request_id);
}

/* Splits and decodes the path into segments and routes it; 0 or RP_EINVAL. */
static int parse_path(struct http_ctx *c, const char *p, size_t n)
{
    struct rp_http_req *req = &c->req;
    char **segs, *path, *seg;
    size_t nsegs = 0, len;

    for (size_t i = 0; i < n; i++)
        nsegs += p[i] == '/';
    /* The root "/" has no segments; otherwise each '/' opens one. */
    if (n == 1)
        nsegs = 0;
    path = rp_arena_alloc(&req->arena, n + 1);
    if (!pct_decode(path, p, n, false, &len))
        return rp_error_set(&req->err, RP_EINVAL,
                            "request path is not valid percent-encoded UTF-8");
    req->path = path;
    segs = rp_arena_alloc(&req->arena, (nsegs ? nsegs : 1) * sizeof(*segs));
    seg = rp_arena_alloc(&req->arena, n + 1);
    for (size_t i = 0, start = 1; i < nsegs; i++) {
        const char *end = memchr(p + start, '/', n - start);
        size_t raw = end ? (size_t)(end - (p + start)) : n - start;

        if (!pct_decode(seg, p + start, raw, false, &len))
            return rp_error_set(&req->err, RP_EINVAL,
                                "request path is not valid percent-encoded UTF-8");
        if (strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0)
            return rp_error_set(&req->err, RP_EINVAL, "request path contains a dot segment");
        segs[i] = seg;
        seg += len + 1;
        start += raw + 1;
    }
    http_route_match(c, segs, nsegs);
    return 0;
}

int rp_http_form_decode(const char *q, size_t n, size_t max, struct rp_arena *arena,
                        struct rp_http_pair **out, size_t *count, struct rp_error *err)
{
    size_t total = 0, i = 0;

    *out = NULL;
    *count = 0;
    for (size_t j = 0; j <= n; j++) {
        if (j == n || q[j] == '&') {
            total += j > i;
            i = j + 1;
        }
    }
    if (total > max)
        return rp_error_set(err, RP_EINVAL, "more than %zu parameters", max);
    if (total == 0)
        return 0;
    *out = rp_arena_alloc(arena, total * sizeof(**out));
    i = 0;
    for (size_t j = 0; j <= n; j++) {
        const char *piece = q + i, *eq;
        size_t plen = j - i, nlen, vlen, len;
        char *name, *value;

        if (j < n && q[j] != '&')
            continue;
        i = j + 1;
        if (plen == 0)
            continue;
        eq = memchr(piece, '=', plen);
        nlen = eq ? (size_t)(eq - piece) : plen;
        vlen = eq ? plen - nlen - 1 : 0;
        name = rp_arena_alloc(arena, nlen + 1);
        value = rp_arena_alloc(arena, vlen + 1);
        if (!pct_decode(name, piece, nlen, true, &len) ||
            !pct_decode(value, eq ? eq + 1 : "", vlen, true, &len))
            return rp_error_set(err, RP_EINVAL, "not valid percent-encoded UTF-8");
        (*out)[*count].name = name;
        (*out)[*count].value = value;
        (*count)++;
    }
    return 0;
}

static int parse_query(struct rp_http_req *req, const char *q, size_t n)
{
    int rc = rp_http_form_decode(q, n, RP_LIMIT_QUERY_PARAMS, &req->arena, &req->query,
                                 &req->nquery, &req->err);

    if (rc < 0) {
        const char *detail = rp_arena_sprintf(&req->arena, "query string: %s", req->err.detail);
        rp_error_clear(&req->err);
        return rp_error_set(&req->err, RP_EINVAL, "%s", detail);
    }
    return 0;
}

/* True for "application/json" with optional parameters, any case. */
static bool is_json_type(const char *ct)
{
    static const char want[] = "application/json";
    size_t n = sizeof(want) - 1;

    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, want, n) != 0)
        return false;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

/* Parses a Content-Length value; false if it is not a plain decimal number. */
static bool parse_length(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (!s || !*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

static void set_early(struct http_ctx *c, int code, int status)
{
    if (!c->early) {
        c->early = code;
        c->early_status = status;
    }
}

/* Strips "http://host" from an absolute-form target (RFC 9112 3.2.2). */
static const char *origin_form(const char *t, size_t *n)
{
    size_t skip;

    if (*n >= 7 && strncasecmp(t, "http://", 7) == 0)
        skip = 7;
    else if (*n >= 8 && strncasecmp(t, "https://", 8) == 0)
        skip = 8;
    else
        return t;
    while (skip < *n && t[skip] != '/' && t[skip] != '?')
        skip++;
    if (skip == *n || t[skip] == '?')
        return NULL; /* no path: not something we route */
    *n -= skip;
    return t + skip;
}

void http_begin(struct http_ctx *c, const char *method, const char *target, size_t target_len,
                const struct rp_http_pair *headers, size_t nheaders, size_t header_bytes,
                const char *xrid)
{
    struct rp_http_req *req = &c->req;
    const char *q, *te;
    size_t plen;

    c->begun = true;
    req->method_name = rp_arena_strdup(&req->arena, method);
    req->method = method_of(method);
    set_request_id(c, xrid);
    if (!target) {
        set_early(c,
                  rp_error_set(&req->err, RP_EINVAL, "request target is longer than %d bytes",
                               RP_LIMIT_URL_BYTES),
                  414);
        return;
    }
    if (nheaders > RP_LIMIT_HEADER_COUNT) {
        set_early(c,
                  rp_error_set(&req->err, RP_EINVAL, "request has more than %d headers",
                               RP_LIMIT_HEADER_COUNT),
                  431);
        return;
    }
    if (header_bytes > RP_LIMIT_HEADER_BYTES) {
        set_early(c,
                  rp_error_set(&req->err, RP_EINVAL, "request headers are larger than %d bytes",
                               RP_LIMIT_HEADER_BYTES),
                  431);
        return;
    }
    req->headers = (struct rp_http_pair *)headers;
    req->nheaders = nheaders;

    target = origin_form(target, &target_len);
    if (!target || target_len == 0 || target[0] != '/') {
        set_early(c, rp_error_set(&req->err, RP_EINVAL, "request target must be a path"), 0);
        return;
    }
    q = memchr(target, '?', target_len);
    plen = q ? (size_t)(q - target) : target_len;
    if (parse_path(c, target, plen) < 0) {
        req->path = rp_arena_strndup(&req->arena, target, plen); /* raw, for the log */
        set_early(c, RP_EINVAL, 0);
        return;
    }
    if (q && parse_query(req, q + 1, target_len - plen - 1) < 0) {
        set_early(c, RP_EINVAL, 0);
        return;
    }
    if (!c->handler && c->allow) {
        set_early(
            c,
            rp_error_set(&req->err, RP_EMETHOD, "method %s is not allowed here", req->method_name),
            0);
        return;
    }
    if (!c->handler) {
        if (!c->router->fallback) {
            set_early(c, rp_error_set(&req->err, RP_ENOTFOUND, "no resource at this path"), 0);
            return;
        }
        c->handler = c->router->fallback;
        req->route_flags = RP_ROUTE_PUBLIC;
    }
    if (req->route_flags & RP_ROUTE_BIG_BODY)
        c->body_limit = RP_LIMIT_BATCH_BODY_BYTES;

    te = rp_http_header(req, "Transfer-Encoding");
    c->chunked = te && strcasestr(te, "chunked") != NULL;
    c->has_length = parse_length(rp_http_header(req, "Content-Length"), &c->declared);
    if (c->has_length && c->declared > c->body_limit) {
        set_early(c,
                  rp_error_set(&req->err, RP_ETOOBIG, "request body is larger than %zu bytes",
                               c->body_limit),
                  0);
        return;
    }
    if ((req->route_flags & RP_ROUTE_JSON_BODY) && c->has_length && c->declared > 0 &&
        !is_json_type(rp_http_header(req, "Content-Type"))) {
        set_early(c,
                  rp_error_set(&req->err, RP_EUNSUPPORTED, "request body must be application/json"),
                  0);
        return;
    }
}

/* ---- body ---- */

static void free_body_heap(void *p)
{
    struct http_ctx *c = p;
    free(c->body_heap);
    c->body_heap = NULL;
}

void http_body_add(struct http_ctx *c, const char *data, size_t n)
{
    size_t need;

    if (n == 0)
        return;
    if (c->early) {
        c->discarded += n; /* the answer is decided; the server bounds what it reads */
        return;
    }
    if (c->body_too_big || n > c->body_limit - c->body_len) {
        /* Past the limit nothing is kept: the answer is 413 whatever follows. */
        c->body_too_big = true;
        c->discarded += n;
        free(c->body_heap);
        c->body_heap = NULL;
        c->body = NULL;
        c->body_len = 0;
        c->body_cap = 0;
        return;
    }
    need = c->body_len + n + 1;
    if (need > c->body_cap) {
        if (c->has_length && !c->chunked && c->declared < HTTP_SMALL_BODY && !c->body) {
            /* The declared size is small and already checked: one arena block. */
            c->body_cap = (size_t)c->declared + 1 > need ? (size_t)c->declared + 1 : need;
            c->body = rp_arena_alloc(&c->req.arena, c->body_cap);
        } else {
            size_t cap = c->body_cap ? c->body_cap * 2 : HTTP_SMALL_BODY;
            if (cap < need)
                cap = need;
            if (cap > c->body_limit + 1)
                cap = c->body_limit + 1;
            if (!c->body_heap) {
                rp_arena_defer(&c->req.arena, free_body_heap, c);
                c->body_heap = rp_xmalloc(cap);
                if (c->body_len)
                    memcpy(c->body_heap, c->body, c->body_len);
            } else {
                c->body_heap = rp_xrealloc(c->body_heap, cap);
            }
            c->body = c->body_heap;
            c->body_cap = cap;
        }
    }
    memcpy(c->body + c->body_len, data, n);
    c->body_len += n;
}

/* ---- running ---- */

int http_run(struct http_ctx *c)
{
    struct rp_http_req *req = &c->req;
    uint64_t failed_allocs;
    int rc;

    if (c->body_too_big)
        return rp_error_set(&req->err, RP_ETOOBIG, "request body is larger than %zu bytes",
                            c->body_limit);
    if (c->body_len > 0) {
        c->body[c->body_len] = '\0';
        req->body = c->body;
        req->body_len = c->body_len;
        if ((req->route_flags & RP_ROUTE_JSON_BODY) &&
            !is_json_type(rp_http_header(req, "Content-Type")))
            return rp_error_set(&req->err, RP_EUNSUPPORTED,
                                "request body must be application/json");
    }
    for (size_t i = 0; i < c->router->nmiddleware; i++) {
        rc = c->router->middleware[i](req, &c->resp);
        if (rc != 0)
            return rc;
    }
    failed_allocs = rp_json_failed_allocs();
    rc = c->handler(req, &c->resp);
    /*
     * A jansson allocation that failed while the handler ran may have left a value out of what
     * it built (json_object_set_new and json_array_append_new only return -1): neither an
     * answer nor a refusal decided on such a value is trusted then (a list of definitions that
     * lost one reads as "not found"), as SQLite's sticky mallocFailed. Outside fault injection
     * jansson's allocations abort instead (base/json.h), so this never fires in production.
     */
    if (rc != RP_HTTP_SUSPENDED && rp_json_failed_allocs() != failed_allocs) {
        rp_log_error("a JSON allocation failed while %s %s ran", req->method_name, req->path);
        rp_error_clear(&req->err);
        rc = rp_json_error_alloc(&req->err);
    }
    return rc;
}

static bool has_header(const struct rp_http_resp *resp, const char *name)
{
    for (size_t i = 0; i < resp->nheaders; i++) {
        if (strcasecmp(resp->headers[i].name, name) == 0)
            return true;
    }
    return false;
}

static bool is_api_path(const char *p)
{
    return strncmp(p, "/api", 4) == 0 && (p[4] == '\0' || p[4] == '/');
}

/* Status, headers and body as they go on the wire, from resp. */
static void finalize(struct http_ctx *c)
{
    struct rp_http_req *req = &c->req;
    struct rp_http_resp *resp = &c->resp;
    struct rp_http_pair *h;
    size_t n = 0;

    h = rp_arena_alloc(&req->arena, HTTP_MAX_OUT_HEADERS * sizeof(*h));
    for (size_t i = 0; i < resp->nheaders; i++)
        h[n++] = resp->headers[i];
#define ADD_DEFAULT(hname, hvalue)                         \
    do {                                                   \
        if (!has_header(resp, hname))                      \
            h[n++] = (struct rp_http_pair){hname, hvalue}; \
    } while (0)
    if (resp->body.len > 0 && resp->content_type)
        ADD_DEFAULT("Content-Type", resp->content_type);
    h[n++] = (struct rp_http_pair){"X-Request-Id", req->request_id};
    ADD_DEFAULT("X-Content-Type-Options", "nosniff");
    ADD_DEFAULT("X-Frame-Options", "DENY");
    ADD_DEFAULT("Referrer-Policy", "no-referrer");
    /*
     * Pages and files of the web UI may load only from our own origin. API answers are JSON,
     * never rendered; one or the other, so the defaults still fit HTTP_MAX_OUT_HEADERS.
     */
    if (is_api_path(req->path))
        ADD_DEFAULT("Cache-Control", "no-store");
    else
        ADD_DEFAULT("Content-Security-Policy", "default-src 'self'");
    if (resp->status == 429 || resp->status == 503)
        ADD_DEFAULT("Retry-After", "1");
    if (resp->status == 405 && c->allow)
        ADD_DEFAULT("Allow", http_allow_header(&req->arena, c->allow));
#undef ADD_DEFAULT
    c->out_headers = h;
    c->nout_headers = n;
    c->status = resp->status;
    c->bytes = req->method == RP_HTTP_HEAD ? 0 : resp->body.len;
}

static void write_problem(struct rp_http_req *req, struct rp_http_resp *resp, int code, int status)
{
    struct rp_buf *b = &resp->body;

    rp_buf_init(b, &req->arena, RP_LIMIT_RESPONSE_BYTES);
    resp->status = status;
    resp->content_type = "application/problem+json";
    rp_buf_addc(b, '{');
    rp_error_problem_members(&req->err, code, status, b);
    rp_buf_adds(b, ",\"request_id\":");
    rp_buf_add_json_str(b, req->request_id, strlen(req->request_id));
    rp_buf_addc(b, '}');
}

void rp_http_resp_problem(struct rp_http_req *req, struct rp_http_resp *resp, int code)
{
    write_problem(req, resp, code, rp_err_http_status(code));
}

bool http_finish_early(struct http_ctx *c)
{
    if (!c->early)
        return false;
    write_problem(&c->req, &c->resp, c->early,
                  c->early_status ? c->early_status : rp_err_http_status(c->early));
    finalize(c);
    return true;
}

void http_finish(struct http_ctx *c, int rc)
{
    struct rp_http_req *req = &c->req;

    if (rc == 0 && rp_buf_error(&c->resp.body)) {
        rp_log_error("response to %s %s passed %u bytes", req->method_name, req->path,
                     (unsigned)RP_LIMIT_RESPONSE_BYTES);
        rc = rp_error_set(&req->err, RP_EINTERNAL, "response is too large");
    } else if (rc > 0) {
        rp_log_error("handler for %s %s returned %d", req->method_name, req->path, rc);
        rc = RP_EINTERNAL;
    }
    if (rc < 0)
        rp_http_resp_problem(req, &c->resp, rc);
    finalize(c);
}

/* ---- request and response helpers ---- */

const char *rp_http_header(const struct rp_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    }
    return NULL;
}

const char *rp_http_query(const struct rp_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nquery; i++) {
        if (strcmp(req->query[i].name, name) == 0)
            return req->query[i].value;
    }
    return NULL;
}

static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch <= 0x20 || ch >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", ch))
            return false;
    }
    return true;
}

void rp_http_resp_header(struct rp_http_req *req, struct rp_http_resp *resp, const char *name,
                         const char *value)
{
    if (!name || !value || !is_token(name) || strpbrk(value, "\r\n")) {
        rp_log_error("dropping invalid response header \"%s\"", name ? name : "(null)");
        return;
    }
    if (resp->nheaders >= RP_HTTP_MAX_RESP_HEADERS) {
        rp_log_error("dropping response header \"%s\": more than %d", name,
                     RP_HTTP_MAX_RESP_HEADERS);
        return;
    }
    resp->headers[resp->nheaders].name = rp_arena_strdup(&req->arena, name);
    resp->headers[resp->nheaders].value = rp_arena_strdup(&req->arena, value);
    resp->nheaders++;
}

void rp_http_suspend(struct rp_http_req *req, rp_http_handler_fn fn)
{
    req->_resume_fn = fn;
    __atomic_store_n(&req->_resumed, HTTP_RUNNING, __ATOMIC_RELEASE);
}

void rp_http_resume(struct rp_http_req *req)
{
    struct http_ctx *c = (struct http_ctx *)req;
    int expected = HTTP_RUNNING;

    if (__atomic_compare_exchange_n(&req->_resumed, &expected, HTTP_EARLY, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return; /* the transport has not parked it yet and will see EARLY */
    if (req->_server) {
        http_server_resume(c);
        return;
    }
    pthread_mutex_lock(&c->mu);
    __atomic_store_n(&req->_resumed, HTTP_RUNNING, __ATOMIC_RELEASE);
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* ---- in-process dispatch ---- */

/* Blocks until rp_http_resume, unless it already came. */
static void dispatch_wait(struct http_ctx *c)
{
    int expected = HTTP_RUNNING;

    pthread_mutex_lock(&c->mu);
    if (__atomic_compare_exchange_n(&c->req._resumed, &expected, HTTP_PARKED, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&c->req._resumed, __ATOMIC_ACQUIRE) == HTTP_PARKED)
            pthread_cond_wait(&c->cv, &c->mu);
    }
    __atomic_store_n(&c->req._resumed, HTTP_RUNNING, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&c->mu);
}

int rp_http_dispatch(struct rp_http_router *r, const struct rp_http_dispatch *in,
                     struct rp_http_result *out)
{
    struct http_ctx *c;
    const char *xrid = NULL;
    size_t header_bytes = 0;

    if (!out)
        return RP_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!r || !in || !in->method || !in->target || (in->nheaders && !in->headers) ||
        (in->body_len && !in->body))
        return RP_EINVAL;
    for (size_t i = 0; i < in->nheaders; i++) {
        if (!in->headers[i].name || !in->headers[i].value)
            return RP_EINVAL;
        header_bytes += strlen(in->headers[i].name) + strlen(in->headers[i].value) + 4;
        if (!xrid && strcasecmp(in->headers[i].name, "X-Request-Id") == 0)
            xrid = in->headers[i].value;
    }

    c = http_ctx_new(r);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->sync_init = true;
    c->req.remote_addr = "in-process";
    {
        size_t tlen = strlen(in->target);
        /* Headers are borrowed: the request never outlives this call's handler. */
        http_begin(c, in->method, tlen > RP_LIMIT_URL_BYTES ? NULL : in->target, tlen, in->headers,
                   in->nheaders, header_bytes, xrid);
    }
    http_body_add(c, in->body, in->body_len);
    if (!http_finish_early(c)) {
        int rc = http_run(c);
        while (rc == RP_HTTP_SUSPENDED) {
            dispatch_wait(c);
            rc = c->req._resume_fn(&c->req, &c->resp);
        }
        http_finish(c, rc);
    }
    http_observe(c, rp_clock_monotonic_us() - c->req._start_us);

    out->status = c->status;
    out->content_type = c->resp.body.len > 0 ? c->resp.content_type : NULL;
    out->body = c->req.method == RP_HTTP_HEAD ? "" : c->resp.body.data;
    out->body_len = c->bytes;
    out->headers = c->out_headers;
    out->nheaders = c->nout_headers;
    out->_req = &c->req;
    return 0;
}

const char *rp_http_result_header(const struct rp_http_result *res, const char *name)
{
    for (size_t i = 0; i < res->nheaders; i++) {
        if (strcasecmp(res->headers[i].name, name) == 0)
            return res->headers[i].value;
    }
    return NULL;
}

void rp_http_dispatch_release(struct rp_http_result *out)
{
    if (!out)
        return;
    http_ctx_free((struct http_ctx *)out->_req);
    memset(out, 0, sizeof(*out));
}
