/*
 * /api/v1/records/...: the generic record endpoints for every object, and
 * the change feed. Writes are prepared (validated) on the worker thread, then
 * the request is suspended while the store's writer commits its group; the
 * continuation frames the committed result.
 */
#include "api/api_int.h"
#include "base/limits.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>

/* ---- reads ---- */

static int h_list(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const params[] = {"filter", "sort", "limit", "cursor",
                                         "fields", "q",    "count", NULL};
    struct rp_api *api = api_of(req);
    struct rp_list_query lq = {0};
    const char *count;
    int64_t limit;
    int rc;

    if ((rc = api_check_params(req, params)) < 0 ||
        (rc = api_int_param(req, "limit", 1, RP_LIMIT_PAGE_MAX, RP_LIMIT_PAGE_DEFAULT, &limit)) < 0)
        return rc;
    count = rp_http_query(req, "count");
    if (count && strcmp(count, "true") != 0 && strcmp(count, "false") != 0)
        return rp_error_field(&req->err, RP_EINVAL, "count", "invalid",
                              "parameter \"count\" must be true or false");
    lq.filter = rp_http_query(req, "filter");
    lq.sort = rp_http_query(req, "sort");
    lq.cursor = rp_http_query(req, "cursor");
    lq.fields = rp_http_query(req, "fields");
    lq.q = rp_http_query(req, "q");
    lq.count = count && strcmp(count, "true") == 0;
    lq.limit = (size_t)limit;
    if (lq.filter && strlen(lq.filter) > RP_LIMIT_EXPR_BYTES)
        return rp_error_field(&req->err, RP_EINVAL, "filter", "too_long",
                              "parameter \"filter\" is longer than %d bytes", RP_LIMIT_EXPR_BYTES);
    rc = rp_records_list(api->records, principal_of(req), req->params[0], &lq, &req->arena,
                         &resp->body, &req->err);
    return rc;
}

static void set_etag(struct rp_http_req *req, struct rp_http_resp *resp, int64_t version)
{
    char etag[32];
    snprintf(etag, sizeof(etag), "\"%lld\"", (long long)version);
    rp_http_resp_header(req, resp, "ETag", etag);
}

static int h_get(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const params[] = {"fields", NULL};
    struct rp_api *api = api_of(req);
    int64_t version = 0;
    const char *inm;
    char etag[32];
    int rc;

    if ((rc = api_check_params(req, params)) < 0)
        return rc;
    rc =
        rp_records_get(api->records, principal_of(req), req->params[0], req->params[1],
                       rp_http_query(req, "fields"), &req->arena, &resp->body, &version, &req->err);
    if (rc < 0)
        return rc;
    set_etag(req, resp, version);
    snprintf(etag, sizeof(etag), "\"%lld\"", (long long)version);
    inm = rp_http_header(req, "If-None-Match");
    if (inm && strcmp(inm, etag) == 0) {
        resp->status = 304;
        rp_buf_reset(&resp->body);
    }
    return 0;
}

static int h_history(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const params[] = {"after", "limit", NULL};
    struct rp_api *api = api_of(req);
    int64_t after, limit;
    int rc;

    if ((rc = api_check_params(req, params)) < 0 ||
        (rc = api_int_param(req, "after", 0, INT64_MAX, 0, &after)) < 0 ||
        (rc = api_int_param(req, "limit", 1, RP_LIMIT_PAGE_MAX, 100, &limit)) < 0)
        return rc;
    return rp_records_history(api->records, principal_of(req), req->params[0], req->params[1],
                              after, (size_t)limit, &req->arena, &resp->body, &req->err);
}

static int h_changes(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const params[] = {"after", "limit", "objects", NULL};
    struct rp_api *api = api_of(req);
    int64_t after, limit;
    int rc;

    if ((rc = api_check_params(req, params)) < 0 ||
        (rc = api_int_param(req, "after", 0, INT64_MAX, 0, &after)) < 0 ||
        (rc = api_int_param(req, "limit", 1, 1000, 100, &limit)) < 0)
        return rc;
    return rp_records_changes(api->records, principal_of(req), after, (size_t)limit,
                              rp_http_query(req, "objects"), &req->arena, &resp->body, &req->err);
}

