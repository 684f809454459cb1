/*
 * Privacy: consent state, subject access export and erasure (privacy.h).
 *
 * The people rapport holds data about are contacts; "about the person" is read from the
 * metadata, not listed here: every reference field whose target is contact names records that
 * belong to the person (activity.contact_id, case.contact_id, opportunity.primary_contact_id...),
 * so custom objects with such a field are exported and erased too. References from one contact
 * to another (reports_to_id) are left out: that record is about someone else.
 *
 * Export and erasure need the "privacy" permission and then see everything held about the
 * person, whatever the record-level and field-level access of the officer asking: a subject
 * access request is answered in full, and an erasure that skipped rows would not be one.
 *
 * Retention policies purge or anonymise records of an object that nobody changed for N days,
 * and drop audit entries older than N days; rp_records_retention_run applies them (the app runs
 * it hourly; TODO(#4): as a job of the durable job queue once it exists). Anonymising is the
 * erasure below applied to each old record; purging deletes the row and redacts every value
 * its audit and change entries hold.
 */
#include "records/privacy.h"
#include "base/json.h"
#include "records/records_int.h"
#include "base/limits.h"
#include "base/uuid.h"

#include <stdio.h>

/* ---- helpers ---- */

static int not_found(const char *id, struct rp_error *err)
{
    return rp_error_set(err, RP_ENOTFOUND, "contact \"%s\" not found", id);
}

/* Whose view export and erasure read with, once the privacy permission is checked. */
static const struct rp_principal privacy_view = {.user_id = "system", .username = "system"};

static int txn(struct rp_store_conn *c, const char *sql, struct rp_arena *a, struct rp_error *err)
{
    struct rp_sql q;
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, sql);
    return rp_store_exec(c, &q, NULL, err);
}

/* True for a reference field that ties its record to a person (see the file head). */
static bool points_at_contact(const struct rp_object *o, const struct rp_field *f)
{
    return f->type == RP_F_REFERENCE && f->target && strcmp(f->target, "contact") == 0 &&
           strcmp(o->name, "contact") != 0;
}

struct row_list {
    const struct rp_object *o;
    struct rp_arena *arena;
    struct rp_row *rows;
    size_t n, cap;
};

static int collect_row(void *vctx, const struct rp_value *cols, size_t ncols)
{
    struct row_list *l = vctx;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        struct rp_row *nr = rp_arena_calloc(l->arena, ncap, sizeof(*nr));
        if (l->n)
            memcpy(nr, l->rows, l->n * sizeof(*nr));
        l->rows = nr;
        l->cap = ncap;
    }
    rp_records_decode_row(l->o, cols, ncols, l->arena, &l->rows[l->n++]);
    return 0;
}

/*
 * Reads the rows of o whose field (a column name from the metadata) equals id, deleted ones
 * too, in the order they were written. At most RP_LIMIT_PAGE_MAX * 100 rows: a person with more
 * is an integration bug better reported than silently cut (RP_ETOOBIG).
 */
static int read_rows(struct rp_store_conn *c, const struct rp_meta *m, const struct rp_principal *p,
                     const struct rp_object *o, const char *field, const char *id,
                     struct rp_arena *a, struct row_list *out, struct rp_error *err)
{
    const size_t max_rows = (size_t)RP_LIMIT_PAGE_MAX * 100;
    struct rp_sql q;
    int rc;

    memset(out, 0, sizeof(*out));
    out->o = o;
    out->arena = a;
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT ");
    rp_records_select_columns(o, &q);
    rp_sql_add(&q, " FROM ");
    rp_sql_ident(&q, o->name);
    rp_sql_add(&q, " AS \"t\" WHERE \"t\".");
    rp_sql_ident(&q, field);
    rp_sql_add(&q, " = ");
    rp_sql_param(&q, rp_value_cstr(id));
    rp_sql_add(&q, " AND ");
    rp_policy_row_sql(p, m, o, "t", RP_ACCESS_READ, &q);
    rp_sql_add(&q, " ORDER BY \"t\".rowid LIMIT ");
    rp_sql_param(&q, rp_value_int((int64_t)max_rows + 1));
    if ((rc = rp_store_query(c, &q, collect_row, out, err)) < 0)
        return rc;
    if (out->n > max_rows)
        return rp_error_set(err, RP_ETOOBIG, "more than %zu %s records point at contact \"%s\"",
                            max_rows, o->name, id);
    return 0;
}

/*
 * The one place rows become JSON here. The export shows sensitive fields in clear (it is written
 * with privacy_view): the person is entitled to every value held about them.
 */
static void row_json(const struct rp_row *row, const struct rp_principal *p, struct rp_arena *a,
                     struct rp_buf *out)
{
    rp_records_row_json(row, NULL, p, a, out);
}

/* ---- consent state ---- */

struct consent_fields {
    const struct rp_field *channel, *purpose, *action, *occurred_at, *source, *policy_version;
};

static bool text_eq(const struct rp_value *a, const struct rp_value *b)
{
    return a->type == RP_V_TEXT && b->type == RP_V_TEXT && a->u.s.len == b->u.s.len &&
           memcmp(a->u.s.p, b->u.s.p, a->u.s.len) == 0;
}

static bool is_grant(const struct consent_fields *cf, const struct rp_row *r)
{
    const struct rp_value *v = &r->values[cf->action->index];
    return v->type == RP_V_TEXT && v->u.s.len == 5 && memcmp(v->u.s.p, "grant", 5) == 0;
}

static void add_value_json(struct rp_buf *out, const char *key, const struct rp_value *v)
{
    rp_buf_addf(out, ",\"%s\":", key);
    rp_value_to_json(out, v);
}

