/*
 * Metadata: objects, fields, picklists, references and validation rules as
 * data. The standard catalogue (catalogue.json, embedded at build time) and
 * the custom objects and fields stored in the database are loaded by one
 * loader into an immutable snapshot (struct rp_meta). A change builds a new
 * snapshot and swaps it into the registry; readers holding the old one keep
 * it until they release it (reference counted), so no lock is held while a
 * request uses metadata.
 *
 * Every object's field list starts with the system fields (id, version,
 * created_at, updated_at, created_by, updated_by and, for owned objects,
 * owner_id). A reference field named X_id is traversed as X in dotted
 * expression paths (account_id → account.tier).
 *
 * Memory: a snapshot and everything reachable from it live in the snapshot's
 * arena and stay valid until the last rp_meta_release.
 */
#ifndef RP_META_META_H
#define RP_META_META_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/sql.h"
#include "base/value.h"
#include "expr/expr.h"

struct rp_expr;
struct rp_meta_registry;

/* name, storage value type, SQLite column type */
#define RP_FIELD_TYPES(X)                                  \
    X(TEXT, "text", RP_V_TEXT, "TEXT")                     \
    X(EMAIL, "email", RP_V_TEXT, "TEXT")                   \
    X(PHONE, "phone", RP_V_TEXT, "TEXT")                   \
    X(URL, "url", RP_V_TEXT, "TEXT")                       \
    X(NUMBER, "number", RP_V_NUM, "REAL")                  \
    X(MONEY, "money", RP_V_MONEY, "INTEGER")               \
    X(PERCENT, "percent", RP_V_NUM, "REAL")                \
    X(DATE, "date", RP_V_DATE, "INTEGER")                  \
    X(DATETIME, "datetime", RP_V_DATETIME, "INTEGER")      \
    X(BOOL, "bool", RP_V_BOOL, "INTEGER")                  \
    X(PICKLIST, "picklist", RP_V_TEXT, "TEXT")             \
    X(MULTI_PICKLIST, "multi_picklist", RP_V_TEXT, "TEXT") \
    X(REFERENCE, "reference", RP_V_TEXT, "TEXT")           \
    X(FORMULA, "formula", RP_V_NULL, NULL)                 \
    X(INTEGER, "integer", RP_V_INT, "INTEGER") /* system fields only (version) */

enum rp_ftype {
#define RP_FTYPE_ENUM(name, str, vtype, sqltype) RP_F_##name,
    RP_FIELD_TYPES(RP_FTYPE_ENUM)
#undef RP_FTYPE_ENUM
};

const char *rp_ftype_name(enum rp_ftype t);

struct rp_label {
    const char *en;
    const char *zh;
};

struct rp_picklist_value {
    const char *value;
    struct rp_label label;
    bool inactive; /* kept for the records that hold it, refused in new writes */
};

struct rp_object;

struct rp_field {
    const char *name;
    enum rp_ftype type;
    enum rp_vtype vtype; /* value type as stored and computed (formula: its result type) */
    struct rp_label label;
    struct rp_label help;
    bool system; /* maintained by rapport; never written by clients */
    bool custom; /* added through the API */
    bool required;
    bool unique;
    bool indexed;
    bool sensitive;      /* personal data: masked without the reveal permission (access control) */
    bool searchable;     /* part of the object's full-text index */
    unsigned max_length; /* text-like: code points */
    bool has_min, has_max;
    double min, max;
    bool has_default;
    struct rp_value default_value;
    const struct rp_picklist_value *values; /* picklists */
    size_t nvalues;
    const char *target; /* reference: target object name */
    const struct rp_object *target_object;
    const char *relation;         /* reference: name used in dotted paths */
    const char *formula;          /* formula: expression source */
    struct rp_expr *formula_expr; /* formula: parsed at load to validate it; readers parse
                                        again with their clock, as today() may appear */
    size_t index;                 /* position in the object's field array */
};

struct rp_rule {
    const char *name;
    const char *check;    /* expression that must hold */
    struct rp_expr *expr; /* parsed at load to validate; writes parse again with their clock */
    const char *field;    /* field the message belongs to, or NULL */
    struct rp_label message;
};

