/*
 * The write path. prepare() validates each operation against the metadata on
 * the request's thread; the store's writer then runs apply() for each inside
 * one unit, where the row, its audit entry, its change event and the
 * idempotency record are written in one transaction. Validation rules are
 * evaluated on the written row by the same SQL compiler that serves filters,
 * so a dotted path such as account.tier means the same in a rule as in a
 * list query; a rule fails when its check is false (null passes, as with SQL
 * CHECK constraints).
 */
#include "records/records_int.h"
#include "base/json.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/utf8.h"
#include "base/uuid.h"
#include "expr/expr.h"

#include <stdio.h>
#include <stdlib.h>

#define IDEMPOTENCY_TTL_MS (24 * 3600 * INT64_C(1000))

static const char *op_name(enum rp_write_op op)
{
    switch (op) {
    case RP_WRITE_CREATE:
        return "create";
    case RP_WRITE_UPDATE:
        return "update";
    case RP_WRITE_UPSERT:
        return "upsert";
    case RP_WRITE_DELETE:
        return "delete";
    case RP_WRITE_RESTORE:
        return "restore";
    }
    return "write";
}

/* ---- prepare: validation on the request's thread ---- */

/*
 * An import of history may set created_at when creating a record, so that ages, cycles and
 * cohorts (docs/kpis.md) keep their dates; only administrators (and internal work) may, and
 * never to a time after now. Everyone else gets the usual read_only error.
 */
static int prepare_created_at(struct rp_write_request *wr, struct rp_write *w,
                              const struct rp_field *f, const json_t *v)
{
    if (w->op != RP_WRITE_CREATE || !rp_policy_is_unrestricted(wr->principal))
        return rp_error_field(&w->err, RP_EVALIDATION, f->name, "read_only",
                              "field \"%s\" is maintained by the system and cannot be set "
                              "(administrators may set created_at when creating, for imports)",
                              f->name);
    if (rp_meta_value_from_json(f, v, wr->arena, &w->_values[f->index], &w->err) < 0)
        return w->err.code;
    if (w->_values[f->index].type != RP_V_DATETIME ||
        w->_values[f->index].u.i > rp_clock_now_ms(wr->_rs->clock))
        return rp_error_field(&w->err, RP_EVALIDATION, f->name, "invalid",
                              "field \"%s\" must be a time not after now", f->name);
    w->_set[f->index] = true;
    return 0;
}

static int prepare_values(struct rp_write_request *wr, struct rp_write *w)
{
    const struct rp_object *o = wr->_object;
    const char *key;
    json_t *v;

    /* Requests always bring an object (the API checks); none is a caller whose JSON building
       failed, as under an allocation failure. */
    if (!w->data)
        return rp_error_set(&w->err, RP_EINTERNAL, "the record's values could not be built");
    if (!json_is_object(w->data))
        return rp_error_set(&w->err, RP_EINVAL, "the record must be a JSON object of field values");
    if (json_object_size(w->data) > RP_LIMIT_FIELDS_PER_RECORD)
        return rp_error_set(&w->err, RP_ETOOBIG, "a record takes at most %d fields",
                            RP_LIMIT_FIELDS_PER_RECORD);
    /* Unknown fields are a malformed request (400) and are reported before value problems. */
    json_object_foreach((json_t *)w->data, key, v)
    {
        if (!rp_meta_field(o, key))
            rp_error_field(&w->err, RP_EINVAL, key, "unknown_field",
                           "unknown field \"%s\" on object \"%s\"", key, o->name);
    }
    if (w->err.code)
        return w->err.code;
    json_object_foreach((json_t *)w->data, key, v)
    {
        const struct rp_field *f = rp_meta_field(o, key);
        if (strcmp(f->name, "created_at") == 0) {
            prepare_created_at(wr, w, f, v);
            continue;
        }
        if (f->system && strcmp(f->name, "owner_id") != 0) {
            rp_error_field(&w->err, RP_EVALIDATION, key, "read_only",
                           "field \"%s\" is maintained by the system and cannot be set", key);
            continue;
        }
        if (rp_policy_field(wr->principal, o, f) < RP_FIELD_EDIT) {
            rp_error_field(&w->err, RP_EVALIDATION, key, "not_editable",
                           "you may not set field \"%s\" of object \"%s\"", key, o->name);
            continue;
        }
        if (strcmp(f->name, "owner_id") == 0) {
            /* Owners are user ids, not records; giving a record away needs "transfer". */
            if (!json_is_string(v) || json_string_length(v) > 64) {
                rp_error_field(&w->err, RP_EVALIDATION, key, "invalid_type",
                               "field \"owner_id\" must be a user id");
                continue;
            }
            w->_values[f->index] = rp_value_text(rp_arena_strdup(wr->arena, json_string_value(v)),
                                                 json_string_length(v));
            w->_set[f->index] = true;
            continue;
        }
        /* a value switched off passes here: a record may keep it (check_choices) */
        if (rp_meta_value_from_json_kept(f, v, wr->arena, &w->_values[f->index], &w->err) < 0)
            continue;
        if (f->required && w->_values[f->index].type == RP_V_NULL) {
            rp_error_field(&w->err, RP_EVALIDATION, key, "required", "field \"%s\" is required",
                           key);
            continue;
        }
        w->_set[f->index] = true;
    }
    return w->err.code;
}

static int prepare_defaults_and_required(struct rp_write_request *wr, struct rp_write *w)
{
    const struct rp_object *o = wr->_object;
    for (size_t i = 0; i < o->nfields; i++) {
        const struct rp_field *f = &o->fields[i];
        if (w->_set[i] || f->system)
            continue;
        if (f->has_default) {
            w->_values[i] = f->default_value;
            w->_set[i] = true;
        } else if (f->required && w->op == RP_WRITE_CREATE) {
            rp_error_field(&w->err, RP_EVALIDATION, f->name, "required", "field \"%s\" is required",
                           f->name);
        }
    }
    return w->err.code;
}

