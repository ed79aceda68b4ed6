/* bb_http.c — HTTP/1.1 server: connections, parsing, limits, dispatch, responses, drain.
 *
 * Connection states:
 *   IDLE     waiting for the first byte of a request; timer = idle timeout (silent close)
 *   READING  a request has begun; timer = request timeout from its first byte (408 + close)
 *   BUSY     a complete request is being handled (inline or on the pool); reading is paused, so
 *            pipelined bytes wait in the input buffer and are parsed once the answer is queued
 *   STREAM   an SSE response; timer = heartbeat; input is read only to notice a disconnect
 * Parsing pauses in on_message_complete, so exactly one request is dispatched at a time and the
 * rest of the buffer is parsed after its response: that is what keeps pipelined answers in order.
 */
#include "bb_http.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_time.h"
#include "bb_http_internal.h"
#include "bb_id.h"
#include "bb_log.h"
#include "bb_metrics.h"
#include "bb_pool.h"

#include <arpa/inet.h>
#include <http_parser.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum conn_state { CS_IDLE, CS_READING, CS_BUSY, CS_STREAM };

#define READ_CHUNK 65536
/* Unsent response bytes above which a connection stops reading and parsing (a client that
 * pipelines without reading its answers cannot make us buffer without bound). */
#define WRITE_HIGH_WATER (1u << 20)
#define METRIC_CACHE 512
/* After answering a request early (401, 413, 503 before its body), the connection half-closes
 * and reads and drops what the client still sends for at most this long (or the request timeout
 * if shorter) before closing: closing with unread input makes the kernel send a reset that can
 * destroy the answer before the client reads it. */
#define LINGER_MS 2000

struct bb_http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_async_t async; /* SSE wake-ups; initialised when a stream starts */
    struct bb_http_server *srv;
    http_parser parser;
    enum conn_state state;
    char *in; /* input buffer: [in_off, in_len) not yet parsed */
    size_t in_len, in_cap, in_off;
    struct bb_http_request *req; /* being parsed */
    size_t header_bytes;
    size_t body_limit;
    int last_was_value;
    int headers_done;   /* later header callbacks are trailer fields: never merged */
    int discard_body;   /* no route: the body is counted against the limit but not kept */
    int value_split;    /* the previous chunk ended inside a header value */
    int lf_before;      /* the previous chunk ended with a line feed and then only blanks */
    const char *last_value_end; /* end of the last header value piece in this chunk */
    const char *exec_start, *exec_end; /* the chunk http_parser_execute is working on */
    struct ip_count *ip; /* this connection's per-IP counter, or NULL */
    char peer_ip[64];    /* the client's address as text, set at accept ("" unknown); immutable */
    int err_status; /* set by a callback that rejects the request */
    int deny_status; /* identity refused a request without a body: answered at dispatch, kept alive */
    const char *deny_code, *deny_msg;
    const char *err_code, *err_msg;
    int message_done;
    int keep_alive;
    int closing;
    int open_handles;
    int refs; /* in-flight jobs holding the connection */
    int async_on;
    int reading;
    int write_close; /* close once pending writes are done */
    int linger;      /* ...and before closing, half-close and discard input for a while */
    int lingering;   /* in that state: the answer is out, input is read and dropped */
    int pending_writes;
    struct bb_sse *sse;
    struct bb_http_conn *prev, *next;
    /* test mode (bb_http_parse_for_test): no sockets, statuses recorded */
    int test;
    int test_status;
    const struct bb_http_limits *tlimits;
    struct bb_router *trouter;
};

struct metric_slot {
    const void *route;
    const char *method;
    int status;
    struct bb_counter *counter;
    struct bb_histogram *hist;
};

/* Open connections of one client address on one listener (loop thread only). */
struct ip_count {
    struct ip_count *next;
    unsigned char addr[16];
    size_t n;
};
#define IP_BUCKETS 256

struct bb_http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t drain_timer;
    struct bb_http_server_opts opts;
    struct bb_http_conn *conns;
    size_t nconns; /* linked (open) connections */
    size_t nalloc; /* connection structs not yet freed (closing ones included) */
    int port;
    int draining;
    int freeing;
    int open_handles;
    void (*drain_done)(void *);
    void *drain_arg;
    struct metric_slot metric_cache[METRIC_CACHE];
    struct ip_count *ip_tab[IP_BUCKETS];
    struct bb_counter *refused[5]; /* bunbase_http_connections_refused_total by reason */
    uint64_t refused_log_ms; /* when a refusal was last logged */
    size_t refused_quiet;    /* refusals since then that were not logged */
};

/* Process-wide: body bytes held by requests of every listener, open HTTP connections, and the
 * file descriptor budget they share (0: none). */
static _Atomic size_t g_inflight_body;
static _Atomic size_t g_conns;
static size_t g_fd_budget;

struct job {
    struct bb_http_conn *conn;
    struct bb_http_request *req;
    struct bb_http_response *res;
};

struct write_req {
    uv_write_t w;
    struct bb_http_conn *conn;
    char *head;
    char *body;
};

static const struct bb_http_limits *limits_of(const struct bb_http_conn *c)
{
    return c->test ? c->tlimits : &c->srv->opts.limits;
}

static struct bb_router *router_of(const struct bb_http_conn *c)
{
    return c->test ? c->trouter : c->srv->opts.router;
}

void bb_http_limits_default(struct bb_http_limits *l)
{
    l->max_header_bytes = 16384;
    l->max_body_bytes = 1048576;
    l->idle_timeout_ms = 60000;
    l->request_timeout_ms = 30000;
    l->drain_timeout_ms = 10000;
    l->max_connections = 10000;
    l->sse_heartbeat_ms = 15000;
    l->sse_max_queue_bytes = 4u << 20;
    l->max_inflight_body_bytes = 256u << 20;
    l->max_connections_per_ip = 0;
}

void bb_http_set_fd_budget(size_t fds)
{
    g_fd_budget = fds;
}

size_t bb_http_effective_max_connections(size_t configured)
{
    size_t half = g_fd_budget / 2;
    return g_fd_budget && half < configured ? (half ? half : 1) : configured;
}

/* Counts n more body bytes against the process-wide budget `limit` (0: none). Returns 0, or -1
 * (nothing counted) when that would go over it. */
static int body_reserve(struct bb_http_request *r, size_t n, size_t limit)
{
    size_t now = atomic_fetch_add(&g_inflight_body, n) + n;
    if (limit && now > limit) {
        atomic_fetch_sub(&g_inflight_body, n);
        return -1;
    }
    r->body_reserved_ += n;
    return 0;
}

/* ---------------------------------------------------------------- request / response objects */

static void request_free(struct bb_http_request *r)
{
    if (!r) return;
    if (r->body_reserved_) atomic_fetch_sub(&g_inflight_body, r->body_reserved_);
    bb_identity_release(&r->identity);
    free(r->url);
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    free(r->body);
    for (size_t i = 0; i < BB_ROUTE_MAX_PARAMS; i++)
        free(r->decoded_params[i]);
    free(r->path);
    free(r->query);
    free(r);
}

static void response_free(struct bb_http_response *r)
{
    if (!r) return;
    if (r->sse) bb_sse_detach_(r->sse); /* never started: end it for its owner */
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    free(r->body);
    free(r);
}

const char *bb_http_cookie(const struct bb_http_request *req, const char *name, char *buf,
                           size_t cap)
{
    const char *p = bb_http_header(req, "Cookie");
    size_t nl = strlen(name);
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *eq = strchr(p, '='), *semi = strchr(p, ';');
        if (!eq || (semi && semi < eq)) {
            p = semi;
            continue;
        }
        const char *v = eq + 1, *ve = semi ? semi : v + strlen(v);
        if ((size_t)(eq - p) == nl && !strncmp(p, name, nl)) {
            if (ve > v && *v == '"' && ve[-1] == '"' && ve - v >= 2) v++, ve--;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            size_t n = (size_t)(ve - v);
            if (n == 0 || n >= cap) return NULL;
            memcpy(buf, v, n);
            buf[n] = '\0';
            return buf;
        }
        p = semi;
    }
    return NULL;
}

