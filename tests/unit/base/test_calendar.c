/*
 * Unit tests for src/base/calendar: TZif zones and POSIX rules, business
 * calendars (deadlines, elapsed time, pauses) and their JSON form. Every
 * expected value is worked out by hand in the comment beside it; weekdays of
 * the dates used: 2026-09-19 Sat, 09-25 Fri, 09-27 Sun, 09-28 Mon, 09-30 Wed,
 * 10-01 Thu, 10-08 Thu; 2026-03-06 Fri, 03-08 Sun, 03-09 Mon; 2026-10-30 Fri,
 * 11-01 Sun, 11-02 Mon; 2027-01-01 Fri, 2027-12-31 Fri.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/calendar.h"
#include "base/err.h"
#include "base/time.h"

#define MIN INT64_C(60000)

static int64_t at(const char *rfc3339)
{
    int64_t ms = 0;
    if (rp_time_parse_datetime(rfc3339, strlen(rfc3339), &ms) != 0)
        fail_msg("bad test time %s", rfc3339);
    return ms;
}

static void assert_time(int64_t got, const char *want)
{
    if (got != at(want)) {
        struct rp_buf b;
        rp_buf_init(&b, NULL, 64);
        rp_time_format_datetime(&b, got);
        fail_msg("got %s, want %s", b.data, want);
    }
}

/* ---- zones ----------------------------------------------------------------- */

static int32_t offset_in(const char *zone, const char *when)
{
    struct rp_tz *tz = NULL;
    struct rp_error err;
    int32_t off;
    rp_error_init(&err, NULL);
    if (rp_tz_load(zone, &tz, &err) != 0)
        fail_msg("could not load %s", zone);
    off = rp_tz_offset(tz, at(when));
    rp_tz_free(tz);
    return off;
}

static int32_t offset_rule(const char *rule, const char *when)
{
    struct rp_tz *tz = NULL;
    struct rp_error err;
    int32_t off;
    rp_error_init(&err, NULL);
    if (rp_tz_parse_posix(rule, &tz, &err) != 0)
        fail_msg("could not parse %s", rule);
    off = rp_tz_offset(tz, at(when));
    rp_tz_free(tz);
    return off;
}

static void test_tzif_offsets(void **state)
{
    (void)state;
    assert_int_equal(offset_in("UTC", "2026-07-01T00:00:00Z"), 0);
    assert_int_equal(offset_in("Etc/UTC", "2026-07-01T00:00:00Z"), 0);
    assert_int_equal(offset_in("Asia/Shanghai", "2026-07-01T00:00:00Z"), 8 * 3600);
    assert_int_equal(offset_in("Asia/Shanghai", "2150-01-01T00:00:00Z"), 8 * 3600);
    /* China observed DST from 1986 to 1991: +09 in summer 1988 (table data) */
    assert_int_equal(offset_in("Asia/Shanghai", "1988-07-01T00:00:00Z"), 9 * 3600);
    /* New York 2026: EDT from 03-08 07:00Z (02:00 EST) to 11-01 06:00Z (02:00 EDT) */
    assert_int_equal(offset_in("America/New_York", "2026-03-08T06:59:59Z"), -5 * 3600);
    assert_int_equal(offset_in("America/New_York", "2026-03-08T07:00:00Z"), -4 * 3600);
    assert_int_equal(offset_in("America/New_York", "2026-11-01T05:59:59Z"), -4 * 3600);
    assert_int_equal(offset_in("America/New_York", "2026-11-01T06:00:00Z"), -5 * 3600);
    /* past any table: the footer rule EST5EDT,M3.2.0,M11.1.0 */
    assert_int_equal(offset_in("America/New_York", "2100-07-01T00:00:00Z"), -4 * 3600);
    assert_int_equal(offset_in("America/New_York", "2100-01-15T00:00:00Z"), -5 * 3600);
    /* 2100: second Sunday of March is 03-14, first Sunday of November 11-07 */
    assert_int_equal(offset_in("America/New_York", "2100-03-14T06:59:59Z"), -5 * 3600);
    assert_int_equal(offset_in("America/New_York", "2100-03-14T07:00:00Z"), -4 * 3600);
    assert_int_equal(offset_in("America/New_York", "2100-11-07T05:59:59Z"), -4 * 3600);
    assert_int_equal(offset_in("America/New_York", "2100-11-07T06:00:00Z"), -5 * 3600);
}

