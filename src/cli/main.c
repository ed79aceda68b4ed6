/* main.c — the `bunbase` command-line tool: the command table and its dispatcher.
 *
 * Every subcommand is one row of `commands` (words, arguments, options, flags, handler, summary).
 * main() matches the longest row whose words start the command line, parses the rest against the
 * row's options and the global ones, checks the argument count, loads the config, checks the
 * row's flags (logged in, project known) and runs the handler. `--help` of every command, the
 * group listings and `bunbase completion bash|zsh` are generated from the same table.
 * Exit codes: cli.h (0 ok, 1 usage, 2 auth, 3 not found, 4 conflict, 5 server). docs/cli.md.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int cmd_help(struct cli *c);
static int cmd_completion(struct cli *c);

#define DATA_OPTS "data=,f="
static const struct cli_cmd commands[] = {
    /* account */
    {"login", "", "email=,password-stdin,token=,token-stdin", 0, 0, 0, cmd_login,
     "log in (password prompt without echo; --password-stdin; --token bbp_… or --token-stdin)"},
    {"logout", "", "", 0, 0, CLI_AUTH, cmd_logout, "end the session on the server, forget it here"},
    {"whoami", "", "", 0, 0, CLI_AUTH, cmd_whoami, "the logged-in developer"},
    {"profiles list", "", "", 0, 0, 0, cmd_profiles_list, "profiles (one per control plane)"},
    {"profiles use", "<name>", "", 1, 1, 0, cmd_profiles_use, "make a profile the default"},
    {"profiles remove", "<name>", "", 1, 1, 0, cmd_profiles_remove,
     "forget a profile (log out first to end its session)"},
    /* projects */
    {"projects list", "", "", 0, 0, CLI_AUTH, cmd_projects_list, "your projects"},
    {"projects create", "<name>", "slug=", 1, 1, CLI_AUTH, cmd_projects_create,
     "create a project (prints its keys once) and make it the default"},
    {"projects use", "<projectId>", "", 1, 1, CLI_AUTH, cmd_projects_use,
     "make a project the profile's default"},
    {"projects delete", "<projectId>", "yes", 1, 1, CLI_AUTH, cmd_projects_delete,
     "delete a project and its data (needs --yes)"},
    {"members list", "", "", 0, 0, CLI_AUTH | CLI_PROJECT, cmd_members_list, "project members"},
    {"members add", "<email>", "role=", 1, 1, CLI_AUTH | CLI_PROJECT, cmd_members_add,
     "add a developer (role admin, member (default) or viewer)"},
    {"members role", "<userId|email> <role>", "", 2, 2, CLI_AUTH | CLI_PROJECT, cmd_members_role,
     "change a member's role"},
    {"members remove", "<userId|email>", "", 1, 1, CLI_AUTH | CLI_PROJECT, cmd_members_remove,
     "remove a member"},
    {"keys list", "", "", 0, 0, CLI_AUTH | CLI_PROJECT, cmd_keys_list, "active project keys"},
    {"keys regenerate", "<keyId|pk|sk>", "", 1, 1, CLI_AUTH | CLI_PROJECT, cmd_keys_regenerate,
     "revoke a key and print its replacement (shown once)"},
    /* documents */
    {"db collections list", "", "", 0, 0, CLI_AUTH | CLI_PROJECT, cmd_db_coll_list, "collections"},
    {"db collections create", "<name>", "rules=,schema=", 1, 1, CLI_AUTH | CLI_PROJECT,
     cmd_db_coll_create, "create a collection (rules and schema as JSON)"},
    {"db collections delete", "<name>", "", 1, 1, CLI_AUTH | CLI_PROJECT, cmd_db_coll_delete,
     "delete a collection and its documents"},
    {"db get", "<collection> <id>", "", 2, 2, CLI_AUTH | CLI_PROJECT, cmd_db_get,
     "read a document"},
    {"db put", "<collection> <id>", DATA_OPTS, 2, 2, CLI_AUTH | CLI_PROJECT, cmd_db_put,
     "create or replace a document (body: --data, -f FILE or stdin)"},
    {"db patch", "<collection> <id>", DATA_OPTS, 2, 2, CLI_AUTH | CLI_PROJECT, cmd_db_patch,
     "merge a patch into a document (dot paths, $unset)"},
    {"db delete", "<collection> <id>", "", 2, 2, CLI_AUTH | CLI_PROJECT, cmd_db_delete,
     "delete a document"},
    {"db query", "<collection> [filter]", "explain,limit=,sort=,fields=,cursor=,count", 1, 2,
     CLI_AUTH | CLI_PROJECT, cmd_db_query,
     "query with a filter in the query language (JSON), e.g. '{\"n\":{\"$gte\":2}}'"},
    {"db import", "<collection> <file.ndjson|->", "batch=,skip=,upsert", 2, 2,
     CLI_AUTH | CLI_PROJECT, cmd_db_import,
     "create documents from NDJSON, in batches (one transaction each); --upsert replaces existing"},
    {"db export", "<collection>", "cursor=,batch=", 1, 1, CLI_AUTH | CLI_PROJECT, cmd_db_export,
     "write every document as NDJSON to stdout (resumable with --cursor)"},
    {"db indexes list", "<collection>", "", 1, 1, CLI_AUTH | CLI_PROJECT, cmd_db_idx_list,
     "indexes of a collection"},
    {"db indexes create", "<collection> <name> <field>...", "unique", 3, CLI_MAX_ARGS,
     CLI_AUTH | CLI_PROJECT, cmd_db_idx_create, "create an index (descending: -- -field)"},
    {"db indexes drop", "<collection> <name>", "", 2, 2, CLI_AUTH | CLI_PROJECT, cmd_db_idx_drop,
     "drop an index"},
    {"db rules get", "<collection>", "", 1, 1, CLI_AUTH | CLI_PROJECT, cmd_db_rules_get,
     "a collection's rules"},
    {"db rules set", "<collection> [rules JSON]", DATA_OPTS, 1, 2, CLI_AUTH | CLI_PROJECT,
     cmd_db_rules_set, "replace a collection's rules (null removes them)"},
    /* key-value */
    {"kv get", "<key>", "", 1, 1, CLI_AUTH | CLI_PROJECT, cmd_kv_get, "print a value (raw bytes)"},
    {"kv set", "<key> [value]", DATA_OPTS ",ttl=", 1, 2, CLI_AUTH | CLI_PROJECT, cmd_kv_set,
     "set a value (argument, --data, -f FILE or stdin); --ttl SECONDS"},
    {"kv del", "<key>", "", 1, 1, CLI_AUTH | CLI_PROJECT, cmd_kv_del, "delete a key"},
    {"kv incr", "<key> [by]", "", 1, 2, CLI_AUTH | CLI_PROJECT, cmd_kv_incr,
     "add an integer (default 1) to a key atomically; prints the new value"},
    {"kv keys", "[pattern]", "long", 0, 1, CLI_AUTH | CLI_PROJECT, cmd_kv_keys,
     "keys matching a glob (default *); --long: with type and remaining TTL"},
    {"redis-url", "", "redis=", 0, 0, CLI_AUTH | CLI_PROJECT, cmd_redis_url,
     "print a ready redis-cli command for the project's key-value store"},
    /* functions */
    {"functions init", "<dir>", "runtime=,name=,typescript", 1, 1, 0, cmd_fn_init,
     "write a function template (--runtime quickjs (JS) or bun (TypeScript)) and bunbase.json"},
    {"functions deploy", "[dir]", "name=,runtime=,entry=,bundle,no-activate", 0, 1,
     CLI_AUTH | CLI_PROJECT, cmd_fn_deploy,
     "deploy a function directory (TypeScript is bundled with bun; JavaScript sent as is)"},
    {"functions list", "", "", 0, 0, CLI_AUTH | CLI_PROJECT, cmd_fn_list, "the project's functions"},
    {"functions delete", "<name>", "yes", 1, 1, CLI_AUTH | CLI_PROJECT, cmd_fn_delete,
     "delete a function, its versions and logs (needs --yes)"},
    {"functions invoke", "<name>", DATA_OPTS ",X=,H=,query=", 1, 1, CLI_AUTH | CLI_PROJECT,
     cmd_fn_invoke,
     "call a function (body: --data, -f FILE or stdin; -X METHOD, -H 'K: V'); prints its answer"},
    {"functions logs", "<name>", "limit=,f,follow", 1, 1, CLI_AUTH | CLI_PROJECT, cmd_fn_logs,
     "recent invocations with their console output; -f follows (Ctrl-C ends)"},
    {"functions versions", "<name>", "", 1, 1, CLI_AUTH | CLI_PROJECT, cmd_fn_versions,
     "a function's versions, newest first"},
    {"functions rollback", "<name>", "to=", 1, 1, CLI_AUTH | CLI_PROJECT, cmd_fn_rollback,
     "activate the version before the active one (or --to N)"},
    /* the project's end users (tenant auth) */
    {"auth users list", "", "limit=,cursor=", 0, 0, CLI_AUTH | CLI_PROJECT, cmd_auth_users_list,
     "the app's users (50 a page; the next page's cursor goes to stderr)"},
    {"auth users create", "<email>", "name=,password-stdin,verified", 1, 1, CLI_AUTH | CLI_PROJECT,
     cmd_auth_users_create, "create a user (password: first line of stdin with --password-stdin)"},
    {"auth users get", "<userId>", "", 1, 1, CLI_AUTH | CLI_PROJECT, cmd_auth_users_get,
     "show a user"},
    {"auth users disable", "<userId>", "", 1, 1, CLI_AUTH | CLI_PROJECT, cmd_auth_users_disable,
     "stop a user from signing in (their sessions end)"},
    {"auth users enable", "<userId>", "", 1, 1, CLI_AUTH | CLI_PROJECT, cmd_auth_users_enable,
     "let a disabled user sign in again"},
    {"auth users delete", "<userId>", "", 1, 1, CLI_AUTH | CLI_PROJECT, cmd_auth_users_delete,
     "delete a user"},
    {"auth config get", "", "", 0, 0, CLI_AUTH | CLI_PROJECT, cmd_auth_config_get,
     "the project's sign-in config (client secrets only as client_secret_set)"},
    {"auth config set", "[config JSON]", DATA_OPTS, 0, 1, CLI_AUTH | CLI_PROJECT,
     cmd_auth_config_set, "replace the config sections given (argument, --data, -f or stdin)"},
    /* tool */
    {"health", "", "", 0, 0, 0, cmd_health, "check the server's /health"},
    {"version", "", "", 0, 0, 0, cmd_version, "print the version"},
    {"completion", "<bash|zsh>", "", 1, 1, 0, cmd_completion,
     "print a shell completion script (eval \"$(bunbase completion bash)\")"},
    {"help", "[command]", "", 0, CLI_MAX_ARGS, 0, cmd_help, "help on a command"},
};
#define NCMDS (sizeof commands / sizeof commands[0])

