/*
 * bench.c - the helpers every benchmark program shares (see bench.h), and
 * the driver of the standard workloads.
 *
 * The workloads, each at 100-byte and 1 KiB values with 16-byte keys:
 *
 *   produce_1     one thread, one record per produce call;
 *   produce_100   one thread, 100 records per call; the last run's log
 *                 stays for read;
 *   produce_4t    four threads, each into its own partition, one record
 *                 per call (with sync: the threads' syncs may be shared);
 *   read          one consumer reads the backlog produce_100 left, from
 *                 the first record to the last;
 *   lat10k,       one thread produces one record per call at a fixed rate
 *   lat100k       (10,000/s, 100,000/s), another receives them; latency is
 *                 the receive time minus the time just before the produce
 *                 call (carried in the value): p50, p99, p99.9, max of each
 *                 run, and the rate achieved.
 *
 * Every produce run is read back (untimed): each partition must give back
 * exactly the records written, in order, with the checksum of every byte.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "bench.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* ---- errors and clocks ----------------------------------------------------
 */

static const char *prog = "bench";

void
bench_die(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

uint64_t
bench_now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        bench_die("clock_gettime: %s", strerror(errno));
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The last 30 us are spun: a sleep's wake-up is late by tens of us. */
void
bench_wait_until(uint64_t t)
{
    const uint64_t spin_ns = 30000;
    uint64_t now = bench_now_ns();
    if (now + spin_ns < t) {
        uint64_t wake = t - spin_ns;
        struct timespec ts = {(time_t)(wake / 1000000000u),
                              (long)(wake % 1000000000u)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
               EINTR)
            ;
    }
    while (bench_now_ns() < t)
        ;
}

/* ---- records ----------------------------------------------------------------
 */

unsigned char bench_key_template[BENCH_KEY_LEN];
unsigned char bench_value_template[BENCH_MAX_VALUE];

static void
templates_init(void)
{
    for (size_t i = 0; i < BENCH_KEY_LEN; i++)
        bench_key_template[i] = (unsigned char)('A' + i % 26);
    for (size_t i = 0; i < BENCH_MAX_VALUE; i++)
        bench_value_template[i] = (unsigned char)('a' + i % 26);
}

static inline uint64_t
mix(uint64_t h, uint64_t w)
{
    h ^= w;
    h *= 0x9e3779b97f4a7c15u;
    return h ^ (h >> 29);
}

/* Four chains of mix(), each over every fourth word, folded together at
 * the end.  One chain over every word (as this was until 2026-12-05) had
 * a multiply's latency per word, about 25 ns a 100-byte record: as much
 * as reading the record, in samsa's and every peer's read figure alike.
 * Four chains check the same bytes in a quarter of the depth. */
uint64_t
bench_fold(const unsigned char *key, const unsigned char *value,
           size_t value_len)
{
    uint64_t a = mix(0, bench_get_u64(key)), b = mix(1, bench_get_u64(key + 8));
    uint64_t c = 2, d = 3;
    size_t i = 0;
    for (; i + 32 <= value_len; i += 32) {
        a = mix(a, bench_get_u64(value + i));
        b = mix(b, bench_get_u64(value + i + 8));
        c = mix(c, bench_get_u64(value + i + 16));
        d = mix(d, bench_get_u64(value + i + 24));
    }
    if (i < value_len) {
        /* The last 32 bytes, overlapping words already mixed: a record's
         * values are at least that long (shorter ones byte by byte). */
        uint64_t w[4] = {0, 0, 0, 0};
        if (value_len >= 32)
            memcpy(w, value + value_len - 32, 32);
        else
            for (size_t k = 0; k < value_len; k++)
                ((unsigned char *)w)[k] = value[k];
        a = mix(a, w[0]);
        b = mix(b, w[1]);
        c = mix(c, w[2]);
        d = mix(d, w[3]);
    }
    uint64_t h =
        a ^ (b << 16 | b >> 48) ^ (c << 32 | c >> 32) ^ (d << 48 | d >> 16);
    return mix(h, value_len);
}

uint64_t
bench_expected_sum(uint64_t n, size_t value_len)
{
    unsigned char k[BENCH_KEY_LEN], v[BENCH_MAX_VALUE];
    uint64_t sum = 0;
    memcpy(k, bench_key_template, sizeof k);
    memcpy(v, bench_value_template, value_len);
    for (uint64_t i = 0; i < n; i++) {
        bench_put_u64(k, i);
        bench_put_u64(v, i);
        sum += bench_fold(k, v, value_len);
    }
    return sum;
}

/* ---- the work directory
 * -------------------------------------------------------
 */

static char work_dir[4096];

const char *
bench_dir(void)
{
    return work_dir;
}

void
bench_path(char *out, size_t size, const char *name)
{
    int len = snprintf(out, size, "%s/%s", work_dir, name);
    BENCH_CHECK(len >= 0 && (size_t)len < size, "path too long: %s/%s",
                work_dir, name);
}

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        fprintf(stderr, "%s: remove %s: %s\n", prog, path, strerror(errno));
    return 0;
}

