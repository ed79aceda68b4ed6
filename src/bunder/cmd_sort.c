/* cmd_sort.c — SORT / SORT_RO (BY, GET, LIMIT, ASC/DESC, ALPHA, STORE), COPY (DB, REPLACE) and LCS, each as
 * Redis 7.0 answers them (sortCommandGeneric, copyCommand, lcsCommand transcribed: the order of
 * checks, the edge cases of LIMIT and the error wording are Redis'). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bndr.h"
#include "cmds.h"

/* ---------------------------------------------------------------- SORT */
struct sort_el {
    const char *p; /* the element (borrowed from the sorted key) */
    size_t n;
    double score;
    const char *cmp; /* BY value for ALPHA (borrowed, NUL-terminated); NULL: none */
    size_t cmpn;
};

struct sort_ctx {
    int desc, alpha, bypattern;
};
static struct sort_ctx sort_cfg; /* qsort has no context argument; commands run on one thread */

static int bincmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t m = an < bn ? an : bn;
    int r = m ? memcmp(a, b, m) : 0;
    if (r)
        return r;
    return an < bn ? -1 : an > bn;
}

static int sort_compare(const void *x, const void *y)
{
    const struct sort_el *a = x, *b = y;
    int cmp;
    if (!sort_cfg.alpha) {
        if (a->score > b->score)
            cmp = 1;
        else if (a->score < b->score)
            cmp = -1;
        else
            cmp = bincmp(a->p, a->n, b->p, b->n);
    } else if (sort_cfg.bypattern) {
        if (!a->cmp || !b->cmp)
            cmp = a->cmp == b->cmp ? 0 : (!a->cmp ? -1 : 1);
        else
            cmp = bincmp(a->cmp, a->cmpn, b->cmp, b->cmpn);
    } else {
        cmp = bincmp(a->p, a->n, b->p, b->n);
    }
    return sort_cfg.desc ? -cmp : cmp;
}

/* Redis' lookupKeyByPattern: "#" is the element; the first '*' of pattern is replaced by the
 * element; "->field" after it reads a hash field. 1 with *out set, 0 when there is no value. */
static int lookup_by_pattern(struct bndr_client *c, const struct bndr_arg *pat, const char *sub,
                             size_t subn, const char **out, size_t *outn)
{
    const char *sp = pat->p;
    size_t spn = strnlen(pat->p, pat->n); /* Redis' strchr/strstr stop at a NUL */
    if (spn == 1 && pat->n == 1 && sp[0] == '#') {
        *out = sub;
        *outn = subn;
        return 1;
    }
    const char *star = memchr(sp, '*', spn);
    if (!star)
        return 0;
    const char *f = NULL;
    for (const char *q = star + 1; q + 1 < sp + spn; q++)
        if (q[0] == '-' && q[1] == '>') {
            f = q;
            break;
        }
    size_t fieldlen = 0;
    if (f && f + 2 < sp + spn)
        fieldlen = pat->n - (size_t)(f - sp) - 2;
    else
        f = NULL;
    size_t prefixlen = (size_t)(star - sp);
    size_t postfixlen = pat->n - (prefixlen + 1) - (fieldlen ? fieldlen + 2 : 0);
    size_t subl = subn;
    char stackbuf[256];
    size_t kn = prefixlen + subl + postfixlen;
    char *k = kn <= sizeof stackbuf ? stackbuf : bndr_malloc(kn);
    memcpy(k, sp, prefixlen);
    memcpy(k + prefixlen, sub, subl);
    memcpy(k + prefixlen + subl, star + 1, postfixlen);
    struct bndr_arg ka = {k, kn};
    struct bndr_obj *o = bndr_lookup_read(c, &ka);
    if (k != stackbuf)
        bndr_free(k);
    if (!o)
        return 0;
    if (fieldlen) {
        if (o->type != BNDR_HASH)
            return 0;
        struct bndr_de *e = bndr_dict_find(o->u.d, f + 2, fieldlen);
        if (!e)
            return 0;
        struct bndr_str *v = e->v.p;
        *out = v->buf;
        *outn = v->len;
        return 1;
    }
    if (o->type != BNDR_STRING)
        return 0;
    *out = o->s;
    *outn = o->len;
    return 1;
}

