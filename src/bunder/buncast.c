/* buncast.c — key changes published to buncast topic `kv.<project-id>` (--buncast ADDR).
 *
 * The command path never waits for buncast. bndr_notify (db.c) calls bndr_bcast_notify for every
 * key change — the same signal that feeds HTTP /subscribe — which formats the event and appends it
 * to a bounded in-memory FIFO under a mutex (O(1), no I/O). One publisher thread takes events in
 * order and hands them to the buncast C client (bcast_client_publish_async: pipelined on one
 * connection, so per-topic order is the order of the writes). When the queue is full (buncast slow
 * or down) the new event is dropped and counted; counters are in INFO `# Buncast` and /metrics.
 * While buncast is unreachable the thread waits for the client's automatic reconnect and the queue
 * keeps the most recent backlog up to its bound. At shutdown what is queued is published if the
 * connection is up (at most about 2 s, bcast_client_free), otherwise dropped.
 *
 * Event: CloudEvents type `kv.<op>` (op: the lower-case command name — set, del, lpush, hset,
 * incr, expire, … — or expired, evicted, flushdb), data a JSON object:
 *     {"op":"set","key":"user:1"}            key valid UTF-8: a JSON string (control bytes escaped)
 *     {"op":"set","key_base64":"AP8"}        otherwise: base64url without padding of the raw bytes
 * Keys longer than BNDR_BCAST_MAX_KEY bytes are not published (counted as dropped).
 *
 * Memory: the queue uses malloc, not the tracked allocator (the publisher thread frees events and
 * bndr_malloc's accounting is single-threaded); its bound is buncast-queue-max events.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_log.h"
#include "bndr.h"
#include "buncast_client.h"

#define BNDR_BCAST_MAX_KEY 16384
#define PUBLISH_TIMEOUT_MS 1000

struct bev {
    struct bev *next;
    size_t len;
    char type[40]; /* "kv." + op */
    char data[];
};

struct bndr_bcast {
    struct bcast_client *client;
    char topic[96];
    pthread_t thr;
    int thr_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct bev *head, *tail;
    size_t qn, qmax;
    int stop;
    uint64_t published, dropped, errors;
};

static int id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return 0;
    }
    return 1;
}

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        unsigned cp;
        if (c >= 0xc2 && c <= 0xdf)
            k = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            k = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            k = 3, cp = c & 0x07;
        else
            return 0;
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* Writes the event's JSON into out (cap bytes); returns its length. */
static size_t format_event(char *out, size_t cap, const char *op, int db, const char *k, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    /* the database only when it is not 0, so events of single-database users read as before */
    int w = db ? snprintf(out, cap, "{\"op\":\"%s\",\"db\":%d,", op, db)
               : snprintf(out, cap, "{\"op\":\"%s\",", op);
    if (w < 0 || (size_t)w >= cap)
        return 0;
    o = (size_t)w;
    if (utf8_valid((const unsigned char *)k, n)) {
        memcpy(out + o, "\"key\":\"", 7);
        o += 7;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)k[i];
            if (c == '"' || c == '\\') {
                out[o++] = '\\';
                out[o++] = (char)c;
            } else if (c < 0x20 || c == 0x7f) {
                memcpy(out + o, "\\u00", 4);
                out[o + 4] = hex[c >> 4];
                out[o + 5] = hex[c & 15];
                o += 6;
            } else {
                out[o++] = (char)c;
            }
        }
    } else {
        memcpy(out + o, "\"key_base64\":\"", 14);
        o += 14;
        o += bb_base64url_encode(k, n, out + o, cap - o);
    }
    out[o++] = '"';
    out[o++] = '}';
    return o;
}