/*
 * POST .../{id}/reveal: the clear values of sensitive fields, audited. The body
 * {"fields": [...]} is optional; without one every sensitive field is revealed.
 */
static int h_reveal(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct rp_api *api = api_of(req);
    const json_t *fields = NULL, *v;
    json_t *body;
    const char *key;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (req->body && req->body_len > 0) {
        if (!(body = api_body_json(req)))
            return req->err.code;
        if (!json_is_object(body))
            return rp_error_set(&req->err, RP_EINVAL,
                                "the body is an object: {\"fields\": [\"name\", ...]}");
        json_object_foreach(body, key, v)
        {
            if (strcmp(key, "fields") != 0)
                return rp_error_field(&req->err, RP_EINVAL, key, "unknown_field",
                                      "unknown key \"%s\" in reveal request", key);
        }
        if (!(fields = json_object_get(body, "fields")))
            return rp_error_field(&req->err, RP_EINVAL, "fields", "required",
                                  "\"fields\" is required in a reveal request body");
    }
    return rp_records_reveal(api->records, principal_of(req), req->params[0], req->params[1],
                             fields, req->request_id[0] ? req->request_id : NULL, &req->arena,
                             &resp->body, &req->err);
}

/* ---- writes ---- */

struct write_call {
    struct rp_write_request wr;
    struct rp_error err;
    int submit_rc;
};

static struct write_call *write_call_new(struct rp_http_req *req, size_t nwrites)
{
    struct write_call *wc = rp_arena_calloc(&req->arena, 1, sizeof(*wc));
    rp_error_init(&wc->err, &req->arena);
    wc->wr.principal = principal_of(req);
    wc->wr.object = req->params[0];
    wc->wr.writes = rp_arena_calloc(&req->arena, nwrites ? nwrites : 1, sizeof(struct rp_write));
    wc->wr.nwrites = nwrites;
    wc->wr.request_id = req->request_id;
    wc->wr.arena = &req->arena;
    wc->wr.err = &wc->err;
    for (size_t i = 0; i < nwrites; i++)
        wc->wr.writes[i].if_match = -1;
    return wc;
}

/* Idempotency-Key: 1-255 visible ASCII characters; the fingerprint binds it to this request. */
static int idempotency(struct rp_http_req *req, struct write_call *wc)
{
    const char *key = rp_http_header(req, "Idempotency-Key");
    unsigned char hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    char *hex;
    size_t n;

    if (!key)
        return 0;
    n = strlen(key);
    if (n == 0 || n > 255)
        return rp_error_field(&req->err, RP_EINVAL, "Idempotency-Key", "invalid",
                              "header \"Idempotency-Key\" must be 1-255 characters");
    for (size_t i = 0; i < n; i++)
        if (key[i] < 0x21 || key[i] > 0x7e)
            return rp_error_field(&req->err, RP_EINVAL, "Idempotency-Key", "invalid",
                                  "header \"Idempotency-Key\" must be visible ASCII characters");
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)req->method_name,
                              strlen(req->method_name));
    crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)req->path, strlen(req->path));
    crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
    if (req->body)
        crypto_hash_sha256_update(&st, (const unsigned char *)req->body, req->body_len);
    crypto_hash_sha256_final(&st, hash);
    hex = rp_arena_alloc(&req->arena, sizeof(hash) * 2 + 1);
    sodium_bin2hex(hex, sizeof(hash) * 2 + 1, hash, sizeof(hash));
    wc->wr.idempotency_key = key;
    wc->wr.fingerprint = hex;
    return 0;
}

