/*
 * libFuzzer target: a record body as a client sends it. The bytes go through the JSON
 * decoder with its limits, then every key is validated against the opportunity object (money,
 * dates, picklists, references, formulas), as the write path does before anything is stored.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/arena.h"
#include "base/json.h"
#include "base/limits.h"
#include "meta/meta.h"
#include "test_app.h"

static struct rp_meta *meta;
static const struct rp_object *object;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    meta = rp_test_catalogue();
    object = rp_meta_object(meta, "opportunity");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rp_arena a;
    struct rp_error err;
    const char *key;
    json_t *body, *v;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    body = rp_json_parse_arena(&a, (const char *)data, size, RP_LIMIT_BODY_BYTES, &err);
    if (body && json_is_object(body)) {
        json_object_foreach(body, key, v)
        {
            const struct rp_field *f = rp_meta_field(object, key);
            struct rp_value out;
            if (f)
                rp_meta_value_from_json(f, v, &a, &out, &err);
        }
    }
    rp_arena_release(&a);
    return 0;
}
