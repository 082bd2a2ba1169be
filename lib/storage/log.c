/*
 * log.c - one partition: its segments, the append path, group commit, and
 * waking the readers that wait for new records.
 *
 * Offsets.  next_offset is the writer's counter (under lock); end is what
 * readers may see.  Without sync the writer publishes end right after its
 * batch is in the page cache.  With sync, end moves only after fdatasync
 * covered the batch: a reader never sees a record that a power cut could
 * still take away, and a producer whose sync failed never sees its records
 * read by someone else.
 *
 * Group commit.  A producer that must wait for durability takes the
 * sync_lock; if another thread is already inside fdatasync it waits for
 * that one to finish and checks again, otherwise it becomes the syncer for
 * everything written so far.  N concurrent producers thus share about one
 * fdatasync per round instead of queueing N of them.
 *
 * Failure.  A failed fdatasync leaves the file's pages in an unknown state
 * (Linux may have dropped the dirty pages and cleared the error), so it is
 * never retried as if it could succeed: the log sets `failed` and refuses
 * every later write with SAMSA_EFAILED until the store is reopened and the
 * tail is recovered from what is really on disk.
 *
 * Recovery.  log_open lists the directory's segments; those wholly below the
 * recovery point are trusted (their index files loaded, their tail read),
 * the rest are scanned with CRCs.  A bad batch is cut as a torn tail only at
 * or past the acknowledged end (below); below it, or with a good batch after
 * it, it is damage: kept, the log end kept, readers told SAMSA_ECORRUPT
 * there, log_damaged() set.  If a segment other than the last has a torn
 * tail, every segment after it is removed: their records follow a gap and
 * cannot have been acknowledged (a sync-mode roll syncs the old segment
 * before the new one takes a write, and publishes nothing past it before).
 *
 * The end marker.  The catalog's recovery point is written after an
 * fdatasync, so it lags: after kill -9 under SYNC_NONE every record up to
 * the last published end survived in the page cache and was acknowledged,
 * yet sits past it.  So each partition directory holds samsa.end:
 *
 *   offset size field
 *        0    8 magic "SAMSAEND"
 *        8   40 boot id of the kernel that wrote it (samsa_io.boot_id),
 *               NUL-padded
 *       48    4 waiters: read-only handles in other processes waiting
 *               for the end to move (log_follow.c), native byte order;
 *               written by them only, zeroed by each writer's open
 *       52    4 zero
 *       56    8 end word, little-endian: bits 0-46 the published log end,
 *               bit 47 "published after fdatasync" (the sync policy),
 *               bits 48-63 the low 16 bits of CRC-32C of bytes 0-5
 *
 * Each publish rewrites the end word with one aligned 8-byte store into the
 * mapping (samsa_io.write's copy path: no system call).  The marker is never
 * synced.  At open: if it is whole and its boot id is the running kernel's,
 * the process died but the page cache did not, so its end is exact: every
 * offset below was acknowledged.  After a reboot the page on disk holds some
 * earlier end, which is still a lower bound when its synced bit is set
 * (published after the fdatasync that covered it).  The acknowledged end
 * ("durable") is the largest of those that apply and the recovery point.
 * A marker that is damaged, missing or unreadable only makes it smaller:
 * the Kafka rule (cut at the first bad batch) then applies past it, as
 * before the marker existed.  Every copy directory gets its own marker
 * through the replica set's I/O table, which repeats the store on each.
 *
 * Readers in other processes (SAMSA_OPEN_RDONLY, log_follow.c) read the
 * end word as the writer's published end and sleep on its low half with a
 * shared futex.  After each publish the writer reads the waiters word and,
 * only when it is not zero, wakes them (FUTEX_WAKE on the address of its
 * own view of the leader's marker: a shared futex is keyed by the file's
 * page, not the address), so a writer nobody follows pays one load.  The
 * full barrier between the end store and the waiters load pairs with the
 * reader's seq_cst increment before it checks the end again: either the
 * reader sees the new end, or the writer sees the waiter.  Markers of
 * older versions have zeros at 48: no waiters, nothing else changes.
 *
 * Deleting.  Retention and samsa_delete_records move the log start (the
 * offset below which no reader sees a record) and then remove whole
 * segments below it, never the active one.  The caller commits the new
 * start to the catalog first (store/retention.c), then log_advance_start()
 * publishes it to readers, then log_delete_before() takes the segments
 * out of the array and unlinks their files (.log last, so that a crash
 * never leaves index files whose .log is gone).  A crash after the commit
 * leaves segment files wholly below the catalog's start: log_open removes
 * them before reading anything, so no record below the start is ever seen
 * again and no file stays that the catalog does not account for.  The
 * unlinks go through the log's I/O table, so with copies they reach every
 * in-sync copy; a copy out of sync is rebuilt from the leader's segments
 * when it catches up, and one opened later is cleaned by the same rule.
 * A reader holding a removed segment keeps its mapping (the segment is
 * reference counted) until it moves on; its next call sees the new start.
 *
 * Foreign files.  A segment's name says where it begins; where it ends
 * only its records say.  samsa names a new segment by the end of the one
 * before, so a segment's records never run past the next file's name.  A
 * file whose name lies inside the records of the one before (a stray
 * empty file, a copy from elsewhere) is therefore not samsa's, and trusting
 * its name would do harm: readers would leave the segment before at that
 * name (hiding records), the writer would append to the stray file, and
 * the removal of segments below the start (which goes by the next name)
 * would remove the segment that holds the start's records.  So every
 * segment's end is read (from its last index entry, CRC-checked, as the
 * open does anyway) and compared with the next name before that name is
 * trusted: remove_below() keeps a segment whose records run past it, and
 * log_load() stops the open with SAMSA_ECORRUPT, changing nothing, as it
 * does for a directory, FIFO or symbolic link under a segment's name.
 * Moving the stray file away makes the store open as it was.  In a log
 * with gaps such a file cannot be told from damage: a batch's base offset
 * is outside its CRC, and one raised past the next name (a bit flip) looks
 * the same, so there the name wins, as before, and the batch is damage
 * that readers are told of (cursor.c, seg_limit()).  A read-only handle
 * makes the same check of the segments it opens, and of one it finds
 * named inside the records its scan has passed (log_follow.c).
 *
 * And a file is removed by its name alone (below the start, or after a
 * torn tail) only when it begins as samsa makes a segment: empty, zeros,
 * or a batch whose base offset is its name or past it
 * (segment_file_made()).  Any other stops the open as above (after a
 * torn tail, the tail itself is cut by then, as recovery cuts it: past
 * the acknowledged end).
 *
 * The two removals of a whole directory, a deleted topic's and a copy's
 * before it is rebuilt (replica.c, "Catch-up"), go by the same rules
 * (log_dir.c): they unlink only regular files under samsa's names, a
 * segment only where the open would take it as one, and leave everything
 * else, and with it the directory.  A copy whose directory holds anything
 * else is not rebuilt: it stays out for SAMSA_ECORRUPT until the file is
 * moved away, as this open refuses.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

/* ---- the segment array --------------------------------------------------- */

