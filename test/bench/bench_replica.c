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
 * which is the worst case: on separate devices they overlap fully).  One
 * record (16-byte key, 100-byte value) per samsa_produce() call, one
 * thread; latency is measured around each call.  Each run is read back
 * (untimed): the partition must give exactly the records written, in order.
 *
 * Figures, one line and one CSV row each (build/bench_replica.csv), the
 * median (min, max) of the runs after one warm-up run of a tenth of the
 * records, each run on a fresh topic after sync(2): system samsa (no sync)
 * or samsa-sync (SAMSA_SYNC_ALWAYS), copiesN_rate (records/s),
 * copiesN_p50 and copiesN_p99 (us per call); after 2 and 3 copies, the
 * rate and p50 as ratios to one copy.
 *
 * Environment (bench.h): SAMSA_BENCH_QUICK=1 for a smoke run (counts / 10,
 * 3 runs), SAMSA_BENCH_RUNS, SAMSA_BENCH_CSV.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <samsa.h>

static uint64_t n_nosync = 200000, n_sync = 2000;
static samsa *store;

/* What one figure's runs share. */
typedef struct rep {
    int copies, synced;
    uint64_t n; /* records per measured run */
} rep;

/* One run: n records into a fresh topic (a tenth for the warm-up);
 * records/s, and the median and p99 latency of one call in microseconds. */
static void
run_once(void *ctx, unsigned run, double *out)
{
    rep *w = ctx;
    uint64_t n = run == 0 ? w->n / 10 : w->n;
    char topic[64];
    snprintf(topic, sizeof topic, "bench-%d-%d-%u", w->copies, w->synced, run);
    samsa_topic_config cfg = {.replicas = w->copies,
                              .sync = w->synced ? SAMSA_SYNC_ALWAYS
                                                : SAMSA_SYNC_NONE};
    BENCH_SAMSA(samsa_topic_create(store, topic, &cfg));
    uint64_t *lat = malloc(n * sizeof *lat);
    BENCH_CHECK(lat != NULL, "out of memory");
    char key[16] = "key-0000000000", value[100];
    memset(value, 'v', sizeof value);
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        memcpy(value, &i, sizeof i);
        samsa_record r = {.key = key,
                          .key_len = sizeof key,
                          .value = value,
                          .value_len = sizeof value};
        uint64_t a = bench_now_ns();
        BENCH_SAMSA(samsa_produce(store, topic, 0, &r, 1));
        lat[i] = bench_now_ns() - a;
    }
    uint64_t t = bench_now_ns() - t0;
    /* Read back, untimed: exactly the n records written, in order. */
    samsa_cursor *c;
    samsa_message m;
    uint64_t got = 0;
    BENCH_SAMSA(samsa_cursor_open(store, topic, 0, SAMSA_OFFSET_BEGINNING, &c));
    while (samsa_cursor_next(c, &m, 0) == 0) {
        memcpy(value, &got, sizeof got);
        BENCH_CHECK(got < n && m.key_len == sizeof key &&
                        memcmp(m.key, key, sizeof key) == 0 &&
                        m.value_len == sizeof value &&
                        memcmp(m.value, value, sizeof value) == 0,
                    "%s: record %llu is not the one written", topic,
                    (unsigned long long)got);
        got++;
    }
    samsa_cursor_close(c);
    BENCH_CHECK(got == n, "%s: read back %llu records, wrote %llu", topic,
                (unsigned long long)got, (unsigned long long)n);
    double pct[4]; /* p50, p99, p99.9, max */
    bench_percentiles(lat, n, pct);
    out[0] = (double)n / ((double)t / 1e9);
    out[1] = pct[0];
    out[2] = pct[1];
    free(lat);
    BENCH_SAMSA(samsa_topic_delete(store, topic));
}

int
main(int argc, char **argv)
{
    bench_init("bench_replica", argc, argv);
    if (bench_quick()) {
        n_nosync /= 10;
        n_sync /= 10;
    }
    char dirs[3][4200];
    for (int i = 0; i < 3; i++)
        bench_path(dirs[i], sizeof dirs[i], (const char[]){(char)('a' + i), 0});
    const char *reps[] = {dirs[1], dirs[2], NULL};
    samsa_options opt = {.replica_dirs = reps, .flags = SAMSA_OPEN_CREATE};
    BENCH_SAMSA(samsa_open(dirs[0], &opt, &store));

    bench_note("bench_replica: one producer thread, 1 record (16 B key, "
               "100 B value) per call, acks=all, 3 directories on one "
               "device\n\n");
    for (int synced = 0; synced <= 1; synced++) {
        double base_rate = 0, base_p50 = 0;
        for (int copies = 1; copies <= 3; copies++) {
            rep w = {copies, synced, synced ? n_sync : n_nosync};
            char names[3][32];
            snprintf(names[0], sizeof names[0], "copies%d_rate", copies);
            snprintf(names[1], sizeof names[1], "copies%d_p50", copies);
            snprintf(names[2], sizeof names[2], "copies%d_p99", copies);
            bench_fig f = {.system = synced ? "samsa-sync" : "samsa",
                           .workload = "replica_produce",
                           .value_len = 100,
                           .unit = "rec/s",
                           .nfigs = 3,
                           .fig = {names[0], names[1], names[2]},
                           .units = {NULL, "us", "us"},
                           .records = w.n,
                           .durability = synced ? "fsync" : "process"};
            bench_figure(&f, run_once, &w);
            if (copies == 1) {
                base_rate = f.median[0];
                base_p50 = f.median[1];
            } else {
                bench_ratio(&f, 0, base_rate, "1 copy");
                bench_ratio(&f, 1, base_p50, "1 copy");
            }
        }
    }
    BENCH_SAMSA(samsa_close(store));
    return bench_finish();
}
