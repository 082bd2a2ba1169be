/*
 * driver.c - the standard workloads (see bench.h and the list in bench.c),
 * run over any system described by a bench_sys table.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX_THREADS 4

/* What one figure's runs share. */
typedef struct wl {
    bench_sys *sys;
    size_t vlen;     /* value bytes                                    */
    uint64_t n;      /* records per run, over all threads              */
    size_t per_call; /* records per produce call                       */
    int threads;     /* producer threads, one partition each           */
    int keep;        /* keep the last run's log for read               */
    uint64_t rate;   /* latency: records per second                    */
    void *kept;      /* the log kept for read, and its record count    */
    uint64_t kept_n;
    char name[64]; /* the log's name prefix                          */
} wl;

/* The checksum of records 0..n-1 at vlen, computed once per (n, vlen). */
static uint64_t
expected(uint64_t n, size_t vlen)
{
    static struct {
        uint64_t n, sum;
        size_t vlen;
    } memo[16];
    static unsigned used;
    for (unsigned i = 0; i < used; i++)
        if (memo[i].n == n && memo[i].vlen == vlen)
            return memo[i].sum;
    uint64_t sum = bench_expected_sum(n, vlen);
    unsigned slot = used < 16 ? used++ : 0;
    memo[slot].n = n;
    memo[slot].vlen = vlen;
    memo[slot].sum = sum;
    return sum;
}

/* Read partition part of log from its first record: exactly n records,
 * in order, with the checksum of what was written. */
static void
read_back(bench_sys *sys, void *log, int part, uint64_t n, size_t vlen,
          const char *what, uint64_t *t_first)
{
    const unsigned char *k, *v;
    size_t vl;
    uint64_t sum = 0;
    void *c = sys->consumer(log, part);
    for (uint64_t i = 0; i < n; i++) {
        if (sys->next(c, 1, &k, &v, &vl) != 1)
            bench_die("%s %s: partition %d gave %llu records, %llu written",
                      sys->name, what, part, (unsigned long long)i,
                      (unsigned long long)n);
        if (vl != vlen || bench_get_u64(v) != i || bench_get_u64(k) != i)
            bench_die("%s %s: partition %d record %llu read back wrong "
                      "(%zu bytes, seq %llu)",
                      sys->name, what, part, (unsigned long long)i, vl,
                      (unsigned long long)bench_get_u64(v));
        sum += bench_fold(k, v, vl);
        if (i == 0 && t_first != NULL)
            *t_first = bench_now_ns();
    }
    if (sys->next(c, 0, &k, &v, &vl) != 0)
        bench_die("%s %s: partition %d has more than the %llu records "
                  "written",
                  sys->name, what, part, (unsigned long long)n);
    sys->consumer_close(c);
    if (sum != expected(n, vlen))
        bench_die("%s %s: partition %d: checksum of the records read "
                  "differs from what was written",
                  sys->name, what, part);
}

/* ---- produce
 * ------------------------------------------------------------------
 */

typedef struct pthr {
    wl *w;
    void *log;
    int part;
    uint64_t n; /* records this thread writes                      */
    pthread_barrier_t *start;
    uint64_t start_ns; /* out: when it began                          */
    uint64_t end_ns;   /* out: when its last record was stored         */
} pthr;

static void *
produce_thread(void *arg)
{
    pthr *t = arg;
    wl *w = t->w;
    bench_sys *sys = w->sys;
    static _Thread_local unsigned char keys[BENCH_BATCH][BENCH_KEY_LEN];
    static _Thread_local unsigned char values[BENCH_BATCH][BENCH_MAX_VALUE];
    unsigned char *kp[BENCH_BATCH], *vp[BENCH_BATCH];

    for (size_t j = 0; j < BENCH_BATCH; j++) {
        memcpy(keys[j], bench_key_template, BENCH_KEY_LEN);
        memcpy(values[j], bench_value_template, w->vlen);
        kp[j] = keys[j];
        vp[j] = values[j];
    }
    void *prod = sys->producer(t->log);
    pthread_barrier_wait(t->start);
    t->start_ns = bench_now_ns();
    for (uint64_t seq = 0; seq < t->n; seq += w->per_call) {
        size_t m = t->n - seq < w->per_call ? t->n - seq : w->per_call;
        for (size_t j = 0; j < m; j++) {
            bench_put_u64(keys[j], seq + j);
            bench_put_u64(values[j], seq + j);
        }
        sys->produce(prod, t->part, kp, vp, m);
    }
    if (sys->flush != NULL)
        sys->flush(prod);
    t->end_ns = bench_now_ns();
    sys->producer_close(prod);
    return NULL;
}

