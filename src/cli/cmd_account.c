/* cmd_account.c — login, logout, whoami, profiles, health, version; reading input (files,
 * stdin, a password from the terminal without echo). */
#include "cli.h"

#include "bb_err.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#ifndef BB_VERSION
#define BB_VERSION "0.0.0-dev"
#endif

#define CLI_MAX_BODY (16u * 1024u * 1024u)
#define MAX_SECRET 1024

/* ---- input */

int cli_read_file(const char *path, size_t cap, char **out, size_t *len)
{
    int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
    *out = NULL;
    *len = 0;
    if (fd < 0) return errno == ENOENT ? BB_ENOTFOUND : BB_EIO;
    size_t n = 0, sz = 4096;
    char *buf = malloc(sz + 1);
    int rc = buf ? 0 : BB_ENOMEM;
    while (!rc) {
        if (n == sz) {
            if (sz >= cap) {
                rc = BB_ETOOBIG;
                break;
            }
            sz = sz * 2 > cap ? cap : sz * 2;
            char *nb = realloc(buf, sz + 1);
            if (!nb) {
                rc = BB_ENOMEM;
                break;
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + n, sz - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) rc = BB_EIO;
        else if (r == 0) break;
        else n += (size_t)r;
    }
    if (fd != STDIN_FILENO) close(fd);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

int cli_body(struct cli *c, char **out, size_t *len)
{
    const char *data = cli_opt(c, "data");
    const char *file = cli_opt(c, "f");
    if (data && file) return cli_usage_error(c, "give --data or -f, not both");
    if (data) {
        *len = strlen(data);
        if (!(*out = strdup(data))) return CLI_ESERVER;
        return 0;
    }
    if (!file) {
        if (isatty(STDIN_FILENO))
            return cli_usage_error(c, "no body: give --data JSON, -f FILE, or pipe it on stdin");
        file = "-";
    }
    int rc = cli_read_file(file, CLI_MAX_BODY, out, len);
    if (rc)
        return cli_fail(c, CLI_EUSAGE, "bad_input", "%s: %s%s", file, bb_strerror(rc),
                        rc == BB_ETOOBIG ? " (at most 16 MiB)" : "");
    return 0;
}

int cli_arg_or_body(struct cli *c, int i, const char *what, char **out, size_t *len)
{
    if (c->argc <= i) return cli_body(c, out, len);
    if (cli_opt(c, "data") || cli_opt(c, "f"))
        return cli_usage_error(c, "give the %s as an argument or with --data/-f, not both", what);
    *len = strlen(c->argv[i]);
    return (*out = strdup(c->argv[i])) ? 0 : CLI_ESERVER;
}

/* Reads one line (without its newline) from fd into buf; 0, or BB_ETOOBIG/BB_EIO/BB_ENOTFOUND
 * (end of input before anything). */
static int read_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return BB_EIO;
        if (r == 0) {
            if (n == 0) return BB_ENOTFOUND;
            break;
        }
        if (ch == '\n') break;
        if (n + 1 >= cap) return BB_ETOOBIG;
        buf[n++] = ch;
    }
    if (n > 0 && buf[n - 1] == '\r') n--;
    buf[n] = 0;
    return 0;
}

/* The terminal's settings while echo is off, so that a signal (Ctrl-C) restores them. */
static struct termios tty_saved;
static volatile sig_atomic_t tty_fd = -1;

