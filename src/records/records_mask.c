/*
 * Masking of sensitive fields, and revealing them.
 *
 * A field marked "sensitive" in the metadata is shown masked to a caller without the reveal
 * permission on every read path: get, list, the record returned by writes, history, the change
 * feed and CSV export. Masking happens when a value is written out, never in the store, so a
 * caller with the permission and the audit log see the clear value.
 *
 * The rules, by field type (docs/api.md, "Masking"):
 *   phone      the digits between the first 3 and the last 4 become '*'; every other character
 *              stays, and a leading "+<country code>" followed by a separator is kept and not
 *              counted ("+86 138 0013 8000" -> "+86 138 **** 8000", "13800138000" ->
 *              "138****8000"); with fewer than 8 digits every digit is masked
 *   email      the local part masked as text, then '@' and the domain ("w***@xingyun.cn")
 *   date(time) "****-**-**"
 *   text, url  the first character and "***"; texts of 1 or 2 characters become "*" or "**"
 *   others     "****" (picklists, references, numbers, money, booleans)
 * Null stays null and the empty string stays empty. Text is counted in code points and never
 * split inside one; text that is not valid UTF-8 becomes "****".
 *
 * Filtering, sorting and searching on sensitive fields stay allowed (masking is about what is
 * shown, not what is known: a caller may still learn a value by asking questions about it).
 * Fields a caller must not learn at all are hidden by field-level security instead
 * (rp_policy_field): they are left out of every output here and are unknown to filters, sorts
 * and fields= lists.
 */
#include "records/records_int.h"
#include "base/json.h"
#include "base/limits.h"
#include "base/utf8.h"

#include <stdio.h>

#define MASK_HIDDEN "****"
#define MASK_DATE   "****-**-**"

/* Whether a caller sees sensitive fields in clear: the "reveal" permission. */
static bool may_reveal(const struct rp_principal *p)
{
    return rp_policy_allows(p, NULL, RP_ACT_REVEAL);
}

bool rp_records_masked(const struct rp_principal *p, const struct rp_field *f)
{
    return f->sensitive && !may_reveal(p);
}

bool rp_records_masks_any(const struct rp_principal *p)
{
    return !may_reveal(p);
}

/* ---- the rules ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* First 3 and last 4 digits kept; the country code of "+CC<separator>" kept and not counted. */
static void mask_phone(const char *s, size_t n, struct rp_buf *b)
{
    size_t start = 0, ndigits = 0, seen = 0;

    if (n > 1 && s[0] == '+') {
        size_t i = 1;
        while (i < n && is_digit(s[i]))
            i++;
        if (i > 1 && i < n)
            start = i; /* "+86 ...": the separator ends the country code */
    }
    for (size_t i = start; i < n; i++)
        ndigits += is_digit(s[i]);
    rp_buf_add(b, s, start);
    for (size_t i = start; i < n; i++) {
        if (!is_digit(s[i])) {
            rp_buf_addc(b, s[i]);
            continue;
        }
        seen++;
        if (ndigits >= 8 && (seen <= 3 || seen > ndigits - 4))
            rp_buf_addc(b, s[i]);
        else
            rp_buf_addc(b, '*');
    }
}

/* The first code point and "***"; 1 or 2 code points become as many '*'. */
static void mask_text(const char *s, size_t n, struct rp_buf *b)
{
    size_t first = rp_utf8_valid_prefix(s, n), count = rp_utf8_length(s, n);

    if (n == 0)
        return;
    if (count <= 2) {
        rp_buf_adds(b, count == 1 ? "*" : "**");
        return;
    }
    rp_buf_add(b, s, first);
    rp_buf_adds(b, "***");
}

static void mask_email(const char *s, size_t n, struct rp_buf *b)
{
    const char *at = NULL;

    /* The last '@': a quoted local part may hold one too. */
    for (size_t i = n; i > 0; i--)
        if (s[i - 1] == '@') {
            at = s + i - 1;
            break;
        }
    if (!at || at == s) {
        mask_text(s, n, b);
        return;
    }
    mask_text(s, (size_t)(at - s), b);
    rp_buf_add(b, at, n - (size_t)(at - s));
}

void rp_records_mask_value(const struct rp_field *f, const struct rp_value *in, struct rp_arena *a,
                           struct rp_value *out)
{
    struct rp_buf b;

