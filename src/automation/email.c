/*
 * Email (automation.h): templates as rows, messages rendered on a record and stored under an
 * idempotency key together with their durable delivery job, SMTP through libcurl, consent
 * honoured when a message is queued and again when it is sent, and signed links for
 * unsubscribing and for open and click tracking.
 *
 * A template's variables are expressions of the expression language compiled to SQL and read
 * in one statement on the record, the way rule actions compute their values, so dotted paths
 * through references read related records. Rendered messages are stored whole: what was sent
 * is what the message row says, and a retried delivery sends the same bytes.
 *
 * Link tokens are base64url(payload) "." base64url(HMAC-SHA256(key, payload)) with payload
 * "<kind>\n<message id>[\n<url>]". A click token carries its target, so the redirect goes only
 * where a message of ours pointed. The key (rp_setting "email.link_key") is made at first use.
 */
#include "automation/automation.h"
#include "base/json.h"
#include "automation/automation_int.h"
#include "base/arena.h"
#include "base/log.h"
#include "base/outbound.h"
#include "base/sql.h"
#include "base/str.h"
#include "base/time.h"
#include "base/uuid.h"
#include "expr/expr.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINK_KEY_SETTING "email.link_key"
#define SEND_TRIES       12 /* 10 s doubling to an hour: about 7 hours of retries */
#define MAX_VARS         128
#define MAX_PART_BYTES   (256 * 1024) /* a template part, and a rendered part */
#define MAX_SUBJECT      998
#define MAX_TOKEN        4096
#define MAX_URL          2048
#define MESSAGE_MAX      (2 * 1024 * 1024)

/* ---- small helpers ---- */

struct text_row {
    struct rp_arena *a;
    const char *text;
};

static int text_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct text_row *x = ctx;
    if (n > 0 && cols[0].type == RP_V_TEXT)
        x->text = rp_arena_strndup(x->a, cols[0].u.s.p, cols[0].u.s.len);
    return 1;
}

static bool has_crlf(const char *s)
{
    return s && strpbrk(s, "\r\n") != NULL;
}

/* A bare address for SMTP and the To header: no display name, nothing a header could hide. */
static bool address_is_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    const char *at = s ? strchr(s, '@') : NULL;

    if (n < 3 || n > 254 || !at || at == s || at[1] == '\0' || strchr(at + 1, '@'))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || strchr("<>()[],;:\\\"", c))
            return false;
    }
    return true;
}

/* The address inside a From value such as "Rapport <crm@example.com>", into buf. */
static bool from_address(const char *from, char *buf, size_t size)
{
    const char *lt = strrchr(from, '<'), *gt = lt ? strchr(lt, '>') : NULL;

    if (has_crlf(from))
        return false;
    if (lt && gt)
        snprintf(buf, size, "%.*s", (int)(gt - lt - 1), lt + 1);
    else
        snprintf(buf, size, "%s", from);
    return address_is_valid(buf);
}

/* ---- settings and the link key ---- */

struct email_conf {
    const char *smtp_url, *from, *username, *password, *base;
};

struct conf_rows {
    struct rp_arena *a;
    struct email_conf *conf;
};

static int conf_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct conf_rows *x = ctx;
    struct email_conf *conf = x->conf;
    struct rp_str key;
    const char *v;

    if (n < 2 || cols[0].type != RP_V_TEXT || cols[1].type != RP_V_TEXT)
        return 0;
    key = (struct rp_str){cols[0].u.s.p, cols[0].u.s.len};
    v = rp_arena_strndup(x->a, cols[1].u.s.p, cols[1].u.s.len);
    if (rp_str_eq(key, "email.smtp_url")) {
        conf->smtp_url = v;
    } else if (rp_str_eq(key, "email.from")) {
        conf->from = v;
    } else if (rp_str_eq(key, "email.username")) {
        conf->username = v;
    } else if (rp_str_eq(key, "email.password")) {
        conf->password = v;
    } else if (rp_str_eq(key, "email.tracking_base_url")) {
        size_t len = strlen(v);
        while (len && v[len - 1] == '/') /* links are joined with their own slash */
            len--;
        conf->base = len ? rp_arena_strndup(x->a, v, len) : NULL;
    }
    return 0;
}

/* The email settings; the password stays in arena memory the caller wipes or releases. */
static int conf_load(struct rp_automation *a, struct email_conf *conf, struct rp_arena *arena,
                     struct rp_error *err)
{
    struct conf_rows x = {.a = arena, .conf = conf};
    struct rp_store_conn *c = rp_store_reader_acquire(a->store);
    struct rp_sql q;
    int rc;

    memset(conf, 0, sizeof(*conf));
    rp_sql_init(&q, arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT key, value FROM rp_setting WHERE key IN ('email.smtp_url',"
                   " 'email.from', 'email.username', 'email.password',"
                   " 'email.tracking_base_url')");
    rc = rp_store_query(c, &q, conf_row, &x, err);
    rp_store_reader_release(a->store, c);
    return rc;
}

struct key_unit {
    const char *candidate;
    struct rp_arena *arena;
    const char *hex; /* out */
};

static int key_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct key_unit *x = ctx;
    struct text_row tr = {.a = x->arena};
    struct rp_sql q;
    int rc;

    rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_setting (key, value) VALUES ('" LINK_KEY_SETTING "', ");
    rp_sql_param(&q, rp_value_cstr(x->candidate));
    rp_sql_add(&q, ") ON CONFLICT (key) DO NOTHING");
    if ((rc = rp_store_exec(c, &q, NULL, err)) < 0)
        return rc;
    rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = '" LINK_KEY_SETTING "'");
    rc = rp_store_query(c, &q, text_row, &tr, err);
    x->hex = tr.text;
    return rc;
}

/* The key that signs links: read, or made once (the first writer's candidate wins). */
static int link_key(struct rp_automation *a, unsigned char key[crypto_auth_hmacsha256_KEYBYTES],
                    struct rp_error *err)
{
    struct rp_arena arena;
    struct text_row tr;
    struct rp_store_conn *c;
    struct rp_sql q;
    size_t len = 0;
    int rc;

