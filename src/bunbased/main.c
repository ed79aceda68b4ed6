/* bunbased — the BunBase server. `bunbased serve` runs the selected services in one process.
 *
 * Start-up order: config → data dir (create, lock, internal token) → listen (fail fast on a busy
 * port) → PostgreSQL (embedded cluster or BUNBASE_DATABASE_URL) → migrations → services → print
 * the URL → run the loop. SIGTERM/SIGINT: drain HTTP, stop services in reverse, stop the pool,
 * stop PostgreSQL. Exit codes: 0 clean stop, 2 usage/configuration errors (unknown service,
 * port in use, unusable or locked data dir), 1 other start-up failures (database, migrations).
 */
#include "bb_config.h"
#include "bb_err.h"
#include "bb_host.h"
#include "bb_http.h"
#include "bb_json.h"
#include "bb_log.h"
#include "bb_metrics.h"
#include "bb_pg.h"
#include "bb_pool.h"
#include "bb_router.h"
#include "bb_service.h"
#include "bb_time.h"
#include "datadir.h"
#include "registry.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

struct server_state {
    struct bb_runtime rt;
    struct bb_http_server *http;
    uv_signal_t sigterm, sigint;
    int stopping;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: bunbased serve [--services=a,b|all] [--data DIR] [--listen HOST:PORT]\n"
               "                      [--database-url URL] [--log-level LEVEL] [--print-config]\n"
               "       bunbased version\n"
               "Every option is also an environment variable; see docs/configuration.md.\n");
}

static void on_drained(void *arg)
{
    struct server_state *st = arg;
    bb_info("bunbased", "drained");
    bb_host_services_stop(st->rt.host);
    bb_http_server_free(st->http);
    st->http = NULL;
    bb_pool_free(st->rt.pool);
    st->rt.pool = NULL;
    uv_close((uv_handle_t *)&st->sigterm, NULL);
    uv_close((uv_handle_t *)&st->sigint, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct server_state *st = h->data;
    if (st->stopping) {
        bb_warn("bunbased", "second_signal signal=%d action=force_close", signum);
        if (st->http) bb_http_server_free(st->http);
        st->http = NULL;
        return;
    }
    st->stopping = 1;
    bb_info("bunbased", "shutdown signal=%d connections=%zu", signum,
            bb_http_server_connections(st->http));
    bb_http_server_drain(st->http, on_drained, st);
}

/* The host's "database" check: one round trip on a pooled connection (pool worker). */
static int check_database(void *arg, json_t **out)
{
    struct bb_runtime *rt = arg;
    PGconn *conn = NULL;
    uint64_t t0 = bb_time_mono_ms();
    int rc = rt->pg ? bb_pg_pool_acquire(rt->pg, &conn, 2000) : BB_EUNAVAIL;
    const char *why = NULL;
    if (rc == 0) {
        PGresult *res = PQexec(conn, "SELECT 1");
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = BB_EUNAVAIL;
            why = PQerrorMessage(conn);
        }
        PQclear(res);
    } else {
        why = bb_strerror(rc);
    }
    json_t *d = json_pack("{s:s,s:b,s:I}", "status", rc == 0 ? "ok" : "down", "embedded",
                          rt->pg_embedded, "latency_ms", (json_int_t)(bb_time_mono_ms() - t0));
    if (why) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", why);
        msg[strcspn(msg, "\n")] = '\0';
        json_object_set_new(d, "error", json_string(msg));
    }
    if (conn) bb_pg_pool_release(rt->pg, conn);
    *out = d;
    return rc;
}