    if (in->type == RP_V_NULL) {
        *out = rp_value_null();
        return;
    }
    if (f->type == RP_F_DATE || f->type == RP_F_DATETIME || in->type == RP_V_DATE ||
        in->type == RP_V_DATETIME) {
        *out = rp_value_cstr(MASK_DATE);
        return;
    }
    if (in->type != RP_V_TEXT ||
        !(f->type == RP_F_PHONE || f->type == RP_F_EMAIL || f->type == RP_F_TEXT ||
          f->type == RP_F_URL || f->type == RP_F_FORMULA) ||
        !rp_utf8_is_valid(in->u.s.p, in->u.s.len)) {
        *out = rp_value_cstr(MASK_HIDDEN);
        return;
    }
    /* A masked value is never longer than its text plus "***". */
    rp_buf_init(&b, a, in->u.s.len + 4);
    if (f->type == RP_F_PHONE)
        mask_phone(in->u.s.p, in->u.s.len, &b);
    else if (f->type == RP_F_EMAIL)
        mask_email(in->u.s.p, in->u.s.len, &b);
    else
        mask_text(in->u.s.p, in->u.s.len, &b);
    *out = rp_buf_error(&b) ? rp_value_cstr(MASK_HIDDEN) : rp_value_text(b.data, b.len);
}

/* ---- masking the changes of history and the change feed ---- */

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* End of the JSON string starting at s[i] == '"' (just past its closing quote), or 0. */
static size_t string_end(const char *s, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return 0;
}

/* End of the JSON value starting at s[i], or 0 if there is none. */
static size_t value_end(const char *s, size_t n, size_t i)
{
    size_t depth = 0;

    if (i >= n)
        return 0;
    if (s[i] == '"')
        return string_end(s, n, i);
    if (s[i] != '[' && s[i] != '{') {
        size_t start = i;
        while (i < n && s[i] != ',' && s[i] != ']' && s[i] != '}' && s[i] != ' ' && s[i] != '\n')
            i++;
        return i > start ? i : 0;
    }
    for (; i < n; i++) {
        if (s[i] == '"') {
            if (!(i = string_end(s, n, i)))
                return 0;
            i--;
        } else if (s[i] == '[' || s[i] == '{') {
            depth++;
        } else if ((s[i] == ']' || s[i] == '}') && --depth == 0) {
            return i + 1;
        }
    }
    return 0;
}

/* Writes one element of a sensitive field's [old, new] pair masked. */
static void mask_json_element(const struct rp_field *f, const char *s, size_t n, struct rp_arena *a,
                              struct rp_buf *out)
{
    struct rp_value in, masked;
    json_t *j = rp_json_loadb(s, n, JSON_DECODE_ANY, NULL);

    if (json_is_null(j))
        in = rp_value_null();
    else if (json_is_string(j))
        in = rp_value_text(rp_arena_strndup(a, json_string_value(j), json_string_length(j)),
                           json_string_length(j));
    else
        in = rp_value_int(0); /* any other value: hidden whole */
    json_decref(j);
    rp_records_mask_value(f, &in, a, &masked);
    rp_value_to_json(out, &masked);
}

/* Writes a sensitive field's value in changes: [old, new] masked element by element. */
static int mask_json_pair(const struct rp_field *f, const char *s, size_t n, struct rp_arena *a,
                          struct rp_buf *out)
{
    size_t i = 1, end;
    bool first = true;

    if (s[0] != '[') {
        if (n != 4 || memcmp(s, "null", 4) != 0)
            return -1;
        rp_buf_adds(out, "null"); /* the field was named but not changed */
        return 0;
    }
    rp_buf_addc(out, '[');
    for (;;) {
        i = skip_ws(s, n, i);
        if (i < n && s[i] == ']')
            break;
        if (!(end = value_end(s, n, i)))
            return -1;
        if (!first)
            rp_buf_addc(out, ',');
        first = false;
        mask_json_element(f, s + i, end - i, a, out);
        i = skip_ws(s, n, end);
        if (i < n && s[i] == ',')
            i++;
        else if (i >= n || s[i] != ']')
            return -1;
    }
    rp_buf_addc(out, ']');
    return 0;
}

/*
 * Scans {"field": value, ...} as the write path stores it, copying every value verbatim except
 * those of sensitive fields (re-encoding through jansson would change how numbers are written).
 */
