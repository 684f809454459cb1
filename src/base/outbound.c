/*
 * Outbound HTTP for webhooks (see outbound.h for the rules).
 *
 * The check and the POST share one parse: the URL is parsed by curl_url and the
 * same handle is given to the transfer (CURLOPT_CURLU), so the host that was
 * judged is the host curl connects to. Names are resolved here once; curl is
 * told those addresses (CURLOPT_RESOLVE, also as a "*" wildcard so no spelling
 * of the name escapes the pin) and its socket callback refuses any address
 * outside the vetted set, so a resolver answering differently the second time
 * (DNS rebinding) cannot steer the connection.
 */
#include "base/outbound.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/socket.h>

/* ---- address classes ---------------------------------------------------- */

struct v4_range {
    uint32_t net;
    unsigned len;
    const char *why;
};

/* Everything that is not ordinary public unicast (IANA special-purpose registry). */
static const struct v4_range v4_refused[] = {
    {0x00000000u, 8, "an unspecified (\"this network\") address"},
    {0x0A000000u, 8, "a private address"},
    {0x64400000u, 10, "a shared (CGNAT) address"},
    {0x7F000000u, 8, "a loopback address"},
    {0xA9FEA9FEu, 32, "the link-local cloud metadata address"},
    {0xA9FE0000u, 16, "a link-local address"},
    {0xAC100000u, 12, "a private address"},
    {0xC0000000u, 24, "a reserved (IETF protocol assignment) address"},
    {0xC0000200u, 24, "a documentation address"},
    {0xC0586300u, 24, "a reserved (6to4 relay anycast) address"},
    {0xC0A80000u, 16, "a private address"},
    {0xC6120000u, 15, "a reserved (benchmarking) address"},
    {0xC6336400u, 24, "a documentation address"},
    {0xCB007100u, 24, "a documentation address"},
    {0xE0000000u, 4, "a multicast address"},
    {0xFFFFFFFFu, 32, "the broadcast address"},
    {0xF0000000u, 4, "a reserved address"},
};

