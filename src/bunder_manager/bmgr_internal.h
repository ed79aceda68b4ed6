/* bmgr_internal.h — private declarations of the bunder-manager service (prefix bmgr_).
 *
 * Files:
 *   bunder_manager.c  service start/stop/health, configuration, metrics, the manager object
 *   bmgr_child.c      per-project child processes: one slot per open instance of core's registry
 *                     (bb_instances: single flight, references, limit, idle eviction), port pool,
 *                     spawn and stop through core's supervised child (bb_proc_child), readiness
 *                     probe, SIGCHLD, crash restart with backoff, orphan cleanup, acquire
 *   bmgr_relay.c      the public RESP endpoint: pre-AUTH commands, then a byte relay to a child
 *   bmgr_api.c        HTTP routes, internal RPC (ProxyKV), SSE subscriptions, the KV operations
 *   bmgr_proto.c      pre-AUTH commands through core's RESP parser (bb_resp), the blocking RESP
 *                     client, the keys-file verifier (percent-decoding, project ids, base64: core)
 *
 * Threading: the manager lives on the bunbased loop thread. m->mtx guards every slot field that
 * worker threads read or write (state, port, secret, gen, idle connection cache) plus the queue
 * of acquire requests coming from worker threads. Loop-thread functions take the lock around
 * their work and complete waiters only after dropping it. Lock order: the registry's lock, then
 * m->mtx (the registry asks in_use under its lock); so nothing calls into the registry while
 * holding m->mtx. Only the loop thread links, unlinks and frees slots.
 * See docs/internals/bunder-manager.md.
 */
#ifndef BMGR_INTERNAL_H
#define BMGR_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "bb_id.h"
#include "bb_instances.h"
#include "bb_proc.h"
#include "bb_service.h"

#define BMGR_MAX_PROJECT BB_PROJECT_ID_MAX /* project ids: bb_project_id_valid (bb_id.h) */
#define BMGR_SECRET_CAP 48       /* internal requirepass secret (32 chars + NUL) */
#define BMGR_MAX_KEY 8192        /* key bytes over HTTP / RPC */
#define BMGR_MAX_PATTERN 1024    /* keys?pattern= */
#define BMGR_MAX_LIST 100000     /* keys returned by one listing */
#define BMGR_PREAUTH_MAX 16384   /* bytes buffered from a client before AUTH */
#define BMGR_PREAUTH_ARGS 16     /* arguments of one pre-AUTH command */
#define BMGR_PREAUTH_TIMEOUT_MS 30000
#define BMGR_PREAUTH_MAX_FAILS 10
#define BMGR_STOP_GRACE_MS 5000  /* SIGTERM → SIGKILL */
#define BMGR_BACKOFF_BASE_MS 100
#define BMGR_BACKOFF_MAX_MS 10000
#define BMGR_STABLE_MS 10000     /* a child up this long resets its failure count */
#define BMGR_MAX_FAILURES 5      /* consecutive failed starts/crashes before FAILED */
#define BMGR_MAX_START_ATTEMPTS 3 /* exits before readiness (e.g. port raced) per start */
#define BMGR_CONN_CACHE 8        /* idle blocking connections kept per child */
#define BMGR_IO_TIMEOUT_MS 10000 /* blocking client I/O toward a child */
#define BMGR_MAX_SUBSCRIBERS 1024

/* ------------------------------------------------------------------ proto (bmgr_proto.c) */

/* Percent-decodes src[0..n) into dst (cap bytes); '+' stays '+'. Returns the decoded length, or
 * BB_EINVAL (bad escape) / BB_ETOOBIG (over cap). dst may hold any bytes incl. NUL. */

/* Standard base64 (RFC 4648 §4, with padding). encode: malloc'd NUL-terminated string (caller
 * frees) or NULL on ENOMEM. decode: strict (padding optional, no whitespace); *out malloc'd
 * (caller frees), returns 0, BB_EINVAL or BB_ENOMEM. */

