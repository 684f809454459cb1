/* Borrowed string slices for parsing without copies (h2o iovec). */
#ifndef RP_BASE_STR_H
#define RP_BASE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct rp_str {
    const char *p;
    size_t len;
};

static inline struct rp_str rp_str_c(const char *s)
{
    struct rp_str r = {s, s ? strlen(s) : 0};
    return r;
}

static inline bool rp_str_eq(struct rp_str a, const char *b)
{
    size_t n = strlen(b);
    return a.len == n && memcmp(a.p, b, n) == 0;
}

/** True if s is an API name: [a-z][a-z0-9_]*, at most RP_LIMIT_NAME_BYTES. */
bool rp_str_is_api_name(const char *s, size_t n);

/** rp_str_is_api_name of a C string (NULL: false): names of roles, rules, webhooks... */
static inline bool rp_str_is_name(const char *s)
{
    return s && rp_str_is_api_name(s, strlen(s));
}

#endif
