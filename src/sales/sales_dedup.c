/*
 * Dedup and merge (sales.h): duplicate rules as named definitions, a write hook that keeps the
 * match keys of records (rp_match_key) in the write's transaction and blocks, warns about or
 * flags duplicates, the duplicates of a record, and merges that re-point every reference
 * through the write path and can be undone.
 *
 * Only objects with rules pay: the hook's first step is one indexed lookup of the object's
 * rules, and an object without any stops there. Keys are per method, not per field, so a phone
 * number in one record's "phone" matches the same number in another's "mobile".
 */
#include "sales/sales_int.h"

#include "base/arena.h"
#include "base/json.h"
#include "base/sql.h"
#include "base/uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RULES      8 /* applied per object, first by name; more are ignored */
#define MAX_CRITERIA   16
#define MAX_NAME_PARTS 4
#define MAX_KEYS       64
#define MAX_MATCHES    64
#define MAX_MATCHED    8
/* Candidates read per key: a key shared by more records than this is not a useful key. */
#define CANDIDATES_PER_KEY 200
/* Largest object whose keys are built in the transaction that stores a rule. */
#define BUILD_MAX_ROWS          100000
#define BUILD_PAGE              1000
#define DEFAULT_COUNTRY_SETTING "dedup.default_country"

enum action { ACTION_FLAG, ACTION_WARN, ACTION_BLOCK };

struct criterion {
    const struct rp_sales_match_method *method;
    const struct rp_field *fields[MAX_NAME_PARTS];
    size_t nfields;
    double threshold;
    const char *block_by; /* fuzzy: the method whose key makes candidates */
    bool block_only;      /* keeps blocking keys only: a block_by method the rule does not match */
};

struct rule {
    const char *name;
    enum action action;
    struct criterion c[MAX_CRITERIA];
    size_t n;
};

struct rules {
    struct rule r[MAX_RULES];
    size_t n;
};

struct key {
    const char *method, *key;
};

struct keyset {
    struct key k[MAX_KEYS];
    size_t n;
};

struct match {
    char id[RP_UUID_STRLEN + 1];
    double score;
    const char *matched[MAX_MATCHED]; /* method names */
    const char *field;                /* the first matched criterion's field */
    size_t nmatched;
    enum action action;
    const char *rule;
};

struct matches {
    struct match m[MAX_MATCHES];
    size_t n;
};

/* ---- the rule definition ---- */

/* The field of o called name (NULL when name is: a definition may lack it). */
static const struct rp_field *field_of(const struct rp_object *o, const char *name)
{
    return name ? rp_meta_field(o, name) : NULL;
}

static bool text_field(const struct rp_field *f)
{
    return f && !f->system &&
           (f->type == RP_F_TEXT || f->type == RP_F_EMAIL || f->type == RP_F_PHONE ||
            f->type == RP_F_URL);
}

static bool has_method(const json_t *match, const char *method)
{
    size_t i;
    const json_t *cr;

    json_array_foreach(match, i, cr)
    {
        const struct rp_sales_match_method *m =
            rp_sales_match_method(json_string_value(json_object_get(cr, "method")));
        if (m && !m->fuzzy && strcmp(m->name, method) == 0)
            return true;
    }
    return false;
}

static int check_criterion(const struct rp_object *o, const json_t *match, const json_t *cr,
                           const char *where, struct rp_error *err)
{
    static const char *const keys[] = {"method", "field", "fields", "threshold", "block_by", NULL};
    const struct rp_sales_match_method *m =
        rp_sales_match_method(json_string_value(json_object_get(cr, "method")));
    const json_t *fields = json_object_get(cr, "fields"), *f, *t;
    const char *block_by = json_string_value(json_object_get(cr, "block_by"));
    size_t i;
    int rc;

    if (!json_is_object(cr))
        return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                              "a criterion is {\"method\", \"field\"}");
    if ((rc = rp_json_check_keys(cr, keys, "a match criterion", where, err)) < 0)
        return rc;
    if (!m)
        return rp_error_field(err, RP_EVALIDATION, where, "unknown_method",
                              "\"method\" must be email, phone, company, uscc or name");
    if (!m->fuzzy) {
        if (!text_field(field_of(o, json_string_value(json_object_get(cr, "field")))) || fields ||
            block_by || json_object_get(cr, "threshold"))
            return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                                  "method \"%s\" takes \"field\": a text field of %s", m->name,
                                  o->name);
        return 0;
    }
    if (!json_is_array(fields) || json_array_size(fields) == 0 ||
        json_array_size(fields) > MAX_NAME_PARTS || json_object_get(cr, "field"))
        return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                              "method \"%s\" takes \"fields\": 1-%d text fields of %s", m->name,
                              MAX_NAME_PARTS, o->name);
    json_array_foreach(fields, i, f)
    {
        if (!text_field(field_of(o, json_string_value(f))))
            return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                                  "\"fields\" must name text fields of %s", o->name);
    }
    t = json_object_get(cr, "threshold");
    if (t && (!json_is_number(t) || json_number_value(t) <= 0 || json_number_value(t) > 1))
        return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                              "\"threshold\" is a similarity above 0 and at most 1");
    if (!block_by || !rp_sales_match_method(block_by) || rp_sales_match_method(block_by)->fuzzy ||
        (!has_method(match, block_by) && !text_field(field_of(o, block_by))))
        return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                              "\"block_by\" must name an exact method of this rule, or one whose"
                              " name is a text field of %s (fuzzy names are compared among records"
                              " sharing its key)",
                              o->name);
    return 0;
}

/*
 * {"object": "lead", "action": "block"|"warn"|"flag", "match": [{"method", "field"} |
 *  {"method": "name", "fields": [...], "threshold", "block_by"}], "description"?}
 */
static int rules_check(void *ctx, const struct rp_meta *m, const json_t *def,
                       struct rp_arena *arena, struct rp_error *err)
{
    static const char *const keys[] = {"object", "action", "match", "description", NULL};
    const char *object = json_string_value(json_object_get(def, "object"));
    const char *action = json_string_value(json_object_get(def, "action"));
    const struct rp_object *o = object ? rp_meta_object(m, object) : NULL;
    const json_t *match = json_object_get(def, "match"), *cr;
    size_t i;
    int rc;

    (void)ctx;
    if ((rc = rp_json_check_keys(def, keys, "a duplicate rule", NULL, err)) < 0)
        return rc;
    if (!o || o->append_only)
        return rp_error_field(err, RP_EVALIDATION, "object", "not_found",
                              "\"object\" must name an object whose records can change");
    if (!action || (strcmp(action, "block") != 0 && strcmp(action, "warn") != 0 &&
                    strcmp(action, "flag") != 0))
        return rp_error_field(err, RP_EVALIDATION, "action", "invalid",
                              "\"action\" is block, warn or flag");
    if (!json_is_array(match) || json_array_size(match) == 0 ||
        json_array_size(match) > MAX_CRITERIA)
        return rp_error_field(err, RP_EVALIDATION, "match", "invalid",
                              "\"match\" is an array of 1-%d criteria", MAX_CRITERIA);
    json_array_foreach(match, i, cr)
    {
        if ((rc = check_criterion(o, match, cr, rp_arena_sprintf(arena, "match[%zu]", i), err)) < 0)
            return rc;
    }
    return 0;
}

/* ---- loading rules ---- */

struct rules_rows {
    const struct rp_object *o;
    struct rules *rules;
    struct rp_arena *arena;
    bool unreadable; /* a stored rule that is not JSON */
};

static bool rule_has_exact(const struct rule *r, const char *method)
{
    for (size_t i = 0; i < r->n; i++)
        if (!r->c[i].method->fuzzy && strcmp(r->c[i].method->name, method) == 0)
            return true;
    return false;
}

/* A fuzzy criterion blocked by a method the rule does not match on reads that method's key from
 * the field of the same name: a criterion that keeps keys and matches nothing. */
