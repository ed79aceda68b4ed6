/* cli.h — the `bunbase` command-line tool's private contract between its files.
 *
 *   main.c          the command table (every subcommand, its arguments, options, flags, summary),
 *                   argument parsing, --help and shell completion generated from the table
 *   cli_config.c    $XDG_CONFIG_HOME/bunbase/config.json: profiles, credentials, the lock that
 *                   serializes writers (and token refreshes) across concurrent bunbase processes
 *   cli_http.c      requests to the control plane: base URL, credentials, refresh of an expired
 *                   access token, the one HTTP status -> exit code mapping, error printing
 *   cli_output.c    --json output and aligned tables
 *   cmd_account.c   login, logout, whoami, profiles, health, version
 *   cmd_projects.c  projects, members, keys
 *   cmd_db.c        db (collections, documents, query, import/export, indexes, rules)
 *   cmd_kv.c        kv, redis-url
 *   cmd_functions.c functions (init templates, deploy with bun bundling, invoke, logs, versions)
 *   cmd_auth.c      auth (the project's end users and its sign-in config)
 *
 * The CLI links bb_base and bb_httpc only, never the server. Single-threaded.
 */
#ifndef BB_CLI_H
#define BB_CLI_H

#include "bb_httpc.h"
#include "bb_json.h"

#include <limits.h>
#include <stdio.h>

/* Exit codes (docs/cli.md): one meaning each; cli_exit_for_status() maps HTTP statuses. */
enum {
    CLI_OK = 0,
    CLI_EUSAGE = 1,    /* bad arguments, bad input (also a 400/413/422 answer), bad config file */
    CLI_EAUTH = 2,     /* not logged in, 401, 403 */
    CLI_ENOTFOUND = 3, /* 404 */
    CLI_ECONFLICT = 4, /* 409, 412 */
    CLI_ESERVER = 5,   /* 5xx, 429, server unreachable, unexpected answer */
};

/* Command flags. */
enum {
    CLI_AUTH = 1 << 0,    /* needs a logged-in profile */
    CLI_PROJECT = 1 << 1, /* needs a project (--project or the profile's default) */
};

#define CLI_MAX_OPTS 16
#define CLI_MAX_ARGS 64
#define CLI_MAX_URL 2048

struct cli;

struct cli_cmd {
    const char *path;    /* "db collections list": the words that select the command */
    const char *args;    /* positional arguments for usage, e.g. "<collection> <id>" */
    const char *opts;    /* command options: "name" (a switch) or "name=" (takes a value), comma
                          * separated; one-letter names are given as -x, others as --name */
    int min_args, max_args;
    unsigned flags;      /* CLI_AUTH, CLI_PROJECT */
    int (*run)(struct cli *c);
    const char *summary;
};

struct cli {
    const struct cli_cmd *cmd;
    int argc;                       /* positional arguments after the command's words */
    char *argv[CLI_MAX_ARGS];
    int nopts;
    const char *opt_name[CLI_MAX_OPTS]; /* options given, as named in the table (no dashes) */
    const char *opt_val[CLI_MAX_OPTS];  /* value, or "" for a switch */

    /* global options */
    int json;
    const char *profile_flag;
    const char *url_flag;
    const char *project_flag;

    /* configuration (cli_config.c) */
    char config_dir[PATH_MAX];
    char config_path[PATH_MAX + 32];
    json_t *config;      /* the whole file; owned */
    const char *profile; /* selected profile name (borrowed from flags, env or config) */
    char profile_buf[128];
    int lock_fd;         /* >= 0 while the config lock is held */
    int session_end_ok;  /* logout: a session that already ended is not an error to print */
    const char *const *extra_headers; /* more "Name: value" lines for cli_request (invoke) */
};

