/* bcast_log.h — the segmented on-disk log of a durable topic (format at the top of bcast_log.c).
 * Private to buncast; used from the broker's thread only. */
#ifndef BCAST_LOG_H
#define BCAST_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "bcast_proto.h"

struct bcast_log;

struct bcast_log_opts {
    uint64_t segment_bytes;
    uint64_t retention_bytes;
    uint64_t retention_ms;
};

/* Record callback: id is NUL-terminated, json NUL-terminated (both borrowed for the call). */
typedef void (*bcast_log_cb)(void *arg, uint64_t seq, uint64_t time_ms, const char *id,
                             const char *json, size_t len);

/* Opens (creating if needed) the log of topic under dir and replays every retained record to cb
 * in order. A torn or corrupt tail is truncated away (logged). *out owned by the caller
 * (bcast_log_close). Errors: BB_EIO, BB_ENOMEM. */
int bcast_log_open(struct bcast_log **out, const char *dir, const char *topic, size_t tn,
                   const struct bcast_log_opts *o, bcast_log_cb cb, void *arg);
/* Appends one record (written to the OS before return; fsync'ed by bcast_log_sync). After an I/O
 * error the log is failed (sticky): every later append returns BB_EIO. */
int bcast_log_append(struct bcast_log *l, uint64_t seq, uint64_t time_ms, const char *id,
                     const char *json, size_t len);
/* Calls cb for every retained record whose id is greater than after_id (NULL: all), in order. */
int bcast_log_scan(struct bcast_log *l, const char *after_id, bcast_log_cb cb, void *arg);
/* fsyncs the active segment if it has unsynced records. */
void bcast_log_sync(struct bcast_log *l);
/* Deletes the oldest segments beyond the retention limits (never the active one). */
void bcast_log_retain(struct bcast_log *l, uint64_t now_ms);
/* Id of the newest event removed by retention ("" when none ever was): a subscriber whose last
 * seen id is below it may have missed events. Borrowed, valid until the next call on l. */
const char *bcast_log_floor(const struct bcast_log *l);
/* Removes every segment (DeleteTopic); the log stays usable, empty, with floor = last_id. */
int bcast_log_clear(struct bcast_log *l, const char *last_id);
void bcast_log_close(struct bcast_log *l);

/* What the last valid record of a decoded segment said. */
struct bcast_log_tail {
    uint64_t last_time;
    char last_id[BCAST_ID_LEN + 1];
    size_t records;
};

/* Decodes the records of one segment's bytes (pure: no I/O; the fuzz target's entry point).
 * Returns the length of the valid prefix: 0 when the magic is missing, else MAGIC_LEN + the
 * records that are whole, consistent, CRC-clean and have a seq greater than *last_seq (updated).
 * Everything from the first invalid record on is ignored (the caller truncates it). cb (may be
 * NULL) gets each valid record whose id is greater than after (NULL: all); tail (may be NULL)
 * gets the last valid record's time and id. Never reads outside buf[0..len). */
size_t bcast_log_decode(const uint8_t *buf, size_t len, uint64_t *last_seq, const char *after,
                        bcast_log_cb cb, void *arg, struct bcast_log_tail *tail);

/* Calls cb(arg, topic, tn) for every topic that has a log under dir. */
int bcast_log_list(const char *dir, void (*cb)(void *arg, const char *topic, size_t tn), void *arg);

#endif
