/* cmd_stream.c — Redis 7.0 streams: XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM, XREAD,
 * XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XGROUP, XINFO, XSETID; blocking reads on the
 * server's blocked-keys machinery; the stream's AOF rewrite and snapshot payload.
 *
 * Storage. A stream is an ordered array of nodes; a node holds up to stream-node-max-entries (100)
 * entries in id order, like Redis' radix tree of listpacks. Node boundaries matter to clients:
 * approximate trimming (MAXLEN ~ / MINID ~) removes whole nodes only, so its result equals Redis'
 * only when the nodes split where Redis' listpacks split. Each node therefore keeps the byte size
 * its listpack would have (node_bytes(): Redis' listpack element encodings, the master entry,
 * SAMEFIELDS compression, lp-count) and a new node starts exactly when Redis starts one
 * (bytes + new field/value bytes >= 4096, or live + deleted entries >= 100). Deleted entries stay
 * in their node flagged (as in the listpack) until the node has no live entry left (XDEL) or the
 * node is trimmed. An entry's fields and values are one packed blob: per element u32 length then
 * the bytes. Everything is allocated with bndr_malloc, so maxmemory and INFO see it.
 *
 * Consumer groups: sorted arrays by name (rax order: bytes, then length), PELs sorted arrays of
 * NACK pointers by id; a NACK lives in its group PEL and its consumer's PEL at once.
 *
 * Propagation (AOF), as Redis: XADD with the id it generated (and ~ trims rewritten as exact
 * trims to the resulting length / first id); XREADGROUP, XCLAIM and XAUTOCLAIM as
 * XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n FORCE JUSTID LASTID id per delivered id and
 * XGROUP SETID key group id ENTRIESREAD n; consumers created by a read as XGROUP CREATECONSUMER.
 * The AOF rewrite emits XADD per entry (XADD MAXLEN 0 0-1 x y for an empty stream), XSETID with
 * ENTRIESADDED and MAXDELETEDID, XGROUP CREATE … ENTRIESREAD, XCLAIM … FORCE JUSTID per NACK and
 * XGROUP CREATECONSUMER for consumers without pending entries.
 *
 * Snapshot payload (bndr_stream_dump / bndr_stream_restore; little-endian):
 *   u64 last.ms, last.seq, first.ms, first.seq, maxdel.ms, maxdel.seq, entries_added, length
 *   u64 nodes; per node: u64 master.ms, master.seq, u32 entries; per entry: u64 ms, seq,
 *       u8 deleted, u32 pairs, then 2*pairs x (u32 len, bytes)
 *   u64 groups; per group: u32 len, name, u64 last.ms, last.seq, i64 entries_read,
 *       u64 consumers; per consumer: u32 len, name, i64 seen_time
 *       u64 nacks; per nack: u64 ms, seq, i64 delivery_time, u64 delivery_count, u64 consumer index
 * restore validates everything (ids increasing, counts, indexes) and returns NULL on any error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bndr.h"
#include "cmds.h"

#define NODE_MAX_ENTRIES 100 /* stream-node-max-entries default */
#define NODE_MAX_BYTES 4096  /* stream-node-max-bytes default */
#define LP_MAX_SIZE ((size_t)1 << 30)
#define XREAD_BLOCKED_COUNT 1000

struct xid {
    uint64_t ms, seq;
};

struct xent {
    struct xid id;
    uint8_t deleted;
    uint32_t nf;   /* field/value pairs */
    uint32_t blen; /* bytes of blob */
    unsigned char *blob;
};

struct xnode {
    struct xid master;
    struct xent *e;
    uint32_t n, cap;
    uint32_t live, deleted;
    size_t fixed; /* listpack bytes except the live/deleted counters */
};

struct xcons;
struct xnack {
    struct xid id;
    int64_t dtime;
    uint64_t dcount;
    struct xcons *cons;
};
/* sorted by id; a[0..n) lives inside base[0..cap): removing near the front moves the start
 * (consumers usually ack the oldest entries first), so both ends are O(1) */
struct xpel {
    struct xnack **base, **a;
    size_t n, cap;
};
struct xcons {
    char *name;
    size_t nlen;
    int64_t seen;
    struct xpel pel;
};
struct xgroup {
    char *name;
    size_t nlen;
    struct xid last;
    int64_t entries_read; /* -1: unknown */
    struct xpel pel;
    struct xcons **cons;
    size_t nc, ccap;
};

struct bndr_stream {
    struct xnode **nodes;
    size_t nn, ncap;
    uint64_t length;
    struct xid last, first, maxdel;
    uint64_t entries_added;
    struct xgroup **groups;
    size_t ng, gcap;
};

/* blocked reader state (c->bstream) */
struct xblock {
    struct xid *ids; /* per key, the same order as c->bkeys was given */
    struct bndr_str **keys;
    int n;
    long long count;
    struct bndr_str *group, *consumer;
    int noack;
};

static const struct xid XID_MAX = {UINT64_MAX, UINT64_MAX};

/* ---------------------------------------------------------------- ids */
static int id_cmp(struct xid a, struct xid b)
{
    if (a.ms != b.ms) return a.ms < b.ms ? -1 : 1;
    if (a.seq != b.seq) return a.seq < b.seq ? -1 : 1;
    return 0;
}

static int id_zero(struct xid a)
{
    return a.ms == 0 && a.seq == 0;
}

static int id_incr(struct xid *id)
{
    if (id->seq == UINT64_MAX) {
        if (id->ms == UINT64_MAX) {
            id->ms = id->seq = 0;
            return -1;
        }
        id->ms++;
        id->seq = 0;
    } else {
        id->seq++;
    }
    return 0;
}

static int id_decr(struct xid *id)
{
    if (id->seq == 0) {
        if (id->ms == 0) {
            id->ms = id->seq = UINT64_MAX;
            return -1;
        }
        id->ms--;
        id->seq = UINT64_MAX;
    } else {
        id->seq--;
    }
    return 0;
}

static int id_fmt(char *buf, struct xid id)
{
    return snprintf(buf, 48, "%llu-%llu", (unsigned long long)id.ms, (unsigned long long)id.seq);
}

static void add_id(struct bndr_client *c, struct xid id)
{
    char b[48];
    int n = id_fmt(b, id);
    bndr_add_bulk(c, b, (size_t)n);
}

/* Redis string2ull: string2ll, else strtoull (which takes spaces, '+' and leading zeros). */
static int str2ull(const char *s, unsigned long long *v)
{
    long long ll;
    size_t n = strlen(s);
    if (bndr_parse_ll(s, n, &ll) == 0) {
        if (ll < 0) return 0;
        *v = (unsigned long long)ll;
        return 1;
    }
    errno = 0;
    char *end = NULL;
    *v = strtoull(s, &end, 10);
    if (errno == EINVAL || errno == ERANGE || !(*s != '\0' && *end == '\0')) return 0;
    return 1;
}

#define ERR_BADID "ERR Invalid stream ID specified as stream command argument"

/* streamGenericParseIDOrReply: c may be NULL (no reply). seq_given non-NULL allows <ms>-*. */
static int parse_id(struct bndr_client *c, const struct bndr_arg *a, struct xid *id,
                    uint64_t missing_seq, int strict, int *seq_given)
{
    char buf[128];
    if (a->n > sizeof(buf) - 1) goto invalid;
    memcpy(buf, a->p, a->n);
    buf[a->n] = 0;
    if (strict && (buf[0] == '-' || buf[0] == '+') && buf[1] == '\0') goto invalid;
    if (seq_given) *seq_given = 1;
    if (buf[0] == '-' && buf[1] == '\0') {
        id->ms = id->seq = 0;
        return 0;
    }
    if (buf[0] == '+' && buf[1] == '\0') {
        *id = XID_MAX;
        return 0;
    }
    unsigned long long ms, seq;
    char *dot = strchr(buf, '-');
    if (dot) *dot = 0;
    if (!str2ull(buf, &ms)) goto invalid;
    if (dot) {
        if (seq_given && dot[1] == '*' && dot[2] == 0) {
            seq = 0;
            *seq_given = 0;
        } else if (!str2ull(dot + 1, &seq)) {
            goto invalid;
        }
    } else {
        seq = missing_seq;
    }
    id->ms = ms;
    id->seq = seq;
    return 0;
invalid:
    if (c) bndr_add_error(c, ERR_BADID);
    return -1;
}

static int parse_strict(struct bndr_client *c, const struct bndr_arg *a, struct xid *id)
{
    return parse_id(c, a, id, 0, 1, NULL);
}

/* streamParseIntervalIDOrReply: '(' makes it exclusive (then strict). */
static int parse_interval(struct bndr_client *c, const struct bndr_arg *a, struct xid *id, int *ex,
                          uint64_t missing_seq)
{
    *ex = a->n > 1 && a->p[0] == '(';
    if (*ex) {
        struct bndr_arg t = {a->p + 1, a->n - 1};
        return parse_id(c, &t, id, missing_seq, 1, NULL);
    }
    return parse_id(c, a, id, missing_seq, 0, NULL);
}

/* ---------------------------------------------------------------- listpack sizes */
static size_t lp_backlen(size_t l)
{
    return l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5;
}

static size_t lp_int(int64_t v)
{
    size_t l;
    if (v >= 0 && v <= 127)
        l = 1;
    else if (v >= -4096 && v <= 4095)
        l = 2;
    else if (v >= -32768 && v <= 32767)
        l = 3;
    else if (v >= -8388608 && v <= 8388607)
        l = 4;
    else if (v >= INT32_MIN && v <= INT32_MAX)
        l = 5;
    else
        l = 9;
    return l + lp_backlen(l);
}

static size_t lp_str(const char *p, size_t n)
{
    long long v;
    if (n > 0 && n < 21 && bndr_parse_ll(p, n, &v) == 0) return lp_int(v);
    size_t l = n <= 63 ? 1 + n : n <= 4095 ? 2 + n : 5 + n;
    return l + lp_backlen(l);
}

static size_t node_bytes(const struct xnode *nd)
{
    return nd->fixed + lp_int(nd->live) + lp_int(nd->deleted);
}

/* blob element i (0-based over fields and values) */
static const unsigned char *blob_at(const struct xent *e, uint32_t i, uint32_t *len)
{
    const unsigned char *p = e->blob;
    for (uint32_t k = 0;; k++) {
        uint32_t l;
        memcpy(&l, p, 4);
        if (k == i) {
            *len = l;
            return p + 4;
        }
        p += 4 + l;
    }
}

/* ---------------------------------------------------------------- stream object */
struct bndr_stream *bndr_stream_new(void)
{
    return bndr_calloc(sizeof(struct bndr_stream));
}

static void node_free(struct xnode *nd)
{
    for (uint32_t i = 0; i < nd->n; i++)
        bndr_free(nd->e[i].blob);
    bndr_free(nd->e);
    bndr_free(nd);
}

static void pel_release(struct xpel *p, int free_nacks)
{
    if (free_nacks)
        for (size_t i = 0; i < p->n; i++)
            bndr_free(p->a[i]);
    bndr_free(p->base);
    p->base = p->a = NULL;
    p->n = p->cap = 0;
}

static void cons_free(struct xcons *k)
{
    pel_release(&k->pel, 0);
    bndr_free(k->name);
    bndr_free(k);
}

static void group_free(struct xgroup *g)
{
    pel_release(&g->pel, 1);
    for (size_t i = 0; i < g->nc; i++)
        cons_free(g->cons[i]);
    bndr_free(g->cons);
    bndr_free(g->name);
    bndr_free(g);
}

void bndr_stream_free(struct bndr_stream *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->nn; i++)
        node_free(s->nodes[i]);
    bndr_free(s->nodes);
    for (size_t i = 0; i < s->ng; i++)
        group_free(s->groups[i]);
    bndr_free(s->groups);
    bndr_free(s);
}

size_t bndr_stream_usage(const struct bndr_stream *s)
{
    size_t sz = sizeof(*s) + s->ncap * sizeof(void *);
    for (size_t i = 0; i < s->nn; i++) {
        struct xnode *nd = s->nodes[i];
        sz += sizeof(*nd) + nd->cap * sizeof(struct xent);
        for (uint32_t k = 0; k < nd->n; k++)
            sz += nd->e[k].blen;
    }
    for (size_t i = 0; i < s->ng; i++) {
        struct xgroup *g = s->groups[i];
        sz += sizeof(*g) + g->nlen + g->pel.n * (sizeof(struct xnack) + 2 * sizeof(void *));
        for (size_t k = 0; k < g->nc; k++)
            sz += sizeof(struct xcons) + g->cons[k]->nlen;
    }
    return sz;
}

/* ---------------------------------------------------------------- positions */
struct xpos {
    size_t ni;
    uint32_t ei;
};

