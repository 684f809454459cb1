/*
 * Web UI sessions: the Cookie header parser (several headers and cookies,
 * quoting, bad syntax, disagreeing duplicates), the Set-Cookie value, CSRF
 * tokens bound to one session and to the database's key, and listing and
 * revoking one's own sessions and tokens (others' answer 404, admins may end
 * any; revocation is audited).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "base/arena.h"
#include "http/http.h"

#define T0      INT64_C(1700000000000)
#define GOOD_PW "correct horse battery"
#define TOKEN   "rp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

/* ---- the Cookie header ---- */

/* Parses the given Cookie header values; returns the result and copies the value to out. */
static int parse(char *out, size_t size, const char *h1, const char *h2)
{
    struct rp_http_pair h[4] = {{"Accept", "*/*"}, {"Cookie", h1}, {"cookie", h2}, {"X-A", "b"}};
    return rp_auth_session_cookie(h, h2 ? 4 : 2, out, size);
}

static void expect_cookie(const char *h1, const char *h2, int want, const char *value)
{
    char out[64];

    memset(out, 'z', sizeof(out));
    assert_int_equal(parse(out, sizeof(out), h1, h2), want);
    assert_string_equal(out, value);
}

static void test_cookie_found(void **state)
{
    (void)state;
    expect_cookie("rp_session=" TOKEN, NULL, 1, TOKEN);
    expect_cookie("a=1; rp_session=" TOKEN "; b=2", NULL, 1, TOKEN);
    expect_cookie("a=1;rp_session=" TOKEN ";b=2", NULL, 1, TOKEN);
    expect_cookie("  rp_session = " TOKEN "  ;", NULL, 1, TOKEN);
    expect_cookie("\trp_session=\"" TOKEN "\"", NULL, 1, TOKEN);
    /* In a second Cookie header (HTTP/2 splits them), and the same value twice. */
    expect_cookie("a=1", "rp_session=" TOKEN, 1, TOKEN);
    expect_cookie("rp_session=" TOKEN, "rp_session=" TOKEN, 1, TOKEN);
    /* Values need not look like tokens here; verification decides. */
    expect_cookie("rp_session=abc", NULL, 1, "abc");
}

static void test_cookie_absent_or_skipped(void **state)
{
    (void)state;
    expect_cookie("", NULL, 0, "");
    expect_cookie("a=1; b=2", NULL, 0, "");
    expect_cookie("rp_session", NULL, 0, "");
    expect_cookie("rp_session=", NULL, 0, ""); /* what a cleared cookie leaves */
    expect_cookie("rp_session=\"\"", NULL, 0, "");
    expect_cookie("RP_SESSION=" TOKEN, NULL, 0, "");
    expect_cookie("xrp_session=" TOKEN, NULL, 0, "");
    expect_cookie("rp_session_old=" TOKEN, NULL, 0, "");
    expect_cookie("rp_session=a b", NULL, 0, "");
    expect_cookie("rp_session=a\\b", NULL, 0, "");
    expect_cookie("rp_session=a,b", NULL, 0, "");
    expect_cookie("rp_session=\"ab", NULL, 0, "");
    expect_cookie("rp_session=\x01", NULL, 0, "");
    expect_cookie("rp_session=\xc3\xa4", NULL, 0, "");
    expect_cookie(";;;=;", NULL, 0, "");
    /* A bad pair does not spoil a good one. */
    expect_cookie("rp_session=a b; rp_session=" TOKEN, NULL, 1, TOKEN);
}

static void test_cookie_ambiguous(void **state)
{
    (void)state;
    expect_cookie("rp_session=" TOKEN "; rp_session=other", NULL, RP_EINVAL, "");
    expect_cookie("rp_session=" TOKEN, "rp_session=other", RP_EINVAL, "");
    expect_cookie("rp_session=a; rp_session=a; rp_session=b", NULL, RP_EINVAL, "");
}

static void test_cookie_too_long(void **state)
{
    char h[300], out[47];

    (void)state;
    memset(h, 'a', sizeof(h) - 1);
    h[sizeof(h) - 1] = '\0';
    memcpy(h, "rp_session=", 11);
    assert_int_equal(parse(out, sizeof(out), h, NULL), 1);
    assert_string_equal(out, "");
    /* Exactly a token fits. */
    assert_int_equal(parse(out, sizeof(out), "rp_session=" TOKEN, NULL), 1);
    assert_string_equal(out, TOKEN);
}

