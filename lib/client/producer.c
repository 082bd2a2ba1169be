/*
 * producer.c - the asynchronous producer: records handed over one at a
 * time, gathered per partition, stored a batch at a time by the
 * producer's sender thread, and reported back (samsa_producer_*).
 *
 * The path of a record.  samsa_producer_send() checks it, picks its
 * partition and encodes it, as the next record of a record batch v2,
 * straight into that partition's open buffer (batch_record_append(): the
 * buffer is the batch, its header left to fill), and returns.  A buffer
 * leaves the open state for the ready queue when it holds batch_bytes,
 * when its first record has waited linger_ms, or when a flush or close
 * asks; from then on nothing is added to it.  The sender thread takes
 * ready buffers in order, fills in the header and CRC (batch_finish()),
 * stores the batch as it is (produce_encoded(): one append, one flush
 * under sync), and hands the reports to the delivery callback.  So a
 * record is copied once on its way to the log, and checked and sized
 * once.
 *
 * Order.  A partition has at most one open buffer, and the ready queue is
 * first in, first out, served by one thread that retries a buffer before
 * it looks at the next: records of one partition are stored, and
 * reported, in the order they were sent.
 *
 * Retries.  samsa_produce() writes all of a buffer's records or none of
 * them, except when too few copies stay in sync during the append (the
 * records are then stored, their offsets set, and the error reported
 * with them).  A buffer whose call failed with nothing stored and an
 * error that may pass (SAMSA_ENOTENOUGHREPLICAS, SAMSA_ENOSPC) is tried
 * again every RETRY_MS until delivery_timeout_ms after it was due (its
 * linger passed; Kafka's delivery.timeout.ms),
 * so a record is never written twice and never overtaken.  A buffer
 * refused as too large (SAMSA_ETOOBIG: the topic's max_message_bytes went
 * down after its records came) is split into batches that fit and stored
 * in order (pbuf_split()), as Kafka's producer splits a batch the broker
 * refuses as too large.
 *
 * Memory.  `held` counts the bytes of every record the producer holds
 * (a bound of its encoded size, and its opaque slot), from send() until
 * its report; a
 * send() that would pass buffer_bytes waits for room or fails with
 * SAMSA_EQUEUEFULL.  Stored buffers are kept for reuse (SPARE_BUFFERS of
 * them, their arenas and arrays as grown): a fresh megabyte arena per
 * batch costs a page fault per page it touches, which made a send five
 * times slower.
 *
 * Lock order: p->lock is taken alone (the sender calls samsa_produce()
 * and the callback with it released), below the store's locks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "produce.h"
#include "storage/batch.h"

#define DEFAULT_BATCH_BYTES  (1u << 20)
#define DEFAULT_LINGER_MS    5
#define DEFAULT_TIMEOUT_MS   120000
#define DEFAULT_BUFFER_BYTES (32u << 20)
#define RETRY_MS             100
#define SPARE_BUFFERS        4            /* stored buffers kept for reuse */
#define TOPIC_RECHECK_NS     1000000000LL /* a topic's partitions: 1 s */
#define WRITE_AHEAD          512 /* bytes past a send's, asked for writing */

/* One partition's records being gathered, then stored. */
typedef struct pbuf {
    struct pbuf *next, *prev;   /* the open list, or the ready queue      */
    struct pbuf *anext, *aprev; /* every buffer not yet reported, in the
                                   order they were begun (first_seq)   */
    struct ptopic *t;           /* its topic                               */
    uint64_t topic_id;          /* t's id when begun: stored only there  */
    int32_t partition;          /* its partition                           */
    void **opaque;              /* each record's opaque pointer            */
    size_t n, cap;              /* records, and room in opaque             */
    bool keyless;               /* a record without a key: a topic made
                                   compacted since refuses it            */
    uint8_t *arena;             /* the batch: header room, then n records  */
    size_t used, acap;          /* bytes used, and allocated               */
    int64_t base_ts, max_ts;    /* its first and largest timestamps        */
    size_t held;                /* bytes counted in p->held                */
    int64_t first_ns;           /* when its first record came              */
    uint64_t first_seq;         /* p->sent before its first record         */
} pbuf;

