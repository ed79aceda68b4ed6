/* db.c — the keyspace.
 *
 * `databases` (16) databases, SELECT picks one per client. The database a command runs in is
 * s->db (bndr_call switches it in from s->dbs[] and back to 0 afterwards), so command code always
 * reads &c->srv->db and never needs the index; code outside a command sees database 0 there and
 * reaches the others with bndr_db_get. db->keys maps a key to its struct bndr_obj. A key with
 * a TTL is listed in db->xv, a vector of {dict entry, absolute deadline in unix ms} (obj->xidx is
 * its position, removal is swap-with-last): the deadline lives only there (bndr_db_expire), so a
 * key without a TTL carries none, and active expiry and volatile eviction sample keys with a TTL
 * in O(1).
 *
 * Expiry follows Redis: lazily on every lookup (a key past its deadline is deleted before the
 * command sees it, so it is never returned late) plus an adaptive active cycle run by the cron:
 * sample 20 keys with a TTL, delete the expired ones, repeat while more than 25% of a sample was
 * expired and the time budget lasts. Every deletion by expiry is propagated to the AOF as DEL and
 * invalidates WATCH, like any write.
 *
 * Eviction (maxmemory): before a command flagged DENYOOM runs with used memory over maxmemory, keys
 * are evicted by the policy: allkeys-lru / volatile-lru (approximate LRU: sample
 * maxmemory-samples keys, evict the least recently used), allkeys-random / volatile-random,
 * volatile-ttl (nearest deadline). noeviction, or nothing left to evict, makes the command fail
 * with -OOM.
 */
#include <string.h>

#include "bndr.h"

const char *bndr_type_name(int type)
{
    switch (type) {
    case BNDR_STRING: return "string";
    case BNDR_LIST: return "list";
    case BNDR_SET: return "set";
    case BNDR_ZSET: return "zset";
    case BNDR_HASH: return "hash";
    case BNDR_STREAM: return "stream";
    }
    return "none";
}

/* ---------------------------------------------------------------- objects */
struct bndr_obj *bndr_obj_string(const void *p, size_t n)
{
    struct bndr_obj *o = bndr_malloc(BNDR_OBJ_HDR + n + 1);
    o->lru = bndr_srv ? bndr_srv->lruclock : 0;
    o->xidx = UINT32_MAX;
    o->type = BNDR_STRING;
    o->big = 0;
    o->len = (uint32_t)n;
    o->cap = (uint32_t)n;
    if (n)
        memcpy(o->s, p, n);
    o->s[n] = 0;
    return o;
}

struct bndr_obj *bndr_obj_string_ll(long long v)
{
    char buf[24];
    int n = bndr_fmt_ll(buf, v);
    return bndr_obj_string(buf, (size_t)n);
}

static void free_hash_val(struct bndr_de *e)
{
    bndr_str_free(e->v.p);
}

struct bndr_obj *bndr_obj_new(int type)
{
    struct bndr_obj *o = bndr_obj_string(NULL, 0);
    o->type = (uint8_t)type;
    o->u.l = NULL; /* len/cap no longer apply */
    switch (type) {
    case BNDR_LIST: o->u.l = bndr_list_new(); break;
    case BNDR_SET:
    case BNDR_HASH:
        o->u.d = bndr_calloc(sizeof(struct bndr_dict));
        bndr_dict_init(o->u.d);
        break;
    case BNDR_ZSET: o->u.z = bndr_zset_new(); break;
    case BNDR_STREAM: o->u.x = bndr_stream_new(); break;
    }
    return o;
}

void bndr_obj_free(struct bndr_obj *o)
{
    if (!o)
        return;
    switch (o->type) {
    case BNDR_LIST: bndr_list_free(o->u.l); break;
    case BNDR_SET:
        bndr_dict_release(o->u.d, NULL);
        bndr_free(o->u.d);
        break;
    case BNDR_HASH:
        bndr_dict_release(o->u.d, free_hash_val);
        bndr_free(o->u.d);
        break;
    case BNDR_ZSET: bndr_zset_free(o->u.z); break;
    case BNDR_STREAM: bndr_stream_free(o->u.x); break;
    }
    bndr_free(o);
}

