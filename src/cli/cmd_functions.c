/* cmd_functions.c — project functions from a terminal (docs/functions.md, docs/cli.md): templates
 * written to a directory, deploy from a directory (a TypeScript entry is bundled with bun first;
 * plain JavaScript is sent as it is), list, delete, invoke, logs (-f polls), versions, rollback.
 * Every request goes to the console routes /v1/projects/{projectId}/functions/…, where the
 * developer's role decides.
 *
 * A function directory holds its entry file and bunbase.json, {"name","runtime","entry"}: what
 * `functions init` writes and what `functions deploy` reads (flags override it).
 */
#include "cli.h"

#include "bb_err.h"
#include "bb_fs.h"
#include "bb_proc.h"
#include "bb_time.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FN_NAME_MAX 64
#define MANIFEST "bunbase.json"
#define MANIFEST_MAX (64u * 1024u)
#define BUNDLE_MAX (16u * 1024u * 1024u) /* what the CLI sends; the server has its own bound */
#define BUN_LOG_MAX 8192                 /* bun's messages shown when a bundling fails */
#define FOLLOW_MS 1000                   /* default of BUNBASE_CLI_FOLLOW_MS */
#define FOLLOW_LIMIT 100                 /* invocations fetched per poll */

/* ---- paths and names */

/* The server's rule (docs/functions.md): 1-64 of a-z 0-9 - _, starting with a letter or digit. */
static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > FN_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                 (i > 0 && (ch == '-' || ch == '_'));
        if (!ok) return 0;
    }
    return 1;
}

/* "/v1/projects/<pid>/functions[/<name>]<tail>" */
static int fn_path(struct cli *c, const char *name, const char *tail, char *out, size_t cap)
{
    char pid[256], en[3 * FN_NAME_MAX + 1];
    const char *p = cli_project(c);
    if (!p || cli_pct_encode(p, strlen(p), pid, sizeof pid))
        return cli_usage_error(c, "invalid project id");
    if (name && (!valid_name(name) || cli_pct_encode(name, strlen(name), en, sizeof en)))
        return cli_usage_error(c, "invalid function name '%.80s' (1-64 of a-z, 0-9, -, _)", name);
    if ((size_t)snprintf(out, cap, "/v1/projects/%s/functions%s%s%s", pid, name ? "/" : "",
                         name ? en : "", tail) >= cap)
        return cli_usage_error(c, "argument too long");
    return 0;
}

/* "2026-01-02T03:04:05Z" of a millisecond wall-clock time. */
static const char *iso_ms(long long ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || !gmtime_r(&t, &tm) || !strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, cap, "-");
    return buf;
}

/* A flag as the store answers it: true, or a non-zero integer (SQLite). */
static int truthy(const json_t *j)
{
    return json_is_true(j) || (json_is_integer(j) && json_integer_value(j) != 0);
}

static void set_iso(json_t *row, const char *key, const json_t *src, const char *src_key)
{
    char buf[40];
    json_object_set_new(row, key,
                        json_string(iso_ms(bb_json_int(src, src_key, 0), buf, sizeof buf)));
}

/* ---- init: templates */

static const char TEMPLATE_JS[] =
    "// A BunBase function: a Web Request in, a Response out (docs/functions.md).\n"
    "// Deploy: bunbase functions deploy   Invoke: bunbase functions invoke NAME --data "
    "'{\"name\":\"Ada\"}'\n"
    "export default {\n"
    "  async fetch(request) {\n"
    "    const body = request.method === 'POST' ? await request.json() : {};\n"
    "    const name = body.name || 'world';\n"
    "    console.log('greeting', name);\n"
    "    return Response.json({ message: `Hello, ${name}!` });\n"
    "  },\n"
    "};\n";