    rp_arena_init(&arena);
    tr.a = &arena;
    tr.text = NULL;
    rp_sql_init(&q, &arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = '" LINK_KEY_SETTING "'");
    c = rp_store_reader_acquire(a->store);
    rc = rp_store_query(c, &q, text_row, &tr, err);
    rp_store_reader_release(a->store, c);
    if (rc == 0 && !tr.text) {
        unsigned char raw[crypto_auth_hmacsha256_KEYBYTES];
        char hex[2 * sizeof(raw) + 1];
        struct key_unit x = {.candidate = hex, .arena = &arena};
        rp_random_bytes(raw, sizeof(raw));
        sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
        rc = rp_store_write(a->store, key_run, &x, err);
        tr.text = x.hex;
        sodium_memzero(raw, sizeof(raw));
        sodium_memzero(hex, sizeof(hex));
    }
    if (rc == 0 && (!tr.text ||
                    sodium_hex2bin(key, crypto_auth_hmacsha256_KEYBYTES, tr.text, strlen(tr.text),
                                   NULL, &len, NULL) != 0 ||
                    len != crypto_auth_hmacsha256_KEYBYTES))
        rc = rp_error_set(err, RP_EINTERNAL, "the email link key is unusable");
    if (tr.text)
        sodium_memzero((char *)tr.text, strlen(tr.text));
    rp_arena_release(&arena);
    return rc;
}

/* ---- link tokens ---- */

static char *b64url(struct rp_arena *arena, const unsigned char *p, size_t n)
{
    size_t size = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = rp_arena_alloc(arena, size);
    sodium_bin2base64(out, size, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

static int token_make(const unsigned char *key, enum rp_email_link kind, const char *message_id,
                      const char *url, struct rp_arena *arena, char **out)
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char *payload = url ? rp_arena_sprintf(arena, "%c\n%s\n%s", (char)kind, message_id, url)
                        : rp_arena_sprintf(arena, "%c\n%s", (char)kind, message_id);
    size_t n = strlen(payload);

    crypto_auth_hmacsha256(mac, (const unsigned char *)payload, n, key);
    *out = rp_arena_sprintf(arena, "%s.%s", b64url(arena, (const unsigned char *)payload, n),
                            b64url(arena, mac, sizeof(mac)));
    return 0;
}

int rp_email_token(struct rp_automation *a, enum rp_email_link kind, const char *message_id,
                   const char *url, struct rp_arena *arena, char **out, struct rp_error *err)
{
    unsigned char key[crypto_auth_hmacsha256_KEYBYTES];
    int rc = link_key(a, key, err);

    if (rc == 0)
        rc = token_make(key, kind, message_id, url, arena, out);
    sodium_memzero(key, sizeof(key));
    return rc;
}

/* Checks a token's signature and kind; *message_id and *url (click) in arena memory. */
static int token_open(struct rp_automation *a, enum rp_email_link kind, const char *token,
                      struct rp_arena *arena, const char **message_id, const char **url,
                      struct rp_error *err)
{
    unsigned char key[crypto_auth_hmacsha256_KEYBYTES], mac[crypto_auth_hmacsha256_BYTES];
    const char *dot = token ? strchr(token, '.') : NULL;
    size_t n = token ? strnlen(token, MAX_TOKEN + 1) : 0, plen = 0, mlen = 0;
    unsigned char *payload;
    char *text, *nl;
    int rc;

    if (!dot || n > MAX_TOKEN)
        return rp_error_set(err, RP_EINVAL, "the link is not valid");
    payload = rp_arena_alloc(arena, n + 1);
    if (sodium_base642bin(payload, n, token, (size_t)(dot - token), NULL, &plen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        sodium_base642bin(mac, sizeof(mac), dot + 1, strlen(dot + 1), NULL, &mlen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        mlen != sizeof(mac))
        return rp_error_set(err, RP_EINVAL, "the link is not valid");
    if ((rc = link_key(a, key, err)) < 0)
        return rc;
    rc = crypto_auth_hmacsha256_verify(mac, payload, plen, key);
    sodium_memzero(key, sizeof(key));
    if (rc != 0)
        return rp_error_set(err, RP_EINVAL, "the link is not valid");
    text = rp_arena_strndup(arena, (const char *)payload, plen);
    if (plen < 2 + RP_UUID_STRLEN || text[0] != (char)kind || text[1] != '\n')
        return rp_error_set(err, RP_EINVAL, "the link is not valid here");
    nl = strchr(text + 2, '\n');
    if (nl)
        *nl = '\0';
    *message_id = text + 2;
    *url = nl ? nl + 1 : NULL;
    if ((kind == RP_EMAIL_LINK_CLICK) != (*url != NULL))
        return rp_error_set(err, RP_EINVAL, "the link is not valid here");
    return 0;
}

/* ---- templates ---- */

/* One {{ ... }} of a template: its trimmed text. */
struct var {
    const char *p;
    size_t len;
};

static bool var_is(const struct var *v, const char *name)
{
    return v->len == strlen(name) && memcmp(v->p, name, v->len) == 0;
}

/* Links rapport makes per message rather than expressions: {{unsubscribe_url}} and
   {{confirm_url}} (the double opt-in link of a web form, "" when sent otherwise). */
static bool var_is_special(const struct var *v)
{
    return var_is(v, "unsubscribe_url") || var_is(v, "confirm_url");
}

/*
 * Calls fn for each variable of s, in order, and for the text between (is_var false). Returns
 * 0, fn's negative code, or RP_EVALIDATION for an unclosed "{{".
 */
typedef int (*var_fn)(void *ctx, bool is_var, const struct var *v);

static int scan(const char *s, var_fn fn, void *ctx)
{
    const char *p = s;
    int rc;

    while (p && *p) {
        const char *open = strstr(p, "{{"), *close;
        struct var v;
        if (!open) {
            v = (struct var){p, strlen(p)};
            return fn(ctx, false, &v);
        }
        if (open > p) {
            v = (struct var){p, (size_t)(open - p)};
            if ((rc = fn(ctx, false, &v)) < 0)
                return rc;
        }
        if (!(close = strstr(open + 2, "}}")))
            return RP_EVALIDATION;
        v.p = open + 2;
        v.len = (size_t)(close - v.p);
        while (v.len && (*v.p == ' ' || *v.p == '\t'))
            v.p++, v.len--;
        while (v.len && (v.p[v.len - 1] == ' ' || v.p[v.len - 1] == '\t'))
            v.len--;
        if ((rc = fn(ctx, true, &v)) < 0)
            return rc;
        p = close + 2;
    }
    return 0;
}

struct check_ctx {
    const struct rp_meta *m;
    const struct rp_object *o;
    const char *part;
    struct rp_arena *arena;
    struct rp_error *err;
    size_t nvars;
};

static int check_var(void *ctx, bool is_var, const struct var *v)
{
    struct check_ctx *x = ctx;
    struct rp_expr *e;
    struct rp_error sub;

    if (!is_var || var_is_special(v))
        return 0;
    if (++x->nvars > MAX_VARS)
        return rp_error_field(x->err, RP_EVALIDATION, x->part, "too_many",
                              "a template has at most %d variables", MAX_VARS);
    rp_error_init(&sub, x->arena);
    if (v->len == 0 || rp_meta_parse_expr(x->m, x->o, v->p, v->len, 0, x->arena, &e, &sub) < 0)
        return rp_error_field(x->err, RP_EVALIDATION, x->part, "invalid_variable",
                              "variable \"{{%.*s}}\" in %s: %s", (int)v->len, v->p, x->part,
                              sub.detail ? sub.detail : "it is empty");
    return 0;
}

static int check_expr(const struct rp_meta *m, const struct rp_object *o, const char *key,
                      const char *src, enum rp_vtype want, struct rp_arena *arena,
                      struct rp_error *err)
{
    struct rp_expr *e;
    struct rp_error sub;

    rp_error_init(&sub, arena);
    if (rp_meta_parse_expr(m, o, src, strlen(src), 0, arena, &e, &sub) < 0)
        return rp_error_field(err, RP_EVALIDATION, key, "invalid_expression", "\"%s\": %s", key,
                              sub.detail);
    if (rp_expr_type(e) != want && rp_expr_type(e) != RP_V_NULL)
        return rp_error_field(err, RP_EVALIDATION, key, "invalid_type",
                              "\"%s\" must be a text expression", key);
    return 0;
}

/* Checks a template against the metadata: keys, parts, variables, expressions. */
static int template_check(const struct rp_meta *m, const json_t *def, struct rp_arena *arena,
                          struct rp_error *err)
{
    static const char *const keys[] = {"object",  "subject",  "text",        "html", "to",
                                       "purpose", "campaign", "description", NULL};
    static const char *const parts[] = {"subject", "text", "html"};
    const struct rp_object *o;
    const struct rp_field *purpose_field;
    struct check_ctx x = {.m = m, .arena = arena, .err = err};
    const char *key, *purpose;
    json_t *v;
    int rc;

    if (!json_is_object(def))
        return rp_error_set(err, RP_EINVAL, "a template is a JSON object");
    if (rp_json_check_keys(def, keys, "an email template", NULL, err) < 0)
        return err->code;
    json_object_foreach((json_t *)def, key, v)
    {
        if (!json_is_string(v))
            return rp_error_field(err, RP_EVALIDATION, key, "invalid_type", "\"%s\" is a string",
                                  key);
    }
    key = json_string_value(json_object_get(def, "object"));
    if (!key || !(o = rp_meta_object(m, key)))
        return rp_error_field(err, RP_EVALIDATION, "object", "not_found",
                              "\"object\" must name an object");
    x.o = o;
    if (!json_object_get(def, "subject") || !json_object_get(def, "text"))
        return rp_error_field(err, RP_EVALIDATION,
                              json_object_get(def, "subject") ? "text" : "subject", "required",
                              "a template needs \"subject\" and \"text\"");
    if (json_string_length(json_object_get(def, "subject")) > MAX_SUBJECT ||
        has_crlf(json_string_value(json_object_get(def, "subject"))))
        return rp_error_field(err, RP_EVALIDATION, "subject", "invalid",
                              "\"subject\" is one line of at most %d bytes", MAX_SUBJECT);
    for (size_t i = 0; i < 3; i++) {
        const char *s = json_string_value(json_object_get(def, parts[i]));
        if (!s)
            continue;
        if (strlen(s) > MAX_PART_BYTES)
            return rp_error_field(err, RP_EVALIDATION, parts[i], "too_long",
                                  "\"%s\" is at most %d bytes", parts[i], MAX_PART_BYTES);
        x.part = parts[i];
        if ((rc = scan(s, check_var, &x)) == RP_EVALIDATION && !err->code)
            return rp_error_field(err, RP_EVALIDATION, parts[i], "unclosed",
                                  "\"%s\" has a \"{{\" without \"}}\"", parts[i]);
        if (rc < 0)
            return rc;
    }
    if ((rc = check_expr(m, o, "to",
                         json_object_get(def, "to") ? json_string_value(json_object_get(def, "to"))
                                                    : "email",
                         RP_V_TEXT, arena, err)) < 0)
        return rc;
    if (json_object_get(def, "campaign") &&
        (rc = check_expr(m, o, "campaign", json_string_value(json_object_get(def, "campaign")),
                         RP_V_TEXT, arena, err)) < 0)
        return rc;
    purpose = json_string_value(json_object_get(def, "purpose"));
    purpose_field = rp_meta_object(m, "consent")
                        ? rp_meta_field(rp_meta_object(m, "consent"), "purpose")
                        : NULL;
    if (purpose &&
        (!purpose_field || !rp_meta_picklist_value(purpose_field, purpose, strlen(purpose))))
        return rp_error_field(err, RP_EVALIDATION, "purpose", "invalid",
                              "\"purpose\" must be a purpose of the consent ledger");
    return 0;
}

int rp_email_template_check(void *ctx, const struct rp_meta *m, const json_t *def,
                            struct rp_arena *arena, struct rp_error *err)
{
    (void)ctx;
    return template_check(m, def, arena, err);
}

/* The definition of a template as JSON (caller decrefs), or NULL with RP_ENOTFOUND. */
static json_t *template_load(struct rp_automation *a, const char *name, struct rp_error *err)
{
    struct rp_arena arena;
    struct text_row tr;
    struct rp_store_conn *c;
    struct rp_sql q;
    json_t *def = NULL;

    rp_arena_init(&arena);
    tr.a = &arena;
    tr.text = NULL;
    rp_sql_init(&q, &arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT definition FROM rp_definition WHERE kind = '" RP_DEF_EMAIL_TEMPLATE
                   "' AND name = ");
    rp_sql_param(&q, rp_value_cstr(name ? name : ""));
    c = rp_store_reader_acquire(a->store);
    if (rp_store_query(c, &q, text_row, &tr, err) == 0) {
        if (tr.text)
            def = rp_json_loads(tr.text, 0, NULL);
        if (!def)
            rp_error_set(err, RP_ENOTFOUND, "email template \"%s\" not found", name ? name : "");
    }
    rp_store_reader_release(a->store, c);
    rp_arena_release(&arena);
    return def;
}

/* ---- rendering ---- */

struct render {
    struct rp_automation *a;
    const struct rp_meta *m;
    const struct rp_object *o;
    struct rp_arena *arena;
    struct rp_error *err;
    struct rp_expr *exprs[MAX_VARS + 2];
    const char *values[MAX_VARS + 2]; /* text of each expression on the record */
    size_t n, next;
    bool found;
    /* substitution */
    bool html;
    const char *unsubscribe_url; /* "" without a tracking base URL */
    const char *confirm_url;     /* "" unless the sender gave one */
    struct rp_buf *out;
};

static int render_add_expr(struct render *r, const char *src, size_t len)
{
    if (r->n == MAX_VARS + 2)
        return rp_error_set(r->err, RP_EINVAL, "the template has too many variables");
    if (rp_meta_parse_expr(r->m, r->o, src, len, rp_clock_now_ms(r->a->clock), r->arena,
                           &r->exprs[r->n], r->err) < 0)
        return RP_EINVAL; /* the metadata changed since the template was saved */
    r->n++;
    return 0;
}

static int collect_var(void *ctx, bool is_var, const struct var *v)
{
    struct render *r = ctx;
    if (!is_var || var_is_special(v))
        return 0;
    return render_add_expr(r, v->p, v->len);
}

/* The values of one row as text, typed by their expressions. */
static int render_row(void *ctx, const struct rp_value *cols, size_t ncols)
{
    struct render *r = ctx;

    r->found = true;
    for (size_t i = 0; i < r->n && i < ncols; i++) {
        enum rp_vtype t = rp_expr_type(r->exprs[i]);
        struct rp_value v = cols[i];
        struct rp_buf b;
        if (v.type == RP_V_NULL) {
            r->values[i] = "";
            continue;
        }
        if (v.type == RP_V_TEXT) {
            r->values[i] = rp_arena_strndup(r->arena, v.u.s.p, v.u.s.len);
            continue;
        }
        if (v.type == RP_V_INT && t != RP_V_NUM && t != RP_V_INT)
            v = t == RP_V_BOOL ? rp_value_bool(v.u.i != 0) : rp_value_typed_int(t, v.u.i);
        rp_buf_init(&b, r->arena, 512);
        rp_value_to_json(&b, &v);
        if (b.len >= 2 && b.data[0] == '"') /* dates and money: their JSON text unquoted */
            r->values[i] = rp_arena_strndup(r->arena, b.data + 1, b.len - 2);
        else
            r->values[i] = b.data;
    }
    return 1;
}

static int substitute_var(void *ctx, bool is_var, const struct var *v)
{
    struct render *r = ctx;
    const char *s;

    if (!is_var) {
        rp_buf_add(r->out, v->p, v->len);
        return 0;
    }
    s = !var_is_special(v)             ? r->values[r->next++]
        : var_is(v, "unsubscribe_url") ? r->unsubscribe_url
                                       : r->confirm_url;
    if (r->html)
        rp_buf_add_html(r->out, s, strlen(s));
    else
        rp_buf_adds(r->out, s);
    return 0;
}

static const char *render_part(struct render *r, const char *tpl, bool html)
{
    struct rp_buf b;

    if (!tpl)
        return NULL;
    rp_buf_init(&b, r->arena, MAX_PART_BYTES * 4);
    r->out = &b;
    r->html = html;
    scan(tpl, substitute_var, r);
    return rp_buf_error(&b) ? NULL : b.data;
}

/* Replaces the http(s) links of rendered HTML by signed click links and adds the open pixel. */
static int track_html(const unsigned char *key, const char *base, const char *msg_id,
                      const char *html, struct rp_arena *arena, const char **out)
{
    struct rp_buf b;
    const char *p = html, *unsub;
    char *token;

    unsub = rp_arena_sprintf(arena, "%s/api/v1/email/unsubscribe", base);
    rp_buf_init(&b, arena, MAX_PART_BYTES * 8);
    for (;;) {
        const char *h = strcasestr(p, "href="), *start, *end;
        struct rp_buf url;
        char quote;
        if (!h)
            break;
        quote = h[5];
        start = h + 6;
        end = (quote == '"' || quote == '\'') ? strchr(start, quote) : NULL;
        if (!end) {
            rp_buf_add(&b, p, (size_t)(h + 5 - p));
            p = h + 5;
            continue;
        }
        rp_buf_add(&b, p, (size_t)(start - p));
        /* The attribute as written is HTML: &amp; stands for &. */
        rp_buf_init(&url, arena, MAX_URL + 1);
        for (const char *s = start; s < end; s++) {
            if (strncmp(s, "&amp;", 5) == 0 && s + 5 <= end) {
                rp_buf_addc(&url, '&');
                s += 4;
            } else {
                rp_buf_addc(&url, *s);
            }
        }
        if (!rp_buf_error(&url) &&
            (strncasecmp(url.data, "http://", 7) == 0 ||
             strncasecmp(url.data, "https://", 8) == 0) &&
            strncmp(url.data, unsub, strlen(unsub)) != 0 && !has_crlf(url.data)) {
            token_make(key, RP_EMAIL_LINK_CLICK, msg_id, url.data, arena, &token);
            rp_buf_addf(&b, "%s/t/c/%s", base, token);
        } else {
            rp_buf_add(&b, start, (size_t)(end - start));
        }
        p = end;
    }
    {
        const char *body_end = strcasestr(p, "</body>");
        size_t keep = body_end ? (size_t)(body_end - p) : strlen(p);
        rp_buf_add(&b, p, keep);
        token_make(key, RP_EMAIL_LINK_OPEN, msg_id, NULL, arena, &token);
        rp_buf_addf(&b, "<img src=\"%s/t/o/%s.gif\" width=\"1\" height=\"1\" alt=\"\">", base,
                    token);
        rp_buf_adds(&b, p + keep);
    }
    if (rp_buf_error(&b))
        return RP_ETOOBIG;
    *out = b.data;
    return 0;
}

/* A rendered message, before it is stored. */
struct rendered {
    const char *to, *campaign, *subject, *text, *html, *purpose, *unsubscribe_url;
};

/*
 * Renders def on one record of o as message msg_id. to_override (an expression) replaces the
 * template's "to". RP_EINVAL: the template no longer fits the metadata or the record is gone;
 * RP_EVALIDATION: a recipient or subject that would inject headers.
 */
static int render(struct rp_automation *a, const struct rp_meta *m, const struct rp_object *o,
                  const json_t *def, const char *record_id, const char *to_override,
                  const char *confirm_url, const char *msg_id, struct rp_arena *arena,
                  struct rendered *msg, struct rp_error *err)
{
    struct render *r = rp_arena_calloc(arena, 1, sizeof(*r));

    r->confirm_url = confirm_url ? confirm_url : "";
    const char *to = to_override ? to_override : json_string_value(json_object_get(def, "to"));
    const char *campaign = json_string_value(json_object_get(def, "campaign"));
    const char *subject = json_string_value(json_object_get(def, "subject"));
    const char *text = json_string_value(json_object_get(def, "text"));
    const char *html = json_string_value(json_object_get(def, "html"));
    unsigned char key[crypto_auth_hmacsha256_KEYBYTES];
    struct email_conf conf;
    struct rp_store_conn *c;
    struct rp_sql q;
    int rc;

    memset(msg, 0, sizeof(*msg));
    r->a = a;
    r->m = m;
    r->o = o;
    r->arena = arena;
    r->err = err;
    to = to ? to : "email";
    msg->purpose = json_string_value(json_object_get(def, "purpose"));
    msg->purpose = msg->purpose ? msg->purpose : "marketing";
    if ((rc = render_add_expr(r, to, strlen(to))) < 0 ||
        (rc = render_add_expr(r, campaign ? campaign : "''", campaign ? strlen(campaign) : 2)) < 0)
        return rc;
    if (scan(subject, collect_var, r) < 0 || scan(text, collect_var, r) < 0 ||
        (html && scan(html, collect_var, r) < 0))
        return err->code ? err->code : rp_error_set(err, RP_EINVAL, "the template is broken");
    rp_sql_init(&q, arena, rp_store_dialect(a->store));
    rp_sql_add(&q, "SELECT ");
    for (size_t i = 0; i < r->n; i++) {
        rp_sql_add(&q, i ? ", (" : "(");
        if (rp_expr_compile_sql(r->exprs[i], &q, err) < 0)
            return RP_EINVAL;
        rp_sql_add(&q, ")");
    }
    rp_sql_addf(&q, " FROM \"%s\" AS \"t\" WHERE \"t\".\"deleted_at\" IS NULL AND \"t\".\"id\" = ",
                o->name);
    rp_sql_param(&q, rp_value_cstr(record_id));
    c = rp_store_reader_acquire(a->store);
    rc = rp_store_query(c, &q, render_row, r, err);
    rp_store_reader_release(a->store, c);
    if (rc < 0)
        return rc;
    if (!r->found)
        return rp_error_set(err, RP_ENOTFOUND, "%s \"%s\" not found", o->name, record_id);
    msg->to = r->values[0];
    msg->campaign = *r->values[1] ? r->values[1] : NULL;
    if (!address_is_valid(msg->to))
        return rp_error_field(err, RP_EVALIDATION, "to", "invalid_address",
                              "the recipient address \"%s\" is not valid", msg->to);
    if ((rc = conf_load(a, &conf, arena, err)) < 0)
        return rc;
    if ((rc = link_key(a, key, err)) < 0)
        return rc;
    msg->unsubscribe_url = "";
    if (conf.base) {
        char *token;
        token_make(key, RP_EMAIL_LINK_UNSUBSCRIBE, msg_id, NULL, arena, &token);
        msg->unsubscribe_url =
            rp_arena_sprintf(arena, "%s/api/v1/email/unsubscribe?t=%s", conf.base, token);
    }
    r->unsubscribe_url = msg->unsubscribe_url;
    r->next = 2;
    msg->subject = render_part(r, subject, false);
    msg->text = render_part(r, text, false);
    msg->html = render_part(r, html, true);
    if (!msg->subject || !msg->text || (html && !msg->html))
        rc = rp_error_set(err, RP_ETOOBIG, "the rendered message is too large");
    else if (has_crlf(msg->subject) || strlen(msg->subject) > MAX_SUBJECT)
        rc =
            rp_error_field(err, RP_EVALIDATION, "subject", "invalid",
                           "the rendered subject is not one line of at most %d bytes", MAX_SUBJECT);
    else if (msg->html && conf.base)
        rc = track_html(key, conf.base, msg_id, msg->html, arena, &msg->html) < 0
                 ? rp_error_set(err, RP_ETOOBIG, "the rendered message is too large")
                 : 0;
    sodium_memzero(key, sizeof(key));
    if (conf.password)
        sodium_memzero((char *)conf.password, strlen(conf.password));
    return rc;
}

int rp_email_template_preview(struct rp_automation *a, const json_t *def, const char *record_id,
                              struct rp_arena *arena, struct rp_buf *out, struct rp_error *err)
{
    static const char msg_id[] = "00000000-0000-7000-8000-000000000000";
    struct rp_meta *m = rp_meta_acquire(a->meta);
    const struct rp_object *o;
    struct rendered msg;
    int rc;

    if ((rc = template_check(m, def, arena, err)) < 0)
        goto out;
    o = rp_meta_object(m, json_string_value(json_object_get(def, "object")));
    if ((rc = render(a, m, o, def, record_id, NULL, "https://example.com/confirm", msg_id, arena,
                     &msg, err)) < 0)
        goto out;
    rp_buf_adds(out, "{\"to\":");
    rp_buf_add_json_str(out, msg.to, strlen(msg.to));
    rp_buf_adds(out, ",\"subject\":");
    rp_buf_add_json_str(out, msg.subject, strlen(msg.subject));
    rp_buf_adds(out, ",\"text\":");
    rp_buf_add_json_str(out, msg.text, strlen(msg.text));
    rp_buf_adds(out, ",\"html\":");
    if (msg.html)
        rp_buf_add_json_str(out, msg.html, strlen(msg.html));
    else
        rp_buf_adds(out, "null");
    rp_buf_addc(out, '}');
out:
    rp_meta_release(m);
    return rc;
}

/* ---- consent ---- */

/*
 * Why a message to a record must not be sent, or NULL: a contact or lead with do_not_email,
 * or whose latest email consent entry for purpose is a withdrawal.
 */
static int suppression(struct rp_store_conn *c, const struct rp_meta *m, const char *object,
                       const char *record_id, const char *purpose, struct rp_arena *arena,
                       const char **why, struct rp_error *err)
{
    const struct rp_object *o = rp_meta_object(m, object);
    const struct rp_object *consent = rp_meta_object(m, "consent");
    struct text_row tr = {.a = arena};
    int64_t dne = 0;
    struct rp_sql q;
    int rc;

    *why = NULL;
    if (!o || (strcmp(object, "contact") != 0 && strcmp(object, "lead") != 0))
        return 0;
    if (rp_meta_field(o, "do_not_email")) {
        rp_sql_init(&q, arena, rp_store_conn_dialect(c));
        rp_sql_addf(&q, "SELECT \"do_not_email\" FROM \"%s\" WHERE \"id\" = ", o->name);
        rp_sql_param(&q, rp_value_cstr(record_id));
        if ((rc = rp_store_query(c, &q, rp_store_row_int, &dne, err)) < 0)
            return rc;
        if (dne) {
            *why = "do_not_email is set";
            return 0;
        }
    }
    if (!consent)
        return 0;
    rp_sql_init(&q, arena, rp_store_conn_dialect(c));
    rp_sql_addf(&q, "SELECT \"action\" FROM \"consent\" WHERE \"%s_id\" = ", o->name);
    rp_sql_param(&q, rp_value_cstr(record_id));
    rp_sql_add(&q, " AND \"channel\" = 'email' AND \"purpose\" = ");
    rp_sql_param(&q, rp_value_cstr(purpose));
    rp_sql_add(&q, " AND \"deleted_at\" IS NULL ORDER BY \"occurred_at\" DESC, rowid DESC LIMIT 1");
    if ((rc = rp_store_query(c, &q, text_row, &tr, err)) < 0)
        return rc;
    if (tr.text && strcmp(tr.text, "grant") != 0)
        *why = rp_arena_sprintf(arena, "email consent for %s is withdrawn", purpose);
    return 0;
}

/* ---- queueing ---- */

struct queue_unit {
    struct rp_automation *a;
    const char *id, *key, *template_name, *object, *record_id, *created_by, *state, *error;
    const struct rendered *msg;
    int64_t now;
    struct rp_arena *arena;
    const char *out_id, *out_state; /* the message under key */
};

static int message_key_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct queue_unit *x = ctx;
    if (n >= 2 && cols[0].type == RP_V_TEXT && cols[1].type == RP_V_TEXT) {
        x->out_id = rp_arena_strndup(x->arena, cols[0].u.s.p, cols[0].u.s.len);
        x->out_state = rp_arena_strndup(x->arena, cols[1].u.s.p, cols[1].u.s.len);
    }
    return 1;
}

static struct rp_value opt_text(const char *s)
{
    return s ? rp_value_cstr(s) : rp_value_null();
}

/* Stores the message unless its key is known, and queues its delivery in the same unit. */
static int queue_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct queue_unit *x = ctx;
    const struct rendered *msg = x->msg;
    const struct rp_value v[] = {rp_value_cstr(x->id),
                                 rp_value_cstr(x->key),
                                 rp_value_cstr(x->template_name),
                                 rp_value_cstr(x->object),
                                 rp_value_cstr(x->record_id),
                                 rp_value_cstr(msg->to),
                                 rp_value_cstr(msg->subject),
                                 rp_value_cstr(msg->text),
                                 opt_text(msg->html),
                                 rp_value_cstr(msg->purpose),
                                 opt_text(msg->unsubscribe_url[0] ? msg->unsubscribe_url : NULL),
                                 rp_value_cstr(x->state),
                                 opt_text(x->error),
                                 opt_text(msg->campaign),
                                 opt_text(x->created_by),
                                 rp_value_int(x->now)};
    struct rp_sql q;
    int64_t inserted = 0;
    int rc;

    rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_email_message (id, key, template, object, record_id, to_addr,"
                   " subject, body_text, body_html, purpose, unsubscribe_url, state, error,"
                   " campaign_id, created_by, created_at) VALUES ");
    rp_sql_param_list(&q, v, sizeof(v) / sizeof(v[0]));
    rp_sql_add(&q, " ON CONFLICT (key) DO NOTHING");
    if ((rc = rp_store_exec(c, &q, &inserted, err)) < 0)
        return rc;
    if (inserted && strcmp(x->state, "queued") == 0) {
        char *payload = rp_arena_sprintf(x->arena, "{\"message\":\"%s\"}", x->id);
        char *dedup = rp_arena_sprintf(x->arena, "email:%s", x->id);
        if ((rc = rp_jobs_enqueue_in(c, x->a->clock,
                                     &(struct rp_job_spec){.kind = RP_EMAIL_JOB,
                                                           .payload = payload,
                                                           .dedup_key = dedup,
                                                           .max_attempts = SEND_TRIES},
                                     NULL, NULL, err)) < 0)
            return rc;
    }
    rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT id, state FROM rp_email_message WHERE key = ");
    rp_sql_param(&q, rp_value_cstr(x->key));
    return rp_store_query(c, &q, message_key_row, x, err);
}

/*
 * Renders template_name on a record and stores the message under key, queueing its delivery
 * unless consent suppresses it. *id and *state: the message under key (arena memory).
 */
static int email_queue(struct rp_automation *a, const char *template_name, const char *object,
                       const char *record_id, const char *to, const char *confirm_url,
                       const char *key, const char *created_by, struct rp_arena *arena,
                       const char **id, const char **state, struct rp_error *err)
{
    struct rp_meta *m = rp_meta_acquire(a->meta);
    json_t *def = template_load(a, template_name, err);
    const struct rp_object *o = NULL;
    const char *tobj = json_string_value(json_object_get(def, "object"));
    const char *why = NULL;
    char msg_id[RP_UUID_STRLEN + 1];
    struct queue_unit x = {.a = a, .arena = arena};
    struct rendered msg;
    struct rp_store_conn *c;
    int rc = RP_ENOTFOUND;

    if (!def)
        goto out;
    if (object && tobj && strcmp(object, tobj) != 0) {
        rc = rp_error_field(err, RP_EVALIDATION, "object", "mismatch",
                            "email template \"%s\" is for %s records, not %s", template_name, tobj,
                            object);
        goto out;
    }
    if (!tobj || !(o = rp_meta_object(m, tobj))) {
        rc = rp_error_set(err, RP_EINVAL, "email template \"%s\" names no object", template_name);
        goto out;
    }
    x.now = rp_clock_now_ms(a->clock);
    rp_uuid_v7(msg_id, x.now);
    if ((rc = render(a, m, o, def, record_id, to, confirm_url, msg_id, arena, &msg, err)) < 0)
        goto out;
    c = rp_store_reader_acquire(a->store);
    rc = suppression(c, m, o->name, record_id, msg.purpose, arena, &why, err);
    rp_store_reader_release(a->store, c);
    if (rc < 0)
        goto out;
    x.id = msg_id;
    x.key = key;
    x.template_name = template_name;
    x.object = o->name;
    x.record_id = record_id;
    x.created_by = created_by;
    x.state = why ? "suppressed" : "queued";
    x.error = why;
    x.msg = &msg;
    if ((rc = rp_store_write(a->store, queue_run, &x, err)) < 0)
        goto out;
    rp_jobs_wake(a->jobs);
    *id = x.out_id ? x.out_id : rp_arena_strdup(arena, msg_id);
    *state = x.out_state ? x.out_state : x.state;
out:
    json_decref(def);
    rp_meta_release(m);
    return rc;
}

int rp_email_send(struct rp_automation *a, const struct rp_principal *p,
                  const struct rp_email_request *rq, struct rp_arena *arena, struct rp_buf *out,
                  struct rp_error *err)
{
    json_t *def = template_load(a, rq->template_name, err);
    const char *object = json_string_value(json_object_get(def, "object"));
    const char *id = NULL, *state = NULL, *key;
    struct rp_buf ignore;
    int64_t version;
    char fresh[RP_UUID_STRLEN + 1];
    int rc;

    if (!def)
        return err->code;
    object = rp_arena_strdup(arena, object);
    json_decref(def);
    if (rq->object && object && strcmp(rq->object, object) != 0)
        return rp_error_field(err, RP_EVALIDATION, "object", "mismatch",
                              "email template \"%s\" is for %s records, not %s", rq->template_name,
                              object, rq->object);
    if (rq->to && (rc = rp_policy_check(p, NULL, RP_ACT_MANAGE_AUTOMATION, err)) < 0)
        return rc; /* another recipient than the template's: who may write templates */
    /* Who may read the record may mail it; one who may not sees a 404. */
    rp_buf_init(&ignore, arena, 1 << 20);
    if ((rc = rp_records_get(a->records, p, object ? object : "", rq->record_id, "id", arena,
                             &ignore, &version, err)) < 0)
        return rc;
    if (rq->key) {
        key = rp_arena_sprintf(arena, "api:%s:%s", p->user_id, rq->key);
    } else {
        rp_uuid_v7(fresh, rp_clock_now_ms(a->clock));
        key = rp_arena_sprintf(arena, "api:%s", fresh);
    }
    if (rq->to) {
        struct rp_meta *m = rp_meta_acquire(a->meta);
        const struct rp_object *o = rp_meta_object(m, object);
        rc = o ? check_expr(m, o, "to", rq->to, RP_V_TEXT, arena, err) : RP_ENOTFOUND;
        rp_meta_release(m);
        if (rc < 0)
            return rc;
    }
    if ((rc = email_queue(a, rq->template_name, object, rq->record_id, rq->to, rq->confirm_url, key,
                          p->user_id, arena, &id, &state, err)) < 0)
        return rc;
    rp_buf_adds(out, "{\"id\":");
    rp_buf_add_json_str(out, id, strlen(id));
    rp_buf_adds(out, ",\"state\":");
    rp_buf_add_json_str(out, state, strlen(state));
    rp_buf_addc(out, '}');
    return 0;
}

/* ---- the send_email action ---- */

int rp_email_action_check(const struct rp_action_check *c, const json_t *act, struct rp_error *err)
{
    const char *tpl = json_string_value(json_object_get(act, "template"));
    const json_t *to = json_object_get(act, "to");

    static const char *const keys[] = {"type", "template", "to", NULL};

    if (rp_json_check_keys(act, keys, "send_email", c->where, err) < 0)
        return err->code;
    if (!tpl || !rp_str_is_name(tpl))
        return rp_error_field(err, RP_EVALIDATION, c->where, "required",
                              "send_email needs \"template\": an email template name");
    if (to && !json_is_string(to))
        return rp_error_field(err, RP_EVALIDATION, c->where, "invalid_type",
                              "send_email: \"to\" is an expression");
    if (to && check_expr(c->meta, c->record, c->where, json_string_value(to), RP_V_TEXT, c->arena,
                         err) < 0)
        return err->code;
    return 0;
}

int rp_email_action_run(const struct rp_action_run *x, const json_t *act, struct rp_error *err)
{
    /* One message per rule job and action: a retried job finds it and sends nothing new. */
    const char *key = rp_arena_sprintf(x->arena, "job:%s:%zu", x->job->id, x->index);
    const char *id, *state;
    int rc = email_queue(x->a, json_string_value(json_object_get(act, "template")), x->object->name,
                         x->record_id, json_string_value(json_object_get(act, "to")), NULL, key,
                         "automation", x->arena, &id, &state, err);

    if (rc == RP_EVALIDATION || rc == RP_ENOTFOUND)
        return RP_EINVAL; /* a missing template or a bad address stays so: no retry */
    return rc;
}

/* ---- listing messages ---- */

struct message_rows {
    struct rp_buf *out;
    size_t n;
};

static int message_list_row(void *ctx, const struct rp_value *cols, size_t n)
{
    static const char *const names[] = {"id",          "template",   "object", "record_id",
                                        "to",          "subject",    "state",  "error",
                                        "campaign_id", "created_at", "sent_at"};
    struct message_rows *l = ctx;

    if (n < 11)
        return 0;
    rp_buf_adds(l->out, l->n++ ? ",{" : "{");
    for (size_t i = 0; i < 11; i++) {
        struct rp_value v = cols[i];
        if (i >= 9 && v.type == RP_V_INT)
            v = rp_value_typed_int(RP_V_DATETIME, v.u.i);
        rp_buf_addf(l->out, "%s\"%s\":", i ? "," : "", names[i]);
        rp_value_to_json(l->out, &v);
    }
    rp_buf_addc(l->out, '}');
    return 0;
}

int rp_email_messages(struct rp_automation *a, const struct rp_principal *p, const char *record_id,
                      const char *state, size_t limit, struct rp_buf *out, struct rp_error *err)
{
    struct message_rows l = {.out = out};
    struct rp_arena arena;
    struct rp_store_conn *c;
    struct rp_sql q;
    int rc;

    if ((rc = rp_policy_check(p, NULL, RP_ACT_MANAGE_AUTOMATION, err)) < 0)
        return rc;
    rp_arena_init(&arena);
    rp_sql_init(&q, &arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT id, template, object, record_id, to_addr, subject, state, error,"
                   " campaign_id, created_at, sent_at FROM rp_email_message WHERE 1 = 1");
    if (record_id) {
        rp_sql_add(&q, " AND record_id = ");
        rp_sql_param(&q, rp_value_cstr(record_id));
    }
    if (state) {
        rp_sql_add(&q, " AND state = ");
        rp_sql_param(&q, rp_value_cstr(state));
    }
    rp_sql_add(&q, " ORDER BY created_at DESC, id DESC LIMIT ");
    rp_sql_param(&q, rp_value_int((int64_t)limit));
    rp_buf_adds(out, "{\"data\":[");
    c = rp_store_reader_acquire(a->store);
    rc = rp_store_query(c, &q, message_list_row, &l, err);
    rp_store_reader_release(a->store, c);
    rp_buf_adds(out, "]}");
    rp_arena_release(&arena);
    return rc;
}

/* ---- one stored message ---- */

struct message {
    const char *id, *object, *record_id, *to, *subject, *text, *html, *purpose, *unsubscribe_url,
        *state, *campaign;
    bool found;
};

struct message_row {
    struct message *m;
    struct rp_arena *arena;
};

static const char *col_text(struct rp_arena *arena, const struct rp_value *v)
{
    return v->type == RP_V_TEXT ? rp_arena_strndup(arena, v->u.s.p, v->u.s.len) : NULL;
}

static int message_row_fn(void *ctx, const struct rp_value *cols, size_t n)
{
    struct message_row *x = ctx;
    const char **dst[] = {&x->m->id,    &x->m->object,  &x->m->record_id,
                          &x->m->to,    &x->m->subject, &x->m->text,
                          &x->m->html,  &x->m->purpose, &x->m->unsubscribe_url,
                          &x->m->state, &x->m->campaign};

    if (n < 11)
        return 1;
    for (size_t i = 0; i < 11; i++)
        *dst[i] = col_text(x->arena, &cols[i]);
    x->m->found = true;
    return 1;
}

static int message_load(struct rp_automation *a, const char *id, struct rp_arena *arena,
                        struct message *m, struct rp_error *err)
{
    struct message_row x = {.m = m, .arena = arena};
    struct rp_store_conn *c;
    struct rp_sql q;
    int rc;

    memset(m, 0, sizeof(*m));
    rp_sql_init(&q, arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT id, object, record_id, to_addr, subject, body_text, body_html, purpose,"
                   " unsubscribe_url, state, campaign_id FROM rp_email_message WHERE id = ");
    rp_sql_param(&q, rp_value_cstr(id));
    c = rp_store_reader_acquire(a->store);
    rc = rp_store_query(c, &q, message_row_fn, &x, err);
    rp_store_reader_release(a->store, c);
    return rc;
}

struct state_unit {
    const char *id, *state, *error;
    int64_t sent_at;
};

static int state_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct state_unit *x = ctx;
    struct rp_arena a;
    struct rp_sql q;
    int rc;

    rp_arena_init(&a);
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "UPDATE rp_email_message SET state = ");
    rp_sql_param(&q, rp_value_cstr(x->state));
    rp_sql_add(&q, ", error = ");
    rp_sql_param(&q, opt_text(x->error));
    rp_sql_add(&q, ", sent_at = ");
    rp_sql_param(&q, x->sent_at ? rp_value_int(x->sent_at) : rp_value_null());
    rp_sql_add(&q, " WHERE id = ");
    rp_sql_param(&q, rp_value_cstr(x->id));
    rp_sql_add(&q, " AND state = 'queued'");
    rc = rp_store_exec(c, &q, NULL, err);
    rp_arena_release(&a);
    return rc;
}

static int set_state(struct rp_automation *a, const char *id, const char *state, const char *error,
                     int64_t sent_at, struct rp_error *err)
{
    struct state_unit x = {.id = id, .state = state, .error = error, .sent_at = sent_at};
    return rp_store_write(a->store, state_run, &x, err);
}

/* ---- records written by email: touchpoints and consent withdrawals ---- */

/* Writes one record of object as internal work; key (may be NULL) makes it idempotent. */
static int internal_create(struct rp_automation *a, const char *object, json_t *data,
                           const char *key, struct rp_arena *arena, struct rp_error *err)
{
    struct rp_write w = {.op = RP_WRITE_CREATE, .data = data, .if_match = -1};
    struct rp_error werr; /* in arena, which err may outlive */
    struct rp_write_request wr = {.principal = &a->actor,
                                  .object = object,
                                  .writes = &w,
                                  .nwrites = 1,
                                  .idempotency_key = key,
                                  .fingerprint = key,
                                  .arena = arena,
                                  .err = &werr};
    int rc;

    rp_error_init(&werr, arena);
    rc = rp_records_write(a->records, &wr);
    rp_records_request_release(&wr);
    if (rc < 0)
        return rp_error_copy(err, &werr) ? err->code : rc;
    if (w.status >= 400)
        return w.err.code ? rp_error_copy(err, &w.err) : rp_error_set(err, RP_EINTERNAL, "?");
    return 0;
}

static const char *now_text(struct rp_automation *a, struct rp_arena *arena)
{
    struct rp_buf b;
    rp_buf_init(&b, arena, 64);
    rp_time_format_datetime(&b, rp_clock_now_ms(a->clock));
    return b.data;
}

static bool is_person(const struct message *m)
{
    return m->object && (strcmp(m->object, "contact") == 0 || strcmp(m->object, "lead") == 0);
}

static int touchpoint(struct rp_automation *a, const struct message *m, const char *type,
                      const char *url, const char *key, struct rp_arena *arena,
                      struct rp_error *err)
{
    json_t *data;
    int rc;

