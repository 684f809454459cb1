/*
 * Web-to-lead capture (sales.h): capture forms as named definitions, public submissions that
 * create or enrich a lead with its attribution in one transaction, and double opt-in.
 */
#include "sales/sales_int.h"
#include "base/json.h"

#include "base/arena.h"
#include "base/log.h"
#include "base/sql.h"
#include "base/str.h"
#include "base/uuid.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOUR_MS            (INT64_C(3600) * 1000)
#define DEFAULT_RATE_LIMIT 10
#define MAX_FORM_FIELDS    40
#define SECRET_BYTES       24

/* Fields a submission may always carry for attribution, besides the form's own. */
static const char *const utm_fields[] = {"utm_source",  "utm_medium", "utm_campaign",
                                         "utm_content", "utm_term",   "page_url"};

static bool is_utm(const char *name)
{
    for (size_t i = 0; i < sizeof(utm_fields) / sizeof(utm_fields[0]); i++)
        if (strcmp(utm_fields[i], name) == 0)
            return true;
    return false;
}

static bool list_has(const json_t *list, const char *s)
{
    size_t i;
    const json_t *v;

    json_array_foreach(list, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

/* ---- the definition ---- */

int rp_sales_form_check(void *ctx, const struct rp_meta *m, const json_t *def,
                        struct rp_arena *arena, struct rp_error *err)
{
    static const char *const keys[] = {
        "object",      "fields",        "required", "values",
        "campaign_id", "owner_id",      "honeypot", "rate_limit_per_hour",
        "consent",     "double_opt_in", "active",   "description",
        NULL};
    const struct rp_object *lead = rp_meta_object(m, "lead");
    const json_t *fields = json_object_get(def, "fields"), *f, *v;
    const json_t *consent = json_object_get(def, "consent");
    const json_t *dopt = json_object_get(def, "double_opt_in");
    const char *key;
    size_t i;

    (void)ctx;
    if (rp_json_check_keys(def, keys, "a capture form", NULL, err) < 0)
        return err->code;
    if (!lead)
        return rp_error_set(err, RP_EINVAL, "there is no lead object");
    if (json_object_get(def, "object") &&
        strcmp(json_string_value(json_object_get(def, "object"))
                   ? json_string_value(json_object_get(def, "object"))
                   : "",
               "lead") != 0)
        return rp_error_field(err, RP_EVALIDATION, "object", "invalid",
                              "capture forms create leads: \"object\" is \"lead\"");
    if (!json_is_array(fields) || json_array_size(fields) == 0 ||
        json_array_size(fields) > MAX_FORM_FIELDS)
        return rp_error_field(err, RP_EVALIDATION, "fields", "invalid",
                              "\"fields\" lists 1-%d lead fields the form collects",
                              MAX_FORM_FIELDS);
    json_array_foreach(fields, i, f)
    {
        const struct rp_field *lf =
            json_is_string(f) ? rp_meta_field(lead, json_string_value(f)) : NULL;
        if (!lf || lf->system || lf->type == RP_F_FORMULA || strcmp(lf->name, "status") == 0 ||
            strncmp(lf->name, "converted", 9) == 0)
            return rp_error_field(err, RP_EVALIDATION, rp_arena_sprintf(arena, "fields[%zu]", i),
                                  "unknown_field", "\"%s\" is not a lead field a form may collect",
                                  json_is_string(f) ? json_string_value(f) : "?");
    }
    json_array_foreach(json_object_get(def, "required"), i, f)
    {
        if (!json_is_string(f) || !list_has(fields, json_string_value(f)))
            return rp_error_field(err, RP_EVALIDATION, "required", "invalid",
                                  "required fields must be among \"fields\"");
    }
    v = json_object_get(def, "values");
    if (v) {
        json_object_foreach((json_t *)v, key, f)
        {
            const struct rp_field *lf = rp_meta_field(lead, key);
            struct rp_value out;
            struct rp_error sub;
            rp_error_init(&sub, arena);
            if (!lf || lf->system || lf->type == RP_F_FORMULA ||
                rp_meta_value_from_json(lf, f, arena, &out, &sub) < 0)
                return rp_error_field(err, RP_EVALIDATION, "values", "invalid_value", "\"%s\": %s",
                                      key, sub.detail ? sub.detail : "not a field of lead");
        }
    }
    if (json_object_get(def, "honeypot") &&
        (!json_is_string(json_object_get(def, "honeypot")) ||
         rp_meta_field(lead, json_string_value(json_object_get(def, "honeypot")))))
        return rp_error_field(err, RP_EVALIDATION, "honeypot", "invalid",
                              "\"honeypot\" names a hidden input that is not a lead field");
    v = json_object_get(def, "rate_limit_per_hour");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 100000))
        return rp_error_field(err, RP_EVALIDATION, "rate_limit_per_hour", "invalid",
                              "\"rate_limit_per_hour\" is a whole number from 1 to 100000");
    if (consent &&
        (!json_is_object(consent) || !json_is_string(json_object_get(consent, "field")) ||
         !json_is_string(json_object_get(consent, "channel")) ||
         !json_is_string(json_object_get(consent, "purpose"))))
        return rp_error_field(err, RP_EVALIDATION, "consent", "invalid",
                              "\"consent\" is {\"field\", \"channel\", \"purpose\", "
                              "\"policy_version\"?}: the checkbox and what it grants");
    if (dopt && (!consent || !json_is_string(json_object_get(dopt, "template"))))
        return rp_error_field(err, RP_EVALIDATION, "double_opt_in", "invalid",
                              "\"double_opt_in\" is {\"template\": an email template with "
                              "{{confirm_url}}} and needs \"consent\"");
    v = json_object_get(def, "campaign_id");
    if (v && (!json_is_string(v) || !rp_uuid_is_valid(json_string_value(v), json_string_length(v))))
        return rp_error_field(err, RP_EVALIDATION, "campaign_id", "invalid",
                              "\"campaign_id\" is a campaign id");
    v = json_object_get(def, "owner_id");
    if (v && !json_is_string(v))
        return rp_error_field(err, RP_EVALIDATION, "owner_id", "invalid",
                              "\"owner_id\" is a user id");
    return 0;
}

