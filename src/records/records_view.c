/*
 * Saved list views (records.h, "Saved views"): a user's named choice of columns, filter
 * expression, sort and search for one object's list, kept in rp_saved_view. A user sees their
 * own views and the shared ones; only administrators share, and a view is changed or deleted by
 * its owner, or by an administrator when it is shared. A view that is neither the caller's nor
 * shared answers 404 like a missing one.
 */
#include "base/arena.h"
#include "base/json.h"
#include "base/limits.h"
#include "base/sql.h"
#include "base/str.h"
#include "base/time.h"
#include "base/utf8.h"
#include "base/uuid.h"
#include "records/records_int.h"

#include <stdlib.h>
#include <string.h>

#define MAX_VIEW_NAME    100 /* code points */
#define MAX_VIEW_COLUMNS 200
#define MAX_VIEW_Q       200
#define MAX_VIEWS        500 /* per user and object */

/* A view as stored. */
struct view {
    char *id, *owner_id, *object, *name, *definition;
    bool shared;
    int64_t updated_at;
};

static void view_clear(struct view *v)
{
    free(v->id);
    free(v->owner_id);
    free(v->object);
    free(v->name);
    free(v->definition);
    memset(v, 0, sizeof(*v));
}

static char *text_of(const struct rp_value *v)
{
    return v->type == RP_V_TEXT ? rp_xstrndup(v->u.s.p, v->u.s.len) : rp_xstrdup("");
}

static void view_from_row(struct view *v, const struct rp_value *cols)
{
    v->id = text_of(&cols[0]);
    v->owner_id = text_of(&cols[1]);
    v->object = text_of(&cols[2]);
    v->name = text_of(&cols[3]);
    v->definition = text_of(&cols[4]);
    v->shared = cols[5].type == RP_V_INT && cols[5].u.i != 0;
    v->updated_at = cols[6].type == RP_V_INT ? cols[6].u.i : 0;
}

#define VIEW_COLUMNS "id, owner_id, object, name, definition, shared, updated_at"

/* The view as the API shows it: the definition's members beside the row's. */
static json_t *view_json(const struct view *v, const struct rp_principal *p)
{
    json_t *def = rp_json_loads(v->definition, 0, NULL);
    json_t *j = json_object();
    struct rp_arena a;
    struct rp_buf at;

    rp_arena_init(&a);
    rp_buf_init(&at, &a, 64);
    rp_time_format_datetime(&at, v->updated_at);
    json_object_set_new(j, "id", json_string(v->id));
    json_object_set_new(j, "name", json_string(v->name));
    json_object_set_new(j, "object", json_string(v->object));
    if (json_is_object(def))
        json_object_update(j, def);
    json_object_set_new(j, "shared", json_boolean(v->shared));
    json_object_set_new(j, "owner_id", json_string(v->owner_id));
    json_object_set_new(j, "mine", json_boolean(strcmp(v->owner_id, p->user_id) == 0));
    json_object_set_new(j, "updated_at", json_stringn(at.data, at.len));
    json_decref(def);
    rp_arena_release(&a);
    return j;
}

static int dump_to(json_t *doc, struct rp_buf *out, struct rp_error *err)
{
    char *text = rp_json_dumps(doc, JSON_COMPACT, err);
    int rc = text ? 0 : err->code;

    if (text)
        rp_buf_adds(out, text);
    free(text);
    json_decref(doc);
    return rc;
}

struct view_list {
    json_t *data;
    const struct rp_principal *p;
};

static int list_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct view_list *x = ctx;
    struct view v = {0};

    if (n < 7)
        return 0;
    view_from_row(&v, cols);
    json_array_append_new(x->data, view_json(&v, x->p));
    view_clear(&v);
    return 0;
}

int rp_records_views(struct rp_records *rs, const struct rp_principal *p, const char *object,
                     struct rp_buf *out, struct rp_error *err)
{
    struct view_list x = {.p = p};
    struct rp_store_conn *c;
    struct rp_arena arena;
    struct rp_sql q;
    int rc;

