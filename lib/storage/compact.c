/*
 * compact.c - the cleaner's work on one log: Kafka's log compaction
 * (cleanup.policy=compact) of its sealed segments.  Which logs, when and
 * how often is the store's (store/cleaner.c).
 *
 * What stays.  A cleaning takes the sealed segments wholly below `upto`
 * (never the active one: log_clean_range), reads every batch of them
 * once to map each key to its latest offset there, then rewrites each
 * segment keeping, of every record with a key, only the one at that
 * offset.  Keys are compared byte for byte.  A record without a key
 * (produce refuses them for a compacted topic; an adopted Kafka log may
 * hold some) stays.  A compressed batch is decompressed (once to map its
 * keys, copied into the map's arena, and once to rewrite it) and, when
 * it changes, compressed again with its own codec at the codec's default
 * level, as Kafka's cleaner recompresses.  Control batches (transaction
 * markers, in an adopted Kafka log) stay whole.
 *
 * Batches, as Kafka's LogCleaner keeps them: a batch that keeps records
 * keeps its baseOffset, lastOffsetDelta, leader epoch and producer
 * fields, so offsets inside it may skip; its record count, length,
 * maxTimestamp and CRC are made anew.  A batch that keeps none goes, and
 * its offsets are a gap between batches (the partition has the gaps
 * flag: store/cleaner.c sets it first).  A segment may end short of the
 * next one's base, or hold no batch at all: its file stays, named by its
 * base.  The log's end is never lost that way: it is the active
 * segment's, which is never cleaned (empty, its file name is the end).
 *
 * Tombstones (records with a null value), as Kafka since KIP-534: the
 * first cleaning that keeps a tombstone as its key's latest record sets
 * the batch's delete horizon, now + delete_retention_ms, in its
 * firstTimestamp with attribute bit 0x40 (the records' timestamp deltas
 * re-encoded against it, so their timestamps read as before); a later
 * cleaning at or past the horizon drops the batch's tombstones.  The
 * horizon lives in the bytes, so it survives a restart and every copy
 * has the same.
 *
 * Damage.  Every batch is CRC-checked, its header checked against the
 * batch before it (batch_follows() for a log with gaps) and against the
 * segment's bounds, and its records parsed, before anything is written:
 * damage anywhere in the range refuses the whole cleaning with
 * SAMSA_ECORRUPT, so that no damaged byte is ever copied into a file
 * that would look clean, and no key's latest record is judged by a map
 * that missed part of the log.
 *
 * The swap, and why a crash at any point is safe.  A cleaned segment
 * replaces one segment, file for file, under the same name:
 *   (1) BASE.log.cleaned is written whole and fdatasync'ed;
 *   (2) it is renamed over BASE.log, and the directory synced: one
 *       atomic step, the commit point, after which the file holds every
 *       byte it must (synced in (1)).  The rename commits even when the
 *       directory's sync after it fails (the name is the new file's from
 *       then on, and after a crash either file is right): the steps
 *       below still run, and the failure sets the log's `failed`, as a
 *       failed sync of its own does;
 *   (3) BASE.index and BASE.timeindex are written anew and synced;
 *   (4) the log's segment array takes the new segment (log.lock).  The
 *       old segment object must not stay there once the name is the new
 *       file's: its sizes and index are the old file's, and the segment
 *       cache, once it closed the old file, would open the new one under
 *       them.  If the new file cannot be opened, the old object stays,
 *       disowned (never closed: its view is the old file's), and the
 *       log takes no write until reopened.
 * A crash before (2) leaves the old segment whole and maybe a .cleaned
 * file: log_open removes it (its name proves the cleaner made it) before
 * it reads anything.  After (2), the new file is the segment.  Between
 * (2) and (3) the index files are the old segment's: derived data,
 * checked against the batches they name at open and at each use
 * (segment.c, "Index"): an entry whose batch moved fails its check and
 * the index is rebuilt by a scan.  Each step goes through the log's I/O
 * table, so with copies each step is made on every in-sync copy in turn
 * with the same bytes: the copies stay identical.  A reader holding the
 * old segment keeps its mapping of the old file (the rename leaves the
 * inode alive while mapped; the cleaner's reference keeps the segment
 * cache from closing it before the swap, segcache.c), and its next
 * segment lookup finds the new one.
 */
