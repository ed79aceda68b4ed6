/* cmd_admin.c — the server's introspection and administration commands that are not about data:
 * OBJECT, SLOWLOG, LATENCY, DEBUG (subset), LOLWUT, MONITOR, and the cluster / replication /
 * module commands, which answer what Redis 7.0 answers when those features are off.
 *
 * OBJECT ENCODING reports the encoding Redis 7.0 would use for the same value under the same
 * settings (hash-max-listpack-*, zset-max-listpack-*, set-max-intset-entries, read through
 * bndr_config_compat): bunder stores every collection one way, so the answer is computed from
 * the value. Redis never converts a collection back to the compact encoding; bunder keeps that
 * sticky too (obj->big), set when a write leaves a collection past a count limit (bndr_call) or
 * when OBJECT ENCODING sees it past any limit.
 *
 * SLOWLOG: bndr_call hands every command that ran at least slowlog-log-slower-than µs to
 * bndr_slowlog_push; the log keeps slowlog-max-len entries (newest first), each with at most 32
 * arguments of at most 128 bytes, as Redis.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bndr.h"
#include "cmds.h"

static long long compat_ll(const char *name, long long def)
{
    const char *v = bndr_config_compat(name);
    long long n;
    if (!v || bndr_parse_ll(v, strlen(v), &n) < 0)
        return def;
    return n;
}

static void add_help(struct bndr_client *c, const char *const *lines)
{
    long n = 0;
    while (lines[n])
        n++;
    bndr_add_array(c, n);
    for (long i = 0; i < n; i++)
        bndr_add_status(c, lines[i]);
}

static int sub_arity(struct bndr_client *c, const char *cmd, const char *sub, int arity)
{
    if ((arity > 0 && c->argc != arity) || (arity < 0 && c->argc < -arity)) {
        bndr_add_errorf(c, "ERR wrong number of arguments for '%s|%s' command", cmd, sub);
        return -1;
    }
    return 0;
}

/* Redis 7's reply to a bad subcommand of a container: a known one with the wrong number of
 * arguments, or an unknown one. known: space-separated lower-case names. */
void bndr_sub_error(struct bndr_client *c, const char *cmd, const char *known)
{
    const struct bndr_arg *a = &c->argv[1];
    char low[64];
    size_t n = a->n < sizeof low - 1 ? a->n : sizeof low - 1;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)((a->p[i] >= 'A' && a->p[i] <= 'Z') ? a->p[i] + 32 : a->p[i]);
    low[n] = 0;
    for (const char *k = known; *k;) {
        size_t l = strcspn(k, " ");
        if (l == a->n && !memcmp(k, low, l)) {
            char lc[32];
            size_t cl = strlen(cmd) < sizeof lc - 1 ? strlen(cmd) : sizeof lc - 1;
            for (size_t i = 0; i < cl; i++)
                lc[i] = (char)((cmd[i] >= 'A' && cmd[i] <= 'Z') ? cmd[i] + 32 : cmd[i]);
            lc[cl] = 0;
            bndr_add_errorf(c, "ERR wrong number of arguments for '%s|%s' command", lc, low);
            return;
        }
        k += l;
        while (*k == ' ')
            k++;
    }
    bndr_add_errorf(c, "ERR unknown subcommand '%.*s'. Try %s HELP.", (int)(a->n > 128 ? 128 : a->n),
                    a->p, cmd);
}

static void unknown_sub(struct bndr_client *c, const char *cmd)
{
    const struct bndr_arg *a = &c->argv[1];
    bndr_add_errorf(c, "ERR unknown subcommand '%.*s'. Try %s HELP.", (int)(a->n > 128 ? 128 : a->n),
                    a->p, cmd);
}

/* ---------------------------------------------------------------- OBJECT */
static int is_int(const char *p, size_t n)
{
    long long v;
    return n <= 20 && bndr_parse_ll(p, n, &v) == 0;
}

static unsigned limits_gen;
static long long set_max, hash_max, zset_max, hash_val, zset_val;

