/*
 * check_producer.c - the asynchronous producer: every record reported
 * exactly once, dense and in order per partition, the right bytes stored;
 * reports at close; a full buffer; retries of passing errors; kill -9
 * losing nothing reported stored.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/produce.h"
#include "faultio.h"
#include "test.h"

int samsa__open_io(const char *dir, const samsa_options *opt, samsa_io *io,
                   samsa **out);
void samsa__replica_pause(samsa *s, bool paused);

/* Million records in the plain build; the sanitizer builds (SAMSA_DEBUG)
 * run a tenth, as slow as they are. */
#ifdef SAMSA_DEBUG
#define MANY 100000
#else
#define MANY 1000000
#endif

/* What the delivery callback saw, by opaque (the record's number). */
typedef struct seen {
    samsa_producer *p;    /* to try flush/close from the callback  */
    int64_t *offset;      /* per record: its offset, -2 not yet    */
    int32_t *partition;   /* per record: its partition             */
    int *error;           /* per record: its error                 */
    size_t n;             /* records                               */
    _Atomic size_t calls; /* reports, all told                     */
    int64_t last[8];      /* per partition: the last offset seen   */
    bool out_of_order;    /* an offset not one past the last       */
    int64_t last_i[8];    /* per partition: the last record reported */
    bool back;            /* a record reported after a later one of its
                             partition (one sending thread: out of
                             send order)                            */
    size_t wrong;         /* reports that make no sense: a record
                             unknown, reported twice, or a call mixing
                             partitions (counted: ck_assert in a loop
                             of a million costs a write() each)      */
    int reentry_rc[2];    /* flush and close from the callback     */
} seen;

static void
seen_init(seen *v, size_t n)
{
    memset(v, 0, sizeof *v);
    v->n = n;
    v->offset = malloc(n * sizeof *v->offset);
    v->partition = malloc(n * sizeof *v->partition);
    v->error = calloc(n, sizeof *v->error);
    ck_assert(v->offset && v->partition && v->error);
    for (size_t i = 0; i < n; i++)
        v->offset[i] = -2;
    for (int p = 0; p < 8; p++)
        v->last[p] = v->last_i[p] = -1;
}

static void
seen_free(seen *v)
{
    free(v->offset);
    free(v->partition);
    free(v->error);
}

static void
on_delivery(const samsa_delivery_report *r, size_t n, void *ctx)
{
    seen *v = ctx;
    for (size_t k = 0; k < n; k++) {
        size_t i = (size_t)(uintptr_t)r[k].opaque;
        if (i >= v->n || v->offset[i] != -2 ||
            r[k].partition != r[0].partition) {
            v->wrong++;
            continue;
        }
        v->offset[i] = r[k].offset;
        v->partition[i] = r[k].partition;
        v->error[i] = r[k].error;
        if (r[k].partition >= 0 && r[k].partition < 8) {
            v->back |= (int64_t)i < v->last_i[r[k].partition];
            v->last_i[r[k].partition] = (int64_t)i;
        }
        if (r[k].error == 0) {
            if (r[k].offset != v->last[r[k].partition] + 1)
                v->out_of_order = true;
            v->last[r[k].partition] = r[k].offset;
        }
    }
    if (v->p != NULL) {
        v->reentry_rc[0] = samsa_producer_flush(v->p, 0);
        v->reentry_rc[1] = samsa_producer_close(v->p);
    }
    atomic_fetch_add(&v->calls, n);
}

/* A producer on s that holds every record until a flush (linger_ms far
 * off), its reports of n records in v. */
static samsa_producer *
held_producer(samsa *s, seen *v, size_t n)
{
    seen_init(v, n);
    samsa_producer_config pc = {
        .linger_ms = 600000, .on_delivery = on_delivery, .ctx = v};
    samsa_producer *p;
    E(samsa_producer_open(s, &pc, &p));
    return p;
}

/* Record i: key "k<i % 97>" for odd i, none for even; value "v<i>". */
static void
rec_make(samsa_record *r, char *key, char *val, size_t i)
{
    memset(r, 0, sizeof *r);
    if (i % 2 == 1) {
        snprintf(key, 16, "k%zu", i % 97);
        r->key = key;
        r->key_len = strlen(key);
    }
    snprintf(val, 32, "v%zu", i);
    r->value = val;
    r->value_len = strlen(val);
    r->timestamp = 1000 + (int64_t)i;
}

/* Every record of v stored where its report says, with its bytes. */
static void
check_stored(samsa *s, const char *tname, const seen *v)
{
    ck_assert_uint_eq(v->wrong, 0);
    for (int32_t p = 0; p < 4; p++) {
        samsa_cursor *c;
        if (samsa_cursor_open(s, tname, p, SAMSA_OFFSET_BEGINNING, &c) != 0)
            continue;
        samsa_message m;
        int64_t count = 0, bad = 0;
        while (samsa_cursor_next(c, &m, 0) == 0) {
            size_t i = (size_t)strtoull((const char *)m.value + 1, NULL, 10);
            bad += i >= v->n || v->offset[i] != m.offset ||
                   v->partition[i] != p || m.timestamp != 1000 + (int64_t)i ||
                   (m.key != NULL) != (i % 2 == 1);
            count++;
        }
        E(samsa_cursor_close(c));
        ck_assert_int_eq(bad, 0);
        ck_assert_int_eq(count, v->last[p] + 1);
    }
}

START_TEST(test_producer_many)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config tc = {.partitions = 4};
    E(samsa_topic_create(s, "t", &tc));
    seen v;
    seen_init(&v, MANY);
    samsa_producer_config pc = {.on_delivery = on_delivery, .ctx = &v};
    samsa_producer *p;
    E(samsa_producer_open(s, &pc, &p));
    char key[16], val[32];
    samsa_record r;
    int rc = 0;
    for (size_t i = 0; i < MANY && rc == 0; i++) {
        rec_make(&r, key, val, i);
        /* every tenth to an explicit partition */
        int32_t part =
            i % 10 == 0 ? (int32_t)(i / 10 % 4) : SAMSA_PARTITION_ANY;
        rc = samsa_producer_send(p, "t", part, &r, (void *)(uintptr_t)i, -1);
    }
    E(rc);
    E(samsa_producer_flush(p, -1));
    ck_assert_uint_eq(atomic_load(&v.calls), MANY);
    ck_assert(!v.out_of_order);
    size_t total = 0, bad = 0;
    for (size_t i = 0; i < MANY; i++) {
        bad += v.error[i] != 0;
        if (i % 10 == 0)
            bad += v.partition[i] != (int32_t)(i / 10 % 4);
        else if (i % 2 == 1) {
            snprintf(key, sizeof key, "k%zu", i % 97);
            bad +=
                v.partition[i] != samsa_partition_for_key(key, strlen(key), 4);
        }
    }
    ck_assert_uint_eq(bad, 0);
    for (int part = 0; part < 4; part++)
        total += (size_t)(v.last[part] + 1);
    ck_assert_uint_eq(total, MANY);
    E(samsa_producer_close(p));
    check_stored(s, "t", &v);
    seen_free(&v);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* Records held for a long linger are stored and reported at close; after
 * a topic is deleted, its held records are reported with the error. */
START_TEST(test_producer_close_reports)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config tc = {.partitions = 2};
    E(samsa_topic_create(s, "t", &tc));
    E(samsa_topic_create(s, "gone", NULL));
    seen v;
    samsa_producer *p = held_producer(s, &v, 300);
    char key[16], val[32];
    samsa_record r;
    for (size_t i = 0; i < 300; i++) {
        rec_make(&r, key, val, i);
        E(samsa_producer_send(p, i < 200 ? "t" : "gone", SAMSA_PARTITION_ANY,
                              &r, (void *)(uintptr_t)i, 0));
    }
    ck_assert_uint_eq(atomic_load(&v.calls), 0); /* all held, lingering */
    E(samsa_topic_delete(s, "gone"));
    E(samsa_producer_close(p));
    ck_assert_uint_eq(atomic_load(&v.calls), 300);
    for (size_t i = 0; i < 300; i++)
        if (i < 200)
            ck_assert_int_eq(v.error[i], 0);
        else {
            ck_assert_int_eq(v.error[i], SAMSA_ENOTOPIC);
            ck_assert_int_eq(v.offset[i], -1);
        }
    check_stored(s, "t", &v);
    seen_free(&v);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A full buffer: SAMSA_EQUEUEFULL at once with timeout 0; a wait makes
 * the producer store what it holds, which makes room. */
