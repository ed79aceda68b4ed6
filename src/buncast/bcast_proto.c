/* bcast_proto.c — the buncast IPC wire format.
 *
 * FRAMES (identical to the reference broker and to bb_rpc; all integers little-endian):
 *
 *   offset  size  field
 *        0     4  frame_len    u32: bytes that follow; 13 <= frame_len <= max frame (knob
 *                              BUNBASE_BUNCAST_MAX_FRAME_BYTES, default 16 MiB)
 *        4     8  id           u64: request id chosen by the client, echoed in the response; in
 *                              MESSAGE/RESET frames the id of the subscription (= the id of the
 *                              Subscribe request that created it)
 *       12     1  code         u8: request → command; server → 0 OK, 1 ERROR, 2 MESSAGE, 3 RESET
 *       13     4  payload_len  u32: == frame_len - 13
 *       17     n  payload
 *
 * REQUEST PAYLOADS (u16/u32 are little-endian length prefixes):
 *   1 CreateTopic   u16 tlen | topic
 *   2 DeleteTopic   u16 tlen | topic
 *   3 ListTopics    (empty)
 *   4 Publish       u16 tlen | topic | u32 blen | body [| u16 type_len | type [| u16 src_len | source]]
 *                   body is the event data: JSON (embedded as "data") or any bytes (as
 *                   "data_base64"). type defaults to "buncast.message", source to "/buncast".
 *   5 Subscribe     u16 plen | pattern [| u8 rlen | resume_id]   (resume_id: last event id seen, 26)
 *   6 Unsubscribe   u64 subscription id
 *   7 Auth          token (the whole payload, 1..1024 bytes: the internal token)
 *   8 PublishPipelined  the payload of Publish. No OK per request: the server acknowledges the
 *                   pipelined publishes it accepted with ACK frames (code 4), each covering many:
 *                   one when 256 have accumulated by the end of a read, one before the reply to
 *                   any other request, and one from the 100 ms tick for the rest. A refused one
 *                   gets its ERROR frame (request id, "command":"Publish") in place. Used by the
 *                   client's async publishes.
 *   9 Flush         (empty) → the pending ACK if any, then OK "{}" (bcast_client_flush).
 * AUTHENTICATION: the first frame of a connection must be Auth. Before it the server accepts frames
 * of at most 64 + 1024 bytes; a frame of another command (or a longer one) gets ERROR
 * {"error":"authentication required"} / "frame too large", a wrong token ERROR
 * {"error":"authentication failed"}, and the connection is closed after that frame. The right
 * token gets OK "{}" (same id). The token is compared in constant time. A connection that has not
 * authenticated within BUNBASE_BUNCAST_AUTH_TIMEOUT_MS is closed.
 * Anything shorter than its length fields announce, or with bytes left over, is malformed (the
 * reference accepted a Publish without its body length; we do not).
 *
 * RESPONSE PAYLOADS: OK → JSON: "{}" (Auth/Create/Delete/Subscribe/Unsubscribe), a JSON array of
 * names (ListTopics), {"id":"<event id>"} (Publish). ERROR → {"error":"<message>"}; an ERROR to a
 * Publish also carries "command":"Publish" (a client that pipelines publishes without waiting can
 * count refused ones).
 *
 * MESSAGE PAYLOAD (code 2): u16 tlen | topic | u32 elen | envelope | u8 idlen | id
 *   The first three fields are the reference's message frame body; the envelope is the CloudEvents
 *   1.0 JSON of the event and the trailing id repeats its "id" so clients can track their resume
 *   point without parsing JSON. (The reference sent message frames with no id/code header at all,
 *   which made them indistinguishable from responses once a connection carries more than one
 *   request; here every frame has the same header.)
 * ACK PAYLOAD (code 4): u32 count | u8 idlen | last_id
 *   id = the request id of the last pipelined publish covered; count = pipelined publishes
 *   accepted since the previous ACK on this connection (refused ones are not counted: they got an
 *   ERROR); last_id = the event id of the last accepted one. Every pipelined publish is covered by
 *   exactly one ACK or one ERROR, so a client can match sent = acked + refused.
 * RESET PAYLOAD (code 3): u16 tlen | topic | u32 jlen | json
 *   json = {"topic","reason","last_event_id"}: events after last_event_id are gone; the
 *   subscription carries on with new events.
 *
 * ORDERING: the OK response to Subscribe is written before any MESSAGE/RESET of that subscription.
 */
#include "bcast_proto.h"
#include "bb_err.h"

#include <string.h>

