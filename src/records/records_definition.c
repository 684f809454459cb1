/*
 * Named definitions (records.h, "Definitions"): JSON documents of kinds that modules register
 * (queues, journeys, duplicate rules, ...), each checked by its kind's function and kept in
 * rp_definition.
 */
#include "base/arena.h"
#include "base/json.h"
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
    if (!x->text && changed == 0)
        rc = rp_error_set(err, RP_ENOTFOUND, "%s \"%s\" not found", x->noun, x->name);
    else if (x->k->stored)
        rc = x->k->stored(x->k->ctx, c, old_object, x->text ? x->object : NULL, err);
out:
    free(old_object);
    rp_arena_release(&a);
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
    rp_arena_init(&arena);
    m = rp_meta_acquire(rs->meta);
    if ((rc = k->check(k->ctx, m, def, &arena, err)) == 0) {
        x.object = json_string_value(json_object_get(def, "object"));
        x.text = rp_json_dumps(def, JSON_COMPACT | JSON_SORT_KEYS, err);
        rc = !x.text ? err->code : rp_store_write(rs->store, definition_write_run, &x, err);
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
    return rp_store_write(rs->store, definition_write_run, &x, err);
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
    rp_buf_addf(x->out, ",\"updated_at\":%lld}", (long long)cols[3].u.i);
    return 0;
}

int rp_records_definitions(struct rp_records *rs, const struct rp_principal *p, const char *kind,
                           struct rp_buf *out, struct rp_error *err)
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
    rp_sql_add(&q, " ORDER BY name");
    rp_buf_adds(out, "{\"data\":[");
    c = rp_store_reader_acquire(rs->store);
    rc = rp_store_query(c, &q, list_row, &x, err);
    rp_store_reader_release(rs->store, c);
    if (rc == 0)
        rp_buf_adds(out, "]}");
    else
        rp_buf_truncate(out, start);
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
