/* cmd_server.c — connection, server, pub/sub and transaction commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bb_crypto.h"
#include "bndr.h"
#include "bunder_tenant.h"
#include "cmds.h"

#define BNDR_REDIS_VERSION "7.0.15"

/* ---------------------------------------------------------------- pub/sub */
static void add_help_lines(struct bndr_client *c, const char *const *lines)
{
    long n = 0;
    while (lines[n])
        n++;
    bndr_add_array(c, n);
    for (long i = 0; i < n; i++)
        bndr_add_status(c, lines[i]);
}

static void sub_reply(struct bndr_client *c, const char *kind, const char *k, size_t n, int has)
{
    bndr_add_push(c, 3);
    bndr_add_bulk_cstr(c, kind);
    if (has)
        bndr_add_bulk(c, k, n);
    else
        bndr_add_null(c);
    bndr_add_ll(c, (long long)(c->chans.n + c->pats.n));
}

static void subscribe_generic(struct bndr_client *c, int pattern)
{
    if ((c->flags & BNDR_CF_MULTI) || (c->flags & BNDR_CF_IN_EXEC)) {
        bndr_add_errorf(c, "ERR Command not allowed inside a transaction");
        return;
    }
    for (int i = 1; i < c->argc; i++) {
        bndr_pubsub_sub(c, c->argv[i].p, c->argv[i].n, pattern);
        sub_reply(c, pattern ? "psubscribe" : "subscribe", c->argv[i].p, c->argv[i].n, 1);
    }
}

static void unsubscribe_generic(struct bndr_client *c, int pattern)
{
    const char *kind = pattern ? "punsubscribe" : "unsubscribe";
    struct bndr_dict *mine = pattern ? &c->pats : &c->chans;
    if (c->argc == 1) {
        if (mine->n == 0) {
            sub_reply(c, kind, NULL, 0, 0);
            return;
        }
        while (mine->n) {
            struct bndr_de *e = bndr_dict_random(mine);
            struct bndr_str *k = bndr_str_new(e->key, e->klen);
            bndr_pubsub_unsub(c, k->buf, k->len, pattern);
            sub_reply(c, kind, k->buf, k->len, 1);
            bndr_str_free(k);
        }
        return;
    }
    for (int i = 1; i < c->argc; i++) {
        bndr_pubsub_unsub(c, c->argv[i].p, c->argv[i].n, pattern);
        sub_reply(c, kind, c->argv[i].p, c->argv[i].n, 1);
    }
}

void bndr_cmd_subscribe(struct bndr_client *c) { subscribe_generic(c, 0); }
void bndr_cmd_psubscribe(struct bndr_client *c) { subscribe_generic(c, 1); }
void bndr_cmd_unsubscribe(struct bndr_client *c) { unsubscribe_generic(c, 0); }
void bndr_cmd_punsubscribe(struct bndr_client *c) { unsubscribe_generic(c, 1); }

void bndr_cmd_publish(struct bndr_client *c)
{
    bndr_add_ll(c, bndr_pubsub_publish(c->srv, c->argv[1].p, c->argv[1].n, c->argv[2].p,
                                       c->argv[2].n));
}

void bndr_cmd_pubsub(struct bndr_client *c)
{
    struct bndr_server *s = c->srv;
    if (bndr_argeq(&c->argv[1], "channels") && c->argc <= 3) {
        size_t h = bndr_add_deferred_len(c);
        long n = 0;
        BNDR_DICT_FOREACH(&s->pubsub_ch, e)
        {
            if (c->argc == 3 && !bndr_glob(c->argv[2].p, c->argv[2].n, e->key, e->klen, 0))
                continue;
            bndr_add_bulk(c, e->key, e->klen);
            n++;
        }
        bndr_set_deferred_len(c, h, n, '*');
    } else if (bndr_argeq(&c->argv[1], "numsub")) {
        bndr_add_map(c, c->argc - 2);
        for (int i = 2; i < c->argc; i++) {
            struct bndr_de *e = bndr_dict_find(&s->pubsub_ch, c->argv[i].p, c->argv[i].n);
            bndr_add_bulk(c, c->argv[i].p, c->argv[i].n);
            bndr_add_ll(c, e ? ((struct bndr_pubsub_sub *)e->v.p)->n : 0);
        }
    } else if (bndr_argeq(&c->argv[1], "shardchannels") && c->argc <= 3) { /* cmd_shard.c */
        bndr_shard_channels(c, c->argc == 3 ? &c->argv[2] : NULL);
    } else if (bndr_argeq(&c->argv[1], "shardnumsub")) {
        bndr_shard_numsub(c);
    } else if (bndr_argeq(&c->argv[1], "numpat") && c->argc == 2) {
        bndr_add_ll(c, (long long)s->pubsub_pat.n);
    } else if (bndr_argeq(&c->argv[1], "help") && c->argc == 2) {
        static const char *const h[] = {
            "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
            "HELP",
            "    Prints this help.",
            NULL};
        add_help_lines(c, h);
    } else {
        bndr_sub_error(c, "PUBSUB", "channels numpat numsub help");
    }
}

/* ---------------------------------------------------------------- transactions */
void bndr_cmd_multi(struct bndr_client *c)
{
    if (c->flags & BNDR_CF_MULTI) {
        bndr_add_error(c, "ERR MULTI calls can not be nested");
        return;
    }
    c->flags |= BNDR_CF_MULTI;
    bndr_add_ok(c);
}

void bndr_cmd_discard(struct bndr_client *c)
{
    if (!(c->flags & BNDR_CF_MULTI)) {
        bndr_add_error(c, "ERR DISCARD without MULTI");
        return;
    }
    bndr_multi_discard(c);
    bndr_add_ok(c);
}

void bndr_cmd_exec(struct bndr_client *c)
{
    struct bndr_server *s = c->srv;
    if (!(c->flags & BNDR_CF_MULTI)) {
        bndr_add_error(c, "ERR EXEC without MULTI");
        return;
    }
    if (c->flags & BNDR_CF_DIRTY_EXEC) {
        bndr_add_error(c, "EXECABORT Transaction discarded because of previous errors.");
        bndr_multi_discard(c);
        return;
    }
    if (c->flags & BNDR_CF_DIRTY_CAS) {
        bndr_add_null_array(c);
        bndr_multi_discard(c);
        return;
    }
    /* WATCHed keys are released before running, as Redis does */
    bndr_watch_unwatch_all(c);
    struct bndr_arg *saved = c->argv;
    int savedc = c->argc;
    bndr_add_array(c, c->mqn);
    c->flags |= BNDR_CF_IN_EXEC;
    s->in_exec = 1;
    for (int i = 0; i < c->mqn; i++) {
        c->argv = c->mq[i].argv;
        c->argc = c->mq[i].argc;
        bndr_call(c, c->mq[i].cmd);
    }
    c->argv = saved;
    c->argc = savedc;
    c->flags &= ~BNDR_CF_IN_EXEC;
    s->in_exec = 0;
    if (s->aof.in_multi) {
        struct bndr_arg e = {(char *)"EXEC", 4};
        bndr_aof_feed(s, 1, &e);
        s->aof.in_multi = 0;
    }
    bndr_multi_discard(c);
}

