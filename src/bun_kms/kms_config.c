/* kms_config.c — bun-kms's knobs (BUNBASE_BUN_KMS_*): one bb_knobs table (bb_bun_kms_service.knobs),
 * read at start. Each is listed in docs/configuration.md. (BUNBASE_BUN_KMS_ADDR, the own HTTP
 * listener, is read by the host.) */
#include "kms_int.h"
#include "bb_knobs.h"

#include <stddef.h>

#define ST struct kms_config
const struct bb_knob kms_knobs[] = {
    BB_KNOB_SECRET_ROW(ST, master_key, "BUNBASE_BUN_KMS_MASTER_KEY", "",
                       "the master key: 32 bytes as base64 or hex (else MASTER_KEY_FILE, else a "
                       "generated <data>/bun_kms/master.key)"),
    BB_KNOB_PATH_ROW(ST, master_key_file, "BUNBASE_BUN_KMS_MASTER_KEY_FILE", "",
                     "file holding the master key (base64 or hex); mode 0600 or stricter"),
    BB_KNOB_U64_ROW(ST, secret_max, "BUNBASE_BUN_KMS_SECRET_MAX", "65536", 1, 16777216,
                    "bytes of one secret value"),
    BB_KNOB_U64_ROW(ST, data_max, "BUNBASE_BUN_KMS_DATA_MAX", "65536", 1, 16777216,
                    "bytes of a plaintext, ciphertext or message to encrypt, decrypt, sign or verify"),
    BB_KNOB_U64_ROW(ST, page_max, "BUNBASE_BUN_KMS_PAGE_MAX", "1000", 1, 100000,
                    "items of one list or audit page"),
    BB_KNOB_U64_ROW(ST, max_request, "BUNBASE_BUN_KMS_MAX_REQUEST_BYTES", "262144", 1024, 67108864,
                    "body of one HTTP request or RPC call"),
    BB_KNOB_STR_ROW(ST, rpc_addr, "BUNBASE_BUN_KMS_RPC_ADDR", "",
                    "host:port of the internal RPC listener (\"\": none)"),
    BB_KNOB_U64_ROW(ST, rotate_batch, "BUNBASE_BUN_KMS_ROTATE_BATCH", "256", 1, 100000,
                    "rows re-wrapped per transaction by a master-key rotation"),
    BB_KNOB_U64_ROW(ST, rotate_pause_ms, "BUNBASE_BUN_KMS_ROTATE_PAUSE_MS", "0", 0, 60000,
                    "pause between rotation batches (throttling; tests)"),
    BB_KNOB_U64_ROW(ST, audit_max_rows, "BUNBASE_BUN_KMS_AUDIT_MAX_ROWS", "1000000", 100,
                    1000000000, "audit records kept; the oldest beyond it are deleted"),
    BB_KNOB_U64_ROW(ST, max_versions, "BUNBASE_BUN_KMS_MAX_VERSIONS", "1000", 1, 1000000,
                    "versions of one secret or key; one more is 429"),
    BB_KNOB_U64_ROW(ST, max_per_ns, "BUNBASE_BUN_KMS_MAX_PER_NAMESPACE", "10000", 1, 100000000,
                    "secrets and keys of one namespace together; one more is 429"),
    BB_KNOBS_END,
};
#undef ST

int kms_config_load(struct kms_config *c, char *err, size_t errcap)
{
    return bb_knobs_load(kms_knobs, bb_knobs_count(kms_knobs), c, err, errcap);
}
