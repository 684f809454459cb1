/*
 * Differential authorization test. An oracle written here, from the rules as docs/api.md
 * states them and without calling the policy engine, decides for every user and record what
 * the user may read and change and which fields the user may read. The test plants unique
 * markers in every record (one in its name, one in a field that permission sets hide from some
 * users), then asks every route as every user and checks, for every marker of the data set,
 * that it appears in the response exactly when the oracle says it may: get, list with count,
 * search (also for hidden values, which must not find their records), filters, history, the
 * change feed, CSV export, batch updates (whose per-item statuses are checked too), a KPI's
 * count of opportunities and the OpenAPI document. Each marker compared against one response counts as one check.
 *
 * The world: a role tree top > mid_a > {rep_a1, rep_a2}, top > mid_b > rep_b1, a user
 * without a role, and the admin; permission sets that hide or limit fields, grant view_all on
 * one object, deny a custom object, or only read; org-wide defaults public_read (account),
 * private (contact, by an override; opportunity; the custom object gadget, by default);
 * record shares at read and edit; sharing rules on criteria, one with a user attribute.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_app.h"

#define NUSERS      8 /* the admin is user 0 */
#define NOBJECTS    4
#define PER_OBJECT  40
#define NRECORDS    (NOBJECTS * PER_OBJECT)
#define NMARKERS    (NRECORDS * 2)
#define CHECK_FLOOR 100000

enum level { NONE, READ, EDIT, FULL };
enum { P_READ = 1, P_CREATE = 2, P_EDIT = 4, P_DELETE = 8, P_EXPORT = 16, P_VIEW_ALL = 32 };

/* ---- the world, as the oracle knows it ---- */

struct object_def {
    const char *name;
    const char *secret; /* the field holding the second marker */
    bool secret_searchable;
    const char *free; /* a field every user with edit may change (batch) */
    enum level owd;   /* org-wide default: READ = public_read, NONE = private */
};

static const struct object_def objects[NOBJECTS] = {
    {"account", "legal_representative", true, "city", READ},
    {"contact", "title", true, "department", NONE},
    {"opportunity", "competitor", false, "next_step", NONE},
    {"gadget", "secret", true, "note", NONE},
};

/* A permission set as data: per object (index) its permission bits and the secret's level,
 * or the "*" entry for objects it does not name. */
struct set_entry {
    bool named;
    unsigned perms;
    int secret; /* -1: not limited; NONE or READ */
};

struct set_def {
    const char *name;
    struct set_entry star;
    struct set_entry obj[NOBJECTS];
};

#define CRUD  (P_READ | P_CREATE | P_EDIT | P_DELETE)
#define CRUDX (CRUD | P_EXPORT)

static const struct set_def sets[] = {
    {"standard", {true, CRUD | P_EXPORT, -1}, {{0}}},
    {"limited",
     {true, CRUDX, -1},
     {{true, CRUDX, NONE}, {true, CRUDX, NONE}, {true, CRUD, READ}, {true, CRUDX, NONE}}},
    {"reader", {true, P_READ | P_EXPORT, -1}, {{0}}},
    {"opp_all", {false, 0, -1}, {{0}, {0}, {true, P_READ | P_VIEW_ALL, -1}, {0}}},
    {"no_gadget", {true, CRUD | P_EXPORT, -1}, {{0}, {0}, {0}, {true, 0, -1}}},
};
#define NSETS (sizeof(sets) / sizeof(sets[0]))

struct user_def {
    const char *name;
    const char *role; /* NULL: none */
    const char *region;
    const char *sets[3];
};

/* user 0 is the fixture's admin */
static const struct user_def users[NUSERS] = {
    {"admin", NULL, NULL, {NULL}},
    {"top", "top", "north_china", {"standard"}},
    {"mid_a", "mid_a", "south_china", {"limited"}},
    {"rep_a1", "rep_a1", "north_china", {"limited", "opp_all"}},
    {"rep_a2", "rep_a2", "south_china", {"reader"}},
    {"mid_b", "mid_b", "north_china", {"standard", "no_gadget"}},
    {"rep_b1", "rep_b1", "south_china", {"no_gadget"}},
    {"loner", NULL, "north_china", {"limited", "reader"}},
};

static const struct {
    const char *name, *parent;
} roles[] = {{"top", NULL},       {"mid_a", "top"},    {"mid_b", "top"},
             {"rep_a1", "mid_a"}, {"rep_a2", "mid_a"}, {"rep_b1", "mid_b"}};
