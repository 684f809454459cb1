/*
 * Lead conversion (sales.h): one writer unit that reads the lead, links or creates the account
 * and contact, creates the opportunity, marks the lead converted and carries its lineage over.
 */
#include "sales/sales_int.h"
#include "base/json.h"

#include "base/arena.h"
#include "base/sql.h"
#include "base/uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Lineage rows re-linked in one batch write. */
#define LINEAGE_BATCH 500

/* A field of the lead copied to a field of the new record. */
struct field_map {
    const char *from, *to;
};

static const struct field_map to_account[] = {
    {"company", "name"},        {"industry", "industry"},
    {"region", "region"},       {"website", "website"},
    {"phone", "phone"},         {"annual_revenue", "annual_revenue"},
    {"employees", "employees"}, {"uscc", "uscc"},
    {"source", "source"},       {"country", "country"},
    {"province", "province"},   {"city", "city"},
    {"street", "street"},       {"postal_code", "postal_code"},
};

static const struct field_map to_contact[] = {
    {"salutation", "salutation"},
    {"last_name", "last_name"},
    {"first_name", "first_name"},
    {"title", "title"},
    {"email", "email"},
    {"phone", "phone"},
    {"mobile", "mobile"},
    {"wechat", "wechat"},
    {"preferred_language", "preferred_language"},
    {"do_not_email", "do_not_email"},
    {"do_not_call", "do_not_call"},
    {"source", "lead_source"},
    {"country", "mailing_country"},
    {"province", "mailing_province"},
    {"city", "mailing_city"},
    {"street", "mailing_street"},
    {"postal_code", "mailing_postal_code"},
};

static const struct field_map to_opportunity[] = {
    {"source", "source"},
    {"campaign_id", "campaign_id"},
};

struct convert_unit {
    struct rp_sales *s;
    const struct rp_principal *p;
    struct rp_principal internal; /* the caller, unrestricted: lineage of the converted lead */
    const char *lead_id, *owner_id, *request_id, *cause;
    const json_t *options;
    struct rp_meta *m;
    struct rp_arena *arena;
    struct rp_error *err;
    int64_t now;
    /* outcome */
    char account_id[40], contact_id[40], opportunity_id[40];
    json_t *converted_at; /* RFC 3339 text */
    bool already, created_account, created_contact, created_opportunity;
};

/*
 * Copies the lead's values that the target field accepts and the caller may edit; a value the
 * target's picklist does not know is left out rather than failing the conversion.
 */
static void copy_fields(struct convert_unit *x, const json_t *lead, const char *object,
                        const struct field_map *map, size_t n, json_t *data)
{
    const struct rp_object *o = rp_meta_object(x->m, object);

    for (size_t i = 0; o && i < n; i++) {
        const json_t *v = json_object_get(lead, map[i].from);
        const struct rp_field *f = rp_meta_field(o, map[i].to);
        struct rp_value out;
        struct rp_error sub;
        if (!v || json_is_null(v) || !f || rp_policy_field(x->p, o, f) != RP_FIELD_EDIT)
            continue;
        rp_error_init(&sub, x->arena);
        if (rp_meta_value_from_json(f, v, x->arena, &out, &sub) == 0)
            json_object_set(data, map[i].to, (json_t *)v);
    }
}

/* One write through the records path inside the unit; errors name the object. */
static int write_one(struct convert_unit *x, struct rp_store_conn *c, const struct rp_principal *as,
                     const char *object, enum rp_write_op op, const char *id, json_t *data,
                     char *new_id)
{
    struct rp_error sub;
    struct rp_write w = {.op = op, .id = id, .data = data, .if_match = -1};
    struct rp_write_request wr = {.principal = as,
                                  .object = object,
                                  .writes = &w,
                                  .nwrites = 1,
                                  .request_id = x->request_id,
                                  .cause = x->cause,
                                  .arena = x->arena,
                                  .err = &sub};
    int rc;

    rp_error_init(&sub, x->arena);
    rc = rp_records_write_in(x->s->records, c, &wr);
    if (rc < 0) {
        *x->err = sub;
        x->err->detail = rp_arena_sprintf(x->arena, "converting the lead: %s: %s", object,
                                          sub.detail ? sub.detail : "could not write");
        return rc;
    }
    if (new_id)
        snprintf(new_id, 40, "%s", w.new_id);
    return 0;
}

