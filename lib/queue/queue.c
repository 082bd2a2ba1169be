/*
 * queue.c - samsa_queue_*: share groups, after Kafka's KIP-932.
 *
 * A receiver (samsa_queue) belongs to a group (qgroup) on one topic; the
 * group has one share-partition (qpart) per partition, shared by all its
 * receivers: there is no partition ownership.  A receive acquires records
 * under each qpart's lock, in turn from the partition after the one the
 * receiver's last call started at (so receivers spread over partitions):
 *
 *   1. locks that expired are released (checked only once the earliest
 *      lock may have expired: qpart.expiry is a lower bound);
 *   2. AVAILABLE records in the window, in offset order (redeliveries
 *      first); one that was delivered max_attempts times is archived
 *      instead (dead-lettered, then written as ARCHIVED);
 *   3. new records from `next` up to the log end, at most
 *      QUEUE_MAX_INFLIGHT past `start`.
 *
 * Each acquisition is written to the journal before the window changes
 * (queue_state.c), so its delivery count survives a crash.  The records
 * are then read outside the lock, through the receiver's own cursor on the
 * partition, and copied into the receiver's arena: a delivery stays valid
 * until the receiver's next receive, whatever happens to the segment.
 *
 * Invariants: a record is ACQUIRED by at most one receiver (holder), and
 * only that receiver's acknowledgement, before the lock expires, moves it;
 * every state change happens under its qpart's lock.  Acknowledging checks
 * all records before it changes any.
 *
 * Waiting.  A receive that finds nothing watches the store's event counter
 * (notify.c) and sleeps until a produce, a release or a topic change bumps
 * it, or until the earliest lock of the group may expire, or the timeout.
 *
 * Closing.  Every call on a receiver holds its lock around its check of
 * `detached` and its store_enter(); samsa_close(), once the gate has
 * drained, detaches every receiver under that lock (queue_store_close), so
 * no call of a receiver touches a store being freed.  A detached receiver's
 * calls return SAMSA_ECLOSED, and samsa_queue_close() only frees it.
 */
#include <stdio.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue.h"

#define DEFAULT_LOCK_MS      30000 /* share.record.lock.duration.ms */
#define DEFAULT_MAX_ATTEMPTS 5     /* group.share.delivery.count.limit */
#define ARENA_CHUNK          (64u << 10)
#define ARCHIVE_PER_CALL     32 /* archived records one acquisition handles */

/* ---- the arena ------------------------------------------------------------
 */

static void *
arena_alloc(samsa_queue *q, size_t len)
{
    chunk **p = &q->chunks;
    for (; *p != NULL; p = &(*p)->next)
        if ((*p)->cap - (*p)->used >= len) {
            void *r = (*p)->data + (*p)->used;
            (*p)->used += len;
            return r;
        }
    size_t cap = len > ARENA_CHUNK ? len : ARENA_CHUNK;
    chunk *c = malloc(sizeof *c + cap);
    if (c == NULL)
        return NULL;
    c->next = NULL;
    c->cap = cap;
    c->used = len;
    *p = c;
    return c->data;
}

static void
arena_reset(samsa_queue *q)
{
    for (chunk *c = q->chunks; c != NULL; c = c->next)
        c->used = 0;
}

/* Copy a record's bytes (key, value, headers: contiguous in the batch)
 * into the arena and point m at the copy. */
static int
message_copy(samsa_queue *q, samsa_message *m)
{
    const uint8_t *lo = m->headers_, *hi = m->headers_end_;
    if (m->value != NULL && (const uint8_t *)m->value < lo)
        lo = m->value;
    if (m->key != NULL && (const uint8_t *)m->key < lo)
        lo = m->key;
    uint8_t *copy = arena_alloc(q, (size_t)(hi - lo) + 1);
    if (copy == NULL)
        return SAMSA_ENOMEM;
    memcpy(copy, lo, (size_t)(hi - lo));
    if (m->key != NULL)
        m->key = copy + ((const uint8_t *)m->key - lo);
    if (m->value != NULL)
        m->value = copy + ((const uint8_t *)m->value - lo);
    m->headers_ = copy + ((const uint8_t *)m->headers_ - lo);
    m->headers_end_ = copy + (hi - lo);
    m->topic = q->g->topic;
    return 0;
}