static int mask_changes(const struct rp_principal *p, const struct rp_object *o, const char *s,
                        size_t n, struct rp_arena *a, struct rp_buf *out)
{
    bool limited = rp_policy_limits_fields(p, o);
    size_t i = skip_ws(s, n, 0), kend, vstart, vend;
    bool first = true;

    if (i >= n || s[i] != '{')
        return -1;
    rp_buf_addc(out, '{');
    i++;
    for (;;) {
        const struct rp_field *f;
        char name[RP_LIMIT_NAME_BYTES + 1];

        i = skip_ws(s, n, i);
        if (i < n && s[i] == '}')
            break;
        if (i >= n || s[i] != '"' || !(kend = string_end(s, n, i)))
            return -1;
        vstart = skip_ws(s, n, kend);
        if (vstart >= n || s[vstart] != ':')
            return -1;
        vstart = skip_ws(s, n, vstart + 1);
        if (!(vend = value_end(s, n, vstart)))
            return -1;
        /* Field names are plain identifiers, so the key needs no unescaping. */
        f = NULL;
        if (kend - i - 2 <= RP_LIMIT_NAME_BYTES) {
            memcpy(name, s + i + 1, kend - i - 2);
            name[kend - i - 2] = '\0';
            f = rp_meta_field(o, name);
        }
        /* Hidden fields, and fields gone from the metadata, are left out for a limited caller. */
        if (limited && (!f || rp_policy_field(p, o, f) == RP_FIELD_HIDDEN)) {
            i = skip_ws(s, n, vend);
            if (i < n && s[i] == ',')
                i++;
            else if (i >= n || s[i] != '}')
                return -1;
            continue;
        }
        if (!first)
            rp_buf_addc(out, ',');
        first = false;
        rp_buf_add(out, s + i, kend - i);
        rp_buf_addc(out, ':');
        if (f && f->sensitive && !may_reveal(p)) {
            if (mask_json_pair(f, s + vstart, vend - vstart, a, out) < 0)
                return -1;
        } else {
            rp_buf_add(out, s + vstart, vend - vstart);
        }
        i = skip_ws(s, n, vend);
        if (i < n && s[i] == ',')
            i++;
        else if (i >= n || s[i] != '}')
            return -1;
    }
    rp_buf_addc(out, '}');
    return 0;
}

void rp_records_changes_json(const struct rp_principal *p, const struct rp_object *o,
                             const char *changes, size_t len, struct rp_arena *a,
                             struct rp_buf *out)
{
    struct rp_buf tmp;

    if (!changes || len == 0) {
        rp_buf_adds(out, "{}");
        return;
    }
    if (!rp_records_masks_any(p) && !(o && rp_policy_limits_fields(p, o))) {
        rp_buf_add(out, changes, len);
        return;
    }
    /* An object dropped from the metadata has no fields to tell apart: hide every value. */
    rp_buf_init(&tmp, a, out->max);
    if (!o || mask_changes(p, o, changes, len, a, &tmp) < 0 || rp_buf_error(&tmp)) {
        rp_buf_adds(out, "{}");
        return;
    }
    rp_buf_add(out, tmp.data, tmp.len);
}

/* ---- reveal ---- */

struct reveal {
    const struct rp_meta *m;
    const struct rp_principal *p;
    const struct rp_object *o;
    const char *id;
    const char *request_id;
    const bool *wanted; /* by field index */
    int64_t now;
    struct rp_arena *arena;
    struct rp_row row; /* outcome: the record as read in the unit */
};