    if (!is_person(m))
        return 0; /* a touchpoint belongs to a lead or a contact */
    data =
        json_pack("{ssssss}", "type", type, "channel", "email", "occurred_at", now_text(a, arena));
    json_object_set_new(data, strcmp(m->object, "lead") == 0 ? "lead_id" : "contact_id",
                        json_string(m->record_id));
    if (m->campaign)
        json_object_set_new(data, "campaign_id", json_string(m->campaign));
    if (url)
        json_object_set_new(data, "url", json_string(url));
    rc = internal_create(a, "touchpoint", data, key, arena, err);
    json_decref(data);
    return rc;
}

int rp_email_unsubscribe(struct rp_automation *a, const char *token, struct rp_error *err)
{
    struct rp_arena arena;
    struct message m;
    const char *id, *url;
    json_t *data;
    int rc;

    rp_arena_init(&arena);
    if ((rc = token_open(a, RP_EMAIL_LINK_UNSUBSCRIBE, token, &arena, &id, &url, err)) < 0 ||
        (rc = message_load(a, id, &arena, &m, err)) < 0)
        goto out;
    if (!m.found || !is_person(&m)) {
        rc = rp_error_set(err, RP_EINVAL, "the link is not valid");
        goto out;
    }
    data = json_pack("{ssssssssssss}", "channel", "email", "purpose", m.purpose, "action",
                     "withdraw", "source", "unsubscribe_link", "occurred_at", now_text(a, &arena),
                     "evidence", rp_arena_sprintf(&arena, "unsubscribe link of message %s", m.id));
    json_object_set_new(data, strcmp(m.object, "lead") == 0 ? "lead_id" : "contact_id",
                        json_string(m.record_id));
    /* No idempotency key: a second click after a new grant must withdraw it again. */
    rc = internal_create(a, "consent", data, NULL, &arena, err);
    json_decref(data);
    if (rc < 0)
        rp_log_warn("unsubscribe of message %s could not be recorded: %s", m.id,
                    err->detail ? err->detail : "?");
out:
    rp_arena_release(&arena);
    return rc;
}

int rp_email_track(struct rp_automation *a, enum rp_email_link kind, const char *token,
                   struct rp_arena *arena, const char **url, struct rp_error *err)
{
    struct rp_error sub;
    struct message m;
    const char *id;
    int rc;