/* One pre-AUTH command from buf[0..len), parsed by core's RESP request parser (bb_resp.h: arrays
 * of bulk strings and inline commands) under the pre-AUTH bounds. p is the caller's parser (reset
 * here; inline arguments live in it until its next use). Returns 1 with argv/lens filled
 * (pointing into buf or p) and *consumed set; 0 when more bytes are needed; BB_EPROTO on
 * malformed input; BB_ETOOBIG when a command exceeds BMGR_PREAUTH_ARGS arguments or
 * BMGR_PREAUTH_MAX bytes; BB_ENOMEM. *err (may be NULL) gets the Redis-worded reason. */
struct bb_resp_parser;
int bmgr_resp_parse(struct bb_resp_parser *p, const char *buf, size_t len, size_t *consumed,
                    const char **argv, size_t *lens, size_t *argc, const char **err);

/* Blocking RESP client (worker threads) toward one child. */
struct bmgr_rc {
    int fd;
    uint64_t gen; /* the child generation it was opened against */
    char *buf;    /* read buffer [off, len) */
    size_t off, len, cap;
    struct bmgr_rc *next;
};

enum bmgr_reply_type { BMGR_R_STATUS, BMGR_R_ERROR, BMGR_R_INT, BMGR_R_BULK, BMGR_R_NIL,
                       BMGR_R_ARRAY };

struct bmgr_reply {
    enum bmgr_reply_type type;
    long long integer;
    char *str; /* STATUS/ERROR/BULK: malloc'd, NUL-terminated, len bytes */
    size_t len;
    struct bmgr_reply *elems; /* ARRAY: n replies (flat, one level) */
    size_t n;
};

/* Connects to 127.0.0.1:port and AUTHs with secret. Returns 0 and *out (bmgr_rc_free), BB_EUNAVAIL
 * (refused, reset, EOF), BB_ETIMEDOUT, BB_EAUTH (secret refused), BB_ENOMEM. */
int bmgr_rc_connect(int port, const char *secret, uint64_t gen, int timeout_ms,
                    struct bmgr_rc **out);
void bmgr_rc_free(struct bmgr_rc *c);
/* Sends one command and reads its reply. max_bulk bounds bulk strings, max_elems arrays (BB_ETOOBIG
 * beyond: the connection is then unusable). Errors as bmgr_rc_connect, plus BB_EPROTO. */
int bmgr_rc_command(struct bmgr_rc *c, size_t argc, const char *const *argv, const size_t *lens,
                    size_t max_bulk, size_t max_elems, struct bmgr_reply *r);
void bmgr_reply_release(struct bmgr_reply *r);

/* Key verifier: a small vtable so the platform's key check can replace the keys file. */
struct bmgr_verifier {
    /* 0 = the key opens the project; BB_EAUTH otherwise. Loop thread. */
    int (*verify)(void *ctx, const char *project, const char *key, size_t key_len);
    void (*free)(void *ctx);
    void *ctx;
};

/* Keys file: lines "<projectId> <key>", '#' comments and blank lines ignored; re-read when its
 * mtime or size changes (checked at most once a second). path NULL/"" gives a verifier that
 * refuses everything. Errors: BB_EIO (unreadable; message in err), BB_ENOMEM. */
int bmgr_keys_file_verifier(const char *path, struct bmgr_verifier *out, char *err, size_t errcap);

/* ------------------------------------------------------------------ children (bmgr_child.c) */

enum bmgr_state {
    BMGR_STARTING, /* process spawned; readiness probe running */
    BMGR_READY,
    BMGR_STOPPING, /* SIGTERM sent (eviction, failed start, shutdown) */
    BMGR_BACKOFF,  /* crashed; restarted at backoff_until */
    BMGR_FAILED,   /* gave up after BMGR_MAX_FAILURES; retried on the next request */
};

const char *bmgr_state_name(enum bmgr_state s);

struct bmgr_slot;

