/*
 * JSON input with limits, on jansson. Bodies are checked for nesting depth
 * and size before jansson allocates anything; duplicate keys are rejected;
 * integers are exact 64-bit.
 */
#ifndef RP_BASE_JSON_H
#define RP_BASE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rp_error;
struct rp_arena;

/**
 * Parses a request body. Returns a new reference (caller decrefs, or registers
 * json_decref with the arena) or NULL with err set: RP_ETOOBIG past max bytes
 * or RP_LIMIT_JSON_DEPTH, RP_EINVAL for malformed JSON or invalid UTF-8,
 */
json_t *rp_json_parse(const char *data, size_t len, size_t max, struct rp_error *err);
/** Like rp_json_parse and the result is released with the arena. */
json_t *rp_json_parse_arena(struct rp_arena *a, const char *data, size_t len, size_t max,
                            struct rp_error *err);
/**
 * json_loadb and json_loads for every caller in src/: the same, except that the fault
 * injection below never fails an allocation inside them (jansson's loader does not survive
 * one; see json.c). A NULL therefore always means text that is not JSON.
 */
json_t *rp_json_loadb(const char *data, size_t len, size_t flags, json_error_t *error);
json_t *rp_json_loads(const char *text, size_t flags, json_error_t *error);
/**
 * The error for a jansson call that returned NULL on valid input: it could not allocate (only
 * under fault injection, see rp_json_init). Sets err to RP_EINTERNAL and returns it.
 */
int rp_json_error_alloc(struct rp_error *err);
/**
 * json_dumps for every caller in src/, exempt from the fault injection below like the loads
 * (jansson's dumper does not survive a failing allocation; see json.c). NULL only for a NULL
 * v, which is what a failed json_pack leaves: then err (may be NULL) is set to RP_EINTERNAL.
 * Caller frees the text.
 */
char *rp_json_dumps(const json_t *v, size_t flags, struct rp_error *err);
/** Serialises compactly into arena memory; NUL-terminated. */
char *rp_json_dump_arena(struct rp_arena *a, const json_t *v, size_t *len);
/** Depth of the deepest nesting of arrays and objects, stopping once limit is passed. */
int rp_json_depth(const char *data, size_t len, int limit);
/**
 * Checks that every key of the object j is one of keys (NULL-terminated). The first that is not
 * is a field error (RP_EVALIDATION, code "unknown_key"): 'unknown key "k" in WHAT; expected a,
 * b, c'. field says where the error points: NULL for the key itself, a text ending in '.' for
 * the key under it (e.g. "steps[2]."), any other text for itself. Returns 0 or the error.
 */
int rp_json_check_keys(const json_t *j, const char *const *keys, const char *what,
                       const char *field, struct rp_error *err);

/**
 * Installs jansson's allocator: malloc that aborts on failure, as rp_xmalloc does (so a NULL
 * from jansson means bad input, never memory, outside fault injection), and arms the fault
 * below from the environment variable RP_FAULT=json:N. rp_app_open calls it last, so N counts
 * from the end of opening. Idempotent.
 */
void rp_json_init(void);
/**
 * Fault injection, in builds with RP_FAULT_INJECTION (the Debug ones, so the ASan build of CI):
 * the nth allocation jansson makes from now on, on any thread, returns NULL, once, so that
 * every json_* call that allocates can be made to fail; n = 0 disarms. Elsewhere it arms
 * nothing. The allocator and its counter are process-wide (json_set_alloc_funcs). Thread-safe.
 */
void rp_json_fault_arm(uint64_t n);
/** True when the fault armed last has fired. */
bool rp_json_fault_fired(void);
/**
 * How many of the calling thread's jansson allocations have failed so far (only injected ones
 * can). A caller that builds JSON with calls that fail quietly (json_object_set_new) compares
 * it before and after; the HTTP layer does so around every handler.
 */
uint64_t rp_json_failed_allocs(void);

#endif
