/* bndr.h — bunder's private header: the types every bunder source file shares.
 *
 * bunder is a Redis-compatible server: one libuv loop, commands run inline on it (Redis model).
 * Layers, bottom up:
 *   util.c     tracked allocator, growable byte strings (bndr_str), number parsing/formatting,
 *              glob matching, the hash table (bndr_dict), the list deque, the sorted-set skiplist
 *   resp.c     incremental, bounded RESP2/inline request parser; RESP2/RESP3 reply writers
 *   db.c       the keyspace: `databases` databases (the current one in s->db), objects, TTL
 *              (lazy + active), eviction, WATCH/blocking signals, keyspace notifications
 *   cmd_*.c    command implementations; commands.c holds the declarative command table
 *   server.c   listener, clients, dispatcher (auth/arity/flags checked once), write path, cron
 *   aof.c      append-only file (write, fsync policies, load with truncated-tail repair, rewrite)
 *   snapshot.c point-in-time snapshot (SAVE/BGSAVE): temp file + rename, fork, format detection,
 *              the loader of earlier bunders' own format
 *   rdb.c      the RDB file (Redis 7.0, version 10) snapshot.c writes and loads; values via cmd_dump.c
 *   config.c   options table (flags, config file, CONFIG GET/SET; every other Redis 7 parameter
 *              accepted and reported)
 *   cmd_admin.c OBJECT, SLOWLOG, LATENCY, DEBUG, MONITOR, ROLE, no-cluster/replication answers
 *   acl.c      ACL users; tracking.c CLIENT TRACKING; lua_cmsgpack.c the scripts' cmsgpack
 *   http.c     the HTTP API (/kv, /keys, /health, /metrics, /subscribe) on bb_http
 * Public face for main.c: bunder.h.
 *
 * Ownership: a key's object (struct bndr_obj) is owned by the keyspace dict entry; command args
 * (struct bndr_arg) borrow the client's query buffer and are valid only during the command.
 */
#ifndef BNDR_H
#define BNDR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <uv.h>

#include "bb_resp.h"
#include "bunder.h"

/* ---------------------------------------------------------------- allocator (util.c) */
/* Tracked allocation: bndr_used_memory() is what INFO and maxmemory see. Aborts on OOM like
 * Redis' zmalloc (the process cannot keep serving consistently without memory). */
void *bndr_malloc(size_t n);
void *bndr_calloc(size_t n);
void *bndr_realloc(void *p, size_t n);
void bndr_free(void *p);
char *bndr_memdup(const void *p, size_t n); /* NUL-terminated copy */
size_t bndr_used_memory(void);

/* ---------------------------------------------------------------- strings */
/* A length-prefixed byte string (like sds). Always NUL-terminated after len. */
struct bndr_str {
    uint32_t len;
    uint32_t cap;
    char buf[];
};
struct bndr_str *bndr_str_new(const void *p, size_t n);
struct bndr_str *bndr_str_cat(struct bndr_str *s, const void *p, size_t n); /* may move s */
void bndr_str_free(struct bndr_str *s);

/* ---------------------------------------------------------------- numbers */
#define BNDR_LD_STR 64
#define BNDR_LD_STR_MAX (5 * 1024) /* Redis' MAX_LONG_DOUBLE_CHARS: longest number parsed or printed */
int bndr_parse_ll(const char *p, size_t n, long long *out);    /* strict, Redis string2ll */
int bndr_parse_double(const char *p, size_t n, double *out);  /* accepts inf/-inf, rejects nan */
int bndr_parse_ld(const char *p, size_t n, long double *out); /* for INCRBYFLOAT */
int bndr_fmt_ll(char *buf, long long v);                       /* returns length */
int bndr_fmt_double(char *buf, size_t cap, double v);          /* %.17g, inf/-inf */
int bndr_fmt_ld(char *buf, size_t cap, long double v);         /* humanfriendly like Redis */
int bndr_glob(const char *pat, size_t plen, const char *s, size_t slen, int nocase);
uint64_t bndr_hash(const void *p, size_t n);
uint64_t bndr_mstime(void);
uint64_t bndr_ustime(void);
uint64_t bndr_rand(void);

/* ---------------------------------------------------------------- dict */
/* Chained hash table, power-of-two buckets, keys stored inline in the entry. Grows at load 1,
 * shrinks at 1/8 (all at once). SCAN uses the reverse-binary cursor so it survives resizes. */
struct bndr_de {
    struct bndr_de *next;
    union {
        void *p;
        double d;
        int64_t i;
    } v;
    uint32_t klen;
    char key[]; /* NUL-terminated */
};
struct bndr_dict {
    struct bndr_de **t;
    uint64_t mask; /* size - 1, or 0 with t == NULL */
    uint64_t n;
    uint32_t iterators; /* safe iterators pin the table (no resize) */
};
void bndr_dict_init(struct bndr_dict *d);
/* Frees the entries; free_val (may be NULL) is called for each entry first. */
void bndr_dict_release(struct bndr_dict *d, void (*free_val)(struct bndr_de *));
struct bndr_de *bndr_dict_find(const struct bndr_dict *d, const void *k, size_t n);
/* Returns the entry for k; *created is 1 if it was inserted (v zeroed). */
struct bndr_de *bndr_dict_upsert(struct bndr_dict *d, const void *k, size_t n, int *created);
/* Unlinks and returns the entry (caller frees with bndr_free after releasing its value). */
struct bndr_de *bndr_dict_unlink(struct bndr_dict *d, const void *k, size_t n);
struct bndr_de *bndr_dict_random(const struct bndr_dict *d);
void bndr_dict_maybe_shrink(struct bndr_dict *d);
/* Calls fn for each entry of the bucket(s) at cursor; returns the next cursor (0: done). */
uint64_t bndr_dict_scan(const struct bndr_dict *d, uint64_t cursor,
                        void (*fn)(struct bndr_de *, void *), void *arg);
