/* handoff.c — client sockets handed over by bunder-manager (`--handoff-fd N`).
 *
 * bunder-manager authenticates a client on its public RESP endpoint (AUTH <projectId> <key> or
 * HELLO <2|3> AUTH …) and then, instead of relaying bytes, passes the client's connected TCP
 * socket to the project's bunder, which serves it directly. The channel is one end of a
 * socketpair(AF_UNIX, SOCK_SEQPACKET) created by the manager before fork and inherited across
 * execve as fd N (no file system path, so no permissions window and no sun_path length limit;
 * only the parent holds the other end). SOCK_SEQPACKET keeps message boundaries: one sendmsg is
 * one frame, delivered whole or not at all, with its descriptor attached.
 *
 * Manager → bunder, one message per client (all integers little-endian):
 *
 *   offset size  field
 *   0      4     magic "BHO1" (0x42 0x48 0x4f 0x31)
 *   4      1     version = 1
 *   5      1     flags: bit 0 REPLY_OK (the client sent AUTH: bunder answers "+OK" first),
 *                bit 1 HELLO (the client sent HELLO … AUTH: bunder answers the HELLO map first,
 *                in the RESP version below); at most one of the two; bits 2-7 zero
 *   6      1     resp: RESP version of the connection, 2 or 3
 *   7      1     reserved, 0
 *   8      4     name_len: client name from HELLO … SETNAME (0 = none), <= BNDR_HO_MAX_NAME
 *   12     4     pending_len: bytes the manager read after the AUTH/HELLO command (pipelined
 *                commands), <= BNDR_HO_MAX_PENDING; parsed before anything read from the socket
 *   16     n     name bytes, then pending bytes; the message is exactly 16 + name_len +
 *                pending_len bytes
 *   ancillary    SCM_RIGHTS with exactly one descriptor: the client's connected TCP socket
 *
 * The manager has answered nothing after the client's AUTH/HELLO and flushed every earlier reply
 * (PING …) to the socket before sending, so the bytes the client receives stay in order: bunder
 * writes the AUTH/HELLO answer, then the replies to the pending bytes, then everything else.
 * A malformed frame (bad magic/version/flags/resp, lengths over the limits or not matching the
 * message size, not exactly one descriptor, truncated) is logged and dropped: every descriptor it
 * carried is closed, which closes the client's connection (the manager has already let go of it).
 *
 * Bunder → manager, sent from the cron (10 Hz) whenever a count changed:
 *
 *   0      4     magic "BHOC" (0x42 0x48 0x4f 0x43)
 *   4      4     clients: handed-off clients connected now
 *   8      8     received: handed-off clients accepted since start (frames turned into clients
 *                or refused)
 *
 * The manager compares `received` with the number of frames it sent, so a client it handed over
 * but bunder has not yet reported still counts as connected: idle eviction never stops a child
 * serving handed-off clients (docs/internals/bunder-manager.md).
 *
 * EOF on the channel (the manager exited) stops listening; bunder keeps serving the clients it
 * has (the manager stops the process anyway, and PDEATHSIG delivers SIGTERM).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bb_err.h"
#include "bb_log.h"
#include "bndr.h"
#include "bb_bytes.h"

#define BNDR_HO_HDR 16
#define BNDR_HO_MAX_NAME 1024
#define BNDR_HO_MAX_PENDING 16384
#define BNDR_HO_BATCH 64 /* frames per readable event, so one busy manager cannot starve the loop */

struct bndr_handoff {
    uv_poll_t poll;
    int fd;
    int polling;
    uint64_t sent_clients, sent_received; /* last report that went out */
    int reported;                         /* at least one report went out */
    char buf[BNDR_HO_HDR + BNDR_HO_MAX_NAME + BNDR_HO_MAX_PENDING + 1];
};

static void close_fds(struct msghdr *mh)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
            close(fd);
        }
    }
}

/* Validates one received frame; returns the client fd (ownership moves to the caller) or a
 * negative BB_E* code after closing every received descriptor. */
static int frame_check(struct bndr_handoff *h, struct msghdr *mh, size_t len, const char **why)
{
    const unsigned char *b = (const unsigned char *)h->buf;
    int fd = -1, nfds = 0;
    *why = NULL;
    if (mh->msg_flags & (MSG_CTRUNC | MSG_TRUNC))
        *why = "truncated";
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm && !*why; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        nfds += (int)n;
        if (n >= 1)
            memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    }
    if (!*why && nfds != 1)
        *why = "not exactly one descriptor";
    else if (!*why && len < BNDR_HO_HDR)
        *why = "short header";
    else if (!*why && memcmp(b, "BHO1", 4) != 0)
        *why = "bad magic";
    else if (!*why && b[4] != 1)
        *why = "unsupported version";
    else if (!*why && ((b[5] & ~3u) || b[5] == 3))
        *why = "bad flags";
    else if (!*why && b[6] != 2 && b[6] != 3)
        *why = "bad resp version";
    if (!*why) {
        uint32_t nl = bb_get_le32(b + 8), pl = bb_get_le32(b + 12);
        if (nl > BNDR_HO_MAX_NAME || pl > BNDR_HO_MAX_PENDING)
            *why = "length over the limit";
        else if ((size_t)BNDR_HO_HDR + nl + pl != len)
            *why = "length mismatch";
    }
    if (!*why) {
        int type = 0;
        socklen_t tl = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM)
            *why = "descriptor is not a stream socket";
    }
    if (*why) {
        close_fds(mh);
        return BB_EPROTO;
    }
    return fd;
}