const char *bb_http_header(const struct bb_http_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0) return req->headers[i].value;
    return NULL;
}

const char *bb_http_param(struct bb_http_request *req, const char *name)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < req->match.nparams; i++) {
        struct bb_route_param *p = &req->match.params[i];
        if (p->name_len != nlen || memcmp(p->name, name, nlen) != 0) continue;
        if (req->decoded_params[i]) return req->decoded_params[i];
        char *dst = malloc(p->value_len + 1); /* decoding never grows a value */
        if (!dst) return NULL;
        if (bb_pct_decode(p->value, p->value_len, dst, p->value_len + 1, BB_PCT_CSTR) < 0) {
            free(dst);
            return NULL;
        }
        req->decoded_params[i] = dst;
        return dst;
    }
    return NULL;
}

const char *bb_http_query(const struct bb_http_request *req, const char *name, char *buf,
                          size_t cap)
{
    if (!req->query) return NULL;
    size_t nlen = strlen(name);
    const char *q = req->query;
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t seg = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', seg);
        size_t klen = eq ? (size_t)(eq - q) : seg;
        if (klen == nlen && memcmp(q, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : q + seg;
            size_t vlen = eq ? seg - klen - 1 : 0;
            return bb_pct_decode(v, vlen, buf, cap, BB_PCT_CSTR | BB_PCT_PLUS) < 0 ? NULL : buf;
        }
        q += seg;
        if (*q == '&') q++;
    }
    return NULL;
}

int bb_http_set_header(struct bb_http_response *res, const char *name, const char *value)
{
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) return BB_EINVAL;
    for (size_t i = 0; i < res->nheaders; i++) {
        if (strcasecmp(res->headers[i].name, name) == 0) {
            char *v = strdup(value);
            if (!v) return BB_ENOMEM;
            free(res->headers[i].value);
            res->headers[i].value = v;
            return 0;
        }
    }
    return bb_http_add_header(res, name, value);
}

int bb_http_add_header(struct bb_http_response *res, const char *name, const char *value)
{
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) return BB_EINVAL;
    if (res->nheaders == res->cap) {
        size_t nc = res->cap ? res->cap * 2 : 8;
        struct bb_http_header *nh = realloc(res->headers, nc * sizeof *nh);
        if (!nh) return BB_ENOMEM;
        res->headers = nh;
        res->cap = nc;
    }
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return BB_ENOMEM;
    }
    res->headers[res->nheaders].name = n;
    res->headers[res->nheaders].value = v;
    res->nheaders++;
    return 0;
}

int bb_http_reply(struct bb_http_response *res, int status, const char *content_type, char *body,
                  size_t len)
{
    free(res->body);
    res->body = body;
    res->body_len = body ? len : 0;
    res->status = status;
    return content_type ? bb_http_set_header(res, "Content-Type", content_type) : 0;
}

void bb_http_defer(struct bb_http_response *res)
{
    res->deferred = 1;
}

int bb_http_reply_copy(struct bb_http_response *res, int status, const char *content_type,
                       const void *body, size_t len)
{
    char *b = malloc(len + 1);
    if (!b) return BB_ENOMEM;
    memcpy(b, body, len);
    b[len] = '\0';
    return bb_http_reply(res, status, content_type, b, len);
}

int bb_http_reply_json(struct bb_http_response *res, int status, const struct json_t *j)
{
    char *s = json_dumps((const json_t *)j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) return BB_ENOMEM;
    return bb_http_reply(res, status, "application/json", s, strlen(s));
}

int bb_http_reply_error_status(struct bb_http_response *res, int status, const char *code,
                               const char *message)
{
    json_t *j = json_pack("{s:s,s:s}", "error", message ? message : "error", "code",
                          code ? code : "error");
    if (!j) return BB_ENOMEM;
    int rc = bb_http_reply_json(res, status, j);
    json_decref(j);
    return rc;
}

int bb_http_reply_error(struct bb_http_response *res, int err, const char *message)
{
    return bb_http_reply_error_status(res, bb_err_status(err), bb_err_code(err),
                                      message ? message : bb_strerror(err));
}

/* ---------------------------------------------------------------- connection lifetime */

static void conn_maybe_free(struct bb_http_conn *c);
static void conn_close(struct bb_http_conn *c);
static void process_input(struct bb_http_conn *c);
static void server_check_drained(struct bb_http_server *s);

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct bb_http_conn *c = h->data;
    c->open_handles--;
    conn_maybe_free(c);
}

static void conn_maybe_free(struct bb_http_conn *c)
{
    if (!c->closing || c->open_handles > 0 || c->refs > 0) return;
    struct bb_http_server *s = c->srv;
    request_free(c->req);
    free(c->in);
    free(c);
    if (s) {
        s->nalloc--;
        server_check_drained(s);
    }
}

static unsigned ip_bucket(const unsigned char *a)
{
    unsigned h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ a[i]) * 16777619u;
    return h % IP_BUCKETS;
}

static void conn_close(struct bb_http_conn *c)
{
    if (c->closing) return;
    c->closing = 1;
    if (c->test) return;
    struct bb_http_server *s = c->srv;
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nconns--;
    atomic_fetch_sub(&g_conns, 1);
    if (c->ip && --c->ip->n == 0) {
        struct ip_count **pp = &s->ip_tab[ip_bucket(c->ip->addr)];
        while (*pp != c->ip)
            pp = &(*pp)->next;
        *pp = c->ip->next;
        free(c->ip);
    }
    c->ip = NULL;
    if (c->sse) {
        struct bb_sse *sse = c->sse;
        c->sse = NULL;
        bb_sse_detach_(sse);
    }
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    if (c->async_on) uv_close((uv_handle_t *)&c->async, on_conn_handle_closed);
}

static void on_timeout(uv_timer_t *t);

static void timer_set(struct bb_http_conn *c, uint64_t ms, uint64_t repeat)
{
    if (c->test || c->closing) return;
    uv_timer_stop(&c->timer);
    if (ms) uv_timer_start(&c->timer, on_timeout, ms, repeat);
}

/* ---------------------------------------------------------------- writing */

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 507: return "Insufficient Storage";
    default: return "Status";
    }
}

static void date_header(char *buf, size_t cap)
{
    static __thread time_t cached_t;
    static __thread char cached[64];
    time_t t = time(NULL);
    if (t != cached_t) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(cached, sizeof cached, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cached_t = t;
    }
    snprintf(buf, cap, "%s", cached);
}

static size_t write_backlog(struct bb_http_conn *c)
{
    return c->test ? 0 : uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
}

static void sse_flush(struct bb_http_conn *c);
static void read_start(struct bb_http_conn *c);
static void read_stop(struct bb_http_conn *c);

static void on_shutdown(uv_shutdown_t *sd, int status)
{
    struct bb_http_conn *c = sd->data;
    (void)status;
    free(sd);
    c->refs--;
    conn_maybe_free(c);
}

