/*
 * Named definitions (records.h, "Definitions"): JSON documents of kinds that modules register
 * (queues, journeys, duplicate rules, ...), each checked by its kind's function and kept in
 * rp_definition.
 */
#include "base/arena.h"
#include "base/json.h"
#include "base/limits.h"
#include "base/sql.h"
#include "base/str.h"
#include "records/records_int.h"

#include <stdlib.h>
#include <string.h>

void rp_records_definition_kind_add(struct rp_records *rs, const struct rp_definition_kind *k)
{
    if (rs->ndefinition_kinds < RP_RECORDS_MAX_DEFINITION_KINDS)
        rs->definition_kinds[rs->ndefinition_kinds++] = *k;
}

static const struct rp_definition_kind *kind_of(struct rp_records *rs, const char *kind,
                                                struct rp_error *err)
{
    for (size_t i = 0; kind && i < rs->ndefinition_kinds; i++)
        if (strcmp(rs->definition_kinds[i].kind, kind) == 0)
            return &rs->definition_kinds[i];
    rp_error_set(err, RP_ENOTFOUND, "no such kind of definition \"%s\"", kind ? kind : "");
    return NULL;
}

/* A row callback: the first column's text, malloc'd, into *(char **)ctx. */
static int text_row(void *ctx, const struct rp_value *cols, size_t n)
{
    char **out = ctx;

    if (n > 0 && cols[0].type == RP_V_TEXT && !*out)
        *out = rp_xstrndup(cols[0].u.s.p, cols[0].u.s.len);
    return 1;
}

struct definition_write {
    const struct rp_definition_kind *k;
    const char *kind, *noun, *name, *object, *text; /* text NULL: delete */
    const char *actor;
    int64_t now;
    bool created; /* out */
};

static int definition_write_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct definition_write *x = ctx;
    struct rp_arena a;
    struct rp_sql q;
    int64_t exists = 0, changed = 0;
    char *old_object = NULL;
    int rc;

    rp_arena_init(&a);
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT COUNT(*) FROM rp_definition WHERE kind = ");
    rp_sql_param(&q, rp_value_cstr(x->kind));
    rp_sql_add(&q, " AND name = ");
    rp_sql_param(&q, rp_value_cstr(x->name));
    if ((rc = rp_store_query(c, &q, rp_store_row_int, &exists, err)) < 0)
        goto out;
    x->created = exists == 0;
    if (x->k->stored && exists) {
        rp_sql_init(&q, &a, rp_store_conn_dialect(c));
        rp_sql_add(&q, "SELECT object FROM rp_definition WHERE kind = ");
        rp_sql_param(&q, rp_value_cstr(x->kind));
        rp_sql_add(&q, " AND name = ");
        rp_sql_param(&q, rp_value_cstr(x->name));
        if ((rc = rp_store_query(c, &q, text_row, &old_object, err)) < 0)
            goto out;
    }
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    if (!x->text) {
        rp_sql_add(&q, "DELETE FROM rp_definition WHERE kind = ");
        rp_sql_param(&q, rp_value_cstr(x->kind));
        rp_sql_add(&q, " AND name = ");
        rp_sql_param(&q, rp_value_cstr(x->name));
    } else {
        rp_sql_add(&q, "INSERT INTO rp_definition (kind, name, object, definition, created_at,"
                       " updated_at) VALUES (");
        rp_sql_param(&q, rp_value_cstr(x->kind));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_cstr(x->name));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, x->object ? rp_value_cstr(x->object) : rp_value_null());
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_cstr(x->text));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_int(x->now));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_int(x->now));
        rp_sql_add(&q, ") ON CONFLICT (kind, name) DO UPDATE SET object = excluded.object,"
                       " definition = excluded.definition, updated_at = excluded.updated_at");
    }
    if ((rc = rp_store_exec(c, &q, &changed, err)) < 0)
        goto out;
    if (!x->text && changed == 0) {
        rc = rp_error_set(err, RP_ENOTFOUND, "%s \"%s\" not found", x->noun, x->name);
        goto out;
    }
    {
        /* configuration is audited like records: object "definition", id "kind/name" */
        const struct rp_value v[] = {
            rp_value_int(x->now),
            rp_value_cstr(x->actor),
            rp_value_cstr(x->text ? "definition.put" : "definition.delete"),
            rp_value_cstr("definition"),
            rp_value_cstr(rp_arena_sprintf(&a, "%s/%s", x->kind, x->name)),
            rp_value_cstr(x->text ? x->text : "{}")};
        rp_sql_init(&q, &a, rp_store_conn_dialect(c));
        rp_sql_add(&q,
                   "INSERT INTO rp_audit (at, actor, action, object, record_id, changes) VALUES ");
        rp_sql_param_list(&q, v, sizeof(v) / sizeof(v[0]));
        if ((rc = rp_store_exec(c, &q, NULL, err)) < 0)
            goto out;
    }
    if ((rc = rp_store_notify(c, RP_RECORDS_NOTICE_DEFINITION, x->kind, err)) < 0)
        goto out;
    if (x->k->stored) {
        const struct rp_definition_change ch = {.name = x->name,
                                                .old_object = old_object,
                                                .new_object = x->text ? x->object : NULL,
                                                .deleted = !x->text};
        rc = x->k->stored(x->k->ctx, c, &ch, err);
    }