static void limits(void)
{
    if (limits_gen != bndr_config_generation()) {
        set_max = compat_ll("set-max-intset-entries", 512);
        hash_max = compat_ll("hash-max-listpack-entries", 512);
        zset_max = compat_ll("zset-max-listpack-entries", 128);
        hash_val = compat_ll("hash-max-listpack-value", 64);
        zset_val = compat_ll("zset-max-listpack-value", 64);
        limits_gen = bndr_config_generation();
    }
}

/* 1 when a collection is past the count limit of its compact encoding (cheap: no scan; the
 * limits are re-read only after a CONFIG SET). */
int bndr_obj_past_count_limit(const struct bndr_obj *o)
{
    limits();
    switch (o->type) {
    case BNDR_SET: return (long long)o->u.d->n > set_max;
    case BNDR_HASH: return (long long)o->u.d->n > hash_max;
    case BNDR_ZSET: return (long long)o->u.z->length > zset_max;
    default: return 0;
    }
}

/* Marks o converted (big) when a hash field/value or a zset member is longer than the listpack
 * value limit; a scan, so called only after a write that named such a long argument. */
static void scan_values(struct bndr_obj *o)
{
    limits();
    if (o->type == BNDR_HASH) {
        BNDR_DICT_FOREACH(o->u.d, e)
        {
            struct bndr_str *v = e->v.p;
            if ((long long)e->klen > hash_val || (long long)v->len > hash_val) {
                o->big = 1;
                return;
            }
        }
    } else if (o->type == BNDR_ZSET) {
        for (struct bndr_zsl_node *x = o->u.z->header->level[0].forward; x; x = x->level[0].forward)
            if ((long long)x->elen > zset_val) {
                o->big = 1;
                return;
            }
    }
}

void bndr_obj_note_write(struct bndr_obj *o, size_t maxarg)
{
    if (o->big || o->type == BNDR_STRING || o->type == BNDR_LIST || o->type == BNDR_STREAM)
        return;
    if (bndr_obj_past_count_limit(o)) {
        o->big = 1;
        return;
    }
    limits();
    if ((o->type == BNDR_HASH && (long long)maxarg > hash_val) ||
        (o->type == BNDR_ZSET && (long long)maxarg > zset_val))
        scan_values(o);
}

static const char *encoding(struct bndr_obj *o)
{
    switch (o->type) {
    case BNDR_STRING:
        if (o->big == 1) /* modified in place (APPEND, SETRANGE, SETBIT, HLL…) */
            return "raw";
        if (o->big == 0 && is_int(o->s, o->len)) /* 2: INCRBYFLOAT's result, never "int" */
            return "int";
        return o->len <= 44 ? "embstr" : "raw";
    case BNDR_LIST: return "quicklist"; /* Redis 7.0: every list */
    case BNDR_STREAM: return "stream";
    default: break;
    }
    /* count limits apply when a write grows the collection (bndr_call), as Redis converts on
     * insert: a later CONFIG SET does not convert existing values */
    if (!o->big) {
        if (o->type == BNDR_SET) {
            BNDR_DICT_FOREACH(o->u.d, e)
            {
                if (!is_int(e->key, e->klen)) {
                    o->big = 1;
                    break;
                }
            }
        } else {
            scan_values(o);
        }
    }
    switch (o->type) {
    case BNDR_SET: return o->big ? "hashtable" : "intset";
    case BNDR_HASH: return o->big ? "hashtable" : "listpack";
    default: return o->big ? "skiplist" : "listpack";
    }
}

static const char *const object_help[] = {
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
    NULL};

