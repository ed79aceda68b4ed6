/* tracking.c — client-side caching support (CLIENT TRACKING, CACHING, TRACKINGINFO, GETREDIR),
 * as Redis 7.0:
 *
 *   default mode  the keys a tracking client reads (read-only commands, their key positions) are
 *                 remembered; when one changes, the client gets one invalidation and the key is
 *                 forgotten. OPTIN: only reads right after CLIENT CACHING yes; OPTOUT: all reads
 *                 but the one right after CLIENT CACHING no.
 *   BCAST         no remembering: every change of a key starting with one of the client's
 *                 prefixes (any key without PREFIX) is sent.
 *   NOLOOP        changes the client made itself are not sent to it.
 *   REDIRECT id   invalidations go to client id: as RESP3 push there, or as a message on
 *                 __redis__:invalidate if that client is RESP2 and subscribed to it.
 *
 * Invalidation: RESP3 push ["invalidate", [key]]; FLUSHDB/FLUSHALL send ["invalidate", null]. A
 * RESP2 client without a redirect gets nothing (RESP2 has no push), as in Redis. The table of
 * remembered keys holds client ids (a client that left is skipped) and is bounded by
 * tracking-table-max-keys: past it, a random key is invalidated and forgotten. Keys are not
 * told apart by database, as in Redis.
 */
#include <stdlib.h>
#include <string.h>

#include "bndr.h"
#include "cmds.h"

struct trk_ids {
    uint64_t *ids;
    int n, cap;
};

static struct bndr_dict table; /* key -> struct trk_ids * */
static int table_init;
static struct bndr_client **bcast; /* BCAST clients */
static int nbcast, bcastcap;

static struct bndr_client *client_by_id(struct bndr_server *s, uint64_t id)
{
    for (struct bndr_client *x = s->clients; x; x = x->next)
        if (x->id == id)
            return x;
    return NULL;
}

static void free_ids(struct bndr_de *e)
{
    struct trk_ids *t = e->v.p;
    bndr_free(t->ids);
    bndr_free(t);
}

/* One invalidation message for key (NULL: everything) to c (or its redirect target). */
static void send_invalidation(struct bndr_server *s, struct bndr_client *c, const char *k, size_t n)
{
    struct bndr_client *to = c;
    int redirected = 0;
    if (c->trk_redirect) {
        to = client_by_id(s, c->trk_redirect);
        if (!to)
            return;
        redirected = 1;
    }
    if (to->flags & BNDR_CF_CLOSING)
        return;
    if (to->resp >= 3) {
        bndr_add_raw(to, ">2\r\n$10\r\ninvalidate\r\n", 21);
    } else if (redirected && bndr_dict_find(&to->chans, "__redis__:invalidate", 20)) {
        bndr_add_raw(to, "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n", 44);
    } else {
        return;
    }
    if (k) {
        bndr_add_array(to, 1);
        bndr_add_bulk(to, k, n);
    } else {
        bndr_add_null_array(to);
    }
    bndr_client_mark_write(to);
}

static int prefix_match(const struct bndr_client *c, const char *k, size_t n)
{
    if (c->ntrk_prefixes == 0)
        return 1;
    for (int i = 0; i < c->ntrk_prefixes; i++) {
        const struct bndr_str *p = c->trk_prefixes[i];
        if (p->len <= n && !memcmp(p->buf, k, p->len))
            return 1;
    }
    return 0;
}

int bndr_tracking_active(void)
{
    return (table_init && table.n) || nbcast;
}

void bndr_tracking_invalidate(struct bndr_server *s, const char *k, size_t n)
{
    struct bndr_client *self = s->signaler ? s->signaler : s->cur;
    for (int i = 0; i < nbcast; i++) {
        struct bndr_client *c = bcast[i];
        if ((c->trk & BNDR_TRK_NOLOOP) && c == self)
            continue;
        if (prefix_match(c, k, n))
            send_invalidation(s, c, k, n);
    }
    if (!table_init || !table.n)
        return;
    struct bndr_de *e = bndr_dict_unlink(&table, k, n);
    if (!e)
        return;
    struct trk_ids *t = e->v.p;
    for (int i = 0; i < t->n; i++) {
        struct bndr_client *c = client_by_id(s, t->ids[i]);
        if (!c || !(c->trk & BNDR_TRK_ON) || ((c->trk & BNDR_TRK_NOLOOP) && c == self))
            continue;
        send_invalidation(s, c, e->key, e->klen);
    }
    free_ids(e);
    bndr_free(e);
}

