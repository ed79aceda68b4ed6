/* config.c — bunder's options, declared once in a table and used by the command line, the config
 * file (redis.conf syntax: "name value" per line, '#' comments, "quoted" values) and
 * CONFIG GET/SET. Memory values take Redis units (k=1000, kb=1024, m, mb, g, gb). Every bound
 * (bulk length, argument count, inline size, query buffer, clients) is a knob here. */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bb_err.h"
#include "bndr.h"

/* T_FNAME: a file name inside dir — a plain name, never a path (no '/', not "." or ".."), as
 * Redis 7 requires of dbfilename/appendfilename: CONFIG SET dbfilename ../x + SAVE must not write
 * outside the data directory. */
enum opt_type { T_BOOL, T_INT, T_LL, T_MEM, T_ENUM, T_STR, T_FNAME };

static const char *fsync_names[] = {"no", "everysec", "always", NULL};
static const char *metrics_access_names[] = {"auto", "public", "internal", NULL};
static const char *policy_names[] = {"noeviction",     "allkeys-lru",     "volatile-lru",
                                     "allkeys-random", "volatile-random", "volatile-ttl", NULL};

struct opt {
    const char *name;
    enum opt_type type;
    size_t off;
    size_t size; /* for strings */
    long long min, max;
    const char **enums;
    int mutable_; /* CONFIG SET allowed */
};

#define O(f) offsetof(struct bunder_config, f)
#define S(f) sizeof(((struct bunder_config *)0)->f)
static const struct opt opts[] = {
    {"port", T_INT, O(port), 0, 0, 65535, NULL, 0},
    {"bind", T_STR, O(bind), S(bind), 0, 0, NULL, 0},
    {"dir", T_STR, O(dir), S(dir), 0, 0, NULL, 0},
    {"appendonly", T_BOOL, O(appendonly), 0, 0, 1, NULL, 1},
    {"appendfsync", T_ENUM, O(appendfsync), 0, 0, 0, fsync_names, 1},
    {"appendfilename", T_FNAME, O(appendfilename), S(appendfilename), 0, 0, NULL, 0},
    {"dbfilename", T_FNAME, O(dbfilename), S(dbfilename), 0, 0, NULL, 1},
    {"requirepass", T_STR, O(requirepass), S(requirepass), 0, 0, NULL, 1},
    {"maxmemory", T_MEM, O(maxmemory), 0, 0, 1LL << 50, NULL, 1},
    {"maxmemory-policy", T_ENUM, O(maxmemory_policy), 0, 0, 0, policy_names, 1},
    {"maxmemory-samples", T_INT, O(maxmemory_samples), 0, 1, 64, NULL, 1},
    {"http-port", T_INT, O(http_port), 0, -1, 65535, NULL, 0},
    {"http-bind", T_STR, O(http_bind), S(http_bind), 0, 0, NULL, 0},
    {"metrics-access", T_ENUM, O(metrics_access), 0, 0, 0, metrics_access_names, 0},
    {"hz", T_INT, O(hz), 0, 1, 500, NULL, 0},
    {"proto-max-bulk-len", T_MEM, O(proto_max_bulk_len), 0, 1024, 1LL << 32, NULL, 1},
    {"proto-max-multibulk-len", T_LL, O(proto_max_multibulk_len), 0, 1, 1LL << 31, NULL, 1},
    {"proto-inline-max-size", T_MEM, O(proto_inline_max_size), 0, 16, 1LL << 30, NULL, 1},
    {"client-query-buffer-limit", T_MEM, O(client_query_buffer_limit), 0, 1024 * 1024, 1LL << 34, NULL, 1},
    {"client-output-buffer-limit-pubsub", T_MEM, O(client_output_buffer_limit_pubsub), 0, 0, 1LL << 40, NULL, 1},
    {"maxclients", T_LL, O(maxclients), 0, 1, 1000000, NULL, 1},
    {"timeout", T_LL, O(timeout), 0, 0, 1LL << 31, NULL, 1},
    {"auto-aof-rewrite-percentage", T_INT, O(auto_aof_rewrite_percentage), 0, 0, 100000, NULL, 1},
    {"auto-aof-rewrite-min-size", T_MEM, O(auto_aof_rewrite_min_size), 0, 0, 1LL << 50, NULL, 1},
    {"project-id", T_STR, O(project_id), S(project_id), 0, 0, NULL, 0},
    {"buncast", T_STR, O(buncast), S(buncast), 0, 0, NULL, 0},
    {"buncast-queue-max", T_LL, O(buncast_queue_max), 0, 1, 1LL << 24, NULL, 0},
    {"buncast-token-file", T_STR, O(buncast_token_file), S(buncast_token_file), 0, 0, NULL, 0},
    {"logfile", T_STR, O(logfile), S(logfile), 0, 0, NULL, 0},
    {"busy-reply-threshold", T_LL, O(busy_reply_threshold), 0, 0, 1LL << 40, NULL, 1},
    {"lua-time-limit", T_LL, O(busy_reply_threshold), 0, 0, 1LL << 40, NULL, 1},
    {"hll-sparse-max-bytes", T_MEM, O(hll_sparse_max_bytes), 0, 0, 1LL << 40, NULL, 1},
    {"stream-node-max-bytes", T_MEM, O(stream_node_max_bytes), 0, 0, 0x7fffffffffffffffLL, NULL, 1},
    {"stream-node-max-entries", T_LL, O(stream_node_max_entries), 0, 0, 0x7fffffffffffffffLL, NULL, 1},
    {"lua-memory-limit", T_MEM, O(lua_memory_limit), 0, 0, 1LL << 42, NULL, 1},
    {"handoff-fd", T_INT, O(handoff_fd), 0, -1, 65535, NULL, 0},
    /* bounded (Redis takes up to INT_MAX): each database costs a struct and a cron visit */
    {"databases", T_INT, O(databases), 0, 1, 10000, NULL, 0},
};
#undef O
#undef S
static const size_t nopts = sizeof opts / sizeof opts[0];