static int
segs_push(samsa_log *log, segment *seg)
{
    if (log->nsegs == log->segs_cap) {
        size_t cap = log->segs_cap ? log->segs_cap * 2 : 8;
        segment **s = realloc(log->segs, cap * sizeof *s);
        if (s == NULL)
            return SAMSA_ENOMEM;
        log->segs = s;
        log->segs_cap = cap;
    }
    log->segs[log->nsegs++] = seg;
    return 0;
}

/* Index of the last segment whose base is <= offset, or -1. */
static ptrdiff_t
segs_find(const samsa_log *log, int64_t offset)
{
    size_t lo = 0, hi = log->nsegs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->base <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (ptrdiff_t)lo - 1;
}

static segment *
active(const samsa_log *log)
{
    return log->segs[log->nsegs - 1];
}

/* ---- opening ------------------------------------------------------------- */

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

bool
log_segment_name(const char *name, const char *ext)
{
    return strspn(name, "0123456789") == 20 && strcmp(name + 20, ext) == 0;
}

/* The base offsets of the directory's NNNNNNNNNNNNNNNNNNNN.log files,
 * sorted; *n gets the count (caller frees). */
static int
list_segments(const char *dir, int64_t **out, size_t *n)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return samsa__from_errno(errno);
    int64_t *bases = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (!log_segment_name(name, ".log"))
            continue;
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            int64_t *b = realloc(bases, cap * sizeof *b);
            if (b == NULL) {
                rc = SAMSA_ENOMEM;
                break;
            }
            bases = b;
        }
        bases[len++] = strtoll(name, NULL, 10);
    }
    closedir(d);
    if (rc != 0) {
        free(bases);
        return rc;
    }
    if (len > 1) /* bases is NULL when there are none: not for qsort */
        qsort(bases, len, sizeof *bases, cmp_i64);
    *out = bases;
    *n = len;
    return 0;
}

/* Does the segment at base end at or before limit?  Its records are read
 * (segment_end()), because a name says only where a segment begins: see
 * "Foreign files".  A segment that does not open is not known to: no. */
static bool
segment_ends_by(samsa_io *io, const char *dir, int64_t base,
                const log_config *cfg, int64_t limit)
{
    int64_t end;
    return segment_end(io, dir, base, cfg, &end) == 0 && end <= limit;
}

/* Remove the files of the segments at bases[0..n) wholly below start (the
 * next one begins at or below it, and its records end there); *below
 * gets how many.  One whose records run past the next name is kept, with
 * those after it; SAMSA_ECORRUPT, removing none, when one does not begin
 * as samsa makes a segment.  See "Foreign files". */
static int
remove_below(samsa_io *io, const char *dir, const log_config *cfg,
             const int64_t *bases, size_t n, int64_t start, size_t *below)
{
    size_t k = 0;
    while (k + 1 < n && bases[k + 1] <= start) {
        if (!segment_file_made(io, dir, bases[k]))
            return SAMSA_ECORRUPT;
        if (!segment_ends_by(io, dir, bases[k], cfg, bases[k + 1]))
            break;
        k++;
    }
    for (size_t i = 0; i < k; i++)
        segment_remove_files(io, dir, bases[i]);
    if (k > 0)
        (void)io->dirsync(io, dir);
    *below = k;
    return 0;
}

void
log_remove_below(samsa_io *io, const char *dir, const log_config *cfg,
                 int64_t start)
{
    int64_t *bases = NULL;
    size_t n = 0, below;
    if (list_segments(dir, &bases, &n) == 0)
        (void)remove_below(io, dir, cfg, bases, n, start, &below);
    free(bases);
}