static void on_readable(uv_poll_t *p, int status, int events)
{
    struct bndr_server *s = p->data;
    struct bndr_handoff *h = s->handoff;
    (void)events;
    for (int i = 0; i < BNDR_HO_BATCH && status >= 0; i++) {
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(4 * sizeof(int))];
        } ctl;
        struct iovec iov = {.iov_base = h->buf, .iov_len = sizeof h->buf};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                            .msg_controllen = sizeof ctl.buf};
        ssize_t n = recvmsg(h->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0) { /* EOF or a broken channel: the manager is gone */
            bb_warn("bunder", "handoff_channel_closed errno=%d", n < 0 ? errno : 0);
            uv_poll_stop(&h->poll);
            h->polling = 0;
            break;
        }
        const char *why;
        int fd = frame_check(h, &mh, (size_t)n, &why);
        s->ho_received++;
        if (fd < 0) {
            bb_warn("bunder", "handoff_frame_rejected reason=\"%s\" bytes=%zd", why, n);
            continue;
        }
        const unsigned char *b = (const unsigned char *)h->buf;
        uint32_t nl = bb_get_le32(b + 8), pl = bb_get_le32(b + 12);
        if (bndr_client_adopt(s, fd, b[5], b[6], h->buf + BNDR_HO_HDR, nl,
                              h->buf + BNDR_HO_HDR + nl, pl) < 0)
            bb_warn("bunder", "handoff_client_refused");
    }
    bndr_handoff_report(s);
}

void bndr_handoff_poll_now(struct bndr_server *s)
{
    struct bndr_handoff *h = s->handoff;
    if (h && h->polling)
        on_readable(&h->poll, 0, UV_READABLE); /* recvmsg is non-blocking */
}

int bndr_handoff_start(struct bndr_server *s, char *err, size_t errcap)
{
    int fd = s->cfg.handoff_fd, type = 0;
    socklen_t tl = sizeof type;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_SEQPACKET ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 || ss.ss_family != AF_UNIX) {
        snprintf(err, errcap, "--handoff-fd %d is not a SOCK_SEQPACKET unix socket", fd);
        return BB_EINVAL;
    }
    /* not inherited by AOF rewrite / snapshot children; never block the loop */
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        snprintf(err, errcap, "--handoff-fd %d: fcntl: %s", fd, strerror(errno));
        return BB_EIO;
    }
    struct bndr_handoff *h = bndr_calloc(sizeof *h);
    h->fd = fd;
    if (uv_poll_init(s->loop, &h->poll, fd) != 0) {
        bndr_free(h);
        snprintf(err, errcap, "--handoff-fd %d: cannot poll", fd);
        return BB_EIO;
    }
    h->poll.data = s;
    s->handoff = h;
    uv_poll_start(&h->poll, UV_READABLE, on_readable);
    h->polling = 1;
    bndr_handoff_report(s); /* an initial report: the manager knows the channel works */
    bb_info("bunder", "handoff_ready fd=%d", fd);
    return 0;
}

static void on_poll_closed(uv_handle_t *hd)
{
    struct bndr_handoff *h = (struct bndr_handoff *)hd;
    close(h->fd);
    bndr_free(h);
}

void bndr_handoff_stop(struct bndr_server *s)
{
    struct bndr_handoff *h = s->handoff;
    if (!h)
        return;
    s->handoff = NULL;
    uv_close((uv_handle_t *)&h->poll, on_poll_closed);
}

void bndr_handoff_report(struct bndr_server *s)
{
    struct bndr_handoff *h = s->handoff;
    if (!h || !h->polling)
        return;
    if (h->reported && h->sent_clients == s->ho_clients && h->sent_received == s->ho_received)
        return;
    unsigned char m[16];
    memcpy(m, "BHOC", 4);
    bb_put_le32(m + 4, (uint32_t)s->ho_clients);
    bb_put_le32(m + 8, (uint32_t)s->ho_received);
    bb_put_le32(m + 12, (uint32_t)(s->ho_received >> 32));
    ssize_t n = send(h->fd, m, sizeof m, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == (ssize_t)sizeof m) {
        h->sent_clients = s->ho_clients;
        h->sent_received = s->ho_received;
        h->reported = 1;
    } /* else: EAGAIN (the manager reads on its tick) or a dead manager: retried on the cron */
}
