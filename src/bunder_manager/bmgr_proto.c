/* bmgr_proto.c — small bounded parsers and codecs of bunder-manager.
 *
 * RESP requests (pre-AUTH phase only; afterwards bytes are relayed untouched):
 *
 *   array:  '*' <argc> CRLF  then argc times  '$' <len> CRLF <len bytes> CRLF
 *   inline: <words separated by spaces/tabs> LF  (an optional CR before LF is dropped)
 *
 * argc is limited to BMGR_PREAUTH_ARGS, a whole command to BMGR_PREAUTH_MAX bytes; "*0" and an
 * empty inline line are skipped (consumed, no command). Anything else is BB_EPROTO.
 *
 * RESP replies (blocking client toward a child): '+' status, '-' error, ':' integer, '$' bulk
 * ($-1 = nil), '*' array of the former (one level; *-1 = nil). Bulk and array sizes are bounded by
 * the caller.
 *
 * Keys file: one "<projectId> <key>" per line (whitespace separated; the key is the second word),
 * '#' starts a comment line, lines up to 1024 bytes, at most 100000 entries. Keys are kept as
 * SHA-256 digests and compared in constant time.
 */
#include "bmgr_internal.h"
#include "bb_resp.h"
#include "bb_id.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_log.h"
#include "bb_time.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


/* ------------------------------------------------------------------ project ids */


/* ------------------------------------------------------------------ pre-AUTH commands */

int bmgr_resp_parse(struct bb_resp_parser *p, const char *buf, size_t len, size_t *consumed,
                    const char **argv, size_t *lens, size_t *argc, const char **err)
{
    static const struct bb_resp_limits lim = {
        .max_bulk = BMGR_PREAUTH_MAX, .max_args = BMGR_PREAUTH_ARGS, .max_inline = BMGR_PREAUTH_MAX};
    size_t pos = 0, need;
    const char *e = NULL;
    *argc = 0;
    *consumed = 0;
    if (err) *err = NULL;
    bb_resp_parser_reset(p);
    int r = bb_resp_parse(p, buf, len, &pos, &lim, &need, &e);
    if (err) *err = e;
    if (r == BB_RESP_MORE) return len >= BMGR_PREAUTH_MAX ? BB_ETOOBIG : 0;
    if (r < 0) return r;
    if (pos > BMGR_PREAUTH_MAX) return BB_ETOOBIG;
    bb_resp_parser_args(p, buf, argv, lens);
    *argc = p->argc;
    *consumed = pos;
    return 1;
}

/* ------------------------------------------------------------------ blocking RESP client */

static int set_timeouts(int fd, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) return BB_EIO;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) return BB_EIO;
    return 0;
}

static int map_errno(int e)
{
    if (e == EAGAIN || e == EWOULDBLOCK || e == ETIMEDOUT) return BB_ETIMEDOUT;
    if (e == ENOMEM) return BB_ENOMEM;
    return BB_EUNAVAIL;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return map_errno(errno);
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Ensures at least need unread bytes in the buffer. */
static int fill(struct bmgr_rc *c, size_t need)
{
    while (c->len - c->off < need) {
        if (c->off > 0 && c->off == c->len) c->off = c->len = 0;
        if (c->cap - c->len < 4096 || c->cap - c->off < need) {
            if (c->off > 0) {
                memmove(c->buf, c->buf + c->off, c->len - c->off);
                c->len -= c->off;
                c->off = 0;
            }
            size_t want = c->cap ? c->cap : 16384;
            while (want < need + 4096) want *= 2;
            if (want != c->cap) {
                char *nb = realloc(c->buf, want);
                if (!nb) return BB_ENOMEM;
                c->buf = nb;
                c->cap = want;
            }
        }
        ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return map_errno(errno);
        }
        if (r == 0) return BB_EUNAVAIL;
        c->len += (size_t)r;
    }
    return 0;
}

