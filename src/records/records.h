/*
 * Records: the one read path and the one write path for every object.
 *
 * Reads (get, list, search, history, change feed) compose one SQL query per
 * call: the object's columns, the policy's visibility condition, the
 * caller's filter compiled from the expression language, full-text and
 * keyset conditions. Nothing reaches the store without the policy condition.
 *
 * Writes (create, update, upsert, delete, restore; alone or in a batch) are
 * validated against the metadata on the caller's thread, then applied by the
 * store's writer as one unit: the row, an audit entry, a change event and the
 * idempotency record commit in the same transaction, and the response is
 * built from the row as committed. Validation rules are checked on the
 * written row inside that transaction; a failing rule rolls the unit back.
 *
 * Responses are produced as JSON text into caller-provided buffers, so the
 * API layer only frames them.
 */
#ifndef RP_RECORDS_RECORDS_H
#define RP_RECORDS_RECORDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "meta/meta.h"
#include "store/store.h"

struct rp_records;

struct rp_records_config {
    struct rp_store *store;
    struct rp_meta_registry *meta;
    const struct rp_clock *clock;
};

struct rp_records *rp_records_new(const struct rp_records_config *cfg);
void rp_records_free(struct rp_records *rs);

/**
 * Loads custom definitions from the store, builds the snapshot and brings
 * tables, columns, indexes and full-text indexes in line with it. Used at
 * start-up; *out receives the snapshot (caller installs it in a registry).
 */
int rp_records_load_metadata(struct rp_store *store, const struct rp_clock *clock,
                             struct rp_meta **out, struct rp_error *err);

/**
 * The table work of rp_records_load_metadata on connection c, inside the caller's transaction:
 * builds the snapshot from the catalogue and c's rp_meta_custom, and creates or completes every
 * record table, index and full-text index it asks for. For rp_store_copy's schema step (the
 * destination gets its custom tables and columns from the same code as at run time).
 */
int rp_records_sync_schema_in(struct rp_store_conn *c, int64_t now_ms, struct rp_error *err);

/**
 * Applies a custom definition (meta.h, struct rp_meta_custom_def: kind "object", "field",
 * "object_change", "field_change", "field_delete" or "object_delete" on object) from JSON:
 * validates it by building the next snapshot, stores it, creates the columns and indexes in
 * the same transaction, audits it and swaps the registry's snapshot. An object is deleted
 * only while its table has no row. Returns 0, RP_EINVAL/RP_EVALIDATION, RP_ENOTFOUND,
 * RP_ECONFLICT.
 */
int rp_records_define(struct rp_records *rs, const struct rp_principal *p, const char *kind,
                      const char *object, const json_t *definition, struct rp_error *err);

/* The topic of the store notice (store.h) that a metadata change sends; its argument is the
   object's name. Every process's records service reloads its snapshot on it. */
#define RP_RECORDS_NOTICE_META "meta"

/**
 * Reads the custom definitions again and swaps the registry's snapshot (another process
 * changed them: its DDL has committed with them, so no table needs syncing). Thread-safe.
 */
int rp_records_reload_metadata(struct rp_records *rs, struct rp_error *err);

/* ---- reads ---- */

struct rp_list_query {
    const char *filter; /* expression, or NULL */
    const char *sort;   /* "-amount,name", or NULL for id order */
    size_t limit;       /* 1..RP_LIMIT_PAGE_MAX; 0 means the default */
    const char *cursor; /* opaque, from a previous page's next_cursor */
    const char *fields; /* "name,email", or NULL for all */
    const char *q;      /* full-text search, or NULL */
    bool count;         /* include "total" (exact up to RP_LIMIT_COUNT_EXACT) */
};

/**
 * Writes {"data":[...],"next_cursor":...,"total":{...}} for a list query.
 * Errors: RP_ENOTFOUND (unknown object), RP_EINVAL (bad filter, sort, fields,
 * cursor or limit — the message names the parameter), RP_EFORBIDDEN.
 */
