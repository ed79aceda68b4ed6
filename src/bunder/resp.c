/* resp.c — the RESP request parser and the reply writers.
 *
 * Requests (what clients send):
 *   multibulk  "*<argc>\r\n" then argc times "$<len>\r\n<len bytes>\r\n"
 *   inline     one line of space-separated words ending in "\n" (optional "\r"), with "..." and
 *              '...' quoting and \n \r \t \b \a \\ \" \xHH escapes in double quotes (redis-cli's
 *              and telnet's format)
 * The parser is incremental: it keeps its position (argc parsed so far, the pending bulk length)
 * in struct bndr_parser, so a 512 MB bulk that arrives in 64 KB reads is scanned once. Every
 * dimension is bounded: argument count (proto-max-multibulk-len), bulk length
 * (proto-max-bulk-len), header line length (64 KB) and inline line length
 * (proto-inline-max-size); the query buffer itself is bounded by the caller
 * (client-query-buffer-limit). Errors are worded as Redis words them; the server replies with
 * the error and closes the connection, as Redis does.
 *
 * Replies: RESP2 by default, RESP3 after HELLO 3 (maps, sets, doubles, nulls, booleans, pushes).
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bb_crypto.h"
#include "bndr.h"

#define BNDR_MAX_HEADER 65536

void bndr_parser_reset(struct bndr_parser *p)
{
    p->reqtype = 0;
    p->mblen = 0;
    p->bulklen = -1;
    p->argc = 0;
}

void bndr_parser_release(struct bndr_parser *p)
{
    bndr_free(p->offs);
    bndr_free(p->lens);
    bndr_free(p->inline_buf);
    p->offs = p->lens = NULL;
    p->inline_buf = NULL;
    p->argcap = 0;
    bndr_parser_reset(p);
}

static void parser_reserve(struct bndr_parser *p, size_t n)
{
    if (n <= p->argcap)
        return;
    size_t nc = p->argcap ? p->argcap : 8;
    while (nc < n)
        nc *= 2;
    p->offs = bndr_realloc(p->offs, nc * sizeof(size_t));
    p->lens = bndr_realloc(p->lens, nc * sizeof(size_t));
    p->argcap = nc;
}

static int parse_num(const char *s, size_t n, long long *out)
{
    /* Redis uses string2ll on the header; "+1" or spaces are invalid. */
    return bndr_parse_ll(s, n, out);
}

/* Splits one inline line (sdssplitargs semantics) into p->inline_buf. */
static int parse_inline_line(struct bndr_parser *p, const char *line, size_t n)
{
    bndr_free(p->inline_buf);
    p->inline_buf = bndr_malloc(n + 1);
    char *out = p->inline_buf;
    size_t o = 0, i = 0;
    p->argc = 0;
    for (;;) {
        while (i < n && isspace((unsigned char)line[i]))
            i++;
        if (i >= n)
            return 0;
        size_t start = o;
        int inq = 0, insq = 0, done = 0;
        while (!done) {
            if (inq) {
                if (i >= n)
                    return -1;
                if (line[i] == '\\' && i + 3 < n && line[i + 1] == 'x' &&
                    bb_hex_digit((unsigned char)line[i + 2]) >= 0 &&
                    bb_hex_digit((unsigned char)line[i + 3]) >= 0) {
                    out[o++] = (char)(bb_hex_digit((unsigned char)line[i + 2]) * 16 +
                                      bb_hex_digit((unsigned char)line[i + 3]));
                    i += 3;
                } else if (line[i] == '\\' && i + 1 < n) {
                    char c;
                    i++;
                    switch (line[i]) {
                    case 'n': c = '\n'; break;
                    case 'r': c = '\r'; break;
                    case 't': c = '\t'; break;
                    case 'b': c = '\b'; break;
                    case 'a': c = '\a'; break;
                    default: c = line[i]; break;
                    }
                    out[o++] = c;
                } else if (line[i] == '"') {
                    if (i + 1 < n && !isspace((unsigned char)line[i + 1]))
                        return -1;
                    done = 1;
                } else {
                    out[o++] = line[i];
                }
            } else if (insq) {
                if (i >= n)
                    return -1;
                if (line[i] == '\\' && i + 1 < n && line[i + 1] == '\'') {
                    i++;
                    out[o++] = '\'';
                } else if (line[i] == '\'') {
                    if (i + 1 < n && !isspace((unsigned char)line[i + 1]))
                        return -1;
                    done = 1;
                } else {
                    out[o++] = line[i];
                }
            } else {
                if (i >= n) {
                    done = 1;
                    break;
                }
                switch (line[i]) {
                case ' ': case '\n': case '\r': case '\t': case '\0':
                    done = 1;
                    break;
                case '"':
                    inq = 1;
                    break;
                case '\'':
                    insq = 1;
                    break;
                default:
                    out[o++] = line[i];
                    break;
                }
            }
            if (i < n)
                i++;
        }
        parser_reserve(p, p->argc + 1);
        p->offs[p->argc] = start;
        p->lens[p->argc] = o - start;
        p->argc++;
    }
}

