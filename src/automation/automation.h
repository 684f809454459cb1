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
 *                 "users": ["<user id>", ...]},
 *                {"type": "start_sla", "policy": "p1_cases"}, {"type": "stop_sla"}]}
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
 * An approval process (a named definition of kind "approval-processes", manage_automation)
 * applies to records of an owned object that meet its criteria; the first by "order" wins:
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
 * are written as internal work. A process with no steps ("steps": []) approves at submission
 * (state "approved" at once, on_approve applied, nothing locked): the band of an approval
 * matrix that needs nobody.
 */
enum rp_approval_action {
    RP_APPROVAL_SUBMIT,
    RP_APPROVAL_APPROVE,
    RP_APPROVAL_REJECT,
    RP_APPROVAL_RECALL
};

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

/* ---- queues, assignment rules, journeys (assignment.c, journey.c) ----
 *
 * Named definitions (records.h) of three kinds, managed with manage_automation at
 * /api/v1/definitions/{kind}/{name}:
 *
 *   queues            {"members": ["<user id>", ...], "strategy": "round_robin" | "least_loaded"}
 *   assignment-rules  {"object": "lead", "entries": [{"criteria": "region = 'east'",
 *                      "user": "<id>"}, {"criteria": "...", "queue": "<queue>"}, {"queue": ...}]}
 *   journeys          {"object": "contact", "exit_when": "do_not_email = true", "reenter": false,
 *                      "steps": [{"name": "welcome", "wait_days": 0, "actions": [...]},
 *                                {"wait_days": 3, "condition": "...", "actions": [...]}]}
 *
 * The assign action takes its owner from a queue ({"strategy": "queue", "queue": name}) or an
 * assignment rule set ({"strategy": "rules", "rules": name}: the first entry whose criteria
 * hold; none: the owner stays). The enrol_journey and leave_journey actions ({"journey": name})
 * move records in and out of journeys; each step waits, then performs its actions (any rule
 * action) on the record if its condition holds, unless the exit condition holds (journey.c).
 */
/**
 * Enrols a live record of the journey's object (or with leave ends its active enrolment);
 * needs manage_automation. Writes {"journey","record_id","changed"}.
 */
int rp_journey_enrol_record(struct rp_automation *a, const struct rp_principal *p,
                            const char *journey, const char *record_id, bool leave,
                            struct rp_buf *out, struct rp_error *err);
/** Writes {"data":[{"id","object","record_id","state","step","next_at","enrolled_at",
 *  "updated_at","detail"}]}, newest first (at most 1,000); state NULL for all. */
int rp_journey_enrolments(struct rp_automation *a, const struct rp_principal *p,
                          const char *journey, const char *state, struct rp_buf *out,
                          struct rp_error *err);
/* ---- SLA (sla.c) ----
 *
 * Business calendars (named definitions of kind "business-calendars", records.h) are the JSON
 * form of base/calendar.h; a calendar a policy names cannot be deleted (409). An SLA policy
 * (kind "sla-policies", checked against the metadata and the calendars: 422 naming the part,
 * e.g. "targets[0].on_breach[1]") applies to records of its object that meet its criteria;
 * the first by "order" (then name) wins:
 *
 *   {"object": "case", "criteria": "priority = 'p1'", "order": 10, "calendar": "cn_support",
 *    "pause_when": "status = 'pending_customer'",
 *    "targets": [{"name": "first_response", "minutes": 60, "due_field": "first_response_due",
 *                 "met_when": "first_responded_at is not null", "warn_before_minutes": 15,
 *                 "on_warning": [<rule actions>], "on_breach": [<rule actions>]}]}
 *
 * No calendar means 24x7. Every change of a record of a policy's object (the change log, read
 * by a cursor of the engine's own) is judged against the policies: the applying policy's
 * targets without a clock start; a clock pauses while pause_when holds (the paused working
 * time, in whole minutes, moves the deadline later), is met when met_when holds, moves to the
 * applying policy's target of the same name when the criteria change, and stops when the
 * record is deleted. The deadline is the start plus the target's working minutes in the
 * calendar (rp_calendar_add_minutes); it is shown in due_field, written as internal work.
 * Warnings and breaches are jobs (RP_SLA_JOB) at the warning and due times: each fires at most
 * once per clock, appends an "event" change (op "sla.warning" / "sla.breached", changes
 * {"record_id", "data": {"object", "record_id", "policy", "target", "due_at"}}) for rules and
 * webhooks, and performs the escalation actions (rule actions, run as rule "sla:<policy>").
 * Rules start and stop clocks with the actions start_sla ({"policy"?}) and stop_sla
 * ({"target"?}). Managing calendars and policies needs manage_automation.
 */
#define RP_SLA_JOB "sla.timer"

/** Judges the change events after the engine's cursor; *queued (may be NULL): timers queued. */
int rp_sla_dispatch(struct rp_automation *a, size_t *queued, struct rp_error *err);
/** Writes {"data":[{"target","policy","state","started_at","due_at","warn_at","paused_since",
 *  "paused_ms","warned","breached_at","met_at"}]} for a record p may read (404 otherwise). */
int rp_sla_clocks(struct rp_automation *a, const struct rp_principal *p, const char *object,
                  const char *id, struct rp_arena *arena, struct rp_buf *out, struct rp_error *err);