/* Every other parameter redis-server 7.0 reports in CONFIG GET *, with its default: accepted by
 * CONFIG SET, the command line and config files (so a redis.conf and a client's start-up CONFIG
 * SET work) and reported back. They have no effect here except the *-max-listpack-* and
 * set-max-intset-entries values, which OBJECT ENCODING reads (bndr_config_compat). Old names
 * (…-ziplist-…, slave…) are aliases of the new ones, as in Redis. Values are kept as strings
 * (at most COMPAT_MAX bytes); a yes/no parameter takes only yes or no, a numeric one only a
 * number (Redis' own checks for these types). */
static int parse_mem(const char *v, long long *out);

struct compat {
    const char *name;
    const char *def;
};
static const struct compat compat[] = {
    {"acl-pubsub-default", "resetchannels"},
    {"aclfile", ""},
    {"acllog-max-len", "128"},
    {"active-defrag-cycle-max", "25"},
    {"active-defrag-cycle-min", "1"},
    {"active-defrag-ignore-bytes", "104857600"},
    {"active-defrag-max-scan-fields", "1000"},
    {"active-defrag-threshold-lower", "10"},
    {"active-defrag-threshold-upper", "100"},
    {"active-expire-effort", "1"},
    {"activedefrag", "no"},
    {"activerehashing", "yes"},
    {"always-show-logo", "no"},
    {"aof-disable-auto-gc", "no"},
    {"aof-load-truncated", "yes"},
    {"aof-rewrite-incremental-fsync", "yes"},
    {"aof-timestamp-enabled", "no"},
    {"aof-use-rdb-preamble", "yes"},
    {"aof_rewrite_cpulist", ""},
    {"appenddirname", "appendonlydir"},
    {"bgsave_cpulist", ""},
    {"bind-source-addr", ""},
    {"bio_cpulist", ""},
    {"client-output-buffer-limit", "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"},
    {"cluster-allow-pubsubshard-when-down", "yes"},
    {"cluster-allow-reads-when-down", "no"},
    {"cluster-allow-replica-migration", "yes"},
    {"cluster-announce-bus-port", "0"},
    {"cluster-announce-hostname", ""},
    {"cluster-announce-ip", ""},
    {"cluster-announce-port", "0"},
    {"cluster-announce-tls-port", "0"},
    {"cluster-config-file", "nodes.conf"},
    {"cluster-enabled", "no"},
    {"cluster-link-sendbuf-limit", "0"},
    {"cluster-migration-barrier", "1"},
    {"cluster-node-timeout", "15000"},
    {"cluster-port", "0"},
    {"cluster-preferred-endpoint-type", "ip"},
    {"cluster-replica-no-failover", "no"},
    {"cluster-replica-validity-factor", "10"},
    {"cluster-require-full-coverage", "yes"},
    {"cluster-slave-no-failover", "no"},
    {"cluster-slave-validity-factor", "10"},
    {"crash-log-enabled", "yes"},
    {"crash-memcheck-enabled", "yes"},
    {"daemonize", "no"},
    {"disable-thp", "yes"},
    {"dynamic-hz", "yes"},
    {"enable-debug-command", "no"},
    {"enable-module-command", "no"},
    {"enable-protected-configs", "no"},
    {"hash-max-listpack-entries", "512"},
    {"hash-max-listpack-value", "64"},
    {"hash-max-ziplist-entries", "512"},
    {"hash-max-ziplist-value", "64"},
    {"ignore-warnings", ""},
    {"io-threads", "1"},
    {"io-threads-do-reads", "no"},
    {"jemalloc-bg-thread", "yes"},
    {"latency-monitor-threshold", "0"},
    {"latency-tracking", "yes"},
    {"latency-tracking-info-percentiles", "50 99 99.9"},
    {"lazyfree-lazy-eviction", "no"},
    {"lazyfree-lazy-expire", "no"},
    {"lazyfree-lazy-server-del", "no"},
    {"lazyfree-lazy-user-del", "no"},
    {"lazyfree-lazy-user-flush", "no"},
    {"lfu-decay-time", "1"},
    {"lfu-log-factor", "10"},
    {"list-compress-depth", "0"},
    {"list-max-listpack-size", "-2"},
    {"list-max-ziplist-size", "-2"},
    {"loglevel", "notice"},
    {"masterauth", ""},
    {"masteruser", ""},
    {"maxmemory-clients", "0"},
    {"maxmemory-eviction-tenacity", "10"},
    {"min-replicas-max-lag", "10"},
    {"min-replicas-to-write", "0"},
    {"min-slaves-max-lag", "10"},
    {"min-slaves-to-write", "0"},
    {"no-appendfsync-on-rewrite", "no"},
    {"notify-keyspace-events", ""},
    {"oom-score-adj", "no"},
    {"oom-score-adj-values", "0 200 800"},
    {"pidfile", ""},
    {"proc-title-template", "{title} {listen-addr} {server-mode}"},
    {"propagation-error-behavior", "ignore"},
    {"protected-mode", "yes"},
    {"rdb-del-sync-files", "no"},
    {"rdb-save-incremental-fsync", "yes"},
    {"rdbchecksum", "yes"},
    {"rdbcompression", "yes"},
    {"repl-backlog-size", "1048576"},
    {"repl-backlog-ttl", "3600"},
    {"repl-disable-tcp-nodelay", "no"},
    {"repl-diskless-load", "disabled"},
    {"repl-diskless-sync", "yes"},
    {"repl-diskless-sync-delay", "5"},
    {"repl-diskless-sync-max-replicas", "0"},
    {"repl-ping-replica-period", "10"},
    {"repl-ping-slave-period", "10"},
    {"repl-timeout", "60"},
    {"replica-announce-ip", ""},
    {"replica-announce-port", "0"},
    {"replica-announced", "yes"},
    {"replica-ignore-disk-write-errors", "no"},
    {"replica-ignore-maxmemory", "yes"},
    {"replica-lazy-flush", "no"},
    {"replica-priority", "100"},
    {"replica-read-only", "yes"},
    {"replica-serve-stale-data", "yes"},
    {"replicaof", ""},
    {"sanitize-dump-payload", "no"},
    {"save", ""},
    {"server_cpulist", ""},
    {"set-max-intset-entries", "512"},
    {"set-proc-title", "yes"},
    {"shutdown-on-sigint", "default"},
    {"shutdown-on-sigterm", "default"},
    {"shutdown-timeout", "10"},
    {"slave-announce-ip", ""},
    {"slave-announce-port", "0"},
    {"slave-ignore-maxmemory", "yes"},
    {"slave-lazy-flush", "no"},
    {"slave-priority", "100"},
    {"slave-read-only", "yes"},
    {"slave-serve-stale-data", "yes"},
    {"slaveof", ""},
    {"slowlog-log-slower-than", "10000"},
    {"slowlog-max-len", "128"},
    {"socket-mark-id", "0"},
    {"stop-writes-on-bgsave-error", "yes"},
    {"supervised", "no"},
    {"syslog-enabled", "no"},
    {"syslog-facility", "local0"},
    {"syslog-ident", "redis"},
    {"tcp-backlog", "511"},
    {"tcp-keepalive", "300"},
    {"tls-auth-clients", "yes"},
    {"tls-ca-cert-dir", ""},
    {"tls-ca-cert-file", ""},
    {"tls-cert-file", ""},
    {"tls-ciphers", ""},
    {"tls-ciphersuites", ""},
    {"tls-client-cert-file", ""},
    {"tls-client-key-file", ""},
    {"tls-client-key-file-pass", ""},
    {"tls-cluster", "no"},
    {"tls-dh-params-file", ""},
    {"tls-key-file", ""},
    {"tls-key-file-pass", ""},
    {"tls-port", "0"},
    {"tls-prefer-server-ciphers", "no"},
    {"tls-protocols", ""},
    {"tls-replication", "no"},
    {"tls-session-cache-size", "20480"},
    {"tls-session-cache-timeout", "300"},
    {"tls-session-caching", "yes"},
    {"tracking-table-max-keys", "1000000"},
    {"unixsocket", ""},
    {"unixsocketperm", "0"},
    {"zset-max-listpack-entries", "128"},
    {"zset-max-listpack-value", "64"},
    {"zset-max-ziplist-entries", "128"},
    {"zset-max-ziplist-value", "64"},
};
#define NCOMPAT (sizeof compat / sizeof compat[0])
#define COMPAT_MAX 1024
static char *compat_val[NCOMPAT]; /* NULL: the default */

