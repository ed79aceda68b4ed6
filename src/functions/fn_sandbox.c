/* fn_sandbox.c — the workers' sandbox: bubblewrap (Debian's bwrap) around every worker and every
 * deploy-time check.
 *
 * Inside, the worker sees: /usr read-only (with the /lib, /lib64, /bin links of a merged-/usr
 * system: the C library, libcrypto), its own executable and the one bundle file read-only (for
 * the Bun runtime also worker.js), its own /proc (a new pid namespace: only itself), a minimal
 * /dev (null, zero, random, urandom, tty), nothing else — no /etc, no data directory, no
 * /tmp, no home. Namespaces: user (when possible), mount, pid, ipc, uts, cgroup and network (no
 * interface but a down loopback: no network at all). All capabilities are dropped; it dies with
 * its parent (bwrap, which dies with us). The inherited descriptors (the socket, the log) pass
 * through; the environment is the one bb_proc gives (the function's, nothing of ours).
 *
 * Inside the worker (qjs_worker.c): rlimits (no core files, few descriptors, address space) and a
 * seccomp filter once the bundle is loaded, when built with libseccomp.
 *
 * BUNBASE_FUNCTIONS_SANDBOX: auto (bwrap when the probe passes; otherwise functions are refused
 * with 503 sandbox_unavailable and /health says why), bwrap (the probe must pass or the service
 * does not start), none (no namespaces: trusted code only; /health says so).
 */
#include "fn_internal.h"
#include "bb_err.h"
#include "bb_proc.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static size_t prefix(const struct fn_config *cfg, const char *exe, const char *const *files,
                     char **a)
{
    size_t n = 0;
    a[n++] = (char *)cfg->bwrap_path;
    static const char *const fixed[] = {
        "--unshare-all", "--die-with-parent",
        "--cap-drop",    "ALL",
        "--ro-bind",     "/usr",
        "/usr",          "--symlink",
        "usr/lib",       "/lib",
        "--symlink",     "usr/lib64",
        "/lib64",        "--symlink",
        "usr/bin",       "/bin",
        "--proc",        "/proc",
        "--dev",         "/dev",
        "--chdir",       "/",
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        a[n++] = (char *)fixed[i];
    a[n++] = "--ro-bind";
    a[n++] = (char *)exe;
    a[n++] = (char *)exe;
    for (size_t i = 0; files && files[i] && i < 4; i++) {
        a[n++] = "--ro-bind";
        a[n++] = (char *)files[i];
        a[n++] = (char *)files[i];
    }
    a[n++] = "--";
    return n;
}

void fn_sandbox_command(const struct fn_config *cfg, const char *const *files, char *const *inner,
                        struct fn_sandbox_argv *out)
{
    size_t n = cfg->sandbox ? prefix(cfg, inner[0], files, out->argv) : 0;
    for (size_t i = 0; inner[i] && n < sizeof out->argv / sizeof out->argv[0] - 1; i++)
        out->argv[n++] = inner[i];
    out->argv[n] = NULL;
}

int fn_sandbox_probe(struct fn_config *cfg, char *err, size_t errcap)
{
    cfg->sandbox = 0;
    cfg->sandbox_refused = 0;
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
                 "none (BUNBASE_FUNCTIONS_SANDBOX=none: workers run without namespaces)");
        return 0;
    }
    const char *why = NULL;
    char out[512] = "";
    if (access(cfg->bwrap_path, X_OK) != 0)
        why = "bubblewrap is not installed (scripts/setup.sh installs it)";
    else {
        /* the worker itself, in the sandbox, on no file: it must start and answer usage (2) */
        cfg->sandbox = 1;
        char *inner[] = {cfg->worker_path, "--check", "/nonexistent.js", NULL};
        struct fn_sandbox_argv sa;
        fn_sandbox_command(cfg, NULL, inner, &sa);
        char *envp[] = {NULL};
        struct bb_proc_spec spec = {.argv = sa.argv, .envp = envp, .stdout_fd = -1};
        int code = -1;
        bb_proc_run(&spec, 10000, out, sizeof out, &code);
        cfg->sandbox = 0;
        if (code != 1 || !strstr(out, "cannot open the bundle"))
            why = "bubblewrap cannot create the namespaces here";
    }
    if (!why) {
        cfg->sandbox = 1;
        snprintf(cfg->sandbox_why, sizeof cfg->sandbox_why,
                 "bwrap (namespaces: user, mount, pid, ipc, uts, net; read-only /usr, worker, "
                 "bundle)");
        return 0;
    }
    if (!strcmp(cfg->sandbox_mode, "bwrap")) {
        snprintf(err, errcap, "functions: BUNBASE_FUNCTIONS_SANDBOX=bwrap but %s", why);
        return BB_EINVAL;
    }
    cfg->sandbox_refused = 1;
    snprintf(cfg->sandbox_why, sizeof cfg->sandbox_why,
             "unavailable: %s; functions are refused (set BUNBASE_FUNCTIONS_SANDBOX=none to run "
             "trusted code without it)",
             why);
    return 0;
}