/* A topic the producer has sent to: what a send needs to place records. */
typedef struct ptopic {
    struct ptopic *next;  /* every topic sent to                 */
    struct ptopic *hnext; /* the next in its bucket (buckets)     */
    char *name;
    uint64_t id;        /* the store's topic id, as last looked up */
    int32_t partitions; /* its partition count, as last looked up */
    int64_t checked_ns; /* when it was looked up                  */
    uint64_t changes;   /* the store's topic_changes then         */
    size_t max_bytes;   /* the largest batch it takes          */
    size_t full_bytes;  /* a batch is full: batch_bytes, at most
                           max_bytes (a larger record goes alone) */
    bool keyed;         /* compacted: every record needs a key */
    int32_t sticky;     /* keyless records go here, or -1      */
    uint32_t rr;        /* the next sticky partition           */
    pbuf **open;        /* per partition: the open buffer      */
} ptopic;

struct samsa_producer {
    samsa *s;
    samsa_producer_config cfg; /* defaults filled in              */
    pthread_mutex_t lock;      /* everything below                */
    pthread_cond_t work;       /* the sender: something to do     */
    pthread_cond_t room;       /* senders: held went down         */
    pthread_cond_t done;       /* flushes: a buffer was reported  */
    pthread_cond_t left;       /* close: a call left, inside went down */
    int inside;                /* sends and flushes in a call     */
    ptopic *topics;            /* every topic sent to             */
    ptopic **buckets;          /* the same by name, nbuckets (2^k) */
    ptopic *last;              /* the one the last send found      */
    size_t nbuckets, ntopics;  /* buckets and topics              */
    pbuf open_head;            /* open buffers, oldest first      */
    pbuf all_head;             /* unreported buffers, oldest first */
    pbuf *ready, *ready_tail;  /* buffers to store, in order      */
    pbuf *spare;               /* stored buffers, for reuse       */
    int nspare;                /* how many                        */
    size_t held;               /* bytes of records held           */
    uint64_t sent;             /* records accepted                */
    uint64_t flush_upto;       /* store at once up to this `sent` */
    bool stop;                 /* close: store all, then leave    */
    pthread_t sender;
    _Atomic(pthread_t) sender_id; /* to refuse flush from callbacks */
};

/* ---- buffers --------------------------------------------------------------
 */

static void
pbuf_free(pbuf *b)
{
    if (b == NULL)
        return;
    free(b->opaque);
    free(b->arena);
    free(b);
}

/* Room for len more bytes in b's arena. */
static int
arena_reserve(pbuf *b, size_t len)
{
    if (b->used + len > b->acap) {
        size_t cap = b->acap ? b->acap : 4096;
        while (cap < b->used + len)
            cap *= 2;
        uint8_t *a = realloc(b->arena, cap);
        if (a == NULL)
            return SAMSA_ENOMEM;
        b->arena = a;
        b->acap = cap;
    }
    return 0;
}

/* A bound of what a record of this payload (batch_record_payload())
 * takes in any batch (its length, attributes and deltas at their
 * longest) and in the producer (that, and its opaque slot). */
static size_t
record_bound(size_t payload)
{
    return BATCH_RECORD_BOUND(payload) + sizeof(void *);
}

/* Encode r, of this payload, as the next record of b (timestamp already
 * set). */
static int
pbuf_add(pbuf *b, const samsa_record *r, size_t payload, void *opaque)
{
    if (samsa__array_room(&b->opaque, b->n, &b->cap, sizeof *b->opaque, 64))
        return SAMSA_ENOMEM;
    if (b->n == 0)
        b->base_ts = b->max_ts = r->timestamp;
    int rc = arena_reserve(b, BATCH_RECORD_BOUND(payload));
    if (rc != 0)
        return rc;
    uint8_t *end = batch_record_append(b->arena + b->used, r, payload,
                                       b->base_ts, (int32_t)b->n);
    size_t len = (size_t)(end - b->arena) - b->used;
    b->used += len;
    /* The lines a few records on, asked for now: the sender thread read
     * them last, on another core (samsa__prefetch_write()). */
    if (b->used + WRITE_AHEAD + len <= b->acap)
        samsa__prefetch_write(end + WRITE_AHEAD, len);
    if (r->timestamp > b->max_ts)
        b->max_ts = r->timestamp;
    b->opaque[b->n++] = opaque;
    b->keyless |= r->key == NULL;
    return 0;
}