int rp_records_list(struct rp_records *rs, const struct rp_principal *p, const char *object,
                    const struct rp_list_query *lq, struct rp_arena *arena, struct rp_buf *out,
                    struct rp_error *err);

/**
 * Inside a writer unit (on its connection c): writes the JSON of a live record p may read
 * (RP_ENOTFOUND otherwise), every field with unmasked (values for internal copying, never
 * for showing to p), else as p sees it.
 */
int rp_records_read_in(struct rp_records *rs, struct rp_store_conn *c, const struct rp_principal *p,
                       const char *object, const char *id, bool unmasked, struct rp_arena *a,
                       struct rp_buf *out, struct rp_error *err);
/** Writes one record's JSON; *version gets its version for the ETag. RP_ENOTFOUND when missing
 *  or invisible. fields as in rp_list_query. */
int rp_records_get(struct rp_records *rs, const struct rp_principal *p, const char *object,
                   const char *id, const char *fields, struct rp_arena *arena, struct rp_buf *out,
                   int64_t *version, struct rp_error *err);

/** Writes {"data":[{"seq","at","actor","action","changes","request_id"}...],"next":...}: the audit
 *  trail of one record, oldest first, after audit id `after`. */
int rp_records_history(struct rp_records *rs, const struct rp_principal *p, const char *object,
                       const char *id, int64_t after, size_t limit, struct rp_arena *arena,
                       struct rp_buf *out, struct rp_error *err);

/** Writes {"data":[{"seq","at","object","id","op","actor","changes"}...],"next":seq}. objects is
 *  a comma-separated filter or NULL. */
int rp_records_changes(struct rp_records *rs, const struct rp_principal *p, int64_t after,
                       size_t limit, const char *objects, struct rp_arena *arena,
                       struct rp_buf *out, struct rp_error *err);

/* ---- writes ---- */

enum rp_write_op {
    RP_WRITE_CREATE,
    RP_WRITE_UPDATE,
    RP_WRITE_UPSERT,
    RP_WRITE_DELETE,
    RP_WRITE_RESTORE
};

/** One operation and, after the write, its outcome. */
struct rp_write {
    enum rp_write_op op;
    const char *id;        /* update, delete, restore */
    const json_t *data;    /* create, update, upsert: field values (borrowed) */
    const char *key_field; /* upsert: a unique field */
    const char *key_value; /* upsert: its value as text */
    int64_t if_match;      /* expected version, or -1 */
    /* outcome */
    int status;          /* HTTP-style status of this item: 200, 201, 4xx */
    struct rp_error err; /* when status >= 400 */
    struct rp_buf body;  /* the record as committed (JSON) */
    char new_id[40];
    int64_t version;
    /* private */
    struct rp_value *_values; /* validated values by field index, _set marks which */
    bool *_set;
    bool _invalid; /* failed validation in rp_records_prepare */
};

/* Flags of a write request that hooks read. */
#define RP_WRITE_ALLOW_DUPLICATES 1u /* the caller saw the duplicate warning and saves anyway */

/** A request to write: one operation, or a batch. */
struct rp_write_request {
    const struct rp_principal *principal;
    const char *object;
    struct rp_write *writes;
    size_t nwrites;
    bool batch;                  /* respond with per-item results */
    bool atomic;                 /* batch: all or nothing */
    const char *idempotency_key; /* or NULL */
    const char *fingerprint;     /* hash of method, path and body, with the key */
    const char *request_id;
    const char *cause; /* JSON stored with the change events: what made this write (automation) */
    unsigned flags;    /* RP_WRITE_* below, for write hooks */
    struct rp_arena *arena; /* the request's arena; outlives the write */
    struct rp_error *err;   /* request-level failure (idempotency conflict, store errors) */
    /* outcome */
    bool replayed; /* answered from the idempotency record */
    int replay_status;
    const char *replay_body, *replay_location, *replay_etag;
    /* private */
    struct rp_meta *_meta;
    const struct rp_object *_object;
    struct rp_records *_rs;
    void (*_done)(void *ctx, int rc);
    void *_done_ctx;
};

