/*
 * The message bus (automation.h): change events published to NATS through libnats, from a
 * change-log cursor of its own, and the rule action "publish".
 *
 * One connection per process, made when a URL is first seen (the --nats flag, else the
 * setting, read at every tick so a change takes effect without a restart) and remade when it
 * changes. libnats keeps it up: a failed first connect and a lost connection are retried in
 * the background for ever. Nothing is handed to libnats while it is not connected, so its
 * reconnect buffer does not fill with events that the cursor will send again anyway.
 *
 * Locking: publishers (the dispatcher, rule jobs) hold the read lock while they use the
 * connection; replacing it takes the write lock. The outage flag, logged on its transitions
 * only, belongs to the dispatcher thread.
 */
#include "automation/automation.h"
#include "base/json.h"
#include "automation/automation_int.h"
#include "base/arena.h"
#include "base/log.h"
#include "base/sql.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUS_URL_MAX      600
#define BUS_BATCH        500
#define BUS_TICK_BATCHES 20 /* a backlog goes out over several ticks: rules and webhooks run too */
#define BUS_FLUSH_MS     2000
#define BUS_RECONNECT_MS 500
#define BUS_PING_MS      5000 /* a stalled server counts as lost after two unanswered pings */
#define BUS_STALL_US     (2 * INT64_C(1000000)) /* no publishing this long after a timeout */
#define BUS_BODY_MAX     (8u << 20)
#define BUS_MSG_ID       "Nats-Msg-Id"

struct rp_bus {
    pthread_rwlock_t lock; /* read: publishing on nc; write: replacing it */
    natsConnection *nc;    /* NULL: off, or the URL could not be used */
    char url[BUS_URL_MAX]; /* what nc was made for; "" when off */
    char *flag_url;        /* --nats: wins over the setting; NULL: none */
    bool cursor_ready;     /* the cursor row exists (dispatcher thread) */
    bool down;             /* the last tick could not publish (dispatcher thread) */
    int64_t stalled_until; /* monotonic us: after a flush timeout (dispatcher thread) */
    atomic_uint_fast64_t published, errors;
};

/* The URL without user and password, for the log. */
static const char *url_for_log(const char *url, char *out, size_t n)
{
    const char *at = strrchr(url, '@');
    const char *scheme = strstr(url, "://");

    if (!at || !scheme)
        snprintf(out, n, "%s", url);
    else
        snprintf(out, n, "%.*s://%s", (int)(scheme - url), url, at + 1);
    return out;
}

static int cursor_start_run(struct rp_store_conn *c, void *ctx, struct rp_error *err);

struct rp_bus *rp_bus_new(const char *url, struct rp_store *store)
{
    struct rp_bus *b = rp_xcalloc(1, sizeof(*b));
    struct rp_error err;

    pthread_rwlock_init(&b->lock, NULL);
    if (url && *url) {
        b->flag_url = rp_xstrdup(url);
        rp_error_init(&err, NULL);
        /* On failure the first tick starts it. */
        if (rp_store_write(store, cursor_start_run, NULL, &err) == 0)
            b->cursor_ready = true;
    }
    return b;
}

void rp_bus_free(struct rp_bus *b)
{
    if (!b)
        return;
    if (b->nc) {
        natsConnection_Close(b->nc);
        natsConnection_Destroy(b->nc);
    }
    pthread_rwlock_destroy(&b->lock);
    free(b->flag_url);
    free(b);
}

/* ---- the connection ---- */

struct text_row {
    char *out;
    size_t n;
};

static int text_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct text_row *x = ctx;
    if (n > 0 && cols[0].type == RP_V_TEXT)
        snprintf(x->out, x->n, "%.*s", (int)cols[0].u.s.len, cols[0].u.s.p);
    return 1;
}

