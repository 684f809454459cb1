/*
 * Email against a real SMTP sink: a thread on 127.0.0.1 speaking enough SMTP (EHLO/HELO, MAIL,
 * RCPT, DATA, RSET, NOOP, QUIT) to receive what libcurl sends, and able to answer 451 to the
 * first N messages. Templates render record and related-record variables and escape HTML; a
 * rule's send_email is delivered once with the right headers, retried after a 451, and not
 * sent twice when the rule's job runs again; consent withdrawals and do_not_email suppress;
 * the unsubscribe link writes a withdrawal that suppresses the next message; tampered links
 * are refused; opens and clicks become touchpoints and a click goes only where it was signed
 * to; addresses and subjects that would inject headers are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_app.h"

/* ---- the SMTP sink ---- */

#define SINK_MAX 32

struct sink_msg {
    char from[256], rcpt[256];
    char *data; /* without the terminating "." line, dot-unstuffed */
};

struct sink {
    int fd;
    uint16_t port;
    pthread_t thread;
    pthread_mutex_t lock;
    int fail_next;  /* answer 451 to this many more messages */
    unsigned tries; /* DATA transactions seen, accepted or not */
    struct sink_msg msgs[SINK_MAX];
    size_t n;
    volatile int stop;
};

struct line_reader {
    int fd;
    char buf[8192];
    size_t len;
};

/* One CRLF-terminated line into out (without CRLF); false on EOF. */
static bool read_line(struct line_reader *r, char *out, size_t size)
{
    for (;;) {
        char *nl = memchr(r->buf, '\n', r->len);
        if (nl) {
            size_t n = (size_t)(nl - r->buf) + 1, keep = n - 1;
            if (keep && r->buf[keep - 1] == '\r')
                keep--;
            snprintf(out, size, "%.*s", (int)keep, r->buf);
            memmove(r->buf, r->buf + n, r->len - n);
            r->len -= n;
            return true;
        }
        if (r->len == sizeof(r->buf))
            r->len = 0; /* a line too long for the sink: drop it */
        ssize_t got = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len);
        if (got <= 0)
            return false;
        r->len += (size_t)got;
    }
}

static void say(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void sink_session(struct sink *s, int fd)
{
    struct line_reader r = {.fd = fd};
    char line[8192], from[256] = "", rcpt[256] = "";

    say(fd, "220 sink ESMTP\r\n");
    while (read_line(&r, line, sizeof(line))) {
        if (strncasecmp(line, "EHLO", 4) == 0) {
            say(fd, "250-sink\r\n250 8BITMIME\r\n");
        } else if (strncasecmp(line, "HELO", 4) == 0) {
            say(fd, "250 sink\r\n");
        } else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
            snprintf(from, sizeof(from), "%s", line + 10);
            say(fd, "250 ok\r\n");
        } else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
            snprintf(rcpt, sizeof(rcpt), "%s", line + 8);
            say(fd, "250 ok\r\n");
        } else if (strncasecmp(line, "DATA", 4) == 0) {
            size_t cap = 1 << 16, len = 0;
            char *data = malloc(cap);
            bool fail;
            say(fd, "354 go ahead\r\n");
            data[0] = '\0';
            while (read_line(&r, line, sizeof(line)) && strcmp(line, ".") != 0) {
                const char *l = line[0] == '.' ? line + 1 : line; /* dot-unstuffing */
                size_t n = strlen(l);
                if (len + n + 3 > cap)
                    data = realloc(data, cap = 2 * (cap + n));
                memcpy(data + len, l, n);
                len += n;
                memcpy(data + len, "\r\n", 3);
                len += 2;
            }
            pthread_mutex_lock(&s->lock);
            s->tries++;
            fail = s->fail_next > 0;
            if (fail) {
                s->fail_next--;
            } else if (s->n < SINK_MAX) {
                struct sink_msg *m = &s->msgs[s->n++];
                snprintf(m->from, sizeof(m->from), "%s", from);
                snprintf(m->rcpt, sizeof(m->rcpt), "%s", rcpt);
                m->data = data;
                data = NULL;
            }
            pthread_mutex_unlock(&s->lock);
            free(data);
            say(fd, fail ? "451 4.3.0 try again later\r\n" : "250 2.0.0 queued\r\n");
        } else if (strncasecmp(line, "RSET", 4) == 0 || strncasecmp(line, "NOOP", 4) == 0) {
            say(fd, "250 ok\r\n");
        } else if (strncasecmp(line, "QUIT", 4) == 0) {
            say(fd, "221 bye\r\n");
            break;
        } else {
            say(fd, "502 5.5.2 not implemented\r\n");
        }
    }
    close(fd);
}