static void tty_restore_and_die(int sig)
{
    if (tty_fd >= 0) {
        tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
        if (write(tty_fd, "\n", 1) < 0) { /* nothing to do */
        }
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Prompts on the controlling terminal; echo off for secrets (restored before returning, and by
 * SIGINT/SIGTERM/SIGHUP/SIGQUIT meanwhile). */
static int prompt_tty(const char *prompt, int secret, char *buf, size_t cap)
{
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return BB_ENOTFOUND;
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    struct sigaction sa, prev[4];
    struct termios old, t;
    int restore = 0;
    if (secret && tcgetattr(fd, &old) == 0) {
        t = old;
        t.c_lflag &= (tcflag_t) ~(ECHO | ECHONL);
        t.c_lflag |= ICANON;
        tty_saved = old;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = tty_restore_and_die;
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < 4; i++)
            sigaction(sigs[i], &sa, &prev[i]);
        tty_fd = fd;
        if (tcsetattr(fd, TCSAFLUSH, &t) == 0) restore = 1;
    }
    if (write(fd, prompt, strlen(prompt)) < 0) { /* nothing to do */
    }
    int rc = read_line(fd, buf, cap);
    if (restore) {
        tcsetattr(fd, TCSAFLUSH, &old);
        if (write(fd, "\n", 1) < 0) { /* nothing to do */
        }
    }
    if (secret && tty_fd >= 0) {
        tty_fd = -1;
        for (size_t i = 0; i < 4; i++)
            sigaction(sigs[i], &prev[i], NULL);
    }
    close(fd);
    return rc;
}

/* ---- commands */

int cmd_version(struct cli *c)
{
    if (c->json) {
        json_t *j = json_pack("{s:s}", "version", BB_VERSION);
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("bunbase %s\n", BB_VERSION);
    }
    return CLI_OK;
}

int cmd_health(struct cli *c)
{
    struct bb_httpc_response resp;
    int rc = cli_request(c, "GET", "/health", NULL, NULL, 0, CLI_REQ_NOAUTH, &resp);
    if (rc) return rc;
    fwrite(resp.body, 1, resp.body_len, stdout);
    if (resp.body_len == 0 || resp.body[resp.body_len - 1] != '\n') fputc('\n', stdout);
    rc = resp.status == 200 ? CLI_OK : CLI_ESERVER;
    if (rc) fprintf(stderr, "bunbase: %s/health: HTTP %ld\n", cli_base_url(c), resp.status);
    bb_httpc_response_release(&resp);
    return rc;
}

/* Stores auth (stolen) in the profile, with the URL used; makes the profile current when none is. */
static int save_login(struct cli *c, json_t *auth)
{
    char url[CLI_MAX_URL + 1];
    snprintf(url, sizeof url, "%s", cli_base_url(c));
    int rc = cli_config_begin(c);
    if (rc) {
        json_decref(auth);
        return rc;
    }
    json_t *p = cli_profile(c);
    json_object_set_new(p, "url", json_string(url));
    json_object_set_new(p, "auth", auth);
    if (!bb_json_str(c->config, "current", NULL))
        json_object_set_new(c->config, "current", json_string(c->profile));
    return cli_config_commit(c);
}

static int login_done(struct cli *c, const json_t *user, const char *kind)
{
    if (c->json) {
        json_t *o = json_pack("{s:b,s:s,s:s,s:s,s:O}", "ok", 1, "profile", c->profile, "url",
                              cli_base_url(c), "auth", kind, "user", user);
        cli_print_json(o);
        json_decref(o);
    } else {
        printf("Logged in to %s as %s (profile %s).\n", cli_base_url(c),
               bb_json_str(user, "email", "?"), c->profile);
    }
    return CLI_OK;
}

static int login_pat(struct cli *c, const char *token)
{
    if (strncmp(token, "bbp_", 4) || strlen(token) > MAX_SECRET)
        return cli_usage_error(c, "a personal access token starts with bbp_");
    /* try it before storing it */
    json_t *tmp = json_pack("{s:s,s:s}", "kind", "pat", "token", token);
    json_t *prof = cli_profile(c);
    json_t *old = json_incref(json_object_get(prof, "auth"));
    json_object_set(prof, "auth", tmp);
    json_t *me = NULL;
    int rc = cli_call(c, "GET", "/v1/auth/me", NULL, &me);
    if (old) json_object_set_new(prof, "auth", old);
    else json_object_del(prof, "auth");
    if (rc) {
        json_decref(tmp);
        return rc;
    }
    json_object_set_new(tmp, "email", json_string(bb_json_str(me, "email", "")));
    json_object_set_new(tmp, "user_id", json_string(bb_json_str(me, "id", "")));
    if ((rc = save_login(c, tmp))) {
        json_decref(me);
        return rc;
    }
    rc = login_done(c, me, "pat");
    json_decref(me);
    return rc;
}

int cmd_login(struct cli *c)
{
    char secret[MAX_SECRET + 1];
    const char *token = cli_opt(c, "token");
    if (cli_opt(c, "token-stdin")) {
        int rc = read_line(STDIN_FILENO, secret, sizeof secret);
        if (rc) return cli_usage_error(c, "--token-stdin: no token on standard input");
        token = secret;
    }
    if (token) return login_pat(c, token);

    char email[320];
    const char *e = cli_opt(c, "email");
    if (e) {
        snprintf(email, sizeof email, "%s", e);
    } else if (prompt_tty("Email: ", 0, email, sizeof email)) {
        return cli_usage_error(c, "no terminal to ask on: give --email and --password-stdin");
    }
    int rc;
    if (cli_opt(c, "password-stdin"))
        rc = read_line(STDIN_FILENO, secret, sizeof secret);
    else
        rc = prompt_tty("Password: ", 1, secret, sizeof secret);
    if (rc)
        return cli_usage_error(c, "no password (%s)", cli_opt(c, "password-stdin")
                                                            ? "nothing on standard input"
                                                            : "no terminal: use --password-stdin");
    json_t *body = json_pack("{s:s,s:s}", "email", email, "password", secret);
    explicit_bzero(secret, sizeof secret);
    json_t *ans = NULL;
    {
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        struct bb_httpc_response resp;
        rc = text ? cli_request(c, "POST", "/v1/auth/login", "application/json", text,
                                strlen(text), CLI_REQ_NOAUTH, &resp)
                  : CLI_ESERVER;
        if (text) {
            explicit_bzero(text, strlen(text));
            free(text);
        }
        if (rc) return rc;
        if (resp.status != 200) {
            rc = cli_fail_response(c, &resp);
            bb_httpc_response_release(&resp);
            return rc;
        }
        if (bb_json_parse(resp.body, resp.body_len, 64, &ans, NULL, 0) ||
            !bb_json_str(ans, "access_token", NULL) || !bb_json_str(ans, "refresh_token", NULL)) {
            bb_httpc_response_release(&resp);
            json_decref(ans);
            return cli_fail(c, CLI_ESERVER, "bad_answer", "login: unexpected answer");
        }
        bb_httpc_response_release(&resp);
    }
    json_t *user = json_object_get(ans, "user");
    if (!json_is_object(user)) {
        json_object_set_new(ans, "user", json_pack("{s:s}", "email", email));
        user = json_object_get(ans, "user");
    }
    json_t *auth = json_pack("{s:s,s:s,s:s,s:O,s:O,s:I,s:O}", "kind", "session", "email",
                             bb_json_str(user, "email", email), "user_id",
                             bb_json_str(user, "id", ""), "access_token",
                             json_object_get(ans, "access_token"), "refresh_token",
                             json_object_get(ans, "refresh_token"), "expires_at",
                             (json_int_t)bb_json_int(ans, "expires_at", 0), "session_id",
                             json_object_get(ans, "session_id") ? json_object_get(ans, "session_id")
                                                                : json_null());
    if ((rc = save_login(c, auth))) {
        json_decref(ans);
        return rc;
    }
    rc = login_done(c, user, "session");
    json_decref(ans);
    return rc;
}

int cmd_logout(struct cli *c)
{
    json_t *auth = json_object_get(cli_profile(c), "auth");
    int pat = !strcmp(bb_json_str(auth, "kind", ""), "pat");
    int revoked = 0;
    if (!pat) {
        struct bb_httpc_response resp;
        c->session_end_ok = 1;
        int rc = cli_request(c, "POST", "/v1/auth/logout", "application/json", "{}", 2, 0, &resp);
        c->session_end_ok = 0;
        if (rc == CLI_EAUTH) {
            /* the session had already ended (refresh refused): nothing left to revoke */
        } else if (rc) {
            return rc;
        } else if (resp.status == 200 || resp.status == 204 || resp.status == 401) {
            revoked = resp.status != 401;
            bb_httpc_response_release(&resp);
        } else {
            rc = cli_fail_response(c, &resp);
            bb_httpc_response_release(&resp);
            return rc;
        }
    }
    int rc = cli_config_begin(c);
    if (rc) return rc;
    json_object_del(cli_profile(c), "auth");
    if ((rc = cli_config_commit(c))) return rc;
    json_t *o = json_pack("{s:s,s:b}", "profile", c->profile, "session_revoked", revoked);
    cli_print_ok(c, o, "Logged out (profile %s)%s", c->profile,
                 pat ? ". The personal access token itself stays valid until it expires or is "
                       "revoked (DELETE /v1/auth/tokens/{id} from a session)."
                     : ".");
    return CLI_OK;
}

int cmd_whoami(struct cli *c)
{
    json_t *me = NULL;
    int rc = cli_call(c, "GET", "/v1/auth/me", NULL, &me);
    if (rc) return rc;
    if (c->json) {
        json_t *o = json_pack("{s:s,s:s,s:O}", "profile", c->profile, "url", cli_base_url(c),
                              "user", me);
        cli_print_json(o);
        json_decref(o);
    } else {
        static const char *const keys[] = {"email", "name", "id", "auth", "is_instance_admin"};
        cli_print_fields(me, keys, sizeof keys / sizeof keys[0]);
        printf("%-18s  %s\n%-18s  %s\n", "profile", c->profile, "url", cli_base_url(c));
        const char *proj = cli_project(c);
        if (proj) printf("%-18s  %s\n", "project", proj);
    }
    json_decref(me);
    return CLI_OK;
}

int cmd_profiles_list(struct cli *c)
{
    json_t *rows = json_array();
    const char *cur = bb_json_str(c->config, "current", "default");
    const char *name;
    json_t *p;
    json_object_foreach(json_object_get(c->config, "profiles"), name, p) {
        json_t *auth = json_object_get(p, "auth");
        json_array_append_new(
            rows, json_pack("{s:s,s:o,s:o,s:o,s:o,s:b}", "name", name, "url",
                            json_string(bb_json_str(p, "url", "")), "email",
                            auth ? json_string(bb_json_str(auth, "email", "")) : json_null(),
                            "auth", auth ? json_string(bb_json_str(auth, "kind", "")) : json_null(),
                            "project",
                            bb_json_str(p, "project", NULL)
                                ? json_string(bb_json_str(p, "project", ""))
                                : json_null(),
                            "current", !strcmp(name, cur)));
    }
    if (c->json) {
        json_t *o = json_pack("{s:s,s:O}", "current", cur, "profiles", rows);
        cli_print_json(o);
        json_decref(o);
    } else {
        static const char *const h[] = {"CURRENT", "NAME", "URL", "EMAIL", "AUTH", "PROJECT"};
        static const char *const k[] = {"mark", "name", "url", "email", "auth", "project"};
        for (size_t i = 0; i < json_array_size(rows); i++) {
            json_t *r = json_array_get(rows, i);
            json_object_set_new(r, "mark", json_string(json_is_true(json_object_get(r, "current"))
                                                           ? "*"
                                                           : ""));
        }
        cli_print_table(rows, h, k, 6);
    }
    json_decref(rows);
    return CLI_OK;
}

int cmd_profiles_use(struct cli *c)
{
    int rc = cli_config_begin(c);
    if (rc) return rc;
    if (!json_object_get(json_object_get(c->config, "profiles"), c->argv[0])) {
        cli_config_abort(c);
        return cli_fail(c, CLI_ENOTFOUND, "profile_not_found",
                        "no profile '%s' (bunbase profiles list)", c->argv[0]);
    }
    json_object_set_new(c->config, "current", json_string(c->argv[0]));
    if ((rc = cli_config_commit(c))) return rc;
    cli_print_ok(c, json_pack("{s:s}", "current", c->argv[0]), "Profile %s is now the default.",
                 c->argv[0]);
    return CLI_OK;
}

int cmd_profiles_remove(struct cli *c)
{
    int rc = cli_config_begin(c);
    if (rc) return rc;
    json_t *profiles = json_object_get(c->config, "profiles");
    if (json_object_del(profiles, c->argv[0]) != 0) {
        cli_config_abort(c);
        return cli_fail(c, CLI_ENOTFOUND, "profile_not_found", "no profile '%s'", c->argv[0]);
    }
    if (!strcmp(bb_json_str(c->config, "current", ""), c->argv[0]))
        json_object_del(c->config, "current");
    if ((rc = cli_config_commit(c))) return rc;
    cli_print_ok(c, json_pack("{s:s}", "removed", c->argv[0]), "Profile %s removed.", c->argv[0]);
    return CLI_OK;
}
