/* aof.c — the append-only file.
 *
 * Format (the same as Redis' AOF, so redis-check-aof and humans can read it): a sequence of
 * commands, each a RESP multibulk array of bulk strings:
 *
 *     '*' <argc decimal> '\r\n'  then argc times:  '$' <len decimal> '\r\n' <len bytes> '\r\n'
 *
 * There is no header, no checksum and no padding; the file is valid iff it parses completely.
 * Commands are logged after they ran and changed the dataset, in the form that replays
 * deterministically: relative TTLs become absolute (SET ... PXAT ms, PEXPIREAT key ms),
 * INCRBYFLOAT/HINCRBYFLOAT become SET/HSET of the result, SPOP becomes SREM, a served BLPOP becomes
 * LPOP, and keys deleted by expiry or eviction are logged as DEL. A transaction (EXEC) is logged
 * between MULTI and EXEC so it replays all-or-nothing.
 *
 * Writing: commands of one loop iteration are collected in s->aof.buf and written with one
 * write(2) before any reply of that iteration is sent (server.c flush_all). Then:
 *   always    fdatasync before the replies go out: an acknowledged write is on disk. A failed
 *             write or fsync stops the server (it cannot keep that promise any more), as Redis.
 *   everysec  fdatasync at most once a second on the libuv thread pool; a crash loses at most
 *             about one second of acknowledged writes.
 *   no        the kernel decides when to flush (typically within 30 s).
 * With everysec/no a failed write is sticky: the file is truncated back to its last complete
 * command, writes are refused with -MISCONF, and the buffer is retried from the cron until a
 * write succeeds.
 *
 * Loading: the file is mapped and replayed through the normal dispatcher with a fake client. If
 * the file ends inside a command (a crash mid-write), the tail is cut back to the end of the last
 * complete command (or to before an unterminated MULTI) with a warning in the log, and the server
 * starts. Any other malformed content refuses to start: that is not a torn write. Only commands an
 * AOF can hold are replayed — write commands, MULTI/EXEC and SELECT; any other command (SAVE,
 * CONFIG, SHUTDOWN …) refuses to start too. fuzz/bunder_aof replays random files through this.
 *
 * Rewrite (BGREWRITEAOF, and automatically when the file grew by auto-aof-rewrite-percentage over
 * its size after the last rewrite, once past auto-aof-rewrite-min-size): fork(); the child writes
 * the dataset as commands to temp-rewriteaof-<pid>.aof and fsyncs it while the parent keeps
 * serving and also collects every new command in s->aof.rewrite. When the child exits 0 the
 * parent appends that buffer to the temp file, fsyncs it, and rename(2)s it over the AOF
 * (atomic), then reopens it for appending. A failed child leaves the old AOF untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bb_log.h"
#include "bndr.h"

static void put_cmd(struct bndr_buf *b, int argc, const struct bndr_arg *argv)
{
    char hdr[32];
    size_t total = 16;
    for (int i = 0; i < argc; i++)
        total += argv[i].n + 32;
    bndr_buf_reserve(b, total);
    hdr[0] = '*';
    int n = bndr_fmt_ll(hdr + 1, argc);
    memcpy(b->p + b->len, hdr, (size_t)n + 1);
    b->len += (size_t)n + 1;
    memcpy(b->p + b->len, "\r\n", 2);
    b->len += 2;
    for (int i = 0; i < argc; i++) {
        b->p[b->len++] = '$';
        n = bndr_fmt_ll(b->p + b->len, (long long)argv[i].n);
        b->len += (size_t)n;
        memcpy(b->p + b->len, "\r\n", 2);
        b->len += 2;
        memcpy(b->p + b->len, argv[i].p, argv[i].n);
        b->len += argv[i].n;
        memcpy(b->p + b->len, "\r\n", 2);
        b->len += 2;
    }
}

void bndr_aof_feed(struct bndr_server *s, int argc, const struct bndr_arg *argv)
{
    if (!s->aof.enabled && s->aof.rewrite_pid <= 0)
        return;
    if (s->aof.enabled)
        put_cmd(&s->aof.buf, argc, argv);
    if (s->aof.rewrite_pid > 0)
        put_cmd(&s->aof.rewrite, argc, argv);
}

int bndr_aof_open(struct bndr_server *s)
{
    char path[2048];
    bndr_path(s, s->cfg.appendfilename, path, sizeof path);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        bb_error("bunder", "aof_open_failed path=%s errno=%d", path, errno);
        return -1;
    }
    struct stat st;
    fstat(fd, &st);
    s->aof.fd = fd;
    s->aof.size = st.st_size;
    s->aof.base_size = st.st_size;
    s->aof.enabled = 1;
    s->aof.last_fsync_ms = bndr_mstime();
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int bndr_aof_flush(struct bndr_server *s)
{
    struct bndr_aof *a = &s->aof;
    if (!a->enabled || a->fd < 0 || a->buf.len == 0)
        return 0;
    if (write_all(a->fd, a->buf.p, a->buf.len) < 0) {
        int e = errno;
        /* cut a partial write back so the file stays a sequence of whole commands */
        if (ftruncate(a->fd, a->size) < 0)
            bb_error("bunder", "aof_truncate_failed errno=%d", errno);
        if (s->cfg.appendfsync == BNDR_FSYNC_ALWAYS) {
            bb_error("bunder", "aof_write_failed errno=%d policy=always action=exit "
                               "reason=\"acknowledged writes could not be made durable\"", e);
            _exit(1);
        }
        if (!a->write_error)
            bb_error("bunder", "aof_write_failed errno=%d action=refuse_writes", e);
        a->write_error = 1;
        return -1;
    }
    if (a->write_error)
        bb_info("bunder", "aof_write_recovered");
    a->write_error = 0;
    a->size += (off_t)a->buf.len;
    a->buf.len = 0;
    if (a->buf.cap > (4 << 20)) {
        bndr_free(a->buf.p);
        a->buf.p = NULL;
        a->buf.cap = 0;
    }
    if (s->cfg.appendfsync == BNDR_FSYNC_ALWAYS) {
        if (fdatasync(a->fd) < 0) {
            bb_error("bunder", "aof_fsync_failed errno=%d policy=always action=exit", errno);
            _exit(1);
        }
        a->last_fsync_ms = bndr_mstime();
    }
    return 0;
}

