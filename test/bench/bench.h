/*
 * bench.h - what every benchmark program shares: errors, clocks, the
 * records and their checksum, the work directory, CPU pinning, figures
 * (median, min and max over runs, printed and written to CSV), latency
 * percentiles, and a driver that runs the standard workloads over any
 * system described by a bench_sys table.
 *
 * A benchmark program is test/bench/bench_NAME.c with its own main(); the
 * Makefile links every one with bench.c and the system files it needs.
 * A program with its own workloads (consumer groups, queues, replicas)
 * uses bench_figure() for its numbers, so that every figure of every
 * program is printed and recorded the same way:
 *
 *     static void one_run(void *ctx, unsigned run, double *out) { ... }
 *     bench_init("bench_groups", argc, argv);
 *     bench_figure(&(bench_fig){"samsa", "rebalance", 100, "ms", 1,
 *                               {"rebalance"}}, one_run, ctx);
 *     return bench_finish();
 *
 * bench_group.c measures several figures in one run (nfigs, units),
 * bench_replica.c compares figures with bench_ratio(), bench_queue.c
 * gives two systems the same figure names.
 */
#ifndef SAMSA_BENCH_H
#define SAMSA_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- errors ---------------------------------------------------------------
 * Every call is checked; a failure prints where and ends the program (the
 * work directory and any server the program started go with it). */

void bench_die(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));

#define BENCH_CHECK(cond, ...)                                                 \
    do {                                                                       \
        if (!(cond))                                                           \
            bench_die(__VA_ARGS__);                                            \
    } while (0)

/* A samsa call that must return 0, in a program that includes samsa.h:
 * on failure, where, the call and samsa_strerror() of its code. */
#define BENCH_SAMSA(call)                                                      \
    do {                                                                       \
        int rc_ = (call);                                                      \
        if (rc_ != 0)                                                          \
            bench_die("%s:%d: %s: %s", __FILE__, __LINE__, #call,              \
                      samsa_strerror(rc_));                                    \
    } while (0)

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* Sleep, then spin, until the monotonic clock reads t (ns). */
void bench_wait_until(uint64_t t);

/* ---- the records ----------------------------------------------------------
 * Record seq: a 16-byte key, a fixed pattern with seq in bytes 0..7; a value
 * of 100 or 1024 bytes, a fixed pattern with seq in bytes 0..7 and, for the
 * latency workloads, the send time in bytes 8..15.  bench_fold() mixes every
 * byte of a record into 64 bits; readers sum it over what they read and
 * compare with bench_expected_sum(). */

#define BENCH_KEY_LEN   16
#define BENCH_MAX_VALUE 1024
#define BENCH_BATCH     100 /* records per call in the batched workloads */

extern unsigned char bench_key_template[BENCH_KEY_LEN];
extern unsigned char bench_value_template[BENCH_MAX_VALUE];

static inline void
bench_put_u64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static inline uint64_t
bench_get_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint64_t bench_fold(const unsigned char *key, const unsigned char *value,
                    size_t value_len);

/* The sum of bench_fold() over records 0..n-1 (send time 0), as written. */
uint64_t bench_expected_sum(uint64_t n, size_t value_len);

/* ---- the work directory ---------------------------------------------------
 * A fresh directory under argv[1], $TMPDIR or /tmp, removed at exit. */

const char *bench_dir(void);
void bench_path(char *out, size_t size, const char *name);
void bench_rm_tree(const char *path);

/* ---- CPUs -------------------------------------------------------------------
 * With two or more CPUs, the latency workloads pin the producing thread to
 * the first and the consuming one to the second. */

extern int bench_cpu_producer, bench_cpu_consumer; /* -1: not pinned */
void bench_pin(int cpu); /* cpu < 0: back to every CPU we started with */

/* Start and join a thread, or die. */
#include <pthread.h>
void bench_thread_start(pthread_t *th, void *(*fn)(void *), void *arg);
void bench_thread_join(pthread_t th);

/* ---- figures --------------------------------------------------------------
 */

#define BENCH_MAX_FIGS 8
#define BENCH_MAX_RUNS 32

typedef struct bench_fig {
    const char *system;   /* CSV "system", e.g. "samsa-sync"               */
    const char *workload; /* CSV "workload" prefix, e.g. "produce_1"       */
    size_t value_len;     /* CSV "value_bytes"                             */
    const char *unit;     /* "rec/s" or "us"                               */
    unsigned nfigs;       /* figures one run gives                         */
    const char *fig[BENCH_MAX_FIGS];   /* their names (CSV "figure")        */
    const char *units[BENCH_MAX_FIGS]; /* per figure, or NULL: unit        */
    uint64_t records; /* records per run (CSV)                             */
    const char *durability; /* CSV: what survives ("fsync", "process", ...)*/
    /* out: per figure, over the runs */
    double median[BENCH_MAX_FIGS], min[BENCH_MAX_FIGS], max[BENCH_MAX_FIGS];
} bench_fig;

