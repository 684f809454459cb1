/*
 * libFuzzer target: the expression language. Arbitrary bytes are parsed and type-checked
 * against the contact object of the standard catalogue; what parses is compiled to SQL and
 * evaluated against a fixed record. Nothing may crash, leak or trip a sanitizer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/sql.h"
#include "expr/expr.h"
#include "meta/meta.h"
#include "test_app.h"

static struct rp_meta *meta;
static const struct rp_object *contact;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    meta = rp_test_catalogue();
    contact = rp_meta_object(meta, "contact");
    return 0;
}

static int get_value(void *ctx, const char *path, struct rp_value *out)
{
    (void)ctx;
    if (path[0] == 'l')
        *out = rp_value_cstr("张");
    else if (path[0] == 'c')
        *out = rp_value_typed_int(RP_V_DATETIME, INT64_C(1795334400000));
    else
        *out = rp_value_null();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rp_arena a;
    struct rp_error err;
    struct rp_expr *e;
    struct rp_sql q;
    struct rp_value v;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    if (rp_meta_parse_expr(meta, contact, (const char *)data, size, INT64_C(1795334400000), &a, &e,
                           &err) == 0) {
        rp_sql_init(&q, &a, RP_SQL_SQLITE);
        rp_expr_compile_sql(e, &q, &err);
        rp_sql_init(&q, &a, RP_SQL_PG);
        rp_expr_compile_sql(e, &q, &err);
        rp_expr_eval(e, get_value, NULL, &a, &v, &err);
    }
    rp_arena_release(&a);
    return 0;
}
