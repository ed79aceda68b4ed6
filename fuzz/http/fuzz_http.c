/* Fuzz target: the HTTP request path — http_parser callbacks, limits, URL splitting and the
 * router — through bb_http_parse_for_test, which runs the server's own code without sockets.
 * Any input must yield a valid status (200 dispatched, or a 4xx/5xx the server would send),
 * never a crash, leak or sanitizer report. */
#include <stdint.h>
#include <stdlib.h>

#include "bb_http.h"
#include "bb_router.h"

static void h(struct bb_http_request *req, struct bb_http_response *res)
{
    (void)req, (void)res;
}

static const struct bb_route routes[] = {
    {"GET", "/health", h, BB_AUTH_NONE, 0, 0, NULL},
    {"GET", "/v1/projects/{projectId}", h, BB_AUTH_NONE, 0, 0, NULL},
    {"POST", "/v1/projects/{projectId}/databases/{db}/documents/{c}/{id}", h, BB_AUTH_NONE, 0, 64,
     NULL},
    {"DELETE", "/v1/projects/{projectId}", h, BB_AUTH_INTERNAL, 0, 0, NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct bb_router *r;
    if (!r) {
        if (bb_router_new(&r) != 0) abort();
        if (bb_router_add(r, routes, sizeof routes / sizeof routes[0], NULL) != 0) abort();
    }
    struct bb_http_limits l;
    bb_http_limits_default(&l);
    l.max_header_bytes = 2048;
    l.max_body_bytes = 4096;
    int st = bb_http_parse_for_test((const char *)data, size, &l, r);
    if (st != 0 && (st < 200 || st > 599)) abort();
    return 0;
}
