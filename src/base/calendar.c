/*
 * Time zones (TZif, RFC 8536) and business calendars; see calendar.h.
 *
 * A zone is a sorted table of UTC transitions with the offset in force after
 * each, plus an optional POSIX rule for instants after the last one. The
 * calendar never converts local time back to UTC directly (that is ambiguous
 * around DST changes); instead it walks UTC in segments of constant offset,
 * where local time is UTC shifted by one amount, and maps the working
 * intervals of each local date into the segment. That is exact on
 * spring-forward and fall-back nights and yields working intervals in
 * chronological order, which every calendar function consumes.
 */
#include "base/calendar.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/json.h"
#include "base/time.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define MS_PER_MIN  INT64_C(60000)
#define SEC_PER_DAY 86400

/* ---- POSIX TZ rules --------------------------------------------------------- */

struct tz_when {
    char kind;    /* 'J' (1-365, no Feb 29), 'n' (0-365), 'M' (month.week.weekday) */
    int m, w, d;  /* for 'M'; d 0 = Sunday */
    int n;        /* for 'J' and 'n' */
    int32_t time; /* seconds after local midnight, may be negative or past 24 h */
};

struct tz_rule {
    int32_t std_off; /* seconds east of UTC */
    int32_t dst_off;
    bool has_dst;
    struct tz_when start, end;
};