struct bndr_obj *bndr_obj_string_reserve(struct bndr_de *e, size_t newlen)
{
    struct bndr_obj *o = e->v.p;
    o->big = 1; /* modified in place: Redis' "raw" (INCR and INCRBYFLOAT reset it) */
    if (newlen <= o->cap)
        return o;
    size_t nc = newlen < (1 << 20) ? newlen * 2 : newlen + (1 << 20);
    o = bndr_realloc(o, BNDR_OBJ_HDR + nc + 1);
    o->cap = (uint32_t)nc;
    e->v.p = o;
    return o;
}

int bndr_obj_get_ll(const struct bndr_obj *o, long long *out)
{
    return bndr_parse_ll(o->s, o->len, out);
}

/* ---------------------------------------------------------------- TTL vector */
static void xv_add(struct bndr_db *db, struct bndr_de *e, int64_t when)
{
    if (db->xn == db->xcap) {
        db->xcap = db->xcap ? db->xcap * 2 : 64;
        db->xv = bndr_realloc(db->xv, db->xcap * sizeof(*db->xv));
    }
    BNDR_DE_OBJ(e)->xidx = (uint32_t)db->xn;
    db->xv[db->xn++] = (struct bndr_xent){e, when};
}

static void xv_del(struct bndr_db *db, struct bndr_de *e)
{
    struct bndr_obj *o = BNDR_DE_OBJ(e);
    uint32_t i = o->xidx;
    if (i == UINT32_MAX)
        return;
    struct bndr_xent last = db->xv[--db->xn];
    db->xv[i] = last;
    BNDR_DE_OBJ(last.e)->xidx = i;
    o->xidx = UINT32_MAX;
    if (db->xcap > 256 && db->xn * 4 < db->xcap) {
        db->xcap /= 2;
        db->xv = bndr_realloc(db->xv, db->xcap * sizeof(*db->xv));
    }
}

void bndr_db_init(struct bndr_db *db)
{
    memset(db, 0, sizeof *db);
    bndr_dict_init(&db->keys);
}

static void free_key_val(struct bndr_de *e)
{
    bndr_obj_free(e->v.p);
}

void bndr_db_release(struct bndr_db *db)
{
    bndr_dict_release(&db->keys, free_key_val);
    bndr_free(db->xv);
    db->xv = NULL;
    db->xn = db->xcap = 0;
}

void bndr_db_flush(struct bndr_db *db)
{
    uint64_t e = db->expired_keys, v = db->evicted_keys, h = db->hits, m = db->misses;
    bndr_db_release(db);
    bndr_db_init(db);
    db->expired_keys = e;
    db->evicted_keys = v;
    db->hits = h;
    db->misses = m;
}

struct bndr_db *bndr_db_get(struct bndr_server *s, int id)
{
    return id == s->curdb ? &s->db : &s->dbs[id];
}

int bndr_db_switch(struct bndr_server *s, int id)
{
    int prev = s->curdb;
    if (id == prev)
        return prev;
    s->dbs[prev] = s->db; /* the dict and vectors are heap pointers: moving the struct is safe */
    s->db = s->dbs[id];
    memset(&s->dbs[id], 0, sizeof s->dbs[id]);
    s->curdb = id;
    return prev;
}

void bndr_db_totals(struct bndr_server *s, uint64_t *keys, uint64_t *expired, uint64_t *evicted,
                    uint64_t *hits, uint64_t *misses)
{
    *keys = *expired = *evicted = *hits = *misses = 0;
    for (int i = 0; i < s->ndb; i++) {
        struct bndr_db *db = bndr_db_get(s, i);
        *keys += db->keys.n;
        *expired += db->expired_keys;
        *evicted += db->evicted_keys;
        *hits += db->hits;
        *misses += db->misses;
    }
}

void bndr_flushall(struct bndr_server *s)
{
    int prev = s->curdb;
    for (int i = 0; i < s->ndb; i++) {
        if (bndr_db_get(s, i)->keys.n == 0)
            continue;
        bndr_db_switch(s, i);
        BNDR_DICT_FOREACH(&s->watched, w) /* every watched key that exists is touched */
        {
            if (bndr_db_find(&s->db, w->key, w->klen))
                bndr_signal_key(s, w->key, w->klen);
        }
        s->dirty += (long long)s->db.keys.n;
        bndr_db_flush(&s->db);
    }
    bndr_db_switch(s, prev);
    s->dirty++;
    bndr_notify(s, "flushdb", "", 0);
}

