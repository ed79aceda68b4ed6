/* Fuzz target for bundoc's write-ahead log as read at recovery (wal.c: header, frames, salt,
 * chained checksums, commit markers, page count and timestamps, then the recovered pages through
 * the pager, B+tree and catalog). The input becomes dir/wal next to a fresh data.db; see
 * bdoc_fuzz_db.h for the two input modes. In repaired mode the input after the mode byte is a
 * sequence of records {u8 page number (mod 64; 255: 0xfffffff0), u8 flags (bit 0: commit frame), u16 page count
 * for a commit frame, payload of BDOC_PAGE_PAYLOAD bytes}, each written as a frame with the
 * header's salt and a correct chained checksum (bit 1 of flags: a wrong salt; bit 2: a broken
 * chain — so stale and torn tails are produced too). Recovery, reads, a write and close must end
 * in 0 or an error code, never a crash or hang. */
#include "bdoc_fuzz_db.h"

#define WAL_HDR 64u
#define FRAME_HDR 32u
#define MAX_FRAMES 48
#define REC_HDR 4u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    fz_reset();
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    if (data[0] & 1) {
        const uint64_t salt = 0x0123456789abcdefull;
        size_t cap = WAL_HDR + MAX_FRAMES * (FRAME_HDR + BDOC_PAGE_SIZE);
        uint8_t *wal = calloc(1, cap);
        if (!wal) return 0;
        memcpy(wal, "BDOCWAL1", 8);
        fz_put32(wal + 8, 1);
        fz_put32(wal + 12, BDOC_PAGE_SIZE);
        fz_put64(wal + 16, salt);
        uint32_t chain = pager_crc32c(0, wal, 60);
        fz_put32(wal + 60, chain);
        size_t len = WAL_HDR, off = 0;
        for (int f = 0; f < MAX_FRAMES && off + REC_HDR <= n; f++) {
            const uint8_t *r = in + off;
            off += REC_HDR;
            size_t k = n - off < BDOC_PAGE_PAYLOAD ? n - off : BDOC_PAGE_PAYLOAD;
            uint8_t *fh = wal + len;
            /* small page numbers, except 255: a huge one (must not size the WAL index) */
            uint32_t pgno = r[0] == 255 ? 0xfffffff0u : r[0] % 64u;
            fz_put32(fh, pgno);
            fz_put32(fh + 4, (r[1] & 1) ? (uint32_t)(r[2] | r[3] << 8) : 0);
            fz_put64(fh + 8, (r[1] & 2) ? salt ^ 1 : salt);
            fz_put64(fh + 16, (r[1] & 1) ? 1000u + (uint64_t)f : 0);
            fz_frame(pgno, in + off, k, fh + FRAME_HDR);
            off += k;
            uint32_t c = pager_crc32c(chain, fh, 24);
            c = pager_crc32c(c, fh + FRAME_HDR, BDOC_PAGE_HDR);
            if (r[1] & 4) c ^= 0x5a5a5a5a;
            fz_put32(fh + 24, c);
            chain = c;
            len += FRAME_HDR + BDOC_PAGE_SIZE;
        }
        fz_store("wal", wal, len);
        free(wal);
    } else {
        size_t max = WAL_HDR + MAX_FRAMES * (FRAME_HDR + BDOC_PAGE_SIZE);
        fz_store("wal", in, n < max ? n : max);
    }
    fz_workload();
    fz_reset();
    return 0;
}