    if (!p || !p->user_id)
        return rp_error_set(err, RP_EUNAUTH, "authentication required");
    x.data = json_array();
    rp_arena_init(&arena);
    rp_sql_init(&q, &arena, rp_store_dialect(rs->store));
    rp_sql_add(&q, "SELECT " VIEW_COLUMNS " FROM rp_saved_view WHERE (owner_id = ");
    rp_sql_param(&q, rp_value_cstr(p->user_id));
    rp_sql_add(&q, " OR shared = 1)");
    if (object) {
        rp_sql_add(&q, " AND object = ");
        rp_sql_param(&q, rp_value_cstr(object));
    }
    rp_sql_add(&q, " ORDER BY object, name, id");
    c = rp_store_reader_acquire(rs->store);
    rc = rp_store_query(c, &q, list_row, &x, err);
    rp_store_reader_release(rs->store, c);
    rp_arena_release(&arena);
    if (rc < 0) {
        json_decref(x.data);
        return rc;
    }
    return dump_to(json_pack("{so}", "data", x.data), out, err);
}

static int one_row(void *ctx, const struct rp_value *cols, size_t n)
{
    struct view *v = ctx;
    if (n >= 7 && !v->id)
        view_from_row(v, cols);
    return 1;
}

/* Reads view id as the caller may see it: RP_ENOTFOUND when it is neither theirs nor shared. */
static int view_get(struct rp_store_conn *c, const struct rp_principal *p, const char *id,
                    struct view *v, struct rp_error *err)
{
    struct rp_arena arena;
    struct rp_sql q;
    int rc;

    rp_arena_init(&arena);
    rp_sql_init(&q, &arena, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT " VIEW_COLUMNS " FROM rp_saved_view WHERE id = ");
    rp_sql_param(&q, rp_value_cstr(id));
    rp_sql_add(&q, " AND (owner_id = ");
    rp_sql_param(&q, rp_value_cstr(p->user_id));
    rp_sql_add(&q, " OR shared = 1)");
    rc = rp_store_query(c, &q, one_row, v, err);
    rp_arena_release(&arena);
    if (rc == 0 && !v->id)
        rc = rp_error_set(err, RP_ENOTFOUND, "view \"%s\" not found", id);
    return rc;
}

/* Owners change their views; administrators change shared ones too. */
static int may_change(const struct rp_principal *p, const struct view *v, struct rp_error *err)
{
    if (strcmp(v->owner_id, p->user_id) == 0 || (v->shared && p->is_admin))
        return 0;
    return rp_error_set(err, RP_EFORBIDDEN, "view \"%s\" belongs to another user", v->name);
}

/* ---- validation ---- */

static int check_columns(const struct rp_object *o, const json_t *cols, struct rp_error *err)
{
    size_t i;
    json_t *v;

    if (!json_is_array(cols) || json_array_size(cols) > MAX_VIEW_COLUMNS)
        return rp_error_field(err, RP_EVALIDATION, "columns", "invalid_type",
                              "\"columns\" must be an array of at most %d field names",
                              MAX_VIEW_COLUMNS);
    json_array_foreach(cols, i, v)
    {
        const char *name = json_string_value(v);
        if (!name || !rp_meta_field(o, name))
            return rp_error_field(err, RP_EVALIDATION, "columns", "unknown_field",
                                  "columns[%zu]: object \"%s\" has no field \"%s\"", i, o->name,
                                  name ? name : "(not a string)");
        for (size_t k = 0; k < i; k++)
            if (strcmp(json_string_value(json_array_get(cols, k)), name) == 0)
                return rp_error_field(err, RP_EVALIDATION, "columns", "duplicate",
                                      "columns[%zu]: \"%s\" is listed twice", i, name);
    }
    return 0;
}

static int check_sort(const struct rp_object *o, const char *sort, struct rp_error *err)
{
    const char *s = sort;

    while (*s) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        char name[64];

        if (n && *s == '-') {
            s++;
            n--;
        }
        if (n == 0 || n >= sizeof(name))
            return rp_error_field(err, RP_EVALIDATION, "sort", "invalid",
                                  "\"sort\" is a comma-separated list of field names, each "
                                  "optionally prefixed with '-'");
        memcpy(name, s, n);
        name[n] = '\0';
        if (!rp_meta_field(o, name))
            return rp_error_field(err, RP_EVALIDATION, "sort", "unknown_field",
                                  "sort: object \"%s\" has no field \"%s\"", o->name, name);
        s += n;
        if (*s == ',')
            s++;
    }
    return 0;
}

