/*
 * bench_queue.c - samsa's queues (share groups) draining a backlog, beside
 * a SQLite table used as a job queue, in one run on one machine.
 *
 *   build/bench/bench_queue [DIR]
 *
 * The stores live in a fresh directory under DIR, or $TMPDIR, or /tmp, and
 * are removed at the end.  Every figure is the median of RUNS runs, printed
 * with its min and max.  SAMSA_BENCH_QUICK=1 divides the record counts by
 * 10 for a smoke run; SAMSA_BENCH_ONLY=samsa or =sqlite runs one side.
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
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "samsa.h"

#define THREADS 4
#define PARTS   4
#define VALUE   100
#define RUNS    5

static long n_samsa = 1000000, n_sqlite = 100000;
static char dir[512];

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, int rc)
{
    fprintf(stderr, "bench_queue: %s: %s\n", what, samsa_strerror(rc));
    exit(1);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void
report(const char *name, double *rates)
{
    qsort(rates, RUNS, sizeof *rates, cmp_double);
    printf("%-28s %12.0f records/s  (min %.0f, max %.0f, %d runs)\n", name,
           rates[RUNS / 2], rates[0], rates[RUNS - 1], RUNS);
    fflush(stdout);
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
    int rc = samsa_queue_open(j->s, j->group, "jobs", NULL, &q);
    if (rc != 0)
        die("samsa_queue_open", rc);
    samsa_delivery *d = calloc(j->batch, sizeof *d);
    unsigned long sum = 0;
    while (atomic_load(&j->done) < n_samsa) {
        size_t n;
        rc = samsa_queue_receive(q, d, j->batch, &n, 0);
        if (rc == SAMSA_ETIMEDOUT)
            continue; /* the others hold the last records */
        if (rc != 0)
            die("samsa_queue_receive", rc);
        for (size_t i = 0; i < n; i++)
            sum += checksum(d[i].msg.value, d[i].msg.value_len);
        if ((rc = samsa_queue_ack(q, d, n, SAMSA_ACK_ACCEPT)) != 0)
            die("samsa_queue_ack", rc);
        atomic_fetch_add(&j->done, (long)n);
    }
    atomic_fetch_add(&j->sum, sum);
    free(d);
    samsa_queue_close(q);
    return NULL;
}

static double
samsa_run(samsa *s, size_t batch, int run, unsigned long want_sum)
{
    static sjob j;
    memset(&j, 0, sizeof j);
    j.s = s;
    j.batch = batch;
    snprintf(j.group, sizeof j.group, "g%zu-%d", batch, run);
    pthread_t th[THREADS];
    double t0 = now_s();
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, samsa_worker, &j);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    double t = now_s() - t0;
    if (atomic_load(&j.done) != n_samsa || atomic_load(&j.sum) != want_sum) {
        fprintf(stderr,
                "bench_queue: samsa drained %ld records, checksum "
                "%lu, want %ld and %lu\n",
                atomic_load(&j.done), atomic_load(&j.sum), n_samsa, want_sum);
        exit(1);
    }
    return (double)n_samsa / t;
}

static void
bench_samsa(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/samsa", dir);
    samsa_options o = {.flags = SAMSA_OPEN_CREATE};
    samsa *s;
    int rc = samsa_open(path, &o, &s);
    samsa_topic_config c = {.partitions = PARTS};
    if (rc != 0 || (rc = samsa_topic_create(s, "jobs", &c)) != 0)
        die("setup", rc);
    samsa_record r[100];
    unsigned char val[100][VALUE];
    unsigned long sum = 0;
    for (long i = 0; i < n_samsa; i += 100) {
        for (int k = 0; k < 100; k++) {
            for (int b = 0; b < VALUE; b++)
                sum += val[k][b] = (unsigned char)(i + k + b);
            r[k] = (samsa_record){.value = val[k], .value_len = VALUE};
        }
        if ((rc = samsa_produce(s, "jobs", (int32_t)(i / 100 % PARTS), r,
                                100)) != 0)
            die("samsa_produce", rc);
    }
    double one[RUNS], hundred[RUNS];
    for (int run = 0; run < RUNS; run++) {
        one[run] = samsa_run(s, 1, run, sum);
        hundred[run] = samsa_run(s, 100, run, sum);
    }
    report("samsa queue, 1 ack/record", one);
    report("samsa queue, 1 ack/100", hundred);
    samsa_close(s);
}

/* ---- SQLite ----------------------------------------------------------------
 */

static void
sq_check(sqlite3 *db, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "bench_queue: sqlite %s: %s\n", what,
                sqlite3_errmsg(db));
        exit(1);
    }
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
sqlite_run(int batch, int run)
{
    char path[600];
    snprintf(path, sizeof path, "%s/jobs-%d-%d.db", dir, batch, run);
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
    pthread_t th[THREADS];
    double t0 = now_s();
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, sqlite_worker, &j);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    double t = now_s() - t0;
    sqlite3_close(db);
    if (atomic_load(&j.done) != n_sqlite || atomic_load(&j.sum) != sum) {
        fprintf(stderr, "bench_queue: sqlite drained %ld of %ld\n",
                atomic_load(&j.done), n_sqlite);
        exit(1);
    }
    char rm[2048];
    snprintf(rm, sizeof rm, "rm -f '%s' '%s-wal' '%s-shm'", path, path, path);
    if (system(rm) != 0)
        fprintf(stderr, "bench_queue: could not remove %s\n", path);
    return (double)n_sqlite / t;
}

static void
bench_sqlite(void)
{
    double one[RUNS], hundred[RUNS];
    for (int run = 0; run < RUNS; run++) {
        one[run] = sqlite_run(1, run);
        hundred[run] = sqlite_run(100, run);
    }
    report("SQLite WAL queue, 1/claim", one);
    report("SQLite WAL queue, 100/claim", hundred);
}

int
main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : getenv("TMPDIR");
    if (base == NULL || *base == '\0')
        base = "/tmp";
    snprintf(dir, sizeof dir, "%s/samsa-bench-queue-XXXXXX", base);
    if (mkdtemp(dir) == NULL) {
        perror("bench_queue: mkdtemp");
        return 1;
    }
    const char *quick = getenv("SAMSA_BENCH_QUICK");
    if (quick != NULL && *quick == '1')
        n_samsa /= 10, n_sqlite /= 10;
    printf("bench_queue: %d receiver threads drain %ld records of %d bytes "
           "(SQLite: %ld), no sync; median of %d runs\n",
           THREADS, n_samsa, VALUE, n_sqlite, RUNS);
    const char *only = getenv("SAMSA_BENCH_ONLY");
    if (only == NULL || strcmp(only, "sqlite") != 0)
        bench_samsa();
    if (only == NULL || strcmp(only, "samsa") != 0)
        bench_sqlite();
    char rm[2048];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (system(rm) != 0)
        fprintf(stderr, "bench_queue: could not remove %s\n", dir);
    return 0;
}
