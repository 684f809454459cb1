/*
 * E-signature (sales.h): single-use signing links for a quote, and the signing itself, which
 * records who signed, when, from where and the SHA-256 of the exact PDF, and makes the quote
 * signed in one transaction with everything that follows from it (contract, order, won
 * opportunity: sales_order.c).
 */
#include "sales/sales_int.h"

#include "base/arena.h"
#include "base/json.h"
#include "base/sql.h"
#include "base/time.h"
#include "base/uuid.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS        (INT64_C(86400) * 1000)
#define TOKEN_BYTES   32
#define DEFAULT_DAYS  30
#define MAX_DAYS      90
#define NAME_MAX_LEN  200
#define PDF_MAX_BYTES (16 << 20)

static void token_hash(const char *token, char out[2 * crypto_generichash_BYTES + 1])
{
    unsigned char h[crypto_generichash_BYTES];

    crypto_generichash(h, sizeof(h), (const unsigned char *)token, strlen(token), NULL, 0);
    sodium_bin2hex(out, 2 * crypto_generichash_BYTES + 1, h, sizeof(h));
}

static bool token_is_valid(const char *t)
{
    size_t n = t ? strlen(t) : 0;

    if (n != 2 * TOKEN_BYTES)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
            return false;
    return true;
}

static json_t *datetime_json(struct rp_arena *arena, int64_t ms)
{
    struct rp_buf b;

    rp_buf_init(&b, arena, 48);
    rp_buf_addc(&b, '"');
    rp_time_format_datetime(&b, ms);
    rp_buf_addc(&b, '"');
    return rp_json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
}

static int write_as(struct rp_sales *s, struct rp_store_conn *c, const struct rp_principal *p,
                    const char *object, const char *id, json_t *data, const char *cause,
                    struct rp_arena *arena, struct rp_error *err)
{
    struct rp_error sub;
    struct rp_write w = {.op = RP_WRITE_UPDATE, .id = id, .data = data, .if_match = -1};
    struct rp_write_request wr = {.principal = p,
                                  .object = object,
                                  .writes = &w,
                                  .nwrites = 1,
                                  .cause = cause,
                                  .arena = arena,
                                  .err = &sub};
    int rc;

    rp_error_init(&sub, arena);
    if ((rc = rp_records_write_in(s->records, c, &wr)) < 0)
        rp_error_copy(err, &sub);
    return rc;
}

static json_t *read_quote(struct rp_sales *s, struct rp_store_conn *c, const struct rp_principal *p,
                          const char *id, struct rp_arena *arena, struct rp_error *err)
{
    struct rp_buf b;
    json_t *q;

    rp_buf_init(&b, arena, 1 << 20);
    if (rp_records_read_in(s->records, c, p, "quote", id, false, arena, &b, err) < 0)
        return NULL;
    if (!(q = rp_json_loadb(b.data, b.len, 0, NULL)))
        rp_error_set(err, RP_EINTERNAL, "the quote cannot be read");
    return q;
}

/* ---- the link ---- */

struct link_unit {
    struct rp_sales *s;
    const struct rp_principal *p;
    const char *quote_id, *signer_name, *signer_email;
    int64_t now, expires_at;
    struct rp_arena *arena;
    struct rp_error *err;
    char id[RP_UUID_STRLEN + 1], token[2 * TOKEN_BYTES + 1];
};

