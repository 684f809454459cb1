/* /api/v1/meta/...: object descriptions and custom objects and fields. */
#include "api/api_int.h"

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

static int define(struct rp_http_req *req, struct rp_http_resp *resp, const char *kind)
{
    struct rp_api *api = api_of(req);
    const char *object;
    struct rp_meta *m;
    json_t *body;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 || !(body = api_body_json(req)))
        return rc < 0 ? rc : req->err.code;
    if (!json_is_object(body))
        return rp_error_set(&req->err, RP_EINVAL, "the definition must be a JSON object");
    object = strcmp(kind, "object") == 0 ? json_string_value(json_object_get(body, "name"))
                                         : req->params[0];
    if (!object)
        return rp_error_field(&req->err, RP_EINVAL, "name", "required",
                              "field \"name\" is required");
    rc = rp_records_define(api->records, principal_of(req), kind, object, body, &req->err);
    if (rc < 0)
        return rc;
    m = rp_meta_acquire(api->meta);
    resp->status = 201;
    rp_meta_object_to_json(rp_meta_object(m, object), &resp->body);
    rp_meta_release(m);
    return 0;
}

static int h_define_object(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return define(req, resp, "object");
}

static int h_define_field(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return define(req, resp, "field");
}

void api_register_meta(struct rp_http_router *r)
{
    rp_http_route(r, RP_HTTP_GET, "/api/v1/meta/objects", 0, h_objects);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/meta/objects", RP_ROUTE_JSON_BODY, h_define_object);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/meta/objects/{object}", 0, h_object);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/meta/objects/{object}/fields", RP_ROUTE_JSON_BODY,
                  h_define_field);
}