int rp_records_consent_state(struct rp_records *rs, const struct rp_principal *p,
                             const char *contact_id, struct rp_arena *a, struct rp_buf *out,
                             struct rp_error *err)
{
    struct rp_meta *m = rp_meta_acquire(rs->meta);
    const struct rp_object *contact = rp_meta_object(m, "contact");
    const struct rp_object *consent = rp_meta_object(m, "consent");
    struct rp_store_conn *c = NULL;
    struct consent_fields cf = {0};
    struct row_list ledger;
    struct rp_row row;
    struct rp_row **latest; /* per (channel, purpose) pair, in first-seen order */
    size_t npairs = 0;
    bool any_grant = false;
    int rc = RP_EINTERNAL;

    if (!contact || !consent) {
        rc = rp_error_set(err, RP_EINTERNAL, "the contact and consent objects are missing");
        goto out;
    }
    cf.channel = rp_meta_field(consent, "channel");
    cf.purpose = rp_meta_field(consent, "purpose");
    cf.action = rp_meta_field(consent, "action");
    cf.occurred_at = rp_meta_field(consent, "occurred_at");
    cf.source = rp_meta_field(consent, "source");
    cf.policy_version = rp_meta_field(consent, "policy_version");
    if (!cf.channel || !cf.purpose || !cf.action || !cf.occurred_at || !cf.source ||
        !cf.policy_version) {
        rc = rp_error_set(err, RP_EINTERNAL, "the consent object lacks its ledger fields");
        goto out;
    }
    if ((rc = rp_policy_check(p, "contact", RP_ACT_READ, err)) < 0 ||
        (rc = rp_policy_check(p, "consent", RP_ACT_READ, err)) < 0)
        goto out;
    if (!rp_uuid_is_valid(contact_id, strlen(contact_id))) {
        rc = not_found(contact_id, err);
        goto out;
    }
    c = rp_store_reader_acquire(rs->store);
    if ((rc = rp_records_fetch(c, m, p, contact, contact_id, a, &row, err)) < 0)
        goto out;
    if (row.deleted_at) {
        rc = not_found(contact_id, err);
        goto out;
    }
    if ((rc = read_rows(c, m, p, consent, "contact_id", contact_id, a, &ledger, err)) < 0)
        goto out;

    /* The latest entry per pair by occurred_at; among equal times the later written wins. */
    latest = rp_arena_calloc(a, ledger.n + 1, sizeof(*latest));
    for (size_t i = 0; i < ledger.n; i++) {
        struct rp_row *r = &ledger.rows[i];
        const struct rp_value *at = &r->values[cf.occurred_at->index];
        size_t k;
        if (r->deleted_at)
            continue; /* entries deleted before the ledger became append-only */
        for (k = 0; k < npairs; k++)
            if (text_eq(&latest[k]->values[cf.channel->index], &r->values[cf.channel->index]) &&
                text_eq(&latest[k]->values[cf.purpose->index], &r->values[cf.purpose->index]))
                break;
        if (k == npairs) {
            latest[npairs++] = r;
            continue;
        }
        const struct rp_value *cur = &latest[k]->values[cf.occurred_at->index];
        if (at->type == RP_V_DATETIME && cur->type == RP_V_DATETIME &&
            (at->u.i > cur->u.i || (at->u.i == cur->u.i && r->rowid > latest[k]->rowid)))
            latest[k] = r;
    }
    for (size_t k = 0; k < npairs; k++)
        any_grant = any_grant || is_grant(&cf, latest[k]);

    rp_buf_adds(out, "{\"contact_id\":");
    rp_buf_add_json_str(out, contact_id, strlen(contact_id));
    rp_buf_addf(out, ",\"do_not_contact\":%s,\"channels\":{", any_grant ? "false" : "true");
    /* Channels in first-seen order, each with its purposes. */
    for (size_t k = 0; k < npairs; k++) {
        const struct rp_value *ch = &latest[k]->values[cf.channel->index];
        bool seen = false, may = false, first = true;
        for (size_t j = 0; j < k && !seen; j++)
            seen = text_eq(&latest[j]->values[cf.channel->index], ch);
        if (seen)
            continue;
        for (size_t j = k; j < npairs; j++)
            if (text_eq(&latest[j]->values[cf.channel->index], ch))
                may = may || is_grant(&cf, latest[j]);
        if (out->len && out->data[out->len - 1] == '}')
            rp_buf_addc(out, ',');
        rp_value_to_json(out, ch);
        rp_buf_addf(out, ":{\"may_contact\":%s,\"purposes\":{", may ? "true" : "false");
        for (size_t j = k; j < npairs; j++) {
            const struct rp_row *r = latest[j];
            if (!text_eq(&r->values[cf.channel->index], ch))
                continue;
            if (!first)
                rp_buf_addc(out, ',');
            first = false;
            rp_value_to_json(out, &r->values[cf.purpose->index]);
            rp_buf_adds(out, ":{\"action\":");
            rp_value_to_json(out, &r->values[cf.action->index]);
            rp_buf_addf(out, ",\"granted\":%s", is_grant(&cf, r) ? "true" : "false");
            add_value_json(out, "occurred_at", &r->values[cf.occurred_at->index]);
            add_value_json(out, "source", &r->values[cf.source->index]);
            add_value_json(out, "policy_version", &r->values[cf.policy_version->index]);
            add_value_json(out, "consent_id", &r->values[0]);
            rp_buf_addc(out, '}');
        }
        rp_buf_adds(out, "}}");
    }
    rp_buf_adds(out, "}}");
    rc = rp_buf_error(out) ? rp_error_set(err, RP_ETOOBIG, "the consent state is too large") : 0;
out:
    if (c)
        rp_store_reader_release(rs->store, c);
    rp_meta_release(m);
    return rc;
}

/* ---- audit entries written by privacy operations ---- */

