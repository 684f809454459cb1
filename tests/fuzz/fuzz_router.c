/*
 * libFuzzer target: the router, query-string parser and read path. The input is split into
 * a request target (first line) and a header value (second line) and sent as GET through the
 * real API router of an app on a temporary database, authenticated as an admin: percent
 * decoding, parameter checks, filter, sort, fields and cursor decoding all see hostile input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_app.h"

static struct rp_test_app app;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    rp_test_app_open(&app);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char target[4096], header[1024], auth[160];
    const char *nl = memchr(data, '\n', size);
    size_t tlen = nl ? (size_t)(nl - (const char *)data) : size;
    size_t hlen = nl ? size - tlen - 1 : 0;
    struct rp_http_pair h[2] = {{"Authorization", auth}, {"If-None-Match", header}};
    struct rp_http_dispatch in = {"GET", target, h, 2, NULL, 0};
    struct rp_http_result res;

    /* "/", the target and its NUL must fit (a 4,095-byte target overran by one: the fuzzer's
       own crash, crash-20c761dae7cf... in the corpus) */
    if (tlen + 2 > sizeof(target) || hlen >= sizeof(header))
        return 0;
    target[0] = '/';
    memcpy(target + 1, data, tlen);
    target[tlen + 1] = '\0';
    if (memchr(target, '\0', tlen + 1))
        return 0; /* C strings cannot carry NUL; the transport rejects them earlier */
    memcpy(header, nl ? nl + 1 : "", hlen);
    header[hlen] = '\0';
    snprintf(auth, sizeof(auth), "Bearer %s", app.token);
    if (rp_http_dispatch(app.app->router, &in, &res) == 0)
        rp_http_dispatch_release(&res);
    return 0;
}
