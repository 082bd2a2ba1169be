/*
 * segment.c - one segment: its .log file of record batches and its sparse
 * offset and time indexes.
 *
 * Space.  The .log file is grown with allocate() in chunks ahead of the
 * writes, so a write into the page cache cannot fail for space later, and
 * the I/O layer can copy batches into its shared mapping without a system
 * call.  The first chunk of a segment is ALLOC_FIRST and each next one
 * twice the last, up to ALLOC_CHUNK: a quiet partition reserves 64 KiB of
 * disk, not 4 MiB, and a busy one reaches full chunks after a few
 * megabytes (one allocate() per chunk either way).  The file therefore ends in
 * zeros while the segment is active; a seal (roll or close) cuts them off, and
 * the recovery scan after a crash stops at them.  A zero batchLength is
 * invalid, so zeros never parse as a batch.
 *
 * Index.  An entry is added before a batch that starts index_interval bytes
 * or more past the previous entry (the segment start counts as one), so a
 * lookup binary-searches the entries and then scans at most about
 * index_interval bytes plus one batch.  Entries are made in memory, and
 * appended to the .index and .timeindex files in Kafka's formats once the
 * batches after the last entry written reach INDEX_FLUSH_BYTES (two
 * pwrites per INDEX_FLUSH_BYTES of records; a seal rewrites both files
 * whole, cut to the entries it keeps):
 *
 *   .index      entry i: rel_i (u32 BE), pos_i (u32 BE)
 *   .timeindex  an entry (max_ts_before_i (i64 BE), rel_i - 1 (u32 BE))
 *               for those entries i whose max_ts_before_i is larger than
 *               every one before it (and than -1), and, once sealed, one
 *               more (the segment's largest timestamp, its last offset)
 *               when that is larger still
 *
 * The time index is Kafka's: an entry only where the largest timestamp so
 * far grows, so Kafka's lookup (TimeIndex.lookup: the last entry whose
 * timestamp is <= t; then the offset index's entry at or before that
 * offset, and a scan from there for the first record >= t) answers on
 * samsa's files what samsa_cursor_seek_time() does, and Kafka takes the
 * last entry for the segment's largest timestamp, as it writes it at a
 * roll.  Why the lookup is right: entry (T, rel_i - 1) is written where
 * T = max_ts_before_i first exceeds the entries before it, so
 * max_ts_before_(i-1) < T, and the offset index's entry for rel_i - 1 is
 * entry i-1 (or the segment's start): every record before it is older
 * than T, and the scan from it meets the first record as new as any t >=
 * T.  A store written before this rule has an entry per .index entry,
 * with repeated timestamps; it still loads (the reader takes the last
 * time entry before each .index entry, either way), and an active
 * segment's file is rewritten in the new form at open.
 *
 * Opening a sealed segment loads both files and checks them against the log
 * (entries strictly increasing, positions inside the file, the batch at the
 * last entry starting at the offset it claims); any doubt rebuilds them with
 * a scan of the batch headers.  The index files are derived data: losing
 * them costs a scan, never a record.  An active segment's files may end in
 * entries that a crash left naming batches that are gone (a torn tail, or
 * a power cut that kept the index's write but not the batch's); the load
 * keeps the longest prefix whose last entry checks out, so a bad tail
 * costs only the scan from the entry before it.  They are fdatasync'ed
 * with the segment when they grew (segment_sync), never before a write is
 * acknowledged: an entry lost to a power cut only makes the scan longer.
 *
 * Recovery (segment_open with recover).  Every batch is parsed, its CRC
 * checked, and its base offset (outside the CRC) compared with the offset
 * where the batch before it ends, in order.  At the first batch that fails,
 * the rest of the file is searched for a later CRC-valid batch with a higher
 * base offset: if there is one, the bad batch is corruption in the middle of
 * the log, kept in place so that readers get SAMSA_ECORRUPT at its offsets
 * rather than losing the records after it.  If there is none, it is a torn
 * tail (a write that a crash cut short, or preallocated zeros) and the file
 * is truncated there, but only when its offsets are at or past the
 * acknowledged end the log passes in (log.c, "The end marker"): below it,
 * the batch held acknowledged records, so it is damage, kept up to where its
 * bytes end, and the next batch appended after it gets an index entry.
 *
 * Gaps.  In a log with gaps (seg->gaps: an adopted Kafka log, a compacted
 * topic) a batch may start past the offset where the one before it ends,
 * and a segment's first batch past its base (batch_follows(), batch.h,
 * says which damage that leaves unseen).  Everything else above holds
 * as written: base offsets strictly increase, so a batch that claims an
 * offset below the one before it is damage as ever; "expected" is then
 * the lowest offset the next batch may start at.  The files name no
 * gap: an index entry names the batch at its position by the offset
 * that batch has, and a lookup for an offset inside a gap starts at or
 * before the batch after it.
 *
 * Bounded recovery.  The scan starts at the index entry at or before the
 * offset the log asks for, which is the acknowledged end when the end
 * marker vouches for it (log.c): after a process crash on the same boot,
 * every byte below it is in the page cache exactly as written, so only the
 * tail past the last index entry written (at most INDEX_FLUSH_BYTES plus
 * an interval and a batch) and the preallocated zeros after it are read.
 * The pages read are given back (MADV_DONTNEED) once the segment is open:
 * reopening a large store costs neither the time nor the memory of reading
 * it.
 *
 * Trust.  Nothing outside a CRC decides anything unchecked: index entries
 * are checked against the batch they name (and a time entry against the
 * batches before it) when a lookup uses them, and a batch whose
 * maxTimestamp or attributes a reader acts on is CRC-checked first
 * (cursor.c).  A segment found damaged gets max_ts INT64_MAX, so that time
 * lookups come to the damage and report it instead of skipping it.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

/* Space is allocated ahead of writes in chunks growing from the first
 * size to the largest (see "Space"). */
#define ALLOC_FIRST (64u << 10)
#define ALLOC_CHUNK (4u << 20)

