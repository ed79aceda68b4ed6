/* cmd_string.c — string commands and keyspace commands (TTL, RENAME, KEYS, SCAN, ...). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bndr.h"
#include "cmds.h"

#define OBJ(e) BNDR_DE_OBJ(e)

static int check_len(struct bndr_client *c, long long total)
{
    if (total > c->srv->cfg.proto_max_bulk_len) {
        bndr_add_error(c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        return -1;
    }
    return 0;
}

static struct bndr_de *find_live(struct bndr_client *c, const struct bndr_arg *k)
{
    bndr_expire_if_needed(&c->srv->db, k->p, k->n);
    return bndr_db_find(&c->srv->db, k->p, k->n);
}

/* propagate "PEXPIREAT key ms" */
static void prop_pexpireat(struct bndr_client *c, const struct bndr_arg *key, long long when)
{
    char buf[24];
    int n = bndr_fmt_ll(buf, when);
    struct bndr_arg a[3] = {{(char *)"PEXPIREAT", 9}, *key, {buf, (size_t)n}};
    bndr_rewrite_prop(c, 3, a);
}

/* ---------------------------------------------------------------- SET family */
enum { SET_NX = 1, SET_XX = 2, SET_GET = 4, SET_KEEPTTL = 8, SET_EX = 16 };

/* Parses an expire argument; unit 1000 for seconds, 1 for ms; abs: already absolute. */
static int parse_expire(struct bndr_client *c, const struct bndr_arg *a, long long unit, int abs,
                        const char *cmdname, long long *when)
{
    long long v;
    if (bndr_get_ll_or_reply(c, a, &v, NULL) < 0)
        return -1;
    if (v <= 0 || (unit == 1000 && v > LLONG_MAX / 1000)) {
        bndr_add_errorf(c, "ERR invalid expire time in '%s' command", cmdname);
        return -1;
    }
    v *= unit;
    if (!abs) {
        long long now = (long long)bndr_mstime();
        if (v > LLONG_MAX - now) {
            bndr_add_errorf(c, "ERR invalid expire time in '%s' command", cmdname);
            return -1;
        }
        v += now;
    }
    *when = v;
    return 0;
}

static void set_generic(struct bndr_client *c, struct bndr_arg *key, struct bndr_arg *val,
                        int flags, long long when, const char *cmdname)
{
    struct bndr_server *s = c->srv;
    struct bndr_de *e = find_live(c, key);
    if (flags & SET_GET) {
        if (e && OBJ(e)->type != BNDR_STRING) {
            bndr_add_error(c, BNDR_ERR_WRONGTYPE);
            return;
        }
    }
    if ((flags & SET_NX && e) || (flags & SET_XX && !e)) {
        if (flags & SET_GET) {
            if (e)
                bndr_add_bulk(c, OBJ(e)->s, OBJ(e)->len);
            else
                bndr_add_null(c);
        } else {
            bndr_add_null(c);
        }
        return;
    }
    if (flags & SET_GET) {
        if (e)
            bndr_add_bulk(c, OBJ(e)->s, OBJ(e)->len);
        else
            bndr_add_null(c);
    }
    if (e && OBJ(e)->type == BNDR_STRING && OBJ(e)->cap >= val->n && OBJ(e)->cap <= val->n * 2 + 32) {
        /* overwrite in place (no allocation on the hot path) */
        struct bndr_obj *o = OBJ(e);
        memcpy(o->s, val->p, val->n);
        o->len = (uint32_t)val->n;
        o->s[o->len] = 0;
        o->big = 0;
        o->lru = s->lruclock;
        if (!(flags & SET_KEEPTTL) && o->xidx != UINT32_MAX)
            bndr_db_persist(&s->db, e);
    } else {
        bndr_db_set(&s->db, key->p, key->n, bndr_obj_string(val->p, val->n),
                    flags & SET_KEEPTTL);
        if (when)
            e = bndr_db_find(&s->db, key->p, key->n);
    }
    if (when) {
        bndr_db_set_expire(&s->db, e, when);
        char buf[24];
        int n = bndr_fmt_ll(buf, when);
        struct bndr_arg a[5] = {{(char *)"SET", 3}, *key, *val, {(char *)"PXAT", 4},
                                {buf, (size_t)n}};
        bndr_rewrite_prop(c, 5, a);
    } else if (flags & (SET_NX | SET_XX | SET_GET)) {
        struct bndr_arg a[4] = {{(char *)"SET", 3}, *key, *val, {(char *)"KEEPTTL", 7}};
        bndr_rewrite_prop(c, (flags & SET_KEEPTTL) ? 4 : 3, a);
    }
    s->dirty++;
    (void)cmdname;
    if (!(flags & SET_GET))
        bndr_add_ok(c);
}