/* ---- a submission ---- */

struct submit_unit {
    struct rp_sales *s;
    const char *form;
    const json_t *def;
    const json_t *input; /* name -> string or JSON value */
    const char *address, *referer;
    struct rp_principal actor;
    struct rp_arena *arena;
    struct rp_error *err;
    int64_t now;
    /* outcome */
    char id[RP_UUID_STRLEN + 1], lead_id[40];
    char secret[2 * SECRET_BYTES + 1];
    bool spam, created, pending;
};

static json_t *datetime_json(struct rp_arena *arena, int64_t ms)
{
    struct rp_value t = rp_value_typed_int(RP_V_DATETIME, ms);
    struct rp_buf b;

    rp_buf_init(&b, arena, 64);
    rp_value_to_json(&b, &t);
    return rp_json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
}

static int write_one(struct submit_unit *x, struct rp_store_conn *c, const char *object,
                     enum rp_write_op op, const char *id, json_t *data, char *new_id)
{
    struct rp_error sub;
    struct rp_write w = {.op = op, .id = id, .data = data, .if_match = -1};
    struct rp_write_request wr = {.principal = &x->actor,
                                  .object = object,
                                  .writes = &w,
                                  .nwrites = 1,
                                  .cause = "{\"web_form\":true,\"depth\":0}",
                                  .flags = RP_WRITE_ALLOW_DUPLICATES,
                                  .arena = x->arena,
                                  .err = &sub};
    int rc;

    rp_error_init(&sub, x->arena);
    if ((rc = rp_records_write_in(x->s->records, c, &wr)) < 0) {
        *x->err = sub;
        return rc;
    }
    if (new_id)
        snprintf(new_id, 40, "%s", w.new_id);
    return 0;
}

