/*
 * log_follow.c - a partition's log seen from a read-only handle
 * (SAMSA_OPEN_RDONLY), in a process that does not write it.
 *
 * What a reader may read.  The writer (another process, or none) appends
 * batches into the active segment's file and only then publishes the new
 * end: one 8-byte store into the end marker, DIR/TOPIC-P/samsa.end (log.c,
 * "The end marker").  So every offset below the marker's end is in a whole
 * batch, written before the end was, and nothing below it changes any
 * more: the restarted writer's recovery cuts only what lies at or past
 * the acknowledged end, which is never below the marker's.  A follower
 * reads the marker's end word, locates the batches below it, and
 * publishes to its own cursors the end of the last batch it located:
 * never a torn or half-written batch, never a record the writer had not
 * acknowledged.  Cursors check each batch's CRC as they do on the
 * writer's own log (cursor.c).  With no marker (a store of a version that
 * had none, closed), or one whose end word fails its seal, the end is the
 * last whole batch whose CRC checks out: Kafka's rule, as recovery would
 * apply it.
 *
 * Locating the batches.  The follower keeps a scan position in its last
 * segment: the byte position and offset where the next batch starts.  It
 * reads batch headers there with pread(2) (through the I/O table's read),
 * never through the mapping, because the file may be shorter than a stale
 * size: a roll's seal cuts the old segment's preallocated tail, and a
 * store into a mapping past the end of file is SIGBUS, a read is not.  A
 * header that is not there (zeros, the end of the file) while the marker
 * says more was published means the writer rolled: the new segment is
 * named by the offset the scan expects, and the roll made it before any
 * record in it was published, so it is there to open.  Failing that, the
 * directory is listed (a restart, or a gap that recovery kept).  The
 * mapping itself (segment_bytes + max_batch_bytes, as the writer's) is
 * read by cursors only below the published end, where the file has its
 * bytes.  Segments that were never the follower's last keep their file
 * size: cursors leave a segment at the next one's base anyway.
 *
 * Waking.  A cursor that reached the end waits on the marker's end word
 * with a shared futex, counted in the marker's waiters word, which tells
 * the writer to wake it after its next publish (log.c); the wait is cut
 * into slices of FOLLOW_SLICE_MS so that a writer that does not wake it
 * (one of a version without waking, one that died, one restarted, which
 * zeroes the count) costs at most that much delay.  A marker the process
 * may not write is followed by these slices alone.
 *
 * What the follower cannot see in the files, the store above tells it
 * (store/follow.c): the log start after retention (log_advance_start)
 * and the topic's deletion (log_mark_deleted).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define FOLLOW_SLICE_MS 20         /* longest futex sleep; see "Waking"    */
#define FOLLOW_READ     (16 << 10) /* bytes of headers read at a time       */

/* The fields change under log.flush_lock (one refresh at a time): a
 * read-only log never syncs, so the lock is free for it. */
struct log_follow {
    bool counted;        /* the marker is writable: waiters may count    */
    uint64_t scan_pos;   /* in the last segment: where the next batch is */
    int64_t scan_expect; /* the offset it must start at                  */
    uint32_t seen_word;  /* the end word's low half then (futex value)   */
    uint8_t *buf;        /* FOLLOW_READ bytes for the header reads       */
    uint64_t buf_pos;    /* the last segment's bytes buf holds: from here */
    size_t buf_len;      /* this many; 0 at each refresh (follow_header) */
    uint64_t file_size;  /* the last segment's size when last looked at  */
};

/* Open the segment at base read-only and map it; *out NULL when the file
 * is not there. */
