/*
 * libFuzzer target: the request target parser of the transport (path segments, percent
 * decoding, the query string with '+' and repeated names, the parameter limit) on a small
 * router of its own, so it runs fast and sees nothing but HTTP. The input is the request
 * target. A handler checks what the parser promises: every decoded name and value is valid
 * UTF-8 without NUL, rp_http_query finds the first of repeated names, and no more than
 * RP_LIMIT_QUERY_PARAMS parameters arrive; anything else aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/utf8.h"
#include "http/http.h"

static struct rp_http_router *router;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s)
{
    if (!rp_utf8_is_valid(s, strlen(s)))
        abort();
}

static int h_params(struct rp_http_req *req, struct rp_http_resp *resp)
{
    if (req->nquery > RP_LIMIT_QUERY_PARAMS)
        abort();
    check_text(req->path);
    for (size_t i = 0; i < req->nparams; i++)
        check_text(req->params[i]);
    for (size_t i = 0; i < req->nquery; i++) {
        const char *first = rp_http_query(req, req->query[i].name);
        check_text(req->query[i].name);
        check_text(req->query[i].value);
        if (!first)
            abort();
        for (size_t j = 0; j < i; j++) {
            if (strcmp(req->query[j].name, req->query[i].name) == 0) {
                if (first != req->query[j].value)
                    abort();
                break;
            }
        }
        rp_buf_add_json_str(&resp->body, req->query[i].value, strlen(req->query[i].value));
    }
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    router = rp_http_router_new(NULL);
    rp_http_route(router, RP_HTTP_GET, "/q", RP_ROUTE_PUBLIC, h_params);
    rp_http_route(router, RP_HTTP_GET, "/q/{a}/x/{b}", RP_ROUTE_PUBLIC, h_params);
    rp_http_route(router, RP_HTTP_GET, "/q/{a}", RP_ROUTE_PUBLIC, h_params);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char target[RP_LIMIT_URL_BYTES + 64];
    struct rp_http_dispatch in = {"GET", target, NULL, 0, NULL, 0};
    struct rp_http_result res;

    if (size + 3 >= sizeof(target) || memchr(data, '\0', size))
        return 0; /* the target is a C string; the transport never passes NUL */
    /* "/q" then the input: mostly "?query", sometimes "/segments?query" */
    memcpy(target, "/q", 2);
    memcpy(target + 2, data, size);
    target[size + 2] = '\0';
    if (rp_http_dispatch(router, &in, &res) == 0) {
        if (res.status != 200 && res.status != 400 && res.status != 404 && res.status != 414)
            abort();
        rp_http_dispatch_release(&res);
    }
    return 0;
}
