/* bcast_proto.h — buncast IPC wire format: command codes, payload encoders and decoders, topic
 * name rules. Pure functions (no I/O, no allocation except the _encode helpers that return malloc'd
 * frames); shared by the server (bcast_ipc.c), the client library (buncast_client.c) and the fuzz
 * target. The byte layout is documented at the top of bcast_proto.c and in docs/internals/buncast.md.
 *
 * Framing is the reference's (and bb_rpc's): u32 LE frame_len | u64 LE id | u8 code | u32 LE
 * payload_len | payload, so frames are cut with bb_rpc_decoder.
 */
#ifndef BCAST_PROTO_H
#define BCAST_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "bb_bytes.h"

#include "bb_rpc.h"

/* Commands (client → server, the frame's code byte). 1..5 are the reference's. The first frame
 * on every connection must be AUTH (payload: the internal token); anything else first, or a wrong
 * token, gets an ERROR frame and the connection is closed. */
enum bcast_cmd {
    BCAST_CMD_CREATE_TOPIC = 1,
    BCAST_CMD_DELETE_TOPIC = 2,
    BCAST_CMD_LIST_TOPICS = 3,
    BCAST_CMD_PUBLISH = 4,
    BCAST_CMD_SUBSCRIBE = 5,
    BCAST_CMD_UNSUBSCRIBE = 6,
    BCAST_CMD_AUTH = 7,
    /* Publish whose success is acknowledged in batches: same payload as Publish, no OK per frame;
     * the server sends one ACK frame (below) for the pipelined publishes it handled from one read,
     * and an ERROR frame (with "command":"Publish") for each refused one, in place. */
    BCAST_CMD_PUBLISH_PIPELINED = 8,
    /* No payload. The server sends the ACK of the pipelined publishes not yet acknowledged (if
     * any), then OK: once the OK is read, every earlier publish is acknowledged or refused. */
    BCAST_CMD_FLUSH = 9,
};

/* Codes of server → client frames. 0 and 1 are the reference's response statuses. */
enum bcast_status {
    BCAST_ST_OK = 0,
    BCAST_ST_ERROR = 1,
    BCAST_ST_MESSAGE = 2, /* id = the subscription's id (its Subscribe request id) */
    BCAST_ST_RESET = 3,   /* id = the subscription's id; the subscriber missed events */
    BCAST_ST_ACK = 4,     /* id = the request id of the last pipelined publish it covers */
};

#define BCAST_MAX_TOPIC 1024u  /* bytes of a topic name or pattern */
#define BCAST_MAX_ATTR 256u    /* bytes of a type or source attribute */
#define BCAST_ID_LEN 26u       /* event ids are bb_id ULIDs */
#define BCAST_MAX_TOKEN 1024u  /* bytes of the Auth token */

/* A byte slice borrowed from a frame payload. */
struct bcast_slice {
    const char *p;
    size_t n;
};

/* Decoded request payloads. Every slice borrows the payload it was decoded from. */
struct bcast_req {
    uint8_t cmd;
    struct bcast_slice topic;  /* Create/Delete/Publish: topic; Subscribe: pattern */
    struct bcast_slice body;   /* Publish: the event data; Auth: the token */
    struct bcast_slice type;   /* Publish, optional (n == 0: absent) */
    struct bcast_slice source; /* Publish, optional */
    struct bcast_slice resume; /* Subscribe, optional: last event id seen */
    uint64_t sub_id;           /* Unsubscribe */
};

/* Decodes the payload of a request with command cmd. Returns 0, BB_EINVAL for an unknown command
 * (the connection may carry on), or BB_EPROTO for a malformed payload (lengths that do not add up,
 * trailing bytes). Only the layout is checked here; names are validated with the functions below. */
int bcast_req_decode(uint8_t cmd, const uint8_t *payload, size_t len, struct bcast_req *out);

/* Decoded MESSAGE / RESET payloads (client side). Slices borrow the payload. */
struct bcast_msg {
    struct bcast_slice topic;
    struct bcast_slice body; /* the CloudEvents JSON envelope, or the reset JSON */
    struct bcast_slice id;   /* MESSAGE: the event id; RESET: n == 0 */
};
int bcast_msg_decode(uint8_t status, const uint8_t *payload, size_t len, struct bcast_msg *out);

/* Decoded ACK payload (client side): count pipelined publishes accepted since the previous ACK
 * on the connection; last_id the event id of the last of them (n == 0 when count == 0). */
struct bcast_ack {
    uint32_t count;
    struct bcast_slice last_id;
};
int bcast_ack_decode(const uint8_t *payload, size_t len, struct bcast_ack *out);
size_t bcast_put_ack(uint8_t *buf, size_t cap, uint32_t count, const char *last_id, size_t idn);

/* Topic names: 1..BCAST_MAX_TOPIC bytes of printable ASCII (0x21..0x7e) without '"' and '\\',
 * made of '.'-separated non-empty segments. A name to publish to may not contain '*' or '>'. A
 * pattern may use "*" as a whole segment (exactly one segment) and ">" as the whole last segment
 * (one or more segments), as NATS does. Return 1 when valid. */
int bcast_topic_valid(const char *s, size_t n);
int bcast_pattern_valid(const char *s, size_t n, int *is_wild);
/* 1 when topic (a valid name) matches pattern (a valid pattern). */
int bcast_match(const char *pat, size_t pn, const char *topic, size_t tn);
/* type / source attributes: 1..BCAST_MAX_ATTR printable ASCII bytes. */
int bcast_attr_valid(const char *s, size_t n);

/* Payload writers. Each returns the number of bytes the payload needs; when cap >= that number
 * the payload is written into buf. */
size_t bcast_put_topic(uint8_t *buf, size_t cap, const char *topic, size_t tn);
size_t bcast_put_publish(uint8_t *buf, size_t cap, const char *topic, size_t tn, const void *body,
                         size_t bn, const char *type, const char *source);
size_t bcast_put_subscribe(uint8_t *buf, size_t cap, const char *pattern, size_t pn,
                           const char *resume_id);
size_t bcast_put_msg(uint8_t *buf, size_t cap, const char *topic, size_t tn, const char *body,
                     size_t bn, const char *id, size_t idn);

#endif
