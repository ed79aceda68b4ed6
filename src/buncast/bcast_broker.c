/* bcast_broker.c — topics, subscriptions, fan-out, rings, resume, durable topics.
 *
 * Data structures (all on the broker's thread):
 *   topics      chained hash table name → struct bcast_topic.
 *   topic->subs every subscription that matches the topic: exact ones and wildcard ones. A
 *               wildcard subscription is attached to every existing matching topic when it is made,
 *               and to every new topic when that is created, so a publish is O(matching subs).
 *   sub->topics the topics a subscription is attached to (to detach it in O(memberships)).
 *   topic->ring the last ring_size events (refcounted), oldest first from rhead.
 *
 * Resume rule. Event ids are bb_id ULIDs: strictly increasing within the process, so "events after
 * X" is "ids greater than X". Each topic keeps a floor: an id such that every event with an id
 * greater than the floor is still retained (in the ring, or in the durable log). A subscriber
 * resuming from X gets the retained events with id > X when X >= floor, and a reset otherwise (it
 * may have missed something). The floor starts at an id generated when the topic is created in
 * this process (events of an earlier incarnation are gone) — for a durable topic at the log's
 * floor — and moves to the id of each event evicted from the ring (non-durable) or deleted by log
 * retention (durable).
 */
#include "bcast_broker.h"
#include "bcast_log.h"

#include "bb_err.h"
#include "bb_id.h"
#include "bb_json.h"
#include "bb_log.h"
#include "bb_metrics.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define DEFAULT_TYPE "buncast.message"
#define DEFAULT_SOURCE "/buncast"

struct bcast_topic;

struct bcast_sub {
    struct bcast_broker *b;
    uint64_t id;
    char *pattern;
    size_t pn;
    int wild;
    int dead;
    const struct bcast_sink_ops *ops;
    void *sink;
    struct bcast_topic **topics;
    size_t ntopics, tcap;
    struct bcast_sub *wprev, *wnext; /* wildcard list */
};

struct bcast_topic {
    char *name;
    size_t len;
    uint64_t hash;
    struct bcast_topic *hnext;
    struct bcast_sub **subs;
    size_t nsubs, scap, nexact;
    int explicit_, durable;
    struct bcast_event **ring;
    size_t rhead, rcount;
    uint64_t seq, published;
    char floor[BCAST_ID_LEN + 1];
    uint64_t last_active_ms;
    struct bcast_log *log;
};

struct bcast_broker {
    struct bcast_broker_opts o;
    char *durable_prefixes;
    char *log_dir;
    struct bcast_topic **buckets;
    size_t nbuckets, ntopics;
    struct bcast_sub *wild;
    size_t nsubs;
    struct bcast_stats st;
    struct {
        struct bb_gauge *topics, *subs;
        struct bb_counter *published, *delivered, *dropped, *slow, *evictions, *resets, *failed;
    } m;
};

static uint64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