static const char *compat_alias(const char *name, char *buf, size_t cap)
{
    static const char *pairs[][2] = {{"-ziplist-", "-listpack-"}, {"slave-", "replica-"},
                                     {"min-slaves-", "min-replicas-"}};
    if (!strcasecmp(name, "slaveof"))
        return "replicaof";
    char low[128];
    size_t n = 0;
    for (; name[n] && n < sizeof low - 1; n++)
        low[n] = (char)tolower((unsigned char)name[n]);
    low[n] = 0;
    for (size_t i = 0; i < 3; i++) {
        const char *at = strstr(low, pairs[i][0]);
        if (at) {
            snprintf(buf, cap, "%.*s%s%s", (int)(at - low), low, pairs[i][1],
                     at + strlen(pairs[i][0]));
            return buf;
        }
    }
    return name;
}

static int compat_find(const char *name)
{
    char buf[128];
    while (name[0] == '-')
        name++;
    const char *canon = compat_alias(name, buf, sizeof buf);
    for (size_t i = 0; i < NCOMPAT; i++)
        if (!strcasecmp(compat[i].name, canon))
            return (int)i;
    return -1;
}

static const char *compat_get(int i)
{
    if (compat_val[i])
        return compat_val[i];
    char buf[128];
    const char *canon = compat_alias(compat[i].name, buf, sizeof buf);
    if (canon != compat[i].name) { /* an alias shows its new name's value */
        int j = compat_find(canon);
        if (j >= 0 && j != i)
            return compat_get(j);
    }
    return compat[i].def;
}