void bndr_cmd_watch(struct bndr_client *c)
{
    if (c->flags & BNDR_CF_MULTI) {
        bndr_add_error(c, "ERR WATCH inside MULTI is not allowed");
        return;
    }
    for (int i = 1; i < c->argc; i++)
        bndr_watch_key(c, c->argv[i].p, c->argv[i].n);
    bndr_add_ok(c);
}

void bndr_cmd_unwatch(struct bndr_client *c)
{
    bndr_watch_unwatch_all(c);
    bndr_add_ok(c);
}

/* ---------------------------------------------------------------- connection */
void bndr_cmd_ping(struct bndr_client *c)
{
    if (c->argc > 2) {
        bndr_add_error(c, "ERR wrong number of arguments for 'ping' command");
        return;
    }
    if (c->resp == 2 && bndr_client_subscribed(c)) {
        bndr_add_array(c, 2);
        bndr_add_bulk(c, "pong", 4);
        if (c->argc == 2)
            bndr_add_bulk(c, c->argv[1].p, c->argv[1].n);
        else
            bndr_add_bulk(c, "", 0);
        return;
    }
    if (c->argc == 2)
        bndr_add_bulk(c, c->argv[1].p, c->argv[1].n);
    else
        bndr_add_raw(c, "+PONG\r\n", 7);
}

void bndr_cmd_echo(struct bndr_client *c)
{
    bndr_add_bulk(c, c->argv[1].p, c->argv[1].n);
}

/* 1 if user/pass log in: user "default" (or none) or BUNDER_TENANT_USER, with requirepass. The
 * tenant user makes the connection a tenant for good (bunder_tenant.h). */
static int check_password(struct bndr_client *c, struct bndr_arg *user, struct bndr_arg *pass)
{
    const char *want = c->srv->cfg.requirepass;
    size_t wn = strlen(want);
    int tenant = user && bndr_argeq(user, BUNDER_TENANT_USER);
    if (user && !tenant && !bndr_argeq(user, "default"))
        return bndr_acl_auth(c, user, pass); /* acl.c */
    c->acl_user = NULL;
    /* constant time over the configured length */
    int ok = pass->n == wn;
    unsigned char diff = 0;
    for (size_t i = 0; i < wn; i++)
        diff |= (unsigned char)(want[i] ^ (i < pass->n ? pass->p[i] : 0));
    if (!ok || diff != 0)
        return 0;
    if (tenant)
        c->flags |= BNDR_CF_TENANT;
    return 1;
}

void bndr_cmd_auth(struct bndr_client *c)
{
    if (c->argc > 3) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    if (c->argc == 3 && !bndr_argeq(&c->argv[1], "default") &&
        !bndr_argeq(&c->argv[1], BUNDER_TENANT_USER)) { /* an ACL user (acl.c) */
        if (bndr_acl_auth(c, &c->argv[1], &c->argv[2])) {
            c->flags |= BNDR_CF_AUTHED;
            bndr_add_ok(c);
        } else {
            bndr_add_error(c, "WRONGPASS invalid username-password pair or user is disabled.");
        }
        return;
    }
    if (!c->srv->cfg.requirepass[0]) {
        if (c->argc == 2) {
            bndr_add_error(c, "ERR AUTH <password> called without any password configured for "
                              "the default user. Are you sure your configuration is correct?");
            return;
        }
        /* AUTH default <anything> is accepted when the default user has no password */
        if (bndr_argeq(&c->argv[1], "default")) {
            bndr_add_ok(c);
            return;
        }
        bndr_add_error(c, "WRONGPASS invalid username-password pair or user is disabled.");
        return;
    }
    struct bndr_arg *user = c->argc == 3 ? &c->argv[1] : NULL;
    struct bndr_arg *pass = &c->argv[c->argc - 1];
    if (check_password(c, user, pass)) {
        c->flags |= BNDR_CF_AUTHED;
        bndr_add_ok(c);
    } else {
        c->flags &= ~BNDR_CF_AUTHED;
        bndr_add_error(c, "WRONGPASS invalid username-password pair or user is disabled.");
    }
}

void bndr_cmd_hello(struct bndr_client *c)
{
    long long ver = c->resp;
    int i = 1;
    if (c->argc >= 2) {
        if (bndr_parse_ll(c->argv[1].p, c->argv[1].n, &ver) < 0) {
            bndr_add_error(c, "ERR Protocol version is not an integer or out of range");
            return;
        }
        i = 2;
        if (ver < 2 || ver > 3) {
            bndr_add_error(c, "NOPROTO unsupported protocol version");
            return;
        }
    }
    struct bndr_arg *user = NULL, *pass = NULL, *name = NULL;
    for (; i < c->argc; i++) {
        if (bndr_argeq(&c->argv[i], "auth") && i + 2 < c->argc) {
            user = &c->argv[i + 1];
            pass = &c->argv[i + 2];
            i += 2;
        } else if (bndr_argeq(&c->argv[i], "setname") && i + 1 < c->argc) {
            name = &c->argv[i + 1];
            i++;
        } else {
            bndr_add_errorf(c, "ERR Syntax error in HELLO option '%.*s'", (int)c->argv[i].n,
                            c->argv[i].p);
            return;
        }
    }
    if (pass) {
        if (c->srv->cfg.requirepass[0] ? !check_password(c, user, pass)
                                       : !bndr_argeq(user, "default")) {
            bndr_add_error(c, "WRONGPASS invalid username-password pair or user is disabled.");
            return;
        }
        c->flags |= BNDR_CF_AUTHED;
    }
    if (!(c->flags & BNDR_CF_AUTHED)) {
        bndr_add_error(c, "NOAUTH HELLO must be called with the client already authenticated, "
                          "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                          "authenticate the client and select the RESP protocol version at the "
                          "same time");
        return;
    }
    if (name) {
        bndr_free(c->name);
        c->name = bndr_memdup(name->p, name->n);
    }
    c->resp = (int)ver;
    bndr_hello_reply(c);
}

void bndr_hello_reply(struct bndr_client *c)
{
    bndr_add_map(c, 7);
    bndr_add_bulk_cstr(c, "server");
    bndr_add_bulk_cstr(c, "redis");
    bndr_add_bulk_cstr(c, "version");
    bndr_add_bulk_cstr(c, BNDR_REDIS_VERSION);
    bndr_add_bulk_cstr(c, "proto");
    bndr_add_ll(c, c->resp);
    bndr_add_bulk_cstr(c, "id");
    bndr_add_ll(c, (long long)c->id);
    bndr_add_bulk_cstr(c, "mode");
    bndr_add_bulk_cstr(c, "standalone");
    bndr_add_bulk_cstr(c, "role");
    bndr_add_bulk_cstr(c, "master");
    bndr_add_bulk_cstr(c, "modules");
    bndr_add_array(c, 0);
}

/* getIntFromObjectOrReply: a long long that fits an int, else msg (or the not-an-integer one) */
static int get_int(struct bndr_client *c, const struct bndr_arg *a, long long *out, const char *msg)
{
    if (bndr_get_ll_or_reply(c, a, out, msg) < 0)
        return -1;
    if (*out < -2147483648LL || *out > 2147483647LL) {
        bndr_add_error(c, msg ? msg
                              : "ERR value is out of range, value must between -2147483648 and "
                                "2147483647");
        return -1;
    }
    return 0;
}

