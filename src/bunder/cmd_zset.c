/* cmd_zset.c — sorted-set commands: a dict (member -> score) plus a skiplist ordered by
 * (score, member) with spans for rank queries (util.c). */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bndr.h"
#include "cmds.h"

static struct bndr_zset *get_z(struct bndr_client *c, struct bndr_arg *k, int write, int *wrong)
{
    struct bndr_obj *o = bndr_lookup_type(c, k, BNDR_ZSET, write, wrong);
    return o ? o->u.z : NULL;
}

static void maybe_delete(struct bndr_client *c, struct bndr_arg *k, struct bndr_zset *z)
{
    if (z->length == 0)
        bndr_db_delete(&c->srv->db, k->p, k->n);
}

enum { ZA_NX = 1, ZA_XX = 2, ZA_GT = 4, ZA_LT = 8, ZA_CH = 16, ZA_INCR = 32 };

void bndr_cmd_zadd(struct bndr_client *c)
{
    int f = 0, i = 2;
    for (; i < c->argc; i++) {
        struct bndr_arg *a = &c->argv[i];
        if (bndr_argeq(a, "nx")) f |= ZA_NX;
        else if (bndr_argeq(a, "xx")) f |= ZA_XX;
        else if (bndr_argeq(a, "gt")) f |= ZA_GT;
        else if (bndr_argeq(a, "lt")) f |= ZA_LT;
        else if (bndr_argeq(a, "ch")) f |= ZA_CH;
        else if (bndr_argeq(a, "incr")) f |= ZA_INCR;
        else break;
    }
    int pairs = c->argc - i;
    if (pairs == 0 || pairs % 2) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    pairs /= 2;
    if ((f & ZA_NX) && (f & ZA_XX)) {
        bndr_add_error(c, "ERR XX and NX options at the same time are not compatible");
        return;
    }
    if (((f & ZA_GT) && (f & ZA_NX)) || ((f & ZA_LT) && (f & ZA_NX)) || ((f & ZA_GT) && (f & ZA_LT))) {
        bndr_add_error(c, "ERR GT, LT, and/or NX options at the same time are not compatible");
        return;
    }
    if ((f & ZA_INCR) && pairs > 1) {
        bndr_add_error(c, "ERR INCR option supports a single increment-element pair");
        return;
    }
    for (int j = 0; j < pairs; j++) {
        double d;
        if (bndr_parse_double(c->argv[i + 2 * j].p, c->argv[i + 2 * j].n, &d) < 0) {
            bndr_add_error(c, BNDR_ERR_NOTFLOAT);
            return;
        }
    }
    int wrong;
    struct bndr_zset *z = get_z(c, &c->argv[1], 1, &wrong);
    if (wrong)
        return;
    if (!z) {
        if (f & ZA_XX) {
            if (f & ZA_INCR)
                bndr_add_null(c);
            else
                bndr_add_ll(c, 0);
            return;
        }
        struct bndr_obj *o = bndr_obj_new(BNDR_ZSET);
        bndr_db_add(&c->srv->db, c->argv[1].p, c->argv[1].n, o);
        z = o->u.z;
    }
    long long added = 0, changed = 0;
    double last = 0;
    int aborted = 0;
    for (int j = 0; j < pairs; j++) {
        double score;
        bndr_parse_double(c->argv[i + 2 * j].p, c->argv[i + 2 * j].n, &score);
        struct bndr_arg *m = &c->argv[i + 2 * j + 1];
        struct bndr_de *e = bndr_dict_find(&z->dict, m->p, m->n);
        if (e) {
            if (f & ZA_NX) {
                aborted = 1;
                continue;
            }
            double cur = e->v.d;
            if (f & ZA_INCR) {
                score += cur;
                if (isnan(score)) {
                    bndr_add_error(c, "ERR resulting score is not a number (NaN)");
                    maybe_delete(c, &c->argv[1], z);
                    return;
                }
            }
            if (((f & ZA_GT) && score <= cur) || ((f & ZA_LT) && score >= cur)) {
                aborted = 1;
                continue;
            }
            last = score;
            if (score != cur) {
                bndr_zset_set(z, m->p, m->n, score);
                changed++;
            }
        } else {
            if (f & ZA_XX) {
                aborted = 1;
                continue;
            }
            bndr_zset_set(z, m->p, m->n, score);
            last = score;
            added++;
        }
    }
    maybe_delete(c, &c->argv[1], z);
    c->srv->dirty += added + changed;
    if (f & ZA_INCR) {
        if (aborted)
            bndr_add_null(c);
        else
            bndr_add_double(c, last);
    } else {
        bndr_add_ll(c, (f & ZA_CH) ? added + changed : added);
    }
}