static const char TEMPLATE_TS[] =
    "// A BunBase function in TypeScript: `bunbase functions deploy` bundles it with bun into\n"
    "// one ES module (imports of other files and of node_modules included) (docs/functions.md).\n"
    "interface Greeting {\n"
    "  name?: string;\n"
    "}\n"
    "\n"
    "export default {\n"
    "  async fetch(request: Request): Promise<Response> {\n"
    "    const body: Greeting = request.method === 'POST' ? await request.json() : {};\n"
    "    const name = body.name ?? 'world';\n"
    "    console.log('greeting', name);\n"
    "    const runtime = 'Bun' in globalThis ? 'bun' : 'quickjs';\n"
    "    return Response.json({ message: `Hello, ${name}!`, runtime });\n"
    "  },\n"
    "};\n";

static int write_new(struct cli *c, const char *dir, const char *file, const char *text)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path)
        return cli_usage_error(c, "directory path too long");
    if (!access(path, F_OK))
        return cli_fail(c, CLI_ECONFLICT, "exists", "%s exists: not overwriting it", path);
    if (bb_fs_write_atomic(path, text, strlen(text), 0644))
        return cli_fail(c, CLI_EUSAGE, "write_failed", "%s: %s", path, strerror(errno));
    return 0;
}

int cmd_fn_init(struct cli *c)
{
    const char *dir = c->argv[0];
    const char *runtime = cli_opt(c, "runtime") ? cli_opt(c, "runtime") : "quickjs";
    if (strcmp(runtime, "quickjs") && strcmp(runtime, "bun"))
        return cli_usage_error(c, "--runtime: quickjs or bun");
    int ts = !strcmp(runtime, "bun") || cli_opt(c, "typescript");
    const char *name = cli_opt(c, "name");
    char base[PATH_MAX];
    if (!name) {
        /* the directory's last component */
        snprintf(base, sizeof base, "%s", dir);
        size_t n = strlen(base);
        while (n > 1 && base[n - 1] == '/')
            base[--n] = 0;
        const char *slash = strrchr(base, '/');
        name = slash ? slash + 1 : base;
        if (!valid_name(name))
            return cli_usage_error(c,
                                   "'%s' is not a function name (1-64 of a-z, 0-9, -, _): "
                                   "give --name",
                                   name);
    } else if (!valid_name(name)) {
        return cli_usage_error(c,
                               "--name: 1-64 of a-z, 0-9, -, _, starting with a letter or digit");
    }
    const char *entry = ts ? "index.ts" : "index.js";
    if (bb_fs_mkdir_p(dir, 0755))
        return cli_fail(c, CLI_EUSAGE, "write_failed", "%s: cannot create the directory", dir);
    json_t *m = json_pack("{s:s,s:s,s:s}", "name", name, "runtime", runtime, "entry", entry);
    char *mtext = m ? json_dumps(m, JSON_INDENT(2)) : NULL;
    json_decref(m);
    if (!mtext) return cli_fail(c, CLI_ESERVER, "nomem", "out of memory");
    size_t ml = strlen(mtext);
    char *mline = realloc(mtext, ml + 2);
    if (!mline) {
        free(mtext);
        return cli_fail(c, CLI_ESERVER, "nomem", "out of memory");
    }
    mline[ml] = '\n';
    mline[ml + 1] = 0;
    char mpath[PATH_MAX];
    snprintf(mpath, sizeof mpath, "%s/%s", dir, MANIFEST);
    int rc = !access(mpath, F_OK)
                 ? cli_fail(c, CLI_ECONFLICT, "exists", "%s exists: not overwriting it", mpath)
                 : 0;
    if (!rc) rc = write_new(c, dir, entry, ts ? TEMPLATE_TS : TEMPLATE_JS);
    if (!rc) rc = write_new(c, dir, MANIFEST, mline);
    free(mline);
    if (rc) return rc;
    cli_print_ok(c,
                 json_pack("{s:s,s:s,s:s,s:[s,s]}", "dir", dir, "name", name, "runtime", runtime,
                           "files", entry, MANIFEST),
                 "Created %s/%s and %s/%s (function %s, %s runtime).\n"
                 "Deploy it: bunbase functions deploy %s",
                 dir, entry, dir, MANIFEST, name, runtime, dir);
    return CLI_OK;
}

/* ---- deploy */