void bndr_cmd_select(struct bndr_client *c)
{
    long long id;
    if (get_int(c, &c->argv[1], &id, NULL) < 0)
        return;
    if (id < 0 || id >= c->srv->ndb) {
        bndr_add_error(c, "ERR DB index is out of range");
        return;
    }
    c->db = (int)id;
    bndr_add_ok(c);
}

/* MOVE key db — Redis 7.0's moveCommand, reply for reply. */
void bndr_cmd_move(struct bndr_client *c)
{
    struct bndr_server *s = c->srv;
    long long dst;
    if (get_int(c, &c->argv[2], &dst, NULL) < 0)
        return;
    if (dst < 0 || dst >= s->ndb || dst > 0x7fffffff) {
        bndr_add_error(c, "ERR DB index is out of range");
        return;
    }
    if (dst == s->curdb) {
        bndr_add_error(c, "ERR source and destination objects are the same");
        return;
    }
    struct bndr_arg *k = &c->argv[1];
    if (!bndr_lookup_write(c, k)) {
        bndr_add_ll(c, 0);
        return;
    }
    int src = bndr_db_switch(s, (int)dst); /* an expired key in the target does not count */
    bndr_expire_if_needed(&s->db, k->p, k->n);
    int exists = bndr_db_find(&s->db, k->p, k->n) != NULL;
    bndr_db_switch(s, src);
    if (exists) {
        bndr_add_ll(c, 0);
        return;
    }
    int64_t exp;
    struct bndr_obj *o = bndr_db_take(&s->db, k->p, k->n, &exp);
    struct bndr_db *ddb = bndr_db_get(s, (int)dst);
    struct bndr_de *e = bndr_db_add(ddb, k->p, k->n, o);
    if (exp)
        bndr_db_set_expire(ddb, e, exp);
    bndr_db_switch(s, (int)dst); /* WATCH and blocked clients of the target database */
    bndr_signal_key(s, k->p, k->n);
    bndr_notify(s, "move_to", k->p, k->n);
    bndr_db_switch(s, src);
    s->dirty++;
    bndr_add_ll(c, 1);
}

/* After SWAPDB a/b: WATCHers of a key that exists in either database are dirty (Redis'
 * touchAllWatchedKeysInDb) and clients blocked on a key that is now there are served. */
static void swapdb_touch(struct bndr_server *s, int a, int b)
{
    struct bndr_db *da = bndr_db_get(s, a), *db = bndr_db_get(s, b);
    for (struct bndr_client *c = s->clients; c; c = c->next) {
        for (int i = 0; i < c->nwatched; i++) {
            int32_t id;
            memcpy(&id, c->watched[i]->buf, 4);
            const char *k = c->watched[i]->buf + 4;
            size_t n = c->watched[i]->len - 4;
            if ((id == a || id == b) && (bndr_db_find(da, k, n) || bndr_db_find(db, k, n)))
                c->flags |= BNDR_CF_DIRTY_CAS;
        }
        if ((c->flags & BNDR_CF_BLOCKED) && (c->db == a || c->db == b)) {
            int prev = bndr_db_switch(s, c->db);
            for (int i = 0; i < c->nbkeys; i++)
                if (bndr_db_find(&s->db, c->bkeys[i]->buf, c->bkeys[i]->len))
                    bndr_signal_list_ready(s, c->bkeys[i]->buf, c->bkeys[i]->len);
            bndr_db_switch(s, prev);
        }
    }
}

void bndr_cmd_swapdb(struct bndr_client *c)
{
    struct bndr_server *s = c->srv;
    long long a, b;
    if (get_int(c, &c->argv[1], &a, "ERR invalid first DB index") < 0 ||
        get_int(c, &c->argv[2], &b, "ERR invalid second DB index") < 0)
        return;
    if (a < 0 || a >= s->ndb || b < 0 || b >= s->ndb) {
        bndr_add_error(c, "ERR DB index is out of range");
        return;
    }
    if (a != b) {
        struct bndr_db *pa = bndr_db_get(s, (int)a), *pb = bndr_db_get(s, (int)b);
        struct bndr_db t = *pa;
        *pa = *pb;
        *pb = t;
        swapdb_touch(s, (int)a, (int)b);
    }
    s->dirty++;
    bndr_add_ok(c);
}

void bndr_cmd_quit(struct bndr_client *c)
{
    bndr_add_ok(c);
    c->flags |= BNDR_CF_CLOSE_AFTER_REPLY;
}

void bndr_cmd_reset(struct bndr_client *c)
{
    bndr_multi_discard(c);
    bndr_pubsub_unsub_all(c, 0);
    c->resp = 2;
    c->db = 0;
    bndr_tracking_client_gone(c); /* RESET turns tracking off */
    bndr_free(c->name);
    c->name = NULL;
    if (c->srv->cfg.requirepass[0] && !(c->flags & BNDR_CF_FAKE))
        c->flags &= ~BNDR_CF_AUTHED;
    bndr_add_status(c, "RESET");
}

static const char *const client_help[] = {
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
    NULL};

static int client_is_pubsub(const struct bndr_client *x)
{
    return bndr_client_subscribed(x);
}

/* CLIENT KILL: the old form (addr, +OK or "No such client") and the filter form (count). */
static void client_kill(struct bndr_client *c)
{
    struct bndr_server *s = c->srv;
    int old = c->argc == 3;
    const struct bndr_arg *addr = NULL, *laddr = NULL, *user = NULL;
    long long id = -1;
    int type = -1, skipme = 1; /* type: 0 normal, 1 pubsub, 2 master/replica (none here) */
    if (old) {
        addr = &c->argv[2];
        skipme = 0;
    } else {
        if (c->argc % 2 != 0) {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return;
        }
        for (int i = 2; i + 1 < c->argc; i += 2) {
            const struct bndr_arg *o = &c->argv[i], *v = &c->argv[i + 1];
            if (bndr_argeq(o, "id")) {
                if (bndr_parse_ll(v->p, v->n, &id) < 0 || id <= 0) {
                    bndr_add_error(c, "ERR client-id should be greater than 0");
                    return;
                }
            } else if (bndr_argeq(o, "type")) {
                if (bndr_argeq(v, "normal")) type = 0;
                else if (bndr_argeq(v, "pubsub")) type = 1;
                else if (bndr_argeq(v, "master") || bndr_argeq(v, "replica") || bndr_argeq(v, "slave")) type = 2;
                else {
                    bndr_add_errorf(c, "ERR Unknown client type '%.*s'", (int)(v->n > 64 ? 64 : v->n), v->p);
                    return;
                }
            } else if (bndr_argeq(o, "addr")) {
                addr = v;
            } else if (bndr_argeq(o, "laddr")) {
                laddr = v;
            } else if (bndr_argeq(o, "user")) {
                user = v;
            } else if (bndr_argeq(o, "skipme")) {
                if (bndr_argeq(v, "yes")) skipme = 1;
                else if (bndr_argeq(v, "no")) skipme = 0;
                else {
                    bndr_add_error(c, BNDR_ERR_SYNTAX);
                    return;
                }
            } else {
                bndr_add_error(c, BNDR_ERR_SYNTAX);
                return;
            }
        }
    }
    long killed = 0;
    char la[96];
    snprintf(la, sizeof la, "%s:%d", s->cfg.bind, s->actual_port);
    for (struct bndr_client *x = s->clients; x; x = x->next) {
        if (x->flags & (BNDR_CF_CLOSING | BNDR_CF_FAKE))
            continue;
        if (addr && !(strlen(x->addr) == addr->n && !memcmp(x->addr, addr->p, addr->n)))
            continue;
        if (laddr && !(strlen(la) == laddr->n && !memcmp(la, laddr->p, laddr->n)))
            continue;
        if (id > 0 && x->id != (uint64_t)id)
            continue;
        if (type == 2 || (type == 0 && client_is_pubsub(x)) || (type == 1 && !client_is_pubsub(x)))
            continue;
        if (user && !bndr_argeq(user, "default"))
            continue;
        if (skipme && x == c)
            continue;
        x->flags |= BNDR_CF_CLOSE_AFTER_REPLY; /* closed once its pending output is written */
        bndr_client_mark_write(x);
        killed++;
    }
    if (old) {
        if (killed)
            bndr_add_ok(c);
        else
            bndr_add_error(c, "ERR No such client");
        return;
    }
    bndr_add_ll(c, killed);
}

