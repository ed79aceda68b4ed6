/* platform_web.c — the dashboard's files (web/dist, built by `make build`) served at "/".
 *
 * One route, installed as the router's fallback (bb_router_set_fallback): it only ever sees a GET
 * or HEAD whose path no route table knows under any method, so it cannot shadow /v1, /api,
 * /health, /metrics or any service's route, and a known path with another method stays 405.
 *
 * Rules, in order:
 *   - "/" and "/index.html": index.html, Cache-Control: no-cache (a new build is seen at once);
 *   - a first segment that belongs to the API (v1, api, health, metrics, .well-known): 404
 *     not_found, as the router would answer — never the console;
 *   - a "clean" path (segments of [A-Za-z0-9._~-], none starting with '.', no '%', no '\\')
 *     naming a regular file under BUNBASE_PLATFORM_WEB_DIR (resolved with realpath and checked to
 *     stay inside it; opened with O_NOFOLLOW): that file, with its Content-Type by extension;
 *     under /assets/ (Vite's content-hashed names) Cache-Control: public, max-age=31536000,
 *     immutable; elsewhere no-cache. A path that is not clean is never opened;
 *   - otherwise, for a client that accepts text/html (a browser navigating to /projects/…):
 *     index.html (the SPA's own router shows the page); a missing asset (under /assets/, or a
 *     last segment with a '.') or a non-HTML client: 404 not_found.
 * No index.html in the directory (the console was not built): 503 console_unavailable on "/" and
 * every page, saying how to build it; bunbased starts anyway.
 */
#include "platform_internal.h"
#include "bb_err.h"
#include "bb_http.h"
#include "bb_log.h"
#include "bb_router.h"
#include "bb_service.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define WEB_MAX_PATH 1024        /* longer request paths are never a console file */
#define WEB_MAX_FILE (32u << 20) /* the largest file served (a build's chunk is far smaller) */
#define CC_IMMUTABLE "public, max-age=31536000, immutable"
#define CC_NO_CACHE "no-cache"
/* The console loads only its own files and talks only to this origin; no inline script. */
#define WEB_CSP                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "                 \
    "frame-ancestors 'none'"

static const struct {
    const char *ext, *type;
} mime[] = {
    {"html", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/x-icon"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"txt", "text/plain; charset=utf-8"},
    {"wasm", "application/wasm"},
    {"webmanifest", "application/manifest+json"},
};

static const char *content_type(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot)
        for (size_t i = 0; i < sizeof mime / sizeof mime[0]; i++)
            if (strcasecmp(dot + 1, mime[i].ext) == 0) return mime[i].type;
    return "application/octet-stream";
}

/* Segments of [A-Za-z0-9._~-], none empty or starting with '.'. */
static int clean_path(const char *path)
{
    if (path[0] != '/') return 0;
    const char *s = path + 1;
    while (*s) {
        if (*s == '.' || *s == '/') return 0; /* hidden, "..", "." or empty segment */
        while (*s && *s != '/') {
            char c = *s++;
            int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '_' || c == '-' || c == '~';
            if (!ok) return 0;
        }
        if (*s == '/') s++;
    }
    return 1;
}

/* First segment equal to one of the API's. */
static int api_path(const char *path)
{
    static const char *const api[] = {"v1", "api", "health", "metrics", ".well-known"};
    const char *s = path + 1;
    size_t n = strcspn(s, "/?");
    for (size_t i = 0; i < sizeof api / sizeof api[0]; i++)
        if (strlen(api[i]) == n && strncmp(s, api[i], n) == 0) return 1;
    return 0;
}

static int accepts_html(const struct bb_http_request *req)
{
    const char *a = bb_http_header(req, "Accept");
    return a && strstr(a, "text/html") != NULL;
}

/* Reads dir/rel (rel clean, starting with '/') if it is a regular file inside dir. 0 with
 * *body (caller frees) and *len; BB_ENOTFOUND; BB_ELIMIT over WEB_MAX_FILE; BB_EIO. */