static void on_fsync(uv_fs_t *req)
{
    struct bndr_server *s = req->data;
    if (req->result < 0)
        bb_error("bunder", "aof_fsync_failed err=%s", uv_strerror((int)req->result));
    uv_fs_req_cleanup(req);
    s->aof.fsync_inflight = 0;
}

void bndr_aof_cron(struct bndr_server *s)
{
    struct bndr_aof *a = &s->aof;
    if (a->write_error && a->buf.len)
        bndr_aof_flush(s);
    if (a->enabled && a->fd >= 0 && s->cfg.appendfsync == BNDR_FSYNC_EVERYSEC &&
        !a->fsync_inflight && bndr_mstime() - a->last_fsync_ms >= 1000) {
        a->last_fsync_ms = bndr_mstime();
        a->fsync_req.data = s;
        if (uv_fs_fdatasync(s->loop, &a->fsync_req, a->fd, on_fsync) == 0)
            a->fsync_inflight = 1;
    }
    if (a->enabled && a->rewrite_pid <= 0 && a->save_pid <= 0 &&
        s->cfg.auto_aof_rewrite_percentage > 0 && a->size > s->cfg.auto_aof_rewrite_min_size) {
        off_t base = a->base_size ? a->base_size : 1;
        long long growth = (long long)((a->size - base) * 100 / base);
        if (growth >= s->cfg.auto_aof_rewrite_percentage) {
            bb_info("bunder", "aof_auto_rewrite size=%lld base=%lld", (long long)a->size,
                    (long long)a->base_size);
            bndr_aof_rewrite_start(s);
        }
    }
}