struct log_entry {
    const struct rp_principal *p;
    const char *object, *record_id, *action, *changes, *request_id;
    int64_t now;
    bool change_event;     /* also an rp_change event for downstream consumers */
    const char *change_op; /* its op; NULL: "update" */
};

static int log_entry(struct rp_store_conn *c, const struct log_entry *e, struct rp_arena *a,
                     struct rp_error *err)
{
    const char *actor = e->p ? e->p->user_id : "system";
    struct rp_sql q;
    int rc;
    const struct rp_value audit[] = {rp_value_int(e->now),
                                     rp_value_cstr(actor),
                                     rp_value_cstr(e->action),
                                     e->object ? rp_value_cstr(e->object) : rp_value_null(),
                                     e->record_id ? rp_value_cstr(e->record_id) : rp_value_null(),
                                     rp_value_cstr(e->changes),
                                     e->request_id ? rp_value_cstr(e->request_id)
                                                   : rp_value_null()};

    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_audit(at, actor, action, object, record_id, changes, request_id)"
                   " VALUES ");
    rp_sql_param_list(&q, audit, sizeof(audit) / sizeof(audit[0]));
    if ((rc = rp_store_exec(c, &q, NULL, err)) < 0 || !e->change_event)
        return rc;
    /* A change event is always about a record: object and record_id are set. */
    const struct rp_value change[] = {
        rp_value_int(e->now),        rp_value_cstr(e->object),
        rp_value_cstr(e->record_id), rp_value_cstr(e->change_op ? e->change_op : "update"),
        rp_value_cstr(actor),        rp_value_cstr(e->changes)};
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_change(at, object, record_id, op, actor, changes) VALUES ");
    rp_sql_param_list(&q, change, sizeof(change) / sizeof(change[0]));
    return rp_store_exec(c, &q, NULL, err);
}

/* ---- subject access export ---- */

struct history_ctx {
    struct rp_buf *out;
    size_t n;
};

static void text_or_null(struct rp_buf *out, const struct rp_value *v)
{
    if (v->type == RP_V_TEXT)
        rp_buf_add_json_str(out, v->u.s.p, v->u.s.len);
    else
        rp_buf_adds(out, "null");
}

static int history_row(void *vctx, const struct rp_value *cols, size_t ncols)
{
    struct history_ctx *h = vctx;
    struct rp_value at;
    json_t *j;

    if (ncols < 6)
        return 0;
    if (h->n++)
        rp_buf_addc(h->out, ',');
    at = rp_value_typed_int(RP_V_DATETIME, cols[1].type == RP_V_INT ? cols[1].u.i : 0);
    rp_buf_addf(h->out,
                "{\"id\":%lld,\"at\":", (long long)(cols[0].type == RP_V_INT ? cols[0].u.i : 0));
    rp_value_to_json(h->out, &at);
    rp_buf_adds(h->out, ",\"actor\":");
    text_or_null(h->out, &cols[2]);
    rp_buf_adds(h->out, ",\"action\":");
    text_or_null(h->out, &cols[3]);
    rp_buf_adds(h->out, ",\"changes\":");
    /* Every writer of the log stores JSON; anything else is shown as a string. */
    j = cols[4].type == RP_V_TEXT ? rp_json_loadb(cols[4].u.s.p, cols[4].u.s.len, 0, NULL) : NULL;
    if (j)
        rp_buf_add(h->out, cols[4].u.s.p, cols[4].u.s.len);
    else
        text_or_null(h->out, &cols[4]);
    json_decref(j);
    rp_buf_adds(h->out, ",\"request_id\":");
    text_or_null(h->out, &cols[5]);
    rp_buf_addc(h->out, '}');
    return 0;
}

struct export_audit {
    struct log_entry e;
};

static int export_audit_unit(struct rp_store_conn *c, void *vctx, struct rp_error *err)
{
    struct export_audit *ea = vctx;
    struct rp_arena a;
    int rc;

    rp_arena_init(&a);
    rc = log_entry(c, &ea->e, &a, err);
    rp_arena_release(&a);
    return rc;
}

int rp_records_subject_export(struct rp_records *rs, const struct rp_principal *p,
                              const char *contact_id, const char *request_id, struct rp_arena *a,
                              struct rp_buf *out, struct rp_error *err)
{
    struct rp_meta *m = rp_meta_acquire(rs->meta);
    const struct rp_object *contact = rp_meta_object(m, "contact");
    struct rp_store_conn *c = NULL;
    struct history_ctx h = {.out = out};
    struct export_audit ea;
    struct rp_row row;
    struct rp_sql q;
    int64_t now = rp_clock_now_ms(rs->clock);
    size_t nrecords = 1, ngroups = 0;
    bool in_txn = false;
    int rc;

