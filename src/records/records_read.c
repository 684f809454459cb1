/*
 * The read path. Every query is built here, with the policy's condition
 * always included; the caller's filter is compiled by the expression
 * language into parameters, never into SQL text.
 *
 * Paging is keyset: the sort keys of the last row, plus its rowid as the
 * tie-breaker, are carried in an opaque cursor (base64url JSON), so deep pages
 * cost the same as the first. Because every index holds the rowid after its
 * columns, and indexed fields are indexed as (field, created_at), a filter on
 * one field sorted by recency is served by one index walk that stops after a
 * page. Nullable sort keys are paired with an "IS NULL" key so nulls sort last
 * in both directions and on both store dialects.
 *
 * Full-text search: a query whose words all have 3+ characters and no explicit
 * sort is driven by the FTS5 trigram index in rowid order (newest first), so it
 * stops after a page whatever the number of matches.
 */
#include "records/records_int.h"
#include "base/json.h"
#include "base/limits.h"
#include "base/utf8.h"
#include "expr/expr.h"

#include <sodium.h>
#include <stdio.h>

#define SORT_MAX_KEYS     4
#define SEARCH_MAX_TERMS  8
#define TRIGRAM_MIN_CHARS 3

struct sort_key {
    const struct rp_field *f; /* NULL: the rowid tie-breaker */
    bool desc;
    bool nullable;
};

struct sort_spec {
    struct sort_key keys[SORT_MAX_KEYS + 1]; /* the rowid tie-breaker is last */
    size_t n;
    const char *rowid_sql; /* "t".rowid, or "f".rowid when the FTS index drives the query */
};

static void key_sql(const struct sort_spec *s, const struct sort_key *k, struct rp_sql *q)
{
    if (k->f)
        rp_sql_addf(q, "\"t\".\"%s\"", k->f->name);
    else
        rp_sql_add(q, s->rowid_sql);
}

static int parse_sort(const struct rp_principal *pr, const struct rp_object *o, const char *sort,
                      struct sort_spec *s, struct rp_error *err)
{
    const char *p = sort;

    s->n = 0;
    s->rowid_sql = "\"t\".rowid";
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char name[RP_LIMIT_NAME_BYTES + 1];
        bool desc = false;
        const struct rp_field *f;

        if (n > 0 && (*p == '-' || *p == '+')) {
            desc = *p == '-';
            p++;
            n--;
        }
        if (n == 0 || n > RP_LIMIT_NAME_BYTES)
            return rp_error_field(
                err, RP_EINVAL, "sort", "invalid",
                "parameter \"sort\" must be field names separated by commas, each optionally prefixed by \"-\"");
        memcpy(name, p, n);
        name[n] = '\0';
        f = rp_meta_field(o, name);
        if (f && !rp_records_field_visible(pr, o, f))
            f = NULL;
        if (!f)
            return rp_error_field(err, RP_EINVAL, "sort", "unknown_field",
                                  "cannot sort by unknown field \"%s\" on object \"%s\"", name,
                                  o->name);
        if (f->type == RP_F_FORMULA || f->type == RP_F_MULTI_PICKLIST)
            return rp_error_field(err, RP_EINVAL, "sort", "not_sortable",
                                  "cannot sort by field \"%s\"", name);
        if (s->n == SORT_MAX_KEYS)
            return rp_error_field(err, RP_EINVAL, "sort", "too_many",
                                  "parameter \"sort\" takes at most %d fields", SORT_MAX_KEYS);
        for (size_t i = 0; i < s->n; i++)
            if (s->keys[i].f == f)
                return rp_error_field(err, RP_EINVAL, "sort", "duplicate",
                                      "field \"%s\" appears twice in \"sort\"", name);
        s->keys[s->n].f = f;
        s->keys[s->n].desc = desc;
        /* System fields (but owner_id) and required fields are never null. */
        s->keys[s->n].nullable = !f->required && (!f->system || strcmp(f->name, "owner_id") == 0);
        s->n++;
        p += n;
        if (*p == ',')
            p++;
    }
    /* The tie-breaker runs the way of the last key, so one index walk serves the order. */
    s->keys[s->n].f = NULL;
    s->keys[s->n].desc = s->n ? s->keys[s->n - 1].desc : false;
    s->keys[s->n].nullable = false;
    s->n++;
    return 0;
}

static void append_sort_spec(const struct sort_spec *s, struct rp_buf *b)
{
    for (size_t i = 0; i < s->n; i++)
        rp_buf_addf(b, "%s%s%s", i ? "," : "", s->keys[i].desc ? "-" : "",
                    s->keys[i].f ? s->keys[i].f->name : ":rowid");
}

/* ---- cursors ---- */

