/* bench_client.c — one bench program, two back ends: buncast (our C client library, default) or
 * NATS (libnats, -DUSE_NATS). The buncast side is the CMake target bench_buncast_client; the NATS
 * side is built by bench/buncast/run.sh into a temp dir.
 *
 *   bench_client latency URL N            publish→deliver latency over N messages, one at a time:
 *                                         prints "latency p50_us=X p99_us=Y"
 *   bench_client fanout URL SUBS MSGS     SUBS subscriber connections, one publisher sends MSGS
 *                                         messages (128-byte payload) as fast as it can; time until
 *                                         every subscriber got every message: prints
 *                                         "fanout subs=S deliveries_per_s=X"
 * Both sides use the same pattern: one connection per subscriber, async publish, callbacks on the
 * library's own threads.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef USE_NATS
#include <nats/nats.h>
#else
#include "buncast_client.h"
#endif

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static _Atomic long delivered;
static _Atomic int64_t last_recv_ns;

static void on_recv_common(void)
{
    atomic_store(&last_recv_ns, now_ns());
    atomic_fetch_add(&delivered, 1);
}

#ifdef USE_NATS
typedef natsConnection conn_t;
static void nats_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    on_recv_common();
    natsMsg_Destroy(msg);
}
static conn_t *conn_new(const char *url)
{
    natsOptions *o;
    natsConnection *nc = NULL;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, url);
    natsOptions_UseGlobalMessageDelivery(o, true);
    natsOptions_SetMaxPendingMsgs(o, 1000000);
    if (natsConnection_Connect(&nc, o) != NATS_OK) {
        fprintf(stderr, "nats connect failed\n");
        exit(1);
    }
    natsOptions_Destroy(o);
    return nc;
}
static void sub_new(conn_t *c, const char *topic)
{
    natsSubscription *s;
    if (natsConnection_Subscribe(&s, c, topic, nats_cb, NULL) != NATS_OK) exit(1);
    natsSubscription_SetPendingLimits(s, -1, -1);
    natsConnection_Flush(c);
}
static void pub(conn_t *c, const char *topic, const char *data, int n)
{
    while (natsConnection_Publish(c, topic, data, n) != NATS_OK)
        usleep(100);
}
static void flush_pub(conn_t *c)
{
    natsConnection_Flush(c);
}
#else
typedef struct bcast_client conn_t;
static void bc_cb(void *arg, const struct bcast_message *m)
{
    on_recv_common();
}
static conn_t *conn_new(const char *url)
{
    struct bcast_client *c;
    /* buncast's IPC needs the internal token: run.sh points this at <data>/internal_token */
    struct bcast_client_opts o = {.token_file = getenv("BENCH_BUNCAST_TOKEN_FILE")};
    if (bcast_client_new(&c, url, &o) != 0 || bcast_client_wait_connected(c, 10000) != 0) {
        fprintf(stderr, "buncast connect failed\n");
        exit(1);
    }
    return c;
}
static void sub_new(conn_t *c, const char *topic)
{
    if (bcast_client_subscribe(c, topic, NULL, bc_cb, NULL, NULL, 10000) != 0) exit(1);
}
static void pub(conn_t *c, const char *topic, const char *data, int n)
{
    while (bcast_client_publish_async(c, topic, NULL, data, (size_t)n, 10000) != 0)
        usleep(100);
}
static void flush_pub(conn_t *c)
{
    bcast_client_publish(c, "bench.flush", NULL, "0", 1, NULL, 30000);
}
#endif

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void latency(const char *url, int n)
{
    conn_t *s = conn_new(url), *p = conn_new(url);
    sub_new(s, "bench.lat");
    usleep(100000);
    int64_t *v = calloc((size_t)n, sizeof *v);
    const char *payload = "{\"bench\":\"latency\",\"pad\":\"0123456789012345678901234567890123456789\"}";
    int warm = n / 10;
    for (int i = 0; i < n + warm; i++) {
        long before = atomic_load(&delivered);
        int64_t t0 = now_ns();
        pub(p, "bench.lat", payload, (int)strlen(payload));
        while (atomic_load(&delivered) == before) {
            if (now_ns() - t0 > 5000000000LL) {
                fprintf(stderr, "latency: message lost\n");
                exit(1);
            }
        }
        if (i >= warm) v[i - warm] = atomic_load(&last_recv_ns) - t0;
    }
    qsort(v, (size_t)n, sizeof *v, cmp64);
    printf("latency p50_us=%.1f p99_us=%.1f\n", (double)v[n / 2] / 1000.0,
           (double)v[(size_t)n * 99 / 100] / 1000.0);
    free(v);
}

static void fanout(const char *url, int subs, int msgs)
{
    conn_t **ss = calloc((size_t)subs, sizeof *ss);
    for (int i = 0; i < subs; i++) {
        ss[i] = conn_new(url);
        sub_new(ss[i], "bench.fan");
    }
    conn_t *p = conn_new(url);
    usleep(300000);
    char payload[129];
    memset(payload, 'x', 128);
    payload[0] = '"', payload[127] = '"', payload[128] = 0;
    atomic_store(&delivered, 0);
    long want = (long)subs * msgs;
    int64_t t0 = now_ns();
    for (int i = 0; i < msgs; i++)
        pub(p, "bench.fan", payload, 128);
    flush_pub(p);
    int64_t deadline = now_ns() + 120000000000LL;
    while (atomic_load(&delivered) < want && now_ns() < deadline)
        usleep(200);
    long got = atomic_load(&delivered);
    double secs = (double)(atomic_load(&last_recv_ns) - t0) / 1e9;
    if (got < want) fprintf(stderr, "fanout: only %ld of %ld delivered\n", got, want);
    printf("fanout subs=%d msgs=%d delivered=%ld deliveries_per_s=%.0f\n", subs, msgs, got,
           secs > 0 ? (double)got / secs : 0.0);
    fflush(stdout);
    _exit(0); /* skip tearing down hundreds of connections */
}

static int num(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v <= 0 || v > 100000000) {
        fprintf(stderr, "bad number: %s\n", s);
        exit(2);
    }
    return (int)v;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "latency")) latency(argv[2], num(argv[3]));
    else if (argc >= 5 && !strcmp(argv[1], "fanout")) fanout(argv[2], num(argv[3]), num(argv[4]));
    else {
        fprintf(stderr, "usage: bench_client latency URL N | fanout URL SUBS MSGS\n");
        return 2;
    }
    fflush(stdout);
    _exit(0);
}
