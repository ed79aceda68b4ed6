/* qjs_worker.c — bunbase-qjs-worker: runs one function bundle on QuickJS, one invocation at a time.
 *
 *   bunbase-qjs-worker --bundle FILE --fd N [--memory-limit BYTES] [--max-frame BYTES]
 *                      [--stack-limit BYTES]
 *       Loads FILE (an ES module whose default export is a handler), answers READY or LOAD_ERROR
 *       on fd N, then serves INVOKE frames on fd N until EOF (exit 0). Frames: fn_proto.h,
 *       docs/internals/functions.md.
 *   bunbase-qjs-worker --check FILE [--memory-limit BYTES] [--timeout-ms MS]
 *       Loads FILE the same way and exits 0 (prints "ok"), or prints the error (e.g. the
 *       SyntaxError with its line) on stdout and exits 1. The service runs it at deploy.
 *
 * Runtime: the Web globals of runtime.js (embedded at build time) over the native helpers of
 * this file (__bb.*: log, random, encodeUtf8, decodeUtf8, digest, now, env, settle). The bundle
 * may not import anything (one file); the standard library modules (std, os) are not linked: no
 * files, no processes, no sockets from JavaScript.
 *
 * Limits: JS_SetMemoryLimit (the heap), JS_SetMaxStackSize, and the interrupt handler, which
 * stops the running code (an uncatchable "interrupted") once the invocation's deadline has
 * passed; the service also kills the process when no answer came by then (it cannot trust a
 * worker that is past its deadline). Timers (setTimeout) run between jobs until the handler's
 * promise settles or the deadline passes.
 *
 * The process is single-threaded; stdout/stderr go to the service's log of the worker (or
 * /dev/null); console output travels as LOG frames.
 */
#include "fn_proto.h"
#include "quickjs.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/socket.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef BB_HAVE_SECCOMP
#include <seccomp.h>
#endif

extern char **environ;
extern const char bb_qjs_runtime_js[];
extern const unsigned long bb_qjs_runtime_js_len;

static int g_fd = -1;
static size_t g_max_frame = 8u << 20;
static uint64_t g_deadline_ns; /* 0: none */
static int g_interrupted;
static struct fn_buf g_out; /* reused for every frame we send */

/* settle(): what the handler's promise gave */
static int g_settled;      /* 0 pending, 1 ok, 2 exception, 3 bad response */
static JSValue g_result;   /* array or error (owned) */
static int g_fetches;      /* fetches sent, not yet answered */
static char *g_bundle_src; /* the bundle's text */
static char g_root[2048];  /* the bundle's directory: relative imports resolve inside it */
static size_t g_bundle_len;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int send_frame(void)
{
    if (fn_buf_finish(&g_out) != 0) return -1;
    if (g_fd < 0) return 0;
    return fn_write_all(g_fd, g_out.p, g_out.len);
}

static void send_text(uint8_t type, int kind, const char *msg)
{
    fn_buf_begin(&g_out, type);
    if (kind >= 0) fn_buf_u8(&g_out, (uint8_t)kind);
    size_t n = strlen(msg);
    if (n > g_max_frame / 2) n = g_max_frame / 2;
    fn_buf_str(&g_out, msg, n);
    if (send_frame() != 0) _exit(3);
}

/* The heap: QuickJS's allocator functions again (JS_NewRuntime2), with the memory limit checked
 * here. The first allocation over the limit fails (QuickJS throws "out of memory") and sets
 * g_oom; from then on a reserve (OOM_RESERVE) above the limit is allowed, so that building the
 * error object and its backtrace does not itself fail half-way — QuickJS 2021-03-27 then left a
 * freed error object behind and crashed on it (SIGSEGV in build_backtrace) — and the interrupt
 * handler stops the code at its next check (uncatchable): the invocation ends as out of memory
 * even if user code caught the error. */
#define OOM_RESERVE (4u << 20)
#define QJS_MALLOC_OVERHEAD 8 /* what QuickJS's own allocator counts per block */
static int g_oom;

static int over_limit(const JSMallocState *s, size_t more)
{
    if (!s->malloc_limit || s->malloc_limit == (size_t)-1) return 0;
    size_t lim = s->malloc_limit + (g_oom ? OOM_RESERVE : 0);
    if (s->malloc_size + more <= lim) return 0;
    g_oom = 1;
    return 1;
}

static void *heap_malloc(JSMallocState *s, size_t size)
{
    if (over_limit(s, size + QJS_MALLOC_OVERHEAD)) return NULL;
    void *p = malloc(size);
    if (!p) return NULL;
    s->malloc_count++;
    s->malloc_size += malloc_usable_size(p) + QJS_MALLOC_OVERHEAD;
    return p;
}

static void heap_free(JSMallocState *s, void *p)
{
    if (!p) return;
    s->malloc_count--;
    s->malloc_size -= malloc_usable_size(p) + QJS_MALLOC_OVERHEAD;
    free(p);
}

static void *heap_realloc(JSMallocState *s, void *p, size_t size)
{
    if (!p) return size ? heap_malloc(s, size) : NULL;
    if (!size) {
        heap_free(s, p);
        return NULL;
    }
    size_t old = malloc_usable_size(p);
    if (size > old && over_limit(s, size - old)) return NULL;
    void *q = realloc(p, size);
    if (!q) return NULL;
    s->malloc_size += malloc_usable_size(q);
    s->malloc_size -= old;
    return q;
}

static size_t heap_usable(const void *p)
{
    return malloc_usable_size((void *)p);
}

static const JSMallocFunctions heap_functions = {heap_malloc, heap_free, heap_realloc,
                                                 heap_usable};