/* Global options: valid with every command. */
static const char GLOBAL_OPTS[] = "json,profile=,url=,project=,help,h";

/* ---- table helpers */

/* Number of words of path; the first n words of argv equal them? */
static int words_match(const char *path, char **argv, int argc, int *nwords)
{
    int n = 0;
    const char *p = path;
    while (*p) {
        const char *e = strchr(p, ' ');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (n >= argc || strlen(argv[n]) != len || strncmp(argv[n], p, len)) return 0;
        n++;
        p += len;
        if (*p == ' ') p++;
    }
    *nwords = n;
    return 1;
}

/* Does command path start with the given words (a group prefix)? */
static int has_prefix(const char *path, char **words, int n)
{
    const char *p = path;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(words[i]);
        if (strncmp(p, words[i], len) || (p[len] != ' ' && p[len] != 0)) return 0;
        p += len;
        if (*p == ' ') p++;
        else if (i + 1 < n) return 0;
    }
    return 1;
}

/* Looks name up in an option spec: 0 not there, 1 a switch, 2 takes a value. */
static int spec_find(const char *spec, const char *name, size_t nlen)
{
    const char *p = spec;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        int val = len > 0 && p[len - 1] == '=';
        size_t ilen = val ? len - 1 : len;
        if (ilen == nlen && !strncmp(p, name, nlen)) return val ? 2 : 1;
        p += len;
        if (*p == ',') p++;
    }
    return 0;
}