/* Reads one CRLF line (without CRLF) of at most 64 KiB; *line points into the buffer. */
static int read_line(struct bmgr_rc *c, const char **line, size_t *n)
{
    size_t scanned = 0;
    for (;;) {
        const char *s = c->buf ? c->buf + c->off : NULL;
        size_t avail = c->len - c->off;
        const char *lf = s && avail > scanned ? memchr(s + scanned, '\n', avail - scanned) : NULL;
        if (lf) {
            if (lf == s || lf[-1] != '\r') return BB_EPROTO;
            *line = s;
            *n = (size_t)(lf - 1 - s);
            c->off += (size_t)(lf + 1 - s);
            return 0;
        }
        scanned = avail;
        if (avail > 65536) return BB_EPROTO;
        int rc = fill(c, avail + 1);
        if (rc) return rc;
    }
}

static int parse_ll(const char *s, size_t n, long long *out)
{
    if (n == 0 || n > 20) return BB_EPROTO;
    char tmp[24];
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno || *end) return BB_EPROTO;
    *out = v;
    return 0;
}

static int read_reply(struct bmgr_rc *c, size_t max_bulk, size_t max_elems, int depth,
                      struct bmgr_reply *r)
{
    const char *line;
    size_t n;
    memset(r, 0, sizeof *r);
    int rc = read_line(c, &line, &n);
    if (rc) return rc;
    if (n == 0) return BB_EPROTO;
    char t = line[0];
    const char *rest = line + 1;
    size_t rn = n - 1;
    switch (t) {
    case '+':
    case '-':
        r->type = t == '+' ? BMGR_R_STATUS : BMGR_R_ERROR;
        r->str = malloc(rn + 1);
        if (!r->str) return BB_ENOMEM;
        memcpy(r->str, rest, rn);
        r->str[rn] = '\0';
        r->len = rn;
        return 0;
    case ':':
        r->type = BMGR_R_INT;
        return parse_ll(rest, rn, &r->integer);
    case '$': {
        long long bl;
        if (parse_ll(rest, rn, &bl)) return BB_EPROTO;
        if (bl < 0) {
            r->type = BMGR_R_NIL;
            return 0;
        }
        if ((unsigned long long)bl > max_bulk) return BB_ETOOBIG;
        rc = fill(c, (size_t)bl + 2);
        if (rc) return rc;
        const char *s = c->buf + c->off;
        if (s[bl] != '\r' || s[bl + 1] != '\n') return BB_EPROTO;
        r->type = BMGR_R_BULK;
        r->str = malloc((size_t)bl + 1);
        if (!r->str) return BB_ENOMEM;
        memcpy(r->str, s, (size_t)bl);
        r->str[bl] = '\0';
        r->len = (size_t)bl;
        c->off += (size_t)bl + 2;
        return 0;
    }
    case '*': {
        long long cnt;
        if (parse_ll(rest, rn, &cnt)) return BB_EPROTO;
        if (cnt < 0) {
            r->type = BMGR_R_NIL;
            return 0;
        }
        if (depth > 0) return BB_EPROTO;
        if ((unsigned long long)cnt > max_elems) return BB_ETOOBIG;
        r->type = BMGR_R_ARRAY;
        r->elems = calloc(cnt ? (size_t)cnt : 1, sizeof *r->elems);
        if (!r->elems) return BB_ENOMEM;
        for (long long i = 0; i < cnt; i++) {
            rc = read_reply(c, max_bulk, max_elems, depth + 1, &r->elems[i]);
            r->n = (size_t)i + 1;
            if (rc) return rc;
        }
        return 0;
    }
    default:
        return BB_EPROTO;
    }
}

void bmgr_reply_release(struct bmgr_reply *r)
{
    if (!r) return;
    free(r->str);
    for (size_t i = 0; i < r->n; i++) bmgr_reply_release(&r->elems[i]);
    free(r->elems);
    memset(r, 0, sizeof *r);
}