static void start_linger(struct bb_http_conn *c)
{
    c->linger = 0;
    uv_shutdown_t *sd = malloc(sizeof *sd);
    if (!sd || uv_shutdown(sd, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(sd);
        conn_close(c);
        return;
    }
    sd->data = c;
    c->refs++;
    c->lingering = 1;
    c->in_off = c->in_len = 0;
    uint64_t ms = c->srv->opts.limits.request_timeout_ms;
    timer_set(c, ms && ms < LINGER_MS ? ms : LINGER_MS, 0);
    read_start(c);
}

static void on_write_done(uv_write_t *w, int status)
{
    struct write_req *wr = (struct write_req *)w;
    struct bb_http_conn *c = wr->conn;
    free(wr->head);
    free(wr->body);
    free(wr);
    c->pending_writes--;
    c->refs--;
    if (status < 0) {
        conn_close(c);
    } else if (c->write_close && c->pending_writes == 0) {
        if (c->linger && !c->closing) start_linger(c);
        else conn_close(c);
    } else if (!c->closing && write_backlog(c) < WRITE_HIGH_WATER / 2) {
        if (c->state == CS_STREAM) {
            sse_flush(c);
        } else if (c->state != CS_BUSY && !c->reading) {
            read_start(c);
            process_input(c);
        }
    }
    conn_maybe_free(c);
}

/* Queues head+body (both owned, freed after the write). */
static void conn_write(struct bb_http_conn *c, char *head, size_t hlen, char *body, size_t blen)
{
    if (c->test || c->closing) {
        free(head);
        free(body);
        return;
    }
    struct write_req *wr = malloc(sizeof *wr);
    if (!wr) {
        free(head);
        free(body);
        conn_close(c);
        return;
    }
    wr->conn = c;
    wr->head = head;
    wr->body = body;
    uv_buf_t bufs[2];
    int n = 0;
    if (hlen) bufs[n++] = uv_buf_init(head, (unsigned)hlen);
    if (blen) bufs[n++] = uv_buf_init(body, (unsigned)blen);
    if (n == 0) {
        free(head);
        free(body);
        free(wr);
        return;
    }
    c->pending_writes++;
    c->refs++;
    if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, bufs, (unsigned)n, on_write_done) != 0) {
        c->pending_writes--;
        c->refs--;
        free(head);
        free(body);
        free(wr);
        conn_close(c);
    }
}

static struct metric_slot *metric_slot(struct bb_http_server *s, const struct bb_route *route,
                                       const char *method, int status)
{
    if (!s->opts.metrics) return NULL;
    uintptr_t h = ((uintptr_t)route >> 4) ^ ((uintptr_t)method >> 3) ^ (uintptr_t)status * 31u;
    for (size_t i = 0; i < 8; i++) {
        struct metric_slot *m = &s->metric_cache[(h + i) % METRIC_CACHE];
        if (m->counter && m->route == route && m->method == method && m->status == status)
            return m;
        if (!m->counter) {
            const char *rname = route ? (route->name ? route->name : route->pattern) : "unmatched";
            char esc[512], labels[700];
            bb_metrics_escape_label(esc, sizeof esc, rname);
            snprintf(labels, sizeof labels, "route=\"%s\",method=\"%s\",status=\"%d\"", esc,
                     method, status);
            m->counter = bb_metrics_counter(s->opts.metrics, "bunbase_http_requests_total",
                                            "HTTP requests answered, by route, method and status",
                                            labels);
            snprintf(labels, sizeof labels, "route=\"%s\"", esc);
            m->hist = bb_metrics_histogram(s->opts.metrics, "bunbase_http_request_duration_seconds",
                                           "HTTP request latency from first byte to response queued",
                                           labels, NULL, 0);
            if (!m->counter) return NULL;
            m->route = route, m->method = method, m->status = status;
            return m;
        }
    }
    return NULL;
}

static void sse_flush(struct bb_http_conn *c)
{
    if (!c->sse || c->closing) return;
    /* The socket is behind: leave bytes in the stream's bounded queue (its bound closes a slow
     * consumer) instead of moving them into libuv's unbounded write queue. */
    if (write_backlog(c) >= WRITE_HIGH_WATER) return;
    char *buf = NULL;
    size_t len = 0;
    int close_after = bb_sse_take_(c->sse, &buf, &len);
    if (len) conn_write(c, NULL, 0, buf, len);
    else free(buf);
    if (close_after) {
        if (c->pending_writes) c->write_close = 1;
        else conn_close(c);
    }
}

static void on_sse_async(uv_async_t *a)
{
    sse_flush(a->data);
}

void bb_http_conn_wake_(struct bb_http_conn *c)
{
    uv_async_send(&c->async);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);

static void read_start(struct bb_http_conn *c)
{
    if (c->test || c->closing || c->reading) return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = 1;
}

static void read_stop(struct bb_http_conn *c)
{
    if (c->test || c->closing || !c->reading) return;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
}

static void start_stream(struct bb_http_conn *c, struct bb_http_response *res)
{
    struct bb_http_server *s = c->srv;
    if (uv_async_init(s->loop, &c->async, on_sse_async) != 0) {
        bb_sse_detach_(res->sse);
        res->sse = NULL;
        conn_close(c);
        return;
    }
    c->async.data = c;
    c->async_on = 1;
    c->open_handles++;
    c->sse = res->sse;
    res->sse = NULL;
    c->state = CS_STREAM;
    bb_sse_set_max_(c->sse, s->opts.limits.sse_max_queue_bytes);
    bb_sse_attach_(c->sse, c);
    timer_set(c, s->opts.limits.sse_heartbeat_ms, s->opts.limits.sse_heartbeat_ms);
    read_start(c); /* only to notice the client going away */
    sse_flush(c);
}

/* Serialises res for req and queues it. Consumes req and res. */
static void send_response(struct bb_http_conn *c, struct bb_http_request *req,
                          struct bb_http_response *res, int force_close)
{
    int status = res->status ? res->status : 200;
    if (c->test) {
        if (!c->test_status || c->test_status == 200) c->test_status = status;
        request_free(req);
        response_free(res);
        return;
    }
    struct bb_http_server *s = c->srv;
    int head_only = req && strcmp(req->method, "HEAD") == 0;
    int keep = c->keep_alive && !force_close && !s->draining && !c->write_close;

    int streaming = res->sse != NULL;
    size_t cap = 1024; /* fixed header lines stay well below this */
    for (size_t i = 0; i < res->nheaders; i++)
        cap += strlen(res->headers[i].name) + strlen(res->headers[i].value) + 4;
    char *head = malloc(cap);
    if (!head) {
        request_free(req);
        response_free(res);
        conn_close(c);
        return;
    }
    char date[64];
    date_header(date, sizeof date);
    int has_ct = 0;
    size_t o = (size_t)snprintf(head, cap, "HTTP/1.1 %d %s\r\nServer: bunbase\r\nDate: %s\r\n",
                                status, status_text(status), date);
    for (size_t i = 0; i < res->nheaders; i++) {
        if (strcasecmp(res->headers[i].name, "Content-Type") == 0) has_ct = 1;
        o += (size_t)snprintf(head + o, cap - o, "%s: %s\r\n", res->headers[i].name,
                              res->headers[i].value);
    }
    if (!has_ct && (res->body_len || streaming))
        o += (size_t)snprintf(head + o, cap - o, "Content-Type: application/json\r\n");
    if (req && req->request_id[0])
        o += (size_t)snprintf(head + o, cap - o, "X-Request-Id: %s\r\n", req->request_id);
    if (streaming) {
        o += (size_t)snprintf(head + o, cap - o,
                              "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n"
                              "Connection: keep-alive\r\n\r\n");
    } else {
        int no_body = status == 204 || status == 304;
        if (!no_body) o += (size_t)snprintf(head + o, cap - o, "Content-Length: %zu\r\n", res->body_len);
        o += (size_t)snprintf(head + o, cap - o, "Connection: %s\r\n\r\n",
                              keep ? "keep-alive" : "close");
    }

