/* functions.c — the functions service: routes, handlers, the service definition.
 *
 * Routes (one table, behind the internal token: the platform's gateway forwards the public
 * routes here after its authorization matrix decided — docs/functions.md lists the public ones):
 *
 *   GET    /fn/{projectId}/functions                         list
 *   PUT    /fn/{projectId}/functions/{name}                  deploy (body: the JS bundle)
 *   GET    /fn/{projectId}/functions/{name}                  get
 *   DELETE /fn/{projectId}/functions/{name}                  delete (workers, versions, logs)
 *   GET    /fn/{projectId}/functions/{name}/versions         versions, newest first
 *   POST   /fn/{projectId}/functions/{name}/activate         {"version": N}
 *   POST   /fn/{projectId}/functions/{name}/rollback         the newest version before the active
 *   GET    /fn/{projectId}/functions/{name}/logs?limit=N     invocations with console output
 *   GET    /fn/{projectId}/functions/{name}/metrics?minutes=N  per-minute counters
 *   *      /fn/{projectId}/invoke/{name}                     run the active version
 *
 * Identity comes from the host (the internal resolver): handlers never look at credentials. The
 * request the function sees: the method, the public URL (X-Bunbase-Forwarded-Path from the
 * gateway, else our own path), every header but credentials and hop-by-hop ones, the body bytes.
 *
 * Storage: bundles under <data>/functions/<projectId>/<name>/<version>/index.js (written before
 * the version becomes active), metadata, logs and metrics in <data>/functions/functions.db
 * (fn_store.c). Workers: fn_pool.c. A background thread reaps idle workers, keeps MIN_WARM ones
 * and applies log retention.
 */
#include "functions.h"
#include "bb_config.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_host.h"
#include "bb_http.h"
#include "bb_id.h"
#include "bb_json.h"
#include "bb_knobs.h"
#include "bb_log.h"
#include "bb_proc.h"
#include "bb_router.h"
#include "bb_rpc_http.h"
#include "bb_time.h"
#include "bun_auth.h"
#include "bun_kms.h"
#include "buncast.h"
#include "fn_cron.h"
#include "fn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

extern const char bb_fn_bun_worker_js[]; /* src/functions/bun/worker.js, embedded */
extern const unsigned long bb_fn_bun_worker_js_len;

struct functions {
    struct bb_runtime *rt;
    struct fn_config cfg;
    char dir[1100]; /* <data>/functions */
    struct fn_store *store;
    struct fn_pools *pools;
    pthread_t reaper;
    int reaper_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
    struct fn_triggers *triggers; /* cron and document triggers (fn_trigger.c) */
    int env_in_kms;   /* 1: the functions' variables are kept in bun-kms (else sealed here) */
    size_t env_moved; /* functions whose sealed variables were moved into bun-kms at start */
    struct bb_rpc_http_listener *rpc; /* BUNBASE_FUNCTIONS_RPC_ADDR (NULL: none) */
};

/* ------------------------------------------------------------------ helpers */

static int name_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > FN_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && (c == '-' || c == '_'));
        if (!ok) return 0;
    }
    return 1;
}

/* The project and function of the route, validated: 0, or answered 400/404. */
static int target(struct bb_http_request *req, struct bb_http_response *res, const char **pid,
                  const char **name)
{
    *pid = bb_http_param(req, "projectId");
    if (!*pid || !bb_project_id_valid(*pid, strlen(*pid))) {
        bb_http_reply_error_status(res, 400, "invalid_project", "invalid project id");
        return -1;
    }
    if (!name) return 0;
    *name = bb_http_param(req, "name");
    if (!name_valid(*name)) {
        bb_http_reply_error_status(res, 400, "invalid_name",
                                   "a function name is 1-64 characters of a-z, 0-9, - and _, "
                                   "starting with a letter or digit");
        return -1;
    }
    return 0;
}

static void reply_store_error(struct bb_http_response *res, int rc)
{
    if (rc == BB_ENOTFOUND)
        bb_http_reply_error_status(res, 404, "function_not_found", "no such function");
    else
        bb_http_reply_error(res, rc, NULL);
}

/* target() of an existing function, *v its active version; replies and returns -1 otherwise. */
static int active_target(struct functions *f, struct bb_http_request *req,
                         struct bb_http_response *res, const char **pid, const char **name,
                         int64_t *v)
{
    if (target(req, res, pid, name)) return -1;
    int rc = fn_store_active(f->store, *pid, *name, v, NULL);
    if (rc) {
        reply_store_error(res, rc);
        return -1;
    }
    return 0;
}

static int fn_dir(struct functions *f, const char *pid, const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s/%s", f->dir, pid, name);
    return n < 0 || (size_t)n >= cap ? BB_EINVAL : 0;
}

/* Without a sandbox (and without BUNBASE_FUNCTIONS_SANDBOX=none) no user code runs: 503. */
static int refused(struct functions *f, struct bb_http_response *res)
{
    if (!f->cfg.sandbox_refused) return 0;
    bb_http_reply_error_status(
        res, 503, f->cfg.worker_missing ? "runtime_unavailable" : "sandbox_unavailable",
        f->cfg.sandbox_why);
    return 1;
}

/* ------------------------------------------------------------------ deploy */

/* Runs the runtime's check on path: 0, or 1 with the loader's message in msg. */
static int check_bundle(struct functions *f, const char *path, int runtime, char *msg, size_t cap)
{
    char mem[32], tmo[32];
    snprintf(mem, sizeof mem, "%llu", (unsigned long long)(f->cfg.memory_mb * 1024 * 1024));
    snprintf(tmo, sizeof tmo, "%llu", (unsigned long long)f->cfg.start_timeout_ms);
    char *inner[] = {f->cfg.worker_path, "--check", (char *)path, "--memory-limit", mem,
                     "--timeout-ms",     tmo,       NULL};
    struct fn_sandbox_argv sa;
    char root[1500]; /* the bundle's directory, read-only in the sandbox: modules import each other */
    snprintf(root, sizeof root, "%s", path);
    char *slash = strrchr(root, '/');
    if (slash) *slash = '\0';
    const char *files[] = {root, NULL};
    char as[32];
    snprintf(as, sizeof as, "%llu",
             (unsigned long long)((f->cfg.memory_mb * 2 + f->cfg.bun_base_mb + 1023) / 1024 *
                                  1024 * 1024 * 1024));
    char *bun_inner[] = {f->cfg.worker_path, "--exec-confined",  as,
                         "--",               f->cfg.bun_path,    f->cfg.bun_worker,
                         "--check",          (char *)path,       NULL};
    const char *bun_files[] = {root, f->cfg.bun_worker, f->cfg.bun_path, NULL};
    if (runtime == FN_RUNTIME_BUN) /* top-level code runs: sandboxed too */
        fn_sandbox_command(&f->cfg, runtime, bun_files, bun_inner, &sa);
    else
        fn_sandbox_command(&f->cfg, runtime, files, inner, &sa);
    char *envp[] = {NULL};
    struct bb_proc_spec spec = {.argv = sa.argv, .envp = envp, .stdout_fd = -1};
    int code = -1;
    msg[0] = '\0';
    bb_proc_run(&spec, f->cfg.start_timeout_ms + 2000, msg, cap, &code);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    if (code == 0) return 0;
    if (!msg[0]) snprintf(msg, cap, "the bundle could not be loaded (worker exit %d)", code);
    return 1;
}

