/*
 * check_threads.c - the library under concurrency: producers sharing a
 * partition or a topic, cursors blocked waiting for records and woken,
 * readers following a log across segment rolls, a topic deleted under a
 * blocked reader, group commit in sync mode, samsa_sync racing producers,
 * and topics created and deleted while others produce.  The Makefile runs
 * this suite under ThreadSanitizer as well (make check-tsan).
 *
 * Worker threads never call ck_assert (a failed assertion must not exit or
 * longjmp from a thread other than the test's own): each records its first
 * failure in its err buffer, and the test asserts on the buffers after
 * joining.
 *
 * Every value written encodes (producer, sequence number) and a filler
 * derived from both, so that a reader can tell which record it got, that it
 * got it whole, and in which order each producer's records were stored.
 *
 * A few tests look at a log's count of blocked readers (lib/storage/log.h) so
 * as to produce only once the readers really sleep in samsa_cursor_next(): that
 * makes each of those records a wake-up, not a lucky race.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "test.h"

#define ERR_LEN    256
#define NPRODS_MAX 4  /* producers per test                               */
#define MAX_BATCH  17 /* records per call in the batch tests: 1..17       */
#define FILLER_MAX 48 /* filler bytes after the 8-byte tag of a value     */
#define NS_PER_MS  1000000ll

