/*
 * Time zones and business calendars for the SLA engine: pure computation, no
 * database, no C library time zone state (no setenv("TZ"), no localtime).
 *
 * Time zones are read from TZif files (RFC 8536) under /usr/share/zoneinfo
 * (Debian package tzdata): the version 2+ 64-bit transition table, and for
 * instants after its last transition the POSIX TZ rule in the file's footer
 * ("EST5EDT,M3.2.0,M11.1.0", "CST-8", "<+08>-8", ...). A loaded struct rp_tz
 * and a parsed struct rp_calendar are immutable, so one may be shared by any
 * number of threads.
 *
 * Working time is the set of instants whose local wall-clock time falls in one
 * of the working intervals of a working date. On a spring-forward night a
 * skipped wall-clock hour therefore does not count, and on a fall-back night a
 * repeated one counts twice (both real hours are inside the interval).
 * Instants are milliseconds since the epoch (UTC), as everywhere in Rapport.
 */
#ifndef RP_BASE_CALENDAR_H
#define RP_BASE_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rp_buf;
struct rp_error;

/* ---- time zones ----------------------------------------------------------- */

#define RP_TZ_DIR       "/usr/share/zoneinfo"
#define RP_TZ_NAME_MAX  64           /* bytes in a zone name */
#define RP_TZ_FILE_MAX  (512 * 1024) /* largest TZif file read */
#define RP_TZ_MAX_TRANS 8192         /* transitions kept from one file */

struct rp_tz; /* opaque, immutable once loaded */

/**
 * Loads the zone called name ("Asia/Shanghai", "America/New_York", "UTC")
 * from RP_TZ_DIR. Names are checked before any file is opened: letters,
 * digits and "_+-./" only, no leading "/", no empty or dot-led components
 * (so no ".."). "UTC" and "Etc/UTC" need no file. On success *out is a new
 * zone the caller frees with rp_tz_free. Returns 0, RP_EINVAL for a bad name,
 * RP_ENOTFOUND for an unknown zone, RP_EINVAL for a file that is not valid
 * TZif, with err naming the zone.
 */
int rp_tz_load(const char *name, struct rp_tz **out, struct rp_error *err);
/** Parses TZif bytes (any version) as zone name; as rp_tz_load otherwise. */
int rp_tz_parse_tzif(const uint8_t *data, size_t len, const char *name, struct rp_tz **out,
                     struct rp_error *err);
/**
 * Makes a zone from a POSIX TZ rule alone, as found in a TZif footer:
 * std offset [dst [offset] [,start[/time],end[/time]]] with names alphabetic
 * or in <>, rules Jn, n or Mm.w.d, times of -167..167 hours. A dst without
 * rules uses M3.2.0,M11.1.0. Returns 0 or RP_EINVAL naming the problem.
 */
int rp_tz_parse_posix(const char *rule, struct rp_tz **out, struct rp_error *err);
/** Frees a zone; NULL is allowed. */
void rp_tz_free(struct rp_tz *tz);
/** The name the zone was loaded under (the rule itself for rp_tz_parse_posix). */
const char *rp_tz_name(const struct rp_tz *tz);
/** Offset of local time from UTC at instant utc_ms, in seconds east (Shanghai: 28800). */
int32_t rp_tz_offset(const struct rp_tz *tz, int64_t utc_ms);

/* ---- business calendars --------------------------------------------------- */

#define RP_CAL_MAX_INTERVALS 8       /* working intervals in one day */
#define RP_CAL_MAX_DATES     1000    /* holidays, and separately extra working days */
#define RP_CAL_MAX_PAUSES    10000   /* pauses given to rp_calendar_elapsed_excluding */
#define RP_CAL_MAX_MINUTES   5256000 /* largest duration added: ten years of minutes */
#define RP_CAL_MIN_MS        INT64_C(-2208988800000) /* 1900-01-01: instants before are refused */
#define RP_CAL_MAX_MS        INT64_C(7258118400000)  /* 2200-01-01: instants after are refused */
#define RP_CAL_JSON_MAX      (256 * 1024)            /* bytes of one calendar's JSON form */

/** Minutes after local midnight, start < end <= 1440 ("24:00"). */
struct rp_cal_interval {
    uint16_t start;
    uint16_t end;
};

