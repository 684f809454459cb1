/*
 * Calendar arithmetic and RFC 3339 text, independent of the C library's time
 * zone state (no localtime/gmtime). Dates are days since 1970-01-01 in the
 * proleptic Gregorian calendar; datetimes are milliseconds since the epoch.
 */
#ifndef RP_BASE_TIME_H
#define RP_BASE_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rp_buf;

#define RP_MS_PER_DAY INT64_C(86400000)

/** Days since 1970-01-01 of a civil date; month 1-12. */
int64_t rp_time_days_from_civil(int64_t y, unsigned m, unsigned d);
/** The civil date of a day number. */
void rp_time_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
/** Floor division of a datetime to its UTC day. */
int64_t rp_time_day_of(int64_t ms);

/** Appends YYYY-MM-DD (years 0000-9999). */
void rp_time_format_date(struct rp_buf *out, int64_t days);
/** Appends YYYY-MM-DDTHH:MM:SSZ, with .mmm when the milliseconds are not zero. */
void rp_time_format_datetime(struct rp_buf *out, int64_t ms);

/** Parses exactly YYYY-MM-DD with a valid calendar date. Returns 0 or RP_EINVAL. */
int rp_time_parse_date(const char *s, size_t n, int64_t *days);
/**
 * Parses RFC 3339: YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM); 't'/'z' and a
 * space for 'T' are accepted. Fractions beyond milliseconds are truncated.
 * Returns 0 or RP_EINVAL.
 */
int rp_time_parse_datetime(const char *s, size_t n, int64_t *ms);

#endif
