/* test_rpc.c — bb_rpc decoder, libuv server (run in a thread) and blocking client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bb_err.h"
#include "bb_rpc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* commands understood by the test handler */
enum {
    CMD_ECHO = 1,      /* reply ok with the payload, synchronously */
    CMD_FAIL = 2,      /* reply error {"error":"nope"} */
    CMD_STASH = 3,     /* keep the call; the test replies later from its own thread */
    CMD_REVERSE3 = 4,  /* keep calls until 3 arrived, then reply to them in reverse order */
};

#define MAX_STASH 64

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct bb_rpc_call *stash[MAX_STASH];
    int nstash;
    struct bb_rpc_call *rev[3];
    int nrev;
    int handled;
} H = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void handler(void *ctx, struct bb_rpc_call *call)
{
    (void)ctx;
    size_t len;
    const char *p = bb_rpc_call_payload(call, &len);
    assert_int_equal(p[len], '\0');
    pthread_mutex_lock(&H.mu);
    H.handled++;
    pthread_mutex_unlock(&H.mu);
    switch (bb_rpc_call_command(call)) {
    case CMD_ECHO:
        assert_int_equal(bb_rpc_call_reply(call, BB_RPC_STATUS_OK, p, len), 0);
        break;
    case CMD_FAIL:
        assert_int_equal(bb_rpc_call_reply(call, BB_RPC_STATUS_ERROR, "{\"error\":\"nope\"}", 16), 0);
        break;
    case CMD_STASH:
        pthread_mutex_lock(&H.mu);
        assert_true(H.nstash < MAX_STASH);
        H.stash[H.nstash++] = call;
        pthread_cond_broadcast(&H.cv);
        pthread_mutex_unlock(&H.mu);
        break;
    case CMD_REVERSE3:
        H.rev[H.nrev++] = call;
        if (H.nrev == 3) {
            for (int i = 2; i >= 0; i--) {
                const char *q = bb_rpc_call_payload(H.rev[i], &len);
                char buf[64];
                int n = snprintf(buf, sizeof buf, "{\"n\":%.*s}", (int)len, q);
                bb_rpc_call_reply(H.rev[i], BB_RPC_STATUS_OK, buf, (size_t)n);
            }
            H.nrev = 0;
        }
        break;
    default:
        bb_rpc_call_reply(call, BB_RPC_STATUS_ERROR, "{\"error\":\"unknown command\"}", 27);
    }
}

/* Waits for a stashed call (up to 5 s) and removes it from the stash. */
static struct bb_rpc_call *take_stashed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    pthread_mutex_lock(&H.mu);
    while (H.nstash == 0)
        if (pthread_cond_timedwait(&H.cv, &H.mu, &ts) != 0) break;
    struct bb_rpc_call *c = NULL;
    if (H.nstash > 0) {
        c = H.stash[0];
        memmove(H.stash, H.stash + 1, (size_t)(H.nstash - 1) * sizeof H.stash[0]);
        H.nstash--;
    }
    pthread_mutex_unlock(&H.mu);
    return c;
}

/* ---- a server running on its own loop thread ------------------------------------------------- */

struct tsrv {
    uv_loop_t loop;
    uv_async_t stopper;
    struct bb_rpc_server *srv;
    pthread_t th;
    int port;
    int stopped_cb;
};