void bndr_cmd_zincrby(struct bndr_client *c)
{
    double by;
    if (bndr_get_double_or_reply(c, &c->argv[2], &by, NULL) < 0)
        return;
    int wrong;
    struct bndr_zset *z = get_z(c, &c->argv[1], 1, &wrong);
    if (wrong)
        return;
    struct bndr_arg *m = &c->argv[3];
    double cur = 0;
    struct bndr_de *e = z ? bndr_dict_find(&z->dict, m->p, m->n) : NULL;
    if (e)
        cur = e->v.d;
    double score = cur + by;
    if (isnan(score)) {
        bndr_add_error(c, "ERR resulting score is not a number (NaN)");
        return;
    }
    if (!z) {
        struct bndr_obj *o = bndr_obj_new(BNDR_ZSET);
        bndr_db_add(&c->srv->db, c->argv[1].p, c->argv[1].n, o);
        z = o->u.z;
    }
    bndr_zset_set(z, m->p, m->n, score);
    c->srv->dirty++;
    bndr_add_double(c, score);
}

void bndr_cmd_zrem(struct bndr_client *c)
{
    int wrong;
    struct bndr_zset *z = get_z(c, &c->argv[1], 1, &wrong);
    if (wrong)
        return;
    long long n = 0;
    for (int i = 2; z && i < c->argc; i++)
        n += bndr_zset_del(z, c->argv[i].p, c->argv[i].n);
    if (z)
        maybe_delete(c, &c->argv[1], z);
    c->srv->dirty += n;
    bndr_add_ll(c, n);
}

void bndr_cmd_zscore(struct bndr_client *c)
{
    int wrong;
    struct bndr_zset *z = get_z(c, &c->argv[1], 0, &wrong);
    if (wrong)
        return;
    struct bndr_de *e = z ? bndr_dict_find(&z->dict, c->argv[2].p, c->argv[2].n) : NULL;
    if (e)
        bndr_add_double(c, e->v.d);
    else
        bndr_add_null(c);
}

void bndr_cmd_zmscore(struct bndr_client *c)
{
    int wrong;
    struct bndr_zset *z = get_z(c, &c->argv[1], 0, &wrong);
    if (wrong)
        return;
    bndr_add_array(c, c->argc - 2);
    for (int i = 2; i < c->argc; i++) {
        struct bndr_de *e = z ? bndr_dict_find(&z->dict, c->argv[i].p, c->argv[i].n) : NULL;
        if (e)
            bndr_add_double(c, e->v.d);
        else
            bndr_add_null(c);
    }
}

void bndr_cmd_zcard(struct bndr_client *c)
{
    int wrong;
    struct bndr_zset *z = get_z(c, &c->argv[1], 0, &wrong);
    if (!wrong)
        bndr_add_ll(c, z ? (long long)z->length : 0);
}

static int parse_score_bound(const struct bndr_arg *a, double *v, int *ex)
{
    *ex = 0;
    const char *p = a->p;
    size_t n = a->n;
    if (n && p[0] == '(') {
        *ex = 1;
        p++;
        n--;
    }
    return bndr_parse_double(p, n, v);
}

static int parse_score_range(const struct bndr_arg *min, const struct bndr_arg *max,
                             struct bndr_zrange_spec *r)
{
    if (parse_score_bound(min, &r->min, &r->minex) < 0 ||
        parse_score_bound(max, &r->max, &r->maxex) < 0)
        return -1;
    return 0;
}

static int parse_lex_bound(const struct bndr_arg *a, const char **p, size_t *n, int *ex, int *inf)
{
    *inf = 0;
    *ex = 0;
    if (a->n == 1 && a->p[0] == '-') {
        *inf = -1;
        return 0;
    }
    if (a->n == 1 && a->p[0] == '+') {
        *inf = 1;
        return 0;
    }
    if (a->n == 0 || (a->p[0] != '(' && a->p[0] != '['))
        return -1;
    *ex = a->p[0] == '(';
    *p = a->p + 1;
    *n = a->n - 1;
    return 0;
}

static int parse_lex_range(const struct bndr_arg *min, const struct bndr_arg *max,
                           struct bndr_lex_spec *r)
{
    memset(r, 0, sizeof *r);
    if (parse_lex_bound(min, &r->min, &r->minlen, &r->minex, &r->mininf) < 0 ||
        parse_lex_bound(max, &r->max, &r->maxlen, &r->maxex, &r->maxinf) < 0)
        return -1;
    return 0;
}

void bndr_cmd_zcount(struct bndr_client *c)
{
    struct bndr_zrange_spec r;
    if (parse_score_range(&c->argv[2], &c->argv[3], &r) < 0) {
        bndr_add_error(c, "ERR min or max is not a float");
        return;
    }
    int wrong;
    struct bndr_zset *z = get_z(c, &c->argv[1], 0, &wrong);
    if (wrong)
        return;
    long long n = 0;
    struct bndr_zsl_node *x = z ? bndr_zsl_first_in_range(z, &r) : NULL;
    for (; x && bndr_zsl_value_lte_max(x->score, &r); x = x->level[0].forward)
        n++;
    bndr_add_ll(c, n);
}