static int is_typescript(const char *path)
{
    static const char *const exts[] = {".ts", ".tsx", ".mts", ".cts", ".jsx"};
    size_t n = strlen(path);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t e = strlen(exts[i]);
        if (n > e && !strcmp(path + n - e, exts[i])) return 1;
    }
    return 0;
}

/* bun: $BUNBASE_CLI_BUN_PATH, else the one scripts/setup.sh installs for the functions service,
 * else `bun` on PATH. 0 with out, or BB_ENOTFOUND. */
static int find_bun(char *out, size_t cap)
{
    const char *e = getenv("BUNBASE_CLI_BUN_PATH");
    if (e && *e) {
        snprintf(out, cap, "%s", e);
        return access(out, X_OK) ? BB_ENOTFOUND : 0;
    }
#ifdef BB_CLI_DEFAULT_BUN
    if (!access(BB_CLI_DEFAULT_BUN, X_OK)) {
        snprintf(out, cap, "%s", BB_CLI_DEFAULT_BUN);
        return 0;
    }
#endif
    const char *path = getenv("PATH");
    for (const char *p = path ? path : ""; *p;) {
        size_t l = strcspn(p, ":");
        if (l > 0 && (size_t)snprintf(out, cap, "%.*s/bun", (int)l, p) < cap && out[0] == '/' &&
            !access(out, X_OK))
            return 0;
        p += l;
        if (*p) p++;
    }
    return BB_ENOTFOUND;
}

