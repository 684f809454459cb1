/*
 * Installation settings (records.h): a fixed list of keys, each with the permission that
 * changes it and a check of its form, stored in rp_setting and audited.
 */
#include "records/records_int.h"

#include <stdio.h>

struct setting_def {
    const char *key;
    enum rp_policy_action permission;
    bool (*valid)(const char *value);
    bool secret;        /* shown and audited as SECRET_MASK, never in clear */
    const char *cursor; /* a change-log cursor started in the unit that sets it; NULL: none */
};

#define SECRET_MASK "********"

static bool is_count(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 12)
        return false;
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return false;
    return true;
}

/* Host names and CIDR ranges separated by commas: the outbound client checks each in detail. */
static bool is_allow_list(const char *v)
{
    size_t n = strlen(v);
    if (n > 4096)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':' || c == '/' || c == ',' || c == ' '))
            return false;
    }
    return true;
}

/* One line of printable text (no CR, LF or other control characters), at most max bytes. */
static bool is_line(const char *v, size_t max)
{
    size_t n = strlen(v);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return false;
    return true;
}

static bool is_url_of(const char *v, const char *const *schemes)
{
    if (!is_line(v, 2048) || strchr(v, ' '))
        return false;
    for (size_t i = 0; schemes[i]; i++)
        if (strncmp(v, schemes[i], strlen(schemes[i])) == 0 && v[strlen(schemes[i])] != '\0')
            return true;
    return false;
}

static bool is_smtp_url(const char *v)
{
    static const char *const schemes[] = {"smtp://", "smtps://", NULL};
    return is_url_of(v, schemes);
}

static bool is_http_url(const char *v)
{
    static const char *const schemes[] = {"http://", "https://", NULL};
    return is_url_of(v, schemes);
}

/* An address, optionally with a display name: "Rapport <crm@example.com>". */
static bool is_mailbox(const char *v)
{
    return is_line(v, 320) && strchr(v, '@') != NULL;
}

static bool is_short_line(const char *v)
{
    return is_line(v, 1024);
}

/*
 * A NATS server URL: nats:// or tls://, optional user:password@, a host and an optional port;
 * no path, no list. libnats parses it; this only keeps out what it would misread.
 */
static bool is_nats_url(const char *v)
{
    const char *rest = strncmp(v, "nats://", 7) == 0  ? v + 7
                       : strncmp(v, "tls://", 6) == 0 ? v + 6
                                                      : NULL;
    const char *host;
    size_t n;

    if (!rest)
        return false;
    n = strlen(rest);
    if (n == 0 || n > 512)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = rest[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']' || c == '@' ||
              c == '%'))
            return false;
    }
    host = strrchr(rest, '@');
    host = host ? host + 1 : rest;
    return *host != '\0' && *host != ':';
}

/* A country calling code: 1-3 digits, not starting with 0 ("86", "1", "852"). */
static bool is_country_code(const char *v)
{
    size_t n = strlen(v);
    return n >= 1 && n <= 3 && v[0] != '0' && is_count(v);
}

static const struct setting_def settings[] = {
    {RP_RECORDS_EXPORT_LIMIT_SETTING, RP_ACT_MANAGE_USERS, is_count, false, NULL},
    {"webhooks.allow", RP_ACT_MANAGE_AUTOMATION, is_allow_list, false, NULL},
    {"email.smtp_url", RP_ACT_MANAGE_AUTOMATION, is_smtp_url, false, NULL},
    {"email.from", RP_ACT_MANAGE_AUTOMATION, is_mailbox, false, NULL},
    {"email.username", RP_ACT_MANAGE_AUTOMATION, is_short_line, false, NULL},
    {"email.password", RP_ACT_MANAGE_AUTOMATION, is_short_line, true, NULL},
    {"email.tracking_base_url", RP_ACT_MANAGE_AUTOMATION, is_http_url, false, NULL},
    /* The bus publishes what commits after it was turned on, even before it first connects. */
    {RP_RECORDS_BUS_URL_SETTING, RP_ACT_MANAGE_AUTOMATION, is_nats_url, false,
     RP_RECORDS_BUS_CURSOR},
    {"dedup.default_country", RP_ACT_MANAGE_METADATA, is_country_code, false, NULL},
};

static const struct setting_def *setting_of(const char *key)
{
    for (size_t i = 0; key && i < sizeof(settings) / sizeof(settings[0]); i++)
        if (strcmp(settings[i].key, key) == 0)
            return &settings[i];
    return NULL;
}

int rp_records_change_cursor_start(struct rp_store_conn *c, const char *key, struct rp_arena *arena,
                                   struct rp_error *err)
{
    struct rp_sql q;