/*
 * Org-wide default access to an object's records for users who are not their owner (the
 * policy engine may override it per installation). PARENT: a record is visible and editable
 * exactly when the record its sharing_parent reference points to is (quote lines follow
 * their quote).
 */
enum rp_sharing {
    RP_SHARING_PRIVATE,
    RP_SHARING_PUBLIC_READ,
    RP_SHARING_PUBLIC_READ_WRITE,
    RP_SHARING_PARENT,
};

const char *rp_sharing_name(enum rp_sharing s);
/** Parses "private", "public_read", "public_read_write" (not "parent"); false if none. */
bool rp_sharing_parse(const char *s, enum rp_sharing *out);

struct rp_object {
    const char *name;
    struct rp_label label;
    struct rp_label plural;
    bool owned;
    bool custom;
    bool append_only;        /* a ledger: records are created, never updated, deleted or restored */
    enum rp_sharing sharing; /* catalogue "sharing"; custom objects default to private */
    const struct rp_field *sharing_parent; /* RP_SHARING_PARENT: a required reference */
    struct rp_field *fields;
    size_t nfields;
    const struct rp_rule *rules;
    size_t nrules;
    size_t nsearch; /* searchable fields */
    size_t index;   /* position in the snapshot */
};

struct rp_meta {
    const struct rp_object *objects;
    size_t nobjects;
    uint64_t generation; /* increases with every snapshot built by a registry */
    /* private */
    struct rp_arena _arena;
    int _refs;
};

/**
 * A custom definition as stored in the database, applied in order: "object" (a new object),
 * "field" (a new field), "object_change" ({"label", "plural"}), "field_change" ({"field",
 * "label", "help", "values"}: labels, and picklist values added, relabelled or deactivated,
 * never removed), "field_delete" ({"field"}: a custom field) and "object_delete" ({}: a custom
 * object). A deleted name cannot be defined again (its column or table is kept).
 */
struct rp_meta_custom_def {
    const char *kind;       /* one of the kinds above */
    const char *object;     /* object the definition belongs to */
    const char *definition; /* JSON in the catalogue format (an object, or one field) */
};

/**
 * Builds a snapshot from the catalogue JSON plus custom definitions, in order.
 * now_ms fixes what today()/now() mean while rules are type-checked. Returns 0
 * and *out (refcount 1), or RP_EINVAL with err naming the offending object,
 * field or expression.
 */
int rp_meta_build(const char *catalogue_json, const struct rp_meta_custom_def *defs, size_t ndefs,
                  int64_t now_ms, struct rp_meta **out, struct rp_error *err);
/** The built-in catalogue (src/meta/catalogue.json). */
const char *rp_meta_catalogue(void);

/** The object or field of that name; NULL when there is none (or name or o is NULL). */
const struct rp_object *rp_meta_object(const struct rp_meta *m, const char *name);
const struct rp_field *rp_meta_field(const struct rp_object *o, const char *name);
/** A picklist value of f, or NULL. */
const struct rp_picklist_value *rp_meta_picklist_value(const struct rp_field *f, const char *v,
                                                       size_t n);
/** True for names reserved for system fields. */
bool rp_meta_is_system_name(const char *name);

/**
 * Validates one JSON value for field f and converts it to the stored form.
 * Text results are copied into arena. JSON null gives RP_V_NULL (required is
 * checked by the caller, who knows whether the field is being set). On
 * failure adds a field error (RP_EVALIDATION; type errors too) and returns it.
 */
int rp_meta_value_from_json(const struct rp_field *f, const json_t *j, struct rp_arena *arena,
                            struct rp_value *out, struct rp_error *err);
/**
 * As rp_meta_value_from_json, except that a picklist value that was switched off is accepted:
 * for the write path, where a record may keep the value it has (rp_meta_inactive_choice).
 */
int rp_meta_value_from_json_kept(const struct rp_field *f, const json_t *j, struct rp_arena *arena,
                                 struct rp_value *out, struct rp_error *err);
