/* buncast.c — the buncast service: configuration, lifecycle, HTTP routes (SSE included).
 *
 * Everything (broker, IPC server, HTTP server, SSE sinks) runs on the runtime's loop thread, so
 * the broker needs no locks and per-topic order is the order in which publishes are handled. The
 * only thing read from another thread is the health snapshot (atomics, refreshed every second).
 *
 * Shutdown (stop): the tick timer stops, the IPC server closes every connection at once (queued
 * frames dropped: a stuck subscriber cannot hold it up), the HTTP server drains for at most
 * BUNBASE_BUNCAST_SHUTDOWN_MS (SSE streams are ended; stuck ones are closed at the deadline), and
 * once every part has closed its handles the broker is freed (durable logs fsync'ed).
 */
#include "buncast.h"
#include "bcast_broker.h"
#include "bcast_ipc.h"

#include "bb_config.h"
#include "bb_err.h"
#include "bb_host.h"
#include "bb_time.h"
#include "bb_http.h"
#include "bb_json.h"
#include "bb_log.h"
#include "bb_metrics.h"
#include "bb_router.h"
#include "bb_sse.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TICK_MS 1000u
#define DEFAULT_HTTP_ADDR "127.0.0.1:0"

struct buncast {
    struct bb_runtime *rt;
    const struct bb_config *cfg;
    struct buncast_config k; /* our knobs */
    struct bcast_broker *broker;
    struct bcast_ipc *ipc;
    struct bb_router *router;
    struct bb_http_server *http;
    uv_timer_t tick;
    int tick_on;
    int parts; /* ipc + http + tick still closing */
    size_t nsse;
    int stopping;
    char sock_path[1100];
    char tcp_addr[300];
    _Atomic uint64_t h_topics, h_subs, h_published, h_conns;
};

static void snapshot(struct buncast *bc)
{
    struct bcast_stats st;
    bcast_broker_stats(bc->broker, &st);
    atomic_store(&bc->h_topics, st.topics);
    atomic_store(&bc->h_subs, st.subscribers);
    atomic_store(&bc->h_published, st.published);
    atomic_store(&bc->h_conns, bc->ipc ? bcast_ipc_connections(bc->ipc) : 0);
}

/* ------------------------------------------------------------------ errors */

static void reply_broker_error(struct bb_http_response *res, int rc, const char *what)
{
    switch (rc) {
    case BB_EINVAL: bb_http_reply_error(res, rc, what); break;
    case BB_ETOOBIG: bb_http_reply_error(res, rc, "event data too large"); break;
    case BB_ELIMIT: bb_http_reply_error(res, rc, "too many topics"); break;
    case BB_ENOTFOUND: bb_http_reply_error(res, rc, "no such topic"); break;
    case BB_EIO:
        bb_http_reply_error_status(res, 503, "unavailable", "durable log write failed");
        break;
    default: bb_http_reply_error(res, rc, NULL);
    }
}

/* ------------------------------------------------------------------ routes */

