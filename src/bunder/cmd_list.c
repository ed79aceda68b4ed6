/* cmd_list.c — list commands, including the blocking pops (BLPOP/BRPOP). Lists are ring-buffer
 * deques (util.c); an emptied list is deleted, as in Redis. */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "bndr.h"
#include "cmds.h"

static struct bndr_list *get_list(struct bndr_client *c, struct bndr_arg *k, int write,
                                  int *wrong)
{
    struct bndr_obj *o = bndr_lookup_type(c, k, BNDR_LIST, write, wrong);
    return o ? o->u.l : NULL;
}

static void maybe_delete(struct bndr_client *c, struct bndr_arg *k, struct bndr_list *l)
{
    if (l->n == 0)
        bndr_db_delete(&c->srv->db, k->p, k->n);
}

static void push_generic(struct bndr_client *c, int head, int xx)
{
    int wrong;
    struct bndr_list *l = get_list(c, &c->argv[1], 1, &wrong);
    if (wrong)
        return;
    if (!l) {
        if (xx) {
            bndr_add_ll(c, 0);
            return;
        }
        struct bndr_obj *o = bndr_obj_new(BNDR_LIST);
        bndr_db_add(&c->srv->db, c->argv[1].p, c->argv[1].n, o);
        l = o->u.l;
    }
    for (int i = 2; i < c->argc; i++)
        bndr_list_push(l, bndr_str_new(c->argv[i].p, c->argv[i].n), head);
    c->srv->dirty += c->argc - 2;
    bndr_signal_list_ready(c->srv, c->argv[1].p, c->argv[1].n);
    bndr_add_ll(c, (long long)l->n);
}

void bndr_cmd_lpush(struct bndr_client *c) { push_generic(c, 1, 0); }
void bndr_cmd_rpush(struct bndr_client *c) { push_generic(c, 0, 0); }
void bndr_cmd_lpushx(struct bndr_client *c) { push_generic(c, 1, 1); }
void bndr_cmd_rpushx(struct bndr_client *c) { push_generic(c, 0, 1); }