/* ---- the open list and the ready queue (p->lock held) ------------------ */

static void
open_unlink(pbuf *b)
{
    b->prev->next = b->next;
    b->next->prev = b->prev;
    b->next = b->prev = NULL;
}

static void
all_unlink(pbuf *b)
{
    b->aprev->anext = b->anext;
    b->anext->aprev = b->aprev;
    b->anext = b->aprev = NULL;
}

/* Is every record accepted before the upto-th reported?  Not the count
 * of reports: buffers are stored in the order they became ready, so a
 * buffer other threads filled after a flush began may be stored before a
 * lingering one holding a record sent before it, and a flush that
 * counted returned with that record unreported.  A buffer holds records
 * from its first_seq on; the oldest one not reported is the first. */
static bool
reported_upto(const samsa_producer *p, uint64_t upto)
{
    const pbuf *oldest = p->all_head.anext;
    return oldest == &p->all_head || oldest->first_seq >= upto;
}

/* Move b from the open list to the end of the ready queue. */
static void
make_ready(samsa_producer *p, pbuf *b)
{
    open_unlink(b);
    b->t->open[b->partition] = NULL;
    if (b->t->sticky == b->partition) /* keyless records move on */
        b->t->sticky = -1;
    if (p->ready_tail != NULL)
        p->ready_tail->next = b;
    else
        p->ready = b;
    p->ready_tail = b;
    pthread_cond_signal(&p->work);
}

/* Move every open buffer that is due to the ready queue; returns the
 * earliest moment one still open will be (-1: none).  Due: its linger
 * has passed, or it holds a record sent before a flush asked (only
 * those: a buffer begun after the flush would go out nearly empty, and a
 * sender that keeps waiting for room would then store one record per
 * batch), or the producer is closing. */
static int64_t
collect_due(samsa_producer *p, int64_t now)
{
    int64_t linger = (int64_t)p->cfg.linger_ms * 1000000;
    while (p->open_head.next != &p->open_head) {
        pbuf *b = p->open_head.next; /* the oldest: the first due */
        if (!p->stop && b->first_seq >= p->flush_upto &&
            b->first_ns + linger > now)
            return b->first_ns + linger;
        make_ready(p, b);
    }
    return -1;
}

/* ---- topics ---------------------------------------------------------------
 */

/* Index t by name, the table grown to keep a topic a bucket: a send
 * finds its topic in one look, however many the producer sends to. */
static int
ptopic_index(samsa_producer *p, ptopic *t)
{
    if (p->ntopics + 1 > p->nbuckets) {
        size_t n = p->nbuckets != 0 ? 2 * p->nbuckets : 16;
        ptopic **b = calloc(n, sizeof *b);
        if (b == NULL)
            return SAMSA_ENOMEM;
        for (ptopic *x = p->topics; x != NULL; x = x->next) {
            size_t h = samsa__name_hash(x->name) & (n - 1);
            x->hnext = b[h];
            b[h] = x;
        }
        free(p->buckets);
        p->buckets = b;
        p->nbuckets = n;
    }
    size_t h = samsa__name_hash(t->name) & (p->nbuckets - 1);
    t->hnext = p->buckets[h];
    p->buckets[h] = t;
    t->next = p->topics;
    p->topics = t;
    p->ntopics++;
    return 0;
}

static void
ptopic_free(ptopic *t)
{
    free(t->name);
    free(t->open);
    free(t);
}

/* What the store's topic of this name is now: its configuration and its
 * catalog id, which a topic deleted and made again under its name does
 * not keep. */
static int
topic_now(samsa *s, const char *name, samsa_topic_config *cfg, uint64_t *id)
{
    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    topic *t;
    int rc = topic_lookup(s, name, SAMSA_PARTITION_ANY, true, &t);
    if (rc == 0) {
        *cfg = t->cfg;
        *id = t->id;
    }
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    return rc;
}

/* Bring t up to the store's topic (p->lock held).  A topic may grow
 * (samsa_topic_add_partitions) or be altered: looked at again every
 * TOPIC_RECHECK_NS, as Kafka's producer refreshes its metadata, and keys
 * placed before a growth stay where they went, as in Kafka.  One deleted
 * and made again under its name is another topic, looked at on the next
 * send (the store's topic_changes moved): the records held for the old
 * one go to the ready queue, their buffers keeping its id, to be
 * reported SAMSA_ENOTOPIC rather than stored in the new one as if sent
 * there; and t starts afresh, perhaps with fewer partitions.  (The
 * partition count once only grew: sends to partitions the new topic
 * lacked returned 0, and keys went where the old count put them.) */