struct rp_tz {
    char *name;
    size_t ntrans;
    int64_t *trans;     /* UTC seconds, ascending */
    int32_t *trans_off; /* offset in force from trans[i] on */
    int32_t first_off;  /* before the first transition (time type 0) */
    bool has_rule;
    struct tz_rule rule;
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Day number of a rule date in year y. */
static int64_t when_day(const struct tz_when *w, int64_t y)
{
    int64_t jan1 = rp_time_days_from_civil(y, 1, 1);
    if (w->kind == 'J')
        return jan1 + w->n - 1 + (is_leap(y) && w->n >= 60);
    if (w->kind == 'n')
        return jan1 + w->n;
    int64_t first = rp_time_days_from_civil(y, (unsigned)w->m, 1);
    int64_t wd_first = ((first + 4) % 7 + 7) % 7; /* 1970-01-01 was a Thursday */
    int64_t day = first + ((w->d - wd_first) % 7 + 7) % 7 + 7 * (w->w - 1);
    if (w->w == 5) {
        int64_t next = w->m == 12 ? rp_time_days_from_civil(y + 1, 1, 1)
                                  : rp_time_days_from_civil(y, (unsigned)w->m + 1, 1);
        while (day >= next)
            day -= 7;
    }
    return day;
}

/* UTC seconds at which DST starts and ends in year y. */
static void rule_year(const struct tz_rule *r, int64_t y, int64_t *start, int64_t *end)
{
    *start = when_day(&r->start, y) * SEC_PER_DAY + r->start.time - r->std_off;
    *end = when_day(&r->end, y) * SEC_PER_DAY + r->end.time - r->dst_off;
}

static int32_t rule_offset(const struct tz_rule *r, int64_t t)
{
    int64_t y, s, e;
    unsigned m, d;
    if (!r->has_dst)
        return r->std_off;
    rp_time_civil_from_days(floor_div(t + r->std_off, SEC_PER_DAY), &y, &m, &d);
    rule_year(r, y, &s, &e);
    if (s < e)
        return (t >= s && t < e) ? r->dst_off : r->std_off;
    return (t >= e && t < s) ? r->std_off : r->dst_off;
}

/* The first instant after t at which the rule may change the offset; INT64_MAX if never. */
static int64_t rule_next(const struct tz_rule *r, int64_t t)
{
    int64_t y, best = INT64_MAX;
    unsigned m, d;
    if (!r->has_dst)
        return INT64_MAX;
    rp_time_civil_from_days(floor_div(t, SEC_PER_DAY), &y, &m, &d);
    for (int64_t k = y - 1; k <= y + 1; k++) {
        int64_t s, e;
        rule_year(r, k, &s, &e);
        if (s > t && s < best)
            best = s;
        if (e > t && e < best)
            best = e;
    }
    return best;
}

struct cursor {
    const char *p;
};

static bool parse_uint(struct cursor *c, int max, int *out)
{
    int v = 0, n = 0;
    while (isdigit((unsigned char)*c->p)) {
        v = v * 10 + (*c->p++ - '0');
        if (++n > 3 || v > max)
            return false;
    }
    *out = v;
    return n > 0;
}

/* [+-]hh[:mm[:ss]] as seconds, hours up to max_h. */
static bool parse_hms(struct cursor *c, int max_h, int32_t *out)
{
    int sign = 1, h, m = 0, s = 0;
    if (*c->p == '+' || *c->p == '-')
        sign = *c->p++ == '-' ? -1 : 1;
    if (!parse_uint(c, max_h, &h))
        return false;
    if (*c->p == ':') {
        c->p++;
        if (!parse_uint(c, 59, &m))
            return false;
        if (*c->p == ':') {
            c->p++;
            if (!parse_uint(c, 59, &s))
                return false;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return true;
}

static bool parse_zone_name(struct cursor *c)
{
    const char *start = c->p;
    if (*c->p == '<') {
        c->p++;
        start = c->p;
        while (isalnum((unsigned char)*c->p) || *c->p == '+' || *c->p == '-')
            c->p++;
        if (*c->p != '>' || c->p - start < 3)
            return false;
        c->p++;
        return true;
    }
    while (isalpha((unsigned char)*c->p))
        c->p++;
    return c->p - start >= 3;
}

static bool parse_when(struct cursor *c, struct tz_when *w)
{
    memset(w, 0, sizeof(*w));
    w->time = 2 * 3600;
    if (*c->p == 'M') {
        c->p++;
        w->kind = 'M';
        if (!parse_uint(c, 12, &w->m) || w->m < 1 || *c->p++ != '.' || !parse_uint(c, 5, &w->w) ||
            w->w < 1 || *c->p++ != '.' || !parse_uint(c, 6, &w->d))
            return false;
    } else if (*c->p == 'J') {
        c->p++;
        w->kind = 'J';
        if (!parse_uint(c, 365, &w->n) || w->n < 1)
            return false;
    } else {
        w->kind = 'n';
        if (!parse_uint(c, 365, &w->n))
            return false;
    }
    if (*c->p == '/') {
        c->p++;
        if (!parse_hms(c, 167, &w->time))
            return false;
    }
    return true;
}

static bool parse_rule(const char *s, struct tz_rule *r)
{
    struct cursor c = {s};
    int32_t off;

    memset(r, 0, sizeof(*r));
    if (!parse_zone_name(&c) || !parse_hms(&c, 24, &off))
        return false;
    r->std_off = -off; /* POSIX offsets count west */
    if (*c.p == '\0')
        return true;
    if (!parse_zone_name(&c))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*c.p && *c.p != ',') {
        if (!parse_hms(&c, 24, &off))
            return false;
        r->dst_off = -off;
    }
    if (*c.p == '\0') {
        /* no rule given: the United States rule, as glibc does */
        r->start = (struct tz_when){'M', 3, 2, 0, 0, 7200};
        r->end = (struct tz_when){'M', 11, 1, 0, 0, 7200};
        return true;
    }
    if (*c.p++ != ',' || !parse_when(&c, &r->start) || *c.p++ != ',' || !parse_when(&c, &r->end))
        return false;
    return *c.p == '\0';
}

/* ---- zones -------------------------------------------------------------------- */

void rp_tz_free(struct rp_tz *tz)
{
    if (!tz)
        return;
    free(tz->name);
    free(tz->trans);
    free(tz->trans_off);
    free(tz);
}

const char *rp_tz_name(const struct rp_tz *tz)
{
    return tz->name;
}

int32_t rp_tz_offset(const struct rp_tz *tz, int64_t utc_ms)
{
    int64_t t = floor_div(utc_ms, 1000);
    size_t lo = 0, hi = tz->ntrans;

    if (tz->ntrans == 0)
        return tz->has_rule ? rule_offset(&tz->rule, t) : tz->first_off;
    if (t < tz->trans[0])
        return tz->first_off;
    if (t >= tz->trans[tz->ntrans - 1] && tz->has_rule)
        return rule_offset(&tz->rule, t);
    /* the last transition at or before t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->trans_off[lo];
}

/* The first instant (ms) after utc_ms at which the offset may change; INT64_MAX if never. */
static int64_t tz_next_change(const struct rp_tz *tz, int64_t utc_ms)
{
    int64_t t = floor_div(utc_ms, 1000);
    size_t lo = 0, hi = tz->ntrans;
    int64_t next;

    if (tz->ntrans == 0 || t >= tz->trans[tz->ntrans - 1])
        next = tz->has_rule ? rule_next(&tz->rule, t) : INT64_MAX;
    else {
        /* the first transition after t */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (tz->trans[mid] <= t)
                lo = mid + 1;
            else
                hi = mid;
        }
        next = tz->trans[lo];
    }
    return next == INT64_MAX || next > INT64_MAX / 1000 ? INT64_MAX : next * 1000;
}

static struct rp_tz *tz_new(const char *name)
{
    struct rp_tz *tz = rp_xcalloc(1, sizeof(*tz));
    tz->name = rp_xstrdup(name);
    return tz;
}

int rp_tz_parse_posix(const char *rule, struct rp_tz **out, struct rp_error *err)
{
    struct tz_rule r;
    *out = NULL;
    if (!rule || strlen(rule) > 128 || !parse_rule(rule, &r))
        return rp_error_set(err, RP_EINVAL, "time zone rule \"%s\" is not a POSIX TZ rule",
                            rule ? rule : "");
    *out = tz_new(rule);
    (*out)->has_rule = true;
    (*out)->rule = r;
    (*out)->first_off = r.std_off;
    return 0;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chr;
};

static bool tzif_header(const uint8_t *p, size_t len, struct tzif_counts *c, char *version)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return false;
    *version = (char)p[4];
    c->isut = be32(p + 20);
    c->isstd = be32(p + 24);
    c->leap = be32(p + 28);
    c->time = be32(p + 32);
    c->type = be32(p + 36);
    c->chr = be32(p + 40);
    return c->type >= 1 && c->type <= 256 && c->time <= RP_TZ_MAX_TRANS && c->chr <= 4096 &&
           c->leap <= 1000 && (c->isut == 0 || c->isut == c->type) &&
           (c->isstd == 0 || c->isstd == c->type);
}

static size_t tzif_body_len(const struct tzif_counts *c, size_t tsize)
{
    return c->time * tsize + c->time + c->type * 6 + c->chr + c->leap * (tsize + 4) + c->isstd +
           c->isut;
}

int rp_tz_parse_tzif(const uint8_t *data, size_t len, const char *name, struct rp_tz **out,
                     struct rp_error *err)
{
    struct tzif_counts c;
    char version;
    size_t tsize = 4, off;
    const uint8_t *p, *idx, *types;
    struct rp_tz *tz = NULL;
    int rc = RP_EINVAL;

