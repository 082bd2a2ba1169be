/*
 * check_alloc.c - malloc failing at every call site of a workload: open,
 * topic create, produce, cursor read, consumer poll and commit, queue
 * receive and ack, topic delete, close.
 *
 * The runner interposes malloc, calloc, realloc, strdup and the aligned
 * allocators (they pass to glibc's __libc_* functions; glibc routes its own
 * internal allocations, and LMDB's, through the interposed symbols too).
 * While a thread is armed, its allocations count down, and the one where
 * the count reaches zero returns NULL with errno ENOMEM; every other
 * allocation succeeds.  Only the workload's thread is armed, so that the
 * store's background threads (flusher, repair pass) do not make the
 * numbering depend on timing.
 *
 * The test runs the workload once unarmed to count its allocations (the
 * injection points), then once per point with that allocation failing.
 * Each call must succeed or return SAMSA_ENOMEM, and one that returned
 * SAMSA_ENOMEM must have changed nothing (the workload retries it, and the
 * retry must then succeed as if it were the first call).  After the
 * workload the store is reopened without injection: it must hold exactly
 * the acknowledged records, the committed offsets and queue
 * acknowledgements, and no deleted topic; and every block allocated since
 * the run began must have been freed.
 *
 * AddressSanitizer and ThreadSanitizer own malloc: under them the
 * interposer is compiled out and the test says it skipped.
 */
#include <errno.h>
#include <execinfo.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ALLOC_HOOK 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||     \
    __has_feature(memory_sanitizer)
#define ALLOC_HOOK 0
#endif
#endif
#ifndef ALLOC_HOOK
#define ALLOC_HOOK 1
#endif

#if ALLOC_HOOK

/* ------------------------------------------------------------------------ */
/* The interposer                                                           */
/* ------------------------------------------------------------------------ */

void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void *__libc_memalign(size_t align, size_t n);
void __libc_free(void *p);

static _Thread_local bool armed;      /* this thread's allocations count     */
static _Thread_local long countdown;  /* fail the one that brings it to 0    */
static _Thread_local long counted;    /* allocations while armed             */
static _Thread_local bool failed_one; /* the countdown reached 0             */
static _Atomic long live;             /* blocks allocated minus blocks freed,
                                         every thread                        */

/* The runner is built with -fvisibility=hidden; the interposers must be
 * seen by the shared libraries (LMDB, glibc itself) to count their
 * allocations too. */
#define INTERPOSE __attribute__((visibility("default")))

static bool
fail_now(void)
{
    if (!armed)
        return false;
    counted++;
    if (--countdown != 0)
        return false;
    failed_one = true;
    if (getenv("SAMSA_ALLOC_TRACE") != NULL) {
        /* where it failed, for whoever looks into a failure (the symbols
         * need -rdynamic, the addresses addr2line) */
        void *frames[24];
        armed = false;
        int n = backtrace(frames, 24);
        fprintf(stderr, "alloc: point %ld fails here:\n", counted);
        backtrace_symbols_fd(frames, n, STDERR_FILENO);
        armed = true;
    }
    errno = ENOMEM;
    return true;
}

static void *
counted_block(void *p)
{
    if (p != NULL)
        live++;
    return p;
}

INTERPOSE void *
malloc(size_t n)
{
    return fail_now() ? NULL : counted_block(__libc_malloc(n));
}

INTERPOSE void *
calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : counted_block(__libc_calloc(n, size));
}

INTERPOSE void *
realloc(void *p, size_t n)
{
    if (p == NULL)
        return malloc(n);
    if (n == 0) {
        free(p);
        return NULL;
    }
    return fail_now() ? NULL : __libc_realloc(p, n);
}

INTERPOSE void
free(void *p)
{
    if (p != NULL)
        live--;
    __libc_free(p);
}

INTERPOSE char *
strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    return d != NULL ? memcpy(d, s, n) : NULL;
}