static void test_posix_rules(void **state)
{
    (void)state;
    assert_int_equal(offset_rule("CST-8", "2026-01-01T00:00:00Z"), 8 * 3600);
    assert_int_equal(offset_rule("<+08>-8", "2026-07-01T00:00:00Z"), 8 * 3600);
    assert_int_equal(offset_rule("<-03>3", "2026-07-01T00:00:00Z"), -3 * 3600);
    assert_int_equal(offset_rule("<+0545>-5:45", "2026-07-01T00:00:00Z"), 5 * 3600 + 45 * 60);
    assert_int_equal(offset_rule("EST5EDT,M3.2.0,M11.1.0", "2026-03-08T06:59:59Z"), -5 * 3600);
    assert_int_equal(offset_rule("EST5EDT,M3.2.0,M11.1.0", "2026-03-08T07:00:00Z"), -4 * 3600);
    assert_int_equal(offset_rule("EST5EDT,M3.2.0,M11.1.0", "2026-11-01T05:59:59Z"), -4 * 3600);
    assert_int_equal(offset_rule("EST5EDT,M3.2.0,M11.1.0", "2026-11-01T06:00:00Z"), -5 * 3600);
    assert_int_equal(offset_rule("EST5EDT", "2026-07-01T00:00:00Z"), -4 * 3600); /* default rule */
    /* southern hemisphere: DST ends 2026-04-05 03:00 AEDT = 04-04 16:00Z */
    assert_int_equal(offset_rule("AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-01-15T00:00:00Z"),
                     11 * 3600);
    assert_int_equal(offset_rule("AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-04-04T15:59:59Z"),
                     11 * 3600);
    assert_int_equal(offset_rule("AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-04-04T16:00:00Z"),
                     10 * 3600);
    assert_int_equal(offset_rule("AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-07-15T00:00:00Z"),
                     10 * 3600);
    /* Julian day rules: J60 is March 1 in every year; DST from 03-01 02:00 to day 300 */
    assert_int_equal(offset_rule("XST3XDT,J60,J300", "2028-03-01T04:59:59Z"), -3 * 3600);
    assert_int_equal(offset_rule("XST3XDT,J60,J300", "2028-03-01T05:00:00Z"), -2 * 3600);
    /* zero-based day 59 is Feb 29 in the leap year 2028 */
    assert_int_equal(offset_rule("XST3XDT,59,300", "2028-02-29T05:00:00Z"), -2 * 3600);
    assert_int_equal(offset_rule("XST3XDT,59,300", "2028-02-29T04:59:59Z"), -3 * 3600);

    static const char *const bad[] = {
        "",
        "E5",
        "EST",
        "EST5EDT,M13.1.0,M11.1.0",
        "EST5EDT,M3.2.0",
        "EST5EDT,M3.6.0,M11.1.0",
        "EST5EDT,M3.2.7,M11.1.0",
        "<+08-8",
        "EST5 ",
        "EST5EDT,J0,J300",
        "EST5EDT,M3.2.0/200,M11.1.0",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rp_tz *tz = NULL;
        struct rp_error err;
        rp_error_init(&err, NULL);
        if (rp_tz_parse_posix(bad[i], &tz, &err) != RP_EINVAL)
            fail_msg("rule \"%s\" was accepted", bad[i]);
        assert_null(tz);
    }
}

static void test_zone_names(void **state)
{
    static const struct {
        const char *name;
        int code;
    } cases[] = {
        {"Asia/Shanghai", 0},
        {"America/New_York", 0},
        {"UTC", 0},
        {"../../etc/passwd", RP_EINVAL},
        {"/etc/localtime", RP_EINVAL},
        {"Asia/../../etc/passwd", RP_EINVAL},
        {"Asia//Shanghai", RP_EINVAL},
        {"Asia/Shanghai/", RP_EINVAL},
        {"Asia/.hidden", RP_EINVAL},
        {"Asia/Shang hai", RP_EINVAL},
        {"", RP_EINVAL},
        {"Mars/Olympus_Mons", RP_ENOTFOUND},
        {"Asia", RP_ENOTFOUND},  /* a directory */
        {"zone.tab", RP_EINVAL}, /* a file, but not TZif */
    };
    struct rp_arena a;
    rp_arena_init(&a);
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rp_tz *tz = NULL;
        struct rp_error err;
        int rc;
        rp_error_init(&err, &a);
        rc = rp_tz_load(cases[i].name, &tz, &err);
        if (rc != cases[i].code)
            fail_msg("zone \"%s\": got %s (%s)", cases[i].name, rp_err_name(rc),
                     err.detail ? err.detail : "-");
        if (rc == 0)
            assert_string_equal(rp_tz_name(tz), cases[i].name);
        else
            assert_null(tz);
        rp_tz_free(tz);
    }
    rp_arena_release(&a);
}

