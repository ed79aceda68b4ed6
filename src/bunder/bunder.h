/* bunder.h — the public face of bunder, the Redis-compatible key/value server.
 *
 * main.c parses options into struct bunder_config (bunder_config_default, then a config file,
 * then command-line flags, later wins) and calls bunder_run, which owns the process until
 * SIGTERM/SIGINT or SHUTDOWN. Everything else lives behind bndr.h (private).
 */
#ifndef BUNDER_H
#define BUNDER_H

#include <stddef.h>

struct bunder_config {
    int port;              /* --port (6379; 0 = pick a free one, printed on the ready line) */
    char bind[64];         /* --bind (127.0.0.1) */
    char dir[1024];        /* --dir (.) data directory */
    int appendonly;        /* --appendonly yes|no */
    int appendfsync;       /* --appendfsync always|everysec|no (enum bndr_fsync) */
    char appendfilename[256];
    char dbfilename[256];
    char requirepass[512]; /* --requirepass ("" = no auth) */
    long long maxmemory;   /* --maxmemory bytes (0 = unlimited) */
    int maxmemory_policy;  /* --maxmemory-policy (enum bndr_evict) */
    int maxmemory_samples;
    int http_port;         /* --http-port (0 = no HTTP API; -1 = pick a free one) */
    char http_bind[64];
    int metrics_access;    /* --metrics-access auto|public|internal (the host's /metrics policy) */
    int hz;                /* cron frequency (10) */
    long long proto_max_bulk_len;        /* 512mb */
    long long proto_max_multibulk_len;   /* 1048576 args */
    long long proto_inline_max_size;     /* 65536 */
    long long client_query_buffer_limit; /* 1gb */
    long long client_output_buffer_limit_pubsub; /* 32mb (hard limit; 0 = none) */
    long long maxclients;  /* 10000 */
    long long timeout;     /* idle client timeout in seconds (0 = never) */
    int auto_aof_rewrite_percentage; /* 100 */
    long long auto_aof_rewrite_min_size; /* 64mb */
    char project_id[128];  /* used in logs and change events (buncast topic kv.<project_id>) */
    char buncast[1024];    /* --buncast unix:/path | host:port: publish key changes ("" = off) */
    long long buncast_queue_max; /* events waiting for buncast before new ones are dropped */
    char buncast_token_file[1024]; /* file holding buncast's internal token (else env BUNDER_BUNCAST_TOKEN) */
    char logfile[1024];    /* unused: logs go to stderr */
    long long busy_reply_threshold; /* ms a script runs before others get -BUSY (5000; 0 = never;
                                     * alias lua-time-limit) */
    long long hll_sparse_max_bytes; /* a sparse HyperLogLog larger than this turns dense (3000) */
    long long stream_node_max_bytes;   /* a stream node (listpack) closes at this size (4096; 0: 1gb) */
    long long stream_node_max_entries; /* …or at this many entries (100; 0: no limit) */
    long long lua_memory_limit;     /* bytes a running Lua script may grow the Lua heap to (256mb;
                                     * 0 = unlimited, as Redis) */
    int databases;         /* --databases N: SELECT 0..N-1 (16, as Redis) */
    int handoff_fd;        /* --handoff-fd N: inherited SOCK_SEQPACKET unix socket on which
                            * bunder-manager hands over authenticated client sockets (-1 = off);
                            * see handoff.c */
};

void bunder_config_default(struct bunder_config *cfg);
/* "auto", "public" or "internal" for cfg->metrics_access (bb_host_metrics_public's policy). */
const char *bndr_metrics_access_name(int v);
/* Applies one option by name (redis.conf names, with or without leading "--"). Returns 0, or a
 * negative BB_E* code with a Redis-style reason in err. */
int bunder_config_apply(struct bunder_config *cfg, const char *name, const char *value, char *err,
                        size_t errcap);
/* Reads a redis.conf style file: "name value" per line, '#' comments, quoted values. */
int bunder_config_file(struct bunder_config *cfg, const char *path, char *err, size_t errcap);

/* Runs the server until shutdown. Returns the process exit code. */
int bunder_run(const struct bunder_config *cfg);

#endif