    if ((rc = rp_policy_check(p, NULL, RP_ACT_PRIVACY, err)) < 0)
        goto out;
    if (!contact) {
        rc = rp_error_set(err, RP_EINTERNAL, "the contact object is missing");
        goto out;
    }
    if (!rp_uuid_is_valid(contact_id, strlen(contact_id))) {
        rc = not_found(contact_id, err);
        goto out;
    }
    c = rp_store_reader_acquire(rs->store);
    /* One read transaction: the export is one snapshot of the person. */
    if ((rc = txn(c, "BEGIN", a, err)) < 0)
        goto out;
    in_txn = true;
    /* A soft-deleted contact is still held, so it is still exported. */
    if ((rc = rp_records_fetch(c, m, NULL, contact, contact_id, a, &row, err)) < 0)
        goto out;
    rp_records_compute_formulas(c, m, &row, 1, now, a);
    rp_buf_adds(out, "{\"subject\":{\"object\":\"contact\",\"id\":");
    rp_buf_add_json_str(out, contact_id, strlen(contact_id));
    rp_buf_adds(out, "},\"generated_at\":");
    struct rp_value gen = rp_value_typed_int(RP_V_DATETIME, now);
    rp_value_to_json(out, &gen);
    rp_buf_adds(out, ",\"contact\":");
    row_json(&row, &privacy_view, a, out);
    rp_buf_adds(out, ",\"related\":[");
    for (size_t i = 0; i < m->nobjects; i++) {
        const struct rp_object *o = &m->objects[i];
        for (size_t k = 0; k < o->nfields; k++) {
            const struct rp_field *f = &o->fields[k];
            struct row_list rows;
            if (!points_at_contact(o, f))
                continue;
            if ((rc = read_rows(c, m, &privacy_view, o, f->name, contact_id, a, &rows, err)) < 0)
                goto out;
            if (rows.n == 0)
                continue;
            rp_buf_adds(out, ngroups++ ? ",{\"object\":" : "{\"object\":");
            rp_buf_add_json_str(out, o->name, strlen(o->name));
            rp_buf_adds(out, ",\"field\":");
            rp_buf_add_json_str(out, f->name, strlen(f->name));
            rp_buf_adds(out, ",\"records\":[");
            rp_records_compute_formulas(c, m, rows.rows, rows.n, now, a);
            for (size_t r = 0; r < rows.n; r++) {
                if (r)
                    rp_buf_addc(out, ',');
                row_json(&rows.rows[r], &privacy_view, a, out);
            }
            rp_buf_adds(out, "]}");
            nrecords += rows.n;
        }
    }
    rp_buf_adds(out, "],\"history\":[");
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT id, at, actor, action, changes, request_id FROM rp_audit"
                   " WHERE object = 'contact' AND record_id = ");
    rp_sql_param(&q, rp_value_cstr(contact_id));
    rp_sql_add(&q, " ORDER BY id");
    if ((rc = rp_store_query(c, &q, history_row, &h, err)) < 0)
        goto out;
    rp_buf_adds(out, "]}");
    if (rp_buf_error(out)) {
        rc = rp_error_set(err, RP_ETOOBIG, "the export of contact \"%s\" is larger than a response",
                          contact_id);
        goto out;
    }
    if ((rc = txn(c, "COMMIT", a, err)) < 0)
        goto out;
    in_txn = false;
    rp_store_reader_release(rs->store, c);
    c = NULL;

    /* An export that cannot be audited is not handed out. */
    ea.e = (struct log_entry){.p = p,
                              .object = "contact",
                              .record_id = contact_id,
                              .action = "subject_export",
                              .changes = rp_arena_sprintf(a, "{\"records\":%zu}", nrecords),
                              .request_id = request_id,
                              .now = now};
    rc = rp_store_write(rs->store, export_audit_unit, &ea, err);
out:
    if (in_txn) {
        struct rp_error ignore;
        rp_error_init(&ignore, a);
        txn(c, "ROLLBACK", a, &ignore);
    }
    if (c)
        rp_store_reader_release(rs->store, c);
    rp_meta_release(m);
    return rc;
}

/* ---- erasure ---- */

/*
 * What erasure writes into field f of object o: *to gets the replacement; false when the field
 * keeps its value. Names and sensitive fields are personal data; consent evidence (form wording,
 * message ids, addresses) is too, while the entry itself stays as the legal record.
 */
static bool erased_value(const struct rp_object *o, const struct rp_field *f, bool subject,
                         struct rp_value *to)
{
    bool erase = f->sensitive && !f->system && f->type != RP_F_FORMULA;

    if (subject && strcmp(f->name, "first_name") == 0)
        erase = true;
    if (subject && strcmp(f->name, "last_name") == 0) {
        *to = rp_value_cstr(RP_PRIVACY_ERASED);
        return true;
    }
    if (strcmp(o->name, "consent") == 0 && strcmp(f->name, "evidence") == 0)
        erase = true;
    if (!erase)
        return false;
    *to = f->required && f->vtype == RP_V_TEXT ? rp_value_cstr(RP_PRIVACY_ERASED) : rp_value_null();
    return true;
}

struct erase_ctx {
    struct rp_records *rs;
    const struct rp_meta *m;
    const struct rp_principal *p;
    const char *contact_id, *request_id;
    int64_t now;
    struct rp_arena *arena;
    /* outcome */
    size_t records, fields;
};

static bool value_same(const struct rp_value *a, const struct rp_value *b)
{
    return rp_value_equal(a, b) || (a->type == RP_V_NULL && b->type == RP_V_NULL);
}

struct changes_row {
    struct rp_arena *a;
    int64_t *ids;
    char **texts;
    size_t n, cap;
};

static int changes_row(void *vctx, const struct rp_value *cols, size_t ncols)
{
    struct changes_row *cr = vctx;
    if (ncols < 2 || cols[0].type != RP_V_INT || cols[1].type != RP_V_TEXT)
        return 0;
    if (cr->n == cr->cap) {
        size_t ncap = cr->cap ? cr->cap * 2 : 16;
        int64_t *ids = rp_arena_calloc(cr->a, ncap, sizeof(*ids));
        char **texts = rp_arena_calloc(cr->a, ncap, sizeof(*texts));
        if (cr->n) {
            memcpy(ids, cr->ids, cr->n * sizeof(*ids));
            memcpy(texts, cr->texts, cr->n * sizeof(*texts));
        }
        cr->ids = ids;
        cr->texts = texts;
        cr->cap = ncap;
    }
    cr->ids[cr->n] = cols[0].u.i;
    cr->texts[cr->n++] = rp_arena_strndup(cr->a, cols[1].u.s.p, cols[1].u.s.len);
    return 0;
}

/*
 * Replaces the values of the erased fields in earlier entries of table (rp_audit or rp_change)
 * about one record: {"email":["a@x","b@x"]} becomes {"email":["[erased]","[erased]"]}. The
 * entries themselves stay, so the log still says who changed what and when. table and key are
 * constants of this file. rp_change has no index on (object, record_id): this scans it, which
 * an erasure (rare, admin-only) can afford.
 */
