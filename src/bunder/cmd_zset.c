/* cmd_zset.c — sorted-set commands: a dict (member -> score) plus a skiplist ordered by
 * (score, member) with spans for rank queries (util.c). */
#include <math.h>
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

static void emit(struct bndr_client *c, struct bndr_zsl_node *x, int withscores)
{
    if (withscores && c->resp == 3)
        bndr_add_array(c, 2);
    bndr_add_bulk(c, x->ele, x->elen);
    if (withscores)
        bndr_add_double(c, x->score);
}

static void zrange_generic(struct bndr_client *c, struct bndr_arg *key, struct bndr_arg *a1,
                           struct bndr_arg *a2, int by, int rev, int withscores, long long offset,
                           long long limit)
{
    struct bndr_zrange_spec sr;
    struct bndr_lex_spec lr;
    long long start = 0, end = 0;
    if (by == BY_RANK) {
        if (bndr_get_ll_or_reply(c, a1, &start, NULL) < 0 ||
            bndr_get_ll_or_reply(c, a2, &end, NULL) < 0)
            return;
    } else if (by == BY_SCORE) {
        /* with REV the arguments are max then min */
        if (parse_score_range(rev ? a2 : a1, rev ? a1 : a2, &sr) < 0) {
            bndr_add_error(c, "ERR min or max is not a float");
            return;
        }
    } else if (parse_lex_range(rev ? a2 : a1, rev ? a1 : a2, &lr) < 0) {
        bndr_add_error(c, "ERR min or max not valid string range item");
        return;
    }
    int wrong;
    struct bndr_zset *z = get_z(c, key, 0, &wrong);
    if (wrong)
        return;
    if (!z) {
        bndr_add_array(c, 0);
        return;
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
            bndr_add_array(c, 0);
            return;
        }
        if (end >= len)
            end = len - 1;
        long long n = end - start + 1;
        bndr_add_array(c, withscores && c->resp != 3 ? n * 2 : n);
        struct bndr_zsl_node *x = rev ? bndr_zsl_by_rank(z, (unsigned long)(len - start))
                                      : bndr_zsl_by_rank(z, (unsigned long)(start + 1));
        for (long long i = 0; i < n && x; i++) {
            emit(c, x, withscores);
            x = rev ? x->backward : x->level[0].forward;
        }
        return;
    }
    struct bndr_zsl_node *x;
    if (by == BY_SCORE)
        x = rev ? bndr_zsl_last_in_range(z, &sr) : bndr_zsl_first_in_range(z, &sr);
    else
        x = rev ? bndr_zsl_last_in_lex(z, &lr) : bndr_zsl_first_in_lex(z, &lr);
    while (x && offset-- > 0)
        x = rev ? x->backward : x->level[0].forward;
    size_t h = bndr_add_deferred_len(c);
    long n = 0;
    while (x && limit != 0) {
        if (by == BY_SCORE) {
            if (rev ? !bndr_zsl_value_gte_min(x->score, &sr) : !bndr_zsl_value_lte_max(x->score, &sr))
                break;
        } else if (rev ? !bndr_lex_gte_min(x->ele, x->elen, &lr)
                       : !bndr_lex_lte_max(x->ele, x->elen, &lr)) {
            break;
        }
        emit(c, x, withscores);
        n++;
        if (limit > 0)
            limit--;
        x = rev ? x->backward : x->level[0].forward;
    }
    bndr_set_deferred_len(c, h, withscores && c->resp != 3 ? n * 2 : n, '*');
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
    zrange_generic(c, &c->argv[1], &c->argv[2], &c->argv[3], by, rev, ws, off, lim);
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
    zrange_generic(c, &c->argv[1], &c->argv[2], &c->argv[3], by, rev, ws, off, lim);
}

void bndr_cmd_zrangebyscore(struct bndr_client *c) { range_compat(c, BY_SCORE, 0); }
void bndr_cmd_zrevrangebyscore(struct bndr_client *c) { range_compat(c, BY_SCORE, 1); }
void bndr_cmd_zrangebylex(struct bndr_client *c) { range_compat(c, BY_LEX, 0); }
void bndr_cmd_zrevrangebylex(struct bndr_client *c) { range_compat(c, BY_LEX, 1); }
void bndr_cmd_zrevrange(struct bndr_client *c) { range_compat(c, BY_RANK, 1); }

void bndr_cmd_zremrangebyscore(struct bndr_client *c)
{
    struct bndr_zrange_spec r;
    if (parse_score_range(&c->argv[2], &c->argv[3], &r) < 0) {
        bndr_add_error(c, "ERR min or max is not a float");
        return;
    }
    int wrong;
    struct bndr_zset *z = get_z(c, &c->argv[1], 1, &wrong);
    if (wrong)
        return;
    long long n = 0;
    struct bndr_zsl_node *x;
    while (z && (x = bndr_zsl_first_in_range(z, &r)) != NULL) {
        bndr_zset_del(z, x->ele, x->elen);
        n++;
    }
    if (z)
        maybe_delete(c, &c->argv[1], z);
    c->srv->dirty += n;
    bndr_add_ll(c, n);
}

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