/* ---- helpers ------------------------------------------------------------ */

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Record a thread's first failure in err. */
static void __attribute__((format(printf, 2, 3)))
tfail(char *err, const char *fmt, ...)
{
    if (err[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, ERR_LEN, fmt, ap);
    va_end(ap);
    if (err[0] == '\0')
        strcpy(err, "failed");
}

static void
start(pthread_t *th, void *(*fn)(void *), void *arg)
{
    ck_assert_int_eq(pthread_create(th, NULL, fn, arg), 0);
}

static void
join(pthread_t th)
{
    ck_assert_int_eq(pthread_join(th, NULL), 0);
}

/* The value of record seq of producer who: the two as 32-bit numbers, then
 * 0..FILLER_MAX-1 filler bytes that depend on both.  Returns its length. */
static size_t
value_make(uint8_t *buf, uint32_t who, uint32_t seq)
{
    size_t n = (who * 7u + seq) % FILLER_MAX;
    memcpy(buf, &who, 4);
    memcpy(buf + 4, &seq, 4);
    for (size_t i = 0; i < n; i++)
        buf[8 + i] = (uint8_t)(who * 31u + seq + i);
    return 8 + n;
}

/* Decode a message's value; false unless value_make() made it, whole. */
static bool
value_parse(const samsa_message *m, uint32_t *who, uint32_t *seq)
{
    uint8_t want[8 + FILLER_MAX];
    if (m->value == NULL || m->value_len < 8)
        return false;
    memcpy(who, m->value, 4);
    memcpy(seq, (const uint8_t *)m->value + 4, 4);
    size_t n = value_make(want, *who, *seq);
    return m->value_len == n && memcmp(m->value, want, n) == 0;
}

static size_t
key_make(char *buf, size_t size, uint32_t who, uint32_t seq)
{
    return (size_t)snprintf(buf, size, "key-%u-%u", who, seq);
}

/* Produce record seq of producer who, alone, to an explicit partition. */
static int64_t
produce_one(samsa *s, const char *topic_name, int32_t p, uint32_t who,
            uint32_t seq)
{
    uint8_t v[8 + FILLER_MAX];
    samsa_record r = {.value = v, .value_len = value_make(v, who, seq)};
    E(samsa_produce(s, topic_name, p, &r, 1));
    ck_assert_int_eq(r.partition, p);
    return r.offset;
}

/* The log behind a partition (internal: see the top of the file). */
static samsa_log *
log_of(samsa *s, const char *name, int32_t p)
{
    topic *t;
    samsa_log *log = NULL;
    pthread_rwlock_rdlock(&s->table_lock);
    if (topic_lookup(s, name, p, false, &t) == 0)
        log = t->parts[p]->log;
    pthread_rwlock_unlock(&s->table_lock);
    ck_assert_ptr_nonnull(log);
    return log;
}

/* Wait, up to 10 s, until at least n readers are blocked on log. */
static bool
waiters_reach(samsa_log *log, int n)
{
    int64_t deadline = now_ns() + 10000 * NS_PER_MS;
    while (atomic_load(&log->waiters) < n) {
        if (now_ns() > deadline)
            return false;
        usleep(100);
    }
    return true;
}

static size_t
segments_of(samsa_log *log)
{
    pthread_mutex_lock(&log->lock);
    size_t n = log->nsegs;
    pthread_mutex_unlock(&log->lock);
    return n;
}

static int64_t
end_of(samsa *s, const char *name, int32_t p)
{
    int64_t first, end;
    E(samsa_offsets(s, name, p, &first, &end));
    ck_assert_int_eq(first, 0);
    return end;
}

/* A store on a new directory (*dir) with topic name of config cfg. */
static samsa *
open_with_topic(const char **dir, const char *name, samsa_topic_config cfg)
{
    *dir = test_dir_make();
    samsa *s = test_open(*dir);
    E(samsa_topic_create(s, name, &cfg));
    return s;
}

/* ---- producers ---------------------------------------------------------- */

/* One producing thread: count records, in calls of 1 (max_batch 1) or of
 * 1..max_batch records at random.  With SAMSA_PARTITION_ANY every record
 * has a key.  It checks what each call reports (partition, consecutive
 * offsets within each partition's batch, and that the records are readable
 * once the call returned) and remembers where each record went. */
typedef struct producer {
    samsa *s;
    const char *topic;
    int32_t partition;     /* explicit, or SAMSA_PARTITION_ANY: keyed     */
    int32_t nparts;        /* the topic's partition count                 */
    uint32_t who;          /* written into every value                    */
    uint32_t count;        /* records to produce                          */
    int max_batch;         /* 1: one record per call                      */
    pthread_barrier_t *go; /* start together, or NULL                     */
    int64_t *offsets;      /* out: per seq, the offset reported           */
    int32_t *parts;        /* out: per seq, the partition reported        */
    uint8_t *seen;         /* per seq: met by check_partition()           */
    char err[ERR_LEN];
} producer;

static void *
producer_main(void *arg)
{
    producer *p = arg;
    samsa_record recs[MAX_BATCH];
    uint8_t vals[MAX_BATCH][8 + FILLER_MAX];
    char keys[MAX_BATCH][32];
    unsigned seed = p->who * 2654435761u + 17;
    if (p->go != NULL)
        pthread_barrier_wait(p->go);
    for (uint32_t seq = 0; seq < p->count;) {
        size_t n = p->max_batch <= 1
                       ? 1
                       : 1 + (size_t)rand_r(&seed) % (size_t)p->max_batch;
        if (n > p->count - seq)
            n = p->count - seq;
        for (size_t i = 0; i < n; i++) {
            uint32_t q = seq + (uint32_t)i;
            recs[i] = (samsa_record){.value = vals[i]};
            recs[i].value_len = value_make(vals[i], p->who, q);
            if (p->partition == SAMSA_PARTITION_ANY) {
                recs[i].key = keys[i];
                recs[i].key_len = key_make(keys[i], sizeof keys[i], p->who, q);
            }
        }
        int rc = samsa_produce(p->s, p->topic, p->partition, recs, n);
        if (rc != 0) {
            tfail(p->err, "produce seq %u (%zu records): %s", seq, n,
                  samsa_strerror(rc));
            return NULL;
        }
        for (size_t i = 0; i < n; i++) {
            uint32_t q = seq + (uint32_t)i;
            int32_t want = p->partition != SAMSA_PARTITION_ANY
                               ? p->partition
                               : samsa_partition_for_key(
                                     recs[i].key, recs[i].key_len, p->nparts);
            if (recs[i].partition != want || recs[i].offset < 0) {
                tfail(p->err, "seq %u: partition %d offset %lld, want %d", q,
                      (int)recs[i].partition, (long long)recs[i].offset,
                      (int)want);
                return NULL;
            }
            /* One call's records for one partition are one batch. */
            for (size_t j = i; j-- > 0;)
                if (recs[j].partition == recs[i].partition) {
                    if (recs[i].offset != recs[j].offset + 1)
                        tfail(p->err,
                              "seq %u: offset %lld after %lld in one "
                              "batch",
                              q, (long long)recs[i].offset,
                              (long long)recs[j].offset);
                    break;
                }
            /* Once the call returned, its records are visible. */
            int64_t end = -1;
            rc = samsa_offsets(p->s, p->topic, recs[i].partition, NULL, &end);
            if (rc != 0 || end <= recs[i].offset)
                tfail(p->err, "seq %u: offset %lld but end %lld (%s)", q,
                      (long long)recs[i].offset, (long long)end,
                      samsa_strerror(rc));
            if (p->err[0] != '\0')
                return NULL;
            p->offsets[q] = recs[i].offset;
            p->parts[q] = recs[i].partition;
        }
        seq += (uint32_t)n;
    }
    return NULL;
}

static void
producers_init(producer *p, size_t n, samsa *s, const char *topic_name,
               int32_t partition, int32_t nparts, uint32_t count, int max_batch,
               pthread_barrier_t *go)
{
    ck_assert_uint_le(n, NPRODS_MAX);
    for (size_t i = 0; i < n; i++) {
        p[i] = (producer){.s = s,
                          .topic = topic_name,
                          .partition = partition,
                          .nparts = nparts,
                          .who = (uint32_t)i,
                          .count = count,
                          .max_batch = max_batch,
                          .go = go};
        p[i].offsets = malloc(count * sizeof *p[i].offsets);
        p[i].parts = malloc(count * sizeof *p[i].parts);
        p[i].seen = calloc(count, 1);
        ck_assert(p[i].offsets && p[i].parts && p[i].seen);
    }
}

/* Join the producers and check that every one of them succeeded. */
static void
producers_join(producer *p, const pthread_t *th, size_t n)
{
    for (size_t i = 0; i < n; i++)
        join(th[i]);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(p[i].err[0] == '\0', "producer %zu: %s", i, p[i].err);
}

static void
producers_free(producer *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].offsets);
        free(p[i].parts);
        free(p[i].seen);
    }
}

/* Start n producers, a thread each. */
static void
producers_start(producer *p, pthread_t *th, size_t n)
{
    for (size_t i = 0; i < n; i++)
        start(&th[i], producer_main, &p[i]);
}

/* Run four producers (producers_init()'s arguments) that start together,
 * and join them. */