static void *sink_main(void *arg)
{
    struct sink *s = arg;

    while (!s->stop) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        int fd;
        if (poll(&p, 1, 50) <= 0)
            continue;
        if ((fd = accept(s->fd, NULL, NULL)) < 0)
            continue;
        sink_session(s, fd); /* one client at a time is all the jobs need */
    }
    return NULL;
}

static void sink_start(struct sink *s)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);

    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(s->fd, 8), 0);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sa, &len), 0);
    s->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, sink_main, s), 0);
}

static void sink_stop(struct sink *s)
{
    s->stop = 1;
    pthread_join(s->thread, NULL);
    close(s->fd);
    for (size_t i = 0; i < s->n; i++)
        free(s->msgs[i].data);
    pthread_mutex_destroy(&s->lock);
}

/* ---- helpers ---- */

struct fixture {
    struct rp_test_app t;
    struct sink sink;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    rp_test_app_open(&f->t);
    sink_start(&f->sink);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sink_stop(&f->sink);
    rp_test_app_close(&f->t);
    free(f);
    return 0;
}

static void setting(struct rp_test_app *t, const char *key, const char *value)
{
    char target[128];
    json_t *body = json_pack("{ss}", "value", value);
    char *text = json_dumps(body, 0);
    snprintf(target, sizeof(target), "/api/v1/admin/settings/%s", key);
    json_decref(rp_test_call(t, "PUT", target, text, 200));
    free(text);
    json_decref(body);
}

static void configure(struct fixture *f)
{
    char url[64];
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%u", f->sink.port);
    setting(&f->t, "email.smtp_url", url);
    setting(&f->t, "email.from", "Rapport CRM <crm@rapport.test>");
    setting(&f->t, "email.tracking_base_url", "https://crm.rapport.test/");
}

/* Dispatches the change log and runs due jobs until nothing is left to run now. */
static size_t sink_count(struct sink *s)
{
    size_t n;
    pthread_mutex_lock(&s->lock);
    n = s->n;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* The decoded body part of type ("text/plain", "text/html") of a received message (malloc'd). */
static char *mime_part(const char *data, const char *type)
{
    char marker[64];
    const char *p, *start, *end;
    unsigned char *out;
    size_t cap, len = 0;

    snprintf(marker, sizeof(marker), "Content-Type: %s;", type);
    if (!(p = strstr(data, marker)) || !(start = strstr(p, "\r\n\r\n")))
        return NULL;
    start += 4;
    end = strstr(start, "\r\n--");
    if (!end)
        end = start + strlen(start);
    cap = (size_t)(end - start);
    out = calloc(1, cap + 1);
    for (const char *l = start; l < end;) {
        const char *nl = strstr(l, "\r\n");
        size_t n = 0;
        if (!nl || nl > end)
            nl = end;
        assert_int_equal(sodium_base642bin(out + len, cap - len, l, (size_t)(nl - l), NULL, &n,
                                           NULL, sodium_base64_VARIANT_ORIGINAL),
                         0);
        len += n;
        l = nl + 2;
    }
    out[len] = '\0';
    return (char *)out;
}

/* The value of the first header name in a received message (malloc'd), unfolded. */
static char *header(const char *data, const char *name)
{
    size_t n = strlen(name);
    const char *p = data;
    char *out;

    while (p && *p && strncmp(p, "\r\n", 2) != 0) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1, *e = v;
            size_t len = 0;
            while (*v == ' ')
                v++;
            e = v;
            while (*e && !(e[0] == '\r' && e[1] == '\n' && e[2] != ' '))
                e++;
            out = malloc((size_t)(e - v) + 1);
            for (const char *s = v; s < e; s++)
                if (*s != '\r' && *s != '\n')
                    out[len++] = *s;
            out[len] = '\0';
            return out;
        }
        p = strstr(p, "\r\n");
        p = p ? p + 2 : NULL;
    }
    return NULL;
}