    *out = NULL;
    if (!tzif_header(data, len, &c, &version))
        goto bad;
    off = 44;
    if (version >= '2') {
        /* skip the 32-bit block; the 64-bit one follows with its own header */
        off += tzif_body_len(&c, 4);
        if (off > len || !tzif_header(data + off, len - off, &c, &version))
            goto bad;
        off += 44;
        tsize = 8;
    }
    if (tzif_body_len(&c, tsize) > len - off)
        goto bad;
    p = data + off;
    idx = p + c.time * tsize;
    types = idx + c.time;

    tz = tz_new(name);
    tz->ntrans = c.time;
    tz->trans = rp_xcalloc(c.time ? c.time : 1, sizeof(int64_t));
    tz->trans_off = rp_xcalloc(c.time ? c.time : 1, sizeof(int32_t));
    for (uint32_t i = 0; i < c.type; i++) {
        int32_t ut = (int32_t)be32(types + 6 * i);
        if (ut == INT32_MIN || ut < -25 * 3600 || ut > 26 * 3600)
            goto bad;
    }
    tz->first_off = (int32_t)be32(types);
    for (uint32_t i = 0; i < c.time; i++) {
        int64_t t = tsize == 8 ? be64(p + 8 * i) : (int64_t)(int32_t)be32(p + 4 * i);
        if (idx[i] >= c.type || (i > 0 && t <= tz->trans[i - 1]))
            goto bad;
        tz->trans[i] = t;
        tz->trans_off[i] = (int32_t)be32(types + 6 * idx[i]);
    }
    if (version >= '2') {
        /* footer: "\n<POSIX TZ rule>\n", empty when the table says everything */
        const char *f = (const char *)(data + off + tzif_body_len(&c, tsize));
        size_t flen = len - off - tzif_body_len(&c, tsize);
        char rule[129];
        const char *nl;
        if (flen < 2 || f[0] != '\n')
            goto bad;
        nl = memchr(f + 1, '\n', flen - 1);
        if (!nl || (size_t)(nl - f - 1) >= sizeof(rule))
            goto bad;
        memcpy(rule, f + 1, (size_t)(nl - f - 1));
        rule[nl - f - 1] = '\0';
        if (rule[0] != '\0') {
            if (!parse_rule(rule, &tz->rule))
                goto bad;
            tz->has_rule = true;
        }
    }
    *out = tz;
    return 0;

bad:
    rp_tz_free(tz);
    rc = rp_error_set(err, RP_EINVAL, "time zone \"%s\" is not a valid TZif file", name);
    return rc;
}

static bool tz_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= RP_TZ_NAME_MAX || name[0] == '/' || name[n - 1] == '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!isalnum((unsigned char)ch) && !strchr("_+-./", ch))
            return false;
        /* no empty components and none starting with a dot: rules out "..", "./" and "//" */
        if ((i == 0 || name[i - 1] == '/') && (ch == '.' || ch == '/'))
            return false;
    }
    return true;
}

