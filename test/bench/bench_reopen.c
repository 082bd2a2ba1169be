/*
 * bench_reopen.c - what reopening a store costs after its writer was killed
 * with SIGKILL: the time samsa_open() takes and the memory it leaves
 * mapped (issue 12: a 10 GB, 16-partition store reopens in under 1 s with
 * RSS under 100 MB).
 *
 *   build/bench/bench_reopen [-b SIZE] [-p PARTITIONS] [DIR]
 *
 * SIZE is the store's size in bytes, with an optional K, M or G suffix
 * (default 10G); PARTITIONS its partitions (default 16).  The store lives
 * in a fresh directory under DIR, $TMPDIR or /tmp, removed at the end.
 * When the file system there has less free space than the store needs
 * (SIZE plus a tenth), SIZE is scaled down to fit, with a message.
 *
 * A writer child creates one topic with the default config (1 GiB
 * segments, so a partition of up to 1 GiB is one active segment: the case
 * recovery used to scan whole), produces SIZE bytes of records (16-byte
 * keys, 1 KiB values, 100 per call, partitions in turn) without sync, and
 * is killed with SIGKILL by this program.  Each run then reopens the store
 * in a fresh child process, which measures samsa_open() and reads its own
 * VmHWM and VmRSS (/proc/self/status) after it, reports them, and kills
 * itself (no samsa_close(): every run finds the store as the kill left it,
 * page cache warm, as after a real crash of a running application).
 * Finally the store is opened once more and every partition must end at
 * exactly the offset the writer reached.
 *
 * Figures (median, min, max of SAMSA_BENCH_RUNS runs after a warm-up; one
 * line and a CSV row each, build/bench_reopen.csv): reopen_ms, hwm_mb and
 * rss_mb.  Before issue 12 the same store took 9 s and its RSS after the
 * reopen was the bytes the scan read (the whole active segments).
 */
#include "bench.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <samsa.h>

#define TOPIC     "reopen"
#define VALUE_LEN 1024

static uint64_t store_bytes = 10ull << 30;
static int partitions = 16;
static char store_dir[4096];

/* "123", "64K", "200M", "10G" in bytes, or 0 when it is not one. */
static uint64_t
parse_size(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    int shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
    if (shift != 0)
        end++;
    return *end == '\0' && v > 0 ? (uint64_t)v << shift : 0;
}

/* Scale store_bytes down to the space free under the work directory. */
static void
fit_disk(void)
{
    struct statvfs vfs;
    BENCH_CHECK(statvfs(bench_dir(), &vfs) == 0, "statvfs %s", bench_dir());
    uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    /* The records, their batch and index overhead, each partition's
     * preallocated tail, and room left for everyone else. */
    uint64_t over = (uint64_t)partitions * (8u << 20) + (256u << 20);
    uint64_t need = store_bytes + store_bytes / 10 + over;
    if (need <= avail)
        return;
    BENCH_CHECK(avail > over + (64u << 20),
                "only %llu MB free under %s: not enough for a store",
                (unsigned long long)(avail >> 20), bench_dir());
    uint64_t fit = (avail - over) / 11 * 10;
    bench_note("only %llu MB free under %s: the store is scaled down from "
               "%llu MB to %llu MB\n",
               (unsigned long long)(avail >> 20), bench_dir(),
               (unsigned long long)(store_bytes >> 20),
               (unsigned long long)(fit >> 20));
    store_bytes = fit;
}

/* The writer: SIZE bytes of records, then it tells the parent how far each
 * partition got (through fd) and waits to be killed. */
static void
writer(int fd)
{
    samsa_options o = {.flags = SAMSA_OPEN_CREATE};
    samsa *s;
    BENCH_SAMSA(samsa_open(store_dir, &o, &s));
    samsa_topic_config cfg = {.partitions = partitions};
    BENCH_SAMSA(samsa_topic_create(s, TOPIC, &cfg));
    samsa_record recs[BENCH_BATCH];
    unsigned char keys[BENCH_BATCH][BENCH_KEY_LEN];
    int64_t *ends = calloc((size_t)partitions, sizeof *ends);
    BENCH_CHECK(ends != NULL, "out of memory");
    uint64_t seq = 0, per_call = BENCH_BATCH * (BENCH_KEY_LEN + VALUE_LEN);
    for (uint64_t done = 0; done < store_bytes; done += per_call) {
        for (int i = 0; i < BENCH_BATCH; i++, seq++) {
            memcpy(keys[i], bench_key_template, BENCH_KEY_LEN);
            bench_put_u64(keys[i], seq);
            recs[i] = (samsa_record){.key = keys[i],
                                     .key_len = BENCH_KEY_LEN,
                                     .value = bench_value_template,
                                     .value_len = VALUE_LEN};
        }
        int p = (int)(done / per_call % (uint64_t)partitions);
        BENCH_SAMSA(samsa_produce(s, TOPIC, p, recs, BENCH_BATCH));
        ends[p] = recs[BENCH_BATCH - 1].offset + 1;
    }
    size_t len = (size_t)partitions * sizeof *ends;
    BENCH_CHECK(write(fd, ends, len) == (ssize_t)len, "pipe write");
    for (;;)
        pause(); /* the parent kills us: no samsa_close() */
}