/* The active segment's new index entries go to its files once the batches
 * past the last entry written reach this many bytes (see "Index"). */
#define INDEX_FLUSH_BYTES (256u << 10)

/* See segment_scanned_bytes(). */
static _Atomic uint64_t scanned_bytes;

uint64_t
segment_scanned_bytes(void)
{
    return atomic_load_explicit(&scanned_bytes, memory_order_relaxed);
}

char *
segment_path(const char *dir, int64_t base, const char *ext)
{
    size_t n = strlen(dir) + 32 + strlen(ext);
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%020" PRId64 "%s", dir, base, ext);
    return p;
}

/* The .log path with its extension swapped for ext (caller frees). */
static char *
sibling_path(const segment *seg, const char *ext)
{
    size_t stem = strlen(seg->path) - strlen(".log");
    char *p = malloc(stem + strlen(ext) + 1);
    if (p != NULL) {
        memcpy(p, seg->path, stem);
        strcpy(p + stem, ext);
    }
    return p;
}

/* The in-memory index: room for an entry per index_interval of the
 * largest file, fixed because readers search it without a lock.  With
 * Kafka's defaults that is 4 MiB a segment, nearly all of it never
 * touched: one that large is mapped without a reservation (MAP_NORESERVE),
 * so that 10,000 active segments do not commit 40 GiB of memory (under
 * the kernel's default overcommit heuristic a fork of the process would
 * fail).  Small ones come from malloc: a mapping each would count against
 * vm.max_map_count. */
#define IDX_MAP_BYTES (64u << 10)

