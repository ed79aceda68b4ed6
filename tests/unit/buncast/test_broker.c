/* test_broker.c — buncast broker core without sockets: payload codec, topic rules and wildcard
 * matching, fan-out, rings and resume floors, delete/idle topics, limits, and durable topics (replay
 * after a restart, torn tail truncation, resume from the log beyond the ring, retention), the
 * envelope and its preformatted MESSAGE payload, ids in one millisecond, the ACK codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bb_err.h"
#include "bb_id.h"
#include "bb_json.h"
#include "bcast_broker.h"
#include "bcast_proto.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- a fake sink that records what it gets; busy_after > 0 makes it overflow ---- */
struct fsink {
    int n, resets, busy_after, closed;
    char ids[256][27];
    char data[256][128];
    char reset_json[256];
};

static int fs_deliver(void *sink, struct bcast_sub *sub, const char *topic, size_t tn,
                      const struct bcast_event *ev)
{
    struct fsink *f = sink;
    if (f->closed) return BB_ECLOSED;
    if (f->busy_after && f->n >= f->busy_after) {
        f->closed = 1;
        return BB_EBUSY;
    }
    if (f->n < 256) {
        snprintf(f->ids[f->n], 27, "%s", ev->id);
        const char *d = strstr(ev->json, "\"data\":");
        snprintf(f->data[f->n], 128, "%s", d ? d + 7 : "");
    }
    f->n++;
    return 0;
}

static int fs_reset(void *sink, struct bcast_sub *sub, const char *topic, size_t tn,
                    const char *json, size_t len)
{
    struct fsink *f = sink;
    f->resets++;
    snprintf(f->reset_json, sizeof f->reset_json, "%.*s", (int)len, json);
    return 0;
}

static const struct bcast_sink_ops fops = {fs_deliver, fs_reset};

static char tmpdir[128];

static void opts(struct bcast_broker_opts *o, size_t ring)
{
    memset(o, 0, sizeof *o);
    o->ring_size = ring;
    o->max_topics = 100;
    o->max_event_bytes = 4096;
    o->topic_idle_ms = 1000;
    o->durable_prefixes = "dur.,keep.";
    o->log_dir = tmpdir;
    o->segment_bytes = 4096;
    o->retention_bytes = 1 << 30;
    o->retention_ms = 0;
}

static int setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bcast-bt-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int pub(struct bcast_broker *b, const char *topic, const char *data, char *id)
{
    return bcast_broker_publish(b, topic, strlen(topic), NULL, 0, NULL, 0, data, strlen(data), id);
}

/* ------------------------------------------------------------------ proto */

