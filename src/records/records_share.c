/*
 * Record shares and teams (records.h). A share is a row of rp_record_share that the policy
 * engine's record-level condition reads, so it takes effect with its commit; no snapshot is
 * rebuilt. The record is read and the caller's full access checked inside the writer unit
 * that changes the share, so an owner change cannot slip in between.
 */
#include "records/records_int.h"
#include "base/utf8.h"
#include "base/uuid.h"

#include <stdio.h>

#define TEAM_ROLE_MAX 64

struct share_op {
    const struct rp_meta *m;
    const struct rp_principal *p;
    const struct rp_object *o;
    const char *id, *user_id, *team_role, *request_id;
    enum rp_access_level access; /* RP_ACCESS_NONE: remove */
    int64_t now;
    struct rp_arena *arena;
};

static const char *access_name(enum rp_access_level a)
{
    return a == RP_ACCESS_EDIT ? "edit" : a == RP_ACCESS_READ ? "read" : "none";
}

static int share_unit(struct rp_store_conn *c, void *vctx, struct rp_error *err)
{
    struct share_op *x = vctx;
    struct rp_row row;
    struct rp_buf changes;
    struct rp_sql q;
    bool active = false;
    int64_t changed = 0;
    int rc;

    if ((rc = rp_records_fetch(c, x->m, x->p, x->o, x->id, x->arena, &row, err)) < 0)
        return rc;
    if (row.deleted_at)
        return rp_error_set(err, RP_ENOTFOUND, "%s \"%s\" not found", x->o->name, x->id);
    if ((rc = rp_records_check_access(c, x->m, x->p, x->o, x->id, RP_ACCESS_FULL, x->arena, err)) <
        0)
        return rc;
    rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
    if (x->access != RP_ACCESS_NONE) {
        rp_sql_add(&q, "SELECT 1 FROM rp_user WHERE id = ");
        rp_sql_param(&q, rp_value_cstr(x->user_id));
        rp_sql_add(&q, " AND active = 1");
        if ((rc = rp_store_query(c, &q, rp_store_row_exists, &active, err)) < 0)
            return rc;
        if (!active)
            return rp_error_field(err, RP_EVALIDATION, "user_id", "not_found",
                                  "\"%s\" is not the id of an active user", x->user_id);
        rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
        rp_sql_add(&q, "INSERT INTO rp_record_share (object, record_id, user_id, access, team_role,"
                       " created_at, created_by) VALUES (");
        rp_sql_param(&q, rp_value_cstr(x->o->name));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_cstr(x->id));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_cstr(x->user_id));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_int(x->access));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, x->team_role ? rp_value_cstr(x->team_role) : rp_value_null());
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_int(x->now));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_cstr(x->p->user_id));
        rp_sql_add(&q, ") ON CONFLICT (object, record_id, user_id) DO UPDATE SET"
                       " access = excluded.access, team_role = excluded.team_role");
    } else {
        rp_sql_add(&q, "DELETE FROM rp_record_share WHERE object = ");
        rp_sql_param(&q, rp_value_cstr(x->o->name));
        rp_sql_add(&q, " AND record_id = ");
        rp_sql_param(&q, rp_value_cstr(x->id));
        rp_sql_add(&q, " AND user_id = ");
        rp_sql_param(&q, rp_value_cstr(x->user_id));
    }
    if ((rc = rp_store_exec(c, &q, &changed, err)) < 0)
        return rc;
    if (changed == 0)
        return rp_error_set(err, RP_ENOTFOUND, "%s \"%s\" is not shared with user \"%s\"",
                            x->o->name, x->id, x->user_id);
    rp_buf_init(&changes, x->arena, 1024);
    rp_buf_adds(&changes, "{\"user_id\":");
    rp_buf_add_json_str(&changes, x->user_id, strlen(x->user_id));
    rp_buf_addf(&changes, ",\"access\":\"%s\",\"team_role\":", access_name(x->access));
    if (x->team_role)
        rp_buf_add_json_str(&changes, x->team_role, strlen(x->team_role));
    else
        rp_buf_adds(&changes, "null");
    rp_buf_addc(&changes, '}');
    const struct rp_value audit[] = {rp_value_int(x->now),
                                     rp_value_cstr(x->p->user_id),
                                     rp_value_cstr(x->access ? "share" : "unshare"),
                                     rp_value_cstr(x->o->name),
                                     rp_value_cstr(x->id),
                                     rp_value_text(changes.data, changes.len),
                                     x->request_id ? rp_value_cstr(x->request_id)
                                                   : rp_value_null()};
    rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_audit(at, actor, action, object, record_id, changes,"
                   " request_id) VALUES ");
    rp_sql_param_list(&q, audit, sizeof(audit) / sizeof(audit[0]));
    return rp_store_exec(c, &q, NULL, err);
}

/* The object, if p may edit records of it at all and its records have shares of their own. */
static int share_object(struct rp_meta *m, const struct rp_principal *p, const char *object,
                        const char *id, const struct rp_object **out, struct rp_error *err)
{
    const struct rp_object *o = rp_meta_object(m, object);
    int rc;

    if (!o)
        return rp_error_set(err, RP_ENOTFOUND, "object \"%s\" does not exist", object);
    if ((rc = rp_policy_check(p, object, RP_ACT_READ, err)) < 0)
        return rc;
    if (!id || !rp_uuid_is_valid(id, strlen(id)))
        return rp_error_set(err, RP_ENOTFOUND, "%s \"%s\" not found", object, id ? id : "");
    if (o->sharing == RP_SHARING_PARENT)
        return rp_error_set(err, RP_EVALIDATION,
                            "access to %s records follows their %s; share that record instead",
                            o->name, o->sharing_parent->name);
    *out = o;
    return 0;
}