int rp_tz_load(const char *name, struct rp_tz **out, struct rp_error *err)
{
    char path[sizeof(RP_TZ_DIR) + RP_TZ_NAME_MAX + 1];
    struct stat st;
    uint8_t *data = NULL;
    size_t got = 0;
    int fd = -1, rc;

    *out = NULL;
    if (!name || !tz_name_ok(name))
        return rp_error_set(err, RP_EINVAL, "time zone name \"%s\" is not valid", name ? name : "");
    if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
        *out = tz_new(name);
        return 0;
    }
    snprintf(path, sizeof(path), "%s/%s", RP_TZ_DIR, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = rp_error_set(err, RP_ENOTFOUND, "time zone \"%s\" is not known", name);
        goto out;
    }
    if (st.st_size > RP_TZ_FILE_MAX) {
        rc = rp_error_set(err, RP_EINVAL, "time zone \"%s\" is not a valid TZif file", name);
        goto out;
    }
    data = rp_xmalloc((size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    rc = rp_tz_parse_tzif(data, got, name, out, err);
out:
    if (fd >= 0)
        close(fd);
    free(data);
    return rc;
}

/* ---- calendars: the working-interval walk ------------------------------------ */

static bool date_in(const int64_t *v, size_t n, int64_t d)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] == d)
            return true;
        if (v[mid] < d)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static const struct rp_cal_day closed_day;

/* The working intervals of local date day. */
static const struct rp_cal_day *hours_of(const struct rp_calendar *cal, int64_t day)
{
    if (date_in(cal->holidays, cal->nholidays, day))
        return &closed_day;
    if (date_in(cal->workdays, cal->nworkdays, day)) {
        for (int i = 0; i < 7; i++)
            if (cal->week[i].n > 0)
                return &cal->week[i];
        return &closed_day;
    }
    return &cal->week[((day + 3) % 7 + 7) % 7]; /* 1970-01-01 was a Thursday (3) */
}

/*
 * Finds the first working interval that ends after t and starts before limit,
 * clipped to start no earlier than t and to lie within one offset segment:
 * returns 1 with [*a, *b), 0 when there is none before limit, RP_EINVAL when
 * the scan passes the supported range.
 */
