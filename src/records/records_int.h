/* Private to src/records/. */
#ifndef RP_RECORDS_RECORDS_INT_H
#define RP_RECORDS_RECORDS_INT_H

#include "records/records.h"

#include <pthread.h>

struct rp_records {
    struct rp_store *store;
    struct rp_meta_registry *meta;
    const struct rp_clock *clock;
    pthread_mutex_t define_lock; /* serialises metadata changes */
    struct rp_definition_kind definition_kinds[RP_RECORDS_MAX_DEFINITION_KINDS];
    size_t ndefinition_kinds;
    struct rp_write_hook hooks[RP_RECORDS_MAX_HOOKS];
    size_t nhooks;
    /* which objects have definitions of which kinds (records_definition.c) */
    struct {
        pthread_mutex_t lock;
        uint64_t generation; /* moves whenever a set being read may be stale */
        unsigned writing;    /* definition writes of this process not yet ended */
        char *pairs;         /* "\nkind\tobject" for each pair, then "\n"; NULL: not read */
    } defined;
};

/** Drops what is known of which objects have definitions (another process changed some). */
void rp_records_definitions_forget(struct rp_records *rs);

/** A row of an object as read: one value per field (field order), typed by field. */
struct rp_row {
    const struct rp_object *object;
    struct rp_value *values; /* nfields entries; formulas are RP_V_NULL until computed */
    int64_t deleted_at;      /* 0 when live */
    int64_t rowid;           /* the store's row number: the keyset tie-breaker */
};

/** Appends the column list for a full row read (fields in order, deleted_at, rowid). */
void rp_records_select_columns(const struct rp_object *o, struct rp_sql *q);
/** Decodes a row fetched with rp_records_select_columns; text copied into arena. */
void rp_records_decode_row(const struct rp_object *o, const struct rp_value *cols, size_t ncols,
                           struct rp_arena *arena, struct rp_row *row);
/**
 * Reads a row by id on connection c (deleted ones too); RP_ENOTFOUND if absent or not
 * readable by p (p NULL: no record-level check, for internal reads).
 */
int rp_records_fetch(struct rp_store_conn *c, const struct rp_meta *m, const struct rp_principal *p,
                     const struct rp_object *o, const char *id, struct rp_arena *arena,
                     struct rp_row *row, struct rp_error *err);
/**
 * For a record p may read: 0 if p has at least level on it, else RP_EFORBIDDEN (a record p may
 * not read at all answers 404 earlier, like a missing one).
 */
int rp_records_check_access(struct rp_store_conn *c, const struct rp_meta *m,
                            const struct rp_principal *p, const struct rp_object *o, const char *id,
                            enum rp_access_level level, struct rp_arena *arena,
                            struct rp_error *err);
/** True if p may read field f of o (field-level security). */
static inline bool rp_records_field_visible(const struct rp_principal *p, const struct rp_object *o,
                                            const struct rp_field *f)
{
    return rp_policy_field(p, o, f) != RP_FIELD_HIDDEN;
}
/** Computes the formula fields of rows (all of one object) in memory, parsing each formula
 *  once; dotted paths are read through c. */
void rp_records_compute_formulas(struct rp_store_conn *c, const struct rp_meta *m,
                                 struct rp_row *rows, size_t nrows, int64_t now_ms,
                                 struct rp_arena *arena);
/**
 * Writes a row as JSON. selected (may be NULL = all) flags fields by index; fields p may not
 * read are left out. Sensitive fields are masked unless p may reveal them (p NULL: masked);
 * masked text lives in arena.
 */
void rp_records_row_json(const struct rp_row *row, const bool *selected,
                         const struct rp_principal *p, struct rp_arena *arena, struct rp_buf *out);
/** True if p sees field f masked: f is sensitive and p lacks the reveal permission. */
bool rp_records_masked(const struct rp_principal *p, const struct rp_field *f);
/** True if p lacks the reveal permission, so sensitive fields are masked for it. */
bool rp_records_masks_any(const struct rp_principal *p);
/**
 * Appends the changes JSON of an audit entry or change event (as the write path stores it) for
 * p: values of o's sensitive fields masked when p may not reveal them. NULL or empty changes
 * give {}; so does text that cannot be read, or an object o that no longer exists (NULL), when
 * masking applies. Masked text lives in arena.
 */
void rp_records_changes_json(const struct rp_principal *p, const struct rp_object *o,
                             const char *changes, size_t len, struct rp_arena *arena,
                             struct rp_buf *out);
/**
 * Parses a fields= list into flags by index; id is always selected. Fields p may not read are
 * unknown fields.
 */
int rp_records_parse_fields(const struct rp_principal *p, const struct rp_object *o,
                            const char *fields, struct rp_arena *arena, bool **selected,
                            struct rp_error *err);
/** Value of a stored column converted to the field's value type. */
struct rp_value rp_records_column_value(const struct rp_field *f, const struct rp_value *col,
                                        struct rp_arena *arena);
/** Brings the table, columns, indexes and full-text index of o in line with the metadata. */
int rp_records_sync_object(struct rp_store_conn *c, const struct rp_object *o,
                           struct rp_arena *arena, struct rp_error *err);

/**
 * A list query read to its end (or to max_rows) for bulk use such as export: the same policy
 * condition, filter, search, sort and fields as rp_records_list, read page by page with keyset
 * paging inside one read transaction, so every row comes from one snapshot.
 */
struct rp_records_scan {
    enum rp_policy_action action; /* checked besides RP_ACT_READ, e.g. RP_ACT_EXPORT */
    size_t max_rows;              /* stop after this many rows */
    /*
     * Called once the query is checked, before any row, with the object and the fields= flags by
     * field index (NULL: all fields); may be NULL. Returns 0 to go on, 1 to stop, or a negative
     * code.
     */
    int (*begin)(void *ctx, const struct rp_object *o, const bool *selected);
    /*
     * Called for each row in list order with its formulas computed; the row lives until the
     * next page is read. Returns 0 to go on, 1 to stop, or a negative code.
     */
    int (*row)(void *ctx, const struct rp_row *row);
    void *ctx;
    /* outcome */
    bool more; /* max_rows was reached with rows left */
};

/**
 * Runs a scan of object for p. lq's filter, sort, fields, q and cursor apply; its limit and
 * count do not. Errors as rp_records_list, or a callback's negative code. Parsed parts of the
 * query live in arena; rows are read into a scratch arena released before returning.
 */
int rp_records_scan(struct rp_records *rs, const struct rp_principal *p, const char *object,
                    const struct rp_list_query *lq, struct rp_records_scan *scan,
                    struct rp_arena *arena, struct rp_error *err);

/**
 * Appends the SQL expression of a record's full-text document (its searchable fields one per
 * line, and both orders of a person's name) over the columns of row ("\"t\"", "new"; NULL for
 * unqualified columns, as an index expression needs) in dialect d.
 */
void rp_records_search_doc_sql(const struct rp_object *o, const char *row, enum rp_sql_dialect d,
                               struct rp_buf *b);

#endif