void
bench_rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
cleanup(void)
{
    if (work_dir[0] != '\0') {
        bench_rm_tree(work_dir);
        work_dir[0] = '\0';
    }
}

/* ---- CPUs
 * ---------------------------------------------------------------------
 */

int bench_cpu_producer = -1, bench_cpu_consumer = -1;
static cpu_set_t start_cpus;

void
bench_pin(int cpu)
{
    cpu_set_t set;
    int err;
    if (cpu < 0) {
        set = start_cpus;
    } else {
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
    }
    if ((err = pthread_setaffinity_np(pthread_self(), sizeof set, &set)) != 0)
        bench_die("pthread_setaffinity_np: %s", strerror(err));
}

void
bench_thread_start(pthread_t *th, void *(*fn)(void *), void *arg)
{
    int err = pthread_create(th, NULL, fn, arg);
    if (err != 0)
        bench_die("pthread_create: %s", strerror(err));
}

void
bench_thread_join(pthread_t th)
{
    int err = pthread_join(th, NULL);
    if (err != 0)
        bench_die("pthread_join: %s", strerror(err));
}

static void
cpus_init(void)
{
    int err =
        pthread_getaffinity_np(pthread_self(), sizeof start_cpus, &start_cpus);
    if (err != 0)
        bench_die("pthread_getaffinity_np: %s", strerror(err));
    for (int cpu = 0; cpu < CPU_SETSIZE && bench_cpu_consumer < 0; cpu++) {
        if (!CPU_ISSET(cpu, &start_cpus))
            continue;
        if (bench_cpu_producer < 0)
            bench_cpu_producer = cpu;
        else
            bench_cpu_consumer = cpu;
    }
    if (bench_cpu_consumer < 0)
        bench_cpu_producer = -1;
}

/* ---- figures
 * ------------------------------------------------------------------
 */

static FILE *csv;
static char csv_path[4096];
static unsigned runs = 5;
static int quick;

/* Every figure measured so far, for bench_lookup(). */
struct done {
    char system[48], fig[48];
    size_t value_len;
    double median, min, max;
};
static struct done *done;
static size_t ndone, cap_done;

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* "12,345,678" for rates, "12.3" for microseconds. */
static const char *
fmt_value(char *buf, size_t size, double v, const char *unit)
{
    if (strcmp(unit, "rec/s") != 0) {
        snprintf(buf, size, "%.1f", v);
        return buf;
    }
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%.0f", v);
    size_t o = 0;
    for (int i = 0; i < len && o + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

void
bench_figure(bench_fig *f, void (*fn)(void *ctx, unsigned run, double *out),
             void *ctx)
{
    double res[BENCH_MAX_RUNS][BENCH_MAX_FIGS], col[BENCH_MAX_RUNS];

    /* A produce run leaves dirty pages; without sync(2) the next run would
     * be timed while the kernel writes back the one before. */
    sync();
    fn(ctx, 0, res[0]); /* warm-up: not counted */
    for (unsigned r = 0; r < runs; r++) {
        sync();
        fn(ctx, r + 1, res[r]);
    }
    for (unsigned i = 0; i < f->nfigs; i++) {
        char label[128], med[32], lo[32], hi[32];
        const char *unit = f->units[i] != NULL ? f->units[i] : f->unit;
        for (unsigned r = 0; r < runs; r++)
            col[r] = res[r][i];
        qsort(col, runs, sizeof col[0], cmp_double);
        unsigned m = runs / 2;
        f->median[i] = runs % 2 ? col[m] : (col[m - 1] + col[m]) / 2;
        f->min[i] = col[0];
        f->max[i] = col[runs - 1];
        snprintf(label, sizeof label, "%s %s %zuB", f->system, f->fig[i],
                 f->value_len);
        printf("%-36s %13s %-5s (min %s max %s)\n", label,
               fmt_value(med, sizeof med, f->median[i], unit), unit,
               fmt_value(lo, sizeof lo, f->min[i], unit),
               fmt_value(hi, sizeof hi, f->max[i], unit));
        fflush(stdout);
        fprintf(csv, "%s,%s,%s,%zu,%s,%.3f,%.3f,%.3f,%u,%llu\n", f->system,
                f->durability != NULL ? f->durability : "", f->fig[i],
                f->value_len, unit, f->median[i], f->min[i], f->max[i], runs,
                (unsigned long long)f->records);
        fflush(csv);
        if (ndone == cap_done) {
            cap_done = cap_done ? 2 * cap_done : 64;
            done = realloc(done, cap_done * sizeof *done);
            BENCH_CHECK(done != NULL, "out of memory");
        }
        struct done *d = &done[ndone++];
        snprintf(d->system, sizeof d->system, "%s", f->system);
        snprintf(d->fig, sizeof d->fig, "%s", f->fig[i]);
        d->value_len = f->value_len;
        d->median = f->median[i];
        d->min = f->min[i];
        d->max = f->max[i];
    }
}

int
bench_lookup(const char *system, const char *fig, size_t value_len,
             double *median, double *min, double *max)
{
    for (size_t i = 0; i < ndone; i++)
        if (strcmp(done[i].system, system) == 0 &&
            strcmp(done[i].fig, fig) == 0 && done[i].value_len == value_len) {
            *median = done[i].median;
            *min = done[i].min;
            *max = done[i].max;
            return 1;
        }
    return 0;
}

void
bench_ratio(const bench_fig *f, unsigned i, double base, const char *of)
{
    if (base == 0)
        return;
    printf("  %s %s %zuB: x%.2f of %s\n", f->system, f->fig[i], f->value_len,
           f->median[i] / base, of);
    fflush(stdout);
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile p of n sorted samples, in us. */
static double
percentile_us(const uint64_t *sorted, size_t n, double p)
{
    size_t rank = (size_t)(p * (double)n + 0.999999);
    rank = rank < 1 ? 1 : rank > n ? n : rank;
    return (double)sorted[rank - 1] / 1000.0;
}

void
bench_percentiles(uint64_t *ns, size_t n, double *out)
{
    qsort(ns, n, sizeof *ns, cmp_u64);
    out[0] = percentile_us(ns, n, 0.50);
    out[1] = percentile_us(ns, n, 0.99);
    out[2] = percentile_us(ns, n, 0.999);
    out[3] = (double)ns[n - 1] / 1000.0;
}

/* ---- the program
 * ------------------------------------------------------------------
 */

static void
print_machine(void)
{
    char model[256] = "unknown", line[512], date[64];
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f != NULL) {
        while (fgets(line, sizeof line, f) != NULL) {
            char *colon = strchr(line, ':');
            if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
                colon += 1 + strspn(colon + 1, " \t");
                colon[strcspn(colon, "\n")] = '\0';
                snprintf(model, sizeof model, "%s", colon);
                break;
            }
        }
        fclose(f);
    }
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", &tm);
    struct utsname u;
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) < 0)
        load[0] = -1;
    printf("machine: %ld online cores, CPU %s, %s %s; load %.2f\n",
           sysconf(_SC_NPROCESSORS_ONLN), model, u.sysname, u.release, load[0]);
    printf("date:    %s; %u runs per figure after 1 warm-up%s\n", date, runs,
           quick ? " (quick)" : "");
    printf("store:   %s\n", work_dir);
    if (bench_cpu_producer >= 0)
        printf("latency threads of in-process systems pinned to CPUs %d "
               "and %d\n",
               bench_cpu_producer, bench_cpu_consumer);
    printf("\n");
    fflush(stdout);
}

