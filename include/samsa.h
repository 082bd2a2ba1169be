/*
 * samsa.h - Apache Kafka's model as a C library.
 *
 * samsa keeps topics, partitions, offsets and offset cursors over an
 * append-only log on the application's own disks, inside one process.
 * Segment files hold Kafka's record batch format v2 byte for byte, and keys
 * are partitioned with Kafka's murmur2, so the data can move to a Kafka
 * cluster unchanged.
 *
 * Conventions used throughout this header:
 *
 *  - Functions return 0 on success or a negative error code: one of the
 *    SAMSA_E* codes below, or -errno for an operating-system failure that has
 *    no better name.  samsa_strerror() describes any of them.
 *  - A function that fails changes nothing, unless its documentation says
 *    otherwise (samsa_produce() across several partitions).
 *  - Option, config and record structs are zero-initialisable: a field left
 *    0 takes its default.  Their reserved tails must stay zero (a call
 *    given one that is not returns SAMSA_EINVAL); they are room for fields
 *    added in later minor versions without breaking the ABI.  Structs the
 *    library fills (samsa_message, samsa_replica_info, ...) have reserved
 *    tails too, which it sets to zero.
 *  - Counts of things (records in a call, copies, headers, rejoined copies)
 *    are size_t; offsets, timestamps, partitions and delivery counts are
 *    Kafka's fields, with Kafka's widths (int64_t, int64_t, int32_t,
 *    int32_t).
 *  - Every close function returns int: 0, or an error met while closing
 *    (the object is freed either way); NULL is accepted and does nothing.
 *  - Pointers returned to the caller are borrowed unless stated otherwise;
 *    each says how long it stays valid.  The library never hands the caller
 *    memory to free().
 *  - Thread safety: one samsa handle is shared by all threads of a process.
 *    A cursor or a consumer belongs to one thread at a time.
 *
 * Caveats (samsa(7), CAVEATS, says more):
 *
 *  - Segments are read, and queue journals written, through shared
 *    mappings: a file truncated by another program while the store is open,
 *    or a media error on a mapped page, raises SIGBUS rather than an error
 *    code.  Keep stores on a local file system and let nothing else write
 *    into them.
 *  - A child forked while the store is open inherits the directory locks and
 *    keeps the store locked until it exits or execs; it must not use any
 *    samsa handle.  Fork before samsa_open(), or exec in the child.
 *  - The lock (flock(2) on DIR/lock) keeps out a second handle on the same
 *    machine; it is advisory and protects nothing from other programs.
 *
 * See samsa(7) for the concepts, the storage layout and the full error table.
 */
#ifndef SAMSA_H
#define SAMSA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(SAMSA_BUILDING)
#define SAMSA_API __attribute__((visibility("default")))
#else
#define SAMSA_API
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                  */
/* ------------------------------------------------------------------------ */

#define SAMSA_VERSION_MAJOR 0
#define SAMSA_VERSION_MINOR 1
#define SAMSA_VERSION_PATCH 0
/** The version as 0xXXYYZZ (major, minor, patch), for compile-time tests. */
#define SAMSA_VERSION_NUM                                                      \
    ((SAMSA_VERSION_MAJOR << 16) | (SAMSA_VERSION_MINOR << 8) |                \
     SAMSA_VERSION_PATCH)

/**
 * @brief The version of the library actually linked.
 * @return the version as SAMSA_VERSION_NUM encodes it.  Same major number
 *         means ABI-compatible.
 */
SAMSA_API unsigned samsa_version(void);

/** @brief The version of the linked library as a static string, "0.1.0". */
SAMSA_API const char *samsa_version_string(void);

/* ------------------------------------------------------------------------ */
/* Handles                                                                  */
/* ------------------------------------------------------------------------ */

/** An open store: one directory, its topics and their partitions. */
typedef struct samsa samsa;
/** Reads one partition in offset order. */
typedef struct samsa_cursor samsa_cursor;
/** A member of a consumer group: reads the partitions the group gives it. */
typedef struct samsa_consumer samsa_consumer;
/** A receiver in a share group: takes records of a topic off a queue. */
typedef struct samsa_queue samsa_queue;

/* ------------------------------------------------------------------------ */
/* Error codes                                                              */
/* ------------------------------------------------------------------------ */

/*
 * The one table of samsa's own error codes: XX(name, value, message).
 * The enum below, samsa_strerror() and the ERRORS list of samsa(7) all come
 * from it.  Values are contiguous, from -30600 down to SAMSA_ELAST, clear of
 * errno values and of LMDB's codes.
 */
#define SAMSA_ERRNO_MAP(XX)                                                    \
    XX(EINVAL, -30600, "invalid argument")                                     \
    XX(ENOTOPIC, -30601, "no such topic")                                      \
    XX(EEXIST, -30602, "topic already exists")                                 \
    XX(ETIMEDOUT, -30603, "timed out")                                         \
    XX(EOFFSET, -30604, "offset out of range")                                 \
    XX(ECORRUPT, -30605, "data on disk is corrupt")                            \
    XX(EIO, -30606, "input/output error")                                      \
    XX(ENOSPC, -30607, "no space left on device")                              \
    XX(ETOOBIG, -30608, "record batch larger than the topic allows")           \
    XX(ELOCKED, -30609, "store is open in another handle or process")          \
    XX(ENOPARTITION, -30610, "no such partition")                              \
    XX(ENOMEM, -30611, "out of memory")                                        \
    XX(ENOTSUP, -30612, "not supported")                                       \
    XX(EVERSION, -30613, "store was written by an incompatible version")       \
    XX(EDELETED, -30614, "topic was deleted")                                  \
    XX(EFAILED, -30615, "partition stopped after a failed sync; reopen")       \
    XX(ECLOSED, -30616, "store is closing")                                    \
    XX(ENOTASSIGNED, -30617, "partition is not assigned to this consumer")     \
    XX(ECONFLICT, -30618, "config conflicts with the group's")                 \
    XX(ENOTACQUIRED, -30619, "record is not acquired by this receiver")        \
    XX(ENOTENOUGHREPLICAS, -30620, "fewer in-sync copies than min_insync")     \
    XX(ENOTSTORE, -30621, "directory is not empty and holds no samsa store")   \
    XX(EFORGOTTEN, -30622, "record's outcome is no longer kept")               \
    XX(EBUSY, -30623, "group has members; close them first")                   \
    XX(ENOGROUP, -30624, "no such group")                                      \
    XX(EWAKEUP, -30625, "woken by a wakeup call")                              \
    XX(EQUEUEFULL, -30626, "producer's buffer is full")                        \
    XX(ERDONLY, -30627, "store is open read-only")

/** samsa's error codes.  0 is success; every error is negative. */
/* The formatter cannot see that the map expands to enumerators. */
/* clang-format off */
typedef enum samsa_error {
#define SAMSA_XX_ENUM(name, value, msg) SAMSA_##name = (value),
    SAMSA_ERRNO_MAP(SAMSA_XX_ENUM)
#undef SAMSA_XX_ENUM
    SAMSA_ELAST = -30628 /**< one below the last code, for range checks */
} samsa_error;
/* clang-format on */

/**
 * @brief Describe an error code.
 * @param[in] rc a value returned by a samsa function: 0, a SAMSA_E* code or
 *            -errno.
 * @return a string that starts with the code's symbol, such as
 *         "SAMSA_ENOTOPIC: no such topic"; "success" for 0.  Never NULL;
 *         unknown codes give "SAMSA_UNKNOWN: unknown error".  Static for
 *         samsa's codes; for -errno ("ENOENT: No such file or directory")
 *         a per-thread buffer, valid until this thread's next call.
 */
SAMSA_API const char *samsa_strerror(int rc);

/* ------------------------------------------------------------------------ */
/* Options and configs                                                      */
/* ------------------------------------------------------------------------ */

/** When samsa_produce() waits for stable storage. */
typedef enum samsa_sync_policy {
    SAMSA_SYNC_DEFAULT = 0, /**< topic: the store's policy; store: NONE    */
    SAMSA_SYNC_NONE = 1,    /**< return once the data is in the page cache:
                                 survives kill -9, not a power cut          */
    SAMSA_SYNC_ALWAYS = 2   /**< return once fdatasync() made the data
                                 durable; concurrent producers share syncs  */
} samsa_sync_policy;

struct samsa_replica_event;

/**
 * Called when a copy of a partition leaves or rejoins the in-sync set, or
 * when a partition's leader copy moves (see samsa_replica_status()).
 * It runs on whichever thread met the event, with internal locks held: it
 * must return quickly and must not call any samsa function.  ev and its
 * pointers are valid during the call only.
 */
typedef void (*samsa_replica_fn)(const struct samsa_replica_event *ev,
                                 void *ctx);

/** Options for samsa_open().  Zero-initialise; 0 means the default. */
typedef struct samsa_options {
    const char *const *replica_dirs; /**< NULL-terminated mirror directories,
                                          at most SAMSA_MAX_REPLICA_DIRS,
                                          each ideally on its own device;
                                          NULL or empty: none.  Give them in
                                          the same order at every open    */
    int sync;                        /**< a samsa_sync_policy; 0: NONE      */
    int flags;                       /**< SAMSA_OPEN_* bits                 */
    size_t catalog_map_bytes;        /**< LMDB map size; 0: 1 GiB           */
    samsa_replica_fn on_replica;     /**< replica events, or NULL           */
    void *on_replica_ctx;            /**< passed to on_replica              */
    size_t max_open_files;           /**< segment files kept open at once,
                                          store-wide (each copy's file holds
                                          a descriptor): idle ones past it
                                          are closed (an active segment only
                                          its descriptor, never its mapping)
                                          and opened again when read,
                                          written or synced (never under a
                                          reader); 0: a quarter of
                                          RLIMIT_NOFILE over the store's
                                          directories, 256 to 4096        */
    int64_t spin_ns;                 /**< how long a reader that reached the
                                          end of what it reads (a cursor,
                                          a consumer's or a queue
                                          receiver's poll) keeps looking,
                                          on its CPU, before it sleeps:
                                          records produced meanwhile reach
                                          it without a wake-up (a system
                                          call on both sides); 0: the
                                          default: each reader polls up
                                          to SAMSA_SPIN_NS_DEFAULT, as
                                          long as its recent waits say a
                                          record will come meanwhile;
                                          -1: sleep at once; at most
                                          1 s.  At most one less than the
                                          CPUs (at least one) poll at
                                          once in a process; the others
                                          sleep at once              */
    uint64_t reserved[4];            /**< must be zero                      */
} samsa_options;

/** samsa_options.spin_ns when 0: the longest a reader polls (ns) before
 * it sleeps, and then only while its recent waits were no longer: it
 * polls for twice its recent waits (at least 50 us), or not at all when
 * they were longer than this.  So records that come 10,000 a second
 * reach their reader without a wake-up (several microseconds on each
 * side), and a reader of slower or stopped records sleeps at once. */
#define SAMSA_SPIN_NS_DEFAULT 200000

#define SAMSA_MAX_REPLICA_DIRS 7 /**< replica_dirs entries, besides dir */

/** samsa_options.flags: create the directory, and its missing parents (as
 * mkdir -p does), if it does not exist; replica directories too. */
#define SAMSA_OPEN_CREATE 0x1

/** samsa_options.flags: open read-only, beside the process that has the
 * store open for writing (or when none has), any number of times in
 * parallel, in this process or others.  A read-only handle takes no lock,
 * and never creates, truncates, recovers or writes any file of the store:
 * its only stores go to shared memory, LMDB's reader table
 * (DIR/catalog/lock.mdb) and the waiter count of a partition's end marker
 * (DIR/TOPIC-P/samsa.end) while a cursor waits there; both are back as
 * they were once it is closed.  It sees exactly the records the writer
 * acknowledged (each partition's published end, read from its end
 * marker; every batch CRC-checked), and a blocking samsa_cursor_next()
 * follows new ones: the writer wakes it within microseconds of a produce
 * (a shared futex), and every few tens of milliseconds it looks again on
 * its own, for a writer that started, restarted or died, new segments,
 * retention, and topics created or deleted.  Every call that would write
 * (produce, producers, topic create, delete and alter, consumer groups
 * and their commits, group reset and delete, share groups, record
 * deletion, samsa_sync(), samsa_scrub() and samsa_replica_catchup())
 * returns SAMSA_ERDONLY and changes nothing.  Give the writer's
 * replica_dirs, in its order, to read partitions led from them.  Not with
 * SAMSA_OPEN_CREATE.  See samsa(7), "Read-only handles". */
#define SAMSA_OPEN_RDONLY 0x2

