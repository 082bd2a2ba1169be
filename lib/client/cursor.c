/*
 * cursor.c - samsa_cursor_*: reading one partition in offset order.
 *
 * A cursor holds a reference on its partition (so a deleted topic's
 * partition, its log and copies, outlives it) and on the segment it reads (so
 * the mapping stays valid while the caller holds a message that points into
 * it).  It takes no lock on the data path: it reads only offsets below the
 * log's published end, and everything below that is immutable (log.h).  Each
 * batch's CRC is checked when the cursor enters it, before any record of it is
 * returned.
 *
 * Compressed batches.  The records of a compressed batch are decompressed
 * into a buffer the cursor owns (zbuf), and the messages point into it.
 * samsa_cursor_next() promises pointers until the next call, so the
 * public call reuses the buffer; a consumer's poll_batch() returns many
 * records of one cursor at once, so it reads with cursor_next_held(),
 * which keeps every buffer it returned records from (held) until
 * cursor_release(), called at the start of the consumer's next poll.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cursor.h"

struct samsa_cursor {
    samsa *s;              /* its store: a read-only one's waits (follow.c) */
    samsa_partition *part; /* referenced */
    samsa_log *log;     /* part->log: reads go to the storage layer          */
    char *topic;        /* the topic's name, for samsa_message.topic         */
    int32_t partition;  /* the partition                                     */
    int64_t offset;     /* the next offset to return                         */
    segment *seg;       /* referenced; holds offset, or NULL: look it up     */
    int64_t seg_end;    /* seg_limit() of seg                                */
    uint64_t pos;       /* in seg: the next batch to enter                   */
    int64_t expect;     /* the offset the batch at pos must start at         */
    batch_iter it;      /* the batch being returned, when in_batch           */
    bool in_batch;      /* it has records left to look at                    */
    codec_buf zbuf;     /* a compressed batch's records, decompressed        */
    bool zbatch;        /* it iterates zbuf (a compressed batch)             */
    bool zpinned;       /* records of zbuf went out since cursor_release()   */
    bool raw;           /* cursor_next_batch(): batches are not decompressed */
    uint64_t batch_pos; /* in seg: where the batch entered last starts      */
    codec_buf *held;    /* earlier zbufs whose records may still be held     */
    size_t nheld, held_cap;
    samsa__spinner spin; /* its waits at the end: how long it polls    */
};

/* Largest records area a compressed batch may inflate to (the largest
 * max_message_bytes): past it the batch is damage or a bomb. */
#define INFLATE_MAX (256u << 20)

void
cursor_release(samsa_cursor *c)
{
    for (size_t i = 0; i < c->nheld; i++)
        codec_buf_free(&c->held[i]);
    c->nheld = 0;
    c->zpinned = false;
}

/* Decompress the records of the compressed batch at p (header h) into
 * c->zbuf and start c->it on them.  A zbuf whose records went out since
 * the last release is kept for the caller first. */
static int
cursor_inflate(samsa_cursor *c, const uint8_t *p, const batch_header *h)
{
    if (c->zpinned) {
        if (samsa__array_room(&c->held, c->nheld, &c->held_cap, sizeof *c->held,
                              4) != 0)
            return SAMSA_ENOMEM;
        c->held[c->nheld++] = c->zbuf;
        c->zbuf = (codec_buf){0};
        c->zpinned = false;
    }
    int rc = codec_decompress(
        h->attributes & BATCH_ATTR_COMPRESSION, p + BATCH_HEADER_SIZE,
        (size_t)h->length + BATCH_LOG_OVERHEAD - BATCH_HEADER_SIZE, INFLATE_MAX,
        &c->zbuf);
    if (rc == 0)
        batch_iter_init_records(&c->it, h, c->zbuf.data, c->zbuf.len);
    else
        codec_buf_free(&c->zbuf); /* a bomb may have grown it to the max */
    return rc;
}

static void
cursor_reset(samsa_cursor *c, int64_t offset)
{
    segment_unref(c->log->io, c->seg);
    c->seg = NULL;
    c->in_batch = false;
    c->offset = offset;
}

/* The base of the segment after seg, INT64_MAX when seg is the last: no
 * batch of seg may hold an offset at or past it.  Segments never overlap
 * as samsa writes them (a roll starts the new one at the old one's end),
 * so a segment file reaching into the next one's offsets is damage, and
 * reading on in it would give a second, different record for offsets that
 * the next segment holds. */