static void sort_generic(struct bndr_client *c, int readonly)
{
    int desc = 0, alpha = 0, dontsort = 0, getop = 0;
    long long limit_start = 0, limit_count = -1;
    struct bndr_arg *sortby = NULL, *storekey = NULL;
    struct bndr_arg **gets = bndr_malloc((size_t)c->argc * sizeof(*gets));
    for (int j = 2; j < c->argc; j++) {
        int leftargs = c->argc - j - 1;
        struct bndr_arg *a = &c->argv[j];
        if (bndr_argeq(a, "asc")) {
            desc = 0;
        } else if (bndr_argeq(a, "desc")) {
            desc = 1;
        } else if (bndr_argeq(a, "alpha")) {
            alpha = 1;
        } else if (bndr_argeq(a, "limit") && leftargs >= 2) {
            if (bndr_get_ll_or_reply(c, &c->argv[j + 1], &limit_start, NULL) < 0 ||
                bndr_get_ll_or_reply(c, &c->argv[j + 2], &limit_count, NULL) < 0) {
                bndr_free(gets);
                return;
            }
            j += 2;
        } else if (!readonly && bndr_argeq(a, "store") && leftargs >= 1) {
            storekey = &c->argv[++j];
        } else if (bndr_argeq(a, "by") && leftargs >= 1) {
            sortby = &c->argv[++j];
            dontsort = memchr(sortby->p, '*', strnlen(sortby->p, sortby->n)) == NULL;
        } else if (bndr_argeq(a, "get") && leftargs >= 1) {
            gets[getop++] = &c->argv[++j];
        } else {
            bndr_free(gets);
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return;
        }
    }
    struct bndr_obj *o = bndr_lookup_read(c, &c->argv[1]);
    if (o && o->type != BNDR_SET && o->type != BNDR_LIST && o->type != BNDR_ZSET) {
        bndr_free(gets);
        bndr_add_error(c, BNDR_ERR_WRONGTYPE);
        return;
    }
    if (o && o->type == BNDR_ZSET)
        o->big = 1; /* OBJECT ENCODING: Redis' SORT converts a sorted set to a skiplist for good */
    if (dontsort && o && o->type == BNDR_SET && (storekey || (c->flags & BNDR_CF_FAKE))) {
        /* a set has no order of its own: STORE (and scripts) get a deterministic one */
        dontsort = 0;
        alpha = 1;
        sortby = NULL;
    }
    long long vectorlen = 0;
    if (o)
        vectorlen = o->type == BNDR_LIST ? (long long)o->u.l->n
                    : o->type == BNDR_SET ? (long long)o->u.d->n
                                          : (long long)o->u.z->length;
    long long start = limit_start < 0 ? 0 : limit_start;
    long long end = limit_count < 0 ? vectorlen - 1 : start + limit_count - 1;
    if (start >= vectorlen) {
        start = vectorlen - 1;
        end = vectorlen - 2;
    }
    if (end >= vectorlen)
        end = vectorlen - 1;
    if (o && (o->type == BNDR_ZSET || o->type == BNDR_LIST) && dontsort &&
        (start != 0 || end != vectorlen - 1))
        vectorlen = end - start + 1;
    if (vectorlen < 0)
        vectorlen = 0;
    struct sort_el *v = bndr_calloc((size_t)(vectorlen ? vectorlen : 1) * sizeof(*v));
    long long j = 0;
    if (!o) {
        /* an empty list */
    } else if (o->type == BNDR_LIST && dontsort) {
        if (end >= start) {
            struct bndr_list *l = o->u.l;
            long long len = (long long)l->n;
            long long i = desc ? len - start - 1 : start;
            while (j < vectorlen && i >= 0 && i < len) {
                struct bndr_str *s = BNDR_LIST_AT(l, (size_t)i);
                v[j].p = s->buf;
                v[j].n = s->len;
                j++;
                i += desc ? -1 : 1;
            }
            end -= start;
            start = 0;
        }
    } else if (o->type == BNDR_LIST) {
        struct bndr_list *l = o->u.l;
        for (size_t i = 0; i < l->n; i++, j++) {
            v[j].p = BNDR_LIST_AT(l, i)->buf;
            v[j].n = BNDR_LIST_AT(l, i)->len;
        }
    } else if (o->type == BNDR_SET) {
        BNDR_DICT_FOREACH(o->u.d, e)
        {
            v[j].p = e->key;
            v[j].n = e->klen;
            j++;
        }
    } else if (dontsort) {
        struct bndr_zset *z = o->u.z;
        struct bndr_zsl_node *x;
        if (desc) {
            x = z->tail;
            if (start > 0)
                x = bndr_zsl_by_rank(z, (unsigned long)((long long)z->length - start));
        } else {
            x = z->header->level[0].forward;
            if (start > 0)
                x = bndr_zsl_by_rank(z, (unsigned long)(start + 1));
        }
        for (long long r = vectorlen; r-- > 0 && x;) {
            v[j].p = x->ele;
            v[j].n = x->elen;
            j++;
            x = desc ? x->backward : x->level[0].forward;
        }
        end -= start;
        start = 0;
    } else {
        BNDR_DICT_FOREACH(&o->u.z->dict, e)
        {
            v[j].p = e->key;
            v[j].n = e->klen;
            j++;
        }
    }
    int conv_error = 0;
    if (!dontsort) {
        for (j = 0; j < vectorlen; j++) {
            const char *bp = v[j].p;
            size_t bn = v[j].n;
            if (sortby && !lookup_by_pattern(c, sortby, v[j].p, v[j].n, &bp, &bn))
                continue;
            if (alpha) {
                if (sortby) {
                    v[j].cmp = bp;
                    v[j].cmpn = bn;
                }
            } else {
                /* strtod on the NUL-terminated bytes, as Redis */
                char *eptr;
                errno = 0;
                v[j].score = strtod(bp, &eptr);
                if (eptr[0] != '\0' || errno == ERANGE || isnan(v[j].score))
                    conv_error = 1;
            }
        }
        sort_cfg.desc = desc;
        sort_cfg.alpha = alpha;
        sort_cfg.bypattern = sortby != NULL;
        qsort(v, (size_t)vectorlen, sizeof(*v), sort_compare);
    }
    long long outputlen = end - start + 1;
    if (outputlen < 0)
        outputlen = 0;
    if (getop)
        outputlen *= getop;
    if (conv_error) {
        bndr_add_error(c, "ERR One or more scores can't be converted into double");
    } else if (!storekey) {
        bndr_add_array(c, outputlen);
        for (j = start; j <= end; j++) {
            if (!getop)
                bndr_add_bulk(c, v[j].p, v[j].n);
            for (int g = 0; g < getop; g++) {
                const char *gp;
                size_t gn;
                if (lookup_by_pattern(c, gets[g], v[j].p, v[j].n, &gp, &gn))
                    bndr_add_bulk(c, gp, gn);
                else
                    bndr_add_null(c);
            }
        }
    } else {
        struct bndr_obj *lo = bndr_obj_new(BNDR_LIST);
        for (j = start; j <= end; j++) {
            if (!getop)
                bndr_list_push(lo->u.l, bndr_str_new(v[j].p, v[j].n), 0);
            for (int g = 0; g < getop; g++) {
                const char *gp = "";
                size_t gn = 0;
                lookup_by_pattern(c, gets[g], v[j].p, v[j].n, &gp, &gn);
                bndr_list_push(lo->u.l, bndr_str_new(gp, gn), 0);
            }
        }
        if (outputlen) {
            bndr_db_set(&c->srv->db, storekey->p, storekey->n, lo, 0);
            c->srv->dirty += outputlen;
            bndr_signal_key(c->srv, storekey->p, storekey->n);
            bndr_notify(c->srv, "sortstore", storekey->p, storekey->n);
        } else {
            bndr_obj_free(lo);
            if (bndr_db_delete(&c->srv->db, storekey->p, storekey->n)) {
                c->srv->dirty++;
                bndr_signal_key(c->srv, storekey->p, storekey->n);
                bndr_notify(c->srv, "del", storekey->p, storekey->n);
            }
        }
        bndr_add_ll(c, outputlen);
    }
    bndr_free(v);
    bndr_free(gets);
}