/** A topic's configuration.  Zero-initialise; 0 means the default. */
typedef struct samsa_topic_config {
    int32_t partitions;           /**< 1..SAMSA_MAX_PARTITIONS; 0: 1          */
    int32_t replicas;             /**< copies of each partition, counting the
                                       leader, on distinct directories;
                                       0: 1; at most 1 + the replica dirs  */
    int64_t segment_bytes;        /**< roll a segment past this size;
                                       0: 1 GiB; 4096..2 GiB-1                 */
    int32_t max_message_bytes;    /**< largest record batch one produce call may
                                       write to one partition; 0: 1048588
                                       (Kafka's default); 64..256 MiB          */
    int32_t index_interval_bytes; /**< bytes of log between sparse index
                                       entries; 0: 4096; 64..1 MiB         */
    int sync;                     /**< a samsa_sync_policy; 0: the store's    */
    int32_t min_insync;           /**< with SAMSA_ACKS_ALL, produce fails with
                                       SAMSA_ENOTENOUGHREPLICAS when fewer
                                       copies are in sync; 0: 1; at most
                                       replicas                            */
    int32_t acks;                 /**< SAMSA_ACKS_ALL or SAMSA_ACKS_LEADER;
                                       0: ALL                              */
    int32_t timestamp_type;       /**< a samsa_timestamp_type: whose clock
                                       stamps the records; 0: the
                                       producer's (Kafka's
                                       message.timestamp.type)             */
    int64_t retention_ms;         /**< delete a sealed segment once its newest
                                       record is older than this (by record
                                       timestamp against the wall clock);
                                       0 or -1: keep for ever; >= -1
                                       (Kafka's retention.ms)              */
    int64_t retention_bytes;      /**< per partition: delete the oldest sealed
                                       segments while what is left is still
                                       at least this large; 0 or -1: no
                                       limit; >= -1 (Kafka's
                                       retention.bytes)                    */
    int64_t segment_ms;           /**< roll the active segment once its first
                                       record is older than this, so that
                                       time retention reaches a quiet
                                       partition; 0 or -1: never; >= -1
                                       (Kafka's segment.ms)                */
    int32_t compression;          /**< a samsa_compression: how produce
                                       compresses each batch; 0 or -1:
                                       none (Kafka's compression.type)     */
    int32_t compression_level;    /**< the codec's level; 0: its default;
                                       gzip 1..9, lz4 1..12, zstd 1..22;
                                       snappy and none take none
                                       (Kafka's compression.*.level)       */
    int32_t cleanup_policy;       /**< SAMSA_CLEANUP_DELETE, SAMSA_CLEANUP_
                                       COMPACT or both or'ed (Kafka's
                                       cleanup.policy "compact,delete");
                                       0: DELETE.  With COMPACT, every
                                       record produced needs a key
                                       (SAMSA_EINVAL otherwise) and a
                                       background cleaner keeps only the
                                       latest record of each key in the
                                       sealed segments (samsa(7),
                                       "Compaction")                       */
    float min_cleanable_dirty_ratio; /**< clean a partition only once the
                                       part written since its last
                                       cleaning is at least this fraction
                                       of what may be cleaned; 0: 0.5;
                                       (0, 1], or -1: any (Kafka's
                                       min.cleanable.dirty.ratio)          */
    int64_t delete_retention_ms;     /**< how long a tombstone (a record with a
                                          null value) stays after the cleaning
                                          that found it its key's latest
                                          record; 0: 86400000 (a day); > 0,
                                          or -1: none, it goes at the next
                                          cleaning (Kafka's
                                          delete.retention.ms)                */
    int64_t min_compaction_lag_ms;   /**< a segment is cleaned only once its
                                         newest record is at least this old;
                                         0 or -1: at once; >= -1 (Kafka's
                                         min.compaction.lag.ms)              */
} samsa_topic_config;

/** samsa_topic_config.cleanup_policy: bits, as Kafka's cleanup.policy.
 *  DELETE applies retention_ms and retention_bytes (and nothing without
 *  them); COMPACT keeps the latest record of each key; both do both,
 *  retention first. */
typedef enum samsa_cleanup_policy {
    SAMSA_CLEANUP_DELETE = 1,  /**< Kafka's "delete" (the default)        */
    SAMSA_CLEANUP_COMPACT = 2, /**< Kafka's "compact"                     */
    SAMSA_CLEANUP_COMPACT_DELETE = 3 /**< Kafka's "compact,delete"        */
} samsa_cleanup_policy;

/** samsa_topic_config.timestamp_type and samsa_message.timestamp_type:
 *  Kafka's TimestampType. */
typedef enum samsa_timestamp_type {
    SAMSA_TIMESTAMP_CREATE_TIME = 0,    /**< the producer's: a record's own
                                             timestamp, or the time of
                                             the produce call when 0      */
    SAMSA_TIMESTAMP_LOG_APPEND_TIME = 1 /**< the store's: every record of a
                                             batch gets the time it was
                                             appended, whatever it said    */
} samsa_timestamp_type;

/** samsa_topic_config.compression: Kafka's codecs, with Kafka's numbers
 *  (a batch's attributes carry them).  Every batch is read whatever its
 *  codec, whatever the topic's setting. */
typedef enum samsa_compression {
    SAMSA_COMPRESSION_NONE = 0,   /**< records as they are (the default)   */
    SAMSA_COMPRESSION_GZIP = 1,   /**< gzip, through zlib                  */
    SAMSA_COMPRESSION_SNAPPY = 2, /**< snappy, in xerial's framing         */
    SAMSA_COMPRESSION_LZ4 = 3,    /**< an LZ4 frame, through liblz4        */
    SAMSA_COMPRESSION_ZSTD = 4    /**< a zstd frame, through libzstd       */
} samsa_compression;

/** samsa_topic_config.acks: acknowledge a produce once every in-sync copy
 *  has the records (synced too under SAMSA_SYNC_ALWAYS), as Kafka's
 *  acks=all; min_insync applies. */
#define SAMSA_ACKS_ALL (-1)
/** samsa_topic_config.acks: acknowledge once the leader copy has them
 *  (synced under SAMSA_SYNC_ALWAYS); the other copies get the bytes in the
 *  same call but are synced later, by the background flusher or
 *  samsa_sync(), and min_insync is not checked, as Kafka's acks=1. */
#define SAMSA_ACKS_LEADER 1

#define SAMSA_MAX_PARTITIONS 65536 /**< partitions a topic may have         */
#define SAMSA_MAX_TOPIC_NAME 249   /**< longest topic name, as Kafka        */

/* ------------------------------------------------------------------------ */
/* Store                                                                    */
/* ------------------------------------------------------------------------ */

/**
 * @brief Open a store.
 *
 * Takes an exclusive lock on the directory, opens the catalog, and recovers
 * every partition: the tail of each log after its recovery point is scanned,
 * a torn or half-written batch at the end is cut off, and index entries past
 * the end are dropped.  Only what was never acknowledged is cut: a bad batch
 * below the partition's acknowledged end (samsa(7), Recovery) is damage,
 * kept, and reported by cursors with SAMSA_ECORRUPT; the log end stays.
 * Segments before the recovery point are not read.
 *
 * @param[in] dir  the store's directory.  It must exist unless
 *                 SAMSA_OPEN_CREATE is given, which creates it and its
 *                 missing parents.
 * @param[in] opt  options, or NULL for the defaults.
 * @param[out] out the new handle; set only on success.  Close it with
 *                 samsa_close().
 * With SAMSA_OPEN_RDONLY in opt->flags it takes no lock and recovers,
 * creates and writes nothing (samsa(7), "Read-only handles").
 *
 * @return 0, or
 *   - SAMSA_EINVAL: dir or out is NULL, dir is empty, opt has a bad field
 *     or a non-zero reserved field (SAMSA_OPEN_RDONLY with
 *     SAMSA_OPEN_CREATE), opt->replica_dirs has an empty string or more
 *     than SAMSA_MAX_REPLICA_DIRS entries;
 *   - SAMSA_ELOCKED: another process, or another handle in this process,
 *     has the store (or one of its replica directories) open (never for
 *     a read-only open);
 *   - SAMSA_ENOTENOUGHREPLICAS: a partition has no copy that was in sync
 *     among the directories given (samsa never lets a copy that missed
 *     acknowledged records lead); open with a directory that has one;
 *   - SAMSA_ENOTSTORE: dir, or a replica directory, holds entries but no
 *     samsa catalog (DIR/catalog/data.mdb): a new store is made only in an
 *     empty or absent directory, and samsa changes nothing in the other
 *     (it deletes only what it can prove it made); read-only: also an
 *     empty dir;
 *   - SAMSA_EVERSION: the catalog was written by an incompatible version;
 *   - SAMSA_ECORRUPT: the catalog is damaged in every directory that
 *     holds one (one damaged in some is rebuilt from another's and the
 *     open goes on), or a partition directory holds a file under a
 *     segment's name that samsa did not make (one named inside the
 *     records of the segment before it, a FIFO: samsa(7), Recovery); no
 *     file was changed;
 *   - SAMSA_ENOMEM, SAMSA_EIO, SAMSA_ENOSPC, or -errno (for example
 *     -ENOENT when dir does not exist, -EACCES; -EISDIR or -ELOOP for a
 *     directory or symbolic link under a segment's name).
 */
SAMSA_API int samsa_open(const char *dir, const samsa_options *opt,
                         samsa **out);

/**
 * @brief Close a store: seal the active segments, write their indexes, record
 *        the recovery points, and release the lock.
 *
 * Every cursor opened on the store must be closed first.  Other threads
 * must not be inside a call on the store, except calls blocked waiting for
 * records across partitions (a consumer-group poll, a queue receive): those
 * are woken and return SAMSA_ECLOSED, and samsa_close() waits for them to
 * leave before it frees anything.  Their handles must still be closed.
 *
 * @param[in] s the store, or NULL (then nothing happens).
 * @return 0, or the first error met while flushing (SAMSA_EIO, SAMSA_ENOSPC,
 *         -errno); the handle is freed either way.  A failure here loses
 *         nothing acknowledged: the next samsa_open() recovers the logs.
 */
SAMSA_API int samsa_close(samsa *s);

/**
 * @brief Make everything produced so far durable (fdatasync of every active
 *        segment, on every in-sync copy), whatever the sync policy and acks,
 *        and advance the recovery points.
 * @param[in] s the store.
 * @return 0, SAMSA_EINVAL (s is NULL), SAMSA_EIO, SAMSA_EFAILED.
 * Also SAMSA_ERDONLY on a read-only handle (SAMSA_OPEN_RDONLY): nothing
 * changed.
 */
SAMSA_API int samsa_sync(samsa *s);

/* ------------------------------------------------------------------------ */
/* Topics                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * @brief Create a topic with its partitions, atomically.
 *
 * A crash during the call leaves either no topic or the whole topic.
 *
 * @param[in] s    the store.
 * @param[in] name 1..249 characters of [A-Za-z0-9._-], not "." or "..".
 * @param[in] cfg  the topic's config, or NULL for the defaults.
 * @return 0, or
 *   - SAMSA_EINVAL: s or name is NULL, the name breaks the rules above, or
 *     a config field is out of range (replicas above the number of the
 *     store's directories, min_insync above replicas, acks neither
 *     SAMSA_ACKS_ALL nor SAMSA_ACKS_LEADER, a cleanup_policy or
 *     compaction setting outside its range);
 *   - SAMSA_EEXIST: a topic of that name exists, or a directory where one
 *     of its partitions would go (NAME-P in a store directory) is there
 *     and samsa cannot prove it made it, or it is a deleted topic's that
 *     still holds files samsa did not make (see samsa_topic_delete()):
 *     it is left alone, and the topic is not created;
 *   - SAMSA_EIO, SAMSA_ENOSPC, SAMSA_ENOMEM, SAMSA_EFAILED, -errno.
 * Also SAMSA_ERDONLY on a read-only handle (SAMSA_OPEN_RDONLY): nothing
 * changed.
 */
SAMSA_API int samsa_topic_create(samsa *s, const char *name,
                                 const samsa_topic_config *cfg);

/**
 * @brief Create a topic of one partition from a Kafka partition directory.
 *
 * kafka_dir is a directory Kafka wrote for one partition (TOPIC-N): its
 * segments BASE.log, record batches v2, become the partition's log with
 * their offsets and bytes as they are, compressed batches included; a log
 * that starts at 1000 starts at 1000 (samsa_offsets() gives it as the
 * first offset), and the next record produced gets the log's end offset.
 * Every batch is checked first: whole, magic 2, CRC-32C, records that
 * parse and are as many as its header says, base offsets rising from file
 * to file and each batch inside its file's offsets; one that fails refuses
 * the directory with SAMSA_ECORRUPT and nothing is made.  Kafka's
 * .index, .timeindex and leader-epoch-checkpoint are not taken: samsa
 * writes its own index files (at this call, which reads every batch
 * again as a recovery does).  The partition is flagged
 * SAMSA_PARTITION_GAPS: Kafka's compaction leaves gaps between offsets,
 * and readers go on at the next record there.
 *
 * Kafka's files are never modified: each is hard-linked into the new
 * partition directory when the topic has one copy (cfg->replicas) and
 * the store's directory is on the same filesystem, else copied; samsa
 * writes only a new segment of its own that starts at the end.  Crash
 * safety is samsa_topic_create()'s: a crash part way leaves no topic (the
 * directories it made are removed at the next samsa_open()), or the
 * whole of it.
 *
 * @param[in] s         the store.
 * @param[in] name      the new topic's name (any valid name: it need not
 *                      be Kafka's).
 * @param[in] kafka_dir the Kafka partition directory; only read.
 * @param[in] cfg       the topic's config, or NULL for the defaults;
 *                      partitions must be 0 or 1.
 * @return 0, or
 *   - SAMSA_EINVAL: NULL s or kafka_dir, a bad name, cfg->partitions over
 *     1 or another field out of range, or kafka_dir holds no .log file;
 *   - SAMSA_EEXIST: a topic of that name exists (or its directory is in
 *     the way);
 *   - SAMSA_ECORRUPT: a batch of kafka_dir fails a check above;
 *   - SAMSA_EIO, SAMSA_ENOSPC, SAMSA_ENOMEM, -errno (-ENOENT: no such
 *     kafka_dir).
 * Also SAMSA_ERDONLY on a read-only handle (SAMSA_OPEN_RDONLY): nothing
 * changed.
 */
SAMSA_API int samsa_topic_adopt(samsa *s, const char *name,
                                const char *kafka_dir,
                                const samsa_topic_config *cfg);

/**
 * @brief Delete a topic and all its records, atomically.
 *
 * Cursors still open on the topic get SAMSA_EDELETED from their next call;
 * they must still be closed.  So do the topic's queue receivers, and
 * samsa_queue_ack_info() calls waiting on its records return it.  Every
 * group's committed offsets and every share group's state of the topic
 * are removed with it: a topic created again under the name starts
 * afresh.
 *
 * Only the files samsa made in the partition directories are removed
 * (segments, their index files, the end marker: samsa(7), "Storage
 * layout"): anything else found there (another name, a directory, a
 * symbolic link, a stray file under a segment's name) stays, and so does
 * its directory.  A create of the name then fails with SAMSA_EEXIST,
 * changing nothing, until what is left is moved away.
 *
 * @param[in] s    the store.
 * @param[in] name the topic.
 * @return 0 (also when such files stay), SAMSA_EINVAL (NULL argument or
 *         bad name), SAMSA_ENOTOPIC, or an error of the catalog update,
 *         after which the topic still exists: SAMSA_EIO, SAMSA_ENOSPC,
 *         SAMSA_ECORRUPT, -errno.  Files left behind by a failed removal
 *         after the catalog update (or on a directory that is down, or
 *         beside files samsa did not make) are removed at the next
 *         samsa_open(), or by the next create of the name: the catalog
 *         records the directories as pending removal, the proof that they
 *         are samsa's.
 * Also SAMSA_ERDONLY on a read-only handle (SAMSA_OPEN_RDONLY): nothing
 * changed.
 */