#include <errno.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "log.h"

#define CLEANED_EXT ".cleaned" /* the swap's temporary file: BASE.log + it */
#define INFLATE_MAX                                                            \
    (256u << 20)               /* a batch's records, decompressed: as          \
                                  the cursor's bound (cursor.c)      */
#define ARENA_CHUNK (1u << 20) /* keys copied from compressed batches */

/* ---- the key map --------------------------------------------------------- */

/* Open addressing, linear probing; keys point into the segments' views,
 * which the cleaning holds for its whole run, or, from a compressed batch
 * (decompressed one at a time), into copies in the map's arena. */
typedef struct key_slot {
    const uint8_t *key; /* NULL: empty slot           */
    size_t len;         /* its bytes                  */
    uint64_t hash;      /* FNV-1a of them             */
    int64_t offset;     /* the latest offset seen     */
} key_slot;

typedef struct arena_chunk {
    struct arena_chunk *next; /* the chunk before                */
    size_t used, cap;         /* bytes of data taken, and there  */
    uint8_t data[];           /* the keys                        */
} arena_chunk;

typedef struct key_map {
    key_slot *slots;    /* cap of them                  */
    size_t cap, n;      /* a power of two; used         */
    arena_chunk *arena; /* copied keys, newest chunk first */
} key_map;

/* A copy of len bytes of key that lives as long as m. */
static const uint8_t *
arena_copy(key_map *m, const uint8_t *key, size_t len)
{
    arena_chunk *c = m->arena;
    if (c == NULL || c->cap - c->used < len + 1) {
        size_t cap = len + 1 > ARENA_CHUNK ? len + 1 : ARENA_CHUNK;
        if ((c = malloc(sizeof *c + cap)) == NULL)
            return NULL;
        *c = (arena_chunk){.next = m->arena, .cap = cap};
        m->arena = c;
    }
    uint8_t *p = c->data + c->used;
    if (len > 0)
        memcpy(p, key, len);
    c->used += len + 1; /* an empty key still gets its own address */
    return p;
}

static void
map_free(key_map *m)
{
    for (arena_chunk *c = m->arena, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(m->slots);
}

static uint64_t
fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static key_slot *
map_find(const key_map *m, const uint8_t *key, size_t len, uint64_t h)
{
    size_t i = (size_t)h & (m->cap - 1);
    for (;; i = (i + 1) & (m->cap - 1)) {
        key_slot *s = &m->slots[i];
        if (s->key == NULL || (s->hash == h && s->len == len &&
                               (len == 0 || memcmp(s->key, key, len) == 0)))
            return s;
    }
}

static int
map_grow(key_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    key_slot *old = m->slots;
    size_t ocap = m->cap;
    m->slots = calloc(cap, sizeof *m->slots);
    if (m->slots == NULL) {
        m->slots = old;
        return SAMSA_ENOMEM;
    }
    m->cap = cap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].key != NULL)
            *map_find(m, old[i].key, old[i].len, old[i].hash) = old[i];
    free(old);
    return 0;
}

/* key's latest offset is now offset (offsets come in rising order);
 * copy: key's bytes go away after the call. */
static int
map_put(key_map *m, const uint8_t *key, size_t len, int64_t offset, bool copy)
{
    if ((m->n + 1) * 4 > m->cap * 3 && map_grow(m) != 0)
        return SAMSA_ENOMEM;
    uint64_t h = fnv1a(key, len);
    key_slot *s = map_find(m, key, len, h);
    if (s->key == NULL) {
        if (copy && (key = arena_copy(m, key, len)) == NULL)
            return SAMSA_ENOMEM;
        /* An empty key's pointer is not NULL: it marks the slot used. */
        *s = (key_slot){.key = key, .len = len, .hash = h};
        m->n++;
    }
    s->offset = offset;
    return 0;
}

static int64_t
map_latest(const key_map *m, const uint8_t *key, size_t len)
{
    const key_slot *s = map_find(m, key, len, fnv1a(key, len));
    return s->key != NULL ? s->offset : -1;
}