/**
 * The first picklist value of v (field f's stored form: a picklist's text, a multi-select's
 * array) that is switched off and that old (the record's value before; NULL for a new record)
 * does not hold already, or NULL. Borrowed from f.
 */
const char *rp_meta_inactive_choice(const struct rp_field *f, const struct rp_value *v,
                                    const struct rp_value *old);

/**
 * Resolves a field path for the expression language on object o: "amount",
 * "account.tier", system fields included. On success fills *field with the
 * final field and sql with its SQL expression relative to table alias
 * "t" (scalar subqueries for dotted paths). Returns 0 or RP_EINVAL.
 */
int rp_meta_resolve_path(const struct rp_meta *m, const struct rp_object *o, const char *path,
                         struct rp_arena *arena, const struct rp_field **field, const char **sql,
                         struct rp_error *err);

/**
 * Parses an expression on object o (filters, rules, criteria) with the
 * snapshot as resolver. Returns 0 and *out, or RP_EINVAL/RP_ETOOBIG.
 */
int rp_meta_parse_expr(const struct rp_meta *m, const struct rp_object *o, const char *src,
                       size_t len, int64_t now_ms, struct rp_arena *arena, struct rp_expr **out,
                       struct rp_error *err);

/*
 * How an expression sees its object's row: the table alias, names the metadata does not
 * know (user.region in sharing criteria), and a guard through which a caller's access
 * applies to every field and related row a path reaches. Every member may be zero.
 */
struct rp_meta_scope {
    const char *alias; /* the row's table alias; NULL: "t" */
    /* Resolves path if it is the caller's own: returns 0 (out filled), 1 (not its own: the
     * metadata resolves it) or a negative code with err set. */
    int (*resolve)(void *ctx, const char *path, struct rp_expr_field *out, struct rp_error *err);
    /* False hides f: a path through or to it is an unknown field. */
    bool (*field_visible)(void *ctx, const struct rp_object *o, const struct rp_field *f);
    /* Appends " AND <condition>" limiting the rows of o under alias that a dotted path may read
     * (a related record the caller may not see reads as null). */
    void (*rows)(void *ctx, const struct rp_object *o, const char *alias, struct rp_sql *q);
    void *ctx;
    /* Formula fields are inlined as their expression (with the parse's clock, for today())
     * unless this is set: formulas themselves, computed in memory, cannot use formulas. */
    bool no_formulas;
    int64_t now_ms; /* set by the parser: the clock of inlined formulas */
};

/**
 * Resolves one field path within scope as the expression language sees it (the scope's own
 * resolve hook is not called). Returns 0 or RP_EINVAL/RP_ETOOBIG.
 */
int rp_meta_resolve_field(const struct rp_meta *m, const struct rp_object *o,
                          const struct rp_meta_scope *scope, const char *path, struct rp_arena *a,
                          struct rp_expr_field *out, struct rp_error *err);

/** rp_meta_parse_expr within scope (NULL: the default scope, alias "t", no guard). */
int rp_meta_parse_expr_in(const struct rp_meta *m, const struct rp_object *o,
                          const struct rp_meta_scope *scope, const char *src, size_t len,
                          int64_t now_ms, struct rp_arena *arena, struct rp_expr **out,
                          struct rp_error *err);

/** Writes an object's description as JSON (GET /meta/objects/{object}). */
void rp_meta_object_to_json(const struct rp_object *o, struct rp_buf *out);

/* ---- the registry: the current snapshot, swapped on change ---- */

struct rp_meta_registry *rp_meta_registry_new(struct rp_meta *initial);
void rp_meta_registry_free(struct rp_meta_registry *r);
/** The current snapshot with a reference taken; pair with rp_meta_release. Thread-safe. */
struct rp_meta *rp_meta_acquire(struct rp_meta_registry *r);
void rp_meta_release(struct rp_meta *m);
/** Installs next (taking its reference) as current and releases the previous one. */
void rp_meta_registry_swap(struct rp_meta_registry *r, struct rp_meta *next);

#endif