static void print_opts(FILE *f, const char *spec)
{
    const char *p = spec;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        int val = len > 0 && p[len - 1] == '=';
        size_t ilen = val ? len - 1 : len;
        fprintf(f, " [%s%.*s%s]", ilen == 1 ? "-" : "--", (int)ilen, p, val ? " VALUE" : "");
        p += len;
        if (*p == ',') p++;
    }
}

static void cmd_usage(FILE *f, const struct cli_cmd *cmd)
{
    fprintf(f, "usage: bunbase %s%s%s", cmd->path, *cmd->args ? " " : "", cmd->args);
    print_opts(f, cmd->opts);
    fprintf(f, " [--json]\n  %s\n", cmd->summary);
}

static void list_commands(FILE *f, char **words, int n)
{
    fprintf(f, "usage: bunbase <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < NCMDS; i++) {
        if (!has_prefix(commands[i].path, words, n)) continue;
        char left[96];
        snprintf(left, sizeof left, "%s%s%s", commands[i].path, *commands[i].args ? " " : "",
                 commands[i].args);
        fprintf(f, "  %-42s %s\n", left, commands[i].summary);
    }
    fprintf(f, "\nglobal options: --json (machine-readable output, docs/cli.md), --profile NAME,\n"
               "  --url URL, --project ID, --help\n"
               "exit codes: 0 ok, 1 usage, 2 auth, 3 not found, 4 conflict, 5 server\n");
}