SAMSA_API int samsa_topic_delete(samsa *s, const char *name);

/**
 * @brief Change the config of an existing topic (Kafka's
 *        IncrementalAlterConfigs).
 *
 * Fields of cfg left 0 keep their value; the others replace it, checked as
 * samsa_topic_create() checks them: retention_ms, retention_bytes,
 * segment_ms, compression, compression_level, segment_bytes,
 * max_message_bytes, index_interval_bytes, timestamp_type, sync, acks,
 * min_insync, cleanup_policy, min_cleanable_dirty_ratio,
 * delete_retention_ms and min_compaction_lag_ms (the cleanup fields from
 * the next background pass; a topic made compacted refuses records without
 * a key from the next produce).  -1 in retention_ms, retention_bytes or
 * segment_ms lifts that limit (as in Kafka; samsa_topic_describe() then gives
 * 0); -1 in compression turns it off, and a new codec without a level takes its
 * default level; -1 in timestamp_type is SAMSA_TIMESTAMP_CREATE_TIME.
 * partitions and replicas cannot change here (samsa_topic_add_partitions()
 * grows a topic): a non-zero value other than the topic's own is SAMSA_EINVAL.
 * Retention and segment_ms apply from the next background pass (about a
 * second); segment_bytes, max_message_bytes and index_interval_bytes from the
 * next segment (the active one is rolled when it could not take a batch of the
 * new largest size); sync, acks and min_insync from the next produce.  The
 * change is one catalog commit: a crash leaves the old config or the new.
 *
 * @param[in] s    the store.
 * @param[in] name the topic.
 * @param[in] cfg  the fields to change; not NULL.
 * @return 0, or
 *   - SAMSA_EINVAL: s, name or cfg is NULL, a bad name, a field out of
 *     range, partitions or replicas not 0 and
 *     not the topic's, min_insync above the replicas; nothing changed;
 *   - SAMSA_ENOTOPIC: no such topic;
 *   - SAMSA_EIO, SAMSA_ENOSPC, SAMSA_EFAILED, -errno: the catalog update
 *     failed; the old config stays.
 * Also SAMSA_ERDONLY on a read-only handle (SAMSA_OPEN_RDONLY): nothing
 * changed.
 */
SAMSA_API int samsa_topic_alter(samsa *s, const char *name,
                                const samsa_topic_config *cfg);

/**
 * @brief Grow a topic to partitions partitions (Kafka's CreatePartitions).
 *
 * The new partitions start empty, placed and replicated as at create.  A
 * crash during the call leaves the topic with its old partitions or all
 * the new ones, never a part (the new directories are recorded as pending
 * first and removed at the next open if the growth did not commit).  As
 * in Kafka, keyed records may now go to another partition than before:
 * samsa_partition_for_key() depends on the partition count, so records of
 * one key produced before and after the growth may be in two partitions,
 * and their order across the two is not kept.  Consumer groups take the
 * new partitions at once; share groups from the next samsa_open().
 *
 * @param[in] s          the store.
 * @param[in] name       the topic.
 * @param[in] partitions the new count: more than the topic has, at most
 *                       SAMSA_MAX_PARTITIONS.
 * @return 0, or
 *   - SAMSA_EINVAL: s or name is NULL, a bad name, partitions not above
 *     the current count or above SAMSA_MAX_PARTITIONS; nothing changed;
 *   - SAMSA_ENOTOPIC: no such topic;
 *   - SAMSA_EEXIST: a directory where a new partition would go (NAME-P)
 *     exists and samsa cannot prove it made it; it is left alone;
 *   - SAMSA_EIO, SAMSA_ENOSPC, SAMSA_ENOMEM, SAMSA_EFAILED, -errno: the
 *     topic keeps its old partitions.
 * Also SAMSA_ERDONLY on a read-only handle (SAMSA_OPEN_RDONLY): nothing
 * changed.
 */
SAMSA_API int samsa_topic_add_partitions(samsa *s, const char *name,
                                         int32_t partitions);

/**
 * @brief Delete the records of a partition below an offset (Kafka's
 *        DeleteRecords): move its log start offset to before.
 *
 * Atomic for every reader: once the call returns, samsa_offsets() gives
 * before as first, cursors below it get SAMSA_EOFFSET from their next call,
 * SAMSA_OFFSET_BEGINNING means before, consumer groups whose position is
 * below it apply their auto.offset.reset, share groups skip the deleted
 * records.  The new start is committed to the catalog (synced) before any
 * file is removed: a crash never shows a record below it again.  Whole
 * segments below before are removed from every copy; the records below it
 * in the segment holding before stay on disk, unreadable, until retention
 * or a later call removes that segment.  A before at or below the current
 * start changes nothing and returns 0.
 *
 * @param[in] s         the store.
 * @param[in] topic     the topic.
 * @param[in] partition the partition.
 * @param[in] before    the new log start offset, 0 .. the log end offset
 *                      (the end: every record is deleted).
 * @return 0, or
 *   - SAMSA_EINVAL: s or topic is NULL, a bad name, before negative;
 *   - SAMSA_ENOTOPIC, SAMSA_ENOPARTITION;
 *   - SAMSA_EOFFSET: before is past the log end offset; nothing changed;
 *   - SAMSA_EIO, SAMSA_ENOSPC, -errno: the catalog update failed; nothing
 *     changed.
 * Also SAMSA_ERDONLY on a read-only handle (SAMSA_OPEN_RDONLY): nothing
 * changed.
 */
SAMSA_API int samsa_delete_records(samsa *s, const char *topic,
                                   int32_t partition, int64_t before);

/**
 * @brief Read a topic's config, with every default filled in.
 * @param[in]  s    the store.
 * @param[in]  name the topic.
 * @param[out] cfg  receives the config.
 * @return 0, SAMSA_EINVAL (NULL argument or bad name), SAMSA_ENOTOPIC.
 */
SAMSA_API int samsa_topic_describe(samsa *s, const char *name,
                                   samsa_topic_config *cfg);

/**
 * @brief Call fn once for each topic, in name order.
 * @param[in] s   the store.
 * @param[in] fn  called with each name (valid during the call only) and ctx;
 *                a non-zero return stops the walk and is returned.  The
 *                names are copied first, so fn may call any samsa function,
 *                and sees topics as they were when the walk began.
 * @param[in] ctx passed to fn.
 * @return 0, fn's non-zero return, or SAMSA_EINVAL (s or fn is NULL).
 */
SAMSA_API int samsa_topic_foreach(samsa *s,
                                  int (*fn)(const char *name, void *ctx),
                                  void *ctx);

/* ------------------------------------------------------------------------ */
/* Producing                                                                */
/* ------------------------------------------------------------------------ */

/** A record header: a key string and a value of bytes. */
typedef struct samsa_header {
    const char *key;      /**< NUL-terminated, not NULL                      */
    const void *value;    /**< NULL: a null value                            */
    size_t value_len;     /**< bytes at value; must be 0 if value is NULL    */
    uint64_t reserved[2]; /**< zero: room for fields to come             */
} samsa_header;

/** A record to produce, and where it was stored. */
typedef struct samsa_record {
    const void *key;             /**< NULL: no key                       */
    size_t key_len;              /**< must be 0 if key is NULL           */
    const void *value;           /**< NULL: a null value (tombstone)     */
    size_t value_len;            /**< must be 0 if value is NULL         */
    const samsa_header *headers; /**< header_count headers, or NULL      */
    size_t header_count;
    int64_t timestamp;    /**< in: ms since the epoch, 0 = now; out: stored  */
    int32_t partition;    /**< out: the partition it went to                 */
    int64_t offset;       /**< out: its offset, -1 where it was not stored   */
    uint64_t reserved[4]; /**< zero: room for fields to come             */
} samsa_record;

#define SAMSA_PARTITION_ANY    (-1) /**< let the partitioner choose         */
#define SAMSA_OFFSET_END       (-1) /**< the log end: the next new record   */
#define SAMSA_OFFSET_BEGINNING (-2) /**< the log start offset               */

/**
 * @brief Append records to a topic.
 *
 * With an explicit partition all n records go there.  With
 * SAMSA_PARTITION_ANY, a record with a key goes to the partition Kafka's
 * clients pick (samsa_partition_for_key()); records without a key go
 * together to one partition, chosen round-robin per call.  The records of
 * one call for one partition form one record batch: stored all or none, with
 * consecutive offsets, in the order given.  Any number of threads may produce
 * into the same partition at once.
 *
 * The arguments are checked before anything is written, the size of every
 * batch included: on a checking error nothing is stored.  A key of length 0
 * (non-NULL) is a key, hashed as Kafka does; only a NULL key is "no key".  When
 * a call spans several partitions and writing one batch fails, the batches
 * already written stay (their records have their offsets set), the failed one
 * and those after it are not stored (offset -1), and the error is returned.
 *
 * @param[in] s         the store.
 * @param[in] topic     the topic's name.
 * @param[in] partition 0..partitions-1, or SAMSA_PARTITION_ANY.
 * @param[in,out] recs  n records; on return each has timestamp (0 replaced
 *                      by now), partition and offset set (offset -1 where
 *                      it was not stored, also on error).
 * @param[in] n         how many records; 0 writes nothing (the topic and
 *                      partition are still checked).
 * @return 0, or
 *   - SAMSA_EINVAL: s, topic or recs (with n > 0) is NULL; a length given
 *     with a NULL pointer; a header with a NULL key; a negative timestamp;
 *     a record without a key in a topic whose cleanup_policy has
 *     SAMSA_CLEANUP_COMPACT (nothing of the call is stored);
 *   - SAMSA_ENOTOPIC: no such topic;
 *   - SAMSA_ENOPARTITION: partition is out of range;
 *   - SAMSA_ETOOBIG: one partition's batch would be larger than the topic's
 *     max_message_bytes;
 *   - SAMSA_EIO, SAMSA_ENOSPC: the write or the sync failed; nothing of
 *     that batch is visible to readers.  After a failed write the batch is
 *     gone; after a failed sync (SAMSA_SYNC_ALWAYS) its fate is unknown: it
 *     may be found again when the store is reopened;
 *   - SAMSA_EFAILED: an earlier sync failed, the partition stopped taking
 *     writes, and the store must be reopened (see samsa(7), NOTES);
 *   - SAMSA_ENOTENOUGHREPLICAS (acks=all only): fewer copies of the
 *     partition are in sync than the topic's min_insync.  Found before the
 *     write, nothing is stored (offsets -1); found after it (a copy left
 *     during the call), the records are stored and readable, with their
 *     offsets set, but were not acknowledged (as Kafka's
 *     NOT_ENOUGH_REPLICAS_AFTER_APPEND): a retry may store them twice;
 *   - SAMSA_ENOMEM.
 *  A failure on one copy of a replicated partition is not an error of the
 *  call: that copy leaves the in-sync set and the others take the write.
 * Also SAMSA_ERDONLY on a read-only handle (SAMSA_OPEN_RDONLY): nothing
 * changed.
 */
SAMSA_API int samsa_produce(samsa *s, const char *topic, int32_t partition,
                            samsa_record *recs, size_t n);

/**
 * @brief The partition Kafka's default partitioner gives a key:
 *        murmur2(key) made positive, modulo the partition count.
 * @param[in] key        the key bytes (may be NULL only when key_len is 0).
 * @param[in] key_len    its length.
 * @param[in] partitions the topic's partition count, at least 1.
 * @return the partition, or SAMSA_EINVAL for partitions < 1 or a NULL key
 *         with a non-zero length.
 */
SAMSA_API int32_t samsa_partition_for_key(const void *key, size_t key_len,
                                          int32_t partitions);

/* ------------------------------------------------------------------------ */
/* Asynchronous producers                                                   */
/* ------------------------------------------------------------------------ */

/*
 * A producer takes one record at a time and returns at once, as Kafka's
 * send() and librdkafka's produce(): it copies the record, gathers the
 * records of each partition into one batch until the batch holds
 * batch_bytes, linger_ms passes, or samsa_producer_flush() is called, and
 * stores each batch with one samsa_produce() (so, with sync on, one flush
 * per batch) on its own thread, the producer's sender thread.  Each
 * record's outcome comes back through the delivery callback, on that
 * thread, in produce order per partition.  Errors that may pass (too few
 * copies in sync before anything was written, a full disk) are retried,
 * in order, every 100 ms until delivery_timeout_ms after the batch was
 * due (its first record's linger_ms passed); nothing written is
 * ever written twice.  A batch refused as larger than the topic's
 * max_message_bytes (lowered since its records were sent) is split into
 * batches that fit, stored in order, as Kafka's producer splits one; only
 * a record too large alone is reported SAMSA_ETOOBIG.  A record is stored
 * only in the topic it was sent to: one deleted before the record's batch
 * is stored, even if made again under its name meanwhile, has it reported
 * SAMSA_ENOTOPIC.
 */
typedef struct samsa_producer samsa_producer;

/** One record's outcome, as the delivery callback gets it. */
typedef struct samsa_delivery_report {
    const char *topic;    /**< the topic                                  */
    int32_t partition;    /**< the partition it went to                   */
    int32_t reserved32;   /**< zero                                       */
    int64_t offset;       /**< its offset when stored, else -1            */
    int error;            /**< 0: stored; else why not (a SAMSA_E* code,
                               or -errno).  SAMSA_ENOTENOUGHREPLICAS with
                               an offset: stored, but too few copies were
                               in sync when it was                        */
    int reserved_int;     /**< zero                                       */
    void *opaque;         /**< the pointer given to samsa_producer_send() */
    uint64_t reserved[2]; /**< zero                                       */
} samsa_delivery_report;

/** The delivery callback: n reports, in produce order for their partition
 *  (the reports of one call are of one partition).  Runs on the
 *  producer's sender thread; the reports are valid during the call only.
 *  It may call any samsa function but samsa_producer_flush() and
 *  samsa_producer_close() of its own producer. */
typedef void (*samsa_delivery_fn)(const samsa_delivery_report *reports,
                                  size_t n, void *ctx);