static int prepare_upsert_key(struct rp_write_request *wr, struct rp_write *w)
{
    const struct rp_field *f = rp_meta_field(wr->_object, w->key_field);
    json_t *jv;
    struct rp_value v;
    int rc;

    if (!f || !f->unique)
        return rp_error_field(&w->err, RP_EINVAL, w->key_field ? w->key_field : "", "not_unique",
                              "upsert needs a unique field of object \"%s\"; \"%s\" is not one",
                              wr->_object->name, w->key_field ? w->key_field : "");
    if (f->vtype != RP_V_TEXT)
        return rp_error_field(&w->err, RP_EINVAL, f->name, "not_text",
                              "upsert by field \"%s\" is not supported: use a text field", f->name);
    if (!rp_utf8_is_valid(w->key_value, strlen(w->key_value)))
        return rp_error_field(&w->err, RP_EINVAL, f->name, "invalid_text",
                              "the key value is not valid UTF-8");
    if (!(jv = json_string(w->key_value)))
        return rp_json_error_alloc(&w->err);
    rc = rp_meta_value_from_json_kept(f, jv, wr->arena, &v, &w->err);
    json_decref(jv);
    if (rc < 0)
        return rc;
    if (w->_set[f->index] && !rp_value_equal(&w->_values[f->index], &v))
        return rp_error_field(&w->err, RP_EVALIDATION, f->name, "key_mismatch",
                              "field \"%s\" in the body differs from the key in the path", f->name);
    w->_values[f->index] = v;
    w->_set[f->index] = true;
    return 0;
}

/*
 * Ledgers such as consent keep every entry as it was written: a change of mind is a new entry,
 * so the history a regulator asks for is the table itself.
 */
static int append_only_error(const struct rp_object *o, struct rp_error *err)
{
    return rp_error_set(err, RP_EMETHOD,
                        "%s records are append-only: record a new grant or withdrawal instead",
                        o->name);
}

static int prepare_one(struct rp_write_request *wr, struct rp_write *w)
{
    const struct rp_object *o = wr->_object;
    enum rp_policy_action act = w->op == RP_WRITE_CREATE   ? RP_ACT_CREATE
                                : w->op == RP_WRITE_DELETE ? RP_ACT_DELETE
                                                           : RP_ACT_EDIT;
    int rc;

    rp_error_init(&w->err, wr->arena);
    rp_buf_init(&w->body, wr->arena, RP_LIMIT_RESPONSE_BYTES);
    w->_values = rp_arena_calloc(wr->arena, o->nfields, sizeof(*w->_values));
    w->_set = rp_arena_calloc(wr->arena, o->nfields, sizeof(*w->_set));
    if ((rc = rp_policy_check(wr->principal, o->name, act, &w->err)) < 0)
        return rc;
    if (o->append_only && w->op != RP_WRITE_CREATE && w->op != RP_WRITE_UPSERT)
        return append_only_error(o, &w->err);
    if (w->op == RP_WRITE_UPSERT &&
        (rc = rp_policy_check(wr->principal, o->name, RP_ACT_CREATE, &w->err)) < 0)
        return rc;
    if ((w->op == RP_WRITE_UPDATE || w->op == RP_WRITE_DELETE || w->op == RP_WRITE_RESTORE) &&
        (!w->id || !rp_uuid_is_valid(w->id, strlen(w->id))))
        return rp_error_set(&w->err, RP_ENOTFOUND, "%s \"%s\" not found", o->name,
                            w->id ? w->id : "");
    if (w->op == RP_WRITE_CREATE || w->op == RP_WRITE_UPDATE || w->op == RP_WRITE_UPSERT) {
        if ((rc = prepare_values(wr, w)) < 0)
            return rc;
    }
    if (w->op == RP_WRITE_UPSERT && (rc = prepare_upsert_key(wr, w)) < 0)
        return rc;
    if (w->op == RP_WRITE_CREATE || w->op == RP_WRITE_UPSERT)
        return prepare_defaults_and_required(wr, w);
    return 0;
}

int rp_records_prepare(struct rp_records *rs, struct rp_write_request *wr)
{
    int failures = 0;

    wr->_rs = rs;
    wr->_meta = rp_meta_acquire(rs->meta);
    wr->_object = rp_meta_object(wr->_meta, wr->object);
    if (!wr->_object)
        return rp_error_set(wr->err, RP_ENOTFOUND, "object \"%s\" does not exist", wr->object);
    if (wr->nwrites > RP_LIMIT_BATCH_OPS)
        return rp_error_set(wr->err, RP_ETOOBIG, "a batch takes at most %d operations",
                            RP_LIMIT_BATCH_OPS);
    for (size_t i = 0; i < wr->nwrites; i++) {
        struct rp_write *w = &wr->writes[i];
        w->status = 0;
        w->_invalid = false;
        if (prepare_one(wr, w) < 0) {
            w->status = rp_err_http_status(w->err.code);
            w->_invalid = true;
            failures++;
        }
    }
    if (!wr->batch && failures) {
        struct rp_write *w = &wr->writes[0];
        *wr->err = w->err;
        return w->err.code;
    }
    if (wr->batch && wr->atomic && failures)
        return rp_error_set(wr->err, RP_EVALIDATION,
                            "%d of %zu operations are invalid; nothing was written", failures,
                            wr->nwrites);
    return 0;
}

void rp_records_request_release(struct rp_write_request *wr)
{
    rp_meta_release(wr->_meta);
    wr->_meta = NULL;
}

/* ---- apply: on the writer thread, inside the transaction ---- */

static void change_json(const struct rp_object *o, const struct rp_row *old,
                        const struct rp_write *w, struct rp_buf *out)
{
    bool first = true;
    rp_buf_addc(out, '{');
    for (size_t i = 0; i < o->nfields; i++) {
        const struct rp_field *f = &o->fields[i];
        const struct rp_value *nv = &w->_values[i];
        struct rp_value none = rp_value_null();
        const struct rp_value *ov = old ? &old->values[i] : &none;
        if (!w->_set[i] || f->type == RP_F_FORMULA)
            continue;
        if (!old && nv->type == RP_V_NULL)
            continue;
        if (old && (rp_value_equal(ov, nv) || (ov->type == RP_V_NULL && nv->type == RP_V_NULL)))
            continue;
        if (!first)
            rp_buf_addc(out, ',');
        rp_buf_add_ident(out, f->name); /* a validated name: quoting is JSON quoting too */
        rp_buf_adds(out, ":[");
        if (f->type == RP_F_MULTI_PICKLIST && ov->type == RP_V_TEXT)
            rp_buf_add(out, ov->u.s.p, ov->u.s.len);
        else
            rp_value_to_json(out, ov);
        rp_buf_addc(out, ',');
        if (f->type == RP_F_MULTI_PICKLIST && nv->type == RP_V_TEXT)
            rp_buf_add(out, nv->u.s.p, nv->u.s.len);
        else
            rp_value_to_json(out, nv);
        rp_buf_addc(out, ']');
        first = false;
    }
    rp_buf_addc(out, '}');
}

