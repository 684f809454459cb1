/*
 * Export: a list query read to its end through rp_records_scan, so the policy condition,
 * filter, search and sort apply exactly as they do to a list, written as CSV and then
 * audited.
 *
 * The body is built in the caller's buffer one row at a time: each row is formatted on its own
 * and appended only if it fits under the buffer's cap, so an export that is cut off ends at a
 * row boundary. A text cell that a spreadsheet would evaluate as a formula ("CSV injection")
 * gets a leading apostrophe, which makes it plain text.
 *
 * The audit entry and the hourly limit are decided together in one writer unit. The writer
 * runs units one at a time, so two exports by the same user cannot both get under the limit.
 * The limit is the caller's role's (rp_policy_export_limit), else the installation's setting.
 * Going over it is an anomaly: an "export.anomaly" audit entry, and a 429 if the role says to
 * block (the installation-wide setting always blocks).
 */
#include "records/records_int.h"
#include "base/json.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/time.h"
#include "base/uuid.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>

#define EXPORT_WINDOW_MS (INT64_C(60) * 60 * 1000)

/* ---- CSV ---- */

struct csv_export {
    const struct rp_export_query *eq;
    const struct rp_principal *p; /* sensitive cells are masked for it */
    struct rp_arena scratch;      /* masked cells of the row being formatted */
    struct rp_arena *arena;
    struct rp_buf *out;
    const struct rp_field **cols; /* the columns, in order */
    size_t ncols;
    struct rp_buf line; /* the row being formatted */
    struct rp_buf tmp;  /* a multi-picklist cell being joined */
    size_t rows;        /* data rows appended to out */
    bool full;          /* a row did not fit under out's cap */
};

/* Spreadsheets evaluate cells starting with these (OWASP, "CSV injection"). */
static bool is_formula_start(const char *s, size_t n)
{
    return n > 0 && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' ||
                     s[0] == '\r');
}

/* Appends one text cell: neutralised, then quoted when RFC 4180 requires it. */
static void csv_text(struct rp_buf *b, const char *s, size_t n)
{
    bool quote = false;
    const char *p = s, *end = s + n;

    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (quote)
        rp_buf_addc(b, '"');
    if (is_formula_start(s, n))
        rp_buf_addc(b, '\'');
    if (!quote) {
        rp_buf_add(b, s, n);
        return;
    }
    while (p < end) {
        const char *dq = memchr(p, '"', (size_t)(end - p));
        size_t len = dq ? (size_t)(dq - p) + 1 : (size_t)(end - p);
        rp_buf_add(b, p, len);
        if (dq)
            rp_buf_addc(b, '"');
        p += len;
    }
    rp_buf_addc(b, '"');
}

/* A multi-picklist is stored as a canonical JSON array; a cell holds its values joined by ';'. */
static void csv_multi_picklist(struct csv_export *cx, const struct rp_value *v)
{
    json_t *j = rp_json_loadb(v->u.s.p, v->u.s.len, 0, NULL), *e;
    size_t i;

    if (!json_is_array(j)) {
        json_decref(j);
        csv_text(&cx->line, v->u.s.p, v->u.s.len);
        return;
    }
    rp_buf_reset(&cx->tmp);
    json_array_foreach(j, i, e)
    {
        if (i)
            rp_buf_addc(&cx->tmp, ';');
        if (json_is_string(e))
            rp_buf_add(&cx->tmp, json_string_value(e), json_string_length(e));
    }
    json_decref(j);
    csv_text(&cx->line, cx->tmp.data, cx->tmp.len);
}

static void csv_value(struct csv_export *cx, const struct rp_field *f, const struct rp_value *v)
{
    struct rp_buf *b = &cx->line;
    struct rp_value masked;

    if (rp_records_masked(cx->p, f)) {
        rp_records_mask_value(f, v, &cx->scratch, &masked);
        if (masked.type == RP_V_TEXT)
            csv_text(b, masked.u.s.p, masked.u.s.len);
        return;
    }
    switch (v->type) {
    case RP_V_NULL:
        break;
    case RP_V_TEXT:
        if (f->type == RP_F_MULTI_PICKLIST)
            csv_multi_picklist(cx, v);
        else
            csv_text(b, v->u.s.p, v->u.s.len);
        break;
    case RP_V_NUM:
        if (isfinite(v->u.d))
            rp_value_to_json(b, v);
        break;
    case RP_V_DATE:
        rp_time_format_date(b, v->u.i);
        break;
    case RP_V_DATETIME:
        rp_time_format_datetime(b, v->u.i);
        break;
    case RP_V_BOOL:
    case RP_V_INT:
    case RP_V_MONEY:
        /*
         * Written by rapport as in JSON ("-12.5", "true"): a negative number is not a formula,
         * and an apostrophe would turn it into text in the spreadsheet.
         */
        rp_value_to_json(b, v);
        break;
    }
}