void bndr_cmd_sort(struct bndr_client *c) { sort_generic(c, 0); }
void bndr_cmd_sort_ro(struct bndr_client *c) { sort_generic(c, 1); }

/* ---------------------------------------------------------------- COPY */
/* A deep copy of o's value (no TTL). */
static struct bndr_obj *obj_dup(const struct bndr_obj *o)
{
    struct bndr_obj *n;
    switch (o->type) {
    case BNDR_STRING:
        n = bndr_obj_string(o->s, o->len);
        n->big = o->big; /* Redis' dupStringObject keeps raw/embstr */
        return n;
    case BNDR_LIST:
        n = bndr_obj_new(BNDR_LIST);
        for (size_t i = 0; i < o->u.l->n; i++) {
            struct bndr_str *s = BNDR_LIST_AT(o->u.l, i);
            bndr_list_push(n->u.l, bndr_str_new(s->buf, s->len), 0);
        }
        return n;
    case BNDR_SET:
        n = bndr_obj_new(BNDR_SET);
        BNDR_DICT_FOREACH(o->u.d, e) bndr_dict_upsert(n->u.d, e->key, e->klen, NULL);
        n->big = o->big; /* Redis' copies keep the encoding */
        return n;
    case BNDR_HASH:
        n = bndr_obj_new(BNDR_HASH);
        BNDR_DICT_FOREACH(o->u.d, e)
        {
            struct bndr_str *v = e->v.p;
            bndr_dict_upsert(n->u.d, e->key, e->klen, NULL)->v.p = bndr_str_new(v->buf, v->len);
        }
        n->big = o->big;
        return n;
    case BNDR_ZSET:
        n = bndr_obj_new(BNDR_ZSET);
        for (struct bndr_zsl_node *x = o->u.z->header->level[0].forward; x; x = x->level[0].forward)
            bndr_zset_set(n->u.z, x->ele, x->elen, x->score);
        n->big = o->big;
        return n;
    case BNDR_STREAM: {
        struct bndr_buf b = {0};
        bndr_stream_dump(o->u.x, &b);
        struct bndr_stream *x = bndr_stream_restore(b.p, b.len);
        bndr_free(b.p);
        if (!x)
            return NULL;
        n = bndr_obj_new(BNDR_STREAM);
        bndr_stream_free(n->u.x);
        n->u.x = x;
        return n;
    }
    }
    return NULL;
}