static int
follow_segment(samsa_log *log, int64_t base, segment **out)
{
    samsa_io *io = log->io;
    *out = NULL;
    segment *seg = calloc(1, sizeof *seg);
    if (seg == NULL ||
        (seg->path = segment_path(log->dir, base, ".log")) == NULL) {
        free(seg);
        return SAMSA_ENOMEM;
    }
    long page = sysconf(_SC_PAGESIZE);
    uint64_t size = 0;
    int rc = io->open(io, seg->path, SAMSA_IO_RDONLY, &seg->file);
    if (rc == 0)
        rc = io->size(io, seg->file, &size);
    size_t len = (size_t)log->cfg.segment_bytes + log->cfg.max_batch_bytes;
    if (size > len)
        len = (size_t)size;
    len = (len + (size_t)page - 1) & ~((size_t)page - 1);
    const void *view = NULL;
    if (rc == 0)
        rc = io->map(io, seg->file, len, &view);
    if (rc != 0) {
        if (seg->file != NULL)
            io->close(io, seg->file);
        free(seg->path);
        free(seg);
        return rc == -ENOENT ? 0 : samsa__from_errno(rc);
    }
    seg->base = base;
    seg->map = view;
    seg->map_len = len;
    atomic_init(&seg->size, size);
    atomic_init(&seg->max_ts, INT64_MAX); /* unknown: time lookups look */
    atomic_init(&seg->refs, 1);
    atomic_init(&seg->sealed, true);
    atomic_init(&seg->flushed, true);
    seg->next_offset = base;
    seg->damaged = -1;
    seg->gaps = log->cfg.gaps; /* what its readers may take (batch.h) */
    *out = seg;
    return 0;
}

/* The batch header at pos of seg's file, read with pread(2), as the
 * scan reads (see "Locating the batches"): 0 when the whole batch lies
 * within the file's size (as the walk found it: a file cut since only
 * reads short). */
static int
follow_read_header(samsa_log *log, const segment *seg, uint64_t size,
                   uint64_t pos, batch_header *h)
{
    uint8_t b[BATCH_HEADER_SIZE];
    if (log->io->read(log->io, seg->file, b, sizeof b, pos) !=
            (ssize_t)sizeof b ||
        batch_parse_header(b, sizeof b, h) < 0)
        return 1;
    return pos + BATCH_LOG_OVERHEAD + (uint64_t)h->length <= size ? 0 : 1;
}

/* Where a walk of seg's batches may start: the last entry of its .index
 * when the batch it names is there (*pos, *expect), else the start. */
static void
follow_index_last(samsa_log *log, const segment *seg, uint64_t seg_size,
                  uint64_t *pos, int64_t *expect)
{
    samsa_io *io = log->io;
    char *path = segment_path(log->dir, seg->base, ".index");
    samsa_io_file *f;
    uint64_t size = 0;
    uint8_t e[8];
    batch_header h;
    *pos = 0;
    *expect = seg->base;
    int rc = path != NULL ? io->open(io, path, SAMSA_IO_RDONLY, &f) : -1;
    free(path);
    if (rc != 0)
        return;
    if (io->size(io, f, &size) == 0 && size >= 8 &&
        io->read(io, f, e, 8, size / 8 * 8 - 8) == 8) {
        uint32_t rel = samsa__be32_get(e), at = samsa__be32_get(e + 4);
        /* Compared as a difference: an entry past the largest offset
         * (a segment named near INT64_MAX) names no batch, and base +
         * rel would overflow. */
        if (follow_read_header(log, seg, seg_size, at, &h) == 0 &&
            h.base_offset >= seg->base &&
            (uint64_t)(h.base_offset - seg->base) == rel) {
            *pos = at;
            *expect = h.base_offset;
        }
    }
    io->close(io, f);
}

/* Do seg's records run to next, the name of the file after it: a batch
 * that follows the ones before it, passes its CRC and holds next?  That
 * file is then not samsa's (log.c, "Foreign files"), and going by its
 * name would hide those records: the writer does not open such a log,
 * and a follower does not either.  The walk reads headers from the last
 * index entry on, with pread(2): seg is not the last segment, but may
 * have been the writer's until a moment ago, and a roll's seal cuts its
 * file under the mapping.  In a log with gaps the name is believed, as
 * by the writer. */
static bool
follow_runs_past(samsa_log *log, const segment *seg, int64_t next)
{
    if (log->cfg.gaps)
        return false;
    uint64_t size, pos;
    int64_t expect;
    batch_header h;
    if (log->io->size(log->io, seg->file, &size) != 0)
        return false;
    follow_index_last(log, seg, size, &pos, &expect);
    while (follow_read_header(log, seg, size, pos, &h) == 0 &&
           h.base_offset == expect) {
        size_t len = BATCH_LOG_OVERHEAD + (size_t)h.length;
        if (h.base_offset + h.last_offset_delta >= next) {
            uint8_t *b = malloc(len);
            bool whole = b != NULL &&
                         log->io->read(log->io, seg->file, b, len, pos) ==
                             (ssize_t)len &&
                         batch_verify_crc(b, &h) == 0;
            free(b);
            return whole;
        }
        expect = h.base_offset + h.last_offset_delta + 1;
        pos += len;
    }
    return false;
}