static int link_run(struct rp_store_conn *c, void *ctx, struct rp_error *unit_err)
{
    struct link_unit *x = ctx;
    char hash[2 * crypto_generichash_BYTES + 1];
    unsigned char raw[TOKEN_BYTES];
    const char *status;
    json_t *quote, *data;
    struct rp_sql q;
    int rc;

    (void)unit_err;
    rp_error_clear(x->err);
    if (!(quote = read_quote(x->s, c, x->p, x->quote_id, x->arena, x->err)))
        return x->err->code;
    status = json_string_value(json_object_get(quote, "status"));
    if (!status || (strcmp(status, "approved") && strcmp(status, "sent"))) {
        rc = rp_error_set(x->err, RP_ECONFLICT,
                          "a quote is sent for signature once approved (it is %s)",
                          status ? status : "without a status");
        json_decref(quote);
        return rc;
    }
    /* Sending is a write of the caller's: it needs edit access to the quote. */
    data = json_pack("{ssso}", "status", "sent", "sent_at", datetime_json(x->arena, x->now));
    if (x->signer_name)
        json_object_set_new(data, "signer_name", json_string(x->signer_name));
    if (x->signer_email)
        json_object_set_new(data, "signer_email", json_string(x->signer_email));
    rc = write_as(x->s, c, x->p, "quote", x->quote_id, data, NULL, x->arena, x->err);
    json_decref(data);
    json_decref(quote);
    if (rc < 0)
        return rc;
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(x->token, sizeof(x->token), raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
    token_hash(x->token, hash);
    rp_uuid_v7(x->id, x->now);
    {
        const struct rp_value row[] = {rp_value_cstr(x->id), rp_value_cstr(x->quote_id),
                                       rp_value_cstr(hash),  rp_value_cstr(x->p->user_id),
                                       rp_value_int(x->now), rp_value_int(x->expires_at)};
        rp_sql_init(&q, x->arena, RP_SQL_SQLITE);
        rp_sql_add(&q, "INSERT INTO rp_signing (id, quote_id, token_hash, created_by, created_at,"
                       " expires_at) VALUES ");
        rp_sql_param_list(&q, row, sizeof(row) / sizeof(row[0]));
        rc = rp_store_exec(c, &q, NULL, x->err);
    }
    return rc;
}

int rp_sales_signing_link(struct rp_sales *s, const struct rp_principal *p, const char *quote_id,
                          const json_t *options, struct rp_arena *arena, struct rp_buf *out,
                          struct rp_error *err)
{
    struct link_unit x = {.s = s,
                          .p = p,
                          .quote_id = quote_id,
                          .arena = arena,
                          .err = err,
                          .now = rp_clock_now_ms(s->clock)};
    const json_t *days = json_object_get(options, "expires_in_days");
    struct rp_error store_err;
    const char *key;
    json_t *v;
    int rc;

    json_object_foreach((json_t *)options, key, v)
    {
        if (strcmp(key, "signer_name") && strcmp(key, "signer_email") &&
            strcmp(key, "expires_in_days"))
            return rp_error_field(err, RP_EINVAL, key, "unknown_key",
                                  "unknown option \"%s\"; expected signer_name, signer_email, "
                                  "expires_in_days",
                                  key);
    }
    if (options && !json_is_object(options))
        return rp_error_set(err, RP_EINVAL, "the body is an object of options");
    if (days && (!json_is_integer(days) || json_integer_value(days) < 1 ||
                 json_integer_value(days) > MAX_DAYS))
        return rp_error_field(err, RP_EINVAL, "expires_in_days", "invalid",
                              "\"expires_in_days\" is a whole number from 1 to %d", MAX_DAYS);
    x.signer_name = json_string_value(json_object_get(options, "signer_name"));
    x.signer_email = json_string_value(json_object_get(options, "signer_email"));
    x.expires_at = x.now + (days ? json_integer_value(days) : DEFAULT_DAYS) * DAY_MS;
    rp_error_init(&store_err, arena);
    rc = rp_store_write(s->store, link_run, &x, &store_err);
    if (rc < 0) {
        rp_error_copy(err, &store_err);
        return err->code;
    }
    rp_buf_addf(out, "{\"id\":\"%s\",\"token\":\"%s\",\"url\":\"/sign/%s\",\"expires_at\":", x.id,
                x.token, x.token);
    {
        struct rp_value at = rp_value_typed_int(RP_V_DATETIME, x.expires_at);
        rp_value_to_json(out, &at);
    }
    rp_buf_addc(out, '}');
    sodium_memzero(x.token, sizeof(x.token));
    return 0;
}

/* ---- what the signer sees ---- */

struct signing_row {
    char id[40], quote_id[40], state[16], signer_name[NAME_MAX_LEN * 4 + 1];
    int64_t expires_at, signed_at;
    bool found;
};

static int signing_row_fn(void *ctx, const struct rp_value *cols, size_t n)
{
    struct signing_row *r = ctx;

    if (n < 5)
        return 1;
    snprintf(r->id, sizeof(r->id), "%.*s", (int)cols[0].u.s.len, cols[0].u.s.p);
    snprintf(r->quote_id, sizeof(r->quote_id), "%.*s", (int)cols[1].u.s.len, cols[1].u.s.p);
    r->expires_at = cols[2].u.i;
    r->signed_at = cols[3].type == RP_V_INT ? cols[3].u.i : 0;
    if (cols[4].type == RP_V_TEXT)
        snprintf(r->signer_name, sizeof(r->signer_name), "%.*s", (int)cols[4].u.s.len,
                 cols[4].u.s.p);
    r->found = true;
    return 1;
}

static int find_signing(struct rp_store_conn *c, const char *token, struct rp_arena *arena,
                        struct signing_row *r, struct rp_error *err)
{
    char hash[2 * crypto_generichash_BYTES + 1];
    struct rp_sql q;
    int rc;

    memset(r, 0, sizeof(*r));
    if (!token_is_valid(token))
        return rp_error_set(err, RP_ENOTFOUND, "no such signing link");
    token_hash(token, hash);
    rp_sql_init(&q, arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT id, quote_id, expires_at, signed_at, signer_name FROM rp_signing"
                   " WHERE token_hash = ");
    rp_sql_param(&q, rp_value_cstr(hash));
    if ((rc = rp_store_query(c, &q, signing_row_fn, r, err)) < 0)
        return rc;
    if (!r->found)
        return rp_error_set(err, RP_ENOTFOUND, "no such signing link");
    return 0;
}

static const char *state_of(const struct signing_row *r, int64_t now)
{
    return r->signed_at ? "signed" : now >= r->expires_at ? "expired" : "open";
}

int rp_sales_signing_view(struct rp_sales *s, const char *token, struct rp_arena *arena,
                          json_t **out, struct rp_error *err)
{
    struct rp_store_conn *c = rp_store_reader_acquire(s->store);
    struct signing_row r;
    json_t *quote = NULL, *view;
    int rc;

    *out = NULL;
    if ((rc = find_signing(c, token, arena, &r, err)) == 0)
        quote = read_quote(s, c, &s->internal, r.quote_id, arena, err);
    rp_store_reader_release(s->store, c);
    if (rc < 0 || !quote)
        return rc < 0 ? rc : err->code;
    /* what the signer needs, nothing more: no ids of people, no internal fields */
    {
        static const char *const shown[] = {
            "quote_number",    "name",       "currency", "subtotal",
            "discount_amount", "tax_amount", "total",    "valid_until"};
        view = json_object();
        json_object_set_new(view, "state", json_string(state_of(&r, rp_clock_now_ms(s->clock))));
        for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
            json_t *v = json_object_get(quote, shown[i]);
            json_object_set(view, shown[i], v ? v : json_null());
        }
    }
    json_object_set_new(view, "signer_name",
                        r.signer_name[0] ? json_string(r.signer_name)
                                         : json_incref(json_object_get(quote, "signer_name")));
    json_object_set_new(view, "expires_at", datetime_json(arena, r.expires_at));
    json_object_set_new(view, "signed_at",
                        r.signed_at ? datetime_json(arena, r.signed_at) : json_null());
    json_object_set_new(view, "pdf",
                        json_string(rp_arena_sprintf(arena, "/api/v1/signing/%s/pdf", token)));
    json_decref(quote);
    *out = view;
    return 0;
}