static samsa_log *
log_new(samsa_io *io, const char *dir, const log_config *cfg)
{
    samsa_log *log = calloc(1, sizeof *log);
    if (log == NULL || (log->dir = strdup(dir)) == NULL) {
        free(log);
        return NULL;
    }
    log->io = io;
    log->cfg = *cfg;
    log->cfg.writer = &log->lock; /* the cache's trylock: segcache.c */
    pthread_mutex_init(&log->lock, NULL);
    pthread_mutex_init(&log->flush_lock, NULL);
    pthread_mutex_init(&log->fsync_lock, NULL);
    pthread_mutex_init(&log->sync_lock, NULL);
    pthread_cond_init(&log->sync_cond, NULL);
    pthread_mutex_init(&log->wait_lock, NULL);
    samsa__cond_init_monotonic(&log->wait_cond);
    atomic_init(&log->refs, 1);
    return log;
}

/* ---- the end marker ------------------------------------------------------ */

#define MARKER_NAME   "/" LOG_MARKER
#define MARKER_SIZE   LOG_MARKER_SIZE
#define MARKER_WORD   LOG_MARKER_WORD           /* the end word's position    */
#define MARKER_END    ((UINT64_C(1) << 47) - 1) /* the end's bits          */
#define MARKER_SYNCED (UINT64_C(1) << 47)       /* published after fdatasync */

static const char marker_magic[8] = {'S', 'A', 'M', 'S', 'A', 'E', 'N', 'D'};

/* v's low 48 bits with their seal above (every publish makes one). */
static uint64_t
marker_seal(uint64_t v)
{
    uint8_t b[8];
    samsa__le_put(b, v, 8);
    return v | (uint64_t)(samsa__crc32c(0, b, 6) & 0xffff) << 48;
}

static void
marker_word(uint8_t *b, int64_t end, bool synced)
{
    samsa__le_put(b, marker_seal((uint64_t)end | (synced ? MARKER_SYNCED : 0)),
                  8);
}

static char *
marker_path(const samsa_log *log)
{
    return samsa__path_cat(log->dir, MARKER_NAME);
}

/* The acknowledged end the marker vouches for (see "The end marker"), or
 * -1. */
static int64_t
marker_read(samsa_log *log)
{
    samsa_io *io = log->io;
    char *path = marker_path(log), boot[SAMSA_IO_BOOT_ID];
    uint8_t b[MARKER_SIZE];
    samsa_io_file *f;
    if (path == NULL || io->open(io, path, SAMSA_IO_RDONLY, &f) != 0) {
        free(path);
        return -1;
    }
    ssize_t n = io->read(io, f, b, sizeof b, 0);
    io->close(io, f);
    free(path);
    if (n != (ssize_t)sizeof b || !log_marker_ours(b))
        return -1;
    uint64_t w = samsa__le_get(b + MARKER_WORD, 8);
    int64_t end = log_marker_end(w); /* -1: its seal fails */
    bool same_boot = io->boot_id(io, boot) == 0 &&
                     memcmp(boot, b + 8, SAMSA_IO_BOOT_ID) == 0;
    return same_boot || (w & MARKER_SYNCED) ? end : -1;
}

/* Open (creating) the marker, mapped, and make it say this boot and end:
 * the word first, then the boot id, so that a crash between the two leaves
 * a marker that is either foreign or true. */
static int
marker_open(samsa_log *log, int64_t end, bool synced)
{
    samsa_io *io = log->io;
    char *path = marker_path(log), boot[SAMSA_IO_BOOT_ID];
    uint8_t b[MARKER_SIZE] = {0};
    const void *view;
    uint64_t size = 0;
    if (path == NULL)
        return SAMSA_ENOMEM;
    int rc = io->open(io, path, SAMSA_IO_CREATE, &log->marker);
    free(path);
    if (rc == 0)
        rc = io->size(io, log->marker, &size);
    if (rc == 0 && size != MARKER_SIZE)
        rc = io->truncate(io, log->marker, 0);
    if (rc == 0 && size != MARKER_SIZE)
        rc = io->allocate(io, log->marker, 0, MARKER_SIZE);
    if (rc == 0)
        rc = io->map(io, log->marker, MARKER_SIZE, &view);
    if (rc == 0)
        log->marker_view = view;
    if (rc == 0 && io->boot_id(io, boot) != 0)
        memset(boot, 0, sizeof boot); /* never matches: nothing trusted */
    memcpy(b, marker_magic, 8);
    memcpy(b + 8, boot, SAMSA_IO_BOOT_ID);
    marker_word(b + MARKER_WORD, end, synced);
    if (rc == 0)
        rc = samsa__io_write_all(io, log->marker, b + MARKER_WORD, 8,
                                 MARKER_WORD);
    if (rc == 0)
        rc = samsa__io_write_all(io, log->marker, b, MARKER_WORD, 0);
    /* Its descriptor goes, its mapping stays: each publish's store goes
     * into the mapping (io.h, shut), so a store of many partitions does
     * not hold a descriptor per marker. */
    if (rc == 0)
        (void)io->shut(io, log->marker);
    return samsa__from_errno(rc);
}

