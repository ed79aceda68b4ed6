/* bb_metrics.c — see bb_metrics.h.
 *
 * Layout: registry -> array of families (registration order) -> array of series pointers
 * (registration order). Each series is its own heap object, so the pointers handed out stay valid
 * while the arrays grow. The registry mutex guards the structure (families, series arrays, names,
 * labels); values are atomics and are touched without it.
 */
#include "bb_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"

enum mtype { M_COUNTER, M_GAUGE, M_HISTOGRAM };

static const char *const type_names[] = {"counter", "gauge", "histogram"};

static const double default_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,    0.25,  0.5,    1,     2.5,  5,     10};

/* A double kept as its bit pattern so it can live in a lock-free atomic. */
typedef _Atomic uint64_t atomic_double_bits;

struct bb_counter {
    atomic_double_bits value;
    char *labels; /* owned, "" for none */
};

struct bb_gauge {
    atomic_double_bits value;
    char *labels;
};

struct bb_histogram {
    _Atomic uint64_t *counts; /* owned, nbounds + 1 non-cumulative counts, last is +Inf */
    atomic_double_bits sum;
    const double *bounds; /* borrowed from the family */
    size_t nbounds;
    char *labels;
};

struct family {
    char *name;
    char *help;
    enum mtype type;
    double *bounds; /* histograms only, owned */
    size_t nbounds;
    void **series; /* struct bb_counter / bb_gauge / bb_histogram, by type */
    size_t nseries, cap;
};

struct bb_metrics {
    pthread_mutex_t lock;
    struct family **fams;
    size_t nfams, cap;
    size_t total_series;
};

/* ---- atomic doubles ---------------------------------------------------------------------- */