static int
follow_push(samsa_log *log, segment *seg)
{
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    int rc = 0;
    if (log->nsegs == log->segs_cap) {
        size_t cap = log->segs_cap ? log->segs_cap * 2 : 8;
        segment **s = realloc(log->segs, cap * sizeof *s);
        if (s == NULL)
            rc = SAMSA_ENOMEM;
        else {
            log->segs = s;
            log->segs_cap = cap;
        }
    }
    if (rc == 0)
        log->segs[log->nsegs++] = seg;
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    if (rc != 0)
        segment_unref(log->io, seg);
    return rc;
}

/* Replace the last segment by a fresh open of the same file name (it was
 * made again: log_reconfigure on an empty segment). */
static int
follow_replace_last(samsa_log *log, segment *seg)
{
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    segment *old = log->segs[log->nsegs - 1];
    log->segs[log->nsegs - 1] = seg;
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    segment_unref(log->io, old);
    return 0;
}

/* The marker's end, or -1 (none, not readable yet, or not samsa's: a
 * writer writes the magic after the first end word, so a marker being
 * made is one for a moment).  The word is one aligned store of the
 * writer: a load sees the old or the new one. */
static int64_t
follow_marked(samsa_log *log)
{
    if (log->marker_view == NULL || !log_marker_ours(log->marker_view))
        return -1;
    uint64_t w = atomic_load_explicit(
        (const _Atomic uint64_t *)(log->marker_view + LOG_MARKER_WORD),
        memory_order_acquire);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return log_marker_end(w);
}

/* Open and map the marker when there is one: read-write when allowed,
 * only to count waiters (see "Waking"). */
static void
follow_marker_open(samsa_log *log)
{
    struct log_follow *f = log->follow;
    samsa_io *io = log->io;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", log->dir, LOG_MARKER);
    uint64_t size = 0;
    f->counted = io->open(io, path, 0, &log->marker) == 0;
    if (!f->counted && io->open(io, path, SAMSA_IO_RDONLY, &log->marker) != 0)
        return;
    const void *view;
    if (io->size(io, log->marker, &size) != 0 || size < LOG_MARKER_SIZE ||
        io->map(io, log->marker, LOG_MARKER_SIZE, &view) != 0) {
        io->close(io, log->marker); /* a writer is making it: later */
        log->marker = NULL;
        return;
    }
    log->marker_view = view;
}

/* Where the batch the scan expects is: 0 and *h when it is at scan_pos in
 * the last segment; 1 when it is not there (yet).  Headers come from one
 * read of up to FOLLOW_READ bytes, made after the refresh loaded the
 * marker's end, so what it holds of a batch below that end is final;
 * bytes past the end may still change, so the buffer lives for one
 * refresh only (a restarted writer rewrites a torn tail there). */
static int
follow_header(samsa_log *log, segment *last, batch_header *h, bool crc)
{
    struct log_follow *f = log->follow;
    samsa_io *io = log->io;
    if (f->scan_pos < f->buf_pos ||
        f->scan_pos + BATCH_HEADER_SIZE > f->buf_pos + f->buf_len) {
        ssize_t n = io->read(io, last->file, f->buf, FOLLOW_READ, f->scan_pos);
        f->buf_pos = f->scan_pos;
        f->buf_len = n > 0 ? (size_t)n : 0;
        if (f->buf_len < BATCH_HEADER_SIZE)
            return 1;
    }
    const uint8_t *p = f->buf + (f->scan_pos - f->buf_pos);
    int rc = batch_parse_header(p, BATCH_HEADER_SIZE, h);
    if (rc < 0 || h->base_offset < f->scan_expect)
        return 1;
    uint64_t end = f->scan_pos + BATCH_LOG_OVERHEAD + (uint64_t)h->length;
    if (end > last->map_len)
        return 2; /* mapped again larger: follow_remap_last */
    /* Within the file, whatever the marker says: a cursor reads the batch
     * through the mapping, and a page past the end of the file is SIGBUS
     * (a file cut short by hand, or a power cut that kept the marker's
     * page and lost the file's size).  One fstat when the scan passes the
     * size it last saw. */
    if (end > f->file_size &&
        (io->size(io, last->file, &f->file_size) != 0 || end > f->file_size))
        return 1;
    if (crc && batch_verify_crc(last->map + f->scan_pos, h) != 0)
        return 1; /* no marker vouches for it: see the top of the file */
    return 0;
}