static int count_recent(struct submit_unit *x, struct rp_store_conn *c, int64_t *n)
{
    struct rp_sql q;

    rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT COUNT(*) FROM rp_form_submission WHERE form = ");
    rp_sql_param(&q, rp_value_cstr(x->form));
    rp_sql_add(&q, " AND address = ");
    rp_sql_param(&q, rp_value_cstr(x->address));
    rp_sql_add(&q, " AND at > ");
    rp_sql_param(&q, rp_value_int(x->now - HOUR_MS));
    return rp_store_query(c, &q, rp_store_row_int, n, x->err);
}

/* A live, unconverted lead with this e-mail (any case), to enrich rather than duplicate. */
static int lead_by_email(struct submit_unit *x, struct rp_store_conn *c, const char *email)
{
    struct rp_sql q;
    char *id = NULL;
    int rc;

    x->lead_id[0] = '\0';
    if (!email || !*email)
        return 0;
    rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT \"id\" FROM \"lead\" WHERE \"deleted_at\" IS NULL AND"
                   " \"status\" != 'converted' AND lower(\"email\") = lower(");
    rp_sql_param(&q, rp_value_cstr(email));
    rp_sql_add(&q, ") ORDER BY \"created_at\" LIMIT 1");
    rc = rp_store_query(c, &q, rp_sales_row_text, &id, x->err);
    if (id)
        snprintf(x->lead_id, sizeof(x->lead_id), "%s", id);
    free(id);
    return rc;
}

static const char *input_text(const struct submit_unit *x, const char *name)
{
    return json_string_value(json_object_get(x->input, name));
}

static bool checked(const json_t *v)
{
    const char *s = json_string_value(v);
    return json_is_true(v) || (s && (strcmp(s, "on") == 0 || strcmp(s, "true") == 0 ||
                                     strcmp(s, "yes") == 0 || strcmp(s, "1") == 0));
}

static int consent_entry(struct submit_unit *x, struct rp_store_conn *c, const char *source)
{
    const json_t *consent = json_object_get(x->def, "consent");
    json_t *data = json_pack(
        "{sssOsOsssssoss}", "lead_id", x->lead_id, "channel", json_object_get(consent, "channel"),
        "purpose", json_object_get(consent, "purpose"), "action", "grant", "source", source,
        "occurred_at", datetime_json(x->arena, x->now), "evidence",
        rp_arena_sprintf(x->arena, "web form %s, submission %s", x->form, x->id));
    int rc;

    if (json_object_get(consent, "policy_version"))
        json_object_set(data, "policy_version", json_object_get(consent, "policy_version"));
    if (strcmp(x->address, "in-process") != 0)
        json_object_set_new(data, "ip_address", json_string(x->address));
    rc = write_one(x, c, "consent", RP_WRITE_CREATE, NULL, data, NULL);
    json_decref(data);
    return rc;
}

static int record_submission(struct submit_unit *x, struct rp_store_conn *c, const char *state,
                             const char *hash)
{
    const struct rp_value row[] = {rp_value_cstr(x->id),
                                   rp_value_cstr(x->form),
                                   rp_value_cstr(x->address),
                                   rp_value_int(x->now),
                                   rp_value_cstr(state),
                                   x->lead_id[0] ? rp_value_cstr(x->lead_id) : rp_value_null(),
                                   hash ? rp_value_cstr(hash) : rp_value_null()};
    struct rp_sql q;

    rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_form_submission (id, form, address, at, state, lead_id,"
                   " confirm_hash) VALUES ");
    rp_sql_param_list(&q, row, sizeof(row) / sizeof(row[0]));
    return rp_store_exec(c, &q, NULL, x->err);
}

static void hash_hex(const char *secret, char out[2 * crypto_generichash_BYTES + 1])
{
    unsigned char h[crypto_generichash_BYTES];

    crypto_generichash(h, sizeof(h), (const unsigned char *)secret, strlen(secret), NULL, 0);
    sodium_bin2hex(out, 2 * crypto_generichash_BYTES + 1, h, sizeof(h));
}

