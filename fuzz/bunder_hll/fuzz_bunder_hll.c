/* fuzz_bunder_hll.c — libFuzzer target for bunder's HyperLogLog decoder (src/bunder/cmd_hll.c):
 * a HyperLogLog is an ordinary string value, so any client can SET arbitrary bytes and then run
 * PFADD/PFCOUNT/PFMERGE/PFDEBUG on them.
 *
 * The input becomes the value of key x (with the "HYLL" magic forced in half of the runs so the
 * sparse/dense paths are reached), then every HLL command runs on it through the dispatcher of a
 * bare server — never a crash, a leak or an out-of-bounds access. Invariants for a valid HLL
 * (after PFADD of a few elements): a sparse HLL and its dense conversion (PFDEBUG TODENSE) count
 * the same; PFMERGE into a fresh key counts the same as the source. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_log.h"
#include "bndr.h"

static struct bndr_server *srv;
static struct bndr_client *cl;

/* Runs one command; returns the reply (valid until the next call). */
static const char *run(int argc, const char **argv, const size_t *lens)
{
    struct bndr_arg a[8];
    for (int i = 0; i < argc; i++) {
        a[i].p = (char *)argv[i];
        a[i].n = lens ? lens[i] : strlen(argv[i]);
    }
    cl->out.len = 0;
    cl->argv = a;
    cl->argc = argc;
    bndr_process_command(cl);
    cl->argv = NULL;
    cl->argc = 0;
    bndr_buf_add(&cl->out, "", 1);
    cl->out.len--;
    return cl->out.p;
}

#define RUN(...)                                                                                   \
    run((int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)),                       \
        (const char *[]){__VA_ARGS__}, NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv) {
        bb_log_set_level((enum bb_log_level)(BB_LOG_ERROR + 1));
        struct bunder_config cfg;
        bunder_config_default(&cfg);
        snprintf(cfg.dir, sizeof cfg.dir, "/tmp");
        srv = bndr_server_new(&cfg);
        cl = bndr_client_fake(srv);
    }
    if (size > 20000) return 0;
    char *v = malloc(size + 16);
    if (!v) abort();
    memcpy(v, data, size);
    size_t n = size;
    if (size >= 1 && (data[0] & 1) && size >= 16)
        memcpy(v, "HYLL", 4); /* reach the decoder more often */
    const char *set[] = {"SET", "x", v};
    size_t setl[] = {3, 1, n};
    run(3, set, setl);
    free(v);

    const char *r = RUN("PFCOUNT", "x");
    int valid = r[0] == ':';
    RUN("PFDEBUG", "DECODE", "x");
    RUN("PFCOUNT", "x", "nokey");
    /* Like Redis, PFADD edits a sparse value without validating all of it first, so it may
     * accept a corrupt one (and PFCOUNT then answers INVALIDOBJ): only valid inputs are checked
     * for consistent counts below. */
    RUN("PFADD", "x", "a", "b", "c");
    if (valid) {
        long long c1 = -1, c2 = -1, c3 = -1;
        RUN("SETRANGE", "x", "15", "\x80"); /* the cached count may be anything: invalidate it */
        r = RUN("PFCOUNT", "x");
        if (r[0] == ':') c1 = strtoll(r + 1, NULL, 10);
        RUN("PFMERGE", "y", "x");
        r = RUN("PFCOUNT", "y");
        if (r[0] == ':') c3 = strtoll(r + 1, NULL, 10);
        RUN("SETRANGE", "x", "15", "\x80"); /* PFDEBUG TODENSE keeps the header and its cache */
        RUN("PFDEBUG", "TODENSE", "x");
        r = RUN("PFCOUNT", "x");
        if (r[0] == ':') c2 = strtoll(r + 1, NULL, 10);
        if (c1 >= 0 && c2 >= 0 && c1 != c2) abort(); /* sparse and dense count differently */
        if (c1 >= 0 && c3 >= 0 && c1 != c3)
            abort(); /* a merge into an empty key changed the count */
    }
    RUN("PFDEBUG", "GETREG", "x");
    RUN("FLUSHALL");
    return 0;
}