static void *loop_main(void *arg)
{
    struct tsrv *t = arg;
    uv_run(&t->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void on_stopped(void *ctx)
{
    struct tsrv *t = ctx;
    t->stopped_cb++;
}

static void on_stopper(uv_async_t *a)
{
    struct tsrv *t = a->data;
    bb_rpc_server_stop(t->srv, on_stopped);
    t->srv = NULL;
    uv_close((uv_handle_t *)a, NULL);
}

/* The server's ctx (t) is passed to on_stopped; the test handler ignores it. */
static int tsrv_start(struct tsrv *t, const char *addr, const struct bb_rpc_server_opts *opts)
{
    memset(t, 0, sizeof *t);
    assert_int_equal(uv_loop_init(&t->loop), 0);
    int rc = bb_rpc_server_start(&t->srv, &t->loop, addr, opts, handler, t);
    if (rc) {
        uv_run(&t->loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&t->loop), 0);
        return rc;
    }
    t->port = bb_rpc_server_port(t->srv);
    uv_async_init(&t->loop, &t->stopper, on_stopper);
    t->stopper.data = t;
    pthread_create(&t->th, NULL, loop_main, t);
    return 0;
}

static void tsrv_stop(struct tsrv *t)
{
    uv_async_send(&t->stopper);
    pthread_join(t->th, NULL);
    assert_int_equal(t->stopped_cb, 1);
    /* every handle of the server is closed: the loop closes cleanly */
    assert_int_equal(uv_loop_close(&t->loop), 0);
}

static void tcp_addr(char *buf, size_t cap, int port)
{
    snprintf(buf, cap, "127.0.0.1:%d", port);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- raw socket helpers ---------------------------------------------------------------------- */

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void raw_send_frame(int fd, uint64_t id, uint8_t code, const char *payload)
{
    uint8_t hdr[17];
    size_t len = strlen(payload);
    bb_rpc_frame_header(hdr, id, code, (uint32_t)len);
    assert_int_equal(send(fd, hdr, sizeof hdr, MSG_NOSIGNAL), (ssize_t)sizeof hdr);
    if (len) assert_int_equal(send(fd, payload, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Reads one frame (payload copied into out, NUL-terminated). Returns 1, 0 on EOF, -1 on timeout
 * or error. */
static int raw_read_frame(int fd, struct bb_rpc_decoder *d, uint64_t *id, uint8_t *code, char *out,
                          size_t cap)
{
    uint8_t b[1];
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 3000) <= 0) return -1;
        /* byte by byte keeps the decoder from swallowing the next frame */
        ssize_t n = recv(fd, b, 1, 0);
        if (n == 0) return 0;
        if (n < 0) return -1;
        struct bb_rpc_frame fr;
        size_t used;
        int r = bb_rpc_decoder_feed(d, b, 1, &used, &fr);
        if (r < 0) return -1;
        if (r == 1) {
            *id = fr.id;
            *code = fr.code;
            size_t l = fr.payload_len < cap - 1 ? fr.payload_len : cap - 1;
            memcpy(out, fr.payload, l);
            out[l] = '\0';
            return 1;
        }
    }
}

/* True if the peer closes the connection within 3 s (after any pending data). */
static int raw_wait_eof(int fd)
{
    char b[256];
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 3000) <= 0) return 0;
        ssize_t n = recv(fd, b, sizeof b, 0);
        if (n == 0) return 1;
        if (n < 0) return 1; /* reset counts as closed */
    }
}

/* ---- decoder tests --------------------------------------------------------------------------- */

static size_t build(uint8_t *buf, uint64_t id, uint8_t code, const char *payload)
{
    size_t len = strlen(payload);
    bb_rpc_frame_header(buf, id, code, (uint32_t)len);
    memcpy(buf + 17, payload, len);
    return 17 + len;
}

