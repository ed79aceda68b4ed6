/* bunder_cmdfuzz.h — the shared driver of bunder's command-family fuzz targets
 * (fuzz_bunder_bitops.c, fuzz_bunder_stream.c): each input line is one command whose first byte
 * picks the command name from the target's table and whose space-separated rest are its
 * arguments; it runs through the real dispatcher on a fake client of a bare server, and the
 * reply must be exactly one well-formed RESP value. */
#ifndef BUNDER_CMDFUZZ_H
#define BUNDER_CMDFUZZ_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bndr.h"

#define CMDFUZZ_MAX_ARGS 48

/* Length of the RESP value at p (bounded by end), or 0 if malformed. */
static size_t cmdfuzz_resp_len(const char *p, const char *end, int depth)
{
    if (p >= end || depth > 8) return 0;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl || nl == p || nl[-1] != '\r') return 0;
    const char *q = nl + 1;
    long long n = strtoll(p + 1, NULL, 10);
    switch (p[0]) {
    case '+':
    case '-':
    case ':':
    case '_':
        return (size_t)(q - p);
    case '$':
        if (n < 0) return (size_t)(q - p);
        if (end - q < n + 2) return 0;
        return (size_t)(q + n + 2 - p);
    case '*':
        if (n < 0) return (size_t)(q - p);
        for (long long i = 0; i < n; i++) {
            size_t l = cmdfuzz_resp_len(q, end, depth + 1);
            if (!l) return 0;
            q += l;
        }
        return (size_t)(q - p);
    }
    return 0;
}

/* Runs every line of data[0..size) as a command on cl (see above); aborts on a malformed reply. */
static void cmdfuzz_run(struct bndr_client *cl, const char *const *cmds, size_t ncmds,
                        int max_args, const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    buf[size] = 0;
    if (max_args > CMDFUZZ_MAX_ARGS) max_args = CMDFUZZ_MAX_ARGS;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct bndr_arg a[CMDFUZZ_MAX_ARGS];
        int argc = 0;
        a[argc].p = (char *)cmds[(unsigned char)line[0] % ncmds];
        a[argc].n = strlen(a[argc].p);
        argc++;
        char *s2 = NULL;
        for (char *t = strtok_r(line + 1, " ", &s2); t && argc < max_args;
             t = strtok_r(NULL, " ", &s2)) {
            a[argc].p = t;
            a[argc].n = strlen(t);
            argc++;
        }
        cl->out.len = 0;
        cl->argv = a;
        cl->argc = argc;
        bndr_process_command(cl);
        cl->argv = NULL;
        cl->argc = 0;
        if (cmdfuzz_resp_len(cl->out.p, cl->out.p + cl->out.len, 0) != cl->out.len)
            abort(); /* not exactly one RESP value */
    }
    free(buf);
}

#endif