static uint64_t d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void atomic_add_double(atomic_double_bits *p, double v)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(p, &old, d2u(u2d(old) + v), memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

static double atomic_load_double(atomic_double_bits *p)
{
    return u2d(atomic_load_explicit(p, memory_order_relaxed));
}

/* ---- validation -------------------------------------------------------------------------- */

static int is_alpha_(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int valid_name(const char *s)
{
    size_t n = s ? strnlen(s, BB_METRICS_MAX_NAME + 1) : 0;
    if (n == 0 || n > BB_METRICS_MAX_NAME) return 0;
    if (!is_alpha_(s[0]) && s[0] != ':') return 0;
    for (size_t i = 1; i < n; i++)
        if (!is_alpha_(s[i]) && !is_digit(s[i]) && s[i] != ':') return 0;
    return 1;
}

/* Validates a preformatted label set; forbid_le rejects a label named "le". */
static int valid_labels(const char *s, int forbid_le)
{
    size_t n = strnlen(s, BB_METRICS_MAX_LABELS + 1);
    if (n > BB_METRICS_MAX_LABELS) return 0;
    size_t i = 0;
    while (i < n) {
        size_t name_start = i;
        if (!is_alpha_(s[i])) return 0;
        while (i < n && (is_alpha_(s[i]) || is_digit(s[i])))
            i++;
        if (forbid_le && i - name_start == 2 && memcmp(s + name_start, "le", 2) == 0) return 0;
        if (i + 1 >= n || s[i] != '=' || s[i + 1] != '"') return 0;
        i += 2;
        for (;;) {
            if (i >= n) return 0; /* unterminated value */
            char c = s[i];
            if (c == '"') break;
            if (c == '\n') return 0;
            if (c == '\\') {
                if (i + 1 >= n || (s[i + 1] != '\\' && s[i + 1] != '"' && s[i + 1] != 'n'))
                    return 0;
                i++;
            }
            i++;
        }
        i++; /* closing quote */
        if (i == n) break;
        if (s[i] != ',' || i + 1 >= n) return 0; /* separator, and no trailing comma */
        i++;
    }
    return 1;
}

/* ---- registry ---------------------------------------------------------------------------- */

struct bb_metrics *bb_metrics_new(void)
{
    struct bb_metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

static void free_series(enum mtype type, void *s)
{
    if (!s) return;
    switch (type) {
    case M_COUNTER:
        free(((struct bb_counter *)s)->labels);
        break;
    case M_GAUGE:
        free(((struct bb_gauge *)s)->labels);
        break;
    case M_HISTOGRAM:
        free(((struct bb_histogram *)s)->labels);
        free(((struct bb_histogram *)s)->counts);
        break;
    }
    free(s);
}

static void free_family(struct family *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->nseries; i++)
        free_series(f->type, f->series[i]);
    free(f->series);
    free(f->bounds);
    free(f->name);
    free(f->help);
    free(f);
}

void bb_metrics_free(struct bb_metrics *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->nfams; i++)
        free_family(m->fams[i]);
    free(m->fams);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static const char *series_labels(enum mtype type, void *s)
{
    switch (type) {
    case M_COUNTER:
        return ((struct bb_counter *)s)->labels;
    case M_GAUGE:
        return ((struct bb_gauge *)s)->labels;
    case M_HISTOGRAM:
        return ((struct bb_histogram *)s)->labels;
    }
    return "";
}

/* Caller holds m->lock. Finds or creates the family; NULL on type/bucket mismatch or ENOMEM. */
static struct family *get_family(struct bb_metrics *m, const char *name, const char *help,
                                 enum mtype type, const double *bounds, size_t nbounds)
{
    struct family *f = NULL;
    struct family *result = NULL;

    for (size_t i = 0; i < m->nfams; i++) {
        if (strcmp(m->fams[i]->name, name) != 0) continue;
        f = m->fams[i];
        if (f->type != type) return NULL;
        if (type == M_HISTOGRAM &&
            (f->nbounds != nbounds ||
             (nbounds > 0 && memcmp(f->bounds, bounds, nbounds * sizeof *bounds) != 0)))
            return NULL;
        return f;
    }

    if (m->nfams == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 16;
        struct family **nf = realloc(m->fams, ncap * sizeof *nf);
        if (!nf) goto out;
        m->fams = nf;
        m->cap = ncap;
    }
    f = calloc(1, sizeof *f);
    if (!f) goto out;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (!f->name || !f->help) goto out;
    if (type == M_HISTOGRAM && nbounds > 0) {
        f->bounds = malloc(nbounds * sizeof *bounds);
        if (!f->bounds) goto out;
        memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
    }
    f->nbounds = nbounds;
    m->fams[m->nfams++] = f;
    result = f;
    f = NULL;
out:
    free_family(f);
    return result;
}

/* Caller holds m->lock. Creates a zeroed series of f's type. */
static void *new_series(struct family *f, const char *labels)
{
    void *s = NULL;
    char *l = strdup(labels);
    if (!l) return NULL;
    switch (f->type) {
    case M_COUNTER: {
        struct bb_counter *c = calloc(1, sizeof *c);
        if (!c) break;
        atomic_init(&c->value, d2u(0.0));
        c->labels = l;
        s = c;
        break;
    }
    case M_GAUGE: {
        struct bb_gauge *g = calloc(1, sizeof *g);
        if (!g) break;
        atomic_init(&g->value, d2u(0.0));
        g->labels = l;
        s = g;
        break;
    }
    case M_HISTOGRAM: {
        struct bb_histogram *h = calloc(1, sizeof *h);
        if (!h) break;
        h->counts = calloc(f->nbounds + 1, sizeof *h->counts);
        if (!h->counts) {
            free(h);
            break;
        }
        for (size_t i = 0; i <= f->nbounds; i++)
            atomic_init(&h->counts[i], 0);
        atomic_init(&h->sum, d2u(0.0));
        h->bounds = f->bounds;
        h->nbounds = f->nbounds;
        h->labels = l;
        s = h;
        break;
    }
    }
    if (!s) free(l);
    return s;
}

static void *get_series(struct bb_metrics *m, const char *name, const char *help,
                        const char *labels, enum mtype type, const double *bounds,
                        size_t nbounds)
{
    void *result = NULL;
    void *s = NULL;

    if (!m || !valid_name(name)) return NULL;
    if (help && strnlen(help, BB_METRICS_MAX_HELP + 1) > BB_METRICS_MAX_HELP) return NULL;
    if (!labels) labels = "";
    if (!valid_labels(labels, type == M_HISTOGRAM)) return NULL;

    pthread_mutex_lock(&m->lock);
    struct family *f = get_family(m, name, help, type, bounds, nbounds);
    if (!f) goto out;
    for (size_t i = 0; i < f->nseries; i++) {
        if (strcmp(series_labels(type, f->series[i]), labels) == 0) {
            result = f->series[i];
            goto out;
        }
    }
    if (m->total_series >= BB_METRICS_MAX_SERIES) goto out;
    if (f->nseries == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 4;
        void **ns = realloc(f->series, ncap * sizeof *ns);
        if (!ns) goto out;
        f->series = ns;
        f->cap = ncap;
    }
    s = new_series(f, labels);
    if (!s) goto out;
    f->series[f->nseries++] = s;
    m->total_series++;
    result = s;
    s = NULL;
out:
    /* A family created for a series that then failed stays, empty; it renders HELP/TYPE only. */
    pthread_mutex_unlock(&m->lock);
    return result;
}

struct bb_counter *bb_metrics_counter(struct bb_metrics *m, const char *name, const char *help,
                                      const char *labels)
{
    return get_series(m, name, help, labels, M_COUNTER, NULL, 0);
}

struct bb_gauge *bb_metrics_gauge(struct bb_metrics *m, const char *name, const char *help,
                                  const char *labels)
{
    return get_series(m, name, help, labels, M_GAUGE, NULL, 0);
}

struct bb_histogram *bb_metrics_histogram(struct bb_metrics *m, const char *name,
                                          const char *help, const char *labels,
                                          const double *buckets, size_t nbuckets)
{
    if (!buckets) {
        buckets = default_buckets;
        nbuckets = sizeof default_buckets / sizeof default_buckets[0];
    }
    if (nbuckets > 0 && isinf(buckets[nbuckets - 1]) && buckets[nbuckets - 1] > 0) nbuckets--;
    if (nbuckets > BB_METRICS_MAX_BUCKETS) return NULL;
    for (size_t i = 0; i < nbuckets; i++) {
        if (!isfinite(buckets[i])) return NULL;
        if (i > 0 && !(buckets[i] > buckets[i - 1])) return NULL;
    }
    return get_series(m, name, help, labels, M_HISTOGRAM, buckets, nbuckets);
}

/* ---- hot path ---------------------------------------------------------------------------- */

void bb_counter_add(struct bb_counter *c, double v)
{
    if (!c || !(v >= 0)) return; /* also rejects NaN */
    atomic_add_double(&c->value, v);
}

void bb_counter_inc(struct bb_counter *c)
{
    bb_counter_add(c, 1.0);
}

void bb_gauge_set(struct bb_gauge *g, double v)
{
    if (!g) return;
    atomic_store_explicit(&g->value, d2u(v), memory_order_relaxed);
}

void bb_gauge_add(struct bb_gauge *g, double v)
{
    if (!g) return;
    atomic_add_double(&g->value, v);
}

void bb_gauge_inc(struct bb_gauge *g)
{
    bb_gauge_add(g, 1.0);
}

void bb_gauge_dec(struct bb_gauge *g)
{
    bb_gauge_add(g, -1.0);
}

void bb_histogram_observe(struct bb_histogram *h, double v)
{
    if (!h || isnan(v)) return;
    size_t lo = 0, hi = h->nbounds; /* first index with v <= bounds[i], nbounds for +Inf */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= h->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&h->counts[lo], 1, memory_order_relaxed);
    atomic_add_double(&h->sum, v);
}

/* ---- rendering --------------------------------------------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
    int oom;
};

static void buf_reserve(struct buf *b, size_t extra)
{
    if (b->oom || b->len + extra + 1 <= b->cap) return;
    size_t ncap = b->cap ? b->cap : 1024;
    while (ncap < b->len + extra + 1) {
        if (ncap > SIZE_MAX / 2) {
            b->oom = 1;
            return;
        }
        ncap *= 2;
    }
    char *np = realloc(b->p, ncap);
    if (!np) {
        b->oom = 1;
        return;
    }
    b->p = np;
    b->cap = ncap;
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    if (b->oom) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* Formats v the way Prometheus parses it: NaN, +Inf, -Inf, else shortest exact of %.15g/%.17g. */
static void fmt_value(char out[40], double v)
{
    if (isnan(v)) {
        snprintf(out, 40, "NaN");
    } else if (isinf(v)) {
        snprintf(out, 40, "%s", v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(out, 40, "%.15g", v);
        if (strtod(out, NULL) != v) snprintf(out, 40, "%.17g", v);
    }
}

static void buf_value(struct buf *b, double v)
{
    char tmp[40];
    fmt_value(tmp, v);
    buf_str(b, tmp);
}

static void buf_u64(struct buf *b, uint64_t v)
{
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    buf_str(b, tmp);
}

/* "<name><suffix>{labels[,extra]} " — braces omitted when there are no labels at all. */
static void buf_series(struct buf *b, const char *name, const char *suffix, const char *labels,
                       const char *extra)
{
    buf_str(b, name);
    buf_str(b, suffix);
    int has = labels[0] != '\0', hasx = extra && extra[0] != '\0';
    if (has || hasx) {
        buf_str(b, "{");
        buf_str(b, labels);
        if (has && hasx) buf_str(b, ",");
        if (hasx) buf_str(b, extra);
        buf_str(b, "}");
    }
    buf_str(b, " ");
}

static void buf_help(struct buf *b, const char *name, const char *help)
{
    buf_str(b, "# HELP ");
    buf_str(b, name);
    buf_str(b, " ");
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            buf_str(b, "\\\\");
        else if (*p == '\n')
            buf_str(b, "\\n");
        else
            buf_add(b, p, 1);
    }
    buf_str(b, "\n");
}

static void render_histogram(struct buf *b, const char *name, struct bb_histogram *h)
{
    uint64_t cum = 0;
    char le[56];
    for (size_t i = 0; i <= h->nbounds; i++) {
        cum += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (i < h->nbounds) {
            char v[40];
            fmt_value(v, h->bounds[i]);
            snprintf(le, sizeof le, "le=\"%s\"", v);
        } else {
            snprintf(le, sizeof le, "le=\"+Inf\"");
        }
        buf_series(b, name, "_bucket", h->labels, le);
        buf_u64(b, cum);
        buf_str(b, "\n");
    }
    buf_series(b, name, "_sum", h->labels, NULL);
    buf_value(b, atomic_load_double(&h->sum));
    buf_str(b, "\n");
    buf_series(b, name, "_count", h->labels, NULL);
    buf_u64(b, cum);
    buf_str(b, "\n");
}

int bb_metrics_render(struct bb_metrics *m, char **out, size_t *len)
{
    int rc = 0;
    struct buf b = {0};

    if (len) *len = 0;
    if (!out) return BB_EINVAL;
    *out = NULL;
    if (!m) return BB_EINVAL;

    buf_reserve(&b, 0); /* so an empty registry renders "" rather than NULL */
    if (b.p) b.p[0] = '\0';
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nfams && !b.oom; i++) {
        struct family *f = m->fams[i];
        buf_help(&b, f->name, f->help);
        buf_str(&b, "# TYPE ");
        buf_str(&b, f->name);
        buf_str(&b, " ");
        buf_str(&b, type_names[f->type]);
        buf_str(&b, "\n");
        for (size_t j = 0; j < f->nseries; j++) {
            switch (f->type) {
            case M_COUNTER: {
                struct bb_counter *c = f->series[j];
                buf_series(&b, f->name, "", c->labels, NULL);
                buf_value(&b, atomic_load_double(&c->value));
                buf_str(&b, "\n");
                break;
            }
            case M_GAUGE: {
                struct bb_gauge *g = f->series[j];
                buf_series(&b, f->name, "", g->labels, NULL);
                buf_value(&b, atomic_load_double(&g->value));
                buf_str(&b, "\n");
                break;
            }
            case M_HISTOGRAM:
                render_histogram(&b, f->name, f->series[j]);
                break;
            }
        }
    }
    pthread_mutex_unlock(&m->lock);

    if (b.oom) {
        rc = BB_ENOMEM;
        goto out;
    }
    *out = b.p;
    if (len) *len = b.len;
    b.p = NULL;
out:
    free(b.p);
    return rc;
}

void bb_metrics_escape_label(char *buf, size_t cap, const char *value)
{
    size_t o = 0;
    if (!buf || cap == 0) return;
    if (!value) value = "";
    for (const unsigned char *p = (const unsigned char *)value; *p;) {
        char esc[2];
        size_t n = 1;
        if (*p == '\\' || *p == '"' || *p == '\n') {
            esc[0] = '\\';
            esc[1] = *p == '\n' ? 'n' : (char)*p;
            if (o + 2 >= cap) break;
            buf[o++] = esc[0];
            buf[o++] = esc[1];
            p++;
            continue;
        }
        /* Copy a whole UTF-8 sequence or nothing. */
        if (*p >= 0xC0) {
            while (p[n] >= 0x80 && p[n] < 0xC0 && n < 4)
                n++;
        }
        if (o + n >= cap) break;
        memcpy(buf + o, p, n);
        o += n;
        p += n;
    }
    buf[o] = '\0';
}
