/*
 * log.h - one partition's log (log.c) and its segment files (segment.c).
 *
 * A partition is a directory DIR/TOPIC-P holding segments, each three files
 * named by the segment's base offset in 20 digits:
 *
 *   00000000000000000000.log        record batches v2, back to back
 *   00000000000000000000.index      Kafka offset index: 8-byte entries
 *                                   (relative offset u32, position u32, BE)
 *   00000000000000000000.timeindex  Kafka time index: 12-byte entries
 *                                   (timestamp i64, relative offset u32, BE)
 *
 * Only the last segment (the active one) takes writes.  The index files are
 * rewritten when a segment is sealed (rolled, or at close); while a segment
 * is active its entries are appended to them every INDEX_FLUSH_BYTES of
 * batches, so that the recovery scan after a crash starts near the end
 * (segment.c, "Index" and "Recovery").
 *
 * Concurrency.  Writers serialise on log.lock.  Readers take no lock on the
 * data path: a writer copies a whole batch into the segment, then publishes
 * the new log end with a release store; a reader loads the end with acquire
 * and reads only offsets below it.  Everything a reader may touch below the
 * published end is immutable.  Segments are reference counted so that a
 * cursor can keep reading a segment that retention or topic deletion has
 * removed from the log; the segment array itself is read under log.lock.
 *
 * The end marker.  DIR/TOPIC-P/samsa.end (64 bytes, log.c) holds the boot id
 * of the kernel and the last published log end, refreshed with one 8-byte
 * store into its mapping at each publish, so that recovery knows which
 * records were acknowledged and never cuts one as a torn tail.  Its
 * descriptor is closed once it is written at open (samsa_io.shut): the
 * stores need only the mapping, and a store of many partitions would
 * otherwise hold a descriptor per partition for it.
 *
 * Replicas.  A partition with several copies gives its log the replica
 * set's I/O table (replica_io.c), which repeats every call on every
 * in-sync copy; nothing in log.c or segment.c knows.  So "a write" or "an
 * fdatasync" below means one on every in-sync copy, and the log end is
 * published only once all of them have the batch (the high watermark).
 *
 * Lock order: store topic table -> log.flush_lock -> log.lock ->
 * log.fsync_lock -> rset.lock (replica.h); log.lock or log.sync_lock ->
 * log.wait_lock.  No fdatasync
 * runs under sync_lock, and none outside fsync_lock.
 */
#ifndef SAMSA_LOG_H
#define SAMSA_LOG_H

#include <pthread.h>

#include "batch.h"
#include "io.h"

/* One sparse index entry: the batch at pos starts at offset base + rel, and
 * every record in the segment before it has a timestamp <= max_ts_before. */
typedef struct index_entry {
    uint32_t rel;          /* batch base offset minus the segment's base     */
    uint32_t pos;          /* byte position of the batch in the .log file    */
    int64_t max_ts_before; /* largest timestamp before this batch, or -1     */
} index_entry;

typedef struct segcache segcache; /* segcache.c */