/* Bundles entry (absolute) into one ES module with bun: *out (malloc'ed), *len. */
static int bundle(struct cli *c, const char *entry, const char *runtime, char **out, size_t *len)
{
    char bun[PATH_MAX];
    if (find_bun(bun, sizeof bun))
        return cli_fail(c, CLI_EUSAGE, "bun_not_found",
                        "%s needs bundling and bun was not found (scripts/setup.sh installs it; "
                        "or set BUNBASE_CLI_BUN_PATH)",
                        entry);
    const char *tmp = getenv("TMPDIR");
    char dir[PATH_MAX], outfile[PATH_MAX + 16], logfile[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/bunbase-bundle-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return cli_fail(c, CLI_EUSAGE, "write_failed", "%s: %s", dir, strerror(errno));
    snprintf(outfile, sizeof outfile, "%s/index.js", dir);
    snprintf(logfile, sizeof logfile, "%s/bun.log", dir);
    char target[32];
    snprintf(target, sizeof target, "--target=%s", strcmp(runtime, "bun") ? "browser" : "bun");
    char *argv[] = {bun,         "build", (char *)entry, target, "--format=esm",
                    "--outfile", outfile, NULL};
    /* bun gets the PATH and HOME it may need (its cache), nothing else of ours */
    char envpath[4096], envhome[PATH_MAX + 8];
    snprintf(envpath, sizeof envpath, "PATH=%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    snprintf(envhome, sizeof envhome, "HOME=%s", getenv("HOME") ? getenv("HOME") : dir);
    char *envp[] = {envpath, envhome, "NO_COLOR=1", NULL};
    struct bb_proc_spec spec = {.argv = argv, .envp = envp, .log_path = logfile, .stdout_fd = -1};
    int code = -1;
    long tmo = cli_env_long("BUNBASE_CLI_TIMEOUT_MS", 30000, 100, 3600000L);
    int rc = bb_proc_run(&spec, (uint64_t)tmo, NULL, 0, &code);
    if (rc) {
        char log[BUN_LOG_MAX];
        size_t ll = 0;
        if (bb_fs_read_small(logfile, log, sizeof log, &ll)) log[0] = 0;
        fprintf(stderr, "%s%s", log, ll ? "\n" : "");
        bb_fs_remove_tree(dir);
        if (rc == BB_ETIMEDOUT)
            return cli_fail(c, CLI_ESERVER, "bundle_failed", "bun build timed out");
        return cli_fail(c, CLI_EUSAGE, "bundle_failed", "bun build %s failed (exit %d)", entry,
                        code);
    }
    rc = cli_read_file(outfile, BUNDLE_MAX, out, len);
    bb_fs_remove_tree(dir);
    if (rc)
        return cli_fail(c, CLI_EUSAGE, "bundle_failed", "the bundle: %s%s", bb_strerror(rc),
                        rc == BB_ETOOBIG ? " (at most 16 MiB)" : "");
    return 0;
}

int cmd_fn_deploy(struct cli *c)
{
    const char *dir = c->argc > 0 ? c->argv[0] : ".";
    char absdir[PATH_MAX];
    struct stat st;
    if (!realpath(dir, absdir) || stat(absdir, &st) || !S_ISDIR(st.st_mode))
        return cli_fail(c, CLI_ENOTFOUND, "not_found", "%s: not a directory", dir);
    /* bunbase.json, when there is one */
    json_t *m = NULL;
    char mpath[PATH_MAX + 16];
    snprintf(mpath, sizeof mpath, "%s/%s", absdir, MANIFEST);
    char *mtext = NULL;
    size_t mlen = 0;
    int rc = cli_read_file(mpath, MANIFEST_MAX, &mtext, &mlen);
    if (rc == 0) {
        char err[160];
        if (bb_json_parse(mtext, mlen, 8, &m, err, sizeof err) || !json_is_object(m)) {
            free(mtext);
            json_decref(m);
            return cli_fail(c, CLI_EUSAGE, "bad_input", "%s: not a JSON object%s%s", mpath,
                            m ? "" : ": ", m ? "" : err);
        }
        free(mtext);
    } else if (rc != BB_ENOTFOUND) {
        return cli_fail(c, CLI_EUSAGE, "bad_input", "%s: %s", mpath, bb_strerror(rc));
    }
    char name[FN_NAME_MAX + 1], runtime[16], entry[PATH_MAX + 32];
    const char *v = cli_opt(c, "name") ? cli_opt(c, "name") : bb_json_str(m, "name", NULL);
    if (!v) {
        v = strrchr(absdir, '/');
        v = v && v[1] ? v + 1 : absdir;
    }
    snprintf(name, sizeof name, "%.64s", v);
    if (!valid_name(v)) {
        json_decref(m);
        return cli_usage_error(c,
                               "'%.80s' is not a function name (1-64 of a-z, 0-9, -, _): give "
                               "--name or \"name\" in %s",
                               v, MANIFEST);
    }
    v = cli_opt(c, "runtime") ? cli_opt(c, "runtime") : bb_json_str(m, "runtime", "quickjs");
    snprintf(runtime, sizeof runtime, "%s", v);
    if (strcmp(v, "quickjs") && strcmp(v, "bun")) {
        json_decref(m);
        return cli_usage_error(c, "runtime: quickjs or bun, not '%.40s'", v);
    }
    v = cli_opt(c, "entry") ? cli_opt(c, "entry") : bb_json_str(m, "entry", NULL);
    if (v && (v[0] == '/' || strstr(v, ".."))) {
        rc = cli_usage_error(c, "the entry is a file inside the directory, not '%.80s'", v);
        json_decref(m);
        return rc;
    }
    if (v) {
        int too_long = (size_t)snprintf(entry, sizeof entry, "%s/%s", absdir, v) >= sizeof entry;
        json_decref(m);
        if (too_long) return cli_usage_error(c, "--entry: path too long");
    } else {
        json_decref(m);
        static const char *const guess[] = {"index.ts", "index.js", "index.mjs", "index.tsx"};
        entry[0] = 0;
        for (size_t i = 0; i < sizeof guess / sizeof guess[0] && !entry[0]; i++) {
            snprintf(entry, sizeof entry, "%s/%s", absdir, guess[i]);
            if (access(entry, R_OK)) entry[0] = 0;
        }
        if (!entry[0])
            return cli_fail(c, CLI_ENOTFOUND, "not_found",
                            "%s: no index.ts or index.js (give --entry, or run bunbase functions "
                            "init)",
                            dir);
    }
    if (access(entry, R_OK))
        return cli_fail(c, CLI_ENOTFOUND, "not_found", "%s: %s", entry, strerror(errno));

    char *code = NULL;
    size_t len = 0;
    int bundled = is_typescript(entry) || cli_opt(c, "bundle");
    if (bundled) {
        if ((rc = bundle(c, entry, runtime, &code, &len))) return rc;
    } else if ((rc = cli_read_file(entry, BUNDLE_MAX, &code, &len))) {
        return cli_fail(c, CLI_EUSAGE, "bad_input", "%s: %s%s", entry, bb_strerror(rc),
                        rc == BB_ETOOBIG ? " (at most 16 MiB)" : "");
    }
    char tail[64], path[1024];
    snprintf(tail, sizeof tail, "?runtime=%s%s", runtime,
             cli_opt(c, "no-activate") ? "&activate=false" : "");
    if ((rc = fn_path(c, name, tail, path, sizeof path))) {
        free(code);
        return rc;
    }
    struct bb_httpc_response resp;
    rc = cli_request(c, "PUT", path, "application/javascript", code, len, 0, &resp);
    free(code);
    if (rc) return rc;
    json_t *ans = NULL;
    if (resp.status < 200 || resp.status >= 300) {
        rc = cli_fail_response(c, &resp);
    } else if (bb_json_parse(resp.body, resp.body_len, 16, &ans, NULL, 0) || !json_is_object(ans)) {
        rc = cli_fail(c, CLI_ESERVER, "bad_answer", "unexpected answer to the deploy");
    }
    bb_httpc_response_release(&resp);
    if (rc) {
        json_decref(ans);
        return rc;
    }
    json_object_set_new(ans, "bundled", json_boolean(bundled));
    if (c->json) {
        cli_print_json(ans);
    } else {
        long long ver = bb_json_int(ans, "version", 0);
        int created = json_is_true(json_object_get(ans, "created"));
        int active = json_is_true(json_object_get(ans, "active"));
        printf("Deployed %s: version %lld (%s, %lld bytes%s)%s%s.\n", name, ver, runtime,
               (long long)bb_json_int(ans, "size", (long long)len),
               bundled ? ", bundled with bun" : "", created ? "" : ", the same code as before",
               active ? ", active" : ", not active");
    }
    json_decref(ans);
    return CLI_OK;
}

/* ---- list, delete, versions, rollback */

int cmd_fn_list(struct cli *c)
{
    char path[512];
    json_t *ans = NULL;
    int rc = fn_path(c, NULL, "", path, sizeof path);
    if (rc || (rc = cli_call(c, "GET", path, NULL, &ans))) return rc;
    if (c->json) {
        cli_print_json(ans);
    } else {
        json_t *fns = json_object_get(ans, "functions"), *rows = json_array();
        for (size_t i = 0; i < json_array_size(fns); i++) {
            json_t *f = json_array_get(fns, i);
            json_t *r = json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?}", "name", json_object_get(f, "name"),
                                  "active", json_object_get(f, "active_version"), "runtime",
                                  json_object_get(f, "runtime"), "size", json_object_get(f, "size"),
                                  "versions", json_object_get(f, "versions"));
            set_iso(r, "updated", f, "updated_ms");
            json_array_append_new(rows, r);
        }
        static const char *const h[] = {"NAME", "ACTIVE", "RUNTIME", "SIZE", "VERSIONS", "UPDATED"};
        static const char *const k[] = {"name", "active", "runtime", "size", "versions", "updated"};
        cli_print_table(rows, h, k, 6);
        json_decref(rows);
    }
    json_decref(ans);
    return CLI_OK;
}