static void test_decoder(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t n = build(buf, 0x0102030405060708ull, 9, "{\"a\":1}");
    /* byte layout */
    assert_int_equal(buf[0], 13 + 7);
    assert_int_equal(buf[1] | buf[2] | buf[3], 0);
    assert_int_equal(buf[4], 0x08);
    assert_int_equal(buf[11], 0x01);
    assert_int_equal(buf[12], 9);
    assert_int_equal(buf[13], 7);
    n += build(buf + n, 2, 0, ""); /* empty payload: frame_len 13 */
    n += build(buf + n, 3, 1, "xyz");

    struct bb_rpc_decoder d;
    struct bb_rpc_frame fr;
    size_t used;
    /* all at once: three frames */
    bb_rpc_decoder_init(&d, 0);
    const uint8_t *p = buf;
    size_t left = n;
    int got = 0;
    while (left) {
        int r = bb_rpc_decoder_feed(&d, p, left, &used, &fr);
        assert_true(r >= 0);
        p += used;
        left -= used;
        if (r == 1) {
            got++;
            if (got == 1) {
                assert_true(fr.id == 0x0102030405060708ull);
                assert_int_equal(fr.code, 9);
                assert_int_equal(fr.payload_len, 7);
                assert_memory_equal(fr.payload, "{\"a\":1}", 7);
            } else if (got == 2) {
                assert_int_equal(fr.id, 2);
                assert_int_equal(fr.payload_len, 0);
            } else {
                assert_int_equal(fr.id, 3);
                assert_memory_equal(fr.payload, "xyz", 3);
            }
        }
    }
    assert_int_equal(got, 3);
    assert_int_equal(bb_rpc_decoder_pending(&d), 0);
    /* byte by byte */
    got = 0;
    for (size_t i = 0; i < n; i++) {
        int r = bb_rpc_decoder_feed(&d, buf + i, 1, &used, &fr);
        assert_int_equal(used, 1);
        if (r == 1) got++;
        else assert_int_equal(r, 0);
    }
    assert_int_equal(got, 3);
    bb_rpc_decoder_release(&d);

    /* oversize: rejected after the 4-byte prefix, before buffering the body */
    bb_rpc_decoder_init(&d, 100);
    uint8_t big[4] = {200, 0, 0, 0};
    assert_int_equal(bb_rpc_decoder_feed(&d, big, 4, &used, &fr), BB_ETOOBIG);
    assert_int_equal(bb_rpc_decoder_feed(&d, buf, 10, &used, &fr), BB_ETOOBIG); /* sticky */
    assert_int_equal(used, 0);
    bb_rpc_decoder_release(&d);
    /* exactly max_frame is fine */
    bb_rpc_decoder_init(&d, 13 + 3);
    n = build(buf, 5, 1, "abc");
    assert_int_equal(bb_rpc_decoder_feed(&d, buf, n, &used, &fr), 1);
    bb_rpc_decoder_release(&d);
    /* zero-length frame */
    bb_rpc_decoder_init(&d, 0);
    uint8_t zero[4] = {0, 0, 0, 0};
    assert_int_equal(bb_rpc_decoder_feed(&d, zero, 4, &used, &fr), BB_EPROTO);
    bb_rpc_decoder_release(&d);
    /* inner length inconsistent with the outer one */
    bb_rpc_decoder_init(&d, 0);
    n = build(buf, 5, 1, "abc");
    buf[13] = 4;
    assert_int_equal(bb_rpc_decoder_feed(&d, buf, n, &used, &fr), BB_EPROTO);
    bb_rpc_decoder_release(&d);
}

/* ---- server/client tests --------------------------------------------------------------------- */

static void echo_once(struct bb_rpc_client *c, const char *msg)
{
    int status = -1;
    char *reply = NULL;
    size_t rlen = 0;
    assert_int_equal(bb_rpc_client_call(c, CMD_ECHO, msg, strlen(msg), &status, &reply, &rlen, 5000),
                     0);
    assert_int_equal(status, BB_RPC_STATUS_OK);
    assert_int_equal(rlen, strlen(msg));
    assert_string_equal(reply, msg);
    free(reply);
}