typedef struct segment {
    int64_t base;           /* offset of its first record; names files    */
    char *path;             /* the .log file's path (.index etc. derived) */
    samsa_io_file *file;    /* the open .log file; NULL while the cache
                               has it closed (segcache.c)                 */
    const uint8_t *map;     /* read-only view of map_len bytes (NULL
                               with file)                                 */
    samsa_io *io;           /* the table file was opened through          */
    size_t map_len;         /* the view's length: segment_bytes + largest
                               batch, so the file never outgrows it       */
    _Atomic uint64_t size;  /* bytes of whole batches written             */
    uint64_t alloc;         /* bytes allocated on disk (>= size)          */
    uint64_t alloc_chunk;   /* writer: the last allocate()'s chunk, 0 before
                               the first (segment.c, "Space")             */
    _Atomic int64_t max_ts; /* largest timestamp stored, -1 when none     */
    int64_t next_offset;    /* writer: offset after the last batch        */
    int64_t damaged;        /* lowest offset open found damaged, or -1    */
    bool force_index;       /* writer: index the next batch (after damage) */
    bool gaps;              /* offsets may skip between batches (log_config
                               .gaps): batch_follows() */
    bool probe;             /* segment_end()'s: opened read-only, to learn
                               where it ends; nothing is written         */

    index_entry *idx;           /* idx_cap entries, idx_len of them valid     */
    size_t idx_cap;             /* fixed: readers search idx concurrently     */
    _Atomic size_t idx_len;     /* published with release after an entry      */
    uint64_t idx_last_pos;      /* position of the last entry (0: start)      */
    _Atomic size_t idx_written; /* entries in the index files: the active
                                   segment's are appended as the log grows
                                   (segment.c, "Index") */
    size_t idx_synced;          /* of those, fdatasync'ed (under fsync_lock)  */
    size_t ti_at;    /* writer: the time index scan's state after idx[0,
                        ti_at) (0: none): the entries they make and the */
    size_t ti_kept;  /* last one's timestamp (segment.c,                */
    int64_t ti_last; /* timeindex_encode())                             */

    _Atomic int refs;     /* the log's reference plus each reader's     */
    _Atomic bool sealed;  /* no more writes; index files written (set
                             under log.lock, read by log_sync without) */
    _Atomic bool flushed; /* sealed and fdatasync'ed                    */

    segcache *cache;           /* the store's cap on open segments, or NULL:
                                  always open                               */
    pthread_mutex_t open_lock; /* file and map open or closed (segcache.c) */
    pthread_mutex_t *writer;   /* its log's lock (log_config.writer), held
                                  by whoever uses an active segment's
                                  descriptor; NULL once the log let go    */
    _Atomic bool shut;         /* active: the cache closed its descriptor,
                                  the file's view kept (segcache.c)       */
    _Atomic bool used;         /* written since the cache last looked     */
    _Atomic int pins;          /* segment_pin()s not let go               */
    _Atomic bool detached;     /* removed from its log: its references are
                                  readers', it is never closed under them   */
    bool in_cache;             /* counted open and closable (cache lock)    */
    struct segment *lru_prev, *lru_next; /* the cache's list (its lock)    */
} segment;

/* The end marker's file name in a partition directory, and where its
 * fields are (log.c, "The end marker"). */
#define LOG_MARKER         "samsa.end"
#define LOG_MARKER_SIZE    64
#define LOG_MARKER_WAITERS 48 /* u32: readers of other processes waiting */
#define LOG_MARKER_WORD    56 /* u64 LE: the published end, sealed       */

/* The settings a log needs, resolved from the topic config and store. */
typedef struct log_config {
    uint64_t segment_bytes;   /* roll past this                           */
    uint32_t max_batch_bytes; /* largest batch (topic max_message_bytes)  */
    uint32_t index_interval;  /* bytes between index entries              */
    bool sync;                /* fdatasync before acknowledging           */
    bool acks_all;            /* replicas: every in-sync copy acknowledges */
    int min_insync;           /* replicas: copies an acks=all produce needs */
    segcache *cache;          /* the store's cap on open segment files,
                                 or NULL: every segment stays open        */
    pthread_mutex_t *writer;  /* set by log_open: the log's lock          */
    bool gaps;                /* offsets may skip between batches: an
                                 adopted Kafka log or a compacted topic
                                 (the partition's catalog record says);
                                 else dense, and a gap is damage
                                 (batch_follows(), batch.h)              */
} log_config;

struct rset;