void bndr_cmd_object(struct bndr_client *c)
{
    struct bndr_arg *sub = &c->argv[1];
    if (bndr_argeq(sub, "help")) {
        if (sub_arity(c, "object", "help", 2) == 0)
            add_help(c, object_help);
        return;
    }
    const char *name = bndr_argeq(sub, "encoding") ? "encoding"
                       : bndr_argeq(sub, "freq")   ? "freq"
                       : bndr_argeq(sub, "idletime") ? "idletime"
                       : bndr_argeq(sub, "refcount") ? "refcount"
                                                     : NULL;
    if (!name) {
        unknown_sub(c, "OBJECT");
        return;
    }
    if (sub_arity(c, "object", name, 3) < 0)
        return;
    /* as Redis: no LRU touch, no hit/miss counting */
    struct bndr_obj *o = bndr_lookup_write(c, &c->argv[2]);
    if (!o) {
        bndr_add_null(c);
        return;
    }
    if (name[0] == 'e') {
        bndr_add_bulk_cstr(c, encoding(o));
    } else if (name[0] == 'f') {
        bndr_add_error(c, "ERR An LFU maxmemory policy is not selected, access frequency not "
                          "tracked. Please note that when switching between policies at runtime "
                          "LRU and LFU data will take some time to adjust.");
    } else if (name[0] == 'i') {
        bndr_add_ll(c, (long long)(uint32_t)(c->srv->lruclock - o->lru));
    } else { /* small integers are shared objects in Redis */
        long long v;
        int shared = o->type == BNDR_STRING && is_int(o->s, o->len) &&
                     bndr_parse_ll(o->s, o->len, &v) == 0 && v >= 0 && v < 10000;
        bndr_add_ll(c, shared ? 2147483647LL : 1);
    }
}

/* ---------------------------------------------------------------- SLOWLOG */
struct slow_entry {
    long long id;
    long long time;
    long long usec;
    int argc;
    struct bndr_str **argv;
    char addr[64];
    char *name;
};
static struct slow_entry *slowlog; /* ring: newest at (slow_head - 1) */
static size_t slow_n, slow_cap, slow_head;
static long long slow_next_id;

static void slow_free(struct slow_entry *e)
{
    for (int i = 0; i < e->argc; i++)
        bndr_str_free(e->argv[i]);
    bndr_free(e->argv);
    bndr_free(e->name);
    memset(e, 0, sizeof *e);
}

static void slow_reset(void)
{
    for (size_t i = 0; i < slow_n; i++)
        slow_free(&slowlog[(slow_head + slow_cap - 1 - i) % slow_cap]);
    slow_n = 0;
}

void bndr_slowlog_push(struct bndr_client *c, int argc, const struct bndr_arg *argv, uint64_t usec)
{
    static unsigned gen;
    static long long thr, max;
    if (gen != bndr_config_generation()) {
        thr = compat_ll("slowlog-log-slower-than", 10000);
        max = compat_ll("slowlog-max-len", 128);
        gen = bndr_config_generation();
    }
    if (thr < 0 || (long long)usec < thr || argc <= 0)
        return;
    if (max <= 0)
        return;
    if ((size_t)max != slow_cap) { /* resized by CONFIG SET: start over (rare) */
        slow_reset();
        bndr_free(slowlog);
        slow_cap = (size_t)(max > 100000 ? 100000 : max);
        slowlog = bndr_calloc(slow_cap * sizeof *slowlog);
        slow_head = 0;
    }
    struct slow_entry *e = &slowlog[slow_head];
    if (slow_n == slow_cap)
        slow_free(e);
    else
        slow_n++;
    slow_head = (slow_head + 1) % slow_cap;
    e->id = slow_next_id++;
    e->time = (long long)(bndr_mstime() / 1000);
    e->usec = (long long)usec;
    int n = argc > 32 ? 32 : argc;
    e->argc = n;
    e->argv = bndr_malloc((size_t)n * sizeof *e->argv);
    for (int i = 0; i < n; i++) {
        char more[96];
        if (i == 31 && argc > 32) {
            int l = snprintf(more, sizeof more, "... (%d more arguments)", argc - 31);
            e->argv[i] = bndr_str_new(more, (size_t)l);
        } else if (argv[i].n > 128) {
            int l = snprintf(more, sizeof more, "... (%zu more bytes)", argv[i].n - 128);
            e->argv[i] = bndr_str_cat(bndr_str_new(argv[i].p, 128), more, (size_t)l);
        } else {
            e->argv[i] = bndr_str_new(argv[i].p, argv[i].n);
        }
    }
    snprintf(e->addr, sizeof e->addr, "%s", c->addr);
    e->name = c->name ? bndr_memdup(c->name, strlen(c->name)) : NULL;
}