out:
    free(old_object);
    rp_arena_release(&a);
    return rc;
}

/* ---- which objects have definitions ----
 *
 * Write hooks ask on every write whether its object has a definition of their kind (a pipeline,
 * duplicate rules, a scoring model), and most objects have none: the answer comes from the set
 * of (kind, object) pairs in rp_definition, read once and kept. While a definition write of this
 * process is queued or running, the set is unknown and the answer is "yes" (the hook reads the
 * table in its own transaction, so it sees a change made earlier in it); when the write has
 * ended, committed or not, the set is read again. A set read while the generation moved (a
 * write began or ended, or another process's notice arrived) may be stale and is not kept.
 */

#define DEFINED_PAIRS_MAX (1u << 20)

static void defined_reset(struct rp_records *rs, int writing)
{
    pthread_mutex_lock(&rs->defined.lock);
    rs->defined.writing += writing;
    rs->defined.generation++;
    free(rs->defined.pairs);
    rs->defined.pairs = NULL;
    pthread_mutex_unlock(&rs->defined.lock);
}

void rp_records_definitions_forget(struct rp_records *rs)
{
    defined_reset(rs, 0);
}

static int pair_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct rp_buf *b = ctx;

    if (n >= 2 && cols[0].type == RP_V_TEXT && cols[1].type == RP_V_TEXT) {
        rp_buf_add(b, cols[0].u.s.p, cols[0].u.s.len);
        rp_buf_addc(b, '\t');
        rp_buf_add(b, cols[1].u.s.p, cols[1].u.s.len);
        rp_buf_addc(b, '\n');
    }
    return 0;
}

static bool pairs_have(const char *pairs, const char *kind, const char *object)
{
    char key[2 * RP_LIMIT_NAME_BYTES + 8];

    snprintf(key, sizeof(key), "\n%s\t%s%s", kind, object ? object : "", object ? "\n" : "");
    return strstr(pairs, key) != NULL;
}