void bndr_aof_close(struct bndr_server *s)
{
    struct bndr_aof *a = &s->aof;
    if (a->fd < 0)
        return;
    bndr_aof_flush(s);
    if (a->fsync_inflight) {
        /* the pool request still references fd; a synchronous fsync below covers it */
    }
    fdatasync(a->fd);
    if (!a->fsync_inflight) {
        close(a->fd);
        a->fd = -1;
    }
}

int bndr_aof_set_enabled(struct bndr_server *s, int on)
{
    if (on) {
        if (s->aof.enabled)
            return 0;
        /* start from a rewrite of the current dataset, like Redis' CONFIG SET appendonly yes */
        if (bndr_aof_open(s) < 0)
            return -1;
        if (ftruncate(s->aof.fd, 0) < 0)
            return -1;
        s->aof.size = s->aof.base_size = 0;
        FILE *f = fdopen(dup(s->aof.fd), "w");
        if (!f)
            return -1;
        int rc = bndr_aof_write_dataset(s, f);
        if (fflush(f) != 0)
            rc = -1;
        fclose(f);
        struct stat st;
        fstat(s->aof.fd, &st);
        s->aof.size = s->aof.base_size = st.st_size;
        fdatasync(s->aof.fd);
        s->aof_seldb = -1;
        return rc;
    }
    if (!s->aof.enabled)
        return 0;
    bndr_aof_close(s);
    s->aof.enabled = 0;
    return 0;
}

