/* fn_internal.h — the functions service's private interfaces.
 *
 * Modules: functions_config.c (knobs), fn_store.c (SQLite: functions, versions, invocations,
 * per-minute metrics), fn_pool.c (worker processes and per-function pools), functions.c (routes,
 * handlers, the service definition).
 *
 * Locks: fn_store has one mutex around its connection; fn_pools has one mutex (pools, workers,
 * counters) and a condition variable for waiters. Never hold the pools' mutex while talking to a
 * worker or to SQLite. Order when both: pools, then store (never needed today).
 */
#ifndef FN_INTERNAL_H
#define FN_INTERNAL_H

#include "bb_identity.h"
#include "bb_knobs.h"
#include "bb_proc.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct json_t;
struct bb_knob;
struct bb_runtime;
struct bb_http_request;
struct bb_http_response;

#define FN_NAME_MAX 64

/* The runtime a version runs on (chosen at deploy; docs/functions.md, capability matrix). */
enum fn_runtime { FN_RUNTIME_QUICKJS = 0, FN_RUNTIME_BUN = 1 };
static inline const char *fn_runtime_name(int r)
{
    return r == FN_RUNTIME_BUN ? "bun" : "quickjs";
}

#define FN_MAX_LIBS 24

struct fn_config {
    char worker_path[1024];    /* BUNBASE_FUNCTIONS_WORKER_PATH */
    uint64_t max_body_bytes;   /* BUNBASE_FUNCTIONS_MAX_BODY_BYTES: request and response bodies */
    uint64_t max_bundle_bytes; /* BUNBASE_FUNCTIONS_MAX_BUNDLE_BYTES */
    uint64_t timeout_ms;       /* BUNBASE_FUNCTIONS_TIMEOUT_MS: one invocation */
    uint64_t start_timeout_ms; /* BUNBASE_FUNCTIONS_START_TIMEOUT_MS: spawn to READY */
    uint64_t memory_mb;        /* BUNBASE_FUNCTIONS_MEMORY_MB: JS heap of one worker */
    uint64_t min_warm;         /* BUNBASE_FUNCTIONS_MIN_WARM: per function */
    uint64_t max_workers;      /* BUNBASE_FUNCTIONS_MAX_WORKERS: per function */
    uint64_t project_concurrency; /* BUNBASE_FUNCTIONS_PROJECT_CONCURRENCY */
    uint64_t queue_max;     /* BUNBASE_FUNCTIONS_QUEUE_MAX: waiting invocations per function */
    uint64_t queue_wait_ms; /* BUNBASE_FUNCTIONS_QUEUE_WAIT_MS */
    uint64_t idle_ms;       /* BUNBASE_FUNCTIONS_IDLE_MS: idle workers above min are reaped */
    uint64_t log_retention_hours; /* BUNBASE_FUNCTIONS_LOG_RETENTION_HOURS */
    uint64_t max_log_bytes;    /* BUNBASE_FUNCTIONS_MAX_LOG_BYTES: console output kept per call */
    uint64_t max_functions;    /* BUNBASE_FUNCTIONS_MAX_PER_PROJECT */
    uint64_t max_versions;     /* BUNBASE_FUNCTIONS_MAX_VERSIONS: kept per function */
    uint64_t log_queue;        /* BUNBASE_FUNCTIONS_LOG_QUEUE: invocation records not yet written */
    char fetch_allow[1024];    /* BUNBASE_FUNCTIONS_FETCH_ALLOW: host[:port],… fetch may reach */
    uint64_t fetch_max;        /* BUNBASE_FUNCTIONS_FETCH_MAX: fetches per invocation */
    uint64_t max_env_vars;     /* BUNBASE_FUNCTIONS_MAX_ENV_VARS: per function */
    uint64_t max_env_bytes;    /* BUNBASE_FUNCTIONS_MAX_ENV_BYTES: names + values per function */
    char bun_path[1024];       /* BUNBASE_FUNCTIONS_BUN_PATH: bun for the "bun" runtime */
    char bun_worker[1200];     /* <data>/functions/bun-worker.js (written at start) */
    char sandbox_mode[8];      /* BUNBASE_FUNCTIONS_SANDBOX: auto | bwrap | none */
    char bwrap_path[256];      /* BUNBASE_FUNCTIONS_BWRAP_PATH */
    uint64_t token_ttl_ms;     /* BUNBASE_FUNCTIONS_TOKEN_TTL_MS: BunBase.admin()'s project token */
    char gateway_url[512];     /* BUNBASE_FUNCTIONS_GATEWAY_URL (default: the gateway's own URL) */
    uint64_t cron_interval_ms; /* BUNBASE_FUNCTIONS_CRON_INTERVAL_MS: 0 = no cron clock */
    uint64_t max_schedules;    /* BUNBASE_FUNCTIONS_MAX_SCHEDULES: per function */
    uint64_t trigger_workers;  /* BUNBASE_FUNCTIONS_TRIGGER_WORKERS */
    uint64_t trigger_queue;    /* BUNBASE_FUNCTIONS_TRIGGER_QUEUE */
    char zoneinfo_dir[256];    /* BUNBASE_FUNCTIONS_ZONEINFO_DIR */
    uint64_t max_doc_triggers; /* BUNBASE_FUNCTIONS_MAX_DOC_TRIGGERS: per function */
    uint64_t doc_max_attempts; /* BUNBASE_FUNCTIONS_DOC_MAX_ATTEMPTS: then a dead letter */
    uint64_t doc_retry_ms;     /* BUNBASE_FUNCTIONS_DOC_RETRY_MS: first retry delay (doubles) */
    uint64_t doc_retry_max_ms; /* BUNBASE_FUNCTIONS_DOC_RETRY_MAX_MS */
    char rpc_addr[128];        /* BUNBASE_FUNCTIONS_RPC_ADDR: "" = no RPC listener */
    uint64_t bundle_max_files; /* BUNBASE_FUNCTIONS_BUNDLE_MAX_FILES: entries of a tarball */
    uint64_t bundle_max_unpacked; /* BUNBASE_FUNCTIONS_BUNDLE_MAX_UNPACKED_BYTES */
    uint64_t bun_base_mb;      /* BUNBASE_FUNCTIONS_BUN_BASE_MB: a Bun worker's address space
                                * is 2 * MEMORY_MB + this */
    char worker_user[64];      /* BUNBASE_FUNCTIONS_WORKER_USER: the workers' system user */
    /* decided at start (fn_sandbox_probe) */
    int sandbox;         /* 1: workers run inside bubblewrap */
    int switch_user;     /* 1: workers become `user` (we are root) */
    struct bb_proc_user user;
    /* the libraries the sandbox shows besides the executables and the bundle (ldd at start),
     * src path -> dst path: libs[0, nworker_libs) those the QuickJS worker (also Bun's launcher)
     * links — all a QuickJS worker sees; libs[0, nlibs) adds those bun links — Bun's view */
    size_t nlibs, nworker_libs;
    struct fn_mount {
        char src[256], dst[256];
    } libs[FN_MAX_LIBS];
    int sandbox_refused; /* 1: no sandbox and not allowed to run without: 503 */
    int worker_missing;  /* 1: bunbase-qjs-worker was not built: 503 */
    char sandbox_why[384];
};