void bndr_cmd_set(struct bndr_client *c)
{
    int flags = 0;
    long long when = 0;
    for (int i = 3; i < c->argc; i++) {
        struct bndr_arg *a = &c->argv[i];
        int has_next = i + 1 < c->argc;
        if (bndr_argeq(a, "nx") && !(flags & SET_XX)) {
            flags |= SET_NX;
        } else if (bndr_argeq(a, "xx") && !(flags & SET_NX)) {
            flags |= SET_XX;
        } else if (bndr_argeq(a, "get")) {
            flags |= SET_GET;
        } else if (bndr_argeq(a, "keepttl") && !(flags & SET_EX)) {
            flags |= SET_KEEPTTL;
        } else if (has_next && !(flags & (SET_EX | SET_KEEPTTL)) &&
                   (bndr_argeq(a, "ex") || bndr_argeq(a, "px") || bndr_argeq(a, "exat") ||
                    bndr_argeq(a, "pxat"))) {
            int secs = (a->p[0] | 32) == 'e';
            int abs = a->n == 4;
            if (parse_expire(c, &c->argv[i + 1], secs ? 1000 : 1, abs, "set", &when) < 0)
                return;
            flags |= SET_EX;
            i++;
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return;
        }
    }
    set_generic(c, &c->argv[1], &c->argv[2], flags, when, "set");
}

void bndr_cmd_setnx(struct bndr_client *c)
{
    struct bndr_de *e = find_live(c, &c->argv[1]);
    if (e) {
        bndr_add_ll(c, 0);
        return;
    }
    bndr_db_set(&c->srv->db, c->argv[1].p, c->argv[1].n,
                bndr_obj_string(c->argv[2].p, c->argv[2].n), 0);
    c->srv->dirty++;
    bndr_add_ll(c, 1);
}

static void setex_generic(struct bndr_client *c, long long unit, const char *name)
{
    long long when;
    if (parse_expire(c, &c->argv[2], unit, 0, name, &when) < 0)
        return;
    set_generic(c, &c->argv[1], &c->argv[3], 0, when, name);
}

void bndr_cmd_setex(struct bndr_client *c)
{
    setex_generic(c, 1000, "setex");
}

void bndr_cmd_psetex(struct bndr_client *c)
{
    setex_generic(c, 1, "psetex");
}

void bndr_cmd_get(struct bndr_client *c)
{
    int wrong;
    struct bndr_obj *o = bndr_lookup_type(c, &c->argv[1], BNDR_STRING, 0, &wrong);
    if (wrong)
        return;
    if (!o)
        bndr_add_null(c);
    else
        bndr_add_bulk(c, o->s, o->len);
}

void bndr_cmd_getset(struct bndr_client *c)
{
    set_generic(c, &c->argv[1], &c->argv[2], SET_GET, 0, "getset");
}

void bndr_cmd_getdel(struct bndr_client *c)
{
    int wrong;
    struct bndr_obj *o = bndr_lookup_type(c, &c->argv[1], BNDR_STRING, 1, &wrong);
    if (wrong)
        return;
    if (!o) {
        bndr_add_null(c);
        return;
    }
    bndr_add_bulk(c, o->s, o->len);
    bndr_db_delete(&c->srv->db, c->argv[1].p, c->argv[1].n);
    struct bndr_arg a[2] = {{(char *)"DEL", 3}, c->argv[1]};
    bndr_rewrite_prop(c, 2, a);
    c->srv->dirty++;
}

