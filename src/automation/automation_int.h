/* Private to src/automation/: the handle shared by rules (automation.c), their actions
 * (action.c), approvals (approval.c) and webhooks (webhook.c). */
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
    struct rp_bus *bus;        /* the message bus publisher (bus.c) */

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

/* The columns of rp_change that rp_automation_change_json reads, in this order. */
#define RP_CHANGE_JSON_COLUMNS "seq, at, object, record_id, op, actor, changes"
#define RP_CHANGE_JSON_NCOLS   7

/**
 * Writes one change event (a row of RP_CHANGE_JSON_COLUMNS) as the JSON that webhooks deliver
 * and the message bus publishes: {"id": "evt_<seq>", "seq", "at", "object", "record_id", "op",
 * "actor", "changes"}.
 */
void rp_automation_change_json(const struct rp_value *cols, struct rp_buf *out);

/* ---- actions of rules (action.c) ----
 *
 * A kind of action is a check, run against the metadata when a rule is saved, and a run,
 * performed by the rule's job. A new kind is one entry in the table of action.c.
 */
struct rp_action_check {
    struct rp_automation *a;
    const struct rp_meta *meta;
    const struct rp_object *object; /* the rule's object */
    const struct rp_object *record; /* the triggering record's object; NULL: none (schedule) */
    bool event;                     /* an event trigger: {"event": ...} values are allowed */
    const char *where;              /* "actions[i]": the field of validation errors */
    struct rp_arena *arena;
};

struct rp_action_run {
    struct rp_automation *a;
    const struct rp_job *job;
    size_t index; /* of the action in the rule: with the job id, the key of idempotent writes */
    const char *rule;
    const struct rp_meta *meta;
    const struct rp_object *object; /* the rule's object */
    const char *record_id;          /* the triggering record; NULL: none */
    const json_t *event;            /* the data of the incoming event; NULL: none */
    const char *cause;              /* JSON {"rule", "depth", "record_id"} carried by writes */
    struct rp_arena *arena;
};

/*
 * check and run return 0 or a negative error; a run's RP_EINVAL means that retrying cannot
 * help (the rule's run fails at once), any other error retries the job with backoff.
 */
struct rp_action_kind {
    const char *type;
    bool needs_record; /* refused for triggers without a record */
    int (*check)(const struct rp_action_check *c, const json_t *act, struct rp_error *err);
    int (*run)(const struct rp_action_run *x, const json_t *act, struct rp_error *err);
};

/** The kind of action type, or NULL. */
const struct rp_action_kind *rp_action_kind(const char *type);
/** Every kind (for listing them in errors). */
const struct rp_action_kind *rp_action_kinds(size_t *n);

/**
 * Checks "values" for a write to dst: field names that can be set, and values that are JSON
 * literals valid for the field, {"expr": "..."} on the triggering record or {"event": "name"}.
 * dst NULL: values of a message, whose keys are names and whose literals are any JSON.
 */
int rp_action_check_values(const struct rp_action_check *c, const struct rp_object *dst,
                           const json_t *values, struct rp_error *err);
/** Resolves checked values into data: {"expr"} evaluated on the record of src (NULL: none). */
int rp_action_resolve_values(const struct rp_action_run *x, const struct rp_object *src,
                             const json_t *values, json_t *data, struct rp_error *err);
/** Turns the error in err (a definition not found, ...) into a 422 naming where, as fcode. */
int rp_action_refused(struct rp_error *err, const char *where, const char *fcode);
/** One write through the records path as the automation principal, idempotent per action. */
int rp_action_write(const struct rp_action_run *x, const char *object, enum rp_write_op op,
                    const char *id, json_t *data, struct rp_error *err);

/* ---- named definitions of automation (records.h; registered by rp_automation_new) ---- */

#define RP_DEF_QUEUE          "queues"
#define RP_DEF_ASSIGNMENT     "assignment-rules"
#define RP_DEF_JOURNEY        "journeys"
#define RP_DEF_APPROVAL       "approval-processes"
#define RP_DEF_EMAIL_TEMPLATE "email-templates"
#define RP_DEF_CALENDAR       "business-calendars"
#define RP_DEF_SLA_POLICY     "sla-policies"