void bndr_cmd_zlexcount(struct bndr_client *c)
{
    struct bndr_lex_spec r;
    if (parse_lex_range(&c->argv[2], &c->argv[3], &r) < 0) {
        bndr_add_error(c, "ERR min or max not valid string range item");
        return;
    }
    int wrong;
    struct bndr_zset *z = get_z(c, &c->argv[1], 0, &wrong);
    if (wrong)
        return;
    long long n = 0;
    struct bndr_zsl_node *x = z ? bndr_zsl_first_in_lex(z, &r) : NULL;
    for (; x && bndr_lex_lte_max(x->ele, x->elen, &r); x = x->level[0].forward)
        n++;
    bndr_add_ll(c, n);
}

static void rank_generic(struct bndr_client *c, int rev)
{
    int wrong;
    struct bndr_zset *z = get_z(c, &c->argv[1], 0, &wrong);
    if (wrong)
        return;
    long r = z ? bndr_zset_rank(z, c->argv[2].p, c->argv[2].n, rev) : -1;
    if (r < 0)
        bndr_add_null(c);
    else
        bndr_add_ll(c, r);
}

void bndr_cmd_zrank(struct bndr_client *c) { rank_generic(c, 0); }
void bndr_cmd_zrevrank(struct bndr_client *c) { rank_generic(c, 1); }

enum { BY_RANK, BY_SCORE, BY_LEX };

static void emit(struct bndr_client *c, struct bndr_zsl_node *x, int withscores,
                 struct bndr_zset *dst)
{
    if (dst) {
        bndr_zset_set(dst, x->ele, x->elen, x->score);
        return;
    }
    if (withscores && c->resp == 3)
        bndr_add_array(c, 2);
    bndr_add_bulk(c, x->ele, x->elen);
    if (withscores)
        bndr_add_double(c, x->score);
}

/* Replies the range, or (dst != NULL) adds it to dst and replies nothing; -1: an error replied */
static int zrange_generic(struct bndr_client *c, struct bndr_arg *key, struct bndr_arg *a1,
                          struct bndr_arg *a2, int by, int rev, int withscores, long long offset,
                          long long limit, struct bndr_zset *dst)
{
    struct bndr_zrange_spec sr;
    struct bndr_lex_spec lr;
    long long start = 0, end = 0;
    if (by == BY_RANK) {
        if (bndr_get_ll_or_reply(c, a1, &start, NULL) < 0 ||
            bndr_get_ll_or_reply(c, a2, &end, NULL) < 0)
            return -1;
    } else if (by == BY_SCORE) {
        /* with REV the arguments are max then min */
        if (parse_score_range(rev ? a2 : a1, rev ? a1 : a2, &sr) < 0) {
            bndr_add_error(c, "ERR min or max is not a float");
            return -1;
        }
    } else if (parse_lex_range(rev ? a2 : a1, rev ? a1 : a2, &lr) < 0) {
        bndr_add_error(c, "ERR min or max not valid string range item");
        return -1;
    }
    int wrong;
    struct bndr_zset *z = get_z(c, key, 0, &wrong);
    if (wrong)
        return -1;
    if (!z) {
        if (!dst)
            bndr_add_array(c, 0);
        return 0;
    }
    if (by == BY_RANK) {
        long long len = (long long)z->length;
        if (start < 0)
            start += len;
        if (end < 0)
            end += len;
        if (start < 0)
            start = 0;
        if (start > end || start >= len) {
            if (!dst)
                bndr_add_array(c, 0);
            return 0;
        }
        if (end >= len)
            end = len - 1;
        long long n = end - start + 1;
        if (!dst)
            bndr_add_array(c, withscores && c->resp != 3 ? n * 2 : n);
        struct bndr_zsl_node *x = rev ? bndr_zsl_by_rank(z, (unsigned long)(len - start))
                                      : bndr_zsl_by_rank(z, (unsigned long)(start + 1));
        for (long long i = 0; i < n && x; i++) {
            emit(c, x, withscores, dst);
            x = rev ? x->backward : x->level[0].forward;
        }
        return 0;
    }
    struct bndr_zsl_node *x;
    if (by == BY_SCORE)
        x = rev ? bndr_zsl_last_in_range(z, &sr) : bndr_zsl_first_in_range(z, &sr);
    else
        x = rev ? bndr_zsl_last_in_lex(z, &lr) : bndr_zsl_first_in_lex(z, &lr);
    while (x && offset-- > 0)
        x = rev ? x->backward : x->level[0].forward;
    size_t h = dst ? 0 : bndr_add_deferred_len(c);
    long n = 0;
    while (x && limit != 0) {
        if (by == BY_SCORE) {
            if (rev ? !bndr_zsl_value_gte_min(x->score, &sr) : !bndr_zsl_value_lte_max(x->score, &sr))
                break;
        } else if (rev ? !bndr_lex_gte_min(x->ele, x->elen, &lr)
                       : !bndr_lex_lte_max(x->ele, x->elen, &lr)) {
            break;
        }
        emit(c, x, withscores, dst);
        n++;
        if (limit > 0)
            limit--;
        x = rev ? x->backward : x->level[0].forward;
    }
    if (!dst)
        bndr_set_deferred_len(c, h, withscores && c->resp != 3 ? n * 2 : n, '*');
    return 0;
}

