/*
 * Administration of users and access control (docs/api.md, "Access control"): users, roles,
 * permission sets, org-wide defaults and sharing rules under /api/v1/admin, all behind the
 * manage_users permission; and the shares (teams) of one record under
 * /api/v1/records/{object}/{id}/shares, managed by whoever has full access to the record.
 * The services are in auth/auth.h and records/records.h; these handlers only read bodies.
 */
#include "api/api_int.h"
#include "base/time.h"

#include <string.h>

static int need_manage_users(struct rp_http_req *req)
{
    return rp_policy_check(principal_of(req), NULL, RP_ACT_MANAGE_USERS, &req->err);
}

/* An optional string member: NULL when absent or null; 422 for other types. */
static int opt_string(struct rp_http_req *req, const json_t *body, const char *name,
                      const char **out)
{
    const json_t *v = json_object_get(body, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return rp_error_field(&req->err, RP_EVALIDATION, name, "invalid_type",
                              "\"%s\" must be a string or null", name);
    *out = json_string_value(v);
    return 0;
}

static int opt_bool(struct rp_http_req *req, const json_t *body, const char *name, int *out)
{
    const json_t *v = json_object_get(body, name);
    *out = -1;
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return rp_error_field(&req->err, RP_EVALIDATION, name, "invalid_type",
                              "\"%s\" must be true or false", name);
    *out = json_is_true(v);
    return 0;
}

static void created_or_ok(struct rp_http_resp *resp, bool created)
{
    resp->status = created ? 201 : 200;
}

/* ---- roles, permission sets, sharing ---- */

/* Writes one part of the access control: the answer to a GET, and to a change of it. */
static int write_part(struct rp_http_req *req, struct rp_http_resp *resp, enum rp_acl_part part)
{
    struct rp_api *api = api_of(req);
    struct rp_meta *m = rp_meta_acquire(api->meta);
    int rc;

    rp_buf_reset(&resp->body);
    rc = rp_acl_describe(api->auth, part, m, &resp->body, &req->err);
    rp_meta_release(m);
    return rc;
}

static int describe(struct rp_http_req *req, struct rp_http_resp *resp, enum rp_acl_part part)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 || (rc = need_manage_users(req)) < 0)
        return rc;
    return write_part(req, resp, part);
}

/* The checks every change makes before reading its body. */
static const json_t *change_body(struct rp_http_req *req)
{
    if (api_check_params(req, NULL) < 0 || need_manage_users(req) < 0)
        return NULL;
    return api_body_json(req);
}

static int h_roles(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return describe(req, resp, RP_ACL_ROLES);
}

static int h_sets(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return describe(req, resp, RP_ACL_PERMISSION_SETS);
}

static int h_sharing(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return describe(req, resp, RP_ACL_SHARING);
}

static int h_rules(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return describe(req, resp, RP_ACL_SHARING_RULES);
}

static int h_role_put(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const keys[] = {"label", "parent", "export_rows_per_hour", "export_block",
                                       NULL};
    struct rp_auth_client client = api_client_of(req);
    struct rp_role_def r = {.name = req->params[0], .export_rows_per_hour = -1};
    const json_t *body, *rows;
    int block, rc;
    bool created;

    if (!(body = change_body(req)))
        return req->err.code;
    if ((rc = api_check_body_keys(req, body, keys)) < 0 ||
        (rc = opt_string(req, body, "label", &r.label)) < 0 ||
        (rc = opt_string(req, body, "parent", &r.parent)) < 0 ||
        (rc = opt_bool(req, body, "export_block", &block)) < 0)
        return rc;
    rows = json_object_get(body, "export_rows_per_hour");
    if (rows && !json_is_null(rows)) {
        if (!json_is_integer(rows) || json_integer_value(rows) < 0)
            return rp_error_field(&req->err, RP_EVALIDATION, "export_rows_per_hour", "invalid",
                                  "\"export_rows_per_hour\" must be a number of rows or null");
        r.export_rows_per_hour = json_integer_value(rows);
    }
    r.export_block = block == 1;
    if (!r.label)
        r.label = r.name;
    if ((rc = rp_acl_role_put(api_of(req)->auth, &client, &r, &created, &req->err)) < 0)
        return rc;
    created_or_ok(resp, created);
    return write_part(req, resp, RP_ACL_ROLES);
}