int bcast_req_decode(uint8_t cmd, const uint8_t *p, size_t len, struct bcast_req *out)
{
    memset(out, 0, sizeof *out);
    out->cmd = cmd;
    size_t o = 0;
#define NEED(k)                                                                                    \
    do {                                                                                           \
        if (len - o < (size_t)(k)) return BB_EPROTO;                                               \
    } while (0)
    switch (cmd) {
    case BCAST_CMD_CREATE_TOPIC:
    case BCAST_CMD_DELETE_TOPIC:
    case BCAST_CMD_PUBLISH:
    case BCAST_CMD_PUBLISH_PIPELINED:
    case BCAST_CMD_SUBSCRIBE: {
        NEED(2);
        size_t tn = bb_get_le16(p);
        o = 2;
        NEED(tn);
        out->topic.p = (const char *)p + o;
        out->topic.n = tn;
        o += tn;
        if (cmd == BCAST_CMD_PUBLISH || cmd == BCAST_CMD_PUBLISH_PIPELINED) {
            NEED(4);
            size_t bn = bb_get_le32(p + o);
            o += 4;
            NEED(bn);
            out->body.p = (const char *)p + o;
            out->body.n = bn;
            o += bn;
            if (o < len) {
                NEED(2);
                size_t n = bb_get_le16(p + o);
                o += 2;
                NEED(n);
                out->type.p = (const char *)p + o;
                out->type.n = n;
                o += n;
            }
            if (o < len) {
                NEED(2);
                size_t n = bb_get_le16(p + o);
                o += 2;
                NEED(n);
                out->source.p = (const char *)p + o;
                out->source.n = n;
                o += n;
            }
        } else if (cmd == BCAST_CMD_SUBSCRIBE && o < len) {
            NEED(1);
            size_t n = p[o];
            o += 1;
            NEED(n);
            out->resume.p = (const char *)p + o;
            out->resume.n = n;
            o += n;
        }
        break;
    }
    case BCAST_CMD_LIST_TOPICS:
    case BCAST_CMD_FLUSH:
        break;
    case BCAST_CMD_AUTH:
        if (len == 0 || len > BCAST_MAX_TOKEN) return BB_EPROTO;
        out->body.p = (const char *)p;
        out->body.n = len;
        o = len;
        break;
    case BCAST_CMD_UNSUBSCRIBE:
        NEED(8);
        out->sub_id = bb_get_le64(p);
        o = 8;
        break;
    default:
        return BB_EINVAL;
    }
    return o == len ? 0 : BB_EPROTO;
#undef NEED
}

int bcast_msg_decode(uint8_t status, const uint8_t *p, size_t len, struct bcast_msg *out)
{
    memset(out, 0, sizeof *out);
    if (status != BCAST_ST_MESSAGE && status != BCAST_ST_RESET) return BB_EINVAL;
    if (len < 2) return BB_EPROTO;
    size_t tn = bb_get_le16(p), o = 2;
    if (len - o < tn) return BB_EPROTO;
    out->topic.p = (const char *)p + o;
    out->topic.n = tn;
    o += tn;
    if (len - o < 4) return BB_EPROTO;
    size_t bn = bb_get_le32(p + o);
    o += 4;
    if (len - o < bn) return BB_EPROTO;
    out->body.p = (const char *)p + o;
    out->body.n = bn;
    o += bn;
    if (status == BCAST_ST_MESSAGE) {
        if (len - o < 1) return BB_EPROTO;
        size_t in = p[o++];
        if (len - o < in) return BB_EPROTO;
        out->id.p = (const char *)p + o;
        out->id.n = in;
        o += in;
    }
    return o == len ? 0 : BB_EPROTO;
}

int bcast_ack_decode(const uint8_t *p, size_t len, struct bcast_ack *out)
{
    memset(out, 0, sizeof *out);
    if (len < 5) return BB_EPROTO;
    out->count = bb_get_le32(p);
    size_t in = p[4];
    if (len - 5 != in) return BB_EPROTO;
    out->last_id.p = (const char *)p + 5;
    out->last_id.n = in;
    return 0;
}

size_t bcast_put_ack(uint8_t *buf, size_t cap, uint32_t count, const char *last_id, size_t idn)
{
    if (idn > 255) idn = 255;
    size_t need = 5 + idn;
    if (cap < need) return need;
    bb_put_le32(buf, count);
    buf[4] = (uint8_t)idn;
    if (idn) memcpy(buf + 5, last_id, idn);
    return need;
}

static int name_char(char c)
{
    return c > 0x20 && c < 0x7f && c != '"' && c != '\\';
}