static void test_tzif_malformed(void **state)
{
    uint8_t junk[64] = "TZif2";
    struct rp_tz *tz = NULL;
    struct rp_error err;
    (void)state;
    rp_error_init(&err, NULL);
    assert_int_equal(rp_tz_parse_tzif(junk, sizeof(junk), "junk", &tz, &err), RP_EINVAL);
    assert_int_equal(rp_tz_parse_tzif(junk, 3, "short", &tz, &err), RP_EINVAL);
    assert_null(tz);
}

/* Every prefix of a real TZif file is refused or parsed, never read past. */
static void test_tzif_truncated(void **state)
{
    static uint8_t data[RP_TZ_FILE_MAX];
    size_t len;
    FILE *f = fopen(RP_TZ_DIR "/America/New_York", "rb");
    (void)state;
    assert_non_null(f);
    len = fread(data, 1, sizeof(data), f);
    fclose(f);
    assert_true(len > 44);
    for (size_t n = 0; n <= len; n++) {
        struct rp_tz *tz = NULL;
        struct rp_error err;
        int rc;
        rp_error_init(&err, NULL);
        rc = rp_tz_parse_tzif(data, n, "America/New_York", &tz, &err);
        assert_true(rc == 0 || rc == RP_EINVAL);
        assert_true(rc == 0 || tz == NULL);
        rp_tz_free(tz);
    }
}

/* The transition table and the footer rule agree hour by hour where both apply. */
static void test_table_matches_rule(void **state)
{
    struct rp_tz *table = NULL, *rule = NULL;
    struct rp_error err;
    (void)state;
    rp_error_init(&err, NULL);
    assert_int_equal(rp_tz_load("America/New_York", &table, &err), 0);
    assert_int_equal(rp_tz_parse_posix("EST5EDT,M3.2.0,M11.1.0", &rule, &err), 0);
    for (int64_t t = at("2008-01-01T00:00:00Z"); t < at("2040-01-01T00:00:00Z"); t += 3600 * 1000) {
        if (rp_tz_offset(table, t) != rp_tz_offset(rule, t))
            fail_msg("offsets differ at %lld", (long long)t);
    }
    rp_tz_free(table);
    rp_tz_free(rule);
}

/* ---- calendars -------------------------------------------------------------- */

/*
 * A Shanghai office: Monday to Friday 09:00-12:00 and 13:00-18:00 (8 working
 * hours); a National Day week closed (10-01, 10-02, 10-05..10-07, with 10-03
 * and 10-04 a weekend anyway) and two make-up working days, Sunday 09-27 and
 * Saturday 10-10, which work Monday's hours.
 */
static const char cn_json[] =
    "{\"time_zone\":\"Asia/Shanghai\","
    "\"hours\":{\"mon\":[[\"09:00\",\"12:00\"],[\"13:00\",\"18:00\"]],"
    "\"tue\":[[\"09:00\",\"12:00\"],[\"13:00\",\"18:00\"]],"
    "\"wed\":[[\"09:00\",\"12:00\"],[\"13:00\",\"18:00\"]],"
    "\"thu\":[[\"09:00\",\"12:00\"],[\"13:00\",\"18:00\"]],"
    "\"fri\":[[\"09:00\",\"12:00\"],[\"13:00\",\"18:00\"]],\"sat\":[],\"sun\":[]},"
    "\"holidays\":[\"2026-10-07\",\"2026-10-01\",\"2026-10-02\",\"2026-10-05\",\"2026-10-06\"],"
    "\"workdays\":[\"2026-09-27\",\"2026-10-10\"]}";

