/*
 * JSON input with limits, on jansson. Bodies are checked for nesting depth
 * and size before jansson allocates anything; duplicate keys are rejected;
 * integers are exact 64-bit.
 */
#ifndef RP_BASE_JSON_H
#define RP_BASE_JSON_H

#include <jansson.h>
#include <stddef.h>

struct rp_error;
struct rp_arena;

/**
 * Parses a request body. Returns a new reference (caller decrefs, or registers
 * json_decref with the arena) or NULL with err set: RP_ETOOBIG past max bytes
 * or RP_LIMIT_JSON_DEPTH, RP_EINVAL for malformed JSON or invalid UTF-8.
 */
json_t *rp_json_parse(const char *data, size_t len, size_t max, struct rp_error *err);
/** Like rp_json_parse and the result is released with the arena. */
json_t *rp_json_parse_arena(struct rp_arena *a, const char *data, size_t len, size_t max,
                            struct rp_error *err);
/** Serialises compactly into arena memory; NUL-terminated. */
char *rp_json_dump_arena(struct rp_arena *a, const json_t *v, size_t *len);
/** Depth of the deepest nesting of arrays and objects, stopping once limit is passed. */
int rp_json_depth(const char *data, size_t len, int limit);

#endif
