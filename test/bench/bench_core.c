/*
 * bench_core.c - the core benchmark: samsa's produce, read and hand-off
 * figures, side by side with LMDB used as a queue, in one run on one machine.
 *
 *   build/bench/bench_core [DIR]
 *
 * The stores live in a fresh directory under DIR, or under $TMPDIR, or under
 * /tmp; it is removed at the end.  Every figure is the median of RUNS runs
 * (after one warm-up run that is not counted), printed with its min and max,
 * and written to a CSV file as well.  Every run starts after sync(2), so
 * that no run is timed while the kernel writes back an earlier one's data.
 *
 * Environment:
 *   SAMSA_BENCH_CSV=PATH   where the CSV goes (default build/bench-core.csv);
 *                          columns system,workload,unit,median,min,max,runs
 *   SAMSA_BENCH_QUICK=1    a smoke run: record counts / 10, 3 runs
 *
 * What is measured, and why the two systems are comparable:
 *
 *  - Every record is a 16-byte key and a 100-byte value; one partition.
 *  - No sync.  samsa uses SAMSA_SYNC_NONE: produce returns once the batch
 *    is in the page cache.  LMDB uses MDB_NOSYNC: a commit writes its pages
 *    with pwrite() (so they are in the page cache) but does not fsync.  Both
 *    therefore survive a crash of the process (kill -9) and neither survives
 *    a power cut: the same promise.  (MDB_WRITEMAP|MDB_MAPASYNC would give
 *    the same promise too, but writes through a writable map; we keep LMDB's
 *    default, safer, mode.)
 *  - The data stays in the page cache: the machine has the memory for it and
 *    nothing is dropped between writing and reading.
 *  - LMDB as a queue: one DB with MDB_INTEGERKEY whose keys are uint64
 *    sequence numbers, put with MDB_APPEND; the value is the 100-byte value
 *    followed by the 16-byte key, so each record carries the same bytes.
 *    "One record per produce call" is one write transaction per record for
 *    LMDB (that is what a producer call that returns with the record stored
 *    means there); "100 per call" is one transaction per 100 records.
 *  - Reads are zero-copy in both (samsa's cursor points into the mapped
 *    segment, LMDB's into its map); both readers check the order of the
 *    records and fold every byte of key and value into a checksum that must
 *    match what was written, so neither can skip touching the data.
 *
 * Figures:
 *   1. samsa produce 1/call:   N1 records, one samsa_produce() per record,
 *                              one thread, a fresh topic per run;
 *   2. samsa produce 100/call: N100 records, 100 per samsa_produce();
 *   3. samsa read:             samsa_cursor_next(c, &m, 0) over all N100
 *                              records written by the last run of 2;
 *   4. samsa hand-off latency: one thread produces one record every
 *                              LAT_GAP_NS (busy-wait pacing), another blocked
 *                              in samsa_cursor_next(c, &m, -1) receives it;
 *                              latency = receive time - time just before the
 *                              produce call (CLOCK_MONOTONIC, carried in the
 *                              value).  With two or more CPUs the two
 *                              threads are pinned to two different ones, so
 *                              that they never share one: the kernel may
 *                              otherwise wake the reader on the CPU where
 *                              the producer spins, and the figure would show
 *                              the scheduler's time slice (milliseconds).
 *                              Before the first run, samsa_sync() writes the
 *                              records of 1-3 out (untimed), so that their
 *                              writeback does not take the CPUs away from
 *                              the two threads; the hand-off topic itself
 *                              has no sync, like the others.
 *                              Per run: LAT_SAMPLES samples after
 *                              LAT_WARMUP unmeasured ones; p50, p99, p99.9
 *                              and max of each run, then the median of those
 *                              over the runs;
 *   5. the same produce 1/call, produce 100/call and read on LMDB, and the
 *      ratio samsa/LMDB (records per second; above 1 means samsa is faster).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <ftw.h>
#include <lmdb.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "samsa.h"

/* ---- sizes and counts ---------------------------------------------------- */

#define KEY_LEN        16
#define VALUE_LEN      100
#define LMDB_VALUE_LEN (VALUE_LEN + KEY_LEN) /* value, then the key     */
#define BATCH          100                   /* records per call in 2   */
#define MAX_RUNS       16
#define MAX_FIGS       4