typedef struct samsa_log {
    char *dir;      /* DIR/TOPIC-P                              */
    samsa_io *io;   /* the store's I/O layer                    */
    log_config cfg; /* copied at open                           */

    pthread_mutex_t lock;       /* writers; segs, nsegs                     */
    segment **segs;             /* ascending base; the last is active       */
    size_t nsegs, segs_cap;     /* used and allocated slots of segs         */
    int64_t next_offset;        /* writer: the offset the next record gets  */
    _Atomic int failed;         /* SAMSA_EFAILED after a failed sync        */
    pthread_mutex_t flush_lock; /* one log_sync at a time                   */
    pthread_mutex_t fsync_lock; /* every fdatasync of the log, one at a time;
                                   `failed` is set before it is released   */

    _Atomic int64_t end;        /* log end offset visible to readers        */
    _Atomic int64_t start;      /* log start offset                         */
    int64_t recovery_point;     /* offsets below are on stable storage      */
    int64_t durable;            /* open: offsets below were acknowledged    */
    int64_t damaged;            /* open: lowest damaged offset, or -1       */
    samsa_io_file *marker;      /* DIR/samsa.end, mapped; NULL: none        */
    const uint8_t *marker_view; /* its mapping (the writer: to wake other
                                   processes' readers), or NULL           */
    struct log_follow *follow;  /* read-only handle: what it follows of the
                                   writer (log_follow.c); NULL: the writer */

    pthread_mutex_t sync_lock; /* group commit: synced, syncing            */
    pthread_cond_t sync_cond;  /* a sync finished                          */
    int64_t synced;            /* offsets below are durable                */
    bool syncing;              /* a thread is inside fdatasync             */

    pthread_mutex_t wait_lock; /* readers waiting for data                 */
    pthread_cond_t wait_cond;  /* broadcast when end moves or on delete    */
    _Atomic int waiters;       /* readers inside wait: skip the broadcast
                                  when nobody waits                        */
    _Atomic bool deleted;      /* the topic was deleted                    */
    _Atomic int refs;          /* its owner's (a partition, partition.h,
                                  frees what its io needs after the last) */
    int64_t cleaned;           /* the cleaner's (compact.c): offsets below
                                  were cleaned by its last pass; 0 at open */
    _Atomic bool unclean;      /* the cleaner's last pass met damage and
                                  refused (stats: SAMSA_PARTITION_
                                  UNCLEANABLE)                            */
    int64_t horizon;           /* the cleaner's: the earliest delete horizon
                                  of the tombstones its last pass kept
                                  (INT64_MAX: none); 0 at open           */
} samsa_log;

/* ---- segment.c ----------------------------------------------------------- */

/* Create an empty segment file (must not exist) at base in dir. */
int segment_create(samsa_io *io, const char *dir, int64_t base,
                   const log_config *cfg, segment **out);
/* Open an existing segment, loading its index files where they check out.
 * recover_from -1: a sealed segment below the recovery point, trusted (only
 * its tail from the last index entry is read, CRCs checked).  Otherwise
 * every batch from the one holding offset recover_from on is parsed and
 * CRC-checked and a torn tail at or past durable (the acknowledged end) is
 * truncated; *torn says whether the cut-off tail held anything but zeros.
 * A bad batch below durable, or followed by a good one, is kept and noted
 * in seg->damaged. */
int segment_open(samsa_io *io, const char *dir, int64_t base,
                 const log_config *cfg, int64_t recover_from, int64_t durable,
                 bool *torn, segment **out);
/* Append a whole batch at the end (the writer holds log.lock). */
int segment_append(samsa_io *io, segment *seg, const uint8_t *batch, size_t len,
                   int64_t base_offset, int32_t count, int64_t max_ts,
                   const log_config *cfg);
/* Seal: cut the preallocated tail and write the index files. */
int segment_seal(samsa_io *io, segment *seg);
/* fdatasync the segment (and its index files once sealed). */
int segment_sync(samsa_io *io, segment *seg);
/* Position to start scanning for offset (a batch boundary at or before the
 * batch holding it), O(log n) in the index; *base gets the offset the batch
 * there must start at.  Entries are checked against the batch they name
 * before use. */
uint64_t segment_lookup(const segment *seg, int64_t offset, int64_t *base);
/* Position to start scanning for the first timestamp >= ts, and *base as
 * segment_lookup. */
uint64_t segment_lookup_time(const segment *seg, int64_t ts, int64_t *base);
/* Write a sealed segment's index files anew from its in-memory index,
 * and fdatasync them (the cleaner, compact.c). */
int segment_write_index(samsa_io *io, segment *seg);
/* The path of the segment file at base in dir with extension ext
 * (".log", ".index", ...); malloc'ed, NULL when out of memory. */
char *segment_path(const char *dir, int64_t base, const char *ext);
/* Remove the files of the segment at base in dir. */
void segment_remove_files(samsa_io *io, const char *dir, int64_t base);
/* Does the segment file at base in dir begin as samsa makes one (log.c,
 * "Foreign files")?  false also when it cannot be read. */
bool segment_file_made(samsa_io *io, const char *dir, int64_t base);
/* Where the records of the segment at base in dir end (*end), read as the
 * open reads a sealed segment but changing nothing (opened read-only, no
 * .timeindex written again, nothing cut); an error of segment_open() when
 * it does not open. */
