/*
 * Outbound HTTP for webhooks: an SSRF-safe URL check, signatures, and a POST
 * that connects only to addresses the check vetted.
 *
 * A URL is acceptable when it is http or https, has no userinfo and a port in
 * 1-65535, its host is plain ASCII, not a reserved internal name (localhost,
 * *.localhost, *.local, *.internal, metadata.google.internal, ...) and EVERY
 * address it resolves to is public. libcurl's URL parser decides what the
 * host is, so every spelling curl accepts (decimal, octal, hex and short IPv4,
 * bracketed IPv6, percent-encoding, upper case, trailing dots) is judged as
 * the address curl would really reach. IPv6 forms that carry an IPv4 address
 * (mapped, compatible, NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by that
 * IPv4 address; anything outside 2000::/3 is refused.
 *
 * DNS rebinding: rp_outbound_post() resolves once, vets the result, pins the
 * host:port to the vetted addresses (CURLOPT_RESOLVE) and refuses, in curl's
 * socket callback, any connection to an address outside that set. Redirects
 * are never followed and proxies from the environment are ignored.
 *
 * Thread-safety: every function may be called from any thread; libcurl's
 * global state is set up once behind pthread_once.
 */
#ifndef RP_BASE_OUTBOUND_H
#define RP_BASE_OUTBOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rp_buf;
struct rp_error;

#define RP_OUTBOUND_MAX_ADDRS       16 /* vetted addresses kept per host */
#define RP_OUTBOUND_HOST_MAX        256
#define RP_OUTBOUND_CONNECT_MS      2000        /* default connect timeout */
#define RP_OUTBOUND_TOTAL_MS        10000       /* default whole-request timeout */
#define RP_OUTBOUND_MAX_RESPONSE    (64 * 1024) /* default cap on a kept response body */
#define RP_OUTBOUND_MAX_HEADERS     32
#define RP_OUTBOUND_SIG_MAX         128 /* room for a signature header value, NUL included */
#define RP_OUTBOUND_SIG_TOLERANCE_S 300 /* default age accepted by receivers */
#define RP_OUTBOUND_ALLOW_MAX       64  /* entries in one allow-list */

/** One vetted address. */
struct rp_outbound_addr {
    int family;        /* AF_INET or AF_INET6 */
    uint8_t bytes[16]; /* network order; AF_INET uses the first 4 */
};

/**
 * A resolver in place of getaddrinfo (a deployment's own DNS, or tests):
 * fills up to max addresses for host and sets *n. Returns 0 or a negative
 * code (the check then fails with RP_EIO). Called once per check, never by
 * curl.
 */
typedef int (*rp_outbound_resolve_fn)(void *ctx, const char *host, struct rp_outbound_addr *addrs,
                                      size_t max, size_t *n);

/**
 * Lets chosen destinations through. Each entry is either an exact host name
 * (case-insensitive, a trailing dot ignored: "hooks.example.com") or an
 * address range in CIDR form ("127.0.0.1/32", "10.1.0.0/16", "::1/128"; a
 * bare address means the single address). A host name entry admits that host
 * whatever it resolves to; a range admits addresses inside it. The strings
 * are borrowed for the duration of each call.
 */
struct rp_outbound_policy {
    const char *const *allow; /* entries, may be NULL when nallow is 0 */
    size_t nallow;
    rp_outbound_resolve_fn resolve; /* NULL: getaddrinfo */
    void *resolve_ctx;
};

/** What a URL check vetted: where a request to that URL may connect. */
struct rp_outbound_target {
    char host[RP_OUTBOUND_HOST_MAX]; /* as curl parsed it, IPv6 without brackets */
    uint16_t port;                   /* explicit or the scheme's default */
    bool https;
    bool literal; /* host is an IP address, nothing was resolved */
    size_t naddrs;
    struct rp_outbound_addr addrs[RP_OUTBOUND_MAX_ADDRS];
};

/**
 * Checks url against the rules above and, on success, fills *target (may be
 * NULL) with the host, port and the resolved addresses, all of them vetted.
 * Resolution uses policy->resolve or getaddrinfo (which may block for the
 * system resolver's timeout).
 * Returns 0, or with err set (its detail names the reason and the host):
 * RP_EINVAL for a malformed URL, another scheme, userinfo, a bad port or an
 * invalid allow-list entry; RP_EFORBIDDEN for a refused name or address;
 * RP_EIO when the host does not resolve.
 */