static uint64_t hash_name(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

void bcast_event_unref(struct bcast_event *ev)
{
    if (ev && --ev->refs == 0) {
        free(ev->json);
        free(ev);
    }
}

/* ------------------------------------------------------------------ metrics */

static void metrics_init(struct bcast_broker *b)
{
    struct bb_metrics *m = b->o.metrics;
    if (!m) return;
    b->m.topics = bb_metrics_gauge(m, "bunbase_buncast_topics", "buncast topics in memory", NULL);
    b->m.subs = bb_metrics_gauge(m, "bunbase_buncast_subscribers",
                                 "buncast subscriptions (IPC and SSE)", NULL);
    b->m.published = bb_metrics_counter(m, "bunbase_buncast_published_total",
                                        "events published", NULL);
    b->m.delivered = bb_metrics_counter(m, "bunbase_buncast_delivered_total",
                                        "events queued to a subscriber (live and replayed)", NULL);
    b->m.dropped = bb_metrics_counter(m, "bunbase_buncast_dropped_total",
                                      "events lost: not delivered because the subscriber was too "
                                      "slow, or refused at publish (see publish_failed)",
                                      NULL);
    b->m.failed = bb_metrics_counter(m, "bunbase_buncast_publish_failed_total",
                                     "publishes refused (bad input, too large, too many topics, "
                                     "durable log error); never counted as published",
                                     NULL);
    b->m.slow = bb_metrics_counter(m, "bunbase_buncast_disconnected_slow_total",
                                   "subscribers disconnected because their queue overflowed", NULL);
    b->m.evictions = bb_metrics_counter(m, "bunbase_buncast_ring_evictions_total",
                                        "events pushed out of a topic ring buffer", NULL);
    b->m.resets = bb_metrics_counter(m, "bunbase_buncast_resets_total",
                                     "reset events sent to subscribers that were too far behind",
                                     NULL);
}

static void gauges(struct bcast_broker *b)
{
    b->st.topics = b->ntopics;
    b->st.subscribers = b->nsubs;
    bb_gauge_set(b->m.topics, (double)b->ntopics);
    bb_gauge_set(b->m.subs, (double)b->nsubs);
}

/* ------------------------------------------------------------------ memberships */

static int sub_attach(struct bcast_sub *s, struct bcast_topic *t)
{
    if (t->nsubs == t->scap) {
        size_t nc = t->scap ? t->scap * 2 : 4;
        struct bcast_sub **n = realloc(t->subs, nc * sizeof *n);
        if (!n) return BB_ENOMEM;
        t->subs = n, t->scap = nc;
    }
    if (s->ntopics == s->tcap) {
        size_t nc = s->tcap ? s->tcap * 2 : 1;
        struct bcast_topic **n = realloc(s->topics, nc * sizeof *n);
        if (!n) return BB_ENOMEM;
        s->topics = n, s->tcap = nc;
    }
    t->subs[t->nsubs++] = s;
    s->topics[s->ntopics++] = t;
    if (!s->wild) t->nexact++;
    return 0;
}

/* Removes s from t->subs keeping the order of the others (delivery order across subscriptions is
 * not promised, but a stable array keeps fan-out deterministic for tests). */
static void topic_drop_sub(struct bcast_topic *t, struct bcast_sub *s)
{
    for (size_t i = 0; i < t->nsubs; i++) {
        if (t->subs[i] != s) continue;
        memmove(t->subs + i, t->subs + i + 1, (t->nsubs - i - 1) * sizeof *t->subs);
        t->nsubs--;
        if (!s->wild) t->nexact--;
        return;
    }
}

static void sub_drop_topic(struct bcast_sub *s, struct bcast_topic *t)
{
    for (size_t i = 0; i < s->ntopics; i++) {
        if (s->topics[i] != t) continue;
        s->topics[i] = s->topics[--s->ntopics];
        return;
    }
}

/* ------------------------------------------------------------------ topics */

static int is_durable(const struct bcast_broker *b, const char *name, size_t n)
{
    const char *p = b->durable_prefixes;
    if (!p || !p[0]) return 0;
    while (*p) {
        size_t k = strcspn(p, ",");
        const char *q = p;
        size_t kk = k;
        while (kk && *q == ' ')
            q++, kk--;
        while (kk && q[kk - 1] == ' ')
            kk--;
        if (kk && kk <= n && memcmp(q, name, kk) == 0) return 1;
        p += k;
        if (*p == ',') p++;
    }
    return 0;
}

static struct bcast_topic *topic_find(struct bcast_broker *b, const char *name, size_t n)
{
    uint64_t h = hash_name(name, n);
    for (struct bcast_topic *t = b->buckets[h & (b->nbuckets - 1)]; t; t = t->hnext)
        if (t->hash == h && t->len == n && memcmp(t->name, name, n) == 0) return t;
    return NULL;
}

static void ring_push(struct bcast_broker *b, struct bcast_topic *t, struct bcast_event *ev,
                      int count)
{
    size_t cap = b->o.ring_size;
    if (cap == 0) {
        if (!t->durable) memcpy(t->floor, ev->id, sizeof t->floor);
        bcast_event_unref(ev);
        return;
    }
    if (t->rcount == cap) {
        struct bcast_event *old = t->ring[t->rhead];
        if (!t->durable) memcpy(t->floor, old->id, sizeof t->floor);
        bcast_event_unref(old);
        t->ring[t->rhead] = ev;
        t->rhead = (t->rhead + 1) % cap;
        if (count) {
            b->st.ring_evictions++;
            bb_counter_inc(b->m.evictions);
        }
        return;
    }
    t->ring[(t->rhead + t->rcount) % cap] = ev;
    t->rcount++;
}

static struct bcast_event *ring_at(const struct bcast_broker *b, const struct bcast_topic *t,
                                   size_t i)
{
    return t->ring[(t->rhead + i) % b->o.ring_size];
}

static void ring_clear(struct bcast_broker *b, struct bcast_topic *t)
{
    for (size_t i = 0; i < t->rcount; i++)
        bcast_event_unref(ring_at(b, t, i));
    t->rcount = t->rhead = 0;
}

/* The "type" of an envelope read back from a log (records do not store it separately). */
static void envelope_type(const char *json, size_t len, char *out, size_t cap)
{
    json_t *j = NULL;
    snprintf(out, cap, "%s", DEFAULT_TYPE);
    if (bb_json_parse(json, len, BB_JSON_DEFAULT_DEPTH, &j, NULL, 0) != 0) return;
    snprintf(out, cap, "%s", bb_json_str(j, "type", DEFAULT_TYPE));
    json_decref(j);
}

static struct bcast_event *event_new(uint64_t seq, uint64_t time_ms, const char *id, char *json,
                                     size_t len)
{
    struct bcast_event *ev = calloc(1, sizeof *ev);
    if (!ev) return NULL;
    ev->refs = 1;
    ev->seq = seq;
    ev->time_ms = time_ms;
    snprintf(ev->id, sizeof ev->id, "%s", id);
    ev->json = json;
    ev->len = len;
    return ev;
}

static void on_log_record(void *arg, uint64_t seq, uint64_t time_ms, const char *id,
                          const char *json, size_t len)
{
    void **a = arg;
    struct bcast_broker *b = a[0];
    struct bcast_topic *t = a[1];
    char *copy = malloc(len + 1);
    if (!copy) return;
    memcpy(copy, json, len + 1);
    struct bcast_event *ev = event_new(seq, time_ms, id, copy, len);
    if (!ev) {
        free(copy);
        return;
    }
    envelope_type(json, len, ev->type, sizeof ev->type);
    t->seq = seq;
    ring_push(b, t, ev, 0);
}

static void topic_free(struct bcast_broker *b, struct bcast_topic *t)
{
    ring_clear(b, t);
    if (t->log) bcast_log_close(t->log);
    free(t->ring);
    free(t->subs);
    free(t->name);
    free(t);
}

static int table_grow(struct bcast_broker *b)
{
    size_t nb = b->nbuckets * 2;
    struct bcast_topic **n = calloc(nb, sizeof *n);
    if (!n) return BB_ENOMEM;
    for (size_t i = 0; i < b->nbuckets; i++) {
        for (struct bcast_topic *t = b->buckets[i], *nx; t; t = nx) {
            nx = t->hnext;
            t->hnext = n[t->hash & (nb - 1)];
            n[t->hash & (nb - 1)] = t;
        }
    }
    free(b->buckets);
    b->buckets = n;
    b->nbuckets = nb;
    return 0;
}

/* Finds or creates topic name. Returns 0 with *out, BB_ELIMIT, BB_EIO (durable log), BB_ENOMEM. */
static int topic_get(struct bcast_broker *b, const char *name, size_t n, struct bcast_topic **out)
{
    struct bcast_topic *t = topic_find(b, name, n);
    if (t) {
        *out = t;
        return 0;
    }
    if (b->ntopics >= b->o.max_topics) return BB_ELIMIT;
    if (b->ntopics >= b->nbuckets && table_grow(b) != 0) return BB_ENOMEM;
    t = calloc(1, sizeof *t);
    if (!t) return BB_ENOMEM;
    t->name = malloc(n + 1);
    t->ring = b->o.ring_size ? calloc(b->o.ring_size, sizeof *t->ring) : NULL;
    if (!t->name || (b->o.ring_size && !t->ring)) {
        topic_free(b, t);
        return BB_ENOMEM;
    }
    memcpy(t->name, name, n);
    t->name[n] = '\0';
    t->len = n;
    t->hash = hash_name(name, n);
    t->last_active_ms = wall_ms();
    bb_id_new(t->floor);
    if (is_durable(b, name, n)) {
        struct bcast_log_opts lo = {b->o.segment_bytes, b->o.retention_bytes, b->o.retention_ms};
        void *arg[2] = {b, t};
        t->durable = 1;
        int rc = bcast_log_open(&t->log, b->log_dir, name, n, &lo, on_log_record, arg);
        if (rc) {
            bb_error("buncast", "durable_open_failed topic=%s err=%s", t->name, bb_strerror(rc));
            topic_free(b, t);
            return rc;
        }
        memcpy(t->floor, bcast_log_floor(t->log), sizeof t->floor);
    }
    size_t bi = t->hash & (b->nbuckets - 1);
    t->hnext = b->buckets[bi];
    b->buckets[bi] = t;
    b->ntopics++;
    for (struct bcast_sub *s = b->wild; s; s = s->wnext)
        if (bcast_match(s->pattern, s->pn, name, n) && sub_attach(s, t) != 0)
            bb_warn("buncast", "wildcard_attach_failed topic=%s", t->name);
    gauges(b);
    *out = t;
    return 0;
}

static void topic_remove(struct bcast_broker *b, struct bcast_topic *t)
{
    size_t bi = t->hash & (b->nbuckets - 1);
    for (struct bcast_topic **pp = &b->buckets[bi]; *pp; pp = &(*pp)->hnext) {
        if (*pp == t) {
            *pp = t->hnext;
            break;
        }
    }
    for (size_t i = 0; i < t->nsubs; i++)
        sub_drop_topic(t->subs[i], t);
    b->ntopics--;
    topic_free(b, t);
    gauges(b);
}

/* ------------------------------------------------------------------ lifecycle */

static void on_listed(void *arg, const char *topic, size_t tn)
{
    struct bcast_broker *b = arg;
    struct bcast_topic *t;
    if (!is_durable(b, topic, tn)) {
        bb_warn("buncast", "log_not_durable topic=%.*s action=kept_on_disk", (int)tn, topic);
        return;
    }
    int rc = topic_get(b, topic, tn, &t);
    if (rc) bb_error("buncast", "durable_load_failed topic=%.*s err=%s", (int)tn, topic,
                     bb_strerror(rc));
    else
        bb_info("buncast", "durable_loaded topic=%s events=%llu retained=%zu", t->name,
                (unsigned long long)t->seq, t->rcount);
}

int bcast_broker_new(struct bcast_broker **out, const struct bcast_broker_opts *o, char *err,
                     size_t errcap)
{
    struct bcast_broker *b = calloc(1, sizeof *b);
    if (!b) return BB_ENOMEM;
    b->o = *o;
    b->durable_prefixes = strdup(o->durable_prefixes ? o->durable_prefixes : "");
    b->log_dir = strdup(o->log_dir ? o->log_dir : "");
    b->nbuckets = 64;
    b->buckets = calloc(b->nbuckets, sizeof *b->buckets);
    if (!b->durable_prefixes || !b->log_dir || !b->buckets) {
        bcast_broker_free(b);
        return BB_ENOMEM;
    }
    b->o.durable_prefixes = b->durable_prefixes;
    b->o.log_dir = b->log_dir;
    metrics_init(b);
    if (b->durable_prefixes[0] && b->log_dir[0]) {
        int rc = bcast_log_list(b->log_dir, on_listed, b);
        if (rc) {
            snprintf(err, errcap, "buncast: cannot read %s: %s", b->log_dir, bb_strerror(rc));
            bcast_broker_free(b);
            return rc;
        }
    }
    gauges(b);
    *out = b;
    return 0;
}

void bcast_broker_free(struct bcast_broker *b)
{
    if (!b) return;
    for (size_t i = 0; b->buckets && i < b->nbuckets; i++) {
        for (struct bcast_topic *t = b->buckets[i], *n; t; t = n) {
            n = t->hnext;
            topic_free(b, t);
        }
    }
    while (b->wild) {
        struct bcast_sub *s = b->wild;
        b->wild = s->wnext;
        free(s->topics);
        free(s->pattern);
        free(s);
    }
    bb_gauge_set(b->m.topics, 0);
    bb_gauge_set(b->m.subs, 0);
    free(b->buckets);
    free(b->durable_prefixes);
    free(b->log_dir);
    free(b);
}

/* ------------------------------------------------------------------ envelope */

struct buf {
    char *p;
    size_t n, cap;
    int oom;
};

static void bput(struct buf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np, b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void bputs(struct buf *b, const char *s)
{
    bput(b, s, strlen(s));
}

/* Appends s as a JSON string (s is printable ASCII without '"' or '\\' for names, but escape
 * anyway). */
static void bput_jstr(struct buf *b, const char *s, size_t n)
{
    bput(b, "\"", 1);
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        bput(b, s + start, i - start);
        char esc[8];
        if (c == '"' || c == '\\') snprintf(esc, sizeof esc, "\\%c", c);
        else snprintf(esc, sizeof esc, "\\u%04x", c);
        bputs(b, esc);
        start = i + 1;
    }
    bput(b, s + start, n - start);
    bput(b, "\"", 1);
}

static void bput_base64(struct buf *b, const uint8_t *p, size_t n)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        q[0] = al[v >> 18 & 63];
        q[1] = al[v >> 12 & 63];
        q[2] = i + 1 < n ? al[v >> 6 & 63] : '=';
        q[3] = i + 2 < n ? al[v & 63] : '=';
        bput(b, q, 4);
    }
}