static int64_t
seg_limit(samsa_log *log, const segment *seg)
{
    return log_next_base(log, seg); /* the next one is not opened for it */
}

/* Make c->seg the segment to read next and c->pos a position in it at or
 * before the batch holding c->offset: 0, or 1 when c->offset was in a gap
 * of a log with gaps (log_config.gaps) that reaches the next segment's
 * base and moved there (the caller checks it against the end again). */
static int
cursor_locate(samsa_cursor *c)
{
    if (c->seg == NULL) {
        c->seg = log_segment_for(c->log, c->offset);
        if (c->seg == NULL)
            return SAMSA_EOFFSET;
        c->pos = segment_lookup(c->seg, c->offset, &c->expect);
        c->seg_end = seg_limit(c->log, c->seg);
    }
    while (c->pos >=
               atomic_load_explicit(&c->seg->size, memory_order_acquire) ||
           c->offset >= c->seg_end) {
        segment *next = log_segment_next(c->log, c->seg);
        /* A read-only log may have mapped c->seg's file again, larger
         * (log_follow.c): the segment holding the offset is then another
         * object for the same file.  Only that one: any other (c->seg
         * itself, or one before it when c->seg is an empty last segment
         * named past missing offsets) would go round for good. */
        if (next == NULL && c->log->follow != NULL &&
            (next = log_segment_for(c->log, c->offset)) != NULL &&
            (next == c->seg || next->base != c->seg->base)) {
            segment_unref(c->log->io, next);
            next = NULL;
        }
        if (next == NULL)
            return SAMSA_ECORRUPT; /* offset < end, yet no batch holds it */
        segment_unref(c->log->io, c->seg);
        c->seg = next;
        c->pos = segment_lookup(next, c->offset, &c->expect);
        c->seg_end = seg_limit(c->log, next);
        /* Offsets between a segment's last batch and the next one's base
         * are a gap in a compacted or adopted log (and missing records,
         * damage, in a dense one: cursor_enter_batch). */
        if (c->log->cfg.gaps && c->offset < next->base) {
            c->offset = next->base;
            return 1;
        }
    }
    return 0;
}

/* Enter the batch holding c->offset (or, in a log with gaps, the first
 * one after it): skip those before it, check its CRC and that it starts
 * where the batches before it end.  1: see cursor_locate.
 *
 * Dense logs: every batch starts at c->expect, the offset after the one
 * before it (or what the index entry or segment the scan started from
 * says).  baseOffset is outside the CRC, so this comparison is what vouches
 * for it.  A batch skipped unread is not CRC-checked: its length and
 * lastOffsetDelta only move the scan, and the next batch's header must then
 * agree with them, so damage there stops the scan with SAMSA_ECORRUPT
 * rather than mislead it.
 *
 * Logs with gaps: c->expect is the lowest offset the batch may start at
 * (batch_follows(), batch.h, says what that leaves unseen), and a
 * skipped batch's own base offset moves the scan: a base that went down
 * is caught as it is read, one that went up makes the scan enter a batch
 * early, whose CRC is then checked and whose records lie past the offset.
 * An offset inside a gap lands on the next record: the iterator returns
 * the batch's first record at or past it. */
