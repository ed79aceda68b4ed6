/* Helpers shared by the bundoc unit tests (header-only; each test is its own executable). */
#ifndef BDOC_TEST_UTIL_H
#define BDOC_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline char *tu_tmpdir(void)
{
    char *d = strdup("/tmp/bdoc_test_XXXXXX");
    if (!d || !mkdtemp(d)) abort();
    return d;
}

static inline void tu_rmrf(char *d)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    if (system(cmd) != 0) abort();
    free(d);
}

static inline char *tu_sub(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p) abort();
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

#endif