START_TEST(test_producer_full)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "t", NULL));
    seen v;
    seen_init(&v, 1000);
    samsa_producer_config pc = {.linger_ms = 600000,
                                .buffer_bytes = 4096,
                                .on_delivery = on_delivery,
                                .ctx = &v};
    samsa_producer *p;
    E(samsa_producer_open(s, &pc, &p));
    char key[16], val[32];
    samsa_record r;
    size_t i = 0, accepted = 0;
    int rc = 0;
    for (; i < 1000 && rc == 0; i++) {
        rec_make(&r, key, val, i);
        rc = samsa_producer_send(p, "t", 0, &r, (void *)(uintptr_t)i, 0);
        accepted += rc == 0;
    }
    EQ_RC(rc, SAMSA_EQUEUEFULL);
    ck_assert_uint_gt(accepted, 10);
    ck_assert_uint_lt(accepted, 1000);
    ck_assert_uint_eq(atomic_load(&v.calls), 0);
    /* the refused record i-1 is sent again, waiting for room */
    i--;
    rec_make(&r, key, val, i);
    E(samsa_producer_send(p, "t", 0, &r, (void *)(uintptr_t)i, -1));
    accepted++;
    E(samsa_producer_flush(p, -1));
    ck_assert_uint_eq(atomic_load(&v.calls), accepted);
    ck_assert(!v.out_of_order);
    ck_assert_int_eq(v.last[0], (int64_t)accepted - 1);
    /* a record larger than the whole buffer can never fit */
    static char big[8192];
    samsa_record b = {.value = big, .value_len = sizeof big};
    EQ_RC(samsa_producer_send(p, "t", 0, &b, NULL, -1), SAMSA_ETOOBIG);
    E(samsa_producer_close(p));
    seen_free(&v);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A delivery callback that sends more: into a full buffer it gets
 * SAMSA_EQUEUEFULL at once even with timeout -1 (waiting would be waiting
 * for itself), and what it sent is reported too. */
typedef struct resend {
    samsa_producer *p;
    _Atomic int reports;
    int sent, full;
    bool done;
} resend;

static void
on_delivery_resend(const samsa_delivery_report *r, size_t n, void *ctx)
{
    resend *x = ctx;
    (void)r;
    atomic_fetch_add(&x->reports, (int)n);
    if (x->done)
        return;
    x->done = true;
    static char val[200];
    samsa_record rec = {.value = val, .value_len = sizeof val};
    for (int i = 0; i < 100; i++) {
        int rc = samsa_producer_send(x->p, "t", 0, &rec, NULL, -1);
        x->sent += rc == 0;
        x->full += rc == SAMSA_EQUEUEFULL;
    }
}

START_TEST(test_producer_callback_sends)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "t", NULL));
    resend x = {0};
    samsa_producer_config pc = {.linger_ms = 600000,
                                .buffer_bytes = 4096,
                                .on_delivery = on_delivery_resend,
                                .ctx = &x};
    E(samsa_producer_open(s, &pc, &x.p));
    samsa_record r = {.value = "x", .value_len = 1};
    E(samsa_producer_send(x.p, "t", 0, &r, NULL, 0));
    E(samsa_producer_flush(x.p, -1));
    ck_assert(x.done);
    ck_assert_int_gt(x.sent, 0);
    ck_assert_int_gt(x.full, 0);
    ck_assert_int_eq(x.sent + x.full, 100);
    E(samsa_producer_close(x.p));
    ck_assert_int_eq(atomic_load(&x.reports), 1 + x.sent);
    int64_t end;
    E(samsa_offsets(s, "t", 0, NULL, &end));
    ck_assert_int_eq(end, 1 + x.sent);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_producer_bad_calls)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config tc = {.partitions = 2, .max_message_bytes = 1024};
    E(samsa_topic_create(s, "t", &tc));
    samsa_producer *p;
    samsa_producer_config bad = {.reserved = {1}};
    EQ_RC(samsa_producer_open(s, &bad, &p), SAMSA_EINVAL);
    bad = (samsa_producer_config){.linger_ms = -2};
    EQ_RC(samsa_producer_open(s, &bad, &p), SAMSA_EINVAL);
    EQ_RC(samsa_producer_open(NULL, NULL, &p), SAMSA_EINVAL);
    EQ_RC(samsa_producer_open(s, NULL, NULL), SAMSA_EINVAL);
    seen v;
    seen_init(&v, 4);
    v.p = NULL;
    samsa_producer_config pc = {
        .linger_ms = -1, .on_delivery = on_delivery, .ctx = &v};
    E(samsa_producer_open(s, &pc, &p));
    samsa_record r = {.value = "x", .value_len = 1};
    EQ_RC(samsa_producer_send(p, "nope", 0, &r, NULL, 0), SAMSA_ENOTOPIC);
    EQ_RC(samsa_producer_send(p, "bad/name", 0, &r, NULL, 0), SAMSA_EINVAL);
    EQ_RC(samsa_producer_send(p, "t", 2, &r, NULL, 0), SAMSA_ENOPARTITION);
    EQ_RC(samsa_producer_send(p, "t", -5, &r, NULL, 0), SAMSA_EINVAL);
    EQ_RC(samsa_producer_send(p, "t", 0, NULL, NULL, 0), SAMSA_EINVAL);
    EQ_RC(samsa_producer_send(NULL, "t", 0, &r, NULL, 0), SAMSA_EINVAL);
    EQ_RC(samsa_producer_send(p, "t", 0, &r, NULL, -2), SAMSA_EINVAL);
    samsa_record nullval = {.value = NULL, .value_len = 3};
    EQ_RC(samsa_producer_send(p, "t", 0, &nullval, NULL, 0), SAMSA_EINVAL);
    static char big[2048];
    samsa_record b = {.value = big, .value_len = sizeof big};
    EQ_RC(samsa_producer_send(p, "t", 0, &b, NULL, 0), SAMSA_ETOOBIG);
    EQ_RC(samsa_producer_flush(NULL, 0), SAMSA_EINVAL);
    /* A topic grown since the producer first saw it: a send to a new
     * partition looks again (regression: it got SAMSA_ENOPARTITION). */
    E(samsa_topic_add_partitions(s, "t", 3));
    samsa_record g = {.value = "g", .value_len = 1, .timestamp = 5};
    E(samsa_producer_send(p, "t", 2, &g, (void *)(uintptr_t)1, 0));
    EQ_RC(samsa_producer_send(p, "t", 3, &g, NULL, 0), SAMSA_ENOPARTITION);
    /* A NULL topic once a topic is known (regression: strcmp(NULL)). */
    EQ_RC(samsa_producer_send(p, NULL, 0, &g, NULL, 0), SAMSA_EINVAL);
    /* g's report is in before v.p changes under the sender's reading (a
     * data race TSan caught one run in three). */
    E(samsa_producer_flush(p, -1));
    /* Reentry from the callback is refused, and the send still works. */
    v.p = p;
    E(samsa_producer_send(p, "t", 0, &r, (void *)(uintptr_t)0, 0));
    E(samsa_producer_flush(p, -1));
    EQ_RC(v.reentry_rc[0], SAMSA_EINVAL);
    EQ_RC(v.reentry_rc[1], SAMSA_EINVAL);
    ck_assert_uint_eq(atomic_load(&v.calls), 2);
    ck_assert_int_eq(v.offset[0], 0);
    ck_assert_int_eq(v.partition[1], 2);
    ck_assert_int_eq(v.offset[1], 0);
    E(samsa_producer_close(p));
    E(samsa_producer_close(NULL));
    int64_t end;
    E(samsa_offsets(s, "t", 0, NULL, &end));
    ck_assert_int_eq(end, 1); /* nothing refused was stored */
    E(samsa_offsets(s, "t", 1, NULL, &end));
    ck_assert_int_eq(end, 0);
    seen_free(&v);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* Too few copies in sync: nothing is written, the producer retries, and
 * the records are stored once the copy is back; with a short delivery
 * timeout they are reported with the error instead. */