static int
cursor_enter_batch(samsa_cursor *c)
{
    bool gaps = c->log->cfg.gaps;
    for (;;) {
        int rc = cursor_locate(c);
        if (rc != 0)
            return rc;
        /* A batch expected past the offset: the ones holding it are gone
         * (a segment cut short on disk); say so rather than skip them. */
        if (!gaps && c->expect > c->offset)
            return SAMSA_ECORRUPT;
        const uint8_t *p = c->seg->map + c->pos;
        uint64_t size = atomic_load(&c->seg->size);
        uint64_t avail = size - c->pos;
        batch_header h;
        if (batch_parse_header(p, avail, &h) != 0 ||
            (gaps && !batch_follows(&h, c->expect, true)))
            return SAMSA_ECORRUPT;
        uint64_t next = c->pos + BATCH_LOG_OVERHEAD + (uint64_t)h.length;
        int64_t first = gaps ? h.base_offset : c->expect;
        /* The header's own base cannot pass the largest offset (parse
         * checks), but a dense log's expected one comes from the segment's
         * file name: a batch there whose records would pass it is damage,
         * and the sums below would overflow. */
        if (first >= INT64_MAX - h.last_offset_delta)
            return SAMSA_ECORRUPT;
        if (first + h.last_offset_delta < c->offset) {
            c->pos = next; /* wholly before the offset: see above */
            c->expect = first + h.last_offset_delta + 1;
            continue;
        }
        if (!batch_follows(&h, c->expect, gaps) ||
            batch_verify_crc(p, &h) != 0 ||
            h.base_offset + h.last_offset_delta >= c->seg_end)
            return SAMSA_ECORRUPT;
        bool control = (h.attributes & BATCH_ATTR_CONTROL) != 0;
        c->zbatch = !control && (h.attributes & BATCH_ATTR_COMPRESSION) != 0;
        /* A batch that does not decompress leaves the cursor before it:
         * the next call says so again (seek past it to go on). */
        if (c->zbatch && !c->raw && (rc = cursor_inflate(c, p, &h)) != 0)
            return rc;
        c->batch_pos = c->pos;
        c->pos = next;
        /* The next batch, most likely as long as this one, comes from
         * memory while this one's records are read, and its CRC starts
         * warm.  A backlog of 100-byte records, 100 a batch, runs in
         * turn: 52.8 against 50.0 million records/s (medians) in
         * processes that found fast memory, no change resolved in the
         * others (35 either way). */
        if (next < size)
            batch_prefetch(c->seg->map + next,
                           (size_t)(next - c->batch_pos < size - next
                                        ? next - c->batch_pos
                                        : size - next));
        c->expect = h.base_offset + h.last_offset_delta + 1;
        if (control) {
            /* Transaction markers take offsets but are not records. */
            c->offset = h.base_offset + h.last_offset_delta + 1;
            continue;
        }
        if (!c->zbatch)
            batch_iter_init(&c->it, p, &h);
        c->in_batch = true;
        return 0;
    }
}

/* cursor_next_held() past the records of the batch it is in: entering
 * the next one, waiting at the end, and every error. */
static __attribute__((noinline)) int
cursor_next_on(samsa_cursor *c, samsa_message *msg, int timeout_ms)
{
    if (atomic_load(&c->log->deleted))
        return SAMSA_EDELETED;
    int64_t deadline = timeout_ms < 0 ? -1 : -2;
    for (;;) {
        /* Deleted below (retention, samsa_delete_records): say so, even in
         * the middle of a batch, rather than move on silently. */
        if (c->offset < atomic_load(&c->log->start))
            return SAMSA_EOFFSET;
        if (c->in_batch) {
            int rc = batch_iter_next(&c->it, msg);
            if (rc == 0 && msg->offset < c->offset)
                continue; /* before a seek target inside this batch */
            if (rc == 0) {
                msg->topic = c->topic;
                msg->partition = c->partition;
                c->offset = msg->offset + 1;
                c->zpinned |= c->zbatch;
                return 0;
            }
            c->in_batch = false;
            if (rc != 1)
                return rc;
        }
        if (c->offset >=
            atomic_load_explicit(&c->log->end, memory_order_acquire)) {
            if (timeout_ms == 0 && c->log->follow != NULL &&
                log_follow_refresh(c->log, false) == 0 &&
                c->offset < atomic_load(&c->log->end))
                continue; /* published meanwhile in the writer's process */
            if (timeout_ms == 0)
                return SAMSA_ETIMEDOUT;
            if (deadline == -2)
                deadline = samsa__deadline_after(timeout_ms);
            /* Read-only: the end moves in another process (log_follow.c). */
            int64_t began = samsa__now_ns();
            int64_t spin = store_spin_ns(c->s, &c->spin);
            int rc = c->log->follow != NULL
                         ? store_follow_wait(c->s, c->part, c->offset, deadline,
                                             spin)
                         : log_wait(c->log, c->offset, deadline, spin);
            store_spin_learn(c->s, &c->spin, began);
            if (rc != 0)
                return rc;
            continue;
        }
        int rc = cursor_enter_batch(c);
        if (rc == 1)
            continue; /* moved over a gap: the end may be reached */
        /* The segments holding the offset went after the check above
         * (the start is published before they are removed: log.c,
         * "Deleting"): deleted, not damaged. */
        if (rc == SAMSA_ECORRUPT && c->offset < atomic_load(&c->log->start))
            rc = SAMSA_EOFFSET;
        if (rc != 0)
            return rc;
    }
}

