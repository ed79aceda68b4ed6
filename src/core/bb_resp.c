/* bb_resp.c — the RESP request parser (see bb_resp.h). */
#include "bb_resp.h"
#include "bb_crypto.h"
#include "bb_err.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADER 65536 /* "*N\r\n" / "$N\r\n" lines */

static void *p_realloc(struct bb_resp_parser *p, void *old, size_t n)
{
    return p->realloc_fn ? p->realloc_fn(old, n) : realloc(old, n);
}

static void p_free(struct bb_resp_parser *p, void *ptr)
{
    if (!ptr) return;
    if (p->free_fn) p->free_fn(ptr);
    else free(ptr);
}

void bb_resp_parser_init(struct bb_resp_parser *p, void *(*realloc_fn)(void *, size_t),
                         void (*free_fn)(void *))
{
    memset(p, 0, sizeof *p);
    p->realloc_fn = realloc_fn;
    p->free_fn = free_fn;
    p->bulklen = -1;
}

void bb_resp_parser_reset(struct bb_resp_parser *p)
{
    p->reqtype = 0;
    p->mblen = 0;
    p->bulklen = -1;
    p->argc = 0;
}

void bb_resp_parser_release(struct bb_resp_parser *p)
{
    p_free(p, p->offs);
    p_free(p, p->lens);
    p_free(p, p->inline_buf);
    p->offs = p->lens = NULL;
    p->inline_buf = NULL;
    p->argcap = 0;
    p->inline_mode = 0;
    bb_resp_parser_reset(p);
}

static int reserve(struct bb_resp_parser *p, size_t n)
{
    if (n <= p->argcap) return 0;
    size_t nc = p->argcap ? p->argcap : 8;
    while (nc < n) nc *= 2;
    size_t *o = p_realloc(p, p->offs, nc * sizeof(size_t));
    if (!o) return BB_ENOMEM;
    p->offs = o;
    size_t *l = p_realloc(p, p->lens, nc * sizeof(size_t));
    if (!l) return BB_ENOMEM;
    p->lens = l;
    p->argcap = nc;
    return 0;
}

/* Strict decimal as Redis' string2ll: no '+', no spaces, no leading zeros, no overflow. */
static int parse_ll(const char *s, size_t n, long long *out)
{
    if (n == 0 || n > 20) return -1;
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return 0;
    }
    size_t i = 0;
    int neg = s[0] == '-';
    if (neg && n == 1) return -1;
    i = (size_t)neg;
    if (s[i] < '1' || s[i] > '9') return -1;
    unsigned long long v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (ULLONG_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    if (neg ? v > (unsigned long long)LLONG_MAX + 1 : v > (unsigned long long)LLONG_MAX)
        return -1;
    *out = neg ? (long long)(0 - v) : (long long)v;
    return 0;
}

/* Splits one inline line (sdssplitargs semantics) into p->inline_buf. BB_EPROTO: unbalanced
 * quotes; BB_ENOMEM. */
static int parse_inline_line(struct bb_resp_parser *p, const char *line, size_t n)
{
    p_free(p, p->inline_buf);
    p->inline_buf = p_realloc(p, NULL, n + 1);
    if (!p->inline_buf) return BB_ENOMEM;
    char *out = p->inline_buf;
    size_t o = 0, i = 0;
    p->argc = 0;
    for (;;) {
        while (i < n && isspace((unsigned char)line[i])) i++;
        if (i >= n) return 0;
        size_t start = o;
        int inq = 0, insq = 0, done = 0;
        while (!done) {
            if (inq) {
                if (i >= n) return BB_EPROTO;
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
                    if (i + 1 < n && !isspace((unsigned char)line[i + 1])) return BB_EPROTO;
                    done = 1;
                } else {
                    out[o++] = line[i];
                }
            } else if (insq) {
                if (i >= n) return BB_EPROTO;
                if (line[i] == '\\' && i + 1 < n && line[i + 1] == '\'') {
                    i++;
                    out[o++] = '\'';
                } else if (line[i] == '\'') {
                    if (i + 1 < n && !isspace((unsigned char)line[i + 1])) return BB_EPROTO;
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
                case ' ': case '\n': case '\r': case '\t': case '\0': done = 1; break;
                case '"': inq = 1; break;
                case '\'': insq = 1; break;
                default: out[o++] = line[i]; break;
                }
            }
            if (i < n) i++;
        }
        if (reserve(p, p->argc + 1) != 0) return BB_ENOMEM;
        p->offs[p->argc] = start;
        p->lens[p->argc] = o - start;
        p->argc++;
    }
}

static int fail(const char **err, const char *text, int code)
{
    *err = text;
    return code;
}