const char *bndr_config_compat(const char *name)
{
    int i = compat_find(name);
    return i < 0 ? NULL : compat_get(i);
}

static unsigned compat_gen = 1;

unsigned bndr_config_generation(void)
{
    return compat_gen;
}

static int compat_set(int i, const char *val, char *err, size_t errcap)
{
    const char *def = compat[i].def;
    size_t n = strlen(val);
    if (n > COMPAT_MAX) {
        snprintf(err, errcap, "argument too long");
        return BB_EINVAL;
    }
    if ((!strcmp(def, "yes") || !strcmp(def, "no")) && strcasecmp(val, "yes") &&
        strcasecmp(val, "no")) {
        snprintf(err, errcap, "argument must be 'yes' or 'no'");
        return BB_EINVAL;
    }
    int numeric = def[0] != 0;
    for (const char *q = def; *q; q++)
        numeric &= (*q >= '0' && *q <= '9') || (q == def && *q == '-');
    if (numeric) {
        long long v;
        if (parse_mem(val, &v) < 0 && bndr_parse_ll(val, n, &v) < 0) {
            snprintf(err, errcap, "argument couldn't be parsed into an integer");
            return BB_EINVAL;
        }
    }
    char buf[128];
    const char *canon = compat_alias(compat[i].name, buf, sizeof buf);
    int j = canon != compat[i].name ? compat_find(canon) : i;
    if (j < 0)
        j = i;
    free(compat_val[j]); /* plain malloc: the config outlives bndr_malloc's accounting */
    compat_val[j] = strdup(val);
    compat_gen++;
    return compat_val[j] ? 0 : BB_ENOMEM;
}