static void handle_topics(struct bb_http_request *req, struct bb_http_response *res)
{
    struct buncast *bc = req->ctx;
    char buf[8];
    const char *detail = bb_http_query(req, "detail", buf, sizeof buf);
    json_t *a = detail && strcmp(detail, "1") == 0 ? bcast_broker_topics_detail(bc->broker)
                                                   : bcast_broker_list_topics(bc->broker);
    if (!a) {
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    bb_http_reply_json(res, 200, a);
    json_decref(a);
}

static void handle_publish(struct bb_http_request *req, struct bb_http_response *res)
{
    struct buncast *bc = req->ctx;
    json_t *body = NULL;
    char perr[160];
    char *data = NULL;
    size_t dn = 0;
    if (bb_json_parse(req->body, req->body_len, BB_JSON_DEFAULT_DEPTH, &body, perr, sizeof perr) !=
            0 ||
        !json_is_object(body)) {
        bb_http_reply_error(res, BB_EINVAL, "body must be a JSON object {topic, type, data}");
        goto out;
    }
    json_t *topic = json_object_get(body, "topic");
    json_t *type = json_object_get(body, "type");
    json_t *source = json_object_get(body, "source");
    json_t *jd = json_object_get(body, "data");
    if (!json_is_string(topic) || (type && !json_is_string(type)) ||
        (source && !json_is_string(source))) {
        bb_http_reply_error(res, BB_EINVAL, "topic must be a string; type and source strings");
        goto out;
    }
    if (jd && !(data = bb_json_dumps(jd, &dn))) {
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        goto out;
    }
    char id[BCAST_ID_LEN + 1];
    int rc = bcast_broker_publish(
        bc->broker, json_string_value(topic), json_string_length(topic),
        type ? json_string_value(type) : NULL, type ? json_string_length(type) : 0,
        source ? json_string_value(source) : NULL, source ? json_string_length(source) : 0, data,
        dn, id);
    if (rc) {
        reply_broker_error(res, rc, "invalid topic, type or source");
        goto out;
    }
    json_t *ok = json_pack("{s:s}", "id", id);
    bb_http_reply_json(res, 200, ok);
    json_decref(ok);
out:
    free(data);
    json_decref(body);
}

/* --- SSE sink --- */

struct sse_sub {
    struct buncast *bc;
    struct bb_sse *sse;
    struct bcast_sub *sub;
};

static int sse_map(int rc)
{
    return rc == 0 ? 0 : rc == BB_EBUSY ? BB_EBUSY : BB_ECLOSED;
}

static int sse_deliver(void *sink, struct bcast_sub *sub, const char *topic, size_t tn,
                       const struct bcast_event *ev)
{
    struct sse_sub *s = sink;
    return sse_map(bb_sse_send(s->sse, ev->type, ev->id, ev->json, ev->len));
}

static int sse_reset(void *sink, struct bcast_sub *sub, const char *topic, size_t tn,
                     const char *json, size_t len)
{
    struct sse_sub *s = sink;
    return sse_map(bb_sse_send(s->sse, "reset", NULL, json, len));
}

static const struct bcast_sink_ops sse_ops = {sse_deliver, sse_reset};

static void maybe_free(struct buncast *bc);

static void on_sse_close(struct bb_sse *sse, void *arg)
{
    struct sse_sub *s = arg;
    struct buncast *bc = s->bc;
    if (s->sub) bcast_broker_unsubscribe(bc->broker, s->sub);
    bb_sse_unref(s->sse);
    free(s);
    bc->nsse--;
    if (bc->stopping) maybe_free(bc);
}

static void handle_subscribe(struct bb_http_request *req, struct bb_http_response *res)
{
    struct buncast *bc = req->ctx;
    char topic[BCAST_MAX_TOPIC + 1], qid[64];
    const char *t = bb_http_query(req, "topic", topic, sizeof topic);
    if (!t || !t[0]) {
        bb_http_reply_error(res, BB_EINVAL, "missing query parameter: topic");
        return;
    }
    const char *resume = bb_http_header(req, "Last-Event-ID");
    if (!resume || !resume[0]) resume = bb_http_query(req, "last_event_id", qid, sizeof qid);
    if (resume && !resume[0]) resume = NULL;
    int rc = bcast_broker_check_subscribe(bc->broker, t, strlen(t), resume);
    if (rc) {
        reply_broker_error(res, rc, "invalid topic pattern or Last-Event-ID");
        return;
    }
    struct sse_sub *s = calloc(1, sizeof *s);
    if (!s) {
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    s->bc = bc;
    if (bb_sse_start(req, res, on_sse_close, s, &s->sse) != 0) {
        free(s);
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    bc->nsse++;
    bb_http_set_header(res, "Cache-Control", "no-cache");
    bb_http_set_header(res, "X-Accel-Buffering", "no");
    /* The stream's headers go out when this handler returns; events queued now follow them. */
    rc = bcast_broker_subscribe(bc->broker, t, strlen(t), resume, &sse_ops, s, 0, &s->sub);
    if (rc) {
        s->sub = NULL;
        bb_sse_close(s->sse);
    }
}

static const struct bb_route routes[] = {
    {"GET", "/topics", handle_topics, BB_AUTH_INTERNAL, 0, 0, "buncast_topics"},
    {"POST", "/publish", handle_publish, BB_AUTH_INTERNAL, 0, 0, "buncast_publish"},
    {"GET", "/subscribe", handle_subscribe, BB_AUTH_INTERNAL, BB_ROUTE_STREAM, 0,
     "buncast_subscribe"},
};

/* ------------------------------------------------------------------ lifecycle */

static void on_tick(uv_timer_t *t)
{
    struct buncast *bc = t->data;
    bcast_broker_tick(bc->broker, bb_time_wall_ms());
    snapshot(bc);
}

static void bc_free(struct buncast *bc)
{
    bcast_broker_free(bc->broker);
    bb_router_free(bc->router);
    free(bc);
}

static void maybe_free(struct buncast *bc)
{
    if (bc->parts == 0 && bc->nsse == 0) bc_free(bc);
}

static void on_part_closed(void *arg)
{
    struct buncast *bc = arg;
    bc->parts--;
    maybe_free(bc);
}

static void on_tick_closed(uv_handle_t *h)
{
    on_part_closed(h->data);
}

static void on_http_drained(void *arg)
{
    struct buncast *bc = arg;
    bb_http_server_free(bc->http);
    bc->http = NULL;
    on_part_closed(bc);
}

static void buncast_stop(void *state)
{
    struct buncast *bc = state;
    if (!bc || bc->stopping) return;
    bc->stopping = 1;
    bc->parts = 0;
    if (bc->tick_on) {
        bc->parts++;
        uv_close((uv_handle_t *)&bc->tick, on_tick_closed);
    }
    if (bc->ipc) {
        bc->parts++;
        struct bcast_ipc *ipc = bc->ipc;
        bc->ipc = NULL;
        bcast_ipc_stop(ipc, on_part_closed, bc);
    }
    if (bc->http) {
        bc->parts++;
        bb_http_server_drain(bc->http, on_http_drained, bc);
    }
    maybe_free(bc);
}

#define ROW(F, ENV, T, DFLT, MIN, MAX, HELP, CH)                                                   \
    BB_KNOB_ROW(struct buncast_config, F, ENV, NULL, T, DFLT, MIN, MAX, HELP, CH)
static const struct bb_knob buncast_knobs[] = {
    ROW(socket, "BUNBASE_BUNCAST_SOCKET", BB_KNOB_STR, "", 0, 0,
     "buncast IPC unix socket; empty: <data>/buncast.sock", NULL),
    ROW(ipc_addr, "BUNBASE_BUNCAST_IPC_ADDR", BB_KNOB_STR, "", 0, 0,
     "buncast IPC over TCP (IP:PORT, port 0 = a free one); empty (default): off", NULL),
    ROW(auth_timeout_ms, "BUNBASE_BUNCAST_AUTH_TIMEOUT_MS", BB_KNOB_U64, "5000", 10, 600000,
     "an IPC connection that has not authenticated (internal token) within this is closed", NULL),
    ROW(max_created_topics, "BUNBASE_BUNCAST_MAX_CREATED_TOPICS", BB_KNOB_U64, "1000", 0,
     100000000, "new topics one IPC connection may make with CreateTopic; beyond: error reply", NULL),
    ROW(created_topic_idle_ms, "BUNBASE_BUNCAST_CREATED_TOPIC_IDLE_MS", BB_KNOB_U64, "3600000",
     1, 86400000ull * 365, "a CreateTopic topic with no subscriber and no publish this long is removed", NULL),
    ROW(durable_prefixes, "BUNBASE_BUNCAST_DURABLE_PREFIXES", BB_KNOB_STR, "", 0, 0,
     "comma-separated topic prefixes whose events are kept in an on-disk log", NULL),
    ROW(ring_size, "BUNBASE_BUNCAST_RING_SIZE", BB_KNOB_U64, "1024", 0, 1000000,
     "events kept in memory per topic for resume (Last-Event-ID)", NULL),
    ROW(queue_bytes, "BUNBASE_BUNCAST_QUEUE_BYTES", BB_KNOB_U64, "4194304", 4096, 1ull << 32,
     "unsent bytes per buncast subscriber before it is disconnected as too slow", NULL),
    ROW(max_frame_bytes, "BUNBASE_BUNCAST_MAX_FRAME_BYTES", BB_KNOB_U64, "16777216", 64,
     1ull << 31, "largest IPC frame accepted; bigger: error frame and close", NULL),
    ROW(max_event_bytes, "BUNBASE_BUNCAST_MAX_EVENT_BYTES", BB_KNOB_U64, "1048576", 0,
     1ull << 30, "largest event data (IPC and HTTP)", NULL),
    ROW(max_topics, "BUNBASE_BUNCAST_MAX_TOPICS", BB_KNOB_U64, "100000", 1, 100000000,
     "topics in memory; creating more is refused", NULL),
    ROW(max_connections, "BUNBASE_BUNCAST_MAX_CONNECTIONS", BB_KNOB_U64, "10000", 1, 1000000,
     "IPC connections; extra ones are closed on accept", NULL),
    ROW(max_subscriptions, "BUNBASE_BUNCAST_MAX_SUBSCRIPTIONS", BB_KNOB_U64, "1024", 1, 1000000,
     "subscriptions per IPC connection", NULL),
    ROW(topic_idle_ms, "BUNBASE_BUNCAST_TOPIC_IDLE_MS", BB_KNOB_U64, "300000", 0, 86400000ull * 365,
     "a topic with no subscribers and no publish for this long is removed (with its ring)", NULL),
    ROW(segment_bytes, "BUNBASE_BUNCAST_SEGMENT_BYTES", BB_KNOB_U64, "8388608", 4096, 1ull << 32,
     "durable topics: log segment size before rolling", NULL),
    ROW(retention_bytes, "BUNBASE_BUNCAST_RETENTION_BYTES", BB_KNOB_U64, "268435456", 4096,
     1ull << 40, "durable topics: log bytes kept per topic (oldest segments deleted)", NULL),
    ROW(retention_ms, "BUNBASE_BUNCAST_RETENTION_MS", BB_KNOB_U64, "604800000", 0,
     86400000ull * 3650, "durable topics: segments older than this are deleted; 0 = no age limit", NULL),
    ROW(shutdown_ms, "BUNBASE_BUNCAST_SHUTDOWN_MS", BB_KNOB_U64, "2000", 0, 600000,
     "buncast stop: SSE streams get this long to flush before they are closed", NULL),
    BB_KNOBS_END,
};
#undef ROW

int buncast_config_load(struct buncast_config *c, char *err, size_t errcap)
{
    memset(c, 0, sizeof *c);
    return bb_knobs_load(buncast_knobs, bb_knobs_count(buncast_knobs), c, err, errcap);
}

static int buncast_start(struct bb_runtime *rt, void **state, char *err, size_t errcap)
{
    const struct bb_config *cfg = rt->cfg;
    struct buncast *bc = calloc(1, sizeof *bc);
    if (!bc) return BB_ENOMEM;
    bc->rt = rt;
    bc->cfg = cfg;
    int rc;
    const struct buncast_config *k = &bc->k;
    if ((rc = buncast_config_load(&bc->k, err, errcap)) != 0) goto fail;
    char dir[1100], logdir[1200];
    snprintf(dir, sizeof dir, "%s/buncast", cfg->data_dir);
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errcap, "buncast: cannot create %s: %s", dir, strerror(errno));
        rc = BB_EIO;
        goto fail;
    }
    struct bcast_broker_opts bo = {
        .ring_size = k->ring_size,
        .max_topics = k->max_topics,
        .max_event_bytes = k->max_event_bytes,
        .topic_idle_ms = k->topic_idle_ms,
        .created_idle_ms = k->created_topic_idle_ms,
        .durable_prefixes = k->durable_prefixes,
        .log_dir = logdir,
        .segment_bytes = k->segment_bytes,
        .retention_bytes = k->retention_bytes,
        .retention_ms = k->retention_ms,
        .metrics = rt->metrics,
    };
    if ((rc = bcast_broker_new(&bc->broker, &bo, err, errcap)) != 0) goto fail;

    if (k->socket[0]) snprintf(bc->sock_path, sizeof bc->sock_path, "%s", k->socket);
    else snprintf(bc->sock_path, sizeof bc->sock_path, "%s/buncast.sock", cfg->data_dir);
    struct bcast_ipc_opts io = {
        .max_frame = k->max_frame_bytes,
        .queue_bytes = k->queue_bytes,
        .max_connections = k->max_connections,
        .max_subs = k->max_subscriptions,
        .slow_close_ms = 1000,
        .token = rt->internal_token,
        .auth_timeout_ms = k->auth_timeout_ms,
        .max_created = k->max_created_topics,
        .metrics = rt->metrics,
    };
    if ((rc = bcast_ipc_start(&bc->ipc, rt->loop, bc->broker, &io, bc->sock_path,
                              k->ipc_addr, err, errcap)) != 0) {
        bc->ipc = NULL;
        goto fail;
    }
    if (k->ipc_addr[0]) {
        char host[256];
        int port;
        bb_config_split_addr(k->ipc_addr, host, sizeof host, &port);
        snprintf(bc->tcp_addr, sizeof bc->tcp_addr, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
                 bcast_ipc_tcp_port(bc->ipc));
    }

    struct bb_http_limits lim;
    bb_config_http_limits(cfg, &lim);
    lim.max_body_bytes = k->max_event_bytes + 65536;
    lim.drain_timeout_ms = k->shutdown_ms;
    lim.sse_max_queue_bytes = k->queue_bytes;
    int port = 0;
    /* its own listener always (loopback by default): buncast drains it itself at stop, so SSE
     * streams get BUNBASE_BUNCAST_SHUTDOWN_MS to flush */
    if ((rc = bb_host_listen(rt->host, "buncast", routes, sizeof routes / sizeof routes[0], bc, &lim,
                             DEFAULT_HTTP_ADDR, &bc->router, &bc->http, &port, err, errcap)) != 0)
        goto fail;
    bb_host_publish_addr(rt->host, "buncast", "ipc_unix", bc->sock_path);
    bb_host_publish_addr(rt->host, "buncast", "ipc_tcp", bc->tcp_addr); /* "" when off */

    uv_timer_init(rt->loop, &bc->tick);
    bc->tick.data = bc;
    bc->tick_on = 1;
    uv_timer_start(&bc->tick, on_tick, TICK_MS, TICK_MS);
    snapshot(bc);
    bb_info("buncast", "listening http_port=%d ipc_unix=%s ipc_tcp=%s durable=\"%s\"", port,
            bc->sock_path, bc->tcp_addr[0] ? bc->tcp_addr : "off", k->durable_prefixes);
    *state = bc;
    return 0;
fail:
    if (!err[0]) snprintf(err, errcap, "buncast: %s", bb_strerror(rc));
    if (bc->ipc || bc->http || bc->tick_on) {
        buncast_stop(bc); /* frees once the loop has closed the handles */
    } else {
        bc_free(bc);
    }
    return rc;
}

/* Public (buncast's own /health and platform's): counts only. The listening addresses are internal
 * (logged at start and in <data>/buncast.addr, mode 0600), never advertised here. */
static int buncast_health(void *state, json_t **detail)
{
    struct buncast *bc = state;
    *detail = json_pack("{s:s,s:I,s:I,s:I,s:I}", "status", "ok", "topics",
                        (json_int_t)atomic_load(&bc->h_topics), "subscribers",
                        (json_int_t)atomic_load(&bc->h_subs), "published",
                        (json_int_t)atomic_load(&bc->h_published), "ipc_connections",
                        (json_int_t)atomic_load(&bc->h_conns));
    return 0;
}

const struct bb_service_def bb_buncast_service = {
    .name = "buncast",
    .start = buncast_start,
    .stop = buncast_stop,
    .health = buncast_health,
    .knobs = buncast_knobs,
    .config_size = sizeof(struct buncast_config),
};
