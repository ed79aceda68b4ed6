/* HTTP server over real sockets: a loop thread runs bb_http with a small route table; the tests
 * talk raw HTTP/1.1 through plain sockets so every byte on the wire is under control. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <jansson.h>
#include <unistd.h>

#include "bb_err.h"
#include "bb_http.h"
#include "bb_metrics.h"
#include "bb_pool.h"
#include "bb_router.h"
#include "bb_sse.h"

/* ------------------------------------------------------------------ server fixture */

struct fixture {
    pthread_t thread;
    uv_loop_t loop;
    uv_async_t stop_async;
    struct bb_router *router;
    struct bb_pool *pool;
    struct bb_metrics *metrics;
    struct bb_http_server *srv;
    struct bb_http_limits limits;
    int pool_threads, pool_queue;
    int port;
    int ready;
    int drained;
    int drain_instead_of_free;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static pthread_t loop_thread_id;
static atomic_int sse_closed_calls; /* written on the loop thread, read by the test */
static atomic_int worker_ran_off_loop;

static void h_hello(struct bb_http_request *req, struct bb_http_response *res)
{
    char buf[64];
    const char *name = bb_http_query(req, "name", buf, sizeof buf);
    char out[128];
    int n = snprintf(out, sizeof out, "hello %s", name ? name : "world");
    bb_http_reply_copy(res, 200, "text/plain", out, (size_t)n);
}

static void h_echo(struct bb_http_request *req, struct bb_http_response *res)
{
    bb_http_reply_copy(res, 200, "application/octet-stream", req->body, req->body_len);
}

static void h_param(struct bb_http_request *req, struct bb_http_response *res)
{
    const char *id = bb_http_param(req, "id");
    bb_http_reply_copy(res, 200, "text/plain", id ? id : "(none)", id ? strlen(id) : 6);
}

static void h_two_params(struct bb_http_request *req, struct bb_http_response *res)
{
    const char *a = bb_http_param(req, "a"), *b = bb_http_param(req, "b");
    const char *again = bb_http_param(req, "a");
    char out[512];
    int n = snprintf(out, sizeof out, "%s|%s|%s|%d", a ? a : "-", b ? b : "-", req->path,
                     again == a);
    bb_http_reply_copy(res, 200, "text/plain", out, (size_t)n);
}

static void h_slow(struct bb_http_request *req, struct bb_http_response *res)
{
    if (!pthread_equal(pthread_self(), loop_thread_id)) worker_ran_off_loop = 1;
    char buf[16];
    const char *ms = bb_http_query(req, "ms", buf, sizeof buf);
    usleep((useconds_t)(ms ? atoi(ms) : 100) * 1000);
    bb_http_reply_copy(res, 200, "text/plain", "slow", 4);
}

static void h_error(struct bb_http_request *req, struct bb_http_response *res)
{
    (void)req;
    bb_http_reply_error(res, BB_EEXIST, "duplicate thing");
}

static void on_sse_closed(struct bb_sse *s, void *arg)
{
    (void)s, (void)arg;
    sse_closed_calls++;
}

static void *sse_thread(void *arg)
{
    struct bb_sse *s = arg;
    bb_sse_send(s, "greeting", "1", "first\nsecond", 12);
    bb_sse_send(s, NULL, "2", "plain", 5);
    /* keep the stream open until the client leaves */
    for (int i = 0; i < 400 && !bb_sse_is_closed(s); i++)
        usleep(10000);
    bb_sse_unref(s);
    return NULL;
}

static void h_sse(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bb_sse *s;
    if (bb_sse_start(req, res, on_sse_closed, NULL, &s) != 0) {
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    pthread_t t;
    pthread_create(&t, NULL, sse_thread, s);
    pthread_detach(t);
}

/* "kind uid claims" of the resolved identity. */
static void h_whoami(struct bb_http_request *req, struct bb_http_response *res)
{
    const struct bb_identity *id = &req->identity;
    char *claims = id->claims ? json_dumps(id->claims, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char out[512];
    int n = snprintf(out, sizeof out, "%s %s %s", bb_identity_kind_name(id->kind),
                     id->uid ? id->uid : "-", claims ? claims : "-");
    free(claims);
    bb_http_reply_copy(res, 200, "text/plain", out, (size_t)n);
}

static void h_header_xt(struct bb_http_request *req, struct bb_http_response *res)
{
    const char *v = bb_http_header(req, "X-T");
    const char *a = bb_http_header(req, "Authorization");
    char out[256];
    int n = snprintf(out, sizeof out, "xt=%s auth=%s body=%zu", v ? v : "(none)",
                     a ? a : "(none)", req->body_len);
    bb_http_reply_copy(res, 200, "text/plain", out, (size_t)n);
}

/* A resolver of the kind a service may add: "Bearer pat_good" is a PAT, other "pat_" bearers are
 * invalid, anything else is not its business. */
static int pat_resolver(void *arg, const struct bb_http_request *req, struct bb_identity *out,
                        struct bb_identity_reject *why)
{
    (void)arg;
    const char *a = bb_http_header(req, "Authorization");
    if (!a || strncmp(a, "Bearer pat_", 11) != 0) return BB_ENOTFOUND;
    if (strcmp(a + 11, "good") != 0) {
        why->code = "pat_unknown";
        why->msg = "unknown personal access token";
        return BB_EAUTH;
    }
    out->kind = BB_IDENTITY_PAT;
    out->uid = strdup("dev1");
    return out->uid ? 0 : BB_ENOMEM;
}

static const struct bb_identity_resolver pat = {"pat", pat_resolver, NULL};

static const struct bb_route routes[] = {
    {"GET", "/p/{projectId}/slow", h_slow, BB_AUTH_NONE, BB_ROUTE_POOL, 0, NULL},
    {"GET", "/whoami", h_whoami, BB_AUTH_INTERNAL, 0, 0, NULL},
    {"POST", "/whoami", h_whoami, BB_AUTH_INTERNAL, 0, 0, NULL},
    {"GET", "/whoami-public", h_whoami, BB_AUTH_NONE, 0, 0, NULL},
    {"GET", "/admin", h_whoami, BB_AUTH_INTERNAL_ADMIN, 0, 0, NULL},
    {"GET", "/pat", h_whoami, BB_IDENTITY_PAT, 0, 0, NULL},
    {"POST", "/xt", h_header_xt, BB_AUTH_NONE, 0, 0, NULL},
    {"POST", "/internal-echo", h_echo, BB_AUTH_INTERNAL, 0, 32u << 20, NULL},
    {"GET", "/hello", h_hello, BB_AUTH_NONE, 0, 0, NULL},
    {"POST", "/echo", h_echo, BB_AUTH_NONE, 0, 0, NULL},
    {"POST", "/small", h_echo, BB_AUTH_NONE, 0, 16, NULL},
    {"GET", "/v1/items/{id}", h_param, BB_AUTH_NONE, 0, 0, NULL},
    {"DELETE", "/v1/items/{id}", h_param, BB_AUTH_NONE, 0, 0, NULL},
    {"GET", "/v1/two/{a}/x/{b}", h_two_params, BB_AUTH_NONE, 0, 0, NULL},
    {"GET", "/slow", h_slow, BB_AUTH_NONE, BB_ROUTE_POOL, 0, NULL},
    {"GET", "/error", h_error, BB_AUTH_NONE, 0, 0, NULL},
    {"GET", "/internal", h_hello, BB_AUTH_INTERNAL, 0, 0, NULL},
    {"GET", "/sse", h_sse, BB_AUTH_NONE, BB_ROUTE_STREAM, 0, NULL},
};

static void on_drained(void *arg)
{
    struct fixture *f = arg;
    f->drained = 1;
    bb_http_server_free(f->srv);
    bb_pool_free(f->pool);
    uv_close((uv_handle_t *)&f->stop_async, NULL);
}

static void on_stop(uv_async_t *a)
{
    struct fixture *f = a->data;
    if (f->drain_instead_of_free) {
        bb_http_server_drain(f->srv, on_drained, f);
        return;
    }
    bb_http_server_free(f->srv);
    bb_pool_free(f->pool);
    uv_close((uv_handle_t *)&f->stop_async, NULL);
}

static void *loop_main(void *arg)
{
    struct fixture *f = arg;
    loop_thread_id = pthread_self();
    uv_loop_init(&f->loop);
    uv_async_init(&f->loop, &f->stop_async, on_stop);
    f->stop_async.data = f;
    bb_router_new(&f->router);
    bb_router_add(f->router, routes, sizeof routes / sizeof routes[0], f);
    bb_router_add_resolver(f->router, &pat);
    f->metrics = bb_metrics_new();
    bb_pool_new(&f->loop, f->pool_threads ? f->pool_threads : 4,
                (size_t)(f->pool_queue ? f->pool_queue : 64), &f->pool);
    struct bb_http_server_opts o = {.limits = f->limits,
                                    .router = f->router,
                                    .pool = f->pool,
                                    .metrics = f->metrics,
                                    .internal_token = "s3cret-token",
                                    .name = "test"};
    char err[200];
    int rc = bb_http_server_start(&f->loop, "127.0.0.1", 0, &o, &f->srv, err, sizeof err);
    pthread_mutex_lock(&f->mu);
    f->port = rc == 0 ? bb_http_server_port(f->srv) : -1;
    f->ready = 1;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    if (rc == 0) uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_loop_close(&f->loop);
    bb_router_free(f->router);
    bb_metrics_free(f->metrics);
    return NULL;
}

static struct fixture *start(const struct bb_http_limits *l)
{
    struct fixture *f = calloc(1, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    if (l) f->limits = *l;
    else bb_http_limits_default(&f->limits);
    return f;
}

static void run(struct fixture *f)
{
    pthread_create(&f->thread, NULL, loop_main, f);
    pthread_mutex_lock(&f->mu);
    while (!f->ready)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
    assert_true(f->port > 0);
}

static void stop(struct fixture *f)
{
    uv_async_send(&f->stop_async);
    pthread_join(f->thread, NULL);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}

/* ------------------------------------------------------------------ raw client */

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0) return; /* the server may close early (413/431): that is what we test */
        c += w, n -= (size_t)w;
    }
}

/* Reads until the peer closes, `want` complete responses arrived, or timeout. Returns bytes. */
static size_t recv_until(int fd, char *buf, size_t cap, int want, int timeout_ms, int *closed)
{
    size_t len = 0;
    *closed = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        /* count complete responses: header end + Content-Length */
        int complete = 0;
        size_t off = 0;
        for (;;) {
            char *he = memmem(buf + off, len - off, "\r\n\r\n", 4);
            if (!he) break;
            char *cl = memmem(buf + off, (size_t)(he - (buf + off)), "Content-Length: ", 16);
            size_t blen = cl ? (size_t)strtoul(cl + 16, NULL, 10) : 0;
            size_t end = (size_t)(he - buf) + 4 + blen;
            if (end > len) break;
            complete++;
            off = end;
        }
        if (want && complete >= want) break;
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (el >= timeout_ms) break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(timeout_ms - el)) <= 0) break;
        ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
        if (r <= 0) {
            *closed = 1;
            break;
        }
        len += (size_t)r;
        if (len >= cap - 1) break;
    }
    buf[len] = '\0';
    return len;
}

