/* test_httpc.c — bb_httpc against a tiny real HTTP/1.1 server run in a thread on 127.0.0.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bb_err.h"
#include "bb_httpc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ---- tiny server ------------------------------------------------------------------------------ */

struct srv {
    int lfd;
    int port;
    atomic_int stop; /* set by the test thread, read by the server thread */
    pthread_t th;
    pthread_mutex_t mu;
    char last_rid[256];
    int requests;
};

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

static void respond(int fd, int status, const char *extra_hdrs, const char *body, size_t len,
                    int with_length)
{
    char hdr[1024];
    int n;
    if (with_length)
        n = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
                     len, extra_hdrs);
    else
        n = snprintf(hdr, sizeof hdr, "HTTP/1.1 %d X\r\nConnection: close\r\n%s\r\n", status,
                     extra_hdrs);
    send_all(fd, hdr, (size_t)n);
    send_all(fd, body, len);
}

static const char *find_header(const char *req, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = strstr(req, "\r\n");
    while (p && p[2] != '\r') {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t len = e ? (size_t)(e - v) : strlen(v);
            if (len >= cap) len = cap - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return out;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

static void handle(struct srv *s, int fd)
{
    static char buf[65536];
    size_t len = 0;
    char *end = NULL;
    while (len < sizeof buf - 1) {
        ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (r <= 0) return;
        len += (size_t)r;
        buf[len] = '\0';
        if ((end = strstr(buf, "\r\n\r\n"))) break;
    }
    if (!end) return;
    char val[256];
    size_t clen = 0;
    if (find_header(buf, "Content-Length", val, sizeof val)) clen = strtoul(val, NULL, 10);
    size_t hlen = (size_t)(end - buf) + 4;
    while (len < hlen + clen && len < sizeof buf - 1) {
        ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (r <= 0) return;
        len += (size_t)r;
    }
    buf[len] = '\0';
    char rid[256] = "";
    find_header(buf, "X-Request-Id", rid, sizeof rid);
    pthread_mutex_lock(&s->mu);
    snprintf(s->last_rid, sizeof s->last_rid, "%s", rid);
    s->requests++;
    pthread_mutex_unlock(&s->mu);

    char method[16] = "", path[256] = "";
    sscanf(buf, "%15s %255s", method, path);
    if (strcmp(path, "/echo") == 0) {
        char extra[512];
        snprintf(extra, sizeof extra, "X-Request-Id: %s\r\nX-Method: %s\r\nX-Multi: a\r\n", rid,
                 method);
        respond(fd, 200, extra, buf + hlen, clen, 1);
    } else if (strncmp(path, "/status/", 8) == 0) {
        int st = (int)strtol(path + 8, NULL, 10);
        respond(fd, st, "Content-Type: application/json\r\n", "{\"status\":\"x\"}", 14, 1);
    } else if (strcmp(path, "/sleep") == 0) {
        /* wait up to 3 s, or until the client hangs up */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 3000);
        respond(fd, 200, "", "late", 4, 1);
    } else if (strcmp(path, "/big") == 0 || strcmp(path, "/bigstream") == 0) {
        static char big[100000];
        memset(big, 'x', sizeof big);
        respond(fd, 200, "", big, sizeof big, strcmp(path, "/big") == 0);
    } else {
        respond(fd, 404, "", "not found", 9, 1);
    }
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    while (!s->stop) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) continue;
        handle(s, fd);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    return NULL;
}

static int listen_any(int *port_out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *port_out = ntohs(sa.sin_port);
    return fd;
}

static int setup(void **state)
{
    struct srv *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = listen_any(&s->port);
    pthread_create(&s->th, NULL, srv_main, s);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct srv *s = *state;
    s->stop = 1;
    pthread_join(s->th, NULL);
    close(s->lfd);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return 0;
}

static void url(char *buf, size_t cap, const struct srv *s, const char *path)
{
    snprintf(buf, cap, "http://127.0.0.1:%d%s", s->port, path);
}

/* ---- tests ------------------------------------------------------------------------------------- */

static void test_status_and_body(void **state)
{
    struct srv *s = *state;
    char u[128];
    url(u, sizeof u, s, "/status/201");
    struct bb_httpc_request req = {.url = u};
    struct bb_httpc_response resp;
    assert_int_equal(bb_httpc_do(&req, &resp), 0);
    assert_int_equal(resp.status, 201);
    assert_int_equal(resp.body_len, 14);
    assert_string_equal(resp.body, "{\"status\":\"x\"}");
    assert_string_equal(bb_httpc_response_header(&resp, "content-type"), "application/json");
    assert_string_equal(bb_httpc_response_header(&resp, "CONTENT-LENGTH"), "14");
    assert_null(bb_httpc_response_header(&resp, "X-Nope"));
    bb_httpc_response_release(&resp);
    assert_null(resp.body);
    bb_httpc_response_release(&resp); /* twice is fine */

    url(u, sizeof u, s, "/nowhere");
    assert_int_equal(bb_httpc_do(&req, &resp), 0);
    assert_int_equal(resp.status, 404);
    assert_string_equal(resp.body, "not found");
    bb_httpc_response_release(&resp);
}