static const char *const slowlog_help[] = {
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
    NULL};

void bndr_cmd_slowlog(struct bndr_client *c)
{
    struct bndr_arg *sub = &c->argv[1];
    if (bndr_argeq(sub, "help") && c->argc == 2) {
        add_help(c, slowlog_help);
    } else if (bndr_argeq(sub, "reset") && c->argc == 2) {
        slow_reset();
        bndr_add_ok(c);
    } else if (bndr_argeq(sub, "len") && c->argc == 2) {
        bndr_add_ll(c, (long long)slow_n);
    } else if (bndr_argeq(sub, "get") && (c->argc == 2 || c->argc == 3)) {
        long long count = 10;
        if (c->argc == 3) {
            if (bndr_parse_ll(c->argv[2].p, c->argv[2].n, &count) < 0 || count < -1) {
                bndr_add_error(c, "ERR count should be greater than or equal to -1");
                return;
            }
            if (count == -1)
                count = (long long)slow_n;
        }
        size_t n = (size_t)count < slow_n ? (size_t)count : slow_n;
        bndr_add_array(c, (long)n);
        for (size_t i = 0; i < n; i++) {
            struct slow_entry *e = &slowlog[(slow_head + slow_cap - 1 - i) % slow_cap];
            bndr_add_array(c, 6);
            bndr_add_ll(c, e->id);
            bndr_add_ll(c, e->time);
            bndr_add_ll(c, e->usec);
            bndr_add_array(c, e->argc);
            for (int j = 0; j < e->argc; j++)
                bndr_add_bulk(c, e->argv[j]->buf, e->argv[j]->len);
            bndr_add_bulk_cstr(c, e->addr);
            bndr_add_bulk_cstr(c, e->name ? e->name : "");
        }
    } else {
        bndr_sub_error(c, "SLOWLOG", "get len reset help");
    }
}

/* ---------------------------------------------------------------- LATENCY */
/* bunder records no latency events (latency-monitor-threshold is accepted, without effect): the
 * replies are those of a Redis whose monitor never fired. */
static const char *const latency_help[] = {
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the "
    "specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
    NULL};

void bndr_cmd_latency(struct bndr_client *c)
{
    struct bndr_arg *sub = &c->argv[1];
    if (bndr_argeq(sub, "help") && c->argc == 2) {
        add_help(c, latency_help);
    } else if (bndr_argeq(sub, "latest") && c->argc == 2) {
        bndr_add_array(c, 0);
    } else if (bndr_argeq(sub, "history") && c->argc == 3) {
        bndr_add_array(c, 0);
    } else if (bndr_argeq(sub, "reset") && c->argc >= 2) {
        bndr_add_ll(c, 0);
    } else if (bndr_argeq(sub, "graph") && c->argc == 3) {
        bndr_add_errorf(c, "ERR No samples available for event '%.*s'",
                        (int)(c->argv[2].n > 128 ? 128 : c->argv[2].n), c->argv[2].p);
    } else if (bndr_argeq(sub, "histogram") && c->argc >= 2) {
        bndr_add_map(c, 0);
    } else if (bndr_argeq(sub, "doctor") && c->argc == 2) {
        const char *t = "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this "
                        "Redis instance. You may use \"CONFIG SET latency-monitor-threshold "
                        "<milliseconds>.\" in order to enable it. If we weren't in a deep space "
                        "mission I'd suggest to take a look at "
                        "https://redis.io/topics/latency-monitor.\n";
        bndr_add_verbatim(c, t, strlen(t));
    } else {
        bndr_sub_error(c, "LATENCY", "doctor graph history latest reset histogram help");
    }
}