void bndr_bcast_notify(struct bndr_server *s, const char *op, const char *k, size_t n)
{
    struct bndr_bcast *b = s->bcast;
    if (!b)
        return;
    size_t oplen = strlen(op);
    if (n > BNDR_BCAST_MAX_KEY || oplen > 32) {
        pthread_mutex_lock(&b->mu);
        b->dropped++;
        pthread_mutex_unlock(&b->mu);
        return;
    }
    /* worst case: every byte escaped as \u00XX (6) or base64 (4/3) */
    size_t cap = 80 + oplen + n * 6;
    pthread_mutex_lock(&b->mu);
    int full = b->qn >= b->qmax;
    if (full)
        b->dropped++;
    pthread_mutex_unlock(&b->mu);
    if (full)
        return;
    struct bev *e = malloc(sizeof *e + cap);
    if (!e) {
        pthread_mutex_lock(&b->mu);
        b->dropped++;
        pthread_mutex_unlock(&b->mu);
        return;
    }
    e->next = NULL;
    snprintf(e->type, sizeof e->type, "kv.%s", op);
    e->len = format_event(e->data, cap, op, s->curdb, k, n);
    pthread_mutex_lock(&b->mu);
    if (b->tail)
        b->tail->next = e;
    else
        b->head = e;
    b->tail = e;
    b->qn++;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void *publisher_main(void *arg)
{
    struct bndr_bcast *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->stop && !b->head)
            pthread_cond_wait(&b->cv, &b->mu);
        if (!b->head)
            break; /* stopping, nothing left */
        int stopping = b->stop;
        pthread_mutex_unlock(&b->mu);
        /* buncast down: wait for the client's reconnect (the queue bounds the backlog) */
        while (!bcast_client_connected(b->client)) {
            if (stopping)
                break;
            bcast_client_wait_connected(b->client, 200);
            pthread_mutex_lock(&b->mu);
            stopping = b->stop;
            pthread_mutex_unlock(&b->mu);
        }
        int up = bcast_client_connected(b->client);
        pthread_mutex_lock(&b->mu);
        struct bev *e = b->head;
        b->head = e->next;
        if (!b->head)
            b->tail = NULL;
        b->qn--;
        if (!up) { /* stopping with buncast down: drop what is left */
            b->dropped++;
            pthread_mutex_unlock(&b->mu);
            free(e);
            pthread_mutex_lock(&b->mu);
            continue;
        }
        pthread_mutex_unlock(&b->mu);
        int rc = bcast_client_publish_async(b->client, b->topic, e->type, e->data, e->len,
                                            PUBLISH_TIMEOUT_MS);
        free(e);
        pthread_mutex_lock(&b->mu);
        if (rc == 0)
            b->published++;
        else
            b->errors++;
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

int bndr_bcast_start(struct bndr_server *s, char *err, size_t errcap)
{
    if (!s->cfg.buncast[0])
        return 0;
    if (!id_valid(s->cfg.project_id)) {
        snprintf(err, errcap, "--buncast needs --project-id (1-64 of [A-Za-z0-9_-])");
        return -1;
    }
    struct bndr_bcast *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    snprintf(b->topic, sizeof b->topic, "kv.%.64s", s->cfg.project_id);
    b->qmax = (size_t)s->cfg.buncast_queue_max;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    char source[128];
    snprintf(source, sizeof source, "/bunder/%.64s", s->cfg.project_id);
    struct bcast_client_opts o = {0};
    o.source = source;
    /* buncast's internal token, never on the command line: --buncast-token-file, else the env
     * var BUNDER_BUNCAST_TOKEN (unset once read, so that it is not inherited) */
    char token[1100] = "";
    const char *et = getenv("BUNDER_BUNCAST_TOKEN");
    if (et) snprintf(token, sizeof token, "%s", et), unsetenv("BUNDER_BUNCAST_TOKEN");
    o.token = token[0] ? token : NULL;
    o.token_file = s->cfg.buncast_token_file[0] ? s->cfg.buncast_token_file : NULL;
    int rc = bcast_client_new(&b->client, s->cfg.buncast, &o);
    explicit_bzero(token, sizeof token);
    if (rc < 0) {
        snprintf(err, errcap, "buncast client: %s (address %s)", bb_strerror(rc), s->cfg.buncast);
        goto fail;
    }
    if (pthread_create(&b->thr, NULL, publisher_main, b) != 0) {
        snprintf(err, errcap, "cannot start the buncast publisher thread");
        goto fail;
    }
    b->thr_started = 1;
    s->bcast = b;
    bb_info("bunder", "buncast addr=%s topic=%s", s->cfg.buncast, b->topic);
    return 0;
fail:
    bcast_client_free(b->client);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
    return -1;
}

void bndr_bcast_stop(struct bndr_server *s)
{
    struct bndr_bcast *b = s->bcast;
    if (!b)
        return;
    s->bcast = NULL;
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    if (b->thr_started)
        pthread_join(b->thr, NULL);
    bcast_client_free(b->client); /* writes what is still buffered (bounded) */
    bb_info("bunder", "buncast_stopped published=%llu dropped=%llu errors=%llu",
            (unsigned long long)b->published, (unsigned long long)b->dropped,
            (unsigned long long)b->errors);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
}

void bndr_bcast_stats(struct bndr_server *s, struct bndr_bcast_stats *st)
{
    memset(st, 0, sizeof *st);
    struct bndr_bcast *b = s->bcast;
    if (!b)
        return;
    st->enabled = 1;
    pthread_mutex_lock(&b->mu);
    st->published = b->published;
    st->dropped = b->dropped;
    st->errors = b->errors;
    st->queued = b->qn;
    pthread_mutex_unlock(&b->mu);
    st->connected = bcast_client_connected(b->client);
}
