/* fn_sandbox.c — the workers' sandbox: bubblewrap (Debian's bwrap) around every worker and every
 * deploy-time check, and an unprivileged user for the code inside.
 *
 * The user: when bunbased is root, no worker runs as root. bwrap runs as root and makes the
 * namespaces without a user namespace (root needs none: mount, pid, ipc, uts, cgroup, net), drops
 * every capability but CAP_SETUID/CAP_SETGID, and starts the worker with "--user UID GID"
 * (BUNBASE_FUNCTIONS_WORKER_USER, default nobody, resolved with getpwnam at start): the worker's
 * first act, before it reads anything, is setgroups(0)/setresgid/setresuid to that user, which
 * clears the two capabilities too. From the host the process is then that uid (not root in a user
 * namespace: a real unprivileged uid, no capability in any namespace). bwrap, as root, binds the
 * paths; inside, the worker can read only what that user may: the bundle's directory is made
 * world-readable by the deploy (fn_bundle_share: 0755/0644), the rest of the data directory is
 * never mounted (and stays bunbased's: 0700/0600). When bunbased is not root it is already
 * unprivileged: bwrap makes a user namespace as before and the worker keeps bunbased's uid. A
 * root bunbased whose worker user cannot be found refuses functions (/health says why).
 *
 * Inside, the worker sees, read-only: only the libraries it links (ldd at start, each bound at
 * its real directory, with the /lib and /lib64 links of a merged-/usr system so the loader finds
 * them; for Bun also those bun links) — no /usr wholesale, no /bin, no shell, no other program;
 * its own executable and the bundle's directory (for Bun also bun and worker.js); its own /proc (a
 * new pid namespace: only itself); a minimal /dev (null, zero, random, urandom, tty); nothing else
 * — no /etc, no data directory, no /tmp, no home. No network (a network namespace with only a down
 * loopback). It dies with its parent (bwrap, which dies with us). The inherited descriptors (the
 * socket, the log) pass through; the environment is the one bb_proc gives (the function's, nothing
 * of ours).
 *
 * Inside the worker (qjs_worker.c): rlimits (no core files, few descriptors, address space) and a
 * seccomp filter once the bundle is loaded, when built with libseccomp. Bun: the QuickJS worker
 * executable is its launcher (--exec-confined): the user switch, rlimits, then a seccomp filter
 * refusing process creation, ptrace, mount, keyctl, bpf, IP/packet/netlink sockets, execveat
 * and every execve but the launcher's own (the filter compares the filename pointer), then
 * execve(bun).
 *
 * BUNBASE_FUNCTIONS_SANDBOX: auto (bwrap when the probe passes; otherwise functions are refused
 * with 503 sandbox_unavailable and /health says why), bwrap (the probe must pass or the service
 * does not start), none (no namespaces, no user switch: trusted code only; /health says so).
 */
#include "fn_internal.h"
#include "bb_err.h"
#include "bb_proc.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "--perms 0755 --dir D" for every directory above path not made yet (top down), then
 * "--ro-bind path path". Returns the new n (unchanged when out of room: the bind is left out and
 * the worker fails to start, never runs with more than asked). */
static size_t bind_path(struct fn_sandbox_argv *out, size_t n, const char *src, const char *dst)
{
    char **a = out->argv;
    const size_t room = sizeof out->argv / sizeof out->argv[0] - 32; /* the inner command's */
    for (const char *sl = strchr(dst + 1, '/'); sl; sl = strchr(sl + 1, '/')) {
        size_t len = (size_t)(sl - dst);
        int seen = 0;
        for (size_t i = 0; i < out->nmade && !seen; i++)
            seen = strlen(out->made[i]) == len && !memcmp(out->made[i], dst, len);
        if (seen) continue;
        if (out->nmade == sizeof out->made / sizeof out->made[0] ||
            out->used + len + 1 > sizeof out->pool || n + 4 > room)
            return n;
        char *d = out->pool + out->used;
        memcpy(d, dst, len);
        d[len] = '\0';
        out->used += len + 1;
        out->made[out->nmade++] = d;
        a[n++] = "--perms";
        a[n++] = "0755";
        a[n++] = "--dir";
        a[n++] = d;
    }
    if (n + 3 > room) return n;
    a[n++] = "--ro-bind";
    a[n++] = (char *)src;
    a[n++] = (char *)dst;
    return n;
}