START_TEST(test_producer_retry)
{
    const char *root = test_dir_make();
    char d0[TEST_PATH_BUF], d1[TEST_PATH_BUF];
    test_pathf(d0, root, "d0");
    test_pathf(d1, root, "d1");
    ck_assert_int_eq(mkdir(d0, 0755), 0);
    ck_assert_int_eq(mkdir(d1, 0755), 0);
    faultio *fi = faultio_new();
    const char *reps[] = {d1, NULL};
    samsa_options o = {.replica_dirs = reps};
    samsa *s;
    E(samsa__open_io(d0, &o, faultio_io(fi), &s));
    samsa__replica_pause(s, true);
    samsa_topic_config tc = {.replicas = 2, .min_insync = 2};
    E(samsa_topic_create(s, "t", &tc));
    /* A failed write to d1 takes its copy out. */
    faultio_filter(fi, "/d1/");
    faultio_fail(fi, FAULTIO_WRITE, 1, EIO, true);
    samsa_record r = {.value = "first", .value_len = 5};
    EQ_RC(samsa_produce(s, "t", 0, &r, 1), SAMSA_ENOTENOUGHREPLICAS);
    ck_assert_int_eq(r.offset, 0); /* stored, after: not retried */

    seen v;
    seen_init(&v, 2);
    samsa_producer_config pc = {
        .linger_ms = -1, .on_delivery = on_delivery, .ctx = &v};
    samsa_producer *p;
    E(samsa_producer_open(s, &pc, &p));
    samsa_record a = {.value = "v0", .value_len = 2, .timestamp = 1000};
    E(samsa_producer_send(p, "t", 0, &a, (void *)(uintptr_t)0, 0));
    usleep(350000); /* some retries, all refused before writing */
    ck_assert_uint_eq(atomic_load(&v.calls), 0);
    int64_t end;
    E(samsa_offsets(s, "t", 0, NULL, &end));
    ck_assert_int_eq(end, 1);
    faultio_clear(fi);
    size_t rejoined = 0;
    E(samsa_replica_catchup(s, &rejoined));
    ck_assert_uint_eq(rejoined, 1);
    E(samsa_producer_flush(p, -1));
    ck_assert_int_eq(v.error[0], 0);
    ck_assert_int_eq(v.offset[0], 1); /* once, after the first */
    E(samsa_producer_close(p));

    /* Out again, and a delivery timeout of 200 ms: reported, not stored. */
    faultio_filter(fi, "/d1/");
    faultio_fail(fi, FAULTIO_WRITE, 1, EIO, true);
    EQ_RC(samsa_produce(s, "t", 0, &r, 1), SAMSA_ENOTENOUGHREPLICAS);
    pc.delivery_timeout_ms = 200;
    E(samsa_producer_open(s, &pc, &p));
    samsa_record b = {.value = "v1", .value_len = 2, .timestamp = 1001};
    E(samsa_producer_send(p, "t", 0, &b, (void *)(uintptr_t)1, 0));
    E(samsa_producer_flush(p, -1));
    EQ_RC(v.error[1], SAMSA_ENOTENOUGHREPLICAS);
    ck_assert_int_eq(v.offset[1], -1);
    E(samsa_offsets(s, "t", 0, NULL, &end));
    ck_assert_int_eq(end, 3);
    E(samsa_producer_close(p));
    seen_free(&v);
    E(samsa_close(s));
    faultio_free(fi);
    test_dir_remove(root);
}
END_TEST

/* kill -9 with records held: every record reported stored is there, at
 * its offset, with its bytes.  The callback runs in the forked child, so
 * it must not assert: Check reports even a passing assertion by writing
 * to the test's message file, which the child shares with the test
 * process, and the two writing at once garbled it ("Bad message type"
 * from the runner, which then stopped). */
static void
on_delivery_log(const samsa_delivery_report *r, size_t n, void *ctx)
{
    int fd = *(int *)ctx;
    for (size_t k = 0; k < n; k++)
        if (r[k].error == 0) {
            char line[64];
            int len = snprintf(line, sizeof line, "%zu %lld\n",
                               (size_t)(uintptr_t)r[k].opaque,
                               (long long)r[k].offset);
            if (write(fd, line, (size_t)len) != len)
                _exit(6);
        }
}

START_TEST(test_producer_kill9)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "t", NULL));
    E(samsa_close(s));
    const char *log = test_path(dir, "reports");
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    ck_assert_int_ge(fd, 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = test_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        samsa *cs;
        if (samsa_open(dir, NULL, &cs) != 0)
            _exit(3);
        samsa_producer_config pc = {.linger_ms = 2,
                                    .batch_bytes = 4096,
                                    .on_delivery = on_delivery_log,
                                    .ctx = &fd};
        samsa_producer *p;
        if (samsa_producer_open(cs, &pc, &p) != 0)
            _exit(4);
        char val[32];
        for (size_t i = 0;; i++) {
            snprintf(val, sizeof val, "v%zu", i);
            samsa_record r = {.value = val, .value_len = strlen(val)};
            if (samsa_producer_send(p, "t", 0, &r, (void *)(uintptr_t)i, -1))
                _exit(5);
        }
    }
    close(fd);
    /* Until a few thousand reports are in, then kill. */
    for (int tries = 0; tries < 3000; tries++) {
        struct stat st;
        if (stat(log, &st) == 0 && st.st_size > 40000)
            break;
        usleep(1000);
    }
    kill(pid, SIGKILL);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status));
    s = test_open(dir);
    size_t len;
    char *text = (char *)test_slurp(log, &len);
    text[len] = '\0';
    size_t checked = 0;
    samsa_cursor *c;
    E(samsa_cursor_open(s, "t", 0, SAMSA_OFFSET_BEGINNING, &c));
    for (char *line = text; *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl == NULL)
            break; /* a line cut by the kill */
        size_t i;
        long long off;
        ck_assert_int_eq(sscanf(line, "%zu %lld", &i, &off), 2);
        E(samsa_cursor_seek(c, off));
        samsa_message m;
        E(samsa_cursor_next(c, &m, 0));
        char want[32];
        snprintf(want, sizeof want, "v%zu", i);
        ck_assert_uint_eq(m.value_len, strlen(want));
        ck_assert(memcmp(m.value, want, m.value_len) == 0);
        /* a single producer into one partition: offset i */
        ck_assert_int_eq(off, (long long)i);
        checked++;
        line = nl + 1;
    }
    ck_assert_uint_gt(checked, 1000);
    free(text);
    E(samsa_cursor_close(c));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A keyless record that fills its sticky partition's batch moves on to
 * the next partition, whose open batch (filled by explicit and keyed
 * records too) may be as full: that one is stored first, not filled
 * past the topic's max_message_bytes (regression: the batch was then
 * refused with SAMSA_ETOOBIG, and records sent with return 0 reported
 * lost). */