static uint32_t v4_of(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static bool prefix_match(const uint8_t *a, const uint8_t *net, unsigned len)
{
    unsigned full = len / 8, rest = len % 8;
    if (memcmp(a, net, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xFFu << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}

static bool v4_refused_why(uint32_t a, const char **why)
{
    for (size_t i = 0; i < sizeof(v4_refused) / sizeof(v4_refused[0]); i++) {
        uint32_t mask = v4_refused[i].len == 0 ? 0 : 0xFFFFFFFFu << (32 - v4_refused[i].len);
        if ((a & mask) == v4_refused[i].net) {
            *why = v4_refused[i].why;
            return true;
        }
    }
    return false;
}

/*
 * IPv6: the forms that embed an IPv4 address are judged by it; apart from
 * those only global unicast (2000::/3) minus its special-purpose blocks passes.
 */
static bool v6_refused_why(const uint8_t *b, const char **why)
{
    static const uint8_t zero[16];
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    static const uint8_t nat64[12] = {0, 0x64, 0xFF, 0x9B};
    static const uint8_t nat64_local[6] = {0, 0x64, 0xFF, 0x9B, 0, 1};
    static const uint8_t teredo[4] = {0x20, 0x01, 0, 0};
    static const uint8_t doc[4] = {0x20, 0x01, 0x0D, 0xB8};
    static const uint8_t doc2[2] = {0x3F, 0xFF};
    static const uint8_t orchid[4] = {0x20, 0x01, 0x00, 0x10};
    static const uint8_t orchid2[4] = {0x20, 0x01, 0x00, 0x20};

    if (memcmp(b, zero, 16) == 0) {
        *why = "the unspecified address";
        return true;
    }
    if (memcmp(b, zero, 15) == 0 && b[15] == 1) {
        *why = "a loopback address";
        return true;
    }
    if (memcmp(b, mapped, 12) == 0) {
        if (v4_refused_why(v4_of(b + 12), why)) {
            *why = "an IPv4-mapped form of a refused address";
            return true;
        }
        return false;
    }
    if (memcmp(b, zero, 12) == 0) {
        *why = "an IPv4-compatible address";
        return true;
    }
    if (memcmp(b, nat64, 12) == 0) {
        if (v4_refused_why(v4_of(b + 12), why)) {
            *why = "a NAT64 form of a refused address";
            return true;
        }
        return false;
    }
    if (prefix_match(b, nat64_local, 48)) {
        *why = "a local-use NAT64 address";
        return true;
    }
    if (b[0] == 0x20 && b[1] == 0x02) {
        if (v4_refused_why(v4_of(b + 2), why)) {
            *why = "a 6to4 form of a refused address";
            return true;
        }
        return false;
    }
    if ((b[0] & 0xFE) == 0xFC) {
        *why = "a private (unique local) address";
        return true;
    }
    if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) {
        *why = "a link-local address";
        return true;
    }
    if (b[0] == 0xFE && (b[1] & 0xC0) == 0xC0) {
        *why = "a site-local address";
        return true;
    }
    if (b[0] == 0xFF) {
        *why = "a multicast address";
        return true;
    }
    if ((b[0] & 0xE0) != 0x20) {
        *why = "a reserved address";
        return true;
    }
    if (prefix_match(b, teredo, 32)) {
        *why = "a Teredo tunnel address";
        return true;
    }
    if (prefix_match(b, doc, 32) || prefix_match(b, doc2, 20)) {
        *why = "a documentation address";
        return true;
    }
    if (prefix_match(b, orchid, 28) || prefix_match(b, orchid2, 28)) {
        *why = "a reserved (ORCHID) address";
        return true;
    }
    return false;
}

bool rp_outbound_addr_refused(const struct rp_outbound_addr *a, const char **why)
{
    const char *w = NULL;
    bool refused;
    if (a->family == AF_INET)
        refused = v4_refused_why(v4_of(a->bytes), &w);
    else if (a->family == AF_INET6)
        refused = v6_refused_why(a->bytes, &w);
    else {
        refused = true;
        w = "not an IP address";
    }
    if (refused && why)
        *why = w;
    return refused;
}

static void addr_text(const struct rp_outbound_addr *a, char *out, size_t n)
{
    if (!inet_ntop(a->family, a->bytes, out, (socklen_t)n))
        snprintf(out, n, "?");
}

static bool addr_from_sockaddr(const struct sockaddr *sa, struct rp_outbound_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        a->family = AF_INET;
        memcpy(a->bytes, &s4->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        a->family = AF_INET6;
        memcpy(a->bytes, &s6->sin6_addr, 16);
        return true;
    }
    return false;
}

/* ---- allow-list ----------------------------------------------------------- */

struct allow_range {
    struct rp_outbound_addr net;
    unsigned len;
};

/* Parses "addr" or "addr/len"; false when the entry is not an address range. */
static bool parse_range(const char *s, struct allow_range *r)
{
    char text[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    unsigned max;

    if (n == 0 || n >= sizeof(text))
        return false;
    memcpy(text, s, n);
    text[n] = '\0';
    memset(r, 0, sizeof(*r));
    if (inet_pton(AF_INET, text, r->net.bytes) == 1) {
        r->net.family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, text, r->net.bytes) == 1) {
        r->net.family = AF_INET6;
        max = 128;
    } else {
        return false;
    }
    r->len = max;
    if (slash) {
        const char *p = slash + 1;
        unsigned v = 0;
        if (*p == '\0' || strlen(p) > 3)
            return false;
        for (; *p; p++) {
            if (!isdigit((unsigned char)*p))
                return false;
            v = v * 10 + (unsigned)(*p - '0');
        }
        if (v > max)
            return false;
        r->len = v;
    }
    return true;
}

/* An IPv4-mapped IPv6 address is matched as the IPv4 address it carries. */
static struct rp_outbound_addr unmap(const struct rp_outbound_addr *a)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    struct rp_outbound_addr r = *a;
    if (a->family == AF_INET6 && memcmp(a->bytes, mapped, 12) == 0) {
        memset(&r, 0, sizeof(r));
        r.family = AF_INET;
        memcpy(r.bytes, a->bytes + 12, 4);
    }
    return r;
}

static bool range_contains(const struct allow_range *r, const struct rp_outbound_addr *a)
{
    struct rp_outbound_addr u = unmap(a);
    return u.family == r->net.family && prefix_match(u.bytes, r->net.bytes, r->len);
}

/* Lower-cases and drops trailing dots, for comparing host names. */
static void host_key(const char *in, char *out, size_t n)
{
    size_t len = strlen(in);
    while (len > 0 && in[len - 1] == '.')
        len--;
    if (len >= n)
        len = n - 1;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[len] = '\0';
}

static bool valid_host_name(const char *s)
{
    if (*s == '\0' || strlen(s) >= RP_OUTBOUND_HOST_MAX)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!isalnum(c) && c != '-' && c != '.' && c != '_')
            return false;
    }
    return true;
}