void bndr_cmd_getex(struct bndr_client *c)
{
    long long when = 0;
    int persist = 0, seen = 0;
    for (int i = 2; i < c->argc; i++) {
        struct bndr_arg *a = &c->argv[i];
        if (bndr_argeq(a, "persist") && !seen) {
            persist = 1;
            seen = 1;
        } else if (!seen && i + 1 < c->argc &&
                   (bndr_argeq(a, "ex") || bndr_argeq(a, "px") || bndr_argeq(a, "exat") ||
                    bndr_argeq(a, "pxat"))) {
            int secs = (a->p[0] | 32) == 'e';
            if (parse_expire(c, &c->argv[i + 1], secs ? 1000 : 1, a->n == 4, "getex", &when) < 0)
                return;
            seen = 1;
            i++;
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return;
        }
    }
    struct bndr_de *e = find_live(c, &c->argv[1]);
    if (!e) {
        bndr_add_null(c);
        return;
    }
    if (OBJ(e)->type != BNDR_STRING) {
        bndr_add_error(c, BNDR_ERR_WRONGTYPE);
        return;
    }
    bndr_add_bulk(c, OBJ(e)->s, OBJ(e)->len);
    if (when) {
        bndr_db_set_expire(&c->srv->db, e, when);
        prop_pexpireat(c, &c->argv[1], when);
        c->srv->dirty++;
    } else if (persist && OBJ(e)->xidx != UINT32_MAX) {
        bndr_db_persist(&c->srv->db, e);
        struct bndr_arg a[2] = {{(char *)"PERSIST", 7}, c->argv[1]};
        bndr_rewrite_prop(c, 2, a);
        c->srv->dirty++;
    }
}

void bndr_cmd_mget(struct bndr_client *c)
{
    bndr_add_array(c, c->argc - 1);
    for (int i = 1; i < c->argc; i++) {
        struct bndr_obj *o = bndr_lookup_read(c, &c->argv[i]);
        if (!o || o->type != BNDR_STRING)
            bndr_add_null(c);
        else
            bndr_add_bulk(c, o->s, o->len);
    }
}

static void mset_generic(struct bndr_client *c, int nx)
{
    if (c->argc % 2 == 0) {
        bndr_add_errorf(c, "ERR wrong number of arguments for '%s' command",
                        nx ? "msetnx" : "mset");
        return;
    }
    if (nx) {
        for (int i = 1; i < c->argc; i += 2)
            if (find_live(c, &c->argv[i])) {
                bndr_add_ll(c, 0);
                return;
            }
    }
    for (int i = 1; i < c->argc; i += 2) {
        struct bndr_de *e = bndr_db_find(&c->srv->db, c->argv[i].p, c->argv[i].n);
        struct bndr_arg *v = &c->argv[i + 1];
        if (e && OBJ(e)->type == BNDR_STRING && OBJ(e)->cap >= v->n && OBJ(e)->cap <= v->n * 2 + 32) {
            struct bndr_obj *o = OBJ(e);
            memcpy(o->s, v->p, v->n);
            o->len = (uint32_t)v->n;
            o->s[o->len] = 0;
            o->big = 0;
            if (o->xidx != UINT32_MAX)
                bndr_db_persist(&c->srv->db, e);
        } else {
            bndr_db_set(&c->srv->db, c->argv[i].p, c->argv[i].n, bndr_obj_string(v->p, v->n), 0);
        }
    }
    c->srv->dirty += (c->argc - 1) / 2;
    if (nx)
        bndr_add_ll(c, 1);
    else
        bndr_add_ok(c);
}

void bndr_cmd_mset(struct bndr_client *c)
{
    mset_generic(c, 0);
}

void bndr_cmd_msetnx(struct bndr_client *c)
{
    mset_generic(c, 1);
}