static void
producers_run4(producer *p, samsa *s, const char *topic_name, int32_t partition,
               int32_t nparts, uint32_t count, int max_batch)
{
    pthread_t th[4];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 4);
    producers_init(p, 4, s, topic_name, partition, nparts, count, max_batch,
                   &go);
    producers_start(p, th, 4);
    producers_join(p, th, 4);
    pthread_barrier_destroy(&go);
    for (size_t i = 0; i < 4; i++)
        p[i].go = NULL; /* gone with this call */
}

/* Every record of every producer was met exactly once; clears the marks. */
static void
check_all_seen(producer *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (uint32_t q = 0; q < p[i].count; q++) {
            ck_assert_msg(p[i].seen[q], "producer %zu seq %u never read", i, q);
            p[i].seen[q] = 0;
        }
}

/* Read partition part from the beginning: offsets 0..end-1 with no gap,
 * each record whole, at the offset and partition its producer was told,
 * never twice, each producer's records in its own order.  Marks each in
 * seen; returns how many there were. */
static int64_t
check_partition(samsa *s, const char *topic_name, int32_t part, producer *p,
                size_t nprods)
{
    int64_t end = end_of(s, topic_name, part);
    int64_t last[NPRODS_MAX];
    for (size_t i = 0; i < NPRODS_MAX; i++)
        last[i] = -1;
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, topic_name, part, SAMSA_OFFSET_BEGINNING, &c));
    int64_t n = 0;
    int rc;
    while ((rc = samsa_cursor_next(c, &m, 0)) == 0) {
        uint32_t who, seq;
        ck_assert_int_eq(m.offset, n);
        ck_assert_int_eq(m.partition, part);
        ck_assert_str_eq(m.topic, topic_name);
        ck_assert_msg(value_parse(&m, &who, &seq), "offset %lld: bad value",
                      (long long)n);
        ck_assert_uint_lt(who, nprods);
        ck_assert_uint_lt(seq, p[who].count);
        ck_assert_msg(!p[who].seen[seq], "producer %u seq %u read twice", who,
                      seq);
        p[who].seen[seq] = 1;
        ck_assert_int_eq(p[who].offsets[seq], m.offset);
        ck_assert_int_eq(p[who].parts[seq], part);
        ck_assert_msg((int64_t)seq > last[who],
                      "producer %u: seq %u at offset %lld after seq %lld", who,
                      seq, (long long)m.offset, (long long)last[who]);
        last[who] = seq;
        if (p[who].partition == SAMSA_PARTITION_ANY) {
            char k[32];
            size_t kl = key_make(k, sizeof k, who, seq);
            ck_assert_uint_eq(m.key_len, kl);
            ck_assert_mem_eq(m.key, k, kl);
        } else {
            ck_assert_ptr_null(m.key);
        }
        n++;
    }
    EQ_RC(rc, SAMSA_ETIMEDOUT);
    ck_assert_int_eq(n, end);
    samsa_cursor_close(c);
    return n;
}

/* ---- followers ---------------------------------------------------------- */

/* A reading thread: want records from offset first on, each producer's
 * records in sequence (all of a producer's records go to this partition),
 * then nothing more. */
typedef struct follower {
    samsa_cursor *c; /* opened by the test; this thread's alone meanwhile */
    int32_t partition;
    int64_t first;   /* the offset of the first record to get            */
    int64_t want;    /* records to get                                    */
    int timeout_ms;  /* for every samsa_cursor_next()                     */
    uint32_t nprods; /* producers writing                                 */
    int64_t got;
    char err[ERR_LEN];
} follower;

static void *
follower_main(void *arg)
{
    follower *f = arg;
    uint32_t next_seq[NPRODS_MAX] = {0};
    samsa_message m;
    while (f->got < f->want) {
        int rc = samsa_cursor_next(f->c, &m, f->timeout_ms);
        if (rc != 0) {
            tfail(f->err, "after %lld records: %s", (long long)f->got,
                  samsa_strerror(rc));
            return NULL;
        }
        uint32_t who, seq;
        if (m.offset != f->first + f->got || m.partition != f->partition) {
            tfail(f->err, "record %lld: got offset %lld partition %d",
                  (long long)f->got, (long long)m.offset, (int)m.partition);
            return NULL;
        }
        if (!value_parse(&m, &who, &seq) || who >= f->nprods) {
            tfail(f->err, "offset %lld: bad value", (long long)m.offset);
            return NULL;
        }
        if (seq != next_seq[who]) {
            tfail(f->err, "offset %lld: producer %u seq %u, want seq %u",
                  (long long)m.offset, who, seq, next_seq[who]);
            return NULL;
        }
        next_seq[who]++;
        f->got++;
    }
    int rc = samsa_cursor_next(f->c, &m, 0);
    if (rc != SAMSA_ETIMEDOUT)
        tfail(f->err, "after the last record: %s, want SAMSA_ETIMEDOUT",
              samsa_strerror(rc));
    return NULL;
}

static void
follower_check(const follower *f, size_t i)
{
    ck_assert_msg(f->err[0] == '\0', "follower %zu: %s", i, f->err);
    ck_assert_int_eq(f->got, f->want);
}

/* ---- 1, 2: producers sharing a partition, a topic ----------------------- */

/* 4 threads produce count records each into one partition: the offsets are
 * dense, every record is there once, each thread's order is kept. */
