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
#include "bb_crypto.h"
#include "bcast_log.h"

#include "bb_err.h"
#include "bb_time.h"
#include "bb_id.h"
#include "bb_json.h"
#include "bb_log.h"
#include "bb_metrics.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    /* the envelope between the id and the time, preformatted for the last (type, source) seen:
     * ","source":S,"type":T,"subject":"<topic>","time":" (mid_key = type bytes then source) */
    char *mid, *mid_key;
    size_t mid_len, mid_yn, mid_sn;
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
    /* the envelope's "time" of the last millisecond formatted, and the seconds part */
    uint64_t ts_ms;
    time_t ts_secs;
    char ts[48], ts_sec[40];
    size_t ts_len, ts_sec_len;
    struct {
        struct bb_gauge *topics, *subs;
        struct bb_counter *published, *delivered, *dropped, *slow, *evictions, *resets, *failed;
    } m;
};

static uint64_t hash_name(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

void bcast_event_unref(struct bcast_event *ev)
{
    if (ev && --ev->refs == 0) free(ev);
}

/* ------------------------------------------------------------------ event ids
 *
 * Ids come from bb_id_new once per millisecond; the others of the same millisecond are the previous
 * id + 1 (what bb_id_new itself does within a millisecond, without its clock read and randomness
 * per event). The state is process-wide (one short lock), so ids are strictly increasing across
 * every broker of the process, a restarted one included: a fresh id that is not above the last
 * one (bb_id_new does not see our increments, or the clock went back) is replaced by last + 1, and
 * the ids read back from durable logs are observed, so new events follow them even if the clock
 * went back. Floors come from here too, so they order with events. */

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Adds 1 to the 80-bit random part (chars 10..25). 0 on overflow (id unchanged). */
static int id_increment(char *id)
{
    for (int i = BCAST_ID_LEN - 1; i >= 10; i--) {
        const char *p = memchr(crockford, id[i], 32);
        if (!p) return 0;
        if (p - crockford < 31) {
            id[i] = p[1];
            return 1;
        }
        id[i] = '0';
    }
    for (size_t i = 10; i < BCAST_ID_LEN; i++) /* overflow: undo (all were 'Z') */
        id[i] = 'Z';
    return 0;
}

static struct {
    pthread_mutex_t mu;
    char last[BCAST_ID_LEN + 1]; /* the last id made or observed */
    uint64_t ms;                 /* the millisecond it stands for */
} idgen = {PTHREAD_MUTEX_INITIALIZER, "", 0};

static void broker_id(struct bcast_broker *b, uint64_t now, char out[BCAST_ID_LEN + 1])
{
    (void)b;
    pthread_mutex_lock(&idgen.mu);
    if (!(idgen.last[0] && now <= idgen.ms && id_increment(idgen.last))) {
        char fresh[BCAST_ID_LEN + 1];
        bb_id_new(fresh);
        if (!idgen.last[0] || strcmp(fresh, idgen.last) > 0 || !id_increment(idgen.last))
            memcpy(idgen.last, fresh, sizeof fresh);
        if (now > idgen.ms) idgen.ms = now;
    }
    memcpy(out, idgen.last, BCAST_ID_LEN + 1);
    pthread_mutex_unlock(&idgen.mu);
}

/* An id read back from a durable log: ids made from now on are above it. */
static void broker_id_observe(const char *id)
{
    uint64_t ms;
    if (strlen(id) != BCAST_ID_LEN || bb_id_timestamp_ms(id, &ms) != 0) return;
    pthread_mutex_lock(&idgen.mu);
    if (strcmp(id, idgen.last) > 0) {
        memcpy(idgen.last, id, BCAST_ID_LEN + 1);
        if (ms > idgen.ms) idgen.ms = ms;
    }
    pthread_mutex_unlock(&idgen.mu);
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

/* A new event (refs 1) of topic with room for an envelope of jl bytes at ev->json (NUL already
 * in place after it), the MESSAGE payload around it preformatted (see struct bcast_event). */
static struct bcast_event *event_alloc(uint64_t seq, uint64_t time_ms, const char *id,
                                       const char *topic, size_t tn, const char *type, size_t yn,
                                       size_t jl)
{
    size_t head = 2 + tn + 4 + jl;
    size_t tail = 1 + BCAST_ID_LEN;
    struct bcast_event *ev = malloc(sizeof *ev + head + 1 + tail + yn + 1);
    if (!ev) return NULL;
    uint8_t *m = (uint8_t *)(ev + 1);
    ev->refs = 1;
    ev->seq = seq;
    ev->time_ms = time_ms;
    memcpy(ev->id, id, BCAST_ID_LEN);
    ev->id[BCAST_ID_LEN] = '\0';
    bb_put_le16(m, (uint16_t)tn);
    memcpy(m + 2, topic, tn);
    bb_put_le32(m + 2 + tn, (uint32_t)jl);
    ev->json = (char *)m + 6 + tn;
    ev->len = jl;
    ev->json[jl] = '\0';
    ev->msg = m;
    ev->msg_head = head;
    uint8_t *tp = m + head + 1;
    tp[0] = BCAST_ID_LEN;
    memcpy(tp + 1, id, BCAST_ID_LEN);
    ev->msg_tail = tp;
    ev->tail_len = tail;
    ev->fanout = 1;
    char *ty = (char *)tp + tail;
    memcpy(ty, type, yn);
    ty[yn] = '\0';
    ev->type = ty;
    return ev;
}

/* An event of t read back from a log record (a copy; the type is parsed from the envelope). */
static struct bcast_event *event_from_record(struct bcast_topic *t, uint64_t seq,
                                             uint64_t time_ms, const char *id, const char *json,
                                             size_t len)
{
    char type[BCAST_MAX_ATTR + 1], idb[BCAST_ID_LEN + 1];
    envelope_type(json, len, type, sizeof type);
    snprintf(idb, sizeof idb, "%-26s", id);
    struct bcast_event *ev = event_alloc(seq, time_ms, idb, t->name, t->len, type, strlen(type), len);
    if (ev) memcpy(ev->json, json, len);
    return ev;
}

static void on_log_record(void *arg, uint64_t seq, uint64_t time_ms, const char *id,
                          const char *json, size_t len)
{
    void **a = arg;
    struct bcast_broker *b = a[0];
    struct bcast_topic *t = a[1];
    struct bcast_event *ev = event_from_record(t, seq, time_ms, id, json, len);
    if (!ev) return;
    broker_id_observe(ev->id);
    t->seq = seq;
    ring_push(b, t, ev, 0);
}

static void topic_free(struct bcast_broker *b, struct bcast_topic *t)
{
    ring_clear(b, t);
    if (t->log) bcast_log_close(t->log);
    free(t->mid);
    free(t->mid_key);
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
    t->last_active_ms = bb_time_wall_ms();
    broker_id(b, t->last_active_ms, t->floor);
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

/* ------------------------------------------------------------------ envelope
 *
 * {"specversion":"1.0","id":"<id>","source":<S>,"type":<T>,"subject":"<topic>","time":"<time>"
 * then ,"data":null} | ,"datacontenttype":"application/json","data":<data>} |
 * ,"datacontenttype":"application/octet-stream","data_base64":"<base64>"}
 * Built once per publish straight into the event's allocation (exact length computed first): the
 * part between id and time is kept per topic for the last (type, source), the time string per
 * millisecond. */

#define ENV_HEAD "{\"specversion\":\"1.0\",\"id\":\""
#define ENV_NULL "\",\"data\":null}"
#define ENV_JSON "\",\"datacontenttype\":\"application/json\",\"data\":"
#define ENV_B64 "\",\"datacontenttype\":\"application/octet-stream\",\"data_base64\":\""
#define SLEN(lit) (sizeof(lit) - 1)

/* s as a JSON string into dst (NULL: only count). Names are printable ASCII; '"' and '\\' (allowed
 * in type and source) are escaped, anything below 0x20 as \u00XX. Returns the length. */
static size_t put_jstr(char *dst, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (dst) dst[o] = '"';
    o++;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            if (dst) dst[o] = (char)c;
            o++;
        } else if (c == '"' || c == '\\') {
            if (dst) dst[o] = '\\', dst[o + 1] = (char)c;
            o += 2;
        } else {
            if (dst) memcpy(dst + o, "\\u00", 4), dst[o + 4] = hex[c >> 4], dst[o + 5] = hex[c & 15];
            o += 6;
        }
    }
    if (dst) dst[o] = '"';
    return o + 1;
}

/* The preformatted middle of t's envelopes for (type, source); NULL on ENOMEM. */
static const char *topic_mid(struct bcast_topic *t, const char *type, size_t yn,
                             const char *source, size_t sn, size_t *len)
{
    if (t->mid && t->mid_yn == yn && t->mid_sn == sn && memcmp(t->mid_key, type, yn) == 0 &&
        memcmp(t->mid_key + yn, source, sn) == 0) {
        *len = t->mid_len;
        return t->mid;
    }
    static const char s1[] = "\",\"source\":", s2[] = ",\"type\":", s3[] = ",\"subject\":",
                      s4[] = ",\"time\":\"";
    size_t n = SLEN(s1) + put_jstr(NULL, source, sn) + SLEN(s2) + put_jstr(NULL, type, yn) +
               SLEN(s3) + put_jstr(NULL, t->name, t->len) + SLEN(s4);
    char *m = malloc(n + 1), *k = malloc(yn + sn + 1);
    if (!m || !k) {
        free(m);
        free(k);
        return NULL;
    }
    size_t o = 0;
    memcpy(m + o, s1, SLEN(s1)), o += SLEN(s1);
    o += put_jstr(m + o, source, sn);
    memcpy(m + o, s2, SLEN(s2)), o += SLEN(s2);
    o += put_jstr(m + o, type, yn);
    memcpy(m + o, s3, SLEN(s3)), o += SLEN(s3);
    o += put_jstr(m + o, t->name, t->len);
    memcpy(m + o, s4, SLEN(s4)), o += SLEN(s4);
    m[o] = '\0';
    memcpy(k, type, yn);
    memcpy(k + yn, source, sn);
    free(t->mid);
    free(t->mid_key);
    t->mid = m, t->mid_key = k, t->mid_len = o, t->mid_yn = yn, t->mid_sn = sn;
    *len = o;
    return m;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" of ms, formatted at most once per millisecond. */
static const char *time_str(struct bcast_broker *b, uint64_t ms, size_t *len)
{
    if (b->ts_len && b->ts_ms == ms) {
        *len = b->ts_len;
        return b->ts;
    }
    time_t secs = (time_t)(ms / 1000);
    if (!b->ts_sec_len || secs != b->ts_secs) {
        struct tm tm;
        gmtime_r(&secs, &tm);
        b->ts_sec_len = strftime(b->ts_sec, sizeof b->ts_sec, "%Y-%m-%dT%H:%M:%S", &tm);
        b->ts_secs = secs;
    }
    unsigned frac = (unsigned)(ms % 1000);
    memcpy(b->ts, b->ts_sec, b->ts_sec_len);
    char *p = b->ts + b->ts_sec_len;
    p[0] = '.', p[1] = (char)('0' + frac / 100), p[2] = (char)('0' + frac / 10 % 10);
    p[3] = (char)('0' + frac % 10), p[4] = 'Z', p[5] = '\0';
    b->ts_len = b->ts_sec_len + 5;
    b->ts_ms = ms;
    *len = b->ts_len;
    return b->ts;
}

/* 1 when data is a JSON string without escapes or non-ASCII bytes: '"', bytes 0x20..0x7f other
 * than '"' and '\\', '"' — valid JSON that bb_json_validate would accept, checked 8 bytes at a
 * time. 0 means "not that shape" (the caller validates it fully), not "invalid". */
static int plain_json_string(const char *data, size_t dn)
{
    if (dn < 2 || data[0] != '"' || data[dn - 1] != '"') return 0;
    const unsigned char *p = (const unsigned char *)data + 1, *end = (const unsigned char *)data + dn - 1;
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
#define HAS_LESS(x, n) (((x) - ones * (n)) & ~(x) & highs)
    for (; end - p >= 8; p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        if ((w & highs) || HAS_LESS(w, 0x20) || HAS_LESS(w ^ (ones * '"'), 1) ||
            HAS_LESS(w ^ (ones * '\\'), 1))
            return 0;
    }
#undef HAS_LESS
    for (; p < end; p++)
        if (*p < 0x20 || *p >= 0x80 || *p == '"' || *p == '\\') return 0;
    return 1;
}

/* The event of one publish, envelope and MESSAGE payload built in place. NULL on ENOMEM. */
static struct bcast_event *build_event(struct bcast_broker *b, struct bcast_topic *t, uint64_t seq,
                                       const char *id, uint64_t ms, const char *type, size_t yn,
                                       const char *mid, size_t midn, const char *data, size_t dn)
{
    size_t tsn;
    const char *ts = time_str(b, ms, &tsn);
    /* JSON data is embedded as is, anything else as data_base64: validate without a tree */
    int is_json = dn > 0 && (plain_json_string(data, dn) ||
                             bb_json_validate(data, dn, BB_JSON_DEFAULT_DEPTH) == 0);
    size_t tailn = dn == 0 ? SLEN(ENV_NULL)
                   : is_json ? SLEN(ENV_JSON) + dn + 1
                             : SLEN(ENV_B64) + BB_BASE64_LEN(dn) + 2;
    size_t jl = SLEN(ENV_HEAD) + BCAST_ID_LEN + midn + tsn + tailn;
    struct bcast_event *ev = event_alloc(seq, ms, id, t->name, t->len, type, yn, jl);
    if (!ev) return NULL;
    char *o = ev->json;
    memcpy(o, ENV_HEAD, SLEN(ENV_HEAD)), o += SLEN(ENV_HEAD);
    memcpy(o, id, BCAST_ID_LEN), o += BCAST_ID_LEN;
    memcpy(o, mid, midn), o += midn;
    memcpy(o, ts, tsn), o += tsn;
    if (dn == 0) {
        memcpy(o, ENV_NULL, SLEN(ENV_NULL)), o += SLEN(ENV_NULL);
    } else if (is_json) {
        memcpy(o, ENV_JSON, SLEN(ENV_JSON)), o += SLEN(ENV_JSON);
        memcpy(o, data, dn), o += dn;
        *o++ = '}';
    } else {
        memcpy(o, ENV_B64, SLEN(ENV_B64)), o += SLEN(ENV_B64);
        o += bb_base64_encode(data, dn, o);
        *o++ = '"', *o++ = '}';
    }
    return ev;
}

/* ------------------------------------------------------------------ delivery */

/* Queues ev to s; 1 when queued (the caller counts deliveries), 0 when not. */
static int deliver_one(struct bcast_broker *b, struct bcast_sub *s, struct bcast_topic *t,
                       const struct bcast_event *ev)
{
    if (s->dead) return 0;
    int rc = s->ops->deliver(s->sink, s, t->name, t->len, ev);
    if (rc == 0) return 1;
    s->dead = 1;
    if (rc == BB_EBUSY) {
        b->st.slow_disconnects++;
        b->st.dropped++;
        bb_counter_inc(b->m.slow);
        bb_counter_inc(b->m.dropped);
        bb_warn("buncast", "slow_subscriber topic=%s sub=%llu action=disconnect", t->name,
                (unsigned long long)s->id);
    }
    return 0;
}

static void deliver(struct bcast_broker *b, struct bcast_sub *s, struct bcast_topic *t,
                    const struct bcast_event *ev)
{
    if (deliver_one(b, s, t, ev)) {
        b->st.delivered++;
        bb_counter_inc(b->m.delivered);
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
    /* a topic in the table is valid by construction: validate names only when it is new */
    struct bcast_topic *t = topic && tn ? topic_find(b, topic, tn) : NULL;
    if (!t && !bcast_topic_valid(topic, tn)) return BB_EINVAL;
    if (!type || !yn) type = DEFAULT_TYPE, yn = strlen(DEFAULT_TYPE);
    if (!source || !sn) source = DEFAULT_SOURCE, sn = strlen(DEFAULT_SOURCE);
    /* (type, source) equal to the topic's cached pair were validated when it was cached */
    int cached = t && t->mid && t->mid_yn == yn && t->mid_sn == sn &&
                 memcmp(t->mid_key, type, yn) == 0 && memcmp(t->mid_key + yn, source, sn) == 0;
    if (!cached && (!bcast_attr_valid(type, yn) || !bcast_attr_valid(source, sn))) return BB_EINVAL;
    if (dn > b->o.max_event_bytes) return BB_ETOOBIG;
    int rc;
    if (!t && (rc = topic_get(b, topic, tn, &t)) != 0) return rc;
    size_t midn;
    const char *mid = topic_mid(t, type, yn, source, sn, &midn);
    if (!mid) return BB_ENOMEM;
    uint64_t ms = bb_time_wall_ms();
    char id[BCAST_ID_LEN + 1];
    broker_id(b, ms, id);
    uint64_t seq = ++t->seq; /* never reused, even on failure: a gap in seq is harmless */
    struct bcast_event *ev = build_event(b, t, seq, id, ms, type, yn, mid, midn, data, dn);
    if (!ev) return BB_ENOMEM;
    if (t->durable && (rc = bcast_log_append(t->log, seq, ms, id, ev->json, ev->len)) != 0) {
        bcast_event_unref(ev);
        return rc;
    }
    t->published++;
    t->last_active_ms = ms;
    b->st.published++;
    bb_counter_inc(b->m.published);
    size_t n = 0;
    ev->fanout = t->nsubs;
    for (size_t i = 0; i < t->nsubs; i++)
        n += (size_t)deliver_one(b, t->subs[i], t, ev);
    if (n) {
        b->st.delivered += n;
        bb_counter_add(b->m.delivered, (double)n);
    }
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
    struct bcast_event *ev = event_from_record(c->t, seq, time_ms, id, json, len);
    if (!ev) return;
    deliver(c->b, c->s, c->t, ev);
    bcast_event_unref(ev);
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
        t->last_active_ms = bb_time_wall_ms();
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
    uint64_t now = bb_time_wall_ms();
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
    t->last_active_ms = bb_time_wall_ms();
    return 0;
}

int bcast_broker_touch_topic(struct bcast_broker *b, const char *topic, size_t tn)
{
    if (!bcast_topic_valid(topic, tn)) return BB_EINVAL;
    struct bcast_topic *t = topic_find(b, topic, tn);
    if (!t) return BB_ENOTFOUND;
    t->explicit_ = 1;
    t->last_active_ms = bb_time_wall_ms();
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
    broker_id(b, bb_time_wall_ms(), t->floor); /* everything before now is gone */
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