/* ---------------------------------------------------------------- loading */
int bndr_aof_load(struct bndr_server *s, const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        bb_error("bunder", "aof_load_failed path=%s errno=%d", path, errno);
        return -1;
    }
    struct stat st;
    fstat(fd, &st);
    size_t len = (size_t)st.st_size;
    if (len == 0) {
        close(fd);
        return 0;
    }
    char *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        bb_error("bunder", "aof_load_failed path=%s reason=mmap errno=%d", path, errno);
        close(fd);
        return -1;
    }
    struct bndr_client *c = bndr_client_fake(s);
    struct bndr_parser p = {0};
    bndr_parser_reset(&p);
    struct bndr_limits lim = {s->cfg.proto_max_bulk_len, s->cfg.proto_max_multibulk_len,
                              s->cfg.proto_inline_max_size, 0};
    size_t pos = 0, last_ok = 0;
    int in_multi = 0, rc = 0;
    long long ncmds = 0;
    struct bndr_arg *argv = NULL;
    size_t argvcap = 0;
    s->aof.loading = 1;
    while (pos < len) {
        size_t need;
        const char *err = NULL;
        size_t start = pos;
        if (map[pos] != '*') {
            bb_error("bunder", "aof_load_failed path=%s offset=%zu reason=\"not a RESP array\"",
                     path, pos);
            rc = -1;
            break;
        }
        int r = bndr_parse(&p, map, len, &pos, &lim, &need, &err);
        if (r == BNDR_PARSE_MORE) {
            pos = start;
            break; /* truncated tail */
        }
        if (r == BNDR_PARSE_ERR) {
            bb_error("bunder", "aof_load_failed path=%s offset=%zu reason=\"%s\"", path, start, err);
            rc = -1;
            break;
        }
        if (p.argc == 0)
            continue;
        if (p.argc > argvcap) {
            argvcap = p.argc;
            bndr_free(argv);
            argv = bndr_malloc(argvcap * sizeof(*argv));
        }
        bndr_parser_args(&p, map, argv);
        const struct bndr_cmd *cmd = bndr_cmd_lookup(argv[0].p, argv[0].n);
        if (!cmd) {
            bb_error("bunder", "aof_load_failed path=%s offset=%zu reason=\"unknown command %.*s\"",
                     path, start, (int)(argv[0].n > 64 ? 64 : argv[0].n), argv[0].p);
            rc = -1;
            break;
        }
        /* only what an AOF can hold: write commands, MULTI/EXEC, SELECT (Redis' AOFs start
         * with SELECT 0) and PFCOUNT (it propagates itself when it wrote the HLL's cached
         * cardinality, as in Redis). Anything else (SAVE, CONFIG, SHUTDOWN, BGSAVE …) is not a
         * torn write but a file bunder did not write: refuse it rather than run it at start-up. */
        if (!(cmd->flags & BNDR_CMD_WRITE) && strcmp(cmd->name, "multi") != 0 &&
            strcmp(cmd->name, "exec") != 0 && strcmp(cmd->name, "select") != 0 &&
            strcmp(cmd->name, "pfcount") != 0) {
            bb_error("bunder", "aof_load_failed path=%s offset=%zu reason=\"%s is not a write "
                               "command\"", path, start, cmd->name);
            rc = -1;
            break;
        }
        long long dbid;
        if (!strcmp(cmd->name, "select") &&
            (p.argc != 2 || bndr_parse_ll(argv[1].p, argv[1].n, &dbid) < 0 || dbid < 0 ||
             dbid >= s->ndb)) { /* replaying into another database would be silent corruption */
            bb_error("bunder", "aof_load_failed path=%s offset=%zu reason=\"SELECT out of range "
                               "(databases %d)\"", path, start, s->ndb);
            rc = -1;
            break;
        }
        if (!strcmp(cmd->name, "multi")) {
            in_multi = 1;
        }
        c->argv = argv;
        c->argc = (int)p.argc;
        bndr_process_command(c);
        c->argc = 0;
        c->argv = NULL;
        if (!strcmp(cmd->name, "exec"))
            in_multi = 0;
        ncmds++;
        if (!in_multi)
            last_ok = pos;
    }
    s->aof.loading = 0;
    if (rc == 0 && last_ok < len) {
        bb_warn("bunder",
                "aof_truncated_tail path=%s size=%zu valid=%zu dropped=%zu action=truncate "
                "reason=\"file ends inside a command%s\"",
                path, len, last_ok, len - last_ok, in_multi ? " (unterminated MULTI)" : "");
        if (in_multi) {
            /* the partial transaction was queued but never executed: drop it */
            bndr_multi_discard(c);
        }
        if (ftruncate(fd, (off_t)last_ok) < 0) {
            bb_error("bunder", "aof_truncate_failed path=%s errno=%d", path, errno);
            rc = -1;
        }
    }
    bndr_free(argv);
    bndr_parser_release(&p);
    bndr_client_fake_free(c);
    munmap(map, len);
    close(fd);
    if (rc == 0)
        bb_info("bunder", "aof_loaded path=%s commands=%lld keys=%llu", path, ncmds,
                (unsigned long long)bndr_db_get(s, 0)->keys.n);
    return rc;
}

/* ---------------------------------------------------------------- rewrite */
static int fput_cmd(FILE *f, int argc, const struct bndr_arg *argv)
{
    if (fprintf(f, "*%d\r\n", argc) < 0)
        return -1;
    for (int i = 0; i < argc; i++) {
        if (fprintf(f, "$%zu\r\n", argv[i].n) < 0 || fwrite(argv[i].p, 1, argv[i].n, f) != argv[i].n ||
            fwrite("\r\n", 1, 2, f) != 2)
            return -1;
    }
    return 0;
}

#define BATCH 64

