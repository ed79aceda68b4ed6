/* main.c — `bunder [config-file] [--option value ...]`, redis-server style.
 *
 * Order: defaults < config file (first argument if it does not start with "--") < flags. Flags
 * are the redis.conf names: --port 6380 --dir DIR --appendonly yes --appendfsync always
 * --requirepass X --maxmemory 100mb --maxmemory-policy allkeys-lru --http-port 8080 ...
 * Exit codes: 0 clean shutdown, 1 bad configuration or startup failure, 2 port busy.
 */
#include <stdio.h>
#include <string.h>

#include "bb_log.h"
#include "bunder.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: bunder [/path/to/bunder.conf] [--port N] [--bind ADDR] [--dir DIR]\n"
            "              [--appendonly yes|no] [--appendfsync always|everysec|no]\n"
            "              [--requirepass PASS] [--maxmemory BYTES] [--maxmemory-policy P]\n"
            "              [--http-port N] [--<any config option> VALUE]\n"
            "       bunder --version\n");
}

int main(int argc, char **argv)
{
    struct bunder_config cfg;
    char err[512];
    bunder_config_default(&cfg);
    int i = 1;
    if (argc > 1 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-v"))) {
        printf("bunder %s (redis protocol 7.0 compatible)\n", BB_VERSION);
        return 0;
    }
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage();
        return 0;
    }
    if (argc > 1 && strncmp(argv[1], "--", 2) != 0) {
        if (bunder_config_file(&cfg, argv[1], err, sizeof err) < 0) {
            fprintf(stderr, "bunder: %s\n", err);
            return 1;
        }
        i = 2;
    }
    for (; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc) {
            fprintf(stderr, "bunder: option '%s' needs a value\n", argv[i]);
            usage();
            return 1;
        }
        if (bunder_config_apply(&cfg, argv[i], argv[i + 1], err, sizeof err) < 0) {
            fprintf(stderr, "bunder: %s\n", err);
            return 1;
        }
        /* hide a password given as a flag from /proc/<pid>/cmdline (as redis-server does); a
         * config file (what bunder-manager uses) never shows it at all */
        if (!strcmp(argv[i], "--requirepass"))
            memset(argv[i + 1], 'x', strlen(argv[i + 1]));
        i++;
    }
    return bunder_run(&cfg);
}