static int cmd_help(struct cli *c)
{
    for (size_t i = 0; i < NCMDS; i++) {
        int nw;
        if (c->argc > 0 && words_match(commands[i].path, c->argv, c->argc, &nw) && nw == c->argc) {
            cmd_usage(stdout, &commands[i]);
            return CLI_OK;
        }
    }
    list_commands(stdout, c->argv, c->argc);
    return CLI_OK;
}

/* ---- completion, generated from the table */

/* The distinct words that follow prefix ("" = the first word) in the table, space separated. */
static void next_words(FILE *f, const char *prefix)
{
    size_t pl = strlen(prefix);
    char printed[64][32];
    size_t np = 0;
    for (size_t j = 0; j < NCMDS; j++) {
        const char *q = commands[j].path;
        if (pl && (strncmp(q, prefix, pl) || q[pl] != ' ')) continue;
        const char *w = pl ? q + pl + 1 : q;
        size_t wl = strcspn(w, " ");
        if (wl == 0 || wl >= sizeof printed[0]) continue;
        int dup = 0;
        for (size_t k = 0; k < np; k++)
            if (strlen(printed[k]) == wl && !strncmp(printed[k], w, wl)) dup = 1;
        if (dup || np >= 64) continue;
        snprintf(printed[np], sizeof printed[np], "%.*s", (int)wl, w);
        fprintf(f, "%s%s", np ? " " : "", printed[np]);
        np++;
    }
}

/* A shell `case` on the command words typed so far: a group prefix completes to the words that
 * may follow it, a whole command to its options. */
static void completion_cases(FILE *f)
{
    char seen[128][96];
    size_t nseen = 0;
    for (size_t i = 0; i < NCMDS; i++) {
        const char *path = commands[i].path;
        for (size_t end = 0;; end++) {
            if (end > 0 && path[end] != ' ' && path[end] != 0) continue;
            if (path[end] == 0) break;
            char prefix[96];
            snprintf(prefix, sizeof prefix, "%.*s", (int)end, path);
            int dup = 0;
            for (size_t k = 0; k < nseen; k++)
                dup |= !strcmp(seen[k], prefix);
            if (dup || nseen >= 128) continue;
            snprintf(seen[nseen++], sizeof seen[0], "%s", prefix);
            fprintf(f, "    \"%s\") w=\"", prefix);
            next_words(f, prefix);
            fprintf(f, "\";;\n");
        }
        fprintf(f, "    \"%s\") w=\"--json --profile --url --project --help", path);
        const char *o = commands[i].opts;
        while (*o) {
            size_t len = strcspn(o, ",");
            size_t il = len > 0 && o[len - 1] == '=' ? len - 1 : len;
            fprintf(f, " %s%.*s", il == 1 ? "-" : "--", (int)il, o);
            o += len;
            if (*o == ',') o++;
        }
        fprintf(f, "\";;\n");
    }
}