/* Reads a record the caller can read as JSON with its values unmasked (internal copying). */
static int read_record(struct convert_unit *x, struct rp_store_conn *c, const char *object,
                       const char *id, const char *field, json_t **out)
{
    struct rp_error sub;
    struct rp_buf b;
    int rc;

    *out = NULL;
    rp_error_init(&sub, x->arena);
    rp_buf_init(&b, x->arena, 1 << 20);
    rc = rp_records_read_in(x->s->records, c, x->p, object, id, true, x->arena, &b, &sub);
    if (rc == RP_ENOTFOUND)
        return field ? rp_error_field(x->err, RP_EVALIDATION, field, "not_found",
                                      "no %s %s that you can read", object, id)
                     : rp_error_set(x->err, RP_ENOTFOUND, "no %s %s", object, id);
    if (rc < 0) {
        *x->err = sub;
        return rc;
    }
    *out = rp_json_loadb(b.data, b.len, 0, NULL);
    return *out ? 0 : rp_error_set(x->err, RP_EINTERNAL, "could not read the %s", object);
}

/* A datetime as the API writes it (RFC 3339 text). */
static json_t *datetime_json(struct rp_arena *arena, int64_t ms)
{
    struct rp_value t = rp_value_typed_int(RP_V_DATETIME, ms);
    struct rp_buf b;

    rp_buf_init(&b, arena, 64);
    rp_value_to_json(&b, &t);
    return rp_json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
}

/* ---- lineage ---- */

struct id_rows {
    json_t *rows; /* [[id, col...], ...] */
};

static int id_rows_fn(void *ctx, const struct rp_value *cols, size_t n)
{
    struct id_rows *x = ctx;
    json_t *row = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(row, cols[i].type == RP_V_TEXT
                                       ? json_stringn(cols[i].u.s.p, cols[i].u.s.len)
                                   : cols[i].type == RP_V_INT ? json_integer(cols[i].u.i)
                                                              : json_null());
    json_array_append_new(x->rows, row);
    return 0;
}

/* Rows of object that belong to the lead and have no contact yet: [id, account_id?]. */
static int unlinked(struct convert_unit *x, struct rp_store_conn *c, const char *object,
                    bool with_account, json_t **rows)
{
    struct id_rows r = {json_array()};
    struct rp_sql q;
    int rc;

    rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
    rp_sql_addf(
        &q,
        "SELECT \"id\"%s FROM \"%s\" WHERE \"deleted_at\" IS NULL AND \"contact_id\" IS NULL"
        " AND \"lead_id\" = ",
        with_account ? ", \"account_id\"" : "", object);
    rp_sql_param(&q, rp_value_cstr(x->lead_id));
    rp_sql_add(&q, " ORDER BY \"id\"");
    rc = rp_store_query(c, &q, id_rows_fn, &r, x->err);
    *rows = r.rows;
    return rc;
}

/* Gives the lead's activities, campaign memberships and touchpoints the contact (and account). */
static int relink(struct convert_unit *x, struct rp_store_conn *c, const char *object,
                  bool with_account)
{
    json_t *rows, *row;
    size_t i;
    int rc;

    if (!rp_meta_object(x->m, object))
        return 0;
    if ((rc = unlinked(x, c, object, with_account, &rows)) < 0) {
        json_decref(rows);
        return rc;
    }
    json_array_foreach(rows, i, row)
    {
        json_t *data = json_pack("{ss}", "contact_id", x->contact_id);
        if (with_account && json_is_null(json_array_get(row, 1)))
            json_object_set_new(data, "account_id", json_string(x->account_id));
        rc = write_one(x, c, &x->internal, object, RP_WRITE_UPDATE,
                       json_string_value(json_array_get(row, 0)), data, NULL);
        json_decref(data);
        if (rc < 0)
            break;
    }
    json_decref(rows);
    return rc;
}