int bmgr_rc_command(struct bmgr_rc *c, size_t argc, const char *const *argv, const size_t *lens,
                    size_t max_bulk, size_t max_elems, struct bmgr_reply *r)
{
    /* header pieces are small; bulk payloads go out with their own send */
    char hdr[64];
    int rc;
    int n = snprintf(hdr, sizeof hdr, "*%zu\r\n", argc);
    size_t small = 0;
    for (size_t i = 0; i < argc; i++) small += lens[i];
    if (small <= 65536) { /* one write for ordinary commands */
        size_t o;
        char *b = bb_resp_command(argc, argv, lens, &o);
        if (!b) return BB_ENOMEM;
        rc = write_all(c->fd, b, o);
        free(b);
    } else {
        rc = write_all(c->fd, hdr, (size_t)n);
        for (size_t i = 0; i < argc && rc == 0; i++) {
            n = snprintf(hdr, sizeof hdr, "$%zu\r\n", lens[i]);
            rc = write_all(c->fd, hdr, (size_t)n);
            if (rc == 0) rc = write_all(c->fd, argv[i], lens[i]);
            if (rc == 0) rc = write_all(c->fd, "\r\n", 2);
        }
    }
    if (rc) return rc;
    rc = read_reply(c, max_bulk, max_elems, 0, r);
    if (rc) bmgr_reply_release(r);
    return rc;
}

int bmgr_rc_connect(int port, const char *secret, uint64_t gen, int timeout_ms,
                    struct bmgr_rc **out)
{
    int rc = 0;
    struct bmgr_rc *c = calloc(1, sizeof *c);
    if (!c) return BB_ENOMEM;
    c->gen = gen;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
        rc = BB_EIO;
        goto out;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno != EINPROGRESS) {
            rc = BB_EUNAVAIL;
            goto out;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
        int pr = poll(&pfd, 1, timeout_ms);
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (pr == 0) {
            rc = BB_ETIMEDOUT;
            goto out;
        }
        if (pr < 0 || getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr) {
            rc = BB_EUNAVAIL;
            goto out;
        }
    }
    {
        /* back to blocking mode, with timeouts */
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int fl = fcntl(c->fd, F_GETFL);
        if (fl < 0 || fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK) != 0 ||
            set_timeouts(c->fd, timeout_ms) != 0) {
            rc = BB_EIO;
            goto out;
        }
    }
    const char *argv[2] = {"AUTH", secret};
    size_t lens[2] = {4, strlen(secret)};
    struct bmgr_reply r;
    rc = bmgr_rc_command(c, 2, argv, lens, 1024, 0, &r);
    if (rc) goto out;
    if (r.type != BMGR_R_STATUS) rc = r.type == BMGR_R_ERROR && strstr(r.str, "LOADING")
                                          ? BB_EUNAVAIL
                                          : BB_EAUTH;
    bmgr_reply_release(&r);
