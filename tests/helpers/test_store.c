/* The store tests run on; see test_store.h. */
#include "test_store.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool rp_test_store_is_pg(void)
{
    const char *s = getenv("RP_TEST_STORE");
    return s && strcmp(s, "pg") == 0;
}

/* Drops everything the previous test made, with libpq directly: no store may be open. */
static void pg_empty(const char *url)
{
    PGconn *pg = PQconnectdb(url);
    PGresult *r;

    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "test store: cannot connect to RP_TEST_PG_URL: %s", PQerrorMessage(pg));
        abort();
    }
    r = PQexec(pg, "SET client_min_messages = warning;"
                   " DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "test store: cannot empty the database: %s", PQerrorMessage(pg));
        abort();
    }
    PQclear(r);
    PQfinish(pg);
}

void rp_test_store_target(const char **url, bool *memory)
{
    const char *pg;

    if (!rp_test_store_is_pg()) {
        *url = NULL;
        *memory = true;
        return;
    }
    pg = getenv("RP_TEST_PG_URL");
    if (!pg || !*pg) {
        fprintf(stderr, "test store: RP_TEST_STORE=pg needs RP_TEST_PG_URL (run under "
                        "tests/helpers/pg.sh)\n");
        abort();
    }
    pg_empty(pg);
    *url = pg;
    *memory = false;
}

struct rp_store *rp_test_store_open(void)
{
    struct rp_store *s = NULL;
    struct rp_error err;
    const char *url;
    bool memory;

    rp_test_store_target(&url, &memory);
    rp_error_init(&err, NULL);
    if (rp_store_open(url, &(struct rp_store_config){.memory = memory}, &s, &err) < 0) {
        fprintf(stderr, "test store: cannot open: %s\n", err.detail ? err.detail : "failed");
        abort();
    }
    return s;
}