int bndr_parse(struct bndr_parser *p, const char *buf, size_t len, size_t *pos,
               const struct bndr_limits *lim, size_t *need, const char **err)
{
    size_t i = *pos;
    *need = 0;
    if (i >= len)
        return BNDR_PARSE_MORE;
    if (p->reqtype == 0) {
        p->reqtype = buf[i] == '*' ? 1 : 2;
        p->inline_mode = 0;
        p->mblen = 0;
        p->bulklen = -1;
        p->argc = 0;
    }
    if (p->reqtype == 2) {
        const char *nl = memchr(buf + i, '\n', len - i);
        if (!nl) {
            if ((long long)(len - i) > lim->max_inline_len) {
                *err = "ERR Protocol error: too big inline request";
                return BNDR_PARSE_ERR;
            }
            return BNDR_PARSE_MORE;
        }
        size_t n = (size_t)(nl - (buf + i));
        if ((long long)n > lim->max_inline_len) {
            *err = "ERR Protocol error: too big inline request";
            return BNDR_PARSE_ERR;
        }
        size_t ln = n;
        if (ln && buf[i + ln - 1] == '\r')
            ln--;
        if (parse_inline_line(p, buf + i, ln) < 0) {
            *err = "ERR Protocol error: unbalanced quotes in request";
            return BNDR_PARSE_ERR;
        }
        if ((long long)p->argc > lim->max_multibulk_len) {
            *err = "ERR Protocol error: invalid multibulk length";
            return BNDR_PARSE_ERR;
        }
        *pos = i + n + 1;
        p->reqtype = 0;
        p->inline_mode = 1;
        return BNDR_PARSE_OK;
    }
    /* multibulk */
    if (p->mblen == 0) {
        const char *cr = memchr(buf + i, '\r', len - i);
        if (!cr || (size_t)(cr - buf) + 1 >= len) {
            if (len - i > BNDR_MAX_HEADER) {
                *err = "ERR Protocol error: too big mbulk count string";
                return BNDR_PARSE_ERR;
            }
            return BNDR_PARSE_MORE;
        }
        long long ll;
        if (parse_num(buf + i + 1, (size_t)(cr - (buf + i + 1)), &ll) < 0 ||
            ll > lim->max_multibulk_len) {
            *err = "ERR Protocol error: invalid multibulk length";
            return BNDR_PARSE_ERR;
        }
        i = (size_t)(cr - buf) + 2;
        if (ll <= 0) {
            *pos = i;
            p->reqtype = 0;
            p->argc = 0;
            return BNDR_PARSE_OK;
        }
        p->mblen = ll;
        p->argc = 0;
        parser_reserve(p, (size_t)(ll < 1024 ? ll : 1024));
        *pos = i;
    }
    while (p->mblen > 0) {
        if (p->bulklen == -1) {
            if (i >= len)
                return BNDR_PARSE_MORE;
            const char *cr = memchr(buf + i, '\r', len - i);
            if (!cr || (size_t)(cr - buf) + 1 >= len) {
                if (len - i > BNDR_MAX_HEADER) {
                    *err = "ERR Protocol error: too big bulk count string";
                    return BNDR_PARSE_ERR;
                }
                if (buf[i] != '$') {
                    *err = "ERR Protocol error: expected '$', got something else";
                    static char ebuf[64];
                    snprintf(ebuf, sizeof ebuf, "ERR Protocol error: expected '$', got '%c'",
                             buf[i]);
                    *err = ebuf;
                    return BNDR_PARSE_ERR;
                }
                return BNDR_PARSE_MORE;
            }
            if (buf[i] != '$') {
                static char ebuf[64];
                snprintf(ebuf, sizeof ebuf, "ERR Protocol error: expected '$', got '%c'", buf[i]);
                *err = ebuf;
                return BNDR_PARSE_ERR;
            }
            long long ll;
            if (parse_num(buf + i + 1, (size_t)(cr - (buf + i + 1)), &ll) < 0 || ll < 0 ||
                ll > lim->proto_max_bulk_len) {
                *err = "ERR Protocol error: invalid bulk length";
                return BNDR_PARSE_ERR;
            }
            i = (size_t)(cr - buf) + 2;
            p->bulklen = ll;
            *pos = i;
        }
        if (len - i < (size_t)p->bulklen + 2) {
            *need = i + (size_t)p->bulklen + 2;
            return BNDR_PARSE_MORE;
        }
        parser_reserve(p, p->argc + 1);
        p->offs[p->argc] = i;
        p->lens[p->argc] = (size_t)p->bulklen;
        p->argc++;
        i += (size_t)p->bulklen + 2;
        p->bulklen = -1;
        p->mblen--;
        *pos = i;
    }
    p->reqtype = 0;
    return BNDR_PARSE_OK;
}