/* 0, or BB_EINVAL with err naming the knob. */
extern const struct bb_knob fn_knobs[]; /* functions_config.c */
int fn_config_load(struct fn_config *c, char *err, size_t errcap);

/* fn_bundle.c: extracts a tarball (gzip or plain tar, in memory) into the existing directory root,
 * refusing unsafe entries (absolute paths, "..", links, devices) and more than max_files entries
 * or max_bytes of data. 0, or BB_EINVAL / BB_EIO / BB_ENOMEM with a one-line reason in msg (root
 * may hold a partial tree: the caller removes it). */
int fn_bundle_extract(const void *data, size_t len, const char *root, uint64_t max_files,
                      uint64_t max_bytes, char *msg, size_t cap);
/* Makes a bundle directory readable by the workers' user: directories 0755, regular files 0644
 * (nothing else; symbolic links are never followed). 0 or BB_EIO. */
int fn_bundle_share(const char *root);
/* The frame limit the worker and the service agree on: a body plus headers and framing. */
uint64_t fn_config_max_frame(const struct fn_config *c);

/* ------------------------------------------------------------------ sandbox (fn_sandbox.c) */

/* Decides cfg->sandbox / sandbox_refused / sandbox_why from the mode and a probe run of bwrap.
 * BB_EINVAL (err set) when the mode is "bwrap" and it cannot work. */