static int h_role_delete(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct rp_auth_client client = api_client_of(req);
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 || (rc = need_manage_users(req)) < 0 ||
        (rc = rp_acl_role_delete(api_of(req)->auth, &client, req->params[0], &req->err)) < 0)
        return rc;
    resp->status = 204;
    return 0;
}

static int h_set_put(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const keys[] = {"label", "definition", NULL};
    struct rp_auth_client client = api_client_of(req);
    const json_t *body, *def;
    const char *label;
    bool created;
    int rc;

    if (!(body = change_body(req)))
        return req->err.code;
    if ((rc = api_check_body_keys(req, body, keys)) < 0 ||
        (rc = opt_string(req, body, "label", &label)) < 0)
        return rc;
    if (!(def = json_object_get(body, "definition")))
        return rp_error_field(&req->err, RP_EVALIDATION, "definition", "required",
                              "\"definition\" is required");
    if ((rc = rp_acl_set_put(api_of(req)->auth, &client, req->params[0],
                             label ? label : req->params[0], def, &created, &req->err)) < 0)
        return rc;
    created_or_ok(resp, created);
    return write_part(req, resp, RP_ACL_PERMISSION_SETS);
}

static int h_set_delete(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct rp_auth_client client = api_client_of(req);
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 || (rc = need_manage_users(req)) < 0 ||
        (rc = rp_acl_set_delete(api_of(req)->auth, &client, req->params[0], &req->err)) < 0)
        return rc;
    resp->status = 204;
    return 0;
}

static int h_sharing_put(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const keys[] = {"default_access", NULL};
    struct rp_auth_client client = api_client_of(req);
    struct rp_api *api = api_of(req);
    const struct rp_object *o;
    const json_t *body;
    const char *access;
    struct rp_meta *m;
    int rc;

    if (!(body = change_body(req)))
        return req->err.code;
    if ((rc = api_check_body_keys(req, body, keys)) < 0 ||
        (rc = opt_string(req, body, "default_access", &access)) < 0)
        return rc;
    m = rp_meta_acquire(api->meta);
    if (!(o = rp_meta_object(m, req->params[0])))
        rc = rp_error_set(&req->err, RP_ENOTFOUND, "object \"%s\" does not exist", req->params[0]);
    else
        rc = rp_acl_sharing_put(api->auth, &client, o, access, &req->err);
    if (rc == 0) {
        rp_buf_adds(&resp->body, "{\"object\":");
        rp_buf_add_json_str(&resp->body, o->name, strlen(o->name));
        rp_buf_addf(&resp->body, ",\"default_access\":\"%s\",\"catalogue_default\":\"%s\"}",
                    access ? access : rp_sharing_name(o->sharing), rp_sharing_name(o->sharing));
    }
    rp_meta_release(m);
    return rc;
}

