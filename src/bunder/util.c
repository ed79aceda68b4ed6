/* util.c — bunder's building blocks: tracked allocator, byte strings, number parsing and
 * formatting (Redis-compatible wording and edge cases), glob matching, the chained hash table,
 * the list deque and the sorted-set skiplist (Pugh skiplist with spans, as in Redis' t_zset.c). */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "bndr.h"

/* ---------------------------------------------------------------- allocator */
static size_t used_memory;

static void oom(size_t n)
{
    fprintf(stderr, "bunder: out of memory allocating %zu bytes\n", n);
    abort();
}

void *bndr_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    used_memory += malloc_usable_size(p);
    return p;
}

void *bndr_calloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p)
        oom(n);
    used_memory += malloc_usable_size(p);
    return p;
}

void *bndr_realloc(void *p, size_t n)
{
    if (!p)
        return bndr_malloc(n);
    size_t old = malloc_usable_size(p);
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    used_memory += malloc_usable_size(q);
    used_memory -= old;
    return q;
}

void bndr_free(void *p)
{
    if (!p)
        return;
    used_memory -= malloc_usable_size(p);
    free(p);
}

char *bndr_memdup(const void *p, size_t n)
{
    char *q = bndr_malloc(n + 1);
    if (n)
        memcpy(q, p, n);
    q[n] = 0;
    return q;
}

size_t bndr_used_memory(void)
{
    return used_memory;
}

/* ---------------------------------------------------------------- strings */
struct bndr_str *bndr_str_new(const void *p, size_t n)
{
    struct bndr_str *s = bndr_malloc(sizeof(*s) + n + 1);
    s->len = (uint32_t)n;
    s->cap = (uint32_t)n;
    if (n)
        memcpy(s->buf, p, n);
    s->buf[n] = 0;
    return s;
}

struct bndr_str *bndr_str_cat(struct bndr_str *s, const void *p, size_t n)
{
    if ((size_t)s->len + n > s->cap) {
        size_t nc = ((size_t)s->len + n) * 2;
        if (nc > UINT32_MAX - 64)
            nc = (size_t)s->len + n;
        s = bndr_realloc(s, sizeof(*s) + nc + 1);
        s->cap = (uint32_t)nc;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += (uint32_t)n;
    s->buf[s->len] = 0;
    return s;
}

void bndr_str_free(struct bndr_str *s)
{
    bndr_free(s);
}

/* ---------------------------------------------------------------- numbers */
/* Redis string2ll: no spaces, no '+', no leading zeros (except "0"), fits in long long. */
int bndr_parse_ll(const char *p, size_t n, long long *out)
{
    if (n == 0 || n > 20)
        return -1;
    size_t i = 0;
    int neg = 0;
    if (n == 1 && p[0] == '0') {
        *out = 0;
        return 0;
    }
    if (p[0] == '-') {
        neg = 1;
        i = 1;
        if (n == 1)
            return -1;
    }
    if (p[i] < '1' || p[i] > '9')
        return -1;
    unsigned long long v = 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (ULLONG_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (unsigned long long)LLONG_MAX + 1)
            return -1;
        *out = (long long)(0 - v);
    } else {
        if (v > LLONG_MAX)
            return -1;
        *out = (long long)v;
    }
    return 0;
}

static int copy_num(const char *p, size_t n, char *buf, size_t cap)
{
    if (n == 0 || n >= cap)
        return -1;
    memcpy(buf, p, n);
    buf[n] = 0;
    if (memchr(buf, 0, n) || isspace((unsigned char)buf[0]))
        return -1;
    return 0;
}

int bndr_parse_double(const char *p, size_t n, double *out)
{
    char buf[BNDR_LD_STR_MAX];
    if (copy_num(p, n, buf, sizeof buf) < 0)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end || isnan(v) || (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || v == 0)))
        return -1;
    *out = v;
    return 0;
}