/* Appends the INSERT of a write's audit row (audit) or change-log row (!audit). */
static void log_insert(struct rp_sql *q, const struct rp_write_request *wr, const char *id,
                       const char *action, const char *changes, int64_t now, bool audit)
{
    const char *actor = wr->principal ? wr->principal->user_id : "system";

    if (audit) {
        const struct rp_value v[] = {rp_value_int(now),
                                     rp_value_cstr(actor),
                                     rp_value_cstr(action),
                                     rp_value_cstr(wr->object),
                                     rp_value_cstr(id),
                                     rp_value_cstr(changes),
                                     wr->request_id ? rp_value_cstr(wr->request_id)
                                                    : rp_value_null()};
        rp_sql_add(q, "INSERT INTO rp_audit(at, actor, action, object, record_id, changes,"
                      " request_id) VALUES ");
        rp_sql_param_list(q, v, sizeof(v) / sizeof(v[0]));
    } else {
        const struct rp_value v[] = {rp_value_int(now),
                                     rp_value_cstr(wr->object),
                                     rp_value_cstr(id),
                                     rp_value_cstr(action),
                                     rp_value_cstr(actor),
                                     rp_value_cstr(changes),
                                     wr->cause ? rp_value_cstr(wr->cause) : rp_value_null()};
        rp_sql_add(q, "INSERT INTO rp_change(at, object, record_id, op, actor, changes, cause)"
                      " VALUES ");
        rp_sql_param_list(q, v, sizeof(v) / sizeof(v[0]));
    }
}

static int log_write(struct rp_store_conn *c, struct rp_write_request *wr, const char *id,
                     const char *action, const char *changes, int64_t now, struct rp_error *err)
{
    struct rp_sql q;
    int rc;

    rp_sql_init(&q, wr->arena, rp_store_conn_dialect(c));
    log_insert(&q, wr, id, action, changes, now, true);
    if ((rc = rp_store_exec(c, &q, NULL, err)) < 0)
        return rc;
    rp_sql_init(&q, wr->arena, rp_store_conn_dialect(c));
    log_insert(&q, wr, id, action, changes, now, false);
    return rp_store_exec(c, &q, NULL, err);
}

/*
 * An owner must be an active user, and making someone else the owner (creating a record for
 * them, or changing the owner) needs the "transfer" permission. Called with the fields that
 * change only.
 */
static int check_owner(struct rp_store_conn *c, struct rp_write_request *wr, struct rp_write *w,
                       bool update)
{
    const struct rp_object *o = wr->_object;
    struct rp_sql q;
    bool found = false;
    int rc;

    if (!o->owned || !w->_set[6])
        return 0;
    if (w->_values[6].type == RP_V_TEXT &&
        strcmp(w->_values[6].u.s.p, wr->principal->user_id) == 0 && !update)
        return 0;
    if (!rp_policy_allows(wr->principal, NULL, RP_ACT_TRANSFER))
        return rp_error_field(&w->err, RP_EVALIDATION, "owner_id", "not_editable",
                              "changing the owner needs the \"transfer\" permission");
    if (w->_values[6].type != RP_V_TEXT)
        return 0;
    rp_sql_init(&q, wr->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT 1 FROM rp_user WHERE id = ");
    rp_sql_param(&q, w->_values[6]);
    rp_sql_add(&q, " AND active = 1");
    if ((rc = rp_store_query(c, &q, rp_store_row_exists, &found, &w->err)) < 0)
        return rc;
    if (!found)
        return rp_error_field(&w->err, RP_EVALIDATION, "owner_id", "not_found",
                              "field \"owner_id\" must be the id of an active user");
    return 0;
}

/* References of the fields being written (update: the ones that change). */
static int check_references(struct rp_store_conn *c, struct rp_write_request *wr,
                            struct rp_write *w, bool update)
{
    const struct rp_object *o = wr->_object;
    int rc = check_owner(c, wr, w, update);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < o->nfields; i++) {
        const struct rp_field *f = &o->fields[i];
        struct rp_sql q;
        bool found = false;
        if (!w->_set[i] || f->type != RP_F_REFERENCE || w->_values[i].type == RP_V_NULL)
            continue;
        rp_sql_init(&q, wr->arena, rp_store_conn_dialect(c));
        rp_sql_addf(&q, "SELECT 1 FROM \"%s\" AS \"t\" WHERE \"t\".\"id\" = ", f->target);
        rp_sql_param(&q, w->_values[i]);
        rp_sql_add(&q, " AND \"t\".\"deleted_at\" IS NULL AND ");
        rp_policy_row_sql(wr->principal, wr->_meta, f->target_object, "t", RP_ACCESS_READ, &q);
        if ((rc = rp_store_query(c, &q, rp_store_row_exists, &found, &w->err)) < 0)
            return rc;
        if (!found)
            rp_error_field(&w->err, RP_EVALIDATION, f->name, "not_found",
                           "field \"%s\" refers to a %s that does not exist", f->name, f->target);
    }
    return w->err.code;
}

struct rule_results {
    struct rp_write_request *wr;
    struct rp_write *w;
    struct rp_row *row; /* the row's own columns follow the rules' (NULL: they do not) */
};

/* A row of the rules' results (one column per rule), then maybe the row as written. */
static int rule_row(void *vctx, const struct rp_value *cols, size_t ncols)
{
    struct rule_results *rr = vctx;
    const struct rp_object *o = rr->wr->_object;

    for (size_t i = 0; i < ncols && i < o->nrules; i++) {
        const struct rp_rule *r = &o->rules[i];
        if (cols[i].type == RP_V_INT && cols[i].u.i == 0)
            rp_error_field(&rr->w->err, RP_EVALIDATION, r->field ? r->field : r->name,
                           "rule_failed", "%s", r->message.en);
    }
    if (rr->row && ncols > o->nrules)
        rp_records_decode_row(o, cols + o->nrules, ncols - o->nrules, rr->wr->arena, rr->row);
    return 1;
}

/*
 * Rows of records written on this (the writer's) thread: a write answers with the row its own
 * statement returned unless its after-hooks wrote a row meanwhile (the counter moved), which
 * may be this one.
 */
static _Thread_local uint64_t rows_written;

/* The object's rules as a list of boolean columns over the row "t" (one per rule, in order). */
static int rules_columns(struct rp_write_request *wr, struct rp_write *w, int64_t now,
                         struct rp_sql *q)
{
    const struct rp_object *o = wr->_object;
    int rc;

