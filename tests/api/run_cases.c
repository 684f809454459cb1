/*
 * Runs the data-driven API case files (tests/api/cases/NNNN-slug.case) in-process through the
 * real router; the format and the machinery are in tests/helpers/api_cases.h.
 *
 *   api_cases DIR [NAME-SUBSTRING]
 */
#include "api_cases.h"
#include "base/log.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/api/cases";
    const char *only = argc > 2 ? argv[2] : NULL;
    char **names;
    size_t n;
    int passed = 0, failed = 0;

    rp_log_set_level(RP_LOG_WARN);
    rp_log_init_from_env();
    n = rp_case_list(dir, only, &names);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (rp_case_run(path, names[i], NULL) == 0)
            passed++;
        else
            failed++;
    }
    rp_case_list_free(names, n);
    printf("%d passed, %d failed\n", passed, failed);
    return failed || passed == 0 ? 1 : 0;
}