INTERPOSE char *
strndup(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *d = malloc(n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

INTERPOSE int
posix_memalign(void **out, size_t align, size_t n)
{
    if (fail_now())
        return ENOMEM;
    void *p = counted_block(__libc_memalign(align, n));
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

INTERPOSE void *
aligned_alloc(size_t align, size_t n)
{
    return fail_now() ? NULL : counted_block(__libc_memalign(align, n));
}

INTERPOSE void *
memalign(size_t align, size_t n)
{
    return aligned_alloc(align, n);
}

/* Arm this thread to fail its nth allocation from now (0: count only). */
static void
arm(long nth)
{
    counted = 0;
    failed_one = false;
    countdown = nth;
    armed = true;
}

static void
disarm(void)
{
    armed = false;
}

/* ------------------------------------------------------------------------ */
/* The workload                                                             */
/* ------------------------------------------------------------------------ */

#define KEEP      "keep" /* the topic checked after the workload      */
#define TMP       "tmp"  /* a topic created, written and deleted      */
#define GROUP     "cg"   /* the consumer group                        */
#define QGROUP    "qg"   /* the share group                           */
#define PARTS     2      /* partitions of KEEP                        */
#define BATCHES   3      /* produce calls per partition               */
#define BATCH     3      /* records per produce call                  */
#define RETRIES   3      /* tries of one call before giving up        */
#define QRECEIVE  4      /* records the queue receives                */
#define COMMIT_AT 4      /* offset the consumer commits on partition 0 */

/* What the workload got acknowledged: what the store must hold after. */
typedef struct acked {
    int64_t end[PARTS];      /* records acknowledged per KEEP partition    */
    bool committed;          /* the consumer commit returned 0             */
    int32_t qpart[QRECEIVE]; /* records the queue accepted: partition   */
    int64_t qoff[QRECEIVE];  /* and offset                               */
    size_t nqdone;           /* how many                                   */
    bool tmp_deleted;        /* samsa_topic_delete(TMP) returned 0         */
    long injected;           /* the point this run failed (0: none)        */
} acked;

/* Fail the test with the workload disarmed (Check allocates too). */
#define WL_FAIL(a, fmt, ...)                                                   \
    do {                                                                       \
        disarm();                                                              \
        ck_abort_msg("injection point %ld: " fmt, (a)->injected, __VA_ARGS__); \
    } while (0)

/* A call's code must be 0 or SAMSA_ENOMEM. */
#define WL_RC(a, rc, what)                                                     \
    do {                                                                       \
        int wl_rc_ = (rc);                                                     \
        if (wl_rc_ != 0 && wl_rc_ != SAMSA_ENOMEM)                             \
            WL_FAIL(a, "%s: %s", what, samsa_strerror(wl_rc_));                \
    } while (0)

/* Try call up to RETRIES times while it fails with SAMSA_ENOMEM; rc gets
 * its last code, which must be 0 (one failure is injected per run). */
#define WL_TRY(a, rc, call, what)                                              \
    do {                                                                       \
        for (int wl_i_ = 0; wl_i_ < RETRIES; wl_i_++) {                        \
            (rc) = (call);                                                     \
            WL_RC(a, rc, what);                                                \
            if ((rc) == 0)                                                     \
                break;                                                         \
        }                                                                      \
        if ((rc) != 0)                                                         \
            WL_FAIL(a, "%s: still %s", what, samsa_strerror(rc));              \
    } while (0)

/* Produce BATCH records at a->end[p] of KEEP (or to TMP, p < 0). */
static int
produce_batch(samsa *s, acked *a, int p)
{
    int32_t part = p < 0 ? 0 : p;
    int64_t first = p < 0 ? 0 : a->end[p];
    test_grec g[BATCH];
    samsa_record r[BATCH];
    for (int i = 0; i < BATCH; i++) {
        test_gen(&g[i], first + i);
        r[i] = g[i].r;
    }
    int rc = samsa_produce(s, p < 0 ? TMP : KEEP, part, r, BATCH);
    for (int i = 0; i < BATCH; i++) {
        /* acknowledged at exactly the next offsets, or not at all */
        int64_t want = rc == 0 ? first + i : -1;
        if (r[i].offset != want)
            WL_FAIL(a, "produce rc %d: offset %lld, want %lld", rc,
                    (long long)r[i].offset, (long long)want);
    }
    if (rc == 0 && p >= 0)
        a->end[p] += BATCH;
    return rc;
}

/* Read KEEP-p from the start: exactly the acknowledged records. */
static int
read_partition(samsa *s, acked *a, int32_t p)
{
    samsa_cursor *c = NULL;
    samsa_message m;
    int rc = samsa_cursor_open(s, KEEP, p, SAMSA_OFFSET_BEGINNING, &c);
    for (int64_t o = 0; rc == 0 && o < a->end[p]; o++) {
        rc = samsa_cursor_next(c, &m, 0);
        const char *w = rc == 0 ? test_gen_mismatch(&m, o) : NULL;
        if (w != NULL)
            WL_FAIL(a, "%s-%d offset %lld: %s differs", KEEP, p, (long long)o,
                    w);
    }
    if (rc == 0) {
        rc = samsa_cursor_next(c, &m, 0);
        if (rc == SAMSA_ETIMEDOUT)
            rc = 0;
        else if (rc != SAMSA_ENOMEM)
            WL_FAIL(a, "past the end: %s", samsa_strerror(rc));
    }
    samsa_cursor_close(c);
    return rc;
}

/* Join GROUP, poll until every acknowledged record of KEEP came, commit
 * COMMIT_AT on partition 0 and leave. */
static int
consume(samsa *s, acked *a)
{
    samsa_consumer_config cc = {.group = GROUP,
                                .topics = (const char *const[]){KEEP, NULL},
                                .offset_reset = SAMSA_RESET_EARLIEST};
    samsa_consumer *c;
    int rc = samsa_consumer_open(s, &cc, &c);
    if (rc != 0)
        return rc;
    int64_t want = a->end[0] + a->end[1], got = 0;
    samsa_message m;
    while (rc == 0 && got < want)
        if ((rc = samsa_consumer_poll(c, &m, 2000)) == 0)
            got++;
    samsa_topic_partition tp = {.topic = KEEP, .offset = COMMIT_AT};
    if (rc == 0 && (rc = samsa_consumer_commit(c, &tp, 1)) == 0)
        a->committed = true;
    int rc2 = samsa_consumer_close(c);
    WL_RC(a, rc2, "samsa_consumer_close");
    return rc != 0 ? rc : rc2;
}

/* Receive records of KEEP through QGROUP, accepting each, until QRECEIVE
 * were accepted. */
static int
queue_work(samsa *s, acked *a)
{
    samsa_queue *q = NULL;
    int rc = samsa_queue_open(s, QGROUP, KEEP, NULL, &q);
    while (rc == 0 && a->nqdone < QRECEIVE) {
        samsa_delivery d;
        size_t n;
        if ((rc = samsa_queue_receive(q, &d, 1, &n, 0)) != 0)
            break;
        WL_TRY(a, rc, samsa_queue_ack(q, &d, 1, SAMSA_ACK_ACCEPT), "ack");
        a->qpart[a->nqdone] = d.msg.partition;
        a->qoff[a->nqdone++] = d.msg.offset;
    }
    samsa_queue_close(q);
    return rc;
}

/* The workload, with the nth allocation failing (0: none). */
static void
workload(const char *dir, long nth, acked *a)
{
    samsa_options opt = {.flags = SAMSA_OPEN_CREATE};
    samsa_topic_config cfg = test_small_cfg(PARTS, 0);
    samsa *s;
    int rc;
    memset(a, 0, sizeof *a);
    a->injected = nth;
    arm(nth);
    WL_TRY(a, rc, samsa_open(dir, &opt, &s), "samsa_open");
    WL_TRY(a, rc, samsa_topic_create(s, KEEP, &cfg), "topic_create " KEEP);
    WL_TRY(a, rc, samsa_topic_create(s, TMP, NULL), "topic_create " TMP);
    for (int b = 0; b < BATCHES; b++)
        for (int p = 0; p < PARTS; p++)
            WL_TRY(a, rc, produce_batch(s, a, p), "produce " KEEP);
    WL_TRY(a, rc, produce_batch(s, a, -1), "produce " TMP);
    for (int p = 0; p < PARTS; p++)
        WL_TRY(a, rc, read_partition(s, a, p), "cursor read");
    WL_TRY(a, rc, consume(s, a), "consumer");
    WL_TRY(a, rc, queue_work(s, a), "queue");
    WL_TRY(a, rc, samsa_topic_delete(s, TMP), "topic_delete " TMP);
    a->tmp_deleted = true;
    rc = samsa_close(s); /* once: the handle is gone whatever it says */
    WL_RC(a, rc, "samsa_close");
    disarm();
}

/* ------------------------------------------------------------------------ */
/* The check after                                                          */
/* ------------------------------------------------------------------------ */

static int
group_offset(const samsa_group_offset *o, void *ctx)
{
    int64_t *committed = ctx;
    ck_assert_str_eq(o->topic, KEEP);
    ck_assert_int_eq(o->partition, 0);
    *committed = o->committed;
    return 0;
}

/* Reopen dir without injection: exactly what a acknowledged. */
static void
check_store(const char *dir, const acked *a)
{
    samsa *s = test_open(dir);
    samsa_topic_config cfg;
    ck_assert_msg(a->tmp_deleted, "point %ld", a->injected);
    EQ_RC(samsa_topic_describe(s, TMP, &cfg), SAMSA_ENOTOPIC);
    E(samsa_topic_describe(s, KEEP, &cfg));
    ck_assert_int_eq(cfg.partitions, PARTS);
    for (int p = 0; p < PARTS; p++) {
        ck_assert_int_eq(a->end[p], BATCHES * BATCH);
        int64_t first, end;
        E(samsa_offsets(s, KEEP, p, &first, &end));
        ck_assert_int_eq(first, 0);
        ck_assert_int_eq(end, a->end[p]);
        test_read_range(s, KEEP, p, 0, end);
    }
    int64_t committed = -1;
    E(samsa_group_offsets(s, GROUP, group_offset, &committed));
    ck_assert_msg(a->committed && committed == COMMIT_AT,
                  "point %ld: committed %lld", a->injected,
                  (long long)committed);
    /* The accepted records never come back; every other one of KEEP does,
     * once (each stays acquired until the store closes). */
    samsa_queue *q;
    E(samsa_queue_open(s, QGROUP, KEEP, NULL, &q));
    bool seen[PARTS][BATCHES * BATCH] = {{false}};
    size_t got = 0;
    for (;;) {
        samsa_delivery d;
        size_t n;
        int rc = samsa_queue_receive(q, &d, 1, &n, 0);
        if (rc == SAMSA_ETIMEDOUT)
            break;
        E(rc);
        int32_t p = d.msg.partition;
        int64_t o = d.msg.offset;
        ck_assert_msg(!seen[p][o], "point %ld: %d/%lld twice", a->injected, p,
                      (long long)o);
        for (size_t i = 0; i < a->nqdone; i++)
            ck_assert_msg(a->qpart[i] != p || a->qoff[i] != o,
                          "point %ld: accepted %d/%lld delivered again",
                          a->injected, p, (long long)o);
        seen[p][o] = true;
        got++;
    }
    samsa_queue_close(q);
    ck_assert_uint_eq(a->nqdone, QRECEIVE);
    ck_assert_uint_eq(got, PARTS * BATCHES * BATCH - QRECEIVE);
    E(samsa_close(s));
}

/* The workload unarmed (counting), then once per allocation with it
 * failing; after each, the store holds what was acknowledged and every
 * block allocated during the run was freed. */
START_TEST(test_alloc_every_site)
{
    acked a;
    const char *dir = test_dir_make();
    workload(dir, 0, &a);
    long points = counted;
    check_store(dir, &a);
    test_dir_remove(dir);
    ck_assert_int_gt(points, 100); /* open alone allocates more */
    /* SAMSA_ALLOC_FROM=N starts at point N, to look at one */
    const char *from_env = getenv("SAMSA_ALLOC_FROM");
    long from = from_env != NULL ? atol(from_env) : 1, fired = 0;
    for (long n = from; n <= points; n++) {
        dir = test_dir_make();
        long before = live;
        workload(dir, n, &a);
        long after = live;
        fired += failed_one;
        ck_assert_msg(after == before, "point %ld: %ld blocks leaked", n,
                      after - before);
        check_store(dir, &a);
        test_dir_remove(dir);
    }
    /* Retries shift the numbering a little, but nearly every point is
     * reached: the count is the test's reach, printed for the log. */
    ck_assert_int_ge(fired, (points - from + 1) * 9 / 10);
    printf("alloc: %ld allocation sites of the workload failed in turn "
           "(%ld fired)\n",
           points, fired);
}
END_TEST

#else /* !ALLOC_HOOK */

START_TEST(test_alloc_every_site)
{
    printf("alloc: skipped: the sanitizer owns malloc, so the interposer "
           "is compiled out\n");
}
END_TEST

#endif

Suite *
alloc_suite(void)
{
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("alloc");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_alloc_every_site);
    suite_add_tcase(s, tc);
    return s;
}