static void add_blocking(const struct rp_object *o, struct rule *r)
{
    size_t n = r->n;

    for (size_t i = 0; i < n && r->n < MAX_CRITERIA; i++) {
        const struct criterion *c = &r->c[i];
        const struct rp_field *f = field_of(o, c->block_by);
        struct criterion *b = &r->c[r->n];
        if (!c->method->fuzzy || !c->block_by || rule_has_exact(r, c->block_by) || !text_field(f))
            continue;
        memset(b, 0, sizeof(*b));
        b->method = rp_sales_match_method(c->block_by);
        b->fields[0] = f;
        b->nfields = 1;
        b->block_only = true;
        r->n++;
    }
}

static void parse_rule(const struct rp_object *o, const json_t *def, struct rule *r)
{
    const char *action = json_string_value(json_object_get(def, "action"));
    const json_t *cr;
    size_t i;

    r->action = action && strcmp(action, "block") == 0  ? ACTION_BLOCK
                : action && strcmp(action, "warn") == 0 ? ACTION_WARN
                                                        : ACTION_FLAG;
    r->n = 0;
    json_array_foreach(json_object_get(def, "match"), i, cr)
    {
        struct criterion *c = &r->c[r->n];
        const json_t *fields = json_object_get(cr, "fields"), *f;
        const json_t *t = json_object_get(cr, "threshold");
        size_t k;
        if (r->n == MAX_CRITERIA)
            break;
        memset(c, 0, sizeof(*c));
        c->method = rp_sales_match_method(json_string_value(json_object_get(cr, "method")));
        if (!c->method)
            continue;
        if (!c->method->fuzzy) {
            c->fields[0] = field_of(o, json_string_value(json_object_get(cr, "field")));
            c->nfields = c->fields[0] ? 1 : 0;
        }
        json_array_foreach(fields, k, f)
        {
            const struct rp_field *fd = field_of(o, json_string_value(f));
            if (fd && c->nfields < MAX_NAME_PARTS)
                c->fields[c->nfields++] = fd;
        }
        c->threshold = json_is_number(t) ? json_number_value(t) : 0.92;
        {
            /* the table's name outlives the definition's JSON */
            const struct rp_sales_match_method *b =
                rp_sales_match_method(json_string_value(json_object_get(cr, "block_by")));
            c->block_by = b ? b->name : NULL;
        }
        if (c->nfields > 0 && text_field(c->fields[0]))
            r->n++; /* a field gone from the metadata drops its criterion */
    }
    add_blocking(o, r);
}

static int rules_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct rules_rows *x = ctx;
    json_t *def;

    if (!x->rules) /* only objects with rules pay for the room */
        x->rules = rp_arena_calloc(x->arena, 1, sizeof(*x->rules));
    if (n < 2 || cols[1].type != RP_V_TEXT || x->rules->n == MAX_RULES)
        return 0;
    if (!(def = rp_json_loadb(cols[1].u.s.p, cols[1].u.s.len, 0, NULL))) {
        x->unreadable = true; /* stored by a checked PUT: not JSON means a damaged row */
        return 1;
    }
    parse_rule(x->o, def, &x->rules->r[x->rules->n]);
    json_decref(def);
    if (x->rules->r[x->rules->n].n > 0) {
        x->rules->r[x->rules->n].name = rp_arena_strndup(x->arena, cols[0].u.s.p, cols[0].u.s.len);
        x->rules->n++;
    }
    return 0;
}

/* *rules: the object's rules, or NULL when it has none. */
static int load_rules(struct rp_store_conn *c, const struct rp_object *o, struct rules **rules,
                      struct rp_arena *arena, struct rp_error *err)
{
    struct rules_rows x = {.o = o, .arena = arena};
    struct rp_sql q;
    int rc;

    rp_sql_init(&q, arena, rp_store_conn_dialect(c));
    rp_sql_add(&q,
               "SELECT name, definition FROM rp_definition WHERE kind = '" RP_SALES_DUPLICATE_RULES
               "' AND object = ");
    rp_sql_param(&q, rp_value_cstr(o->name));
    rp_sql_add(&q, " ORDER BY name");
    rc = rp_store_query(c, &q, rules_row, &x, err);
    if (rc == 0 && x.unreadable)
        rc = rp_error_set(err, RP_EINTERNAL, "a duplicate rule of %s could not be read", o->name);
    *rules = rc == 0 && x.rules && x.rules->n > 0 ? x.rules : NULL;
    return rc;
}

/* ---- keys ---- */

struct text_out {
    struct rp_arena *arena;
    const char *out; /* the first column of the first row, or NULL */
};

static int text_row_arena(void *ctx, const struct rp_value *cols, size_t n)
{
    struct text_out *x = ctx;

    if (n > 0 && cols[0].type == RP_V_TEXT)
        x->out = rp_arena_strndup(x->arena, cols[0].u.s.p, cols[0].u.s.len);
    return 1;
}

/*
 * The installation's default country calling code for phone numbers ("86" unless set), or
 * NULL with err set when the setting cannot be read (guessing would file keys under the wrong
 * country).
 */
static const char *default_country(struct rp_store_conn *c, struct rp_arena *arena,
                                   struct rp_error *err)
{
    struct text_out x = {arena, NULL};
    struct rp_sql q;

    rp_sql_init(&q, arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = '" DEFAULT_COUNTRY_SETTING "'");
    if (rp_store_query(c, &q, text_row_arena, &x, err) < 0)
        return NULL;
    return x.out ? x.out : "86";
}

static void keyset_add(struct keyset *ks, const char *method, const char *key)
{
    for (size_t i = 0; i < ks->n; i++)
        if (strcmp(ks->k[i].method, method) == 0 && strcmp(ks->k[i].key, key) == 0)
            return;
    if (ks->n < MAX_KEYS)
        ks->k[ks->n++] = (struct key){method, key};
}

/* The key criterion c gives a record with values (by field index), or NULL. */
static const char *criterion_key(const struct criterion *c, const struct rp_value *values,
                                 const char *country, struct rp_arena *arena)
{
    struct rp_buf in, out;

    rp_buf_init(&in, arena, 4096);
    for (size_t i = 0; i < c->nfields; i++) {
        const struct rp_value *v = &values[c->fields[i]->index];
        if (v->type != RP_V_TEXT || v->u.s.len == 0)
            continue;
        if (in.len)
            rp_buf_addc(&in, ' ');
        rp_buf_add(&in, v->u.s.p, v->u.s.len);
    }
    if (in.len == 0 || rp_buf_error(&in))
        return NULL;
    rp_buf_init(&out, arena, 4096);
    return c->method->key(in.data, in.len, country, &out) ? out.data : NULL;
}

static void record_keys(const struct rules *rules, const struct rp_value *values,
                        const char *country, struct rp_arena *arena, struct keyset *ks)
{
    ks->n = 0;
    for (size_t i = 0; i < rules->n; i++)
        for (size_t k = 0; k < rules->r[i].n; k++) {
            const struct criterion *c = &rules->r[i].c[k];
            const char *key = criterion_key(c, values, country, arena);
            if (key)
                keyset_add(ks, c->method->name, key);
        }
}

static int delete_keys(struct rp_store_conn *c, const char *object, const char *id,
                       struct rp_arena *arena, struct rp_error *err)
{
    struct rp_sql q;

    rp_sql_init(&q, arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "DELETE FROM rp_match_key WHERE object = ");
    rp_sql_param(&q, rp_value_cstr(object));
    if (id) {
        rp_sql_add(&q, " AND record_id = ");
        rp_sql_param(&q, rp_value_cstr(id));
    }
    return rp_store_exec(c, &q, NULL, err);
}

static int insert_keys(struct rp_store_conn *c, const char *object, const char *id,
                       const struct keyset *ks, struct rp_arena *arena, struct rp_error *err)
{
    struct rp_sql q;

    if (ks->n == 0)
        return 0;
    rp_sql_init(&q, arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "INSERT INTO rp_match_key (object, record_id, method, key) VALUES ");
    for (size_t i = 0; i < ks->n; i++) {
        const struct rp_value row[] = {rp_value_cstr(object), rp_value_cstr(id),
                                       rp_value_cstr(ks->k[i].method), rp_value_cstr(ks->k[i].key)};
        if (i)
            rp_sql_add(&q, ", ");
        rp_sql_param_list(&q, row, 4);
    }
    return rp_store_exec(c, &q, NULL, err);
}

/* ---- finding duplicates ---- */

static struct match *match_of(struct matches *ms, const char *id, size_t len)
{
    struct match *m;