int cmd_fn_delete(struct cli *c)
{
    if (!cli_opt(c, "yes"))
        return cli_usage_error(c, "deleting %s removes its versions and logs: add --yes",
                               c->argv[0]);
    char path[512];
    json_t *ans = NULL;
    int rc = fn_path(c, c->argv[0], "", path, sizeof path);
    if (rc || (rc = cli_call(c, "DELETE", path, NULL, &ans))) return rc;
    json_decref(ans);
    cli_print_ok(c, json_pack("{s:s}", "deleted", c->argv[0]), "Deleted function %s.", c->argv[0]);
    return CLI_OK;
}

int cmd_fn_versions(struct cli *c)
{
    char path[512];
    json_t *ans = NULL;
    int rc = fn_path(c, c->argv[0], "/versions", path, sizeof path);
    if (rc || (rc = cli_call(c, "GET", path, NULL, &ans))) return rc;
    if (c->json) {
        cli_print_json(ans);
    } else {
        json_t *vs = json_object_get(ans, "versions"), *rows = json_array();
        for (size_t i = 0; i < json_array_size(vs); i++) {
            json_t *v = json_array_get(vs, i);
            char sha[16];
            snprintf(sha, sizeof sha, "%.12s", bb_json_str(v, "sha256", "-"));
            json_t *r = json_pack(
                "{s:O?,s:s,s:O?,s:s,s:O?}", "version", json_object_get(v, "version"), "active",
                truthy(json_object_get(v, "active")) ? "*" : "", "size", json_object_get(v, "size"),
                "sha256", sha, "runtime", json_object_get(v, "runtime"));
            set_iso(r, "created", v, "created_ms");
            json_array_append_new(rows, r);
        }
        static const char *const h[] = {"ACTIVE", "VERSION", "SIZE", "SHA256", "CREATED"};
        static const char *const k[] = {"active", "version", "size", "sha256", "created"};
        cli_print_table(rows, h, k, 5);
        json_decref(rows);
    }
    json_decref(ans);
    return CLI_OK;
}

