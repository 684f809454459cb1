/*
 * libFuzzer target: the duplicate-matching normalisers and the similarity measure (sales_match.c),
 * which read whatever a form or an import put into an email, phone, company, USCC or name field.
 * The first byte chooses the method and the default country; the rest is split at the first
 * NUL byte into two values. For each value the key, when there is one, must be valid UTF-8
 * without a NUL byte; a USCC key must pass rp_sales_uscc_is_valid; the similarity of the two
 * values must lie in [0, 1], be the same both ways round and be 1 for a value and itself.
 * Nothing may crash, leak or trip a sanitizer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/utf8.h"
#include "sales/sales.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static const char *const methods[] = {"email", "phone", "company", "uscc", "name"};
static const char *const countries[] = {"86", "1", "44", "852"};

static void check_key(const struct rp_sales_match_method *m, const char *in, size_t n,
                      const char *country)
{
    struct rp_buf out;

    rp_buf_init(&out, NULL, 1 << 16);
    if (m->key(in, n, country, &out)) {
        if (!rp_utf8_is_valid(out.data, out.len) || memchr(out.data, '\0', out.len))
            abort();
        if (strcmp(m->name, "uscc") == 0 && !rp_sales_uscc_is_valid(out.data, out.len))
            abort();
    }
    rp_buf_release(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct rp_sales_match_method *m;
    const char *a, *b, *nul;
    size_t an, bn;
    double s, t;

    if (size < 1 || size > 4096)
        return 0;
    m = rp_sales_match_method(methods[data[0] % 5]);
    if (!m)
        abort(); /* every listed method exists */
    a = (const char *)data + 1;
    nul = memchr(a, '\0', size - 1);
    an = nul ? (size_t)(nul - a) : size - 1;
    b = nul ? nul + 1 : a + an;
    bn = size - 1 - an - (nul ? 1 : 0);
    check_key(m, a, an, countries[(data[0] / 5) % 4]);
    check_key(m, b, bn, countries[(data[0] / 20) % 4]);
    if (rp_utf8_is_valid(a, an) && rp_utf8_is_valid(b, bn)) {
        s = rp_sales_similarity(a, an, b, bn);
        t = rp_sales_similarity(b, bn, a, an);
        if (!(s >= 0.0 && s <= 1.0) || s != t)
            abort();
        if (an > 0 && rp_sales_similarity(a, an, a, an) != 1.0)
            abort();
    }
    return 0;
}
