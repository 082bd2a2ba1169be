/*
 * bench_retention.c - what retention and many partitions cost.
 *
 *   build/bench/bench_retention [DIR]
 *
 * Figures (bench_figure(): median of the runs after a warm-up, min, max):
 *
 *  keep / retain   produce_100: one thread writes n records of 100 bytes
 *                  (16-byte key) in calls of 100 into one partition with
 *                  1 MiB segments, while a second thread follows with a
 *                  cursor and reads each record: the records/s of the
 *                  writer and of the reader (until it has read the last).
 *                  "keep" keeps every record; "retain" has retention_bytes
 *                  of 4 MiB, so the background pass deletes segments as
 *                  fast as the writer fills them (the bar: within
 *                  10% of keep).  Then the same without the reader
 *                  ("retention-alone": the follow figure is then the
 *                  writer's).  Also printed: the partition's bytes on
 *                  disk after the run (with retention, once the pass has
 *                  had up to 3 s to catch up).
 *  parts10k        a store holding a topic of 10,000 partitions, one
 *                  record each, closed and opened again in a new process:
 *                  the open's time (ms) and that process's resident
 *                  memory after it (MiB).
 *
 * With sync off (the page cache is what both rows measure).
 */
#include "bench.h"

#include <dirent.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "samsa.h"

#define SEGMENT   (1 << 20)
#define RETAIN    (4 << 20)
#define PARTS_10K 10000

typedef struct run {
    samsa *s;
    const char *dir;      /* the store's directory                  */
    bool retain;          /* retention_bytes set                    */
    bool follow;          /* a cursor thread reads as it goes       */
    uint64_t n;           /* records                                */
    char topic[64];       /* this run's                             */
    _Atomic bool started; /* the reader's cursor is open            */
    uint64_t read_ns;     /* the reader: when it read the last      */
    uint64_t disk;        /* bytes of the partition after the run   */
} run;

static void *
reader(void *arg)
{
    run *w = arg;
    samsa_cursor *c;
    samsa_message m;
    BENCH_SAMSA(samsa_cursor_open(w->s, w->topic, 0, 0, &c));
    atomic_store(&w->started, true);
    for (uint64_t i = 0; i < w->n; i++) {
        int rc = samsa_cursor_next(c, &m, 10000);
        if (rc == SAMSA_EOFFSET) { /* retention passed us: catch up */
            BENCH_SAMSA(samsa_cursor_seek(c, SAMSA_OFFSET_BEGINNING));
            i = (uint64_t)samsa_cursor_offset(c) - 1;
            continue;
        }
        BENCH_SAMSA(rc);
        BENCH_CHECK(m.offset == (int64_t)i && m.value_len == 100,
                    "read offset %lld, %llu expected", (long long)m.offset,
                    (unsigned long long)i);
    }
    w->read_ns = bench_now_ns();
    BENCH_SAMSA(samsa_cursor_close(c));
    return NULL;
}

/* Bytes of the files in dir. */
static uint64_t
dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    BENCH_CHECK(d != NULL, "%s: cannot list", dir);
    uint64_t sum = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char p[8192 + 256];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
            sum += (uint64_t)st.st_blocks * 512;
    }
    closedir(d);
    return sum;
}

static void
produce_run(void *ctx, unsigned runno, double *out)
{
    run *w = ctx;
    snprintf(w->topic, sizeof w->topic, "r%u-%d", runno, w->retain);
    samsa_topic_config cfg = {.segment_bytes = SEGMENT,
                              .retention_bytes = w->retain ? RETAIN : 0};
    BENCH_SAMSA(samsa_topic_create(w->s, w->topic, &cfg));
    atomic_store(&w->started, false);
    pthread_t th;
    if (w->follow) {
        bench_thread_start(&th, reader, w);
        while (!atomic_load(&w->started))
            ;
    }
    unsigned char keys[BENCH_BATCH][BENCH_KEY_LEN], vals[BENCH_BATCH][100];
    samsa_record r[BENCH_BATCH];
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < w->n; i += BENCH_BATCH) {
        for (size_t k = 0; k < BENCH_BATCH; k++) {
            memcpy(keys[k], bench_key_template, BENCH_KEY_LEN);
            memcpy(vals[k], bench_value_template, 100);
            bench_put_u64(vals[k], i + k);
            r[k] = (samsa_record){.key = keys[k],
                                  .key_len = BENCH_KEY_LEN,
                                  .value = vals[k],
                                  .value_len = 100};
        }
        BENCH_SAMSA(samsa_produce(w->s, w->topic, 0, r, BENCH_BATCH));
    }
    uint64_t t1 = bench_now_ns();
    if (w->follow)
        bench_thread_join(th);
    else
        w->read_ns = t1;
    char dir[8192];
    snprintf(dir, sizeof dir, "%s/%s-0", w->dir, w->topic);
    /* The background pass runs about once a second: give it three to
     * bring the partition within a segment of its bound. */
    w->disk = dir_bytes(dir);
    for (int i = 0; i < 30 && w->retain && w->disk > RETAIN + 2 * SEGMENT;
         i++) {
        bench_wait_until(bench_now_ns() + 100000000);
        w->disk = dir_bytes(dir);
    }
    out[0] = (double)w->n / ((double)(t1 - t0) / 1e9);
    out[1] = (double)w->n / ((double)(w->read_ns - t0) / 1e9);
    out[2] = (double)w->disk / (1 << 20);
    BENCH_SAMSA(samsa_topic_delete(w->s, w->topic));
}