static int parse_if_match(struct rp_http_req *req, int64_t *out)
{
    const char *h = rp_http_header(req, "If-Match");
    char *end;
    long long v;
    size_t n;

    *out = -1;
    if (!h || strcmp(h, "*") == 0)
        return 0;
    n = strlen(h);
    if (n >= 2 && h[0] == '"' && h[n - 1] == '"') {
        h++;
        n -= 2;
    }
    errno = 0;
    v = strtoll(h, &end, 10);
    if (n == 0 || end != h + n || errno || v < 0)
        return rp_error_field(&req->err, RP_EINVAL, "If-Match", "invalid",
                              "header \"If-Match\" must be an ETag of this API, e.g. \"3\"");
    *out = v;
    return 0;
}

static void write_done(void *ctx, int rc)
{
    (void)rc;
    rp_http_resume(ctx);
}

static void problem_with_results(struct rp_http_req *req, struct rp_http_resp *resp,
                                 struct write_call *wc)
{
    const struct rp_error *e = &wc->err;
    struct rp_buf results;

    rp_buf_init(&results, &req->arena, RP_LIMIT_RESPONSE_BYTES);
    rp_records_batch_json(&wc->wr, &results);
    resp->status = rp_err_http_status(e->code);
    resp->content_type = "application/problem+json";
    rp_buf_reset(&resp->body);
    rp_buf_addc(&resp->body, '{');
    rp_error_problem_members(e, e->code, resp->status, &resp->body);
    rp_buf_adds(&resp->body, ",\"request_id\":");
    rp_buf_add_json_str(&resp->body, req->request_id, strlen(req->request_id));
    /* The batch document's members follow: its text without the opening brace. */
    rp_buf_addc(&resp->body, ',');
    rp_buf_add(&resp->body, results.data + 1, results.len - 1);
}

static int write_finish(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct write_call *wc = req->handler_ctx;
    struct rp_write_request *wr = &wc->wr;
    struct rp_write *w = &wr->writes[0];

    rp_records_request_release(wr);
    if (wr->replayed) {
        resp->status = wr->replay_status;
        rp_buf_adds(&resp->body, wr->replay_body);
        if (wr->replay_location)
            rp_http_resp_header(req, resp, "Location", wr->replay_location);
        if (wr->replay_etag)
            rp_http_resp_header(req, resp, "ETag", wr->replay_etag);
        rp_http_resp_header(req, resp, "Idempotent-Replayed", "true");
        return 0;
    }
    if (wr->batch) {
        if (wc->err.code && wc->err.code != RP_EBUSY && wc->err.code != RP_EDB) {
            problem_with_results(req, resp, wc);
            return 0;
        }
        if (wc->err.code)
            return api_fail(req, &wc->err);
        rp_records_batch_json(wr, &resp->body);
        return 0;
    }
    if (wc->err.code)
        return api_fail(req, &wc->err);
    resp->status = w->status;
    rp_buf_add(&resp->body, w->body.data, w->body.len);
    set_etag(req, resp, w->version);
    if (w->status == 201) {
        char *loc = rp_arena_sprintf(&req->arena, "/api/v1/records/%s/%s", wr->object, w->new_id);
        rp_http_resp_header(req, resp, "Location", loc);
    }
    return 0;
}

/* Validates, suspends and hands the request to the writer. */
static int submit(struct rp_http_req *req, struct rp_http_resp *resp, struct write_call *wc)
{
    struct rp_api *api = api_of(req);
    int rc = rp_records_prepare(api->records, &wc->wr);

    if (rc < 0) {
        rp_records_request_release(&wc->wr);
        if (wc->wr.batch && wc->wr.nwrites > 0 && wc->wr.writes[0].body.arena) {
            /* An atomic batch with invalid items: say which, as a commit failure would. */
            problem_with_results(req, resp, wc);
            return 0;
        }
        return api_fail(req, &wc->err);
    }
    req->handler_ctx = wc;
    rp_http_suspend(req, write_finish);
    rc = rp_records_submit(api->records, &wc->wr, write_done, req);
    if (rc < 0)
        rp_http_resume(req); /* nothing was queued; the continuation reports wc->err */
    return RP_HTTP_SUSPENDED;
}