/* Record a published end.  Ends past the word's 47 bits are not recorded:
 * the older value stays, a lower bound, which is all the marker claims.  A
 * failed write is not an error either, for the same reason. */
static void
marker_store(samsa_log *log, int64_t end)
{
    uint8_t b[8];
    if (log->marker == NULL || (uint64_t)end > MARKER_END)
        return;
    marker_word(b, end, log->cfg.sync);
    (void)log->io->write(log->io, log->marker, b, 8, MARKER_WORD);
    /* Wake the readers of other processes: see "The end marker". */
    const uint8_t *v = log->marker_view;
    if (v == NULL)
        return;
    /* A full barrier: the end word (just stored by the copy above) before
     * the load of the waiters word.  __sync_synchronize, as TSan builds
     * refuse atomic_thread_fence; another process is beyond TSan anyway. */
    __sync_synchronize();
    if (atomic_load((const _Atomic uint32_t *)(v + LOG_MARKER_WAITERS)) != 0)
        (void)syscall(SYS_futex, v + LOG_MARKER_WORD, FUTEX_WAKE, INT_MAX, NULL,
                      NULL, 0);
}

static void
log_free(samsa_log *log)
{
    if (log->follow != NULL)
        log_follow_free(log);
    if (log->marker != NULL)
        log->io->close(log->io, log->marker);
    for (size_t i = 0; i < log->nsegs; i++) {
        segment_disown(log->segs[i]); /* log->lock goes: segcache.c */
        segment_unref(log->io, log->segs[i]);
    }
    pthread_mutex_destroy(&log->lock);
    pthread_mutex_destroy(&log->flush_lock);
    pthread_mutex_destroy(&log->fsync_lock);
    pthread_mutex_destroy(&log->sync_lock);
    pthread_cond_destroy(&log->sync_cond);
    pthread_mutex_destroy(&log->wait_lock);
    pthread_cond_destroy(&log->wait_cond);
    free(log->segs);
    free(log->dir);
    free(log);
}

/* Open the segments at bases[0..n), recovering those at or past the
 * recovery point. */
static int
log_load(samsa_log *log, const int64_t *bases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* With sync, a roll syncs the old segment before the new one takes
         * a write, so every segment but the last is durable whatever the
         * recovery point says: damage there is corruption, reported to
         * readers, never a torn tail to cut (with what follows it). */
        bool below =
            i + 1 < n && (bases[i + 1] <= log->recovery_point || log->cfg.sync);
        /* The scan starts at the acknowledged end, not the recovery point:
         * what the marker vouches for is whole (segment.c, "Bounded
         * recovery"), so recovery reads only what came after it. */
        int64_t from = below                     ? -1
                       : log->durable > bases[i] ? log->durable
                                                 : bases[i];
        bool torn;
        segment *seg;
        int rc = segment_open(log->io, log->dir, bases[i], &log->cfg, from,
                              log->durable, &torn, &seg);
        if (rc == 0 && (rc = segs_push(log, seg)) != 0)
            segment_unref(log->io, seg);
        if (rc != 0)
            return rc;
        /* Records past the next file's name: that file is not samsa's
         * segment ("Foreign files"). */
        if (i + 1 < n && seg->next_offset > bases[i + 1] && !log->cfg.gaps)
            return SAMSA_ECORRUPT;
        /* Recovered short of the next segment's base: a power cut without
         * the sync policy lost this segment's last writes (zeros, so not
         * "torn") but kept the next file.  The records after the gap cannot
         * be read in order: they go, as after a torn tail, unless they were
         * acknowledged: then the gap is damage, and the next file stays.
         * In a log with gaps (log_config.gaps) it is a gap like any other:
         * a compacted segment may end anywhere below the next base. */
        if (i + 1 < n && seg->next_offset < bases[i + 1] && !log->cfg.gaps) {
            if (from < 0 || seg->next_offset < log->durable) {
                if (seg->damaged < 0)
                    seg->damaged = seg->next_offset;
                /* The missing records' timestamps are unknown: a time
                 * lookup must come here and report them (segment.c). */
                atomic_store(&seg->max_ts, INT64_MAX);
            } else
                torn = true;
        }
        if (seg->damaged >= 0 && log->damaged < 0)
            log->damaged = seg->damaged;
        if (i > 0) /* a damaged tail hides the end: the next base is it */
            log->segs[i - 1]->next_offset = bases[i];
        /* A recovered segment that is not the last gets fresh index files
         * and counts as sealed, so the flusher can sync it and move the
         * recovery point past it. */
        if (from >= 0 && i + 1 < n && !torn &&
            (rc = segment_seal(log->io, seg)) != 0)
            return rc;
        if (torn && i + 1 < n) {
            for (size_t j = i + 1; j < n; j++)
                if (!segment_file_made(log->io, log->dir, bases[j]))
                    return SAMSA_ECORRUPT; /* see "Foreign files" */
            for (size_t j = i + 1; j < n; j++)
                segment_remove_files(log->io, log->dir, bases[j]);
            break;
        }
    }
    return 0;
}