int fn_sandbox_probe(struct fn_config *cfg, char *err, size_t errcap);

#define FN_SANDBOX_MAX_FILES 4
struct fn_sandbox_argv {
    char *argv[384];
    char uid[16], gid[16];
    /* the directories above each bound path, made 0755 in the sandbox (bwrap as root would make
     * them 0700, closed to the worker's user) */
    char pool[8192];
    size_t used;
    char *made[64];
    size_t nmade;
};
/* The command line that runs inner (NULL-terminated; inner[0] the executable, the QuickJS worker:
 * it is also Bun's launcher) inside the sandbox when cfg->sandbox, else inner itself. QuickJS
 * (runtime FN_RUNTIME_QUICKJS): only the libraries the worker links (cfg->libs[0, nworker_libs));
 * Bun: those and the ones bun links (cfg->libs[0, nlibs)); both: inner[0] and files
 * (NULL-terminated, at most FN_SANDBOX_MAX_FILES: the bundle's directory, the Bun worker script,
 * bun) read-only; no network, own pid/ipc/uts namespaces, no capabilities, dies with its parent;
 * when cfg->switch_user, inner[0] gets "--user UID GID" first and becomes that user before
 * anything else. The result borrows inner and cfg. */
void fn_sandbox_command(const struct fn_config *cfg, int runtime, const char *const *files,
                        char *const *inner, struct fn_sandbox_argv *out);

/* ------------------------------------------------------------------ store (fn_store.c) */

struct fn_store;

struct fn_version_info {
    int64_t version;
    char sha256[65];
    int64_t size;
    int64_t created_ms;
};

struct fn_invocation {
    char id[32];
    const char *project_id, *name;
    int64_t version;
    int64_t started_ms, duration_ms;
    int status;        /* HTTP status answered */
    int cold;          /* 1: a worker was started for it */
    const char *error; /* code or NULL */
    const char *logs;  /* console output (bounded) or NULL */
    size_t logs_len;
    char trigger[16]; /* "http" (or ""), "cron", "document" */
};

/* Opens <dir>/functions.db (WAL) and starts its writer thread; max_queued bounds the invocation
 * records waiting to be written. */
int fn_store_open(const char *dir, size_t max_queued, struct fn_store **out, char *err,
                  size_t errcap);
void fn_store_close(struct fn_store *s);
/* Records a new version (or finds the one with the same content: *created 0). Active version
 * becomes it when activate. */
int fn_store_add_version(struct fn_store *s, const char *pid, const char *name, const char *sha,
                         int64_t size, int runtime, uint64_t max_functions, int activate,
                         int64_t *version, int *created);
/* Active version of a function: 0 with *version (0: none active) and *runtime (may be NULL),
 * BB_ENOTFOUND. */
int fn_store_active(struct fn_store *s, const char *pid, const char *name, int64_t *version,
                    int *runtime);