void bndr_parser_args(struct bndr_parser *p, char *buf, struct bndr_arg *out)
{
    char *base = p->inline_mode ? p->inline_buf : buf;
    for (size_t i = 0; i < p->argc; i++) {
        out[i].p = base + p->offs[i];
        out[i].n = p->lens[i];
    }
}

/* ---------------------------------------------------------------- buffers and replies */
void bndr_buf_reserve(struct bndr_buf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return;
    size_t nc = b->cap ? b->cap * 2 : 16384;
    while (nc < b->len + extra)
        nc *= 2;
    b->p = bndr_realloc(b->p, nc);
    b->cap = nc;
}

void bndr_buf_add(struct bndr_buf *b, const void *p, size_t n)
{
    bndr_buf_reserve(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static inline int muted(struct bndr_client *c)
{
    return (c->flags & BNDR_CF_FAKE) && c->srv && c->srv->aof.loading;
}

void bndr_add_raw(struct bndr_client *c, const void *p, size_t n)
{
    if (muted(c))
        return;
    bndr_buf_add(&c->out, p, n);
    bndr_client_mark_write(c);
}

void bndr_add_ok(struct bndr_client *c)
{
    bndr_add_raw(c, "+OK\r\n", 5);
}

void bndr_add_status(struct bndr_client *c, const char *s)
{
    size_t n = strlen(s);
    if (muted(c))
        return;
    bndr_buf_reserve(&c->out, n + 3);
    char *w = c->out.p + c->out.len;
    *w++ = '+';
    memcpy(w, s, n);
    w[n] = '\r';
    w[n + 1] = '\n';
    c->out.len += n + 3;
    bndr_client_mark_write(c);
}

void bndr_add_error(struct bndr_client *c, const char *s)
{
    size_t n = strlen(s);
    if (muted(c))
        return;
    bndr_buf_reserve(&c->out, n + 3);
    char *w = c->out.p + c->out.len;
    *w++ = '-';
    for (size_t i = 0; i < n; i++) /* no newlines inside an error line */
        w[i] = (s[i] == '\r' || s[i] == '\n') ? ' ' : s[i];
    w[n] = '\r';
    w[n + 1] = '\n';
    c->out.len += n + 3;
    bndr_client_mark_write(c);
}

void bndr_add_errorf(struct bndr_client *c, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    bndr_add_error(c, buf);
}

static void add_prefixed_ll(struct bndr_client *c, char prefix, long long v)
{
    if (muted(c))
        return;
    bndr_buf_reserve(&c->out, 24);
    char *w = c->out.p + c->out.len;
    *w = prefix;
    int n = bndr_fmt_ll(w + 1, v);
    w[n + 1] = '\r';
    w[n + 2] = '\n';
    c->out.len += (size_t)n + 3;
    bndr_client_mark_write(c);
}

void bndr_add_ll(struct bndr_client *c, long long v)
{
    if (v == 0) {
        bndr_add_raw(c, ":0\r\n", 4);
        return;
    }
    if (v == 1) {
        bndr_add_raw(c, ":1\r\n", 4);
        return;
    }
    add_prefixed_ll(c, ':', v);
}

void bndr_add_bulk(struct bndr_client *c, const void *p, size_t n)
{
    if (muted(c))
        return;
    bndr_buf_reserve(&c->out, n + 32);
    char *w = c->out.p + c->out.len;
    *w = '$';
    int hl = bndr_fmt_ll(w + 1, (long long)n);
    w += hl + 1;
    *w++ = '\r';
    *w++ = '\n';
    if (n)
        memcpy(w, p, n);
    w += n;
    *w++ = '\r';
    *w++ = '\n';
    c->out.len = (size_t)(w - c->out.p);
    bndr_client_mark_write(c);
}

void bndr_add_bulk_cstr(struct bndr_client *c, const char *s)
{
    if (!s)
        bndr_add_null(c);
    else
        bndr_add_bulk(c, s, strlen(s));
}

void bndr_add_bulk_ll(struct bndr_client *c, long long v)
{
    char buf[24];
    int n = bndr_fmt_ll(buf, v);
    bndr_add_bulk(c, buf, (size_t)n);
}

void bndr_add_double(struct bndr_client *c, double d)
{
    char buf[64];
    int n = bndr_fmt_double(buf, sizeof buf, d);
    if (c->resp == 3) {
        char out[80];
        int m = snprintf(out, sizeof out, ",%.*s\r\n", n, buf);
        bndr_add_raw(c, out, (size_t)m);
    } else {
        bndr_add_bulk(c, buf, (size_t)n);
    }
}

void bndr_add_null(struct bndr_client *c)
{
    if (c->resp == 3)
        bndr_add_raw(c, "_\r\n", 3);
    else
        bndr_add_raw(c, "$-1\r\n", 5);
}

void bndr_add_null_array(struct bndr_client *c)
{
    if (c->resp == 3)
        bndr_add_raw(c, "_\r\n", 3);
    else
        bndr_add_raw(c, "*-1\r\n", 5);
}

void bndr_add_array(struct bndr_client *c, long n)
{
    add_prefixed_ll(c, '*', n);
}

void bndr_add_map(struct bndr_client *c, long n)
{
    if (c->resp == 3)
        add_prefixed_ll(c, '%', n);
    else
        add_prefixed_ll(c, '*', n * 2);
}

void bndr_add_set(struct bndr_client *c, long n)
{
    add_prefixed_ll(c, c->resp == 3 ? '~' : '*', n);
}

void bndr_add_push(struct bndr_client *c, long n)
{
    add_prefixed_ll(c, c->resp == 3 ? '>' : '*', n);
}

void bndr_add_bool(struct bndr_client *c, int v)
{
    if (c->resp == 3)
        bndr_add_raw(c, v ? "#t\r\n" : "#f\r\n", 4);
    else
        bndr_add_ll(c, v ? 1 : 0);
}

void bndr_add_verbatim(struct bndr_client *c, const char *p, size_t n)
{
    if (c->resp != 3) {
        bndr_add_bulk(c, p, n);
        return;
    }
    char hdr[32];
    int h = snprintf(hdr, sizeof hdr, "=%zu\r\ntxt:", n + 4);
    bndr_add_raw(c, hdr, (size_t)h);
    bndr_add_raw(c, p, n);
    bndr_add_raw(c, "\r\n", 2);
}

/* A deferred length reserves 24 bytes that are later filled (and the gap closed). */
#define DEFER_SZ 24
size_t bndr_add_deferred_len(struct bndr_client *c)
{
    if (muted(c))
        return (size_t)-1;
    bndr_buf_reserve(&c->out, DEFER_SZ);
    size_t h = c->out.len;
    c->out.len += DEFER_SZ;
    bndr_client_mark_write(c);
    return h;
}

void bndr_set_deferred_len(struct bndr_client *c, size_t h, long n, char type)
{
    if (h == (size_t)-1)
        return;
    if (c->resp != 3 && type == '%') {
        type = '*';
        n *= 2;
    }
    if (c->resp != 3 && (type == '~' || type == '>'))
        type = '*';
    char hdr[DEFER_SZ];
    hdr[0] = type;
    int m = bndr_fmt_ll(hdr + 1, n);
    hdr[m + 1] = '\r';
    hdr[m + 2] = '\n';
    size_t hl = (size_t)m + 3;
    memcpy(c->out.p + h, hdr, hl);
    memmove(c->out.p + h + hl, c->out.p + h + DEFER_SZ, c->out.len - h - DEFER_SZ);
    c->out.len -= DEFER_SZ - hl;
}