/* Read the record at offset of partition p through q's cursor (pointing
 * into the segment until the cursor moves).  1: offset is a gap of a
 * partition whose offsets may skip (log_config.gaps: an adopted Kafka log,
 * a compacted topic), no record; elsewhere a missing record is damage.
 * 2: the record was deleted (samsa_delete_records, retention) since its
 * share-partition's lock was let go: no record either, as the window
 * will skip it, not an error of the receive or acknowledgement that
 * raced the deletion (and the cursor's offset says nothing of the
 * offsets after it). */
static int
record_read(samsa_queue *q, int32_t p, int64_t offset, samsa_message *m)
{
    samsa_log *log = q->g->parts[p].log;
    bool gaps = log->cfg.gaps;
    int rc = 0;
    if (q->cursors[p] == NULL)
        rc = samsa_cursor_open(q->s, q->g->topic, p, SAMSA_OFFSET_BEGINNING,
                               &q->cursors[p]);
    if (rc == 0)
        rc = cursor_goto(q->cursors[p], offset);
    if (rc == 0)
        rc = samsa_cursor_next(q->cursors[p], m, 0);
    if (rc == SAMSA_EOFFSET && offset < atomic_load(&log->start))
        return 2;
    if (gaps && (rc == SAMSA_ETIMEDOUT || (rc == 0 && m->offset > offset)))
        return 1; /* the cursor went on to the next record, or the end */
    if (rc == 0 && m->offset != offset)
        rc = SAMSA_ECORRUPT; /* samsa writes no control batches */
    return rc == SAMSA_ETIMEDOUT ? SAMSA_ECORRUPT : rc;
}

/* ---- dead letters ---------------------------------------------------------
 */

/* Finish record offset as state (REJECTED or ARCHIVED): write it to the
 * dead-letter topic first, then the state.  A crash between the two
 * delivers it again, so a dead letter may be written twice, never lost. */
static int
dead_letter(samsa_queue *q, qpart *qp, int64_t offset, uint8_t state)
{
    qgroup *g = q->g;
    qrec *r = qstate_rec(qp, offset);
    uint16_t count = r->count;
    int rc = 0;
    samsa_message m;
    /* A gap (record_read's 1) reached its attempts by crashes before it
     * was archived: no record, so no dead letter, just the state; so for
     * a record deleted since the caller's checks (2). */
    if (g->dlq != NULL && (rc = record_read(q, qp->partition, offset, &m)) < 0)
        return rc;
    if (g->dlq != NULL && rc == 0) {
        size_t nh = m.header_count + 5;
        samsa_header *h;
        char num[3][24];
        /* A key with a NUL byte in it (an adopted Kafka log's) ends
         * there: a samsa_header's key is a string. */
        if ((rc = batch_record_headers_copy(&m, 5, true, &h)) != 0)
            return rc;
        snprintf(num[0], sizeof num[0], "%d", (int)qp->partition);
        snprintf(num[1], sizeof num[1], "%lld", (long long)offset);
        snprintf(num[2], sizeof num[2], "%u", (unsigned)count);
        const char *reason = state == QS_REJECTED ? "rejected" : "max-attempts";
        samsa_header *x = h + m.header_count;
        x[0] = (samsa_header){.key = SAMSA_DLQ_TOPIC,
                              .value = g->topic,
                              .value_len = strlen(g->topic)};
        x[1] = (samsa_header){.key = SAMSA_DLQ_PARTITION,
                              .value = num[0],
                              .value_len = strlen(num[0])};
        x[2] = (samsa_header){.key = SAMSA_DLQ_OFFSET,
                              .value = num[1],
                              .value_len = strlen(num[1])};
        x[3] = (samsa_header){.key = SAMSA_DLQ_COUNT,
                              .value = num[2],
                              .value_len = strlen(num[2])};
        x[4] = (samsa_header){.key = SAMSA_DLQ_REASON,
                              .value = reason,
                              .value_len = strlen(reason)};
        samsa_record rec = {.key = m.key,
                            .key_len = m.key_len,
                            .value = m.value,
                            .value_len = m.value_len,
                            .headers = h,
                            .header_count = nh,
                            .timestamp = m.timestamp};
        if (rc == 0)
            rc = samsa_produce(q->s, g->dlq, SAMSA_PARTITION_ANY, &rec, 1);
        free(h);
        if (rc != 0)
            return rc;
    }
    return qstate_set(q->s, g, qp, offset, 1, state, count);
}