    for (size_t i = 0; i < o->nrules; i++) {
        const struct rp_rule *r = &o->rules[i];
        struct rp_expr *e;
        /* Parsed again with this write's clock: today() in a rule means the day of the write. */
        if ((rc = rp_meta_parse_expr(wr->_meta, o, r->check, strlen(r->check), now, wr->arena, &e,
                                     &w->err)) < 0)
            return rc;
        rp_sql_add(q, i ? ", (" : "(");
        if ((rc = rp_expr_compile_sql(e, q, &w->err)) < 0)
            return rc;
        rp_sql_add(q, ")");
    }
    return 0;
}

/*
 * Writing a row on PostgreSQL is one statement, one round trip (write_row); elsewhere, where
 * statements cost no round trip, it is several plain ones.
 */
static bool row_written_in_one(const struct rp_store_conn *c)
{
    return rp_store_conn_dialect(c) == RP_SQL_PG;
}

/* Starts q, the statement that writes a row: its INSERT or UPDATE comes next. */
static void row_statement_begin(struct rp_store_conn *c, struct rp_write_request *wr,
                                struct rp_sql *q)
{
    rp_sql_init(q, wr->arena, rp_store_conn_dialect(c));
    if (row_written_in_one(c))
        rp_sql_add(q, "WITH \"t\" AS (");
}

static int conflict_error(struct rp_store_conn *c, struct rp_write_request *wr, struct rp_write *w)
{
    const char *where = rp_store_conflict_index(c), *dot = strchr(where, '.');
    const char *field = dot ? dot + 1 : "";
    rp_error_clear(&w->err);
    return rp_error_field(&w->err, RP_ECONFLICT, field, "unique",
                          "another %s already has this value of \"%s\"", wr->object, field);
}

/*
 * Runs q, the INSERT or UPDATE of row id begun by row_statement_begin, logs the write (audit and
 * change-log rows) and checks the object's rules on the row it leaves. On PostgreSQL that is
 *   WITH "t" AS (q RETURNING *), "audit" AS (INSERT ...), "change" AS (INSERT ...)
 *   SELECT rule, ..., row columns FROM "t"
 * and *row is the row as written (a unit that fails is rolled back whole, so logging a write its
 * rules then refuse does no harm; a rule that reads other rows sees them as before the
 * statement, and the row itself only through "t"). Elsewhere: q, a SELECT of the rules over the
 * row, and the two log rows; row->object stays NULL.
 */
static int write_row(struct rp_store_conn *c, struct rp_write_request *wr, struct rp_write *w,
                     struct rp_sql *q, const char *id, const char *action, const char *changes,
                     int64_t now, struct rp_row *row)
{
    const struct rp_object *o = wr->_object;
    struct rule_results rr = {wr, w, NULL};
    int rc;

    row->object = NULL;
    rows_written++;

    if (row_written_in_one(c)) {
        rp_sql_add(q, " RETURNING *), \"audit\" AS (");
        log_insert(q, wr, id, action, changes, now, true);
        rp_sql_add(q, "), \"change\" AS (");
        log_insert(q, wr, id, action, changes, now, false);
        rp_sql_add(q, ") SELECT ");
        if ((rc = rules_columns(wr, w, now, q)) < 0)
            return rc;
        if (o->nrules > 0)
            rp_sql_add(q, ", ");
        rp_records_select_columns(o, q);
        rp_sql_add(q, " FROM \"t\"");
        rr.row = row;
        rc = rp_store_query(c, q, rule_row, &rr, &w->err);
    } else if ((rc = rp_store_exec(c, q, NULL, &w->err)) == 0 && o->nrules > 0) {
        rp_sql_init(q, wr->arena, rp_store_conn_dialect(c));
        rp_sql_add(q, "SELECT ");
        if ((rc = rules_columns(wr, w, now, q)) < 0)
            return rc;
        rp_sql_addf(q, " FROM \"%s\" AS \"t\" WHERE \"t\".\"id\" = ", o->name);
        rp_sql_param(q, rp_value_cstr(id));
        rc = rp_store_query(c, q, rule_row, &rr, &w->err);
    }
    if (rc == RP_ECONFLICT)
        return conflict_error(c, wr, w);
    if (rc < 0 || w->err.code)
        return rc < 0 ? rc : w->err.code;
    return row_written_in_one(c) ? 0 : log_write(c, wr, id, action, changes, now, &w->err);
}

/* ---- hooks ---- */

void rp_records_hook_add(struct rp_records *rs, const struct rp_write_hook *h)
{
    if (rs->nhooks < RP_RECORDS_MAX_HOOKS)
        rs->hooks[rs->nhooks++] = *h;
}

bool rp_write_event_changed(const struct rp_write_event *ev, const char *field)
{
    const struct rp_field *f = ev->changed ? rp_meta_field(ev->object, field) : NULL;
    return f && ev->changed[f - ev->object->fields];
}

const struct rp_value *rp_write_event_value(const struct rp_write_event *ev, const char *field)
{
    static const struct rp_value null_value = {.type = RP_V_NULL};
    const struct rp_field *f = rp_meta_field(ev->object, field);
    size_t i;

    if (!f)
        return &null_value;
    i = (size_t)(f - ev->object->fields);
    if (ev->changed && ev->changed[i])
        return &ev->values[i];
    return ev->old ? &ev->old[i] : &null_value;
}

void rp_write_event_set(const struct rp_write_event *ev, const char *field, struct rp_value v)
{
    const struct rp_field *f = ev->_values ? rp_meta_field(ev->object, field) : NULL;
    size_t i;

    if (!f || f->system)
        return;
    i = (size_t)(f - ev->object->fields);
    ev->_values[i] = v;
    /* an update writes only what differs from the row */
    ev->_set[i] = !ev->old || !(rp_value_equal(&ev->old[i], &v) ||
                                (ev->old[i].type == RP_V_NULL && v.type == RP_V_NULL));
}

/* How deep hooks are writing more, on this (the writer's) thread. */
static _Thread_local int hook_depth;