const char *bndr_metrics_access_name(int v)
{
    return v >= 0 && v < 3 ? metrics_access_names[v] : "auto";
}

void bunder_config_default(struct bunder_config *c)
{
    memset(c, 0, sizeof *c);
    c->port = 6379;
    snprintf(c->bind, sizeof c->bind, "127.0.0.1");
    snprintf(c->dir, sizeof c->dir, ".");
    c->appendfsync = BNDR_FSYNC_EVERYSEC;
    snprintf(c->appendfilename, sizeof c->appendfilename, "appendonly.aof");
    snprintf(c->dbfilename, sizeof c->dbfilename, "dump.bdb");
    c->maxmemory_policy = BNDR_EVICT_NOEVICTION;
    c->maxmemory_samples = 5;
    snprintf(c->http_bind, sizeof c->http_bind, "127.0.0.1");
    c->hz = 10;
    c->busy_reply_threshold = 5000;
    c->hll_sparse_max_bytes = 3000;
    c->stream_node_max_bytes = 4096;
    c->stream_node_max_entries = 100;
    c->lua_memory_limit = 256LL << 20;
    c->buncast_queue_max = 65536;
    c->proto_max_bulk_len = 512LL * 1024 * 1024;
    c->proto_max_multibulk_len = 1024 * 1024;
    c->proto_inline_max_size = 64 * 1024;
    c->client_query_buffer_limit = 1024LL * 1024 * 1024;
    c->client_output_buffer_limit_pubsub = 32LL * 1024 * 1024;
    c->maxclients = 10000;
    c->auto_aof_rewrite_percentage = 100;
    c->auto_aof_rewrite_min_size = 64LL * 1024 * 1024;
    c->handoff_fd = -1;
    c->databases = 16;
}

static int parse_mem(const char *v, long long *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (end == v || errno || n < 0)
        return -1;
    long long mul = 1;
    if (!strcasecmp(end, "")) mul = 1;
    else if (!strcasecmp(end, "b")) mul = 1;
    else if (!strcasecmp(end, "k")) mul = 1000;
    else if (!strcasecmp(end, "kb")) mul = 1024;
    else if (!strcasecmp(end, "m")) mul = 1000 * 1000;
    else if (!strcasecmp(end, "mb")) mul = 1024 * 1024;
    else if (!strcasecmp(end, "g")) mul = 1000LL * 1000 * 1000;
    else if (!strcasecmp(end, "gb")) mul = 1024LL * 1024 * 1024;
    else return -1;
    if (n > (1LL << 62) / mul)
        return -1;
    *out = n * mul;
    return 0;
}

static const struct opt *find_opt(const char *name)
{
    while (name[0] == '-')
        name++;
    for (size_t i = 0; i < nopts; i++)
        if (!strcasecmp(opts[i].name, name))
            return &opts[i];
    return NULL;
}