/* One record write: create, update, upsert, delete or restore, from the path and body. */
static int single_write(struct rp_http_req *req, struct rp_http_resp *resp, enum rp_write_op op)
{
    bool takes_body = op == RP_WRITE_CREATE || op == RP_WRITE_UPDATE || op == RP_WRITE_UPSERT;
    struct write_call *wc;
    struct rp_write *w;
    static const char *const params[] = {"allow_duplicates", NULL};
    const char *allow;
    json_t *body = NULL;
    int rc;

    if ((rc = api_check_params(req, takes_body ? params : NULL)) < 0)
        return rc;
    allow = rp_http_query(req, "allow_duplicates");
    if (allow && strcmp(allow, "true") != 0 && strcmp(allow, "false") != 0)
        return rp_error_field(&req->err, RP_EINVAL, "allow_duplicates", "invalid",
                              "parameter \"allow_duplicates\" must be true or false");
    if (takes_body && !(body = api_body_json(req)))
        return req->err.code;
    if (!takes_body && req->body_len > 0)
        return rp_error_set(&req->err, RP_EINVAL, "this request takes no body");
    wc = write_call_new(req, 1);
    if (allow && strcmp(allow, "true") == 0)
        wc->wr.flags |= RP_WRITE_ALLOW_DUPLICATES;
    w = &wc->wr.writes[0];
    w->op = op;
    w->data = body;
    if (op == RP_WRITE_UPSERT) {
        w->key_field = req->params[1];
        w->key_value = req->params[2];
    } else if (op != RP_WRITE_CREATE) {
        w->id = req->params[1];
    }
    if ((op != RP_WRITE_CREATE && (rc = parse_if_match(req, &w->if_match)) < 0) ||
        (rc = idempotency(req, wc)) < 0)
        return rc;
    return submit(req, resp, wc);
}

static int h_create(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return single_write(req, resp, RP_WRITE_CREATE);
}

static int h_update(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return single_write(req, resp, RP_WRITE_UPDATE);
}

static int h_upsert(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return single_write(req, resp, RP_WRITE_UPSERT);
}

static int h_delete(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return single_write(req, resp, RP_WRITE_DELETE);
}

static int h_restore(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return single_write(req, resp, RP_WRITE_RESTORE);
}

