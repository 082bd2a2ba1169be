/*
 * bench_replica.c - what replication costs a producer: produce throughput
 * and per-call latency with 1, 2 and 3 copies of a partition on three
 * directories, acks=all, without and with the sync policy, and each as a
 * ratio to one copy.
 *
 *   build/bench/bench_replica [DIR]
 *
 * The store lives in a fresh directory under DIR, or $TMPDIR, or /tmp (its
 * three directories DIR/a, DIR/b, DIR/c; on one machine they share one
 * device, so the sync figures show the parallel syncs competing for it,
 * which is the worst case: on separate devices they overlap fully).  Each
 * figure is the median of RUNS runs after one warm-up run, each on a fresh
 * topic, after sync(2).  One record (16-byte key, 100-byte value) per
 * samsa_produce() call, one thread; latency is measured around each call.
 *
 * Environment: SAMSA_BENCH_QUICK=1 for a smoke run (counts / 10, 3 runs).
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <samsa.h>

#define MAX_RUNS 7

static unsigned runs = 5;
static uint64_t n_nosync = 200000, n_sync = 2000;
static samsa *store;
static char root[4096];

static void
check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "bench_replica: %s: %s\n", what, samsa_strerror(rc));
        exit(1);
    }
}

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int
cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
median(double *v, unsigned n)
{
    qsort(v, n, sizeof *v, cmp_dbl);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One run: n records into a fresh topic; records/s, and the median and
 * p99 latency of one call in microseconds. */
static void
run_once(int copies, int synced, uint64_t n, unsigned id, double *rate,
         double *p50, double *p99)
{
    char topic[64];
    snprintf(topic, sizeof topic, "bench-%d-%d-%u", copies, synced, id);
    samsa_topic_config cfg = {.replicas = copies,
                              .sync =
                                  synced ? SAMSA_SYNC_ALWAYS : SAMSA_SYNC_NONE};
    check(samsa_topic_create(store, topic, &cfg), "topic create");
    uint64_t *lat = malloc(n * sizeof *lat);
    if (lat == NULL)
        exit(1);
    char key[16] = "key-0000000000", value[100];
    memset(value, 'v', sizeof value);
    sync(); /* no run is timed while an earlier one is written back */
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) {
        memcpy(value, &i, sizeof i);
        samsa_record r = {.key = key,
                          .key_len = sizeof key,
                          .value = value,
                          .value_len = sizeof value};
        uint64_t a = now_ns();
        check(samsa_produce(store, topic, 0, &r, 1), "produce");
        lat[i] = now_ns() - a;
    }
    uint64_t t = now_ns() - t0;
    qsort(lat, n, sizeof *lat, cmp_u64);
    *rate = (double)n / ((double)t / 1e9);
    *p50 = (double)lat[n / 2] / 1e3;
    *p99 = (double)lat[n * 99 / 100] / 1e3;
    free(lat);
    check(samsa_topic_delete(store, topic), "topic delete");
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
    const char *tmp = argc > 1 ? argv[1] : getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/samsa-bench-replica-XXXXXX",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    if (mkdtemp(root) == NULL) {
        perror("bench_replica: mkdtemp");
        return 1;
    }
    if (getenv("SAMSA_BENCH_QUICK") != NULL) {
        runs = 3;
        n_nosync /= 10;
        n_sync /= 10;
    }
    char dirs[3][4200];
    for (int i = 0; i < 3; i++)
        snprintf(dirs[i], sizeof dirs[i], "%s/%c", root, 'a' + i);
    const char *reps[] = {dirs[1], dirs[2], NULL};
    samsa_options opt = {.replica_dirs = reps, .flags = SAMSA_OPEN_CREATE};
    check(samsa_open(dirs[0], &opt, &store), "open");

    printf("bench_replica: one producer thread, 1 record (16 B key, 100 B "
           "value) per call, acks=all, 3 directories on one device, median "
           "of %u runs\n",
           runs);
    for (int synced = 0; synced <= 1; synced++) {
        double base_rate = 0, base_p50 = 0;
        for (int copies = 1; copies <= 3; copies++) {
            uint64_t n = synced ? n_sync : n_nosync;
            double rate[MAX_RUNS], p50[MAX_RUNS], p99[MAX_RUNS], x, y, z;
            run_once(copies, synced, n / 10, 999, &x, &y, &z); /* warm-up */
            for (unsigned r = 0; r < runs; r++)
                run_once(copies, synced, n, r, &rate[r], &p50[r], &p99[r]);
            double mr = median(rate, runs), m50 = median(p50, runs),
                   m99 = median(p99, runs);
            if (copies == 1) {
                base_rate = mr;
                base_p50 = m50;
            }
            printf("replica produce copies=%d sync=%-6s %10.0f rec/s "
                   "(x%.2f of 1 copy)  latency median %8.1f us (x%.2f) "
                   "p99 %8.1f us\n",
                   copies, synced ? "always" : "none", mr, mr / base_rate, m50,
                   m50 / base_p50, m99);
            fflush(stdout);
        }
    }
    check(samsa_close(store), "close");
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