/* A tarball into root (fn_bundle_extract), then its entry: bunbase.json's "entry", else index.js,
 * else index.ts (bun only); an entry other than index.js gets an index.js re-exporting it (the
 * workers load <version>/index.js). 0; 1 with msg (400 invalid_bundle); -1 (I/O). */
static int tarball_bundle(struct functions *f, const void *body, size_t len, const char *root,
                          int runtime, char *msg, size_t cap)
{
    if (fn_bundle_extract(body, len, root, f->cfg.bundle_max_files, f->cfg.bundle_max_unpacked,
                          msg, cap) != 0)
        return 1;
    char p[1600], entry[256] = "";
    snprintf(p, sizeof p, "%s/bunbase.json", root);
    char *cfg = malloc(65536);
    size_t cl = 0;
    if (!cfg) return -1;
    int rr = bb_fs_read_small(p, cfg, 65536, &cl);
    free(rr == 0 ? NULL : cfg);
    if (rr == BB_ETOOBIG || rr == BB_EINVAL) {
        snprintf(msg, cap, "bunbase.json must be a regular file under 64 KiB");
        return 1;
    }
    if (rr == 0) {
        json_t *j = NULL;
        const char *e = NULL;
        if (bb_json_parse(cfg, cl, 8, &j, NULL, 0) == 0 && json_is_object(j))
            e = json_string_value(json_object_get(j, "entry"));
        int ok = j && json_is_object(j) &&
                 (!json_object_get(j, "entry") ||
                  (e && strlen(e) < sizeof entry && e[0] != '/' && !strstr(e, "..") && e[0]));
        if (ok && e) snprintf(entry, sizeof entry, "%s", e[0] == '.' && e[1] == '/' ? e + 2 : e);
        json_decref(j);
        free(cfg);
        if (!ok) {
            snprintf(msg, cap, "bunbase.json must be a JSON object whose \"entry\" is a relative "
                               "path inside the bundle");
            return 1;
        }
    }
    if (!entry[0]) {
        snprintf(p, sizeof p, "%s/index.js", root);
        snprintf(entry, sizeof entry, access(p, F_OK) == 0 ? "index.js" : "index.ts");
    }
    snprintf(p, sizeof p, "%s/%s", root, entry);
    struct stat st;
    if (lstat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(msg, cap, "the tarball has no entry file \"%s\" (bunbase.json \"entry\", or "
                           "index.js / index.ts)", entry);
        return 1;
    }
    size_t el = strlen(entry);
    if (el > 3 && !strcmp(entry + el - 3, ".ts") && runtime != FN_RUNTIME_BUN) {
        snprintf(msg, cap, "the entry \"%s\" is TypeScript: deploy it with runtime=bun (or "
                           "compile it to JavaScript)", entry);
        return 1;
    }
    if (!strcmp(entry, "index.js")) return 0;
    snprintf(p, sizeof p, "%s/index.js", root);
    if (access(p, F_OK) == 0) {
        snprintf(msg, cap, "bunbase.json's entry \"%s\" and an index.js both exist: rename the "
                           "index.js or make it the entry", entry);
        return 1;
    }
    char shim[400];
    int n = snprintf(shim, sizeof shim, "export { default } from \"./%s\";\n", entry);
    return bb_fs_write_atomic(p, shim, (size_t)n, 0600) ? -1 : 0;
}