static int redact_log(struct rp_store_conn *c, const char *table, const char *key,
                      const struct rp_object *o, const char *id, const bool *erased,
                      struct rp_arena *a, struct rp_error *err)
{
    struct changes_row cr = {.a = a};
    struct rp_sql q;
    int rc;

    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_addf(&q, "SELECT %s, changes FROM %s WHERE object = ", key, table);
    rp_sql_param(&q, rp_value_cstr(o->name));
    rp_sql_add(&q, " AND record_id = ");
    rp_sql_param(&q, rp_value_cstr(id));
    if ((rc = rp_store_query(c, &q, changes_row, &cr, err)) < 0)
        return rc;
    for (size_t i = 0; i < cr.n; i++) {
        json_t *j = rp_json_loads(cr.texts[i], 0, NULL);
        bool changed = false;
        char *text;
        if (!json_is_object(j)) {
            json_decref(j);
            continue;
        }
        for (size_t k = 0; k < o->nfields; k++) {
            json_t *v = erased[k] ? json_object_get(j, o->fields[k].name) : NULL;
            size_t idx;
            json_t *e;
            json_array_foreach(v, idx, e)
            {
                if (json_is_null(e) ||
                    (json_is_string(e) && strcmp(json_string_value(e), RP_PRIVACY_ERASED) == 0))
                    continue;
                json_array_set_new(v, idx, json_string(RP_PRIVACY_ERASED));
                changed = true;
            }
        }
        text = changed ? rp_json_dumps(j, JSON_COMPACT, NULL) : NULL;
        json_decref(j);
        if (!text)
            continue;
        rp_sql_init(&q, a, rp_store_conn_dialect(c));
        rp_sql_addf(&q, "UPDATE %s SET changes = ", table);
        rp_sql_param(&q, rp_value_cstr(rp_arena_strdup(a, text)));
        free(text);
        rp_sql_addf(&q, " WHERE %s = ", key);
        rp_sql_param(&q, rp_value_int(cr.ids[i]));
        if ((rc = rp_store_exec(c, &q, NULL, err)) < 0)
            return rc;
    }
    return 0;
}

/*
 * Forgets what other modules derived from a record's values (dedup's match keys and flagged
 * pairs; the values a merge kept for its undo), which the write path would otherwise keep in
 * step: erasure and purges write rows directly.
 */
static int forget_derived(struct rp_store_conn *c, const struct rp_object *o, const char *id,
                          struct rp_arena *arena, struct rp_error *err)
{
    struct rp_sql q;
    int rc;

    rp_sql_init(&q, arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "DELETE FROM rp_match_key WHERE object = ");
    rp_sql_param(&q, rp_value_cstr(o->name));
    rp_sql_add(&q, " AND record_id = ");
    rp_sql_param(&q, rp_value_cstr(id));
    if ((rc = rp_store_exec(c, &q, NULL, err)) < 0)
        return rc;
    rp_sql_init(&q, arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "DELETE FROM rp_duplicate_flag WHERE object = ");
    rp_sql_param(&q, rp_value_cstr(o->name));
    rp_sql_add(&q, " AND (record_id = ");
    rp_sql_param(&q, rp_value_cstr(id));
    rp_sql_add(&q, " OR duplicate_id = ");
    rp_sql_param(&q, rp_value_cstr(id));
    rp_sql_add(&q, ")");
    if ((rc = rp_store_exec(c, &q, NULL, err)) < 0)
        return rc;
    rp_sql_init(&q, arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "UPDATE rp_merge SET master_before = '{}', master_after = '{}' WHERE object = ");
    rp_sql_param(&q, rp_value_cstr(o->name));
    rp_sql_add(&q, " AND (master_id = ");
    rp_sql_param(&q, rp_value_cstr(id));
    rp_sql_add(&q, " OR duplicate_id = ");
    rp_sql_param(&q, rp_value_cstr(id));
    rp_sql_add(&q, ")");
    return rp_store_exec(c, &q, NULL, err);
}

/* Erases one row of o; subject marks the contact itself. */
static int erase_row(struct rp_store_conn *c, struct erase_ctx *ec, const struct rp_object *o,
                     const struct rp_row *row, bool subject, struct rp_error *err)
{
    bool *erased = rp_arena_calloc(ec->arena, o->nfields, sizeof(*erased));
    struct rp_value *to = rp_arena_calloc(ec->arena, o->nfields, sizeof(*to));
    const char *id = row->values[0].type == RP_V_TEXT ? row->values[0].u.s.p : "";
    struct rp_buf names;
    struct rp_sql q;
    size_t nchanged = 0;
    int rc;

    rp_buf_init(&names, ec->arena, RP_LIMIT_STRING_BYTES);
    rp_buf_adds(&names, "{\"erased\":[");
    rp_sql_init(&q, ec->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "UPDATE ");
    rp_sql_ident(&q, o->name);
    rp_sql_add(&q, " SET \"version\" = \"version\" + 1, \"updated_at\" = ");
    rp_sql_param(&q, rp_value_int(ec->now));
    rp_sql_add(&q, ", \"updated_by\" = ");
    rp_sql_param(&q, rp_value_cstr(ec->p->user_id));
    for (size_t i = 0; i < o->nfields; i++) {
        const struct rp_field *f = &o->fields[i];
        if (!erased_value(o, f, subject, &to[i]))
            continue;
        erased[i] = true;
        if (value_same(&row->values[i], &to[i]))
            continue;
        rp_buf_adds(&names, nchanged++ ? "," : "");
        rp_buf_add_json_str(&names, f->name, strlen(f->name));
        rp_sql_add(&q, ", ");
        rp_sql_ident(&q, f->name);
        rp_sql_add(&q, " = ");
        rp_sql_param(&q, to[i]);
    }
    rp_buf_adds(&names, "]}");
    rp_sql_add(&q, " WHERE \"id\" = ");
    rp_sql_param(&q, rp_value_cstr(id));
    if (nchanged) {
        struct log_entry e = {.p = ec->p,
                              .object = o->name,
                              .record_id = id,
                              .action = "erase",
                              .changes = names.data,
                              .request_id = ec->request_id,
                              .now = ec->now,
                              .change_event = true};
        if ((rc = rp_store_exec(c, &q, NULL, err)) < 0 ||
            (rc = log_entry(c, &e, ec->arena, err)) < 0)
            return rc;
        ec->records++;
        ec->fields += nchanged;
    }
    if ((rc = redact_log(c, "rp_audit", "id", o, id, erased, ec->arena, err)) < 0 ||
        (rc = redact_log(c, "rp_change", "seq", o, id, erased, ec->arena, err)) < 0 ||
        (rc = forget_derived(c, o, id, ec->arena, err)) < 0)
        return rc;
    return 0;
}