#define N1_FULL          2000000u  /* records per run, 1 per call            */
#define N100_FULL        10000000u /* records per run, 100 per call          */
#define LAT_SAMPLES_FULL 100000u
#define LAT_WARMUP_FULL  10000u
#define LAT_GAP_NS       20000u /* 20 us between two hand-off records     */
#define RUNS_FULL        5
#define RUNS_QUICK       3

#define LMDB_MAP_BYTES ((size_t)8 << 30) /* 8 GiB: room for N100 records */

/* ---- errors: every call is checked, and a failure ends the program ------- */

static void die(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));

static void
die(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("bench_core: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

#define SAMSA_CHECK(call)                                                      \
    do {                                                                       \
        int rc_ = (call);                                                      \
        if (rc_ != 0)                                                          \
            die("%s:%d: %s: %s", __FILE__, __LINE__, #call,                    \
                samsa_strerror(rc_));                                          \
    } while (0)

#define MDB_CHECK(call)                                                        \
    do {                                                                       \
        int rc_ = (call);                                                      \
        if (rc_ != 0)                                                          \
            die("%s:%d: %s: %s", __FILE__, __LINE__, #call,                    \
                mdb_strerror(rc_));                                            \
    } while (0)

/* ---- the state shared by the workloads ----------------------------------- */

static struct {
    char dir[4096];    /* the fresh work directory                   */
    samsa *s;          /* the samsa store, open until the LMDB runs  */
    unsigned runs;     /* measured runs per figure                   */
    uint64_t n1, n100; /* records per run for figures 1 and 2        */
    uint64_t lat_samples, lat_warmup;
    char samsa_read_topic[64]; /* the log the last run of 2 wrote          */
    MDB_env *lmdb_read_env;    /* the env the last LMDB 100/call run wrote */
    MDB_dbi lmdb_read_dbi;
    uint64_t expected_sum;        /* checksum of records 0..n100-1            */
    cpu_set_t cpus;               /* the CPUs the process may run on          */
    int cpu_producer, cpu_reader; /* hand-off threads' CPUs, or -1 and -1  */
} B;

static uint64_t
now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        die("clock_gettime: %s", strerror(errno));
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the records ----------------------------------------------------------
 * Record i: the value is a fixed 100-byte pattern with i in bytes 0..7 (and,
 * for hand-off, the send time in bytes 8..15); the key is a fixed 16-byte
 * pattern with i in bytes 0..7.  fold() mixes every byte of a record into a
 * 64-bit word; the readers sum fold() over all records and compare with the
 * sum computed from the same recipe. */

static unsigned char value_template[VALUE_LEN];
static unsigned char key_template[KEY_LEN];

static void
templates_init(void)
{
    for (size_t i = 0; i < VALUE_LEN; i++)
        value_template[i] = (unsigned char)('a' + i % 26);
    for (size_t i = 0; i < KEY_LEN; i++)
        key_template[i] = (unsigned char)('A' + i % 26);
}

static inline void
put_u64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}
static inline uint64_t
get_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Write sequence number seq into a value and its key. */
static inline void
record_set_seq(unsigned char *value, unsigned char *key, uint64_t seq)
{
    put_u64(value, seq);
    put_u64(key, seq);
}

static inline uint64_t
mix(uint64_t h, uint64_t w)
{
    h ^= w;
    h *= 0x9e3779b97f4a7c15u;
    return h ^ (h >> 29);
}

/* Every byte of a 100-byte value and a 16-byte key, mixed. */
static inline uint64_t
fold(const unsigned char *value, const unsigned char *key)
{
    uint64_t h = 0;
    uint32_t tail;
    for (size_t i = 0; i + 8 <= VALUE_LEN; i += 8)
        h = mix(h, get_u64(value + i));
    memcpy(&tail, value + VALUE_LEN - 4, 4);
    h = mix(h, tail);
    h = mix(h, get_u64(key));
    return mix(h, get_u64(key + 8));
}

/* The checksum of records 0..n-1, computed as the producers build them. */
static uint64_t
expected_sum(uint64_t n)
{
    unsigned char v[VALUE_LEN], k[KEY_LEN];
    uint64_t sum = 0;
    memcpy(v, value_template, VALUE_LEN);
    memcpy(k, key_template, KEY_LEN);
    for (uint64_t i = 0; i < n; i++) {
        record_set_seq(v, k, i);
        sum += fold(v, k);
    }
    return sum;
}

/* ---- files ----------------------------------------------------------------
 */

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        fprintf(stderr, "bench_core: remove %s: %s\n", path, strerror(errno));
    return 0;
}