struct bndr_de *bndr_db_find(struct bndr_db *db, const char *k, size_t n)
{
    return bndr_dict_find(&db->keys, k, n);
}

void bndr_db_set(struct bndr_db *db, const char *k, size_t n, struct bndr_obj *o, int keepttl)
{
    int created;
    struct bndr_de *e = bndr_dict_upsert(&db->keys, k, n, &created);
    o->lru = bndr_srv ? bndr_srv->lruclock : 0;
    if (!created) {
        struct bndr_obj *old = e->v.p;
        if (keepttl && old->xidx != UINT32_MAX) {
            o->xidx = old->xidx; /* db->xv[xidx] names the entry e, which stays */
        } else {
            xv_del(db, e);
            o->xidx = UINT32_MAX;
        }
        bndr_obj_free(old);
        e->v.p = o;
    } else {
        o->xidx = UINT32_MAX;
        e->v.p = o;
    }
}

struct bndr_de *bndr_db_add(struct bndr_db *db, const char *k, size_t n, struct bndr_obj *o)
{
    int created;
    struct bndr_de *e = bndr_dict_upsert(&db->keys, k, n, &created);
    if (!created)
        bndr_obj_free(e->v.p); /* defensive: callers check existence first */
    o->xidx = UINT32_MAX;
    o->lru = bndr_srv ? bndr_srv->lruclock : 0;
    e->v.p = o;
    return e;
}

int bndr_db_delete(struct bndr_db *db, const char *k, size_t n)
{
    struct bndr_de *e = bndr_dict_find(&db->keys, k, n);
    if (!e)
        return 0;
    xv_del(db, e);
    e = bndr_dict_unlink(&db->keys, k, n);
    bndr_obj_free(e->v.p);
    bndr_free(e);
    return 1;
}

struct bndr_obj *bndr_db_take(struct bndr_db *db, const char *k, size_t n, int64_t *expire)
{
    struct bndr_de *e = bndr_dict_find(&db->keys, k, n);
    if (!e)
        return NULL;
    struct bndr_obj *o = e->v.p;
    if (expire)
        *expire = bndr_db_expire(db, o);
    xv_del(db, e);
    e = bndr_dict_unlink(&db->keys, k, n);
    bndr_free(e);
    return o;
}

void bndr_db_set_expire(struct bndr_db *db, struct bndr_de *e, int64_t when)
{
    struct bndr_obj *o = BNDR_DE_OBJ(e);
    if (o->xidx == UINT32_MAX)
        xv_add(db, e, when);
    else
        db->xv[o->xidx].when = when;
}

void bndr_db_persist(struct bndr_db *db, struct bndr_de *e)
{
    xv_del(db, e);
}

static void delete_and_propagate(struct bndr_server *s, const char *k, size_t n, const char *why)
{
    /* the key bytes may live in the entry we free: copy first */
    char small[256];
    char *kc = n < sizeof small ? small : bndr_malloc(n);
    memcpy(kc, k, n);
    bndr_db_delete(&s->db, kc, n);
    struct bndr_arg argv[2] = {{(char *)"DEL", 3}, {kc, n}};
    bndr_propagate(s, 2, argv);
    bndr_signal_key(s, kc, n);
    bndr_notify(s, why, kc, n);
    if (kc != small)
        bndr_free(kc);
}

int bndr_expire_if_needed(struct bndr_db *db, const char *k, size_t n)
{
    struct bndr_server *s = bndr_srv;
    if (!s || s->aof.loading)
        return 0;
    struct bndr_de *e = bndr_dict_find(&db->keys, k, n);
    if (!e)
        return 0;
    int64_t when = bndr_db_expire(db, e->v.p);
    if (!when || (uint64_t)when > bndr_mstime())
        return 0;
    db->expired_keys++;
    delete_and_propagate(s, k, n, "expired");
    return 1;
}

static struct bndr_de *lookup(struct bndr_client *c, const struct bndr_arg *key, int read)
{
    struct bndr_db *db = &c->srv->db;
    bndr_expire_if_needed(db, key->p, key->n);
    struct bndr_de *e = bndr_dict_find(&db->keys, key->p, key->n);
    if (read) {
        if (e) {
            db->hits++;
            BNDR_DE_OBJ(e)->lru = c->srv->lruclock;
        } else {
            db->misses++;
        }
    }
    return e;
}