static void pop_generic(struct bndr_client *c, int head)
{
    long long count = -1;
    if (c->argc > 3) {
        bndr_add_errorf(c, "ERR wrong number of arguments for '%s' command", head ? "lpop" : "rpop");
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
    struct bndr_list *l = get_list(c, &c->argv[1], 1, &wrong);
    if (wrong)
        return;
    if (!l) {
        if (count >= 0)
            bndr_add_null_array(c);
        else
            bndr_add_null(c);
        return;
    }
    if (count < 0) {
        struct bndr_str *s = bndr_list_pop(l, head);
        bndr_add_bulk(c, s->buf, s->len);
        bndr_str_free(s);
        c->srv->dirty++;
    } else {
        if ((size_t)count > l->n)
            count = (long long)l->n;
        bndr_add_array(c, count);
        for (long long i = 0; i < count; i++) {
            struct bndr_str *s = bndr_list_pop(l, head);
            bndr_add_bulk(c, s->buf, s->len);
            bndr_str_free(s);
        }
        c->srv->dirty += count;
    }
    maybe_delete(c, &c->argv[1], l);
}

void bndr_cmd_lpop(struct bndr_client *c) { pop_generic(c, 1); }
void bndr_cmd_rpop(struct bndr_client *c) { pop_generic(c, 0); }

static void norm_range(long long len, long long *start, long long *end)
{
    if (*start < 0)
        *start += len;
    if (*end < 0)
        *end += len;
    if (*start < 0)
        *start = 0;
    if (*end >= len)
        *end = len - 1;
}

void bndr_cmd_lrange(struct bndr_client *c)
{
    long long start, end;
    if (bndr_get_ll_or_reply(c, &c->argv[2], &start, NULL) < 0 ||
        bndr_get_ll_or_reply(c, &c->argv[3], &end, NULL) < 0)
        return;
    int wrong;
    struct bndr_list *l = get_list(c, &c->argv[1], 0, &wrong);
    if (wrong)
        return;
    if (!l) {
        bndr_add_array(c, 0);
        return;
    }
    long long len = (long long)l->n;
    norm_range(len, &start, &end);
    if (start > end || start >= len) {
        bndr_add_array(c, 0);
        return;
    }
    bndr_add_array(c, end - start + 1);
    for (long long i = start; i <= end; i++) {
        struct bndr_str *s = BNDR_LIST_AT(l, (size_t)i);
        bndr_add_bulk(c, s->buf, s->len);
    }
}

void bndr_cmd_llen(struct bndr_client *c)
{
    int wrong;
    struct bndr_list *l = get_list(c, &c->argv[1], 0, &wrong);
    if (!wrong)
        bndr_add_ll(c, l ? (long long)l->n : 0);
}

void bndr_cmd_lindex(struct bndr_client *c)
{
    long long idx;
    if (bndr_get_ll_or_reply(c, &c->argv[2], &idx, NULL) < 0)
        return;
    int wrong;
    struct bndr_list *l = get_list(c, &c->argv[1], 0, &wrong);
    if (wrong)
        return;
    if (l && idx < 0)
        idx += (long long)l->n;
    if (!l || idx < 0 || idx >= (long long)l->n) {
        bndr_add_null(c);
        return;
    }
    struct bndr_str *s = BNDR_LIST_AT(l, (size_t)idx);
    bndr_add_bulk(c, s->buf, s->len);
}

void bndr_cmd_lset(struct bndr_client *c)
{
    long long idx;
    if (bndr_get_ll_or_reply(c, &c->argv[2], &idx, NULL) < 0)
        return;
    int wrong;
    struct bndr_list *l = get_list(c, &c->argv[1], 1, &wrong);
    if (wrong)
        return;
    if (!l) {
        bndr_add_error(c, "ERR no such key");
        return;
    }
    if (idx < 0)
        idx += (long long)l->n;
    if (idx < 0 || idx >= (long long)l->n) {
        bndr_add_error(c, "ERR index out of range");
        return;
    }
    bndr_str_free(BNDR_LIST_AT(l, (size_t)idx));
    BNDR_LIST_AT(l, (size_t)idx) = bndr_str_new(c->argv[3].p, c->argv[3].n);
    c->srv->dirty++;
    bndr_add_ok(c);
}

static int eq(const struct bndr_str *s, const struct bndr_arg *a)
{
    return s->len == a->n && memcmp(s->buf, a->p, a->n) == 0;
}

void bndr_cmd_lrem(struct bndr_client *c)
{
    long long count;
    if (bndr_get_ll_or_reply(c, &c->argv[2], &count, NULL) < 0)
        return;
    int wrong;
    struct bndr_list *l = get_list(c, &c->argv[1], 1, &wrong);
    if (wrong)
        return;
    if (!l) {
        bndr_add_ll(c, 0);
        return;
    }
    long long removed = 0;
    struct bndr_arg *v = &c->argv[3];
    if (count >= 0) {
        for (size_t i = 0; i < l->n;) {
            if (eq(BNDR_LIST_AT(l, i), v) && (count == 0 || removed < count)) {
                bndr_list_remove(l, i);
                removed++;
            } else {
                i++;
            }
        }
    } else {
        for (size_t i = l->n; i-- > 0;) {
            if (removed >= -count)
                break;
            if (eq(BNDR_LIST_AT(l, i), v)) {
                bndr_list_remove(l, i);
                removed++;
            }
        }
    }
    c->srv->dirty += removed;
    maybe_delete(c, &c->argv[1], l);
    bndr_add_ll(c, removed);
}

void bndr_cmd_ltrim(struct bndr_client *c)
{
    long long start, end;
    if (bndr_get_ll_or_reply(c, &c->argv[2], &start, NULL) < 0 ||
        bndr_get_ll_or_reply(c, &c->argv[3], &end, NULL) < 0)
        return;
    int wrong;
    struct bndr_list *l = get_list(c, &c->argv[1], 1, &wrong);
    if (wrong)
        return;
    if (!l) {
        bndr_add_ok(c);
        return;
    }
    long long len = (long long)l->n;
    norm_range(len, &start, &end);
    long long ltrim, rtrim;
    if (start > end || start >= len) {
        ltrim = len;
        rtrim = 0;
    } else {
        ltrim = start;
        rtrim = len - end - 1;
    }
    for (long long i = 0; i < ltrim; i++)
        bndr_str_free(bndr_list_pop(l, 1));
    for (long long i = 0; i < rtrim; i++)
        bndr_str_free(bndr_list_pop(l, 0));
    c->srv->dirty += ltrim + rtrim;
    maybe_delete(c, &c->argv[1], l);
    bndr_add_ok(c);
}

void bndr_cmd_linsert(struct bndr_client *c)
{
    int after;
    if (bndr_argeq(&c->argv[2], "after"))
        after = 1;
    else if (bndr_argeq(&c->argv[2], "before"))
        after = 0;
    else {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    int wrong;
    struct bndr_list *l = get_list(c, &c->argv[1], 1, &wrong);
    if (wrong)
        return;
    if (!l) {
        bndr_add_ll(c, 0);
        return;
    }
    for (size_t i = 0; i < l->n; i++) {
        if (eq(BNDR_LIST_AT(l, i), &c->argv[3])) {
            bndr_list_insert(l, i + (size_t)after, bndr_str_new(c->argv[4].p, c->argv[4].n));
            c->srv->dirty++;
            bndr_add_ll(c, (long long)l->n);
            return;
        }
    }
    bndr_add_ll(c, -1);
}

void bndr_cmd_lpos(struct bndr_client *c)
{
    long long rank = 1, count = -1, maxlen = 0;
    for (int i = 3; i < c->argc; i += 2) {
        if (i + 1 >= c->argc) {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return;
        }
        long long v;
        if (bndr_get_ll_or_reply(c, &c->argv[i + 1], &v, NULL) < 0)
            return;
        if (bndr_argeq(&c->argv[i], "rank")) {
            if (v == 0 || v == LLONG_MIN) {
                bndr_add_error(c, "ERR RANK can't be zero: use 1 to start from the first match, "
                                  "2 from the second ... or use negative to start from the end "
                                  "of the list");
                return;
            }
            rank = v;
        } else if (bndr_argeq(&c->argv[i], "count")) {
            if (v < 0) {
                bndr_add_error(c, "ERR COUNT can't be negative");
                return;
            }
            count = v;
        } else if (bndr_argeq(&c->argv[i], "maxlen")) {
            if (v < 0) {
                bndr_add_error(c, "ERR MAXLEN can't be negative");
                return;
            }
            maxlen = v;
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return;
        }
    }
    int wrong;
    struct bndr_list *l = get_list(c, &c->argv[1], 0, &wrong);
    if (wrong)
        return;
    if (!l) {
        if (count >= 0)
            bndr_add_array(c, 0);
        else
            bndr_add_null(c);
        return;
    }
    size_t h = count >= 0 ? bndr_add_deferred_len(c) : 0;
    long found = 0;
    long long skip = (rank > 0 ? rank : -rank) - 1;
    long long n = (long long)l->n;
    for (long long k = 0; k < n; k++) {
        if (maxlen && k >= maxlen)
            break;
        long long i = rank > 0 ? k : n - 1 - k;
        if (!eq(BNDR_LIST_AT(l, (size_t)i), &c->argv[2]))
            continue;
        if (skip > 0) {
            skip--;
            continue;
        }
        bndr_add_ll(c, i);
        found++;
        if (count < 0 || (count > 0 && found >= count))
            break;
    }
    if (count >= 0)
        bndr_set_deferred_len(c, h, found, '*');
    else if (!found)
        bndr_add_null(c);
}

static void move_generic(struct bndr_client *c, int from_head, int to_head)
{
    int wrong;
    struct bndr_list *src = get_list(c, &c->argv[1], 1, &wrong);
    if (wrong)
        return;
    if (!src) {
        bndr_add_null(c);
        return;
    }
    struct bndr_list *dst = get_list(c, &c->argv[2], 1, &wrong);
    if (wrong)
        return;
    struct bndr_str *s = bndr_list_pop(src, from_head);
    bndr_add_bulk(c, s->buf, s->len);
    if (src == dst) {
        bndr_list_push(src, s, to_head);
    } else {
        if (!dst) {
            struct bndr_obj *o = bndr_obj_new(BNDR_LIST);
            bndr_db_add(&c->srv->db, c->argv[2].p, c->argv[2].n, o);
            dst = o->u.l;
        }
        bndr_list_push(dst, s, to_head);
        maybe_delete(c, &c->argv[1], src);
    }
    c->srv->dirty++;
    bndr_signal_list_ready(c->srv, c->argv[2].p, c->argv[2].n);
}

static int parse_side(struct bndr_client *c, struct bndr_arg *a, int *head)
{
    if (bndr_argeq(a, "left"))
        *head = 1;
    else if (bndr_argeq(a, "right"))
        *head = 0;
    else {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return -1;
    }
    return 0;
}

void bndr_cmd_lmove(struct bndr_client *c)
{
    int from, to;
    if (parse_side(c, &c->argv[3], &from) < 0 || parse_side(c, &c->argv[4], &to) < 0)
        return;
    move_generic(c, from, to);
}

void bndr_cmd_rpoplpush(struct bndr_client *c)
{
    move_generic(c, 0, 1);
}

/* ---------------------------------------------------------------- generic blocking */
int bndr_parse_timeout(struct bndr_client *c, const struct bndr_arg *a, uint64_t *abs_ms)
{
    long double t;
    if (bndr_parse_ld(a->p, a->n, &t) < 0 || isinf(t) || isnan(t)) {
        bndr_add_error(c, "ERR timeout is not a float or out of range");
        return -1;
    }
    t *= 1000;
    if (t > (long double)LLONG_MAX) {
        bndr_add_error(c, "ERR timeout is out of range");
        return -1;
    }
    if (t < 0) {
        bndr_add_error(c, "ERR timeout is negative");
        return -1;
    }
    long long ms = (long long)ceill(t);
    *abs_ms = ms > 0 ? bndr_mstime() + (uint64_t)ms : 0;
    return 0;
}

void bndr_block_free(struct bndr_client *c)
{
    for (int i = 0; i < c->bargc; i++)
        bndr_free(c->bargv[i].p);
    bndr_free(c->bargv);
    c->bargv = NULL;
    c->bargc = 0;
    c->bcmd = NULL;
}

void bndr_block_generic(struct bndr_client *c, struct bndr_arg *keys, int nkeys, int type,
                        uint64_t timeout_ms)
{
    if (c->flags & BNDR_CF_BRETRY) {
        c->flags |= BNDR_CF_BRETRY_WAIT;
        return;
    }
    const struct bndr_cmd *cmd = bndr_cmd_lookup(c->argv[0].p, c->argv[0].n);
    c->bcmd = cmd;
    c->btype = type;
    c->bargc = c->argc;
    c->bargv = bndr_malloc((size_t)c->argc * sizeof(*c->bargv));
    for (int i = 0; i < c->argc; i++) {
        c->bargv[i].p = bndr_memdup(c->argv[i].p, c->argv[i].n);
        c->bargv[i].n = c->argv[i].n;
    }
    bndr_block_client(c, keys, nkeys, 0, timeout_ms);
}

int bndr_block_retry(struct bndr_client *c)
{
    struct bndr_arg *argv = c->argv;
    int argc = c->argc;
    c->argv = c->bargv;
    c->argc = c->bargc;
    c->flags = (c->flags | BNDR_CF_BRETRY) & ~(unsigned)BNDR_CF_BRETRY_WAIT;
    bndr_call(c, c->bcmd);
    int wait = (c->flags & BNDR_CF_BRETRY_WAIT) != 0;
    c->flags &= ~(unsigned)(BNDR_CF_BRETRY | BNDR_CF_BRETRY_WAIT);
    c->argv = argv;
    c->argc = argc;
    if (wait)
        return 0;
    bndr_unblock_client(c, 0);
    return 1;
}

int bndr_block_denied(struct bndr_client *c)
{
    return (c->flags & (BNDR_CF_IN_EXEC | BNDR_CF_FAKE)) && !(c->flags & BNDR_CF_BRETRY);
}

static void bpop_generic(struct bndr_client *c, int head)
{
    uint64_t timeout;
    if (bndr_parse_timeout(c, &c->argv[c->argc - 1], &timeout) < 0)
        return;
    for (int i = 1; i < c->argc - 1; i++) {
        int wrong;
        struct bndr_list *l = get_list(c, &c->argv[i], 1, &wrong);
        if (wrong)
            return;
        if (l) {
            struct bndr_str *s = bndr_list_pop(l, head);
            bndr_add_array(c, 2);
            bndr_add_bulk(c, c->argv[i].p, c->argv[i].n);
            bndr_add_bulk(c, s->buf, s->len);
            bndr_str_free(s);
            struct bndr_arg a[2] = {{head ? (char *)"LPOP" : (char *)"RPOP", 4}, c->argv[i]};
            bndr_rewrite_prop(c, 2, a);
            maybe_delete(c, &c->argv[i], l);
            c->srv->dirty++;
            return;
        }
    }
    if (c->flags & (BNDR_CF_IN_EXEC | BNDR_CF_FAKE)) {
        bndr_add_null_array(c);
        return;
    }
    bndr_block_client(c, &c->argv[1], c->argc - 2, head, timeout);
}

void bndr_cmd_blpop(struct bndr_client *c) { bpop_generic(c, 1); }
void bndr_cmd_brpop(struct bndr_client *c) { bpop_generic(c, 0); }

/* BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout; BRPOPLPUSH source destination timeout */
static void bmove_generic(struct bndr_client *c, int from, int to, struct bndr_arg *ta)
{
    uint64_t timeout;
    if (bndr_parse_timeout(c, ta, &timeout) < 0)
        return;
    int wrong;
    struct bndr_list *src = get_list(c, &c->argv[1], 1, &wrong);
    if (wrong)
        return;
    if (src) {
        move_generic(c, from, to);
        struct bndr_arg a[5] = {{(char *)"LMOVE", 5}, c->argv[1], c->argv[2],
                                {from ? (char *)"LEFT" : (char *)"RIGHT", from ? 4u : 5u},
                                {to ? (char *)"LEFT" : (char *)"RIGHT", to ? 4u : 5u}};
        bndr_rewrite_prop(c, 5, a);
        return;
    }
    if (bndr_block_denied(c)) {
        bndr_add_null(c);
        return;
    }
    bndr_block_generic(c, &c->argv[1], 1, BNDR_LIST, timeout);
}

void bndr_cmd_blmove(struct bndr_client *c)
{
    int from, to;
    if (parse_side(c, &c->argv[3], &from) < 0 || parse_side(c, &c->argv[4], &to) < 0)
        return;
    bmove_generic(c, from, to, &c->argv[5]);
}

void bndr_cmd_brpoplpush(struct bndr_client *c) { bmove_generic(c, 0, 1, &c->argv[3]); }

int bndr_parse_mpop(struct bndr_client *c, int nk_idx, const char *w0, const char *w1,
                    long long *numkeys, int *where, long long *count)
{
    *count = -1;
    if (bndr_get_ll_or_reply(c, &c->argv[nk_idx], numkeys, "ERR numkeys should be greater than 0") < 0)
        return -1;
    if (*numkeys < 1) {
        bndr_add_error(c, "ERR numkeys should be greater than 0");
        return -1;
    }
    if (*numkeys >= c->argc - nk_idx - 1) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return -1;
    }
    int where_idx = nk_idx + (int)*numkeys + 1;
    if (bndr_argeq(&c->argv[where_idx], w0))
        *where = 0;
    else if (bndr_argeq(&c->argv[where_idx], w1))
        *where = 1;
    else {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return -1;
    }
    for (int j = where_idx + 1; j < c->argc; j++) {
        if (*count == -1 && bndr_argeq(&c->argv[j], "count") && j + 1 < c->argc) {
            j++;
            if (bndr_get_ll_or_reply(c, &c->argv[j], count, "ERR count should be greater than 0") < 0)
                return -1;
            if (*count < 1) {
                bndr_add_error(c, "ERR count should be greater than 0");
                return -1;
            }
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return -1;
        }
    }
    if (*count == -1)
        *count = 1;
    return 0;
}

/* [B]LMPOP [timeout] numkeys key [key ...] LEFT|RIGHT [COUNT count] */
static void mpop_generic(struct bndr_client *c, int nk_idx, int block)
{
    long long numkeys, count;
    int where;
    if (bndr_parse_mpop(c, nk_idx, "left", "right", &numkeys, &where, &count) < 0)
        return;
    int head = where == 0;
    uint64_t timeout = 0;
    if (block && bndr_parse_timeout(c, &c->argv[1], &timeout) < 0)
        return;
    struct bndr_arg *keys = &c->argv[nk_idx + 1];
    for (long long j = 0; j < numkeys; j++) {
        int wrong;
        struct bndr_list *l = get_list(c, &keys[j], 1, &wrong);
        if (wrong)
            return;
        if (!l)
            continue;
        long long n = count > (long long)l->n ? (long long)l->n : count;
        bndr_add_array(c, 2);
        bndr_add_bulk(c, keys[j].p, keys[j].n);
        bndr_add_array(c, n);
        for (long long i = 0; i < n; i++) {
            struct bndr_str *s = bndr_list_pop(l, head);
            bndr_add_bulk(c, s->buf, s->len);
            bndr_str_free(s);
        }
        char nb[24];
        struct bndr_arg a[3] = {{head ? (char *)"LPOP" : (char *)"RPOP", 4}, keys[j], {nb, 0}};
        a[2].n = (size_t)bndr_fmt_ll(nb, n);
        bndr_rewrite_prop(c, 3, a);
        c->srv->dirty += n;
        bndr_notify(c->srv, head ? "lpop" : "rpop", keys[j].p, keys[j].n);
        maybe_delete(c, &keys[j], l);
        bndr_signal_key(c->srv, keys[j].p, keys[j].n);
        return;
    }
    if (!block || bndr_block_denied(c)) {
        bndr_add_null_array(c);
        return;
    }
    bndr_block_generic(c, keys, (int)numkeys, BNDR_LIST, timeout);
}

void bndr_cmd_lmpop(struct bndr_client *c) { mpop_generic(c, 1, 0); }
void bndr_cmd_blmpop(struct bndr_client *c) { mpop_generic(c, 2, 1); }