static int interrupt_cb(JSRuntime *rt, void *opaque)
{
    if (g_oom) return 1; /* stop: out of memory (the caller looks at g_oom first) */
    if (g_deadline_ns && mono_ns() >= g_deadline_ns) {
        g_interrupted = 1;
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ native helpers */

static JSValue n_log(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int32_t level = 1;
    JS_ToInt32(ctx, &level, argv[0]);
    size_t n;
    const char *s = JS_ToCStringLen(ctx, &n, argv[1]);
    if (!s) return JS_EXCEPTION;
    if (n > g_max_frame / 2) n = g_max_frame / 2;
    fn_buf_begin(&g_out, FN_FRAME_LOG);
    fn_buf_u8(&g_out, (uint8_t)(level < 0 ? 0 : level > 3 ? 3 : level));
    fn_buf_str(&g_out, s, n);
    JS_FreeCString(ctx, s);
    if (g_fd < 0) return JS_UNDEFINED; /* --check: top-level console output is dropped */
    if (send_frame() != 0) _exit(3);
    return JS_UNDEFINED;
}

static JSValue n_random(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    uint32_t n = 0;
    if (JS_ToUint32(ctx, &n, argv[0]) || n > 65536) return JS_ThrowRangeError(ctx, "random: n");
    uint8_t buf[65536];
    size_t off = 0;
    while (off < n) {
        ssize_t r = getrandom(buf + off, n - off, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return JS_ThrowInternalError(ctx, "random: %s", strerror(errno));
        }
        off += (size_t)r;
    }
    return JS_NewArrayBufferCopy(ctx, buf, n);
}

static JSValue n_encode_utf8(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    size_t n;
    const char *s = JS_ToCStringLen(ctx, &n, argv[0]);
    if (!s) return JS_EXCEPTION;
    JSValue ab = JS_NewArrayBufferCopy(ctx, (const uint8_t *)s, n);
    JS_FreeCString(ctx, s);
    return ab;
}

/* The bytes of a Uint8Array (or ArrayBuffer) argument, borrowed. */
static int bytes_of(JSContext *ctx, JSValueConst v, const uint8_t **p, size_t *n)
{
    size_t off = 0, len = 0, bpe = 0;
    JSValue buf = JS_GetTypedArrayBuffer(ctx, v, &off, &len, &bpe);
    if (!JS_IsException(buf)) {
        size_t blen;
        uint8_t *b = JS_GetArrayBuffer(ctx, &blen, buf);
        JS_FreeValue(ctx, buf);
        if (!b && len) return -1;
        *p = b ? b + off : (const uint8_t *)"";
        *n = len;
        return 0;
    }
    JS_FreeValue(ctx, JS_GetException(ctx));
    uint8_t *b = JS_GetArrayBuffer(ctx, n, v);
    if (!b) return -1;
    *p = b;
    return 0;
}

/* 1 when s[0..n) is valid UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static int utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0)
            k = 1, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0)
            k = 2, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0)
            k = 3, cp = c & 0x07;
        else
            return 0;
        if (n - i <= k) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* Decodes UTF-8 with U+FFFD for every invalid sequence (the WHATWG decoder's replacement mode,
 * per maximal subpart approximated per byte). */
static JSValue n_decode_utf8(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const uint8_t *p;
    size_t n;
    if (bytes_of(ctx, argv[0], &p, &n)) return JS_ThrowTypeError(ctx, "decode: not a buffer");
    if (utf8_valid(p, n)) return JS_NewStringLen(ctx, (const char *)p, n);
    if (JS_ToBool(ctx, argv[1]))
        return JS_ThrowTypeError(ctx, "The encoded data was not valid UTF-8");
    /* replacement: copy valid sequences, replace each invalid byte with EF BF BD */
    if (n > SIZE_MAX / 3) return JS_ThrowRangeError(ctx, "decode: too large");
    uint8_t *out = malloc(n * 3 + 1);
    if (!out) return JS_ThrowOutOfMemory(ctx);
    size_t o = 0, i = 0;
    while (i < n) {
        size_t k = 0;
        uint8_t c = p[i];
        if (c < 0x80)
            k = 0;
        else if ((c & 0xe0) == 0xc0)
            k = 1;
        else if ((c & 0xf0) == 0xe0)
            k = 2;
        else if ((c & 0xf8) == 0xf0)
            k = 3;
        else
            k = 99;
        if (k != 99 && i + k < n && utf8_valid(p + i, k + 1)) {
            memcpy(out + o, p + i, k + 1);
            o += k + 1;
            i += k + 1;
        } else {
            out[o++] = 0xef, out[o++] = 0xbf, out[o++] = 0xbd;
            i++;
        }
    }
    JSValue s = JS_NewStringLen(ctx, (const char *)out, o);
    free(out);
    return s;
}

static JSValue n_digest(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const char *alg = JS_ToCString(ctx, argv[0]);
    if (!alg) return JS_EXCEPTION;
    const EVP_MD *md = !strcmp(alg, "SHA-256")   ? EVP_sha256()
                       : !strcmp(alg, "SHA-384") ? EVP_sha384()
                       : !strcmp(alg, "SHA-512") ? EVP_sha512()
                       : !strcmp(alg, "SHA-1")   ? EVP_sha1()
                                                 : NULL;
    JS_FreeCString(ctx, alg);
    if (!md)
        return JS_ThrowTypeError(
            ctx, "digest: unsupported algorithm (SHA-1, SHA-256, SHA-384, SHA-512)");
    const uint8_t *p;
    size_t n;
    if (bytes_of(ctx, argv[1], &p, &n)) return JS_ThrowTypeError(ctx, "digest: not a buffer");
    uint8_t out[EVP_MAX_MD_SIZE];
    unsigned olen = 0;
    if (!EVP_Digest(p, n, out, &olen, md, NULL)) return JS_ThrowInternalError(ctx, "digest failed");
    return JS_NewArrayBufferCopy(ctx, out, olen);
}

static JSValue n_now(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    return JS_NewFloat64(ctx, (double)(mono_ns() / 1000000ull));
}

static JSValue n_env(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    JSValue o = JS_NewObject(ctx);
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq) continue;
        char name[256];
        size_t nl = (size_t)(eq - *e);
        if (nl == 0 || nl >= sizeof name) continue;
        memcpy(name, *e, nl);
        name[nl] = '\0';
        JS_SetPropertyStr(ctx, o, name, JS_NewString(ctx, eq + 1));
    }
    return o;
}

static JSValue n_settle(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int32_t how = 0;
    JS_ToInt32(ctx, &how, argv[0]);
    if (g_settled) return JS_UNDEFINED;
    g_settled = how == 1 ? 1 : how == 2 ? 3 : 2;
    g_result = JS_DupValue(ctx, argv[1]);
    return JS_UNDEFINED;
}

/* fetch(id, method, url, [name, value, …], ArrayBuffer): sends a FETCH frame; the answer comes
 * back as FETCH_RESULT while the invocation waits (see invoke). */
static JSValue n_fetch(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    uint32_t id = 0, nh = 0;
    JS_ToUint32(ctx, &id, argv[0]);
    size_t mn, un;
    const char *m = JS_ToCStringLen(ctx, &mn, argv[1]);
    const char *u = JS_ToCStringLen(ctx, &un, argv[2]);
    JSValue lenv = JS_GetPropertyStr(ctx, argv[3], "length");
    JS_ToUint32(ctx, &nh, lenv);
    JS_FreeValue(ctx, lenv);
    const uint8_t *b = (const uint8_t *)"";
    size_t bn = 0;
    if (!m || !u || bytes_of(ctx, argv[4], &b, &bn)) {
        JS_FreeCString(ctx, m);
        JS_FreeCString(ctx, u);
        return JS_ThrowTypeError(ctx, "fetch: bad arguments");
    }
    fn_buf_begin(&g_out, FN_FRAME_FETCH);
    fn_buf_u32(&g_out, id);
    fn_buf_str(&g_out, m, mn);
    fn_buf_str(&g_out, u, un);
    fn_buf_u32(&g_out, nh / 2);
    for (uint32_t i = 0; i + 1 < nh; i += 2) {
        JSValue k = JS_GetPropertyUint32(ctx, argv[3], i),
                v = JS_GetPropertyUint32(ctx, argv[3], i + 1);
        size_t kn, vn;
        const char *ks = JS_ToCStringLen(ctx, &kn, k), *vs = JS_ToCStringLen(ctx, &vn, v);
        fn_buf_str(&g_out, ks ? ks : "", ks ? kn : 0);
        fn_buf_str(&g_out, vs ? vs : "", vs ? vn : 0);
        JS_FreeCString(ctx, ks);
        JS_FreeCString(ctx, vs);
        JS_FreeValue(ctx, k);
        JS_FreeValue(ctx, v);
    }
    fn_buf_str(&g_out, b, bn);
    JS_FreeCString(ctx, m);
    JS_FreeCString(ctx, u);
    if (g_fd < 0) return JS_ThrowTypeError(ctx, "fetch is not available while loading");
    if (g_out.oom || g_out.len - 4 > g_max_frame)
        return JS_ThrowRangeError(ctx, "fetch: the request is over the frame limit");
    if (send_frame() != 0) _exit(3);
    g_fetches++;
    return JS_UNDEFINED;
}

static const JSCFunctionListEntry native_funcs[] = {
    JS_CFUNC_DEF("fetch", 5, n_fetch),
    JS_CFUNC_DEF("log", 2, n_log),
    JS_CFUNC_DEF("random", 1, n_random),
    JS_CFUNC_DEF("encodeUtf8", 1, n_encode_utf8),
    JS_CFUNC_DEF("decodeUtf8", 2, n_decode_utf8),
    JS_CFUNC_DEF("digest", 2, n_digest),
    JS_CFUNC_DEF("now", 0, n_now),
    JS_CFUNC_DEF("env", 0, n_env),
    JS_CFUNC_DEF("settle", 2, n_settle),
};

