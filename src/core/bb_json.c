/* bb_json.c — see bb_json.h. */
#include "bb_json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"

static void set_err(char *errbuf, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *errbuf, size_t errcap, const char *fmt, ...)
{
    if (!errbuf || errcap == 0) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(errbuf, errcap, fmt, ap);
    va_end(ap);
    if (n < 0) errbuf[0] = '\0';
}

/* Linear pre-scan: returns 0 if no bracket nests deeper than max_depth, else BB_ETOOBIG and the
 * byte offset of the first bracket over the limit in *at. Brackets inside strings (including
 * escaped quotes) are not counted. Malformed input is left for jansson to diagnose; for it this
 * count is only an upper bound of what jansson would try to recurse into. */
static size_t g_max_values;

void bb_json_set_max_values(size_t max)
{
    g_max_values = max;
}

static int depth_scan(const char *buf, size_t len, size_t max_depth, size_t *at, size_t *values)
{
    size_t depth = 0;
    size_t nval = 1;
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (in_string) {
            if (c == '\\')
                i++; /* skip the escaped byte, whatever it is */
            else if (c == '"')
                in_string = 0;
            continue;
        }
        switch (c) {
        case '"':
            in_string = 1;
            break;
        case ',':
            nval++;
            break;
        case '[':
        case '{':
            nval++;
            if (++depth > max_depth) {
                *at = i;
                return BB_ETOOBIG;
            }
            break;
        case ']':
        case '}':
            if (depth > 0) depth--;
            break;
        default:
            break;
        }
    }
    *values = nval;
    return 0;
}

int bb_json_parse(const char *buf, size_t len, size_t max_depth, json_t **out, char *errbuf,
                  size_t errcap)
{
    int rc = 0;
    json_t *doc = NULL;

    if (errbuf && errcap > 0) errbuf[0] = '\0';
    if (!out) return BB_EINVAL;
    *out = NULL;
    if (!buf && len > 0) {
        set_err(errbuf, errcap, "no input buffer");
        rc = BB_EINVAL;
        goto out;
    }
    if (len == 0) {
        set_err(errbuf, errcap, "line 1, column 0: empty document");
        rc = BB_EINVAL;
        goto out;
    }
    if (max_depth > BB_JSON_DEPTH_CEILING) max_depth = BB_JSON_DEPTH_CEILING;

    size_t at = 0, values = 0;
    if (depth_scan(buf, len, max_depth, &at, &values) != 0) {
        set_err(errbuf, errcap, "nesting deeper than %zu levels at byte offset %zu", max_depth,
                at);
        rc = BB_ETOOBIG;
        goto out;
    }
    if (g_max_values && values > g_max_values) {
        set_err(errbuf, errcap, "too many JSON values: about %zu, at most %zu", values,
                g_max_values);
        rc = BB_ETOOBIG;
        goto out;
    }

    json_error_t jerr;
    doc = json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        enum json_error_code code = json_error_code(&jerr);
        if (code == json_error_out_of_memory) {
            set_err(errbuf, errcap, "out of memory while parsing JSON");
            rc = BB_ENOMEM;
        } else if (code == json_error_stack_overflow) {
            /* Not reachable after the pre-scan, but keep the mapping honest. */
            set_err(errbuf, errcap, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
            rc = BB_ETOOBIG;
        } else {
            set_err(errbuf, errcap, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
            rc = BB_EINVAL;
        }
        goto out;
    }

    *out = doc;
    doc = NULL;
out:
    json_decref(doc);
    return rc;
}

char *bb_json_dumps(const json_t *j, size_t *len_out)
{
    if (len_out) *len_out = 0;
    if (!j) return NULL;
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) return NULL;
    if (len_out) *len_out = strlen(s);
    return s;
}

/* json_string() that never fails on bad UTF-8: bytes >= 0x80 are replaced by '?' if the string
 * is not valid UTF-8. Returns a new reference or NULL on ENOMEM. */
static json_t *string_lossy(const char *s)
{
    json_t *j = json_string(s);
    if (j) return j;
    size_t n = strlen(s);
    char *copy = malloc(n + 1);
    if (!copy) return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        copy[i] = c >= 0x80 ? '?' : (char)c;
    }
    copy[n] = '\0';
    j = json_string(copy);
    free(copy);
    return j;
}

