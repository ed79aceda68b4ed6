/* resp.c — the RESP request parser and the reply writers.
 *
 * Requests (what clients send) are parsed by core's one RESP request parser (src/core/bb_resp.h:
 * multibulk and inline, incremental, every dimension bounded); bndr_parse maps bunder's limits
 * onto it: argument count (proto-max-multibulk-len), bulk length (proto-max-bulk-len), inline
 * line length (proto-inline-max-size); the query buffer itself is bounded by the caller
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

#include "bb_resp.h"
#include "bndr.h"

/* Requests are parsed by core's one RESP parser (bb_resp.c); these adapt bunder's names, limits
 * and results, and account the parser's memory in used_memory (bndr_realloc/bndr_free). */
void bndr_parser_reset(struct bndr_parser *p)
{
    if (!p->realloc_fn && !p->argcap && !p->inline_buf) {
        p->realloc_fn = bndr_realloc;
        p->free_fn = bndr_free;
    }
    bb_resp_parser_reset(p);
}

void bndr_parser_release(struct bndr_parser *p)
{
    bb_resp_parser_release(p);
}

int bndr_parse(struct bndr_parser *p, const char *buf, size_t len, size_t *pos,
               const struct bndr_limits *lim, size_t *need, const char **err)
{
    struct bb_resp_limits l = {.max_bulk = lim->proto_max_bulk_len,
                               .max_args = lim->max_multibulk_len,
                               .max_inline = lim->max_inline_len};
    int r = bb_resp_parse(p, buf, len, pos, &l, need, err);
    if (r == BB_RESP_OK)
        return BNDR_PARSE_OK;
    return r == BB_RESP_MORE ? BNDR_PARSE_MORE : BNDR_PARSE_ERR;
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