static int status_of(const char *resp)
{
    int st = 0;
    if (sscanf(resp, "HTTP/1.1 %d", &st) != 1) return -1;
    return st;
}

static char rbuf[1 << 20];

static int roundtrip_n(int port, const char *req, int *closed, int want, int timeout_ms)
{
    int fd = dial(port);
    send_all(fd, req, strlen(req));
    int c;
    recv_until(fd, rbuf, sizeof rbuf, want, timeout_ms, &c);
    if (closed) {
        /* a server that closes after answering: see the EOF */
        char tmp[16];
        struct pollfd p = {.fd = fd, .events = POLLIN};
        *closed = c || (poll(&p, 1, 1000) == 1 && recv(fd, tmp, sizeof tmp, 0) == 0);
    }
    close(fd);
    return status_of(rbuf);
}

static int roundtrip(int port, const char *req, int *closed)
{
    return roundtrip_n(port, req, closed, 1, 5000);
}

/* ------------------------------------------------------------------ tests */

static void test_basic_get_and_request_id(void **state)
{
    (void)state;
    struct fixture *f = start(NULL);
    run(f);
    assert_int_equal(roundtrip(f->port, "GET /hello?name=a%20b HTTP/1.1\r\nHost: x\r\n\r\n", NULL),
                     200);
    assert_non_null(strstr(rbuf, "\r\n\r\nhello a b"));
    assert_non_null(strstr(rbuf, "X-Request-Id: "));
    assert_non_null(strstr(rbuf, "Connection: keep-alive"));
    assert_int_equal(
        roundtrip(f->port, "GET /hello HTTP/1.1\r\nX-Request-Id: abc-123\r\n\r\n", NULL), 200);
    assert_non_null(strstr(rbuf, "X-Request-Id: abc-123\r\n"));
    /* an unsafe request id is replaced, never echoed */
    assert_int_equal(
        roundtrip(f->port, "GET /hello HTTP/1.1\r\nX-Request-Id: a b<c>\r\n\r\n", NULL), 200);
    assert_null(strstr(rbuf, "a b<c>"));
    /* HEAD: headers only */
    assert_int_equal(roundtrip_n(f->port, "HEAD /hello HTTP/1.1\r\n\r\n", NULL, 0, 300), 200);
    assert_non_null(strstr(rbuf, "Content-Length: 11\r\n"));
    assert_null(strstr(rbuf, "hello world"));
    /* HTTP/1.0 without keep-alive closes */
    int closed;
    assert_int_equal(roundtrip(f->port, "GET /hello HTTP/1.0\r\n\r\n", &closed), 200);
    assert_true(closed);
    stop(f);
}

