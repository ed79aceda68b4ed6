/* bb_host: services on the gateway or their own listener, one /health shape with 200/503, the
 * /metrics policy, address files, and health that never races with stop (run under ASan/TSan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bb_config.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_host.h"
#include "bb_http.h"
#include "bb_httpc.h"
#include "bb_metrics.h"
#include "bb_pool.h"
#include "bb_router.h"
#include "bb_service.h"
#include "bb_time.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOKEN "0123456789abcdef0123456789abcdef-host-test"

/* ---- two fake services -------------------------------------------------------------------- */

struct fake {
    int magic; /* 0x5eed while alive; health() after stop would see the freed block under ASan */
    int degraded;
    int health_sleep_ms;
    atomic_int health_calls;
};

static int fake_port;

static void h_hello(struct bb_http_request *req, struct bb_http_response *res)
{
    struct fake *f = req->ctx;
    char body[64];
    int n = snprintf(body, sizeof body, "{\"hello\":%d}", f->degraded);
    bb_http_reply_copy(res, 200, "application/json", body, (size_t)n);
}

static const struct bb_route one_routes[] = {{"GET", "/v1/one", h_hello, 0, 0, 0, NULL}};
static const struct bb_route two_routes[] = {{"GET", "/v1/two", h_hello, 0, 0, 0, NULL}};

static int fake_start(struct bb_runtime *rt, void **state, const char *name,
                      const struct bb_route *routes, int degraded, char *err, size_t cap)
{
    struct fake *f = calloc(1, sizeof *f);
    f->magic = 0x5eed;
    f->degraded = degraded;
    f->health_sleep_ms = degraded ? 3 : 0; /* widens the window a stop can land in */
    int rc = bb_host_mount(rt->host, name, routes, 1, f, NULL, &fake_port, err, cap);
    if (rc) {
        free(f);
        return rc;
    }
    *state = f;
    return 0;
}

static int one_start(struct bb_runtime *rt, void **state, char *err, size_t cap)
{
    return fake_start(rt, state, "fake-one", one_routes, 0, err, cap);
}

static int two_start(struct bb_runtime *rt, void **state, char *err, size_t cap)
{
    return fake_start(rt, state, "fake-two", two_routes, 1, err, cap);
}

static void fake_stop(void *state)
{
    struct fake *f = state;
    f->magic = 0;
    free(f);
}

static int fake_health(void *state, json_t **detail)
{
    struct fake *f = state;
    assert_int_equal(f->magic, 0x5eed);
    atomic_fetch_add(&f->health_calls, 1);
    if (f->health_sleep_ms) bb_time_sleep_ms((uint64_t)f->health_sleep_ms);
    *detail = json_pack("{s:s,s:i}", "status", f->degraded ? "degraded" : "ok", "calls",
                        atomic_load(&f->health_calls));
    return f->degraded ? BB_EUNAVAIL : 0;
}

static const struct bb_service_def one_def = {
    .name = "fake-one", .start = one_start, .stop = fake_stop, .health = fake_health};
static const struct bb_service_def two_def = {
    .name = "fake-two", .start = two_start, .stop = fake_stop, .health = fake_health};

static int db_check(void *arg, json_t **detail)
{
    *detail = json_pack("{s:s}", "status", "ok");
    return 0;
}

/* ---- a process-like fixture: loop thread, pool, gateway, host ------------------------------ */

struct fx {
    uv_loop_t loop;
    uv_async_t stop;
    pthread_t thread;
    struct bb_config cfg;
    struct bb_pool *pool;
    struct bb_metrics *metrics;
    struct bb_router *gw_router;
    struct bb_http_server *gw;
    struct bb_host *host;
    struct bb_runtime rt;
    int gw_port;
    char dir[64];
};

static void on_stop(uv_async_t *a)
{
    uv_stop(a->loop);
}