/* ------------------------------------------------------------------ errors as text */

/* "Name: message\n    at …" of an exception value, into a malloc'd string. */
static char *error_text(JSContext *ctx, JSValueConst e)
{
    const char *s = NULL;
    char *out = NULL;
    if (JS_IsError(ctx, e)) {
        JSValue stack = JS_GetPropertyStr(ctx, e, "stack");
        const char *msg = JS_ToCString(ctx, e);
        const char *st = JS_IsUndefined(stack) ? NULL : JS_ToCString(ctx, stack);
        size_t n = (msg ? strlen(msg) : 0) + (st ? strlen(st) : 0) + 2;
        out = malloc(n);
        if (out)
            snprintf(out, n, "%s%s%s", msg ? msg : "Error", st && *st ? "\n" : "", st ? st : "");
        if (out && n > 1 && out[strlen(out) - 1] == '\n') out[strlen(out) - 1] = '\0';
        JS_FreeCString(ctx, msg);
        JS_FreeCString(ctx, st);
        JS_FreeValue(ctx, stack);
        return out;
    }
    if (JS_IsNull(e)) return strdup("out of memory");
    s = JS_ToCString(ctx, e);
    if (!s) {
        JS_FreeValue(ctx, JS_GetException(ctx));
        return strdup("uncaught exception (not convertible to text)");
    }
    size_t n = strlen(s) + 32;
    out = malloc(n);
    if (out) snprintf(out, n, "Uncaught %s", s);
    JS_FreeCString(ctx, s);
    return out;
}

static int is_oom(const char *text)
{
    return text && (strstr(text, "out of memory") != NULL);
}

/* ------------------------------------------------------------------ loading */

static char *read_file(const char *path, size_t max, size_t *len, char *err, size_t errcap);

/* Imports: "./x.js" and "../x.js" relative to the importing module, resolved inside the bundle's
 * directory (g_root) to a name "./<path from the root>"; a path leaving the root resolves to
 * "\x01<original>" and fails to load; a bare name ("pkg", "pkg/sub.js") resolves to a file of the
 * bundle's node_modules/ (resolve_bare) or fails. Modules are read when the bundle loads, before
 * the seccomp filter (a later import() fails: no open(2)). */
static JSModuleDef *module_loader(JSContext *ctx, const char *name, void *opaque)
{
    (void)opaque;
    const char *src = g_bundle_src, *fname = "index.js";
    size_t len = g_bundle_len;
    char *owned = NULL;
    if (name[0] == '\x01') {
        JS_ThrowReferenceError(ctx, "import of \"%s\" leaves the bundle's directory", name + 1);
        return NULL;
    }
    if (strcmp(name, "__bundle__") != 0) {
        if (strncmp(name, "./", 2) != 0) { /* normalize_name gives only "./…" names */
            JS_ThrowReferenceError(ctx, "import of \"%s\" is not supported", name);
            return NULL;
        }
        char path[4096], err[256];
        snprintf(path, sizeof path, "%s/%s", g_root, name + 2);
        owned = read_file(path, 64u << 20, &len, err, sizeof err);
        if (!owned) {
            JS_ThrowReferenceError(ctx, "import of \"%s\": %s", name, err);
            return NULL;
        }
        src = owned, fname = name;
    }
    JSValue fn = JS_Eval(ctx, src, len, fname, JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY);
    free(owned);
    if (JS_IsException(fn)) return NULL;
    JSModuleDef *m = JS_VALUE_GET_PTR(fn);
    JS_FreeValue(ctx, fn);
    return m;
}

/* Appends rel ("x/y.js", "../z.js") to out, a name "./<dir>/" of n bytes (out[n] == '\0'), "."
 * and ".." segments applied; 0, or -1 when the result would leave the root or not fit in cap. */
static int join_rel(char *out, size_t n, size_t cap, const char *rel)
{
    const char *p = rel;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t cl = e ? (size_t)(e - p) : strlen(p);
        if (cl == 2 && p[0] == '.' && p[1] == '.') {
            if (n <= 2) return -1;
            n--; /* drop "dir/" */
            while (n > 2 && out[n - 1] != '/')
                n--;
            out[n] = '\0';
        } else if (cl && !(cl == 1 && p[0] == '.')) {
            if (n + cl + 2 >= cap) return -1;
            memcpy(out + n, p, cl);
            n += cl;
            if (e) out[n++] = '/';
            out[n] = '\0';
        }
        p = e ? e + 1 : p + cl;
    }
    return 0;
}

/* The importer's directory as a name: "./" or "./<dir>/" (base "index.js" is the entry, at the
 * root). Returns its length. */
static size_t importer_dir(const char *base, char *out, size_t cap)
{
    size_t n = 2;
    memcpy(out, "./", 3);
    if (!strncmp(base, "./", 2)) {
        const char *slash = strrchr(base, '/');
        size_t d = (size_t)(slash - base) + 1;
        if (d > 2 && d < cap) memcpy(out, base, d), n = d;
    }
    out[n] = '\0';
    return n;
}

static int bundle_stat(const char *name, mode_t type)
{
    char path[4200];
    struct stat st;
    if (snprintf(path, sizeof path, "%s/%s", g_root, name + 2) >= (int)sizeof path) return 0;
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == type;
}

/* name ("./node_modules/a/x") made a module file as Node finds one: itself, with ".js" or ".mjs",
 * or its "/index.js". 0 (name completed in place), or -1. */
static int find_module(char *name, size_t cap)
{
    static const char *const ext[] = {"", ".js", ".mjs", "/index.js"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        if (n + strlen(ext[i]) + 1 > cap) return -1;
        memcpy(name + n, ext[i], strlen(ext[i]) + 1);
        if (bundle_stat(name, S_IFREG)) return 0;
    }
    name[n] = '\0';
    return -1;
}

/* A bare import ("a", "a/sub.js", "@scope/a"): the package's directory node_modules/<pkg> in the
 * importer's directory or the nearest one above it inside the bundle (never above the root); then
 * the subpath, or package.json's "module", else its "main", else index.js — each completed as
 * find_module does, and never leaving the bundle. The name of the module ("./node_modules/…"), or
 * NULL with a ReferenceError thrown. Only before the seccomp filter (it stats and reads files). */
