/*
 * Assignment (automation.h, "Assignment"): the assign action of rules and where its owner comes
 * from: a fixed user, a list taken in turn (round robin) or by load (least loaded), a queue (a
 * named list of members with its own strategy), or an assignment rule set (entries of criteria
 * and a user or queue, the first entry whose criteria hold wins).
 */
#include "base/json.h"
#include "automation/automation_int.h"
#include "base/arena.h"
#include "base/sql.h"

#include <string.h>

#define MAX_MEMBERS 200
#define MAX_ENTRIES 50

struct round_robin {
    const char *key;
    int64_t value; /* out: the position before this turn */
};

static int round_robin_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct round_robin *x = ctx;
    struct rp_arena a;
    struct rp_sql q;
    int rc;

    x->value = 0;
    rp_arena_init(&a);
    rp_sql_init(&q, &a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT value FROM rp_setting WHERE key = ");
    rp_sql_param(&q, rp_value_cstr(x->key));
    if ((rc = rp_store_query(c, &q, rp_store_row_int, &x->value, err)) == 0) {
        rp_sql_init(&q, &a, rp_store_conn_dialect(c));
        rp_sql_add(&q, "INSERT INTO rp_setting (key, value) VALUES (");
        rp_sql_param(&q, rp_value_cstr(x->key));
        rp_sql_add(&q, ", ");
        rp_sql_param(&q, rp_value_cstr(rp_arena_sprintf(&a, "%lld", (long long)x->value + 1)));
        rp_sql_add(&q, ") ON CONFLICT (key) DO UPDATE SET value = excluded.value");
        rc = rp_store_exec(c, &q, NULL, err);
    }
    rp_arena_release(&a);
    return rc;
}

/*
 * The next of users by strategy ("user": the first; "round_robin": in turn, the position kept
 * under rr_key in rp_setting by a unit of its own, so a retried job may skip one turn;
 * "least_loaded": fewest live records of object owned now, ties to the first listed).
 */
static int pick_from(const struct rp_action_run *x, const char *strategy, const json_t *users,
                     const char *rr_key, const char **owner, struct rp_error *err)
{
    struct rp_automation *a = x->a;
    size_t n = json_array_size(users);

    *owner = json_string_value(json_array_get(users, 0));
    if (strcmp(strategy, "round_robin") == 0) {
        struct round_robin rr = {rr_key, 0};
        int rc = rp_store_write(a->store, round_robin_run, &rr, err);
        if (rc < 0)
            return rc;
        *owner = json_string_value(json_array_get(users, (size_t)rr.value % n));
    } else if (strcmp(strategy, "least_loaded") == 0) {
        int64_t best = -1;
        struct rp_store_conn *c = rp_store_reader_acquire(a->store);
        for (size_t i = 0; i < n; i++) {
            const char *u = json_string_value(json_array_get(users, i));
            struct rp_sql q;
            int64_t count = 0;
            int rc;
            rp_sql_init(&q, x->arena, RP_SQL_SQLITE);
            rp_sql_addf(&q,
                        "SELECT COUNT(*) FROM \"%s\" WHERE \"deleted_at\" IS NULL AND"
                        " \"owner_id\" = ",
                        x->object->name);
            rp_sql_param(&q, rp_value_cstr(u ? u : ""));
            if ((rc = rp_store_query(c, &q, rp_store_row_int, &count, err)) < 0) {
                rp_store_reader_release(a->store, c);
                return rc;
            }
            if (best < 0 || count < best) {
                best = count;
                *owner = u;
            }
        }
        rp_store_reader_release(a->store, c);
    }
    if (!*owner)
        return rp_error_set(err, RP_EINVAL, "assign: the users must be user ids");
    return 0;
}

static bool strategy_is_valid(const char *s)
{
    return s && (strcmp(s, "user") == 0 || strcmp(s, "round_robin") == 0 ||
                 strcmp(s, "least_loaded") == 0);
}