static int submit_run(struct rp_store_conn *c, void *ctx, struct rp_error *unit_err)
{
    struct submit_unit *x = ctx;
    const json_t *fields = json_object_get(x->def, "fields"), *f;
    const char *honeypot = json_string_value(json_object_get(x->def, "honeypot"));
    const char *campaign = json_string_value(json_object_get(x->def, "campaign_id"));
    const json_t *limit = json_object_get(x->def, "rate_limit_per_hour");
    const json_t *consent = json_object_get(x->def, "consent");
    bool dopt = json_object_get(x->def, "double_opt_in") != NULL;
    bool grant =
        consent &&
        checked(json_object_get(x->input, json_string_value(json_object_get(consent, "field"))));
    char hash[2 * crypto_generichash_BYTES + 1];
    json_t *data, *ev;
    int64_t recent = 0;
    size_t i;
    int rc;

    (void)unit_err;
    x->spam = x->created = x->pending = false;
    x->lead_id[0] = '\0';
    rp_error_clear(x->err);
    if ((rc = count_recent(x, c, &recent)) < 0)
        return rc;
    if (recent >= (limit ? json_integer_value(limit) : DEFAULT_RATE_LIMIT))
        return rp_error_set(x->err, RP_ERATELIMIT,
                            "too many submissions of this form from your address; try later");
    /* a filled honeypot: a bot. Answer as if accepted, keep only the count. */
    if (honeypot && input_text(x, honeypot) && *input_text(x, honeypot)) {
        x->spam = true;
        return record_submission(x, c, "spam", NULL);
    }

    if ((rc = lead_by_email(x, c, input_text(x, "email"))) < 0)
        return rc;
    data = json_object();
    if (x->lead_id[0]) {
        /* enrich: fill what the lead does not have yet, never overwrite */
        struct rp_buf b;
        json_t *lead;
        rp_buf_init(&b, x->arena, 1 << 20);
        if ((rc = rp_records_read_in(x->s->records, c, &x->actor, "lead", x->lead_id, true,
                                     x->arena, &b, x->err)) < 0) {
            json_decref(data);
            return rc;
        }
        lead = rp_json_loadb(b.data, b.len, 0, NULL);
        json_array_foreach(fields, i, f)
        {
            const json_t *v = json_object_get(x->input, json_string_value(f));
            if (v && json_is_null(json_object_get(lead, json_string_value(f))))
                json_object_set(data, json_string_value(f), (json_t *)v);
        }
        if (campaign && json_is_null(json_object_get(lead, "campaign_id")))
            json_object_set_new(data, "campaign_id", json_string(campaign));
        json_decref(lead);
        rc = json_object_size(data)
                 ? write_one(x, c, "lead", RP_WRITE_UPDATE, x->lead_id, data, NULL)
                 : 0;
    } else {
        json_array_foreach(fields, i, f)
        {
            const json_t *v = json_object_get(x->input, json_string_value(f));
            if (v)
                json_object_set(data, json_string_value(f), (json_t *)v);
        }
        json_object_update(data, json_object_get(x->def, "values"));
        if (!json_object_get(data, "source"))
            json_object_set_new(data, "source", json_string("web"));
        if (campaign)
            json_object_set_new(data, "campaign_id", json_string(campaign));
        if (json_object_get(x->def, "owner_id"))
            json_object_set(data, "owner_id", json_object_get(x->def, "owner_id"));
        rc = write_one(x, c, "lead", RP_WRITE_CREATE, NULL, data, x->lead_id);
        x->created = rc == 0;
    }
    json_decref(data);
    if (rc < 0)
        return rc;

    /* attribution: a touchpoint, and campaign membership */
    data = json_pack("{sssssoss}", "lead_id", x->lead_id, "type", "form_submit", "occurred_at",
                     datetime_json(x->arena, x->now), "channel", "web");
    if (campaign)
        json_object_set_new(data, "campaign_id", json_string(campaign));
    for (i = 0; i < sizeof(utm_fields) / sizeof(utm_fields[0]); i++) {
        const char *v = input_text(x, utm_fields[i]);
        if (v && *v)
            json_object_set_new(data, strcmp(utm_fields[i], "page_url") ? utm_fields[i] : "url",
                                json_string(v));
    }
    if (!json_object_get(data, "url") && x->referer)
        json_object_set_new(data, "url", json_string(x->referer));
    rc = write_one(x, c, "touchpoint", RP_WRITE_CREATE, NULL, data, NULL);
    if (rc == RP_EVALIDATION && json_object_get(data, "url")) {
        /* a page address the url field refuses is not worth losing the lead for */
        json_object_del(data, "url");
        rp_error_clear(x->err);
        rc = write_one(x, c, "touchpoint", RP_WRITE_CREATE, NULL, data, NULL);
    }
    json_decref(data);
    if (rc < 0)
        return rc;
    if (campaign) {
        int64_t member = 0;
        struct rp_sql q;
        rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
        rp_sql_add(&q, "SELECT COUNT(*) FROM \"campaign_member\" WHERE \"deleted_at\" IS NULL AND"
                       " \"campaign_id\" = ");
        rp_sql_param(&q, rp_value_cstr(campaign));
        rp_sql_add(&q, " AND \"lead_id\" = ");
        rp_sql_param(&q, rp_value_cstr(x->lead_id));
        if ((rc = rp_store_query(c, &q, rp_store_row_int, &member, x->err)) < 0)
            return rc;
        if (!member) {
            data = json_pack("{ssssssso}", "campaign_id", campaign, "lead_id", x->lead_id, "status",
                             "responded", "first_responded_at", datetime_json(x->arena, x->now));
            rc = write_one(x, c, "campaign_member", RP_WRITE_CREATE, NULL, data, NULL);
            json_decref(data);
            if (rc < 0)
                return rc;
        }
    }

    /* consent: at once, or after the confirmation link */
    if (grant && dopt) {
        unsigned char raw[SECRET_BYTES];
        randombytes_buf(raw, sizeof(raw));
        sodium_bin2hex(x->secret, sizeof(x->secret), raw, sizeof(raw));
        hash_hex(x->secret, hash);
        x->pending = true;
    } else if (grant && (rc = consent_entry(x, c, "web_form")) < 0) {
        return rc;
    }
    if ((rc = record_submission(x, c, x->pending ? "pending_confirmation" : "accepted",
                                x->pending ? hash : NULL)) < 0)
        return rc;
    ev = json_pack("{sssssssb}", "form", x->form, "submission_id", x->id, "lead_id", x->lead_id,
                   "new_lead", x->created);
    if (campaign)
        json_object_set_new(ev, "campaign_id", json_string(campaign));
    rc = rp_records_event_in(c, x->now, "form.submitted", x->lead_id, x->actor.user_id, ev,
                             x->arena, x->err);
    json_decref(ev);
    return rc;
}