json_t *bb_json_error(const char *message, const char *code)
{
    json_t *obj = NULL;
    json_t *result = NULL;

    obj = json_object();
    if (!obj) goto out;
    if (json_object_set_new(obj, "error", string_lossy(message ? message : "unknown error")) != 0)
        goto out;
    if (json_object_set_new(obj, "code", string_lossy(code ? code : "unknown")) != 0) goto out;
    result = obj;
    obj = NULL;
out:
    json_decref(obj);
    return result;
}

json_t *bb_json_error_from(int err, const char *message_or_null)
{
    return bb_json_error(message_or_null ? message_or_null : bb_strerror(err), bb_err_code(err));
}

static json_t *member(const json_t *obj, const char *key)
{
    if (!obj || !key || !json_is_object(obj)) return NULL;
    return json_object_get(obj, key);
}

const char *bb_json_str(const json_t *obj, const char *key, const char *dflt)
{
    json_t *v = member(obj, key);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

int64_t bb_json_int(const json_t *obj, const char *key, int64_t dflt)
{
    json_t *v = member(obj, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

int bb_json_bool(const json_t *obj, const char *key, int dflt)
{
    json_t *v = member(obj, key);
    if (json_is_true(v)) return 1;
    if (json_is_false(v)) return 0;
    return dflt;
}

/* Parses seg[0..n) as a non-negative decimal index; 0 if it is one (stored in *idx). */
static int parse_index(const char *seg, size_t n, size_t *idx)
{
    size_t v = 0;
    if (n == 0 || n > 18) return -1; /* 18 digits cannot overflow size_t */
    for (size_t i = 0; i < n; i++) {
        if (seg[i] < '0' || seg[i] > '9') return -1;
        v = v * 10 + (size_t)(seg[i] - '0');
    }
    *idx = v;
    return 0;
}

int bb_json_get_path(const json_t *root, const char *dot_path, json_t **out_borrowed)
{
    int rc = 0;
    json_t *cur = (json_t *)root; /* jansson getters take non-const; we never modify */

    if (!out_borrowed) return BB_EINVAL;
    *out_borrowed = NULL;
    if (!root || !dot_path || dot_path[0] == '\0') return BB_EINVAL;

    /* Validate the whole path first so a malformed path is BB_EINVAL regardless of the data. */
    for (const char *p = dot_path;; p++) {
        if (*p == '.' || *p == '\0') {
            if (p == dot_path || p[-1] == '.') return BB_EINVAL;
            if (*p == '\0') break;
        }
    }

    const char *seg = dot_path;
    while (*seg) {
        const char *end = strchr(seg, '.');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        size_t idx;
        if (json_is_object(cur)) {
            cur = json_object_getn(cur, seg, n);
        } else if (json_is_array(cur) && parse_index(seg, n, &idx) == 0) {
            cur = json_array_get(cur, idx);
        } else {
            cur = NULL;
        }
        if (!cur) {
            rc = BB_ENOTFOUND;
            goto out;
        }
        seg = end ? end + 1 : seg + n;
    }
    *out_borrowed = cur;
out:
    return rc;
}

/* ---------------------------------------------------------------- validation without a tree */

struct jv {
    const unsigned char *p, *end;
    size_t depth, max;
    int too_deep;
};

static void jv_ws(struct jv *v)
{
    while (v->p < v->end && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
        v->p++;
}

static int jv_hex4(struct jv *v, unsigned *out)
{
    if (v->end - v->p < 4) return -1;
    unsigned x = 0;
    for (int i = 0; i < 4; i++) {
        int c = v->p[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        x = x * 16 + (unsigned)d;
    }
    v->p += 4;
    *out = x;
    return 0;
}

/* One UTF-8 sequence starting at v->p (a byte >= 0x80): shortest form, no surrogates, <= U+10FFFF. */
static int jv_utf8(struct jv *v)
{
    unsigned c = *v->p, cp, n;
    if (c >= 0xC2 && c <= 0xDF) n = 1, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) n = 2, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) n = 3, cp = c & 0x07;
    else return -1;
    if ((size_t)(v->end - v->p) <= n) return -1;
    for (unsigned i = 1; i <= n; i++) {
        if ((v->p[i] & 0xC0) != 0x80) return -1;
        cp = (cp << 6) | (v->p[i] & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    v->p += n + 1;
    return 0;
}

static int jv_string(struct jv *v)
{
    v->p++; /* opening quote */
    while (v->p < v->end) {
        unsigned c = *v->p;
        if (c == '"') {
            v->p++;
            return 0;
        }
        if (c < 0x20) return -1;
        if (c >= 0x80) {
            if (jv_utf8(v)) return -1;
            continue;
        }
        v->p++;
        if (c != '\\') continue;
        if (v->p >= v->end) return -1;
        c = *v->p++;
        if (c == 'u') {
            unsigned u, lo;
            if (jv_hex4(v, &u) || u == 0) return -1;
            if (u >= 0xDC00 && u <= 0xDFFF) return -1; /* lone low surrogate */
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (v->end - v->p < 2 || v->p[0] != '\\' || v->p[1] != 'u') return -1;
                v->p += 2;
                if (jv_hex4(v, &lo) || lo < 0xDC00 || lo > 0xDFFF) return -1;
            }
        } else if (!strchr("\"\\/bfnrt", (int)c) || c == 0) {
            return -1;
        }
    }
    return -1;
}

static int jv_number(struct jv *v)
{
    const unsigned char *s = v->p;
    int real = 0;
    if (v->p < v->end && *v->p == '-') v->p++;
    if (v->p >= v->end) return -1;
    if (*v->p == '0') {
        v->p++;
    } else if (*v->p >= '1' && *v->p <= '9') {
        while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
            v->p++;
    } else {
        return -1;
    }
    if (v->p < v->end && *v->p == '.') {
        real = 1;
        v->p++;
        if (v->p >= v->end || *v->p < '0' || *v->p > '9') return -1;
        while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
            v->p++;
    }
    if (v->p < v->end && (*v->p == 'e' || *v->p == 'E')) {
        real = 1;
        v->p++;
        if (v->p < v->end && (*v->p == '+' || *v->p == '-')) v->p++;
        if (v->p >= v->end || *v->p < '0' || *v->p > '9') return -1;
        while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
            v->p++;
    }
    /* jansson refuses integers outside json_int_t and reals that overflow: so do we */
    size_t n = (size_t)(v->p - s);
    char tmp[64];
    char *num = n < sizeof tmp ? tmp : malloc(n + 1);
    if (!num) return -1;
    memcpy(num, s, n);
    num[n] = '\0';
    errno = 0;
    int bad;
    if (real) {
        double d = strtod(num, NULL);
        bad = errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL); /* underflow is fine */
    } else {
        (void)strtoll(num, NULL, 10);
        bad = errno == ERANGE;
    }
    if (num != tmp) free(num);
    return bad ? -1 : 0;
}

static int jv_value(struct jv *v);

static int jv_container(struct jv *v, int close)
{
    if (++v->depth > v->max) {
        v->too_deep = 1;
        return -1;
    }
    v->p++;
    jv_ws(v);
    if (v->p < v->end && *v->p == close) {
        v->p++;
        v->depth--;
        return 0;
    }
    for (;;) {
        if (close == '}') {
            if (v->p >= v->end || *v->p != '"' || jv_string(v)) return -1;
            jv_ws(v);
            if (v->p >= v->end || *v->p != ':') return -1;
            v->p++;
            jv_ws(v);
        }
        if (jv_value(v)) return -1;
        jv_ws(v);
        if (v->p >= v->end) return -1;
        if (*v->p == close) {
            v->p++;
            v->depth--;
            return 0;
        }
        if (*v->p != ',') return -1;
        v->p++;
        jv_ws(v);
    }
}

static int jv_literal(struct jv *v, const char *lit, size_t n)
{
    if ((size_t)(v->end - v->p) < n || memcmp(v->p, lit, n) != 0) return -1;
    v->p += n;
    return 0;
}

static int jv_value(struct jv *v)
{
    if (v->p >= v->end) return -1;
    switch (*v->p) {
    case '{': return jv_container(v, '}');
    case '[': return jv_container(v, ']');
    case '"': return jv_string(v);
    case 't': return jv_literal(v, "true", 4);
    case 'f': return jv_literal(v, "false", 5);
    case 'n': return jv_literal(v, "null", 4);
    default: return jv_number(v);
    }
}

int bb_json_validate(const char *buf, size_t len, size_t max_depth)
{
    if (max_depth > BB_JSON_DEPTH_CEILING) max_depth = BB_JSON_DEPTH_CEILING;
    struct jv v = {(const unsigned char *)buf, (const unsigned char *)buf + len, 0, max_depth, 0};
    jv_ws(&v);
    if (jv_value(&v) != 0) return v.too_deep ? BB_ETOOBIG : BB_EINVAL;
    jv_ws(&v);
    return v.p == v.end ? 0 : BB_EINVAL;
}
