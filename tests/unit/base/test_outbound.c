/*
 * Unit tests for src/base/outbound: SSRF vectors, the allow-list, webhook
 * signatures, and real deliveries to a libmicrohttpd receiver this test runs
 * on 127.0.0.1 (an ephemeral port, stopped by its handle at the end).
 * No test needs internet DNS: hosts are literals or names refused before any
 * lookup, and "localhost" comes from /etc/hosts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/outbound.h"

/* ---- URL checks ----------------------------------------------------------- */

static int check(const char *url, const struct rp_outbound_policy *pol,
                 struct rp_outbound_target *t, const char **detail, struct rp_arena *a)
{
    struct rp_error err;
    int rc;
    rp_error_init(&err, a);
    rc = rp_outbound_check_url(url, pol, t, &err);
    if (detail)
        *detail = err.detail;
    return rc;
}

struct vector {
    const char *url;
    int code; /* expected refusal */
};

/* Every one of these must be refused without an allow-list. */
static const struct vector ssrf_vectors[] = {
    {"http://127.0.0.1/", RP_EFORBIDDEN},
    {"http://127.0.0.1:8080/hook", RP_EFORBIDDEN},
    {"https://127.0.0.1:443/", RP_EFORBIDDEN},
    {"http://127.255.255.254/", RP_EFORBIDDEN},
    {"http://2130706433/", RP_EFORBIDDEN},      /* decimal */
    {"http://0177.0.0.1/", RP_EFORBIDDEN},      /* octal */
    {"http://0177.1/", RP_EFORBIDDEN},          /* octal, short */
    {"http://0x7f.1/", RP_EFORBIDDEN},          /* hex, short */
    {"http://0x7f000001/", RP_EFORBIDDEN},      /* hex */
    {"http://017700000001/", RP_EFORBIDDEN},    /* octal whole */
    {"http://127.1/", RP_EFORBIDDEN},           /* short */
    {"http://127.0.1/", RP_EFORBIDDEN},         /* short */
    {"http://127.0.0.1./", RP_EFORBIDDEN},      /* trailing dot */
    {"http://%31%32%37.0.0.1/", RP_EFORBIDDEN}, /* percent-encoded */
    {"http://0/", RP_EFORBIDDEN},
    {"http://0.0.0.0:80/", RP_EFORBIDDEN},
    {"http://[::1]/", RP_EFORBIDDEN},
    {"http://[0:0:0:0:0:0:0:1]/", RP_EFORBIDDEN},
    {"http://[::]/", RP_EFORBIDDEN},
    {"http://[::ffff:127.0.0.1]/", RP_EFORBIDDEN},         /* IPv4-mapped */
    {"http://[::ffff:7f00:1]/", RP_EFORBIDDEN},            /* IPv4-mapped, hex */
    {"http://[0:0:0:0:0:ffff:127.0.0.1]/", RP_EFORBIDDEN}, /* IPv4-mapped, long */
    {"http://[::127.0.0.1]/", RP_EFORBIDDEN},              /* IPv4-compatible */
    {"http://[64:ff9b::127.0.0.1]/", RP_EFORBIDDEN},       /* NAT64 */
    {"http://[64:ff9b::a9fe:a9fe]/", RP_EFORBIDDEN},       /* NAT64 metadata */
    {"http://[2002:7f00:1::]/", RP_EFORBIDDEN},            /* 6to4 loopback */
    {"http://[2002:a9fe:a9fe::1]/", RP_EFORBIDDEN},        /* 6to4 metadata */
    {"http://[::ffff:10.0.0.1]/", RP_EFORBIDDEN},          /* mapped private */
    {"http://[::ffff:169.254.169.254]/", RP_EFORBIDDEN},   /* mapped metadata */
    {"http://169.254.169.254/latest/meta-data/", RP_EFORBIDDEN},
    {"http://2852039166/", RP_EFORBIDDEN},          /* 169.254.169.254 decimal */
    {"http://0xa9.0xfe.0xa9.0xfe/", RP_EFORBIDDEN}, /* 169.254.169.254 hex */
    {"http://0251.0376.0251.0376/", RP_EFORBIDDEN}, /* 169.254.169.254 octal */
    {"http://169.254.1.1/", RP_EFORBIDDEN},
    {"http://10.0.0.1/", RP_EFORBIDDEN},
    {"http://10.255.255.53/", RP_EFORBIDDEN},
    {"http://172.16.0.1/", RP_EFORBIDDEN},
    {"http://172.31.255.255/", RP_EFORBIDDEN},
    {"http://192.168.1.1/", RP_EFORBIDDEN},
    {"http://100.64.0.1/", RP_EFORBIDDEN}, /* CGNAT */
    {"http://100.127.255.255/", RP_EFORBIDDEN},
    {"http://224.0.0.1/", RP_EFORBIDDEN}, /* multicast */
    {"http://239.255.255.250/", RP_EFORBIDDEN},
    {"http://240.0.0.1/", RP_EFORBIDDEN},       /* reserved */
    {"http://255.255.255.255/", RP_EFORBIDDEN}, /* broadcast */
    {"http://192.0.2.1/", RP_EFORBIDDEN},       /* documentation */
    {"http://198.18.0.1/", RP_EFORBIDDEN},      /* benchmarking */
    {"http://[fc00::1]/", RP_EFORBIDDEN},
    {"http://[fd12:3456:789a::1]/", RP_EFORBIDDEN},
    {"http://[fe80::1]/", RP_EFORBIDDEN},
    {"http://[fe80::1%25eth0]/", RP_EFORBIDDEN},      /* zone id */
    {"http://[FE80::ABCD]/", RP_EFORBIDDEN},          /* upper case */
    {"http://[fec0::1]/", RP_EFORBIDDEN},             /* site-local */
    {"http://[ff02::1]/", RP_EFORBIDDEN},             /* multicast */
    {"http://[100::1]/", RP_EFORBIDDEN},              /* discard-only */
    {"http://[2001:db8::1]/", RP_EFORBIDDEN},         /* documentation */
    {"http://[2001:0:4136:e378::1]/", RP_EFORBIDDEN}, /* Teredo */
    {"http://localhost/", RP_EFORBIDDEN},
    {"http://LOCALHOST./", RP_EFORBIDDEN},
    {"http://LocalHost:8080/", RP_EFORBIDDEN},
    {"http://%6c%6f%63alhost/", RP_EFORBIDDEN},
    {"http://foo.localhost/", RP_EFORBIDDEN},
    {"http://metadata.google.internal/computeMetadata/v1/", RP_EFORBIDDEN},
    {"http://METADATA.GOOGLE.INTERNAL./", RP_EFORBIDDEN},
    {"http://metadata/", RP_EFORBIDDEN},
    {"http://printer.local/", RP_EFORBIDDEN},
    {"http://db.internal/", RP_EFORBIDDEN},
    {"http://intranet/", RP_EFORBIDDEN}, /* single label */
    {"ftp://example.com/", RP_EINVAL},
    {"file:///etc/passwd", RP_EINVAL},
    {"gopher://127.0.0.1:70/", RP_EINVAL},
    {"dict://127.0.0.1:11211/", RP_EINVAL},
    {"http://user:pw@example.com/", RP_EINVAL},
    {"http://127.0.0.1:8080@example.com/", RP_EINVAL}, /* userinfo that looks like a host */
    {"http://@example.com/", RP_EINVAL},
    {"http://example.com:0/", RP_EINVAL},
    {"http://example.com:65536/", RP_EINVAL},
    {"http://a b/", RP_EINVAL},
    {"http://例子.测试/", RP_EINVAL}, /* must be given in its xn-- form */
    {"", RP_EINVAL},
};