int
log_open(samsa_io *io, const char *dir, const log_config *cfg, int64_t start,
         int64_t recovery_point, bool create, samsa_log **out)
{
    samsa_log *log = log_new(io, dir, cfg);
    if (log == NULL)
        return SAMSA_ENOMEM;
    log->recovery_point = recovery_point;
    log->damaged = -1;
    int64_t *bases = NULL;
    size_t n = 0;
    int rc = 0;
    if (create)
        rc = samsa__from_errno(io->mkdir(io, dir));
    else {
        log_clean_leftovers(io, dir); /* a crash mid-swap: compact.c */
        rc = list_segments(dir, &bases, &n);
    }
    /* Segments wholly below the catalog's start (the next one begins at or
     * below it) were deleted: see "Deleting".  They go now, read only to
     * be sure that they are samsa's and end there ("Foreign files"). */
    size_t below = 0;
    if (rc == 0)
        rc = remove_below(io, dir, &log->cfg, bases, n, start, &below);
    /* What was acknowledged: see "The end marker". */
    int64_t marked = create ? -1 : marker_read(log);
    log->durable = marked > recovery_point ? marked : recovery_point;
    /* The segments count in the store's cache as they open, and its
     * eviction may shut an active segment's descriptor whenever it gets
     * the log's lock (segcache.c): held while recovery truncates and
     * seals.  Nobody else knows the log yet, so it is never waited for
     * (and not ranked). */
    pthread_mutex_lock(&log->lock);
    if (rc == 0 && n > below)
        rc = log_load(log, bases + below, n - below);
    pthread_mutex_unlock(&log->lock);
    if (rc == 0 && log->nsegs == 0) {
        segment *seg;
        rc = segment_create(io, dir, start, &log->cfg, &seg);
        if (rc == 0 && (rc = segs_push(log, seg)) != 0)
            segment_unref(io, seg);
        if (rc == 0)
            rc = samsa__from_errno(io->dirsync(io, dir));
    }
    free(bases);
    if (rc != 0) {
        log_free(log);
        return rc;
    }
    segment *last = active(log);
    if ((rc = segment_unseal(last)) != 0) {
        log_free(log);
        return rc;
    }
    log->next_offset = last->next_offset;
    /* The acknowledged end is kept even where its records are damaged or
     * missing: an offset is never given out twice.  The next batch gets an
     * index entry, so lookups need not cross the gap. */
    if (log->next_offset < log->durable && log->segs[0]->base <= log->durable) {
        if (log->damaged < 0 || log->next_offset < log->damaged)
            log->damaged = log->next_offset;
        if (last->damaged < 0)
            last->damaged = log->next_offset;
        log->next_offset = last->next_offset = log->durable;
        last->force_index = true;
    }
    /* The catalog's start is where the log's records begin (those below
     * were deleted), so it was at most the end when written: a log whose
     * files end before it lost records that were deleted anyway.  Its end
     * moves up to the start, as over a gap, so that no offset below the
     * start is given out again and first <= end holds for readers. */
    if (log->next_offset < start) {
        log->next_offset = last->next_offset = start;
        last->force_index = true;
    }
    /* Synced only when the recovery point covers it: a same-boot end may
     * hold what a SYNC_NONE run left in the page cache. */
    rc = marker_open(log, log->durable, log->durable <= recovery_point);
    if (rc != 0) {
        log_free(log);
        return rc;
    }
    log->synced = log->next_offset;
    atomic_init(&log->end, log->next_offset);
    atomic_init(&log->start,
                log->segs[0]->base > start ? log->segs[0]->base : start);
    *out = log;
    return 0;
}

/* ---- waking readers ------------------------------------------------------ */

int
log_segments_get(samsa_log *log, log_segments *out)
{
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    out->n = log->nsegs;
    out->bases = malloc(log->nsegs * sizeof *out->bases);
    for (size_t i = 0; out->bases != NULL && i < log->nsegs; i++)
        out->bases[i] = log->segs[i]->base;
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    return out->bases != NULL ? 0 : SAMSA_ENOMEM;
}

void
log_mark_end(samsa_log *log)
{
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    marker_store(log, atomic_load(&log->end));
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
}

/* Publish a new end and wake the readers waiting for it.  The seq_cst store
 * and load pair with log_wait's: either the reader sees the new end before
 * it sleeps, or this sees the reader counted in waiters and broadcasts under
 * wait_lock, so no wake-up is lost, and nobody pays for a broadcast when no
 * reader waits. */
static void
publish_end(samsa_log *log, int64_t end)
{
    assert(end >= atomic_load(&log->end)); /* the end never moves back */
    marker_store(log,
                 end); /* before readers can see it: see "The end marker" */
    atomic_store(&log->end, end);
    if (atomic_load(&log->waiters) > 0) {
        samsa__lock(&log->wait_lock, SAMSA_RANK_LEAF);
        pthread_cond_broadcast(&log->wait_cond);
        samsa__unlock(&log->wait_lock, SAMSA_RANK_LEAF);
    }
}

typedef struct end_past {
    const samsa_log *log;
    int64_t offset;
} end_past;

static bool
end_moved(const void *arg)
{
    const end_past *e = arg;
    return atomic_load_explicit(&e->log->end, memory_order_acquire) >
               e->offset ||
           atomic_load(&e->log->deleted);
}