static int build_envelope(const char *id, uint64_t ms, const char *topic, size_t tn,
                          const char *type, size_t yn, const char *source, size_t sn,
                          const char *data, size_t dn, char **out, size_t *len)
{
    struct buf b = {0};
    /* The seconds part of the timestamp only changes once a second: format it once (the broker
     * runs on one loop thread; thread-local keeps that an implementation detail). */
    static __thread time_t cached_secs = -1;
    static __thread char cached_ts[32];
    char ts[40];
    time_t secs = (time_t)(ms / 1000);
    if (secs != cached_secs) {
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(cached_ts, sizeof cached_ts, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_secs = secs;
    }
    snprintf(ts, sizeof ts, "%s.%03uZ", cached_ts, (unsigned)(ms % 1000));
    /* JSON data is embedded as is, anything else as data_base64: validate without a tree */
    int is_json = dn > 0 && bb_json_validate(data, dn, BB_JSON_DEFAULT_DEPTH) == 0;
    bputs(&b, "{\"specversion\":\"1.0\",\"id\":\"");
    bputs(&b, id);
    bputs(&b, "\",\"source\":");
    bput_jstr(&b, source, sn);
    bputs(&b, ",\"type\":");
    bput_jstr(&b, type, yn);
    bputs(&b, ",\"subject\":");
    bput_jstr(&b, topic, tn);
    bputs(&b, ",\"time\":\"");
    bputs(&b, ts);
    if (dn == 0) {
        bputs(&b, "\",\"data\":null}");
    } else if (is_json) {
        bputs(&b, "\",\"datacontenttype\":\"application/json\",\"data\":");
        bput(&b, data, dn);
        bputs(&b, "}");
    } else {
        bputs(&b, "\",\"datacontenttype\":\"application/octet-stream\",\"data_base64\":\"");
        bput_base64(&b, (const uint8_t *)data, dn);
        bputs(&b, "\"}");
    }
    if (b.oom) {
        free(b.p);
        return BB_ENOMEM;
    }
    *out = b.p;
    *len = b.n;
    return 0;
}

/* ------------------------------------------------------------------ delivery */

static void deliver(struct bcast_broker *b, struct bcast_sub *s, struct bcast_topic *t,
                    const struct bcast_event *ev)
{
    if (s->dead) return;
    int rc = s->ops->deliver(s->sink, s, t->name, t->len, ev);
    if (rc == 0) {
        b->st.delivered++;
        bb_counter_inc(b->m.delivered);
        return;
    }
    s->dead = 1;
    if (rc == BB_EBUSY) {
        b->st.slow_disconnects++;
        b->st.dropped++;
        bb_counter_inc(b->m.slow);
        bb_counter_inc(b->m.dropped);
        bb_warn("buncast", "slow_subscriber topic=%s sub=%llu action=disconnect", t->name,
                (unsigned long long)s->id);
    }
}

static void send_reset(struct bcast_broker *b, struct bcast_sub *s, struct bcast_topic *t,
                       const char *reason, const char *last)
{
    if (s->dead) return;
    json_t *j = json_pack("{s:s,s:s,s:s}", "topic", t->name, "reason", reason, "last_event_id",
                          last ? last : "");
    size_t n = 0;
    char *txt = j ? bb_json_dumps(j, &n) : NULL;
    json_decref(j);
    if (!txt) return;
    int rc = s->ops->reset(s->sink, s, t->name, t->len, txt, n);
    free(txt);
    b->st.resets++;
    bb_counter_inc(b->m.resets);
    if (rc == BB_EBUSY) {
        s->dead = 1;
        b->st.slow_disconnects++;
        bb_counter_inc(b->m.slow);
    } else if (rc) {
        s->dead = 1;
    }
}

static int publish(struct bcast_broker *b, const char *topic, size_t tn, const char *type,
                   size_t yn, const char *source, size_t sn, const char *data, size_t dn,
                   char id_out[BCAST_ID_LEN + 1])
{
    if (!bcast_topic_valid(topic, tn)) return BB_EINVAL;
    if (!type || !yn) type = DEFAULT_TYPE, yn = strlen(DEFAULT_TYPE);
    if (!source || !sn) source = DEFAULT_SOURCE, sn = strlen(DEFAULT_SOURCE);
    if (!bcast_attr_valid(type, yn) || !bcast_attr_valid(source, sn)) return BB_EINVAL;
    if (dn > b->o.max_event_bytes) return BB_ETOOBIG;
    struct bcast_topic *t;
    int rc = topic_get(b, topic, tn, &t);
    if (rc) return rc;
    char id[BCAST_ID_LEN + 1];
    bb_id_new(id);
    uint64_t ms = wall_ms();
    char *json;
    size_t jl;
    if ((rc = build_envelope(id, ms, topic, tn, type, yn, source, sn, data, dn, &json, &jl)) != 0)
        return rc;
    uint64_t seq = ++t->seq; /* never reused, even on failure: a gap in seq is harmless */
    if (t->durable && (rc = bcast_log_append(t->log, seq, ms, id, json, jl)) != 0) {
        free(json);
        return rc;
    }
    struct bcast_event *ev = event_new(seq, ms, id, json, jl);
    if (!ev) {
        free(json);
        return BB_ENOMEM;
    }
    memcpy(ev->type, type, yn);
    ev->type[yn] = '\0';
    t->published++;
    t->last_active_ms = ms;
    b->st.published++;
    bb_counter_inc(b->m.published);
    for (size_t i = 0; i < t->nsubs; i++)
        deliver(b, t->subs[i], t, ev);
    ring_push(b, t, ev, 1);
    if (id_out) memcpy(id_out, id, sizeof id);
    return 0;
}

int bcast_broker_publish(struct bcast_broker *b, const char *topic, size_t tn, const char *type,
                         size_t yn, const char *source, size_t sn, const char *data, size_t dn,
                         char id_out[BCAST_ID_LEN + 1])
{
    int rc = publish(b, topic, tn, type, yn, source, sn, data, dn, id_out);
    if (rc) {
        b->st.dropped++;
        b->st.publish_failed++;
        bb_counter_inc(b->m.dropped);
        bb_counter_inc(b->m.failed);
    }
    return rc;
}

/* ------------------------------------------------------------------ subscribe */

static int resume_valid(const char *resume)
{
    return !resume || (strlen(resume) == BCAST_ID_LEN && bb_id_is_valid(resume));
}

int bcast_broker_check_subscribe(struct bcast_broker *b, const char *pattern, size_t pn,
                                 const char *resume)
{
    int wild;
    if (!bcast_pattern_valid(pattern, pn, &wild) || !resume_valid(resume)) return BB_EINVAL;
    if (!wild && !topic_find(b, pattern, pn) && b->ntopics >= b->o.max_topics) return BB_ELIMIT;
    return 0;
}

struct replay_ctx {
    struct bcast_broker *b;
    struct bcast_sub *s;
    struct bcast_topic *t;
};

static void on_replay_record(void *arg, uint64_t seq, uint64_t time_ms, const char *id,
                             const char *json, size_t len)
{
    struct replay_ctx *c = arg;
    struct bcast_event ev = {.refs = 1, .seq = seq, .time_ms = time_ms, .json = (char *)json,
                             .len = len};
    snprintf(ev.id, sizeof ev.id, "%s", id);
    envelope_type(json, len, ev.type, sizeof ev.type);
    deliver(c->b, c->s, c->t, &ev);
}

static void resume_topic(struct bcast_broker *b, struct bcast_sub *s, struct bcast_topic *t,
                         const char *resume)
{
    if (strcmp(resume, t->floor) < 0) {
        send_reset(b, s, t, "behind", resume);
        return;
    }
    if (t->durable && t->rcount && strcmp(resume, ring_at(b, t, 0)->id) < 0 &&
        ring_at(b, t, 0)->seq > 1) {
        /* older than the ring: read the retained log */
        struct replay_ctx c = {b, s, t};
        if (bcast_log_scan(t->log, resume, on_replay_record, &c) != 0)
            send_reset(b, s, t, "log_unreadable", resume);
        return;
    }
    /* first ring entry with id > resume (scan back from the newest) */
    size_t i = t->rcount;
    while (i > 0 && strcmp(ring_at(b, t, i - 1)->id, resume) > 0)
        i--;
    for (; i < t->rcount && !s->dead; i++)
        deliver(b, s, t, ring_at(b, t, i));
}

int bcast_broker_subscribe(struct bcast_broker *b, const char *pattern, size_t pn,
                           const char *resume, const struct bcast_sink_ops *ops, void *sink,
                           uint64_t id, struct bcast_sub **out)
{
    int rc = bcast_broker_check_subscribe(b, pattern, pn, resume);
    if (rc) return rc;
    struct bcast_sub *s = calloc(1, sizeof *s);
    if (!s) return BB_ENOMEM;
    s->pattern = malloc(pn + 1);
    if (!s->pattern) {
        free(s);
        return BB_ENOMEM;
    }
    memcpy(s->pattern, pattern, pn);
    s->pattern[pn] = '\0';
    s->pn = pn;
    bcast_pattern_valid(pattern, pn, &s->wild);
    s->b = b;
    s->id = id;
    s->ops = ops;
    s->sink = sink;
    if (s->wild) {
        s->wnext = b->wild;
        if (b->wild) b->wild->wprev = s;
        b->wild = s;
        for (size_t i = 0; i < b->nbuckets; i++)
            for (struct bcast_topic *t = b->buckets[i]; t; t = t->hnext)
                if (bcast_match(pattern, pn, t->name, t->len) && (rc = sub_attach(s, t)) != 0)
                    goto fail;
    } else {
        struct bcast_topic *t;
        if ((rc = topic_get(b, pattern, pn, &t)) != 0) goto fail;
        if ((rc = sub_attach(s, t)) != 0) goto fail;
        t->last_active_ms = wall_ms();
    }
    b->nsubs++;
    gauges(b);
    *out = s;
    if (resume) {
        char up[BCAST_ID_LEN + 1];
        for (size_t i = 0; i < BCAST_ID_LEN; i++)
            up[i] = (char)(resume[i] >= 'a' && resume[i] <= 'z' ? resume[i] - 32 : resume[i]);
        up[BCAST_ID_LEN] = '\0';
        for (size_t i = 0; i < s->ntopics && !s->dead; i++)
            resume_topic(b, s, s->topics[i], up);
    }
    return 0;
fail:
    b->nsubs++; /* balanced by unsubscribe */
    bcast_broker_unsubscribe(b, s);
    return rc;
}

void bcast_broker_unsubscribe(struct bcast_broker *b, struct bcast_sub *s)
{
    if (!s) return;
    uint64_t now = wall_ms();
    for (size_t i = 0; i < s->ntopics; i++) {
        topic_drop_sub(s->topics[i], s);
        s->topics[i]->last_active_ms = now;
    }
    if (s->wild) {
        if (s->wprev) s->wprev->wnext = s->wnext;
        else b->wild = s->wnext;
        if (s->wnext) s->wnext->wprev = s->wprev;
    }
    b->nsubs--;
    gauges(b);
    free(s->topics);
    free(s->pattern);
    free(s);
}

uint64_t bcast_sub_id(const struct bcast_sub *sub)
{
    return sub->id;
}

int bcast_sub_dead(const struct bcast_sub *sub)
{
    return sub->dead;
}

/* ------------------------------------------------------------------ explicit topics */

int bcast_broker_create_topic(struct bcast_broker *b, const char *topic, size_t tn, int *created)
{
    if (created) *created = 0;
    if (!bcast_topic_valid(topic, tn)) return BB_EINVAL;
    struct bcast_topic *t = topic_find(b, topic, tn);
    if (!t) {
        int rc = topic_get(b, topic, tn, &t);
        if (rc) return rc;
        if (created) *created = 1;
    }
    t->explicit_ = 1;
    t->last_active_ms = wall_ms();
    return 0;
}

int bcast_broker_touch_topic(struct bcast_broker *b, const char *topic, size_t tn)
{
    if (!bcast_topic_valid(topic, tn)) return BB_EINVAL;
    struct bcast_topic *t = topic_find(b, topic, tn);
    if (!t) return BB_ENOTFOUND;
    t->explicit_ = 1;
    t->last_active_ms = wall_ms();
    return 0;
}

int bcast_broker_delete_topic(struct bcast_broker *b, const char *topic, size_t tn)
{
    if (!bcast_topic_valid(topic, tn)) return BB_EINVAL;
    struct bcast_topic *t = topic_find(b, topic, tn);
    if (!t) return BB_ENOTFOUND;
    char last[BCAST_ID_LEN + 1];
    snprintf(last, sizeof last, "%s", t->rcount ? ring_at(b, t, t->rcount - 1)->id : t->floor);
    ring_clear(b, t);
    bb_id_new(t->floor); /* everything before now is gone */
    if (t->log && bcast_log_clear(t->log, t->floor) != 0)
        bb_error("buncast", "log_clear_failed topic=%s", t->name);
    t->explicit_ = 0;
    for (size_t i = 0; i < t->nsubs; i++)
        send_reset(b, t->subs[i], t, "deleted", last);
    if (t->nexact == 0 && !t->durable) topic_remove(b, t);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char **sorted_names(struct bcast_broker *b, struct bcast_topic ***tops)
{
    const char **names = malloc((b->ntopics + 1) * sizeof *names);
    if (!names) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < b->nbuckets; i++)
        for (struct bcast_topic *t = b->buckets[i]; t; t = t->hnext)
            names[k++] = t->name;
    qsort(names, k, sizeof *names, cmp_str);
    (void)tops;
    return names;
}

json_t *bcast_broker_list_topics(struct bcast_broker *b)
{
    json_t *a = json_array();
    const char **names = sorted_names(b, NULL);
    if (!a || !names) {
        free(names);
        json_decref(a);
        return NULL;
    }
    for (size_t i = 0; i < b->ntopics; i++)
        json_array_append_new(a, json_string(names[i]));
    free(names);
    return a;
}

json_t *bcast_broker_topics_detail(struct bcast_broker *b)
{
    json_t *a = json_array();
    const char **names = sorted_names(b, NULL);
    if (!a || !names) {
        free(names);
        json_decref(a);
        return NULL;
    }
    for (size_t i = 0; i < b->ntopics; i++) {
        struct bcast_topic *t = topic_find(b, names[i], strlen(names[i]));
        json_array_append_new(a, json_pack("{s:s,s:I,s:I,s:I,s:b,s:b}", "name", t->name,
                                           "subscribers", (json_int_t)t->nsubs, "published",
                                           (json_int_t)t->published, "retained",
                                           (json_int_t)t->rcount, "durable", t->durable,
                                           "explicit", t->explicit_));
    }
    free(names);
    return a;
}

void bcast_broker_tick(struct bcast_broker *b, uint64_t now)
{
    for (size_t i = 0; i < b->nbuckets; i++) {
        for (struct bcast_topic *t = b->buckets[i], *n; t; t = n) {
            n = t->hnext;
            if (t->log) {
                bcast_log_sync(t->log);
                bcast_log_retain(t->log, now);
                if (strcmp(bcast_log_floor(t->log), t->floor) > 0)
                    memcpy(t->floor, bcast_log_floor(t->log), sizeof t->floor);
            }
            /* explicit (CreateTopic) topics expire too, after their own idle time, so that
                 * topics created and forgotten cannot fill max_topics for good */
            uint64_t idle = t->explicit_ && b->o.created_idle_ms ? b->o.created_idle_ms
                                                                 : b->o.topic_idle_ms;
            if (t->nexact == 0 && !t->durable && now - t->last_active_ms >= idle)
                topic_remove(b, t);
        }
    }
}

void bcast_broker_stats(const struct bcast_broker *b, struct bcast_stats *st)
{
    *st = b->st;
    st->topics = b->ntopics;
    st->subscribers = b->nsubs;
}
