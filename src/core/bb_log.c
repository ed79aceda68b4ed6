#include "bb_log.h"
#include "bb_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static volatile int log_level = BB_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void bb_log_set_level(enum bb_log_level lvl)
{
    log_level = lvl;
}

enum bb_log_level bb_log_get_level(void)
{
    return (enum bb_log_level)log_level;
}

int bb_log_parse_level(const char *s, enum bb_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (s && strcasecmp(s, level_names[i]) == 0) {
            *out = (enum bb_log_level)i;
            return 0;
        }
    }
    return BB_EINVAL;
}

char *bb_log_quote(char *buf, size_t cap, const char *s)
{
    size_t o = 0;
    if (cap < 8) {
        if (cap) buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        size_t n;
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c, n = 2;
        } else if (c < 0x20) {
            n = (size_t)snprintf(esc, sizeof esc, "\\x%02x", c);
        } else {
            esc[0] = (char)c, n = 1;
        }
        if (o + n + 5 > cap) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(buf + o, esc, n);
        o += n;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

void bb_log(enum bb_log_level lvl, const char *mod, const char *fmt, ...)
{
    if ((int)lvl < log_level) return;
    char line[4096];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s mod=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level_names[lvl & 3], mod ? mod : "-");
    /* Event name: first word of the formatted message, quoted as msg="...". */
    char body[3500];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    size_t w = strcspn(body, " ");
    n += snprintf(line + n, sizeof line - (size_t)n, "msg=\"%.*s\"%s%s\n", (int)w, body,
                  body[w] ? " " : "", body[w] ? body + w + 1 : "");
    if (n >= (int)sizeof line) {
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    ssize_t r = write(STDERR_FILENO, line, (size_t)n);
    (void)r;
}