/* The hooks of a write, after its row and rules; the first refusal fails it. */
static int run_hooks(struct rp_store_conn *c, struct rp_write_request *wr, struct rp_write *w,
                     enum rp_write_op op, const char *id, const struct rp_value *old, int64_t now,
                     bool before)
{
    struct rp_records *rs = wr->_rs;
    struct rp_write_event ev = {.rs = rs,
                                .c = c,
                                .meta = wr->_meta,
                                .object = wr->_object,
                                .principal = wr->principal,
                                .op = op,
                                .id = id,
                                .values = w->_values,
                                .changed = w->_set,
                                .old = old,
                                .flags = wr->flags,
                                .now = now,
                                .request_id = wr->request_id,
                                .cause = wr->cause,
                                .arena = wr->arena};
    int rc;

    if (op == RP_WRITE_DELETE || op == RP_WRITE_RESTORE)
        ev.values = NULL, ev.changed = NULL;
    if (before) {
        ev._values = w->_values;
        ev._set = w->_set;
    }
    for (size_t i = 0; i < rs->nhooks; i++) {
        const struct rp_write_hook *h = &rs->hooks[i];
        if (h->before != before || (h->object && strcmp(h->object, wr->_object->name) != 0))
            continue;
        if (hook_depth >= RP_RECORDS_HOOK_DEPTH)
            return rp_error_set(&w->err, RP_EINTERNAL, "writes made by hooks go too deep");
        hook_depth++;
        rc = h->fn(h->ctx, &ev, &w->err);
        hook_depth--;
        if (rc < 0)
            return w->err.code ? w->err.code : rc;
    }
    return 0;
}

/*
 * Picklist values switched off are refused on new writes, but a record keeps what it has: an
 * update may send a value (or a multi-select holding one) that the row holds already. old: the
 * row's values, or NULL for a new record. Called with the fields that change only.
 */
static int check_choices(struct rp_write_request *wr, struct rp_write *w,
                         const struct rp_value *old)
{
    const struct rp_object *o = wr->_object;

    for (size_t i = 0; i < o->nfields; i++) {
        const struct rp_field *f = &o->fields[i];
        const char *off =
            w->_set[i] ? rp_meta_inactive_choice(f, &w->_values[i], old ? &old[i] : NULL) : NULL;
        if (off)
            rp_error_field(&w->err, RP_EVALIDATION, f->name, "invalid_choice",
                           "field \"%s\" has no active value \"%s\"", f->name, off);
    }
    return w->err.code;
}

/*
 * The write's answer: the record as committed. written (may be NULL) is the row as the write's
 * statement left it, when no other write can have changed it since; else the row is read.
 */
static int read_back(struct rp_store_conn *c, struct rp_write_request *wr, struct rp_write *w,
                     const char *id, int64_t now, const struct rp_row *written)
{
    struct rp_row row;
    int rc;

    /* What was just written is returned whoever may read it later; fields as the writer sees. */
    if (written && written->object)
        row = *written;
    else if ((rc = rp_records_fetch(c, wr->_meta, NULL, wr->_object, id, wr->arena, &row,
                                    &w->err)) < 0)
        return rc;
    rp_records_compute_formulas(c, wr->_meta, &row, 1, now, wr->arena);
    rp_buf_reset(&w->body);
    rp_records_row_json(&row, NULL, wr->principal, wr->arena, &w->body);
    w->version = row.values[1].u.i;
    snprintf(w->new_id, sizeof(w->new_id), "%s", id);
    return 0;
}

static int apply_insert(struct rp_store_conn *c, struct rp_write_request *wr, struct rp_write *w,
                        int64_t now)
{
    const struct rp_object *o = wr->_object;
    const char *actor = wr->principal->user_id;
    char id[RP_UUID_STRLEN + 1];
    struct rp_buf changes;
    struct rp_sql q;
    struct rp_row row;
    uint64_t mark;
    int rc;

    for (size_t i = 0; i < o->nfields; i++) {
        const struct rp_field *f = &o->fields[i];
        if (f->required && (!w->_set[i] || w->_values[i].type == RP_V_NULL))
            rp_error_field(&w->err, RP_EVALIDATION, f->name, "required", "field \"%s\" is required",
                           f->name);
    }
    if (w->err.code || check_choices(wr, w, NULL) < 0)
        return w->err.code;
    rp_uuid_v7(id, now);
    if (o->owned && (!w->_set[6] || w->_values[6].type == RP_V_NULL)) {
        w->_values[6] = rp_value_cstr(actor);
        w->_set[6] = true;
    }
    /* before hooks see only writes that may happen: references checked, so nothing leaks */
    if ((rc = check_references(c, wr, w, false)) < 0 ||
        (rc = run_hooks(c, wr, w, RP_WRITE_CREATE, NULL, NULL, now, true)) < 0)
        return rc;
    row_statement_begin(c, wr, &q);
    rp_sql_addf(&q,
                "INSERT INTO \"%s\" (\"id\", \"version\", \"created_at\", \"updated_at\","
                " \"created_by\", \"updated_by\"",
                o->name);
    for (size_t i = 6; i < o->nfields; i++)
        if (w->_set[i]) {
            rp_sql_add(&q, ", ");
            rp_sql_ident(&q, o->fields[i].name);
        }
    rp_sql_add(&q, ") VALUES (");
    rp_sql_param(&q, rp_value_cstr(id));
    rp_sql_add(&q, ", 1, ");
    rp_sql_param(&q, rp_value_int(w->_set[2] ? w->_values[2].u.i : now)); /* an import's */
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_int(now));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(actor));
    rp_sql_add(&q, ", ");
    rp_sql_param(&q, rp_value_cstr(actor));
    for (size_t i = 6; i < o->nfields; i++) {
        if (!w->_set[i])
            continue;
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, w->_values[i]);
    }
    rp_sql_add(&q, ")");
    /* logged before the after-hooks, whose own writes and events follow it */
    rp_buf_init(&changes, wr->arena, RP_LIMIT_RESPONSE_BYTES);
    change_json(o, NULL, w, &changes);
    if ((rc = write_row(c, wr, w, &q, id, "create", changes.data, now, &row)) < 0)
        return rc;
    mark = rows_written;
    if ((rc = run_hooks(c, wr, w, RP_WRITE_CREATE, id, NULL, now, false)) < 0)
        return rc;
    w->status = 201;
    return read_back(c, wr, w, id, now, rows_written == mark ? &row : NULL);
}

static int check_access(struct rp_store_conn *c, struct rp_write_request *wr, struct rp_write *w,
                        const char *id, enum rp_access_level level)
{
    return rp_records_check_access(c, wr->_meta, wr->principal, wr->_object, id, level, wr->arena,
                                   &w->err);
}

static int lock_row(void *ctx, const struct rp_value *cols, size_t n)
{
    char *reason = ctx;
    if (n > 0 && cols[0].type == RP_V_TEXT)
        snprintf(reason, 200, "%.*s", (int)cols[0].u.s.len, cols[0].u.s.p);
    return 1;
}

/*
 * A locked record (an approval is pending, for one) is changed only by administrators and
 * internal work: 409 naming the reason for everyone else.
 */