/* ---- acquiring ------------------------------------------------------------
 */

/* Release the locks that expired by now; recompute the expiry bound. */
static void
expire_locks(samsa *s, qgroup *g, qpart *qp, int64_t now)
{
    int64_t bound = INT64_MAX;
    bool released = false;
    for (int64_t o = qp->start; o < qp->next; o++) {
        qrec *r = qstate_rec(qp, o);
        if (r->state != QS_ACQUIRED)
            continue;
        if (r->expires <= now) {
            (void)qstate_set(s, g, qp, o, 1, QS_AVAILABLE, r->count);
            released = true;
        } else if (r->expires < bound)
            bound = r->expires;
    }
    atomic_store(&qp->expiry, bound);
    if (released)
        store_notify(s);
}

/* Acquire up to room records of qp for q: out[] gets their offsets (in
 * msg.offset) and counts; *archived[] the offsets archived on the way. */
static int
acquire(samsa_queue *q, qpart *qp, samsa_delivery *out, size_t room,
        size_t *got, int64_t *archived, uint16_t *counts, size_t *narchived)
{
    samsa *s = q->s;
    qgroup *g = q->g;
    int rc = 0;
    *got = 0;
    int64_t now = samsa__now_ns();
    int64_t until = now + (int64_t)g->cfg.lock_ms * 1000000;
    if ((rc = qstate_skip_deleted(s, g, qp, false)) != 0)
        return rc;
    if (now >= atomic_load(&qp->expiry))
        expire_locks(s, g, qp, now);
    for (int64_t o = qp->start; qp->navail > 0 && o < qp->next; o++) {
        qrec *r = qstate_rec(qp, o);
        if (r->state != QS_AVAILABLE)
            continue;
        if (r->count >= g->cfg.max_attempts) {
            if (*narchived == ARCHIVE_PER_CALL)
                break;
            uint16_t count = r->count;
            if ((rc = dead_letter(q, qp, o, QS_ARCHIVED)) != 0)
                return rc;
            counts[*narchived] = count;
            archived[(*narchived)++] = o;
            if (o < qp->start) /* start moved past it */
                o = qp->start - 1;
            continue;
        }
        if (*got == room)
            break;
        rc = qstate_set(s, g, qp, o, 1, QS_ACQUIRED, (uint16_t)(r->count + 1));
        if (rc != 0)
            return rc;
        r = qstate_rec(qp, o); /* the window may have moved */
        r->holder = q->id;
        r->expires = until;
        out[*got].msg.offset = o;
        out[(*got)++].delivery_count = r->count;
    }
    int64_t end = atomic_load_explicit(&qp->log->end, memory_order_acquire);
    int64_t limit = qp->start + QUEUE_MAX_INFLIGHT;
    /* room may be past INT64_MAX (a max of SIZE_MAX): compared unsigned,
     * never cast, which made it negative and offered nothing new. */
    int64_t k = (end < limit ? end : limit) - qp->next;
    if (k > 0 && room - *got < (uint64_t)k)
        k = (int64_t)(room - *got);
    if (k > 0) {
        int64_t first = qp->next;
        rc = qstate_reserve(qp, first + k);
        if (rc == 0)
            rc = qstate_set(s, g, qp, first, (uint32_t)k, QS_ACQUIRED, 1);
        for (int64_t o = first; rc == 0 && o < first + k; o++) {
            qrec *r = qstate_rec(qp, o);
            r->holder = q->id;
            r->expires = until;
            out[*got].msg.offset = o;
            out[(*got)++].delivery_count = 1;
        }
    }
    if (*got > 0 && until < atomic_load(&qp->expiry))
        atomic_store(&qp->expiry, until);
    return rc;
}