void bndr_cmd_client(struct bndr_client *c)
{
    struct bndr_arg *sub = &c->argv[1];
    struct bndr_server *s = c->srv;
    if (bndr_argeq(sub, "id") && c->argc == 2) {
        bndr_add_ll(c, (long long)c->id);
    } else if (bndr_argeq(sub, "help") && c->argc == 2) {
        long n = 0;
        while (client_help[n])
            n++;
        bndr_add_array(c, n);
        for (long i = 0; i < n; i++)
            bndr_add_status(c, client_help[i]);
    } else if (bndr_argeq(sub, "getname") && c->argc == 2) {
        if (c->name)
            bndr_add_bulk_cstr(c, c->name);
        else
            bndr_add_null(c);
    } else if (bndr_argeq(sub, "setname") && c->argc == 3) {
        struct bndr_arg *n = &c->argv[2];
        for (size_t i = 0; i < n->n; i++)
            if (n->p[i] < '!' || n->p[i] > '~') {
                bndr_add_error(c, "ERR Client names cannot contain spaces, newlines or special "
                                  "characters.");
                return;
            }
        bndr_free(c->name);
        c->name = n->n ? bndr_memdup(n->p, n->n) : NULL;
        bndr_add_ok(c);
    } else if ((bndr_argeq(sub, "list") && c->argc == 2) || (bndr_argeq(sub, "info") && c->argc == 2)) {
        struct bndr_buf b = {0};
        bndr_client_list(c->srv, &b, bndr_argeq(sub, "info") ? c : NULL);
        bndr_add_verbatim(c, b.p ? b.p : "", b.len);
        bndr_free(b.p);
    } else if (bndr_argeq(sub, "list") && c->argc >= 4) {
        if (bndr_argeq(&c->argv[2], "type") && c->argc == 4) {
            const struct bndr_arg *t = &c->argv[3];
            int want = bndr_argeq(t, "normal") ? 0 : bndr_argeq(t, "pubsub") ? 1
                       : (bndr_argeq(t, "master") || bndr_argeq(t, "replica") || bndr_argeq(t, "slave")) ? 2 : -1;
            if (want < 0) {
                bndr_add_errorf(c, "ERR Unknown client type '%.*s'", (int)(t->n > 64 ? 64 : t->n), t->p);
                return;
            }
            struct bndr_buf b = {0};
            for (struct bndr_client *x = s->clients; x && want != 2; x = x->next)
                if (client_is_pubsub(x) == (want == 1))
                    bndr_client_list(s, &b, x);
            bndr_add_verbatim(c, b.p ? b.p : "", b.len);
            bndr_free(b.p);
        } else if (bndr_argeq(&c->argv[2], "id")) {
            struct bndr_buf b = {0};
            for (int i = 3; i < c->argc; i++) {
                long long id;
                if (bndr_parse_ll(c->argv[i].p, c->argv[i].n, &id) < 0 || id <= 0) {
                    bndr_free(b.p);
                    bndr_add_error(c, "ERR Invalid client ID");
                    return;
                }
                for (struct bndr_client *x = s->clients; x; x = x->next)
                    if (x->id == (uint64_t)id)
                        bndr_client_list(s, &b, x);
            }
            bndr_add_verbatim(c, b.p ? b.p : "", b.len);
            bndr_free(b.p);
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
        }
    } else if (bndr_argeq(sub, "setinfo") && c->argc == 4) {
        bndr_add_ok(c);
    } else if (bndr_argeq(sub, "reply") && c->argc == 3) {
        const struct bndr_arg *m = &c->argv[2];
        if (bndr_argeq(m, "on")) {
            c->reply_mode = 0;
            bndr_add_ok(c);
        } else if (bndr_argeq(m, "off")) {
            c->reply_mode = 1;
        } else if (bndr_argeq(m, "skip")) {
            if (c->reply_mode != 1)
                c->reply_mode = 2;
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
        }
    } else if (bndr_argeq(sub, "kill") && c->argc >= 3) {
        client_kill(c);
    } else if (bndr_argeq(sub, "no-evict") && c->argc == 3) {
        if (bndr_argeq(&c->argv[2], "on"))
            c->flags |= BNDR_CF_NO_EVICT;
        else if (bndr_argeq(&c->argv[2], "off"))
            c->flags &= ~BNDR_CF_NO_EVICT;
        else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return;
        }
        bndr_add_ok(c);
    } else if (bndr_argeq(sub, "pause") && (c->argc == 3 || c->argc == 4)) {
        long long ms;
        if (bndr_get_ll_or_reply(c, &c->argv[2], &ms, "ERR timeout is not an integer or out of range") < 0)
            return;
        if (ms < 0) {
            bndr_add_error(c, "ERR timeout is negative");
            return;
        }
        int all = 1;
        if (c->argc == 4) {
            if (bndr_argeq(&c->argv[3], "write"))
                all = 0;
            else if (!bndr_argeq(&c->argv[3], "all")) {
                bndr_add_error(c, "ERR CLIENT PAUSE mode must be WRITE or ALL");
                return;
            }
        }
        uint64_t until = bndr_mstime() + (uint64_t)ms;
        /* as Redis: a pause never shortens a longer one; ALL wins over WRITE */
        if (!s->pause_until || until > s->pause_until)
            s->pause_until = until;
        if (all || !s->pause_until)
            s->pause_all = all;
        bndr_add_ok(c);
    } else if (bndr_argeq(sub, "unpause") && c->argc == 2) {
        bndr_unpause(s);
        bndr_add_ok(c);
    } else if (bndr_argeq(sub, "unblock") && (c->argc == 3 || c->argc == 4)) {
        long long id;
        if (bndr_get_ll_or_reply(c, &c->argv[2], &id, NULL) < 0)
            return;
        int err = 0;
        if (c->argc == 4) {
            if (bndr_argeq(&c->argv[3], "error"))
                err = 1;
            else if (!bndr_argeq(&c->argv[3], "timeout")) {
                bndr_add_error(c, "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
                return;
            }
        }
        for (struct bndr_client *x = s->clients; x; x = x->next) {
            if (x->id != (uint64_t)id || !(x->flags & BNDR_CF_BLOCKED))
                continue;
            if (err) {
                bndr_add_error(x, "UNBLOCKED client unblocked via CLIENT UNBLOCK");
                bndr_unblock_client(x, 0);
            } else {
                bndr_unblock_client(x, 1);
            }
            bndr_client_mark_write(x);
            bndr_add_ll(c, 1);
            return;
        }
        bndr_add_ll(c, 0);
    } else if (bndr_argeq(sub, "getredir") && c->argc == 2) {
        bndr_add_ll(c, (c->trk & BNDR_TRK_ON) ? (long long)c->trk_redirect : -1);
    } else if (bndr_argeq(sub, "trackinginfo") && c->argc == 2) {
        bndr_tracking_info(c);
    } else if (bndr_argeq(sub, "tracking") && c->argc >= 3) {
        bndr_tracking_cmd(c);
    } else if (bndr_argeq(sub, "caching") && c->argc == 3) {
        bndr_tracking_caching(c);
    } else {
        bndr_sub_error(c, "CLIENT", "caching getredir getname id info kill list unpause pause "
                                    "reply setname setinfo unblock tracking trackinginfo no-evict help");
    }
}