static index_entry *
idx_alloc(size_t n)
{
    if (n * sizeof(index_entry) < IDX_MAP_BYTES)
        return calloc(n, sizeof(index_entry));
    void *p = mmap(NULL, n * sizeof(index_entry), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p != MAP_FAILED ? p : NULL;
}

static void
idx_free(index_entry *idx, size_t n)
{
    if (n * sizeof *idx < IDX_MAP_BYTES)
        free(idx);
    else if (idx != NULL)
        munmap(idx, n * sizeof *idx);
}

static segment *
segment_new(const char *dir, int64_t base, const log_config *cfg)
{
    segment *seg = calloc(1, sizeof *seg);
    if (seg == NULL)
        return NULL;
    long page = sysconf(_SC_PAGESIZE);
    seg->base = base;
    seg->map_len = (size_t)cfg->segment_bytes + cfg->max_batch_bytes;
    seg->map_len = (seg->map_len + (size_t)page - 1) & ~((size_t)page - 1);
    seg->idx_cap = seg->map_len / cfg->index_interval + 2;
    seg->idx = idx_alloc(seg->idx_cap);
    seg->path = segment_path(dir, base, ".log");
    atomic_init(&seg->max_ts, -1);
    atomic_init(&seg->refs, 1);
    seg->next_offset = base;
    seg->damaged = -1;
    seg->gaps = cfg->gaps;
    seg->cache = cfg->cache;
    seg->writer = cfg->writer;
    pthread_mutex_init(&seg->open_lock, NULL);
    if (seg->idx == NULL || seg->path == NULL) {
        pthread_mutex_destroy(&seg->open_lock);
        idx_free(seg->idx, seg->idx_cap);
        free(seg->path);
        free(seg);
        return NULL;
    }
    return seg;
}

/* Make the view and the index of a new, unmapped segment big enough for
 * a file of size bytes.  A file may be larger than segment_bytes plus the
 * largest batch when samsa_topic_alter() lowered either after it was
 * written: its records stay readable (Kafka's max.message.bytes and
 * segment.bytes also bind only what is written next). */
static int
segment_cover(segment *seg, uint64_t size, const log_config *cfg)
{
    long page = sysconf(_SC_PAGESIZE);
    if (size > SIZE_MAX / 2)
        return SAMSA_ECORRUPT;
    size_t len = ((size_t)size + (size_t)page - 1) & ~((size_t)page - 1);
    size_t cap = len / cfg->index_interval + 2;
    index_entry *idx = idx_alloc(cap);
    if (idx == NULL)
        return SAMSA_ENOMEM;
    idx_free(seg->idx, seg->idx_cap);
    seg->idx = idx;
    seg->idx_cap = cap;
    seg->map_len = len;
    return 0;
}

static void
segment_free(samsa_io *io, segment *seg)
{
    segcache_forget(seg);
    pthread_mutex_destroy(&seg->open_lock);
    if (seg->file != NULL)
        io->close(io, seg->file);
    idx_free(seg->idx, seg->idx_cap);
    free(seg->path);
    free(seg);
}

void
segment_ref(segment *seg)
{
    atomic_fetch_add_explicit(&seg->refs, 1, memory_order_relaxed);
}

void
segment_unref(samsa_io *io, segment *seg)
{
    if (seg != NULL &&
        atomic_fetch_sub_explicit(&seg->refs, 1, memory_order_acq_rel) == 1)
        segment_free(io, seg);
}

/* ---- the in-memory index ------------------------------------------------- */

/* Add an entry for the batch at pos (the writer only). */
static void
index_add(segment *seg, int64_t base_offset, uint64_t pos)
{
    size_t n = atomic_load_explicit(&seg->idx_len, memory_order_relaxed);
    if (n == seg->idx_cap)
        return; /* cannot happen with the cap segment_new sizes; harmless */
    /* Entries rise in offset and position: index_search is a binary
     * search.  Appends keep it so (asserted in segment_append); a
     * recovery scan's batch that would break it (damage can make one
     * claim an older offset) gets no entry. */
    if (n > 0 && (base_offset - seg->base <= (int64_t)seg->idx[n - 1].rel ||
                  pos <= seg->idx[n - 1].pos))
        return;
    seg->idx[n].rel = (uint32_t)(base_offset - seg->base);
    seg->idx[n].pos = (uint32_t)pos;
    seg->idx[n].max_ts_before = atomic_load(&seg->max_ts);
    seg->idx_last_pos = pos;
    atomic_store_explicit(&seg->idx_len, n + 1, memory_order_release);
}

static bool
index_due(const segment *seg, uint64_t pos, const log_config *cfg)
{
    return pos > 0 && pos - seg->idx_last_pos >= cfg->index_interval;
}

/* Binary search: the index of the last entry before which the index is
 * still below key (by offset: its offset <= key; by time: everything
 * before it is older than key, max_ts_before never decreasing), or -1 for
 * the segment's start. */
static ptrdiff_t
index_search(const segment *seg, int64_t key, bool by_time, size_t n)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const index_entry *e = &seg->idx[mid];
        if (by_time ? e->max_ts_before < key : seg->base + e->rel <= key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (ptrdiff_t)lo - 1;
}

/* Does entry i name a batch that starts where it says, at the offset it
 * says?  The entries come from files outside any CRC (or from a scan), so
 * a lookup reads one only after this check. */
static bool
entry_ok(const segment *seg, size_t i, uint64_t size)
{
    const index_entry *e = &seg->idx[i];
    batch_header h;
    return e->pos < size &&
           batch_parse_header(seg->map + e->pos, size - e->pos, &h) == 0 &&
           h.base_offset == seg->base + e->rel;
}

/* Does entry i's max_ts_before say what the batches before it do: the
 * previous entry's value raised by every batch from there to this one? */
static bool
entry_time_ok(const segment *seg, size_t i, uint64_t size)
{
    const index_entry *e = &seg->idx[i];
    uint64_t pos = i > 0 ? seg->idx[i - 1].pos : 0;
    int64_t m = i > 0 ? seg->idx[i - 1].max_ts_before : -1;
    batch_header h;
    while (pos < e->pos) {
        if (batch_parse_header(seg->map + pos, size - pos, &h) != 0)
            return false;
        if (h.max_timestamp > m)
            m = h.max_timestamp;
        pos += BATCH_LOG_OVERHEAD + (uint64_t)h.length;
    }
    return pos == e->pos && m == e->max_ts_before;
}

uint64_t
segment_lookup(const segment *seg, int64_t offset, int64_t *base)
{
    size_t n = atomic_load_explicit(&seg->idx_len, memory_order_acquire);
    uint64_t size = atomic_load_explicit(&seg->size, memory_order_acquire);
    ptrdiff_t i = index_search(seg, offset, false, n);
    /* An entry that does not check out is passed over for an earlier one:
     * a longer scan, never a wrong start. */
    while (i >= 0 && !entry_ok(seg, (size_t)i, size))
        i--;
    *base = i < 0 ? seg->base : seg->base + seg->idx[i].rel;
    return i < 0 ? 0 : seg->idx[i].pos;
}

uint64_t
segment_lookup_time(const segment *seg, int64_t ts, int64_t *base)
{
    size_t n = atomic_load_explicit(&seg->idx_len, memory_order_acquire);
    uint64_t size = atomic_load_explicit(&seg->size, memory_order_acquire);
    ptrdiff_t i = index_search(seg, ts, true, n);
    /* Starting past records as new as ts would skip them: the entry's
     * timestamp must agree with the batches before it, else the scan
     * starts at the segment's start. */
    if (i >= 0 && !(entry_ok(seg, (size_t)i, size) &&
                    entry_time_ok(seg, (size_t)i, size)))
        i = -1;
    *base = i < 0 ? seg->base : seg->base + seg->idx[i].rel;
    return i < 0 ? 0 : seg->idx[i].pos;
}

/* ---- the index files ----------------------------------------------------- */

/* Entries [from, to) in the .index format into buf (8 bytes each). */
static void
index_encode(const segment *seg, size_t from, size_t to, uint8_t *buf)
{
    for (size_t i = from; i < to; i++) {
        samsa__be32_put(buf + 8 * (i - from), seg->idx[i].rel);
        samsa__be32_put(buf + 8 * (i - from) + 4, seg->idx[i].pos);
    }
}

static void
time_put(uint8_t *b, int64_t ts, uint32_t rel)
{
    samsa__be32_put(b, (uint32_t)((uint64_t)ts >> 32));
    samsa__be32_put(b + 4, (uint32_t)ts);
    samsa__be32_put(b + 8, rel);
}

/* The .timeindex entries (12 bytes each) of index entries [0, to), see
 * "Index": those of [from, to) into buf, returning how many; *keep gets
 * how many [0, from) make.  final (a seal): the entry for the segment's
 * largest timestamp too, when it grew after the last entry.
 *
 * Which entries make one depends on every entry before, so the scan
 * starts where the last one ended (seg->ti_*), not at 0: the active
 * segment's files are appended every INDEX_FLUSH_BYTES, and a scan from
 * 0 each time made filling a segment quadratic (2026-12-05: 107
 * instructions a record on average, 16% of samsa_produce's, over the first
 * 440 MB of a segment of 100-byte records, 100 a call; 0.3 now).
 * index_cut() forgets the state, as the entries it was made of may then
 * change. */
static size_t
timeindex_encode(segment *seg, size_t from, size_t to, bool final, uint8_t *buf,
                 size_t *keep)
{
    int64_t last = -1;
    size_t k = 0, n = 0, i = 0;
    if (seg->ti_at > 0 && seg->ti_at <= from) {
        i = seg->ti_at;
        last = seg->ti_last;
        k = seg->ti_kept;
    }
    for (; i < to; i++) {
        int64_t ts = seg->idx[i].max_ts_before;
        if (ts <= last)
            continue;
        last = ts;
        if (i < from)
            k++;
        else
            time_put(buf + 12 * n++, ts, seg->idx[i].rel - 1);
    }
    seg->ti_at = to;
    seg->ti_last = last;
    seg->ti_kept = k + n;
    /* A damaged segment's max_ts is "unknown" (INT64_MAX): no entry. */
    int64_t m = atomic_load(&seg->max_ts);
    if (final && m > last && seg->damaged < 0 && seg->next_offset > seg->base)
        time_put(buf + 12 * n++, m,
                 (uint32_t)(seg->next_offset - 1 - seg->base));
    *keep = k;
    return n;
}

/* Make the file at path hold keep entries of esz bytes followed by the n
 * encoded in buf (an existing file is cut to keep entries first). */
static int
index_file_put(samsa_io *io, const char *path, size_t esz, size_t keep,
               const uint8_t *buf, size_t n)
{
    samsa_io_file *f;
    uint64_t size = 0;
    int rc = path != NULL ? io->open(io, path, SAMSA_IO_CREATE, &f) : -ENOMEM;
    if (rc != 0)
        return rc;
    rc = io->size(io, f, &size);
    if (rc == 0 && size != keep * esz)
        rc = io->truncate(io, f, keep * esz);
    if (rc == 0 && n > 0)
        rc = samsa__io_write_all(io, f, buf, n * esz, keep * esz);
    int rc2 = io->close(io, f);
    return rc != 0 ? rc : rc2;
}

/* Append the entries not yet in the active segment's index files (the
 * writer, or open).  A failure is not the write's: the files are derived
 * data, checked when loaded; the entries are tried again at the next
 * flush. */
static void
index_files_append(samsa_io *io, segment *seg)
{
    size_t w = atomic_load(&seg->idx_written);
    size_t n = atomic_load(&seg->idx_len);
    uint8_t *buf = malloc((n - w) * 12 + 1);
    char *ipath = sibling_path(seg, ".index");
    char *tpath = sibling_path(seg, ".timeindex");
    int rc = SAMSA_ENOMEM;
    if (buf != NULL) {
        index_encode(seg, w, n, buf);
        rc = index_file_put(io, ipath, 8, w, buf, n - w);
        size_t keep, nt = timeindex_encode(seg, w, n, false, buf, &keep);
        if (rc == 0) /* cut to keep: a seal's last entry goes too */
            rc = index_file_put(io, tpath, 12, keep, buf, nt);
    }
    if (rc == 0)
        atomic_store(&seg->idx_written, n);
    free(buf);
    free(ipath);
    free(tpath);
}

/* ---- writing ------------------------------------------------------------- */

int
segment_create(samsa_io *io, const char *dir, int64_t base,
               const log_config *cfg, segment **out)
{
    segment *seg = segment_new(dir, base, cfg);
    if (seg == NULL)
        return SAMSA_ENOMEM;
    seg->io = io;
    int rc =
        io->open(io, seg->path, SAMSA_IO_CREATE | SAMSA_IO_EXCL, &seg->file);
    if (rc == 0)
        rc = io->map(io, seg->file, seg->map_len, (const void **)&seg->map);
    if (rc != 0) {
        if (seg->file != NULL)
            io->unlink(io, seg->path);
        segment_free(io, seg);
        return samsa__from_errno(rc);
    }
    segcache_add(seg); /* its descriptor counts: segcache.c */
    *out = seg;
    return 0;
}

int
segment_append(samsa_io *io, segment *seg, const uint8_t *batch, size_t len,
               int64_t base_offset, int32_t count, int64_t max_ts,
               const log_config *cfg)
{
    uint64_t pos = atomic_load_explicit(&seg->size, memory_order_relaxed);
    /* Offsets are dense: each batch starts where the one before ended
     * (after damage or a raised start, next_offset was moved past it). */
    assert(count > 0 && base_offset == seg->next_offset &&
           len > BATCH_LOG_OVERHEAD);
    /* The cache may have shut an idle active segment's descriptor. */
    int rc = segment_attach(seg);
    if (rc != 0)
        return rc;
    if (pos + len > seg->alloc) {
        uint64_t want = pos + len - seg->alloc;
        uint64_t chunk =
            seg->alloc_chunk != 0 ? seg->alloc_chunk * 2 : ALLOC_FIRST;
        if (chunk > ALLOC_CHUNK)
            chunk = ALLOC_CHUNK;
        if (want < chunk)
            want = chunk;
        if (seg->alloc + want > seg->map_len)
            want = seg->map_len - seg->alloc;
        rc = io->allocate(io, seg->file, seg->alloc, want);
        /* A nearly full disk: the batch alone may still fit. */
        if (rc == -ENOSPC && want > pos + len - seg->alloc) {
            want = pos + len - seg->alloc;
            rc = io->allocate(io, seg->file, seg->alloc, want);
        }
        if (rc != 0)
            return samsa__from_errno(rc);
        seg->alloc += want;
        seg->alloc_chunk = chunk;
    }
    rc = samsa__io_write_all(io, seg->file, batch, len, pos);
    if (rc != 0)
        return samsa__from_errno(rc);
    /* After damage, the first new batch gets an entry of its own: lookups
     * must not have to scan across the damage to find it. */
    if (seg->force_index || index_due(seg, pos, cfg)) {
        size_t n = atomic_load_explicit(&seg->idx_len, memory_order_relaxed);
        assert(n == 0 ||
               (base_offset - seg->base > (int64_t)seg->idx[n - 1].rel &&
                pos > seg->idx[n - 1].pos));
        (void)n;
        index_add(seg, base_offset, pos);
    }
    seg->force_index = false;
    if (max_ts > atomic_load_explicit(&seg->max_ts, memory_order_relaxed))
        atomic_store_explicit(&seg->max_ts, max_ts, memory_order_release);
    seg->next_offset = base_offset + count;
    atomic_store_explicit(&seg->size, pos + len, memory_order_release);
    size_t w = atomic_load_explicit(&seg->idx_written, memory_order_relaxed);
    if (atomic_load_explicit(&seg->idx_len, memory_order_relaxed) > w &&
        pos + len - (w > 0 ? seg->idx[w - 1].pos : 0) >= INDEX_FLUSH_BYTES)
        index_files_append(io, seg);
    return 0;
}

/* Write n entries of entry_size bytes from buf to path, replacing it. */
static int
index_file_write(samsa_io *io, const char *path, const uint8_t *buf, size_t n)
{
    samsa_io_file *f;
    int rc = io->unlink(io, path);
    if (rc != 0 && rc != -ENOENT)
        return rc;
    if ((rc = io->open(io, path, SAMSA_IO_CREATE | SAMSA_IO_EXCL, &f)) != 0)
        return rc;
    rc = n > 0 ? samsa__io_write_all(io, f, buf, n, 0) : 0;
    int rc2 = io->close(io, f);
    return rc != 0 ? rc : rc2;
}

static int
index_files_write(samsa_io *io, segment *seg)
{
    size_t n = atomic_load(&seg->idx_len);
    uint8_t *buf = malloc((n + 1) * 12);
    char *ipath = sibling_path(seg, ".index");
    char *tpath = sibling_path(seg, ".timeindex");
    int rc = SAMSA_ENOMEM;
    if (buf != NULL && ipath != NULL && tpath != NULL) {
        index_encode(seg, 0, n, buf);
        rc = index_file_write(io, ipath, buf, n * 8);
        size_t keep, nt = timeindex_encode(seg, 0, n, true, buf, &keep);
        if (rc == 0)
            rc = index_file_write(io, tpath, buf, nt * 12);
    }
    if (rc == 0)
        atomic_store(&seg->idx_written, n);
    free(buf);
    free(ipath);
    free(tpath);
    return rc;
}

/* Write a sealed segment's .timeindex again, whole (segment_open: one of
 * the older form).  A failure costs nothing but Kafka's reading of it. */
static void
timeindex_rewrite(samsa_io *io, segment *seg)
{
    size_t n = atomic_load(&seg->idx_len), keep;
    uint8_t *buf = malloc((n + 1) * 12);
    char *tpath = sibling_path(seg, ".timeindex");
    if (buf != NULL && tpath != NULL)
        (void)index_file_write(
            io, tpath, buf, timeindex_encode(seg, 0, n, true, buf, &keep) * 12);
    free(buf);
    free(tpath);
}

int
segment_seal(samsa_io *io, segment *seg)
{
    uint64_t size = atomic_load(&seg->size);
    int rc = segment_attach(seg); /* for the truncate and the sync after */
    if (rc != 0)
        return rc;
    if (seg->alloc > size) {
        rc = io->truncate(io, seg->file, size);
        if (rc != 0)
            return samsa__from_errno(rc);
        seg->alloc = size;
    }
    rc = index_files_write(io, seg);
    if (rc != 0)
        return samsa__from_errno(rc);
    seg->sealed = true;
    segcache_add(seg); /* closable from now on: segcache.c */
    return 0;
}

static int
file_sync(samsa_io *io, const char *path)
{
    samsa_io_file *f;
    int rc = io->open(io, path, 0, &f);
    if (rc != 0)
        return rc;
    rc = io->sync(io, f);
    int rc2 = io->close(io, f);
    return rc != 0 ? rc : rc2;
}

int
segment_write_index(samsa_io *io, segment *seg)
{
    int rc = index_files_write(io, seg);
    char *ipath = sibling_path(seg, ".index");
    char *tpath = sibling_path(seg, ".timeindex");
    if (rc == 0)
        rc = ipath == NULL || tpath == NULL ? -ENOMEM : file_sync(io, ipath);
    if (rc == 0)
        rc = file_sync(io, tpath);
    free(ipath);
    free(tpath);
    return samsa__from_errno(rc);
}

int
segment_sync(samsa_io *io, segment *seg)
{
    /* Only a seal seen before the fdatasync counts: log_sync runs without
     * log.lock, and a roll may truncate the file and write the index files
     * after the fdatasync, which then did not cover them. */
    bool sealed = atomic_load(&seg->sealed);
    size_t written = atomic_load(&seg->idx_written);
    /* A segment the cache closed, or an active one whose descriptor it
     * shut, is opened again for its sync, and kept open by the pin
     * meanwhile (segcache.c). */
    segment_ref(seg);
    int rc = segment_pin(seg);
    if (rc != 0) {
        /* Gone with its files (retention): nothing left to make durable. */
        bool gone = atomic_load(&seg->detached);
        segment_unref(io, seg);
        return gone ? 0 : rc;
    }
    rc = io->sync(io, seg->file);
    /* An active segment's index files are synced when they grew, so that
     * after a power cut the scan starts near the recovery point; a failure
     * there costs only a longer scan ("Index"), so it is not the sync's. */
    bool grew = !sealed && written > seg->idx_synced;
    if (rc == 0 && (sealed || grew)) {
        char *ipath = sibling_path(seg, ".index");
        char *tpath = sibling_path(seg, ".timeindex");
        int rci =
            ipath == NULL || tpath == NULL ? -ENOMEM : file_sync(io, ipath);
        if (rci == 0)
            rci = file_sync(io, tpath);
        if (rci == 0 && grew)
            seg->idx_synced = written;
        if (sealed)
            rc = rci;
        free(ipath);
        free(tpath);
    }
    if (rc == 0 && sealed)
        atomic_store(&seg->flushed, true);
    segment_unpin(seg);
    segment_unref(io, seg);
    return samsa__from_errno(rc);
}

void
segment_remove_files(samsa_io *io, const char *dir, int64_t base)
{
    /* The .log last: it is what log_open lists, so a crash part way
     * leaves it to be found and removed with the rest (log.c). */
    static const char *const exts[] = {".timeindex", ".index", ".log"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        char *p = segment_path(dir, base, exts[i]);
        if (p != NULL)
            io->unlink(io, p);
        free(p);
    }
}

/* Does the .log file at base begin as one samsa made: nothing yet, zeros
 * (space allocated ahead, or a power cut), or a batch header whose base
 * offset is at or past the name's, within a segment's reach (the name's
 * exactly in a dense log, but a batch there may be damaged: a flip raises
 * it, no record may lower it)?  Only such a file is removed by its name
 * alone (log.c, "Foreign files"). */
bool
segment_file_made(samsa_io *io, const char *dir, int64_t base)
{
    char *path = segment_path(dir, base, ".log");
    samsa_io_file *f;
    if (path == NULL || io->open(io, path, SAMSA_IO_RDONLY, &f) != 0) {
        free(path);
        return false;
    }
    free(path);
    uint8_t b[BATCH_HEADER_SIZE];
    ssize_t n = io->read(io, f, b, sizeof b, 0);
    io->close(io, f);
    if (n < 0)
        return false;
    bool zeros = true;
    for (ssize_t i = 0; i < n && zeros; i++)
        zeros = b[i] == 0;
    batch_header h;
    return zeros ||
           ((size_t)n == sizeof b && batch_parse_header(b, sizeof b, &h) >= 0 &&
            h.base_offset >= base && h.base_offset - base <= INT32_MAX);
}

/* ---- opening and recovery ------------------------------------------------ */

/* A batch at pos that parses, fits in size, and follows expected (exact:
 * batch_follows(), at it in a dense log, at or past it in one with gaps),
 * or not before it (!exact: after damage, which may have held any number
 * of offsets); with crc, its CRC must match too.  The base offset is
 * outside the CRC: only this comparison vouches for it. */
static bool
batch_at(const segment *seg, uint64_t pos, uint64_t size, int64_t expected,
         bool exact, bool crc, batch_header *h)
{
    if (pos >= size || batch_parse_header(seg->map + pos, size - pos, h) != 0 ||
        (exact ? !batch_follows(h, expected, seg->gaps)
               : h->base_offset < expected) ||
        h->base_offset - seg->base > INT32_MAX)
        return false;
    return !crc || batch_verify_crc(seg->map + pos, h) == 0;
}

/* After a bad batch at pos: the next position holding a CRC-valid batch
 * with base >= expected, or size when there is none (a torn tail). */
static uint64_t
next_valid_batch(const segment *seg, uint64_t pos, uint64_t size,
                 int64_t expected)
{
    batch_header h;
    /* A bad batch whose header still holds (only its records or CRC are
     * damaged) is skipped by its own length: a search inside its records
     * could take a batch stored in a record's value for the next one. */
    if (batch_parse_header(seg->map + pos, size - pos, &h) == 0) {
        uint64_t q = pos + BATCH_LOG_OVERHEAD + (uint64_t)h.length;
        if (batch_at(seg, q, size, expected, false, true, &h))
            return q;
    }
    for (uint64_t q = pos + 1; q + BATCH_HEADER_SIZE <= size; q++) {
        /* The magic byte is the cheapest thing to test first. */
        const uint8_t *m =
            memchr(seg->map + q + 16, BATCH_MAGIC, size - q - 16);
        if (m == NULL)
            break;
        q = (uint64_t)(m - 16 - seg->map);
        if (batch_at(seg, q, size, expected, false, true, &h))
            return q;
    }
    return size;
}

/* Where damaged bytes from pos on end: after the batch whose header is
 * still whole when nothing but zeros follows it, else after the last byte
 * that is not zero (the preallocated tail of an active segment is zeros;
 * a sealed one was cut to size). */
static uint64_t
damage_end(const segment *seg, uint64_t pos, uint64_t size)
{
    uint64_t last = size;
    while (last > pos && seg->map[last - 1] == 0)
        last--;
    batch_header h;
    if (batch_parse_header(seg->map + pos, size - pos, &h) == 0) {
        uint64_t e = pos + BATCH_LOG_OVERHEAD + (uint64_t)h.length;
        if (e >= last && e <= size)
            return e;
    }
    return last;
}

/* Offsets from first on are damaged in seg: keep the lowest. */
static void
note_damage(segment *seg, int64_t first)
{
    if (seg->damaged < 0 || first < seg->damaged)
        seg->damaged = first;
    /* Its timestamps are unknown: any time lookup must come to it and
     * report it rather than skip it (max_ts and the index entries after
     * it say "anything may be before"). */
    atomic_store(&seg->max_ts, INT64_MAX);
}

#define SCAN_DOUBT 1 /* segment_scan(): walk again from the start */

/* Walk the batches from pos to size, each checked (CRC, and a base offset
 * that continues the one before), rebuilding the index past pos and setting
 * next_offset and max_ts.
 *
 * A bad batch is damage (kept in place, reported to readers with
 * SAMSA_ECORRUPT, noted in seg->damaged) when a good batch follows it, when
 * its offsets are below durable (acknowledged: log.c, "The end marker"),
 * or without recover (a sealed segment, cut to size when sealed).  Only a
 * bad batch at or past durable with nothing good after it, in a segment
 * being recovered, is a torn tail: truncated, *torn saying whether it held
 * anything but zeros.  SCAN_DOUBT: see from_index below. */
static int
segment_scan(samsa_io *io, segment *seg, uint64_t pos, uint64_t size,
             const log_config *cfg, bool recover, int64_t durable, bool *torn,
             bool from_index)
{
    batch_header h;
    int64_t expected = seg->next_offset;
    bool force_index = false;
    while (pos < size) {
        if (!batch_at(seg, pos, size, expected, !force_index, true, &h)) {
            uint64_t q = next_valid_batch(seg, pos, size, expected);
            bool garbage = false;
            for (uint64_t i = pos; i < size && !garbage; i++)
                garbage = seg->map[i] != 0;
            /* Bytes that do not parse after a scan an index entry began:
             * the entry may be what is wrong (a stale or damaged index
             * pointing into a record), and nothing is cut or called
             * damage on its word.  The caller walks from the start. */
            if (garbage && from_index)
                return SCAN_DOUBT;
            if (q < size) { /* corruption in the middle: keep, skip it */
                note_damage(seg, expected);
                pos = q;
                force_index = true;
                continue;
            }
            if (!recover || expected < durable) {
                /* Damage at the end of what was acknowledged: kept, and
                 * the next batch goes after it with an index entry (the
                 * log keeps its end: log_open). */
                if (garbage) /* zeros: the log compares ends (log.c) */
                    note_damage(seg, expected);
                uint64_t e = garbage ? damage_end(seg, pos, size) : pos;
                if (e < size && !seg->probe) { /* only zeros after e */
                    int rc = io->truncate(io, seg->file, e);
                    if (rc != 0)
                        return samsa__from_errno(rc);
                }
                seg->force_index = true;
                pos = e;
                break;
            }
            *torn = garbage;
            /* A torn tail, or zeros: preallocated space that a crash kept
             * a seal from cutting (the seal's truncate may not be on disk
             * even when the recovery point says the segment is). */
            int rc = io->truncate(io, seg->file, pos);
            if (rc != 0)
                return samsa__from_errno(rc);
            break;
        }
        if (force_index || index_due(seg, pos, cfg))
            index_add(seg, h.base_offset, pos);
        force_index = false;
        if (h.max_timestamp > atomic_load(&seg->max_ts))
            atomic_store(&seg->max_ts, h.max_timestamp);
        expected = h.base_offset + h.last_offset_delta + 1;
        seg->next_offset = expected;
        pos += BATCH_LOG_OVERHEAD + (uint64_t)h.length;
    }
    atomic_store(&seg->size, pos);
    seg->alloc = pos;
    return 0;
}

/* Read an index file of entry_size-byte entries; *n gets the count. */
static uint8_t *
index_file_read(samsa_io *io, const char *path, size_t entry_size, size_t *n)
{
    samsa_io_file *f;
    uint64_t size;
    uint8_t *buf = NULL;
    if (path == NULL || io->open(io, path, SAMSA_IO_RDONLY, &f) != 0)
        return NULL;
    if (io->size(io, f, &size) == 0 && size % entry_size == 0 &&
        (buf = malloc(size + 1)) != NULL &&
        io->read(io, f, buf, size, 0) != (ssize_t)size) {
        free(buf);
        buf = NULL;
    }
    io->close(io, f);
    *n = buf != NULL ? size / entry_size : 0;
    return buf;
}

/* Time entry t of a .timeindex file's bytes tb. */
static int64_t
time_ts(const uint8_t *tb, size_t t)
{
    return (int64_t)((uint64_t)samsa__be32_get(tb + 12 * t) << 32 |
                     samsa__be32_get(tb + 12 * t + 4));
}

/* Does the .timeindex file (nt entries at tb) begin with the entries the
 * engine writes for seg's first n index entries ("Index")?  A file of the
 * older form (an entry per .index entry) does not; trailing entries (a
 * seal's last one) do not count: an append cuts them.  (The encoding
 * leaves its scan state in seg, for the appends that follow.) */
static bool
timeindex_same(segment *seg, size_t n, const uint8_t *tb, size_t nt)
{
    uint8_t *want = malloc(n * 12 + 1);
    size_t keep, m = want != NULL
                         ? timeindex_encode(seg, 0, n, false, want, &keep)
                         : nt + 1;
    bool same = m <= nt && memcmp(want, tb, m * 12) == 0;
    free(want);
    return same;
}

/* Load the index files into seg->idx, as far as they check out: the
 * longest prefix of well-formed entries whose last one names its batch
 * (see "Index"); *files gets the entries the .index holds, *time_same
 * whether the .timeindex is as the engine writes it for those kept.
 * False when the files are missing or not whole entries.
 *
 * An entry's max_ts_before is the timestamp of the last time entry whose
 * offset is before its batch (0 of them: -1): exact for both forms of the
 * file, since the engine writes a time entry only where it grew.  Time
 * entries must rise in offset and not fall in timestamp (the older form
 * repeats them); the first that does not ends the entries loaded. */
static bool
index_files_load(samsa_io *io, segment *seg, uint64_t size, size_t *files,
                 bool *time_same)
{
    char *ipath = sibling_path(seg, ".index");
    char *tpath = sibling_path(seg, ".timeindex");
    size_t ni = 0, nt = 0, n = 0, t = 0;
    uint8_t *ib = index_file_read(io, ipath, 8, &ni);
    uint8_t *tb = index_file_read(io, tpath, 12, &nt);
    bool ok = ib != NULL && tb != NULL, tbad = false;
    size_t max = ni < seg->idx_cap ? ni : seg->idx_cap;
    int64_t ts = -1;
    for (; ok && n < max && !tbad; n++) {
        index_entry *e = &seg->idx[n];
        e->rel = samsa__be32_get(ib + 8 * n);
        e->pos = samsa__be32_get(ib + 8 * n + 4);
        /* An entry past the largest offset (a segment based near
         * INT64_MAX) names no batch, and base + rel would overflow in
         * every lookup that adds them. */
        if (!(e->pos < size && e->rel > 0 &&
              (uint64_t)e->rel <= (uint64_t)(INT64_MAX - seg->base) &&
              (n == 0 || (e->rel > e[-1].rel && e->pos > e[-1].pos))))
            break;
        for (; t < nt && samsa__be32_get(tb + 12 * t + 8) < e->rel; t++) {
            if (time_ts(tb, t) < ts ||
                (t > 0 && samsa__be32_get(tb + 12 * t + 8) <=
                              samsa__be32_get(tb + 12 * t - 4))) {
                tbad = true;
                break;
            }
            ts = time_ts(tb, t);
        }
        e->max_ts_before = ts;
        if (tbad)
            break;
    }
    /* The last entry must point at the batch it names, and say what the
     * batches before it do about time: the scan of the tail starts from
     * it, and the segment's max_ts with it.  The others are checked when a
     * lookup uses them.  A last entry that does not check out (a crash
     * kept it but not its batch) is dropped for the one before. */
    while (n > 0 &&
           !(entry_ok(seg, n - 1, size) && entry_time_ok(seg, n - 1, size)))
        n--;
    atomic_store(&seg->idx_len, n);
    *files = ni;
    *time_same = ok && timeindex_same(seg, n, tb, nt);
    free(ib);
    free(tb);
    free(ipath);
    free(tpath);
    return ok;
}

/* Keep the index entries at or before pos and make the writer state (last
 * entry, next offset, largest timestamp) that of the entry at pos. */
static void
index_cut(segment *seg, uint64_t pos)
{
    size_t n = atomic_load(&seg->idx_len);
    while (n > 0 && seg->idx[n - 1].pos > pos)
        n--;
    atomic_store(&seg->idx_len, n);
    seg->ti_at = 0; /* entries past n may come back different */
    if (n > 0 && seg->idx[n - 1].pos == pos) {
        seg->idx_last_pos = pos;
        seg->next_offset = seg->base + seg->idx[n - 1].rel;
        atomic_store(&seg->max_ts, seg->idx[n - 1].max_ts_before);
    }
}

/* segment_open(); probe: segment_end()'s, which only reads.  It looks at
 * files that may not be samsa's (log_dir.c: a check that must change
 * nothing, and a removal that must keep what is not samsa's): a sealed
 * segment's open would cut zeros after damage and write an older form's
 * .timeindex again, which unlinks whatever is under that name, a symbolic
 * link included. */
static int
open_segment(samsa_io *io, const char *dir, int64_t base, const log_config *cfg,
             int64_t recover_from, int64_t durable, bool probe, bool *torn,
             segment **out)
{
    segment *seg = segment_new(dir, base, cfg);
    uint64_t size = 0;
    if (seg == NULL)
        return SAMSA_ENOMEM;
    seg->io = io;
    seg->probe = probe;
    int rc = io->open(io, seg->path, probe ? SAMSA_IO_RDONLY : 0, &seg->file);
    if (rc == 0)
        rc = io->size(io, seg->file, &size);
    if (rc == 0 && size > seg->map_len)
        rc = segment_cover(seg, size, cfg);
    if (rc == 0)
        rc = io->map(io, seg->file, seg->map_len, (const void **)&seg->map);
    *torn = false;
    if (rc == 0) {
        /* Trust the index files as far as they check out.  A sealed segment
         * is then read from its last entry on (headers only, to learn its
         * end and largest timestamp); a segment holding the recovery point
         * is scanned with CRCs from the entry at or before it. */
        uint64_t from = 0;
        size_t files = 0;
        bool time_same = false,
             loaded = index_files_load(io, seg, size, &files, &time_same);
        if (loaded) {
            size_t n = atomic_load(&seg->idx_len);
            int64_t ignored;
            atomic_store(&seg->size, size); /* for the lookup's checks */
            from = recover_from >= 0
                       ? segment_lookup(seg, recover_from, &ignored)
                   : n > 0 ? seg->idx[n - 1].pos
                           : 0;
        }
        index_cut(seg, from);
        size_t kept = atomic_load(&seg->idx_len);
        rc = segment_scan(io, seg, from, size, cfg, recover_from >= 0, durable,
                          torn, from > 0);
        if (rc == SCAN_DOUBT) { /* from the start, trusting no entry */
            index_cut(seg, 0);
            seg->next_offset = seg->base;
            atomic_store(&seg->max_ts, -1);
            kept = 0;
            from = 0;
            rc = segment_scan(io, seg, 0, size, cfg, recover_from >= 0, durable,
                              torn, false);
        }
        atomic_fetch_add_explicit(&scanned_bytes,
                                  atomic_load(&seg->size) - from,
                                  memory_order_relaxed);
        /* A segment that may take writes again: its files are made to hold
         * the entries kept and then those the scan made ("Index"); a
         * time index of the older form (or not as its entries say) is
         * written again whole, with the .index. */
        if (!time_same)
            kept = 0;
        atomic_store(&seg->idx_written, kept);
        if (rc == 0 && recover_from >= 0 &&
            (files != kept || atomic_load(&seg->idx_len) != kept))
            index_files_append(io, seg);
        /* A sealed segment's .timeindex of the older form, beside a whole
         * .index, is written again in Kafka's form (derived data: a
         * crash part way leaves none, and the next open rebuilds it). */
        if (rc == 0 && recover_from < 0 && !probe && !time_same && files > 0 &&
            atomic_load(&seg->idx_len) == files)
            timeindex_rewrite(io, seg);
        /* A sealed segment without whole index files (a crash between a
         * cleaning's swap and its new index files, compact.c) gets them
         * from the scan: a sync of the segment and a copy's catch-up
         * (replica.c) read them, and failed on a missing one. */
        if (rc == 0 && recover_from < 0 && !probe && !loaded)
            (void)index_files_write(io, seg);
        /* What the scan read is not needed now: see "Bounded recovery".
         * The view is the I/O layer's MAP_SHARED mapping of the file (or
         * the replica set's, also one), so this only drops this process's
         * page table entries; dirty pages stay in the page cache. */
        if (rc == 0)
            (void)madvise((void *)seg->map, seg->map_len, MADV_DONTNEED);
    }
    if (rc != 0) {
        segment_free(io, seg);
        return samsa__from_errno(rc);
    }
    seg->sealed = recover_from < 0;
    atomic_store(&seg->flushed, seg->sealed);
    segcache_add(seg); /* its descriptor counts: segcache.c */
    *out = seg;
    return 0;
}

int
segment_open(samsa_io *io, const char *dir, int64_t base, const log_config *cfg,
             int64_t recover_from, int64_t durable, bool *torn, segment **out)
{
    return open_segment(io, dir, base, cfg, recover_from, durable, false, torn,
                        out);
}

/* Where the records of the segment at base in dir end, into *end: read as
 * the open reads a sealed segment (from its last index entry on, headers
 * only), since a name says only where a segment begins (log.c, "Foreign
 * files"). */
int
segment_end(samsa_io *io, const char *dir, int64_t base, const log_config *cfg,
            int64_t *end)
{
    segment *seg;
    bool torn;
    int rc = open_segment(io, dir, base, cfg, -1, -1, true, &torn, &seg);
    if (rc != 0)
        return rc;
    *end = seg->next_offset;
    segment_unref(io, seg);
    return 0;
}
