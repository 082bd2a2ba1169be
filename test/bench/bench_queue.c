/*
 * bench_queue.c - samsa's queues (share groups) draining a backlog, beside
 * a SQLite table used as a job queue, in one run on one machine.
 *
 *   build/bench/bench_queue [DIR]
 *
 * The stores live in a fresh directory under DIR, or $TMPDIR, or /tmp, and
 * are removed at the end.  Every figure is printed and written to
 * build/bench_queue.csv by bench_figure(): the median (min, max) of the
 * runs after one warm-up run; a run measures both figures of a side, 1
 * and 100 per acknowledgement (queue_ack1, queue_ack100), system samsa or
 * sqlite-wal; with both sides, samsa's figures as ratios to SQLite's.
 * Environment (bench.h): SAMSA_BENCH_QUICK=1 divides the record counts by
 * 10 for a smoke run (3 runs), SAMSA_BENCH_RUNS, SAMSA_BENCH_CSV; and
 * SAMSA_BENCH_ONLY=samsa or =sqlite runs one side.
 *
 * Workloads (no sync anywhere: samsa's journal and logs are written to the
 * page cache; SQLite runs with journal_mode=WAL and synchronous=OFF, so
 * both survive kill -9 and neither a power cut):
 *
 *  1. samsa 1 ack/record: N records of 100 bytes, produced beforehand into
 *     a topic of 4 partitions; 4 receiver threads, each its own receiver in
 *     one share group, loop samsa_queue_receive(max 1) and
 *     samsa_queue_ack(ACCEPT) of that one record until the backlog is
 *     drained.  Each run uses a new share group over the same backlog (a
 *     new group starts at the log start), so runs are alike.
 *  2. samsa 100/ack: the same with receive(max 100) and one ack call for
 *     the batch.
 *  3. SQLite 1/claim: a table jobs(id INTEGER PRIMARY KEY, state INT,
 *     payload BLOB) holding NS rows of 100 bytes; 4 threads, each with its
 *     own connection, claim one job with
 *       UPDATE jobs SET state = 1 WHERE id = (SELECT id FROM jobs WHERE
 *       state = 0 LIMIT 1) RETURNING id, payload
 *     and acknowledge it with DELETE FROM jobs WHERE id = ?, each statement
 *     its own transaction, until the table is empty.
 *  4. SQLite 100/claim: the same with LIMIT 100 and one DELETE transaction
 *     for the 100.
 *  SQLite drains NS = N / 10 rows (it is much slower; the rate is per
 *  record, so the figures compare), with a fresh table each run.
 *
 * Both sides touch every payload byte (a checksum), so neither can skip
 * reading the data.
 */
#include "bench.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "samsa.h"

#define THREADS 4
#define PARTS   4
#define VALUE   100

static long n_samsa = 1000000, n_sqlite = 100000;

/* THREADS threads of worker(job), both sides' drain: its wall time (ns). */
static uint64_t
drain(void *(*worker)(void *), void *job)
{
    pthread_t th[THREADS];
    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < THREADS; i++)
        bench_thread_start(&th[i], worker, job);
    for (int i = 0; i < THREADS; i++)
        bench_thread_join(th[i]);
    return bench_now_ns() - t0;
}

/* ---- samsa ----------------------------------------------------------------
 */

/* The sum of the bytes: both sides fold every payload byte into one. */
static unsigned long
checksum(const void *p, size_t len)
{
    const unsigned char *b = p;
    unsigned long sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += b[i];
    return sum;
}

typedef struct sjob {
    samsa *s;
    char group[32];
    size_t batch;
    _Atomic long done;
    _Atomic unsigned long sum;
} sjob;

static void *
samsa_worker(void *arg)
{
    sjob *j = arg;
    samsa_queue *q;
    BENCH_SAMSA(samsa_queue_open(j->s, j->group, "jobs", NULL, &q));
    samsa_delivery *d = calloc(j->batch, sizeof *d);
    BENCH_CHECK(d != NULL, "out of memory");
    unsigned long sum = 0;
    while (atomic_load(&j->done) < n_samsa) {
        size_t n;
        int rc = samsa_queue_receive(q, d, j->batch, &n, 0);
        if (rc == SAMSA_ETIMEDOUT)
            continue; /* the others hold the last records */
        BENCH_SAMSA(rc);
        for (size_t i = 0; i < n; i++)
            sum += checksum(d[i].msg.value, d[i].msg.value_len);
        BENCH_SAMSA(samsa_queue_ack(q, d, n, SAMSA_ACK_ACCEPT));
        atomic_fetch_add(&j->done, (long)n);
    }
    atomic_fetch_add(&j->sum, sum);
    free(d);
    samsa_queue_close(q);
    return NULL;
}