int
log_wait(samsa_log *log, int64_t offset, int64_t deadline_ns, int64_t spin_ns)
{
    /* A spinning reader is not counted in waiters: the writer that moves
     * the end meanwhile sees none and broadcasts nothing. */
    end_past e = {log, offset};
    if (spin_ns > 0 && samsa__spin(end_moved, &e, spin_ns, deadline_ns) &&
        atomic_load(&log->end) > offset)
        return 0;
    samsa__lock(&log->wait_lock, SAMSA_RANK_LEAF);
    atomic_fetch_add(&log->waiters, 1);
    int rc = 0;
    while (atomic_load(&log->end) <= offset && !atomic_load(&log->deleted) &&
           rc == 0)
        rc = samsa__cond_wait_until(&log->wait_cond, &log->wait_lock,
                                    deadline_ns);
    atomic_fetch_sub(&log->waiters, 1);
    samsa__unlock(&log->wait_lock, SAMSA_RANK_LEAF);
    if (atomic_load(&log->end) > offset)
        return 0;
    return atomic_load(&log->deleted) ? SAMSA_EDELETED : SAMSA_ETIMEDOUT;
}

void
log_mark_deleted(samsa_log *log)
{
    samsa__lock(&log->wait_lock, SAMSA_RANK_LEAF);
    atomic_store(&log->deleted, true);
    pthread_cond_broadcast(&log->wait_cond);
    samsa__unlock(&log->wait_lock, SAMSA_RANK_LEAF);
}

/* ---- appending ----------------------------------------------------------- */

/* fdatasync seg (with its index files once sealed), or the directory when
 * seg is NULL, with every other fdatasync of this log excluded.  Linux
 * reports a writeback error to one fdatasync of a file only: two at once,
 * and the one that returns 0 would acknowledge pages the other one was told
 * were lost.  Serialised, and with `failed` set before fsync_lock is let go,
 * a sync that returns 0 here really covered everything before it. */
static int
log_fsync(samsa_log *log, segment *seg)
{
    samsa__lock(&log->fsync_lock, SAMSA_RANK_LOG_FSYNC);
    int rc = atomic_load(&log->failed);
    if (rc == 0) {
        rc = seg != NULL
                 ? segment_sync(log->io, seg)
                 : samsa__from_errno(log->io->dirsync(log->io, log->dir));
        if (rc != 0)
            atomic_store(&log->failed, SAMSA_EFAILED); /* see "Failure" */
    }
    samsa__unlock(&log->fsync_lock, SAMSA_RANK_LOG_FSYNC);
    return rc;
}

int
log_dirsync(samsa_log *log)
{
    return log_fsync(log, NULL);
}

/* Start a new segment at next_offset and seal the old one (log->lock held).
 * With sync, the old segment and the directory are synced before the new
 * segment takes a write, so a durable record never follows a gap. */
static int
roll(samsa_log *log)
{
    segment *old = active(log), *seg;
    int rc =
        segment_create(log->io, log->dir, log->next_offset, &log->cfg, &seg);
    if (rc != 0)
        return rc;
    if ((rc = segment_seal(log->io, old)) == 0 &&
        (rc = segs_push(log, seg)) == 0) {
        if (!log->cfg.sync)
            return 0;
        if ((rc = log_fsync(log, old)) == 0)
            rc = log_fsync(log, NULL);
        return rc; /* on failure, `failed` is set: see "Failure" above */
    }
    if (segment_unseal(old) != 0) /* no file to write: until reopened */
        atomic_store(&log->failed, SAMSA_EFAILED);
    segment_remove_files(log->io, log->dir, seg->base);
    segment_unref(log->io, seg);
    return rc;
}

/* Wait until every offset below target is durable, syncing if no other
 * thread is (group commit). */
static int
group_commit(samsa_log *log, int64_t target)
{
    int rc = 0;
    samsa__lock(&log->sync_lock, SAMSA_RANK_LOG_SYNC);
    while (log->synced < target && rc == 0) {
        if (log->syncing) {
            pthread_cond_wait(&log->sync_cond, &log->sync_lock);
            continue;
        }
        if ((rc = atomic_load(&log->failed)) != 0)
            break;
        log->syncing = true;
        samsa__unlock(&log->sync_lock, SAMSA_RANK_LOG_SYNC);

        /* covered and `failed` are read together under log->lock: a roll
         * whose sync of the old segment failed has set `failed` before
         * any record past it can be counted in covered. */
        samsa__lock(&log->lock, SAMSA_RANK_LOG);
        segment *seg = active(log);
        segment_ref(seg);
        int64_t covered = log->next_offset;
        rc = atomic_load(&log->failed);
        samsa__unlock(&log->lock, SAMSA_RANK_LOG);
        if (rc == 0)
            rc = log_fsync(log, seg);
        segment_unref(log->io, seg);

        samsa__lock(&log->sync_lock, SAMSA_RANK_LOG_SYNC);
        log->syncing = false;
        if (rc == 0 && covered > log->synced) {
            log->synced = covered;
            publish_end(log, covered);
        }
        pthread_cond_broadcast(&log->sync_cond);
    }
    samsa__unlock(&log->sync_lock, SAMSA_RANK_LOG_SYNC);
    return rc;
}

