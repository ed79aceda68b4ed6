/* cmd_sethash.c — set and hash commands. Both are bndr_dict tables: a set's entries carry no
 * value, a hash entry's v.p is the field's value (struct bndr_str). Emptied keys are deleted. */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "bndr.h"
#include "cmds.h"

static struct bndr_dict *get_dict(struct bndr_client *c, struct bndr_arg *k, int type, int write,
                                  int *wrong)
{
    struct bndr_obj *o = bndr_lookup_type(c, k, type, write, wrong);
    return o ? o->u.d : NULL;
}

static struct bndr_dict *create(struct bndr_client *c, struct bndr_arg *k, int type)
{
    struct bndr_obj *o = bndr_obj_new(type);
    bndr_db_add(&c->srv->db, k->p, k->n, o);
    return o->u.d;
}

static void maybe_delete(struct bndr_client *c, struct bndr_arg *k, struct bndr_dict *d)
{
    if (d->n == 0)
        bndr_db_delete(&c->srv->db, k->p, k->n);
    else
        bndr_dict_maybe_shrink(d);
}

static void hfree(struct bndr_de *e)
{
    bndr_str_free(e->v.p);
}

/* ---------------------------------------------------------------- sets */
/* OBJECT ENCODING: Redis turns an intset into a hashtable for good when a member that is not an
 * integer is added (removing it later does not turn it back); the count limit is server.c's. */
static int non_int(const char *p, size_t n)
{
    long long v;
    return bndr_parse_ll(p, n, &v) < 0;
}

static void mark_hashtable(struct bndr_client *c, const struct bndr_arg *k)
{
    struct bndr_de *e = bndr_db_find(&c->srv->db, k->p, k->n);
    if (e)
        BNDR_DE_OBJ(e)->big = 1;
}

void bndr_cmd_sadd(struct bndr_client *c)
{
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_SET, 1, &wrong);
    if (wrong)
        return;
    if (!d)
        d = create(c, &c->argv[1], BNDR_SET);
    long long added = 0;
    int strs = 0;
    for (int i = 2; i < c->argc; i++) {
        int created;
        bndr_dict_upsert(d, c->argv[i].p, c->argv[i].n, &created);
        added += created;
        strs |= created && non_int(c->argv[i].p, c->argv[i].n);
    }
    if (strs)
        mark_hashtable(c, &c->argv[1]);
    c->srv->dirty += added;
    bndr_add_ll(c, added);
}

void bndr_cmd_srem(struct bndr_client *c)
{
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_SET, 1, &wrong);
    if (wrong)
        return;
    long long n = 0;
    for (int i = 2; d && i < c->argc; i++) {
        struct bndr_de *e = bndr_dict_unlink(d, c->argv[i].p, c->argv[i].n);
        if (e) {
            bndr_free(e);
            n++;
        }
    }
    if (d)
        maybe_delete(c, &c->argv[1], d);
    c->srv->dirty += n;
    bndr_add_ll(c, n);
}

static void reply_members(struct bndr_client *c, struct bndr_dict *d)
{
    bndr_add_set(c, d ? (long)d->n : 0);
    if (!d)
        return;
    BNDR_DICT_FOREACH(d, e) bndr_add_bulk(c, e->key, e->klen);
}

void bndr_cmd_smembers(struct bndr_client *c)
{
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_SET, 0, &wrong);
    if (!wrong)
        reply_members(c, d);
}

void bndr_cmd_sismember(struct bndr_client *c)
{
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_SET, 0, &wrong);
    if (!wrong)
        bndr_add_ll(c, d && bndr_dict_find(d, c->argv[2].p, c->argv[2].n) ? 1 : 0);
}

void bndr_cmd_smismember(struct bndr_client *c)
{
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_SET, 0, &wrong);
    if (wrong)
        return;
    bndr_add_array(c, c->argc - 2);
    for (int i = 2; i < c->argc; i++)
        bndr_add_ll(c, d && bndr_dict_find(d, c->argv[i].p, c->argv[i].n) ? 1 : 0);
}

void bndr_cmd_scard(struct bndr_client *c)
{
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_SET, 0, &wrong);
    if (!wrong)
        bndr_add_ll(c, d ? (long long)d->n : 0);
}