int segment_end(samsa_io *io, const char *dir, int64_t base,
                const log_config *cfg, int64_t *end);
void segment_ref(segment *seg);
void segment_unref(samsa_io *io, segment *seg);
/* Bytes of batches the recovery scans of segment_open walked, since the
 * process started (every log; for tests that bound what a reopen reads). */
uint64_t segment_scanned_bytes(void);

/* ---- segcache.c ---------------------------------------------------------- */

/* A cache closing idle segments' files past cap open ones: a sealed
 * segment's file and view, an active segment's descriptor. */
segcache *segcache_new(size_t cap);
void segcache_free(segcache *c);
/* Make seg's view usable (open its file again if the cache closed it);
 * the caller holds a reference, and may use it until it drops it. */
int segment_hold(segment *seg);
/* The writer (holding seg->writer) is about to use the active segment's
 * descriptor: open it again if the cache shut it. */
int segment_attach(segment *seg);
/* As segment_hold, and the descriptor too, kept open until
 * segment_unpin (a sync outside the writer's lock). */
int segment_pin(segment *seg);
void segment_unpin(segment *seg);
/* A seal undone (a roll that failed after it): seg is active again, its
 * file opened again if the cache closed it meanwhile (writer's lock). */
int segment_unseal(segment *seg);
/* The log lets go of seg (freed, or replaced): readers may still hold
 * it, nobody writes it; it is no longer counted. */
void segment_disown(segment *seg);
/* seg's file was opened or seg sealed: count it, closing idle others
 * past the cap. */
void segcache_add(segment *seg);
/* seg is being freed: stop counting it. */
void segcache_forget(segment *seg);
/* Whether seg's file is open now (stats). */
bool segment_is_open(segment *seg);
/* Segments opened again on demand so far (tests). */
uint64_t segcache_reopens(segcache *c);

/* ---- log.c --------------------------------------------------------------- */

/* Open (recovering) or create the log in dir.  start and recovery_point come
 * from the catalog.  Damage found below the acknowledged end is kept, never
 * cut: log_damaged() tells where it starts. */
int log_open(samsa_io *io, const char *dir, const log_config *cfg,
             int64_t start, int64_t recovery_point, bool create,
             samsa_log **out);
/* Seal the active segment and sync everything (before the store closes);
 * *recovery_point as log_sync.  The caller still drops its reference. */
int log_close(samsa_log *log, int64_t *recovery_point);
/* Append one encoded batch of count records; *base gets its first offset.
 * The batch is stamped with *leader_epoch (Kafka's partitionLeaderEpoch,
 * as Kafka's appendAsLeader takes it), read under the log's lock so that
 * batches and leader changes keep one order; NULL leaves it as encoded.
 * The log knows nothing of copies: the epoch is the caller's. */
int log_append(samsa_log *log, uint8_t *batch, size_t len, int32_t count,
               int64_t max_ts, const _Atomic int32_t *leader_epoch,
               int64_t *base);
/* Make the end marker say the log's end, as a publish does: the records
 * an open recovered past the acknowledged end are vouched for (an adopted
 * log, every batch of it checked: adopt.c), and other processes' readers
 * see them. */
void log_mark_end(samsa_log *log);
/* fdatasync the sealed segments not yet synced and, with all, the active
 * one too; *recovery_point (may be NULL) gets the offset below which
 * everything is now durable. */
int log_sync(samsa_log *log, bool all, int64_t *recovery_point);
/* The lowest offset that open found damaged (a bad batch, or records
 * missing, below the acknowledged end or before a good batch), or -1 when
 * it found none.  Readers get SAMSA_ECORRUPT there; a copy may repair it.
 * Damage in sealed segments below the recovery point is not looked for at
 * open (cursors and samsa_scrub() find it). */
int64_t log_damaged(const samsa_log *log);
/* Wait until end > offset, the log is deleted, or the deadline (CLOCK_
 * MONOTONIC ns; -1: never) passes, polling for spin_ns (0: none) before
 * sleeping.  0, SAMSA_ETIMEDOUT, SAMSA_EDELETED. */
int log_wait(samsa_log *log, int64_t offset, int64_t deadline_ns,
             int64_t spin_ns);