/* ---------------------------------------------------------------- DEBUG (subset) */
/* As Redis 7.0, DEBUG is refused unless enable-debug-command is yes (or local, for a loopback
 * client) — set on the command line or in the config file. Tenants never get it (bunder_tenant.h).
 * Subcommands: SLEEP <seconds>, OBJECT <key>, RELOAD (SAVE then load the snapshot back),
 * SET-ACTIVE-EXPIRE 0|1, JMAP (refused, as the issue says). */
static int active_expire_off;

int bndr_active_expire_enabled(void)
{
    return !active_expire_off;
}

void bndr_cmd_debug(struct bndr_client *c)
{
    const char *en = bndr_config_compat("enable-debug-command");
    int local = !strncmp(c->addr, "127.", 4) || !strncmp(c->addr, "::1", 3) || (c->flags & BNDR_CF_FAKE);
    if (!en || !(strcmp(en, "yes") == 0 || (strcmp(en, "local") == 0 && local))) {
        bndr_add_error(c, "ERR DEBUG command not allowed. If the enable-debug-command option is set "
                          "to \"local\", you can run it from a local connection, otherwise you need "
                          "to set this option in the configuration file, and then restart the "
                          "server.");
        return;
    }
    struct bndr_arg *sub = &c->argv[1];
    if (bndr_argeq(sub, "sleep") && c->argc == 3) {
        double sec;
        if (bndr_parse_double(c->argv[2].p, c->argv[2].n, &sec) < 0 || sec < 0 || sec > 3600) {
            bndr_add_error(c, BNDR_ERR_NOTFLOAT);
            return;
        }
        usleep((useconds_t)(sec * 1e6));
        bndr_add_ok(c);
    } else if (bndr_argeq(sub, "set-active-expire") && c->argc == 3) {
        active_expire_off = !(c->argv[2].n == 1 && c->argv[2].p[0] == '1');
        bndr_add_ok(c);
    } else if (bndr_argeq(sub, "object") && c->argc == 3) {
        struct bndr_obj *o = bndr_lookup_write(c, &c->argv[2]);
        if (!o) {
            bndr_add_error(c, "ERR no such key");
            return;
        }
        char buf[256];
        snprintf(buf, sizeof buf,
                 "Value at:%p refcount:1 encoding:%s serializedlength:%u lru:%u lru_seconds_idle:%u",
                 (void *)o, encoding(o), o->type == BNDR_STRING ? o->len : 0, o->lru,
                 (uint32_t)(c->srv->lruclock - o->lru));
        bndr_add_status(c, buf);
    } else if (bndr_argeq(sub, "reload") && c->argc >= 2) {
        struct bndr_server *s = c->srv;
        char path[2048];
        bndr_path(s, s->cfg.dbfilename, path, sizeof path);
        if (bndr_snapshot_save(s, path) < 0) {
            bndr_add_error(c, "ERR Error trying to save the DB, can't reload.");
            return;
        }
        int prev = bndr_db_switch(s, 0);
        for (int i = 0; i < s->ndb; i++)
            bndr_db_flush(bndr_db_get(s, i));
        if (bndr_snapshot_load(s, path) < 0) {
            bndr_db_switch(s, prev);
            bndr_add_error(c, "ERR Error trying to load the RDB dump, check server logs.");
            return;
        }
        bndr_db_switch(s, prev);
        bndr_add_ok(c);
    } else if (bndr_argeq(sub, "jmap")) {
        bndr_add_error(c, "ERR DEBUG JMAP is not supported");
    } else if (bndr_argeq(sub, "help")) {
        static const char *const h[] = {
            "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "OBJECT <key>", "    Show low level info about the `key` and associated value.",
            "RELOAD", "    Save the dataset to disk and reload it back (bunder's snapshot).",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not accessed.",
            "SLEEP <seconds>", "    Stop the server for <seconds>. Decimals allowed.",
            "HELP", "    Prints this help.", NULL};
        add_help(c, h);
    } else {
        bndr_sub_error(c, "DEBUG", "sleep object reload set-active-expire jmap help");
    }
}