static char *encode_cursor(const struct sort_spec *s, const struct rp_row *row, struct rp_arena *a)
{
    struct rp_buf b;
    char *out;
    size_t outlen;

    rp_buf_init(&b, a, RP_LIMIT_STRING_BYTES);
    rp_buf_adds(&b, "{\"s\":\"");
    append_sort_spec(s, &b);
    rp_buf_adds(&b, "\",\"k\":[");
    for (size_t i = 0; i < s->n; i++) {
        struct rp_value rowid = rp_value_int(row->rowid);
        const struct rp_value *v = s->keys[i].f ? &row->values[s->keys[i].f->index] : &rowid;
        if (i)
            rp_buf_addc(&b, ',');
        if (v->type == RP_V_NULL)
            rp_buf_adds(&b, "null");
        else if (v->type == RP_V_TEXT)
            rp_buf_add_json_str(&b, v->u.s.p, v->u.s.len);
        else if (v->type == RP_V_NUM)
            rp_buf_addf(&b, "%.17g", v->u.d);
        else if (v->type == RP_V_BOOL)
            rp_buf_adds(&b, v->u.b ? "1" : "0");
        else
            rp_buf_add_i64(&b, v->u.i);
    }
    rp_buf_adds(&b, "]}");
    outlen = sodium_base64_ENCODED_LEN(b.len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    out = rp_arena_alloc(a, outlen);
    sodium_bin2base64(out, outlen, (const unsigned char *)b.data, b.len,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

static int cursor_error(struct rp_error *err)
{
    return rp_error_field(
        err, RP_EINVAL, "cursor", "invalid",
        "parameter \"cursor\" is not a cursor of this list; start again without it");
}

static int decode_cursor(const struct sort_spec *s, const char *cursor, struct rp_arena *a,
                         struct rp_value *vals, struct rp_error *err)
{
    size_t n = strlen(cursor), binlen;
    unsigned char *bin;
    struct rp_buf spec;
    json_t *j, *keys;
    int rc = RP_EINVAL;

    if (n == 0 || n > 8192)
        return cursor_error(err);
    bin = rp_arena_alloc(a, n + 1);
    if (sodium_base642bin(bin, n, cursor, n, NULL, &binlen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return cursor_error(err);
    j = rp_json_loadb((const char *)bin, binlen, JSON_REJECT_DUPLICATES, NULL);
    if (!j)
        return cursor_error(err);
    rp_buf_init(&spec, a, 4096);
    append_sort_spec(s, &spec);
    keys = json_object_get(j, "k");
    if (!json_is_string(json_object_get(j, "s")) ||
        strcmp(json_string_value(json_object_get(j, "s")), spec.data) != 0 ||
        !json_is_array(keys) || json_array_size(keys) != s->n) {
        cursor_error(err);
        goto out;
    }
    for (size_t i = 0; i < s->n; i++) {
        const json_t *k = json_array_get(keys, i);
        enum rp_vtype t = s->keys[i].f ? s->keys[i].f->vtype : RP_V_INT;
        if (json_is_null(k) && s->keys[i].nullable) {
            vals[i] = rp_value_null();
        } else if (t == RP_V_TEXT && json_is_string(k)) {
            vals[i] =
                rp_value_text(rp_arena_strndup(a, json_string_value(k), json_string_length(k)),
                              json_string_length(k));
        } else if (t == RP_V_NUM && json_is_number(k)) {
            vals[i] = rp_value_num(json_number_value(k));
        } else if (t != RP_V_TEXT && t != RP_V_NUM && json_is_integer(k)) {
            vals[i] = rp_value_int(json_integer_value(k));
        } else {
            cursor_error(err);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(j);
    return rc;
}

static void keyset_sql(const struct sort_spec *s, const struct rp_value *vals, struct rp_sql *q)
{
    /* (k1 > v1) OR (k1 = v1 AND k2 > v2) OR ..., with nulls after every value. */
    rp_sql_add(q, " AND (");
    for (size_t i = 0; i < s->n; i++) {
        const struct sort_key *k = &s->keys[i];
        const char *op = k->desc ? " < " : " > ";
        if (i)
            rp_sql_add(q, " OR ");
        rp_sql_add(q, "(");
        for (size_t j = 0; j < i; j++) {
            key_sql(s, &s->keys[j], q);
            if (vals[j].type == RP_V_NULL) {
                rp_sql_add(q, " IS NULL AND ");
            } else {
                rp_sql_add(q, " = ");
                rp_sql_param(q, vals[j]);
                rp_sql_add(q, " AND ");
            }
        }
        if (vals[i].type == RP_V_NULL) {
            rp_sql_add(q, "1 = 0");
        } else if (k->nullable) {
            rp_sql_add(q, "(");
            key_sql(s, k, q);
            rp_sql_add(q, op);
            rp_sql_param(q, vals[i]);
            rp_sql_add(q, " OR ");
            key_sql(s, k, q);
            rp_sql_add(q, " IS NULL)");
        } else {
            key_sql(s, k, q);
            rp_sql_add(q, op);
            rp_sql_param(q, vals[i]);
        }
        rp_sql_add(q, ")");
    }
    rp_sql_add(q, ")");
}

static void order_sql(const struct sort_spec *s, struct rp_sql *q)
{
    rp_sql_add(q, " ORDER BY ");
    for (size_t i = 0; i < s->n; i++) {
        const struct sort_key *k = &s->keys[i];
        if (i)
            rp_sql_add(q, ", ");
        if (k->nullable) {
            rp_sql_add(q, "(");
            key_sql(s, k, q);
            rp_sql_add(q, " IS NULL), ");
        }
        key_sql(s, k, q);
        if (k->desc)
            rp_sql_add(q, " DESC");
    }
}

/* ---- search ---- */

struct search {
    struct rp_buf phrase;     /* FTS5 query: words of 3+ characters, each quoted */
    const char **short_words; /* words of 1-2 characters, as LIKE patterns */
    size_t nshort;
    const char **long_words; /* words of 3+ characters, as LIKE patterns */
    size_t nlong;
    /* the caller may not read some searchable field: every word must match a visible one
       (the full-text index holds every searchable field) */
    const bool *visible; /* by field index, or NULL when every field is visible */
    /* PostgreSQL: no FTS5 table; each long word is an ILIKE on the document expression,
       which a pg_trgm index answers (records_schema.c, sync_trgm) */
    bool trgm;
};

/* A LIKE pattern matching text that contains the n bytes of w. */
static const char *like_pattern(const char *w, size_t n, struct rp_arena *a)
{
    struct rp_buf like;
    rp_buf_init(&like, a, 4 * n + 3);
    rp_buf_addc(&like, '%');
    for (size_t i = 0; i < n; i++) {
        if (w[i] == '%' || w[i] == '_' || w[i] == '\\')
            rp_buf_addc(&like, '\\');
        rp_buf_addc(&like, w[i]);
    }
    rp_buf_addc(&like, '%');
    return like.data;
}

static int parse_search(const struct rp_principal *pr, const struct rp_object *o, const char *text,
                        struct rp_arena *a, struct search *s, struct rp_error *err)
{
    const char *p = text;
    size_t nterms = 0;

    memset(s, 0, sizeof(*s));
    rp_buf_init(&s->phrase, a, 4096);
    if (o->nsearch == 0)
        return rp_error_field(err, RP_EINVAL, "q", "not_searchable",
                              "object \"%s\" has no full-text search fields", o->name);
    if (strlen(text) > 256 || !rp_utf8_is_valid(text, strlen(text)))
        return rp_error_field(err, RP_EINVAL, "q", "invalid",
                              "parameter \"q\" must be valid UTF-8 of at most 256 bytes");
    s->short_words = rp_arena_calloc(a, SEARCH_MAX_TERMS, sizeof(char *));
    s->long_words = rp_arena_calloc(a, SEARCH_MAX_TERMS, sizeof(char *));
    if (rp_policy_limits_fields(pr, o)) {
        bool *visible = rp_arena_calloc(a, o->nfields, sizeof(bool));
        for (size_t i = 0; i < o->nfields; i++)
            visible[i] = rp_records_field_visible(pr, o, &o->fields[i]);
        s->visible = visible;
    }
    while (*p) {
        size_t n;
        while (*p == ' ' || *p == '\t')
            p++;
        n = strcspn(p, " \t");
        if (n == 0)
            break;
        if (++nterms > SEARCH_MAX_TERMS)
            return rp_error_field(err, RP_EINVAL, "q", "too_many_terms",
                                  "parameter \"q\" takes at most %d words", SEARCH_MAX_TERMS);
        if (rp_utf8_length(p, n) >= TRIGRAM_MIN_CHARS) {
            /* An FTS5 string: the word in double quotes, inner quotes doubled. */
            if (s->phrase.len)
                rp_buf_addc(&s->phrase, ' ');
            rp_buf_addc(&s->phrase, '"');
            for (size_t i = 0; i < n; i++) {
                if (p[i] == '"')
                    rp_buf_addc(&s->phrase, '"');
                rp_buf_addc(&s->phrase, p[i]);
            }
            rp_buf_addc(&s->phrase, '"');
            s->long_words[s->nlong++] = like_pattern(p, n, a);
        } else {
            /* Trigrams cannot match one or two characters (common in Chinese names): scan. */
            s->short_words[s->nshort++] = like_pattern(p, n, a);
        }
        p += n;
    }
    return 0;
}

/* " AND (f1 LIKE w OR f2 LIKE w ...)" over the searchable fields the caller may read. */
static void like_sql(const struct rp_object *o, const struct search *s, const char *word,
                     struct rp_sql *q)
{
    bool first = true;
    rp_sql_add(q, " AND (");
    for (size_t i = 0; i < o->nfields; i++) {
        if (!o->fields[i].searchable || (s->visible && !s->visible[i]))
            continue;
        rp_sql_addf(q, "%s\"t\".\"%s\" %s ", first ? "" : " OR ", o->fields[i].name,
                    rp_sql_idiom(s->trgm ? RP_SQL_PG : RP_SQL_SQLITE, RP_SQL_ILIKE));
        rp_sql_param(q, rp_value_cstr(word));
        rp_sql_add(q, " ESCAPE '\\'");
        first = false;
    }
    rp_sql_add(q, first ? "1 = 0)" : ")");
}

static void search_sql(const struct rp_object *o, const struct search *s, bool fts_drives,
                       struct rp_sql *q)
{
    for (size_t w = 0; w < s->nshort; w++)
        like_sql(o, s, s->short_words[w], q);
    for (size_t w = 0; s->visible && w < s->nlong; w++)
        like_sql(o, s, s->long_words[w], q);
    if (!s->phrase.len)
        return;
    if (s->trgm) {
        struct rp_buf doc;
        rp_buf_init(&doc, rp_sql_arena(q), 1 << 16);
        rp_records_search_doc_sql(o, "\"t\"", RP_SQL_PG, &doc);
        for (size_t w = 0; w < s->nlong; w++) {
            rp_sql_addf(q, " AND (%s) ILIKE ", doc.data);
            rp_sql_param(q, rp_value_cstr(s->long_words[w]));
            rp_sql_add(q, " ESCAPE '\\'");
        }
        return;
    }
    if (fts_drives) {
        rp_sql_addf(q, " AND \"f\".\"%s__fts\" MATCH ", o->name);
    } else {
        rp_sql_addf(q,
                    " AND \"t\".rowid IN (SELECT rowid FROM \"%s__fts\" WHERE \"%s__fts\" MATCH ",
                    o->name, o->name);
    }
    rp_sql_param(q, rp_value_text(s->phrase.data, s->phrase.len));
    if (!fts_drives)
        rp_sql_add(q, ")");
}

/* ---- list ---- */

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
        size_t ncap = l->cap ? l->cap * 2 : 64;
        l->rows =
            rp_arena_realloc(l->arena, l->rows, l->cap * sizeof(*l->rows), ncap * sizeof(*l->rows));
        l->cap = ncap;
    }
    rp_records_decode_row(l->o, cols, ncols, l->arena, &l->rows[l->n++]);
    return 0;
}

static int count_row(void *vctx, const struct rp_value *cols, size_t ncols)
{
    int64_t *n = vctx;
    if (ncols > 0 && cols[0].type == RP_V_INT)
        *n = cols[0].u.i;
    return 1;
}

/* FROM and WHERE, shared by the page query and the count query. */
static int from_where_sql(const struct rp_meta *m, const struct rp_object *o,
                          const struct rp_principal *p, const struct rp_list_query *lq,
                          const struct search *srch, bool fts_drives, int64_t now, struct rp_sql *q,
                          struct rp_arena *a, struct rp_error *err)
{
    if (fts_drives)
        rp_sql_addf(q,
                    " FROM \"%s__fts\" AS \"f\" JOIN \"%s\" AS \"t\" ON \"t\".rowid = \"f\".rowid",
                    o->name, o->name);
    else
        rp_sql_addf(q, " FROM \"%s\" AS \"t\"", o->name);
    rp_sql_add(q, " WHERE \"t\".\"deleted_at\" IS NULL AND ");
    rp_policy_row_sql(p, m, o, "t", RP_ACCESS_READ, q);
    if (lq->filter) {
        struct rp_expr *e;
        struct rp_error sub;
        rp_error_init(&sub, a);
        /* In the caller's scope: hidden fields are unknown, invisible related records null. */
        if (rp_meta_parse_expr_in(m, o, rp_policy_scope(p, m, a), lq->filter, strlen(lq->filter),
                                  now, a, &e, &sub) < 0)
            return rp_error_field(err, RP_EINVAL, "filter", "invalid_filter", "invalid filter: %s",
                                  sub.detail);
        if (rp_expr_type(e) != RP_V_BOOL)
            return rp_error_field(err, RP_EINVAL, "filter", "invalid_filter",
                                  "invalid filter: the expression must be a condition, not %s",
                                  rp_vtype_name(rp_expr_type(e)));
        rp_sql_add(q, " AND (");
        if (rp_expr_compile_sql(e, q, &sub) < 0)
            return rp_error_field(err, RP_EINVAL, "filter", "invalid_filter", "invalid filter: %s",
                                  sub.detail);
        rp_sql_add(q, ")");
    }
    if (srch)
        search_sql(o, srch, fts_drives, q);
    return 0;
}

/*
 * A list query parsed and checked once, then read a page at a time: a list reads one page, a
 * scan (export) reads pages until the rows end.
 */
struct read_plan {
    struct rp_meta *m; /* referenced; released by whoever planned */
    const struct rp_object *o;
    struct sort_spec sort;
    struct search srch, *search; /* search is &srch when q is given */
    bool fts_drives;             /* the FTS index drives the query (see parse_search) */
    enum rp_sql_dialect dialect; /* the store's */
    bool *selected;              /* fields= flags by field index, or NULL for all */
    struct rp_value *after;      /* keyset position after the last row read, or NULL */
    int64_t now;
};

/* The object, and whether p may read it (and do action, unless that is reading). */
static int plan_object(struct rp_records *rs, const struct rp_principal *p, const char *object,
                       enum rp_policy_action action, struct read_plan *plan, struct rp_error *err)
{
    int rc;

    memset(plan, 0, sizeof(*plan));
    plan->m = rp_meta_acquire(rs->meta);
    plan->o = rp_meta_object(plan->m, object);
    plan->now = rp_clock_now_ms(rs->clock);
    plan->dialect = rp_store_dialect(rs->store);
    if (!plan->o)
        return rp_error_set(err, RP_ENOTFOUND, "object \"%s\" does not exist", object);
    if ((rc = rp_policy_check(p, object, RP_ACT_READ, err)) < 0)
        return rc;
    if (action != RP_ACT_READ && (rc = rp_policy_check(p, object, action, err)) < 0)
        return rc;
    return 0;
}

/* Sort, fields, search and cursor of lq. */
static int plan_query(const struct rp_principal *p, struct read_plan *plan,
                      const struct rp_list_query *lq, struct rp_arena *a, struct rp_error *err)
{
    const struct rp_object *o = plan->o;
    int rc;

    if ((rc = parse_sort(p, o, lq->sort, &plan->sort, err)) < 0 ||
        (rc = rp_records_parse_fields(p, o, lq->fields, a, &plan->selected, err)) < 0)
        return rc;
    if (lq->q && *lq->q) {
        if ((rc = parse_search(p, o, lq->q, a, &plan->srch, err)) < 0)
            return rc;
        plan->search = &plan->srch;
        plan->srch.trgm = plan->dialect == RP_SQL_PG;
        /* Without a sort of its own, a search lists newest first, read off the index. */
        if (!lq->sort && plan->srch.phrase.len) {
            plan->fts_drives = !plan->srch.trgm;
            plan->sort.keys[0].desc = true;
            if (plan->fts_drives)
                plan->sort.rowid_sql = "\"f\".rowid";
        }
    }
    if (lq->cursor) {
        plan->after = rp_arena_calloc(a, plan->sort.n, sizeof(*plan->after));
        if ((rc = decode_cursor(&plan->sort, lq->cursor, a, plan->after, err)) < 0)
            return rc;
    }
    return 0;
}

/*
 * Reads up to limit + 1 rows after plan->after into rows (the extra row only tells that there
 * are more) and computes the formulas of the first limit. Formulas are computed after the
 * query has finished because they may query the same connection.
 */
static int read_page(struct rp_records *rs, struct rp_store_conn *c, const struct rp_principal *p,
                     const struct read_plan *plan, const struct rp_list_query *lq, size_t limit,
                     struct rp_arena *a, struct row_list *rows, struct rp_error *err)
{
    const struct rp_object *o = plan->o;
    struct rp_sql q;
    int rc;

    *rows = (struct row_list){.o = o, .arena = a};
    rp_sql_init(&q, a, rp_store_dialect(rs->store));
    rp_sql_add(&q, "SELECT ");
    rp_records_select_columns(o, &q);
    if ((rc = from_where_sql(plan->m, o, p, lq, plan->search, plan->fts_drives, plan->now, &q, a,
                             err)) < 0)
        return rc;
    if (plan->after)
        keyset_sql(&plan->sort, plan->after, &q);
    order_sql(&plan->sort, &q);
    rp_sql_add(&q, " LIMIT ");
    rp_sql_param(&q, rp_value_int((int64_t)limit + 1));
    if ((rc = rp_store_query(c, &q, collect_row, rows, err)) < 0)
        return rc;
    rp_records_compute_formulas(c, plan->m, rows->rows, rows->n < limit ? rows->n : limit,
                                plan->now, a);
    return 0;
}

/* The sort keys of row as keyset values (text copied into a), to read on after it. */
static struct rp_value *row_keys(const struct sort_spec *s, const struct rp_row *row,
                                 struct rp_arena *a)
{
    struct rp_value *vals = rp_arena_calloc(a, s->n, sizeof(*vals));

    for (size_t i = 0; i < s->n; i++) {
        vals[i] = s->keys[i].f ? row->values[s->keys[i].f->index] : rp_value_int(row->rowid);
        if (vals[i].type == RP_V_TEXT)
            vals[i].u.s.p = rp_arena_strndup(a, vals[i].u.s.p, vals[i].u.s.len);
    }
    return vals;
}

int rp_records_list(struct rp_records *rs, const struct rp_principal *p, const char *object,
                    const struct rp_list_query *lq, struct rp_arena *a, struct rp_buf *out,
                    struct rp_error *err)
{
    struct rp_store_conn *c = NULL;
    struct read_plan plan;
    struct row_list rows;
    size_t limit = lq->limit ? lq->limit : RP_LIMIT_PAGE_DEFAULT;
    int64_t total = -1;
    int rc;

    if ((rc = plan_object(rs, p, object, RP_ACT_READ, &plan, err)) < 0)
        goto out;
    if (limit > RP_LIMIT_PAGE_MAX) {
        rc = rp_error_field(err, RP_EINVAL, "limit", "out_of_range",
                            "parameter \"limit\" must be between 1 and %d", RP_LIMIT_PAGE_MAX);
        goto out;
    }
    if ((rc = plan_query(p, &plan, lq, a, err)) < 0)
        goto out;

    c = rp_store_reader_acquire(rs->store);
    if ((rc = read_page(rs, c, p, &plan, lq, limit, a, &rows, err)) < 0)
        goto out;
    if (lq->count) {
        struct rp_sql cq;
        rp_sql_init(&cq, a, rp_store_dialect(rs->store));
        rp_sql_add(&cq, "SELECT count(*) FROM (SELECT 1");
        if ((rc = from_where_sql(plan.m, plan.o, p, lq, plan.search, plan.fts_drives, plan.now, &cq,
                                 a, err)) < 0)
            goto out;
        rp_sql_add(&cq, " LIMIT ");
        rp_sql_param(&cq, rp_value_int(RP_LIMIT_COUNT_EXACT + 1));
        rp_sql_add(&cq, ") AS \"n\"");
        if ((rc = rp_store_query(c, &cq, count_row, &total, err)) < 0)
            goto out;
    }

    rp_buf_adds(out, "{\"data\":[");
    for (size_t i = 0; i < rows.n && i < limit; i++) {
        if (i)
            rp_buf_addc(out, ',');
        rp_records_row_json(&rows.rows[i], plan.selected, p, a, out);
    }
    rp_buf_adds(out, "],\"next_cursor\":");
    if (rows.n > limit) {
        char *cur = encode_cursor(&plan.sort, &rows.rows[limit - 1], a);
        rp_buf_add_json_str(out, cur, strlen(cur));
    } else {
        rp_buf_adds(out, "null");
    }
    if (total >= 0)
        rp_buf_addf(out, ",\"total\":{\"count\":%lld,\"exact\":%s}",
                    (long long)(total > RP_LIMIT_COUNT_EXACT ? RP_LIMIT_COUNT_EXACT : total),
                    total > RP_LIMIT_COUNT_EXACT ? "false" : "true");
    rp_buf_addc(out, '}');
    rc = rp_buf_error(out)
             ? rp_error_set(err, RP_ETOOBIG, "response too large; ask for fewer rows or fields")
             : 0;
out:
    rp_store_reader_release(rs->store, c);
    rp_meta_release(plan.m);
    return rc;
}

/* Runs BEGIN or COMMIT on a read connection. */
static int read_txn(struct rp_store_conn *c, const char *sql, struct rp_arena *a,
                    struct rp_error *err)
{
    struct rp_sql q;
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, sql);
    return rp_store_exec(c, &q, NULL, err);
}

int rp_records_scan(struct rp_records *rs, const struct rp_principal *p, const char *object,
                    const struct rp_list_query *lq, struct rp_records_scan *scan,
                    struct rp_arena *a, struct rp_error *err)
{
    struct rp_store_conn *c = NULL;
    struct read_plan plan;
    struct rp_arena page; /* one page of rows at a time */
    size_t left = scan->max_rows;
    bool in_txn = false;
    int rc;

    scan->more = false;
    rp_arena_init(&page);
    if ((rc = plan_object(rs, p, object, scan->action, &plan, err)) < 0 ||
        (rc = plan_query(p, &plan, lq, a, err)) < 0)
        goto out;
    if (scan->begin && (rc = scan->begin(scan->ctx, plan.o, plan.selected)) != 0)
        goto out;
    c = rp_store_reader_acquire(rs->store);
    /* One read transaction: every page comes from the same snapshot of the database. */
    if ((rc = read_txn(c, "BEGIN", a, err)) < 0)
        goto out;
    in_txn = true;
    while (left > 0) {
        size_t limit = left < RP_LIMIT_PAGE_MAX ? left : RP_LIMIT_PAGE_MAX, n;
        struct row_list rows;

        rp_arena_reset(&page);
        if ((rc = read_page(rs, c, p, &plan, lq, limit, &page, &rows, err)) < 0)
            goto out;
        n = rows.n < limit ? rows.n : limit;
        for (size_t i = 0; i < n; i++)
            if ((rc = scan->row(scan->ctx, &rows.rows[i])) != 0)
                goto out;
        left -= n;
        if (rows.n <= limit)
            break; /* the last page */
        if (left == 0) {
            scan->more = true;
            break;
        }
        plan.after = row_keys(&plan.sort, &rows.rows[limit - 1], a);
    }
    rc = 0;
out:
    if (in_txn) {
        struct rp_error ignore;
        rp_error_init(&ignore, a);
        if (read_txn(c, "COMMIT", a, rc < 0 ? &ignore : err) < 0 && rc >= 0)
            rc = err->code;
    }
    rp_store_reader_release(rs->store, c);
    rp_arena_release(&page);
    rp_meta_release(plan.m);
    return rc > 0 ? 0 : rc;
}

int rp_records_get(struct rp_records *rs, const struct rp_principal *p, const char *object,
                   const char *id, const char *fields, struct rp_arena *a, struct rp_buf *out,
                   int64_t *version, struct rp_error *err)
{
    struct rp_meta *m = rp_meta_acquire(rs->meta);
    const struct rp_object *o = rp_meta_object(m, object);
    struct rp_store_conn *c = NULL;
    bool *selected = NULL;
    struct rp_row row;
    int rc;

    if (!o) {
        rc = rp_error_set(err, RP_ENOTFOUND, "object \"%s\" does not exist", object);
        goto out;
    }
    if ((rc = rp_policy_check(p, object, RP_ACT_READ, err)) < 0 ||
        (rc = rp_records_parse_fields(p, o, fields, a, &selected, err)) < 0)
        goto out;
    c = rp_store_reader_acquire(rs->store);
    if ((rc = rp_records_fetch(c, m, p, o, id, a, &row, err)) < 0)
        goto out;
    if (row.deleted_at) {
        rc = rp_error_set(err, RP_ENOTFOUND, "%s \"%s\" not found", o->name, id);
        goto out;
    }
    rp_records_compute_formulas(c, m, &row, 1, rp_clock_now_ms(rs->clock), a);
    rp_records_row_json(&row, selected, p, a, out);
    *version = row.values[1].u.i;
out:
    rp_store_reader_release(rs->store, c);
    rp_meta_release(m);
    return rc;
}

int rp_records_read_in(struct rp_records *rs, struct rp_store_conn *c, const struct rp_principal *p,
                       const char *object, const char *id, bool unmasked, struct rp_arena *a,
                       struct rp_buf *out, struct rp_error *err)
{
    static const struct rp_principal internal = {.user_id = "system", .is_admin = true};
    struct rp_meta *m = rp_meta_acquire(rs->meta);
    const struct rp_object *o = rp_meta_object(m, object);
    struct rp_row row;
    int rc;

    if (!o)
        rc = rp_error_set(err, RP_ENOTFOUND, "object \"%s\" does not exist", object);
    else if ((rc = rp_policy_check(p, object, RP_ACT_READ, err)) == 0 &&
             (rc = rp_records_fetch(c, m, p, o, id, a, &row, err)) == 0 && row.deleted_at)
        rc = rp_error_set(err, RP_ENOTFOUND, "%s \"%s\" not found", o->name, id);
    if (rc == 0) {
        rp_records_compute_formulas(c, m, &row, 1, rp_clock_now_ms(rs->clock), a);
        rp_records_row_json(&row, NULL, unmasked ? &internal : p, a, out);
    }
    rp_meta_release(m);
    return rc;
}

/* ---- history and change feed ---- */

struct log_out {
    struct rp_buf *out;
    size_t n;
    int64_t last;
    bool feed;                    /* change feed rows (with object and id) or history rows */
    const struct rp_principal *p; /* the reader: sensitive values masked for it */
    const struct rp_meta *m;      /* the change feed: objects by name */
    const struct rp_object *o;    /* history: the record's object */
    struct rp_arena *arena;       /* masked values */
};

static void add_text_or_null(struct rp_buf *out, const struct rp_value *v)
{
    if (v->type == RP_V_TEXT)
        rp_buf_add_json_str(out, v->u.s.p, v->u.s.len);
    else
        rp_buf_adds(out, "null");
}

/* Whether entries of this action hold field values ({"field": [old, new]}). */
static bool holds_values(const struct rp_value *action)
{
    static const char *const names[] = {"share", "unshare", "reveal"};
    if (action->type != RP_V_TEXT)
        return true;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (action->u.s.len == strlen(names[i]) &&
            memcmp(action->u.s.p, names[i], action->u.s.len) == 0)
            return false;
    return true;
}

static int log_row(void *vctx, const struct rp_value *cols, size_t ncols)
{
    struct log_out *lo = vctx;
    struct rp_value at;

    if (ncols < 7)
        return 0;
    if (lo->n++)
        rp_buf_addc(lo->out, ',');
    lo->last = cols[0].u.i;
    at = rp_value_typed_int(RP_V_DATETIME, cols[1].u.i);
    rp_buf_addf(lo->out, "{\"seq\":%lld,\"at\":", (long long)cols[0].u.i);
    rp_value_to_json(lo->out, &at);
    if (lo->feed) {
        rp_buf_adds(lo->out, ",\"object\":");
        add_text_or_null(lo->out, &cols[2]);
        rp_buf_adds(lo->out, ",\"id\":");
        add_text_or_null(lo->out, &cols[3]);
        rp_buf_adds(lo->out, ",\"op\":");
    } else {
        rp_buf_adds(lo->out, ",\"request_id\":");
        add_text_or_null(lo->out, &cols[3]);
        rp_buf_adds(lo->out, ",\"action\":");
    }
    add_text_or_null(lo->out, &cols[4]);
    rp_buf_adds(lo->out, ",\"actor\":");
    add_text_or_null(lo->out, &cols[5]);
    rp_buf_adds(lo->out, ",\"changes\":");
    if (cols[6].type == RP_V_TEXT && !holds_values(&cols[4])) {
        /* Shares and reveals: user ids and field names, no values. */
        rp_buf_add(lo->out, cols[6].u.s.p, cols[6].u.s.len);
    } else if (cols[6].type == RP_V_TEXT) {
        /* Written by the write path as JSON; values masked or left out for this reader. */
        const struct rp_object *o = lo->o;
        if (lo->feed)
            o = cols[2].type == RP_V_TEXT
                    ? rp_meta_object(lo->m,
                                     rp_arena_strndup(lo->arena, cols[2].u.s.p, cols[2].u.s.len))
                    : NULL;
        rp_records_changes_json(lo->p, o, cols[6].u.s.p, cols[6].u.s.len, lo->arena, lo->out);
    } else {
        rp_buf_adds(lo->out, "{}");
    }
    rp_buf_addc(lo->out, '}');
    return 0;
}

int rp_records_history(struct rp_records *rs, const struct rp_principal *p, const char *object,
                       const char *id, int64_t after, size_t limit, struct rp_arena *a,
                       struct rp_buf *out, struct rp_error *err)
{
    struct rp_meta *m = rp_meta_acquire(rs->meta);
    const struct rp_object *o = rp_meta_object(m, object);
    struct rp_store_conn *c = NULL;
    struct log_out lo = {.out = out, .last = after, .p = p, .m = m, .o = o, .arena = a};
    struct rp_row row;
    struct rp_sql q;
    int rc;

    if (!o) {
        rc = rp_error_set(err, RP_ENOTFOUND, "object \"%s\" does not exist", object);
        goto out;
    }
    if ((rc = rp_policy_check(p, object, RP_ACT_READ, err)) < 0)
        goto out;
    c = rp_store_reader_acquire(rs->store);
    /* Only the history of a record the caller may see (deleted ones included). */
    if ((rc = rp_records_fetch(c, m, p, o, id, a, &row, err)) < 0)
        goto out;
    rp_sql_init(&q, a, rp_store_dialect(rs->store));
    rp_sql_add(&q, "SELECT id, at, object, request_id, action, actor, changes FROM rp_audit"
                   " WHERE object = ");
    rp_sql_param(&q, rp_value_cstr(object));
    rp_sql_add(&q, " AND record_id = ");
    rp_sql_param(&q, rp_value_cstr(id));
    rp_sql_add(&q, " AND id > ");
    rp_sql_param(&q, rp_value_int(after));
    rp_sql_add(&q, " ORDER BY id LIMIT ");
    rp_sql_param(&q, rp_value_int((int64_t)limit));
    rp_buf_adds(out, "{\"data\":[");
    if ((rc = rp_store_query(c, &q, log_row, &lo, err)) < 0)
        goto out;
    rp_buf_addf(out, "],\"next\":%lld}", (long long)lo.last);
out:
    rp_store_reader_release(rs->store, c);
    rp_meta_release(m);
    return rc;
}

/*
 * Every event of a record the caller may read now (deleted records included), of objects the
 * caller may read at all: one EXISTS per object, checked by the events' (object, record_id).
 */
static void visible_changes_sql(const struct rp_principal *p, const struct rp_meta *m,
                                struct rp_sql *q)
{
    bool first = true;

    if (rp_policy_is_unrestricted(p))
        return;
    rp_sql_add(q, " AND (");
    for (size_t i = 0; i < m->nobjects; i++) {
        const struct rp_object *o = &m->objects[i];
        if (!rp_policy_allows(p, o->name, RP_ACT_READ))
            continue;
        rp_sql_add(q, first ? "(\"rp_change\".\"object\" = " : " OR (\"rp_change\".\"object\" = ");
        rp_sql_param(q, rp_value_cstr(o->name));
        rp_sql_addf(
            q,
            " AND EXISTS (SELECT 1 FROM \"%s\" AS \"t\" WHERE \"t\".\"id\" = \"rp_change\".\"record_id\" AND ",
            o->name);
        rp_policy_row_sql(p, m, o, "t", RP_ACCESS_READ, q);
        rp_sql_add(q, "))");
        first = false;
    }
    rp_sql_add(q, first ? "1 = 0)" : ")");
}

int rp_records_changes(struct rp_records *rs, const struct rp_principal *p, int64_t after,
                       size_t limit, const char *objects, struct rp_arena *a, struct rp_buf *out,
                       struct rp_error *err)
{
    struct rp_meta *m = rp_meta_acquire(rs->meta);
    struct rp_store_conn *c = NULL;
    struct log_out lo = {.out = out, .last = after, .feed = true, .p = p, .m = m, .arena = a};
    struct rp_sql q;
    int rc;

    if (!p || !p->user_id) {
        rc = rp_error_set(err, RP_EUNAUTH, "authentication required");
        goto out;
    }
    rp_sql_init(&q, a, rp_store_dialect(rs->store));
    rp_sql_add(&q, "SELECT seq, at, object, record_id, op, actor, changes FROM rp_change"
                   " WHERE seq > ");
    rp_sql_param(&q, rp_value_int(after));
    if (objects) {
        const char *s = objects;
        size_t nobj = 0;
        rp_sql_add(&q, " AND object IN (");
        while (*s) {
            size_t n = strcspn(s, ",");
            char *name = rp_arena_strndup(a, s, n);
            /* "event": incoming and system events (automation.h) share the log. */
            if (!rp_meta_object(m, name) && strcmp(name, "event") != 0) {
                rc = rp_error_field(err, RP_EINVAL, "objects", "unknown_object",
                                    "object \"%s\" does not exist", name);
                goto out;
            }
            if (++nobj > 64) {
                rc = rp_error_field(err, RP_EINVAL, "objects", "too_many",
                                    "parameter \"objects\" takes at most 64 names");
                goto out;
            }
            rp_sql_add(&q, nobj > 1 ? ", " : "");
            rp_sql_param(&q, rp_value_cstr(name));
            s += n;
            if (*s == ',')
                s++;
        }
        if (nobj == 0) {
            rc = rp_error_field(err, RP_EINVAL, "objects", "invalid",
                                "parameter \"objects\" must list object names");
            goto out;
        }
        rp_sql_add(&q, ")");
    }
    visible_changes_sql(p, m, &q);
    rp_sql_add(&q, " ORDER BY seq LIMIT ");
    rp_sql_param(&q, rp_value_int((int64_t)limit));
    c = rp_store_reader_acquire(rs->store);
    rp_buf_adds(out, "{\"data\":[");
    if ((rc = rp_store_query(c, &q, log_row, &lo, err)) < 0)
        goto out;
    rp_buf_addf(out, "],\"next\":%lld}", (long long)lo.last);
out:
    rp_store_reader_release(rs->store, c);
    rp_meta_release(m);
    return rc;
}
