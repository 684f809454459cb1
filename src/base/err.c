/* The error table and struct rp_error; see err.h. */
#include "base/err.h"
#include "base/arena.h"
#include "base/buf.h"

struct err_entry {
    int code;
    const char *name;
    int status;
    const char *problem;
    const char *title;
};

static const struct err_entry err_table[] = {
#define RP_ERR_ROW(name, status, code, title) {RP_##name, #name, status, code, title},
    RP_ERR_MAP(RP_ERR_ROW)
#undef RP_ERR_ROW
};

static const struct err_entry *err_lookup(int code)
{
    if (code <= RP_ERR_FIRST_ || code >= RP_ERR_LAST_)
        return NULL;
    return &err_table[code - RP_ERR_FIRST_ - 1];
}

const char *rp_err_name(int code)
{
    const struct err_entry *e = err_lookup(code);
    if (code == 0)
        return "OK";
    return e ? e->name : "EUNKNOWN";
}

int rp_err_http_status(int code)
{
    const struct err_entry *e = err_lookup(code);
    return e ? e->status : 500;
}

const char *rp_err_problem_code(int code)
{
    const struct err_entry *e = err_lookup(code);
    return e ? e->problem : "internal";
}

const char *rp_err_title(int code)
{
    const struct err_entry *e = err_lookup(code);
    return e ? e->title : "Internal error";
}

void rp_error_init(struct rp_error *e, struct rp_arena *arena)
{
    memset(e, 0, sizeof(*e));
    e->_arena = arena;
}

void rp_error_clear(struct rp_error *e)
{
    rp_error_init(e, e->_arena);
}

int rp_error_copy(struct rp_error *dst, const struct rp_error *src)
{
    if (dst->code != 0 || src->code == 0)
        return dst->code;
    for (size_t i = 0; i < src->nfields; i++)
        rp_error_field(dst, src->code, src->fields[i].field, src->fields[i].code, "%s",
                       src->fields[i].message);
    if (dst->code == 0)
        return rp_error_set(dst, src->code, "%s", src->detail ? src->detail : "");
    if (src->detail && dst->_arena)
        dst->detail = rp_arena_strdup(dst->_arena, src->detail);
    return dst->code;
}

int rp_error_setv(struct rp_error *e, int code, const char *fmt, va_list ap)
{
    if (e->code != 0)
        return e->code;
    e->code = code;
    /* Without an arena there is nowhere to keep a message: the title stands in. */
    e->detail = e->_arena ? rp_arena_vsprintf(e->_arena, fmt, ap) : rp_err_title(code);
    return code;
}

int rp_error_set(struct rp_error *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    code = rp_error_setv(e, code, fmt, ap);
    va_end(ap);
    return code;
}

int rp_error_field(struct rp_error *e, int code, const char *field, const char *fcode,
                   const char *fmt, ...)
{
    va_list ap;
    const char *msg;

    if (!e->_arena)
        return rp_error_set(e, code, "%s", rp_err_title(code));
    va_start(ap, fmt);
    msg = rp_arena_vsprintf(e->_arena, fmt, ap);
    va_end(ap);
    if (e->code == 0) {
        e->code = code;
        e->detail = msg;
    }
    if (e->nfields < RP_ERROR_MAX_FIELDS) {
        struct rp_field_error *f = &e->fields[e->nfields++];
        f->field = rp_arena_strdup(e->_arena, field);
        f->code = fcode;
        f->message = msg;
    }
    return e->code;
}

static void add_str(struct rp_buf *out, const char *s)
{
    rp_buf_add_json_str(out, s, strlen(s));
}

void rp_error_problem_members(const struct rp_error *e, int code, int status, struct rp_buf *out)
{
    const char *detail = e->detail ? e->detail : rp_err_title(code);

    rp_buf_adds(out, "\"type\":\"about:blank\",\"title\":");
    add_str(out, rp_err_title(code));
    rp_buf_adds(out, ",\"status\":");
    rp_buf_add_i64(out, status);
    rp_buf_adds(out, ",\"code\":");
    add_str(out, rp_err_problem_code(code));
    rp_buf_adds(out, ",\"detail\":");
    add_str(out, detail);
    if (e->nfields == 0)
        return;
    rp_buf_adds(out, ",\"errors\":[");
    for (size_t i = 0; i < e->nfields; i++) {
        const struct rp_field_error *f = &e->fields[i];
        rp_buf_adds(out, i ? ",{\"field\":" : "{\"field\":");
        add_str(out, f->field ? f->field : "");
        rp_buf_adds(out, ",\"code\":");
        add_str(out, f->code ? f->code : "invalid");
        rp_buf_adds(out, ",\"message\":");
        add_str(out, f->message ? f->message : "");
        rp_buf_addc(out, '}');
    }
    rp_buf_addc(out, ']');
}