static void test_echo_tcp(void **state)
{
    (void)state;
    struct tsrv t;
    char addr[64];
    assert_int_equal(tsrv_start(&t, "127.0.0.1:0", NULL), 0);
    assert_true(t.port > 0);
    snprintf(addr, sizeof addr, "tcp://127.0.0.1:%d", t.port);
    struct bb_rpc_client *c;
    assert_int_equal(bb_rpc_client_new(&c, addr, NULL), 0);
    echo_once(c, "{\"hello\":\"world\"}");
    echo_once(c, "");
    int status;
    char *reply;
    assert_int_equal(bb_rpc_client_call(c, CMD_FAIL, "{}", 2, &status, &reply, NULL, 5000), 0);
    assert_int_equal(status, BB_RPC_STATUS_ERROR);
    assert_string_equal(reply, "{\"error\":\"nope\"}");
    free(reply);
    assert_int_equal(bb_rpc_client_call(c, 99, "{}", 2, &status, NULL, NULL, 5000), 0);
    assert_int_equal(status, BB_RPC_STATUS_ERROR);
    bb_rpc_client_free(c);
    tsrv_stop(&t);
}

static void test_echo_unix(void **state)
{
    (void)state;
    struct tsrv t;
    char path[128], addr[160];
    snprintf(path, sizeof path, "/tmp/bb_rpc_test_%d.sock", (int)getpid());
    snprintf(addr, sizeof addr, "unix:%s", path);
    assert_int_equal(tsrv_start(&t, addr, NULL), 0);
    assert_int_equal(t.port, 0);
    struct bb_rpc_client *c;
    assert_int_equal(bb_rpc_client_new(&c, addr, NULL), 0);
    echo_once(c, "{\"over\":\"unix\"}");
    bb_rpc_client_free(c);
    tsrv_stop(&t);
    assert_int_equal(access(path, F_OK), -1); /* socket file removed on stop */
}

static void test_bad_addresses(void **state)
{
    (void)state;
    struct bb_rpc_client *c;
    assert_int_equal(bb_rpc_client_new(&c, "nocolon", NULL), BB_EINVAL);
    assert_int_equal(bb_rpc_client_new(&c, "127.0.0.1:99999", NULL), BB_EINVAL);
    assert_int_equal(bb_rpc_client_new(&c, ":80", NULL), BB_EINVAL);
    assert_int_equal(bb_rpc_client_new(&c, "unix:", NULL), BB_EINVAL);
    assert_int_equal(bb_rpc_client_new(&c, "127.0.0.1:1x", NULL), BB_EINVAL);
    struct tsrv t;
    assert_int_equal(tsrv_start(&t, "999.1.1.1:0", NULL), BB_EINVAL);
    /* address in use */
    assert_int_equal(tsrv_start(&t, "127.0.0.1:0", NULL), 0);
    char addr[64];
    tcp_addr(addr, sizeof addr, t.port);
    struct tsrv t2;
    assert_int_equal(tsrv_start(&t2, addr, NULL), BB_EEXIST);
    tsrv_stop(&t);
}

static void test_many_calls(void **state)
{
    (void)state;
    struct tsrv t;
    char addr[64];
    assert_int_equal(tsrv_start(&t, "127.0.0.1:0", NULL), 0);
    tcp_addr(addr, sizeof addr, t.port);
    struct bb_rpc_client *c;
    assert_int_equal(bb_rpc_client_new(&c, addr, NULL), 0);
    for (int i = 0; i < 1000; i++) {
        char msg[64];
        snprintf(msg, sizeof msg, "{\"i\":%d}", i);
        echo_once(c, msg);
    }
    /* a large payload (1 MiB) crosses many reads */
    size_t big = 1024 * 1024;
    char *p = malloc(big + 1);
    memset(p, 'q', big);
    p[big] = '\0';
    echo_once(c, p);
    free(p);
    bb_rpc_client_free(c);
    tsrv_stop(&t);
}

struct thr {
    struct bb_rpc_client *shared;
    int port;
    int ok;
    int idx;
};