struct allow_list {
    size_t nranges;
    struct allow_range ranges[RP_OUTBOUND_ALLOW_MAX];
    bool host_allowed; /* an exact host entry names the URL's host */
};

static int load_allow(const struct rp_outbound_policy *policy, const char *key,
                      struct allow_list *al, struct rp_error *err)
{
    memset(al, 0, sizeof(*al));
    if (!policy || policy->nallow == 0)
        return 0;
    if (policy->nallow > RP_OUTBOUND_ALLOW_MAX)
        return rp_error_set(err, RP_EINVAL, "allow-list has %zu entries, more than %d",
                            policy->nallow, RP_OUTBOUND_ALLOW_MAX);
    for (size_t i = 0; i < policy->nallow; i++) {
        const char *e = policy->allow[i];
        char ekey[RP_OUTBOUND_HOST_MAX];
        if (!e)
            return rp_error_set(err, RP_EINVAL, "allow-list entry %zu is missing", i);
        if (parse_range(e, &al->ranges[al->nranges])) {
            al->nranges++;
            continue;
        }
        if (strchr(e, '/') || !valid_host_name(e))
            return rp_error_set(
                err, RP_EINVAL,
                "allow-list entry \"%s\" is neither a host name nor an address range", e);
        host_key(e, ekey, sizeof(ekey));
        if (strcmp(ekey, key) == 0)
            al->host_allowed = true;
    }
    return 0;
}

static bool allowed_addr(const struct allow_list *al, const struct rp_outbound_addr *a)
{
    for (size_t i = 0; i < al->nranges; i++)
        if (range_contains(&al->ranges[i], a))
            return true;
    return false;
}

/* ---- names ---------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * Names that reach the local machine or the local network whatever DNS says;
 * single-label names are refused because resolvers complete them with local
 * search domains.
 */
static const char *name_refused(const char *key)
{
    static const char *const exact[] = {"localhost",     "metadata.google.internal",
                                        "metadata",      "instance-data",
                                        "ip6-localhost", "ip6-loopback"};
    static const char *const suffixes[] = {".localhost", ".local", ".internal", ".localdomain",
                                           ".home.arpa", ".lan",   ".intranet", ".corp"};
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (strcmp(key, exact[i]) == 0)
            return "a local or cloud metadata host name";
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
        if (ends_with(key, suffixes[i]))
            return "in a local-only domain";
    if (!strchr(key, '.'))
        return "a single-label name, which resolvers complete with local search domains";
    return NULL;
}

/* ---- the check ------------------------------------------------------------ */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
/* Written once under pthread_once: libcurl's global setup is process-wide by nature. */
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int rp_outbound_curl_ready(struct rp_error *err)
{
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return rp_error_set(err, RP_EINTERNAL, "could not initialise libcurl: %s",
                            curl_easy_strerror(curl_init_rc));
    return 0;
}

static bool addr_in(const struct rp_outbound_target *t, const struct rp_outbound_addr *a)
{
    for (size_t i = 0; i < t->naddrs; i++)
        if (t->addrs[i].family == a->family &&
            memcmp(t->addrs[i].bytes, a->bytes, sizeof(a->bytes)) == 0)
            return true;
    return false;
}