int
log_append(samsa_log *log, uint8_t *batch, size_t len, int32_t count,
           int64_t max_ts, const _Atomic int32_t *leader_epoch, int64_t *base)
{
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    segment *seg = active(log);
    uint64_t size = atomic_load_explicit(&seg->size, memory_order_relaxed);
    int rc = atomic_load(&log->failed);
    if (rc == 0 && ((size > 0 && size + len > log->cfg.segment_bytes) ||
                    log->next_offset + count - seg->base > INT32_MAX))
        rc = roll(log);
    if (rc == 0) {
        seg = active(log);
        *base = log->next_offset;
        batch_set_base_offset(batch, *base);
        if (leader_epoch != NULL)
            batch_set_leader_epoch(batch, atomic_load(leader_epoch));
        rc = segment_append(log->io, seg, batch, len, *base, count, max_ts,
                            &log->cfg);
    }
    if (rc != 0) {
        samsa__unlock(&log->lock, SAMSA_RANK_LOG);
        return rc;
    }
    log->next_offset += count;
    if (!log->cfg.sync) {
        publish_end(log, log->next_offset);
        samsa__unlock(&log->lock, SAMSA_RANK_LOG);
        return 0;
    }
    int64_t target = log->next_offset;
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    return group_commit(log, target);
}

int
log_sync(samsa_log *log, bool all, int64_t *recovery_point)
{
    /* The fdatasyncs run outside log->lock so that producers go on; the
     * segments are referenced so that nothing frees them meanwhile. */
    samsa__lock(&log->flush_lock, SAMSA_RANK_LOG_FLUSH);
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    int rc = atomic_load(&log->failed);
    size_t n = 0, last = log->nsegs - 1;
    int64_t covered = all ? log->next_offset : log->segs[last]->base;
    segment **todo = malloc(log->nsegs * sizeof *todo);
    if (todo == NULL)
        rc = rc ? rc : SAMSA_ENOMEM;
    for (size_t i = 0; rc == 0 && i <= last; i++)
        if (!atomic_load(&log->segs[i]->flushed) && (all || i < last)) {
            todo[n] = log->segs[i];
            segment_ref(todo[n++]);
        }
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);

    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = log_fsync(log, todo[i]);
        segment_unref(log->io, todo[i]);
    }
    if (rc == 0 && n > 0)
        rc = log_fsync(log, NULL);
    free(todo);
    if (rc == 0 && covered > log->recovery_point)
        log->recovery_point = covered;
    if (recovery_point != NULL)
        *recovery_point = log->recovery_point;
    samsa__unlock(&log->flush_lock, SAMSA_RANK_LOG_FLUSH);

    if (rc == 0 && all && log->cfg.sync) { /* durable: readers may see it */
        samsa__lock(&log->sync_lock, SAMSA_RANK_LOG_SYNC);
        if (covered > log->synced) {
            log->synced = covered;
            publish_end(log, covered);
        }
        samsa__unlock(&log->sync_lock, SAMSA_RANK_LOG_SYNC);
    }
    return rc;
}

int
log_close(samsa_log *log, int64_t *recovery_point)
{
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    int rc = atomic_load(&log->failed);
    if (rc == 0)
        rc = segment_seal(log->io, active(log));
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    if (rc == 0)
        rc = log_sync(log, true, recovery_point);
    return rc;
}

/* ---- changing the config ------------------------------------------------- */

/* Can seg take every batch cfg allows?  Its view was sized for the
 * config it was made with (segment.c). */
static bool
seg_fits(const segment *seg, const log_config *cfg)
{
    uint64_t need = cfg->segment_bytes + cfg->max_batch_bytes;
    return seg->map_len >= need &&
           seg->idx_cap >= seg->map_len / cfg->index_interval + 2;
}

void
log_take_sizes(samsa_log *log, const log_config *cfg)
{
    log->cfg.segment_bytes = cfg->segment_bytes;
    log->cfg.max_batch_bytes = cfg->max_batch_bytes;
    log->cfg.index_interval = cfg->index_interval;
}

int
log_reconfigure(samsa_log *log, const log_config *cfg)
{
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    log_take_sizes(log, cfg);
    segment *old = active(log), *seg;
    int rc = atomic_load(&log->failed);
    if (rc == 0 && !seg_fits(old, &log->cfg)) {
        if (atomic_load(&old->size) > 0)
            rc = roll(log);
        else {
            /* Empty, so nobody reads it: made again for the new config. */
            segment_remove_files(log->io, log->dir, old->base);
            rc = segment_create(log->io, log->dir, old->base, &log->cfg, &seg);
            if (rc == 0) {
                seg->next_offset = old->next_offset;
                seg->force_index = old->force_index;
                log->segs[log->nsegs - 1] = seg;
                segment_disown(old);
                segment_unref(log->io, old);
            } else /* no active file: refuse writes until reopened */
                atomic_store(&log->failed, SAMSA_EFAILED);
        }
    }
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    return rc;
}

/* ---- retention ----------------------------------------------------------- */

int64_t
log_retention_point(samsa_log *log, int64_t min_ts, int64_t max_bytes)
{
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    uint64_t total = 0;
    for (size_t i = 0; i < log->nsegs; i++)
        total += atomic_load(&log->segs[i]->size);
    int64_t point = atomic_load(&log->start);
    /* Oldest first, and only while each rule lets the next one go: a
     * segment is never removed from under a kept older one.  The active
     * segment (the last) is never removed. */
    for (size_t i = 0; i + 1 < log->nsegs; i++) {
        segment *seg = log->segs[i];
        uint64_t size = atomic_load(&seg->size);
        bool by_time =
            min_ts != INT64_MIN && atomic_load(&seg->max_ts) < min_ts;
        bool by_size = max_bytes > 0 && total - size >= (uint64_t)max_bytes;
        if (!by_time && !by_size)
            break;
        total -= size;
        if (log->segs[i + 1]->base > point)
            point = log->segs[i + 1]->base;
    }
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    /* Never past what readers may see: with sync, records past the
     * published end may still be lost to a power cut. */
    int64_t end = atomic_load(&log->end);
    return point < end ? point : end;
}