static int names_valid(const char *s, size_t n, int pattern, int *is_wild)
{
    if (is_wild) *is_wild = 0;
    if (!s || n == 0 || n > BCAST_MAX_TOPIC) return 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            if (!name_char(s[i])) return 0;
            continue;
        }
        size_t seg = i - start;
        if (seg == 0) return 0;
        for (size_t k = start; k < i; k++) {
            if (s[k] == '*' || s[k] == '>') {
                if (!pattern || seg != 1) return 0;
                if (s[k] == '>' && i != n) return 0;
                if (is_wild) *is_wild = 1;
            }
        }
        start = i + 1;
    }
    return 1;
}

int bcast_topic_valid(const char *s, size_t n)
{
    return names_valid(s, n, 0, NULL);
}

int bcast_pattern_valid(const char *s, size_t n, int *is_wild)
{
    return names_valid(s, n, 1, is_wild);
}

int bcast_match(const char *pat, size_t pn, const char *t, size_t tn)
{
    size_t pi = 0, ti = 0;
    for (;;) {
        size_t pe = pi, te = ti;
        while (pe < pn && pat[pe] != '.')
            pe++;
        while (te < tn && t[te] != '.')
            te++;
        size_t pl = pe - pi;
        if (pl == 1 && pat[pi] == '>') return ti < tn; /* one or more remaining segments */
        if (ti >= tn && tn > 0) return 0;              /* pattern longer than topic */
        if (!(pl == 1 && pat[pi] == '*')) {
            if (pl != te - ti || memcmp(pat + pi, t + ti, pl) != 0) return 0;
        }
        int pend = pe >= pn, tend = te >= tn;
        if (pend || tend) return pend && tend;
        pi = pe + 1;
        ti = te + 1;
    }
}

int bcast_attr_valid(const char *s, size_t n)
{
    if (!s || n == 0 || n > BCAST_MAX_ATTR) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e) return 0;
    return 1;
}

size_t bcast_put_topic(uint8_t *buf, size_t cap, const char *topic, size_t tn)
{
    size_t need = 2 + tn;
    if (cap >= need) {
        bb_put_le16(buf, (uint16_t)tn);
        memcpy(buf + 2, topic, tn);
    }
    return need;
}

size_t bcast_put_publish(uint8_t *buf, size_t cap, const char *topic, size_t tn, const void *body,
                         size_t bn, const char *type, const char *source)
{
    size_t yn = type ? strlen(type) : 0, sn = source ? strlen(source) : 0;
    size_t need = 2 + tn + 4 + bn + (type || source ? 2 + yn : 0) + (source ? 2 + sn : 0);
    if (cap < need) return need;
    size_t o = 0;
    bb_put_le16(buf, (uint16_t)tn), o += 2;
    memcpy(buf + o, topic, tn), o += tn;
    bb_put_le32(buf + o, (uint32_t)bn), o += 4;
    if (bn) memcpy(buf + o, body, bn), o += bn;
    if (type || source) {
        bb_put_le16(buf + o, (uint16_t)yn), o += 2;
        if (yn) memcpy(buf + o, type, yn), o += yn;
    }
    if (source) {
        bb_put_le16(buf + o, (uint16_t)sn), o += 2;
        memcpy(buf + o, source, sn), o += sn;
    }
    return need;
}

size_t bcast_put_subscribe(uint8_t *buf, size_t cap, const char *pattern, size_t pn,
                           const char *resume_id)
{
    size_t rn = resume_id ? strlen(resume_id) : 0;
    if (rn > 255) rn = 255;
    size_t need = 2 + pn + (rn ? 1 + rn : 0);
    if (cap < need) return need;
    bb_put_le16(buf, (uint16_t)pn);
    memcpy(buf + 2, pattern, pn);
    if (rn) {
        buf[2 + pn] = (uint8_t)rn;
        memcpy(buf + 3 + pn, resume_id, rn);
    }
    return need;
}

size_t bcast_put_msg(uint8_t *buf, size_t cap, const char *topic, size_t tn, const char *body,
                     size_t bn, const char *id, size_t idn)
{
    size_t need = 2 + tn + 4 + bn + (id ? 1 + idn : 0);
    if (cap < need) return need;
    size_t o = 0;
    bb_put_le16(buf, (uint16_t)tn), o += 2;
    memcpy(buf + o, topic, tn), o += tn;
    bb_put_le32(buf + o, (uint32_t)bn), o += 4;
    memcpy(buf + o, body, bn), o += bn;
    if (id) {
        buf[o++] = (uint8_t)idn;
        memcpy(buf + o, id, idn);
    }
    return need;
}
