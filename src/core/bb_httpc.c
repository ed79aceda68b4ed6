/* bb_httpc.c — HTTP client on libcurl; see bb_httpc.h for the contract.
 *
 * Each call builds its own easy handle, so there is no shared mutable state apart from the
 * one-time curl_global_init(). The body is collected by a write callback that refuses to grow past
 * max_response_bytes (curl then fails with CURLE_WRITE_ERROR, which we map to BB_ETOOBIG via a
 * flag); CURLOPT_MAXFILESIZE_LARGE rejects an announced Content-Length over the cap before any body
 * is read. Response headers are collected line by line; a new status line (1xx interim responses)
 * starts the list afresh so only the final response's headers remain.
 */
#include "bb_httpc.h"

#include "bb_err.h"
#include "bb_log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct collect {
    char *body;
    size_t len, cap, max;
    int too_big;
    struct bb_httpc_header *hdrs;
    size_t n_hdrs;
    size_t hdr_bytes;
    int hdr_too_big;
    int oom;
};

static int has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct collect *c = ud;
    size_t n = size * nmemb;
    if (n > c->max - c->len) {
        c->too_big = 1;
        return 0;
    }
    if (c->len + n + 1 > c->cap) {
        size_t ncap = c->cap ? c->cap : 4096;
        while (ncap < c->len + n + 1)
            ncap *= 2;
        if (ncap > c->max + 1) ncap = c->max + 1;
        char *nb = realloc(c->body, ncap);
        if (!nb) {
            c->oom = 1;
            return 0;
        }
        c->body = nb;
        c->cap = ncap;
    }
    memcpy(c->body + c->len, ptr, n);
    c->len += n;
    c->body[c->len] = '\0';
    return n;
}

static void free_headers(struct bb_httpc_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

static char *dup_trim(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct collect *c = ud;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        /* a new response starts (interim 1xx or the final one): forget earlier headers */
        free_headers(c->hdrs, c->n_hdrs);
        c->hdrs = NULL;
        c->n_hdrs = 0;
        c->hdr_bytes = 0;
        return n;
    }
    c->hdr_bytes += n;
    if (c->hdr_bytes > BB_HTTPC_MAX_HEADER_BYTES) {
        c->hdr_too_big = 1;
        return 0;
    }
    const char *colon = memchr(ptr, ':', n);
    if (!colon) return n; /* blank line ending the headers, or junk */
    if (c->n_hdrs >= BB_HTTPC_MAX_HEADERS) {
        c->hdr_too_big = 1;
        return 0;
    }
    if (!c->hdrs) {
        c->hdrs = calloc(BB_HTTPC_MAX_HEADERS, sizeof *c->hdrs);
        if (!c->hdrs) {
            c->oom = 1;
            return 0;
        }
    }
    char *name = dup_trim(ptr, (size_t)(colon - ptr));
    char *value = dup_trim(colon + 1, n - (size_t)(colon - ptr) - 1);
    if (!name || !value) {
        free(name);
        free(value);
        c->oom = 1;
        return 0;
    }
    c->hdrs[c->n_hdrs].name = name;
    c->hdrs[c->n_hdrs].value = value;
    c->n_hdrs++;
    return n;
}

static int map_curl_error(CURLcode cc, const struct collect *c)
{
    if (c->oom) return BB_ENOMEM;
    if (c->too_big) return BB_ETOOBIG;
    if (c->hdr_too_big) return BB_EHDRTOOBIG;
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return BB_ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return BB_EUNAVAIL;
    case CURLE_FILESIZE_EXCEEDED:
        return BB_ETOOBIG;
    case CURLE_OUT_OF_MEMORY:
        return BB_ENOMEM;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return BB_EINVAL;
    default:
        return BB_EIO;
    }
}

int bb_httpc_do(const struct bb_httpc_request *req, struct bb_httpc_response *out)
{
    int rc = 0;
    CURL *h = NULL;
    struct curl_slist *hl = NULL;
    struct collect c = {0};
    char ridbuf[BB_HTTPC_MAX_REQUEST_ID + 32];

    if (out) memset(out, 0, sizeof *out);
    if (!req || !out || !req->url || (req->body_len && !req->body)) return BB_EINVAL;
    const char *method = req->method ? req->method : "GET";
    if (!*method || strlen(method) > 16 || has_crlf(method) || strchr(method, ' '))
        return BB_EINVAL;

    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) return BB_EIO;

    c.max = req->max_response_bytes ? req->max_response_bytes : BB_HTTPC_DEFAULT_MAX_RESPONSE;
    long timeout = req->timeout_ms > 0 ? req->timeout_ms : BB_HTTPC_DEFAULT_TIMEOUT_MS;
    long ctimeout = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : BB_HTTPC_DEFAULT_CONNECT_MS;

    if (req->headers) {
        for (const char *const *p = req->headers; *p; p++) {
            if (has_crlf(*p) || !strchr(*p, ':')) {
                rc = BB_EINVAL;
                goto out;
            }
            struct curl_slist *n = curl_slist_append(hl, *p);
            if (!n) {
                rc = BB_ENOMEM;
                goto out;
            }
            hl = n;
        }
    }
    if (req->request_id && *req->request_id) {
        if (strlen(req->request_id) > BB_HTTPC_MAX_REQUEST_ID || has_crlf(req->request_id)) {
            rc = BB_EINVAL;
            goto out;
        }
        snprintf(ridbuf, sizeof ridbuf, "X-Request-Id: %s", req->request_id);
        struct curl_slist *n = curl_slist_append(hl, ridbuf);
        if (!n) {
            rc = BB_ENOMEM;
            goto out;
        }
        hl = n;
    }
    {
        /* no "Expect: 100-continue" round trip for request bodies */
        struct curl_slist *n = curl_slist_append(hl, "Expect:");
        if (!n) {
            rc = BB_ENOMEM;
            goto out;
        }
        hl = n;
    }

    h = curl_easy_init();
    if (!h) {
        rc = BB_ENOMEM;
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ctimeout);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c.max);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &c);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "bunbase/" BB_VERSION);
    if (req->unix_socket) curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, req->unix_socket);

    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") == 0 && req->body_len == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body_len ? req->body : "");
        if (strcmp(method, "POST") != 0) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }

    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        rc = map_curl_error(cc, &c);
        if (rc == BB_EIO) bb_debug("httpc", "transport_error err=%d", (int)cc);
        goto out;
    }
    if (!c.body) {
        c.body = malloc(1);
        if (!c.body) {
            rc = BB_ENOMEM;
            goto out;
        }
        c.body[0] = '\0';
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    out->body = c.body;
    out->body_len = c.len;
    out->headers = c.hdrs;
    out->n_headers = c.n_hdrs;
    c.body = NULL;
    c.hdrs = NULL;
    c.n_hdrs = 0;

out:
    if (h) curl_easy_cleanup(h);
    curl_slist_free_all(hl);
    free(c.body);
    free_headers(c.hdrs, c.n_hdrs);
    return rc;
}

const char *bb_httpc_response_header(const struct bb_httpc_response *resp, const char *name)
{
    if (!resp || !name) return NULL;
    for (size_t i = 0; i < resp->n_headers; i++)
        if (strcasecmp(resp->headers[i].name, name) == 0) return resp->headers[i].value;
    return NULL;
}

void bb_httpc_response_release(struct bb_httpc_response *resp)
{
    if (!resp) return;
    free(resp->body);
    free_headers(resp->headers, resp->n_headers);
    memset(resp, 0, sizeof *resp);
}