int
log_roll_older(samsa_log *log, int64_t before_ts)
{
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    segment *seg = active(log);
    uint64_t size = atomic_load(&seg->size);
    int rc = atomic_load(&log->failed);
    batch_header h;
    /* Kafka's rule: the age of a segment is its first batch's. */
    if (rc == 0 && size > 0 && batch_parse_header(seg->map, size, &h) == 0 &&
        h.max_timestamp < before_ts)
        rc = roll(log);
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    return rc;
}

void
log_advance_start(samsa_log *log, int64_t start)
{
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    assert(start <= atomic_load(&log->end));
    if (start > atomic_load(&log->start))
        atomic_store(&log->start, start);
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
}

size_t
log_delete_before(samsa_log *log)
{
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    int64_t start = atomic_load(&log->start);
    size_t k = 0;
    while (k + 1 < log->nsegs && log->segs[k + 1]->base <= start)
        k++;
    segment **gone = k > 0 ? malloc(k * sizeof *gone) : NULL;
    if (gone == NULL)
        k = 0; /* out of memory: the next pass tries again */
    for (size_t i = 0; i < k; i++) /* readers' now: segcache.c */
        atomic_store(&log->segs[i]->detached, true);
    if (k > 0) {
        memcpy(gone, log->segs, k * sizeof *gone);
        memmove(log->segs, log->segs + k, (log->nsegs - k) * sizeof *gone);
        log->nsegs -= k;
    }
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    /* Outside the lock: producers go on.  Readers that hold one of these
     * keep it mapped until they let go. */
    for (size_t i = 0; i < k; i++) {
        segment_remove_files(log->io, log->dir, gone[i]->base);
        segment_unref(log->io, gone[i]);
    }
    free(gone);
    return k;
}

/* ---- finding segments for readers ---------------------------------------- */

/* seg referenced and open for a reader (log->lock held: a segment that
 * retention removes later is still whole when opened here), or NULL when
 * it cannot be opened again (segcache.c; out of file descriptors). */
static segment *
log_hold(samsa_log *log, segment *seg)
{
    segment_ref(seg);
    if (segment_hold(seg) == 0)
        return seg;
    segment_unref(log->io, seg);
    return NULL;
}

segment *
log_segment_for(samsa_log *log, int64_t offset)
{
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    ptrdiff_t i = segs_find(log, offset);
    segment *seg = NULL;
    if (i >= 0 && offset >= atomic_load(&log->start))
        seg = log_hold(log, log->segs[i]);
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    return seg;
}

segment *
log_segment_next(samsa_log *log, const segment *seg)
{
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    /* seg may be gone from the array (retention removed it while a reader
     * held it): the next is then the first whose base is above its own. */
    ptrdiff_t i = segs_find(log, seg->base);
    segment *next = NULL;
    if ((size_t)(i + 1) < log->nsegs)
        next = log_hold(log, log->segs[i + 1]);
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    return next;
}

int64_t
log_next_base(samsa_log *log, const segment *seg)
{
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    ptrdiff_t i = segs_find(log, seg->base); /* as log_segment_next */
    int64_t base =
        (size_t)(i + 1) < log->nsegs ? log->segs[i + 1]->base : INT64_MAX;
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    return base;
}

segment *
log_segment_for_time(samsa_log *log, int64_t ts)
{
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    segment *seg = NULL;
    for (size_t i = 0; i < log->nsegs && seg == NULL; i++)
        if (atomic_load(&log->segs[i]->max_ts) >= ts)
            seg = log_hold(log, log->segs[i]);
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    return seg;
}

int64_t
log_damaged(const samsa_log *log)
{
    return log->damaged;
}

void
log_ref(samsa_log *log)
{
    atomic_fetch_add_explicit(&log->refs, 1, memory_order_relaxed);
}

void
log_unref(samsa_log *log)
{
    if (log != NULL &&
        atomic_fetch_sub_explicit(&log->refs, 1, memory_order_acq_rel) == 1)
        log_free(log);
}

/* ---- for log_follow.c ---------------------------------------------------- */

samsa_log *
log_follow_alloc(samsa_io *io, const char *dir, const log_config *cfg)
{
    samsa_log *log = log_new(io, dir, cfg);
    if (log != NULL)
        log->damaged = -1;
    return log;
}

int
log_list_segments(const char *dir, int64_t **bases, size_t *n)
{
    return list_segments(dir, bases, n);
}

bool
log_marker_ours(const uint8_t *b)
{
    return memcmp(b, marker_magic, sizeof marker_magic) == 0;
}

int64_t
log_marker_end(uint64_t word)
{
    if (marker_seal(word & ((UINT64_C(1) << 48) - 1)) != word)
        return -1;
    return (int64_t)(word & MARKER_END);
}
