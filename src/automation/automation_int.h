/* Private to src/automation/: the handle shared by rules (automation.c) and approvals
 * (approval.c). */
#ifndef RP_AUTOMATION_AUTOMATION_INT_H
#define RP_AUTOMATION_AUTOMATION_INT_H

#include "automation/automation.h"

#include <pthread.h>

struct rp_automation {
    struct rp_store *store;
    struct rp_meta_registry *meta;
    struct rp_records *records;
    struct rp_jobs *jobs;
    const struct rp_clock *clock;
    struct rp_principal actor; /* "automation": unrestricted, named in audit and changes */

    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping, running;
    pthread_t thread;
};

/**
 * Inside a writer unit: starts the change-log cursor under setting key at the log's end,
 * unless it exists. Dispatchers (rules, webhooks) begin with what happens after that.
 */
int rp_automation_cursor_start(struct rp_store_conn *c, const char *key, struct rp_arena *arena,
                               struct rp_error *err);

#endif