static void *thr_main(void *arg)
{
    struct thr *a = arg;
    char addr[64];
    tcp_addr(addr, sizeof addr, a->port);
    struct bb_rpc_client *own;
    if (bb_rpc_client_new(&own, addr, NULL) != 0) return NULL;
    for (int i = 0; i < 200; i++) {
        struct bb_rpc_client *c = (i % 2) ? a->shared : own;
        char msg[64], *reply = NULL;
        int status = -1;
        int n = snprintf(msg, sizeof msg, "{\"t\":%d,\"i\":%d}", a->idx, i);
        if (bb_rpc_client_call(c, CMD_ECHO, msg, (size_t)n, &status, &reply, NULL, 5000) == 0 &&
            status == 0 && strcmp(reply, msg) == 0)
            a->ok++;
        free(reply);
    }
    bb_rpc_client_free(own);
    return NULL;
}

static void test_concurrent_threads(void **state)
{
    (void)state;
    struct tsrv t;
    char addr[64];
    assert_int_equal(tsrv_start(&t, "127.0.0.1:0", NULL), 0);
    tcp_addr(addr, sizeof addr, t.port);
    struct bb_rpc_client *shared;
    assert_int_equal(bb_rpc_client_new(&shared, addr, NULL), 0);
    pthread_t th[4];
    struct thr a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct thr){.shared = shared, .port = t.port, .idx = i};
        pthread_create(&th[i], NULL, thr_main, &a[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(a[i].ok, 200);
    }
    bb_rpc_client_free(shared);
    tsrv_stop(&t);
}

struct late {
    int delay_ms;
    int rc;
};

static void *late_replier(void *arg)
{
    struct late *l = arg;
    struct bb_rpc_call *call = take_stashed();
    if (!call) {
        l->rc = -1;
        return NULL;
    }
    usleep((useconds_t)l->delay_ms * 1000);
    size_t len;
    const char *p = bb_rpc_call_payload(call, &len);
    char buf[128];
    int n = snprintf(buf, sizeof buf, "{\"late\":%.*s}", (int)len, p);
    l->rc = bb_rpc_call_reply(call, BB_RPC_STATUS_OK, buf, (size_t)n);
    return NULL;
}

static void test_reply_from_thread(void **state)
{
    (void)state;
    struct tsrv t;
    char addr[64];
    assert_int_equal(tsrv_start(&t, "127.0.0.1:0", NULL), 0);
    tcp_addr(addr, sizeof addr, t.port);
    struct bb_rpc_client *c;
    assert_int_equal(bb_rpc_client_new(&c, addr, NULL), 0);
    struct late l = {.delay_ms = 100};
    pthread_t th;
    pthread_create(&th, NULL, late_replier, &l);
    int status;
    char *reply;
    int64_t t0 = now_ms();
    assert_int_equal(bb_rpc_client_call(c, CMD_STASH, "7", 1, &status, &reply, NULL, 5000), 0);
    assert_true(now_ms() - t0 >= 90);
    pthread_join(th, NULL);
    assert_int_equal(l.rc, 0);
    assert_int_equal(status, 0);
    assert_string_equal(reply, "{\"late\":7}");
    free(reply);
    bb_rpc_client_free(c);
    tsrv_stop(&t);
}

static void test_out_of_order(void **state)
{
    (void)state;
    struct tsrv t;
    assert_int_equal(tsrv_start(&t, "127.0.0.1:0", NULL), 0);
    int fd = raw_connect(t.port);
    /* three pipelined requests on one connection; the server answers 30, 20, 10 */
    raw_send_frame(fd, 10, CMD_REVERSE3, "1");
    raw_send_frame(fd, 20, CMD_REVERSE3, "2");
    raw_send_frame(fd, 30, CMD_REVERSE3, "3");
    struct bb_rpc_decoder d;
    bb_rpc_decoder_init(&d, 0);
    uint64_t ids[3];
    for (int i = 0; i < 3; i++) {
        uint64_t id;
        uint8_t code;
        char body[64], want[64];
        assert_int_equal(raw_read_frame(fd, &d, &id, &code, body, sizeof body), 1);
        assert_int_equal(code, 0);
        snprintf(want, sizeof want, "{\"n\":%d}", (int)(id / 10));
        assert_string_equal(body, want); /* the reply belongs to the id it carries */
        ids[i] = id;
    }
    assert_int_equal(ids[0], 30);
    assert_int_equal(ids[1], 20);
    assert_int_equal(ids[2], 10);
    bb_rpc_decoder_release(&d);
    close(fd);
    tsrv_stop(&t);
}