static void h_deploy(struct bb_http_request *req, struct bb_http_response *res)
{
    struct functions *f = req->ctx;
    const char *pid, *name;
    if (target(req, res, &pid, &name) || refused(f, res)) return;
    if (req->body_len == 0) {
        bb_http_reply_error_status(res, 400, "invalid_bundle",
                                   "the request body must be the function's JavaScript file");
        return;
    }
    char act[8], rtb[16];
    const char *a = bb_http_query(req, "activate", act, sizeof act);
    int activate = !(a && (!strcmp(a, "false") || !strcmp(a, "0")));
    const char *rts = bb_http_query(req, "runtime", rtb, sizeof rtb);
    int runtime = FN_RUNTIME_QUICKJS;
    if (rts && !strcmp(rts, "bun"))
        runtime = FN_RUNTIME_BUN;
    else if (rts && strcmp(rts, "quickjs")) {
        bb_http_reply_error_status(res, 400, "invalid_runtime", "runtime is quickjs or bun");
        return;
    }
    if (runtime == FN_RUNTIME_BUN && (!f->cfg.bun_path[0] || access(f->cfg.bun_path, X_OK))) {
        bb_http_reply_error_status(res, 400, "runtime_unavailable",
                                   "the bun runtime is not installed here (scripts/setup.sh, or "
                                   "BUNBASE_FUNCTIONS_BUN_PATH)");
        return;
    }

    char dir[1300], tmp[1400], msg[4096];
    if (fn_dir(f, pid, name, dir, sizeof dir) || bb_fs_mkdir_p(dir, 0700)) {
        bb_http_reply_error(res, BB_EIO, "cannot create the function's directory");
        return;
    }
    /* the version's directory is made aside (.upload-*) and renamed into place */
    char rnd[17], entry_path[1500];
    bb_random_token(rnd, sizeof rnd, 8);
    snprintf(tmp, sizeof tmp, "%s/.upload-%s", dir, rnd);
    snprintf(entry_path, sizeof entry_path, "%s/index.js", tmp);
    if (mkdir(tmp, 0700) != 0) {
        bb_http_reply_error(res, BB_EIO, "cannot store the bundle");
        return;
    }
    char fmt[16];
    const char *fq = bb_http_query(req, "format", fmt, sizeof fmt);
    const char *ct = bb_http_header(req, "Content-Type");
    int tarball = (fq && !strcmp(fq, "tar")) ||
                  (ct && (!strncasecmp(ct, "application/gzip", 16) ||
                          !strncasecmp(ct, "application/x-gzip", 18) ||
                          !strncasecmp(ct, "application/x-tar", 17)));
    if (fq && strcmp(fq, "tar") && strcmp(fq, "js")) {
        bb_fs_remove_tree(tmp);
        bb_http_reply_error_status(res, 400, "invalid_format", "format is js or tar");
        return;
    }
    int brc = tarball ? tarball_bundle(f, req->body, req->body_len, tmp, runtime, msg, sizeof msg)
                      : (bb_fs_write_atomic(entry_path, req->body, req->body_len, 0600) ? -1 : 0);
    if (brc) {
        bb_fs_remove_tree(tmp);
        if (brc < 0) bb_http_reply_error(res, BB_EIO, "cannot store the bundle");
        else bb_http_reply_error_status(res, 400, "invalid_bundle", msg);
        return;
    }
    if (fn_bundle_share(tmp) != 0) { /* the workers' user reads it (fn_sandbox.c) */
        bb_fs_remove_tree(tmp);
        bb_http_reply_error(res, BB_EIO, "cannot store the bundle");
        return;
    }
    if (check_bundle(f, entry_path, runtime, msg, sizeof msg)) {
        bb_fs_remove_tree(tmp);
        bb_http_reply_error_status(res, 400, "invalid_bundle", msg);
        return;
    }
    uint8_t h[BB_SHA256_LEN];
    char sha[2 * BB_SHA256_LEN + 1];
    bb_sha256(req->body, req->body_len, h);
    bb_hex_encode(h, sizeof h, sha, sizeof sha);
    int64_t version = 0;
    int created = 0;
    int rc = fn_store_add_version(f->store, pid, name, sha, (int64_t)req->body_len, runtime,
                                  f->cfg.max_functions, 0, &version, &created);
    if (rc) {
        bb_fs_remove_tree(tmp);
        if (rc == BB_ELIMIT)
            bb_http_reply_error_status(
                res, 409, "too_many_functions",
                "the project has BUNBASE_FUNCTIONS_MAX_PER_PROJECT functions");
        else
            bb_http_reply_error(res, rc, NULL);
        return;
    }
    char vdir[1400], path[1500];
    snprintf(vdir, sizeof vdir, "%s/%lld", dir, (long long)version);
    fn_bundle_path(f->dir, pid, name, version, path, sizeof path);
    if (created || access(path, R_OK) != 0) {
        bb_fs_remove_tree(vdir); /* a leftover of a failed deploy */
        if (rename(tmp, vdir) != 0) {
            bb_fs_remove_tree(tmp);
            bb_http_reply_error(res, BB_EIO, "cannot store the bundle");
            return;
        }
    } else
        bb_fs_remove_tree(tmp);
    if (activate) {
        rc = fn_store_activate(f->store, pid, name, version);
        if (rc) {
            reply_store_error(res, rc);
            return;
        }
        fn_pools_retire(f->pools, pid, name, version, runtime); /* in-flight: the old one */
    }
    int64_t pruned[64];
    size_t np = 0;
    if (fn_store_prune_versions(f->store, pid, name, f->cfg.max_versions, pruned, 64, &np) == 0)
        for (size_t i = 0; i < np; i++) {
            char old[1400];
            snprintf(old, sizeof old, "%s/%lld", dir, (long long)pruned[i]);
            bb_fs_remove_tree(old);
        }
    json_t *o =
        json_pack("{s:s,s:I,s:s,s:I,s:b,s:b,s:s}", "name", name, "version", (json_int_t)version,
                  "sha256", sha, "size", (json_int_t)req->body_len, "created", created, "active",
                  activate, "runtime", fn_runtime_name(runtime));
    bb_http_reply_json(res, created ? 201 : 200, o);
    json_decref(o);
}

/* ------------------------------------------------------------------ metadata */

static void h_list(struct bb_http_request *req, struct bb_http_response *res)
{
    struct functions *f = req->ctx;
    const char *pid;
    if (target(req, res, &pid, NULL)) return;
    json_t *arr = NULL;
    int rc = fn_store_list(f->store, pid, &arr);
    if (rc) {
        reply_store_error(res, rc);
        return;
    }
    json_t *o = json_pack("{s:o}", "functions", arr);
    bb_http_reply_json(res, 200, o);
    json_decref(o);
}

static void h_get(struct bb_http_request *req, struct bb_http_response *res)
{
    struct functions *f = req->ctx;
    const char *pid, *name;
    if (target(req, res, &pid, &name)) return;
    json_t *o = NULL;
    int rc = fn_store_get(f->store, pid, name, &o);
    if (rc) {
        reply_store_error(res, rc);
        return;
    }
    bb_http_reply_json(res, 200, o);
    json_decref(o);
}

static void h_delete(struct bb_http_request *req, struct bb_http_response *res)
{
    struct functions *f = req->ctx;
    const char *pid, *name;
    if (target(req, res, &pid, &name)) return;
    int rc = fn_store_delete(f->store, pid, name);
    if (rc) {
        reply_store_error(res, rc);
        return;
    }
    fn_pools_retire(f->pools, pid, name, 0, 0);
    fn_store_env_drop(f->store, pid, name); /* its secret in bun-kms, when there */
    fn_triggers_reload(f->triggers);        /* its document triggers are gone */
    char dir[1300];
    if (fn_dir(f, pid, name, dir, sizeof dir) == 0) bb_fs_remove_tree(dir);
    json_t *o = json_pack("{s:s,s:b}", "name", name, "deleted", 1);
    bb_http_reply_json(res, 200, o);
    json_decref(o);
}

static void h_versions(struct bb_http_request *req, struct bb_http_response *res)
{
    struct functions *f = req->ctx;
    const char *pid, *name;
    if (target(req, res, &pid, &name)) return;
    int64_t active;
    int rc = fn_store_active(f->store, pid, name, &active, NULL);
    json_t *arr = NULL;
    if (rc == 0) rc = fn_store_versions(f->store, pid, name, &arr);
    if (rc) {
        reply_store_error(res, rc);
        return;
    }
    json_t *o = json_pack("{s:s,s:I,s:o}", "name", name, "active_version", (json_int_t)active,
                          "versions", arr);
    bb_http_reply_json(res, 200, o);
    json_decref(o);
}

static void activate_reply(struct functions *f, struct bb_http_response *res, const char *pid,
                           const char *name, int64_t version)
{
    int rc = fn_store_activate(f->store, pid, name, version);
    if (rc == BB_ENOTFOUND) {
        bb_http_reply_error_status(res, 404, "version_not_found", "no such function version");
        return;
    }
    if (rc) {
        bb_http_reply_error(res, rc, NULL);
        return;
    }
    int64_t v2;
    int runtime = FN_RUNTIME_QUICKJS;
    fn_store_active(f->store, pid, name, &v2, &runtime);
    fn_pools_retire(f->pools, pid, name, version, runtime);
    json_t *o = json_pack("{s:s,s:I}", "name", name, "active_version", (json_int_t)version);
    bb_http_reply_json(res, 200, o);
    json_decref(o);
}