    *url = NULL;
    if (kind != RP_EMAIL_LINK_OPEN && kind != RP_EMAIL_LINK_CLICK)
        return rp_error_set(err, RP_EINVAL, "the link is not valid");
    if ((rc = token_open(a, kind, token, arena, &id, url, err)) < 0 ||
        (rc = message_load(a, id, arena, &m, err)) < 0)
        return rc;
    if (!m.found)
        return rp_error_set(err, RP_EINVAL, "the link is not valid");
    /* The reader gets the pixel or the page even when the touchpoint cannot be written. */
    rp_error_init(&sub, arena);
    if (touchpoint(a, &m, kind == RP_EMAIL_LINK_OPEN ? "opened" : "clicked", *url, NULL, arena,
                   &sub) < 0)
        rp_log_warn("a touchpoint of message %s could not be written: %s", m.id,
                    sub.detail ? sub.detail : "?");
    return 0;
}

/* ---- the RFC 5322 message ---- */

static void add_date(struct rp_buf *b, int64_t ms)
{
    static const char *const days[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int64_t day = rp_time_day_of(ms), secs = (ms - day * 86400000) / 1000, y;
    unsigned m, d;

    rp_time_civil_from_days(day, &y, &m, &d);
    rp_buf_addf(b, "%s, %02u %s %lld %02lld:%02lld:%02lld +0000", days[((day % 7) + 7) % 7], d,
                months[m - 1], (long long)y, (long long)(secs / 3600), (long long)(secs / 60 % 60),
                (long long)(secs % 60));
}

/* A header value as is when it is printable ASCII, else RFC 2047 encoded words of UTF-8. */
static void add_header_text(struct rp_buf *b, const char *s)
{
    size_t n = strlen(s), i = 0;
    bool plain = true;

    for (size_t k = 0; k < n && plain; k++)
        plain = (unsigned char)s[k] >= 0x20 && (unsigned char)s[k] < 0x7f;
    if (plain && strstr(s, "=?") == NULL) {
        rp_buf_adds(b, s);
        return;
    }
    while (i < n) {
        /* 45 bytes make 60 base64 characters: each encoded word stays under 76 */
        size_t len = n - i < 45 ? n - i : 45;
        char enc[sodium_base64_ENCODED_LEN(45, sodium_base64_VARIANT_ORIGINAL)];
        while (i + len < n && ((unsigned char)s[i + len] & 0xC0) == 0x80)
            len--; /* never split a UTF-8 sequence between words */
        sodium_bin2base64(enc, sizeof(enc), (const unsigned char *)s + i, len,
                          sodium_base64_VARIANT_ORIGINAL);
        rp_buf_addf(b, "%s=?UTF-8?B?%s?=", i ? "\r\n " : "", enc);
        i += len;
    }
}

static void add_base64_body(struct rp_buf *b, const char *s)
{
    size_t n = strlen(s);

    for (size_t i = 0; i < n; i += 57) { /* 57 bytes: lines of 76 characters */
        size_t len = n - i < 57 ? n - i : 57;
        char enc[sodium_base64_ENCODED_LEN(57, sodium_base64_VARIANT_ORIGINAL)];
        sodium_bin2base64(enc, sizeof(enc), (const unsigned char *)s + i, len,
                          sodium_base64_VARIANT_ORIGINAL);
        rp_buf_addf(b, "%s\r\n", enc);
    }
}

static void add_part(struct rp_buf *b, const char *type, const char *body)
{
    rp_buf_addf(b, "Content-Type: %s; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
                type);
    add_base64_body(b, body);
}

static int build_message(const struct message *m, const char *from, const char *from_addr,
                         int64_t now, struct rp_arena *arena, struct rp_buf *b)
{
    const char *domain = strchr(from_addr, '@') + 1;
    char boundary[64];

    rp_buf_init(b, arena, MESSAGE_MAX);
    rp_buf_adds(b, "Date: ");
    add_date(b, now);
    rp_buf_addf(b, "\r\nFrom: %s\r\nTo: <%s>\r\nSubject: ", from, m->to);
    add_header_text(b, m->subject);
    rp_buf_addf(b, "\r\nMessage-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n", m->id, domain);
    if (m->unsubscribe_url && is_person(m))
        rp_buf_addf(
            b, "List-Unsubscribe: <%s>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
            m->unsubscribe_url);
    if (!m->html) {
        add_part(b, "text/plain", m->text);
    } else {
        snprintf(boundary, sizeof(boundary), "=_rp_%s", m->id);
        rp_buf_addf(b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary);
        rp_buf_addf(b, "--%s\r\n", boundary);
        add_part(b, "text/plain", m->text);
        rp_buf_addf(b, "--%s\r\n", boundary);
        add_part(b, "text/html", m->html);
        rp_buf_addf(b, "--%s--\r\n", boundary);
    }
    return rp_buf_error(b) ? RP_ETOOBIG : 0;
}

/* ---- SMTP ---- */

struct upload {
    const char *p;
    size_t left;
};

static size_t upload_read(char *buf, size_t size, size_t nitems, void *ctx)
{
    struct upload *u = ctx;
    size_t n = size * nitems < u->left ? size * nitems : u->left;
    memcpy(buf, u->p, n);
    u->p += n;
    u->left -= n;
    return n;
}

/*
 * Sends data to one recipient. Returns 0, RP_EINVAL for a permanent refusal (a 5xx answer),
 * or RP_EIO for anything worth retrying.
 */
static int smtp_send(const struct email_conf *conf, const char *from_addr, const char *to,
                     const struct rp_buf *data, struct rp_arena *arena, struct rp_error *err)
{
    struct upload up = {data->data, data->len};
    struct curl_slist *rcpt = NULL;
    CURL *curl;
    CURLcode cc;
    long code = 0;
    int rc;

    if ((rc = rp_outbound_curl_ready(err)) < 0)
        return rc;
    if (!(curl = curl_easy_init()))
        return rp_error_set(err, RP_EIO, "could not start an SMTP transfer");
    rcpt = curl_slist_append(rcpt, rp_arena_sprintf(arena, "<%s>", to));
    curl_easy_setopt(curl, CURLOPT_URL, conf->smtp_url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, rp_arena_sprintf(arena, "<%s>", from_addr));
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, upload_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &up);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)data->len);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 60000L);
    if (conf->username && *conf->username) {
        /* Credentials travel only over TLS (smtps://, or STARTTLS required on smtp://). */
        curl_easy_setopt(curl, CURLOPT_USERNAME, conf->username);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, conf->password ? conf->password : "");
        curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    } else {
        curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    }
    cc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(curl);
    if (cc == CURLE_OK)
        return 0;
    if (code >= 500 && code < 600)
        return rp_error_set(err, RP_EINVAL, "the SMTP server refused the message (%ld): %s", code,
                            curl_easy_strerror(cc));
    return rp_error_set(err, RP_EIO, "SMTP delivery failed (%ld): %s", code,
                        curl_easy_strerror(cc));
}