/* The segment after the last one the follower has, when the writer has
 * made one: the one named by the expected offset, else (a restart, a gap)
 * the first file of the directory past the last segment. */
static int
follow_next_segment(samsa_log *log, segment *last, segment **out)
{
    struct log_follow *f = log->follow;
    int rc = follow_segment(log, f->scan_expect, out);
    if (rc != 0 || *out != NULL)
        return rc;
    int64_t *bases = NULL;
    size_t n = 0;
    rc = log_list_segments(log->dir, &bases, &n);
    for (size_t i = 0; rc == 0 && i < n && *out == NULL; i++)
        if (bases[i] > last->base)
            rc = follow_segment(log, bases[i], out);
    free(bases);
    return rc;
}

/* Is no segment file of log's directory below base left? */
static bool
follow_none_below(samsa_log *log, int64_t base)
{
    int64_t *bases = NULL;
    size_t n = 0;
    bool none = log_list_segments(log->dir, &bases, &n) == 0 &&
                (n == 0 || bases[0] >= base);
    free(bases);
    return none;
}

void
log_follow_reconfigure(samsa_log *log, const log_config *cfg)
{
    samsa__lock(&log->flush_lock, SAMSA_RANK_LOG_FLUSH);
    log_take_sizes(log, cfg);
    samsa__unlock(&log->flush_lock, SAMSA_RANK_LOG_FLUSH);
}

/* The last segment mapped again, larger (a batch past its view: the topic
 * was altered to larger batches or segments), keeping where the scan is;
 * 0, or 1 when the new view is no larger. */
static int
follow_remap_last(samsa_log *log, segment **last)
{
    segment *seg;
    int rc = follow_segment(log, (*last)->base, &seg);
    if (rc != 0 || seg == NULL)
        return 1;
    if (seg->map_len <= (*last)->map_len) {
        segment_unref(log->io, seg);
        return 1;
    }
    atomic_store(&seg->size, atomic_load(&(*last)->size));
    follow_replace_last(log, seg);
    *last = seg;
    return 0;
}