/** A producer's configuration.  Zero-initialise; 0 means the default. */
typedef struct samsa_producer_config {
    size_t batch_bytes;            /**< a partition's batch is stored once it
                                        holds this much (encoded); 0: 1 MiB; at
                                        most the topic's max_message_bytes; a
                                        record larger goes alone              */
    int linger_ms;                 /**< or once its first record is this old;
                                        0: 5 ms, as librdkafka; -1: no wait   */
    int delivery_timeout_ms;       /**< retry a passing error this long; 0:
                                        120000, as Kafka                       */
    size_t buffer_bytes;           /**< records held, at most (their bytes);
                                        0: 32 MiB, as Kafka's buffer.memory    */
    samsa_delivery_fn on_delivery; /**< or NULL: no reports              */
    void *ctx;                     /**< passed to on_delivery            */
    uint64_t reserved[8];          /**< must be zero                     */
} samsa_producer_config;

/**
 * @brief Open a producer on a store, and start its sender thread.
 * @param[in]  s   the store; must outlive the producer.
 * @param[in]  cfg the configuration, or NULL for the defaults.
 * @param[out] out receives the producer.
 * @return 0, SAMSA_EINVAL (NULL, a field out of range, a reserved field
 *         not zero), SAMSA_ENOMEM, or -errno when the thread cannot
 *         start.
 * Also SAMSA_ERDONLY on a read-only handle (SAMSA_OPEN_RDONLY): nothing
 * changed.
 */
SAMSA_API int samsa_producer_open(samsa *s, const samsa_producer_config *cfg,
                                  samsa_producer **out);

/**
 * @brief Hand one record over: checked, copied, and gathered into its
 *        partition's batch; the call returns without waiting for it to be
 *        stored.
 *
 * The partition is chosen here, as samsa_produce() chooses it: a key's
 * murmur2, or for keyless records one partition until its batch is stored
 * (Kafka's sticky partitioner).  A timestamp of 0 becomes now.  r->offset
 * and r->partition are not written: the report carries them.
 *
 * @param[in] p          the producer.
 * @param[in] topic      the topic.
 * @param[in] partition  a partition, or SAMSA_PARTITION_ANY.
 * @param[in] r          the record (read during the call only).
 * @param[in] opaque     given back in the record's report.
 * @param[in] timeout_ms when buffer_bytes are held: 0, fail at once with
 *                       SAMSA_EQUEUEFULL; >0, wait that long for room
 *                       first; -1, wait as long as it takes.  From the
 *                       delivery callback a send never waits (its thread
 *                       is the one that makes room).
 * @return 0 (the record will be reported), or an error (it will not be):
 *         SAMSA_EINVAL (a bad record or argument; a record without a
 *         key for a topic whose cleanup_policy has SAMSA_CLEANUP_COMPACT),
 *         SAMSA_ENOTOPIC,
 *         SAMSA_ENOPARTITION, SAMSA_ETOOBIG (larger than the topic's
 *         max_message_bytes or buffer_bytes), SAMSA_EQUEUEFULL,
 *         SAMSA_ECLOSED (closing), SAMSA_ENOMEM.
 */
SAMSA_API int samsa_producer_send(samsa_producer *p, const char *topic,
                                  int32_t partition, const samsa_record *r,
                                  void *opaque, int timeout_ms);

/**
 * @brief Store every record sent before the call now, and wait until each
 *        has been reported (Kafka's flush()).
 * @param[in] p          the producer.
 * @param[in] timeout_ms how long to wait; -1: as long as it takes.
 * @return 0 (every report was given: some may be errors),
 *         SAMSA_ETIMEDOUT, SAMSA_EINVAL (p NULL, or called from the
 *         delivery callback).
 */
SAMSA_API int samsa_producer_flush(samsa_producer *p, int timeout_ms);

/**
 * @brief Store and report every record still held, stop the sender thread
 *        and free the producer.
 *
 * Every record sent gets its report before this returns: stored, or an
 * error (SAMSA_ECLOSED once the store is closing).  Not from the
 * delivery callback.  Sends and flushes that other threads are in when
 * it begins return before it frees the producer (a send with
 * SAMSA_ECLOSED, unless it got its record in first); none may begin
 * once it has returned.
 *
 * @param[in] p the producer, or NULL (then nothing happens).
 * @return 0, or SAMSA_EINVAL when called from the delivery callback.
 */
SAMSA_API int samsa_producer_close(samsa_producer *p);

/**
 * @brief The log start and end offsets of a partition.
 * @param[in]  s         the store.
 * @param[in]  topic     the topic.
 * @param[in]  partition the partition.
 * @param[out] first     receives the log start offset (the first offset
 *                       still stored), or NULL.
 * @param[out] end       receives the log end offset (the offset the next
 *                       record will get), or NULL.
 * @return 0, SAMSA_EINVAL, SAMSA_ENOTOPIC, SAMSA_ENOPARTITION.
 */
SAMSA_API int samsa_offsets(samsa *s, const char *topic, int32_t partition,
                            int64_t *first, int64_t *end);

/**
 * @brief The first offset of a partition whose record has a timestamp at
 *        least timestamp_ms (Kafka's offsetsForTimes), moving nothing.
 *
 * Records are searched from the log start; timestamps need not rise with
 * offsets (CreateTime is the producer's), so the answer is the lowest
 * offset whose record is that late.
 *
 * @param[in]  s            the store.
 * @param[in]  topic        the topic.
 * @param[in]  partition    the partition.
 * @param[in]  timestamp_ms ms since the epoch, >= 0.
 * @param[out] offset       receives the offset, or -1 when no record is
 *                          that late (Kafka answers null).
 * @return 0, SAMSA_EINVAL, SAMSA_ENOTOPIC, SAMSA_ENOPARTITION,
 *         SAMSA_ECORRUPT (a damaged batch might hold the answer),
 *         SAMSA_ENOTSUP (a batch in a codec Kafka does not define
 *         would have to be read).
 */
SAMSA_API int samsa_offsets_for_time(samsa *s, const char *topic,
                                     int32_t partition, int64_t timestamp_ms,
                                     int64_t *offset);

/* ------------------------------------------------------------------------ */
/* Cursors                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * A record read by a cursor or a consumer.  Every pointer in it, and those
 * that samsa_message_header() gives, stay valid until the next
 * samsa_cursor_next() on this cursor or samsa_cursor_close(); for a
 * consumer's, until the next samsa_consumer_poll() or
 * samsa_consumer_poll_batch() on this consumer or samsa_consumer_close().
 * They point into the mapped segment (zero-copy) and must not be written
 * through.
 */
typedef struct samsa_message {
    const char *topic; /**< the topic's name                           */
    int32_t partition; /**< the partition                              */
    int64_t offset;    /**< the record's offset                        */
    int64_t timestamp; /**< ms since the epoch                         */
    const void *key;   /**< NULL: a null key                           */
    size_t key_len;
    const void *value; /**< NULL: a null value                         */
    size_t value_len;
    size_t header_count;      /**< headers, read with samsa_message_header()  */
    const void *headers_;     /**< private: where the headers are encoded     */
    const void *headers_end_; /**< private: end of the record               */
    int32_t timestamp_type;   /**< a samsa_timestamp_type: LOG_APPEND_TIME
                                   when timestamp is the time the batch
                                   was appended (the batch says so)       */
    int32_t reserved32;       /**< zero                                     */
    uint64_t reserved[3];     /**< zero: room for fields to come              */
} samsa_message;

/**
 * @brief Read one header of a message.
 * @param[in]  msg       a message from samsa_cursor_next().
 * @param[in]  i         0..msg->header_count-1.
 * @param[out] key       receives the header key (not NUL-terminated).
 * @param[out] key_len   receives its length.
 * @param[out] value     receives the value, NULL for a null value.
 * @param[out] value_len receives its length.
 *  All four pointers share the message's lifetime.  Header i is found by
 *  walking the i before it: to read them all, samsa_message_header_next().
 * @return 0, SAMSA_EINVAL (NULL argument or i out of range), SAMSA_ECORRUPT.
 */
SAMSA_API int samsa_message_header(const samsa_message *msg, size_t i,
                                   const char **key, size_t *key_len,
                                   const void **value, size_t *value_len);

/**
 * @brief Read a message's headers one after the other, in one pass.
 *  samsa_message_header() walks headers 0 to i-1 to find header i, so
 *  reading every header of a record with it costs their number squared;
 *  this reads each once.  Start with *pos = 0 and call it
 *  msg->header_count times:
 *
 *      size_t pos = 0;
 *      for (size_t i = 0; i < m.header_count; i++)
 *          if ((rc = samsa_message_header_next(&m, &pos, &k, &kl,
 *                                              &v, &vl)) != 0)
 *              break;
 *
 * @param[in]     msg       a message from samsa_cursor_next().
 * @param[in,out] pos       0 before the first header; each call moves it
 *                          past the header it read (a byte position in
 *                          the record: set it to nothing but 0).
 * @param[out]    key       receives the header key (not NUL-terminated).
 * @param[out]    key_len   receives its length.
 * @param[out]    value     receives the value, NULL for a null value.
 * @param[out]    value_len receives its length.
 *  All four pointers share the message's lifetime.  On an error *pos is
 *  unchanged.
 * @return 0, SAMSA_EINVAL (NULL argument, or *pos past the last header),
 *         SAMSA_ECORRUPT.
 */
SAMSA_API int samsa_message_header_next(const samsa_message *msg, size_t *pos,
                                        const char **key, size_t *key_len,
                                        const void **value, size_t *value_len);

/**
 * @brief Open a cursor on a partition.
 * @param[in]  s         the store.
 * @param[in]  topic     the topic.
 * @param[in]  partition the partition.
 * @param[in]  start     the first offset to read: log start..log end, or
 *                       SAMSA_OFFSET_BEGINNING or SAMSA_OFFSET_END.
 * @param[out] out       the cursor; close it with samsa_cursor_close().
 * @return 0, SAMSA_EINVAL (NULL argument, bad name, or a negative start
 *         other than the two named ones), SAMSA_ENOTOPIC, SAMSA_ENOPARTITION,
 *         SAMSA_EOFFSET (start outside the log), SAMSA_ENOMEM.
 */
SAMSA_API int samsa_cursor_open(samsa *s, const char *topic, int32_t partition,
                                int64_t start, samsa_cursor **out);

/**
 * @brief Read the next record.
 *
 * Returns at once when a record is there; otherwise waits for another thread
 * to produce one, without polling.  On a read-only handle
 * (SAMSA_OPEN_RDONLY) the producer is the writer's process: the cursor
 * returns only what it acknowledged, sleeps on a shared futex its publish
 * wakes, and looks again on its own every 20 ms (a writer that restarted,
 * new segments) and at the catalog every 50 ms (retention, deletion).
 *
 * @param[in]  c          the cursor.
 * @param[out] msg        receives the record; its pointers stay valid until
 *                        the next samsa_cursor_next() on this cursor or
 *                        samsa_cursor_close().
 * @param[in]  timeout_ms 0: do not wait; -1: wait for ever; else ms to wait.
 * @return 0, or
 *   - SAMSA_ETIMEDOUT: no record came within the timeout;
 *   - SAMSA_ECORRUPT: the batch holding the next offset fails its CRC or
 *     does not parse; the cursor stays at that offset (seek past it to go
 *     on);
 *   - SAMSA_ENOTSUP: the batch is compressed with a codec number Kafka
 *     does not define (gzip, snappy, lz4 and zstd batches are read, and
 *     their records' pointers stay valid as above);
 *   - SAMSA_EOFFSET: the cursor's offset fell below the log start;
 *   - SAMSA_EDELETED: the topic was deleted;
 *   - SAMSA_EINVAL: c or msg is NULL, or timeout_ms < -1.
 */
SAMSA_API int samsa_cursor_next(samsa_cursor *c, samsa_message *msg,
                                int timeout_ms);

/**
 * @brief Move the cursor to an offset.
 * @param[in] c      the cursor.
 * @param[in] offset log start..log end, or SAMSA_OFFSET_BEGINNING or
 *                   SAMSA_OFFSET_END.  The log end is a valid position: the
 *                   cursor waits there for the next record.
 * @return 0, SAMSA_EINVAL (c is NULL, or offset is negative other than
 *         the two named ones), SAMSA_EOFFSET (outside the log; the cursor
 *         stays where it was), SAMSA_EDELETED.
 */
SAMSA_API int samsa_cursor_seek(samsa_cursor *c, int64_t offset);

/**
 * @brief Move the cursor to the first record whose timestamp is at least
 *        timestamp_ms, or to the log end when there is none.
 * @param[in] c            the cursor.
 * @param[in] timestamp_ms ms since the epoch, >= 0.
 * @return 0, SAMSA_EINVAL, SAMSA_ECORRUPT (a batch on the way does not
 *         parse; the cursor stays where it was), SAMSA_EDELETED.
 */
SAMSA_API int samsa_cursor_seek_time(samsa_cursor *c, int64_t timestamp_ms);

/**
 * @brief The offset of the record the next samsa_cursor_next() returns.
 * @param[in] c the cursor.
 * @return the offset, or SAMSA_EINVAL when c is NULL.
 */
SAMSA_API int64_t samsa_cursor_offset(const samsa_cursor *c);

/**
 * @brief Close a cursor and free it.
 * @param[in] c the cursor, or NULL (then nothing happens).
 * @return 0: closing a cursor cannot fail (it returns int as every close
 *         function of samsa does).
 */
SAMSA_API int samsa_cursor_close(samsa_cursor *c);

/* ------------------------------------------------------------------------ */
/* Consumer groups                                                          */
/* ------------------------------------------------------------------------ */

/*
 * A consumer joins a named group and subscribes to topics.  Within a group
 * each partition of those topics is read by exactly one member at a time;
 * different groups each read every record.  A group's progress is its
 * committed offsets, kept in the catalog per (group, topic, partition), so
 * that a group resumes where it committed after a crash or a restart.
 * Membership lives in memory: members are threads of this process.
 *
 * Every committed offset carries a CRC.  One found damaged while the store
 * is open (a flipped bit in the catalog file) is never read as an offset:
 * with replica directories the catalog is healed from another directory's
 * that holds it whole and the read goes on; with one directory the calls
 * that read it say SAMSA_ECORRUPT until samsa_group_reset() overwrites it.
 * Share groups' saved snapshots are healed the same way.
 */

