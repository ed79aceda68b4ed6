/* bunder_manager.c — the bunder-manager service: configuration, metrics, start/stop/health.
 *
 * Ownership: the service state (struct bmgr) is reference counted (bmgr_ref/bmgr_unref). The
 * service holds one reference from start until every child has exited and the manager's handles
 * are closed; the RESP listener, each client connection, each queued RPC job, each SSE subscriber
 * and each running HTTP handler hold one more. The last unref frees it (any thread; by then no
 * libuv handle of the manager is open).
 *
 * Stop order (loop thread): children_stop (fail every waiter, SIGTERM every child; handles close
 * once all exited, SIGKILL after 5 s) → relay_stop (listener + client connections) → api_stop
 * (RPC server, own HTTP listener, SSE streams).
 */
#include "bunder_manager.h"
#include "bb_config.h"
#include "bb_err.h"
#include "bb_log.h"
#include "bb_metrics.h"
#include "bb_router.h"
#include "bmgr_internal.h"
#include "bb_identity.h"
#include "bb_http.h"
#include "bb_host.h"
#include "bb_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MOD "bunder-manager"
#define DEFAULT_RESP_ADDR "0.0.0.0:6379"

void bmgr_ref(struct bmgr *m)
{
    atomic_fetch_add(&m->refs, 1);
}

/* AUTH <project> <key>: the keys file (when configured), then the project keys of the platform —
 * the key resolved through the gateway's identity resolvers like any request's credential
 * (Authorization: Bearer sk_…), accepted when it is a secret key of that very project. A revoked or
 * regenerated key stops opening new connections as soon as the platform's key table says so. */
struct auth_verifier {
    struct bmgr_verifier file;
    struct bmgr *m;
};

static int auth_verify(void *ctx, const char *project, const char *key, size_t key_len)
{
    struct auth_verifier *v = ctx;
    if (v->file.verify(v->file.ctx, project, key, key_len) == 0) return 0;
    struct bb_router *gw = bb_host_gateway_router(v->m->rt->host);
    if (!gw || key_len < 4 || key_len > 512 || memchr(key, '\0', key_len) ||
        strncmp(key, "sk_", 3) != 0)
        return BB_EAUTH;
    char bearer[600];
    snprintf(bearer, sizeof bearer, "Bearer %.*s", (int)key_len, key);
    struct bb_http_header h = {.name = "Authorization", .value = bearer};
    struct bb_identity id;
    int rc = bb_http_resolve_identity(gw, NULL, &h, 1, &id);
    explicit_bzero(bearer, sizeof bearer);
    if (rc != 0) return BB_EAUTH;
    int ok = id.kind == BB_IDENTITY_PROJECT_KEY_SECRET && strcmp(id.project_id, project) == 0;
    bb_identity_release(&id);
    return ok ? 0 : BB_EAUTH;
}

static void auth_free(void *ctx)
{
    struct auth_verifier *v = ctx;
    if (v && v->file.free) v->file.free(v->file.ctx);
    free(v);
}

static int auth_verifier_new(struct bmgr *m, char *err, size_t errcap)
{
    struct auth_verifier *v = calloc(1, sizeof *v);
    if (!v) return BB_ENOMEM;
    v->m = m;
    int rc = bmgr_keys_file_verifier(m->k.keys_file, &v->file, err, errcap);
    if (rc) {
        free(v);
        return rc;
    }
    m->verifier = (struct bmgr_verifier){auth_verify, auth_free, v};
    return 0;
}

static void bmgr_free(struct bmgr *m)
{
    if (m->verifier.free) m->verifier.free(m->verifier.ctx);
    bmgr_children_release(m);
    free(m->routes);
    pthread_mutex_destroy(&m->mtx);
    pthread_mutex_destroy(&m->sub_mtx);
    free(m);
}

void bmgr_unref(struct bmgr *m)
{
    if (atomic_fetch_sub(&m->refs, 1) == 1) bmgr_free(m);
}