/*
 * The erasure unit. It writes rows directly instead of going through rp_records_prepare/apply
 * on purpose: this is system-level anonymisation, not an edit. The ledger's append-only rule,
 * validation rules (a "[erased]" last name need not pass them) and field edit permissions are
 * for users changing records; here the admin check is the authorisation and the changes are
 * fixed by the metadata. Versions, updated_at, audit entries and change events are still written
 * so caches, ETags and downstream consumers see the change.
 */
static int erase_unit(struct rp_store_conn *c, void *vctx, struct rp_error *err)
{
    struct erase_ctx *ec = vctx;
    const struct rp_object *contact = rp_meta_object(ec->m, "contact");
    struct rp_row row;
    int rc;

    ec->records = 0;
    ec->fields = 0;
    if ((rc = rp_records_fetch(c, ec->m, NULL, contact, ec->contact_id, ec->arena, &row, err)) <
            0 ||
        (rc = erase_row(c, ec, contact, &row, true, err)) < 0)
        return rc;
    for (size_t i = 0; i < ec->m->nobjects; i++) {
        const struct rp_object *o = &ec->m->objects[i];
        for (size_t k = 0; k < o->nfields; k++) {
            const struct rp_field *f = &o->fields[k];
            struct row_list rows;
            if (!points_at_contact(o, f))
                continue;
            if ((rc = read_rows(c, ec->m, &privacy_view, o, f->name, ec->contact_id, ec->arena,
                                &rows, err)) < 0)
                return rc;
            for (size_t r = 0; r < rows.n; r++)
                if ((rc = erase_row(c, ec, o, &rows.rows[r], false, err)) < 0)
                    return rc;
        }
    }
    return 0;
}

int rp_records_subject_erase(struct rp_records *rs, const struct rp_principal *p,
                             const char *contact_id, const char *request_id, struct rp_arena *a,
                             struct rp_buf *out, struct rp_error *err)
{
    struct rp_meta *m = rp_meta_acquire(rs->meta);
    struct erase_ctx ec = {.rs = rs,
                           .m = m,
                           .p = p,
                           .contact_id = contact_id,
                           .request_id = request_id,
                           .now = rp_clock_now_ms(rs->clock),
                           .arena = a};
    int rc;

    if ((rc = rp_policy_check(p, NULL, RP_ACT_PRIVACY, err)) < 0)
        goto out;
    if (!rp_meta_object(m, "contact")) {
        rc = rp_error_set(err, RP_EINTERNAL, "the contact object is missing");
        goto out;
    }
    if (!rp_uuid_is_valid(contact_id, strlen(contact_id))) {
        rc = not_found(contact_id, err);
        goto out;
    }
    if ((rc = rp_store_write(rs->store, erase_unit, &ec, err)) < 0)
        goto out;
    rp_buf_adds(out, "{\"contact_id\":");
    rp_buf_add_json_str(out, contact_id, strlen(contact_id));
    rp_buf_addf(out, ",\"records\":%zu,\"fields\":%zu}", ec.records, ec.fields);
out:
    rp_meta_release(m);
    return rc;
}

/* ---- retention ---- */

#define RETENTION_PREFIX   "retention."
#define RETENTION_BATCH    200
#define RETENTION_MAX_DAYS (100 * 366)
#define AUDIT_PURGE_BATCH  5000
#define DAY_MS             (INT64_C(86400) * 1000)

static int retention_check(const struct rp_meta *m, const char *object, int64_t days,
                           const char *action, struct rp_error *err)
{
    bool audit = strcmp(object, RP_RETENTION_AUDIT) == 0;

    if (!audit && !rp_meta_object(m, object))
        return rp_error_set(err, RP_ENOTFOUND, "object \"%s\" does not exist", object);
    if (days < 0 || days > RETENTION_MAX_DAYS)
        return rp_error_field(err, RP_EVALIDATION, "days", "invalid",
                              "\"days\" must be 1-%d, or 0 to remove the policy",
                              RETENTION_MAX_DAYS);
    if (days > 0 && !audit &&
        (!action || (strcmp(action, "purge") != 0 && strcmp(action, "anonymise") != 0)))
        return rp_error_field(err, RP_EVALIDATION, "action", "invalid",
                              "\"action\" must be \"purge\" or \"anonymise\"");
    if (days > 0 && !audit && rp_meta_object(m, object)->append_only &&
        strcmp(action, "purge") == 0)
        return rp_error_field(err, RP_EVALIDATION, "action", "append_only",
                              "%s records are a ledger and are never purged", object);
    return 0;
}

struct retention_put {
    const struct rp_principal *p;
    const char *object, *action, *request_id;
    int64_t days, now;
    struct rp_arena *arena;
};