int rp_sales_signing_pdf(struct rp_sales *s, const char *token, struct rp_arena *arena,
                         struct rp_buf *out, struct rp_error *err)
{
    struct rp_store_conn *c = rp_store_reader_acquire(s->store);
    struct signing_row r;
    int rc = find_signing(c, token, arena, &r, err);

    rp_store_reader_release(s->store, c);
    if (rc < 0)
        return rc;
    return rp_sales_quote_pdf(s, &s->internal, r.quote_id, arena, out, err);
}

/* ---- signing ---- */

struct sign_unit {
    struct rp_sales *s;
    const char *token, *name, *address, *seen_sha256;
    const char *sha256;         /* of the PDF rendered for this signing */
    int64_t version;            /* of the quote the PDF was rendered from */
    struct rp_principal signer; /* internal work, named after nobody: the link is the authority */
    int64_t now;
    struct rp_arena *arena;
    struct rp_error *err;
    struct signing_row r;
};

static int sign_run(struct rp_store_conn *c, void *ctx, struct rp_error *unit_err)
{
    struct sign_unit *x = ctx;
    const char *status;
    json_t *quote, *data, *ev;
    struct rp_sql q;
    int64_t changed = 0;
    int rc;

    (void)unit_err;
    rp_error_clear(x->err);
    if ((rc = find_signing(c, x->token, x->arena, &x->r, x->err)) < 0)
        return rc;
    if (x->r.signed_at)
        return rp_error_set(x->err, RP_ECONFLICT, "this quote was signed with this link already");
    if (x->now >= x->r.expires_at)
        return rp_error_set(x->err, RP_ECONFLICT, "this signing link has expired");
    if (!(quote = read_quote(x->s, c, &x->signer, x->r.quote_id, x->arena, x->err)))
        return x->err->code;
    status = json_string_value(json_object_get(quote, "status"));
    if (!status || strcmp(status, "sent") != 0) {
        rc = rp_error_set(x->err, RP_ECONFLICT, "the quote is no longer out for signature (%s)",
                          status ? status : "no status");
        json_decref(quote);
        return rc;
    }
    /* the PDF was rendered from this version: a quote that changed since is not signed blind */
    if (json_integer_value(json_object_get(quote, "version")) != x->version) {
        json_decref(quote);
        return rp_error_set(x->err, RP_ECONFLICT,
                            "the quote changed while it was being signed: open the link again");
    }
    json_decref(quote);

    rp_sql_init(&q, x->arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "UPDATE rp_signing SET signed_at = ");
    rp_sql_param(&q, rp_value_int(x->now));
    rp_sql_add(&q, ", signer_name = ");
    rp_sql_param(&q, rp_value_cstr(x->name));
    rp_sql_add(&q, ", signer_address = ");
    rp_sql_param(&q, rp_value_cstr(x->address));
    rp_sql_add(&q, ", pdf_sha256 = ");
    rp_sql_param(&q, rp_value_cstr(x->sha256));
    rp_sql_add(&q, " WHERE id = ");
    rp_sql_param(&q, rp_value_cstr(x->r.id));
    rp_sql_add(&q, " AND signed_at IS NULL");
    if ((rc = rp_store_exec(c, &q, &changed, x->err)) < 0)
        return rc;
    if (!changed)
        return rp_error_set(x->err, RP_ECONFLICT, "this quote was signed with this link already");
    /* the signature first, then what follows from it (in the change log in that order) */
    ev = json_pack("{ssssssssss}", "quote_id", x->r.quote_id, "signing_id", x->r.id, "signer_name",
                   x->name, "signer_address", x->address, "pdf_sha256", x->sha256);
    rc = rp_records_event_in(c, x->now, "quote.signed", x->r.quote_id, x->signer.user_id, ev,
                             x->arena, x->err);
    json_decref(ev);
    if (rc < 0)
        return rc;
    /* the quote is signed: its hooks make the contract, the order and the won opportunity */
    data = json_pack("{sssoss}", "status", "signed", "signed_at", datetime_json(x->arena, x->now),
                     "signer_name", x->name);
    rc = write_as(x->s, c, &x->signer, "quote", x->r.quote_id, data,
                  rp_arena_sprintf(x->arena, "{\"signing\":\"%s\",\"depth\":0}", x->r.id), x->arena,
                  x->err);
    json_decref(data);
    return rc;
}

