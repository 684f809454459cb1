/*
 * The match key normalisers of dedup (sales.h): each value that should match gives the same
 * key, each implausible value gives none, and the similarity of names behaves as Jaro-Winkler.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "sales/sales.h"

/* The key fn gives in, or NULL when it gives none. The text lives until the next call. */
static const char *key_of(rp_sales_match_fn fn, const char *in, const char *country)
{
    static char last[512];
    struct rp_buf b;
    bool ok;

    rp_buf_init(&b, NULL, 4096);
    ok = fn(in, strlen(in), country, &b);
    snprintf(last, sizeof(last), "%s", b.data);
    rp_buf_release(&b);
    if (!ok)
        assert_string_equal(last, ""); /* nothing is appended without a key */
    return ok ? last : NULL;
}

#define assert_key(fn, in, want) assert_string_equal(key_of(fn, in, "86"), want)
#define assert_no_key(fn, in)    assert_null(key_of(fn, in, "86"))

static void test_email(void **state)
{
    (void)state;
    assert_key(rp_sales_match_email, "Li.Wei@Tea.Example.CN", "li.wei@tea.example.cn");
    assert_key(rp_sales_match_email, "  li.wei@tea.example.cn \t", "li.wei@tea.example.cn");
    assert_key(rp_sales_match_email, "a+tag@x.io", "a+tag@x.io");
    assert_no_key(rp_sales_match_email, "");
    assert_no_key(rp_sales_match_email, "   ");
    assert_no_key(rp_sales_match_email, "li.wei");
    assert_no_key(rp_sales_match_email, "li@wei@tea.cn");
    assert_no_key(rp_sales_match_email, "@tea.cn");
    assert_no_key(rp_sales_match_email, "li@tea");
    assert_no_key(rp_sales_match_email, "li@.tea.cn");
    assert_no_key(rp_sales_match_email, "li@tea..cn");
    assert_no_key(rp_sales_match_email, "li wei@tea.cn");
    assert_no_key(rp_sales_match_email, "li@tea.cn.");
}

static void test_phone_china(void **state)
{
    (void)state;
    /* one mobile, every way people write it */
    assert_key(rp_sales_match_phone, "13812345678", "+8613812345678");
    assert_key(rp_sales_match_phone, "138 1234 5678", "+8613812345678");
    assert_key(rp_sales_match_phone, "138-1234-5678", "+8613812345678");
    assert_key(rp_sales_match_phone, "+86 138 1234 5678", "+8613812345678");
    assert_key(rp_sales_match_phone, "+86-13812345678", "+8613812345678");
    assert_key(rp_sales_match_phone, "0086 138 1234 5678", "+8613812345678");
    assert_key(rp_sales_match_phone, "8613812345678", "+8613812345678");
    assert_key(rp_sales_match_phone, "(+86) 138.1234.5678", "+8613812345678");
    assert_key(rp_sales_match_phone, "１３８１２３４５６７８", "+8613812345678"); /* full-width */
    assert_key(rp_sales_match_phone, "013812345678", "+8613812345678");
    /* landlines: the area code's 0 is the trunk prefix */
    assert_key(rp_sales_match_phone, "010-8888 6666", "+861088886666");
    assert_key(rp_sales_match_phone, "(010) 88886666", "+861088886666");
    assert_key(rp_sales_match_phone, "+86 10 8888 6666", "+861088886666");
    assert_key(rp_sales_match_phone, "+86 (0)10 8888 6666", "+861088886666");
    assert_key(rp_sales_match_phone, "021-6666 8888", "+862166668888");
    assert_key(rp_sales_match_phone, "0755-8888 6666", "+8675588886666");
    assert_key(rp_sales_match_phone, "0571-8888666", "+865718888666");
    /* extensions are dropped */
    assert_key(rp_sales_match_phone, "010-8888 6666 转 123", "+861088886666");
    assert_key(rp_sales_match_phone, "010-8888 6666 ext. 123", "+861088886666");
    assert_key(rp_sales_match_phone, "010-8888 6666 x123", "+861088886666");
    assert_key(rp_sales_match_phone, "010-8888 6666#123", "+861088886666");
}