static void
rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
path_in_dir(char *out, size_t size, const char *name)
{
    int len = snprintf(out, size, "%s/%s", B.dir, name);
    if (len < 0 || (size_t)len >= size)
        die("path too long: %s/%s", B.dir, name);
}

/* On any exit, also after die(), the work directory goes. */
static void
cleanup(void)
{
    if (B.dir[0] != '\0') {
        rm_tree(B.dir);
        B.dir[0] = '\0';
    }
}

/* ---- samsa workloads ------------------------------------------------------
 */

static void
samsa_topic_fresh(const char *name)
{
    samsa_topic_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.partitions = 1;
    cfg.sync = SAMSA_SYNC_NONE;
    SAMSA_CHECK(samsa_topic_create(B.s, name, &cfg));
}

/* Produce records 0..n-1 into partition 0 of topic, per_call records per
 * samsa_produce() call; return records per second. */
static double
samsa_produce_n(const char *topic, uint64_t n, size_t per_call)
{
    static unsigned char values[BATCH][VALUE_LEN], keys[BATCH][KEY_LEN];
    samsa_record recs[BATCH];

    memset(recs, 0, sizeof recs);
    for (size_t j = 0; j < per_call; j++) {
        memcpy(values[j], value_template, VALUE_LEN);
        memcpy(keys[j], key_template, KEY_LEN);
        recs[j].key = keys[j];
        recs[j].key_len = KEY_LEN;
        recs[j].value = values[j];
        recs[j].value_len = VALUE_LEN;
    }
    uint64_t t0 = now_ns();
    for (uint64_t seq = 0; seq < n; seq += per_call) {
        for (size_t j = 0; j < per_call; j++) {
            record_set_seq(values[j], keys[j], seq + j);
            recs[j].timestamp = 0; /* in/out: 0 = now */
        }
        SAMSA_CHECK(samsa_produce(B.s, topic, 0, recs, per_call));
        if (recs[0].offset != (int64_t)seq)
            die("%s: record %llu stored at offset %lld", topic,
                (unsigned long long)seq, (long long)recs[0].offset);
    }
    uint64_t t1 = now_ns();
    return (double)n * 1e9 / (double)(t1 - t0);
}

/* Figure 1: one record per call, a fresh topic each run. */
static void
wl_samsa_produce_1(unsigned run, double *out)
{
    char topic[64];
    snprintf(topic, sizeof topic, "p1-%u", run);
    samsa_topic_fresh(topic);
    out[0] = samsa_produce_n(topic, B.n1, 1);
    SAMSA_CHECK(samsa_topic_delete(B.s, topic));
}

/* Figure 2: 100 records per call, a fresh topic each run; the last run's
 * topic stays for figure 3. */
static void
wl_samsa_produce_100(unsigned run, double *out)
{
    char topic[64];
    snprintf(topic, sizeof topic, "p100-%u", run);
    samsa_topic_fresh(topic);
    out[0] = samsa_produce_n(topic, B.n100, BATCH);
    if (B.samsa_read_topic[0] != '\0')
        SAMSA_CHECK(samsa_topic_delete(B.s, B.samsa_read_topic));
    snprintf(B.samsa_read_topic, sizeof B.samsa_read_topic, "%s", topic);
}

/* Figure 3: read the whole log of figure 2 with one cursor, not waiting. */
static void
wl_samsa_read(unsigned run, double *out)
{
    const char *topic = B.samsa_read_topic;
    samsa_cursor *c;
    samsa_message m;
    uint64_t sum = 0, n = B.n100, i;
    int rc;

    (void)run;
    SAMSA_CHECK(samsa_cursor_open(B.s, topic, 0, SAMSA_OFFSET_BEGINNING, &c));
    uint64_t t0 = now_ns();
    for (i = 0; i < n; i++) {
        SAMSA_CHECK(samsa_cursor_next(c, &m, 0));
        if (m.offset != (int64_t)i || m.value_len != VALUE_LEN ||
            m.key_len != KEY_LEN || get_u64(m.value) != i)
            die("%s: record %llu read back wrong (offset %lld, key %zu "
                "bytes, value %zu bytes)",
                topic, (unsigned long long)i, (long long)m.offset, m.key_len,
                m.value_len);
        sum += fold(m.value, m.key);
    }
    uint64_t t1 = now_ns();
    rc = samsa_cursor_next(c, &m, 0);
    if (rc != SAMSA_ETIMEDOUT)
        die("%s: after %llu records, samsa_cursor_next gave %s, want "
            "SAMSA_ETIMEDOUT",
            topic, (unsigned long long)n,
            rc == 0 ? "another record" : samsa_strerror(rc));
    samsa_cursor_close(c);
    if (sum != B.expected_sum)
        die("%s: checksum of the records read %016llx, written %016llx", topic,
            (unsigned long long)sum, (unsigned long long)B.expected_sum);
    out[0] = (double)n * 1e9 / (double)(t1 - t0);
}