void bndr_cmd_spop(struct bndr_client *c)
{
    long long count = -1;
    if (c->argc > 3) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    if (c->argc == 3) {
        if (bndr_get_ll_or_reply(c, &c->argv[2], &count, "ERR value is out of range, must be positive") < 0)
            return;
        if (count < 0) {
            bndr_add_error(c, "ERR value is out of range, must be positive");
            return;
        }
    }
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_SET, 1, &wrong);
    if (wrong)
        return;
    if (!d) {
        if (count >= 0)
            bndr_add_set(c, 0);
        else
            bndr_add_null(c);
        return;
    }
    long long n = count < 0 ? 1 : count;
    if ((unsigned long long)n > d->n)
        n = (long long)d->n;
    struct bndr_arg *pa = bndr_malloc((size_t)(n + 2) * sizeof(*pa));
    pa[0].p = (char *)"SREM";
    pa[0].n = 4;
    pa[1] = c->argv[1];
    if (count >= 0)
        bndr_add_set(c, n);
    for (long long i = 0; i < n; i++) {
        struct bndr_de *e = bndr_dict_random(d);
        bndr_add_bulk(c, e->key, e->klen);
        pa[i + 2].p = bndr_memdup(e->key, e->klen);
        pa[i + 2].n = e->klen;
        bndr_free(bndr_dict_unlink(d, e->key, e->klen));
    }
    if (n > 0) {
        bndr_rewrite_prop(c, (int)n + 2, pa);
        c->srv->dirty += n;
    }
    for (long long i = 0; i < n; i++)
        bndr_free(pa[i + 2].p);
    bndr_free(pa);
    maybe_delete(c, &c->argv[1], d);
}

void bndr_cmd_srandmember(struct bndr_client *c)
{
    long long count = 0;
    int has = c->argc == 3;
    if (c->argc > 3) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    if (has && bndr_get_ll_or_reply(c, &c->argv[2], &count, NULL) < 0)
        return;
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_SET, 0, &wrong);
    if (wrong)
        return;
    if (!has) {
        struct bndr_de *e = d ? bndr_dict_random(d) : NULL;
        if (e)
            bndr_add_bulk(c, e->key, e->klen);
        else
            bndr_add_null(c);
        return;
    }
    if (!d || count == 0) {
        bndr_add_array(c, 0);
        return;
    }
    if (count < 0) {
        if (count < -1000000000LL) {
            bndr_add_error(c, "ERR value is out of range");
            return;
        }
        bndr_add_array(c, -count);
        for (long long i = 0; i < -count; i++) {
            struct bndr_de *e = bndr_dict_random(d);
            bndr_add_bulk(c, e->key, e->klen);
        }
        return;
    }
    if ((unsigned long long)count >= d->n) {
        bndr_add_array(c, (long)d->n);
        BNDR_DICT_FOREACH(d, e) bndr_add_bulk(c, e->key, e->klen);
        return;
    }
    /* distinct sample: pick random entries, dedupe in a temp dict */
    struct bndr_dict seen;
    bndr_dict_init(&seen);
    bndr_add_array(c, count);
    while ((long long)seen.n < count) {
        struct bndr_de *e = bndr_dict_random(d);
        int created;
        bndr_dict_upsert(&seen, e->key, e->klen, &created);
        if (created)
            bndr_add_bulk(c, e->key, e->klen);
    }
    bndr_dict_release(&seen, NULL);
}

void bndr_cmd_smove(struct bndr_client *c)
{
    int wrong;
    struct bndr_dict *src = get_dict(c, &c->argv[1], BNDR_SET, 1, &wrong);
    if (wrong)
        return;
    if (!src) { /* as Redis: a missing source answers 0 before the destination's type is checked */
        bndr_add_ll(c, 0);
        return;
    }
    struct bndr_dict *dst = get_dict(c, &c->argv[2], BNDR_SET, 1, &wrong);
    if (wrong)
        return;
    struct bndr_arg *m = &c->argv[3];
    if (!bndr_dict_find(src, m->p, m->n)) {
        bndr_add_ll(c, 0);
        return;
    }
    if (src == dst) {
        bndr_add_ll(c, 1);
        return;
    }
    bndr_free(bndr_dict_unlink(src, m->p, m->n));
    maybe_delete(c, &c->argv[1], src);
    if (!dst)
        dst = create(c, &c->argv[2], BNDR_SET);
    int created;
    bndr_dict_upsert(dst, m->p, m->n, &created);
    if (created && non_int(m->p, m->n))
        mark_hashtable(c, &c->argv[2]);
    c->srv->dirty++;
    bndr_add_ll(c, 1);
}