/* samsa_cursor_next() without its checks, keeping compressed batches'
 * buffers for the caller (see the top).  The next record of the batch it
 * is in is taken here, calling nothing else, so that the call per record
 * needs no stack frame (2026-12-05: cursor_next_on() was all of this,
 * 49 instructions a record); the rest is cursor_next_on()'s. */
int
cursor_next_held(samsa_cursor *c, samsa_message *msg, int timeout_ms)
{
    if (c->in_batch && !atomic_load(&c->log->deleted) &&
        c->offset >= atomic_load(&c->log->start) &&
        batch_iter_next(&c->it, msg) == 0) {
        if (msg->offset >= c->offset) {
            msg->topic = c->topic;
            msg->partition = c->partition;
            c->offset = msg->offset + 1;
            c->zpinned |= c->zbatch;
            return 0;
        }
        /* before a seek target inside this batch: cursor_next_on() goes
         * on past it as if it had taken it */
    }
    return cursor_next_on(c, msg, timeout_ms);
}

int
cursor_next_batch(samsa_cursor *c, const uint8_t **batch, size_t *len,
                  segment **hold)
{
    if (atomic_load(&c->log->deleted))
        return SAMSA_EDELETED;
    if (c->offset < atomic_load(&c->log->start))
        return SAMSA_EOFFSET;
    if (c->offset >= atomic_load_explicit(&c->log->end, memory_order_acquire))
        return SAMSA_ETIMEDOUT;
    c->in_batch = false;
    c->raw = true;
    int rc = cursor_enter_batch(c);
    c->raw = false;
    if (rc == SAMSA_ECORRUPT && c->offset < atomic_load(&c->log->start))
        rc = SAMSA_EOFFSET;
    if (rc != 0)
        return rc;
    /* The batch was checked as for records (its CRC, where it starts);
     * its records are the reader's to decode. */
    c->in_batch = false;
    *batch = c->seg->map + c->batch_pos;
    *len = c->pos - c->batch_pos;
    c->offset = c->expect;
    if (hold != NULL) { /* the mapping stays while the caller holds it */
        segment_ref(c->seg);
        *hold = c->seg;
    }
    return 0;
}

/* The last call's message is no longer held: release it, then go on.
 * Out of line, so that samsa_cursor_next() calls nothing but this and
 * cursor_next_held(), each its last act, and needs no stack frame. */
static __attribute__((noinline)) int
cursor_next_released(samsa_cursor *c, samsa_message *msg, int timeout_ms)
{
    cursor_release(c);
    return cursor_next_held(c, msg, timeout_ms);
}

SAMSA_API int
samsa_cursor_next(samsa_cursor *c, samsa_message *msg, int timeout_ms)
{
    if (c == NULL || msg == NULL || timeout_ms < -1)
        return SAMSA_EINVAL;
    if (c->nheld != 0 || c->zpinned)
        return cursor_next_released(c, msg, timeout_ms);
    return cursor_next_held(c, msg, timeout_ms);
}

SAMSA_API int
samsa_cursor_seek(samsa_cursor *c, int64_t offset)
{
    if (c == NULL || offset < SAMSA_OFFSET_BEGINNING)
        return SAMSA_EINVAL;
    if (atomic_load(&c->log->deleted))
        return SAMSA_EDELETED;
    if (c->log->follow != NULL) { /* the writer's start and end now */
        (void)store_follow_catalog(c->s, true);
        (void)log_follow_refresh(c->log, false);
    }
    int64_t start = atomic_load(&c->log->start);
    int64_t end = atomic_load(&c->log->end);
    if (offset == SAMSA_OFFSET_BEGINNING)
        offset = start;
    else if (offset == SAMSA_OFFSET_END)
        offset = end;
    if (offset < start || offset > end)
        return SAMSA_EOFFSET;
    cursor_reset(c, offset);
    return 0;
}

/* The first record of the batch at p (header h, CRC checked) in [from,
 * end) whose timestamp is >= ts: 0 and *out, or 1 when it has none. */
