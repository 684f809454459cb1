/*
 * Masking of sensitive fields: the rules of rp_records_mask_value (Chinese mobiles,
 * international phones, emails, short and multi-byte text, dates, null), then the read paths as
 * a user without the reveal permission (get, list, history, change feed, CSV export, write and
 * batch responses) against the admin, who sees clear values, and the reveal route: clear values
 * and an audit entry for the admin, 403 for the user.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>

#include "records/records.h"
#include "test_app.h"

/* ---- the rules ---- */

/* in masked as field type ftype; NULL in means a null value. */
static void check_mask(enum rp_ftype ftype, const char *in, const char *want)
{
    struct rp_field f = {.name = "f", .type = ftype, .sensitive = true};
    struct rp_value v = in ? rp_value_cstr(in) : rp_value_null(), out;
    struct rp_arena a;
    char got[256];

    rp_arena_init(&a);
    rp_records_mask_value(&f, &v, &a, &out);
    if (!want) {
        assert_int_equal(out.type, RP_V_NULL);
    } else {
        assert_int_equal(out.type, RP_V_TEXT);
        assert_true(out.u.s.len < sizeof(got));
        memcpy(got, out.u.s.p, out.u.s.len);
        got[out.u.s.len] = '\0';
        if (strcmp(got, want) != 0)
            fprintf(stderr, "mask(%s) = \"%s\", want \"%s\"\n", in, got, want);
        assert_string_equal(got, want);
    }
    rp_arena_release(&a);
}

static void test_phones(void **state)
{
    (void)state;
    check_mask(RP_F_PHONE, "13800138000", "138****8000");
    check_mask(RP_F_PHONE, "18612345678", "186****5678");
    check_mask(RP_F_PHONE, "138 0013 8000", "138 **** 8000");
    check_mask(RP_F_PHONE, "138-0013-8000", "138-****-8000");
    check_mask(RP_F_PHONE, "+86 138 0013 8000", "+86 138 **** 8000");
    check_mask(RP_F_PHONE, "+86-13800138000", "+86-138****8000");
    check_mask(RP_F_PHONE, "+1 (415) 555-2671", "+1 (415) ***-2671");
    check_mask(RP_F_PHONE, "+44 20 7946 0958", "+44 20 7*** 0958");
    check_mask(RP_F_PHONE, "010-6552 9988", "010-**** 9988");
    /* No separator after the country code: all digits count. */
    check_mask(RP_F_PHONE, "+8613800138000", "+861******8000");
    /* Fewer than 8 digits: all masked. */
    check_mask(RP_F_PHONE, "10086", "*****");
    check_mask(RP_F_PHONE, "95588 ext 1", "***** ext *");
    check_mask(RP_F_PHONE, "", "");
    check_mask(RP_F_PHONE, NULL, NULL);
}

static void test_emails(void **state)
{
    (void)state;
    check_mask(RP_F_EMAIL, "wang.lei@xingyun.cn", "w***@xingyun.cn");
    check_mask(RP_F_EMAIL, "zhang.haoran@example.com.cn", "z***@example.com.cn");
    check_mask(RP_F_EMAIL, "ab@x.cn", "**@x.cn");
    check_mask(RP_F_EMAIL, "a@x.cn", "*@x.cn");
    check_mask(RP_F_EMAIL, "王小磊@邮件.中国", "王***@邮件.中国");
    check_mask(RP_F_EMAIL, "王磊@邮件.中国", "**@邮件.中国");
    check_mask(RP_F_EMAIL, "\"a@b\"@x.cn", "\"***@x.cn");
    check_mask(RP_F_EMAIL, "no-at-sign", "n***");
    check_mask(RP_F_EMAIL, NULL, NULL);
}

static void test_text(void **state)
{
    (void)state;
    check_mask(RP_F_TEXT, "wangl_1988", "w***");
    check_mask(RP_F_TEXT, "a", "*");
    check_mask(RP_F_TEXT, "ab", "**");
    check_mask(RP_F_TEXT, "abc", "a***");
    /* Code points, not bytes: two Chinese characters are a short string. */
    check_mask(RP_F_TEXT, "张", "*");
    check_mask(RP_F_TEXT, "张三", "**");
    check_mask(RP_F_TEXT, "张浩然", "张***");
    check_mask(RP_F_TEXT, "北京市朝阳区建国路88号", "北***");
    check_mask(RP_F_TEXT, "😀ok", "😀***");
    check_mask(RP_F_URL, "https://example.com", "h***");
    check_mask(RP_F_TEXT, "", "");
    check_mask(RP_F_TEXT, NULL, NULL);
    /* Invalid UTF-8 is hidden whole rather than cut. */
    check_mask(RP_F_TEXT, "\xe5\xbc", "****");
    check_mask(RP_F_PICKLIST, "vip", "****");
}