static void
run_produce(void *ctx, unsigned run, double *out)
{
    wl *w = ctx;
    bench_sys *sys = w->sys;
    char name[96];
    pthread_t th[MAX_THREADS];
    pthr t[MAX_THREADS];
    pthread_barrier_t start;

    snprintf(name, sizeof name, "%s-%u", w->name, run);
    void *log = sys->open(sys, name, w->threads, w->vlen);
    pthread_barrier_init(&start, NULL, (unsigned)w->threads + 1);
    for (int i = 0; i < w->threads; i++) {
        t[i] = (pthr){w, log, i, w->n / (uint64_t)w->threads, &start, 0, 0};
        bench_thread_start(&th[i], produce_thread, &t[i]);
    }
    pthread_barrier_wait(&start);
    uint64_t t0 = UINT64_MAX, t1 = 0; /* first start, last end */
    for (int i = 0; i < w->threads; i++) {
        bench_thread_join(th[i]);
        t0 = t[i].start_ns < t0 ? t[i].start_ns : t0;
        t1 = t[i].end_ns > t1 ? t[i].end_ns : t1;
    }
    pthread_barrier_destroy(&start);
    out[0] = (double)w->n * 1e9 / (double)(t1 - t0);

    for (int i = 0; i < w->threads; i++)
        read_back(sys, log, i, t[i].n, w->vlen, name, NULL);
    if (w->keep) {
        if (w->kept != NULL)
            sys->drop(w->kept);
        w->kept = log;
        w->kept_n = w->n;
    } else {
        sys->drop(log);
    }
}

/* ---- read
 * -----------------------------------------------------------------------
 */

/* Timed from the first record to the last: what it costs a consumer to
 * start (a Kafka consumer fetches metadata and offsets first) is left out,
 * as it would be lost in a backlog of millions, and the mock Kafka broker
 * keeps no more than about 100,000 records. */
static void
run_read(void *ctx, unsigned run, double *out)
{
    wl *w = ctx;
    uint64_t t0 = 0;
    (void)run;
    read_back(w->sys, w->kept, 0, w->kept_n, w->vlen, "read", &t0);
    uint64_t t1 = bench_now_ns();
    out[0] = (double)(w->kept_n - 1) * 1e9 / (double)(t1 - t0);
}

/* ---- latency
 * -------------------------------------------------------------------
 */

typedef struct lthr {
    wl *w;
    void *log;
    uint64_t total;   /* records sent, warm-up included                  */
    uint64_t *lat_ns; /* per record                                      */
    int cpu;          /* pin the consumer there, or -1                   */
    atomic_int ready; /* the consumer is subscribed                      */
} lthr;

static void *
latency_consumer(void *arg)
{
    lthr *l = arg;
    bench_sys *sys = l->w->sys;
    const unsigned char *k, *v;
    size_t vl;

    if (l->cpu >= 0)
        bench_pin(l->cpu);
    void *c = sys->consumer(l->log, 0);
    atomic_store(&l->ready, 1);
    for (uint64_t i = 0; i < l->total; i++) {
        if (sys->next(c, 1, &k, &v, &vl) != 1)
            bench_die("%s latency: record %llu of %llu did not come within "
                      "10 s",
                      sys->name, (unsigned long long)i,
                      (unsigned long long)l->total);
        uint64_t t1 = bench_now_ns();
        if (vl != l->w->vlen || bench_get_u64(v) != i || bench_get_u64(k) != i)
            bench_die("%s latency: record %llu received wrong", sys->name,
                      (unsigned long long)i);
        l->lat_ns[i] = t1 - bench_get_u64(v + 8);
    }
    sys->consumer_close(c);
    return NULL;
}

static void
run_latency(void *ctx, unsigned run, double *out)
{
    wl *w = ctx;
    bench_sys *sys = w->sys;
    char name[96];
    lthr l;
    pthread_t th;
    unsigned char key[BENCH_KEY_LEN], value[BENCH_MAX_VALUE];
    unsigned char *kp = key, *vp = value;
    int pin = (sys->caps & BENCH_PIN) && bench_cpu_producer >= 0;

    snprintf(name, sizeof name, "%s-%u", w->name, run);
    void *log = sys->open(sys, name, 1, w->vlen);
    memset(&l, 0, sizeof l);
    l.w = w;
    l.log = log;
    l.total = w->n;
    l.lat_ns = malloc(l.total * sizeof *l.lat_ns);
    BENCH_CHECK(l.lat_ns != NULL, "out of memory");
    l.cpu = pin ? bench_cpu_consumer : -1;
    atomic_init(&l.ready, 0);
    bench_thread_start(&th, latency_consumer, &l);
    if (pin)
        bench_pin(bench_cpu_producer);
    void *prod = sys->producer(log);
    while (!atomic_load(&l.ready))
        bench_wait_until(bench_now_ns() + 100000);
    /* Let the consumer get into its wait (and a subscription propagate). */
    bench_wait_until(bench_now_ns() + 100000000);

    memcpy(key, bench_key_template, sizeof key);
    memcpy(value, bench_value_template, w->vlen);
    uint64_t gap = 1000000000u / w->rate, start = bench_now_ns(), next = start;
    for (uint64_t i = 0; i < l.total; i++) {
        bench_wait_until(next);
        uint64_t t0 = bench_now_ns();
        bench_put_u64(key, i);
        bench_put_u64(value, i);
        bench_put_u64(value + 8, t0);
        sys->produce(prod, 0, &kp, &vp, 1);
        next += gap; /* behind: catch up, the mean rate stays */
    }
    if (sys->flush != NULL)
        sys->flush(prod);
    uint64_t end = bench_now_ns();
    bench_thread_join(th);
    sys->producer_close(prod);
    if (pin)
        bench_pin(-1);
    sys->drop(log);

    uint64_t warm = l.total / 10;
    bench_percentiles(l.lat_ns + warm, l.total - warm, out);
    out[4] = (double)l.total * 1e9 / (double)(end - start);
    free(l.lat_ns);
}