    rp_sql_init(&q, arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_setting (key, value) SELECT ");
    rp_sql_param(&q, rp_value_cstr(key));
    rp_sql_add(&q, ", CAST(COALESCE(MAX(seq), 0) AS TEXT) FROM rp_change WHERE true"
                   " ON CONFLICT (key) DO NOTHING");
    return rp_store_exec(c, &q, NULL, err);
}

bool rp_records_setting_is_valid(const char *key, const char *value)
{
    const struct setting_def *d = setting_of(key);
    return d && value && d->valid(value);
}

struct value_row {
    struct rp_buf *out;
    bool secret;
    bool found;
};

static int value_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct value_row *x = ctx;
    if (n > 0 && cols[0].type == RP_V_TEXT) {
        if (x->secret)
            rp_buf_adds(x->out, "\"" SECRET_MASK "\"");
        else
            rp_buf_add_json_str(x->out, cols[0].u.s.p, cols[0].u.s.len);
        x->found = true;
    }
    return 1;
}

int rp_records_setting_get(struct rp_records *rs, const struct rp_principal *p, const char *key,
                           struct rp_arena *arena, struct rp_buf *out, struct rp_error *err)
{
    const struct setting_def *d = setting_of(key);
    struct value_row x = {.out = out, .secret = d && d->secret};
    struct rp_store_conn *c;
    struct rp_sql q;
    int rc;

    if (!d)
        return rp_error_set(err, RP_ENOTFOUND, "there is no setting \"%s\"", key);
    if ((rc = rp_policy_check(p, NULL, d->permission, err)) < 0)
        return rc;
    rp_buf_adds(out, "{\"key\":");
    rp_buf_add_json_str(out, d->key, strlen(d->key));
    rp_buf_adds(out, ",\"value\":");
    rp_sql_init(&q, arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = ");
    rp_sql_param(&q, rp_value_cstr(d->key));
    c = rp_store_reader_acquire(rs->store);
    rc = rp_store_query(c, &q, value_row, &x, err);
    rp_store_reader_release(rs->store, c);
    if (!x.found)
        rp_buf_adds(out, "null");
    rp_buf_addc(out, '}');
    return rc;
}

struct put_unit {
    const struct rp_principal *p;
    const struct setting_def *def;
    const char *key, *value, *request_id;
    bool secret;
    int64_t now;
    struct rp_arena *arena;
};

static int put_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct put_unit *x = ctx;
    struct rp_buf changes;
    struct rp_sql q;
    int rc;

    rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
    if (x->value) {
        rp_sql_add(&q, "INSERT INTO rp_setting (key, value) VALUES (");
        rp_sql_param(&q, rp_value_cstr(x->key));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_cstr(x->value));
        rp_sql_add(&q, ") ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    } else {
        rp_sql_add(&q, "DELETE FROM rp_setting WHERE key = ");
        rp_sql_param(&q, rp_value_cstr(x->key));
    }
    if ((rc = rp_store_exec(c, &q, NULL, err)) < 0)
        return rc;
    if (x->value && x->def->cursor &&
        (rc = rp_records_change_cursor_start(c, x->def->cursor, x->arena, err)) < 0)
        return rc;
    rp_buf_init(&changes, x->arena, 8192);
    rp_buf_adds(&changes, "{\"key\":");
    rp_buf_add_json_str(&changes, x->key, strlen(x->key));
    rp_buf_adds(&changes, ",\"value\":");
    if (x->value && x->secret)
        rp_buf_adds(&changes, "\"" SECRET_MASK "\"");
    else if (x->value)
        rp_buf_add_json_str(&changes, x->value, strlen(x->value));
    else
        rp_buf_adds(&changes, "null");
    rp_buf_addc(&changes, '}');
    const struct rp_value v[] = {rp_value_int(x->now), rp_value_cstr(x->p->user_id),
                                 rp_value_cstr("setting"), rp_value_text(changes.data, changes.len),
                                 x->request_id ? rp_value_cstr(x->request_id) : rp_value_null()};
    rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_audit (at, actor, action, changes, request_id) VALUES ");
    rp_sql_param_list(&q, v, sizeof(v) / sizeof(v[0]));
    return rp_store_exec(c, &q, NULL, err);
}

int rp_records_setting_put(struct rp_records *rs, const struct rp_principal *p, const char *key,
                           const char *value, const char *request_id, struct rp_arena *arena,
                           struct rp_error *err)
{
    const struct setting_def *d = setting_of(key);
    struct put_unit x = {.p = p,
                         .def = d,
                         .key = key,
                         .value = value,
                         .request_id = request_id,
                         .now = rp_clock_now_ms(rs->clock),
                         .arena = arena};
    int rc;

    if (!d)
        return rp_error_set(err, RP_ENOTFOUND, "there is no setting \"%s\"", key);
    if ((rc = rp_policy_check(p, NULL, d->permission, err)) < 0)
        return rc;
    x.secret = d->secret;
    if (value && !d->valid(value))
        return rp_error_field(err, RP_EVALIDATION, "value", "invalid",
                              "not a valid value for setting \"%s\"", key);
    return rp_store_write(rs->store, put_run, &x, err);
}
