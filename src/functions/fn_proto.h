/* fn_proto.h — the frames between the functions service and a worker process (the QuickJS worker
 * today), documented byte by byte in docs/internals/functions.md.
 *
 * A frame is   u32 LE length | u8 type | payload (length - 1 bytes)
 * where length counts the type byte and the payload (never the 4-byte prefix) and is at most the
 * negotiated maximum (--max-frame on the worker's command line, BUNBASE_FUNCTIONS_MAX_FRAME_BYTES
 * in the service). No line lengths, no text framing: bodies are raw bytes.
 *
 * Inside payloads, a "str" is u32 LE length + bytes (not NUL-terminated on the wire); integers are
 * little-endian. The reader below never reads past the payload: a short or lying frame is an error.
 *
 * Shared by the service (src/functions/) and the worker (src/functions/worker/). No allocation
 * beyond the writer's growing buffer; no dependency but libc.
 */
#ifndef FN_PROTO_H
#define FN_PROTO_H

#include <stddef.h>
#include <stdint.h>

enum fn_frame_type {
    /* service -> worker */
    FN_FRAME_INVOKE = 0x01,       /* u32 timeout_ms | str invocation_id | str method | str url |
                                     u32 nheaders | (str name | str value)* | str body |
                                     [str request_id | str gateway_url | str token]: the context
                                     (optional: a reader takes it when the bytes are there) */
    FN_FRAME_FETCH_RESULT = 0x02, /* u32 fetch_id | u16 status (0: failed) | u32 nheaders |
                                     (str name | str value)* | str body | str error */
    /* worker -> service */
    FN_FRAME_READY = 0x10,      /* empty: the bundle loaded, the worker waits for INVOKE */
    FN_FRAME_LOAD_ERROR = 0x11, /* str message: the bundle did not compile or has no handler */
    FN_FRAME_LOG = 0x20,        /* u8 level (0 debug, 1 log/info, 2 warn, 3 error) | str text */
    FN_FRAME_RESPONSE = 0x21,   /* u16 status | u32 nheaders | (str name | str value)* | str body */
    FN_FRAME_ERROR = 0x22,      /* u8 kind (enum fn_error_kind) | str message */
    FN_FRAME_FETCH = 0x23,      /* u32 fetch_id | str method | str url | u32 nheaders |
                                   (str name | str value)* | str body: an outbound request the
                                   service makes (allow-list) and answers with FETCH_RESULT */
};

enum fn_error_kind {
    FN_ERR_EXCEPTION = 1, /* the handler threw or its promise rejected; the worker stays usable */
    FN_ERR_TIMEOUT = 2,   /* the interrupt handler stopped it at the deadline */
    FN_ERR_MEMORY = 3,    /* JS heap over the memory limit */
    FN_ERR_BAD_RESPONSE = 4, /* the handler returned something that is not a Response */
    FN_ERR_TOO_LARGE = 5,    /* the response is over the frame limit */
};

#define FN_FRAME_HDR 5u /* u32 length + u8 type */

/* A growing byte buffer for building one frame. */
struct fn_buf {
    uint8_t *p;
    size_t len, cap;
    int oom; /* sticky: an allocation failed, the frame is unusable */
};

/* Starts a frame of type t (reserves the header). */
void fn_buf_begin(struct fn_buf *b, uint8_t t);
void fn_buf_u8(struct fn_buf *b, uint8_t v);
void fn_buf_u16(struct fn_buf *b, uint16_t v);
void fn_buf_u32(struct fn_buf *b, uint32_t v);
void fn_buf_str(struct fn_buf *b, const void *s, size_t n);
/* Writes the length prefix; 0, or -1 after an allocation failure. */
int fn_buf_finish(struct fn_buf *b);
void fn_buf_release(struct fn_buf *b);

/* A cursor over a received payload (borrowed). Every getter returns 0, or -1 when the payload is
 * too short (the cursor is then "bad" and every later call fails too). */
struct fn_rd {
    const uint8_t *p;
    size_t len, off;
    int bad;
};
int fn_rd_u8(struct fn_rd *r, uint8_t *v);
int fn_rd_u16(struct fn_rd *r, uint16_t *v);
int fn_rd_u32(struct fn_rd *r, uint32_t *v);
/* *s points into the payload (not NUL-terminated), *n its length. */
int fn_rd_str(struct fn_rd *r, const uint8_t **s, size_t *n);

/* Blocking full write of n bytes to fd (EINTR retried); 0 or -1. */
int fn_write_all(int fd, const void *p, size_t n);
/* Blocking read of exactly n bytes; 0, -1 (error) or 1 (EOF before n bytes). */
int fn_read_all(int fd, void *p, size_t n);

#endif
