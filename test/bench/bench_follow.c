/*
 * bench_follow.c - a reader in another process (SAMSA_OPEN_RDONLY)
 * following a producer, beside a cursor in the producer's own process.
 *
 *   build/bench/bench_follow [DIR]
 *
 * Figures (bench_figure(): median of the runs after a warm-up, min, max):
 *
 *  follow10k_p50/p99, follow100k_p50/p99
 *                 the producer stores one record of 100 bytes per
 *                 samsa_produce() at a fixed rate (10,000 and 100,000
 *                 records/s); the reader's blocking samsa_cursor_next()
 *                 receives each, and its receipt time minus the time the
 *                 produce call returned (the acknowledgement), both
 *                 CLOCK_MONOTONIC, which every process shares, is the
 *                 latency (us).  The value carries its send time too, and
 *                 the reader checks every record (offset, sequence).
 *  read_backlog   records/s of one reader over a backlog of records
 *                 written before it starts (batches of 100), every record
 *                 checked (bench_fold sum).
 *
 * System samsa-rdonly is a forked process with its own read-only handle:
 * it learns of new records from the end marker and the writer's futex
 * wake (samsa(7), "Read-only handles").  System samsa-cursor is a thread
 * of the producing process with a cursor on the writer's handle, the
 * in-process figure to compare with.  Both with the default
 * samsa_options.spin_ns (the reader polls up to 200 us while records come
 * that often, then sleeps), and as
 * -spin with a reader that polls for up to a second (a busy reader, as
 * Chronicle's and Aeron's, which never sleeps while records come), and
 * samsa-cursor-nospin sleeps at once (every hand-off a futex wake).  With
 * two or more CPUs the producer is pinned to one and the reader to
 * another.
 */
#include "bench.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "samsa.h"

static samsa *store;
static char store_dir[4200];

/* What a run shares between the producer and its reader: in memory
 * mapped before the fork, so a forked reader writes it too. */
typedef struct shared {
    uint64_t n;        /* records                                      */
    uint64_t rate;     /* records/s, or 0: a backlog                   */
    uint64_t *ack_ns;  /* per record: when its produce returned        */
    uint64_t *recv_ns; /* per record: when the reader had it           */
    uint64_t read_ns;  /* backlog: the reader's time for all n         */
    uint64_t sum;      /* backlog: bench_fold over what it read        */
    int ready;         /* the reader has its cursor                    */
    int bad;           /* the reader saw a wrong record                */
} shared;

typedef struct run {
    int other_process; /* samsa-rdonly, else samsa-cursor          */
    int64_t spin_ns;   /* the reader's samsa_options.spin_ns        */
    shared *sh;
    char topic[64];
} run;

/* The reader: every record of topic-0 from offset 0, in order. */
static void
reader(const run *w, samsa *s)
{
    shared *sh = w->sh;
    samsa_cursor *c;
    BENCH_SAMSA(samsa_cursor_open(s, w->topic, 0, 0, &c));
    __atomic_store_n(&sh->ready, 1, __ATOMIC_RELEASE);
    uint64_t t0 = 0, sum = 0;
    for (uint64_t i = 0; i < sh->n; i++) {
        samsa_message m;
        int rc = samsa_cursor_next(c, &m, 10000);
        uint64_t now = bench_now_ns();
        if (rc != 0 || m.offset != (int64_t)i || m.value_len != 100 ||
            bench_get_u64(m.value) != i) {
            sh->bad = 1;
            break;
        }
        if (i == 0)
            t0 = now;
        if (sh->rate > 0)
            sh->recv_ns[i] = now;
        else
            sum += bench_fold(m.key, m.value, m.value_len);
    }
    sh->read_ns = bench_now_ns() - t0;
    sh->sum = sum;
    samsa_cursor_close(c);
}

static void *
reader_thread(void *arg)
{
    bench_pin(bench_cpu_consumer);
    reader(arg, store);
    return NULL;
}

/* Start the reader of run w: a forked process with its own read-only
 * handle, or a thread on the writer's; wait until it has its cursor. */
static pid_t
reader_start(run *w, pthread_t *th)
{
    pid_t pid = 0;
    if (w->other_process) {
        pid = fork();
        BENCH_CHECK(pid >= 0, "fork failed");
        if (pid == 0) {
            bench_pin(bench_cpu_consumer);
            samsa_options ro = {.flags = SAMSA_OPEN_RDONLY,
                                .spin_ns = w->spin_ns};
            samsa *s;
            BENCH_SAMSA(samsa_open(store_dir, &ro, &s));
            reader(w, s);
            samsa_close(s);
            _exit(0);
        }
    } else
        bench_thread_start(th, reader_thread, w);
    while (!__atomic_load_n(&w->sh->ready, __ATOMIC_ACQUIRE))
        usleep(100);
    return pid;
}

static void
reader_join(run *w, pid_t pid, pthread_t th)
{
    if (w->other_process) {
        int st;
        BENCH_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
                        WEXITSTATUS(st) == 0,
                    "the reader process failed");
    } else
        bench_thread_join(th);
    BENCH_CHECK(!w->sh->bad, "%s: the reader saw a wrong record", w->topic);
}