/* Figure 4: hand-off latency from a producing thread to a blocked reader. */
struct handoff {
    const char *topic;
    int reader_cpu;   /* pin the reader there, or -1                    */
    uint64_t total;   /* warm-up + measured records                    */
    uint64_t *lat_ns; /* total latencies                               */
    atomic_int ready; /* the reader has its cursor open                */
};

/* Pin the calling thread to one CPU (cpu >= 0), or to the CPUs the process
 * started with (cpu < 0). */
static void
pin_to(int cpu)
{
    cpu_set_t set;
    int err;

    if (cpu < 0) {
        set = B.cpus;
    } else {
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
    }
    if ((err = pthread_setaffinity_np(pthread_self(), sizeof set, &set)) != 0)
        die("pthread_setaffinity_np: %s", strerror(err));
}

static void *
handoff_reader(void *arg)
{
    struct handoff *h = arg;
    samsa_cursor *c;
    samsa_message m;

    pin_to(h->reader_cpu);
    SAMSA_CHECK(
        samsa_cursor_open(B.s, h->topic, 0, SAMSA_OFFSET_BEGINNING, &c));
    atomic_store(&h->ready, 1);
    for (uint64_t i = 0; i < h->total; i++) {
        SAMSA_CHECK(samsa_cursor_next(c, &m, -1));
        uint64_t t1 = now_ns();
        if (m.value_len != VALUE_LEN || get_u64(m.value) != i ||
            m.offset != (int64_t)i)
            die("%s: hand-off record %llu read back wrong", h->topic,
                (unsigned long long)i);
        h->lat_ns[i] = t1 - get_u64((const unsigned char *)m.value + 8);
    }
    samsa_cursor_close(c);
    return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile p (0..1] of n sorted samples, in µs. */
static double
percentile_us(const uint64_t *sorted, uint64_t n, double p)
{
    uint64_t rank = (uint64_t)(p * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)sorted[rank - 1] / 1000.0;
}

static void
wl_samsa_handoff(unsigned run, double *out)
{
    struct handoff h;
    char topic[64];
    unsigned char value[VALUE_LEN], key[KEY_LEN];
    samsa_record r;
    pthread_t reader;
    int err;

    if (run == 0) {
        /* A quiet store: the records of figures 1-3 go to disk now, so that
         * neither the flusher nor the kernel's writeback of them competes
         * with the two threads for the CPUs during the measurement. */
        struct timespec settle = {0, 200000000};
        SAMSA_CHECK(samsa_sync(B.s));
        nanosleep(&settle, NULL);
    }
    snprintf(topic, sizeof topic, "handoff-%u", run);
    samsa_topic_fresh(topic);
    memset(&h, 0, sizeof h);
    h.topic = topic;
    h.reader_cpu = B.cpu_reader;
    h.total = B.lat_warmup + B.lat_samples;
    h.lat_ns = malloc(h.total * sizeof *h.lat_ns);
    if (h.lat_ns == NULL)
        die("out of memory");
    atomic_init(&h.ready, 0);
    if ((err = pthread_create(&reader, NULL, handoff_reader, &h)) != 0)
        die("pthread_create: %s", strerror(err));
    if (B.cpu_producer >= 0)
        pin_to(B.cpu_producer);
    while (!atomic_load(&h.ready))
        ;
    /* Let the reader get into its blocking wait before the first record. */
    struct timespec pause = {0, 2000000};
    nanosleep(&pause, NULL);

    memcpy(value, value_template, VALUE_LEN);
    memcpy(key, key_template, KEY_LEN);
    memset(&r, 0, sizeof r);
    r.key = key;
    r.key_len = KEY_LEN;
    r.value = value;
    r.value_len = VALUE_LEN;
    uint64_t next = now_ns();
    for (uint64_t i = 0; i < h.total; i++) {
        uint64_t t0;
        while ((t0 = now_ns()) < next)
            ; /* busy-wait: a sleep would add the scheduler's wake-up */
        record_set_seq(value, key, i);
        put_u64(value + 8, t0);
        r.timestamp = 0;
        SAMSA_CHECK(samsa_produce(B.s, topic, 0, &r, 1));
        next = t0 + LAT_GAP_NS;
    }
    if ((err = pthread_join(reader, NULL)) != 0)
        die("pthread_join: %s", strerror(err));
    if (B.cpu_producer >= 0)
        pin_to(-1);
    SAMSA_CHECK(samsa_topic_delete(B.s, topic));

    uint64_t *s = h.lat_ns + B.lat_warmup, n = B.lat_samples;
    qsort(s, n, sizeof *s, cmp_u64);
    out[0] = percentile_us(s, n, 0.50);
    out[1] = percentile_us(s, n, 0.99);
    out[2] = percentile_us(s, n, 0.999);
    out[3] = (double)s[n - 1] / 1000.0;
    free(h.lat_ns);
}

/* ---- LMDB workloads -------------------------------------------------------
 */

/* A fresh env in its own directory with one MDB_INTEGERKEY DB. */
static MDB_env *
lmdb_fresh(const char *name, MDB_dbi *dbi)
{
    char path[4200];
    MDB_env *env;
    MDB_txn *txn;

    path_in_dir(path, sizeof path, name);
    if (mkdir(path, 0755) != 0)
        die("mkdir %s: %s", path, strerror(errno));
    MDB_CHECK(mdb_env_create(&env));
    MDB_CHECK(mdb_env_set_mapsize(env, LMDB_MAP_BYTES));
    MDB_CHECK(mdb_env_set_maxdbs(env, 1));
    MDB_CHECK(mdb_env_open(env, path, MDB_NOSYNC, 0644));
    MDB_CHECK(mdb_txn_begin(env, NULL, 0, &txn));
    MDB_CHECK(mdb_dbi_open(txn, "queue", MDB_CREATE | MDB_INTEGERKEY, dbi));
    MDB_CHECK(mdb_txn_commit(txn));
    return env;
}

static void
lmdb_remove(MDB_env *env, const char *name)
{
    char path[4200];
    mdb_env_close(env);
    path_in_dir(path, sizeof path, name);
    rm_tree(path);
}

/* Append records 0..n-1, per_txn records per write transaction; return
 * records per second. */
static double
lmdb_produce_n(MDB_env *env, MDB_dbi dbi, uint64_t n, size_t per_txn)
{
    unsigned char rec[LMDB_VALUE_LEN]; /* the value, then the key */
    MDB_txn *txn;
    MDB_val k, v;
    size_t seq_key; /* MDB_INTEGERKEY: a native unsigned int or size_t */

    _Static_assert(sizeof(size_t) == 8, "64-bit size_t for uint64 keys");
    memcpy(rec, value_template, VALUE_LEN);
    memcpy(rec + VALUE_LEN, key_template, KEY_LEN);
    uint64_t t0 = now_ns();
    for (uint64_t seq = 0; seq < n; seq += per_txn) {
        MDB_CHECK(mdb_txn_begin(env, NULL, 0, &txn));
        for (size_t j = 0; j < per_txn; j++) {
            record_set_seq(rec, rec + VALUE_LEN, seq + j);
            seq_key = (size_t)(seq + j);
            k.mv_size = sizeof seq_key;
            k.mv_data = &seq_key;
            v.mv_size = LMDB_VALUE_LEN;
            v.mv_data = rec;
            MDB_CHECK(mdb_put(txn, dbi, &k, &v, MDB_APPEND));
        }
        MDB_CHECK(mdb_txn_commit(txn));
    }
    uint64_t t1 = now_ns();
    return (double)n * 1e9 / (double)(t1 - t0);
}

/* Figure 5a: one write transaction per record, a fresh env each run. */
static void
wl_lmdb_produce_1(unsigned run, double *out)
{
    char name[64];
    MDB_dbi dbi;
    snprintf(name, sizeof name, "lmdb-p1-%u", run);
    MDB_env *env = lmdb_fresh(name, &dbi);
    out[0] = lmdb_produce_n(env, dbi, B.n1, 1);
    lmdb_remove(env, name);
}

/* Figure 5b: one write transaction per 100 records; the last run's env
 * stays for the read. */
static void
wl_lmdb_produce_100(unsigned run, double *out)
{
    static char kept[64];
    char name[64];
    MDB_dbi dbi;
    snprintf(name, sizeof name, "lmdb-p100-%u", run);
    MDB_env *env = lmdb_fresh(name, &dbi);
    out[0] = lmdb_produce_n(env, dbi, B.n100, BATCH);
    if (B.lmdb_read_env != NULL)
        lmdb_remove(B.lmdb_read_env, kept);
    B.lmdb_read_env = env;
    B.lmdb_read_dbi = dbi;
    snprintf(kept, sizeof kept, "%s", name);
}

/* Figure 5c: a read transaction and a cursor, MDB_NEXT over all records. */
static void
wl_lmdb_read(unsigned run, double *out)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t sum = 0, n = B.n100, i;
    int rc;

    (void)run;
    uint64_t t0 = now_ns();
    MDB_CHECK(mdb_txn_begin(B.lmdb_read_env, NULL, MDB_RDONLY, &txn));
    MDB_CHECK(mdb_cursor_open(txn, B.lmdb_read_dbi, &cur));
    for (i = 0; i < n; i++) {
        MDB_CHECK(mdb_cursor_get(cur, &k, &v, i == 0 ? MDB_FIRST : MDB_NEXT));
        const unsigned char *rec = v.mv_data;
        size_t seq_key;
        if (k.mv_size != sizeof seq_key || v.mv_size != LMDB_VALUE_LEN)
            die("lmdb: record %llu read back wrong", (unsigned long long)i);
        memcpy(&seq_key, k.mv_data, sizeof seq_key);
        if (seq_key != i || get_u64(rec) != i)
            die("lmdb: record %llu read back wrong", (unsigned long long)i);
        sum += fold(rec, rec + VALUE_LEN);
    }
    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    if (rc != MDB_NOTFOUND)
        die("lmdb: after %llu records, MDB_NEXT gave %s, want MDB_NOTFOUND",
            (unsigned long long)n,
            rc == 0 ? "another record" : mdb_strerror(rc));
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    uint64_t t1 = now_ns();
    if (sum != B.expected_sum)
        die("lmdb: checksum of the records read %016llx, written %016llx",
            (unsigned long long)sum, (unsigned long long)B.expected_sum);
    out[0] = (double)n * 1e9 / (double)(t1 - t0);
}