/* Copies the lead's consent entries to the contact: the ledger is append-only. */
static int copy_consent(struct convert_unit *x, struct rp_store_conn *c)
{
    static const char *const cols[] = {"channel",     "purpose",        "action",     "source",
                                       "occurred_at", "policy_version", "ip_address", "evidence"};
    const struct rp_object *o = rp_meta_object(x->m, "consent");
    struct id_rows r = {json_array()};
    struct rp_sql q;
    json_t *row;
    size_t i;
    int rc;

    if (!o)
        return 0;
    rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT \"id\"");
    for (i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
        rp_sql_addf(&q, ", \"%s\"", cols[i]);
    rp_sql_add(&q, " FROM \"consent\" WHERE \"deleted_at\" IS NULL AND \"contact_id\" IS NULL AND"
                   " \"lead_id\" = ");
    rp_sql_param(&q, rp_value_cstr(x->lead_id));
    rp_sql_add(&q, " ORDER BY \"occurred_at\", \"id\"");
    if ((rc = rp_store_query(c, &q, id_rows_fn, &r, x->err)) < 0) {
        json_decref(r.rows);
        return rc;
    }
    json_array_foreach(r.rows, i, row)
    {
        json_t *data = json_pack("{ss}", "contact_id", x->contact_id);
        const char *evidence = json_string_value(json_array_get(row, 8));
        for (size_t k = 0; k < 7; k++) {
            const json_t *v = json_array_get(row, k + 1);
            if (!json_is_null(v)) {
                const struct rp_field *f = rp_meta_field(o, cols[k]);
                /* occurred_at is stored as milliseconds; the API takes RFC 3339 text */
                if (f && f->type == RP_F_DATETIME && json_is_integer(v))
                    json_object_set_new(data, cols[k],
                                        datetime_json(x->arena, json_integer_value(v)));
                else
                    json_object_set(data, cols[k], (json_t *)v);
            }
        }
        json_object_set_new(data, "evidence",
                            json_string(rp_arena_sprintf(
                                x->arena, "%s%scopied from lead %s at its conversion",
                                evidence ? evidence : "", evidence ? "; " : "", x->lead_id)));
        rc = write_one(x, c, &x->internal, "consent", RP_WRITE_CREATE, NULL, data, NULL);
        json_decref(data);
        if (rc < 0)
            break;
    }
    json_decref(r.rows);
    return rc;
}

/* ---- the unit ---- */

static void copy_id(char *dst, const json_t *v)
{
    snprintf(dst, 40, "%s", json_is_string(v) ? json_string_value(v) : "");
}