/* Parses [WITHSCORES] [LIMIT off count] (and for ZRANGE: BYSCORE BYLEX REV) from argv[from..]. */
static int parse_range_opts(struct bndr_client *c, int from, int allow_by, int *by, int *rev,
                            int *ws, long long *off, long long *lim)
{
    int has_limit = 0;
    *off = 0;
    *lim = -1;
    for (int i = from; i < c->argc; i++) {
        struct bndr_arg *a = &c->argv[i];
        if (bndr_argeq(a, "withscores")) {
            *ws = 1;
        } else if (bndr_argeq(a, "limit") && i + 2 < c->argc) {
            if (bndr_get_ll_or_reply(c, &c->argv[i + 1], off, NULL) < 0 ||
                bndr_get_ll_or_reply(c, &c->argv[i + 2], lim, NULL) < 0)
                return -1;
            has_limit = 1;
            i += 2;
        } else if (allow_by && bndr_argeq(a, "byscore")) {
            *by = BY_SCORE;
        } else if (allow_by && bndr_argeq(a, "bylex")) {
            *by = BY_LEX;
        } else if (allow_by && bndr_argeq(a, "rev")) {
            *rev = 1;
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return -1;
        }
    }
    if (has_limit && *by == BY_RANK) {
        bndr_add_error(c, "ERR syntax error, LIMIT is only supported in combination with either "
                          "BYSCORE or BYLEX");
        return -1;
    }
    if (*ws && *by == BY_LEX) {
        bndr_add_error(c, "ERR syntax error, WITHSCORES not supported in combination with BYLEX");
        return -1;
    }
    if (*off < 0) {
        *lim = 0;
    }
    return 0;
}

void bndr_cmd_zrange(struct bndr_client *c)
{
    int by = BY_RANK, rev = 0, ws = 0;
    long long off, lim;
    if (parse_range_opts(c, 4, 1, &by, &rev, &ws, &off, &lim) < 0)
        return;
    zrange_generic(c, &c->argv[1], &c->argv[2], &c->argv[3], by, rev, ws, off, lim, NULL);
}

static void range_compat(struct bndr_client *c, int by, int rev)
{
    int b = by, r = rev, ws = 0;
    long long off, lim;
    if (parse_range_opts(c, 4, 0, &b, &r, &ws, &off, &lim) < 0)
        return;
    if (by == BY_RANK && (c->argc > 5 || (c->argc == 5 && !ws))) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    zrange_generic(c, &c->argv[1], &c->argv[2], &c->argv[3], by, rev, ws, off, lim, NULL);
}

void bndr_cmd_zrangebyscore(struct bndr_client *c) { range_compat(c, BY_SCORE, 0); }
void bndr_cmd_zrevrangebyscore(struct bndr_client *c) { range_compat(c, BY_SCORE, 1); }
void bndr_cmd_zrangebylex(struct bndr_client *c) { range_compat(c, BY_LEX, 0); }
void bndr_cmd_zrevrangebylex(struct bndr_client *c) { range_compat(c, BY_LEX, 1); }
void bndr_cmd_zrevrange(struct bndr_client *c) { range_compat(c, BY_RANK, 1); }

/* ZREMRANGEBYSCORE / ZREMRANGEBYLEX */
static void zremrange_generic(struct bndr_client *c, int lex)
{
    struct bndr_zrange_spec r;
    struct bndr_lex_spec lr;
    if (lex ? parse_lex_range(&c->argv[2], &c->argv[3], &lr) < 0
            : parse_score_range(&c->argv[2], &c->argv[3], &r) < 0) {
        bndr_add_error(c, lex ? "ERR min or max not valid string range item" : "ERR min or max is not a float");
        return;
    }
    int wrong;
    struct bndr_zset *z = get_z(c, &c->argv[1], 1, &wrong);
    if (wrong)
        return;
    long long n = 0;
    struct bndr_zsl_node *x;
    if (lex) { /* as Redis: from the first member in range, the following ones while <= max */
        for (x = z ? bndr_zsl_first_in_lex(z, &lr) : NULL; x && bndr_lex_lte_max(x->ele, x->elen, &lr);) {
            struct bndr_zsl_node *next = x->level[0].forward;
            bndr_zset_del(z, x->ele, x->elen);
            n++;
            x = next;
        }
    }
    while (!lex && z && (x = bndr_zsl_first_in_range(z, &r)) != NULL) {
        bndr_zset_del(z, x->ele, x->elen);
        n++;
    }
    if (z)
        maybe_delete(c, &c->argv[1], z);
    c->srv->dirty += n;
    bndr_add_ll(c, n);
}

