/*
 * cursor.c - samsa_cursor_*: reading one partition in offset order.
 *
 * A cursor holds a reference on its log (so a deleted topic's log outlives
 * it) and on the segment it reads (so the mapping stays valid while the
 * caller holds a message that points into it).  It takes no lock on the data
 * path: it reads only offsets below the log's published end, and everything
 * below that is immutable (log.h).  Each batch's CRC is checked when the
 * cursor enters it, before any record of it is returned.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "queue.h"

struct samsa_cursor {
    samsa_log *log;    /* referenced                                        */
    char *topic;       /* the topic's name, for samsa_message.topic         */
    int32_t partition; /* the partition                                     */
    int64_t offset;    /* the next offset to return                         */
    segment *seg;      /* referenced; holds offset, or NULL: look it up     */
    int64_t seg_end;   /* seg_limit() of seg                                */
    bool indexed;      /* pos came from the index and no batch was entered
                          since: damage found there may be the index's    */
    uint64_t pos;      /* in seg: the next batch to enter                   */
    batch_iter it;     /* the batch being returned, when in_batch           */
    bool in_batch;     /* it has records left to look at                    */
};

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
    segment *next = log_segment_next(log, seg);
    int64_t limit = next != NULL ? next->base : INT64_MAX;
    segment_unref(log->io, next);
    return limit;
}

/* Make c->seg the segment to read next and c->pos a position in it at or
 * before the batch holding c->offset. */
static int
cursor_locate(samsa_cursor *c)
{
    if (c->seg == NULL) {
        c->seg = log_segment_for(c->log, c->offset);
        if (c->seg == NULL)
            return SAMSA_EOFFSET;
        c->pos = segment_lookup(c->seg, c->offset);
        c->indexed = c->pos != 0;
        c->seg_end = seg_limit(c->log, c->seg);
    }
    while (c->pos >=
               atomic_load_explicit(&c->seg->size, memory_order_acquire) ||
           c->offset >= c->seg_end) {
        segment *next = log_segment_next(c->log, c->seg);
        if (next == NULL)
            return SAMSA_ECORRUPT; /* offset < end, yet no batch holds it */
        segment_unref(c->log->io, c->seg);
        c->seg = next;
        c->pos = segment_lookup(next, c->offset);
        c->indexed = c->pos != 0;
        c->seg_end = seg_limit(c->log, next);
    }
    return 0;
}

/* Damage met at c->pos: when the position came from the index, the index
 * file may be what is damaged (it is checked at open, but not entry by
 * entry), so walk again from the segment's start, which costs a scan and
 * never a record; otherwise SAMSA_ECORRUPT. */
static int
cursor_damage(samsa_cursor *c)
{
    if (!c->indexed)
        return SAMSA_ECORRUPT;
    c->indexed = false;
    c->pos = 0;
    return 0;
}

/* Enter the batch holding c->offset: skip those before it, check its CRC. */
static int
cursor_enter_batch(samsa_cursor *c)
{
    for (;;) {
        int rc = cursor_locate(c);
        if (rc != 0)
            return rc;
        const uint8_t *p = c->seg->map + c->pos;
        uint64_t avail = atomic_load(&c->seg->size) - c->pos;
        batch_header h;
        /* Offsets are dense: a batch starting past the offset means the
         * batches holding it are gone (a segment cut short on disk); say
         * so rather than skip them. */
        if (batch_parse_header(p, avail, &h) != 0 ||
            h.base_offset > c->offset) {
            if ((rc = cursor_damage(c)) != 0)
                return rc;
            continue;
        }
        uint64_t next = c->pos + BATCH_LOG_OVERHEAD + (uint64_t)h.length;
        if (h.base_offset + h.last_offset_delta < c->offset) {
            c->pos = next; /* wholly before the offset: no need to check it */
            continue;
        }
        if (batch_verify_crc(p, &h) != 0) {
            /* Its lastOffsetDelta is inside the failed CRC, so its claim to
             * hold the offset is unproven: a batch after it that starts at
             * or before the offset shows the claim was the damage. */
            batch_header nh;
            uint64_t size = atomic_load(&c->seg->size);
            if (next < size &&
                batch_parse_header(c->seg->map + next, size - next, &nh) == 0 &&
                nh.base_offset > h.base_offset && nh.base_offset <= c->offset) {
                c->pos = next;
                continue;
            }
            if ((rc = cursor_damage(c)) != 0)
                return rc;
            continue;
        }
        if (h.base_offset + h.last_offset_delta >= c->seg_end)
            return SAMSA_ECORRUPT;
        c->indexed = false;
        if (h.attributes & BATCH_ATTR_COMPRESSION)
            return SAMSA_ENOTSUP;
        c->pos = next;
        if (h.attributes & BATCH_ATTR_CONTROL) {
            /* Transaction markers take offsets but are not records. */
            c->offset = h.base_offset + h.last_offset_delta + 1;
            continue;
        }
        batch_iter_init(&c->it, p, &h);
        c->in_batch = true;
        return 0;
    }
}

