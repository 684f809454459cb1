/* Unit tests for src/meta: the catalogue, strict loading of definitions, value validation and
 * expression paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/arena.h"
#include "expr/expr.h"
#include "meta/meta.h"

#define NOW INT64_C(1795334400000)

static struct rp_meta *build(const struct rp_meta_custom_def *defs, size_t n, struct rp_error *err)
{
    struct rp_meta *m = NULL;
    if (rp_meta_build(rp_meta_catalogue(), defs, n, NOW, &m, err) < 0)
        return NULL;
    return m;
}

static void test_catalogue_has_every_standard_object(void **state)
{
    static const char *const names[] = {"account",
                                        "contact",
                                        "lead",
                                        "opportunity",
                                        "product",
                                        "price_book",
                                        "price_book_entry",
                                        "quote",
                                        "quote_line",
                                        "contract",
                                        "order",
                                        "order_line",
                                        "case",
                                        "activity",
                                        "campaign",
                                        "campaign_member",
                                        "touchpoint",
                                        "subscription",
                                        "kb_article",
                                        "survey_response",
                                        "consent",
                                        "health_score",
                                        NULL};
    struct rp_arena a;
    struct rp_error err;
    struct rp_meta *m;
    const struct rp_object *o;
    (void)state;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    m = build(NULL, 0, &err);
    assert_non_null(m);
    for (size_t i = 0; names[i]; i++)
        assert_non_null(rp_meta_object(m, names[i]));
    o = rp_meta_object(m, "account");
    assert_string_equal(o->fields[0].name, "id");
    assert_true(rp_meta_field(o, "owner_id")->system);
    assert_string_equal(rp_meta_field(o, "parent_id")->relation, "parent");
    assert_ptr_equal(rp_meta_field(o, "parent_id")->target_object, o);
    assert_true(rp_meta_field(o, "uscc")->unique);
    assert_non_null(rp_meta_field(o, "name")->label.zh);
    rp_meta_release(m);
    rp_arena_release(&a);
}

static void test_custom_definitions_are_strict(void **state)
{
    static const struct {
        const char *kind, *object, *json;
        int code;
    } bad[] = {
        {"object", "x", "{\"name\":\"Bad Name\"}", RP_EINVAL},
        {"object", "account", "{\"name\":\"account\"}", RP_ECONFLICT},
        {"object", "p", "{\"name\":\"p\",\"colour\":\"red\"}", RP_EINVAL},
        {"object", "rp_x", "{\"name\":\"rp_x\"}", RP_EINVAL},
        {"field", "account", "{\"name\":\"version\",\"type\":\"text\"}", RP_EINVAL},
        {"field", "account", "{\"name\":\"name\",\"type\":\"text\"}", RP_ECONFLICT},
        {"field", "account", "{\"name\":\"x\",\"type\":\"blob\"}", RP_EINVAL},
        {"field", "account", "{\"name\":\"boss_id\",\"type\":\"reference\"}", RP_EINVAL},
        {"field", "account", "{\"name\":\"boss\",\"type\":\"reference\",\"target\":\"contact\"}",
         RP_EINVAL},
        {"field", "account", "{\"name\":\"x_id\",\"type\":\"reference\",\"target\":\"nope\"}",
         RP_EINVAL},
        {"field", "account", "{\"name\":\"p\",\"type\":\"picklist\",\"values\":[]}", RP_EINVAL},
        {"field", "account",
         "{\"name\":\"p\",\"type\":\"picklist\",\"values\":[{\"value\":\"a\"}],\"default\":\"b\"}",
         RP_EINVAL},
        {"field", "account",
         "{\"name\":\"f\",\"type\":\"formula\",\"formula\":\"nope + 1\",\"result\":\"number\"}",
         RP_EINVAL},
        {"field", "nope", "{\"name\":\"f\",\"type\":\"text\"}", RP_ENOTFOUND},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rp_arena a;
        struct rp_error err;
        struct rp_meta_custom_def def = {bad[i].kind, bad[i].object, bad[i].json};
        rp_arena_init(&a);
        rp_error_init(&err, &a);
        assert_null(build(&def, 1, &err));
        if (err.code != bad[i].code)
            fail_msg("definition %zu (%s): code %s, expected %s: %s", i, bad[i].json,
                     rp_err_name(err.code), rp_err_name(bad[i].code), err.detail);
        assert_non_null(err.detail);
        rp_arena_release(&a);
    }
}

static void test_custom_object_and_field(void **state)
{
    const struct rp_meta_custom_def defs[] = {
        {"object", "project",
         "{\"name\":\"project\",\"label\":{\"en\":\"Project\",\"zh\":\"项目\"},\"fields\":["
         "{\"name\":\"code\",\"type\":\"text\",\"unique\":true},"
         "{\"name\":\"account_id\",\"type\":\"reference\",\"target\":\"account\"}],"
         "\"rules\":[{\"name\":\"code_short\",\"check\":\"code is null or len(code) <= 8\"}]}"},
        {"field", "account", "{\"name\":\"nps_owner\",\"type\":\"text\"}"},
    };
    struct rp_arena a;
    struct rp_error err;
    struct rp_meta *m;
    const struct rp_object *o;
    (void)state;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    m = build(defs, 2, &err);
    if (!m)
        fail_msg("%s", err.detail);
    o = rp_meta_object(m, "project");
    assert_true(o->custom);
    assert_string_equal(o->label.zh, "项目");
    assert_non_null(rp_meta_field(o, "account_id")->target_object);
    assert_int_equal(o->nrules, 1);
    assert_true(rp_meta_field(rp_meta_object(m, "account"), "nps_owner")->custom);
    rp_meta_release(m);
    rp_arena_release(&a);
}

static int check_value(const struct rp_field *f, const char *json, struct rp_value *out)
{
    struct rp_arena a;
    struct rp_error err;
    json_t *j = json_loads(json, JSON_DECODE_ANY, NULL);
    int rc;
    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rc = rp_meta_value_from_json(f, j, &a, out, &err);
    if (out->type == RP_V_TEXT)
        *out = rp_value_null(); /* its bytes die with the arena */
    json_decref(j);
    rp_arena_release(&a);
    return rc;
}