/** How a group spreads partitions over its members (Kafka's assignors). */
typedef enum samsa_assignor {
    SAMSA_ASSIGN_DEFAULT = 0,    /**< SAMSA_ASSIGN_STICKY                 */
    SAMSA_ASSIGN_RANGE = 1,      /**< per topic, contiguous ranges        */
    SAMSA_ASSIGN_ROUNDROBIN = 2, /**< all partitions dealt in turn        */
    SAMSA_ASSIGN_STICKY = 3      /**< balanced, moving as few partitions
                                      as it can (cooperative sticky)      */
} samsa_assignor;

/** Where a member starts reading a partition its group never committed
 *  (Kafka's auto.offset.reset), or whose committed offset is no longer in
 *  the log. */
typedef enum samsa_offset_reset {
    SAMSA_RESET_DEFAULT = 0, /**< SAMSA_RESET_LATEST, as Kafka           */
    SAMSA_RESET_LATEST = 1,  /**< the log end: only new records          */
    SAMSA_RESET_EARLIEST = 2 /**< the log start: every stored record     */
} samsa_offset_reset;

/** A partition of a topic, and an offset that depends on the use. */
typedef struct samsa_topic_partition {
    const char *topic; /**< the topic's name                              */
    int32_t partition; /**< the partition                                 */
    int64_t offset;    /**< an offset; each use says which                */
} samsa_topic_partition;

/** samsa_rebalance_fn events. */
#define SAMSA_REBALANCE_ASSIGNED                                               \
    1 /**< gained: read from now on, from the                                  \
           offsets given (committed or reset) */
#define SAMSA_REBALANCE_REVOKED                                                \
    2 /**< about to go to another member:                                      \
           still owned, commit now; offsets                                    \
           are the current positions          */
#define SAMSA_REBALANCE_LOST                                                   \
    3 /**< already gone (this member was                                       \
           expelled, or the topic deleted):                                    \
           commits are refused               */

/**
 * Told which partitions a member gains or loses, from inside
 * samsa_consumer_poll() or samsa_consumer_poll_batch() on the member's own
 * thread.  parts (n entries, n >= 1) and their topic names are valid during
 * the call only.  The callback may call samsa_consumer_commit(),
 * samsa_consumer_position(), samsa_consumer_seek*() and
 * samsa_consumer_pause()/resume() on c, but not poll or close it (both return
 * SAMSA_EINVAL there).
 */
typedef void (*samsa_rebalance_fn)(samsa_consumer *c, int event,
                                   const samsa_topic_partition *parts, size_t n,
                                   void *ctx);

/** A consumer's configuration.  Zero-initialise; 0 means the default. */
typedef struct samsa_consumer_config {
    const char *group;         /**< the group's name, by the rules of topic
                                    names; required                       */
    const char *const *topics; /**< NULL-terminated topic names; topics
                                    that do not exist yet are read once
                                    they are created.  May be NULL when
                                    pattern is set                        */
    const char *pattern;       /**< a POSIX extended regular expression;
                                    every topic whose whole name matches is
                                    subscribed, now and when created; or
                                    NULL                                  */
    int assignor;              /**< a samsa_assignor; every member of a
                                    group must use the same one           */
    int offset_reset;          /**< a samsa_offset_reset                  */
    int session_timeout_ms;    /**< a member that makes no call for longer
                                    is expelled and its partitions move;
                                    0: 10000; 10..3600000                 */
    int auto_commit_ms;        /**< >0: samsa_consumer_poll*() commit the
                                    positions at most this often, and
                                    before partitions are revoked and at
                                    close; 0: commit only when asked      */
    samsa_rebalance_fn on_rebalance; /**< or NULL                         */
    void *ctx;                       /**< passed to on_rebalance          */
    uint64_t reserved[8];            /**< must be zero                    */
} samsa_consumer_config;

/**
 * @brief Join a group: open a consumer.
 *
 * The member takes part in the group at once: the group rebalances, and the
 * member's first poll picks up the partitions it is given.  Each gained
 * partition starts at the group's committed offset, or, when there is none
 * or it is outside the log, where cfg->offset_reset says.
 *
 * @param[in]  s   the store.
 * @param[in]  cfg the configuration; the strings are copied.
 * @param[out] out the consumer; set only on success.  Close it with
 *                 samsa_consumer_close().
 * @return 0, or
 *   - SAMSA_EINVAL: s, cfg, out or cfg->group is NULL; a bad group or topic
 *     name; neither topics (non-empty) nor pattern; a pattern that does not
 *     compile; a field out of range or a non-zero reserved field;
 *   - SAMSA_ECONFLICT: the group's members use another assignor;
 *   - SAMSA_ECLOSED: samsa_close() has begun;
 *   - SAMSA_ENOMEM.
 * Also SAMSA_ERDONLY on a read-only handle (SAMSA_OPEN_RDONLY): nothing
 * changed.
 */
SAMSA_API int samsa_consumer_open(samsa *s, const samsa_consumer_config *cfg,
                                  samsa_consumer **out);

/**
 * @brief Leave the group and free the consumer.
 *
 * With auto-commit, the positions are committed first.  The member's
 * partitions go to the other members at once (they are told at their next
 * poll).  After samsa_close() the consumer only frees its memory.
 *
 * @param[in] c the consumer, or NULL (then nothing happens).
 * @return 0, or the error of the final auto-commit (the consumer is freed
 *         either way), or SAMSA_EINVAL when called from the member's
 *         on_rebalance: then nothing happened (close it once the poll
 *         returns).
 */
SAMSA_API int samsa_consumer_close(samsa_consumer *c);

/**
 * @brief Read the next record from any of the member's partitions.
 *
 * First takes part in any rebalance (calling on_rebalance), commits when
 * the auto-commit interval has passed, then returns a record.  Partitions
 * take turns, one record each; within a partition records come in offset
 * order.  When none of the member's (unpaused) partitions has a record,
 * waits up to timeout_ms for one, for a rebalance, or for a subscribed
 * topic to be created.
 *
 * @param[in]  c          the consumer.
 * @param[out] msg        receives the record; its pointers stay valid until
 *                        the next samsa_consumer_poll() or
 *                        samsa_consumer_poll_batch() on this consumer or
 *                        samsa_consumer_close().
 * @param[in]  timeout_ms 0: do not wait; -1: wait for ever; else ms to wait.
 * @return 0, or
 *   - SAMSA_ETIMEDOUT: no record came within the timeout;
 *   - SAMSA_ECORRUPT, SAMSA_ENOTSUP: as samsa_cursor_next(), for the
 *     partition whose batch it is; that partition stays at the offset (seek
 *     past it), the others go on;
 *   - SAMSA_ECLOSED: samsa_close() has begun;
 *   - SAMSA_EINVAL: c or msg is NULL, timeout_ms < -1, or called from
 *     on_rebalance;
 *   - SAMSA_EIO, SAMSA_ENOSPC, SAMSA_ENOMEM: reading committed offsets, or
 *     an auto-commit, failed; nothing was returned.
 */
SAMSA_API int samsa_consumer_poll(samsa_consumer *c, samsa_message *msg,
                                  int timeout_ms);

/**
 * @brief Read up to max records in one call, for throughput.
 *
 * As samsa_consumer_poll(), but fills msgs[0..*n-1]: runs of records from
 * one partition after another, in offset order within each.  Waits only
 * when no record at all is there.
 *
 * @param[in]  c          the consumer.
 * @param[out] msgs       max messages; their pointers stay valid until the
 *                        next samsa_consumer_poll() or
 *                        samsa_consumer_poll_batch() on this consumer or
 *                        samsa_consumer_close().
 * @param[in]  max        room in msgs, at least 1.
 * @param[out] n          receives how many were filled (0 on error).
 * @param[in]  timeout_ms as samsa_consumer_poll().
 * @return as samsa_consumer_poll(); SAMSA_EINVAL also when msgs or n is
 *         NULL or max is 0.  An error met after some records were filled
 *         is returned by the next call instead.
 */
SAMSA_API int samsa_consumer_poll_batch(samsa_consumer *c, samsa_message *msgs,
                                        size_t max, size_t *n, int timeout_ms);

/**
 * @brief Commit offsets for the group, atomically: all of them or none.
 *
 * A committed offset is the offset of the next record to read, as Kafka's:
 * after processing the record at offset o, commit o + 1.  The commit is one
 * catalog transaction; it survives kill -9 always, and a power cut when the
 * store's sync policy is SAMSA_SYNC_ALWAYS (then it is synced before this
 * returns).
 *
 * @param[in] c       the consumer.
 * @param[in] offsets n partitions with the offsets to commit, or NULL to
 *                    commit the current position of every partition the
 *                    member owns (those of topics deleted since are left
 *                    out; one moved to another member fails the commit).
 * @param[in] n       entries in offsets (0 with NULL).
 * @return 0, or
 *   - SAMSA_EINVAL: c is NULL; offsets is NULL with n > 0 or not NULL with
 *     n == 0; an offset is negative or a topic name NULL;
 *   - SAMSA_ENOTASSIGNED: a partition is not owned by this member (never
 *     was, or moved to another member); nothing was committed;
 *   - SAMSA_ECLOSED: samsa_close() has begun;
 *   - SAMSA_EIO, SAMSA_ENOSPC, SAMSA_ENOMEM.
 */
SAMSA_API int samsa_consumer_commit(samsa_consumer *c,
                                    const samsa_topic_partition *offsets,
                                    size_t n);

/**
 * @brief The partitions the member owns now.
 * @param[in]  c     the consumer.
 * @param[out] parts receives up to cap partitions, each with its position
 *                   (the next offset a poll returns from it), in topic
 *                   name, then partition, order; may be NULL when cap is 0.
 *                   The topic names stay valid until the next
 *                   samsa_consumer_poll() or samsa_consumer_poll_batch()
 *                   on this consumer or samsa_consumer_close().
 * @param[in]  cap   room in parts.
 * @param[out] n     receives how many partitions the member owns (may be
 *                   more than cap).
 * @return 0, SAMSA_EINVAL (c or n is NULL, or parts NULL with cap > 0),
 *         SAMSA_ECLOSED.
 */
SAMSA_API int samsa_consumer_assignment(samsa_consumer *c,
                                        samsa_topic_partition *parts,
                                        size_t cap, size_t *n);

/**
 * @brief The position of an owned partition: the offset of the record the
 *        next poll returns from it.
 * @param[in]  c         the consumer.
 * @param[in]  topic     the topic.
 * @param[in]  partition the partition.
 * @param[out] offset    receives the position.
 * @return 0, SAMSA_EINVAL (NULL argument), SAMSA_ENOTASSIGNED,
 *         SAMSA_ECLOSED.
 */
SAMSA_API int samsa_consumer_position(samsa_consumer *c, const char *topic,
                                      int32_t partition, int64_t *offset);

/**
 * @brief Move an owned partition to an offset.
 * @param[in] c         the consumer.
 * @param[in] topic     the topic.
 * @param[in] partition the partition.
 * @param[in] offset    log start..log end, or SAMSA_OFFSET_BEGINNING or
 *                      SAMSA_OFFSET_END.
 * @return 0, SAMSA_EINVAL (NULL argument, or a negative offset other than
 *         the two named ones), SAMSA_ENOTASSIGNED, SAMSA_EOFFSET (outside
 *         the log; the position is unchanged), SAMSA_EDELETED,
 *         SAMSA_ECLOSED.
 */
SAMSA_API int samsa_consumer_seek(samsa_consumer *c, const char *topic,
                                  int32_t partition, int64_t offset);

/**
 * @brief Move an owned partition to its first record whose timestamp is at
 *        least timestamp_ms, or to its log end when there is none.
 * @param[in] c            the consumer.
 * @param[in] topic        the topic.
 * @param[in] partition    the partition.
 * @param[in] timestamp_ms ms since the epoch, >= 0.
 * @return 0, SAMSA_EINVAL, SAMSA_ENOTASSIGNED, SAMSA_ECORRUPT,
 *         SAMSA_EDELETED, SAMSA_ECLOSED.
 */
SAMSA_API int samsa_consumer_seek_time(samsa_consumer *c, const char *topic,
                                       int32_t partition, int64_t timestamp_ms);

/**
 * @brief Stop polls from returning records of an owned partition, or let
 *        them again.  The position does not move; a pause lasts until
 *        resumed or until the partition leaves the member.
 * @param[in] c         the consumer.
 * @param[in] topic     the topic.
 * @param[in] partition the partition.
 * @return 0, SAMSA_EINVAL, SAMSA_ENOTASSIGNED, SAMSA_ECLOSED.
 */
SAMSA_API int samsa_consumer_pause(samsa_consumer *c, const char *topic,
                                   int32_t partition);
/** @brief Undo samsa_consumer_pause(); same arguments and codes. */
SAMSA_API int samsa_consumer_resume(samsa_consumer *c, const char *topic,
                                    int32_t partition);

/**
 * @brief Make the member's blocked poll return at once with SAMSA_EWAKEUP
 *        (Kafka's KafkaConsumer.wakeup()), or, when none is blocked, its
 *        next poll.
 *
 * Safe from any thread, and from a signal-free context only (it takes a
 * lock briefly), while c is open: not during or after
 * samsa_consumer_close().  One wakeup is consumed by one poll.
 *
 * @param[in] c the consumer.
 * @return 0, SAMSA_EINVAL (c is NULL), SAMSA_ECLOSED (samsa_close() has
 *         run; the flag is set all the same, and every call on c returns
 *         SAMSA_ECLOSED anyway).
 */
SAMSA_API int samsa_consumer_wakeup(samsa_consumer *c);

/**
 * @brief Change what an open member subscribes to: a new list of topics,
 *        a new pattern, or both (as the consumer's config gives them).
 *
 * The group rebalances at once.  Within this call, on the calling thread,
 * the partitions the member no longer gets are committed (with
 * auto-commit on) and revoked, their SAMSA_REBALANCE_REVOKED callback
 * first, then those it gets now and whose previous owner has let go are
 * assigned (SAMSA_REBALANCE_ASSIGNED); the rest arrive in later polls, as
 * in any rebalance.  Call it on the member's thread, as a poll.
 *
 * @param[in] c       the consumer.
 * @param[in] topics  NULL-terminated topic names, or NULL.
 * @param[in] pattern a POSIX extended regular expression (whole names
 *                    match), or NULL; topics and pattern may not both be
 *                    empty (samsa_consumer_unsubscribe() is for that).
 * @return 0, SAMSA_EINVAL (a bad name or pattern, nothing to subscribe
 *         to, or called from the rebalance callback; nothing changed),
 *         SAMSA_ECLOSED, SAMSA_ENOMEM, and the errors of a commit.
 */