/* ---------------------------------------------------------------- server */
static void human(char *buf, size_t cap, double b)
{
    const char *u[] = {"B", "K", "M", "G", "T"};
    int i = 0;
    while (b >= 1024 && i < 4) {
        b /= 1024;
        i++;
    }
    snprintf(buf, cap, "%.2f%s", b, u[i]);
}

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (size_t)sysconf(_SC_PAGESIZE);
}

static const char *policy_name(int p)
{
    static const char *n[] = {"noeviction", "allkeys-lru", "volatile-lru", "allkeys-random",
                              "volatile-random", "volatile-ttl"};
    return p >= 0 && p < 6 ? n[p] : "noeviction";
}

/* As Redis 7.0: no section / "default" leave out commandstats and latencystats, "all" and
 * "everything" include them. */
static int want(const char *section, const char *name)
{
    if (!section || !strcasecmp(section, "default"))
        return strcmp(name, "commandstats") != 0 && strcmp(name, "latencystats") != 0;
    return !strcasecmp(section, "all") || !strcasecmp(section, "everything") ||
           !strcasecmp(section, name);
}

/* ---------------------------------------------------------------- error statistics */
/* errorstat_<CODE>: error replies by their first word, at most 128 codes (as Redis). */
static struct bndr_dict errorstats;
static int errorstats_init;
static uint64_t total_error_replies;

void bndr_errorstat(const char *reply, size_t n)
{
    if (!errorstats_init) {
        bndr_dict_init(&errorstats);
        errorstats_init = 1;
    }
    total_error_replies++;
    if (n && reply[0] == '-') {
        reply++;
        n--;
    }
    size_t l = 0;
    while (l < n && l < 64 && reply[l] != ' ' && reply[l] != '\r')
        l++;
    struct bndr_de *e = bndr_dict_find(&errorstats, reply, l);
    if (!e) {
        if (errorstats.n >= 128)
            return;
        e = bndr_dict_upsert(&errorstats, reply, l, NULL);
    }
    e->v.i++;
}

uint64_t bndr_errorstat_total(void)
{
    return total_error_replies;
}

void bndr_errorstats_reset(void)
{
    if (errorstats_init)
        bndr_dict_release(&errorstats, NULL);
    errorstats_init = 0;
    total_error_replies = 0;
}

static int cmp_de_key(const void *a, const void *b)
{
    return strcmp((*(struct bndr_de *const *)a)->key, (*(struct bndr_de *const *)b)->key);
}

