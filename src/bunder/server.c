/* server.c — listener, clients, the dispatcher and the write path.
 *
 * One libuv loop. A read lands directly in the client's query buffer (alloc callback hands out
 * its tail), the incremental parser (resp.c) cuts complete commands, and each one goes through
 * bndr_process_command, the one place where the common checks happen in Redis order: unknown
 * command, arity, authentication, subscribed context, MULTI queuing, MISCONF (sticky AOF write
 * error), maxmemory. bndr_call runs the handler, then propagates the command to the AOF (or the
 * rewritten form a handler asked for) and signals its keys (WATCH, HTTP change events) when it
 * changed the dataset.
 *
 * Replies are appended to the client's output buffer. Nothing is written while commands run: a
 * uv_check handle (after each poll) and a uv_prepare handle (before the next poll) first write the
 * AOF buffer (and fsync it with appendfsync always), then write every pending client's output
 * with one uv_try_write. So with `always` a client never sees a reply to a write that is not on
 * disk. A partial write hands the rest to uv_write (the buffer is swapped, not copied).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bb_err.h"
#include "bb_log.h"
#include "bndr.h"
#include "cmds.h"

struct bndr_server *bndr_srv;

static void process_input(struct bndr_client *c);
static void client_close(struct bndr_client *c);

static struct bndr_client **unblocked;
static int nunblocked, unblockedcap;

/* ---------------------------------------------------------------- command lookup */
const struct bndr_cmd *bndr_cmd_lookup(const char *name, size_t n)
{
    static struct bndr_dict table;
    static int init;
    if (!init) {
        bndr_dict_init(&table);
        bndr_cmd_table_init();
        for (size_t i = 0; i < bndr_cmd_count; i++) {
            struct bndr_de *e = bndr_dict_upsert(&table, bndr_cmd_table[i].name,
                                                 strlen(bndr_cmd_table[i].name), NULL);
            e->v.p = &bndr_cmd_table[i];
        }
        init = 1;
    }
    char low[32];
    if (n == 0 || n >= sizeof low)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        low[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    struct bndr_de *e = bndr_dict_find(&table, low, n);
    return e ? e->v.p : NULL;
}

/* ---------------------------------------------------------------- propagation */
void bndr_propagate(struct bndr_server *s, int argc, const struct bndr_arg *argv)
{
    if (!s->aof.enabled || s->aof.loading)
        return;
    if (s->in_exec && !s->aof.in_multi) {
        struct bndr_arg m = {(char *)"MULTI", 5};
        bndr_aof_feed(s, 1, &m);
        s->aof.in_multi = 1;
    }
    if (s->aof_seldb != s->curdb) { /* as Redis: SELECT before a command of another database */
        char num[16];
        int n = snprintf(num, sizeof num, "%d", s->curdb);
        struct bndr_arg sel[2] = {{(char *)"SELECT", 6}, {num, (size_t)n}};
        bndr_aof_feed(s, 2, sel);
        s->aof_seldb = s->curdb;
    }
    bndr_aof_feed(s, argc, argv);
}

void bndr_rewrite_prop(struct bndr_client *c, int argc, const struct bndr_arg *argv)
{
    struct bndr_server *s = c->srv;
    for (int i = 0; i < s->prop_argc; i++)
        bndr_free(s->prop_argv[i].p);
    bndr_free(s->prop_argv);
    s->prop_argv = NULL;
    s->prop_argc = 0;
    if (argc == 0) {
        s->prop_suppress = 1;
        return;
    }
    s->prop_argv = bndr_malloc((size_t)argc * sizeof(*s->prop_argv));
    for (int i = 0; i < argc; i++) {
        s->prop_argv[i].p = bndr_memdup(argv[i].p, argv[i].n);
        s->prop_argv[i].n = argv[i].n;
    }
    s->prop_argc = argc;
}

static void signal_cmd_keys(struct bndr_server *s, const struct bndr_cmd *cmd, int argc,
                            struct bndr_arg *argv)
{
    if (cmd->first_key <= 0)
        return;
    int last = cmd->last_key < 0 ? argc + cmd->last_key : cmd->last_key;
    for (int i = cmd->first_key; i <= last && i < argc; i += cmd->step) {
        bndr_signal_key(s, argv[i].p, argv[i].n);
        bndr_notify(s, cmd->name, argv[i].p, argv[i].n);
    }
}

void bndr_call(struct bndr_client *c, const struct bndr_cmd *cmd)
{
    struct bndr_server *s = c->srv;
    long long dirty = s->dirty;
    s->prop_suppress = 0;
    struct bndr_client *prev = s->cur;
    s->cur = c;
    int prevdb = bndr_db_switch(s, c->db);
    uint64_t t0 = s->clock_valid ? s->clock_us : bndr_ustime();
    s->clock_valid = 0; /* a nested call (EXEC) reads the clock itself */
    size_t outlen = c->out.len;
    c->lastcmd = cmd; /* CLIENT LIST's cmd=: the command running or last run, as Redis */
    if (c->reply_mode == 2)
        c->reply_mode = 3;
    uint64_t errs = bndr_errorstat_total();
    cmd->proc(c);
    if (c->out.len > outlen && c->out.p[outlen] == '-') { /* INFO errorstats / commandstats */
        ((struct bndr_cmd *)cmd)->failed_calls++;
        /* a script's error that a command inside it already counted is not counted twice */
        if (bndr_errorstat_total() == errs)
            bndr_errorstat(c->out.p + outlen, c->out.len - outlen);
    }
    if (c->trk & BNDR_TRK_ON) { /* CLIENT TRACKING (tracking.c) */
        if (!(c->trk & BNDR_TRK_BCAST) && (cmd->flags & BNDR_CMD_READONLY))
            bndr_tracking_remember(c, cmd);
        bndr_tracking_after_command(c);
    }
    if (c->reply_mode == 1 || c->reply_mode == 3) { /* CLIENT REPLY OFF / SKIP */
        if (c->out.len > outlen)
            c->out.len = outlen;
        if (c->reply_mode == 3)
            c->reply_mode = 0;
    }
    uint64_t t1 = bndr_ustime();
    ((struct bndr_cmd *)cmd)->usec += t1 - t0;
    if (!s->aof.loading) {
        bndr_slowlog_push(c, c->argc, c->argv, t1 - t0);
        if (s->nmonitors && !(cmd->flags & BNDR_CMD_ADMIN))
            bndr_monitor_feed(s, c, c->db, c->argc, c->argv);
    }
    s->clock_us = t1;
    s->clock_valid = 1;
    ((struct bndr_cmd *)cmd)->calls++;
    s->cur = prev;
    s->stat_commands++;
    if (s->dirty != dirty && (cmd->flags & BNDR_CMD_WRITE)) {
        if (!s->prop_suppress) {
            if (s->prop_argc)
                bndr_propagate(s, s->prop_argc, s->prop_argv);
            else
                bndr_propagate(s, c->argc, c->argv);
        }
        s->signaler = c;
        signal_cmd_keys(s, cmd, c->argc, c->argv);
        s->signaler = NULL;
        /* OBJECT ENCODING: Redis converts a collection when an insert takes it past a limit */
        int last = cmd->last_key < 0 ? c->argc + cmd->last_key : cmd->last_key;
        int coll = !strcmp(cmd->group, "set") || !strcmp(cmd->group, "hash") ||
                   !strcmp(cmd->group, "sorted-set") || !strcmp(cmd->group, "generic");
        size_t maxarg = 0;
        for (int i = 2; coll && i < c->argc; i++)
            if (c->argv[i].n > maxarg)
                maxarg = c->argv[i].n;
        for (int i = cmd->first_key; coll && cmd->first_key > 0 && i <= last && i < c->argc;
             i += cmd->step) {
            struct bndr_de *e = bndr_db_find(&s->db, c->argv[i].p, c->argv[i].n);
            if (e)
                bndr_obj_note_write(BNDR_DE_OBJ(e), maxarg);
        }
    }
    bndr_db_switch(s, prevdb);
    if (s->prop_argc) {
        for (int i = 0; i < s->prop_argc; i++)
            bndr_free(s->prop_argv[i].p);
        bndr_free(s->prop_argv);
        s->prop_argv = NULL;
        s->prop_argc = 0;
    }
    s->prop_suppress = 0;
}

/* ---------------------------------------------------------------- dispatcher */
int bndr_client_subscribed(const struct bndr_client *c)
{
    return c->chans.n + c->pats.n + c->schans.n > 0;
}

static void queue_multi(struct bndr_client *c, const struct bndr_cmd *cmd)
{
    if (c->mqn == c->mqcap) {
        c->mqcap = c->mqcap ? c->mqcap * 2 : 8;
        c->mq = bndr_realloc(c->mq, (size_t)c->mqcap * sizeof(*c->mq));
    }
    struct bndr_mcmd *m = &c->mq[c->mqn++];
    m->cmd = cmd;
    m->argc = c->argc;
    m->argv = bndr_malloc((size_t)c->argc * sizeof(*m->argv));
    for (int i = 0; i < c->argc; i++) {
        m->argv[i].p = bndr_memdup(c->argv[i].p, c->argv[i].n);
        m->argv[i].n = c->argv[i].n;
    }
    bndr_add_raw(c, "+QUEUED\r\n", 9);
}

static void reject(struct bndr_client *c, const char *msg)
{
    if (c->flags & BNDR_CF_MULTI)
        c->flags |= BNDR_CF_DIRTY_EXEC;
    bndr_add_error(c, msg);
    const struct bndr_cmd *cmd = bndr_cmd_lookup(c->argv[0].p, c->argv[0].n);
    if (cmd)
        ((struct bndr_cmd *)cmd)->rejected_calls++;
    bndr_errorstat(msg, strlen(msg));
}

void bndr_process_command(struct bndr_client *c)
{
    struct bndr_server *s = c->srv;
    const struct bndr_cmd *cmd = bndr_cmd_lookup(c->argv[0].p, c->argv[0].n);
    char msg[512];
    /* the tenant policy (bunder_tenant.h) comes first, so a refused command that bunder does not
     * implement reads the same as one it does */
    if ((c->flags & BNDR_CF_TENANT) && bndr_tenant_refuse(c->argc, c->argv, msg, sizeof msg)) {
        reject(c, msg);
        return;
    }
    if (!cmd) {
        int off = snprintf(msg, sizeof msg, "ERR unknown command '%.*s', with args beginning with: ",
                           (int)(c->argv[0].n > 128 ? 128 : c->argv[0].n), c->argv[0].p);
        for (int i = 1; i < c->argc && off < (int)sizeof msg - 140; i++)
            off += snprintf(msg + off, sizeof msg - (size_t)off, "'%.*s' ",
                            (int)(c->argv[i].n > 128 ? 128 : c->argv[i].n), c->argv[i].p);
        reject(c, msg);
        return;
    }
    if ((cmd->arity > 0 && c->argc != cmd->arity) || (cmd->arity < 0 && c->argc < -cmd->arity)) {
        snprintf(msg, sizeof msg, "ERR wrong number of arguments for '%s' command", cmd->name);
        reject(c, msg);
        return;
    }
    if (s->cfg.requirepass[0] && !(c->flags & BNDR_CF_AUTHED) && !(cmd->flags & BNDR_CMD_NOAUTH)) {
        reject(c, "NOAUTH Authentication required.");
        return;
    }
    if (c->acl_user && bndr_acl_refuse(c, cmd, msg, sizeof msg)) { /* acl.c */
        reject(c, msg);
        return;
    }
    if (c->resp == 2 && bndr_client_subscribed(c) && !(cmd->flags & BNDR_CMD_OKSUB)) {
        snprintf(msg, sizeof msg,
                 "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
                 "RESET are allowed in this context",
                 cmd->name);
        bndr_add_error(c, msg);
        return;
    }
    if (bndr_script_busy_reject(c, cmd)) {
        const char *busy = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or "
                           "SHUTDOWN NOSAVE.";
        if (cmd->proc == bndr_cmd_exec) { /* as Redis: a refused EXEC ends the transaction */
            snprintf(msg, sizeof msg, "EXECABORT Transaction discarded because of: %s", busy);
            bndr_add_error(c, msg);
            bndr_multi_discard(c);
            return;
        }
        reject(c, busy);
        return;
    }
    if (s->aof.write_error && (cmd->flags & BNDR_CMD_WRITE)) {
        reject(c, "MISCONF Errors writing to the AOF file: the server refuses writes until the "
                  "AOF can be written again (see the log)");
        return;
    }
    if (s->cfg.maxmemory && (cmd->flags & BNDR_CMD_DENYOOM) && !(c->flags & BNDR_CF_FAKE &&
                                                                 s->aof.loading)) {
        if (bndr_evict(s) < 0) {
            reject(c, "OOM command not allowed when used memory > 'maxmemory'.");
            return;
        }
    }
    if ((c->flags & BNDR_CF_MULTI) && !(cmd->flags & BNDR_CMD_NOMULTI)) {
        queue_multi(c, cmd);
        return;
    }
    bndr_call(c, cmd);
    if (s->nready)
        bndr_serve_ready_keys(s);
}

/* ---------------------------------------------------------------- blocking */
static void sub_add(struct bndr_dict *d, const char *k, size_t n, struct bndr_client *c)
{
    int created;
    struct bndr_de *e = bndr_dict_upsert(d, k, n, &created);
    struct bndr_pubsub_sub *w = e->v.p;
    if (!w) {
        w = bndr_calloc(sizeof *w);
        e->v.p = w;
    }
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4;
        w->c = bndr_realloc(w->c, (size_t)w->cap * sizeof(*w->c));
    }
    w->c[w->n++] = c;
}

