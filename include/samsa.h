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
 *  - Option and config structs are zero-initialisable: a field left 0 takes
 *    its default.  Their reserved tails must stay zero; they are room for
 *    fields added in later minor versions without breaking the ABI.
 *  - Pointers returned to the caller are borrowed unless stated otherwise;
 *    each says how long it stays valid.  The library never hands the caller
 *    memory to free().
 *  - Thread safety: one samsa handle is shared by all threads of a process.
 *    A cursor belongs to one thread at a time.
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
    XX(ECLOSED, -30616, "store is closing")

/** samsa's error codes.  0 is success; every error is negative. */
/* The formatter cannot see that the map expands to enumerators. */
/* clang-format off */
typedef enum samsa_error {
#define SAMSA_XX_ENUM(name, value, msg) SAMSA_##name = (value),
    SAMSA_ERRNO_MAP(SAMSA_XX_ENUM)
#undef SAMSA_XX_ENUM
    SAMSA_ELAST = -30617 /**< one below the last code, for range checks */
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

/** Options for samsa_open().  Zero-initialise; 0 means the default. */
typedef struct samsa_options {
    const char *const *replica_dirs; /**< NULL-terminated mirror directories;
                                          NULL or empty: none.  Not yet
                                          supported: non-empty gives
                                          SAMSA_ENOTSUP                     */
    int sync;                        /**< a samsa_sync_policy; 0: NONE      */
    int flags;                       /**< SAMSA_OPEN_* bits                 */
    size_t catalog_map_bytes;        /**< LMDB map size; 0: 1 GiB           */
    uint64_t reserved[8];            /**< must be zero                      */
} samsa_options;

/** samsa_options.flags: create the directory if it does not exist. */
#define SAMSA_OPEN_CREATE 0x1

/** A topic's configuration.  Zero-initialise; 0 means the default. */
typedef struct samsa_topic_config {
    int32_t partitions;           /**< 1..SAMSA_MAX_PARTITIONS; 0: 1          */
    int32_t replicas;             /**< copies including the primary; 0: 1.
                                       Only 1 is supported yet (SAMSA_ENOTSUP) */
    int64_t segment_bytes;        /**< roll a segment past this size;
                                       0: 1 GiB; 4096..2 GiB-1                 */
    int32_t max_message_bytes;    /**< largest record batch one produce call may
                                       write to one partition; 0: 1048588
                                       (Kafka's default); 64..256 MiB          */
    int32_t index_interval_bytes; /**< bytes of log between sparse index
                                       entries; 0: 4096; 64..1 MiB         */
    int sync;                     /**< a samsa_sync_policy; 0: the store's    */
    int32_t reserved32;           /**< must be zero                           */
    uint64_t reserved[8];         /**< must be zero                           */
} samsa_topic_config;

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
 * the end are dropped.  Segments before the recovery point are not read.
 *
 * @param[in] dir  the store's directory.  It must exist unless
 *                 SAMSA_OPEN_CREATE is given.
 * @param[in] opt  options, or NULL for the defaults.
 * @param[out] out the new handle; set only on success.  Close it with
 *                 samsa_close().
 * @return 0, or
 *   - SAMSA_EINVAL: dir or out is NULL, dir is empty, opt has a bad field
 *     or a non-zero reserved field;
 *   - SAMSA_ENOTSUP: opt->replica_dirs names a directory (replicas are not
 *     supported by this version);
 *   - SAMSA_ELOCKED: another process, or another handle in this process,
 *     has the store open;
 *   - SAMSA_EVERSION: the catalog was written by an incompatible version;
 *   - SAMSA_ECORRUPT: the catalog is damaged;
 *   - SAMSA_ENOMEM, SAMSA_EIO, SAMSA_ENOSPC, or -errno (for example
 *     -ENOENT when dir does not exist, -EACCES).
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
 *        segment), whatever the sync policy, and advance the recovery points.
 * @param[in] s the store.
 * @return 0, SAMSA_EINVAL (s is NULL), SAMSA_EIO, SAMSA_EFAILED.
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
 *     a config field is out of range or a reserved field is non-zero;
 *   - SAMSA_ENOTSUP: cfg->replicas is more than 1;
 *   - SAMSA_EEXIST: a topic of that name exists;
 *   - SAMSA_EIO, SAMSA_ENOSPC, SAMSA_ENOMEM, SAMSA_EFAILED, -errno.
 */
SAMSA_API int samsa_topic_create(samsa *s, const char *name,
                                 const samsa_topic_config *cfg);

/**
 * @brief Delete a topic and all its records, atomically.
 *
 * Cursors still open on the topic get SAMSA_EDELETED from their next call;
 * they must still be closed.
 *
 * @param[in] s    the store.
 * @param[in] name the topic.
 * @return 0, SAMSA_EINVAL (NULL argument or bad name), SAMSA_ENOTOPIC,
 *         SAMSA_EIO, SAMSA_EFAILED.
 */
SAMSA_API int samsa_topic_delete(samsa *s, const char *name);

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
    const char *key;   /**< NUL-terminated, not NULL                      */
    const void *value; /**< NULL: a null value                            */
    size_t value_len;  /**< bytes at value; must be 0 if value is NULL    */
} samsa_header;

/** A record to produce, and where it was stored. */
typedef struct samsa_record {
    const void *key;             /**< NULL: no key                       */
    size_t key_len;              /**< must be 0 if key is NULL           */
    const void *value;           /**< NULL: a null value (tombstone)     */
    size_t value_len;            /**< must be 0 if value is NULL         */
    const samsa_header *headers; /**< header_count headers, or NULL      */
    size_t header_count;
    int64_t timestamp; /**< in: ms since the epoch, 0 = now; out: stored  */
    int32_t partition; /**< out: the partition it went to                 */
    int64_t offset;    /**< out: its offset, -1 where it was not stored   */
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
 *   - SAMSA_ENOMEM.
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

/* ------------------------------------------------------------------------ */
/* Cursors                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * A record read by a cursor.  Every pointer in it, and those that
 * samsa_message_header() gives, stay valid until the next samsa_cursor_next()
 * on this cursor or samsa_cursor_close(); they point into the mapped segment
 * (zero-copy) and must not be written through.
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
} samsa_message;

/**
 * @brief Read one header of a message.
 * @param[in]  msg       a message from samsa_cursor_next().
 * @param[in]  i         0..msg->header_count-1.
 * @param[out] key       receives the header key (not NUL-terminated).
 * @param[out] key_len   receives its length.
 * @param[out] value     receives the value, NULL for a null value.
 * @param[out] value_len receives its length.
 *  All four pointers share the message's lifetime.
 * @return 0, SAMSA_EINVAL (NULL argument or i out of range), SAMSA_ECORRUPT.
 */
SAMSA_API int samsa_message_header(const samsa_message *msg, size_t i,
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
 * to produce one, without polling.
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
 *   - SAMSA_ENOTSUP: the batch is compressed or has a format samsa does not
 *     read;
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
 */
SAMSA_API void samsa_cursor_close(samsa_cursor *c);

#ifdef __cplusplus
}
#endif

#endif /* SAMSA_H */