static void test_404_405_json(void **state)
{
    (void)state;
    struct fixture *f = start(NULL);
    run(f);
    assert_int_equal(roundtrip(f->port, "GET /nope HTTP/1.1\r\n\r\n", NULL), 404);
    assert_non_null(strstr(rbuf, "\"code\":\"not_found\""));
    assert_non_null(strstr(rbuf, "Content-Type: application/json"));
    assert_int_equal(roundtrip(f->port, "PUT /v1/items/7 HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                               NULL),
                     405);
    assert_non_null(strstr(rbuf, "Allow: GET, DELETE\r\n"));
    assert_non_null(strstr(rbuf, "\"code\":\"method_not_allowed\""));
    assert_int_equal(roundtrip(f->port, "GET /error HTTP/1.1\r\n\r\n", NULL), 409);
    assert_non_null(strstr(rbuf, "{\"error\":\"duplicate thing\",\"code\":\"already_exists\"}"));
    stop(f);
}

static void test_params_and_api_alias(void **state)
{
    (void)state;
    struct fixture *f = start(NULL);
    run(f);
    assert_int_equal(roundtrip(f->port, "GET /v1/items/a%20b%2Fc HTTP/1.1\r\n\r\n", NULL), 200);
    assert_non_null(strstr(rbuf, "\r\n\r\na b/c"));
    /* decoding params leaves the request path intact; a bad escape gives no value */
    assert_int_equal(roundtrip(f->port, "GET /v1/two/p%41/x/q%2fr HTTP/1.1\r\n\r\n", NULL), 200);
    assert_non_null(strstr(rbuf, "\r\n\r\npA|q/r|/v1/two/p%41/x/q%2fr|1"));
    assert_int_equal(roundtrip(f->port, "GET /v1/two/%zz/x/%00 HTTP/1.1\r\n\r\n", NULL), 200);
    assert_non_null(strstr(rbuf, "\r\n\r\n-|-|"));
    assert_int_equal(roundtrip(f->port, "DELETE /api/items/z HTTP/1.1\r\n\r\n", NULL), 200);
    assert_non_null(strstr(rbuf, "\r\n\r\nz"));
    stop(f);
}

static void test_header_limit_431(void **state)
{
    (void)state;
    struct bb_http_limits l;
    bb_http_limits_default(&l);
    l.max_header_bytes = 1024;
    struct fixture *f = start(&l);
    run(f);
    char req[4096];
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nX-Big: %s\r\n\r\n", big);
    int closed;
    assert_int_equal(roundtrip(f->port, req, &closed), 431);
    assert_non_null(strstr(rbuf, "\"code\":\"headers_too_large\""));
    assert_true(closed);
    /* just under the limit is fine */
    big[900] = '\0';
    snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nX-Big: %s\r\n\r\n", big);
    assert_int_equal(roundtrip(f->port, req, NULL), 200);
    stop(f);
}

static void test_body_limits_413(void **state)
{
    (void)state;
    struct bb_http_limits l;
    bb_http_limits_default(&l);
    l.max_body_bytes = 1000;
    struct fixture *f = start(&l);
    run(f);
    /* declared length over the server limit: refused before reading the body */
    assert_int_equal(roundtrip(f->port, "POST /echo HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", NULL),
                     413);
    assert_non_null(strstr(rbuf, "\"code\":\"payload_too_large\""));
    /* route-specific limit (16 bytes) */
    assert_int_equal(
        roundtrip(f->port, "POST /small HTTP/1.1\r\nContent-Length: 20\r\n\r\n01234567890123456789",
                  NULL),
        413);
    assert_int_equal(
        roundtrip(f->port, "POST /small HTTP/1.1\r\nContent-Length: 16\r\n\r\n0123456789012345",
                  NULL),
        200);
    /* chunked body growing past the limit */
    char req[4096];
    char chunk[600];
    memset(chunk, 'x', sizeof chunk);
    int n = snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        n += snprintf(req + n, sizeof req - (size_t)n, "258\r\n%.*s\r\n", 600, chunk);
    }
    snprintf(req + n, sizeof req - (size_t)n, "0\r\n\r\n");
    int closed;
    assert_int_equal(roundtrip(f->port, req, &closed), 413);
    assert_true(closed);
    stop(f);
}

static void test_chunked_body(void **state)
{
    (void)state;
    struct fixture *f = start(NULL);
    run(f);
    assert_int_equal(roundtrip(f->port,
                               "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                               NULL),
                     200);
    assert_non_null(strstr(rbuf, "Content-Length: 11\r\n"));
    assert_non_null(strstr(rbuf, "\r\n\r\nhello world"));
    stop(f);
}

static void test_pipelining_in_order(void **state)
{
    (void)state;
    struct fixture *f = start(NULL);
    run(f);
    int fd = dial(f->port);
    const char *reqs = "GET /slow?ms=150 HTTP/1.1\r\n\r\n"
                       "GET /hello?name=two HTTP/1.1\r\n\r\n"
                       "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nthree"
                       "GET /v1/items/four HTTP/1.1\r\n\r\n";
    send_all(fd, reqs, strlen(reqs));
    int closed;
    recv_until(fd, rbuf, sizeof rbuf, 4, 5000, &closed);
    close(fd);
    char *a = strstr(rbuf, "\r\n\r\nslow");
    char *b = strstr(rbuf, "\r\n\r\nhello two");
    char *c = strstr(rbuf, "\r\n\r\nthree");
    char *d = strstr(rbuf, "\r\n\r\nfour");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_non_null(d);
    assert_true(a < b && b < c && c < d);
    stop(f);
}

static void test_request_timeout_408(void **state)
{
    (void)state;
    struct bb_http_limits l;
    bb_http_limits_default(&l);
    l.request_timeout_ms = 300;
    struct fixture *f = start(&l);
    run(f);
    int fd = dial(f->port);
    send_all(fd, "GET /hel", 8); /* slow loris: never finishes */
    usleep(100000);
    send_all(fd, "lo HTTP/1.1\r\nX-A:", 17);
    int closed;
    recv_until(fd, rbuf, sizeof rbuf, 1, 3000, &closed);
    assert_int_equal(status_of(rbuf), 408);
    assert_non_null(strstr(rbuf, "\"code\":\"timeout\""));
    assert_non_null(strstr(rbuf, "Connection: close"));
    recv_until(fd, rbuf, sizeof rbuf, 0, 2000, &closed);
    assert_true(closed);
    close(fd);
    stop(f);
}

static void test_idle_timeout_closes(void **state)
{
    (void)state;
    struct bb_http_limits l;
    bb_http_limits_default(&l);
    l.idle_timeout_ms = 200;
    struct fixture *f = start(&l);
    run(f);
    int fd = dial(f->port);
    send_all(fd, "GET /hello HTTP/1.1\r\n\r\n", 23);
    int closed;
    recv_until(fd, rbuf, sizeof rbuf, 1, 2000, &closed);
    assert_int_equal(status_of(rbuf), 200);
    assert_false(closed);
    /* nothing more: the server closes the idle keep-alive connection, without a response */
    size_t n = recv_until(fd, rbuf, sizeof rbuf, 0, 2000, &closed);
    assert_true(closed);
    assert_int_equal(n, 0);
    close(fd);
    stop(f);
}

static void test_malformed_400(void **state)
{
    (void)state;
    struct fixture *f = start(NULL);
    run(f);
    int closed;
    assert_int_equal(roundtrip(f->port, "GARBAGE\r\n\r\n", &closed), 400);
    assert_non_null(strstr(rbuf, "\"code\":\"bad_request\""));
    assert_true(closed);
    assert_int_equal(roundtrip(f->port, "GET http://absolute/x HTTP/1.1\r\n\r\n", NULL), 400);
    assert_int_equal(
        roundtrip(f->port, "POST /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                  NULL),
        400);
    /* still serving */
    assert_int_equal(roundtrip(f->port, "GET /hello HTTP/1.1\r\n\r\n", NULL), 200);
    stop(f);
}

static void test_internal_auth(void **state)
{
    (void)state;
    struct fixture *f = start(NULL);
    run(f);
    assert_int_equal(roundtrip(f->port, "GET /internal HTTP/1.1\r\n\r\n", NULL), 401);
    assert_non_null(strstr(rbuf, "\"code\":\"unauthenticated\""));
    assert_int_equal(
        roundtrip(f->port, "GET /internal HTTP/1.1\r\nAuthorization: Bearer wrong\r\n\r\n", NULL),
        401);
    assert_int_equal(
        roundtrip(f->port, "GET /internal HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\n\r\n",
                  NULL),
        200);
    stop(f);
}

static void test_pool_runs_off_loop_and_overload_503(void **state)
{
    (void)state;
    struct fixture *f = start(NULL);
    f->pool_threads = 1;
    f->pool_queue = 1;
    run(f);
    worker_ran_off_loop = 0;
    int fds[4];
    for (int i = 0; i < 4; i++) {
        fds[i] = dial(f->port);
        send_all(fds[i], "GET /slow?ms=300 HTTP/1.1\r\n\r\n", 30);
        usleep(30000);
    }
    int ok = 0, busy = 0, closed;
    for (int i = 0; i < 4; i++) {
        recv_until(fds[i], rbuf, sizeof rbuf, 1, 5000, &closed);
        int st = status_of(rbuf);
        if (st == 200) ok++;
        if (st == 503) {
            busy++;
            assert_non_null(strstr(rbuf, "\"code\":\"overloaded\""));
        }
        close(fds[i]);
    }
    assert_int_equal(ok, 2); /* one running + one queued */
    assert_int_equal(busy, 2);
    assert_true(worker_ran_off_loop);
    stop(f);
}

static void test_sse_stream(void **state)
{
    (void)state;
    struct bb_http_limits l;
    bb_http_limits_default(&l);
    l.sse_heartbeat_ms = 100;
    struct fixture *f = start(&l);
    run(f);
    sse_closed_calls = 0;
    int fd = dial(f->port);
    send_all(fd, "GET /sse HTTP/1.1\r\n\r\n", 21);
    size_t len = 0;
    int closed = 0;
    for (int i = 0; i < 50 && !strstr(rbuf, ": heartbeat"); i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) != 1) continue;
        ssize_t r = recv(fd, rbuf + len, sizeof rbuf - len - 1, 0);
        if (r <= 0) break;
        len += (size_t)r;
        rbuf[len] = '\0';
    }
    (void)closed;
    assert_int_equal(status_of(rbuf), 200);
    assert_non_null(strstr(rbuf, "Content-Type: text/event-stream"));
    assert_null(strstr(rbuf, "Content-Length"));
    assert_non_null(strstr(rbuf, "id: 1\nevent: greeting\ndata: first\ndata: second\n\n"));
    assert_non_null(strstr(rbuf, "id: 2\ndata: plain\n\n"));
    assert_non_null(strstr(rbuf, ": heartbeat\n\n"));
    /* client disconnects: the owner hears about it on the loop */
    close(fd);
    for (int i = 0; i < 100 && !sse_closed_calls; i++)
        usleep(10000);
    assert_int_equal(sse_closed_calls, 1);
    stop(f);
}