static int sub_del(struct bndr_dict *d, const char *k, size_t n, struct bndr_client *c)
{
    struct bndr_de *e = bndr_dict_find(d, k, n);
    if (!e)
        return 0;
    struct bndr_pubsub_sub *w = e->v.p;
    int found = 0;
    for (int i = 0; i < w->n; i++) {
        if (w->c[i] == c) {
            memmove(&w->c[i], &w->c[i + 1], (size_t)(w->n - i - 1) * sizeof(*w->c));
            w->n--;
            found = 1;
            break;
        }
    }
    if (w->n == 0) {
        e = bndr_dict_unlink(d, k, n);
        bndr_free(w->c);
        bndr_free(w);
        bndr_free(e);
        bndr_dict_maybe_shrink(d);
    }
    return found;
}

void bndr_block_client(struct bndr_client *c, struct bndr_arg *keys, int nkeys, int head,
                       uint64_t timeout_ms)
{
    c->flags |= BNDR_CF_BLOCKED;
    c->bkeys = bndr_malloc((size_t)nkeys * sizeof(*c->bkeys));
    c->nbkeys = 0;
    for (int i = 0; i < nkeys; i++) {
        int dup = 0;
        for (int j = 0; j < c->nbkeys; j++)
            if (c->bkeys[j]->len == keys[i].n && !memcmp(c->bkeys[j]->buf, keys[i].p, keys[i].n))
                dup = 1;
        if (dup)
            continue;
        c->bkeys[c->nbkeys++] = bndr_str_new(keys[i].p, keys[i].n);
        sub_add(&c->srv->blocking, keys[i].p, keys[i].n, c);
    }
    c->bwhere = head;
    c->btimeout = timeout_ms;
}