static void test_oversize_frame(void **state)
{
    (void)state;
    struct tsrv t;
    struct bb_rpc_server_opts opts = {.max_frame = 1024};
    assert_int_equal(tsrv_start(&t, "127.0.0.1:0", &opts), 0);
    char addr[64];
    tcp_addr(addr, sizeof addr, t.port);
    struct bb_rpc_client *good;
    assert_int_equal(bb_rpc_client_new(&good, addr, &(struct bb_rpc_client_opts){.max_frame = 1024}),
                     0);
    echo_once(good, "before");

    int fd = raw_connect(t.port);
    uint8_t hdr[17];
    bb_rpc_frame_header(hdr, 5, CMD_ECHO, 2000); /* frame_len 2013 > 1024 */
    assert_int_equal(send(fd, hdr, sizeof hdr, MSG_NOSIGNAL), 17);
    struct bb_rpc_decoder d;
    bb_rpc_decoder_init(&d, 0);
    uint64_t id;
    uint8_t code;
    char body[128];
    assert_int_equal(raw_read_frame(fd, &d, &id, &code, body, sizeof body), 1);
    assert_int_equal(code, BB_RPC_STATUS_ERROR);
    assert_string_equal(body, "{\"error\":\"frame too large\"}");
    assert_true(raw_wait_eof(fd));
    bb_rpc_decoder_release(&d);
    close(fd);

    /* the server keeps serving the other connection */
    echo_once(good, "after");
    /* the client refuses to send an oversize request and keeps its connection */
    char *big = calloc(1, 2000);
    int status;
    assert_int_equal(bb_rpc_client_call(good, CMD_ECHO, big, 2000, &status, NULL, NULL, 1000),
                     BB_ETOOBIG);
    free(big);
    echo_once(good, "still");
    bb_rpc_client_free(good);
    tsrv_stop(&t);
}

static void test_malformed_frame(void **state)
{
    (void)state;
    struct tsrv t;
    assert_int_equal(tsrv_start(&t, "127.0.0.1:0", NULL), 0);
    int fd = raw_connect(t.port);
    /* outer length says 20 bytes, inner payload_len says 100 */
    uint8_t f[17 + 7];
    bb_rpc_frame_header(f, 9, CMD_ECHO, 7);
    f[13] = 100;
    memcpy(f + 17, "abcdefg", 7);
    assert_int_equal(send(fd, f, sizeof f, MSG_NOSIGNAL), (ssize_t)sizeof f);
    struct bb_rpc_decoder d;
    bb_rpc_decoder_init(&d, 0);
    uint64_t id;
    uint8_t code;
    char body[128];
    assert_int_equal(raw_read_frame(fd, &d, &id, &code, body, sizeof body), 1);
    assert_int_equal(code, BB_RPC_STATUS_ERROR);
    assert_string_equal(body, "{\"error\":\"malformed frame\"}");
    assert_true(raw_wait_eof(fd));
    close(fd);
    bb_rpc_decoder_release(&d);

    /* zero-length frame */
    fd = raw_connect(t.port);
    uint8_t z[4] = {0};
    assert_int_equal(send(fd, z, 4, MSG_NOSIGNAL), 4);
    bb_rpc_decoder_init(&d, 0);
    assert_int_equal(raw_read_frame(fd, &d, &id, &code, body, sizeof body), 1);
    assert_string_equal(body, "{\"error\":\"malformed frame\"}");
    assert_true(raw_wait_eof(fd));
    close(fd);
    bb_rpc_decoder_release(&d);

    /* still healthy */
    char addr[64];
    tcp_addr(addr, sizeof addr, t.port);
    struct bb_rpc_client *c;
    assert_int_equal(bb_rpc_client_new(&c, addr, NULL), 0);
    echo_once(c, "ok");
    bb_rpc_client_free(c);
    tsrv_stop(&t);
}