static int check_text(const json_t *v, const char *key, size_t max, bool nonblank,
                      struct rp_error *err)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);

    if (!json_is_string(v) || memchr(s, '\0', n) || !rp_utf8_is_valid(s, n) ||
        rp_utf8_length(s, n) > max || (nonblank && strspn(s, " \t\r\n") == n))
        return rp_error_field(err, RP_EVALIDATION, key, "invalid",
                              "\"%s\" must be %stext of at most %zu characters", key,
                              nonblank ? "non-blank " : "", max);
    return 0;
}

/*
 * Checks the merged view doc {"name", "object", "columns", "filter", "sort", "q", "shared"}
 * and moves the list parts into def.
 */
static int check_view(struct rp_records *rs, const struct rp_principal *p, json_t *doc, json_t *def,
                      struct rp_error *err)
{
    const char *object = json_string_value(json_object_get(doc, "object"));
    const json_t *v;
    const struct rp_object *o;
    struct rp_meta *m;
    struct rp_arena arena;
    int rc = 0;

    if ((rc = check_text(json_object_get(doc, "name"), "name", MAX_VIEW_NAME, true, err)) < 0)
        return rc;
    if (!object)
        return rp_error_field(err, RP_EVALIDATION, "object", "required", "\"object\" is required");
    if ((v = json_object_get(doc, "shared")) && !json_is_boolean(v))
        return rp_error_field(err, RP_EVALIDATION, "shared", "invalid_type",
                              "\"shared\" must be true or false");
    rp_arena_init(&arena);
    m = rp_meta_acquire(rs->meta);
    if (!(o = rp_meta_object(m, object))) {
        rc = rp_error_field(err, RP_EVALIDATION, "object", "not_found",
                            "object \"%s\" does not exist", object);
        goto out;
    }
    if ((rc = rp_policy_check(p, object, RP_ACT_READ, err)) < 0)
        goto out;
    if ((v = json_object_get(doc, "columns"))) {
        if ((rc = check_columns(o, v, err)) < 0)
            goto out;
        json_object_set(def, "columns", (json_t *)v);
    } else {
        json_object_set_new(def, "columns", json_array());
    }
    if ((v = json_object_get(doc, "filter")) && !json_is_null(v)) {
        struct rp_expr *e;
        struct rp_error sub;
        if ((rc = check_text(v, "filter", RP_LIMIT_STRING_BYTES, false, err)) < 0)
            goto out;
        rp_error_init(&sub, &arena);
        if (json_string_length(v)) {
            if (rp_meta_parse_expr(m, o, json_string_value(v), json_string_length(v),
                                   rp_clock_now_ms(rs->clock), &arena, &e, &sub) < 0)
                rc = rp_error_field(err, RP_EVALIDATION, "filter", "invalid", "filter: %s",
                                    sub.detail);
            else if (rp_expr_type(e) != RP_V_BOOL)
                rc = rp_error_field(err, RP_EVALIDATION, "filter", "invalid",
                                    "filter: the expression must be a condition");
            if (rc < 0)
                goto out;
        }
        json_object_set(def, "filter", (json_t *)v);
    } else {
        json_object_set_new(def, "filter", json_string(""));
    }
    if ((v = json_object_get(doc, "sort")) && !json_is_null(v)) {
        if ((rc = check_text(v, "sort", 1000, false, err)) < 0 ||
            (rc = check_sort(o, json_string_value(v), err)) < 0)
            goto out;
        json_object_set(def, "sort", (json_t *)v);
    } else {
        json_object_set_new(def, "sort", json_string(""));
    }
    if ((v = json_object_get(doc, "q")) && !json_is_null(v)) {
        if ((rc = check_text(v, "q", MAX_VIEW_Q, false, err)) < 0)
            goto out;
        json_object_set(def, "q", (json_t *)v);
    } else {
        json_object_set_new(def, "q", json_string(""));
    }
    if (json_is_true(json_object_get(doc, "shared")) && !p->is_admin)
        rc = rp_error_set(err, RP_EFORBIDDEN, "only administrators share views");
out:
    rp_meta_release(m);
    rp_arena_release(&arena);
    return rc;
}

/* ---- writes ---- */

