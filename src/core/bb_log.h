/* bb_log.h — structured logs: one line per event to stderr, key=value pairs.
 *
 *   bb_log(BB_LOG_INFO, "http", "request method=%s path=%s status=%d rid=%s", ...);
 * prints:  ts=2026-11-21T23:59:01.123Z level=info mod=http msg="request" method=GET ...
 * The first word of the format is the event name (quoted as msg), the rest is appended as-is, so
 * callers write key=value pairs; values with spaces should be quoted by the caller (bb_log_quote).
 * Thread-safe (one write(2) per line). Level from BUNBASE_LOG_LEVEL (debug|info|warn|error).
 */
#ifndef BB_LOG_H
#define BB_LOG_H

#include <stddef.h>

enum bb_log_level { BB_LOG_DEBUG = 0, BB_LOG_INFO = 1, BB_LOG_WARN = 2, BB_LOG_ERROR = 3 };

void bb_log_set_level(enum bb_log_level lvl);
/* Parses "debug"/"info"/"warn"/"error"; returns 0 or BB_EINVAL. */
int bb_log_parse_level(const char *s, enum bb_log_level *out);
enum bb_log_level bb_log_get_level(void);

void bb_log(enum bb_log_level lvl, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define bb_debug(mod, ...) bb_log(BB_LOG_DEBUG, mod, __VA_ARGS__)
#define bb_info(mod, ...) bb_log(BB_LOG_INFO, mod, __VA_ARGS__)
#define bb_warn(mod, ...) bb_log(BB_LOG_WARN, mod, __VA_ARGS__)
#define bb_error(mod, ...) bb_log(BB_LOG_ERROR, mod, __VA_ARGS__)

/* Writes s quoted (with \" and \\ and control chars escaped) into buf of size cap, truncating with
 * "..." if needed; always NUL-terminates. Returns buf. */
char *bb_log_quote(char *buf, size_t cap, const char *s);

#endif