static void test_ssrf_vectors_refused(void **state)
{
    struct rp_arena a;
    (void)state;
    rp_arena_init(&a);
    assert_true(sizeof(ssrf_vectors) / sizeof(ssrf_vectors[0]) >= 40);
    for (size_t i = 0; i < sizeof(ssrf_vectors) / sizeof(ssrf_vectors[0]); i++) {
        const char *detail = NULL;
        int rc = check(ssrf_vectors[i].url, NULL, NULL, &detail, &a);
        if (rc != ssrf_vectors[i].code)
            fail_msg("%s: got %s (%s), want %s", ssrf_vectors[i].url, rp_err_name(rc),
                     detail ? detail : "-", rp_err_name(ssrf_vectors[i].code));
        assert_non_null(detail);
    }
    rp_arena_release(&a);
}

static void test_refusal_names_reason(void **state)
{
    struct rp_arena a;
    const char *detail;
    (void)state;
    rp_arena_init(&a);
    assert_int_equal(check("http://0x7f.1/", NULL, NULL, &detail, &a), RP_EFORBIDDEN);
    assert_string_equal(
        detail, "destination host \"127.0.0.1\" is refused: 127.0.0.1 is a loopback address");
    assert_int_equal(check("http://169.254.169.254/", NULL, NULL, &detail, &a), RP_EFORBIDDEN);
    assert_non_null(strstr(detail, "metadata"));
    assert_int_equal(check("http://[::ffff:10.1.2.3]/", NULL, NULL, &detail, &a), RP_EFORBIDDEN);
    assert_non_null(strstr(detail, "IPv4-mapped"));
    rp_arena_release(&a);
}