static int cmd_completion(struct cli *c)
{
    const char *sh = c->argv[0];
    int zsh = !strcmp(sh, "zsh");
    if (!zsh && strcmp(sh, "bash")) return cli_usage_error(c, "completion: 'bash' or 'zsh'");
    FILE *f = stdout;
    fprintf(f, "# bunbase completion for %s, generated from the command table\n", sh);
    if (zsh) fprintf(f, "#compdef bunbase\n");
    fprintf(f, "_bunbase_words() {\n  local w=\"\"\n  case \"$1\" in\n");
    completion_cases(f);
    fprintf(f, "  esac\n  printf '%%s' \"$w\"\n}\n");
    /* the prefix is the longest run of non-option words (global options' values skipped) */
    fprintf(f, "_bunbase_prefix() {\n"
               "  local p=\"\" skip=0 a\n"
               "  for a in \"$@\"; do\n"
               "    if [ $skip = 1 ]; then skip=0; continue; fi\n"
               "    case \"$a\" in --profile|--url|--project) skip=1;; -*) ;; *)\n"
               "      if [ -n \"$(_bunbase_words \"${p:+$p }$a\")\" ]; then p=\"${p:+$p }$a\"; "
               "else break; fi;;\n"
               "    esac\n  done\n  printf '%%s' \"$p\"\n}\n");
    if (!zsh) {
        fprintf(f, "_bunbase() {\n"
                   "  local cur=\"${COMP_WORDS[COMP_CWORD]}\"\n"
                   "  local p; p=\"$(_bunbase_prefix \"${COMP_WORDS[@]:1:COMP_CWORD-1}\")\"\n"
                   "  COMPREPLY=( $(compgen -W \"$(_bunbase_words \"$p\")\" -- \"$cur\") )\n"
                   "}\ncomplete -F _bunbase bunbase\n");
    } else {
        fprintf(f, "_bunbase() {\n"
                   "  local p; p=\"$(_bunbase_prefix \"${(@)words[2,CURRENT-1]}\")\"\n"
                   "  compadd -- ${=$(_bunbase_words \"$p\")}\n"
                   "}\ncompdef _bunbase bunbase\n");
    }
    return CLI_OK;
}

/* ---- parsing */

const char *cli_opt(const struct cli *c, const char *name)
{
    for (int i = 0; i < c->nopts; i++)
        if (!strcmp(c->opt_name[i], name)) return c->opt_val[i];
    return NULL;
}

int cli_opt_all(const struct cli *c, const char *name, const char **out, int cap)
{
    int n = 0;
    for (int i = 0; i < c->nopts && n < cap; i++)
        if (!strcmp(c->opt_name[i], name)) out[n++] = c->opt_val[i];
    return n;
}

int cli_usage_error(struct cli *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int rc = cli_fail(c, CLI_EUSAGE, "usage", "%s", msg);
    if (c->cmd) cmd_usage(stderr, c->cmd);
    return rc;
}