static int h_rule_put(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const keys[] = {"object",       "criteria", "role",
                                       "subordinates", "access",   NULL};
    struct rp_auth_client client = api_client_of(req);
    struct rp_api *api = api_of(req);
    struct rp_sharing_rule_def r = {.name = req->params[0], .access = RP_ACCESS_READ};
    const json_t *body;
    const char *access;
    struct rp_meta *m;
    int subordinates, rc;
    bool created;

    if (!(body = change_body(req)))
        return req->err.code;
    if ((rc = api_check_body_keys(req, body, keys)) < 0 ||
        (rc = opt_string(req, body, "object", &r.object)) < 0 ||
        (rc = opt_string(req, body, "criteria", &r.criteria)) < 0 ||
        (rc = opt_string(req, body, "role", &r.role)) < 0 ||
        (rc = opt_string(req, body, "access", &access)) < 0 ||
        (rc = opt_bool(req, body, "subordinates", &subordinates)) < 0)
        return rc;
    r.subordinates = subordinates == 1;
    if (access)
        r.access = strcmp(access, "edit") == 0   ? RP_ACCESS_EDIT
                   : strcmp(access, "read") == 0 ? RP_ACCESS_READ
                                                 : RP_ACCESS_NONE;
    m = rp_meta_acquire(api->meta);
    rc = rp_acl_rule_put(api->auth, &client, m, &r, &created, &req->err);
    rp_meta_release(m);
    if (rc < 0)
        return rc;
    created_or_ok(resp, created);
    return write_part(req, resp, RP_ACL_SHARING_RULES);
}

static int h_rule_delete(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct rp_auth_client client = api_client_of(req);
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 || (rc = need_manage_users(req)) < 0 ||
        (rc = rp_acl_rule_delete(api_of(req)->auth, &client, req->params[0], &req->err)) < 0)
        return rc;
    resp->status = 204;
    return 0;
}

/* ---- users ---- */

static void user_json(struct rp_api *api, struct rp_buf *b, const struct rp_user_info *u)
{
    rp_buf_adds(b, "{\"id\":");
    rp_buf_add_json_str(b, u->id, strlen(u->id));
    rp_buf_adds(b, ",\"username\":");
    rp_buf_add_json_str(b, u->username, strlen(u->username));
    rp_buf_adds(b, ",\"display_name\":");
    rp_buf_add_json_str(b, u->display_name, strlen(u->display_name));
    rp_buf_adds(b, ",\"email\":");
    if (u->email[0])
        rp_buf_add_json_str(b, u->email, strlen(u->email));
    else
        rp_buf_adds(b, "null");
    rp_buf_addf(b, ",\"is_admin\":%s,\"active\":%s,\"created_at\":\"",
                u->is_admin ? "true" : "false", u->active ? "true" : "false");
    rp_time_format_datetime(b, u->created_at);
    rp_buf_addc(b, '"');
    rp_acl_user_json(api->auth, u->id, b);
    rp_buf_addc(b, '}');
}

struct user_list {
    struct rp_api *api;
    struct rp_buf *out;
    size_t n;
};

static void user_row(void *ctx, const struct rp_user_info *u)
{
    struct user_list *l = ctx;
    if (l->n++)
        rp_buf_addc(l->out, ',');
    user_json(l->api, l->out, u);
}

static int h_users(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct user_list l = {.api = api_of(req), .out = &resp->body};
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 || (rc = need_manage_users(req)) < 0)
        return rc;
    rp_buf_adds(&resp->body, "{\"data\":[");
    if ((rc = rp_auth_user_list(l.api->auth, user_row, &l, &req->err)) < 0)
        return rc;
    rp_buf_adds(&resp->body, "]}");
    return 0;
}

struct user_find {
    const char *id;
    struct rp_user_info u;
    bool found;
};

static void user_find_row(void *ctx, const struct rp_user_info *u)
{
    struct user_find *f = ctx;
    if (strcmp(u->id, f->id) == 0) {
        f->u = *u;
        f->found = true;
    }
}

/* Writes the user with id to the response, or RP_ENOTFOUND. */
static int write_user(struct rp_http_req *req, struct rp_http_resp *resp, const char *id)
{
    struct user_find f = {.id = id};
    int rc;

    if ((rc = rp_auth_user_list(api_of(req)->auth, user_find_row, &f, &req->err)) < 0)
        return rc;
    if (!f.found)
        return rp_error_set(&req->err, RP_ENOTFOUND, "user \"%s\" not found", id);
    rp_buf_reset(&resp->body);
    user_json(api_of(req), &resp->body, &f.u);
    return 0;
}

static int h_user(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 || (rc = need_manage_users(req)) < 0)
        return rc;
    return write_user(req, resp, req->params[0]);
}