void bndr_tracking_flush(struct bndr_server *s)
{
    for (struct bndr_client *c = s->clients; c; c = c->next)
        if (c->trk & BNDR_TRK_ON)
            send_invalidation(s, c, NULL, 0);
    if (table_init) {
        bndr_dict_release(&table, free_ids);
        bndr_dict_init(&table);
    }
}

/* After a read-only command of a tracking client: remember its keys. */
void bndr_tracking_remember(struct bndr_client *c, const struct bndr_cmd *cmd)
{
    unsigned t = c->trk;
    int cache = !(t & (BNDR_TRK_OPTIN | BNDR_TRK_OPTOUT)) ||
                ((t & BNDR_TRK_OPTIN) && (t & BNDR_TRK_CACHING_YES)) ||
                ((t & BNDR_TRK_OPTOUT) && !(t & BNDR_TRK_CACHING_NO));
    if (!cache || cmd->first_key <= 0)
        return;
    if (!table_init) {
        bndr_dict_init(&table);
        table_init = 1;
    }
    int last = cmd->last_key < 0 ? c->argc + cmd->last_key : cmd->last_key;
    for (int i = cmd->first_key; i <= last && i < c->argc; i += cmd->step) {
        int created;
        struct bndr_de *e = bndr_dict_upsert(&table, c->argv[i].p, c->argv[i].n, &created);
        struct trk_ids *ids = e->v.p;
        if (!ids) {
            ids = bndr_calloc(sizeof *ids);
            e->v.p = ids;
        }
        int dup = 0;
        for (int j = 0; j < ids->n && !dup; j++)
            dup = ids->ids[j] == c->id;
        if (dup)
            continue;
        if (ids->n == ids->cap) {
            ids->cap = ids->cap ? ids->cap * 2 : 2;
            ids->ids = bndr_realloc(ids->ids, (size_t)ids->cap * sizeof *ids->ids);
        }
        ids->ids[ids->n++] = c->id;
    }
    const char *mx = bndr_config_compat("tracking-table-max-keys");
    long long max = 1000000;
    if (mx)
        bndr_parse_ll(mx, strlen(mx), &max);
    while (max > 0 && table.n > (uint64_t)max) { /* as Redis: invalidate a random key */
        struct bndr_de *r = bndr_dict_random(&table);
        if (!r)
            break;
        char kbuf[512];
        size_t kn = r->klen < sizeof kbuf ? r->klen : sizeof kbuf;
        memcpy(kbuf, r->key, kn);
        if (r->klen > sizeof kbuf) { /* long key: drop without a message */
            struct bndr_de *u = bndr_dict_unlink(&table, r->key, r->klen);
            free_ids(u);
            bndr_free(u);
            continue;
        }
        bndr_tracking_invalidate(c->srv, kbuf, kn);
    }
}

static void bcast_remove(struct bndr_client *c)
{
    for (int i = 0; i < nbcast; i++)
        if (bcast[i] == c) {
            bcast[i] = bcast[--nbcast];
            return;
        }
}

static void tracking_off(struct bndr_client *c)
{
    if (c->trk & BNDR_TRK_BCAST)
        bcast_remove(c);
    for (int i = 0; i < c->ntrk_prefixes; i++)
        bndr_str_free(c->trk_prefixes[i]);
    bndr_free(c->trk_prefixes);
    c->trk_prefixes = NULL;
    c->ntrk_prefixes = 0;
    c->trk = 0;
    c->trk_redirect = 0;
}