/* ---- main.c */
const char *cli_opt(const struct cli *c, const char *name); /* value, "" for a switch, or NULL */
int cli_usage_error(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- cli_config.c */
/* Finds the config path and loads it (a missing file is an empty config). Refuses a file that is
 * group/world accessible or not the user's own (CLI_EUSAGE, with a message saying what to do). */
int cli_config_load(struct cli *c);
/* Takes the lock and re-reads the file (another process may have changed it), so that a
 * read-modify-write is atomic across processes. Pair with cli_config_commit or _abort. */
int cli_config_begin(struct cli *c);
int cli_config_commit(struct cli *c); /* writes atomically with mode 0600, releases the lock */
void cli_config_abort(struct cli *c);
void cli_config_release(struct cli *c);
/* The selected profile's object (created empty when absent; borrowed from c->config). */
json_t *cli_profile(struct cli *c);
/* Server URL: --url, the profile's url, $BUNBASE_URL, http://127.0.0.1:3001; no trailing '/'. */
const char *cli_base_url(struct cli *c);
/* Project id: --project, else the profile's default; NULL when neither. */
const char *cli_project(struct cli *c);
/* An integer environment knob (BUNBASE_CLI_*): dflt when unset, empty or outside [min, max]. */
long cli_env_long(const char *name, long dflt, long min, long max);

/* ---- cli_http.c */
int cli_exit_for_status(long status);
/* Flags of cli_request. */
enum { CLI_REQ_NOAUTH = 1 << 0, CLI_REQ_RAW = 1 << 1 };
/* method path (starting with '/') on the profile's server with its credential; refreshes an
 * expired access token first (and once more after a 401 token_expired). 0 and *resp (any status;
 * caller releases) or an exit code after printing why (transport error, not logged in). */
int cli_request(struct cli *c, const char *method, const char *path, const char *ctype,
                const void *body, size_t body_len, unsigned flags, struct bb_httpc_response *resp);
/* JSON in, JSON out. body: borrowed, may be NULL. On 2xx: 0 and *out (new reference; JSON null
 * when the answer is empty). Otherwise prints the server's error and returns its exit code. */
int cli_call(struct cli *c, const char *method, const char *path, const json_t *body,
             json_t **out);
/* Prints the error answer (human on stderr; with --json also as JSON on stdout); exit code. */
int cli_fail_response(struct cli *c, const struct bb_httpc_response *resp);
/* A local error: message on stderr (with --json also {"error":…} on stdout); returns code. */
int cli_fail(struct cli *c, int code, const char *machine_code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Percent-encodes s (every byte but unreserved ones) into out; BB_ETOOBIG when it does not fit. */
int cli_pct_encode(const char *s, size_t len, char *out, size_t cap);

/* ---- cli_output.c */
void cli_print_json(const json_t *j); /* compact, one line */
/* Aligned table of an array of objects: column i is headers[i] and reads key keys[i] (dot paths
 * not supported; a missing value prints "-"). */
void cli_print_table(const json_t *rows, const char *const *headers, const char *const *keys,
                     size_t ncols);
/* "key: value" lines of an object's given keys. */
void cli_print_fields(const json_t *obj, const char *const *keys, size_t n);
/* The text of a scalar for tables (borrowed from buf or j). */
const char *cli_cell(const json_t *j, char *buf, size_t cap);
/* With --json one line, else indented JSON. */
void cli_print_pretty(struct cli *c, const json_t *j);
/* o[key] = the bytes as a string when they are UTF-8, else o[b64_key] = their base64. */
void cli_set_bytes(json_t *o, const char *key, const char *b64_key, const char *data, size_t len);
/* Raw bytes on stdout (a newline added on a terminal when they do not end with one). */
void cli_write_raw(const char *data, size_t len);
/* Prints {"ok":true, ...} for --json, or the message for humans. */
void cli_print_ok(struct cli *c, json_t *extra_stolen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Every value of a repeatable option, in order; returns how many (at most cap). */
int cli_opt_all(const struct cli *c, const char *name, const char **out, int cap);

/* ---- input helpers (cmd_account.c) */
/* Reads a whole file ("-" = stdin) of at most cap bytes; *out malloc'ed and NUL-terminated. */
int cli_read_file(const char *path, size_t cap, char **out, size_t *len);
/* The request body of a command: --data, -f FILE, or stdin when it is not a terminal. */
int cli_body(struct cli *c, char **out, size_t *len);
/* Argument i when given (then --data/-f are refused), else cli_body. what names it in errors. */
int cli_arg_or_body(struct cli *c, int i, const char *what, char **out, size_t *len);

/* ---- handlers */
#define CLI_HANDLER(n) int n(struct cli *c)
CLI_HANDLER(cmd_version);
CLI_HANDLER(cmd_health);
CLI_HANDLER(cmd_login);
CLI_HANDLER(cmd_logout);
CLI_HANDLER(cmd_whoami);
CLI_HANDLER(cmd_profiles_list);
CLI_HANDLER(cmd_profiles_use);
CLI_HANDLER(cmd_profiles_remove);
CLI_HANDLER(cmd_projects_list);
CLI_HANDLER(cmd_projects_create);
CLI_HANDLER(cmd_projects_use);
CLI_HANDLER(cmd_projects_delete);
CLI_HANDLER(cmd_members_list);
CLI_HANDLER(cmd_members_add);
CLI_HANDLER(cmd_members_role);
CLI_HANDLER(cmd_members_remove);
CLI_HANDLER(cmd_keys_list);
CLI_HANDLER(cmd_keys_regenerate);
CLI_HANDLER(cmd_db_coll_list);
CLI_HANDLER(cmd_db_coll_create);
CLI_HANDLER(cmd_db_coll_delete);
CLI_HANDLER(cmd_db_get);
CLI_HANDLER(cmd_db_put);
CLI_HANDLER(cmd_db_patch);
CLI_HANDLER(cmd_db_delete);
CLI_HANDLER(cmd_db_query);
CLI_HANDLER(cmd_db_import);
CLI_HANDLER(cmd_db_export);
CLI_HANDLER(cmd_db_idx_list);
CLI_HANDLER(cmd_db_idx_create);
CLI_HANDLER(cmd_db_idx_drop);
CLI_HANDLER(cmd_db_rules_get);
CLI_HANDLER(cmd_db_rules_set);
CLI_HANDLER(cmd_kv_get);
CLI_HANDLER(cmd_kv_set);
CLI_HANDLER(cmd_kv_del);
CLI_HANDLER(cmd_kv_keys);
CLI_HANDLER(cmd_kv_incr);
CLI_HANDLER(cmd_redis_url);
CLI_HANDLER(cmd_fn_init);
CLI_HANDLER(cmd_fn_deploy);
CLI_HANDLER(cmd_fn_list);
CLI_HANDLER(cmd_fn_delete);
CLI_HANDLER(cmd_fn_invoke);
CLI_HANDLER(cmd_fn_logs);
CLI_HANDLER(cmd_fn_versions);
CLI_HANDLER(cmd_fn_rollback);
CLI_HANDLER(cmd_auth_users_list);
CLI_HANDLER(cmd_auth_users_create);
CLI_HANDLER(cmd_auth_users_get);
CLI_HANDLER(cmd_auth_users_disable);
CLI_HANDLER(cmd_auth_users_enable);
CLI_HANDLER(cmd_auth_users_delete);
CLI_HANDLER(cmd_auth_config_get);
CLI_HANDLER(cmd_auth_config_set);

#endif
