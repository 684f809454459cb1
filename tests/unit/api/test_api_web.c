/* The web UI's files through the real router: content types, caching, fallback, traversal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "test_app.h"

struct web_fixture {
    struct rp_test_app t;
    char root[64];    /* a temporary directory holding secret.txt and dist/ */
    char dist[96];    /* the web directory */
    char outside[96]; /* a file next to dist that must never be served */
};

struct web_answer {
    int status;
    char type[64];
    char cache[64];
    char csp[64];
    char encoding[32];
    char vary[32];
    char *body;
};

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int web_setup(void **state)
{
    struct web_fixture *w = calloc(1, sizeof(*w));
    char sub[160];

    snprintf(w->root, sizeof(w->root), "/tmp/rp-web-XXXXXX");
    assert_non_null(mkdtemp(w->root));
    snprintf(w->dist, sizeof(w->dist), "%s/dist", w->root);
    assert_int_equal(mkdir(w->dist, 0700), 0);
    snprintf(sub, sizeof(sub), "%s/assets", w->dist);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(w->outside, sizeof(w->outside), "%s/secret.txt", w->root);
    write_file(w->root, "secret.txt", "top secret");
    write_file(w->dist, "index.html", "<!doctype html><title>Rapport</title>");
    write_file(w->dist, "favicon.svg", "<svg/>");
    write_file(w->dist, ".env", "hidden");
    write_file(sub, "index-Ab12Cd.js", "console.log(1)");
    write_file(sub, "index-Ef34Gh.css", "body{}");
    write_file(sub, "index-Ef34Gh.css.gz", "(gzip bytes)");
    snprintf(sub, sizeof(sub), "%s/link.txt", w->dist);
    assert_int_equal(symlink(w->outside, sub), 0);
    rp_test_app_open(&w->t);
    rp_api_set_web_dir(w->t.app->api, w->dist);
    *state = w;
    return 0;
}

static int web_teardown(void **state)
{
    struct web_fixture *w = *state;
    char cmd[128];

    rp_test_app_close(&w->t);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->root);
    assert_int_equal(system(cmd), 0);
    free(w);
    return 0;
}

static void copy_header(const struct rp_http_result *res, const char *name, char *out, size_t n)
{
    const char *v = rp_http_result_header(res, name);
    snprintf(out, n, "%s", v ? v : "");
}

static struct web_answer get_with(struct web_fixture *w, const char *method, const char *target,
                                  const char *accept_encoding)
{
    struct rp_http_pair h[1] = {{"Accept-Encoding", accept_encoding}};
    struct rp_http_dispatch in = {method, target, h, accept_encoding ? 1 : 0, NULL, 0};
    struct rp_http_result res;
    struct web_answer a = {0};

    assert_int_equal(rp_http_dispatch(w->t.app->router, &in, &res), 0);
    a.status = res.status;
    copy_header(&res, "Content-Type", a.type, sizeof(a.type));
    copy_header(&res, "Cache-Control", a.cache, sizeof(a.cache));
    copy_header(&res, "Content-Security-Policy", a.csp, sizeof(a.csp));
    copy_header(&res, "Content-Encoding", a.encoding, sizeof(a.encoding));
    copy_header(&res, "Vary", a.vary, sizeof(a.vary));
    a.body = malloc(res.body_len + 1);
    memcpy(a.body, res.body, res.body_len);
    a.body[res.body_len] = '\0';
    rp_http_dispatch_release(&res);
    return a;
}

static struct web_answer get(struct web_fixture *w, const char *method, const char *target)
{
    return get_with(w, method, target, NULL);
}

static void test_gzip_copies(void **state)
{
    struct web_fixture *w = *state;
    const char *refusing[] = {NULL, "br", "gzip;q=0", "deflate, gzip; q=0.000"};
    const char *accepting[] = {"gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.5"};
    struct web_answer a;

    for (size_t i = 0; i < sizeof(accepting) / sizeof(accepting[0]); i++) {
        a = get_with(w, "GET", "/assets/index-Ef34Gh.css", accepting[i]);
        assert_int_equal(a.status, 200);
        assert_string_equal(a.body, "(gzip bytes)");
        assert_string_equal(a.encoding, "gzip");
        assert_string_equal(a.type, "text/css; charset=utf-8");
        assert_string_equal(a.vary, "Accept-Encoding");
        free(a.body);
    }
    for (size_t i = 0; i < sizeof(refusing) / sizeof(refusing[0]); i++) {
        a = get_with(w, "GET", "/assets/index-Ef34Gh.css", refusing[i]);
        assert_int_equal(a.status, 200);
        assert_string_equal(a.body, "body{}");
        assert_string_equal(a.encoding, "");
        free(a.body);
    }
    /* no gzip copy: the file itself */
    a = get_with(w, "GET", "/assets/index-Ab12Cd.js", "gzip");
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "console.log(1)");
    assert_string_equal(a.encoding, "");
    free(a.body);
}