static void h_activate(struct bb_http_request *req, struct bb_http_response *res)
{
    struct functions *f = req->ctx;
    const char *pid, *name;
    if (target(req, res, &pid, &name)) return;
    json_t *body = NULL;
    char jerr[160];
    if (bb_json_parse(req->body, req->body_len, 8, &body, jerr, sizeof jerr) != 0 ||
        !json_is_object(body) || !json_is_integer(json_object_get(body, "version")) ||
        json_integer_value(json_object_get(body, "version")) < 1) {
        json_decref(body);
        bb_http_reply_error_status(res, 400, "invalid_request",
                                   "body must be {\"version\": <a version number>}");
        return;
    }
    int64_t v = json_integer_value(json_object_get(body, "version"));
    json_decref(body);
    activate_reply(f, res, pid, name, v);
}

static void h_rollback(struct bb_http_request *req, struct bb_http_response *res)
{
    struct functions *f = req->ctx;
    const char *pid, *name;
    if (target(req, res, &pid, &name)) return;
    int64_t v = 0;
    int rc = fn_store_previous(f->store, pid, name, &v);
    if (rc == BB_ENOTFOUND) {
        int64_t a;
        if (fn_store_active(f->store, pid, name, &a, NULL) == BB_ENOTFOUND)
            reply_store_error(res, rc);
        else
            bb_http_reply_error_status(res, 409, "no_previous_version",
                                       "there is no version before the active one");
        return;
    }
    if (rc) {
        bb_http_reply_error(res, rc, NULL);
        return;
    }
    activate_reply(f, res, pid, name, v);
}

static int64_t query_int(struct bb_http_request *req, const char *k, int64_t dflt, int64_t max)
{
    char buf[24];
    const char *v = bb_http_query(req, k, buf, sizeof buf);
    if (!v) return dflt;
    char *end = NULL;
    long long x = strtoll(v, &end, 10);
    if (!end || *end || x < 1) return dflt;
    return x > max ? max : x;
}

static void h_logs(struct bb_http_request *req, struct bb_http_response *res)
{
    struct functions *f = req->ctx;
    const char *pid, *name;
    if (target(req, res, &pid, &name)) return;
    int64_t v;
    int rc = fn_store_active(f->store, pid, name, &v, NULL);
    json_t *arr = NULL;
    fn_store_flush(f->store); /* the caller's own invocations are in */
    if (rc == 0) rc = fn_store_logs(f->store, pid, name, query_int(req, "limit", 100, 1000), &arr);
    if (rc) {
        reply_store_error(res, rc);
        return;
    }
    json_t *o = json_pack("{s:s,s:o}", "name", name, "invocations", arr);
    bb_http_reply_json(res, 200, o);
    json_decref(o);
}

static void h_metrics(struct bb_http_request *req, struct bb_http_response *res)
{
    struct functions *f = req->ctx;
    const char *pid, *name;
    if (target(req, res, &pid, &name)) return;
    int64_t v;
    int rc = fn_store_active(f->store, pid, name, &v, NULL);
    json_t *arr = NULL;
    fn_store_flush(f->store);
    if (rc == 0)
        rc = fn_store_metrics(f->store, pid, name, query_int(req, "minutes", 60, 24 * 60), &arr);
    if (rc) {
        reply_store_error(res, rc);
        return;
    }
    json_t *o = json_pack("{s:s,s:o}", "name", name, "minutes", arr);
    bb_http_reply_json(res, 200, o);
    json_decref(o);
}

/* ------------------------------------------------------------------ environment */

/* A variable name: [A-Za-z_][A-Za-z0-9_]*, at most 128 bytes, not BUNBASE_… (ours). */
static int env_name_valid(const char *k)
{
    size_t n = strlen(k);
    if (!n || n > 128 || !strncmp(k, "BUNBASE_", 8)) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
              (i && c >= '0' && c <= '9')))
            return 0;
    }
    return 1;
}

/* PUT …/env {"NAME": "value", …}: replaces the function's variables (sealed at rest); its workers
 * restart with them. GET …/env: the names only — values are never returned. */
static void h_env_put(struct bb_http_request *req, struct bb_http_response *res)
{
    struct functions *f = req->ctx;
    const char *pid, *name;
    int64_t v;
    if (active_target(f, req, res, &pid, &name, &v)) return;
    json_t *env = NULL;
    char jerr[160];
    if (bb_json_parse(req->body, req->body_len, 4, &env, jerr, sizeof jerr) != 0 ||
        !json_is_object(env)) {
        json_decref(env);
        bb_http_reply_error_status(res, 400, "invalid_env",
                                   "body must be an object of variable names to string values");
        return;
    }
    size_t bytes = 0;
    const char *k;
    json_t *val;
    const char *why = NULL;
    json_object_foreach(env, k, val)
    {
        if (!env_name_valid(k))
            why = "variable names are letters, digits and _ (not starting with a digit), at most "
                  "128 bytes, and not BUNBASE_…";
        else if (!json_is_string(val) ||
                 memchr(json_string_value(val), '\0', json_string_length(val)))
            why = "values must be strings without NUL bytes";
        else
            bytes += strlen(k) + json_string_length(val);
    }
    if (!why && json_object_size(env) > f->cfg.max_env_vars)
        why = "too many variables (BUNBASE_FUNCTIONS_MAX_ENV_VARS)";
    if (!why && bytes > f->cfg.max_env_bytes)
        why = "the variables are too large (BUNBASE_FUNCTIONS_MAX_ENV_BYTES)";
    if (why) {
        json_decref(env);
        bb_http_reply_error_status(res, 400, "invalid_env", why);
        return;
    }
    char kerr[200] = "";
    int rc = fn_store_env_set(f->store, pid, name, env, kerr, sizeof kerr);
    size_t n = json_object_size(env);
    json_decref(env);
    if (rc) {
        bb_http_reply_error(res, rc, kerr[0] ? kerr : NULL);
        return;
    }
    fn_pools_restart(f->pools, pid, name);
    json_t *o = json_pack("{s:s,s:I}", "name", name, "variables", (json_int_t)n);
    bb_http_reply_json(res, 200, o);
    json_decref(o);
}

static void h_env_get(struct bb_http_request *req, struct bb_http_response *res)
{
    struct functions *f = req->ctx;
    const char *pid, *name;
    if (target(req, res, &pid, &name)) return;
    int64_t v;
    int rc = fn_store_active(f->store, pid, name, &v, NULL);
    json_t *names = NULL;
    if (rc == 0) rc = fn_store_env_names(f->store, pid, name, &names);
    if (rc) {
        reply_store_error(res, rc);
        return;
    }
    json_t *o = json_pack("{s:s,s:o}", "name", name, "names", names);
    bb_http_reply_json(res, 200, o);
    json_decref(o);
}

/* ------------------------------------------------------------------ invoke */

/* Request headers the function never sees: credentials of the caller and of the gateway, and
 * hop-by-hop fields. */