static int next_interval(const struct rp_calendar *cal, int64_t t, int64_t limit, int64_t *a,
                         int64_t *b)
{
    while (t < limit) {
        int64_t off = (int64_t)rp_tz_offset(cal->tz, t) * 1000;
        int64_t seg_end = tz_next_change(cal->tz, t);
        int64_t day = floor_div(t + off, RP_MS_PER_DAY);

        if (t >= RP_CAL_MAX_MS)
            return RP_EINVAL;
        /* local dates whose midnight falls before the segment's end */
        for (; day * RP_MS_PER_DAY - off < seg_end; day++) {
            const struct rp_cal_day *h = hours_of(cal, day);
            if (day * RP_MS_PER_DAY - off >= limit)
                return 0;
            if (day * RP_MS_PER_DAY - off >= RP_CAL_MAX_MS)
                return RP_EINVAL;
            for (size_t i = 0; i < h->n; i++) {
                int64_t ua = day * RP_MS_PER_DAY + h->iv[i].start * MS_PER_MIN - off;
                int64_t ub = day * RP_MS_PER_DAY + h->iv[i].end * MS_PER_MIN - off;
                if (ua < t)
                    ua = t;
                if (ub > seg_end)
                    ub = seg_end;
                if (ua >= ub)
                    continue;
                if (ua >= limit)
                    return 0;
                *a = ua;
                *b = ub;
                return 1;
            }
        }
        t = seg_end;
    }
    return 0;
}

static bool in_range(int64_t t)
{
    return t >= RP_CAL_MIN_MS && t <= RP_CAL_MAX_MS;
}

bool rp_calendar_is_working(const struct rp_calendar *cal, int64_t t_ms)
{
    int64_t local = t_ms + (int64_t)rp_tz_offset(cal->tz, t_ms) * 1000;
    int64_t day = floor_div(local, RP_MS_PER_DAY);
    int64_t ms = local - day * RP_MS_PER_DAY;
    const struct rp_cal_day *h = hours_of(cal, day);
    for (size_t i = 0; i < h->n; i++)
        if (ms >= h->iv[i].start * MS_PER_MIN && ms < h->iv[i].end * MS_PER_MIN)
            return true;
    return false;
}

int rp_calendar_next_working(const struct rp_calendar *cal, int64_t t_ms, int64_t *out_ms)
{
    int64_t a, b;
    int rc;
    if (!in_range(t_ms))
        return RP_EINVAL;
    rc = next_interval(cal, t_ms, INT64_MAX, &a, &b);
    if (rc <= 0)
        return RP_EINVAL;
    *out_ms = a;
    return 0;
}

int rp_calendar_add_minutes(const struct rp_calendar *cal, int64_t start_ms, int64_t minutes,
                            int64_t *deadline_ms)
{
    int64_t left = minutes * MS_PER_MIN, t = start_ms;
    if (!in_range(start_ms) || minutes < 0 || minutes > RP_CAL_MAX_MINUTES)
        return RP_EINVAL;
    while (left > 0) {
        int64_t a, b;
        int rc = next_interval(cal, t, INT64_MAX, &a, &b);
        if (rc <= 0)
            return RP_EINVAL;
        if (left <= b - a) {
            t = a + left;
            break;
        }
        left -= b - a;
        t = b;
    }
    *deadline_ms = t;
    return 0;
}

int rp_calendar_elapsed(const struct rp_calendar *cal, int64_t start_ms, int64_t end_ms,
                        int64_t *working_ms)
{
    int64_t sum = 0, t = start_ms;
    if (!in_range(start_ms) || !in_range(end_ms))
        return RP_EINVAL;
    while (t < end_ms) {
        int64_t a, b;
        int rc = next_interval(cal, t, end_ms, &a, &b);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
        sum += (b < end_ms ? b : end_ms) - a;
        t = b;
    }
    *working_ms = sum;
    return 0;
}

static int span_cmp(const void *x, const void *y)
{
    const struct rp_cal_span *a = x, *b = y;
    return a->start_ms < b->start_ms ? -1 : a->start_ms > b->start_ms;
}

