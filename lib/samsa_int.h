/*
 * samsa_int.h - private declarations shared by the files of lib/.
 *
 * Nothing here is exported from libsamsa.so: the library is built with
 * -fvisibility=hidden and only SAMSA_API functions are visible.  The unit
 * tests link the static library and may call these directly.
 *
 * Module map (the data path reads top to bottom):
 *   produce.c     samsa_produce: validate, partition, encode, hand to the log
 *   batch.c       Kafka record batch v2: encode, parse, verify, iterate
 *   log.c         one partition: segment list, append lock, group commit,
 *                 waking readers, lookups by offset and time, recovery
 *   segment.c     one segment file and its sparse indexes
 *   io_posix.c    the I/O layer every file operation goes through
 *   cursor.c      samsa_cursor_*: reads a log zero-copy
 *   catalog.c     LMDB: topics, configs, partition state; one environment
 *                 per directory, every write fanned out (catalog_write)
 *   replica.c     a partition's copies: placement, in-sync set, failover,
 *                 catch-up, reconciling at open (replica.h)
 *   replica_io.c  the I/O table that repeats each call on every copy
 *   scrub.c       samsa_scrub: check every copy, repair from a good one
 *   disks.c       the store's directories: locks, vanishing, the repair pass
 *   catalog_group.c  LMDB: consumer groups' committed offsets
 *   store.c       samsa_open/close/sync, the directory lock, topic table
 *   notify.c      store-wide wake-ups for pollers, the closing gate
 *   queue.c       samsa_queue_receive/ack: share groups' acquisition and
 *                 acknowledgement (queue.h)
 *   queue_group.c share groups of a store: loading, joining, closing
 *   queue_state.c a share-partition's window, journal and snapshot
 *   ackwait.c     senders waiting for, or called back on, acknowledgements
 *   topic.c       samsa_topic_*: create, delete, describe
 *   group.c       consumer groups in memory: members, assignment, expiry
 *   assignor.c    range, round-robin and sticky assignors
 *   consumer.c    samsa_consumer_*: open/close, rebalancing, polling,
 *                 positions, seeks, pauses
 *   commit.c      samsa_consumer_commit, auto-commit, samsa_group_offsets
 *   crc32c.c      CRC-32C, SSE4.2 or portable
 *   partitioner.c Kafka's murmur2
 *   error.c       samsa_strerror, versions, errno translation
 */
#ifndef SAMSA_INT_H
#define SAMSA_INT_H

#include "samsa.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SAMSA_HIDDEN __attribute__((visibility("hidden")))

/* ------------------------------------------------------------------------ */
/* Errors (error.c)                                                         */
/* ------------------------------------------------------------------------ */

/* Translate an errno value to samsa's convention: EIO and ENOSPC get their
 * own codes, ENOMEM too; anything else comes back as -errno. */
int samsa__from_errno(int err);

/* mkdir -p: create path and its missing parents with mode; 0 when it is a
 * directory, else -errno (path.c). */
int samsa__mkdir_p(const char *path, mode_t mode);

/* CLOCK_MONOTONIC ns timeout_ms from now; -1 (never) for a negative
 * timeout (clock.c). */
int64_t samsa__deadline_after(int timeout_ms);
/* CLOCK_MONOTONIC now, in ns (clock.c). */
int64_t samsa__now_ns(void);
/* The same clock, coarse (ms resolution) and cheaper. */
int64_t samsa__now_coarse_ns(void);
/* A condition variable whose timed waits take CLOCK_MONOTONIC deadlines,
 * as samsa__deadline_after() makes. */
void samsa__cond_init_monotonic(pthread_cond_t *cond);
/* Wait on cond until signalled or deadline_ns (-1: never) passes: 0 or
 * ETIMEDOUT, as pthread_cond_timedwait(); callers loop on their
 * condition. */
int samsa__cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock,
                           int64_t deadline_ns);

/* ------------------------------------------------------------------------ */
/* The I/O layer (io_posix.c; tests wrap it, see test/faultio.c)            */
/* ------------------------------------------------------------------------ */