/* A New York office, Monday to Friday 09:00-17:00. */
static const char ny_office_json[] =
    "{\"time_zone\":\"America/New_York\",\"hours\":{\"mon\":[[\"09:00\",\"17:00\"]],"
    "\"tue\":[[\"09:00\",\"17:00\"]],\"wed\":[[\"09:00\",\"17:00\"]],"
    "\"thu\":[[\"09:00\",\"17:00\"]],\"fri\":[[\"09:00\",\"17:00\"]]}}";

/* A New York night shift on Sundays 00:00-06:00, across both 2026 DST changes. */
static const char ny_night_json[] =
    "{\"time_zone\":\"America/New_York\",\"hours\":{\"sun\":[[\"00:00\",\"06:00\"]]}}";

static void load(struct rp_calendar *cal, const char *json)
{
    struct rp_arena a;
    struct rp_error err;
    rp_arena_init(&a);
    rp_error_init(&err, &a);
    if (rp_calendar_parse_json(cal, json, strlen(json), &err) != 0)
        fail_msg("calendar rejected: %s", err.detail);
    rp_arena_release(&a);
}

static int64_t deadline(const struct rp_calendar *cal, const char *start, int64_t minutes)
{
    int64_t d = 0;
    assert_int_equal(rp_calendar_add_minutes(cal, at(start), minutes, &d), 0);
    return d;
}

static int64_t elapsed_min(const struct rp_calendar *cal, const char *from, const char *to)
{
    int64_t ms = -1;
    assert_int_equal(rp_calendar_elapsed(cal, at(from), at(to), &ms), 0);
    assert_int_equal(ms % MIN, 0);
    return ms / MIN;
}

static void test_deadlines_shanghai(void **state)
{
    struct rp_calendar cal;
    (void)state;
    load(&cal, cn_json);

    /* lunch break: 11:30-12:00 is 30, 13:00-13:30 the other 30 */
    assert_time(deadline(&cal, "2026-09-28T11:30:00+08:00", 60), "2026-09-28T13:30:00+08:00");
    /* a deadline that uses up the day lands on closing time, not the next morning */
    assert_time(deadline(&cal, "2026-09-28T17:00:00+08:00", 60), "2026-09-28T18:00:00+08:00");
    assert_time(deadline(&cal, "2026-09-28T09:00:00+08:00", 480), "2026-09-28T18:00:00+08:00");
    /* one more minute goes to the next working day */
    assert_time(deadline(&cal, "2026-09-28T09:00:00+08:00", 481), "2026-09-29T09:01:00+08:00");
    /* weekend with a make-up Sunday: Fri 17-18 is 60, Sat closed, Sun 09-27 09:00 + 60 */
    assert_time(deadline(&cal, "2026-09-25T17:00:00+08:00", 120), "2026-09-27T10:00:00+08:00");
    /* holidays: Wed 09-30 17-18 is 60; 10-01..10-07 closed (holidays, weekend); Thu 10-08 */
    assert_time(deadline(&cal, "2026-09-30T17:00:00+08:00", 120), "2026-10-08T10:00:00+08:00");
    /* start outside working hours: Sat 09-19 03:00 (no make-up then) → Mon 09-21 09:00 + 30 */
    assert_time(deadline(&cal, "2026-09-19T03:00:00+08:00", 30), "2026-09-21T09:30:00+08:00");
    /* start in the lunch break */
    assert_time(deadline(&cal, "2026-09-28T12:15:00+08:00", 10), "2026-09-28T13:10:00+08:00");
    /* zero minutes: the start itself, even outside working hours */
    assert_time(deadline(&cal, "2026-09-19T03:00:00+08:00", 0), "2026-09-19T03:00:00+08:00");
    /* seconds are kept: 09:00:30 + 1 minute */
    assert_time(deadline(&cal, "2026-09-28T09:00:30+08:00", 1), "2026-09-28T09:01:30+08:00");

    /* a year: 2026 has 261 weekdays, less 5 holidays on weekdays, plus 2 make-up days =
     * 258 working days of 480 minutes = 123,840 minutes from 2026-01-01 00:00 local; the
     * last working day is Thu 2026-12-31 */
    assert_int_equal(elapsed_min(&cal, "2026-01-01T00:00:00+08:00", "2027-01-01T00:00:00+08:00"),
                     123840);
    assert_time(deadline(&cal, "2026-01-01T00:00:00+08:00", 123840), "2026-12-31T18:00:00+08:00");
    assert_time(deadline(&cal, "2026-01-01T00:00:00+08:00", 123841), "2027-01-01T09:01:00+08:00");
    rp_calendar_release(&cal);
}