static char *resolve_bare(JSContext *ctx, const char *base, const char *name)
{
    const char *sub = strchr(name, '/');
    if (name[0] == '@' && sub) sub = strchr(sub + 1, '/');
    size_t pl = sub ? (size_t)(sub - name) : strlen(name);
    int ok = pl > 0 && pl < 256 && name[0] != '.' && !memchr(name, '\\', pl) &&
             !memchr(name, ':', pl) && (name[0] != '@' || memchr(name, '/', pl));
    for (const char *s = name; ok && s < name + pl; s++) /* no empty or dot segment */
        ok = !(*s == '/' && (s[1] == '/' || s[1] == '.'));
    if (!ok) {
        JS_ThrowReferenceError(ctx,
                               "import of \"%s\" is not supported: import the bundle's own files "
                               "(\"./lib.js\") or packages in its node_modules/, or bundle the "
                               "function into one file",
                               name);
        return NULL;
    }
    char dir[2048], out[2048];
    size_t dn = importer_dir(base, dir, sizeof dir);
    for (;;) { /* the importer's directory, then each one above it, up to the root */
        int n = snprintf(out, sizeof out, "%snode_modules/%.*s/", dir, (int)pl, name);
        if (n > 0 && (size_t)n < sizeof out && bundle_stat(out, S_IFDIR)) break;
        if (dn <= 2) {
            JS_ThrowReferenceError(ctx,
                                   "import of \"%s\": no package \"%.*s\" in the bundle's "
                                   "node_modules/ (add it to the tarball, or bundle the function "
                                   "into one file)",
                                   name, (int)pl, name);
            return NULL;
        }
        dn--; /* drop "dir/" */
        while (dn > 2 && dir[dn - 1] != '/')
            dn--;
        dir[dn] = '\0';
    }
    size_t on = strlen(out);
    const char *why = "is missing";
    char entry[1024] = "";
    if (sub && sub[1])
        snprintf(entry, sizeof entry, "%s", sub + 1);
    else { /* package.json: "module", else "main" */
        char pj[4200], err[256];
        size_t len = 0;
        snprintf(pj, sizeof pj, "%s/%spackage.json", g_root, out + 2);
        char *text =
            bundle_stat(out, S_IFDIR) ? read_file(pj, 1u << 20, &len, err, sizeof err) : NULL;
        if (text) {
            JSValue j = JS_ParseJSON(ctx, text, len, "package.json");
            free(text);
            if (JS_IsException(j)) {
                JS_FreeValue(ctx, JS_GetException(ctx));
                JS_ThrowReferenceError(ctx, "import of \"%s\": %spackage.json is not valid JSON",
                                       name, out + 2);
                return NULL;
            }
            static const char *const fields[] = {"module", "main"};
            for (size_t i = 0; i < 2 && !entry[0]; i++) {
                JSValue v = JS_GetPropertyStr(ctx, j, fields[i]);
                const char *s = JS_IsString(v) ? JS_ToCString(ctx, v) : NULL;
                if (s) snprintf(entry, sizeof entry, "%s", s), JS_FreeCString(ctx, s);
                JS_FreeValue(ctx, v);
            }
            JS_FreeValue(ctx, j);
        }
        if (!entry[0]) snprintf(entry, sizeof entry, "index.js");
    }
    if (entry[0] == '/' || join_rel(out, on, sizeof out, entry) != 0)
        why = "leaves the bundle's directory";
    else if (find_module(out, sizeof out) == 0)
        return js_strdup(ctx, out);
    JS_ThrowReferenceError(ctx, "import of \"%s\": \"%s\" in node_modules/%.*s %s", name, entry,
                           (int)pl, name, why);
    return NULL;
}

static char *normalize_name(JSContext *ctx, const char *base, const char *name, void *opaque)
{
    (void)opaque;
    if (!strcmp(name, "__bundle__")) return js_strdup(ctx, name);
    if (strncmp(name, "./", 2) != 0 && strncmp(name, "../", 3) != 0) {
        if (name[0] == '/') {
            JS_ThrowReferenceError(ctx,
                                   "import of \"%s\" is not supported: import the bundle's "
                                   "own files (\"./lib.js\")",
                                   name);
            return NULL;
        }
        return resolve_bare(ctx, base, name);
    }
    char out[2048];
    size_t n = importer_dir(base, out, sizeof out);
    if (join_rel(out, n, sizeof out, name) == 0) return js_strdup(ctx, out);
    char bad[600];
    snprintf(bad, sizeof bad, "\x01%.500s", name);
    return js_strdup(ctx, bad);
}

