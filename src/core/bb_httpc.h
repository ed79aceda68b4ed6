/* bb_httpc.h — blocking HTTP client on libcurl, for worker threads and the CLI.
 *
 * One call = one request on a fresh curl easy handle (no shared state between calls), so any
 * number of threads may call bb_httpc_do() concurrently. curl_global_init() runs once, on the
 * first call, through pthread_once. Signals are never used (CURLOPT_NOSIGNAL), only http and https
 * are allowed, redirects are not followed.
 *
 * Limits (every one bounded, 0 in the request means "use the default"):
 *   timeout_ms           whole request, default BB_HTTPC_DEFAULT_TIMEOUT_MS    -> BB_ETIMEDOUT
 *   connect_timeout_ms   TCP/TLS connect, default BB_HTTPC_DEFAULT_CONNECT_MS   -> BB_ETIMEDOUT
 *   max_response_bytes   response body, default BB_HTTPC_DEFAULT_MAX_RESPONSE   -> BB_ETOOBIG
 *   response headers     at most BB_HTTPC_MAX_HEADERS lines / BB_HTTPC_MAX_HEADER_BYTES bytes
 *                                                                               -> BB_EHDRTOOBIG
 * Request header lines and request_id must not contain CR or LF (header injection) -> BB_EINVAL.
 */
#ifndef BB_HTTPC_H
#define BB_HTTPC_H

#include <stddef.h>

#define BB_HTTPC_DEFAULT_TIMEOUT_MS 30000L
#define BB_HTTPC_DEFAULT_CONNECT_MS 10000L
#define BB_HTTPC_DEFAULT_MAX_RESPONSE (8u * 1024u * 1024u)
#define BB_HTTPC_MAX_HEADERS 128
#define BB_HTTPC_MAX_HEADER_BYTES (64u * 1024u)
#define BB_HTTPC_MAX_REQUEST_ID 128

/* Everything is borrowed for the duration of bb_httpc_do() only. */
struct bb_httpc_request {
    const char *method;              /* "GET", "POST", ...; NULL = "GET" */
    const char *url;                 /* required, http:// or https:// */
    const char *const *headers;      /* "Name: value" lines, NULL-terminated; may be NULL */
    const void *body;                /* may be NULL when body_len == 0 */
    size_t body_len;
    long timeout_ms;                 /* 0 = default */
    long connect_timeout_ms;         /* 0 = default */
    const char *request_id;          /* sent as X-Request-Id when non-NULL and non-empty */
    size_t max_response_bytes;       /* 0 = default */
    const char *unix_socket;         /* connect to this unix socket path instead of TCP; optional */
};

/* One response header; name and value are owned by the response. */
struct bb_httpc_header {
    char *name;
    char *value; /* leading/trailing whitespace trimmed */
};

/* Owned by the caller after a successful bb_httpc_do(); free with bb_httpc_response_release(). */
struct bb_httpc_response {
    long status;                      /* HTTP status code */
    char *body;                       /* body_len bytes plus a NUL terminator; never NULL on success */
    size_t body_len;
    struct bb_httpc_header *headers;  /* headers of the final response, in order received */
    size_t n_headers;
};

/* Performs the request. On success (any HTTP status) returns 0 and fills *out, which the caller
 * releases. On failure returns BB_EINVAL (bad request fields), BB_ETIMEDOUT, BB_EUNAVAIL (connection
 * refused, host not found), BB_ETOOBIG (body over max_response_bytes), BB_EHDRTOOBIG, BB_ENOMEM or
 * BB_EIO (other transport errors); *out is then zeroed and needs no release. */
int bb_httpc_do(const struct bb_httpc_request *req, struct bb_httpc_response *out);

/* Value of the first response header called name (ASCII case-insensitive), or NULL. Borrowed: valid
 * until bb_httpc_response_release(). */
const char *bb_httpc_response_header(const struct bb_httpc_response *resp, const char *name);

/* Frees what the response holds and zeroes it; safe on a zeroed response and twice. */
void bb_httpc_response_release(struct bb_httpc_response *resp);

#endif
