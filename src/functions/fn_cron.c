/* fn_cron.c — cron expressions and time zones for the functions' schedules (no I/O but reading a
 * zone file; no global state: every call is thread-safe).
 *
 * Expressions: the standard five fields "minute hour day-of-month month day-of-week"
 *   minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 0-7 or SUN-SAT
 *   (0 and 7 are Sunday); each field a comma list of "*", "N", "N-M", each with an optional "/S"
 *   step ("N/S" is N to the field's maximum); names case-insensitive; and the macros @yearly
 *   (@annually), @monthly, @weekly, @daily (@midnight), @hourly. As in Vixie cron, when both day
 *   fields are restricted (neither starts with "*") a day matches either; otherwise both.
 *
 * Time zones: why not localtime_r. localtime_r converts with the process's zone (TZ, read by
 * tzset into libc's globals); a zone per schedule would mean setenv("TZ") + tzset around each
 * conversion, which races with every other thread of bunbased that formats a time or reads the
 * environment (setenv/getenv are not thread-safe against each other). So the zone files of the
 * TZ database (/usr/share/zoneinfo, Debian's tzdata, RFC 8536 "TZif") are read here, once per
 * zone, into an immutable struct fn_tz: the UTC offset at an instant is a binary search in its
 * transitions, and past the last one the file's footer rule (a POSIX TZ string such as
 * "CET-1CEST,M3.5.0,M10.5.0/3") is evaluated. Local fields are then gmtime_r(t + offset), which
 * touches no global state.
 */
#include "fn_cron.h"
#include "bb_err.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ------------------------------------------------------------------ expressions */

struct field_def {
    int min, max;
    const char *const *names; /* index = value - names_base */
    int names_base, nnames;
};
static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                     "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
static const struct field_def defs[5] = {
    {0, 59, NULL, 0, 0},    {0, 23, NULL, 0, 0}, {1, 31, NULL, 0, 0},
    {1, 12, months, 1, 12}, {0, 7, days, 0, 7},
};
static const char *const field_names[5] = {"minute", "hour", "day of month", "month",
                                           "day of week"};

/* A number or a name at *p: 0 with *v, or -1. */
static int value_at(const char **p, const struct field_def *d, int *v)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        int x = 0, n = 0;
        while (isdigit((unsigned char)*s) && n < 3)
            x = x * 10 + (*s++ - '0'), n++;
        if (isdigit((unsigned char)*s)) return -1;
        *v = x;
    } else {
        int k = -1;
        for (int i = 0; d->names && i < d->nnames; i++)
            if (!strncasecmp(s, d->names[i], 3) && !isalpha((unsigned char)s[3])) k = i;
        if (k < 0) return -1;
        *v = k + d->names_base;
        s += 3;
    }
    *p = s;
    return 0;
}

static int parse_field(const char *s, size_t n, int fi, uint64_t *bits, int *star, char *err,
                       size_t errcap)
{
    const struct field_def *d = &defs[fi];
    char buf[128];
    if (n == 0 || n >= sizeof buf) goto bad;
    memcpy(buf, s, n);
    buf[n] = '\0';
    *star = buf[0] == '*';
    *bits = 0;
    for (char *item = buf; item;) {
        char *comma = strchr(item, ',');
        if (comma) *comma = '\0';
        const char *p = item;
        int lo, hi, step = 1;
        if (*p == '*') {
            lo = d->min, hi = d->max, p++;
        } else {
            if (value_at(&p, d, &lo)) goto bad;
            hi = lo;
            if (*p == '-') {
                p++;
                if (value_at(&p, d, &hi)) goto bad;
            } else if (*p == '/')
                hi = d->max; /* "N/S": N to the maximum */
        }
        if (*p == '/') {
            p++;
            if (!isdigit((unsigned char)*p)) goto bad;
            step = 0;
            while (isdigit((unsigned char)*p) && step < 1000)
                step = step * 10 + (*p++ - '0');
            if (step < 1 || step > d->max) goto bad;
        }
        if (*p || lo < d->min || hi > d->max || lo > hi) goto bad;
        for (int v = lo; v <= hi; v += step)
            *bits |= 1ull << (fi == 4 && v == 7 ? 0 : v);
        item = comma ? comma + 1 : NULL;
    }
    return 0;
bad:
    snprintf(err, errcap, "invalid %s field \"%.*s\" (%d-%d, *, lists, ranges, /steps%s)",
             field_names[fi], (int)(n > 40 ? 40 : n), s, d->min, d->max, d->names ? ", names" : "");
    return BB_EINVAL;
}