enum { OP_INTER, OP_UNION, OP_DIFF };

/* The intersection of sets[0..nk) (a NULL set is empty): its size, counting stops at limit
 * (0: none); members are added to res unless res is NULL. */
static long long set_inter(struct bndr_dict **sets, int nk, long long limit, struct bndr_dict *res)
{
    for (int i = 0; i < nk; i++)
        if (!sets[i])
            return 0;
    int small = 0;
    for (int i = 1; i < nk; i++)
        if (sets[i]->n < sets[small]->n)
            small = i;
    long long n = 0;
    BNDR_DICT_FOREACH(sets[small], e)
    {
        int all = 1;
        for (int i = 0; i < nk && all; i++)
            if (i != small && !bndr_dict_find(sets[i], e->key, e->klen))
                all = 0;
        if (!all)
            continue;
        if (res)
            bndr_dict_upsert(res, e->key, e->klen, NULL);
        if (++n == limit)
            return n;
    }
    return n;
}

static void setop(struct bndr_client *c, int first, int op, struct bndr_arg *dstkey)
{
    int nk = c->argc - first;
    struct bndr_dict **sets = bndr_calloc((size_t)nk * sizeof(*sets));
    for (int i = 0; i < nk; i++) {
        int wrong;
        sets[i] = get_dict(c, &c->argv[first + i], BNDR_SET, dstkey != NULL, &wrong);
        if (wrong) {
            bndr_free(sets);
            return;
        }
    }
    struct bndr_dict res;
    bndr_dict_init(&res);
    if (op == OP_INTER) {
        set_inter(sets, nk, 0, &res);
    } else if (op == OP_UNION) {
        for (int i = 0; i < nk; i++)
            if (sets[i])
                BNDR_DICT_FOREACH(sets[i], e) bndr_dict_upsert(&res, e->key, e->klen, NULL);
    } else if (sets[0]) {
        BNDR_DICT_FOREACH(sets[0], e)
        {
            int in_other = 0;
            for (int i = 1; i < nk && !in_other; i++)
                if (sets[i] && bndr_dict_find(sets[i], e->key, e->klen))
                    in_other = 1;
            if (!in_other)
                bndr_dict_upsert(&res, e->key, e->klen, NULL);
        }
    }
    bndr_free(sets);
    if (!dstkey) {
        reply_members(c, &res);
        bndr_dict_release(&res, NULL);
        return;
    }
    struct bndr_db *db = &c->srv->db;
    long long n = (long long)res.n;
    int existed = bndr_db_delete(db, dstkey->p, dstkey->n);
    if (n > 0) {
        struct bndr_obj *o = bndr_obj_new(BNDR_SET);
        *o->u.d = res;
        BNDR_DICT_FOREACH(o->u.d, e)
        {
            if (non_int(e->key, e->klen)) {
                o->big = 1;
                break;
            }
        }
        bndr_db_add(db, dstkey->p, dstkey->n, o);
    } else {
        bndr_dict_release(&res, NULL);
    }
    if (n > 0 || existed)
        c->srv->dirty++;
    bndr_add_ll(c, n);
}

void bndr_cmd_sinter(struct bndr_client *c) { setop(c, 1, OP_INTER, NULL); }
void bndr_cmd_sunion(struct bndr_client *c) { setop(c, 1, OP_UNION, NULL); }
void bndr_cmd_sdiff(struct bndr_client *c) { setop(c, 1, OP_DIFF, NULL); }
void bndr_cmd_sinterstore(struct bndr_client *c) { setop(c, 2, OP_INTER, &c->argv[1]); }
void bndr_cmd_sunionstore(struct bndr_client *c) { setop(c, 2, OP_UNION, &c->argv[1]); }
void bndr_cmd_sdiffstore(struct bndr_client *c) { setop(c, 2, OP_DIFF, &c->argv[1]); }