struct bndr_obj *bndr_lookup_read(struct bndr_client *c, const struct bndr_arg *key)
{
    struct bndr_de *e = lookup(c, key, 1);
    return e ? e->v.p : NULL;
}

struct bndr_obj *bndr_lookup_write(struct bndr_client *c, const struct bndr_arg *key)
{
    struct bndr_de *e = lookup(c, key, 0);
    return e ? e->v.p : NULL;
}

struct bndr_obj *bndr_lookup_type(struct bndr_client *c, const struct bndr_arg *key, int type,
                                  int write, int *wrong)
{
    struct bndr_de *e = lookup(c, key, !write);
    *wrong = 0;
    if (!e)
        return NULL;
    struct bndr_obj *o = e->v.p;
    if (o->type != type) {
        *wrong = 1;
        bndr_add_error(c, BNDR_ERR_WRONGTYPE);
        return NULL;
    }
    return o;
}

/* ---------------------------------------------------------------- active expiry */
static void active_expire_db(struct bndr_server *s, uint64_t budget_us)
{
    struct bndr_db *db = &s->db;
    uint64_t start = bndr_ustime();
    for (int iter = 0;; iter++) {
        if (db->xn == 0)
            return;
        uint64_t now = bndr_mstime();
        int sampled = 0, expired = 0;
        for (int i = 0; i < 20 && db->xn; i++) {
            struct bndr_xent x = db->xv[bndr_rand() % db->xn];
            struct bndr_de *e = x.e;
            sampled++;
            if ((uint64_t)x.when <= now) {
                db->expired_keys++;
                delete_and_propagate(s, e->key, e->klen, "expired");
                expired++;
            }
        }
        if (expired * 4 <= sampled)
            return;
        if ((iter & 15) == 15 && bndr_ustime() - start > budget_us)
            return;
    }
}

void bndr_active_expire(struct bndr_server *s, uint64_t budget_us)
{
    int prev = s->curdb;
    uint64_t start = bndr_ustime();
    for (int i = 0; i < s->ndb; i++) {
        if (bndr_db_get(s, i)->xn == 0)
            continue;
        uint64_t spent = bndr_ustime() - start;
        if (spent >= budget_us)
            break;
        bndr_db_switch(s, i);
        active_expire_db(s, budget_us - spent);
    }
    bndr_db_switch(s, prev);
}

/* ---------------------------------------------------------------- eviction */
static struct bndr_de *evict_candidate(struct bndr_server *s)
{
    struct bndr_db *db = &s->db;
    int policy = s->cfg.maxmemory_policy;
    int samples = s->cfg.maxmemory_samples > 0 ? s->cfg.maxmemory_samples : 5;
    int volatile_ = policy == BNDR_EVICT_VOLATILE_LRU || policy == BNDR_EVICT_VOLATILE_RANDOM ||
                    policy == BNDR_EVICT_VOLATILE_TTL;
    if (volatile_ && db->xn == 0)
        return NULL;
    if (!volatile_ && db->keys.n == 0)
        return NULL;
    if (policy == BNDR_EVICT_ALLKEYS_RANDOM)
        return bndr_dict_random(&db->keys);
    if (policy == BNDR_EVICT_VOLATILE_RANDOM)
        return db->xv[bndr_rand() % db->xn].e;
    struct bndr_de *best = NULL;
    for (int i = 0; i < samples; i++) {
        struct bndr_de *e =
            volatile_ ? db->xv[bndr_rand() % db->xn].e : bndr_dict_random(&db->keys);
        if (!e)
            continue;
        struct bndr_obj *o = e->v.p;
        if (!best) {
            best = e;
            continue;
        }
        struct bndr_obj *b = best->v.p;
        if (policy == BNDR_EVICT_VOLATILE_TTL ? bndr_db_expire(db, o) < bndr_db_expire(db, b)
                                              : (uint32_t)(s->lruclock - o->lru) >
                                                    (uint32_t)(s->lruclock - b->lru))
            best = e;
    }
    return best;
}