/** Reads definition name of an automation kind into *def (owned); RP_ENOTFOUND names it. */
int rp_definition_load(struct rp_store_conn *c, const char *kind, const char *name, json_t **def,
                       struct rp_error *err);

/* The checks of the kinds (ctx: the struct rp_automation): 0 or RP_EVALIDATION naming the part. */
int rp_queue_check(void *ctx, const struct rp_meta *m, const json_t *def, struct rp_arena *arena,
                   struct rp_error *err);
int rp_assignment_check(void *ctx, const struct rp_meta *m, const json_t *def,
                        struct rp_arena *arena, struct rp_error *err);
int rp_journey_check(void *ctx, const struct rp_meta *m, const json_t *def, struct rp_arena *arena,
                     struct rp_error *err);
int rp_email_template_check(void *ctx, const struct rp_meta *m, const json_t *def,
                            struct rp_arena *arena, struct rp_error *err);
int rp_approval_check(void *ctx, const struct rp_meta *m, const json_t *def, struct rp_arena *arena,
                      struct rp_error *err);

/* ---- action kinds defined outside action.c ---- */

int rp_assign_check(const struct rp_action_check *c, const json_t *act, struct rp_error *err);
int rp_assign_run(const struct rp_action_run *x, const json_t *act, struct rp_error *err);
int rp_approval_action_check(const struct rp_action_check *c, const json_t *act,
                             struct rp_error *err);
int rp_approval_action_run(const struct rp_action_run *x, const json_t *act, struct rp_error *err);
int rp_webhook_action_check(const struct rp_action_check *c, const json_t *act,
                            struct rp_error *err);
int rp_webhook_action_run(const struct rp_action_run *x, const json_t *act, struct rp_error *err);
int rp_journey_action_check(const struct rp_action_check *c, const json_t *act,
                            struct rp_error *err);
int rp_journey_enrol_run(const struct rp_action_run *x, const json_t *act, struct rp_error *err);
int rp_journey_leave_run(const struct rp_action_run *x, const json_t *act, struct rp_error *err);

/* ---- journeys (journey.c) ---- */

#define RP_JOURNEY_JOB "journey.step"

/**
 * Enrols the record in the journey (once at a time; again after the end only with "reenter"),
 * queueing its first step, or with leave ends an active enrolment. *done (may be NULL): whether
 * anything changed. RP_ENOTFOUND: no such journey; RP_EINVAL: it is for another object.
 */
int rp_journey_enrol(struct rp_automation *a, const char *journey, const char *object,
                     const char *record_id, bool leave, bool *done, struct rp_error *err);
void rp_journey_register(struct rp_automation *a);
/* The SLA actions of rules (sla.c): start_sla {"policy"?} and stop_sla {"target"?}. */
int rp_sla_start_check(const struct rp_action_check *c, const json_t *act, struct rp_error *err);
int rp_sla_start_run(const struct rp_action_run *x, const json_t *act, struct rp_error *err);
int rp_sla_stop_check(const struct rp_action_check *c, const json_t *act, struct rp_error *err);
int rp_sla_stop_run(const struct rp_action_run *x, const json_t *act, struct rp_error *err);
/* ---- the send_email action (email.c) ---- */
int rp_email_action_check(const struct rp_action_check *c, const json_t *act, struct rp_error *err);
int rp_email_action_run(const struct rp_action_run *x, const json_t *act, struct rp_error *err);
/* ---- the message bus (bus.c) ---- */

struct rp_bus;

/**
 * A publisher; url (copied; NULL: read the setting at every tick) as from --nats. With a url,
 * starts the cursor at once, so that what commits from now on is published.
 */
struct rp_bus *rp_bus_new(const char *url, struct rp_store *store);
/** Closes the connection and frees. NULL allowed. */
void rp_bus_free(struct rp_bus *b);
/** The action kind "publish". */
int rp_bus_publish_check(const struct rp_action_check *c, const json_t *act, struct rp_error *err);
int rp_bus_publish_run(const struct rp_action_run *x, const json_t *act, struct rp_error *err);

#endif