int rp_records_definitions_exist(struct rp_records *rs, struct rp_store_conn *c, const char *kind,
                                 const char *object, bool *exists, struct rp_error *err)
{
    struct rp_arena a;
    struct rp_buf b;
    struct rp_sql q;
    uint64_t generation;
    int rc;

    pthread_mutex_lock(&rs->defined.lock);
    generation = rs->defined.generation;
    *exists = rs->defined.writing > 0 ||
              (rs->defined.pairs && pairs_have(rs->defined.pairs, kind, object));
    if (rs->defined.writing > 0 || rs->defined.pairs) {
        pthread_mutex_unlock(&rs->defined.lock);
        return 0;
    }
    pthread_mutex_unlock(&rs->defined.lock);

    rp_arena_init(&a);
    rp_buf_init(&b, &a, DEFINED_PAIRS_MAX);
    rp_buf_addc(&b, '\n');
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT DISTINCT kind, COALESCE(object, '') FROM rp_definition");
    if ((rc = rp_store_query(c, &q, pair_row, &b, err)) == 0 && rp_buf_error(&b)) {
        *exists = true; /* more pairs than anyone should have: every hook looks */
    } else if (rc == 0) {
        *exists = pairs_have(b.data, kind, object);
        pthread_mutex_lock(&rs->defined.lock);
        if (generation == rs->defined.generation && !rs->defined.pairs)
            rs->defined.pairs = rp_xstrdup(b.data);
        pthread_mutex_unlock(&rs->defined.lock);
    }
    rp_arena_release(&a);
    return rc;
}

/* A definition write: the set of pairs is unknown from before it is queued to after it ends. */
static int definition_write(struct rp_records *rs, struct definition_write *x, struct rp_error *err)
{
    int rc;

    defined_reset(rs, 1);
    rc = rp_store_write(rs->store, definition_write_run, x, err);
    defined_reset(rs, -1);
    return rc;
}

int rp_records_definition_put(struct rp_records *rs, const struct rp_principal *p, const char *kind,
                              const char *name, const json_t *def, bool *created,
                              struct rp_error *err)
{
    const struct rp_definition_kind *k;
    struct definition_write x = {.name = name, .now = rp_clock_now_ms(rs->clock)};
    struct rp_meta *m;
    struct rp_arena arena;
    int rc;

    if (!(k = kind_of(rs, kind, err)))
        return err->code;
    if ((rc = rp_policy_check(p, NULL, k->permission, err)) < 0)
        return rc;
    if (!rp_str_is_name(name))
        return rp_error_field(err, RP_EVALIDATION, "name", "invalid",
                              "a %s name is 1-64 of a-z, 0-9 and '_', starting with a letter",
                              k->noun);
    if (!json_is_object(def))
        return rp_error_set(err, RP_EINVAL, "a %s is a JSON object", k->noun);
    x.k = k;
    x.kind = k->kind;
    x.noun = k->noun;
    x.actor = p->user_id ? p->user_id : "system";
    rp_arena_init(&arena);
    m = rp_meta_acquire(rs->meta);
    if ((rc = k->check(k->ctx, m, def, &arena, err)) == 0) {
        x.object = json_string_value(json_object_get(def, "object"));
        x.text = rp_json_dumps(def, JSON_COMPACT | JSON_SORT_KEYS, err);
        rc = !x.text ? err->code : definition_write(rs, &x, err);
        free((char *)x.text);
        if (created)
            *created = x.created;
    }
    rp_meta_release(m);
    rp_arena_release(&arena);
    return rc;
}

int rp_records_definition_delete(struct rp_records *rs, const struct rp_principal *p,
                                 const char *kind, const char *name, struct rp_error *err)
{
    const struct rp_definition_kind *k;
    struct definition_write x = {.name = name, .now = rp_clock_now_ms(rs->clock)};
    int rc;

    if (!(k = kind_of(rs, kind, err)))
        return err->code;
    if ((rc = rp_policy_check(p, NULL, k->permission, err)) < 0)
        return rc;
    x.k = k;
    x.kind = k->kind;
    x.noun = k->noun;
    x.actor = p->user_id ? p->user_id : "system";
    return definition_write(rs, &x, err);
}

struct list_rows {
    struct rp_buf *out;
    size_t n;
};

/* The stored definition text is canonical JSON already: the answer is built without jansson,
   so that answering after a committed PUT cannot fail on an allocation. */