/* The version of the quote a signing link points at, as a reader sees it now. */
static int quote_version(struct rp_sales *s, const char *token, struct rp_arena *arena,
                         int64_t *version, struct rp_error *err)
{
    struct rp_store_conn *c = rp_store_reader_acquire(s->store);
    struct signing_row r;
    json_t *quote = NULL;
    int rc;

    if ((rc = find_signing(c, token, arena, &r, err)) == 0 &&
        !(quote = read_quote(s, c, &s->internal, r.quote_id, arena, err)))
        rc = err->code;
    rp_store_reader_release(s->store, c);
    *version = json_integer_value(json_object_get(quote, "version"));
    json_decref(quote);
    return rc;
}

int rp_sales_sign(struct rp_sales *s, const char *token, const json_t *input, const char *address,
                  struct rp_arena *arena, struct rp_buf *out, struct rp_error *err)
{
    struct sign_unit x = {.s = s,
                          .token = token,
                          .address = address ? address : "unknown",
                          .arena = arena,
                          .err = err,
                          .now = rp_clock_now_ms(s->clock)};
    const json_t *accept = json_object_get(input, "accept");
    unsigned char digest[crypto_hash_sha256_BYTES];
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    struct rp_error store_err;
    struct rp_buf pdf;
    const char *key;
    json_t *v;
    int rc;

    if (!json_is_object(input))
        return rp_error_set(err, RP_EINVAL, "the body is {\"name\", \"accept\", \"pdf_sha256\"?}");
    json_object_foreach((json_t *)input, key, v)
    {
        if (strcmp(key, "name") && strcmp(key, "accept") && strcmp(key, "pdf_sha256"))
            return rp_error_field(err, RP_EINVAL, key, "unknown_key",
                                  "unknown key \"%s\"; expected name, accept, pdf_sha256", key);
    }
    x.name = json_string_value(json_object_get(input, "name"));
    if (!x.name || !*x.name || json_string_length(json_object_get(input, "name")) > NAME_MAX_LEN)
        return rp_error_field(err, RP_EVALIDATION, "name", "required",
                              "sign with your full name (at most %d bytes)", NAME_MAX_LEN);
    if (!json_is_true(accept) &&
        !(json_is_string(accept) && (strcmp(json_string_value(accept), "on") == 0 ||
                                     strcmp(json_string_value(accept), "true") == 0)))
        return rp_error_field(err, RP_EVALIDATION, "accept", "required",
                              "signing needs \"accept\": true");
    x.seen_sha256 = json_string_value(json_object_get(input, "pdf_sha256"));
    x.signer.user_id = "e_signature";
    x.signer.username = "e_signature";
    x.signer.display_name = "E-signature";
    x.signer.is_admin = true;

