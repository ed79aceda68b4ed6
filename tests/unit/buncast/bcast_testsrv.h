/* bcast_testsrv.h — an in-process buncast broker + IPC server on its own loop thread, for the
 * buncast unit tests (header-only; included by test_*.c). */
#ifndef BCAST_TESTSRV_H
#define BCAST_TESTSRV_H

#include "bcast_broker.h"
#include "bcast_ipc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define TSRV_TOKEN "unit-test-internal-token"

struct tsrv {
    uv_loop_t loop;
    pthread_t th;
    uv_async_t stop_async;
    struct bcast_broker *b;
    struct bcast_ipc *ipc;
    struct bcast_broker_opts bo;
    struct bcast_ipc_opts io;
    char dir[256], path[300], logdir[300], tcp[64];
    int port;
    int ready, failed;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void tsrv_on_stop(uv_async_t *a)
{
    struct tsrv *s = a->data;
    bcast_ipc_stop(s->ipc, NULL, NULL);
    uv_close((uv_handle_t *)&s->stop_async, NULL);
}

static void *tsrv_main(void *arg)
{
    struct tsrv *s = arg;
    char err[256] = "";
    uv_loop_init(&s->loop);
    int rc = bcast_broker_new(&s->b, &s->bo, err, sizeof err);
    if (rc == 0) rc = bcast_ipc_start(&s->ipc, &s->loop, s->b, &s->io, s->path, s->tcp, err, sizeof err);
    if (rc) fprintf(stderr, "tsrv: %s\n", err);
    if (rc == 0) {
        uv_async_init(&s->loop, &s->stop_async, tsrv_on_stop);
        s->stop_async.data = s;
        s->port = bcast_ipc_tcp_port(s->ipc);
    }
    pthread_mutex_lock(&s->mu);
    s->ready = 1;
    s->failed = rc != 0;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    bcast_broker_free(s->b);
    s->b = NULL;
    uv_loop_close(&s->loop);
    return NULL;
}

/* Fills default options; the caller may change s->bo / s->io before tsrv_start. dir: a fresh temp
 * dir (kept across a restart when reuse_dir is 1). */
static void tsrv_init(struct tsrv *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/bcast-ut-XXXXXX");
    if (!mkdtemp(s->dir)) abort();
    snprintf(s->path, sizeof s->path, "%s/b.sock", s->dir);
    snprintf(s->logdir, sizeof s->logdir, "%s/log", s->dir);
    snprintf(s->tcp, sizeof s->tcp, "127.0.0.1:0");
    s->bo.ring_size = 1024;
    s->bo.max_topics = 10000;
    s->bo.max_event_bytes = 1 << 20;
    s->bo.topic_idle_ms = 60000;
    s->bo.durable_prefixes = "";
    s->bo.log_dir = s->logdir;
    s->bo.segment_bytes = 1 << 20;
    s->bo.retention_bytes = 1 << 30;
    s->bo.retention_ms = 0;
    s->io.max_frame = 16u << 20;
    s->io.queue_bytes = 4u << 20;
    s->io.max_connections = 2000;
    s->io.max_subs = 64;
    s->io.slow_close_ms = 500;
    s->io.token = TSRV_TOKEN;
    s->io.auth_timeout_ms = 5000;
    s->io.max_created = 1000;
}

static int tsrv_start(struct tsrv *s)
{
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->ready = s->failed = 0;
    if (pthread_create(&s->th, NULL, tsrv_main, s) != 0) return -1;
    pthread_mutex_lock(&s->mu);
    while (!s->ready)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    if (s->failed) {
        pthread_join(s->th, NULL);
        return -1;
    }
    return 0;
}

static void tsrv_stop(struct tsrv *s)
{
    uv_async_send(&s->stop_async);
    pthread_join(s->th, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

static void tsrv_cleanup(struct tsrv *s)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    if (system(cmd) != 0) fprintf(stderr, "tsrv: could not remove %s\n", s->dir);
}

#endif