int bndr_evict(struct bndr_server *s)
{
    if (!s->cfg.maxmemory || bndr_used_memory() <= (size_t)s->cfg.maxmemory)
        return 0;
    if (s->cfg.maxmemory_policy == BNDR_EVICT_NOEVICTION)
        return -1;
    int guard = 0, prev = s->curdb;
    /* the databases in turn, one key at a time each, so no database is emptied first */
    for (int idle = 0; bndr_used_memory() > (size_t)s->cfg.maxmemory && idle < s->ndb;) {
        int id = guard % s->ndb;
        bndr_db_switch(s, id);
        struct bndr_de *e = evict_candidate(s);
        guard++;
        if (!e) {
            idle++;
            continue;
        }
        idle = 0;
        s->db.evicted_keys++;
        delete_and_propagate(s, e->key, e->klen, "evicted");
        if (guard > 100000 * s->ndb)
            break;
    }
    bndr_db_switch(s, prev);
    return bndr_used_memory() <= (size_t)s->cfg.maxmemory ? 0 : -1;
}

/* ---------------------------------------------------------------- signals */
void bndr_signal_key(struct bndr_server *s, const char *k, size_t n)
{
    if (bndr_tracking_active()) /* CLIENT TRACKING invalidations */
        bndr_tracking_invalidate(s, k, n);
    if (s->blocking.n) /* a deleted or replaced stream unblocks its XREADGROUP readers */
        bndr_signal_list_ready(s, k, n);
    if (s->watched.n == 0)
        return;
    struct bndr_de *e = bndr_dict_find(&s->watched, k, n);
    if (!e)
        return;
    struct bndr_pubsub_sub *w = e->v.p;
    for (int i = 0; i < w->n; i++)
        if (bndr_client_watches(w->c[i], s->curdb, k, n))
            w->c[i]->flags |= BNDR_CF_DIRTY_CAS;
}

/* ---------------------------------------------------------------- keyspace notifications */
/* notify-keyspace-events (Redis' flags: K keyspace, E keyevent, g generic, $ string, l list,
 * s set, h hash, z sorted set, x expired, e evicted, t stream, A = g$lshzxet): each key change
 * publishes "__keyspace@<db>__:<key>" <event> and/or "__keyevent@<db>__:<event>" <key> to
 * subscribers, in the database it happened in. The event is the command's name, with Redis'
 * spelling where it differs (INCR -> incrby, SETEX -> set, UNLINK -> del, …). */
enum { KN_K = 1, KN_E = 2, KN_G = 4, KN_S = 8, KN_L = 16, KN_SET = 32, KN_H = 64, KN_Z = 128,
       KN_X = 256, KN_EV = 512, KN_T = 1024 };

static unsigned notify_flags(void)
{
    static unsigned gen, flags;
    if (gen == bndr_config_generation())
        return flags;
    gen = bndr_config_generation();
    flags = 0;
    const char *v = bndr_config_compat("notify-keyspace-events");
    for (; v && *v; v++) {
        switch (*v) {
        case 'K': flags |= KN_K; break;
        case 'E': flags |= KN_E; break;
        case 'g': flags |= KN_G; break;
        case '$': flags |= KN_S; break;
        case 'l': flags |= KN_L; break;
        case 's': flags |= KN_SET; break;
        case 'h': flags |= KN_H; break;
        case 'z': flags |= KN_Z; break;
        case 'x': flags |= KN_X; break;
        case 'e': flags |= KN_EV; break;
        case 't': flags |= KN_T; break;
        case 'A': flags |= KN_G | KN_S | KN_L | KN_SET | KN_H | KN_Z | KN_X | KN_EV | KN_T; break;
        }
    }
    if (!(flags & (KN_K | KN_E)))
        flags = 0;
    return flags;
}

static void keyspace_publish(struct bndr_server *s, unsigned flags, unsigned cls, const char *ev,
                             const char *k, size_t n)
{
    if (!(flags & cls))
        return;
    char ch[4200];
    if (flags & KN_K) {
        int l = snprintf(ch, sizeof ch, "__keyspace@%d__:", s->curdb);
        memcpy(ch + l, k, n);
        bndr_pubsub_publish(s, ch, (size_t)l + n, ev, strlen(ev));
    }
    if (flags & KN_E) {
        int l = snprintf(ch, sizeof ch, "__keyevent@%d__:%s", s->curdb, ev);
        bndr_pubsub_publish(s, ch, (size_t)l, k, n);
    }
}