    /* metrics + access log */
    if (req) {
        double secs = (double)(bb_time_mono_ns() - req->start_ns) / 1e9;
        struct metric_slot *m = metric_slot(s, req->route, req->method, status);
        if (m) {
            bb_counter_inc(m->counter);
            if (m->hist) bb_histogram_observe(m->hist, secs);
        }
        if (bb_log_get_level() <= BB_LOG_INFO || status >= 500) {
            char path[300];
            bb_log_quote(path, sizeof path, req->path ? req->path : "");
            bb_log(status >= 500 ? BB_LOG_WARN : BB_LOG_INFO, s->opts.name ? s->opts.name : "http",
                   "request rid=%s method=%s path=%s status=%d dur_ms=%.3f", req->request_id,
                   req->method, path, status, secs * 1000.0);
        }
    }

    char *body = head_only || streaming ? NULL : res->body;
    size_t blen = head_only || streaming ? 0 : res->body_len;
    if (body) res->body = NULL; /* handed to the write */
    if (!keep && !streaming) c->write_close = 1;
    conn_write(c, head, o, body, blen);

    if (streaming && !c->closing) start_stream(c, res);
    request_free(req);
    response_free(res);
}

/* Answers an error the server itself detected (limits, parse errors, routing, auth). */
static void send_error(struct bb_http_conn *c, struct bb_http_request *req, int status,
                       const char *code, const char *msg, int close_after, const char *allow)
{
    struct bb_http_response *res = calloc(1, sizeof *res);
    if (!res) {
        request_free(req);
        conn_close(c);
        return;
    }
    bb_http_reply_error_status(res, status, code, msg);
    if (allow) bb_http_set_header(res, "Allow", allow);
    send_response(c, req, res, close_after);
}

/* ---------------------------------------------------------------- parsing */

static int append(char **dst, size_t *len, const char *p, size_t n)
{
    size_t old = *len;
    char *nb = realloc(*dst, old + n + 1);
    if (!nb) return BB_ENOMEM;
    memcpy(nb + old, p, n);
    nb[old + n] = '\0';
    *dst = nb;
    *len = old + n;
    return 0;
}

static int reject(struct bb_http_conn *c, int status, const char *code, const char *msg)
{
    c->err_status = status;
    c->err_code = code;
    c->err_msg = msg;
    return -1;
}

static int count_header_bytes(struct bb_http_conn *c, size_t n)
{
    c->header_bytes += n;
    if (c->header_bytes > limits_of(c)->max_header_bytes)
        return reject(c, 431, "headers_too_large", "request headers too large");
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct bb_http_conn *c = p->data;
    request_free(c->req);
    c->req = calloc(1, sizeof *c->req);
    if (!c->req) return reject(c, 503, "out_of_memory", "out of memory");
    c->req->start_ns = bb_time_mono_ns();
    c->req->conn = c;
    c->req->identity.kind = BB_IDENTITY_ANONYMOUS;
    c->header_bytes = 0;
    c->last_was_value = 0;
    c->headers_done = 0;
    c->discard_body = 0;
    c->deny_status = 0;
    c->value_split = 0;
    c->lf_before = 0;
    c->message_done = 0;
    c->body_limit = limits_of(c)->max_body_bytes;
    if (c->state == CS_IDLE) {
        c->state = CS_READING;
        if (!c->test) timer_set(c, c->srv->opts.limits.request_timeout_ms, 0);
    }
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct bb_http_conn *c = p->data;
    if (count_header_bytes(c, n)) return -1;
    size_t len = c->req->url ? strlen(c->req->url) : 0;
    return append(&c->req->url, &len, at, n) ? reject(c, 503, "out_of_memory", "out of memory")
                                             : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct bb_http_conn *c = p->data;
    struct bb_http_request *r = c->req;
    if (count_header_bytes(c, n + 4)) return -1;
    if (c->headers_done) return 0; /* a trailer field: counted, never merged into the headers */
    /* http_parser (non-strict build) lets spaces into field names: "Host : x" arrives as "Host ". */
    if (memchr(at, ' ', n) || memchr(at, '\t', n))
        return reject(c, 400, "bad_request",
                      "whitespace in a header field name or before its colon (RFC 9112 5.1)");
    if (r->nheaders == 0 || c->last_was_value) {
        if (r->nheaders >= 256) return reject(c, 431, "headers_too_large", "too many headers");
        struct bb_http_header *nh = realloc(r->headers, (r->nheaders + 1) * sizeof *nh);
        if (!nh) return reject(c, 503, "out_of_memory", "out of memory");
        r->headers = nh;
        r->headers[r->nheaders].name = NULL;
        r->headers[r->nheaders].value = NULL;
        r->nheaders++;
        c->last_was_value = 0;
    }
    struct bb_http_header *h = &r->headers[r->nheaders - 1];
    size_t len = h->name ? strlen(h->name) : 0;
    return append(&h->name, &len, at, n) ? reject(c, 503, "out_of_memory", "out of memory") : 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct bb_http_conn *c = p->data;
    struct bb_http_request *r = c->req;
    if (count_header_bytes(c, n)) return -1;
    if (c->headers_done) return 0; /* a trailer field: counted, never merged into the headers */
    if (r->nheaders == 0) return reject(c, 400, "bad_request", "header value without a name");
    struct bb_http_header *h = &r->headers[r->nheaders - 1];
    /* Obsolete line folding (a line starting with SP/HTAB continues the previous value) is
     * rejected (RFC 9112 5.2). http_parser accepts it and reports the continuation as another
     * value piece: a second piece is legitimate only when the first ended at the end of its input
     * chunk and this one starts at the start of the next; a first piece preceded (past blanks) by
     * a line feed is a fold of an empty value. */
    int fold;
    if (n == 0) { /* an empty value is reported as a zero-length piece at the next line */
        fold = 0;
    } else if (c->last_was_value && h->value) {
        fold = !(c->value_split && at == c->exec_start);
    } else {
        const char *q = at;
        while (q > c->exec_start && (q[-1] == ' ' || q[-1] == '\t'))
            q--;
        fold = q > c->exec_start ? q[-1] == '\n' : c->lf_before;
    }
    if (fold)
        return reject(c, 400, "bad_request", "obsolete line folding in headers (RFC 9112 5.2)");
    c->last_value_end = at + n;
    c->last_was_value = 1;
    size_t len = h->value ? strlen(h->value) : 0;
    if (!h->value) {
        h->value = strdup("");
        if (!h->value) return reject(c, 503, "out_of_memory", "out of memory");
    }
    return append(&h->value, &len, at, n) ? reject(c, 503, "out_of_memory", "out of memory") : 0;
}

/* Resolves r->identity (the internal resolver, then the router's) and checks it against the
 * route's accepted kinds. Returns 0, or the status to answer (401, 403, 503) with code and msg. */
/* The one resolution every request and bb_http_resolve_identity go through: the internal resolver
 * with token, then the router's resolvers in order. 0 with *out (anonymous when none claims the
 * request), or BB_EAUTH (*why set) / BB_ENOMEM with *out released. */
static int resolve_identity(const struct bb_router *router, const char *token,
                            const struct bb_http_request *r, struct bb_identity *out,
                            struct bb_identity_reject *why)
{
    bb_identity_release(out);
    int rc = bb_identity_resolve_internal_(token, r, out, why);
    size_t n = 0;
    const struct bb_identity_resolver *res = router ? bb_router_resolvers(router, &n) : NULL;
    for (size_t i = 0; rc == BB_ENOTFOUND && i < n; i++) {
        bb_identity_release(out);
        memset(out, 0, sizeof *out);
        rc = res[i].resolve(res[i].arg, r, out, why);
        if (rc == 0 && !out->resolver) out->resolver = res[i].name;
    }
    if (rc != 0) bb_identity_release(out); /* BB_ENOTFOUND: anonymous */
    return rc == BB_ENOTFOUND ? 0 : rc;
}