int rp_calendar_elapsed_excluding(const struct rp_calendar *cal, int64_t start_ms, int64_t end_ms,
                                  const struct rp_cal_span *pauses, size_t n, int64_t *working_ms)
{
    struct rp_cal_span *v = NULL;
    size_t nv = 0;
    int64_t total, paused;
    int rc;

    if (n > RP_CAL_MAX_PAUSES)
        return RP_EINVAL;
    rc = rp_calendar_elapsed(cal, start_ms, end_ms, &total);
    if (rc < 0)
        return rc;
    if (n > 0)
        v = rp_xmalloc(n * sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        struct rp_cal_span s = pauses[i];
        if (s.end_ms < s.start_ms) {
            rc = RP_EINVAL;
            goto out;
        }
        /* only the part inside [start, end) counts */
        if (s.start_ms < start_ms)
            s.start_ms = start_ms;
        if (s.end_ms > end_ms)
            s.end_ms = end_ms;
        if (s.start_ms < s.end_ms)
            v[nv++] = s;
    }
    if (nv > 1)
        qsort(v, nv, sizeof(*v), span_cmp);
    for (size_t i = 0; i < nv;) {
        struct rp_cal_span m = v[i++];
        while (i < nv && v[i].start_ms <= m.end_ms) {
            if (v[i].end_ms > m.end_ms)
                m.end_ms = v[i].end_ms;
            i++;
        }
        rc = rp_calendar_elapsed(cal, m.start_ms, m.end_ms, &paused);
        if (rc < 0)
            goto out;
        total -= paused;
    }
    *working_ms = total;
    rc = 0;
out:
    free(v);
    return rc;
}

/* ---- calendars: the JSON form ------------------------------------------------ */

static const char *const day_keys[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

void rp_calendar_init(struct rp_calendar *cal)
{
    memset(cal, 0, sizeof(*cal));
}

void rp_calendar_release(struct rp_calendar *cal)
{
    rp_tz_free(cal->tz);
    free(cal->holidays);
    free(cal->workdays);
    rp_calendar_init(cal);
}

/* "HH:MM", 00:00 to 24:00, as minutes; -1 if malformed. */
static int parse_hhmm(const char *s, bool allow_24)
{
    int h, m;
    if (strlen(s) != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
        s[2] != ':' || !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
        return -1;
    h = (s[0] - '0') * 10 + (s[1] - '0');
    m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)))
        return -1;
    return h * 60 + m;
}

