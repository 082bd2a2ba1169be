/*
 * bench_peers.c - samsa side by side with the systems a user would pick
 * instead, under the same workloads (bench.c lists them), with the same
 * records, in one run on one disk.  `make bench-peers` runs it through
 * peers.sh, which starts redis-server and nats-server on loopback (and
 * stops them whatever happens) and draws the charts.
 *
 *   build/bench/bench_peers [DIR]
 *
 * SAMSA_BENCH_SYSTEMS=samsa,lmdb,... runs only the systems named.
 *
 * Each system's modes are their own lines, by what survives:
 *
 *   fsync     the call returned after the data was synced to the disk:
 *             samsa-sync, lmdb-sync, sqlite-full, redis-always;
 *   process   the data was handed to the kernel (page cache) before the
 *             call returned: it survives a crash of the process (or
 *             server), not a power cut: samsa, lmdb, sqlite-normal,
 *             redis-everysec;
 *   buffered  nats-server acknowledged it and writes it out soon after;
 *   memory    kafka-mock: the mock broker keeps the log in memory;
 *   none      zmq-inproc: a hand-off between threads, nothing kept.
 *
 * At the end: for every throughput figure, samsa against the best peer
 * that keeps the data at least as well (fsync against fsync; process
 * against process and buffered), and samsa's median latency against
 * ZeroMQ's.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "systems.h"

#include "samsa.h"

static bench_sys *systems[] = {
    &bench_samsa,          &bench_samsa_sync,
    &bench_samsa_async,    &bench_samsa_async_sync,
    &bench_lmdb,           &bench_lmdb_sync,
    &bench_sqlite_normal,  &bench_sqlite_full,
    &bench_redis_everysec, &bench_redis_always,
    &bench_nats_async,     &bench_nats_ack,
    &bench_kafka_mock,     &bench_zmq,
};
#define N_SYSTEMS (sizeof systems / sizeof systems[0])

/* samsa's figure over the best peer with the same durability class, and
 * over the best of those whose produce call returns only once the record
 * is stored (not nats-async). */
static void
compare(const char *mine, const char *fig, size_t vlen, int fsync,
        int acked_only)
{
    double sm, slo, shi, best = 0, blo = 0, bhi = 0, m, lo, hi;
    const char *who = NULL;
    if (!bench_lookup(mine, fig, vlen, &sm, &slo, &shi))
        return;
    for (size_t i = 0; i < N_SYSTEMS; i++) {
        const bench_sys *s = systems[i];
        int is_fsync = strcmp(s->durability, "fsync") == 0;
        int persists = is_fsync || strcmp(s->durability, "process") == 0 ||
                       strcmp(s->durability, "buffered") == 0;
        if (strncmp(s->name, "samsa", 5) == 0 || !persists ||
            (fsync && !is_fsync) || (acked_only && (s->caps & BENCH_ASYNC)))
            continue;
        if (bench_lookup(s->name, fig, vlen, &m, &lo, &hi) && m > best) {
            best = m;
            blo = lo;
            bhi = hi;
            who = s->name;
        }
    }
    if (who == NULL)
        return;
    printf("%-11s %-12s %5zuB %8.2f x  %-15s (worst..best %.2f..%.2f)\n", mine,
           fig, vlen, sm / best, who, slo / bhi, shi / blo);
}

/* SAMSA_BENCH_SYSTEMS=samsa,redis-always,...: only those. */
static int
selected(const char *name)
{
    const char *list = getenv("SAMSA_BENCH_SYSTEMS");
    size_t len = strlen(name);
    if (list == NULL || list[0] == '\0')
        return 1;
    for (const char *p = list; *p != '\0'; p += strcspn(p, ","), p += *p == ',')
        if (strncmp(p, name, len) == 0 && (p[len] == ',' || p[len] == '\0'))
            return 1;
    return 0;
}

int
main(int argc, char **argv)
{
    static const char *thr[] = {"produce_1", "produce_100", "produce_4t",
                                "read"};
    static const size_t sizes[] = {100, 1024};
    bench_counts c;

    bench_init("bench_peers", argc, argv);
    bench_counts_default(&c);
    bench_note("samsa %s; 16-byte keys, 100-byte and 1 KiB values; "
               "record counts per run in the CSV\n\n",
               samsa_version_string());
    for (size_t i = 0; i < N_SYSTEMS; i++)
        if (selected(systems[i]->name))
            bench_system(systems[i], &c);

    for (int acked = 0; acked < 2; acked++) {
        printf("\nsamsa over the best persistent peer of the same "
               "durability%s (median/median):\n",
               acked ? ", acknowledging every produce call" : "");
        for (size_t s = 0; s < 2; s++)
            for (size_t f = 0; f < 4; f++) {
                compare("samsa", thr[f], sizes[s], 0, acked);
                compare("samsa-sync", thr[f], sizes[s], 1, acked);
            }
    }
    printf("\nmedian latency over ZeroMQ inproc's:\n");
    for (size_t s = 0; s < 2; s++)
        for (int r = 0; r < 2; r++) {
            const char *fig = r ? "lat100k_p50" : "lat10k_p50";
            double sm, zm, lo, hi;
            if (bench_lookup("samsa", fig, sizes[s], &sm, &lo, &hi) &&
                bench_lookup("zmq-inproc", fig, sizes[s], &zm, &lo, &hi))
                printf("samsa %-12s %5zuB %8.2f x  (%.1f us vs %.1f us)\n", fig,
                       sizes[s], sm / zm, sm, zm);
        }
    return bench_finish();
}