static void test_working_and_next(void **state)
{
    struct rp_calendar cal;
    int64_t t = 0;
    (void)state;
    load(&cal, cn_json);

    assert_true(rp_calendar_is_working(&cal, at("2026-09-28T09:00:00+08:00")));
    assert_true(rp_calendar_is_working(&cal, at("2026-09-28T11:59:59.999+08:00")));
    assert_false(rp_calendar_is_working(&cal, at("2026-09-28T12:00:00+08:00"))); /* end excluded */
    assert_false(rp_calendar_is_working(&cal, at("2026-09-28T08:59:59+08:00")));
    assert_true(rp_calendar_is_working(&cal, at("2026-09-27T10:00:00+08:00")));  /* make-up Sun */
    assert_false(rp_calendar_is_working(&cal, at("2026-10-01T10:00:00+08:00"))); /* holiday */
    assert_false(rp_calendar_is_working(&cal, at("2026-09-26T10:00:00+08:00"))); /* Saturday */
    /* 02:00Z is 10:00 in Shanghai: the zone is applied, not UTC */
    assert_true(rp_calendar_is_working(&cal, at("2026-09-28T02:00:00Z")));

    assert_int_equal(rp_calendar_next_working(&cal, at("2026-09-19T03:00:00+08:00"), &t), 0);
    assert_time(t, "2026-09-21T09:00:00+08:00");
    assert_int_equal(rp_calendar_next_working(&cal, at("2026-09-28T09:15:00+08:00"), &t), 0);
    assert_time(t, "2026-09-28T09:15:00+08:00"); /* already working */
    assert_int_equal(rp_calendar_next_working(&cal, at("2026-09-28T12:00:00+08:00"), &t), 0);
    assert_time(t, "2026-09-28T13:00:00+08:00");
    assert_int_equal(rp_calendar_next_working(&cal, at("2026-09-30T18:00:00+08:00"), &t), 0);
    assert_time(t, "2026-10-08T09:00:00+08:00");

    /* elapsed: Fri 17-18 (60) + make-up Sun 09-27 (480) + Mon 09-10 (60) */
    assert_int_equal(elapsed_min(&cal, "2026-09-25T17:00:00+08:00", "2026-09-28T10:00:00+08:00"),
                     600);
    assert_int_equal(elapsed_min(&cal, "2026-09-28T10:00:00+08:00", "2026-09-28T10:00:00+08:00"),
                     0);
    assert_int_equal(elapsed_min(&cal, "2026-09-28T10:00:00+08:00", "2026-09-25T10:00:00+08:00"),
                     0); /* end before start */
    assert_int_equal(elapsed_min(&cal, "2026-10-01T00:00:00+08:00", "2026-10-08T00:00:00+08:00"),
                     0); /* the closed week */

    /* limits */
    assert_int_equal(rp_calendar_add_minutes(&cal, at("2026-09-28T09:00:00Z"), -1, &t), RP_EINVAL);
    assert_int_equal(
        rp_calendar_add_minutes(&cal, at("2026-09-28T09:00:00Z"), RP_CAL_MAX_MINUTES + 1, &t),
        RP_EINVAL);
    assert_int_equal(rp_calendar_next_working(&cal, RP_CAL_MAX_MS + 1, &t), RP_EINVAL);
    rp_calendar_release(&cal);
}

static void test_deadlines_new_york_dst(void **state)
{
    struct rp_calendar cal;
    (void)state;
    load(&cal, ny_office_json);

    /* spring forward (Sun 03-08): Fri 03-06 16:00 EST (21:00Z) + 120 = Fri 16-17 (60), then
     * Mon 03-09 09:00 EDT + 60 = 10:00 EDT = 14:00Z; the working day keeps its wall clock */
    assert_time(deadline(&cal, "2026-03-06T16:00:00-05:00", 120), "2026-03-09T14:00:00Z");
    assert_int_equal(elapsed_min(&cal, "2026-03-06T21:00:00Z", "2026-03-09T14:00:00Z"), 120);
    /* opening time moves in UTC: Fri 09:00 EST = 14:00Z, Mon 09:00 EDT = 13:00Z */
    assert_false(rp_calendar_is_working(&cal, at("2026-03-06T13:30:00Z")));
    assert_true(rp_calendar_is_working(&cal, at("2026-03-09T13:30:00Z")));

    /* fall back (Sun 11-01): Fri 10-30 16:00 EDT (20:00Z) + 120 = Fri 60, then
     * Mon 11-02 09:00 EST + 60 = 10:00 EST = 15:00Z */
    assert_time(deadline(&cal, "2026-10-30T16:00:00-04:00", 120), "2026-11-02T15:00:00Z");
    assert_int_equal(elapsed_min(&cal, "2026-10-30T20:00:00Z", "2026-11-02T15:00:00Z"), 120);
    rp_calendar_release(&cal);
}