/** The working intervals of one day, ascending and not overlapping. */
struct rp_cal_day {
    size_t n;
    struct rp_cal_interval iv[RP_CAL_MAX_INTERVALS];
};

/**
 * A business calendar. Filled by rp_calendar_parse_json, which checks every
 * invariant; read its fields freely, do not change them.
 */
struct rp_calendar {
    struct rp_tz *tz;          /* owned */
    struct rp_cal_day week[7]; /* 0 = Monday ... 6 = Sunday */
    int64_t *holidays;         /* local dates closed all day: days since 1970-01-01, sorted */
    size_t nholidays;
    int64_t *workdays; /* extra (make-up) working dates, sorted; they work the hours */
    size_t nworkdays;  /* of the first weekday from Monday on that has any */
};

/** An interval of instants [start_ms, end_ms), e.g. a pause of an SLA clock. */
struct rp_cal_span {
    int64_t start_ms;
    int64_t end_ms;
};

/** Empty calendar (no zone, no hours): only rp_calendar_release is valid on it. */
void rp_calendar_init(struct rp_calendar *cal);
/** Frees what the calendar owns and empties it. */
void rp_calendar_release(struct rp_calendar *cal);

/**
 * Parses the JSON form
 *   {"time_zone": "Asia/Shanghai",
 *    "hours": {"mon": [["09:00","12:00"],["13:00","18:00"]], ..., "sun": []},
 *    "holidays": ["2026-10-01", ...], "workdays": ["2026-09-27", ...]}
 * into an initialised, empty cal. Strict: unknown keys, missing time_zone or
 * hours, malformed times ("9:00", "24:01"), intervals out of order or
 * overlapping, more than RP_CAL_MAX_INTERVALS in a day, bad or repeated
 * dates, a date that is both a holiday and a workday, and a calendar with no
 * working hours at all are errors. Days missing from "hours" are closed;
 * "holidays" and "workdays" are optional. Returns 0; RP_EINVAL for text that
 * is not JSON; RP_EVALIDATION with one field error per problem (field paths
 * like "hours.mon[1][0]", "holidays[2]"). On failure cal stays empty.
 */
int rp_calendar_parse_json(struct rp_calendar *cal, const char *json, size_t len,
                           struct rp_error *err);
/** Appends the JSON form (all seven days, sorted dates); parses back to an equal calendar. */
void rp_calendar_to_json(const struct rp_calendar *cal, struct rp_buf *out);

/** True if instant t_ms is working time. */
bool rp_calendar_is_working(const struct rp_calendar *cal, int64_t t_ms);
/**
 * The first working instant at or after t_ms (t_ms itself when it is working
 * time). Returns 0, or RP_EINVAL for t_ms outside RP_CAL_MIN_MS..RP_CAL_MAX_MS
 * or when no working time follows within the supported range.
 */
int rp_calendar_next_working(const struct rp_calendar *cal, int64_t t_ms, int64_t *out_ms);
/**
 * The SLA deadline: the earliest instant d >= start_ms such that the working
 * time in [start_ms, d) is minutes. A deadline that uses up an interval lands
 * on its closing time (18:00), not on the next opening; 0 minutes gives
 * start_ms. Returns 0, or RP_EINVAL for minutes outside 0..RP_CAL_MAX_MINUTES
 * or instants outside the supported range.
 */
int rp_calendar_add_minutes(const struct rp_calendar *cal, int64_t start_ms, int64_t minutes,
                            int64_t *deadline_ms);
/**
 * Working time in [start_ms, end_ms) in milliseconds (divide by 60,000 for
 * minutes); 0 when end_ms <= start_ms. Returns 0 or RP_EINVAL for instants
 * outside the supported range.
 */
int rp_calendar_elapsed(const struct rp_calendar *cal, int64_t start_ms, int64_t end_ms,
                        int64_t *working_ms);
/**
 * Like rp_calendar_elapsed, less the working time inside any of the pauses.
 * Pauses may be unsorted, overlap each other and reach outside [start, end);
 * a pause still running is given with end_ms = now. Returns 0, or RP_EINVAL
 * for a pause ending before it starts, more than RP_CAL_MAX_PAUSES pauses, or
 * instants outside the supported range.
 */
int rp_calendar_elapsed_excluding(const struct rp_calendar *cal, int64_t start_ms, int64_t end_ms,
                                  const struct rp_cal_span *pauses, size_t n, int64_t *working_ms);

#endif