struct view_write {
    const struct rp_principal *p;
    const char *id;     /* the view changed or deleted; NULL: a new one */
    const char *new_id; /* a new view's id */
    json_t *body;       /* NULL: delete */
    struct rp_records *rs;
    struct rp_buf *out; /* the view after the write */
};

static int count_row(void *ctx, const struct rp_value *cols, size_t n)
{
    return rp_store_row_int(ctx, cols, n);
}

static int view_write_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    static const char *const keys[] = {"name", "object", "columns", "filter",
                                       "sort", "q",      "shared",  NULL};
    struct view_write *x = ctx;
    struct view old = {0}, now = {0};
    json_t *doc = NULL, *def = json_object();
    struct rp_arena arena;
    struct rp_sql q;
    int64_t t = rp_clock_now_ms(x->rs->clock), n = 0;
    /* The unit runs on the writer thread, out of sight of the HTTP layer's check: a jansson
     * allocation that failed quietly (base/json.h) fails the unit here. */
    uint64_t failed_allocs = rp_json_failed_allocs();
    char *text = NULL;
    const char *key;
    json_t *v;
    int rc = 0;

    rp_arena_init(&arena);
    if (x->id) {
        if ((rc = view_get(c, x->p, x->id, &old, err)) < 0 ||
            (rc = may_change(x->p, &old, err)) < 0)
            goto out;
    }
    rp_sql_init(&q, &arena, rp_store_conn_dialect(c));
    if (!x->body) {
        rp_sql_add(&q, "DELETE FROM rp_saved_view WHERE id = ");
        rp_sql_param(&q, rp_value_cstr(x->id));
        rc = rp_store_exec(c, &q, NULL, err);
        goto out;
    }
    json_object_foreach(x->body, key, v)
    {
        bool ok = false;
        for (size_t i = 0; keys[i]; i++)
            ok = ok || strcmp(key, keys[i]) == 0;
        if (!ok) {
            rc = rp_error_field(err, RP_EINVAL, key, "unknown_field",
                                "unknown key \"%s\" in a view", key);
            goto out;
        }
    }
    if (x->id && (v = json_object_get(x->body, "object")) &&
        (!json_is_string(v) || strcmp(json_string_value(v), old.object) != 0)) {
        rc = rp_error_field(err, RP_EVALIDATION, "object", "read_only",
                            "a view's object cannot change");
        goto out;
    }
    /* A change starts from the stored view; a new view from nothing. */
    doc = x->id ? rp_json_loads(old.definition, 0, NULL) : json_object();
    if (!json_is_object(doc)) {
        json_decref(doc);
        doc = json_object();
    }
    if (x->id) {
        json_object_set_new(doc, "name", json_string(old.name));
        json_object_set_new(doc, "object", json_string(old.object));
        json_object_set_new(doc, "shared", json_boolean(old.shared));
    }
    json_object_update(doc, x->body);
    if (rp_json_failed_allocs() != failed_allocs) {
        rc = rp_json_error_alloc(err);
        goto out;
    }
    if ((rc = check_view(x->rs, x->p, doc, def, err)) < 0)
        goto out;
    if (rp_json_failed_allocs() != failed_allocs) {
        rc = rp_json_error_alloc(err);
        goto out;
    }
    if (x->id && old.shared && !json_is_true(json_object_get(doc, "shared")) && !x->p->is_admin) {
        rc = rp_error_set(err, RP_EFORBIDDEN, "only administrators unshare views");
        goto out;
    }
    /* The name is unique per owner and object. */
    rp_sql_add(&q, "SELECT COUNT(*) FROM rp_saved_view WHERE owner_id = ");
    rp_sql_param(&q, rp_value_cstr(x->id ? old.owner_id : x->p->user_id));
    rp_sql_add(&q, " AND object = ");
    rp_sql_param(&q, rp_value_cstr(json_string_value(json_object_get(doc, "object"))));
    rp_sql_add(&q, " AND name = ");
    rp_sql_param(&q, rp_value_cstr(json_string_value(json_object_get(doc, "name"))));
    if (x->id) {
        rp_sql_add(&q, " AND id <> ");
        rp_sql_param(&q, rp_value_cstr(x->id));
    }
    if ((rc = rp_store_query(c, &q, count_row, &n, err)) < 0)
        goto out;
    if (n > 0) {
        rc = rp_error_field(err, RP_ECONFLICT, "name", "exists", "a view named \"%s\" exists",
                            json_string_value(json_object_get(doc, "name")));
        goto out;
    }
    if (!x->id) {
        n = 0;
        rp_sql_init(&q, &arena, rp_store_conn_dialect(c));
        rp_sql_add(&q, "SELECT COUNT(*) FROM rp_saved_view WHERE owner_id = ");
        rp_sql_param(&q, rp_value_cstr(x->p->user_id));
        rp_sql_add(&q, " AND object = ");
        rp_sql_param(&q, rp_value_cstr(json_string_value(json_object_get(doc, "object"))));
        if ((rc = rp_store_query(c, &q, count_row, &n, err)) < 0)
            goto out;
        if (n >= MAX_VIEWS) {
            rc = rp_error_set(err, RP_EVALIDATION,
                              "the maximum of %d views of one object is reached", MAX_VIEWS);
            goto out;
        }
    }
    if (!(text = rp_json_dumps(def, JSON_COMPACT | JSON_SORT_KEYS, err))) {
        rc = err->code;
        goto out;
    }
    rp_sql_init(&q, &arena, rp_store_conn_dialect(c));
    if (x->id) {
        rp_sql_add(&q, "UPDATE rp_saved_view SET name = ");
        rp_sql_param(&q, rp_value_cstr(json_string_value(json_object_get(doc, "name"))));
        rp_sql_add(&q, ", definition = ");
        rp_sql_param(&q, rp_value_cstr(text));
        rp_sql_add(&q, ", shared = ");
        rp_sql_param(&q, rp_value_int(json_is_true(json_object_get(doc, "shared"))));
        rp_sql_add(&q, ", updated_at = ");
        rp_sql_param(&q, rp_value_int(t));
        rp_sql_add(&q, " WHERE id = ");
        rp_sql_param(&q, rp_value_cstr(x->id));
    } else {
        const struct rp_value row[] = {
            rp_value_cstr(x->new_id),
            rp_value_cstr(x->p->user_id),
            rp_value_cstr(json_string_value(json_object_get(doc, "object"))),
            rp_value_cstr(json_string_value(json_object_get(doc, "name"))),
            rp_value_cstr(text),
            rp_value_int(json_is_true(json_object_get(doc, "shared"))),
            rp_value_int(t),
            rp_value_int(t)};
        rp_sql_add(&q, "INSERT INTO rp_saved_view (" VIEW_COLUMNS ", created_at) VALUES ");
        rp_sql_param_list(&q, row, sizeof(row) / sizeof(row[0]));
    }
    if ((rc = rp_store_exec(c, &q, NULL, err)) < 0)
        goto out;
    if ((rc = view_get(c, x->p, x->id ? x->id : x->new_id, &now, err)) == 0) {
        rp_buf_reset(x->out);
        rc = dump_to(view_json(&now, x->p), x->out, err);
    }
    if (rc == 0 && rp_json_failed_allocs() != failed_allocs)
        rc = rp_json_error_alloc(err);
