/*
 * Which store a test runs on. By default a private SQLite file (a memory store). With
 * RP_TEST_STORE=pg, the PostgreSQL database at RP_TEST_PG_URL (tests/helpers/pg.sh starts
 * one and sets it), emptied before each open so every test starts from nothing. A test
 * asked to run on PostgreSQL that cannot reach it fails: it never skips.
 */
#ifndef RP_TEST_STORE_H
#define RP_TEST_STORE_H

#include <stdbool.h>

#include "store/store.h"

/** True when RP_TEST_STORE=pg. */
bool rp_test_store_is_pg(void);

/**
 * What to open: *url and *memory for rp_store_open or struct rp_app_config. On PostgreSQL,
 * empties the database first (DROP SCHEMA public CASCADE); aborts when that fails.
 */
void rp_test_store_target(const char **url, bool *memory);

/** rp_store_open on a fresh test store (as above); aborts on failure. */
struct rp_store *rp_test_store_open(void);

#endif