/* ---- reading what may be cleaned ----------------------------------------- */

void
log_clean_range(samsa_log *log, int64_t max_ts, int64_t *upto, uint64_t *dirty,
                uint64_t *total)
{
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    int64_t end = atomic_load(&log->end);
    size_t i = 0;
    *dirty = *total = 0;
    /* Oldest first, stopping at the first segment too young (Kafka's
     * first uncleanable offset), and at records readers cannot see yet. */
    for (; i + 1 < log->nsegs; i++) {
        segment *seg = log->segs[i];
        if (log->segs[i + 1]->base > end || atomic_load(&seg->max_ts) > max_ts)
            break;
        uint64_t size = atomic_load(&seg->size);
        *total += size;
        if (log->segs[i + 1]->base > log->cleaned)
            *dirty += size;
    }
    *upto = log->segs[i]->base;
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
}

bool
log_clean_due(const samsa_log *log, int64_t now)
{
    return log->horizon != 0 && now >= log->horizon;
}

/* The records of the checked batch at p: in place, or, compressed,
 * decompressed into z. */
static int
batch_records(const uint8_t *p, const batch_header *h, codec_buf *z,
              batch_iter *it)
{
    int codec = h->attributes & BATCH_ATTR_COMPRESSION;
    if (codec == 0) {
        batch_iter_init(it, p, h);
        return 0;
    }
    int rc = codec_decompress(codec, p + BATCH_HEADER_SIZE,
                              (size_t)h->length + BATCH_LOG_OVERHEAD -
                                  BATCH_HEADER_SIZE,
                              INFLATE_MAX, z);
    if (rc == 0)
        batch_iter_init_records(it, h, z->data, z->len);
    return rc == SAMSA_ENOMEM ? rc : rc != 0 ? SAMSA_ECORRUPT : 0;
}

/* Check every batch of seg (held) and map its keys, a compressed batch's
 * copied (its records go with z); SAMSA_ECORRUPT at the first batch that
 * fails (see "Damage"). */
static int
map_segment(key_map *m, const segment *seg, int64_t limit, codec_buf *z)
{
    uint64_t size = atomic_load(&seg->size), pos = 0;
    int64_t next = seg->base;
    while (pos < size) {
        batch_header h;
        const uint8_t *p = seg->map + pos;
        if (batch_parse_header(p, size - pos, &h) != 0 ||
            !batch_follows(&h, next, true) ||
            h.base_offset + h.last_offset_delta >= limit ||
            batch_verify_crc(p, &h) != 0)
            return SAMSA_ECORRUPT;
        next = h.base_offset + h.last_offset_delta + 1;
        pos += BATCH_LOG_OVERHEAD + (uint64_t)h.length;
        if ((h.attributes & BATCH_ATTR_CONTROL) != 0)
            continue; /* kept whole: see "What stays" */
        batch_iter it;
        samsa_message msg;
        bool copy = (h.attributes & BATCH_ATTR_COMPRESSION) != 0;
        int rc = batch_records(p, &h, z, &it);
        while (rc == 0 && (rc = batch_iter_next(&it, &msg)) == 0)
            if (msg.key != NULL &&
                map_put(m, msg.key, msg.key_len, msg.offset, copy) != 0)
                return SAMSA_ENOMEM;
        if (rc < 0 || it.next != it.end)
            return rc == SAMSA_ENOMEM ? rc : SAMSA_ECORRUPT;
    }
    return 0;
}

/* ---- rewriting ----------------------------------------------------------- */

typedef struct clean_ctx {
    const key_map *map;
    int64_t now;        /* the wall clock of this cleaning            */
    int64_t horizon_ms; /* delete_retention_ms; -1: none              */
    int64_t removed;    /* records removed so far                     */
    int64_t horizon;    /* earliest horizon of the tombstones kept    */
    codec_buf z;        /* a compressed batch's records               */
    codec_buf raw;      /* the records it keeps, before compression   */
} clean_ctx;