void bndr_unblock_client(struct bndr_client *c, int timeout)
{
    if (!(c->flags & BNDR_CF_BLOCKED))
        return;
    for (int i = 0; i < c->nbkeys; i++) {
        sub_del(&c->srv->blocking, c->bkeys[i]->buf, c->bkeys[i]->len, c);
        bndr_str_free(c->bkeys[i]);
    }
    bndr_free(c->bkeys);
    c->bkeys = NULL;
    c->nbkeys = 0;
    c->flags &= ~BNDR_CF_BLOCKED;
    if (c->bstream)
        bndr_stream_unblocked(c);
    if (c->bargv)
        bndr_block_free(c);
    if (timeout)
        bndr_add_null_array(c);
    if (!(c->flags & BNDR_CF_FAKE)) {
        if (nunblocked == unblockedcap) {
            unblockedcap = unblockedcap ? unblockedcap * 2 : 16;
            unblocked = bndr_realloc(unblocked, (size_t)unblockedcap * sizeof(*unblocked));
        }
        unblocked[nunblocked++] = c;
    }
}

void bndr_serve_ready_keys(struct bndr_server *s)
{
    int prevdb = s->curdb;
    while (s->nready) {
        struct bndr_str *rk = s->ready[--s->nready];
        int32_t db; /* a ready key is the database id, then the key (bndr_signal_list_ready) */
        memcpy(&db, rk->buf, 4);
        bndr_db_switch(s, db);
        struct {
            char *buf;
            size_t len;
        } kk = {rk->buf + 4, rk->len - 4}, *k = &kk;
        for (;;) {
            struct bndr_de *be = bndr_dict_find(&s->blocking, k->buf, k->len);
            if (!be)
                break;
            struct bndr_de *e = bndr_db_find(&s->db, k->buf, k->len);
            int type = e ? BNDR_DE_OBJ(e)->type : -1;
            if (type != BNDR_LIST && type != BNDR_ZSET) {
                bndr_stream_serve_ready(s, k->buf, k->len); /* XREAD/XREADGROUP readers */
                break;
            }
            struct bndr_obj *o = BNDR_DE_OBJ(e);
            struct bndr_pubsub_sub *w = be->v.p;
            struct bndr_client *c = NULL;
            for (int i = 0; i < w->n && !c; i++) /* XREAD clients wait for a stream here */
                if (!w->c[i]->bstream && w->c[i]->db == db && (w->c[i]->bargv ? w->c[i]->btype == type : type == BNDR_LIST))
                    c = w->c[i];
            if (!c)
                break;
            if (c->bargv) { /* BLMOVE, BLMPOP, BZPOPMIN...: the command runs again (cmd_list.c) */
                if (!bndr_block_retry(c) || !bndr_db_find(&s->db, k->buf, k->len))
                    break;
                continue;
            }
            int head = c->bwhere;
            struct bndr_str *v = bndr_list_pop(o->u.l, head);
            bndr_add_array(c, 2);
            bndr_add_bulk(c, k->buf, k->len);
            bndr_add_bulk(c, v->buf, v->len);
            struct bndr_arg pa[2] = {{head ? (char *)"LPOP" : (char *)"RPOP", 4}, {k->buf, k->len}};
            int empty = o->u.l->n == 0;
            if (empty)
                bndr_db_delete(&s->db, k->buf, k->len);
            s->dirty++;
            bndr_propagate(s, 2, pa);
            bndr_signal_key(s, k->buf, k->len);
            bndr_notify(s, head ? "lpop" : "rpop", k->buf, k->len);
            bndr_str_free(v);
            bndr_unblock_client(c, 0);
            if (empty)
                break;
        }
        bndr_str_free(rk);
    }
    bndr_db_switch(s, prevdb);
}

void bndr_unpause(struct bndr_server *s)
{
    s->pause_until = 0;
    for (struct bndr_client *c = s->clients; c; c = c->next) {
        if (!(c->flags & BNDR_CF_PAUSED))
            continue;
        c->flags &= ~BNDR_CF_PAUSED;
        if (nunblocked == unblockedcap) {
            unblockedcap = unblockedcap ? unblockedcap * 2 : 16;
            unblocked = bndr_realloc(unblocked, (size_t)unblockedcap * sizeof(*unblocked));
        }
        unblocked[nunblocked++] = c; /* flush_all runs their input again */
    }
}

static void check_blocked_timeouts(struct bndr_server *s)
{
    if (s->pause_until && s->pause_until <= bndr_mstime())
        bndr_unpause(s);
    uint64_t now = bndr_mstime();
    for (struct bndr_client *c = s->clients; c; c = c->next)
        if ((c->flags & BNDR_CF_BLOCKED) && c->btimeout && c->btimeout <= now)
            bndr_unblock_client(c, 1);
}

/* ---------------------------------------------------------------- WATCH / pubsub helpers */
/* c->watched holds the database id (4 bytes, host order) then the key; s->watched is keyed by the
 * key alone and bndr_signal_key asks bndr_client_watches for the database. */