static json_t *messages(struct rp_test_app *t, const char *record_id)
{
    char target[160];
    snprintf(target, sizeof(target), "/api/v1/email/messages?record_id=%s", record_id);
    return rp_test_call(t, "GET", target, NULL, 200);
}

static size_t count_records(struct rp_test_app *t, const char *object, const char *filter)
{
    char target[512];
    json_t *j;
    size_t n;

    {
        /* filters here use only characters that need no escaping but spaces and quotes */
        char q[384];
        size_t k = 0;
        for (const char *s = filter; *s && k + 4 < sizeof(q); s++) {
            if (*s == ' ') {
                memcpy(q + k, "%20", 3);
                k += 3;
            } else if (*s == '\'') {
                memcpy(q + k, "%27", 3);
                k += 3;
            } else if (*s == '=') {
                memcpy(q + k, "%3D", 3);
                k += 3;
            } else {
                q[k++] = *s;
            }
        }
        q[k] = '\0';
        snprintf(target, sizeof(target), "/api/v1/records/%s?limit=100&filter=%s", object, q);
    }
    j = rp_test_call(t, "GET", target, NULL, 200);
    n = json_array_size(json_object_get(j, "data"));
    json_decref(j);
    return n;
}

/* An account and a contact of it; the contact's id into contact. */
static void people(struct rp_test_app *t, const char *first, const char *email, char *contact)
{
    char account[40], body[512];
    snprintf(body, sizeof(body), "{\"name\": \"Acme & <Sons>\"}");
    rp_test_create(t, "account", body, account);
    snprintf(body, sizeof(body),
             "{\"last_name\": \"Wang\", \"first_name\": \"%s\", \"email\": \"%s\","
             " \"account_id\": \"%s\"}",
             first, email, account);
    rp_test_create(t, "contact", body, contact);
}

static void renewal_template(struct rp_test_app *t)
{
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/email/templates/renewal",
                     "{\"object\": \"contact\", \"subject\": \"续约 renewal of {{account.name}}\","
                     " \"text\": \"Hello {{first_name}} of {{account.name}}. Stop: "
                     "{{unsubscribe_url}}\","
                     " \"html\": \"<p>Hello {{first_name}}</p><p>{{account.name}}</p>"
                     "<a href=\\\"https://example.com/offer?a=1&amp;b=2\\\">offer</a>\"}",
                     201));
}

/* Sends the template by hand; returns the message id (static buffer). */
static const char *send_one(struct rp_test_app *t, const char *tpl, const char *contact,
                            const char *want_state)
{
    static char id[64];
    char body[256];
    json_t *j;
    snprintf(body, sizeof(body), "{\"template\": \"%s\", \"record_id\": \"%s\"}", tpl, contact);
    j = rp_test_call(t, "POST", "/api/v1/email/send", body, 202);
    assert_string_equal(rp_test_str(j, "state"), want_state);
    snprintf(id, sizeof(id), "%s", rp_test_str(j, "id"));
    json_decref(j);
    return id;
}

/* ---- tests ---- */