void
bench_init(const char *name, int argc, char **argv)
{
    const char *q = getenv("SAMSA_BENCH_QUICK");
    const char *r = getenv("SAMSA_BENCH_RUNS");
    const char *c = getenv("SAMSA_BENCH_CSV");
    const char *base = argc > 1 ? argv[1] : getenv("TMPDIR");

    prog = name;
    if (argc > 2)
        bench_die("usage: %s [DIR]", argv[0]);
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    quick = q != NULL && q[0] != '\0' && strcmp(q, "0") != 0;
    runs = quick ? 3 : 5;
    if (r != NULL && r[0] != '\0') {
        runs = (unsigned)atoi(r);
        BENCH_CHECK(runs >= 1 && runs <= BENCH_MAX_RUNS,
                    "SAMSA_BENCH_RUNS must be 1..%d", BENCH_MAX_RUNS);
    }
    if (c != NULL && c[0] != '\0')
        snprintf(csv_path, sizeof csv_path, "%s", c);
    else
        snprintf(csv_path, sizeof csv_path, "build/%s.csv", name);
    csv = fopen(csv_path, "w");
    BENCH_CHECK(csv != NULL, "cannot write %s: %s", csv_path, strerror(errno));
    fprintf(csv, "system,durability,workload,value_bytes,unit,median,min,max,"
                 "runs,records\n");

    int len =
        snprintf(work_dir, sizeof work_dir, "%s/samsa-bench-XXXXXX", base);
    BENCH_CHECK(len >= 0 && (size_t)len < sizeof work_dir,
                "directory name too long: %s", base);
    if (mkdtemp(work_dir) == NULL) {
        int e = errno;
        work_dir[0] = '\0';
        bench_die("mkdtemp under %s: %s", base, strerror(e));
    }
    atexit(cleanup);
    templates_init();
    cpus_init();
    print_machine();
}

int
bench_quick(void)
{
    return quick;
}

unsigned
bench_runs(void)
{
    return runs;
}

void
bench_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

int
bench_finish(void)
{
    BENCH_CHECK(fclose(csv) == 0, "writing %s: %s", csv_path, strerror(errno));
    csv = NULL;
    printf("\nCSV: %s\n", csv_path);
    free(done);
    return 0;
}