static void test_names_and_matching(void **state)
{
    int w;
    assert_true(bcast_topic_valid("a", 1));
    assert_true(bcast_topic_valid("db.p1.collection.todos", 22));
    assert_false(bcast_topic_valid("", 0));
    assert_false(bcast_topic_valid("a..b", 4));
    assert_false(bcast_topic_valid(".a", 2));
    assert_false(bcast_topic_valid("a.", 2));
    assert_false(bcast_topic_valid("a b", 3));
    assert_false(bcast_topic_valid("a.*", 3));
    assert_false(bcast_topic_valid("a\"b", 3));
    char big[BCAST_MAX_TOPIC + 2];
    memset(big, 'x', sizeof big);
    assert_true(bcast_topic_valid(big, BCAST_MAX_TOPIC));
    assert_false(bcast_topic_valid(big, BCAST_MAX_TOPIC + 1));
    assert_true(bcast_pattern_valid("a.*.c", 5, &w) && w);
    assert_true(bcast_pattern_valid("a.>", 3, &w) && w);
    assert_true(bcast_pattern_valid(">", 1, &w) && w);
    assert_true(bcast_pattern_valid("a.b", 3, &w) && !w);
    assert_false(bcast_pattern_valid("a.>.c", 5, &w));
    assert_false(bcast_pattern_valid("a.b*", 4, &w));
    assert_false(bcast_pattern_valid("a.>>", 4, &w));
    static const struct {
        const char *p, *t;
        int m;
    } cases[] = {
        {"a.b", "a.b", 1},     {"a.b", "a.c", 0},     {"a.b", "a.b.c", 0}, {"a.*", "a.b", 1},
        {"a.*", "a", 0},       {"a.*", "a.b.c", 0},   {"*.b", "a.b", 1},   {"*", "a", 1},
        {"*", "a.b", 0},       {"a.>", "a.b", 1},     {"a.>", "a.b.c", 1}, {"a.>", "a", 0},
        {">", "a", 1},         {">", "a.b.c", 1},     {"a.*.c", "a.x.c", 1}, {"a.*.c", "a.x.d", 0},
        {"a.*.>", "a.x.y.z", 1}, {"a.*.>", "a.x", 0}, {"ab", "a", 0},      {"a", "ab", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int m = bcast_match(cases[i].p, strlen(cases[i].p), cases[i].t, strlen(cases[i].t));
        if (m != cases[i].m) fail_msg("match(%s, %s) = %d", cases[i].p, cases[i].t, m);
    }
}

static void test_codec(void **state)
{
    uint8_t buf[256];
    struct bcast_req r;
    size_t n = bcast_put_publish(buf, sizeof buf, "t.x", 3, "{}", 2, "my.type", "/src");
    assert_int_equal(bcast_req_decode(BCAST_CMD_PUBLISH, buf, n, &r), 0);
    assert_int_equal(r.topic.n, 3);
    assert_memory_equal(r.body.p, "{}", 2);
    assert_int_equal(r.type.n, 7);
    assert_memory_equal(r.source.p, "/src", 4);
    /* reference layout (no trailer) still decodes */
    n = bcast_put_publish(buf, sizeof buf, "t.x", 3, "ab", 2, NULL, NULL);
    assert_int_equal(bcast_req_decode(BCAST_CMD_PUBLISH, buf, n, &r), 0);
    assert_int_equal(r.type.n, 0);
    /* truncated body length / trailing bytes are malformed */
    assert_int_equal(bcast_req_decode(BCAST_CMD_PUBLISH, buf, 5, &r), BB_EPROTO);
    assert_int_equal(bcast_req_decode(BCAST_CMD_PUBLISH, buf, n - 1, &r), BB_EPROTO);
    n = bcast_put_topic(buf, sizeof buf, "abc", 3);
    assert_int_equal(bcast_req_decode(BCAST_CMD_CREATE_TOPIC, buf, n, &r), 0);
    assert_int_equal(bcast_req_decode(BCAST_CMD_CREATE_TOPIC, buf, n + 1, &r), BB_EPROTO);
    assert_int_equal(bcast_req_decode(BCAST_CMD_LIST_TOPICS, buf, 1, &r), BB_EPROTO);
    assert_int_equal(bcast_req_decode(77, buf, 0, &r), BB_EINVAL);
    n = bcast_put_subscribe(buf, sizeof buf, "a.>", 3, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
    assert_int_equal(bcast_req_decode(BCAST_CMD_SUBSCRIBE, buf, n, &r), 0);
    assert_int_equal(r.resume.n, 26);
    struct bcast_msg m;
    n = bcast_put_msg(buf, sizeof buf, "t", 1, "{\"a\":1}", 7, "01ARZ3NDEKTSV4RRFFQ69G5FAV", 26);
    assert_int_equal(bcast_msg_decode(BCAST_ST_MESSAGE, buf, n, &m), 0);
    assert_int_equal(m.body.n, 7);
    assert_int_equal(m.id.n, 26);
    assert_int_equal(bcast_msg_decode(BCAST_ST_MESSAGE, buf, n - 1, &m), BB_EPROTO);
}

/* ------------------------------------------------------------------ broker */

static void test_fanout_wildcards_limits(void **state)
{
    struct bcast_broker_opts o;
    opts(&o, 16);
    o.max_topics = 2;
    struct bcast_broker *b;
    char err[128];
    assert_int_equal(bcast_broker_new(&b, &o, err, sizeof err), 0);
    struct fsink exact = {0}, wild = {0}, all = {0};
    struct bcast_sub *s1, *s2, *s3;
    assert_int_equal(bcast_broker_subscribe(b, "x.a", 3, NULL, &fops, &exact, 1, &s1), 0);
    assert_int_equal(pub(b, "x.b", "1", NULL), 0);
    /* wildcard made after x.b exists, and x.c created after it: both attached */
    assert_int_equal(bcast_broker_subscribe(b, "x.*", 3, NULL, &fops, &wild, 2, &s2), 0);
    assert_int_equal(bcast_broker_subscribe(b, ">", 1, NULL, &fops, &all, 3, &s3), 0);
    assert_int_equal(pub(b, "x.a", "2", NULL), 0);
    assert_int_equal(pub(b, "x.b", "3", NULL), 0);
    assert_int_equal(pub(b, "x.c", "4", NULL), BB_ELIMIT); /* 3rd topic */
    /* the refused publish is dropped, not published */
    struct bcast_stats st0;
    bcast_broker_stats(b, &st0);
    assert_int_equal(st0.published, 3);
    assert_int_equal(st0.publish_failed, 1);
    assert_int_equal(st0.dropped, 1);
    assert_int_equal(exact.n, 1);
    assert_int_equal(wild.n, 2);
    assert_int_equal(all.n, 2);
    assert_string_equal(wild.data[0], "2}");
    /* data limits and attributes */
    char big[5000];
    memset(big, '1', sizeof big);
    assert_int_equal(bcast_broker_publish(b, "x.a", 3, NULL, 0, NULL, 0, big, sizeof big, NULL),
                     BB_ETOOBIG);
    assert_int_equal(bcast_broker_publish(b, "x.a", 3, "bad\ntype", 8, NULL, 0, "1", 1, NULL),
                     BB_EINVAL);
    /* a sink that overflows is counted once and skipped afterwards */
    struct fsink slow = {.busy_after = 1};
    struct bcast_sub *s4;
    assert_int_equal(bcast_broker_subscribe(b, "x.a", 3, NULL, &fops, &slow, 4, &s4), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(pub(b, "x.a", "5", NULL), 0);
    struct bcast_stats st;
    bcast_broker_stats(b, &st);
    assert_int_equal(st.slow_disconnects, 1);
    assert_int_equal(st.publish_failed, 3);   /* ELIMIT, ETOOBIG, EINVAL */
    assert_int_equal(st.dropped, 3 + 1);      /* those + the event the slow sink missed */
    assert_true(bcast_sub_dead(s4));
    assert_int_equal(exact.n, 6); /* the others were not affected */
    json_t *list = bcast_broker_list_topics(b);
    assert_int_equal(json_array_size(list), 2);
    json_decref(list);
    bcast_broker_unsubscribe(b, s1);
    bcast_broker_unsubscribe(b, s2);
    bcast_broker_unsubscribe(b, s3);
    bcast_broker_unsubscribe(b, s4);
    bcast_broker_stats(b, &st);
    assert_int_equal(st.subscribers, 0);
    bcast_broker_free(b);
}

static void test_idle_and_delete(void **state)
{
    struct bcast_broker_opts o;
    opts(&o, 16);
    struct bcast_broker *b;
    char err[128];
    o.created_idle_ms = 20000;
    assert_int_equal(bcast_broker_new(&b, &o, err, sizeof err), 0);
    assert_int_equal(pub(b, "idle.t", "1", NULL), 0);
    int created = -1;
    assert_int_equal(bcast_broker_create_topic(b, "explicit.t", 10, &created), 0);
    assert_int_equal(created, 1);
    assert_int_equal(bcast_broker_create_topic(b, "explicit.t", 10, &created), 0);
    assert_int_equal(created, 0); /* already there */
    assert_int_equal(bcast_broker_touch_topic(b, "explicit.t", 10), 0);
    assert_int_equal(bcast_broker_touch_topic(b, "other.t", 7), BB_ENOTFOUND);
    struct fsink f = {0};
    struct bcast_sub *s;
    assert_int_equal(bcast_broker_subscribe(b, "held.t", 6, NULL, &fops, &f, 1, &s), 0);
    uint64_t far = (uint64_t)time(NULL) * 1000 + 10 * 1000; /* 10 s from now, idle is 1 s */
    bcast_broker_tick(b, far);
    json_t *l = bcast_broker_list_topics(b);
    /* idle.t went away; the explicit one and the one with a subscriber stayed */
    assert_int_equal(json_array_size(l), 2);
    assert_string_equal(json_string_value(json_array_get(l, 0)), "explicit.t");
    assert_string_equal(json_string_value(json_array_get(l, 1)), "held.t");
    json_decref(l);
    /* explicitly created topics expire too, after created_idle_ms (20 s) without use */
    bcast_broker_tick(b, far + 20 * 1000);
    l = bcast_broker_list_topics(b);
    assert_int_equal(json_array_size(l), 1);
    assert_string_equal(json_string_value(json_array_get(l, 0)), "held.t");
    json_decref(l);
    /* delete with a live subscriber: it gets a reset and keeps receiving */
    char id[27];
    assert_int_equal(pub(b, "held.t", "1", id), 0);
    assert_int_equal(bcast_broker_delete_topic(b, "held.t", 6), 0);
    assert_int_equal(f.resets, 1);
    assert_non_null(strstr(f.reset_json, "\"reason\":\"deleted\""));
    assert_int_equal(pub(b, "held.t", "2", NULL), 0);
    assert_int_equal(f.n, 2);
    /* a resume from before the delete is a reset, not a silent gap */
    struct fsink g = {0};
    struct bcast_sub *s2;
    assert_int_equal(bcast_broker_subscribe(b, "held.t", 6, id, &fops, &g, 2, &s2), 0);
    assert_int_equal(g.resets, 1);
    assert_int_equal(bcast_broker_delete_topic(b, "nope.t", 6), BB_ENOTFOUND);
    assert_int_equal(bcast_broker_subscribe(b, "held.t", 6, "not-an-id", &fops, &g, 3, &s2),
                     BB_EINVAL);
    bcast_broker_unsubscribe(b, s);
    bcast_broker_unsubscribe(b, g.n >= 0 ? s2 : NULL);
    bcast_broker_free(b);
}

static void test_ring_resume_floor(void **state)
{
    struct bcast_broker_opts o;
    opts(&o, 4);
    struct bcast_broker *b;
    char err[128];
    assert_int_equal(bcast_broker_new(&b, &o, err, sizeof err), 0);
    char ids[10][27];
    for (int i = 0; i < 10; i++)
        assert_int_equal(pub(b, "r.t", "1", ids[i]), 0);
    /* ring holds 6..9; floor is id 5: resume from 5 gets 6..9, from 4 gets a reset */
    struct fsink a = {0}, c = {0};
    struct bcast_sub *sa, *sc;
    assert_int_equal(bcast_broker_subscribe(b, "r.t", 3, ids[5], &fops, &a, 1, &sa), 0);
    assert_int_equal(a.n, 4);
    assert_int_equal(a.resets, 0);
    assert_string_equal(a.ids[0], ids[6]);
    assert_int_equal(bcast_broker_subscribe(b, "r.t", 3, ids[4], &fops, &c, 2, &sc), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(c.resets, 1);
    struct bcast_stats st;
    bcast_broker_stats(b, &st);
    assert_int_equal(st.ring_evictions, 6);
    assert_int_equal(st.resets, 1);
    bcast_broker_unsubscribe(b, sa);
    bcast_broker_unsubscribe(b, sc);
    bcast_broker_free(b);
}

static void test_durable_restart(void **state)
{
    struct bcast_broker_opts o;
    opts(&o, 4);
    struct bcast_broker *b;
    char err[128];
    char ids[40][27];
    assert_int_equal(bcast_broker_new(&b, &o, err, sizeof err), 0);
    for (int i = 0; i < 40; i++) {
        char d[32];
        snprintf(d, sizeof d, "{\"i\":%d}", i);
        assert_int_equal(pub(b, "dur.orders", d, ids[i]), 0);
    }
    assert_int_equal(pub(b, "mem.t", "1", NULL), 0);
    bcast_broker_free(b);

    /* restart: the durable topic is back with its events; the in-memory one is gone */
    assert_int_equal(bcast_broker_new(&b, &o, err, sizeof err), 0);
    json_t *l = bcast_broker_list_topics(b);
    assert_int_equal(json_array_size(l), 1);
    assert_string_equal(json_string_value(json_array_get(l, 0)), "dur.orders");
    json_decref(l);
    /* resume from event 10: older than the 4-event ring, so it is read from the log */
    struct fsink f = {0};
    struct bcast_sub *s;
    assert_int_equal(bcast_broker_subscribe(b, "dur.orders", 10, ids[10], &fops, &f, 1, &s), 0);
    assert_int_equal(f.resets, 0);
    assert_int_equal(f.n, 29);
    assert_string_equal(f.ids[0], ids[11]);
    assert_string_equal(f.data[0], "{\"i\":11}}");
    assert_string_equal(f.ids[28], ids[39]);
    /* new events continue after the old ones */
    char nid[27];
    assert_int_equal(pub(b, "dur.orders", "{\"i\":40}", nid), 0);
    assert_true(strcmp(nid, ids[39]) > 0);
    assert_int_equal(f.n, 30);
    bcast_broker_unsubscribe(b, s);
    bcast_broker_free(b);

    /* torn tail: chop bytes off the newest segment; the broken record is dropped, the rest kept */
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "f=$(ls -1 %s/*/*.seg | sort | tail -1); truncate -s -5 \"$f\"", tmpdir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(bcast_broker_new(&b, &o, err, sizeof err), 0);
    struct fsink g = {0};
    assert_int_equal(bcast_broker_subscribe(b, "dur.orders", 10, ids[30], &fops, &g, 1, &s), 0);
    assert_int_equal(g.resets, 0);
    assert_int_equal(g.n, 9); /* 31..39; event 40 was torn */
    assert_string_equal(g.ids[8], ids[39]);
    assert_int_equal(pub(b, "dur.orders", "{\"i\":41}", NULL), 0); /* appends after the cut */
    bcast_broker_unsubscribe(b, s);
    bcast_broker_free(b);

    /* retention: a tiny byte budget deletes old segments; resume from before them is a reset */
    o.retention_bytes = 4096;
    assert_int_equal(bcast_broker_new(&b, &o, err, sizeof err), 0);
    bcast_broker_tick(b, (uint64_t)time(NULL) * 1000);
    struct fsink h = {0};
    assert_int_equal(bcast_broker_subscribe(b, "dur.orders", 10, ids[1], &fops, &h, 1, &s), 0);
    assert_int_equal(h.resets, 1);
    bcast_broker_unsubscribe(b, s);
    bcast_broker_free(b);
    /* ... and that floor survives another restart */
    assert_int_equal(bcast_broker_new(&b, &o, err, sizeof err), 0);
    struct fsink k = {0};
    assert_int_equal(bcast_broker_subscribe(b, "dur.orders", 10, ids[1], &fops, &k, 1, &s), 0);
    assert_int_equal(k.resets, 1);
    bcast_broker_unsubscribe(b, s);
    bcast_broker_free(b);
}

/* ------------------------------------------------------------------ envelopes, ids, ACK codec */

struct esink {
    int n;
    char last_id[27];
    int increasing, msg_ok;
    json_t *last;
    const char *want_type;
    int last_embedded; /* the last envelope embedded its data as JSON */
};

static int es_deliver(void *sink, struct bcast_sub *sub, const char *topic, size_t tn,
                      const struct bcast_event *ev)
{
    struct esink *e = sink;
    /* the preformatted MESSAGE payload is what bcast_put_msg would have written */
    size_t plen = ev->msg_head + ev->tail_len;
    uint8_t *p = malloc(plen), *want = malloc(plen);
    memcpy(p, ev->msg, ev->msg_head);
    memcpy(p + ev->msg_head, ev->msg_tail, ev->tail_len);
    size_t wn = bcast_put_msg(want, plen, topic, tn, ev->json, ev->len, ev->id, strlen(ev->id));
    struct bcast_msg m;
    if (wn != plen || memcmp(p, want, plen) != 0 || bcast_msg_decode(BCAST_ST_MESSAGE, p, plen, &m) != 0 ||
        m.body.n != ev->len || strlen(ev->json) != ev->len)
        e->msg_ok = 0;
    free(p);
    free(want);
    if (e->want_type && strcmp(ev->type, e->want_type) != 0) e->msg_ok = 0;
    if (e->n && strcmp(ev->id, e->last_id) <= 0) e->increasing = 0;
    if (!bb_id_is_valid(ev->id)) e->increasing = 0;
    snprintf(e->last_id, sizeof e->last_id, "%s", ev->id);
    json_decref(e->last);
    e->last = json_loadb(ev->json, ev->len, 0, NULL);
    e->last_embedded = strstr(ev->json, "\"datacontenttype\":\"application/json\"") != NULL;
    e->n++;
    return 0;
}

static void test_envelope_and_ids(void **state)
{
    struct bcast_broker_opts o;
    opts(&o, 8);
    o.max_event_bytes = 1 << 16;
    struct bcast_broker *b;
    char err[128];
    assert_int_equal(bcast_broker_new(&b, &o, err, sizeof err), 0);
    struct esink e = {.increasing = 1, .msg_ok = 1};
    static const struct bcast_sink_ops eops = {es_deliver, fs_reset};
    struct bcast_sub *s;
    assert_int_equal(bcast_broker_subscribe(b, "env.>", 5, NULL, &eops, &e, 1, &s), 0);
    /* many events in the same millisecond: strictly increasing, valid ids */
    char id[BCAST_ID_LEN + 1], prev[BCAST_ID_LEN + 1] = "";
    for (int i = 0; i < 5000; i++) {
        assert_int_equal(pub(b, "env.a", "{\"i\":1}", id), 0);
        assert_true(strcmp(id, prev) > 0);
        memcpy(prev, id, sizeof id);
    }
    assert_int_equal(e.n, 5000);
    assert_true(e.increasing);
    assert_true(e.msg_ok);
    assert_string_equal(e.last_id, prev);
    /* JSON data embedded, type and source escaped, the default pair cached per topic */
    e.want_type = "t\"q\\";
    const char *data = "{\"k\":[1,2,{\"z\":null}]}";
    assert_int_equal(bcast_broker_publish(b, "env.b", 5, "t\"q\\", 4, "/s\"", 3, data, strlen(data), id), 0);
    json_t *j = e.last;
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "specversion")), "1.0");
    assert_string_equal(json_string_value(json_object_get(j, "id")), id);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "t\"q\\");
    assert_string_equal(json_string_value(json_object_get(j, "source")), "/s\"");
    assert_string_equal(json_string_value(json_object_get(j, "subject")), "env.b");
    assert_string_equal(json_string_value(json_object_get(j, "datacontenttype")), "application/json");
    const char *tm = json_string_value(json_object_get(j, "time"));
    assert_non_null(tm);
    assert_int_equal(strlen(tm), 24);
    assert_int_equal(tm[10], 'T');
    assert_int_equal(tm[19], '.');
    assert_int_equal(tm[23], 'Z');
    assert_int_equal(json_integer_value(json_array_get(json_object_get(json_object_get(j, "data"), "k"), 1)), 2);
    /* same topic, other pair: the cached middle is rebuilt */
    e.want_type = "buncast.message";
    assert_int_equal(pub(b, "env.b", "\"s\"", id), 0);
    j = e.last;
    assert_string_equal(json_string_value(json_object_get(j, "type")), "buncast.message");
    assert_string_equal(json_string_value(json_object_get(j, "source")), "/buncast");
    assert_string_equal(json_string_value(json_object_get(j, "data")), "s");
    /* bytes that are not JSON: data_base64; empty: data null */
    assert_int_equal(bcast_broker_publish(b, "env.b", 5, NULL, 0, NULL, 0, "\x01\x02\xff{", 4, id), 0);
    j = e.last;
    assert_string_equal(json_string_value(json_object_get(j, "datacontenttype")),
                        "application/octet-stream");
    assert_string_equal(json_string_value(json_object_get(j, "data_base64")), "AQL/ew==");
    assert_int_equal(bcast_broker_publish(b, "env.b", 5, NULL, 0, NULL, 0, "", 0, id), 0);
    j = e.last;
    assert_true(json_is_null(json_object_get(j, "data")));
    /* JSON-string data (a fast path skips the full validation for plain ones): embedded exactly
     * when bb_json_validate accepts it, on random strings mixing plain bytes, quotes, backslashes,
     * escapes, control and non-ASCII bytes */
    static const char *const parts[] = {"a", "xyz", " ", "\"", "\\", "\\n", "\\u0041", "\x01",
                                        "\x1f", "\x7f", "\xc3\xa9", "\xff", "0123456789", "\t"};
    srand(7);
    int embedded = 0;
    for (int i = 0; i < 3000; i++) {
        char d[256];
        size_t n = 0;
        if (i % 7) d[n++] = '"';
        int k = rand() % 12;
        for (int j = 0; j < k; j++) {
            const char *pp = (rand() % 3) ? parts[rand() % 3] : parts[rand() % 14];
            size_t pl = strlen(pp);
            memcpy(d + n, pp, pl), n += pl;
        }
        if (i % 5) d[n++] = '"';
        assert_int_equal(bcast_broker_publish(b, "env.c", 5, NULL, 0, NULL, 0, d, n, id), 0);
        int want = n > 0 && bb_json_validate(d, n, BB_JSON_DEFAULT_DEPTH) == 0;
        assert_int_equal(e.last_embedded, want);
        embedded += want;
    }
    assert_true(embedded > 500 && embedded < 2900); /* both kinds were exercised */
    /* a bad type on a known topic is still refused */
    assert_int_equal(bcast_broker_publish(b, "env.b", 5, "a\nb", 3, NULL, 0, "1", 1, id), BB_EINVAL);
    assert_true(e.msg_ok);
    json_decref(e.last);
    bcast_broker_unsubscribe(b, s);
    bcast_broker_free(b);
    /* ids keep increasing across broker instances of the process, even within one millisecond
     * after many ids were made by incrementing (a restarted broker continues above them) */
    for (int k = 0; k < 20; k++) {
        assert_int_equal(bcast_broker_new(&b, &o, err, sizeof err), 0);
        for (int i = 0; i < 50; i++) {
            assert_int_equal(pub(b, "env.r", "1", id), 0);
            assert_true(strcmp(id, prev) > 0);
            memcpy(prev, id, sizeof id);
        }
        bcast_broker_free(b);
    }
    /* the ACK payload */
    uint8_t buf[64];
    size_t n = bcast_put_ack(buf, sizeof buf, 123456, "01ARZ3NDEKTSV4RRFFQ69G5FAV", 26);
    assert_int_equal(n, 5 + 26);
    struct bcast_ack a;
    assert_int_equal(bcast_ack_decode(buf, n, &a), 0);
    assert_int_equal(a.count, 123456);
    assert_int_equal(a.last_id.n, 26);
    assert_memory_equal(a.last_id.p, "01ARZ3NDEKTSV4RRFFQ69G5FAV", 26);
    assert_int_equal(bcast_ack_decode(buf, n - 1, &a), BB_EPROTO);
    assert_int_equal(bcast_ack_decode(buf, 4, &a), BB_EPROTO);
    struct bcast_req r;
    uint8_t pl[64];
    size_t pn = bcast_put_publish(pl, sizeof pl, "a.b", 3, "{}", 2, NULL, NULL);
    assert_int_equal(bcast_req_decode(BCAST_CMD_PUBLISH_PIPELINED, pl, pn, &r), 0);
    assert_int_equal(r.topic.n, 3);
    assert_int_equal(r.body.n, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_matching),
        cmocka_unit_test(test_codec),
        cmocka_unit_test_setup_teardown(test_fanout_wildcards_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ring_resume_floor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durable_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_envelope_and_ids, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