static char *read_file(const char *path, size_t max, size_t *len, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "cannot open the bundle: %s", strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    if (!buf) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    if (n > max) {
        free(buf);
        snprintf(err, errcap, "the bundle is over %zu bytes", max);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

struct worker {
    JSRuntime *rt;
    JSContext *ctx;
    JSValue handler;  /* the default export */
    JSValue dispatch; /* runtime.js's __bb_dispatch */
    JSValue timers;   /* runtime.js's __bb_timers */
    JSValue fetched;  /* runtime.js's __bb_fetched */
};

/* Runs the pending jobs; 0, or -1 when the deadline interrupted one. Errors of other jobs
 * (e.g. an unhandled rejection's handler throwing) are logged and dropped. */
static int run_jobs(struct worker *w)
{
    for (;;) {
        JSContext *c;
        int r = JS_ExecutePendingJob(w->rt, &c);
        if (r == 0) return 0;
        if (r < 0) {
            JSValue e = JS_GetException(c);
            if (g_oom || g_interrupted) {
                JS_FreeValue(c, e);
                return g_oom ? -2 : -1;
            }
            char *t = error_text(c, e);
            JS_FreeValue(c, e);
            if (is_oom(t)) {
                free(t);
                return -2;
            }
            if (t && g_fd >= 0) {
                fn_buf_begin(&g_out, FN_FRAME_LOG);
                fn_buf_u8(&g_out, 3);
                fn_buf_str(&g_out, t, strlen(t));
                send_frame();
            }
            free(t);
        }
    }
}

static int load(struct worker *w, const char *path, size_t mem_limit, size_t stack_limit, char *err,
                size_t errcap)
{
    g_bundle_src = read_file(path, 64u << 20, &g_bundle_len, err, errcap);
    if (!g_bundle_src) return -1;
    snprintf(g_root, sizeof g_root, "%s", path);
    char *slash = strrchr(g_root, '/');
    if (slash) *slash = '\0';
    else snprintf(g_root, sizeof g_root, ".");
    w->rt = JS_NewRuntime2(&heap_functions, NULL);
    if (!w->rt) {
        snprintf(err, errcap, "cannot create the JavaScript runtime");
        return -1;
    }
    if (mem_limit) JS_SetMemoryLimit(w->rt, mem_limit);
    if (stack_limit) JS_SetMaxStackSize(w->rt, stack_limit);
    JS_SetInterruptHandler(w->rt, interrupt_cb, NULL);
    JS_SetModuleLoaderFunc(w->rt, normalize_name, module_loader, NULL);
    w->ctx = JS_NewContext(w->rt);
    w->handler = w->dispatch = w->timers = w->fetched = JS_UNDEFINED;
    if (!w->ctx) {
        snprintf(err, errcap, "cannot create the JavaScript context");
        return -1;
    }
    JSContext *ctx = w->ctx;
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue native = JS_NewObject(ctx);
    JS_SetPropertyFunctionList(ctx, native, native_funcs,
                               sizeof native_funcs / sizeof native_funcs[0]);
    JS_SetPropertyStr(ctx, global, "__bb", native);
    int rc = -1;
    JSValue v =
        JS_Eval(ctx, bb_qjs_runtime_js, bb_qjs_runtime_js_len, "runtime.js", JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(v)) {
        JSValue e = JS_GetException(ctx);
        char *t = error_text(ctx, e);
        snprintf(err, errcap, "runtime.js failed: %s", t ? t : "?");
        free(t);
        JS_FreeValue(ctx, e);
        goto out;
    }
    JS_FreeValue(ctx, v);
    w->dispatch = JS_GetPropertyStr(ctx, global, "__bb_dispatch");
    w->timers = JS_GetPropertyStr(ctx, global, "__bb_timers");
    w->fetched = JS_GetPropertyStr(ctx, global, "__bb_fetched");
    static const char *const hidden[] = {"__bb_dispatch", "__bb_timers", "__bb_fetched"};
    for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++) {
        JSAtom a = JS_NewAtom(ctx, hidden[i]);
        JS_DeleteProperty(ctx, global, a, 0);
        JS_FreeAtom(ctx, a);
    }

    static const char boot[] = "import h from \"__bundle__\";\nglobalThis.__bb_default = h;\n";
    v = JS_Eval(ctx, boot, sizeof boot - 1, "<bootstrap>", JS_EVAL_TYPE_MODULE);
    int jr = JS_IsException(v) ? 0 : run_jobs(w);
    if (jr < 0) {
        JS_FreeValue(ctx, v);
        snprintf(err, errcap, "%s",
                 jr == -2 ? "InternalError: out of memory (the bundle's top-level code is over the "
                            "memory limit)"
                          : "the bundle's top-level code ran past the time limit");
        goto out;
    }
    if (JS_IsException(v)) {
        JSValue e = JS_GetException(ctx);
        char *t = g_oom           ? strdup("InternalError: out of memory (the bundle's top-level "
                                           "code is over the memory limit)")
                  : g_interrupted ? strdup("the bundle's top-level code ran past the time limit")
                                  : error_text(ctx, e);
        snprintf(err, errcap, "%s", t ? t : "the bundle failed to load");
        free(t);
        JS_FreeValue(ctx, e);
        goto out;
    }
    JS_FreeValue(ctx, v);
    w->handler = JS_GetPropertyStr(ctx, global, "__bb_default");
    JSAtom a3 = JS_NewAtom(ctx, "__bb_default");
    JS_DeleteProperty(ctx, global, a3, 0);
    JS_FreeAtom(ctx, a3);
    int ok = JS_IsFunction(ctx, w->handler);
    if (!ok && JS_IsObject(w->handler)) {
        JSValue f = JS_GetPropertyStr(ctx, w->handler, "fetch");
        ok = JS_IsFunction(ctx, f);
        JS_FreeValue(ctx, f);
    }
    if (!ok) {
        snprintf(err, errcap,
                 "the bundle must `export default` a function (async (request) => Response) or "
                 "an object with a fetch(request) method");
        goto out;
    }
    rc = 0;
out:
    JS_FreeValue(ctx, global);
    return rc;
}

static void worker_free(struct worker *w)
{
    if (w->ctx) {
        JS_FreeValue(w->ctx, w->handler);
        JS_FreeValue(w->ctx, w->dispatch);
        JS_FreeValue(w->ctx, w->timers);
        JS_FreeValue(w->ctx, w->fetched);
        if (g_settled) JS_FreeValue(w->ctx, g_result);
        g_settled = 0;
        JS_FreeContext(w->ctx);
    }
    if (w->rt) JS_FreeRuntime(w->rt);
    free(g_bundle_src);
}

/* ------------------------------------------------------------------ invoke */

static void send_error(int kind, const char *msg)
{
    send_text(FN_FRAME_ERROR, kind, msg ? msg : "error");
}

/* Sends the RESPONSE frame of the settled array [status, [n, v, …], ArrayBuffer]. */
static void send_response(struct worker *w)
{
    JSContext *ctx = w->ctx;
    JSValue st = JS_GetPropertyUint32(ctx, g_result, 0);
    JSValue hs = JS_GetPropertyUint32(ctx, g_result, 1);
    JSValue body = JS_GetPropertyUint32(ctx, g_result, 2);
    int32_t status = 500;
    JS_ToInt32(ctx, &status, st);
    uint32_t nh = 0;
    JSValue lenv = JS_GetPropertyStr(ctx, hs, "length");
    JS_ToUint32(ctx, &nh, lenv);
    JS_FreeValue(ctx, lenv);
    size_t blen = 0;
    uint8_t *b = JS_GetArrayBuffer(ctx, &blen, body);
    if (!b) JS_FreeValue(ctx, JS_GetException(ctx)), blen = 0;
    fn_buf_begin(&g_out, FN_FRAME_RESPONSE);
    fn_buf_u16(&g_out, (uint16_t)status);
    fn_buf_u32(&g_out, nh / 2);
    for (uint32_t i = 0; i + 1 < nh; i += 2) {
        JSValue k = JS_GetPropertyUint32(ctx, hs, i), v = JS_GetPropertyUint32(ctx, hs, i + 1);
        size_t kn, vn;
        const char *ks = JS_ToCStringLen(ctx, &kn, k), *vs = JS_ToCStringLen(ctx, &vn, v);
        fn_buf_str(&g_out, ks ? ks : "", ks ? kn : 0);
        fn_buf_str(&g_out, vs ? vs : "", vs ? vn : 0);
        JS_FreeCString(ctx, ks);
        JS_FreeCString(ctx, vs);
        JS_FreeValue(ctx, k);
        JS_FreeValue(ctx, v);
    }
    fn_buf_str(&g_out, b ? b : (const uint8_t *)"", blen);
    JS_FreeValue(ctx, st);
    JS_FreeValue(ctx, hs);
    JS_FreeValue(ctx, body);
    if (g_out.oom || g_out.len - 4 > g_max_frame) {
        char m[160];
        snprintf(m, sizeof m, "the response (%zu bytes) is over the limit of %zu bytes", blen,
                 g_max_frame);
        send_error(FN_ERR_TOO_LARGE, m);
        return;
    }
    if (send_frame() != 0) _exit(3);
}

/* Delivers one FETCH_RESULT payload to runtime.js (__bb_fetched). 0, or -1 on a bad frame. */
static int deliver_fetch(struct worker *w, const uint8_t *pl, size_t len)
{
    JSContext *ctx = w->ctx;
    struct fn_rd r = {pl, len, 0, 0};
    uint32_t id = 0, nh = 0;
    uint16_t status = 0;
    fn_rd_u32(&r, &id);
    fn_rd_u16(&r, &status);
    fn_rd_u32(&r, &nh);
    if (r.bad || nh > len / 8) return -1;
    JSValue hs = JS_NewArray(ctx);
    for (uint32_t i = 0; i < nh; i++) {
        const uint8_t *k, *v;
        size_t kn, vn;
        if (fn_rd_str(&r, &k, &kn) || fn_rd_str(&r, &v, &vn)) break;
        JS_SetPropertyUint32(ctx, hs, 2 * i, JS_NewStringLen(ctx, (const char *)k, kn));
        JS_SetPropertyUint32(ctx, hs, 2 * i + 1, JS_NewStringLen(ctx, (const char *)v, vn));
    }
    const uint8_t *b, *e;
    size_t bn, en;
    if (fn_rd_str(&r, &b, &bn) || fn_rd_str(&r, &e, &en)) {
        JS_FreeValue(ctx, hs);
        return -1;
    }
    JSValue args[5] = {JS_NewUint32(ctx, id), JS_NewInt32(ctx, status), hs,
                       JS_NewArrayBufferCopy(ctx, b, bn),
                       JS_NewStringLen(ctx, (const char *)e, en)};
    JSValue rv = JS_Call(ctx, w->fetched, JS_UNDEFINED, 5, args);
    for (int i = 0; i < 5; i++)
        JS_FreeValue(ctx, args[i]);
    if (JS_IsException(rv)) JS_FreeValue(ctx, JS_GetException(ctx));
    JS_FreeValue(ctx, rv);
    if (g_fetches > 0) g_fetches--;
    return 0;
}

/* Waits up to wait_ms for a FETCH_RESULT on the socket and delivers it. 0 (delivered or nothing
 * came), -1 (the service went away or sent something else: exit). */
static int wait_fetch(struct worker *w, uint64_t wait_ms)
{
    struct pollfd pf = {g_fd, POLLIN, 0};
    int r = poll(&pf, 1, (int)(wait_ms > 60000 ? 60000 : wait_ms));
    if (r <= 0) return 0;
    uint8_t hdr[FN_FRAME_HDR];
    if (fn_read_all(g_fd, hdr, sizeof hdr) != 0) return -1;
    uint32_t n = (uint32_t)hdr[0] | ((uint32_t)hdr[1] << 8) | ((uint32_t)hdr[2] << 16) |
                 ((uint32_t)hdr[3] << 24);
    if (n < 1 || n > g_max_frame || hdr[4] != FN_FRAME_FETCH_RESULT) return -1;
    uint8_t *pl = malloc(n);
    if (!pl || fn_read_all(g_fd, pl, n - 1) != 0) {
        free(pl);
        return -1;
    }
    int rc = deliver_fetch(w, pl, n - 1);
    free(pl);
    return rc;
}

/* A request header as runtime.js's Headers holds it: the name a token (RFC 9110), lowercased into
 * lower (kn bytes), the value
 * trimmed of tabs, spaces, CR and LF (*v, *vn adjusted), then without NUL, CR or LF. 0 when the
 * header is dropped (runtime.js's Headers would refuse it). */
static int header_normalize(const uint8_t *k, size_t kn, const uint8_t **v, size_t *vn,
                            char *lower)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~";
    if (kn == 0) return 0;
    for (size_t i = 0; i < kn; i++) {
        uint8_t c = k[i];
        if (!isalnum(c) && (c == 0 || !strchr(tchar, c))) return 0;
        lower[i] = (char)tolower(c);
    }
    const uint8_t *s = *v, *e = *v + *vn;
    while (s < e && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n')) e--;
    size_t n = (size_t)(e - s);
    if (memchr(s, '\0', n) || memchr(s, '\r', n) || memchr(s, '\n', n)) return 0;
    *v = s;
    *vn = n;
    return 1;
}

/* 1 when "http://" host url is already what runtime.js's URL would make of it — a lowercase host
 * name or address with a port other than 80, a path and query of characters it keeps as they are,
 * no dot segment, no lone "?" — so the request's url is used as it is instead of parsed. */
static int url_is_canonical(const uint8_t *host, size_t hn, const uint8_t *url, size_t un)
{
    static const char keep[] = "-._~!$&'()*+,;=:@/%";
    size_t i = 0;
    while (i < hn && (islower(host[i]) || isdigit(host[i]) || host[i] == '.' || host[i] == '-'))
        i++;
    if (i == 0) return 0;
    if (i < hn) {
        if (host[i] != ':' || hn - i < 2 || (hn - i == 3 && host[i + 1] == '8' && host[i + 2] == '0'))
            return 0;
        for (i++; i < hn; i++)
            if (!isdigit(host[i])) return 0;
    }
    if (un == 0 || url[0] != '/') return 0;
    size_t q = un;
    for (i = 0; i < un; i++) {
        uint8_t c = url[i];
        if (c == '?' && q == un) { /* the query starts; "?" is kept inside it */
            if (i + 1 == un) return 0;
            q = i;
            continue;
        }
        if (c == 0 || (!isalnum(c) && c != '?' && !strchr(keep, c))) return 0;
        if (q == un && c == '/' && i + 1 < un && url[i + 1] == '.') { /* "/." or "/.." segment */
            size_t j = i + 2;
            if (j < un && url[j] == '.') j++;
            if (j == un || url[j] == '/' || url[j] == '?') return 0;
        }
    }
    return 1;
}

static void invoke(struct worker *w, const uint8_t *payload, size_t len)
{
    JSContext *ctx = w->ctx;
    struct fn_rd r = {payload, len, 0, 0};
    uint32_t timeout_ms = 0, nh = 0;
    const uint8_t *id, *method, *url, *body;
    size_t idn, mn, un, bn;
    fn_rd_u32(&r, &timeout_ms);
    fn_rd_str(&r, &id, &idn);
    fn_rd_str(&r, &method, &mn);
    fn_rd_str(&r, &url, &un);
    fn_rd_u32(&r, &nh);
    if (r.bad || nh > len / 8) _exit(4);
    JSValue headers = JS_NewArray(ctx);
    const uint8_t *host = NULL;
    size_t hostn = 0;
    int nhost = 0;
    for (uint32_t i = 0, out = 0; i < nh; i++) {
        const uint8_t *k, *v;
        size_t kn, vn;
        if (fn_rd_str(&r, &k, &kn) || fn_rd_str(&r, &v, &vn)) break;
        char buf[256], *lower = kn < sizeof buf ? buf : malloc(kn);
        if (!lower) _exit(4);
        if (header_normalize(k, kn, &v, &vn, lower)) { /* else dropped */
            if (kn == 4 && !memcmp(lower, "host", 4)) host = v, hostn = vn, nhost++;
            JS_SetPropertyUint32(ctx, headers, out++, JS_NewStringLen(ctx, lower, kn));
            JS_SetPropertyUint32(ctx, headers, out++, JS_NewStringLen(ctx, (const char *)v, vn));
        }
        if (lower != buf) free(lower);
    }
    fn_rd_str(&r, &body, &bn);
    if (r.bad) _exit(4); /* the service never sends a malformed frame: stop */
    /* the optional context: request id, gateway URL, project token (BunBase.admin()) */
    JSValue cx = JS_NewArray(ctx);
    for (uint32_t i = 0; i < 3 && r.off < r.len; i++) {
        const uint8_t *v;
        size_t vn;
        if (fn_rd_str(&r, &v, &vn)) _exit(4);
        JS_SetPropertyUint32(ctx, cx, i, JS_NewStringLen(ctx, (const char *)v, vn));
    }

    g_interrupted = 0;
    g_settled = 0;
    g_fetches = 0;
    g_deadline_ns = timeout_ms ? mono_ns() + (uint64_t)timeout_ms * 1000000ull : 0;
    int canonical = nhost == 1 && url_is_canonical(host, hostn, url, un);
    JSValue args[7] = {JS_DupValue(ctx, w->handler),
                       JS_NewStringLen(ctx, (const char *)method, mn),
                       JS_NewStringLen(ctx, (const char *)url, un),
                       headers,
                       JS_NewArrayBufferCopy(ctx, body, bn),
                       cx,
                       JS_NewBool(ctx, canonical)};
    JSValue rv = JS_Call(ctx, w->dispatch, JS_UNDEFINED, 7, args);
    for (int i = 0; i < 7; i++)
        JS_FreeValue(ctx, args[i]);
    int state = 0; /* 0 ok so far, -1 timeout, -2 out of memory */
    if (JS_IsException(rv)) {
        JSValue e = JS_GetException(ctx);
        char *t = error_text(ctx, e);
        JS_FreeValue(ctx, e);
        state = g_oom || is_oom(t) ? -2 : g_interrupted ? -1 : 0;
        if (!state) send_error(FN_ERR_EXCEPTION, t);
        free(t);
        if (!state) goto done;
    }
    JS_FreeValue(ctx, rv);
    while (!state && !g_settled) {
        state = run_jobs(w);
        if (state || g_settled) break;
        JSValue nv = JS_Call(ctx, w->timers, JS_UNDEFINED, 0, NULL);
        if (JS_IsException(nv)) {
            JS_FreeValue(ctx, JS_GetException(ctx));
            state = g_oom ? -2 : g_interrupted ? -1 : -2;
            break;
        }
        double next = -1;
        JS_ToFloat64(ctx, &next, nv);
        JS_FreeValue(ctx, nv);
        if (JS_IsJobPending(w->rt) || g_settled) continue;
        if (g_fetches > 0) {
            uint64_t now = mono_ns();
            if (g_deadline_ns && now >= g_deadline_ns) {
                state = -1;
                break;
            }
            uint64_t wait_ms = next >= 0 ? (uint64_t)next : 60000;
            if (g_deadline_ns && now + wait_ms * 1000000ull > g_deadline_ns)
                wait_ms = (g_deadline_ns - now) / 1000000ull + 1;
            if (wait_fetch(w, wait_ms) != 0) _exit(4);
            continue;
        }
        if (next < 0) {
            send_error(FN_ERR_EXCEPTION,
                       "the handler's promise never settled (no pending timer or job is left)");
            goto done;
        }
        uint64_t now = mono_ns();
        if (g_deadline_ns && now >= g_deadline_ns) {
            state = -1;
            break;
        }
        uint64_t wait_ms = (uint64_t)next;
        if (g_deadline_ns && now + wait_ms * 1000000ull > g_deadline_ns)
            wait_ms = (g_deadline_ns - now) / 1000000ull + 1;
        if (wait_ms) poll(NULL, 0, (int)(wait_ms > 60000 ? 60000 : wait_ms));
    }
    if (g_oom) state = -2; /* even when user code caught the error */
    else if (g_interrupted) state = -1; /* even when user code caught "interrupted" */
    if (state == -1) {
        send_error(FN_ERR_TIMEOUT, "the function ran past its time limit");
        _exit(0); /* interrupted code leaves no trustworthy state: the service replaces us */
    }
    if (state == -2) {
        send_error(FN_ERR_MEMORY, "the function ran out of memory (over its memory limit)");
        _exit(0);
    }
    if (g_settled == 1)
        send_response(w);
    else if (g_settled == 3) {
        const char *m = JS_ToCString(ctx, g_result);
        send_error(FN_ERR_BAD_RESPONSE, m ? m : "bad response");
        JS_FreeCString(ctx, m);
    } else {
        char *t = error_text(ctx, g_result);
        if (is_oom(t)) {
            send_error(FN_ERR_MEMORY, "the function ran out of memory (over its memory limit)");
            free(t);
            _exit(0);
        }
        send_error(FN_ERR_EXCEPTION, t);
        free(t);
    }
done:
    if (g_settled) JS_FreeValue(ctx, g_result);
    g_settled = 0;
    g_deadline_ns = 0;
    /* the next invocation starts clean: no timer of this one fires later */
    JSValue clear = JS_TRUE;
    JSValue nv = JS_Call(ctx, w->timers, JS_UNDEFINED, 1, &clear);
    if (JS_IsException(nv)) JS_FreeValue(ctx, JS_GetException(ctx));
    JS_FreeValue(ctx, nv);
}

/* ------------------------------------------------------------------ confinement */

/* rlimits before any user code: no core files, a few descriptors (it has 0-3), no new files of
 * any size, and (without a sanitizer, whose shadow memory needs more) an address space bound of
 * twice the heap limit plus room for the code and the stack. */
static void set_limits(size_t mem)
{
    struct rlimit r0 = {0, 0}, fd = {8, 8};
    setrlimit(RLIMIT_CORE, &r0);
    setrlimit(RLIMIT_NOFILE, &fd);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    if (mem) {
        rlim_t as = (rlim_t)mem * 2 + (256u << 20);
        struct rlimit a = {as, as};
        setrlimit(RLIMIT_AS, &a);
    }
#else
    (void)mem;
#endif
}

/* The seccomp filter, installed once the bundle is loaded: the system calls an invocation needs
 * (reading and writing its socket, memory, clocks, randomness, sleeping for timers, exiting) are
 * allowed; every other one fails with EPERM — no open, socket, connect, execve, fork/clone, kill,
 * ptrace. 0, or -1 when it could not be installed. */
static int confine(void)
{
#ifdef BB_HAVE_SECCOMP
    /* warm what would open files later (OpenSSL's digests) while we still may */
    uint8_t d[64];
    unsigned dl;
    EVP_Digest("", 0, d, &dl, EVP_sha256(), NULL);
    scmp_filter_ctx c = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!c) return -1;
    static const int allow[] = {
        SCMP_SYS(read),        SCMP_SYS(write),         SCMP_SYS(readv),
        SCMP_SYS(writev),      SCMP_SYS(close),         SCMP_SYS(poll),
        SCMP_SYS(ppoll),       SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep),
        SCMP_SYS(nanosleep),   SCMP_SYS(gettimeofday),  SCMP_SYS(getrandom),
        SCMP_SYS(mmap),        SCMP_SYS(munmap),        SCMP_SYS(mremap),
        SCMP_SYS(brk),         SCMP_SYS(madvise),       SCMP_SYS(mprotect),
        SCMP_SYS(futex),       SCMP_SYS(rt_sigreturn),  SCMP_SYS(rt_sigprocmask),
        SCMP_SYS(exit),        SCMP_SYS(exit_group),    SCMP_SYS(fstat),
        SCMP_SYS(newfstatat),  SCMP_SYS(lseek),         SCMP_SYS(getpid),
        SCMP_SYS(gettid),      SCMP_SYS(sched_yield),   SCMP_SYS(restart_syscall),
        SCMP_SYS(sigaltstack),
    };
    for (size_t i = 0; i < sizeof allow / sizeof allow[0]; i++)
        if (seccomp_rule_add(c, SCMP_ACT_ALLOW, allow[i], 0) != 0) {
            seccomp_release(c);
            return -1;
        }
    int rc = seccomp_load(c);
    seccomp_release(c);
    return rc == 0 ? 0 : -1;
