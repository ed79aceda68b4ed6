/* fn_cron.h — cron expressions and TZ-database time zones for the functions' schedules
 * (fn_cron.c: the syntax, and why zones are read here instead of with localtime_r). Pure, no
 * global state: any thread. */
#ifndef FN_CRON_H
#define FN_CRON_H

#include <stdint.h>
#include <stddef.h>
#include <time.h>

#define FN_CRON_MAX 256   /* characters of one expression */
#define FN_TZ_NAME_MAX 64 /* characters of a zone name */

struct fn_cron {
    uint64_t minute; /* bit v: minute v matches */
    uint32_t hour, dom;
    uint16_t month; /* bits 1..12 */
    uint8_t dow;    /* bits 0..6, Sunday 0 */
    int dom_star, dow_star;
};

/* 0, or BB_EINVAL with err saying which field is wrong. */
int fn_cron_parse(const char *expr, struct fn_cron *out, char *err, size_t errcap);
/* 1 when the local broken-down time t (tm_min, tm_hour, tm_mday, tm_mon, tm_wday) matches. */
int fn_cron_match(const struct fn_cron *c, const struct tm *t);

struct fn_tz;
/* Loads zone name from dir (/usr/share/zoneinfo): 0 with *out (NULL for "UTC", "Etc/UTC" and ""
 * — every function below takes NULL as UTC), or BB_EINVAL (invalid name, unknown zone, not a TZif
 * file: err says which), BB_ENOMEM. Free with fn_tz_free. */
int fn_tz_load(const char *dir, const char *name, struct fn_tz **out, char *err, size_t errcap);
void fn_tz_free(struct fn_tz *z);
const char *fn_tz_name(const struct fn_tz *z);
/* 1 for a TZ-database-shaped name: [A-Za-z0-9_+-/], no "..", no leading or doubled '/'. */
int fn_tz_name_valid(const char *name);
/* The UTC offset (seconds east) in zone z at the UTC instant t (seconds). */
int32_t fn_tz_offset(const struct fn_tz *z, int64_t t);
/* The local broken-down time of t in z (gmtime_r of t + offset: tm_gmtoff/tm_zone not set). */
int fn_tz_local(const struct fn_tz *z, int64_t t, struct tm *out);

#endif