static int read_file_in(const char *dir, const char *rel, char **body, size_t *len)
{
    char full[PATH_MAX], real_dir[PATH_MAX], real_file[PATH_MAX];
    if ((size_t)snprintf(full, sizeof full, "%s%s", dir, rel) >= sizeof full) return BB_ENOTFOUND;
    if (!realpath(dir, real_dir) || !realpath(full, real_file)) return BB_ENOTFOUND;
    size_t dl = strlen(real_dir);
    if (strncmp(real_file, real_dir, dl) != 0 || real_file[dl] != '/') return BB_ENOTFOUND;
    int fd = open(real_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT || errno == ELOOP ? BB_ENOTFOUND : BB_EIO;
    struct stat st;
    int rc = 0;
    char *buf = NULL;
    if (fstat(fd, &st) != 0) {
        rc = BB_EIO;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = BB_ENOTFOUND;
        goto out;
    }
    if ((uint64_t)st.st_size > WEB_MAX_FILE) {
        rc = BB_ELIMIT;
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        rc = BB_ENOMEM;
        goto out;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            rc = BB_EIO;
            goto out;
        }
        got += (size_t)n;
    }
    *body = buf;
    *len = got;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}

static void reply_file(struct bb_http_response *res, const char *type, const char *cache,
                       char *body, size_t len)
{
    bb_http_set_header(res, "Cache-Control", cache);
    bb_http_set_header(res, "X-Content-Type-Options", "nosniff");
    bb_http_reply(res, 200, type, body, len); /* takes body */
}

static void reply_not_found(struct bb_http_response *res)
{
    plat_reply_err(res, 404, "not_found", "no such route");
}

static void reply_index(struct platform *p, struct bb_http_response *res)
{
    char *body = NULL;
    size_t len = 0;
    int rc = read_file_in(p->cfg.web_dir, "/index.html", &body, &len);
    if (rc == 0) {
        bb_http_set_header(res, "X-Frame-Options", "DENY");
        bb_http_set_header(res, "Content-Security-Policy", WEB_CSP);
        reply_file(res, "text/html; charset=utf-8", CC_NO_CACHE, body, len);
    } else if (rc == BB_ENOTFOUND) {
        plat_reply_err(res, 503, "console_unavailable",
                       "the dashboard is not built: no index.html in BUNBASE_PLATFORM_WEB_DIR "
                       "(run scripts/setup.sh then make build; the API under /v1 works)");
    } else {
        bb_http_reply_error(res, rc, "cannot read the dashboard's index.html");
    }
}

void plat_h_web(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    const char *path = req->path;
    size_t plen = strlen(path);
    if (plen == 0 || plen > WEB_MAX_PATH || path[0] != '/') {
        reply_not_found(res);
        return;
    }
    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
        reply_index(p, res);
        return;
    }
    if (api_path(path)) {
        reply_not_found(res);
        return;
    }
    int asset = strncmp(path, "/assets/", 8) == 0;
    if (clean_path(path)) {
        char *body = NULL;
        size_t len = 0;
        int rc = read_file_in(p->cfg.web_dir, path, &body, &len);
        if (rc == 0) {
            reply_file(res, content_type(path), asset ? CC_IMMUTABLE : CC_NO_CACHE, body, len);
            return;
        }
        if (rc != BB_ENOTFOUND) {
            bb_http_reply_error(res, rc, "cannot read the dashboard's file");
            return;
        }
    }
    const char *last = strrchr(path, '/');
    if (asset || strchr(last, '.') || !accepts_html(req)) {
        reply_not_found(res);
        return;
    }
    reply_index(p, res); /* a page of the SPA: its router shows it */
}

static const struct bb_route web_route = {"GET",         "/", plat_h_web, BB_AUTH_NONE,
                                          BB_ROUTE_POOL, 0,   "web"};

void plat_web_install(struct platform *p)
{
    struct stat st;
    char index[PATH_MAX];
    snprintf(index, sizeof index, "%s/index.html", p->cfg.web_dir);
    if (stat(index, &st) != 0)
        bb_warn("platform",
                "dashboard not served: no %s (run scripts/setup.sh and make build, or set "
                "BUNBASE_PLATFORM_WEB_DIR)",
                index);
    bb_router_set_fallback(p->rt->router, &web_route, p);
}

void plat_web_uninstall(struct platform *p)
{
    if (p && p->rt && p->rt->router) bb_router_set_fallback(p->rt->router, NULL, NULL);
}