static int batch_op(struct rp_http_req *req, const json_t *j, size_t i, struct rp_write *w)
{
    static const char *const keys[] = {"op", "id", "data", "field", "value", "if_match", NULL};
    const char *op = json_string_value(json_object_get(j, "op")), *key;
    const json_t *v;

    if (!json_is_object(j))
        return rp_error_field(&req->err, RP_EINVAL, "operations", "invalid",
                              "operation %zu must be a JSON object", i + 1);
    json_object_foreach((json_t *)j, key, v)
    {
        bool ok = false;
        for (size_t k = 0; keys[k]; k++)
            if (strcmp(key, keys[k]) == 0)
                ok = true;
        if (!ok)
            return rp_error_field(&req->err, RP_EINVAL, "operations", "unknown_field",
                                  "operation %zu has unknown key \"%s\"", i + 1, key);
    }
    if (!op)
        return rp_error_field(
            &req->err, RP_EINVAL, "operations", "invalid",
            "operation %zu needs \"op\": create, update, upsert, delete or restore", i + 1);
    if (strcmp(op, "create") == 0)
        w->op = RP_WRITE_CREATE;
    else if (strcmp(op, "update") == 0)
        w->op = RP_WRITE_UPDATE;
    else if (strcmp(op, "upsert") == 0)
        w->op = RP_WRITE_UPSERT;
    else if (strcmp(op, "delete") == 0)
        w->op = RP_WRITE_DELETE;
    else if (strcmp(op, "restore") == 0)
        w->op = RP_WRITE_RESTORE;
    else
        return rp_error_field(&req->err, RP_EINVAL, "operations", "invalid",
                              "operation %zu has unknown op \"%s\"", i + 1, op);
    w->id = json_string_value(json_object_get(j, "id"));
    w->data = json_object_get(j, "data");
    w->key_field = json_string_value(json_object_get(j, "field"));
    w->key_value = json_string_value(json_object_get(j, "value"));
    if ((v = json_object_get(j, "if_match"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return rp_error_field(&req->err, RP_EINVAL, "operations", "invalid",
                                  "operation %zu: \"if_match\" must be a version number", i + 1);
        w->if_match = json_integer_value(v);
    }
    if ((w->op == RP_WRITE_CREATE || w->op == RP_WRITE_UPDATE || w->op == RP_WRITE_UPSERT) &&
        !w->data)
        return rp_error_field(&req->err, RP_EINVAL, "operations", "invalid",
                              "operation %zu (%s) needs \"data\"", i + 1, op);
    if ((w->op == RP_WRITE_UPDATE || w->op == RP_WRITE_DELETE || w->op == RP_WRITE_RESTORE) &&
        !w->id)
        return rp_error_field(&req->err, RP_EINVAL, "operations", "invalid",
                              "operation %zu (%s) needs \"id\"", i + 1, op);
    if (w->op == RP_WRITE_UPSERT && (!w->key_field || !w->key_value))
        return rp_error_field(&req->err, RP_EINVAL, "operations", "invalid",
                              "operation %zu (upsert) needs \"field\" and \"value\"", i + 1);
    return 0;
}

static int h_batch(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct write_call *wc;
    json_t *body, *ops, *atomic, *v;
    const char *key;
    size_t i;
    int rc;

    (void)resp;
    if ((rc = api_check_params(req, NULL)) < 0 || !(body = api_body_json(req)))
        return rc < 0 ? rc : req->err.code;
    if (!json_is_object(body))
        return rp_error_set(&req->err, RP_EINVAL,
                            "a batch is an object: {\"atomic\": bool, \"operations\": [...]}");
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "atomic") != 0 && strcmp(key, "operations") != 0)
            return rp_error_field(&req->err, RP_EINVAL, key, "unknown_field",
                                  "unknown key \"%s\" in batch", key);
    }
    ops = json_object_get(body, "operations");
    atomic = json_object_get(body, "atomic");
    if (!json_is_array(ops) || json_array_size(ops) == 0)
        return rp_error_field(&req->err, RP_EINVAL, "operations", "invalid",
                              "\"operations\" must be a non-empty array");
    if (json_array_size(ops) > RP_LIMIT_BATCH_OPS)
        return rp_error_field(&req->err, RP_ETOOBIG, "operations", "too_many",
                              "a batch takes at most %d operations", RP_LIMIT_BATCH_OPS);
    if (atomic && !json_is_boolean(atomic))
        return rp_error_field(&req->err, RP_EINVAL, "atomic", "invalid_type",
                              "\"atomic\" must be true or false");
    wc = write_call_new(req, json_array_size(ops));
    wc->wr.batch = true;
    wc->wr.atomic = json_is_true(atomic);
    json_array_foreach(ops, i, v)
    {
        if ((rc = batch_op(req, v, i, &wc->wr.writes[i])) < 0)
            return rc;
    }
    if ((rc = idempotency(req, wc)) < 0)
        return rc;
    return submit(req, resp, wc);
}

void api_register_records(struct rp_http_router *r)
{
    const unsigned J = RP_ROUTE_JSON_BODY;
    rp_http_route(r, RP_HTTP_GET, "/api/v1/records/{object}", 0, h_list);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/records/{object}", J, h_create);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/records/{object}/batch", J | RP_ROUTE_BIG_BODY,
                  h_batch);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/records/{object}/{id}", 0, h_get);
    rp_http_route(r, RP_HTTP_PATCH, "/api/v1/records/{object}/{id}", J, h_update);
    rp_http_route(r, RP_HTTP_DELETE, "/api/v1/records/{object}/{id}", 0, h_delete);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/records/{object}/{id}/restore", 0, h_restore);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/records/{object}/{id}/history", 0, h_history);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/records/{object}/{id}/reveal", J, h_reveal);
    rp_http_route(r, RP_HTTP_PUT, "/api/v1/records/{object}/by/{field}/{value}", J, h_upsert);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/changes", 0, h_changes);
}