static int get_part(CURLU *u, CURLUPart part, unsigned flags, char **out)
{
    CURLUcode rc = curl_url_get(u, part, out, flags);
    if (rc == CURLUE_OK)
        return 1;
    *out = NULL;
    return 0;
}

/* Judges one resolved address and keeps it; every address is judged, also past the kept ones. */
static int vet(struct rp_outbound_target *t, const struct allow_list *al,
               const struct rp_outbound_addr *a, struct rp_error *err)
{
    const char *why;
    char shown[64];
    if (addr_in(t, a))
        return 0;
    if (rp_outbound_addr_refused(a, &why) && !al->host_allowed && !allowed_addr(al, a)) {
        addr_text(a, shown, sizeof(shown));
        return rp_error_set(err, RP_EFORBIDDEN, "destination host \"%s\" is refused: %s is %s",
                            t->host, shown, why);
    }
    if (t->naddrs < RP_OUTBOUND_MAX_ADDRS)
        t->addrs[t->naddrs++] = *a;
    return 0;
}

static int resolve_with(const struct rp_outbound_policy *policy, struct rp_outbound_target *t,
                        const struct allow_list *al, struct rp_error *err)
{
    struct rp_outbound_addr got[RP_OUTBOUND_MAX_ADDRS];
    size_t n = 0;
    int rc = policy->resolve(policy->resolve_ctx, t->host, got, RP_OUTBOUND_MAX_ADDRS, &n);
    if (rc < 0)
        return rp_error_set(err, RP_EIO, "could not resolve host \"%s\"", t->host);
    for (size_t i = 0; i < n && i < RP_OUTBOUND_MAX_ADDRS; i++) {
        if (got[i].family != AF_INET && got[i].family != AF_INET6)
            return rp_error_set(err, RP_EIO, "resolver gave host \"%s\" a non-IP address", t->host);
        rc = vet(t, al, &got[i], err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Judges the URL already parsed into u; fills t. */
static int check_parsed(CURLU *u, const struct rp_outbound_policy *policy,
                        struct rp_outbound_target *t, struct rp_error *err)
{
    int rc = RP_EINVAL;
    char *scheme = NULL, *host = NULL, *port = NULL, *part = NULL;
    struct addrinfo hints, *res = NULL;
    struct allow_list al;
    char key[RP_OUTBOUND_HOST_MAX];
    const char *why;
    size_t hlen;
    long portnum;

    memset(t, 0, sizeof(*t));
    if (!get_part(u, CURLUPART_SCHEME, 0, &scheme) ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        rc = rp_error_set(err, RP_EINVAL, "URL scheme \"%s\" is not allowed: use http or https",
                          scheme ? scheme : "");
        goto out;
    }
    t->https = strcmp(scheme, "https") == 0;
    if (get_part(u, CURLUPART_USER, 0, &part) || get_part(u, CURLUPART_PASSWORD, 0, &part) ||
        get_part(u, CURLUPART_OPTIONS, 0, &part)) {
        rc = rp_error_set(err, RP_EINVAL, "URL must not contain user information");
        goto out;
    }
    if (get_part(u, CURLUPART_ZONEID, 0, &part)) {
        rc = rp_error_set(err, RP_EFORBIDDEN, "URL must not name an IPv6 zone");
        goto out;
    }
    if (!get_part(u, CURLUPART_HOST, 0, &host) || host[0] == '\0') {
        rc = rp_error_set(err, RP_EINVAL, "URL has no host");
        goto out;
    }
    if (!get_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT, &port)) {
        rc = rp_error_set(err, RP_EINVAL, "URL has no port");
        goto out;
    }
    portnum = strtol(port, NULL, 10);
    if (portnum < 1 || portnum > 65535) {
        rc = rp_error_set(err, RP_EINVAL, "URL port %s is not between 1 and 65535", port);
        goto out;
    }
    t->port = (uint16_t)portnum;

    hlen = strlen(host);
    if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') {
        if (hlen - 2 >= sizeof(t->host))
            goto too_long;
        memcpy(t->host, host + 1, hlen - 2);
        t->host[hlen - 2] = '\0';
    } else {
        if (hlen >= sizeof(t->host))
            goto too_long;
        memcpy(t->host, host, hlen + 1);
    }
    for (const char *p = t->host; *p; p++) {
        if ((unsigned char)*p >= 0x80) {
            rc = rp_error_set(err, RP_EINVAL, "host \"%s\" is not ASCII: use its IDNA (xn--) form",
                              t->host);
            goto out;
        }
    }
    host_key(t->host, key, sizeof(key));
    rc = load_allow(policy, key, &al, err);
    if (rc < 0)
        goto out;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST;
    /* "127.0.0.1." is still an address: judge the dot-less form */
    if (getaddrinfo(key, NULL, &hints, &res) == 0) {
        t->literal = true;
    } else {
        res = NULL;
        why = name_refused(key);
        if (why && !al.host_allowed) {
            rc = rp_error_set(err, RP_EFORBIDDEN, "destination host \"%s\" is refused: %s", t->host,
                              why);
            goto out;
        }
        if (policy && policy->resolve) {
            rc = resolve_with(policy, t, &al, err);
            if (rc < 0)
                goto out;
        } else {
            hints.ai_flags = 0;
            int gai = getaddrinfo(t->host, NULL, &hints, &res);
            if (gai != 0) {
                res = NULL;
                rc = rp_error_set(err, RP_EIO, "could not resolve host \"%s\": %s", t->host,
                                  gai_strerror(gai));
                goto out;
            }
        }
    }

    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        struct rp_outbound_addr a;
        if (!addr_from_sockaddr(ai->ai_addr, &a))
            continue;
        rc = vet(t, &al, &a, err);
        if (rc < 0)
            goto out;
    }
    if (t->naddrs == 0) {
        rc = rp_error_set(err, RP_EIO, "host \"%s\" has no IP address", t->host);
        goto out;
    }
    rc = 0;
    goto out;

too_long:
    rc = rp_error_set(err, RP_EINVAL, "URL host is longer than %d bytes", RP_OUTBOUND_HOST_MAX - 1);
out:
    if (res)
        freeaddrinfo(res);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(part);
    return rc;
}