void bndr_cmd_zremrangebyscore(struct bndr_client *c) { zremrange_generic(c, 0); }
void bndr_cmd_zremrangebylex(struct bndr_client *c) { zremrange_generic(c, 1); }

void bndr_cmd_zremrangebyrank(struct bndr_client *c)
{
    long long start, end;
    if (bndr_get_ll_or_reply(c, &c->argv[2], &start, NULL) < 0 ||
        bndr_get_ll_or_reply(c, &c->argv[3], &end, NULL) < 0)
        return;
    int wrong;
    struct bndr_zset *z = get_z(c, &c->argv[1], 1, &wrong);
    if (wrong)
        return;
    if (!z) {
        bndr_add_ll(c, 0);
        return;
    }
    long long len = (long long)z->length;
    if (start < 0)
        start += len;
    if (end < 0)
        end += len;
    if (start < 0)
        start = 0;
    if (end >= len)
        end = len - 1;
    long long n = 0;
    if (start <= end && start < len) {
        n = end - start + 1;
        for (long long i = 0; i < n; i++) {
            struct bndr_zsl_node *x = bndr_zsl_by_rank(z, (unsigned long)start + 1);
            bndr_zset_del(z, x->ele, x->elen);
        }
    }
    maybe_delete(c, &c->argv[1], z);
    c->srv->dirty += n;
    bndr_add_ll(c, n);
}

static void pop_generic(struct bndr_client *c, int max)
{
    long long count = 1;
    int has = c->argc == 3;
    if (c->argc > 3) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    if (has) {
        if (bndr_get_ll_or_reply(c, &c->argv[2], &count, "ERR value is out of range, must be positive") < 0)
            return;
        if (count < 0) {
            bndr_add_error(c, "ERR value is out of range, must be positive");
            return;
        }
    }
    int wrong;
    struct bndr_zset *z = get_z(c, &c->argv[1], 1, &wrong);
    if (wrong)
        return;
    if (!z) {
        bndr_add_array(c, 0);
        return;
    }
    if ((unsigned long long)count > z->length)
        count = (long long)z->length;
    if (c->resp == 3 && has)
        bndr_add_array(c, count);
    else
        bndr_add_array(c, count * 2);
    for (long long i = 0; i < count; i++) {
        struct bndr_zsl_node *x = max ? z->tail : z->header->level[0].forward;
        if (c->resp == 3 && has)
            bndr_add_array(c, 2);
        bndr_add_bulk(c, x->ele, x->elen);
        bndr_add_double(c, x->score);
        bndr_zset_del(z, x->ele, x->elen);
    }
    maybe_delete(c, &c->argv[1], z);
    c->srv->dirty += count;
}

void bndr_cmd_zpopmin(struct bndr_client *c) { pop_generic(c, 0); }
void bndr_cmd_zpopmax(struct bndr_client *c) { pop_generic(c, 1); }

void bndr_cmd_zscan(struct bndr_client *c)
{
    int wrong;
    struct bndr_zset *z = get_z(c, &c->argv[1], 0, &wrong);
    if (!wrong)
        bndr_scan_generic(c, z ? &z->dict : NULL, 2, BNDR_ZSET);
}

/* ---------------------------------------------------------------- Redis 6.2/7.0 additions */
/* Stores z (owned) at key k: replaced when not empty, else the key is deleted; replies the size. */
static void store_result(struct bndr_client *c, struct bndr_arg *k, struct bndr_zset *z)
{
    struct bndr_db *db = &c->srv->db;
    long long n = (long long)z->length;
    if (n > 0) {
        struct bndr_obj *o = bndr_obj_new(BNDR_ZSET);
        bndr_zset_free(o->u.z);
        o->u.z = z;
        bndr_db_set(db, k->p, k->n, o, 0);
        c->srv->dirty++;
    } else {
        bndr_zset_free(z);
        if (bndr_db_delete(db, k->p, k->n)) {
            c->srv->dirty++;
            bndr_signal_key(c->srv, k->p, k->n);
        }
    }
    bndr_add_ll(c, n);
}