/* Room for more bytes after b's len. */
static int
room(codec_buf *b, size_t more)
{
    return codec_buf_reserve(b, b->len + more, SIZE_MAX);
}

static int
append(codec_buf *b, const uint8_t *p, size_t n)
{
    int rc = room(b, n);
    if (rc == 0) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    }
    return rc;
}

/* Whether a compaction keeps msg (see "What stays", "Tombstones"). */
static bool
keeps(const clean_ctx *cx, const samsa_message *msg, bool expired, bool *tomb)
{
    *tomb = msg->key != NULL && msg->value == NULL;
    return (msg->key == NULL ||
            map_latest(cx->map, msg->key, msg->key_len) == msg->offset) &&
           !(*tomb && expired);
}

/* Write the kept records of the batch (it at its first record) at q,
 * against base_ts; their end, and *max_ts the largest timestamp. */
static uint8_t *
put_kept(const clean_ctx *cx, batch_iter *it, const batch_header *h,
         bool expired, int64_t base_ts, uint8_t *q, int64_t *max_ts)
{
    bool log_time = (h->attributes & BATCH_ATTR_LOG_TIME) != 0, tomb;
    samsa_message msg;
    *max_ts = log_time ? h->max_timestamp : -1;
    while (batch_iter_next(it, &msg) == 0) {
        if (!keeps(cx, &msg, expired, &tomb))
            continue;
        /* A LogAppendTime batch's records read its maxTimestamp: their
         * own deltas mean nothing, 0 as Kafka writes them. */
        /* Wrapping, as the reader adds it back (batch.c): an adopted
         * log's timestamps may lie anywhere. */
        int64_t ts_delta =
            log_time ? 0
                     : (int64_t)((uint64_t)msg.timestamp - (uint64_t)base_ts);
        if (!log_time && msg.timestamp > *max_ts)
            *max_ts = msg.timestamp;
        q = batch_record_reput(q, &msg, ts_delta, msg.offset - h->base_offset);
    }
    return q;
}

/* Append the batch at p (checked by map_segment), cleaned, to out:
 * nothing when it keeps no record, its own bytes when it keeps all. */
static int
clean_batch(clean_ctx *cx, const uint8_t *p, const batch_header *h,
            codec_buf *out)
{
    size_t len = BATCH_LOG_OVERHEAD + (size_t)h->length;
    int codec = h->attributes & BATCH_ATTR_COMPRESSION;
    if ((h->attributes & BATCH_ATTR_CONTROL) != 0)
        return append(out, p, len);
    bool has_horizon = (h->attributes & BATCH_ATTR_HORIZON) != 0, tomb;
    bool expired = has_horizon && cx->now >= h->base_timestamp;
    int32_t kept = 0, tombs = 0;
    batch_iter it;
    samsa_message msg;
    int rc = batch_records(p, h, &cx->z, &it);
    if (rc != 0)
        return rc;
    size_t area = (size_t)(it.end - it.next); /* the records' bytes */
    while (batch_iter_next(&it, &msg) == 0)
        if (keeps(cx, &msg, expired, &tomb)) {
            kept++;
            tombs += tomb;
        }
    cx->removed += h->record_count - kept;
    if (kept == 0)
        return 0;
    bool set_horizon = tombs > 0 && !has_horizon;
    int64_t base_ts = h->base_timestamp;
    /* Saturating: a horizon past INT64_MAX is never reached. */
    if (set_horizon)
        base_ts = cx->horizon_ms <= 0 ? cx->now
                  : cx->now > INT64_MAX - cx->horizon_ms
                      ? INT64_MAX
                      : cx->now + cx->horizon_ms;
    if (tombs > 0 && base_ts < cx->horizon)
        cx->horizon = base_ts;
    if (kept == h->record_count && !set_horizon)
        return append(out, p, len); /* unchanged: the same bytes */
    /* A rewritten record may grow: its timestamp delta against a horizon
     * takes at most 10 bytes where it took at least 1, its length varint
     * one more. */
    size_t bound = area + (size_t)kept * 11, start = out->len;
    uint8_t *q;
    int64_t max_ts;
    codec_buf *dst = codec != 0 ? &cx->raw : out;
    if (codec != 0)
        cx->raw.len = 0;
    if ((rc = room(dst, BATCH_HEADER_SIZE + bound)) != 0)
        return rc;
    q = dst->data + dst->len + (codec != 0 ? 0 : BATCH_HEADER_SIZE);
    batch_iter_init_records(&it, h, it.end - area, area);
    q = put_kept(cx, &it, h, expired, base_ts, q, &max_ts);
    size_t total = (size_t)(q - (out->data + start));
    if (codec != 0) { /* recompressed with its own codec, as Kafka does */
        size_t raw = (size_t)(q - cx->raw.data), packed;
        if ((rc = room(out, BATCH_HEADER_SIZE + codec_bound(codec, raw))) !=
                0 ||
            (rc = codec_compress(codec, 0, cx->raw.data, raw,
                                 out->data + start + BATCH_HEADER_SIZE,
                                 &packed)) != 0)
            return rc;
        total = BATCH_HEADER_SIZE + packed;
    }
    memcpy(out->data + start, p, BATCH_HEADER_SIZE);
    int16_t attrs = h->attributes;
    if (set_horizon)
        attrs = (int16_t)(attrs | BATCH_ATTR_HORIZON);
    batch_rewrite_header(out->data + start, total, attrs, base_ts, max_ts,
                         kept);
    out->len = start + total;
    return 0;
}