static int convert_run(struct rp_store_conn *c, void *ctx, struct rp_error *unit_err)
{
    struct convert_unit *x = ctx;
    const char *account_id = json_string_value(json_object_get(x->options, "account_id"));
    const char *contact_id = json_string_value(json_object_get(x->options, "contact_id"));
    const json_t *opp_values = json_object_get(x->options, "opportunity");
    bool create_opp = !json_is_false(json_object_get(x->options, "create_opportunity"));
    json_t *lead = NULL, *data, *linked = NULL;
    const char *status;
    int rc;

    (void)unit_err;
    /* the writer may run a unit again after a rollback: start clean */
    x->account_id[0] = x->contact_id[0] = x->opportunity_id[0] = '\0';
    x->already = x->created_account = x->created_contact = x->created_opportunity = false;
    json_decref(x->converted_at);
    x->converted_at = NULL;
    rp_error_clear(x->err);
    if ((rc = read_record(x, c, "lead", x->lead_id, NULL, &lead)) < 0)
        return rc;
    status = json_string_value(json_object_get(lead, "status"));
    if (status && strcmp(status, "converted") == 0) {
        x->already = true;
        copy_id(x->account_id, json_object_get(lead, "converted_account_id"));
        copy_id(x->contact_id, json_object_get(lead, "converted_contact_id"));
        copy_id(x->opportunity_id, json_object_get(lead, "converted_opportunity_id"));
        x->converted_at = json_incref(json_object_get(lead, "converted_at"));
        goto out;
    }
    if (status && strcmp(status, "disqualified") == 0) {
        rc = rp_error_set(x->err, RP_ECONFLICT, "a disqualified lead cannot be converted");
        goto out;
    }

    /* the account: linked, or made from the company (else the person's name) */
    if (account_id) {
        if ((rc = read_record(x, c, "account", account_id, "account_id", &linked)) < 0)
            goto out;
        json_decref(linked);
        snprintf(x->account_id, sizeof(x->account_id), "%s", account_id);
    } else {
        data = json_object();
        copy_fields(x, lead, "account", to_account, sizeof(to_account) / sizeof(to_account[0]),
                    data);
        if (!json_object_get(data, "name"))
            json_object_set_new(
                data, "name",
                json_string(rp_arena_sprintf(
                    x->arena, "%s%s%s",
                    json_string_value(json_object_get(lead, "first_name"))
                        ? json_string_value(json_object_get(lead, "first_name"))
                        : "",
                    json_string_value(json_object_get(lead, "first_name")) ? " " : "",
                    json_string_value(json_object_get(lead, "last_name")))));
        if (x->owner_id)
            json_object_set_new(data, "owner_id", json_string(x->owner_id));
        rc = write_one(x, c, x->p, "account", RP_WRITE_CREATE, NULL, data, x->account_id);
        json_decref(data);
        if (rc < 0)
            goto out;
        x->created_account = true;
    }

    /* the contact */
    if (contact_id) {
        if ((rc = read_record(x, c, "contact", contact_id, "contact_id", &linked)) < 0)
            goto out;
        json_decref(linked);
        snprintf(x->contact_id, sizeof(x->contact_id), "%s", contact_id);
    } else {
        data = json_pack("{ss}", "account_id", x->account_id);
        copy_fields(x, lead, "contact", to_contact, sizeof(to_contact) / sizeof(to_contact[0]),
                    data);
        if (x->owner_id)
            json_object_set_new(data, "owner_id", json_string(x->owner_id));
        rc = write_one(x, c, x->p, "contact", RP_WRITE_CREATE, NULL, data, x->contact_id);
        json_decref(data);
        if (rc < 0)
            goto out;
        x->created_contact = true;
    }

    /* the opportunity */
    if (create_opp) {
        const char *company = json_string_value(json_object_get(lead, "company"));
        data =
            json_pack("{ssss}", "account_id", x->account_id, "primary_contact_id", x->contact_id);
        json_object_set_new(
            data, "name",
            json_string(rp_arena_sprintf(
                x->arena, "%s",
                company ? company : json_string_value(json_object_get(lead, "last_name")))));
        copy_fields(x, lead, "opportunity", to_opportunity,
                    sizeof(to_opportunity) / sizeof(to_opportunity[0]), data);
        if (x->owner_id)
            json_object_set_new(data, "owner_id", json_string(x->owner_id));
        json_object_update(data, (json_t *)opp_values);
        rc = write_one(x, c, x->p, "opportunity", RP_WRITE_CREATE, NULL, data, x->opportunity_id);
        json_decref(data);
        if (rc < 0)
            goto out;
        x->created_opportunity = true;
    }

    /* the lead itself, as the caller (who must be able to edit it) */
    x->converted_at = datetime_json(x->arena, x->now);
    data = json_pack("{sssssssO}", "status", "converted", "converted_account_id", x->account_id,
                     "converted_contact_id", x->contact_id, "converted_at", x->converted_at);
    if (create_opp)
        json_object_set_new(data, "converted_opportunity_id", json_string(x->opportunity_id));
    rc = write_one(x, c, x->p, "lead", RP_WRITE_UPDATE, x->lead_id, data, NULL);
    json_decref(data);
    if (rc < 0)
        goto out;

    if ((rc = relink(x, c, "activity", true)) < 0 ||
        (rc = relink(x, c, "campaign_member", false)) < 0 ||
        (rc = relink(x, c, "touchpoint", false)) < 0 || (rc = copy_consent(x, c)) < 0)
        goto out;
    data = json_pack("{ssssss}", "lead_id", x->lead_id, "account_id", x->account_id, "contact_id",
                     x->contact_id);
    json_object_set_new(data, "opportunity_id",
                        create_opp ? json_string(x->opportunity_id) : json_null());
    rc = rp_records_event_in(c, x->now, "lead.converted", x->lead_id, x->p->user_id, data, x->arena,
                             x->err);
    json_decref(data);
out:
    json_decref(lead);
    return rc;
}

