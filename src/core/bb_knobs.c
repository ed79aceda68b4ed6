/* bb_knobs.c — knob tables: defaults, environment, validation, JSON (see bb_knobs.h). */
#include "bb_knobs.h"
#include "bb_err.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 if v is one of the '|'-separated words of choices */
static int is_choice(const char *choices, const char *v)
{
    size_t vl = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == vl && !strncmp(p, v, l)) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

/* "a|b|c" -> "a, b or c" */
static void choices_text(const char *choices, char *out, size_t cap)
{
    size_t o = 0, nbar = 0;
    for (const char *p = choices; *p; p++) nbar += *p == '|';
    out[0] = '\0';
    for (const char *p = choices; *p && o + 5 < cap; p++) {
        if (*p != '|') {
            out[o++] = *p;
            continue;
        }
        const char *sep = --nbar ? ", " : " or ";
        size_t sl = strlen(sep);
        if (o + sl + 1 >= cap) break;
        memcpy(out + o, sep, sl);
        o += sl;
    }
    out[o] = '\0';
}

size_t bb_knobs_count(const struct bb_knob *k)
{
    size_t n = 0;
    while (k && k[n].env) n++;
    return n;
}

int bb_knob_set(const struct bb_knob *k, void *cfg, const char *v, const char *src, char *err,
                size_t errcap)
{
    char *dst = (char *)cfg + k->offset;
    if (k->type == BB_KNOB_STR || k->type == BB_KNOB_SECRET || k->type == BB_KNOB_PATH) {
        size_t n = strlen(v);
        if (n >= k->size) {
            snprintf(err, errcap, "%s: value too long (max %zu bytes)", src, k->size - 1);
            return BB_EINVAL;
        }
        if (k->choices && !is_choice(k->choices, v)) {
            char txt[256];
            choices_text(k->choices, txt, sizeof txt);
            snprintf(err, errcap, "%s must be %s (got \"%.40s\")", src, txt, v);
            return BB_EINVAL;
        }
        memcpy(dst, v, n + 1);
        return 0;
    }
    uint64_t val;
    if (k->type == BB_KNOB_BOOL) {
        if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on"))
            val = 1;
        else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off"))
            val = 0;
        else {
            snprintf(err, errcap, "%s must be 0 or 1 (got \"%.40s\")", src, v);
            return BB_EINVAL;
        }
        if (k->size == sizeof(int)) {
            int iv = (int)val;
            memcpy(dst, &iv, sizeof iv);
            return 0;
        }
    } else {
        char *end = NULL;
        errno = 0;
        unsigned long long x = isdigit((unsigned char)v[0]) ? strtoull(v, &end, 10) : 0;
        int parsed = isdigit((unsigned char)v[0]) && !errno && end && !*end;
        if (!parsed || x < k->min || x > k->max) {
            snprintf(err, errcap, "%s must be an integer in [%llu, %llu] (got \"%.40s\"%s)", src,
                     (unsigned long long)k->min, (unsigned long long)k->max, v,
                     parsed ? ", out of range" : "");
            return BB_EINVAL;
        }
        val = x;
    }
    if (k->size != sizeof val) return BB_EINVAL; /* a table bug: caught by the defaults */
    memcpy(dst, &val, sizeof val);
    return 0;
}

int bb_knobs_defaults(const struct bb_knob *k, size_t n, void *cfg, char *err, size_t errcap)
{
    for (size_t i = 0; i < n; i++) {
        int rc = bb_knob_set(&k[i], cfg, k[i].dflt, k[i].env, err, errcap);
        if (rc) {
            if (!err[0]) snprintf(err, errcap, "%s: bad table row", k[i].env);
            return rc;
        }
    }
    return 0;
}

int bb_knobs_load(const struct bb_knob *k, size_t n, void *cfg, char *err, size_t errcap)
{
    if (errcap) err[0] = '\0';
    int rc = bb_knobs_defaults(k, n, cfg, err, errcap);
    for (size_t i = 0; i < n && !rc; i++) {
        const char *v = getenv(k[i].env);
        if (!v) continue;
        if (!v[0] && (k[i].type == BB_KNOB_U64 || k[i].type == BB_KNOB_BOOL || k[i].choices))
            continue;
        rc = bb_knob_set(&k[i], cfg, v, k[i].env, err, errcap);
    }
    return rc;
}

int bb_knobs_to_json(const struct bb_knob *k, size_t n, const void *cfg, json_t *o)
{
    for (size_t i = 0; i < n; i++) {
        const char *p = (const char *)cfg + k[i].offset;
        json_t *v;
        uint64_t u = 0;
        switch (k[i].type) {
        case BB_KNOB_STR:
        case BB_KNOB_PATH: v = json_string(p); break;
        case BB_KNOB_SECRET: v = json_string(p[0] ? "<set>" : ""); break;
        case BB_KNOB_BOOL:
            if (k[i].size == sizeof(int)) {
                int iv;
                memcpy(&iv, p, sizeof iv);
                u = (uint64_t)iv;
            } else {
                memcpy(&u, p, sizeof u);
            }
            v = json_boolean(u != 0);
            break;
        default:
            memcpy(&u, p, sizeof u);
            v = json_integer((json_int_t)u);
        }
        if (!v || json_object_set_new(o, k[i].env, v) != 0) return BB_ENOMEM;
    }
    return 0;
}

int bb_knobs_check(const struct bb_knob *k, size_t n, size_t cfg_size, json_t *o, char *err,
                   size_t errcap)
{
    void *scratch = calloc(1, cfg_size ? cfg_size : 1);
    if (!scratch) return BB_ENOMEM;
    int rc = bb_knobs_load(k, n, scratch, err, errcap);
    if (rc == 0 && o) rc = bb_knobs_to_json(k, n, scratch, o);
    free(scratch);
    return rc;
}