    if (len > RP_UUID_STRLEN)
        return NULL;
    for (size_t i = 0; i < ms->n; i++)
        if (strlen(ms->m[i].id) == len && memcmp(ms->m[i].id, id, len) == 0)
            return &ms->m[i];
    if (ms->n == MAX_MATCHES)
        return NULL;
    m = &ms->m[ms->n++];
    memset(m, 0, sizeof(*m));
    memcpy(m->id, id, len);
    return m;
}

static void match_note(struct match *m, const struct rule *r, const struct criterion *c,
                       double score)
{
    size_t i = 0;

    if (score > m->score)
        m->score = score;
    if (!m->rule || r->action > m->action) {
        m->rule = r->name;
        m->action = r->action;
    }
    if (!m->field)
        m->field = c->fields[0]->name;
    while (i < m->nmatched && strcmp(m->matched[i], c->method->name) != 0)
        i++;
    if (i == m->nmatched && m->nmatched < MAX_MATCHED)
        m->matched[m->nmatched++] = c->method->name;
}

struct candidates {
    struct matches *ms;
    const struct rule *r;
    const struct criterion *c;
    const char *name; /* fuzzy: this record's name key */
};

static int candidate_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct candidates *x = ctx;
    struct match *m;
    double score = 1.0;

    if (n < 1 || cols[0].type != RP_V_TEXT)
        return 0;
    if (x->name) {
        if (n < 2 || cols[1].type != RP_V_TEXT)
            return 0;
        score = rp_sales_similarity(x->name, strlen(x->name), cols[1].u.s.p, cols[1].u.s.len);
        if (score < x->c->threshold)
            return 0;
    }
    if ((m = match_of(x->ms, cols[0].u.s.p, cols[0].u.s.len)))
        match_note(m, x->r, x->c, score);
    return 0;
}

static const char *keyset_get(const struct keyset *ks, const char *method, size_t *from)
{
    for (size_t i = *from; i < ks->n; i++)
        if (strcmp(ks->k[i].method, method) == 0) {
            *from = i + 1;
            return ks->k[i].key;
        }
    return NULL;
}

/* Live records of o other than id that share a key with ks under criterion c of rule r. */
static int criterion_matches(struct rp_store_conn *c, const struct rp_object *o, const char *id,
                             const struct rule *r, const struct criterion *cr,
                             const struct keyset *ks, struct rp_arena *arena, struct matches *ms,
                             struct rp_error *err)
{
    size_t from = 0, nfrom = 0;
    const char *key, *name = NULL;
    int rc = 0;

    if (cr->method->fuzzy && !(name = keyset_get(ks, cr->method->name, &nfrom)))
        return 0;
    while (rc == 0 &&
           (key = keyset_get(ks, cr->method->fuzzy ? cr->block_by : cr->method->name, &from))) {
        struct candidates x = {ms, r, cr, name};
        struct rp_sql q;
        rp_sql_init(&q, arena, rp_store_conn_dialect(c));
        if (cr->method->fuzzy) {
            rp_sql_add(&q, "SELECT k.record_id, n.key FROM rp_match_key AS k JOIN rp_match_key AS n"
                           " ON n.object = k.object AND n.record_id = k.record_id AND n.method = ");
            rp_sql_param(&q, rp_value_cstr(cr->method->name));
            rp_sql_addf(&q,
                        " JOIN \"%s\" AS t ON t.id = k.record_id AND t.deleted_at IS NULL"
                        " WHERE k.object = ",
                        o->name);
        } else {
            rp_sql_addf(&q,
                        "SELECT k.record_id FROM rp_match_key AS k JOIN \"%s\" AS t"
                        " ON t.id = k.record_id AND t.deleted_at IS NULL WHERE k.object = ",
                        o->name);
        }
        rp_sql_param(&q, rp_value_cstr(o->name));
        rp_sql_add(&q, " AND k.method = ");
        rp_sql_param(&q, rp_value_cstr(cr->method->fuzzy ? cr->block_by : cr->method->name));
        rp_sql_add(&q, " AND k.key = ");
        rp_sql_param(&q, rp_value_cstr(key));
        rp_sql_add(&q, " AND k.record_id <> ");
        rp_sql_param(&q, rp_value_cstr(id));
        rp_sql_addf(&q, " LIMIT %d", CANDIDATES_PER_KEY);
        rc = rp_store_query(c, &q, candidate_row, &x, err);
    }
    return rc;
}

/* Whether the write changed a field criterion c reads (every criterion counts when changed is
 * NULL); a fuzzy criterion also depends on its blocking criterion's fields. */
static bool criterion_changed(const struct rule *r, const struct criterion *c, const bool *changed)
{
    if (!changed)
        return true;
    for (size_t i = 0; i < c->nfields; i++)
        if (changed[c->fields[i]->index])
            return true;
    if (!c->method->fuzzy)
        return false;
    for (size_t k = 0; k < r->n; k++)
        if (strcmp(r->c[k].method->name, c->block_by) == 0 &&
            criterion_changed(r, &r->c[k], changed))
            return true;
    return false;
}

static int find_matches(struct rp_store_conn *c, const struct rp_object *o, const char *id,
                        const struct rules *rules, const struct keyset *ks, const bool *changed,
                        struct rp_arena *arena, struct matches *ms, struct rp_error *err)
{
    int rc = 0;

    ms->n = 0;
    for (size_t i = 0; rc == 0 && i < rules->n; i++)
        for (size_t k = 0; rc == 0 && k < rules->r[i].n; k++)
            if (!rules->r[i].c[k].block_only &&
                criterion_changed(&rules->r[i], &rules->r[i].c[k], changed))
                rc = criterion_matches(c, o, id, &rules->r[i], &rules->r[i].c[k], ks, arena, ms,
                                       err);
    return rc;
}

/* Whether p may read record id of o: 1 or 0, or an error code. */
static int readable(struct rp_store_conn *c, const struct rp_meta *m, const struct rp_principal *p,
                    const struct rp_object *o, const char *id, struct rp_arena *arena,
                    struct rp_error *err)
{
    struct rp_sql q;
    bool found = false;
    int rc;

    rp_sql_init(&q, arena, rp_store_conn_dialect(c));
    rp_sql_addf(&q, "SELECT 1 FROM \"%s\" AS \"t\" WHERE \"t\".\"id\" = ", o->name);
    rp_sql_param(&q, rp_value_cstr(id));
    rp_sql_add(&q, " AND ");
    rp_policy_row_sql(p, m, o, "t", RP_ACCESS_READ, &q);
    rc = rp_store_query(c, &q, rp_store_row_exists, &found, err);
    return rc < 0 ? rc : found;
}

static int by_score(const void *a, const void *b)
{
    const struct match *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->id, y->id);
}

static void matched_list(const struct match *m, struct rp_buf *out)
{
    for (size_t i = 0; i < m->nmatched; i++) {
        if (i)
            rp_buf_adds(out, ", ");
        rp_buf_adds(out, m->matched[i]);
    }
}

/* ---- the write hook ---- */

