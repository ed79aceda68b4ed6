/* fuzz_bunder_dump.c — libFuzzer target for bunder's DUMP payload decoder (src/bunder/cmd_dump.c):
 * RESTORE takes any bytes a client sends, so the RDB value reader (lengths, integer and LZF
 * strings, ziplists, listpacks, intsets, quicklists) must refuse every malformed payload with an
 * error — never a crash, a leak, an out-of-bounds read or an unbounded allocation.
 *
 * Odd first byte: the rest is a payload body (type byte + value) and gets a valid version and
 * CRC64 appended, so the decoder is reached; even: the rest is the whole payload as sent. When
 * RESTORE accepts it, the value must survive bunder's own DUMP and RESTORE with the same type. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_log.h"
#include "bndr.h"

static struct bndr_server *srv;
static struct bndr_client *cl;

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
        cfg.proto_max_bulk_len = 1 << 20; /* bounds LZF output in the fuzzer */
        srv = bndr_server_new(&cfg);
        cl = bndr_client_fake(srv);
    }
    if (size < 1 || size > 100000)
        return 0;
    size_t n = size - 1;
    unsigned char *p = malloc(n + 10);
    if (!p)
        abort();
    memcpy(p, data + 1, n);
    if (data[0] & 1) {
        p[n] = 10;
        p[n + 1] = 0;
        uint64_t crc = bndr_crc64(0, p, n + 2);
        for (int i = 0; i < 8; i++)
            p[n + 2 + i] = (unsigned char)(crc >> (8 * i));
        n += 10;
    }
    const char *restore[] = {"RESTORE", "x", "0", (const char *)p, "REPLACE"};
    size_t rl[] = {7, 1, 1, n, 7};
    const char *r = run(5, restore, rl);
    free(p);
    if (strncmp(r, "+OK", 3) == 0) {
        char type1[32];
        snprintf(type1, sizeof type1, "%s", RUN("TYPE", "x"));
        r = RUN("DUMP", "x");
        if (r[0] != '$')
            abort(); /* a restored value must dump */
        char *end;
        long long len = strtoll(r + 1, &end, 10);
        char *dump = malloc((size_t)len + 1);
        if (!dump)
            abort();
        memcpy(dump, end + 2, (size_t)len);
        const char *again[] = {"RESTORE", "y", "0", dump, "REPLACE"};
        size_t al[] = {7, 1, 1, (size_t)len, 7};
        r = run(5, again, al);
        free(dump);
        if (strncmp(r, "+OK", 3) != 0)
            abort(); /* bunder's own payload was refused */
        if (strcmp(RUN("TYPE", "y"), type1) != 0)
            abort();
    }
    RUN("FLUSHALL");
    return 0;
}