static void test_reconnect_after_restart(void **state)
{
    (void)state;
    struct tsrv t;
    char addr[64];
    assert_int_equal(tsrv_start(&t, "127.0.0.1:0", NULL), 0);
    int port = t.port;
    tcp_addr(addr, sizeof addr, port);
    struct bb_rpc_client *c;
    assert_int_equal(bb_rpc_client_new(&c, addr, NULL), 0);
    echo_once(c, "one");
    tsrv_stop(&t);

    /* server down: connection refused */
    int status;
    assert_int_equal(bb_rpc_client_call(c, CMD_ECHO, "x", 1, &status, NULL, NULL, 1000),
                     BB_EUNAVAIL);
    /* restarted on the same port: the next call reconnects by itself */
    assert_int_equal(tsrv_start(&t, addr, NULL), 0);
    assert_int_equal(t.port, port);
    echo_once(c, "two");

    /* restart while the client holds an idle connection: the dead connection is noticed before
     * sending and the call goes through on a new one */
    tsrv_stop(&t);
    assert_int_equal(tsrv_start(&t, addr, NULL), 0);
    echo_once(c, "three");
    bb_rpc_client_free(c);
    tsrv_stop(&t);
}

static void test_call_timeout(void **state)
{
    (void)state;
    struct tsrv t;
    char addr[64];
    assert_int_equal(tsrv_start(&t, "127.0.0.1:0", NULL), 0);
    tcp_addr(addr, sizeof addr, t.port);
    struct bb_rpc_client *c;
    assert_int_equal(bb_rpc_client_new(&c, addr, NULL), 0);
    int status;
    char *reply = NULL;
    int64_t t0 = now_ms();
    assert_int_equal(bb_rpc_client_call(c, CMD_STASH, "1", 1, &status, &reply, NULL, 200),
                     BB_ETIMEDOUT);
    int64_t dt = now_ms() - t0;
    assert_true(dt >= 190 && dt < 3000);
    assert_null(reply);
    /* the handler replies late, to a connection the client has dropped: freed safely */
    struct bb_rpc_call *call = take_stashed();
    assert_non_null(call);
    assert_int_equal(bb_rpc_call_reply(call, 0, "late", 4), 0);
    /* the next call uses a fresh connection and gets its own answer */
    echo_once(c, "fresh");
    bb_rpc_client_free(c);
    tsrv_stop(&t);
}

static void test_pending_call_survives_close_and_stop(void **state)
{
    (void)state;
    struct tsrv t;
    assert_int_equal(tsrv_start(&t, "127.0.0.1:0", NULL), 0);
    /* a call whose connection closes before the reply */
    int fd = raw_connect(t.port);
    raw_send_frame(fd, 1, CMD_STASH, "a");
    struct bb_rpc_call *c1 = take_stashed();
    assert_non_null(c1);
    close(fd);
    usleep(50 * 1000); /* let the server notice the close */
    assert_int_equal(bb_rpc_call_reply(c1, 0, "x", 1), 0);

    /* a call still pending when the server stops; replied afterwards */
    fd = raw_connect(t.port);
    raw_send_frame(fd, 2, CMD_STASH, "b");
    struct bb_rpc_call *c2 = take_stashed();
    assert_non_null(c2);
    tsrv_stop(&t);
    size_t len;
    assert_string_equal(bb_rpc_call_payload(c2, &len), "b");
    assert_int_equal(bb_rpc_call_reply(c2, 0, "y", 1), 0);
    close(fd);
}