static void
one_partition(int max_batch, uint32_t count)
{
    const char *dir;
    samsa *s = open_with_topic(
        &dir, "one",
        (samsa_topic_config){.partitions = 1, .segment_bytes = 1 << 16});
    producer p[4];
    producers_run4(p, s, "one", 0, 1, count, max_batch);
    ck_assert_int_eq(end_of(s, "one", 0), 4 * (int64_t)count);
    ck_assert_int_eq(check_partition(s, "one", 0, p, 4), 4 * (int64_t)count);
    check_all_seen(p, 4);
    ck_assert_uint_gt(segments_of(log_of(s, "one", 0)), 1); /* rolled */
    producers_free(p, 4);
    E(samsa_close(s));
    test_dir_remove(dir);
}

START_TEST(test_one_partition_single)
{
    one_partition(1, 3000);
}
END_TEST

START_TEST(test_one_partition_batches)
{
    one_partition(MAX_BATCH, 5000);
}
END_TEST

/* 4 threads produce keyed records, 1..17 per call, to SAMSA_PARTITION_ANY
 * of a 4-partition topic: each lands where its key says, and each
 * partition's offsets are dense. */
START_TEST(test_keyed_partitions)
{
    const uint32_t count = 4000;
    const char *dir;
    samsa *s = open_with_topic(
        &dir, "keyed",
        (samsa_topic_config){.partitions = 4, .segment_bytes = 1 << 16});
    producer p[4];
    producers_run4(p, s, "keyed", SAMSA_PARTITION_ANY, 4, count, MAX_BATCH);
    int64_t total = 0;
    for (int32_t part = 0; part < 4; part++) {
        int64_t n = check_partition(s, "keyed", part, p, 4);
        ck_assert_int_gt(n, 0);
        total += n;
    }
    ck_assert_int_eq(total, 4 * (int64_t)count);
    check_all_seen(p, 4);
    producers_free(p, 4);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ---- 3: blocked readers woken ------------------------------------------- */

#define WAKE_RECORDS    400
#define IDLE_TRIES      3
#define IDLE_TIMEOUT_MS 50

/* A reader on a partition nobody writes to: its timeouts must expire. */
typedef struct idle_reader {
    samsa_cursor *c;
    int rc_now;         /* samsa_cursor_next(0)                  */
    int rc[IDLE_TRIES]; /* samsa_cursor_next(IDLE_TIMEOUT_MS)    */
    int64_t elapsed_ms[IDLE_TRIES];
} idle_reader;

static void *
idle_main(void *arg)
{
    idle_reader *r = arg;
    samsa_message m;
    r->rc_now = samsa_cursor_next(r->c, &m, 0);
    for (int i = 0; i < IDLE_TRIES; i++) {
        int64_t t0 = now_ns();
        r->rc[i] = samsa_cursor_next(r->c, &m, IDLE_TIMEOUT_MS);
        r->elapsed_ms[i] = (now_ns() - t0) / NS_PER_MS;
    }
    return NULL;
}

/* Two readers block on an empty partition, one without a timeout and one
 * with 5 s; the first half of the records is produced one at a time only
 * once both sleep, the second half in a burst.  Both get every record, in
 * order.  Meanwhile a reader of the other, idle, partition times out. */
START_TEST(test_blocked_reader_wakes)
{
    const char *dir;
    samsa *s =
        open_with_topic(&dir, "w", (samsa_topic_config){.partitions = 2});
    samsa_log *log = log_of(s, "w", 0);
    follower f[2] = {
        {.partition = 0, .want = WAKE_RECORDS, .timeout_ms = -1, .nprods = 1},
        {.partition = 0, .want = WAKE_RECORDS, .timeout_ms = 5000, .nprods = 1},
    };
    E(samsa_cursor_open(s, "w", 0, SAMSA_OFFSET_BEGINNING, &f[0].c));
    E(samsa_cursor_open(s, "w", 0, SAMSA_OFFSET_END, &f[1].c));
    idle_reader idle = {0};
    E(samsa_cursor_open(s, "w", 1, SAMSA_OFFSET_BEGINNING, &idle.c));
    pthread_t th[3];
    start(&th[0], follower_main, &f[0]);
    start(&th[1], follower_main, &f[1]);
    start(&th[2], idle_main, &idle);

    for (uint32_t i = 0; i < WAKE_RECORDS; i++) {
        if (i < WAKE_RECORDS / 2)
            ck_assert_msg(waiters_reach(log, 2),
                          "record %u: the readers never blocked", i);
        ck_assert_int_eq(produce_one(s, "w", 0, 0, i), i);
    }
    for (int i = 0; i < 3; i++)
        join(th[i]);
    follower_check(&f[0], 0);
    follower_check(&f[1], 1);

    EQ_RC(idle.rc_now, SAMSA_ETIMEDOUT);
    for (int i = 0; i < IDLE_TRIES; i++) {
        EQ_RC(idle.rc[i], SAMSA_ETIMEDOUT);
        ck_assert_int_ge(idle.elapsed_ms[i], IDLE_TIMEOUT_MS);
        ck_assert_int_lt(idle.elapsed_ms[i], 5000);
    }
    ck_assert_int_eq(samsa_cursor_offset(idle.c), 0);
    ck_assert_int_eq(end_of(s, "w", 1), 0);

    samsa_cursor_close(f[0].c);
    samsa_cursor_close(f[1].c);
    samsa_cursor_close(idle.c);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ---- 4: readers following the log across rolls -------------------------- */

/* 3 readers follow one partition while 2 producers write to it (one record
 * per call, and 1..17); with 4 KiB segments the log rolls over and over
 * under them.  One reader starts at the beginning, one at the end of the
 * empty log, one joins late from the beginning and catches up through
 * sealed segments while rolls go on.  Each sees every record, in offset
 * order, no gap. */
START_TEST(test_readers_follow_rolls)
{
    const uint32_t count = 5000;
    const int64_t total = 2 * (int64_t)count;
    const char *dir;
    samsa *s =
        open_with_topic(&dir, "f",
                        (samsa_topic_config){.partitions = 1,
                                             .segment_bytes = 4096,
                                             .index_interval_bytes = 256});
    follower f[3];
    for (int i = 0; i < 3; i++)
        f[i] = (follower){.partition = 0,
                          .want = total,
                          .nprods = 2,
                          .timeout_ms = i == 1 ? 10000 : -1};
    E(samsa_cursor_open(s, "f", 0, SAMSA_OFFSET_BEGINNING, &f[0].c));
    E(samsa_cursor_open(s, "f", 0, SAMSA_OFFSET_END, &f[1].c));
    producer p[2];
    producers_init(p, 2, s, "f", 0, 1, count, 1, NULL);
    p[1].max_batch = MAX_BATCH;
    pthread_t fth[3], pth[2];
    start(&fth[0], follower_main, &f[0]);
    start(&fth[1], follower_main, &f[1]);
    producers_start(p, pth, 2);

    /* The late reader: once a quarter of the records is in. */
    int64_t deadline = now_ns() + 30000 * NS_PER_MS;
    while (end_of(s, "f", 0) < total / 4 && now_ns() < deadline)
        usleep(1000);
    E(samsa_cursor_open(s, "f", 0, SAMSA_OFFSET_BEGINNING, &f[2].c));
    start(&fth[2], follower_main, &f[2]);

    producers_join(p, pth, 2);
    for (int i = 0; i < 3; i++)
        join(fth[i]);
    for (int i = 0; i < 3; i++)
        follower_check(&f[i], (size_t)i);
    ck_assert_uint_gt(segments_of(log_of(s, "f", 0)), 20);
    ck_assert_int_eq(check_partition(s, "f", 0, p, 2), total);
    check_all_seen(p, 2);
    for (int i = 0; i < 3; i++)
        samsa_cursor_close(f[i].c);
    producers_free(p, 2);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ---- 5: a topic deleted under blocked readers --------------------------- */

typedef struct blocked {
    samsa_cursor *c;
    int64_t skip;     /* records to read before blocking                */
    int timeout_ms;   /* of the blocking call                           */
    bool close;       /* close the cursor in the thread at the end      */
    int rc, rc_again; /* the blocking call, one more call after it      */
    char err[ERR_LEN];
} blocked;

static void *
blocked_main(void *arg)
{
    blocked *b = arg;
    samsa_message m;
    for (int64_t i = 0; i < b->skip; i++) {
        int rc = samsa_cursor_next(b->c, &m, -1);
        if (rc != 0 || m.offset != i) {
            tfail(b->err, "record %lld: %s, offset %lld", (long long)i,
                  samsa_strerror(rc), (long long)m.offset);
            return NULL;
        }
    }
    b->rc = samsa_cursor_next(b->c, &m, b->timeout_ms);
    b->rc_again = samsa_cursor_next(b->c, &m, 0);
    if (b->close) {
        samsa_cursor_close(b->c);
        b->c = NULL;
    }
    return NULL;
}

/* Readers blocked in samsa_cursor_next() (one for ever, past 100 records;
 * one with a 30 s timeout on an empty partition) return SAMSA_EDELETED when
 * the topic is deleted, and keep returning it; their cursors still close
 * (one in its thread, one after), even once a new topic of the same name
 * exists, and the store closes cleanly. */
START_TEST(test_delete_wakes_reader)
{
    const char *dir;
    samsa *s = open_with_topic(
        &dir, "d",
        (samsa_topic_config){.partitions = 2, .segment_bytes = 4096});
    for (uint32_t i = 0; i < 100; i++)
        ck_assert_int_eq(produce_one(s, "d", 0, 0, i), i);
    samsa_log *log0 = log_of(s, "d", 0), *log1 = log_of(s, "d", 1);
    blocked b[2] = {{.skip = 100, .timeout_ms = -1},
                    {.skip = 0, .timeout_ms = 30000, .close = true}};
    E(samsa_cursor_open(s, "d", 0, SAMSA_OFFSET_BEGINNING, &b[0].c));
    E(samsa_cursor_open(s, "d", 1, SAMSA_OFFSET_END, &b[1].c));
    samsa_cursor *c0 = b[0].c;
    pthread_t th[2];
    start(&th[0], blocked_main, &b[0]);
    start(&th[1], blocked_main, &b[1]);
    /* The logs stay valid: the cursors hold references on them. */
    ck_assert_msg(waiters_reach(log0, 1), "reader 0 never blocked");
    ck_assert_msg(waiters_reach(log1, 1), "reader 1 never blocked");
    int64_t t0 = now_ns();
    E(samsa_topic_delete(s, "d"));
    join(th[0]);
    join(th[1]);
    ck_assert_int_lt((now_ns() - t0) / NS_PER_MS, 20000);
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(b[i].err[0] == '\0', "reader %d: %s", i, b[i].err);
        EQ_RC(b[i].rc, SAMSA_EDELETED);
        EQ_RC(b[i].rc_again, SAMSA_EDELETED);
    }
    ck_assert_ptr_null(b[1].c);

    samsa_message m;
    ck_assert_int_eq(samsa_cursor_offset(c0), 100);
    EQ_RC(samsa_cursor_seek(c0, 0), SAMSA_EDELETED);
    EQ_RC(samsa_cursor_seek_time(c0, 0), SAMSA_EDELETED);
    EQ_RC(samsa_offsets(s, "d", 0, NULL, NULL), SAMSA_ENOTOPIC);
    samsa_cursor *c;
    EQ_RC(samsa_cursor_open(s, "d", 0, 0, &c), SAMSA_ENOTOPIC);
    samsa_record r = {.value = "x", .value_len = 1};
    EQ_RC(samsa_produce(s, "d", 0, &r, 1), SAMSA_ENOTOPIC);

    /* A new topic of the same name starts empty; the old cursor stays
     * deleted. */
    E(samsa_topic_create(s, "d", NULL));
    ck_assert_int_eq(end_of(s, "d", 0), 0);
    ck_assert_int_eq(produce_one(s, "d", 0, 1, 7), 0);
    E(samsa_cursor_open(s, "d", 0, SAMSA_OFFSET_BEGINNING, &c));
    E(samsa_cursor_next(c, &m, 0));
    uint32_t who, seq;
    ck_assert(value_parse(&m, &who, &seq));
    ck_assert_uint_eq(who, 1);
    ck_assert_uint_eq(seq, 7);
    EQ_RC(samsa_cursor_next(c0, &m, 0), SAMSA_EDELETED);
    samsa_cursor_close(c0);
    samsa_cursor_close(c);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ---- 6: group commit ----------------------------------------------------- */

/* A SAMSA_SYNC_ALWAYS topic, 4 producers (two one record per call, two
 * 1..17) and a reader following: everyone succeeds, the reader sees every
 * record in order, the offsets are dense, and all of it is there after
 * close and reopen. */
START_TEST(test_group_commit)
{
    const uint32_t count = 600;
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {
        .partitions = 1, .segment_bytes = 16384, .sync = SAMSA_SYNC_ALWAYS};
    E(samsa_topic_create(s, "g", &cfg));
    E(samsa_topic_describe(s, "g", &cfg));
    ck_assert_int_eq(cfg.sync, SAMSA_SYNC_ALWAYS);
    producer p[4];
    pthread_t pth[4], fth;
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 4);
    producers_init(p, 4, s, "g", 0, 1, count, 1, &go);
    p[2].max_batch = p[3].max_batch = MAX_BATCH;
    follower f = {.partition = 0,
                  .want = 4 * (int64_t)count,
                  .timeout_ms = -1,
                  .nprods = 4};
    E(samsa_cursor_open(s, "g", 0, SAMSA_OFFSET_BEGINNING, &f.c));
    start(&fth, follower_main, &f);
    producers_start(p, pth, 4);
    producers_join(p, pth, 4);
    join(fth);
    follower_check(&f, 0);
    samsa_cursor_close(f.c);
    ck_assert_int_eq(check_partition(s, "g", 0, p, 4), 4 * (int64_t)count);
    check_all_seen(p, 4);
    ck_assert_uint_gt(segments_of(log_of(s, "g", 0)), 1);
    E(samsa_close(s));

    s = test_open(dir);
    ck_assert_int_eq(check_partition(s, "g", 0, p, 4), 4 * (int64_t)count);
    check_all_seen(p, 4);
    producers_free(p, 4);
    pthread_barrier_destroy(&go);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ---- samsa_sync racing producers and rolls ------------------------------ */

typedef struct syncer {
    samsa *s;
    _Atomic bool *stop;
    int calls;
    char err[ERR_LEN];
} syncer;

static void *
syncer_main(void *arg)
{
    syncer *y = arg;
    while (!atomic_load(y->stop)) {
        int rc = samsa_sync(y->s);
        if (rc != 0) {
            tfail(y->err, "samsa_sync: %s", samsa_strerror(rc));
            return NULL;
        }
        y->calls++;
        usleep(500);
    }
    return NULL;
}

/* Two threads call samsa_sync() over and over (so also alongside the
 * background flusher) while 2 producers fill 4 KiB segments of two
 * partitions and a reader follows one: every call succeeds, nothing is
 * lost or reordered, and everything is there after reopening. */
START_TEST(test_sync_while_producing)
{
    const uint32_t count = 3000;
    const char *dir;
    samsa *s = open_with_topic(
        &dir, "y",
        (samsa_topic_config){.partitions = 2, .segment_bytes = 4096});
    producer p[2];
    producers_init(p, 2, s, "y", 0, 2, count, MAX_BATCH, NULL);
    p[1].partition = 1;
    p[1].max_batch = 1;
    follower f = {.partition = 0, .want = count, .timeout_ms = -1, .nprods = 1};
    E(samsa_cursor_open(s, "y", 0, SAMSA_OFFSET_BEGINNING, &f.c));
    _Atomic bool stop = false;
    syncer y[2] = {{.s = s, .stop = &stop}, {.s = s, .stop = &stop}};
    pthread_t pth[2], yth[2], fth;
    start(&fth, follower_main, &f);
    for (int i = 0; i < 2; i++)
        start(&yth[i], syncer_main, &y[i]);
    producers_start(p, pth, 2);
    producers_join(p, pth, 2);
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        join(yth[i]);
    join(fth);
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(y[i].err[0] == '\0', "syncer %d: %s", i, y[i].err);
        ck_assert_int_gt(y[i].calls, 0);
    }
    follower_check(&f, 0);
    samsa_cursor_close(f.c);
    E(samsa_sync(s));
    for (int round = 0; round < 2; round++) {
        for (int32_t part = 0; part < 2; part++)
            ck_assert_int_eq(check_partition(s, "y", part, p, 2), count);
        check_all_seen(p, 2);
        E(samsa_close(s));
        if (round == 0)
            s = test_open(dir);
    }
    producers_free(p, 2);
    test_dir_remove(dir);
}
END_TEST

/* ---- 7: topics created and deleted while others produce ----------------- */

#define CHURN_THREADS 3
#define CHURN_ROUNDS  16
#define SHARED_NAMES  3
#define MAX_NAMES     64

typedef struct name_list {
    char names[MAX_NAMES][64];
    size_t n;
    bool unsorted;
} name_list;

static int
collect_name(const char *name, void *ctx)
{
    name_list *l = ctx;
    if (l->n == MAX_NAMES || strlen(name) >= sizeof l->names[0])
        return -1;
    if (l->n > 0 && strcmp(l->names[l->n - 1], name) >= 0)
        l->unsorted = true;
    strcpy(l->names[l->n++], name);
    return 0;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Thread id's rounds: create its own topic own-ID-J, produce to it, delete
 * it (but keep every fourth), then try to create or delete a name all the
 * threads fight over (shared-K), produce to it, and list the topics. */
typedef struct churn {
    samsa *s;
    int id;
    _Atomic int *created, *deleted; /* per shared name: calls that did it */
    char err[ERR_LEN];
} churn;

static bool
churn_keeps(int round)
{
    return round % 4 == 3;
}

static void *
churn_main(void *arg)
{
    churn *ch = arg;
    samsa *s = ch->s;
    for (int j = 0; j < CHURN_ROUNDS && ch->err[0] == '\0'; j++) {
        char own[64], shared[64];
        snprintf(own, sizeof own, "own-%d-%d", ch->id, j);
        samsa_topic_config cfg = {.partitions = 1 + j % 3,
                                  .segment_bytes = 1 << 16};
        int rc = samsa_topic_create(s, own, &cfg);
        if (rc != 0) {
            tfail(ch->err, "create %s: %s", own, samsa_strerror(rc));
            break;
        }
        samsa_record r = {.value = own, .value_len = strlen(own)};
        rc = samsa_produce(s, own, j % cfg.partitions, &r, 1);
        if (rc != 0 || r.offset != 0)
            tfail(ch->err, "produce to %s: %s, offset %lld", own,
                  samsa_strerror(rc), (long long)r.offset);
        samsa_topic_config got;
        rc = samsa_topic_describe(s, own, &got);
        if (rc != 0 || got.partitions != cfg.partitions)
            tfail(ch->err, "describe %s: %s", own, samsa_strerror(rc));
        if (!churn_keeps(j)) {
            if ((rc = samsa_topic_delete(s, own)) != 0)
                tfail(ch->err, "delete %s: %s", own, samsa_strerror(rc));
            if ((rc = samsa_topic_describe(s, own, &got)) != SAMSA_ENOTOPIC)
                tfail(ch->err, "describe deleted %s: %s", own,
                      samsa_strerror(rc));
            if ((rc = samsa_produce(s, own, 0, &r, 1)) != SAMSA_ENOTOPIC)
                tfail(ch->err, "produce to deleted %s: %s", own,
                      samsa_strerror(rc));
            if ((rc = samsa_topic_delete(s, own)) != SAMSA_ENOTOPIC)
                tfail(ch->err, "delete deleted %s: %s", own,
                      samsa_strerror(rc));
        }

        int k = (ch->id + j) % SHARED_NAMES;
        snprintf(shared, sizeof shared, "shared-%d", k);
        if ((ch->id + j / SHARED_NAMES) % 2 == 0) {
            rc = samsa_topic_create(s, shared, NULL);
            if (rc == 0)
                atomic_fetch_add(&ch->created[k], 1);
            else if (rc != SAMSA_EEXIST)
                tfail(ch->err, "create %s: %s", shared, samsa_strerror(rc));
        } else {
            rc = samsa_topic_delete(s, shared);
            if (rc == 0)
                atomic_fetch_add(&ch->deleted[k], 1);
            else if (rc != SAMSA_ENOTOPIC)
                tfail(ch->err, "delete %s: %s", shared, samsa_strerror(rc));
        }
        samsa_record sr = {.value = shared, .value_len = strlen(shared)};
        rc = samsa_produce(s, shared, SAMSA_PARTITION_ANY, &sr, 1);
        if (rc != 0 && rc != SAMSA_ENOTOPIC)
            tfail(ch->err, "produce to %s: %s", shared, samsa_strerror(rc));

        name_list *l = calloc(1, sizeof *l);
        if (l == NULL) {
            tfail(ch->err, "out of memory");
            break;
        }
        rc = samsa_topic_foreach(s, collect_name, l);
        if (rc != 0 || l->unsorted || l->n == 0)
            tfail(ch->err, "foreach: %s, %zu names%s", samsa_strerror(rc), l->n,
                  l->unsorted ? ", not sorted" : "");
        free(l);
    }
    return NULL;
}

/* The store directory holds a partition directory for each partition of
 * the listed topics, and no other. */
static void
check_dirs(const char *dir, const name_list *want)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    size_t parts = 0;
    while ((e = readdir(d)) != NULL) {
        const char *dash = strrchr(e->d_name, '-');
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, "lock") == 0 || strcmp(e->d_name, "catalog") == 0)
            continue;
        ck_assert_msg(dash != NULL, "stray %s", e->d_name);
        bool found = false;
        for (size_t i = 0; i < want->n && !found; i++)
            found = strlen(want->names[i]) == (size_t)(dash - e->d_name) &&
                    strncmp(want->names[i], e->d_name,
                            (size_t)(dash - e->d_name)) == 0;
        ck_assert_msg(found, "stray %s", e->d_name);
        parts++;
    }
    closedir(d);
    ck_assert_uint_ge(parts, want->n);
}