/**
 * Validates every operation against the metadata on the calling thread.
 * Returns 0, or an error in wr->err (single operation: 400 unknown field,
 * 422 invalid values, 404 unknown object, 403). In a batch, item errors go to
 * each item and only request-level problems fail this call.
 */
int rp_records_prepare(struct rp_records *rs, struct rp_write_request *wr);
/**
 * Queues a prepared request for the writer; done(ctx, rc) runs on the writer
 * thread after commit (rc 0: see each write's status) or failure. Returns 0
 * or RP_EBUSY when the write queue is full.
 */
int rp_records_submit(struct rp_records *rs, struct rp_write_request *wr,
                      void (*done)(void *ctx, int rc), void *ctx);
/** prepare + submit + wait: for the CLI, demo data and tests. */
int rp_records_write(struct rp_records *rs, struct rp_write_request *wr);
/**
 * prepare + apply on c, inside a writer unit the caller runs: for operations that write several
 * objects in one transaction (lead conversion, merges). The caller's unit must fail (roll back)
 * when this returns an error; a single operation's error is in wr->err.
 */
int rp_records_write_in(struct rp_records *rs, struct rp_store_conn *c,
                        struct rp_write_request *wr);
/**
 * Inside a writer unit: appends an event of type (a change event of object "event": rules,
 * webhooks and the change feed see it) about record_id, with data. A NULL data is a caller's
 * failed json_pack: RP_EINTERNAL, nothing written.
 */
int rp_records_event_in(struct rp_store_conn *c, int64_t now, const char *type,
                        const char *record_id, const char *actor, const json_t *data,
                        struct rp_arena *arena, struct rp_error *err);
/** Releases the metadata reference a prepared request holds. Safe to call twice. */
void rp_records_request_release(struct rp_write_request *wr);

/** Writes the batch response {"atomic":..,"committed":..,"results":[...]} for a request. */
void rp_records_batch_json(const struct rp_write_request *wr, struct rp_buf *out);

/* ---- export and the audit log ---- */

/** Most data rows one export writes; the rest are cut off and the export marked truncated. */
#define RP_RECORDS_EXPORT_MAX_ROWS 100000
/** The rp_setting key of the per-user limit on exported rows per rolling hour (absent: none). */
#define RP_RECORDS_EXPORT_LIMIT_SETTING "export.max_rows_per_hour"

enum rp_export_header {
    RP_EXPORT_HEADER_NAMES, /* API field names */
    RP_EXPORT_HEADER_EN,    /* English labels */
    RP_EXPORT_HEADER_ZH,    /* Chinese labels */
};

struct rp_export_query {
    const char *filter, *sort, *fields, *q; /* as in rp_list_query; fields also orders columns */
    enum rp_export_header header;           /* what the header row holds */
    bool bom;                               /* start with a UTF-8 byte order mark (Excel) */
    const char *request_id;                 /* recorded in the audit entry; may be NULL */
    size_t max_rows; /* 0 or more than RP_RECORDS_EXPORT_MAX_ROWS: that limit */
};

struct rp_export_result {
    size_t rows;           /* data rows written */
    bool truncated;        /* rows were left at max_rows or at out's size cap */
    int64_t retry_after_s; /* RP_ERATELIMIT: seconds until the export would fit (an hour if
                              it is larger than the limit itself and never will) */
};