static void test_drain_finishes_inflight(void **state)
{
    (void)state;
    struct fixture *f = start(NULL);
    f->drain_instead_of_free = 1;
    run(f);
    int busy = dial(f->port);
    send_all(busy, "GET /slow?ms=400 HTTP/1.1\r\n\r\n", 30);
    int idle = dial(f->port);
    usleep(100000);
    uv_async_send(&f->stop_async); /* drain while /slow is running */
    int closed;
    recv_until(idle, rbuf, sizeof rbuf, 0, 2000, &closed);
    assert_true(closed); /* idle connection closed at once */
    recv_until(busy, rbuf, sizeof rbuf, 1, 3000, &closed);
    assert_int_equal(status_of(rbuf), 200);
    assert_non_null(strstr(rbuf, "Connection: close"));
    close(busy);
    close(idle);
    pthread_join(f->thread, NULL);
    assert_true(f->drained);
    /* nothing listens any more */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_not_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    close(fd);
    free(f);
}

static void test_max_connections(void **state)
{
    (void)state;
    struct bb_http_limits l;
    bb_http_limits_default(&l);
    l.max_connections = 2;
    struct fixture *f = start(&l);
    run(f);
    int a = dial(f->port), b = dial(f->port);
    usleep(50000);
    int c = dial(f->port);
    int closed;
    recv_until(c, rbuf, sizeof rbuf, 0, 2000, &closed);
    assert_true(closed);
    send_all(a, "GET /hello HTTP/1.1\r\n\r\n", 23);
    recv_until(a, rbuf, sizeof rbuf, 1, 2000, &closed);
    assert_int_equal(status_of(rbuf), 200);
    close(a);
    close(b);
    close(c);
    stop(f);
}

static void test_metrics_recorded(void **state)
{
    (void)state;
    struct fixture *f = start(NULL);
    run(f);
    for (int i = 0; i < 3; i++)
        roundtrip(f->port, "GET /hello HTTP/1.1\r\n\r\n", NULL);
    roundtrip(f->port, "GET /nope HTTP/1.1\r\n\r\n", NULL);
    char *text;
    size_t len;
    assert_int_equal(bb_metrics_render(f->metrics, &text, &len), 0);
    assert_non_null(
        strstr(text, "bunbase_http_requests_total{route=\"/hello\",method=\"GET\",status=\"200\"} 3"));
    assert_non_null(strstr(
        text, "bunbase_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1"));
    assert_non_null(strstr(text, "bunbase_http_request_duration_seconds_count{route=\"/hello\"} 3"));
    free(text);
    stop(f);
}

struct flood {
    int fd;
    int n;
};

static void *flood_main(void *arg)
{
    struct flood *fl = arg;
    const char *req = "GET /hello HTTP/1.1\r\n\r\n";
    for (int i = 0; i < fl->n; i++)
        send_all(fl->fd, req, strlen(req));
    return NULL;
}

/* A client that pipelines far more than it reads: the server stops reading at its write
 * high-water mark and resumes when the client catches up; every answer arrives, in order. */
static void test_pipelining_backpressure(void **state)
{
    (void)state;
    struct fixture *f = start(NULL);
    run(f);
    struct flood fl = {.fd = dial(f->port), .n = 30000};
    pthread_t t;
    pthread_create(&t, NULL, flood_main, &fl);
    usleep(500000); /* let the server hit its high-water mark while nobody reads */
    static char buf[1 << 16];
    size_t carry = 0;
    int seen = 0;
    const char *needle = "\r\n\r\nhello world";
    size_t nl = strlen(needle);
    for (int idle = 0; seen < fl.n && idle < 50;) {
        struct pollfd p = {.fd = fl.fd, .events = POLLIN};
        if (poll(&p, 1, 100) != 1) {
            idle++;
            continue;
        }
        ssize_t r = recv(fl.fd, buf + carry, sizeof buf - carry - 1, 0);
        if (r <= 0) break;
        size_t len = carry + (size_t)r;
        buf[len] = '\0';
        char *q = buf;
        while ((q = memmem(q, len - (size_t)(q - buf), needle, nl))) {
            seen++;
            q += nl;
        }
        carry = len < nl ? len : nl - 1; /* keep a tail that may hold a split needle */
        memmove(buf, buf + len - carry, carry);
    }
    pthread_join(t, NULL);
    close(fl.fd);
    assert_int_equal(seen, fl.n);
    stop(f);
}

static int local_id(struct bb_router *r, const char *method, const char *url, const char *auth,
                    const char *identity, const char *body, struct bb_http_response **res)
{
    struct bb_http_header h[2];
    size_t n = 0;
    if (auth) h[n++] = (struct bb_http_header){"Authorization", (char *)auth};
    if (identity) h[n++] = (struct bb_http_header){"X-Bunbase-Identity", (char *)identity};
    struct bb_http_local_request lr = {method, url, h, n, body, body ? strlen(body) : 0};
    assert_int_equal(bb_http_dispatch_local(r, 1000, "s3cret-token", &lr, res), 0);
    return (*res)->status;
}