void bndr_cmd_copy(struct bndr_client *c)
{
    struct bndr_server *s = c->srv;
    int replace = 0, dbid = s->curdb;
    for (int j = 3; j < c->argc; j++) {
        if (bndr_argeq(&c->argv[j], "replace")) {
            replace = 1;
        } else if (bndr_argeq(&c->argv[j], "db") && c->argc > j + 1) {
            long long id;
            if (bndr_get_ll_or_reply(c, &c->argv[j + 1], &id, NULL) < 0)
                return;
            if (id < INT_MIN || id > INT_MAX) {
                bndr_add_error(c, BNDR_ERR_NOTINT);
                return;
            }
            if (id < 0 || id >= s->ndb) {
                bndr_add_error(c, "ERR DB index is out of range");
                return;
            }
            dbid = (int)id;
            j++;
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return;
        }
    }
    struct bndr_arg *key = &c->argv[1], *newkey = &c->argv[2];
    if (dbid == s->curdb && key->n == newkey->n && !memcmp(key->p, newkey->p, key->n)) {
        bndr_add_error(c, "ERR source and destination objects are the same");
        return;
    }
    struct bndr_obj *o = bndr_lookup_read(c, key);
    if (!o) {
        bndr_add_ll(c, 0);
        return;
    }
    int64_t expire = bndr_db_expire(&s->db, o);
    int src = bndr_db_switch(s, dbid); /* the target database is current until the end */
    int exists = bndr_lookup_write(c, newkey) != NULL;
    if (exists && !replace) {
        bndr_db_switch(s, src);
        bndr_add_ll(c, 0);
        return;
    }
    struct bndr_obj *n = obj_dup(o);
    if (!n) {
        bndr_db_switch(s, src);
        bndr_add_error(c, "ERR the value could not be copied");
        return;
    }
    bndr_db_delete(&s->db, newkey->p, newkey->n);
    struct bndr_de *e = bndr_db_add(&s->db, newkey->p, newkey->n, n);
    if (expire)
        bndr_db_set_expire(&s->db, e, expire);
    bndr_signal_key(s, newkey->p, newkey->n);
    bndr_notify(s, "copy_to", newkey->p, newkey->n);
    bndr_db_switch(s, src);
    s->dirty++;
    bndr_add_ll(c, 1);
}