SAMSA_API int samsa_consumer_subscribe(samsa_consumer *c,
                                       const char *const *topics,
                                       const char *pattern);

/**
 * @brief Subscribe to nothing: every partition the member owns is
 *        committed (with auto-commit on) and revoked within the call, and
 *        the member, still in the group, gets none until it subscribes
 *        again.
 * @param[in] c the consumer.
 * @return as samsa_consumer_subscribe().
 */
SAMSA_API int samsa_consumer_unsubscribe(samsa_consumer *c);

/** A group's committed offset of one partition, and its lag. */
typedef struct samsa_group_offset {
    const char *topic; /**< the topic's name                               */
    int32_t partition; /**< the partition                                  */
    int64_t committed; /**< the committed offset                           */
    int64_t end;       /**< the partition's log end offset now             */
    int64_t lag;       /**< end - committed: records not yet committed
                            (0 when committed is past a truncated end)     */
} samsa_group_offset;

/**
 * @brief Call fn for each partition a group has committed an offset for,
 *        in topic name, then partition, order, with its lag.
 *
 * Works whether or not the group has members now.  Partitions of deleted
 * topics are not reported (their offsets went with them).
 *
 * @param[in] s     the store.
 * @param[in] group the group's name.
 * @param[in] fn    called with each offset (valid during the call only) and
 *                  ctx; a non-zero return stops the walk and is returned.
 *                  fn may call any samsa function.
 * @param[in] ctx   passed to fn.
 * @return 0, fn's non-zero return, SAMSA_EINVAL (NULL argument or a bad
 *         group name), SAMSA_ECORRUPT (a committed offset in the catalog
 *         is damaged, and no other directory's catalog holds it whole; fn
 *         is not called), SAMSA_ENOMEM, SAMSA_EIO.
 */
SAMSA_API int samsa_group_offsets(samsa *s, const char *group,
                                  int (*fn)(const samsa_group_offset *o,
                                            void *ctx),
                                  void *ctx);

/** The two kinds of group; a name may be one of each. */
typedef enum samsa_group_type {
    SAMSA_GROUP_CONSUMER = 1, /**< a consumer group (samsa_consumer_open()) */
    SAMSA_GROUP_SHARE = 2     /**< a share group (samsa_queue_open())       */
} samsa_group_type;

/**
 * @brief Call fn for every group of the store: the consumer groups first
 *        (those with committed offsets or members now), then the share
 *        groups (those with saved state or receivers now), each kind in
 *        name order.
 * @param[in] s   the store.
 * @param[in] fn  called with each name (valid during the call only), its
 *                type and ctx; a non-zero return stops the walk and is
 *                returned.  fn may call any samsa function.
 * @param[in] ctx passed to fn.
 * @return 0, fn's non-zero return, SAMSA_EINVAL, SAMSA_ENOMEM, SAMSA_EIO,
 *         SAMSA_ECORRUPT (a group's entry in the catalog is damaged; fn is
 *         not called).
 */
SAMSA_API int samsa_group_list(samsa *s,
                               int (*fn)(const char *name,
                                         samsa_group_type type, void *ctx),
                               void *ctx);

/** A row of a consumer group's assignment now (samsa_group_members()). */
typedef struct samsa_group_member {
    uint64_t member;      /**< the member: its join order in the group
                               (1 for the first to join)              */
    const char *topic;    /**< a topic it owns a partition of; NULL for
                               a member that owns none now            */
    int32_t partition;    /**< that partition, or -1                  */
    int32_t reserved32;   /**< zero                                   */
    uint64_t reserved[2]; /**< zero                                   */
} samsa_group_member;

/**
 * @brief Describe a consumer group's members in this process: call fn for
 *        each partition each member owns now (the member's join order,
 *        then topic name, then partition), and once with a NULL topic
 *        for a member that owns none.
 *
 * Committed offsets and lag come from samsa_group_offsets().  The rows
 * are copied under the group's lock; fn runs with no samsa lock held and
 * may call any samsa function.
 *
 * @param[in] s     the store.
 * @param[in] group the consumer group's name.
 * @param[in] fn    called with each row (valid during the call only) and
 *                  ctx; a non-zero return stops the walk and is returned.
 * @param[in] ctx   passed to fn.
 * @return 0, fn's non-zero return, SAMSA_EINVAL, SAMSA_ENOGROUP (no member
 *         of the group is open in this process), SAMSA_ENOMEM.
 */
SAMSA_API int samsa_group_members(samsa *s, const char *group,
                                  int (*fn)(const samsa_group_member *m,
                                            void *ctx),
                                  void *ctx);

/** Where samsa_group_reset() moves a consumer group's committed offsets,
 *  as kafka-consumer-groups --reset-offsets.  Every result is clamped to
 *  the partition's [log start, log end]. */
typedef enum samsa_reset_to {
    SAMSA_RESET_TO_EARLIEST = 1, /**< the log start                          */
    SAMSA_RESET_TO_LATEST = 2,   /**< the log end                            */
    SAMSA_RESET_TO_OFFSET = 3,   /**< value                                  */
    SAMSA_RESET_TO_TIME = 4,     /**< the first offset whose timestamp is at
                                      least value (ms), the end when none   */
    SAMSA_RESET_BY_SHIFT = 5     /**< the committed offset plus value (which
                                      may be negative); from the log start
                                      where none is committed              */
} samsa_reset_to;

/**
 * @brief Move a consumer group's committed offsets of one partition, or of
 *        every partition of a topic, while the group has no members.
 *
 * All partitions move in one catalog transaction: after a crash the group
 * has all the new offsets or none.  The group's members, when it next has
 * some, start from them.
 *
 * @param[in] s         the store.
 * @param[in] group     the consumer group's name.
 * @param[in] topic     the topic.
 * @param[in] partition a partition, or SAMSA_PARTITION_ANY for all.
 * @param[in] to        where to (samsa_reset_to).
 * @param[in] value     the offset, time or shift that to needs; else 0.
 * @return 0, SAMSA_EINVAL (NULL, a bad name, an unknown to),
 *         SAMSA_ENOTOPIC, SAMSA_ENOPARTITION, SAMSA_EBUSY (the group has
 *         members in this process: close them first), SAMSA_ECORRUPT,
 *         SAMSA_EIO, SAMSA_ENOSPC.  On error nothing moved.
 * Also SAMSA_ERDONLY on a read-only handle (SAMSA_OPEN_RDONLY): nothing
 * changed.
 */
SAMSA_API int samsa_group_reset(samsa *s, const char *group, const char *topic,
                                int32_t partition, samsa_reset_to to,
                                int64_t value);

/**
 * @brief Delete a consumer group: every offset it committed, on every
 *        directory, while it has no members (Kafka's DeleteGroups).
 * @param[in] s     the store.
 * @param[in] group the consumer group's name.
 * @return 0, SAMSA_EINVAL, SAMSA_ENOGROUP (no offsets committed under
 *         that name), SAMSA_EBUSY (it has members now), SAMSA_ECORRUPT (a
 *         group's entry in the catalog is damaged: nothing deleted),
 *         SAMSA_EIO, SAMSA_ENOSPC.
 * Also SAMSA_ERDONLY on a read-only handle (SAMSA_OPEN_RDONLY): nothing
 * changed.
 */
SAMSA_API int samsa_group_delete(samsa *s, const char *group);
/* Queues                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Point-to-point queues, after Kafka's share groups (KIP-932).  Receivers
 * join a named share group on a topic; all of them share every partition.
 * A receive acquires records: while a record is acquired no other receiver
 * of the group gets it.  The receiver then acknowledges each record:
 * ACCEPT (done), RELEASE (give it back for another delivery now) or REJECT
 * (done, unprocessable).  A record not acknowledged within the group's lock
 * duration is released automatically.  A record delivered max_attempts
 * times and still not done, or rejected, is archived: not offered again,
 * and written to the group's dead-letter topic when it names one.  The
 * group's progress survives kill -9 and reopening (samsa(7), QUEUES).
 * A producer can wait for, or be called back on, the acknowledgement of a
 * record it sent.
 */

/** How a receiver acknowledges a record (samsa_queue_ack()), and the
 *  outcome a sender learns (samsa_queue_ack_wait(), samsa_ack_fn). */
typedef enum samsa_ack_type {
    SAMSA_ACK_ACCEPT = 1,  /**< processed: never delivered again           */
    SAMSA_ACK_RELEASE = 2, /**< give it back: offered again at once        */
    SAMSA_ACK_REJECT = 3,  /**< unprocessable: never delivered again, and
                                written to the dead-letter topic          */
    SAMSA_ACK_DONE = 4,    /**< no longer returned (outcomes are kept for
                                a window: SAMSA_EFORGOTTEN past it); kept
                                for source compatibility                  */
    SAMSA_ACK_ARCHIVED = 5 /**< outcome only: delivered max_attempts times
                                without being finished, so archived (and
                                written to the dead-letter topic)         */
} samsa_ack_type;

/** Outcomes a share-partition keeps below its in-flight window: a
 *  finished record's outcome is known until the window's start is this
 *  many offsets past it (samsa_queue_ack_info()). */
#define SAMSA_QUEUE_OUTCOMES 4096

/** What became of a record a share group finished, as
 *  samsa_queue_ack_info() tells a sender. */
typedef struct samsa_ack_info {
    int32_t outcome;        /**< SAMSA_ACK_ACCEPT, SAMSA_ACK_REJECT (rejected
                                 by a receiver; written to the dead-letter
                                 topic) or SAMSA_ACK_ARCHIVED            */
    int32_t delivery_count; /**< deliveries it took, >= 1                */
    uint64_t reserved[2];   /**< zero                                    */
} samsa_ack_info;

/** A share group's configuration.  Zero-initialise; 0 means the default.
 *  Every receiver of a group in one open store uses the same config. */
typedef struct samsa_queue_config {
    int32_t lock_ms;               /**< how long an acquired record stays
                                        locked to its receiver; 0: 30000
                                        (Kafka's default); 1..3600000      */
    int32_t max_attempts;          /**< deliveries before a record is
                                        archived; 0: 5; 1..1000            */
    const char *dead_letter_topic; /**< where archived records are written,
                                        or NULL: nowhere.  Must exist when
                                        a record is archived               */
    uint64_t reserved[8];          /**< must be zero                       */
} samsa_queue_config;

/** A record delivered to a receiver by samsa_queue_receive(). */
typedef struct samsa_delivery {
    samsa_message msg;      /**< the record; read its headers with
                                 samsa_message_header(&d->msg, ...)     */
    int32_t delivery_count; /**< 1 on the first delivery, 2 on the next */
    int32_t reserved32;     /**< zero                                   */
} samsa_delivery;

/** The headers samsa adds to a record it writes to a dead-letter topic
 *  (values are decimal ASCII, except the topic and the reason). */
#define SAMSA_DLQ_TOPIC     "samsa.dlq.topic"     /**< source topic       */
#define SAMSA_DLQ_PARTITION "samsa.dlq.partition" /**< source partition   */
#define SAMSA_DLQ_OFFSET    "samsa.dlq.offset"    /**< source offset      */
#define SAMSA_DLQ_COUNT     "samsa.dlq.delivery-count" /**< deliveries    */
#define SAMSA_DLQ_REASON                                                       \
    "samsa.dlq.reason" /**< "rejected" or                                      \
                            "max-attempts"        */

/**
 * @brief Join a share group as a new receiver.
 *
 * The first receiver of a group in an open store loads the group's state
 * (or starts it at each partition's log start when it has none) and sets
 * its config; later receivers must pass the same config, or NULL.
 *
 * @param[in]  s     the store.
 * @param[in]  group the share group's name: the rules of topic names.
 * @param[in]  topic the topic the group takes records from.
 * @param[in]  cfg   the group's config, or NULL for the defaults (or, once
 *                   the group is open, for whatever config it has).
 * @param[out] out   the receiver, set only on success; close it with
 *                   samsa_queue_close().  It belongs to one thread at a
 *                   time.
 * @return 0, or
 *   - SAMSA_EINVAL: s, group, topic or out is NULL; a bad name; a config
 *     field out of range or a reserved field non-zero;
 *   - SAMSA_ENOTOPIC: no such topic;
 *   - SAMSA_ECONFLICT: the group is open with a different config;
 *   - SAMSA_ECORRUPT: the group's saved state is damaged;
 *   - SAMSA_ECLOSED: samsa_close() has begun;
 *   - SAMSA_ENOMEM, SAMSA_EIO, SAMSA_ENOSPC, -errno.
 * Also SAMSA_ERDONLY on a read-only handle (SAMSA_OPEN_RDONLY): nothing
 * changed.
 */
SAMSA_API int samsa_queue_open(samsa *s, const char *group, const char *topic,
                               const samsa_queue_config *cfg,
                               samsa_queue **out);

/**
 * @brief Acquire up to max records and deliver them.
 *
 * Records come from every partition, in offset order within a partition,
 * records given back (released, or whose lock expired) first.  Each is
 * locked to this receiver for the group's lock_ms and must be acknowledged
 * with samsa_queue_ack(); an unacknowledged record is released when its
 * lock expires (and its delivery counts).  Returns at once when records are
 * available; otherwise waits, without polling, until one is (produced,
 * released, or a lock expired) or the timeout passes.
 *
 * @param[in]  q          the receiver.
 * @param[out] out        receives *n deliveries, out[0..*n-1].  Their
 *                        pointers stay valid until the next
 *                        samsa_queue_receive() on this receiver or
 *                        samsa_queue_close().
 * @param[in]  max        room in out, at least 1.
 * @param[out] n          receives how many were delivered (0 on error).
 * @param[in]  timeout_ms 0: do not wait; -1: wait for ever; else ms.
 * @return 0 (*n >= 1), or
 *   - SAMSA_ETIMEDOUT: nothing became available within the timeout;
 *   - SAMSA_EINVAL: q, out or n is NULL, max is 0, timeout_ms < -1;
 *   - SAMSA_EDELETED: the topic was deleted;
 *   - SAMSA_ENOTOPIC, SAMSA_ETOOBIG: a record delivered max_attempts
 *     times could not be written to the dead-letter topic (it does not
 *     exist; the record does not fit in it, or has a header key over 255
 *     bytes); the record stays available and nothing stays acquired;
 *   - SAMSA_ECLOSED: samsa_close() has begun or ended (then only
 *     samsa_queue_close() may follow);
 *   - SAMSA_ECORRUPT, SAMSA_EIO, SAMSA_ENOSPC, SAMSA_ENOMEM: reading the
 *     records or saving the state failed; nothing stays acquired (the
 *     delivery may still count against the records).
 */