int bndr_client_watches(const struct bndr_client *c, int db, const char *k, size_t n)
{
    int32_t d = db;
    for (int i = 0; i < c->nwatched; i++)
        if (c->watched[i]->len == n + 4 && !memcmp(c->watched[i]->buf, &d, 4) &&
            !memcmp(c->watched[i]->buf + 4, k, n))
            return 1;
    return 0;
}

void bndr_watch_unwatch_all(struct bndr_client *c)
{
    for (int i = 0; i < c->nwatched; i++) {
        sub_del(&c->srv->watched, c->watched[i]->buf + 4, c->watched[i]->len - 4, c);
        bndr_str_free(c->watched[i]);
    }
    bndr_free(c->watched);
    c->watched = NULL;
    c->nwatched = c->watchcap = 0;
    c->flags &= ~BNDR_CF_DIRTY_CAS;
}

void bndr_watch_key(struct bndr_client *c, const char *k, size_t n)
{
    if (bndr_client_watches(c, c->db, k, n))
        return;
    if (c->nwatched == c->watchcap) {
        c->watchcap = c->watchcap ? c->watchcap * 2 : 4;
        c->watched = bndr_realloc(c->watched, (size_t)c->watchcap * sizeof(*c->watched));
    }
    int32_t db = c->db;
    c->watched[c->nwatched] = bndr_str_cat(bndr_str_new(&db, 4), k, n);
    c->nwatched++;
    sub_add(&c->srv->watched, k, n, c);
}

void bndr_multi_discard(struct bndr_client *c)
{
    for (int i = 0; i < c->mqn; i++) {
        for (int j = 0; j < c->mq[i].argc; j++)
            bndr_free(c->mq[i].argv[j].p);
        bndr_free(c->mq[i].argv);
    }
    bndr_free(c->mq);
    c->mq = NULL;
    c->mqn = c->mqcap = 0;
    c->flags &= ~(BNDR_CF_MULTI | BNDR_CF_DIRTY_EXEC | BNDR_CF_DIRTY_CAS);
    bndr_watch_unwatch_all(c);
}

/* pattern: 0 channel, 1 pattern, 2 shard channel (SSUBSCRIBE) */
#define SUB_MINE(c, pattern) ((pattern) == 2 ? &(c)->schans : (pattern) ? &(c)->pats : &(c)->chans)
#define SUB_ALL(s, pattern)                                                                        \
    ((pattern) == 2 ? &(s)->pubsub_sch : (pattern) ? &(s)->pubsub_pat : &(s)->pubsub_ch)
int bndr_pubsub_sub(struct bndr_client *c, const char *k, size_t n, int pattern)
{
    struct bndr_dict *mine = SUB_MINE(c, pattern);
    int created;
    bndr_dict_upsert(mine, k, n, &created);
    if (created)
        sub_add(SUB_ALL(c->srv, pattern), k, n, c);
    return created;
}

int bndr_pubsub_unsub(struct bndr_client *c, const char *k, size_t n, int pattern)
{
    struct bndr_dict *mine = SUB_MINE(c, pattern);
    struct bndr_de *e = bndr_dict_unlink(mine, k, n);
    if (!e)
        return 0;
    bndr_free(e);
    bndr_dict_maybe_shrink(mine);
    sub_del(SUB_ALL(c->srv, pattern), k, n, c);
    return 1;
}

void bndr_pubsub_unsub_all(struct bndr_client *c, int notify)
{
    (void)notify;
    for (int pattern = 0; pattern < 3; pattern++) {
        struct bndr_dict *mine = SUB_MINE(c, pattern);
        while (mine->n) {
            struct bndr_de *e = bndr_dict_random(mine);
            struct bndr_str *k = bndr_str_new(e->key, e->klen);
            bndr_pubsub_unsub(c, k->buf, k->len, pattern);
            bndr_str_free(k);
        }
        bndr_dict_release(mine, NULL);
    }
}

static void send_message(struct bndr_client *c, const char *pat, size_t patn, const char *ch,
                         size_t chn, const char *msg, size_t msgn)
{
    if (pat) {
        bndr_add_push(c, 4);
        bndr_add_bulk(c, "pmessage", 8);
        bndr_add_bulk(c, pat, patn);
    } else {
        bndr_add_push(c, 3);
        bndr_add_bulk(c, "message", 7);
    }
    bndr_add_bulk(c, ch, chn);
    bndr_add_bulk(c, msg, msgn);
}

int bndr_pubsub_publish(struct bndr_server *s, const char *ch, size_t chn, const char *msg,
                        size_t msgn)
{
    int receivers = 0;
    struct bndr_de *e = bndr_dict_find(&s->pubsub_ch, ch, chn);
    if (e) {
        struct bndr_pubsub_sub *w = e->v.p;
        for (int i = 0; i < w->n; i++) {
            send_message(w->c[i], NULL, 0, ch, chn, msg, msgn);
            receivers++;
        }
    }
    BNDR_DICT_FOREACH(&s->pubsub_pat, pe)
    {
        if (!bndr_glob(pe->key, pe->klen, ch, chn, 0))
            continue;
        struct bndr_pubsub_sub *w = pe->v.p;
        for (int i = 0; i < w->n; i++) {
            send_message(w->c[i], pe->key, pe->klen, ch, chn, msg, msgn);
            receivers++;
        }
    }
    return receivers;
}

/* ---------------------------------------------------------------- clients */
static void client_init(struct bndr_server *s, struct bndr_client *c)
{
    c->srv = s;
    c->id = ++s->next_client_id;
    c->resp = 2;
    bndr_parser_reset(&c->parser);
    bndr_dict_init(&c->chans);
    bndr_dict_init(&c->pats);
    c->ctime_ms = c->last_ms = bndr_mstime();
    if (!s->cfg.requirepass[0])
        c->flags |= BNDR_CF_AUTHED;
}

static void client_release(struct bndr_client *c)
{
    bndr_monitor_remove(c);
    bndr_tracking_client_gone(c);
    bndr_unblock_client(c, 0);
    for (int i = 0; i < nunblocked; i++)
        if (unblocked[i] == c)
            unblocked[i] = NULL;
    bndr_multi_discard(c);
    bndr_pubsub_unsub_all(c, 0);
    bndr_parser_release(&c->parser);
    bndr_free(c->qbuf);
    bndr_free(c->argv);
    bndr_free(c->out.p);
    bndr_free(c->wbuf.p);
    bndr_free(c->name);
}

struct bndr_client *bndr_client_fake(struct bndr_server *s)
{
    struct bndr_client *c = bndr_calloc(sizeof *c);
    client_init(s, c);
    c->flags |= BNDR_CF_FAKE | BNDR_CF_AUTHED;
    return c;
}

void bndr_client_fake_free(struct bndr_client *c)
{
    client_release(c);
    bndr_free(c);
}

void bndr_client_mark_write(struct bndr_client *c)
{
    if (c->flags & (BNDR_CF_PENDING_WRITE | BNDR_CF_FAKE))
        return;
    c->flags |= BNDR_CF_PENDING_WRITE;
    c->pw_next = c->srv->pending_write;
    c->srv->pending_write = c;
}