/**
 * Writes the rows of object that p may see as CSV (RFC 4180: CRLF line ends, fields with
 * commas, quotes or line breaks quoted, quotes doubled) to out: a header row, then one row per
 * record in list order. Columns are id and the fields= fields in the order given (all fields in
 * metadata order without fields=). Values are written as the JSON API writes them (exact
 * decimal money, YYYY-MM-DD dates, RFC 3339 UTC datetimes, true/false, multi-picklist values
 * joined with ";"; null is an empty cell). A text cell starting with =, +, -, @, TAB or CR gets
 * a leading apostrophe so spreadsheets do not run it as a formula; numbers, dates and booleans
 * are written by rapport and are left alone. Rows stop at eq->max_rows, or before the row that
 * would take out past its cap, and res->truncated says so.
 *
 * Every export is audited once its rows are read: one rp_audit entry (action "export", the
 * object, p's user id, request_id, and changes {"filter","q","sort","fields":[...],"rows",
 * "truncated"}) is committed through the store's writer before this returns 0; an export that
 * cannot be audited fails. When the setting RP_RECORDS_EXPORT_LIMIT_SETTING holds a limit and
 * p's exports of the last hour plus this one exceed it, the entry is an "export.anomaly" (also
 * with "limit" and "window_rows") and the result is RP_ERATELIMIT with res->retry_after_s.
 *
 * Blocks while the writer commits the audit entry; not for writer units. Errors: RP_ENOTFOUND
 * (unknown object), RP_EINVAL (as rp_records_list), RP_EFORBIDDEN, RP_ERATELIMIT, store errors
 * (RP_EBUSY, RP_EDB; a setting that is not an integer is RP_EINTERNAL). On error out holds
 * nothing useful.
 */
int rp_records_export_csv(struct rp_records *rs, const struct rp_principal *p, const char *object,
                          const struct rp_export_query *eq, struct rp_arena *arena,
                          struct rp_buf *out, struct rp_export_result *res, struct rp_error *err);

/** A query of the audit log. Unset (NULL, false, 0) members do not filter. */
struct rp_audit_query {
    const char *actor;      /* user id */
    const char *actions;    /* comma-separated list of actions, e.g. "export,export.anomaly" */
    const char *object;     /* object name */
    const char *record_id;  /* record id */
    const char *request_id; /* request id */
    bool has_since, has_until;
    int64_t since, until; /* at >= since and at < until, epoch ms */
    int64_t after;        /* entries with id > after */
    int64_t before;       /* entries with id < before; 0: no bound */
    size_t limit;         /* 1..RP_LIMIT_PAGE_MAX; 0: 100 */
    bool ascending;       /* oldest first; newest first otherwise */
};

/**
 * Writes {"data":[{"id","at","actor","action","object","record_id","changes","request_id"}...],
 * "next":id|null}: audit entries matching aq, newest first (or oldest first), at most
 * aq->limit. next is the id of the last entry when more match: pass it as before= (newest
 * first) or after= (oldest first) for the following page. Only admins (and the system
 * principal) may read the log: RP_EFORBIDDEN otherwise; RP_EINVAL for a bad action list or
 * limit. The log is append-only: no interface changes or removes an entry.
 */
int rp_records_audit_list(struct rp_records *rs, const struct rp_principal *p,
                          const struct rp_audit_query *aq, struct rp_arena *arena,
                          struct rp_buf *out, struct rp_error *err);

/* ---- masking and reveal (records_mask.c) ---- */

/**
 * Sets *out to in as shown to a caller who may not see field f in clear (a sensitive field
 * without the reveal permission). Rules by field type: phone keeps the first 3 and last 4 digits
 * and masks the digits between with '*', keeping every other character and a leading
 * "+<country code>" followed by a separator ("13800138000" -> "138****8000", "+86 138 0013 8000"
 * -> "+86 138 **** 8000"; fewer than 8 digits: all masked); email masks the local part as text
 * and keeps "@domain" ("wang.lei@xingyun.cn" -> "w***@xingyun.cn"); date and datetime become
 * "****-**-**"; text and url keep the first code point and add "***" (1 or 2 code points: "*",
 * "**"); any other value becomes "****". Null stays null, "" stays "". UTF-8 safe: code points
 * are counted and never split; invalid UTF-8 becomes "****". Borrows f and in; masked text is
 * arena memory (or static). Never fails.
 */
