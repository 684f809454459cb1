/*
 * Structured logging: one JSON object per line on stderr. The macros add the
 * function, file and line, so messages never name a function by hand.
 * Secrets (passwords, tokens) are never passed to the log.
 */
#ifndef RP_BASE_LOG_H
#define RP_BASE_LOG_H

#include <stdarg.h>

enum rp_log_level { RP_LOG_DEBUG, RP_LOG_INFO, RP_LOG_WARN, RP_LOG_ERROR, RP_LOG_OFF };

/** Sets the lowest level written; from RAPPORT_LOG ("debug", "info", "warn", "error", "off")
 *  when rp_log_init_from_env() is called. Thread-safe. */
void rp_log_set_level(enum rp_log_level level);
void rp_log_init_from_env(void);
enum rp_log_level rp_log_get_level(void);

void rp_log_write(enum rp_log_level level, const char *func, const char *file, int line,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/** Writes an already-formatted JSON object (the access log) as one line. */
void rp_log_json_line(const char *json, size_t len);

#define rp_log_debug(...) rp_log_write(RP_LOG_DEBUG, __func__, __FILE__, __LINE__, __VA_ARGS__)
#define rp_log_info(...)  rp_log_write(RP_LOG_INFO, __func__, __FILE__, __LINE__, __VA_ARGS__)
#define rp_log_warn(...)  rp_log_write(RP_LOG_WARN, __func__, __FILE__, __LINE__, __VA_ARGS__)
#define rp_log_error(...) rp_log_write(RP_LOG_ERROR, __func__, __FILE__, __LINE__, __VA_ARGS__)

#endif