static int local(struct bb_router *r, const char *method, const char *url, const char *auth,
                 const char *body, struct bb_http_response **res)
{
    struct bb_http_header h[1] = {{"Authorization", (char *)auth}};
    struct bb_http_local_request lr = {method, url, h, auth ? 1 : 0, body, body ? strlen(body) : 0};
    assert_int_equal(bb_http_dispatch_local(r, 1000, "s3cret-token", &lr, res), 0);
    return (*res)->status;
}

/* In-process dispatch (the RPC transports): same routes, auth, limits and errors as HTTP. */
static void test_dispatch_local(void **state)
{
    (void)state;
    struct bb_router *r;
    bb_router_new(&r);
    bb_router_add(r, routes, sizeof routes / sizeof routes[0], NULL);
    struct bb_http_response *res;
    assert_int_equal(local(r, "GET", "/hello?name=rpc", NULL, NULL, &res), 200);
    assert_memory_equal(res->body, "hello rpc", 9);
    bb_http_response_free(res);
    assert_int_equal(local(r, "GET", "/api/items/a%20b", NULL, NULL, &res), 200); /* alias */
    bb_http_response_free(res);
    assert_int_equal(local(r, "GET", "/v1/items/a%20b", NULL, NULL, &res), 200);
    assert_memory_equal(res->body, "a b", 3);
    bb_http_response_free(res);
    assert_int_equal(local(r, "PUT", "/v1/items/x", NULL, NULL, &res), 405);
    bb_http_response_free(res);
    assert_int_equal(local(r, "BREW", "/hello", NULL, NULL, &res), 400);
    bb_http_response_free(res);
    assert_int_equal(local(r, "GET", "/nope", NULL, NULL, &res), 404);
    bb_http_response_free(res);
    assert_int_equal(local(r, "GET", "relative", NULL, NULL, &res), 400);
    bb_http_response_free(res);
    assert_int_equal(local(r, "GET", "/internal", NULL, NULL, &res), 401);
    bb_http_response_free(res);
    assert_int_equal(local(r, "GET", "/internal", "Bearer wrong", NULL, &res), 401);
    bb_http_response_free(res);
    assert_int_equal(local(r, "GET", "/internal", "Bearer s3cret-token", NULL, &res), 200);
    bb_http_response_free(res);
    assert_int_equal(local(r, "POST", "/small", NULL, "01234567890123456789", &res), 413);
    bb_http_response_free(res);
    assert_int_equal(local(r, "POST", "/echo", NULL, "abc", &res), 200);
    assert_int_equal(res->body_len, 3);
    bb_http_response_free(res);
    assert_int_equal(local(r, "GET", "/sse", NULL, NULL, &res), 400); /* streams: HTTP only */
    bb_http_response_free(res);
    bb_router_free(r);
}

/* bb_http_dispatch_local_on_loop (the gateway's loop-first GETs): only a loop-first target runs,
 * with on_loop set; a target that defers, or is not loop-first, comes back deferred and empty;
 * answers decided before the handler are given as on the pool. */
static void h_loop_try(struct bb_http_request *req, struct bb_http_response *res)
{
    char buf[8];
    if (req->on_loop && bb_http_query(req, "defer", buf, sizeof buf)) {
        bb_http_defer(res);
        return;
    }
    bb_http_reply_copy(res, 200, "text/plain", req->on_loop ? "loop" : "pool", 4);
}

static void test_dispatch_local_on_loop(void **state)
{
    (void)state;
    static const struct bb_route lr_routes[] = {
        {"GET", "/first", h_loop_try, BB_AUTH_INTERNAL, BB_ROUTE_POOL | BB_ROUTE_LOOP_FIRST, 0,
         NULL},
        {"GET", "/pool", h_loop_try, BB_AUTH_INTERNAL, BB_ROUTE_POOL, 0, NULL},
    };
    struct bb_router *r;
    bb_router_new(&r);
    bb_router_add(r, lr_routes, 2, NULL);
    struct bb_http_header h[1] = {{"Authorization", "Bearer s3cret-token"}};
    static const char *const urls[] = {"/first", "/first?defer=1", "/pool", "/nope"};
    static const int loop_status[] = {200, 0, 0, 404}, loop_deferred[] = {0, 1, 1, 0};
    for (size_t i = 0; i < 4; i++) {
        struct bb_http_local_request lr = {"GET", urls[i], h, 1, NULL, 0};
        struct bb_http_response *res = NULL;
        assert_int_equal(bb_http_dispatch_local_on_loop(r, 1000, "s3cret-token", &lr, &res), 0);
        assert_int_equal(res->deferred, loop_deferred[i]);
        assert_int_equal(res->status, loop_status[i]);
        if (i == 0) assert_memory_equal(res->body, "loop", 4);
        if (loop_deferred[i]) assert_int_equal(res->nheaders, 0);
        bb_http_response_free(res);
        /* the pool's call runs every handler with on_loop 0 */
        assert_int_equal(bb_http_dispatch_local(r, 1000, "s3cret-token", &lr, &res), 0);
        assert_int_equal(res->deferred, 0);
        assert_int_equal(res->status, i == 3 ? 404 : 200);
        if (i < 3) assert_memory_equal(res->body, "pool", 4);
        bb_http_response_free(res);
    }
    struct bb_http_local_request bad = {"GET", "/first", NULL, 0, NULL, 0}; /* no token: 401 */
    struct bb_http_response *res = NULL;
    assert_int_equal(bb_http_dispatch_local_on_loop(r, 1000, "s3cret-token", &bad, &res), 0);
    assert_int_equal(res->status, 401);
    assert_int_equal(res->deferred, 0);
    bb_http_response_free(res);
    bb_router_free(r);
}

/* bb_http_redispatch: a front route hands its request to a route of another router (the
 * gateway's subscriptions). ?to= is the new target, ?as= the identity given. */
static struct bb_router *redispatch_back;

static void h_front(struct bb_http_request *req, struct bb_http_response *res)
{
    char to[256], as[32];
    const char *t = bb_http_query(req, "to", to, sizeof to);
    const char *a = bb_http_query(req, "as", as, sizeof as);
    (void)bb_http_param(req, "x"); /* decoded for the front route: must not leak to the back one */
    struct bb_identity id = {0};
    id.kind = a && !strcmp(a, "admin") ? BB_IDENTITY_INTERNAL_ADMIN : BB_IDENTITY_INTERNAL_END_USER;
    if (a && !strcmp(a, "user")) id.uid = strdup("u7");
    bb_http_redispatch(req, res, redispatch_back, t ? t : "", &id);
    assert_null(id.uid); /* moved into the request, or released */
}

static const struct bb_route front_routes[] = {
    {"GET", "/front/{x}", h_front, BB_AUTH_NONE, 0, 0, NULL},
    {"PUT", "/front/{x}", h_front, BB_AUTH_NONE, 0, 0, NULL},
};