#define NROLES (sizeof(roles) / sizeof(roles[0]))

struct record {
    int object;
    int owner;           /* user index */
    int region;          /* account: 0 north_china, 1 south_china */
    bool stage_proposal; /* opportunity */
    enum level share[NUSERS];
    char id[40];
    char name_marker[16], secret_marker[16];
};

struct world {
    struct rp_test_app t;
    char token[NUSERS][128];
    char user_id[NUSERS][40];
    struct record rec[NRECORDS];
    unsigned long checks;
};

static int role_index(const char *name)
{
    for (size_t i = 0; name && i < NROLES; i++)
        if (strcmp(roles[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* True if role r is strictly below role top. */
static bool role_below(int r, int top)
{
    if (r < 0 || top < 0)
        return false;
    for (int p = role_index(roles[r].parent); p >= 0; p = role_index(roles[p].parent))
        if (p == top)
            return true;
    return false;
}

static const struct set_def *set_named(const char *name)
{
    for (size_t i = 0; i < NSETS; i++)
        if (strcmp(sets[i].name, name) == 0)
            return &sets[i];
    fail_msg("unknown set %s", name);
    return NULL;
}

static const struct set_entry *entry_of(const struct set_def *s, int o)
{
    return s->obj[o].named ? &s->obj[o] : &s->star;
}

static unsigned oracle_perms(int u, int o)
{
    unsigned perms = 0;
    if (u == 0)
        return ~0u;
    for (int k = 0; k < 3 && users[u].sets[k]; k++)
        perms |= entry_of(set_named(users[u].sets[k]), o)->perms;
    return perms;
}

/* The union: a field is limited only where every set that lets the user read limits it. */
static bool oracle_secret_visible(int u, int o)
{
    int best = -2;
    if (u == 0)
        return true;
    for (int k = 0; k < 3 && users[u].sets[k]; k++) {
        const struct set_entry *e = entry_of(set_named(users[u].sets[k]), o);
        int level = e->secret < 0 ? EDIT : e->secret;
        if ((e->perms & P_READ) && level > best)
            best = level;
    }
    return best >= READ;
}

/*
 * Sharing rules of the world: opportunities in stage proposal are read by mid_b and the roles
 * below it; accounts whose region is the user's region are editable by everyone.
 */
static enum level oracle_rules(int u, const struct record *r)
{
    const struct object_def *od = &objects[r->object];
    enum level l = NONE;
    int role = role_index(users[u].role);

    if (strcmp(od->name, "opportunity") == 0 && r->stage_proposal &&
        (role == role_index("mid_b") || role_below(role, role_index("mid_b"))))
        l = READ;
    if (strcmp(od->name, "account") == 0 && users[u].region &&
        strcmp(users[u].region, r->region ? "south_china" : "north_china") == 0)
        l = EDIT;
    return l;
}

/* The user's access to a record. */
static enum level oracle_access(int u, const struct record *r)
{
    const struct object_def *od = &objects[r->object];
    unsigned perms = oracle_perms(u, r->object);
    int role = role_index(users[u].role), orole = role_index(users[r->owner].role);
    enum level l = NONE, rule;

    if (u == 0)
        return FULL;
    if (!(perms & P_READ))
        return NONE;
    if (r->owner == u || role_below(orole, role))
        return FULL;
    if (od->owd >= READ || (perms & P_VIEW_ALL))
        l = READ;
    if (r->share[u] > l)
        l = r->share[u];
    if ((rule = oracle_rules(u, r)) > l)
        l = rule;
    return l;
}

/* ---- markers ---- */

static void marker(char *out, size_t n, int rec, char kind)
{
    snprintf(out, n, "MK%c%04dZ", kind, rec);
}

/* Flags every marker found in body: index rec*2 (name) or rec*2+1 (secret). */
static void scan_markers(const char *body, bool *found)
{
    memset(found, 0, NMARKERS * sizeof(bool));
    for (const char *p = body ? strstr(body, "MK") : NULL; p; p = strstr(p + 2, "MK")) {
        int idx;
        char kind = p[2], z;
        if ((kind == 'N' || kind == 'S') && sscanf(p + 3, "%4d%c", &idx, &z) == 2 && z == 'Z' &&
            idx >= 0 && idx < NRECORDS)
            found[idx * 2 + (kind == 'S')] = true;
    }
}

/* Compares the markers of body with expected, one check per marker of the world. */
static void check_markers(struct world *w, const char *what, int u, const char *body,
                          const bool *expected)
{
    bool found[NMARKERS];

    scan_markers(body, found);
    for (int m = 0; m < NMARKERS; m++) {
        if (found[m] != expected[m])
            fail_msg("%s as %s: marker %s of record %d %s; body: %.500s", what, users[u].name,
                     m % 2 ? "secret" : "name", m / 2, found[m] ? "leaked" : "is missing",
                     body ? body : "(none)");
        w->checks++;
    }
}

/* The markers user u reads in record r (a full read of the record). */
static void expect_record(int u, const struct record *r, int index, bool *expected)
{
    if (oracle_access(u, r) < READ)
        return;
    expected[index * 2] = true;
    expected[index * 2 + 1] = oracle_secret_visible(u, r->object);
}

/* ---- building the world through the API, as the admin ---- */

static void admin_ok(struct world *w, const char *method, const char *target, const char *body)
{
    char *out = NULL;
    int status = rp_test_request(&w->t, method, target, body, &out);
    if (status < 200 || status > 299)
        fail_msg("%s %s: %d %s", method, target, status, out ? out : "");
    free(out);
}

static char *set_json(const struct set_def *s)
{
    json_t *objs = json_object(), *def;
    char *text;

    for (int o = -1; o < NOBJECTS; o++) {
        const struct set_entry *e = o < 0 ? &s->star : &s->obj[o];
        json_t *j;
        if (!e->named)
            continue;
        j = json_pack("{sbsbsbsbsbsb}", "read", (e->perms & P_READ) != 0, "create",
                      (e->perms & P_CREATE) != 0, "edit", (e->perms & P_EDIT) != 0, "delete",
                      (e->perms & P_DELETE) != 0, "export", (e->perms & P_EXPORT) != 0, "view_all",
                      (e->perms & P_VIEW_ALL) != 0);
        if (e->secret >= 0)
            json_object_set_new(
                j, "fields",
                json_pack("{ss}", objects[o].secret, e->secret == NONE ? "none" : "read"));
        json_object_set_new(objs, o < 0 ? "*" : objects[o].name, j);
    }
    def = json_pack("{sss{so}}", "label", s->name, "definition", "objects", objs);
    text = json_dumps(def, JSON_COMPACT);
    json_decref(def);
    return text;
}

static void build_world(struct world *w)
{
    char target[256], body[1024];
    unsigned seed = 20261123;

    rp_test_app_open(&w->t);
    snprintf(w->token[0], sizeof(w->token[0]), "%s", w->t.token);
    snprintf(w->user_id[0], sizeof(w->user_id[0]), "%s", w->t.user_id);
    admin_ok(w, "POST", "/api/v1/meta/objects",
             "{\"name\": \"gadget\", \"label\": {\"en\": \"Gadget\", \"zh\": \"小工具\"},"
             " \"search\": [\"name\", \"secret\"], \"fields\": [{\"name\": \"name\", \"type\":"
             " \"text\", \"required\": true}, {\"name\": \"secret\", \"type\": \"text\"},"
             " {\"name\": \"note\", \"type\": \"text\"}]}");
    for (size_t i = 0; i < NROLES; i++) {
        snprintf(target, sizeof(target), "/api/v1/admin/roles/%s", roles[i].name);
        snprintf(body, sizeof(body), "{\"label\": \"%s\"%s%s%s}", roles[i].name,
                 roles[i].parent ? ", \"parent\": \"" : "", roles[i].parent ? roles[i].parent : "",
                 roles[i].parent ? "\"" : "");
        admin_ok(w, "PUT", target, body);
    }
    for (size_t i = 0; i < NSETS; i++) {
        char *j;
        if (strcmp(sets[i].name, "standard") == 0)
            continue; /* seeded */
        j = set_json(&sets[i]);
        snprintf(target, sizeof(target), "/api/v1/admin/permission-sets/%s", sets[i].name);
        admin_ok(w, "PUT", target, j);
        free(j);
    }
    admin_ok(w, "PUT", "/api/v1/admin/sharing/contact", "{\"default_access\": \"private\"}");
    admin_ok(w, "PUT", "/api/v1/admin/sharing-rules/proposals_to_mid_b",
             "{\"object\": \"opportunity\", \"criteria\": \"stage = 'proposal'\", \"role\":"
             " \"mid_b\", \"subordinates\": true, \"access\": \"read\"}");
    admin_ok(w, "PUT", "/api/v1/admin/sharing-rules/own_region",
             "{\"object\": \"account\", \"criteria\": \"record.region = user.region\","
             " \"access\": \"edit\"}");
    for (int u = 1; u < NUSERS; u++) {
        char *out = NULL, pw[64];
        json_t *j, *setsj = json_array();
        int status;
        for (int k = 0; k < 3 && users[u].sets[k]; k++)
            json_array_append_new(setsj, json_string(users[u].sets[k]));
        snprintf(pw, sizeof(pw), "%s-password", users[u].name);
        j = json_pack("{sssssOso}", "username", users[u].name, "password", pw, "permission_sets",
                      setsj, "attributes", json_pack("{ss}", "region", users[u].region));
        if (users[u].role)
            json_object_set_new(j, "role", json_string(users[u].role));
        {
            char *text = json_dumps(j, JSON_COMPACT);
            status = rp_test_request(&w->t, "POST", "/api/v1/admin/users", text, &out);
            free(text);
        }
        json_decref(j);
        json_decref(setsj);
        assert_int_equal(status, 201);
        j = json_loads(out, 0, NULL);
        snprintf(w->user_id[u], sizeof(w->user_id[u]), "%s",
                 json_string_value(json_object_get(j, "id")));
        json_decref(j);
        free(out);
        snprintf(body, sizeof(body), "{\"username\": \"%s\", \"password\": \"%s\"}", users[u].name,
                 pw);
        status = rp_test_request_as(&w->t, NULL, "POST", "/api/v1/auth/login", body, &out);
        assert_int_equal(status, 200);
        j = json_loads(out, 0, NULL);
        snprintf(w->token[u], sizeof(w->token[u]), "%s",
                 json_string_value(json_object_get(j, "token")));
        json_decref(j);
        free(out);
    }
    for (int i = 0; i < NRECORDS; i++) {
        struct record *r = &w->rec[i];
        const struct object_def *od;
        r->object = i / PER_OBJECT;
        od = &objects[r->object];
        r->owner = (int)(rand_r(&seed) % NUSERS);
        r->region = (int)(rand_r(&seed) % 2);
        r->stage_proposal = rand_r(&seed) % 2;
        marker(r->name_marker, sizeof(r->name_marker), i, 'N');
        marker(r->secret_marker, sizeof(r->secret_marker), i, 'S');
        if (strcmp(od->name, "account") == 0)
            snprintf(body, sizeof(body),
                     "{\"name\": \"Account %s\", \"%s\": \"%s\", \"region\": \"%s\","
                     " \"owner_id\": \"%s\"}",
                     r->name_marker, od->secret, r->secret_marker,
                     r->region ? "south_china" : "north_china", w->user_id[r->owner]);
        else if (strcmp(od->name, "contact") == 0)
            snprintf(body, sizeof(body),
                     "{\"last_name\": \"%s\", \"%s\": \"%s\", \"owner_id\": \"%s\"}",
                     r->name_marker, od->secret, r->secret_marker, w->user_id[r->owner]);
        else if (strcmp(od->name, "opportunity") == 0)
            snprintf(body, sizeof(body),
                     "{\"name\": \"Deal %s\", \"stage\": \"%s\", \"%s\": \"%s\","
                     " \"owner_id\": \"%s\"}",
                     r->name_marker, r->stage_proposal ? "proposal" : "prospecting", od->secret,
                     r->secret_marker, w->user_id[r->owner]);
        else
            snprintf(body, sizeof(body),
                     "{\"name\": \"Gadget %s\", \"%s\": \"%s\", \"owner_id\": \"%s\"}",
                     r->name_marker, od->secret, r->secret_marker, w->user_id[r->owner]);
        rp_test_create(&w->t, od->name, body, r->id);
        if (rand_r(&seed) % 4 == 0) {
            int u = 1 + (int)(rand_r(&seed) % (NUSERS - 1));
            r->share[u] = rand_r(&seed) % 2 ? EDIT : READ;
            snprintf(target, sizeof(target), "/api/v1/records/%s/%s/shares/%s", od->name, r->id,
                     w->user_id[u]);
            admin_ok(w, "PUT", target,
                     r->share[u] == EDIT ? "{\"access\": \"edit\"}" : "{\"access\": \"read\"}");
        }
    }
}

/* ---- the routes ---- */

static char *get_as(struct world *w, int u, const char *target, int *status)
{
    char *out = NULL;
    *status = rp_test_request_as(&w->t, w->token[u], "GET", target, NULL, &out);
    return out;
}

static void check_get_and_history(struct world *w, int u)
{
    char target[256];

    for (int i = 0; i < NRECORDS; i++) {
        const struct record *r = &w->rec[i];
        bool expected[NMARKERS] = {0};
        enum level l = oracle_access(u, r);
        int status;
        char *body;

        expect_record(u, r, i, expected);
        snprintf(target, sizeof(target), "/api/v1/records/%s/%s", objects[r->object].name, r->id);
        body = get_as(w, u, target, &status);
        if (status != (l >= READ ? 200 : oracle_perms(u, r->object) & P_READ ? 404 : 403))
            fail_msg("GET %s as %s: %d; body %s", target, users[u].name, status, body);
        check_markers(w, "get", u, body, expected);
        free(body);
        snprintf(target, sizeof(target), "/api/v1/records/%s/%s/history", objects[r->object].name,
                 r->id);
        body = get_as(w, u, target, &status);
        check_markers(w, "history", u, body, expected);
        free(body);
    }
}

static void check_lists(struct world *w, int u)
{
    char target[256];

    for (int o = 0; o < NOBJECTS; o++) {
        bool expected[NMARKERS] = {0}, ex_export[NMARKERS] = {0};
        unsigned perms = oracle_perms(u, o);
        int status, count = 0;
        char *body;
        json_t *j;

        for (int i = 0; i < NRECORDS; i++)
            if (w->rec[i].object == o) {
                expect_record(u, &w->rec[i], i, expected);
                count += oracle_access(u, &w->rec[i]) >= READ;
            }
        snprintf(target, sizeof(target), "/api/v1/records/%s?limit=500&count=true",
                 objects[o].name);
        body = get_as(w, u, target, &status);
        assert_int_equal(status, perms & P_READ ? 200 : 403);
        check_markers(w, "list", u, body, expected);
        if (status == 200) {
            j = json_loads(body, 0, NULL);
            assert_int_equal(
                json_integer_value(json_object_get(json_object_get(j, "total"), "count")), count);
            w->checks++;
            json_decref(j);
        }
        free(body);
        if (strcmp(objects[o].name, "opportunity") == 0) {
            /* A KPI counts the same records a list shows (every opportunity here is open). */
            body = get_as(w, u, "/api/v1/kpis/pipeline_by_stage?group=none", &status);
            assert_int_equal(status, perms & P_READ ? 200 : 403);
            if (status == 200) {
                const json_t *data;
                j = json_loads(body, 0, NULL);
                data = json_object_get(j, "data");
                assert_int_equal(json_array_size(data) ? json_integer_value(json_object_get(
                                                             json_array_get(data, 0), "count"))
                                                       : 0,
                                 count);
                w->checks++;
                json_decref(j);
            }
            free(body);
        }
        if (perms & P_EXPORT)
            memcpy(ex_export, expected, sizeof(expected));
        snprintf(target, sizeof(target), "/api/v1/records/%s/export?format=csv", objects[o].name);
        body = get_as(w, u, target, &status);
        assert_int_equal(status, (perms & P_EXPORT) && (perms & P_READ) ? 200 : 403);
        check_markers(w, "export", u, body, ex_export);
        free(body);
    }
}

/* Searching for a value finds its record only where the reader may see the value. */
static void check_search_and_filter(struct world *w, int u)
{
    char target[256];

    for (int i = 0; i < NRECORDS; i++) {
        const struct record *r = &w->rec[i];
        const struct object_def *od = &objects[r->object];
        bool visible = oracle_access(u, r) >= READ;
        bool secret = oracle_secret_visible(u, r->object);
        bool expected[NMARKERS] = {0};
        int status;
        char *body;

        if (!(oracle_perms(u, r->object) & P_READ))
            continue;
        if (visible)
            expect_record(u, r, i, expected);
        snprintf(target, sizeof(target), "/api/v1/records/%s?q=%s", od->name, r->name_marker);
        body = get_as(w, u, target, &status);
        assert_int_equal(status, 200);
        check_markers(w, "search by name", u, body, expected);
        free(body);

        if (!(visible && secret && od->secret_searchable))
            memset(expected, 0, sizeof(expected));
        snprintf(target, sizeof(target), "/api/v1/records/%s?q=%s", od->name, r->secret_marker);
        body = get_as(w, u, target, &status);
        assert_int_equal(status, 200);
        check_markers(w, "search by hidden value", u, body, expected);
        free(body);

        /* A filter on the secret: unknown to those who may not read it. */
        memset(expected, 0, sizeof(expected));
        if (visible && secret)
            expect_record(u, r, i, expected);
        snprintf(target, sizeof(target), "/api/v1/records/%s?filter=%s%%20%%3D%%20%%27%s%%27",
                 od->name, od->secret, r->secret_marker);
        body = get_as(w, u, target, &status);
        assert_int_equal(status, secret ? 200 : 400);
        check_markers(w, "filter on a hidden field", u, body, expected);
        free(body);
    }
}

static void check_changes_and_openapi(struct world *w, int u)
{
    bool expected[NMARKERS] = {0};
    char target[128];
    int64_t after = 0;
    int status;
    char *body;
    struct rp_buf_all {
        char *text;
        size_t len;
    } all = {calloc(1, 1), 0};

    for (int i = 0; i < NRECORDS; i++)
        if (oracle_perms(u, w->rec[i].object) & P_READ)
            expect_record(u, &w->rec[i], i, expected);
    for (;;) {
        json_t *j, *data;
        snprintf(target, sizeof(target), "/api/v1/changes?after=%lld&limit=1000", (long long)after);
        body = get_as(w, u, target, &status);
        assert_int_equal(status, 200);
        j = json_loads(body, 0, NULL);
        data = json_object_get(j, "data");
        all.text = realloc(all.text, all.len + strlen(body) + 1);
        memcpy(all.text + all.len, body, strlen(body) + 1);
        all.len += strlen(body);
        after = json_integer_value(json_object_get(j, "next"));
        free(body);
        if (json_array_size(data) == 0) {
            json_decref(j);
            break;
        }
        json_decref(j);
    }
    check_markers(w, "changes", u, all.text, expected);
    free(all.text);

    memset(expected, 0, sizeof(expected));
    body = get_as(w, u, "/api/v1/openapi.json", &status);
    assert_int_equal(status, 200);
    check_markers(w, "openapi", u, body, expected);
    free(body);
}

/* Batch updates of every record: the per-item status, and no marker the user may not read. */
static void check_batch(struct world *w, int u)
{
    for (int o = 0; o < NOBJECTS; o++) {
        unsigned perms = oracle_perms(u, o);
        bool expected[NMARKERS] = {0};
        json_t *ops = json_array(), *req, *res, *results;
        char target[128], *text, *out = NULL;
        int status;
        size_t k = 0;

        for (int i = 0; i < NRECORDS; i++) {
            const struct record *r = &w->rec[i];
            if (r->object != o)
                continue;
            json_array_append_new(ops, json_pack("{sssss{ss}}", "op", "update", "id", r->id, "data",
                                                 objects[o].free, users[u].name));
            if ((perms & P_EDIT) && oracle_access(u, r) >= EDIT)
                expect_record(u, r, i, expected);
        }
        req = json_pack("{sbso}", "atomic", 0, "operations", ops);
        text = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        snprintf(target, sizeof(target), "/api/v1/records/%s/batch", objects[o].name);
        status = rp_test_request_as(&w->t, w->token[u], "POST", target, text, &out);
        free(text);
        assert_int_equal(status, 200);
        check_markers(w, "batch", u, out, expected);
        res = json_loads(out, 0, NULL);
        results = json_object_get(res, "results");
        for (int i = 0; i < NRECORDS; i++) {
            const struct record *r = &w->rec[i];
            enum level l;
            int want, got;
            if (r->object != o)
                continue;
            l = oracle_access(u, r);
            want = !(perms & P_EDIT) ? 403 : l >= EDIT ? 200 : l >= READ ? 403 : 404;
            got = (int)json_integer_value(json_object_get(json_array_get(results, k++), "status"));
            if (got != want)
                fail_msg("batch update of %s record %d as %s: %d, expected %d", objects[o].name, i,
                         users[u].name, got, want);
            w->checks++;
        }
        json_decref(res);
        free(out);
    }
}

static void test_differential(void **state)
{
    struct world *w = calloc(1, sizeof(*w));
    (void)state;

    build_world(w);
    for (int u = 0; u < NUSERS; u++) {
        check_get_and_history(w, u);
        check_lists(w, u);
        check_search_and_filter(w, u);
        check_changes_and_openapi(w, u);
    }
    /* Writes last: they add history the read checks above did not expect. */
    for (int u = 0; u < NUSERS; u++)
        check_batch(w, u);
    print_message("policy oracle: %lu checks\n", w->checks);
    assert_true(w->checks >= CHECK_FLOOR);
    rp_test_app_close(&w->t);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_differential),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