static int retention_put_unit(struct rp_store_conn *c, void *vctx, struct rp_error *err)
{
    struct retention_put *x = vctx;
    const char *key = rp_arena_sprintf(x->arena, RETENTION_PREFIX "%s", x->object);
    struct log_entry e = {.p = x->p,
                          .object = NULL,
                          .action = "retention_policy",
                          .request_id = x->request_id,
                          .now = x->now};
    struct rp_sql q;
    int rc;

    rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
    if (x->days > 0) {
        rp_sql_add(&q, "INSERT INTO rp_setting (key, value) VALUES (");
        rp_sql_param(&q, rp_value_cstr(key));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_cstr(rp_arena_sprintf(x->arena, "%lld %s", (long long)x->days,
                                                        x->action ? x->action : "purge")));
        rp_sql_add(&q, ") ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    } else {
        rp_sql_add(&q, "DELETE FROM rp_setting WHERE key = ");
        rp_sql_param(&q, rp_value_cstr(key));
    }
    if ((rc = rp_store_exec(c, &q, NULL, err)) < 0)
        return rc;
    e.changes =
        rp_arena_sprintf(x->arena, "{\"object\":\"%s\",\"days\":%lld,\"action\":\"%s\"}", x->object,
                         (long long)x->days, x->days > 0 && x->action ? x->action : "none");
    return log_entry(c, &e, x->arena, err);
}

int rp_records_retention_put(struct rp_records *rs, const struct rp_principal *p,
                             const char *object, int64_t days, const char *action,
                             const char *request_id, struct rp_arena *arena, struct rp_error *err)
{
    struct rp_meta *m = rp_meta_acquire(rs->meta);
    struct retention_put x = {.p = p,
                              .object = object,
                              .action = strcmp(object, RP_RETENTION_AUDIT) == 0 ? "purge" : action,
                              .request_id = request_id,
                              .days = days,
                              .now = rp_clock_now_ms(rs->clock),
                              .arena = arena};
    int rc;

    if ((rc = rp_policy_check(p, NULL, RP_ACT_PRIVACY, err)) == 0 &&
        (rc = retention_check(m, object, days, action, err)) == 0)
        rc = rp_store_write(rs->store, retention_put_unit, &x, err);
    rp_meta_release(m);
    return rc;
}

struct retention_policy {
    char object[RP_LIMIT_NAME_BYTES + 1];
    int64_t days;
    bool anonymise;
};

struct policy_list {
    struct retention_policy *items;
    size_t n;
};

static int policy_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct policy_list *l = ctx;
    struct retention_policy *r;
    long long days;
    char action[16];
    size_t plen = strlen(RETENTION_PREFIX);

    if (n < 2 || cols[0].type != RP_V_TEXT || cols[1].type != RP_V_TEXT || l->n >= 256 ||
        cols[0].u.s.len <= plen || cols[0].u.s.len - plen > RP_LIMIT_NAME_BYTES ||
        sscanf(cols[1].u.s.p, "%lld %15s", &days, action) != 2)
        return 0;
    r = &l->items[l->n++];
    memcpy(r->object, cols[0].u.s.p + plen, cols[0].u.s.len - plen);
    r->object[cols[0].u.s.len - plen] = '\0';
    r->days = days;
    r->anonymise = strcmp(action, "anonymise") == 0;
    return 0;
}

static int read_policies(struct rp_records *rs, struct rp_arena *a, struct policy_list *l,
                         struct rp_error *err)
{
    struct rp_store_conn *c = rp_store_reader_acquire(rs->store);
    struct rp_sql q;
    int rc;

    l->items = rp_arena_calloc(a, 256, sizeof(*l->items));
    l->n = 0;
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT key, value FROM rp_setting WHERE key LIKE 'retention.%' ORDER BY key");
    rc = rp_store_query(c, &q, policy_row, l, err);
    rp_store_reader_release(rs->store, c);
    return rc;
}

int rp_records_retention_list(struct rp_records *rs, const struct rp_principal *p,
                              struct rp_arena *arena, struct rp_buf *out, struct rp_error *err)
{
    struct policy_list l;
    int rc;

    if ((rc = rp_policy_check(p, NULL, RP_ACT_PRIVACY, err)) < 0 ||
        (rc = read_policies(rs, arena, &l, err)) < 0)
        return rc;
    rp_buf_adds(out, "{\"data\":[");
    for (size_t i = 0; i < l.n; i++)
        rp_buf_addf(out, "%s{\"object\":\"%s\",\"days\":%lld,\"action\":\"%s\"}", i ? "," : "",
                    l.items[i].object, (long long)l.items[i].days,
                    l.items[i].anonymise ? "anonymise" : "purge");
    rp_buf_adds(out, "]}");
    return 0;
}

/* One batch of old records of one object, in rowid order after `from`. */
struct retention_batch {
    struct erase_ctx *ec;
    const struct rp_object *o;
    bool anonymise;
    int64_t cutoff, from;
    /* outcome */
    int64_t next;
    size_t rows, changed;
};

