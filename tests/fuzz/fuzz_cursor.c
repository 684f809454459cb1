/*
 * libFuzzer target: list cursors. A client hands back `cursor` as an opaque string; the server
 * base64url-decodes it, parses the JSON inside and checks it against the page's sort keys
 * before it becomes keyset conditions in SQL. The first input byte picks the sort (the types
 * of the keys the cursor must carry), the rest is the cursor, percent-encoded into
 * GET /api/v1/records/account through the real router of an app with a few accounts, as an
 * admin. A cursor is either accepted (200) or refused with 400; anything else is a finding.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_app.h"

static struct rp_test_app app;

static const char *const sorts[] = {
    "",
    "-created_at",
    "name",
    "-employees,name",
    "annual_revenue",
    "-customer_since",
    "tier,-updated_at",
    "city",
    "id",
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char id[40];

    (void)argc;
    (void)argv;
    rp_test_app_open(&app);
    rp_test_create(&app, "account", "{\"name\":\"甲\",\"employees\":3,\"city\":\"上海\"}", id);
    rp_test_create(&app, "account", "{\"name\":\"b\",\"annual_revenue\":\"12.50\"}", id);
    rp_test_create(&app, "account", "{\"name\":\"c\",\"customer_since\":\"2024-01-31\"}", id);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    char target[4096];
    size_t n;
    int status;
    const char *sort;

    if (size < 1 || size > 1000)
        return 0;
    sort = sorts[data[0] % (sizeof(sorts) / sizeof(sorts[0]))];
    n = (size_t)snprintf(target, sizeof(target),
                         "/api/v1/records/account?limit=1%s%s&cursor=", *sort ? "&sort=" : "",
                         sort);
    for (size_t i = 1; i < size; i++) {
        target[n++] = '%';
        target[n++] = hex[data[i] >> 4];
        target[n++] = hex[data[i] & 15];
    }
    target[n] = '\0';
    status = rp_test_request(&app, "GET", target, NULL, NULL);
    if (status != 200 && status != 400) {
        fprintf(stderr, "cursor answered %d: %s\n", status, target);
        abort();
    }
    return 0;
}