static void test_cookie_format(void **state)
{
    struct rp_buf b;

    (void)state;
    rp_buf_init(&b, NULL, 1024);
    rp_auth_session_cookie_format(&b, TOKEN, 43200, false);
    assert_string_equal(b.data,
                        "rp_session=" TOKEN "; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict");
    rp_buf_reset(&b);
    rp_auth_session_cookie_format(&b, TOKEN, 60, true);
    assert_string_equal(b.data, "rp_session=" TOKEN
                                "; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure");
    rp_buf_reset(&b);
    rp_auth_session_cookie_format(&b, NULL, 60, false);
    assert_string_equal(b.data, "rp_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
    rp_buf_release(&b);
}

/* ---- with a store ---- */

struct fx {
    struct rp_store *store;
    struct rp_clock clock;
    struct rp_auth *auth;
    struct rp_arena arena;
    struct rp_error err;
    struct rp_user_info jane, joe;
};

static struct rp_auth *auth_new(struct fx *f)
{
    struct rp_auth_config cfg = {
        .store = f->store,
        .clock = &f->clock,
        .pw_opslimit = crypto_pwhash_OPSLIMIT_MIN,
        .pw_memlimit = crypto_pwhash_MEMLIMIT_MIN,
    };
    struct rp_auth *a = rp_auth_new(&cfg);
    assert_non_null(a);
    return a;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct rp_error err;

    rp_error_init(&err, NULL);
    assert_int_equal(
        rp_store_open(NULL, &(struct rp_store_config){.memory = true}, &f->store, &err), 0);
    rp_clock_init_fixed(&f->clock, T0);
    f->auth = auth_new(f);
    rp_arena_init(&f->arena);
    rp_error_init(&f->err, &f->arena);
    assert_int_equal(rp_auth_user_add(f->auth, "jane", GOOD_PW, NULL, false, &f->jane, &err), 0);
    assert_int_equal(rp_auth_user_add(f->auth, "joe", GOOD_PW, NULL, false, &f->joe, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    rp_auth_free(f->auth);
    rp_store_close(f->store);
    rp_arena_release(&f->arena);
    free(f);
    return 0;
}

static struct rp_error *E(struct fx *f)
{
    rp_error_init(&f->err, &f->arena);
    return &f->err;
}

/* Logs in; the clear token goes to tok (64 bytes), the session id to id (40). */
static void login(struct fx *f, const char *user, char *tok, char *id)
{
    struct rp_auth_login_info info;
    struct rp_buf b;

    rp_buf_init(&b, &f->arena, 256);
    assert_int_equal(rp_auth_login_from(f->auth, NULL, user, GOOD_PW, &b, &info, E(f)), 0);
    memcpy(tok, b.data, b.len + 1);
    memcpy(id, info.token_id, sizeof(info.token_id));
}

static const char *csrf_of(struct fx *f, const char *id)
{
    struct rp_buf b;

    rp_buf_init(&b, &f->arena, 256);
    assert_int_equal(rp_auth_csrf_token(f->auth, id, &b, E(f)), 0);
    assert_int_equal(b.len, RP_AUTH_CSRF_LEN);
    return b.data;
}

static void test_csrf_bound_to_session(void **state)
{
    struct fx *f = *state;
    char tok1[64], id1[40], tok2[64], id2[40], bad[64];
    const char *c1, *c2;
    struct rp_auth *second;

    login(f, "jane", tok1, id1);
    login(f, "jane", tok2, id2);
    c1 = csrf_of(f, id1);
    c2 = csrf_of(f, id2);
    assert_string_not_equal(c1, c2);
    assert_string_equal(csrf_of(f, id1), c1); /* stable for the session */
    assert_true(rp_auth_csrf_is_valid(f->auth, id1, c1));
    assert_true(rp_auth_csrf_is_valid(f->auth, id2, c2));
    assert_false(rp_auth_csrf_is_valid(f->auth, id1, c2));
    assert_false(rp_auth_csrf_is_valid(f->auth, id2, c1));
    /* It is no function of public data alone: not the id, not a hash of it. */
    assert_null(strstr(c1, id1));

    /* Tampered, cut, extended, empty, missing. */
    snprintf(bad, sizeof(bad), "%s", c1);
    bad[5] = bad[5] == 'A' ? 'B' : 'A';
    assert_false(rp_auth_csrf_is_valid(f->auth, id1, bad));
    snprintf(bad, sizeof(bad), "%.*s", RP_AUTH_CSRF_LEN - 1, c1);
    assert_false(rp_auth_csrf_is_valid(f->auth, id1, bad));
    snprintf(bad, sizeof(bad), "%sA", c1);
    assert_false(rp_auth_csrf_is_valid(f->auth, id1, bad));
    assert_false(rp_auth_csrf_is_valid(f->auth, id1, ""));
    assert_false(rp_auth_csrf_is_valid(f->auth, id1, NULL));
    assert_false(rp_auth_csrf_is_valid(f->auth, NULL, c1));
    assert_false(rp_auth_csrf_is_valid(f->auth, "", c1));

    /* Another handle on the same database agrees (the key is derived from the shared pepper). */
    second = auth_new(f);
    assert_true(rp_auth_csrf_is_valid(second, id1, c1));
    rp_auth_free(second);
}

static void test_csrf_key_is_per_database(void **state)
{
    struct fx *f = *state;
    struct fx other = {0};
    struct rp_error err;
    char tok[64], id[40];
    const char *c;

    login(f, "jane", tok, id);
    c = csrf_of(f, id);
    rp_error_init(&err, NULL);
    assert_int_equal(
        rp_store_open(NULL, &(struct rp_store_config){.memory = true}, &other.store, &err), 0);
    rp_clock_init_fixed(&other.clock, T0);
    other.auth = auth_new(&other);
    assert_false(rp_auth_csrf_is_valid(other.auth, id, c));
    rp_auth_free(other.auth);
    rp_store_close(other.store);
}

static void test_verify_tells_sessions(void **state)
{
    struct fx *f = *state;
    struct rp_principal p;
    struct rp_buf b;
    char tok[64], id[40];

    login(f, "jane", tok, id);
    assert_int_equal(rp_auth_verify(f->auth, tok, &f->arena, &p, E(f)), 0);
    assert_true(p.is_session);
    assert_false(p.via_cookie);
    rp_buf_init(&b, &f->arena, 256);
    assert_int_equal(rp_auth_token_create(f->auth, f->jane.id, "ci", 0, &b, NULL, E(f)), 0);
    assert_int_equal(rp_auth_verify(f->auth, b.data, &f->arena, &p, E(f)), 0);
    assert_false(p.is_session);
}

static void test_login_never_reuses(void **state)
{
    struct fx *f = *state;
    char tok1[64], id1[40], tok2[64], id2[40];

    /* Each login makes a new session; the earlier one is untouched by it. */
    login(f, "jane", tok1, id1);
    login(f, "jane", tok2, id2);
    assert_string_not_equal(tok1, tok2);
    assert_string_not_equal(id1, id2);
}

/* ---- listing and revoking ---- */

struct listed {
    int n;
    struct rp_auth_token_info t[8];
};

static void list_fn(void *ctx, const struct rp_auth_token_info *t)
{
    struct listed *l = ctx;
    if (l->n < 8)
        l->t[l->n++] = *t;
}

static void list(struct fx *f, const char *user_id, struct listed *l)
{
    memset(l, 0, sizeof(*l));
    assert_int_equal(rp_auth_token_list(f->auth, user_id, list_fn, l, E(f)), 0);
}

static void test_list_own_live_tokens(void **state)
{
    struct fx *f = *state;
    char tok[64], s1[40], s2[40], api[40], old[40], joes[40];
    struct listed l;
    struct rp_buf b;

    login(f, "jane", tok, s1);
    rp_clock_advance(&f->clock, 1000);
    rp_buf_init(&b, &f->arena, 256);
    assert_int_equal(rp_auth_token_create(f->auth, f->jane.id, "ERP", T0 + 3600000, &b, api, E(f)),
                     0);
    assert_int_equal(rp_auth_token_create(f->auth, f->jane.id, "old", T0 + 2000, &b, old, E(f)), 0);
    rp_clock_advance(&f->clock, 1000);
    login(f, "jane", tok, s2);
    login(f, "joe", tok, joes);
    assert_int_equal(rp_auth_token_revoke(f->auth, s1, E(f)), 0);
    rp_clock_advance(&f->clock, 1); /* "old" expires */

    list(f, f->jane.id, &l);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.t[0].id, s2);
    assert_string_equal(l.t[0].kind, "session");
    assert_string_equal(l.t[0].name, "");
    assert_int_equal(l.t[0].created_at, T0 + 2000);
    assert_int_equal(l.t[0].expires_at, T0 + 2000 + 12 * 3600000);
    assert_string_equal(l.t[1].id, api);
    assert_string_equal(l.t[1].kind, "api");
    assert_string_equal(l.t[1].name, "ERP");
    assert_int_equal(l.t[1].expires_at, T0 + 3600000);
    assert_int_equal(l.t[1].last_used_at, 0);

    list(f, f->joe.id, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.t[0].id, joes);
    list(f, "no such user", &l);
    assert_int_equal(l.n, 0);
}

static int count_row(void *ctx, const struct rp_value *cols, size_t n)
{
    *(int64_t *)ctx = n >= 1 && cols[0].type == RP_V_INT ? cols[0].u.i : -1;
    return 1;
}

/* Number of token_revoke audit entries with this actor naming token_id. */
static int64_t revoke_entries(struct fx *f, const char *actor, const char *token_id)
{
    struct rp_store_conn *c = rp_store_reader_acquire(f->store);
    struct rp_arena a;
    struct rp_sql q;
    struct rp_error err;
    int64_t n = -1;

    rp_error_init(&err, NULL);
    rp_arena_init(&a);
    rp_sql_init(&q, &a, rp_store_dialect(f->store));
    rp_sql_add(&q, "SELECT COUNT(*) FROM rp_audit WHERE action = 'token_revoke' AND actor = ");
    rp_sql_param(&q, rp_value_cstr(actor));
    rp_sql_add(&q, " AND request_id = 'r1' AND json_extract(changes, '$.token_id') = ");
    rp_sql_param(&q, rp_value_cstr(token_id));
    assert_int_equal(rp_store_query(c, &q, count_row, &n, &err), 0);
    rp_arena_release(&a);
    rp_store_reader_release(f->store, c);
    return n;
}

static void test_revoke_own_only(void **state)
{
    struct fx *f = *state;
    struct rp_auth_client c = {.actor = NULL, .request_id = "r1"};
    char jt[64], jid[40], ot[64], oid[40];
    struct rp_principal p;

    login(f, "jane", jt, jid);
    login(f, "joe", ot, oid);

    /* Joe cannot end Jane's session, and learns nothing about it: the same 404 as none. */
    c.actor = f->joe.id;
    assert_int_equal(rp_auth_token_revoke_from(f->auth, &c, jid, f->joe.id, E(f)), RP_ENOTFOUND);
    assert_int_equal(rp_auth_verify(f->auth, jt, &f->arena, &p, E(f)), 0);
    assert_int_equal(rp_auth_token_revoke_from(f->auth, &c, "0190d3c0-0000-7000-8000-000000000000",
                                               f->joe.id, E(f)),
                     RP_ENOTFOUND);
    /* His own: yes, once. */
    assert_int_equal(rp_auth_token_revoke_from(f->auth, &c, oid, f->joe.id, E(f)), 0);
    assert_int_equal(rp_auth_verify(f->auth, ot, &f->arena, &p, E(f)), RP_EUNAUTH);
    assert_int_equal(rp_auth_token_revoke_from(f->auth, &c, oid, f->joe.id, E(f)), RP_ENOTFOUND);
    /* Anyone's, for an admin (owner NULL). */
    assert_int_equal(rp_auth_token_revoke_from(f->auth, &c, jid, NULL, E(f)), 0);
    assert_int_equal(rp_auth_verify(f->auth, jt, &f->arena, &p, E(f)), RP_EUNAUTH);
    assert_int_equal(rp_auth_token_revoke_from(f->auth, &c, NULL, NULL, E(f)), RP_ENOTFOUND);

    /* Each revocation is audited once, refusals not at all. */
    assert_int_equal(revoke_entries(f, f->joe.id, oid), 1);
    assert_int_equal(revoke_entries(f, f->joe.id, jid), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cookie_found),
        cmocka_unit_test(test_cookie_absent_or_skipped),
        cmocka_unit_test(test_cookie_ambiguous),
        cmocka_unit_test(test_cookie_too_long),
        cmocka_unit_test(test_cookie_format),
        cmocka_unit_test_setup_teardown(test_csrf_bound_to_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csrf_key_is_per_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_tells_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_never_reuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_own_live_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke_own_only, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
