/*
 * Users, passwords, login and tokens against a private SQLite store with a
 * fake clock: validation, argon2id hashes, one login failure message, tokens
 * stored only as keyed hashes, expiry and revocation through the verified
 * token cache, the shared pepper, last_used_at throttling and concurrent
 * verification while another thread revokes. Argon2 runs at libsodium's
 * minimum cost so the suite stays fast under ASan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

#include "auth/auth.h"
#include "base/arena.h"

#define T0          INT64_C(1700000000000)
#define SESSION_TTL (60 * 60 * INT64_C(1000))
#define CACHE_TTL   (10 * 60 * INT64_C(1000)) /* longer than some expiries, to test them */
#define LOGIN_FAIL  "invalid username or password"
#define VERIFY_FAIL "invalid or expired token"
#define GOOD_PW     "correct horse battery"

struct fx {
    struct rp_store *store;
    struct rp_clock clock;
    struct rp_auth *auth;
    struct rp_arena arena;
    struct rp_error err;
};

static struct rp_auth *auth_new(struct fx *f, int64_t cache_ttl)
{
    struct rp_auth_config cfg = {
        .store = f->store,
        .clock = &f->clock,
        .session_ttl_ms = SESSION_TTL,
        .cache_ttl_ms = cache_ttl,
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
    f->auth = auth_new(f, CACHE_TTL);
    rp_arena_init(&f->arena);
    rp_error_init(&f->err, &f->arena);
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

/* A fresh error for the next call (the first error set wins). */
static struct rp_error *E(struct fx *f)
{
    rp_error_init(&f->err, &f->arena);
    return &f->err;
}

static void add_user(struct fx *f, const char *name, bool admin, struct rp_user_info *out)
{
    assert_int_equal(rp_auth_user_add(f->auth, name, GOOD_PW, NULL, admin, out, E(f)), 0);
}

/* Logs in and copies the clear token into tok (at least 64 bytes). */
static void login(struct fx *f, const char *name, const char *pw, char *tok)
{
    struct rp_buf b;
    rp_buf_init(&b, &f->arena, 1024);
    assert_int_equal(rp_auth_login(f->auth, name, pw, &b, NULL, NULL, E(f)), 0);
    assert_int_equal(b.len, 46);
    memcpy(tok, b.data, b.len + 1);
}

static void api_token(struct fx *f, const char *user_id, int64_t expires_at, char *tok, char *id)
{
    struct rp_buf b;
    rp_buf_init(&b, &f->arena, 1024);
    assert_int_equal(rp_auth_token_create(f->auth, user_id, "ci", expires_at, &b, id, E(f)), 0);
    assert_int_equal(b.len, 46);
    memcpy(tok, b.data, b.len + 1);
}

static int verify(struct fx *f, const char *tok, struct rp_principal *p)
{
    struct rp_principal local;
    return rp_auth_verify(f->auth, tok, &f->arena, p ? p : &local, E(f));
}

/* ---- direct database access, behind the module's back ---- */

struct sql_job {
    const char *before, *param, *after; /* before ?1 after; param NULL: no parameter */
    char text[512];                     /* first column of the first row */
    int rows;
};

static int first_text(void *ctx, const struct rp_value *cols, size_t n)
{
    struct sql_job *j = ctx;
    if (j->rows++ == 0 && n > 0) {
        if (cols[0].type == RP_V_TEXT) {
            size_t len =
                cols[0].u.s.len < sizeof(j->text) - 1 ? cols[0].u.s.len : sizeof(j->text) - 1;
            memcpy(j->text, cols[0].u.s.p, len);
            j->text[len] = '\0';
        } else if (cols[0].type == RP_V_INT) {
            snprintf(j->text, sizeof(j->text), "%lld", (long long)cols[0].u.i);
        } else {
            snprintf(j->text, sizeof(j->text), "NULL");
        }
    }
    return 0;
}

static void sql_build(struct fx *f, struct sql_job *j, struct rp_arena *a, struct rp_sql *q)
{
    rp_sql_init(q, a, rp_store_dialect(f->store));
    rp_sql_add(q, j->before);
    if (j->param) {
        rp_sql_param(q, rp_value_cstr(j->param));
        rp_sql_add(q, j->after ? j->after : "");
    }
}

struct write_job {
    struct fx *f;
    struct sql_job *j;
};

static int write_run(struct rp_store_conn *c, void *ctx, struct rp_error *err)
{
    struct write_job *w = ctx;
    struct rp_arena a;
    struct rp_sql q;
    int rc;

    rp_arena_init(&a);
    sql_build(w->f, w->j, &a, &q);
    rc = rp_store_query(c, &q, first_text, w->j, err);
    rp_arena_release(&a);
    return rc;
}

static void db_write(struct fx *f, const char *before, const char *param, const char *after)
{
    struct sql_job j = {.before = before, .param = param, .after = after};
    struct write_job w = {f, &j};
    struct rp_error err;
    rp_error_init(&err, NULL);
    assert_int_equal(rp_store_write(f->store, write_run, &w, &err), 0);
}

/* The first column of the first row as text ("" when there is no row); *rows gets the count. */
static const char *db_read(struct fx *f, struct sql_job *j)
{
    struct rp_store_conn *c = rp_store_reader_acquire(f->store);
    struct rp_arena a;
    struct rp_sql q;
    struct rp_error err;

    rp_error_init(&err, NULL);
    rp_arena_init(&a);
    sql_build(f, j, &a, &q);
    j->rows = 0;
    j->text[0] = '\0';
    assert_int_equal(rp_store_query(c, &q, first_text, j, &err), 0);
    rp_arena_release(&a);
    rp_store_reader_release(f->store, c);
    return j->text;
}

/* Waits for queued asynchronous writes: the writer runs units in order. */
static void db_flush(struct fx *f)
{
    db_write(f, "SELECT 1", NULL, NULL);
}

/* ---- users ---- */

static void test_username_rules(void **state)
{
    char long_name[80];
    (void)state;

    assert_true(rp_auth_username_is_valid("a"));
    assert_true(rp_auth_username_is_valid("Jane.Doe_2-x@example.com"));
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    assert_true(rp_auth_username_is_valid(long_name));
    long_name[64] = 'a';
    long_name[65] = '\0';
    assert_false(rp_auth_username_is_valid(long_name));
    assert_false(rp_auth_username_is_valid(NULL));
    assert_false(rp_auth_username_is_valid(""));
    assert_false(rp_auth_username_is_valid("jane doe"));
    assert_false(rp_auth_username_is_valid("jane/doe"));
    assert_false(rp_auth_username_is_valid("j\xc3\xa9r\xc3\xb4me"));
    assert_false(rp_auth_username_is_valid("jane\n"));
    assert_false(rp_auth_username_is_valid("'; DROP TABLE rp_user; --"));
}

static void test_user_add_and_read(void **state)
{
    struct fx *f = *state;
    struct rp_user_info u, g;
    int64_t n = -1;

    assert_int_equal(rp_auth_user_count(f->auth, &n, E(f)), 0);
    assert_int_equal(n, 0);
    assert_int_equal(rp_auth_user_add(f->auth, "jane", GOOD_PW, "Jane Doe", true, &u, E(f)), 0);
    assert_int_equal(strlen(u.id), 36);
    assert_string_equal(u.username, "jane");
    assert_string_equal(u.display_name, "Jane Doe");
    assert_true(u.is_admin);
    assert_true(u.active);
    assert_int_equal(u.created_at, T0);

    assert_int_equal(rp_auth_user_get(f->auth, "jane", &g, E(f)), 0);
    assert_string_equal(g.id, u.id);
    assert_string_equal(g.display_name, "Jane Doe");
    assert_true(g.is_admin);
    assert_true(g.active);
    assert_int_equal(g.created_at, T0);

    /* No display name: the username stands in. */
    assert_int_equal(rp_auth_user_add(f->auth, "bob", GOOD_PW, NULL, false, &u, E(f)), 0);
    assert_string_equal(u.display_name, "bob");
    assert_false(u.is_admin);

    assert_int_equal(rp_auth_user_count(f->auth, &n, E(f)), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rp_auth_user_get(f->auth, "nobody", &g, E(f)), RP_ENOTFOUND);
    assert_int_equal(rp_auth_user_get(f->auth, "no body", &g, E(f)), RP_ENOTFOUND);
}

static void collect(void *ctx, const struct rp_user_info *u)
{
    char *names = ctx;
    size_t n = strlen(names);
    snprintf(names + n, 128 - n, "%s,", u->username);
}

static void test_user_list_ordered(void **state)
{
    struct fx *f = *state;
    char names[128] = "";

    add_user(f, "mallory", false, NULL);
    add_user(f, "alice", false, NULL);
    add_user(f, "carol", true, NULL);
    assert_int_equal(rp_auth_user_list(f->auth, collect, names, E(f)), 0);
    assert_string_equal(names, "alice,carol,mallory,");
}

static void test_user_add_duplicate(void **state)
{
    struct fx *f = *state;
    int64_t n = 0;

    add_user(f, "jane", false, NULL);
    assert_int_equal(rp_auth_user_add(f->auth, "jane", "another password", NULL, true, NULL, E(f)),
                     RP_ECONFLICT);
    assert_string_equal(f->err.detail, "user \"jane\" already exists");
    assert_int_equal(rp_auth_user_count(f->auth, &n, E(f)), 0);
    assert_int_equal(n, 1);
}

static void test_user_add_invalid(void **state)
{
    struct fx *f = *state;
    char pw[1100];
    int64_t n = -1;

    assert_int_equal(rp_auth_user_add(f->auth, "bad name", GOOD_PW, NULL, false, NULL, E(f)),
                     RP_EVALIDATION);
    assert_string_equal(f->err.fields[0].field, "username");
    assert_int_equal(rp_auth_user_add(f->auth, "", GOOD_PW, NULL, false, NULL, E(f)),
                     RP_EVALIDATION);
    assert_int_equal(rp_auth_user_add(f->auth, NULL, GOOD_PW, NULL, false, NULL, E(f)),
                     RP_EVALIDATION);

    assert_int_equal(rp_auth_user_add(f->auth, "jane", "1234567", NULL, false, NULL, E(f)),
                     RP_EVALIDATION);
    assert_string_equal(f->err.fields[0].field, "password");
    assert_string_equal(f->err.fields[0].code, "too_short");
    assert_int_equal(rp_auth_user_add(f->auth, "jane", NULL, NULL, false, NULL, E(f)),
                     RP_EVALIDATION);
    assert_int_equal(rp_auth_user_add(f->auth, "jane", "pass\xff\xfeword", NULL, false, NULL, E(f)),
                     RP_EVALIDATION);
    assert_string_equal(f->err.fields[0].code, "invalid");
    memset(pw, 'x', 1025);
    pw[1025] = '\0';
    assert_int_equal(rp_auth_user_add(f->auth, "jane", pw, NULL, false, NULL, E(f)),
                     RP_EVALIDATION);
    assert_string_equal(f->err.fields[0].code, "too_long");

    /* Every bad field is reported at once. */
    assert_int_equal(rp_auth_user_add(f->auth, "bad name", "short", NULL, false, NULL, E(f)),
                     RP_EVALIDATION);
    assert_int_equal(f->err.nfields, 2);

    assert_int_equal(rp_auth_user_count(f->auth, &n, E(f)), 0);
    assert_int_equal(n, 0);

    /* The limits themselves are allowed. */
    assert_int_equal(rp_auth_user_add(f->auth, "eight", "12345678", NULL, false, NULL, E(f)), 0);
    pw[1024] = '\0';
    assert_int_equal(rp_auth_user_add(f->auth, "long", pw, NULL, false, NULL, E(f)), 0);
    assert_int_equal(
        rp_auth_user_add(f->auth, "utf8", "p\xc3\xa4ssw\xc3\xb6rd", NULL, false, NULL, E(f)), 0);
    {
        char tok[64];
        login(f, "long", pw, tok);
        pw[1023] = '\0'; /* a prefix is not the password */
        assert_int_equal(rp_auth_login(f->auth, "long", pw, NULL, NULL, NULL, E(f)), RP_EUNAUTH);
    }
}

static void test_hash_is_argon2id(void **state)
{
    struct fx *f = *state;
    struct sql_job j = {.before = "SELECT password_hash FROM rp_user WHERE username = ",
                        .param = "jane"};
    const char *h;

    add_user(f, "jane", false, NULL);
    h = db_read(f, &j);
    assert_int_equal(strncmp(h, "$argon2id$", 10), 0);
    assert_null(strstr(h, GOOD_PW));
    assert_int_equal(crypto_pwhash_str_verify(h, GOOD_PW, strlen(GOOD_PW)), 0);
}

/* ---- login ---- */

static void test_login_success(void **state)
{
    struct fx *f = *state;
    struct rp_user_info u, lu;
    struct rp_principal p;
    struct rp_buf b;
    int64_t exp = 0;

    assert_int_equal(rp_auth_user_add(f->auth, "jane", GOOD_PW, "Jane Doe", false, &u, E(f)), 0);
    rp_buf_init(&b, &f->arena, 1024);
    assert_int_equal(rp_auth_login(f->auth, "jane", GOOD_PW, &b, &exp, &lu, E(f)), 0);
    assert_int_equal(b.len, 46);
    assert_int_equal(strncmp(b.data, "rp_", 3), 0);
    assert_int_equal(exp, T0 + SESSION_TTL);
    assert_string_equal(lu.id, u.id);
    assert_string_equal(lu.display_name, "Jane Doe");

    assert_int_equal(verify(f, b.data, &p), 0);
    assert_string_equal(p.user_id, u.id);
    assert_string_equal(p.username, "jane");
    assert_string_equal(p.display_name, "Jane Doe");
    assert_int_equal(strlen(p.token_id), 36);
    assert_false(p.is_admin);

    {
        struct sql_job j = {.before = "SELECT kind || ':' || expires_at FROM rp_token WHERE id = ",
                            .param = p.token_id};
        char want[64];
        snprintf(want, sizeof(want), "session:%lld", (long long)(T0 + SESSION_TTL));
        assert_string_equal(db_read(f, &j), want);
    }
}

static void test_login_failures_look_alike(void **state)
{
    struct fx *f = *state;
    struct rp_buf b;
    char pw[1100];

    add_user(f, "jane", false, NULL);
    add_user(f, "gone", false, NULL);
    db_write(f, "UPDATE rp_user SET active = 0 WHERE username = ", "gone", NULL);
    memset(pw, 'x', sizeof(pw) - 1);
    pw[sizeof(pw) - 1] = '\0';

    rp_buf_init(&b, &f->arena, 1024);
    struct {
        const char *user, *pw;
    } cases[] = {
        {"jane", "wrong password"},
        {"nobody", GOOD_PW},
        {"gone", GOOD_PW},
        {"jane", ""},
        {"jane", NULL},
        {"", GOOD_PW},
        {NULL, GOOD_PW},
        {"bad name!", GOOD_PW},
        {"jane", pw},
        {"JANE", GOOD_PW},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(rp_auth_login(f->auth, cases[i].user, cases[i].pw, &b, NULL, NULL, E(f)),
                         RP_EUNAUTH);
        assert_string_equal(f->err.detail, LOGIN_FAIL);
        assert_int_equal(b.len, 0);
    }
    {
        struct sql_job j = {.before = "SELECT COUNT(*) FROM rp_token"};
        assert_string_equal(db_read(f, &j), "0");
    }
    /* The error argument may be omitted. */
    assert_int_equal(rp_auth_login(f->auth, "jane", "nope nope", &b, NULL, NULL, NULL), RP_EUNAUTH);
}

/* ---- tokens ---- */

static void test_tokens_not_stored_in_clear(void **state)
{
    struct fx *f = *state;
    struct rp_user_info u;
    char s1[64], s2[64], a1[64], id[40];
    const char *toks[] = {s1, s2, a1};
    unsigned char plain[32];
    char plain_hex[65];

    add_user(f, "jane", false, &u);
    login(f, "jane", GOOD_PW, s1);
    login(f, "jane", GOOD_PW, s2);
    api_token(f, u.id, 0, a1, id);
    assert_string_not_equal(s1, s2);

    for (size_t i = 0; i < 3; i++) {
        /* Neither the token nor its random part appears in any column of any token row. */
        const char *cols[] = {"id",         "user_id",    "kind",       "name",        "token_hash",
                              "created_at", "expires_at", "revoked_at", "last_used_at"};
        for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++) {
            char sql[160];
            struct sql_job j = {.before = sql, .param = toks[i] + 3, .after = ") > 0"};
            snprintf(sql, sizeof(sql),
                     "SELECT COUNT(*) FROM rp_token WHERE instr(CAST(%s AS TEXT), ", cols[c]);
            assert_string_equal(db_read(f, &j), "0");
        }
        {
            struct sql_job j = {.before = "SELECT COUNT(*) FROM rp_setting WHERE instr(value, ",
                                .param = toks[i] + 3,
                                .after = ") > 0"};
            assert_string_equal(db_read(f, &j), "0");
        }
        /* The hash is keyed: an unkeyed BLAKE2b of the token is not what is stored. */
        crypto_generichash(plain, sizeof(plain), (const unsigned char *)toks[i], strlen(toks[i]),
                           NULL, 0);
        sodium_bin2hex(plain_hex, sizeof(plain_hex), plain, sizeof(plain));
        {
            struct sql_job j = {.before = "SELECT COUNT(*) FROM rp_token WHERE token_hash = ",
                                .param = plain_hex};
            assert_string_equal(db_read(f, &j), "0");
        }
    }
    {
        struct sql_job j = {.before = "SELECT COUNT(*) FROM rp_token WHERE length(token_hash) = 64"
                                      " AND token_hash NOT GLOB '*[^0-9a-f]*'"};
        assert_string_equal(db_read(f, &j), "3");
    }
}

static void test_session_expires_even_if_cached(void **state)
{
    struct fx *f = *state;
    char tok[64];

    add_user(f, "jane", false, NULL);
    login(f, "jane", GOOD_PW, tok);
    assert_int_equal(verify(f, tok, NULL), 0); /* now cached for CACHE_TTL > SESSION_TTL - 1 */
    rp_clock_advance(&f->clock, SESSION_TTL - 1);
    assert_int_equal(verify(f, tok, NULL), 0);
    rp_clock_advance(&f->clock, 1);
    assert_int_equal(verify(f, tok, NULL), RP_EUNAUTH);
    assert_string_equal(f->err.detail, VERIFY_FAIL);
    rp_clock_advance(&f->clock, 1);
    assert_int_equal(verify(f, tok, NULL), RP_EUNAUTH);
}

static void test_session_expires_uncached(void **state)
{
    struct fx *f = *state;
    char tok[64];

    add_user(f, "jane", false, NULL);
    login(f, "jane", GOOD_PW, tok);
    rp_clock_advance(&f->clock, SESSION_TTL);
    assert_int_equal(verify(f, tok, NULL), RP_EUNAUTH);
}

static void test_cache_serves_until_ttl(void **state)
{
    struct fx *f = *state;
    char tok[64];

    /* Deactivation outside this module is seen once the cached entry ages out. */
    add_user(f, "jane", false, NULL);
    login(f, "jane", GOOD_PW, tok);
    assert_int_equal(verify(f, tok, NULL), 0);
    db_write(f, "UPDATE rp_user SET active = 0 WHERE username = ", "jane", NULL);
    assert_int_equal(verify(f, tok, NULL), 0);
    rp_clock_advance(&f->clock, CACHE_TTL - 1);
    assert_int_equal(verify(f, tok, NULL), 0);
    rp_clock_advance(&f->clock, 1);
    assert_int_equal(verify(f, tok, NULL), RP_EUNAUTH);
}

static void test_cache_off(void **state)
{
    struct fx *f = *state;
    char tok[64];

    rp_auth_free(f->auth);
    f->auth = auth_new(f, -1);
    add_user(f, "jane", false, NULL);
    login(f, "jane", GOOD_PW, tok);
    assert_int_equal(verify(f, tok, NULL), 0);
    db_write(f, "UPDATE rp_user SET active = 0 WHERE username = ", "jane", NULL);
    assert_int_equal(verify(f, tok, NULL), RP_EUNAUTH);
}

static void test_revoke_beats_cache(void **state)
{
    struct fx *f = *state;
    struct rp_principal p;
    char tok[64], other[64], token_id[40];

    add_user(f, "jane", false, NULL);
    login(f, "jane", GOOD_PW, tok);
    login(f, "jane", GOOD_PW, other);
    assert_int_equal(verify(f, tok, &p), 0);
    snprintf(token_id, sizeof(token_id), "%s", p.token_id);
    assert_int_equal(verify(f, tok, NULL), 0);
    assert_int_equal(verify(f, other, NULL), 0);

    assert_int_equal(rp_auth_token_revoke(f->auth, token_id, E(f)), 0);
    assert_int_equal(verify(f, tok, NULL), RP_EUNAUTH);
    assert_string_equal(f->err.detail, VERIFY_FAIL);
    assert_int_equal(verify(f, other, NULL), 0);

    /* Logging out twice is fine; an unknown id is not. */
    assert_int_equal(rp_auth_token_revoke(f->auth, token_id, E(f)), 0);
    assert_int_equal(rp_auth_token_revoke(f->auth, "0190d3c0-0000-7000-8000-000000000000", E(f)),
                     RP_ENOTFOUND);
    assert_int_equal(rp_auth_token_revoke(f->auth, "", E(f)), RP_ENOTFOUND);
    assert_int_equal(rp_auth_token_revoke(f->auth, NULL, E(f)), RP_ENOTFOUND);
    {
        struct sql_job j = {.before = "SELECT revoked_at FROM rp_token WHERE id = ",
                            .param = token_id};
        char want[32];
        snprintf(want, sizeof(want), "%lld", (long long)T0);
        assert_string_equal(db_read(f, &j), want);
    }
}

static void test_passwd_revokes_sessions(void **state)
{
    struct fx *f = *state;
    struct rp_user_info u, other;
    char s1[64], s2[64], api[64], bob_session[64], id[40];

    add_user(f, "jane", false, &u);
    add_user(f, "bob", false, &other);
    login(f, "jane", GOOD_PW, s1);
    login(f, "jane", GOOD_PW, s2);
    login(f, "bob", GOOD_PW, bob_session);
    api_token(f, u.id, 0, api, id);
    assert_int_equal(verify(f, s1, NULL), 0);
    assert_int_equal(verify(f, s2, NULL), 0);
    assert_int_equal(verify(f, api, NULL), 0);

    assert_int_equal(rp_auth_user_passwd(f->auth, "jane", "a brand new secret", E(f)), 0);
    assert_int_equal(verify(f, s1, NULL), RP_EUNAUTH);
    assert_int_equal(verify(f, s2, NULL), RP_EUNAUTH);
    assert_int_equal(verify(f, api, NULL), 0);
    assert_int_equal(verify(f, bob_session, NULL), 0);

    assert_int_equal(rp_auth_login(f->auth, "jane", GOOD_PW, NULL, NULL, NULL, E(f)), RP_EUNAUTH);
    login(f, "jane", "a brand new secret", s1);
    assert_int_equal(verify(f, s1, NULL), 0);

    assert_int_equal(rp_auth_user_passwd(f->auth, "nobody", "a brand new secret", E(f)),
                     RP_ENOTFOUND);
    assert_string_equal(f->err.detail, "user \"nobody\" does not exist");
    assert_int_equal(rp_auth_user_passwd(f->auth, "no body", "a brand new secret", E(f)),
                     RP_ENOTFOUND);
    assert_int_equal(rp_auth_user_passwd(f->auth, "jane", "short", E(f)), RP_EVALIDATION);
    assert_int_equal(verify(f, s1, NULL), 0);
}

static void test_api_tokens(void **state)
{
    struct fx *f = *state;
    struct rp_user_info u;
    struct rp_principal p;
    char forever[64], brief[64], id1[40], id2[40];
    struct rp_buf b;

    assert_int_equal(rp_auth_user_add(f->auth, "ci", GOOD_PW, "CI bot", true, &u, E(f)), 0);
    api_token(f, u.id, 0, forever, id1);
    api_token(f, u.id, T0 + 1000, brief, id2);
    assert_int_equal(strncmp(forever, "rp_", 3), 0);

    assert_int_equal(verify(f, forever, &p), 0);
    assert_string_equal(p.token_id, id1);
    assert_string_equal(p.user_id, u.id);
    assert_string_equal(p.display_name, "CI bot");
    assert_true(p.is_admin);
    assert_int_equal(verify(f, brief, &p), 0);
    assert_string_equal(p.token_id, id2);
    {
        struct sql_job j = {.before =
                                "SELECT kind || ':' || name || ':' || COALESCE(expires_at, 'never')"
                                " FROM rp_token WHERE id = ",
                            .param = id1};
        assert_string_equal(db_read(f, &j), "api:ci:never");
    }

    rp_clock_advance(&f->clock, 1000);
    assert_int_equal(verify(f, brief, NULL), RP_EUNAUTH);
    rp_clock_advance(&f->clock, 400LL * 24 * 60 * 60 * 1000);
    assert_int_equal(verify(f, forever, NULL), 0);

    rp_buf_init(&b, &f->arena, 1024);
    assert_int_equal(
        rp_auth_token_create(f->auth, u.id, "old", rp_clock_now_ms(&f->clock), &b, NULL, E(f)),
        RP_EVALIDATION);
    assert_string_equal(f->err.fields[0].field, "expires_at");
    assert_int_equal(rp_auth_token_create(f->auth, u.id, "neg", -5, &b, NULL, E(f)),
                     RP_EVALIDATION);
    assert_int_equal(rp_auth_token_create(f->auth, u.id, "", 0, &b, NULL, E(f)), RP_EVALIDATION);
    assert_string_equal(f->err.fields[0].field, "name");
    assert_int_equal(rp_auth_token_create(f->auth, u.id, NULL, 0, &b, NULL, E(f)), RP_EVALIDATION);
    assert_int_equal(rp_auth_token_create(f->auth, "0190d3c0-0000-7000-8000-000000000000", "x", 0,
                                          &b, NULL, E(f)),
                     RP_ENOTFOUND);
    assert_int_equal(rp_auth_token_create(f->auth, NULL, "x", 0, &b, NULL, E(f)), RP_ENOTFOUND);
    db_write(f, "UPDATE rp_user SET active = 0 WHERE id = ", u.id, NULL);
    assert_int_equal(rp_auth_token_create(f->auth, u.id, "x", 0, &b, NULL, E(f)), RP_EVALIDATION);
    assert_int_equal(b.len, 0);
    /* id_out may be NULL. */
    db_write(f, "UPDATE rp_user SET active = 1 WHERE id = ", u.id, NULL);
    assert_int_equal(rp_auth_token_create(f->auth, u.id, "x", 0, &b, NULL, E(f)), 0);
    assert_int_equal(b.len, 46);
}

static void test_malformed_tokens(void **state)
{
    struct fx *f = *state;
    struct rp_user_info u;
    char good[64], id[40], t[128];
    const char *const bad[] = {
        "",
        "rp_",
        "rp",
        "Bearer rp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "xx_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "RP_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "rp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",   /* one short */
        "rp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* one long */
        "rp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+A",
        "rp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/A",
        "rp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "rp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA AAAAAA",
        "rp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\xc3",
        "rp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", /* non-zero trailing bits */
    };

    /* Rejected on shape alone: not even the pepper is created. */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(verify(f, bad[i], NULL), RP_EUNAUTH);
        assert_string_equal(f->err.detail, VERIFY_FAIL);
    }
    assert_int_equal(verify(f, NULL, NULL), RP_EUNAUTH);
    {
        struct sql_job j = {.before = "SELECT COUNT(*) FROM rp_setting"
                                      " WHERE key = 'token_pepper'"};
        assert_string_equal(db_read(f, &j), "0");
    }