static void test_phone_invalid(void **state)
{
    (void)state;
    assert_no_key(rp_sales_match_phone, "");
    assert_no_key(rp_sales_match_phone, "n/a");
    assert_no_key(rp_sales_match_phone, "call me");
    assert_no_key(rp_sales_match_phone, "12345");
    assert_no_key(rp_sales_match_phone, "8888 6666");        /* no area code */
    assert_no_key(rp_sales_match_phone, "12812345678");      /* 12x is no mobile prefix */
    assert_no_key(rp_sales_match_phone, "1381234567");       /* a digit short */
    assert_no_key(rp_sales_match_phone, "138123456789");     /* a digit long */
    assert_no_key(rp_sales_match_phone, "+86 138 1234 567"); /* a digit short */
    assert_no_key(rp_sales_match_phone, "138-1234-567a");
    assert_no_key(rp_sales_match_phone, "++8613812345678");
    assert_no_key(rp_sales_match_phone, "+12");
    assert_no_key(rp_sales_match_phone, "+1234567890123456"); /* E.164 has at most 15 digits */
}

static void test_phone_other_countries(void **state)
{
    (void)state;
    assert_key(rp_sales_match_phone, "+1 (415) 555-0132", "+14155550132");
    assert_key(rp_sales_match_phone, "+44 20 7946 0958", "+442079460958");
    assert_key(rp_sales_match_phone, "0044 20 7946 0958", "+442079460958");
    /* a configured default country */
    assert_string_equal(key_of(rp_sales_match_phone, "(415) 555-0132", "1"), "+14155550132");
    assert_string_equal(key_of(rp_sales_match_phone, "1 415 555 0132", "1"), "+14155550132");
    assert_string_equal(key_of(rp_sales_match_phone, "020 7946 0958", "44"), "+442079460958");
    assert_string_equal(key_of(rp_sales_match_phone, "13812345678", "86"), "+8613812345678");
    /* an unusable setting falls back to 86 */
    assert_string_equal(key_of(rp_sales_match_phone, "13812345678", "x"), "+8613812345678");
    assert_null(key_of(rp_sales_match_phone, "555", "1"));
}

static void test_company(void **state)
{
    (void)state;
    assert_key(rp_sales_match_company, "腾讯科技（深圳）有限公司", "腾讯科技深圳");
    assert_key(rp_sales_match_company, "腾讯科技(深圳)有限公司", "腾讯科技深圳");
    assert_key(rp_sales_match_company, "华为技术有限公司", "华为技术");
    assert_key(rp_sales_match_company, "杭州茶叶股份有限公司", "杭州茶叶");
    assert_key(rp_sales_match_company, "杭州茶叶有限责任公司", "杭州茶叶");
    assert_key(rp_sales_match_company, "杭州茶叶集团有限公司", "杭州茶叶");
    assert_key(rp_sales_match_company, "杭州茶叶集团", "杭州茶叶");
    assert_key(rp_sales_match_company, "杭州茶叶公司", "杭州茶叶");
    assert_key(rp_sales_match_company, "Huawei Technologies Co., Ltd.", "huaweitechnologies");
    assert_key(rp_sales_match_company, "HUAWEI TECHNOLOGIES CO.,LTD", "huaweitechnologies");
    assert_key(rp_sales_match_company, "Huawei Technologies Limited", "huaweitechnologies");
    assert_key(rp_sales_match_company, "Acme, Inc.", "acme");
    assert_key(rp_sales_match_company, "Acme Incorporated", "acme");
    assert_key(rp_sales_match_company, "Acme LLC", "acme");
    assert_key(rp_sales_match_company, "Acme Corp.", "acme");
    assert_key(rp_sales_match_company, "Acme Corporation", "acme");
    assert_key(rp_sales_match_company, "Siemens GmbH", "siemens");
    assert_key(rp_sales_match_company, "Nestlé S.A.", "nestlé");
    assert_key(rp_sales_match_company, "ＡＣＭＥ　Ｉｎｃ", "acme"); /* full-width */
    /* a legal form is a whole word: names that merely end in one keep it */
    assert_key(rp_sales_match_company, "Visa", "visa");
    assert_key(rp_sales_match_company, "Disco", "disco");
    /* a name that is only a legal form keeps it rather than vanish */
    assert_key(rp_sales_match_company, "Limited", "limited");
    assert_no_key(rp_sales_match_company, "");
    assert_no_key(rp_sales_match_company, " .,;- ");
    assert_key(rp_sales_match_company, "公司", "公司");
    assert_no_key(rp_sales_match_company, "\xff\xfe");
}