static int
ptopic_refresh(samsa_producer *p, ptopic *t, int64_t now)
{
    uint64_t changes = atomic_load(&p->s->topic_changes); /* before */
    samsa_topic_config cfg;
    uint64_t id;
    int rc = topic_now(p->s, t->name, &cfg, &id);
    if (rc != 0)
        return rc;
    int32_t kept = id == t->id ? t->partitions : 0; /* open buffers kept */
    for (int32_t i = kept; i < t->partitions; i++)
        if (t->open[i] != NULL)
            make_ready(p, t->open[i]);
    if (cfg.partitions != t->partitions) {
        pbuf **open = realloc(t->open, (size_t)cfg.partitions * sizeof *open);
        if (open == NULL)
            return SAMSA_ENOMEM;
        t->open = open;
    }
    if (cfg.partitions > kept)
        memset(t->open + kept, 0,
               (size_t)(cfg.partitions - kept) * sizeof *t->open);
    if (id != t->id)
        t->sticky = -1;
    t->id = id;
    t->partitions = cfg.partitions;
    t->keyed = (cfg.cleanup_policy & SAMSA_CLEANUP_COMPACT) != 0;
    t->max_bytes = (size_t)cfg.max_message_bytes;
    t->full_bytes =
        t->max_bytes < p->cfg.batch_bytes ? t->max_bytes : p->cfg.batch_bytes;
    t->checked_ns = now;
    t->changes = changes;
    return 0;
}

/* The producer's entry for a topic, made from the store's on first use
 * (p->lock held; topic_now() takes only the table lock). */