/* The URL in force: the flag, else the setting; "" when the bus is off. */
static int bus_url(struct rp_automation *a, char *url, size_t n, struct rp_error *err)
{
    struct text_row x = {url, n};
    struct rp_store_conn *c;
    struct rp_arena arena;
    struct rp_sql q;
    int rc;

    url[0] = '\0';
    if (a->bus->flag_url) {
        snprintf(url, n, "%s", a->bus->flag_url);
        return 0;
    }
    rp_arena_init(&arena);
    rp_sql_init(&q, &arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = ");
    rp_sql_param(&q, rp_value_cstr(RP_RECORDS_BUS_URL_SETTING));
    c = rp_store_reader_acquire(a->store);
    rc = rp_store_query(c, &q, text_row, &x, err);
    rp_store_reader_release(a->store, c);
    rp_arena_release(&arena);
    if (rc == 0 && url[0] && !rp_records_setting_is_valid(RP_RECORDS_BUS_URL_SETTING, url))
        url[0] = '\0'; /* written around the API's check: not used */
    return rc;
}

static void on_connected(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
    rp_log_info("message bus: connected");
}

static natsConnection *bus_connect(const char *url)
{
    natsConnection *nc = NULL;
    natsOptions *opts = NULL;
    natsStatus s;
    char shown[BUS_URL_MAX];

    s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(opts, url);
    if (s == NATS_OK)
        s = natsOptions_SetName(opts, "rapport");
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(opts, BUS_RECONNECT_MS);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(opts, 2000);
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(opts, BUS_PING_MS);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(opts, 2);
    /* An unreachable server at start is retried in the background, as a lost one is. */
    if (s == NATS_OK)
        s = natsOptions_SetRetryOnFailedConnect(opts, true, on_connected, NULL);
    if (s == NATS_OK) {
        s = natsConnection_Connect(&nc, opts);
        if (s == NATS_NOT_YET_CONNECTED)
            s = NATS_OK;
    }
    natsOptions_Destroy(opts);
    if (s != NATS_OK) {
        rp_log_error("message bus: cannot use %s: %s", url_for_log(url, shown, sizeof(shown)),
                     natsStatus_GetText(s));
        natsConnection_Destroy(nc);
        return NULL;
    }
    rp_log_info("message bus: publishing change events to %s",
                url_for_log(url, shown, sizeof(shown)));
    return nc;
}

/*
 * Resolves the URL in force, remakes the connection if it changed, and returns holding the
 * read lock (release with bus_release) with *nc the connection, NULL when the bus is off or
 * its URL unusable.
 */
static int bus_acquire(struct rp_automation *a, natsConnection **nc, struct rp_error *err)
{
    struct rp_bus *b = a->bus;
    char url[BUS_URL_MAX];
    int rc = bus_url(a, url, sizeof(url), err);

    *nc = NULL;
    if (rc < 0)
        return rc;
    pthread_rwlock_rdlock(&b->lock);
    if (strcmp(b->url, url) == 0) {
        *nc = b->nc;
        return 0;
    }
    pthread_rwlock_unlock(&b->lock);
    pthread_rwlock_wrlock(&b->lock);
    if (strcmp(b->url, url) != 0) {
        if (b->nc) {
            natsConnection_Close(b->nc);
            natsConnection_Destroy(b->nc);
        }
        b->nc = url[0] ? bus_connect(url) : NULL;
        snprintf(b->url, sizeof(b->url), "%s", url);
        if (!url[0])
            rp_log_info("message bus: off");
    }
    pthread_rwlock_unlock(&b->lock);
    pthread_rwlock_rdlock(&b->lock);
    *nc = b->nc;
    return 0;
}

static void bus_release(struct rp_automation *a)
{
    pthread_rwlock_unlock(&a->bus->lock);
}

static bool is_connected(natsConnection *nc)
{
    return nc && natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED;
}

/* One message with its Nats-Msg-Id, handed to libnats (not yet confirmed). */
static natsStatus publish(natsConnection *nc, const char *subject, const char *id, const char *body,
                          size_t len)
{
    natsMsg *m = NULL;
    natsStatus s = natsMsg_Create(&m, subject, NULL, body, (int)len);

    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, BUS_MSG_ID, id);
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(nc, m);
    natsMsg_Destroy(m);
    return s;
}

/* ---- change events ---- */

/* Appends s as subject tokens: characters NATS gives a meaning to, and empty tokens, become
 * '_' (a dot is kept only between two non-empty tokens when dots is set). */