/* users: 1-MAX_MEMBERS ids of active users (a NULL automation checks the shape only). */
static int check_users(struct rp_automation *a, const json_t *users, const char *where,
                       struct rp_arena *arena, struct rp_error *err)
{
    const json_t *u;
    size_t i;

    if (!json_is_array(users) || json_array_size(users) == 0 ||
        json_array_size(users) > MAX_MEMBERS)
        return rp_error_field(err, RP_EVALIDATION, where, "invalid", "list 1-%d user ids",
                              MAX_MEMBERS);
    json_array_foreach(users, i, u)
    {
        if (!json_is_string(u))
            return rp_error_field(err, RP_EVALIDATION, where, "invalid", "user ids are strings");
        if (a) {
            struct rp_store_conn *c = rp_store_reader_acquire(a->store);
            struct rp_sql q;
            int64_t found = 0;
            int rc;
            rp_sql_init(&q, arena, RP_SQL_SQLITE);
            rp_sql_add(&q, "SELECT COUNT(*) FROM rp_user WHERE active = 1 AND id = ");
            rp_sql_param(&q, rp_value_cstr(json_string_value(u)));
            rc = rp_store_query(c, &q, rp_store_row_int, &found, err);
            rp_store_reader_release(a->store, c);
            if (rc < 0)
                return rc;
            if (!found)
                return rp_error_field(err, RP_EVALIDATION, where, "unknown_user",
                                      "\"%s\" is not an active user", json_string_value(u));
        }
    }
    return 0;
}

static int definition_exists(struct rp_automation *a, const char *kind, const char *name,
                             json_t **def, struct rp_error *err)
{
    struct rp_store_conn *c = rp_store_reader_acquire(a->store);
    int rc = rp_definition_load(c, kind, name, def, err);

    rp_store_reader_release(a->store, c);
    return rc;
}

/* ---- queues: {"members": [user ids], "strategy": "round_robin" | "least_loaded"} ---- */

int rp_queue_check(void *ctx, const struct rp_meta *m, const json_t *def, struct rp_arena *arena,
                   struct rp_error *err)
{
    struct rp_automation *a = ctx;
    static const char *const keys[] = {"members", "strategy", "description", NULL};
    const char *strategy = json_string_value(json_object_get(def, "strategy"));
    int rc;

    (void)m;
    if ((rc = rp_json_check_keys(def, keys, "a queue", NULL, err)) < 0)
        return rc;
    if (json_object_get(def, "strategy") && !strategy_is_valid(strategy))
        return rp_error_field(err, RP_EVALIDATION, "strategy", "invalid",
                              "\"strategy\" must be round_robin or least_loaded");
    return check_users(a, json_object_get(def, "members"), "members", arena, err);
}

static int pick_from_queue(const struct rp_action_run *x, const char *queue, const char **owner,
                           struct rp_error *err)
{
    json_t *def;
    const char *strategy;
    int rc = definition_exists(x->a, RP_DEF_QUEUE, queue, &def, err);

    if (rc < 0)
        return rc == RP_ENOTFOUND ? RP_EINVAL : rc;
    strategy = json_string_value(json_object_get(def, "strategy"));
    rc = pick_from(x, strategy ? strategy : "round_robin", json_object_get(def, "members"),
                   rp_arena_sprintf(x->arena, "automation.rr.queue.%s", queue), owner, err);
    if (rc == 0)
        *owner = rp_arena_strdup(x->arena, *owner);
    json_decref(def);
    return rc;
}

/* ---- assignment rule sets ----
 *
 * {"object": "lead", "entries": [{"criteria": "region = 'east'", "user": "<id>"},
 *                                {"criteria": "...", "queue": "<queue>"}, {"queue": "<queue>"}]}
 */

