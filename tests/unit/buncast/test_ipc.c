/* test_ipc.c — buncast IPC server + C client over real sockets: authentication (unix and TCP,
 * token file, timeout, socket mode), the per-connection CreateTopic bound, refused async publishes
 * counted as dropped, round trips, OK-before-message, malformed and oversized frames, order under 4 concurrent publishers (100k events), slow
 * subscriber isolation, resume/reset, unsubscribe, publisher reconnect after a broker restart,
 * pipelined publishes acknowledged in batches (100k: none lost, order kept, acks match), fan-out
 * by reference (12 subscribers + a cut-off one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bb_err.h"
#include "bb_metrics.h"
#include "bb_rpc.h"
#include "bcast_proto.h"
#include "buncast_client.h"

#include "bcast_testsrv.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- a collector of delivered messages ---- */

#define MAXMSG 64
struct coll {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n, resets;
    char ids[MAXMSG][BCAST_CLIENT_ID_LEN + 1];
    char ev[MAXMSG][512];
    char topic[MAXMSG][64];
};

static void coll_init(struct coll *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
}

static void on_msg(void *arg, const struct bcast_message *m)
{
    struct coll *c = arg;
    pthread_mutex_lock(&c->mu);
    if (m->reset) c->resets++;
    if (c->n < MAXMSG) {
        snprintf(c->ids[c->n], sizeof c->ids[0], "%s", m->id);
        snprintf(c->ev[c->n], sizeof c->ev[0], "%s", m->event);
        snprintf(c->topic[c->n], sizeof c->topic[0], "%s", m->topic);
    }
    c->n++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static int coll_wait(struct coll *c, int n, int timeout_ms)
{
    int64_t end = ms_now() + timeout_ms;
    pthread_mutex_lock(&c->mu);
    while (c->n < n && ms_now() < end) {
        pthread_mutex_unlock(&c->mu);
        sleep_ms(5);
        pthread_mutex_lock(&c->mu);
    }
    int got = c->n;
    pthread_mutex_unlock(&c->mu);
    return got;
}

static struct bcast_client *client(struct tsrv *s)
{
    struct bcast_client *c = NULL;
    char addr[400];
    snprintf(addr, sizeof addr, "unix:%s", s->path);
    struct bcast_client_opts o = {.token = TSRV_TOKEN};
    assert_int_equal(bcast_client_new(&c, addr, &o), 0);
    assert_int_equal(bcast_client_wait_connected(c, 5000), 0);
    return c;
}

/* ---- raw socket helpers ---- */

static uint8_t raw_in[1 << 16];
static size_t raw_have, raw_off;

/* A connection that has not authenticated. */
static int raw_connect_noauth(const char *path)
{
    raw_have = raw_off = 0; /* buffered bytes belong to the previous connection */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof un.sun_path, "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&un, sizeof un), 0);
    return fd;
}

static int raw_connect_tcp(int port)
{
    raw_have = raw_off = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(0x7f000001)};
    assert_int_equal(connect(fd, (struct sockaddr *)&in, sizeof in), 0);
    return fd;
}

static void raw_send(int fd, uint64_t id, uint8_t cmd, const void *p, size_t n)
{
    uint8_t hdr[17];
    bb_rpc_frame_header(hdr, id, cmd, (uint32_t)n);
    assert_int_equal(send(fd, hdr, 17, MSG_NOSIGNAL), 17);
    if (n) assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static int raw_frame(int fd, struct bb_rpc_decoder *d, uint64_t *id, uint8_t *code, char *buf,
                     size_t cap, int timeout_ms);

/* Connected and authenticated (the Auth OK is read here). */
static int raw_connect(const char *path)
{
    int fd = raw_connect_noauth(path);
    raw_send(fd, 9999, BCAST_CMD_AUTH, TSRV_TOKEN, strlen(TSRV_TOKEN));
    struct bb_rpc_decoder d;
    bb_rpc_decoder_init(&d, 0);
    uint64_t id = 0;
    uint8_t code = 9;
    char buf[64];
    assert_int_equal(raw_frame(fd, &d, &id, &code, buf, sizeof buf, 3000), 1);
    assert_int_equal(id, 9999);
    assert_int_equal(code, BCAST_ST_OK);
    bb_rpc_decoder_release(&d);
    return fd;
}

/* Reads one frame (payload copied into buf, NUL-terminated). Returns 1, 0 on EOF, -1 timeout. */
static int raw_frame(int fd, struct bb_rpc_decoder *d, uint64_t *id, uint8_t *code, char *buf,
                     size_t cap, int timeout_ms)
{
    uint8_t *in = raw_in;
    size_t have = raw_have, off = raw_off;
    int64_t end = ms_now() + timeout_ms;
    for (;;) {
        while (off < have) {
            struct bb_rpc_frame f;
            size_t used = 0;
            int rc = bb_rpc_decoder_feed(d, in + off, have - off, &used, &f);
            off += used;
            raw_off = off;
            if (rc < 0) return -2;
            if (rc == 1) {
                *id = f.id;
                *code = f.code;
                size_t n = f.payload_len < cap - 1 ? f.payload_len : cap - 1;
                memcpy(buf, f.payload, n);
                buf[n] = '\0';
                return 1;
            }
        }
        int left = (int)(end - ms_now());
        if (left <= 0) return -1;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, left) <= 0) return -1;
        ssize_t r = recv(fd, in, sizeof raw_in, 0);
        if (r <= 0) return 0;
        raw_have = have = (size_t)r;
        raw_off = off = 0;
    }
}