/* Raises the soft RLIMIT_NOFILE to the hard limit (a soft 1024 is common and far too low for
 * thousands of connections) and gives the HTTP listeners a file descriptor budget below it, so a
 * flood of connections on one listener leaves descriptors for the others, PostgreSQL, project
 * databases and child processes. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rlim_t before = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            getrlimit(RLIMIT_NOFILE, &rl);
            bb_warn("bunbased", "nofile_raise_failed soft=%llu", (unsigned long long)rl.rlim_cur);
        }
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20)) rl.rlim_cur = 1u << 20;
    size_t soft = (size_t)rl.rlim_cur;
    size_t headroom = soft / 8 > 64 ? soft / 8 : 64;
    size_t budget = soft > headroom * 2 ? soft - headroom : soft / 2;
    bb_http_set_fd_budget(budget);
    bb_info("bunbased", "nofile soft_before=%llu soft=%zu http_fd_budget=%zu per_listener_max=%zu",
            (unsigned long long)before, soft, budget, bb_http_effective_max_connections(SIZE_MAX));
}

static int serve(int argc, char **argv)
{
    static struct server_state st;
    struct bb_config cfg;
    char err[1024] = "";
    int exit_code = 1;
    int lock_fd = -1;
    struct bb_pg_cluster *cluster = NULL;
    struct bb_registry *registry = NULL;
    char token[256];
    char conninfo_buf[1200];
    char public_url[300];

    if (bb_config_load(&cfg, argc, argv, err, sizeof err) != 0) {
        fprintf(stderr, "bunbased: %s\n", err);
        usage(stderr);
        return 2;
    }
    enum bb_log_level lvl;
    if (bb_log_parse_level(cfg.log_level, &lvl) != 0) {
        fprintf(stderr, "bunbased: unknown log level \"%s\"\n", cfg.log_level);
        return 2;
    }
    bb_log_set_level(lvl);
    bb_json_set_max_values(cfg.json_max_values);
    if (bb_registry_select(cfg.services, &registry, err, sizeof err) != 0) {
        fprintf(stderr, "bunbased: %s\n", err);
        return 2;
    }
    /* every selected service's knobs are valid before anything starts; --print-config shows
     * them next to core's */
    json_t *pj = cfg.print_config ? bb_config_to_json(&cfg) : NULL;
    for (size_t i = 0; i < bb_registry_count(registry); i++) {
        const struct bb_service_def *d = bb_registry_def(registry, i);
        if (!d->knobs) continue;
        int krc = bb_knobs_check(d->knobs, bb_knobs_count(d->knobs), d->config_size, pj, err,
                                 sizeof err);
        if (krc != 0) {
            fprintf(stderr, "bunbased: %s\n", krc == BB_EINVAL ? err : bb_strerror(krc));
            json_decref(pj);
            bb_registry_free(registry);
            return krc == BB_EINVAL ? 2 : 1;
        }
    }
    if (cfg.print_config) {
        char *s = pj ? json_dumps(pj, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(pj);
        bb_registry_free(registry);
        return 0;
    }
    raise_nofile();
    if (bb_datadir_prepare(cfg.data_dir, err, sizeof err) != 0 ||
        bb_datadir_lock(cfg.data_dir, &lock_fd, err, sizeof err) != 0 ||
        bb_datadir_internal_token(cfg.data_dir, cfg.internal_token, token, sizeof token, err,
                                  sizeof err) != 0) {
        fprintf(stderr, "bunbased: %s\n", err);
        exit_code = 2;
        goto out;
    }

    uv_loop_t *loop = uv_default_loop();
    struct bb_runtime *rt = &st.rt;
    rt->loop = loop;
    rt->cfg = &cfg;
    rt->internal_token = token;
    rt->started_ms = bb_time_wall_ms();
    rt->metrics = bb_metrics_new();
    if (!rt->metrics || bb_router_new(&rt->router) != 0 ||
        bb_pool_new(loop, (int)cfg.workers, cfg.worker_queue, &rt->pool) != 0) {
        fprintf(stderr, "bunbased: out of memory\n");
        goto out;
    }
    bb_pool_set_max_per_key(rt->pool, cfg.worker_queue_per_project);

    char host[256];
    int port;
    bb_config_split_addr(cfg.listen, host, sizeof host, &port);
    struct bb_http_server_opts hopts = {
        .router = rt->router,
        .pool = rt->pool,
        .metrics = rt->metrics,
        .internal_token = token,
        .name = "platform",
    };
    bb_config_http_public_limits(&cfg, &hopts.limits);
    if (bb_http_server_start(loop, host, port, &hopts, &st.http, err, sizeof err) != 0) {
        fprintf(stderr, "bunbased: %s\n", err);
        exit_code = 2;
        goto out;
    }
    port = bb_http_server_port(st.http);
    struct bb_host_opts host_opts = {loop, &cfg, rt->pool, rt->metrics, token};
    if (bb_host_new(&host_opts, &rt->host) != 0 ||
        bb_host_set_gateway(rt->host, rt->router, host) != 0 ||
        bb_host_add_check(rt->host, "database", check_database, rt) != 0) {
        fprintf(stderr, "bunbased: cannot set up the service host\n");
        goto out;
    }
    snprintf(public_url, sizeof public_url, "http://%s:%d",
             strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ? "localhost" : host, port);
    rt->public_url = public_url;

    if (cfg.database_url[0]) {
        snprintf(conninfo_buf, sizeof conninfo_buf, "%s", cfg.database_url);
    } else {
        bb_info("bunbased", "postgres_starting dir=%s/postgres", cfg.data_dir);
        if (bb_pg_cluster_start(cfg.data_dir, cfg.pg_fallback_dir, &cluster, err, sizeof err) != 0) {
            fprintf(stderr, "bunbased: embedded PostgreSQL: %s\n", err);
            goto out;
        }
        snprintf(conninfo_buf, sizeof conninfo_buf, "%s", bb_pg_cluster_conninfo(cluster));
        rt->pg_embedded = 1;
    }
    rt->pg_conninfo = conninfo_buf;
    {
        PGconn *c = NULL;
        if (bb_pg_connect(conninfo_buf, &c, err, sizeof err) != 0) {
            fprintf(stderr, "bunbased: cannot connect to PostgreSQL: %s\n", err);
            goto out;
        }
        PQfinish(c);
    }
    if (bb_pg_pool_new(conninfo_buf, (int)cfg.pg_pool_size, &rt->pg) != 0) {
        fprintf(stderr, "bunbased: cannot create the PostgreSQL pool\n");
        goto out;
    }
    int src = bb_registry_start(registry, rt, err, sizeof err);
    if (src != 0) {
        fprintf(stderr, "bunbased: %s\n", err);
        /* a service's configuration error (bad knob, unusable address) is exit 2, like ours */
        if (src == BB_EINVAL) exit_code = 2;
        goto out;
    }
    bb_host_health_start(rt->host); /* the first answer is known before the first request */

    uv_signal_init(loop, &st.sigterm);
    uv_signal_init(loop, &st.sigint);
    st.sigterm.data = st.sigint.data = &st;
    uv_signal_start(&st.sigterm, on_signal, SIGTERM);
    uv_signal_start(&st.sigint, on_signal, SIGINT);

    printf("bunbased listening on %s\n", public_url);
    fflush(stdout);
    bb_info("bunbased", "ready url=%s data=%s services=%s", public_url, cfg.data_dir, cfg.services);
    uv_run(loop, UV_RUN_DEFAULT);
    exit_code = 0;
    bb_info("bunbased", "stopped");

out:
    if (exit_code != 0 && st.http) {
        /* failed after listening: release what started, then let the loop close handles */
        bb_host_services_stop(st.rt.host);
        bb_http_server_free(st.http);
        st.http = NULL;
        if (st.rt.pool) bb_pool_free(st.rt.pool);
        st.rt.pool = NULL;
        uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    }
    bb_host_free(st.rt.host); /* after the pool: no health refresh is left running */
    st.rt.host = NULL;
    if (st.rt.pg) bb_pg_pool_free(st.rt.pg);
    if (cluster) bb_pg_cluster_stop(cluster);
    bb_router_free(st.rt.router);
    bb_metrics_free(st.rt.metrics);
    bb_registry_free(registry);
    bb_datadir_unlock(lock_fd);
    if (exit_code == 0) uv_loop_close(uv_default_loop());
    return exit_code;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "serve")) return serve(argc - 2, argv + 2);
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("bunbased %s\n", BB_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "bunbased: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