static int parse_url(const char *url, CURLU **out, struct rp_error *err)
{
    CURLU *u;
    CURLUcode uc;

    *out = NULL;
    if (!url || url[0] == '\0')
        return rp_error_set(err, RP_EINVAL, "URL is empty");
    if (strlen(url) > 8192)
        return rp_error_set(err, RP_EINVAL, "URL is longer than 8192 bytes");
    u = curl_url();
    if (!u)
        abort();
    uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (uc != CURLUE_OK) {
        curl_url_cleanup(u);
        return rp_error_set(err, RP_EINVAL, "URL is malformed: %s", curl_url_strerror(uc));
    }
    *out = u;
    return 0;
}

int rp_outbound_check_url(const char *url, const struct rp_outbound_policy *policy,
                          struct rp_outbound_target *target, struct rp_error *err)
{
    struct rp_outbound_target scratch;
    CURLU *u = NULL;
    int rc = rp_outbound_curl_ready(err);
    if (rc < 0)
        return rc;
    rc = parse_url(url, &u, err);
    if (rc < 0)
        return rc;
    rc = check_parsed(u, policy, target ? target : &scratch, err);
    curl_url_cleanup(u);
    return rc;
}

/* ---- signatures ----------------------------------------------------------- */

static void mac_of(const uint8_t *key, size_t keylen, int64_t t_s, const char *body, size_t len,
                   uint8_t mac[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;
    char ts[24];
    int n = snprintf(ts, sizeof(ts), "%lld.", (long long)t_s);

    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)ts, (unsigned long long)n);
    if (len > 0)
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)body, (unsigned long long)len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof(st));
}

int rp_outbound_sign(const uint8_t *key, size_t keylen, int64_t t_s, const char *body, size_t len,
                     char out[RP_OUTBOUND_SIG_MAX])
{
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    char hex[2 * crypto_auth_hmacsha256_BYTES + 1];

    if (!key || keylen == 0 || t_s < 0)
        return RP_EINVAL;
    if (sodium_init() < 0)
        abort();
    mac_of(key, keylen, t_s, body, len, mac);
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    return snprintf(out, RP_OUTBOUND_SIG_MAX, "t=%lld,v1=%s", (long long)t_s, hex);
}