void rp_records_mask_value(const struct rp_field *f, const struct rp_value *in,
                           struct rp_arena *arena, struct rp_value *out);

/**
 * Writes {"id":...,"fields":{"name":value,...}}: the clear values of the sensitive fields named
 * in fields (a JSON array of names; NULL: every sensitive field of the object) of one live
 * record, in field order, and writes an audit entry (action "reveal", the field names, never
 * the values) in the same writer transaction. Blocks while the writer commits; not for writer
 * units. Errors: RP_ENOTFOUND (unknown object, or a record that is missing, deleted or
 * invisible), RP_EFORBIDDEN (p lacks the "reveal" permission), RP_EINVAL (fields not a non-empty array of names, or a
 * name unknown or not sensitive), store errors. request_id may be NULL.
 */
int rp_records_reveal(struct rp_records *rs, const struct rp_principal *p, const char *object,
                      const char *id, const json_t *fields, const char *request_id,
                      struct rp_arena *arena, struct rp_buf *out, struct rp_error *err);

/* ---- installation settings (records_setting.c) ----
 *
 * A few behaviours are set per installation, as rows of rp_setting: the hourly export limit
 * (RP_RECORDS_EXPORT_LIMIT_SETTING: a number of rows, needs manage_users) and the webhook
 * allow-list ("webhooks.allow": comma-separated host names and CIDR ranges, needs
 * manage_automation) and the message bus (RP_RECORDS_BUS_URL_SETTING: a nats:// or tls:// URL,
 * needs manage_automation). Each change is audited ("setting").
 */
#define RP_RECORDS_BUS_URL_SETTING "bus.nats_url"
/* The message bus's change-log cursor, started when RP_RECORDS_BUS_URL_SETTING is first set. */
#define RP_RECORDS_BUS_CURSOR "bus.cursor"

/**
 * Inside a writer unit: starts a change-log cursor (the rp_setting row key, holding the last
 * rp_change seq its consumer handled) at the log's end, unless it exists. The consumer begins
 * with what commits after this unit.
 */
int rp_records_change_cursor_start(struct rp_store_conn *c, const char *key, struct rp_arena *arena,
                                   struct rp_error *err);

/** True when key is a known setting and value has its form. */
bool rp_records_setting_is_valid(const char *key, const char *value);

/** Writes {"key","value"} (value null when unset). RP_ENOTFOUND for a key not in the list. */
int rp_records_setting_get(struct rp_records *rs, const struct rp_principal *p, const char *key,
                           struct rp_arena *arena, struct rp_buf *out, struct rp_error *err);
/** Sets (value NULL: removes) a setting after checking its form (422). */
int rp_records_setting_put(struct rp_records *rs, const struct rp_principal *p, const char *key,
                           const char *value, const char *request_id, struct rp_arena *arena,
                           struct rp_error *err);

/* ---- write hooks (records_write.c) ----
 *
 * Modules take part in the writes of an object through hooks (registered before serving). A
 * hook runs inside the write's transaction after the row was written, passed its validation
 * rules and was logged (audit entry and change event, so that what the hook writes or emits
 * follows the write in the change feed): it sees the record as written and may refuse
 * the write (return an error with err set: the write fails with it, nothing of it is kept),
 * read on ev->c, or write more with rp_records_write_in (whose writes run hooks too, at most
 * RP_RECORDS_HOOK_DEPTH deep).
 */
#define RP_RECORDS_HOOK_DEPTH 4

