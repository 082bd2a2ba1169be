/*
 * kapi_idem.c - InitProducerId (key 22) and idempotent produce: producer
 * ids, and each (producer, partition)'s sequence numbers, as a Kafka
 * broker keeps them (KIP-98).
 *
 * Producer ids.  Taken from the catalog's counter "next_producer_id"
 * (catalog_counter_take) in blocks of PID_BLOCK, durably before any id of
 * a block is given out: no id repeats after a restart or a crash (a crash
 * only skips what was left of a block).  Every InitProducerId gets a new
 * id at epoch 0; no transactional ids (the listener serves no
 * transactions: a request that names one is answered INVALID_REQUEST).
 *
 * Sequences.  An idempotent batch (producerId >= 0) carries its
 * producer's epoch and the sequence number of its first record; the
 * listener keeps, per (topic, partition, producer), the epoch and the
 * last KIDEM_BATCHES batches stored (first and last sequence, first and
 * last offset), and decides before storing as Kafka's ProducerStateManager
 * does for a client's append:
 *   - an epoch below the one known: INVALID_PRODUCER_EPOCH (what Kafka's
 *     Produce answers up to version 8, the last served; PRODUCER_FENCED
 *     belongs to the transactional APIs, not served);
 *   - the same epoch and the sequences of a kept batch: a retry of a batch
 *     already stored, answered with that batch's base offset and not
 *     stored again;
 *   - a new (higher) epoch must start at sequence 0, the same epoch must
 *     follow the last batch's last sequence (INT32_MAX wraps to 0), else
 *     OUT_OF_ORDER_SEQUENCE_NUMBER;
 *   - a producer not known for the partition: any sequence (as Kafka
 *     takes a producer whose state retention removed).
 * The batch is stored with its producer id, epoch and base sequence in
 * its header (kapi_produce.c), as a Kafka broker's log has them.
 *
 * After a restart.  The state is memory; the log keeps what it is made
 * of.  The first idempotent batch to a partition from a producer id
 * older than this listener (one it did not hand out) reads the headers of
 * the partition's last SCAN_RECORDS offsets, once for every producer, and
 * takes each older producer's epoch and last batches from them, as Kafka
 * rebuilds its producer state from the log: a batch retried across a
 * restart is still found a duplicate, as long as it is among the
 * partition's last SCAN_RECORDS offsets.  (The read is on the loop's
 * thread, once per partition per listener: at most SCAN_RECORDS offsets'
 * batches, checked as a fetch checks them.)  An entry whose last offset
 * is at or past its partition's end (the topic was deleted and made
 * again) is dropped.  Entries are bounded (KIDEM_MAX, the least recently
 * used goes; an entry gone is a producer not known), and only the
 * listener's loop thread touches them.
 */
#include <stdlib.h>
#include <string.h>

#include "client/cursor.h"
#include "listener.h"
#include "storage/batch.h"

#define PID_BLOCK     1000   /* producer ids reserved per catalog write */
#define KIDEM_BATCHES 5      /* batches kept per producer, as Kafka      */
#define KIDEM_MAX     65536  /* (topic, partition, producer) entries     */
#define KIDEM_BUCKETS 4096   /* hash buckets                             */
#define SCAN_RECORDS  100000 /* offsets read back to rebuild an entry    */
#define SCAN_BUCKETS  256    /* hash buckets of the partitions read back */

typedef struct kbatch {
    int32_t first_seq, last_seq;
    int64_t base, last; /* offsets */
} kbatch;

struct kprod {
    char *topic;
    int32_t partition;
    int64_t pid;
    int16_t epoch;           /* -1: none known                           */
    kbatch b[KIDEM_BATCHES]; /* ring: b[(head + i) % N], i < nb, oldest 1st */
    int head, nb;
    struct kprod *hnext;         /* hash chain                               */
    struct kprod *lprev, *lnext; /* use order: lru_head the most recent   */
};

/* A partition read back (prod_rebuild) since the listener began. */
typedef struct kscan {
    char *topic;
    int32_t partition;
    struct kscan *next;
} kscan;

struct kidem {
    kprod *bucket[KIDEM_BUCKETS];
    kscan *scanned[SCAN_BUCKETS]; /* partitions read back             */
    kprod *lru_head, *lru_tail;
    size_t n;
    int64_t next, limit; /* ids of the block taken: next .. limit-1     */
    int64_t first_own;   /* the first id this listener gave; -1: none   */
};

static kidem *
idem_get(samsa_listener *l)
{
    if (l->idem == NULL && (l->idem = calloc(1, sizeof *l->idem)) != NULL)
        l->idem->first_own = -1;
    return l->idem;
}

/* ---- InitProducerId ------------------------------------------------------ */

