#include "bb_err.h"

struct err_info {
    const char *msg;
    const char *code;
    int status;
};

static const struct err_info infos[] = {
    [0] = {"ok", "ok", 200},
    [-BB_ENOMEM] = {"out of memory", "out_of_memory", 503},
    [-BB_EINVAL] = {"invalid input", "invalid_argument", 400},
    [-BB_ENOTFOUND] = {"not found", "not_found", 404},
    [-BB_EEXIST] = {"already exists", "already_exists", 409},
    [-BB_EIO] = {"I/O error", "io_error", 500},
    [-BB_ETIMEDOUT] = {"timed out", "timeout", 408},
    [-BB_ETOOBIG] = {"payload too large", "payload_too_large", 413},
    [-BB_EHDRTOOBIG] = {"request headers too large", "headers_too_large", 431},
    [-BB_EAUTH] = {"unauthenticated", "unauthenticated", 401},
    [-BB_EPERM] = {"permission denied", "permission_denied", 403},
    [-BB_EBUSY] = {"busy", "busy", 503},
    [-BB_ECLOSED] = {"closed", "closed", 503},
    [-BB_EPROTO] = {"protocol error", "protocol_error", 400},
    [-BB_EMETHOD] = {"method not allowed", "method_not_allowed", 405},
    [-BB_EUNAVAIL] = {"service unavailable", "unavailable", 503},
    [-BB_ELIMIT] = {"limit exceeded", "rate_limited", 429},
    [-BB_ENOSPACE] = {"insufficient storage", "insufficient_storage", 507},
    [-BB_EINTERNAL] = {"internal error", "internal", 500},
    [-BB_ECONFLICT] = {"conflict, retry", "conflict", 409},
};

static const struct err_info *info(int err)
{
    static const struct err_info unknown = {"unknown error", "unknown", 500};
    if (err > 0 || err <= BB_ERR_MIN_) return &unknown;
    return &infos[-err];
}

const char *bb_strerror(int err)
{
    return info(err)->msg;
}

const char *bb_err_code(int err)
{
    return info(err)->code;
}

int bb_err_status(int err)
{
    return info(err)->status;
}