START_TEST(test_producer_sticky_full)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config tc = {.partitions = 2, .max_message_bytes = 1024};
    E(samsa_topic_create(s, "t", &tc));
    seen v;
    samsa_producer *p = held_producer(s, &v, 40);
    static char val[100];
    samsa_record r = {.value = val, .value_len = sizeof val, .timestamp = 1};
    /* Eight records of 100 bytes nearly fill partition 1's batch... */
    for (size_t i = 0; i < 8; i++)
        E(samsa_producer_send(p, "t", 1, &r, (void *)(uintptr_t)i, 0));
    /* ...and keyless ones fill partition 0's, then move on to 1. */
    for (size_t i = 8; i < 40; i++)
        E(samsa_producer_send(p, "t", SAMSA_PARTITION_ANY, &r,
                              (void *)(uintptr_t)i, 0));
    E(samsa_producer_flush(p, -1));
    ck_assert_uint_eq(atomic_load(&v.calls), 40);
    ck_assert_uint_eq(v.wrong, 0);
    ck_assert(!v.out_of_order);
    for (size_t i = 0; i < 40; i++)
        EQ_RC(v.error[i], 0);
    ck_assert_int_eq(v.partition[7], 1);
    ck_assert_int_eq(v.offset[7], 7);
    int64_t end0, end1;
    E(samsa_offsets(s, "t", 0, NULL, &end0));
    E(samsa_offsets(s, "t", 1, NULL, &end1));
    ck_assert_int_eq(end0, v.last[0] + 1);
    ck_assert_int_eq(end1, v.last[1] + 1);
    ck_assert_int_eq(end0 + end1, 40);
    E(samsa_producer_close(p));
    seen_free(&v);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A topic deleted and made again under its name is a new topic.  Records
 * sent to the old one and still held are reported SAMSA_ENOTOPIC, not
 * stored in the new one as if it were the one they were sent to; a send
 * after the change sees the new topic at once: its fewer partitions, and
 * where its keys go (regression: the producer kept the old partition
 * count for good, so a send to a partition the new topic lacks returned
 * 0 and a keyed record went to a partition that does not exist, both
 * then reported SAMSA_ENOPARTITION; and the held records were stored in
 * the new topic, reported stored). */
START_TEST(test_producer_topic_recreated)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config tc = {.partitions = 4};
    E(samsa_topic_create(s, "t", &tc));
    seen v;
    samsa_producer *p = held_producer(s, &v, 4);
    char key[16];
    int k = 0;
    do /* a key that goes to a partition other than 0 of 4 */
        snprintf(key, sizeof key, "k%d", k++);
    while (samsa_partition_for_key(key, strlen(key), 4) == 0);
    samsa_record r = {.value = "old", .value_len = 3, .timestamp = 1};
    E(samsa_producer_send(p, "t", 3, &r, (void *)(uintptr_t)0, 0));
    E(samsa_producer_send(p, "t", 0, &r, (void *)(uintptr_t)1, 0));
    E(samsa_topic_delete(s, "t"));
    tc.partitions = 1;
    E(samsa_topic_create(s, "t", &tc));
    samsa_record n = {.key = key,
                      .key_len = strlen(key),
                      .value = "new",
                      .value_len = 3,
                      .timestamp = 2};
    EQ_RC(samsa_producer_send(p, "t", 3, &n, NULL, 0), SAMSA_ENOPARTITION);
    E(samsa_producer_send(p, "t", SAMSA_PARTITION_ANY, &n, (void *)(uintptr_t)2,
                          0));
    E(samsa_producer_send(p, "t", 0, &n, (void *)(uintptr_t)3, 0));
    E(samsa_producer_flush(p, -1));
    ck_assert_uint_eq(atomic_load(&v.calls), 4);
    ck_assert_uint_eq(v.wrong, 0);
    EQ_RC(v.error[0], SAMSA_ENOTOPIC);
    ck_assert_int_eq(v.offset[0], -1);
    EQ_RC(v.error[1], SAMSA_ENOTOPIC);
    ck_assert_int_eq(v.offset[1], -1);
    EQ_RC(v.error[2], 0);
    ck_assert_int_eq(v.partition[2], 0);
    ck_assert_int_eq(v.offset[2], 0);
    EQ_RC(v.error[3], 0);
    ck_assert_int_eq(v.offset[3], 1);
    samsa_cursor *c;
    E(samsa_cursor_open(s, "t", 0, SAMSA_OFFSET_BEGINNING, &c));
    samsa_message m;
    for (int i = 0; i < 2; i++) {
        E(samsa_cursor_next(c, &m, 0));
        ck_assert_uint_eq(m.value_len, 3);
        ck_assert(memcmp(m.value, "new", 3) == 0);
    }
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
    E(samsa_cursor_close(c));
    E(samsa_producer_close(p));
    seen_free(&v);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A flush waits for the records sent before it, not for as many records
 * as were sent before it: batches that other threads fill after it began
 * may be stored first (regression: a flush returned 0 once that many
 * reports were in, the lingering record sent before it still held). */
typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool held, open;            /* the callback waits; may go on        */
    _Atomic size_t reported;    /* reports, all told                    */
    _Atomic bool lone_reported; /* the record of partition 0 is in      */
    samsa_producer *p;
    int flush_rc;
    bool lone_at_flush; /* lone_reported when the flush returned */
} gate;

static void
on_delivery_gate(const samsa_delivery_report *r, size_t n, void *ctx)
{
    gate *g = ctx;
    pthread_mutex_lock(&g->lock);
    g->held = true;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
    if (r[0].partition == 0) { /* slow: a flush that does not wait
                                  for it returns meanwhile */
        usleep(200000);
        atomic_store(&g->lone_reported, true);
    }
    atomic_fetch_add(&g->reported, n);
}

static void *
flush_thread(void *arg)
{
    gate *g = arg;
    g->flush_rc = samsa_producer_flush(g->p, -1);
    g->lone_at_flush = atomic_load(&g->lone_reported);
    return NULL;
}

START_TEST(test_producer_flush_waits_its_own)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config tc = {.partitions = 2};
    E(samsa_topic_create(s, "t", &tc));
    gate g = {.lock = PTHREAD_MUTEX_INITIALIZER,
              .cond = PTHREAD_COND_INITIALIZER};
    samsa_producer_config pc = {.linger_ms = 600000,
                                .batch_bytes = 256,
                                .on_delivery = on_delivery_gate,
                                .ctx = &g};
    E(samsa_producer_open(s, &pc, &g.p));
    static char val[100];
    samsa_record r = {.value = val, .value_len = sizeof val, .timestamp = 1};
    /* Partition 1's batches hold one record each: the second send makes
     * the first ready, and the sender waits in the callback with it. */
    E(samsa_producer_send(g.p, "t", 1, &r, NULL, 0));
    E(samsa_producer_send(g.p, "t", 1, &r, NULL, 0));
    pthread_mutex_lock(&g.lock);
    while (!g.held)
        pthread_cond_wait(&g.cond, &g.lock);
    pthread_mutex_unlock(&g.lock);
    /* One record to partition 0, lingering; a flush of these three. */
    E(samsa_producer_send(g.p, "t", 0, &r, NULL, 0));
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, flush_thread, &g), 0);
    usleep(100000); /* the flush is waiting */
    /* Ten more to partition 1, their batches ready before partition 0's */
    for (int i = 0; i < 10; i++)
        E(samsa_producer_send(g.p, "t", 1, &r, NULL, 0));
    pthread_mutex_lock(&g.lock);
    g.open = true;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    E(g.flush_rc);
    ck_assert(g.lone_at_flush);
    E(samsa_producer_close(g.p));
    ck_assert_uint_eq(atomic_load(&g.reported), 13);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* close() while other threads are inside flush() and send() waiting for
 * room: they return (0 and SAMSA_ECLOSED) before the producer is freed
 * (regression: close freed it while they were still waking, a use after
 * free that ASan saw in about one run in N). */
typedef struct racer {
    samsa_producer *p;
    int rc;
    int kind;          /* 0: flush, 1: send waiting for room */
    _Atomic bool done; /* its call returned: it touches p no more */
} racer;

static void
on_delivery_slow(const samsa_delivery_report *r, size_t n, void *ctx)
{
    (void)r;
    (void)n;
    (void)ctx;
    usleep(20000);
}

static void *
racer_main(void *arg)
{
    racer *x = arg;
    static char val[1000];
    samsa_record r = {.value = val, .value_len = sizeof val};
    x->rc = x->kind == 0 ? samsa_producer_flush(x->p, -1)
                         : samsa_producer_send(x->p, "t", 0, &r, NULL, -1);
    atomic_store(&x->done, true);
    return NULL;
}