int fn_cron_parse(const char *expr, struct fn_cron *out, char *err, size_t errcap)
{
    static const struct {
        const char *name, *expr;
    } macros[] = {{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
                  {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
                  {"@hourly", "0 * * * *"}};
    memset(out, 0, sizeof *out);
    if (!expr || strlen(expr) > FN_CRON_MAX) {
        snprintf(err, errcap, "a schedule is at most %d characters", FN_CRON_MAX);
        return BB_EINVAL;
    }
    while (*expr == ' ' || *expr == '\t')
        expr++;
    if (*expr == '@') {
        for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
            if (!strcasecmp(expr, macros[i].name))
                return fn_cron_parse(macros[i].expr, out, err, errcap);
        snprintf(err, errcap,
                 "unknown schedule macro %.20s (@yearly, @monthly, @weekly, @daily, "
                 "@hourly)",
                 expr);
        return BB_EINVAL;
    }
    const char *p = expr;
    uint64_t bits[5];
    int stars[5];
    for (int fi = 0; fi < 5; fi++) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, " \t");
        if (n == 0) {
            snprintf(err, errcap,
                     "a schedule has five fields: minute hour day-of-month month "
                     "day-of-week");
            return BB_EINVAL;
        }
        int rc = parse_field(p, n, fi, &bits[fi], &stars[fi], err, errcap);
        if (rc) return rc;
        p += n;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p) {
        snprintf(err, errcap,
                 "a schedule has five fields: minute hour day-of-month month "
                 "day-of-week");
        return BB_EINVAL;
    }
    out->minute = bits[0];
    out->hour = (uint32_t)bits[1];
    out->dom = (uint32_t)bits[2];
    out->month = (uint16_t)bits[3];
    out->dow = (uint8_t)bits[4];
    out->dom_star = stars[2];
    out->dow_star = stars[4];
    return 0;
}

int fn_cron_match(const struct fn_cron *c, const struct tm *t)
{
    if (!(c->minute >> t->tm_min & 1) || !(c->hour >> t->tm_hour & 1) ||
        !(c->month >> (t->tm_mon + 1) & 1))
        return 0;
    int dom = c->dom >> t->tm_mday & 1, dow = c->dow >> t->tm_wday & 1;
    return c->dom_star || c->dow_star ? dom && dow : dom || dow;
}

/* ------------------------------------------------------------------ time zones */

struct fn_tz_rule { /* one end of daylight saving time in a POSIX TZ string */
    char kind;      /* 'J' (1-365, no Feb 29), 'D' (0-365), 'M' (month.week.day) */
    int a, b, c;    /* J/D: day; M: month, week, weekday */
    int32_t secs;   /* local time of day of the change (may be negative or past 24 h) */
};