static int flag_matches(struct rp_store_conn *c, const struct rp_write_event *ev,
                        const struct matches *ms, struct rp_error *err)
{
    json_t *dups = json_array(), *data;
    struct rp_sql q;
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < ms->n; i++) {
        const struct match *m = &ms->m[i];
        json_t *matched = json_array();
        char *text;
        for (size_t k = 0; k < m->nmatched; k++)
            json_array_append_new(matched, json_string(m->matched[k]));
        if (!(text = rp_json_dumps(matched, JSON_COMPACT, err))) {
            rc = err->code;
            json_decref(matched);
            break;
        }
        {
            const struct rp_value row[] = {
                rp_value_cstr(ev->object->name), rp_value_cstr(ev->id), rp_value_cstr(m->id),
                rp_value_cstr(m->rule),          rp_value_cstr(text),   rp_value_int(ev->now)};
            rp_sql_init(&q, ev->arena, rp_store_conn_dialect(c));
            rp_sql_add(&q, "INSERT INTO rp_duplicate_flag (object, record_id, duplicate_id, rule,"
                           " matched, created_at) VALUES ");
            rp_sql_param_list(&q, row, sizeof(row) / sizeof(row[0]));
            rp_sql_add(&q, " ON CONFLICT (object, record_id, duplicate_id) DO UPDATE SET"
                           " rule = excluded.rule, matched = excluded.matched,"
                           " created_at = excluded.created_at");
            rc = rp_store_exec(c, &q, NULL, err);
        }
        free(text);
        json_array_append_new(
            dups, json_pack("{sssfso}", "id", m->id, "score", m->score, "matched", matched));
    }
    data = json_pack("{sssssO}", "object", ev->object->name, "rule", ms->m[0].rule, "duplicates",
                     dups);
    if (rc == 0 && !data)
        rc = rp_json_error_alloc(err);
    if (rc == 0)
        rc = rp_records_event_in(c, ev->now, "duplicate.flagged", ev->id, ev->principal->user_id,
                                 data, ev->arena, err);
    json_decref(data);
    json_decref(dups);
    return rc;
}

static int refuse(struct rp_store_conn *c, const struct rp_write_event *ev,
                  const struct matches *ms, bool warn, struct rp_error *err)
{
    bool *shown_to = rp_arena_calloc(ev->arena, ms->n, sizeof(*shown_to));
    size_t shown = 0;

    /* which matches the writer may see, asked before the error is set: a failed check is the
       answer then, not a refusal that hides records it could have named */
    for (size_t i = 0; i < ms->n; i++) {
        int rc = readable(c, ev->meta, ev->principal, ev->object, ms->m[i].id, ev->arena, err);
        if (rc < 0)
            return rc;
        shown_to[i] = rc == 1;
    }
    rp_error_set(err, RP_EDUPLICATE, "this %s duplicates %zu existing record%s%s", ev->object->name,
                 ms->n, ms->n == 1 ? "" : "s",
                 warn ? "; send allow_duplicates=true to save it anyway" : "");
    for (size_t i = 0; i < ms->n; i++) {
        const struct match *m = &ms->m[i];
        struct rp_buf b;
        if (!shown_to[i])
            continue;
        rp_buf_init(&b, ev->arena, 1024);
        matched_list(m, &b);
        rp_error_field(err, RP_EDUPLICATE, m->field, "duplicate",
                       "duplicate of %s %s (matched: %s)", ev->object->name, m->id, b.data);
        shown++;
    }
    if (shown < ms->n)
        err->detail = rp_arena_sprintf(ev->arena, "%s (%zu of them you cannot read)", err->detail,
                                       ms->n - shown);
    return err->code;
}

/* The record's values after the write, by field index. */
static struct rp_value *values_after(const struct rp_write_event *ev)
{
    const struct rp_object *o = ev->object;
    struct rp_value *v = rp_arena_calloc(ev->arena, o->nfields, sizeof(*v));

    for (size_t i = 0; i < o->nfields; i++) {
        if (ev->changed && ev->changed[i])
            v[i] = ev->values[i];
        else if (ev->old)
            v[i] = ev->old[i];
        else
            v[i] = rp_value_null();
    }
    return v;
}

static int dedup_hook(void *ctx, const struct rp_write_event *ev, struct rp_error *err)
{
    struct rules *rules;
    struct keyset *ks;
    struct matches *ms;
    enum action worst = ACTION_FLAG;
    const char *country;
    bool defined;
    int rc;

    (void)ctx;
    if ((rc = rp_records_definitions_exist(ev->rs, ev->c, RP_SALES_DUPLICATE_RULES,
                                           ev->object->name, &defined, err)) < 0 ||
        !defined || (rc = load_rules(ev->c, ev->object, &rules, ev->arena, err)) < 0 || !rules)
        return rc;
    if (ev->op == RP_WRITE_DELETE)
        return delete_keys(ev->c, ev->object->name, ev->id, ev->arena, err);
    if (ev->op == RP_WRITE_UPDATE) {
        bool any = false;
        for (size_t i = 0; i < rules->n; i++)
            for (size_t k = 0; k < rules->r[i].n; k++)
                any = any || criterion_changed(&rules->r[i], &rules->r[i].c[k], ev->changed);
        if (!any)
            return 0;
    }
    if (!(country = default_country(ev->c, ev->arena, err)))
        return err->code;
    ks = rp_arena_calloc(ev->arena, 1, sizeof(*ks));
    record_keys(rules, values_after(ev), country, ev->arena, ks);
    if ((rc = delete_keys(ev->c, ev->object->name, ev->id, ev->arena, err)) < 0 ||
        (rc = insert_keys(ev->c, ev->object->name, ev->id, ks, ev->arena, err)) < 0)
        return rc;
    if (ev->op == RP_WRITE_RESTORE)
        return 0; /* a restored record gets its keys back; restoring is not refused */
    ms = rp_arena_calloc(ev->arena, 1, sizeof(*ms));
    if ((rc = find_matches(ev->c, ev->object, ev->id, rules, ks,
                           ev->op == RP_WRITE_UPDATE ? ev->changed : NULL, ev->arena, ms, err)) <
            0 ||
        ms->n == 0)
        return rc;
    qsort(ms->m, ms->n, sizeof(ms->m[0]), by_score);
    for (size_t i = 0; i < ms->n; i++)
        if (ms->m[i].action > worst)
            worst = ms->m[i].action;
    if (worst == ACTION_BLOCK || (worst == ACTION_WARN && !(ev->flags & RP_WRITE_ALLOW_DUPLICATES)))
        return refuse(ev->c, ev, ms, worst == ACTION_WARN, err);
    return flag_matches(ev->c, ev, ms, err);
}

/* ---- building the keys of an object's records when its rules change ---- */

/* Keys inserted by one statement: a fixed size, so one prepared statement serves them. */
#define BUILD_INSERT 200

struct build_key {
    const char *id, *method, *key;
};

struct build_page {
    const struct rp_object *o;
    const struct rules *rules;
    const char *country;
    struct rp_arena *arena;
    size_t nfields; /* criterion fields read, in order of cols[1..] */
    const struct rp_field **fields;
    char last[RP_UUID_STRLEN + 1];
    size_t rows;
    struct build_key *keys; /* the page's keys, inserted once the page is read */
    size_t nkeys, cap;
};

static int build_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct build_page *x = ctx;
    struct rp_value *values = rp_arena_calloc(x->arena, x->o->nfields, sizeof(*values));
    struct keyset ks;
    const char *id;

    if (n < x->nfields + 1 || cols[0].type != RP_V_TEXT || cols[0].u.s.len > RP_UUID_STRLEN)
        return 0;
    id = rp_arena_strndup(x->arena, cols[0].u.s.p, cols[0].u.s.len);
    snprintf(x->last, sizeof(x->last), "%s", id);
    x->rows++;
    for (size_t i = 0; i < x->nfields; i++)
        values[x->fields[i]->index] =
            cols[i + 1].type == RP_V_TEXT
                ? rp_value_cstr(rp_arena_strndup(x->arena, cols[i + 1].u.s.p, cols[i + 1].u.s.len))
                : rp_value_null();
    record_keys(x->rules, values, x->country, x->arena, &ks);
    for (size_t i = 0; i < ks.n; i++) {
        if (x->nkeys == x->cap) {
            struct build_key *more = rp_arena_calloc(x->arena, x->cap * 2 + 64, sizeof(*more));
            if (x->nkeys)
                memcpy(more, x->keys, x->nkeys * sizeof(*more));
            x->keys = more;
            x->cap = x->cap * 2 + 64;
        }
        x->keys[x->nkeys++] = (struct build_key){id, ks.k[i].method, ks.k[i].key};
    }
    return 0;
}

