/* bb_resp.h — the RESP request parser, written once: bunder's connections and AOF loading, and
 * bunder-manager's public endpoint before AUTH, parse client requests with it.
 *
 * Requests (what clients send):
 *   multibulk  "*<argc>\r\n" then argc times "$<len>\r\n<len bytes>\r\n"
 *   inline     one line of space-separated words ending in "\n" (optional "\r"), with "..." and
 *              '...' quoting and \n \r \t \b \a \\ \" \xHH escapes in double quotes (redis-cli's
 *              and telnet's format, Redis' sdssplitargs)
 * The parser is incremental: it keeps its position (arguments parsed so far, the pending bulk
 * length) in struct bb_resp_parser, so a 512 MB bulk that arrives in 64 KB reads is scanned once,
 * and every strict prefix of a command answers BB_RESP_MORE (a command split across reads never
 * runs early). Every dimension is bounded by struct bb_resp_limits: arguments per command, bulk
 * length, inline line length; a header line ("*N", "$N") is at most 64 KB. The buffer itself is
 * bounded by the caller. Error texts are worded as Redis words them (no leading '-').
 *
 * Memory: the argument offset arrays and the unescaped inline arguments are the parser's, through
 * realloc_fn/free_fn (NULL: libc), released by bb_resp_parser_release. A zeroed struct is a valid
 * parser with libc allocation.
 *
 * Threading: a parser belongs to one connection; no global state.
 */
#ifndef BB_RESP_H
#define BB_RESP_H

#include <stddef.h>

struct bb_resp_limits {
    long long max_bulk;   /* bytes of one bulk argument */
    long long max_args;   /* arguments of one command */
    long long max_inline; /* bytes of one inline command line */
};

struct bb_resp_parser {
    int reqtype;         /* 0 unknown, 1 multibulk, 2 inline */
    long long mblen;     /* multibulk arguments still expected */
    long long bulklen;   /* -1: reading a $ header */
    size_t argc, argcap; /* arguments of the command (so far) */
    size_t *offs, *lens; /* argument offsets into the buffer (or into inline_buf) and lengths */
    int inline_mode;     /* the last command was inline: its arguments live in inline_buf */
    char *inline_buf;    /* inline commands are unescaped into this owned buffer */
    void *(*realloc_fn)(void *, size_t);
    void (*free_fn)(void *);
    char errbuf[64]; /* an error text that quotes the input */
};

/* Sets up p (zeroes it) with an allocator (NULL, NULL: libc). */
void bb_resp_parser_init(struct bb_resp_parser *p, void *(*realloc_fn)(void *, size_t),
                         void (*free_fn)(void *));
/* Forgets a half-parsed command (keeps the memory). */
void bb_resp_parser_reset(struct bb_resp_parser *p);
/* Frees what the parser holds; it stays usable (as after reset). */
void bb_resp_parser_release(struct bb_resp_parser *p);

enum { BB_RESP_OK = 0, BB_RESP_MORE = 1 };

/* Parses one command from buf[*pos..len), resuming where the last call on the same bytes stopped.
 * BB_RESP_OK: p->argc arguments are ready (bb_resp_parser_args) and *pos is past the command.
 * BB_RESP_MORE: more bytes are needed; *need is a hint of the total buffer length required (0:
 * unknown). Errors: BB_EPROTO (malformed: a bad number, not '$', unbalanced quotes) or BB_ETOOBIG
 * (over a limit), with *err a Redis-worded text valid until the next call; BB_ENOMEM. After an
 * error the connection should be closed (as Redis does). */
int bb_resp_parse(struct bb_resp_parser *p, const char *buf, size_t len, size_t *pos,
                  const struct bb_resp_limits *lim, size_t *need, const char **err);
/* The arguments of the command just parsed (buf: the buffer given to bb_resp_parse): argv[i],
 * lens[i] for i < p->argc, pointing into buf or into the parser (valid until its next parse,
 * reset or release). */
void bb_resp_parser_args(const struct bb_resp_parser *p, const char *buf, const char **argv,
                         size_t *lens);

/* A command as RESP, the way clients send it: "*<argc>\r\n" then "$<len>\r\n<bytes>\r\n" per
 * argument. Returns a malloc'd buffer (caller frees) and its length in *len; NULL on ENOMEM. */
char *bb_resp_command(size_t argc, const char *const *argv, const size_t *lens, size_t *len);

#endif