out:
    if (rc) {
        bmgr_rc_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void bmgr_rc_free(struct bmgr_rc *c)
{
    if (!c) return;
    if (c->fd >= 0) close(c->fd);
    free(c->buf);
    free(c);
}

/* ------------------------------------------------------------------ keys-file verifier */

struct key_entry {
    char project[BMGR_MAX_PROJECT + 1];
    uint8_t digest[BB_SHA256_LEN];
};

struct keys_file {
    char path[1024];
    struct key_entry *e;
    size_t n;
    time_t mtime;
    long mtime_ns;
    off_t size;
    uint64_t checked_ms;
};

#define KEYS_MAX_ENTRIES 100000
#define KEYS_MAX_LINE 1024

static int keys_load(struct keys_file *kf, char *err, size_t errcap)
{
    int rc = 0;
    struct key_entry *e = NULL;
    size_t n = 0, cap = 0;
    char line[KEYS_MAX_LINE + 2];
    FILE *f = fopen(kf->path, "re");
    if (!f) {
        snprintf(err, errcap, "keys file %s: %s", kf->path, strerror(errno));
        return BB_EIO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0) {
        kf->mtime = st.st_mtim.tv_sec;
        kf->mtime_ns = st.st_mtim.tv_nsec;
        kf->size = st.st_size;
    }
    unsigned lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t l = strlen(line);
        if (l > KEYS_MAX_LINE && line[l - 1] != '\n') {
            bb_warn("bunder-manager", "keys_file_line_too_long line=%u", lineno);
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n') {}
            continue;
        }
        char *save = NULL;
        char *proj = strtok_r(line, " \t\r\n", &save);
        if (!proj || proj[0] == '#') continue;
        char *key = strtok_r(NULL, " \t\r\n", &save);
        char *extra = key ? strtok_r(NULL, " \t\r\n", &save) : NULL;
        if (!key || extra || !bb_project_id_valid(proj, strlen(proj))) {
            bb_warn("bunder-manager", "keys_file_bad_line line=%u", lineno);
            continue;
        }
        if (n >= KEYS_MAX_ENTRIES) {
            bb_warn("bunder-manager", "keys_file_truncated max=%d", KEYS_MAX_ENTRIES);
            break;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct key_entry *ne = realloc(e, nc * sizeof *ne);
            if (!ne) {
                rc = BB_ENOMEM;
                goto out;
            }
            e = ne;
            cap = nc;
        }
        snprintf(e[n].project, sizeof e[n].project, "%s", proj);
        bb_sha256(key, strlen(key), e[n].digest);
        n++;
    }
    free(kf->e);
    kf->e = e;
    kf->n = n;
    e = NULL;
out:
    fclose(f);
    free(e);
    return rc;
}

static int keys_verify(void *ctx, const char *project, const char *key, size_t key_len)
{
    struct keys_file *kf = ctx;
    if (!kf->path[0]) return BB_EAUTH;
    uint64_t now = bb_time_mono_ms();
    if (now - kf->checked_ms >= 1000) {
        kf->checked_ms = now;
        struct stat st;
        if (stat(kf->path, &st) == 0 &&
            (st.st_mtim.tv_sec != kf->mtime || st.st_mtim.tv_nsec != kf->mtime_ns ||
             st.st_size != kf->size)) {
            char err[256];
            if (keys_load(kf, err, sizeof err) != 0)
                bb_warn("bunder-manager", "keys_file_reload_failed error=\"%s\"", err);
            else
                bb_info("bunder-manager", "keys_file_reloaded entries=%zu", kf->n);
        }
    }
    uint8_t d[BB_SHA256_LEN];
    bb_sha256(key, key_len, d);
    int ok = 0;
    for (size_t i = 0; i < kf->n; i++)
        if (strcmp(kf->e[i].project, project) == 0) ok |= bb_ct_equal(kf->e[i].digest, d, sizeof d);
    return ok ? 0 : BB_EAUTH;
}

static void keys_free(void *ctx)
{
    struct keys_file *kf = ctx;
    if (!kf) return;
    free(kf->e);
    free(kf);
}

int bmgr_keys_file_verifier(const char *path, struct bmgr_verifier *out, char *err, size_t errcap)
{
    struct keys_file *kf = calloc(1, sizeof *kf);
    if (!kf) return BB_ENOMEM;
    if (path && path[0]) {
        if (strlen(path) >= sizeof kf->path) {
            snprintf(err, errcap, "keys file path too long");
            free(kf);
            return BB_EINVAL;
        }
        snprintf(kf->path, sizeof kf->path, "%s", path);
        int rc = keys_load(kf, err, errcap);
        if (rc) {
            keys_free(kf);
            return rc;
        }
        kf->checked_ms = bb_time_mono_ms();
    }
    out->verify = keys_verify;
    out->free = keys_free;
    out->ctx = kf;
    return 0;
}
