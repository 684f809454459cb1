/* JSON parsing with limits; see json.h. */
#include "base/json.h"
#include "base/arena.h"
#include "base/err.h"
#include "base/limits.h"

#include <stdbool.h>

int rp_json_depth(const char *s, size_t len, int limit)
{
    int depth = 0, max = 0;
    bool in_str = false;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                max = depth;
            if (max > limit)
                return max;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return max;
}

json_t *rp_json_parse(const char *data, size_t len, size_t max, struct rp_error *err)
{
    json_error_t jerr;
    json_t *v;

    if (len > max) {
        rp_error_set(err, RP_ETOOBIG, "request body of %zu bytes exceeds the limit of %zu bytes",
                     len, max);
        return NULL;
    }
    if (rp_json_depth(data, len, RP_LIMIT_JSON_DEPTH) > RP_LIMIT_JSON_DEPTH) {
        rp_error_set(err, RP_ETOOBIG, "JSON nesting exceeds the limit of %d levels",
                     RP_LIMIT_JSON_DEPTH);
        return NULL;
    }
    v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!v) {
        rp_error_set(err, RP_EINVAL, "malformed JSON at line %d column %d: %s", jerr.line,
                     jerr.column, jerr.text);
        return NULL;
    }
    return v;
}

json_t *rp_json_parse_arena(struct rp_arena *a, const char *data, size_t len, size_t max,
                            struct rp_error *err)
{
    json_t *v = rp_json_parse(data, len, max, err);
    if (v)
        rp_arena_defer(a, (rp_arena_cleanup_fn)json_decref, v);
    return v;
}

char *rp_json_dump_arena(struct rp_arena *a, const json_t *v, size_t *len)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    char *copy;
    if (!s)
        s = rp_xstrdup("null");
    copy = rp_arena_strdup(a, s);
    if (len)
        *len = strlen(copy);
    free(s);
    return copy;
}