static int apply(struct bunder_config *cfg, const struct opt *o, const char *value, char *err,
                 size_t errcap)
{
    char *base = (char *)cfg;
    long long v;
    char *end;
    switch (o->type) {
    case T_BOOL:
        if (!strcasecmp(value, "yes"))
            *(int *)(base + o->off) = 1;
        else if (!strcasecmp(value, "no"))
            *(int *)(base + o->off) = 0;
        else {
            snprintf(err, errcap, "argument must be 'yes' or 'no'");
            return BB_EINVAL;
        }
        return 0;
    case T_INT:
    case T_LL:
        errno = 0;
        v = strtoll(value, &end, 10);
        if (end == value || *end || errno) {
            snprintf(err, errcap, "argument couldn't be parsed into an integer");
            return BB_EINVAL;
        }
        goto range;
    case T_MEM:
        if (parse_mem(value, &v) < 0) {
            snprintf(err, errcap, "argument must be a memory value");
            return BB_EINVAL;
        }
    range:
        if (v < o->min || v > o->max) {
            snprintf(err, errcap, "argument must be between %lld and %lld inclusive", o->min,
                     o->max);
            return BB_EINVAL;
        }
        if (o->type == T_INT)
            *(int *)(base + o->off) = (int)v;
        else
            *(long long *)(base + o->off) = v;
        return 0;
    case T_ENUM:
        for (int i = 0; o->enums[i]; i++)
            if (!strcasecmp(o->enums[i], value)) {
                *(int *)(base + o->off) = i;
                return 0;
            }
        snprintf(err, errcap, "argument(s) must be one of the following: ");
        for (int i = 0; o->enums[i]; i++) {
            size_t l = strlen(err);
            snprintf(err + l, errcap - l, "%s%s", i ? ", " : "", o->enums[i]);
        }
        return BB_EINVAL;
    case T_FNAME:
        if (!value[0] || strchr(value, '/') || !strcmp(value, ".") || !strcmp(value, "..")) {
            snprintf(err, errcap, "%s can't be a path, just a filename", o->name);
            return BB_EINVAL;
        }
        /* fall through */
    case T_STR:
        if (strlen(value) >= o->size) {
            snprintf(err, errcap, "argument too long");
            return BB_EINVAL;
        }
        snprintf(base + o->off, o->size, "%s", value);
        return 0;
    }
    return BB_EINVAL;
}

int bunder_config_apply(struct bunder_config *cfg, const char *name, const char *value, char *err,
                        size_t errcap)
{
    const struct opt *o = find_opt(name);
    if (!o) {
        const char *n = name;
        while (*n == '-')
            n++;
        int ci = compat_find(n); /* accepted for redis.conf compatibility (no effect) */
        if (ci >= 0) {
            char e[200] = "";
            int rc = compat_set(ci, value, e, sizeof e);
            if (rc < 0)
                snprintf(err, errcap, "invalid value for '%s': %s", compat[ci].name, e);
            return rc;
        }
        snprintf(err, errcap, "unknown option '%s'", name);
        return BB_EINVAL;
    }
    char e[200] = "";
    int rc = apply(cfg, o, value, e, sizeof e);
    if (rc < 0)
        snprintf(err, errcap, "invalid value for '%s': %s", o->name, e);
    return rc;
}

int bunder_config_file(struct bunder_config *cfg, const char *path, char *err, size_t errcap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errcap, "cannot open config file '%s'", path);
        return BB_EIO;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '#' || *p == 0)
            continue;
        char *name = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (*p)
            *p++ = 0;
        while (isspace((unsigned char)*p))
            p++;
        char *val = p;
        size_t n = strlen(val);
        while (n && isspace((unsigned char)val[n - 1]))
            val[--n] = 0;
        if (n >= 2 && (val[0] == '"' || val[0] == '\'') && val[n - 1] == val[0]) {
            val[n - 1] = 0;
            val++;
        }
        char e[256];
        if (bunder_config_apply(cfg, name, val, e, sizeof e) < 0) {
            snprintf(err, errcap, "%s:%d: %s", path, lineno, e);
            rc = BB_EINVAL;
            break;
        }
    }
    fclose(f);
    return rc;
}