int cmd_fn_rollback(struct cli *c)
{
    const char *to = cli_opt(c, "to");
    json_t *body = NULL;
    if (to) {
        char *end;
        long long n = strtoll(to, &end, 10);
        if (*end || n < 1) return cli_usage_error(c, "--to: a version number");
        body = json_pack("{s:I}", "version", (json_int_t)n);
    } else {
        body = json_object();
    }
    char path[512];
    json_t *ans = NULL;
    int rc = fn_path(c, c->argv[0], to ? "/activate" : "/rollback", path, sizeof path);
    if (!rc) rc = cli_call(c, "POST", path, body, &ans);
    json_decref(body);
    if (rc) return rc;
    if (c->json)
        cli_print_json(ans);
    else
        printf("%s: version %lld is active.\n", c->argv[0],
               (long long)bb_json_int(ans, "active_version", 0));
    json_decref(ans);
    return CLI_OK;
}

/* ---- invoke */

/* Does the body look like JSON (for a default Content-Type)? */
static int looks_json(const char *s, size_t n)
{
    json_t *j = NULL;
    int ok = n > 0 && bb_json_parse(s, n, BB_JSON_DEFAULT_DEPTH, &j, NULL, 0) == 0;
    json_decref(j);
    return ok;
}

int cmd_fn_invoke(struct cli *c)
{
    const char *method = cli_opt(c, "X");
    const char *hdr[CLI_MAX_OPTS + 1];
    int nh = cli_opt_all(c, "H", hdr, CLI_MAX_OPTS);
    int has_ctype = 0;
    for (int i = 0; i < nh; i++) {
        const char *colon = strchr(hdr[i], ':');
        if (!colon || colon == hdr[i] || strpbrk(hdr[i], "\r\n"))
            return cli_usage_error(c, "-H: 'Name: value'");
        size_t nl = (size_t)(colon - hdr[i]);
        if ((nl == 13 && !strncasecmp(hdr[i], "authorization", 13)) ||
            (nl == 20 && !strncasecmp(hdr[i], "x-bunbase-client-key", 20)))
            return cli_usage_error(c, "-H: the credential is the profile's (functions never see "
                                      "Authorization or X-Bunbase-Client-Key)");
        has_ctype |= nl == 12 && !strncasecmp(hdr[i], "content-type", 12);
    }
    hdr[nh] = NULL;
    char *body = NULL;
    size_t len = 0;
    int rc = 0;
    if (cli_opt(c, "data") || cli_opt(c, "f") || !isatty(STDIN_FILENO))
        rc = cli_body(c, &body, &len);
    if (rc) return rc;
    int has_body = body && (len > 0 || cli_opt(c, "data") || cli_opt(c, "f"));
    if (!method) method = has_body ? "POST" : "GET";
    for (const char *p = method; *p; p++)
        if (*p < 'A' || *p > 'Z') {
            free(body);
            return cli_usage_error(c, "-X: an HTTP method (GET, POST, PUT, PATCH, DELETE)");
        }
    char tail[2300] = "/invoke";
    const char *q = cli_opt(c, "query");
    if (q && *q) {
        if (strpbrk(q, " #\r\n") || strlen(q) > 2048) {
            free(body);
            return cli_usage_error(c, "--query: a query string such as 'a=1&b=2' (no spaces)");
        }
        snprintf(tail, sizeof tail, "/invoke?%s", q[0] == '?' ? q + 1 : q);
    }
    char path[2900];
    if ((rc = fn_path(c, c->argv[0], tail, path, sizeof path))) {
        free(body);
        return rc;
    }
    const char *ctype = NULL;
    if (has_body && !has_ctype)
        ctype = looks_json(body, len) ? "application/json" : "application/octet-stream";
    struct bb_httpc_response resp;
    c->extra_headers = hdr;
    rc = cli_request(c, method, path, ctype, has_body ? body : NULL, has_body ? len : 0, 0, &resp);
    c->extra_headers = NULL;
    free(body);
    if (rc) return rc;
    const char *inv = bb_httpc_response_header(&resp, "X-Invocation-Id");
    int code = cli_exit_for_status(resp.status);
    if (c->json) {
        json_t *h = json_object();
        for (size_t i = 0; i < resp.n_headers; i++) {
            char lname[256];
            size_t n = strlen(resp.headers[i].name);
            if (n >= sizeof lname) continue;
            for (size_t k = 0; k <= n; k++) {
                char ch = resp.headers[i].name[k];
                lname[k] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
            }
            const char *prev = bb_json_str(h, lname, NULL);
            if (prev) {
                size_t l = strlen(prev) + strlen(resp.headers[i].value) + 3;
                char *joined = malloc(l);
                if (joined) {
                    snprintf(joined, l, "%s, %s", prev, resp.headers[i].value);
                    json_object_set_new(h, lname, json_string(joined));
                    free(joined);
                }
            } else {
                json_object_set_new(h, lname, json_string(resp.headers[i].value));
            }
        }
        json_t *o = json_pack("{s:I,s:o}", "status", (json_int_t)resp.status, "headers", h);
        cli_set_bytes(o, "body", "body_base64", resp.body, resp.body_len);
        cli_print_json(o);
        json_decref(o);
    } else {
        /* the answer as it came, whoever wrote it (the function, or the service: no such function,
         * timeout, …); a failure is also said on stderr, with the service's code when it has one */
        cli_write_raw(resp.body, resp.body_len);
    }
    if (code) {
        json_t *e = NULL;
        const char *ecode = NULL, *emsg = NULL;
        if (resp.body_len && bb_json_parse(resp.body, resp.body_len, 8, &e, NULL, 0) == 0) {
            ecode = bb_json_str(e, "code", NULL);
            emsg = bb_json_str(e, "error", NULL);
        }
        fprintf(stderr, "bunbase: %s answered HTTP %ld%s%s%s%s%s%s%s\n", c->argv[0], resp.status,
                ecode ? " (" : "", ecode ? ecode : "", ecode && emsg ? ": " : "",
                ecode && emsg ? emsg : "", ecode ? ")" : "", inv ? ", invocation " : "",
                inv ? inv : "");
        json_decref(e);
    }
    bb_httpc_response_release(&resp);
    return code;
}