/* The submission's values: the form's fields, attribution, the consent box, the honeypot. */
static int check_input(const json_t *def, const json_t *input, struct rp_error *err)
{
    const json_t *fields = json_object_get(def, "fields"), *v, *f;
    const char *honeypot = json_string_value(json_object_get(def, "honeypot"));
    const json_t *consent = json_object_get(def, "consent");
    const char *consent_field = json_string_value(json_object_get(consent, "field"));
    const char *key;
    size_t i;

    if (!json_is_object(input))
        return rp_error_set(err, RP_EINVAL, "a submission is a JSON object or a form");
    json_object_foreach((json_t *)input, key, v)
    {
        if (!list_has(fields, key) && !is_utm(key) && !(honeypot && strcmp(key, honeypot) == 0) &&
            !(consent_field && strcmp(key, consent_field) == 0))
            rp_error_field(err, RP_EINVAL, key, "unknown_field",
                           "this form does not collect \"%s\"", key);
        else if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v) &&
                 !json_is_null(v))
            rp_error_field(err, RP_EINVAL, key, "invalid_type", "\"%s\" must be a plain value",
                           key);
    }
    json_array_foreach(json_object_get(def, "required"), i, f)
    {
        v = json_object_get(input, json_string_value(f));
        if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
            rp_error_field(err, RP_EVALIDATION, json_string_value(f), "required",
                           "\"%s\" is required", json_string_value(f));
    }
    return err->code;
}