/* VmRSS of this process, MiB. */
static double
rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %lf kB", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb / 1024;
}

static void
parts_run(void *ctx, unsigned runno, double *out)
{
    (void)ctx;
    char dir[8192];
    snprintf(dir, sizeof dir, "%s/parts-%u", bench_dir(), runno);
    samsa_options o = {.flags = SAMSA_OPEN_CREATE};
    samsa *s;
    BENCH_SAMSA(samsa_open(dir, &o, &s));
    samsa_topic_config cfg = {.partitions = PARTS_10K};
    BENCH_SAMSA(samsa_topic_create(s, "p", &cfg));
    for (int32_t p = 0; p < PARTS_10K; p++) {
        samsa_record r = {.value = bench_value_template, .value_len = 100};
        BENCH_SAMSA(samsa_produce(s, "p", p, &r, 1));
    }
    BENCH_SAMSA(samsa_close(s));
    /* Opened in a fresh process, so that its resident memory is the
     * open's (and the program's, a few MiB), not this one's history. */
    int fds[2];
    BENCH_CHECK(pipe(fds) == 0, "pipe");
    pid_t pid = fork();
    BENCH_CHECK(pid >= 0, "fork");
    if (pid == 0) {
        double fig[2];
        uint64_t t0 = bench_now_ns();
        BENCH_SAMSA(samsa_open(dir, NULL, &s));
        fig[0] = (double)(bench_now_ns() - t0) / 1e6;
        fig[1] = rss_mib();
        BENCH_SAMSA(samsa_close(s));
        _exit(write(fds[1], fig, sizeof fig) == sizeof fig ? 0 : 1);
    }
    close(fds[1]);
    BENCH_CHECK(read(fds[0], out, 2 * sizeof *out) == 2 * sizeof *out,
                "the child did not report");
    close(fds[0]);
    int st;
    BENCH_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
                    WEXITSTATUS(st) == 0,
                "the child failed");
    bench_rm_tree(dir);
}

int
main(int argc, char **argv)
{
    bench_init("bench_retention", argc, argv);
    samsa_options opt = {.flags = SAMSA_OPEN_CREATE};
    char dir[4200];
    bench_path(dir, sizeof dir, "store");
    samsa *s;
    BENCH_SAMSA(samsa_open(dir, &opt, &s));
    bench_note("bench_retention: produce_100 (100 B values, 1 MiB segments) "
               "with a cursor following, retention off and at %d MiB\n\n",
               RETAIN >> 20);
    uint64_t n = bench_quick() ? 500000 : 5000000;
    /* With a follower (three busy threads: the writer, the reader and
     * the background pass, on however many cores there are) and without
     * (the pass has a core to itself on a machine of two). */
    for (int k = 0; k < 4; k++) {
        bool retain = k & 1, follow = k < 2;
        run w = {
            .s = s, .dir = dir, .retain = retain, .follow = follow, .n = n};
        static const char *const names[] = {"samsa-keep", "samsa-retain",
                                            "samsa-keep-alone",
                                            "samsa-retain-alone"};
        bench_fig f = {.system = names[k],
                       .workload = follow ? "retention" : "retention-alone",
                       .value_len = 100,
                       .unit = "rec/s",
                       .nfigs = 3,
                       .fig = {"produce_100", "follow", "disk"},
                       .units = {NULL, NULL, "MiB"},
                       .records = n,
                       .durability = "process"};
        bench_figure(&f, produce_run, &w);
    }
    BENCH_SAMSA(samsa_close(s));
    bench_fig p = {.system = "samsa",
                   .workload = "parts10k",
                   .value_len = 100,
                   .unit = "ms",
                   .nfigs = 2,
                   .fig = {"open", "rss_after_open"},
                   .units = {NULL, "MiB"},
                   .records = PARTS_10K,
                   .durability = "process"};
    bench_figure(&p, parts_run, NULL);
    return bench_finish();
}