/*
 * Every file operation of the log engine goes through one samsa_io table, so
 * that tests can make any call fail (EIO, ENOSPC, a short write) and can
 * simulate a power cut by dropping or tearing the writes not yet synced.
 *
 * Contract:
 *  - All calls return 0 (write/read: the byte count) or -errno.
 *  - File contents change only through write(); the address map() returns is
 *    a read-only view of the file (MAP_SHARED, so it shows every write at
 *    once).  Readers never touch the view past the bytes they know were
 *    written, so a view longer than the file is fine.
 *  - write() may write fewer bytes than asked (a short write); the caller
 *    treats that as an error.
 *  - allocate() reserves disk blocks for [off, off+len) and extends the file
 *    to at least off+len, so later writes there cannot fail for space.
 */
typedef struct samsa_io samsa_io;
typedef struct samsa_io_file samsa_io_file; /* defined by each implementation */

#define SAMSA_IO_CREATE 0x1 /* create when missing                         */
#define SAMSA_IO_EXCL   0x2 /* with CREATE: fail with -EEXIST if it exists   */
#define SAMSA_IO_RDONLY 0x4 /* open for reading only                        */

#define SAMSA_IO_BOOT_ID 40 /* bytes of a boot id: 36 characters, NULs     */

struct samsa_io {
    int (*open)(samsa_io *io, const char *path, int flags, samsa_io_file **out);
    int (*close)(samsa_io *io, samsa_io_file *f);
    ssize_t (*write)(samsa_io *io, samsa_io_file *f, const void *buf,
                     size_t len, uint64_t off);
    ssize_t (*read)(samsa_io *io, samsa_io_file *f, void *buf, size_t len,
                    uint64_t off);
    int (*map)(samsa_io *io, samsa_io_file *f, size_t len, const void **addr);
    int (*sync)(samsa_io *io, samsa_io_file *f); /* fdatasync      */
    int (*truncate)(samsa_io *io, samsa_io_file *f, uint64_t size);
    int (*allocate)(samsa_io *io, samsa_io_file *f, uint64_t off, uint64_t len);
    int (*size)(samsa_io *io, samsa_io_file *f, uint64_t *size);
    int (*rename)(samsa_io *io, const char *from, const char *to);
    int (*unlink)(samsa_io *io, const char *path);
    int (*mkdir)(samsa_io *io, const char *path);
    int (*rmdir)(samsa_io *io, const char *path);
    int (*dirsync)(samsa_io *io, const char *path);
    /* The running kernel's boot id (/proc/sys/kernel/random/boot_id) into
     * out, NUL-padded: it tells a process crash, which loses nothing in the
     * page cache, from a machine crash, which may (log.c, "The end
     * marker").  A test table simulating a power cut presents a boot of its
     * own.  -errno when unknown; then nothing unsynced is trusted. */
    int (*boot_id)(samsa_io *io, char out[SAMSA_IO_BOOT_ID]);
    void *ctx; /* the implementation's own state                             */
};

/* The default table: plain POSIX calls.  Static, shared, never freed. */
samsa_io *samsa__io_posix(void);

/* Write all of buf at off through io; a short write becomes -EIO. */
int samsa__io_write_all(samsa_io *io, samsa_io_file *f, const void *buf,
                        size_t len, uint64_t off);
/* Unlink the files in a directory through io, then the directory.  Only
 * for a directory the catalog proves samsa made (a partition of a topic it
 * names, or of a pending record: catalog_pending_put). */
void samsa__remove_dir(samsa_io *io, const char *path);

/* ------------------------------------------------------------------------ */
/* CRC-32C (crc32c.c)                                                       */
/* ------------------------------------------------------------------------ */

/* CRC-32C (Castagnoli) of buf, continuing from crc (0 to start), as Kafka's
 * Crc32C: crc32c(0, "123456789", 9) == 0xE3069283.  Uses SSE4.2 when the
 * CPU has it (checked once), else the portable table code. */
uint32_t samsa__crc32c(uint32_t crc, const void *buf, size_t len);
/* The two implementations, for tests; _hw must only be called when
 * samsa__crc32c_hw_available() says so. */
uint32_t samsa__crc32c_sw(uint32_t crc, const void *buf, size_t len);
uint32_t samsa__crc32c_hw(uint32_t crc, const void *buf, size_t len);
bool samsa__crc32c_hw_available(void);

/* ------------------------------------------------------------------------ */
/* Partitioner (partitioner.c)                                              */
/* ------------------------------------------------------------------------ */

/* Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2, seed
 * 0x9747b28c), as a signed 32-bit value like the Java code returns. */
int32_t samsa__murmur2(const void *key, size_t len);

/* ------------------------------------------------------------------------ */
/* Record batch v2 (batch.c)                                                */
/* ------------------------------------------------------------------------ */

#define BATCH_LOG_OVERHEAD 12 /* baseOffset(8) + batchLength(4)             */
#define BATCH_HEADER_SIZE  61 /* through the record count                   */
#define BATCH_MAGIC        2

/* The fixed fields of a batch, decoded. */
typedef struct batch_header {
    int64_t base_offset;       /* offset of the first record                */
    int32_t length;            /* bytes after the batchLength field         */
    int32_t leader_epoch;      /* partitionLeaderEpoch                      */
    int8_t magic;              /* 2                                         */
    uint32_t crc;              /* CRC-32C of attributes..end                */
    int16_t attributes;        /* compression, timestamp type, flags        */
    int32_t last_offset_delta; /* offsets in the batch minus one            */
    int64_t base_timestamp;    /* first record's timestamp                  */
    int64_t max_timestamp;     /* largest timestamp in the batch            */
    int64_t producer_id;       /* -1: no idempotent producer                */
    int16_t producer_epoch;    /* -1                                        */
    int32_t base_sequence;     /* -1                                        */
    int32_t record_count;      /* records that follow                       */
} batch_header;

/* The record batch attributes bits samsa looks at. */
#define BATCH_ATTR_COMPRESSION 0x07
#define BATCH_ATTR_CONTROL     0x20

/* Bytes one batch of these records takes, whole (log overhead included);
 * bodies[i] gets record i's size for batch_encode().  Timestamps must be
 * resolved (no 0 = now left). */
size_t batch_encoded_size(samsa_record *const *recs, size_t n, size_t *bodies);

/* Encode a batch into out (batch_encoded_size() bytes), with baseOffset 0,
 * leader epoch 0 and the CRC filled in; returns the largest timestamp.  The
 * base offset is outside the CRC, so the log sets it afterwards with
 * batch_set_base_offset(). */
int64_t batch_encode(uint8_t *out, samsa_record *const *recs, size_t n,
                     const size_t *bodies);
void batch_set_base_offset(uint8_t *batch, int64_t base_offset);
/* The partitionLeaderEpoch field, also outside the CRC: the epoch of the
 * leader copy that appended the batch (replica.c). */
void batch_set_leader_epoch(uint8_t *batch, int32_t epoch);

/* Parse the fixed header at p, with avail bytes readable there.
 * 0: h is filled and the whole batch (BATCH_LOG_OVERHEAD + h->length bytes)
 *    fits in avail;
 * 1: the header or the batch extends past avail (incomplete: torn, or not
 *    yet written);
 * SAMSA_ECORRUPT: a length or magic that no valid batch has. */
int batch_parse_header(const uint8_t *p, size_t avail, batch_header *h);

/* 0 when the CRC of the batch at p (already parsed into h) matches. */
int batch_verify_crc(const uint8_t *p, const batch_header *h);

/* Iterates the records of one verified batch. */
typedef struct batch_iter {
    const uint8_t *next; /* the next record's length varint              */
    const uint8_t *end;  /* end of the batch                              */
    int64_t base_offset; /* from the header                               */
    int64_t base_timestamp;
    int64_t log_append_time; /* the batch's max timestamp when it uses
                                LogAppendTime, else -1                     */
    int32_t left;            /* records not yet returned                      */
    int32_t last_delta;      /* the batch's lastOffsetDelta               */
    int64_t prev_delta;      /* the last record's offsetDelta, -1 first   */
} batch_iter;

void batch_iter_init(batch_iter *it, const uint8_t *batch,
                     const batch_header *h);
/* Decode the next record into m (offset, timestamp, key, value, headers);
 * 0, 1 when no records are left, SAMSA_ECORRUPT when it does not parse. */
int batch_iter_next(batch_iter *it, samsa_message *m);

/* Decode header i of a message (see samsa_message_header()). */
int batch_record_header(const samsa_message *m, size_t i, const char **key,
                        size_t *key_len, const void **value, size_t *value_len);

#endif /* SAMSA_INT_H */