static void test_redispatch(void **state)
{
    (void)state;
    struct bb_router *front;
    bb_router_new(&front);
    bb_router_add(front, front_routes, 2, NULL);
    bb_router_new(&redispatch_back);
    bb_router_add(redispatch_back, routes, sizeof routes / sizeof routes[0], NULL);
    struct bb_http_response *res;
    /* the back route's parameters come from the new path (decoded anew) */
    assert_int_equal(local(front, "GET", "/front/a%20b?to=%2Fv1%2Fitems%2Fc%252Fd&as=admin", NULL,
                           NULL, &res),
                     200);
    assert_int_equal(res->body_len, 3);
    assert_memory_equal(res->body, "c/d", 3);
    bb_http_response_free(res);
    /* the query string is the new target's */
    assert_int_equal(local(front, "GET", "/front/x?to=%2Fhello%3Fname%3Dzed", NULL, NULL, &res),
                     200);
    assert_memory_equal(res->body, "hello zed", 9);
    bb_http_response_free(res);
    /* the identity given, checked against the back route's mask */
    assert_int_equal(local(front, "GET", "/front/x?to=%2Fwhoami&as=user", NULL, NULL, &res), 200);
    assert_memory_equal(res->body, "internal-end-user u7 -", 22);
    bb_http_response_free(res);
    assert_int_equal(local(front, "GET", "/front/x?to=%2Fadmin&as=admin", NULL, NULL, &res), 200);
    bb_http_response_free(res);
    assert_int_equal(local(front, "GET", "/front/x?to=%2Fadmin&as=user", NULL, NULL, &res), 403);
    bb_http_response_free(res);
    /* no such route, method, or a relative target: an error answer, identity released */
    assert_int_equal(local(front, "GET", "/front/x?to=%2Fnope&as=user", NULL, NULL, &res), 404);
    bb_http_response_free(res);
    assert_int_equal(local(front, "PUT", "/front/x?to=%2Fv1%2Fitems%2Fy&as=user", NULL, NULL, &res),
                     405);
    bb_http_response_free(res);
    assert_int_equal(local(front, "GET", "/front/x?to=relative&as=user", NULL, NULL, &res), 400);
    bb_http_response_free(res);
    bb_router_free(redispatch_back);
    bb_router_free(front);
}

static void test_parse_for_test(void **state)
{
    (void)state;
    struct bb_router *r;
    bb_router_new(&r);
    bb_router_add(r, routes, sizeof routes / sizeof routes[0], NULL);
    struct bb_http_limits l;
    bb_http_limits_default(&l);
    l.max_body_bytes = 10;
    const char *ok = "GET /hello HTTP/1.1\r\n\r\n";
    assert_int_equal(bb_http_parse_for_test(ok, strlen(ok), &l, r), 200);
    const char *big = "POST /echo HTTP/1.1\r\nContent-Length: 11\r\n\r\n01234567890";
    assert_int_equal(bb_http_parse_for_test(big, strlen(big), &l, r), 413);
    const char *nf = "GET /x HTTP/1.1\r\n\r\n";
    assert_int_equal(bb_http_parse_for_test(nf, strlen(nf), &l, r), 404);
    bb_router_free(r);
}


/* ------------------------------------------------------------------ identity, early auth, strictness */

#define TOK "Authorization: Bearer s3cret-token\r\n"

static int get_with(int port, const char *path, const char *extra_headers)
{
    char req[2048];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", path, extra_headers);
    return roundtrip(port, req, NULL);
}

static const char *body_of(void)
{
    const char *b = strstr(rbuf, "\r\n\r\n");
    return b ? b + 4 : "";
}

/* The internal resolver's table (bb_identity.h), the route masks (401 vs 403) and a registered
 * resolver, over HTTP. */
static void test_identity_over_http(void **state)
{
    (void)state;
    struct fixture *f = start(NULL);
    run(f);
    assert_int_equal(get_with(f->port, "/whoami", ""), 401);
    assert_int_equal(get_with(f->port, "/whoami", "Authorization: Bearer wrong\r\n"), 401);
    assert_int_equal(get_with(f->port, "/whoami", TOK), 200);
    assert_string_equal(body_of(), "internal-service - -");
    assert_int_equal(get_with(f->port, "/whoami", TOK "X-Bunbase-Identity: admin\r\n"), 200);
    assert_string_equal(body_of(), "internal-admin - -");
    assert_int_equal(get_with(f->port, "/whoami", TOK "X-Bunbase-Identity: anonymous\r\n"), 200);
    assert_string_equal(body_of(), "internal-end-user - -");
    assert_int_equal(get_with(f->port, "/whoami",
                              TOK "X-Bunbase-Identity: {\"uid\":\"u1\",\"claims\":{\"r\":1}}\r\n"),
                     200);
    assert_string_equal(body_of(), "internal-end-user u1 {\"r\":1}");
    assert_int_equal(get_with(f->port, "/whoami", TOK "X-Bunbase-Identity: {\"uid\":\"u2\"}\r\n"),
                     200);
    assert_string_equal(body_of(), "internal-end-user u2 {}");
    /* malformed identity, or an identity without the token: 401 even on a public route */
    assert_int_equal(get_with(f->port, "/whoami", TOK "X-Bunbase-Identity: root\r\n"), 401);
    assert_int_equal(get_with(f->port, "/whoami", TOK "X-Bunbase-Identity: {\"claims\":{}}\r\n"),
                     401);
    assert_int_equal(get_with(f->port, "/whoami-public", "X-Bunbase-Identity: admin\r\n"), 401);
    assert_non_null(strstr(rbuf, "needs the internal token"));
    assert_int_equal(get_with(f->port, "/whoami-public", ""), 200);
    assert_string_equal(body_of(), "anonymous - -");
    /* admin-only route: another internal identity is 403, none is 401 */
    assert_int_equal(get_with(f->port, "/admin", TOK "X-Bunbase-Identity: admin\r\n"), 200);
    assert_int_equal(get_with(f->port, "/admin", TOK), 403);
    assert_non_null(strstr(rbuf, "\"code\":\"forbidden\""));
    assert_int_equal(get_with(f->port, "/admin", ""), 401);
    /* the registered resolver */
    assert_int_equal(get_with(f->port, "/pat", "Authorization: Bearer pat_good\r\n"), 200);
    assert_string_equal(body_of(), "pat dev1 -");
    assert_int_equal(get_with(f->port, "/pat", "Authorization: Bearer pat_bad\r\n"), 401);
    assert_non_null(strstr(rbuf, "unknown personal access token"));
    assert_non_null(strstr(rbuf, "\"code\":\"pat_unknown\""));
    assert_int_equal(get_with(f->port, "/pat", TOK), 403);
    assert_int_equal(get_with(f->port, "/pat", ""), 401);
    assert_int_equal(get_with(f->port, "/whoami", "Authorization: Bearer pat_good\r\n"), 403);
    /* a refused request without a body keeps the connection: pipelined answers stay in order */
    int fd = dial(f->port), closed;
    const char *two = "GET /whoami HTTP/1.1\r\n\r\nGET /admin HTTP/1.1\r\n" TOK "\r\n"
                      "GET /hello HTTP/1.1\r\n\r\n";
    send_all(fd, two, strlen(two));
    recv_until(fd, rbuf, sizeof rbuf, 3, 3000, &closed);
    assert_false(closed);
    assert_int_equal(status_of(rbuf), 401);
    char *second = strstr(rbuf + 1, "HTTP/1.1 ");
    assert_non_null(second);
    assert_int_equal(status_of(second), 403);
    assert_non_null(strstr(second + 1, "HTTP/1.1 200"));
    assert_non_null(strstr(rbuf, "hello world"));
    close(fd);
    stop(f);
}

