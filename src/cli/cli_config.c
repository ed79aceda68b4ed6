/* cli_config.c — the CLI's configuration: $XDG_CONFIG_HOME/bunbase/config.json (default
 * ~/.config/bunbase/config.json).
 *
 *   {"current": "<profile>",
 *    "profiles": {"<name>": {"url": "http://…", "project": "<projectId>",
 *                            "auth": {"kind": "session", "email", "user_id", "access_token",
 *                                     "refresh_token", "expires_at": <epoch s>, "session_id"}
 *                                  | {"kind": "pat", "email", "user_id", "token": "bbp_…"},
 *                            "secret_keys": {"<projectId>": "sk_…"}}}}
 *
 * It holds credentials, so it is written atomically (bb_fs_write_atomic: temp file, fsync, rename)
 * with mode 0600 in a 0700 directory, and a file that others may read or that is not the user's
 * own is refused rather than read. Writers (login, use, a token refresh…) take an exclusive
 * flock(2) on config.lock next to it and re-read the file under the lock, so two bunbase processes
 * never lose each other's changes and never spend the same refresh token twice (reuse of a refresh
 * token revokes the session, docs/platform.md).
 */
#include "cli.h"

#include "bb_err.h"
#include "bb_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAX_BYTES (1u << 20)
#define DEFAULT_URL "http://127.0.0.1:3001"

static int valid_profile_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

static int find_paths(struct cli *c)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    int n;
    if (xdg && xdg[0] == '/') {
        n = snprintf(c->config_dir, sizeof c->config_dir, "%s/bunbase", xdg);
    } else {
        const char *home = getenv("HOME");
        if (!home || home[0] != '/')
            return cli_fail(c, CLI_EUSAGE, "no_config_dir",
                            "neither $XDG_CONFIG_HOME nor $HOME is an absolute path");
        n = snprintf(c->config_dir, sizeof c->config_dir, "%s/.config/bunbase", home);
    }
    if (n < 0 || (size_t)n >= sizeof c->config_dir)
        return cli_fail(c, CLI_EUSAGE, "no_config_dir", "config directory path too long");
    snprintf(c->config_path, sizeof c->config_path, "%s/config.json", c->config_dir);
    return 0;
}

/* Reads the file into c->config (an empty config when it does not exist). */
static int read_config(struct cli *c)
{
    struct stat st;
    json_t *j = NULL;
    if (lstat(c->config_path, &st) != 0) {
        if (errno != ENOENT)
            return cli_fail(c, CLI_EUSAGE, "config_unreadable", "%s: %s", c->config_path,
                            strerror(errno));
        j = json_object();
    } else {
        if (!S_ISREG(st.st_mode))
            return cli_fail(c, CLI_EUSAGE, "config_insecure", "%s is not a regular file",
                            c->config_path);
        if (st.st_uid != geteuid())
            return cli_fail(c, CLI_EUSAGE, "config_insecure",
                            "%s belongs to another user; refusing to read credentials from it",
                            c->config_path);
        if (st.st_mode & 077)
            return cli_fail(c, CLI_EUSAGE, "config_insecure",
                            "%s is readable or writable by others (mode %04o): it holds "
                            "credentials. Run: chmod 600 %s (and consider logging in again)",
                            c->config_path, (unsigned)(st.st_mode & 07777), c->config_path);
        char *buf = malloc(CONFIG_MAX_BYTES);
        if (!buf) return cli_fail(c, CLI_ESERVER, "nomem", "out of memory");
        size_t len = 0;
        int rc = bb_fs_read_small(c->config_path, buf, CONFIG_MAX_BYTES, &len);
        char err[160];
        if (rc == 0) rc = bb_json_parse(buf, len, 16, &j, err, sizeof err);
        else snprintf(err, sizeof err, "%s", bb_strerror(rc));
        free(buf);
        if (rc || !json_is_object(j)) {
            json_decref(j);
            return cli_fail(c, CLI_EUSAGE, "config_invalid", "%s: %s", c->config_path,
                            rc ? err : "not a JSON object");
        }
    }
    if (!j) return cli_fail(c, CLI_ESERVER, "nomem", "out of memory");
    if (!json_is_object(json_object_get(j, "profiles")))
        json_object_set_new(j, "profiles", json_object());
    json_decref(c->config);
    c->config = j;
    return 0;
}