/* A leased child: while held, a reference on its registry instance keeps it from eviction. */
struct bmgr_lease {
    struct bb_instance *inst;
    struct bmgr_slot *slot;
    int port;
    char secret[BMGR_SECRET_CAP];
    uint64_t gen;
};

struct bmgr_waiter;
/* Completion of an acquire, on the loop thread, never under m->mtx. rc 0: w->lease is filled and
 * one reference is held (give it back with bmgr_release). */
typedef void (*bmgr_waiter_cb)(struct bmgr_waiter *w, int rc);

struct bmgr_waiter {
    struct bb_instances_waiter iw; /* the registry's acquire */
    struct bmgr *m;
    struct bmgr_waiter *next;
    char project[BMGR_MAX_PROJECT + 1];
    bmgr_waiter_cb cb;
    void *arg;
    struct bmgr_lease lease;
    uint64_t deadline_ms;
    /* blocking waiters (worker threads) */
    uv_sem_t sem;
    int rc;
};

enum bmgr_stop_then { BMGR_THEN_FREE, BMGR_THEN_BACKOFF };

/* What the loop reports to the registry about a slot once m->mtx is dropped. */
enum bmgr_report { BMGR_REP_NONE, BMGR_REP_OPENED, BMGR_REP_OPEN_FAILED, BMGR_REP_CLOSED };

/* One project's child: the object of its registry instance (bb_instance_obj). */
struct bmgr_slot {
    struct bmgr_slot *next;
    char project[BMGR_MAX_PROJECT + 1];
    struct bb_instance *inst;
    int opening;   /* the registry's open of inst waits for this child to be ready */
    int open_rc;   /* opening, stopping: what the open fails with once the process is gone */
    int closing;   /* the registry asked to close it (eviction): STOPPING, then closed */
    enum bmgr_report report;
    struct bmgr_slot *report_next;
    enum bmgr_state state;
    struct bb_proc_child proc; /* core's supervised child: pid, pid file, stop escalation, backoff */
    int port;
    char secret[BMGR_SECRET_CAP];
    uint64_t gen;
    uint64_t ready_since_ms;
    uint64_t deadline_ms;   /* STARTING: readiness; STOPPING: SIGKILL */
    uint64_t backoff_until; /* BACKOFF */
    uint64_t failed_at_ms;
    unsigned failures;       /* consecutive */
    unsigned start_attempts; /* exits before readiness in the current start */
    enum bmgr_stop_then stop_then;
    uint64_t spawns, crashes, restarts;
    char last_error[128];
    struct bmgr_waiter *wq_head, *wq_tail; /* acquirers holding a reference, waiting for a
                                              restart (crash, failed) to be ready */
    /* readiness probe (non-blocking socket polled on the manager tick) */
    int probe_fd;
    int probe_phase;
    char probe_buf[128];
    size_t probe_len;
    /* idle blocking connections (workers) */
    struct bmgr_rc *idle;
    unsigned nidle;
    /* client socket handoff (socketpair end; -1 when the child has none or it broke) */
    int ho_fd;
    uint64_t ho_sent;     /* frames sent to the current process */
    uint64_t ho_received; /* the child's last report: frames it has taken */
    uint32_t ho_clients;  /* the child's last report: handed-off clients connected */
};

struct bmgr_metrics {
    struct bb_gauge *children_running;
    struct bb_counter *spawns, *crashes, *restarts, *evictions, *spawn_failures, *rejections;
    struct bb_counter *relay_conns_total;
    struct bb_gauge *relay_conns;
    struct bb_counter *relay_bytes_in, *relay_bytes_out;
    struct bb_counter *auth_failures;
    struct bb_counter *handoffs, *handoff_fallbacks;
    struct bb_gauge *handoff_clients;
};

/* our knobs as read (BUNBASE_BUNDER_MANAGER_*, BUNBASE_BUNDER_BIN: the table in
 * bunder_manager.c); struct bmgr_config is what start derives from them */