/* Reads the record and writes the audit entry in one transaction. */
static int reveal_unit(struct rp_store_conn *c, void *vctx, struct rp_error *err)
{
    struct reveal *rv = vctx;
    const struct rp_object *o = rv->o;
    struct rp_buf changes;
    struct rp_sql q;
    bool first = true;
    int rc;

    if ((rc = rp_records_fetch(c, rv->m, rv->p, o, rv->id, rv->arena, &rv->row, err)) < 0)
        return rc;
    if (rv->row.deleted_at)
        return rp_error_set(err, RP_ENOTFOUND, "%s \"%s\" not found", o->name, rv->id);
    /* The names of the fields only: clear values never reach the log. */
    rp_buf_init(&changes, rv->arena, RP_LIMIT_STRING_BYTES);
    rp_buf_adds(&changes, "{\"fields\":[");
    for (size_t i = 0; i < o->nfields; i++) {
        if (!rv->wanted[i])
            continue;
        if (!first)
            rp_buf_addc(&changes, ',');
        first = false;
        rp_buf_add_json_str(&changes, o->fields[i].name, strlen(o->fields[i].name));
    }
    rp_buf_adds(&changes, "]}");
    if (rp_buf_error(&changes))
        return rp_error_set(err, RP_ETOOBIG, "audit entry too large");
    const struct rp_value audit[] = {rp_value_int(rv->now),
                                     rp_value_cstr(rv->p->user_id),
                                     rp_value_cstr("reveal"),
                                     rp_value_cstr(o->name),
                                     rp_value_cstr(rv->id),
                                     rp_value_text(changes.data, changes.len),
                                     rv->request_id ? rp_value_cstr(rv->request_id)
                                                    : rp_value_null()};
    rp_sql_init(&q, rv->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_audit(at, actor, action, object, record_id, changes,"
                   " request_id) VALUES ");
    rp_sql_param_list(&q, audit, sizeof(audit) / sizeof(audit[0]));
    return rp_store_exec(c, &q, NULL, err);
}

/* Flags the fields named in a JSON array; every sensitive field when names is NULL. */
static int reveal_fields(const struct rp_principal *p, const struct rp_object *o,
                         const json_t *names, struct rp_arena *a, bool **wanted,
                         struct rp_error *err)
{
    bool *w = rp_arena_calloc(a, o->nfields, sizeof(bool));
    const json_t *v;
    size_t i;

    *wanted = w;
    if (!names) {
        for (i = 0; i < o->nfields; i++)
            w[i] =
                o->fields[i].sensitive && rp_policy_field(p, o, &o->fields[i]) != RP_FIELD_HIDDEN;
        return 0;
    }
    if (!json_is_array(names) || json_array_size(names) == 0)
        return rp_error_field(err, RP_EINVAL, "fields", "invalid",
                              "\"fields\" must be a non-empty array of field names");
    if (json_array_size(names) > RP_LIMIT_FIELDS_PER_RECORD)
        return rp_error_field(err, RP_EINVAL, "fields", "too_many",
                              "\"fields\" takes at most %d names", RP_LIMIT_FIELDS_PER_RECORD);
    json_array_foreach(names, i, v)
    {
        const char *name = json_string_value(v);
        const struct rp_field *f = name ? rp_meta_field(o, name) : NULL;
        if (f && rp_policy_field(p, o, f) == RP_FIELD_HIDDEN)
            f = NULL;
        if (!name)
            return rp_error_field(err, RP_EINVAL, "fields", "invalid",
                                  "\"fields\" must be a non-empty array of field names");
        if (!f)
            return rp_error_field(err, RP_EINVAL, "fields", "unknown_field",
                                  "unknown field \"%s\" on object \"%s\"", name, o->name);
        if (!f->sensitive)
            return rp_error_field(err, RP_EINVAL, "fields", "not_sensitive",
                                  "field \"%s\" of object \"%s\" is not sensitive", name, o->name);
        w[f->index] = true;
    }
    return 0;
}

int rp_records_reveal(struct rp_records *rs, const struct rp_principal *p, const char *object,
                      const char *id, const json_t *fields, const char *request_id,
                      struct rp_arena *a, struct rp_buf *out, struct rp_error *err)
{
    struct rp_meta *m = rp_meta_acquire(rs->meta);
    struct reveal rv = {.m = m, .p = p, .id = id, .request_id = request_id, .arena = a};
    bool *wanted = NULL;
    bool first = true;
    int rc;

    rv.o = rp_meta_object(m, object);
    if (!rv.o) {
        rc = rp_error_set(err, RP_ENOTFOUND, "object \"%s\" does not exist", object);
        goto out;
    }
    if ((rc = rp_policy_check(p, object, RP_ACT_READ, err)) < 0)
        goto out;
    if ((rc = rp_policy_check(p, NULL, RP_ACT_REVEAL, err)) < 0)
        goto out;
    if ((rc = reveal_fields(p, rv.o, fields, a, &wanted, err)) < 0)
        goto out;
    rv.wanted = wanted;
    rv.now = rp_clock_now_ms(rs->clock);
    if ((rc = rp_store_write(rs->store, reveal_unit, &rv, err)) < 0)
        goto out;
    rp_buf_adds(out, "{\"id\":");
    rp_buf_add_json_str(out, id, strlen(id));
    rp_buf_adds(out, ",\"fields\":{");
    for (size_t i = 0; i < rv.o->nfields; i++) {
        const struct rp_field *f = &rv.o->fields[i];
        if (!wanted[i])
            continue;
        if (!first)
            rp_buf_addc(out, ',');
        first = false;
        rp_buf_add_json_str(out, f->name, strlen(f->name));
        rp_buf_addc(out, ':');
        if (f->type == RP_F_MULTI_PICKLIST && rv.row.values[i].type == RP_V_TEXT)
            rp_buf_add(out, rv.row.values[i].u.s.p, rv.row.values[i].u.s.len);
        else
            rp_value_to_json(out, &rv.row.values[i]);
    }
    rp_buf_adds(out, "}}");
    rc = rp_buf_error(out) ? rp_error_set(err, RP_ETOOBIG, "response too large") : 0;
out:
    rp_meta_release(m);
    return rc;
}