static void test_rule_delivers_with_headers(void **state)
{
    struct fixture *f = *state;
    struct rp_test_app *t = &f->t;
    char contact[40], *subject, *text, *html, *v;
    const char *data;
    json_t *j;

    configure(f);
    renewal_template(t);
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/automation/rules/welcome",
                     "{\"object\": \"contact\", \"trigger\": {\"on\": \"created\"},"
                     " \"actions\": [{\"type\": \"send_email\", \"template\": \"renewal\"}]}",
                     201));
    people(t, "Li <b>", "li.wang@example.com", contact);
    rp_test_settle(t);
    assert_int_equal(sink_count(&f->sink), 1);
    data = f->sink.msgs[0].data;
    assert_string_equal(f->sink.msgs[0].from, "<crm@rapport.test>");
    assert_string_equal(f->sink.msgs[0].rcpt, "<li.wang@example.com>");
    v = header(data, "To");
    assert_string_equal(v, "<li.wang@example.com>");
    free(v);
    v = header(data, "From");
    assert_string_equal(v, "Rapport CRM <crm@rapport.test>");
    free(v);
    v = header(data, "Date");
    assert_string_equal(v, "Sun, 22 Nov 2026 08:00:00 +0000");
    free(v);
    v = header(data, "Message-ID");
    assert_non_null(strstr(v, "@rapport.test>"));
    free(v);
    v = header(data, "MIME-Version");
    assert_string_equal(v, "1.0");
    free(v);
    v = header(data, "List-Unsubscribe");
    assert_non_null(v);
    assert_true(strncmp(v, "<https://crm.rapport.test/api/v1/email/unsubscribe?t=", 53) == 0);
    free(v);
    v = header(data, "List-Unsubscribe-Post");
    assert_string_equal(v, "List-Unsubscribe=One-Click");
    free(v);
    v = header(data, "Content-Type");
    assert_non_null(strstr(v, "multipart/alternative"));
    free(v);
    /* a UTF-8 subject in RFC 2047 encoded words */
    subject = header(data, "Subject");
    assert_true(strncmp(subject, "=?UTF-8?B?", 10) == 0);
    free(subject);
    text = mime_part(data, "text/plain");
    assert_non_null(text);
    assert_non_null(strstr(text, "Hello Li <b> of Acme & <Sons>."));
    assert_non_null(strstr(text, "https://crm.rapport.test/api/v1/email/unsubscribe?t="));
    html = mime_part(data, "text/html");
    assert_non_null(html);
    assert_non_null(strstr(html, "<p>Hello Li &lt;b&gt;</p><p>Acme &amp; &lt;Sons&gt;</p>"));
    assert_null(strstr(html, "<b>"));
    assert_null(strstr(html, "https://example.com/offer")); /* the link is tracked */
    assert_non_null(strstr(html, "href=\"https://crm.rapport.test/t/c/"));
    assert_non_null(strstr(html, "https://crm.rapport.test/t/o/"));
    free(text);
    free(html);

    /* the message log, and a "sent" touchpoint */
    j = messages(t, contact);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
    assert_string_equal(rp_test_str(json_array_get(json_object_get(j, "data"), 0), "state"),
                        "sent");
    assert_string_equal(rp_test_str(json_array_get(json_object_get(j, "data"), 0), "subject"),
                        "续约 renewal of Acme & <Sons>");
    json_decref(j);
    assert_int_equal(count_records(t, "touchpoint", "type = 'sent'"), 1);
}

static void test_retry_after_451(void **state)
{
    struct fixture *f = *state;
    struct rp_test_app *t = &f->t;
    char contact[40];
    json_t *j;

    configure(f);
    renewal_template(t);
    people(t, "Mei", "mei@example.com", contact);
    f->sink.fail_next = 2;
    send_one(t, "renewal", contact, "queued");
    rp_test_settle(t);
    assert_int_equal(sink_count(&f->sink), 0);
    assert_int_equal(f->sink.tries, 1);
    j = messages(t, contact);
    assert_string_equal(rp_test_str(json_array_get(json_object_get(j, "data"), 0), "state"),
                        "queued");
    json_decref(j);
    for (int i = 0; i < 4 && sink_count(&f->sink) == 0; i++) {
        rp_clock_advance(&t->app->clock, RP_JOBS_BACKOFF_MAX_MS);
        rp_test_settle(t);
    }
    assert_int_equal(f->sink.tries, 3);
    assert_int_equal(sink_count(&f->sink), 1);
    j = messages(t, contact);
    assert_string_equal(rp_test_str(json_array_get(json_object_get(j, "data"), 0), "state"),
                        "sent");
    json_decref(j);
    /* nothing more to send, however long we wait */
    rp_clock_advance(&t->app->clock, RP_JOBS_BACKOFF_MAX_MS);
    rp_test_settle(t);
    assert_int_equal(sink_count(&f->sink), 1);
}

