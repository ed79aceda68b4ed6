/* bb_metrics.h — a thread-safe Prometheus metrics registry (counters, gauges, histograms) and its
 * text exposition (format 0.0.4, what GET /metrics serves).
 *
 * A registry holds metric families (one name, one help text, one type); a family holds series
 * (one per label set). bb_metrics_counter()/_gauge()/_histogram() are get-or-create: the same
 * name + labels always returns the same pointer, owned by the registry and valid until
 * bb_metrics_free(). Registration takes the registry mutex and scans linearly, so hot code should
 * look a series up once and keep the pointer. Updating a series (bb_counter_add, bb_gauge_set,
 * bb_histogram_observe, ...) takes no lock at all: values live in C11 atomics (doubles stored as
 * their bit pattern and updated with compare-and-swap), so updates from any number of threads are
 * exact and never contend on a shared lock.
 *
 * Labels are passed preformatted, exactly as they appear between the braces, e.g.
 *   route="/health",method="GET"
 * with values escaped by bb_metrics_escape_label(). NULL or "" means no labels. The set is
 * validated (name="value" pairs separated by ',', names [a-zA-Z_][a-zA-Z0-9_]*, only \\ \" \n
 * escapes in values); a malformed set is refused (NULL), so rendering can never emit a broken
 * line. Label order is part of the identity: a="1",b="2" and b="2",a="1" are different series.
 *
 * Limits: metric names [a-zA-Z_:][a-zA-Z0-9_:]* up to BB_METRICS_MAX_NAME bytes, help texts up to
 * BB_METRICS_MAX_HELP bytes, label sets up to BB_METRICS_MAX_LABELS bytes, at most
 * BB_METRICS_MAX_SERIES series per registry (guards against label cardinality explosions),
 * histograms up to BB_METRICS_MAX_BUCKETS buckets. Every getter returns NULL when a limit or rule
 * is violated or memory runs out, and every update function accepts NULL as a no-op, so a refused
 * metric never crashes its caller.
 */
#ifndef BB_METRICS_H
#define BB_METRICS_H

#include <stddef.h>

#define BB_METRICS_MAX_NAME 200
#define BB_METRICS_MAX_HELP 1024
#define BB_METRICS_MAX_LABELS 1024
#define BB_METRICS_MAX_SERIES 10000
#define BB_METRICS_MAX_BUCKETS 64

struct bb_metrics;
struct bb_counter;
struct bb_gauge;
struct bb_histogram;

/* New empty registry (caller frees with bb_metrics_free()); NULL on ENOMEM. */
struct bb_metrics *bb_metrics_new(void);
/* Frees the registry and every series it handed out (all those pointers become invalid; no
 * other thread may still be updating them). NULL is a no-op. */
void bb_metrics_free(struct bb_metrics *m);

/* Get-or-create a counter series. name, help and labels are borrowed (copied on creation). help of
 * the first registration of a family wins. Returns a pointer owned by m, or NULL if a rule above
 * is violated, the name is already registered with another type, or on ENOMEM. */
struct bb_counter *bb_metrics_counter(struct bb_metrics *m, const char *name, const char *help,
                                      const char *labels);
/* Adds v; counters only go up, so v < 0 and NaN are ignored. */
void bb_counter_add(struct bb_counter *c, double v);
void bb_counter_inc(struct bb_counter *c);

/* Get-or-create a gauge series; same rules as bb_metrics_counter(). */
struct bb_gauge *bb_metrics_gauge(struct bb_metrics *m, const char *name, const char *help,
                                  const char *labels);
void bb_gauge_set(struct bb_gauge *g, double v);
void bb_gauge_add(struct bb_gauge *g, double v); /* v may be negative */
void bb_gauge_inc(struct bb_gauge *g);
void bb_gauge_dec(struct bb_gauge *g);

/* Get-or-create a histogram series. buckets[0..nbuckets) are the upper bounds ("le"), finite and
 * strictly increasing (a final +Inf is allowed and ignored: the +Inf bucket is always there);
 * buckets is borrowed. NULL buckets selects the default latency buckets in seconds: 0.0005 0.001
 * 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10. The first registration of a family fixes
 * its buckets; a later call with different buckets returns NULL. The label name "le" is reserved.
 * Same other rules as bb_metrics_counter(). */
struct bb_histogram *bb_metrics_histogram(struct bb_metrics *m, const char *name,
                                          const char *help, const char *labels,
                                          const double *buckets, size_t nbuckets);
/* Records one observation (counted in the first bucket with v <= le). NaN is ignored. */
void bb_histogram_observe(struct bb_histogram *h, double v);

/* Renders every family in registration order (series in registration order within a family) in
 * the Prometheus text format 0.0.4:
 *   # HELP <name> <help, with \\ and \n escaped>
 *   # TYPE <name> counter|gauge|histogram
 *   <name>{<labels>} <value>
 *   <name>_bucket{<labels>,le="<bound>"} <cumulative count>   ... le="+Inf"
 *   <name>_sum{<labels>} <sum>
 *   <name>_count{<labels>} <count>
 * Values use the shortest of %.15g / %.17g that reads back exactly, and NaN, +Inf, -Inf.
 * On success stores a NUL-terminated malloc'ed string in *out (caller free()s it; "" for an empty
 * registry) and its length in *len (may be NULL), and returns 0. BB_EINVAL for NULL m/out,
 * BB_ENOMEM on allocation failure (*out is then NULL). Series can be updated concurrently; each
 * value is read atomically, a histogram's _count is the sum of its buckets (so they always agree)
 * and _sum may be off by observations made during rendering. */
int bb_metrics_render(struct bb_metrics *m, char **out, size_t *len);

/* Escapes a label value for use inside the double quotes of a label set: backslash, double quote
 * and newline become \\, \" and \n. Writes to buf (cap bytes, always NUL-terminated if cap > 0),
 * truncating if needed without cutting an escape sequence or a UTF-8 sequence in half. NULL value
 * is treated as "". */
void bb_metrics_escape_label(char *buf, size_t cap, const char *value);

#endif
