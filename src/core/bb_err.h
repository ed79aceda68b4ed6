/* bb_err.h — the one error idiom of BunBase.
 *
 * Functions return int: 0 on success, a negative BB_E* code on failure. bb_strerror() gives the
 * text (static storage, never freed), bb_err_code() the machine code used in JSON error bodies
 * ({"error": "<message>", "code": "<machine_code>"}), bb_err_status() the HTTP status a handler
 * should answer with when the error reaches a client.
 */
#ifndef BB_ERR_H
#define BB_ERR_H

enum bb_err {
    BB_OK = 0,
    BB_ENOMEM = -1,       /* allocation failed */
    BB_EINVAL = -2,       /* bad argument or malformed input (400) */
    BB_ENOTFOUND = -3,    /* no such thing (404) */
    BB_EEXIST = -4,       /* already exists / conflict (409) */
    BB_EIO = -5,          /* I/O error, see errno / log */
    BB_ETIMEDOUT = -6,    /* timed out (408 for requests, 504 upstream) */
    BB_ETOOBIG = -7,      /* over a configured size limit (413) */
    BB_EHDRTOOBIG = -8,   /* headers over the limit (431) */
    BB_EAUTH = -9,        /* missing or invalid credential (401) */
    BB_EPERM = -10,       /* authenticated but not allowed (403) */
    BB_EBUSY = -11,       /* resource busy, e.g. data dir locked, queue full (503) */
    BB_ECLOSED = -12,     /* peer or object closed */
    BB_EPROTO = -13,      /* protocol violation by the peer */
    BB_EMETHOD = -14,     /* method not allowed (405) */
    BB_EUNAVAIL = -15,    /* dependency unavailable (503) */
    BB_ELIMIT = -16,      /* rate or count limit (429) */
    BB_ENOSPACE = -17,    /* storage quota or disk full (507) */
    BB_EINTERNAL = -18,   /* bug or unexpected state (500) */
    BB_ECONFLICT = -19,   /* retryable conflict (409) */
    BB_ERR_MIN_ = -20
};

/* Message for a code; static storage. Unknown codes give "unknown error". */
const char *bb_strerror(int err);
/* Machine code for a code, e.g. "not_found"; static storage. */
const char *bb_err_code(int err);
/* HTTP status for a code (500 for unknown or BB_EINTERNAL). */
int bb_err_status(int err);

#endif