START_TEST(test_producer_close_races)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "t", NULL));
    for (int round = 0; round < 40; round++) {
        samsa_producer_config pc = {.linger_ms = 600000,
                                    .buffer_bytes = 4096,
                                    .on_delivery = on_delivery_slow};
        samsa_producer *p;
        E(samsa_producer_open(s, &pc, &p));
        static char val[1000];
        samsa_record r = {.value = val, .value_len = sizeof val};
        int rc;
        while ((rc = samsa_producer_send(p, "t", 0, &r, NULL, 0)) == 0)
            ;
        EQ_RC(rc, SAMSA_EQUEUEFULL);
        racer x[4];
        pthread_t th[4];
        for (int i = 0; i < 4; i++) {
            x[i] = (racer){.p = p, .kind = i % 2};
            ck_assert_int_eq(pthread_create(&th[i], NULL, racer_main, &x[i]),
                             0);
        }
        /* All four inside their calls, or back from them, before the
         * close: one that had not begun would call into the freed handle
         * (a loaded machine once started a racer after a fixed 5 ms, and
         * ASan caught it).  Not all four inside at once: a send given
         * room returns, which under TSan is before the last one starts.
         * done is read before inside, so a racer leaving between the two
         * reads is counted in neither, never in both. */
        for (int in = 0; in < 4; usleep(1000)) {
            in = 0;
            for (int i = 0; i < 4; i++)
                in += atomic_load(&x[i].done);
            in += samsa__producer_inside(p);
        }
        usleep(5000); /* most likely waiting; either way they must end */
        E(samsa_producer_close(p));
        for (int i = 0; i < 4; i++) {
            ck_assert_int_eq(pthread_join(th[i], NULL), 0);
            if (x[i].kind == 0)
                E(x[i].rc);
            else
                ck_assert(x[i].rc == 0 || x[i].rc == SAMSA_ECLOSED);
        }
    }
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A real full disk (a 2 MiB tmpfs, root only): records that cannot be
 * written are retried until delivery_timeout_ms and reported
 * SAMSA_ENOSPC; every one reported stored is there after a reopen, at
 * its offset, with its bytes, and the offsets are dense. */
START_TEST(test_producer_full_disk)
{
    test_mount m;
    const char *dir = test_tmpfs("2m", "producer: full disk (tmpfs)", &m);
    if (dir == NULL)
        return;
    samsa *s = test_open(dir);
    samsa_topic_config tc = {.partitions = 2, .segment_bytes = 256 << 10};
    E(samsa_topic_create(s, "t", &tc));
    enum { N = 3000 };
    seen v;
    seen_init(&v, N);
    samsa_producer_config pc = {.linger_ms = 1,
                                .batch_bytes = 64 << 10,
                                .delivery_timeout_ms = 100,
                                .on_delivery = on_delivery,
                                .ctx = &v};
    samsa_producer *p;
    E(samsa_producer_open(s, &pc, &p));
    char key[16], val[1100];
    for (size_t i = 0; i < N; i++) {
        samsa_record r;
        rec_make(&r, key, val, i);
        /* "v<i>", then padding: about a kilobyte each */
        size_t len = strlen(val);
        memset(val + len, 'x', sizeof val - len);
        val[len] = ' ';
        r.value_len = sizeof val;
        E(samsa_producer_send(p, "t", SAMSA_PARTITION_ANY, &r,
                              (void *)(uintptr_t)i, -1));
    }
    E(samsa_producer_close(p));
    ck_assert_uint_eq(atomic_load(&v.calls), N);
    ck_assert_uint_eq(v.wrong, 0);
    ck_assert(!v.out_of_order);
    size_t stored = 0, nospc = 0;
    for (size_t i = 0; i < N; i++) {
        ck_assert_msg(v.error[i] == 0 || v.error[i] == SAMSA_ENOSPC,
                      "record %zu: %s", i, samsa_strerror(v.error[i]));
        stored += v.error[i] == 0;
        nospc += v.error[i] == SAMSA_ENOSPC;
        if (v.error[i] != 0)
            ck_assert_int_eq(v.offset[i], -1);
    }
    ck_assert_uint_gt(stored, 100);
    ck_assert_uint_gt(nospc, 0);
    int rc = samsa_close(s); /* its last catalog write may not fit */
    ck_assert_msg(rc == 0 || rc == SAMSA_ENOSPC, "%s", samsa_strerror(rc));
    s = test_open(dir);
    check_stored(s, "t", &v);
    rc = samsa_close(s); /* the disk is still full */
    ck_assert_msg(rc == 0 || rc == SAMSA_ENOSPC, "%s", samsa_strerror(rc));
    seen_free(&v);
    test_unmount(&m);
}
END_TEST

/* A disk full for a moment (a 2 MiB tmpfs, root only): the batch that
 * met it is retried, in order, and stored once space comes back (a file
 * beside the store removed), each record once, at dense offsets. */
typedef struct freer {
    const char *dir, *filler;
    _Atomic bool stop;
    bool freed;
} freer;

static void *
freer_main(void *arg)
{
    freer *f = arg;
    while (!atomic_load(&f->stop)) {
        struct statvfs st;
        if (statvfs(f->dir, &st) == 0 &&
            (uint64_t)st.f_bavail * st.f_frsize < (32u << 10)) {
            usleep(300000); /* full a while: some retries */
            f->freed = unlink(f->filler) == 0;
            return NULL;
        }
        usleep(1000);
    }
    return NULL;
}

START_TEST(test_producer_full_disk_passes)
{
    test_mount m;
    const char *dir =
        test_tmpfs("2m", "producer: full disk passes (tmpfs)", &m);
    if (dir == NULL)
        return;
    /* 1 MiB beside the store, removed once the disk is full */
    char filler[TEST_PATH_BUF];
    test_pathf(filler, dir, "filler");
    int fd = open(filler, O_WRONLY | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    static char chunk[64 << 10];
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(write(fd, chunk, sizeof chunk), sizeof chunk);
    ck_assert_int_eq(close(fd), 0);
    char sdir[TEST_PATH_BUF]; /* the store: no other files in it */
    test_pathf(sdir, dir, "s");
    ck_assert_int_eq(mkdir(sdir, 0755), 0);
    samsa *s = test_open(sdir);
    samsa_topic_config tc = {.segment_bytes = 128 << 10};
    E(samsa_topic_create(s, "t", &tc));
    enum { N = 1200 };
    seen v;
    seen_init(&v, N);
    samsa_producer_config pc = {.linger_ms = 1,
                                .batch_bytes = 32 << 10,
                                .delivery_timeout_ms = 20000,
                                .on_delivery = on_delivery,
                                .ctx = &v};
    samsa_producer *p;
    E(samsa_producer_open(s, &pc, &p));
    freer fr = {.dir = dir, .filler = filler};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, freer_main, &fr), 0);
    char key[16], val[1000];
    for (size_t i = 0; i < N; i++) {
        samsa_record r;
        rec_make(&r, key, val, i);
        size_t len = strlen(val);
        memset(val + len, 'x', sizeof val - len);
        val[len] = ' ';
        r.value_len = sizeof val;
        E(samsa_producer_send(p, "t", SAMSA_PARTITION_ANY, &r,
                              (void *)(uintptr_t)i, -1));
    }
    E(samsa_producer_flush(p, -1));
    atomic_store(&fr.stop, true);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert(fr.freed); /* the disk was full, then not */
    E(samsa_producer_close(p));
    ck_assert_uint_eq(atomic_load(&v.calls), N);
    ck_assert(!v.out_of_order);
    for (size_t i = 0; i < N; i++)
        ck_assert_msg(v.error[i] == 0, "record %zu: %s", i,
                      samsa_strerror(v.error[i]));
    ck_assert_int_eq(v.last[0] + 1, N);
    E(samsa_close(s));
    s = test_open(sdir);
    check_stored(s, "t", &v);
    E(samsa_close(s));
    seen_free(&v);
    test_unmount(&m);
}
END_TEST

