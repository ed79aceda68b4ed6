/* functions_config.c — the functions service's knobs (BUNBASE_FUNCTIONS_*): one bb_knobs table
 * (bb_functions_service.knobs), read from the environment at start and validated; a bad value
 * stops the start with a message naming the knob. docs/configuration.md lists them. */
#include "fn_internal.h"
#include "bb_err.h"
#include "bb_knobs.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB (1024ull * 1024ull)
#ifndef BB_FN_DEFAULT_BUN
#define BB_FN_DEFAULT_BUN ""
#endif
#define U64(F, ENV, DFLT, MIN, MAX, HELP)                                                          \
    BB_KNOB_U64_ROW(struct fn_config, F, ENV, DFLT, MIN, MAX, HELP)

const struct bb_knob fn_knobs[] = {
    BB_KNOB_PATH_ROW(struct fn_config, worker_path, "BUNBASE_FUNCTIONS_WORKER_PATH", "",
                     "the QuickJS worker executable; empty: bunbase-qjs-worker beside bunbased"),
    U64(max_body_bytes, "BUNBASE_FUNCTIONS_MAX_BODY_BYTES", "6291456", 1024, 32 * MIB,
        "largest request or response body of one invocation, bytes"),
    U64(max_bundle_bytes, "BUNBASE_FUNCTIONS_MAX_BUNDLE_BYTES", "5242880", 64, 32 * MIB,
        "largest function bundle (the deployed JS file), bytes"),
    U64(timeout_ms, "BUNBASE_FUNCTIONS_TIMEOUT_MS", "10000", 10, 900000,
        "time limit of one invocation; past it the worker is killed and the caller gets 504"),
    U64(start_timeout_ms, "BUNBASE_FUNCTIONS_START_TIMEOUT_MS", "5000", 100, 120000,
        "time a new worker has to load its bundle (top-level code included)"),
    U64(memory_mb, "BUNBASE_FUNCTIONS_MEMORY_MB", "64", 4, 4096,
        "JavaScript heap limit of one worker, MiB"),
    U64(min_warm, "BUNBASE_FUNCTIONS_MIN_WARM", "0", 0, 64,
        "idle workers kept per function once it has run (never reaped)"),
    U64(max_workers, "BUNBASE_FUNCTIONS_MAX_WORKERS", "4", 1, 256,
        "workers (concurrent invocations) per function"),
    U64(project_concurrency, "BUNBASE_FUNCTIONS_PROJECT_CONCURRENCY", "16", 1, 4096,
        "concurrent invocations of all functions of one project"),
    U64(queue_max, "BUNBASE_FUNCTIONS_QUEUE_MAX", "32", 0, 100000,
        "invocations waiting for a worker per function; more get 429"),
    U64(queue_wait_ms, "BUNBASE_FUNCTIONS_QUEUE_WAIT_MS", "5000", 0, 600000,
        "longest wait for a worker before 429"),
    U64(idle_ms, "BUNBASE_FUNCTIONS_IDLE_MS", "300000", 100, 86400000,
        "idle time after which a worker above MIN_WARM is stopped"),
    U64(log_retention_hours, "BUNBASE_FUNCTIONS_LOG_RETENTION_HOURS", "72", 1, 24 * 365,
        "how long invocation logs and per-minute metrics are kept"),
    U64(max_log_bytes, "BUNBASE_FUNCTIONS_MAX_LOG_BYTES", "65536", 0, 16 * MIB,
        "console output kept per invocation (the rest is counted, not stored)"),
    U64(max_functions, "BUNBASE_FUNCTIONS_MAX_PER_PROJECT", "100", 1, 100000,
        "functions one project may have"),
    U64(max_versions, "BUNBASE_FUNCTIONS_MAX_VERSIONS", "20", 1, 10000,
        "versions kept per function (older inactive ones are deleted)"),
    U64(log_queue, "BUNBASE_FUNCTIONS_LOG_QUEUE", "10000", 1, 10000000,
        "invocation records waiting to be written to SQLite; more are dropped (and counted)"),
    BB_KNOB_STR_ROW(struct fn_config, fetch_allow, "BUNBASE_FUNCTIONS_FETCH_ALLOW", "",
                    "hosts fetch() may reach, comma-separated host or host:port; empty: none"),
    U64(fetch_max, "BUNBASE_FUNCTIONS_FETCH_MAX", "16", 0, 10000,
        "fetch() calls one invocation may make"),
    U64(max_env_vars, "BUNBASE_FUNCTIONS_MAX_ENV_VARS", "64", 0, 4096,
        "environment variables one function may have"),
    U64(max_env_bytes, "BUNBASE_FUNCTIONS_MAX_ENV_BYTES", "65536", 0, 16 * MIB,
        "names and values of one function's environment together, bytes"),
    BB_KNOB_PATH_ROW(struct fn_config, bun_path, "BUNBASE_FUNCTIONS_BUN_PATH", BB_FN_DEFAULT_BUN,
                     "bun for the bun runtime (default: the one scripts/setup.sh installed in the "
                     "source tree at build time); missing: bun deploys are refused"),
    BB_KNOB_CHOICE_ROW(struct fn_config, sandbox_mode, "BUNBASE_FUNCTIONS_SANDBOX", "auto",
                       "auto|bwrap|none",
                       "auto: bubblewrap when it works, else refuse to run functions; bwrap: "
                       "required (start fails without); none: no namespaces (trusted code only)"),
    BB_KNOB_PATH_ROW(struct fn_config, bwrap_path, "BUNBASE_FUNCTIONS_BWRAP_PATH", "/usr/bin/bwrap",
                     "the bubblewrap executable"),
    U64(token_ttl_ms, "BUNBASE_FUNCTIONS_TOKEN_TTL_MS", "300000", 1000, 86400000,
        "lifetime of the project token an invocation gets for BunBase.admin() (minted per call)"),
    BB_KNOB_STR_ROW(struct fn_config, gateway_url, "BUNBASE_FUNCTIONS_GATEWAY_URL", "",
                    "the gateway URL BunBase.admin() calls (http://host:port); empty: this "
                    "bunbased's own gateway"),
    U64(cron_interval_ms, "BUNBASE_FUNCTIONS_CRON_INTERVAL_MS", "1000", 0, 30000,
        "how often the cron clock looks at the time (a schedule fires in the first pass of its "
        "minute); 0: no clock (tests drive the schedules through the debug route)"),
    U64(max_schedules, "BUNBASE_FUNCTIONS_MAX_SCHEDULES", "8", 0, 1000,
        "cron schedules one function may have"),
    U64(trigger_workers, "BUNBASE_FUNCTIONS_TRIGGER_WORKERS", "2", 1, 64,
        "threads running the invocations of cron schedules and document triggers"),
    U64(trigger_queue, "BUNBASE_FUNCTIONS_TRIGGER_QUEUE", "1000", 1, 1000000,
        "triggered invocations waiting for a thread; a cron fire over it is dropped (counted)"),
    BB_KNOB_PATH_ROW(struct fn_config, zoneinfo_dir, "BUNBASE_FUNCTIONS_ZONEINFO_DIR",
                     "/usr/share/zoneinfo", "the TZ database the schedules' time zones come from"),
    U64(max_doc_triggers, "BUNBASE_FUNCTIONS_MAX_DOC_TRIGGERS", "8", 0, 1000,
        "document triggers (collection + operations) one function may have"),
    U64(doc_max_attempts, "BUNBASE_FUNCTIONS_DOC_MAX_ATTEMPTS", "5", 1, 100,
        "invocations of one document event before it becomes a dead letter"),
    U64(doc_retry_ms, "BUNBASE_FUNCTIONS_DOC_RETRY_MS", "1000", 10, 3600000,
        "delay before the first retry of a failed document event (doubles each attempt)"),
    U64(doc_retry_max_ms, "BUNBASE_FUNCTIONS_DOC_RETRY_MAX_MS", "60000", 10, 86400000,
        "longest delay between two attempts of a document event"),
    BB_KNOB_STR_ROW(struct fn_config, rpc_addr, "BUNBASE_FUNCTIONS_RPC_ADDR", "",
                    "internal RPC listener (host:port or unix:/path; port 0: any, published in "
                    "<data>/functions.addr); empty: none"),
    U64(bundle_max_files, "BUNBASE_FUNCTIONS_BUNDLE_MAX_FILES", "1000", 1, 100000,
        "entries (files and directories) a tarball bundle may hold; more: 400 invalid_bundle"),
    U64(bundle_max_unpacked, "BUNBASE_FUNCTIONS_BUNDLE_MAX_UNPACKED_BYTES", "33554432", 1024,
        1024 * MIB, "bytes of files a tarball bundle may unpack to; more: 400 invalid_bundle"),
    U64(bun_base_mb, "BUNBASE_FUNCTIONS_BUN_BASE_MB", "1024", 256, 65536,
        "address space a Bun worker gets on top of twice MEMORY_MB (Bun reserves more than "
        "QuickJS); over the bound the worker stops: 500 function_out_of_memory"),
    BB_KNOB_STR_ROW(struct fn_config, worker_user, "BUNBASE_FUNCTIONS_WORKER_USER", "nobody",
                    "system user the workers run as when bunbased is root (never root itself); "
                    "one that cannot be used: functions are refused (/health says why)"),
    BB_KNOBS_END,
};