/* ---- the table of workloads ----------------------------------------------
 * Run in this order: a read reads what the 100/call run before it wrote. */

struct workload {
    const char *system; /* CSV "system"                                  */
    const char *label;  /* printed before the figure                      */
    const char *unit;   /* "rec/s" or "us"                                */
    unsigned nfigs;     /* figures one run gives                          */
    const char *fig[MAX_FIGS]; /* CSV "workload" of each figure             */
    const char *fig_label[MAX_FIGS]; /* printed after label, or NULL        */
    void (*run)(unsigned run, double *out);
    /* filled in by run_workload(), per figure */
    double median[MAX_FIGS], min[MAX_FIGS], max[MAX_FIGS];
};

static struct workload workloads[] = {
    {"samsa",
     "samsa produce 1/call",
     "rec/s",
     1,
     {"produce_1"},
     {NULL},
     wl_samsa_produce_1,
     {0},
     {0},
     {0}},
    {"samsa",
     "samsa produce 100/call",
     "rec/s",
     1,
     {"produce_100"},
     {NULL},
     wl_samsa_produce_100,
     {0},
     {0},
     {0}},
    {"samsa",
     "samsa read",
     "rec/s",
     1,
     {"read"},
     {NULL},
     wl_samsa_read,
     {0},
     {0},
     {0}},
    {"samsa",
     "samsa hand-off",
     "us",
     4,
     {"handoff_p50", "handoff_p99", "handoff_p99.9", "handoff_max"},
     {"p50", "p99", "p99.9", "max"},
     wl_samsa_handoff,
     {0},
     {0},
     {0}},
    {"lmdb",
     "lmdb produce 1/call",
     "rec/s",
     1,
     {"produce_1"},
     {NULL},
     wl_lmdb_produce_1,
     {0},
     {0},
     {0}},
    {"lmdb",
     "lmdb produce 100/call",
     "rec/s",
     1,
     {"produce_100"},
     {NULL},
     wl_lmdb_produce_100,
     {0},
     {0},
     {0}},
    {"lmdb",
     "lmdb read",
     "rec/s",
     1,
     {"read"},
     {NULL},
     wl_lmdb_read,
     {0},
     {0},
     {0}},
};
#define N_WORKLOADS (sizeof workloads / sizeof workloads[0])

