/*
 * Privacy: what rapport holds about a person, and what it may do with them.
 *
 * The consent object is an append-only ledger of grants and withdrawals per channel and purpose
 * (the write path refuses to change or delete its rows). Whether a contact may be contacted is
 * computed from that ledger on every call and never stored: the state of a (channel, purpose)
 * pair is its latest entry by occurred_at, ties broken by the order the entries were written.
 * The model is opt-in: a pair without a grant may not be used, and a contact is do_not_contact
 * when no pair is currently granted (no entries at all, or every latest entry a withdrawal).
 *
 * A subject access export collects everything held about one contact: the contact record, every
 * record of every object whose reference fields point at it, and the contact's audit history.
 * Erasure anonymises the contact's personal fields and those of the records that point at it in
 * one transaction, leaving amounts, dates and counts in place.
 *
 * Every function reads the metadata snapshot current when it is called and must not be called
 * from inside a store writer unit (the export and erasure queue their own).
 */
#ifndef RP_RECORDS_PRIVACY_H
#define RP_RECORDS_PRIVACY_H

#include "records/records.h"

/** The value an erased required text field gets (last_name, for example). */
#define RP_PRIVACY_ERASED "[erased]"

/**
 * Writes the consent state of a contact:
 * {"contact_id","do_not_contact":bool,"channels":{"email":{"may_contact":bool,"purposes":
 * {"marketing":{"action","granted","occurred_at","source","policy_version","consent_id"}}}}}
 * with one entry per (channel, purpose) that has ever been recorded. A channel may be used when
 * at least one of its purposes is granted. Errors: RP_ENOTFOUND (no such contact, or invisible
 * to p), RP_EFORBIDDEN (p may not read contacts or consent), store errors.
 */
int rp_records_consent_state(struct rp_records *rs, const struct rp_principal *p,
                             const char *contact_id, struct rp_arena *arena, struct rp_buf *out,
                             struct rp_error *err);

/**
 * Writes the subject access export of a contact:
 * {"subject":{"object":"contact","id"},"generated_at","contact":{...},
 *  "related":[{"object","field","records":[...]}...],"history":[{"id","at","actor","action",
 *  "changes","request_id"}...]}
 * related has one entry per reference field (of an object other than contact) whose target is
 * contact and that has records pointing at the subject, soft-deleted records included; history
 * is the contact's audit trail, oldest first. All of it is read from one snapshot. The export is
 * audited (action "subject_export" on the contact, changes {"records":n}) before this returns 0.
 * Needs the "privacy" permission. Errors: RP_EFORBIDDEN, RP_ENOTFOUND, RP_ETOOBIG (out's cap),
 * store errors.
 */
int rp_records_subject_export(struct rp_records *rs, const struct rp_principal *p,
                              const char *contact_id, const char *request_id,
                              struct rp_arena *arena, struct rp_buf *out, struct rp_error *err);

/**
 * Erases a contact's personal data in one writer unit: on the contact every sensitive field
 * becomes null (RP_PRIVACY_ERASED when the field is required text), first_name null and
 * last_name RP_PRIVACY_ERASED; on every record of another object that points at the contact the
 * sensitive fields are erased the same way; consent entries stay (they are the legal record)
 * but lose their evidence. Each changed row gets version + 1 and updated_at/updated_by, an audit
 * entry (action "erase", changes {"erased":[field names]}, never values) and a change event (op
 * "update", the same changes). Values of the erased fields already written into earlier audit
 * and change entries of those records are replaced by RP_PRIVACY_ERASED. Erasing again changes
 * nothing and succeeds. Writes {"contact_id","records":n,"fields":m} (rows and values changed
 * by this call). Needs the "privacy" permission. Errors: RP_EFORBIDDEN, RP_ENOTFOUND, store
 * errors.
 */
int rp_records_subject_erase(struct rp_records *rs, const struct rp_principal *p,
                             const char *contact_id, const char *request_id, struct rp_arena *arena,
                             struct rp_buf *out, struct rp_error *err);

/* ---- retention ----
 *
 * A retention policy per object purges or anonymises its records that nobody changed for N
 * days (soft-deleted ones included); the policy named RP_RETENTION_AUDIT drops audit entries
 * older than N days (the one deletion the audit log allows). Policies need the "privacy"
 * permission to set, and are audited ("retention_policy").
 */
#define RP_RETENTION_AUDIT "audit"

/**
 * Sets the policy of object (or RP_RETENTION_AUDIT): days 1-36,600 with action "purge" or
 * "anonymise" (the audit log: purge only, action ignored); days 0 removes it. Append-only
 * objects (the consent ledger) can only be anonymised. Errors: RP_EFORBIDDEN, RP_ENOTFOUND
 * (object), RP_EVALIDATION.
 */
int rp_records_retention_put(struct rp_records *rs, const struct rp_principal *p,
                             const char *object, int64_t days, const char *action,
                             const char *request_id, struct rp_arena *arena, struct rp_error *err);
/** Writes {"data":[{"object","days","action"}]}. */
int rp_records_retention_list(struct rp_records *rs, const struct rp_principal *p,
                              struct rp_arena *arena, struct rp_buf *out, struct rp_error *err);
/**
 * Applies every policy now, in batches of writer units (each batch one transaction: a record is
 * purged with its audit entry "purge", its change event op "purge" and the redaction of the
 * values its earlier audit and change entries hold; or anonymised as by erasure). Writes
 * {"objects":[{"object","action","records":n}]}: records changed by this run.
 */
int rp_records_retention_run(struct rp_records *rs, const struct rp_principal *p,
                             struct rp_arena *arena, struct rp_buf *out, struct rp_error *err);

#endif