#else
    return 0;
#endif
}

/* The Bun runtime's filter (--exec-confined): Bun needs threads, files and more system calls than
 * an allow-list could name, so the default is allow and the filter refuses what a function must
 * never do — create a process (clone without CLONE_THREAD, fork, vfork: EPERM; clone3: ENOSYS, so
 * glibc falls back to clone for its threads and posix_spawn is refused), trace or read another
 * process, mount, change namespaces or root, the kernel keyring, bpf, perf, modules, and open an
 * IP, packet or netlink socket (AF_UNIX stays: Bun uses it internally). execve is allowed only
 * for the launcher's own call, whose filename is the string at `path` (the filter compares the
 * pointer argument with that address, in the launcher's memory); any other execve — Bun's
 * process.execve, a shell's — gets EPERM, and execveat always does. After the launcher's execve
 * the address means nothing in bun's fresh (randomized) address space, and no program but bun
 * and the launcher exists in the sandbox anyway. 0, or -1. */
static int confine_bun(const char *path)
{
#ifdef BB_HAVE_SECCOMP
    scmp_filter_ctx c = seccomp_init(SCMP_ACT_ALLOW);
    if (!c) return -1;
    int bad = 0;
    bad |= seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(execve), 1,
                            SCMP_A0(SCMP_CMP_NE, (scmp_datum_t)(uintptr_t)path));
    bad |= seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(execveat), 0);
    bad |= seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                            SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
    bad |= seccomp_rule_add(c, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    static const int deny[] = {
        SCMP_SYS(fork),          SCMP_SYS(vfork),          SCMP_SYS(ptrace),
        SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev), SCMP_SYS(mount),
        SCMP_SYS(umount2),       SCMP_SYS(pivot_root),     SCMP_SYS(chroot),
        SCMP_SYS(unshare),       SCMP_SYS(setns),          SCMP_SYS(keyctl),
        SCMP_SYS(add_key),       SCMP_SYS(request_key),    SCMP_SYS(bpf),
        SCMP_SYS(perf_event_open), SCMP_SYS(init_module),  SCMP_SYS(finit_module),
        SCMP_SYS(delete_module), SCMP_SYS(kexec_load),     SCMP_SYS(open_by_handle_at),
        SCMP_SYS(name_to_handle_at), SCMP_SYS(userfaultfd), SCMP_SYS(swapon),
        SCMP_SYS(swapoff),       SCMP_SYS(reboot),         SCMP_SYS(syslog),
        SCMP_SYS(acct),          SCMP_SYS(quotactl),       SCMP_SYS(settimeofday),
        SCMP_SYS(clock_settime), SCMP_SYS(iopl),           SCMP_SYS(ioperm),
    };
    for (size_t i = 0; i < sizeof deny / sizeof deny[0]; i++)
        bad |= seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), deny[i], 0);
    static const int families[] = {AF_INET, AF_INET6, AF_PACKET, AF_NETLINK};
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        bad |= seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1,
                                SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i]));
    int rc = bad ? -1 : seccomp_load(c);
    seccomp_release(c);
    return rc == 0 ? 0 : -1;
