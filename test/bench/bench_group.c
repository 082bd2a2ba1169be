/*
 * bench_group.c - what the consumer-group layer costs: reading a backlog
 * through a group of one member and a group of four (threads), next to the
 * core cursor read of the same backlog, and the latency of a commit of four
 * partitions.
 *
 *   build/bench/bench_group [DIR]
 *
 * The store lives in a fresh directory under DIR, or $TMPDIR, or /tmp, and
 * is removed at the end.  SAMSA_SYNC_NONE throughout, as bench_core: the
 * backlog is in the page cache, and a commit is written to the catalog
 * without fsync (it survives kill -9, not a power cut).
 *
 * Environment (bench.h): SAMSA_BENCH_QUICK=1 for a smoke run (1/10 of the
 * records, 3 runs), SAMSA_BENCH_RUNS, SAMSA_BENCH_CSV (default
 * build/bench_group.csv).
 *
 * Figures, one line and one CSV row each, the median (min, max) of the
 * runs after one warm-up run; a run measures all five, in this order:
 *   1. cursor_read, 1 thread:   four samsa_cursor_next(c, &m, 0) loops, one
 *                               partition after another, over the backlog;
 *   2. group1_read:             samsa_consumer_poll_batch() of up to BATCH
 *                               records until the whole backlog is read, a
 *                               new group per run (so from offset 0);
 *   3. group4_read:             four threads, each with its own member of
 *                               a new group (all joined before the first
 *                               poll, so no partition moves), until the
 *                               four together read the backlog; wall time
 *                               from the start barrier to the last record;
 *   4. commit4_p50, _p99:     samsa_consumer_commit() of four explicit
 *                               offsets, COMMITS times; the median and
 *                               p99 (us) of each run.
 * Every reader folds each record's offset, length and first byte into a
 * checksum and counts records, so none can skip the data, and the count is
 * checked against the backlog.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <samsa.h>

#define PARTS     4
#define VALUE_LEN 100
#define BATCH     256
#define COMMITS   5000

static long long records = 10000000; /* the backlog, over PARTS partitions */
static samsa *S;

static inline unsigned long long
fold(unsigned long long sum, const samsa_message *m)
{
    const unsigned char *v = m->value;
    return sum * 31 + (unsigned long long)m->offset + m->value_len + v[0];
}

static void
produce_backlog(void)
{
    enum { PER_CALL = 1000 };
    static unsigned char value[VALUE_LEN];
    samsa_record *recs = calloc(PER_CALL, sizeof *recs);
    BENCH_CHECK(recs != NULL, "out of memory");
    for (int i = 0; i < PER_CALL; i++)
        recs[i] = (samsa_record){.value = value, .value_len = VALUE_LEN};
    for (int p = 0; p < PARTS; p++)
        for (long long n = 0; n < records / PARTS; n += PER_CALL) {
            for (int i = 0; i < PER_CALL; i++)
                value[0] = (unsigned char)(n + i);
            BENCH_SAMSA(samsa_produce(S, "backlog", p, recs, PER_CALL));
        }
    free(recs);
}

/* ---- 1. the core cursor ----------------------------------------------------
 */

static double
run_cursor(void)
{
    uint64_t t0 = bench_now_ns();
    unsigned long long sum = 0;
    long long n = 0;
    for (int p = 0; p < PARTS; p++) {
        samsa_cursor *c;
        samsa_message m;
        BENCH_SAMSA(
            samsa_cursor_open(S, "backlog", p, SAMSA_OFFSET_BEGINNING, &c));
        while (samsa_cursor_next(c, &m, 0) == 0) {
            sum = fold(sum, &m);
            n++;
        }
        samsa_cursor_close(c);
    }
    uint64_t t = bench_now_ns() - t0;
    BENCH_CHECK(n == records && sum != 0,
                "cursor read %lld records (checksum %llu), want %lld", n, sum,
                records);
    return (double)n * 1e9 / (double)t;
}

/* ---- 2, 3. groups
 * ------------------------------------------------------------ */

typedef struct reader {
    samsa_consumer *c;
    long long want;          /* stop when the group has read this many */
    _Atomic long long *done; /* the group's count                       */
    pthread_barrier_t *go;
    unsigned long long sum;
} reader;

static void *
reader_main(void *arg)
{
    reader *r = arg;
    samsa_message *ms = malloc(BATCH * sizeof *ms);
    BENCH_CHECK(ms != NULL, "out of memory");
    if (r->go != NULL)
        pthread_barrier_wait(r->go);
    while (atomic_load_explicit(r->done, memory_order_relaxed) < r->want) {
        size_t n;
        int rc = samsa_consumer_poll_batch(r->c, ms, BATCH, &n, 10);
        if (rc == SAMSA_ETIMEDOUT)
            continue;
        BENCH_SAMSA(rc);
        for (size_t i = 0; i < n; i++)
            r->sum = fold(r->sum, &ms[i]);
        atomic_fetch_add_explicit(r->done, (long long)n, memory_order_relaxed);
    }
    free(ms);
    return NULL;
}