int
log_follow_refresh(samsa_log *log, bool force)
{
    struct log_follow *f = log->follow;
    samsa__lock(&log->flush_lock, SAMSA_RANK_LOG_FLUSH);
    if (log->marker == NULL)
        follow_marker_open(log);
    if (log->marker_view != NULL) /* before the end: see "Waking" */
        f->seen_word = atomic_load(
            (const _Atomic uint32_t *)(log->marker_view + LOG_MARKER_WORD));
    int64_t marked = follow_marked(log);
    /* A marker whose end word fails its seal (damaged, or still zeros
     * from a writer making it) vouches for nothing, as when there is
     * none: taken as an end of -1, it would hide every record. */
    bool crc = marked < 0;
    f->buf_len = 0; /* see follow_header */
    int64_t limit = crc ? INT64_MAX : marked;
    int64_t start = -1;  /* a start retention moved, learnt on the way */
    bool remade = false; /* the last segment was opened again already  */
    int rc = 0;
    /* The array moves under log.lock (log_follow_drop_below); the last
     * segment is never dropped, and only this refresh adds one. */
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    segment *last = log->segs[log->nsegs - 1];
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    while (rc == 0 && f->scan_expect < limit) {
        batch_header h;
        int hr = follow_header(log, last, &h, crc);
        if (hr == 2 && follow_remap_last(log, &last) == 0)
            continue;
        /* A batch the marked end does not wholly cover is not passed:
         * a writer publishes whole batches, so such an end is damage or
         * forged, and what it vouches for of the batch is not all of it
         * (the cursor hands out a batch's records without looking at the
         * end).  It shows once an end covers it. */
        if (hr == 0 && h.base_offset + h.last_offset_delta >= limit)
            break;
        if (hr == 0) {
            f->scan_pos += BATCH_LOG_OVERHEAD + (uint64_t)h.length;
            f->scan_expect = h.base_offset + h.last_offset_delta + 1;
            atomic_store_explicit(&last->size, f->scan_pos,
                                  memory_order_release);
            continue;
        }
        if (!force && crc)
            break; /* no marker: the end of what is whole */
        segment *seg;
        rc = follow_next_segment(log, last, &seg);
        if (rc != 0 || seg == NULL)
            break;
        /* Named inside the records the scan has passed: not samsa's
         * (log.c, "Foreign files"); not read on from. */
        if (seg->base > last->base && seg->base < f->scan_expect &&
            !log->cfg.gaps) {
            segment_unref(log->io, seg);
            rc = SAMSA_ECORRUPT;
            break;
        }
        if (seg->base == last->base) {
            follow_replace_last(log, seg); /* made again, at the same base */
            if (f->scan_pos > 0 || remade)
                break; /* not the file it was, or still not whole: wait
                          for the next refresh */
            remade = true;
        } else if ((rc = follow_push(log, seg)) != 0)
            break;
        last = seg;
        f->scan_pos = 0;
        f->buf_len = 0; /* it held the other file's bytes */
        f->file_size = 0;
        atomic_store(&last->size, 0);
        if (f->scan_expect < last->base) {
            /* The segments between are gone.  Retention and
             * samsa_delete_records() remove the oldest first, so when no
             * file below this one is left the log's start has passed
             * them: readers there get SAMSA_EOFFSET.  Otherwise it is a
             * gap recovery kept: cursors report it (SAMSA_ECORRUPT). */
            if (follow_none_below(log, last->base))
                start = last->base;
            f->scan_expect = last->base;
        }
    }
    int64_t end = f->scan_expect < limit ? f->scan_expect : limit;
    if (end > atomic_load(&log->end))
        atomic_store_explicit(&log->end, end, memory_order_release);
    if (start > atomic_load(&log->start) && start <= atomic_load(&log->end))
        log_advance_start(log, start);
    samsa__unlock(&log->flush_lock, SAMSA_RANK_LOG_FLUSH);
    return rc;
}

int
log_open_follow(samsa_io *io, const char *dir, const log_config *cfg,
                int64_t start, samsa_log **out)
{
    samsa_log *log = log_follow_alloc(io, dir, cfg);
    if (log == NULL)
        return SAMSA_ENOMEM;
    struct log_follow *f = calloc(1, sizeof *f);
    if (f == NULL || (f->buf = malloc(FOLLOW_READ)) == NULL) {
        free(f);
        log_unref(log);
        return SAMSA_ENOMEM;
    }
    log->follow = f;
    follow_marker_open(log);
    int64_t marked = follow_marked(log);
    int64_t *bases = NULL;
    size_t n = 0, first = 0;
    int rc = log_list_segments(dir, &bases, &n);
    /* Segments wholly below the start were deleted (log.c, "Deleting"),
     * as the next name says, when the one before it ends there. */
    while (rc == 0 && first + 1 < n && bases[first + 1] <= start)
        first++;
    segment *before = NULL;
    if (rc == 0 && first > 0 &&
        (rc = follow_segment(log, bases[first - 1], &before)) == 0 &&
        before != NULL) {
        if (follow_runs_past(log, before, bases[first]))
            rc = SAMSA_ECORRUPT;
        segment_unref(io, before);
    }
    if (rc == 0 && n == 0)
        rc = SAMSA_ECORRUPT; /* the writer makes the first one at create */
    /* Segments past the published end wait until the scan reaches them:
     * one made by a roll whose records are not published yet might go
     * (a crash, then recovery's cut of a torn tail before it). */
    for (size_t i = first; rc == 0 && i < n; i++) {
        if (i > first && marked >= 0 && bases[i] > marked)
            break;
        segment *seg;
        rc = follow_segment(log, bases[i], &seg);
        if (rc == 0 && seg == NULL)
            rc = SAMSA_ECORRUPT; /* listed, then gone: retention; reopen */
        if (rc == 0 && i > first &&
            follow_runs_past(log, log->segs[log->nsegs - 1], bases[i])) {
            segment_unref(io, seg);
            rc = SAMSA_ECORRUPT;
        }
        if (rc == 0)
            rc = follow_push(log, seg);
    }
    if (rc == 0) {
        segment *last = log->segs[log->nsegs - 1];
        f->scan_expect = last->base;
        atomic_store(&last->size, 0);
        int64_t s = log->segs[0]->base > start ? log->segs[0]->base : start;
        atomic_init(&log->start, s);
        atomic_init(&log->end, s);
        rc = log_follow_refresh(log, false);
    }
    free(bases);
    if (rc != 0) {
        log_unref(log);
        return rc;
    }
    *out = log;
    return 0;
}