static void *bad_replier(void *arg)
{
    int *rc = arg;
    struct bb_rpc_call *call = take_stashed();
    if (!call) return NULL;
    size_t len;
    bb_rpc_call_payload(call, &len);
    if (len == 1) {
        *rc = bb_rpc_call_reply(call, 7, "x", 1); /* status must be 0 or 1 */
    } else {
        static char big[2048];
        *rc = bb_rpc_call_reply(call, 0, big, sizeof big); /* over the 1 KiB frame limit */
    }
    return NULL;
}

static void test_bad_reply(void **state)
{
    (void)state;
    struct tsrv t;
    char addr[64];
    struct bb_rpc_server_opts opts = {.max_frame = 1024};
    assert_int_equal(tsrv_start(&t, "127.0.0.1:0", &opts), 0);
    tcp_addr(addr, sizeof addr, t.port);
    struct bb_rpc_client *c;
    assert_int_equal(bb_rpc_client_new(&c, addr, NULL), 0);
    const char *payloads[2] = {"1", "22"};
    const char *want[2] = {"{\"error\":\"invalid reply status\"}", "{\"error\":\"reply too large\"}"};
    int want_rc[2] = {BB_EINVAL, BB_ETOOBIG};
    for (int i = 0; i < 2; i++) {
        int rc = 1;
        pthread_t th;
        pthread_create(&th, NULL, bad_replier, &rc);
        int status;
        char *reply = NULL;
        assert_int_equal(bb_rpc_client_call(c, CMD_STASH, payloads[i], strlen(payloads[i]), &status,
                                            &reply, NULL, 5000),
                         0);
        pthread_join(th, NULL);
        assert_int_equal(rc, want_rc[i]);
        assert_int_equal(status, BB_RPC_STATUS_ERROR);
        assert_string_equal(reply, want[i]);
        free(reply);
    }
    bb_rpc_client_free(c);
    tsrv_stop(&t);
}

static void test_max_connections(void **state)
{
    (void)state;
    struct tsrv t;
    struct bb_rpc_server_opts opts = {.max_connections = 2};
    assert_int_equal(tsrv_start(&t, "127.0.0.1:0", &opts), 0);
    int a = raw_connect(t.port), b = raw_connect(t.port);
    struct bb_rpc_decoder d;
    bb_rpc_decoder_init(&d, 0);
    uint64_t id;
    uint8_t code;
    char body[64];
    raw_send_frame(a, 1, CMD_ECHO, "a");
    assert_int_equal(raw_read_frame(a, &d, &id, &code, body, sizeof body), 1);
    raw_send_frame(b, 2, CMD_ECHO, "b");
    assert_int_equal(raw_read_frame(b, &d, &id, &code, body, sizeof body), 1);
    int x = raw_connect(t.port); /* third: accepted and closed at once */
    assert_true(raw_wait_eof(x));
    close(x);
    close(a);
    usleep(50 * 1000);
    int y = raw_connect(t.port); /* a slot is free again */
    raw_send_frame(y, 3, CMD_ECHO, "y");
    assert_int_equal(raw_read_frame(y, &d, &id, &code, body, sizeof body), 1);
    assert_string_equal(body, "y");
    bb_rpc_decoder_release(&d);
    close(b);
    close(y);
    tsrv_stop(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decoder),
        cmocka_unit_test(test_echo_tcp),
        cmocka_unit_test(test_echo_unix),
        cmocka_unit_test(test_bad_addresses),
        cmocka_unit_test(test_many_calls),
        cmocka_unit_test(test_concurrent_threads),
        cmocka_unit_test(test_reply_from_thread),
        cmocka_unit_test(test_out_of_order),
        cmocka_unit_test(test_oversize_frame),
        cmocka_unit_test(test_malformed_frame),
        cmocka_unit_test(test_reconnect_after_restart),
        cmocka_unit_test(test_call_timeout),
        cmocka_unit_test(test_pending_call_survives_close_and_stop),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_bad_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