static void test_index_and_assets(void **state)
{
    struct web_fixture *w = *state;
    struct web_answer a = get(w, "GET", "/");

    assert_int_equal(a.status, 200);
    assert_string_equal(a.type, "text/html; charset=utf-8");
    assert_string_equal(a.cache, "no-cache");
    assert_string_equal(a.body, "<!doctype html><title>Rapport</title>");
    /* the transport's policy, widened only for Element Plus's data: SVG icons */
    assert_string_equal(a.csp, "default-src 'self'; img-src 'self' data:");
    free(a.body);

    a = get(w, "GET", "/assets/index-Ab12Cd.js");
    assert_int_equal(a.status, 200);
    assert_string_equal(a.type, "text/javascript; charset=utf-8");
    assert_string_equal(a.cache, "public, max-age=31536000, immutable");
    assert_string_equal(a.body, "console.log(1)");
    free(a.body);

    a = get(w, "GET", "/assets/index-Ef34Gh.css");
    assert_int_equal(a.status, 200);
    assert_string_equal(a.type, "text/css; charset=utf-8");
    free(a.body);

    a = get(w, "GET", "/favicon.svg");
    assert_int_equal(a.status, 200);
    assert_string_equal(a.type, "image/svg+xml");
    assert_string_equal(a.cache, "no-cache");
    free(a.body);

    a = get(w, "HEAD", "/");
    assert_int_equal(a.status, 200);
    free(a.body);
}

static void test_client_routes_get_index(void **state)
{
    struct web_fixture *w = *state;
    const char *routes[] = {"/records/account", "/records/account/0190abcd-1234", "/pipeline",
                            "/login?next=%2Faudit"};

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        struct web_answer a = get(w, "GET", routes[i]);
        assert_int_equal(a.status, 200);
        assert_string_equal(a.type, "text/html; charset=utf-8");
        assert_string_equal(a.body, "<!doctype html><title>Rapport</title>");
        free(a.body);
    }
}

static void test_missing_assets_are_404_problems(void **state)
{
    struct web_fixture *w = *state;
    const char *missing[] = {"/assets/gone-123.js", "/assets/new-page", "/robots.txt",
                             "/api/v1/nothing-here", "/api"};

    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        struct web_answer a = get(w, "GET", missing[i]);
        assert_int_equal(a.status, 404);
        assert_string_equal(a.type, "application/problem+json");
        assert_true(strstr(a.body, "\"not_found\"") != NULL);
        free(a.body);
    }
}

static void test_traversal_and_hidden_files_are_refused(void **state)
{
    struct web_fixture *w = *state;
    const char *bad[] = {"/../secret.txt",
                         "/%2e%2e/secret.txt",
                         "/assets/../../secret.txt",
                         "/assets/%2E%2E%2F%2E%2E%2Fsecret.txt",
                         "/..%5csecret.txt",
                         "//etc/passwd",
                         "/.env",
                         "/link.txt",
                         "/assets/./index-Ab12Cd.js"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct web_answer a = get(w, "GET", bad[i]);
        /* never the file outside the web directory, nor a hidden one */
        assert_null(strstr(a.body, "top secret"));
        assert_null(strstr(a.body, "hidden"));
        assert_int_not_equal(a.status, 200);
        free(a.body);
    }
}

static void test_writes_are_405(void **state)
{
    struct web_fixture *w = *state;
    struct web_answer a = get(w, "POST", "/index.html");

    assert_int_equal(a.status, 405);
    free(a.body);
}

static void test_no_web_dir_serves_nothing(void **state)
{
    struct web_fixture *w = *state;
    struct web_answer a;

    rp_api_set_web_dir(w->t.app->api, NULL);
    a = get(w, "GET", "/");
    assert_int_equal(a.status, 404);
    assert_string_equal(a.type, "application/problem+json");
    free(a.body);
    rp_api_set_web_dir(w->t.app->api, w->dist);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_index_and_assets, web_setup, web_teardown),
        cmocka_unit_test_setup_teardown(test_client_routes_get_index, web_setup, web_teardown),
        cmocka_unit_test_setup_teardown(test_gzip_copies, web_setup, web_teardown),
        cmocka_unit_test_setup_teardown(test_missing_assets_are_404_problems, web_setup,
                                        web_teardown),
        cmocka_unit_test_setup_teardown(test_traversal_and_hidden_files_are_refused, web_setup,
                                        web_teardown),
        cmocka_unit_test_setup_teardown(test_writes_are_405, web_setup, web_teardown),
        cmocka_unit_test_setup_teardown(test_no_web_dir_serves_nothing, web_setup, web_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
