/* Unit tests for the storage layers below MVCC: pager frames, WAL commit/recovery, B+tree
 * (random operations checked against a model, overflow values, page reuse, reopen). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb_err.h"
#include "btree.h"

struct store {
    struct pager *p;
    struct wal *w;
    uint64_t ts;
};

static int store_open(const char *dir, const uint8_t *key, struct store *s)
{
    memset(s, 0, sizeof *s);
    int rc = pager_open(bdoc_vfs_real(), dir, key, 64, &s->p);
    if (rc) return rc;
    struct wal_open_info info;
    rc = wal_open(bdoc_vfs_real(), dir, s->p, BDOC_DURABILITY_OFF, 0, &s->w, &info);
    if (rc) {
        pager_close(s->p);
        return rc;
    }
    s->ts = info.max_ts;
    return 0;
}

static void store_close(struct store *s)
{
    wal_close(s->w);
    pager_close(s->p);
}

static int commit(struct store *s)
{
    uint64_t lsn;
    int rc = wal_append(s->w, ++s->ts, &lsn);
    pager_txn_end(s->p, rc == 0);
    return rc;
}

static char *mkdir_tmp(void)
{
    char *d = strdup("/tmp/bdoc_bt_XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void rmrf(const char *d)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
}

#define NK 3000
static size_t model_len[NK]; /* 0 = absent, else value length */
static uint32_t model_seed[NK];

static void fill(uint8_t *v, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) v[i] = (uint8_t)((seed * 131u + i * 7u) >> 3);
}

