/*
 * Reading the audit log. Entries are written by the units that make the changes they record
 * (records_write.c, records_schema.c, records_export.c), in the same transaction; nothing
 * updates or deletes them, and this file only reads.
 *
 * Paging is keyset on the entry id, which only grows: newest first reads ids below `before`,
 * oldest first ids above `after`; either bound may be combined with either order.
 */
#include "records/records_int.h"
#include "base/limits.h"

#include <stdio.h>

#define AUDIT_PAGE_DEFAULT 100
#define AUDIT_MAX_ACTIONS  32

static int check_view_audit(const struct rp_principal *p, struct rp_error *err)
{
    return rp_policy_check(p, NULL, RP_ACT_VIEW_AUDIT, err);
}

/* Appends " AND action IN (...)" for a comma-separated list. */
static int actions_sql(const char *list, struct rp_arena *a, struct rp_sql *q, struct rp_error *err)
{
    const char *s = list;
    size_t n = 0;

    rp_sql_add(q, " AND action IN (");
    for (;;) {
        size_t len = strcspn(s, ",");
        if (len == 0 || len > RP_LIMIT_NAME_BYTES)
            return rp_error_field(
                err, RP_EINVAL, "action", "invalid",
                "parameter \"action\" must be a comma-separated list of actions of at most %d characters",
                RP_LIMIT_NAME_BYTES);
        if (++n > AUDIT_MAX_ACTIONS)
            return rp_error_field(err, RP_EINVAL, "action", "too_many",
                                  "parameter \"action\" takes at most %d actions",
                                  AUDIT_MAX_ACTIONS);
        rp_sql_add(q, n > 1 ? ", " : "");
        rp_sql_param(q, rp_value_cstr(rp_arena_strndup(a, s, len)));
        s += len;
        if (!*s)
            break;
        s++;
    }
    rp_sql_add(q, ")");
    return 0;
}

static void add_text_or_null(struct rp_buf *out, const struct rp_value *v)
{
    if (v->type == RP_V_TEXT)
        rp_buf_add_json_str(out, v->u.s.p, v->u.s.len);
    else
        rp_buf_adds(out, "null");
}

struct audit_out {
    struct rp_buf *out;
    size_t limit;
    size_t n;     /* entries seen, the look-ahead one included */
    int64_t last; /* id of the last entry written */
};

static int audit_row(void *vctx, const struct rp_value *cols, size_t ncols)
{
    struct audit_out *ao = vctx;
    struct rp_value at;

    if (ncols < 8 || cols[0].type != RP_V_INT)
        return 0;
    if (++ao->n > ao->limit)
        return 1; /* the look-ahead entry: there are more */
    if (ao->n > 1)
        rp_buf_addc(ao->out, ',');
    ao->last = cols[0].u.i;
    at = rp_value_typed_int(RP_V_DATETIME, cols[1].type == RP_V_INT ? cols[1].u.i : 0);
    rp_buf_addf(ao->out, "{\"id\":%lld,\"at\":", (long long)cols[0].u.i);
    rp_value_to_json(ao->out, &at);
    rp_buf_adds(ao->out, ",\"actor\":");
    add_text_or_null(ao->out, &cols[2]);
    rp_buf_adds(ao->out, ",\"action\":");
    add_text_or_null(ao->out, &cols[3]);
    rp_buf_adds(ao->out, ",\"object\":");
    add_text_or_null(ao->out, &cols[4]);
    rp_buf_adds(ao->out, ",\"record_id\":");
    add_text_or_null(ao->out, &cols[5]);
    rp_buf_adds(ao->out, ",\"changes\":");
    /* Every writer of the log stores changes as JSON; anything else is shown as a string. */
    if (cols[6].type == RP_V_TEXT && cols[6].u.s.len &&
        (cols[6].u.s.p[0] == '{' || cols[6].u.s.p[0] == '['))
        rp_buf_add(ao->out, cols[6].u.s.p, cols[6].u.s.len);
    else
        add_text_or_null(ao->out, &cols[6]);
    rp_buf_adds(ao->out, ",\"request_id\":");
    add_text_or_null(ao->out, &cols[7]);
    rp_buf_addc(ao->out, '}');
    return 0;
}

static void text_condition(struct rp_sql *q, const char *column, const char *value)
{
    if (!value)
        return;
    rp_sql_addf(q, " AND %s = ", column);
    rp_sql_param(q, rp_value_cstr(value));
}

int rp_records_audit_list(struct rp_records *rs, const struct rp_principal *p,
                          const struct rp_audit_query *aq, struct rp_arena *a, struct rp_buf *out,
                          struct rp_error *err)
{
    struct audit_out ao = {.out = out, .limit = aq->limit ? aq->limit : AUDIT_PAGE_DEFAULT};
    struct rp_store_conn *c = NULL;
    struct rp_sql q;
    int rc;

    if ((rc = check_view_audit(p, err)) < 0)
        return rc;
    if (ao.limit > RP_LIMIT_PAGE_MAX)
        return rp_error_field(err, RP_EINVAL, "limit", "out_of_range",
                              "parameter \"limit\" must be between 1 and %d", RP_LIMIT_PAGE_MAX);
    rp_sql_init(&q, a, rp_store_dialect(rs->store));
    rp_sql_add(&q, "SELECT id, at, actor, action, object, record_id, changes, request_id"
                   " FROM rp_audit WHERE id > ");
    rp_sql_param(&q, rp_value_int(aq->after > 0 ? aq->after : 0));
    if (aq->before > 0) {
        rp_sql_add(&q, " AND id < ");
        rp_sql_param(&q, rp_value_int(aq->before));
    }
    text_condition(&q, "actor", aq->actor);
    text_condition(&q, "object", aq->object);
    text_condition(&q, "record_id", aq->record_id);
    text_condition(&q, "request_id", aq->request_id);
    if (aq->actions && (rc = actions_sql(aq->actions, a, &q, err)) < 0)
        return rc;
    if (aq->has_since) {
        rp_sql_add(&q, " AND at >= ");
        rp_sql_param(&q, rp_value_int(aq->since));
    }
    if (aq->has_until) {
        rp_sql_add(&q, " AND at < ");
        rp_sql_param(&q, rp_value_int(aq->until));
    }
    rp_sql_add(&q, aq->ascending ? " ORDER BY id LIMIT " : " ORDER BY id DESC LIMIT ");
    rp_sql_param(&q, rp_value_int((int64_t)ao.limit + 1));

    rp_buf_adds(out, "{\"data\":[");
    c = rp_store_reader_acquire(rs->store);
    rc = rp_store_query(c, &q, audit_row, &ao, err);
    rp_store_reader_release(rs->store, c);
    if (rc < 0)
        return rc;
    rp_buf_adds(out, "],\"next\":");
    if (ao.n > ao.limit)
        rp_buf_add_i64(out, ao.last);
    else
        rp_buf_adds(out, "null");
    rp_buf_addc(out, '}');
    return rp_buf_error(out)
               ? rp_error_set(err, RP_ETOOBIG, "response too large; ask for fewer entries")
               : 0;
}