/* last node whose master <= id, or (size_t)-1 */
static size_t node_le(const struct bndr_stream *s, struct xid id)
{
    size_t lo = 0, hi = s->nn;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (id_cmp(s->nodes[mid]->master, id) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? (size_t)-1 : lo - 1;
}

/* first live entry with id >= target */
static int find_ge(const struct bndr_stream *s, struct xid id, struct xpos *p)
{
    size_t ni = node_le(s, id);
    uint32_t ei = 0;
    if (ni == (size_t)-1) {
        ni = 0;
    } else {
        struct xnode *nd = s->nodes[ni];
        uint32_t lo = 0, hi = nd->n;
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (id_cmp(nd->e[mid].id, id) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        ei = lo;
    }
    for (; ni < s->nn; ni++, ei = 0)
        for (; ei < s->nodes[ni]->n; ei++)
            if (!s->nodes[ni]->e[ei].deleted) {
                p->ni = ni;
                p->ei = ei;
                return 1;
            }
    return 0;
}

/* last live entry with id <= target */
static int find_le(const struct bndr_stream *s, struct xid id, struct xpos *p)
{
    size_t ni = node_le(s, id);
    if (ni == (size_t)-1) return 0;
    struct xnode *nd = s->nodes[ni];
    uint32_t lo = 0, hi = nd->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (id_cmp(nd->e[mid].id, id) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    long ei = (long)lo - 1;
    for (;;) {
        for (; ei >= 0; ei--)
            if (!s->nodes[ni]->e[ei].deleted) {
                p->ni = ni;
                p->ei = (uint32_t)ei;
                return 1;
            }
        if (ni == 0) return 0;
        ni--;
        ei = (long)s->nodes[ni]->n - 1;
    }
}

static int pos_next(const struct bndr_stream *s, struct xpos *p)
{
    size_t ni = p->ni;
    uint32_t ei = p->ei + 1;
    for (; ni < s->nn; ni++, ei = 0)
        for (; ei < s->nodes[ni]->n; ei++)
            if (!s->nodes[ni]->e[ei].deleted) {
                p->ni = ni;
                p->ei = ei;
                return 1;
            }
    return 0;
}

static int pos_prev(const struct bndr_stream *s, struct xpos *p)
{
    size_t ni = p->ni;
    long ei = (long)p->ei - 1;
    for (;;) {
        for (; ei >= 0; ei--)
            if (!s->nodes[ni]->e[ei].deleted) {
                p->ni = ni;
                p->ei = (uint32_t)ei;
                return 1;
            }
        if (ni == 0) return 0;
        ni--;
        ei = (long)s->nodes[ni]->n - 1;
    }
}

#define POS_ENT(s, p) (&(s)->nodes[(p).ni]->e[(p).ei])

static struct xent *lookup_entry(const struct bndr_stream *s, struct xid id, struct xpos *pp)
{
    struct xpos p;
    if (!find_ge(s, id, &p) || id_cmp(POS_ENT(s, p)->id, id) != 0) return NULL;
    if (pp) *pp = p;
    return POS_ENT(s, p);
}

static struct xid first_valid(const struct bndr_stream *s)
{
    struct xpos p;
    if (find_ge(s, (struct xid){0, 0}, &p)) return POS_ENT(s, p)->id;
    return XID_MAX;
}

static struct xid last_valid(const struct bndr_stream *s)
{
    struct xpos p;
    if (find_le(s, XID_MAX, &p)) return POS_ENT(s, p)->id;
    return (struct xid){0, 0};
}

/* ---------------------------------------------------------------- append / delete / trim */
static size_t entry_bytes(const struct xnode *nd, const struct xent *e, int same)
{
    size_t b = lp_int(e->deleted | (same ? 2 : 0));
    b += lp_int((int64_t)(e->id.ms - nd->master.ms));
    b += lp_int((int64_t)(e->id.seq - nd->master.seq));
    if (!same) b += lp_int(e->nf);
    for (uint32_t i = 0; i < e->nf * 2; i++) {
        if (same && (i & 1) == 0) continue;
        uint32_t l;
        const unsigned char *p = blob_at(e, i, &l);
        b += lp_str((const char *)p, l);
    }
    b += lp_int(same ? (int64_t)e->nf + 3 : 2 * (int64_t)e->nf + 4);
    return b;
}

static int same_fields(const struct xnode *nd, const struct xent *e)
{
    const struct xent *m = &nd->e[0];
    if (m->nf != e->nf) return 0;
    for (uint32_t i = 0; i < e->nf; i++) {
        uint32_t a, b;
        const unsigned char *pa = blob_at(m, 2 * i, &a), *pb = blob_at(e, 2 * i, &b);
        if (a != b || memcmp(pa, pb, a) != 0) return 0;
    }
    return 1;
}

/* Appends an entry (id > last id checked by the caller); takes the blob. */
static void stream_append(struct bndr_stream *s, struct xid id, uint32_t nf, unsigned char *blob,
                          uint32_t blen, size_t totelelen)
{
    struct xnode *nd = s->nn ? s->nodes[s->nn - 1] : NULL;
    long long maxb = bndr_srv ? bndr_srv->cfg.stream_node_max_bytes : NODE_MAX_BYTES;
    long long maxe = bndr_srv ? bndr_srv->cfg.stream_node_max_entries : NODE_MAX_ENTRIES;
    if (maxb <= 0 || (size_t)maxb > LP_MAX_SIZE) maxb = (long long)LP_MAX_SIZE;
    if (nd && (node_bytes(nd) + totelelen >= (size_t)maxb ||
               (maxe > 0 && nd->live + nd->deleted >= (uint64_t)maxe)))
        nd = NULL;
    struct xent e = {id, 0, nf, blen, blob};
    if (!nd) {
        nd = bndr_calloc(sizeof *nd);
        nd->master = id;
        if (s->nn == s->ncap) {
            s->ncap = s->ncap ? s->ncap * 2 : 4;
            s->nodes = bndr_realloc(s->nodes, s->ncap * sizeof(*s->nodes));
        }
        s->nodes[s->nn++] = nd;
        nd->fixed = 7 + lp_int(nf) + lp_int(0);
        for (uint32_t i = 0; i < nf; i++) {
            uint32_t l;
            const unsigned char *p = blob_at(&e, 2 * i, &l);
            nd->fixed += lp_str((const char *)p, l);
        }
    }
    if (nd->n == nd->cap) {
        nd->cap = nd->cap ? nd->cap * 2 : 4;
        nd->e = bndr_realloc(nd->e, nd->cap * sizeof(*nd->e));
    }
    int same = nd->n == 0 || same_fields(nd, &e);
    nd->e[nd->n++] = e;
    nd->fixed += entry_bytes(nd, &e, same);
    nd->live++;
    s->length++;
    s->entries_added++;
    s->last = id;
    if (s->length == 1) s->first = id;
}

static void node_remove(struct bndr_stream *s, size_t ni)
{
    node_free(s->nodes[ni]);
    memmove(&s->nodes[ni], &s->nodes[ni + 1], (s->nn - ni - 1) * sizeof(*s->nodes));
    s->nn--;
}

static void update_first(struct bndr_stream *s)
{
    if (s->length)
        s->first = first_valid(s);
    else
        s->first = (struct xid){0, 0};
}

/* Deletes a live entry (streamIteratorRemoveEntry). */
static void entry_delete(struct bndr_stream *s, struct xpos p)
{
    struct xnode *nd = s->nodes[p.ni];
    if (nd->live == 1) {
        node_remove(s, p.ni);
    } else {
        nd->e[p.ei].deleted = 1;
        nd->live--;
        nd->deleted++;
    }
    s->length--;
}

enum { TRIM_NONE = 0, TRIM_MAXLEN, TRIM_MINID };
struct trim_args {
    int strategy, approx;
    long long maxlen, limit;
    struct xid minid;
    int arg_idx; /* argv index of the threshold */
    int id_given, seq_given, nomkstream;
    struct xid id;
};

static int64_t stream_trim(struct bndr_stream *s, const struct trim_args *a)
{
    if (a->strategy == TRIM_NONE) return 0;
    int64_t deleted = 0;
    size_t ni = 0;
    while (ni < s->nn) {
        if (a->strategy == TRIM_MAXLEN && s->length <= (uint64_t)a->maxlen) break;
        struct xnode *nd = s->nodes[ni];
        int64_t entries = nd->live;
        if (a->limit && deleted + entries > a->limit) break;
        int remove;
        if (a->strategy == TRIM_MAXLEN)
            remove = s->length - (uint64_t)entries >= (uint64_t)a->maxlen;
        else
            remove = id_cmp(nd->e[nd->n - 1].id, a->minid) < 0;
        if (remove) {
            s->length -= (uint64_t)entries;
            deleted += entries;
            node_remove(s, ni);
            continue;
        }
        if (a->approx) break;
        int64_t from_lp = 0;
        for (uint32_t k = 0; k < nd->n; k++) {
            struct xent *e = &nd->e[k];
            int stop = a->strategy == TRIM_MAXLEN ? s->length <= (uint64_t)a->maxlen
                                                  : id_cmp(e->id, a->minid) >= 0;
            if (stop) break;
            if (!e->deleted) {
                e->deleted = 1;
                from_lp++;
                s->length--;
            }
        }
        nd->live -= (uint32_t)from_lp;
        nd->deleted += (uint32_t)from_lp;
        deleted += from_lp;
        break;
    }
    update_first(s);
    return deleted;
}

/* ---------------------------------------------------------------- groups, consumers, PELs */
static int name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int r = memcmp(a, b, an < bn ? an : bn);
    if (r) return r;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

static size_t group_pos(const struct bndr_stream *s, const char *n, size_t len, int *found)
{
    size_t lo = 0, hi = s->ng;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = name_cmp(s->groups[mid]->name, s->groups[mid]->nlen, n, len);
        if (r == 0) {
            *found = 1;
            return mid;
        }
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static struct xgroup *group_find(const struct bndr_stream *s, const struct bndr_arg *name)
{
    if (!s) return NULL;
    int f;
    size_t i = group_pos(s, name->p, name->n, &f);
    return f ? s->groups[i] : NULL;
}

static struct xgroup *group_create(struct bndr_stream *s, const char *n, size_t len, struct xid id,
                                   int64_t entries_read)
{
    int f;
    size_t i = group_pos(s, n, len, &f);
    if (f) return NULL;
    struct xgroup *g = bndr_calloc(sizeof *g);
    g->name = bndr_memdup(n, len);
    g->nlen = len;
    g->last = id;
    g->entries_read = entries_read;
    if (s->ng == s->gcap) {
        s->gcap = s->gcap ? s->gcap * 2 : 4;
        s->groups = bndr_realloc(s->groups, s->gcap * sizeof(*s->groups));
    }
    memmove(&s->groups[i + 1], &s->groups[i], (s->ng - i) * sizeof(*s->groups));
    s->groups[i] = g;
    s->ng++;
    return g;
}

static size_t cons_pos(const struct xgroup *g, const char *n, size_t len, int *found)
{
    size_t lo = 0, hi = g->nc;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = name_cmp(g->cons[mid]->name, g->cons[mid]->nlen, n, len);
        if (r == 0) {
            *found = 1;
            return mid;
        }
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static struct xcons *cons_find(struct xgroup *g, const char *n, size_t len, int refresh)
{
    int f;
    size_t i = cons_pos(g, n, len, &f);
    if (!f) return NULL;
    if (refresh) g->cons[i]->seen = (int64_t)bndr_mstime();
    return g->cons[i];
}

static struct xcons *cons_create(struct xgroup *g, const char *n, size_t len)
{
    int f;
    size_t i = cons_pos(g, n, len, &f);
    if (f) return NULL;
    struct xcons *k = bndr_calloc(sizeof *k);
    k->name = bndr_memdup(n, len);
    k->nlen = len;
    k->seen = (int64_t)bndr_mstime();
    if (g->nc == g->ccap) {
        g->ccap = g->ccap ? g->ccap * 2 : 4;
        g->cons = bndr_realloc(g->cons, g->ccap * sizeof(*g->cons));
    }
    memmove(&g->cons[i + 1], &g->cons[i], (g->nc - i) * sizeof(*g->cons));
    g->cons[i] = k;
    g->nc++;
    return k;
}

static size_t pel_pos(const struct xpel *p, struct xid id, int *found)
{
    size_t lo = 0, hi = p->n;
    if (hi && id_cmp(p->a[hi - 1]->id, id) < 0) {
        *found = 0;
        return hi;
    }
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = id_cmp(p->a[mid]->id, id);
        if (r == 0) {
            *found = 1;
            return mid;
        }
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static struct xnack *pel_find(const struct xpel *p, struct xid id)
{
    int f;
    size_t i = pel_pos(p, id, &f);
    return f ? p->a[i] : NULL;
}

static void pel_insert(struct xpel *p, struct xnack *nk)
{
    int f;
    size_t i = pel_pos(p, nk->id, &f);
    if (f) return;
    size_t off = (size_t)(p->a - p->base);
    if (off > 0 && i < p->n / 2) { /* near the front (XCLAIM of old entries): use the free front */
        memmove(&p->a[-1], &p->a[0], i * sizeof(*p->a));
        p->a--;
        p->a[i] = nk;
        p->n++;
        return;
    }
    if (off + p->n == p->cap) {
        if (off > p->n) { /* mostly free space in front: slide back */
            memmove(p->base, p->a, p->n * sizeof(*p->a));
        } else {
            p->cap = p->cap ? p->cap * 2 : 8;
            struct xnack **nb = bndr_malloc(p->cap * sizeof(*nb));
            if (p->n) memcpy(nb, p->a, p->n * sizeof(*nb));
            bndr_free(p->base);
            p->base = nb;
        }
        p->a = p->base;
    }
    memmove(&p->a[i + 1], &p->a[i], (p->n - i) * sizeof(*p->a));
    p->a[i] = nk;
    p->n++;
}

static void pel_remove(struct xpel *p, struct xid id)
{
    int f;
    size_t i = pel_pos(p, id, &f);
    if (!f) return;
    if (i < p->n / 2) {
        memmove(&p->a[1], &p->a[0], i * sizeof(*p->a));
        p->a++;
    } else {
        memmove(&p->a[i], &p->a[i + 1], (p->n - i - 1) * sizeof(*p->a));
    }
    p->n--;
    if (p->n == 0) pel_release(p, 0);
}

/* NACK gone from both PELs and freed */
static void nack_drop(struct xgroup *g, struct xnack *nk)
{
    struct xid id = nk->id;
    if (nk->cons) pel_remove(&nk->cons->pel, id);
    pel_remove(&g->pel, id);
    bndr_free(nk);
}

/* ---------------------------------------------------------------- lag / entries-read */
static int range_has_tombstones(const struct bndr_stream *s, const struct xid *start)
{
    if (!s->length || id_zero(s->maxdel)) return 0;
    if (id_cmp(s->first, s->maxdel) > 0) return 0;
    struct xid st = start ? *start : (struct xid){0, 0};
    return id_cmp(st, s->maxdel) <= 0;
}

static int64_t distance_from_first(const struct bndr_stream *s, struct xid id)
{
    if (!s->entries_added) return 0;
    if (!s->length && id_cmp(id, s->last) < 1) return (int64_t)s->entries_added;
    int cl = id_cmp(id, s->last);
    if (cl == 0) return (int64_t)s->entries_added;
    if (cl > 0) return -1;
    int cf = id_cmp(id, s->first);
    if (id_zero(s->maxdel) || id_cmp(s->maxdel, s->first) < 0) {
        if (cf < 0) return (int64_t)(s->entries_added - s->length);
        if (cf == 0) return (int64_t)(s->entries_added - s->length + 1);
    }
    return -1;
}

static void add_lag(struct bndr_client *c, const struct bndr_stream *s, const struct xgroup *g)
{
    if (!s->entries_added) {
        bndr_add_ll(c, 0);
    } else if (g->entries_read != -1 && !range_has_tombstones(s, &g->last)) {
        bndr_add_ll(c, (long long)s->entries_added - g->entries_read);
    } else {
        int64_t er = distance_from_first(s, g->last);
        if (er != -1)
            bndr_add_ll(c, (long long)s->entries_added - er);
        else
            bndr_add_null(c);
    }
}

/* ---------------------------------------------------------------- replies and propagation */
static void add_entry(struct bndr_client *c, const struct xent *e)
{
    bndr_add_array(c, 2);
    add_id(c, e->id);
    bndr_add_array(c, (long)e->nf * 2);
    const unsigned char *p = e->blob;
    for (uint32_t i = 0; i < e->nf * 2; i++) {
        uint32_t l;
        memcpy(&l, p, 4);
        bndr_add_bulk(c, p + 4, l);
        p += 4 + l;
    }
}

static void prop_xclaim(struct bndr_server *srv, const struct bndr_arg *key, const struct xgroup *g,
                        struct xid id, const struct xnack *nk)
{
    char ids[48], t[24], rc[24], last[48];
    int idn = id_fmt(ids, id), tn = bndr_fmt_ll(t, nk->dtime),
        rcn = bndr_fmt_ll(rc, (long long)nk->dcount), ln = id_fmt(last, g->last);
    struct bndr_arg a[14] = {{(char *)"XCLAIM", 6},      *key,
                             {g->name, g->nlen},         {nk->cons->name, nk->cons->nlen},
                             {(char *)"0", 1},           {ids, (size_t)idn},
                             {(char *)"TIME", 4},        {t, (size_t)tn},
                             {(char *)"RETRYCOUNT", 10}, {rc, (size_t)rcn},
                             {(char *)"FORCE", 5},       {(char *)"JUSTID", 6},
                             {(char *)"LASTID", 6},      {last, (size_t)ln}};
    bndr_propagate(srv, 14, a);
}

static void prop_setid(struct bndr_server *srv, const struct bndr_arg *key, const struct xgroup *g)
{
    char last[48], er[24];
    int ln = id_fmt(last, g->last), en = bndr_fmt_ll(er, g->entries_read);
    struct bndr_arg a[7] = {
        {(char *)"XGROUP", 6}, {(char *)"SETID", 5}, *key,
        {g->name, g->nlen},    {last, (size_t)ln},   {(char *)"ENTRIESREAD", 11},
        {er, (size_t)en}};
    bndr_propagate(srv, 7, a);
}

/* a NACK dropped because its entry is gone: XACK reproduces that on replay (Redis propagates an
 * XCLAIM that the replay drops; bunder's loader keeps FORCEd NACKs of missing entries, see xclaim)
 */
static void prop_xack(struct bndr_server *srv, const struct bndr_arg *key, const struct xgroup *g,
                      struct xid id)
{
    char ids[48];
    int idn = id_fmt(ids, id);
    struct bndr_arg a[4] = {{(char *)"XACK", 4}, *key, {g->name, g->nlen}, {ids, (size_t)idn}};
    bndr_propagate(srv, 4, a);
}

static void prop_createconsumer(struct bndr_server *srv, const struct bndr_arg *key,
                                const struct xgroup *g, const struct xcons *k)
{
    struct bndr_arg a[5] = {{(char *)"XGROUP", 6},
                            {(char *)"CREATECONSUMER", 14},
                            *key,
                            {g->name, g->nlen},
                            {k->name, k->nlen}};
    bndr_propagate(srv, 5, a);
}

/* streamReplyWithRange: entries in [start, end] (reverse when rev), at most count (0: all). With
 * a group: the group's last id and entries_read advance, NACKs are created (unless noack) and
 * everything propagates. raw: no outer array (one entry expected). Returns entries emitted. */
static size_t reply_range(struct bndr_client *c, struct bndr_stream *s, struct xid start,
                          struct xid end, long long count, int rev, struct xgroup *g,
                          struct xcons *k, int noack, const struct bndr_arg *key, int raw)
{
    size_t h = raw ? 0 : bndr_add_deferred_len(c);
    size_t n = 0;
    struct xpos p;
    int ok = rev ? find_le(s, end, &p) : find_ge(s, start, &p);
    int prop_last = 0;
    while (ok && (!count || (long long)n < count)) {
        struct xent *e = POS_ENT(s, p);
        if (rev ? id_cmp(e->id, start) < 0 : id_cmp(e->id, end) > 0) break;
        struct xid id = e->id;
        if (g && id_cmp(id, g->last) > 0) {
            if (g->entries_read != -1 && !range_has_tombstones(s, &id))
                g->entries_read++;
            else if (s->entries_added)
                g->entries_read = distance_from_first(s, id);
            g->last = id;
            prop_last = 1;
        }
        add_entry(c, e);
        n++;
        if (g && !noack) {
            struct xnack *nk = pel_find(&g->pel, id);
            int64_t now = (int64_t)bndr_mstime();
            if (nk) {
                pel_remove(&nk->cons->pel, id);
                nk->cons = k;
                nk->dtime = now;
                nk->dcount = 1;
                pel_insert(&k->pel, nk);
            } else {
                nk = bndr_malloc(sizeof *nk);
                nk->id = id;
                nk->dtime = now;
                nk->dcount = 1;
                nk->cons = k;
                pel_insert(&g->pel, nk);
                pel_insert(&k->pel, nk);
            }
            prop_xclaim(c->srv, key, g, id, nk);
        }
        ok = rev ? pos_prev(s, &p) : pos_next(s, &p);
    }
    if (g && prop_last) prop_setid(c->srv, key, g);
    if (!raw) bndr_set_deferred_len(c, h, (long)n, '*');
    return n;
}

/* one entry by id, raw; 0 if it does not exist */
static size_t reply_one(struct bndr_client *c, struct bndr_stream *s, struct xid id)
{
    struct xent *e = lookup_entry(s, id, NULL);
    if (!e) return 0;
    add_entry(c, e);
    return 1;
}

static struct bndr_stream *get_stream(struct bndr_client *c, const struct bndr_arg *key, int write,
                                      int *wrong)
{
    struct bndr_obj *o = bndr_lookup_type(c, key, BNDR_STREAM, write, wrong);
    return o ? o->u.x : NULL;
}

static void ready(struct bndr_client *c, const struct bndr_arg *key)
{
    bndr_signal_list_ready(c->srv, key->p, key->n);
}

/* ---------------------------------------------------------------- XADD / XTRIM */
static int parse_add_trim(struct bndr_client *c, struct trim_args *a, int xadd)
{
    memset(a, 0, sizeof *a);
    int limit_given = 0, i = 2;
    for (; i < c->argc; i++) {
        int more = c->argc - 1 - i;
        struct bndr_arg *o = &c->argv[i];
        if (xadd && o->n == 1 && o->p[0] == '*') {
            break;
        } else if (bndr_argeq(o, "maxlen") && more) {
            if (a->strategy != TRIM_NONE) {
                bndr_add_error(c, "ERR syntax error, MAXLEN and MINID options at the same time are "
                                  "not compatible");
                return -1;
            }
            a->approx = 0;
            struct bndr_arg *nx = &c->argv[i + 1];
            if (more >= 2 && nx->n == 1 && nx->p[0] == '~') {
                a->approx = 1;
                i++;
            } else if (more >= 2 && nx->n == 1 && nx->p[0] == '=') {
                i++;
            }
            if (bndr_get_ll_or_reply(c, &c->argv[i + 1], &a->maxlen, NULL) < 0) return -1;
            if (a->maxlen < 0) {
                bndr_add_error(c, "ERR The MAXLEN argument must be >= 0.");
                return -1;
            }
            i++;
            a->strategy = TRIM_MAXLEN;
            a->arg_idx = i;
        } else if (bndr_argeq(o, "minid") && more) {
            if (a->strategy != TRIM_NONE) {
                bndr_add_error(c, "ERR syntax error, MAXLEN and MINID options at the same time are "
                                  "not compatible");
                return -1;
            }
            a->approx = 0;
            struct bndr_arg *nx = &c->argv[i + 1];
            if (more >= 2 && nx->n == 1 && nx->p[0] == '~') {
                a->approx = 1;
                i++;
            } else if (more >= 2 && nx->n == 1 && nx->p[0] == '=') {
                i++;
            }
            if (parse_strict(c, &c->argv[i + 1], &a->minid) < 0) return -1;
            i++;
            a->strategy = TRIM_MINID;
            a->arg_idx = i;
        } else if (bndr_argeq(o, "limit") && more) {
            if (bndr_get_ll_or_reply(c, &c->argv[i + 1], &a->limit, NULL) < 0) return -1;
            if (a->limit < 0) {
                bndr_add_error(c, "ERR The LIMIT argument must be >= 0.");
                return -1;
            }
            limit_given = 1;
            i++;
        } else if (xadd && bndr_argeq(o, "nomkstream")) {
            a->nomkstream = 1;
        } else if (xadd) {
            if (parse_id(c, o, &a->id, 0, 1, &a->seq_given) < 0) return -1;
            a->id_given = 1;
            break;
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return -1;
        }
    }
    if (a->limit && a->strategy == TRIM_NONE) {
        bndr_add_error(c, "ERR syntax error, LIMIT cannot be used without specifying a trimming "
                          "strategy");
        return -1;
    }
    if (!xadd && a->strategy == TRIM_NONE) {
        bndr_add_error(c, "ERR syntax error, XTRIM must be called with a trimming strategy");
        return -1;
    }
    if (c->srv->aof.loading) {
        a->limit = 0;
    } else if (limit_given) {
        if (!a->approx) {
            bndr_add_error(c,
                           "ERR syntax error, LIMIT cannot be used without the special ~ option");
            return -1;
        }
    } else {
        long long maxe = c->srv->cfg.stream_node_max_entries;
        a->limit = 0;
        if (a->approx) {
            a->limit = maxe > 0 && maxe <= 10000 ? 100 * maxe : 10000;
            if (maxe > 10000) a->limit = 1000000;
        }
    }
    return i;
}

/* argv copy with ~ made = and the threshold made exact (streamRewriteTrimArgument) */
static void rewrite_trim(struct bndr_arg *pa, const struct bndr_stream *s,
                         const struct trim_args *a, char *buf)
{
    if (!a->approx) return;
    pa[a->arg_idx - 1] = (struct bndr_arg){(char *)"=", 1};
    int n =
        a->strategy == TRIM_MAXLEN ? bndr_fmt_ll(buf, (long long)s->length) : id_fmt(buf, s->first);
    pa[a->arg_idx] = (struct bndr_arg){buf, (size_t)n};
}

void bndr_cmd_xadd(struct bndr_client *c)
{
    struct trim_args a;
    int i = parse_add_trim(c, &a, 1);
    if (i < 0) return;
    int fpos = i + 1;
    if (c->argc - fpos < 2 || ((c->argc - fpos) % 2) == 1) {
        bndr_add_error(c, "ERR wrong number of arguments for 'xadd' command");
        return;
    }
    if (a.id_given && a.seq_given && id_zero(a.id)) {
        bndr_add_error(c, "ERR The ID specified in XADD must be greater than 0-0");
        return;
    }
    int wrong;
    struct bndr_obj *o = bndr_lookup_type(c, &c->argv[1], BNDR_STREAM, 1, &wrong);
    if (wrong) return;
    if (!o) {
        if (a.nomkstream) {
            bndr_add_null(c);
            return;
        }
        o = bndr_obj_new(BNDR_STREAM);
        bndr_db_add(&c->srv->db, c->argv[1].p, c->argv[1].n, o);
    }
    struct bndr_stream *s = o->u.x;
    if (s->last.ms == UINT64_MAX && s->last.seq == UINT64_MAX) {
        bndr_add_error(c, "ERR The stream has exhausted the last possible ID, unable to add more "
                          "items");
        return;
    }
    struct xid id;
    if (a.id_given) {
        if (a.seq_given) {
            id = a.id;
        } else if (s->last.ms == a.id.ms) {
            if (s->last.seq == UINT64_MAX) { /* Redis 7.0 answers this with ERANGE's text */
                bndr_add_error(c, "ERR Elements are too large to be stored");
                return;
            }
            id = s->last;
            id.seq++;
        } else {
            id = a.id;
        }
    } else {
        uint64_t ms = bndr_mstime();
        if (ms > s->last.ms) {
            id.ms = ms;
            id.seq = 0;
        } else {
            id = s->last;
            id_incr(&id);
        }
    }
    if (id_cmp(id, s->last) <= 0) goto edom;
    size_t tot = 0, blen = 0;
    uint32_t nf = (uint32_t)((c->argc - fpos) / 2);
    for (int k = fpos; k < c->argc; k++) {
        tot += c->argv[k].n;
        blen += 4 + c->argv[k].n;
    }
    if (tot > LP_MAX_SIZE) {
        bndr_add_error(c, "ERR Elements are too large to be stored");
        return;
    }
    unsigned char *blob = bndr_malloc(blen ? blen : 1), *p = blob;
    for (int k = fpos; k < c->argc; k++) {
        uint32_t l = (uint32_t)c->argv[k].n;
        memcpy(p, &l, 4);
        memcpy(p + 4, c->argv[k].p, l);
        p += 4 + l;
    }
    stream_append(s, id, nf, blob, (uint32_t)blen, tot);
    add_id(c, id);
    c->srv->dirty++;
    ready(c, &c->argv[1]);
    if (a.strategy != TRIM_NONE) stream_trim(s, &a);
    /* propagate with the id made explicit and ~ trims made exact */
    struct bndr_arg *pa = bndr_malloc((size_t)c->argc * sizeof(*pa));
    memcpy(pa, c->argv, (size_t)c->argc * sizeof(*pa));
    char idb[48], tb[48];
    int idn = id_fmt(idb, id);
    if (i < c->argc) pa[i] = (struct bndr_arg){idb, (size_t)idn};
    rewrite_trim(pa, s, &a, tb);
    bndr_rewrite_prop(c, c->argc, pa);
    bndr_free(pa);
    return;
edom:
    bndr_add_error(c, "ERR The ID specified in XADD is equal or smaller than the target stream top "
                      "item");
}

void bndr_cmd_xtrim(struct bndr_client *c)
{
    struct trim_args a;
    if (parse_add_trim(c, &a, 0) < 0) return;
    int wrong;
    struct bndr_stream *s = get_stream(c, &c->argv[1], 1, &wrong);
    if (wrong) return;
    if (!s) {
        bndr_add_ll(c, 0);
        return;
    }
    int64_t deleted = stream_trim(s, &a);
    if (deleted) {
        c->srv->dirty += deleted;
        if (a.approx) {
            struct bndr_arg *pa = bndr_malloc((size_t)c->argc * sizeof(*pa));
            memcpy(pa, c->argv, (size_t)c->argc * sizeof(*pa));
            char tb[48];
            rewrite_trim(pa, s, &a, tb);
            bndr_rewrite_prop(c, c->argc, pa);
            bndr_free(pa);
        }
    }
    bndr_add_ll(c, deleted);
}

/* ---------------------------------------------------------------- XRANGE / XREVRANGE / XLEN / XDEL
 */
static void range_generic(struct bndr_client *c, int rev)
{
    struct bndr_arg *sa = rev ? &c->argv[3] : &c->argv[2], *ea = rev ? &c->argv[2] : &c->argv[3];
    struct xid start, end;
    int sex, eex;
    long long count = -1;
    if (parse_interval(c, sa, &start, &sex, 0) < 0) return;
    if (sex && id_incr(&start) < 0) {
        bndr_add_error(c, "ERR invalid start ID for the interval");
        return;
    }
    if (parse_interval(c, ea, &end, &eex, UINT64_MAX) < 0) return;
    if (eex && id_decr(&end) < 0) {
        bndr_add_error(c, "ERR invalid end ID for the interval");
        return;
    }
    for (int j = 4; j < c->argc; j++) {
        int more = c->argc - j - 1;
        if (bndr_argeq(&c->argv[j], "count") && more >= 1) {
            if (bndr_get_ll_or_reply(c, &c->argv[j + 1], &count, NULL) < 0) return;
            if (count < 0) count = 0;
            j++;
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return;
        }
    }
    int wrong;
    struct bndr_stream *s = get_stream(c, &c->argv[1], 0, &wrong);
    if (wrong) return;
    if (!s) {
        bndr_add_array(c, 0);
        return;
    }
    if (count == 0) {
        bndr_add_null_array(c);
        return;
    }
    reply_range(c, s, start, end, count == -1 ? 0 : count, rev, NULL, NULL, 0, NULL, 0);
}

void bndr_cmd_xrange(struct bndr_client *c)
{
    range_generic(c, 0);
}
void bndr_cmd_xrevrange(struct bndr_client *c)
{
    range_generic(c, 1);
}

void bndr_cmd_xlen(struct bndr_client *c)
{
    int wrong;
    struct bndr_stream *s = get_stream(c, &c->argv[1], 0, &wrong);
    if (wrong) return;
    bndr_add_ll(c, s ? (long long)s->length : 0);
}

void bndr_cmd_xdel(struct bndr_client *c)
{
    int wrong;
    struct bndr_stream *s = get_stream(c, &c->argv[1], 1, &wrong);
    if (wrong) return;
    if (!s) {
        bndr_add_ll(c, 0);
        return;
    }
    int n = c->argc - 2;
    struct xid *ids = bndr_malloc((size_t)n * sizeof(*ids));
    for (int j = 0; j < n; j++)
        if (parse_strict(c, &c->argv[j + 2], &ids[j]) < 0) {
            bndr_free(ids);
            return;
        }
    long long deleted = 0;
    int first_entry = 0;
    for (int j = 0; j < n; j++) {
        struct xpos p;
        if (!lookup_entry(s, ids[j], &p)) continue;
        entry_delete(s, p);
        if (id_cmp(ids[j], s->first) == 0) first_entry = 1;
        if (id_cmp(ids[j], s->maxdel) > 0) s->maxdel = ids[j];
        deleted++;
    }
    bndr_free(ids);
    if (deleted) {
        if (s->length == 0)
            s->first = (struct xid){0, 0};
        else if (first_entry)
            s->first = first_valid(s);
        c->srv->dirty += deleted;
    }
    bndr_add_ll(c, deleted);
}

/* ---------------------------------------------------------------- XREAD / XREADGROUP */
static void xblock_free(struct xblock *b)
{
    if (!b) return;
    for (int i = 0; i < b->n; i++)
        bndr_str_free(b->keys[i]);
    bndr_free(b->keys);
    bndr_free(b->ids);
    if (b->group) bndr_str_free(b->group);
    if (b->consumer) bndr_str_free(b->consumer);
    bndr_free(b);
}

void bndr_stream_unblocked(struct bndr_client *c)
{
    xblock_free(c->bstream);
    c->bstream = NULL;
}

/* consumer of g named by name, created (and propagated) if missing; seen time refreshed */
static struct xcons *consumer_for_read(struct bndr_server *srv, const struct bndr_arg *key,
                                       struct xgroup *g, const char *name, size_t nlen)
{
    struct xcons *k = cons_find(g, name, nlen, 1);
    if (!k) {
        k = cons_create(g, name, nlen);
        prop_createconsumer(srv, key, g, k);
    }
    return k;
}

/* streamReplyWithRangeFromConsumerPEL */
static void reply_consumer_pel(struct bndr_client *c, struct bndr_stream *s, struct xid start,
                               long long count, struct xgroup *g, struct xcons *k,
                               const struct bndr_arg *key)
{
    int f;
    size_t i = pel_pos(&k->pel, start, &f);
    size_t h = bndr_add_deferred_len(c);
    long n = 0;
    for (; i < k->pel.n && (!count || n < count); i++) {
        struct xnack *nk = k->pel.a[i];
        if (!reply_one(c, s, nk->id)) {
            bndr_add_array(c, 2);
            add_id(c, nk->id);
            bndr_add_null_array(c);
        } else {
            nk->dtime = (int64_t)bndr_mstime();
            nk->dcount++;
            /* Redis does not propagate this; bunder does, so a restart keeps the counts */
            prop_xclaim(c->srv, key, g, nk->id, nk);
        }
        n++;
    }
    bndr_set_deferred_len(c, h, n, '*');
}

void bndr_cmd_xread(struct bndr_client *c)
{
    long long timeout = -1, count = 0;
    int streams_arg = 0, nstreams = 0, noack = 0;
    int group_mode = c->argv[0].n == 10;
    struct bndr_arg *gname = NULL, *cname = NULL;
    for (int i = 1; i < c->argc; i++) {
        int more = c->argc - i - 1;
        struct bndr_arg *o = &c->argv[i];
        if (bndr_argeq(o, "block") && more) {
            if ((c->flags & BNDR_CF_FAKE) && !c->srv->aof.loading) { /* a script's client */
                bndr_add_errorf(c, "ERR %.*s command is not allowed with BLOCK option from scripts",
                                (int)c->argv[0].n, c->argv[0].p);
                return;
            }
            i++;
            if (bndr_get_ll_or_reply(c, &c->argv[i], &timeout,
                                     "ERR timeout is not an integer or out of range") < 0)
                return;
            if (timeout < 0) {
                bndr_add_error(c, "ERR timeout is negative");
                return;
            }
            if (timeout > 0) {
                if (timeout > (long long)(INT64_MAX - (int64_t)bndr_mstime())) {
                    bndr_add_error(c, "ERR timeout is out of range");
                    return;
                }
                timeout += (long long)bndr_mstime();
            }
        } else if (bndr_argeq(o, "count") && more) {
            i++;
            if (bndr_get_ll_or_reply(c, &c->argv[i], &count, NULL) < 0) return;
            if (count < 0) count = 0;
        } else if (bndr_argeq(o, "streams") && more) {
            streams_arg = i + 1;
            nstreams = c->argc - streams_arg;
            if (nstreams % 2) {
                bndr_add_errorf(c,
                                "ERR Unbalanced '%s' list of streams: for each stream key an ID or "
                                "'%c' must be specified.",
                                group_mode ? "xreadgroup" : "xread", group_mode ? '>' : '$');
                return;
            }
            nstreams /= 2;
            break;
        } else if (bndr_argeq(o, "group") && more >= 2) {
            if (!group_mode) {
                bndr_add_error(c, "ERR The GROUP option is only supported by XREADGROUP. You "
                                  "called XREAD instead.");
                return;
            }
            gname = &c->argv[i + 1];
            cname = &c->argv[i + 2];
            i += 2;
        } else if (bndr_argeq(o, "noack")) {
            if (!group_mode) {
                bndr_add_error(c, "ERR The NOACK option is only supported by XREADGROUP. You "
                                  "called XREAD instead.");
                return;
            }
            noack = 1;
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return;
        }
    }
    if (streams_arg == 0) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    if (group_mode && !gname) {
        bndr_add_error(c, "ERR Missing GROUP option for XREADGROUP");
        return;
    }
    struct xid *ids = bndr_malloc((size_t)nstreams * sizeof(*ids));
    struct xgroup **groups = gname ? bndr_calloc((size_t)nstreams * sizeof(*groups)) : NULL;
    for (int j = 0; j < nstreams; j++) {
        struct bndr_arg *key = &c->argv[streams_arg + j],
                        *ida = &c->argv[streams_arg + nstreams + j];
        int wrong;
        struct bndr_stream *s = get_stream(c, key, 0, &wrong);
        if (wrong) goto out;
        if (gname) {
            struct xgroup *g = group_find(s, gname);
            if (!g) {
                bndr_add_errorf(c,
                                "NOGROUP No such key '%.*s' or consumer group '%.*s' in XREADGROUP "
                                "with GROUP option",
                                (int)key->n, key->p, (int)gname->n, gname->p);
                goto out;
            }
            groups[j] = g;
        }
        if (ida->n == 1 && ida->p[0] == '$') {
            if (group_mode) {
                bndr_add_error(c, "ERR The $ ID is meaningless in the context of XREADGROUP: you "
                                  "want to read the history of this consumer by specifying a "
                                  "proper ID, or use the > ID to get new messages. The $ ID would "
                                  "just return an empty result set.");
                goto out;
            }
            ids[j] = s ? s->last : (struct xid){0, 0};
            continue;
        }
        if (ida->n == 1 && ida->p[0] == '>') {
            if (!group_mode) {
                bndr_add_error(c, "ERR The > ID can be specified only when calling XREADGROUP "
                                  "using the GROUP <group> <consumer> option.");
                goto out;
            }
            ids[j] = XID_MAX;
            continue;
        }
        if (parse_strict(c, ida, &ids[j]) < 0) goto out;
    }
    size_t h = 0;
    long served = 0;
    for (int j = 0; j < nstreams; j++) {
        struct bndr_arg *key = &c->argv[streams_arg + j];
        struct bndr_obj *o = bndr_lookup_read(c, key);
        if (!o) continue;
        struct bndr_stream *s = o->u.x;
        struct xid gt = ids[j];
        int sync = 0, history = 0;
        if (groups) {
            if (gt.ms != UINT64_MAX || gt.seq != UINT64_MAX) {
                sync = history = 1;
            } else if (s->length) {
                struct xid maxid = last_valid(s);
                if (id_cmp(maxid, groups[j]->last) > 0) {
                    sync = 1;
                    gt = groups[j]->last;
                }
            }
        } else if (s->length) {
            if (id_cmp(last_valid(s), gt) > 0) sync = 1;
        }
        if (!sync) continue;
        if (++served == 1) h = bndr_add_deferred_len(c);
        struct xid start = gt;
        id_incr(&start);
        if (c->resp == 2) bndr_add_array(c, 2);
        bndr_add_bulk(c, key->p, key->n);
        if (groups) {
            struct xcons *k = consumer_for_read(c->srv, key, groups[j], cname->p, cname->n);
            if (history)
                reply_consumer_pel(c, s, start, count, groups[j], k, key);
            else
                reply_range(c, s, start, XID_MAX, count, 0, groups[j], k, noack, key, 0);
            c->srv->dirty++;
        } else {
            reply_range(c, s, start, XID_MAX, count, 0, NULL, NULL, 0, NULL, 0);
        }
    }
    if (served) {
        bndr_set_deferred_len(c, h, served, c->resp == 2 ? '*' : '%');
        if (group_mode) bndr_rewrite_prop(c, 0, NULL); /* its effects were propagated one by one */
        goto out;
    }
    if (timeout != -1 && !(c->flags & (BNDR_CF_IN_EXEC | BNDR_CF_FAKE))) {
        struct xblock *b = bndr_calloc(sizeof *b);
        b->n = nstreams;
        b->ids = ids;
        ids = NULL;
        b->keys = bndr_malloc((size_t)nstreams * sizeof(*b->keys));
        for (int j = 0; j < nstreams; j++)
            b->keys[j] = bndr_str_new(c->argv[streams_arg + j].p, c->argv[streams_arg + j].n);
        b->count = count ? count : XREAD_BLOCKED_COUNT;
        if (gname) {
            b->group = bndr_str_new(gname->p, gname->n);
            b->consumer = bndr_str_new(cname->p, cname->n);
            b->noack = noack;
        }
        bndr_block_client(c, &c->argv[streams_arg], nstreams, 0, (uint64_t)timeout);
        c->bstream = b;
        goto out;
    }
    bndr_add_null_array(c);
out:
    bndr_free(ids);
    bndr_free(groups);
}

void bndr_cmd_xreadgroup(struct bndr_client *c)
{
    bndr_cmd_xread(c);
}

/* Called by bndr_serve_ready_keys for a key holding a stream: serves the readers blocked on it
 * (serveClientsBlockedOnStreamKey). */
void bndr_stream_serve_ready(struct bndr_server *srv, const char *k, size_t kn)
{
    struct bndr_de *be = bndr_dict_find(&srv->blocking, k, kn);
    if (!be) return;
    struct bndr_pubsub_sub *w = be->v.p;
    int n = w->n;
    struct bndr_client **cl = bndr_malloc((size_t)n * sizeof(*cl));
    memcpy(cl, w->c, (size_t)n * sizeof(*cl));
    for (int i = 0; i < n; i++) {
        struct bndr_client *c = cl[i];
        struct xblock *b = c->bstream;
        if (!b || !(c->flags & BNDR_CF_BLOCKED) || c->db != srv->curdb) continue;
        struct bndr_de *e = bndr_db_find(&srv->db, k, kn);
        if (!e || BNDR_DE_OBJ(e)->type != BNDR_STREAM) {
            if (b->group) { /* as Redis 7.0: the key was deleted or replaced */
                bndr_add_error(c, "UNBLOCKED the stream key no longer exists");
                bndr_unblock_client(c, 0);
            }
            continue;
        }
        struct bndr_stream *s = BNDR_DE_OBJ(e)->u.x;
        int j = 0;
        while (j < b->n && !(b->keys[j]->len == kn && memcmp(b->keys[j]->buf, k, kn) == 0))
            j++;
        if (j == b->n) continue;
        struct xid gt = b->ids[j];
        struct xgroup *g = NULL;
        struct bndr_arg key = {(char *)k, kn};
        if (b->group) {
            struct bndr_arg gn = {b->group->buf, b->group->len};
            g = group_find(s, &gn);
            if (!g) {
                bndr_add_error(c, "NOGROUP the consumer group this client was blocked on no longer "
                                  "exists");
                bndr_unblock_client(c, 0);
                continue;
            }
            gt = g->last;
        }
        if (id_cmp(s->last, gt) <= 0) continue;
        struct xid start = gt;
        id_incr(&start);
        struct xcons *kc = NULL;
        if (g) kc = consumer_for_read(srv, &key, g, b->consumer->buf, b->consumer->len);
        if (c->resp == 2) {
            bndr_add_array(c, 1);
            bndr_add_array(c, 2);
        } else {
            bndr_add_map(c, 1);
        }
        bndr_add_bulk(c, k, kn);
        reply_range(c, s, start, XID_MAX, b->count, 0, g, kc, b->noack, &key, 0);
        if (g) srv->dirty++;
        bndr_unblock_client(c, 0);
    }
    bndr_free(cl);
}

/* ---------------------------------------------------------------- XACK / XPENDING */
static void nogroup(struct bndr_client *c, const struct bndr_arg *key, const struct bndr_arg *g)
{
    bndr_add_errorf(c, "NOGROUP No such key '%.*s' or consumer group '%.*s'", (int)key->n, key->p,
                    (int)g->n, g->p);
}

void bndr_cmd_xack(struct bndr_client *c)
{
    int wrong;
    struct bndr_stream *s = get_stream(c, &c->argv[1], 0, &wrong);
    if (wrong) return;
    struct xgroup *g = group_find(s, &c->argv[2]);
    if (!g) {
        bndr_add_ll(c, 0);
        return;
    }
    int n = c->argc - 3;
    struct xid *ids = bndr_malloc((size_t)n * sizeof(*ids));
    for (int j = 0; j < n; j++)
        if (parse_strict(c, &c->argv[j + 3], &ids[j]) < 0) {
            bndr_free(ids);
            return;
        }
    long long acked = 0;
    for (int j = 0; j < n; j++) {
        struct xnack *nk = pel_find(&g->pel, ids[j]);
        if (nk) {
            nack_drop(g, nk);
            acked++;
            c->srv->dirty++;
        }
    }
    bndr_free(ids);
    bndr_add_ll(c, acked);
}

void bndr_cmd_xpending(struct bndr_client *c)
{
    int justinfo = c->argc == 3;
    struct xid start = {0, 0}, end = {0, 0};
    long long count = 0, minidle = 0;
    int sex = 0, eex = 0;
    struct bndr_arg *cname = NULL;
    if (c->argc != 3 && (c->argc < 6 || c->argc > 9)) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    if (c->argc >= 6) {
        int si = 3;
        if (bndr_argeq(&c->argv[3], "idle")) {
            if (bndr_get_ll_or_reply(c, &c->argv[4], &minidle, NULL) < 0) return;
            if (c->argc < 8) {
                bndr_add_error(c, BNDR_ERR_SYNTAX);
                return;
            }
            si += 2;
        }
        if (bndr_get_ll_or_reply(c, &c->argv[si + 2], &count, NULL) < 0) return;
        if (count < 0) count = 0;
        if (parse_interval(c, &c->argv[si], &start, &sex, 0) < 0) return;
        if (sex && id_incr(&start) < 0) {
            bndr_add_error(c, "ERR invalid start ID for the interval");
            return;
        }
        if (parse_interval(c, &c->argv[si + 1], &end, &eex, UINT64_MAX) < 0) return;
        if (eex && id_decr(&end) < 0) {
            bndr_add_error(c, "ERR invalid end ID for the interval");
            return;
        }
        if (si + 3 < c->argc) cname = &c->argv[si + 3];
    }
    int wrong;
    struct bndr_stream *s = get_stream(c, &c->argv[1], 0, &wrong);
    if (wrong) return;
    struct xgroup *g = group_find(s, &c->argv[2]);
    if (!g) {
        nogroup(c, &c->argv[1], &c->argv[2]);
        return;
    }
    if (justinfo) {
        bndr_add_array(c, 4);
        bndr_add_ll(c, (long long)g->pel.n);
        if (g->pel.n == 0) {
            bndr_add_null(c);
            bndr_add_null(c);
            bndr_add_null_array(c);
            return;
        }
        add_id(c, g->pel.a[0]->id);
        add_id(c, g->pel.a[g->pel.n - 1]->id);
        size_t h = bndr_add_deferred_len(c);
        long n = 0;
        for (size_t i = 0; i < g->nc; i++) {
            struct xcons *k = g->cons[i];
            if (!k->pel.n) continue;
            bndr_add_array(c, 2);
            bndr_add_bulk(c, k->name, k->nlen);
            bndr_add_bulk_ll(c, (long long)k->pel.n);
            n++;
        }
        bndr_set_deferred_len(c, h, n, '*');
        return;
    }
    struct xpel *pel = &g->pel;
    if (cname) {
        struct xcons *k = cons_find(g, cname->p, cname->n, 0);
        if (!k) {
            bndr_add_array(c, 0);
            return;
        }
        pel = &k->pel;
    }
    int64_t now = (int64_t)bndr_mstime();
    int f;
    size_t i = pel_pos(pel, start, &f);
    size_t h = bndr_add_deferred_len(c);
    long n = 0;
    for (; count && i < pel->n && id_cmp(pel->a[i]->id, end) <= 0; i++) {
        struct xnack *nk = pel->a[i];
        if (minidle && now - nk->dtime < minidle) continue;
        n++;
        count--;
        bndr_add_array(c, 4);
        add_id(c, nk->id);
        bndr_add_bulk(c, nk->cons->name, nk->cons->nlen);
        int64_t el = now - nk->dtime;
        bndr_add_ll(c, el < 0 ? 0 : el);
        bndr_add_ll(c, (long long)nk->dcount);
    }
    bndr_set_deferred_len(c, h, n, '*');
}

/* ---------------------------------------------------------------- XCLAIM / XAUTOCLAIM */
void bndr_cmd_xclaim(struct bndr_client *c)
{
    int wrong;
    struct bndr_stream *s = get_stream(c, &c->argv[1], 0, &wrong);
    if (wrong) return;
    struct xgroup *g = group_find(s, &c->argv[2]);
    if (!g) {
        nogroup(c, &c->argv[1], &c->argv[2]);
        return;
    }
    long long minidle, retrycount = -1, dtime = -1;
    int force = 0, justid = 0;
    if (bndr_get_ll_or_reply(c, &c->argv[4], &minidle,
                             "ERR Invalid min-idle-time argument for XCLAIM") < 0)
        return;
    if (minidle < 0) minidle = 0;
    int j;
    struct xid tmp;
    for (j = 5; j < c->argc; j++)
        if (parse_strict(NULL, &c->argv[j], &tmp) < 0) break;
    int last_id_arg = j - 1;
    int64_t now = (int64_t)bndr_mstime();
    struct xid last_id = {0, 0};
    for (; j < c->argc; j++) {
        int more = c->argc - 1 - j;
        struct bndr_arg *o = &c->argv[j];
        if (bndr_argeq(o, "force")) {
            force = 1;
        } else if (bndr_argeq(o, "justid")) {
            justid = 1;
        } else if (bndr_argeq(o, "idle") && more) {
            j++;
            if (bndr_get_ll_or_reply(c, &c->argv[j], &dtime,
                                     "ERR Invalid IDLE option argument for XCLAIM") < 0)
                return;
            dtime = now - dtime;
        } else if (bndr_argeq(o, "time") && more) {
            j++;
            if (bndr_get_ll_or_reply(c, &c->argv[j], &dtime,
                                     "ERR Invalid TIME option argument for XCLAIM") < 0)
                return;
        } else if (bndr_argeq(o, "retrycount") && more) {
            j++;
            if (bndr_get_ll_or_reply(c, &c->argv[j], &retrycount,
                                     "ERR Invalid RETRYCOUNT option argument for XCLAIM") < 0)
                return;
        } else if (bndr_argeq(o, "lastid") && more) {
            j++;
            if (parse_strict(c, &c->argv[j], &last_id) < 0) return;
        } else {
            bndr_add_errorf(c, "ERR Unrecognized XCLAIM option '%.*s'", (int)o->n, o->p);
            return;
        }
    }
    int prop_last = 0;
    if (id_cmp(last_id, g->last) > 0) {
        g->last = last_id;
        prop_last = 1;
    }
    if (dtime != -1) {
        if (dtime < 0 || dtime > now) dtime = now;
    } else {
        dtime = now;
    }
    struct xcons *k = NULL;
    size_t h = bndr_add_deferred_len(c);
    long n = 0;
    for (j = 5; j <= last_id_arg; j++) {
        struct xid id;
        parse_strict(NULL, &c->argv[j], &id);
        struct xnack *nk = pel_find(&g->pel, id);
        /* the AOF (rewrite) keeps PEL entries whose stream entry was deleted: FORCE restores them
         */
        int keep = force && c->srv->aof.loading;
        if (!keep && !lookup_entry(s, id, NULL)) {
            if (nk) {
                prop_xack(c->srv, &c->argv[1], g, id);
                prop_last = 0;
                c->srv->dirty++;
                nack_drop(g, nk);
            }
            continue;
        }
        if (force && !nk) {
            nk = bndr_calloc(sizeof *nk);
            nk->id = id;
            nk->dtime = now;
            nk->dcount = 1;
            pel_insert(&g->pel, nk);
        }
        if (!nk) continue;
        if (nk->cons && minidle && now - nk->dtime < minidle) continue;
        if (!k && !(k = cons_find(g, c->argv[3].p, c->argv[3].n, 1)))
            k = cons_create(g, c->argv[3].p, c->argv[3].n);
        if (nk->cons != k && nk->cons) pel_remove(&nk->cons->pel, id);
        nk->dtime = dtime;
        if (retrycount >= 0)
            nk->dcount = (uint64_t)retrycount;
        else if (!justid)
            nk->dcount++;
        if (nk->cons != k) {
            nk->cons = k;
            pel_insert(&k->pel, nk);
        }
        if (justid)
            add_id(c, id);
        else if (!reply_one(c, s, id))
            bndr_add_null(c);
        n++;
        prop_xclaim(c->srv, &c->argv[1], g, id, nk);
        prop_last = 0;
        c->srv->dirty++;
    }
    if (prop_last) {
        prop_setid(c->srv, &c->argv[1], g);
        c->srv->dirty++;
    }
    bndr_set_deferred_len(c, h, n, '*');
    bndr_rewrite_prop(c, 0, NULL);
}

void bndr_cmd_xautoclaim(struct bndr_client *c)
{
    long long minidle, count = 100;
    struct xid start;
    int sex, justid = 0;
    if (bndr_get_ll_or_reply(c, &c->argv[4], &minidle,
                             "ERR Invalid min-idle-time argument for XAUTOCLAIM") < 0)
        return;
    if (minidle < 0) minidle = 0;
    if (parse_interval(c, &c->argv[5], &start, &sex, 0) < 0) return;
    if (sex && id_incr(&start) < 0) {
        bndr_add_error(c, "ERR invalid start ID for the interval");
        return;
    }
    for (int j = 6; j < c->argc; j++) {
        int more = c->argc - 1 - j;
        if (bndr_argeq(&c->argv[j], "count") && more) {
            long long maxc = INT64_MAX / 16;
            long long v;
            if (bndr_parse_ll(c->argv[j + 1].p, c->argv[j + 1].n, &v) < 0 || v < 1 || v > maxc) {
                bndr_add_error(c, "ERR COUNT must be > 0");
                return;
            }
            count = v;
            j++;
        } else if (bndr_argeq(&c->argv[j], "justid")) {
            justid = 1;
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return;
        }
    }
    int wrong;
    struct bndr_stream *s = get_stream(c, &c->argv[1], 0, &wrong);
    if (wrong) return;
    struct xgroup *g = group_find(s, &c->argv[2]);
    if (!g) {
        nogroup(c, &c->argv[1], &c->argv[2]);
        return;
    }
    long long attempts = count * 10;
    struct xcons *k = NULL;
    int64_t now = (int64_t)bndr_mstime();
    struct xid *deleted = bndr_malloc((size_t)(count < 1024 ? count : 1024) * sizeof(*deleted));
    size_t ndel = 0, delcap = (size_t)(count < 1024 ? count : 1024);
    struct xid *claimed = bndr_malloc((size_t)(count < 1024 ? count : 1024) * sizeof(*claimed));
    size_t ncl = 0, clcap = (size_t)(count < 1024 ? count : 1024);
    int f;
    size_t i = pel_pos(&g->pel, start, &f);
    long n = 0;
    while (attempts-- && count && i < g->pel.n) {
        struct xnack *nk = g->pel.a[i];
        struct xid id = nk->id;
        if (!lookup_entry(s, id, NULL)) {
            prop_xack(c->srv, &c->argv[1], g, id);
            c->srv->dirty++;
            nack_drop(g, nk);
            if (ndel == delcap) {
                delcap *= 2;
                deleted = bndr_realloc(deleted, delcap * sizeof(*deleted));
            }
            deleted[ndel++] = id;
            count--;
            continue; /* i now points at the next NACK */
        }
        i++;
        if (minidle && now - nk->dtime < minidle) continue;
        if (!k && !(k = cons_find(g, c->argv[3].p, c->argv[3].n, 1)))
            k = cons_create(g, c->argv[3].p, c->argv[3].n);
        if (nk->cons != k && nk->cons) pel_remove(&nk->cons->pel, id);
        nk->dtime = now;
        if (!justid) nk->dcount++;
        if (nk->cons != k) {
            nk->cons = k;
            pel_insert(&k->pel, nk);
        }
        if (ncl == clcap) {
            clcap *= 2;
            claimed = bndr_realloc(claimed, clcap * sizeof(*claimed));
        }
        claimed[ncl++] = id;
        n++;
        count--;
        prop_xclaim(c->srv, &c->argv[1], g, id, nk);
        c->srv->dirty++;
    }
    struct xid cursor = i < g->pel.n ? g->pel.a[i]->id : (struct xid){0, 0};
    bndr_add_array(c, 3);
    add_id(c, cursor);
    bndr_add_array(c, n);
    for (size_t d = 0; d < ncl; d++) {
        if (justid)
            add_id(c, claimed[d]);
        else
            reply_one(c, s, claimed[d]);
    }
    bndr_free(claimed);
    bndr_add_array(c, (long)ndel);
    for (size_t d = 0; d < ndel; d++)
        add_id(c, deleted[d]);
    bndr_free(deleted);
    bndr_rewrite_prop(c, 0, NULL);
}

/* ---------------------------------------------------------------- XGROUP */
static const char *xgroup_help[] = {
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
    NULL};

static const char *xinfo_help[] = {"XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                                   "CONSUMERS <key> <groupname>",
                                   "    Show consumers of <groupname>.",
                                   "GROUPS <key>",
                                   "    Show the stream consumer groups.",
                                   "STREAM <key> [FULL [COUNT <count>]",
                                   "    Show information about the stream.",
                                   "HELP",
                                   "    Prints this help.",
                                   NULL};

static void add_help(struct bndr_client *c, const char **lines)
{
    long n = 0;
    while (lines[n])
        n++;
    bndr_add_array(c, n);
    for (long i = 0; i < n; i++)
        bndr_add_status(c, lines[i]);
}

struct subcmd {
    const char *name;
    int arity;
};

/* container dispatch as Redis 7: unknown subcommand / arity of 'cmd|sub'. Returns the index or -1
 * (replied). */
static int subcmd_check(struct bndr_client *c, const char *cmd, const char *upper,
                        const struct subcmd *subs)
{
    for (int i = 0; subs[i].name; i++) {
        if (!bndr_argeq(&c->argv[1], subs[i].name)) continue;
        int ar = subs[i].arity;
        if ((ar > 0 && c->argc != ar) || (ar < 0 && c->argc < -ar)) {
            bndr_add_errorf(c, "ERR wrong number of arguments for '%s|%s' command", cmd,
                            subs[i].name);
            return -1;
        }
        return i;
    }
    bndr_add_errorf(c, "ERR unknown subcommand '%.*s'. Try %s HELP.",
                    (int)(c->argv[1].n > 128 ? 128 : c->argv[1].n), c->argv[1].p, upper);
    return -1;
}

static void subcmd_syntax(struct bndr_client *c, const char *upper)
{
    bndr_add_errorf(c,
                    "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try %s HELP.",
                    (int)(c->argv[1].n > 128 ? 128 : c->argv[1].n), c->argv[1].p, upper);
}

void bndr_cmd_xgroup(struct bndr_client *c)
{
    static const struct subcmd subs[] = {
        {"create", -5},     {"setid", -5}, {"destroy", 4}, {"createconsumer", 5},
        {"delconsumer", 5}, {"help", 2},   {NULL, 0}};
    int sc = subcmd_check(c, "xgroup", "XGROUP", subs);
    if (sc < 0) return;
    if (sc == 5) {
        add_help(c, xgroup_help);
        return;
    }
    int mkstream = 0;
    long long entries_read = -1;
    if (sc == 0 || sc == 1) {
        for (int i = 5; i < c->argc;) {
            if (sc == 0 && bndr_argeq(&c->argv[i], "mkstream")) {
                mkstream = 1;
                i++;
            } else if (bndr_argeq(&c->argv[i], "entriesread") && i + 1 < c->argc) {
                if (bndr_get_ll_or_reply(c, &c->argv[i + 1], &entries_read, NULL) < 0) return;
                if (entries_read < 0 && entries_read != -1) {
                    bndr_add_error(c, "ERR value for ENTRIESREAD must be positive or -1");
                    return;
                }
                i += 2;
            } else {
                subcmd_syntax(c, "XGROUP");
                return;
            }
        }
    }
    struct bndr_arg *key = &c->argv[2], *gname = &c->argv[3];
    int wrong;
    struct bndr_stream *s = get_stream(c, key, 1, &wrong);
    if (wrong) return;
    struct xgroup *g = NULL;
    if (!mkstream) {
        if (!s) {
            bndr_add_error(c, "ERR The XGROUP subcommand requires the key to exist. Note that for "
                              "CREATE you may want to use the MKSTREAM option to create an empty "
                              "stream automatically.");
            return;
        }
        g = group_find(s, gname);
        if (!g && (sc == 1 || sc == 3 || sc == 4)) {
            bndr_add_errorf(c, "NOGROUP No such consumer group '%.*s' for key name '%.*s'",
                            (int)gname->n, gname->p, (int)key->n, key->p);
            return;
        }
    }
    if (sc == 0) {
        if (c->argc > 8) {
            subcmd_syntax(c, "XGROUP");
            return;
        }
        struct xid id;
        if (c->argv[4].n == 1 && c->argv[4].p[0] == '$')
            id = s ? s->last : (struct xid){0, 0};
        else if (parse_strict(c, &c->argv[4], &id) < 0)
            return;
        if (!s) {
            struct bndr_obj *o = bndr_obj_new(BNDR_STREAM);
            bndr_db_add(&c->srv->db, key->p, key->n, o);
            s = o->u.x;
            bndr_signal_key(c->srv, key->p, key->n);
            bndr_notify(c->srv, "xgroup", key->p, key->n);
        }
        if (group_create(s, gname->p, gname->n, id, entries_read)) {
            bndr_add_ok(c);
            c->srv->dirty++;
        } else {
            bndr_add_error(c, "BUSYGROUP Consumer Group name already exists");
        }
    } else if (sc == 1) {
        if (c->argc != 5 && c->argc != 7) {
            subcmd_syntax(c, "XGROUP");
            return;
        }
        struct xid id;
        if (c->argv[4].n == 1 && c->argv[4].p[0] == '$')
            id = s->last;
        else if (parse_id(c, &c->argv[4], &id, 0, 0, NULL) < 0)
            return;
        g->last = id;
        g->entries_read = entries_read;
        bndr_add_ok(c);
        c->srv->dirty++;
    } else if (sc == 2) {
        if (g) {
            int f;
            size_t i = group_pos(s, g->name, g->nlen, &f);
            memmove(&s->groups[i], &s->groups[i + 1], (s->ng - i - 1) * sizeof(*s->groups));
            s->ng--;
            group_free(g);
            bndr_add_ll(c, 1);
            c->srv->dirty++;
            ready(c, key); /* blocked XREADGROUP readers get -NOGROUP */
        } else {
            bndr_add_ll(c, 0);
        }
    } else if (sc == 3) {
        struct xcons *k = cons_create(g, c->argv[4].p, c->argv[4].n);
        bndr_add_ll(c, k ? 1 : 0);
        if (k) c->srv->dirty++;
    } else {
        int f;
        size_t i = cons_pos(g, c->argv[4].p, c->argv[4].n, &f);
        long long pending = 0;
        if (f) {
            struct xcons *k = g->cons[i];
            pending = (long long)k->pel.n;
            while (k->pel.n) {
                struct xnack *nk = k->pel.a[k->pel.n - 1];
                nk->cons = NULL;
                k->pel.n--;
                pel_remove(&g->pel, nk->id);
                bndr_free(nk);
            }
            memmove(&g->cons[i], &g->cons[i + 1], (g->nc - i - 1) * sizeof(*g->cons));
            g->nc--;
            cons_free(k);
        }
        bndr_add_ll(c, pending);
        c->srv->dirty++;
    }
}

/* ---------------------------------------------------------------- XSETID */
void bndr_cmd_xsetid(struct bndr_client *c)
{
    struct xid id, maxdel = {0, 0};
    long long added = -1;
    if (parse_strict(c, &c->argv[2], &id) < 0) return;
    for (int i = 3; i < c->argc;) {
        int more = c->argc - 1 - i;
        if (bndr_argeq(&c->argv[i], "entriesadded") && more) {
            if (bndr_get_ll_or_reply(c, &c->argv[i + 1], &added, NULL) < 0) return;
            if (added < 0) {
                bndr_add_error(c, "ERR entries_added must be positive");
                return;
            }
            i += 2;
        } else if (bndr_argeq(&c->argv[i], "maxdeletedid") && more) {
            if (parse_strict(c, &c->argv[i + 1], &maxdel) < 0) return;
            if (id_cmp(id, maxdel) < 0) {
                bndr_add_error(c, "ERR The ID specified in XSETID is smaller than the provided "
                                  "max_deleted_entry_id");
                return;
            }
            i += 2;
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return;
        }
    }
    int wrong;
    struct bndr_stream *s = get_stream(c, &c->argv[1], 1, &wrong);
    if (wrong) return;
    if (!s) {
        bndr_add_error(c, "ERR no such key");
        return;
    }
    if (s->length > 0) {
        if (id_cmp(id, last_valid(s)) < 0) {
            bndr_add_error(c, "ERR The ID specified in XSETID is smaller than the target stream "
                              "top item");
            return;
        }
        if (added != -1 && s->length > (uint64_t)added) {
            bndr_add_error(c, "ERR The entries_added specified in XSETID is smaller than the "
                              "target stream length");
            return;
        }
    }
    /* no check against the stream's own max-deleted id: Redis 7.0 has none (7.2 added one) */
    s->last = id;
    if (added != -1) s->entries_added = (uint64_t)added;
    if (!id_zero(maxdel)) s->maxdel = maxdel;
    bndr_add_ok(c);
    c->srv->dirty++;
}

/* ---------------------------------------------------------------- XINFO */
static void key16(unsigned char *k, struct xid id)
{
    for (int i = 0; i < 8; i++) {
        k[i] = (unsigned char)(id.ms >> (56 - 8 * i));
        k[8 + i] = (unsigned char)(id.seq >> (56 - 8 * i));
    }
}

/* nodes of a compressed radix tree (rax) holding keys[lo, hi) that share depth bytes */
static long rax_count(unsigned char (*keys)[16], size_t lo, size_t hi, int depth)
{
    if (hi - lo == 1) return depth == 16 ? 1 : 2;
    int l = depth;
    while (l < 16 && keys[lo][l] == keys[hi - 1][l])
        l++;
    long n = l > depth ? 1 : 0; /* a compressed node up to the branch */
    n++;                        /* the branch node */
    size_t i = lo;
    while (i < hi) {
        size_t j = i + 1;
        while (j < hi && keys[j][l] == keys[i][l])
            j++;
        n += rax_count(keys, i, j, l + 1);
        i = j;
    }
    return n;
}

static long rax_nodes(const struct bndr_stream *s)
{
    if (s->nn == 0) return 1;
    unsigned char(*keys)[16] = bndr_malloc(s->nn * 16);
    for (size_t i = 0; i < s->nn; i++)
        key16(keys[i], s->nodes[i]->master);
    long n = rax_count(keys, 0, s->nn, 0);
    bndr_free(keys);
    return n;
}

static void xinfo_stream(struct bndr_client *c, struct bndr_stream *s, int full, long long count)
{
    bndr_add_map(c, full ? 9 : 10);
    bndr_add_bulk_cstr(c, "length");
    bndr_add_ll(c, (long long)s->length);
    bndr_add_bulk_cstr(c, "radix-tree-keys");
    bndr_add_ll(c, (long long)s->nn);
    bndr_add_bulk_cstr(c, "radix-tree-nodes");
    bndr_add_ll(c, rax_nodes(s));
    bndr_add_bulk_cstr(c, "last-generated-id");
    add_id(c, s->last);
    bndr_add_bulk_cstr(c, "max-deleted-entry-id");
    add_id(c, s->maxdel);
    bndr_add_bulk_cstr(c, "entries-added");
    bndr_add_ll(c, (long long)s->entries_added);
    bndr_add_bulk_cstr(c, "recorded-first-entry-id");
    add_id(c, s->first);
    if (!full) {
        bndr_add_bulk_cstr(c, "groups");
        bndr_add_ll(c, (long long)s->ng);
        struct xpos p;
        bndr_add_bulk_cstr(c, "first-entry");
        if (find_ge(s, (struct xid){0, 0}, &p))
            add_entry(c, POS_ENT(s, p));
        else
            bndr_add_null(c);
        bndr_add_bulk_cstr(c, "last-entry");
        if (find_le(s, XID_MAX, &p))
            add_entry(c, POS_ENT(s, p));
        else
            bndr_add_null(c);
        return;
    }
    bndr_add_bulk_cstr(c, "entries");
    reply_range(c, s, (struct xid){0, 0}, XID_MAX, count, 0, NULL, NULL, 0, NULL, 0);
    bndr_add_bulk_cstr(c, "groups");
    bndr_add_array(c, (long)s->ng);
    for (size_t gi = 0; gi < s->ng; gi++) {
        struct xgroup *g = s->groups[gi];
        bndr_add_map(c, 7);
        bndr_add_bulk_cstr(c, "name");
        bndr_add_bulk(c, g->name, g->nlen);
        bndr_add_bulk_cstr(c, "last-delivered-id");
        add_id(c, g->last);
        bndr_add_bulk_cstr(c, "entries-read");
        if (g->entries_read != -1)
            bndr_add_ll(c, g->entries_read);
        else
            bndr_add_null(c);
        bndr_add_bulk_cstr(c, "lag");
        add_lag(c, s, g);
        bndr_add_bulk_cstr(c, "pel-count");
        bndr_add_ll(c, (long long)g->pel.n);
        bndr_add_bulk_cstr(c, "pending");
        size_t np = count && (size_t)count < g->pel.n ? (size_t)count : g->pel.n;
        bndr_add_array(c, (long)np);
        for (size_t i = 0; i < np; i++) {
            struct xnack *nk = g->pel.a[i];
            bndr_add_array(c, 4);
            add_id(c, nk->id);
            bndr_add_bulk(c, nk->cons->name, nk->cons->nlen);
            bndr_add_ll(c, nk->dtime);
            bndr_add_ll(c, (long long)nk->dcount);
        }
        bndr_add_bulk_cstr(c, "consumers");
        bndr_add_array(c, (long)g->nc);
        for (size_t ki = 0; ki < g->nc; ki++) {
            struct xcons *k = g->cons[ki];
            bndr_add_map(c, 4);
            bndr_add_bulk_cstr(c, "name");
            bndr_add_bulk(c, k->name, k->nlen);
            bndr_add_bulk_cstr(c, "seen-time");
            bndr_add_ll(c, k->seen);
            bndr_add_bulk_cstr(c, "pel-count");
            bndr_add_ll(c, (long long)k->pel.n);
            bndr_add_bulk_cstr(c, "pending");
            size_t kp = count && (size_t)count < k->pel.n ? (size_t)count : k->pel.n;
            bndr_add_array(c, (long)kp);
            for (size_t i = 0; i < kp; i++) {
                struct xnack *nk = k->pel.a[i];
                bndr_add_array(c, 3);
                add_id(c, nk->id);
                bndr_add_ll(c, nk->dtime);
                bndr_add_ll(c, (long long)nk->dcount);
            }
        }
    }
}

void bndr_cmd_xinfo(struct bndr_client *c)
{
    static const struct subcmd subs[] = {
        {"consumers", 4}, {"groups", 3}, {"stream", -3}, {"help", 2}, {NULL, 0}};
    int sc = subcmd_check(c, "xinfo", "XINFO", subs);
    if (sc < 0) return;
    if (sc == 3) {
        add_help(c, xinfo_help);
        return;
    }
    int full = 0;
    long long count = 10;
    if (sc == 2 && c->argc > 3) {
        int optc = c->argc - 3;
        if ((optc != 1 && optc != 3) || !bndr_argeq(&c->argv[3], "full")) {
            subcmd_syntax(c, "XINFO");
            return;
        }
        if (optc == 3) {
            if (!bndr_argeq(&c->argv[4], "count")) {
                subcmd_syntax(c, "XINFO");
                return;
            }
            if (bndr_get_ll_or_reply(c, &c->argv[5], &count, NULL) < 0) return;
            if (count < 0) count = 10;
        }
        full = 1;
    }
    int wrong;
    struct bndr_obj *o = bndr_lookup_read(c, &c->argv[2]);
    if (!o) {
        bndr_add_error(c, "ERR no such key");
        return;
    }
    (void)wrong;
    if (o->type != BNDR_STREAM) {
        bndr_add_error(c, BNDR_ERR_WRONGTYPE);
        return;
    }
    struct bndr_stream *s = o->u.x;
    if (sc == 0) {
        struct xgroup *g = group_find(s, &c->argv[3]);
        if (!g) {
            bndr_add_errorf(c, "NOGROUP No such consumer group '%.*s' for key name '%.*s'",
                            (int)c->argv[3].n, c->argv[3].p, (int)c->argv[2].n, c->argv[2].p);
            return;
        }
        int64_t now = (int64_t)bndr_mstime();
        bndr_add_array(c, (long)g->nc);
        for (size_t i = 0; i < g->nc; i++) {
            struct xcons *k = g->cons[i];
            bndr_add_map(c, 3);
            bndr_add_bulk_cstr(c, "name");
            bndr_add_bulk(c, k->name, k->nlen);
            bndr_add_bulk_cstr(c, "pending");
            bndr_add_ll(c, (long long)k->pel.n);
            bndr_add_bulk_cstr(c, "idle");
            int64_t idle = now - k->seen;
            bndr_add_ll(c, idle < 0 ? 0 : idle);
        }
    } else if (sc == 1) {
        bndr_add_array(c, (long)s->ng);
        for (size_t i = 0; i < s->ng; i++) {
            struct xgroup *g = s->groups[i];
            bndr_add_map(c, 6);
            bndr_add_bulk_cstr(c, "name");
            bndr_add_bulk(c, g->name, g->nlen);
            bndr_add_bulk_cstr(c, "consumers");
            bndr_add_ll(c, (long long)g->nc);
            bndr_add_bulk_cstr(c, "pending");
            bndr_add_ll(c, (long long)g->pel.n);
            bndr_add_bulk_cstr(c, "last-delivered-id");
            add_id(c, g->last);
            bndr_add_bulk_cstr(c, "entries-read");
            if (g->entries_read != -1)
                bndr_add_ll(c, g->entries_read);
            else
                bndr_add_null(c);
            bndr_add_bulk_cstr(c, "lag");
            add_lag(c, s, g);
        }
    } else {
        xinfo_stream(c, s, full, count);
    }
}

/* ---------------------------------------------------------------- AOF rewrite */
int bndr_stream_rewrite(FILE *f, const char *k, size_t kn, const struct bndr_stream *s,
                        int (*put)(FILE *, int, const struct bndr_arg *))
{
    struct bndr_arg key = {(char *)k, kn};
    char b1[48], b2[48], b3[48], b4[48];
    int rc = 0;
    if (s->length) {
        struct bndr_arg *argv = NULL;
        size_t cap = 0;
        for (size_t ni = 0; ni < s->nn && !rc; ni++) {
            struct xnode *nd = s->nodes[ni];
            for (uint32_t ei = 0; ei < nd->n && !rc; ei++) {
                struct xent *e = &nd->e[ei];
                if (e->deleted) continue;
                size_t need = 3 + 2 * (size_t)e->nf;
                if (need > cap) {
                    cap = need;
                    argv = bndr_realloc(argv, cap * sizeof(*argv));
                }
                argv[0] = (struct bndr_arg){(char *)"XADD", 4};
                argv[1] = key;
                argv[2] = (struct bndr_arg){b1, (size_t)id_fmt(b1, e->id)};
                const unsigned char *p = e->blob;
                for (uint32_t i = 0; i < 2 * e->nf; i++) {
                    uint32_t l;
                    memcpy(&l, p, 4);
                    argv[3 + i] = (struct bndr_arg){(char *)p + 4, l};
                    p += 4 + l;
                }
                rc = put(f, (int)need, argv);
            }
        }
        bndr_free(argv);
    } else {
        struct bndr_arg a[7] = {{(char *)"XADD", 4},   key,
                                {(char *)"MAXLEN", 6}, {(char *)"0", 1},
                                {(char *)"0-1", 3},    {(char *)"x", 1},
                                {(char *)"y", 1}};
        rc = put(f, 7, a);
    }
    if (rc) return -1;
    char ea[24];
    struct bndr_arg xs[7] = {{(char *)"XSETID", 6},
                             key,
                             {b1, (size_t)id_fmt(b1, s->last)},
                             {(char *)"ENTRIESADDED", 12},
                             {ea, (size_t)bndr_fmt_ll(ea, (long long)s->entries_added)},
                             {(char *)"MAXDELETEDID", 12},
                             {b2, (size_t)id_fmt(b2, s->maxdel)}};
    if (put(f, 7, xs)) return -1;
    for (size_t gi = 0; gi < s->ng; gi++) {
        struct xgroup *g = s->groups[gi];
        char er[24];
        struct bndr_arg gc[7] = {{(char *)"XGROUP", 6},
                                 {(char *)"CREATE", 6},
                                 key,
                                 {g->name, g->nlen},
                                 {b1, (size_t)id_fmt(b1, g->last)},
                                 {(char *)"ENTRIESREAD", 11},
                                 {er, (size_t)bndr_fmt_ll(er, g->entries_read)}};
        if (put(f, 7, gc)) return -1;
        for (size_t i = 0; i < g->pel.n; i++) {
            struct xnack *nk = g->pel.a[i];
            char t[24], r[24];
            struct bndr_arg xc[12] = {
                {(char *)"XCLAIM", 6},      key,
                {g->name, g->nlen},         {nk->cons->name, nk->cons->nlen},
                {(char *)"0", 1},           {b3, (size_t)id_fmt(b3, nk->id)},
                {(char *)"TIME", 4},        {t, (size_t)bndr_fmt_ll(t, nk->dtime)},
                {(char *)"RETRYCOUNT", 10}, {r, (size_t)bndr_fmt_ll(r, (long long)nk->dcount)},
                {(char *)"JUSTID", 6},      {(char *)"FORCE", 5}};
            if (put(f, 12, xc)) return -1;
        }
        for (size_t ki = 0; ki < g->nc; ki++) {
            struct xcons *kc = g->cons[ki];
            if (kc->pel.n) continue;
            struct bndr_arg cc[5] = {{(char *)"XGROUP", 6},
                                     {(char *)"CREATECONSUMER", 14},
                                     key,
                                     {g->name, g->nlen},
                                     {kc->name, kc->nlen}};
            if (put(f, 5, cc)) return -1;
        }
    }
    (void)b4;
    return 0;
}

/* ---------------------------------------------------------------- snapshot payload */
static void d_u64(struct bndr_buf *b, uint64_t v)
{
    unsigned char x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    bndr_buf_add(b, x, 8);
}
static void d_u32(struct bndr_buf *b, uint32_t v)
{
    unsigned char x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    bndr_buf_add(b, x, 4);
}
static void d_id(struct bndr_buf *b, struct xid id)
{
    d_u64(b, id.ms);
    d_u64(b, id.seq);
}
static void d_bytes(struct bndr_buf *b, const void *p, size_t n)
{
    d_u32(b, (uint32_t)n);
    bndr_buf_add(b, p, n);
}

void bndr_stream_dump(const struct bndr_stream *s, struct bndr_buf *b)
{
    d_id(b, s->last);
    d_id(b, s->first);
    d_id(b, s->maxdel);
    d_u64(b, s->entries_added);
    d_u64(b, s->length);
    d_u64(b, s->nn);
    for (size_t ni = 0; ni < s->nn; ni++) {
        struct xnode *nd = s->nodes[ni];
        d_id(b, nd->master);
        d_u32(b, nd->n);
        for (uint32_t ei = 0; ei < nd->n; ei++) {
            struct xent *e = &nd->e[ei];
            d_id(b, e->id);
            bndr_buf_add(b, &e->deleted, 1);
            d_u32(b, e->nf);
            bndr_buf_add(b, e->blob, e->blen); /* already (u32 len, bytes) per element, LE */
        }
    }
    d_u64(b, s->ng);
    for (size_t gi = 0; gi < s->ng; gi++) {
        struct xgroup *g = s->groups[gi];
        d_bytes(b, g->name, g->nlen);
        d_id(b, g->last);
        d_u64(b, (uint64_t)g->entries_read);
        d_u64(b, g->nc);
        for (size_t ki = 0; ki < g->nc; ki++) {
            d_bytes(b, g->cons[ki]->name, g->cons[ki]->nlen);
            d_u64(b, (uint64_t)g->cons[ki]->seen);
        }
        d_u64(b, g->pel.n);
        for (size_t i = 0; i < g->pel.n; i++) {
            struct xnack *nk = g->pel.a[i];
            d_id(b, nk->id);
            d_u64(b, (uint64_t)nk->dtime);
            d_u64(b, nk->dcount);
            size_t ki = 0;
            while (g->cons[ki] != nk->cons)
                ki++;
            d_u64(b, ki);
        }
    }
}

struct rdr {
    const unsigned char *p;
    size_t n, off;
    int err;
};
static const unsigned char *r_take(struct rdr *r, size_t n)
{
    if (r->err || r->n - r->off < n) {
        r->err = 1;
        return NULL;
    }
    const unsigned char *p = r->p + r->off;
    r->off += n;
    return p;
}
static uint64_t r_uint(struct rdr *r, int n)
{
    const unsigned char *p = r_take(r, (size_t)n);
    uint64_t v = 0;
    if (!p) return 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static struct xid r_id(struct rdr *r)
{
    struct xid id;
    id.ms = r_uint(r, 8);
    id.seq = r_uint(r, 8);
    return id;
}

struct bndr_stream *bndr_stream_restore(const void *p, size_t n)
{
    struct rdr r = {p, n, 0, 0};
    struct bndr_stream *s = bndr_stream_new();
    s->last = r_id(&r);
    s->first = r_id(&r);
    s->maxdel = r_id(&r);
    s->entries_added = r_uint(&r, 8);
    uint64_t length = r_uint(&r, 8);
    uint64_t nn = r_uint(&r, 8);
    struct xid prev = {0, 0};
    int have_prev = 0;
    for (uint64_t ni = 0; ni < nn && !r.err; ni++) {
        struct xid master = r_id(&r);
        uint32_t ne = (uint32_t)r_uint(&r, 4);
        if (r.err || ne == 0 || ne > r.n - r.off) {
            r.err = 1;
            break;
        }
        for (uint32_t ei = 0; ei < ne && !r.err; ei++) {
            struct xid id = r_id(&r);
            const unsigned char *del = r_take(&r, 1);
            uint32_t nf = (uint32_t)r_uint(&r, 4);
            if (r.err || (ei == 0 && id_cmp(id, master) != 0) ||
                (have_prev && id_cmp(id, prev) <= 0) || *del > 1 || nf == 0 ||
                nf > (r.n - r.off) / 8) {
                r.err = 1;
                break;
            }
            size_t start = r.off, tot = 0;
            for (uint32_t i = 0; i < 2 * nf && !r.err; i++) {
                uint32_t l = (uint32_t)r_uint(&r, 4);
                r_take(&r, l);
                tot += l;
            }
            if (r.err || tot > LP_MAX_SIZE) break;
            size_t blen = r.off - start;
            unsigned char *blob = bndr_malloc(blen);
            memcpy(blob, r.p + start, blen);
            if (ei == 0) {
                /* a new node starts here, whatever the size rule says */
                struct xnode *nd = bndr_calloc(sizeof *nd);
                nd->master = id;
                if (s->nn == s->ncap) {
                    s->ncap = s->ncap ? s->ncap * 2 : 4;
                    s->nodes = bndr_realloc(s->nodes, s->ncap * sizeof(*s->nodes));
                }
                s->nodes[s->nn++] = nd;
                struct xent me = {id, 0, nf, (uint32_t)blen, blob};
                nd->fixed = 7 + lp_int(nf) + lp_int(0);
                for (uint32_t i = 0; i < nf; i++) {
                    uint32_t l;
                    const unsigned char *q = blob_at(&me, 2 * i, &l);
                    nd->fixed += lp_str((const char *)q, l);
                }
            }
            struct xnode *nd = s->nodes[s->nn - 1];
            if (nd->n == nd->cap) {
                nd->cap = nd->cap ? nd->cap * 2 : 4;
                nd->e = bndr_realloc(nd->e, nd->cap * sizeof(*nd->e));
            }
            struct xent e = {id, *del, nf, (uint32_t)blen, blob};
            int same = nd->n == 0 || same_fields(nd, &e);
            nd->e[nd->n++] = e;
            nd->fixed += entry_bytes(nd, &e, same);
            if (*del)
                nd->deleted++;
            else
                nd->live++;
            s->length += !*del;
            prev = id;
            have_prev = 1;
        }
    }
    if (!r.err && (s->length != length || (have_prev && id_cmp(prev, s->last) > 0))) r.err = 1;
    uint64_t ng = r.err ? 0 : r_uint(&r, 8);
    for (uint64_t gi = 0; gi < ng && !r.err; gi++) {
        uint32_t nl = (uint32_t)r_uint(&r, 4);
        const unsigned char *name = r_take(&r, nl);
        struct xid last = r_id(&r);
        int64_t er = (int64_t)r_uint(&r, 8);
        if (r.err || er < -1) {
            r.err = 1;
            break;
        }
        struct xgroup *g = group_create(s, (const char *)name, nl, last, er);
        if (!g) {
            r.err = 1;
            break;
        }
        uint64_t nc = r_uint(&r, 8);
        if (nc > r.n - r.off) r.err = 1;
        struct xcons **order = r.err ? NULL : bndr_calloc((nc ? nc : 1) * sizeof(*order));
        for (uint64_t ki = 0; ki < nc && !r.err; ki++) {
            uint32_t cl = (uint32_t)r_uint(&r, 4);
            const unsigned char *cn = r_take(&r, cl);
            int64_t seen = (int64_t)r_uint(&r, 8);
            if (r.err) break;
            order[ki] = cons_create(g, (const char *)cn, cl);
            if (!order[ki]) {
                r.err = 1;
                break;
            }
            order[ki]->seen = seen;
        }
        uint64_t np = r.err ? 0 : r_uint(&r, 8);
        for (uint64_t i = 0; i < np && !r.err; i++) {
            struct xid id = r_id(&r);
            int64_t dt = (int64_t)r_uint(&r, 8);
            uint64_t dc = r_uint(&r, 8);
            uint64_t ki = r_uint(&r, 8);
            if (r.err || ki >= nc || pel_find(&g->pel, id)) {
                r.err = 1;
                break;
            }
            struct xnack *nk = bndr_malloc(sizeof *nk);
            nk->id = id;
            nk->dtime = dt;
            nk->dcount = dc;
            nk->cons = order[ki];
            pel_insert(&g->pel, nk);
            pel_insert(&order[ki]->pel, nk);
        }
        bndr_free(order);
    }
    if (r.err || r.off != r.n) {
        bndr_stream_free(s);
        return NULL;
    }
    return s;
}

int bndr_stream_empty(const struct bndr_stream *s)
{
    (void)s;
    return 0; /* an empty stream is a value (it keeps its last id and groups) */
}