/* batch_bytes is when a batch is stored, not a bound on a record: a
 * record larger than batch_bytes goes alone in its batch (as Kafka's
 * batch.size), and a record whose batch alone is exactly the topic's
 * max_message_bytes is taken, as samsa_produce() takes it (regression:
 * both were refused with SAMSA_ETOOBIG: batch_bytes = 1 refused every
 * record; the size checked was a bound some 40 bytes above the
 * record's). */
START_TEST(test_producer_batch_bytes_small)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config tc = {.partitions = 2, .max_message_bytes = 1024};
    E(samsa_topic_create(s, "t", &tc));
    /* A record of 954 value bytes makes a batch of 1024 bytes alone. */
    static char val[955];
    samsa_record r = {.value = val, .value_len = 954, .timestamp = 1};
    E(samsa_produce(s, "t", 1, &r, 1));
    r.value_len = 955;
    EQ_RC(samsa_produce(s, "t", 1, &r, 1), SAMSA_ETOOBIG);
    seen v;
    seen_init(&v, 4);
    samsa_producer_config pc = {.batch_bytes = 1,
                                .linger_ms = -1,
                                .on_delivery = on_delivery,
                                .ctx = &v};
    samsa_producer *p;
    E(samsa_producer_open(s, &pc, &p));
    EQ_RC(samsa_producer_send(p, "t", 0, &r, NULL, 0), SAMSA_ETOOBIG);
    r.value_len = 954;
    E(samsa_producer_send(p, "t", 0, &r, (void *)(uintptr_t)0, 0));
    samsa_record small = {.value = "x", .value_len = 1, .timestamp = 1};
    for (size_t i = 1; i < 4; i++)
        E(samsa_producer_send(p, "t", 0, &small, (void *)(uintptr_t)i, 0));
    E(samsa_producer_flush(p, -1));
    ck_assert_uint_eq(atomic_load(&v.calls), 4);
    ck_assert_uint_eq(v.wrong, 0);
    ck_assert(!v.out_of_order);
    for (size_t i = 0; i < 4; i++) {
        EQ_RC(v.error[i], 0);
        ck_assert_int_eq(v.offset[i], (int64_t)i);
    }
    E(samsa_producer_close(p));
    samsa_cursor *c;
    E(samsa_cursor_open(s, "t", 0, SAMSA_OFFSET_BEGINNING, &c));
    samsa_message m;
    E(samsa_cursor_next(c, &m, 0));
    ck_assert_uint_eq(m.value_len, 954);
    for (int i = 1; i < 4; i++) {
        E(samsa_cursor_next(c, &m, 0));
        ck_assert_int_eq(m.offset, i);
        ck_assert_uint_eq(m.value_len, 1);
    }
    E(samsa_cursor_close(c));
    seen_free(&v);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A delivery callback may call samsa_produce(), samsa_topic_delete() and
 * samsa_producer_send(): the topic it deletes has its held records
 * reported SAMSA_ENOTOPIC, what it sends is reported too, and flush and
 * close of its own producer are refused (never a deadlock). */
typedef struct cbcalls {
    samsa *s;
    samsa_producer *p;
    bool done;
    int produce_rc, delete_rc, send_rc, flush_rc, close_rc;
    _Atomic int reports;
    int enotopic, stored_t;
} cbcalls;

static void
on_delivery_calls(const samsa_delivery_report *r, size_t n, void *ctx)
{
    cbcalls *x = ctx;
    for (size_t i = 0; i < n; i++) {
        x->enotopic += r[i].error == SAMSA_ENOTOPIC;
        x->stored_t += r[i].error == 0 && strcmp(r[i].topic, "t") == 0;
    }
    atomic_fetch_add(&x->reports, (int)n);
    if (x->done)
        return;
    x->done = true;
    samsa_record rec = {.value = "sync", .value_len = 4};
    x->produce_rc = samsa_produce(x->s, "t", 1, &rec, 1);
    x->delete_rc = samsa_topic_delete(x->s, "other");
    samsa_record more = {.value = "more", .value_len = 4};
    x->send_rc = samsa_producer_send(x->p, "t", 0, &more, NULL, -1);
    x->flush_rc = samsa_producer_flush(x->p, -1);
    x->close_rc = samsa_producer_close(x->p);
}

START_TEST(test_producer_callback_calls)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config tc = {.partitions = 2};
    E(samsa_topic_create(s, "t", &tc));
    E(samsa_topic_create(s, "other", NULL));
    cbcalls x = {.s = s};
    samsa_producer_config pc = {
        .linger_ms = 600000, .on_delivery = on_delivery_calls, .ctx = &x};
    E(samsa_producer_open(s, &pc, &x.p));
    samsa_record r = {.value = "x", .value_len = 1};
    E(samsa_producer_send(x.p, "t", 0, &r, NULL, 0));
    for (int i = 0; i < 5; i++)
        E(samsa_producer_send(x.p, "other", 0, &r, NULL, 0));
    E(samsa_producer_flush(x.p, -1));
    E(x.produce_rc);
    E(x.delete_rc);
    E(x.send_rc);
    EQ_RC(x.flush_rc, SAMSA_EINVAL);
    EQ_RC(x.close_rc, SAMSA_EINVAL);
    E(samsa_producer_close(x.p)); /* reports "more" */
    ck_assert_int_eq(atomic_load(&x.reports), 7);
    ck_assert_int_eq(x.enotopic, 5);
    ck_assert_int_eq(x.stored_t, 2);
    int64_t end;
    E(samsa_offsets(s, "t", 0, NULL, &end));
    ck_assert_int_eq(end, 2);
    E(samsa_offsets(s, "t", 1, NULL, &end));
    ck_assert_int_eq(end, 1);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* Partitions added while other threads send to explicit partitions past
 * the old count: a send is refused with SAMSA_ENOPARTITION until the
 * partition exists, then taken; every record taken is reported stored,
 * dense per partition. */
typedef struct grower {
    samsa_producer *p;
    int id;
    size_t taken, refused;
} grower;

static void
on_delivery_count(const samsa_delivery_report *r, size_t n, void *ctx)
{
    _Atomic size_t *stored = ctx;
    for (size_t i = 0; i < n; i++)
        if (r[i].error == 0)
            atomic_fetch_add(&stored[r[i].partition], 1);
}

static void *
grower_send(void *arg)
{
    grower *g = arg;
    samsa_record r = {.value = "g", .value_len = 1};
    for (int i = 0; i < 4000; i++) {
        int rc = samsa_producer_send(g->p, "t", (i + g->id) % 8, &r, NULL, -1);
        g->taken += rc == 0;
        g->refused += rc == SAMSA_ENOPARTITION;
    }
    return NULL;
}

START_TEST(test_producer_partitions_added)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config tc = {.partitions = 2};
    E(samsa_topic_create(s, "t", &tc));
    _Atomic size_t stored[8] = {0};
    samsa_producer_config pc = {.linger_ms = 1,
                                .batch_bytes = 512,
                                .on_delivery = on_delivery_count,
                                .ctx = stored};
    samsa_producer *p;
    E(samsa_producer_open(s, &pc, &p));
    grower g[2] = {{.p = p, .id = 0}, {.p = p, .id = 3}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, grower_send, &g[i]), 0);
    E(samsa_topic_add_partitions(s, "t", 4));
    E(samsa_topic_add_partitions(s, "t", 8));
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    E(samsa_producer_close(p));
    size_t taken = 0, total = 0;
    for (int i = 0; i < 2; i++) {
        ck_assert_uint_eq(g[i].taken + g[i].refused, 4000);
        taken += g[i].taken;
    }
    for (int32_t part = 0; part < 8; part++) {
        int64_t end;
        E(samsa_offsets(s, "t", part, NULL, &end));
        ck_assert_int_eq(end, (int64_t)atomic_load(&stored[part]));
        total += (size_t)end;
    }
    ck_assert_uint_eq(total, taken);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* max_message_bytes lowered while the producer holds a batch larger than
 * the new one: the batch's records go in batches that fit, in order, and
 * only a record too large alone is refused (regression: every record of
 * the held batch was reported SAMSA_ETOOBIG; Kafka's producer splits a
 * batch the broker refuses as too large). */