#else
    (void)path;
    return 0;
#endif
}

static int parse_size(const char *s, size_t *out);

/* --user UID GID (first on the command line, from the sandbox when bunbased is root): become that
 * user before anything else — no supplementary groups, real/effective/saved ids all set, which
 * also clears the CAP_SETUID/CAP_SETGID bwrap left us for it — and check it cannot be undone.
 * 0, or -1 (the caller exits). */
static int become_user(const char *us, const char *gs)
{
    size_t u, g;
    if (parse_size(us, &u) || parse_size(gs, &g) || u == 0 || u > 0xfffffffeu || g > 0xfffffffeu)
        return -1;
    if (setgroups(0, NULL) != 0 || setresgid((gid_t)g, (gid_t)g, (gid_t)g) != 0 ||
        setresuid((uid_t)u, (uid_t)u, (uid_t)u) != 0)
        return -1;
    if (getuid() != (uid_t)u || geteuid() != (uid_t)u || getgid() != (gid_t)g ||
        setresuid(0, 0, 0) == 0)
        return -1;
    return 0;
}

/* --exec-confined AS -- PROGRAM ARGS…: the Bun runtime's launcher, inside the sandbox — the
 * filter above, no core files, an address-space bound of AS bytes (0: none), then
 * execve(PROGRAM) with this environment (the function's). */