static void *loop_main(void *arg)
{
    struct fx *x = arg;
    uv_run(&x->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void fx_start(struct fx *x, const char *metrics_access, int with_two)
{
    memset(x, 0, sizeof *x);
    snprintf(x->dir, sizeof x->dir, "/tmp/bb_host_test.XXXXXX");
    assert_non_null(mkdtemp(x->dir));
    char *argv[] = {"test_host", NULL};
    char cerr[256];
    assert_int_equal(bb_config_load(&x->cfg, 0, argv, cerr, sizeof cerr), 0);
    snprintf(x->cfg.data_dir, sizeof x->cfg.data_dir, "%s", x->dir);
    snprintf(x->cfg.metrics_access, sizeof x->cfg.metrics_access, "%s", metrics_access);
    x->cfg.health_interval_ms = 20;
    assert_int_equal(uv_loop_init(&x->loop), 0);
    uv_async_init(&x->loop, &x->stop, on_stop);
    assert_int_equal(bb_pool_new(&x->loop, 2, 64, &x->pool), 0);
    x->metrics = bb_metrics_new();
    assert_int_equal(bb_router_new(&x->gw_router), 0);
    struct bb_host_opts ho = {&x->loop, &x->cfg, x->pool, x->metrics, TOKEN};
    assert_int_equal(bb_host_new(&ho, &x->host), 0);
    assert_int_equal(bb_host_set_gateway(x->host, x->gw_router, "127.0.0.1"), 0);
    assert_int_equal(bb_host_add_check(x->host, "database", db_check, NULL), 0);
    struct bb_http_server_opts so = {.router = x->gw_router,
                                     .pool = x->pool,
                                     .metrics = x->metrics,
                                     .internal_token = TOKEN,
                                     .name = "gateway"};
    bb_http_limits_default(&so.limits);
    char err[256];
    assert_int_equal(bb_http_server_start(&x->loop, "127.0.0.1", 0, &so, &x->gw, err, sizeof err), 0);
    x->gw_port = bb_http_server_port(x->gw);
    x->rt = (struct bb_runtime){.loop = &x->loop, .cfg = &x->cfg, .router = x->gw_router,
                                .pool = x->pool, .metrics = x->metrics,
                                .internal_token = TOKEN, .host = x->host};
    assert_int_equal(bb_host_service_start(x->host, &one_def, &x->rt, err, sizeof err), 0);
    if (with_two) assert_int_equal(bb_host_service_start(x->host, &two_def, &x->rt, err, sizeof err), 0);
    assert_int_equal(bb_host_health_start(x->host), 0);
    assert_int_equal(pthread_create(&x->thread, NULL, loop_main, x), 0);
}

static void fx_stop(struct fx *x)
{
    uv_async_send(&x->stop);
    pthread_join(x->thread, NULL);
    bb_host_services_stop(x->host);
    bb_http_server_free(x->gw);
    bb_pool_free(x->pool);
    bb_host_free(x->host);
    uv_close((uv_handle_t *)&x->stop, NULL);
    uv_run(&x->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&x->loop), 0);
    bb_router_free(x->gw_router);
    bb_metrics_free(x->metrics);
    bb_fs_remove_tree(x->dir);
}

static long get(int port, const char *path, const char *auth, json_t **body, char **text)
{
    char url[128], hdr[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", auth ? auth : "");
    const char *headers[] = {hdr, NULL};
    struct bb_httpc_request rq = {.url = url, .headers = auth ? headers : NULL, .timeout_ms = 5000};
    struct bb_httpc_response rs;
    assert_int_equal(bb_httpc_do(&rq, &rs), 0);
    long st = rs.status;
    if (body) *body = json_loadb(rs.body, rs.body_len, 0, NULL);
    if (text) *text = strdup(rs.body);
    bb_httpc_response_release(&rs);
    return st;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_gateway_and_own_listener(void **state)
{
    (void)state;
    struct fx x;
    setenv("BUNBASE_FAKE_TWO_ADDR", "127.0.0.1:0", 1);
    unsetenv("BUNBASE_FAKE_ONE_ADDR");
    fx_start(&x, "auto", 1);
    int own = fake_port; /* the last mount: fake-two's own listener */
    assert_true(own > 0 && own != x.gw_port);

    /* routes: one on the gateway, two on its own listener only */
    assert_int_equal(get(x.gw_port, "/v1/one", NULL, NULL, NULL), 200);
    assert_int_equal(get(x.gw_port, "/v1/two", NULL, NULL, NULL), 404);
    assert_int_equal(get(own, "/v1/two", NULL, NULL, NULL), 200);
    assert_int_equal(get(own, "/v1/one", NULL, NULL, NULL), 404);

    /* gateway /health: every service and the checks; degraded → 503 */
    json_t *j = NULL;
    assert_int_equal(get(x.gw_port, "/health", NULL, &j, NULL), 503);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "degraded");
    json_t *svcs = json_object_get(j, "services");
    assert_string_equal(json_string_value(json_object_get(json_object_get(svcs, "fake-one"), "status")), "ok");
    assert_string_equal(json_string_value(json_object_get(json_object_get(svcs, "fake-two"), "status")), "degraded");
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(j, "checks"), "database"), "status")), "ok");
    json_decref(j);
    /* own /health: the same shape, only its service */
    assert_int_equal(get(own, "/health", NULL, &j, NULL), 503);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "degraded");
    assert_int_equal(json_object_size(json_object_get(j, "services")), 1);
    assert_non_null(json_object_get(json_object_get(j, "services"), "fake-two"));
    json_decref(j);

    /* the snapshot is refreshed: the health call count grows without requests */
    assert_int_equal(get(x.gw_port, "/health", NULL, &j, NULL), 503);
    json_int_t c1 = json_integer_value(json_object_get(json_object_get(json_object_get(j, "services"), "fake-one"), "calls"));
    json_decref(j);
    bb_time_sleep_ms(200);
    assert_int_equal(get(x.gw_port, "/health", NULL, &j, NULL), 503);
    json_int_t c2 = json_integer_value(json_object_get(json_object_get(json_object_get(j, "services"), "fake-one"), "calls"));
    json_decref(j);
    assert_true(c2 > c1);

    /* /metrics: public on loopback listeners */
    char *text = NULL;
    assert_int_equal(get(x.gw_port, "/metrics", NULL, NULL, &text), 200);
    assert_non_null(strstr(text, "bunbase_uptime_seconds"));
    free(text);
    assert_int_equal(get(own, "/metrics", NULL, NULL, NULL), 200);

    /* the address file names the own listener */
    char path[128], buf[256];
    snprintf(path, sizeof path, "%s/fake-two.addr", x.dir);
    assert_int_equal(bb_fs_read_small(path, buf, sizeof buf, NULL), 0);
    char want[64];
    snprintf(want, sizeof want, "\"http\":\"127.0.0.1:%d\"", own);
    assert_non_null(strstr(buf, want));
    assert_int_equal(bb_host_publish_addr(x.host, "fake-two", "rpc", "127.0.0.1:9"), 0);
    assert_int_equal(bb_fs_read_small(path, buf, sizeof buf, NULL), 0);
    assert_non_null(strstr(buf, want));
    assert_non_null(strstr(buf, "\"rpc\":\"127.0.0.1:9\""));
    assert_int_equal(bb_host_publish_addr(x.host, "nope", "rpc", "x"), BB_ENOTFOUND);
    /* in-process lookup of a running service's state */
    struct fake *two = bb_host_service_state(x.host, "fake-two");
    assert_non_null(two);
    assert_int_equal(two->magic, 0x5eed);
    assert_null(bb_host_service_state(x.host, "nope"));
    json_t *names = bb_host_service_names(x.host);
    assert_int_equal(json_array_size(names), 2);
    assert_string_equal(json_string_value(json_array_get(names, 1)), "fake-two");
    json_decref(names);
    fx_stop(&x);
    unsetenv("BUNBASE_FAKE_TWO_ADDR");
}