struct fn_tz {
    char name[FN_TZ_NAME_MAX + 1];
    size_t n;     /* transitions */
    int64_t *at;  /* transition instants, ascending */
    int32_t *off; /* the UTC offset from each transition on */
    int32_t off0; /* before the first transition */
    int has_rule; /* a footer rule for instants after the last transition */
    int32_t std_off, dst_off;
    int has_dst;
    struct fn_tz_rule start, end;
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* Days since 1970-01-01 of y-m-d (proleptic Gregorian; Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}
static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* POSIX TZ offset "[+-]hh[:mm[:ss]]" at *p (seconds, as written: west positive). */
static int parse_hms(const char **p, int32_t *out, int max_h)
{
    const char *s = *p;
    int sign = 1;
    if (*s == '+' || *s == '-') sign = *s++ == '-' ? -1 : 1;
    int32_t v[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (i && *s != ':') break;
        if (i) s++;
        if (!isdigit((unsigned char)*s)) return -1;
        int x = 0, n = 0;
        while (isdigit((unsigned char)*s) && n < 3)
            x = x * 10 + (*s++ - '0'), n++;
        v[i] = x;
    }
    if (v[0] > max_h || v[1] > 59 || v[2] > 59) return -1;
    *out = sign * (v[0] * 3600 + v[1] * 60 + v[2]);
    *p = s;
    return 0;
}

static int parse_abbr(const char **p)
{
    const char *s = *p;
    if (*s == '<') {
        const char *e = strchr(s, '>');
        if (!e || e - s < 2) return -1;
        *p = e + 1;
        return 0;
    }
    int n = 0;
    while (isalpha((unsigned char)s[n]))
        n++;
    if (n < 3) return -1;
    *p = s + n;
    return 0;
}

static int parse_rule(const char **p, struct fn_tz_rule *r)
{
    const char *s = *p;
    memset(r, 0, sizeof *r);
    r->secs = 7200;
    if (*s == 'M') {
        r->kind = 'M';
        if (sscanf(s + 1, "%d.%d.%d", &r->a, &r->b, &r->c) != 3 || r->a < 1 || r->a > 12 ||
            r->b < 1 || r->b > 5 || r->c < 0 || r->c > 6)
            return -1;
        s++;
        while (isdigit((unsigned char)*s) || *s == '.')
            s++;
    } else {
        r->kind = *s == 'J' ? 'J' : 'D';
        if (*s == 'J') s++;
        if (!isdigit((unsigned char)*s)) return -1;
        r->a = (int)strtol(s, (char **)&s, 10);
        if (r->a > 365 || (r->kind == 'J' && r->a < 1)) return -1;
    }
    if (*s == '/') {
        s++;
        if (parse_hms(&s, &r->secs, 167)) return -1;
    }
    *p = s;
    return 0;
}

/* The footer rule "STD off [DST [off] [,start[/t],end[/t]]]": 0, or -1 (then ignored). */
static int parse_posix(struct fn_tz *z, const char *s)
{
    int32_t o;
    if (parse_abbr(&s) || parse_hms(&s, &o, 24)) return -1;
    z->std_off = -o;
    z->has_dst = 0;
    if (*s) {
        if (parse_abbr(&s)) return -1;
        z->has_dst = 1;
        z->dst_off = z->std_off + 3600;
        if (*s && *s != ',') {
            if (parse_hms(&s, &o, 24)) return -1;
            z->dst_off = -o;
        }
        if (*s != ',') return -1; /* no rule given: not supported (never in tzdata footers) */
        s++;
        if (parse_rule(&s, &z->start) || *s++ != ',' || parse_rule(&s, &z->end)) return -1;
    }
    if (*s) return -1;
    z->has_rule = 1;
    return 0;
}

/* The instant (UTC seconds) of rule r in year y, when local time is UTC + off. */
static int64_t rule_at(const struct fn_tz_rule *r, int64_t y, int32_t off)
{
    int64_t day;
    if (r->kind == 'J')
        day = days_from_civil(y, 1, 1) + r->a - 1 + (is_leap(y) && r->a >= 60);
    else if (r->kind == 'D')
        day = days_from_civil(y, 1, 1) + r->a;
    else {
        static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int64_t first = days_from_civil(y, r->a, 1);
        int wd = (int)(((first % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
        int d = 1 + (r->c - wd + 7) % 7 + (r->b - 1) * 7;
        int md = mdays[r->a - 1] + (r->a == 2 && is_leap(y));
        while (d > md)
            d -= 7;
        day = first + d - 1;
    }
    return day * 86400 + r->secs - off;
}

static int32_t rule_offset(const struct fn_tz *z, int64_t t)
{
    if (!z->has_dst) return z->std_off;
    struct tm tm;
    time_t lt = (time_t)(t + z->std_off);
    if (!gmtime_r(&lt, &tm)) return z->std_off;
    int64_t y = (int64_t)tm.tm_year + 1900;
    int64_t s = rule_at(&z->start, y, z->std_off), e = rule_at(&z->end, y, z->dst_off);
    int dst = s < e ? t >= s && t < e : !(t >= e && t < s);
    return dst ? z->dst_off : z->std_off;
}

int32_t fn_tz_offset(const struct fn_tz *z, int64_t t)
{
    if (!z) return 0;
    if (z->n == 0 || t < z->at[0]) return z->n == 0 && z->has_rule ? rule_offset(z, t) : z->off0;
    size_t lo = 0, hi = z->n; /* the last transition <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->at[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    if (lo == z->n - 1 && z->has_rule) return rule_offset(z, t);
    return z->off[lo];
}

int fn_tz_local(const struct fn_tz *z, int64_t t, struct tm *out)
{
    time_t lt = (time_t)(t + fn_tz_offset(z, t));
    return gmtime_r(&lt, out) ? 0 : BB_EINVAL;
}

int fn_tz_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > FN_TZ_NAME_MAX || name[0] == '/' || name[n - 1] == '/') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!(isalnum((unsigned char)c) || c == '_' || c == '-' || c == '+' || c == '/')) return 0;
        if (c == '/' && name[i + 1] == '/') return 0;
    }
    return !strstr(name, "..");
}

void fn_tz_free(struct fn_tz *z)
{
    if (!z) return;
    free(z->at);
    free(z->off);
    free(z);
}

const char *fn_tz_name(const struct fn_tz *z)
{
    return z ? z->name : "UTC";
}

/* Parses a TZif file (v2+: the 64-bit block and the footer; v1: the 32-bit block). */
static int parse_tzif(struct fn_tz *z, const uint8_t *b, size_t len)
{
    if (len < 44 || memcmp(b, "TZif", 4)) return -1;
    int ver = b[4];
    const uint8_t *h = b;
    size_t tsz = 4;
    for (int pass = 0; pass < 2; pass++) {
        if ((size_t)(h - b) + 44 > len) return -1;
        uint32_t isut = be32(h + 20), isstd = be32(h + 24), leap = be32(h + 28),
                 timecnt = be32(h + 32), typecnt = be32(h + 36), charcnt = be32(h + 40);
        if (timecnt > 100000 || typecnt == 0 || typecnt > 256 || charcnt > 65536 || leap > 100000 ||
            isut > 256 || isstd > 256)
            return -1;
        size_t body =
            timecnt * tsz + timecnt + typecnt * 6 + charcnt + leap * (tsz + 4) + isstd + isut;
        const uint8_t *d = h + 44;
        if ((size_t)(d - b) + body > len) return -1;
        if (pass == 0 && ver >= '2') { /* skip the 32-bit block */
            h = d + body;
            tsz = 8;
            continue;
        }
        const uint8_t *idx = d + timecnt * tsz, *types = idx + timecnt;
        z->n = timecnt;
        z->at = calloc(timecnt ? timecnt : 1, sizeof *z->at);
        z->off = calloc(timecnt ? timecnt : 1, sizeof *z->off);
        if (!z->at || !z->off) return -1;
        for (uint32_t i = 0; i < timecnt; i++) {
            z->at[i] = tsz == 8 ? be64(d + i * 8) : (int32_t)be32(d + i * 4);
            if (idx[i] >= typecnt || (i && z->at[i] <= z->at[i - 1])) return -1;
            z->off[i] = (int32_t)be32(types + idx[i] * 6);
        }
        z->off0 = (int32_t)be32(types); /* RFC 8536: type 0 before the first transition */
        const uint8_t *foot = d + body;
        if (tsz == 8 && foot < b + len && *foot == '\n') {
            const uint8_t *e = memchr(foot + 1, '\n', (size_t)(b + len - foot - 1));
            if (e && e - foot - 1 < 128) {
                char tz[128];
                memcpy(tz, foot + 1, (size_t)(e - foot - 1));
                tz[e - foot - 1] = '\0';
                if (tz[0]) parse_posix(z, tz); /* unparsable: the last transition's offset */
            }
        }
        return 0;
    }
    return -1;
}

int fn_tz_load(const char *dir, const char *name, struct fn_tz **out, char *err, size_t errcap)
{
    *out = NULL;
    if (!name || !*name || !strcmp(name, "UTC") || !strcmp(name, "Etc/UTC")) return 0;
    if (!fn_tz_name_valid(name)) {
        snprintf(err, errcap, "invalid time zone name (a TZ database name such as Europe/Paris)");
        return BB_EINVAL;
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t cap = 1 << 20, len = 0; /* zone files are a few KiB; links are followed (tzdata) */
    uint8_t *buf = malloc(cap);
    if (!buf) return BB_ENOMEM;
    FILE *fp = fopen(path, "rb");
    int rc = fp ? 0 : BB_ENOTFOUND;
    if (fp) {
        len = fread(buf, 1, cap, fp);
        if (ferror(fp) || len == cap) rc = BB_EINVAL;
        fclose(fp);
    }
    struct fn_tz *z = rc == 0 ? calloc(1, sizeof *z) : NULL;
    if (rc == 0 && !z) rc = BB_ENOMEM;
    if (rc) {
        free(buf);
        if (rc != BB_ENOMEM) snprintf(err, errcap, "unknown time zone %s", name);
        return rc == BB_ENOMEM ? rc : BB_EINVAL;
    }
    snprintf(z->name, sizeof z->name, "%s", name);
    if (parse_tzif(z, buf, len) != 0) {
        free(buf);
        fn_tz_free(z);
        snprintf(err, errcap, "unknown time zone %s (not a TZif file)", name);
        return BB_EINVAL;
    }
    free(buf);
    *out = z;
    return 0;
}