static void incr_generic(struct bndr_client *c, long long by)
{
    struct bndr_de *e = find_live(c, &c->argv[1]);
    long long v = 0;
    if (e) {
        if (OBJ(e)->type != BNDR_STRING) {
            bndr_add_error(c, BNDR_ERR_WRONGTYPE);
            return;
        }
        if (bndr_obj_get_ll(OBJ(e), &v) < 0) {
            bndr_add_error(c, BNDR_ERR_NOTINT);
            return;
        }
    }
    if ((by < 0 && v < 0 && by < LLONG_MIN - v) || (by > 0 && v > 0 && by > LLONG_MAX - v)) {
        bndr_add_error(c, "ERR increment or decrement would overflow");
        return;
    }
    v += by;
    char buf[24];
    int n = bndr_fmt_ll(buf, v);
    if (e) {
        struct bndr_obj *o = bndr_obj_string_reserve(e, (size_t)n);
        memcpy(o->s, buf, (size_t)n + 1);
        o->len = (uint32_t)n;
        o->big = 0; /* a new value for Redis (int) */
        o->lru = c->srv->lruclock;
    } else {
        bndr_db_add(&c->srv->db, c->argv[1].p, c->argv[1].n, bndr_obj_string(buf, (size_t)n));
    }
    c->srv->dirty++;
    bndr_add_ll(c, v);
}

void bndr_cmd_incr(struct bndr_client *c)
{
    incr_generic(c, 1);
}

void bndr_cmd_decr(struct bndr_client *c)
{
    incr_generic(c, -1);
}

void bndr_cmd_incrby(struct bndr_client *c)
{
    long long by;
    if (bndr_get_ll_or_reply(c, &c->argv[2], &by, NULL) < 0)
        return;
    incr_generic(c, by);
}

void bndr_cmd_decrby(struct bndr_client *c)
{
    long long by;
    if (bndr_get_ll_or_reply(c, &c->argv[2], &by, NULL) < 0)
        return;
    if (by == LLONG_MIN) {
        bndr_add_error(c, "ERR decrement would overflow");
        return;
    }
    incr_generic(c, -by);
}