/* 3 threads create and delete topics (their own, and 3 names they all
 * fight over) while 2 producers write to another topic.  The only errors
 * are the ones races make legitimate (SAMSA_EEXIST, SAMSA_ENOTOPIC on the
 * shared names); each shared name's successful creates and deletes
 * alternate, so their difference says whether it exists; at the end
 * samsa_topic_foreach lists exactly the surviving topics, before and after
 * reopening, and the directories of the deleted ones are gone. */
START_TEST(test_topic_churn)
{
    const uint32_t count = 3000;
    const char *dir;
    samsa *s = open_with_topic(
        &dir, "p",
        (samsa_topic_config){.partitions = 1, .segment_bytes = 1 << 16});
    producer p[2];
    producers_init(p, 2, s, "p", 0, 1, count, MAX_BATCH, NULL);
    p[1].max_batch = 1;
    _Atomic int created[SHARED_NAMES], deleted[SHARED_NAMES];
    for (int k = 0; k < SHARED_NAMES; k++) {
        atomic_init(&created[k], 0);
        atomic_init(&deleted[k], 0);
    }
    churn ch[CHURN_THREADS];
    pthread_t pth[2], cth[CHURN_THREADS];
    producers_start(p, pth, 2);
    for (int i = 0; i < CHURN_THREADS; i++) {
        ch[i] =
            (churn){.s = s, .id = i, .created = created, .deleted = deleted};
        start(&cth[i], churn_main, &ch[i]);
    }
    for (int i = 0; i < CHURN_THREADS; i++)
        join(cth[i]);
    producers_join(p, pth, 2);
    for (int i = 0; i < CHURN_THREADS; i++)
        ck_assert_msg(ch[i].err[0] == '\0', "churn %d: %s", i, ch[i].err);

    /* The topics that must be left, sorted. */
    static name_list want, got;
    memset(&want, 0, sizeof want);
    strcpy(want.names[want.n++], "p");
    for (int i = 0; i < CHURN_THREADS; i++)
        for (int j = 0; j < CHURN_ROUNDS; j++)
            if (churn_keeps(j))
                snprintf(want.names[want.n++], sizeof want.names[0],
                         "own-%d-%d", i, j);
    for (int k = 0; k < SHARED_NAMES; k++) {
        int diff = atomic_load(&created[k]) - atomic_load(&deleted[k]);
        samsa_topic_config c;
        char name[64];
        snprintf(name, sizeof name, "shared-%d", k);
        ck_assert_msg(diff == 0 || diff == 1, "%s: created %d deleted %d", name,
                      atomic_load(&created[k]), atomic_load(&deleted[k]));
        EQ_RC(samsa_topic_describe(s, name, &c),
              diff == 1 ? 0 : SAMSA_ENOTOPIC);
        if (diff == 1)
            strcpy(want.names[want.n++], name);
    }
    qsort(want.names, want.n, sizeof want.names[0], cmp_names);

    for (int round = 0; round < 2; round++) {
        memset(&got, 0, sizeof got);
        E(samsa_topic_foreach(s, collect_name, &got));
        ck_assert(!got.unsorted);
        ck_assert_uint_eq(got.n, want.n);
        for (size_t i = 0; i < want.n; i++)
            ck_assert_str_eq(got.names[i], want.names[i]);
        ck_assert_int_eq(check_partition(s, "p", 0, p, 2), 2 * (int64_t)count);
        check_all_seen(p, 2);
        E(samsa_close(s));
        check_dirs(dir, &want);
        if (round == 0)
            s = test_open(dir);
    }
    producers_free(p, 2);
    test_dir_remove(dir);
}
END_TEST

Suite *
threads_suite(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    /* Generous: the suite also runs under ThreadSanitizer and Valgrind. */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_one_partition_single);
    tcase_add_test(tc, test_one_partition_batches);
    tcase_add_test(tc, test_keyed_partitions);
    tcase_add_test(tc, test_blocked_reader_wakes);
    tcase_add_test(tc, test_readers_follow_rolls);
    tcase_add_test(tc, test_delete_wakes_reader);
    tcase_add_test(tc, test_group_commit);
    tcase_add_test(tc, test_sync_while_producing);
    tcase_add_test(tc, test_topic_churn);
    suite_add_tcase(s, tc);
    return s;
}