/* Reads the assignment members of a user body into u (names borrowed from body). */
static int user_update_from(struct rp_http_req *req, const json_t *body, struct rp_user_update *u)
{
    const json_t *v;
    int rc;

    memset(u, 0, sizeof(*u));
    u->active = -1;
    u->is_admin = -1;
    if ((v = json_object_get(body, "role"))) {
        if (!json_is_null(v) && !json_is_string(v))
            return rp_error_field(&req->err, RP_EVALIDATION, "role", "invalid_type",
                                  "\"role\" must be a role name or null");
        u->set_role = true;
        u->role = json_string_value(v);
    }
    if ((v = json_object_get(body, "permission_sets"))) {
        const char **sets;
        size_t i;
        json_t *e;
        if (!json_is_array(v) || json_array_size(v) > 32)
            return rp_error_field(&req->err, RP_EVALIDATION, "permission_sets", "invalid_type",
                                  "\"permission_sets\" must be an array of at most 32 names");
        sets = rp_arena_calloc(&req->arena, json_array_size(v) + 1, sizeof(char *));
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e))
                return rp_error_field(&req->err, RP_EVALIDATION, "permission_sets", "invalid_type",
                                      "\"permission_sets\" must hold names");
            sets[i] = json_string_value(e);
        }
        u->set_sets = true;
        u->sets = sets;
        u->nsets = json_array_size(v);
    }
    if ((v = json_object_get(body, "attributes"))) {
        u->set_attributes = true;
        u->attributes = json_is_null(v) ? NULL : v;
    }
    if ((rc = opt_bool(req, body, "active", &u->active)) < 0 ||
        (rc = opt_bool(req, body, "is_admin", &u->is_admin)) < 0 ||
        (rc = opt_string(req, body, "display_name", &u->display_name)) < 0 ||
        (rc = opt_string(req, body, "email", &u->email)) < 0)
        return rc;
    if (json_is_null(json_object_get(body, "email")))
        u->email = "";
    /* manage_users is not administration: only administrators make or unmake them. */
    if (u->is_admin >= 0 && !principal_of(req)->is_admin)
        return rp_error_field(&req->err, RP_EFORBIDDEN, "is_admin", "forbidden",
                              "only administrators may change \"is_admin\"");
    return 0;
}

static int h_user_create(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const keys[] = {"username",        "password",   "display_name",
                                       "email",           "is_admin",   "role",
                                       "permission_sets", "attributes", NULL};
    struct rp_auth_client client = api_client_of(req);
    struct rp_api *api = api_of(req);
    struct rp_user_update u;
    struct rp_user_info info;
    const char *username, *password;
    const json_t *body;
    int rc;

    if (!(body = change_body(req)))
        return req->err.code;
    if ((rc = api_check_body_keys(req, body, keys)) < 0 ||
        (rc = opt_string(req, body, "username", &username)) < 0 ||
        (rc = opt_string(req, body, "password", &password)) < 0 ||
        (rc = user_update_from(req, body, &u)) < 0)
        return rc;
    if ((rc = rp_auth_user_add(api->auth, username, password, u.display_name, u.is_admin == 1,
                               &info, &req->err)) < 0)
        return rc;
    /* The rest is an update of the new user, audited as a permission change. */
    u.display_name = NULL;
    u.is_admin = -1;
    if ((u.set_role || u.set_sets || u.set_attributes || u.email) &&
        (rc = rp_auth_user_update(api->auth, &client, info.id, &u, &req->err)) < 0)
        return rc;
    resp->status = 201;
    {
        char *loc = rp_arena_sprintf(&req->arena, "/api/v1/admin/users/%s", info.id);
        rp_http_resp_header(req, resp, "Location", loc);
    }
    return write_user(req, resp, info.id);
}