static int check_lock(struct rp_store_conn *c, struct rp_write_request *wr, struct rp_write *w,
                      const char *id)
{
    char reason[200] = "";
    struct rp_sql q;
    int rc;

    if (rp_policy_is_unrestricted(wr->principal))
        return 0;
    rp_sql_init(&q, wr->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT reason FROM rp_record_lock WHERE object = ");
    rp_sql_param(&q, rp_value_cstr(wr->_object->name));
    rp_sql_add(&q, " AND record_id = ");
    rp_sql_param(&q, rp_value_cstr(id));
    if ((rc = rp_store_query(c, &q, lock_row, reason, &w->err)) < 0)
        return rc;
    if (reason[0])
        return rp_error_set(&w->err, RP_ECONFLICT, "%s \"%s\" is locked: %s", wr->_object->name, id,
                            reason);
    return 0;
}

static int check_version(struct rp_write_request *wr, struct rp_write *w, const struct rp_row *row)
{
    if (w->if_match >= 0 && row->values[1].u.i != w->if_match)
        return rp_error_set(&w->err, RP_EPRECONDITION,
                            "%s \"%s\" is at version %lld, not %lld; reload it and retry",
                            wr->object, w->id, (long long)row->values[1].u.i,
                            (long long)w->if_match);
    return 0;
}

static int apply_update(struct rp_store_conn *c, struct rp_write_request *wr, struct rp_write *w,
                        const char *id, int64_t now)
{
    const struct rp_object *o = wr->_object;
    struct rp_row row;
    struct rp_buf changes;
    struct rp_sql q;
    size_t nchanged = 0;
    struct rp_row written;
    uint64_t mark;
    int rc;

    if ((rc = rp_records_fetch(c, wr->_meta, wr->principal, o, id, wr->arena, &row, &w->err)) < 0)
        return rc;
    if (row.deleted_at)
        return rp_error_set(&w->err, RP_ENOTFOUND, "%s \"%s\" not found", o->name, id);
    if ((rc = check_access(c, wr, w, id, RP_ACCESS_EDIT)) < 0 ||
        (rc = check_lock(c, wr, w, id)) < 0)
        return rc;
    w->id = id;
    if ((rc = check_version(wr, w, &row)) < 0)
        return rc;
    /* Only fields whose value changes are written, audited and sent downstream. */
    for (size_t i = 0; i < o->nfields; i++) {
        if (!w->_set[i])
            continue;
        if (rp_value_equal(&row.values[i], &w->_values[i]) ||
            (row.values[i].type == RP_V_NULL && w->_values[i].type == RP_V_NULL))
            w->_set[i] = false;
        else
            nchanged++;
    }
    w->status = 200;
    if (nchanged == 0)
        return read_back(c, wr, w, id, now, NULL);
    if ((rc = check_choices(wr, w, row.values)) < 0 ||
        (rc = check_references(c, wr, w, true)) < 0 ||
        (rc = run_hooks(c, wr, w, RP_WRITE_UPDATE, id, row.values, now, true)) < 0)
        return rc;
    row_statement_begin(c, wr, &q);
    rp_sql_addf(&q, "UPDATE \"%s\" SET \"version\" = \"version\" + 1, \"updated_at\" = ", o->name);
    rp_sql_param(&q, rp_value_int(now));
    rp_sql_add(&q, ", \"updated_by\" = ");
    rp_sql_param(&q, rp_value_cstr(wr->principal->user_id));
    for (size_t i = 6; i < o->nfields; i++) {
        if (!w->_set[i])
            continue;
        rp_sql_add(&q, ", ");
        rp_sql_ident(&q, o->fields[i].name);
        rp_sql_add(&q, " = ");
        rp_sql_param(&q, w->_values[i]);
    }
    rp_sql_add(&q, " WHERE \"id\" = ");
    rp_sql_param(&q, rp_value_cstr(id));
    rp_buf_init(&changes, wr->arena, RP_LIMIT_RESPONSE_BYTES);
    change_json(o, &row, w, &changes);
    if ((rc = write_row(c, wr, w, &q, id, "update", changes.data, now, &written)) < 0)
        return rc;
    mark = rows_written;
    if ((rc = run_hooks(c, wr, w, RP_WRITE_UPDATE, id, row.values, now, false)) < 0)
        return rc;
    return read_back(c, wr, w, id, now, rows_written == mark ? &written : NULL);
}

static int id_row(void *ctx, const struct rp_value *cols, size_t n)
{
    char *id = ctx;
    if (n > 0 && cols[0].type == RP_V_TEXT && cols[0].u.s.len <= RP_UUID_STRLEN) {
        memcpy(id, cols[0].u.s.p, cols[0].u.s.len);
        id[cols[0].u.s.len] = '\0';
    }
    return 1;
}

static int apply_upsert(struct rp_store_conn *c, struct rp_write_request *wr, struct rp_write *w,
                        int64_t now)
{
    const struct rp_field *f = rp_meta_field(wr->_object, w->key_field);
    char id[RP_UUID_STRLEN + 1] = "";
    struct rp_sql q;
    int rc;

    rp_sql_init(&q, wr->arena, rp_store_conn_dialect(c));
    rp_sql_addf(&q, "SELECT \"t\".\"id\" FROM \"%s\" AS \"t\" WHERE \"t\".\"%s\" = ", wr->object,
                f->name);
    rp_sql_param(&q, w->_values[f->index]);
    rp_sql_add(&q, " AND \"t\".\"deleted_at\" IS NULL AND ");
    rp_policy_row_sql(wr->principal, wr->_meta, wr->_object, "t", RP_ACCESS_READ, &q);
    if ((rc = rp_store_query(c, &q, id_row, id, &w->err)) < 0)
        return rc;
    if (!id[0])
        return apply_insert(c, wr, w, now);
    if (wr->_object->append_only)
        return append_only_error(wr->_object, &w->err);
    /* An update must not reset fields the body did not name to their defaults. */
    for (size_t i = 0; i < wr->_object->nfields; i++)
        if (w->_set[i] && !json_object_get(w->data, wr->_object->fields[i].name) && i != f->index)
            w->_set[i] = false;
    return apply_update(c, wr, w, rp_arena_strdup(wr->arena, id), now);
}

static int apply_delete_restore(struct rp_store_conn *c, struct rp_write_request *wr,
                                struct rp_write *w, int64_t now)
{
    const struct rp_object *o = wr->_object;
    bool restore = w->op == RP_WRITE_RESTORE;
    struct rp_row row;
    struct rp_sql q;
    int rc;

    if ((rc = rp_records_fetch(c, wr->_meta, wr->principal, o, w->id, wr->arena, &row, &w->err)) <
            0 ||
        (rc = check_access(c, wr, w, w->id, RP_ACCESS_FULL)) < 0 ||
        (rc = check_lock(c, wr, w, w->id)) < 0)
        return rc;
    if (!restore && row.deleted_at)
        return rp_error_set(&w->err, RP_ENOTFOUND, "%s \"%s\" not found", o->name, w->id);
    if (restore && !row.deleted_at)
        return rp_error_set(&w->err, RP_ECONFLICT, "%s \"%s\" is not deleted", o->name, w->id);
    if ((rc = check_version(wr, w, &row)) < 0)
        return rc;
    rp_sql_init(&q, wr->arena, rp_store_conn_dialect(c));
    rp_sql_addf(&q, "UPDATE \"%s\" SET \"version\" = \"version\" + 1, \"updated_at\" = ", o->name);
    rp_sql_param(&q, rp_value_int(now));
    rp_sql_add(&q, ", \"updated_by\" = ");
    rp_sql_param(&q, rp_value_cstr(wr->principal->user_id));
    rp_sql_add(&q, ", \"deleted_at\" = ");
    rp_sql_param(&q, restore ? rp_value_null() : rp_value_int(now));
    rp_sql_add(&q, " WHERE \"id\" = ");
    rp_sql_param(&q, rp_value_cstr(w->id));
    rows_written++;
    rc = rp_store_exec(c, &q, NULL, &w->err);
    if (rc == RP_ECONFLICT)
        return conflict_error(c, wr, w);
    if (rc < 0 ||
        (rc = log_write(c, wr, w->id, restore ? "restore" : "delete", "{}", now, &w->err)) < 0 ||
        (rc = run_hooks(c, wr, w, restore ? RP_WRITE_RESTORE : RP_WRITE_DELETE, w->id, row.values,
                        now, false)) < 0)
        return rc;
    w->status = 200;
    return read_back(c, wr, w, w->id, now, NULL);
}

static int apply_one(struct rp_store_conn *c, struct rp_write_request *wr, struct rp_write *w,
                     int64_t now)
{
    switch (w->op) {
    case RP_WRITE_CREATE:
        return apply_insert(c, wr, w, now);
    case RP_WRITE_UPDATE:
        return apply_update(c, wr, w, w->id, now);
    case RP_WRITE_UPSERT:
        return apply_upsert(c, wr, w, now);
    case RP_WRITE_DELETE:
    case RP_WRITE_RESTORE:
        return apply_delete_restore(c, wr, w, now);
    }
    return rp_error_set(&w->err, RP_EINTERNAL, "unknown operation");
}

/* ---- idempotency ---- */

struct idem_row {
    struct rp_arena *a;
    bool found;
    char *fingerprint, *location, *etag, *body;
    int status;
    int64_t created_at;
};

static char *text_copy(struct rp_arena *a, const struct rp_value *v)
{
    return v->type == RP_V_TEXT ? rp_arena_strndup(a, v->u.s.p, v->u.s.len) : NULL;
}

static int idem_read(void *vctx, const struct rp_value *cols, size_t n)
{
    struct idem_row *r = vctx;
    if (n < 6)
        return 1;
    r->found = true;
    r->fingerprint = text_copy(r->a, &cols[0]);
    r->status = (int)cols[1].u.i;
    r->location = text_copy(r->a, &cols[2]);
    r->etag = text_copy(r->a, &cols[3]);
    r->body = text_copy(r->a, &cols[4]);
    r->created_at = cols[5].u.i;
    return 1;
}

/* Returns 1 when the request was answered from a stored response, 0 to go on, or an error. */
static int idempotency_check(struct rp_store_conn *c, struct rp_write_request *wr, int64_t now)
{
    struct idem_row r = {.a = wr->arena};
    struct rp_sql q;
    int rc;

    /* Several processes on PostgreSQL: their groups take turns (store_pg.c), so a request
       with the same key in another process's group is committed, or not begun, by now. */
    rp_sql_init(&q, wr->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q,
               "SELECT fingerprint, status, location, etag, body, created_at FROM rp_idempotency"
               " WHERE actor = ");
    rp_sql_param(&q, rp_value_cstr(wr->principal->user_id));
    rp_sql_add(&q, " AND key = ");
    rp_sql_param(&q, rp_value_cstr(wr->idempotency_key));
    if ((rc = rp_store_query(c, &q, idem_read, &r, wr->err)) < 0)
        return rc;
    if (!r.found)
        return 0;
    if (r.created_at < now - IDEMPOTENCY_TTL_MS) {
        rp_sql_init(&q, wr->arena, rp_store_conn_dialect(c));
        rp_sql_add(&q, "DELETE FROM rp_idempotency WHERE actor = ");
        rp_sql_param(&q, rp_value_cstr(wr->principal->user_id));
        rp_sql_add(&q, " AND key = ");
        rp_sql_param(&q, rp_value_cstr(wr->idempotency_key));
        return rp_store_exec(c, &q, NULL, wr->err);
    }
    if (!r.fingerprint || strcmp(r.fingerprint, wr->fingerprint) != 0)
        return rp_error_set(wr->err, RP_ECONFLICT,
                            "Idempotency-Key \"%s\" was already used with a different request",
                            wr->idempotency_key);
    wr->replayed = true;
    wr->replay_status = r.status;
    wr->replay_body = r.body ? r.body : "";
    wr->replay_location = r.location;
    wr->replay_etag = r.etag;
    return 1;
}

static int idempotency_store(struct rp_store_conn *c, struct rp_write_request *wr, int64_t now)
{
    struct rp_write *w = &wr->writes[0];
    struct rp_buf body;
    struct rp_sql q;
    char etag[32];
    const char *location = NULL;

    rp_buf_init(&body, wr->arena, RP_LIMIT_RESPONSE_BYTES);
    if (wr->batch) {
        rp_records_batch_json(wr, &body);
    } else {
        rp_buf_add(&body, w->body.data, w->body.len);
        if (w->status == 201)
            location = rp_arena_sprintf(wr->arena, "/api/v1/records/%s/%s", wr->object, w->new_id);
    }
    snprintf(etag, sizeof(etag), "\"%lld\"", (long long)w->version);
    {
        const struct rp_value row[] = {rp_value_cstr(wr->principal->user_id),
                                       rp_value_cstr(wr->idempotency_key),
                                       rp_value_cstr(wr->fingerprint),
                                       rp_value_int(wr->batch ? 200 : w->status),
                                       location ? rp_value_cstr(location) : rp_value_null(),
                                       wr->batch ? rp_value_null() : rp_value_cstr(etag),
                                       rp_value_text(body.data, body.len),
                                       rp_value_int(now)};
        rp_sql_init(&q, wr->arena, rp_store_conn_dialect(c));
        rp_sql_add(&q, "INSERT INTO rp_idempotency(actor, key, fingerprint, status, location, etag,"
                       " body, created_at) VALUES ");
        rp_sql_param_list(&q, row, sizeof(row) / sizeof(row[0]));
    }
    return rp_store_exec(c, &q, NULL, wr->err);
}

static int write_unit(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct rp_write_request *wr = ctx;
    int64_t now = rp_clock_now_ms(wr->_rs->clock);
    int rc;

    (void)err; /* the request's own error (wr->err) is the one reported */
    /* The writer may run this unit again after a rollback: start from the prepared inputs. */
    wr->replayed = false;
    for (size_t i = 0; i < wr->nwrites; i++) {
        struct rp_write *w = &wr->writes[i];
        if (w->_invalid)
            continue;
        w->status = 0;
        w->version = 0;
        w->new_id[0] = '\0';
        rp_error_clear(&w->err);
        rp_buf_reset(&w->body);
    }
    if (wr->idempotency_key) {
        rc = idempotency_check(c, wr, now);
        if (rc != 0)
            return rc < 0 ? rc : 0;
    }
    for (size_t i = 0; i < wr->nwrites; i++) {
        struct rp_write *w = &wr->writes[i];
        bool item_savepoint = wr->batch && !wr->atomic;
        if (w->_invalid)
            continue; /* failed validation */
        if (item_savepoint && rp_store_savepoint(c, "item") < 0)
            return rp_error_set(wr->err, RP_EDB, "could not write");
        rc = apply_one(c, wr, w, now);
        if (rc < 0) {
            w->status = rp_err_http_status(rc);
            if (item_savepoint) {
                rp_store_rollback_to(c, "item");
                continue;
            }
            if (!wr->batch)
                *wr->err = w->err;
            else
                rp_error_set(wr->err, rc, "operation %zu failed: %s; nothing was written", i + 1,
                             w->err.detail);
            return rc;
        }
        if (item_savepoint)
            rp_store_release(c, "item");
    }
    if (wr->idempotency_key)
        return idempotency_store(c, wr, now);
    return 0;
}

static void write_done(void *ctx, int rc)
{
    struct rp_write_request *wr = ctx;
    if (rc < 0 && !wr->err->code)
        rp_error_set(wr->err, rc, "could not write");
    wr->_done(wr->_done_ctx, rc);
}

int rp_records_submit(struct rp_records *rs, struct rp_write_request *wr,
                      void (*done)(void *ctx, int rc), void *ctx)
{
    wr->_rs = rs;
    wr->_done = done;
    wr->_done_ctx = ctx;
    return rp_store_write_submit(rs->store, write_unit, write_done, wr, wr->err);
}

int rp_records_write(struct rp_records *rs, struct rp_write_request *wr)
{
    int rc = rp_records_prepare(rs, wr);

    if (rc == 0) {
        wr->_rs = rs;
        rc = rp_store_write(rs->store, write_unit, wr, wr->err);
        if (rc < 0 && !wr->err->code)
            rp_error_set(wr->err, rc, "could not write");
    }
    rp_records_request_release(wr);
    return rc;
}

int rp_records_write_in(struct rp_records *rs, struct rp_store_conn *c, struct rp_write_request *wr)
{
    struct rp_error ignore;
    int rc = rp_records_prepare(rs, wr);

    rp_error_init(&ignore, NULL);
    if (rc == 0)
        rc = write_unit(c, wr, &ignore);
    rp_records_request_release(wr);
    return rc;
}

int rp_records_event_in(struct rp_store_conn *c, int64_t now, const char *type,
                        const char *record_id, const char *actor, const json_t *data,
                        struct rp_arena *arena, struct rp_error *err)
{
    char *text = rp_json_dumps(data, JSON_COMPACT, err);
    struct rp_sql q;
    int rc;

    if (!text)
        return err->code;
    {
        const struct rp_value row[] = {rp_value_int(now),        rp_value_cstr("event"),
                                       rp_value_cstr(record_id), rp_value_cstr(type),
                                       rp_value_cstr(actor),     rp_value_cstr(text)};
        rp_sql_init(&q, arena, rp_store_conn_dialect(c));
        rp_sql_add(&q, "INSERT INTO rp_change(at, object, record_id, op, actor, changes) VALUES ");
        rp_sql_param_list(&q, row, sizeof(row) / sizeof(row[0]));
        rc = rp_store_exec(c, &q, NULL, err);
    }
    free(text);
    return rc;
}

static void problem_json(const struct rp_error *e, struct rp_buf *out)
{
    rp_buf_addc(out, '{');
    rp_error_problem_members(e, e->code, rp_err_http_status(e->code), out);
    rp_buf_addc(out, '}');
}

void rp_records_batch_json(const struct rp_write_request *wr, struct rp_buf *out)
{
    bool committed = !wr->err->code;
    rp_buf_addf(out, "{\"atomic\":%s,\"committed\":%s,\"results\":[", wr->atomic ? "true" : "false",
                committed ? "true" : "false");
    for (size_t i = 0; i < wr->nwrites; i++) {
        const struct rp_write *w = &wr->writes[i];
        /* Items of a batch that did not commit report their own error, or that they were
         * rolled back with the rest. */
        int status = w->err.code ? rp_err_http_status(w->err.code) : committed ? w->status : 409;
        if (i)
            rp_buf_addc(out, ',');
        rp_buf_addf(out, "{\"index\":%zu,\"op\":\"%s\",\"status\":%d", i, op_name(w->op), status);
        if (w->err.code) {
            rp_buf_adds(out, ",\"error\":");
            problem_json(&w->err, out);
        } else if (committed) {
            rp_buf_adds(out, ",\"record\":");
            rp_buf_add(out, w->body.data, w->body.len);
        } else {
            rp_buf_adds(
                out,
                ",\"error\":{\"status\":409,\"code\":\"conflict\",\"detail\":\"not written: another operation of this atomic batch failed\"}");
        }
        rp_buf_addc(out, '}');
    }
    rp_buf_adds(out, "]}");
}