void bndr_tracking_client_gone(struct bndr_client *c)
{
    tracking_off(c);
}

/* CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p]… [OPTIN] [OPTOUT] [NOLOOP] */
void bndr_tracking_cmd(struct bndr_client *c)
{
    struct bndr_server *s = c->srv;
    const struct bndr_arg *mode = &c->argv[2];
    int on = bndr_argeq(mode, "on");
    if (!on && !bndr_argeq(mode, "off")) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    unsigned f = 0;
    uint64_t redirect = 0;
    int np = 0;
    for (int i = 3; i < c->argc; i++) {
        const struct bndr_arg *a = &c->argv[i];
        if (bndr_argeq(a, "redirect") && i + 1 < c->argc) {
            long long id;
            if (bndr_get_ll_or_reply(c, &c->argv[++i], &id, NULL) < 0)
                return;
            if (id != (long long)c->id && !client_by_id(s, (uint64_t)id)) {
                bndr_add_error(c, "ERR The client ID you want redirect to does not exist");
                return;
            }
            redirect = (uint64_t)id;
        } else if (bndr_argeq(a, "bcast")) f |= BNDR_TRK_BCAST;
        else if (bndr_argeq(a, "optin")) f |= BNDR_TRK_OPTIN;
        else if (bndr_argeq(a, "optout")) f |= BNDR_TRK_OPTOUT;
        else if (bndr_argeq(a, "noloop")) f |= BNDR_TRK_NOLOOP;
        else if (bndr_argeq(a, "prefix") && i + 1 < c->argc) {
            i++;
            np++;
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return;
        }
    }
    if (!on) {
        tracking_off(c);
        bndr_add_ok(c);
        return;
    }
    if (np && !(f & BNDR_TRK_BCAST)) {
        bndr_add_error(c, "ERR PREFIX option requires BCAST mode to be enabled");
        return;
    }
    if ((c->trk & BNDR_TRK_ON) && ((c->trk ^ f) & BNDR_TRK_BCAST)) {
        bndr_add_error(c, "ERR You can't switch BCAST mode on/off before disabling tracking for "
                          "this client, and then re-enabling it with a different mode.");
        return;
    }
    if ((f & BNDR_TRK_OPTIN) && (f & BNDR_TRK_OPTOUT)) {
        bndr_add_error(c, "ERR You can't specify both OPTIN mode and OPTOUT mode");
        return;
    }
    if ((f & (BNDR_TRK_OPTIN | BNDR_TRK_OPTOUT)) && (f & BNDR_TRK_BCAST)) {
        bndr_add_error(c, "ERR OPTIN and OPTOUT are not compatible with BCAST");
        return;
    }
    if (np > 1024) {
        bndr_add_error(c, "ERR too many prefixes");
        return;
    }
    /* prefixes must not overlap one another (Redis' check) */
    for (int i = 3; i < c->argc; i++) {
        if (!bndr_argeq(&c->argv[i], "prefix"))
            continue;
        const struct bndr_arg *p = &c->argv[++i];
        for (int j = i + 1; j < c->argc; j++) {
            if (!bndr_argeq(&c->argv[j], "prefix"))
                continue;
            const struct bndr_arg *q = &c->argv[++j];
            size_t m = p->n < q->n ? p->n : q->n;
            if (!memcmp(p->p, q->p, m)) {
                bndr_add_errorf(c, "ERR Prefix '%.*s' overlaps with another provided prefix "
                                   "'%.*s'. Prefixes for a single client must not overlap.",
                                (int)(p->n > 128 ? 128 : p->n), p->p,
                                (int)(q->n > 128 ? 128 : q->n), q->p);
                return;
            }
        }
    }
    int was_bcast = (c->trk & BNDR_TRK_BCAST) != 0;
    c->trk = BNDR_TRK_ON | f;
    c->trk_redirect = redirect;
    for (int i = 3; i < c->argc; i++)
        if (bndr_argeq(&c->argv[i], "prefix")) {
            i++;
            c->trk_prefixes = bndr_realloc(c->trk_prefixes,
                                           (size_t)(c->ntrk_prefixes + 1) * sizeof *c->trk_prefixes);
            c->trk_prefixes[c->ntrk_prefixes++] = bndr_str_new(c->argv[i].p, c->argv[i].n);
        }
    if ((f & BNDR_TRK_BCAST) && !was_bcast) {
        if (nbcast == bcastcap) {
            bcastcap = bcastcap ? bcastcap * 2 : 4;
            bcast = bndr_realloc(bcast, (size_t)bcastcap * sizeof *bcast);
        }
        bcast[nbcast++] = c;
    }
    bndr_add_ok(c);
}