static void add_tokens(struct rp_buf *b, const char *s, size_t n, bool dots)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
        if (c == '.' && dots && i > 0 && i + 1 < n && s[i - 1] != '.' && s[i + 1] != '.')
            rp_buf_addc(b, '.');
        else
            rp_buf_addc(b, word ? c : '_');
    }
    if (n == 0)
        rp_buf_addc(b, '_');
}

struct batch {
    natsConnection *nc;
    struct rp_buf subject, body;
    int64_t last; /* seq of the last event handed over */
    size_t n;
    natsStatus s;
};

static int event_row(void *ctx, const struct rp_value *cols, size_t ncols)
{
    struct batch *x = ctx;
    char id[32];

    if (ncols < RP_CHANGE_JSON_NCOLS || cols[2].type != RP_V_TEXT || cols[4].type != RP_V_TEXT)
        return RP_EINTERNAL;
    rp_buf_reset(&x->subject);
    rp_buf_adds(&x->subject, "rapport.");
    add_tokens(&x->subject, cols[2].u.s.p, cols[2].u.s.len, false);
    rp_buf_addc(&x->subject, '.');
    add_tokens(&x->subject, cols[4].u.s.p, cols[4].u.s.len, true);
    rp_buf_reset(&x->body);
    rp_automation_change_json(cols, &x->body);
    if (rp_buf_error(&x->body) || (int64_t)x->body.len > natsConnection_GetMaxPayload(x->nc)) {
        /*
         * Larger than the server takes: sent without its changes rather than never, which
         * would hold back every later event. Subscribers read the record instead.
         */
        struct rp_value lean[RP_CHANGE_JSON_NCOLS];
        memcpy(lean, cols, sizeof(lean));
        lean[6] = rp_value_null();
        rp_buf_reset(&x->body);
        rp_automation_change_json(lean, &x->body);
        rp_buf_truncate(&x->body, x->body.len - 1);
        rp_buf_adds(&x->body, ",\"changes_omitted\":true}");
    }
    snprintf(id, sizeof(id), "evt_%lld", (long long)cols[0].u.i);
    if (rp_buf_error(&x->subject) || rp_buf_error(&x->body)) {
        x->s = NATS_MAX_PAYLOAD;
        return RP_ETOOBIG;
    }
    x->s = publish(x->nc, x->subject.data, id, x->body.data, x->body.len);
    if (x->s != NATS_OK)
        return RP_EIO;
    x->last = cols[0].u.i;
    x->n++;
    return 0;
}

struct cursor_move {
    int64_t from, to;
};

static int cursor_start_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct rp_arena arena;
    int rc;

    (void)ctx;
    rp_arena_init(&arena);
    rc = rp_records_change_cursor_start(c, RP_BUS_CURSOR_KEY, &arena, err);
    rp_arena_release(&arena);
    return rc;
}

/* Moves the cursor unless another process moved it meanwhile (it published the same). */
static int cursor_move_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct cursor_move *x = ctx;
    struct rp_arena arena;
    struct rp_sql q;
    int rc;

    rp_arena_init(&arena);
    rp_sql_init(&q, &arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "UPDATE rp_setting SET value = ");
    rp_sql_param(&q, rp_value_cstr(rp_arena_sprintf(&arena, "%lld", (long long)x->to)));
    rp_sql_add(&q, " WHERE key = '" RP_BUS_CURSOR_KEY "' AND CAST(value AS BIGINT) = ");
    rp_sql_param(&q, rp_value_int(x->from));
    rc = rp_store_exec(c, &q, NULL, err);
    rp_arena_release(&arena);
    return rc;
}

/* Reads up to BUS_BATCH events after the cursor and hands them to libnats; x->last, x->n. */
static int read_batch(struct rp_automation *a, struct batch *x, int64_t *cursor,
                      struct rp_arena *arena, struct rp_error *err)
{
    struct rp_store_conn *c = rp_store_reader_acquire(a->store);
    struct rp_sql q;
    int rc;