static double
samsa_run(samsa *s, size_t batch, unsigned run, unsigned long want_sum)
{
    static sjob j;
    memset(&j, 0, sizeof j);
    j.s = s;
    j.batch = batch;
    snprintf(j.group, sizeof j.group, "g%zu-%u", batch, run);
    uint64_t t = drain(samsa_worker, &j);
    BENCH_CHECK(atomic_load(&j.done) == n_samsa &&
                    atomic_load(&j.sum) == want_sum,
                "samsa drained %ld records, checksum %lu, want %ld and %lu",
                (long)atomic_load(&j.done), (unsigned long)atomic_load(&j.sum),
                n_samsa, want_sum);
    return (double)n_samsa * 1e9 / (double)t;
}

/* What a samsa run needs: the store holding the backlog, and its sum. */
typedef struct sside {
    samsa *s;
    unsigned long sum;
} sside;

/* One run: both figures, 1 and 100 records per acknowledgement. */
static void
samsa_both(void *ctx, unsigned run, double *out)
{
    sside *side = ctx;
    out[0] = samsa_run(side->s, 1, run, side->sum);
    out[1] = samsa_run(side->s, 100, run, side->sum);
}

/* A side's two figures; both sides use the same names, so that their
 * CSV rows (and the ratios) pair up. */
#define QUEUE_FIG(sys, dur, n)                                                 \
    {                                                                          \
        .system = (sys), .workload = "queue", .value_len = VALUE,              \
        .unit = "rec/s", .nfigs = 2, .fig = {"queue_ack1", "queue_ack100"},    \
        .records = (uint64_t)(n), .durability = (dur)                          \
    }

static void
bench_samsa(bench_fig *f)
{
    char path[4200];
    bench_path(path, sizeof path, "samsa");
    samsa_options o = {.flags = SAMSA_OPEN_CREATE};
    sside side = {NULL, 0};
    BENCH_SAMSA(samsa_open(path, &o, &side.s));
    samsa_topic_config c = {.partitions = PARTS};
    BENCH_SAMSA(samsa_topic_create(side.s, "jobs", &c));
    samsa_record r[100];
    unsigned char val[100][VALUE];
    for (long i = 0; i < n_samsa; i += 100) {
        for (int k = 0; k < 100; k++) {
            for (int b = 0; b < VALUE; b++)
                side.sum += val[k][b] = (unsigned char)(i + k + b);
            r[k] = (samsa_record){.value = val[k], .value_len = VALUE};
        }
        BENCH_SAMSA(
            samsa_produce(side.s, "jobs", (int32_t)(i / 100 % PARTS), r, 100));
    }
    bench_figure(f, samsa_both, &side);
    samsa_close(side.s);
}

/* ---- SQLite ----------------------------------------------------------------
 */

static void
sq_check(sqlite3 *db, int rc, const char *what)
{
    BENCH_CHECK(rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW,
                "sqlite %s: %s", what, sqlite3_errmsg(db));
}

static sqlite3 *
sq_open(const char *path)
{
    sqlite3 *db;
    sq_check(NULL, sqlite3_open(path, &db), "open");
    sqlite3_busy_timeout(db, 60000);
    sq_check(db,
             sqlite3_exec(db,
                          "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;",
                          NULL, NULL, NULL),
             "pragma");
    return db;
}

typedef struct qjob {
    const char *path;
    int batch;
    _Atomic long done;
    _Atomic unsigned long sum;
} qjob;