int bb_resp_parse(struct bb_resp_parser *p, const char *buf, size_t len, size_t *pos,
                  const struct bb_resp_limits *lim, size_t *need, const char **err)
{
    size_t i = *pos;
    *need = 0;
    *err = NULL;
    if (i >= len) return BB_RESP_MORE;
    if (p->reqtype == 0) {
        p->reqtype = buf[i] == '*' ? 1 : 2;
        p->inline_mode = 0;
        p->mblen = 0;
        p->bulklen = -1;
        p->argc = 0;
    }
    if (p->reqtype == 2) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (buf + i)) : len - i;
        if ((long long)n > lim->max_inline)
            return fail(err, "ERR Protocol error: too big inline request", BB_ETOOBIG);
        if (!nl) return BB_RESP_MORE;
        size_t ln = n;
        if (ln && buf[i + ln - 1] == '\r') ln--;
        int rc = parse_inline_line(p, buf + i, ln);
        if (rc == BB_ENOMEM) return fail(err, "ERR out of memory", BB_ENOMEM);
        if (rc != 0) return fail(err, "ERR Protocol error: unbalanced quotes in request", BB_EPROTO);
        if ((long long)p->argc > lim->max_args)
            return fail(err, "ERR Protocol error: invalid multibulk length", BB_ETOOBIG);
        *pos = i + n + 1;
        p->reqtype = 0;
        p->inline_mode = 1;
        return BB_RESP_OK;
    }
    /* multibulk */
    if (p->mblen == 0) {
        const char *cr = memchr(buf + i, '\r', len - i);
        if (!cr || (size_t)(cr - buf) + 1 >= len) {
            if (len - i > MAX_HEADER)
                return fail(err, "ERR Protocol error: too big mbulk count string", BB_ETOOBIG);
            return BB_RESP_MORE;
        }
        long long ll;
        if (parse_ll(buf + i + 1, (size_t)(cr - (buf + i + 1)), &ll) < 0)
            return fail(err, "ERR Protocol error: invalid multibulk length", BB_EPROTO);
        if (ll > lim->max_args)
            return fail(err, "ERR Protocol error: invalid multibulk length", BB_ETOOBIG);
        i = (size_t)(cr - buf) + 2;
        if (ll <= 0) {
            *pos = i;
            p->reqtype = 0;
            p->argc = 0;
            return BB_RESP_OK;
        }
        p->mblen = ll;
        p->argc = 0;
        if (reserve(p, (size_t)(ll < 1024 ? ll : 1024)) != 0)
            return fail(err, "ERR out of memory", BB_ENOMEM);
        *pos = i;
    }
    while (p->mblen > 0) {
        if (p->bulklen == -1) {
            if (i >= len) return BB_RESP_MORE;
            if (buf[i] != '$') {
                snprintf(p->errbuf, sizeof p->errbuf, "ERR Protocol error: expected '$', got '%c'",
                         buf[i]);
                return fail(err, p->errbuf, BB_EPROTO);
            }
            const char *cr = memchr(buf + i, '\r', len - i);
            if (!cr || (size_t)(cr - buf) + 1 >= len) {
                if (len - i > MAX_HEADER)
                    return fail(err, "ERR Protocol error: too big bulk count string", BB_ETOOBIG);
                return BB_RESP_MORE;
            }
            long long ll;
            if (parse_ll(buf + i + 1, (size_t)(cr - (buf + i + 1)), &ll) < 0 || ll < 0)
                return fail(err, "ERR Protocol error: invalid bulk length", BB_EPROTO);
            if (ll > lim->max_bulk)
                return fail(err, "ERR Protocol error: invalid bulk length", BB_ETOOBIG);
            i = (size_t)(cr - buf) + 2;
            p->bulklen = ll;
            *pos = i;
        }
        if (len - i < (size_t)p->bulklen + 2) {
            *need = i + (size_t)p->bulklen + 2;
            return BB_RESP_MORE;
        }
        if (buf[i + (size_t)p->bulklen] != '\r' || buf[i + (size_t)p->bulklen + 1] != '\n')
            return fail(err, "ERR Protocol error: bulk not followed by CRLF", BB_EPROTO);
        if (reserve(p, p->argc + 1) != 0) return fail(err, "ERR out of memory", BB_ENOMEM);
        p->offs[p->argc] = i;
        p->lens[p->argc] = (size_t)p->bulklen;
        p->argc++;
        i += (size_t)p->bulklen + 2;
        p->bulklen = -1;
        p->mblen--;
        *pos = i;
    }
    p->reqtype = 0;
    return BB_RESP_OK;
}

void bb_resp_parser_args(const struct bb_resp_parser *p, const char *buf, const char **argv,
                         size_t *lens)
{
    const char *base = p->inline_mode ? p->inline_buf : buf;
    for (size_t i = 0; i < p->argc; i++) {
        argv[i] = base + p->offs[i];
        lens[i] = p->lens[i];
    }
}

char *bb_resp_command(size_t argc, const char *const *argv, const size_t *lens, size_t *len)
{
    size_t cap = 32;
    for (size_t i = 0; i < argc; i++) cap += lens[i] + 32;
    char *b = malloc(cap);
    if (!b) return NULL;
    size_t o = (size_t)snprintf(b, cap, "*%zu\r\n", argc);
    for (size_t i = 0; i < argc; i++) {
        o += (size_t)snprintf(b + o, cap - o, "$%zu\r\n", lens[i]);
        memcpy(b + o, argv[i], lens[i]);
        o += lens[i];
        b[o++] = '\r';
        b[o++] = '\n';
    }
    *len = o;
    return b;
}