static int write_db(struct bndr_db *db, FILE *f)
{
    struct bndr_arg argv[2 + BATCH * 2];
    char scores[BATCH][64];
    BNDR_DICT_FOREACH(&db->keys, e)
    {
        struct bndr_obj *o = e->v.p;
        struct bndr_arg key = {e->key, e->klen};
        int n;
        switch (o->type) {
        case BNDR_STRING:
            argv[0] = (struct bndr_arg){(char *)"SET", 3};
            argv[1] = key;
            argv[2] = (struct bndr_arg){o->s, o->len};
            if (fput_cmd(f, 3, argv) < 0)
                return -1;
            break;
        case BNDR_LIST: {
            struct bndr_list *l = o->u.l;
            for (size_t i = 0; i < l->n;) {
                argv[0] = (struct bndr_arg){(char *)"RPUSH", 5};
                argv[1] = key;
                n = 2;
                for (; i < l->n && n < 2 + BATCH; i++) {
                    struct bndr_str *s = BNDR_LIST_AT(l, i);
                    argv[n++] = (struct bndr_arg){s->buf, s->len};
                }
                if (fput_cmd(f, n, argv) < 0)
                    return -1;
            }
            break;
        }
        case BNDR_SET:
        case BNDR_HASH: {
            int hash = o->type == BNDR_HASH;
            argv[0] = hash ? (struct bndr_arg){(char *)"HSET", 4} : (struct bndr_arg){(char *)"SADD", 4};
            argv[1] = key;
            n = 2;
            BNDR_DICT_FOREACH(o->u.d, m)
            {
                argv[n++] = (struct bndr_arg){m->key, m->klen};
                if (hash) {
                    struct bndr_str *v = m->v.p;
                    argv[n++] = (struct bndr_arg){v->buf, v->len};
                }
                if (n >= 2 + BATCH) {
                    if (fput_cmd(f, n, argv) < 0)
                        return -1;
                    n = 2;
                }
            }
            if (n > 2 && fput_cmd(f, n, argv) < 0)
                return -1;
            break;
        }
        case BNDR_ZSET: {
            argv[0] = (struct bndr_arg){(char *)"ZADD", 4};
            argv[1] = key;
            n = 2;
            int k = 0;
            for (struct bndr_zsl_node *x = o->u.z->header->level[0].forward; x;
                 x = x->level[0].forward) {
                int sl = bndr_fmt_double(scores[k], sizeof scores[k], x->score);
                argv[n++] = (struct bndr_arg){scores[k], (size_t)sl};
                argv[n++] = (struct bndr_arg){(char *)x->ele, x->elen};
                k++;
                if (k == BATCH) {
                    if (fput_cmd(f, n, argv) < 0)
                        return -1;
                    n = 2;
                    k = 0;
                }
            }
            if (n > 2 && fput_cmd(f, n, argv) < 0)
                return -1;
            break;
        }
        case BNDR_STREAM:
            if (bndr_stream_rewrite(f, e->key, e->klen, o->u.x, fput_cmd) < 0)
                return -1;
            break;
        }
        int64_t when = bndr_db_expire(db, o);
        if (when) {
            char buf[24];
            int bl = bndr_fmt_ll(buf, when);
            argv[0] = (struct bndr_arg){(char *)"PEXPIREAT", 9};
            argv[1] = key;
            argv[2] = (struct bndr_arg){buf, (size_t)bl};
            if (fput_cmd(f, 3, argv) < 0)
                return -1;
        }
    }
    return 0;
}

static int put_function(void *arg, const char *code, size_t n)
{
    struct bndr_arg a[3] = {{(char *)"FUNCTION", 8}, {(char *)"LOAD", 4}, {(char *)code, n}};
    return fput_cmd(arg, 3, a);
}

/* The FUNCTION libraries (FUNCTION LOAD each), then every non-empty database, each preceded by
 * SELECT <id> (as Redis' rewrite). */
int bndr_aof_write_dataset(struct bndr_server *s, FILE *f)
{
    if (bndr_functions_each(put_function, f) < 0)
        return -1;
    for (int i = 0; i < s->ndb; i++) {
        struct bndr_db *db = bndr_db_get(s, i);
        if (db->keys.n == 0)
            continue;
        char num[16];
        int n = snprintf(num, sizeof num, "%d", i);
        struct bndr_arg sel[2] = {{(char *)"SELECT", 6}, {num, (size_t)n}};
        if (fput_cmd(f, 2, sel) < 0 || write_db(db, f) < 0)
            return -1;
    }
    return 0;
}

