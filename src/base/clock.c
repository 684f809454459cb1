/* Injectable clock; see clock.h. */
#include "base/clock.h"

#include <time.h>

void rp_clock_init_system(struct rp_clock *c)
{
    c->_fixed_ms = -1;
}

void rp_clock_init_fixed(struct rp_clock *c, int64_t ms)
{
    c->_fixed_ms = ms;
}

void rp_clock_set(struct rp_clock *c, int64_t ms)
{
    c->_fixed_ms = ms;
}

void rp_clock_advance(struct rp_clock *c, int64_t ms)
{
    if (c->_fixed_ms >= 0)
        c->_fixed_ms += ms;
}

int64_t rp_clock_now_ms(const struct rp_clock *c)
{
    struct timespec ts;
    if (c && c->_fixed_ms >= 0)
        return c->_fixed_ms;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rp_clock_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