static int
batch_find_time(const uint8_t *p, const batch_header *h, int64_t ts,
                int64_t from, int64_t end, int64_t *out)
{
    batch_iter it;
    samsa_message m;
    codec_buf z = {0};
    int rc = 0;
    if (h->attributes & BATCH_ATTR_COMPRESSION) {
        rc = codec_decompress(
            h->attributes & BATCH_ATTR_COMPRESSION, p + BATCH_HEADER_SIZE,
            (size_t)h->length + BATCH_LOG_OVERHEAD - BATCH_HEADER_SIZE,
            INFLATE_MAX, &z);
        if (rc == 0)
            batch_iter_init_records(&it, h, z.data, z.len);
    } else
        batch_iter_init(&it, p, h);
    while (rc == 0 && (rc = batch_iter_next(&it, &m)) == 0)
        if (m.timestamp >= ts && m.offset >= from && m.offset < end) {
            *out = m.offset;
            break;
        }
    codec_buf_free(&z);
    return rc;
}

/* The offset of the first record in seg, in [from, end), whose timestamp
 * is >= ts (records below the log's start are deleted, though their
 * segment is not yet): 0 and *out set, or 1 when there is none there (*out then
 * gets the offset after the segment's last batch).  Every batch on the way is
 * checked (CRC, and its base offset against the one before) before its
 * maxTimestamp or attributes are believed: a damaged batch that might hold the
 * answer is SAMSA_ECORRUPT, never skipped. */
static int
find_time(segment *seg, int64_t ts, int64_t from, int64_t end, int64_t *out)
{
    bool gaps = seg->gaps;
    int64_t expect;
    uint64_t pos = segment_lookup_time(seg, ts, &expect);
    uint64_t size = atomic_load(&seg->size);
    batch_header h;
    while (pos < size && expect < end) {
        const uint8_t *p = seg->map + pos;
        if (batch_parse_header(p, size - pos, &h) != 0 ||
            !batch_follows(&h, expect, gaps) || batch_verify_crc(p, &h) != 0)
            return SAMSA_ECORRUPT;
        if (h.base_offset >= end)
            break; /* after a gap, past what is visible or this segment */
        if (h.max_timestamp >= ts && !(h.attributes & BATCH_ATTR_CONTROL)) {
            int rc = batch_find_time(p, &h, ts, from, end, out);
            if (rc != 1)
                return rc;
        }
        expect = h.base_offset + h.last_offset_delta + 1;
        pos += BATCH_LOG_OVERHEAD + (uint64_t)h.length;
    }
    *out = expect;
    return 1;
}

int
cursor_offset_for_time(samsa_log *log, int64_t ts, int64_t *out)
{
    if (atomic_load(&log->deleted))
        return SAMSA_EDELETED;
    int64_t end = atomic_load(&log->end), found = end;
    int64_t from = atomic_load(&log->start);
    int rc = 1;
    /* Segments are tried in order from the first whose largest timestamp
     * reaches ts; one that holds no such record below the visible end (its
     * max_ts may count records past the end, or damage) hands over to the
     * next. */
    segment *seg = log_segment_for_time(log, ts);
    while (seg != NULL && rc == 1) {
        int64_t after = end;
        int64_t limit = seg_limit(log, seg);
        rc = seg->base >= end
                 ? 0
                 : find_time(seg, ts, from, end < limit ? end : limit, &after);
        if (rc == 0 && seg->base >= end)
            rc = 1; /* the segment starts past the visible end */
        else if (rc == 0)
            found = after;
        segment *next = rc == 1 ? log_segment_next(log, seg) : NULL;
        /* Records missing between here and the next segment (or the end)
         * might have held the answer; in a log with gaps, they are a gap. */
        if (rc == 1 && !log->cfg.gaps &&
            after < (next != NULL ? next->base : end))
            rc = SAMSA_ECORRUPT;
        segment_unref(log->io, seg);
        if (rc != 1 && next != NULL)
            segment_unref(log->io, next);
        else
            seg = next;
    }
    if (rc == 0 || rc == 1)
        *out = found;
    return rc;
}