/* ---------------------------------------------------------------- LOLWUT */
void bndr_cmd_lolwut(struct bndr_client *c)
{
    for (int i = 1; i < c->argc; i++) {
        long long v;
        if (bndr_argeq(&c->argv[i], "version") && i + 1 < c->argc) {
            if (bndr_parse_ll(c->argv[i + 1].p, c->argv[i + 1].n, &v) < 0) {
                bndr_add_error(c, BNDR_ERR_NOTINT);
                return;
            }
            i++;
        } else if (bndr_parse_ll(c->argv[i].p, c->argv[i].n, &v) < 0) {
            bndr_add_error(c, BNDR_ERR_NOTINT);
            return;
        }
    }
    const char *t = "bunder: a Redis-compatible key/value server.\n"
                    "Georg Nees - schotter, plotter on paper, 1968. Redis ver. 7.0.15\n";
    bndr_add_verbatim(c, t, strlen(t));
}

/* ---------------------------------------------------------------- without cluster/replication */
static void cluster_off(struct bndr_client *c)
{
    bndr_add_error(c, "ERR This instance has cluster support disabled");
}
void bndr_cmd_cluster(struct bndr_client *c) { cluster_off(c); }
void bndr_cmd_asking(struct bndr_client *c) { cluster_off(c); }
void bndr_cmd_readonly(struct bndr_client *c) { cluster_off(c); }
void bndr_cmd_readwrite(struct bndr_client *c) { cluster_off(c); }

/* WAIT: no replicas, so 0 (at once: nothing to wait for here). */
void bndr_cmd_wait(struct bndr_client *c)
{
    long long n, t;
    if (bndr_get_ll_or_reply(c, &c->argv[1], &n, NULL) < 0 ||
        bndr_get_ll_or_reply(c, &c->argv[2], &t, "ERR timeout is not an integer or out of range") < 0)
        return;
    if (t < 0) {
        bndr_add_error(c, "ERR timeout is negative");
        return;
    }
    bndr_add_ll(c, 0);
}

void bndr_cmd_failover(struct bndr_client *c)
{
    bndr_add_error(c, "ERR FAILOVER requires connected replicas.");
}

static void no_replication(struct bndr_client *c)
{
    bndr_add_error(c, "ERR bunder does not replicate (no REPLICAOF/SYNC/PSYNC/REPLCONF)");
}

/* REPLICAOF NO ONE is what a master answers OK to; anything else would start replication. */
static void replicaof(struct bndr_client *c)
{
    if (bndr_argeq(&c->argv[1], "no") && bndr_argeq(&c->argv[2], "one")) {
        bndr_add_ok(c);
        return;
    }
    no_replication(c);
}
void bndr_cmd_replicaof(struct bndr_client *c) { replicaof(c); }
void bndr_cmd_slaveof(struct bndr_client *c) { replicaof(c); }
void bndr_cmd_sync(struct bndr_client *c) { no_replication(c); }
void bndr_cmd_psync(struct bndr_client *c) { no_replication(c); }
void bndr_cmd_replconf(struct bndr_client *c) { no_replication(c); }

/* MODULE: LIST (none) and HELP; LOAD/LOADEX/UNLOAD refused as by a Redis 7.0 whose
 * enable-module-command is no (its default). */
static const char *const module_help[] = {
    "MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LIST",
    "    Return a list of loaded modules.",
    "LOAD <path> [<arg> ...]",
    "    Load a module library from <path>, passing to it any optional arguments.",
    "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
    "    Load a module library from <path>, while passing it module configurations and optional "
    "arguments.",
    "UNLOAD <name>",
    "    Unload a module.",
    "HELP",
    "    Prints this help.",
    NULL};

void bndr_cmd_module(struct bndr_client *c)
{
    struct bndr_arg *sub = &c->argv[1];
    if (bndr_argeq(sub, "list") && c->argc == 2) {
        bndr_add_array(c, 0);
        return;
    }
    if (bndr_argeq(sub, "help") && c->argc == 2) {
        add_help(c, module_help);
        return;
    }
    if (!bndr_argeq(sub, "load") && !bndr_argeq(sub, "loadex") && !bndr_argeq(sub, "unload")) {
        bndr_sub_error(c, "MODULE", "list help");
        return;
    }
    bndr_add_error(c, "ERR MODULE command not allowed. If the enable-module-command option is set "
                      "to \"local\", you can run it from a local connection, otherwise you need to "
                      "set this option in the configuration file, and then restart the server.");
}