/* Run fn once to warm up and bench_runs() times to measure, each after
 * sync(2) (outside the timing); fn(ctx, run, out) writes f->nfigs numbers
 * to out (run 0 is the warm-up, which may use fewer records; the measured
 * runs are 1..bench_runs()).  Prints one line per figure and appends it to
 * the CSV. */
void bench_figure(bench_fig *f,
                  void (*fn)(void *ctx, unsigned run, double *out), void *ctx);

/* The figure already measured for system, figure name (e.g. "produce_1",
 * "lat10k_p50") and value size: its median, min and max; 0 if none. */
int bench_lookup(const char *system, const char *fig, size_t value_len,
                 double *median, double *min, double *max);

/* After bench_figure(): one printed line (not a CSV row: the CSV holds
 * both figures) comparing figure i of f with base, e.g. a replicated
 * figure with the same at one copy:
 *     "  samsa-sync rate 100B: x0.61 of 1 copy"
 * Nothing is printed when base is 0. */
void bench_ratio(const bench_fig *f, unsigned i, double base, const char *of);

/* Latency samples (ns) to p50, p99, p99.9 and max (us) in out[0..3]; sorts
 * the samples. */
void bench_percentiles(uint64_t *ns, size_t n, double *out);

/* ---- the program ------------------------------------------------------------
 * bench_init(): parses [DIR], reads SAMSA_BENCH_QUICK (smaller counts, for
 * a smoke run), SAMSA_BENCH_RUNS (measured runs, default 5) and
 * SAMSA_BENCH_CSV (default build/NAME.csv), makes the work directory, opens
 * the CSV and prints the machine.  bench_finish() closes the CSV. */

void bench_init(const char *name, int argc, char **argv);
int bench_quick(void);
unsigned bench_runs(void);
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int bench_finish(void);

/* ---- the standard workloads over any system
 * ---------------------------------- A system is a table of functions over
 * opaque handles.  One "log" is a fresh topic (or table, stream, env) with some
 * partitions; producers and consumers are per thread.  Every function either
 * succeeds or calls bench_die(). */

typedef struct bench_sys bench_sys;
struct bench_sys {
    const char *name;       /* CSV "system": "samsa", "redis-always", ...   */
    const char *durability; /* "fsync", "process" (page cache or a server
                               process's write), "memory" or "none"         */
    unsigned caps;          /* BENCH_CAN_* workloads it takes part in       */
    unsigned slow;          /* counts of 1/call workloads are divided by
                               this (>= 1), to keep a run near a second     */
    unsigned slow_batch;    /* and those of produce_100 (and read) by this  */
    void *cfg;              /* the system's own settings                    */
    /* Before and after all its workloads; setup may return nonzero to
     * skip the system (it printed why). */
    int (*setup)(bench_sys *sys);
    void (*teardown)(bench_sys *sys);
    /* A fresh log named name with parts partitions and values of value_len
     * bytes; drop removes it. */
    void *(*open)(bench_sys *sys, const char *name, int parts,
                  size_t value_len);
    void (*drop)(void *log);
    /* A producer for the calling thread; produce writes n records (keys[i],
     * values[i]) into partition part, as one call when n > 1; flush waits
     * until all it produced is stored (may be NULL). */
    void *(*producer)(void *log);
    void (*produce)(void *prod, int part, unsigned char *const *keys,
                    unsigned char *const *values, size_t n);
    void (*flush)(void *prod);
    void (*producer_close)(void *prod);
    /* A consumer for the calling thread, from the first record of part;
     * next gives 1 and the next record (pointers valid until the next call),
     * or 0 when none came (wait: within 10 s, else at once). */
    void *(*consumer)(void *log, int part);
    int (*next)(void *cons, int wait, const unsigned char **key,
                const unsigned char **value, size_t *value_len);
    void (*consumer_close)(void *cons);
};

#define BENCH_CAN_PRODUCE 0x1  /* produce_1, produce_100, produce_4t   */
#define BENCH_CAN_READ    0x2  /* read the backlog produce_100 left     */
#define BENCH_CAN_LATENCY 0x4  /* latency at 10,000/s and 100,000/s     */
#define BENCH_PIN         0x8  /* in-process: pin the latency threads    */
#define BENCH_ASYNC       0x10 /* produce returns before it is stored   */

/* Record counts per run (before dividing by sys->slow). */
typedef struct bench_counts {
    uint64_t produce_1, produce_100, produce_4t; /* for 100-byte values */
    uint64_t lat_seconds_x10;                    /* latency run, in 0.1 s */
    unsigned large_div; /* 1 KiB values: counts divided by this      */
} bench_counts;

void bench_counts_default(bench_counts *c);

/* All the standard workloads of sys, at 100-byte and 1 KiB values. */
void bench_system(bench_sys *sys, const bench_counts *counts);

#endif