static void test_dst_night_shift(void **state)
{
    struct rp_calendar cal;
    (void)state;
    load(&cal, ny_night_json);

    /* 03-08 00:00 EST = 05:00Z to 06:00 EDT = 10:00Z: 02:00-03:00 does not exist, 5 hours */
    assert_int_equal(elapsed_min(&cal, "2026-03-08T05:00:00Z", "2026-03-08T10:00:00Z"), 300);
    assert_time(deadline(&cal, "2026-03-08T05:00:00Z", 300), "2026-03-08T10:00:00Z");
    assert_time(deadline(&cal, "2026-03-08T05:00:00Z", 120),
                "2026-03-08T07:00:00Z"); /* 03:00 EDT */
    /* 11-01 00:00 EDT = 04:00Z to 06:00 EST = 11:00Z: 01:00-02:00 happens twice, 7 hours */
    assert_int_equal(elapsed_min(&cal, "2026-11-01T04:00:00Z", "2026-11-01T11:00:00Z"), 420);
    assert_time(deadline(&cal, "2026-11-01T04:00:00Z", 420), "2026-11-01T11:00:00Z");
    assert_true(rp_calendar_is_working(&cal, at("2026-11-01T05:30:00Z")));  /* 01:30 EDT */
    assert_true(rp_calendar_is_working(&cal, at("2026-11-01T06:30:00Z")));  /* 01:30 EST */
    assert_false(rp_calendar_is_working(&cal, at("2026-11-01T11:00:00Z"))); /* 06:00 EST */
    /* the whole week around it holds only that shift */
    assert_int_equal(elapsed_min(&cal, "2026-10-28T00:00:00Z", "2026-11-04T00:00:00Z"), 420);
    /* a deadline of 421 minutes goes on to the next Sunday, 11-08 00:01 EST = 05:01Z */
    assert_time(deadline(&cal, "2026-11-01T04:00:00Z", 421), "2026-11-08T05:01:00Z");
    rp_calendar_release(&cal);
}

static void test_long_duration_utc(void **state)
{
    struct rp_calendar cal;
    (void)state;
    load(&cal, "{\"time_zone\":\"UTC\",\"hours\":{\"mon\":[[\"09:00\",\"17:00\"]],"
               "\"tue\":[[\"09:00\",\"17:00\"]],\"wed\":[[\"09:00\",\"17:00\"]],"
               "\"thu\":[[\"09:00\",\"17:00\"]],\"fri\":[[\"09:00\",\"17:00\"]]}}");
    /* 2027 has 261 weekdays of 480 minutes = 125,280; the last is Fri 12-31 */
    assert_int_equal(elapsed_min(&cal, "2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"), 125280);
    assert_time(deadline(&cal, "2027-01-01T00:00:00Z", 125280), "2027-12-31T17:00:00Z");
    /* ten years of working minutes stays well inside the supported range */
    int64_t d;
    assert_int_equal(rp_calendar_add_minutes(&cal, at("2027-01-01T00:00:00Z"), 1252800, &d), 0);
    assert_true(d > at("2036-01-01T00:00:00Z") && d < at("2037-06-01T00:00:00Z"));
    rp_calendar_release(&cal);
}