static size_t prefix(const struct fn_config *cfg, int runtime, const char *exe,
                     const char *const *files, struct fn_sandbox_argv *out)
{
    char **a = out->argv;
    size_t n = 0;
    out->used = 0;
    out->nmade = 0;
    a[n++] = (char *)cfg->bwrap_path;
    static const char *const ns_user[] = {"--unshare-all"};
    /* root makes the namespaces itself; the worker then becomes the worker user (--user) */
    static const char *const ns_root[] = {
        "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
        "--cap-add",     "CAP_SETUID",    "--cap-add",     "CAP_SETGID"};
    static const char *const fixed[] = {"--die-with-parent", "--proc", "/proc", "--dev", "/dev",
                                        "--chdir",           "/"};
    a[n++] = "--cap-drop";
    a[n++] = "ALL";
    if (cfg->switch_user)
        for (size_t i = 0; i < sizeof ns_root / sizeof ns_root[0]; i++)
            a[n++] = (char *)ns_root[i];
    else
        a[n++] = (char *)ns_user[0];
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        a[n++] = (char *)fixed[i];
    /* the libraries, each at its real directory, with the /lib and /lib64 links of a merged-/usr
     * system so the loader (its path is written in the executables) and its search find them */
    static const char *const links[] = {"--symlink", "usr/lib",   "/lib",
                                        "--symlink", "usr/lib64", "/lib64"};
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
        a[n++] = (char *)links[i];
    size_t nlibs = runtime == FN_RUNTIME_BUN ? cfg->nlibs : cfg->nworker_libs;
    for (size_t i = 0; i < nlibs; i++)
        n = bind_path(out, n, cfg->libs[i].src, cfg->libs[i].dst);
    n = bind_path(out, n, exe, exe);
    for (size_t i = 0; files && files[i] && i < FN_SANDBOX_MAX_FILES; i++)
        n = bind_path(out, n, files[i], files[i]);
    a[n++] = "--";
    return n;
}

void fn_sandbox_command(const struct fn_config *cfg, int runtime, const char *const *files,
                        char *const *inner, struct fn_sandbox_argv *out)
{
    size_t n = cfg->sandbox ? prefix(cfg, runtime, inner[0], files, out) : 0;
    const size_t cap = sizeof out->argv / sizeof out->argv[0] - 1;
    for (size_t i = 0; inner[i] && n + 3 < cap; i++) {
        out->argv[n++] = inner[i];
        if (i == 0 && cfg->sandbox && cfg->switch_user) {
            snprintf(out->uid, sizeof out->uid, "%u", (unsigned)cfg->user.uid);
            snprintf(out->gid, sizeof out->gid, "%u", (unsigned)cfg->user.gid);
            out->argv[n++] = "--user";
            out->argv[n++] = out->uid;
            out->argv[n++] = out->gid;
        }
    }
    out->argv[n] = NULL;
}

/* The libraries exe links, from ldd's lines ("libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (…)",
 * "/lib64/ld-linux-x86-64.so.2 (…)"), appended to cfg->libs once each: src the path ldd gave,
 * dst the same name in its directory's real path (/lib/x86_64-linux-gnu →
 * /usr/lib/x86_64-linux-gnu: the loader, without /etc/ld.so.cache, searches there through the /lib
 * link). 0 or -1. */
