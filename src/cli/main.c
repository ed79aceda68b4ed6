/* main.c — the `bunbase` command-line tool.
 *
 * Subcommands are declared in one table (name, handler, usage line, summary); main() looks the
 * first argument up and hands the remaining arguments to the handler. Exit codes: 0 success,
 * 1 the operation failed (e.g. server unhealthy or unreachable), 2 usage error.
 *
 *   bunbase version                       prints "bunbase <BB_VERSION>"
 *   bunbase health [--url URL] [--json]   GET <URL>/health, print the body; URL defaults to
 *                                         $BUNBASE_URL, then http://127.0.0.1:3001
 *   bunbase help                          usage on stderr
 */
#include "bb_err.h"
#include "bb_httpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef BB_VERSION
#define BB_VERSION "0.0.0-dev"
#endif

#define EXIT_USAGE 2
#define DEFAULT_URL "http://127.0.0.1:3001"
#define MAX_URL_LEN 2048
#define HEALTH_TIMEOUT_MS 10000L
#define HEALTH_MAX_BODY (1024u * 1024u)

struct cli_cmd {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
    const char *usage;
    const char *summary;
};

static int cmd_version(int argc, char **argv);
static int cmd_health(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct cli_cmd commands[] = {
    {"version", cmd_version, "bunbase version", "print the version"},
    {"health", cmd_health, "bunbase health [--url URL] [--json]",
     "check a server's /health (URL defaults to $BUNBASE_URL or " DEFAULT_URL ")"},
    {"help", cmd_help, "bunbase help", "show this help"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: bunbase <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-40s %s\n", commands[i].usage, commands[i].summary);
}

static int cmd_version(int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "bunbase version: unexpected argument '%s'\n", argv[1]);
        return EXIT_USAGE;
    }
    printf("bunbase %s\n", BB_VERSION);
    return 0;
}

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    usage(stderr);
    return EXIT_USAGE;
}

/* Writes s as a JSON string literal (with quotes) to f. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static int cmd_health(int argc, char **argv)
{
    const char *base = getenv("BUNBASE_URL");
    int json = 0;
    if (!base || !*base) base = DEFAULT_URL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--url") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "bunbase health: --url needs a value\n");
                return EXIT_USAGE;
            }
            base = argv[++i];
        } else if (strncmp(a, "--url=", 6) == 0) {
            base = a + 6;
        } else {
            fprintf(stderr, "bunbase health: unknown argument '%s'\nusage: %s\n", a,
                    commands[1].usage);
            return EXIT_USAGE;
        }
    }
    size_t blen = strlen(base);
    if (blen == 0 || blen > MAX_URL_LEN) {
        fprintf(stderr, "bunbase health: invalid URL\n");
        return EXIT_USAGE;
    }
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    char url[MAX_URL_LEN + 16];
    snprintf(url, sizeof url, "%.*s/health", (int)blen, base);

    struct bb_httpc_request req = {
        .method = "GET",
        .url = url,
        .timeout_ms = HEALTH_TIMEOUT_MS,
        .max_response_bytes = HEALTH_MAX_BODY,
    };
    struct bb_httpc_response resp;
    int rc = bb_httpc_do(&req, &resp);
    if (rc == BB_EINVAL) {
        fprintf(stderr, "bunbase health: invalid URL '%s'\n", base);
        return EXIT_USAGE;
    }
    if (rc != 0) {
        fprintf(stderr, "bunbase health: %s: %s\n", url, bb_strerror(rc));
        if (json) {
            fputs("{\"status\":\"unreachable\",\"error\":", stdout);
            json_str(stdout, bb_strerror(rc));
            fputs("}\n", stdout);
        }
        return 1;
    }
    fwrite(resp.body, 1, resp.body_len, stdout);
    if (resp.body_len == 0 || resp.body[resp.body_len - 1] != '\n') fputc('\n', stdout);
    int ok = resp.status == 200;
    if (!ok) fprintf(stderr, "bunbase health: %s: HTTP %ld\n", url, resp.status);
    bb_httpc_response_release(&resp);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) name = "help";
    if (strcmp(name, "--version") == 0) name = "version";
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "bunbase: unknown command '%s'\n", name);
    usage(stderr);
    return EXIT_USAGE;
}