static int send_job(void *ctx, const struct rp_job *job, struct rp_error *err)
{
    struct rp_automation *a = ctx;
    json_t *payload = rp_json_loads(job->payload, 0, NULL);
    const char *id = json_string_value(json_object_get(payload, "message"));
    struct rp_meta *meta = rp_meta_acquire(a->meta);
    struct email_conf conf = {0};
    struct rp_store_conn *c;
    struct rp_arena arena;
    struct rp_buf data;
    struct message m;
    const char *why = NULL;
    char from_addr[320];
    int64_t now = rp_clock_now_ms(a->clock);
    int rc;

    rp_arena_init(&arena);
    if (!id) {
        rc = rp_error_set(err, RP_EINVAL, "the job names no message");
        goto out;
    }
    if ((rc = message_load(a, id, &arena, &m, err)) < 0)
        goto out;
    if (!m.found || strcmp(m.state, "queued") != 0) {
        rc = 0; /* sent, suppressed or failed already: never twice */
        goto out;
    }
    c = rp_store_reader_acquire(a->store);
    rc = suppression(c, meta, m.object, m.record_id, m.purpose, &arena, &why, err);
    rp_store_reader_release(a->store, c);
    if (rc < 0)
        goto out;
    if (why) {
        rc = set_state(a, m.id, "suppressed", why, 0, err);
        goto out;
    }
    if ((rc = conf_load(a, &conf, &arena, err)) < 0)
        goto out;
    if (!conf.smtp_url || !conf.from || !from_address(conf.from, from_addr, sizeof(from_addr))) {
        /* Retried: an administrator may still set email.smtp_url and email.from. */
        rc = rp_error_set(err, RP_EIO, "email is not configured (email.smtp_url, email.from)");
        goto fail;
    }
    if (has_crlf(m.to) || !address_is_valid(m.to) || has_crlf(m.subject)) {
        rc = rp_error_set(err, RP_EINVAL, "the message's recipient or subject is not valid");
        goto fail;
    }
    if ((rc = build_message(&m, conf.from, from_addr, now, &arena, &data)) < 0) {
        rc = rp_error_set(err, RP_EINVAL, "the message is too large");
        goto fail;
    }
    if ((rc = smtp_send(&conf, from_addr, m.to, &data, &arena, err)) < 0)
        goto fail;
    {
        struct rp_error sub;
        rp_error_init(&sub, &arena);
        if ((rc = set_state(a, m.id, "sent", NULL, now, err)) < 0)
            goto out;
        /* The "sent" touchpoint is written once per message, whatever happens to the job. */
        if (touchpoint(a, &m, "sent", NULL, rp_arena_sprintf(&arena, "email:sent:%s", m.id), &arena,
                       &sub) < 0)
            rp_log_warn("the sent touchpoint of message %s could not be written: %s", m.id,
                        sub.detail ? sub.detail : "?");
    }
    goto out;
fail:
    if (rc == RP_EINVAL || job->attempt >= job->max_attempts) {
        struct rp_error ignore;
        rp_error_init(&ignore, NULL);
        set_state(a, m.id, "failed", err->detail, 0, &ignore);
    }
out:
    if (conf.password)
        sodium_memzero((char *)conf.password, strlen(conf.password));
    rp_meta_release(meta);
    json_decref(payload);
    rp_arena_release(&arena);
    return rc;
}

void rp_email_register(struct rp_automation *a)
{
    rp_jobs_register(a->jobs, RP_EMAIL_JOB, send_job, a, SEND_TRIES);
}
