/*
 * bench_compact.c - what a compaction pass costs.
 *
 *   build/bench/bench_compact [DIR]
 *
 * Figures (bench_figure(): median of the runs after a warm-up, min, max):
 *
 *  compact   a partition of 1 GB (SAMSA_BENCH_QUICK: 16 MB, in 1 MiB
 *            segments) of 100-byte values with 16-byte keys, in 64 MiB
 *            segments, one key in ten
 *            distinct (so 10% of the records are their key's latest, the
 *            rest go), produced in calls of 100 (not timed); then one
 *            compaction pass over every sealed segment, timed: the MB/s of
 *            log it took in (the sealed segments' bytes before), and the
 *            partition's MiB of .log files after.
 *
 * The pass is the cleaner's own (samsa__compact_run, as the tests run it:
 * this program links the library's internal archive), with the flusher's
 * cleanings off, so the figure is the pass and not the flusher's
 * once-a-second schedule.  Sync off: the rewritten segments are still
 * fdatasync'ed before each swap, as every pass does.
 */
#include "bench.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "samsa.h"

/* The cleaner's test entry points (store/store.h; libsamsa-internal.a). */
int samsa__compact_run(samsa *s, int64_t *removed);
void samsa__cleaner_background(bool on);

#define SEGMENT (64 << 20)
#define SEGMENT_QUICK                                                          \
    (1 << 20) /* a smoke run's 16 MB still has sealed ones                     \
               */
#define VALUE_LEN 100

typedef struct run {
    samsa *s;
    const char *dir; /* the store's directory  */
    uint64_t bytes;  /* log to write per run   */
} run;

/* Bytes of the .log files in dir; *last the largest base's (the active
 * segment). */
static uint64_t
log_bytes(const char *dir, uint64_t *last)
{
    DIR *d = opendir(dir);
    BENCH_CHECK(d != NULL, "%s: cannot list", dir);
    uint64_t sum = 0;
    char best[64] = "";
    struct dirent *e;
    *last = 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n != 24 || strcmp(e->d_name + 20, ".log") != 0)
            continue;
        char p[8192 + 256];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &st) != 0)
            continue;
        sum += (uint64_t)st.st_size;
        if (strcmp(e->d_name, best) > 0) {
            snprintf(best, sizeof best, "%s", e->d_name);
            *last = (uint64_t)st.st_size;
        }
    }
    closedir(d);
    return sum;
}

static void
compact_run(void *ctx, unsigned runno, double *out)
{
    run *w = ctx;
    char topic[64], dir[8192];
    snprintf(topic, sizeof topic, "c%u", runno);
    snprintf(dir, sizeof dir, "%s/%s-0", w->dir, topic);
    samsa_topic_config cfg = {.segment_bytes =
                                  bench_quick() ? SEGMENT_QUICK : SEGMENT,
                              .cleanup_policy = SAMSA_CLEANUP_COMPACT,
                              .min_cleanable_dirty_ratio = -1};
    BENCH_SAMSA(samsa_topic_create(w->s, topic, &cfg));
    uint64_t per = BENCH_KEY_LEN + VALUE_LEN + 10; /* about, on disk */
    uint64_t n = w->bytes / per, keys = n / 10;
    unsigned char k[BENCH_BATCH][BENCH_KEY_LEN], v[BENCH_BATCH][VALUE_LEN];
    samsa_record r[BENCH_BATCH];
    for (uint64_t i = 0; i < n; i += BENCH_BATCH) {
        for (size_t j = 0; j < BENCH_BATCH; j++) {
            memcpy(k[j], bench_key_template, BENCH_KEY_LEN);
            bench_put_u64(k[j], (i + j) % keys);
            memcpy(v[j], bench_value_template, VALUE_LEN);
            bench_put_u64(v[j], i + j);
            r[j] = (samsa_record){.key = k[j],
                                  .key_len = BENCH_KEY_LEN,
                                  .value = v[j],
                                  .value_len = VALUE_LEN};
        }
        BENCH_SAMSA(samsa_produce(w->s, topic, 0, r, BENCH_BATCH));
    }
    uint64_t active;
    uint64_t before = log_bytes(dir, &active);
    uint64_t t0 = bench_now_ns();
    int64_t removed;
    BENCH_SAMSA(samsa__compact_run(w->s, &removed));
    uint64_t t1 = bench_now_ns();
    uint64_t after = log_bytes(dir, &active);
    BENCH_CHECK(removed > 0, "the pass removed nothing");
    out[0] = (double)(before - active) / 1e6 / ((double)(t1 - t0) / 1e9);
    out[1] = (double)after / (1 << 20);
    BENCH_SAMSA(samsa_topic_delete(w->s, topic));
}

int
main(int argc, char **argv)
{
    bench_init("bench_compact", argc, argv);
    samsa__cleaner_background(false);
    samsa_options opt = {.flags = SAMSA_OPEN_CREATE};
    char dir[4200];
    bench_path(dir, sizeof dir, "store");
    samsa *s;
    BENCH_SAMSA(samsa_open(dir, &opt, &s));
    run w = {.s = s,
             .dir = dir,
             .bytes = bench_quick() ? (uint64_t)16 << 20 : (uint64_t)1 << 30};
    bench_note("bench_compact: one compaction pass over %llu MB of 100 B "
               "values, 10%% of them their key's latest, %d MiB segments\n\n",
               (unsigned long long)(w.bytes >> 20),
               (bench_quick() ? SEGMENT_QUICK : SEGMENT) >> 20);
    bench_fig f = {.system = "samsa",
                   .workload = "compact",
                   .value_len = VALUE_LEN,
                   .unit = "MB/s",
                   .nfigs = 2,
                   .fig = {"compact_pass", "disk_after"},
                   .units = {NULL, "MiB"},
                   .records = w.bytes / (BENCH_KEY_LEN + VALUE_LEN + 10),
                   .durability = "process"};
    bench_figure(&f, compact_run, &w);
    BENCH_SAMSA(samsa_close(s));
    return bench_finish();
}