/* Sets the active version (must exist): BB_ENOTFOUND. */
int fn_store_activate(struct fn_store *s, const char *pid, const char *name, int64_t version);
/* The newest version older than the active one: BB_ENOTFOUND when none. */
int fn_store_previous(struct fn_store *s, const char *pid, const char *name, int64_t *version);
/* JSON views (new references) */
int fn_store_get(struct fn_store *s, const char *pid, const char *name, struct json_t **out);
int fn_store_list(struct fn_store *s, const char *pid, struct json_t **out);
int fn_store_versions(struct fn_store *s, const char *pid, const char *name, struct json_t **out);
int fn_store_logs(struct fn_store *s, const char *pid, const char *name, int64_t limit,
                  struct json_t **out);
int fn_store_metrics(struct fn_store *s, const char *pid, const char *name, int64_t minutes,
                     struct json_t **out);
int fn_store_delete(struct fn_store *s, const char *pid, const char *name);
/* Versions beyond the newest keep (never the active one): their numbers, to delete bundles. */
int fn_store_prune_versions(struct fn_store *s, const char *pid, const char *name, uint64_t keep,
                            int64_t *out, size_t cap, size_t *n);
/* Queues a copy of inv for the writer thread: 0, BB_ELIMIT (queue full: dropped and counted),
 * BB_ENOMEM. Never blocks on SQLite. */
int fn_store_record(struct fn_store *s, const struct fn_invocation *inv);
/* Waits until every record queued before the call is written (or dropped). */
void fn_store_flush(struct fn_store *s);
uint64_t fn_store_dropped(struct fn_store *s);
/* A function's environment, sealed (libsodium secretbox with the store's key, <dir>/env.key):
 * set replaces it (env: an object of strings, borrowed); get gives a new object (values in clear,
 * for the spawn only; {} when none); names gives a new array of the names alone. */
int fn_store_env_set(struct fn_store *s, const char *pid, const char *name,
                     const struct json_t *env, char *err, size_t errcap);
/* With bun-kms in this process (set once at start, before any other call), the variables are kept
 * there (secret fn.<name>.env in the project's namespace, as the system identity) instead of
 * sealed here; get then reads them from bun-kms (BB_EUNAVAIL for a row in bun-kms when it is not
 * set). migrate moves every row still sealed here into bun-kms (*moved: how many); drop deletes a
 * function's secret from bun-kms (its row goes with fn_store_delete). */
struct bun_kms;
void fn_store_set_kms(struct fn_store *s, struct bun_kms *kms);
int fn_store_env_migrate(struct fn_store *s, size_t *moved, char *err, size_t errcap);
int fn_store_env_drop(struct fn_store *s, const char *pid, const char *name);
int fn_store_env_get(struct fn_store *s, const char *pid, const char *name, struct json_t **out);
int fn_store_env_names(struct fn_store *s, const char *pid, const char *name, struct json_t **out);
/* Cron schedules of a function (table cron): set replaces them (list: array of {schedule,
 * timezone}, validated by the caller; a schedule kept unchanged keeps its last fired slot, a new
 * one gets now_slot, so it first fires in the next minute); list gives {schedule, timezone,
 * last_fired_ms}; all gives every row of an active function {project_id, name, idx, schedule,
 * timezone, last_slot}; claim moves a schedule's last fired slot to slot when it is older — 0 (the
 * caller fires it), BB_EEXIST (already fired for that slot: by another pass, or before a
 * restart). Slots are minutes since the epoch (UTC). */
int fn_store_cron_set(struct fn_store *s, const char *pid, const char *name,
                      const struct json_t *list, int64_t now_slot);
int fn_store_cron_list(struct fn_store *s, const char *pid, const char *name, struct json_t **out);
int fn_store_cron_all(struct fn_store *s, struct json_t **out);
int fn_store_cron_claim(struct fn_store *s, const char *pid, const char *name, int64_t idx,
                        int64_t slot);
