/* Private to src/store/: shared between the driver and the migrations. */
#ifndef RP_STORE_STORE_INT_H
#define RP_STORE_STORE_INT_H

#include "store/store.h"

/** Applies every system migration newer than the database's user_version. */
int rp_store_migrate_sqlite(struct rp_store_conn *c, int *version, struct rp_error *err);

/** The schema version the migrations of this build end at. */
int rp_store_migrations_latest(void);

#endif