static void temp_path(struct bndr_server *s, pid_t pid, char *buf, size_t cap)
{
    char name[64];
    snprintf(name, sizeof name, "temp-rewriteaof-%d.aof", (int)pid);
    bndr_path(s, name, buf, cap);
}

int bndr_aof_rewrite_start(struct bndr_server *s)
{
    if (s->aof.rewrite_pid > 0)
        return -1;
    bndr_aof_flush(s);
    pid_t pid = fork();
    if (pid < 0) {
        bb_error("bunder", "aof_rewrite_fork_failed errno=%d", errno);
        s->aof.last_bgrewrite_ok = 0;
        return -1;
    }
    if (pid == 0) {
        char path[2048];
        temp_path(s, getpid(), path, sizeof path);
        FILE *f = fopen(path, "w");
        if (!f)
            _exit(1);
        static char iobuf[1 << 16];
        setvbuf(f, iobuf, _IOFBF, sizeof iobuf);
        int rc = bndr_aof_write_dataset(s, f);
        if (fflush(f) != 0 || fsync(fileno(f)) != 0)
            rc = -1;
        fclose(f);
        _exit(rc == 0 ? 0 : 1);
    }
    s->aof.rewrite_pid = pid;
    s->aof.rewrite.len = 0;
    s->aof_seldb = -1; /* the diff appended to the new file starts with a SELECT */
    bb_info("bunder", "aof_rewrite_started pid=%d", (int)pid);
    return 0;
}

void bndr_aof_child_done(struct bndr_server *s, pid_t pid, int ok)
{
    struct bndr_aof *a = &s->aof;
    char tmp[2048], path[2048];
    temp_path(s, pid, tmp, sizeof tmp);
    bndr_path(s, s->cfg.appendfilename, path, sizeof path);
    a->rewrite_pid = 0;
    if (!ok) {
        bb_error("bunder", "aof_rewrite_failed pid=%d", (int)pid);
        unlink(tmp);
        a->last_bgrewrite_ok = 0;
        a->rewrite.len = 0;
        return;
    }
    bndr_aof_flush(s); /* everything fed so far is both in the old file and in a->rewrite */
    int fd = open(tmp, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0 || write_all(fd, a->rewrite.p ? a->rewrite.p : "", a->rewrite.len) < 0 ||
        fsync(fd) < 0) {
        bb_error("bunder", "aof_rewrite_failed pid=%d reason=\"appending the diff\" errno=%d",
                 (int)pid, errno);
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        a->last_bgrewrite_ok = 0;
        a->rewrite.len = 0;
        return;
    }
    if (rename(tmp, path) < 0) {
        bb_error("bunder", "aof_rewrite_failed reason=rename errno=%d", errno);
        close(fd);
        unlink(tmp);
        a->last_bgrewrite_ok = 0;
        a->rewrite.len = 0;
        return;
    }
    /* make the rename durable */
    int dfd = open(s->cfg.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    struct stat st;
    fstat(fd, &st);
    if (a->enabled) {
        int old = a->fd;
        a->fd = fd;
        if (!a->fsync_inflight)
            close(old); /* else leaked deliberately: the pool fsync still uses it (rare) */
        a->size = a->base_size = st.st_size;
    } else {
        close(fd);
    }
    a->rewrite.len = 0;
    bndr_free(a->rewrite.p);
    a->rewrite.p = NULL;
    a->rewrite.cap = 0;
    a->rewrites++;
    a->last_bgrewrite_ok = 1;
    a->last_rewrite_ms = bndr_mstime();
    bb_info("bunder", "aof_rewrite_done pid=%d size=%lld", (int)pid, (long long)st.st_size);
}