/* Document triggers (tables doc_triggers, doc_deliveries, state). Operations are bits: create 1,
 * update 2, delete 4 (fn_doc_op_bit: 0 for anything else).
 *   set       replaces a function's triggers (list: [{collection, ops}], validated by the caller)
 *   list      {"triggers": [{collection, operations}], "deliveries": {pending, delivered, dead},
 *             "dead_letters": [the last 20 {event_id, attempts, last_status, last_error,
 *             updated_ms, body}]}
 *   all       every trigger of an active function: [{project_id, name, collection, ops}]
 *   record    one received event for the n functions it matches, in one transaction with the
 *             cursor (the event id, to resume the subscription from after a restart): INSERT OR
 *             IGNORE on (event_id, project, function) — the dedup: a replayed event adds nothing;
 *             *added: the new deliveries
 *   cursor    the last recorded event id ("" when none)
 *   recover   deliveries left running by a crash go back to pending, marked redelivered
 *   claim     up to max pending deliveries due at now_ms: [{event_id, project_id, name, body,
 *             attempts (before this one), redelivered}], each marked running, its attempt counted;
 *             per function only its oldest unfinished delivery (rowid order: the order the events
 *             were recorded), and only when none of its is running — so one function's events
 *             run one at a time, in event order, whatever the number of trigger threads (a
 *             failing one holds the later ones until it is done or dead)
 *   finish    a delivery's outcome: state "done", "pending" (retry at next_ms) or "dead" */
int fn_doc_op_bit(const char *op);
int fn_store_doc_set(struct fn_store *s, const char *pid, const char *name,
                     const struct json_t *list);
int fn_store_doc_list(struct fn_store *s, const char *pid, const char *name, struct json_t **out);
int fn_store_doc_all(struct fn_store *s, struct json_t **out);
int fn_store_doc_record(struct fn_store *s, const char *event_id, const char *const *pids,
                        const char *const *names, size_t n, const char *body, size_t len,
                        int64_t now_ms, size_t *added);
int fn_store_doc_cursor(struct fn_store *s, char *out, size_t cap);
int fn_store_doc_recover(struct fn_store *s);
int fn_store_doc_claim(struct fn_store *s, int64_t now_ms, size_t max, struct json_t **out);
int fn_store_doc_finish(struct fn_store *s, const char *event_id, const char *pid, const char *name,
                        const char *state, int status, const char *error, int64_t next_ms,
                        int64_t now_ms);
/* Deletes invocations and metrics older than cutoff_ms. */
int fn_store_retention(struct fn_store *s, int64_t cutoff_ms);

/* ------------------------------------------------------------------ pools (fn_pool.c) */

struct fn_pools;

struct fn_pools_opts {
    const struct fn_config *cfg; /* borrowed */
    const char *data_dir;        /* <data>/functions */
    struct fn_store *store;      /* borrowed: the functions' environments, read at spawn */
};

int fn_pools_new(const struct fn_pools_opts *o, struct fn_pools **out);
/* Kills every worker and frees. */
void fn_pools_free(struct fn_pools *p);

/* One invocation's request and result. */
struct fn_call {
    /* in (borrowed) */
    const char *project_id, *name;
    int64_t version; /* the active version */
    int runtime;     /* enum fn_runtime of that version */
    const char *invocation_id;
    const char *method, *url;
    const struct bb_http_header_pair {
        const char *name, *value;
    } * headers;
    size_t nheaders;
    const void *body;
    size_t body_len;
    /* the invocation's context (docs/functions.md, BunBase.admin()); NULL: none */
    const char *request_id;  /* X-Request-Id of the request that invoked it: propagated */
    const char *gateway_url; /* where BunBase.admin() sends its calls (through the fetch proxy) */
    const char *token;       /* bbf_… project token (bun_auth.h), short-lived */
    /* out (owned: fn_call_release) */
    int status;
    char **hdr_names, **hdr_values;
    size_t nhdrs;
    char *resp_body;
    size_t resp_len;
    int cold;
    const char *error_code; /* static; NULL on success */
    char *error_msg;        /* NULL on success */
    int retry_after_s;      /* for 429 */
    char *logs;
    size_t logs_len;
};
void fn_call_release(struct fn_call *c);