int rp_sales_form_submit(struct rp_sales *s, const char *form, const json_t *input,
                         const char *address, const char *referer, struct rp_arena *arena,
                         struct rp_buf *out, struct rp_error *err)
{
    struct submit_unit x = {.s = s,
                            .form = form,
                            .input = input,
                            .address = address ? address : "unknown",
                            .referer = referer,
                            .arena = arena,
                            .err = err,
                            .now = rp_clock_now_ms(s->clock)};
    struct rp_store_conn *c;
    struct rp_error store_err;
    json_t *def = NULL;
    int rc;

    x.actor.user_id = "web_form";
    x.actor.username = "web_form";
    x.actor.display_name = "Web form";
    x.actor.is_admin = true;
    c = rp_store_reader_acquire(s->store);
    rc = rp_records_definition_load(c, RP_SALES_FORMS, "capture form", form, &def, err);
    rp_store_reader_release(s->store, c);
    if (rc < 0)
        return rc;
    if (json_is_false(json_object_get(def, "active"))) {
        json_decref(def);
        return rp_error_set(err, RP_ENOTFOUND, "capture form \"%s\" is not active", form);
    }
    x.def = def;
    if ((rc = check_input(def, input, err)) < 0) {
        json_decref(def);
        return rc;
    }
    rp_uuid_v7(x.id, x.now);
    rp_error_init(&store_err, arena);
    rc = rp_store_write(s->store, submit_run, &x, &store_err);
    if (rc < 0)
        rp_error_copy(err, &store_err);
    if (rc == 0 && x.pending) {
        /* the confirmation message, after the commit: a failure leaves the submission pending */
        const char *base = NULL;
        struct rp_buf msg;
        struct rp_error mail_err;
        struct rp_email_request rq = {.template_name = json_string_value(json_object_get(
                                          json_object_get(def, "double_opt_in"), "template")),
                                      .object = "lead",
                                      .record_id = x.lead_id,
                                      .key = rp_arena_sprintf(arena, "form:%s", x.id)};
        c = rp_store_reader_acquire(s->store);
        {
            char *text = NULL;
            struct rp_sql q;
            struct rp_error ignore;
            rp_error_init(&ignore, NULL);
            rp_sql_init(&q, arena, RP_SQL_SQLITE);
            rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = 'email.tracking_base_url'");
            rp_store_query(c, &q, rp_sales_row_text, &text, &ignore);
            base = text ? rp_arena_strdup(arena, text) : "";
            free(text);
        }
        rp_store_reader_release(s->store, c);
        rq.confirm_url =
            rp_arena_sprintf(arena, "%s/api/v1/forms/confirm?t=%s.%s", base, x.id, x.secret);
        rp_buf_init(&msg, arena, 4096);
        rp_error_init(&mail_err, arena);
        if (!s->automation ||
            rp_email_send(s->automation, &x.actor, &rq, arena, &msg, &mail_err) < 0)
            rp_log_warn("form %s: the confirmation message of submission %s was not queued: %s",
                        form, x.id, mail_err.detail ? mail_err.detail : "no email service");
    }
    sodium_memzero(x.secret, sizeof(x.secret));
    json_decref(def);
    if (rc < 0)
        return err->code ? err->code : rc;
    rp_buf_adds(out, "{\"id\":");
    rp_buf_add_json_str(out, x.id, strlen(x.id));
    rp_buf_addf(out, ",\"status\":\"%s\"}", x.pending ? "confirmation_sent" : "accepted");
    return 0;
}

/* ---- confirmation (double opt-in) ---- */

struct confirm_unit {
    struct submit_unit x;
    const char *hash;
    char form[65];
    bool done;
};

struct pending_row {
    char form[65], lead_id[40], state[32];
    bool found;
};