static int hidden_request_header(const char *n)
{
    static const char *const hide[] = {"Authorization",
                                       "Cookie",
                                       "X-Bunbase-Identity",
                                       "X-Bunbase-Client-Key",
                                       "X-Bunbase-Forwarded-Path",
                                       "Connection",
                                       "Keep-Alive",
                                       "Transfer-Encoding",
                                       "Content-Length",
                                       "Expect",
                                       "Upgrade",
                                       "Proxy-Authorization",
                                       "TE"};
    for (size_t i = 0; i < sizeof hide / sizeof hide[0]; i++)
        if (!strcasecmp(n, hide[i])) return 1;
    return 0;
}

/* Response headers of the function we do not relay (ours, or framing the server owns). */
static int hidden_response_header(const char *n)
{
    static const char *const hide[] = {"Connection",           "Keep-Alive",   "Transfer-Encoding",
                                       "Content-Length",       "X-Request-Id", "X-Invocation-Id",
                                       "X-Bunbase-Cold-Start", "Upgrade",      "Trailer"};
    for (size_t i = 0; i < sizeof hide / sizeof hide[0]; i++)
        if (!strcasecmp(n, hide[i])) return 1;
    return 0;
}

/* Runs c (project, name, version, runtime, invocation id, request filled in) with the context
 * (a project token for BunBase.admin(), minted per invocation: bun_auth.h; the gateway URL) and
 * records it (trigger: "http", "cron", "document"). c's results are the caller's to release. */
static void run_call(struct functions *f, struct fn_call *c, const char *trigger)
{
    char token[BUN_AUTH_PROJECT_TOKEN_MAX];
    if (bun_auth_project_token_mint(f->rt->internal_token, c->project_id,
                                    (int64_t)(bb_time_wall_ms() + f->cfg.token_ttl_ms), token,
                                    sizeof token) != 0)
        token[0] = '\0'; /* no internal token: BunBase.admin() says so */
    c->gateway_url = f->cfg.gateway_url;
    c->token = token;
    uint64_t t0 = bb_time_mono_ms();
    int64_t started = (int64_t)bb_time_wall_ms();
    fn_pools_invoke(f->pools, c);
    sodium_memzero(token, sizeof token);
    c->token = NULL;
    struct fn_invocation inv = {
        .project_id = c->project_id,
        .name = c->name,
        .version = c->version,
        .started_ms = started,
        .duration_ms = (int64_t)(bb_time_mono_ms() - t0),
        .status = c->status,
        .cold = c->cold,
        .error = c->error_code,
        .logs = c->logs,
        .logs_len = c->logs_len,
    };
    snprintf(inv.id, sizeof inv.id, "%s", c->invocation_id);
    snprintf(inv.trigger, sizeof inv.trigger, "%s", trigger);
    if (fn_store_record(f->store, &inv) != 0)
        bb_log(BB_LOG_WARN, "functions",
               "rid=%s invocation %s not logged (BUNBASE_FUNCTIONS_LOG_QUEUE full)",
               c->request_id ? c->request_id : "-", c->invocation_id);
}

/* fn_trigger_invoke_fn: a cron or document invocation — POST /v1/functions/<name> with a JSON
 * body and X-Bunbase-Trigger; the request id is the invocation id. */
static int trigger_invoke(void *arg, const char *pid, const char *name, const char *trigger,
                          const char *body, size_t len)
{
    struct functions *f = arg;
    if (f->cfg.sandbox_refused) return 503;
    int64_t version = 0;
    int runtime = FN_RUNTIME_QUICKJS;
    int rc = fn_pools_active(f->pools, pid, name, &version, &runtime) == 0
                 ? 0
                 : fn_store_active(f->store, pid, name, &version, &runtime);
    if (rc || version == 0) return 404;
    char inv_id[BB_ID_LEN + 1], url[128];
    bb_id_new(inv_id);
    snprintf(url, sizeof url, "/v1/functions/%s", name);
    const struct bb_http_header_pair hp[] = {{"Content-Type", "application/json"},
                                             {"X-Bunbase-Trigger", trigger},
                                             {"X-Request-Id", inv_id}};
    struct fn_call c = {
        .project_id = pid,
        .name = name,
        .version = version,
        .runtime = runtime,
        .invocation_id = inv_id,
        .method = "POST",
        .url = url,
        .headers = hp,
        .nheaders = sizeof hp / sizeof hp[0],
        .body = body,
        .body_len = len,
        .request_id = inv_id,
    };
    run_call(f, &c, trigger);
    int status = c.error_code ? (c.status ? c.status : 500) : c.status;
    fn_call_release(&c);
    return status;
}

