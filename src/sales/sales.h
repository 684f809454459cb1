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
#include "automation/automation.h"
#include "base/buf.h"
#include "base/clock.h"
#include "jobs/jobs.h"
#include "meta/meta.h"
#include "records/records.h"
#include "store/store.h"

struct rp_sales;

struct rp_sales_config {
    struct rp_automation *automation; /* e-mail (double opt-in); may be NULL */
    struct rp_store *store;
    struct rp_meta_registry *meta;
    struct rp_records *records;
    struct rp_jobs *jobs; /* may be NULL (no quote expiry job); the kind is registered on it */
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

/*
 * Pipelines: a named definition of kind "pipelines" (manage_metadata) gives an object's stage
 * field its stages in order, each with a probability, a forecast category, won/lost, and entry
 * criteria:
 *
 *   {"object": "opportunity", "field": "stage", "stages": [
 *     {"value": "proposal", "probability": 50, "forecast_category": "pipeline",
 *      "entry_criteria": [{"condition": "pain_confirmed = true and economic_buyer_id is not
 *                          null", "message": "Confirm the pain and the economic buyer"}]},
 *     {"value": "closed_won", "probability": 100, "won": true}, ...]}
 *
 * A write that moves a record into a stage (create or update) is refused with 422 when any of
 * the stage's criteria does not hold on the record as written: one error per failed criterion,
 * on the stage field, code "entry_criteria", with its message.
 */

/*
 * Web-to-lead: a capture form is a named definition of kind "capture-forms" (manage_metadata);
 * its name is the form key of the public endpoint:
 *
 *   {"fields": ["first_name", "last_name", "email", "company"], "required": ["last_name",
 *    "email"], "values": {"source": "web"}, "campaign_id": "<campaign>", "owner_id"?: "<user>",
 *    "honeypot": "website_url", "rate_limit_per_hour": 10,
 *    "consent": {"field": "newsletter", "channel": "email", "purpose": "marketing",
 *                "policy_version": "2026-01"},
 *    "double_opt_in": {"template": "<email template with {{confirm_url}}>"}, "active": true}
 */

/**
 * Takes a submission to form (public: no principal; input maps names to values), in one
 * transaction as the internal "web_form" principal: counts it against the form's hourly limit
 * per address (RP_ERATELIMIT), drops it quietly when the honeypot is filled, else creates the
 * lead (or fills the blanks of the live unconverted lead with that e-mail), adds a form_submit
 * touchpoint with the utm_* and page_url values (or the referer), campaign membership,
 * consent when the form's box is ticked (with double opt-in: after the confirmation link,
 * mailed after the commit), and the event "form.submitted". Writes {"id", "status":
 * "accepted" | "confirmation_sent"} (the same for dropped spam). RP_ENOTFOUND: no such active
 * form; RP_EINVAL / RP_EVALIDATION: unknown or missing fields, or values the lead refuses.
 */
int rp_sales_form_submit(struct rp_sales *s, const char *form, const json_t *input,
                         const char *address, const char *referer, struct rp_arena *arena,
                         struct rp_buf *out, struct rp_error *err);
/** Confirms a double opt-in (the token of the link): records the consent once; a used link
 *  changes nothing. RP_EINVAL for a malformed or unknown token. */
int rp_sales_form_confirm(struct rp_sales *s, const char *token, struct rp_arena *arena,
                          struct rp_error *err);

/**
 * Writes {"data":[{"stage","entered_at","left_at","days","by"}]}: the record's stages in order
 * from the change log, with the time spent in each (the current one up to now, left_at null).
 * RP_ENOTFOUND when p cannot read the record or its object has no pipeline.
 */
int rp_sales_stage_history(struct rp_sales *s, const struct rp_principal *p, const char *object,
                           const char *id, struct rp_arena *arena, struct rp_buf *out,
                           struct rp_error *err);

/*
 * CPQ (docs/api.md, "Quotes"). Write hooks price every quote line in the write's transaction:
 * list_price from the best active entry of the quote's price book (else of the standard price
 * book) for the product, the quote's currency and the quantity (highest min_quantity reached),
 * else the product's list_price; unit_price defaults to (and follows) list_price unless set;
 * line_total = quantity × unit_price × (1 − discount_percent), exact, rounded half up to the
 * currency's minor unit. No line may sell its product further below list (unit price, line
 * discount and quote discount together) than the product's discount_ceiling: 422 on the field
 * that went past it. The quote's subtotal, discount_amount, tax_amount, total and
 * effective_discount_percent (how far the net lies below the lines' list amounts, the measure
 * approval processes use) follow its live lines. Lines of a quote that is not draft or
 * rejected, and its discount and tax, are read-only (409) until the quote is re-opened
 * (status draft); people cannot set approval, signing or expiry states themselves.
 */

/** The job kind that expires quotes (queued daily by rp_sales_quote_expiry_queue). */
#define RP_SALES_QUOTE_EXPIRE_JOB "quote.expire"

/**
 * Marks "expired", as internal work, every live quote in draft, approved or sent whose
 * valid_until is before today (UTC, from the clock), with a "quote.expired" event each; *n (may
 * be NULL) gets how many. At most 1,000 per call (the job runs again the next day).
 */
int rp_sales_quote_expire(struct rp_sales *s, size_t *n, struct rp_error *err);
/** Queues today's expiry job (dedup key per UTC day; again the same day does nothing). */
int rp_sales_quote_expiry_queue(struct rp_sales *s, struct rp_error *err);

/*
 * E-signature. A signing link (single-use token; only its hash is stored) is made by who may
 * edit an approved or sent quote: the quote becomes "sent". The signer, who needs no account,
 * reads the quote and its exact PDF through the token and signs with a name: the PDF is rendered
 * again, its SHA-256 recorded with the name, the time and the address (and compared with the
 * hash the signer saw, if given), and the quote becomes signed as internal work, in the same
 * transaction as its contract, order and won opportunity (contract to order) and the event
 * "quote.signed". A link signs once and expires (default 30 days, at most 90).
 */

/** options {"signer_name"?, "signer_email"?, "expires_in_days"?}; writes {"id", "token",
 *  "url": "/sign/<token>", "expires_at"}. RP_ECONFLICT unless approved or sent. */
int rp_sales_signing_link(struct rp_sales *s, const struct rp_principal *p, const char *quote_id,
                          const json_t *options, struct rp_arena *arena, struct rp_buf *out,
                          struct rp_error *err);
/** *out (owned): {"state": "open" | "signed" | "expired", the quote's number, name, currency,
 *  amounts and validity, "signer_name", "expires_at", "signed_at", "pdf"}. RP_ENOTFOUND. */
int rp_sales_signing_view(struct rp_sales *s, const char *token, struct rp_arena *arena,
                          json_t **out, struct rp_error *err);
/** The PDF the link signs. */
int rp_sales_signing_pdf(struct rp_sales *s, const char *token, struct rp_arena *arena,
                         struct rp_buf *out, struct rp_error *err);
/** input {"name", "accept": true, "pdf_sha256"?}; writes {"state", "signed_at", "pdf_sha256"}.
 *  RP_ENOTFOUND, RP_EVALIDATION (name, accept), RP_ECONFLICT (used, expired, the quote or its
 *  document changed, not out for signature). */
int rp_sales_sign(struct rp_sales *s, const char *token, const json_t *input, const char *address,
                  struct rp_arena *arena, struct rp_buf *out, struct rp_error *err);
/** Writes {"data":[{"id","state","created_by","created_at","expires_at","signed_at",
 *  "signer_name","signer_address","pdf_sha256"}]} for a quote p may read. */
int rp_sales_signings(struct rp_sales *s, const struct rp_principal *p, const char *quote_id,
                      struct rp_arena *arena, struct rp_buf *out, struct rp_error *err);

/**
 * Renders quote id, which p must be able to read (RP_ENOTFOUND otherwise; internal callers such
 * as signing pass an unrestricted principal), as a PDF into out
 * (binary; out's cap bounds it, RP_ETOOBIG past it): header with the quote number, name,
 * status and validity, the account and contact, the lines (product or description, quantity,
 * unit price, discount, line total), the totals and the terms, in Chinese and English
 * (SimSun, GBK). The bytes depend only on the quote's data: the same data gives the same
 * bytes (the document dates are the quote's updated_at), which signing relies on.
 */
int rp_sales_quote_pdf(struct rp_sales *s, const struct rp_principal *p, const char *id,
                       struct rp_arena *arena, struct rp_buf *out, struct rp_error *err);

/*
 * Dedup and merge. Match keys (sales_match.c) are normalised forms of field values that two
 * duplicates share; each normaliser returns false (no key) for a value that is not plausible,
 * and appends the key to out otherwise. They are pure and thread-safe; country is the default
 * country calling code for phone numbers ("86"), ignored by the others.
 *
 *   email    trimmed, lower-cased; one '@', a dotted domain ("Li.Wei@Tea.CN " -> "li.wei@tea.cn")
 *   phone    E.164: "+86 138-1234-5678", "0086 13812345678", "8613812345678", "138 1234 5678"
 *            -> "+8613812345678"; "010-8888 6666 转 123" -> "+861088886666" (extensions
 *            dropped); Chinese numbers must be a mobile (1[3-9] + 9 digits) or an area code and
 *            a local number; other countries 8-15 digits
 *   company  NFKC, case folded, punctuation and spaces removed, legal forms dropped from the end
 *            (有限公司, 股份有限公司, 有限责任公司, 集团, 公司, Co., Ltd., Limited, Inc., LLC,
 *            Corp., GmbH, S.A., ...): "腾讯科技（深圳）有限公司" -> "腾讯科技深圳"
 *   uscc     the 18-character unified social credit code, upper-cased, with a valid GB 32100-2015
 *            check character
 *   name     NFKC, case folded, words separated by one space (compared by similarity)
 */
bool rp_sales_match_email(const char *in, size_t n, const char *country, struct rp_buf *out);
bool rp_sales_match_phone(const char *in, size_t n, const char *country, struct rp_buf *out);
bool rp_sales_match_company(const char *in, size_t n, const char *country, struct rp_buf *out);
bool rp_sales_match_uscc(const char *in, size_t n, const char *country, struct rp_buf *out);
bool rp_sales_match_name(const char *in, size_t n, const char *country, struct rp_buf *out);
/** True when s (n bytes) is an 18-character USCC whose check character is right. */
bool rp_sales_uscc_is_valid(const char *s, size_t n);
/** Jaro-Winkler similarity (prefix scale 0.1, up to 4) of two UTF-8 strings over code points:
 *  1.0 for equal strings, 0.0 when nothing matches. */
double rp_sales_similarity(const char *a, size_t an, const char *b, size_t bn);

typedef bool (*rp_sales_match_fn)(const char *in, size_t n, const char *country,
                                  struct rp_buf *out);

/** A match method: its normaliser, and whether keys are compared by similarity. */
struct rp_sales_match_method {
    const char *name;
    rp_sales_match_fn key;
    bool fuzzy; /* compared with rp_sales_similarity among records sharing a blocking key */
};

/** The method called name, or NULL. */
const struct rp_sales_match_method *rp_sales_match_method(const char *name);

/*
 * Duplicate rules: named definitions of kind "duplicate-rules" (manage_metadata):
 *
 *   {"object": "lead", "action": "block" | "warn" | "flag",
 *    "match": [{"method": "email", "field": "email"}, {"method": "phone", "field": "mobile"},
 *              {"method": "name", "fields": ["last_name", "first_name"], "threshold": 0.92,
 *               "block_by": "company"}, ...]}
 *
 * A write hook keeps the match keys of the records of objects that have rules (rp_match_key)
 * and, on a create or an update that changes a matched field, looks for live records sharing a
 * key (fuzzy names: among records sharing the block_by method's key, similarity >= threshold).
 * block: the write fails with RP_EDUPLICATE (409 "duplicate"; one error per duplicate the caller
 * can read); warn: the same unless the request carries RP_WRITE_ALLOW_DUPLICATES; flag: the
 * write is kept, the pairs go to rp_duplicate_flag and the event "duplicate.flagged" is
 * appended. Storing or deleting a rule rebuilds the keys of its object in the same transaction.
 */

/**
 * Writes {"data":[{"id","score","matched":["email",...]}]}: live records of object that p can
 * read and that match record id under the object's rules, best score first. RP_ENOTFOUND when
 * p cannot read the record.
 */
int rp_sales_duplicates(struct rp_sales *s, const struct rp_principal *p, const char *object,
                        const char *id, struct rp_arena *arena, struct rp_buf *out,
                        struct rp_error *err);

/**
 * Merges record duplicate_id of object into id in one transaction: the master takes the
 * duplicate's values of the fields that choices ({"field": "duplicate" | "master"}) give to the
 * duplicate; every live record whose reference field targets object and holds the duplicate
 * (and every activity-like record whose related_object/related_id names it) is re-pointed to
 * the master through the write path; the duplicate is soft-deleted; a row of rp_merge keeps the
 * master's values before and after and the exact list of re-pointed references; the event
 * "record.merged" is appended. p needs edit access to the master and full access to the
 * duplicate. Writes the merge (see rp_sales_merge_get). Errors: RP_ENOTFOUND, RP_EFORBIDDEN,
 * RP_EINVAL (body), RP_EVALIDATION (a field that cannot be chosen), those of the writes.
 */
int rp_sales_merge(struct rp_sales *s, const struct rp_principal *p, const char *object,
                   const char *id, const char *duplicate_id, const json_t *choices,
                   const char *request_id, struct rp_arena *arena, struct rp_buf *out,
                   struct rp_error *err);
/**
 * Undoes a merge in one transaction: the master's merged fields go back to their values before
 * (RP_ECONFLICT if any changed since the merge), the duplicate is restored and the references
 * re-pointed by the merge that still point at the master point at the duplicate again; the
 * event "record.unmerged" is appended. RP_ECONFLICT when already undone.
 */
int rp_sales_merge_undo(struct rp_sales *s, const struct rp_principal *p, const char *merge_id,
                        const char *request_id, struct rp_arena *arena, struct rp_buf *out,
                        struct rp_error *err);
/** Writes {"id","object","master_id","duplicate_id","state","fields","master_before",
 *  "repointed":[{"object","field","id"}],"merged_at","merged_by","undone_at","undone_by"}
 *  for a merge whose master p can read (RP_ENOTFOUND otherwise). */
int rp_sales_merge_get(struct rp_sales *s, const struct rp_principal *p, const char *merge_id,
                       struct rp_arena *arena, struct rp_buf *out, struct rp_error *err);

/*
 * Scoring: a scoring model is a named definition of kind "scoring-models" (manage_metadata).
 * A rules model (docs/scoring.md):
 *
 *   {"object": "lead", "field": "score", "max": 100, "rules": [
 *     {"name": "big company", "category": "profile", "condition": "employees >= 500",
 *      "points": 20},
 *     {"name": "opened an email", "category": "behaviour", "touchpoint": "opened", "points": 5,
 *      "decay_days": 30, "decay": "linear" | "exponential", "max_points": 20},
 *     {"name": "from referral", "category": "channel", "condition": "source = 'referral'",
 *      "points": 15}]}
 *
 * A condition rule gives its points when its expression holds on the record; a touchpoint rule
 * gives them for each touchpoint of that type linked to the record (the touchpoint's reference
 * to the model's object), each worth points × (1 − age/decay_days) (linear, 0 past decay_days)
 * or points × 2^(−age/decay_days) (exponential: decay_days is the half-life), capped at
 * max_points. The score, clamp(sum, 0, max) rounded to 2 decimals, is written to field through
 * the write path as the internal "scoring" principal when the record or one of its
 * touchpoints is written (a write hook; a write that changes only score fields does not
 * recompute), and daily (rp_sales_score_recompute) so decay shows.
 *
 * A learned model: {"object": "lead", "field": "score", "kind": "learned", "label":
 * {"positive": "status = 'converted'", "negative": "status = 'disqualified'"}, "features":
 * [{"field": "source", "type": "category"}, {"field": "employees", "type": "number",
 * "transform": "log1p"}]}: L2-regularised logistic regression (liblinear), trained on demand;
 * the score is the probability × 100.
 */

/**
 * Writes {"model","field","score","computed_at","contributions":[{"rule","category","points",
 * "detail"}]}: the latest score of a record (by model, or the first model of object by name)
 * and why. Computed now (and not stored) when it never was. The detail of a contribution that
 * reads a field hidden from p (a condition, a learned feature) is withheld. RP_ENOTFOUND: p cannot read the
 * record, or no such model (untrained learned models too); RP_EFORBIDDEN: the score field is
 * hidden from p.
 */
int rp_sales_score_explain(struct rp_sales *s, const struct rp_principal *p, const char *object,
                           const char *id, const char *model, struct rp_arena *arena,
                           struct rp_buf *out, struct rp_error *err);
/**
 * Trains learned model name on the records of its object that p can read and whose label
 * condition holds (positive or negative): a deterministic 20% (by a hash of the record id) is
 * held out for the AUC, the rest trains. Stores the weights, then rescores every record of the
 * object. Writes {"model","rows","positives","test_rows","auc","trained_at"} (auc null when
 * the held-out part lacks a class). Needs manage_metadata (RP_EFORBIDDEN); RP_ENOTFOUND (no
 * such model), RP_EVALIDATION (not a learned model; too few rows or a single class).
 */
int rp_sales_score_train(struct rp_sales *s, const struct rp_principal *p, const char *model,
                         struct rp_arena *arena, struct rp_buf *out, struct rp_error *err);
/**
 * Recomputes the scores of every live record of model's object (model NULL: every model) and
 * writes those that changed; *updated (may be NULL) counts them. The daily job
 * "scoring.recompute" runs it for every model (decay lowers scores without any write; a new or
 * changed model reaches records written before it), POST /scoring/{model}/recompute for one.
 * RP_ENOTFOUND for an unknown model. Not for writer units.
 */
int rp_sales_score_recompute(struct rp_sales *s, const char *model, size_t *updated,
                             struct rp_error *err);

/* ---- the learned model's primitives (also used by bench/score_eval.c) ---- */

enum rp_score_ftype {
    RP_SCORE_CATEGORY, /* one-hot over the levels seen in training, plus missing */
    RP_SCORE_NUMBER,   /* standardised (after an optional log1p), plus missing */
};

struct rp_score_feature {
    const char *name;
    enum rp_score_ftype type;
    bool log1p;
};

/** A table of examples: cells[row * nfeatures + j] is the text of feature j (NULL: missing). */
struct rp_score_data {
    const struct rp_score_feature *features;
    size_t nfeatures;
    size_t nrows;
    const char *const *cells;
    const int *labels;   /* 1 positive, 0 negative */
    const bool *holdout; /* rows kept out of training, for the AUC */
};

struct rp_score_fit {
    size_t rows, positives; /* training rows */
    size_t test_rows;       /* held-out rows */
    double auc;             /* on the held-out rows; NAN when they lack a class */
};

/**
 * Fits L2-regularised logistic regression (liblinear L2R_LR, cost c; 0: 1.0) on the rows not
 * held out. *model (caller frees with json_decref) gets {"bias", "features": [{"field",
 * "type", "transform"?, "mean", "sd", "weight", "missing_weight"} | {"field", "type":
 * "category", "levels": {level: weight}, "missing_weight"}]}. RP_EVALIDATION when the
 * training rows lack a class.
 */
int rp_sales_lr_train(const struct rp_score_data *d, double c, json_t **model,
                      struct rp_score_fit *fit, struct rp_error *err);
/**
 * The probability of the positive class for one row of cells (in the model's feature order).
 * explain (may be NULL) gets {"feature","value","weight"} objects appended, largest
 * |contribution| first, at most top.
 */
double rp_sales_lr_predict(const json_t *model, const char *const *cells, json_t *explain,
                           size_t top);
/** Area under the ROC curve (Mann–Whitney U, ties counted half); NAN without both classes. */
double rp_sales_auc(const double *scores, const int *labels, size_t n);
/** The deterministic 20% hold-out: true for about one key in five (FNV-1a hash). */
bool rp_sales_is_holdout(const char *key);

#endif