static void on_close(uv_handle_t *h)
{
    struct bndr_client *c = h->data;
    bndr_free(c);
}

static void client_close(struct bndr_client *c)
{
    if (c->flags & BNDR_CF_CLOSING)
        return;
    struct bndr_server *s = c->srv;
    c->flags |= BNDR_CF_CLOSING;
    client_release(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nclients--;
    if (c->flags & BNDR_CF_HANDOFF) {
        s->ho_clients--;
        bndr_handoff_report(s); /* at once: the manager may be choosing an eviction victim */
    }
    /* drop from the pending-write list */
    for (struct bndr_client **pp = &s->pending_write; *pp; pp = &(*pp)->pw_next)
        if (*pp == c) {
            *pp = c->pw_next;
            break;
        }
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

void bndr_client_free(struct bndr_client *c)
{
    client_close(c);
}

static void write_client(struct bndr_client *c);

static void on_write(uv_write_t *req, int status)
{
    struct bndr_client *c = req->data;
    c->writing = 0;
    if (status < 0 || (c->flags & BNDR_CF_CLOSING)) {
        if (!(c->flags & BNDR_CF_CLOSING))
            client_close(c);
        return;
    }
    c->wbuf.len = 0;
    if (c->out.len)
        write_client(c);
    else if (c->flags & BNDR_CF_CLOSE_AFTER_REPLY)
        client_close(c);
}

static void write_client(struct bndr_client *c)
{
    struct bndr_server *s = c->srv;
    if (c->writing || (c->flags & BNDR_CF_CLOSING))
        return;
    if (c->out.len == 0) {
        if (c->flags & BNDR_CF_CLOSE_AFTER_REPLY)
            client_close(c);
        return;
    }
    if (s->cfg.client_output_buffer_limit_pubsub && bndr_client_subscribed(c) &&
        (long long)c->out.len > s->cfg.client_output_buffer_limit_pubsub) {
        bb_warn("bunder", "client_closed reason=output_buffer_limit id=%llu bytes=%zu",
                (unsigned long long)c->id, c->out.len);
        client_close(c);
        return;
    }
    uv_buf_t b = uv_buf_init(c->out.p, (unsigned)c->out.len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN || n == UV_ENOSYS)
        n = 0;
    if (n < 0) {
        client_close(c);
        return;
    }
    s->stat_net_out += (uint64_t)n;
    if ((size_t)n == c->out.len) {
        c->out.len = 0;
        if (c->out.cap > 1 << 20) { /* give back big buffers */
            bndr_free(c->out.p);
            c->out.p = NULL;
            c->out.cap = 0;
        }
        if (c->flags & BNDR_CF_CLOSE_AFTER_REPLY)
            client_close(c);
        return;
    }
    /* partial: swap the buffers and let libuv finish */
    struct bndr_buf tmp = c->wbuf;
    c->wbuf = c->out;
    c->out = tmp;
    c->out.len = 0;
    if (n)
        memmove(c->wbuf.p, c->wbuf.p + n, c->wbuf.len - (size_t)n);
    c->wbuf.len -= (size_t)n;
    b = uv_buf_init(c->wbuf.p, (unsigned)c->wbuf.len);
    c->writing = 1;
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
        c->writing = 0;
        client_close(c);
    }
}

static void flush_all(struct bndr_server *s)
{
    /* resume clients that were unblocked, then persist, then answer */
    for (int i = 0; i < nunblocked; i++) {
        struct bndr_client *c = unblocked[i];
        unblocked[i] = NULL;
        if (c && !(c->flags & (BNDR_CF_CLOSING | BNDR_CF_BLOCKED)))
            process_input(c);
        if (i == nunblocked - 1)
            nunblocked = 0;
    }
    nunblocked = 0;
    if (!s->pending_write && s->aof.buf.len == 0)
        return;
    bndr_aof_flush(s);
    while (s->pending_write) {
        struct bndr_client *c = s->pending_write;
        s->pending_write = c->pw_next;
        c->flags &= ~BNDR_CF_PENDING_WRITE;
        write_client(c);
    }
}

static void on_prepare(uv_prepare_t *h)
{
    flush_all(h->data);
}

static void on_check(uv_check_t *h)
{
    flush_all(h->data);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct bndr_client *c = h->data;
    (void)suggested;
    size_t want = 16384;
    size_t need = c->parser.reqtype == 1 && c->parser.bulklen >= 0 && c->qlen < c->ppos_need
                      ? c->ppos_need - c->qlen
                      : 0;
    if (need > want)
        want = need;
    if (c->qcap - c->qlen < want) {
        size_t nc = c->qcap ? c->qcap : 16384;
        while (nc - c->qlen < want)
            nc *= 2;
        c->qbuf = bndr_realloc(c->qbuf, nc);
        c->qcap = nc;
    }
    *buf = uv_buf_init(c->qbuf + c->qlen, (unsigned)(c->qcap - c->qlen > (1u << 30)
                                                          ? (1u << 30)
                                                          : c->qcap - c->qlen));
}

static void process_input(struct bndr_client *c)
{
    struct bndr_server *s = c->srv;
    struct bndr_limits lim = {s->cfg.proto_max_bulk_len, s->cfg.proto_max_multibulk_len,
                              s->cfg.proto_inline_max_size, s->cfg.client_query_buffer_limit};
    s->clock_us = bndr_ustime();
    s->clock_valid = 1;
    while (!(c->flags & (BNDR_CF_CLOSE_AFTER_REPLY | BNDR_CF_BLOCKED | BNDR_CF_CLOSING |
                         BNDR_CF_PAUSED))) {
        size_t need = 0;
        const char *err = NULL;
        size_t cmd_start = c->qpos;
        int r = bndr_parse(&c->parser, c->qbuf, c->qlen, &c->ppos, &lim, &need, &err);
        if (r == BNDR_PARSE_MORE) {
            c->ppos_need = need;
            break;
        }
        if (r == BNDR_PARSE_ERR) {
            bb_info("bunder", "protocol_error id=%llu addr=%s", (unsigned long long)c->id,
                    c->addr);
            bndr_add_error(c, err);
            c->flags |= BNDR_CF_CLOSE_AFTER_REPLY;
            bndr_parser_reset(&c->parser);
            c->qpos = c->ppos = c->qlen;
            break;
        }
        c->qpos = c->ppos;
        if (c->parser.argc == 0)
            continue;
        if (c->parser.argc > c->argvcap) {
            c->argvcap = c->parser.argc;
            bndr_free(c->argv);
            c->argv = bndr_malloc(c->argvcap * sizeof(*c->argv));
        }
        bndr_parser_args(&c->parser, c->qbuf, c->argv);
        c->argc = (int)c->parser.argc;
        c->last_ms = s->clock_us / 1000;
        if (s->pause_until && !(c->flags & BNDR_CF_FAKE)) { /* CLIENT PAUSE: hold it, re-parse later */
            const struct bndr_cmd *pc = bndr_cmd_lookup(c->argv[0].p, c->argv[0].n);
            int may_write = pc && ((pc->flags & BNDR_CMD_WRITE) || !strcmp(pc->name, "exec") ||
                                   !strcmp(pc->name, "eval") || !strcmp(pc->name, "evalsha") ||
                                   !strcmp(pc->name, "publish"));
            if (s->pause_until > bndr_mstime() && (s->pause_all || may_write)) {
                c->flags |= BNDR_CF_PAUSED;
                c->qpos = c->ppos = cmd_start;
                c->argc = 0;
                break;
            }
        }
        bndr_process_command(c);
        c->argc = 0;
    }
    s->clock_valid = 0;
    if (c->flags & BNDR_CF_CLOSING)
        return;
    /* compact: drop consumed bytes, keep a partial command (shifting its parsed offsets) */
    if (c->qpos > 0) {
        size_t d = c->qpos;
        memmove(c->qbuf, c->qbuf + d, c->qlen - d);
        c->qlen -= d;
        c->ppos -= d;
        if (c->ppos_need >= d)
            c->ppos_need -= d;
        if (c->parser.reqtype == 1)
            for (size_t i = 0; i < c->parser.argc; i++)
                c->parser.offs[i] -= d;
        c->qpos = 0;
    }
    if (c->qlen == 0 && c->qcap > (1 << 20)) {
        bndr_free(c->qbuf);
        c->qbuf = NULL;
        c->qcap = 0;
    }
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct bndr_client *c = st->data;
    (void)buf;
    if (nread < 0) {
        client_close(c);
        return;
    }
    if (nread == 0)
        return;
    c->qlen += (size_t)nread;
    c->srv->stat_net_in += (uint64_t)nread;
    if ((long long)c->qlen > c->srv->cfg.client_query_buffer_limit) {
        bb_warn("bunder", "client_closed reason=query_buffer_limit id=%llu bytes=%zu",
                (unsigned long long)c->id, c->qlen);
        client_close(c);
        return;
    }
    if (c->flags & (BNDR_CF_BLOCKED | BNDR_CF_CLOSE_AFTER_REPLY))
        return; /* keep the bytes; processed when unblocked */
    process_input(c);
}

/* Names the peer and puts c on the client list. */
static void client_link(struct bndr_server *s, struct bndr_client *c)
{
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        char ip[48] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
        snprintf(c->addr, sizeof c->addr, "%s:%d", ip, port);
    }
    c->next = s->clients;
    if (s->clients)
        s->clients->prev = c;
    s->clients = c;
    s->nclients++;
    s->stat_conns++;
}