out:
    free(text);
    json_decref(doc);
    json_decref(def);
    view_clear(&old);
    view_clear(&now);
    rp_arena_release(&arena);
    return rc;
}

int rp_records_view_put(struct rp_records *rs, const struct rp_principal *p, const char *id,
                        const json_t *body, struct rp_buf *out, struct rp_error *err)
{
    char new_id[RP_UUID_STRLEN + 1];
    struct view_write x = {.p = p, .id = id, .rs = rs, .out = out, .new_id = new_id};

    if (!p || !p->user_id)
        return rp_error_set(err, RP_EUNAUTH, "authentication required");
    if (!json_is_object(body))
        return rp_error_set(err, RP_EINVAL, "a view is a JSON object");
    rp_uuid_v7(new_id, rp_clock_now_ms(rs->clock));
    x.body = (json_t *)body;
    return rp_store_write(rs->store, view_write_run, &x, err);
}

int rp_records_view_delete(struct rp_records *rs, const struct rp_principal *p, const char *id,
                           struct rp_error *err)
{
    struct view_write x = {.p = p, .id = id, .rs = rs};

    if (!p || !p->user_id)
        return rp_error_set(err, RP_EUNAUTH, "authentication required");
    return rp_store_write(rs->store, view_write_run, &x, err);
}