static void test_rule_job_retry_sends_once(void **state)
{
    struct fixture *f = *state;
    struct rp_test_app *t = &f->t;
    char contact[40], *out = NULL;
    json_t *jobs, *job;
    size_t i;

    configure(f);
    renewal_template(t);
    /* the second action's write is refused, so the rule's job dies after sending */
    json_decref(rp_test_call(t, "PUT", "/api/v1/automation/rules/mail_then_fail",
                             "{\"object\": \"contact\", \"trigger\": {\"on\": \"created\"},"
                             " \"actions\": [{\"type\": \"send_email\", \"template\": \"renewal\"},"
                             " {\"type\": \"set_fields\", \"values\": {\"email\": {\"expr\": "
                             "\"'not an address'\"}}}]}",
                             201));
    people(t, "Hao", "hao@example.com", contact);
    rp_test_settle(t);
    assert_int_equal(sink_count(&f->sink), 1);
    /* the rule's job runs again (retried by hand): the same message, nothing sent again */
    jobs = rp_test_call(t, "GET", "/api/v1/jobs?state=dead&limit=100", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(jobs, "data")), 1);
    json_array_foreach(json_object_get(jobs, "data"), i, job)
    {
        char target[128];
        assert_string_equal(rp_test_str(job, "kind"), "automation.run");
        snprintf(target, sizeof(target), "/api/v1/jobs/%s/retry", rp_test_str(job, "id"));
        assert_int_equal(rp_test_request(t, "POST", target, NULL, &out), 204);
        free(out);
        out = NULL;
    }
    json_decref(jobs);
    rp_test_settle(t);
    rp_clock_advance(&t->app->clock, RP_JOBS_BACKOFF_MAX_MS);
    rp_test_settle(t);
    assert_int_equal(sink_count(&f->sink), 1);
    jobs = messages(t, contact);
    assert_int_equal(json_array_size(json_object_get(jobs, "data")), 1);
    json_decref(jobs);
}

static void test_suppressed_by_consent_and_do_not_email(void **state)
{
    struct fixture *f = *state;
    struct rp_test_app *t = &f->t;
    char c1[40], c2[40], c3[40], body[512], target[160], id[40];

    configure(f);
    renewal_template(t);
    people(t, "A", "a@example.com", c1);
    people(t, "B", "b@example.com", c2);
    people(t, "C", "c@example.com", c3);
    /* c1 withdrew email marketing consent after granting it */
    snprintf(body, sizeof(body),
             "{\"contact_id\": \"%s\", \"channel\": \"email\", \"purpose\": \"marketing\","
             " \"action\": \"grant\", \"occurred_at\": \"2026-01-01T00:00:00Z\"}",
             c1);
    rp_test_create(t, "consent", body, id);
    snprintf(body, sizeof(body),
             "{\"contact_id\": \"%s\", \"channel\": \"email\", \"purpose\": \"marketing\","
             " \"action\": \"withdraw\", \"occurred_at\": \"2026-02-01T00:00:00Z\"}",
             c1);
    rp_test_create(t, "consent", body, id);
    /* c2 does not want email */
    snprintf(target, sizeof(target), "/api/v1/records/contact/%s", c2);
    json_decref(rp_test_call(t, "PATCH", target, "{\"do_not_email\": true}", 200));
    /* c3 withdrew, then granted again: mailed */
    snprintf(body, sizeof(body),
             "{\"contact_id\": \"%s\", \"channel\": \"email\", \"purpose\": \"marketing\","
             " \"action\": \"withdraw\", \"occurred_at\": \"2026-01-01T00:00:00Z\"}",
             c3);
    rp_test_create(t, "consent", body, id);
    snprintf(body, sizeof(body),
             "{\"contact_id\": \"%s\", \"channel\": \"email\", \"purpose\": \"marketing\","
             " \"action\": \"grant\", \"occurred_at\": \"2026-02-01T00:00:00Z\"}",
             c3);
    rp_test_create(t, "consent", body, id);
    send_one(t, "renewal", c1, "suppressed");
    send_one(t, "renewal", c2, "suppressed");
    send_one(t, "renewal", c3, "queued");
    rp_test_settle(t);
    assert_int_equal(sink_count(&f->sink), 1);
    assert_string_equal(f->sink.msgs[0].rcpt, "<c@example.com>");

    /* consent withdrawn after the message was queued, before it was sent: not sent */
    {
        char msg_id[64];
        json_t *j, *m;
        size_t i;
        snprintf(msg_id, sizeof(msg_id), "%s", send_one(t, "renewal", c3, "queued"));
        snprintf(body, sizeof(body),
                 "{\"contact_id\": \"%s\", \"channel\": \"email\", \"purpose\": \"marketing\","
                 " \"action\": \"withdraw\", \"occurred_at\": \"2026-03-01T00:00:00Z\"}",
                 c3);
        rp_test_create(t, "consent", body, id);
        rp_test_settle(t);
        assert_int_equal(sink_count(&f->sink), 1);
        j = messages(t, c3);
        json_array_foreach(json_object_get(j, "data"), i, m)
        {
            if (strcmp(rp_test_str(m, "id"), msg_id) == 0)
                assert_string_equal(rp_test_str(m, "state"), "suppressed");
        }
        json_decref(j);
    }
}