/* Parses argv[from..) against the command's and the global options. */
static int parse_rest(struct cli *c, int argc, char **argv, int from)
{
    int dashdash = 0;
    for (int i = from; i < argc; i++) {
        char *a = argv[i];
        if (dashdash || a[0] != '-' || a[1] == 0) {
            if (c->argc >= CLI_MAX_ARGS) return cli_usage_error(c, "too many arguments");
            c->argv[c->argc++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            dashdash = 1;
            continue;
        }
        const char *name = a + (a[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        /* one-letter options take one dash, longer ones two */
        if ((a[1] == '-') != (nlen > 1)) return cli_usage_error(c, "unknown option '%s'", a);
        int kind = c->cmd ? spec_find(c->cmd->opts, name, nlen) : 0;
        int global = 0;
        if (!kind) kind = spec_find(GLOBAL_OPTS, name, nlen), global = 1;
        if (!kind) return cli_usage_error(c, "unknown option '%s'", a);
        const char *val = "";
        if (kind == 2) {
            if (eq) val = eq + 1;
            else if (i + 1 < argc) val = argv[++i];
            else return cli_usage_error(c, "option '%.*s' needs a value", (int)nlen, name);
        } else if (eq) {
            return cli_usage_error(c, "option '%.*s' takes no value", (int)nlen, name);
        }
        if (global) {
            if (!strncmp(name, "json", nlen)) c->json = 1;
            else if (!strncmp(name, "profile", nlen)) c->profile_flag = val;
            else if (!strncmp(name, "url", nlen)) c->url_flag = val;
            else if (!strncmp(name, "project", nlen)) c->project_flag = val;
            else return -100; /* help */
            continue;
        }
        if (c->nopts >= CLI_MAX_OPTS) return cli_usage_error(c, "too many options");
        char *n = strndup(name, nlen);
        if (!n) return CLI_ESERVER;
        c->opt_name[c->nopts] = n;
        c->opt_val[c->nopts++] = val;
    }
    return 0;
}

static int run(struct cli *c, int argc, char **argv)
{
    /* the command words come first; global options may precede them */
    int first = 1;
    while (first < argc && argv[first][0] == '-') {
        const char *a = argv[first];
        if (!strcmp(a, "--json")) c->json = 1;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            list_commands(stdout, NULL, 0);
            return CLI_OK;
        } else if (!strcmp(a, "--version")) return cmd_version(c);
        else if ((!strcmp(a, "--profile") || !strcmp(a, "--url") || !strcmp(a, "--project")) &&
                 first + 1 < argc) {
            if (!strcmp(a, "--profile")) c->profile_flag = argv[first + 1];
            else if (!strcmp(a, "--url")) c->url_flag = argv[first + 1];
            else c->project_flag = argv[first + 1];
            first++;
        } else
            return cli_usage_error(c, "unknown option '%s'", a);
        first++;
    }
    if (first >= argc) {
        list_commands(stderr, NULL, 0);
        return CLI_EUSAGE;
    }
    const struct cli_cmd *best = NULL;
    int best_n = 0;
    for (size_t i = 0; i < NCMDS; i++) {
        int n;
        if (words_match(commands[i].path, argv + first, argc - first, &n) && n > best_n)
            best = &commands[i], best_n = n;
    }
    if (!best) {
        /* a group name alone (or with --help) lists its commands */
        int n = 0;
        while (first + n < argc && argv[first + n][0] != '-') n++;
        for (int k = n; k > 0; k--) {
            int any = 0;
            for (size_t i = 0; i < NCMDS; i++)
                any |= has_prefix(commands[i].path, argv + first, k);
            if (any) {
                int help = 0;
                for (int i = first; i < argc; i++)
                    help |= !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
                if (help && k == n) {
                    list_commands(stdout, argv + first, k);
                    return CLI_OK;
                }
                fprintf(stderr, "bunbase: '%s' needs a subcommand%s%s\n", argv[first],
                        k < n ? ", not " : "", k < n ? argv[first + k] : "");
                list_commands(stderr, argv + first, k);
                return CLI_EUSAGE;
            }
        }
        return cli_usage_error(c, "unknown command '%s' (bunbase help lists them)", argv[first]);
    }
    c->cmd = best;
    int rc = parse_rest(c, argc, argv, first + best_n);
    if (rc == -100) {
        cmd_usage(stdout, best);
        return CLI_OK;
    }
    if (rc) return rc;
    if (c->argc < best->min_args || c->argc > best->max_args)
        return cli_usage_error(c, "%s: expected %s", best->path, *best->args ? best->args : "no arguments");
    if (best->run == cmd_help || best->run == cmd_completion || best->run == cmd_version ||
        best->run == cmd_fn_init)
        return best->run(c);
    if ((rc = cli_config_load(c))) return rc;
    if ((best->flags & CLI_AUTH) && !json_object_get(cli_profile(c), "auth"))
        return cli_fail(c, CLI_EAUTH, "not_logged_in",
                        "not logged in (profile '%s'): run bunbase login", c->profile);
    if ((best->flags & CLI_PROJECT) && !cli_project(c))
        return cli_fail(c, CLI_EUSAGE, "no_project",
                        "no project: give --project ID or run bunbase projects use ID");
    return best->run(c);
}

int main(int argc, char **argv)
{
    struct cli c;
    memset(&c, 0, sizeof c);
    c.lock_fd = -1;
    int rc = run(&c, argc, argv);
    cli_config_release(&c);
    for (int i = 0; i < c.nopts; i++)
        free((void *)c.opt_name[i]);
    if (fflush(stdout) != 0 && rc == 0) rc = CLI_ESERVER;
    return rc;
}