static int authorize(const struct bb_router *router, const char *token,
                     struct bb_http_request *r, const char **code, const char **msg)
{
    struct bb_identity_reject why = {NULL, NULL};
    int rc = resolve_identity(router, token, r, &r->identity, &why);
    if (rc == BB_EAUTH) {
        *code = why.code ? why.code : "unauthenticated";
        *msg = why.msg ? why.msg : "invalid credential";
        return 401;
    }
    if (rc != 0) {
        *code = "out_of_memory";
        *msg = "out of memory";
        return 503;
    }
    unsigned mask = r->route ? r->route->auth : 0;
    if (mask == 0 || (r->identity.kind & mask)) {
        void *aarg = NULL;
        bb_router_authorize_fn az = bb_router_authorizer(router, &aarg);
        if (!az || !r->route) return 0;
        *code = "forbidden";
        *msg = "forbidden";
        return az(aarg, r, code, msg);
    }
    if (r->identity.kind == BB_IDENTITY_ANONYMOUS) {
        *code = "unauthenticated";
        *msg = (mask & BB_IDENTITY_INTERNAL_ANY) ? "missing or invalid internal token"
                                                 : "authentication required";
        return 401;
    }
    *code = "forbidden";
    *msg = "this identity is not accepted by this route";
    return 403;
}

static int on_headers_complete(http_parser *p)
{
    struct bb_http_conn *c = p->data;
    struct bb_http_request *r = c->req;
    for (size_t i = 0; i < r->nheaders; i++)
        if (!r->headers[i].value && !(r->headers[i].value = strdup("")))
            return reject(c, 503, "out_of_memory", "out of memory");
    r->method = http_method_str((enum http_method)p->method);
    if (!r->url || r->url[0] != '/')
        return reject(c, 400, "bad_request", "request target must be an absolute path");
    const char *q = strchr(r->url, '?');
    size_t plen = q ? (size_t)(q - r->url) : strlen(r->url);
    const char *hash = memchr(r->url, '#', plen);
    if (hash) plen = (size_t)(hash - r->url);
    r->path = strndup(r->url, plen);
    if (q) {
        size_t qlen = strcspn(q + 1, "#");
        r->query = strndup(q + 1, qlen);
    }
    if (!r->path || (q && !r->query)) return reject(c, 503, "out_of_memory", "out of memory");
    c->headers_done = 1;
    int rc = bb_router_match(router_of(c), r->method, r->path, plen, &r->match);
    if (rc == 0) {
        r->route = r->match.route;
        r->ctx = r->match.ctx;
        if (r->route->max_body) c->body_limit = r->route->max_body;
    } else {
        c->discard_body = 1; /* answered 404/405 once complete; nothing to keep */
    }
    c->keep_alive = http_should_keep_alive(p);
    if (r->route) {
        /* Identity before anything else: an unauthenticated client learns nothing about limits and
         * never makes us read (or hold) its body. */
        const char *code = NULL, *msg = NULL;
        int st = authorize(router_of(c), c->test ? "test-token" : c->srv->opts.internal_token, r,
                           &code, &msg);
        if (st) {
            /* No body to refuse reading: answer in order at dispatch and keep the connection. */
            if (!(p->flags & F_CHUNKED) && (!(p->flags & F_CONTENTLENGTH) || p->content_length == 0)) {
                c->deny_status = st, c->deny_code = code, c->deny_msg = msg;
                c->discard_body = 1;
                return 0;
            }
            return reject(c, st, code, msg);
        }
    }
    int has_cl = (p->flags & F_CONTENTLENGTH) != 0;
    if (has_cl && p->content_length > c->body_limit)
        return reject(c, 413, "payload_too_large", "request body too large");
    if (has_cl && p->content_length > 0 && !c->discard_body &&
        body_reserve(r, (size_t)p->content_length, limits_of(c)->max_inflight_body_bytes) != 0)
        return reject(c, 503, "overloaded", "server busy: too many request bodies in flight");
    const char *expect = bb_http_header(r, "Expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && !c->test &&
        ((has_cl && p->content_length > 0) || (p->flags & F_CHUNKED))) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        char *b = malloc(sizeof cont - 1);
        if (!b) return reject(c, 503, "out_of_memory", "out of memory");
        memcpy(b, cont, sizeof cont - 1);
        conn_write(c, NULL, 0, b, sizeof cont - 1);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct bb_http_conn *c = p->data;
    struct bb_http_request *r = c->req;
    if (r->body_len + n > c->body_limit)
        return reject(c, 413, "payload_too_large", "request body too large");
    if (c->discard_body) {
        r->body_len += n; /* counted against the limit, not kept */
        return 0;
    }
    if (r->body_len + n > r->body_reserved_ && /* chunked: reserve as it grows */
        body_reserve(r, r->body_len + n - r->body_reserved_,
                     limits_of(c)->max_inflight_body_bytes) != 0)
        return reject(c, 503, "overloaded", "server busy: too many request bodies in flight");
    return append(&r->body, &r->body_len, at, n) ? reject(c, 503, "out_of_memory", "out of memory")
                                                 : 0;
}

static int on_message_complete(http_parser *p)
{
    struct bb_http_conn *c = p->data;
    if (c->discard_body) {
        free(c->req->body);
        c->req->body = NULL;
        c->req->body_len = 0;
    }
    if (!c->req->body && !(c->req->body = calloc(1, 1)))
        return reject(c, 503, "out_of_memory", "out of memory");
    c->message_done = 1;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---------------------------------------------------------------- dispatch */

static int valid_request_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.' || ch == ':'))
            return 0;
    }
    return n > 0 && n < 64;
}

static void job_work(void *arg)
{
    struct job *j = arg;
    j->req->route->handler(j->req, j->res);
}

static void job_done(void *arg, int status)
{
    struct job *j = arg;
    struct bb_http_conn *c = j->conn;
    c->refs--;
    if (c->closing) {
        request_free(j->req);
        response_free(j->res);
        free(j);
        conn_maybe_free(c);
        return;
    }
    struct bb_http_request *req = j->req;
    struct bb_http_response *res = j->res;
    free(j);
    if (!res->status) res->status = 200;
    c->state = CS_IDLE;
    send_response(c, req, res, 0);
    if (!c->closing && c->state != CS_STREAM) {
        timer_set(c, c->srv->opts.limits.idle_timeout_ms, 0);
        read_start(c);
        process_input(c);
    }
}


/* The worker pool's fairness key of a request: the route's {projectId} parameter (still
 * percent-encoded, truncated to what the pool accepts), or "" for routes without one. Decided
 * here, once, for every route. */
static void pool_key(const struct bb_http_request *r, char *key, size_t cap)
{
    key[0] = '\0';
    for (size_t i = 0; i < r->match.nparams; i++) {
        const struct bb_route_param *pm = &r->match.params[i];
        if (pm->name_len == 9 && memcmp(pm->name, "projectId", 9) == 0) {
            size_t n = pm->value_len < cap - 1 ? pm->value_len : cap - 1;
            memcpy(key, pm->value, n);
            key[n] = '\0';
            return;
        }
    }
}