/* Give back records q holds (after a failed read, or at close). */
static void
release_held(samsa_queue *q, qpart *qp, const samsa_delivery *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t o = d[i].msg.offset;
        if (o < qp->start || o >= qp->next)
            continue;
        qrec *r = qstate_rec(qp, o);
        if (r->state == QS_ACQUIRED && r->holder == q->id)
            (void)qstate_set(q->s, q->g, qp, o, 1, QS_AVAILABLE, r->count);
    }
}

static void
notify_done(samsa *s, qgroup *g, int32_t p, const int64_t *offs,
            const uint16_t *counts, size_t n, int outcome)
{
    if (atomic_load(&s->ack_watchers) == 0)
        return;
    for (size_t i = 0; i < n; i++)
        ackwait_notify(s, g->name, g->topic, p, offs[i], outcome, counts[i]);
}

/* Offsets of a partition with gaps that hold no record were acquired as
 * if they did (the window counts offsets): each of out[0..n) marked a
 * gap (delivery count 0, which no delivery has) is archived, as Kafka's
 * share groups acknowledge a gap (GAP, which makes it ARCHIVED), and
 * dropped from out; *n gets the rest.  Nobody is told: no record was
 * sent, so none was finished. */
static int
archive_gaps(samsa_queue *q, qpart *qp, samsa_delivery *out, size_t *n)
{
    int rc = 0;
    size_t kept = 0;
    samsa__lock_nth(&qp->lock, SAMSA_RANK_QPART, qp->partition);
    for (size_t i = 0; i < *n; i++) {
        int64_t o = out[i].msg.offset;
        if (out[i].delivery_count != 0) {
            out[kept++] = out[i];
            continue;
        }
        if (rc != 0 || QPART_DELETED(qp) || o < qp->start || o >= qp->next)
            continue;
        qrec *r = qstate_rec(qp, o);
        if (r->state == QS_ACQUIRED && r->holder == q->id)
            rc = qstate_set(q->s, q->g, qp, o, 1, QS_ARCHIVED, r->count);
    }
    samsa__unlock_nth(&qp->lock, SAMSA_RANK_QPART, qp->partition);
    *n = kept;
    return rc;
}

/* One look at a partition: acquire, read; *gaps gets the offsets found
 * to be gaps (archived). */
static int
receive_look(samsa_queue *q, qpart *qp, samsa_delivery *out, size_t room,
             size_t *got, size_t *gaps)
{
    int64_t archived[ARCHIVE_PER_CALL];
    uint16_t counts[ARCHIVE_PER_CALL]; /* their delivery counts */
    size_t narchived = 0;
    *got = 0;
    if (QPART_DELETED(qp))
        return SAMSA_EDELETED;
    samsa__lock_nth(&qp->lock, SAMSA_RANK_QPART, qp->partition);
    if (QPART_DELETED(qp)) { /* its window may be gone */
        samsa__unlock_nth(&qp->lock, SAMSA_RANK_QPART, qp->partition);
        return SAMSA_EDELETED;
    }
    int rc = acquire(q, qp, out, room, got, archived, counts, &narchived);
    if (rc != 0)
        release_held(q, qp, out, *got);
    samsa__unlock_nth(&qp->lock, SAMSA_RANK_QPART, qp->partition);
    notify_done(q->s, q->g, qp->partition, archived, counts, narchived,
                SAMSA_ACK_ARCHIVED);
    *gaps = 0;
    int64_t gap_end = -1; /* offsets below it (from a gap on) hold none */
    for (size_t i = 0; rc == 0 && i < *got; i++) {
        int32_t count = out[i].delivery_count;
        int64_t o = out[i].msg.offset;
        rc = o < gap_end ? 1 : record_read(q, qp->partition, o, &out[i].msg);
        /* The cursor went on to the next record: what lies between is the
         * same gap, not read again. */
        if (rc == 1 && o >= gap_end)
            gap_end = q->cursors[qp->partition] != NULL
                          ? samsa_cursor_offset(q->cursors[qp->partition]) - 1
                          : -1;
        if (rc == 2) /* deleted meanwhile: no record, as a gap */
            rc = 1;
        if (rc == 1) { /* see record_read */
            (*gaps)++;
            out[i].msg.offset = o;
            count = 0; /* archive_gaps' mark */
            rc = 0;
        } else if (rc == 0)
            rc = message_copy(q, &out[i].msg);
        out[i].delivery_count = count;
        out[i].reserved32 = 0;
    }
    if (rc == 0 && *gaps > 0)
        rc = archive_gaps(q, qp, out, got);
    if (rc != 0 && *got > 0) {
        samsa__lock_nth(&qp->lock, SAMSA_RANK_QPART, qp->partition);
        if (!QPART_DELETED(qp))
            release_held(q, qp, out, *got);
        samsa__unlock_nth(&qp->lock, SAMSA_RANK_QPART, qp->partition);
        store_notify(q->s);
    }
    if (rc != 0)
        *got = 0;
    return rc;
}