static void register_metrics(struct bmgr *m)
{
    struct bb_metrics *r = m->rt->metrics;
    struct bmgr_metrics *x = &m->met;
    x->children_running = bb_metrics_gauge(r, "bunbase_bunder_children_running",
                                           "bunder child processes alive", NULL);
    x->spawns = bb_metrics_counter(r, "bunbase_bunder_spawns_total",
                                   "bunder child processes spawned", NULL);
    x->spawn_failures = bb_metrics_counter(r, "bunbase_bunder_spawn_failures_total",
                                           "bunder children that failed to start", NULL);
    x->crashes = bb_metrics_counter(r, "bunbase_bunder_crashes_total",
                                    "bunder children that exited unexpectedly", NULL);
    x->restarts = bb_metrics_counter(r, "bunbase_bunder_restarts_total",
                                     "bunder children restarted after a crash", NULL);
    x->evictions = bb_metrics_counter(r, "bunbase_bunder_evictions_total",
                                      "bunder children stopped as idle or to make room", NULL);
    x->rejections = bb_metrics_counter(r, "bunbase_bunder_rejections_total",
                                       "requests or connections refused by a limit", NULL);
    x->relay_conns_total = bb_metrics_counter(r, "bunbase_bunder_relay_connections_total",
                                              "RESP client connections relayed to a child", NULL);
    x->relay_conns = bb_metrics_gauge(r, "bunbase_bunder_relay_connections",
                                      "RESP client connections being relayed", NULL);
    x->relay_bytes_in = bb_metrics_counter(r, "bunbase_bunder_relay_bytes_total",
                                           "bytes relayed between RESP clients and children",
                                           "direction=\"in\"");
    x->relay_bytes_out = bb_metrics_counter(r, "bunbase_bunder_relay_bytes_total",
                                            "bytes relayed between RESP clients and children",
                                            "direction=\"out\"");
    x->auth_failures = bb_metrics_counter(r, "bunbase_bunder_auth_failures_total",
                                          "RESP AUTH attempts refused", NULL);
    x->handoffs = bb_metrics_counter(r, "bunbase_bunder_handoffs_total",
                                     "RESP client sockets handed to their child after AUTH", NULL);
    x->handoff_fallbacks = bb_metrics_counter(
        r, "bunbase_bunder_handoff_fallbacks_total",
        "RESP clients relayed because the handoff to a handoff-capable child failed", NULL);
    x->handoff_clients = bb_metrics_gauge(r, "bunbase_bunder_handoff_clients",
                                          "handed-off RESP clients connected to children (as "
                                          "last reported by the children)",
                                          NULL);
}

/* 1 if bin is bunder (its `--version` line starts with "bunder "), so it understands
 * --handoff-fd; 0 for anything else (redis-server as a stand-in) or on any failure. Runs the
 * binary once at start, without a shell, bounded by 2 s. */
static int bin_supports_handoff(const char *bin)
{
    char *argv[] = {(char *)bin, "--version", NULL};
    char *envp[] = {NULL};
    struct bb_proc_spec spec = {.argv = argv, .envp = envp, .stdout_fd = -1};
    char out[64];
    if (bb_proc_run(&spec, 2000, out, sizeof out, NULL) != 0) return 0;
    return strncmp(out, "bunder ", 7) == 0;
}

#define ROW(F, ENV, T, DFLT, MIN, MAX, HELP, CH)                                                   \
    BB_KNOB_ROW(struct bmgr_knobs, F, ENV, NULL, T, DFLT, MIN, MAX, HELP, CH)