struct rp_write_event {
    struct rp_records *rs;
    struct rp_store_conn *c;
    const struct rp_meta *meta;
    const struct rp_object *object;
    const struct rp_principal *principal;
    enum rp_write_op op; /* CREATE, UPDATE (an upsert is one of them), DELETE or RESTORE */
    const char *id;
    const struct rp_value *values; /* create, update: by field index, where changed[i] */
    const bool *changed;           /* create, update: fields this write set to a new value */
    const struct rp_value *old;    /* update: the row before, by field index; else NULL */
    unsigned flags;                /* the request's RP_WRITE_* flags */
    int64_t now;
    const char *request_id, *cause;
    struct rp_arena *arena;
    /* private: what a before hook may change (rp_write_event_set) */
    struct rp_value *_values;
    bool *_set;
};

/*
 * A before hook (before = true) runs for creates and updates before the row is written, after
 * the write's own checks (access, lock, version, required fields, references; an update's only
 * once some field changes; a create's before its id exists: ev->id is NULL). It reads on
 * ev->c and may change the values the write stores with rp_write_event_set (they are audited
 * and logged like the caller's); values set there skip the metadata checks, so a hook sets only
 * values valid for their field and never references. Validation rules and after hooks see them.
 */
struct rp_write_hook {
    const char *object; /* NULL: every object */
    int (*fn)(void *ctx, const struct rp_write_event *ev, struct rp_error *err);
    void *ctx;
    bool before; /* run before the row is written (create, update) instead of after */
};

#define RP_RECORDS_MAX_HOOKS 32

void rp_records_hook_add(struct rp_records *rs, const struct rp_write_hook *h);
/** Whether field name of ev's object was changed by the write (create: set). */
bool rp_write_event_changed(const struct rp_write_event *ev, const char *field);
/** The value field will have after the write (changed: the new one, else the row's; unknown
 *  field or unset on create: null). Borrowed from ev. */
const struct rp_value *rp_write_event_value(const struct rp_write_event *ev, const char *field);
/** In a before hook: the write stores v in field (an update marks it changed only when it
 *  differs from the row). Ignored in other hooks and for system fields. */
void rp_write_event_set(const struct rp_write_event *ev, const char *field, struct rp_value v);

/* ---- named definitions (records_definition.c) ----
 *
 * Modules keep their configuration documents (queues, journeys, duplicate rules, ...) as named
 * JSON definitions of a kind they register, in one table (rp_definition), managed through one
 * set of endpoints (/api/v1/definitions/{kind}/{name}). A kind names the permission that reads
 * and changes it and the function that checks a definition (422 naming the part).
 */
/* A definition as it changed, for its kind's stored function. */
struct rp_definition_change {
    const char *name;
    const char *old_object; /* the object it named before; NULL when it is new or names none */
    const char *new_object; /* the object it names now; NULL when deleted or it names none */
    bool deleted;
};

struct rp_definition_kind {
    const char *kind;                 /* the path segment, e.g. "queues" */
    const char *noun;                 /* in messages, e.g. "queue" */
    enum rp_policy_action permission; /* to change them, and to read them unless readable */
    bool readable; /* any signed-in user may read them (they describe behaviour: stages) */
    int (*check)(void *ctx, const struct rp_meta *m, const json_t *def, struct rp_arena *arena,
                 struct rp_error *err);
    /*
     * May be NULL. Runs inside the transaction that stores (or deletes) a definition, after it,
     * to bring state that follows definitions up to date or to refuse the change (a failure
     * rolls it back: a definition others use cannot go).
     */
    int (*stored)(void *ctx, struct rp_store_conn *c, const struct rp_definition_change *ch,
                  struct rp_error *err);
    void *ctx;
};

#define RP_RECORDS_MAX_DEFINITION_KINDS 32

/** Registers a kind (before serving; kinds are copied). */
void rp_records_definition_kind_add(struct rp_records *rs, const struct rp_definition_kind *k);
/** Creates or replaces definition name of kind; *created (may be NULL) tells which. */
int rp_records_definition_put(struct rp_records *rs, const struct rp_principal *p, const char *kind,
                              const char *name, const json_t *def, bool *created,
                              struct rp_error *err);
int rp_records_definition_delete(struct rp_records *rs, const struct rp_principal *p,
                                 const char *kind, const char *name, struct rp_error *err);