/* Accepts the connections waiting on the listener while libuv is not running (a busy script):
 * accept4 on the listening socket, then the same set-up as on_connection. */
static void busy_accept(struct bndr_server *s)
{
    uv_os_fd_t lfd;
    if (uv_fileno((uv_handle_t *)&s->listener, &lfd) < 0)
        return;
    for (int i = 0; i < 16; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct bndr_client *c = bndr_calloc(sizeof *c);
        client_init(s, c);
        uv_tcp_init(s->loop, &c->tcp);
        c->tcp.data = c;
        if (uv_tcp_open(&c->tcp, fd) < 0) {
            close(fd);
            client_release(c);
            uv_close((uv_handle_t *)&c->tcp, on_close);
            continue;
        }
        if ((long long)s->nclients >= s->cfg.maxclients) {
            const char *m = "-ERR max number of clients reached\r\n";
            uv_buf_t b = uv_buf_init((char *)m, (unsigned)strlen(m));
            uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
            s->stat_rejected++;
            client_release(c);
            uv_close((uv_handle_t *)&c->tcp, on_close);
            continue;
        }
        client_link(s, c);
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
}

void bndr_busy_process_events(struct bndr_server *s, struct bndr_client *skip)
{
    busy_accept(s);
    /* Only clients with nothing pending before are written here: a reply queued before the
     * script may be to a write whose AOF record is in the batch written after the script. */
    struct bndr_client *answered[64];
    int nans = 0;
    /* connections bunder-manager hands over meanwhile: their AUTH/HELLO answer goes out now */
    struct bndr_client *old_head = s->clients;
    bndr_handoff_poll_now(s);
    for (struct bndr_client *c = s->clients; c && c != old_head && nans < 64; c = c->next)
        if (!(c->flags & BNDR_CF_CLOSING))
            answered[nans++] = c;
    for (struct bndr_client *c = s->clients; c && nans < 64; c = c->next) {
        if (c == skip || (c->flags & (BNDR_CF_CLOSING | BNDR_CF_FAKE | BNDR_CF_BLOCKED |
                                      BNDR_CF_PENDING_WRITE)) || c->writing)
            continue;
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) < 0)
            continue;
        uv_buf_t b;
        on_alloc((uv_handle_t *)&c->tcp, 0, &b);
        ssize_t n = recv(fd, b.base, b.len, MSG_DONTWAIT);
        if (n <= 0)
            continue; /* EOF and errors are seen by libuv after the script */
        on_read((uv_stream_t *)&c->tcp, n, &b);
        if (!(c->flags & BNDR_CF_CLOSING))
            answered[nans++] = c;
    }
    for (int i = 0; i < nans; i++) {
        struct bndr_client *c = answered[i];
        for (struct bndr_client **pp = &s->pending_write; *pp; pp = &(*pp)->pw_next)
            if (*pp == c) {
                *pp = c->pw_next;
                break;
            }
        c->flags &= ~BNDR_CF_PENDING_WRITE;
        write_client(c);
    }
}