int cli_config_load(struct cli *c)
{
    int rc = find_paths(c);
    if (rc || (rc = read_config(c))) return rc;
    const char *name = c->profile_flag;
    if (!name || !*name) name = getenv("BUNBASE_CLI_PROFILE");
    if (!name || !*name) name = bb_json_str(c->config, "current", NULL);
    if (!name || !*name) name = "default";
    if (!valid_profile_name(name))
        return cli_fail(c, CLI_EUSAGE, "invalid_profile",
                        "profile names are 1-64 of [A-Za-z0-9_.-], not '%s'", name);
    snprintf(c->profile_buf, sizeof c->profile_buf, "%s", name);
    c->profile = c->profile_buf;
    return 0;
}

int cli_config_begin(struct cli *c)
{
    if (bb_fs_mkdir_p(c->config_dir, 0700) != 0)
        return cli_fail(c, CLI_EUSAGE, "config_unwritable", "cannot create %s: %s",
                        c->config_dir, strerror(errno));
    char lock[PATH_MAX + 32];
    snprintf(lock, sizeof lock, "%s/config.lock", c->config_dir);
    int fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return cli_fail(c, CLI_EUSAGE, "config_unwritable", "%s: %s", lock, strerror(errno));
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            close(fd);
            return cli_fail(c, CLI_EUSAGE, "config_unwritable", "lock %s: %s", lock,
                            strerror(errno));
        }
    }
    c->lock_fd = fd;
    int rc = read_config(c);
    if (rc) cli_config_abort(c);
    return rc;
}

void cli_config_abort(struct cli *c)
{
    if (c->lock_fd >= 0) {
        close(c->lock_fd); /* releases the flock */
        c->lock_fd = -1;
    }
}

int cli_config_commit(struct cli *c)
{
    char *text = json_dumps(c->config, JSON_INDENT(2) | JSON_SORT_KEYS);
    int rc = text ? bb_fs_write_atomic(c->config_path, text, strlen(text), 0600) : BB_ENOMEM;
    free(text);
    cli_config_abort(c);
    if (rc)
        return cli_fail(c, CLI_EUSAGE, "config_unwritable", "cannot write %s: %s",
                        c->config_path, bb_strerror(rc));
    return 0;
}

void cli_config_release(struct cli *c)
{
    cli_config_abort(c);
    json_decref(c->config);
    c->config = NULL;
}

json_t *cli_profile(struct cli *c)
{
    json_t *profiles = json_object_get(c->config, "profiles");
    json_t *p = json_object_get(profiles, c->profile);
    if (!json_is_object(p)) {
        p = json_object();
        json_object_set_new(profiles, c->profile, p);
    }
    return p;
}

const char *cli_base_url(struct cli *c)
{
    static char url[CLI_MAX_URL + 1];
    const char *u = c->url_flag;
    if (!u || !*u) u = c->config ? bb_json_str(cli_profile(c), "url", NULL) : NULL;
    if (!u || !*u) u = getenv("BUNBASE_URL");
    if (!u || !*u) u = DEFAULT_URL;
    size_t n = strlen(u);
    if (n > CLI_MAX_URL) n = CLI_MAX_URL;
    while (n > 0 && u[n - 1] == '/')
        n--;
    memcpy(url, u, n);
    url[n] = 0;
    return url;
}

const char *cli_project(struct cli *c)
{
    if (c->project_flag && *c->project_flag) return c->project_flag;
    const char *p = bb_json_str(cli_profile(c), "project", NULL);
    return p && *p ? p : NULL;
}

long cli_env_long(const char *name, long dflt, long min, long max)
{
    const char *t = getenv(name);
    if (!t || !*t) return dflt;
    char *end;
    errno = 0;
    long v = strtol(t, &end, 10);
    return (*end || errno || v < min || v > max) ? dflt : v;
}