SAMSA_API int
samsa_cursor_next(samsa_cursor *c, samsa_message *msg, int timeout_ms)
{
    if (c == NULL || msg == NULL || timeout_ms < -1)
        return SAMSA_EINVAL;
    if (atomic_load(&c->log->deleted))
        return SAMSA_EDELETED;
    int64_t deadline = timeout_ms < 0 ? -1 : -2;
    for (;;) {
        if (c->in_batch) {
            int rc = batch_iter_next(&c->it, msg);
            if (rc == 0 && msg->offset < c->offset)
                continue; /* before a seek target inside this batch */
            if (rc == 0) {
                msg->topic = c->topic;
                msg->partition = c->partition;
                c->offset = msg->offset + 1;
                return 0;
            }
            c->in_batch = false;
            if (rc != 1)
                return rc;
        }
        if (c->offset < atomic_load(&c->log->start))
            return SAMSA_EOFFSET;
        if (c->offset >=
            atomic_load_explicit(&c->log->end, memory_order_acquire)) {
            if (timeout_ms == 0)
                return SAMSA_ETIMEDOUT;
            if (deadline == -2)
                deadline = samsa__deadline_after(timeout_ms);
            int rc = log_wait(c->log, c->offset, deadline);
            if (rc != 0)
                return rc;
            continue;
        }
        int rc = cursor_enter_batch(c);
        if (rc != 0)
            return rc;
    }
}

SAMSA_API int
samsa_cursor_seek(samsa_cursor *c, int64_t offset)
{
    if (c == NULL || offset < SAMSA_OFFSET_BEGINNING)
        return SAMSA_EINVAL;
    if (atomic_load(&c->log->deleted))
        return SAMSA_EDELETED;
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

/* The offset of the first record at or after pos in seg, below end, whose
 * timestamp is >= ts; end when there is none there. */
static int
find_time(segment *seg, int64_t ts, int64_t end, int64_t *out)
{
    uint64_t pos = segment_lookup_time(seg, ts);
    uint64_t size = atomic_load(&seg->size);
    int64_t floor = seg->base; /* no batch here starts below it */
    bool indexed = pos != 0;   /* as samsa_cursor.indexed */
    batch_header h;
    *out = end;
    while (pos < size) {
        const uint8_t *p = seg->map + pos;
        /* baseOffset is outside the CRC: one below the segment or the
         * batch before is damage, not an answer to give. */
        if (batch_parse_header(p, size - pos, &h) != 0 ||
            h.base_offset < floor) {
            if (!indexed)
                return SAMSA_ECORRUPT;
            indexed = false; /* the time index may be the damage */
            pos = 0;
            floor = seg->base;
            continue;
        }
        if (h.base_offset >= end)
            break;
        floor = h.base_offset + h.last_offset_delta + 1;
        if (h.max_timestamp >= ts && !(h.attributes & BATCH_ATTR_CONTROL)) {
            if (batch_verify_crc(p, &h) != 0)
                return SAMSA_ECORRUPT;
            if (h.attributes & BATCH_ATTR_COMPRESSION)
                return SAMSA_ENOTSUP;
            batch_iter it;
            samsa_message m;
            int rc;
            batch_iter_init(&it, p, &h);
            while ((rc = batch_iter_next(&it, &m)) == 0)
                if (m.timestamp >= ts) {
                    *out = m.offset;
                    return 0;
                }
            if (rc != 1)
                return rc;
        }
        pos += BATCH_LOG_OVERHEAD + (uint64_t)h.length;
    }
    return 0;
}

SAMSA_API int
samsa_cursor_seek_time(samsa_cursor *c, int64_t timestamp_ms)
{
    if (c == NULL || timestamp_ms < 0)
        return SAMSA_EINVAL;
    if (atomic_load(&c->log->deleted))
        return SAMSA_EDELETED;
    int64_t end = atomic_load(&c->log->end), found = end;
    int rc = 0;
    /* Segments are tried in order; the first whose largest timestamp
     * reaches ts holds the answer unless its only such records lie past the
     * visible end, in which case no later one can be visible either. */
    segment *seg = log_segment_for_time(c->log, timestamp_ms);
    if (seg != NULL) {
        int64_t limit = seg_limit(c->log, seg);
        rc = find_time(seg, timestamp_ms, end < limit ? end : limit, &found);
        segment_unref(c->log->io, seg);
    }
    if (rc == 0)
        cursor_reset(c, found);
    return rc;
}

/* Forward hops within reach keep the segment and the batch being read:
 * cursor_enter_batch() and samsa_cursor_next() skip what lies before. */
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
    pthread_rwlock_rdlock(&s->table_lock);
    topic *t;
    int rc = topic_lookup(s, topic_name, partition, false, &t);
    if (rc == 0 && (c->topic = strdup(topic_name)) == NULL)
        rc = SAMSA_ENOMEM;
    if (rc == 0) {
        c->log = t->parts[partition];
        log_ref(c->log);
        c->partition = partition;
    }
    pthread_rwlock_unlock(&s->table_lock);
    if (rc == 0)
        rc = samsa_cursor_seek(c, start);
    if (rc != 0) {
        samsa_cursor_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

SAMSA_API void
samsa_cursor_close(samsa_cursor *c)
{
    if (c == NULL)
        return;
    if (c->log != NULL) {
        segment_unref(c->log->io, c->seg);
        log_unref(c->log);
    }
    free(c->topic);
    free(c);
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