/* A field path for an error; errors without an arena keep no paths. */
static const char *path(struct rp_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const char *path(struct rp_error *err, const char *fmt, ...)
{
    va_list ap;
    const char *p;
    if (!err->_arena)
        return "";
    va_start(ap, fmt);
    p = rp_arena_vsprintf(err->_arena, fmt, ap);
    va_end(ap);
    return p;
}

static void parse_day(struct rp_cal_day *day, const char *key, json_t *v, struct rp_error *err)
{
    size_t i;
    json_t *pair;
    int prev_end = -1;

    if (!json_is_array(v)) {
        rp_error_field(err, RP_EVALIDATION, path(err, "hours.%s", key), "invalid_type",
                       "hours.%s must be an array of [\"HH:MM\", \"HH:MM\"] pairs", key);
        return;
    }
    if (json_array_size(v) > RP_CAL_MAX_INTERVALS) {
        rp_error_field(err, RP_EVALIDATION, path(err, "hours.%s", key), "too_many",
                       "hours.%s has %zu intervals, more than %d", key, json_array_size(v),
                       RP_CAL_MAX_INTERVALS);
        return;
    }
    json_array_foreach(v, i, pair)
    {
        int t[2];
        if (!json_is_array(pair) || json_array_size(pair) != 2) {
            rp_error_field(err, RP_EVALIDATION, path(err, "hours.%s[%zu]", key, i), "invalid_type",
                           "hours.%s[%zu] must be a pair [\"HH:MM\", \"HH:MM\"]", key, i);
            return;
        }
        for (size_t k = 0; k < 2; k++) {
            json_t *e = json_array_get(pair, k);
            const char *s = json_is_string(e) ? json_string_value(e) : "";
            t[k] = json_is_string(e) ? parse_hhmm(s, k == 1) : -1;
            if (t[k] < 0) {
                rp_error_field(err, RP_EVALIDATION, path(err, "hours.%s[%zu][%zu]", key, i, k),
                               "invalid_time",
                               "hours.%s[%zu][%zu]: \"%s\" is not a time of day HH:MM (00:00-%s)",
                               key, i, k, s, k == 1 ? "24:00" : "23:59");
                return;
            }
        }
        if (t[0] >= t[1]) {
            rp_error_field(err, RP_EVALIDATION, path(err, "hours.%s[%zu]", key, i),
                           "invalid_interval",
                           "hours.%s[%zu]: the interval must end after it starts", key, i);
            return;
        }
        if (t[0] < prev_end) {
            rp_error_field(
                err, RP_EVALIDATION, path(err, "hours.%s[%zu]", key, i), "invalid_interval",
                "hours.%s[%zu]: intervals must be in order and must not overlap", key, i);
            return;
        }
        day->iv[day->n].start = (uint16_t)t[0];
        day->iv[day->n].end = (uint16_t)t[1];
        day->n++;
        prev_end = t[1];
    }
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

/* Parses a list of dates; NULL (absent) gives an empty list. */
static void parse_dates(const char *key, json_t *v, int64_t **out, size_t *n, struct rp_error *err)
{
    size_t i;
    json_t *e;

    *out = NULL;
    *n = 0;
    if (!v)
        return;
    if (!json_is_array(v)) {
        rp_error_field(err, RP_EVALIDATION, key, "invalid_type",
                       "%s must be an array of dates \"YYYY-MM-DD\"", key);
        return;
    }
    if (json_array_size(v) > RP_CAL_MAX_DATES) {
        rp_error_field(err, RP_EVALIDATION, key, "too_many", "%s has %zu dates, more than %d", key,
                       json_array_size(v), RP_CAL_MAX_DATES);
        return;
    }
    *out = rp_xcalloc(json_array_size(v) + 1, sizeof(int64_t));
    json_array_foreach(v, i, e)
    {
        const char *s = json_is_string(e) ? json_string_value(e) : "";
        int64_t d;
        if (!json_is_string(e) || rp_time_parse_date(s, strlen(s), &d) != 0) {
            rp_error_field(err, RP_EVALIDATION, path(err, "%s[%zu]", key, i), "invalid_date",
                           "%s[%zu]: \"%s\" is not a date YYYY-MM-DD", key, i, s);
            continue;
        }
        if (date_in(*out, *n, d)) {
            rp_error_field(err, RP_EVALIDATION, path(err, "%s[%zu]", key, i), "duplicate",
                           "%s[%zu]: \"%s\" is listed twice", key, i, s);
            continue;
        }
        (*out)[(*n)++] = d;
        qsort(*out, *n, sizeof(int64_t), cmp_i64);
    }
}

int rp_calendar_parse_json(struct rp_calendar *cal, const char *json, size_t len,
                           struct rp_error *err)
{
    json_t *root, *v;
    const char *key;
    size_t total = 0;

    rp_calendar_init(cal);
    root = rp_json_parse(json, len, RP_CAL_JSON_MAX, err);
    if (!root)
        return err->code ? err->code : RP_EINVAL;
    if (!json_is_object(root)) {
        json_decref(root);
        return rp_error_set(err, RP_EINVAL, "a calendar must be a JSON object");
    }
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "time_zone") != 0 && strcmp(key, "hours") != 0 &&
            strcmp(key, "holidays") != 0 && strcmp(key, "workdays") != 0)
            rp_error_field(err, RP_EVALIDATION, key, "unknown_field",
                           "\"%s\" is not a calendar member (time_zone, hours, holidays, workdays)",
                           key);
    }

    v = json_object_get(root, "time_zone");
    if (!json_is_string(v)) {
        rp_error_field(err, RP_EVALIDATION, "time_zone", v ? "invalid_type" : "required",
                       "time_zone must be a time zone name such as \"Asia/Shanghai\"");
    } else {
        struct rp_error tzerr;
        rp_error_init(&tzerr, err->_arena);
        if (rp_tz_load(json_string_value(v), &cal->tz, &tzerr) < 0)
            rp_error_field(err, RP_EVALIDATION, "time_zone", "invalid_time_zone", "time_zone: %s",
                           tzerr.detail);
    }

    v = json_object_get(root, "hours");
    if (!json_is_object(v)) {
        rp_error_field(err, RP_EVALIDATION, "hours", v ? "invalid_type" : "required",
                       "hours must be an object of days (\"mon\" ... \"sun\")");
    } else {
        json_t *d;
        size_t before = err->nfields;
        json_object_foreach(v, key, d)
        {
            int i = 0;
            while (i < 7 && strcmp(key, day_keys[i]) != 0)
                i++;
            if (i == 7) {
                rp_error_field(err, RP_EVALIDATION, path(err, "hours.%s", key), "unknown_field",
                               "hours.%s: \"%s\" is not a day (mon, tue, wed, thu, fri, sat, sun)",
                               key, key);
                continue;
            }
            parse_day(&cal->week[i], key, d, err);
            total += cal->week[i].n;
        }
        if (total == 0 && err->nfields == before)
            rp_error_field(err, RP_EVALIDATION, "hours", "no_working_hours",
                           "hours: the calendar has no working hours on any day");
    }

    parse_dates("holidays", json_object_get(root, "holidays"), &cal->holidays, &cal->nholidays,
                err);
    parse_dates("workdays", json_object_get(root, "workdays"), &cal->workdays, &cal->nworkdays,
                err);
    for (size_t i = 0; i < cal->nworkdays; i++) {
        if (date_in(cal->holidays, cal->nholidays, cal->workdays[i])) {
            struct rp_buf b;
            rp_buf_init(&b, NULL, 16);
            rp_time_format_date(&b, cal->workdays[i]);
            rp_error_field(err, RP_EVALIDATION, "workdays", "conflict",
                           "workdays: %s is also a holiday", b.data);
            rp_buf_release(&b);
        }
    }
    json_decref(root);
    if (err->code != 0) {
        int rc = err->code;
        rp_calendar_release(cal);
        return rc;
    }
    return 0;
}