static void on_connection(uv_stream_t *ls, int status)
{
    struct bndr_server *s = ls->data;
    if (status < 0)
        return;
    struct bndr_client *c = bndr_calloc(sizeof *c);
    client_init(s, c);
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    if ((long long)s->nclients >= s->cfg.maxclients) {
        const char *m = "-ERR max number of clients reached\r\n";
        uv_buf_t b = uv_buf_init((char *)m, (unsigned)strlen(m));
        uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        s->stat_rejected++;
        client_release(c);
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    client_link(s, c);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int bndr_client_adopt(struct bndr_server *s, int fd, unsigned flags, int resp, const char *name,
                      size_t name_len, const char *pending, size_t pending_len)
{
    struct bndr_client *c = bndr_calloc(sizeof *c);
    client_init(s, c);
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    int r = uv_tcp_open(&c->tcp, fd);
    if (r < 0) {
        close(fd); /* not owned by the handle yet */
        client_release(c);
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return BB_EINVAL;
    }
    if ((long long)s->nclients >= s->cfg.maxclients) {
        const char *m = "-ERR max number of clients reached\r\n";
        uv_buf_t b = uv_buf_init((char *)m, (unsigned)strlen(m));
        uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        s->stat_rejected++;
        client_release(c);
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return BB_EBUSY;
    }
    /* the manager checked the project key: the connection is authenticated, as a tenant
     * (bunder_tenant.h) */
    c->flags |= BNDR_CF_AUTHED | BNDR_CF_HANDOFF | BNDR_CF_TENANT;
    c->resp = resp == 3 ? 3 : 2;
    if (name_len)
        c->name = bndr_memdup(name, name_len);
    client_link(s, c);
    s->ho_clients++;
    /* the answer to the client's AUTH / HELLO comes first, then the pipelined commands */
    if (flags & BNDR_HO_HELLO)
        bndr_hello_reply(c);
    else if (flags & BNDR_HO_REPLY_OK)
        bndr_add_ok(c);
    if (pending_len) {
        c->qcap = pending_len > 16384 ? pending_len : 16384;
        c->qbuf = bndr_malloc(c->qcap);
        memcpy(c->qbuf, pending, pending_len);
        c->qlen = pending_len;
        s->stat_net_in += pending_len;
        process_input(c);
    }
    if (!(c->flags & BNDR_CF_CLOSING))
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    return 0;
}

void bndr_client_list(struct bndr_server *s, struct bndr_buf *out, struct bndr_client *only)
{
    uint64_t now = bndr_mstime();
    for (struct bndr_client *c = only ? only : s->clients; c; c = only ? NULL : c->next) {
        char line[1024];
        char flags[8] = "N";
        int fi = 0;
        if (c->flags & BNDR_CF_MULTI)
            flags[fi++] = 'x';
        if (c->flags & BNDR_CF_BLOCKED)
            flags[fi++] = 'b';
        if (bndr_client_subscribed(c))
            flags[fi++] = 'P';
        if (fi)
            flags[fi] = 0;
        /* Redis 7.0's fields, in its order */
        size_t argv_mem = 0;
        for (int i = 0; i < c->argc; i++)
            argv_mem += c->argv[i].n;
        const char *user = bndr_acl_user_name(c);
        int n = snprintf(line, sizeof line,
                         "id=%llu addr=%s laddr=%s:%d fd=-1 name=%s age=%llu idle=%llu flags=%s "
                         "db=%d sub=%llu psub=%llu ssub=0 multi=%d qbuf=%zu qbuf-free=%zu "
                         "argv-mem=%zu multi-mem=0 rbs=%zu rbp=0 obl=%zu oll=0 omem=%zu "
                         "tot-mem=%zu events=%s cmd=%s user=%s redir=%lld resp=%d\n",
                         (unsigned long long)c->id, c->addr, s->cfg.bind, s->actual_port,
                         c->name ? c->name : "", (unsigned long long)((now - c->ctime_ms) / 1000),
                         (unsigned long long)((now - c->last_ms) / 1000), flags, c->db,
                         (unsigned long long)c->chans.n, (unsigned long long)c->pats.n,
                         (c->flags & BNDR_CF_MULTI) ? c->mqn : -1, c->qlen,
                         c->qcap > c->qlen ? c->qcap - c->qlen : 0, argv_mem, c->qcap, c->out.len,
                         c->wbuf.len, c->qcap + c->out.cap + c->wbuf.cap + sizeof *c,
                         c->out.len || c->wbuf.len ? "rw" : "r",
                         c->lastcmd ? c->lastcmd->name : "NULL", user,
                         (c->trk & BNDR_TRK_ON) ? (long long)c->trk_redirect : -1LL, c->resp);
        if (n < 0)
            continue;
        if ((size_t)n >= sizeof line) { /* a very long name: cut, keep the line's end */
            n = (int)sizeof line - 1;
            line[n - 1] = '\n';
        }
        bndr_buf_add(out, line, (size_t)n);
    }
}

void bndr_cron_close_idle(struct bndr_server *s)
{
    if (!s->cfg.timeout)
        return;
    uint64_t now = bndr_mstime();
    struct bndr_client *c = s->clients;
    while (c) {
        struct bndr_client *nx = c->next;
        if (!(c->flags & BNDR_CF_BLOCKED) && !bndr_client_subscribed(c) &&
            now - c->last_ms > (uint64_t)s->cfg.timeout * 1000)
            client_close(c);
        c = nx;
    }
}

/* ---------------------------------------------------------------- cron and lifecycle */
static void reap_children(struct bndr_server *s)
{
    int st;
    if (s->aof.rewrite_pid > 0 && waitpid(s->aof.rewrite_pid, &st, WNOHANG) == s->aof.rewrite_pid)
        bndr_aof_child_done(s, s->aof.rewrite_pid, WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (s->aof.save_pid > 0 && waitpid(s->aof.save_pid, &st, WNOHANG) == s->aof.save_pid)
        bndr_snapshot_child_done(s, s->aof.save_pid, WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void on_cron(uv_timer_t *t)
{
    struct bndr_server *s = t->data;
    s->lruclock = (uint32_t)(bndr_mstime() / 1000);
    if (bndr_active_expire_enabled())
        bndr_active_expire(s, 25000 / (uint64_t)(s->cfg.hz > 0 ? s->cfg.hz : 10) * 10 / 10);
    check_blocked_timeouts(s);
    reap_children(s);
    bndr_aof_cron(s);
    bndr_cron_close_idle(s);
    bndr_handoff_report(s);
    for (int i = 0; i < s->ndb; i++)
        bndr_dict_maybe_shrink(&bndr_db_get(s, i)->keys);
    if (s->cfg.maxmemory)
        bndr_evict(s);
    flush_all(s);
}

static void shutdown_server(struct bndr_server *s, const char *why)
{
    if (s->shutting_down)
        return;
    s->shutting_down = 1;
    bb_info("bunder", "shutdown reason=%s", why);
    flush_all(s);
    bndr_aof_close(s);
    uv_stop(s->loop);
}

static void on_signal(uv_signal_t *h, int signum)
{
    shutdown_server(h->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

void bndr_shutdown(struct bndr_server *s)
{
    shutdown_server(s, "SHUTDOWN");
}

int bndr_path(const struct bndr_server *s, const char *file, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/%s", s->cfg.dir, file);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

struct bndr_server *bndr_server_new(const struct bunder_config *cfg)
{
    struct bndr_server *s = bndr_calloc(sizeof *s);
    bndr_srv = s;
    s->cfg = *cfg;
    s->start_ms = bndr_mstime();
    s->lruclock = (uint32_t)(s->start_ms / 1000);
    s->lastsave = s->start_ms / 1000;
    s->last_bgsave_ok = 1;
    s->aof.fd = -1;
    s->aof.last_bgrewrite_ok = 1;
    s->ndb = cfg->databases > 0 ? cfg->databases : 16;
    s->dbs = bndr_calloc((size_t)s->ndb * sizeof(*s->dbs));
    for (int i = 0; i < s->ndb; i++)
        bndr_db_init(&s->dbs[i]);
    bndr_db_init(&s->db);
    s->aof_seldb = -1;
    bndr_dict_init(&s->pubsub_ch);
    bndr_dict_init(&s->pubsub_pat);
    bndr_dict_init(&s->pubsub_sch);
    bndr_dict_init(&s->watched);
    bndr_dict_init(&s->blocking);
    return s;
}

void bndr_server_free(struct bndr_server *s)
{
    bndr_aof_close(s);
    bndr_db_switch(s, 0);
    bndr_db_release(&s->db);
    for (int i = 1; i < s->ndb; i++)
        bndr_db_release(&s->dbs[i]);
    bndr_free(s->dbs);
    bndr_dict_release(&s->pubsub_ch, NULL);
    bndr_dict_release(&s->pubsub_pat, NULL);
    bndr_dict_release(&s->pubsub_sch, NULL);
    bndr_dict_release(&s->watched, NULL);
    bndr_dict_release(&s->blocking, NULL);
    while (s->nready)
        bndr_str_free(s->ready[--s->nready]);
    bndr_free(s->ready);
    bndr_free(s->monitors);
    bndr_free(unblocked);
    unblocked = NULL;
    nunblocked = unblockedcap = 0;
    bndr_free(s->aof.buf.p);
    bndr_free(s->aof.rewrite.p);
    if (bndr_srv == s)
        bndr_srv = NULL;
    bndr_free(s);
}

int bunder_run(const struct bunder_config *cfg)
{
    struct bndr_server *s = bndr_server_new(cfg);
    int rc = 1;
    s->loop = uv_default_loop();
    signal(SIGPIPE, SIG_IGN);

    struct stat st;
    if (stat(s->cfg.dir, &st) < 0 && mkdir(s->cfg.dir, 0700) < 0) {
        bb_error("bunder", "startup_failed reason=\"cannot create dir\" dir=%s errno=%d",
                 s->cfg.dir, errno);
        goto out;
    }
    /* restore: the AOF when appendonly is on, else the snapshot */
    char path[2048];
    uint64_t t0 = bndr_mstime();
    if (s->cfg.appendonly) {
        bndr_path(s, s->cfg.appendfilename, path, sizeof path);
        if (stat(path, &st) == 0) {
            if (bndr_aof_load(s, path) < 0 || bndr_aof_open(s) < 0)
                goto out;
        } else {
            /* no AOF yet: start from the snapshot (bunder's or redis-server's RDB) and write it
             * into the new AOF first, so the AOF alone holds the dataset from now on */
            bndr_path(s, s->cfg.dbfilename, path, sizeof path);
            if (stat(path, &st) == 0 && bndr_snapshot_load(s, path) < 0)
                goto out;
            if (bndr_aof_set_enabled(s, 1) < 0) {
                bb_error("bunder", "startup_failed reason=\"cannot write the AOF\" errno=%d", errno);
                goto out;
            }
        }
    } else {
        bndr_path(s, s->cfg.dbfilename, path, sizeof path);
        if (stat(path, &st) == 0 && bndr_snapshot_load(s, path) < 0)
            goto out;
    }
    uint64_t nkeys, x1, x2, x3, x4;
    bndr_db_totals(s, &nkeys, &x1, &x2, &x3, &x4);
    bb_info("bunder", "loaded keys=%llu ms=%llu", (unsigned long long)nkeys,
            (unsigned long long)(bndr_mstime() - t0));

    uv_tcp_init(s->loop, &s->listener);
    s->listener.data = s;
    struct sockaddr_storage addr;
    if (uv_ip4_addr(s->cfg.bind, s->cfg.port, (struct sockaddr_in *)&addr) < 0 &&
        uv_ip6_addr(s->cfg.bind, s->cfg.port, (struct sockaddr_in6 *)&addr) < 0) {
        bb_error("bunder", "startup_failed reason=\"bad bind address\" bind=%s", s->cfg.bind);
        goto out;
    }
    int r = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
    if (r < 0) {
        bb_error("bunder", "startup_failed reason=\"listen failed\" bind=%s port=%d err=%s",
                 s->cfg.bind, s->cfg.port, uv_strerror(r));
        rc = 2;
        goto out;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen);
    s->actual_port = ntohs(((struct sockaddr_in *)&bound)->sin_port);

    if (s->cfg.http_port) {
        char err[256];
        if (bndr_http_start(s, err, sizeof err) < 0) {
            bb_error("bunder", "startup_failed reason=\"http listen failed\" err=\"%s\"", err);
            rc = 2;
            goto out;
        }
    }

    if (s->cfg.handoff_fd >= 0) {
        char err[256];
        if (bndr_handoff_start(s, err, sizeof err) < 0) {
            bb_error("bunder", "startup_failed reason=\"handoff\" err=\"%s\"", err);
            goto out;
        }
    }

    if (s->cfg.buncast[0]) {
        char err[256];
        if (bndr_bcast_start(s, err, sizeof err) < 0) {
            bb_error("bunder", "startup_failed reason=\"buncast\" err=\"%s\"", err);
            goto out;
        }
    }

    uv_prepare_init(s->loop, &s->prepare);
    s->prepare.data = s;
    uv_prepare_start(&s->prepare, on_prepare);
    uv_check_init(s->loop, &s->check);
    s->check.data = s;
    uv_check_start(&s->check, on_check);
    uv_timer_init(s->loop, &s->cron);
    s->cron.data = s;
    uint64_t period = (uint64_t)(1000 / (s->cfg.hz > 0 ? s->cfg.hz : 10));
    uv_timer_start(&s->cron, on_cron, period, period);
    uv_signal_init(s->loop, &s->sigterm);
    s->sigterm.data = s;
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_init(s->loop, &s->sigint);
    s->sigint.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);

    bb_info("bunder", "ready port=%d bind=%s dir=%s appendonly=%s appendfsync=%s", s->actual_port,
            s->cfg.bind, s->cfg.dir, s->cfg.appendonly ? "yes" : "no",
            s->cfg.appendfsync == BNDR_FSYNC_ALWAYS     ? "always"
            : s->cfg.appendfsync == BNDR_FSYNC_EVERYSEC ? "everysec"
                                                        : "no");
    uv_run(s->loop, UV_RUN_DEFAULT);
    rc = 0;
out:
    bndr_http_stop(s);
    bndr_bcast_stop(s);
    bndr_handoff_stop(s);
    /* close every handle, let the close callbacks run, then free */
    while (s->clients)
        client_close(s->clients);
    uv_walk(s->loop, close_walk, NULL);
    uv_run(s->loop, UV_RUN_DEFAULT);
    uv_loop_close(s->loop);
    if (s->aof.rewrite_pid > 0)
        kill(s->aof.rewrite_pid, SIGKILL);
    if (s->aof.save_pid > 0)
        kill(s->aof.save_pid, SIGKILL);
    bndr_server_free(s);
    return rc;
}