/* Takes c->req (complete) and answers it. */
static void dispatch(struct bb_http_conn *c)
{
    struct bb_http_request *r = c->req;
    c->req = NULL;
    const char *rid = bb_http_header(r, "X-Request-Id");
    if (rid && valid_request_id(rid)) snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    else bb_id_new(r->request_id);

    if (!r->route) {
        int rc = bb_router_match(router_of(c), r->method, r->path, strlen(r->path), &r->match);
        if (rc == BB_EMETHOD) {
            char allow[sizeof r->match.allow];
            snprintf(allow, sizeof allow, "%s", r->match.allow);
            char msg[200];
            snprintf(msg, sizeof msg, "method %s not allowed; allowed: %s", r->method, allow);
            send_error(c, r, 405, "method_not_allowed", msg, 0, allow);
        } else {
            send_error(c, r, 404, "not_found", "no such route", 0, NULL);
        }
        return;
    }
    if (c->deny_status) {
        int st = c->deny_status;
        c->deny_status = 0;
        send_error(c, r, st, c->deny_code, c->deny_msg, 0, NULL);
        return;
    }
    if (c->test) {
        send_error(c, r, 200, "ok", "dispatched", 0, NULL);
        return;
    }
    struct bb_http_response *res = calloc(1, sizeof *res);
    if (!res) {
        send_error(c, r, 503, "out_of_memory", "out of memory", 1, NULL);
        return;
    }
    if ((r->route->flags & BB_ROUTE_LOOP_FIRST) && (r->route->flags & BB_ROUTE_POOL)) {
        /* the handler answers on the loop thread when it can do so without blocking */
        r->on_loop = 1;
        r->route->handler(r, res);
        r->on_loop = 0;
        if (!res->deferred) {
            if (!res->status) res->status = 200;
            send_response(c, r, res, 0);
            return;
        }
        response_free(res);
        if (!(res = calloc(1, sizeof *res))) {
            send_error(c, r, 503, "out_of_memory", "out of memory", 1, NULL);
            return;
        }
    }
    c->state = CS_BUSY;
    timer_set(c, 0, 0);
    if (r->route->flags & BB_ROUTE_POOL) {
        struct job *j = malloc(sizeof *j);
        int rc = j ? 0 : BB_ENOMEM;
        if (j) {
            j->conn = c, j->req = r, j->res = res;
            c->refs++;
            char key[BB_POOL_MAX_KEY + 1];
            pool_key(r, key, sizeof key);
            rc = c->srv->opts.pool
                     ? bb_pool_submit_key(c->srv->opts.pool, key, job_work, job_done, j)
                     : BB_EUNAVAIL;
            if (rc) c->refs--;
        }
        if (rc == 0) {
            read_stop(c);
            return;
        }
        free(j);
        response_free(res);
        c->state = CS_IDLE;
        send_error(c, r, 503, "overloaded", "server busy: worker queue full, retry later", 0,
                   NULL);
        return;
    }
    r->route->handler(r, res);
    if (!res->status) res->status = 200;
    c->state = CS_IDLE;
    send_response(c, r, res, 0);
}

/* Parses buffered input, dispatching at most one request at a time. */
static void process_input(struct bb_http_conn *c)
{
    while (!c->closing && c->state != CS_BUSY && c->state != CS_STREAM && c->in_off < c->in_len &&
           !c->write_close) {
        if (write_backlog(c) >= WRITE_HIGH_WATER) {
            read_stop(c); /* resumed by on_write_done once the client reads */
            break;
        }
        const char *data = c->in + c->in_off;
        size_t len = c->in_len - c->in_off;
        c->exec_start = data;
        c->exec_end = data + len;
        c->last_value_end = NULL;
        size_t n = http_parser_execute(&c->parser, &parser_settings, data, len);
        /* what the fold check needs to know about the end of this chunk (see on_header_value) */
        c->value_split = c->last_value_end == data + len;
        const char *q = data + n;
        while (q > data && (q[-1] == ' ' || q[-1] == '\t'))
            q--;
        if (q > data) c->lf_before = q[-1] == '\n';
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            c->in_off += n;
        } else if (e != HPE_OK) {
            struct bb_http_request *r = c->req;
            c->req = NULL;
            if (r && !r->path) {
                /* failed before the target was known: log/metrics need a path */
                r->path = strdup("");
            }
            if (r && !r->method) r->method = http_method_str((enum http_method)c->parser.method);
            if (r) bb_id_new(r->request_id);
            c->in_off = c->in_len;
            c->linger = 1; /* the rest of this request may still be on its way */
            if (c->err_status) {
                send_error(c, r, c->err_status, c->err_code, c->err_msg, 1, NULL);
            } else if (e == HPE_HEADER_OVERFLOW) {
                send_error(c, r, 431, "headers_too_large", "request headers too large", 1, NULL);
            } else {
                char msg[160];
                snprintf(msg, sizeof msg, "malformed request: %s", http_errno_description(e));
                send_error(c, r, 400, "bad_request", msg, 1, NULL);
            }
            return;
        } else {
            c->in_off += n;
        }
        if (c->message_done) {
            c->message_done = 0;
            if (c->parser.upgrade) c->keep_alive = 0;
            dispatch(c);
            if (c->state == CS_IDLE && !c->test) timer_set(c, c->srv->opts.limits.idle_timeout_ms, 0);
        } else if (n == 0) {
            break;
        }
    }
    if (c->in_off == c->in_len) {
        c->in_off = c->in_len = 0;
    } else if (c->in_off > 0 && c->in_off >= c->in_cap / 2) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
}

/* ---------------------------------------------------------------- socket events */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct bb_http_conn *c = h->data;
    (void)hint;
    if (c->in_cap - c->in_len < READ_CHUNK / 4) {
        size_t nc = c->in_cap ? c->in_cap * 2 : READ_CHUNK;
        if (c->in_len + READ_CHUNK > nc) nc = c->in_len + READ_CHUNK;
        char *nb = realloc(c->in, nc);
        if (!nb) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        c->in = nb;
        c->in_cap = nc;
    }
    *buf = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct bb_http_conn *c = st->data;
    (void)buf;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0) return;
    if (c->lingering) { /* answered and half-closed: drop what still arrives */
        c->in_off = c->in_len = 0;
        return;
    }
    if (c->state == CS_STREAM) return; /* a stream's client has nothing to say; ignore it */
    c->in_len += (size_t)nread;
    process_input(c); /* the request timer starts in on_message_begin */
    /* Bound what a client can pile up while we are busy answering. */
    if (c->state == CS_BUSY) read_stop(c);
    if (c->in_len - c->in_off > limits_of(c)->max_header_bytes + limits_of(c)->max_body_bytes +
                                    READ_CHUNK)
        conn_close(c);
}

static void on_timeout(uv_timer_t *t)
{
    struct bb_http_conn *c = t->data;
    if (c->lingering) {
        conn_close(c);
        return;
    }
    switch (c->state) {
    case CS_IDLE:
        conn_close(c);
        break;
    case CS_READING: {
        struct bb_http_request *r = c->req;
        c->req = NULL;
        if (r && !r->path) r->path = strdup("");
        if (r && !r->method) r->method = "GET";
        if (r) bb_id_new(r->request_id);
        c->in_off = c->in_len = 0;
        send_error(c, r, 408, "timeout", "request not received in time", 1, NULL);
        read_stop(c);
        break;
    }
    case CS_STREAM:
        if (c->sse) bb_sse_comment(c->sse, "heartbeat");
        break;
    case CS_BUSY:
        break;
    }
}

/* Logs a refused connection: the first one at once, then at most one line a second with the
 * number of refusals in between, so a flood cannot flood the log. */
static void log_refusal(struct bb_http_server *s, const char *reason, const char *peer,
                        size_t limit)
{
    static const char *const reasons[] = {"max_connections", "fd_budget",
                                          "max_connections_per_ip", "accept_error"};
    size_t ri = 0;
    while (ri < 3 && strcmp(reasons[ri], reason) != 0)
        ri++;
    if (s->opts.metrics && !s->refused[ri]) {
        char labels[160];
        snprintf(labels, sizeof labels, "listener=\"%s\",reason=\"%s\"",
                 s->opts.name ? s->opts.name : "http", reasons[ri]);
        s->refused[ri] = bb_metrics_counter(s->opts.metrics, "bunbase_http_connections_refused_total",
                                            "connections closed on accept, by listener and reason",
                                            labels);
    }
    if (s->refused[ri]) bb_counter_inc(s->refused[ri]);
    uint64_t now = uv_now(s->loop);
    if (s->refused_log_ms && now - s->refused_log_ms < 1000) {
        s->refused_quiet++;
        return;
    }
    bb_warn(s->opts.name ? s->opts.name : "http",
            "connection_refused reason=%s peer=%s limit=%zu open=%zu process_open=%zu "
            "refused_since_last_log=%zu",
            reason, peer, limit, s->nconns, (size_t)atomic_load(&g_conns), s->refused_quiet);
    s->refused_log_ms = now ? now : 1;
    s->refused_quiet = 0;
}