void bndr_cmd_sscan(struct bndr_client *c)
{
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_SET, 0, &wrong);
    if (!wrong)
        bndr_scan_generic(c, d, 2, BNDR_SET);
}

/* ---------------------------------------------------------------- hashes */
static int hset_one(struct bndr_dict *d, struct bndr_arg *f, struct bndr_arg *v)
{
    int created;
    struct bndr_de *e = bndr_dict_upsert(d, f->p, f->n, &created);
    if (!created)
        bndr_str_free(e->v.p);
    e->v.p = bndr_str_new(v->p, v->n);
    return created;
}

static void hset_generic(struct bndr_client *c, int ok_reply)
{
    if (c->argc % 2 != 0) {
        bndr_add_errorf(c, "ERR wrong number of arguments for '%s' command",
                        ok_reply ? "hmset" : "hset");
        return;
    }
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_HASH, 1, &wrong);
    if (wrong)
        return;
    if (!d)
        d = create(c, &c->argv[1], BNDR_HASH);
    long long created = 0;
    for (int i = 2; i < c->argc; i += 2)
        created += hset_one(d, &c->argv[i], &c->argv[i + 1]);
    c->srv->dirty += (c->argc - 2) / 2;
    if (ok_reply)
        bndr_add_ok(c);
    else
        bndr_add_ll(c, created);
}

void bndr_cmd_hset(struct bndr_client *c) { hset_generic(c, 0); }
void bndr_cmd_hmset(struct bndr_client *c) { hset_generic(c, 1); }

void bndr_cmd_hsetnx(struct bndr_client *c)
{
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_HASH, 1, &wrong);
    if (wrong)
        return;
    if (d && bndr_dict_find(d, c->argv[2].p, c->argv[2].n)) {
        bndr_add_ll(c, 0);
        return;
    }
    if (!d)
        d = create(c, &c->argv[1], BNDR_HASH);
    hset_one(d, &c->argv[2], &c->argv[3]);
    c->srv->dirty++;
    bndr_add_ll(c, 1);
}

static struct bndr_str *hget(struct bndr_dict *d, struct bndr_arg *f)
{
    struct bndr_de *e = d ? bndr_dict_find(d, f->p, f->n) : NULL;
    return e ? e->v.p : NULL;
}

void bndr_cmd_hget(struct bndr_client *c)
{
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_HASH, 0, &wrong);
    if (wrong)
        return;
    struct bndr_str *v = hget(d, &c->argv[2]);
    if (v)
        bndr_add_bulk(c, v->buf, v->len);
    else
        bndr_add_null(c);
}

void bndr_cmd_hmget(struct bndr_client *c)
{
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_HASH, 0, &wrong);
    if (wrong)
        return;
    bndr_add_array(c, c->argc - 2);
    for (int i = 2; i < c->argc; i++) {
        struct bndr_str *v = hget(d, &c->argv[i]);
        if (v)
            bndr_add_bulk(c, v->buf, v->len);
        else
            bndr_add_null(c);
    }
}

static void hgetall_generic(struct bndr_client *c, int keys, int vals)
{
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_HASH, 0, &wrong);
    if (wrong)
        return;
    long n = d ? (long)d->n : 0;
    if (keys && vals)
        bndr_add_map(c, n);
    else
        bndr_add_array(c, n);
    if (!d)
        return;
    BNDR_DICT_FOREACH(d, e)
    {
        if (keys)
            bndr_add_bulk(c, e->key, e->klen);
        if (vals) {
            struct bndr_str *v = e->v.p;
            bndr_add_bulk(c, v->buf, v->len);
        }
    }
}

void bndr_cmd_hgetall(struct bndr_client *c) { hgetall_generic(c, 1, 1); }
void bndr_cmd_hkeys(struct bndr_client *c) { hgetall_generic(c, 1, 0); }
void bndr_cmd_hvals(struct bndr_client *c) { hgetall_generic(c, 0, 1); }

void bndr_cmd_hdel(struct bndr_client *c)
{
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_HASH, 1, &wrong);
    if (wrong)
        return;
    long long n = 0;
    for (int i = 2; d && i < c->argc; i++) {
        struct bndr_de *e = bndr_dict_unlink(d, c->argv[i].p, c->argv[i].n);
        if (e) {
            hfree(e);
            bndr_free(e);
            n++;
        }
    }
    if (d)
        maybe_delete(c, &c->argv[1], d);
    c->srv->dirty += n;
    bndr_add_ll(c, n);
}