static void test_dates_and_numbers(void **state)
{
    struct rp_field date = {.name = "birthdate", .type = RP_F_DATE, .sensitive = true};
    struct rp_field num = {.name = "salary", .type = RP_F_NUMBER, .sensitive = true};
    struct rp_value d = rp_value_typed_int(RP_V_DATE, 7000), n = rp_value_num(12.5), out;
    struct rp_arena a;

    (void)state;
    rp_arena_init(&a);
    rp_records_mask_value(&date, &d, &a, &out);
    assert_int_equal(out.type, RP_V_TEXT);
    assert_string_equal(out.u.s.p, "****-**-**");
    rp_records_mask_value(&num, &n, &a, &out);
    assert_int_equal(out.type, RP_V_TEXT);
    assert_string_equal(out.u.s.p, "****");
    rp_arena_release(&a);
    check_mask(RP_F_DATE, "1988-05-17", "****-**-**"); /* as the change log holds it */
}

/* ---- the read paths ---- */

struct response {
    int status;
    char *body;
};

static void request_as(struct rp_test_app *t, const char *token, const char *method,
                       const char *target, const char *body, struct response *out)
{
    out->status = rp_test_request_as(t, token, method, target, body, &out->body);
    assert_true(out->status > 0);
}

/* Clear values of the contact the tests create: none may reach a masked response. */
static const char *const clear[] = {"13800138000", "wang.lei", "1988-05-17", "wangl_1988",
                                    "建国路",      "100020",   "13912345678"};

static void assert_masked(const struct response *r, const char *what)
{
    for (size_t i = 0; i < sizeof(clear) / sizeof(clear[0]); i++) {
        if (strstr(r->body, clear[i]))
            fprintf(stderr, "%s leaks \"%s\": %s\n", what, clear[i], r->body);
        assert_null(strstr(r->body, clear[i]));
    }
}

static void assert_has(const struct response *r, const char *needle, const char *what)
{
    if (!strstr(r->body, needle))
        fprintf(stderr, "%s lacks %s: %s\n", what, needle, r->body);
    assert_non_null(strstr(r->body, needle));
}