void bndr_cmd_zrangestore(struct bndr_client *c)
{
    int by = BY_RANK, rev = 0, ws = 0;
    long long off, lim;
    if (parse_range_opts(c, 5, 1, &by, &rev, &ws, &off, &lim) < 0)
        return;
    if (ws) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    struct bndr_zset *tmp = bndr_zset_new();
    if (zrange_generic(c, &c->argv[2], &c->argv[3], &c->argv[4], by, rev, 0, off, lim, tmp) < 0) {
        bndr_zset_free(tmp);
        return;
    }
    store_result(c, &c->argv[1], tmp);
}


/* ZRANDMEMBER key [count [WITHSCORES]] */
void bndr_cmd_zrandmember(struct bndr_client *c)
{
    long long count = 0;
    int ws = 0;
    if (bndr_parse_rand_count(c, "withscores", &count, &ws) < 0)
        return;
    int wrong;
    struct bndr_zset *z = get_z(c, &c->argv[1], 0, &wrong);
    if (wrong)
        return;
    if (c->argc == 2) {
        if (!z) {
            bndr_add_null(c);
            return;
        }
        struct bndr_zsl_node *x = bndr_zsl_by_rank(z, 1 + (unsigned long)(bndr_rand() % z->length));
        bndr_add_bulk(c, x->ele, x->elen);
        return;
    }
    if (!z || count == 0) {
        bndr_add_array(c, 0);
        return;
    }
    int uniq = count > 0;
    if (!uniq)
        count = -count;
    if (!uniq || count == 1) {
        bndr_add_array(c, ws && c->resp == 2 ? count * 2 : count);
        for (long long i = 0; i < count; i++) {
            struct bndr_zsl_node *x = bndr_zsl_by_rank(z, 1 + (unsigned long)(bndr_rand() % z->length));
            emit(c, x, ws, NULL);
        }
        return;
    }
    if ((unsigned long long)count >= z->length) {
        long long n = (long long)z->length;
        bndr_add_array(c, ws && c->resp == 2 ? n * 2 : n);
        for (struct bndr_zsl_node *x = z->tail; x; x = x->backward) /* as Redis: reversed */
            emit(c, x, ws, NULL);
        return;
    }
    /* distinct sample: random ranks, deduplicated */
    struct bndr_dict seen;
    bndr_dict_init(&seen);
    bndr_add_array(c, ws && c->resp == 2 ? count * 2 : count);
    while ((long long)seen.n < count) {
        struct bndr_zsl_node *x = bndr_zsl_by_rank(z, 1 + (unsigned long)(bndr_rand() % z->length));
        int created;
        bndr_dict_upsert(&seen, x->ele, x->elen, &created);
        if (created)
            emit(c, x, ws, NULL);
    }
    bndr_dict_release(&seen, NULL);
}

/* ---------------------------------------------------------------- ZUNION / ZINTER / ZDIFF */
enum { ZOP_UNION, ZOP_INTER, ZOP_DIFF };
enum { AGG_SUM, AGG_MIN, AGG_MAX };

struct zsrc {
    struct bndr_dict *d; /* zset dict (v.d score) or set dict (score 1); NULL: no key */
    int is_set;
    double weight;
};

static int zsrc_score(const struct zsrc *s, const char *m, size_t n, double *out)
{
    if (!s->d)
        return 0;
    struct bndr_de *e = bndr_dict_find(s->d, m, n);
    if (!e)
        return 0;
    *out = s->is_set ? 1.0 : e->v.d;
    return 1;
}

static void aggregate(double *t, double v, int agg)
{
    if (agg == AGG_SUM) {
        *t = *t + v;
        if (isnan(*t))
            *t = 0.0;
    } else if (agg == AGG_MIN) {
        *t = v < *t ? v : *t;
    } else {
        *t = v > *t ? v : *t;
    }
}

static int cmp_card(const void *a, const void *b)
{
    const struct zsrc *x = a, *y = b;
    uint64_t nx = x->d ? x->d->n : 0, ny = y->d ? y->d->n : 0;
    return nx < ny ? -1 : nx > ny;
}