/**
 * Writes {"data":[{"name","object","definition","updated_at"}]}, or with a name that one
 * definition's object; RP_ENOTFOUND: no such kind, or no such definition.
 */
int rp_records_definitions(struct rp_records *rs, const struct rp_principal *p, const char *kind,
                           const char *name, struct rp_buf *out, struct rp_error *err);
/**
 * For write hooks, which run on every write: *exists is false only when no definition of kind
 * names object (NULL: any object), as the transaction on c sees it. Answered from memory, after
 * one read of the table, and read again after any definition changes (in another process: on
 * its store notice RP_RECORDS_NOTICE_DEFINITION, milliseconds after its commit). True means
 * "look": the hook reads its definitions itself.
 */
int rp_records_definitions_exist(struct rp_records *rs, struct rp_store_conn *c, const char *kind,
                                 const char *object, bool *exists, struct rp_error *err);
/* The topic of the store notice a definition write sends; its argument is the kind. */
#define RP_RECORDS_NOTICE_DEFINITION "definition"
/** On c, no permission check (internal use): *def (owned) or RP_ENOTFOUND naming noun. */
int rp_records_definition_load(struct rp_store_conn *c, const char *kind, const char *noun,
                               const char *name, json_t **def, struct rp_error *err);

/* ---- saved list views (records_view.c) ----
 *
 * A user's named list views of an object: {"name", "object", "columns", "filter", "sort",
 * "q", "shared"}, checked against the metadata (unknown columns or sort fields and filters
 * that do not parse are 422 naming the member). A user sees their own views and the shared
 * ones (only administrators share); one may change or delete one's own views, an administrator
 * also the shared ones. Names are unique per owner and object (409).
 */

/** Writes {"data":[view]}, the caller's views and the shared ones, of object (NULL: all). */
int rp_records_views(struct rp_records *rs, const struct rp_principal *p, const char *object,
                     struct rp_buf *out, struct rp_error *err);
/** Creates a view (id NULL) or changes view id (members of body over the stored ones); writes
 * the view as it now is to out. */
int rp_records_view_put(struct rp_records *rs, const struct rp_principal *p, const char *id,
                        const json_t *body, struct rp_buf *out, struct rp_error *err);
int rp_records_view_delete(struct rp_records *rs, const struct rp_principal *p, const char *id,
                           struct rp_error *err);

/* ---- record shares and teams (records_share.c) ----
 *
 * A record can be shared with a user at "read" or "edit" access, optionally in a team role
 * ("Sales Engineer" on an opportunity team). Whoever holds full access to the record (its
 * owner, the owner's managers, modify_all) manages its shares; each change is audited
 * ("share", "unshare") in the same transaction. Objects whose access follows a parent are
 * shared through the parent.
 */

/** Writes {"data":[{"user_id","username","display_name","access","team_role","created_at"}]}. */
int rp_records_shares(struct rp_records *rs, const struct rp_principal *p, const char *object,
                      const char *id, struct rp_arena *arena, struct rp_buf *out,
                      struct rp_error *err);
/**
 * Shares a record with user_id at access (RP_ACCESS_READ or RP_ACCESS_EDIT), replacing an
 * earlier share. team_role may be NULL. Errors: RP_ENOTFOUND (object, record), RP_EFORBIDDEN
 * (readable, but p may not share it), RP_EVALIDATION (user not active, access, team_role).
 */
int rp_records_share_put(struct rp_records *rs, const struct rp_principal *p, const char *object,
                         const char *id, const char *user_id, enum rp_access_level access,
                         const char *team_role, const char *request_id, struct rp_arena *arena,
                         struct rp_error *err);
int rp_records_share_delete(struct rp_records *rs, const struct rp_principal *p, const char *object,
                            const char *id, const char *user_id, const char *request_id,
                            struct rp_arena *arena, struct rp_error *err);

#endif
