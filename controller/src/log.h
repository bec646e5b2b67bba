/*
 * log.h - leveled logging to stderr as text or JSON lines (one object per
 * line: ts, level, msg, then key/value fields), safe from any thread.
 */
#ifndef GQ_LOG_H
#define GQ_LOG_H

#include <stdbool.h>

enum gq_log_level { GQ_LOG_DEBUG, GQ_LOG_INFO, GQ_LOG_WARN, GQ_LOG_ERROR };
enum gq_log_format { GQ_LOG_TEXT, GQ_LOG_JSON };

/* Global settings (set once at start-up, before threads start). */
void gq_log_setup(enum gq_log_level level, enum gq_log_format format);
/* Parse "debug|info|warn|error" / "text|json"; GQ_EINVAL on other values. */
int gq_log_parse_level(enum gq_log_level *out, const char *s);
int gq_log_parse_format(enum gq_log_format *out, const char *s);
bool gq_log_enabled(enum gq_log_level level);

/*
 * Logs msg with printf formatting. Structured fields may follow the message
 * as "key=value" pairs separated by spaces AFTER a " |" marker, e.g.
 *   gq_log(GQ_LOG_INFO, "applied object | team=%s kind=%s", team, kind);
 * In JSON format they become separate fields; in text they print as given.
 */
void gq_log(enum gq_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define gq_debug(...) gq_log(GQ_LOG_DEBUG, __VA_ARGS__)
#define gq_info(...)  gq_log(GQ_LOG_INFO, __VA_ARGS__)
#define gq_warn(...)  gq_log(GQ_LOG_WARN, __VA_ARGS__)
#define gq_error(...) gq_log(GQ_LOG_ERROR, __VA_ARGS__)

#endif