static int build_insert(struct rp_store_conn *c, const struct build_page *x, struct rp_error *err)
{
    int rc = 0;

    for (size_t at = 0; rc == 0 && at < x->nkeys; at += BUILD_INSERT) {
        size_t n = x->nkeys - at < BUILD_INSERT ? x->nkeys - at : BUILD_INSERT;
        struct rp_sql q;
        rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
        rp_sql_add(&q, "INSERT INTO rp_match_key (object, record_id, method, key) VALUES ");
        for (size_t i = 0; i < n; i++) {
            const struct build_key *k = &x->keys[at + i];
            const struct rp_value row[] = {rp_value_cstr(x->o->name), rp_value_cstr(k->id),
                                           rp_value_cstr(k->method), rp_value_cstr(k->key)};
            if (i)
                rp_sql_add(&q, ", ");
            rp_sql_param_list(&q, row, 4);
        }
        rc = rp_store_exec(c, &q, NULL, err);
    }
    return rc;
}

static int build_object(struct rp_sales *s, struct rp_store_conn *c, const char *object,
                        struct rp_error *err)
{
    struct rp_meta *m = rp_meta_acquire(s->meta);
    const struct rp_object *o = object ? rp_meta_object(m, object) : NULL;
    struct rules *rules = NULL;
    struct build_page x;
    struct rp_arena arena, page;
    int64_t count = 0;
    int rc = 0;

    rp_arena_init(&arena);
    rp_arena_init(&page);
    if (!o)
        goto out;
    if ((rc = delete_keys(c, o->name, NULL, &arena, err)) < 0 ||
        (rc = load_rules(c, o, &rules, &arena, err)) < 0 || !rules)
        goto out;
    {
        struct rp_sql q;
        rp_sql_init(&q, &arena, rp_store_conn_dialect(c));
        rp_sql_addf(&q, "SELECT COUNT(*) FROM \"%s\" WHERE \"deleted_at\" IS NULL", o->name);
        if ((rc = rp_store_query(c, &q, rp_store_row_int, &count, err)) < 0)
            goto out;
    }
    if (count > BUILD_MAX_ROWS) {
        rc = rp_error_field(err, RP_EVALIDATION, "object", "too_many_records",
                            "%s has %lld records; duplicate rules build their keys in the request"
                            " for at most %d",
                            o->name, (long long)count, BUILD_MAX_ROWS);
        goto out;
    }
    memset(&x, 0, sizeof(x));
    x.o = o;
    x.rules = rules;
    if (!(x.country = default_country(c, &arena, err))) {
        rc = err->code;
        goto out;
    }
    x.fields =
        rp_arena_calloc(&arena, MAX_RULES * MAX_CRITERIA * MAX_NAME_PARTS, sizeof(*x.fields));
    for (size_t i = 0; i < rules->n; i++)
        for (size_t k = 0; k < rules->r[i].n; k++)
            for (size_t f = 0; f < rules->r[i].c[k].nfields; f++)
                x.fields[x.nfields++] = rules->r[i].c[k].fields[f];
    for (;;) {
        struct rp_sql q;
        x.arena = &page;
        x.rows = 0;
        x.keys = NULL;
        x.nkeys = x.cap = 0;
        rp_sql_init(&q, &page, rp_store_conn_dialect(c));
        rp_sql_add(&q, "SELECT \"id\"");
        for (size_t i = 0; i < x.nfields; i++) {
            rp_sql_add(&q, ", ");
            rp_sql_ident(&q, x.fields[i]->name);
        }
        rp_sql_addf(&q, " FROM \"%s\" WHERE \"deleted_at\" IS NULL AND \"id\" > ", o->name);
        rp_sql_param(&q, rp_value_cstr(x.last));
        rp_sql_addf(&q, " ORDER BY \"id\" LIMIT %d", BUILD_PAGE);
        if ((rc = rp_store_query(c, &q, build_row, &x, err)) < 0 ||
            (rc = build_insert(c, &x, err)) < 0)
            break;
        rp_arena_reset(&page);
        if (x.rows < BUILD_PAGE)
            break;
    }
out:
    rp_arena_release(&page);
    rp_arena_release(&arena);
    rp_meta_release(m);
    return rc;
}

static int rules_stored(void *ctx, struct rp_store_conn *c, const struct rp_definition_change *ch,
                        struct rp_error *err)
{
    int rc = 0;

    if (ch->old_object && (!ch->new_object || strcmp(ch->old_object, ch->new_object) != 0))
        rc = build_object(ctx, c, ch->old_object, err);
    if (rc == 0 && ch->new_object)
        rc = build_object(ctx, c, ch->new_object, err);
    return rc;
}

void rp_sales_dedup_register(struct rp_sales *s)
{
    rp_records_definition_kind_add(
        s->records, &(struct rp_definition_kind){.kind = RP_SALES_DUPLICATE_RULES,
                                                 .noun = "duplicate rule",
                                                 .permission = RP_ACT_MANAGE_METADATA,
                                                 .check = rules_check,
                                                 .stored = rules_stored,
                                                 .ctx = s});
    rp_records_hook_add(s->records, &(struct rp_write_hook){.fn = dedup_hook, .ctx = s});
}

/* ---- the duplicates of a record ---- */

struct key_rows {
    struct keyset *ks;
    struct rp_arena *arena;
};

static int key_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct key_rows *x = ctx;
    const struct rp_sales_match_method *m;

    if (n < 2 || cols[0].type != RP_V_TEXT || cols[1].type != RP_V_TEXT)
        return 0;
    m = rp_sales_match_method(rp_arena_strndup(x->arena, cols[0].u.s.p, cols[0].u.s.len));
    if (m)
        keyset_add(x->ks, m->name, rp_arena_strndup(x->arena, cols[1].u.s.p, cols[1].u.s.len));
    return 0;
}

int rp_sales_duplicates(struct rp_sales *s, const struct rp_principal *p, const char *object,
                        const char *id, struct rp_arena *arena, struct rp_buf *out,
                        struct rp_error *err)
{
    struct rules *rules = NULL;
    struct keyset *ks = rp_arena_calloc(arena, 1, sizeof(*ks));
    struct matches *ms = rp_arena_calloc(arena, 1, sizeof(*ms));
    struct key_rows kr = {ks, arena};
    struct rp_store_conn *c;
    struct rp_meta *m;
    const struct rp_object *o;
    struct rp_buf probe;
    struct rp_sql q;
    int64_t version;
    size_t shown = 0;
    int rc;

    rp_buf_init(&probe, arena, 1 << 20);
    if ((rc = rp_records_get(s->records, p, object, id, "id", arena, &probe, &version, err)) < 0)
        return rc;
    m = rp_meta_acquire(s->meta);
    o = rp_meta_object(m, object);
    c = rp_store_reader_acquire(s->store);
    rc =
        o ? load_rules(c, o, &rules, arena, err) : rp_error_set(err, RP_ENOTFOUND, "no %s", object);
    if (rc == 0 && rules) {
        rp_sql_init(&q, arena, rp_store_conn_dialect(c));
        rp_sql_add(&q, "SELECT method, key FROM rp_match_key WHERE object = ");
        rp_sql_param(&q, rp_value_cstr(object));
        rp_sql_add(&q, " AND record_id = ");
        rp_sql_param(&q, rp_value_cstr(id));
        if ((rc = rp_store_query(c, &q, key_row, &kr, err)) == 0)
            rc = find_matches(c, o, id, rules, ks, NULL, arena, ms, err);
    }
    if (rc == 0) {
        size_t start = out->len;
        qsort(ms->m, ms->n, sizeof(ms->m[0]), by_score);
        rp_buf_adds(out, "{\"data\":[");
        for (size_t i = 0; i < ms->n; i++) {
            const struct match *x = &ms->m[i];
            int r = readable(c, m, p, o, x->id, arena, err);
            if (r < 0) {
                rc = r;
                break;
            }
            if (!r)
                continue;
            rp_buf_addf(out, "%s{\"id\":\"%s\",\"score\":%.4f,\"matched\":[", shown++ ? "," : "",
                        x->id, x->score);
            for (size_t k = 0; k < x->nmatched; k++)
                rp_buf_addf(out, "%s\"%s\"", k ? "," : "", x->matched[k]);
            rp_buf_adds(out, "]}");
        }
        if (rc == 0)
            rp_buf_adds(out, "]}");
        else
            rp_buf_truncate(out, start);
    }
    rp_store_reader_release(s->store, c);
    rp_meta_release(m);
    return rc;
}

