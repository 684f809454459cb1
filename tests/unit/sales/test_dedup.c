/*
 * Dedup and merge through the HTTP API: duplicate rules (block, warn, flag) refuse or flag
 * duplicates as records are written, keys are built for records that existed before a rule,
 * the duplicates of a record are only those the caller can read, and a merge re-points every
 * reference to the master and can be undone, leaving no reference dangling either way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "test_app.h"

static json_t *call_as(struct rp_test_app *t, const char *token, const char *method,
                       const char *target, const char *body, int expect)
{
    char *out = NULL;
    int status = token ? rp_test_request_as(t, token, method, target, body, &out)
                       : rp_test_request(t, method, target, body, &out);
    json_t *j;

    if (status != expect)
        fprintf(stderr, "%s %s: %d %s\n", method, target, status, out ? out : "");
    assert_int_equal(status, expect);
    j = out && *out ? json_loads(out, 0, NULL) : json_object();
    free(out);
    return j ? j : json_object();
}

static json_t *call(struct rp_test_app *t, const char *method, const char *target, const char *body,
                    int expect)
{
    return call_as(t, NULL, method, target, body, expect);
}

static void ok(struct rp_test_app *t, const char *method, const char *target, const char *body,
               int expect)
{
    json_decref(call(t, method, target, body, expect));
}

static const char *str(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

/* Creates a record as token's user (NULL: the admin); its id into id. */
static void create_as(struct rp_test_app *t, const char *token, const char *object,
                      const char *body, char *id)
{
    char target[128];
    json_t *j;

    snprintf(target, sizeof(target), "/api/v1/records/%s", object);
    j = call_as(t, token, "POST", target, body, 201);
    snprintf(id, 40, "%s", str(j, "id"));
    json_decref(j);
}

/* Creates (201) or replaces (200) a duplicate rule. */
static void rule(struct rp_test_app *t, const char *name, const char *def)
{
    char target[128], *out = NULL;
    int status;

    snprintf(target, sizeof(target), "/api/v1/definitions/duplicate-rules/%s", name);
    status = rp_test_request(t, "PUT", target, def, &out);
    if (status != 200 && status != 201)
        fprintf(stderr, "PUT %s: %d %s\n", target, status, out ? out : "");
    free(out);
    assert_true(status == 200 || status == 201);
}

/* True if the problem's errors name id. */
static bool errors_name(const json_t *problem, const char *id)
{
    size_t i;
    const json_t *e;

    json_array_foreach(json_object_get(problem, "errors"), i, e)
    {
        if (strstr(str(e, "message"), id) && strcmp(str(e, "code"), "duplicate") == 0)
            return true;
    }
    return false;
}

/* The ids of GET .../duplicates, in order, comma-separated, into buf. */
static const char *duplicates(struct rp_test_app *t, const char *token, const char *object,
                              const char *id, char *buf, size_t n)
{
    char target[160];
    json_t *j;
    const json_t *d;
    size_t i;

    snprintf(target, sizeof(target), "/api/v1/records/%s/%s/duplicates", object, id);
    j = call_as(t, token, "GET", target, NULL, 200);
    buf[0] = '\0';
    json_array_foreach(json_object_get(j, "data"), i, d)
    {
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s", i ? "," : "", str(d, "id"));
    }
    json_decref(j);
    return buf;
}