int rp_assignment_check(void *ctx, const struct rp_meta *m, const json_t *def,
                        struct rp_arena *arena, struct rp_error *err)
{
    struct rp_automation *a = ctx;
    static const char *const keys[] = {"object", "entries", "description", NULL};
    static const char *const entry_keys[] = {"criteria", "user", "queue", NULL};
    const char *name = json_string_value(json_object_get(def, "object"));
    const struct rp_object *o = name ? rp_meta_object(m, name) : NULL;
    const json_t *entries = json_object_get(def, "entries"), *e;
    size_t i;
    int rc;

    if ((rc = rp_json_check_keys(def, keys, "an assignment rule set", NULL, err)) < 0)
        return rc;
    if (!o || !o->owned)
        return rp_error_field(err, RP_EVALIDATION, "object", "invalid",
                              "\"object\" must name an object with owners");
    if (!json_is_array(entries) || json_array_size(entries) == 0 ||
        json_array_size(entries) > MAX_ENTRIES)
        return rp_error_field(err, RP_EVALIDATION, "entries", "invalid",
                              "\"entries\" must be an array of 1-%d entries", MAX_ENTRIES);
    json_array_foreach(entries, i, e)
    {
        const char *where = rp_arena_sprintf(arena, "entries[%zu]", i);
        const char *criteria = json_string_value(json_object_get(e, "criteria"));
        const json_t *user = json_object_get(e, "user");
        const char *queue = json_string_value(json_object_get(e, "queue"));
        if (!json_is_object(e) ||
            (rc = rp_json_check_keys(e, entry_keys, "an entry", NULL, err)) < 0)
            return json_is_object(e) ? rc
                                     : rp_error_field(err, RP_EVALIDATION, where, "invalid",
                                                      "an entry is an object");
        if (json_object_get(e, "criteria") && !criteria)
            return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                                  "\"criteria\" is an expression (a string)");
        if (!criteria && i + 1 < json_array_size(entries))
            return rp_error_field(err, RP_EVALIDATION, where, "unreachable",
                                  "only the last entry may leave out \"criteria\"");
        if (criteria) {
            struct rp_expr *x;
            struct rp_error sub;
            rp_error_init(&sub, arena);
            if (rp_meta_parse_expr(m, o, criteria, strlen(criteria), 0, arena, &x, &sub) < 0 ||
                rp_expr_type(x) != RP_V_BOOL)
                return rp_error_field(err, RP_EVALIDATION, where, "invalid_expression",
                                      "invalid criteria: %s",
                                      sub.detail ? sub.detail : "they must be a condition");
        }
        if (!user == !queue)
            return rp_error_field(err, RP_EVALIDATION, where, "invalid",
                                  "an entry assigns to either a \"user\" or a \"queue\"");
        if (user) {
            json_t *one = json_pack("[O]", user);
            rc = check_users(a, one, where, arena, err);
            json_decref(one);
            if (rc < 0)
                return rc;
        } else {
            json_t *q;
            if ((rc = definition_exists(a, RP_DEF_QUEUE, queue, &q, err)) < 0)
                return rc == RP_ENOTFOUND ? rp_action_refused(err, where, "unknown_queue") : rc;
            json_decref(q);
        }
    }
    return 0;
}

/* The owner the first matching entry names; *owner stays NULL when none matches. */
static int pick_by_rules(const struct rp_action_run *x, const char *set, const char **owner,
                         struct rp_error *err)
{
    json_t *def, *values, *data, *e;
    const json_t *entries;
    size_t i;
    int rc = definition_exists(x->a, RP_DEF_ASSIGNMENT, set, &def, err);