/* ---- logs */

static volatile sig_atomic_t stop_follow;

static void on_stop(int sig)
{
    (void)sig;
    stop_follow = 1;
}

static void print_invocation(struct cli *c, const json_t *inv)
{
    if (c->json) {
        cli_print_json(inv);
        return;
    }
    char when[40];
    iso_ms(bb_json_int(inv, "started_ms", 0), when, sizeof when);
    printf("%s  %s  v%lld  %lld  %lld ms%s\n", when, bb_json_str(inv, "id", "-"),
           (long long)bb_json_int(inv, "version", 0), (long long)bb_json_int(inv, "status", 0),
           (long long)bb_json_int(inv, "duration_ms", 0),
           truthy(json_object_get(inv, "cold")) ? "  cold" : "");
    const char *logs = bb_json_str(inv, "logs", "");
    while (*logs) {
        size_t l = strcspn(logs, "\n");
        if (l) printf("  %.*s\n", (int)l, logs);
        logs += l;
        if (*logs) logs++;
    }
    const char *err = bb_json_str(inv, "error", NULL);
    if (err && *err) printf("  error: %s\n", err);
}

/* Fetches up to limit invocations (newest first from the server). */
static int fetch_logs(struct cli *c, long limit, json_t **out)
{
    char tail[64], path[512];
    snprintf(tail, sizeof tail, "/logs?limit=%ld", limit);
    int rc = fn_path(c, c->argv[0], tail, path, sizeof path);
    json_t *ans = NULL;
    if (rc || (rc = cli_call(c, "GET", path, NULL, &ans))) return rc;
    *out = json_incref(json_object_get(ans, "invocations"));
    json_decref(ans);
    if (!json_is_array(*out)) {
        json_decref(*out);
        *out = NULL;
        return cli_fail(c, CLI_ESERVER, "bad_answer", "unexpected answer to logs");
    }
    return 0;
}