int rp_outbound_check_url(const char *url, const struct rp_outbound_policy *policy,
                          struct rp_outbound_target *target, struct rp_error *err);

/**
 * True if the address is one no webhook may reach without an allow-list
 * entry (loopback, private, link-local, CGNAT, multicast, reserved, ...).
 * When refused and why is not NULL, *why names the class ("loopback").
 */
bool rp_outbound_addr_refused(const struct rp_outbound_addr *a, const char **why);

/**
 * Writes the signature header value "t=<t_s>,v1=<hex HMAC-SHA256 of
 * "<t_s>.<body>">" into out (RP_OUTBOUND_SIG_MAX bytes). key is the
 * subscription's secret (any length >= 1). Returns the length written
 * (without NUL) or RP_EINVAL for an empty key or a negative time.
 */
int rp_outbound_sign(const uint8_t *key, size_t keylen, int64_t t_s, const char *body, size_t len,
                     char out[RP_OUTBOUND_SIG_MAX]);

/**
 * Verifies a signature header value for body in constant time. Several v1=
 * members are allowed (secret rotation); one match suffices. The timestamp
 * must be within tolerance_s seconds of now_s either way. Returns 0,
 * RP_EINVAL for a malformed header, RP_EUNAUTH for a wrong MAC or a stale
 * timestamp.
 */
int rp_outbound_verify(const uint8_t *key, size_t keylen, const char *header, const char *body,
                       size_t len, int64_t now_s, int64_t tolerance_s);

/** A request header; name and value are borrowed. */
struct rp_outbound_header {
    const char *name;  /* a token, e.g. "X-Rapport-Signature" */
    const char *value; /* no CR, LF or NUL */
};

struct rp_outbound_request {
    const char *url;
    const char *body; /* sent as application/json */
    size_t body_len;
    const struct rp_outbound_header *headers; /* at most RP_OUTBOUND_MAX_HEADERS */
    size_t nheaders;
    long connect_timeout_ms;   /* 0: RP_OUTBOUND_CONNECT_MS */
    long total_timeout_ms;     /* 0: RP_OUTBOUND_TOTAL_MS */
    size_t max_response_bytes; /* 0: RP_OUTBOUND_MAX_RESPONSE */
};

/** Why a delivery failed, for retry decisions and the delivery log. */
enum rp_outbound_failure {
    RP_OUTBOUND_OK = 0,
    RP_OUTBOUND_REFUSED_URL, /* the check refused the URL: permanent until it changes */
    RP_OUTBOUND_DNS,         /* the host did not resolve */
    RP_OUTBOUND_CONNECT,     /* connection refused or unreachable */
    RP_OUTBOUND_TIMEOUT,     /* connect or total timeout */
    RP_OUTBOUND_TLS,         /* handshake or certificate failure */
    RP_OUTBOUND_OTHER,       /* anything else curl reported */
};

struct rp_outbound_response {
    long status;                      /* HTTP status, 0 when none was received */
    enum rp_outbound_failure failure; /* RP_OUTBOUND_OK when status is set */
    bool truncated;                   /* the body passed max_response_bytes and was cut there */
    char remote_ip[48];               /* the address connected to, "" when none */
    int64_t elapsed_us;               /* wall time of the whole call */
};

/**
 * POSTs req->body to req->url after rp_outbound_check_url (same policy),
 * connecting only to the vetted addresses. No redirect is followed; a 3xx is
 * returned as a status. The response body, up to the cap, is appended to
 * body_out (may be NULL to discard it); a longer body ends the transfer early
 * with resp->truncated set and the status still returned. resp may be NULL.
 * Returns the HTTP status (100-599), or a negative code with err set:
 * RP_EINVAL / RP_EFORBIDDEN / RP_EIO from the check, RP_EINVAL for a bad
 * header, RP_ETIMEOUT, or RP_EIO for refused connections, TLS and other
 * transport errors (the detail says which). One easy handle per call.
 */
int rp_outbound_post(const struct rp_outbound_request *req, const struct rp_outbound_policy *policy,
                     struct rp_outbound_response *resp, struct rp_buf *body_out,
                     struct rp_error *err);

/** Sets up libcurl's global state once (thread-safe); for other libcurl users (SMTP). */
int rp_outbound_curl_ready(struct rp_error *err);

#endif