/* dst: *STORE's destination (argv[1]); nk_idx: index of numkeys; card: ZINTERCARD */
static void zsetop(struct bndr_client *c, struct bndr_arg *dst, int nk_idx, int op, int card)
{
    long long setnum;
    if (bndr_get_ll_or_reply(c, &c->argv[nk_idx], &setnum, NULL) < 0)
        return;
    if (setnum < 1) {
        char name[32];
        size_t i = 0;
        for (; i < c->argv[0].n && i < sizeof name - 1; i++)
            name[i] = (char)tolower((unsigned char)c->argv[0].p[i]);
        name[i] = 0;
        bndr_add_errorf(c, "ERR at least 1 input key is needed for '%s' command", name);
        return;
    }
    if (setnum > c->argc - (nk_idx + 1)) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    struct zsrc *src = bndr_calloc((size_t)setnum * sizeof(*src));
    int j = nk_idx + 1;
    for (long long i = 0; i < setnum; i++, j++) {
        struct bndr_obj *o = dst ? bndr_lookup_write(c, &c->argv[j]) : bndr_lookup_read(c, &c->argv[j]);
        src[i].weight = 1.0;
        if (!o)
            continue;
        if (o->type != BNDR_ZSET && o->type != BNDR_SET) {
            bndr_free(src);
            bndr_add_error(c, BNDR_ERR_WRONGTYPE);
            return;
        }
        src[i].is_set = o->type == BNDR_SET;
        src[i].d = o->type == BNDR_SET ? o->u.d : &o->u.z->dict;
    }
    int agg = AGG_SUM, withscores = 0;
    long long limit = 0;
    while (j < c->argc) {
        int remaining = c->argc - j;
        if (op != ZOP_DIFF && !card && remaining >= setnum + 1 && bndr_argeq(&c->argv[j], "weights")) {
            j++;
            for (long long i = 0; i < setnum; i++, j++) {
                if (bndr_get_double_or_reply(c, &c->argv[j], &src[i].weight,
                                             "ERR weight value is not a float") < 0) {
                    bndr_free(src);
                    return;
                }
            }
        } else if (op != ZOP_DIFF && !card && remaining >= 2 && bndr_argeq(&c->argv[j], "aggregate")) {
            j++;
            if (bndr_argeq(&c->argv[j], "sum"))
                agg = AGG_SUM;
            else if (bndr_argeq(&c->argv[j], "min"))
                agg = AGG_MIN;
            else if (bndr_argeq(&c->argv[j], "max"))
                agg = AGG_MAX;
            else {
                bndr_free(src);
                bndr_add_error(c, BNDR_ERR_SYNTAX);
                return;
            }
            j++;
        } else if (!dst && !card && bndr_argeq(&c->argv[j], "withscores")) {
            j++;
            withscores = 1;
        } else if (card && remaining >= 2 && bndr_argeq(&c->argv[j], "limit")) {
            j++;
            if (bndr_get_ll_or_reply(c, &c->argv[j], &limit, "ERR LIMIT can't be negative") < 0) {
                bndr_free(src);
                return;
            }
            if (limit < 0) {
                bndr_free(src);
                bndr_add_error(c, "ERR LIMIT can't be negative");
                return;
            }
            j++;
        } else {
            bndr_free(src);
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return;
        }
    }
    struct bndr_zset *res = bndr_zset_new();
    long long cardn = 0;
    if (op == ZOP_INTER) {
        qsort(src, (size_t)setnum, sizeof(*src), cmp_card);
        if (src[0].d && src[0].d->n) {
            BNDR_DICT_FOREACH(src[0].d, e)
            {
                double score = src[0].weight * (src[0].is_set ? 1.0 : e->v.d);
                if (isnan(score))
                    score = 0;
                long long i;
                for (i = 1; i < setnum; i++) {
                    double v;
                    if (!zsrc_score(&src[i], e->key, e->klen, &v))
                        break;
                    aggregate(&score, src[i].weight * v, agg);
                }
                if (i == setnum) {
                    if (card) {
                        cardn++;
                        if (limit && cardn >= limit)
                            goto inter_done;
                    } else {
                        bndr_zset_set(res, e->key, e->klen, score);
                    }
                }
            }
        }
    inter_done:;
    } else if (op == ZOP_UNION) {
        struct bndr_dict acc; /* member -> score */
        bndr_dict_init(&acc);
        for (long long i = 0; i < setnum; i++) {
            if (!src[i].d)
                continue;
            BNDR_DICT_FOREACH(src[i].d, e)
            {
                double score = src[i].weight * (src[i].is_set ? 1.0 : e->v.d);
                if (isnan(score))
                    score = 0;
                int created;
                struct bndr_de *a = bndr_dict_upsert(&acc, e->key, e->klen, &created);
                if (created)
                    a->v.d = score;
                else
                    aggregate(&a->v.d, score, agg);
            }
        }
        BNDR_DICT_FOREACH(&acc, a) bndr_zset_set(res, a->key, a->klen, a->v.d);
        bndr_dict_release(&acc, NULL);
    } else if (src[0].d) {
        BNDR_DICT_FOREACH(src[0].d, e)
        {
            long long i;
            double v;
            for (i = 1; i < setnum; i++)
                if (zsrc_score(&src[i], e->key, e->klen, &v))
                    break;
            if (i == setnum)
                bndr_zset_set(res, e->key, e->klen, src[0].is_set ? 1.0 : e->v.d);
        }
    }
    bndr_free(src);
    if (card) {
        bndr_zset_free(res);
        bndr_add_ll(c, cardn);
        return;
    }
    if (dst) {
        store_result(c, dst, res);
        return;
    }
    long long n = (long long)res->length;
    bndr_add_array(c, withscores && c->resp != 3 ? n * 2 : n);
    for (struct bndr_zsl_node *x = res->header->level[0].forward; x; x = x->level[0].forward)
        emit(c, x, withscores, NULL);
    bndr_zset_free(res);
}

