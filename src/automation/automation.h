/*
 * Automation rules: when something happens to a record (or a date is reached, or a schedule
 * ticks), and a condition in the expression language holds, do actions. Rules are data
 * (rp_automation_rule, managed through the API with the manage_automation permission):
 *
 *   {"object": "case",
 *    "trigger": {"on": "created" | "updated" | "deleted" | "changed", "fields": ["priority"]}
 *             | {"on": "date", "field": "end_date", "offset_days": -90}
 *             | {"on": "yearly", "field": "birthdate"}
 *             | {"on": "schedule", "every_minutes": 60}
 *             | {"on": "event", "type": "shipment.updated"},
 *    "condition": "priority = 'p1'",
 *    "actions": [{"type": "set_fields", "values": {"status": "escalated"}},
 *                {"type": "create_record", "object": "activity",
 *                 "values": {"subject": "Call back", "case_id": {"expr": "id"}}},
 *                {"type": "assign", "strategy": "user" | "round_robin" | "least_loaded",
 *                 "users": ["<user id>", ...]}]}
 *
 * A value is a JSON literal, {"expr": "..."}, an expression evaluated on the triggering
 * record, or {"event": "name"}, a member of the data of the incoming event that fired the rule.
 *
 * Incoming events (rp_automation_event: POST /api/v1/events/{type} from integrations) are
 * change events of object "event" (record_id: the event id, op: the type, changes: the
 * payload), so they reach rules through the same dispatcher, exactly once per event id.
 *
 * Exactly once per trigger: the dispatcher reads the change log after its cursor and, in the
 * same transaction that moves the cursor, queues one job per matching rule and event (with a
 * dedup key), so a crash between the two is impossible. Date, yearly and schedule triggers
 * queue with a dedup key per occurrence (rule, record, day or time slot). The job performs the
 * actions through the records write path as the "automation" principal, each write with an
 * Idempotency-Key derived from the job, so a job retried after a crash does not write twice.
 * Writes made by a rule carry their cause; a chain of rules deeper than
 * RP_AUTOMATION_MAX_DEPTH, or a rule triggered again by its own write on the same record, is
 * stopped and logged ("loop_stopped"). Every firing is in the run log (rp_automation_run).
 */
#ifndef RP_AUTOMATION_AUTOMATION_H
#define RP_AUTOMATION_AUTOMATION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "base/buf.h"
#include "base/clock.h"
#include "jobs/jobs.h"
#include "meta/meta.h"
#include "records/records.h"
#include "store/store.h"

#define RP_AUTOMATION_MAX_DEPTH 4
#define RP_AUTOMATION_JOB       "automation.run"

struct rp_automation;

struct rp_automation_config {
    struct rp_store *store;
    struct rp_meta_registry *meta;
    struct rp_records *records;
    struct rp_jobs *jobs; /* the job kind RP_AUTOMATION_JOB is registered on it */
    const struct rp_clock *clock;
    const char *nats_url; /* the message bus (rapport serve --nats); NULL: the setting decides */
};

struct rp_automation *rp_automation_new(const struct rp_automation_config *cfg);
/** Stops the dispatcher thread; the jobs it queued still run. NULL allowed. */
void rp_automation_stop(struct rp_automation *a);
/** Stops the dispatcher and frees: stop the job workers before. NULL allowed. */
void rp_automation_free(struct rp_automation *a);
/** Starts the dispatcher thread (change log every 200 ms, dated triggers every minute). */
int rp_automation_start(struct rp_automation *a, struct rp_error *err);

/** One pass over the change events after the cursor; *queued (may be NULL): jobs queued. */
int rp_automation_dispatch(struct rp_automation *a, size_t *queued, struct rp_error *err);
/** Queues the date, yearly and schedule triggers due now; *queued as above. */
int rp_automation_scan(struct rp_automation *a, size_t *queued, struct rp_error *err);

/**
 * Records an incoming event of type (1-64 of a-z, 0-9, '.', '_', '-') with payload
 * {"id"?, "record_id"?, "data"?: {...}}. The id (else the Idempotency-Key, else a new one)
 * makes it idempotent: a known id changes nothing and sets *duplicate. Writes {"id", "type",
 * "duplicate"}. Needs publish_events.
 */
/** True for 1-64 characters of a-z, 0-9, '.', '_', '-'. */
bool rp_automation_event_type_is_valid(const char *type);
int rp_automation_event(struct rp_automation *a, const struct rp_principal *p, const char *type,
                        const json_t *payload, const char *idempotency_key, struct rp_buf *out,
                        struct rp_error *err);