    /* The exact document signed: rendered now, hashed, and bound to the quote's version. */
    if ((rc = quote_version(s, token, arena, &x.version, err)) < 0)
        return rc;
    rp_buf_init(&pdf, arena, PDF_MAX_BYTES);
    if ((rc = rp_sales_signing_pdf(s, token, arena, &pdf, err)) < 0)
        return rc;
    crypto_hash_sha256(digest, (const unsigned char *)pdf.data, pdf.len);
    sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
    x.sha256 = hex;
    if (x.seen_sha256 && strcmp(x.seen_sha256, hex) != 0)
        return rp_error_set(err, RP_ECONFLICT,
                            "the document changed since you read it: read it again before "
                            "signing");

    rp_error_init(&store_err, arena);
    rc = rp_store_write(s->store, sign_run, &x, &store_err);
    if (rc < 0) {
        rp_error_copy(err, &store_err);
        return err->code;
    }
    rp_buf_adds(out, "{\"state\":\"signed\",\"signed_at\":");
    {
        struct rp_value at = rp_value_typed_int(RP_V_DATETIME, x.now);
        rp_value_to_json(out, &at);
    }
    rp_buf_addf(out, ",\"pdf_sha256\":\"%s\"}", hex);
    return 0;
}

/* ---- the record's signing links, for who may read the quote ---- */

static int links_row(void *ctx, const struct rp_value *cols, size_t n)
{
    json_t *data = ctx;
    static const char *const names[] = {"id",        "created_by",  "created_at",     "expires_at",
                                        "signed_at", "signer_name", "signer_address", "pdf_sha256"};
    json_t *row = json_object();

    for (size_t i = 0; i < n && i < sizeof(names) / sizeof(names[0]); i++) {
        json_t *v = cols[i].type == RP_V_TEXT  ? json_stringn(cols[i].u.s.p, cols[i].u.s.len)
                    : cols[i].type == RP_V_INT ? json_integer(cols[i].u.i)
                                               : json_null();
        json_object_set_new(row, names[i], v);
    }
    json_array_append_new(data, row);
    return 0;
}

int rp_sales_signings(struct rp_sales *s, const struct rp_principal *p, const char *quote_id,
                      struct rp_arena *arena, struct rp_buf *out, struct rp_error *err)
{
    struct rp_store_conn *c = rp_store_reader_acquire(s->store);
    json_t *data = json_array(), *quote, *row;
    int64_t now = rp_clock_now_ms(s->clock);
    struct rp_sql q;
    size_t i;
    int rc = 0;

    if (!(quote = read_quote(s, c, p, quote_id, arena, err))) {
        rc = err->code;
    } else {
        json_decref(quote);
        rp_sql_init(&q, arena, RP_SQL_SQLITE);
        rp_sql_add(&q, "SELECT id, created_by, created_at, expires_at, signed_at, signer_name,"
                       " signer_address, pdf_sha256 FROM rp_signing WHERE quote_id = ");
        rp_sql_param(&q, rp_value_cstr(quote_id));
        rp_sql_add(&q, " ORDER BY created_at DESC, id DESC");
        rc = rp_store_query(c, &q, links_row, data, err);
    }
    rp_store_reader_release(s->store, c);
    if (rc == 0) {
        json_t *doc;
        char *text;
        json_array_foreach(data, i, row)
        {
            int64_t exp = json_integer_value(json_object_get(row, "expires_at"));
            bool signed_ = json_is_integer(json_object_get(row, "signed_at"));
            json_object_set_new(row, "state",
                                json_string(signed_      ? "signed"
                                            : now >= exp ? "expired"
                                                         : "open"));
            json_object_set_new(
                row, "created_at",
                datetime_json(arena, json_integer_value(json_object_get(row, "created_at"))));
            json_object_set_new(row, "expires_at", datetime_json(arena, exp));
            if (signed_)
                json_object_set_new(
                    row, "signed_at",
                    datetime_json(arena, json_integer_value(json_object_get(row, "signed_at"))));
        }
        doc = json_pack("{sO}", "data", data);
        if ((text = rp_json_dumps(doc, JSON_COMPACT, err)))
            rp_buf_adds(out, text);
        else
            rc = err->code;
        free(text);
        json_decref(doc);
    }
    json_decref(data);
    return rc;
}