/* The first "t=" token of a text, into buf. */
static void token_after(const char *text, const char *marker, char *buf, size_t size)
{
    const char *p = strstr(text, marker);
    size_t n = 0;
    assert_non_null(p);
    p += strlen(marker);
    while (p[n] && (isalnum((unsigned char)p[n]) || p[n] == '-' || p[n] == '_' || p[n] == '.'))
        n++;
    if (n > 4 && strncmp(p + n - 4, ".gif", 4) == 0)
        n -= 4;
    snprintf(buf, size, "%.*s", (int)n, p);
}

static void test_unsubscribe_then_suppressed(void **state)
{
    struct fixture *f = *state;
    struct rp_test_app *t = &f->t;
    char contact[40], token[1024], target[1200], *text, *out = NULL;
    size_t n;

    configure(f);
    renewal_template(t);
    people(t, "Yu", "yu@example.com", contact);
    send_one(t, "renewal", contact, "queued");
    rp_test_settle(t);
    assert_int_equal(sink_count(&f->sink), 1);
    text = mime_part(f->sink.msgs[0].data, "text/plain");
    token_after(text, "unsubscribe?t=", token, sizeof(token));
    free(text);

    /* tampered: one character of the payload changed */
    snprintf(target, sizeof(target), "/api/v1/email/unsubscribe?t=%s", token);
    target[strlen("/api/v1/email/unsubscribe?t=") + 3] ^= 1;
    assert_int_equal(rp_test_request_as(t, NULL, "GET", target, NULL, &out), 400);
    assert_non_null(strstr(out, "not valid"));
    free(out);
    assert_int_equal(count_records(t, "consent", "action = 'withdraw'"), 0);

    /* the real link needs no login, and writes a withdrawal */
    snprintf(target, sizeof(target), "/api/v1/email/unsubscribe?t=%s", token);
    assert_int_equal(rp_test_request_as(t, NULL, "GET", target, NULL, &out), 200);
    assert_non_null(strstr(out, "unsubscribed"));
    free(out);
    assert_int_equal(count_records(t, "consent",
                                   "action = 'withdraw' and source = "
                                   "'unsubscribe_link' and channel = 'email'"),
                     1);
    /* RFC 8058 one-click POST works too */
    assert_int_equal(
        rp_test_request_as(t, NULL, "POST", target, "List-Unsubscribe=One-Click", &out), 200);
    free(out);
    n = count_records(t, "consent", "action = 'withdraw'");
    assert_int_equal(n, 2);
    /* the next message is suppressed */
    send_one(t, "renewal", contact, "suppressed");
    rp_test_settle(t);
    assert_int_equal(sink_count(&f->sink), 1);
    /* an open token is no unsubscribe token */
    text = mime_part(f->sink.msgs[0].data, "text/html");
    token_after(text, "/t/o/", token, sizeof(token));
    free(text);
    snprintf(target, sizeof(target), "/api/v1/email/unsubscribe?t=%s", token);
    assert_int_equal(rp_test_request_as(t, NULL, "GET", target, NULL, &out), 400);
    free(out);
}