static int add_libs(struct fn_config *cfg, const char *exe)
{
    char *argv[] = {"/usr/bin/ldd", (char *)exe, NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", "LC_ALL=C", NULL};
    struct bb_proc_spec spec = {.argv = argv, .envp = envp, .stdout_fd = -1};
    char out[8192] = "";
    int code = -1;
    if (bb_proc_run(&spec, 10000, out, sizeof out, &code) != 0 || code != 0) return -1;
    for (char *save = NULL, *line = strtok_r(out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *p = strstr(line, "=> ");
        p = p ? p + 3 : line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '/') continue; /* linux-vdso.so.1, "not found" */
        char *end = strchr(p, ' ');
        if (end) *end = '\0';
        char *base = strrchr(p, '/'), dir[PATH_MAX], real[PATH_MAX];
        snprintf(dir, sizeof dir, "%.*s", (int)(base - p), p);
        if (!realpath(dir[0] ? dir : "/", real)) return -1;
        struct fn_mount m;
        if (snprintf(m.src, sizeof m.src, "%s", p) >= (int)sizeof m.src ||
            snprintf(m.dst, sizeof m.dst, "%s%s", real, base) >= (int)sizeof m.dst)
            return -1;
        int seen = 0;
        for (size_t i = 0; i < cfg->nlibs && !seen; i++)
            seen = !strcmp(cfg->libs[i].dst, m.dst);
        if (seen) continue;
        if (cfg->nlibs == FN_MAX_LIBS) return -1;
        cfg->libs[cfg->nlibs++] = m;
    }
    return 0;
}

int fn_sandbox_probe(struct fn_config *cfg, char *err, size_t errcap)
{
    cfg->sandbox = 0;
    cfg->sandbox_refused = 0;
    cfg->switch_user = 0;
    cfg->nlibs = cfg->nworker_libs = 0;
    if (cfg->worker_missing) {
        cfg->sandbox_refused = 1;
        snprintf(cfg->sandbox_why, sizeof cfg->sandbox_why,
                 "unavailable: the QuickJS worker %.120s is not built (scripts/setup.sh, then "
                 "build); functions are refused",
                 cfg->worker_path);
        return 0;
    }
    if (!strcmp(cfg->sandbox_mode, "none")) {
        snprintf(cfg->sandbox_why, sizeof cfg->sandbox_why,
                 "none (BUNBASE_FUNCTIONS_SANDBOX=none: workers run without namespaces, as "
                 "bunbased's user)");
        return 0;
    }
    const char *why = NULL;
    char whybuf[200];
    char out[512] = "";
    if (geteuid() == 0) { /* never run user code as root: switch to the worker user */
        int rc =
            cfg->worker_user[0] ? bb_proc_user_lookup(cfg->worker_user, &cfg->user) : BB_ENOTFOUND;
        if (rc == BB_EPERM) {
            snprintf(err, errcap, "BUNBASE_FUNCTIONS_WORKER_USER %s is root (uid 0)",
                     cfg->worker_user);
            return BB_EINVAL;
        }
        if (rc) {
            snprintf(whybuf, sizeof whybuf,
                     "bunbased is root and cannot run workers as BUNBASE_FUNCTIONS_WORKER_USER "
                     "'%.60s' (no such user)",
                     cfg->worker_user);
            why = whybuf;
        } else
            cfg->switch_user = 1;
    }
    if (why)
        ;
    else if (access(cfg->bwrap_path, X_OK) != 0)
        why = "bubblewrap is not installed (scripts/setup.sh installs it)";
    /* what the sandbox shows of the system: the libraries the worker links (all a QuickJS worker
     * sees), then bun's (Bun's view adds them; without them bun cannot start, said below) */
    else if (add_libs(cfg, cfg->worker_path) != 0)
        why = "the QuickJS worker's libraries cannot be listed (ldd failed)";
    else {
        /* the worker itself, in the sandbox, as its user, on no file: it must start and answer */
        cfg->nworker_libs = cfg->nlibs;
        cfg->sandbox = 1;
        char *inner[] = {cfg->worker_path, "--check", "/nonexistent.js", NULL};
        struct fn_sandbox_argv sa;
        char *envp[] = {NULL};
        int code = -1;
        fn_sandbox_command(cfg, FN_RUNTIME_QUICKJS, NULL, inner, &sa);
        struct bb_proc_spec spec = {.argv = sa.argv, .envp = envp, .stdout_fd = -1};
        bb_proc_run(&spec, 10000, out, sizeof out, &code);
        cfg->sandbox = 0;
        if (code != 1 || !strstr(out, "cannot open the bundle")) {
            if (cfg->switch_user) {
                snprintf(whybuf, sizeof whybuf,
                         "bubblewrap cannot create the namespaces here, or the worker cannot "
                         "become user %.60s",
                         cfg->user.name);
                why = whybuf;
            } else
                why = "bubblewrap cannot create the namespaces here";
        }
    }
    if (!why) {
        cfg->sandbox = 1;
        int bun_libs = access(cfg->bun_path, X_OK) == 0 && add_libs(cfg, cfg->bun_path) == 0;
        if (!bun_libs) cfg->nlibs = cfg->nworker_libs;
        char uid[96] = "";
        if (cfg->switch_user)
            snprintf(uid, sizeof uid, "; as user %.40s (uid %u)", cfg->user.name,
                     (unsigned)cfg->user.uid);
        else
            snprintf(uid, sizeof uid, "; as bunbased's user (uid %u)", (unsigned)geteuid());
        snprintf(cfg->sandbox_why, sizeof cfg->sandbox_why,
                 "bwrap (namespaces: %smount, pid, ipc, uts, net; read-only: the worker, its "
                 "libraries and the bundle%s%s)",
                 cfg->switch_user ? "" : "user, ",
                 bun_libs ? ", for Bun also bun and its libraries" : "; bun's libraries unknown",
                 uid);
        return 0;
    }
    if (!strcmp(cfg->sandbox_mode, "bwrap")) {
        snprintf(err, errcap, "functions: BUNBASE_FUNCTIONS_SANDBOX=bwrap but %s", why);
        return BB_EINVAL;
    }
    cfg->sandbox_refused = 1;
    cfg->switch_user = 0;
    snprintf(cfg->sandbox_why, sizeof cfg->sandbox_why,
             "unavailable: %s; functions are refused (set BUNBASE_FUNCTIONS_SANDBOX=none to run "
             "trusted code without it)",
             why);
    return 0;
}