static const struct bb_knob bmgr_knobs[] = {
    ROW(bunder_bin, "BUNBASE_BUNDER_BIN", BB_KNOB_STR, "", 0, 0,
     "bunder executable spawned per project; empty: `bunder` next to the bunbased executable", NULL),
    ROW(resp_addr, "BUNBASE_BUNDER_MANAGER_RESP_ADDR", BB_KNOB_STR, "0.0.0.0:6379", 0, 0,
     "public Redis (RESP) endpoint of bunder-manager; empty disables it; port 0 picks a free port", NULL),
    ROW(rpc_addr, "BUNBASE_BUNDER_MANAGER_RPC_ADDR", BB_KNOB_STR, "", 0, 0,
     "internal RPC (ProxyKV) address of bunder-manager, e.g. 127.0.0.1:9091; empty disables it", NULL),
    ROW(keys_file, "BUNBASE_BUNDER_MANAGER_KEYS_FILE", BB_KNOB_STR, "", 0, 0,
     "file of \"<projectId> <key>\" lines accepted by RESP AUTH; empty: every AUTH is refused", NULL),
    ROW(port_base, "BUNBASE_BUNDER_MANAGER_PORT_BASE", BB_KNOB_U64, "16400", 1, 65535,
     "first loopback port of the children's port pool", NULL),
    ROW(port_count, "BUNBASE_BUNDER_MANAGER_PORT_COUNT", BB_KNOB_U64, "1000", 1, 65535,
     "size of the children's port pool", NULL),
    ROW(max_children, "BUNBASE_BUNDER_MANAGER_MAX_CHILDREN", BB_KNOB_U64, "100", 1, 10000,
     "bunder processes at most; beyond it the least recently used idle one is stopped, else 503", NULL),
    ROW(maxmemory_mb, "BUNBASE_BUNDER_MANAGER_MAXMEMORY_MB", BB_KNOB_U64, "100", 1,
     1048576, "maxmemory of each project's bunder (MiB); writes beyond it fail (507 / -OOM)", NULL),
    ROW(idle_ms, "BUNBASE_BUNDER_MANAGER_IDLE_MS", BB_KNOB_U64, "600000", 100,
     86400000ull * 30, "a child with nothing in flight for this long is stopped (data stays on disk)", NULL),
    ROW(start_timeout_ms, "BUNBASE_BUNDER_MANAGER_START_TIMEOUT_MS", BB_KNOB_U64, "10000",
     100, 600000, "a child must answer AUTH + PING within this after spawn", NULL),
    ROW(max_connections, "BUNBASE_BUNDER_MANAGER_MAX_CONNECTIONS", BB_KNOB_U64, "10000",
     1, 1000000, "RESP client connections; extra ones are closed on accept", NULL),
    ROW(max_value_bytes, "BUNBASE_BUNDER_MANAGER_MAX_VALUE_BYTES", BB_KNOB_U64, "8388608",
     1, 512ull << 20, "largest value accepted by HTTP PUT / RPC; over it: 413", NULL),
    ROW(handoff, "BUNBASE_BUNDER_MANAGER_HANDOFF", BB_KNOB_BOOL, "1", 0, 1,
     "hand an authenticated RESP client's socket to its project's bunder (0: relay every client)", NULL),
    BB_KNOBS_END,
};
#undef ROW

static int load_config(struct bmgr *m, const struct bb_config *c, char *err, size_t errcap)
{
    struct bmgr_config *k = &m->cfg;
    const struct bmgr_knobs *n = &m->k;
    int rc = bb_knobs_load(bmgr_knobs, bb_knobs_count(bmgr_knobs), &m->k, err, errcap);
    if (rc) return rc;
    if (n->bunder_bin[0]) {
        snprintf(k->bin, sizeof k->bin, "%s", n->bunder_bin);
    } else {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) {
            snprintf(err, errcap, "bunder-manager: cannot resolve /proc/self/exe: %s",
                     strerror(errno));
            return BB_EIO;
        }
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        if ((size_t)snprintf(k->bin, sizeof k->bin, "%s/bunder", exe) >= sizeof k->bin) {
            snprintf(err, errcap, "bunder-manager: executable path too long");
            return BB_EINVAL;
        }
    }
    char data[PATH_MAX];
    if (!realpath(c->data_dir, data)) snprintf(data, sizeof data, "%s", c->data_dir);
    if ((size_t)snprintf(k->data_root, sizeof k->data_root, "%s/bunder/projects", data) >=
        sizeof k->data_root) {
        snprintf(err, errcap, "bunder-manager: data directory path too long");
        return BB_EINVAL;
    }
    if (n->port_base + n->port_count - 1 > 65535) {
        snprintf(err, errcap,
                 "BUNBASE_BUNDER_MANAGER_PORT_BASE + BUNBASE_BUNDER_MANAGER_PORT_COUNT exceeds "
                 "65536");
        return BB_EINVAL;
    }
    k->port_base = (int)n->port_base;
    k->port_count = (int)n->port_count;
    k->max_children = (unsigned)n->max_children;
    k->maxmemory_mb = n->maxmemory_mb;
    k->idle_ms = n->idle_ms;
    k->start_timeout_ms = n->start_timeout_ms;
    k->max_connections = (unsigned)n->max_connections;
    k->max_value = n->max_value_bytes;
    k->pdeathsig = 1;
    /* BUNBASE_BUNDER_MANAGER_HANDOFF=0 keeps every client on the relay (benchmarks, debugging) */
    k->is_bunder = bin_supports_handoff(k->bin);
    k->handoff = n->handoff && k->is_bunder;
    snprintf(m->resp_addr, sizeof m->resp_addr, "%s", n->resp_addr);
    return 0;
}

static void on_children_stopped(struct bmgr *m)
{
    bb_info(MOD, "stopped");
    bmgr_unref(m); /* the service's reference */
}

static void shutdown_all(struct bmgr *m)
{
    bmgr_children_stop(m, on_children_stopped);
    bmgr_relay_stop(m);
    bmgr_api_stop(m);
}