/* ---------------------------------------------------------------- ROLE, MONITOR */
void bndr_cmd_role(struct bndr_client *c)
{
    bndr_add_array(c, 3);
    bndr_add_bulk_cstr(c, "master");
    bndr_add_ll(c, 0);
    bndr_add_array(c, 0);
}

void bndr_cmd_monitor(struct bndr_client *c)
{
    struct bndr_server *s = c->srv;
    if (c->flags & (BNDR_CF_MULTI | BNDR_CF_FAKE)) {
        bndr_add_error(c, "ERR MONITOR isn't allowed for DENY BLOCKING client");
        return;
    }
    if (c->flags & BNDR_CF_MONITOR)
        return;
    if (s->nmonitors == s->monitorcap) {
        s->monitorcap = s->monitorcap ? s->monitorcap * 2 : 4;
        s->monitors = bndr_realloc(s->monitors, (size_t)s->monitorcap * sizeof(*s->monitors));
    }
    s->monitors[s->nmonitors++] = c;
    c->flags |= BNDR_CF_MONITOR;
    bndr_add_ok(c);
}

void bndr_monitor_remove(struct bndr_client *c)
{
    struct bndr_server *s = c->srv;
    if (!(c->flags & BNDR_CF_MONITOR))
        return;
    for (int i = 0; i < s->nmonitors; i++)
        if (s->monitors[i] == c) {
            s->monitors[i] = s->monitors[--s->nmonitors];
            break;
        }
    c->flags &= ~BNDR_CF_MONITOR;
}

/* Redis' sdscatrepr: "…" with \\ \" \n \r \t \a \b escaped, other non-printables as \xHH. */
static void cat_repr(struct bndr_buf *b, const char *p, size_t n)
{
    bndr_buf_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        char e[8];
        switch (ch) {
        case '\\': bndr_buf_add(b, "\\\\", 2); break;
        case '"': bndr_buf_add(b, "\\\"", 2); break;
        case '\n': bndr_buf_add(b, "\\n", 2); break;
        case '\r': bndr_buf_add(b, "\\r", 2); break;
        case '\t': bndr_buf_add(b, "\\t", 2); break;
        case '\a': bndr_buf_add(b, "\\a", 2); break;
        case '\b': bndr_buf_add(b, "\\b", 2); break;
        default:
            if (ch >= 32 && ch < 127) {
                bndr_buf_add(b, &p[i], 1);
            } else {
                snprintf(e, sizeof e, "\\x%02x", ch);
                bndr_buf_add(b, e, 4);
            }
        }
    }
    bndr_buf_add(b, "\"", 1);
}

void bndr_monitor_feed(struct bndr_server *s, struct bndr_client *c, int db, int argc,
                       const struct bndr_arg *argv)
{
    uint64_t us = bndr_ustime();
    struct bndr_buf b = {0};
    char hdr[160];
    int n = snprintf(hdr, sizeof hdr, "+%llu.%06llu [%d %s] ", (unsigned long long)(us / 1000000),
                     (unsigned long long)(us % 1000000), db,
                     (c->flags & BNDR_CF_FAKE) ? "lua" : c->addr);
    bndr_buf_add(&b, hdr, (size_t)n);
    for (int i = 0; i < argc; i++) {
        if (i)
            bndr_buf_add(&b, " ", 1);
        cat_repr(&b, argv[i].p, argv[i].n);
    }
    bndr_buf_add(&b, "\r\n", 2);
    for (int i = 0; i < s->nmonitors; i++) {
        struct bndr_client *m = s->monitors[i];
        if (m == c)
            continue;
        bndr_add_raw(m, b.p, b.len);
        bndr_client_mark_write(m);
    }
    bndr_free(b.p);
}