/* tenant: INFO leaves out what CONFIG GET hides from tenants (the private port) */
void bndr_info_text(struct bndr_server *s, const char *section, struct bndr_buf *b, int tenant)
{
    char line[1024];
    int n;
#define L(...)                                            \
    do {                                                  \
        n = snprintf(line, sizeof line, __VA_ARGS__);     \
        bndr_buf_add(b, line, (size_t)n);                 \
    } while (0)
    uint64_t now = bndr_mstime();
    if (want(section, "server")) {
        struct utsname u;
        uname(&u);
        static char run_id[41];
        if (!run_id[0]) { /* random per process, as Redis */
            unsigned char r[20];
            bb_random_bytes(r, sizeof r);
            for (int i = 0; i < 20; i++)
                snprintf(run_id + 2 * i, 3, "%02x", r[i]);
        }
        L("# Server\r\nredis_version:%s\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\n"
          "redis_build_id:0\r\nbunder_version:%s\r\nredis_mode:standalone\r\n"
          "os:%s %s %s\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\n"
          "multiplexing_api:libuv\r\natomicvar_api:c11-builtin\r\nprocess_id:%d\r\n"
          "process_supervised:no\r\nrun_id:%s\r\n"
          "tcp_port:%d\r\nserver_time_usec:%llu\r\nuptime_in_seconds:%llu\r\n"
          "uptime_in_days:%llu\r\nhz:%d\r\nconfigured_hz:%d\r\nlru_clock:%u\r\n"
          "executable:bunder\r\nconfig_file:\r\nio_threads_active:0\r\n\r\n",
          BNDR_REDIS_VERSION, BB_VERSION, u.sysname, u.release, u.machine, (int)getpid(), run_id,
          tenant ? 0 : s->actual_port, (unsigned long long)bndr_ustime(),
          (unsigned long long)((now - s->start_ms) / 1000),
          (unsigned long long)((now - s->start_ms) / 86400000), s->cfg.hz, s->cfg.hz,
          s->lruclock & 0xffffff);
    }
    if (want(section, "clients")) {
        long blocked = 0, pubsub = 0;
        for (struct bndr_client *c = s->clients; c; c = c->next) {
            blocked += (c->flags & BNDR_CF_BLOCKED) != 0;
            pubsub += bndr_client_subscribed(c);
        }
        size_t maxin = 0, maxout = 0;
        for (struct bndr_client *c = s->clients; c; c = c->next) {
            maxin = c->qcap > maxin ? c->qcap : maxin;
            maxout = c->out.len > maxout ? c->out.len : maxout;
        }
        L("# Clients\r\nconnected_clients:%zu\r\ncluster_connections:0\r\nmaxclients:%lld\r\n"
          "client_recent_max_input_buffer:%zu\r\nclient_recent_max_output_buffer:%zu\r\n"
          "blocked_clients:%ld\r\ntracking_clients:0\r\nclients_in_timeout_table:%ld\r\n"
          "pubsub_clients:%ld\r\n\r\n",
          s->nclients, s->cfg.maxclients, maxin, maxout, blocked, blocked, pubsub);
    }
    if (want(section, "memory")) {
        char h1[32], h2[32], h3[32];
        size_t used = bndr_used_memory(), rss = rss_bytes();
        human(h1, sizeof h1, (double)used);
        human(h2, sizeof h2, (double)rss);
        human(h3, sizeof h3, (double)s->cfg.maxmemory);
        L("# Memory\r\nused_memory:%zu\r\nused_memory_human:%s\r\nused_memory_rss:%zu\r\n"
          "used_memory_rss_human:%s\r\nmaxmemory:%lld\r\nmaxmemory_human:%s\r\n"
          "maxmemory_policy:%s\r\nmem_fragmentation_ratio:%.2f\r\nmem_allocator:libc\r\n\r\n",
          used, h1, rss, h2, s->cfg.maxmemory, h3, policy_name(s->cfg.maxmemory_policy),
          used ? (double)rss / (double)used : 0.0);
    }
    if (want(section, "persistence")) {
        L("# Persistence\r\nloading:%d\r\nrdb_changes_since_last_save:%lld\r\n"
          "rdb_bgsave_in_progress:%d\r\nrdb_last_save_time:%llu\r\nrdb_last_bgsave_status:%s\r\n"
          "aof_enabled:%d\r\naof_rewrite_in_progress:%d\r\naof_rewrite_scheduled:%d\r\n"
          "aof_last_bgrewrite_status:%s\r\naof_last_write_status:%s\r\naof_rewrites:%llu\r\n"
          "aof_current_size:%lld\r\naof_base_size:%lld\r\naof_fsync_policy:%s\r\n\r\n",
          s->aof.loading, s->dirty, s->aof.save_pid > 0, (unsigned long long)s->lastsave,
          s->last_bgsave_ok ? "ok" : "err", s->aof.enabled, s->aof.rewrite_pid > 0,
          s->aof.rewrite_scheduled, s->aof.last_bgrewrite_ok ? "ok" : "err",
          s->aof.write_error ? "err" : "ok", (unsigned long long)s->aof.rewrites,
          (long long)s->aof.size, (long long)s->aof.base_size,
          s->cfg.appendfsync == BNDR_FSYNC_ALWAYS     ? "always"
          : s->cfg.appendfsync == BNDR_FSYNC_EVERYSEC ? "everysec"
                                                      : "no");
    }
    uint64_t tkeys, texp, tevict, thits, tmiss;
    bndr_db_totals(s, &tkeys, &texp, &tevict, &thits, &tmiss);
    if (want(section, "stats")) {
        L("# Stats\r\ntotal_connections_received:%llu\r\ntotal_commands_processed:%llu\r\n"
          "total_net_input_bytes:%llu\r\ntotal_net_output_bytes:%llu\r\n"
          "rejected_connections:%llu\r\nexpired_keys:%llu\r\nevicted_keys:%llu\r\n"
          "keyspace_hits:%llu\r\nkeyspace_misses:%llu\r\npubsub_channels:%llu\r\n"
          "pubsub_patterns:%llu\r\npubsubshard_channels:0\r\ntotal_error_replies:%llu\r\n"
          "unexpected_error_replies:0\r\n\r\n",
          (unsigned long long)s->stat_conns, (unsigned long long)s->stat_commands,
          (unsigned long long)s->stat_net_in, (unsigned long long)s->stat_net_out,
          (unsigned long long)s->stat_rejected, (unsigned long long)texp,
          (unsigned long long)tevict, (unsigned long long)thits,
          (unsigned long long)tmiss, (unsigned long long)s->pubsub_ch.n,
          (unsigned long long)s->pubsub_pat.n, (unsigned long long)total_error_replies);
    }
    if (want(section, "replication"))
        L("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n");
    if (want(section, "cpu")) {
        struct rusage self, kids;
        getrusage(RUSAGE_SELF, &self);
        getrusage(RUSAGE_CHILDREN, &kids);
#define TV(t) ((double)(t).tv_sec + (double)(t).tv_usec / 1e6)
        L("# CPU\r\nused_cpu_sys:%.6f\r\nused_cpu_user:%.6f\r\nused_cpu_sys_children:%.6f\r\n"
          "used_cpu_user_children:%.6f\r\nused_cpu_sys_main_thread:%.6f\r\n"
          "used_cpu_user_main_thread:%.6f\r\n\r\n",
          TV(self.ru_stime), TV(self.ru_utime), TV(kids.ru_stime), TV(kids.ru_utime),
          TV(self.ru_stime), TV(self.ru_utime));
#undef TV
    }
    if (want(section, "commandstats")) {
        L("# Commandstats\r\n");
        for (size_t i = 0; i < bndr_cmd_count; i++) {
            const struct bndr_cmd *cmd = &bndr_cmd_table[i];
            if (!cmd->calls && !cmd->rejected_calls && !cmd->failed_calls)
                continue;
            L("cmdstat_%s:calls=%llu,usec=%llu,usec_per_call=%.2f,rejected_calls=%llu,"
              "failed_calls=%llu\r\n",
              cmd->name, (unsigned long long)cmd->calls, (unsigned long long)cmd->usec,
              cmd->calls ? (double)cmd->usec / (double)cmd->calls : 0.0,
              (unsigned long long)cmd->rejected_calls, (unsigned long long)cmd->failed_calls);
        }
        L("\r\n");
    }
    if (want(section, "errorstats")) {
        L("# Errorstats\r\n");
        if (errorstats_init && errorstats.n) {
            struct bndr_de **v = bndr_malloc(errorstats.n * sizeof *v);
            size_t k = 0;
            BNDR_DICT_FOREACH(&errorstats, e) { v[k++] = e; }
            qsort(v, k, sizeof *v, cmp_de_key);
            for (size_t i = 0; i < k; i++)
                L("errorstat_%s:count=%lld\r\n", v[i]->key, (long long)v[i]->v.i);
            bndr_free(v);
        }
        L("\r\n");
    }
    if (want(section, "buncast")) {
        struct bndr_bcast_stats bs;
        bndr_bcast_stats(s, &bs);
        L("# Buncast\r\nbuncast_enabled:%d\r\nbuncast_connected:%d\r\nbuncast_published:%llu\r\n"
          "buncast_dropped:%llu\r\nbuncast_errors:%llu\r\nbuncast_queued:%llu\r\n\r\n",
          bs.enabled, bs.connected, (unsigned long long)bs.published,
          (unsigned long long)bs.dropped, (unsigned long long)bs.errors,
          (unsigned long long)bs.queued);
    }
    if (want(section, "keyspace")) {
        L("# Keyspace\r\n");
        for (int i = 0; i < s->ndb; i++) {
            struct bndr_db *db = bndr_db_get(s, i);
            if (db->keys.n)
                L("db%d:keys=%llu,expires=%zu,avg_ttl=0\r\n", i,
                  (unsigned long long)db->keys.n, db->xn);
        }
    }
#undef L
}