/* ---- merge and undo ---- */

struct merge_unit {
    struct rp_sales *s;
    const struct rp_principal *p;
    struct rp_principal internal; /* the caller, unrestricted: re-pointing references */
    const char *object, *master_id, *dup_id, *merge_id, *request_id, *cause;
    const json_t *choices;
    struct rp_meta *m;
    struct rp_arena *arena;
    struct rp_error *err;
    int64_t now;
    /* outcome */
    char id[RP_UUID_STRLEN + 1];
};

static int write_one(struct merge_unit *x, struct rp_store_conn *c, const struct rp_principal *as,
                     const char *object, enum rp_write_op op, const char *id, json_t *data)
{
    struct rp_error sub;
    struct rp_write w = {.op = op, .id = id, .data = data, .if_match = -1};
    struct rp_write_request wr = {.principal = as,
                                  .object = object,
                                  .writes = &w,
                                  .nwrites = 1,
                                  .request_id = x->request_id,
                                  .cause = x->cause,
                                  .flags = RP_WRITE_ALLOW_DUPLICATES,
                                  .arena = x->arena,
                                  .err = &sub};
    int rc;

    rp_error_init(&sub, x->arena);
    if ((rc = rp_records_write_in(x->s->records, c, &wr)) < 0 && !x->err->code) {
        rp_error_copy(x->err, &sub);
        x->err->detail = rp_arena_sprintf(x->arena, "%s %s: %s", object, id,
                                          sub.detail ? sub.detail : "could not write");
    }
    return rc;
}

static int read_json(struct merge_unit *x, struct rp_store_conn *c, const char *id, json_t **out)
{
    struct rp_error sub;
    struct rp_buf b;
    int rc;

    *out = NULL;
    rp_error_init(&sub, x->arena);
    rp_buf_init(&b, x->arena, 1 << 20);
    rc = rp_records_read_in(x->s->records, c, x->p, x->object, id, true, x->arena, &b, &sub);
    if (rc == RP_ENOTFOUND)
        return rp_error_set(x->err, RP_ENOTFOUND, "no %s %s", x->object, id);
    if (rc < 0)
        return rp_error_copy(x->err, &sub);
    *out = rp_json_loadb(b.data, b.len, 0, NULL);
    return *out ? 0 : rp_error_set(x->err, RP_EINTERNAL, "could not read the %s", x->object);
}

struct id_list {
    json_t *ids;
};

static int id_list_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct id_list *x = ctx;
    if (n > 0 && cols[0].type == RP_V_TEXT)
        json_array_append_new(x->ids, json_stringn(cols[0].u.s.p, cols[0].u.s.len));
    return 0;
}

/* Re-points the live records of o whose field holds the duplicate; notes each in repointed. */
static int repoint_field(struct merge_unit *x, struct rp_store_conn *c, const struct rp_object *o,
                         const char *field, bool related, json_t *repointed)
{
    struct id_list l = {json_array()};
    struct rp_sql q;
    const json_t *v;
    size_t i;
    int rc;

    rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
    rp_sql_addf(&q, "SELECT \"id\" FROM \"%s\" WHERE \"deleted_at\" IS NULL AND ", o->name);
    rp_sql_ident(&q, field);
    rp_sql_add(&q, " = ");
    rp_sql_param(&q, rp_value_cstr(x->dup_id));
    if (related) {
        rp_sql_add(&q, " AND \"related_object\" = ");
        rp_sql_param(&q, rp_value_cstr(x->object));
    }
    rp_sql_add(&q, " AND \"id\" <> ");
    rp_sql_param(&q, rp_value_cstr(x->dup_id));
    rp_sql_add(&q, " ORDER BY \"id\"");
    rc = rp_store_query(c, &q, id_list_row, &l, x->err);
    json_array_foreach(l.ids, i, v)
    {
        const char *id = json_string_value(v);
        /* the master pointing at its duplicate would point at itself: the link is cleared */
        bool self = strcmp(o->name, x->object) == 0 && strcmp(id, x->master_id) == 0;
        json_t *data = json_object();
        if (rc < 0)
            break;
        json_object_set_new(data, field, self ? json_null() : json_string(x->master_id));
        rc = write_one(x, c, &x->internal, o->name, RP_WRITE_UPDATE, id, data);
        json_decref(data);
        json_array_append_new(repointed, json_pack("{ssssssss?}", "object", o->name, "field", field,
                                                   "id", id, "to", self ? NULL : x->master_id));
    }
    json_decref(l.ids);
    return rc;
}

/* Every reference to the duplicate, in every object, goes to the master. */
static int repoint_all(struct merge_unit *x, struct rp_store_conn *c, json_t *repointed)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < x->m->nobjects; i++) {
        const struct rp_object *o = &x->m->objects[i];
        const struct rp_field *ro = rp_meta_field(o, "related_object");
        const struct rp_field *rid = rp_meta_field(o, "related_id");
        if (o->append_only) /* a ledger keeps what it recorded */
            continue;
        for (size_t k = 0; rc == 0 && k < o->nfields; k++) {
            const struct rp_field *f = &o->fields[k];
            if (f->type == RP_F_REFERENCE && f->target && strcmp(f->target, x->object) == 0)
                rc = repoint_field(x, c, o, f->name, false, repointed);
        }
        if (rc == 0 && ro && rid && ro->vtype == RP_V_TEXT && rid->vtype == RP_V_TEXT)
            rc = repoint_field(x, c, o, "related_id", true, repointed);
    }
    return rc;
}

static int check_choices(struct merge_unit *x, const struct rp_object *o)
{
    const char *key;
    json_t *v;

    if (!x->choices)
        return 0;
    if (!json_is_object(x->choices))
        return rp_error_field(x->err, RP_EINVAL, "fields", "invalid",
                              "\"fields\" is an object of field names and \"master\" or"
                              " \"duplicate\"");
    json_object_foreach((json_t *)x->choices, key, v)
    {
        const struct rp_field *f = rp_meta_field(o, key);
        const char *choice = json_string_value(v);
        if (!f || f->system || f->type == RP_F_FORMULA ||
            rp_policy_field(x->p, o, f) != RP_FIELD_EDIT)
            return rp_error_field(x->err, RP_EVALIDATION, key, "invalid",
                                  "\"%s\" is not a field of %s you can edit", key, o->name);
        if (!choice || (strcmp(choice, "master") != 0 && strcmp(choice, "duplicate") != 0))
            return rp_error_field(x->err, RP_EVALIDATION, key, "invalid",
                                  "the value of \"%s\" is \"master\" or \"duplicate\"", key);
    }
    return 0;
}