SAMSA_API int
samsa_cursor_seek_time(samsa_cursor *c, int64_t timestamp_ms)
{
    if (c == NULL || timestamp_ms < 0)
        return SAMSA_EINVAL;
    int64_t found;
    int rc = cursor_offset_for_time(c->log, timestamp_ms, &found);
    if (rc == 0 || rc == 1)
        cursor_reset(c, found);
    return rc == 1 ? 0 : rc;
}

SAMSA_API int
samsa_offsets_for_time(samsa *s, const char *topic_name, int32_t partition,
                       int64_t timestamp_ms, int64_t *offset)
{
    if (s == NULL || offset == NULL || timestamp_ms < 0)
        return SAMSA_EINVAL;
    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    topic *t;
    int rc = topic_lookup(s, topic_name, partition, false, &t);
    int64_t found = -1;
    if (rc == 0)
        rc = cursor_offset_for_time(t->parts[partition]->log, timestamp_ms,
                                    &found);
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    /* No record that late: -1, as Kafka's offsetsForTimes answers null. */
    if (rc == 0 || rc == 1)
        *offset = rc == 0 ? found : -1;
    return rc == 1 ? 0 : rc;
}

/* Forward hops within reach keep the segment and the batch being read:
 * cursor_enter_batch() and samsa_cursor_next() skip what lies before. */
const samsa_partition *
cursor_partition(const samsa_cursor *c)
{
    return c->part;
}

#define GOTO_REACH 4096

int
cursor_goto(samsa_cursor *c, int64_t offset)
{
    if (c->seg != NULL && offset >= c->offset &&
        offset - c->offset <= GOTO_REACH &&
        offset < atomic_load_explicit(&c->log->end, memory_order_acquire)) {
        c->offset = offset;
        return 0;
    }
    return samsa_cursor_seek(c, offset);
}

SAMSA_API int64_t
samsa_cursor_offset(const samsa_cursor *c)
{
    return c == NULL ? SAMSA_EINVAL : c->offset;
}

SAMSA_API int
samsa_cursor_open(samsa *s, const char *topic_name, int32_t partition,
                  int64_t start, samsa_cursor **out)
{
    if (s == NULL || out == NULL)
        return SAMSA_EINVAL;
    samsa_cursor *c = calloc(1, sizeof *c);
    if (c == NULL)
        return SAMSA_ENOMEM;
    c->s = s;
    /* Read-only: a topic the writer created since is in the catalog. */
    if (s->rdonly)
        (void)store_follow_catalog(s, false);
    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    topic *t;
    int rc = topic_lookup(s, topic_name, partition, false, &t);
    if (rc == SAMSA_ENOTOPIC && s->rdonly) {
        samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
        (void)store_follow_catalog(s, true);
        samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
        rc = topic_lookup(s, topic_name, partition, false, &t);
    }
    if (rc == 0 && (c->topic = strdup(topic_name)) == NULL)
        rc = SAMSA_ENOMEM;
    if (rc == 0) {
        c->part = t->parts[partition];
        partition_ref(c->part);
        c->log = c->part->log;
        c->partition = partition;
    }
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    if (rc == 0)
        rc = samsa_cursor_seek(c, start);
    if (rc != 0) {
        samsa_cursor_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

SAMSA_API int
samsa_cursor_close(samsa_cursor *c)
{
    if (c == NULL)
        return 0;
    if (c->log != NULL) {
        segment_unref(c->log->io, c->seg);
        partition_unref(c->part);
    }
    cursor_release(c);
    free(c->held);
    codec_buf_free(&c->zbuf);
    free(c->topic);
    free(c);
    return 0;
}

SAMSA_API int
samsa_message_header(const samsa_message *msg, size_t i, const char **key,
                     size_t *key_len, const void **value, size_t *value_len)
{
    if (msg == NULL || key == NULL || key_len == NULL || value == NULL ||
        value_len == NULL || i >= msg->header_count)
        return SAMSA_EINVAL;
    return batch_record_header(msg, i, key, key_len, value, value_len);
}

SAMSA_API int
samsa_message_header_next(const samsa_message *msg, size_t *pos,
                          const char **key, size_t *key_len, const void **value,
                          size_t *value_len)
{
    if (msg == NULL || pos == NULL || key == NULL || key_len == NULL ||
        value == NULL || value_len == NULL)
        return SAMSA_EINVAL;
    return batch_record_header_next(msg, pos, key, key_len, value, value_len);
}
