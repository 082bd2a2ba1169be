/*
 * bench_compress.c - what compression costs and saves.
 *
 *   build/bench/bench_compress [DIR]
 *
 * For each codec (none, lz4, zstd, and gzip and snappy for reference) and
 * value size (100 B and 1 KiB), one thread produces n records in calls of
 * 100 (one batch each) into one partition, then reads them back with a
 * cursor.  Figures (bench_figure(): median of the runs after a warm-up,
 * min, max): produce_100 and read (records/s), and disk (bytes of record
 * batches per record, as samsa_stats_partitions() counts them).
 *
 * The values are not random bytes (which no codec shrinks, and which the
 * producer then stores uncompressed): each is text-like, a run of words
 * from a small vocabulary with a number in it, as logs and JSON events
 * are; 4096 of them are made before the timing and used in turn.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>

#include "samsa.h"

#define POOL 4096 /* distinct values, made before the timing */

typedef struct run {
    samsa *s;
    int codec;        /* a samsa_compression   */
    size_t value_len; /* 100 or 1024           */
    uint64_t n;       /* records               */
} run;

/* A text-like value for record i. */
static void
make_value(unsigned char *v, size_t len, uint64_t i)
{
    static const char *const words[] = {
        "user",  "clicked", "order",  "shipped", "id",    "status", "ok",
        "error", "retry",   "region", "eu-west", "items", "price",  "true"};
    size_t at =
        (size_t)snprintf((char *)v, len, "{\"n\":%llu,", (unsigned long long)i);
    for (uint64_t k = i; at < len; k = k * 6364136223846793005ull + 1) {
        const char *w = words[(k >> 33) % 14];
        size_t wl = strlen(w);
        for (size_t j = 0; j < wl && at < len; j++)
            v[at++] = (unsigned char)w[j];
        if (at < len)
            v[at++] = ' ';
    }
}

static int
batch_bytes(const samsa_partition_stats *p, void *ctx)
{
    *(uint64_t *)ctx = p->bytes;
    return 0;
}

static void
run_once(void *ctx, unsigned runno, double *out)
{
    run *w = ctx;
    char topic[64];
    snprintf(topic, sizeof topic, "c%u-%d-%zu", runno, w->codec, w->value_len);
    samsa_topic_config cfg = {.compression = w->codec};
    BENCH_SAMSA(samsa_topic_create(w->s, topic, &cfg));
    static unsigned char vals[POOL][1024];
    for (uint64_t i = 0; i < POOL; i++)
        make_value(vals[i], w->value_len, i * 7919);
    samsa_record r[BENCH_BATCH];
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < w->n; i += BENCH_BATCH) {
        for (size_t k = 0; k < BENCH_BATCH; k++)
            r[k] = (samsa_record){.key = bench_key_template,
                                  .key_len = BENCH_KEY_LEN,
                                  .value = vals[(i + k) % POOL],
                                  .value_len = w->value_len};
        BENCH_SAMSA(samsa_produce(w->s, topic, 0, r, BENCH_BATCH));
    }
    uint64_t t1 = bench_now_ns();
    samsa_cursor *c;
    samsa_message m;
    uint64_t sum = 0;
    BENCH_SAMSA(samsa_cursor_open(w->s, topic, 0, 0, &c));
    for (uint64_t i = 0; i < w->n; i++) {
        BENCH_SAMSA(samsa_cursor_next(c, &m, 0));
        sum += ((const unsigned char *)m.value)[m.value_len - 1];
    }
    uint64_t t2 = bench_now_ns();
    BENCH_SAMSA(samsa_cursor_close(c));
    BENCH_CHECK(sum > 0, "nothing read");
    uint64_t bytes = 0;
    BENCH_SAMSA(samsa_stats_partitions(w->s, topic, batch_bytes, &bytes));
    out[0] = (double)w->n / ((double)(t1 - t0) / 1e9);
    out[1] = (double)w->n / ((double)(t2 - t1) / 1e9);
    out[2] = (double)bytes / (double)w->n;
    BENCH_SAMSA(samsa_topic_delete(w->s, topic));
}

int
main(int argc, char **argv)
{
    bench_init("bench_compress", argc, argv);
    char dir[4200];
    bench_path(dir, sizeof dir, "store");
    samsa_options opt = {.flags = SAMSA_OPEN_CREATE};
    samsa *s;
    BENCH_SAMSA(samsa_open(dir, &opt, &s));
    bench_note("bench_compress: produce_100 then a cursor read, text-like "
               "values, each codec at its default level\n\n");
    static const struct {
        int codec;
        const char *name;
    } codecs[] = {{SAMSA_COMPRESSION_NONE, "samsa"},
                  {SAMSA_COMPRESSION_LZ4, "samsa-lz4"},
                  {SAMSA_COMPRESSION_ZSTD, "samsa-zstd"},
                  {SAMSA_COMPRESSION_SNAPPY, "samsa-snappy"},
                  {SAMSA_COMPRESSION_GZIP, "samsa-gzip"}};
    for (size_t vl = 100; vl <= 1024; vl = vl == 100 ? 1024 : 2048)
        for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++) {
            uint64_t n = (bench_quick() ? 200000 : 2000000) / (vl / 100);
            run w = {.s = s, .codec = codecs[i].codec, .value_len = vl, .n = n};
            bench_fig f = {.system = codecs[i].name,
                           .workload = "compress",
                           .value_len = vl,
                           .unit = "rec/s",
                           .nfigs = 3,
                           .fig = {"produce_100", "read", "disk"},
                           .units = {NULL, NULL, "B/rec"},
                           .records = n,
                           .durability = "process"};
            bench_figure(&f, run_once, &w);
        }
    BENCH_SAMSA(samsa_close(s));
    return bench_finish();
}