static void *
sqlite_worker(void *arg)
{
    qjob *j = arg;
    sqlite3 *db = sq_open(j->path);
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE jobs SET state = 1 WHERE id IN (SELECT id FROM jobs "
             "WHERE state = 0 LIMIT %d) RETURNING id, payload",
             j->batch);
    sqlite3_stmt *claim, *del, *begin, *commit;
    sq_check(db, sqlite3_prepare_v2(db, sql, -1, &claim, NULL), "prepare");
    sq_check(
        db,
        sqlite3_prepare_v2(db, "DELETE FROM jobs WHERE id = ?", -1, &del, NULL),
        "prepare");
    sq_check(db, sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL),
             "prepare");
    sq_check(db, sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL),
             "prepare");
    int64_t ids[100];
    unsigned long sum = 0;
    for (;;) {
        int n = 0, rc;
        while ((rc = sqlite3_step(claim)) == SQLITE_ROW) {
            ids[n++] = sqlite3_column_int64(claim, 0);
            const void *p = sqlite3_column_blob(claim, 1);
            sum += checksum(p, (size_t)sqlite3_column_bytes(claim, 1));
        }
        sq_check(db, rc, "claim");
        sqlite3_reset(claim);
        if (n == 0)
            break;
        if (n > 1) {
            sq_check(db, sqlite3_step(begin), "begin");
            sqlite3_reset(begin);
        }
        for (int i = 0; i < n; i++) {
            sqlite3_bind_int64(del, 1, ids[i]);
            sq_check(db, sqlite3_step(del), "delete");
            sqlite3_reset(del);
        }
        if (n > 1) {
            sq_check(db, sqlite3_step(commit), "commit");
            sqlite3_reset(commit);
        }
        atomic_fetch_add(&j->done, n);
    }
    atomic_fetch_add(&j->sum, sum);
    sqlite3_finalize(claim);
    sqlite3_finalize(del);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_close(db);
    return NULL;
}

static double
sqlite_run(int batch, unsigned run)
{
    char path[4200], name[64];
    snprintf(name, sizeof name, "jobs-%d-%u.db", batch, run);
    bench_path(path, sizeof path, name);
    sqlite3 *db = sq_open(path);
    sq_check(db,
             sqlite3_exec(db,
                          "CREATE TABLE jobs(id INTEGER PRIMARY KEY, state "
                          "INT NOT NULL, payload BLOB NOT NULL);"
                          "CREATE INDEX jobs_state ON jobs(state);"
                          "BEGIN",
                          NULL, NULL, NULL),
             "create");
    sqlite3_stmt *ins;
    sq_check(db,
             sqlite3_prepare_v2(db, "INSERT INTO jobs VALUES (?, 0, ?)", -1,
                                &ins, NULL),
             "prepare");
    unsigned char val[VALUE];
    unsigned long sum = 0;
    for (long i = 0; i < n_sqlite; i++) {
        for (int b = 0; b < VALUE; b++)
            sum += val[b] = (unsigned char)(i + b);
        sqlite3_bind_int64(ins, 1, i + 1);
        sqlite3_bind_blob(ins, 2, val, VALUE, SQLITE_STATIC);
        sq_check(db, sqlite3_step(ins), "insert");
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    sq_check(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
    static qjob j;
    memset(&j, 0, sizeof j);
    j.path = path;
    j.batch = batch;
    uint64_t t = drain(sqlite_worker, &j);
    sqlite3_close(db);
    BENCH_CHECK(atomic_load(&j.done) == n_sqlite && atomic_load(&j.sum) == sum,
                "sqlite drained %ld of %ld, checksum %lu, want %lu",
                (long)atomic_load(&j.done), n_sqlite,
                (unsigned long)atomic_load(&j.sum), sum);
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char file[4300];
        snprintf(file, sizeof file, "%s%s", path, suffix[i]);
        remove(file); /* the work directory goes at exit anyway */
    }
    return (double)n_sqlite * 1e9 / (double)t;
}

/* One run: both figures, 1 and 100 rows per claim. */
static void
sqlite_both(void *ctx, unsigned run, double *out)
{
    (void)ctx;
    out[0] = sqlite_run(1, run);
    out[1] = sqlite_run(100, run);
}

int
main(int argc, char **argv)
{
    bench_init("bench_queue", argc, argv);
    if (bench_quick())
        n_samsa /= 10, n_sqlite /= 10;
    bench_note("bench_queue: %d receiver threads drain %ld records of %d "
               "bytes (SQLite: %ld), no sync\n\n",
               THREADS, n_samsa, VALUE, n_sqlite);
    const char *only = getenv("SAMSA_BENCH_ONLY");
    int with_samsa = only == NULL || strcmp(only, "sqlite") != 0;
    int with_sqlite = only == NULL || strcmp(only, "samsa") != 0;
    bench_fig fs = QUEUE_FIG("samsa", "process", n_samsa);
    bench_fig fq = QUEUE_FIG("sqlite-wal", "process", n_sqlite);
    if (with_samsa)
        bench_samsa(&fs);
    if (with_sqlite)
        bench_figure(&fq, sqlite_both, NULL);
    if (with_samsa && with_sqlite)
        for (unsigned i = 0; i < fs.nfigs; i++)
            bench_ratio(&fs, i, fq.median[i], "sqlite-wal");
    return bench_finish();
}