void bndr_cmd_info(struct bndr_client *c)
{
    struct bndr_buf b = {0};
    int tenant = (c->flags & BNDR_CF_TENANT) != 0;
    if (c->argc == 1)
        bndr_info_text(c->srv, NULL, &b, tenant);
    for (int i = 1; i < c->argc && i < 64; i++) { /* Redis 7: several sections */
        char sec[32];
        snprintf(sec, sizeof sec, "%.*s", (int)(c->argv[i].n > 31 ? 31 : c->argv[i].n),
                 c->argv[i].p);
        bndr_info_text(c->srv, sec, &b, tenant);
    }
    /* as Redis: a blank line between sections, none after the last */
    if (b.len >= 4 && !memcmp(b.p + b.len - 4, "\r\n\r\n", 4))
        b.len -= 2;
    bndr_add_verbatim(c, b.p ? b.p : "", b.len);
    bndr_free(b.p);
}

void bndr_cmd_time(struct bndr_client *c)
{
    uint64_t us = bndr_ustime();
    bndr_add_array(c, 2);
    bndr_add_bulk_ll(c, (long long)(us / 1000000));
    bndr_add_bulk_ll(c, (long long)(us % 1000000));
}

/* COMMAND / COMMAND INFO: every command bunder answers, with Redis 7.0's metadata
 * (cmd_meta.c). */
static void command_info_all(struct bndr_client *c)
{
    size_t h = bndr_add_deferred_len(c);
    long n = 0;
    for (size_t i = 0; i < bndr_cmd_count; i++) {
        const char *name = bndr_cmd_table[i].name;
        n += bndr_meta_info(c, name, strlen(name)) == 0;
    }
    bndr_set_deferred_len(c, h, n, '*');
}

void bndr_cmd_command(struct bndr_client *c)
{
    if (c->argc == 1) {
        command_info_all(c);
        return;
    }
    struct bndr_arg *sub = &c->argv[1];
    if (bndr_argeq(sub, "count") && c->argc == 2) {
        bndr_add_ll(c, (long long)bndr_cmd_count);
    } else if (bndr_argeq(sub, "list") && c->argc == 2) {
        /* as Redis 7.0: every command, then "container|sub" for each subcommand */
        size_t h = bndr_add_deferred_len(c);
        long n = 0;
        for (size_t i = 0; i < bndr_cmd_count; i++, n++) {
            const struct bndr_cmd *cmd = &bndr_cmd_table[i];
            bndr_add_bulk_cstr(c, cmd->name);
            for (const char *p = cmd->subcmds; p && *p; n++) {
                size_t l = strcspn(p, " ");
                char full[96];
                int fl = snprintf(full, sizeof full, "%s|%.*s", cmd->name, (int)l, p);
                bndr_add_bulk(c, full, (size_t)fl);
                p += l;
                while (*p == ' ')
                    p++;
            }
        }
        bndr_set_deferred_len(c, h, n, '*');
    } else if (bndr_argeq(sub, "info")) {
        if (c->argc == 2) {
            command_info_all(c);
            return;
        }
        bndr_add_array(c, c->argc - 2);
        for (int i = 2; i < c->argc; i++)
            if (bndr_meta_info(c, c->argv[i].p, c->argv[i].n) < 0)
                bndr_add_null(c);
    } else if (bndr_argeq(sub, "docs")) {
        size_t h = bndr_add_deferred_len(c);
        long n = 0;
        if (c->argc == 2) { /* every command bunder answers */
            for (size_t i = 0; i < bndr_cmd_count; i++) {
                const char *name = bndr_cmd_table[i].name;
                n += bndr_meta_docs(c, name, strlen(name)) == 0;
            }
        }
        for (int i = 2; i < c->argc; i++)
            n += bndr_meta_docs(c, c->argv[i].p, c->argv[i].n) == 0;
        bndr_set_deferred_len(c, h, n, '%');
    } else if (bndr_argeq(sub, "help") && c->argc == 2) {
        static const char *const h[] = {
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
            "HELP",
            "    Prints this help.",
            NULL};
        add_help_lines(c, h);
    } else if (bndr_argeq(sub, "getkeys") || bndr_argeq(sub, "getkeysandflags")) {
        int fl = bndr_argeq(sub, "getkeysandflags");
        if (c->argc < 4) /* arity -4, as Redis */
            bndr_add_errorf(c, "ERR wrong number of arguments for 'command|%s' command",
                            fl ? "getkeysandflags" : "getkeys");
        else
            bndr_meta_getkeys(c, fl);
    } else {
        bndr_sub_error(c, "COMMAND", "count list info docs getkeys getkeysandflags help");
    }
}

void bndr_cmd_config(struct bndr_client *c)
{
    struct bndr_arg *sub = &c->argv[1];
    int tenant = (c->flags & BNDR_CF_TENANT) != 0;
    if (bndr_argeq(sub, "get") && c->argc >= 3) {
        for (int i = 2; tenant && i < c->argc; i++) {
            char name[128];
            if (c->argv[i].n >= sizeof name)
                continue;
            memcpy(name, c->argv[i].p, c->argv[i].n);
            name[c->argv[i].n] = 0;
            if (bndr_tenant_hidden(name)) { /* a glob matching it just leaves it out */
                bndr_add_errorf(c, "ERR CONFIG GET failed (possibly related to argument '%s') - "
                                   "can't get protected config", name);
                return;
            }
        }
        struct bndr_buf b = {0};
        long count = 0;
        for (int i = 2; i < c->argc; i++)
            bndr_config_get(c, c->argv[i].p, c->argv[i].n, &b, &count);
        bndr_add_map(c, count);
        if (b.len)
            bndr_add_raw(c, b.p, b.len);
        bndr_free(b.p);
    } else if (bndr_argeq(sub, "set") && c->argc >= 4 && c->argc % 2 == 0) {
        /* tenants: every parameter is checked before any is applied */
        for (int i = 2; tenant && i < c->argc; i += 2) {
            char name[128];
            int n = (int)(c->argv[i].n >= sizeof name ? sizeof name - 1 : c->argv[i].n);
            memcpy(name, c->argv[i].p, (size_t)n);
            name[n] = 0;
            if (!bndr_tenant_settable(name)) {
                bndr_add_errorf(c, "ERR CONFIG SET failed (possibly related to argument '%s') - "
                                   "can't set protected config", name);
                return;
            }
        }
        for (int i = 2; i < c->argc; i += 2) {
            char name[128], val[1024], err[256];
            if (c->argv[i].n >= sizeof name || c->argv[i + 1].n >= sizeof val) {
                bndr_add_error(c, "ERR CONFIG SET failed (possibly related to argument 'value') - argument too long");
                return;
            }
            memcpy(name, c->argv[i].p, c->argv[i].n);
            name[c->argv[i].n] = 0;
            memcpy(val, c->argv[i + 1].p, c->argv[i + 1].n);
            val[c->argv[i + 1].n] = 0;
            if (bndr_config_set(c->srv, name, val, err, sizeof err) < 0) {
                bndr_add_error(c, err);
                return;
            }
        }
        bndr_add_ok(c);
    } else if (bndr_argeq(sub, "resetstat") && c->argc == 2) {
        struct bndr_server *s = c->srv;
        s->stat_commands = s->stat_conns = s->stat_rejected = s->stat_net_in = s->stat_net_out = 0;
        for (int i = 0; i < s->ndb; i++) {
            struct bndr_db *db = bndr_db_get(s, i);
            db->hits = db->misses = db->expired_keys = db->evicted_keys = 0;
        }
        for (size_t i = 0; i < bndr_cmd_count; i++) {
            bndr_cmd_table[i].calls = bndr_cmd_table[i].usec = 0;
            bndr_cmd_table[i].rejected_calls = bndr_cmd_table[i].failed_calls = 0;
        }
        bndr_errorstats_reset();
        bndr_add_ok(c);
    } else if (bndr_argeq(sub, "rewrite") && c->argc == 2) {
        bndr_add_error(c, "ERR The server is running without a config file");
    } else if (bndr_argeq(sub, "help") && c->argc == 2) {
        static const char *const h[] = {
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
            "HELP",
            "    Prints this help.",
            NULL};
        add_help_lines(c, h);
    } else {
        bndr_sub_error(c, "CONFIG", "get set resetstat rewrite help");
    }
}