/* seg's batches, cleaned, into out (its len from 0); *changed says
 * whether they differ from the file's. */
static int
clean_image(clean_ctx *cx, const segment *seg, codec_buf *out, bool *changed)
{
    uint64_t size = atomic_load(&seg->size), pos = 0;
    int rc = 0;
    out->len = 0;
    while (rc == 0 && pos < size) {
        batch_header h;
        const uint8_t *p = seg->map + pos;
        (void)batch_parse_header(p, size - pos, &h); /* checked before */
        rc = clean_batch(cx, p, &h, out);
        pos += BATCH_LOG_OVERHEAD + (uint64_t)h.length;
    }
    *changed = out->len != size ||
               (size > 0 && memcmp(out->data, seg->map, size) != 0);
    return rc;
}

/* Steps (1) and (2) of "The swap": the file at seg's name holds buf.
 * *renamed: the rename was made, so the file at seg's name is the new
 * one, even when the directory's sync after it failed. */
static int
swap_file(samsa_log *log, const segment *seg, const uint8_t *buf, size_t n,
          bool *renamed)
{
    samsa_io *io = log->io;
    char *tmp = samsa__path_cat(seg->path, CLEANED_EXT);
    samsa_io_file *f = NULL;
    *renamed = false;
    if (tmp == NULL)
        return SAMSA_ENOMEM;
    (void)io->unlink(io, tmp); /* a failed pass's, ours by its name */
    int rc = io->open(io, tmp, SAMSA_IO_CREATE | SAMSA_IO_EXCL, &f);
    if (rc == 0 && n > 0)
        rc = samsa__io_write_all(io, f, buf, n, 0);
    if (rc == 0)
        rc = io->sync(io, f);
    if (f != NULL) {
        int rc2 = io->close(io, f);
        rc = rc != 0 ? rc : rc2;
    }
    if (rc == 0)
        rc = io->rename(io, tmp, seg->path);
    if (rc != 0)
        (void)io->unlink(io, tmp);
    free(tmp);
    if (rc != 0)
        return samsa__from_errno(rc);
    *renamed = true;
    /* As the log's own: a failure sets `failed` (the directory's
     * writeback error is reported once). */
    return log_dirsync(log);
}

/* Put nseg in old's place in the array (step 4); old goes to its
 * readers (detached: never closed under them, segcache.c). */
static void
swap_segment(samsa_log *log, segment *old, segment *nseg)
{
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    size_t i = 0;
    while (i < log->nsegs && log->segs[i] != old)
        i++;
    bool found = i < log->nsegs; /* always: only the cleaner replaces */
    if (found)
        log->segs[i] = nseg;
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    if (found) {
        segment_disown(old);
        segment_unref(log->io, old);
    } else
        segment_unref(log->io, nseg);
}