static void test_public_literals_pass(void **state)
{
    static const struct {
        const char *url;
        const char *addr;
        unsigned port;
    } ok[] = {
        {"http://8.8.8.8/", "8.8.8.8", 80},
        {"https://1.1.1.1:8443/hooks?x=1", "1.1.1.1", 8443},
        {"http://134744072/", "8.8.8.8", 80}, /* decimal spelling of a public address */
        {"http://93.184.216.34./", "93.184.216.34", 80},
        {"https://[2606:4700:4700::1111]/", "2606:4700:4700::1111", 443},
        {"http://[2001:4860:4860::8888]:8080/", "2001:4860:4860::8888", 8080},
        {"http://[::ffff:8.8.4.4]/", "::ffff:8.8.4.4", 80},
        {"http://[64:ff9b::808:808]/", "64:ff9b::808:808", 80},
        {"http://[2002:808:808::1]/", "2002:808:808::1", 80},
        {"http://172.32.0.1/", "172.32.0.1", 80},   /* just past 172.16/12 */
        {"http://100.128.0.1/", "100.128.0.1", 80}, /* just past 100.64/10 */
    };
    struct rp_arena a;
    (void)state;
    rp_arena_init(&a);
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct rp_outbound_target t;
        const char *detail = NULL;
        char text[64];
        int rc = check(ok[i].url, NULL, &t, &detail, &a);
        if (rc != 0)
            fail_msg("%s: %s (%s)", ok[i].url, rp_err_name(rc), detail);
        assert_true(t.literal);
        assert_int_equal(t.naddrs, 1);
        assert_int_equal(t.port, ok[i].port);
        assert_non_null(inet_ntop(t.addrs[0].family, t.addrs[0].bytes, text, sizeof(text)));
        assert_string_equal(text, ok[i].addr);
    }
    rp_arena_release(&a);
}

static void test_allow_list(void **state)
{
    static const char *const loop[] = {"127.0.0.1"};
    static const char *const ten[] = {"10.0.0.0/8", "::1/128"};
    static const char *const byname[] = {"LocalHost."};
    static const char *const bad1[] = {"10.0.0.0/33"};
    static const char *const bad2[] = {"not a host!"};
    struct rp_outbound_policy p_loop = {.allow = loop, .nallow = 1},
                              p_ten = {.allow = ten, .nallow = 2},
                              p_name = {.allow = byname, .nallow = 1};
    struct rp_outbound_policy p_bad1 = {.allow = bad1, .nallow = 1},
                              p_bad2 = {.allow = bad2, .nallow = 1};
    struct rp_outbound_target t;
    struct rp_arena a;
    (void)state;
    rp_arena_init(&a);

    /* a single address admits every spelling of it, and nothing else */
    assert_int_equal(check("http://127.0.0.1:9/", &p_loop, &t, NULL, &a), 0);
    assert_int_equal(check("http://2130706433:9/", &p_loop, &t, NULL, &a), 0);
    assert_int_equal(check("http://[::ffff:127.0.0.1]/", &p_loop, &t, NULL, &a), 0);
    assert_int_equal(check("http://127.0.0.2/", &p_loop, &t, NULL, &a), RP_EFORBIDDEN);
    assert_int_equal(check("http://10.0.0.1/", &p_loop, &t, NULL, &a), RP_EFORBIDDEN);
    assert_int_equal(check("http://localhost/", &p_loop, &t, NULL, &a), RP_EFORBIDDEN);

    /* ranges */
    assert_int_equal(check("http://10.1.2.3/", &p_ten, &t, NULL, &a), 0);
    assert_int_equal(check("http://[::1]:8080/", &p_ten, &t, NULL, &a), 0);
    assert_int_equal(check("http://192.168.0.1/", &p_ten, &t, NULL, &a), RP_EFORBIDDEN);
    assert_int_equal(check("http://[::2]/", &p_ten, &t, NULL, &a), RP_EFORBIDDEN);

    /* a host name entry admits that name, resolved (here from /etc/hosts) and kept */
    assert_int_equal(check("http://localhost:1234/", &p_name, &t, NULL, &a), 0);
    assert_false(t.literal);
    assert_true(t.naddrs >= 1);
    for (size_t i = 0; i < t.naddrs; i++)
        assert_true(rp_outbound_addr_refused(&t.addrs[i], NULL)); /* loopback, admitted */
    assert_int_equal(check("http://127.0.0.1/", &p_name, &t, NULL, &a), RP_EFORBIDDEN);

    assert_int_equal(check("http://8.8.8.8/", &p_bad1, &t, NULL, &a), RP_EINVAL);
    assert_int_equal(check("http://8.8.8.8/", &p_bad2, &t, NULL, &a), RP_EINVAL);
    rp_arena_release(&a);
}