static samsa_consumer *
member(const char *group)
{
    const char *topics[] = {"backlog", NULL};
    samsa_consumer_config cfg = {
        .group = group, .topics = topics, .offset_reset = SAMSA_RESET_EARLIEST};
    samsa_consumer *c;
    BENCH_SAMSA(samsa_consumer_open(S, &cfg, &c));
    return c;
}

static double
run_group(int members)
{
    static int run;
    char group[32];
    snprintf(group, sizeof group, "g%d-%d", members, run++);
    reader r[PARTS];
    pthread_t th[PARTS];
    pthread_barrier_t go;
    _Atomic long long done = 0;
    pthread_barrier_init(&go, NULL, (unsigned)members + 1);
    for (int i = 0; i < members; i++) /* all join before anyone polls */
        r[i] = (reader){member(group), records, &done, &go, 0};
    for (int i = 0; i < members; i++)
        bench_thread_start(&th[i], reader_main, &r[i]);
    pthread_barrier_wait(&go);
    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < members; i++)
        bench_thread_join(th[i]);
    uint64_t t = bench_now_ns() - t0;
    for (int i = 0; i < members; i++)
        BENCH_SAMSA(samsa_consumer_close(r[i].c));
    pthread_barrier_destroy(&go);
    BENCH_CHECK(atomic_load(&done) == records,
                "group of %d read %lld records, want %lld", members,
                (long long)atomic_load(&done), records);
    return (double)records * 1e9 / (double)t;
}

/* ---- 4. commit latency ------------------------------------------------------
 */

static void
run_commit(double *p50, double *p99)
{
    samsa_consumer *c = member("committer");
    samsa_message m;
    BENCH_SAMSA(samsa_consumer_poll(c, &m, 0)); /* takes the partitions */
    uint64_t *lat = malloc(COMMITS * sizeof *lat);
    BENCH_CHECK(lat != NULL, "out of memory");
    static long long base;
    for (int i = 0; i < COMMITS; i++) {
        samsa_topic_partition tp[PARTS];
        for (int p = 0; p < PARTS; p++)
            tp[p] = (samsa_topic_partition){"backlog", p, ++base % 1000000};
        uint64_t t0 = bench_now_ns();
        BENCH_SAMSA(samsa_consumer_commit(c, tp, PARTS));
        lat[i] = bench_now_ns() - t0;
    }
    double pct[4]; /* p50, p99, p99.9, max */
    bench_percentiles(lat, COMMITS, pct);
    *p50 = pct[0];
    *p99 = pct[1];
    free(lat);
    BENCH_SAMSA(samsa_consumer_close(c));
}

/* One run: the five figures, in the order of the list above. */
static void
one_run(void *ctx, unsigned run, double *out)
{
    (void)ctx;
    (void)run;
    out[0] = run_cursor();
    out[1] = run_group(1);
    out[2] = run_group(PARTS);
    run_commit(&out[3], &out[4]);
}

int
main(int argc, char **argv)
{
    bench_init("bench_group", argc, argv);
    if (bench_quick())
        records /= 10;
    samsa_options opt = {.sync = SAMSA_SYNC_NONE};
    samsa_topic_config tcfg = {.partitions = PARTS};
    BENCH_SAMSA(samsa_open(bench_dir(), &opt, &S));
    BENCH_SAMSA(samsa_topic_create(S, "backlog", &tcfg));
    uint64_t t0 = bench_now_ns();
    produce_backlog();
    bench_note("bench_group: backlog of %lld records of %d bytes in %d "
               "partitions, produced in %.1f s; no sync\n\n",
               records, VALUE_LEN, PARTS, (double)(bench_now_ns() - t0) / 1e9);

    bench_fig f = {.system = "samsa",
                   .workload = "group",
                   .value_len = VALUE_LEN,
                   .unit = "rec/s",
                   .nfigs = 5,
                   .fig = {"cursor_read", "group1_read", "group4_read",
                           "commit4_p50", "commit4_p99"},
                   .units = {NULL, NULL, NULL, "us", "us"},
                   .records = (uint64_t)records,
                   .durability = "process"};
    bench_figure(&f, one_run, NULL);
    bench_ratio(&f, 1, f.median[0], "cursor_read");
    bench_ratio(&f, 2, f.median[0], "cursor_read");
    bench_note("  targets: group4_read >= 20,000,000 rec/s, commit4_p50 < "
               "50 us\n");
    BENCH_SAMSA(samsa_close(S));
    return bench_finish();
}