/* Peer address as 16 bytes (IPv4 mapped into ::ffff:0:0/96) and as text. Returns 0 or -1. */
static int peer_of(struct bb_http_conn *c, unsigned char key[16], char *text, size_t cap)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0) return -1;
    memset(key, 0, 16);
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &a->sin_addr, 4);
        uv_ip4_name(a, text, cap);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        memcpy(key, &a->sin6_addr, 16);
        uv_ip6_name(a, text, cap);
    } else {
        return -1;
    }
    return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct bb_http_server *s = server->data;
    if (status < 0) {
        log_refusal(s, uv_err_name(status), "-", 0); /* e.g. EMFILE: libuv drops the connection */
        return;
    }
    struct bb_http_conn *c = calloc(1, sizeof *c);
    if (!c) return;
    c->srv = s;
    s->nalloc++;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->open_handles = 2;
    /* link first so conn_close's unlink is always valid */
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    size_t process_open = atomic_fetch_add(&g_conns, 1) + 1;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || s->draining) {
        conn_close(c);
        return;
    }
    unsigned char key[16];
    char peer[64] = "-";
    int have_peer = peer_of(c, key, peer, sizeof peer) == 0;
    if (have_peer) snprintf(c->peer_ip, sizeof c->peer_ip, "%s", peer);
    size_t max_conns = bb_http_effective_max_connections(s->opts.limits.max_connections);
    if (s->nconns > max_conns) {
        log_refusal(s, "max_connections", peer, max_conns);
        conn_close(c);
        return;
    }
    if (g_fd_budget && process_open > g_fd_budget) {
        log_refusal(s, "fd_budget", peer, g_fd_budget);
        conn_close(c);
        return;
    }
    size_t per_ip = s->opts.limits.max_connections_per_ip;
    if (per_ip && have_peer) {
        struct ip_count **pp = &s->ip_tab[ip_bucket(key)], *e = *pp;
        while (e && memcmp(e->addr, key, 16) != 0)
            e = e->next;
        if (e && e->n >= per_ip) {
            log_refusal(s, "max_connections_per_ip", peer, per_ip);
            conn_close(c);
            return;
        }
        if (!e) {
            e = calloc(1, sizeof *e);
            if (!e) {
                conn_close(c);
                return;
            }
            memcpy(e->addr, key, 16);
            e->next = *pp;
            *pp = e;
        }
        e->n++;
        c->ip = e;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->state = CS_IDLE;
    timer_set(c, s->opts.limits.idle_timeout_ms, 0);
    read_start(c);
}

/* ---------------------------------------------------------------- server */

static void on_server_handle_closed(uv_handle_t *h)
{
    struct bb_http_server *s = h->data;
    s->open_handles--;
    if (s->freeing && s->open_handles == 0 && s->nalloc == 0) free(s);
}

int bb_http_server_start(uv_loop_t *loop, const char *host, int port,
                         const struct bb_http_server_opts *opts, struct bb_http_server **out,
                         char *err, size_t errcap)
{
    struct sockaddr_storage addr;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0) {
        snprintf(err, errcap, "invalid listen address %s:%d", host, port);
        return BB_EINVAL;
    }
    struct bb_http_server *s = calloc(1, sizeof *s);
    if (!s) return BB_ENOMEM;
    s->loop = loop;
    s->opts = *opts;
    uv_tcp_init(loop, &s->listener);
    uv_timer_init(loop, &s->drain_timer);
    s->listener.data = s;
    s->drain_timer.data = s;
    s->open_handles = 2;
    int rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
    if (rc != 0) {
        snprintf(err, errcap, "cannot listen on %s:%d: %s", host, port, uv_strerror(rc));
        s->freeing = 1;
        uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
        uv_close((uv_handle_t *)&s->drain_timer, on_server_handle_closed);
        return rc == UV_EADDRINUSE ? BB_EBUSY : rc == UV_EACCES ? BB_EPERM : BB_EIO;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen);
    s->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    *out = s;
    return 0;
}

int bb_http_server_port(const struct bb_http_server *s)
{
    return s->port;
}

size_t bb_http_server_connections(const struct bb_http_server *s)
{
    return s->nconns;
}

static void server_check_drained(struct bb_http_server *s)
{
    if (s->freeing) {
        if (s->open_handles == 0 && s->nalloc == 0) free(s);
        return;
    }
    if (!s->draining || s->nalloc > 0 || !s->drain_done) return;
    void (*done)(void *) = s->drain_done;
    s->drain_done = NULL;
    uv_timer_stop(&s->drain_timer);
    done(s->drain_arg);
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct bb_http_server *s = t->data;
    bb_warn(s->opts.name ? s->opts.name : "http", "drain_timeout open_connections=%zu",
            s->nconns);
    for (struct bb_http_conn *c = s->conns, *n; c; c = n) {
        n = c->next;
        conn_close(c);
    }
}

void bb_http_server_drain(struct bb_http_server *s, void (*done)(void *arg), void *arg)
{
    if (s->draining) return;
    s->draining = 1;
    s->drain_done = done;
    s->drain_arg = arg;
    uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
    for (struct bb_http_conn *c = s->conns, *n; c; c = n) {
        n = c->next;
        if (c->state == CS_IDLE && c->in_len == c->in_off && c->pending_writes == 0)
            conn_close(c);
        else if (c->state == CS_STREAM && c->sse)
            bb_sse_close(c->sse);
    }
    if (s->opts.limits.drain_timeout_ms)
        uv_timer_start(&s->drain_timer, on_drain_timeout, s->opts.limits.drain_timeout_ms, 0);
    server_check_drained(s);
}

void bb_http_server_free(struct bb_http_server *s)
{
    if (!s) return;
    if (!s->draining) {
        s->draining = 1;
        uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
    }
    s->drain_done = NULL;
    for (struct bb_http_conn *c = s->conns, *n; c; c = n) {
        n = c->next;
        conn_close(c);
    }
    s->freeing = 1;
    uv_close((uv_handle_t *)&s->drain_timer, on_server_handle_closed);
}

/* ---------------------------------------------------------------- test entry point */

int bb_http_parse_for_test(const char *buf, size_t len, const struct bb_http_limits *limits,
                           struct bb_router *router)
{
    struct bb_http_conn c;
    memset(&c, 0, sizeof c);
    c.test = 1;
    c.tlimits = limits;
    c.trouter = router;
    http_parser_init(&c.parser, HTTP_REQUEST);
    c.parser.data = &c;
    c.in = malloc(len + 1);
    if (!c.in) return 503;
    memcpy(c.in, buf, len);
    c.in_len = len;
    c.in_cap = len + 1;
    process_input(&c);
    request_free(c.req);
    free(c.in);
    return c.test_status ? c.test_status : 0;
}

/* ---------------------------------------------------------------- in-process dispatch */

int bb_http_resolve_identity(const struct bb_router *router, const char *internal_token,
                             const struct bb_http_header *headers, size_t nheaders,
                             struct bb_identity *out)
{
    struct bb_http_request req;
    memset(&req, 0, sizeof req);
    req.method = "GET";
    req.headers = (struct bb_http_header *)headers;
    req.nheaders = nheaders;
    memset(out, 0, sizeof *out);
    struct bb_identity_reject why = {NULL, NULL};
    return resolve_identity(router, internal_token, &req, out, &why);
}