static int h_user_update(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const keys[] = {"display_name", "email",           "is_admin",   "active",
                                       "role",         "permission_sets", "attributes", NULL};
    struct rp_auth_client client = api_client_of(req);
    struct rp_user_update u;
    const json_t *body;
    int rc;

    if (!(body = change_body(req)))
        return req->err.code;
    if ((rc = api_check_body_keys(req, body, keys)) < 0 ||
        (rc = user_update_from(req, body, &u)) < 0)
        return rc;
    if (strcmp(req->params[0], principal_of(req)->user_id) == 0 &&
        (u.active == 0 || u.is_admin == 0))
        return rp_error_set(&req->err, RP_ECONFLICT,
                            "you cannot deactivate yourself or take away your own administration");
    if ((rc = rp_auth_user_update(api_of(req)->auth, &client, req->params[0], &u, &req->err)) < 0)
        return rc;
    return write_user(req, resp, req->params[0]);
}

/* ---- the shares (team) of one record ---- */

static int h_shares(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    return rp_records_shares(api_of(req)->records, principal_of(req), req->params[0],
                             req->params[1], &req->arena, &resp->body, &req->err);
}

static int h_share_put(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const keys[] = {"access", "team_role", NULL};
    const char *access = NULL, *team_role;
    enum rp_access_level level = RP_ACCESS_NONE;
    const json_t *body;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (!(body = api_body_json(req)))
        return req->err.code;
    if ((rc = api_check_body_keys(req, body, keys)) < 0 ||
        (rc = opt_string(req, body, "access", &access)) < 0 ||
        (rc = opt_string(req, body, "team_role", &team_role)) < 0)
        return rc;
    if (access && strcmp(access, "read") == 0)
        level = RP_ACCESS_READ;
    else if (access && strcmp(access, "edit") == 0)
        level = RP_ACCESS_EDIT;
    if ((rc = rp_records_share_put(api_of(req)->records, principal_of(req), req->params[0],
                                   req->params[1], req->params[2], level, team_role,
                                   req->request_id, &req->arena, &req->err)) < 0)
        return rc;
    return h_shares(req, resp);
}

static int h_share_delete(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 ||
        (rc = rp_records_share_delete(api_of(req)->records, principal_of(req), req->params[0],
                                      req->params[1], req->params[2], req->request_id, &req->arena,
                                      &req->err)) < 0)
        return rc;
    resp->status = 204;
    return 0;
}

/* ---- installation settings ---- */

static int h_setting(struct rp_http_req *req, struct rp_http_resp *resp)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    return rp_records_setting_get(api_of(req)->records, principal_of(req), req->params[0],
                                  &req->arena, &resp->body, &req->err);
}

static int h_setting_put(struct rp_http_req *req, struct rp_http_resp *resp)
{
    static const char *const keys[] = {"value", NULL};
    const json_t *body, *v;
    char *text = NULL;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (!(body = api_body_json(req)))
        return req->err.code;
    if ((rc = api_check_body_keys(req, body, keys)) < 0)
        return rc;
    v = json_object_get(body, "value");
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        text = rp_arena_sprintf(&req->arena, "%lld", (long long)json_integer_value(v));
    else if (json_is_string(v))
        text = rp_arena_strdup(&req->arena, json_string_value(v));
    else if (!json_is_null(v))
        return rp_error_field(&req->err, RP_EVALIDATION, "value", "invalid_type",
                              "\"value\" is a string, a count or null (unset)");
    if ((rc = rp_records_setting_put(api_of(req)->records, principal_of(req), req->params[0], text,
                                     req->request_id, &req->arena, &req->err)) < 0)
        return rc;
    return h_setting(req, resp);
}

/* ---- named definitions: /api/v1/definitions/{kind}[/{name}], and the paths that name a kind ---- */

int api_definitions_get(struct rp_http_req *req, struct rp_http_resp *resp, const char *kind,
                        const char *name)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    return rp_records_definitions(api_of(req)->records, principal_of(req), kind, name, &resp->body,
                                  &req->err);
}