/* The ratios samsa/LMDB: indexes into workloads[]. */
static const struct {
    const char *label, *csv;
    unsigned samsa, lmdb;
} ratios[] = {
    {"samsa/lmdb produce 1/call", "produce_1", 0, 4},
    {"samsa/lmdb produce 100/call", "produce_100", 1, 5},
    {"samsa/lmdb read", "read", 2, 6},
};

static FILE *csv;

/* "12,345,678" for rates, "12.3" for microseconds. */
static const char *
fmt_value(char *buf, size_t size, double v, const char *unit)
{
    if (strcmp(unit, "us") == 0) {
        snprintf(buf, size, "%.1f", v);
        return buf;
    }
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%.0f", v);
    size_t o = 0;
    for (int i = 0; i < len && o + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Run w once to warm up, then B.runs times; print and record the median,
 * min and max of each of its figures. */
static void
run_workload(struct workload *w)
{
    double res[MAX_RUNS][MAX_FIGS], col[MAX_RUNS];

    /* Each run starts with no dirty pages: a produce run leaves over a GB
     * in the page cache, and without sync(2) the next run would be timed
     * while the kernel writes back its predecessor's data.  The sync is
     * outside the timing and the same for every system. */
    sync();
    w->run(0, res[0]); /* warm-up: not counted */
    for (unsigned r = 0; r < B.runs; r++) {
        sync();
        w->run(r + 1, res[r]);
    }
    for (unsigned f = 0; f < w->nfigs; f++) {
        char label[96], med[32], lo[32], hi[32];
        for (unsigned r = 0; r < B.runs; r++)
            col[r] = res[r][f];
        qsort(col, B.runs, sizeof col[0], cmp_double);
        unsigned m = B.runs / 2;
        w->median[f] = B.runs % 2 ? col[m] : (col[m - 1] + col[m]) / 2;
        w->min[f] = col[0];
        w->max[f] = col[B.runs - 1];
        snprintf(label, sizeof label, "%s%s%s", w->label,
                 w->fig_label[f] ? " " : "",
                 w->fig_label[f] ? w->fig_label[f] : "");
        printf("%-28s %12s %-5s  (min %s max %s; %u runs)\n", label,
               fmt_value(med, sizeof med, w->median[f], w->unit), w->unit,
               fmt_value(lo, sizeof lo, w->min[f], w->unit),
               fmt_value(hi, sizeof hi, w->max[f], w->unit), B.runs);
        fflush(stdout);
        fprintf(csv, "%s,%s,%s,%.3f,%.3f,%.3f,%u\n", w->system, w->fig[f],
                w->unit, w->median[f], w->min[f], w->max[f], B.runs);
    }
}

/* ---- main ------------------------------------------------------------------
 */

static void
print_machine(void)
{
    char model[256] = "unknown", line[512], date[64];
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f != NULL) {
        while (fgets(line, sizeof line, f) != NULL) {
            char *colon = strchr(line, ':');
            if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
                colon += 1 + strspn(colon + 1, " \t");
                colon[strcspn(colon, "\n")] = '\0';
                snprintf(model, sizeof model, "%s", colon);
                break;
            }
        }
        fclose(f);
    }
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %z", &tm);
    struct utsname u;
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);

    printf("machine: %ld online cores, CPU %s, %s %s\n",
           sysconf(_SC_NPROCESSORS_ONLN), model, u.sysname, u.release);
    printf("date:    %s\n", date);
    printf("samsa %s (SAMSA_SYNC_NONE) vs %s (MDB_NOSYNC)\n",
           samsa_version_string(), mdb_version(NULL, NULL, NULL));
    printf("records: %d-byte key, %d-byte value, 1 partition; %llu per run "
           "at 1/call, %llu at 100/call;\n         hand-off: %llu samples "
           "every %u us after %llu warm-up; median of %u runs after 1 "
           "warm-up\n",
           KEY_LEN, VALUE_LEN, (unsigned long long)B.n1,
           (unsigned long long)B.n100, (unsigned long long)B.lat_samples,
           LAT_GAP_NS / 1000, (unsigned long long)B.lat_warmup, B.runs);
    if (B.cpu_producer >= 0)
        printf("hand-off threads pinned: producer to CPU %d, reader to CPU "
               "%d\n",
               B.cpu_producer, B.cpu_reader);
    else
        printf("hand-off threads not pinned: fewer than 2 CPUs available\n");
    printf("store:   %s\n\n", B.dir);
    fflush(stdout);
}

