/*
 * Sales: the lead-to-order loop on top of records and automation (lead conversion, ...).
 * Every write goes through the records write path as the caller, so the policy engine, the
 * validation rules, audit and the change log apply as to any other write; operations that
 * write several records do it in one transaction (rp_records_write_in).
 */
#ifndef RP_SALES_SALES_H
#define RP_SALES_SALES_H

#include <jansson.h>

#include "auth/auth.h"
#include "base/buf.h"
#include "base/clock.h"
#include "meta/meta.h"
#include "records/records.h"
#include "store/store.h"

struct rp_sales;

struct rp_sales_config {
    struct rp_store *store;
    struct rp_meta_registry *meta;
    struct rp_records *records;
    const struct rp_clock *clock;
};

struct rp_sales *rp_sales_new(const struct rp_sales_config *cfg);
void rp_sales_free(struct rp_sales *s);

/**
 * Converts a lead, in one transaction: links the account and contact given in options
 * ({"account_id", "contact_id"}) or creates them from the lead's fields, creates an
 * opportunity (unless "create_opportunity": false; "opportunity": {field values} adds to or
 * overrides what comes from the lead), marks the lead converted with links to all three, and
 * carries its lineage over: open activities, campaign memberships and touchpoints of the lead
 * get the contact (and account), and its consent entries are copied to the contact so an
 * opt-out still holds. New records are owned by options.owner_id, else by the caller. Appends
 * the event "lead.converted". Idempotent: a converted lead answers its links again with
 * "already_converted": true. Writes {"lead_id", "account_id", "contact_id", "opportunity_id",
 * "converted_at", "already_converted", "created": {"account", "contact", "opportunity"}}.
 * Errors: RP_ENOTFOUND (no such lead the caller can read), RP_EINVAL (options),
 * RP_ECONFLICT (the lead is disqualified), and those of the writes (403, 422 naming the
 * object).
 */
int rp_sales_convert_lead(struct rp_sales *s, const struct rp_principal *p, const char *lead_id,
                          const json_t *options, const char *request_id, struct rp_arena *arena,
                          struct rp_buf *out, bool *already, struct rp_error *err);

#endif
