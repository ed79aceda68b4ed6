/* Fuzz target for bundoc's data file as read from disk: page frames (crc32c, mode, page number;
 * pager.h), the meta page, B+tree leaf/internal/overflow/free pages (btree.c) and the catalog and
 * documents stored in them. The input becomes dir/data.db (no WAL); see bdoc_fuzz_db.h for the
 * two input modes (raw file, or payloads wrapped in frames with valid checksums). Opening a
 * corrupt file, reading it and writing to it must end in an error code, never a crash or hang. */
#include "../bundoc_wal/bdoc_fuzz_db.h"

#define MAX_PAGES 48

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    fz_reset();
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    if (data[0] & 1) { /* repaired: payloads, one per page from page 0 */
        size_t np = (n + BDOC_PAGE_PAYLOAD - 1) / BDOC_PAGE_PAYLOAD;
        if (np > MAX_PAGES) np = MAX_PAGES;
        uint8_t *file = calloc(np ? np : 1, BDOC_PAGE_SIZE);
        if (!file) return 0;
        for (size_t i = 0; i < np; i++) {
            size_t off = i * BDOC_PAGE_PAYLOAD;
            size_t k = n - off < BDOC_PAGE_PAYLOAD ? n - off : BDOC_PAGE_PAYLOAD;
            fz_frame((uint32_t)i, in + off, k, file + i * BDOC_PAGE_SIZE);
        }
        fz_store("data.db", file, np * BDOC_PAGE_SIZE);
        free(file);
    } else {
        if (n > MAX_PAGES * BDOC_PAGE_SIZE) n = MAX_PAGES * BDOC_PAGE_SIZE;
        fz_store("data.db", in, n);
    }
    fz_workload();
    fz_reset();
    return 0;
}