/* Appends the formatted line to out if it fits; otherwise marks the export full. */
static int csv_flush_line(struct csv_export *cx)
{
    rp_buf_adds(&cx->line, "\r\n");
    if (rp_buf_error(&cx->line) || cx->out->len + cx->line.len > cx->out->max) {
        cx->full = true;
        return 1;
    }
    rp_buf_add(cx->out, cx->line.data, cx->line.len);
    rp_buf_reset(&cx->line);
    return 0;
}

static const char *header_text(const struct rp_field *f, enum rp_export_header h)
{
    if (h == RP_EXPORT_HEADER_ZH && f->label.zh && *f->label.zh)
        return f->label.zh;
    if (h != RP_EXPORT_HEADER_NAMES && f->label.en && *f->label.en)
        return f->label.en;
    return f->name;
}

static void add_column(struct csv_export *cx, const struct rp_field *f)
{
    for (size_t i = 0; i < cx->ncols; i++)
        if (cx->cols[i] == f)
            return;
    cx->cols[cx->ncols++] = f;
}

/* The columns (id, then fields= in its order, or every field) and the header row. */
static int csv_begin(void *ctx, const struct rp_object *o, const bool *selected)
{
    struct csv_export *cx = ctx;
    const char *p = cx->eq->fields;

    cx->cols = rp_arena_calloc(cx->arena, o->nfields, sizeof(*cx->cols));
    add_column(cx, &o->fields[0]);
    if (!selected)
        for (size_t i = 0; i < o->nfields; i++)
            if (rp_records_field_visible(cx->p, o, &o->fields[i]))
                add_column(cx, &o->fields[i]);
    while (selected && p && *p) {
        /* The names were checked by the scan; this only puts them in the order given. */
        size_t n = strcspn(p, ",");
        char name[RP_LIMIT_NAME_BYTES + 1];
        const struct rp_field *f;
        if (n <= RP_LIMIT_NAME_BYTES) {
            memcpy(name, p, n);
            name[n] = '\0';
            if ((f = rp_meta_field(o, name)))
                add_column(cx, f);
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (cx->eq->bom)
        rp_buf_add(cx->out, "\xEF\xBB\xBF", 3);
    for (size_t i = 0; i < cx->ncols; i++) {
        const char *h = header_text(cx->cols[i], cx->eq->header);
        if (i)
            rp_buf_addc(&cx->line, ',');
        csv_text(&cx->line, h, strlen(h));
    }
    if (csv_flush_line(cx) != 0 || rp_buf_error(cx->out))
        return RP_ETOOBIG;
    return 0;
}

static int csv_row(void *ctx, const struct rp_row *row)
{
    struct csv_export *cx = ctx;

    rp_arena_reset(&cx->scratch);
    for (size_t i = 0; i < cx->ncols; i++) {
        if (i)
            rp_buf_addc(&cx->line, ',');
        csv_value(cx, cx->cols[i], &row->values[cx->cols[i]->index]);
    }
    if (csv_flush_line(cx) != 0)
        return 1;
    cx->rows++;
    return 0;
}

/* ---- the audit entry and the hourly limit ---- */

struct export_audit {
    const struct rp_principal *p;
    const char *object;
    const char *request_id; /* or NULL */
    const char *changes;    /* the entry's JSON without its closing brace */
    int64_t rows;           /* rows in this export */
    int64_t now;
    bool role_limit; /* the caller's role sets the limit (role_rows, role_block) */
    int64_t role_rows;
    bool role_block;
    /* outcome of the last run */
    bool anomaly;          /* over the limit: an export.anomaly entry was written */
    bool blocked;          /* ... and the export is refused */
    int64_t limit;         /* the limit, or -1 for none */
    int64_t used;          /* rows the user exported in the window before this export */
    int64_t retry_after_s; /* when blocked: seconds until this export would fit */
};

struct setting {
    struct rp_arena *arena;
    bool found;
    struct rp_value value;
};

static int setting_row(void *ctx, const struct rp_value *cols, size_t ncols)
{
    struct setting *s = ctx;
    if (ncols < 1)
        return 1;
    s->found = true;
    s->value = cols[0];
    if (cols[0].type == RP_V_TEXT)
        s->value.u.s.p = rp_arena_strndup(s->arena, cols[0].u.s.p, cols[0].u.s.len);
    return 1;
}

/* The configured limit of exported rows per hour, or -1 for none. */
static int read_limit(struct rp_store_conn *c, struct rp_arena *a, int64_t *limit,
                      struct rp_error *err)
{
    struct setting s = {.arena = a};
    struct rp_sql q;
    const char *text;
    char *end;
    long long n;
    int rc;

    *limit = -1;
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = ");
    rp_sql_param(&q, rp_value_cstr(RP_RECORDS_EXPORT_LIMIT_SETTING));
    if ((rc = rp_store_query(c, &q, setting_row, &s, err)) < 0)
        return rc;
    if (!s.found || s.value.type == RP_V_NULL)
        return 0;
    if (s.value.type == RP_V_INT && s.value.u.i >= 0) {
        *limit = s.value.u.i;
        return 0;
    }
    text = s.value.type == RP_V_TEXT ? s.value.u.s.p : "";
    errno = 0;
    n = strtoll(text, &end, 10);
    if (s.value.type == RP_V_TEXT && *text >= '0' && *text <= '9' && !*end && !errno) {
        *limit = n;
        return 0;
    }
    /* Fail closed: a limit the administrator meant to set must not silently become none. */
    rp_log_error(
        "setting \"%s\" is not a non-negative integer; exports are refused until it is fixed",
        RP_RECORDS_EXPORT_LIMIT_SETTING);
    return rp_error_set(err, RP_EINTERNAL,
                        "exports are unavailable: the export limit setting is invalid");
}

struct window {
    struct rp_arena *arena;
    int64_t *at, *rows; /* the user's exports in the window, oldest first */
    size_t n, cap;
    int64_t sum;
};

static int window_row(void *ctx, const struct rp_value *cols, size_t ncols)
{
    struct window *w = ctx;
    json_t *j;
    int64_t rows = 0;

    if (ncols < 2 || cols[0].type != RP_V_INT)
        return 0;
    if (cols[1].type == RP_V_TEXT) {
        j = rp_json_loadb(cols[1].u.s.p, cols[1].u.s.len, 0, NULL);
        if (json_is_integer(json_object_get(j, "rows")))
            rows = json_integer_value(json_object_get(j, "rows"));
        json_decref(j);
    }
    if (w->n == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 16;
        w->at = rp_arena_realloc(w->arena, w->at, w->cap * sizeof(int64_t), ncap * sizeof(int64_t));
        w->rows =
            rp_arena_realloc(w->arena, w->rows, w->cap * sizeof(int64_t), ncap * sizeof(int64_t));
        w->cap = ncap;
    }
    w->at[w->n] = cols[0].u.i;
    w->rows[w->n++] = rows;
    w->sum += rows;
    return 0;
}

/* Decides whether this export passes the user's limit, and if not when it would. */
static int check_window(struct rp_store_conn *c, struct rp_arena *a, struct export_audit *ea,
                        struct rp_error *err)
{
    struct window w = {.arena = a};
    struct rp_sql q;
    int64_t left;
    int rc;

    /*
     * Served by the index rp_audit(actor, action, at).
     */
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT at, changes FROM rp_audit WHERE actor = ");
    rp_sql_param(&q, rp_value_cstr(ea->p->user_id));
    rp_sql_add(&q, " AND action = ");
    rp_sql_param(&q, rp_value_cstr("export"));
    rp_sql_add(&q, " AND at > ");
    rp_sql_param(&q, rp_value_int(ea->now - EXPORT_WINDOW_MS));
    rp_sql_add(&q, " ORDER BY at, id");
    if ((rc = rp_store_query(c, &q, window_row, &w, err)) < 0)
        return rc;
    ea->used = w.sum;
    if (w.sum + ea->rows <= ea->limit)
        return 0;
    ea->anomaly = true;
    ea->blocked = ea->role_limit ? ea->role_block : true;
    if (ea->rows > ea->limit) {
        /*
         * No amount of waiting makes this export fit. Clients that honour Retry-After are told
         * to wait a whole window rather than the transport's default of a second, which would
         * have them read the rows and write an anomaly entry every second.
         */
        ea->retry_after_s = EXPORT_WINDOW_MS / 1000;
        return 0;
    }
    /* The export fits once enough of the oldest exports have left the window. */
    left = w.sum;
    for (size_t i = 0; i < w.n; i++) {
        left -= w.rows[i];
        if (left + ea->rows <= ea->limit) {
            int64_t ms = w.at[i] + EXPORT_WINDOW_MS - ea->now;
            ea->retry_after_s = ms > 0 ? (ms + 999) / 1000 : 1;
            break;
        }
    }
    return 0;
}

static int export_audit_insert(struct rp_store_conn *c, struct rp_arena *a,
                               const struct export_audit *ea, const char *action,
                               struct rp_error *err)
{
    struct rp_buf changes;
    struct rp_sql q;

    rp_buf_init(&changes, a, RP_LIMIT_STRING_BYTES);
    rp_buf_adds(&changes, ea->changes);
    if (ea->anomaly)
        rp_buf_addf(&changes, ",\"limit\":%lld,\"window_rows\":%lld,\"blocked\":%s",
                    (long long)ea->limit, (long long)ea->used, ea->blocked ? "true" : "false");
    rp_buf_addc(&changes, '}');
    if (rp_buf_error(&changes))
        return rp_error_set(err, RP_ETOOBIG, "audit entry too large");
    const struct rp_value audit[] = {rp_value_int(ea->now),
                                     rp_value_cstr(ea->p->user_id),
                                     rp_value_cstr(action),
                                     rp_value_cstr(ea->object),
                                     rp_value_null(),
                                     rp_value_text(changes.data, changes.len),
                                     ea->request_id ? rp_value_cstr(ea->request_id)
                                                    : rp_value_null()};
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_audit(at, actor, action, object, record_id, changes,"
                   " request_id) VALUES ");
    rp_sql_param_list(&q, audit, sizeof(audit) / sizeof(audit[0]));
    return rp_store_exec(c, &q, NULL, err);
}

/*
 * The anomaly is also an event of the change log (object "event", op "export.anomaly"), so
 * automation rules, webhooks and the feed can react to it like to an incoming event.
 */
static int export_anomaly_event(struct rp_store_conn *c, struct rp_arena *a,
                                const struct export_audit *ea, struct rp_error *err)
{
    struct rp_sql q;
    char id[RP_UUID_STRLEN + 1];
    const char *changes = rp_arena_sprintf(
        a,
        "{\"record_id\":null,\"data\":{\"user_id\":\"%s\",\"object\":\"%s\",\"rows\":%lld,"
        "\"window_rows\":%lld,\"limit\":%lld,\"blocked\":%s}}",
        ea->p->user_id, ea->object, (long long)ea->rows, (long long)ea->used, (long long)ea->limit,
        ea->blocked ? "true" : "false");

    rp_uuid_v7(id, ea->now);
    const struct rp_value v[] = {
        rp_value_int(ea->now),           rp_value_cstr("event"),        rp_value_cstr(id),
        rp_value_cstr("export.anomaly"), rp_value_cstr(ea->p->user_id), rp_value_cstr(changes)};
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_change(at, object, record_id, op, actor, changes) VALUES ");
    rp_sql_param_list(&q, v, sizeof(v) / sizeof(v[0]));
    return rp_store_exec(c, &q, NULL, err);
}

static int export_audit_unit(struct rp_store_conn *c, void *vctx, struct rp_error *err)
{
    struct export_audit *ea = vctx;
    struct rp_arena a;
    int rc;

    ea->anomaly = false;
    ea->blocked = false;
    ea->used = 0;
    ea->retry_after_s = 0;
    rp_arena_init(&a);
    rc = 0;
    if (ea->role_limit)
        ea->limit = ea->role_rows;
    else
        rc = read_limit(c, &a, &ea->limit, err);
    if (rc == 0 && ea->limit >= 0)
        rc = check_window(c, &a, ea, err);
    /* An export that goes through is counted against the window; an anomaly is noted apart. */
    if (rc == 0 && !ea->blocked)
        rc = export_audit_insert(c, &a, ea, "export", err);
    if (rc == 0 && ea->anomaly)
        rc = export_audit_insert(c, &a, ea, "export.anomaly", err);
    if (rc == 0 && ea->anomaly)
        rc = export_anomaly_event(c, &a, ea, err);
    rp_arena_release(&a);
    return rc;
}

static void add_str_or_null(struct rp_buf *b, const char *s)
{
    if (s)
        rp_buf_add_json_str(b, s, strlen(s));
    else
        rp_buf_adds(b, "null");
}

/* What the audit entry records: the query, the columns and the outcome. */
static void export_changes(const struct csv_export *cx, const struct rp_export_result *res,
                           struct rp_buf *b)
{
    rp_buf_adds(b, "{\"filter\":");
    add_str_or_null(b, cx->eq->filter);
    rp_buf_adds(b, ",\"q\":");
    add_str_or_null(b, cx->eq->q);
    rp_buf_adds(b, ",\"sort\":");
    add_str_or_null(b, cx->eq->sort);
    rp_buf_adds(b, ",\"fields\":[");
    for (size_t i = 0; i < cx->ncols; i++) {
        if (i)
            rp_buf_addc(b, ',');
        rp_buf_add_json_str(b, cx->cols[i]->name, strlen(cx->cols[i]->name));
    }
    rp_buf_addf(b, "],\"rows\":%zu,\"truncated\":%s", res->rows, res->truncated ? "true" : "false");
}

int rp_records_export_csv(struct rp_records *rs, const struct rp_principal *p, const char *object,
                          const struct rp_export_query *eq, struct rp_arena *a, struct rp_buf *out,
                          struct rp_export_result *res, struct rp_error *err)
{
    struct rp_list_query lq = {
        .filter = eq->filter, .sort = eq->sort, .fields = eq->fields, .q = eq->q};
    struct csv_export cx = {.eq = eq, .p = p, .arena = a, .out = out};
    struct rp_records_scan scan = {.action = RP_ACT_EXPORT,
                                   .max_rows =
                                       eq->max_rows && eq->max_rows < RP_RECORDS_EXPORT_MAX_ROWS
                                           ? eq->max_rows
                                           : RP_RECORDS_EXPORT_MAX_ROWS,
                                   .begin = csv_begin,
                                   .row = csv_row,
                                   .ctx = &cx};
    struct export_audit ea = {.p = p, .object = object, .request_id = eq->request_id};
    struct rp_buf changes;
    int rc;

    memset(res, 0, sizeof(*res));
    /* Columns are the fields the caller may read (csv_begin); sensitive cells masked as in
       reads (csv_value). */
    ea.role_limit = rp_policy_export_limit(p, &ea.role_rows, &ea.role_block);
    rp_buf_init(&cx.line, a, out->max);
    rp_buf_init(&cx.tmp, a, RP_LIMIT_STRING_BYTES);
    rp_arena_init(&cx.scratch);
    rc = rp_records_scan(rs, p, object, &lq, &scan, a, err);
    rp_arena_release(&cx.scratch);
    if (rc < 0)
        return rc == RP_ETOOBIG
                   ? rp_error_set(err, RP_ETOOBIG, "the export does not fit in a response")
                   : rc;
    res->rows = cx.rows;
    res->truncated = scan.more || cx.full;

    rp_buf_init(&changes, a, RP_LIMIT_STRING_BYTES);
    export_changes(&cx, res, &changes);
    if (rp_buf_error(&changes))
        return rp_error_set(err, RP_ETOOBIG, "the export query is too large to audit");
    ea.changes = changes.data;
    ea.rows = (int64_t)res->rows;
    ea.now = rp_clock_now_ms(rs->clock);
    if ((rc = rp_store_write(rs->store, export_audit_unit, &ea, err)) < 0)
        return rc;
    if (!ea.anomaly)
        return 0;
    rp_log_warn(
        "export anomaly: user %s exported %lld rows in the last hour and asked for %zu more of \"%s\"; the limit is %lld%s",
        p->user_id, (long long)ea.used, res->rows, object, (long long)ea.limit,
        ea.blocked ? "; refused" : "");
    if (!ea.blocked)
        return 0;
    res->retry_after_s = ea.retry_after_s;
    if (res->rows > (size_t)ea.limit)
        return rp_error_set(
            err, RP_ERATELIMIT,
            "exporting %zu rows exceeds the limit of %lld rows per hour; narrow the export with a filter",
            res->rows, (long long)ea.limit);
    return rp_error_set(
        err, RP_ERATELIMIT,
        "exporting %zu rows would exceed the limit of %lld rows per hour (%lld exported in the last hour)",
        res->rows, (long long)ea.limit, (long long)ea.used);
}
