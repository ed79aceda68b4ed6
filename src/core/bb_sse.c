/* bb_sse.c — SSE framing and the thread-safe event queue of a stream.
 *
 * Frame layout (https://html.spec.whatwg.org/multipage/server-sent-events.html):
 *   [id: <id>\n] [event: <event>\n] (data: <line>\n)+ \n
 * Data is split on \n, \r\n and \r so every line gets its own "data:" prefix and a client's
 * parser reassembles the original text joined with \n. Comments are ": <text>\n\n".
 */
#include "bb_sse.h"
#include "bb_err.h"
#include "bb_http.h"
#include "bb_http_internal.h"

#include <stdlib.h>
#include <string.h>

int bb_sse_format(const char *event, const char *id, const char *data, size_t len, char **out,
                  size_t *out_len)
{
    if ((event && strpbrk(event, "\r\n")) || (id && strpbrk(id, "\r\n"))) return BB_EINVAL;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        if (data[i] == '\n' || data[i] == '\r') lines++;
    size_t cap = len + lines * 7 + (event ? strlen(event) + 9 : 0) + (id ? strlen(id) + 6 : 0) + 2;
    char *b = malloc(cap);
    if (!b) return BB_ENOMEM;
    size_t o = 0;
    if (id) {
        memcpy(b + o, "id: ", 4), o += 4;
        memcpy(b + o, id, strlen(id)), o += strlen(id);
        b[o++] = '\n';
    }
    if (event) {
        memcpy(b + o, "event: ", 7), o += 7;
        memcpy(b + o, event, strlen(event)), o += strlen(event);
        b[o++] = '\n';
    }
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && data[i] != '\n' && data[i] != '\r') continue;
        memcpy(b + o, "data: ", 6), o += 6;
        memcpy(b + o, data + start, i - start), o += i - start;
        b[o++] = '\n';
        if (i < len && data[i] == '\r' && i + 1 < len && data[i + 1] == '\n') i++;
        start = i + 1;
    }
    b[o++] = '\n';
    *out = b;
    *out_len = o;
    return 0;
}

int bb_sse_start(struct bb_http_request *req, struct bb_http_response *res,
                 bb_sse_close_fn on_close, void *arg, struct bb_sse **out)
{
    if (!req->route || !(req->route->flags & BB_ROUTE_STREAM) || res->sse) return BB_EINVAL;
    struct bb_sse *s = calloc(1, sizeof *s);
    if (!s) return BB_ENOMEM;
    pthread_mutex_init(&s->mu, NULL);
    s->refs = 2; /* caller + connection */
    s->on_close = on_close;
    s->arg = arg;
    s->max = 4u << 20;
    res->sse = s;
    res->status = 200;
    bb_http_set_header(res, "Content-Type", "text/event-stream");
    *out = s;
    return 0;
}

void bb_sse_attach_(struct bb_sse *s, struct bb_http_conn *c)
{
    pthread_mutex_lock(&s->mu);
    s->conn = c;
    pthread_mutex_unlock(&s->mu);
}

void bb_sse_set_max_(struct bb_sse *s, size_t max)
{
    pthread_mutex_lock(&s->mu);
    s->max = max;
    pthread_mutex_unlock(&s->mu);
}

int bb_sse_take_(struct bb_sse *s, char **buf, size_t *len)
{
    pthread_mutex_lock(&s->mu);
    *buf = s->buf;
    *len = s->len;
    s->buf = NULL;
    s->len = s->cap = 0;
    int close_after = s->close_pending;
    pthread_mutex_unlock(&s->mu);
    return close_after;
}

void bb_sse_detach_(struct bb_sse *s)
{
    pthread_mutex_lock(&s->mu);
    s->closed = 1;
    s->conn = NULL;
    free(s->buf);
    s->buf = NULL;
    s->len = s->cap = 0;
    bb_sse_close_fn cb = s->on_close;
    s->on_close = NULL;
    pthread_mutex_unlock(&s->mu);
    if (cb) cb(s, s->arg);
    bb_sse_unref(s);
}

static int push(struct bb_sse *s, const char *bytes, size_t n)
{
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (s->closed || s->close_pending) {
        rc = BB_ECLOSED;
        goto out;
    }
    if (s->len + n > s->max) {
        /* slow consumer: stop queueing, end the stream after what is already queued */
        s->close_pending = 1;
        rc = BB_EBUSY;
        if (s->conn) bb_http_conn_wake_(s->conn);
        goto out;
    }
    if (s->len + n > s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 4096;
        while (nc < s->len + n)
            nc *= 2;
        char *nb = realloc(s->buf, nc);
        if (!nb) {
            rc = BB_ENOMEM;
            goto out;
        }
        s->buf = nb;
        s->cap = nc;
    }
    memcpy(s->buf + s->len, bytes, n);
    s->len += n;
    if (s->conn) bb_http_conn_wake_(s->conn);
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int bb_sse_send(struct bb_sse *s, const char *event, const char *id, const char *data, size_t len)
{
    char *frame;
    size_t n;
    int rc = bb_sse_format(event, id, data ? data : "", data ? len : 0, &frame, &n);
    if (rc) return rc;
    rc = push(s, frame, n);
    free(frame);
    return rc;
}

int bb_sse_comment(struct bb_sse *s, const char *text)
{
    if (strpbrk(text, "\r\n")) return BB_EINVAL;
    size_t n = strlen(text);
    char *b = malloc(n + 4);
    if (!b) return BB_ENOMEM;
    b[0] = ':', b[1] = ' ';
    memcpy(b + 2, text, n);
    b[n + 2] = '\n', b[n + 3] = '\n';
    int rc = push(s, b, n + 4);
    free(b);
    return rc;
}

void bb_sse_close(struct bb_sse *s)
{
    pthread_mutex_lock(&s->mu);
    if (!s->closed) {
        s->close_pending = 1;
        if (s->conn) bb_http_conn_wake_(s->conn);
    }
    pthread_mutex_unlock(&s->mu);
}

int bb_sse_is_closed(struct bb_sse *s)
{
    pthread_mutex_lock(&s->mu);
    int c = s->closed || s->close_pending;
    pthread_mutex_unlock(&s->mu);
    return c;
}

void bb_sse_ref(struct bb_sse *s)
{
    pthread_mutex_lock(&s->mu);
    s->refs++;
    pthread_mutex_unlock(&s->mu);
}

void bb_sse_unref(struct bb_sse *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    int left = --s->refs;
    pthread_mutex_unlock(&s->mu);
    if (left > 0) return;
    pthread_mutex_destroy(&s->mu);
    free(s->buf);
    free(s);
}