void bndr_cmd_save(struct bndr_client *c)
{
    struct bndr_server *s = c->srv;
    if (s->aof.save_pid > 0) {
        bndr_add_error(c, "ERR Background save already in progress");
        return;
    }
    char path[2048];
    bndr_path(s, s->cfg.dbfilename, path, sizeof path);
    if (bndr_snapshot_save(s, path) < 0) {
        s->last_bgsave_ok = 0;
        bndr_add_error(c, "ERR snapshot write failed (see the server log)");
        return;
    }
    s->dirty = 0;
    s->lastsave = bndr_mstime() / 1000;
    s->last_bgsave_ok = 1;
    bndr_add_ok(c);
}

void bndr_cmd_bgsave(struct bndr_client *c)
{
    struct bndr_server *s = c->srv;
    if (c->argc > 2 || (c->argc == 2 && !bndr_argeq(&c->argv[1], "schedule"))) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    if (s->aof.save_pid > 0) {
        bndr_add_error(c, "ERR Background save already in progress");
        return;
    }
    if (bndr_snapshot_bgsave(s) < 0) {
        bndr_add_error(c, "ERR could not start a background save (fork failed)");
        return;
    }
    bndr_add_status(c, "Background saving started");
}

void bndr_cmd_bgrewriteaof(struct bndr_client *c)
{
    struct bndr_server *s = c->srv;
    if (s->aof.rewrite_pid > 0) {
        bndr_add_error(c, "ERR Background append only file rewriting already in progress");
        return;
    }
    if (bndr_aof_rewrite_start(s) < 0) {
        bndr_add_error(c, "ERR Can't execute an AOF background rewriting. Please check the server logs for more information.");
        return;
    }
    bndr_add_status(c, "Background append only file rewriting started");
}

void bndr_cmd_lastsave(struct bndr_client *c)
{
    bndr_add_ll(c, (long long)c->srv->lastsave);
}

void bndr_cmd_shutdown(struct bndr_client *c)
{
    int save = 0;
    for (int i = 1; i < c->argc; i++) {
        if (bndr_argeq(&c->argv[i], "save"))
            save = 1;
        else if (bndr_argeq(&c->argv[i], "nosave") || bndr_argeq(&c->argv[i], "now") ||
                 bndr_argeq(&c->argv[i], "force"))
            ;
        else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return;
        }
    }
    if (save) {
        char path[2048];
        bndr_path(c->srv, c->srv->cfg.dbfilename, path, sizeof path);
        if (bndr_snapshot_save(c->srv, path) < 0) {
            bndr_add_error(c, "ERR Errors trying to SHUTDOWN. Check logs.");
            return;
        }
    }
    bndr_shutdown(c->srv);
}

void bndr_cmd_memory(struct bndr_client *c)
{
    if (bndr_argeq(&c->argv[1], "usage") && (c->argc == 3 || c->argc == 5)) {
        struct bndr_obj *o = bndr_lookup_read(c, &c->argv[2]);
        if (!o) {
            bndr_add_null(c);
            return;
        }
        long long sz = (long long)(sizeof(*o) + sizeof(struct bndr_de) + c->argv[2].n);
        switch (o->type) {
        case BNDR_STRING: sz += o->cap; break;
        case BNDR_LIST: sz += (long long)(o->u.l->n * 24); break;
        case BNDR_SET:
        case BNDR_HASH: sz += (long long)(o->u.d->n * 48); break;
        case BNDR_ZSET: sz += (long long)(o->u.z->length * 96); break;
        case BNDR_STREAM: sz += (long long)bndr_stream_usage(o->u.x); break;
        }
        bndr_add_ll(c, sz);
    } else if (bndr_argeq(&c->argv[1], "help") && c->argc == 2) {
        static const char *const h[] = {
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
            "HELP",
            "    Prints this help.",
            NULL};
        add_help_lines(c, h);
    } else if (bndr_argeq(&c->argv[1], "purge") && c->argc == 2) {
        bndr_add_ok(c);
    } else if (bndr_argeq(&c->argv[1], "malloc-stats") && c->argc == 2) {
        const char *t = "Stats not supported for the current allocator";
        bndr_add_verbatim(c, t, strlen(t));
    } else if (bndr_argeq(&c->argv[1], "doctor") && c->argc == 2) {
        const char *t = "Hi Sam, I can't find any memory issue in your instance. I can only account "
                        "for what occurs on this base.";
        bndr_add_verbatim(c, t, strlen(t));
    } else if (bndr_argeq(&c->argv[1], "stats") && c->argc == 2) {
        struct bndr_server *s = c->srv;
        uint64_t keys, x1, x2, x3, x4;
        bndr_db_totals(s, &keys, &x1, &x2, &x3, &x4);
        size_t used = bndr_used_memory();
        long ndb = 0;
        for (int i = 0; i < s->ndb; i++)
            ndb += bndr_db_get(s, i)->keys.n != 0;
        bndr_add_map(c, 5 + ndb);
        bndr_add_bulk_cstr(c, "peak.allocated");
        bndr_add_ll(c, (long long)used);
        bndr_add_bulk_cstr(c, "total.allocated");
        bndr_add_ll(c, (long long)used);
        bndr_add_bulk_cstr(c, "clients.normal");
        bndr_add_ll(c, 0);
        bndr_add_bulk_cstr(c, "keys.count");
        bndr_add_ll(c, (long long)keys);
        bndr_add_bulk_cstr(c, "dataset.bytes");
        bndr_add_ll(c, (long long)used);
        for (int i = 0; i < s->ndb; i++) {
            struct bndr_db *db = bndr_db_get(s, i);
            if (!db->keys.n)
                continue;
            char name[32];
            snprintf(name, sizeof name, "db.%d", i);
            bndr_add_bulk_cstr(c, name);
            bndr_add_map(c, 2);
            bndr_add_bulk_cstr(c, "overhead.hashtable.main");
            bndr_add_ll(c, (long long)((db->keys.mask + 1) * sizeof(void *)));
            bndr_add_bulk_cstr(c, "overhead.hashtable.expires");
            bndr_add_ll(c, (long long)(db->xcap * sizeof(void *)));
        }
    } else {
        bndr_sub_error(c, "MEMORY", "usage doctor malloc-stats purge stats help");
    }
}