static int wait_eof(int fd, int timeout_ms)
{
    char b[4096];
    int64_t end = ms_now() + timeout_ms;
    while (ms_now() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t r = recv(fd, b, sizeof b, 0);
        if (r <= 0) return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ tests */

static void test_roundtrip(void **state)
{
    struct tsrv s;
    tsrv_init(&s);
    assert_int_equal(tsrv_start(&s), 0);
    struct bcast_client *pub = client(&s), *sub = client(&s);
    struct coll c;
    coll_init(&c);
    uint64_t sid = 0;
    assert_int_equal(bcast_client_subscribe(sub, "orders.*", NULL, on_msg, &c, &sid, 2000), 0);
    char id1[27];
    assert_int_equal(bcast_client_publish(pub, "orders.eu", "order.created", "{\"n\":1}", 7, id1,
                                          2000), 0);
    assert_int_equal(strlen(id1), 26);
    assert_int_equal(bcast_client_publish(pub, "orders.us", NULL, "not json\n", 9, NULL, 2000), 0);
    assert_int_equal(bcast_client_publish(pub, "other.x", NULL, "1", 1, NULL, 2000), 0);
    assert_int_equal(coll_wait(&c, 2, 3000), 2);
    assert_string_equal(c.ids[0], id1);
    assert_string_equal(c.topic[0], "orders.eu");
    assert_non_null(strstr(c.ev[0], "\"specversion\":\"1.0\""));
    assert_non_null(strstr(c.ev[0], "\"type\":\"order.created\""));
    assert_non_null(strstr(c.ev[0], "\"data\":{\"n\":1}"));
    assert_non_null(strstr(c.ev[1], "\"data_base64\":\"bm90IGpzb24K\""));
    sleep_ms(50);
    assert_int_equal(c.n, 2); /* other.x did not match */

    /* topics: list, create, delete */
    assert_int_equal(bcast_client_create_topic(pub, "explicit.one", 2000), 0);
    char *list = NULL;
    assert_int_equal(bcast_client_list_topics(pub, &list, 2000), 0);
    assert_non_null(strstr(list, "\"explicit.one\""));
    assert_non_null(strstr(list, "\"orders.eu\""));
    free(list);
    assert_int_equal(bcast_client_delete_topic(pub, "explicit.one", 2000), 0);
    assert_int_equal(bcast_client_delete_topic(pub, "explicit.one", 2000), BB_ENOTFOUND);
    assert_int_equal(bcast_client_publish(pub, "bad..topic", NULL, "1", 1, NULL, 2000), BB_EINVAL);
    assert_int_equal(bcast_client_subscribe(sub, "a.>.b", NULL, on_msg, &c, NULL, 2000), BB_EINVAL);

    /* unsubscribe: nothing more arrives */
    assert_int_equal(bcast_client_unsubscribe(sub, sid, 2000), 0);
    assert_int_equal(bcast_client_publish(pub, "orders.eu", NULL, "2", 1, NULL, 2000), 0);
    sleep_ms(100);
    assert_int_equal(c.n, 2);
    bcast_client_free(pub);
    bcast_client_free(sub);
    tsrv_stop(&s);
    tsrv_cleanup(&s);
}

/* ---- the subscribe OK always precedes the subscription's first message ---- */

struct spam {
    struct bcast_client *c;
    atomic_int stop; /* read by the spammer thread */
};

static void *spammer(void *arg)
{
    struct spam *sp = arg;
    while (!atomic_load(&sp->stop))
        bcast_client_publish_async(sp->c, "race.t", NULL, "{}", 2, 1000);
    return NULL;
}

static void test_ok_before_message(void **state)
{
    struct tsrv s;
    tsrv_init(&s);
    assert_int_equal(tsrv_start(&s), 0);
    struct spam sp = {client(&s), 0};
    pthread_t th;
    pthread_create(&th, NULL, spammer, &sp);
    uint8_t p[64];
    size_t n = bcast_put_subscribe(p, sizeof p, "race.t", 6, NULL);
    int saw_message = 0;
    for (int i = 0; i < 100; i++) {
        int fd = raw_connect(s.path);
        struct bb_rpc_decoder d;
        bb_rpc_decoder_init(&d, 0);
        raw_send(fd, 1000 + (uint64_t)i, BCAST_CMD_SUBSCRIBE, p, n);
        uint64_t id;
        uint8_t code;
        char buf[256];
        assert_int_equal(raw_frame(fd, &d, &id, &code, buf, sizeof buf, 3000), 1);
        assert_int_equal(code, BCAST_ST_OK);
        assert_int_equal(id, 1000 + (uint64_t)i);
        if (raw_frame(fd, &d, &id, &code, buf, sizeof buf, 200) == 1) {
            assert_int_equal(code, BCAST_ST_MESSAGE);
            saw_message++;
        }
        bb_rpc_decoder_release(&d);
        close(fd);
    }
    atomic_store(&sp.stop, 1);
    pthread_join(th, NULL);
    assert_true(saw_message > 0); /* the race window was really exercised */
    bcast_client_free(sp.c);
    tsrv_stop(&s);
    tsrv_cleanup(&s);
}

/* ---- malformed and oversized frames ---- */

static void test_malformed(void **state)
{
    struct tsrv s;
    tsrv_init(&s);
    s.io.max_frame = 4096;
    assert_int_equal(tsrv_start(&s), 0);
    uint64_t id;
    uint8_t code;
    char buf[512];

    /* frame_len < 13 */
    int fd = raw_connect(s.path);
    struct bb_rpc_decoder d;
    bb_rpc_decoder_init(&d, 0);
    uint8_t tiny[8] = {3, 0, 0, 0, 1, 2, 3, 0};
    assert_int_equal(send(fd, tiny, 7, MSG_NOSIGNAL), 7);
    assert_int_equal(raw_frame(fd, &d, &id, &code, buf, sizeof buf, 3000), 1);
    assert_int_equal(code, BCAST_ST_ERROR);
    assert_int_equal(id, 0);
    assert_non_null(strstr(buf, "malformed frame"));
    assert_true(wait_eof(fd, 3000));
    close(fd);
    bb_rpc_decoder_release(&d);

    /* oversized: announced length over max_frame, refused before buffering */
    fd = raw_connect(s.path);
    bb_rpc_decoder_init(&d, 0);
    uint8_t big[17];
    bb_rpc_frame_header(big, 7, BCAST_CMD_PUBLISH, 1u << 20);
    assert_int_equal(send(fd, big, 17, MSG_NOSIGNAL), 17);
    assert_int_equal(raw_frame(fd, &d, &id, &code, buf, sizeof buf, 3000), 1);
    assert_int_equal(code, BCAST_ST_ERROR);
    assert_non_null(strstr(buf, "frame too large"));
    assert_true(wait_eof(fd, 3000));
    close(fd);
    bb_rpc_decoder_release(&d);

    /* inner length mismatch */
    fd = raw_connect(s.path);
    bb_rpc_decoder_init(&d, 0);
    uint8_t mism[20];
    bb_rpc_frame_header(mism, 9, BCAST_CMD_LIST_TOPICS, 3);
    mism[0] = 14; /* frame_len says 1 byte of payload, payload_len says 3 */
    assert_int_equal(send(fd, mism, 18, MSG_NOSIGNAL), 18);
    assert_int_equal(raw_frame(fd, &d, &id, &code, buf, sizeof buf, 3000), 1);
    assert_int_equal(code, BCAST_ST_ERROR);
    assert_true(wait_eof(fd, 3000));
    close(fd);
    bb_rpc_decoder_release(&d);

    /* valid frame, malformed payload (publish whose body length runs past the end) */
    fd = raw_connect(s.path);
    bb_rpc_decoder_init(&d, 0);
    uint8_t pl[] = {1, 0, 'a', 200, 0, 0, 0, 'x'};
    raw_send(fd, 42, BCAST_CMD_PUBLISH, pl, sizeof pl);
    assert_int_equal(raw_frame(fd, &d, &id, &code, buf, sizeof buf, 3000), 1);
    assert_int_equal(code, BCAST_ST_ERROR);
    assert_int_equal(id, 42);
    assert_non_null(strstr(buf, "invalid frame format"));
    assert_true(wait_eof(fd, 3000));
    close(fd);
    bb_rpc_decoder_release(&d);

    /* unknown command: error, connection carries on */
    fd = raw_connect(s.path);
    bb_rpc_decoder_init(&d, 0);
    raw_send(fd, 5, 99, NULL, 0);
    assert_int_equal(raw_frame(fd, &d, &id, &code, buf, sizeof buf, 3000), 1);
    assert_int_equal(code, BCAST_ST_ERROR);
    assert_non_null(strstr(buf, "unknown command"));
    raw_send(fd, 6, BCAST_CMD_LIST_TOPICS, NULL, 0);
    assert_int_equal(raw_frame(fd, &d, &id, &code, buf, sizeof buf, 3000), 1);
    assert_int_equal(code, BCAST_ST_OK);
    assert_int_equal(id, 6);
    /* a publish whose event data is over max_event_bytes gets an error, not a crash */
    close(fd);
    bb_rpc_decoder_release(&d);

    /* garbage stream: server survives, other clients fine */
    for (int i = 0; i < 20; i++) {
        fd = raw_connect(s.path);
        uint8_t junk[256];
        for (size_t k = 0; k < sizeof junk; k++)
            junk[k] = (uint8_t)(k * 37 + (size_t)i * 11);
        send(fd, junk, sizeof junk, MSG_NOSIGNAL);
        close(fd);
    }
    struct bcast_client *c = client(&s);
    assert_int_equal(bcast_client_publish(c, "still.alive", NULL, "1", 1, NULL, 2000), 0);
    bcast_client_free(c);
    tsrv_stop(&s);
    tsrv_cleanup(&s);
}

/* ---- order under 4 concurrent publishers ---- */

#define NPUB 4
#define PER_PUB 25000

struct order {
    pthread_mutex_t mu;
    long next[NPUB];
    long got, reordered, bad;
};

static void on_order(void *arg, const struct bcast_message *m)
{
    struct order *o = arg;
    const char *d = strstr(m->event, "\"data\":{\"p\":");
    int p = -1;
    long seq = -1;
    if (d && sscanf(d, "\"data\":{\"p\":%d,\"s\":%ld}", &p, &seq) == 2 && p >= 0 && p < NPUB) {
        pthread_mutex_lock(&o->mu);
        if (seq != o->next[p]) o->reordered++;
        o->next[p] = seq + 1;
        o->got++;
        pthread_mutex_unlock(&o->mu);
    } else {
        pthread_mutex_lock(&o->mu);
        o->bad++;
        pthread_mutex_unlock(&o->mu);
    }
}

struct pubarg {
    struct tsrv *s;
    int p;
    int failures;
};

static void *publisher(void *arg)
{
    struct pubarg *a = arg;
    struct bcast_client *c = client(a->s);
    char buf[64];
    for (long i = 0; i < PER_PUB; i++) {
        int n = snprintf(buf, sizeof buf, "{\"p\":%d,\"s\":%ld}", a->p, i);
        /* pipelined, with a synchronous publish every 256 to bound what is in flight */
        int rc = (i % 256 == 255) ? bcast_client_publish(c, "order.t", "o", buf, (size_t)n, NULL, 10000)
                                  : bcast_client_publish_async(c, "order.t", "o", buf, (size_t)n, 10000);
        if (rc) a->failures++;
    }
    bcast_client_free(c);
    return NULL;
}

static void test_order_four_publishers(void **state)
{
    struct tsrv s;
    tsrv_init(&s);
    s.io.queue_bytes = 256u << 20; /* this test is about order, not slowness */
    assert_int_equal(tsrv_start(&s), 0);
    struct order o = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct bcast_client *sub = client(&s);
    assert_int_equal(bcast_client_subscribe(sub, "order.t", NULL, on_order, &o, NULL, 2000), 0);
    pthread_t th[NPUB];
    struct pubarg pa[NPUB];
    for (int i = 0; i < NPUB; i++) {
        pa[i] = (struct pubarg){&s, i, 0};
        pthread_create(&th[i], NULL, publisher, &pa[i]);
    }
    for (int i = 0; i < NPUB; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(pa[i].failures, 0);
    }
    int64_t end = ms_now() + 60000;
    for (;;) {
        pthread_mutex_lock(&o.mu);
        long got = o.got;
        pthread_mutex_unlock(&o.mu);
        if (got >= NPUB * PER_PUB || ms_now() > end) break;
        sleep_ms(10);
    }
    print_message("order: received %ld of %d, reordered %ld\n", o.got, NPUB * PER_PUB, o.reordered);
    assert_int_equal(o.got, NPUB * PER_PUB);
    assert_int_equal(o.reordered, 0);
    assert_int_equal(o.bad, 0);
    assert_int_equal(bcast_client_connects(sub), 1); /* never cut off */
    bcast_client_free(sub);
    tsrv_stop(&s);
    tsrv_cleanup(&s);
}

/* ---- a slow subscriber does not slow the others ---- */

struct counter {
    pthread_mutex_t mu;
    long n;
};

static void on_count(void *arg, const struct bcast_message *m)
{
    struct counter *c = arg;
    pthread_mutex_lock(&c->mu);
    c->n++;
    pthread_mutex_unlock(&c->mu);
}

static void test_slow_subscriber(void **state)
{
    struct tsrv s;
    tsrv_init(&s);
    s.io.queue_bytes = 64u << 10;
    s.io.slow_close_ms = 20000; /* time for this test to read the explanation (it reads late) */
    assert_int_equal(tsrv_start(&s), 0);
    /* the slow one: subscribes, then never reads */
    int slow = raw_connect(s.path);
    int small = 4096;
    setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    uint8_t p[64];
    size_t n = bcast_put_subscribe(p, sizeof p, "fan.t", 5, NULL);
    raw_send(slow, 77, BCAST_CMD_SUBSCRIBE, p, n);
    struct counter fast = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct bcast_client *sub = client(&s), *pub = client(&s);
    assert_int_equal(bcast_client_subscribe(sub, "fan.t", NULL, on_count, &fast, NULL, 2000), 0);
    char data[1024];
    memset(data, 'x', sizeof data);
    data[0] = '"', data[sizeof data - 1] = '"';
    const int N = 3000; /* ~3.5 MB: far beyond the slow one's socket buffers + 64 KiB queue */
    int64_t t0 = ms_now(), worst = 0;
    for (int i = 0; i < N; i++) {
        int64_t a = ms_now();
        assert_int_equal(bcast_client_publish(pub, "fan.t", NULL, data, sizeof data, NULL, 5000), 0);
        if (ms_now() - a > worst) worst = ms_now() - a;
        /* Keep the healthy subscriber within its 64 KiB queue even on a loaded machine (it reads
         * on another thread): only the subscriber that never reads may fall behind. */
        for (int64_t until = ms_now() + 2000; ms_now() < until;) {
            pthread_mutex_lock(&fast.mu);
            long behind = (long)(i + 1) - fast.n;
            pthread_mutex_unlock(&fast.mu);
            if (behind <= 32) break;
            sleep_ms(1);
        }
    }
    int64_t took = ms_now() - t0;
    int64_t end = ms_now() + 20000;
    while (ms_now() < end) {
        pthread_mutex_lock(&fast.mu);
        long got = fast.n;
        pthread_mutex_unlock(&fast.mu);
        if (got >= N) break;
        sleep_ms(5);
    }
    print_message("slow: %d publishes in %lld ms (worst %lld ms), fast got %ld\n", N,
                  (long long)took, (long long)worst, fast.n);
    assert_int_equal(fast.n, N);
    assert_true(worst < 1000);
    assert_int_equal(bcast_client_connects(sub), 1);
    /* the slow one: drain what it has; the last frame explains the disconnect, then EOF */
    struct bb_rpc_decoder d;
    bb_rpc_decoder_init(&d, 0);
    uint64_t id;
    uint8_t code;
    static char buf[4096];
    int frames = 0, saw_error = 0, r;
    while ((r = raw_frame(slow, &d, &id, &code, buf, sizeof buf, 3000)) == 1) {
        frames++;
        if (code == BCAST_ST_ERROR) {
            saw_error = 1;
            assert_int_equal(id, 77);
            assert_non_null(strstr(buf, "slow subscriber"));
        }
    }
    assert_int_equal(r, 0); /* EOF: the broker closed it */
    assert_true(saw_error);
    assert_true(frames < N);
    bb_rpc_decoder_release(&d);
    close(slow);
    bcast_client_free(sub);
    bcast_client_free(pub);
    tsrv_stop(&s);
    tsrv_cleanup(&s);
}

/* ---- resume inside the ring, reset beyond it ---- */

static void test_resume_and_reset(void **state)
{
    struct tsrv s;
    tsrv_init(&s);
    s.bo.ring_size = 8;
    assert_int_equal(tsrv_start(&s), 0);
    struct bcast_client *pub = client(&s);
    char ids[20][27];
    for (int i = 0; i < 6; i++) {
        char b[16];
        int n = snprintf(b, sizeof b, "%d", i);
        assert_int_equal(bcast_client_publish(pub, "res.t", NULL, b, (size_t)n, ids[i], 2000), 0);
    }
    struct coll c;
    coll_init(&c);
    struct bcast_client *sub = client(&s);
    assert_int_equal(bcast_client_subscribe(sub, "res.t", ids[2], on_msg, &c, NULL, 2000), 0);
    assert_int_equal(coll_wait(&c, 3, 3000), 3);
    assert_string_equal(c.ids[0], ids[3]);
    assert_string_equal(c.ids[1], ids[4]);
    assert_string_equal(c.ids[2], ids[5]);
    assert_int_equal(c.resets, 0);
    /* push the ring past ids[2]: a resume from there must get a reset, never a silent gap */
    for (int i = 6; i < 20; i++)
        assert_int_equal(bcast_client_publish(pub, "res.t", NULL, "1", 1, ids[i], 2000), 0);
    struct coll c2;
    coll_init(&c2);
    assert_int_equal(bcast_client_subscribe(sub, "res.t", ids[2], on_msg, &c2, NULL, 2000), 0);
    assert_int_equal(coll_wait(&c2, 1, 3000), 1);
    assert_int_equal(c2.resets, 1);
    assert_non_null(strstr(c2.ev[0], "\"reason\":\"behind\""));
    /* resuming exactly at the newest id gets nothing, then live events */
    struct coll c3;
    coll_init(&c3);
    assert_int_equal(bcast_client_subscribe(sub, "res.t", ids[19], on_msg, &c3, NULL, 2000), 0);
    assert_int_equal(bcast_client_publish(pub, "res.t", NULL, "2", 1, NULL, 2000), 0);
    assert_int_equal(coll_wait(&c3, 1, 3000), 1);
    sleep_ms(50);
    assert_int_equal(c3.n, 1);
    assert_int_equal(c3.resets, 0);
    bcast_client_free(sub);
    bcast_client_free(pub);
    tsrv_stop(&s);
    tsrv_cleanup(&s);
}

/* ---- publisher reconnect (and subscriber resubscribe) after a broker restart ---- */

static void test_reconnect_after_restart(void **state)
{
    struct tsrv s;
    tsrv_init(&s);
    assert_int_equal(tsrv_start(&s), 0);
    struct bcast_client *pub = client(&s), *sub = client(&s);
    struct coll c;
    coll_init(&c);
    assert_int_equal(bcast_client_subscribe(sub, "rc.t", NULL, on_msg, &c, NULL, 2000), 0);
    assert_int_equal(bcast_client_publish(pub, "rc.t", NULL, "1", 1, NULL, 2000), 0);
    assert_int_equal(coll_wait(&c, 1, 3000), 1);
    tsrv_stop(&s);
    /* broker down: a publish fails within its timeout instead of hanging */
    int64_t t0 = ms_now();
    int rc = bcast_client_publish(pub, "rc.t", NULL, "2", 1, NULL, 300);
    assert_true(rc == BB_EUNAVAIL || rc == BB_ECLOSED);
    assert_true(ms_now() - t0 < 2000);
    /* a new broker on the same socket path */
    assert_int_equal(tsrv_start(&s), 0);
    /* a publish may still land on the dying broker's listener and die with it (BB_ECLOSED: a
     * publish is never resent, it could duplicate); the client then reconnects to the new one */
    char id[27];
    int64_t pend = ms_now() + 5000;
    for (;;) {
        rc = bcast_client_publish(pub, "rc.t", NULL, "3", 1, id, 5000);
        if (rc == 0 || ms_now() > pend) break;
        assert_true(rc == BB_ECLOSED || rc == BB_EUNAVAIL);
        sleep_ms(20);
    }
    assert_int_equal(rc, 0);
    assert_true(bcast_client_connects(pub) >= 2);
    /* the subscriber resubscribes with its last id: the new broker cannot vouch for it (a new
     * incarnation of the topic), so it says reset; later events flow. (Waiting for the reset, not
     * for a connect count: a reconnect may first land on the dying broker's listener.) */
    int64_t end = ms_now() + 5000;
    for (;;) {
        pthread_mutex_lock(&c.mu);
        int r = c.resets;
        pthread_mutex_unlock(&c.mu);
        if (r || ms_now() > end) break;
        sleep_ms(5);
    }
    assert_int_equal(bcast_client_publish(pub, "rc.t", NULL, "4", 1, NULL, 5000), 0);
    int64_t until = ms_now() + 5000;
    for (;;) {
        pthread_mutex_lock(&c.mu);
        int done = c.n >= 3 && c.n <= MAXMSG && strstr(c.ev[c.n - 1], "\"data\":4") != NULL;
        pthread_mutex_unlock(&c.mu);
        if (done || ms_now() > until) break;
        sleep_ms(5);
    }
    assert_int_equal(c.resets, 1);
    assert_non_null(strstr(c.ev[c.n - 1], "\"data\":4"));
    bcast_client_free(pub);
    bcast_client_free(sub);
    tsrv_stop(&s);
    tsrv_cleanup(&s);
}

/* ---- authentication ---- */

/* fd (not authenticated) sends a Subscribe to ">" first: it gets "authentication required", is
 * closed, and never sees an event published meanwhile by an authenticated client. */
static void expect_refused_subscribe(struct tsrv *s, int fd, struct bcast_client *pub)
{
    uint8_t p[8];
    size_t n = bcast_put_subscribe(p, sizeof p, ">", 1, NULL);
    raw_send(fd, 7, BCAST_CMD_SUBSCRIBE, p, n);
    assert_int_equal(bcast_client_publish(pub, "secret.project.docs", NULL, "{\"x\":1}", 7, NULL,
                                          2000), 0);
    struct bb_rpc_decoder d;
    bb_rpc_decoder_init(&d, 0);
    uint64_t id;
    uint8_t code;
    char buf[256];
    assert_int_equal(raw_frame(fd, &d, &id, &code, buf, sizeof buf, 3000), 1);
    assert_int_equal(code, BCAST_ST_ERROR);
    assert_int_equal(id, 7);
    assert_non_null(strstr(buf, "authentication required"));
    /* nothing else: the next read is EOF, never a MESSAGE */
    assert_int_equal(raw_frame(fd, &d, &id, &code, buf, sizeof buf, 3000), 0);
    bb_rpc_decoder_release(&d);
    close(fd);
}

static void expect_closed_with(int fd, const char *msg)
{
    struct bb_rpc_decoder d;
    bb_rpc_decoder_init(&d, 0);
    uint64_t id;
    uint8_t code;
    char buf[256];
    assert_int_equal(raw_frame(fd, &d, &id, &code, buf, sizeof buf, 3000), 1);
    assert_int_equal(code, BCAST_ST_ERROR);
    assert_non_null(strstr(buf, msg));
    assert_int_equal(raw_frame(fd, &d, &id, &code, buf, sizeof buf, 3000), 0);
    bb_rpc_decoder_release(&d);
    close(fd);
}

static void test_auth(void **state)
{
    struct tsrv s;
    tsrv_init(&s);
    s.io.auth_timeout_ms = 300;
    assert_int_equal(tsrv_start(&s), 0);
    struct bcast_client *pub = client(&s);

    /* the socket file is owner-only */
    struct stat st;
    assert_int_equal(lstat(s.path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);

    /* no Auth first, unix and TCP: refused, no events */
    expect_refused_subscribe(&s, raw_connect_noauth(s.path), pub);
    expect_refused_subscribe(&s, raw_connect_tcp(s.port), pub);

    /* a wrong token (same length, and a prefix of the right one), an empty one */
    int fd = raw_connect_noauth(s.path);
    char wrong[] = TSRV_TOKEN;
    wrong[0] ^= 1;
    raw_send(fd, 1, BCAST_CMD_AUTH, wrong, strlen(wrong));
    expect_closed_with(fd, "authentication failed");
    fd = raw_connect_tcp(s.port);
    raw_send(fd, 1, BCAST_CMD_AUTH, TSRV_TOKEN, strlen(TSRV_TOKEN) - 1);
    expect_closed_with(fd, "authentication failed");
    fd = raw_connect_noauth(s.path);
    raw_send(fd, 1, BCAST_CMD_AUTH, NULL, 0);
    expect_closed_with(fd, "authentication failed");
    /* a big frame before Auth is refused by size, without buffering it */
    fd = raw_connect_noauth(s.path);
    uint8_t hdr[4] = {0, 0, 1, 0}; /* 64 KiB announced */
    assert_int_equal(send(fd, hdr, 4, MSG_NOSIGNAL), 4);
    expect_closed_with(fd, "frame too large");
    /* silence: closed after auth_timeout_ms (300 ms) */
    fd = raw_connect_noauth(s.path);
    int64_t t0 = ms_now();
    assert_int_equal(wait_eof(fd, 3000), 1);
    assert_true(ms_now() - t0 >= 250);
    close(fd);
    /* after Auth, a second Auth is harmless and requests work */
    fd = raw_connect(s.path);
    raw_send(fd, 2, BCAST_CMD_AUTH, TSRV_TOKEN, strlen(TSRV_TOKEN));
    raw_send(fd, 3, BCAST_CMD_LIST_TOPICS, NULL, 0);
    struct bb_rpc_decoder d;
    bb_rpc_decoder_init(&d, 0);
    uint64_t id;
    uint8_t code;
    char buf[512];
    assert_int_equal(raw_frame(fd, &d, &id, &code, buf, sizeof buf, 3000), 1);
    assert_int_equal(id, 2);
    assert_int_equal(code, BCAST_ST_OK);
    assert_int_equal(raw_frame(fd, &d, &id, &code, buf, sizeof buf, 3000), 1);
    assert_int_equal(id, 3);
    assert_non_null(strstr(buf, "secret.project.docs"));
    bb_rpc_decoder_release(&d);
    close(fd);

    /* the C client: a wrong token never connects (calls fail with EUNAVAIL) */
    char addr[400];
    snprintf(addr, sizeof addr, "unix:%s", s.path);
    struct bcast_client *bad = NULL;
    struct bcast_client_opts bo = {.token = "not-the-token", .reconnect_max_ms = 100};
    assert_int_equal(bcast_client_new(&bad, addr, &bo), 0);
    assert_int_equal(bcast_client_wait_connected(bad, 500), BB_EUNAVAIL);
    assert_int_equal(bcast_client_publish(bad, "a.b", NULL, "1", 1, NULL, 200), BB_EUNAVAIL);
    bcast_client_free(bad);
    /* no token at all: same */
    assert_int_equal(bcast_client_new(&bad, addr, NULL), 0);
    assert_int_equal(bcast_client_wait_connected(bad, 300), BB_EUNAVAIL);
    bcast_client_free(bad);
    /* the token from a file (trailing newline ignored); a missing file is an error */
    char tf[400];
    snprintf(tf, sizeof tf, "%s/token", s.dir);
    FILE *f = fopen(tf, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", TSRV_TOKEN);
    fclose(f);
    struct bcast_client_opts fo = {.token_file = tf};
    assert_int_equal(bcast_client_new(&bad, addr, &fo), 0);
    assert_int_equal(bcast_client_wait_connected(bad, 3000), 0);
    assert_int_equal(bcast_client_publish(bad, "a.b", NULL, "1", 1, NULL, 2000), 0);
    bcast_client_free(bad);
    fo.token_file = "/nonexistent/token";
    assert_int_equal(bcast_client_new(&bad, addr, &fo), BB_EINVAL);
    bcast_client_free(pub);
    tsrv_stop(&s);
    tsrv_cleanup(&s);
}

/* ---- CreateTopic bound per connection; refused async publishes are counted as dropped ---- */

static void test_created_bound_and_dropped(void **state)
{
    struct tsrv s;
    tsrv_init(&s);
    s.io.max_created = 3;
    s.bo.max_topics = 5;
    assert_int_equal(tsrv_start(&s), 0);
    struct bcast_client *a = client(&s);
    assert_int_equal(bcast_client_create_topic(a, "made.1", 2000), 0);
    assert_int_equal(bcast_client_create_topic(a, "made.2", 2000), 0);
    assert_int_equal(bcast_client_create_topic(a, "made.3", 2000), 0);
    assert_int_equal(bcast_client_create_topic(a, "made.4", 2000), BB_EPROTO);
    assert_int_equal(bcast_client_create_topic(a, "made.1", 2000), 0); /* exists: fine */
    /* the bound is per connection */
    struct bcast_client *b = client(&s);
    assert_int_equal(bcast_client_create_topic(b, "other.1", 2000), 0);
    char *list = NULL;
    assert_int_equal(bcast_client_list_topics(b, &list, 2000), 0);
    assert_null(strstr(list, "made.4"));
    free(list);

    /* 4 topics exist, max 5: async publishes to new topics beyond it are refused by the broker;
     * the client counts them (and the metric counter it was given) */
    struct bb_metrics *m = bb_metrics_new();
    assert_non_null(m);
    struct bb_counter *ctr = bb_metrics_counter(m, "test_dropped_total", "t", NULL);
    char addr[400];
    snprintf(addr, sizeof addr, "unix:%s", s.path);
    struct bcast_client *c = NULL;
    struct bcast_client_opts o = {.token = TSRV_TOKEN, .dropped = ctr};
    assert_int_equal(bcast_client_new(&c, addr, &o), 0);
    assert_int_equal(bcast_client_wait_connected(c, 5000), 0);
    for (int i = 0; i < 4; i++) {
        char t[32];
        snprintf(t, sizeof t, "fill.%d", i);
        assert_int_equal(bcast_client_publish_async(c, t, NULL, "1", 1, 2000), 0);
    }
    /* a synchronous call on the same connection: its reply comes after the four */
    assert_int_equal(bcast_client_publish(c, "made.1", NULL, "1", 1, NULL, 2000), 0);
    assert_int_equal(bcast_client_dropped(c), 3); /* fill.0 made the 5th topic */
    char *text = NULL;
    size_t tl = 0;
    assert_int_equal(bb_metrics_render(m, &text, &tl), 0);
    assert_non_null(strstr(text, "test_dropped_total 3"));
    free(text);
    assert_int_equal(bcast_client_dropped(a), 0);
    bcast_client_free(c);
    bcast_client_free(a);
    bcast_client_free(b);
    bb_metrics_free(m);
    tsrv_stop(&s);
    tsrv_cleanup(&s);
}

/* ---- pipelined publishes: acknowledged in batches, none lost, order kept, acks match ---- */

#define PIPE_N 100000

struct pipe_sub {
    pthread_mutex_t mu;
    long got, next, reordered, bad;
};

static void on_pipe(void *arg, const struct bcast_message *m)
{
    struct pipe_sub *o = arg;
    const char *d = strstr(m->event, "\"data\":{\"s\":");
    long seq = -1;
    pthread_mutex_lock(&o->mu);
    if (d && sscanf(d, "\"data\":{\"s\":%ld}", &seq) == 1) {
        if (seq != o->next) o->reordered++;
        o->next = seq + 1;
        o->got++;
    } else {
        o->bad++;
    }
    pthread_mutex_unlock(&o->mu);
}

static void test_pipelined_acks(void **state)
{
    struct tsrv s;
    tsrv_init(&s);
    s.io.queue_bytes = 256u << 20; /* about acks and order, not slowness */
    s.bo.max_event_bytes = 4096;
    assert_int_equal(tsrv_start(&s), 0);

    /* on the wire: three pipelined publishes and a Flush in one write get no OK each, one ERROR
     * for the refused one (in place), one ACK for the two accepted (the last request id), then the
     * Flush's OK */
    int fd = raw_connect(s.path);
    uint8_t wire[4 * (17 + 64) + 5000], pl[5100];
    size_t wn = 0;
    char big[4200];
    memset(big, 'x', sizeof big);
    for (uint64_t id = 1; id <= 3; id++) {
        size_t n = id == 2 ? bcast_put_publish(pl, sizeof pl, "pipe.raw", 8, big, sizeof big, NULL, NULL)
                           : bcast_put_publish(pl, sizeof pl, "pipe.raw", 8, "{}", 2, NULL, NULL);
        bb_rpc_frame_header(wire + wn, id, BCAST_CMD_PUBLISH_PIPELINED, (uint32_t)n);
        memcpy(wire + wn + 17, pl, n);
        wn += 17 + n;
    }
    bb_rpc_frame_header(wire + wn, 4, BCAST_CMD_FLUSH, 0);
    wn += 17;
    assert_int_equal(send(fd, wire, wn, MSG_NOSIGNAL), (ssize_t)wn);
    struct bb_rpc_decoder d;
    bb_rpc_decoder_init(&d, 0);
    uint64_t id = 0;
    uint8_t code = 0;
    char buf[256];
    assert_int_equal(raw_frame(fd, &d, &id, &code, buf, sizeof buf, 3000), 1);
    assert_int_equal(code, BCAST_ST_ERROR);
    assert_int_equal(id, 2);
    assert_non_null(strstr(buf, "\"command\":\"Publish\""));
    assert_int_equal(raw_frame(fd, &d, &id, &code, buf, sizeof buf, 3000), 1);
    assert_int_equal(code, BCAST_ST_ACK);
    assert_int_equal(id, 3);
    struct bcast_ack a;
    assert_int_equal(bcast_ack_decode((const uint8_t *)buf, 5 + BCAST_ID_LEN, &a), 0);
    assert_int_equal(a.count, 2);
    assert_int_equal(a.last_id.n, BCAST_ID_LEN);
    assert_int_equal(raw_frame(fd, &d, &id, &code, buf, sizeof buf, 3000), 1);
    assert_int_equal(code, BCAST_ST_OK);
    assert_int_equal(id, 4);
    /* a lone pipelined publish is acknowledged by the tick, without a Flush */
    size_t n1 = bcast_put_publish(pl, sizeof pl, "pipe.raw", 8, "1", 1, NULL, NULL);
    raw_send(fd, 5, BCAST_CMD_PUBLISH_PIPELINED, pl, n1);
    assert_int_equal(raw_frame(fd, &d, &id, &code, buf, sizeof buf, 3000), 1);
    assert_int_equal(code, BCAST_ST_ACK);
    assert_int_equal(id, 5);
    assert_int_equal(bcast_ack_decode((const uint8_t *)buf, 5 + BCAST_ID_LEN, &a), 0);
    assert_int_equal(a.count, 1);
    assert_int_equal(raw_frame(fd, &d, &id, &code, buf, sizeof buf, 300), -1); /* nothing more */
    bb_rpc_decoder_release(&d);
    close(fd);

    /* through the client: 100k async publishes, then flush */
    struct pipe_sub o = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct bcast_client *sub = client(&s);
    assert_int_equal(bcast_client_subscribe(sub, "pipe.t", NULL, on_pipe, &o, NULL, 2000), 0);
    struct bcast_client *c = client(&s);
    char msg[64];
    for (long i = 0; i < PIPE_N; i++) {
        int n = snprintf(msg, sizeof msg, "{\"s\":%ld}", i);
        assert_int_equal(bcast_client_publish_async(c, "pipe.t", NULL, msg, (size_t)n, 10000), 0);
    }
    assert_int_equal(bcast_client_flush(c, 30000), 0);
    assert_int_equal(bcast_client_acked(c), PIPE_N);
    assert_int_equal(bcast_client_dropped(c), 0);
    /* a refused one is counted as dropped, not acked, and flush still settles */
    assert_int_equal(bcast_client_publish_async(c, "pipe.t", NULL, big, sizeof big, 10000), 0);
    assert_int_equal(bcast_client_flush(c, 10000), 0);
    assert_int_equal(bcast_client_acked(c), PIPE_N);
    assert_int_equal(bcast_client_dropped(c), 1);
    assert_int_equal(bcast_client_flush(c, 1000), 0); /* nothing pending: at once */
    int64_t end = ms_now() + 30000;
    for (;;) {
        pthread_mutex_lock(&o.mu);
        long got = o.got;
        pthread_mutex_unlock(&o.mu);
        if (got >= PIPE_N || ms_now() > end) break;
        sleep_ms(10);
    }
    sleep_ms(50); /* nothing beyond PIPE_N arrives */
    pthread_mutex_lock(&o.mu);
    assert_int_equal(o.got, PIPE_N);
    assert_int_equal(o.reordered, 0);
    assert_int_equal(o.bad, 0);
    pthread_mutex_unlock(&o.mu);
    assert_int_equal(bcast_client_connects(sub), 1);
    bcast_client_free(c);
    bcast_client_free(sub);
    tsrv_stop(&s);
    tsrv_cleanup(&s);
}

/* ---- an event fanned out to many subscriptions is referenced, not copied: same bytes, order
 * kept across references and copies on one connection, a cut-off subscriber drops its references
 * (ASan checks they are released) ---- */

#define FAN_SUBS 12
#define FAN_N 3000

struct fan_sub {
    pthread_mutex_t mu;
    long got, next, reordered, bad;
};

static void on_fan(void *arg, const struct bcast_message *m)
{
    struct fan_sub *o = arg;
    const char *d = strstr(m->event, "\"data\":{\"s\":");
    long seq = -1;
    pthread_mutex_lock(&o->mu);
    if (d && sscanf(d, "\"data\":{\"s\":%ld,", &seq) == 1 && strlen(m->id) == BCAST_ID_LEN &&
        strstr(m->event, m->id) && !strcmp(m->topic, "fanref.t")) {
        if (seq != o->next) o->reordered++;
        o->next = seq + 1;
        o->got++;
    } else {
        o->bad++;
    }
    pthread_mutex_unlock(&o->mu);
}

static void test_fanout_references(void **state)
{
    struct tsrv s;
    tsrv_init(&s);
    s.io.queue_bytes = 1u << 20; /* the healthy ones are kept within it below */
    s.io.slow_close_ms = 200;
    assert_int_equal(tsrv_start(&s), 0);
    /* one that never reads, with a small queue share: cut off while holding references */
    int slow = raw_connect(s.path);
    int small = 4096;
    setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    uint8_t p[64];
    size_t pn = bcast_put_subscribe(p, sizeof p, "fanref.t", 8, NULL);
    raw_send(slow, 5, BCAST_CMD_SUBSCRIBE, p, pn);
    struct fan_sub o[FAN_SUBS];
    struct bcast_client *subs[FAN_SUBS];
    for (int i = 0; i < FAN_SUBS; i++) {
        o[i] = (struct fan_sub){.mu = PTHREAD_MUTEX_INITIALIZER};
        subs[i] = client(&s);
        assert_int_equal(bcast_client_subscribe(subs[i], "fanref.t", NULL, on_fan, &o[i], NULL, 2000), 0);
    }
    /* a second subscription on the first connection: its frames interleave on one stream */
    struct fan_sub wild = {.mu = PTHREAD_MUTEX_INITIALIZER};
    assert_int_equal(bcast_client_subscribe(subs[0], "fanref.>", NULL, on_fan, &wild, NULL, 2000), 0);
    struct bcast_client *pub = client(&s);
    char msg[600], pad[400];
    memset(pad, 'p', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    for (long i = 0; i < FAN_N; i++) {
        int n = snprintf(msg, sizeof msg, "{\"s\":%ld,\"pad\":\"%s\"}", i, pad);
        assert_int_equal(bcast_client_publish_async(pub, "fanref.t", NULL, msg, (size_t)n, 10000), 0);
        if (i % 1000 == 999) /* a synchronous call now and then: replies between references */
            assert_int_equal(bcast_client_publish(pub, "fanref.other", NULL, "1", 1, NULL, 10000), 0);
        if (i % 100 != 99) continue;
        /* keep the healthy subscribers within their queue even on a loaded machine: only the one
         * that never reads may fall behind (1.9 MB in all, > 1 MiB) */
        for (int k = 0; k <= FAN_SUBS; k++) {
            struct fan_sub *f = k < FAN_SUBS ? &o[k] : &wild;
            for (int64_t until = ms_now() + 3000; ms_now() < until;) {
                pthread_mutex_lock(&f->mu);
                long behind = i + 1 - f->got;
                pthread_mutex_unlock(&f->mu);
                if (behind <= 150) break;
                sleep_ms(1);
            }
        }
    }
    assert_int_equal(bcast_client_flush(pub, 30000), 0);
    assert_int_equal(bcast_client_acked(pub), FAN_N);
    int64_t end = ms_now() + 30000;
    for (int i = 0; i < FAN_SUBS; i++) {
        for (;;) {
            pthread_mutex_lock(&o[i].mu);
            long got = o[i].got;
            pthread_mutex_unlock(&o[i].mu);
            if (got >= FAN_N || ms_now() > end) break;
            sleep_ms(5);
        }
        assert_int_equal(o[i].got, FAN_N);
        assert_int_equal(o[i].reordered, 0);
        assert_int_equal(o[i].bad, 0);
        assert_int_equal(bcast_client_connects(subs[i]), 1);
    }
    assert_int_equal(wild.got, FAN_N);
    assert_int_equal(wild.reordered, 0);
    /* the slow one was cut off and closed (its queued references released) */
    struct bb_rpc_decoder d;
    bb_rpc_decoder_init(&d, 0);
    uint64_t id;
    uint8_t code;
    static char buf[4096];
    int r, saw_error = 0;
    while ((r = raw_frame(slow, &d, &id, &code, buf, sizeof buf, 5000)) == 1)
        if (code == BCAST_ST_ERROR && strstr(buf, "slow subscriber")) saw_error = 1;
    assert_int_equal(r, 0);
    assert_true(saw_error);
    bb_rpc_decoder_release(&d);
    close(slow);
    for (int i = 0; i < FAN_SUBS; i++)
        bcast_client_free(subs[i]);
    bcast_client_free(pub);
    tsrv_stop(&s);
    tsrv_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_created_bound_and_dropped),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_ok_before_message),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_order_four_publishers),
        cmocka_unit_test(test_pipelined_acks),
        cmocka_unit_test(test_fanout_references),
        cmocka_unit_test(test_slow_subscriber),
        cmocka_unit_test(test_resume_and_reset),
        cmocka_unit_test(test_reconnect_after_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