START_TEST(test_producer_split_when_lowered)
{
    enum { N = 40, BIG = 17 };
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "t", NULL));
    seen v;
    samsa_producer *p = held_producer(s, &v, N);
    char key[16], val[4096];
    for (size_t i = 0; i < N; i++) {
        samsa_record r;
        rec_make(&r, key, val, i);
        /* "v<i>" then padding: 300 bytes, record BIG 3000 */
        size_t len = i == BIG ? 3000 : 300;
        memset(val + r.value_len, '.', len - r.value_len);
        r.value_len = len;
        E(samsa_producer_send(p, "t", 0, &r, (void *)(uintptr_t)i, 0));
    }
    samsa_topic_config alter = {.max_message_bytes = 2048};
    E(samsa_topic_alter(s, "t", &alter));
    E(samsa_producer_flush(p, -1));
    ck_assert_uint_eq(v.wrong, 0);
    ck_assert(!v.out_of_order);
    for (size_t i = 0; i < N; i++) {
        int64_t want = i < BIG ? (int64_t)i : i == BIG ? -1 : (int64_t)i - 1;
        ck_assert_msg(v.offset[i] == want, "record %zu at %lld", i,
                      (long long)v.offset[i]);
        EQ_RC(v.error[i], i == BIG ? SAMSA_ETOOBIG : 0);
    }
    check_stored(s, "t", &v);
    E(samsa_producer_close(p));
    seen_free(&v);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A held batch split (test_producer_split_when_lowered) while the topic
 * was also made compacted: each part is judged by its own records, as
 * Kafka's broker judges each batch its producer split off, so a part of
 * keyed records goes in and only one holding a record without a key is
 * refused (regression: every part was refused SAMSA_EINVAL, as the whole
 * batch held a keyless record). */
START_TEST(test_producer_split_made_compacted)
{
    enum { N = 8, KEYED = 6 };
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "t", NULL));
    seen v;
    samsa_producer *p = held_producer(s, &v, N);
    char key[N][16], val[300];
    memset(val, 'v', sizeof val);
    for (size_t i = 0; i < N; i++) {
        /* 0..5 keyed: about 1950 bytes with the header; 6, 7 not */
        snprintf(key[i], sizeof key[i], "k%zu", i);
        samsa_record r = {.key = i < KEYED ? key[i] : NULL,
                          .key_len = i < KEYED ? strlen(key[i]) : 0,
                          .value = val,
                          .value_len = sizeof val,
                          .timestamp = 1000 + (int64_t)i};
        E(samsa_producer_send(p, "t", 0, &r, (void *)(uintptr_t)i, 0));
    }
    samsa_topic_config alter = {.max_message_bytes = 2048,
                                .cleanup_policy = SAMSA_CLEANUP_COMPACT};
    E(samsa_topic_alter(s, "t", &alter));
    E(samsa_producer_flush(p, -1));
    ck_assert_uint_eq(v.wrong, 0);
    ck_assert(!v.out_of_order);
    for (size_t i = 0; i < N; i++) {
        ck_assert_msg(v.offset[i] == (i < KEYED ? (int64_t)i : -1),
                      "record %zu at %lld", i, (long long)v.offset[i]);
        EQ_RC(v.error[i], i < KEYED ? 0 : SAMSA_EINVAL);
    }
    int64_t end;
    E(samsa_offsets(s, "t", 0, NULL, &end));
    ck_assert_int_eq(end, KEYED);
    samsa_cursor *c;
    E(samsa_cursor_open(s, "t", 0, 0, &c));
    for (size_t i = 0; i < KEYED; i++) {
        samsa_message m;
        E(samsa_cursor_next(c, &m, 0));
        ck_assert_int_eq(m.offset, (int64_t)i);
        ck_assert_uint_eq(m.key_len, strlen(key[i]));
        ck_assert(memcmp(m.key, key[i], m.key_len) == 0);
        ck_assert_uint_eq(m.value_len, sizeof val);
        ck_assert_int_eq(m.timestamp, 1000 + (int64_t)i);
    }
    E(samsa_cursor_close(c));
    E(samsa_producer_close(p));
    seen_free(&v);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A topic made compacted refuses records without a key from the next
 * produce (samsa_topic_alter()), records the producer held from before
 * too: they are reported SAMSA_EINVAL and not stored (regression: the
 * batch went in through produce_encoded(), which did not look at keys,
 * and a compacted topic held records without a key). */
START_TEST(test_producer_made_compacted)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "t", NULL));
    seen v;
    samsa_producer *p = held_producer(s, &v, 3);
    samsa_record r = {.value = "x", .value_len = 1, .timestamp = 1};
    E(samsa_producer_send(p, "t", 0, &r, (void *)(uintptr_t)0, 0));
    samsa_topic_config alter = {.cleanup_policy = SAMSA_CLEANUP_COMPACT};
    E(samsa_topic_alter(s, "t", &alter));
    E(samsa_producer_flush(p, -1));
    EQ_RC(v.error[0], SAMSA_EINVAL);
    ck_assert_int_eq(v.offset[0], -1);
    int64_t end;
    E(samsa_offsets(s, "t", 0, NULL, &end));
    ck_assert_int_eq(end, 0);
    /* Keyed records still go in. */
    samsa_record k = {
        .key = "k", .key_len = 1, .value = "y", .value_len = 1, .timestamp = 1};
    E(samsa_producer_send(p, "t", 0, &k, (void *)(uintptr_t)1, 0));
    E(samsa_producer_flush(p, -1));
    EQ_RC(v.error[1], 0);
    ck_assert_int_eq(v.offset[1], 0);
    E(samsa_producer_close(p));
    seen_free(&v);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* delivery_timeout_ms bounds the time from a record's batch being due
 * to its report, as Kafka's delivery.timeout.ms: with a disk full for
 * good, ten batches are all reported within about one timeout
 * (regression: each was retried a whole timeout from when the sender
 * came to it, so the last waited ten, and a close with the default
 * 120 s and many batches held waited hours). */
START_TEST(test_producer_timeout_total)
{
    const char *dir = test_dir_make();
    faultio *fi = faultio_new();
    samsa *s;
    E(samsa__open_io(dir, NULL, faultio_io(fi), &s));
    E(samsa_topic_create(s, "t", NULL));
    seen v;
    seen_init(&v, 10);
    samsa_producer_config pc = {.linger_ms = 1,
                                .batch_bytes = 256,
                                .delivery_timeout_ms = 300,
                                .on_delivery = on_delivery,
                                .ctx = &v};
    samsa_producer *p;
    E(samsa_producer_open(s, &pc, &p));
    faultio_filter(fi, "/t-0/");
    faultio_fail(fi, FAULTIO_ANY, 1, ENOSPC, true);
    static char val[150];
    samsa_record r = {.value = val, .value_len = sizeof val, .timestamp = 1};
    int64_t t0 = test_clock_ms(CLOCK_MONOTONIC);
    for (size_t i = 0; i < 10; i++) /* one record a batch */
        E(samsa_producer_send(p, "t", 0, &r, (void *)(uintptr_t)i, 0));
    E(samsa_producer_flush(p, -1));
    int64_t took = test_clock_ms(CLOCK_MONOTONIC) - t0;
    for (size_t i = 0; i < 10; i++)
        EQ_RC(v.error[i], SAMSA_ENOSPC);
    ck_assert_msg(took < 1500, "10 batches reported in %lld ms",
                  (long long)took);
    faultio_clear(fi);
    E(samsa_producer_close(p));
    seen_free(&v);
    E(samsa_close(s));
    faultio_free(fi);
    test_dir_remove(dir);
}
END_TEST