void bndr_cmd_zunion(struct bndr_client *c) { zsetop(c, NULL, 1, ZOP_UNION, 0); }
void bndr_cmd_zinter(struct bndr_client *c) { zsetop(c, NULL, 1, ZOP_INTER, 0); }
void bndr_cmd_zdiff(struct bndr_client *c) { zsetop(c, NULL, 1, ZOP_DIFF, 0); }
void bndr_cmd_zunionstore(struct bndr_client *c) { zsetop(c, &c->argv[1], 2, ZOP_UNION, 0); }
void bndr_cmd_zinterstore(struct bndr_client *c) { zsetop(c, &c->argv[1], 2, ZOP_INTER, 0); }
void bndr_cmd_zdiffstore(struct bndr_client *c) { zsetop(c, &c->argv[1], 2, ZOP_DIFF, 0); }
void bndr_cmd_zintercard(struct bndr_client *c) { zsetop(c, NULL, 1, ZOP_INTER, 1); }

/* ---------------------------------------------------------------- ZMPOP and blocking pops */
/* Pops up to count from z at key k; nested: ZMPOP's [key, [[m, s]...]], else BZPOPMIN's
 * [key, m, s]. Propagated as ZPOPMIN/ZPOPMAX [count]. */
static void zpop_reply(struct bndr_client *c, struct bndr_arg *k, struct bndr_zset *z, int max,
                       long long count, int nested)
{
    long long n = count > (long long)z->length ? (long long)z->length : count;
    bndr_add_array(c, nested ? 2 : 3);
    bndr_add_bulk(c, k->p, k->n);
    if (nested)
        bndr_add_array(c, n);
    for (long long i = 0; i < n; i++) {
        struct bndr_zsl_node *x = max ? z->tail : z->header->level[0].forward;
        if (nested)
            bndr_add_array(c, 2);
        bndr_add_bulk(c, x->ele, x->elen);
        bndr_add_double(c, x->score);
        bndr_zset_del(z, x->ele, x->elen);
    }
    char nb[24];
    struct bndr_arg a[3] = {{max ? (char *)"ZPOPMAX" : (char *)"ZPOPMIN", 7}, *k, {nb, 0}};
    a[2].n = (size_t)bndr_fmt_ll(nb, n);
    bndr_rewrite_prop(c, nested ? 3 : 2, a);
    c->srv->dirty += n;
    bndr_notify(c->srv, max ? "zpopmax" : "zpopmin", k->p, k->n);
    maybe_delete(c, k, z);
    bndr_signal_key(c->srv, k->p, k->n);
}

/* keys[0..nk) in order: the first non-empty zset is popped; else block (or null array). */
static void zpop_keys(struct bndr_client *c, struct bndr_arg *keys, long long nk, int max,
                      long long count, int nested, int block, uint64_t timeout)
{
    for (long long j = 0; j < nk; j++) {
        int wrong;
        struct bndr_zset *z = get_z(c, &keys[j], 1, &wrong);
        if (wrong)
            return;
        if (!z)
            continue;
        zpop_reply(c, &keys[j], z, max, count, nested);
        return;
    }
    if (!block || bndr_block_denied(c)) {
        bndr_add_null_array(c);
        return;
    }
    bndr_block_generic(c, keys, (int)nk, BNDR_ZSET, timeout);
}

static void bzpop_generic(struct bndr_client *c, int max)
{
    uint64_t timeout;
    if (bndr_parse_timeout(c, &c->argv[c->argc - 1], &timeout) < 0)
        return;
    zpop_keys(c, &c->argv[1], c->argc - 2, max, 1, 0, 1, timeout);
}

void bndr_cmd_bzpopmin(struct bndr_client *c) { bzpop_generic(c, 0); }
void bndr_cmd_bzpopmax(struct bndr_client *c) { bzpop_generic(c, 1); }

/* [B]ZMPOP [timeout] numkeys key [key ...] MIN|MAX [COUNT count] */
static void zmpop_generic(struct bndr_client *c, int nk_idx, int block)
{
    long long numkeys, count;
    int max;
    if (bndr_parse_mpop(c, nk_idx, "min", "max", &numkeys, &max, &count) < 0)
        return;
    uint64_t timeout = 0;
    if (block && bndr_parse_timeout(c, &c->argv[1], &timeout) < 0)
        return;
    zpop_keys(c, &c->argv[nk_idx + 1], numkeys, max, count, 1, block, timeout);
}

void bndr_cmd_zmpop(struct bndr_client *c) { zmpop_generic(c, 1, 0); }
void bndr_cmd_bzmpop(struct bndr_client *c) { zmpop_generic(c, 2, 1); }
