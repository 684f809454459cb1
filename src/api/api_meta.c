/*
 * /api/v1/meta/...: object descriptions; custom objects and fields, their labels, picklist
 * values and deletion (records/records_schema.c, meta/meta_load.c).
 */
#include "api/api_int.h"
#include "base/json.h"

static int h_objects(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct rp_api *api = api_of(req);
    struct rp_meta *m;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    m = rp_meta_acquire(api->meta);
    rp_buf_adds(&resp->body, "{\"data\":[");
    for (size_t i = 0; i < m->nobjects; i++) {
        if (i)
            rp_buf_addc(&resp->body, ',');
        rp_meta_object_to_json(&m->objects[i], &resp->body);
    }
    rp_buf_addc(&resp->body, ']');
    rp_buf_addf(&resp->body, ",\"generation\":%llu}", (unsigned long long)m->generation);
    rp_meta_release(m);
    return 0;
}

static int h_object(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct rp_api *api = api_of(req);
    const struct rp_object *o;
    struct rp_meta *m;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    m = rp_meta_acquire(api->meta);
    o = rp_meta_object(m, req->params[0]);
    if (o)
        rp_meta_object_to_json(o, &resp->body);
    else
        rc = rp_error_set(&req->err, RP_ENOTFOUND, "object \"%s\" does not exist", req->params[0]);
    rp_meta_release(m);
    return rc;
}

/* Applies a custom definition of kind to object (NULL: the body's "name") and answers with
 * the object as it now is (status), or 204 when the object is gone. */
static int apply(struct rp_http_req *req, struct rp_http_resp *resp, const char *kind,
                 const char *object, json_t *def, int status)
{
    struct rp_api *api = api_of(req);
    struct rp_meta *m;
    int rc;

    if (!object)
        return rp_error_field(&req->err, RP_EINVAL, "name", "required",
                              "field \"name\" is required");
    rc = rp_records_define(api->records, principal_of(req), kind, object, def, &req->err);
    if (rc < 0)
        return rc;
    resp->status = status;
    if (status == 204)
        return 0;
    m = rp_meta_acquire(api->meta);
    rp_meta_object_to_json(rp_meta_object(m, object), &resp->body);
    rp_meta_release(m);
    return 0;
}

/* The JSON object body of a definition, or NULL with req->err set. */
static json_t *definition_body(struct rp_http_req *req)
{
    json_t *body;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 || !(body = api_body_json(req)))
        return NULL;
    if (!json_is_object(body)) {
        rp_error_set(&req->err, RP_EINVAL, "the definition must be a JSON object");
        return NULL;
    }
    return body;
}

static int h_define_object(struct rp_http_req *req, struct rp_http_resp *resp)
{
    json_t *body = definition_body(req);
    if (!body)
        return req->err.code;
    return apply(req, resp, "object", json_string_value(json_object_get(body, "name")), body, 201);
}

static int h_define_field(struct rp_http_req *req, struct rp_http_resp *resp)
{
    json_t *body = definition_body(req);
    if (!body)
        return req->err.code;
    return apply(req, resp, "field", req->params[0], body, 201);
}

static int h_change_object(struct rp_http_req *req, struct rp_http_resp *resp)
{
    json_t *body = definition_body(req);
    if (!body)
        return req->err.code;
    return apply(req, resp, "object_change", req->params[0], body, 200);
}

/* A change or deletion of one field: the body (or {}) with the field named by the path. */
static int field_definition(struct rp_http_req *req, struct rp_http_resp *resp, const char *kind,
                            json_t *body, int status)
{
    json_t *def;
    int rc;

    if (json_object_get(body, "field"))
        return rp_error_field(&req->err, RP_EINVAL, "field", "unknown_field",
                              "unknown key \"field\": the path names the field");
    def = json_deep_copy(body);
    if (!def || json_object_set_new(def, "field", json_string(req->params[1])) < 0) {
        json_decref(def);
        return rp_json_error_alloc(&req->err);
    }
    rc = apply(req, resp, kind, req->params[0], def, status);
    json_decref(def);
    return rc;
}

static int h_change_field(struct rp_http_req *req, struct rp_http_resp *resp)
{
    json_t *body = definition_body(req);
    if (!body)
        return req->err.code;
    return field_definition(req, resp, "field_change", body, 200);
}

static int h_delete_field(struct rp_http_req *req, struct rp_http_resp *resp)
{
    json_t *body;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (!(body = json_object()))
        return rp_json_error_alloc(&req->err);
    rc = field_definition(req, resp, "field_delete", body, 204);
    json_decref(body);
    return rc;
}

static int h_delete_object(struct rp_http_req *req, struct rp_http_resp *resp)
{
    json_t *body;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (!(body = json_object()))
        return rp_json_error_alloc(&req->err);
    rc = apply(req, resp, "object_delete", req->params[0], body, 204);
    json_decref(body);
    return rc;
}

void api_register_meta(struct rp_http_router *r)
{
    rp_http_route(r, RP_HTTP_GET, "/api/v1/meta/objects", 0, h_objects);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/meta/objects", RP_ROUTE_JSON_BODY, h_define_object);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/meta/objects/{object}", 0, h_object);
    rp_http_route(r, RP_HTTP_PATCH, "/api/v1/meta/objects/{object}", RP_ROUTE_JSON_BODY,
                  h_change_object);
    rp_http_route(r, RP_HTTP_DELETE, "/api/v1/meta/objects/{object}", 0, h_delete_object);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/meta/objects/{object}/fields", RP_ROUTE_JSON_BODY,
                  h_define_field);
    rp_http_route(r, RP_HTTP_PATCH, "/api/v1/meta/objects/{object}/fields/{field}",
                  RP_ROUTE_JSON_BODY, h_change_field);
    rp_http_route(r, RP_HTTP_DELETE, "/api/v1/meta/objects/{object}/fields/{field}", 0,
                  h_delete_field);
}