/* A resolver standing in for DNS: answers every name with the listed addresses. */
struct fake_dns {
    const char *ips[4];
    size_t n;
    int calls;
};

static int fake_resolve(void *ctx, const char *host, struct rp_outbound_addr *addrs, size_t max,
                        size_t *n)
{
    struct fake_dns *d = ctx;
    (void)host;
    d->calls++;
    *n = 0;
    for (size_t i = 0; i < d->n && *n < max; i++) {
        struct rp_outbound_addr *a = &addrs[*n];
        memset(a, 0, sizeof(*a));
        if (inet_pton(AF_INET, d->ips[i], a->bytes) == 1)
            a->family = AF_INET;
        else if (inet_pton(AF_INET6, d->ips[i], a->bytes) == 1)
            a->family = AF_INET6;
        else
            return -1;
        (*n)++;
    }
    return d->n ? 0 : -1;
}

static void test_resolved_names(void **state)
{
    static const char *const loopnet[] = {"127.0.0.0/8"};
    struct fake_dns loop = {{"127.0.0.1"}, 1, 0};
    struct fake_dns mixed = {{"8.8.8.8", "10.0.0.1"}, 2, 0};
    struct fake_dns mapped = {{"2606:4700:4700::1111", "::ffff:169.254.169.254"}, 2, 0};
    struct fake_dns public2 = {{"8.8.8.8", "2606:4700:4700::1111"}, 2, 0};
    struct fake_dns none = {{NULL}, 0, 0};
    struct rp_outbound_policy p = {NULL, 0, fake_resolve, NULL};
    struct rp_outbound_target t;
    struct rp_arena a;
    const char *detail;
    (void)state;
    rp_arena_init(&a);

    /* a public-looking name that resolves to loopback */
    p.resolve_ctx = &loop;
    assert_int_equal(check("https://hooks.example.com/x", &p, &t, &detail, &a), RP_EFORBIDDEN);
    assert_string_equal(detail, "destination host \"hooks.example.com\" is refused: 127.0.0.1 is "
                                "a loopback address");
    assert_int_equal(loop.calls, 1);
    /* one bad address among good ones is enough */
    p.resolve_ctx = &mixed;
    assert_int_equal(check("https://hooks.example.com/x", &p, &t, NULL, &a), RP_EFORBIDDEN);
    p.resolve_ctx = &mapped;
    assert_int_equal(check("https://hooks.example.com/x", &p, &t, NULL, &a), RP_EFORBIDDEN);
    p.resolve_ctx = &none;
    assert_int_equal(check("https://hooks.example.com/x", &p, &t, NULL, &a), RP_EIO);
    /* all public: every address is kept for the POST */
    p.resolve_ctx = &public2;
    assert_int_equal(check("https://hooks.example.com/x", &p, &t, NULL, &a), 0);
    assert_false(t.literal);
    assert_int_equal(t.naddrs, 2);
    assert_int_equal(t.addrs[0].family, AF_INET);
    assert_int_equal(t.addrs[1].family, AF_INET6);
    /* a range admits the loopback answer; names refused by name never reach the resolver */
    p.allow = loopnet;
    p.nallow = 1;
    p.resolve_ctx = &loop;
    assert_int_equal(check("https://hooks.example.com/x", &p, &t, NULL, &a), 0);
    assert_int_equal(check("http://metadata.google.internal/", &p, &t, NULL, &a), RP_EFORBIDDEN);
    assert_int_equal(loop.calls, 2);
    rp_arena_release(&a);
}

/* ---- signatures ----------------------------------------------------------- */