static void
produce(const run *w, uint64_t first, size_t n)
{
    unsigned char keys[BENCH_BATCH][BENCH_KEY_LEN];
    unsigned char values[BENCH_BATCH][100];
    samsa_record r[BENCH_BATCH];
    for (size_t k = 0; k < n; k++) {
        memcpy(keys[k], bench_key_template, BENCH_KEY_LEN);
        memcpy(values[k], bench_value_template, 100);
        bench_put_u64(keys[k], first + k);
        bench_put_u64(values[k], first + k);
        if (w->sh->rate > 0) /* the send time; a backlog's sum needs none */
            bench_put_u64(values[k] + 8, bench_now_ns());
        r[k] = (samsa_record){.key = keys[k],
                              .key_len = BENCH_KEY_LEN,
                              .value = values[k],
                              .value_len = 100};
    }
    BENCH_SAMSA(samsa_produce(store, w->topic, 0, r, n));
}

static void
run_once(void *ctx, unsigned runno, double *out)
{
    run *w = ctx;
    shared *sh = w->sh;
    snprintf(w->topic, sizeof w->topic, "f%u-%d-%llu", runno, w->other_process,
             (unsigned long long)sh->rate);
    BENCH_SAMSA(samsa_topic_create(store, w->topic, NULL));
    sh->ready = sh->bad = 0;
    pthread_t th;
    pid_t pid = 0;
    if (sh->rate == 0) { /* a backlog: written first, then read */
        for (uint64_t i = 0; i < sh->n; i += BENCH_BATCH)
            produce(w, i, BENCH_BATCH);
        pid = reader_start(w, &th);
        reader_join(w, pid, th);
        BENCH_CHECK(sh->sum == bench_expected_sum(sh->n, 100),
                    "%s: the records read differ from those written", w->topic);
        out[0] = (double)sh->n / ((double)sh->read_ns / 1e9);
    } else {
        pid = reader_start(w, &th);
        bench_pin(bench_cpu_producer);
        uint64_t t0 = bench_now_ns();
        for (uint64_t i = 0; i < sh->n; i++) {
            bench_wait_until(t0 + i * 1000000000ull / sh->rate);
            produce(w, i, 1);
            sh->ack_ns[i] = bench_now_ns();
        }
        bench_pin(-1);
        reader_join(w, pid, th);
        for (uint64_t i = 0; i < sh->n; i++) /* seen before the ack: 0 */
            sh->recv_ns[i] = sh->recv_ns[i] > sh->ack_ns[i]
                                 ? sh->recv_ns[i] - sh->ack_ns[i]
                                 : 0;
        double pct[4];
        bench_percentiles(sh->recv_ns, sh->n, pct);
        out[0] = pct[0];
        out[1] = pct[1];
    }
    BENCH_SAMSA(samsa_topic_delete(store, w->topic));
}

static void *
shared_alloc(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    BENCH_CHECK(p != MAP_FAILED, "mmap of %zu bytes failed", bytes);
    return p;
}

/* The writer's handle, its cursors spinning spin_ns. */
static void
store_reopen(int64_t spin_ns)
{
    if (store != NULL)
        BENCH_SAMSA(samsa_close(store));
    samsa_options opt = {.flags = SAMSA_OPEN_CREATE, .spin_ns = spin_ns};
    BENCH_SAMSA(samsa_open(store_dir, &opt, &store));
}

int
main(int argc, char **argv)
{
    bench_init("bench_follow", argc, argv);
    bench_path(store_dir, sizeof store_dir, "follow");
    store_reopen(0);
    bench_note("bench_follow: a reader in another process (read-only "
               "handle) and one in the producer's (cursor), 16 B keys, "
               "100 B values\n\n");
    uint64_t backlog = bench_quick() ? 100000 : 1000000;
    uint64_t secs = bench_quick() ? 1 : 3;
    uint64_t most = 100000 * secs > backlog ? 100000 * secs : backlog;
    shared *sh = shared_alloc(sizeof *sh);
    sh->ack_ns = shared_alloc(most * sizeof(uint64_t));
    sh->recv_ns = shared_alloc(most * sizeof(uint64_t));
    static const struct {
        const char *name;
        int other;
        int64_t spin_ns;
    } systems[] = {{"samsa-rdonly", 1, 0},
                   {"samsa-rdonly-spin", 1, 1000000000},
                   {"samsa-cursor", 0, 0},
                   {"samsa-cursor-spin", 0, 1000000000},
                   {"samsa-cursor-nospin", 0, -1}};
    for (size_t k = 0; k < sizeof systems / sizeof *systems; k++) {
        const char *sys = systems[k].name;
        int other = systems[k].other;
        run w = {
            .other_process = other, .spin_ns = systems[k].spin_ns, .sh = sh};
        if (!other)
            store_reopen(systems[k].spin_ns);
        for (uint64_t rate = 10000; rate <= 100000; rate *= 10) {
            char p50[32], p99[32];
            snprintf(p50, sizeof p50, "follow%lluk_p50",
                     (unsigned long long)rate / 1000);
            snprintf(p99, sizeof p99, "follow%lluk_p99",
                     (unsigned long long)rate / 1000);
            sh->rate = rate;
            sh->n = rate * secs;
            bench_fig f = {.system = sys,
                           .workload = "follow",
                           .value_len = 100,
                           .unit = "us",
                           .nfigs = 2,
                           .fig = {p50, p99},
                           .records = sh->n,
                           .durability = "process"};
            bench_figure(&f, run_once, &w);
        }
        if (systems[k].spin_ns != 0)
            continue; /* a backlog never waits */
        sh->rate = 0;
        sh->n = backlog;
        bench_fig g = {.system = sys,
                       .workload = "follow",
                       .value_len = 100,
                       .unit = "rec/s",
                       .nfigs = 1,
                       .fig = {"read_backlog"},
                       .records = sh->n,
                       .durability = "process"};
        bench_figure(&g, run_once, &w);
    }
    BENCH_SAMSA(samsa_close(store));
    return bench_finish();
}