/* Plain iteration: for (b = 0; b <= mask; b++) ... ; helper: */
#define BNDR_DICT_FOREACH(d, e)                                                   \
    for (uint64_t b_##e = 0; (d)->t && b_##e <= (d)->mask; b_##e++)               \
        for (struct bndr_de *e = (d)->t[b_##e], *nx_##e = e ? e->next : NULL; e; \
             e = nx_##e, nx_##e = e ? e->next : NULL)

/* ---------------------------------------------------------------- list (deque of strings) */
struct bndr_list {
    struct bndr_str **a;
    size_t head, n, cap; /* ring buffer */
};
struct bndr_list *bndr_list_new(void);
void bndr_list_free(struct bndr_list *l);
#define BNDR_LIST_AT(l, i) ((l)->a[((l)->head + (i)) & ((l)->cap - 1)])
void bndr_list_push(struct bndr_list *l, struct bndr_str *s, int head);
struct bndr_str *bndr_list_pop(struct bndr_list *l, int head);
void bndr_list_insert(struct bndr_list *l, size_t idx, struct bndr_str *s);
void bndr_list_remove(struct bndr_list *l, size_t idx); /* frees the element */

/* ---------------------------------------------------------------- sorted set */
#define BNDR_ZSL_MAXLEVEL 32
struct bndr_zsl_node {
    double score;
    const char *ele; /* borrowed from the zset dict entry's key */
    uint32_t elen;
    struct bndr_zsl_node *backward;
    struct bndr_zsl_level {
        struct bndr_zsl_node *forward;
        unsigned long span;
    } level[];
};
struct bndr_zset {
    struct bndr_dict dict; /* member -> score (v.d) */
    struct bndr_zsl_node *header, *tail;
    unsigned long length;
    int level;
};
struct bndr_zrange_spec {
    double min, max;
    int minex, maxex;
};
struct bndr_lex_spec {
    const char *min, *max;
    size_t minlen, maxlen;
    int minex, maxex;
    int mininf, maxinf; /* -1: '-', +1: '+', 0: value */
};
struct bndr_zset *bndr_zset_new(void);
void bndr_zset_free(struct bndr_zset *z);
/* Adds or updates; returns 1 if added, 0 if updated. */
int bndr_zset_set(struct bndr_zset *z, const char *m, size_t n, double score);
int bndr_zset_del(struct bndr_zset *z, const char *m, size_t n);
/* 0-based rank or -1. */
long bndr_zset_rank(struct bndr_zset *z, const char *m, size_t n, int reverse);
struct bndr_zsl_node *bndr_zsl_by_rank(struct bndr_zset *z, unsigned long rank1);
struct bndr_zsl_node *bndr_zsl_first_in_range(struct bndr_zset *z, const struct bndr_zrange_spec *r);
struct bndr_zsl_node *bndr_zsl_last_in_range(struct bndr_zset *z, const struct bndr_zrange_spec *r);
struct bndr_zsl_node *bndr_zsl_first_in_lex(struct bndr_zset *z, const struct bndr_lex_spec *r);
struct bndr_zsl_node *bndr_zsl_last_in_lex(struct bndr_zset *z, const struct bndr_lex_spec *r);
int bndr_zsl_value_gte_min(double v, const struct bndr_zrange_spec *r);
int bndr_zsl_value_lte_max(double v, const struct bndr_zrange_spec *r);
int bndr_lex_gte_min(const char *s, size_t n, const struct bndr_lex_spec *r);
int bndr_lex_lte_max(const char *s, size_t n, const struct bndr_lex_spec *r);

/* ---------------------------------------------------------------- objects and keyspace */
enum bndr_type {
    BNDR_STRING = 0,
    BNDR_LIST = 1,
    BNDR_SET = 2,
    BNDR_ZSET = 3,
    BNDR_HASH = 4,
    BNDR_STREAM = 5, /* cmd_stream.c */
};
struct bndr_stream;

/* A key's value. The header is 18 bytes (offsetof(struct bndr_obj, s), BNDR_OBJ_HDR): a string
 * of up to 5 bytes is one 24-byte allocation (glibc's smallest chunk, 32 bytes with its size
 * word). Strings use len/cap and the bytes in s; the other types use u, which overlays len/cap
 * (so read len/cap only after checking type == BNDR_STRING). The deadline of a key with a TTL is
 * not here: it is in the db's TTL vector (db->xv[xidx].when, read with bndr_db_expire), so a key
 * without a TTL pays 4 bytes (xidx) for it, not 12. */
struct bndr_obj {
    uint32_t lru;  /* LRU clock (seconds) of last access */
    uint32_t xidx; /* index in db->xv, UINT32_MAX when no TTL */
    union {
        struct {
            uint32_t len; /* string: length */
            uint32_t cap; /* string: capacity of s (without the NUL) */
        };
        union {
            struct bndr_list *l;
            struct bndr_dict *d; /* set (no values) or hash (v.p = struct bndr_str *) */
            struct bndr_zset *z;
            struct bndr_stream *x;
        } u;
    };
    uint8_t type;
    uint8_t big; /* OBJECT ENCODING: a collection converted past a compact encoding's limit, a
                  * string modified in place (1: "raw") or INCRBYFLOAT's (2: never "int");
                  * sticky, as Redis */
    char s[];    /* string bytes (NUL-terminated), right after the 18-byte header */
};
#define BNDR_OBJ_HDR offsetof(struct bndr_obj, s)

/* One key with a TTL: its dict entry and its deadline (unix ms). */
struct bndr_xent {
    struct bndr_de *e;
    int64_t when;
};

struct bndr_db {
    struct bndr_dict keys;  /* key -> struct bndr_obj * */
    struct bndr_xent *xv;   /* keys with a TTL and their deadlines (active expiry, volatile
                             * eviction, bndr_db_expire) */
    size_t xn, xcap;
    uint64_t expired_keys, evicted_keys, hits, misses;
};

/* ---------------------------------------------------------------- protocol (resp.c) */
struct bndr_arg {
    char *p; /* borrowed: points into the client's query buffer */
    size_t n;
};

struct bndr_limits {
    long long proto_max_bulk_len;   /* proto-max-bulk-len */
    long long max_multibulk_len;    /* proto-max-multibulk-len (args per command) */
    long long max_inline_len;       /* proto-inline-max-size */
    long long client_query_buffer_limit;
};

/* Parser state of one connection (incremental: it resumes where the last read stopped): core's
 * one RESP request parser (bb_resp.h), under bunder's name; bndr_parse adapts the limits and
 * results. */
#define bndr_parser bb_resp_parser

enum { BNDR_PARSE_OK = 0, BNDR_PARSE_MORE = 1, BNDR_PARSE_ERR = -1 };
/* Parses one command from buf[*pos..len). On BNDR_PARSE_OK, p->argc args are ready (offsets into
 * buf, or into p->inline_buf for inline commands: use bndr_parser_args) and *pos is past the
 * command. BNDR_PARSE_MORE: need more bytes; *need is a hint of the total buffer size required
 * (0: unknown). BNDR_PARSE_ERR: err holds a Redis-worded protocol error (no leading '-'). */
int bndr_parse(struct bndr_parser *p, const char *buf, size_t len, size_t *pos,
               const struct bndr_limits *lim, size_t *need, const char **err);
void bndr_parser_args(struct bndr_parser *p, char *buf, struct bndr_arg *out);
void bndr_parser_reset(struct bndr_parser *p);
void bndr_parser_release(struct bndr_parser *p);

/* Output buffer with RESP writers. */
struct bndr_buf {
    char *p;
    size_t len, cap;
};
void bndr_buf_reserve(struct bndr_buf *b, size_t extra);
void bndr_buf_add(struct bndr_buf *b, const void *p, size_t n);

/* ---------------------------------------------------------------- clients and server */
enum bndr_client_flags {
    BNDR_CF_CLOSE_AFTER_REPLY = 1 << 0,
    BNDR_CF_MULTI = 1 << 1,
    BNDR_CF_DIRTY_CAS = 1 << 2,
    BNDR_CF_DIRTY_EXEC = 1 << 3,
    BNDR_CF_BLOCKED = 1 << 4,
    BNDR_CF_AUTHED = 1 << 5,
    BNDR_CF_PENDING_WRITE = 1 << 6,
    BNDR_CF_CLOSING = 1 << 7,
    BNDR_CF_FAKE = 1 << 8, /* AOF loading / HTTP: no socket, replies discarded or captured */
    BNDR_CF_IN_EXEC = 1 << 9,
    BNDR_CF_HANDOFF = 1 << 10, /* socket received from bunder-manager (handoff.c) */
    BNDR_CF_TENANT = 1 << 11,  /* a project's client: bunder_tenant.h applies (tenant.c); sticky */
    BNDR_CF_PAUSED = 1 << 12,  /* CLIENT PAUSE holds its next command (server.c) */
    BNDR_CF_NO_EVICT = 1 << 13, /* CLIENT NO-EVICT ON (reported only: no client eviction here) */
    BNDR_CF_MONITOR = 1 << 14,  /* MONITOR: gets every command (cmd_admin.c) */
    BNDR_CF_BRETRY = 1 << 20,  /* a blocked command runs again (cmd_list.c): it must not block */
    BNDR_CF_BRETRY_WAIT = 1 << 21, /* ... and found nothing to serve: the client stays blocked */
};

/* ---------------------------------------------------------------- tenant policy (tenant.c) */
/* 1 (and a NOPERM message in msg) if a tenant may not run argv; 0 otherwise. */
int bndr_tenant_refuse(int argc, const struct bndr_arg *argv, char *msg, size_t cap);
int bndr_tenant_hidden(const char *param);   /* 1: CONFIG GET never shows it to a tenant */
int bndr_tenant_settable(const char *param); /* 1: a tenant may CONFIG SET it */
/* acl.c: AUTH as an ACL user (1: logged in, c->acl_user set); the permission check of a
 * command for such a client (1 and a NOPERM message: refused). */
struct bndr_cmd;
struct bndr_client;
int bndr_acl_auth(struct bndr_client *c, const struct bndr_arg *user, const struct bndr_arg *pass);
int bndr_acl_refuse(struct bndr_client *c, const struct bndr_cmd *cmd, char *msg, size_t cap);
const char *bndr_acl_user_name(const struct bndr_client *c); /* "default" unless an ACL user */

struct bndr_cmd;
struct bndr_server;

struct bndr_mcmd { /* a command queued by MULTI: owned copies of argv */
    const struct bndr_cmd *cmd;
    int argc;
    struct bndr_arg *argv; /* each p owned (bndr_malloc) */
};

struct bndr_client {
    uv_tcp_t tcp;
    struct bndr_server *srv;
    uint64_t id;
    unsigned flags;
    int resp; /* 2 or 3 */
    int db;   /* SELECTed database (0 .. databases-1) */
    int reply_mode; /* CLIENT REPLY: 0 ON, 1 OFF, 2 SKIP the next command, 3 skipping this one */
    void *acl_user; /* acl.c: the ACL user logged in (NULL: default) */
    unsigned trk;          /* tracking.c: BNDR_TRK_* (CLIENT TRACKING) */
    uint64_t trk_redirect; /* client id the invalidations go to (0: this one) */
    struct bndr_str **trk_prefixes;
    int ntrk_prefixes;
    char *qbuf;
    size_t qlen, qcap, qpos; /* qpos: start of the command being parsed */
    size_t ppos, ppos_need;  /* parser resume point; bytes needed for the pending bulk */
    struct bndr_parser parser;
    struct bndr_arg *argv;
    size_t argvcap;
    int argc;
    struct bndr_buf out;   /* replies not yet handed to the kernel */
    struct bndr_buf wbuf;  /* bytes of an in-flight uv_write */
    uv_write_t wreq;
    int writing;
    char *name;
    char addr[64];
    uint64_t ctime_ms, last_ms;
    const struct bndr_cmd *lastcmd;
    /* MULTI */
    struct bndr_mcmd *mq;
    int mqn, mqcap;
    /* WATCH: keys this client watches (owned copies) */
    struct bndr_str **watched;
    int nwatched, watchcap;
    /* pub/sub */
    struct bndr_dict chans, pats;
    struct bndr_dict schans; /* shard channels (SSUBSCRIBE, cmd_shard.c) */
    /* blocking: BLPOP/BRPOP */
    struct bndr_str **bkeys;
    int nbkeys;
    int bwhere;        /* 1 head (BLPOP), 0 tail */
    uint64_t btimeout; /* unix ms, 0 = forever */
    void *bstream;     /* XREAD/XREADGROUP blocked state (cmd_stream.c), NULL for BLPOP */
    /* generic blocking (BLMOVE, BLMPOP, BZPOPMIN, BZMPOP...; cmd_list.c): when a key of type
     * btype is ready the command runs again with these owned args */
    struct bndr_arg *bargv;
    int bargc, btype;
    const struct bndr_cmd *bcmd;
    /* list links */
    struct bndr_client *next, *prev;       /* all clients */
    struct bndr_client *pw_next;           /* pending-write list */
    /* propagation override set by a command (relative TTLs become absolute etc.) */
    int prop_set;
    /* capture of replies for the HTTP API / tests (fake clients) */
};

enum bndr_trk_flags { /* CLIENT TRACKING (tracking.c) */
    BNDR_TRK_ON = 1 << 0,
    BNDR_TRK_BCAST = 1 << 1,
    BNDR_TRK_OPTIN = 1 << 2,
    BNDR_TRK_OPTOUT = 1 << 3,
    BNDR_TRK_NOLOOP = 1 << 4,
    BNDR_TRK_CACHING_YES = 1 << 5,
    BNDR_TRK_CACHING_NO = 1 << 6,
    BNDR_TRK_CACHING_FRESH = 1 << 7, /* set by CLIENT CACHING itself: kept for the next command */
};

enum bndr_cmd_flags {
    BNDR_CMD_WRITE = 1 << 0,
    BNDR_CMD_READONLY = 1 << 1,
    BNDR_CMD_DENYOOM = 1 << 2,
    BNDR_CMD_ADMIN = 1 << 3,
    BNDR_CMD_PUBSUB = 1 << 4,
    BNDR_CMD_NOAUTH = 1 << 5,  /* allowed before AUTH */
    BNDR_CMD_OKSUB = 1 << 6,   /* allowed in RESP2 subscribed context */
    BNDR_CMD_NOMULTI = 1 << 7, /* executed immediately even inside MULTI (EXEC, DISCARD, ...) */
    BNDR_CMD_FAST = 1 << 8,
    BNDR_CMD_BLOCKING = 1 << 9,
    BNDR_CMD_LOADING = 1 << 10,
};

typedef void (*bndr_cmd_fn)(struct bndr_client *c);

struct bndr_cmd {
    const char *name; /* lower case */
    bndr_cmd_fn proc;
    int arity; /* >0 exact, <0 at least -arity */
    unsigned flags;
    int first_key, last_key, step; /* key positions (last -1: all to the end) */
    const char *group;   /* Redis' COMMAND DOCS group ("sorted-set"...), set at start (cmd_meta.c) */
    const char *subcmds; /* space separated list for container commands, or NULL */
    uint64_t calls, usec;
    const char *sflags; /* flag letters from cmds.h, turned into flags at start */
    uint64_t rejected_calls, failed_calls; /* INFO commandstats */
};
/* tracking.c: CLIENT TRACKING / CACHING / TRACKINGINFO; the hooks: a key changed, a database
 * was flushed, a tracking client read keys or ran a command, a client left. */
void bndr_tracking_cmd(struct bndr_client *c);
void bndr_tracking_caching(struct bndr_client *c);
void bndr_tracking_info(struct bndr_client *c);
int bndr_tracking_active(void);
void bndr_tracking_invalidate(struct bndr_server *s, const char *k, size_t n);
void bndr_tracking_flush(struct bndr_server *s);
void bndr_tracking_remember(struct bndr_client *c, const struct bndr_cmd *cmd);
void bndr_tracking_after_command(struct bndr_client *c);
void bndr_tracking_client_gone(struct bndr_client *c);
/* cmd_server.c: counts an error reply (INFO errorstats, total_error_replies). */
void bndr_errorstat(const char *reply, size_t n);
void bndr_errorstats_reset(void);
uint64_t bndr_errorstat_total(void);
void bndr_cmd_table_init(void);

enum bndr_fsync { BNDR_FSYNC_NO = 0, BNDR_FSYNC_EVERYSEC = 1, BNDR_FSYNC_ALWAYS = 2 };
enum bndr_evict {
    BNDR_EVICT_NOEVICTION = 0,
    BNDR_EVICT_ALLKEYS_LRU,
    BNDR_EVICT_VOLATILE_LRU,
    BNDR_EVICT_ALLKEYS_RANDOM,
    BNDR_EVICT_VOLATILE_RANDOM,
    BNDR_EVICT_VOLATILE_TTL,
};

struct bndr_aof {
    int fd;
    int enabled;
    struct bndr_buf buf;        /* commands of this loop iteration, written before replies */
    struct bndr_buf rewrite;    /* commands since a rewrite child started */
    pid_t rewrite_pid;
    pid_t save_pid;
    int rewrite_scheduled;
    uint64_t last_fsync_ms;
    int fsync_inflight;
    uv_fs_t fsync_req;
    int write_error;            /* sticky: writes refused (MISCONF) until a write succeeds */
    off_t size, base_size;
    uint64_t rewrites, last_rewrite_ms;
    int last_bgrewrite_ok;
    int loading;
    int in_multi; /* the AOF buffer has an open MULTI (EXEC propagation) */
};

struct bndr_pubsub_sub { /* subscribers of one channel or pattern */
    struct bndr_client **c;
    int n, cap;
};

struct bndr_server {
    struct bunder_config cfg;
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_prepare_t prepare;
    uv_check_t check;
    uv_timer_t cron;
    uv_signal_t sigterm, sigint, sigchld;
    /* Databases (SELECT): the one a command runs in lives in db (so command code reads
     * &c->srv->db); the others rest in dbs[] (dbs[curdb] is a stale slot). bndr_db_switch swaps;
     * outside a command the current database is always 0 (bndr_call restores it). */
    struct bndr_db db;
    struct bndr_db *dbs;
    int ndb, curdb;
    int aof_seldb; /* database of the last command fed to the AOF (-1: emit SELECT first) */
    uint64_t pause_until; /* CLIENT PAUSE: unix ms (0: none) */
    int pause_all;        /* 1: every command waits, 0: only writes */
    struct bndr_client **monitors; /* MONITOR clients (cmd_admin.c) */
    int nmonitors, monitorcap;
    struct bndr_client *clients;
    struct bndr_client *pending_write;
    size_t nclients;
    uint64_t next_client_id;
    long long dirty;            /* changes since last save */
    uint64_t lastsave;          /* unix seconds */
    int last_bgsave_ok;
    uint64_t start_ms;
    uint32_t lruclock;
    uint64_t stat_commands, stat_conns, stat_rejected, stat_net_in, stat_net_out;
    uint64_t stat_keyspace_hits, stat_keyspace_misses;
    struct bndr_aof aof;
    struct bndr_dict pubsub_ch;  /* channel -> struct bndr_pubsub_sub* */
    struct bndr_dict pubsub_pat; /* pattern -> struct bndr_pubsub_sub* */
    struct bndr_dict pubsub_sch; /* shard channel -> struct bndr_pubsub_sub* (cmd_shard.c) */
    struct bndr_dict watched;    /* key -> struct bndr_pubsub_sub* (clients watching) */
    struct bndr_dict blocking;   /* key -> struct bndr_pubsub_sub* (clients blocked, FIFO) */
    struct bndr_str **ready;     /* keys that got pushes while clients wait on them */
    int nready, readycap;
    int shutting_down;
    int in_exec;
    struct bndr_client *cur;      /* client running a command */
    struct bndr_client *signaler; /* client whose command's keys are being signalled (NOLOOP) */
    struct bndr_arg *prop_argv;   /* override for propagation of the current command */
    int prop_argc;
    int prop_suppress;
    void *http;                  /* struct bndr_http (http.c) */
    /* hook for key changes (HTTP /subscribe and buncast); may be NULL */
    void (*on_change)(struct bndr_server *s, const char *op, const char *key, size_t klen);
    void *bcast; /* struct bndr_bcast (buncast.c), NULL unless --buncast */
    int actual_port;
    /* command timing: the end time of the previous call in this batch is the start of the next
     * (one clock read per command instead of three); valid only inside process_input */
    uint64_t clock_us;
    int clock_valid;
    /* client sockets handed over by bunder-manager (handoff.c); NULL unless --handoff-fd */
    void *handoff;        /* struct bndr_handoff */
    uint64_t ho_clients;  /* handed-off clients connected now */
    uint64_t ho_received; /* handed-off clients accepted since start */
};

extern struct bndr_server *bndr_srv; /* the one server of this process */
/* A server with its dataset and dictionaries but no libuv handle (bunder_run adds those; the
 * loaders' fuzz targets use it bare). Sets bndr_srv. _free closes the AOF and frees the dataset;
 * every handle must already be closed. */
struct bndr_server *bndr_server_new(const struct bunder_config *cfg);
void bndr_server_free(struct bndr_server *s);

/* ---------------------------------------------------------------- replies (resp.c) */
void bndr_add_raw(struct bndr_client *c, const void *p, size_t n);
void bndr_add_ok(struct bndr_client *c);
void bndr_add_status(struct bndr_client *c, const char *s);
void bndr_add_error(struct bndr_client *c, const char *s); /* s without '-'; "ERR ..." etc. */
void bndr_add_errorf(struct bndr_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void bndr_add_ll(struct bndr_client *c, long long v);
void bndr_add_bulk(struct bndr_client *c, const void *p, size_t n);
void bndr_add_bulk_cstr(struct bndr_client *c, const char *s);
void bndr_add_bulk_ll(struct bndr_client *c, long long v);
void bndr_add_double(struct bndr_client *c, double d); /* RESP3 double, RESP2 bulk */
void bndr_add_null(struct bndr_client *c);             /* $-1 / _ */
void bndr_add_null_array(struct bndr_client *c);       /* *-1 / _ */
void bndr_add_array(struct bndr_client *c, long n);
void bndr_add_map(struct bndr_client *c, long n);      /* RESP3 %, RESP2 array of 2n */
void bndr_add_set(struct bndr_client *c, long n);      /* RESP3 ~, RESP2 array */
void bndr_add_push(struct bndr_client *c, long n);     /* RESP3 >, RESP2 array */
void bndr_add_verbatim(struct bndr_client *c, const char *p, size_t n);
void bndr_add_bool(struct bndr_client *c, int v);
/* Deferred array length: returns a handle, later fixed with bndr_set_deferred_len. */
size_t bndr_add_deferred_len(struct bndr_client *c);
void bndr_set_deferred_len(struct bndr_client *c, size_t handle, long n, char type);
#define BNDR_ERR_WRONGTYPE "WRONGTYPE Operation against a key holding the wrong kind of value"
#define BNDR_ERR_NOTINT "ERR value is not an integer or out of range"
#define BNDR_ERR_NOTFLOAT "ERR value is not a valid float"
#define BNDR_ERR_SYNTAX "ERR syntax error"

/* ---------------------------------------------------------------- db.c */
void bndr_db_init(struct bndr_db *db);
void bndr_db_release(struct bndr_db *db);
/* Lookups apply lazy expiry. read: counts hits/misses and touches the LRU clock. */
struct bndr_obj *bndr_lookup_read(struct bndr_client *c, const struct bndr_arg *key);
struct bndr_obj *bndr_lookup_write(struct bndr_client *c, const struct bndr_arg *key);
/* Lookup with a type check: NULL + *wrong=1 (WRONGTYPE already replied) on type mismatch. */
struct bndr_obj *bndr_lookup_type(struct bndr_client *c, const struct bndr_arg *key, int type,
                                  int write, int *wrong);
struct bndr_de *bndr_db_find(struct bndr_db *db, const char *k, size_t n); /* no expiry check */
/* Inserts or replaces the value of key (clears the TTL unless keepttl). Takes ownership of o. */
void bndr_db_set(struct bndr_db *db, const char *k, size_t n, struct bndr_obj *o, int keepttl);
/* Adds a new key (must not exist). Takes ownership of o. Returns the entry. */
struct bndr_de *bndr_db_add(struct bndr_db *db, const char *k, size_t n, struct bndr_obj *o);
int bndr_db_delete(struct bndr_db *db, const char *k, size_t n);
/* Unlinks key and hands its object to the caller (xidx cleared); *expire (may be NULL) gets its
 * deadline, 0 without a TTL. */
struct bndr_obj *bndr_db_take(struct bndr_db *db, const char *k, size_t n, int64_t *expire);
void bndr_db_set_expire(struct bndr_db *db, struct bndr_de *e, int64_t when_ms);
/* The deadline (unix ms) of o, a value of db, or 0 when it has no TTL. */
static inline int64_t bndr_db_expire(const struct bndr_db *db, const struct bndr_obj *o)
{
    return o->xidx == UINT32_MAX ? 0 : db->xv[o->xidx].when;
}
void bndr_db_persist(struct bndr_db *db, struct bndr_de *e);
void bndr_db_flush(struct bndr_db *db);
/* Multiple databases: the database id (current one included, 0 <= id < ndb); switch makes id
 * the current one (s->db) and returns the previous id. */
struct bndr_db *bndr_db_get(struct bndr_server *s, int id);
int bndr_db_switch(struct bndr_server *s, int id);
/* Sums of the per-database counters (INFO stats). */
void bndr_db_totals(struct bndr_server *s, uint64_t *keys, uint64_t *expired, uint64_t *evicted,
                    uint64_t *hits, uint64_t *misses);
/* FLUSHALL: empties every database (WATCH, change events as FLUSHDB). */
void bndr_flushall(struct bndr_server *s);
int bndr_expire_if_needed(struct bndr_db *db, const char *k, size_t n);
void bndr_active_expire(struct bndr_server *s, uint64_t budget_us);
/* Frees objects down to maxmemory; 0 ok, -1 still over (noeviction or nothing to evict). */
int bndr_evict(struct bndr_server *s);
struct bndr_obj *bndr_obj_string(const void *p, size_t n);
struct bndr_obj *bndr_obj_string_ll(long long v);
struct bndr_obj *bndr_obj_new(int type);
void bndr_obj_free(struct bndr_obj *o);
/* Grows a string object in place (may move it; updates the dict entry). */
struct bndr_obj *bndr_obj_string_reserve(struct bndr_de *e, size_t newlen);
int bndr_obj_get_ll(const struct bndr_obj *o, long long *out);
/* Key change signal: WATCH invalidation, blocked clients, change hooks. */
void bndr_signal_key(struct bndr_server *s, const char *k, size_t n);
void bndr_notify(struct bndr_server *s, const char *op, const char *k, size_t n);
void bndr_signal_list_ready(struct bndr_server *s, const char *k, size_t n);
const char *bndr_type_name(int type);
#define BNDR_DE_OBJ(e) ((struct bndr_obj *)(e)->v.p)

/* ---------------------------------------------------------------- server.c */
const struct bndr_cmd *bndr_cmd_lookup(const char *name, size_t n);
extern struct bndr_cmd bndr_cmd_table[];
extern const size_t bndr_cmd_count;
void bndr_call(struct bndr_client *c, const struct bndr_cmd *cmd);
void bndr_propagate(struct bndr_server *s, int argc, const struct bndr_arg *argv);
/* Replace the propagation of the current command (argv copied). argc 0: suppress. */
void bndr_rewrite_prop(struct bndr_client *c, int argc, const struct bndr_arg *argv);
void bndr_client_free(struct bndr_client *c);
struct bndr_client *bndr_client_fake(struct bndr_server *s);
void bndr_client_fake_free(struct bndr_client *c);
void bndr_client_mark_write(struct bndr_client *c);
void bndr_unblock_client(struct bndr_client *c, int timeout);
void bndr_serve_ready_keys(struct bndr_server *s);
void bndr_watch_unwatch_all(struct bndr_client *c);
void bndr_pubsub_unsub_all(struct bndr_client *c, int notify);
int bndr_pubsub_publish(struct bndr_server *s, const char *ch, size_t chn, const char *msg,
                        size_t msgn);
void bndr_multi_discard(struct bndr_client *c);
int bndr_client_subscribed(const struct bndr_client *c);
void bndr_client_list(struct bndr_server *s, struct bndr_buf *out, struct bndr_client *only);
void bndr_cron_close_idle(struct bndr_server *s);
void bndr_process_command(struct bndr_client *c);
void bndr_block_client(struct bndr_client *c, struct bndr_arg *keys, int nkeys, int head,
                       uint64_t timeout_ms);
/* cmd_list.c: generic blocking. block_generic blocks c (running a B command) on keys until one
 * holds type; inside a retry it only marks BNDR_CF_BRETRY_WAIT. block_retry runs the blocked
 * command again (1: served and unblocked). block_free drops the saved args. */
void bndr_block_generic(struct bndr_client *c, struct bndr_arg *keys, int nkeys, int type,
                        uint64_t timeout_ms);
int bndr_block_retry(struct bndr_client *c);
void bndr_block_free(struct bndr_client *c);
/* cmd_meta.c: Redis 7.0's command metadata (commands_meta.inc): COMMAND INFO / DOCS of a
 * command or "container|sub" bunder answers (-1: none), COMMAND GETKEYS[ANDFLAGS] */
int bndr_meta_has(const char *name, size_t n);
int bndr_meta_info(struct bndr_client *c, const char *name, size_t n);
int bndr_meta_docs(struct bndr_client *c, const char *name, size_t n);
void bndr_meta_getkeys(struct bndr_client *c, int with_flags);
int bndr_meta_in_cat(const char *name, size_t n, const char *cat); /* ACL category; -1 no row */
/* the key positions in argv (argv[0] the command) as Redis finds them (key specs, key procs):
 * count (0: none) with *pos allocated (bndr_free), -1 when bunder has no such command */
int bndr_meta_keys(int argc, const struct bndr_arg *argv, int **pos);
const char *bndr_meta_group(const char *name); /* COMMAND DOCS group of a command ("generic") */
/* cmd_dump.c: Redis' CRC64 (Jones), as DUMP payloads carry it */
uint64_t bndr_crc64(uint64_t crc, const void *p, size_t n);
/* cmd_list.c: parses a blocking timeout in seconds (Redis' errors); 0 ok with *abs_ms (0 = none) */
int bndr_parse_timeout(struct bndr_client *c, const struct bndr_arg *a, uint64_t *abs_ms);
void bndr_watch_key(struct bndr_client *c, const char *k, size_t n); /* in c's database */
int bndr_client_watches(const struct bndr_client *c, int db, const char *k, size_t n);
/* CLIENT UNPAUSE / end of a pause: the held clients run their commands again. */
void bndr_unpause(struct bndr_server *s);
int bndr_pubsub_sub(struct bndr_client *c, const char *k, size_t n, int pattern); /* 2: shard */
/* cmd_shard.c: PUBSUB SHARDCHANNELS [pattern] and SHARDNUMSUB [channel ...] replies */
void bndr_shard_channels(struct bndr_client *c, const struct bndr_arg *pattern);
void bndr_shard_numsub(struct bndr_client *c);
int bndr_pubsub_unsub(struct bndr_client *c, const char *k, size_t n, int pattern);
void bndr_shutdown(struct bndr_server *s);
/* While a script is past busy-reply-threshold: reads what every other client sent (non-blocking),
 * runs it through the dispatcher (which answers -BUSY) and writes the replies; skip (the script's
 * caller) is left alone. Called from the Lua hook only. */
void bndr_busy_process_events(struct bndr_server *s, struct bndr_client *skip);
/* cmd_script.c: 1 if cmd must be refused with -BUSY because a script is past its time limit. */
int bndr_script_busy_reject(struct bndr_client *c, const struct bndr_cmd *cmd);
/* 1 while a script runs past busy-reply-threshold (other clients get -BUSY) */
int bndr_script_busy(void);
/* cmd_admin.c: a command that ran usec µs, for SLOWLOG; a collection past the count limit of
 * its compact encoding (OBJECT ENCODING); DEBUG SET-ACTIVE-EXPIRE. */
void bndr_slowlog_push(struct bndr_client *c, int argc, const struct bndr_arg *argv, uint64_t usec);
int bndr_obj_past_count_limit(const struct bndr_obj *o);
/* after a write command to o whose longest argument (past the key) had maxarg bytes: marks o
 * converted as Redis would (count past the limit, a hash/zset value past the value limit) */
void bndr_obj_note_write(struct bndr_obj *o, size_t maxarg);
int bndr_active_expire_enabled(void);
void bndr_sub_error(struct bndr_client *c, const char *cmd, const char *known);
/* MONITOR: shows argv (run by c in database db) to every monitor; remove drops c from them. */
void bndr_monitor_feed(struct bndr_server *s, struct bndr_client *c, int db, int argc,
                       const struct bndr_arg *argv);
void bndr_monitor_remove(struct bndr_client *c);
/* cmd_script.c: FUNCTION libraries — each library's code (AOF rewrite, snapshot), and loading
 * one back (replacing a library of the same name); -1 with Redis' error in err. */
int bndr_functions_each(int (*fn)(void *arg, const char *code, size_t n), void *arg);
int bndr_function_load_code(const char *code, size_t n, char *err, size_t errcap);
/* cmd_dump.c: LZF decompression of an RDB string; the bytes written (out_len on success). */
size_t bndr_lzf_decompress(const unsigned char *in, size_t in_len, unsigned char *out,
                           size_t out_len);
/* cmd_dump.c: Redis' RDB encoding of one value — the one encoder/decoder DUMP/RESTORE and RDB
 * files (rdb.c) share. A reader walks p[off..n); max_str bounds one (decompressed) string. Readers
 * return -1 (NULL) on malformed or truncated input and never read past n. read_str: *s points
 * into p, or at ibuf (24 bytes, integer encodings), or at *owned (LZF; caller frees). */
struct bndr_rdb_rd {
    const unsigned char *p;
    size_t n, off;
    size_t max_str;
};
/* type byte, then key (RDB file records; NULL for DUMP), then the value; -1 if not serializable */
int bndr_rdb_write_value(struct bndr_buf *b, const struct bndr_obj *o, const char *key, size_t klen);
void bndr_rdb_write_len(struct bndr_buf *b, uint64_t len);
void bndr_rdb_write_str(struct bndr_buf *b, const void *p, size_t n); /* integers int-encoded */
int bndr_rdb_read_bytes(struct bndr_rdb_rd *r, size_t n, const unsigned char **out);
int bndr_rdb_read_len(struct bndr_rdb_rd *r, uint64_t *len);
int bndr_rdb_read_str(struct bndr_rdb_rd *r, const char **s, size_t *n, char **owned, char *ibuf);
struct bndr_obj *bndr_rdb_read_value(int type, struct bndr_rdb_rd *r); /* caller owns the object */
/* rdb.c: an RDB file (Redis 7.0, version 10; layout at the top of rdb.c). write: the whole file
 * through f, 0 ok / -1 write error. load: buf holds a whole file; loads it into s's databases
 * (the caller starts from empty ones); -1 with the reason in *why. */
int bndr_rdb_write(struct bndr_server *s, FILE *f);
int bndr_rdb_load(struct bndr_server *s, const unsigned char *buf, size_t n, const char **why);
/* cmd_script.c: bytes the Lua state holds now (INFO used_memory_lua). */
size_t bndr_script_memory(void);

/* ---------------------------------------------------------------- streams (cmd_stream.c) */
struct bndr_stream *bndr_stream_new(void);
void bndr_stream_free(struct bndr_stream *s);
size_t bndr_stream_usage(const struct bndr_stream *s); /* MEMORY USAGE estimate */
/* Serves the XREAD/XREADGROUP clients blocked on key k (a stream); called by serve_ready_keys. */
void bndr_stream_serve_ready(struct bndr_server *s, const char *k, size_t n);
void bndr_stream_unblocked(struct bndr_client *c); /* frees c->bstream */
/* AOF rewrite of one stream key through put (aof.c's command writer); 0 ok, -1 write error. */
int bndr_stream_rewrite(FILE *f, const char *k, size_t kn, const struct bndr_stream *s,
                        int (*put)(FILE *, int, const struct bndr_arg *));
/* Snapshot payload (format at the top of cmd_stream.c); restore returns NULL if malformed. */
void bndr_stream_dump(const struct bndr_stream *s, struct bndr_buf *b);
struct bndr_stream *bndr_stream_restore(const void *p, size_t n);

/* ---------------------------------------------------------------- persistence */
/* aof.c */
int bndr_aof_open(struct bndr_server *s);
int bndr_aof_load(struct bndr_server *s, const char *path);
void bndr_aof_feed(struct bndr_server *s, int argc, const struct bndr_arg *argv);
int bndr_aof_flush(struct bndr_server *s); /* write (and fsync for always) before replies */
void bndr_aof_cron(struct bndr_server *s);
int bndr_aof_rewrite_start(struct bndr_server *s);
void bndr_aof_child_done(struct bndr_server *s, pid_t pid, int ok);
void bndr_aof_close(struct bndr_server *s);
int bndr_aof_set_enabled(struct bndr_server *s, int on);
/* Writes the dataset as commands (used by rewrite; also exposed for tests). */
int bndr_aof_write_dataset(struct bndr_server *s, FILE *f); /* every database, SELECT before each */
/* snapshot.c */
int bndr_snapshot_save(struct bndr_server *s, const char *path); /* every database */
int bndr_snapshot_load(struct bndr_server *s, const char *path);
int bndr_snapshot_bgsave(struct bndr_server *s);
void bndr_snapshot_child_done(struct bndr_server *s, pid_t pid, int ok);
/* config.c */
int bndr_config_get(struct bndr_client *c, const char *pat, size_t n, struct bndr_buf *out, long *count);
/* The value of a Redis parameter bunder accepts without using it (hash-max-listpack-entries …),
 * NULL if name is not one; valid until the next CONFIG SET. */
const char *bndr_config_compat(const char *name);
unsigned bndr_config_generation(void); /* changes whenever one of those changes */
int bndr_config_set(struct bndr_server *s, const char *name, const char *val, char *err,
                    size_t errcap);
/* http.c */
int bndr_http_start(struct bndr_server *s, char *err, size_t errcap);
void bndr_http_stop(struct bndr_server *s);
/* buncast.c: key changes published to buncast topic kv.<project-id> (never blocks) */
struct bndr_bcast_stats {
    int enabled, connected;
    uint64_t published, dropped, errors, queued;
};
int bndr_bcast_start(struct bndr_server *s, char *err, size_t errcap);
/* handoff.c: client sockets passed by bunder-manager over --handoff-fd (format at the top of
 * handoff.c). start: BB_EINVAL if the fd is not a SOCK_SEQPACKET unix socket. report: sends the
 * client counts to the manager when they changed (cron). */
int bndr_handoff_start(struct bndr_server *s, char *err, size_t errcap);
void bndr_handoff_stop(struct bndr_server *s);
void bndr_handoff_report(struct bndr_server *s);
/* Takes the client frames waiting on the channel now, outside the loop (a busy script). */
void bndr_handoff_poll_now(struct bndr_server *s);
/* server.c: makes fd (ownership taken, closed on any failure) a client of the server: flags
 * BNDR_HO_* from handoff.c, resp 2|3, name (borrowed, may be NULL), pending bytes (borrowed) are
 * parsed before anything read from the socket. Returns 0 or a negative BB_E* code. */
int bndr_client_adopt(struct bndr_server *s, int fd, unsigned flags, int resp, const char *name,
                      size_t name_len, const char *pending, size_t pending_len);
enum bndr_ho_flags {
    BNDR_HO_REPLY_OK = 1 << 0, /* the client sent AUTH: answer +OK before anything else */
    BNDR_HO_HELLO = 1 << 1,    /* the client sent HELLO … AUTH: answer HELLO's map first */
};
/* cmd_server.c: the HELLO reply map for c (its resp and id). */
void bndr_hello_reply(struct bndr_client *c);
void bndr_bcast_stop(struct bndr_server *s);
void bndr_bcast_notify(struct bndr_server *s, const char *op, const char *k, size_t n);
void bndr_bcast_stats(struct bndr_server *s, struct bndr_bcast_stats *st);
/* path helpers */
int bndr_path(const struct bndr_server *s, const char *file, char *buf, size_t cap);

#endif