    add_user(f, "jane", false, &u);
    api_token(f, u.id, 0, good, id);
    assert_int_equal(verify(f, good, NULL), 0);
    assert_int_equal(verify(f, "rp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL), RP_EUNAUTH);

    /* An embedded NUL ends the C string: what remains is too short. */
    memcpy(t, good, 47);
    t[20] = '\0';
    assert_int_equal(verify(f, t, NULL), RP_EUNAUTH);
    /* Right shape, wrong bytes. */
    memcpy(t, good, 47);
    t[10] = t[10] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(f, t, NULL), RP_EUNAUTH);
    /* Trailing garbage. */
    snprintf(t, sizeof(t), "%s ", good);
    assert_int_equal(verify(f, t, NULL), RP_EUNAUTH);
    snprintf(t, sizeof(t), "%sA", good);
    assert_int_equal(verify(f, t, NULL), RP_EUNAUTH);
    /* A very long string is not scanned to its end. */
    {
        size_t n = 1 << 20;
        char *huge = malloc(n + 1);
        memcpy(huge, good, 46);
        memset(huge + 46, 'A', n - 46);
        huge[n] = '\0';
        assert_int_equal(verify(f, huge, NULL), RP_EUNAUTH);
        free(huge);
    }
}

static void test_pepper_shared_between_handles(void **state)
{
    struct fx *f = *state;
    struct rp_auth *second = auth_new(f, CACHE_TTL);
    struct sql_job j = {.before = "SELECT value FROM rp_setting WHERE key = ",
                        .param = "token_pepper"};
    struct rp_principal p;
    char tok[64], pepper[80];

    add_user(f, "jane", false, NULL);
    login(f, "jane", GOOD_PW, tok);
    snprintf(pepper, sizeof(pepper), "%s", db_read(f, &j));
    assert_int_equal(strlen(pepper), 64);
    assert_int_equal(rp_auth_verify(second, tok, &f->arena, &p, E(f)), 0);
    assert_string_equal(p.username, "jane");
    assert_string_equal(db_read(f, &j), pepper);
    rp_auth_free(second);

    /* A changed pepper invalidates every token, which is how to revoke them all at once. */
    db_write(f, "UPDATE rp_setting SET value = ",
             "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
             " WHERE key = 'token_pepper'");
    second = auth_new(f, CACHE_TTL);
    assert_int_equal(rp_auth_verify(second, tok, &f->arena, &p, E(f)), RP_EUNAUTH);
    rp_auth_free(second);

    /* A corrupt pepper is an internal error, not a silent new key. */
    db_write(f, "UPDATE rp_setting SET value = ", "not hex", " WHERE key = 'token_pepper'");
    second = auth_new(f, CACHE_TTL);
    assert_int_equal(rp_auth_verify(second, tok, &f->arena, &p, E(f)), RP_EINTERNAL);
    rp_auth_free(second);
}

static void test_last_used_throttled(void **state)
{
    struct fx *f = *state;
    struct rp_user_info u;
    char tok[64], id[40], want[32];
    struct sql_job j = {.before = "SELECT last_used_at FROM rp_token WHERE id = "};

    add_user(f, "jane", false, &u);
    api_token(f, u.id, 0, tok, id);
    j.param = id;
    assert_string_equal(db_read(f, &j), "NULL");

    assert_int_equal(verify(f, tok, NULL), 0);
    db_flush(f);
    snprintf(want, sizeof(want), "%lld", (long long)T0);
    assert_string_equal(db_read(f, &j), want);

    rp_clock_advance(&f->clock, 30000);
    assert_int_equal(verify(f, tok, NULL), 0);
    db_flush(f);
    assert_string_equal(db_read(f, &j), want);

    rp_clock_advance(&f->clock, 30000);
    assert_int_equal(verify(f, tok, NULL), 0);
    db_flush(f);
    snprintf(want, sizeof(want), "%lld", (long long)(T0 + 60000));
    assert_string_equal(db_read(f, &j), want);
}

/* ---- concurrency ---- */

#define NTOK     16
#define NTHREADS 4

struct race {
    struct fx *f;
    char tok[NTOK][64];
    char id[NTOK][40];
    atomic_bool revoked[NTOK]; /* set once rp_auth_token_revoke has returned */
    atomic_int wrong;
    atomic_int ok_after_revoke;
};

static void *race_verifier(void *arg)
{
    struct race *r = arg;
    struct rp_arena arena;

    rp_arena_init(&arena);
    for (int iter = 0; iter < 200; iter++) {
        for (int i = 0; i < NTOK; i++) {
            struct rp_principal p;
            struct rp_error err;
            bool was_revoked = atomic_load(&r->revoked[i]);
            int rc;

            rp_error_init(&err, &arena);
            rc = rp_auth_verify(r->f->auth, r->tok[i], &arena, &p, &err);
            if (rc == 0 && was_revoked)
                atomic_fetch_add(&r->ok_after_revoke, 1);
            else if (rc == 0 && strcmp(p.token_id, r->id[i]) != 0)
                atomic_fetch_add(&r->wrong, 1);
            else if (rc != 0 && (rc != RP_EUNAUTH || i % 2 == 1))
                atomic_fetch_add(&r->wrong, 1); /* odd tokens are never revoked */
        }
        rp_arena_reset(&arena);
    }
    rp_arena_release(&arena);
    return NULL;
}

static void *race_revoker(void *arg)
{
    struct race *r = arg;

    for (int i = 0; i < NTOK; i += 2) {
        struct rp_error err;
        rp_error_init(&err, NULL);
        if (rp_auth_token_revoke(r->f->auth, r->id[i], &err) != 0)
            atomic_fetch_add(&r->wrong, 1);
        atomic_store(&r->revoked[i], true);
        sched_yield();
    }
    return NULL;
}

static void test_concurrent_verify_and_revoke(void **state)
{
    struct fx *f = *state;
    struct race *r = calloc(1, sizeof(*r));
    pthread_t th[NTHREADS + 1];
    struct rp_user_info u;

    r->f = f;
    add_user(f, "jane", false, &u);
    for (int i = 0; i < NTOK; i++)
        api_token(f, u.id, 0, r->tok[i], r->id[i]);
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race_verifier, r), 0);
    assert_int_equal(pthread_create(&th[NTHREADS], NULL, race_revoker, r), 0);
    for (int i = 0; i <= NTHREADS; i++)
        pthread_join(th[i], NULL);

    assert_int_equal(atomic_load(&r->wrong), 0);
    assert_int_equal(atomic_load(&r->ok_after_revoke), 0);
    for (int i = 0; i < NTOK; i++)
        assert_int_equal(verify(f, r->tok[i], NULL), i % 2 == 0 ? RP_EUNAUTH : 0);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_username_rules),
        cmocka_unit_test_setup_teardown(test_user_add_and_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_list_ordered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_add_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_add_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_is_argon2id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_failures_look_alike, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_not_stored_in_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_expires_even_if_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_expires_uncached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_serves_until_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke_beats_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_passwd_revokes_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pepper_shared_between_handles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_used_throttled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_verify_and_revoke, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