static int exec_confined(int argc, char **argv)
{
    size_t as = 0;
    if (argc < 5 || parse_size(argv[2], &as) || strcmp(argv[3], "--") || argv[4][0] != '/') {
        fprintf(stderr, "usage: bunbase-qjs-worker --exec-confined AS_BYTES -- PROGRAM ARGS...\n");
        return 2;
    }
    if (confine_bun(argv[4]) != 0) {
        fprintf(stderr, "bunbase-qjs-worker: cannot install the seccomp filter\n");
        return 1;
    }
    /* the limits last, right before execve: nothing of ours allocates under them (a sanitizer's
     * allocator in this launcher would not fit) */
    struct rlimit r0 = {0, 0};
    setrlimit(RLIMIT_CORE, &r0);
    if (as) {
        struct rlimit a = {(rlim_t)as, (rlim_t)as};
        setrlimit(RLIMIT_AS, &a);
    }
    execve(argv[4], argv + 4, environ);
    fprintf(stderr, "bunbase-qjs-worker: cannot execute %s: %s\n", argv[4], strerror(errno));
    return 127;
}

/* --probe-confinement: confines itself as a worker does, then tries what a function must never
 * do and prints one line per attempt ("open /etc/passwd: refused"); exit 0 when every attempt was
 * refused. For the tests. */
static int probe_confinement(void)
{
    set_limits(64u << 20);
    if (confine() != 0) {
        printf("seccomp: not installed\n");
        return 1;
    }
    int bad = 0;
    int fd = open("/etc/passwd", O_RDONLY);
    printf("open /etc/passwd: %s\n", fd < 0 ? "refused" : "ALLOWED");
    bad += fd >= 0;
    int so = socket(AF_INET, SOCK_STREAM, 0);
    printf("socket: %s\n", so < 0 ? "refused" : "ALLOWED");
    bad += so >= 0;
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    printf("fork: %s\n", pid < 0 ? "refused" : "ALLOWED");
    bad += pid >= 0;
    char *const av[] = {"/bin/true", NULL};
    execve(av[0], av, av + 1);
    printf("execve: refused\n");
    int k = kill(1, 0);
    printf("kill: %s\n", k < 0 ? "refused" : "ALLOWED");
    bad += k == 0;
    fflush(stdout);
    _exit(bad ? 1 : 0); /* no atexit work (a leak checker cannot run under the filter) */
}

/* ------------------------------------------------------------------ main */

static int parse_size(const char *s, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !end || *end || s[0] == '-') return -1;
    *out = (size_t)v;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bunbase-qjs-worker --bundle FILE --fd N [--memory-limit BYTES] "
                    "[--max-frame BYTES] [--stack-limit BYTES]\n"
                    "       bunbase-qjs-worker --check FILE [--memory-limit BYTES] "
                    "[--timeout-ms MS]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc > 3 && !strcmp(argv[1], "--user")) {
        if (become_user(argv[2], argv[3]) != 0) {
            fprintf(stderr, "bunbase-qjs-worker: cannot become uid %s gid %s: %s\n", argv[2],
                    argv[3], strerror(errno));
            return 126;
        }
        argv[3] = argv[0];
        argv += 3, argc -= 3;
    }
    if (argc == 2 && !strcmp(argv[1], "--probe-confinement")) return probe_confinement();
    if (argc > 1 && !strcmp(argv[1], "--exec-confined")) return exec_confined(argc, argv);
    const char *bundle = NULL, *check = NULL;
    size_t fd = 0, mem = 64u << 20, stack = 512u << 10, timeout_ms = 5000;
    int have_fd = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (!strcmp(a, "--bundle"))
            bundle = v;
        else if (!strcmp(a, "--check"))
            check = v;
        else if (!strcmp(a, "--fd")) {
            if (parse_size(v, &fd)) usage();
            have_fd = 1;
        } else if (!strcmp(a, "--memory-limit")) {
            if (parse_size(v, &mem)) usage();
        } else if (!strcmp(a, "--max-frame")) {
            if (parse_size(v, &g_max_frame) || g_max_frame < 1024) usage();
        } else if (!strcmp(a, "--stack-limit")) {
            if (parse_size(v, &stack)) usage();
        } else if (!strcmp(a, "--timeout-ms")) {
            if (parse_size(v, &timeout_ms)) usage();
        } else
            usage();
        i++;
    }
    char err[4096] = "";
    struct worker w = {0};
    set_limits(mem);
    unsetenv("PWD"); /* bubblewrap always sets it; the function gets only what it is given */
    if (check) {
        g_deadline_ns = timeout_ms ? mono_ns() + (uint64_t)timeout_ms * 1000000ull : 0;
        int rc = load(&w, check, mem, stack, err, sizeof err);
        printf("%s\n", rc ? err : "ok");
        worker_free(&w);
        fn_buf_release(&g_out);
        return rc ? 1 : 0;
    }
    if (!bundle || !have_fd) usage();
    g_fd = (int)fd;
    g_deadline_ns = mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    if (load(&w, bundle, mem, stack, err, sizeof err) != 0) {
        send_text(FN_FRAME_LOAD_ERROR, -1, err);
        worker_free(&w);
        fn_buf_release(&g_out);
        return 1;
    }
    g_deadline_ns = 0;
    if (confine() != 0) {
        send_text(FN_FRAME_LOAD_ERROR, -1, "cannot install the seccomp filter");
        return 1;
    }
    fn_buf_begin(&g_out, FN_FRAME_READY);
    if (send_frame() != 0) return 3;
    uint8_t *payload = NULL;
    for (;;) {
        uint8_t hdr[FN_FRAME_HDR];
        int r = fn_read_all(g_fd, hdr, sizeof hdr);
        if (r != 0) break; /* EOF: the service let us go */
        uint32_t n = (uint32_t)hdr[0] | ((uint32_t)hdr[1] << 8) | ((uint32_t)hdr[2] << 16) |
                     ((uint32_t)hdr[3] << 24);
        if (n < 1 || n > g_max_frame) return 4;
        free(payload);
        payload = malloc(n);
        if (!payload || fn_read_all(g_fd, payload, n - 1) != 0) return 4;
        if (hdr[4] != FN_FRAME_INVOKE) return 4;
        invoke(&w, payload, n - 1);
    }
    free(payload);
    worker_free(&w);
    fn_buf_release(&g_out);
    _exit(0); /* confined: no atexit work (a leak checker cannot run under the filter) */
}