static void h_invoke(struct bb_http_request *req, struct bb_http_response *res)
{
    struct functions *f = req->ctx;
    const char *pid, *name;
    if (target(req, res, &pid, &name) || refused(f, res)) return;
    char inv_id[BB_ID_LEN + 1];
    bb_id_new(inv_id);
    bb_http_set_header(res, "X-Invocation-Id", inv_id);
    int64_t version = 0;
    int runtime = FN_RUNTIME_QUICKJS;
    int rc = fn_pools_active(f->pools, pid, name, &version, &runtime) == 0
                 ? 0
                 : fn_store_active(f->store, pid, name, &version, &runtime);
    if (rc == 0 && version == 0) rc = BB_ENOTFOUND;
    if (rc) {
        reply_store_error(res, rc);
        return;
    }
    struct bb_http_header_pair *hp = calloc(req->nheaders ? req->nheaders : 1, sizeof *hp);
    if (!hp) {
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    size_t nh = 0;
    for (size_t i = 0; i < req->nheaders; i++)
        if (!hidden_request_header(req->headers[i].name))
            hp[nh++] = (struct bb_http_header_pair){req->headers[i].name, req->headers[i].value};
    const char *fwd = bb_http_header(req, "X-Bunbase-Forwarded-Path");
    struct fn_call c = {
        .project_id = pid,
        .name = name,
        .version = version,
        .runtime = runtime,
        .invocation_id = inv_id,
        .method = req->method,
        .url = fwd && fwd[0] == '/' ? fwd : req->url,
        .headers = hp,
        .nheaders = nh,
        .body = req->body,
        .body_len = req->body_len,
        .request_id = req->request_id,
    };
    run_call(f, &c, "http");
    free(hp);
    bb_http_set_header(res, "X-Bunbase-Cold-Start", c.cold ? "true" : "false");
    if (c.error_code) {
        if (c.status == 429) {
            char ra[16];
            snprintf(ra, sizeof ra, "%d", c.retry_after_s);
            bb_http_set_header(res, "Retry-After", ra);
        }
        bb_http_reply_error_status(res, c.status, c.error_code, c.error_msg);
        fn_call_release(&c);
        return;
    }
    int has_ct = 0;
    for (size_t i = 0; i < c.nhdrs; i++) {
        if (hidden_response_header(c.hdr_names[i])) continue;
        if (!strcasecmp(c.hdr_names[i], "Content-Type")) has_ct = 1;
        bb_http_add_header(res, c.hdr_names[i], c.hdr_values[i]); /* bad names are dropped */
    }
    bb_http_reply(res, c.status, has_ct ? NULL : "application/octet-stream", c.resp_body,
                  c.resp_len);
    c.resp_body = NULL;
    fn_call_release(&c);
}

/* ------------------------------------------------------------------ triggers */

/* GET …/triggers: {"name", "cron": [{schedule, timezone, last_fired_ms}]} */
static void triggers_reply(struct functions *f, struct bb_http_response *res, const char *pid,
                           const char *name)
{
    json_t *cron = NULL, *docs = NULL;
    int rc = fn_store_cron_list(f->store, pid, name, &cron);
    if (rc == 0) rc = fn_store_doc_list(f->store, pid, name, &docs);
    if (rc) {
        json_decref(cron);
        reply_store_error(res, rc);
        return;
    }
    json_t *o = json_pack("{s:s,s:o,s:O,s:O,s:O}", "name", name, "cron", cron, "documents",
                          json_object_get(docs, "triggers"), "deliveries",
                          json_object_get(docs, "deliveries"), "dead_letters",
                          json_object_get(docs, "dead_letters"));
    json_decref(docs);
    bb_http_reply_json(res, 200, o);
    json_decref(o);
}

static void h_triggers_get(struct bb_http_request *req, struct bb_http_response *res)
{
    struct functions *f = req->ctx;
    const char *pid, *name;
    int64_t v;
    if (active_target(f, req, res, &pid, &name, &v)) return;
    triggers_reply(f, res, pid, name);
}

/* The cron list of a PUT …/triggers body, normalized to [{schedule, timezone}] (a string is a
 * schedule in UTC): 0 with *out, or 400 answered. */
static int cron_list(struct functions *f, json_t *in, json_t **out, struct bb_http_response *res)
{
    char err[240] = "";
    json_t *list = json_array();
    if (in && !json_is_array(in))
        snprintf(err, sizeof err, "cron must be an array of schedules");
    else if (json_array_size(in) > f->cfg.max_schedules)
        snprintf(err, sizeof err,
                 "at most %llu schedules per function (BUNBASE_FUNCTIONS_MAX_SCHEDULES)",
                 (unsigned long long)f->cfg.max_schedules);
    size_t i;
    json_t *e;
    json_array_foreach(in, i, e)
    {
        if (err[0]) break;
        const char *sched = json_is_string(e) ? json_string_value(e)
                                              : json_string_value(json_object_get(e, "schedule"));
        json_t *tzv = json_is_object(e) ? json_object_get(e, "timezone") : NULL;
        const char *tz = tzv ? json_string_value(tzv) : "UTC";
        struct fn_cron c;
        struct fn_tz *z = NULL;
        if (!sched)
            snprintf(err, sizeof err,
                     "cron[%zu]: a schedule string, or {\"schedule\", \"timezone\"}", i);
        else if (!tz || !*tz || strlen(tz) > FN_TZ_NAME_MAX)
            snprintf(err, sizeof err, "cron[%zu]: timezone must be a TZ database name", i);
        else if (fn_cron_parse(sched, &c, err, sizeof err) == 0 &&
                 fn_tz_load(f->cfg.zoneinfo_dir, tz, &z, err, sizeof err) == 0) {
            fn_tz_free(z);
            json_array_append_new(list, json_pack("{s:s,s:s}", "schedule", sched, "timezone", tz));
        }
    }
    if (err[0]) {
        json_decref(list);
        bb_http_reply_error_status(res, 400, "invalid_trigger", err);
        return -1;
    }
    *out = list;
    return 0;
}

/* A collection a document trigger may name: what bundoc accepts and buncast can carry in a topic
 * segment (letters, digits, _ and -), at most 128 characters. */
static int collection_valid(const char *c)
{
    size_t n = c ? strlen(c) : 0;
    if (!n || n > 128) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= 'A' && c[i] <= 'Z') ||
              (c[i] >= '0' && c[i] <= '9') || c[i] == '_' || c[i] == '-'))
            return 0;
    return 1;
}

/* The documents list of a PUT …/triggers body, normalized to [{collection, ops}] (operations
 * absent: all three): 0 with *out, or 400 answered. */
static int doc_list(struct functions *f, json_t *in, json_t **out, struct bb_http_response *res)
{
    char err[240] = "";
    json_t *list = json_array();
    if (in && !json_is_array(in))
        snprintf(err, sizeof err, "documents must be an array of {collection, operations}");
    else if (json_array_size(in) > f->cfg.max_doc_triggers)
        snprintf(err, sizeof err,
                 "at most %llu document triggers per function "
                 "(BUNBASE_FUNCTIONS_MAX_DOC_TRIGGERS)",
                 (unsigned long long)f->cfg.max_doc_triggers);
    size_t i;
    json_t *e;
    json_array_foreach(in, i, e)
    {
        if (err[0]) break;
        const char *coll = json_string_value(json_object_get(e, "collection"));
        json_t *ops = json_object_get(e, "operations");
        int mask = ops ? 0 : 7;
        if (!collection_valid(coll)) {
            snprintf(err, sizeof err,
                     "documents[%zu]: collection is 1-128 letters, digits, _ and -", i);
            break;
        }
        if (ops && (!json_is_array(ops) || !json_array_size(ops))) {
            snprintf(err, sizeof err,
                     "documents[%zu]: operations is a non-empty array of create, update, delete",
                     i);
            break;
        }
        size_t k;
        json_t *op;
        json_array_foreach(ops, k, op)
        {
            int bit = json_is_string(op) ? fn_doc_op_bit(json_string_value(op)) : 0;
            if (!bit) {
                snprintf(err, sizeof err,
                         "documents[%zu]: unknown operation (create, update, delete)", i);
                break;
            }
            mask |= bit;
        }
        if (!err[0])
            json_array_append_new(list, json_pack("{s:s,s:i}", "collection", coll, "ops", mask));
    }
    if (err[0]) {
        json_decref(list);
        bb_http_reply_error_status(res, 400, "invalid_trigger", err);
        return -1;
    }
    *out = list;
    return 0;
}

