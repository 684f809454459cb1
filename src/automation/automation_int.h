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

#endif