/* ---- the table
 * ----------------------------------------------------------------
 */

void
bench_counts_default(bench_counts *c)
{
    int q = bench_quick();
    c->produce_1 = q ? 200000 : 2000000;
    c->produce_100 = q ? 1000000 : 10000000;
    c->produce_4t = q ? 200000 : 2000000;
    c->lat_seconds_x10 = q ? 5 : 10;
    c->large_div = 10;
}

/* n / div, a whole number of batches for every thread, at least one. */
static uint64_t
scaled(uint64_t n, uint64_t div)
{
    const uint64_t unit = BENCH_BATCH * MAX_THREADS;
    n = n / div / unit * unit;
    return n < unit ? unit : n;
}

static void
figure(wl *w, const char *fig, uint64_t n,
       void (*fn)(void *ctx, unsigned run, double *out))
{
    bench_fig f;
    memset(&f, 0, sizeof f);
    f.system = w->sys->name;
    f.durability = w->sys->durability;
    f.value_len = w->vlen;
    f.unit = "rec/s";
    f.records = n;
    f.workload = fig;
    f.nfigs = 1;
    f.fig[0] = fig;
    w->n = n;
    snprintf(w->name, sizeof w->name, "%s-%zu", fig, w->vlen);
    bench_figure(&f, fn, w);
}

static void
latency_figure(wl *w, const char *fig, uint64_t rate, uint64_t total)
{
    static const char *suffix[] = {"p50", "p99", "p99.9", "max", "rate"};
    char names[5][48];
    bench_fig f;
    memset(&f, 0, sizeof f);
    f.system = w->sys->name;
    f.durability = w->sys->durability;
    f.value_len = w->vlen;
    f.unit = "us";
    f.records = total;
    f.workload = fig;
    f.nfigs = 5;
    for (int i = 0; i < 5; i++) {
        snprintf(names[i], sizeof names[i], "%s_%s", fig, suffix[i]);
        f.fig[i] = names[i];
    }
    f.units[4] = "rec/s";
    w->n = total;
    w->rate = rate;
    snprintf(w->name, sizeof w->name, "%s-%zu", fig, w->vlen);
    bench_figure(&f, run_latency, w);
}

/* Records for a latency run: its planned seconds at rate, or fewer when the
 * system's produce_1 figure says it cannot keep the rate (then it sends as
 * fast as it can, for about as long), and no more than the backlog its
 * produce_100 run holds (the mock Kafka broker drops older records); at
 * least 1000. */
static uint64_t
lat_total(wl *w, const bench_counts *c, uint64_t rate, uint64_t large)
{
    double m, lo, hi;
    uint64_t n = c->lat_seconds_x10 * rate / 10;
    uint64_t held = scaled(c->produce_100, large * w->sys->slow_batch);
    if (bench_lookup(w->sys->name, "produce_1", w->vlen, &m, &lo, &hi) &&
        m < (double)rate)
        n = (uint64_t)(m * (double)c->lat_seconds_x10 / 10);
    n = n > held ? held : n;
    return n < 1000 ? 1000 : n;
}

void
bench_system(bench_sys *sys, const bench_counts *c)
{
    static const size_t sizes[] = {100, 1024};

    if (sys->setup != NULL && sys->setup(sys) != 0)
        return;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        wl w;
        memset(&w, 0, sizeof w);
        w.sys = sys;
        w.vlen = sizes[s];
        uint64_t large = sizes[s] > 100 ? c->large_div : 1;
        uint64_t div = large * sys->slow, div_batch = large * sys->slow_batch;
        if (sys->caps & BENCH_CAN_PRODUCE) {
            w.per_call = 1;
            w.threads = 1;
            figure(&w, "produce_1", scaled(c->produce_1, div), run_produce);
            w.per_call = BENCH_BATCH;
            w.keep = (sys->caps & BENCH_CAN_READ) != 0;
            figure(&w, "produce_100", scaled(c->produce_100, div_batch),
                   run_produce);
            w.keep = 0;
            w.per_call = 1;
            w.threads = 4;
            figure(&w, "produce_4t", scaled(c->produce_4t, div), run_produce);
        }
        if (w.kept != NULL) {
            uint64_t n = w.kept_n;
            figure(&w, "read", n, run_read);
            sys->drop(w.kept);
            w.kept = NULL;
        }
        if (sys->caps & BENCH_CAN_LATENCY) {
            w.threads = 1;
            w.per_call = 1;
            latency_figure(&w, "lat10k", 10000, lat_total(&w, c, 10000, large));
            latency_figure(&w, "lat100k", 100000,
                           lat_total(&w, c, 100000, large));
        }
    }
    if (sys->teardown != NULL)
        sys->teardown(sys);
}