int
main(int argc, char **argv)
{
    const char *quick = getenv("SAMSA_BENCH_QUICK");
    const char *csv_path = getenv("SAMSA_BENCH_CSV");
    const char *base = argc > 1 ? argv[1] : getenv("TMPDIR");
    int q = quick != NULL && quick[0] != '\0' && strcmp(quick, "0") != 0;

    if (argc > 2)
        die("usage: %s [DIR]", argv[0]);
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    if (csv_path == NULL || csv_path[0] == '\0')
        csv_path = "build/bench-core.csv";

    B.runs = q ? RUNS_QUICK : RUNS_FULL;
    B.n1 = q ? N1_FULL / 10 : N1_FULL;
    B.n100 = q ? N100_FULL / 10 : N100_FULL;
    B.lat_samples = q ? LAT_SAMPLES_FULL / 10 : LAT_SAMPLES_FULL;
    B.lat_warmup = q ? LAT_WARMUP_FULL / 10 : LAT_WARMUP_FULL;
    _Static_assert(N1_FULL / 10 % BATCH == 0 && N100_FULL / 10 % BATCH == 0,
                   "record counts are whole batches");

    csv = fopen(csv_path, "w");
    if (csv == NULL)
        die("cannot write %s: %s", csv_path, strerror(errno));
    fprintf(csv, "system,workload,unit,median,min,max,runs\n");

    int len = snprintf(B.dir, sizeof B.dir, "%s/samsa-bench-XXXXXX", base);
    if (len < 0 || (size_t)len >= sizeof B.dir)
        die("directory name too long: %s", base);
    if (mkdtemp(B.dir) == NULL) {
        int e = errno;
        B.dir[0] = '\0';
        die("mkdtemp under %s: %s", base, strerror(e));
    }
    atexit(cleanup);

    /* The first two CPUs this process may use carry the hand-off threads. */
    int err = pthread_getaffinity_np(pthread_self(), sizeof B.cpus, &B.cpus);
    if (err != 0)
        die("pthread_getaffinity_np: %s", strerror(err));
    B.cpu_producer = B.cpu_reader = -1;
    for (int cpu = 0; cpu < CPU_SETSIZE && B.cpu_reader < 0; cpu++) {
        if (!CPU_ISSET(cpu, &B.cpus))
            continue;
        if (B.cpu_producer < 0)
            B.cpu_producer = cpu;
        else
            B.cpu_reader = cpu;
    }
    if (B.cpu_reader < 0)
        B.cpu_producer = -1;

    templates_init();
    print_machine();
    B.expected_sum = expected_sum(B.n100);

    char store[4200];
    samsa_options opt;
    memset(&opt, 0, sizeof opt);
    opt.sync = SAMSA_SYNC_NONE;
    opt.flags = SAMSA_OPEN_CREATE;
    path_in_dir(store, sizeof store, "samsa");
    SAMSA_CHECK(samsa_open(store, &opt, &B.s));

    for (size_t i = 0; i < N_WORKLOADS; i++) {
        /* The samsa store goes once its figures are in: the LMDB runs
         * then have the page cache to themselves. */
        if (strcmp(workloads[i].system, "lmdb") == 0 && B.s != NULL) {
            SAMSA_CHECK(samsa_close(B.s));
            B.s = NULL;
            rm_tree(store);
        }
        run_workload(&workloads[i]);
    }
    mdb_env_close(B.lmdb_read_env);

    /* Above 1: samsa does more records per second than LMDB.  The range
     * pairs the worst run of one with the best of the other. */
    printf("\n");
    for (size_t i = 0; i < sizeof ratios / sizeof ratios[0]; i++) {
        const struct workload *s = &workloads[ratios[i].samsa];
        const struct workload *l = &workloads[ratios[i].lmdb];
        double r = s->median[0] / l->median[0];
        double lo = s->min[0] / l->max[0], hi = s->max[0] / l->min[0];
        printf("%-28s %12.2f x      (range %.2f .. %.2f)\n", ratios[i].label, r,
               lo, hi);
        fprintf(csv, "samsa/lmdb,%s,ratio,%.3f,%.3f,%.3f,%u\n", ratios[i].csv,
                r, lo, hi, B.runs);
    }
    if (fclose(csv) != 0)
        die("writing %s: %s", csv_path, strerror(errno));
    printf("\nCSV: %s\n", csv_path);
    return 0;
}