struct bmgr_knobs {
    char bunder_bin[1024];
    char resp_addr[256];
    char rpc_addr[256];
    char keys_file[1024];
    uint64_t port_base;
    uint64_t port_count;
    uint64_t max_children;
    uint64_t maxmemory_mb;
    uint64_t idle_ms;
    uint64_t start_timeout_ms;
    uint64_t max_connections;
    uint64_t max_value_bytes;
    uint64_t handoff;
};

struct bmgr_config {
    char bin[1024];
    char data_root[1100]; /* <data>/bunder/projects */
    int port_base, port_count;
    unsigned max_children;
    uint64_t maxmemory_mb;
    uint64_t idle_ms;
    uint64_t start_timeout_ms;
    unsigned max_connections;
    uint64_t max_value;
    int pdeathsig; /* 1: children get SIGTERM when bunbased dies (PR_SET_PDEATHSIG) */
    int handoff;   /* 1: children get --handoff-fd (the binary is bunder, not redis-server) */
    int is_bunder; /* 1: the binary is bunder; 0: a redis-server stand-in (tenant ACL in its conf) */
};

struct bmgr_sub;
struct bmgr_rconn;

struct bmgr {
    struct bb_runtime *rt;
    uv_loop_t *loop;
    struct bmgr_knobs k;
    struct bmgr_config cfg;
    struct bmgr_metrics met;
    atomic_int refs; /* see bmgr_ref */
    pthread_mutex_t mtx;
    int stopping;    /* under mtx */
    struct bb_instances *insts; /* core's per-project registry: one instance per child */
    struct bmgr_slot *slots;    /* the children of open (or opening) instances */
    uint8_t *port_used; /* port_count bytes */
    int port_cursor;
    struct bmgr_waiter *req_head, *req_tail; /* from workers, under mtx */
    uint64_t stat_spawns, stat_crashes, stat_restarts, stat_evictions;
    /* handles */
    uv_timer_t tick;
    uv_signal_t sigchld;
    uv_async_t async;
    int handles_open;
    int handles_closing;
    void (*stop_done)(struct bmgr *m);
    uint64_t last_slow_tick;
    /* child environment (built once) */
    char **child_env;
    /* RESP endpoint */
    uv_tcp_t resp;
    int resp_on;
    char resp_addr[256];
    char resp_error[160];
    int resp_port;
    struct bmgr_rconn *rconns; /* every open client connection (loop thread) */
    unsigned nrconns;
    char relay_buf[65536];
    struct bmgr_verifier verifier;
    /* HTTP / RPC */
    struct bb_route *routes;     /* our KV route table (body limit from config); owned */
    int http_port;
    struct bb_rpc_server *rpc;
    int rpc_port;
    /* SSE subscribers */
    pthread_mutex_t sub_mtx;
    struct bmgr_sub *subs;
    unsigned nsubs;
};

void bmgr_ref(struct bmgr *m);
void bmgr_unref(struct bmgr *m);

/* Set-up and teardown of the child machinery (loop thread). */
int bmgr_children_init(struct bmgr *m, char *err, size_t errcap);
/* Fails every waiter with BB_ECLOSED, SIGTERMs every child; handles close once all have exited
 * (SIGKILL after BMGR_STOP_GRACE_MS); then done(m) runs. */
void bmgr_children_stop(struct bmgr *m, void (*done)(struct bmgr *m));
void bmgr_children_release(struct bmgr *m);

/* Kills children left by a previous bunbased (pid files under root/<project>/bunder.pid whose
 * process start time still matches). Blocking, at start. Returns the number killed. */
int bmgr_orphans_cleanup(const char *root);

/* Acquire on the loop thread: completes w (possibly synchronously) via w->cb. */
void bmgr_acquire(struct bmgr *m, struct bmgr_waiter *w);
/* Acquire from a worker thread: blocks until the child is ready or the attempt failed. */
int bmgr_acquire_blocking(struct bmgr *m, const char *project, struct bmgr_lease *lease);
/* Gives a reference back (any thread). */
void bmgr_release(struct bmgr *m, struct bmgr_lease *lease);