/* ---- every I/O call of a producer's workload failed in turn ------------- */

#define SWEEP_N 120 /* records: about 6 segments of 4096 bytes each */

/* Record i of the sweep: keyless, its value "v<i>" padded to 100 bytes. */
static void
sweep_rec(samsa_record *r, char *val, size_t i)
{
    memset(val, 'x', 100);
    int len = snprintf(val, 100, "v%zu-", i);
    val[len] = 'x';
    *r = (samsa_record){
        .value = val, .value_len = 100, .timestamp = 1000 + (int64_t)i};
}

/* Run the sweep's workload on s (sync on, topic t of two partitions):
 * every record sent, flushed; v gets the reports. */
static void
sweep_run(samsa *s, seen *v, faultio *fi, uint64_t nth, int err)
{
    seen_init(v, SWEEP_N);
    samsa_producer_config pc = {.linger_ms = 600000,
                                .batch_bytes = 1024,
                                .delivery_timeout_ms = 1,
                                .on_delivery = on_delivery,
                                .ctx = v};
    samsa_producer *p;
    E(samsa_producer_open(s, &pc, &p));
    if (nth > 0)
        faultio_fail(fi, FAULTIO_ANY, nth, err, false);
    char val[100];
    samsa_record r;
    for (size_t i = 0; i < SWEEP_N; i++) {
        sweep_rec(&r, val, i);
        E(samsa_producer_send(p, "t", (int32_t)(i / 7 % 2), &r,
                              (void *)(uintptr_t)i, -1));
    }
    E(samsa_producer_close(p));
}

/* After the power cut: every record reported stored is at its offset,
 * with its bytes. */
static void
sweep_check(const char *dir, const seen *v, uint64_t nth)
{
    samsa *s = test_open(dir);
    char val[100];
    samsa_record r;
    for (size_t i = 0; i < SWEEP_N; i++) {
        if (v->offset[i] < 0)
            continue;
        samsa_cursor *c;
        samsa_message m;
        E(samsa_cursor_open(s, "t", v->partition[i], v->offset[i], &c));
        int rc = samsa_cursor_next(c, &m, 0);
        ck_assert_msg(rc == 0, "call %llu failed: record %zu at %d/%lld: %s",
                      (unsigned long long)nth, i, v->partition[i],
                      (long long)v->offset[i], samsa_strerror(rc));
        sweep_rec(&r, val, i);
        ck_assert_int_eq(m.offset, v->offset[i]);
        ck_assert_uint_eq(m.value_len, 100);
        ck_assert(memcmp(m.value, val, 100) == 0);
        samsa_cursor_close(c);
    }
    E(samsa_close(s));
}

/* Each I/O call the producer's workload makes (appends, rolls, syncs)
 * fails in turn, with EIO or ENOSPC, under SAMSA_SYNC_ALWAYS or not
 * (the four in turn): every record gets exactly one report, in send
 * order per partition, the stored ones dense; and every record reported
 * stored is there after a power cut under SAMSA_SYNC_ALWAYS, after a
 * kill -9 without. */
START_TEST(test_producer_fault_each)
{
    bool fired = true;
    for (uint64_t nth = 1; fired; nth++) {
        bool sync = nth % 4 < 2;
        const char *dir = test_dir_make();
        faultio *fi = faultio_new();
        samsa_options o = {.sync = sync ? SAMSA_SYNC_ALWAYS : SAMSA_SYNC_NONE};
        samsa *s;
        E(samsa__open_io(dir, &o, faultio_io(fi), &s));
        samsa_topic_config tc = {.partitions = 2, .segment_bytes = 4096};
        E(samsa_topic_create(s, "t", &tc));
        E(samsa_sync(s));
        seen v;
        sweep_run(s, &v, fi, nth, nth % 2 ? EIO : ENOSPC);
        fired = faultio_injected(fi) > 0;
        ck_assert_uint_eq(atomic_load(&v.calls), SWEEP_N);
        ck_assert_uint_eq(v.wrong, 0);
        ck_assert_msg(!v.out_of_order && !v.back, "call %llu: out of order",
                      (unsigned long long)nth);
        size_t failed = 0;
        for (size_t i = 0; i < SWEEP_N; i++) {
            ck_assert_int_eq(v.partition[i], (int32_t)(i / 7 % 2));
            ck_assert((v.error[i] == 0) == (v.offset[i] >= 0));
            failed += v.error[i] != 0;
        }
        if (!fired)
            ck_assert_uint_eq(failed, 0);
        faultio_clear(fi);
        E(faultio_power_cut(fi, sync ? FAULTIO_DROP_ALL : FAULTIO_KEEP_ALL, 0));
        (void)samsa_close(s);
        faultio_free(fi);
        sweep_check(dir, &v, nth);
        seen_free(&v);
        test_dir_remove(dir);
    }
}
END_TEST

/* One producer sending to 200 topics in turn: every record reported at
 * its exact offset (record i is the (i / 200)th of topic i % 200), and
 * read back there.  A send finds its topic through a table (it was a
 * scan of every topic sent to so far). */
START_TEST(test_producer_many_topics)
{
    enum { T = 200, N = 2000 };
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    char name[T][16];
    for (int t = 0; t < T; t++) {
        snprintf(name[t], sizeof name[t], "t%d", t);
        E(samsa_topic_create(s, name[t], NULL));
    }
    seen v;
    samsa_producer *p = held_producer(s, &v, N);
    char key[16], val[32];
    samsa_record r;
    for (size_t i = 0; i < N; i++) {
        rec_make(&r, key, val, i);
        E(samsa_producer_send(p, name[i % T], 0, &r, (void *)(uintptr_t)i, 0));
    }
    E(samsa_producer_flush(p, -1));
    ck_assert_uint_eq(atomic_load(&v.calls), N);
    ck_assert_uint_eq(v.wrong, 0);
    for (size_t i = 0; i < N; i++) {
        ck_assert_int_eq(v.error[i], 0);
        ck_assert_int_eq(v.partition[i], 0);
        ck_assert_int_eq(v.offset[i], (int64_t)(i / T));
    }
    E(samsa_producer_close(p));
    for (int t = 0; t < T; t++) {
        samsa_cursor *c;
        samsa_message m;
        E(samsa_cursor_open(s, name[t], 0, 0, &c));
        for (size_t i = (size_t)t; i < N; i += T) {
            E(samsa_cursor_next(c, &m, 0));
            snprintf(val, sizeof val, "v%zu", i);
            ck_assert_uint_eq(m.value_len, strlen(val));
            ck_assert_mem_eq(m.value, val, m.value_len);
        }
        EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
        E(samsa_cursor_close(c));
    }
    seen_free(&v);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

Suite *
producer_suite(void)
{
    Suite *s = suite_create("producer");
    /* One case per test, so that CK_RUN_CASE can pick one. */
    const struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"many", test_producer_many},
        {"close_reports", test_producer_close_reports},
        {"full", test_producer_full},
        {"bad_calls", test_producer_bad_calls},
        {"callback_sends", test_producer_callback_sends},
        {"retry", test_producer_retry},
        {"kill9", test_producer_kill9},
        {"sticky_full", test_producer_sticky_full},
        {"topic_recreated", test_producer_topic_recreated},
        {"flush_waits_its_own", test_producer_flush_waits_its_own},
        {"close_races", test_producer_close_races},
        {"full_disk", test_producer_full_disk},
        {"full_disk_passes", test_producer_full_disk_passes},
        {"batch_bytes_small", test_producer_batch_bytes_small},
        {"callback_calls", test_producer_callback_calls},
        {"partitions_added", test_producer_partitions_added},
        {"made_compacted", test_producer_made_compacted},
        {"split_when_lowered", test_producer_split_when_lowered},
        {"split_made_compacted", test_producer_split_made_compacted},
        {"timeout_total", test_producer_timeout_total},
        {"fault_each", test_producer_fault_each},
        {"many_topics", test_producer_many_topics},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}