static int bmgr_start(struct bb_runtime *rt, void **state, char *err, size_t errcap)
{
    int rc;
    struct bmgr *m = calloc(1, sizeof *m);
    if (!m) return BB_ENOMEM;
    atomic_init(&m->refs, 1);
    m->rt = rt;
    m->loop = rt->loop;
    pthread_mutex_init(&m->mtx, NULL);
    pthread_mutex_init(&m->sub_mtx, NULL);
    rc = load_config(m, rt->cfg, err, errcap);
    if (rc == 0) rc = auth_verifier_new(m, err, errcap);
    if (rc) {
        if (rc == BB_EIO) rc = BB_EINVAL; /* an unreadable keys file is a configuration error */
        bmgr_free(m);
        return rc;
    }
    register_metrics(m);
    rc = bmgr_children_init(m, err, errcap);
    if (rc) {
        bmgr_free(m);
        return rc;
    }
    rc = bmgr_api_start(m, err, errcap);
    if (rc == 0 && m->resp_addr[0]) {
        char rerr[256] = "";
        rc = bmgr_relay_start(m, rerr, sizeof rerr);
        if (rc == BB_EBUSY && strcmp(m->resp_addr, DEFAULT_RESP_ADDR) == 0) {
            /* the built-in default is best effort (several instances on one machine); an
             * explicitly configured address that is busy stops start-up */
            bb_error(MOD, "resp_unavailable addr=%s error=\"%s\" hint=\"set "
                          "BUNBASE_BUNDER_MANAGER_RESP_ADDR\"",
                     m->resp_addr, rerr);
            snprintf(m->resp_error, sizeof m->resp_error, "%.150s", rerr);
            rc = 0;
        } else if (rc) {
            snprintf(err, errcap, "bunder-manager: %s", rerr);
        }
    }
    if (rc) {
        if (!err[0]) snprintf(err, errcap, "bunder-manager: %s", bb_strerror(rc));
        shutdown_all(m);
        return rc;
    }
    if (access(m->cfg.bin, X_OK) != 0)
        bb_warn(MOD, "bunder_missing bin=%s hint=\"set BUNBASE_BUNDER_BIN\"", m->cfg.bin);
    char http[64] = "gateway", rpc[32] = "off", resp[32] = "off";
    if (m->http_port) snprintf(http, sizeof http, "%d", m->http_port);
    if (m->rpc) snprintf(rpc, sizeof rpc, "%d", m->rpc_port);
    if (m->resp_on) snprintf(resp, sizeof resp, "%d", m->resp_port);
    bb_info(MOD, "ready resp_port=%s http_port=%s rpc_port=%s bin=%s root=%s max_children=%u "
                 "ports=%d-%d handoff=%s",
            resp, http, rpc, m->cfg.bin, m->cfg.data_root, m->cfg.max_children, m->cfg.port_base,
            m->cfg.port_base + m->cfg.port_count - 1, m->cfg.handoff ? "on" : "off");
    *state = m;
    return 0;
}

static void bmgr_stop(void *state)
{
    shutdown_all(state);
}

static int bmgr_health(void *state, json_t **detail)
{
    struct bmgr *m = state;
    int bad = 0;
    json_t *d = bmgr_children_json(m, &bad);
    if (!d) return BB_ENOMEM;
    json_t *resp = json_pack("{s:s,s:b,s:i}", "addr", m->resp_addr, "listening", m->resp_on,
                             "port", m->resp_port);
    if (resp && m->resp_error[0]) json_object_set_new(resp, "error", json_string(m->resp_error));
    json_object_set_new(d, "resp", resp);
    json_object_set_new(d, "bunder_bin", json_string(m->cfg.bin));
    json_object_set_new(d, "handoff", json_boolean(m->cfg.handoff));
    json_object_set_new(d, "bunder_bin_executable", json_boolean(access(m->cfg.bin, X_OK) == 0));
    json_int_t restarting = json_integer_value(json_object_get(d, "restarting"));
    json_object_set_new(d, "status",
                        json_string(bad ? "degraded" : restarting ? "restarting" : "ok"));
    *detail = d;
    return bad ? BB_EUNAVAIL : 0;
}

const struct bb_service_def bb_bunder_manager_service = {
    .name = "bunder-manager",
    .start = bmgr_start,
    .stop = bmgr_stop,
    .health = bmgr_health,
    .knobs = bmgr_knobs,
    .config_size = sizeof(struct bmgr_knobs),
};
