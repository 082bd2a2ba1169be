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
 * Environment: SAMSA_BENCH_QUICK=1 for a smoke run (1/10 of the records).
 *
 * Figures (each the median of RUNS runs after one warm-up run):
 *   1. cursor read, 1 thread:   four samsa_cursor_next(c, &m, 0) loops, one
 *                               partition after another, over the backlog;
 *   2. group of 1 member:       samsa_consumer_poll_batch() of up to BATCH
 *                               records until the whole backlog is read, a
 *                               new group per run (so from offset 0);
 *   3. group of 4 members:      four threads, each with its own member of
 *                               a new group (all joined before the first
 *                               poll, so no partition moves), until the
 *                               four together read the backlog; wall time
 *                               from the start barrier to the last record;
 *   4. commit of 4 partitions:  samsa_consumer_commit() of four explicit
 *                               offsets, COMMITS times; the median and
 *                               p99 of each run, then the median of those.
 * Every reader folds each record's offset, length and first byte into a
 * checksum and counts records, so none can skip the data, and the count is
 * checked against the backlog.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <samsa.h>

#define PARTS     4
#define VALUE_LEN 100
#define RUNS      5
#define BATCH     256
#define COMMITS   5000

static long long records = 10000000; /* the backlog, over PARTS partitions */
static samsa *S;

static void
check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "bench_group: %s: %s\n", what, samsa_strerror(rc));
        exit(1);
    }
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

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
    for (int i = 0; i < PER_CALL; i++)
        recs[i] = (samsa_record){.value = value, .value_len = VALUE_LEN};
    for (int p = 0; p < PARTS; p++)
        for (long long n = 0; n < records / PARTS; n += PER_CALL) {
            for (int i = 0; i < PER_CALL; i++)
                value[0] = (unsigned char)(n + i);
            check(samsa_produce(S, "backlog", p, recs, PER_CALL), "produce");
        }
    free(recs);
}

/* ---- 1. the core cursor ----------------------------------------------------
 */

static double
run_cursor(void)
{
    double t0 = now_s();
    unsigned long long sum = 0;
    long long n = 0;
    for (int p = 0; p < PARTS; p++) {
        samsa_cursor *c;
        samsa_message m;
        check(samsa_cursor_open(S, "backlog", p, SAMSA_OFFSET_BEGINNING, &c),
              "cursor open");
        while (samsa_cursor_next(c, &m, 0) == 0) {
            sum = fold(sum, &m);
            n++;
        }
        samsa_cursor_close(c);
    }
    double t = now_s() - t0;
    if (n != records || sum == 0)
        check(SAMSA_EINVAL, "cursor read count");
    return (double)n / t;
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
    if (r->go != NULL)
        pthread_barrier_wait(r->go);
    while (atomic_load_explicit(r->done, memory_order_relaxed) < r->want) {
        size_t n;
        int rc = samsa_consumer_poll_batch(r->c, ms, BATCH, &n, 10);
        if (rc == SAMSA_ETIMEDOUT)
            continue;
        check(rc, "poll");
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
    check(samsa_consumer_open(S, &cfg, &c), "consumer open");
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
        pthread_create(&th[i], NULL, reader_main, &r[i]);
    pthread_barrier_wait(&go);
    double t0 = now_s();
    for (int i = 0; i < members; i++)
        pthread_join(th[i], NULL);
    double t = now_s() - t0;
    for (int i = 0; i < members; i++)
        check(samsa_consumer_close(r[i].c), "consumer close");
    pthread_barrier_destroy(&go);
    if (atomic_load(&done) != records)
        check(SAMSA_EINVAL, "group read count");
    return (double)records / t;
}

/* ---- 4. commit latency ------------------------------------------------------
 */

static void
run_commit(double *p50, double *p99)
{
    samsa_consumer *c = member("committer");
    samsa_message m;
    check(samsa_consumer_poll(c, &m, 0), "poll"); /* takes the partitions */
    double *lat = malloc(COMMITS * sizeof *lat);
    static long long base;
    for (int i = 0; i < COMMITS; i++) {
        samsa_topic_partition tp[PARTS];
        for (int p = 0; p < PARTS; p++)
            tp[p] = (samsa_topic_partition){"backlog", p, ++base % 1000000};
        double t0 = now_s();
        check(samsa_consumer_commit(c, tp, PARTS), "commit");
        lat[i] = (now_s() - t0) * 1e6;
    }
    qsort(lat, COMMITS, sizeof *lat, cmp_double);
    *p50 = lat[COMMITS / 2];
    *p99 = lat[COMMITS * 99 / 100];
    free(lat);
    check(samsa_consumer_close(c), "consumer close");
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

int
main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/samsa-bench-group-XXXXXX",
             base != NULL && *base != '\0' ? base : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    const char *quick = getenv("SAMSA_BENCH_QUICK");
    if (quick != NULL && *quick == '1')
        records /= 10;
    samsa_options opt = {.sync = SAMSA_SYNC_NONE};
    samsa_topic_config tcfg = {.partitions = PARTS};
    check(samsa_open(dir, &opt, &S), "open");
    check(samsa_topic_create(S, "backlog", &tcfg), "create");
    double t0 = now_s();
    produce_backlog();
    printf("bench_group: backlog of %lld records of %d bytes in %d "
           "partitions, produced in %.1f s; median of %d runs\n",
           records, VALUE_LEN, PARTS, now_s() - t0, RUNS);

    double cur[RUNS], g1[RUNS], g4[RUNS], c50[RUNS], c99[RUNS];
    run_cursor(); /* warm-up runs, not counted */
    run_group(1);
    run_group(PARTS);
    for (int i = 0; i < RUNS; i++) {
        cur[i] = run_cursor();
        g1[i] = run_group(1);
        g4[i] = run_group(PARTS);
        run_commit(&c50[i], &c99[i]);
    }
    printf("  %-40s %12.0f records/s\n", "core cursor read, 1 thread",
           median(cur, RUNS));
    printf("  %-40s %12.0f records/s\n", "group of 1 member, poll_batch",
           median(g1, RUNS));
    printf("  %-40s %12.0f records/s (target >= 20000000)\n",
           "group of 4 members (threads), total", median(g4, RUNS));
    printf("  %-40s %12.1f us median, %.1f us p99 (target < 50 us median)\n",
           "commit of 4 partitions, no sync", median(c50, RUNS),
           median(c99, RUNS));
    check(samsa_close(S), "close");
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
