/*
 * Injectable clock. Code that needs the time reads it from a struct rp_clock
 * handed down from the app, never from time() directly, so tests can fix and
 * advance time without sleeping.
 */
#ifndef RP_BASE_CLOCK_H
#define RP_BASE_CLOCK_H

#include <stdint.h>

struct rp_clock {
    /* private */
    int64_t _fixed_ms; /* >= 0: a fake clock standing at this time */
};

/** The system clock (CLOCK_REALTIME). */
void rp_clock_init_system(struct rp_clock *c);
/** A fake clock standing at ms since the epoch until set again. */
void rp_clock_init_fixed(struct rp_clock *c, int64_t ms);
void rp_clock_set(struct rp_clock *c, int64_t ms);
void rp_clock_advance(struct rp_clock *c, int64_t ms);
/** Milliseconds since the epoch. */
int64_t rp_clock_now_ms(const struct rp_clock *c);
/** Monotonic microseconds, for durations and timeouts (never faked). */
int64_t rp_clock_monotonic_us(void);

#endif