/* kB of a "Name:   123 kB" line of /proc/self/status. */
static double
status_kb(const char *name)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    size_t n = strlen(name);
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, name, n) == 0 && line[n] == ':')
            kb = atof(line + n + 1);
    if (f != NULL)
        fclose(f);
    BENCH_CHECK(kb >= 0, "no %s in /proc/self/status", name);
    return kb;
}

/* One run: a fresh process opens the store; ms, VmHWM MB, VmRSS MB. */
static void
reopen_once(void *ctx, unsigned run, double *out)
{
    (void)ctx;
    (void)run;
    int fds[2];
    BENCH_CHECK(pipe(fds) == 0, "pipe");
    pid_t pid = fork();
    BENCH_CHECK(pid >= 0, "fork");
    if (pid == 0) {
        samsa *s;
        double r[3];
        close(fds[0]);
        uint64_t t0 = bench_now_ns();
        BENCH_SAMSA(samsa_open(store_dir, NULL, &s));
        r[0] = (double)(bench_now_ns() - t0) / 1e6;
        r[1] = status_kb("VmHWM") / 1024;
        r[2] = status_kb("VmRSS") / 1024;
        BENCH_CHECK(write(fds[1], r, sizeof r) == sizeof r, "pipe write");
        kill(getpid(), SIGKILL); /* the store stays as the crash left it */
        _exit(1);
    }
    close(fds[1]);
    ssize_t n = read(fds[0], out, 3 * sizeof *out);
    close(fds[0]);
    int st;
    BENCH_CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    BENCH_CHECK(n == 3 * sizeof *out && WIFSIGNALED(st) &&
                    WTERMSIG(st) == SIGKILL,
                "the reopening child failed (status %d)", st);
}

int
main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "b:p:")) != -1) {
        if (opt == 'b')
            store_bytes = parse_size(optarg);
        else if (opt == 'p')
            partitions = atoi(optarg);
        BENCH_CHECK(opt != '?' && store_bytes > 0 && partitions >= 1 &&
                        partitions <= 4096,
                    "usage: %s [-b SIZE[K|M|G]] [-p PARTITIONS] [DIR]",
                    argv[0]);
    }
    char *rest[2] = {argv[0], optind < argc ? argv[optind] : NULL};
    BENCH_CHECK(argc - optind <= 1, "usage: %s [-b SIZE] [-p PARTS] [DIR]",
                argv[0]);
    bench_init("bench_reopen", optind < argc ? 2 : 1, rest);
    bench_path(store_dir, sizeof store_dir, "store");
    fit_disk();
    bench_note("samsa %s; %llu MB in %d partitions, 1 KiB values, killed "
               "with SIGKILL, then reopened\n\n",
               samsa_version_string(), (unsigned long long)(store_bytes >> 20),
               partitions);

    int fds[2];
    BENCH_CHECK(pipe(fds) == 0, "pipe");
    uint64_t t0 = bench_now_ns();
    pid_t pid = fork();
    BENCH_CHECK(pid >= 0, "fork");
    if (pid == 0) {
        close(fds[0]);
        writer(fds[1]);
    }
    close(fds[1]);
    int64_t *ends = calloc((size_t)partitions, sizeof *ends);
    BENCH_CHECK(ends != NULL, "out of memory");
    size_t len = (size_t)partitions * sizeof *ends;
    ssize_t n = read(fds[0], ends, len);
    close(fds[0]);
    kill(pid, SIGKILL);
    int st;
    BENCH_CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    BENCH_CHECK(n == (ssize_t)len, "the writer failed (status %d)", st);
    uint64_t records = 0;
    for (int p = 0; p < partitions; p++)
        records += (uint64_t)ends[p];
    bench_note("writing %llu records took %.1f s\n",
               (unsigned long long)records,
               (double)(bench_now_ns() - t0) / 1e9);

    bench_fig f = {.system = "samsa",
                   .workload = "reopen_after_kill",
                   .value_len = VALUE_LEN,
                   .unit = "ms",
                   .nfigs = 3,
                   .fig = {"reopen_ms", "hwm_mb", "rss_mb"},
                   .units = {"ms", "MB", "MB"},
                   .records = records,
                   .durability = "process"};
    bench_figure(&f, reopen_once, NULL);

    /* Nothing lost, nothing invented: every partition ends where the
     * writer got to. */
    samsa *s;
    BENCH_SAMSA(samsa_open(store_dir, NULL, &s));
    for (int p = 0; p < partitions; p++) {
        int64_t first, end;
        BENCH_SAMSA(samsa_offsets(s, TOPIC, p, &first, &end));
        BENCH_CHECK(first == 0 && end == ends[p],
                    "partition %d: end %lld after the reopen, %lld written", p,
                    (long long)end, (long long)ends[p]);
    }
    BENCH_SAMSA(samsa_close(s));
    free(ends);
    bench_note("every partition ends where the writer got to; before issue "
               "12, 10 GB in 16 partitions reopened in 9 s with RSS = the "
               "bytes scanned\n");
    return bench_finish();
}