/* One partition's turn in a receive: looks again while it finds only gaps
 * (a compacted stretch may take many looks; each archives what it saw,
 * so the window moves on). */
static int
receive_from(samsa_queue *q, qpart *qp, samsa_delivery *out, size_t room,
             size_t *got)
{
    size_t gaps;
    int rc;
    do
        rc = receive_look(q, qp, out, room, got, &gaps);
    while (rc == 0 && *got == 0 && gaps > 0);
    return rc;
}

/* One look at every partition, starting after the last call's start.  A
 * failure gives back what earlier partitions delivered in this look: the
 * call reports the error with *n 0, so nothing may stay acquired. */
static int
receive_once(samsa_queue *q, samsa_delivery *out, size_t max, size_t *n)
{
    qgroup *g = q->g;
    int32_t p = q->rr;
    q->rr = (q->rr + 1) % g->nparts;
    for (int32_t i = 0; i < g->nparts && *n < max; i++) {
        size_t got;
        int rc = receive_from(q, &g->parts[p], out + *n, max - *n, &got);
        if (rc != 0) {
            for (size_t k = 0; k < *n; k++) {
                qpart *qp = &g->parts[out[k].msg.partition];
                samsa__lock_nth(&qp->lock, SAMSA_RANK_QPART, qp->partition);
                if (!QPART_DELETED(qp))
                    release_held(q, qp, &out[k], 1);
                samsa__unlock_nth(&qp->lock, SAMSA_RANK_QPART, qp->partition);
            }
            if (*n > 0)
                store_notify(q->s);
            *n = 0;
            return rc;
        }
        *n += got;
        p = (p + 1) % g->nparts;
    }
    return 0;
}

/* The earliest moment a lock of the group may expire, or -1. */
static int64_t
group_expiry(const qgroup *g)
{
    int64_t e = INT64_MAX;
    for (int32_t p = 0; p < g->nparts; p++) {
        int64_t x = atomic_load(&g->parts[p].expiry);
        e = x < e ? x : e;
    }
    return e == INT64_MAX ? -1 : e;
}

static int
receive_wait(samsa_queue *q, samsa_delivery *out, size_t max, size_t *n,
             int timeout_ms)
{
    samsa *s = q->s;
    if (atomic_exchange(&q->wakeup, false))
        return SAMSA_EWAKEUP;
    int rc = receive_once(q, out, max, n);
    if (rc != 0 || *n > 0 || timeout_ms == 0)
        return rc != 0 ? rc : *n > 0 ? 0 : SAMSA_ETIMEDOUT;
    int64_t deadline = samsa__deadline_after(timeout_ms);
    uint64_t seen = store_watch(s);
    for (;;) {
        if ((rc = receive_once(q, out, max, n)) != 0 || *n > 0)
            break;
        /* After store_watch(): a wakeup either set the flag before this
         * load, or saw the watcher and bumps the events (notify.c). */
        if (atomic_exchange(&q->wakeup, false)) {
            rc = SAMSA_EWAKEUP;
            break;
        }
        int64_t wake = deadline, e = group_expiry(q->g);
        if (e >= 0 && (wake < 0 || e < wake))
            wake = e;
        rc = store_wait(s, seen, wake, &q->spin);
        if (rc == SAMSA_ETIMEDOUT && wake != deadline)
            rc = 0; /* a lock may have expired: look */
        if (rc != 0)
            break;
        seen = atomic_load(&s->events);
    }
    store_unwatch(s);
    return rc;
}