int cmd_fn_logs(struct cli *c)
{
    long limit = 100;
    const char *v = cli_opt(c, "limit");
    if (v) {
        char *end;
        limit = strtol(v, &end, 10);
        if (*end || limit < 1 || limit > 1000) return cli_usage_error(c, "--limit: 1 to 1000");
    }
    int follow = cli_opt(c, "f") || cli_opt(c, "follow");
    json_t *invs = NULL;
    /* when following, the previous answer is the set of invocations already seen: fetch as many
     * as a poll does, print the newest `limit` */
    int rc = fetch_logs(c, follow && limit < FOLLOW_LIMIT ? FOLLOW_LIMIT : limit, &invs);
    if (rc) return rc;
    if (!follow && c->json) {
        json_t *o = json_pack("{s:s,s:O}", "name", c->argv[0], "invocations", invs);
        cli_print_json(o);
        json_decref(o);
        json_decref(invs);
        return CLI_OK;
    }
    size_t shown = json_array_size(invs) < (size_t)limit ? json_array_size(invs) : (size_t)limit;
    for (size_t i = shown; i-- > 0;)
        print_invocation(c, json_array_get(invs, i));
    fflush(stdout);
    if (!follow) {
        json_decref(invs);
        return CLI_OK;
    }
    /* -f: poll; print the invocations the previous answer did not hold, oldest first; SIGINT or
     * SIGTERM ends it cleanly (exit 0) */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    const uint64_t every =
        (uint64_t)cli_env_long("BUNBASE_CLI_FOLLOW_MS", FOLLOW_MS, 100, 3600000L);
    while (!stop_follow) {
        uint64_t until = bb_time_mono_ms() + every;
        while (!stop_follow && bb_time_mono_ms() < until)
            bb_time_sleep_ms(50);
        if (stop_follow) break;
        json_t *next = NULL;
        if ((rc = fetch_logs(c, FOLLOW_LIMIT, &next))) break;
        json_t *seen = json_object();
        for (size_t i = 0; i < json_array_size(invs); i++)
            json_object_set(seen, bb_json_str(json_array_get(invs, i), "id", ""), json_true());
        for (size_t i = json_array_size(next); i-- > 0;) {
            const json_t *inv = json_array_get(next, i);
            if (!json_object_get(seen, bb_json_str(inv, "id", ""))) print_invocation(c, inv);
        }
        json_decref(seen);
        json_decref(invs);
        invs = next;
        if (fflush(stdout)) break; /* the reader went away */
    }
    json_decref(invs);
    return stop_follow ? CLI_OK : rc;
}
