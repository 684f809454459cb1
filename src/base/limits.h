/*
 * Limits on everything a client controls. Each is checked before the memory
 * it would size is allocated; exceeding one is RP_ETOOBIG (413) or, for
 * parameters, RP_EINVAL (400).
 */
#ifndef RP_BASE_LIMITS_H
#define RP_BASE_LIMITS_H

#define RP_LIMIT_BODY_BYTES        (4u * 1024 * 1024)  /* one request body */
#define RP_LIMIT_BATCH_BODY_BYTES  (16u * 1024 * 1024) /* a batch request body */
#define RP_LIMIT_HEADER_COUNT      64                  /* request headers */
#define RP_LIMIT_HEADER_BYTES      8192                /* all request headers together */
#define RP_LIMIT_URL_BYTES         8192                /* path plus query string */
#define RP_LIMIT_QUERY_PARAMS      32                  /* query-string parameters */
#define RP_LIMIT_JSON_DEPTH        16                  /* nesting of a JSON body */
#define RP_LIMIT_FIELDS_PER_RECORD 500                 /* fields in one record body or object */
#define RP_LIMIT_STRING_BYTES      (1024 * 1024)       /* one text value */
#define RP_LIMIT_PAGE_DEFAULT      50                  /* list page size when none is given */
#define RP_LIMIT_PAGE_MAX          500                 /* largest list page */
#define RP_LIMIT_BATCH_OPS         1000                /* operations in one batch */
#define RP_LIMIT_COUNT_EXACT       10000               /* list totals are exact up to this */
#define RP_LIMIT_EXPR_BYTES        4096                /* one filter or rule expression */
#define RP_LIMIT_EXPR_DEPTH        32                  /* nesting of an expression */
#define RP_LIMIT_EXPR_NODES        512                 /* nodes in one expression */
#define RP_LIMIT_RESPONSE_BYTES    (64u * 1024 * 1024) /* one response body */
#define RP_LIMIT_NAME_BYTES        64                  /* object and field API names */

#endif