SAMSA_API int samsa_queue_receive(samsa_queue *q, samsa_delivery *out,
                                  size_t max, size_t *n, int timeout_ms);

/**
 * @brief Acknowledge n delivered records in one call, all the same way.
 *
 * All or nothing: every record must be held by this receiver (delivered by
 * it, not yet acknowledged, lock not expired), or nothing is changed.  (An
 * I/O error part way through, or a dead-letter topic deleted meanwhile, may
 * leave the records before it acknowledged.)
 * ACCEPT and REJECT are on disk (in the page cache: they survive kill -9)
 * when the call returns; a rejected record is in the dead-letter topic.
 *
 * @param[in] q    the receiver.
 * @param[in] d    n deliveries from samsa_queue_receive() on q; only their
 *                 msg.partition and msg.offset are read, so they may be
 *                 acknowledged after later receives.
 * @param[in] n    how many; 0 does nothing.
 * @param[in] type SAMSA_ACK_ACCEPT, SAMSA_ACK_RELEASE or SAMSA_ACK_REJECT.
 * @return 0, or
 *   - SAMSA_EINVAL: q is NULL, d is NULL with n > 0, a bad type, a
 *     partition out of range or a negative offset;
 *   - SAMSA_ENOTACQUIRED: a record is not held by this receiver (never
 *     delivered to it, already acknowledged, its lock expired, or
 *     deleted since: samsa_delete_records(), retention);
 *   - SAMSA_ENOTOPIC: REJECT, and the dead-letter topic does not exist;
 *   - SAMSA_ETOOBIG: REJECT, and the record does not fit in the
 *     dead-letter topic (or has a header key over 255 bytes);
 *   - SAMSA_EDELETED: the topic was deleted (nothing is left to
 *     acknowledge);
 *   - SAMSA_ECLOSED, SAMSA_EIO, SAMSA_ENOSPC, SAMSA_ENOMEM.
 */
SAMSA_API int samsa_queue_ack(samsa_queue *q, const samsa_delivery *d, size_t n,
                              int type);

/**
 * @brief Leave the group: release every record still held (offered again
 *        at once; the delivery still counts) and free the receiver.
 * @param[in] q the receiver, or NULL (then nothing happens).  After
 *              samsa_close() it only frees memory.
 * @return 0: closing cannot fail (it returns int as every close function
 *         of samsa does).  A release is not written anywhere: on disk an
 *         acquired record is an available one (the journal holds its
 *         delivery count), which is also why a crashed receiver's records
 *         come back after a reopen.
 */
SAMSA_API int samsa_queue_close(samsa_queue *q);

/**
 * @brief Make the receiver's blocked samsa_queue_receive() return at once
 *        with SAMSA_EWAKEUP, or, when none is blocked, its next receive.
 *
 * Safe from any thread while q is open (not during or after
 * samsa_queue_close()).  One wakeup is consumed by one receive.
 *
 * @param[in] q the receiver.
 * @return 0, SAMSA_EINVAL (q is NULL), SAMSA_ECLOSED (samsa_close() has
 *         run).
 */
SAMSA_API int samsa_queue_wakeup(samsa_queue *q);

/**
 * @brief Wait until a share group finishes a given record, and learn how.
 *
 * A record's outcome stays known after it is finished, so a sender may
 * ask at any time, before or after: while the record is in the group's
 * in-flight window, and afterwards until the window's start (every record
 * below it is finished) has moved SAMSA_QUEUE_OUTCOMES offsets past it.
 * Outcomes are saved with the group's state (journal and snapshot, on
 * every store directory), so they survive kill -9 and reopening.
 *
 * @param[in]  s          the store.
 * @param[in]  group      the share group.
 * @param[in]  topic      the record's topic.
 * @param[in]  partition  its partition.
 * @param[in]  offset     its offset (as samsa_produce() set it).
 * @param[in]  timeout_ms 0: do not wait; -1: wait for ever; else ms.
 * @param[out] info       receives the outcome and the delivery count;
 *                        set only on success.
 * @return 0, or
 *   - SAMSA_ETIMEDOUT: not finished within the timeout;
 *   - SAMSA_EFORGOTTEN: the record was finished so long ago that its
 *     outcome has left the window above, or the log's start moved past it
 *     before it was finished (retention): there is no outcome to give;
 *   - SAMSA_EINVAL: NULL argument, bad name, offset < 0, timeout_ms < -1;
 *   - SAMSA_ENOTOPIC, SAMSA_ENOPARTITION;
 *   - SAMSA_EOFFSET: offset is at or past the partition's log end;
 *   - SAMSA_EDELETED: the topic was deleted while the call waited;
 *   - SAMSA_ECLOSED: samsa_close() has begun;
 *   - SAMSA_ECORRUPT, SAMSA_EIO, SAMSA_ENOSPC, SAMSA_ENOMEM, -errno: the
 *     group's state could not be loaded (as samsa_queue_open()).
 * Also SAMSA_ERDONLY on a read-only handle (SAMSA_OPEN_RDONLY): nothing
 * changed.
 */
SAMSA_API int samsa_queue_ack_info(samsa *s, const char *group,
                                   const char *topic, int32_t partition,
                                   int64_t offset, int timeout_ms,
                                   samsa_ack_info *info);

/**
 * @brief samsa_queue_ack_info(), giving the outcome only.
 * @param[out] outcome receives SAMSA_ACK_ACCEPT, SAMSA_ACK_REJECT or
 *                     SAMSA_ACK_ARCHIVED; set only on success.
 * @return as samsa_queue_ack_info().
 */
SAMSA_API int samsa_queue_ack_wait(samsa *s, const char *group,
                                   const char *topic, int32_t partition,
                                   int64_t offset, int timeout_ms,
                                   int *outcome);

/** Called for each record a group finishes: outcome is SAMSA_ACK_ACCEPT,
 *  SAMSA_ACK_REJECT or SAMSA_ACK_ARCHIVED.  topic is valid during the call
 *  only. */
typedef void (*samsa_ack_fn)(const char *topic, int32_t partition,
                             int64_t offset, int outcome, void *ctx);

/**
 * @brief Be called back on every acknowledgement of a group's records.
 *
 * fn runs in the acknowledging thread, after the acknowledgement is saved
 * and outside the group's share-partition locks, but inside the call that
 * finished the record: samsa_queue_ack(), or samsa_queue_receive() for a
 * record archived after max_attempts.  That call holds its receiver, so fn
 * must not call samsa_queue_receive(), samsa_queue_ack() or
 * samsa_queue_close() on that receiver (it would deadlock), nor
 * samsa_queue_on_ack().  One callback per (group, topic): a new one
 * replaces the old; fn NULL removes it.
 *
 * @param[in] s     the store.
 * @param[in] group the share group.
 * @param[in] topic the topic.
 * @param[in] fn    the callback, or NULL to remove it.
 * @param[in] ctx   passed to fn.
 * @return 0, SAMSA_EINVAL (NULL s, group or topic, or a bad name),
 *         SAMSA_ENOMEM.
 */
SAMSA_API int samsa_queue_on_ack(samsa *s, const char *group, const char *topic,
                                 samsa_ack_fn fn, void *ctx);

/* ------------------------------------------------------------------------ */
/* Replicas                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * A topic created with replicas = n keeps n copies of each partition, on n
 * distinct directories of the store (samsa_options.replica_dirs), partition
 * p's copies on directories p, p+1, ..., p+n-1 (mod the number of
 * directories) so that the leaders are spread over them.  One copy, the
 * leader, is the one readers read; every write goes to every in-sync copy
 * before it is acknowledged (see SAMSA_ACKS_ALL).  Each directory also holds
 * its own copy of the catalog, so the store reopens from any one of them.
 */

/** The state of one copy, in samsa_replica_info.state. */
typedef enum samsa_replica_state {
    SAMSA_REPLICA_INSYNC = 1, /**< holds every acknowledged record and takes
                                   every write                          */
    SAMSA_REPLICA_OUT = 2     /**< left the in-sync set: an I/O error, a full
                                   disk, a failed fsync, a vanished
                                   directory, or damage; gets no writes
                                   until it is rebuilt (never while its
                                   directory holds a file samsa did not
                                   make: reason SAMSA_ECORRUPT)           */
} samsa_replica_state;

/** One copy of a partition, as samsa_replica_status() describes it. */
typedef struct samsa_replica_info {
    int dir; /**< 0: the store's directory; i: replica_dirs[i-1];
                  -1: a directory not open now                  */
    samsa_replica_state state; /**< in sync or out                        */
    int leader;           /**< 1 for the leader copy, else 0                 */
    int reason;           /**< why it is out (a SAMSA_E* code or -errno);
                               0 while in sync                               */
    int64_t since;        /**< the log end offset when its state last changed */
    uint64_t reserved[2]; /**< zero                                   */
} samsa_replica_info;

/** Event types, in samsa_replica_event.type. */
typedef enum samsa_replica_event_type {
    SAMSA_REPLICA_EV_OUT = 1,    /**< a copy left the in-sync set          */
    SAMSA_REPLICA_EV_JOINED = 2, /**< a rebuilt copy rejoined it           */
    SAMSA_REPLICA_EV_LEADER = 3  /**< the leader moved to another copy     */
} samsa_replica_event_type;

/** What samsa_options.on_replica receives. */
typedef struct samsa_replica_event {
    samsa_replica_event_type type; /**< what happened                   */
    const char *topic;    /**< the topic                                   */
    int32_t partition;    /**< the partition                               */
    int dir;              /**< the copy's directory, as in samsa_replica_info */
    int reason;           /**< EV_OUT: the error; else 0                   */
    int64_t offset;       /**< the log end offset at the event             */
    int32_t leader_epoch; /**< the partition's leader epoch after it       */
    uint64_t reserved[2]; /**< zero                                         */
} samsa_replica_event;

/**
 * @brief Describe the copies of a partition.
 * @param[in]  s         the store.
 * @param[in]  topic     the topic.
 * @param[in]  partition the partition.
 * @param[out] copies    receives up to max entries, in placement order
 *                       (the first is the copy that led at creation).
 * @param[in]  max       room in copies.
 * @param[out] n         receives the number of copies the partition has
 *                       (which may exceed max).
 * @return 0, SAMSA_EINVAL (NULL argument, bad name, copies NULL with
 *         max > 0), SAMSA_ENOTOPIC, SAMSA_ENOPARTITION.
 */
SAMSA_API int samsa_replica_status(samsa *s, const char *topic,
                                   int32_t partition,
                                   samsa_replica_info *copies, size_t max,
                                   size_t *n);

/**
 * @brief Rebuild, now, every copy that is out of the in-sync set and whose
 *        directory is usable again, and let it rejoin.
 *
 * The background flusher does the same about once a second; this call is
 * for programs that want it to happen at a known point.  A directory that
 * vanished and came back (even empty) gets its catalog and its partition
 * directories back, and a copy placed on a directory the store no longer
 * knows (it was opened without it meanwhile) moves to a directory holding
 * no copy of its partition.  Before a copy is rebuilt, the leader is healed
 * from every copy holding a good version of a batch it has damaged (as
 * samsa_scrub() heals), so damage is never copied over a good batch.  Each
 * copy is copied from the leader and read back, the files are synced, and
 * the copy rejoins while producers briefly wait; producing goes on during
 * the rest of the copy.
 *
 * Rebuilding removes the copy's old files, so it is done only when its
 * partition directory holds nothing samsa did not make: a file of another
 * name, a directory, a symbolic link or FIFO, or a stray file under a
 * segment's name (samsa(7), "Recovery") keeps the copy out, with reason
 * SAMSA_ECORRUPT, and nothing there is read or removed; the partition
 * goes on with its other copies.  Each later pass (this call, or the
 * flusher's) checks again, so once the file is moved away the copy is
 * rebuilt.
 *
 * @param[in]  s        the store.
 * @param[out] rejoined receives how many copies rejoined; may be NULL.
 * @return 0 when every out copy that could be rebuilt was, or the first
 *         error met (the copy stays out): SAMSA_EINVAL (s is NULL),
 *         SAMSA_ECORRUPT (the copy's disk returned other bytes than written,
 *         or its directory holds a file samsa did not make, as above),
 *         SAMSA_EIO, SAMSA_ENOSPC, SAMSA_ENOMEM, -errno.
 * Also SAMSA_ERDONLY on a read-only handle (SAMSA_OPEN_RDONLY): nothing
 * changed.
 */
SAMSA_API int samsa_replica_catchup(samsa *s, size_t *rejoined);

/** What samsa_scrub() found and did; counts over every copy checked. */
typedef struct samsa_scrub_report {
    uint64_t segments;     /**< segment files checked                     */
    uint64_t batches;      /**< batches whose CRC was checked             */
    uint64_t bytes;        /**< bytes read                                */
    uint64_t damaged;      /**< segment files with a bad batch, or whose
                                bytes differ from a good copy's (a
                                segment's index files count as one)      */
    uint64_t missing;      /**< segment files missing from a copy         */
    uint64_t repaired;     /**< damaged or missing files rewritten from a
                                good copy                                */
    uint64_t unrepairable; /**< segments with a batch no copy holds a good
                                version of: readers get SAMSA_ECORRUPT
                                there                                    */
    uint64_t reserved[4];  /**< zero                                      */
} samsa_scrub_report;