static void test_signatures(void **state)
{
    const uint8_t key[] = "whsec_test";
    const size_t klen = sizeof(key) - 1;
    const char body[] = "{\"a\":1}";
    char sig[RP_OUTBOUND_SIG_MAX], bad[RP_OUTBOUND_SIG_MAX], two[2 * RP_OUTBOUND_SIG_MAX];
    const int64_t t = 1700000000;
    (void)state;

    /* expected value computed independently (Python hmac, SHA-256) */
    assert_int_equal(rp_outbound_sign(key, klen, t, body, strlen(body), sig), 80);
    assert_string_equal(
        sig, "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
    assert_int_equal(rp_outbound_verify(key, klen, sig, body, strlen(body), t + 10, 300), 0);

    /* tampered body, key, timestamp, MAC */
    assert_int_equal(rp_outbound_verify(key, klen, sig, "{\"a\":2}", 7, t, 300), RP_EUNAUTH);
    assert_int_equal(rp_outbound_verify((const uint8_t *)"other", 5, sig, body, 7, t, 300),
                     RP_EUNAUTH);
    snprintf(bad, sizeof(bad), "%s", sig);
    bad[11] = '1'; /* t=1700000001 */
    assert_int_equal(rp_outbound_verify(key, klen, bad, body, 7, t, 300), RP_EUNAUTH);
    snprintf(bad, sizeof(bad), "%s", sig);
    bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
    assert_int_equal(rp_outbound_verify(key, klen, bad, body, 7, t, 300), RP_EUNAUTH);

    /* stale or from the future */
    assert_int_equal(rp_outbound_verify(key, klen, sig, body, 7, t + 301, 300), RP_EUNAUTH);
    assert_int_equal(rp_outbound_verify(key, klen, sig, body, 7, t - 301, 300), RP_EUNAUTH);

    /* malformed */
    assert_int_equal(rp_outbound_verify(key, klen, "", body, 7, t, 300), RP_EINVAL);
    assert_int_equal(rp_outbound_verify(key, klen, "t=1700000000", body, 7, t, 300), RP_EINVAL);
    assert_int_equal(rp_outbound_verify(key, klen, "t=17x,v1=00", body, 7, t, 300), RP_EINVAL);
    assert_int_equal(rp_outbound_verify(key, klen, "v1=abc", body, 7, t, 300), RP_EINVAL);

    /* rotation: a second v1 signed with the new secret also verifies */
    char sig2[RP_OUTBOUND_SIG_MAX];
    assert_true(rp_outbound_sign((const uint8_t *)"new", 3, t, body, 7, sig2) > 0);
    snprintf(two, sizeof(two), "%s,%s", sig, strchr(sig2, ',') + 1);
    assert_int_equal(rp_outbound_verify(key, klen, two, body, 7, t, 300), 0);
    assert_int_equal(rp_outbound_verify((const uint8_t *)"new", 3, two, body, 7, t, 300), 0);

    assert_int_equal(rp_outbound_sign(key, 0, t, body, 7, sig), RP_EINVAL);
    assert_int_equal(rp_outbound_sign(key, klen, -1, body, 7, sig), RP_EINVAL);
}

/* ---- a real receiver on 127.0.0.1 ---------------------------------------- */

struct receiver {
    struct MHD_Daemon *d;
    uint16_t port;
    pthread_mutex_t mu;
    int hits;
    char body[4096];
    size_t body_len;
    char sig[RP_OUTBOUND_SIG_MAX];
    char event_id[64];
    char user_agent[128];
    atomic_bool stopping;
};

struct upload {
    char data[4096];
    size_t len;
};

static void copy_header(struct MHD_Connection *c, const char *name, char *out, size_t n)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    snprintf(out, n, "%s", v ? v : "");
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *text,
                             size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;
    if (status == 302)
        MHD_add_response_header(r, "Location", "/ok");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    struct receiver *rv = cls;
    struct upload *up = *con_cls;
    (void)method;
    (void)version;

    if (!up) {
        up = calloc(1, sizeof(*up));
        *con_cls = up;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        if (n > sizeof(up->data) - up->len)
            n = sizeof(up->data) - up->len;
        memcpy(up->data + up->len, upload_data, n);
        up->len += n;
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&rv->mu);
    rv->hits++;
    memcpy(rv->body, up->data, up->len);
    rv->body_len = up->len;
    copy_header(c, "X-Rapport-Signature", rv->sig, sizeof(rv->sig));
    copy_header(c, "X-Rapport-Event-Id", rv->event_id, sizeof(rv->event_id));
    copy_header(c, "User-Agent", rv->user_agent, sizeof(rv->user_agent));
    pthread_mutex_unlock(&rv->mu);

    if (strcmp(url, "/slow") == 0) {
        /* sleeps past the client's timeout, but wakes promptly when the test stops */
        for (int i = 0; i < 60 && !atomic_load(&rv->stopping); i++)
            usleep(50 * 1000);
        return reply(c, 200, "late", 4);
    }
    if (strcmp(url, "/fail") == 0)
        return reply(c, 500, "boom", 4);
    if (strcmp(url, "/redirect") == 0)
        return reply(c, 302, "", 0);
    if (strcmp(url, "/big") == 0) {
        static char big[100000];
        memset(big, 'x', sizeof(big));
        return reply(c, 200, big, sizeof(big));
    }
    return reply(c, 200, "ok", 2);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static int receiver_start(void **state)
{
    struct receiver *rv = calloc(1, sizeof(*rv));
    struct sockaddr_in sin;
    const union MHD_DaemonInfo *info;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* loopback only */
    pthread_mutex_init(&rv->mu, NULL);
    rv->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                             NULL, NULL, on_request, rv, MHD_OPTION_SOCK_ADDR, &sin,
                             MHD_OPTION_NOTIFY_COMPLETED, on_done, rv, MHD_OPTION_END);
    if (!rv->d)
        return -1;
    info = MHD_get_daemon_info(rv->d, MHD_DAEMON_INFO_BIND_PORT);
    rv->port = info->port;
    *state = rv;
    return 0;
}