static void test_rule_checks(void **state)
{
    struct rp_test_app *t = *state;
    char tok[128], *out = NULL;
    static const struct {
        const char *def;
    } bad[] = {
        {"{\"object\": \"nothing\", \"action\": \"block\", \"match\": [{\"method\": \"email\","
         " \"field\": \"email\"}]}"},
        {"{\"object\": \"lead\", \"action\": \"shout\", \"match\": [{\"method\": \"email\","
         " \"field\": \"email\"}]}"},
        {"{\"object\": \"lead\", \"action\": \"block\", \"match\": []}"},
        {"{\"object\": \"lead\", \"action\": \"block\", \"match\": [{\"method\": \"soundex\","
         " \"field\": \"email\"}]}"},
        {"{\"object\": \"lead\", \"action\": \"block\", \"match\": [{\"method\": \"email\","
         " \"field\": \"nope\"}]}"},
        {"{\"object\": \"lead\", \"action\": \"block\", \"match\": [{\"method\": \"email\","
         " \"field\": \"status\"}]}"},
        {"{\"object\": \"lead\", \"action\": \"block\", \"match\": [{\"method\": \"name\","
         " \"fields\": [\"first_name\"], \"threshold\": 0.9}]}"},
        {"{\"object\": \"lead\", \"action\": \"block\", \"match\": [{\"method\": \"name\","
         " \"fields\": [\"first_name\"], \"threshold\": 1.5, \"block_by\": \"company\"}]}"},
        {"{\"object\": \"lead\", \"action\": \"block\", \"match\": [{\"method\": \"email\","
         " \"field\": \"email\", \"extra\": 1}]}"},
        {"{\"object\": \"lead\", \"action\": \"block\", \"match\": [{\"method\": \"email\"}]}"},
        {"{\"object\": \"lead\", \"action\": \"block\", \"match\": [{\"method\": \"name\","
         " \"fields\": [7], \"block_by\": \"company\"}]}"},
        {"{\"object\": \"lead\", \"action\": \"block\", \"match\": [{\"method\": \"name\","
         " \"fields\": [\"last_name\"], \"block_by\": \"name\"}]}"},
        {"{\"object\": \"lead\", \"match\": [{\"method\": \"email\", \"field\": \"email\"}],"
         " \"colour\": 1}"},
        {"{\"object\": 7, \"action\": \"block\", \"match\": [{\"method\": 7}]}"},
        {"{\"object\": \"lead\", \"action\": \"block\", \"match\": [7]}"},
        {"{\"object\": \"consent\", \"action\": \"flag\", \"match\": [{\"method\": \"email\","
         " \"field\": \"evidence\"}]}"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ok(t, "PUT", "/api/v1/definitions/duplicate-rules/bad", bad[i].def, 422);
    rp_test_user(t, "rep", "rep-password", false, tok, sizeof(tok), NULL);
    assert_int_equal(rp_test_request_as(t, tok, "PUT", "/api/v1/definitions/duplicate-rules/r",
                                        "{\"object\": \"lead\", \"action\": \"flag\", \"match\":"
                                        " [{\"method\": \"email\", \"field\": \"email\"}]}",
                                        &out),
                     403);
    free(out);
}

static void test_block(void **state)
{
    struct rp_test_app *t = *state;
    char a[40], d[40], e1[40], e2[40], target[160], buf[256];
    json_t *j;

    /* records from before the rule get their keys when it is stored */
    rp_test_create(t, "lead", "{\"last_name\": \"Old\", \"uscc\": \"914403001922038216\"}", e1);
    rp_test_create(t, "lead", "{\"last_name\": \"Older\", \"uscc\": \"914403001922038216\"}", e2);
    rule(t, "leads",
         "{\"object\": \"lead\", \"action\": \"block\", \"match\": [{\"method\": \"email\","
         " \"field\": \"email\"}, {\"method\": \"phone\", \"field\": \"mobile\"},"
         " {\"method\": \"phone\", \"field\": \"phone\"}, {\"method\": \"uscc\", \"field\":"
         " \"uscc\"}]}");
    assert_string_equal(duplicates(t, NULL, "lead", e1, buf, sizeof(buf)), e2);
    ok(t, "GET", "/api/v1/records/lead/x/duplicates", NULL, 404);

    rp_test_create(t, "lead",
                   "{\"last_name\": \"Li\", \"email\": \"Li.Wei@Tea.example.cn\", \"mobile\":"
                   " \"+86 138 1234 5678\"}",
                   a);
    /* the same email in another case */
    j = call(t, "POST", "/api/v1/records/lead",
             "{\"last_name\": \"L\", \"email\": \"li.wei@tea.example.cn\"}", 409);
    assert_string_equal(str(j, "code"), "duplicate");
    assert_true(errors_name(j, a));
    json_decref(j);
    /* block is not waved through */
    j = call(t, "POST", "/api/v1/records/lead?allow_duplicates=true",
             "{\"last_name\": \"L\", \"email\": \"LI.WEI@tea.example.cn\"}", 409);
    json_decref(j);
    /* the mobile, written another way, in the phone field: keys are per method */
    j = call(t, "POST", "/api/v1/records/lead",
             "{\"last_name\": \"L\", \"phone\": \"0086 13812345678\"}", 409);
    assert_true(errors_name(j, a));
    json_decref(j);
    /* something else is fine; an update into a duplicate is refused, other updates are not */
    rp_test_create(t, "lead", "{\"last_name\": \"Other\", \"email\": \"other@tea.example.cn\"}", d);
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s", d);
    j = call(t, "PATCH", target, "{\"email\": \"li.wei@TEA.example.cn\"}", 409);
    assert_true(errors_name(j, a));
    json_decref(j);
    ok(t, "PATCH", target, "{\"title\": \"CTO\"}", 200);
    /* a deleted record no longer blocks; restoring it makes it count again */
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s", a);
    ok(t, "DELETE", target, NULL, 200);
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s", d);
    ok(t, "PATCH", target, "{\"email\": \"li.wei@tea.example.cn\"}", 200);
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s/restore", a);
    ok(t, "POST", target, NULL, 200);
    assert_string_equal(duplicates(t, NULL, "lead", d, buf, sizeof(buf)), a);
    /* deleting the rule drops the keys */
    ok(t, "DELETE", "/api/v1/definitions/duplicate-rules/leads", NULL, 204);
    assert_string_equal(duplicates(t, NULL, "lead", d, buf, sizeof(buf)), "");
    rp_test_create(t, "lead", "{\"last_name\": \"L\", \"email\": \"li.wei@tea.example.cn\"}", d);
}

/* A rule stored over an object with more records than one page of the key build (1,000). */
static void test_rule_builds_many(void **state)
{
    struct rp_test_app *t = *state;
    char first[40], again[40], late[40], buf[256];
    json_t *j;

    for (int b = 0; b < 3; b++) {
        json_t *ops = json_array(), *body;
        char *text, *out = NULL;
        for (int i = 0; i < 800; i++) {
            char email[64];
            snprintf(email, sizeof(email), "person%d@many.example.com", b * 800 + i);
            json_array_append_new(ops, json_pack("{sss{ssss}}", "op", "create", "data", "last_name",
                                                 "Many", "email", email));
        }
        body = json_pack("{soso}", "atomic", json_true(), "operations", ops);
        text = json_dumps(body, JSON_COMPACT);
        assert_int_equal(rp_test_request(t, "POST", "/api/v1/records/lead/batch", text, &out), 200);
        free(out);
        free(text);
        json_decref(body);
    }
    j = call(t, "GET", "/api/v1/records/lead?filter=email%20%3D%20%27person0%40many.example.com%27",
             NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
    snprintf(first, sizeof(first), "%s", str(json_array_get(json_object_get(j, "data"), 0), "id"));
    json_decref(j);
    /* duplicates written before the rule: the first and the last of the 2,400 */
    rp_test_create(t, "lead", "{\"last_name\": \"Again\", \"email\": \"PERSON0@many.example.com\"}",
                   again);
    rp_test_create(t, "lead",
                   "{\"last_name\": \"Late\", \"email\": \"person2399@many.example.com\"}", late);
    rule(t, "emails",
         "{\"object\": \"lead\", \"action\": \"flag\", \"match\": [{\"method\": \"email\","
         " \"field\": \"email\"}]}");
    assert_string_equal(duplicates(t, NULL, "lead", again, buf, sizeof(buf)), first);
    assert_int_equal(strlen(duplicates(t, NULL, "lead", late, buf, sizeof(buf))), 36);
    assert_string_not_equal(buf, late);
}

static void test_warn(void **state)
{
    struct rp_test_app *t = *state;
    char a[40], b[40], buf[256];
    json_t *j;

    rule(t, "companies",
         "{\"object\": \"account\", \"action\": \"warn\", \"match\": [{\"method\": \"company\","
         " \"field\": \"name\"}]}");
    rp_test_create(t, "account", "{\"name\": \"腾讯科技（深圳）有限公司\"}", a);
    j = call(t, "POST", "/api/v1/records/account", "{\"name\": \"腾讯科技(深圳)有限公司\"}", 409);
    assert_string_equal(str(j, "code"), "duplicate");
    assert_non_null(strstr(str(j, "detail"), "allow_duplicates"));
    assert_true(errors_name(j, a));
    json_decref(j);
    ok(t, "POST", "/api/v1/records/account?allow_duplicates=maybe", "{\"name\": \"x\"}", 400);
    ok(t, "POST", "/api/v1/records/account?allow_duplicates=false",
       "{\"name\": \"腾讯科技 (深圳) 有限公司\"}", 409);
    j = call(t, "POST", "/api/v1/records/account?allow_duplicates=true",
             "{\"name\": \"腾讯科技(深圳)有限公司\"}", 201);
    snprintf(b, sizeof(b), "%s", str(j, "id"));
    json_decref(j);
    assert_string_equal(duplicates(t, NULL, "account", b, buf, sizeof(buf)), a);
    j = call(t, "GET", "/api/v1/records/account?limit=10", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 2);
    json_decref(j);
    /* PUT by a unique field takes the parameter too */
    ok(t, "PUT", "/api/v1/records/account/by/uscc/91110000802100433B?allow_duplicates=true",
       "{\"name\": \"Tencent\", \"uscc\": \"91110000802100433B\"}", 201);
}

static size_t events(struct rp_test_app *t, const char *type, const char *id, json_t **last)
{
    json_t *j = call(t, "GET", "/api/v1/changes?limit=1000&objects=event", NULL, 200);
    const json_t *e;
    size_t i, n = 0;

    json_array_foreach(json_object_get(j, "data"), i, e)
    {
        if (strcmp(str(e, "op"), type) == 0 && strcmp(str(e, "id"), id) == 0) {
            n++;
            if (last) {
                json_decref(*last);
                *last = json_deep_copy(json_object_get(e, "changes"));
            }
        }
    }
    json_decref(j);
    return n;
}

static void test_flag_and_fuzzy_names(void **state)
{
    struct rp_test_app *t = *state;
    char a[40], b[40], c[40], d[40], e[40], f[40], buf[256];
    json_t *ev = NULL, *j;

    rule(t, "emails",
         "{\"object\": \"lead\", \"action\": \"flag\", \"match\": [{\"method\": \"email\","
         " \"field\": \"email\"}]}");
    rule(t, "names",
         "{\"object\": \"lead\", \"action\": \"flag\", \"match\": [{\"method\": \"name\","
         " \"fields\": [\"first_name\", \"last_name\"], \"threshold\": 0.92, \"block_by\":"
         " \"company\"}]}");
    rp_test_create(t, "lead", "{\"last_name\": \"Wei\", \"email\": \"w@x.example.com\"}", a);
    rp_test_create(t, "lead", "{\"last_name\": \"Wei\", \"email\": \"W@X.example.com\"}", b);
    assert_int_equal(events(t, "duplicate.flagged", b, &ev), 1);
    assert_string_equal(str(json_array_get(json_object_get(ev, "duplicates"), 0), "id"), a);
    assert_string_equal(str(ev, "rule"), "emails");
    json_decref(ev);
    ev = NULL;
    assert_int_equal(events(t, "duplicate.flagged", a, NULL), 0);

    /* names: similar within the same company only, and the company alone is not a match */
    rp_test_create(t, "lead",
                   "{\"first_name\": \"Jon\", \"last_name\": \"Smith\", \"company\": \"Acme Inc\"}",
                   c);
    rp_test_create(
        t, "lead",
        "{\"first_name\": \"John\", \"last_name\": \"Smith\", \"company\": \"ACME, Inc.\"}", d);
    rp_test_create(
        t, "lead",
        "{\"first_name\": \"John\", \"last_name\": \"Smith\", \"company\": \"Other Ltd\"}", e);
    rp_test_create(t, "lead",
                   "{\"first_name\": \"Mary\", \"last_name\": \"Jones\", \"company\": \"Acme\"}",
                   f);
    assert_string_equal(duplicates(t, NULL, "lead", d, buf, sizeof(buf)), c);
    assert_string_equal(duplicates(t, NULL, "lead", e, buf, sizeof(buf)), "");
    assert_string_equal(duplicates(t, NULL, "lead", f, buf, sizeof(buf)), "");
    assert_int_equal(events(t, "duplicate.flagged", d, &ev), 1);
    assert_string_equal(str(ev, "rule"), "names");
    j = json_object_get(json_array_get(json_object_get(ev, "duplicates"), 0), "matched");
    assert_string_equal(json_string_value(json_array_get(j, 0)), "name");
    assert_true(json_number_value(json_object_get(
                    json_array_get(json_object_get(ev, "duplicates"), 0), "score")) >= 0.92);
    json_decref(ev);
    assert_int_equal(events(t, "duplicate.flagged", e, NULL), 0);
    assert_int_equal(events(t, "duplicate.flagged", f, NULL), 0);
}

static void test_duplicates_access(void **state)
{
    struct rp_test_app *t = *state;
    char tok[128], r1[40], r2[40], hidden[40], buf[256], target[160];
    json_t *j;

    ok(t, "PUT", "/api/v1/admin/sharing/lead", "{\"default_access\": \"private\"}", 200);
    rule(t, "emails",
         "{\"object\": \"lead\", \"action\": \"flag\", \"match\": [{\"method\": \"email\","
         " \"field\": \"email\"}]}");
    rp_test_user(t, "rep", "rep-password", false, tok, sizeof(tok), NULL);
    create_as(t, tok, "lead", "{\"last_name\": \"A\", \"email\": \"same@x.example.com\"}", r1);
    rp_test_create(t, "lead", "{\"last_name\": \"B\", \"email\": \"same@x.example.com\"}", hidden);
    create_as(t, tok, "lead", "{\"last_name\": \"C\", \"email\": \"same@x.example.com\"}", r2);
    /* the rep sees only its own leads among the duplicates; the admin sees all */
    assert_string_equal(duplicates(t, tok, "lead", r1, buf, sizeof(buf)), r2);
    assert_non_null(strstr(duplicates(t, NULL, "lead", r1, buf, sizeof(buf)), hidden));
    assert_non_null(strstr(buf, r2));
    /* a record the rep cannot read is a 404, like a missing one */
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s/duplicates", hidden);
    json_decref(call_as(t, tok, "GET", target, NULL, 404));
    json_decref(call(t, "GET", "/api/v1/records/nothing/x/duplicates", NULL, 404));
    /* a blocking rule names only the duplicates the writer can read */
    rule(t, "emails",
         "{\"object\": \"lead\", \"action\": \"block\", \"match\": [{\"method\": \"email\","
         " \"field\": \"email\"}]}");
    j = call_as(t, tok, "POST", "/api/v1/records/lead",
                "{\"last_name\": \"D\", \"email\": \"same@x.example.com\"}", 409);
    assert_true(errors_name(j, r1));
    assert_true(errors_name(j, r2));
    assert_false(errors_name(j, hidden));
    assert_non_null(strstr(str(j, "detail"), "cannot read"));
    json_decref(j);
}

/* Erasure writes rows directly: the erased person's keys go with the values. */
static void test_erasure_forgets_keys(void **state)
{
    struct rp_test_app *t = *state;
    char a[40], b[40], target[160], buf[256];

    rule(t, "emails",
         "{\"object\": \"contact\", \"action\": \"flag\", \"match\": [{\"method\": \"email\","
         " \"field\": \"email\"}, {\"method\": \"phone\", \"field\": \"mobile\"}]}");
    rp_test_create(t, "contact",
                   "{\"last_name\": \"Wang\", \"email\": \"wang@x.example.cn\", \"mobile\":"
                   " \"13812345678\"}",
                   a);
    rp_test_create(t, "contact", "{\"last_name\": \"Wang\", \"email\": \"WANG@x.example.cn\"}", b);
    assert_string_equal(duplicates(t, NULL, "contact", b, buf, sizeof(buf)), a);
    snprintf(target, sizeof(target), "/api/v1/privacy/subjects/%s/erase", a);
    ok(t, "POST", target, NULL, 200);
    assert_string_equal(duplicates(t, NULL, "contact", b, buf, sizeof(buf)), "");
    assert_string_equal(duplicates(t, NULL, "contact", a, buf, sizeof(buf)), "");
}

/* ---- merge ---- */

/* How many live records hold id in a reference field to object (every object and field of the
 * catalogue; ledgers excepted), plus activities whose related record it is. */
static size_t references(struct rp_test_app *t, const char *object, const char *id)
{
    struct rp_meta *m = rp_test_catalogue();
    size_t n = 0;

    for (size_t i = 0; i < m->nobjects; i++) {
        const struct rp_object *o = &m->objects[i];
        if (o->append_only)
            continue;
        for (size_t k = 0; k < o->nfields; k++) {
            const struct rp_field *f = &o->fields[k];
            char target[512];
            json_t *j;
            if (f->type != RP_F_REFERENCE || strcmp(f->target, object) != 0)
                continue;
            snprintf(target, sizeof(target),
                     "/api/v1/records/%s?limit=500&filter=%s%%20%%3D%%20%%27%s%%27", o->name,
                     f->name, id);
            j = call(t, "GET", target, NULL, 200);
            n += json_array_size(json_object_get(j, "data"));
            json_decref(j);
        }
        if (rp_meta_field(o, "related_id")) {
            char target[512];
            json_t *j;
            snprintf(target, sizeof(target),
                     "/api/v1/records/%s?limit=500&filter=related_object%%20%%3D%%20%%27%s%%27"
                     "%%20and%%20related_id%%20%%3D%%20%%27%s%%27",
                     o->name, object, id);
            j = call(t, "GET", target, NULL, 200);
            n += json_array_size(json_object_get(j, "data"));
            json_decref(j);
        }
    }
    rp_meta_release(m);
    return n;
}

static json_t *get(struct rp_test_app *t, const char *object, const char *id, int expect)
{
    char target[160];
    snprintf(target, sizeof(target), "/api/v1/records/%s/%s", object, id);
    return call(t, "GET", target, NULL, expect);
}

static void test_merge_and_undo(void **state)
{
    struct rp_test_app *t = *state;
    char master[40], dup[40], other[40], campaign[40], act[40], opp[40], kase[40], report[40],
        member[40], body[512], target[160], merge[40];
    json_t *r, *j, *ev = NULL;
    size_t before_master;

    rp_test_create(t, "contact",
                   "{\"last_name\": \"Wang\", \"first_name\": \"Lei\", \"email\":"
                   " \"wang.lei@old.example.cn\", \"title\": \"CTO\"}",
                   master);
    rp_test_create(t, "contact",
                   "{\"last_name\": \"Wang\", \"first_name\": \"Lei\", \"email\":"
                   " \"wang.lei@new.example.cn\", \"title\": \"Head of IT\", \"mobile\":"
                   " \"13812345678\"}",
                   dup);
    rp_test_create(t, "contact", "{\"last_name\": \"Zhou\"}", other);
    /* references to the duplicate from many objects, and the master's own link to it */
    rp_test_create(t, "campaign", "{\"name\": \"Expo\"}", campaign);
    snprintf(body, sizeof(body),
             "{\"type\": \"call\", \"subject\": \"Intro\", \"contact_id\": \"%s\","
             " \"related_object\": \"contact\", \"related_id\": \"%s\"}",
             dup, dup);
    rp_test_create(t, "activity", body, act);
    snprintf(body, sizeof(body),
             "{\"name\": \"Deal\", \"stage\": \"prospecting\", \"primary_contact_id\": \"%s\","
             " \"economic_buyer_id\": \"%s\"}",
             dup, other);
    rp_test_create(t, "opportunity", body, opp);
    snprintf(body, sizeof(body),
             "{\"subject\": \"Broken\", \"priority\": \"p2\", \"status\": \"new\","
             " \"contact_id\": \"%s\"}",
             dup);
    rp_test_create(t, "case", body, kase);
    snprintf(body, sizeof(body), "{\"last_name\": \"Report\", \"reports_to_id\": \"%s\"}", dup);
    rp_test_create(t, "contact", body, report);
    snprintf(body, sizeof(body), "{\"campaign_id\": \"%s\", \"contact_id\": \"%s\"}", campaign,
             dup);
    rp_test_create(t, "campaign_member", body, member);
    snprintf(target, sizeof(target), "/api/v1/records/contact/%s", master);
    snprintf(body, sizeof(body), "{\"reports_to_id\": \"%s\"}", dup);
    ok(t, "PATCH", target, body, 200);
    assert_int_equal(references(t, "contact", dup), 7);
    before_master = references(t, "contact", master);
    assert_int_equal(before_master, 0);

    snprintf(target, sizeof(target), "/api/v1/records/contact/%s/merge", master);
    snprintf(body, sizeof(body),
             "{\"duplicate_id\": \"%s\", \"fields\": {\"email\": \"duplicate\", \"mobile\":"
             " \"duplicate\", \"title\": \"master\"}}",
             dup);
    r = call(t, "POST", target, body, 201);
    snprintf(merge, sizeof(merge), "%s", str(r, "id"));
    assert_string_equal(str(r, "state"), "merged");
    assert_string_equal(str(r, "master_id"), master);
    assert_string_equal(str(json_object_get(r, "master_before"), "email"),
                        "wang.lei@old.example.cn");
    assert_true(json_is_null(json_object_get(json_object_get(r, "master_before"), "mobile")));
    assert_null(json_object_get(json_object_get(r, "master_before"), "title"));
    assert_int_equal(json_array_size(json_object_get(r, "repointed")), 7);
    json_decref(r);

    /* no live reference to the duplicate is left; the master got them (its own link cleared) */
    assert_int_equal(references(t, "contact", dup), 0);
    assert_int_equal(references(t, "contact", master), 6);
    j = get(t, "contact", master, 200);
    assert_string_equal(str(j, "email"), "wang.lei@new.example.cn");
    assert_string_equal(str(j, "title"), "CTO");
    assert_true(json_is_null(json_object_get(j, "reports_to_id")));
    json_decref(j);
    j = get(t, "opportunity", opp, 200);
    assert_string_equal(str(j, "primary_contact_id"), master);
    assert_string_equal(str(j, "economic_buyer_id"), other);
    json_decref(j);
    j = get(t, "activity", act, 200);
    assert_string_equal(str(j, "related_id"), master);
    assert_string_equal(str(j, "contact_id"), master);
    json_decref(j);
    json_decref(get(t, "contact", dup, 404));
    assert_int_equal(events(t, "record.merged", master, &ev), 1);
    assert_string_equal(str(ev, "duplicate_id"), dup);
    assert_string_equal(str(ev, "merge_id"), merge);
    json_decref(ev);
    ev = NULL;
    /* the history stays: each re-pointing is in the referencing record's audit trail */
    snprintf(target, sizeof(target), "/api/v1/records/case/%s/history", kase);
    j = call(t, "GET", target, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 2);
    json_decref(j);

    /* undo: everything points back, the master's fields come back, the duplicate lives again */
    snprintf(target, sizeof(target), "/api/v1/merges/%s/undo", merge);
    r = call(t, "POST", target, NULL, 200);
    assert_string_equal(str(r, "state"), "undone");
    assert_non_null(str(r, "undone_at"));
    json_decref(r);
    assert_int_equal(references(t, "contact", dup), 7);
    assert_int_equal(references(t, "contact", master), 0);
    j = get(t, "contact", master, 200);
    assert_string_equal(str(j, "email"), "wang.lei@old.example.cn");
    assert_true(json_is_null(json_object_get(j, "mobile")));
    assert_string_equal(str(j, "reports_to_id"), dup);
    json_decref(j);
    j = get(t, "contact", dup, 200);
    assert_string_equal(str(j, "email"), "wang.lei@new.example.cn");
    json_decref(j);
    j = get(t, "activity", act, 200);
    assert_string_equal(str(j, "related_id"), dup);
    json_decref(j);
    assert_int_equal(events(t, "record.unmerged", master, NULL), 1);
    /* once only */
    json_decref(call(t, "POST", target, NULL, 409));
    snprintf(target, sizeof(target), "/api/v1/merges/%s", merge);
    j = call(t, "GET", target, NULL, 200);
    assert_string_equal(str(j, "state"), "undone");
    json_decref(j);
}

static void test_merge_unique_and_conflict(void **state)
{
    struct rp_test_app *t = *state;
    char a[40], b[40], target[160], body[256], merge[40];
    json_t *r, *j;

    /* the master takes a unique value from the duplicate, and gives it back on undo */
    rp_test_create(t, "account", "{\"name\": \"Huawei\"}", a);
    rp_test_create(t, "account",
                   "{\"name\": \"Huawei Technologies\", \"uscc\": \"914403001922038216\"}", b);
    snprintf(target, sizeof(target), "/api/v1/records/account/%s/merge", a);
    snprintf(body, sizeof(body),
             "{\"duplicate_id\": \"%s\", \"fields\": {\"uscc\": \"duplicate\"}}", b);
    r = call(t, "POST", target, body, 201);
    snprintf(merge, sizeof(merge), "%s", str(r, "id"));
    json_decref(r);
    j = get(t, "account", a, 200);
    assert_string_equal(str(j, "uscc"), "914403001922038216");
    json_decref(j);
    /* the master's merged field changed since: undo refuses and names it */
    snprintf(target, sizeof(target), "/api/v1/records/account/%s", a);
    ok(t, "PATCH", target, "{\"uscc\": \"91110000802100433B\"}", 200);
    snprintf(target, sizeof(target), "/api/v1/merges/%s/undo", merge);
    j = call(t, "POST", target, NULL, 409);
    assert_string_equal(str(json_array_get(json_object_get(j, "errors"), 0), "field"), "uscc");
    json_decref(j);
    json_decref(get(t, "account", b, 404));
    snprintf(target, sizeof(target), "/api/v1/records/account/%s", a);
    ok(t, "PATCH", target, "{\"uscc\": \"914403001922038216\"}", 200);
    snprintf(target, sizeof(target), "/api/v1/merges/%s/undo", merge);
    ok(t, "POST", target, NULL, 200);
    j = get(t, "account", b, 200);
    assert_string_equal(str(j, "uscc"), "914403001922038216");
    json_decref(j);
    j = get(t, "account", a, 200);
    assert_true(json_is_null(json_object_get(j, "uscc")));
    json_decref(j);
}

static void test_merge_errors(void **state)
{
    struct rp_test_app *t = *state;
    char a[40], b[40], mine[40], tok[128], target[160], body[256];
    json_t *j;

    rp_test_create(t, "lead", "{\"last_name\": \"A\"}", a);
    rp_test_create(t, "lead", "{\"last_name\": \"B\"}", b);
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s/merge", a);
    /* bodies */
    ok(t, "POST", target, "{}", 400);
    ok(t, "POST", target, "{\"duplicate_id\": 7}", 400);
    ok(t, "POST", target, "{\"duplicate_id\": \"not-an-id\"}", 400);
    snprintf(body, sizeof(body), "{\"duplicate_id\": \"%s\", \"colour\": \"red\"}", b);
    ok(t, "POST", target, body, 400);
    snprintf(body, sizeof(body), "{\"duplicate_id\": \"%s\"}", a);
    ok(t, "POST", target, body, 422);
    snprintf(body, sizeof(body), "{\"duplicate_id\": \"%s\", \"fields\": {\"nope\": \"master\"}}",
             b);
    ok(t, "POST", target, body, 422);
    snprintf(body, sizeof(body), "{\"duplicate_id\": \"%s\", \"fields\": {\"id\": \"duplicate\"}}",
             b);
    ok(t, "POST", target, body, 422);
    snprintf(body, sizeof(body), "{\"duplicate_id\": \"%s\", \"fields\": {\"email\": \"both\"}}",
             b);
    ok(t, "POST", target, body, 422);
    /* missing records */
    snprintf(body, sizeof(body), "{\"duplicate_id\": \"01900000-0000-7000-8000-000000000000\"}");
    ok(t, "POST", target, body, 404);
    snprintf(body, sizeof(body), "{\"duplicate_id\": \"%s\"}", b);
    ok(t, "POST", "/api/v1/records/lead/01900000-0000-7000-8000-000000000000/merge", body, 404);
    ok(t, "POST", "/api/v1/records/nothing/01900000-0000-7000-8000-000000000000/merge", body, 404);
    ok(t, "POST", "/api/v1/merges/01900000-0000-7000-8000-000000000000/undo", NULL, 404);
    ok(t, "GET", "/api/v1/merges/nope", NULL, 404);
    /* a rep may edit every lead (public read/write) but delete only its own */
    rp_test_user(t, "rep", "rep-password", false, tok, sizeof(tok), NULL);
    create_as(t, tok, "lead", "{\"last_name\": \"Mine\"}", mine);
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s/merge", mine);
    snprintf(body, sizeof(body), "{\"duplicate_id\": \"%s\"}", b);
    j = call_as(t, tok, "POST", target, body, 403);
    json_decref(j);
    json_decref(get(t, "lead", b, 200)); /* nothing happened */
    snprintf(target, sizeof(target), "/api/v1/records/lead/%s/merge", b);
    snprintf(body, sizeof(body), "{\"duplicate_id\": \"%s\"}", mine);
    j = call_as(t, tok, "POST", target, body, 201);
    json_decref(j);
    json_decref(get(t, "lead", mine, 404));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rule_checks, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_block, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_rule_builds_many, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_warn, rp_test_app_setup, rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_flag_and_fuzzy_names, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_duplicates_access, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_erasure_forgets_keys, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_merge_and_undo, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_merge_unique_and_conflict, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_merge_errors, rp_test_app_setup, rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