/**
 * Creates or replaces a rule after checking it against the metadata (422 naming the part).
 * Needs manage_automation. *created (may be NULL) tells which.
 */
int rp_automation_rule_put(struct rp_automation *a, const struct rp_principal *p, const char *name,
                           const json_t *definition, bool *created, struct rp_error *err);
int rp_automation_rule_delete(struct rp_automation *a, const struct rp_principal *p,
                              const char *name, struct rp_error *err);
/** Writes {"data":[{"name","active","definition"...}]}. */
int rp_automation_rules(struct rp_automation *a, const struct rp_principal *p, struct rp_buf *out,
                        struct rp_error *err);
/** Writes {"data":[{"id","rule","object","record_id","trigger","at","outcome","detail"}]},
 *  newest first; rule NULL for every rule. */
int rp_automation_runs(struct rp_automation *a, const struct rp_principal *p, const char *rule,
                       size_t limit, struct rp_buf *out, struct rp_error *err);

/* ---- webhooks (webhook.c) ----
 *
 * A subscription {"url", "objects": [...], "events": [ops or event types], "active"} receives a
 * signed POST for every matching change event: {"id": "evt_<seq>", "seq", "at", "object",
 * "record_id", "op", "actor", "changes"} with headers X-Rapport-Signature (t=<s>,v1=<HMAC-SHA256
 * of "<t>.<body>"> under the subscription's secret, shown once at creation), X-Rapport-Event-Id
 * (the same on every retry) and X-Rapport-Webhook. Deliveries are durable jobs queued from the
 * change log by a cursor within a dispatcher tick of the commit, retried with backoff for over
 * 24 hours, then dead (jobs API: retry); any position can be replayed. URLs go through the
 * SSRF guard of base/outbound.h at creation and at every delivery; the allow-list setting
 * ("webhooks.allow": comma-separated hosts and CIDR ranges) admits internal destinations.
 */
#define RP_WEBHOOK_JOB "webhook.deliver"

/** Creates or changes a subscription; writes {"name","created","secret" (created only)}. */
int rp_webhook_put(struct rp_automation *a, const struct rp_principal *p, const char *name,
                   const json_t *def, struct rp_buf *out, struct rp_error *err);
int rp_webhook_delete(struct rp_automation *a, const struct rp_principal *p, const char *name,
                      struct rp_error *err);
/** Writes {"data":[{"name","url","objects","events","active"}]} (never the secrets). */
int rp_webhooks(struct rp_automation *a, const struct rp_principal *p, struct rp_buf *out,
                struct rp_error *err);
/** Queues deliveries for the change events after the cursor (the dispatcher calls it). */
int rp_webhook_dispatch(struct rp_automation *a, size_t *queued, struct rp_error *err);
/** Queues deliveries of webhook name again for every matching event after after_seq. */
int rp_webhook_replay(struct rp_automation *a, const struct rp_principal *p, const char *name,
                      int64_t after_seq, size_t *queued, struct rp_error *err);
/** Reads the allow-list setting into allow (strings in arena); returns the count. */
size_t rp_webhook_allow_list(struct rp_automation *a, struct rp_arena *arena, const char **allow,
                             size_t max);
/** Registers the delivery job kind (rp_automation_new does). */
void rp_webhook_register(struct rp_automation *a);

/* ---- approvals (approval.c) ----
 *
 * An approval process (rp_approval_process, manage_automation) applies to records of an owned
 * object that meet its criteria; the first by "order" wins:
 *
 *   {"object": "quote", "criteria": "discount_percent > 20", "order": 10,
 *    "guards": [{"condition": "total > 0", "message": "a quote without a total"}],
 *    "steps": [{"approver": {"type": "manager"}}, {"approver": {"type": "role", "role": "vp"}},
 *              {"approver": {"type": "user", "user_id": "..."}}],
 *    "on_submit": {"status": "pending_approval"}, "on_approve": {"status": "approved"},
 *    "on_reject": {"status": "rejected"}, "on_recall": {"status": "draft"}}
 *
 * Submitting (who may edit the record) checks the guards, opens the approval at step 1 and
 * locks the record: until it is decided only administrators and internal work change it. Each
 * step is approved by its approver ("manager": a user whose role is directly above the
 * owner's); the last approval approves, a rejection rejects, the submitter may recall. Every
 * action is kept with its comment, audited ("approval.submit", "approval.approve", ...), and
 * is an event of the change log (object "event") for rules and integrations; the on_* values
 * are written as internal work.
 */