static int receiver_stop(void **state)
{
    struct receiver *rv = *state;
    atomic_store(&rv->stopping, true);
    MHD_stop_daemon(rv->d);
    pthread_mutex_destroy(&rv->mu);
    free(rv);
    return 0;
}

static const char *const allow_loopback[] = {"127.0.0.1"};
static const struct rp_outbound_policy pol_loopback = {allow_loopback, 1, NULL, NULL};

static int post(struct receiver *rv, const char *path, const char *scheme,
                const struct rp_outbound_policy *pol, struct rp_outbound_request *req,
                struct rp_outbound_response *resp, struct rp_buf *body, struct rp_error *err)
{
    char url[128];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%u%s", scheme, (unsigned)rv->port, path);
    req->url = url;
    return rp_outbound_post(req, pol, resp, body, err);
}

static void test_delivery_signed(void **state)
{
    struct receiver *rv = *state;
    const uint8_t key[] = "s3cret";
    const char body[] = "{\"event\":\"record.created\",\"object\":\"lead\",\"name\":\"张浩然\"}";
    char sig[RP_OUTBOUND_SIG_MAX];
    struct rp_outbound_header hdrs[2] = {
        {"X-Rapport-Signature", sig},
        {"X-Rapport-Event-Id", "0192f3c1-7a00-7000-8000-000000000001"}};
    struct rp_outbound_request req = {
        .body = body, .body_len = strlen(body), .headers = hdrs, .nheaders = 2};
    struct rp_outbound_response resp;
    struct rp_arena a;
    struct rp_error err;
    struct rp_buf out;
    int64_t now = 1795334400;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rp_buf_init(&out, &a, 1024);
    assert_true(rp_outbound_sign(key, 6, now, body, strlen(body), sig) > 0);
    assert_int_equal(post(rv, "/ok", "http", &pol_loopback, &req, &resp, &out, &err), 200);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.failure, RP_OUTBOUND_OK);
    assert_string_equal(resp.remote_ip, "127.0.0.1");
    assert_string_equal(out.data, "ok");
    assert_false(resp.truncated);

    pthread_mutex_lock(&rv->mu);
    assert_int_equal(rv->body_len, strlen(body));
    assert_memory_equal(rv->body, body, strlen(body));
    assert_string_equal(rv->event_id, "0192f3c1-7a00-7000-8000-000000000001");
    assert_non_null(strstr(rv->user_agent, "Rapport-Webhooks/"));
    /* what the receiver got verifies; the same header on another body does not */
    assert_int_equal(rp_outbound_verify(key, 6, rv->sig, rv->body, rv->body_len, now, 300), 0);
    assert_int_equal(rp_outbound_verify(key, 6, rv->sig, "{}", 2, now, 300), RP_EUNAUTH);
    pthread_mutex_unlock(&rv->mu);
    rp_arena_release(&a);
}

static void test_delivery_statuses(void **state)
{
    struct receiver *rv = *state;
    struct rp_outbound_request req = {.body = "{}", .body_len = 2};
    struct rp_outbound_response resp;
    struct rp_arena a;
    struct rp_error err;
    struct rp_buf out;
    int hits;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    assert_int_equal(post(rv, "/fail", "http", &pol_loopback, &req, &resp, NULL, &err), 500);
    assert_int_equal(resp.failure, RP_OUTBOUND_OK);

    /* redirects are answered, never followed */
    pthread_mutex_lock(&rv->mu);
    hits = rv->hits;
    pthread_mutex_unlock(&rv->mu);
    assert_int_equal(post(rv, "/redirect", "http", &pol_loopback, &req, &resp, NULL, &err), 302);
    pthread_mutex_lock(&rv->mu);
    assert_int_equal(rv->hits, hits + 1);
    pthread_mutex_unlock(&rv->mu);

    /* a large response is cut at the cap; the status still counts */
    rp_buf_init(&out, &a, 1 << 20);
    req.max_response_bytes = 1000;
    assert_int_equal(post(rv, "/big", "http", &pol_loopback, &req, &resp, &out, &err), 200);
    assert_true(resp.truncated);
    assert_int_equal(out.len, 1000);
    rp_arena_release(&a);
}