static int insert_merge(struct merge_unit *x, struct rp_store_conn *c, const json_t *before,
                        const json_t *after, const json_t *repointed)
{
    char *b = rp_json_dumps(before, JSON_COMPACT | JSON_SORT_KEYS, x->err);
    char *a = rp_json_dumps(after, JSON_COMPACT | JSON_SORT_KEYS, x->err);
    char *r = rp_json_dumps(repointed, JSON_COMPACT, x->err);
    struct rp_sql q;
    int rc;

    if (!b || !a || !r) {
        rc = x->err->code;
    } else {
        const struct rp_value row[] = {
            rp_value_cstr(x->id),     rp_value_cstr(x->object), rp_value_cstr(x->master_id),
            rp_value_cstr(x->dup_id), rp_value_cstr("merged"),  rp_value_cstr(b),
            rp_value_cstr(a),         rp_value_cstr(r),         rp_value_cstr(x->p->user_id),
            rp_value_int(x->now)};
        rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
        rp_sql_add(&q, "INSERT INTO rp_merge (id, object, master_id, duplicate_id, state,"
                       " master_before, master_after, repointed, merged_by, merged_at) VALUES ");
        rp_sql_param_list(&q, row, sizeof(row) / sizeof(row[0]));
        rc = rp_store_exec(c, &q, NULL, x->err);
    }
    free(b);
    free(a);
    free(r);
    return rc;
}

static int merge_run(struct rp_store_conn *c, void *ctx, struct rp_error *unit_err)
{
    struct merge_unit *x = ctx;
    json_t *master = NULL, *dup = NULL, *after_rec = NULL;
    json_t *data = json_object(), *before = json_object(), *after = json_object();
    json_t *repointed = json_array(), *event;
    const char *key;
    json_t *v;
    int rc;

    (void)unit_err;
    rp_error_clear(x->err);
    rp_uuid_v7(x->id, x->now);
    if ((rc = read_json(x, c, x->master_id, &master)) < 0 ||
        (rc = read_json(x, c, x->dup_id, &dup)) < 0)
        goto out;
    json_object_foreach((json_t *)x->choices, key, v)
    {
        const json_t *mv = json_object_get(master, key), *dv = json_object_get(dup, key);
        if (strcmp(json_string_value(v), "duplicate") != 0 || json_equal(mv, dv))
            continue;
        json_object_set_new(data, key, dv ? json_incref((json_t *)dv) : json_null());
        json_object_set_new(before, key, mv ? json_incref((json_t *)mv) : json_null());
    }
    /* the duplicate goes first: a unique value it holds may be the master's next */
    if ((rc = write_one(x, c, x->p, x->object, RP_WRITE_DELETE, x->dup_id, NULL)) < 0 ||
        (rc = repoint_all(x, c, repointed)) < 0 ||
        (rc = write_one(x, c, x->p, x->object, RP_WRITE_UPDATE, x->master_id, data)) < 0 ||
        (rc = read_json(x, c, x->master_id, &after_rec)) < 0)
        goto out;
    json_object_foreach(before, key, v)
    {
        const json_t *av = json_object_get(after_rec, key);
        json_object_set_new(after, key, av ? json_incref((json_t *)av) : json_null());
    }
    if ((rc = insert_merge(x, c, before, after, repointed)) < 0)
        goto out;
    event = json_pack("{sssssssssI}", "object", x->object, "master_id", x->master_id,
                      "duplicate_id", x->dup_id, "merge_id", x->id, "repointed",
                      (json_int_t)json_array_size(repointed));
    rc = rp_records_event_in(c, x->now, "record.merged", x->master_id, x->p->user_id, event,
                             x->arena, x->err);
    json_decref(event);
out:
    json_decref(master);
    json_decref(dup);
    json_decref(after_rec);
    json_decref(data);
    json_decref(before);
    json_decref(after);
    json_decref(repointed);
    return rc;
}

static void merge_init(struct rp_sales *s, const struct rp_principal *p, const char *request_id,
                       struct rp_arena *arena, struct rp_error *err, struct merge_unit *x)
{
    memset(x, 0, sizeof(*x));
    x->s = s;
    x->p = p;
    x->internal = *p;
    x->internal.is_admin = true;
    x->request_id = request_id;
    x->arena = arena;
    x->err = err;
    x->now = rp_clock_now_ms(s->clock);
}

static int run_unit(struct merge_unit *x, rp_store_write_fn fn)
{
    struct rp_error store_err;
    int rc;

    rp_error_init(&store_err, x->arena);
    x->m = rp_meta_acquire(x->s->meta);
    rc = rp_store_write(x->s->store, fn, x, &store_err);
    rp_meta_release(x->m);
    if (rc < 0 && !x->err->code)
        rp_error_copy(x->err, &store_err);
    return rc < 0 ? (x->err->code ? x->err->code : rc) : 0;
}

int rp_sales_merge(struct rp_sales *s, const struct rp_principal *p, const char *object,
                   const char *id, const char *duplicate_id, const json_t *choices,
                   const char *request_id, struct rp_arena *arena, struct rp_buf *out,
                   struct rp_error *err)
{
    struct merge_unit x;
    struct rp_meta *m;
    const struct rp_object *o;
    int rc;

    merge_init(s, p, request_id, arena, err, &x);
    x.object = object;
    x.master_id = id;
    x.dup_id = duplicate_id;
    x.choices = choices;
    m = rp_meta_acquire(s->meta);
    o = rp_meta_object(m, object);
    if (!o)
        rc = rp_error_set(err, RP_ENOTFOUND, "no such object \"%s\"", object);
    else if (!rp_uuid_is_valid(id, strlen(id)))
        rc = rp_error_set(err, RP_ENOTFOUND, "no %s %s", object, id);
    else if (!duplicate_id || !rp_uuid_is_valid(duplicate_id, strlen(duplicate_id)))
        rc = rp_error_field(err, RP_EINVAL, "duplicate_id", "invalid",
                            "\"duplicate_id\" must be a record id");
    else if (strcmp(id, duplicate_id) == 0)
        rc = rp_error_field(err, RP_EVALIDATION, "duplicate_id", "invalid",
                            "a record cannot be merged into itself");
    else if (o->append_only)
        rc = rp_error_set(err, RP_EVALIDATION, "%s records cannot be merged", object);
    else
        rc = check_choices(&x, o);
    rp_meta_release(m);
    if (rc < 0)
        return rc;
    x.cause = rp_arena_sprintf(arena, "{\"merge\":\"%s\",\"depth\":0}", duplicate_id);
    if ((rc = run_unit(&x, merge_run)) < 0)
        return rc;
    return rp_sales_merge_get(s, p, x.id, arena, out, err);
}

/* ---- reading a merge ---- */

struct merge_row {
    struct rp_arena *arena;
    bool found;
    const char *col[12]; /* as selected; NULL for SQL NULL */
    int64_t merged_at, undone_at;
};

#define MERGE_COLUMNS                                                                     \
    "id, object, master_id, duplicate_id, state, master_before, master_after, repointed," \
    " merged_by, undone_by, merged_at, undone_at"

static int merge_row_fn(void *ctx, const struct rp_value *cols, size_t n)
{
    struct merge_row *x = ctx;

    if (n < 12)
        return 1;
    x->found = true;
    for (size_t i = 0; i < 10; i++)
        x->col[i] = cols[i].type == RP_V_TEXT
                        ? rp_arena_strndup(x->arena, cols[i].u.s.p, cols[i].u.s.len)
                        : NULL;
    x->merged_at = cols[10].u.i;
    x->undone_at = cols[11].type == RP_V_INT ? cols[11].u.i : 0;
    return 1;
}

static int load_merge(struct rp_store_conn *c, const char *id, struct rp_arena *arena,
                      struct merge_row *row, struct rp_error *err)
{
    struct rp_sql q;
    int rc;

    memset(row, 0, sizeof(*row));
    row->arena = arena;
    rp_sql_init(&q, arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT " MERGE_COLUMNS " FROM rp_merge WHERE id = ");
    rp_sql_param(&q, rp_value_cstr(id));
    if ((rc = rp_store_query(c, &q, merge_row_fn, row, err)) < 0)
        return rc;
    return row->found ? 0 : rp_error_set(err, RP_ENOTFOUND, "no merge %s", id);
}

static void add_datetime(struct rp_buf *out, int64_t ms)
{
    struct rp_value t = rp_value_typed_int(RP_V_DATETIME, ms);
    rp_value_to_json(out, &t);
}

int rp_sales_merge_get(struct rp_sales *s, const struct rp_principal *p, const char *merge_id,
                       struct rp_arena *arena, struct rp_buf *out, struct rp_error *err)
{
    struct merge_row row;
    struct rp_store_conn *c;
    struct rp_buf probe;
    int64_t version;
    int rc;