void bndr_cmd_incrbyfloat(struct bndr_client *c)
{
    struct bndr_de *e = find_live(c, &c->argv[1]);
    long double v = 0, by;
    if (e) {
        if (OBJ(e)->type != BNDR_STRING) {
            bndr_add_error(c, BNDR_ERR_WRONGTYPE);
            return;
        }
        if (bndr_parse_ld(OBJ(e)->s, OBJ(e)->len, &v) < 0) {
            bndr_add_error(c, BNDR_ERR_NOTFLOAT);
            return;
        }
    }
    if (bndr_parse_ld(c->argv[2].p, c->argv[2].n, &by) < 0) {
        bndr_add_error(c, BNDR_ERR_NOTFLOAT);
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
    if (e) {
        struct bndr_obj *o = bndr_obj_string_reserve(e, (size_t)n);
        memcpy(o->s, buf, (size_t)n + 1);
        o->len = (uint32_t)n;
        o->big = 2; /* a new value for Redis, embstr even when it reads as an integer */
    } else {
        struct bndr_obj *no = bndr_obj_string(buf, (size_t)n);
        no->big = 2;
        bndr_db_add(&c->srv->db, c->argv[1].p, c->argv[1].n, no);
    }
    c->srv->dirty++;
    bndr_add_bulk(c, buf, (size_t)n);
    struct bndr_arg a[4] = {{(char *)"SET", 3}, c->argv[1], {buf, (size_t)n}, {(char *)"KEEPTTL", 7}};
    bndr_rewrite_prop(c, 4, a);
}

void bndr_cmd_append(struct bndr_client *c)
{
    struct bndr_de *e = find_live(c, &c->argv[1]);
    struct bndr_arg *v = &c->argv[2];
    if (!e) {
        bndr_db_add(&c->srv->db, c->argv[1].p, c->argv[1].n, bndr_obj_string(v->p, v->n));
        c->srv->dirty++;
        bndr_add_ll(c, (long long)v->n);
        return;
    }
    if (OBJ(e)->type != BNDR_STRING) {
        bndr_add_error(c, BNDR_ERR_WRONGTYPE);
        return;
    }
    if (check_len(c, (long long)OBJ(e)->len + (long long)v->n) < 0)
        return;
    struct bndr_obj *o = bndr_obj_string_reserve(e, OBJ(e)->len + v->n);
    memcpy(o->s + o->len, v->p, v->n);
    o->len += (uint32_t)v->n;
    o->s[o->len] = 0;
    c->srv->dirty++;
    bndr_add_ll(c, o->len);
}

void bndr_cmd_strlen(struct bndr_client *c)
{
    int wrong;
    struct bndr_obj *o = bndr_lookup_type(c, &c->argv[1], BNDR_STRING, 0, &wrong);
    if (!wrong)
        bndr_add_ll(c, o ? o->len : 0);
}

void bndr_cmd_getrange(struct bndr_client *c)
{
    long long start, end;
    if (bndr_get_ll_or_reply(c, &c->argv[2], &start, NULL) < 0 ||
        bndr_get_ll_or_reply(c, &c->argv[3], &end, NULL) < 0)
        return;
    int wrong;
    struct bndr_obj *o = bndr_lookup_type(c, &c->argv[1], BNDR_STRING, 0, &wrong);
    if (wrong)
        return;
    long long len = o ? o->len : 0;
    if (start < 0 && end < 0 && start > end) {
        bndr_add_bulk(c, "", 0);
        return;
    }
    if (start < 0)
        start = len + start;
    if (end < 0)
        end = len + end;
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if (end >= len)
        end = len - 1;
    if (!o || start > end || len == 0) {
        bndr_add_bulk(c, "", 0);
        return;
    }
    bndr_add_bulk(c, o->s + start, (size_t)(end - start + 1));
}

void bndr_cmd_substr(struct bndr_client *c)
{
    bndr_cmd_getrange(c);
}

void bndr_cmd_setrange(struct bndr_client *c)
{
    long long off;
    if (bndr_get_ll_or_reply(c, &c->argv[2], &off, NULL) < 0)
        return;
    if (off < 0) {
        bndr_add_error(c, "ERR offset is out of range");
        return;
    }
    struct bndr_arg *v = &c->argv[3];
    struct bndr_de *e = find_live(c, &c->argv[1]);
    if (e && OBJ(e)->type != BNDR_STRING) {
        bndr_add_error(c, BNDR_ERR_WRONGTYPE);
        return;
    }
    long long cur = e ? OBJ(e)->len : 0;
    if (v->n == 0) {
        bndr_add_ll(c, cur);
        return;
    }
    if (check_len(c, off + (long long)v->n) < 0)
        return;
    if (!e)
        e = bndr_db_add(&c->srv->db, c->argv[1].p, c->argv[1].n, bndr_obj_string(NULL, 0));
    size_t need = (size_t)off + v->n;
    struct bndr_obj *o = OBJ(e);
    o->big = 1; /* written in place: Redis' "raw" */
    if (need > o->len) {
        o = bndr_obj_string_reserve(e, need);
        memset(o->s + o->len, 0, need - o->len);
        o->len = (uint32_t)need;
        o->s[need] = 0;
    }
    memcpy(o->s + off, v->p, v->n);
    c->srv->dirty++;
    bndr_add_ll(c, o->len);
}

/* ---------------------------------------------------------------- keys */
static void del_generic(struct bndr_client *c)
{
    long long n = 0;
    for (int i = 1; i < c->argc; i++) {
        bndr_expire_if_needed(&c->srv->db, c->argv[i].p, c->argv[i].n);
        n += bndr_db_delete(&c->srv->db, c->argv[i].p, c->argv[i].n);
    }
    c->srv->dirty += n;
    bndr_add_ll(c, n);
}

void bndr_cmd_del(struct bndr_client *c)
{
    del_generic(c);
}

void bndr_cmd_unlink(struct bndr_client *c)
{
    del_generic(c);
}

void bndr_cmd_exists(struct bndr_client *c)
{
    long long n = 0;
    for (int i = 1; i < c->argc; i++)
        n += find_live(c, &c->argv[i]) != NULL;
    bndr_add_ll(c, n);
}

void bndr_cmd_touch(struct bndr_client *c)
{
    long long n = 0;
    for (int i = 1; i < c->argc; i++)
        n += bndr_lookup_read(c, &c->argv[i]) != NULL;
    bndr_add_ll(c, n);
}

void bndr_cmd_type(struct bndr_client *c)
{
    struct bndr_de *e = find_live(c, &c->argv[1]);
    bndr_add_status(c, e ? bndr_type_name(OBJ(e)->type) : "none");
}

static void expire_generic(struct bndr_client *c, long long unit, int abs)
{
    long long v;
    if (bndr_get_ll_or_reply(c, &c->argv[2], &v, NULL) < 0)
        return;
    int nx = 0, xx = 0, gt = 0, lt = 0;
    for (int i = 3; i < c->argc; i++) {
        if (bndr_argeq(&c->argv[i], "nx"))
            nx = 1;
        else if (bndr_argeq(&c->argv[i], "xx"))
            xx = 1;
        else if (bndr_argeq(&c->argv[i], "gt"))
            gt = 1;
        else if (bndr_argeq(&c->argv[i], "lt"))
            lt = 1;
        else {
            bndr_add_errorf(c, "ERR Unsupported option %.*s", (int)c->argv[i].n, c->argv[i].p);
            return;
        }
    }
    if (nx && (xx || gt || lt)) {
        bndr_add_error(c, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if (gt && lt) {
        bndr_add_error(c, "ERR GT and LT options at the same time are not compatible");
        return;
    }
    char lname[16];
    size_t ln = c->argv[0].n < 15 ? c->argv[0].n : 15;
    for (size_t i = 0; i < ln; i++)
        lname[i] = (char)(c->argv[0].p[i] | 32);
    lname[ln] = 0;
    if ((unit == 1000 && (v > LLONG_MAX / 1000 || v < LLONG_MIN / 1000))) {
        bndr_add_errorf(c, "ERR invalid expire time in '%s' command", lname);
        return;
    }
    v *= unit;
    if (!abs) {
        long long now = (long long)bndr_mstime();
        if ((v > 0 && v > LLONG_MAX - now)) {
            bndr_add_errorf(c, "ERR invalid expire time in '%s' command", lname);
            return;
        }
        v += now;
    }
    struct bndr_de *e = find_live(c, &c->argv[1]);
    if (!e) {
        bndr_add_ll(c, 0);
        return;
    }
    long long cur = bndr_db_expire(&c->srv->db, OBJ(e)); /* 0 = persistent = infinite */
    if ((nx && cur) || (xx && !cur) || (gt && (!cur || v <= cur)) || (lt && cur && v >= cur)) {
        bndr_add_ll(c, 0);
        return;
    }
    if (v <= (long long)bndr_mstime() && !c->srv->aof.loading) {
        bndr_db_delete(&c->srv->db, c->argv[1].p, c->argv[1].n);
        struct bndr_arg a[2] = {{(char *)"DEL", 3}, c->argv[1]};
        bndr_rewrite_prop(c, 2, a);
    } else {
        bndr_db_set_expire(&c->srv->db, e, v);
        prop_pexpireat(c, &c->argv[1], v);
    }
    c->srv->dirty++;
    bndr_add_ll(c, 1);
}

void bndr_cmd_expire(struct bndr_client *c)
{
    expire_generic(c, 1000, 0);
}

void bndr_cmd_pexpire(struct bndr_client *c)
{
    expire_generic(c, 1, 0);
}

void bndr_cmd_expireat(struct bndr_client *c)
{
    expire_generic(c, 1000, 1);
}

void bndr_cmd_pexpireat(struct bndr_client *c)
{
    expire_generic(c, 1, 1);
}

static void ttl_generic(struct bndr_client *c, int ms, int abs)
{
    struct bndr_de *e = find_live(c, &c->argv[1]);
    if (!e) {
        bndr_add_ll(c, -2);
        return;
    }
    long long exp = bndr_db_expire(&c->srv->db, OBJ(e));
    if (!exp) {
        bndr_add_ll(c, -1);
        return;
    }
    if (abs) {
        bndr_add_ll(c, ms ? exp : exp / 1000);
        return;
    }
    long long t = exp - (long long)bndr_mstime();
    if (t < 0)
        t = 0;
    bndr_add_ll(c, ms ? t : (t + 500) / 1000);
}

void bndr_cmd_ttl(struct bndr_client *c)
{
    ttl_generic(c, 0, 0);
}

void bndr_cmd_pttl(struct bndr_client *c)
{
    ttl_generic(c, 1, 0);
}

void bndr_cmd_expiretime(struct bndr_client *c)
{
    ttl_generic(c, 0, 1);
}

void bndr_cmd_pexpiretime(struct bndr_client *c)
{
    ttl_generic(c, 1, 1);
}

void bndr_cmd_persist(struct bndr_client *c)
{
    struct bndr_de *e = find_live(c, &c->argv[1]);
    if (!e || OBJ(e)->xidx == UINT32_MAX) {
        bndr_add_ll(c, 0);
        return;
    }
    bndr_db_persist(&c->srv->db, e);
    c->srv->dirty++;
    bndr_add_ll(c, 1);
}

static void rename_generic(struct bndr_client *c, int nx)
{
    struct bndr_de *src = find_live(c, &c->argv[1]);
    if (!src) {
        bndr_add_error(c, "ERR no such key");
        return;
    }
    struct bndr_arg *dst = &c->argv[2];
    int same = c->argv[1].n == dst->n && memcmp(c->argv[1].p, dst->p, dst->n) == 0;
    struct bndr_de *d = find_live(c, dst);
    if (same) {
        if (nx)
            bndr_add_ll(c, 0);
        else
            bndr_add_ok(c);
        return;
    }
    if (d && nx) {
        bndr_add_ll(c, 0);
        return;
    }
    int64_t exp;
    struct bndr_obj *o = bndr_db_take(&c->srv->db, c->argv[1].p, c->argv[1].n, &exp);
    bndr_db_set(&c->srv->db, dst->p, dst->n, o, 0);
    if (exp)
        bndr_db_set_expire(&c->srv->db, bndr_db_find(&c->srv->db, dst->p, dst->n), exp);
    c->srv->dirty++;
    if (nx)
        bndr_add_ll(c, 1);
    else
        bndr_add_ok(c);
}

void bndr_cmd_rename(struct bndr_client *c)
{
    rename_generic(c, 0);
}

void bndr_cmd_renamenx(struct bndr_client *c)
{
    rename_generic(c, 1);
}

void bndr_cmd_keys(struct bndr_client *c)
{
    struct bndr_arg *pat = &c->argv[1];
    int all = pat->n == 1 && pat->p[0] == '*';
    uint64_t now = bndr_mstime();
    size_t h = bndr_add_deferred_len(c);
    long n = 0;
    BNDR_DICT_FOREACH(&c->srv->db.keys, e)
    {
        int64_t when = bndr_db_expire(&c->srv->db, e->v.p);
        if (when && (uint64_t)when <= now)
            continue;
        if (all || bndr_glob(pat->p, pat->n, e->key, e->klen, 0)) {
            bndr_add_bulk(c, e->key, e->klen);
            n++;
        }
    }
    bndr_set_deferred_len(c, h, n, '*');
}

struct scan_acc {
    struct bndr_de **v;
    size_t n, cap;
};

static void scan_cb(struct bndr_de *e, void *arg)
{
    struct scan_acc *a = arg;
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 32;
        a->v = bndr_realloc(a->v, a->cap * sizeof(*a->v));
    }
    a->v[a->n++] = e;
}

/* Shared SCAN engine: kind 0 keys, BNDR_SET / BNDR_HASH / BNDR_ZSET for *SCAN. */
void bndr_scan_generic(struct bndr_client *c, struct bndr_dict *d, int cursor_arg, int kind)
{
    uint64_t cursor;
    if (bndr_parse_cursor(c, &c->argv[cursor_arg], &cursor) < 0)
        return;
    struct bndr_scan_opts o;
    if (bndr_parse_scan_opts(c, cursor_arg + 1, kind == 0, &o) < 0)
        return;
    struct scan_acc acc = {0};
    long long maxiter = o.count * 10;
    if (d) {
        do {
            cursor = bndr_dict_scan(d, cursor, scan_cb, &acc);
        } while (cursor && maxiter-- && (long long)acc.n < o.count);
    } else {
        cursor = 0;
    }
    uint64_t now = bndr_mstime();
    bndr_add_array(c, 2);
    char cb[24];
    int cn = snprintf(cb, sizeof cb, "%llu", (unsigned long long)cursor);
    bndr_add_bulk(c, cb, (size_t)cn);
    size_t h = bndr_add_deferred_len(c);
    long n = 0;
    for (size_t i = 0; i < acc.n; i++) {
        struct bndr_de *e = acc.v[i];
        if (o.pat && !bndr_glob(o.pat, o.patn, e->key, e->klen, 0))
            continue;
        if (kind == 0) {
            struct bndr_obj *ob = e->v.p;
            int64_t when = bndr_db_expire(&c->srv->db, ob);
            if (when && (uint64_t)when <= now)
                continue;
            if (o.type >= 0 && ob->type != o.type)
                continue;
        }
        bndr_add_bulk(c, e->key, e->klen);
        n++;
        if (kind == BNDR_HASH) {
            struct bndr_str *v = e->v.p;
            bndr_add_bulk(c, v->buf, v->len);
            n++;
        } else if (kind == BNDR_ZSET) {
            char db[64];
            int dn = bndr_fmt_double(db, sizeof db, e->v.d);
            bndr_add_bulk(c, db, (size_t)dn);
            n++;
        }
    }
    bndr_set_deferred_len(c, h, n, '*');
    bndr_free(acc.v);
}

void bndr_cmd_scan(struct bndr_client *c)
{
    bndr_scan_generic(c, &c->srv->db.keys, 1, 0);
}

void bndr_cmd_dbsize(struct bndr_client *c)
{
    bndr_add_ll(c, (long long)c->srv->db.keys.n);
}

static void flush_generic(struct bndr_client *c)
{
    if (c->argc > 2 || (c->argc == 2 && !bndr_argeq(&c->argv[1], "sync") &&
                        !bndr_argeq(&c->argv[1], "async"))) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    struct bndr_server *s = c->srv;
    /* every watched key that exists is touched */
    BNDR_DICT_FOREACH(&s->watched, w)
    {
        if (bndr_db_find(&s->db, w->key, w->klen))
            bndr_signal_key(s, w->key, w->klen);
    }
    s->dirty += (long long)s->db.keys.n + 1;
    bndr_db_flush(&s->db);
    bndr_notify(s, "flushdb", "", 0);
    bndr_add_ok(c);
}

void bndr_cmd_flushdb(struct bndr_client *c)
{
    flush_generic(c);
}

void bndr_cmd_flushall(struct bndr_client *c)
{
    if (c->argc > 2 || (c->argc == 2 && !bndr_argeq(&c->argv[1], "sync") &&
                        !bndr_argeq(&c->argv[1], "async"))) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    bndr_flushall(c->srv); /* every database (db.c) */
    bndr_add_ok(c);
}

void bndr_cmd_randomkey(struct bndr_client *c)
{
    uint64_t now = bndr_mstime();
    for (int tries = 0; tries < 100; tries++) {
        struct bndr_de *e = bndr_dict_random(&c->srv->db.keys);
        if (!e)
            break;
        int64_t when = bndr_db_expire(&c->srv->db, e->v.p);
        if (when && (uint64_t)when <= now)
            continue;
        bndr_add_bulk(c, e->key, e->klen);
        return;
    }
    bndr_add_null(c);
}