SAMSA_API int
samsa_queue_receive(samsa_queue *q, samsa_delivery *out, size_t max, size_t *n,
                    int timeout_ms)
{
    if (n != NULL)
        *n = 0;
    if (q == NULL || out == NULL || n == NULL || max == 0 || timeout_ms < -1)
        return SAMSA_EINVAL;
    samsa__lock(&q->lock, SAMSA_RANK_RECEIVER);
    int rc = q->detached ? SAMSA_ECLOSED : store_enter(q->s);
    if (rc == 0) {
        arena_reset(q);
        rc = receive_wait(q, out, max, n, timeout_ms);
        store_leave(q->s);
    }
    samsa__unlock(&q->lock, SAMSA_RANK_RECEIVER);
    return rc;
}

SAMSA_API int
samsa_queue_wakeup(samsa_queue *q)
{
    if (q == NULL)
        return SAMSA_EINVAL;
    atomic_store(&q->wakeup, true);
    /* Not q->lock: a blocked receive holds it.  wake_lock keeps the store
     * alive (queue_store_close sets gone under it before the store goes). */
    samsa__lock(&q->wake_lock, SAMSA_RANK_WAKE);
    bool gone = q->gone;
    if (!gone)
        store_notify(q->s);
    samsa__unlock(&q->wake_lock, SAMSA_RANK_WAKE);
    return gone ? SAMSA_ECLOSED : 0;
}

/* ---- acknowledging --------------------------------------------------------
 */

/* Check that q holds every record of d[] in qp (locked). */
static int
ack_check(samsa_queue *q, qpart *qp, const samsa_delivery *d, size_t n,
          int64_t now)
{
    if (QPART_DELETED(qp))
        return SAMSA_EDELETED;
    /* Records the log no longer holds are not held, even before a receive
     * moves the window past them (qstate_skip_deleted): a reject could
     * not read one for its dead letter, and an accept would finish it or
     * not as other receivers happened to call. */
    int64_t log_start = atomic_load(&qp->log->start);
    for (size_t i = 0; i < n; i++) {
        if (d[i].msg.partition != qp->partition)
            continue;
        int64_t o = d[i].msg.offset;
        if (o < qp->start || o >= qp->next || o < log_start)
            return SAMSA_ENOTACQUIRED;
        qrec *r = qstate_rec(qp, o);
        if (r->state != QS_ACQUIRED || r->holder != q->id ||
            r->expires <= now || r->count != d[i].delivery_count)
            return SAMSA_ENOTACQUIRED;
    }
    return 0;
}

/* Apply type to the records of d[] in qp (locked, checked); fin[i], when
 * fin is not NULL, is set for each d[i] this call finished. */
static int
ack_apply(samsa_queue *q, qpart *qp, const samsa_delivery *d, size_t n,
          int type, bool *fin)
{
    uint8_t st = type == SAMSA_ACK_ACCEPT   ? QS_ACCEPTED
                 : type == SAMSA_ACK_REJECT ? QS_REJECTED
                                            : QS_AVAILABLE;
    for (size_t i = 0; i < n;) {
        if (d[i].msg.partition != qp->partition) {
            i++;
            continue;
        }
        int64_t o = d[i].msg.offset;
        /* Listed twice: its first listing finished it, and may have
         * moved start past it (ack_check saw it before any change). */
        if (o < qp->start || qstate_rec(qp, o)->state != QS_ACQUIRED) {
            i++;
            continue;
        }
        qrec *r = qstate_rec(qp, o);
        if (st == QS_REJECTED) {
            int rc = dead_letter(q, qp, o, st);
            if (rc != 0)
                return rc;
            if (fin != NULL)
                fin[i] = true;
            i++;
            continue;
        }
        /* A run of consecutive offsets with one count is one change. */
        uint16_t count = r->count;
        size_t j = i + 1;
        while (j < n && d[j].msg.partition == qp->partition &&
               d[j].msg.offset == o + (int64_t)(j - i) &&
               qstate_rec(qp, d[j].msg.offset)->count == count &&
               qstate_rec(qp, d[j].msg.offset)->state == QS_ACQUIRED)
            j++;
        int rc = qstate_set(q->s, q->g, qp, o, (uint32_t)(j - i), st, count);
        if (rc != 0)
            return rc;
        for (; i < j; i++)
            if (fin != NULL)
                fin[i] = true;
    }
    return 0;
}