static int share_change(struct rp_records *rs, const struct rp_principal *p, const char *object,
                        const char *id, const char *user_id, enum rp_access_level access,
                        const char *team_role, const char *request_id, struct rp_arena *arena,
                        struct rp_error *err)
{
    struct rp_meta *m = rp_meta_acquire(rs->meta);
    struct share_op x = {.m = m,
                         .p = p,
                         .id = id,
                         .user_id = user_id,
                         .team_role = team_role,
                         .request_id = request_id,
                         .access = access,
                         .now = rp_clock_now_ms(rs->clock),
                         .arena = arena};
    int rc;

    if ((rc = share_object(m, p, object, id, &x.o, err)) < 0)
        goto out;
    if ((rc = rp_policy_check(p, object, RP_ACT_EDIT, err)) < 0)
        goto out;
    if (!user_id || !rp_uuid_is_valid(user_id, strlen(user_id))) {
        rc = rp_error_field(err, RP_EVALIDATION, "user_id", "invalid", "\"%s\" is not a user id",
                            user_id ? user_id : "");
        goto out;
    }
    if (team_role && (!*team_role || strlen(team_role) > TEAM_ROLE_MAX ||
                      !rp_utf8_is_valid(team_role, strlen(team_role)))) {
        rc = rp_error_field(err, RP_EVALIDATION, "team_role", "invalid",
                            "\"team_role\" must be 1-%d bytes of UTF-8", TEAM_ROLE_MAX);
        goto out;
    }
    rc = rp_store_write(rs->store, share_unit, &x, err);
out:
    rp_meta_release(m);
    return rc;
}

int rp_records_share_put(struct rp_records *rs, const struct rp_principal *p, const char *object,
                         const char *id, const char *user_id, enum rp_access_level access,
                         const char *team_role, const char *request_id, struct rp_arena *arena,
                         struct rp_error *err)
{
    if (access != RP_ACCESS_READ && access != RP_ACCESS_EDIT)
        return rp_error_field(err, RP_EVALIDATION, "access", "invalid",
                              "\"access\" must be \"read\" or \"edit\"");
    return share_change(rs, p, object, id, user_id, access, team_role, request_id, arena, err);
}

int rp_records_share_delete(struct rp_records *rs, const struct rp_principal *p, const char *object,
                            const char *id, const char *user_id, const char *request_id,
                            struct rp_arena *arena, struct rp_error *err)
{
    return share_change(rs, p, object, id, user_id, RP_ACCESS_NONE, NULL, request_id, arena, err);
}

struct share_list {
    struct rp_buf *out;
    size_t n;
};

static int share_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct share_list *l = ctx;
    struct rp_value at;

    if (n < 6)
        return 0;
    rp_buf_adds(l->out, l->n++ ? ",{\"user_id\":" : "{\"user_id\":");
    rp_value_to_json(l->out, &cols[0]);
    rp_buf_adds(l->out, ",\"username\":");
    rp_value_to_json(l->out, &cols[1]);
    rp_buf_adds(l->out, ",\"display_name\":");
    rp_value_to_json(l->out, &cols[2]);
    rp_buf_addf(
        l->out, ",\"access\":\"%s\",\"team_role\":",
        access_name(cols[3].type == RP_V_INT ? (enum rp_access_level)cols[3].u.i : RP_ACCESS_NONE));
    rp_value_to_json(l->out, &cols[4]);
    at = rp_value_typed_int(RP_V_DATETIME, cols[5].type == RP_V_INT ? cols[5].u.i : 0);
    rp_buf_adds(l->out, ",\"created_at\":");
    rp_value_to_json(l->out, &at);
    rp_buf_addc(l->out, '}');
    return 0;
}

int rp_records_shares(struct rp_records *rs, const struct rp_principal *p, const char *object,
                      const char *id, struct rp_arena *arena, struct rp_buf *out,
                      struct rp_error *err)
{
    struct rp_meta *m = rp_meta_acquire(rs->meta);
    struct rp_store_conn *c = NULL;
    struct share_list l = {.out = out};
    const struct rp_object *o;
    struct rp_row row;
    struct rp_sql q;
    int rc;

    if ((rc = share_object(m, p, object, id, &o, err)) < 0)
        goto out;
    c = rp_store_reader_acquire(rs->store);
    if ((rc = rp_records_fetch(c, m, p, o, id, arena, &row, err)) < 0)
        goto out;
    rp_sql_init(&q, arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT s.user_id, u.username, u.display_name, s.access, s.team_role,"
                   " s.created_at FROM rp_record_share AS s LEFT JOIN rp_user AS u"
                   " ON u.id = s.user_id WHERE s.object = ");
    rp_sql_param(&q, rp_value_cstr(o->name));
    rp_sql_add(&q, " AND s.record_id = ");
    rp_sql_param(&q, rp_value_cstr(id));
    rp_sql_add(&q, " ORDER BY s.created_at, s.user_id LIMIT 1000");
    rp_buf_adds(out, "{\"data\":[");
    if ((rc = rp_store_query(c, &q, share_row, &l, err)) < 0)
        goto out;
    rp_buf_adds(out, "]}");
out:
    rp_store_reader_release(rs->store, c);
    rp_meta_release(m);
    return rc;
}
