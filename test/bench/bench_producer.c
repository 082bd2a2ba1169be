/*
 * bench_producer.c - the asynchronous producer (samsa_producer_send(),
 * one record per call, delivery reports on), with and without sync.
 *
 *   build/bench/bench_producer [DIR]
 *
 * Figures (bench_figure(): median of the runs after a warm-up, min, max):
 *
 *  async_rate     one thread sends n records of 100 bytes (16-byte key)
 *                 into one partition as fast as it can, then flushes: the
 *                 records/s from the first send to the last report, every
 *                 report checked (stored, dense offsets in order).  With
 *                 linger_ms -1: a batch goes as soon as the sender thread
 *                 is free, as Kafka's linger.ms=0.
 *  async_rate_default  the same with the producer's defaults (linger_ms
 *                 5, batch_bytes 1 MiB, as Kafka 4's linger.ms=5): full
 *                 batches, the sender thread taking the lock once a
 *                 megabyte.
 *  async_report   the same thread sends at a fixed rate (10,000 records/s
 *                 with sync, 100,000 without) and each report's time
 *                 minus its record's send time gives the latency from
 *                 produce to report, p50 and p99 (us): what an application
 *                 waits before it knows a record is stored.
 *
 * Both with SAMSA_SYNC_NONE (system samsa-async) and SAMSA_SYNC_ALWAYS
 * (samsa-async-sync: a batch is one fdatasync).  bench_peers runs the
 * same producer under the standard workloads beside librdkafka's producer
 * against its mock cluster (kafka-mock).
 */
#include "bench.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "samsa.h"

static samsa *stores[2];

typedef struct run {
    int sync;          /* 0 or 1: which store                     */
    uint64_t n;        /* records                                 */
    uint64_t rate;     /* records/s, or 0: as fast as it can      */
    int linger_ms;     /* samsa_producer_config.linger_ms         */
    uint64_t *sent_ns; /* per record: when it was sent            */
    uint64_t *lat;     /* per record: report minus send (ns)      */
    _Atomic uint64_t reported;
    int64_t next; /* the offset the next report must have    */
    uint64_t bad; /* reports not stored or out of order      */
} run;

static void
delivered(const samsa_delivery_report *r, size_t n, void *ctx)
{
    run *w = ctx;
    uint64_t now = bench_now_ns();
    for (size_t i = 0; i < n; i++) {
        uint64_t seq = (uint64_t)(uintptr_t)r[i].opaque;
        w->bad += r[i].error != 0 || r[i].offset != w->next;
        w->next++;
        if (w->lat != NULL && seq < w->n)
            w->lat[seq] = now - w->sent_ns[seq];
    }
    atomic_fetch_add(&w->reported, n);
}

static void
run_once(void *ctx, unsigned runno, double *out)
{
    run *w = ctx;
    char topic[32];
    snprintf(topic, sizeof topic, "p%u-%d-%llu-%d", runno, w->sync,
             (unsigned long long)w->rate, w->linger_ms);
    samsa *s = stores[w->sync];
    BENCH_SAMSA(samsa_topic_create(s, topic, NULL));
    w->next = 0;
    w->bad = 0;
    atomic_store(&w->reported, 0);
    samsa_producer_config cfg = {
        .linger_ms = w->linger_ms, .on_delivery = delivered, .ctx = w};
    samsa_producer *p;
    BENCH_SAMSA(samsa_producer_open(s, &cfg, &p));
    unsigned char key[BENCH_KEY_LEN], value[100];
    memcpy(key, bench_key_template, sizeof key);
    memcpy(value, bench_value_template, sizeof value);
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < w->n; i++) {
        if (w->rate > 0)
            bench_wait_until(t0 + i * 1000000000ull / w->rate);
        bench_put_u64(value, i);
        samsa_record r = {.key = key,
                          .key_len = sizeof key,
                          .value = value,
                          .value_len = sizeof value};
        if (w->sent_ns != NULL)
            w->sent_ns[i] = bench_now_ns();
        BENCH_SAMSA(
            samsa_producer_send(p, topic, 0, &r, (void *)(uintptr_t)i, -1));
    }
    BENCH_SAMSA(samsa_producer_flush(p, -1));
    uint64_t t = bench_now_ns() - t0;
    BENCH_SAMSA(samsa_producer_close(p));
    BENCH_CHECK(atomic_load(&w->reported) == w->n && w->bad == 0,
                "%s: %llu reports, %llu bad", topic,
                (unsigned long long)atomic_load(&w->reported),
                (unsigned long long)w->bad);
    if (w->lat != NULL) {
        double pct[4];
        bench_percentiles(w->lat, w->n, pct);
        out[0] = pct[0];
        out[1] = pct[1];
    } else
        out[0] = (double)w->n / ((double)t / 1e9);
    BENCH_SAMSA(samsa_topic_delete(s, topic));
}

int
main(int argc, char **argv)
{
    bench_init("bench_producer", argc, argv);
    uint64_t n_rate = bench_quick() ? 300000 : 3000000;
    for (int sync = 0; sync <= 1; sync++) {
        char dir[4200];
        bench_path(dir, sizeof dir, sync ? "sync" : "nosync");
        samsa_options opt = {.flags = SAMSA_OPEN_CREATE,
                             .sync =
                                 sync ? SAMSA_SYNC_ALWAYS : SAMSA_SYNC_NONE};
        BENCH_SAMSA(samsa_open(dir, &opt, &stores[sync]));
    }
    bench_note("bench_producer: one thread, samsa_producer_send() per "
               "record (16 B key, 100 B value), reports on; linger -1 "
               "unless the figure says default\n\n");
    for (int sync = 0; sync <= 1; sync++) {
        const char *sys = sync ? "samsa-async-sync" : "samsa-async";
        const char *dur = sync ? "fsync" : "process";
        for (int dflt = 0; dflt <= 1; dflt++) {
            run w = {.sync = sync,
                     .n = sync ? n_rate / 10 : n_rate,
                     .linger_ms = dflt ? 0 : -1};
            bench_fig f = {.system = sys,
                           .workload = "async",
                           .value_len = 100,
                           .unit = "rec/s",
                           .nfigs = 1,
                           .fig = {dflt ? "async_rate_default" : "async_rate"},
                           .records = w.n,
                           .durability = dur};
            bench_figure(&f, run_once, &w);
        }
        uint64_t rate = sync ? 10000 : 100000;
        run l = {.sync = sync,
                 .n = rate * (bench_quick() ? 1 : 3),
                 .rate = rate,
                 .linger_ms = -1};
        l.sent_ns = calloc(l.n, sizeof *l.sent_ns);
        l.lat = calloc(l.n, sizeof *l.lat);
        BENCH_CHECK(l.sent_ns && l.lat, "out of memory");
        char p50[32], p99[32];
        snprintf(p50, sizeof p50, "report%lluk_p50",
                 (unsigned long long)rate / 1000);
        snprintf(p99, sizeof p99, "report%lluk_p99",
                 (unsigned long long)rate / 1000);
        bench_fig g = {.system = sys,
                       .workload = "async",
                       .value_len = 100,
                       .unit = "us",
                       .nfigs = 2,
                       .fig = {p50, p99},
                       .records = l.n,
                       .durability = dur};
        bench_figure(&g, run_once, &l);
        free(l.sent_ns);
        free(l.lat);
    }
    for (int sync = 0; sync <= 1; sync++)
        BENCH_SAMSA(samsa_close(stores[sync]));
    return bench_finish();
}
