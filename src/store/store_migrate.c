/*
 * Versioned migrations of the system tables. Each step runs once, in its own
 * transaction, and bumps PRAGMA user_version; a database newer than this
 * binary is refused rather than guessed at. Record tables are not migrated
 * here: they follow the metadata (records/records_schema.c).
 */
#include "store/store_int.h"
#include "base/arena.h"
#include "base/log.h"

#include <stdio.h>

static const char *const migrations[] = {
    /* 1: identity, audit, change log, idempotency, custom metadata */
    "CREATE TABLE rp_user ("
    " id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, display_name TEXT, email TEXT,"
    " password_hash TEXT NOT NULL, is_admin INTEGER NOT NULL DEFAULT 0,"
    " active INTEGER NOT NULL DEFAULT 1, locale TEXT,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE TABLE rp_token ("
    " id TEXT PRIMARY KEY, user_id TEXT NOT NULL, kind TEXT NOT NULL, name TEXT,"
    " token_hash TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL, expires_at INTEGER,"
    " revoked_at INTEGER, last_used_at INTEGER);"
    "CREATE INDEX rp_token_user ON rp_token(user_id);"
    "CREATE TABLE rp_audit ("
    " id INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT, action TEXT NOT NULL,"
    " object TEXT, record_id TEXT, changes TEXT, request_id TEXT);"
    "CREATE INDEX rp_audit_record ON rp_audit(object, record_id, id);"
    "CREATE TABLE rp_change ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, object TEXT NOT NULL,"
    " record_id TEXT NOT NULL, op TEXT NOT NULL, actor TEXT, changes TEXT);"
    "CREATE TABLE rp_idempotency ("
    " actor TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,"
    " status INTEGER NOT NULL, location TEXT, etag TEXT, body TEXT,"
    " created_at INTEGER NOT NULL, PRIMARY KEY (actor, key));"
    "CREATE TABLE rp_meta_custom ("
    " seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, object TEXT NOT NULL, name TEXT,"
    " definition TEXT NOT NULL, created_at INTEGER NOT NULL, created_by TEXT);"
    "CREATE TABLE rp_setting (key TEXT PRIMARY KEY, value TEXT);",
    /* 2: rows whose full-text entries are brought up to date once per commit group */
    "CREATE TABLE rp_fts_pending ("
    " seq INTEGER PRIMARY KEY, object TEXT NOT NULL, row INTEGER NOT NULL, old_doc TEXT);",
    /* 3: runs of failed logins per username and client address (auth/auth_lockout.c) */
    "CREATE TABLE rp_login_failure ("
    " key TEXT PRIMARY KEY, failures INTEGER NOT NULL, last_at INTEGER NOT NULL,"
    " locked_until INTEGER NOT NULL, forget_at INTEGER NOT NULL);"
    "CREATE INDEX rp_login_failure_forget ON rp_login_failure(forget_at);",
    /* 4: the audit log is queried by actor and action (exports per hour, GET /audit) */
    "CREATE INDEX rp_audit_actor ON rp_audit(actor, action, at);"
    "CREATE INDEX rp_audit_action ON rp_audit(action, id);",
    /*
     * 5: access control (auth/auth_acl.c). Roles form a tree; permission sets are JSON
     * documents; users hold a role, attributes for sharing criteria and any number of sets.
     * Existing users keep working with the "standard" set. acl.version changes with every
     * change of any of this, so each process knows when to reload.
     */
    "CREATE TABLE rp_role ("
    " name TEXT PRIMARY KEY, label TEXT NOT NULL, parent TEXT,"
    " export_rows_per_hour INTEGER, export_block INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE TABLE rp_permission_set ("
    " name TEXT PRIMARY KEY, label TEXT NOT NULL, definition TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE TABLE rp_user_permission_set ("
    " user_id TEXT NOT NULL, permission_set TEXT NOT NULL, PRIMARY KEY (user_id, permission_set));"
    "ALTER TABLE rp_user ADD COLUMN role TEXT;"
    "ALTER TABLE rp_user ADD COLUMN attributes TEXT;"
    "CREATE TABLE rp_object_sharing (object TEXT PRIMARY KEY, default_access TEXT NOT NULL);"
    "CREATE TABLE rp_sharing_rule ("
    " name TEXT PRIMARY KEY, object TEXT NOT NULL, criteria TEXT NOT NULL, role TEXT,"
    " subordinates INTEGER NOT NULL DEFAULT 0, access TEXT NOT NULL, created_at INTEGER NOT NULL);"
    "CREATE TABLE rp_record_share ("
    " object TEXT NOT NULL, record_id TEXT NOT NULL, user_id TEXT NOT NULL,"
    " access INTEGER NOT NULL, team_role TEXT, created_at INTEGER NOT NULL, created_by TEXT,"
    " PRIMARY KEY (object, record_id, user_id));"
    "CREATE INDEX rp_record_share_user ON rp_record_share(user_id, object, access);"
    "INSERT INTO rp_permission_set VALUES ('standard', 'Standard user',"
    " '{\"objects\":{\"*\":{\"read\":true,\"create\":true,\"edit\":true,\"delete\":true,"
    "\"export\":true}},\"system\":[]}', 0, 0);"
    "INSERT INTO rp_permission_set VALUES ('read_only', 'Read only',"
    " '{\"objects\":{\"*\":{\"read\":true}},\"system\":[]}', 0, 0);"
    "INSERT INTO rp_user_permission_set SELECT id, 'standard' FROM rp_user;"
    "INSERT OR REPLACE INTO rp_setting VALUES ('acl.version', '1');",
    /*
     * 6: the durable job queue (jobs/jobs.c) and automation rules (automation/). A change
     * event records what caused it (an automation rule run) so rule chains can be bounded.
     */
    "CREATE TABLE rp_job ("
    " id TEXT PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL, run_at INTEGER NOT NULL,"
    " state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,"
    " lease_owner TEXT, lease_until INTEGER, dedup_key TEXT UNIQUE, last_error TEXT,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, finished_at INTEGER);"
    "CREATE INDEX rp_job_due ON rp_job(state, run_at);"
    "CREATE TABLE rp_job_run ("
    " id INTEGER PRIMARY KEY, job_id TEXT NOT NULL, attempt INTEGER NOT NULL,"
    " worker TEXT NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL,"
    " outcome TEXT NOT NULL, error TEXT);"
    "CREATE INDEX rp_job_run_job ON rp_job_run(job_id, id);"
    "CREATE TABLE rp_automation_rule ("
    " name TEXT PRIMARY KEY, object TEXT NOT NULL, definition TEXT NOT NULL,"
    " active INTEGER NOT NULL DEFAULT 1, since_seq INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE TABLE rp_automation_run ("
    " id INTEGER PRIMARY KEY, rule TEXT NOT NULL, object TEXT, record_id TEXT, trigger TEXT NOT NULL,"
    " at INTEGER NOT NULL, outcome TEXT NOT NULL, detail TEXT, change_seq INTEGER, job_id TEXT);"
    "CREATE INDEX rp_automation_run_rule ON rp_automation_run(rule, id);"
    "ALTER TABLE rp_change ADD COLUMN cause TEXT;",
    /*
     * 7: approvals (automation/approval.c) and record locks, which the write path honours for
     * every caller but administrators and internal work.
     */
    "CREATE TABLE rp_record_lock ("
    " object TEXT NOT NULL, record_id TEXT NOT NULL, reason TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, PRIMARY KEY (object, record_id));"
    "CREATE TABLE rp_approval_process ("
    " name TEXT PRIMARY KEY, object TEXT NOT NULL, definition TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE TABLE rp_approval ("
    " id TEXT PRIMARY KEY, process TEXT NOT NULL, object TEXT NOT NULL, record_id TEXT NOT NULL,"
    " state TEXT NOT NULL, step INTEGER NOT NULL, submitted_by TEXT NOT NULL,"
    " submitted_at INTEGER NOT NULL, decided_at INTEGER);"
    "CREATE UNIQUE INDEX rp_approval_pending ON rp_approval(object, record_id)"
    " WHERE state = 'pending';"
    "CREATE INDEX rp_approval_record ON rp_approval(object, record_id, submitted_at);"
    "CREATE TABLE rp_approval_action ("
    " id INTEGER PRIMARY KEY, approval_id TEXT NOT NULL, step INTEGER NOT NULL,"
    " actor TEXT NOT NULL, action TEXT NOT NULL, comment TEXT, at INTEGER NOT NULL);"
    "CREATE INDEX rp_approval_action_approval ON rp_approval_action(approval_id, id);",
    /* 8: webhook subscriptions (automation/webhook.c); their secret signs every delivery */
    "CREATE TABLE rp_webhook ("
    " name TEXT PRIMARY KEY, secret TEXT NOT NULL, definition TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);",
    /*
     * 9: named automation definitions (queues, assignment rules, journeys: automation/
     * definition.c) and the enrolments of records in journeys.
     */
    "CREATE TABLE rp_definition ("
    " kind TEXT NOT NULL, name TEXT NOT NULL, object TEXT, definition TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (kind, name));"
    "CREATE TABLE rp_journey_enrolment ("
    " id TEXT PRIMARY KEY, journey TEXT NOT NULL, object TEXT NOT NULL, record_id TEXT NOT NULL,"
    " state TEXT NOT NULL, step INTEGER NOT NULL, next_at INTEGER, enrolled_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL, detail TEXT);"
    "CREATE UNIQUE INDEX rp_journey_active ON rp_journey_enrolment(journey, record_id)"
    " WHERE state = 'active';"
    "CREATE INDEX rp_journey_record ON rp_journey_enrolment(object, record_id);",
    /*
     * 10: the SLA engine (automation/sla.c): business calendars and policies as data, and one
     * clock per record and target. gen moves whenever the clock's schedule does, so a timer
     * job queued for an older schedule knows it is stale; warn_job and breach_job name the
     * job that fired, so its retry performs the escalation actions without firing twice.
     */
    "CREATE TABLE rp_business_calendar ("
    " name TEXT PRIMARY KEY, definition TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE TABLE rp_sla_policy ("
    " name TEXT PRIMARY KEY, object TEXT NOT NULL, definition TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE TABLE rp_sla_clock ("
    " object TEXT NOT NULL, record_id TEXT NOT NULL, target TEXT NOT NULL, policy TEXT NOT NULL,"
    " state TEXT NOT NULL, started_at INTEGER NOT NULL, due_at INTEGER NOT NULL, warn_at INTEGER,"
    " paused_since INTEGER, paused_ms INTEGER NOT NULL DEFAULT 0, gen INTEGER NOT NULL DEFAULT 0,"
    " warned INTEGER NOT NULL DEFAULT 0, warn_job TEXT, breached_at INTEGER, breach_job TEXT,"
    " met_at INTEGER, updated_at INTEGER NOT NULL, PRIMARY KEY (object, record_id, target));"
    "CREATE INDEX rp_sla_clock_state ON rp_sla_clock(state, due_at);",
    /*
     * 11: email (automation/email.c): templates, and messages as rendered, each stored once
     * under its idempotency key with its delivery state.
     */
    "CREATE TABLE rp_email_template ("
    " name TEXT PRIMARY KEY, object TEXT NOT NULL, definition TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE TABLE rp_email_message ("
    " id TEXT PRIMARY KEY, key TEXT NOT NULL UNIQUE, template TEXT NOT NULL,"
    " object TEXT NOT NULL, record_id TEXT NOT NULL, to_addr TEXT NOT NULL,"
    " subject TEXT NOT NULL, body_text TEXT NOT NULL, body_html TEXT, purpose TEXT NOT NULL,"
    " unsubscribe_url TEXT, state TEXT NOT NULL, error TEXT, campaign_id TEXT, created_by TEXT,"
    " created_at INTEGER NOT NULL, sent_at INTEGER);"
    "CREATE INDEX rp_email_message_record ON rp_email_message(record_id, created_at);"
    "CREATE INDEX rp_email_message_created ON rp_email_message(created_at);",
    /*
     * 12: web-to-lead submissions (sales/sales_capture.c): the rate limit counts them by
     * address, and a double opt-in keeps the hash of its single-use confirmation secret.
     */
    "CREATE TABLE rp_form_submission ("
    " id TEXT PRIMARY KEY, form TEXT NOT NULL, address TEXT NOT NULL, at INTEGER NOT NULL,"
    " state TEXT NOT NULL, lead_id TEXT, confirm_hash TEXT, confirmed_at INTEGER);"
    "CREATE INDEX rp_form_submission_rate ON rp_form_submission(form, address, at);",
    /* 13: the change log by record: stage history, the lead funnel's status history */
    "CREATE INDEX rp_change_record ON rp_change(object, record_id, seq);",
    /*
     * 14: dedup and merge (sales/sales_dedup.c): the match keys of records of objects with
     * duplicate rules, flagged pairs, and merges with what undoing them needs.
     */
    "CREATE TABLE rp_match_key ("
    " object TEXT NOT NULL, record_id TEXT NOT NULL, method TEXT NOT NULL, key TEXT NOT NULL);"
    "CREATE INDEX rp_match_key_key ON rp_match_key(object, method, key);"
    "CREATE INDEX rp_match_key_record ON rp_match_key(object, record_id);"
    "CREATE TABLE rp_duplicate_flag ("
    " id INTEGER PRIMARY KEY, object TEXT NOT NULL, record_id TEXT NOT NULL,"
    " duplicate_id TEXT NOT NULL, rule TEXT NOT NULL, matched TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, UNIQUE (object, record_id, duplicate_id));"
    "CREATE TABLE rp_merge ("
    " id TEXT PRIMARY KEY, object TEXT NOT NULL, master_id TEXT NOT NULL,"
    " duplicate_id TEXT NOT NULL, state TEXT NOT NULL, master_before TEXT NOT NULL,"
    " master_after TEXT NOT NULL, repointed TEXT NOT NULL, merged_by TEXT NOT NULL,"
    " merged_at INTEGER NOT NULL, undone_by TEXT, undone_at INTEGER);"
    "CREATE INDEX rp_merge_record ON rp_merge(object, master_id);",
    /*
     * 15: lead scoring (sales/sales_score.c): each record's latest score per model with its
     * explanation, and the weights of trained (learned) models.
     */
    "CREATE TABLE rp_score ("
    " object TEXT NOT NULL, record_id TEXT NOT NULL, model TEXT NOT NULL, score REAL NOT NULL,"
    " computed_at INTEGER NOT NULL, contributions TEXT NOT NULL,"
    " PRIMARY KEY (object, record_id, model));"
    "CREATE TABLE rp_score_model ("
    " name TEXT PRIMARY KEY, weights TEXT NOT NULL, rows INTEGER NOT NULL,"
    " positives INTEGER NOT NULL, auc REAL, trained_at INTEGER NOT NULL, trained_by TEXT);",
    /*
     * 16: e-signature (sales/sales_sign.c): single-use signing links (only the hash of the
     * token is kept) and, once used, who signed, when, from where and the hash of the PDF.
     */
    "CREATE TABLE rp_signing ("
    " id TEXT PRIMARY KEY, quote_id TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,"
    " created_by TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
    " signed_at INTEGER, signer_name TEXT, signer_address TEXT, pdf_sha256 TEXT);"
    "CREATE INDEX rp_signing_quote ON rp_signing(quote_id, created_at);",
    /*
     * 17: saved list views per user (records/records_view.c): columns, filter, sort and search
     * of one object's list; shared ones are seen by everyone.
     */
    "CREATE TABLE rp_saved_view ("
    " id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, object TEXT NOT NULL, name TEXT NOT NULL,"
    " definition TEXT NOT NULL, shared INTEGER NOT NULL, created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL, UNIQUE (owner_id, object, name));"
    "CREATE INDEX rp_saved_view_shared ON rp_saved_view(object, shared);",
    /* 18: approval processes, email templates, business calendars and SLA policies become
       named definitions (automation/) */
    "INSERT INTO rp_definition (kind, name, object, definition, created_at, updated_at)"
    " SELECT 'approval-processes', name, object, definition, created_at, updated_at"
    " FROM rp_approval_process;"
    "DROP TABLE rp_approval_process;"
    "INSERT INTO rp_definition (kind, name, object, definition, created_at, updated_at)"
    " SELECT 'email-templates', name, object, definition, created_at, updated_at"
    " FROM rp_email_template;"
    "DROP TABLE rp_email_template;"
    "INSERT INTO rp_definition (kind, name, object, definition, created_at, updated_at)"
    " SELECT 'business-calendars', name, NULL, definition, created_at, updated_at"
    " FROM rp_business_calendar;"
    "DROP TABLE rp_business_calendar;"
    "INSERT INTO rp_definition (kind, name, object, definition, created_at, updated_at)"
    " SELECT 'sla-policies', name, object, definition, created_at, updated_at FROM rp_sla_policy;"
    "DROP TABLE rp_sla_policy;",
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

int rp_store_migrations_sqlite_count(void)
{
    return NMIGRATIONS;
}

int rp_store_migrate_sqlite(struct rp_store_conn *c, int *version, struct rp_error *err)
{
    int64_t v = 0;
    int rc = rp_store_query_int(c, "SELECT user_version FROM pragma_user_version", &v, err);

    if (rc < 0)
        return rc;
    if (v > NMIGRATIONS)
        return rp_error_set(
            err, RP_EDB,
            "database schema version %lld is newer than this rapport (%d); upgrade rapport",
            (long long)v, NMIGRATIONS);
    for (int i = (int)v; i < NMIGRATIONS; i++) {
        char bump[64];
        snprintf(bump, sizeof(bump), "PRAGMA user_version = %d;", i + 1);
        rc = rp_store_exec_script(c, "BEGIN IMMEDIATE", err);
        if (rc == 0)
            rc = rp_store_exec_script(c, migrations[i], err);
        if (rc == 0)
            rc = rp_store_exec_script(c, bump, err);
        if (rc == 0)
            rc = rp_store_exec_script(c, "COMMIT", err);
        if (rc < 0) {
            struct rp_error ignore;
            rp_error_init(&ignore, NULL);
            rp_store_exec_script(c, "ROLLBACK", &ignore);
            rp_log_error("migration %d failed", i + 1);
            return rc;
        }
        rp_log_info("applied migration %d", i + 1);
    }
    *version = NMIGRATIONS;
    return 0;
}
