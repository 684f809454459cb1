/*
 * Log lines are built in a stack buffer and written with one write(2) so that
 * lines from several threads never interleave.
 */
#include "base/log.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/time.h"

#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static _Atomic int log_level = RP_LOG_INFO;

void rp_log_set_level(enum rp_log_level level)
{
    atomic_store(&log_level, (int)level);
}

enum rp_log_level rp_log_get_level(void)
{
    return (enum rp_log_level)atomic_load(&log_level);
}

void rp_log_init_from_env(void)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    const char *v = getenv("RAPPORT_LOG");
    if (!v)
        return;
    for (int i = 0; i <= RP_LOG_OFF; i++)
        if (strcmp(v, names[i]) == 0)
            rp_log_set_level((enum rp_log_level)i);
}

void rp_log_json_line(const char *json, size_t len)
{
    ssize_t rc;
    do {
        rc = write(STDERR_FILENO, json, len);
        if (rc <= 0)
            return;
        json += rc;
        len -= (size_t)rc;
    } while (len > 0);
}

void rp_log_write(enum rp_log_level level, const char *func, const char *file, int line,
                  const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    struct rp_buf b, msg;
    va_list ap;

    if ((int)level < atomic_load(&log_level) || level >= RP_LOG_OFF)
        return;
    rp_buf_init(&msg, NULL, 8192);
    va_start(ap, fmt);
    rp_buf_vaddf(&msg, fmt, ap);
    va_end(ap);
    rp_buf_init(&b, NULL, 16384);
    rp_buf_adds(&b, "{\"ts\":\"");
    rp_time_format_datetime(&b, rp_clock_now_ms(NULL));
    rp_buf_addf(&b, "\",\"level\":\"%s\",\"msg\":", names[level]);
    rp_buf_add_json_str(&b, msg.data, msg.len);
    rp_buf_addf(&b, ",\"func\":\"%s\",\"src\":\"%s:%d\"}\n", func, file, line);
    rp_log_json_line(b.data, b.len);
    rp_buf_release(&b);
    rp_buf_release(&msg);
}