/* PUT …/triggers {"cron": [...], "documents": [...]}: replaces the function's triggers. */
static void h_triggers_put(struct bb_http_request *req, struct bb_http_response *res)
{
    struct functions *f = req->ctx;
    const char *pid, *name;
    int64_t v;
    if (active_target(f, req, res, &pid, &name, &v)) return;
    json_t *body = NULL, *cron = NULL;
    char jerr[160];
    if (bb_json_parse(req->body, req->body_len, 8, &body, jerr, sizeof jerr) != 0 ||
        !json_is_object(body)) {
        json_decref(body);
        bb_http_reply_error_status(res, 400, "invalid_trigger",
                                   "body must be {\"cron\": [schedules]}");
        return;
    }
    json_t *docs = NULL;
    if (cron_list(f, json_object_get(body, "cron"), &cron, res) != 0 ||
        doc_list(f, json_object_get(body, "documents"), &docs, res) != 0) {
        json_decref(cron);
        json_decref(body);
        return;
    }
    int rc = fn_store_cron_set(f->store, pid, name, cron, (int64_t)(bb_time_wall_ms() / 60000));
    if (rc == 0) rc = fn_store_doc_set(f->store, pid, name, docs);
    if (rc == 0) rc = fn_triggers_reload(f->triggers);
    json_decref(cron);
    json_decref(docs);
    json_decref(body);
    if (rc) {
        bb_http_reply_error(res, rc, NULL);
        return;
    }
    triggers_reply(f, res, pid, name);
}

/* POST /v1/debug/functions/cron?now_ms=N (debug routes only, internal token): one cron pass at
 * that instant, its invocations run before the answer — how tests drive minutes. */
static void h_debug_cron(struct bb_http_request *req, struct bb_http_response *res)
{
    struct functions *f = req->ctx;
    char buf[32];
    const char *v = bb_http_query(req, "now_ms", buf, sizeof buf);
    char *end = NULL;
    long long now = v ? strtoll(v, &end, 10) : 0;
    if (!v || !*v || *end) {
        bb_http_reply_error_status(res, 400, "invalid_request", "now_ms=<unix ms> is required");
        return;
    }
    json_t *fired = NULL;
    int rc = fn_triggers_cron_pass(f->triggers, (int64_t)now, 1, &fired);
    if (rc) {
        bb_http_reply_error(res, rc, NULL);
        return;
    }
    json_t *o = json_pack("{s:o}", "fired", fired);
    bb_http_reply_json(res, 200, o);
    json_decref(o);
}

/* ------------------------------------------------------------------ routes */

#define INT BB_AUTH_INTERNAL
#define POOL BB_ROUTE_POOL
#define FNP "/fn/{projectId}/functions/{name}"
static struct bb_route routes[] = {
    {"GET", "/fn/{projectId}/functions", h_list, INT, POOL, 0, "functions.list"},
    {"PUT", FNP, h_deploy, INT, POOL, 0 /* set at start */, "functions.deploy"},
    {"GET", FNP, h_get, INT, POOL, 0, "functions.get"},
    {"DELETE", FNP, h_delete, INT, POOL, 0, "functions.delete"},
    {"GET", FNP "/versions", h_versions, INT, POOL, 0, "functions.versions"},
    {"POST", FNP "/activate", h_activate, INT, POOL, 4096, "functions.activate"},
    {"POST", FNP "/rollback", h_rollback, INT, POOL, 4096, "functions.rollback"},
    {"GET", FNP "/logs", h_logs, INT, POOL, 0, "functions.logs"},
    {"GET", FNP "/metrics", h_metrics, INT, POOL, 0, "functions.metrics"},
    {"GET", FNP "/env", h_env_get, INT, POOL, 0, "functions.env.get"},
    {"PUT", FNP "/env", h_env_put, INT, POOL, 0 /* set at start */, "functions.env.put"},
    {"GET", FNP "/triggers", h_triggers_get, INT, POOL, 0, "functions.triggers.get"},
    {"PUT", FNP "/triggers", h_triggers_put, INT, POOL, 65536, "functions.triggers.put"},
    {"GET", "/fn/{projectId}/invoke/{name}", h_invoke, INT, POOL, 0, "functions.invoke"},
    {"POST", "/fn/{projectId}/invoke/{name}", h_invoke, INT, POOL, 0, "functions.invoke"},
    {"PUT", "/fn/{projectId}/invoke/{name}", h_invoke, INT, POOL, 0, "functions.invoke"},
    {"PATCH", "/fn/{projectId}/invoke/{name}", h_invoke, INT, POOL, 0, "functions.invoke"},
    {"DELETE", "/fn/{projectId}/invoke/{name}", h_invoke, INT, POOL, 0, "functions.invoke"},
    {"OPTIONS", "/fn/{projectId}/invoke/{name}", h_invoke, INT, POOL, 0, "functions.invoke"},
};
#define NROUTES (sizeof routes / sizeof routes[0])
static const struct bb_route debug_routes[] = {
    {"POST", "/v1/debug/functions/cron", h_debug_cron, INT, POOL, 0, "functions.debug.cron"},
};

/* ------------------------------------------------------------------ lifecycle */