static int
ptopic_get(samsa_producer *p, const char *name, ptopic **out)
{
    int64_t now = samsa__now_coarse_ns(); /* a recheck a second: coarse */
    uint64_t changes =
        atomic_load_explicit(&p->s->topic_changes, memory_order_relaxed);
    /* The topic of the last send first: most senders keep to one. */
    ptopic *t = p->last;
    if (t == NULL || strcmp(t->name, name) != 0) {
        t = p->nbuckets != 0
                ? p->buckets[samsa__name_hash(name) & (p->nbuckets - 1)]
                : NULL;
        while (t != NULL && strcmp(t->name, name) != 0)
            t = t->hnext;
    }
    if (t != NULL) {
        *out = p->last = t;
        return now - t->checked_ns >= TOPIC_RECHECK_NS || t->changes != changes
                   ? ptopic_refresh(p, t, now)
                   : 0;
    }
    t = calloc(1, sizeof *t);
    if (t == NULL || (t->name = strdup(name)) == NULL) {
        free(t);
        return SAMSA_ENOMEM;
    }
    t->sticky = -1;
    int rc = ptopic_refresh(p, t, now);
    if (rc == 0)
        rc = ptopic_index(p, t);
    if (rc != 0) {
        ptopic_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* ---- storing and reporting (the sender thread) ----------------------------
 */

static bool
transient(int rc)
{
    return rc == SAMSA_ENOTENOUGHREPLICAS || rc == SAMSA_ENOSPC;
}

/* produce_encoded() of n of b's records, encoded at batch (len bytes,
 * largest timestamp max_ts, keyless: one has no key), tried again while
 * nothing was stored and the error may pass (see "Retries"). */
static int
store_retrying(samsa_producer *p, const pbuf *b, uint8_t *batch, size_t len,
               size_t n, bool keyless, int64_t max_ts, int64_t *base)
{
    /* From when the buffer was due at the latest (begun, and its linger
     * passed), as Kafka's delivery.timeout.ms bounds a batch: counted
     * from when the sender came to it, each buffer queued behind one
     * that kept failing waited a whole timeout more, and a close with
     * many held could take hours. */
    int64_t give_up =
        b->first_ns +
        ((int64_t)p->cfg.linger_ms + p->cfg.delivery_timeout_ms) * 1000000;
    for (;;) {
        int rc = produce_encoded(p->s, b->t->name, b->topic_id, b->partition,
                                 batch, len, (int32_t)n, keyless, max_ts, base);
        if (rc == 0 || *base >= 0 || !transient(rc) ||
            samsa__now_ns() >= give_up)
            return rc;
        struct timespec ts = {0, RETRY_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Report b's records from..from+n-1: stored from base on (-1: not), rc. */
static void
report(samsa_producer *p, const pbuf *b, size_t from, size_t n, int64_t base,
       int rc)
{
    if (p->cfg.on_delivery == NULL)
        return;
    samsa_delivery_report stack[64];
    samsa_delivery_report *rep = n <= 64 ? stack : malloc(n * sizeof *rep);
    for (size_t done = 0; done < n;) {
        size_t k = rep != NULL ? n : 1; /* out of memory: one by one */
        samsa_delivery_report one;
        samsa_delivery_report *out = rep != NULL ? rep : &one;
        for (size_t i = 0; i < k; i++)
            out[i] = (samsa_delivery_report){
                .topic = b->t->name,
                .partition = b->partition,
                .offset = base >= 0 ? base + (int64_t)(done + i) : -1,
                .error = rc,
                .opaque = b->opaque[from + done + i],
            };
        p->cfg.on_delivery(out, k, p->cfg.ctx);
        done += k;
    }
    if (rep != stack)
        free(rep);
}

/* b was refused whole as too large: the topic's max_message_bytes went
 * down after its records were gathered.  Its records go again, in order,
 * in batches that fit, each reported once stored; a record too large
 * alone is refused alone, and by a topic made compacted only a part
 * holding a record without a key (each part is a batch of its own).  So
 * Kafka's producer splits a batch the broker refused as too large
 * (RecordBatchTooLargeException) rather than fail all its records.  Nonzero,
 * reporting nothing, when it cannot begin. */
static int
pbuf_split(samsa_producer *p, pbuf *b)
{
    samsa_topic_config cfg;
    batch_header h;
    if (batch_parse_header(b->arena, b->used, &h) != 0)
        return SAMSA_ETOOBIG;
    int rc = samsa_topic_describe(p->s, b->t->name, &cfg);
    if (rc != 0) { /* deleted since: that is what happened to them */
        report(p, b, 0, b->n, -1, rc);
        return 0;
    }
    size_t max = (size_t)cfg.max_message_bytes;
    uint8_t *out = malloc(b->used); /* a part is never larger than all */
    if (out == NULL)
        return SAMSA_ENOMEM;
    batch_iter it;
    samsa_message m;
    batch_iter_init(&it, b->arena, &h);
    bool more = batch_iter_next(&it, &m) == 0; /* m: the next to place */
    size_t from = 0;
    while (more) {
        size_t used = BATCH_HEADER_SIZE, n = 0;
        int64_t base_ts = m.timestamp, max_ts = m.timestamp;
        bool keyless = false; /* this part's own: see produce_encoded() */
        do {
            int64_t ts_delta = m.timestamp - base_ts;
            if (n > 0 &&
                used + batch_record_resize(&m, ts_delta, (int64_t)n) > max)
                break;
            used = (size_t)(batch_record_reput(out + used, &m, ts_delta,
                                               (int64_t)n) -
                            out);
            max_ts = m.timestamp > max_ts ? m.timestamp : max_ts;
            keyless |= m.key == NULL;
            n++;
            more = batch_iter_next(&it, &m) == 0;
        } while (more);
        batch_finish(out, used, n, base_ts, max_ts);
        int64_t base;
        rc = store_retrying(p, b, out, used, n, keyless, max_ts, &base);
        report(p, b, from, n, base, rc);
        from += n;
    }
    if (from < b->n) /* its own bytes did not decode: never, but said */
        report(p, b, from, b->n - from, -1, SAMSA_ECORRUPT);
    free(out);
    return 0;
}

/* Store b and report each record. */
static void
pbuf_store(samsa_producer *p, pbuf *b)
{
    batch_finish(b->arena, b->used, b->n, b->base_ts, b->max_ts);
    int64_t base;
    int rc = store_retrying(p, b, b->arena, b->used, b->n, b->keyless,
                            b->max_ts, &base);
    if (rc == SAMSA_ETOOBIG && base < 0 && b->n > 1 && pbuf_split(p, b) == 0)
        return;
    report(p, b, 0, b->n, base, rc);
}

static void *
sender_main(void *arg)
{
    samsa_producer *p = arg;
    atomic_store(&p->sender_id, pthread_self());
    pthread_mutex_lock(&p->lock);
    for (;;) {
        int64_t wake = collect_due(p, samsa__now_ns());
        pbuf *b = p->ready;
        if (b == NULL) {
            if (p->stop && p->open_head.next == &p->open_head)
                break;
            samsa__cond_wait_until(&p->work, &p->lock, wake);
            continue;
        }
        p->ready = b->next;
        if (p->ready == NULL)
            p->ready_tail = NULL;
        pthread_mutex_unlock(&p->lock);
        pbuf_store(p, b);
        pthread_mutex_lock(&p->lock);
        p->held -= b->held;
        all_unlink(b);
        pthread_cond_broadcast(&p->room);
        pthread_cond_broadcast(&p->done);
        if (p->nspare < SPARE_BUFFERS) { /* keep it, arena and all */
            b->next = p->spare;
            p->spare = b;
            p->nspare++;
        } else
            pbuf_free(b);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* ---- the public calls ---------------------------------------------------- */

static int
config_resolve(const samsa_producer_config *in, samsa_producer_config *out)
{
    static const samsa_producer_config zero;
    *out = in != NULL ? *in : zero;
    if (!SAMSA_RESERVED_ZERO(out->reserved) || out->linger_ms < -1 ||
        out->delivery_timeout_ms < 0)
        return SAMSA_EINVAL;
    if (out->batch_bytes == 0)
        out->batch_bytes = DEFAULT_BATCH_BYTES;
    if (out->linger_ms == 0)
        out->linger_ms = DEFAULT_LINGER_MS;
    else if (out->linger_ms == -1)
        out->linger_ms = 0;
    if (out->delivery_timeout_ms == 0)
        out->delivery_timeout_ms = DEFAULT_TIMEOUT_MS;
    if (out->buffer_bytes == 0)
        out->buffer_bytes = DEFAULT_BUFFER_BYTES;
    return 0;
}

SAMSA_API int
samsa_producer_open(samsa *s, const samsa_producer_config *cfg,
                    samsa_producer **out)
{
    if (s == NULL || out == NULL)
        return SAMSA_EINVAL;
    if (s->rdonly)
        return SAMSA_ERDONLY;
    samsa_producer_config c;
    int rc = config_resolve(cfg, &c);
    if (rc != 0)
        return rc;
    samsa_producer *p = calloc(1, sizeof *p);
    if (p == NULL)
        return SAMSA_ENOMEM;
    p->s = s;
    p->cfg = c;
    p->open_head.next = p->open_head.prev = &p->open_head;
    p->all_head.anext = p->all_head.aprev = &p->all_head;
    /* Adaptive: the sender takes the lock once a batch while the
     * application takes it once a record; a short spin spares both the
     * futex wait and the wake a plain mutex costs under that contention. */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&p->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    samsa__cond_init_monotonic(&p->work);
    samsa__cond_init_monotonic(&p->room);
    samsa__cond_init_monotonic(&p->done);
    samsa__cond_init_monotonic(&p->left);
    if ((rc = pthread_create(&p->sender, NULL, sender_main, p)) != 0) {
        pthread_cond_destroy(&p->work);
        pthread_cond_destroy(&p->room);
        pthread_cond_destroy(&p->done);
        pthread_cond_destroy(&p->left);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return samsa__from_errno(rc);
    }
    *out = p;
    return 0;
}

/* The partition of r in t (p->lock held). */
static int32_t
place(ptopic *t, const samsa_record *r, int32_t partition)
{
    if (partition != SAMSA_PARTITION_ANY)
        return partition;
    if (r->key != NULL)
        return samsa_partition_for_key(r->key, r->key_len, t->partitions);
    if (t->sticky < 0)
        t->sticky = (int32_t)(t->rr++ % (uint32_t)t->partitions);
    return t->sticky;
}

static bool
on_sender(samsa_producer *p)
{
    return pthread_equal(pthread_self(), atomic_load(&p->sender_id));
}

/* Wait until size more bytes fit (p->lock held).  The delivery callback
 * never waits: only its own thread, the sender, makes room. */
static int
wait_room(samsa_producer *p, size_t size, int timeout_ms)
{
    if (p->stop || p->held + size <= p->cfg.buffer_bytes)
        return p->stop ? SAMSA_ECLOSED : 0; /* the usual case: room */
    int64_t deadline = samsa__deadline_after(timeout_ms);
    while (!p->stop && p->held + size > p->cfg.buffer_bytes) {
        if (timeout_ms == 0 || on_sender(p))
            return SAMSA_EQUEUEFULL;
        /* Store what is gathered: it is what makes room. */
        p->flush_upto = p->sent;
        pthread_cond_signal(&p->work);
        if (samsa__cond_wait_until(&p->room, &p->lock, deadline) != 0 &&
            p->held + size > p->cfg.buffer_bytes)
            return SAMSA_EQUEUEFULL;
    }
    return p->stop ? SAMSA_ECLOSED : 0;
}

/* A send or a flush begins and ends (p->lock held): close frees the
 * producer only once none is inside.  One waiting for room or reports
 * when close begins is woken, but still needs the lock, the condition
 * and p itself to leave; close once freed them under it. */
static void
call_enter(samsa_producer *p)
{
    p->inside++;
}

static void
call_leave(samsa_producer *p)
{
    if (--p->inside == 0 && p->stop)
        pthread_cond_signal(&p->left);
}

int
samsa__producer_inside(samsa_producer *p)
{
    pthread_mutex_lock(&p->lock);
    int n = p->inside;
    pthread_mutex_unlock(&p->lock);
    return n;
}

/* Is a batch of c alone larger than max?  Sized exactly only when the
 * bound says it might be (the bound is never smaller), so that a send
 * does not size its record twice, here and in pbuf_add(). */
static bool
alone_too_big(const samsa_record *c, size_t payload, size_t max)
{
    size_t body;
    return BATCH_HEADER_SIZE + BATCH_RECORD_BOUND(payload) > max &&
           BATCH_HEADER_SIZE +
                   batch_record_size(c, payload, c->timestamp, 0, &body) >
               max;
}

/* May c (held bytes) go to partition of the topic name: its entry in *t,
 * or why not (p->lock held). */
static int
send_check(samsa_producer *p, const char *name, int32_t partition,
           const samsa_record *c, size_t payload, size_t held, ptopic **t)
{
    /* Too big: when even alone in its batch it passes the topic's
     * max_message_bytes (its exact size there, not the bound held
     * counts, which refused records samsa_produce() takes), or when it
     * would fill the whole buffer.  Not batch_bytes: a batch holding
     * that much is stored, and a larger record goes alone (Kafka's
     * batch.size; batch_bytes = 1 refused every record). */
    int rc = p->stop ? SAMSA_ECLOSED : ptopic_get(p, name, t);
    if (rc == 0 && partition >= (*t)->partitions && /* grown since? */
        (rc = ptopic_refresh(p, *t, samsa__now_ns())) == 0 &&
        partition >= (*t)->partitions)
        rc = SAMSA_ENOPARTITION;
    if (rc == 0 && (*t)->keyed && c->key == NULL)
        rc = SAMSA_EINVAL; /* as samsa_produce(): refused at once, alone */
    if (rc == 0 && (alone_too_big(c, payload, (*t)->max_bytes) ||
                    held > p->cfg.buffer_bytes))
        rc = SAMSA_ETOOBIG;
    return rc;
}

SAMSA_API int
samsa_producer_send(samsa_producer *p, const char *topic_name,
                    int32_t partition, const samsa_record *r, void *opaque,
                    int timeout_ms)
{
    /* topic_name NULL: refused here, as strcmp() against the topics
     * already sent to would read it. */
    if (p == NULL || topic_name == NULL || r == NULL || timeout_ms < -1 ||
        (partition < 0 && partition != SAMSA_PARTITION_ANY))
        return SAMSA_EINVAL;
    int rc = produce_record_check(r);
    if (rc != 0)
        return rc;
    samsa_record c = *r;
    if (c.timestamp == 0)
        c.timestamp = samsa__wall_ms(); /* the clock retention reads too */
    size_t payload = batch_record_payload(&c);
    size_t held = record_bound(payload);
    pthread_mutex_lock(&p->lock);
    call_enter(p);
    ptopic *t = NULL;
    rc = send_check(p, topic_name, partition, &c, payload, held, &t);
    /* Waiting lets the lock go, and the topic may change meanwhile (made
     * again with fewer partitions): checked again once there is room. */
    if (rc == 0 && p->held + held > p->cfg.buffer_bytes &&
        (rc = wait_room(p, held, timeout_ms)) == 0)
        rc = send_check(p, topic_name, partition, &c, payload, held, &t);
    int32_t part = rc == 0 ? place(t, &c, partition) : -1;
    pbuf *b = rc == 0 ? t->open[part] : NULL;
    /* Full: stored as it is, and a new batch for this record.  A loop:
     * a keyless record moves on to the next partition, whose open batch
     * (explicit and keyed records fill it too) may be as full, and was
     * filled past max_bytes, then refused whole with SAMSA_ETOOBIG.
     * Each turn makes one batch ready, so it ends. */
    while (b != NULL && b->used + held > t->full_bytes) {
        make_ready(p, b);
        part = place(t, &c, partition); /* keyless: the next partition */
        b = t->open[part];
    }
    if (rc == 0 && b == NULL) {
        if ((b = p->spare) != NULL) {
            p->spare = b->next;
            p->nspare--;
        } else
            b = calloc(1, sizeof *b);
        if (b == NULL)
            rc = SAMSA_ENOMEM;
        else {
            *b = (pbuf){.t = t,
                        .topic_id = t->id,
                        .partition = part,
                        .opaque = b->opaque,
                        .cap = b->cap,
                        .arena = b->arena,
                        .acap = b->acap,
                        .used = BATCH_HEADER_SIZE,
                        .first_ns = samsa__now_ns(),
                        .first_seq = p->sent};
            b->prev = p->open_head.prev; /* the newest: at the end */
            b->next = &p->open_head;
            b->prev->next = b;
            p->open_head.prev = b;
            t->open[part] = b;
            b->aprev = p->all_head.aprev; /* the newest: at the end */
            b->anext = &p->all_head;
            b->aprev->anext = b;
            p->all_head.aprev = b;
            pthread_cond_signal(&p->work); /* a new linger deadline */
        }
    }
    if (rc == 0)
        rc = pbuf_add(b, &c, payload, opaque);
    if (rc == 0) {
        b->held += held;
        p->held += held;
        p->sent++;
    }
    if (b != NULL && b->n == 0 && rc != 0) { /* made for nothing */
        open_unlink(b);
        all_unlink(b);
        t->open[part] = NULL;
        pbuf_free(b);
    }
    call_leave(p);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

SAMSA_API int
samsa_producer_flush(samsa_producer *p, int timeout_ms)
{
    if (p == NULL || timeout_ms < -1 || on_sender(p))
        return SAMSA_EINVAL;
    int64_t deadline = samsa__deadline_after(timeout_ms);
    pthread_mutex_lock(&p->lock);
    call_enter(p);
    uint64_t upto = p->sent;
    if (p->flush_upto < upto)
        p->flush_upto = upto;
    pthread_cond_signal(&p->work);
    int rc = 0;
    while (!reported_upto(p, upto) && rc == 0)
        if (samsa__cond_wait_until(&p->done, &p->lock, deadline) != 0 &&
            !reported_upto(p, upto))
            rc = SAMSA_ETIMEDOUT;
    call_leave(p);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

SAMSA_API int
samsa_producer_close(samsa_producer *p)
{
    if (p == NULL)
        return 0;
    if (on_sender(p))
        return SAMSA_EINVAL;
    pthread_mutex_lock(&p->lock);
    p->stop = true; /* the sender stores everything, then leaves */
    pthread_cond_signal(&p->work);
    pthread_cond_broadcast(&p->room);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->sender, NULL);
    pthread_mutex_lock(&p->lock); /* the calls woken above leave first */
    while (p->inside > 0)
        pthread_cond_wait(&p->left, &p->lock);
    pthread_mutex_unlock(&p->lock);
    for (pbuf *b = p->spare, *next; b != NULL; b = next) {
        next = b->next;
        pbuf_free(b);
    }
    for (ptopic *t = p->topics, *next; t != NULL; t = next) {
        next = t->next;
        ptopic_free(t);
    }
    free(p->buckets);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->room);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->left);
    pthread_mutex_destroy(&p->lock);
    free(p);
    return 0;
}