static void test_post_body_and_request_id(void **state)
{
    struct srv *s = *state;
    char u[128];
    url(u, sizeof u, s, "/echo");
    const char *hdrs[] = {"Content-Type: application/json", "X-Extra: 1", NULL};
    const char body[] = "{\"hello\":\"world\"}";
    struct bb_httpc_request req = {.method = "PUT",
                                   .url = u,
                                   .headers = hdrs,
                                   .body = body,
                                   .body_len = sizeof body - 1,
                                   .request_id = "01HZX3REQUESTID00000000000"};
    struct bb_httpc_response resp;
    assert_int_equal(bb_httpc_do(&req, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body_len, sizeof body - 1);
    assert_memory_equal(resp.body, body, sizeof body - 1);
    assert_string_equal(bb_httpc_response_header(&resp, "x-request-id"),
                        "01HZX3REQUESTID00000000000");
    assert_string_equal(bb_httpc_response_header(&resp, "X-Method"), "PUT");
    pthread_mutex_lock(&s->mu);
    assert_string_equal(s->last_rid, "01HZX3REQUESTID00000000000");
    pthread_mutex_unlock(&s->mu);
    bb_httpc_response_release(&resp);

    /* POST with an empty body, no request id: no X-Request-Id is sent */
    struct bb_httpc_request req2 = {.method = "POST", .url = u};
    assert_int_equal(bb_httpc_do(&req2, &resp), 0);
    assert_int_equal(resp.body_len, 0);
    assert_string_equal(resp.body, "");
    assert_string_equal(bb_httpc_response_header(&resp, "X-Method"), "POST");
    pthread_mutex_lock(&s->mu);
    assert_string_equal(s->last_rid, "");
    pthread_mutex_unlock(&s->mu);
    bb_httpc_response_release(&resp);
}

static void test_header_injection_rejected(void **state)
{
    struct srv *s = *state;
    char u[128];
    url(u, sizeof u, s, "/echo");
    struct bb_httpc_response resp;
    struct bb_httpc_request req = {.url = u, .request_id = "abc\r\nX-Evil: 1"};
    assert_int_equal(bb_httpc_do(&req, &resp), BB_EINVAL);
    const char *hdrs[] = {"X-A: 1\r\nX-Evil: 1", NULL};
    struct bb_httpc_request req2 = {.url = u, .headers = hdrs};
    assert_int_equal(bb_httpc_do(&req2, &resp), BB_EINVAL);
    struct bb_httpc_request req3 = {.url = NULL};
    assert_int_equal(bb_httpc_do(&req3, &resp), BB_EINVAL);
    struct bb_httpc_request req4 = {.url = "ftp://127.0.0.1/x"};
    assert_int_equal(bb_httpc_do(&req4, &resp), BB_EINVAL);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void test_timeout(void **state)
{
    struct srv *s = *state;
    char u[128];
    url(u, sizeof u, s, "/sleep");
    struct bb_httpc_request req = {.url = u, .timeout_ms = 200};
    struct bb_httpc_response resp;
    long t0 = now_ms();
    assert_int_equal(bb_httpc_do(&req, &resp), BB_ETIMEDOUT);
    long dt = now_ms() - t0;
    assert_true(dt >= 150);
    assert_true(dt < 2500);
    assert_null(resp.body);
}

static void test_connection_refused(void **state)
{
    (void)state;
    int port;
    int fd = listen_any(&port);
    close(fd); /* the port is now (almost certainly) closed */
    char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/x", port);
    struct bb_httpc_request req = {.url = u, .timeout_ms = 2000};
    struct bb_httpc_response resp;
    assert_int_equal(bb_httpc_do(&req, &resp), BB_EUNAVAIL);
}

static void test_size_cap(void **state)
{
    struct srv *s = *state;
    char u[128];
    struct bb_httpc_response resp;
    /* announced Content-Length over the cap */
    url(u, sizeof u, s, "/big");
    struct bb_httpc_request req = {.url = u, .max_response_bytes = 1000};
    assert_int_equal(bb_httpc_do(&req, &resp), BB_ETOOBIG);
    /* streamed without Content-Length */
    url(u, sizeof u, s, "/bigstream");
    assert_int_equal(bb_httpc_do(&req, &resp), BB_ETOOBIG);
    /* exactly at the cap is fine */
    req.max_response_bytes = 100000;
    assert_int_equal(bb_httpc_do(&req, &resp), 0);
    assert_int_equal(resp.body_len, 100000);
    assert_int_equal(resp.body[99999], 'x');
    bb_httpc_response_release(&resp);
}

struct thr_arg {
    struct srv *s;
    int ok;
};

static void *thr_main(void *arg)
{
    struct thr_arg *a = arg;
    char u[128];
    url(u, sizeof u, a->s, "/echo");
    for (int i = 0; i < 10; i++) {
        char body[32];
        int n = snprintf(body, sizeof body, "b%d", i);
        struct bb_httpc_request req = {.method = "POST", .url = u, .body = body, .body_len = (size_t)n};
        struct bb_httpc_response resp;
        if (bb_httpc_do(&req, &resp) != 0) continue;
        if (resp.status == 200 && strcmp(resp.body, body) == 0) a->ok++;
        bb_httpc_response_release(&resp);
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct thr_arg a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        a[i].s = *state;
        a[i].ok = 0;
        pthread_create(&th[i], NULL, thr_main, &a[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(a[i].ok, 10);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_and_body),
        cmocka_unit_test(test_post_body_and_request_id),
        cmocka_unit_test(test_header_injection_rejected),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
