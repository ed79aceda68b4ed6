/* cmd_shard.c — sharded pub/sub (SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH, PUBSUB SHARDCHANNELS and
 * SHARDNUMSUB) as Redis 7.0 on a single node: shard channels are channels in a namespace of their
 * own (s->pubsub_sch / c->schans, kind 2 of bndr_pubsub_sub), patterns never match them, messages
 * arrive as "smessage", and the count in (un)subscribe replies is the client's shard channels. */
#include <string.h>

#include "bndr.h"
#include "cmds.h"

static void sreply(struct bndr_client *c, const char *kind, const char *k, size_t n, int has)
{
    bndr_add_push(c, 3);
    bndr_add_bulk_cstr(c, kind);
    if (has)
        bndr_add_bulk(c, k, n);
    else
        bndr_add_null(c);
    bndr_add_ll(c, (long long)c->schans.n);
}

void bndr_cmd_ssubscribe(struct bndr_client *c)
{
    if (c->flags & (BNDR_CF_MULTI | BNDR_CF_IN_EXEC | BNDR_CF_FAKE)) {
        bndr_add_error(c, "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client");
        return;
    }
    for (int i = 1; i < c->argc; i++) {
        bndr_pubsub_sub(c, c->argv[i].p, c->argv[i].n, 2);
        sreply(c, "ssubscribe", c->argv[i].p, c->argv[i].n, 1);
    }
}

void bndr_cmd_sunsubscribe(struct bndr_client *c)
{
    if (c->argc == 1) {
        if (c->schans.n == 0) {
            sreply(c, "sunsubscribe", NULL, 0, 0);
            return;
        }
        while (c->schans.n) {
            struct bndr_de *e = bndr_dict_random(&c->schans);
            struct bndr_str *k = bndr_str_new(e->key, e->klen);
            bndr_pubsub_unsub(c, k->buf, k->len, 2);
            sreply(c, "sunsubscribe", k->buf, k->len, 1);
            bndr_str_free(k);
        }
        return;
    }
    for (int i = 1; i < c->argc; i++) {
        bndr_pubsub_unsub(c, c->argv[i].p, c->argv[i].n, 2);
        sreply(c, "sunsubscribe", c->argv[i].p, c->argv[i].n, 1);
    }
}

void bndr_cmd_spublish(struct bndr_client *c)
{
    struct bndr_de *e = bndr_dict_find(&c->srv->pubsub_sch, c->argv[1].p, c->argv[1].n);
    long long receivers = 0;
    if (e) {
        struct bndr_pubsub_sub *w = e->v.p;
        for (int i = 0; i < w->n; i++) {
            struct bndr_client *t = w->c[i];
            bndr_add_push(t, 3);
            bndr_add_bulk(t, "smessage", 8);
            bndr_add_bulk(t, c->argv[1].p, c->argv[1].n);
            bndr_add_bulk(t, c->argv[2].p, c->argv[2].n);
            receivers++;
        }
    }
    bndr_add_ll(c, receivers);
}

void bndr_shard_channels(struct bndr_client *c, const struct bndr_arg *pattern)
{
    size_t h = bndr_add_deferred_len(c);
    long n = 0;
    BNDR_DICT_FOREACH(&c->srv->pubsub_sch, e)
    {
        if (pattern && !bndr_glob(pattern->p, pattern->n, e->key, e->klen, 0))
            continue;
        bndr_add_bulk(c, e->key, e->klen);
        n++;
    }
    bndr_set_deferred_len(c, h, n, '*');
}

void bndr_shard_numsub(struct bndr_client *c)
{
    bndr_add_map(c, c->argc - 2);
    for (int i = 2; i < c->argc; i++) {
        struct bndr_de *e = bndr_dict_find(&c->srv->pubsub_sch, c->argv[i].p, c->argv[i].n);
        bndr_add_bulk(c, c->argv[i].p, c->argv[i].n);
        bndr_add_ll(c, e ? ((struct bndr_pubsub_sub *)e->v.p)->n : 0);
    }
}