    c = rp_store_reader_acquire(s->store);
    rc = load_merge(c, merge_id, arena, &row, err);
    rp_store_reader_release(s->store, c);
    if (rc < 0)
        return rc;
    rp_buf_init(&probe, arena, 1 << 20);
    /* a merge is visible to whoever may read its master record */
    rc = rp_records_get(s->records, p, row.col[1], row.col[2], "id", arena, &probe, &version, err);
    if (rc == RP_ENOTFOUND || rc == RP_EFORBIDDEN) {
        rp_error_clear(err);
        return rp_error_set(err, RP_ENOTFOUND, "no merge %s", merge_id);
    }
    if (rc < 0)
        return rc;
    rp_buf_addf(out,
                "{\"id\":\"%s\",\"object\":\"%s\",\"master_id\":\"%s\",\"duplicate_id\":\"%s\","
                "\"state\":\"%s\",\"master_before\":%s,\"master_after\":%s,\"repointed\":%s,"
                "\"merged_by\":\"%s\",\"merged_at\":",
                row.col[0], row.col[1], row.col[2], row.col[3], row.col[4], row.col[5], row.col[6],
                row.col[7], row.col[8]);
    add_datetime(out, row.merged_at);
    rp_buf_adds(out, ",\"undone_by\":");
    if (row.col[9])
        rp_buf_addf(out, "\"%s\"", row.col[9]);
    else
        rp_buf_adds(out, "null");
    rp_buf_adds(out, ",\"undone_at\":");
    if (row.undone_at)
        add_datetime(out, row.undone_at);
    else
        rp_buf_adds(out, "null");
    rp_buf_addc(out, '}');
    return 0;
}

/* ---- undo ---- */

struct field_value {
    const char *field;
    struct rp_arena *arena;
    const char *text; /* NULL: SQL NULL */
    bool found;
};

static int field_value_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct field_value *x = ctx;
    x->found = true;
    if (n > 0 && cols[0].type == RP_V_TEXT)
        x->text = rp_arena_strndup(x->arena, cols[0].u.s.p, cols[0].u.s.len);
    return 1;
}

/* Points a re-pointed reference back at the duplicate if it still holds what the merge set. */
static int repoint_back(struct merge_unit *x, struct rp_store_conn *c, const json_t *ref)
{
    const char *object = json_string_value(json_object_get(ref, "object"));
    const char *field = json_string_value(json_object_get(ref, "field"));
    const char *id = json_string_value(json_object_get(ref, "id"));
    const char *to = json_string_value(json_object_get(ref, "to"));
    const struct rp_object *o = object ? rp_meta_object(x->m, object) : NULL;
    struct field_value fv = {field, x->arena, NULL, false};
    struct rp_sql q;
    json_t *data;
    int rc;

    if (!o || !field || !id || !rp_meta_field(o, field))
        return 0;
    rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT ");
    rp_sql_ident(&q, field);
    rp_sql_addf(&q, " FROM \"%s\" WHERE \"deleted_at\" IS NULL AND \"id\" = ", o->name);
    rp_sql_param(&q, rp_value_cstr(id));
    if ((rc = rp_store_query(c, &q, field_value_row, &fv, x->err)) < 0)
        return rc;
    /* a record deleted since, or a reference changed since, is left as it is now */
    if (!fv.found || (to ? !fv.text || strcmp(fv.text, to) != 0 : fv.text != NULL))
        return 0;
    data = json_pack("{ss}", field, x->dup_id);
    rc = write_one(x, c, &x->internal, o->name, RP_WRITE_UPDATE, id, data);
    json_decref(data);
    return rc;
}

static int undo_run(struct rp_store_conn *c, void *ctx, struct rp_error *unit_err)
{
    struct merge_unit *x = ctx;
    struct merge_row row;
    json_t *master = NULL, *before = NULL, *after = NULL, *repointed = NULL, *ref, *event;
    const char *key;
    json_t *v;
    size_t i;
    struct rp_sql q;
    int rc;

    (void)unit_err;
    rp_error_clear(x->err);
    if ((rc = load_merge(c, x->merge_id, x->arena, &row, x->err)) < 0)
        return rc;
    x->object = row.col[1];
    x->master_id = row.col[2];
    x->dup_id = row.col[3];
    if ((rc = read_json(x, c, x->master_id, &master)) == RP_ENOTFOUND || rc == RP_EFORBIDDEN) {
        rp_error_clear(x->err);
        return rp_error_set(x->err, RP_ENOTFOUND, "no merge %s", x->merge_id);
    }
    if (rc < 0)
        return rc;
    if (strcmp(row.col[4], "merged") != 0) {
        rc = rp_error_set(x->err, RP_ECONFLICT, "merge %s was already undone", x->merge_id);
        goto out;
    }
    before = rp_json_loads(row.col[5], 0, NULL);
    after = rp_json_loads(row.col[6], 0, NULL);
    repointed = rp_json_loads(row.col[7], 0, NULL);
    json_object_foreach(after, key, v)
    {
        if (!json_equal(json_object_get(master, key) ? json_object_get(master, key) : json_null(),
                        v))
            rp_error_field(x->err, RP_ECONFLICT, key, "changed",
                           "\"%s\" of %s %s changed after the merge", key, x->object, x->master_id);
    }
    if (x->err->code) {
        rc = x->err->code;
        goto out;
    }
    if ((rc = write_one(x, c, x->p, x->object, RP_WRITE_UPDATE, x->master_id, before)) < 0 ||
        (rc = write_one(x, c, x->p, x->object, RP_WRITE_RESTORE, x->dup_id, NULL)) < 0)
        goto out;
    json_array_foreach(repointed, i, ref)
    {
        if ((rc = repoint_back(x, c, ref)) < 0)
            goto out;
    }
    rp_sql_init(&q, x->arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "UPDATE rp_merge SET state = 'undone', undone_by = ");
    rp_sql_param(&q, rp_value_cstr(x->p->user_id));
    rp_sql_add(&q, ", undone_at = ");
    rp_sql_param(&q, rp_value_int(x->now));
    rp_sql_add(&q, " WHERE id = ");
    rp_sql_param(&q, rp_value_cstr(x->merge_id));
    if ((rc = rp_store_exec(c, &q, NULL, x->err)) < 0)
        goto out;
    event = json_pack("{ssssssss}", "object", x->object, "master_id", x->master_id, "duplicate_id",
                      x->dup_id, "merge_id", x->merge_id);
    rc = rp_records_event_in(c, x->now, "record.unmerged", x->master_id, x->p->user_id, event,
                             x->arena, x->err);
    json_decref(event);
out:
    json_decref(master);
    json_decref(before);
    json_decref(after);
    json_decref(repointed);
    return rc;
}

int rp_sales_merge_undo(struct rp_sales *s, const struct rp_principal *p, const char *merge_id,
                        const char *request_id, struct rp_arena *arena, struct rp_buf *out,
                        struct rp_error *err)
{
    struct merge_unit x;
    int rc;

    if (!rp_uuid_is_valid(merge_id, strlen(merge_id)))
        return rp_error_set(err, RP_ENOTFOUND, "no merge %s", merge_id);
    merge_init(s, p, request_id, arena, err, &x);
    x.merge_id = merge_id;
    x.cause = rp_arena_sprintf(arena, "{\"unmerge\":\"%s\",\"depth\":0}", merge_id);
    if ((rc = run_unit(&x, undo_run)) < 0)
        return rc;
    return rp_sales_merge_get(s, p, merge_id, arena, out, err);
}