/* 401 arrives while the client has sent only headers announcing 15 MiB; nothing is buffered. */
static void test_auth_before_body(void **state)
{
    (void)state;
    struct fixture *f = start(NULL);
    run(f);
    int fds[20];
    for (int i = 0; i < 20; i++) {
        fds[i] = dial(f->port);
        const char *h = "POST /internal-echo HTTP/1.1\r\nHost: x\r\nContent-Length: 15728640\r\n\r\n";
        send_all(fds[i], h, strlen(h));
    }
    for (int i = 0; i < 20; i++) {
        int closed;
        recv_until(fds[i], rbuf, sizeof rbuf, 1, 3000, &closed);
        assert_int_equal(status_of(rbuf), 401);
        assert_non_null(strstr(rbuf, "Connection: close"));
        close(fds[i]);
    }
    /* chunked, and a wrong token: the same */
    int fd = dial(f->port);
    const char *h = "POST /internal-echo HTTP/1.1\r\nAuthorization: Bearer nope\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n";
    send_all(fd, h, strlen(h));
    int closed;
    recv_until(fd, rbuf, sizeof rbuf, 1, 3000, &closed);
    assert_int_equal(status_of(rbuf), 401);
    close(fd);
    stop(f);
}

/* Expect: 100-continue: 100 once authorized, then the answer; an unauthorized request gets the
 * final 401 and never a 100. */
static void test_expect_100_continue(void **state)
{
    (void)state;
    struct fixture *f = start(NULL);
    run(f);
    int fd = dial(f->port), closed;
    const char *h = "POST /internal-echo HTTP/1.1\r\n" TOK "Content-Length: 3\r\n"
                    "Expect: 100-continue\r\n\r\n";
    send_all(fd, h, strlen(h));
    recv_until(fd, rbuf, sizeof rbuf, 1, 3000, &closed);
    assert_string_equal(rbuf, "HTTP/1.1 100 Continue\r\n\r\n");
    send_all(fd, "abc", 3);
    recv_until(fd, rbuf, sizeof rbuf, 1, 3000, &closed);
    assert_int_equal(status_of(rbuf), 200);
    assert_string_equal(body_of(), "abc");
    close(fd);

    fd = dial(f->port);
    h = "POST /internal-echo HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n";
    send_all(fd, h, strlen(h));
    recv_until(fd, rbuf, sizeof rbuf, 1, 3000, &closed);
    assert_int_equal(status_of(rbuf), 401);
    assert_null(strstr(rbuf, "100 Continue"));
    close(fd);
    /* too large: 413 without 100 */
    fd = dial(f->port);
    h = "POST /small HTTP/1.1\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n";
    send_all(fd, h, strlen(h));
    recv_until(fd, rbuf, sizeof rbuf, 1, 3000, &closed);
    assert_int_equal(status_of(rbuf), 413);
    assert_null(strstr(rbuf, "100 Continue"));
    close(fd);
    stop(f);
}

/* Trailer fields never become headers: not for the handler, not for authentication. */
static void test_trailers_not_merged(void **state)
{
    (void)state;
    struct fixture *f = start(NULL);
    run(f);
    int closed;
    assert_int_equal(roundtrip(f->port,
                               "POST /xt HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "3\r\nabc\r\n0\r\nX-T: evil\r\nAuthorization: Bearer s3cret-token\r\n"
                               "\r\n",
                               &closed),
                     200);
    assert_string_equal(body_of(), "xt=(none) auth=(none) body=3");
    assert_int_equal(roundtrip(f->port,
                               "POST /whoami HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "3\r\nabc\r\n0\r\nAuthorization: Bearer s3cret-token\r\n"
                               "X-Bunbase-Identity: admin\r\n\r\n",
                               &closed),
                     401);
    /* the connection stays usable after a trailer */
    int fd = dial(f->port);
    const char *two = "POST /xt HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n"
                      "X-T: t\r\n\r\nPOST /xt HTTP/1.1\r\nX-T: real\r\nContent-Length: 0\r\n\r\n";
    send_all(fd, two, strlen(two));
    recv_until(fd, rbuf, sizeof rbuf, 2, 3000, &closed);
    assert_non_null(strstr(rbuf, "xt=(none) auth=(none) body=1"));
    assert_non_null(strstr(rbuf, "xt=real auth=(none) body=0"));
    close(fd);
    stop(f);
}

/* Sends req one byte at a time (each its own segment) and returns the status. */
static int trickle(int port, const char *req)
{
    int fd = dial(port), one = 1, closed;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (const char *p = req; *p; p++) {
        send_all(fd, p, 1);
        usleep(300);
    }
    recv_until(fd, rbuf, sizeof rbuf, 1, 3000, &closed);
    close(fd);
    return status_of(rbuf);
}

/* obs-fold and whitespace before the colon are 400 (RFC 9112); a value split across reads is not
 * mistaken for a fold. */
static void test_obs_fold_and_space_before_colon(void **state)
{
    (void)state;
    struct fixture *f = start(NULL);
    run(f);
    int closed;
    assert_int_equal(roundtrip(f->port, "GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
                               &closed),
                     400);
    assert_non_null(strstr(rbuf, "folding"));
    assert_true(closed);
    assert_int_equal(
        roundtrip(f->port, "GET /hello HTTP/1.1\r\nX-A: a\r\n\tb\r\nHost: x\r\n\r\n", NULL), 400);
    assert_int_equal(roundtrip(f->port, "GET /hello HTTP/1.1\r\nX-A:\r\n b\r\n\r\n", NULL), 400);
    assert_int_equal(roundtrip(f->port, "GET /hello HTTP/1.1\r\nHost : x\r\n\r\n", NULL), 400);
    assert_non_null(strstr(rbuf, "colon"));
    assert_int_equal(roundtrip(f->port, "GET /hello HTTP/1.1\r\nX-Bad Name: x\r\n\r\n", NULL),
                     400);
    /* byte by byte: a legitimate request passes, a folded one still fails */
    assert_int_equal(trickle(f->port, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Long: abc def  g\r\n"
                                      "X-Empty:\r\nX-B:   v\r\n\r\n"),
                     200);
    assert_int_equal(trickle(f->port, "GET /hello HTTP/1.1\r\nX-A: abc\r\n   def\r\n\r\n"), 400);
    assert_int_equal(trickle(f->port, "GET /hello HTTP/1.1\r\nX-A:\r\n def\r\n\r\n"), 400);
    assert_int_equal(trickle(f->port, "GET /hello HTTP/1.1\r\nHost : x\r\n\r\n"), 400);
    stop(f);
}

/* The in-flight body budget (process-wide) answers 503 beyond it and frees what a request held. */
static void test_inflight_body_budget(void **state)
{
    (void)state;
    struct bb_http_limits l;
    bb_http_limits_default(&l);
    l.max_inflight_body_bytes = 1000;
    struct fixture *f = start(&l);
    run(f);
    int a = dial(f->port), closed;
    const char *ha = "POST /echo HTTP/1.1\r\nContent-Length: 800\r\n\r\n0123456789";
    send_all(a, ha, strlen(ha));
    usleep(100000);
    assert_int_equal(roundtrip(f->port, "POST /echo HTTP/1.1\r\nContent-Length: 800\r\n\r\n",
                               &closed),
                     503);
    assert_non_null(strstr(rbuf, "\"code\":\"overloaded\""));
    assert_true(closed);
    /* chunked bodies count as they grow */
    assert_int_equal(roundtrip(f->port,
                               "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "12c\r\n" /* 300 bytes */
                               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n0\r\n\r\n",
                               &closed),
                     503);
    static char rest[790];
    memset(rest, 'y', sizeof rest);
    send_all(a, rest, sizeof rest);
    recv_until(a, rbuf, sizeof rbuf, 1, 3000, &closed);
    assert_int_equal(status_of(rbuf), 200);
    close(a);
    usleep(50000);
    /* released: the same request fits again */
    char big[900];
    int n = snprintf(big, sizeof big, "POST /echo HTTP/1.1\r\nContent-Length: 800\r\n\r\n");
    memset(big + n, 'z', 800);
    big[n + 800] = '\0';
    (void)n;
    static char req[2000];
    snprintf(req, sizeof req, "%s", big);
    assert_int_equal(roundtrip(f->port, req, NULL), 200);
    stop(f);
}

