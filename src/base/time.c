/*
 * Civil-date conversion by the era method: a 400-year era has a fixed number
 * of days, and shifting the year to start in March puts the leap day last.
 */
#include "base/time.h"
#include "base/buf.h"
#include "base/err.h"

#include <stdio.h>

int64_t rp_time_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void rp_time_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int64_t rp_time_day_of(int64_t ms)
{
    return ms >= 0 ? ms / RP_MS_PER_DAY : -((-ms + RP_MS_PER_DAY - 1) / RP_MS_PER_DAY);
}

/* Zero-padded decimal without printf: dates and times are written for every record. */
static void add_padded(struct rp_buf *out, int64_t v, int width)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u && n < (int)sizeof(tmp));
    while (n < width)
        tmp[n++] = '0';
    if (v < 0)
        rp_buf_addc(out, '-');
    while (n > 0)
        rp_buf_addc(out, tmp[--n]);
}

void rp_time_format_date(struct rp_buf *out, int64_t days)
{
    int64_t y;
    unsigned m, d;
    rp_time_civil_from_days(days, &y, &m, &d);
    add_padded(out, y, 4);
    rp_buf_addc(out, '-');
    add_padded(out, m, 2);
    rp_buf_addc(out, '-');
    add_padded(out, d, 2);
}

void rp_time_format_datetime(struct rp_buf *out, int64_t ms)
{
    int64_t day = rp_time_day_of(ms);
    int64_t rem = ms - day * RP_MS_PER_DAY;
    int64_t secs = rem / 1000;

    rp_time_format_date(out, day);
    rp_buf_addc(out, 'T');
    add_padded(out, secs / 3600, 2);
    rp_buf_addc(out, ':');
    add_padded(out, secs / 60 % 60, 2);
    rp_buf_addc(out, ':');
    add_padded(out, secs % 60, 2);
    if (rem % 1000) {
        rp_buf_addc(out, '.');
        add_padded(out, rem % 1000, 3);
    }
    rp_buf_addc(out, 'Z');
}

static bool digits(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static unsigned month_days(int64_t y, unsigned m)
{
    static const unsigned len[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : len[m - 1];
}

int rp_time_parse_date(const char *s, size_t n, int64_t *days)
{
    int64_t y, m, d;

    if (n != 10 || s[4] != '-' || s[7] != '-')
        return RP_EINVAL;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d))
        return RP_EINVAL;
    if (m < 1 || m > 12 || d < 1 || d > month_days(y, (unsigned)m))
        return RP_EINVAL;
    *days = rp_time_days_from_civil(y, (unsigned)m, (unsigned)d);
    return 0;
}

int rp_time_parse_datetime(const char *s, size_t n, int64_t *ms)
{
    int64_t days, hh, mi, ss, frac = 0, off = 0;
    size_t i = 19;

    if (n < 20 || rp_time_parse_date(s, 10, &days) != 0)
        return RP_EINVAL;
    if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
        return RP_EINVAL;
    if (!digits(s + 11, 2, &hh) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &ss))
        return RP_EINVAL;
    if (hh > 23 || mi > 59 || ss > 60)
        return RP_EINVAL;
    if (ss == 60)
        ss = 59; /* a leap second is clamped: the store cannot represent it */
    if (s[i] == '.') {
        size_t start = ++i, k;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return RP_EINVAL;
        for (k = 0; k < 3; k++)
            frac = frac * 10 + (start + k < i ? s[start + k] - '0' : 0);
    }
    if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
        off = 0;
    } else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int64_t oh, om;
        if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return RP_EINVAL;
        off = (oh * 60 + om) * 60000 * (s[i] == '-' ? -1 : 1);
    } else {
        return RP_EINVAL;
    }
    *ms = days * RP_MS_PER_DAY + ((hh * 60 + mi) * 60 + ss) * 1000 + frac - off;
    return 0;
}