/* Client socket handoff (loop thread), frame format in src/bunder/handoff.c. Sends client_fd
 * (borrowed: the caller closes its copy after success) with the connection state to the leased
 * child. Returns 0 once the child owns a copy of the socket; BB_EUNAVAIL when the child has no
 * handoff channel (redis-server, or it broke), BB_EBUSY when the channel is full, BB_ETOOBIG
 * when name/pending exceed the frame limits — in every error case nothing was sent and the
 * caller relays instead. */
#define BMGR_HO_REPLY_OK 1
#define BMGR_HO_HELLO 2
#define BMGR_HO_MAX_NAME 1024
#define BMGR_HO_MAX_PENDING 16384
int bmgr_handoff_send(struct bmgr *m, const struct bmgr_lease *lease, int client_fd,
                      unsigned flags, int resp, const char *name, size_t name_len,
                      const char *pending, size_t pending_len);

/* Blocking connection cache (worker threads). get: a cached connection of lease's generation or a
 * new one. put: back into the cache (or freed if stale / full / broken). */
int bmgr_conn_get(struct bmgr *m, const struct bmgr_lease *lease, struct bmgr_rc **out);
void bmgr_conn_put(struct bmgr *m, const struct bmgr_lease *lease, struct bmgr_rc *c, int broken);

/* Snapshot of one project's child for health answers: JSON object (caller owns) or NULL. */
struct json_t *bmgr_slot_json(struct bmgr *m, const char *project);
/* Service-wide counts into a JSON object (caller owns); *bad set when a child has FAILED. */
struct json_t *bmgr_children_json(struct bmgr *m, int *bad);

/* ------------------------------------------------------------------ relay (bmgr_relay.c) */

/* Binds the RESP listener at m->resp_addr. BB_EBUSY when in use (message in err). */
int bmgr_relay_start(struct bmgr *m, char *err, size_t errcap);
/* Closes the listener and every client connection. */
void bmgr_relay_stop(struct bmgr *m);
/* Closes pre-AUTH connections older than BMGR_PREAUTH_TIMEOUT_MS (called from the tick). */
void bmgr_relay_sweep(struct bmgr *m, uint64_t now);

/* ------------------------------------------------------------------ API (bmgr_api.c) */

int bmgr_api_start(struct bmgr *m, char *err, size_t errcap);
void bmgr_api_stop(struct bmgr *m);

/* DROP: every key of the project removed (FLUSHALL) and the AOF rewritten, so the data is gone
 * from disk too (the project was deleted). */
/* INCR: INCRBY key by, answered {"value"}. META: {"key","type","ttl_ms"} of one key (404 missing);
 * KEYS_META: the listing as [{"key","type","ttl_ms"}] — both one atomic script in the child. */
enum bmgr_op_kind {
    BMGR_OP_GET,
    BMGR_OP_SET,
    BMGR_OP_DEL,
    BMGR_OP_KEYS,
    BMGR_OP_HEALTH,
    BMGR_OP_DROP,
    BMGR_OP_INCR,
    BMGR_OP_META,
    BMGR_OP_KEYS_META
};

struct bmgr_op {
    enum bmgr_op_kind kind;
    const char *project; /* validated */
    const char *key;     /* any bytes */
    size_t key_len;
    const char *value;
    size_t value_len;
    const char *pattern; /* KEYS; NULL = "*" */
    size_t pattern_len;
    long long ttl_s;     /* SET: > 0 = expires after this many seconds (SET … EX) */
    long long by;        /* INCR: the increment */
};

struct bmgr_result {
    int status;
    const char *ctype; /* static */
    char *body;        /* malloc'd (caller frees) or NULL */
    size_t len;
};

/* Runs one KV operation (worker thread; blocks). Always fills res (errors as JSON bodies). */
void bmgr_op_run(struct bmgr *m, const struct bmgr_op *op, struct bmgr_result *res);

#endif