static void test_delivery_timeout(void **state)
{
    struct receiver *rv = *state;
    struct rp_outbound_request req = {.body = "{}", .body_len = 2, .total_timeout_ms = 300};
    struct rp_outbound_response resp;
    struct rp_arena a;
    struct rp_error err;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    assert_int_equal(post(rv, "/slow", "http", &pol_loopback, &req, &resp, NULL, &err),
                     RP_ETIMEOUT);
    assert_int_equal(resp.failure, RP_OUTBOUND_TIMEOUT);
    assert_int_equal(resp.status, 0);
    assert_true(resp.elapsed_us >= 250000 && resp.elapsed_us < 2500000);
    assert_non_null(strstr(err.detail, "timed out"));
    rp_arena_release(&a);
}

static void test_delivery_refusals(void **state)
{
    struct receiver *rv = *state;
    struct rp_outbound_request req = {.body = "{}", .body_len = 2};
    struct rp_outbound_header crlf = {"X-Evil", "a\r\nHost: other"};
    struct rp_outbound_header host = {"Host", "other"};
    struct rp_outbound_response resp;
    struct rp_arena a;
    struct rp_error err;
    int hits;

    rp_arena_init(&a);
    pthread_mutex_lock(&rv->mu);
    hits = rv->hits;
    pthread_mutex_unlock(&rv->mu);

    /* without the allow-list the receiver is unreachable */
    rp_error_init(&err, &a);
    assert_int_equal(post(rv, "/ok", "http", NULL, &req, &resp, NULL, &err), RP_EFORBIDDEN);
    assert_int_equal(resp.failure, RP_OUTBOUND_REFUSED_URL);

    /* header injection */
    rp_error_init(&err, &a);
    req.headers = &crlf;
    req.nheaders = 1;
    assert_int_equal(post(rv, "/ok", "http", &pol_loopback, &req, &resp, NULL, &err), RP_EINVAL);
    rp_error_init(&err, &a);
    req.headers = &host;
    assert_int_equal(post(rv, "/ok", "http", &pol_loopback, &req, &resp, NULL, &err), RP_EINVAL);
    req.nheaders = 0;

    pthread_mutex_lock(&rv->mu);
    assert_int_equal(rv->hits, hits);
    pthread_mutex_unlock(&rv->mu);

    rp_arena_release(&a);
}

/*
 * A server that answers a TLS ClientHello with plain HTTP. It reads first, so
 * the answer always meets a handshake in progress: a deterministic TLS error
 * (the libmicrohttpd receiver may instead wait for a line end that random
 * handshake bytes need not contain, which would end as a timeout).
 */
struct plain_server {
    int fd;
    uint16_t port;
};

