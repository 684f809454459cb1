/*
 * libFuzzer target: the writers of problem+json and JSON strings. The input is split at NUL
 * bytes into a detail, then (field, code, message) triples, then a response header name and
 * value; a handler on a small router sets them as an error and a header, and the transport
 * writes the problem. Checks: the body is valid JSON (jansson) with the given detail and
 * field problems (text that is valid UTF-8 survives exactly, the rest is escaped), at most
 * RP_ERROR_MAX_FIELDS of them, and no response header carries CR or LF. rp_buf_add_json_str
 * is also checked alone on the raw input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/log.h"
#include "base/utf8.h"
#include "http/http.h"

static struct rp_http_router *router;

/* The parts of one input, NUL-separated, set by LLVMFuzzerTestOneInput for the handler. */
static const char *parts[3 * 40 + 4];
static size_t nparts;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int h_fail(struct rp_http_req *req, struct rp_http_resp *resp)
{
    size_t i = 1;

    rp_error_set(&req->err, RP_EVALIDATION, "%s", parts[0]);
    for (; i + 3 <= nparts; i += 3)
        rp_error_field(&req->err, RP_EVALIDATION, parts[i], parts[i + 1], "%s", parts[i + 2]);
    if (i + 2 <= nparts)
        rp_http_resp_header(req, resp, parts[i], parts[i + 1]);
    return RP_EVALIDATION;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    rp_log_set_level(RP_LOG_OFF); /* dropped headers are logged, one line per input */
    router = rp_http_router_new(NULL);
    rp_http_route(router, RP_HTTP_GET, "/fail", RP_ROUTE_PUBLIC, h_fail);
    return 0;
}

/* The string a valid-UTF-8 input must come back as, or NULL when it need not. */
static bool same_text(const json_t *v, const char *want)
{
    if (!rp_utf8_is_valid(want, strlen(want)))
        return json_is_string(v);
    return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

static void check_json_str(const uint8_t *data, size_t size)
{
    struct rp_buf b;
    json_t *v;
    json_error_t je;

    rp_buf_init(&b, NULL, 1u << 20);
    rp_buf_add_json_str(&b, (const char *)data, size);
    v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v || !json_is_string(v))
        abort();
    if (rp_utf8_is_valid((const char *)data, size) &&
        (json_string_length(v) != size || memcmp(json_string_value(v), data, size) != 0))
        abort();
    json_decref(v);
    rp_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rp_http_dispatch in = {"GET", "/fail", NULL, 0, NULL, 0};
    struct rp_http_result res;
    char *copy;
    json_t *doc, *errors;
    json_error_t je;
    size_t nfields;

    if (size > 65536)
        return 0;
    check_json_str(data, size);
    copy = malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = '\0';
    nparts = 0;
    for (char *p = copy; nparts < sizeof(parts) / sizeof(parts[0]);) {
        parts[nparts++] = p;
        p += strlen(p);
        if (p == copy + size)
            break;
        p++;
    }
    if (rp_http_dispatch(router, &in, &res) != 0)
        abort();
    if (res.status != 422)
        abort();
    for (size_t i = 0; i < res.nheaders; i++) {
        if (strpbrk(res.headers[i].name, "\r\n") || strpbrk(res.headers[i].value, "\r\n"))
            abort();
    }
    doc = json_loadb(res.body, res.body_len, 0, &je);
    if (!doc || !same_text(json_object_get(doc, "detail"), parts[0]) ||
        json_integer_value(json_object_get(doc, "status")) != 422)
        abort();
    errors = json_object_get(doc, "errors");
    nfields = (nparts - 1) / 3;
    if (nfields > RP_ERROR_MAX_FIELDS)
        nfields = RP_ERROR_MAX_FIELDS;
    if (nfields != json_array_size(errors))
        abort();
    for (size_t i = 0; i < nfields; i++) {
        json_t *e = json_array_get(errors, i);
        if (!same_text(json_object_get(e, "field"), parts[1 + 3 * i]) ||
            !same_text(json_object_get(e, "code"), parts[2 + 3 * i]) ||
            !same_text(json_object_get(e, "message"), parts[3 + 3 * i]))
            abort();
    }
    json_decref(doc);
    rp_http_dispatch_release(&res);
    free(copy);
    return 0;
}
