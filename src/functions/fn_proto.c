/* fn_proto.c — frame building and parsing (fn_proto.h). */
#include "fn_proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void grow(struct fn_buf *b, size_t more)
{
    if (b->oom) return;
    if (b->len + more <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return;
    }
    b->p = p, b->cap = cap;
}

static void put(struct fn_buf *b, const void *s, size_t n)
{
    grow(b, n);
    if (b->oom) return;
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
}

void fn_buf_begin(struct fn_buf *b, uint8_t t)
{
    b->len = 0;
    b->oom = 0;
    uint8_t h[FN_FRAME_HDR] = {0, 0, 0, 0, t};
    put(b, h, sizeof h);
}

void fn_buf_u8(struct fn_buf *b, uint8_t v)
{
    put(b, &v, 1);
}

void fn_buf_u16(struct fn_buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put(b, x, 2);
}

void fn_buf_u32(struct fn_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}

void fn_buf_str(struct fn_buf *b, const void *s, size_t n)
{
    if (n > UINT32_MAX) {
        b->oom = 1;
        return;
    }
    fn_buf_u32(b, (uint32_t)n);
    put(b, s, n);
}

int fn_buf_finish(struct fn_buf *b)
{
    if (b->oom || b->len < FN_FRAME_HDR || b->len - 4 > UINT32_MAX) return -1;
    uint32_t n = (uint32_t)(b->len - 4);
    b->p[0] = (uint8_t)n, b->p[1] = (uint8_t)(n >> 8), b->p[2] = (uint8_t)(n >> 16),
    b->p[3] = (uint8_t)(n >> 24);
    return 0;
}

void fn_buf_release(struct fn_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static int need(struct fn_rd *r, size_t n)
{
    if (r->bad || r->len - r->off < n) {
        r->bad = 1;
        return -1;
    }
    return 0;
}

int fn_rd_u8(struct fn_rd *r, uint8_t *v)
{
    if (need(r, 1)) return -1;
    *v = r->p[r->off++];
    return 0;
}

int fn_rd_u16(struct fn_rd *r, uint16_t *v)
{
    if (need(r, 2)) return -1;
    *v = (uint16_t)(r->p[r->off] | (r->p[r->off + 1] << 8));
    r->off += 2;
    return 0;
}

int fn_rd_u32(struct fn_rd *r, uint32_t *v)
{
    if (need(r, 4)) return -1;
    const uint8_t *p = r->p + r->off;
    *v = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    r->off += 4;
    return 0;
}

int fn_rd_str(struct fn_rd *r, const uint8_t **s, size_t *n)
{
    uint32_t l;
    if (fn_rd_u32(r, &l) || need(r, l)) return -1;
    *s = r->p + r->off;
    *n = l;
    r->off += l;
    return 0;
}

int fn_write_all(int fd, const void *p, size_t n)
{
    const uint8_t *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        c += w, n -= (size_t)w;
    }
    return 0;
}

int fn_read_all(int fd, void *p, size_t n)
{
    uint8_t *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) return 1;
        c += r, n -= (size_t)r;
    }
    return 0;
}