void bndr_cmd_hexists(struct bndr_client *c)
{
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_HASH, 0, &wrong);
    if (!wrong)
        bndr_add_ll(c, hget(d, &c->argv[2]) ? 1 : 0);
}

void bndr_cmd_hlen(struct bndr_client *c)
{
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_HASH, 0, &wrong);
    if (!wrong)
        bndr_add_ll(c, d ? (long long)d->n : 0);
}

void bndr_cmd_hstrlen(struct bndr_client *c)
{
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_HASH, 0, &wrong);
    if (wrong)
        return;
    struct bndr_str *v = hget(d, &c->argv[2]);
    bndr_add_ll(c, v ? v->len : 0);
}

void bndr_cmd_hincrby(struct bndr_client *c)
{
    long long by, v = 0;
    if (bndr_get_ll_or_reply(c, &c->argv[3], &by, NULL) < 0)
        return;
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_HASH, 1, &wrong);
    if (wrong)
        return;
    struct bndr_str *cur = hget(d, &c->argv[2]);
    if (cur && bndr_parse_ll(cur->buf, cur->len, &v) < 0) {
        bndr_add_error(c, "ERR hash value is not an integer");
        return;
    }
    if ((by < 0 && v < 0 && by < LLONG_MIN - v) || (by > 0 && v > 0 && by > LLONG_MAX - v)) {
        bndr_add_error(c, "ERR increment or decrement would overflow");
        return;
    }
    v += by;
    if (!d)
        d = create(c, &c->argv[1], BNDR_HASH);
    char buf[24];
    struct bndr_arg va = {buf, (size_t)bndr_fmt_ll(buf, v)};
    hset_one(d, &c->argv[2], &va);
    c->srv->dirty++;
    bndr_add_ll(c, v);
}

void bndr_cmd_hincrbyfloat(struct bndr_client *c)
{
    long double by, v = 0;
    if (bndr_parse_ld(c->argv[3].p, c->argv[3].n, &by) < 0) {
        bndr_add_error(c, BNDR_ERR_NOTFLOAT);
        return;
    }
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_HASH, 1, &wrong);
    if (wrong)
        return;
    struct bndr_str *cur = hget(d, &c->argv[2]);
    if (cur && bndr_parse_ld(cur->buf, cur->len, &v) < 0) {
        bndr_add_error(c, "ERR hash value is not a float");
        return;
    }
    v += by;
    if (isnan(v) || isinf(v)) {
        bndr_add_error(c, "ERR increment would produce NaN or Infinity");
        return;
    }
    char buf[BNDR_LD_STR_MAX];
    int n = bndr_fmt_ld(buf, sizeof buf, v);
    if (n < 0) {
        bndr_add_error(c, BNDR_ERR_NOTFLOAT);
        return;
    }
    if (!d)
        d = create(c, &c->argv[1], BNDR_HASH);
    struct bndr_arg va = {buf, (size_t)n};
    hset_one(d, &c->argv[2], &va);
    c->srv->dirty++;
    bndr_add_bulk(c, buf, (size_t)n);
    struct bndr_arg a[4] = {{(char *)"HSET", 4}, c->argv[1], c->argv[2], va};
    bndr_rewrite_prop(c, 4, a);
}

void bndr_cmd_hscan(struct bndr_client *c)
{
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_HASH, 0, &wrong);
    if (!wrong)
        bndr_scan_generic(c, d, 2, BNDR_HASH);
}