/* CLIENT CACHING YES|NO: for the next command only. */
void bndr_tracking_caching(struct bndr_client *c)
{
    unsigned t = c->trk;
    if (!(t & BNDR_TRK_ON) || !(t & (BNDR_TRK_OPTIN | BNDR_TRK_OPTOUT))) {
        bndr_add_error(c, "ERR CLIENT CACHING can be called only when the client is in tracking "
                          "mode with OPTIN or OPTOUT mode enabled");
        return;
    }
    if (bndr_argeq(&c->argv[2], "yes")) {
        if (!(t & BNDR_TRK_OPTIN)) {
            bndr_add_error(c, "ERR CLIENT CACHING YES is only valid when tracking is enabled in "
                              "OPTIN mode.");
            return;
        }
        c->trk |= BNDR_TRK_CACHING_YES | BNDR_TRK_CACHING_FRESH;
    } else if (bndr_argeq(&c->argv[2], "no")) {
        if (!(t & BNDR_TRK_OPTOUT)) {
            bndr_add_error(c, "ERR CLIENT CACHING NO is only valid when tracking is enabled in "
                              "OPTOUT mode.");
            return;
        }
        c->trk |= BNDR_TRK_CACHING_NO | BNDR_TRK_CACHING_FRESH;
    } else {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    bndr_add_ok(c);
}

void bndr_tracking_info(struct bndr_client *c)
{
    unsigned t = c->trk;
    static const struct {
        unsigned f;
        const char *n;
    } names[] = {{BNDR_TRK_BCAST, "bcast"},
                 {BNDR_TRK_OPTIN, "optin"},
                 {BNDR_TRK_OPTOUT, "optout"},
                 {BNDR_TRK_CACHING_YES, "caching-yes"},
                 {BNDR_TRK_CACHING_NO, "caching-no"},
                 {BNDR_TRK_NOLOOP, "noloop"}};
    int nf = 1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        nf += (t & names[i].f) != 0;
    int broken = (t & BNDR_TRK_ON) && c->trk_redirect && !client_by_id(c->srv, c->trk_redirect);
    nf += broken;
    bndr_add_map(c, 3);
    bndr_add_bulk_cstr(c, "flags");
    bndr_add_set(c, nf);
    bndr_add_bulk_cstr(c, (t & BNDR_TRK_ON) ? "on" : "off");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (t & names[i].f)
            bndr_add_bulk_cstr(c, names[i].n);
    if (broken)
        bndr_add_bulk_cstr(c, "broken_redirect");
    bndr_add_bulk_cstr(c, "redirect");
    bndr_add_ll(c, (t & BNDR_TRK_ON) ? (long long)c->trk_redirect : -1);
    bndr_add_bulk_cstr(c, "prefixes");
    bndr_add_array(c, c->ntrk_prefixes);
    for (int i = 0; i < c->ntrk_prefixes; i++)
        bndr_add_bulk(c, c->trk_prefixes[i]->buf, c->trk_prefixes[i]->len);
}

/* After any command: CLIENT CACHING applies to the one command that follows it. */
void bndr_tracking_after_command(struct bndr_client *c)
{
    if (c->trk & BNDR_TRK_CACHING_FRESH)
        c->trk &= ~BNDR_TRK_CACHING_FRESH;
    else
        c->trk &= ~(BNDR_TRK_CACHING_YES | BNDR_TRK_CACHING_NO);
}