/* ---------------------------------------------------------------- LCS */
void bndr_cmd_lcs(struct bndr_client *c)
{
    long long minmatchlen = 0;
    int getlen = 0, getidx = 0, withmatchlen = 0;
    struct bndr_obj *oa = bndr_lookup_read(c, &c->argv[1]);
    struct bndr_obj *ob = bndr_lookup_read(c, &c->argv[2]);
    if ((oa && oa->type != BNDR_STRING) || (ob && ob->type != BNDR_STRING)) {
        bndr_add_error(c, "ERR The specified keys must contain string values");
        return;
    }
    const char *a = oa ? oa->s : "", *b = ob ? ob->s : "";
    uint32_t alen = oa ? oa->len : 0, blen = ob ? ob->len : 0;
    for (int j = 3; j < c->argc; j++) {
        int moreargs = c->argc - 1 - j;
        struct bndr_arg *opt = &c->argv[j];
        if (bndr_argeq(opt, "idx")) {
            getidx = 1;
        } else if (bndr_argeq(opt, "len")) {
            getlen = 1;
        } else if (bndr_argeq(opt, "withmatchlen")) {
            withmatchlen = 1;
        } else if (bndr_argeq(opt, "minmatchlen") && moreargs) {
            if (bndr_get_ll_or_reply(c, &c->argv[j + 1], &minmatchlen, NULL) < 0)
                return;
            if (minmatchlen < 0)
                minmatchlen = 0;
            j++;
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return;
        }
    }
    if (getidx && getlen) {
        bndr_add_error(c, "ERR If you want both the length and indexes, please just use IDX.");
        return;
    }
    /* the (alen+1)*(blen+1) table is transient: bounded by proto-max-bulk-len (512mb) */
    unsigned long long cells = (unsigned long long)(alen + 1ULL) * (blen + 1ULL);
    unsigned long long bytes = cells * sizeof(uint32_t);
    uint32_t *lcs = NULL;
    if (bytes <= (unsigned long long)c->srv->cfg.proto_max_bulk_len && bytes < SIZE_MAX)
        lcs = malloc((size_t)bytes);
    if (!lcs) {
        bndr_add_error(c, "ERR Insufficient memory, failed allocating transient memory for LCS");
        return;
    }
#define LCS(A, B) lcs[(B) + (size_t)(A) * (blen + 1)]
    for (uint32_t i = 0; i <= alen; i++) {
        for (uint32_t j = 0; j <= blen; j++) {
            if (i == 0 || j == 0)
                LCS(i, j) = 0;
            else if (a[i - 1] == b[j - 1])
                LCS(i, j) = LCS(i - 1, j - 1) + 1;
            else {
                uint32_t l1 = LCS(i - 1, j), l2 = LCS(i, j - 1);
                LCS(i, j) = l1 > l2 ? l1 : l2;
            }
        }
    }
    uint32_t idx = LCS(alen, blen);
    char *result = NULL;
    int computelcs = getidx || !getlen;
    if (computelcs)
        result = bndr_malloc(idx + 1);
    uint32_t arange_start = alen, arange_end = 0, brange_start = 0, brange_end = 0;
    size_t h = 0;
    long arraylen = 0;
    if (getidx) {
        bndr_add_map(c, 2);
        bndr_add_bulk_cstr(c, "matches");
        h = bndr_add_deferred_len(c);
    }
    uint32_t i = alen, j = blen;
    while (computelcs && i > 0 && j > 0) {
        int emit_range = 0;
        if (a[i - 1] == b[j - 1]) {
            result[idx - 1] = a[i - 1];
            if (arange_start == alen) {
                arange_start = i - 1;
                arange_end = i - 1;
                brange_start = j - 1;
                brange_end = j - 1;
            } else if (arange_start == i && brange_start == j) {
                arange_start--;
                brange_start--;
            } else {
                emit_range = 1;
            }
            if (arange_start == 0 || brange_start == 0)
                emit_range = 1;
            idx--;
            i--;
            j--;
        } else {
            uint32_t l1 = LCS(i - 1, j), l2 = LCS(i, j - 1);
            if (l1 > l2)
                i--;
            else
                j--;
            if (arange_start != alen)
                emit_range = 1;
        }
        uint32_t match_len = arange_end - arange_start + 1;
        if (emit_range) {
            if ((minmatchlen == 0 || match_len >= minmatchlen) && getidx) {
                bndr_add_array(c, 2 + withmatchlen);
                bndr_add_array(c, 2);
                bndr_add_ll(c, arange_start);
                bndr_add_ll(c, arange_end);
                bndr_add_array(c, 2);
                bndr_add_ll(c, brange_start);
                bndr_add_ll(c, brange_end);
                if (withmatchlen)
                    bndr_add_ll(c, match_len);
                arraylen++;
            }
            arange_start = alen;
        }
    }
    if (getidx) {
        bndr_set_deferred_len(c, h, arraylen, '*');
        bndr_add_bulk_cstr(c, "len");
        bndr_add_ll(c, LCS(alen, blen));
    } else if (getlen) {
        bndr_add_ll(c, idx);
    } else {
        bndr_add_bulk(c, result, LCS(alen, blen));
    }
#undef LCS
    free(lcs);
    bndr_free(result);
}