/* A body for no route is not kept (only counted against the limit); the connection stays open. */
static void test_unrouted_body_discarded(void **state)
{
    (void)state;
    struct fixture *f = start(NULL);
    run(f);
    int fd = dial(f->port), closed;
    const char *two = "POST /nope HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /hello HTTP/1.1\r\n\r\n";
    send_all(fd, two, strlen(two));
    recv_until(fd, rbuf, sizeof rbuf, 2, 3000, &closed);
    assert_int_equal(status_of(rbuf), 404);
    assert_non_null(strstr(rbuf, "hello world"));
    close(fd);
    stop(f);
}

static void test_max_connections_per_ip(void **state)
{
    (void)state;
    struct bb_http_limits l;
    bb_http_limits_default(&l);
    l.max_connections_per_ip = 2;
    struct fixture *f = start(&l);
    run(f);
    int a = dial(f->port), b = dial(f->port);
    usleep(50000);
    int c = dial(f->port), closed;
    recv_until(c, rbuf, sizeof rbuf, 0, 2000, &closed);
    assert_true(closed);
    close(c);
    send_all(b, "GET /hello HTTP/1.1\r\n\r\n", 23);
    recv_until(b, rbuf, sizeof rbuf, 1, 2000, &closed);
    assert_int_equal(status_of(rbuf), 200);
    close(a);
    usleep(100000);
    assert_int_equal(roundtrip(f->port, "GET /hello HTTP/1.1\r\n\r\n", NULL), 200);
    close(b);
    stop(f);
}

/* In-process dispatch resolves identity the same way. */
static void test_dispatch_local_identity(void **state)
{
    (void)state;
    struct bb_router *r;
    bb_router_new(&r);
    bb_router_add(r, routes, sizeof routes / sizeof routes[0], NULL);
    bb_router_add_resolver(r, &pat);
    struct bb_http_response *res;
    assert_int_equal(local_id(r, "GET", "/admin", "Bearer s3cret-token", "admin", NULL, &res), 200);
    assert_memory_equal(res->body, "internal-admin - -", 18);
    bb_http_response_free(res);
    assert_int_equal(local_id(r, "GET", "/admin", "Bearer s3cret-token", NULL, NULL, &res), 403);
    bb_http_response_free(res);
    assert_int_equal(local_id(r, "GET", "/whoami-public", NULL, "admin", NULL, &res), 401);
    bb_http_response_free(res);
    assert_int_equal(local_id(r, "GET", "/whoami", "Bearer s3cret-token", "{\"uid\":\"x\"}", NULL,
                              &res),
                     200);
    assert_memory_equal(res->body, "internal-end-user x {}", 22);
    bb_http_response_free(res);
    assert_int_equal(local_id(r, "GET", "/pat", "Bearer pat_good", NULL, NULL, &res), 200);
    bb_http_response_free(res);
    /* unauthenticated and too large: 401, not 413 */
    assert_int_equal(local_id(r, "POST", "/whoami", NULL, NULL,
                              "0123456789012345678901234567890123456789012345678901234567890123456"
                              "7890123456789012345678901234567890123456789012345678901234567890123"
                              "4567890123456789012345678901234567890123456789012345678901234567890"
                              "1234567890123456789012345678901234567890123456789012345678901234567"
                              "8901234567890123456789012345678901234567890123456789012345678901234"
                              "5678901234567890123456789012345678901234567890123456789012345678901"
                              "2345678901234567890123456789012345678901234567890123456789012345678"
                              "9012345678901234567890123456789012345678901234567890123456789012345"
                              "6789012345678901234567890123456789012345678901234567890123456789012"
                              "3456789012345678901234567890123456789012345678901234567890123456789"
                              "0123456789012345678901234567890123456789012345678901234567890123456"
                              "7890123456789012345678901234567890123456789012345678901234567890123"
                              "4567890123456789012345678901234567890123456789012345678901234567890"
                              "1234567890123456789012345678901234567890123456789012345678901234567"
                              "89012345678901234567890123456789",
                              &res),
                     401);
    bb_http_response_free(res);
    bb_router_free(r);
}


/* The dispatcher queues pool work per {projectId}: one project's backlog of slow requests does not
 * make another project's request wait behind it (one worker thread). */
static void test_pool_fair_per_project(void **state)
{
    (void)state;
    struct fixture *f = start(NULL);
    f->pool_threads = 1;
    run(f);
    int a[5], closed;
    for (int i = 0; i < 5; i++) {
        a[i] = dial(f->port);
        send_all(a[i], "GET /p/a/slow?ms=150 HTTP/1.1\r\n\r\n", 33);
    }
    usleep(100000); /* a's requests are queued, the first one runs */
    int b = dial(f->port);
    send_all(b, "GET /p/b/slow?ms=1 HTTP/1.1\r\n\r\n", 31);
    recv_until(b, rbuf, sizeof rbuf, 1, 5000, &closed);
    assert_int_equal(status_of(rbuf), 200);
    /* when b is answered, at least three of a's five are still waiting */
    int answered = 0;
    for (int i = 0; i < 5; i++) {
        struct pollfd pf = {.fd = a[i], .events = POLLIN};
        if (poll(&pf, 1, 0) == 1) answered++;
    }
    assert_true(answered <= 2);
    for (int i = 0; i < 5; i++) {
        recv_until(a[i], rbuf, sizeof rbuf, 1, 5000, &closed);
        assert_int_equal(status_of(rbuf), 200);
        close(a[i]);
    }
    close(b);
    stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_get_and_request_id),
        cmocka_unit_test(test_404_405_json),
        cmocka_unit_test(test_params_and_api_alias),
        cmocka_unit_test(test_header_limit_431),
        cmocka_unit_test(test_body_limits_413),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_pipelining_in_order),
        cmocka_unit_test(test_request_timeout_408),
        cmocka_unit_test(test_idle_timeout_closes),
        cmocka_unit_test(test_malformed_400),
        cmocka_unit_test(test_internal_auth),
        cmocka_unit_test(test_pool_runs_off_loop_and_overload_503),
        cmocka_unit_test(test_sse_stream),
        cmocka_unit_test(test_drain_finishes_inflight),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_metrics_recorded),
        cmocka_unit_test(test_pipelining_backpressure),
        cmocka_unit_test(test_dispatch_local),
        cmocka_unit_test(test_dispatch_local_on_loop),
        cmocka_unit_test(test_redispatch),
        cmocka_unit_test(test_parse_for_test),
        cmocka_unit_test(test_identity_over_http),
        cmocka_unit_test(test_auth_before_body),
        cmocka_unit_test(test_expect_100_continue),
        cmocka_unit_test(test_trailers_not_merged),
        cmocka_unit_test(test_obs_fold_and_space_before_colon),
        cmocka_unit_test(test_inflight_body_budget),
        cmocka_unit_test(test_unrouted_body_discarded),
        cmocka_unit_test(test_max_connections_per_ip),
        cmocka_unit_test(test_dispatch_local_identity),
        cmocka_unit_test(test_pool_fair_per_project),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