static void create_contact(struct rp_test_app *t, char *id)
{
    char *body = NULL, target[128];
    json_t *j;

    assert_int_equal(
        rp_test_request(
            t, "POST", "/api/v1/records/contact",
            "{\"last_name\": \"王\", \"first_name\": \"磊\", \"mobile\": \"13800138000\", \"email\": \"wang.lei@xingyun.cn\", \"birthdate\": \"1988-05-17\", \"wechat\": \"wangl_1988\", \"mailing_street\": \"建国路88号\", \"mailing_postal_code\": \"100020\"}",
            &body),
        201);
    j = json_loads(body, 0, NULL);
    assert_non_null(j);
    snprintf(id, 40, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    free(body);
    snprintf(target, sizeof(target), "/api/v1/records/contact/%s", id);
    assert_int_equal(rp_test_request(t, "PATCH", target, "{\"mobile\": \"13912345678\"}", NULL),
                     200);
}

static void test_reads_masked_for_user(void **state)
{
    struct rp_test_app *t = *state;
    struct response r;
    char bob[160], id[40], target[160];

    rp_test_user(t, "bob", "password123", false, bob, sizeof(bob), NULL);
    create_contact(t, id);

    snprintf(target, sizeof(target), "/api/v1/records/contact/%s", id);
    request_as(t, bob, "GET", target, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_masked(&r, "get");
    assert_has(&r, "\"mobile\":\"139****5678\"", "get");
    assert_has(&r, "\"email\":\"w***@xingyun.cn\"", "get");
    assert_has(&r, "\"birthdate\":\"****-**-**\"", "get");
    assert_has(&r, "\"wechat\":\"w***\"", "get");
    assert_has(&r, "\"mailing_street\":\"建***\"", "get");
    assert_has(&r, "\"phone\":null", "get");
    assert_has(&r, "\"last_name\":\"王\"", "get"); /* not sensitive */
    free(r.body);

    request_as(t, bob, "GET", "/api/v1/records/contact?fields=mobile,email", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_masked(&r, "list");
    assert_has(&r, "\"mobile\":\"139****5678\"", "list");
    free(r.body);

    /* Filtering on a sensitive field stays allowed (a known side channel, #3). */
    request_as(t, bob, "GET", "/api/v1/records/contact?filter=mobile%20%3D%20%27x%27", NULL, &r);
    assert_int_equal(r.status, 200);
    free(r.body);

    snprintf(target, sizeof(target), "/api/v1/records/contact/%s/history", id);
    request_as(t, bob, "GET", target, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_masked(&r, "history");
    assert_has(&r, "\"mobile\":[\"138****8000\",\"139****5678\"]", "history");
    assert_has(&r, "\"birthdate\":[null,\"****-**-**\"]", "history");
    assert_has(&r, "\"last_name\":[null,\"王\"]", "history");
    free(r.body);

    request_as(t, bob, "GET", "/api/v1/changes?objects=contact", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_masked(&r, "changes");
    assert_has(&r, "\"mobile\":[null,\"138****8000\"]", "changes");
    assert_has(&r, "\"email\":[null,\"w***@xingyun.cn\"]", "changes");
    free(r.body);

    request_as(t, bob, "GET", "/api/v1/records/contact/export?fields=last_name,mobile,birthdate",
               NULL, &r);
    assert_int_equal(r.status, 200);
    assert_masked(&r, "export");
    assert_has(&r, ",王,139****5678,****-**-**\r\n", "export");
    free(r.body);
}

static void test_writes_masked_for_user(void **state)
{
    struct rp_test_app *t = *state;
    struct response r;
    char bob[160];

    rp_test_user(t, "bob", "password123", false, bob, sizeof(bob), NULL);
    request_as(t, bob, "POST", "/api/v1/records/contact",
               "{\"last_name\": \"王\", \"mobile\": \"13800138000\"}", &r);
    assert_int_equal(r.status, 201);
    assert_masked(&r, "create");
    assert_has(&r, "\"mobile\":\"138****8000\"", "create");
    free(r.body);

    request_as(
        t, bob, "POST", "/api/v1/records/contact/batch",
        "{\"operations\": [{\"op\": \"create\", \"data\": {\"last_name\": \"李\", \"email\": \"wang.lei@xingyun.cn\"}}]}",
        &r);
    assert_true(r.status == 200 || r.status == 201 || r.status == 207);
    assert_masked(&r, "batch");
    assert_has(&r, "\"email\":\"w***@xingyun.cn\"", "batch");
    free(r.body);
}

static void test_admin_sees_clear(void **state)
{
    struct rp_test_app *t = *state;
    struct response r;
    char id[40], target[160];

    request_as(t, t->token, "POST", "/api/v1/records/contact",
               "{\"last_name\": \"李\", \"mobile\": \"13800138000\"}", &r);
    assert_int_equal(r.status, 201);
    assert_has(&r, "\"mobile\":\"13800138000\"", "admin create");
    free(r.body);

    create_contact(t, id);
    snprintf(target, sizeof(target), "/api/v1/records/contact/%s", id);
    request_as(t, t->token, "GET", target, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_has(&r, "\"mobile\":\"13912345678\"", "admin get");
    assert_has(&r, "\"birthdate\":\"1988-05-17\"", "admin get");
    free(r.body);

    snprintf(target, sizeof(target), "/api/v1/records/contact/%s/history", id);
    request_as(t, t->token, "GET", target, NULL, &r);
    assert_has(&r, "\"mobile\":[\"13800138000\",\"13912345678\"]", "admin history");
    free(r.body);

    request_as(t, t->token, "GET", "/api/v1/changes?objects=contact", NULL, &r);
    assert_has(&r, "\"mobile\":[\"13800138000\",\"13912345678\"]", "admin changes");
    free(r.body);

    request_as(t, t->token, "GET", "/api/v1/records/contact/export?fields=mobile", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_has(&r, ",13912345678\r\n", "admin export");
    free(r.body);
}

static void test_reveal(void **state)
{
    struct rp_test_app *t = *state;
    struct response r;
    char bob[160], id[40], target[160];

    rp_test_user(t, "bob", "password123", false, bob, sizeof(bob), NULL);
    create_contact(t, id);
    snprintf(target, sizeof(target), "/api/v1/records/contact/%s/reveal", id);

    request_as(t, bob, "POST", target, "{\"fields\": [\"mobile\"]}", &r);
    assert_int_equal(r.status, 403);
    assert_masked(&r, "reveal by bob");
    free(r.body);
    request_as(t, bob, "POST", target, NULL, &r);
    assert_int_equal(r.status, 403);
    free(r.body);

    request_as(t, t->token, "POST", target, "{\"fields\": [\"mobile\", \"email\"]}", &r);
    assert_int_equal(r.status, 200);
    assert_has(&r, "\"mobile\":\"13912345678\"", "reveal");
    assert_has(&r, "\"email\":\"wang.lei@xingyun.cn\"", "reveal");
    assert_null(strstr(r.body, "birthdate"));
    free(r.body);

    /* One audit entry, by the admin, naming the fields and holding no value. */
    snprintf(target, sizeof(target), "/api/v1/audit?action=reveal&record_id=%s", id);
    request_as(t, t->token, "GET", target, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_has(&r, "\"action\":\"reveal\"", "audit");
    assert_has(&r, "\"changes\":{\"fields\":[\"email\",\"mobile\"]}", "audit");
    assert_has(&r, t->user_id, "audit");
    assert_null(strstr(r.body, "13912345678"));
    assert_null(strstr(strstr(r.body, "\"action\":\"reveal\"") + 1, "\"action\":\"reveal\""));
    free(r.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phones),
        cmocka_unit_test(test_emails),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_dates_and_numbers),
        cmocka_unit_test_setup_teardown(test_reads_masked_for_user, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_writes_masked_for_user, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_admin_sees_clear, rp_test_app_setup,
                                        rp_test_app_teardown),
        cmocka_unit_test_setup_teardown(test_reveal, rp_test_app_setup, rp_test_app_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