    *cursor = -1;
    rp_sql_init(&q, arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = '" RP_BUS_CURSOR_KEY "'");
    rc = rp_store_query(c, &q, rp_store_row_int, cursor, err);
    if (rc == 0 && *cursor < 0)
        rc = rp_error_set(err, RP_EINTERNAL, "the message bus cursor is missing");
    if (rc == 0) {
        x->last = *cursor;
        rp_sql_init(&q, arena, RP_SQL_SQLITE);
        rp_sql_add(&q, "SELECT " RP_CHANGE_JSON_COLUMNS " FROM rp_change WHERE seq > ");
        rp_sql_param(&q, rp_value_int(*cursor));
        rp_sql_add(&q, " ORDER BY seq LIMIT ");
        rp_sql_param(&q, rp_value_int(BUS_BATCH));
        rc = rp_store_query(c, &q, event_row, x, err);
        if (rc < 0 && x->s != NATS_OK)
            rc = rp_error_set(err, RP_EIO, "could not publish change event %lld: %s",
                              (long long)x->last + 1, natsStatus_GetText(x->s));
    }
    rp_store_reader_release(a->store, c);
    return rc;
}

/* The outage is logged when it starts and when it ends, not at every tick. */
static void note_state(struct rp_bus *b, bool down, const char *why)
{
    char shown[BUS_URL_MAX];

    if (down && !b->down)
        rp_log_warn("message bus: cannot publish to %s (%s); change events wait for it",
                    url_for_log(b->url, shown, sizeof(shown)), why);
    else if (!down && b->down)
        rp_log_info("message bus: publishing to %s again",
                    url_for_log(b->url, shown, sizeof(shown)));
    b->down = down;
}

int rp_bus_dispatch(struct rp_automation *a, size_t *published, struct rp_error *err)
{
    struct rp_bus *b = a->bus;
    natsConnection *nc = NULL;
    struct rp_arena arena;
    struct batch x = {0};
    size_t total = 0, batches = 0;
    int rc;

    if (published)
        *published = 0;
    if ((rc = bus_acquire(a, &nc, err)) < 0)
        return rc;
    if (!b->url[0])
        goto out; /* off */
    if (!b->cursor_ready) {
        /* Events from the moment the bus is first on, even if NATS is not reachable yet. */
        if ((rc = rp_store_write(a->store, cursor_start_run, NULL, err)) < 0)
            goto out;
        b->cursor_ready = true;
    }
    if (!is_connected(nc)) {
        note_state(b, true, nc ? "not connected" : "unusable URL");
        rc = rp_error_set(err, RP_EIO, "the message bus is not connected");
        goto out;
    }
    /* The dispatcher also serves rules and webhooks: a stalled server must not hold it at
       every tick until libnats' pings give up on it. */
    if (rp_clock_monotonic_us() < b->stalled_until) {
        rc = rp_error_set(err, RP_EIO, "the message bus timed out a moment ago");
        goto out;
    }
    rp_arena_init(&arena);
    x.nc = nc;
    rp_buf_init(&x.subject, &arena, RP_BUS_SUBJECT_MAX + 160);
    rp_buf_init(&x.body, &arena, BUS_BODY_MAX);
    do {
        struct cursor_move m;
        natsStatus s;
        x.n = 0;
        x.s = NATS_OK;
        if ((rc = read_batch(a, &x, &m.from, &arena, err)) < 0)
            break;
        if (x.n == 0)
            break;
        /* At least once: the cursor moves only after the server has everything before it. */
        if ((s = natsConnection_FlushTimeout(nc, BUS_FLUSH_MS)) != NATS_OK) {
            if (s == NATS_TIMEOUT)
                b->stalled_until = rp_clock_monotonic_us() + BUS_STALL_US;
            rc = rp_error_set(err, RP_EIO, "the message bus did not confirm: %s",
                              natsStatus_GetText(s));
            break;
        }
        m.to = x.last;
        if ((rc = rp_store_write(a->store, cursor_move_run, &m, err)) < 0)
            break;
        total += x.n;
        atomic_fetch_add(&b->published, x.n);
    } while (x.n == BUS_BATCH && ++batches < BUS_TICK_BATCHES);
    rp_arena_release(&arena);
    if (rc == RP_EIO) {
        atomic_fetch_add(&b->errors, 1);
        note_state(b, true, err->detail ? err->detail : "error");
    } else if (rc == 0) {
        note_state(b, false, NULL);
    }
out:
    bus_release(a);
    if (published)
        *published = total;
    return rc;
}

void rp_bus_stats(struct rp_automation *a, struct rp_bus_stats *st)
{
    struct rp_bus *b = a->bus;

    memset(st, 0, sizeof(*st));
    st->published = atomic_load(&b->published);
    st->errors = atomic_load(&b->errors);
    pthread_rwlock_rdlock(&b->lock);
    st->configured = b->url[0] != '\0';
    st->connected = is_connected(b->nc);
    pthread_rwlock_unlock(&b->lock);
}

/* ---- the rule action "publish" ---- */

bool rp_bus_subject_is_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0, token = 0;

