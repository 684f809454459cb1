/*
 * libFuzzer target: web-to-lead form bodies (application/x-www-form-urlencoded). The first byte
 * chooses the path: the decoder alone (rp_http_form_decode), whose pairs are then checked
 * (count within the limit, every name and value valid UTF-8 and NUL-terminated), or a public
 * submission through the real router, which decodes the body into a JSON object of names
 * before it looks for the form (none exists, so nothing is written). Nothing may crash, leak
 * or trip a sanitizer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/utf8.h"
#include "test_app.h"

#define MAX_PAIRS 64

static struct rp_test_app app;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    rp_log_set_level(RP_LOG_OFF);
    rp_test_app_open(&app);
    return 0;
}

static void decode(const char *q, size_t n)
{
    struct rp_arena a;
    struct rp_error err;
    struct rp_http_pair *pairs;
    size_t count;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    if (rp_http_form_decode(q, n, MAX_PAIRS, &a, &pairs, &count, &err) == 0) {
        if (count > MAX_PAIRS)
            abort();
        for (size_t i = 0; i < count; i++)
            if (!rp_utf8_is_valid(pairs[i].name, strlen(pairs[i].name)) ||
                !rp_utf8_is_valid(pairs[i].value, strlen(pairs[i].value)))
                abort();
    }
    rp_arena_release(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rp_http_pair h[] = {{"Content-Type", "application/x-www-form-urlencoded"}};
    struct rp_http_dispatch in = {"POST", "/api/v1/forms/newsletter/submissions", h, 1, NULL, 0};
    struct rp_http_result res;

    if (size == 0)
        return 0;
    if (data[0] & 1) {
        decode((const char *)data + 1, size - 1);
        return 0;
    }
    in.body = (const char *)data + 1;
    in.body_len = size - 1;
    if (rp_http_dispatch(app.app->router, &in, &res) == 0)
        rp_http_dispatch_release(&res);
    return 0;
}