/**
 * @brief Check every batch of every copy of every partition, and repair
 *        damaged or missing segment files from a good copy.
 *
 * Reads each in-sync copy's segment files from disk (not through the page
 * cache's view of the leader), checks each batch's structure, CRC and
 * offsets, and compares the copies byte for byte.  Copies that differ are
 * healed batch by batch: a version proven good (it parses, chains to the
 * offsets before it, passes its CRC; its leader epoch fits) is written over
 * every in-sync copy whose bytes differ, the leader's included, and synced;
 * a batch that verifies is never overwritten by one that does not.  An out
 * copy is a source only for a batch it provably shares with the damaged
 * one.  Index files of sealed segments that differ are rewritten from the
 * batches.  A copy whose file is missing leaves the in-sync set and is
 * rebuilt as samsa_replica_catchup() does.  Producers wait while a segment
 * is being repaired, not while it is checked.
 *
 * @param[in]  s     the store.
 * @param[in]  topic one topic, or NULL for all.
 * @param[out] rep   receives the counts; may be NULL.
 * @return 0 (damage found and repaired is still 0: see rep), or
 *   - SAMSA_ECORRUPT: some batch has no good version on any copy
 *     (rep->unrepairable);
 *   - SAMSA_EINVAL: s is NULL or topic is a bad name;
 *   - SAMSA_ENOTOPIC: topic does not exist;
 *   - SAMSA_EIO, SAMSA_ENOSPC, SAMSA_ENOMEM, -errno: a repair failed.
 * Also SAMSA_ERDONLY on a read-only handle (SAMSA_OPEN_RDONLY): nothing
 * changed.
 */
SAMSA_API int samsa_scrub(samsa *s, const char *topic, samsa_scrub_report *rep);

/* ------------------------------------------------------------------------ */
/* Statistics                                                               */
/* ------------------------------------------------------------------------ */

/*
 * What a store holds and how its readers stand, for monitoring: cheap
 * enough to call every second (no file is read; each partition's locks
 * are taken briefly, one at a time).  Each call takes its figures at one
 * moment per partition, not for the whole store at once.
 */

/** One partition's figures (samsa_stats_partitions()). */
typedef struct samsa_partition_stats {
    const char *topic;    /**< the topic's name                           */
    int32_t partition;    /**< the partition                              */
    uint32_t segments;    /**< segment files of the log                   */
    int64_t start;        /**< log start offset                           */
    int64_t end;          /**< log end offset                             */
    int64_t records;      /**< offsets stored: end - start, the records
                               themselves where offsets are dense (a
                               partition with SAMSA_PARTITION_GAPS may
                               hold fewer)                               */
    uint64_t bytes;       /**< bytes of record batches in the segments
                               (one copy's)                              */
    uint32_t copies;      /**< copies placed (the topic's replicas)       */
    uint32_t insync;      /**< copies in sync now                         */
    uint32_t open_files;  /**< files it holds open, over every copy       */
    uint32_t flags;       /**< SAMSA_PARTITION_GAPS,
                               SAMSA_PARTITION_UNCLEANABLE, or 0         */
    uint64_t reserved[4]; /**< zero                                       */
} samsa_partition_stats;

/** samsa_partition_stats.flags: the partition's offsets may skip between
 *  records, as a Kafka log's do where compaction removed records, so a
 *  gap there is not damage; cursors, groups and share groups go on at the
 *  next record.  Every topic samsa_topic_create() makes is dense (each
 *  offset below the end and past the start holds a record), and a gap in
 *  it is SAMSA_ECORRUPT, unless its cleanup_policy has
 *  SAMSA_CLEANUP_COMPACT: compaction leaves gaps too. */
#define SAMSA_PARTITION_GAPS 0x1u
/** samsa_partition_stats.flags: the last compaction of the partition
 *  found a batch failing its CRC or its checks in the segments it was to
 *  clean, and refused (nothing changed, so that no damage is copied into a
 *  segment that would look clean); samsa_scrub() repairs it from a good
 *  copy, and the next pass tries again. */
#define SAMSA_PARTITION_UNCLEANABLE 0x2u

/** One share-partition's figures (samsa_stats_shares()). */
typedef struct samsa_share_stats {
    const char *group;     /**< the share group's name                      */
    const char *topic;     /**< its topic                                   */
    int32_t partition;     /**< the partition                               */
    uint32_t receivers;    /**< receivers of the group open now             */
    int64_t start;         /**< every record below is done                  */
    int64_t acquired;      /**< in flight: delivered, not yet acknowledged  */
    int64_t available;     /**< deliverable now: given back, or never
                                delivered up to the log end                */
    int64_t dead_lettered; /**< rejected or archived among the outcomes
                                kept (the window, and SAMSA_QUEUE_OUTCOMES
                                offsets below it)                         */
    uint64_t reserved[4];  /**< zero                                       */
} samsa_share_stats;

/** The store's totals (samsa_stats()). */
typedef struct samsa_store_stats {
    uint32_t topics;           /**< topics                                 */
    uint32_t partitions;       /**< partitions of them                     */
    uint64_t segments;         /**< segment files (one copy's)             */
    int64_t records;           /**< records stored                         */
    uint64_t bytes;            /**< bytes of record batches (one copy's)   */
    uint32_t open_files;       /**< files the partitions hold open         */
    uint32_t under_replicated; /**< partitions with a copy out of sync    */
    uint32_t consumer_groups;  /**< as samsa_group_list() finds them       */
    uint32_t share_groups;     /**< idem                                   */
    uint64_t reserved[6];      /**< zero                                   */
} samsa_store_stats;

/**
 * @brief The store's totals.
 * @param[in]  s  the store.
 * @param[out] st receives them.
 * @return 0, SAMSA_EINVAL, SAMSA_ENOMEM, SAMSA_EIO (listing groups).
 */
SAMSA_API int samsa_stats(samsa *s, samsa_store_stats *st);

/**
 * @brief Call fn with the figures of every partition of one topic, or of
 *        every topic, in topic name then partition order.
 * @param[in] s     the store.
 * @param[in] topic a topic, or NULL for all.
 * @param[in] fn    called with each (valid during the call only) and ctx,
 *                  with no samsa lock held; a non-zero return stops the
 *                  walk and is returned.
 * @param[in] ctx   passed to fn.
 * @return 0, fn's non-zero return, SAMSA_EINVAL, SAMSA_ENOTOPIC,
 *         SAMSA_ENOMEM.
 */
SAMSA_API int samsa_stats_partitions(samsa *s, const char *topic,
                                     int (*fn)(const samsa_partition_stats *p,
                                               void *ctx),
                                     void *ctx);

/**
 * @brief Call fn with the figures of every partition of every share group
 *        open in this process (those with receivers, or loaded by an
 *        acknowledgement wait), in group, topic, partition order.
 * @param[in] s   the store.
 * @param[in] fn  as samsa_stats_partitions().
 * @param[in] ctx passed to fn.
 * @return 0, fn's non-zero return, SAMSA_EINVAL, SAMSA_ENOMEM.
 */
SAMSA_API int
samsa_stats_shares(samsa *s, int (*fn)(const samsa_share_stats *q, void *ctx),
                   void *ctx);

/**
 * @brief Everything above, and every consumer group's committed offsets
 *        and lag, as one JSON object (for monitoring).
 *
 * The object: {"topics", "partitions", "segments", "records", "bytes",
 * "open_files", "under_replicated" (numbers), "topic_partitions" (an
 * array of objects with the fields of samsa_partition_stats),
 * "consumer_groups" (an array of {"group", "offsets": [{"topic",
 * "partition", "committed", "end", "lag"}]}), "share_groups" (an array of
 * objects with the fields of samsa_share_stats)}.  Names are escaped as
 * JSON strings.
 *
 * @param[in]  s    the store.
 * @param[out] json receives a NUL-terminated string, malloc'ed: the caller
 *                  frees it with free().
 * @return 0, SAMSA_EINVAL, SAMSA_ENOMEM, SAMSA_ECORRUPT, SAMSA_EIO.
 */
SAMSA_API int samsa_stats_json(samsa *s, char **json);

/* ------------------------------------------------------------------------ */
/* The Kafka listener                                                       */
/* ------------------------------------------------------------------------ */

/*
 * A listener serves the store's topics over Kafka's wire protocol from
 * the application's own process, on threads of its own: any Kafka client
 * (librdkafka, kafkajs, the Java client) produces to and fetches from the
 * same topics the application's threads use.  Implemented so far (and
 * advertised by ApiVersions, so clients pick these versions): ApiVersions
 * 0-3, Metadata 0-8, Produce 3-8, ListOffsets 1-5, Fetch 4-11 (without
 * fetch sessions: every fetch is a full one), FindCoordinator 0-2,
 * OffsetCommit 2-7 and OffsetFetch 1-5 (the store's own committed offsets,
 * shared with in-process groups; commits from outside a group with
 * members are refused), JoinGroup 0-5, SyncGroup 0-3, Heartbeat 0-3,
 * LeaveGroup 0-3, ListGroups 0-2 and DescribeGroups 0-4 (Kafka's classic
 * consumer-group protocol, coordinated by the listener: clients' own
 * assignors, session and rebalance timeouts, commits checked against the
 * member's generation), CreateTopics 0-4, DeleteTopics 0-3,
 * CreatePartitions 0-1 and DeleteRecords 0-1; SaslHandshake 0-1 and
 * SaslAuthenticate 0-2 with a users file (below).  The store is the only
 * broker: node 0, leader of every partition.
 *
 * Groups joined through the listener and in-process consumer groups
 * (samsa_consumer_open()) share committed offsets but not membership: a
 * JoinGroup is refused (INCONSISTENT_GROUP_PROTOCOL) while the name has
 * members in this process; the other way round is not checked, so do not
 * open in-process consumers of a group Kafka clients join.  The
 * listener's groups live in memory: a restart makes clients rejoin.  No
 * static membership (group.instance.id is not used to fence).
 *
 * Produce's acks: 0 (no response, as Kafka), 1 and -1 (all) are answered
 * once samsa_produce() returned, so the topic's own acks and sync rules
 * decide what the answer vouches for.  A batch whose CRC or records do
 * not check is refused (CORRUPT_MESSAGE) and nothing of that partition's
 * data in the request is stored.  Fetch answers with the stored batches
 * as they are (compressed ones stay compressed), sent from the segments'
 * mappings without a copy in the process, and waits up to the
 * request's max_wait_ms for min_bytes, woken by any produce into the
 * store, in-process or through the listener.
 *
 * Bounded: request size (max_request_bytes), connections
 * (max_connections), one request worked on per connection at a time and
 * at most max_request_bytes of replies queued to it; a request that does
 * not parse closes its connection and changes nothing.
 *
 * Authentication (optional): with users_file set, a connection must log
 * in with SASL/PLAIN (Kafka's SaslHandshake and SaslAuthenticate; clients
 * set security.protocol=SASL_PLAINTEXT, sasl.mechanisms=PLAIN) before it
 * is served anything but ApiVersions; any other request first closes it
 * (as does one over 512 KiB before login), and a wrong user or password
 * gets SASL_AUTHENTICATION_FAILED, then the connection closes.  The file: one
 * "user:password" line per user (the password is the rest of the line, colons
 * and all; a CR before the newline is dropped), lines starting with '#' are
 * comments, empty lines are skipped; at most 1 MiB.  It is read once, at open,
 * kept in memory until samsa_listener_close() wipes it, and passwords are
 * compared in constant time; none is ever logged.  PLAIN sends the password in
 * the clear and the listener has no TLS: keep it to loopback or a trusted
 * network.  Every authenticated user is served everything (no ACLs).
 */

/** Opaque handle of a listener. */
typedef struct samsa_listener samsa_listener;

/** Where and how a listener listens; zero fields take the default. */
typedef struct samsa_listener_config {
    const char *host;            /**< address to bind: NULL "127.0.0.1"   */
    int port;                    /**< 0: any free port                     */
    const char *advertised_host; /**< told to clients; NULL: host        */
    int max_connections;         /**< 0: 256                               */
    int32_t max_request_bytes;   /**< 0: 100 MiB (Kafka's default)         */
    int32_t max_partitions;      /**< most partitions a client may give a
                                      topic (CreateTopics, CreatePartitions);
                                      0: 1024                             */
    int32_t fetch_max_bytes;     /**< most batch bytes one Fetch answer
                                      carries, whatever the client asks
                                      (Kafka's broker fetch.max.bytes); the
                                      first batch comes whole; 0: 55 MiB  */
    const char *users_file;      /**< SASL/PLAIN users, one "user:password"
                                      line each; NULL: no authentication
                                      (see above)                         */
    uint64_t reserved[6];        /**< zero: room for fields to come        */
} samsa_listener_config;

/**
 * @brief Start serving the store over Kafka's protocol.
 * @param[in]  s   an open store, not read-only.
 * @param[in]  cfg where to listen, or NULL for the defaults.
 * @param[out] out receives the listener.
 * @return 0; SAMSA_EINVAL (NULL arguments, negative limits, a port out of
 *         range, a host that is not an IPv4 or IPv6 address,
 *         max_partitions past SAMSA_MAX_PARTITIONS, a reserved field not
 *         zero, or a users file that is malformed: a line without a
 *         colon, an empty user or password, a NUL byte, a user named
 *         twice, no user at all, over 1 MiB, not a regular file);
 *         SAMSA_ERDONLY for a read-only store; -errno when the users file
 *         cannot be read (-ENOENT, -EACCES, ...) or the socket cannot be
 *         bound (-EADDRINUSE); SAMSA_EIO or SAMSA_ENOMEM when the socket
 *         or a thread could not be made (errno says why).  No listener
 *         is made on any error.
 *
 * samsa_close() with the listener still open stops it first (its threads
 * end and its clients see their connections close, requests not answered
 * get no answer); samsa_listener_close() must still be called after, and
 * then only frees it.
 */
SAMSA_API int samsa_listener_open(samsa *s, const samsa_listener_config *cfg,
                                  samsa_listener **out);

/**
 * @brief The TCP port the listener is bound to (the one the system chose
 *        when cfg->port was 0).
 */
SAMSA_API int samsa_listener_port(const samsa_listener *l);

/**
 * @brief Stop the listener: its threads end, every connection closes
 *        (requests not yet answered get no answer), its memory is freed.
 * @return 0, or SAMSA_EINVAL for NULL.
 */
SAMSA_API int samsa_listener_close(samsa_listener *l);

#ifdef __cplusplus
}
#endif

#endif /* SAMSA_H */