static void test_pauses(void **state)
{
    struct rp_calendar cal;
    int64_t ms = 0;
    (void)state;
    load(&cal, cn_json);

    /* Mon 09-28 09:00-18:00 is 480 working minutes. Pauses (unsorted, overlapping, one
     * reaching past the end): 10:00-11:00 and 10:30-12:30 merge into 10:00-12:30, which
     * holds 120 working minutes (lunch is not working time); 17:00-20:00 is clipped to
     * 17:00-18:00, 60 minutes. 480 - 120 - 60 = 300. */
    const struct rp_cal_span pauses[] = {
        {at("2026-09-28T17:00:00+08:00"), at("2026-09-28T20:00:00+08:00")},
        {at("2026-09-28T10:30:00+08:00"), at("2026-09-28T12:30:00+08:00")},
        {at("2026-09-28T10:00:00+08:00"), at("2026-09-28T11:00:00+08:00")},
        {at("2026-09-27T00:00:00+08:00"), at("2026-09-27T23:00:00+08:00")}, /* before start */
    };
    assert_int_equal(rp_calendar_elapsed_excluding(&cal, at("2026-09-28T09:00:00+08:00"),
                                                   at("2026-09-28T18:00:00+08:00"), pauses, 4, &ms),
                     0);
    assert_int_equal(ms / MIN, 300);
    assert_int_equal(rp_calendar_elapsed_excluding(&cal, at("2026-09-28T09:00:00+08:00"),
                                                   at("2026-09-28T18:00:00+08:00"), NULL, 0, &ms),
                     0);
    assert_int_equal(ms / MIN, 480);

    const struct rp_cal_span backwards = {at("2026-09-28T11:00:00+08:00"),
                                          at("2026-09-28T10:00:00+08:00")};
    assert_int_equal(rp_calendar_elapsed_excluding(&cal, at("2026-09-28T09:00:00+08:00"),
                                                   at("2026-09-28T18:00:00+08:00"), &backwards, 1,
                                                   &ms),
                     RP_EINVAL);
    rp_calendar_release(&cal);
}

/* ---- the JSON form ------------------------------------------------------------ */

static void test_json_round_trip(void **state)
{
    struct rp_calendar cal, again;
    struct rp_buf a, b;
    (void)state;
    load(&cal, cn_json);
    rp_buf_init(&a, NULL, 1 << 16);
    rp_buf_init(&b, NULL, 1 << 16);
    rp_calendar_to_json(&cal, &a);
    assert_non_null(strstr(a.data, "\"holidays\":[\"2026-10-01\",\"2026-10-02\",\"2026-10-05\""));
    assert_non_null(strstr(a.data, "\"sat\":[]"));
    load(&again, a.data);
    rp_calendar_to_json(&again, &b);
    assert_string_equal(a.data, b.data);
    rp_buf_release(&a);
    rp_buf_release(&b);
    rp_calendar_release(&cal);
    rp_calendar_release(&again);
}