static void test_value_validation(void **state)
{
    struct rp_arena a;
    struct rp_error err;
    struct rp_meta *m;
    const struct rp_object *acct, *contact, *opp;
    struct rp_value v;
    (void)state;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    m = build(NULL, 0, &err);
    acct = rp_meta_object(m, "account");
    contact = rp_meta_object(m, "contact");
    opp = rp_meta_object(m, "opportunity");

    assert_int_equal(check_value(rp_meta_field(acct, "name"), "\"上海星云\"", &v), 0);
    assert_int_equal(check_value(rp_meta_field(acct, "name"), "42", &v), RP_EVALIDATION);
    assert_int_equal(check_value(rp_meta_field(contact, "email"), "\"wang@example.cn\"", &v), 0);
    assert_int_equal(check_value(rp_meta_field(contact, "email"), "\"wang@\"", &v), RP_EVALIDATION);
    assert_int_equal(check_value(rp_meta_field(contact, "mobile"), "\"+86 138 0013 8000\"", &v), 0);
    assert_int_equal(check_value(rp_meta_field(contact, "mobile"), "\"call me\"", &v),
                     RP_EVALIDATION);
    assert_int_equal(check_value(rp_meta_field(acct, "website"), "\"javascript:alert(1)\"", &v),
                     RP_EVALIDATION);
    assert_int_equal(check_value(rp_meta_field(acct, "tier"), "\"vip\"", &v), 0);
    assert_int_equal(check_value(rp_meta_field(acct, "tier"), "\"platinum-ish\"", &v),
                     RP_EVALIDATION);
    assert_int_equal(check_value(rp_meta_field(opp, "amount"), "\"12345678901234.5678\"", &v), 0);
    assert_true(v.type == RP_V_MONEY && v.u.i == INT64_C(123456789012345678));
    assert_int_equal(check_value(rp_meta_field(opp, "amount"), "0.1", &v), 0);
    assert_true(v.u.i == 1000);
    assert_int_equal(check_value(rp_meta_field(opp, "amount"), "\"1.00001\"", &v), RP_EVALIDATION);
    assert_int_equal(check_value(rp_meta_field(opp, "expected_close_date"), "\"2026-02-30\"", &v),
                     RP_EVALIDATION);
    assert_int_equal(check_value(rp_meta_field(opp, "pain_confirmed"), "1", &v), RP_EVALIDATION);
    assert_int_equal(check_value(rp_meta_field(opp, "account_id"), "\"not-a-uuid\"", &v),
                     RP_EVALIDATION);
    assert_int_equal(check_value(rp_meta_field(opp, "weighted_amount"), "1", &v), RP_EVALIDATION);
    assert_int_equal(check_value(rp_meta_field(opp, "probability"), "101", &v), RP_EVALIDATION);
    assert_int_equal(check_value(rp_meta_field(acct, "name"), "null", &v), 0);
    assert_int_equal(v.type, RP_V_NULL);
    rp_meta_release(m);
    rp_arena_release(&a);
}

static void test_paths(void **state)
{
    struct rp_arena a;
    struct rp_error err;
    struct rp_meta *m;
    const struct rp_field *f;
    const char *sql;
    (void)state;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    m = build(NULL, 0, &err);
    assert_int_equal(rp_meta_resolve_path(m, rp_meta_object(m, "contact"), "account.parent.tier",
                                          &a, &f, &sql, &err),
                     0);
    assert_string_equal(f->name, "tier");
    assert_non_null(strstr(sql, "\"account\""));
    assert_int_equal(
        rp_meta_resolve_path(m, rp_meta_object(m, "contact"), "account.nope", &a, &f, &sql, &err),
        RP_EINVAL);
    rp_meta_release(m);
    rp_arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalogue_has_every_standard_object),
        cmocka_unit_test(test_custom_definitions_are_strict),
        cmocka_unit_test(test_custom_object_and_field),
        cmocka_unit_test(test_value_validation),
        cmocka_unit_test(test_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