static int
ack_locked(samsa_queue *q, const samsa_delivery *d, size_t n, int type)
{
    qgroup *g = q->g;
    int32_t lo = g->nparts, hi = -1;
    for (size_t i = 0; i < n; i++) {
        if (d[i].msg.partition < 0 || d[i].msg.partition >= g->nparts ||
            d[i].msg.offset < 0)
            return SAMSA_EINVAL;
        lo = d[i].msg.partition < lo ? d[i].msg.partition : lo;
        hi = d[i].msg.partition > hi ? d[i].msg.partition : hi;
    }
    /* Lock every partition in [lo, hi] that d names, in ascending order. */
    int64_t now = samsa__now_ns();
    int rc = 0;
    int32_t locked = lo;
    for (; locked <= hi; locked++) {
        qpart *qp = &g->parts[locked];
        bool named = false;
        for (size_t i = 0; i < n && !named; i++)
            named = d[i].msg.partition == locked;
        if (!named)
            continue;
        samsa__lock_nth(&qp->lock, SAMSA_RANK_QPART, qp->partition);
        if ((rc = ack_check(q, qp, d, n, now)) != 0) {
            locked++;
            break;
        }
    }
    /* Which records this call finished, for their waiters: all of them,
     * or, when it failed part way (a dead letter refused, an I/O error),
     * those done before; a record listed twice once (fin). */
    bool tell =
        type != SAMSA_ACK_RELEASE && atomic_load(&q->s->ack_watchers) > 0;
    bool *fin = NULL;
    if (rc == 0 && tell && (fin = calloc(n, sizeof *fin)) == NULL)
        rc = SAMSA_ENOMEM; /* before any change: nothing done */
    for (int32_t p = lo; rc == 0 && p <= hi; p++)
        rc = ack_apply(q, &g->parts[p], d, n, type, fin);
    for (int32_t p = lo; p < locked; p++) {
        bool named = false;
        for (size_t i = 0; i < n && !named; i++)
            named = d[i].msg.partition == p;
        if (named)
            samsa__unlock_nth(&g->parts[p].lock, SAMSA_RANK_QPART, p);
    }
    if (type == SAMSA_ACK_RELEASE)
        store_notify(q->s);
    else if (fin != NULL)
        for (size_t i = 0; i < n; i++)
            if (fin[i])
                ackwait_notify(q->s, g->name, g->topic, d[i].msg.partition,
                               d[i].msg.offset, type, d[i].delivery_count);
    free(fin);
    return rc;
}

SAMSA_API int
samsa_queue_ack(samsa_queue *q, const samsa_delivery *d, size_t n, int type)
{
    if (q == NULL || (d == NULL && n > 0) ||
        (type != SAMSA_ACK_ACCEPT && type != SAMSA_ACK_RELEASE &&
         type != SAMSA_ACK_REJECT))
        return SAMSA_EINVAL;
    samsa__lock(&q->lock, SAMSA_RANK_RECEIVER);
    int rc = q->detached ? SAMSA_ECLOSED : store_enter(q->s);
    if (rc == 0) {
        if (n > 0)
            rc = ack_locked(q, d, n, type);
        store_leave(q->s);
    }
    samsa__unlock(&q->lock, SAMSA_RANK_RECEIVER);
    return rc;
}

void
queue_release_all(samsa_queue *q, qpart *qp)
{
    if (QPART_DELETED(qp))
        return; /* nothing to give back to */
    for (int64_t o = qp->start; o < qp->next; o++) {
        qrec *r = qstate_rec(qp, o);
        if (r->state == QS_ACQUIRED && r->holder == q->id) {
            int rc = qstate_set(q->s, q->g, qp, o, 1, QS_AVAILABLE, r->count);
            assert(rc == 0); /* AVAILABLE writes no journal entry */
            (void)rc;
        }
    }
}

void
queue_arena_free(samsa_queue *q)
{
    for (chunk *c = q->chunks, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    q->chunks = NULL;
}