    if (n == 0 || n > RP_BUS_SUBJECT_MAX)
        return false;
    /* "rapport." is the change events': a rule may not speak for them. */
    if (strncmp(s, "rapport.", 8) == 0 || strcmp(s, "rapport") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (token == 0)
                return false;
            token = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false; /* wildcards (*, >), white space, $ of system subjects */
        token++;
    }
    return token > 0;
}

int rp_bus_publish_check(const struct rp_action_check *c, const json_t *act, struct rp_error *err)
{
    static const char *const keys[] = {"type", "subject", "values", NULL};

    if (rp_json_check_keys(act, keys, "publish", c->where, err) < 0)
        return err->code;
    if (!rp_bus_subject_is_valid(json_string_value(json_object_get(act, "subject"))))
        return rp_error_field(err, RP_EVALIDATION, c->where, "invalid_subject",
                              "publish needs a \"subject\": up to %d characters of dot-separated "
                              "tokens of A-Z, a-z, 0-9, '_' and '-', without wildcards and not "
                              "under \"rapport.\"",
                              RP_BUS_SUBJECT_MAX);
    if (!json_object_get(act, "values"))
        return 0;
    return rp_action_check_values(c, NULL, json_object_get(act, "values"), err);
}

int rp_bus_publish_run(const struct rp_action_run *x, const json_t *act, struct rp_error *err)
{
    struct rp_automation *a = x->a;
    const char *subject = json_string_value(json_object_get(act, "subject"));
    const json_t *values = json_object_get(act, "values");
    char *id = rp_arena_sprintf(x->arena, "job:%s:%zu", x->job->id, x->index);
    json_t *data = json_object(), *msg = NULL;
    natsConnection *nc = NULL;
    char *body = NULL;
    natsStatus s;
    int rc;

    if (values &&
        (rc = rp_action_resolve_values(x, x->record_id ? x->object : NULL, values, data, err)) < 0)
        goto out;
    msg = json_pack("{ss ss ss so sO}", "id", id, "rule", x->rule, "object", x->object->name,
                    "record_id", x->record_id ? json_string(x->record_id) : json_null(), "values",
                    data);
    body = msg ? rp_json_dumps(msg, JSON_COMPACT | JSON_SORT_KEYS, NULL) : NULL;
    if (!body) {
        rc = rp_error_set(err, RP_EINVAL, "publish: the message cannot be written as JSON");
        goto out;
    }
    if ((rc = bus_acquire(a, &nc, err)) < 0)
        goto out;
    if (!a->bus->url[0]) {
        rc = rp_error_set(err, RP_EIO,
                          "publish: the message bus is off (rapport serve --nats or the setting "
                          "\"" RP_RECORDS_BUS_URL_SETTING "\")");
    } else if (!is_connected(nc)) {
        rc = rp_error_set(err, RP_EIO, "publish: the message bus is not connected");
    } else if ((s = publish(nc, subject, id, body, strlen(body))) != NATS_OK ||
               (s = natsConnection_FlushTimeout(nc, BUS_FLUSH_MS)) != NATS_OK) {
        /* A message larger than the server takes stays so: no retries for it. */
        rc = rp_error_set(err, s == NATS_MAX_PAYLOAD ? RP_EINVAL : RP_EIO,
                          "publish to \"%s\" failed: %s", subject, natsStatus_GetText(s));
    } else {
        atomic_fetch_add(&a->bus->published, 1);
        rc = 0;
    }
    if (rc < 0)
        atomic_fetch_add(&a->bus->errors, 1);
    bus_release(a);
out:
    free(body);
    json_decref(msg);
    json_decref(data);
    return rc;
}