int rp_outbound_verify(const uint8_t *key, size_t keylen, const char *header, const char *body,
                       size_t len, int64_t now_s, int64_t tolerance_s)
{
    uint8_t want[crypto_auth_hmacsha256_BYTES], got[crypto_auth_hmacsha256_BYTES];
    const char *p = header;
    int64_t t = -1;
    size_t nv1 = 0;
    const char *v1[8];
    bool ok = false;

    if (!key || keylen == 0 || !header)
        return RP_EINVAL;
    if (sodium_init() < 0)
        abort();
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 2 && p[0] == 't' && p[1] == '=') {
            if (t >= 0 || n - 2 > 18)
                return RP_EINVAL;
            t = 0;
            for (size_t i = 2; i < n; i++) {
                if (!isdigit((unsigned char)p[i]))
                    return RP_EINVAL;
                t = t * 10 + (p[i] - '0');
            }
        } else if (n > 3 && memcmp(p, "v1=", 3) == 0) {
            if (n - 3 != 2 * crypto_auth_hmacsha256_BYTES || nv1 == 8)
                return RP_EINVAL;
            v1[nv1++] = p + 3;
        }
        /* other members (future schemes) are ignored */
        p += n;
        if (*p == ',')
            p++;
    }
    if (t < 0 || nv1 == 0)
        return RP_EINVAL;
    if (t > now_s + tolerance_s || t < now_s - tolerance_s)
        return RP_EUNAUTH;
    mac_of(key, keylen, t, body, len, want);
    for (size_t i = 0; i < nv1; i++) {
        size_t binlen = 0;
        if (sodium_hex2bin(got, sizeof(got), v1[i], 2 * crypto_auth_hmacsha256_BYTES, NULL, &binlen,
                           NULL) != 0 ||
            binlen != sizeof(got))
            return RP_EINVAL;
        if (sodium_memcmp(got, want, sizeof(want)) == 0)
            ok = true;
    }
    return ok ? 0 : RP_EUNAUTH;
}

/* ---- the POST ------------------------------------------------------------- */

struct post_ctx {
    const struct rp_outbound_target *target;
    struct rp_buf *out; /* may be NULL */
    size_t cap;         /* bytes of body kept at most */
    size_t got;         /* bytes of body seen */
    bool truncated;
    bool unvetted; /* the socket callback refused an address */
    char unvetted_ip[48];
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct post_ctx *c = userp;
    size_t n = size * nmemb, room = c->cap - c->got;
    if (n > room) {
        if (c->out)
            rp_buf_add(c->out, data, room);
        c->got = c->cap;
        c->truncated = true;
        return 0; /* ends the transfer: the rest is not wanted */
    }
    if (c->out)
        rp_buf_add(c->out, data, n);
    c->got += n;
    return n;
}

static curl_socket_t open_vetted(void *userp, curlsocktype purpose, struct curl_sockaddr *sa)
{
    struct post_ctx *c = userp;
    struct rp_outbound_addr a;

    if (purpose != CURLSOCKTYPE_IPCXN || !addr_from_sockaddr(&sa->addr, &a) ||
        !addr_in(c->target, &a)) {
        c->unvetted = true;
        if (purpose == CURLSOCKTYPE_IPCXN && (sa->family == AF_INET || sa->family == AF_INET6))
            addr_text(&a, c->unvetted_ip, sizeof(c->unvetted_ip));
        return CURL_SOCKET_BAD;
    }
    return socket(sa->family, sa->socktype | SOCK_CLOEXEC, sa->protocol);
}