static int check_options(const json_t *o, struct rp_error *err)
{
    static const char *const keys[] = {"account_id", "contact_id", "create_opportunity",
                                       "opportunity", "owner_id"};
    const char *key;
    json_t *v;

    if (!o)
        return 0;
    if (!json_is_object(o))
        return rp_error_set(err, RP_EINVAL, "the body is a JSON object of conversion options");
    json_object_foreach((json_t *)o, key, v)
    {
        size_t i = 0;
        while (i < sizeof(keys) / sizeof(keys[0]) && strcmp(keys[i], key))
            i++;
        if (i == sizeof(keys) / sizeof(keys[0]))
            return rp_error_field(err, RP_EINVAL, key, "unknown_key",
                                  "unknown option \"%s\"; expected account_id, contact_id, "
                                  "create_opportunity, opportunity, owner_id",
                                  key);
        if ((strcmp(key, "create_opportunity") == 0 && !json_is_boolean(v)) ||
            (strcmp(key, "opportunity") == 0 && !json_is_object(v)) ||
            (strstr(key, "_id") &&
             (!json_is_string(v) ||
              !rp_uuid_is_valid(json_string_value(v), json_string_length(v)))))
            return rp_error_field(err, RP_EINVAL, key, "invalid_type",
                                  "\"%s\" has the wrong type (ids are record ids, "
                                  "create_opportunity a boolean, opportunity an object)",
                                  key);
    }
    if (json_is_false(json_object_get(o, "create_opportunity")) &&
        json_object_get(o, "opportunity"))
        return rp_error_field(err, RP_EINVAL, "opportunity", "invalid",
                              "\"opportunity\" values need an opportunity to be created");
    return 0;
}

int rp_sales_convert_lead(struct rp_sales *s, const struct rp_principal *p, const char *lead_id,
                          const json_t *options, const char *request_id, struct rp_arena *arena,
                          struct rp_buf *out, bool *already, struct rp_error *err)
{
    struct convert_unit x = {.s = s,
                             .p = p,
                             .lead_id = lead_id,
                             .options = options,
                             .request_id = request_id,
                             .arena = arena,
                             .err = err,
                             .now = rp_clock_now_ms(s->clock)};
    struct rp_error store_err;
    int rc;

    if ((rc = check_options(options, err)) < 0)
        return rc;
    if (!rp_uuid_is_valid(lead_id, strlen(lead_id)))
        return rp_error_set(err, RP_ENOTFOUND, "no lead %s", lead_id);
    x.owner_id = json_string_value(json_object_get(options, "owner_id"));
    x.internal = *p;
    x.internal.is_admin = true;
    x.cause = rp_arena_sprintf(arena, "{\"lead_conversion\":\"%s\",\"depth\":0}", lead_id);
    x.m = rp_meta_acquire(s->meta);
    rp_error_init(&store_err, arena);
    rc = rp_store_write(s->store, convert_run, &x, &store_err);
    rp_meta_release(x.m);
    if (rc < 0) {
        json_decref(x.converted_at);
        rp_error_copy(err, &store_err);
        return err->code ? err->code : rc;
    }
    if (already)
        *already = x.already;
    rp_buf_adds(out, "{\"lead_id\":");
    rp_buf_add_json_str(out, lead_id, strlen(lead_id));
    rp_buf_addf(out,
                ",\"account_id\":\"%s\",\"contact_id\":\"%s\",\"opportunity_id\":", x.account_id,
                x.contact_id);
    if (x.opportunity_id[0])
        rp_buf_addf(out, "\"%s\"", x.opportunity_id);
    else
        rp_buf_adds(out, "null");
    rp_buf_adds(out, ",\"converted_at\":");
    {
        char *at = x.converted_at ? rp_json_dumps(x.converted_at, JSON_ENCODE_ANY, NULL) : NULL;
        rp_buf_adds(out, at ? at : "null");
        free(at);
        json_decref(x.converted_at);
    }
    rp_buf_addf(out,
                ",\"already_converted\":%s,\"created\":{\"account\":%s,\"contact\":%s,"
                "\"opportunity\":%s}}",
                x.already ? "true" : "false", x.created_account ? "true" : "false",
                x.created_contact ? "true" : "false", x.created_opportunity ? "true" : "false");
    return 0;
}