static int retention_unit(struct rp_store_conn *c, void *vctx, struct rp_error *err)
{
    struct retention_batch *x = vctx;
    const struct rp_object *o = x->o;
    struct row_list rows = {0};
    bool *all = rp_arena_calloc(x->ec->arena, o->nfields, sizeof(bool));
    struct rp_sql q;
    int rc;

    x->next = x->from;
    x->rows = x->changed = 0;
    x->ec->records = 0;
    rows.o = o;
    rows.arena = x->ec->arena;
    rp_sql_init(&q, x->ec->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT ");
    rp_records_select_columns(o, &q);
    rp_sql_addf(&q, " FROM \"%s\" AS \"t\" WHERE \"t\".\"updated_at\" < ", o->name);
    rp_sql_param(&q, rp_value_int(x->cutoff));
    rp_sql_add(&q, " AND \"t\".rowid > ");
    rp_sql_param(&q, rp_value_int(x->from));
    rp_sql_add(&q, " ORDER BY \"t\".rowid LIMIT ");
    rp_sql_param(&q, rp_value_int(RETENTION_BATCH));
    if ((rc = rp_store_query(c, &q, collect_row, &rows, err)) < 0)
        return rc;
    for (size_t i = 0; i < o->nfields; i++)
        all[i] = !o->fields[i].system;
    for (size_t i = 0; i < rows.n; i++) {
        const struct rp_row *row = &rows.rows[i];
        const char *id = row->values[0].type == RP_V_TEXT ? row->values[0].u.s.p : "";
        x->next = row->rowid;
        x->rows++;
        if (x->anonymise) {
            if ((rc = erase_row(c, x->ec, o, row, strcmp(o->name, "contact") == 0, err)) < 0)
                return rc;
            continue;
        }
        struct log_entry e = {.p = x->ec->p,
                              .object = o->name,
                              .record_id = id,
                              .action = "purge",
                              .changes = "{}",
                              .now = x->ec->now,
                              .change_event = true,
                              .change_op = "purge"};
        rp_sql_init(&q, x->ec->arena, rp_store_conn_dialect(c));
        rp_sql_addf(&q, "DELETE FROM \"%s\" WHERE \"id\" = ", o->name);
        rp_sql_param(&q, rp_value_cstr(id));
        if ((rc = rp_store_exec(c, &q, NULL, err)) < 0)
            return rc;
        rp_sql_init(&q, x->ec->arena, rp_store_conn_dialect(c));
        rp_sql_add(&q, "DELETE FROM rp_record_share WHERE object = ");
        rp_sql_param(&q, rp_value_cstr(o->name));
        rp_sql_add(&q, " AND record_id = ");
        rp_sql_param(&q, rp_value_cstr(id));
        if ((rc = rp_store_exec(c, &q, NULL, err)) < 0 ||
            (rc = redact_log(c, "rp_audit", "id", o, id, all, x->ec->arena, err)) < 0 ||
            (rc = redact_log(c, "rp_change", "seq", o, id, all, x->ec->arena, err)) < 0 ||
            (rc = forget_derived(c, o, id, x->ec->arena, err)) < 0 ||
            (rc = log_entry(c, &e, x->ec->arena, err)) < 0)
            return rc;
        x->changed++;
    }
    if (x->anonymise)
        x->changed = x->ec->records;
    return 0;
}

struct audit_purge {
    int64_t cutoff;
    struct rp_arena *arena;
    int64_t deleted; /* outcome */
};

static int audit_purge_unit(struct rp_store_conn *c, void *vctx, struct rp_error *err)
{
    struct audit_purge *x = vctx;
    struct rp_sql q;

    /* The one deletion the audit log allows: entries older than its retention. */
    rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "DELETE FROM rp_audit WHERE id IN (SELECT id FROM rp_audit WHERE at < ");
    rp_sql_param(&q, rp_value_int(x->cutoff));
    rp_sql_add(&q, " ORDER BY id LIMIT ");
    rp_sql_param(&q, rp_value_int(AUDIT_PURGE_BATCH));
    rp_sql_add(&q, ")");
    return rp_store_exec(c, &q, &x->deleted, err);
}

int rp_records_retention_run(struct rp_records *rs, const struct rp_principal *p,
                             struct rp_arena *a, struct rp_buf *out, struct rp_error *err)
{
    struct rp_meta *m = rp_meta_acquire(rs->meta);
    int64_t now = rp_clock_now_ms(rs->clock);
    struct policy_list l;
    bool first = true;
    int rc;

    if ((rc = rp_policy_check(p, NULL, RP_ACT_PRIVACY, err)) < 0 ||
        (rc = read_policies(rs, a, &l, err)) < 0)
        goto out;
    rp_buf_addf(out, "{\"objects\":[");
    for (size_t i = 0; i < l.n; i++) {
        const struct retention_policy *r = &l.items[i];
        int64_t cutoff = now - r->days * DAY_MS;
        if (strcmp(r->object, RP_RETENTION_AUDIT) == 0) {
            struct audit_purge ap = {.cutoff = cutoff, .arena = a};
            int64_t total = 0;
            do {
                if ((rc = rp_store_write(rs->store, audit_purge_unit, &ap, err)) < 0)
                    goto out;
                total += ap.deleted;
            } while (ap.deleted == AUDIT_PURGE_BATCH);
            rp_buf_addf(out, "%s{\"object\":\"audit\",\"action\":\"purge\",\"records\":%lld}",
                        first ? "" : ",", (long long)total);
            first = false;
            continue;
        }
        const struct rp_object *o = rp_meta_object(m, r->object);
        struct erase_ctx ec = {.rs = rs, .m = m, .p = p, .now = now};
        struct retention_batch x = {.ec = &ec, .o = o, .anonymise = r->anonymise, .cutoff = cutoff};
        size_t changed = 0;
        if (!o)
            continue; /* the object was removed from the metadata */
        do {
            struct rp_arena scratch;
            rp_arena_init(&scratch);
            ec.arena = &scratch;
            rc = rp_store_write(rs->store, retention_unit, &x, err);
            rp_arena_release(&scratch);
            if (rc < 0)
                goto out;
            changed += x.changed;
            x.from = x.next;
        } while (x.rows == RETENTION_BATCH);
        rp_buf_addf(out, "%s{\"object\":\"%s\",\"action\":\"%s\",\"records\":%zu}",
                    first ? "" : ",", o->name, r->anonymise ? "anonymise" : "purge", changed);
        first = false;
    }
    rp_buf_adds(out, "]}");
out:
    rp_meta_release(m);
    return rc;
}