static void add_hhmm(struct rp_buf *out, unsigned minutes)
{
    rp_buf_addf(out, "\"%02u:%02u\"", minutes / 60, minutes % 60);
}

static void add_dates(struct rp_buf *out, const int64_t *v, size_t n)
{
    rp_buf_addc(out, '[');
    for (size_t i = 0; i < n; i++) {
        rp_buf_adds(out, i ? ",\"" : "\"");
        rp_time_format_date(out, v[i]);
        rp_buf_addc(out, '"');
    }
    rp_buf_addc(out, ']');
}

void rp_calendar_to_json(const struct rp_calendar *cal, struct rp_buf *out)
{
    const char *name = rp_tz_name(cal->tz);
    rp_buf_adds(out, "{\"time_zone\":");
    rp_buf_add_json_str(out, name, strlen(name));
    rp_buf_adds(out, ",\"hours\":{");
    for (int d = 0; d < 7; d++) {
        rp_buf_addf(out, "%s\"%s\":[", d ? "," : "", day_keys[d]);
        for (size_t i = 0; i < cal->week[d].n; i++) {
            rp_buf_adds(out, i ? ",[" : "[");
            add_hhmm(out, cal->week[d].iv[i].start);
            rp_buf_addc(out, ',');
            add_hhmm(out, cal->week[d].iv[i].end);
            rp_buf_addc(out, ']');
        }
        rp_buf_addc(out, ']');
    }
    rp_buf_adds(out, "},\"holidays\":");
    add_dates(out, cal->holidays, cal->nholidays);
    rp_buf_adds(out, ",\"workdays\":");
    add_dates(out, cal->workdays, cal->nworkdays);
    rp_buf_addc(out, '}');
}