/* Runs c on a worker of (project, name, version): acquires one (warm, else spawns), sends the
 * request, waits for the answer. Always fills c->status (200-599 from the function, or an error
 * status with error_code: 429 queue full, 502 function_crashed, 504 function_timeout, 500
 * function_error / function_out_of_memory, 503 worker_unavailable). Blocking: call from a worker
 * thread. */
void fn_pools_invoke(struct fn_pools *p, struct fn_call *c);
/* A new version is active (or the function is gone): idle workers of other versions are killed,
 * busy ones are killed when they finish (in-flight calls end on the version they started on). */
void fn_pools_retire(struct fn_pools *p, const char *pid, const char *name, int64_t keep_version,
                     int runtime);
/* The active version as the pools know it (set by fn_pools_retire and the first invocation):
 * 0 with *version, BB_ENOTFOUND when unknown (then ask the store). Saves a SQLite read per call. */
int fn_pools_active(struct fn_pools *p, const char *pid, const char *name, int64_t *version,
                    int *runtime);
/* The function's environment changed: idle workers stop now, busy ones when their call ends. */
void fn_pools_restart(struct fn_pools *p, const char *pid, const char *name);
/* Reaps idle workers over cfg->idle_ms (keeping min_warm) and dead ones. Any thread. */
void fn_pools_reap(struct fn_pools *p);
/* Parses a RESPONSE payload (fn_proto.h) from a worker — untrusted bytes — into c's status,
 * headers and body (owned by c: fn_call_release); 0, or -1 on a malformed payload (c may hold a
 * part: release it). */
int fn_parse_response(struct fn_call *c, const uint8_t *pl, size_t len);
/* 1 when url (http or https) names a host on the comma-separated allow list ("host" any port,
 * "host:port" that one). */
int fn_fetch_allowed(const char *allow, const char *url);
/* JSON counters for /health. */
struct json_t *fn_pools_stats(struct fn_pools *p);

/* ------------------------------------------------------------------ triggers (fn_trigger.c) */

struct fn_triggers;
/* Runs one invocation of (pid, name) that no HTTP request started: POST with a JSON body
 * (borrowed), trigger "cron" or "document" recorded in its log. Returns the HTTP status (a 4xx/5xx
 * of the function counts as a failure). Blocking; any thread. */
typedef int (*fn_trigger_invoke_fn)(void *arg, const char *pid, const char *name,
                                    const char *trigger, const char *body, size_t len);
struct fn_triggers_opts {
    const struct fn_config *cfg; /* borrowed */
    struct fn_store *store;      /* borrowed */
    fn_trigger_invoke_fn invoke;
    void *arg;
    const char *buncast_addr; /* "unix:<data>/buncast.sock" (NULL/"": no document triggers) */
    const char *token;        /* the internal token, for buncast */
};
/* Starts the trigger workers and (when cfg->cron_interval_ms) the cron clock. */
int fn_triggers_new(const struct fn_triggers_opts *o, struct fn_triggers **out);
/* Stops the clock, runs what is queued, frees. */
void fn_triggers_free(struct fn_triggers *t);
/* One cron pass at now_ms (the clock thread's, or a test's through the debug route): fires every
 * schedule matching that minute not yet fired for it. run_inline: invoke here and wait (the debug
 * route), else queue. *fired (may be NULL): new array [{project_id, name, idx, status}]. */
int fn_triggers_cron_pass(struct fn_triggers *t, int64_t now_ms, int run_inline,
                          struct json_t **fired);
struct json_t *fn_triggers_stats(struct fn_triggers *t);
/* The document triggers changed (set, function deleted or deployed): reload the in-memory copy. */
int fn_triggers_reload(struct fn_triggers *t);

/* The bundle file of a version: <data_dir>/<pid>/<name>/<version>/index.js */
int fn_bundle_path(const char *data_dir, const char *pid, const char *name, int64_t version,
                   char *out, size_t cap);

#endif