int bb_http_client_ip(const struct bb_http_request *req, char *buf, size_t cap)
{
    if (cap) buf[0] = '\0';
    if (!req->conn || req->conn->test || !req->conn->peer_ip[0]) return BB_ENOTFOUND;
    snprintf(buf, cap, "%s", req->conn->peer_ip); /* set at accept, never changed: any thread */
    return 0;
}

void bb_http_response_free(struct bb_http_response *res)
{
    response_free(res);
}

static const char *known_method(const char *m)
{
    for (int i = 0; i < 64; i++) {
        const char *s = http_method_str((enum http_method)i);
        if (!s || s[0] == '<') break; /* "<unknown>" past the last method */
        if (strcmp(s, m) == 0) return s;
    }
    return NULL;
}

static int dispatch_local(struct bb_router *router, size_t max_body_bytes,
                          const char *internal_token, const struct bb_http_local_request *in,
                          int on_loop, struct bb_http_response **out)
{
    *out = NULL;
    struct bb_http_response *res = calloc(1, sizeof *res);
    struct bb_http_request *r = calloc(1, sizeof *r);
    if (!res || !r) goto nomem;
    r->start_ns = bb_time_mono_ns();
    r->identity.kind = BB_IDENTITY_ANONYMOUS;
    r->method = in->method ? known_method(in->method) : NULL;
    if (!r->method) {
        bb_http_reply_error_status(res, 400, "bad_request", "unknown HTTP method");
        goto done;
    }
    if (!in->url || in->url[0] != '/') {
        bb_http_reply_error_status(res, 400, "bad_request", "path must be absolute");
        goto done;
    }
    r->url = strdup(in->url);
    if (!r->url) goto nomem;
    size_t plen = strcspn(r->url, "?#");
    r->path = strndup(r->url, plen);
    if (r->url[plen] == '?') r->query = strndup(r->url + plen + 1, strcspn(r->url + plen + 1, "#"));
    if (!r->path || (r->url[plen] == '?' && !r->query)) goto nomem;
    if (in->nheaders > 256) {
        bb_http_reply_error_status(res, 431, "headers_too_large", "too many headers");
        goto done;
    }
    if (in->nheaders) {
        r->headers = calloc(in->nheaders, sizeof *r->headers);
        if (!r->headers) goto nomem;
        for (size_t i = 0; i < in->nheaders; i++, r->nheaders++) {
            r->headers[i].name = strdup(in->headers[i].name);
            r->headers[i].value = strdup(in->headers[i].value);
            if (!r->headers[i].name || !r->headers[i].value) {
                r->nheaders++;
                goto nomem;
            }
        }
    }
    r->body = malloc(in->body_len + 1);
    if (!r->body) goto nomem;
    if (in->body_len) memcpy(r->body, in->body, in->body_len);
    r->body[in->body_len] = '\0';
    r->body_len = in->body_len;
    const char *rid = bb_http_header(r, "X-Request-Id");
    if (rid && valid_request_id(rid)) snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    else bb_id_new(r->request_id);

    int rc = bb_router_match(router, r->method, r->path, plen, &r->match);
    if (rc == BB_EMETHOD) {
        bb_http_reply_error_status(res, 405, "method_not_allowed", "method not allowed");
        bb_http_set_header(res, "Allow", r->match.allow);
        goto done;
    }
    if (rc != 0) {
        bb_http_reply_error_status(res, 404, "not_found", "no such route");
        goto done;
    }
    r->route = r->match.route;
    r->ctx = r->match.ctx;
    const char *acode = NULL, *amsg = NULL;
    int ast = authorize(router, internal_token, r, &acode, &amsg);
    if (ast) {
        bb_http_reply_error_status(res, ast, acode, amsg);
        goto done;
    }
    size_t limit = r->route->max_body ? r->route->max_body : max_body_bytes;
    if (r->body_len > limit) {
        bb_http_reply_error_status(res, 413, "payload_too_large", "request body too large");
        goto done;
    }
    if (r->route->flags & BB_ROUTE_STREAM) {
        bb_http_reply_error_status(res, 400, "bad_request",
                                   "streaming routes are only available over HTTP");
        goto done;
    }
    if (on_loop) {
        if (!(r->route->flags & BB_ROUTE_LOOP_FIRST)) {
            bb_http_defer(res);
            goto done;
        }
        r->on_loop = 1;
    }
    r->route->handler(r, res);
    if (res->deferred) goto done;
    if (res->sse) { /* a handler that streamed anyway: end it, answer an error */
        bb_sse_detach_(res->sse);
        res->sse = NULL;
        bb_http_reply_error_status(res, 400, "bad_request",
                                   "streaming routes are only available over HTTP");
    }
    if (!res->status) res->status = 200;
    if (r->request_id[0]) bb_http_set_header(res, "X-Request-Id", r->request_id);
done:
    request_free(r);
    *out = res;
    return 0;
nomem:
    request_free(r);
    response_free(res);
    return BB_ENOMEM;
}

int bb_http_dispatch_local(struct bb_router *router, size_t max_body_bytes,
                           const char *internal_token, const struct bb_http_local_request *in,
                           struct bb_http_response **out)
{
    return dispatch_local(router, max_body_bytes, internal_token, in, 0, out);
}

int bb_http_dispatch_local_on_loop(struct bb_router *router, size_t max_body_bytes,
                                   const char *internal_token,
                                   const struct bb_http_local_request *in,
                                   struct bb_http_response **out)
{
    return dispatch_local(router, max_body_bytes, internal_token, in, 1, out);
}

int bb_http_redispatch(struct bb_http_request *req, struct bb_http_response *res,
                       struct bb_router *router, const char *url, struct bb_identity *as)
{
    int rc = BB_ENOMEM;
    char *u = url && url[0] == '/' ? strdup(url) : NULL;
    size_t plen = u ? strcspn(u, "?#") : 0;
    char *path = u ? strndup(u, plen) : NULL;
    char *query = u && u[plen] == '?' ? strndup(u + plen + 1, strcspn(u + plen + 1, "#")) : NULL;
    if (!u || !path || (u[plen] == '?' && !query)) {
        if (url && url[0] != '/') rc = BB_EINVAL;
        bb_http_reply_error(res, rc, rc == BB_EINVAL ? "path must be absolute" : NULL);
        goto fail;
    }
    struct bb_route_match m;
    rc = bb_router_match(router, req->method, path, plen, &m);
    if (rc) {
        bb_http_reply_error_status(res, rc == BB_EMETHOD ? 405 : 404,
                                   rc == BB_EMETHOD ? "method_not_allowed" : "not_found",
                                   rc == BB_EMETHOD ? "method not allowed" : "no such route");
        goto fail;
    }
    if (m.route->auth && !(as->kind & m.route->auth)) {
        rc = BB_EPERM;
        bb_http_reply_error_status(res, 403, "forbidden",
                                   "this identity is not accepted by this route");
        goto fail;
    }
    free(req->url);
    free(req->path);
    free(req->query);
    req->url = u, req->path = path, req->query = query;
    for (size_t i = 0; i < BB_ROUTE_MAX_PARAMS; i++) {
        free(req->decoded_params[i]);
        req->decoded_params[i] = NULL;
    }
    req->match = m; /* its parameters point into the new path */
    req->route = m.route;
    req->ctx = m.ctx;
    bb_identity_release(&req->identity);
    req->identity = *as;
    memset(as, 0, sizeof *as);
    as->kind = BB_IDENTITY_ANONYMOUS;
    req->route->handler(req, res);
    return 0;
fail:
    free(u);
    free(path);
    free(query);
    bb_identity_release(as);
    return rc;
}