static int list_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct list_rows *x = ctx;

    if (n < 4 || cols[0].type != RP_V_TEXT || cols[2].type != RP_V_TEXT)
        return 0;
    rp_buf_adds(x->out, x->n++ ? ",{\"name\":" : "{\"name\":");
    rp_buf_add_json_str(x->out, cols[0].u.s.p, cols[0].u.s.len);
    rp_buf_adds(x->out, ",\"object\":");
    if (cols[1].type == RP_V_TEXT)
        rp_buf_add_json_str(x->out, cols[1].u.s.p, cols[1].u.s.len);
    else
        rp_buf_adds(x->out, "null");
    rp_buf_adds(x->out, ",\"definition\":");
    rp_buf_add(x->out, cols[2].u.s.p, cols[2].u.s.len);
    {
        struct rp_value at = rp_value_typed_int(RP_V_DATETIME, cols[3].u.i);
        rp_buf_adds(x->out, ",\"updated_at\":");
        rp_value_to_json(x->out, &at);
        rp_buf_addc(x->out, '}');
    }
    return 0;
}

int rp_records_definitions(struct rp_records *rs, const struct rp_principal *p, const char *kind,
                           const char *name, struct rp_buf *out, struct rp_error *err)
{
    const struct rp_definition_kind *k;
    struct list_rows x = {.out = out};
    struct rp_store_conn *c;
    struct rp_arena arena;
    struct rp_sql q;
    size_t start = out->len;
    int rc;

    if (!(k = kind_of(rs, kind, err)))
        return err->code;
    if (!p || !p->user_id)
        return rp_error_set(err, RP_EUNAUTH, "authentication required");
    if (!k->readable && (rc = rp_policy_check(p, NULL, k->permission, err)) < 0)
        return rc;
    rp_arena_init(&arena);
    rp_sql_init(&q, &arena, RP_SQL_SQLITE);
    rp_sql_add(&q, "SELECT name, object, definition, updated_at FROM rp_definition WHERE kind = ");
    rp_sql_param(&q, rp_value_cstr(k->kind));
    if (name) {
        rp_sql_add(&q, " AND name = ");
        rp_sql_param(&q, rp_value_cstr(name));
    }
    rp_sql_add(&q, " ORDER BY name");
    if (!name)
        rp_buf_adds(out, "{\"data\":[");
    c = rp_store_reader_acquire(rs->store);
    rc = rp_store_query(c, &q, list_row, &x, err);
    rp_store_reader_release(rs->store, c);
    if (rc == 0 && name && x.n == 0)
        rc = rp_error_set(err, RP_ENOTFOUND, "%s \"%s\" not found", k->noun, name);
    if (rc < 0)
        rp_buf_truncate(out, start);
    else if (!name)
        rp_buf_adds(out, "]}");
    rp_arena_release(&arena);
    return rc;
}

struct load_row {
    json_t *def;
};

static int load_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct load_row *x = ctx;

    if (n >= 1 && cols[0].type == RP_V_TEXT)
        x->def = rp_json_loadb(cols[0].u.s.p, cols[0].u.s.len, 0, NULL);
    return 1;
}

int rp_records_definition_load(struct rp_store_conn *c, const char *kind, const char *noun,
                               const char *name, json_t **def, struct rp_error *err)
{
    struct load_row x = {NULL};
    struct rp_arena arena;
    struct rp_sql q;
    int rc;

    *def = NULL;
    rp_arena_init(&arena);
    rp_sql_init(&q, &arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT definition FROM rp_definition WHERE kind = ");
    rp_sql_param(&q, rp_value_cstr(kind));
    rp_sql_add(&q, " AND name = ");
    rp_sql_param(&q, rp_value_cstr(name ? name : ""));
    rc = rp_store_query(c, &q, load_row, &x, err);
    rp_arena_release(&arena);
    if (rc == 0 && !x.def)
        rc = rp_error_set(err, RP_ENOTFOUND, "%s \"%s\" not found", noun, name ? name : "");
    *def = rc == 0 ? x.def : NULL;
    if (rc < 0)
        json_decref(x.def);
    return rc;
}