int bndr_parse_ld(const char *p, size_t n, long double *out)
{
    char buf[BNDR_LD_STR_MAX];
    if (copy_num(p, n, buf, sizeof buf) < 0)
        return -1;
    char *end;
    errno = 0;
    long double v = strtold(buf, &end);
    if (*end || isnan(v) || errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

int bndr_fmt_ll(char *buf, long long v)
{
    char tmp[24];
    int i = 0;
    unsigned long long u = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[i++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    int len = 0;
    if (v < 0)
        buf[len++] = '-';
    while (i)
        buf[len++] = tmp[--i];
    buf[len] = 0;
    return len;
}

int bndr_fmt_double(char *buf, size_t cap, double v)
{
    if (isinf(v))
        return snprintf(buf, cap, "%s", v > 0 ? "inf" : "-inf");
    /* integers in the exactly representable range print without exponent, like Redis */
    if (v == floor(v) && fabs(v) < 1e17) {
        return snprintf(buf, cap, "%.0f", v == 0 ? 0.0 : v);
    }
    return snprintf(buf, cap, "%.17g", v);
}

int bndr_fmt_ld(char *buf, size_t cap, long double v)
{
    if (isinf(v))
        return snprintf(buf, cap, "%s", v > 0 ? "inf" : "-inf");
    int n = snprintf(buf, cap, "%.17Lf", v);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    if (strchr(buf, '.')) {
        while (n > 0 && buf[n - 1] == '0')
            n--;
        if (n > 0 && buf[n - 1] == '.')
            n--;
        buf[n] = 0;
    }
    if (n == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        buf[1] = 0;
        n = 1;
    }
    return n;
}

/* Redis stringmatchlen: * ? [abc] [^a] [a-z] and \ escapes.
 *
 * Bounded like Redis after CVE-2022-36021 (KEYS/SCAN MATCH "a*a*a*…b" pinned the server): runs
 * of '*' collapse into one, recursion is at most 1000 deep, and once the rest of the pattern after
 * a '*' has failed to match at every position of the rest of the string, *skip is set and every
 * enclosing '*' gives up too — a longer match for an earlier '*' only starts the rest later in the
 * same string, which was just shown not to match. So a '*' tries each string position at most
 * once per level that can still succeed: O(pattern × string) instead of exponential. */
static int glob_r(const char *pat, size_t plen, const char *s, size_t slen, int nocase, int depth,
                  int *skip)
{
    if (depth > 1000)
        return 0;
    while (plen && slen) {
        switch (pat[0]) {
        case '*':
            while (plen > 1 && pat[1] == '*') {
                pat++;
                plen--;
            }
            if (plen == 1)
                return 1;
            while (slen) {
                if (glob_r(pat + 1, plen - 1, s, slen, nocase, depth + 1, skip))
                    return 1;
                if (*skip)
                    return 0;
                s++;
                slen--;
            }
            *skip = 1; /* the rest matches nowhere in this string: no longer match can help */
            return 0;
        case '?':
            s++;
            slen--;
            break;
        case '[': {
            pat++;
            plen--;
            int not = 0, match = 0;
            if (plen && pat[0] == '^') {
                not = 1;
                pat++;
                plen--;
            }
            while (plen) {
                if (pat[0] == '\\' && plen >= 2) {
                    pat++;
                    plen--;
                    if (pat[0] == s[0])
                        match = 1;
                } else if (pat[0] == ']') {
                    break;
                } else if (plen >= 3 && pat[1] == '-') {
                    int a = (unsigned char)pat[0], b = (unsigned char)pat[2],
                        ch = (unsigned char)s[0];
                    if (a > b) {
                        int t = a;
                        a = b;
                        b = t;
                    }
                    if (nocase) {
                        a = tolower(a);
                        b = tolower(b);
                        ch = tolower(ch);
                    }
                    if (ch >= a && ch <= b)
                        match = 1;
                    pat += 2;
                    plen -= 2;
                } else {
                    if (nocase ? tolower((unsigned char)pat[0]) == tolower((unsigned char)s[0])
                               : pat[0] == s[0])
                        match = 1;
                }
                pat++;
                plen--;
            }
            if (not)
                match = !match;
            if (!match)
                return 0;
            s++;
            slen--;
            if (plen == 0) /* unterminated class: treat end as end of pattern */
                return slen == 0;
            break;
        }
        case '\\':
            if (plen >= 2) {
                pat++;
                plen--;
            }
            /* fall through */
        default:
            if (nocase ? tolower((unsigned char)pat[0]) != tolower((unsigned char)s[0])
                       : pat[0] != s[0])
                return 0;
            s++;
            slen--;
            break;
        }
        pat++;
        plen--;
        if (slen == 0) {
            while (plen && pat[0] == '*') {
                pat++;
                plen--;
            }
            break;
        }
    }
    if (slen == 0)
        while (plen && pat[0] == '*') {
            pat++;
            plen--;
        }
    return plen == 0 && slen == 0;
}

int bndr_glob(const char *pat, size_t plen, const char *s, size_t slen, int nocase)
{
    int skip = 0;
    return glob_r(pat, plen, s, slen, nocase, 0, &skip);
}

static uint64_t hash_seed = 0x9e3779b97f4a7c15ULL;

uint64_t bndr_hash(const void *p, size_t n)
{
    /* 64-bit multiply-xorshift over 8-byte words (wyhash-like mixing). */
    const unsigned char *s = p;
    uint64_t h = hash_seed ^ (n * 0x87c37b91114253d5ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        w *= 0xff51afd7ed558ccdULL;
        w ^= w >> 32;
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    w *= 0xff51afd7ed558ccdULL;
    w ^= w >> 32;
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 32;
    return h;
}

uint64_t bndr_ustime(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
}

uint64_t bndr_mstime(void)
{
    return bndr_ustime() / 1000;
}

static uint64_t rng_state = 0x853c49e6748fea9bULL;

uint64_t bndr_rand(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* ---------------------------------------------------------------- dict */
void bndr_dict_init(struct bndr_dict *d)
{
    memset(d, 0, sizeof *d);
}

void bndr_dict_release(struct bndr_dict *d, void (*free_val)(struct bndr_de *))
{
    if (d->t) {
        for (uint64_t i = 0; i <= d->mask; i++) {
            struct bndr_de *e = d->t[i];
            while (e) {
                struct bndr_de *nx = e->next;
                if (free_val)
                    free_val(e);
                bndr_free(e);
                e = nx;
            }
        }
        bndr_free(d->t);
    }
    memset(d, 0, sizeof *d);
}

static void dict_resize(struct bndr_dict *d, uint64_t size)
{
    struct bndr_de **nt = bndr_calloc(size * sizeof(*nt));
    uint64_t nmask = size - 1;
    if (d->t) {
        for (uint64_t i = 0; i <= d->mask; i++) {
            struct bndr_de *e = d->t[i];
            while (e) {
                struct bndr_de *nx = e->next;
                uint64_t b = bndr_hash(e->key, e->klen) & nmask;
                e->next = nt[b];
                nt[b] = e;
                e = nx;
            }
        }
        bndr_free(d->t);
    }
    d->t = nt;
    d->mask = nmask;
}

struct bndr_de *bndr_dict_find(const struct bndr_dict *d, const void *k, size_t n)
{
    if (!d->t || d->n == 0)
        return NULL;
    struct bndr_de *e = d->t[bndr_hash(k, n) & d->mask];
    for (; e; e = e->next)
        if (e->klen == n && memcmp(e->key, k, n) == 0)
            return e;
    return NULL;
}

struct bndr_de *bndr_dict_upsert(struct bndr_dict *d, const void *k, size_t n, int *created)
{
    if (!d->t)
        dict_resize(d, 4);
    uint64_t h = bndr_hash(k, n);
    struct bndr_de *e = d->t[h & d->mask];
    for (; e; e = e->next)
        if (e->klen == n && memcmp(e->key, k, n) == 0) {
            if (created)
                *created = 0;
            return e;
        }
    if (d->n >= d->mask + 1 && d->iterators == 0) {
        dict_resize(d, (d->mask + 1) * 2);
    }
    e = bndr_malloc(offsetof(struct bndr_de, key) + n + 1); /* not sizeof: no tail padding */
    e->v.p = NULL;
    e->klen = (uint32_t)n;
    memcpy(e->key, k, n);
    e->key[n] = 0;
    uint64_t b = h & d->mask;
    e->next = d->t[b];
    d->t[b] = e;
    d->n++;
    if (created)
        *created = 1;
    return e;
}

struct bndr_de *bndr_dict_unlink(struct bndr_dict *d, const void *k, size_t n)
{
    if (!d->t || d->n == 0)
        return NULL;
    struct bndr_de **pp = &d->t[bndr_hash(k, n) & d->mask];
    for (; *pp; pp = &(*pp)->next) {
        struct bndr_de *e = *pp;
        if (e->klen == n && memcmp(e->key, k, n) == 0) {
            *pp = e->next;
            d->n--;
            return e;
        }
    }
    return NULL;
}

void bndr_dict_maybe_shrink(struct bndr_dict *d)
{
    if (!d->t || d->iterators)
        return;
    if (d->n == 0) {
        bndr_free(d->t);
        d->t = NULL;
        d->mask = 0;
        return;
    }
    uint64_t size = d->mask + 1;
    if (size > 4 && d->n * 8 < size) {
        uint64_t ns = 4;
        while (ns < d->n)
            ns *= 2;
        dict_resize(d, ns);
    }
}

struct bndr_de *bndr_dict_random(const struct bndr_dict *d)
{
    if (!d->t || d->n == 0)
        return NULL;
    struct bndr_de *e;
    /* sparse tables: bounded probing, then a linear walk from a random bucket */
    for (int tries = 0; tries < 100; tries++) {
        e = d->t[bndr_rand() & d->mask];
        if (e)
            goto pick;
    }
    {
        uint64_t b = bndr_rand() & d->mask;
        for (;;) {
            e = d->t[b];
            if (e)
                break;
            b = (b + 1) & d->mask;
        }
    }
pick:;
    int len = 0;
    for (struct bndr_de *x = e; x; x = x->next)
        len++;
    int k = (int)(bndr_rand() % (uint64_t)len);
    while (k--)
        e = e->next;
    return e;
}

static uint64_t rev64(uint64_t v)
{
    uint64_t r = 0;
    for (int i = 0; i < 64; i++) {
        r = (r << 1) | (v & 1);
        v >>= 1;
    }
    return r;
}

uint64_t bndr_dict_scan(const struct bndr_dict *d, uint64_t cursor,
                        void (*fn)(struct bndr_de *, void *), void *arg)
{
    if (!d->t || d->n == 0)
        return 0;
    uint64_t m = d->mask;
    for (struct bndr_de *e = d->t[cursor & m]; e; e = e->next)
        fn(e, arg);
    cursor |= ~m;
    cursor = rev64(cursor);
    cursor++;
    cursor = rev64(cursor);
    return cursor;
}

/* ---------------------------------------------------------------- list */
struct bndr_list *bndr_list_new(void)
{
    struct bndr_list *l = bndr_calloc(sizeof *l);
    return l;
}

void bndr_list_free(struct bndr_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        bndr_str_free(BNDR_LIST_AT(l, i));
    bndr_free(l->a);
    bndr_free(l);
}

static void list_grow(struct bndr_list *l)
{
    size_t nc = l->cap ? l->cap * 2 : 4;
    struct bndr_str **na = bndr_malloc(nc * sizeof(*na));
    for (size_t i = 0; i < l->n; i++)
        na[i] = BNDR_LIST_AT(l, i);
    bndr_free(l->a);
    l->a = na;
    l->cap = nc;
    l->head = 0;
}

void bndr_list_push(struct bndr_list *l, struct bndr_str *s, int head)
{
    if (l->n == l->cap)
        list_grow(l);
    if (head) {
        l->head = (l->head + l->cap - 1) & (l->cap - 1);
        l->a[l->head] = s;
    } else {
        l->a[(l->head + l->n) & (l->cap - 1)] = s;
    }
    l->n++;
}

struct bndr_str *bndr_list_pop(struct bndr_list *l, int head)
{
    if (l->n == 0)
        return NULL;
    struct bndr_str *s;
    if (head) {
        s = l->a[l->head];
        l->head = (l->head + 1) & (l->cap - 1);
    } else {
        s = BNDR_LIST_AT(l, l->n - 1);
    }
    l->n--;
    if (l->cap > 64 && l->n * 8 < l->cap) {
        /* shrink */
        size_t nc = l->cap / 4;
        struct bndr_str **na = bndr_malloc(nc * sizeof(*na));
        for (size_t i = 0; i < l->n; i++)
            na[i] = BNDR_LIST_AT(l, i);
        bndr_free(l->a);
        l->a = na;
        l->cap = nc;
        l->head = 0;
    }
    return s;
}

void bndr_list_insert(struct bndr_list *l, size_t idx, struct bndr_str *s)
{
    if (l->n == l->cap)
        list_grow(l);
    /* shift elements idx.. one to the right */
    for (size_t i = l->n; i > idx; i--)
        BNDR_LIST_AT(l, i) = BNDR_LIST_AT(l, i - 1);
    BNDR_LIST_AT(l, idx) = s;
    l->n++;
}

void bndr_list_remove(struct bndr_list *l, size_t idx)
{
    bndr_str_free(BNDR_LIST_AT(l, idx));
    for (size_t i = idx; i + 1 < l->n; i++)
        BNDR_LIST_AT(l, i) = BNDR_LIST_AT(l, i + 1);
    l->n--;
}

/* ---------------------------------------------------------------- skiplist */
static struct bndr_zsl_node *zsl_node(int level, double score, const char *ele, uint32_t elen)
{
    struct bndr_zsl_node *n =
        bndr_calloc(sizeof(*n) + (size_t)level * sizeof(struct bndr_zsl_level));
    n->score = score;
    n->ele = ele;
    n->elen = elen;
    return n;
}

struct bndr_zset *bndr_zset_new(void)
{
    struct bndr_zset *z = bndr_calloc(sizeof *z);
    bndr_dict_init(&z->dict);
    z->level = 1;
    z->header = zsl_node(BNDR_ZSL_MAXLEVEL, 0, NULL, 0);
    return z;
}

void bndr_zset_free(struct bndr_zset *z)
{
    if (!z)
        return;
    struct bndr_zsl_node *n = z->header->level[0].forward;
    while (n) {
        struct bndr_zsl_node *nx = n->level[0].forward;
        bndr_free(n);
        n = nx;
    }
    bndr_free(z->header);
    bndr_dict_release(&z->dict, NULL);
    bndr_free(z);
}

static int zsl_random_level(void)
{
    int level = 1;
    while ((bndr_rand() & 0xFFFF) < (0.25 * 0xFFFF) && level < BNDR_ZSL_MAXLEVEL)
        level++;
    return level;
}

static int ele_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t m = an < bn ? an : bn;
    int r = m ? memcmp(a, b, m) : 0;
    if (r)
        return r;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

/* node precedes (score, ele)? */
static int zsl_lt(const struct bndr_zsl_node *x, double score, const char *ele, size_t elen)
{
    return x->score < score || (x->score == score && ele_cmp(x->ele, x->elen, ele, elen) < 0);
}

static void zsl_insert(struct bndr_zset *z, double score, const char *ele, uint32_t elen)
{
    struct bndr_zsl_node *update[BNDR_ZSL_MAXLEVEL], *x = z->header;
    unsigned long rank[BNDR_ZSL_MAXLEVEL];
    for (int i = z->level - 1; i >= 0; i--) {
        rank[i] = i == z->level - 1 ? 0 : rank[i + 1];
        while (x->level[i].forward && zsl_lt(x->level[i].forward, score, ele, elen)) {
            rank[i] += x->level[i].span;
            x = x->level[i].forward;
        }
        update[i] = x;
    }
    int level = zsl_random_level();
    if (level > z->level) {
        for (int i = z->level; i < level; i++) {
            rank[i] = 0;
            update[i] = z->header;
            update[i]->level[i].span = z->length;
        }
        z->level = level;
    }
    x = zsl_node(level, score, ele, elen);
    for (int i = 0; i < level; i++) {
        x->level[i].forward = update[i]->level[i].forward;
        update[i]->level[i].forward = x;
        x->level[i].span = update[i]->level[i].span - (rank[0] - rank[i]);
        update[i]->level[i].span = (rank[0] - rank[i]) + 1;
    }
    for (int i = level; i < z->level; i++)
        update[i]->level[i].span++;
    x->backward = update[0] == z->header ? NULL : update[0];
    if (x->level[0].forward)
        x->level[0].forward->backward = x;
    else
        z->tail = x;
    z->length++;
}

static void zsl_delete_node(struct bndr_zset *z, struct bndr_zsl_node *x,
                            struct bndr_zsl_node **update)
{
    for (int i = 0; i < z->level; i++) {
        if (update[i]->level[i].forward == x) {
            update[i]->level[i].span += x->level[i].span - 1;
            update[i]->level[i].forward = x->level[i].forward;
        } else {
            update[i]->level[i].span -= 1;
        }
    }
    if (x->level[0].forward)
        x->level[0].forward->backward = x->backward;
    else
        z->tail = x->backward;
    while (z->level > 1 && z->header->level[z->level - 1].forward == NULL)
        z->level--;
    z->length--;
}

static int zsl_delete(struct bndr_zset *z, double score, const char *ele, size_t elen)
{
    struct bndr_zsl_node *update[BNDR_ZSL_MAXLEVEL], *x = z->header;
    for (int i = z->level - 1; i >= 0; i--) {
        while (x->level[i].forward && zsl_lt(x->level[i].forward, score, ele, elen))
            x = x->level[i].forward;
        update[i] = x;
    }
    x = x->level[0].forward;
    if (x && x->score == score && ele_cmp(x->ele, x->elen, ele, elen) == 0) {
        zsl_delete_node(z, x, update);
        bndr_free(x);
        return 1;
    }
    return 0;
}

int bndr_zset_set(struct bndr_zset *z, const char *m, size_t n, double score)
{
    int created;
    struct bndr_de *e = bndr_dict_upsert(&z->dict, m, n, &created);
    if (!created) {
        if (e->v.d == score)
            return 0;
        zsl_delete(z, e->v.d, e->key, e->klen);
    }
    e->v.d = score;
    zsl_insert(z, score, e->key, e->klen);
    return created;
}

int bndr_zset_del(struct bndr_zset *z, const char *m, size_t n)
{
    struct bndr_de *e = bndr_dict_find(&z->dict, m, n);
    if (!e)
        return 0;
    zsl_delete(z, e->v.d, e->key, e->klen);
    e = bndr_dict_unlink(&z->dict, m, n);
    bndr_free(e);
    bndr_dict_maybe_shrink(&z->dict);
    return 1;
}

long bndr_zset_rank(struct bndr_zset *z, const char *m, size_t n, int reverse)
{
    struct bndr_de *e = bndr_dict_find(&z->dict, m, n);
    if (!e)
        return -1;
    double score = e->v.d;
    unsigned long rank = 0;
    struct bndr_zsl_node *x = z->header;
    for (int i = z->level - 1; i >= 0; i--) {
        while (x->level[i].forward &&
               (x->level[i].forward->score < score ||
                (x->level[i].forward->score == score &&
                 ele_cmp(x->level[i].forward->ele, x->level[i].forward->elen, m, n) <= 0))) {
            rank += x->level[i].span;
            x = x->level[i].forward;
        }
        if (x != z->header && x->elen == n && memcmp(x->ele, m, n) == 0)
            break;
    }
    long r = (long)rank - 1;
    return reverse ? (long)z->length - 1 - r : r;
}

struct bndr_zsl_node *bndr_zsl_by_rank(struct bndr_zset *z, unsigned long rank1)
{
    unsigned long traversed = 0;
    struct bndr_zsl_node *x = z->header;
    for (int i = z->level - 1; i >= 0; i--) {
        while (x->level[i].forward && traversed + x->level[i].span <= rank1) {
            traversed += x->level[i].span;
            x = x->level[i].forward;
        }
        if (traversed == rank1)
            return x;
    }
    return NULL;
}

int bndr_zsl_value_gte_min(double v, const struct bndr_zrange_spec *r)
{
    return r->minex ? v > r->min : v >= r->min;
}

int bndr_zsl_value_lte_max(double v, const struct bndr_zrange_spec *r)
{
    return r->maxex ? v < r->max : v <= r->max;
}

struct bndr_zsl_node *bndr_zsl_first_in_range(struct bndr_zset *z, const struct bndr_zrange_spec *r)
{
    struct bndr_zsl_node *x = z->header;
    for (int i = z->level - 1; i >= 0; i--)
        while (x->level[i].forward && !bndr_zsl_value_gte_min(x->level[i].forward->score, r))
            x = x->level[i].forward;
    x = x->level[0].forward;
    if (!x || !bndr_zsl_value_lte_max(x->score, r))
        return NULL;
    return x;
}

struct bndr_zsl_node *bndr_zsl_last_in_range(struct bndr_zset *z, const struct bndr_zrange_spec *r)
{
    struct bndr_zsl_node *x = z->header;
    for (int i = z->level - 1; i >= 0; i--)
        while (x->level[i].forward && bndr_zsl_value_lte_max(x->level[i].forward->score, r))
            x = x->level[i].forward;
    if (x == z->header || !bndr_zsl_value_gte_min(x->score, r))
        return NULL;
    return x;
}

int bndr_lex_gte_min(const char *s, size_t n, const struct bndr_lex_spec *r)
{
    if (r->mininf < 0)
        return 1;
    if (r->mininf > 0)
        return 0;
    int c = ele_cmp(s, n, r->min, r->minlen);
    return r->minex ? c > 0 : c >= 0;
}

int bndr_lex_lte_max(const char *s, size_t n, const struct bndr_lex_spec *r)
{
    if (r->maxinf > 0)
        return 1;
    if (r->maxinf < 0)
        return 0;
    int c = ele_cmp(s, n, r->max, r->maxlen);
    return r->maxex ? c < 0 : c <= 0;
}

/* Redis' zslIsInLexRange / zzlIsInLexRange: the range is not empty, the last element is >= min
 * and the first <= max. With members of different scores (lex order not the zset's order) the
 * answers below are what Redis gives for a listpack-encoded zset (up to 128 members): a scan from
 * the head for the first member >= min, or from the tail for the last <= max; bigger zsets walk the
 * skiplist, whose answer for mixed scores depends on its levels in Redis too. */
static int lex_range_nonempty(struct bndr_zset *z, const struct bndr_lex_spec *r)
{
    int c;
    if (r->mininf && r->mininf == r->maxinf)
        c = 0;
    else if (r->mininf < 0 || r->maxinf > 0)
        c = -1;
    else if (r->mininf > 0 || r->maxinf < 0)
        c = 1;
    else
        c = ele_cmp(r->min, r->minlen, r->max, r->maxlen);
    if (c > 0 || (c == 0 && (r->minex || r->maxex)))
        return 0;
    struct bndr_zsl_node *first = z->header->level[0].forward, *last = z->tail;
    return first && bndr_lex_gte_min(last->ele, last->elen, r) && bndr_lex_lte_max(first->ele, first->elen, r);
}

#define LEX_SCAN_MAX 128 /* zset-max-listpack-entries' default: Redis' linear listpack walk */

struct bndr_zsl_node *bndr_zsl_first_in_lex(struct bndr_zset *z, const struct bndr_lex_spec *r)
{
    if (!lex_range_nonempty(z, r))
        return NULL;
    struct bndr_zsl_node *x = z->header;
    if (z->length <= LEX_SCAN_MAX) {
        for (x = x->level[0].forward; x && !bndr_lex_gte_min(x->ele, x->elen, r); x = x->level[0].forward)
            ;
    } else {
        for (int i = z->level - 1; i >= 0; i--)
            while (x->level[i].forward &&
                   !bndr_lex_gte_min(x->level[i].forward->ele, x->level[i].forward->elen, r))
                x = x->level[i].forward;
        x = x->level[0].forward;
    }
    if (!x || !bndr_lex_lte_max(x->ele, x->elen, r))
        return NULL;
    return x;
}

struct bndr_zsl_node *bndr_zsl_last_in_lex(struct bndr_zset *z, const struct bndr_lex_spec *r)
{
    if (!lex_range_nonempty(z, r))
        return NULL;
    struct bndr_zsl_node *x = z->header;
    if (z->length <= LEX_SCAN_MAX) {
        for (x = z->tail; x && !bndr_lex_lte_max(x->ele, x->elen, r); x = x->backward)
            ;
        if (!x)
            return NULL;
    } else {
        for (int i = z->level - 1; i >= 0; i--)
            while (x->level[i].forward &&
                   bndr_lex_lte_max(x->level[i].forward->ele, x->level[i].forward->elen, r))
                x = x->level[i].forward;
    }
    if (x == z->header || !bndr_lex_gte_min(x->ele, x->elen, r))
        return NULL;
    return x;
}