static void keyspace_event(struct bndr_server *s, const char *op, const char *k, size_t n,
                           unsigned flags)
{
    static const struct {
        const char *cmd, *event;
    } renames[] = {{"incr", "incrby"},     {"decr", "decrby"},     {"setex", "set"},
                   {"psetex", "set"},      {"setnx", "set"},       {"getset", "set"},
                   {"mset", "set"},        {"msetnx", "set"},      {"hmset", "hset"},
                   {"hsetnx", "hset"},     {"unlink", "del"},      {"getdel", "del"},
                   {"pexpire", "expire"},  {"expireat", "expire"}, {"pexpireat", "expire"},
                   {"lpushx", "lpush"},    {"rpushx", "rpush"},    {"hincrbyfloat", "hincrbyfloat"},
                   {"rpoplpush", "rpop"},  {"move_to", "move_to"}, {NULL, NULL}};
    unsigned cls = 0;
    const char *ev = op;
    if (!strcmp(op, "expired")) cls = KN_X;
    else if (!strcmp(op, "evicted")) cls = KN_EV;
    else if (!strcmp(op, "flushdb") || !n) return; /* Redis sends none for FLUSHDB/FLUSHALL */
    else {
        const struct bndr_cmd *cmd = bndr_cmd_lookup(op, strlen(op));
        const char *g = cmd ? cmd->group : "generic";
        if (!strcmp(g, "string") || !strcmp(g, "bitmap") || !strcmp(g, "hyperloglog")) cls = KN_S;
        else if (!strcmp(g, "list")) cls = KN_L;
        else if (!strcmp(g, "set")) cls = KN_SET;
        else if (!strcmp(g, "hash")) cls = KN_H;
        else if (!strcmp(g, "sorted-set") || !strcmp(g, "geo")) cls = KN_Z;
        else if (!strcmp(g, "stream")) cls = KN_T;
        else cls = KN_G;
        for (int i = 0; renames[i].cmd; i++)
            if (!strcmp(renames[i].cmd, op))
                ev = renames[i].event;
    }
    if (n > 4096)
        return;
    struct bndr_de *e = bndr_dict_find(&s->db.keys, k, n);
    int gone = !e && cls != KN_X && cls != KN_EV;
    if (!strcmp(op, "rename") || !strcmp(op, "renamenx")) { /* the old key, then the new one */
        ev = gone ? "rename_from" : "rename_to";
        cls = KN_G;
        gone = 0;
    }
    if (!strcmp(ev, "del") || !strcmp(op, "move") || !strcmp(op, "move_to"))
        gone = 0;
    keyspace_publish(s, flags, cls, ev, k, n);
    /* as Redis: a TTL given with the value is an expire event too, and a collection emptied by
     * the command is deleted */
    if (e && BNDR_DE_OBJ(e)->xidx != UINT32_MAX &&
        (!strcmp(op, "setex") || !strcmp(op, "psetex") || !strcmp(op, "set") || !strcmp(op, "getex")))
        keyspace_publish(s, flags, KN_G, "expire", k, n);
    if (gone)
        keyspace_publish(s, flags, KN_G, "del", k, n);
}

void bndr_notify(struct bndr_server *s, const char *op, const char *k, size_t n)
{
    if (s->aof.loading)
        return;
    unsigned kf = notify_flags();
    if (kf)
        keyspace_event(s, op, k, n, kf);
    if (!strcmp(op, "flushdb")) /* FLUSHDB / FLUSHALL: every tracking client drops its cache */
        bndr_tracking_flush(s);
    if (s->on_change)
        s->on_change(s, op, k, n);
    if (s->bcast)
        bndr_bcast_notify(s, op, k, n);
}

void bndr_signal_list_ready(struct bndr_server *s, const char *k, size_t n)
{
    if (s->blocking.n == 0 || !bndr_dict_find(&s->blocking, k, n))
        return;
    /* a ready key is the database id (4 bytes, host order) followed by the key */
    int32_t db = s->curdb;
    for (int i = 0; i < s->nready; i++)
        if (s->ready[i]->len == n + 4 && memcmp(s->ready[i]->buf, &db, 4) == 0 &&
            memcmp(s->ready[i]->buf + 4, k, n) == 0)
            return;
    if (s->nready == s->readycap) {
        s->readycap = s->readycap ? s->readycap * 2 : 8;
        s->ready = bndr_realloc(s->ready, (size_t)s->readycap * sizeof(*s->ready));
    }
    struct bndr_str *r = bndr_str_new(&db, 4);
    s->ready[s->nready++] = bndr_str_cat(r, k, n);
}
