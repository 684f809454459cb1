/*
 * libFuzzer target: business calendars and time zones. The first byte chooses what the rest
 * is: a calendar's JSON form, a POSIX TZ rule, or TZif bytes. Whatever parses is then asked
 * for offsets, deadlines and elapsed time at fixed instants. Nothing may crash, leak, loop or
 * trip a sanitizer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/calendar.h"
#include "base/err.h"
#include "base/time.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static const int64_t instants[] = {
    INT64_C(-2208988800000), INT64_C(0),
    INT64_C(1772953200000),  INT64_C(1795334400000),
    INT64_C(4102444800000),  INT64_C(7258118400000),
};

static void use_zone(const struct rp_tz *tz)
{
    for (size_t i = 0; i < sizeof(instants) / sizeof(instants[0]); i++)
        (void)rp_tz_offset(tz, instants[i]);
}

static void use_calendar(const struct rp_calendar *cal)
{
    struct rp_cal_span pause = {instants[2], instants[3]};
    struct rp_buf out;
    int64_t r;

    for (size_t i = 1; i + 1 < sizeof(instants) / sizeof(instants[0]); i++) {
        (void)rp_calendar_is_working(cal, instants[i]);
        (void)rp_calendar_next_working(cal, instants[i], &r);
        (void)rp_calendar_add_minutes(cal, instants[i], 10000, &r);
    }
    (void)rp_calendar_elapsed_excluding(cal, instants[2], instants[3] + RP_MS_PER_DAY * 30, &pause,
                                        1, &r);
    rp_buf_init(&out, NULL, 1 << 20);
    rp_calendar_to_json(cal, &out);
    rp_buf_release(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rp_arena a;
    struct rp_error err;
    struct rp_tz *tz = NULL;
    struct rp_calendar cal;
    char *text;

    if (size == 0)
        return 0;
    rp_arena_init(&a);
    rp_error_init(&err, &a);
    text = rp_arena_strndup(&a, (const char *)data + 1, size - 1);
    switch (data[0] % 3) {
    case 0:
        if (rp_calendar_parse_json(&cal, text, size - 1, &err) == 0) {
            use_calendar(&cal);
            rp_calendar_release(&cal);
        }
        break;
    case 1:
        if (rp_tz_parse_posix(text, &tz, &err) == 0)
            use_zone(tz);
        break;
    default:
        if (rp_tz_parse_tzif(data + 1, size - 1, "fuzz", &tz, &err) == 0)
            use_zone(tz);
        break;
    }
    rp_tz_free(tz);
    rp_arena_release(&a);
    return 0;
}