static int format_opt(const struct bunder_config *cfg, const struct opt *o, char *buf, size_t cap)
{
    const char *base = (const char *)cfg;
    switch (o->type) {
    case T_BOOL: return snprintf(buf, cap, "%s", *(const int *)(base + o->off) ? "yes" : "no");
    case T_INT: return snprintf(buf, cap, "%d", *(const int *)(base + o->off));
    case T_LL:
    case T_MEM: return snprintf(buf, cap, "%lld", *(const long long *)(base + o->off));
    case T_ENUM: return snprintf(buf, cap, "%s", o->enums[*(const int *)(base + o->off)]);
    case T_STR:
    case T_FNAME: return snprintf(buf, cap, "%s", base + o->off);
    }
    return 0;
}

static void add_bulk_buf(struct bndr_buf *b, const char *p, size_t n)
{
    char hdr[32];
    int h = snprintf(hdr, sizeof hdr, "$%zu\r\n", n);
    bndr_buf_add(b, hdr, (size_t)h);
    bndr_buf_add(b, p, n);
    bndr_buf_add(b, "\r\n", 2);
}

int bndr_config_get(struct bndr_client *c, const char *pat, size_t n, struct bndr_buf *out,
                    long *count)
{
    struct bndr_server *s = c->srv;
    int tenant = (c->flags & BNDR_CF_TENANT) != 0;
    for (size_t i = 0; i < nopts; i++) {
        if (!bndr_glob(pat, n, opts[i].name, strlen(opts[i].name), 1))
            continue;
        if (tenant && bndr_tenant_hidden(opts[i].name))
            continue;
        char val[1100];
        int vl = format_opt(&s->cfg, &opts[i], val, sizeof val);
        if (!strcmp(opts[i].name, "port"))
            vl = snprintf(val, sizeof val, "%d", s->actual_port);
        add_bulk_buf(out, opts[i].name, strlen(opts[i].name));
        add_bulk_buf(out, val, (size_t)vl);
        (*count)++;
    }
    for (size_t i = 0; i < NCOMPAT; i++) {
        if (!bndr_glob(pat, n, compat[i].name, strlen(compat[i].name), 1))
            continue;
        if (tenant && bndr_tenant_hidden(compat[i].name))
            continue;
        const char *v = compat_get((int)i);
        add_bulk_buf(out, compat[i].name, strlen(compat[i].name));
        add_bulk_buf(out, v, strlen(v));
        (*count)++;
    }
    return 0;
}

int bndr_config_set(struct bndr_server *s, const char *name, const char *val, char *err,
                    size_t errcap)
{
    const struct opt *o = find_opt(name);
    if (!o) {
        int ci = compat_find(name);
        if (ci < 0) {
            snprintf(err, errcap,
                     "ERR Unknown option or number of arguments for CONFIG SET - '%s'", name);
            return BB_EINVAL;
        }
        char e[200] = "";
        if (compat_set(ci, val, e, sizeof e) < 0) {
            snprintf(err, errcap,
                     "ERR CONFIG SET failed (possibly related to argument '%s') - %s", name, e);
            return BB_EINVAL;
        }
        return 0;
    }
    if (!o->mutable_) {
        snprintf(err, errcap,
                 "ERR CONFIG SET failed (possibly related to argument '%s') - can't set "
                 "immutable config",
                 name);
        return BB_EINVAL;
    }
    struct bunder_config tmp = s->cfg;
    char e[200];
    if (apply(&tmp, o, val, e, sizeof e) < 0) {
        snprintf(err, errcap, "ERR CONFIG SET failed (possibly related to argument '%s') - %s",
                 name, e);
        return BB_EINVAL;
    }
    if (!strcasecmp(o->name, "appendonly") && tmp.appendonly != s->cfg.appendonly) {
        if (bndr_aof_set_enabled(s, tmp.appendonly) < 0) {
            snprintf(err, errcap, "ERR CONFIG SET failed (possibly related to argument '%s') - "
                                  "could not start the AOF", name);
            return BB_EIO;
        }
    }
    s->cfg = tmp;
    if (s->cfg.maxmemory)
        bndr_evict(s);
    return 0;
}