/* Clean one held segment of the range. */
static int
clean_segment(samsa_log *log, clean_ctx *cx, segment *seg)
{
    codec_buf img = {0};
    bool changed = false, renamed = false;
    int64_t removed = cx->removed;
    int rc = clean_image(cx, seg, &img, &changed);
    if (rc == 0 && changed)
        rc = swap_file(log, seg, img.data, img.len, &renamed);
    codec_buf_free(&img);
    if (!renamed) {
        if (rc != 0)
            cx->removed = removed; /* not removed after all */
        return rc;
    }
    /* Committed (even when the directory's sync failed after it: the
     * name is the new file's now): the new file is the segment.  Open it
     * (trusted, sealed, its batches just written) and give it its index
     * files.  The old segment must leave the array whatever happens: its
     * sizes and index are the old file's, and the cache would open the
     * new file under them again once it closed the old one. */
    segment *nseg;
    bool torn;
    int rc2 = segment_open(log->io, log->dir, seg->base, &log->cfg, -1, 0,
                           &torn, &nseg);
    if (rc2 != 0) {
        /* The file is right; the log's view of it stays the old file,
         * kept open until reopened (never closed by the cache: it would
         * open the new file by the name), and writes are refused
         * meanwhile, as after any failed step. */
        segment_disown(seg);
        atomic_store(&log->failed, SAMSA_EFAILED);
        return rc != 0 ? rc : rc2;
    }
    (void)segment_write_index(log->io, nseg); /* derived: see "The swap" */
    swap_segment(log, seg, nseg);
    return rc;
}

int
log_clean(samsa_log *log, int64_t upto, int64_t now, int64_t horizon_ms,
          int64_t *removed)
{
    *removed = 0;
    /* A log whose sync failed takes no write until reopened (log.c,
     * "Failure"): no swap either. */
    int failed = atomic_load(&log->failed);
    if (failed != 0)
        return failed;
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    size_t k = 0;
    while (k + 1 < log->nsegs && log->segs[k + 1]->base <= upto)
        k++;
    segment **segs = k > 0 ? malloc(k * sizeof *segs) : NULL;
    for (size_t i = 0; segs != NULL && i < k; i++) {
        segs[i] = log->segs[i];
        segment_ref(segs[i]);
    }
    int64_t limit_last = k > 0 ? log->segs[k]->base : 0;
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    if (k == 0)
        return 0;
    if (segs == NULL)
        return SAMSA_ENOMEM;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < k; i++)
        rc = segment_hold(segs[i]); /* open, and kept open: our reference */
    key_map map = {0};
    clean_ctx cx = {.map = &map,
                    .now = now,
                    .horizon_ms = horizon_ms,
                    .horizon = INT64_MAX};
    for (size_t i = 0; rc == 0 && i < k; i++)
        rc = map_segment(&map, segs[i],
                         i + 1 < k ? segs[i + 1]->base : limit_last, &cx.z);
    atomic_store(&log->unclean, rc == SAMSA_ECORRUPT); /* see "Damage" */
    for (size_t i = 0; rc == 0 && i < k; i++) {
        segment_ref(segs[i]); /* the swap drops the log's reference */
        rc = clean_segment(log, &cx, segs[i]);
        segment_unref(log->io, segs[i]);
    }
    if (rc == 0) {
        log->cleaned = upto;
        log->horizon = cx.horizon;
    }
    *removed = cx.removed; /* of the segments swapped, also after a failure */
    map_free(&map);
    codec_buf_free(&cx.z);
    codec_buf_free(&cx.raw);
    for (size_t i = 0; i < k; i++)
        segment_unref(log->io, segs[i]);
    free(segs);
    return rc;
}

void
log_clean_leftovers(samsa_io *io, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    bool any = false;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        /* Exactly NNNNNNNNNNNNNNNNNNNN.log.cleaned: no other file is
         * touched (samsa deletes only what it can prove it made). */
        if (!log_segment_name(name, ".log" CLEANED_EXT))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, name);
        (void)io->unlink(io, path);
        any = true;
    }
    closedir(d);
    if (any)
        (void)io->dirsync(io, dir);
}
