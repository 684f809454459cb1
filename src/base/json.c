/* JSON parsing with limits; see json.h. */
#include "base/json.h"
#include "base/arena.h"
#include "base/err.h"
#include "base/limits.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#ifndef RP_FAULT_INJECTION
#define RP_FAULT_INJECTION 0
#endif

/*
 * jansson's allocator is one per process, so the fault counter is too (the exception to "no
 * writable statics outside app/": there is nothing to hang it on). jansson 2.14's loader and
 * dumper are not safe against a failing allocation: the torture test found the loader writing
 * through NULL while parsing an object, and json_dumps with JSON_SORT_KEYS ignoring a failure
 * to write a key and returning text that is not JSON. So loads and dumps through this file are
 * exempt, and outside injection the allocator aborts as rp_xmalloc does, which is what keeps a
 * real shortage from reaching them.
 */
static _Atomic uint64_t fault_left; /* allocations until the injected failure; 0 = none */
static _Atomic bool fault_fired;
static atomic_flag installed = ATOMIC_FLAG_INIT;
static _Thread_local bool loading; /* inside jansson's loader or dumper: no injected failure */
static _Thread_local uint64_t failed_allocs; /* allocations of this thread that returned NULL */

static void *json_malloc(size_t n)
{
    uint64_t left = RP_FAULT_INJECTION && !loading ? atomic_load(&fault_left) : 0;

    while (left > 0) {
        if (atomic_compare_exchange_weak(&fault_left, &left, left - 1)) {
            if (left == 1) {
                atomic_store(&fault_fired, true);
                failed_allocs++;
                return NULL;
            }
            break;
        }
    }
    return rp_xmalloc(n ? n : 1);
}

static void json_free(void *p)
{
    free(p);
}

static void install(void)
{
    /* Both functions wrap malloc and free, so blocks allocated before the switch free alike. */
    if (!atomic_flag_test_and_set(&installed))
        json_set_alloc_funcs(json_malloc, json_free);
}

void rp_json_init(void)
{
    const char *f = getenv("RP_FAULT");

    install();
    if (f && strncmp(f, "json:", 5) == 0)
        rp_json_fault_arm(strtoull(f + 5, NULL, 10));
}

void rp_json_fault_arm(uint64_t n)
{
    if (!RP_FAULT_INJECTION)
        return;
    install();
    atomic_store(&fault_fired, false);
    atomic_store(&fault_left, n);
}

bool rp_json_fault_fired(void)
{
    return atomic_load(&fault_fired);
}

uint64_t rp_json_failed_allocs(void)
{
    return failed_allocs;
}

json_t *rp_json_loadb(const char *data, size_t len, size_t flags, json_error_t *error)
{
    json_t *v;

    loading = true;
    v = json_loadb(data, len, flags, error);
    loading = false;
    return v;
}

int rp_json_error_alloc(struct rp_error *err)
{
    return rp_error_set(err, RP_EINTERNAL, "could not allocate memory for JSON");
}

char *rp_json_dumps(const json_t *v, size_t flags, struct rp_error *err)
{
    char *text = NULL;

    if (v) {
        loading = true;
        text = json_dumps(v, flags);
        loading = false;
    }
    if (!text && err)
        rp_json_error_alloc(err);
    return text;
}

json_t *rp_json_loads(const char *text, size_t flags, json_error_t *error)
{
    return rp_json_loadb(text, strlen(text), flags, error);
}

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
    v = rp_json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
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
    char *s = rp_json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY, NULL);
    char *copy;
    if (!s)
        s = rp_xstrdup("null");
    copy = rp_arena_strdup(a, s);
    if (len)
        *len = strlen(copy);
    free(s);
    return copy;
}

int rp_json_check_keys(const json_t *j, const char *const *keys, const char *what,
                       const char *field, struct rp_error *err)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)j, key, v)
    {
        char expected[512] = "", where[256];
        size_t k, n = 0;

        for (k = 0; keys[k] && strcmp(keys[k], key) != 0; k++)
            ;
        if (keys[k])
            continue;
        for (k = 0; keys[k] && n < sizeof(expected); k++)
            n += (size_t)snprintf(expected + n, sizeof(expected) - n, "%s%s", k ? ", " : "",
                                  keys[k]);
        if (!field)
            snprintf(where, sizeof(where), "%s", key);
        else if (*field && field[strlen(field) - 1] == '.')
            snprintf(where, sizeof(where), "%s%s", field, key);
        else
            snprintf(where, sizeof(where), "%s", field);
        return rp_error_field(err, RP_EVALIDATION, where, "unknown_key",
                              "unknown key \"%s\" in %s; expected %s", key, what, expected);
    }
    return 0;
}