/* A new producer id: 0, or the catalog's error. */
static int
pid_take(samsa_listener *l, int64_t *pid)
{
    kidem *d = idem_get(l);
    if (d == NULL)
        return SAMSA_ENOMEM;
    if (d->next >= d->limit) {
        uint64_t first;
        int rc = catalog_counter_take(&l->s->cat, "next_producer_id", PID_BLOCK,
                                      &first);
        if (rc != 0)
            return rc;
        if (first > (uint64_t)INT64_MAX - PID_BLOCK)
            return SAMSA_EINVAL;
        d->next = (int64_t)first;
        d->limit = (int64_t)first + PID_BLOCK;
    }
    if (d->first_own < 0)
        d->first_own = d->next;
    *pid = d->next++;
    return 0;
}

int
kapi_init_producer_id(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    (void)c;
    kread *r = &req->body;
    kstr txn = kread_str(r, false);
    (void)kread_i32(r); /* transaction timeout: no transactions */
    if (r->bad)
        return KANS_CLOSE;
    int64_t pid = -1;
    int16_t err = KERR_INVALID_REQUEST;
    if (txn.p == NULL) {
        int rc = pid_take(l, &pid);
        err = rc == 0 ? KERR_NONE : kapi_error(rc);
        if (rc != 0)
            pid = -1;
    }
    kwrite_i32(out, 0); /* throttle_time_ms */
    kwrite_i16(out, err);
    kwrite_i64(out, pid);
    kwrite_i16(out, pid < 0 ? -1 : 0);
    return KANS_DONE;
}

/* ---- the state ----------------------------------------------------------- */

static size_t
prod_hash(const char *tname, int32_t p, int64_t pid)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *s = tname; *s != '\0'; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    h = (h ^ (uint32_t)p) * 1099511628211ull;
    h = (h ^ (uint64_t)pid) * 1099511628211ull;
    return (size_t)(h % KIDEM_BUCKETS);
}