static void test_open_and_click(void **state)
{
    struct fixture *f = *state;
    struct rp_test_app *t = &f->t;
    char contact[40], token[1024], target[1200], campaign[40], *html, *out = NULL;

    configure(f);
    rp_test_create(t, "campaign", "{\"name\": \"Spring\"}", campaign);
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/email/templates/lead_offer",
                     "{\"object\": \"lead\", \"subject\": \"Offer for {{company}}\","
                     " \"text\": \"Hi\", \"campaign\": \"campaign_id\","
                     " \"html\": \"<html><body><a href='https://example.com/a?x=1&amp;y=2'>a</a>"
                     "</body></html>\"}",
                     201));
    {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"last_name\": \"Zhao\", \"company\": \"Lanting\", \"email\": "
                 "\"zhao@example.com\", \"campaign_id\": \"%s\"}",
                 campaign);
        rp_test_create(t, "lead", body, contact);
    }
    send_one(t, "lead_offer", contact, "queued");
    rp_test_settle(t);
    assert_int_equal(sink_count(&f->sink), 1);
    html = mime_part(f->sink.msgs[0].data, "text/html");
    assert_non_null(strstr(html, "</body></html>"));
    assert_true(strstr(html, "/t/o/") < strstr(html, "</body>"));

    /* the pixel: a GIF, and an "opened" touchpoint with the campaign */
    token_after(html, "/t/o/", token, sizeof(token));
    snprintf(target, sizeof(target), "/t/o/%s.gif", token);
    {
        struct rp_http_result r;
        struct rp_http_dispatch d = {.method = "GET", .target = target};
        assert_int_equal(rp_http_dispatch(t->app->router, &d, &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.content_type, "image/gif");
        assert_int_equal(r.body_len, 43);
        assert_int_equal(memcmp(r.body, "GIF89a\x01\x00\x01\x00", 10), 0);
        assert_int_equal((unsigned char)r.body[42], 0x3b);
        rp_http_dispatch_release(&r);
    }
    {
        char filter[160];
        snprintf(filter, sizeof(filter), "type = 'opened' and campaign_id = '%s'", campaign);
        assert_int_equal(count_records(t, "touchpoint", filter), 1);
    }
    /* a click: 302 to the signed URL, and a "clicked" touchpoint with it */
    token_after(html, "/t/c/", token, sizeof(token));
    free(html);
    snprintf(target, sizeof(target), "/t/c/%s", token);
    {
        struct rp_http_result r;
        struct rp_http_dispatch d = {.method = "GET", .target = target};
        const char *loc = NULL;
        assert_int_equal(rp_http_dispatch(t->app->router, &d, &r), 0);
        assert_int_equal(r.status, 302);
        for (size_t i = 0; i < r.nheaders; i++)
            if (strcasecmp(r.headers[i].name, "Location") == 0)
                loc = r.headers[i].value;
        assert_non_null(loc);
        assert_string_equal(loc, "https://example.com/a?x=1&y=2");
        rp_http_dispatch_release(&r);
    }
    assert_int_equal(count_records(t, "touchpoint", "type = 'clicked'"), 1);
    /* the open token is no click token; a changed signature is refused: no open redirect */
    {
        char bad[1200];
        const char *dot;
        token_after(target, "/t/c/", token, sizeof(token));
        dot = strchr(token, '.');
        snprintf(bad, sizeof(bad), "/t/c/%.*s.%s", (int)(dot - token), token,
                 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        assert_int_equal(rp_test_request_as(t, NULL, "GET", bad, NULL, &out), 400);
        free(out);
        assert_int_equal(rp_test_request_as(t, NULL, "GET", "/t/c/bm90LWEtdG9rZW4", NULL, &out),
                         400);
        free(out);
        assert_int_equal(rp_test_request_as(t, NULL, "GET", "/t/o/garbage.gif", NULL, &out), 400);
        free(out);
    }
    /* a token signed for another URL, forged without the key, cannot be made from the API:
       the only valid click tokens are those in messages */
    assert_int_equal(count_records(t, "touchpoint", "type = 'clicked'"), 1);
}

static void test_header_injection_refused(void **state)
{
    struct fixture *f = *state;
    struct rp_test_app *t = &f->t;
    char contact[40], body[256], *out = NULL;

    configure(f);
    /* a subject line break written in the template */
    assert_int_equal(rp_test_request(t, "PUT", "/api/v1/email/templates/bad",
                                     "{\"object\": \"contact\", \"subject\": \"Hi\\r\\nBcc: "
                                     "x@evil.test\", \"text\": \"x\"}",
                                     &out),
                     422);
    free(out);
    /* ... or arriving from a record value */
    json_decref(rp_test_call(
        t, "PUT", "/api/v1/email/templates/by_title",
        "{\"object\": \"contact\", \"subject\": \"Hi {{title}}\", \"text\": \"x\"}", 201));
    rp_test_create(t, "contact",
                   "{\"last_name\": \"Evil\", \"email\": \"e@example.com\", \"title\": "
                   "\"x\\r\\nBcc: victim@evil.test\"}",
                   contact);
    snprintf(body, sizeof(body), "{\"template\": \"by_title\", \"record_id\": \"%s\"}", contact);
    assert_int_equal(rp_test_request(t, "POST", "/api/v1/email/send", body, &out), 422);
    assert_non_null(strstr(out, "subject"));
    free(out);
    /* an address with a line break or a second recipient */
    rp_test_create(t, "contact",
                   "{\"last_name\": \"Evil\", \"email\": \"e@example.com\", \"title\": "
                   "\"e@example.com>\\r\\nRCPT TO:<x@evil.test\"}",
                   contact);
    json_decref(
        rp_test_call(t, "PUT", "/api/v1/email/templates/to_title",
                     "{\"object\": \"contact\", \"subject\": \"Hi\", \"text\": \"x\", \"to\": "
                     "\"title\"}",
                     201));
    snprintf(body, sizeof(body), "{\"template\": \"to_title\", \"record_id\": \"%s\"}", contact);
    assert_int_equal(rp_test_request(t, "POST", "/api/v1/email/send", body, &out), 422);
    assert_non_null(strstr(out, "recipient"));
    free(out);
    rp_test_settle(t);
    assert_int_equal(sink_count(&f->sink), 0);
    /* settings refuse line breaks too */
    assert_int_equal(rp_test_request(t, "PUT", "/api/v1/admin/settings/email.from",
                                     "{\"value\": \"a@b.test\\r\\nBcc: x@evil.test\"}", &out),
                     422);
    free(out);
}

static void test_templates_validated_and_password_hidden(void **state)
{
    struct fixture *f = *state;
    struct rp_test_app *t = &f->t;
    char *out = NULL;

    assert_int_equal(rp_test_request(t, "PUT", "/api/v1/email/templates/x",
                                     "{\"object\": \"contact\", \"subject\": \"Hi {{nope}}\","
                                     " \"text\": \"x\"}",
                                     &out),
                     422);
    assert_non_null(strstr(out, "{{nope}}"));
    free(out);
    assert_int_equal(rp_test_request(t, "PUT", "/api/v1/email/templates/x",
                                     "{\"object\": \"contact\", \"subject\": \"Hi\","
                                     " \"text\": \"{{account.nope}}\"}",
                                     &out),
                     422);
    assert_non_null(strstr(out, "account.nope"));
    free(out);
    assert_int_equal(rp_test_request(t, "PUT", "/api/v1/email/templates/x",
                                     "{\"object\": \"contact\", \"subject\": \"Hi\","
                                     " \"text\": \"{{first_name\"}",
                                     &out),
                     422);
    free(out);
    setting(t, "email.password", "s3cret-pass");
    assert_int_equal(rp_test_request(t, "GET", "/api/v1/admin/settings/email.password", NULL, &out),
                     200);
    assert_null(strstr(out, "s3cret-pass"));
    assert_non_null(strstr(out, "********"));
    free(out);
    assert_int_equal(rp_test_request(t, "GET", "/api/v1/audit?limit=100", NULL, &out), 200);
    assert_null(strstr(out, "s3cret-pass"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rule_delivers_with_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_451, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rule_job_retry_sends_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suppressed_by_consent_and_do_not_email, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unsubscribe_then_suppressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_and_click, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_injection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_templates_validated_and_password_hidden, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