/* Mark deleted and wake every waiting reader. */
void log_mark_deleted(samsa_log *log);
/* Retention (see log.c, "Deleting").  log_retention_point: the start the
 * rules allow, oldest segment first while it is sealed and its newest
 * record is older than min_ts (INT64_MIN: no time rule) or what is left without
 * it is still at least max_bytes (0: no size rule); never past the end.  The
 * caller commits it to the catalog, then log_advance_start() makes readers
 * see it (a start never moves back), then log_delete_before() removes the
 * whole segments below the start and returns how many. */
/* What log_open does first: remove the files of the segments in dir
 * wholly below start (for a copy the log does not open: replica.c);
 * none when a file there is not samsa's (log.c, "Foreign files"). */
void log_remove_below(samsa_io *io, const char *dir, const log_config *cfg,
                      int64_t start);
int64_t log_retention_point(samsa_log *log, int64_t min_ts, int64_t max_bytes);
void log_advance_start(samsa_log *log, int64_t start);
size_t log_delete_before(samsa_log *log);
/* Take a new segment_bytes, max_batch_bytes and index_interval (the other
 * fields stay as opened): the active segment is rolled, or made again
 * when empty, if its view cannot take the new largest batch. */
int log_reconfigure(samsa_log *log, const log_config *cfg);
/* Roll the active segment when it holds records and its first batch's
 * timestamp is older than before_ts (segment_ms). */
int log_roll_older(samsa_log *log, int64_t before_ts);
/* The segment holding offset (referenced and open, segment_hold(); unref
 * when done), or NULL when offset is below the log start (or the segment
 * could not be opened again: out of file descriptors).  So do the next
 * two. */
segment *log_segment_for(samsa_log *log, int64_t offset);
/* The segment after seg (referenced), or NULL when seg is the last. */
segment *log_segment_next(samsa_log *log, const segment *seg);
/* The base of the segment after seg, or INT64_MAX when seg is the last
 * (log_segment_next without opening it: segcache.c). */
int64_t log_next_base(samsa_log *log, const segment *seg);
/* The first segment whose max timestamp is >= ts (referenced), or NULL. */
segment *log_segment_for_time(samsa_log *log, int64_t ts);
void log_ref(samsa_log *log);
void log_unref(samsa_log *log);

/* ---- compact.c: the cleaner's work on one log ---------------------------- */

/* What a cleaning may take: the sealed segments, oldest first, up to the
 * first whose newest record is not older than max_ts (min_compaction_lag
 * _ms; INT64_MAX: no limit) and never the active one.  *upto gets the
 * base of the first segment not taken, *dirty the bytes taken at or past
 * log->cleaned, *total all bytes taken. */
void log_clean_range(samsa_log *log, int64_t max_ts, int64_t *upto,
                     uint64_t *dirty, uint64_t *total);
/* Whether a cleaning at now would drop a tombstone the last one kept
 * (its delete horizon passed), dirty or not. */
bool log_clean_due(const samsa_log *log, int64_t now);
/* Clean the segments wholly below upto (log_clean_range): keep the latest
 * record of each key, drop tombstones whose delete horizon (set by the
 * cleaning that first kept them, at now + horizon_ms) has passed, and
 * swap each changed segment's file crash-safely (compact.c, "The swap").
 * SAMSA_ECORRUPT, cleaning nothing, when any batch there fails its
 * checks.  *removed gets the records removed; log->cleaned moves to upto. */
int log_clean(samsa_log *log, int64_t upto, int64_t now, int64_t horizon_ms,
              int64_t *removed);
/* fdatasync log's directory as its own syncs do: serialised with them,
 * and a failure sets `failed` (log.c, "Failure"). */
int log_dirsync(samsa_log *log);
/* Remove the cleaner's temporary files (NNNNNNNNNNNNNNNNNNNN.log.cleaned)
 * a crash left in dir: log_open, before it lists the segments. */
void log_clean_leftovers(samsa_io *io, const char *dir);

/* ---- log_dir.c ----------------------------------------------------------- */

/* The segments an open log had (log_segments_get): their bases, rising.
 * Two that follow each other there abut, as the writer rolled them, so a
 * removal need not read where the first ends (log_dir.c). */