    *owner = NULL;
    if (rc < 0)
        return rc == RP_ENOTFOUND ? RP_EINVAL : rc;
    entries = json_object_get(def, "entries");
    if (strcmp(json_string_value(json_object_get(def, "object")), x->object->name) != 0) {
        json_decref(def);
        return rp_error_set(err, RP_EINVAL, "assignment rule set \"%s\" is for another object",
                            set);
    }
    /* Every criteria in one query on the record: {"0": {"expr": ...}, ...} -> booleans. */
    values = json_object();
    data = json_object();
    json_array_foreach(entries, i, e)
    {
        const char *criteria = json_string_value(json_object_get(e, "criteria"));
        if (criteria)
            json_object_set_new(values, rp_arena_sprintf(x->arena, "%zu", i),
                                json_pack("{ss}", "expr", criteria));
    }
    rc = rp_action_resolve_values(x, x->object, values, data, err);
    json_array_foreach(entries, i, e)
    {
        const json_t *holds;
        if (rc < 0)
            break;
        holds = json_object_get(data, rp_arena_sprintf(x->arena, "%zu", i));
        if (json_object_get(e, "criteria") && !json_is_true(holds))
            continue;
        if (json_object_get(e, "user"))
            *owner = rp_arena_strdup(x->arena, json_string_value(json_object_get(e, "user")));
        else
            rc = pick_from_queue(x, json_string_value(json_object_get(e, "queue")), owner, err);
        break;
    }
    json_decref(values);
    json_decref(data);
    json_decref(def);
    return rc;
}

/* ---- the assign action ----
 *
 * {"type": "assign", "strategy": "user" | "round_robin" | "least_loaded", "users": [...]}
 * {"type": "assign", "strategy": "queue", "queue": "<name>"}
 * {"type": "assign", "strategy": "rules", "rules": "<assignment rule set>"}
 */

int rp_assign_check(const struct rp_action_check *c, const json_t *act, struct rp_error *err)
{
    const char *strategy = json_string_value(json_object_get(act, "strategy"));
    json_t *def = NULL;
    int rc = 0;

    if (!c->object->owned)
        return rp_error_field(err, RP_EVALIDATION, c->where, "no_owner",
                              "assign needs a triggering record of an owned object");
    if (strategy_is_valid(strategy))
        return check_users(c->a, json_object_get(act, "users"), c->where, c->arena, err);
    if (strategy && strcmp(strategy, "queue") == 0)
        rc = definition_exists(c->a, RP_DEF_QUEUE, json_string_value(json_object_get(act, "queue")),
                               &def, err);
    else if (strategy && strcmp(strategy, "rules") == 0)
        rc = definition_exists(c->a, RP_DEF_ASSIGNMENT,
                               json_string_value(json_object_get(act, "rules")), &def, err);
    else
        return rp_error_field(err, RP_EVALIDATION, c->where, "invalid",
                              "\"strategy\" must be user, round_robin, least_loaded, queue or "
                              "rules");
    if (rc == RP_ENOTFOUND)
        return rp_action_refused(err, c->where, "not_found");
    if (rc == 0 && strcmp(strategy, "rules") == 0 &&
        strcmp(json_string_value(json_object_get(def, "object")), c->object->name) != 0)
        rc = rp_error_field(err, RP_EVALIDATION, c->where, "invalid",
                            "assignment rule set \"%s\" is for %s records",
                            json_string_value(json_object_get(act, "rules")),
                            json_string_value(json_object_get(def, "object")));
    json_decref(def);
    return rc;
}

int rp_assign_run(const struct rp_action_run *x, const json_t *act, struct rp_error *err)
{
    const char *strategy = json_string_value(json_object_get(act, "strategy"));
    const char *owner = NULL;
    json_t *data;
    int rc;

    if (strcmp(strategy, "queue") == 0)
        rc = pick_from_queue(x, json_string_value(json_object_get(act, "queue")), &owner, err);
    else if (strcmp(strategy, "rules") == 0)
        rc = pick_by_rules(x, json_string_value(json_object_get(act, "rules")), &owner, err);
    else
        rc = pick_from(x, strategy, json_object_get(act, "users"),
                       rp_arena_sprintf(x->arena, "automation.rr.%s", x->rule), &owner, err);
    if (rc < 0 || !owner) /* no entry of the rule set matched: the owner stays */
        return rc;
    data = json_pack("{ss}", "owner_id", owner);
    rc = rp_action_write(x, x->object->name, RP_WRITE_UPDATE, x->record_id, data, err);
    json_decref(data);
    return rc;
}
