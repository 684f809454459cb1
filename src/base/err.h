/*
 * Error codes and client-facing error detail.
 *
 * Every action returns 0 or a negative RP_E* code from one X-macro table that
 * also gives the HTTP status, the problem+json "code" and a default title.
 * Detail for the client goes into a struct rp_error (PostgreSQL message style:
 * lower case, quoted values, no trailing period); SQL text and errno strings
 * go only to the log.
 */
#ifndef RP_BASE_ERR_H
#define RP_BASE_ERR_H

#include <stdarg.h>
#include <stddef.h>

struct rp_arena;

/* name, HTTP status, problem code, title */
#define RP_ERR_MAP(X)                                                        \
    X(EINVAL, 400, "invalid_request", "Invalid request")                     \
    X(EVALIDATION, 422, "validation_failed", "Validation failed")            \
    X(EUNAUTH, 401, "unauthenticated", "Authentication required")            \
    X(EFORBIDDEN, 403, "forbidden", "Forbidden")                             \
    X(ENOTFOUND, 404, "not_found", "Not found")                              \
    X(EMETHOD, 405, "method_not_allowed", "Method not allowed")              \
    X(ECONFLICT, 409, "conflict", "Conflict")                                \
    X(EPRECONDITION, 412, "precondition_failed", "Precondition failed")      \
    X(ETOOBIG, 413, "payload_too_large", "Payload too large")                \
    X(EUNSUPPORTED, 415, "unsupported_media_type", "Unsupported media type") \
    X(ERATELIMIT, 429, "rate_limited", "Too many requests")                  \
    X(EBUSY, 503, "overloaded", "Service overloaded")                        \
    X(ETIMEOUT, 504, "timeout", "Timed out")                                 \
    X(EDB, 500, "internal", "Database error")                                \
    X(EIO, 500, "internal", "I/O error")                                     \
    X(EINTERNAL, 500, "internal", "Internal error")                          \
    X(EDUPLICATE, 409, "duplicate", "Duplicate record")

enum rp_err {
    RP_OK = 0,
#define RP_ERR_ENUM(name, status, code, title) RP_##name,
    RP_ERR_FIRST_ = -1000,
    RP_ERR_MAP(RP_ERR_ENUM)
#undef RP_ERR_ENUM
        RP_ERR_LAST_
};

/** Name of a code, e.g. "EINVAL"; "OK" for 0, "EUNKNOWN" for anything else. */
const char *rp_err_name(int code);
/** HTTP status for a code (500 for unknown codes). */
int rp_err_http_status(int code);
/** Machine-readable problem code, e.g. "validation_failed". */
const char *rp_err_problem_code(int code);
/** Default human title, e.g. "Validation failed". */
const char *rp_err_title(int code);

/** One field problem: the problem+json "errors" array holds these. */
struct rp_field_error {
    const char *field;   /* API field name, may be a dotted path */
    const char *code;    /* e.g. "required", "invalid_type", "unknown_field" */
    const char *message; /* human message */
};

#define RP_ERROR_MAX_FIELDS 32

/**
 * Client-facing detail of a failed action. All strings live in the arena the
 * error was initialised with, so an rp_error never needs freeing.
 */
struct rp_error {
    int code;           /* RP_E*, 0 while no error is set */
    const char *detail; /* one sentence for the client */
    size_t nfields;
    struct rp_field_error fields[RP_ERROR_MAX_FIELDS];
    /* private */
    struct rp_arena *_arena;
};

void rp_error_init(struct rp_error *e, struct rp_arena *arena);
/**
 * Sets code and detail (printf format) unless an error is already set; the
 * first error wins. Returns code so callers can write `return rp_error_set(...)`.
 */
int rp_error_set(struct rp_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int rp_error_setv(struct rp_error *e, int code, const char *fmt, va_list ap);
/**
 * Adds a field problem and sets code (usually RP_EVALIDATION or RP_EINVAL)
 * if none is set yet. The detail becomes the first field message when unset.
 * Problems past RP_ERROR_MAX_FIELDS are dropped. Returns the error's code.
 */
int rp_error_field(struct rp_error *e, int code, const char *field, const char *fcode,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
struct rp_buf;
/**
 * Appends the members of an RFC 9457 problem for e, without the enclosing braces:
 * "type", "title", "status", "code", "detail" (e's detail, else the title of code) and, when
 * e has field problems, "errors". code and status are given because a transport may answer
 * with a code or status of its own (414, 431) while e is unset.
 */
void rp_error_problem_members(const struct rp_error *e, int code, int status, struct rp_buf *out);
/**
 * Sets dst to src unless dst is already set (the first error wins): code, detail and field
 * problems, copied into dst's arena so that src's arena may be released. Returns dst's code.
 */
int rp_error_copy(struct rp_error *dst, const struct rp_error *src);
/** Forgets any set error. */
void rp_error_clear(struct rp_error *e);

#endif