typedef struct log_segments {
    int64_t *bases;
    size_t n;
} log_segments;

/* Fill *out with log's segments (the caller frees out->bases): 0 or
 * SAMSA_ENOMEM. */
int log_segments_get(samsa_log *log, log_segments *out);

/* Whether every entry of the partition directory dir is a file samsa made
 * (log_dir.c says how that is told; start: the log start offset, or
 * INT64_MIN when unknown): 0, also when dir does not exist;
 * SAMSA_ECORRUPT when one is not; -errno or SAMSA_ENOMEM when dir or a
 * segment cannot be read.  Reads only. */
int log_dir_check(samsa_io *io, const char *dir, const log_config *cfg,
                  int64_t start);
/* Unlink the files of dir that samsa made, then dir.  whole: unless every
 * entry is samsa's, none (SAMSA_ECORRUPT).  Else the others stay, with dir
 * (SAMSA_ECORRUPT: nothing else is wrong).  0 when dir is gone (or was
 * not there); the first failed unlink's or the rmdir's -errno; -errno or
 * SAMSA_ENOMEM when it cannot be read (nothing removed).  Only for a
 * directory the catalog proves is a partition's (store/topic.c). */
int log_dir_remove(samsa_io *io, const char *dir, const log_config *cfg,
                   int64_t start, bool whole, const log_segments *live);

/* ---- log_follow.c: a read-only log following another process's ---------- */

/* Open the log in dir read-only (SAMSA_OPEN_RDONLY): no file is created,
 * truncated or written; end is the writer's published end as its end
 * marker says (or, with no marker, the last whole CRC-checked batch),
 * start the larger of start and the first segment's base.  cfg gives the
 * mapping length of the segments (segment_bytes + max_batch_bytes). */
int log_open_follow(samsa_io *io, const char *dir, const log_config *cfg,
                    int64_t start, samsa_log **out);
/* A read-only log takes an altered topic's segment_bytes, max_batch_bytes
 * and index_interval for the segments it maps from now on. */
void log_follow_reconfigure(samsa_log *log, const log_config *cfg);
/* Copy cfg's segment_bytes, max_batch_bytes and index_interval into the
 * log's config (the caller holds the lock that guards them). */
void log_take_sizes(samsa_log *log, const log_config *cfg);
/* Look at the files again: the marker's end, new segments (a roll, a
 * writer's restart), segments gone (retention, a torn tail's later
 * segments), and publish what is new to this process's readers.  force:
 * list the directory even when nothing seems to have changed. */
int log_follow_refresh(samsa_log *log, bool force);
/* Wait (at most until deadline_ns, CLOCK_MONOTONIC) for the writer to
 * publish an end past offset: the marker's word polled for spin_ns (0:
 * not), then a shared futex on it, woken by the writer (log.c).  Then
 * refresh.  0 when end > offset, SAMSA_ETIMEDOUT, SAMSA_EDELETED. */
int log_follow_wait(samsa_log *log, int64_t offset, int64_t deadline_ns,
                    int64_t spin_ns);
/* Drop the segments wholly below the start (log_advance_start moved it)
 * from the array, touching no file; how many went. */
size_t log_follow_drop_below(samsa_log *log);
/* The last reference went (log_free). */
void log_follow_free(samsa_log *log);
/* For log_follow.c only (log.c). */
samsa_log *log_follow_alloc(samsa_io *io, const char *dir,
                            const log_config *cfg);
int log_list_segments(const char *dir, int64_t **bases, size_t *n);
/* Whether a directory entry is a segment file's name: the 20 digits of a
 * base offset, then exactly ext (".log", ".log.cleaned").  Nothing else
 * in a partition directory is read as a segment or removed as one. */
bool log_segment_name(const char *name, const char *ext);
/* The end a marker's end word (as read, host order) says, or -1 when its
 * seal does not check out. */
int64_t log_marker_end(uint64_t word);
/* Whether the LOG_MARKER_SIZE bytes at b start with the marker's magic:
 * a file under the marker's name that does not is not samsa's, and its
 * end word is not read (a foreign file's bytes pass the 16-bit seal one
 * time in 65,536). */
bool log_marker_ours(const uint8_t *b);

#endif /* SAMSA_LOG_H */