static bool header_name_ok(const char *s)
{
    static const char *const reserved[] = {"host",       "content-length", "transfer-encoding",
                                           "connection", "expect",         "content-type"};
    if (!s || *s == '\0' || strlen(s) > 128)
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-.^_`|~", *p))
            return false;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcasecmp(s, reserved[i]) == 0)
            return false;
    return true;
}

static bool header_value_ok(const char *s)
{
    if (!s || strlen(s) > 4096)
        return false;
    for (const char *p = s; *p; p++)
        if (*p == '\r' || *p == '\n')
            return false;
    return true;
}

static struct curl_slist *slist_add(struct curl_slist *l, const char *s)
{
    struct curl_slist *n = curl_slist_append(l, s);
    if (!n)
        abort();
    return n;
}

/* "host:port:addr,addr" for CURLOPT_RESOLVE; IPv6 addresses in brackets. */
static void resolve_entry(struct rp_buf *b, const char *host, const struct rp_outbound_target *t)
{
    rp_buf_addf(b, "%s:%u:", host, (unsigned)t->port);
    for (size_t i = 0; i < t->naddrs; i++) {
        char ip[64];
        addr_text(&t->addrs[i], ip, sizeof(ip));
        rp_buf_addf(b, t->addrs[i].family == AF_INET6 ? "%s[%s]" : "%s%s", i ? "," : "", ip);
    }
}

static enum rp_outbound_failure classify(CURLcode cc)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return RP_OUTBOUND_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
        return RP_OUTBOUND_CONNECT;
    case CURLE_COULDNT_RESOLVE_HOST:
        return RP_OUTBOUND_DNS;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
        return RP_OUTBOUND_TLS;
    default:
        return RP_OUTBOUND_OTHER;
    }
}

static int transfer_error(CURLcode cc, const struct post_ctx *c, const char *errbuf,
                          const struct rp_outbound_request *req, int64_t elapsed_ms,
                          enum rp_outbound_failure *failure, struct rp_error *err)
{
    const char *host = c->target->host;
    const char *msg = errbuf[0] ? errbuf : curl_easy_strerror(cc);

    *failure = classify(cc);
    if (c->unvetted) {
        *failure = RP_OUTBOUND_REFUSED_URL;
        return rp_error_set(err, RP_EFORBIDDEN,
                            "connection to \"%s\" refused: %s is not an address the check vetted",
                            host, c->unvetted_ip);
    }
    switch (*failure) {
    case RP_OUTBOUND_TIMEOUT:
        return rp_error_set(
            err, RP_ETIMEOUT,
            "request to \"%s\" timed out after %lld ms (connect limit %ld ms, total limit %ld ms)",
            host, (long long)elapsed_ms, req->connect_timeout_ms, req->total_timeout_ms);
    case RP_OUTBOUND_CONNECT:
        return rp_error_set(err, RP_EIO, "could not connect to \"%s\" port %u: %s", host,
                            (unsigned)c->target->port, msg);
    case RP_OUTBOUND_TLS:
        return rp_error_set(err, RP_EIO, "TLS error talking to \"%s\": %s", host, msg);
    case RP_OUTBOUND_DNS:
        return rp_error_set(err, RP_EIO, "could not resolve host \"%s\": %s", host, msg);
    default:
        return rp_error_set(err, RP_EIO, "request to \"%s\" failed: %s", host, msg);
    }
}

int rp_outbound_post(const struct rp_outbound_request *req_in,
                     const struct rp_outbound_policy *policy, struct rp_outbound_response *resp,
                     struct rp_buf *body_out, struct rp_error *err)
{
    int rc;
    struct rp_outbound_request req = *req_in;
    struct rp_outbound_response scratch;
    struct rp_outbound_target target;
    struct post_ctx ctx;
    struct curl_slist *headers = NULL, *resolve = NULL;
    struct rp_buf line;
    char errbuf[CURL_ERROR_SIZE];
    char key[RP_OUTBOUND_HOST_MAX];
    CURLU *u = NULL;
    CURL *h = NULL;
    CURLcode cc;
    int64_t t0 = rp_clock_monotonic_us();

    if (!resp)
        resp = &scratch;
    memset(resp, 0, sizeof(*resp));
    rp_buf_init(&line, NULL, 16384);
    if (req.connect_timeout_ms <= 0)
        req.connect_timeout_ms = RP_OUTBOUND_CONNECT_MS;
    if (req.total_timeout_ms <= 0)
        req.total_timeout_ms = RP_OUTBOUND_TOTAL_MS;
    if (req.max_response_bytes == 0)
        req.max_response_bytes = RP_OUTBOUND_MAX_RESPONSE;

    resp->failure = RP_OUTBOUND_REFUSED_URL;
    rc = rp_outbound_curl_ready(err);
    if (rc < 0)
        goto out;
    rc = parse_url(req.url, &u, err);
    if (rc < 0)
        goto out;
    rc = check_parsed(u, policy, &target, err);
    if (rc < 0) {
        if (rc == RP_EIO)
            resp->failure = RP_OUTBOUND_DNS;
        goto out;
    }
    if (req.nheaders > RP_OUTBOUND_MAX_HEADERS) {
        rc = rp_error_set(err, RP_EINVAL, "request has %zu headers, more than %d", req.nheaders,
                          RP_OUTBOUND_MAX_HEADERS);
        goto out;
    }
    headers = slist_add(headers, "Content-Type: application/json");
    headers = slist_add(headers, "Expect:"); /* no 100-continue round trip */
    for (size_t i = 0; i < req.nheaders; i++) {
        const struct rp_outbound_header *hd = &req.headers[i];
        if (!header_name_ok(hd->name) || !header_value_ok(hd->value)) {
            rc = rp_error_set(err, RP_EINVAL, "request header \"%s\" is not allowed",
                              hd->name ? hd->name : "");
            goto out;
        }
        rp_buf_reset(&line);
        rp_buf_addf(&line, "%s: %s", hd->name, hd->value);
        headers = slist_add(headers, line.data);
    }
    /* Pinned even for literals: a literal with a trailing dot may still be looked up. */
    {
        host_key(target.host, key, sizeof(key));
        rp_buf_reset(&line);
        resolve_entry(&line, key, &target);
        resolve = slist_add(resolve, line.data);
        rp_buf_reset(&line);
        resolve_entry(&line, "*", &target);
        resolve = slist_add(resolve, line.data);
    }

    memset(&ctx, 0, sizeof(ctx));
    ctx.target = &target;
    ctx.out = body_out;
    ctx.cap = req.max_response_bytes;
    errbuf[0] = '\0';

    h = curl_easy_init();
    if (!h) {
        rc = rp_error_set(err, RP_EINTERNAL, "could not create a libcurl handle");
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_CURLU, u);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, req.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req.total_timeout_ms);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body ? req.body : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req.body ? req.body_len : 0));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "Rapport-Webhooks/" RP_VERSION);
    if (resolve)
        curl_easy_setopt(h, CURLOPT_RESOLVE, resolve);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_vetted);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &ctx);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &ctx);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);

    cc = curl_easy_perform(h);
    resp->elapsed_us = rp_clock_monotonic_us() - t0;
    {
        char *ip = NULL;
        if (curl_easy_getinfo(h, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip)
            snprintf(resp->remote_ip, sizeof(resp->remote_ip), "%s", ip);
    }
    if (cc == CURLE_WRITE_ERROR && ctx.truncated)
        cc = CURLE_OK;
    if (cc != CURLE_OK) {
        rc = transfer_error(cc, &ctx, errbuf, &req, resp->elapsed_us / 1000, &resp->failure, err);
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->truncated = ctx.truncated;
    resp->failure = RP_OUTBOUND_OK;
    if (resp->status < 100 || resp->status > 599) {
        resp->failure = RP_OUTBOUND_OTHER;
        rc =
            rp_error_set(err, RP_EIO, "response from \"%s\" has no valid HTTP status", target.host);
        goto out;
    }
    rc = (int)resp->status;

out:
    if (resp->elapsed_us == 0)
        resp->elapsed_us = rp_clock_monotonic_us() - t0;
    if (h)
        curl_easy_cleanup(h);
    curl_url_cleanup(u);
    curl_slist_free_all(headers);
    curl_slist_free_all(resolve);
    rp_buf_release(&line);
    return rc;
}