static int pending_row_fn(void *ctx, const struct rp_value *cols, size_t n)
{
    struct pending_row *p = ctx;

    if (n < 3)
        return 1;
    snprintf(p->form, sizeof(p->form), "%.*s", (int)cols[0].u.s.len, cols[0].u.s.p);
    snprintf(p->lead_id, sizeof(p->lead_id), "%.*s",
             cols[1].type == RP_V_TEXT ? (int)cols[1].u.s.len : 0,
             cols[1].type == RP_V_TEXT ? cols[1].u.s.p : "");
    snprintf(p->state, sizeof(p->state), "%.*s", (int)cols[2].u.s.len, cols[2].u.s.p);
    p->found = true;
    return 1;
}

static int confirm_run(struct rp_store_conn *c, void *ctx, struct rp_error *unit_err)
{
    struct confirm_unit *u = ctx;
    struct submit_unit *x = &u->x;
    struct pending_row p = {0};
    struct rp_sql q;
    json_t *def = NULL;
    int rc;

    (void)unit_err;
    u->done = false;
    rp_error_clear(x->err);
    rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT form, lead_id, state FROM rp_form_submission WHERE id = ");
    rp_sql_param(&q, rp_value_cstr(x->id));
    rp_sql_add(&q, " AND confirm_hash = ");
    rp_sql_param(&q, rp_value_cstr(u->hash));
    if ((rc = rp_store_query(c, &q, pending_row_fn, &p, x->err)) < 0)
        return rc;
    if (!p.found)
        return rp_error_set(x->err, RP_EINVAL, "this confirmation link is not valid");
    if (strcmp(p.state, "pending_confirmation") != 0)
        return 0; /* used already: confirming twice changes nothing */
    if ((rc = rp_records_definition_load(c, RP_SALES_FORMS, "capture form", p.form, &def, x->err)) <
        0)
        return rc == RP_ENOTFOUND ? rp_error_set(x->err, RP_EINVAL, "the form is gone") : rc;
    x->def = def;
    x->form = p.form;
    snprintf(x->lead_id, sizeof(x->lead_id), "%s", p.lead_id);
    if ((rc = consent_entry(x, c, "double_opt_in")) == 0) {
        rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
        rp_sql_add(&q, "UPDATE rp_form_submission SET state = 'confirmed', confirmed_at = ");
        rp_sql_param(&q, rp_value_int(x->now));
        rp_sql_add(&q, " WHERE id = ");
        rp_sql_param(&q, rp_value_cstr(x->id));
        rc = rp_store_exec(c, &q, NULL, x->err);
        u->done = rc == 0;
    }
    x->def = NULL;
    json_decref(def);
    return rc;
}

int rp_sales_form_confirm(struct rp_sales *s, const char *token, struct rp_arena *arena,
                          struct rp_error *err)
{
    struct confirm_unit u = {.x = {.s = s, .arena = arena, .err = err, .address = "in-process"}};
    const char *dot = token ? strchr(token, '.') : NULL;
    char hash[2 * crypto_generichash_BYTES + 1];
    struct rp_error store_err;
    int rc;

    if (!dot || dot - token != RP_UUID_STRLEN || !rp_uuid_is_valid(token, RP_UUID_STRLEN) ||
        strlen(dot + 1) != 2 * SECRET_BYTES)
        return rp_error_set(err, RP_EINVAL, "this confirmation link is not valid");
    memcpy(u.x.id, token, RP_UUID_STRLEN);
    u.x.id[RP_UUID_STRLEN] = '\0';
    hash_hex(dot + 1, hash);
    u.hash = hash;
    u.x.now = rp_clock_now_ms(s->clock);
    u.x.actor.user_id = "web_form";
    u.x.actor.username = "web_form";
    u.x.actor.is_admin = true;
    rp_error_init(&store_err, arena);
    rc = rp_store_write(s->store, confirm_run, &u, &store_err);
    if (rc < 0)
        rp_error_copy(err, &store_err);
    return rc < 0 ? (err->code ? err->code : rc) : 0;
}

void rp_sales_form_register(struct rp_sales *s)
{
    rp_records_definition_kind_add(
        s->records, &(struct rp_definition_kind){.kind = RP_SALES_FORMS,
                                                 .noun = "capture form",
                                                 .permission = RP_ACT_MANAGE_METADATA,
                                                 .check = rp_sales_form_check,
                                                 .ctx = s});
}