static void
lru_unlink(kidem *d, kprod *e)
{
    if (e->lprev != NULL)
        e->lprev->lnext = e->lnext;
    else
        d->lru_head = e->lnext;
    if (e->lnext != NULL)
        e->lnext->lprev = e->lprev;
    else
        d->lru_tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

static void
lru_front(kidem *d, kprod *e)
{
    e->lnext = d->lru_head;
    if (d->lru_head != NULL)
        d->lru_head->lprev = e;
    d->lru_head = e;
    if (d->lru_tail == NULL)
        d->lru_tail = e;
}

static void
prod_drop(kidem *d, kprod *e)
{
    kprod **pp = &d->bucket[prod_hash(e->topic, e->partition, e->pid)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(d, e);
    d->n--;
    free(e->topic);
    free(e);
}

static kprod *
prod_find(kidem *d, const char *tname, int32_t p, int64_t pid)
{
    for (kprod *e = d->bucket[prod_hash(tname, p, pid)]; e != NULL;
         e = e->hnext)
        if (e->pid == pid && e->partition == p && strcmp(e->topic, tname) == 0)
            return e;
    return NULL;
}

/* The sequence of the last of count records from first (2^31 wraps to 0,
 * as Kafka's DefaultRecordBatch.incrementSequence). */
static int32_t
seq_last(int32_t first, int32_t count)
{
    return (int32_t)(((uint32_t)first + (uint32_t)count - 1) & INT32_MAX);
}

/* A batch stored (or read back): it is the newest of e. */
static void
prod_push(kprod *e, int16_t epoch, int32_t first_seq, int32_t last_seq,
          int64_t base, int64_t last)
{
    if (epoch != e->epoch)
        e->nb = 0; /* a new epoch: the old one's batches are no retries */
    e->epoch = epoch;
    if (e->nb == KIDEM_BATCHES) {
        e->head = (e->head + 1) % KIDEM_BATCHES;
        e->nb--;
    }
    e->b[(e->head + e->nb++) % KIDEM_BATCHES] =
        (kbatch){first_seq, last_seq, base, last};
}

/* A new entry of (tname, p, pid), knowing nothing; NULL for no memory.
 * The least recently used goes first when there are KIDEM_MAX. */
static kprod *
prod_new(kidem *d, const char *tname, int32_t p, int64_t pid)
{
    kprod *e;
    if (d->n >= KIDEM_MAX)
        prod_drop(d, d->lru_tail);
    if ((e = calloc(1, sizeof *e)) == NULL ||
        (e->topic = strdup(tname)) == NULL) {
        free(e);
        return NULL;
    }
    e->partition = p;
    e->pid = pid;
    e->epoch = -1;
    size_t h = prod_hash(tname, p, pid);
    e->hnext = d->bucket[h];
    d->bucket[h] = e;
    lru_front(d, e);
    d->n++;
    return e;
}

/* Has (tname, p) been read back since this listener began?  Marks it so
 * (false: read it now; also when there is no memory to mark it, which
 * only costs a read again). */
static bool
scanned(kidem *d, const char *tname, int32_t p)
{
    size_t h = prod_hash(tname, p, -1) % SCAN_BUCKETS;
    for (kscan *k = d->scanned[h]; k != NULL; k = k->next)
        if (k->partition == p && strcmp(k->topic, tname) == 0)
            return true;
    kscan *k = malloc(sizeof *k);
    if (k != NULL && (k->topic = strdup(tname)) == NULL) {
        free(k);
        k = NULL;
    }
    if (k != NULL) {
        k->partition = p;
        k->next = d->scanned[h];
        d->scanned[h] = k;
    }
    return false;
}

/* Read back the batches of every producer older than this listener from
 * the last SCAN_RECORDS offsets of the partition, once for all of them
 * (see the top).  A read that fails leaves them as they are: producers
 * not known, which Kafka takes too. */
static void
prod_rebuild(samsa_listener *l, kidem *d, const char *tname, int32_t p,
             int64_t first, int64_t end)
{
    samsa_cursor *cur;
    int64_t from = end - first > SCAN_RECORDS ? end - SCAN_RECORDS : first;
    if (samsa_cursor_open(l->s, tname, p, from, &cur) != 0)
        return;
    const uint8_t *b;
    size_t len;
    while (cursor_next_batch(cur, &b, &len, NULL) == 0) {
        batch_header h;
        if (batch_parse_header(b, len, &h) != 0 || h.producer_id < 0 ||
            (d->first_own >= 0 && h.producer_id >= d->first_own))
            continue;
        kprod *e = prod_find(d, tname, p, h.producer_id);
        if (e == NULL && (e = prod_new(d, tname, p, h.producer_id)) == NULL)
            break;
        if (h.producer_epoch >= e->epoch)
            prod_push(e, h.producer_epoch, h.base_sequence,
                      seq_last(h.base_sequence, h.last_offset_delta + 1),
                      h.base_offset, h.base_offset + h.last_offset_delta);
    }
    samsa_cursor_close(cur);
}

/* The entry of (tname, p, pid), made (and read back from the log) when
 * there is none; NULL for no memory. */
static kprod *
prod_get(samsa_listener *l, const char *tname, int32_t p, int64_t pid)
{
    kidem *d = idem_get(l);
    if (d == NULL)
        return NULL;
    int64_t first = 0, end = 0;
    (void)samsa_offsets(l->s, tname, p, &first, &end);
    kprod *e = prod_find(d, tname, p, pid);
    if (e != NULL && e->nb > 0 &&
        e->b[(e->head + e->nb - 1) % KIDEM_BATCHES].last >= end) {
        prod_drop(d, e); /* its log is not the one it was made from */
        e = NULL;
    }
    /* An id this listener gave has nothing in any log from before it. */
    if (e == NULL && (d->first_own < 0 || pid < d->first_own) &&
        !scanned(d, tname, p)) {
        prod_rebuild(l, d, tname, p, first, end);
        e = prod_find(d, tname, p, pid);
    }
    if (e == NULL)
        return prod_new(d, tname, p, pid);
    lru_unlink(d, e);
    lru_front(d, e);
    return e;
}

static bool
in_sequence(int32_t last, int32_t next)
{
    return next == (last == INT32_MAX ? 0 : last + 1);
}

int16_t
kidem_check(samsa_listener *l, const char *tname, int32_t p, int64_t pid,
            int16_t epoch, int32_t first_seq, int32_t count, kprod **entry,
            int64_t *dup_base)
{
    *entry = NULL;
    *dup_base = -1;
    if (epoch < 0 || first_seq < 0 || count <= 0)
        return KERR_INVALID_REQUEST; /* an idempotent batch has all three */
    kprod *e = prod_get(l, tname, p, pid);
    if (e == NULL)
        return KERR_UNKNOWN;
    int32_t last_seq = seq_last(first_seq, count);
    if (e->epoch >= 0 && epoch < e->epoch)
        return KERR_INVALID_PRODUCER_EPOCH;
    if (epoch == e->epoch)
        for (int i = 0; i < e->nb; i++) {
            const kbatch *b = &e->b[(e->head + i) % KIDEM_BATCHES];
            if (b->first_seq == first_seq && b->last_seq == last_seq) {
                *dup_base = b->base;
                return KERR_NONE;
            }
        }
    if (e->epoch >= 0 && epoch != e->epoch && first_seq != 0)
        return KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    if (epoch == e->epoch && e->nb > 0 &&
        !in_sequence(e->b[(e->head + e->nb - 1) % KIDEM_BATCHES].last_seq,
                     first_seq))
        return KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    *entry = e;
    return KERR_NONE;
}

void
kidem_stored(kprod *e, int16_t epoch, int32_t first_seq, int32_t count,
             int64_t base)
{
    prod_push(e, epoch, first_seq, seq_last(first_seq, count), base,
              base + count - 1);
}

void
kidem_free(samsa_listener *l)
{
    kidem *d = l->idem;
    if (d == NULL)
        return;
    while (d->lru_head != NULL)
        prod_drop(d, d->lru_head);
    for (size_t i = 0; i < SCAN_BUCKETS; i++)
        while (d->scanned[i] != NULL) {
            kscan *k = d->scanned[i];
            d->scanned[i] = k->next;
            free(k->topic);
            free(k);
        }
    free(d);
    l->idem = NULL;
}