static void test_uscc(void **state)
{
    (void)state;
    /* published codes (Huawei, Baidu, Tencent, Ping An) */
    assert_key(rp_sales_match_uscc, "914403001922038216", "914403001922038216");
    assert_key(rp_sales_match_uscc, "91110000802100433B", "91110000802100433B");
    assert_key(rp_sales_match_uscc, "91440300708461136T", "91440300708461136T");
    assert_key(rp_sales_match_uscc, "9144030071526726XG", "9144030071526726XG");
    assert_key(rp_sales_match_uscc, " 91110000802100433b ", "91110000802100433B");
    assert_key(rp_sales_match_uscc, "9111 0000 8021 0043 3B", "91110000802100433B");
    assert_key(rp_sales_match_uscc, "９１１１００００８０２１００４３３Ｂ", "91110000802100433B");
    assert_true(rp_sales_uscc_is_valid("914403001922038216", 18));
    /* wrong check character */
    assert_no_key(rp_sales_match_uscc, "914403001922038217");
    assert_no_key(rp_sales_match_uscc, "91110000802100433C");
    /* one character changed: the check character catches it */
    assert_no_key(rp_sales_match_uscc, "914403001922038316");
    /* bad lengths */
    assert_no_key(rp_sales_match_uscc, "");
    assert_no_key(rp_sales_match_uscc, "91440300192203821");
    assert_no_key(rp_sales_match_uscc, "9144030019220382160");
    /* letters outside the code's character set: I, O, Z, S, V */
    assert_no_key(rp_sales_match_uscc, "91440300I92203821A");
    assert_no_key(rp_sales_match_uscc, "91440300O92203821A");
    assert_no_key(rp_sales_match_uscc, "91440300Z92203821A");
    assert_no_key(rp_sales_match_uscc, "91440300S92203821A");
    assert_no_key(rp_sales_match_uscc, "91440300V92203821A");
    assert_false(rp_sales_uscc_is_valid("9144030019220382I6", 18));
    assert_no_key(rp_sales_match_uscc, "91440300-1922-0382-16x");
}

static void test_name(void **state)
{
    (void)state;
    assert_key(rp_sales_match_name, "  John   SMITH ", "john smith");
    assert_key(rp_sales_match_name, "O'Neil, Mary-Ann", "oneil mary ann");
    assert_key(rp_sales_match_name, "张 浩然", "张 浩然");
    assert_key(rp_sales_match_name, "Ｊｏｈｎ", "john");
    assert_no_key(rp_sales_match_name, " - ");
}

static double sim(const char *a, const char *b)
{
    return rp_sales_similarity(a, strlen(a), b, strlen(b));
}

static void test_similarity(void **state)
{
    (void)state;
    /* the textbook values of Jaro-Winkler */
    assert_float_equal(sim("martha", "marhta"), 0.9611, 0.0001);
    assert_float_equal(sim("dwayne", "duane"), 0.84, 0.0001);
    assert_float_equal(sim("dixon", "dicksonx"), 0.8133, 0.0001);
    assert_float_equal(sim("abc", "abc"), 1.0, 0.0);
    assert_float_equal(sim("abc", "xyz"), 0.0, 0.0);
    assert_float_equal(sim("", ""), 1.0, 0.0);
    assert_float_equal(sim("abc", ""), 0.0, 0.0);
    /* symmetric */
    assert_float_equal(sim("marhta", "martha"), sim("martha", "marhta"), 1e-12);
    /* over code points, not bytes: one different character of three */
    assert_float_equal(sim("张浩然", "张浩燃"), sim("abc", "abd"), 1e-12);
    assert_true(sim("张浩然", "张浩燃") > 0.8);
    assert_true(sim("john smith", "jon smith") > 0.92);
    assert_true(sim("john smith", "jane smyth") < 0.92);
}

static void test_methods(void **state)
{
    (void)state;
    assert_ptr_equal(rp_sales_match_method("email")->key, rp_sales_match_email);
    assert_ptr_equal(rp_sales_match_method("uscc")->key, rp_sales_match_uscc);
    assert_true(rp_sales_match_method("name")->fuzzy);
    assert_false(rp_sales_match_method("phone")->fuzzy);
    assert_null(rp_sales_match_method("soundex"));
    assert_null(rp_sales_match_method(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email),         cmocka_unit_test(test_phone_china),
        cmocka_unit_test(test_phone_invalid), cmocka_unit_test(test_phone_other_countries),
        cmocka_unit_test(test_company),       cmocka_unit_test(test_uscc),
        cmocka_unit_test(test_name),          cmocka_unit_test(test_similarity),
        cmocka_unit_test(test_methods),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
