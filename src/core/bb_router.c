#include "bb_router.h"
#include "bb_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct seg {
    const char *s;
    size_t len;
    int is_param;
};

struct entry {
    const struct bb_route *route;
    void *ctx;
    size_t nsegs;
    size_t nliterals;
    struct seg segs[BB_ROUTE_MAX_SEGMENTS];
};

struct bb_router {
    struct entry *entries;
    size_t n, cap;
    struct bb_identity_resolver resolvers[BB_ROUTER_MAX_RESOLVERS];
    size_t nresolvers;
    bb_router_authorize_fn authorizer;
    void *authorizer_arg;
    const struct bb_route *fallback; /* paths no entry knows (GET/HEAD): the console's files */
    void *fallback_ctx;
};

void bb_router_set_fallback(struct bb_router *r, const struct bb_route *route, void *ctx)
{
    r->fallback = route;
    r->fallback_ctx = ctx;
}

void bb_router_set_authorizer(struct bb_router *r, bb_router_authorize_fn fn, void *arg)
{
    r->authorizer = fn;
    r->authorizer_arg = arg;
}

bb_router_authorize_fn bb_router_authorizer(const struct bb_router *r, void **arg)
{
    *arg = r ? r->authorizer_arg : NULL;
    return r ? r->authorizer : NULL;
}

int bb_router_add_resolver(struct bb_router *r, const struct bb_identity_resolver *res)
{
    if (!res || !res->resolve) return BB_EINVAL;
    if (r->nresolvers >= BB_ROUTER_MAX_RESOLVERS) return BB_ELIMIT;
    r->resolvers[r->nresolvers++] = *res;
    return 0;
}

const struct bb_identity_resolver *bb_router_resolvers(const struct bb_router *r, size_t *n)
{
    *n = r ? r->nresolvers : 0;
    return r ? r->resolvers : NULL;
}

const struct bb_route *bb_router_route(const struct bb_router *r, size_t i)
{
    return r && i < r->n ? r->entries[i].route : NULL;
}

int bb_router_new(struct bb_router **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : BB_ENOMEM;
}

void bb_router_free(struct bb_router *r)
{
    if (!r) return;
    free(r->entries);
    free(r);
}

/* Splits "/a/b/c" into segments; "/" has zero segments. Returns count or -1 if too many. */
static int split(const char *p, size_t len, struct seg *segs)
{
    size_t i = 0, n = 0;
    if (len == 0 || p[0] != '/') return -1;
    while (i < len) {
        i++; /* skip '/' */
        size_t start = i;
        while (i < len && p[i] != '/')
            i++;
        if (i == start && i == len) break; /* trailing slash */
        if (n >= BB_ROUTE_MAX_SEGMENTS) return -1;
        segs[n].s = p + start;
        segs[n].len = i - start;
        segs[n].is_param = 0;
        n++;
    }
    return (int)n;
}

int bb_router_add(struct bb_router *r, const struct bb_route *table, size_t n, void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        struct entry e = {.route = &table[i], .ctx = ctx};
        const char *pat = table[i].pattern;
        int ns = pat ? split(pat, strlen(pat), e.segs) : -1;
        if (ns < 0 || !table[i].method || !table[i].handler) return BB_EINVAL;
        e.nsegs = (size_t)ns;
        size_t nparams = 0;
        for (size_t k = 0; k < e.nsegs; k++) {
            struct seg *s = &e.segs[k];
            int open = memchr(s->s, '{', s->len) != NULL, close = memchr(s->s, '}', s->len) != NULL;
            if (open || close) {
                if (s->len < 3 || s->s[0] != '{' || s->s[s->len - 1] != '}' ||
                    memchr(s->s + 1, '{', s->len - 2) || memchr(s->s + 1, '}', s->len - 2))
                    return BB_EINVAL;
                s->is_param = 1;
                s->s++;
                s->len -= 2;
                if (++nparams > BB_ROUTE_MAX_PARAMS) return BB_EINVAL;
            } else {
                e.nliterals++;
            }
        }
        if (r->n == r->cap) {
            size_t nc = r->cap ? r->cap * 2 : 16;
            struct entry *ne = realloc(r->entries, nc * sizeof *ne);
            if (!ne) return BB_ENOMEM;
            r->entries = ne;
            r->cap = nc;
        }
        r->entries[r->n++] = e;
    }
    return 0;
}

static int method_matches(const char *route_method, const char *method)
{
    if (strcmp(route_method, method) == 0) return 1;
    return strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0;
}

static void allow_add(char *allow, size_t cap, const char *method)
{
    /* no duplicates: "GET" once even if two patterns match */
    size_t mlen = strlen(method);
    for (const char *p = allow; (p = strstr(p, method)); p += mlen) {
        if ((p == allow || p[-1] == ' ') && (p[mlen] == ',' || p[mlen] == '\0')) return;
    }
    size_t used = strlen(allow);
    snprintf(allow + used, cap - used, "%s%s", used ? ", " : "", method);
}

/* 1 when e's pattern matches the path's segments. */
static int entry_matches(const struct entry *e, const struct seg *segs, int ns)
{
    if (e->nsegs != (size_t)ns) return 0;
    for (size_t k = 0; k < e->nsegs; k++) {
        if (e->segs[k].is_param) {
            if (segs[k].len == 0) return 0;
            continue;
        }
        if (e->segs[k].len != segs[k].len || memcmp(e->segs[k].s, segs[k].s, segs[k].len))
            return 0;
    }
    return 1;
}

int bb_router_match(const struct bb_router *r, const char *method, const char *path, size_t len,
                    struct bb_route_match *m)
{
    struct seg segs[BB_ROUTE_MAX_SEGMENTS];
    memset(m, 0, sizeof *m);
    int ns = split(path, len, segs);
    if (ns < 0) return BB_ENOTFOUND;
    /* "/api/..." is the same table as "/v1/..." */
    if (ns > 0 && segs[0].len == 3 && memcmp(segs[0].s, "api", 3) == 0) {
        segs[0].s = "v1";
        segs[0].len = 2;
    }
    const struct entry *best = NULL;
    int path_known = 0;
    for (size_t i = 0; i < r->n; i++) {
        const struct entry *e = &r->entries[i];
        if (!entry_matches(e, segs, ns)) continue;
        path_known = 1;
        if (method_matches(e->route->method, method) && (!best || e->nliterals > best->nliterals))
            best = e;
    }
    /* Allow (only meaningful with BB_EMETHOD): built in a second pass, off the matched path */
    if (!best && path_known)
        for (size_t i = 0; i < r->n; i++)
            if (entry_matches(&r->entries[i], segs, ns))
                allow_add(m->allow, sizeof m->allow, r->entries[i].route->method);
    if (!best && !path_known && r->fallback && method_matches(r->fallback->method, method)) {
        m->route = r->fallback; /* no parameters; the handler reads the path */
        m->ctx = r->fallback_ctx;
        return 0;
    }
    if (!best) return path_known ? BB_EMETHOD : BB_ENOTFOUND;
    m->route = best->route;
    m->ctx = best->ctx;
    for (size_t k = 0; k < best->nsegs; k++) {
        if (!best->segs[k].is_param) continue;
        struct bb_route_param *p = &m->params[m->nparams++];
        p->name = best->segs[k].s;
        p->name_len = best->segs[k].len;
        p->value = segs[k].s;
        p->value_len = segs[k].len;
    }
    return 0;
}