static void *reaper_main(void *arg)
{
    struct functions *f = arg;
    uint64_t tick = f->cfg.idle_ms / 2 < 1000 ? f->cfg.idle_ms / 2 : 1000;
    if (tick < 50) tick = 50;
    uint64_t last_retention = 0;
    pthread_mutex_lock(&f->mu);
    while (!f->stopping) {
        struct timespec ts;
        bb_time_deadline(CLOCK_MONOTONIC, tick, &ts);
        pthread_cond_timedwait(&f->cv, &f->mu, &ts);
        if (f->stopping) break;
        pthread_mutex_unlock(&f->mu);
        fn_pools_reap(f->pools);
        uint64_t now = bb_time_mono_ms();
        if (now - last_retention >= 60000 || !last_retention) {
            last_retention = now;
            int64_t cutoff = (int64_t)bb_time_wall_ms() -
                             (int64_t)(f->cfg.log_retention_hours * 3600ull * 1000ull);
            fn_store_retention(f->store, cutoff);
        }
        pthread_mutex_lock(&f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

static void functions_free(struct functions *f)
{
    if (!f) return;
    if (f->reaper_started) {
        pthread_mutex_lock(&f->mu);
        f->stopping = 1;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
        pthread_join(f->reaper, NULL);
    }
    fn_triggers_free(f->triggers); /* before the pools: queued invocations run on them */
    fn_pools_free(f->pools);
    fn_store_close(f->store);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

/* BUNBASE_FUNCTIONS_GATEWAY_URL, else this bunbased's gateway: http(s)://authority, no path. */
static int gateway_url_init(struct fn_config *c, const struct bb_runtime *rt, char *err,
                            size_t errcap)
{
    if (!c->gateway_url[0] && rt->public_url)
        snprintf(c->gateway_url, sizeof c->gateway_url, "%s", rt->public_url);
    size_t n = strlen(c->gateway_url);
    while (n && c->gateway_url[n - 1] == '/')
        c->gateway_url[--n] = '\0';
    const char *a = !strncmp(c->gateway_url, "http://", 7)    ? c->gateway_url + 7
                    : !strncmp(c->gateway_url, "https://", 8) ? c->gateway_url + 8
                                                              : NULL;
    if (n && (!a || !*a || strpbrk(a, "/?#@ "))) {
        snprintf(err, errcap,
                 "BUNBASE_FUNCTIONS_GATEWAY_URL must be http(s)://host[:port] without a path");
        return BB_EINVAL;
    }
    return 0;
}

static int functions_start(struct bb_runtime *rt, void **state, char *err, size_t errcap)
{
    struct functions *f = calloc(1, sizeof *f);
    if (!f) return BB_ENOMEM;
    f->rt = rt;
    pthread_mutex_init(&f->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = fn_config_load(&f->cfg, err, errcap);
    if (rc == 0) rc = gateway_url_init(&f->cfg, rt, err, errcap);
    if (rc == 0) rc = fn_sandbox_probe(&f->cfg, err, errcap);
    if (rc == 0) {
        snprintf(f->dir, sizeof f->dir, "%s/functions", rt->cfg->data_dir);
        rc = bb_fs_mkdir_p(f->dir, 0700);
        if (rc) snprintf(err, errcap, "functions: cannot create %s", f->dir);
    }
    if (rc == 0) {
        /* the Bun runtime's worker script, from the binary (bound read-only into its sandbox) */
        snprintf(f->cfg.bun_worker, sizeof f->cfg.bun_worker, "%s/bun-worker.js", f->dir);
        rc = bb_fs_write_atomic(f->cfg.bun_worker, bb_fn_bun_worker_js,
                                (size_t)bb_fn_bun_worker_js_len, 0644);
        if (rc) snprintf(err, errcap, "functions: cannot write %s", f->cfg.bun_worker);
    }
    if (rc == 0) rc = fn_store_open(f->dir, f->cfg.log_queue, &f->store, err, errcap);
    if (rc == 0) { /* the variables live in bun-kms when it runs here: move the sealed ones */
        struct bun_kms *kms = bb_host_service_state(rt->host, "bun-kms");
        size_t moved = 0;
        fn_store_set_kms(f->store, kms);
        rc = fn_store_env_migrate(f->store, &moved, err, errcap);
        if (rc == 0 && moved)
            bb_log(BB_LOG_INFO, "functions",
                   "moved the environment variables of %zu function(s) into bun-kms", moved);
        f->env_in_kms = kms != NULL;
        f->env_moved = moved;
    }
    if (rc == 0) {
        struct fn_pools_opts po = {&f->cfg, f->dir, f->store};
        rc = fn_pools_new(&po, &f->pools);
    }
    if (rc == 0) {
        /* document events come from buncast's socket (its knobs say where) */
        struct buncast_config bc;
        char sock[1100] = "";
        if (buncast_config_load(&bc, err, errcap) == 0) {
            if (bc.socket[0])
                snprintf(sock, sizeof sock, "unix:%s", bc.socket);
            else
                snprintf(sock, sizeof sock, "unix:%s/buncast.sock", rt->cfg->data_dir);
        }
        err[0] = '\0';
        struct fn_triggers_opts to = {&f->cfg, f->store, trigger_invoke,
                                      f,       sock,     rt->internal_token};
        rc = fn_triggers_new(&to, &f->triggers);
        if (rc) snprintf(err, errcap, "functions: cannot start the trigger threads");
    }
    if (rc == 0 && rt->cfg->debug_routes)
        rc = bb_router_add(rt->router, debug_routes, sizeof debug_routes / sizeof debug_routes[0],
                           f);
    if (rc == 0) {
        for (size_t i = 0; i < NROUTES; i++) {
            if (routes[i].handler == h_deploy) routes[i].max_body = f->cfg.max_bundle_bytes;
            if (routes[i].handler == h_invoke) routes[i].max_body = f->cfg.max_body_bytes;
            if (routes[i].handler == h_env_put) /* JSON escapes at most double it */
                routes[i].max_body = f->cfg.max_env_bytes * 2 + 65536;
        }
        rc = bb_host_mount(rt->host, "functions", routes, NROUTES, f, NULL, NULL, err, errcap);
    }
    if (rc == 0 && f->cfg.rpc_addr[0]) {
        /* the same routes over the internal RPC (bb_rpc_http.h): command 1, Call */
        struct bb_rpc_http_listen_opts o = {.service = "functions",
                                            .addr_knob = "BUNBASE_FUNCTIONS_RPC_ADDR",
                                            .command = 1,
                                            .path_prefix = "/fn/",
                                            .max_headers = 64,
                                            .max_body = f->cfg.max_body_bytes > f->cfg.max_bundle_bytes
                                                            ? f->cfg.max_body_bytes
                                                            : f->cfg.max_bundle_bytes,
                                            .max_frame = (size_t)fn_config_max_frame(&f->cfg) * 2 +
                                                         (1u << 20)};
        rc = bb_rpc_http_listen(rt, f->cfg.rpc_addr, &o, &f->rpc, err, errcap);
    }
    if (rc == 0) {
        rc = pthread_create(&f->reaper, NULL, reaper_main, f) == 0 ? 0 : BB_EIO;
        f->reaper_started = rc == 0;
    }
    if (rc) {
        if (!err[0]) snprintf(err, errcap, "functions: %s", bb_strerror(rc));
        bb_rpc_http_stop(f->rpc); /* nothing in flight yet */
        functions_free(f);
        return rc;
    }
    *state = f;
    return 0;
}

static void functions_stop(void *state)
{
    struct functions *f = state;
    int inflight = bb_rpc_http_stop(f->rpc);
    f->rpc = NULL;
    if (inflight) {
        bb_warn("functions", "stop rpc_in_flight=%d", inflight);
        return; /* left to the process exit */
    }
    functions_free(f);
}

static int functions_health(void *state, json_t **detail)
{
    struct functions *f = state;
    json_t *o = fn_pools_stats(f->pools);
    if (o) {
        /* no sandbox is a refusal to run functions, said here, not an instance outage */
        json_object_set_new(o, "status", json_string("ok"));
        json_object_set_new(o, "runs_functions", json_boolean(!f->cfg.sandbox_refused));
        json_object_set_new(o, "logs_dropped",
                            json_integer((json_int_t)fn_store_dropped(f->store)));
        json_object_set_new(o, "runtimes",
                            json_pack("[s,s]", "quickjs",
                                      f->cfg.bun_path[0] && !access(f->cfg.bun_path, X_OK)
                                          ? "bun"
                                          : "bun (not installed)"));
        json_object_set_new(o, "sandbox", json_string(f->cfg.sandbox_why));
        json_object_set_new(o, "env_store",
                            json_string(f->env_in_kms ? "bun-kms" : "sealed (libsodium)"));
        json_object_set_new(o, "env_moved_to_kms", json_integer((json_int_t)f->env_moved));
        json_object_set_new(o, "triggers", fn_triggers_stats(f->triggers));
    }
    *detail = o;
    return 0;
}

const struct bb_service_def bb_functions_service = {
    .name = "functions",
    .start = functions_start,
    .stop = functions_stop,
    .health = functions_health,
    .knobs = fn_knobs,
    .config_size = sizeof(struct fn_config),
};