int fn_config_load(struct fn_config *c, char *err, size_t errcap)
{
    memset(c, 0, sizeof *c);
    int rc = bb_knobs_load(fn_knobs, bb_knobs_count(fn_knobs), c, err, errcap);
    if (rc) return rc;
    if (c->min_warm > c->max_workers) {
        snprintf(err, errcap,
                 "BUNBASE_FUNCTIONS_MIN_WARM (%llu) is over BUNBASE_FUNCTIONS_MAX_WORKERS (%llu)",
                 (unsigned long long)c->min_warm, (unsigned long long)c->max_workers);
        return BB_EINVAL;
    }
    if (c->worker_path[0] && c->worker_path[0] != '/') {
        snprintf(err, errcap, "BUNBASE_FUNCTIONS_WORKER_PATH must be an absolute path");
        return BB_EINVAL;
    }
    if (!c->worker_path[0]) {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) {
            snprintf(err, errcap, "functions: cannot resolve /proc/self/exe");
            return BB_EIO;
        }
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        if (strlen(exe) + sizeof "/bunbase-qjs-worker" > sizeof c->worker_path) {
            snprintf(err, errcap, "functions: executable path too long");
            return BB_EINVAL;
        }
        size_t el = strlen(exe);
        memcpy(c->worker_path, exe, el);
        memcpy(c->worker_path + el, "/bunbase-qjs-worker", sizeof "/bunbase-qjs-worker");
    }
    if (access(c->worker_path, X_OK) != 0) {
        const char *set = getenv("BUNBASE_FUNCTIONS_WORKER_PATH");
        if (set && *set) { /* asked for: a mistake to report */
            snprintf(err, errcap, "functions: BUNBASE_FUNCTIONS_WORKER_PATH %s is not executable",
                     c->worker_path);
            return BB_EINVAL;
        }
        c->worker_missing = 1; /* not built here: the service runs and refuses functions */
    }
    return 0;
}

uint64_t fn_config_max_frame(const struct fn_config *c)
{
    /* a body plus its headers and framing (headers are bounded by the HTTP header limit) */
    return c->max_body_bytes + 256 * 1024;
}