/** Registers the timer job kind (rp_automation_new does). */
void rp_sla_register(struct rp_automation *a);
/* ---- email (email.c) ----
 *
 * Templates are named definitions of kind "email-templates" (records.h; manage_automation),
 * checked when saved (422 naming the part and variable):
 *
 *   {"object": "contact", "subject": "Renewal of {{account.name}}",
 *    "text": "Hello {{first_name}} ... {{unsubscribe_url}}", "html": "<p>Hello {{first_name}}</p>",
 *    "to": "email", "purpose": "marketing", "campaign": "campaign_id"}
 *
 * Each {{ ... }} is an expression of the expression language on the record (dotted paths
 * through references read related records), checked when the template is saved; in the HTML
 * part values are HTML-escaped. {{unsubscribe_url}} is the signed unsubscribe link;
 * {{confirm_url}} the confirmation link of a web form's double opt-in ("" otherwise). "to" (an
 * expression, default "email") gives the address, "purpose" (a consent purpose, default
 * "marketing") the consent that must not be withdrawn, "campaign" (an expression, optional)
 * the campaign the message's touchpoints are attributed to.
 *
 * Sending renders the template on the record and stores the message (rp_email_message) under
 * an idempotency key in the same transaction as a durable RP_EMAIL_JOB job, which delivers it
 * by SMTP through libcurl with retries and backoff; a message already sent is not sent again.
 * A contact or lead whose do_not_email is set, or whose latest email consent for the purpose is
 * a withdrawal, is not mailed: the message is "suppressed" (checked when queued and again when
 * sent). With the setting email.tracking_base_url, HTML links become signed click-tracking
 * links, an open pixel is added, and the message carries List-Unsubscribe (RFC 2369) and
 * List-Unsubscribe-Post (RFC 8058) headers. Links are HMAC-SHA256 signed under a key kept in
 * rp_setting (made at first use); opening and clicking append touchpoints, unsubscribing
 * appends a consent withdrawal, both through the records write path as internal work.
 *
 * Settings (records.h, manage_automation): email.smtp_url (smtp:// or smtps://), email.from,
 * email.username, email.password (never shown or logged), email.tracking_base_url.
 */
#define RP_EMAIL_JOB "email.send"

/**
 * Checks def as saving a template does and renders it on record_id of its object as a
 * message would be (tracking links and the open pixel when email.tracking_base_url is set),
 * storing nothing: writes {"to","subject","text","html"} (html null when the template has
 * none). For the fuzz target and tests; reads the settings and the record, and makes the link
 * key on first use. Errors as saving a template and rp_email_send.
 */
int rp_email_template_preview(struct rp_automation *a, const json_t *def, const char *record_id,
                              struct rp_arena *arena, struct rp_buf *out, struct rp_error *err);

/** What to send: a template on one record. */
struct rp_email_request {
    const char *template_name;
    const char *object;      /* must be the template's; NULL: the template's */
    const char *record_id;   /* a record p may read (404 otherwise) */
    const char *to;          /* an expression replacing the template's "to"; NULL: none */
    const char *key;         /* idempotency key; NULL: a new message every time */
    const char *confirm_url; /* the {{confirm_url}} of the message (double opt-in); NULL: "" */
};

/**
 * Renders and queues a message for a record p may read; writes {"id","state"} (state
 * "queued", or "suppressed" by consent; a known key answers its message). Errors:
 * RP_ENOTFOUND (template, record), RP_EVALIDATION (object, recipient, header injection).
 */
int rp_email_send(struct rp_automation *a, const struct rp_principal *p,
                  const struct rp_email_request *rq, struct rp_arena *arena, struct rp_buf *out,
                  struct rp_error *err);
/** Writes {"data":[{"id","template","object","record_id","to","subject","state","error",
 *  "campaign_id","created_at","sent_at"}]}, newest first. Needs manage_automation. */
int rp_email_messages(struct rp_automation *a, const struct rp_principal *p, const char *record_id,
                      const char *state, size_t limit, struct rp_buf *out, struct rp_error *err);

enum rp_email_link {
    RP_EMAIL_LINK_UNSUBSCRIBE = 'u',
    RP_EMAIL_LINK_OPEN = 'o',
    RP_EMAIL_LINK_CLICK = 'c'
};

/** A signed link token of kind for message_id (url: the click's target); arena memory. */
int rp_email_token(struct rp_automation *a, enum rp_email_link kind, const char *message_id,
                   const char *url, struct rp_arena *arena, char **out, struct rp_error *err);
/** Unsubscribes the recipient of the message the token names (a consent withdrawal).
 *  RP_EINVAL for a token that is malformed, tampered with or of another kind. */
int rp_email_unsubscribe(struct rp_automation *a, const char *token, struct rp_error *err);
/** Records an open or a click (a touchpoint) for a token of that kind; *url (click) gets the
 *  signed target, arena memory. RP_EINVAL for a bad token. */
int rp_email_track(struct rp_automation *a, enum rp_email_link kind, const char *token,
                   struct rp_arena *arena, const char **url, struct rp_error *err);
/** Registers the delivery job kind (rp_automation_new does). */
void rp_email_register(struct rp_automation *a);
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