typedef struct word_past {
    const _Atomic uint32_t *word;
    uint32_t seen;
} word_past;

static bool
word_moved(const void *arg)
{
    const word_past *w = arg;
    return atomic_load(w->word) != w->seen;
}

int
log_follow_wait(samsa_log *log, int64_t offset, int64_t deadline_ns,
                int64_t spin_ns)
{
    struct log_follow *f = log->follow;
    for (;;) {
        if (atomic_load(&log->deleted))
            return SAMSA_EDELETED;
        int rc = log_follow_refresh(log, false);
        if (rc != 0)
            return rc;
        if (atomic_load(&log->end) > offset)
            return 0;
        int64_t now = samsa__now_ns();
        if (deadline_ns >= 0 && now >= deadline_ns)
            return SAMSA_ETIMEDOUT;
        int64_t until = now + FOLLOW_SLICE_MS * 1000000ll;
        if (deadline_ns >= 0 && deadline_ns < until)
            until = deadline_ns;
        struct timespec ts = {(time_t)((until - now) / 1000000000),
                              (long)((until - now) % 1000000000)};
        /* What the last refresh saw, taken under its lock (another
         * thread's refresh may be opening the marker meanwhile). */
        samsa__lock(&log->flush_lock, SAMSA_RANK_LOG_FLUSH);
        const uint8_t *v = f->counted ? log->marker_view : NULL;
        uint32_t seen = f->seen_word;
        samsa__unlock(&log->flush_lock, SAMSA_RANK_LOG_FLUSH);
        if (v == NULL) {
            nanosleep(&ts, NULL);
            continue;
        }
        /* First poll the word, uncounted, so that a writer publishing
         * meanwhile makes no futex call (once a call: the slices after
         * sleep at once; the spin may outlast a slice, delaying the
         * refresh by at most spin_ns). */
        word_past moved = {
            (const _Atomic uint32_t *)(uintptr_t)(v + LOG_MARKER_WORD), seen};
        if (spin_ns > 0 &&
            samsa__spin(word_moved, &moved, spin_ns, deadline_ns))
            continue;
        spin_ns = 0;
        /* See "Waking": count ourselves, then sleep only while the word
         * is still the one that refresh saw (the kernel compares). */
        _Atomic uint32_t *waiters =
            (_Atomic uint32_t *)(uintptr_t)(v + LOG_MARKER_WAITERS);
        atomic_fetch_add(waiters, 1);
        (void)syscall(SYS_futex, v + LOG_MARKER_WORD, FUTEX_WAIT, seen, &ts,
                      NULL, 0);
        /* Never below zero: a writer's open zeroes the count under us. */
        uint32_t w = atomic_load(waiters);
        while (w > 0 && !atomic_compare_exchange_weak(waiters, &w, w - 1))
            ;
    }
}

void
log_follow_free(samsa_log *log)
{
    struct log_follow *f = log->follow;
    free(f->buf);
    free(f);
    log->follow = NULL;
}

/* Drop the segments wholly below the start from the array, as
 * log_delete_before does, but without touching a file: the writer
 * removed them. */
size_t
log_follow_drop_below(samsa_log *log)
{
    int64_t start = atomic_load(&log->start);
    size_t k = 0;
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    while (k + 1 < log->nsegs && log->segs[k + 1]->base <= start)
        k++;
    segment **gone = k > 0 ? malloc(k * sizeof *gone) : NULL;
    if (gone != NULL) {
        memcpy(gone, log->segs, k * sizeof *gone);
        memmove(log->segs, log->segs + k, (log->nsegs - k) * sizeof *gone);
        log->nsegs -= k;
    } else
        k = 0;
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    for (size_t i = 0; i < k; i++)
        segment_unref(log->io, gone[i]);
    free(gone);
    return k;
}