enum rp_approval_action {
    RP_APPROVAL_SUBMIT,
    RP_APPROVAL_APPROVE,
    RP_APPROVAL_REJECT,
    RP_APPROVAL_RECALL
};

int rp_approval_process_put(struct rp_automation *a, const struct rp_principal *p, const char *name,
                            const json_t *def, bool *created, struct rp_error *err);
int rp_approval_process_delete(struct rp_automation *a, const struct rp_principal *p,
                               const char *name, struct rp_error *err);
/** Writes {"data":[{"name","definition"}]}. */
int rp_approval_processes(struct rp_automation *a, const struct rp_principal *p, struct rp_buf *out,
                          struct rp_error *err);
/**
 * Acts on the approval of a record p may read (404 otherwise): writes {"approval_id",
 * "process", "state", "step"}. Errors: RP_EVALIDATION (no process applies, a guard blocks),
 * RP_ECONFLICT (already pending, or decided meanwhile), RP_ENOTFOUND (nothing pending),
 * RP_EFORBIDDEN (not this step's approver, not the submitter).
 */
int rp_approval_act(struct rp_automation *a, const struct rp_principal *p, const char *object,
                    const char *id, enum rp_approval_action action, const char *comment,
                    struct rp_arena *arena, struct rp_buf *out, struct rp_error *err);
/** Writes {"data":[{"approval_id","process","state","approval_step","step","actor","action",
 *  "comment","at"}]}: every action on the record's approvals, oldest first. */
int rp_approval_history(struct rp_automation *a, const struct rp_principal *p, const char *object,
                        const char *id, struct rp_arena *arena, struct rp_buf *out,
                        struct rp_error *err);

/* ---- message bus (bus.c) ----
 *
 * Optional publishing of change events to NATS. It is on when `rapport serve --nats URL` or the
 * setting "bus.nats_url" (RP_RECORDS_BUS_URL_SETTING) names a server (nats:// or tls://; the
 * flag wins), off otherwise. A cursor of its own over the change log ("bus.cursor", started at
 * the log's end in the unit that first sets the setting, or when a server starts with the flag)
 * publishes every event to the subject "rapport.<object>.<op>" (op as in the change log:
 * create, update, delete, restore, ...; incoming events: "rapport.event.<type>"), with the body
 * webhooks deliver ({"id": "evt_<seq>", "seq", "at", "object", "record_id", "op", "actor",
 * "changes"}; an event over the server's max_payload without its changes, "changes_omitted":
 * true) and the header Nats-Msg-Id: the event id, so a JetStream stream drops duplicates. At least once: the cursor
 * moves only after the server confirmed the batch (a flush round trip); while NATS is
 * unreachable it stays, the dispatcher tries again every tick (logging the outage once), and
 * libnats reconnects on its own. Several processes on one database may publish an event twice.
 *
 * The rule action {"type": "publish", "subject": "crm.custom.x", "values": {...}} publishes
 * {"id": "job:<job id>:<action index>", "rule", "object", "record_id", "values"} to its subject
 * (tokens of A-Z, a-z, 0-9, '_' and '-'; no wildcards, not under "rapport.") within the rule's
 * job, and fails the attempt (retried with backoff) unless the server confirmed it; the id,
 * also the Nats-Msg-Id, is the same on every retry.
 */
#define RP_BUS_CURSOR_KEY  RP_RECORDS_BUS_CURSOR
#define RP_BUS_SUBJECT_MAX 255

struct rp_bus_stats {
    uint64_t published; /* change events and action messages confirmed by the server */
    uint64_t errors;    /* publish attempts that failed (not the ticks skipped while down) */
    bool configured;    /* a URL is set */
    bool connected;
};

/**
 * Publishes the change events after the bus cursor (the dispatcher calls it every tick).
 * *published (may be NULL): events confirmed. Off: 0 and nothing happens. NATS unreachable
 * or the flush failed: RP_EIO, the cursor stays.
 */
int rp_bus_dispatch(struct rp_automation *a, size_t *published, struct rp_error *err);
/** The counters of /metrics. Thread-safe. */
void rp_bus_stats(struct rp_automation *a, struct rp_bus_stats *st);
/** True for a subject a publish action may use (see above). */
bool rp_bus_subject_is_valid(const char *subject);

#endif