static void test_all_ok_is_200_and_metrics_policy(void **state)
{
    (void)state;
    struct fx x;
    unsetenv("BUNBASE_FAKE_ONE_ADDR");
    fx_start(&x, "internal", 0);
    json_t *j = NULL;
    assert_int_equal(get(x.gw_port, "/health", NULL, &j, NULL), 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
    json_decref(j);
    assert_int_equal(get(x.gw_port, "/metrics", NULL, NULL, NULL), 401);
    assert_int_equal(get(x.gw_port, "/metrics", "wrong", NULL, NULL), 401);
    assert_int_equal(get(x.gw_port, "/metrics", TOKEN, NULL, NULL), 200);
    fx_stop(&x);
}

static void test_bad_address_fails_start(void **state)
{
    (void)state;
    struct fx x;
    unsetenv("BUNBASE_FAKE_ONE_ADDR");
    fx_start(&x, "auto", 0);
    setenv("BUNBASE_FAKE_TWO_ADDR", "not-an-address", 1);
    char err[256] = "";
    assert_int_equal(bb_host_service_start(x.host, &two_def, &x.rt, err, sizeof err), BB_EINVAL);
    assert_non_null(strstr(err, "BUNBASE_FAKE_TWO_ADDR"));
    unsetenv("BUNBASE_FAKE_TWO_ADDR");
    /* the failed service is not registered: it can be started once the address is fixed */
    assert_int_equal(bb_host_service_start(x.host, &two_def, &x.rt, err, sizeof err), 0);
    fx_stop(&x);
}

/* Stop while health() runs on a worker, 50 times: stop waits for the call in flight, and no
 * health() runs after stop (fake_health asserts the block is alive; ASan sees a freed one). */
static void test_stop_during_health(void **state)
{
    (void)state;
    unsetenv("BUNBASE_FAKE_ONE_ADDR");
    unsetenv("BUNBASE_FAKE_TWO_ADDR");
    for (int round = 0; round < 50; round++) {
        struct fx x;
        fx_start(&x, "auto", 1);
        bb_time_sleep_ms((uint64_t)(round % 5) * 7);
        uv_async_send(&x.stop);
        pthread_join(x.thread, NULL);
        /* a refresh may be running on a worker right now */
        bb_host_services_stop(x.host);
        bb_http_server_free(x.gw);
        bb_pool_free(x.pool);
        bb_host_free(x.host);
        uv_close((uv_handle_t *)&x.stop, NULL);
        uv_run(&x.loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&x.loop), 0);
        bb_router_free(x.gw_router);
        bb_metrics_free(x.metrics);
        bb_fs_remove_tree(x.dir);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gateway_and_own_listener),
        cmocka_unit_test(test_all_ok_is_200_and_metrics_policy),
        cmocka_unit_test(test_bad_address_fails_start),
        cmocka_unit_test(test_stop_during_health),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