/* ---------------------------------------------------------------- Redis 7.0 additions */
/* SINTERCARD numkeys key [key ...] [LIMIT limit] */
void bndr_cmd_sintercard(struct bndr_client *c)
{
    long long numkeys, limit = 0;
    if (bndr_get_ll_or_reply(c, &c->argv[1], &numkeys, "ERR numkeys should be greater than 0") < 0)
        return;
    if (numkeys < 1) {
        bndr_add_error(c, "ERR numkeys should be greater than 0");
        return;
    }
    if (numkeys > c->argc - 2) {
        bndr_add_error(c, "ERR Number of keys can't be greater than number of args");
        return;
    }
    for (int j = 2 + (int)numkeys; j < c->argc; j++) {
        if (bndr_argeq(&c->argv[j], "limit") && j + 1 < c->argc) {
            j++;
            if (bndr_get_ll_or_reply(c, &c->argv[j], &limit, "ERR LIMIT can't be negative") < 0)
                return;
            if (limit < 0) {
                bndr_add_error(c, "ERR LIMIT can't be negative");
                return;
            }
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return;
        }
    }
    int nk = (int)numkeys;
    struct bndr_dict **sets = bndr_calloc((size_t)nk * sizeof(*sets));
    for (int i = 0; i < nk; i++) {
        int wrong;
        sets[i] = get_dict(c, &c->argv[2 + i], BNDR_SET, 0, &wrong);
        if (wrong) {
            bndr_free(sets);
            return;
        }
    }
    long long n = set_inter(sets, nk, limit, NULL);
    bndr_free(sets);
    bndr_add_ll(c, n);
}

int bndr_parse_rand_count(struct bndr_client *c, const char *with, long long *count, int *has_with)
{
    *count = 0;
    *has_with = 0;
    if (c->argc < 3)
        return 0;
    if (bndr_get_ll_or_reply(c, &c->argv[2], count, NULL) < 0)
        return -1;
    if (*count == LLONG_MIN) {
        bndr_add_error(c, "ERR value is out of range, value must between -9223372036854775807 and "
                          "9223372036854775807");
        return -1;
    }
    if (c->argc > 4 || (c->argc == 4 && !bndr_argeq(&c->argv[3], with))) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return -1;
    }
    if (c->argc == 4) {
        *has_with = 1;
        if (*count < -LLONG_MAX / 2 || *count > LLONG_MAX / 2) {
            bndr_add_error(c, "ERR value is out of range");
            return -1;
        }
    }
    if (*count < -1000000000LL) { /* bounded: the reply would not fit in memory */
        bndr_add_error(c, "ERR value is out of range");
        return -1;
    }
    return 0;
}

static void hrand_emit(struct bndr_client *c, struct bndr_de *e, int withvalues)
{
    if (withvalues && c->resp == 3)
        bndr_add_array(c, 2);
    bndr_add_bulk(c, e->key, e->klen);
    if (withvalues) {
        struct bndr_str *v = e->v.p;
        bndr_add_bulk(c, v->buf, v->len);
    }
}

/* HRANDFIELD key [count [WITHVALUES]] */
void bndr_cmd_hrandfield(struct bndr_client *c)
{
    long long count = 0;
    int wv = 0;
    if (bndr_parse_rand_count(c, "withvalues", &count, &wv) < 0)
        return;
    int wrong;
    struct bndr_dict *d = get_dict(c, &c->argv[1], BNDR_HASH, 0, &wrong);
    if (wrong)
        return;
    if (c->argc == 2) {
        struct bndr_de *e = d ? bndr_dict_random(d) : NULL;
        if (e)
            bndr_add_bulk(c, e->key, e->klen);
        else
            bndr_add_null(c);
        return;
    }
    if (!d || count == 0) {
        bndr_add_array(c, 0);
        return;
    }
    int uniq = count > 0;
    if (!uniq)
        count = -count;
    if (!uniq || count == 1) {
        bndr_add_array(c, wv && c->resp == 2 ? count * 2 : count);
        for (long long i = 0; i < count; i++)
            hrand_emit(c, bndr_dict_random(d), wv);
        return;
    }
    if ((unsigned long long)count >= d->n) {
        long long n = (long long)d->n;
        bndr_add_array(c, wv && c->resp == 2 ? n * 2 : n);
        BNDR_DICT_FOREACH(d, e) hrand_emit(c, e, wv);
        return;
    }
    struct bndr_dict seen;
    bndr_dict_init(&seen);
    bndr_add_array(c, wv && c->resp == 2 ? count * 2 : count);
    while ((long long)seen.n < count) {
        struct bndr_de *e = bndr_dict_random(d);
        int created;
        bndr_dict_upsert(&seen, e->key, e->klen, &created);
        if (created)
            hrand_emit(c, e, wv);
    }
    bndr_dict_release(&seen, NULL);
}