static void *plain_serve(void *arg)
{
    struct plain_server *s = arg;
    static const char answer[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    char hello[4096];
    int c = accept(s->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    if (recv(c, hello, sizeof(hello), 0) > 0 && write(c, answer, sizeof(answer) - 1) < 0)
        (void)0;
    shutdown(c, SHUT_WR);
    while (recv(c, hello, sizeof(hello), 0) > 0)
        ;
    close(c);
    return NULL;
}

static void test_delivery_tls_error(void **state)
{
    struct plain_server srv;
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    struct rp_outbound_request req = {.body = "{}", .body_len = 2};
    struct rp_outbound_response resp;
    struct rp_arena a;
    struct rp_error err;
    pthread_t th;
    char url[64];
    (void)state;

    srv.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(srv.fd >= 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* loopback only */
    assert_int_equal(bind(srv.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(srv.fd, 1), 0);
    assert_int_equal(getsockname(srv.fd, (struct sockaddr *)&sin, &len), 0);
    srv.port = ntohs(sin.sin_port);
    assert_int_equal(pthread_create(&th, NULL, plain_serve, &srv), 0);

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/ok", (unsigned)srv.port);
    req.url = url;
    assert_int_equal(rp_outbound_post(&req, &pol_loopback, &resp, NULL, &err), RP_EIO);
    assert_int_equal(resp.failure, RP_OUTBOUND_TLS);
    assert_non_null(strstr(err.detail, "TLS error"));
    pthread_join(th, NULL);
    close(srv.fd);
    rp_arena_release(&a);
}

static void test_delivery_connection_refused(void **state)
{
    struct rp_outbound_request req = {.body = "{}", .body_len = 2};
    struct rp_outbound_response resp;
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    struct rp_arena a;
    struct rp_error err;
    char url[64];
    int fd;
    (void)state;

    /* a port held bound but never listening: connecting is refused, and no other
     * process can take the port meanwhile */
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", (unsigned)ntohs(sin.sin_port));
    req.url = url;
    assert_int_equal(rp_outbound_post(&req, &pol_loopback, &resp, NULL, &err), RP_EIO);
    assert_int_equal(resp.failure, RP_OUTBOUND_CONNECT);
    assert_non_null(strstr(err.detail, "could not connect"));
    close(fd);
    rp_arena_release(&a);
}

static void test_delivery_by_pinned_name(void **state)
{
    struct receiver *rv = *state;
    static const char *const byname[] = {"localhost"};
    struct rp_outbound_policy pol = {.allow = byname, .nallow = 1};
    struct rp_outbound_request req = {.body = "{}", .body_len = 2};
    struct rp_outbound_response resp;
    struct rp_arena a;
    struct rp_error err;
    char url[64];
    int rc;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    snprintf(url, sizeof(url), "http://LocalHost:%u/ok", (unsigned)rv->port);
    req.url = url;
    rc = rp_outbound_post(&req, &pol, &resp, NULL, &err);
    if (rc != 200)
        fail_msg("%s: %s", url, err.detail);
    assert_string_equal(resp.remote_ip, "127.0.0.1");
    rp_arena_release(&a);
}

/*
 * The POST connects to the address the check vetted and never asks DNS again:
 * "hooks.rebind.test" exists only in the fake resolver (.test is reserved and
 * resolves nowhere), so the delivery can only succeed through the pin, and the
 * resolver is asked exactly once.
 */
static void test_delivery_pinned_to_vetted_address(void **state)
{
    struct receiver *rv = *state;
    struct fake_dns dns = {{"127.0.0.1"}, 1, 0};
    struct rp_outbound_policy pol = {allow_loopback, 1, fake_resolve, &dns};
    struct rp_outbound_request req = {.body = "{}", .body_len = 2};
    struct rp_outbound_response resp;
    struct rp_arena a;
    struct rp_error err;
    char url[64];
    int rc;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    snprintf(url, sizeof(url), "http://hooks.rebind.test:%u/ok", (unsigned)rv->port);
    req.url = url;
    rc = rp_outbound_post(&req, &pol, &resp, NULL, &err);
    if (rc != 200)
        fail_msg("%s: %s", url, err.detail);
    assert_int_equal(dns.calls, 1);
    assert_string_equal(resp.remote_ip, "127.0.0.1");
    rp_arena_release(&a);
}

/* Several threads deliver at once, each with its own handle (libcurl set up once). */
struct worker {
    struct receiver *rv;
    int ok;
};

static void *deliver_some(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 5; i++) {
        struct rp_outbound_request req = {.body = "{\"n\":1}", .body_len = 7};
        struct rp_arena a;
        struct rp_error err;
        rp_arena_init(&a);
        rp_error_init(&err, &a);
        if (post(w->rv, "/ok", "http", &pol_loopback, &req, NULL, NULL, &err) == 200)
            w->ok++;
        rp_arena_release(&a);
    }
    return NULL;
}

static void test_delivery_from_threads(void **state)
{
    struct worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i].rv = *state;
        w[i].ok = 0;
        assert_int_equal(pthread_create(&th[i], NULL, deliver_some, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].ok, 5);
    }
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_ssrf_vectors_refused), cmocka_unit_test(test_refusal_names_reason),
        cmocka_unit_test(test_public_literals_pass), cmocka_unit_test(test_allow_list),
        cmocka_unit_test(test_resolved_names),       cmocka_unit_test(test_signatures),
    };
    const struct CMUnitTest delivery[] = {
        cmocka_unit_test(test_delivery_signed),
        cmocka_unit_test(test_delivery_statuses),
        cmocka_unit_test(test_delivery_timeout),
        cmocka_unit_test(test_delivery_refusals),
        cmocka_unit_test(test_delivery_tls_error),
        cmocka_unit_test(test_delivery_connection_refused),
        cmocka_unit_test(test_delivery_by_pinned_name),
        cmocka_unit_test(test_delivery_pinned_to_vetted_address),
        cmocka_unit_test(test_delivery_from_threads),
    };
    int failed = cmocka_run_group_tests_name("outbound", pure, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("outbound_delivery", delivery, receiver_start, receiver_stop);
    return failed;
}