int api_definition_put(struct rp_http_req *req, struct rp_http_resp *resp, const char *kind,
                       const char *name)
{
    const json_t *body;
    bool created = false;
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0)
        return rc;
    if (!(body = api_body_json(req)))
        return req->err.code;
    if ((rc = rp_records_definition_put(api_of(req)->records, principal_of(req), kind, name, body,
                                        &created, &req->err)) < 0)
        return rc;
    resp->status = created ? 201 : 200;
    return rp_records_definitions(api_of(req)->records, principal_of(req), kind, name, &resp->body,
                                  &req->err);
}

int api_definition_delete(struct rp_http_req *req, struct rp_http_resp *resp, const char *kind,
                          const char *name)
{
    int rc;

    if ((rc = api_check_params(req, NULL)) < 0 ||
        (rc = rp_records_definition_delete(api_of(req)->records, principal_of(req), kind, name,
                                           &req->err)) < 0)
        return rc;
    resp->status = 204;
    return 0;
}

static int h_definitions(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return api_definitions_get(req, resp, req->params[0], NULL);
}

static int h_definition(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return api_definitions_get(req, resp, req->params[0], req->params[1]);
}

static int h_definition_put(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return api_definition_put(req, resp, req->params[0], req->params[1]);
}

static int h_definition_delete(struct rp_http_req *req, struct rp_http_resp *resp)
{
    return api_definition_delete(req, resp, req->params[0], req->params[1]);
}

void api_register_admin(struct rp_http_router *r)
{
    const unsigned J = RP_ROUTE_JSON_BODY;
    rp_http_route(r, RP_HTTP_GET, "/api/v1/admin/users", 0, h_users);
    rp_http_route(r, RP_HTTP_POST, "/api/v1/admin/users", J, h_user_create);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/admin/users/{id}", 0, h_user);
    rp_http_route(r, RP_HTTP_PATCH, "/api/v1/admin/users/{id}", J, h_user_update);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/admin/roles", 0, h_roles);
    rp_http_route(r, RP_HTTP_PUT, "/api/v1/admin/roles/{name}", J, h_role_put);
    rp_http_route(r, RP_HTTP_DELETE, "/api/v1/admin/roles/{name}", 0, h_role_delete);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/admin/permission-sets", 0, h_sets);
    rp_http_route(r, RP_HTTP_PUT, "/api/v1/admin/permission-sets/{name}", J, h_set_put);
    rp_http_route(r, RP_HTTP_DELETE, "/api/v1/admin/permission-sets/{name}", 0, h_set_delete);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/admin/sharing", 0, h_sharing);
    rp_http_route(r, RP_HTTP_PUT, "/api/v1/admin/sharing/{object}", J, h_sharing_put);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/admin/sharing-rules", 0, h_rules);
    rp_http_route(r, RP_HTTP_PUT, "/api/v1/admin/sharing-rules/{name}", J, h_rule_put);
    rp_http_route(r, RP_HTTP_DELETE, "/api/v1/admin/sharing-rules/{name}", 0, h_rule_delete);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/definitions/{kind}", 0, h_definitions);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/definitions/{kind}/{name}", 0, h_definition);
    rp_http_route(r, RP_HTTP_PUT, "/api/v1/definitions/{kind}/{name}", J, h_definition_put);
    rp_http_route(r, RP_HTTP_DELETE, "/api/v1/definitions/{kind}/{name}", 0, h_definition_delete);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/admin/settings/{key}", 0, h_setting);
    rp_http_route(r, RP_HTTP_PUT, "/api/v1/admin/settings/{key}", J, h_setting_put);
    rp_http_route(r, RP_HTTP_GET, "/api/v1/records/{object}/{id}/shares", 0, h_shares);
    rp_http_route(r, RP_HTTP_PUT, "/api/v1/records/{object}/{id}/shares/{user_id}", J, h_share_put);
    rp_http_route(r, RP_HTTP_DELETE, "/api/v1/records/{object}/{id}/shares/{user_id}", 0,
                  h_share_delete);
}