static void mkkey(int i, char *k, size_t cap, size_t *kl)
{
    /* variable-length keys, some long */
    int n = snprintf(k, cap, "key-%05d-%.*s", i, i % 7 == 0 ? 300 : i % 5,
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    *kl = (size_t)n;
}

static void verify_all(struct store *s)
{
    char k[512];
    size_t kl;
    uint8_t *buf = malloc(70000);
    assert_non_null(buf);
    size_t present = 0;
    for (int i = 0; i < NK; i++) {
        mkkey(i, k, sizeof k, &kl);
        uint8_t *v = NULL;
        size_t vl = 0;
        int rc = bt_get(s->p, (uint8_t *)k, kl, &v, &vl);
        if (model_len[i] == 0) {
            assert_int_equal(rc, BB_ENOTFOUND);
        } else {
            present++;
            assert_int_equal(rc, 0);
            assert_int_equal(vl, model_len[i] - 1);
            fill(buf, vl, model_seed[i]);
            assert_memory_equal(v, buf, vl);
        }
        free(v);
    }
    uint64_t nkeys = 0;
    assert_int_equal(bt_check(s->p, &nkeys), 0);
    assert_int_equal(nkeys, present);
    /* the cursor visits exactly the present keys in order */
    struct bt_cursor c;
    assert_int_equal(bt_seek(s->p, &c, NULL, 0), 0);
    size_t seen = 0;
    char prev[512] = "";
    size_t prevl = 0;
    while (bt_valid(&c)) {
        const uint8_t *ck;
        size_t ckl;
        bt_key(&c, &ck, &ckl);
        if (seen) {
            size_t m = prevl < ckl ? prevl : ckl;
            int cmp = memcmp(prev, ck, m);
            assert_true(cmp < 0 || (cmp == 0 && prevl < ckl));
        }
        memcpy(prev, ck, ckl);
        prevl = ckl;
        seen++;
        assert_int_equal(bt_next(&c), 0);
    }
    bt_close(&c);
    assert_int_equal(seen, present);
    free(buf);
}

static void test_random_ops_and_reopen(void **state)
{
    (void)state;
    char *dir = mkdir_tmp();
    struct store s;
    assert_int_equal(store_open(dir, NULL, &s), 0);
    memset(model_len, 0, sizeof model_len);
    srand(1234);
    uint8_t *buf = malloc(70000);
    assert_non_null(buf);
    char k[512];
    size_t kl;
    for (int t = 0; t < 60; t++) {
        pager_txn_begin(s.p);
        for (int op = 0; op < 150; op++) {
            int i = rand() % NK;
            mkkey(i, k, sizeof k, &kl);
            if (rand() % 3 == 0) {
                int rc = bt_delete(s.p, (uint8_t *)k, kl);
                assert_int_equal(rc, model_len[i] ? 0 : BB_ENOTFOUND);
                model_len[i] = 0;
            } else {
                size_t vl = rand() % 50 == 0 ? 20000 + rand() % 40000 : rand() % 600;
                uint32_t seed = (uint32_t)rand();
                fill(buf, vl, seed);
                assert_int_equal(bt_put(s.p, (uint8_t *)k, kl, buf, vl), 0);
                model_len[i] = vl + 1;
                model_seed[i] = seed;
            }
        }
        assert_int_equal(commit(&s), 0);
        if (t % 20 == 19) verify_all(&s);
    }
    /* a rolled-back transaction leaves no trace */
    pager_txn_begin(s.p);
    for (int i = 0; i < NK; i += 2) {
        mkkey(i, k, sizeof k, &kl);
        (void)bt_delete(s.p, (uint8_t *)k, kl);
    }
    pager_txn_end(s.p, 0);
    verify_all(&s);
    store_close(&s);
    /* redo recovery from the WAL alone */
    assert_int_equal(store_open(dir, NULL, &s), 0);
    verify_all(&s);
    assert_int_equal(wal_checkpoint(s.w, s.ts), 0);
    assert_true(wal_size(s.w) <= 64);
    store_close(&s);
    assert_int_equal(store_open(dir, NULL, &s), 0);
    verify_all(&s);
    /* delete everything: pages return to the free list and are reused */
    pager_txn_begin(s.p);
    for (int i = 0; i < NK; i++) {
        mkkey(i, k, sizeof k, &kl);
        if (model_len[i]) assert_int_equal(bt_delete(s.p, (uint8_t *)k, kl), 0);
        model_len[i] = 0;
    }
    assert_int_equal(commit(&s), 0);
    struct pager_meta m;
    pager_meta_get(s.p, &m);
    assert_int_equal(m.root, 0);
    assert_int_equal(m.nfree, m.npages - 1);
    uint32_t np = m.npages;
    pager_txn_begin(s.p);
    for (int i = 0; i < 500; i++) {
        mkkey(i, k, sizeof k, &kl);
        fill(buf, 100, 7);
        assert_int_equal(bt_put(s.p, (uint8_t *)k, kl, buf, 100), 0);
        model_len[i] = 101;
        model_seed[i] = 7;
    }
    assert_int_equal(commit(&s), 0);
    pager_meta_get(s.p, &m);
    assert_int_equal(m.npages, np);
    verify_all(&s);
    store_close(&s);
    free(buf);
    rmrf(dir);
    free(dir);
}

/* Ascending keys (ULIDs are time-ordered) use append splits: leaves end up full, not half full. */
static void test_sequential_fill(void **state)
{
    (void)state;
    char *dir = mkdir_tmp();
    struct store s;
    assert_int_equal(store_open(dir, NULL, &s), 0);
    uint8_t val[100];
    memset(val, 'v', sizeof val);
    for (int i = 0; i < 4000; i++) {
        char k[32];
        int kl = snprintf(k, sizeof k, "seq%08d", i);
        pager_txn_begin(s.p);
        assert_int_equal(bt_put(s.p, (uint8_t *)k, (size_t)kl, val, sizeof val), 0);
        assert_int_equal(commit(&s), 0);
    }
    uint64_t nkeys = 0;
    assert_int_equal(bt_check(s.p, &nkeys), 0);
    assert_int_equal(nkeys, 4000);
    struct pager_meta m;
    pager_meta_get(s.p, &m);
    /* 4000 cells of 7 + 11 + 100 bytes + a 2-byte slot: full leaves need `full` pages, half-full
     * ones twice as many */
    unsigned full = (unsigned)(4000 * 120 / (BDOC_PAGE_PAYLOAD - 16)) + 1;
    fprintf(stderr, "# 4000 ascending keys: %u pages (%u full leaves)\n", m.npages, full);
    assert_true(m.npages < full + full / 4 + 4);
    /* and descending order still works (ordinary splits) */
    for (int i = 0; i < 2000; i++) {
        char k[32];
        int kl = snprintf(k, sizeof k, "rev%08d", 9999 - i);
        pager_txn_begin(s.p);
        assert_int_equal(bt_put(s.p, (uint8_t *)k, (size_t)kl, val, sizeof val), 0);
        assert_int_equal(commit(&s), 0);
    }
    assert_int_equal(bt_check(s.p, &nkeys), 0);
    assert_int_equal(nkeys, 6000);
    /* deleting everything (in ascending order, so right-edge internal nodes empty out) frees every
     * page again */
    for (int i = 0; i < 4000; i++) {
        char k[32];
        int kl = snprintf(k, sizeof k, "seq%08d", i);
        pager_txn_begin(s.p);
        assert_int_equal(bt_delete(s.p, (uint8_t *)k, (size_t)kl), 0);
        assert_int_equal(commit(&s), 0);
        if (i % 1000 == 999) assert_int_equal(bt_check(s.p, &nkeys), 0);
    }
    pager_txn_begin(s.p);
    for (int i = 0; i < 2000; i++) {
        char k[32];
        int kl = snprintf(k, sizeof k, "rev%08d", 9999 - i);
        assert_int_equal(bt_delete(s.p, (uint8_t *)k, (size_t)kl), 0);
    }
    assert_int_equal(commit(&s), 0);
    pager_meta_get(s.p, &m);
    assert_int_equal(m.root, 0);
    assert_int_equal(m.nfree, m.npages - 1);
    store_close(&s);
    rmrf(dir);
    free(dir);
}

/* bt_load: empty input, one key, exactly one leaf, many levels (long keys: small fan-out), fill
 * factors, keys already present (overwritten) and interleaved with existing ones, overflow
 * values, duplicate or unordered input rejected with nothing written, redo from the WAL. */
static int load_count(struct store *s, uint64_t *nkeys)
{
    return bt_check(s->p, nkeys);
}

static void test_bulk_load(void **state)
{
    (void)state;
    char *dir = mkdir_tmp();
    struct store s;
    assert_int_equal(store_open(dir, NULL, &s), 0);
    const uint8_t pre[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint64_t nkeys = 0;
    struct pager_meta m;
    /* 0 items: nothing happens */
    pager_txn_begin(s.p);
    assert_int_equal(bt_load(s.p, NULL, 0, pre, 8, 100), 0);
    pager_txn_end(s.p, 0);
    pager_meta_get(s.p, &m);
    assert_int_equal(m.root, 0);
    /* bad fill factor */
    assert_int_equal(bt_load(s.p, NULL, 0, pre, 8, 5), BB_EINVAL);
    /* 1 item into an empty tree */
    struct bt_item one = {(const uint8_t *)"a", 1, (const uint8_t *)"xyz", 3};
    pager_txn_begin(s.p);
    assert_int_equal(bt_load(s.p, &one, 1, pre, 8, 100), 0);
    assert_int_equal(commit(&s), 0);
    uint8_t *v = NULL;
    size_t vl = 0;
    assert_int_equal(bt_get(s.p, (const uint8_t *)"a", 1, &v, &vl), 0);
    assert_int_equal(vl, 11);
    assert_memory_equal(v, pre, 8);
    assert_memory_equal(v + 8, "xyz", 3);
    free(v);
    /* exactly one leaf: 30 keys after "a" stay in the root leaf */
    char kb[40][16];
    struct bt_item it[40];
    for (int i = 0; i < 30; i++) {
        int kl = snprintf(kb[i], sizeof kb[i], "b%03d", i);
        it[i] = (struct bt_item){(const uint8_t *)kb[i], (size_t)kl, (const uint8_t *)kb[i], (size_t)kl};
    }
    pager_txn_begin(s.p);
    assert_int_equal(bt_load(s.p, it, 30, pre, 8, 100), 0);
    assert_int_equal(commit(&s), 0);
    assert_int_equal(load_count(&s, &nkeys), 0);
    assert_int_equal(nkeys, 31);
    pager_meta_get(s.p, &m);
    assert_int_equal(m.npages, 2); /* page 0 + the root leaf */
    /* duplicate or descending input: BB_EINVAL, nothing written */
    it[5] = it[4];
    pager_txn_begin(s.p);
    assert_int_equal(bt_load(s.p, it, 30, pre, 8, 100), BB_EINVAL);
    it[5] = it[3];
    assert_int_equal(bt_load(s.p, it, 30, pre, 8, 100), BB_EINVAL);
    pager_txn_end(s.p, 0);
    assert_int_equal(load_count(&s, &nkeys), 0);
    assert_int_equal(nkeys, 31);
    store_close(&s);
    rmrf(dir);
    free(dir);

    /* many levels: 200-byte keys (internal fan-out ~19), 20 000 of them, in 4 loads */
    dir = mkdir_tmp();
    assert_int_equal(store_open(dir, NULL, &s), 0);
    enum { NL = 20000, KL = 200 };
    uint8_t *keys = malloc((size_t)NL * KL);
    struct bt_item *items = malloc(NL * sizeof *items);
    assert_non_null(keys);
    assert_non_null(items);
    for (int i = 0; i < NL; i++) {
        uint8_t *k = keys + (size_t)i * KL;
        memset(k, 'k', KL);
        snprintf((char *)k, 16, "%09d", i);
        k[9] = 'k';
        items[i] = (struct bt_item){k, KL, k, 10};
    }
    for (int part = 0; part < 4; part++) {
        pager_txn_begin(s.p);
        assert_int_equal(bt_load(s.p, items + part * (NL / 4), NL / 4, pre, 8, 100), 0);
        assert_int_equal(commit(&s), 0);
    }
    assert_int_equal(load_count(&s, &nkeys), 0);
    assert_int_equal(nkeys, NL);
    pager_meta_get(s.p, &m);
    /* leaf cells 7 + 200 + 18 bytes + slot: full leaves need ~NL*227/4032 pages; internal levels
     * add about 1/17 of that */
    unsigned full = (unsigned)((size_t)NL * 227 / (BDOC_PAGE_PAYLOAD - 16)) + 1;
    fprintf(stderr, "# bulk load of %d keys: %u pages (%u full leaves)\n", NL, m.npages, full);
    assert_true(m.npages < full + full / 8 + 4);
    struct bt_cursor c;
    assert_int_equal(bt_seek(s.p, &c, NULL, 0), 0);
    int depth = c.depth;
    for (int i = 0; i < NL; i++) {
        assert_true(bt_valid(&c));
        const uint8_t *ck;
        size_t ckl;
        bt_key(&c, &ck, &ckl);
        assert_int_equal(ckl, KL);
        assert_memory_equal(ck, items[i].key, KL);
        assert_int_equal(bt_next(&c), 0);
    }
    assert_false(bt_valid(&c));
    bt_close(&c);
    fprintf(stderr, "# depth %d\n", depth);
    assert_true(depth >= 4);
    store_close(&s);
    /* redo from the WAL */
    assert_int_equal(store_open(dir, NULL, &s), 0);
    assert_int_equal(load_count(&s, &nkeys), 0);
    assert_int_equal(nkeys, NL);
    store_close(&s);
    rmrf(dir);
    free(dir);

    /* fill factor 50: about twice the leaves */
    dir = mkdir_tmp();
    assert_int_equal(store_open(dir, NULL, &s), 0);
    pager_txn_begin(s.p);
    assert_int_equal(bt_load(s.p, items, NL / 4, pre, 8, 50), 0);
    assert_int_equal(commit(&s), 0);
    assert_int_equal(load_count(&s, &nkeys), 0);
    assert_int_equal(nkeys, NL / 4);
    pager_meta_get(s.p, &m);
    assert_true(m.npages > full / 4 + full / 8);
    store_close(&s);
    rmrf(dir);
    free(dir);
    free(keys);
    free(items);

    /* against the model: a random tree, then loads of ascending subsets that overwrite present
     * keys, fall between existing ones and carry overflow values */
    dir = mkdir_tmp();
    assert_int_equal(store_open(dir, NULL, &s), 0);
    memset(model_len, 0, sizeof model_len);
    srand(4321);
    uint8_t *buf = malloc(70000);
    assert_non_null(buf);
    char k[512];
    size_t kl;
    pager_txn_begin(s.p);
    for (int i = 0; i < NK; i += 1 + rand() % 3) {
        mkkey(i, k, sizeof k, &kl);
        size_t n = (size_t)(rand() % 200);
        uint32_t seed = (uint32_t)rand();
        fill(buf, n, seed);
        assert_int_equal(bt_put(s.p, (uint8_t *)k, kl, buf, n), 0);
        model_len[i] = n + 1;
        model_seed[i] = seed;
    }
    assert_int_equal(commit(&s), 0);
    static char kbuf[NK][400];
    static struct bt_item li[NK];
    for (int round = 0; round < 3; round++) {
        size_t n = 0;
        uint8_t *vals = malloc((size_t)NK * 256 + 70000);
        assert_non_null(vals);
        size_t voff = 0;
        for (int i = round; i < NK; i += 1 + rand() % 4) {
            mkkey(i, kbuf[i], sizeof kbuf[i], &kl);
            size_t vn = (rand() % 200 == 0 && voff == 0) ? 30000 : (size_t)(rand() % 250);
            uint32_t seed = (uint32_t)rand();
            fill(vals + voff, vn, seed);
            li[n++] = (struct bt_item){(const uint8_t *)kbuf[i], kl, vals + voff, vn};
            voff += vn;
            model_len[i] = vn + 1;
            model_seed[i] = seed;
        }
        pager_txn_begin(s.p);
        assert_int_equal(bt_load(s.p, li, n, NULL, 0, round == 1 ? 70 : 100), 0);
        assert_int_equal(commit(&s), 0);
        free(vals);
        verify_all(&s);
    }
    store_close(&s);
    assert_int_equal(store_open(dir, NULL, &s), 0);
    verify_all(&s);
    store_close(&s);
    free(buf);
    rmrf(dir);
    free(dir);
}

/* pager_crc32c (three interleaved hardware lanes for long inputs) equals a bitwise CRC32C for
 * every length around the lane block, at every alignment, chained or not; and the check value. */
static uint32_t crc_ref(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

static void test_crc32c(void **state)
{
    (void)state;
    assert_int_equal(pager_crc32c(0, "123456789", 9), 0xE3069283u);
    uint8_t *buf = malloc(9000);
    assert_non_null(buf);
    srand(99);
    for (size_t i = 0; i < 9000; i++) buf[i] = (uint8_t)rand();
    size_t lens[] = {0, 1, 7, 8, 9, 100, 4079, 4080, 4081, 4088, 4092, 4096, 8159, 8160, 8161, 8990};
    for (size_t a = 0; a < 8; a++)
        for (size_t l = 0; l < sizeof lens / sizeof *lens; l++) {
            size_t n = lens[l];
            assert_int_equal(pager_crc32c(0, buf + a, n), crc_ref(0, buf + a, n));
            assert_int_equal(pager_crc32c(0x1234567u, buf + a, n), crc_ref(0x1234567u, buf + a, n));
            /* chained over two pieces */
            uint32_t c = pager_crc32c(0, buf + a, n / 3);
            assert_int_equal(pager_crc32c(c, buf + a + n / 3, n - n / 3), crc_ref(0, buf + a, n));
        }
    free(buf);
}

static void test_frame_codec(void **state)
{
    (void)state;
    char *dir = mkdir_tmp();
    uint8_t key[32];
    memset(key, 7, sizeof key);
    struct store s;
    assert_int_equal(store_open(dir, key, &s), 0);
    uint8_t *payload = calloc(1, BDOC_PAGE_PAYLOAD), *frame = malloc(BDOC_PAGE_SIZE),
            *out = malloc(BDOC_PAGE_PAYLOAD);
    memcpy(payload, "hello", 5);
    assert_int_equal(pager_encode(s.p, 5, payload, frame), 0);
    assert_null(memmem(frame, BDOC_PAGE_SIZE, "hello", 5)); /* sealed */
    assert_int_equal(pager_decode(s.p, 5, frame, out), 0);
    assert_memory_equal(out, payload, BDOC_PAGE_PAYLOAD);
    assert_int_equal(pager_decode(s.p, 6, frame, out), BB_EIO); /* wrong place */
    frame[100] ^= 1;
    assert_int_not_equal(pager_decode(s.p, 5, frame, out), 0); /* tampered */
    store_close(&s);
    /* wrong key and missing key are refused */
    key[0] ^= 1;
    assert_int_equal(store_open(dir, key, &s), BB_EAUTH);
    assert_int_equal(store_open(dir, NULL, &s), BB_EAUTH);
    free(payload);
    free(frame);
    free(out);
    rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_ops_and_reopen),
        cmocka_unit_test(test_sequential_fill),
        cmocka_unit_test(test_bulk_load),
        cmocka_unit_test(test_frame_codec),
        cmocka_unit_test(test_crc32c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