static void test_json_errors(void **state)
{
    static const struct {
        const char *json;
        int code;
        const char *field; /* the first field error */
        const char *fcode;
    } cases[] = {
        {"{", RP_EINVAL, NULL, NULL},
        {"[]", RP_EINVAL, NULL, NULL},
        {"{\"hours\":{\"mon\":[[\"09:00\",\"18:00\"]]}}", RP_EVALIDATION, "time_zone", "required"},
        {"{\"time_zone\":\"Mars/Base\",\"hours\":{\"mon\":[[\"09:00\",\"18:00\"]]}}",
         RP_EVALIDATION, "time_zone", "invalid_time_zone"},
        {"{\"time_zone\":\"../etc/passwd\",\"hours\":{\"mon\":[[\"09:00\",\"18:00\"]]}}",
         RP_EVALIDATION, "time_zone", "invalid_time_zone"},
        {"{\"time_zone\":\"UTC\"}", RP_EVALIDATION, "hours", "required"},
        {"{\"time_zone\":\"UTC\",\"hours\":{}}", RP_EVALIDATION, "hours", "no_working_hours"},
        {"{\"time_zone\":\"UTC\",\"hours\":{\"mon\":[],\"sun\":[]}}", RP_EVALIDATION, "hours",
         "no_working_hours"},
        {"{\"time_zone\":\"UTC\",\"hours\":{\"mon\":[[\"9:00\",\"18:00\"]]}}", RP_EVALIDATION,
         "hours.mon[0][0]", "invalid_time"},
        {"{\"time_zone\":\"UTC\",\"hours\":{\"mon\":[[\"09:00\",\"24:01\"]]}}", RP_EVALIDATION,
         "hours.mon[0][1]", "invalid_time"},
        {"{\"time_zone\":\"UTC\",\"hours\":{\"mon\":[[\"24:00\",\"24:00\"]]}}", RP_EVALIDATION,
         "hours.mon[0][0]", "invalid_time"},
        {"{\"time_zone\":\"UTC\",\"hours\":{\"mon\":[[\"18:00\",\"09:00\"]]}}", RP_EVALIDATION,
         "hours.mon[0]", "invalid_interval"},
        {"{\"time_zone\":\"UTC\",\"hours\":{\"tue\":[[\"09:00\",\"12:00\"],[\"11:00\",\"18:00\"]]}}",
         RP_EVALIDATION, "hours.tue[1]", "invalid_interval"},
        {"{\"time_zone\":\"UTC\",\"hours\":{\"mon\":[\"09:00\",\"18:00\"]}}", RP_EVALIDATION,
         "hours.mon[0]", "invalid_type"},
        {"{\"time_zone\":\"UTC\",\"hours\":{\"monday\":[[\"09:00\",\"18:00\"]]}}", RP_EVALIDATION,
         "hours.monday", "unknown_field"},
        {"{\"time_zone\":\"UTC\",\"colour\":1,\"hours\":{\"mon\":[[\"09:00\",\"18:00\"]]}}",
         RP_EVALIDATION, "colour", "unknown_field"},
        {"{\"time_zone\":\"UTC\",\"hours\":{\"mon\":[[\"09:00\",\"18:00\"]]},"
         "\"holidays\":[\"2026-02-30\"]}",
         RP_EVALIDATION, "holidays[0]", "invalid_date"},
        {"{\"time_zone\":\"UTC\",\"hours\":{\"mon\":[[\"09:00\",\"18:00\"]]},"
         "\"holidays\":[\"2026-10-01\",\"2026-10-01\"]}",
         RP_EVALIDATION, "holidays[1]", "duplicate"},
        {"{\"time_zone\":\"UTC\",\"hours\":{\"mon\":[[\"09:00\",\"18:00\"]]},"
         "\"holidays\":[\"2026-10-01\"],\"workdays\":[\"2026-10-01\"]}",
         RP_EVALIDATION, "workdays", "conflict"},
        {"{\"time_zone\":\"UTC\",\"hours\":{\"mon\":[[\"09:00\",\"18:00\"]]},\"workdays\":\"x\"}",
         RP_EVALIDATION, "workdays", "invalid_type"},
        {"{\"time_zone\":\"UTC\",\"time_zone\":\"UTC\",\"hours\":{\"mon\":[[\"09:00\",\"18:00\"]]}}",
         RP_EINVAL, NULL, NULL}, /* duplicate key */
    };
    struct rp_arena a;
    (void)state;
    rp_arena_init(&a);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rp_calendar cal;
        struct rp_error err;
        int rc;
        rp_error_init(&err, &a);
        rc = rp_calendar_parse_json(&cal, cases[i].json, strlen(cases[i].json), &err);
        if (rc != cases[i].code)
            fail_msg("case %zu: got %s (%s)", i, rp_err_name(rc), err.detail ? err.detail : "-");
        assert_null(cal.tz); /* nothing kept on failure */
        assert_non_null(err.detail);
        if (cases[i].field) {
            assert_true(err.nfields >= 1);
            if (strcmp(err.fields[0].field, cases[i].field) != 0 ||
                strcmp(err.fields[0].code, cases[i].fcode) != 0)
                fail_msg("case %zu: got %s/%s (%s)", i, err.fields[0].field, err.fields[0].code,
                         err.fields[0].message);
        }
    }
    rp_arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tzif_offsets),
        cmocka_unit_test(test_posix_rules),
        cmocka_unit_test(test_zone_names),
        cmocka_unit_test(test_tzif_malformed),
        cmocka_unit_test(test_tzif_truncated),
        cmocka_unit_test(test_table_matches_rule),
        cmocka_unit_test(test_deadlines_shanghai),
        cmocka_unit_test(test_working_and_next),
        cmocka_unit_test(test_deadlines_new_york_dst),
        cmocka_unit_test(test_dst_night_shift),
        cmocka_unit_test(test_long_duration_utc),
        cmocka_unit_test(test_pauses),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_json_errors),
    };
    return cmocka_run_group_tests_name("calendar", tests, NULL, NULL);
}
