/*
 * check_rdonly.c - read-only handles (SAMSA_OPEN_RDONLY): what they see,
 * how they follow a writer in another process (and its SIGKILL and
 * restart), that they never change a byte, and that every write call is
 * refused with SAMSA_ERDONLY.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

static const samsa_options rdonly_opt = {.flags = SAMSA_OPEN_RDONLY};

static samsa *
open_rdonly(const char *dir)
{
    samsa *s = NULL;
    E(samsa_open(dir, &rdonly_opt, &s));
    return s;
}

/* Read records from..to-1 of topic-p through c, waiting up to wait_ms for
 * each. */
static void
read_gen(samsa_cursor *c, int64_t from, int64_t to, int wait_ms)
{
    samsa_message m;
    for (int64_t i = from; i < to; i++) {
        E(samsa_cursor_next(c, &m, wait_ms));
        TEST_CHECK_GEN(&m, i);
    }
}

START_TEST(test_rdonly_reads_and_follows)
{
    const char *dir = test_dir_make();
    samsa *w = test_open(dir);
    samsa_topic_config cfg = test_small_cfg(2, 0);
    E(samsa_topic_create(w, "t", &cfg));
    int64_t next0 = 0, next1 = 0;
    test_produce_upto(w, "t", 0, &next0, 300, 0); /* many segments */
    test_produce_upto(w, "t", 1, &next1, 40, 1);

    samsa *r = open_rdonly(dir);  /* beside the writer: no SAMSA_ELOCKED */
    samsa *r2 = open_rdonly(dir); /* and any number of them */
    int64_t first, end;
    E(samsa_offsets(r, "t", 0, &first, &end));
    ck_assert_int_eq(first, 0);
    ck_assert_int_eq(end, next0);
    samsa_cursor *c0, *c1, *c2;
    E(samsa_cursor_open(r, "t", 0, SAMSA_OFFSET_BEGINNING, &c0));
    E(samsa_cursor_open(r, "t", 1, 5, &c1));
    E(samsa_cursor_open(r2, "t", 0, SAMSA_OFFSET_END, &c2));
    ck_assert_int_eq(samsa_cursor_offset(c2), next0);
    read_gen(c0, 0, next0, 0);
    read_gen(c1, 5, next1, 0);
    samsa_message m;
    EQ_RC(samsa_cursor_next(c0, &m, 0), SAMSA_ETIMEDOUT);
    EQ_RC(samsa_cursor_next(c0, &m, 30), SAMSA_ETIMEDOUT);

    /* New records, across more rolls, are followed. */
    int64_t old0 = next0, old1 = next1;
    test_produce_upto(w, "t", 0, &next0, 700, 2);
    test_produce_upto(w, "t", 1, &next1, 60, 3);
    read_gen(c0, old0, next0, 1000);
    read_gen(c1, old1, next1, 1000);
    read_gen(c2, old0, next0, 1000);

    /* A topic created after the read-only open. */
    E(samsa_topic_create(w, "later", NULL));
    ck_assert_int_eq(test_produce_str(w, "later", 0, NULL, "x"), 0);
    usleep(60 * 1000); /* past the handle's last look at the catalog */
    samsa_store_stats st;
    E(samsa_stats(r, &st));
    ck_assert_uint_eq(st.topics, 2);
    ck_assert_int_eq(st.records, next0 + next1 + 1);
    samsa_cursor *cl;
    E(samsa_cursor_open(r, "later", 0, 0, &cl));
    E(samsa_cursor_next(cl, &m, 1000));
    ck_assert_int_eq(m.offset, 0);
    ck_assert_int_eq((int)m.value_len, 1);

    /* The writer goes away: what it acknowledged stays readable. */
    E(samsa_close(w));
    E(samsa_cursor_seek(c0, 123));
    read_gen(c0, 123, next0, 0);
    samsa_cursor_close(c0);
    samsa_cursor_close(c1);
    samsa_cursor_close(c2);
    samsa_cursor_close(cl);
    E(samsa_close(r2));

    /* A writer opens it again and deletes records, then the topic. */
    w = test_open(dir);
    E(samsa_delete_records(w, "t", 1, 30));
    usleep(120 * 1000); /* past the read-only handle's catalog look */
    E(samsa_offsets(r, "t", 1, &first, &end));
    ck_assert_int_eq(first, 30);
    ck_assert_int_eq(end, next1);
    E(samsa_cursor_open(r, "t", 1, SAMSA_OFFSET_BEGINNING, &c1));
    ck_assert_int_eq(samsa_cursor_offset(c1), 30);
    read_gen(c1, 30, next1, 0);
    E(samsa_topic_delete(w, "t"));
    EQ_RC(samsa_cursor_next(c1, &m, 2000), SAMSA_EDELETED);
    samsa_cursor_close(c1);
    EQ_RC(samsa_cursor_open(r, "t", 0, 0, &c1), SAMSA_ENOTOPIC);
    E(samsa_close(w));
    E(samsa_close(r));
    test_dir_remove(dir);
}
END_TEST

static int
count_topic(const char *name, void *ctx)
{
    (void)name;
    ++*(int *)ctx;
    return 0;
}

START_TEST(test_rdonly_write_calls_refused)
{
    const char *dir = test_dir_make();
    samsa *w = test_open(dir);
    E(samsa_topic_create(w, "t", NULL));
    ck_assert_int_eq(test_produce_str(w, "t", 0, "k", "v"), 0);
    samsa *r = open_rdonly(dir);
    samsa_record rec = {.value = "x", .value_len = 1};
    EQ_RC(samsa_produce(r, "t", 0, &rec, 1), SAMSA_ERDONLY);
    ck_assert_int_eq(rec.offset, -1);
    EQ_RC(samsa_topic_create(r, "u", NULL), SAMSA_ERDONLY);
    EQ_RC(samsa_topic_delete(r, "t"), SAMSA_ERDONLY);
    samsa_topic_config alter = {.retention_ms = 1000};
    EQ_RC(samsa_topic_alter(r, "t", &alter), SAMSA_ERDONLY);
    EQ_RC(samsa_topic_add_partitions(r, "t", 2), SAMSA_ERDONLY);
    EQ_RC(samsa_delete_records(r, "t", 0, 1), SAMSA_ERDONLY);
    EQ_RC(samsa_sync(r), SAMSA_ERDONLY);
    samsa_scrub_report rep;
    EQ_RC(samsa_scrub(r, NULL, &rep), SAMSA_ERDONLY);
    EQ_RC(samsa_replica_catchup(r, NULL), SAMSA_ERDONLY);
    samsa_producer *p = NULL;
    EQ_RC(samsa_producer_open(r, NULL, &p), SAMSA_ERDONLY);
    ck_assert_ptr_null(p);
    samsa_consumer_config cc = {.group = "g"};
    samsa_consumer *cons = NULL;
    EQ_RC(samsa_consumer_open(r, &cc, &cons), SAMSA_ERDONLY);
    ck_assert_ptr_null(cons);
    EQ_RC(samsa_group_reset(r, "g", "t", 0, SAMSA_RESET_TO_EARLIEST, 0),
          SAMSA_ERDONLY);
    EQ_RC(samsa_group_delete(r, "g"), SAMSA_ERDONLY);
    samsa_queue *q = NULL;
    EQ_RC(samsa_queue_open(r, "q", "t", NULL, &q), SAMSA_ERDONLY);
    ck_assert_ptr_null(q);
    ck_assert_str_eq(samsa_strerror(SAMSA_ERDONLY),
                     "SAMSA_ERDONLY: store is open read-only");
    /* What only reads works. */
    samsa_topic_config d;
    E(samsa_topic_describe(r, "t", &d));
    ck_assert_int_eq(d.partitions, 1);
    int n = 0;
    E(samsa_topic_foreach(r, count_topic, &n));
    ck_assert_int_eq(n, 1);
    int64_t first, end;
    E(samsa_offsets(r, "t", 0, &first, &end));
    ck_assert_int_eq(end, 1);
    /* Nothing changed for the writer either. */
    E(samsa_offsets(w, "t", 0, &first, &end));
    ck_assert_int_eq(end, 1);
    E(samsa_topic_describe(w, "t", &d));
    ck_assert_int_eq(d.retention_ms, 0);
    E(samsa_close(r));
    E(samsa_close(w));
    test_dir_remove(dir);
}
END_TEST

/* ---- a read-only session changes no byte -------------------------------- */

typedef struct sum_list {
    char path[64][TEST_PATH_BUF];
    uint64_t sum[64];
    long long size[64];
    size_t n;
} sum_list;

static uint64_t
fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* Every file under root (rel) but LMDB's lock.mdb: its path, size and
 * checksum, in readdir order sorted by the caller's comparison. */
static void
sum_tree(sum_list *l, const char *root, const char *rel)
{
    char path[2 * TEST_PATH_BUF + 2];
    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, "lock.mdb") == 0)
            continue;
        char sub[TEST_PATH_BUF], full[2 * TEST_PATH_BUF + 2];
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", root, sub);
        struct stat st;
        ck_assert_int_eq(lstat(full, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            sum_tree(l, root, sub);
            continue;
        }
        ck_assert_uint_lt(l->n, 64);
        size_t len;
        uint8_t *b = test_slurp(full, &len);
        snprintf(l->path[l->n], TEST_PATH_BUF, "%s", sub);
        l->sum[l->n] = fnv(b, len);
        l->size[l->n++] = (long long)len;
        free(b);
    }
    closedir(d);
}

static void
sums_equal(const sum_list *a, const sum_list *b)
{
    ck_assert_uint_eq(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        size_t j = 0;
        while (j < b->n && strcmp(a->path[i], b->path[j]) != 0)
            j++;
        ck_assert_msg(j < b->n, "%s is gone", a->path[i]);
        ck_assert_msg(a->size[i] == b->size[j] && a->sum[i] == b->sum[j],
                      "%s changed", a->path[i]);
    }
}

static int
count_group(const samsa_group_offset *o, void *ctx)
{
    (void)o;
    ++*(int *)ctx;
    return 0;
}

/* A read-only session that reads everything, waits at the end of a
 * partition (counted in its marker's waiters) and looks at the stats. */
static void
read_everything(const char *dir, const int64_t *ends)
{
    sum_list before = {0}, after = {0};
    sum_tree(&before, dir, "");
    samsa *r = open_rdonly(dir);
    for (int32_t p = 0; p < 3; p++) {
        int64_t first, end;
        E(samsa_offsets(r, "t", p, &first, &end));
        ck_assert_int_eq(first, 0);
        ck_assert_int_eq(end, ends[p]);
        samsa_cursor *c;
        E(samsa_cursor_open(r, "t", p, 0, &c));
        read_gen(c, 0, end, 0);
        samsa_message m;
        EQ_RC(samsa_cursor_next(c, &m, 60), SAMSA_ETIMEDOUT); /* waits */
        E(samsa_cursor_seek_time(c, test_gen_ts(50)));
        samsa_cursor_close(c);
    }
    int n = 0;
    E(samsa_group_offsets(r, "g", count_group, &n));
    ck_assert_int_eq(n, 1);
    samsa_store_stats st;
    E(samsa_stats(r, &st));
    ck_assert_int_eq((int)st.topics, 1);
    char *json = NULL;
    E(samsa_stats_json(r, &json));
    ck_assert_ptr_nonnull(strstr(json, "\"t\""));
    free(json);
    E(samsa_close(r));
    sum_tree(&after, dir, "");
    sums_equal(&before, &after);
}

START_TEST(test_rdonly_changes_nothing)
{
    const char *dir = test_dir_make();
    samsa *w = test_open(dir);
    samsa_topic_config cfg = test_small_cfg(3, 0);
    E(samsa_topic_create(w, "t", &cfg));
    int64_t ends[3] = {0};
    for (int32_t p = 0; p < 3; p++)
        test_produce_upto(w, "t", p, &ends[p], 100 + 37 * p, (size_t)p);
    E(samsa_group_reset(w, "g", "t", 0, SAMSA_RESET_TO_OFFSET, 7));
    E(samsa_close(w));
    /* No writer: a store at rest. */
    read_everything(dir, ends);
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_rdonly_open_errors)
{
    const char *dir = test_dir_make();
    char missing[TEST_PATH_BUF];
    test_pathf(missing, dir, "nothing/here");
    samsa *r = NULL;
    EQ_RC(samsa_open(missing, &rdonly_opt, &r), -ENOENT);
    ck_assert_ptr_null(r);
    ck_assert(!test_exists(missing));
    test_pathf(missing, dir, "nothing");
    ck_assert(!test_exists(missing));
    /* An empty directory is no store: nothing is made in it. */
    EQ_RC(samsa_open(dir, &rdonly_opt, &r), SAMSA_ENOTSTORE);
    DIR *d = opendir(dir);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d)) != NULL)
        entries += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    ck_assert_int_eq(entries, 0);
    samsa_options both = {.flags = SAMSA_OPEN_RDONLY | SAMSA_OPEN_CREATE};
    EQ_RC(samsa_open(dir, &both, &r), SAMSA_EINVAL);
    test_dir_remove(dir);
}
END_TEST

/* ---- waiting, and stores of other versions ------------------------------ */

/* The waiters word of topic-0's end marker (log.c, "The end marker"). */
static uint32_t
marker_waiters(const char *dir, const char *topic)
{
    char path[TEST_PATH_BUF], name[64];
    snprintf(name, sizeof name, "%s-0/samsa.end", topic);
    size_t len;
    uint8_t *b = test_slurp(test_pathf(path, dir, name), &len);
    ck_assert_uint_eq(len, 64);
    uint32_t w;
    memcpy(&w, b + 48, 4);
    free(b);
    return w;
}

static int64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct waiter {
    samsa_cursor *c;
    samsa_message m;
    int rc;
    _Atomic int64_t call_ns; /* when it called (mono_ns())            */
    _Atomic bool calling;    /* about to block in samsa_cursor_next() */
} waiter;

static void *
wait_main(void *arg)
{
    waiter *w = arg;
    atomic_store(&w->call_ns, mono_ns());
    atomic_store(&w->calling, true);
    w->rc = samsa_cursor_next(w->c, &w->m, -1);
    return NULL;
}

START_TEST(test_rdonly_waiter_counted_and_woken)
{
    const char *dir = test_dir_make();
    samsa *w = test_open(dir);
    E(samsa_topic_create(w, "t", NULL));
    samsa *r = open_rdonly(dir);
    waiter wt = {0};
    E(samsa_cursor_open(r, "t", 0, 0, &wt.c));
    ck_assert_uint_eq(marker_waiters(dir, "t"), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, wait_main, &wt), 0);
    /* The blocked cursor counts itself in the marker, so the writer's
     * publish wakes it. */
    for (int i = 0; i < 5000 && marker_waiters(dir, "t") == 0; i++)
        usleep(1000);
    ck_assert_uint_eq(marker_waiters(dir, "t"), 1);
    ck_assert_int_eq(test_produce_str(w, "t", 0, NULL, "woken"), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    E(wt.rc);
    ck_assert_int_eq(wt.m.offset, 0);
    ck_assert_int_eq((int)wt.m.value_len, 5);
    ck_assert_int_eq(memcmp(wt.m.value, "woken", 5), 0);
    ck_assert_uint_eq(marker_waiters(dir, "t"), 0);

    /* The writer restarts (its open zeroes the count, recovers, goes
     * on): the reader carries on from where it was. */
    E(samsa_close(w));
    w = test_open(dir);
    ck_assert_int_eq(test_produce_str(w, "t", 0, NULL, "again"), 1);
    E(samsa_cursor_next(wt.c, &wt.m, 2000));
    ck_assert_int_eq(wt.m.offset, 1);
    ck_assert_int_eq(memcmp(wt.m.value, "again", 5), 0);
    samsa_message m;
    EQ_RC(samsa_cursor_next(wt.c, &m, 0), SAMSA_ETIMEDOUT);
    samsa_cursor_close(wt.c);
    E(samsa_close(r));
    E(samsa_close(w));
    test_dir_remove(dir);
}
END_TEST

/* With spin_ns, a read-only reader first polls the marker's word and is
 * not counted while it does: the writer's publish that reaches it makes
 * no futex call.  The spin lasts until the store's first 50 ms look at
 * the catalog (follow.c), after which the reader is counted: a look at
 * the count is only telling when it came well inside that, which a
 * loaded machine (make check's TSan lane) does not always give.  So each
 * round that looked too late is another record and another wait, until
 * one round looks in time; there its count must be 0. */
START_TEST(test_rdonly_spinning_not_counted)
{
    const char *dir = test_dir_make();
    samsa *w = test_open(dir);
    E(samsa_topic_create(w, "t", NULL));
    samsa_options o = rdonly_opt;
    o.spin_ns = 1000000000; /* 1 s: longer than the test */
    samsa *r = NULL;
    E(samsa_open(dir, &o, &r));
    waiter wt = {0};
    E(samsa_cursor_open(r, "t", 0, 0, &wt.c));
    bool looked = false;
    for (int64_t i = 0; i < 50 && !looked; i++) {
        atomic_store(&wt.calling, false);
        pthread_t th;
        ck_assert_int_eq(pthread_create(&th, NULL, wait_main, &wt), 0);
        while (!atomic_load(&wt.calling))
            usleep(1000);
        usleep(10000); /* without a spin it is counted within a few us */
        uint32_t n = marker_waiters(dir, "t");
        /* well inside the 50 ms since the reader called */
        looked = mono_ns() - atomic_load(&wt.call_ns) < 30000000;
        if (looked)
            ck_assert_uint_eq(n, 0);
        ck_assert_int_eq(test_produce_str(w, "t", 0, NULL, "spun"), i);
        ck_assert_int_eq(pthread_join(th, NULL), 0);
        E(wt.rc);
        ck_assert_int_eq(wt.m.offset, i);
        ck_assert_mem_eq(wt.m.value, "spun", 4);
    }
    ck_assert_msg(looked, "no round looked at the count within 30 ms");
    samsa_cursor_close(wt.c);
    E(samsa_close(r));
    E(samsa_close(w));
    test_dir_remove(dir);
}
END_TEST

/* A read-only reader's wait polls once, not once per 50 ms slice between
 * its looks at the catalog (follow.c): a 230 ms wait with a 1 ms spin
 * begins one poll, where it began five. */
START_TEST(test_rdonly_spins_once_a_wait)
{
    const char *dir = test_dir_make();
    samsa *w = test_open(dir);
    E(samsa_topic_create(w, "t", NULL));
    samsa_options o = rdonly_opt;
    o.spin_ns = 1000000; /* 1 ms */
    samsa *r = NULL;
    E(samsa_open(dir, &o, &r));
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(r, "t", 0, 0, &c));
    uint64_t begun = samsa__spin_begun();
    EQ_RC(samsa_cursor_next(c, &m, 230), SAMSA_ETIMEDOUT);
    ck_assert_uint_eq(samsa__spin_begun(), begun + 1);
    samsa_cursor_close(c);
    E(samsa_close(r));
    E(samsa_close(w));
    test_dir_remove(dir);
}
END_TEST

/* A store in dir: topic t, one partition of small segments, records 0 ..
 * *next (at least upto). */
static samsa *
small_store(const char *dir, int64_t *next, int64_t upto)
{
    samsa *w = test_open(dir);
    samsa_topic_config cfg = test_small_cfg(1, 0);
    E(samsa_topic_create(w, "t", &cfg));
    *next = 0;
    test_produce_upto(w, "t", 0, next, upto, 0);
    return w;
}

/* The same, closed, with several segments: records 0 .. the offset
 * returned. */
static int64_t
closed_store(const char *dir)
{
    int64_t next;
    E(samsa_close(small_store(dir, &next, 90)));
    return next;
}

/* A read-only handle on dir finds t-0 from 0 to next, reads exactly
 * records [0, next) and no more, and changes no byte of any file. */
static void
rdonly_reads_exactly(const char *dir, int64_t next)
{
    sum_list before = {0}, after = {0};
    sum_tree(&before, dir, "");
    samsa *r = open_rdonly(dir);
    int64_t first, end;
    E(samsa_offsets(r, "t", 0, &first, &end));
    ck_assert_int_eq(first, 0);
    ck_assert_int_eq(end, next);
    samsa_cursor *c;
    E(samsa_cursor_open(r, "t", 0, 0, &c));
    read_gen(c, 0, next, 0);
    samsa_message m;
    EQ_RC(samsa_cursor_next(c, &m, 30), SAMSA_ETIMEDOUT);
    samsa_cursor_close(c);
    E(samsa_close(r));
    sum_tree(&after, dir, "");
    sums_equal(&before, &after);
}

/* A store whose partitions have no end marker (a version before it, or a
 * marker lost): what is whole and CRC-valid is read, a torn tail is not,
 * and nothing is cut or written. */
START_TEST(test_rdonly_no_marker)
{
    const char *dir = test_dir_make();
    int64_t next = closed_store(dir);
    char path[TEST_PATH_BUF];
    ck_assert_int_eq(unlink(test_pathf(path, dir, "t-0/samsa.end")), 0);
    /* A torn batch after the last one of the last segment. */
    int64_t bases[64];
    size_t n = test_seg_bases(dir, "t", 0, bases, 64);
    ck_assert_uint_ge(n, 2);
    char name[64];
    snprintf(name, sizeof name, "t-0/%020lld.log", (long long)bases[n - 1]);
    size_t len;
    uint8_t *b = test_slurp(test_pathf(path, dir, name), &len);
    ck_assert_uint_gt(len, 70);
    test_spew(path, b, 40, O_APPEND); /* the start of its first batch */
    free(b);
    rdonly_reads_exactly(dir, next);
    test_dir_remove(dir);
}
END_TEST

/* A marker whose end word is damaged (its seal fails), the writer
 * closed: the marker vouches for nothing, as when there is none, so the
 * reader sees what is whole and CRC-valid, every segment of it.  It used
 * to take the damaged word as an end of -1 and see no record at all, nor
 * open any segment past the first. */
START_TEST(test_rdonly_damaged_marker_word)
{
    const char *dir = test_dir_make();
    int64_t next = closed_store(dir);
    int64_t bases[64];
    ck_assert_uint_ge(test_seg_bases(dir, "t", 0, bases, 64), 2);
    /* One bit of the end word (offset 56; its seal is bits 48-63). */
    char path[TEST_PATH_BUF];
    int fd = open(test_pathf(path, dir, "t-0/samsa.end"), O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t b;
    ck_assert_int_eq(pread(fd, &b, 1, 56), 1);
    b ^= 1;
    ck_assert_int_eq(pwrite(fd, &b, 1, 56), 1);
    close(fd);
    rdonly_reads_exactly(dir, next);
    test_dir_remove(dir);
}
END_TEST

/* A marker that is not samsa's (its magic damaged, or a foreign file
 * under its name) whose end word still passes its seal: the reader must
 * not take the word's end, which here says 10 of 90 records and would
 * hide the other 80, but read what is whole, as with no marker.  It once
 * read the word whatever the magic said. */
START_TEST(test_rdonly_marker_not_ours)
{
    const char *dir = test_dir_make();
    int64_t next;
    samsa *w = small_store(dir, &next, 10);
    char path[TEST_PATH_BUF];
    test_pathf(path, dir, "t-0/samsa.end");
    uint8_t early[64]; /* the marker at end 10: a sealed word */
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, early, sizeof early, 0), (ssize_t)sizeof early);
    close(fd);
    ck_assert_mem_eq(early, "SAMSAEND", 8);
    test_produce_upto(w, "t", 0, &next, 90, 0);
    E(samsa_close(w));
    memcpy(early, "samsaend", 8);
    fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, early, sizeof early, 0), (ssize_t)sizeof early);
    close(fd);
    rdonly_reads_exactly(dir, next);
    test_dir_remove(dir);
}
END_TEST

/* The marker of t-0 in dir: its 64 bytes into b, or b into it (put). */
static void
marker_bytes(const char *dir, uint8_t b[64], bool put)
{
    char path[TEST_PATH_BUF];
    int fd =
        open(test_pathf(path, dir, "t-0/samsa.end"), put ? O_WRONLY : O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(put ? pwrite(fd, b, 64, 0) : pread(fd, b, 64, 0), 64);
    close(fd);
}

/* A sealed marker whose end falls inside a batch (8 records at 8..15,
 * the marker saying 12): a writer never publishes one, so it is damage
 * or forged.  The reader must not hand out records the end does not
 * cover: it once entered the batch below the end and returned all of
 * it, 12..15 included.  The batch shows once an end covers it. */
START_TEST(test_rdonly_marker_inside_a_batch)
{
    const char *dir = test_dir_make(), *other = test_dir_make();
    samsa_topic_config cfg = test_small_cfg(1, 0);
    samsa *w = test_open(other); /* a marker word at 12, one per call */
    E(samsa_topic_create(w, "t", &cfg));
    for (int64_t i = 0; i < 12; i++)
        test_produce_gen(w, "t", 0, i, 1);
    E(samsa_close(w));
    uint8_t at12[64], at16[64];
    marker_bytes(other, at12, false);
    w = test_open(dir);
    E(samsa_topic_create(w, "t", &cfg));
    test_produce_gen(w, "t", 0, 0, 8);
    test_produce_gen(w, "t", 0, 8, 8);
    E(samsa_close(w));
    marker_bytes(dir, at16, false);
    ck_assert_mem_ne(at12 + 56, at16 + 56, 8);
    marker_bytes(dir, at12, true);

    samsa *r = open_rdonly(dir);
    int64_t first, end;
    E(samsa_offsets(r, "t", 0, &first, &end));
    ck_assert_int_eq(first, 0);
    ck_assert_int_eq(end, 8);
    samsa_cursor *c;
    E(samsa_cursor_open(r, "t", 0, 0, &c));
    read_gen(c, 0, 8, 0);
    samsa_message m;
    EQ_RC(samsa_cursor_next(c, &m, 30), SAMSA_ETIMEDOUT);
    ck_assert_int_eq(samsa_cursor_offset(c), 8);
    marker_bytes(dir, at16, true); /* the end the writer left */
    read_gen(c, 8, 16, 2000);
    EQ_RC(samsa_cursor_next(c, &m, 30), SAMSA_ETIMEDOUT);
    samsa_cursor_close(c);
    E(samsa_close(r));
    test_dir_remove(dir);
    test_dir_remove(other);
}
END_TEST

/* Something that is not a regular file under a segment's name, inside
 * the partition's offsets: a directory, a FIFO.  Neither is samsa's, so
 * neither is opened as a segment nor removed.  The writer's open and a
 * read-only handle's lookups say what it is (-EISDIR, SAMSA_ECORRUPT):
 * the read-only handle said SAMSA_ENOTOPIC (the topic did not load), and
 * a FIFO made its open wait for a writer of the FIFO, for ever. */
START_TEST(test_not_a_file_under_a_segment_name)
{
    static const struct {
        bool fifo;
        int rc;
    } kinds[] = {{false, -EISDIR}, {true, SAMSA_ECORRUPT}};
    for (size_t k = 0; k < 2; k++) {
        const char *dir = test_dir_make();
        int64_t next;
        E(samsa_close(small_store(dir, &next, 10)));
        char path[TEST_PATH_BUF], name[64];
        /* at the end: a name inside the records is refused before its
         * file is opened (check_damage.c) */
        snprintf(name, sizeof name, "t-0/%020lld.log", (long long)next);
        test_pathf(path, dir, name);
        if (kinds[k].fifo)
            ck_assert_int_eq(mkfifo(path, 0644), 0);
        else
            ck_assert_int_eq(mkdir(path, 0755), 0);
        samsa *s = NULL;
        EQ_RC(samsa_open(dir, NULL, &s), kinds[k].rc);
        ck_assert_ptr_null(s);
        samsa *r = open_rdonly(dir);
        samsa_cursor *c;
        samsa_topic_config cfg;
        EQ_RC(samsa_cursor_open(r, "t", 0, 0, &c), kinds[k].rc);
        EQ_RC(samsa_topic_describe(r, "t", &cfg), kinds[k].rc);
        EQ_RC(samsa_topic_describe(r, "other", &cfg), SAMSA_ENOTOPIC);
        E(samsa_close(r));
        struct stat st;
        ck_assert_int_eq(lstat(path, &st), 0); /* left where it was */
        ck_assert(kinds[k].fifo ? S_ISFIFO(st.st_mode) : S_ISDIR(st.st_mode));
        test_dir_remove(dir);
    }
}
END_TEST

/* Segments named near INT64_MAX (a name is all a read-only handle has to
 * go by) whose .index has an entry past the largest offset: the walk of
 * the segment before each name added the entry's offset to the base, a
 * signed overflow (UBSan stops the run).  The entry names no batch: the
 * walk starts at the segment's first byte, where the batch there is not
 * the segment's, and the names stand, as the writer's open takes them. */
START_TEST(test_rdonly_index_past_the_largest_offset)
{
    const char *dir = test_dir_make();
    int64_t next = closed_store(dir);
    char path[TEST_PATH_BUF], name[64];
    ck_assert_int_eq(unlink(test_pathf(path, dir, "t-0/samsa.end")), 0);
    size_t len;
    uint8_t *b =
        test_slurp(test_pathf(path, dir, "t-0/00000000000000000000.log"), &len);
    uint32_t blen = (uint32_t)b[8] << 24 | (uint32_t)b[9] << 16 |
                    (uint32_t)b[10] << 8 | b[11];
    const int64_t huge[] = {INT64_MAX - 100, INT64_MAX - 50};
    snprintf(name, sizeof name, "t-0/%020lld.log", (long long)huge[0]);
    test_spew(test_pathf(path, dir, name), b, 12 + blen, O_EXCL);
    static const uint8_t entry[8] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    snprintf(name, sizeof name, "t-0/%020lld.index", (long long)huge[0]);
    test_spew(test_pathf(path, dir, name), entry, sizeof entry, O_EXCL);
    snprintf(name, sizeof name, "t-0/%020lld.log", (long long)huge[1]);
    test_spew(test_pathf(path, dir, name), NULL, 0, O_EXCL);
    free(b);
    samsa *r = open_rdonly(dir);
    int64_t first, end;
    E(samsa_offsets(r, "t", 0, &first, &end));
    ck_assert_int_eq(first, 0);
    ck_assert_int_eq(end, huge[1]); /* the last segment, empty */
    samsa_cursor *c;
    E(samsa_cursor_open(r, "t", 0, 0, &c));
    read_gen(c, 0, next, 0);
    samsa_message m;
    /* past the records: the offsets up to the next name are missing */
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ECORRUPT);
    samsa_cursor_close(c);
    E(samsa_close(r));
    test_dir_remove(dir);
}
END_TEST

/* Records missing before a last segment that holds none yet (a power cut
 * lost the end of the segment before, a roll's new file stayed; no
 * marker vouches for anything): a cursor reaching the missing offsets is
 * told SAMSA_ECORRUPT, as on the writer's log.  It went round for good:
 * past the segment before, the empty last one, then back (the fallback
 * for a last segment mapped again took the segment before, not the same
 * file). */
START_TEST(test_rdonly_missing_before_an_empty_last)
{
    const char *dir = test_dir_make();
    int64_t next;
    E(samsa_close(small_store(dir, &next, 200)));
    char path[TEST_PATH_BUF], name[64];
    ck_assert_int_eq(unlink(test_pathf(path, dir, "t-0/samsa.end")), 0);
    int64_t bases[64];
    size_t n = test_seg_bases(dir, "t", 0, bases, 64);
    ck_assert_uint_ge(n, 3);
    static const char *const ext[] = {".log", ".index", ".timeindex"};
    for (int k = 0; k < 3; k++) { /* the one before the last: gone */
        snprintf(name, sizeof name, "t-0/%020lld%s", (long long)bases[n - 2],
                 ext[k]);
        ck_assert_int_eq(unlink(test_pathf(path, dir, name)), 0);
    }
    snprintf(name, sizeof name, "t-0/%020lld.log", (long long)bases[n - 1]);
    ck_assert_int_eq(truncate(test_pathf(path, dir, name), 0), 0);
    samsa *r = open_rdonly(dir);
    int64_t first, end;
    E(samsa_offsets(r, "t", 0, &first, &end));
    ck_assert_int_eq(first, 0);
    ck_assert_int_eq(end, bases[n - 1]);
    ck_assert_int_lt(end, next);
    samsa_cursor *c;
    E(samsa_cursor_open(r, "t", 0, 0, &c));
    read_gen(c, 0, bases[n - 2], 0);
    samsa_message m;
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ECORRUPT);
    E(samsa_cursor_seek(c, bases[n - 2] + 1));
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ECORRUPT);
    samsa_cursor_close(c);
    E(samsa_close(r));
    test_dir_remove(dir);
}
END_TEST

/* ---- a writer process, reader processes, a SIGKILL -------------------- */

#define PARTS   4
#define READERS 4

static long
follow_records(void)
{
    return test_long() ? 20000 : 1500;
}

/* The writer: from each partition's end, record i at offset i, until every
 * partition holds total; small batches, round robin.  Exit 0 when done. */
static void
writer_main(const char *dir, long total)
{
    samsa *w;
    if (samsa_open(dir, NULL, &w) != 0)
        _exit(10);
    int64_t next[PARTS];
    for (int p = 0; p < PARTS; p++)
        if (samsa_offsets(w, "t", p, NULL, &next[p]) != 0)
            _exit(11);
    for (size_t k = 0;; k++) {
        bool done = true;
        for (int p = 0; p < PARTS; p++) {
            if (next[p] >= total)
                continue;
            done = false;
            test_grec g[TEST_GEN_MAXB];
            samsa_record recs[TEST_GEN_MAXB];
            size_t n = 1 + (k + (size_t)p) % 5;
            if (next[p] + (int64_t)n > total)
                n = (size_t)(total - next[p]);
            for (size_t i = 0; i < n; i++) {
                test_gen(&g[i], next[p] + (int64_t)i);
                recs[i] = g[i].r;
            }
            if (samsa_produce(w, "t", p, recs, n) != 0 ||
                recs[0].offset != next[p])
                _exit(12);
            next[p] += (int64_t)n;
        }
        if (done)
            break;
        if (k % 16 == 0)
            usleep(200); /* a pace readers sometimes catch up with */
    }
    _exit(samsa_close(w) == 0 ? 0 : 13);
}

/* A reader: every partition from 0 to total, each record exactly once,
 * in order, exactly as written.  Exit 0 when all are read. */
static void
reader_main(const char *dir, long total)
{
    alarm(120);
    samsa *r;
    if (samsa_open(dir, &rdonly_opt, &r) != 0)
        _exit(20);
    samsa_cursor *c[PARTS];
    for (int p = 0; p < PARTS; p++)
        if (samsa_cursor_open(r, "t", p, 0, &c[p]) != 0)
            _exit(21);
    int64_t next[PARTS] = {0};
    for (int left = PARTS; left > 0;) {
        for (int p = 0; p < PARTS; p++) {
            if (next[p] >= total)
                continue;
            samsa_message m;
            for (int i = 0; i < 64 && next[p] < total; i++) {
                int rc = samsa_cursor_next(c[p], &m, i == 0 ? 5 : 0);
                if (rc == SAMSA_ETIMEDOUT)
                    break;
                const char *why = rc != 0 ? samsa_strerror(rc)
                                          : test_gen_mismatch(&m, next[p]);
                if (why != NULL) {
                    fprintf(stderr, "reader: p%d offset %lld: %s\n", p,
                            (long long)next[p], why);
                    _exit(22);
                }
                next[p]++;
            }
            if (next[p] >= total)
                left--;
        }
    }
    for (int p = 0; p < PARTS; p++) { /* and nothing more */
        samsa_message m;
        if (samsa_cursor_next(c[p], &m, 0) != SAMSA_ETIMEDOUT)
            _exit(23);
        samsa_cursor_close(c[p]);
    }
    _exit(samsa_close(r) == 0 ? 0 : 24);
}

static pid_t
spawn(void (*fn)(const char *, long), const char *dir, long total)
{
    pid_t pid = test_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        fn(dir, total);
    return pid;
}

static int
exit_code(pid_t pid)
{
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(test_rdonly_processes_follow_a_killed_writer)
{
    const char *dir = test_dir_make();
    long total = follow_records();
    samsa *w = test_open(dir);
    samsa_topic_config cfg = test_small_cfg(PARTS, 0);
    E(samsa_topic_create(w, "t", &cfg));
    E(samsa_close(w));
    pid_t readers[READERS];
    for (int i = 0; i < READERS; i++)
        readers[i] = spawn(reader_main, dir, total);
    pid_t wr = spawn(writer_main, dir, total);
    /* Kill the writer mid-run, as seen through a read-only handle. */
    samsa *r = open_rdonly(dir);
    int64_t end = 0;
    for (int i = 0; i < 20000 && end < total / 3; i++) {
        E(samsa_offsets(r, "t", PARTS - 1, NULL, &end));
        usleep(500);
    }
    ck_assert_int_ge(end, total / 3);
    ck_assert_int_lt(end, total); /* mid-run: the kill lands in the middle */
    kill(wr, SIGKILL);
    ck_assert_int_eq(exit_code(wr), 128 + SIGKILL);
    wr = spawn(writer_main, dir, total); /* recovers, carries on */
    ck_assert_int_eq(exit_code(wr), 0);
    for (int i = 0; i < READERS; i++)
        ck_assert_int_eq(exit_code(readers[i]), 0);
    for (int p = 0; p < PARTS; p++) {
        E(samsa_offsets(r, "t", p, NULL, &end));
        ck_assert_int_eq(end, total);
    }
    E(samsa_close(r));
    test_dir_remove(dir);
}
END_TEST

/* Records deleted below a follower that had not looked yet: the start it
 * learns from the catalog is past the end it knew (it once aborted on an
 * assertion); and a follower behind retention, whose next segment is
 * gone, gets SAMSA_EOFFSET and carries on from the start (it once got
 * SAMSA_ECORRUPT for ever). */
START_TEST(test_rdonly_behind_deletion)
{
    const char *dir = test_dir_make();
    int64_t next;
    samsa *w = small_store(dir, &next, 10);
    samsa *r = open_rdonly(dir);
    int64_t first, end;
    E(samsa_offsets(r, "t", 0, &first, &end));
    ck_assert_int_eq(end, next);
    int64_t mid = next;
    test_produce_upto(w, "t", 0, &next, mid + 10, 0);
    E(samsa_delete_records(w, "t", 0, mid + 5));
    struct timespec pause = {0, 120 * 1000000L}; /* past a catalog look */
    nanosleep(&pause, NULL);
    samsa_cursor *c;
    EQ_RC(samsa_cursor_open(r, "t", 0, 0, &c), SAMSA_EOFFSET);
    E(samsa_cursor_open(r, "t", 0, SAMSA_OFFSET_BEGINNING, &c));
    ck_assert_int_eq(samsa_cursor_offset(c), mid + 5);
    read_gen(c, mid + 5, next, 1000);

    /* Now the cursor stays where it is while retention removes whole
     * segments past it. */
    int64_t at = samsa_cursor_offset(c);
    test_produce_upto(w, "t", 0, &next, next + 200, 0);
    E(samsa_delete_records(w, "t", 0, next - 20));
    nanosleep(&pause, NULL);
    samsa_message m;
    int rc = samsa_cursor_next(c, &m, 1000);
    ck_assert_msg(rc == SAMSA_EOFFSET, "at %lld: %s", (long long)at,
                  samsa_strerror(rc));
    E(samsa_cursor_seek(c, SAMSA_OFFSET_BEGINNING));
    ck_assert_int_eq(samsa_cursor_offset(c), next - 20);
    read_gen(c, next - 20, next, 1000);
    E(samsa_cursor_close(c));
    E(samsa_close(r));
    E(samsa_close(w));
    test_dir_remove(dir);
}
END_TEST

/* A segment cut short below the marker's end (by hand, or a power cut
 * that kept the marker's page and lost the file's size): the follower
 * does not take the batch past the end of the file (a cursor would get
 * SIGBUS reading it through the mapping), and does not spin on it. */
START_TEST(test_rdonly_file_cut_short)
{
    const char *dir = test_dir_make();
    samsa *w = test_open(dir);
    samsa_topic_config cfg = {.max_message_bytes = 1 << 20};
    E(samsa_topic_create(w, "t", &cfg));
    static char big[200000];
    memset(big, 'x', sizeof big);
    samsa_record rec = {.value = big, .value_len = sizeof big};
    E(samsa_produce(w, "t", 0, &rec, 1));
    E(samsa_close(w));
    char path[TEST_PATH_BUF];
    snprintf(path, sizeof path, "%s/t-0/%020d.log", dir, 0);
    ck_assert_int_eq(truncate(path, 8192), 0);
    samsa *r = open_rdonly(dir);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(r, "t", 0, 0, &c));
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
    EQ_RC(samsa_cursor_next(c, &m, 50), SAMSA_ETIMEDOUT);
    E(samsa_cursor_close(c));
    E(samsa_close(r));
    test_dir_remove(dir);
}
END_TEST

/* A topic altered while a follower reads it: the cursor goes on with the
 * same partition, so it reads batches larger than the old config allowed
 * and learns of the topic's deletion (it once kept a stale copy: stuck
 * at the old view's end, and never told of the deletion). */
START_TEST(test_rdonly_altered_topic)
{
    const char *dir = test_dir_make();
    samsa *w = test_open(dir);
    samsa_topic_config cfg = {.segment_bytes = 1 << 20,
                              .max_message_bytes = 4096};
    E(samsa_topic_create(w, "t", &cfg));
    int64_t next = 0;
    test_produce_upto(w, "t", 0, &next, 20, 0);
    samsa *r = open_rdonly(dir);
    samsa_cursor *c;
    E(samsa_cursor_open(r, "t", 0, 0, &c));
    read_gen(c, 0, next, 1000);
    samsa_topic_config bigger = {.segment_bytes = 64 << 20,
                                 .max_message_bytes = 1 << 20};
    E(samsa_topic_alter(w, "t", &bigger));
    static char v[200000];
    memset(v, 'v', sizeof v);
    samsa_message m;
    for (int i = 0; i < 8; i++) { /* past the old view: 1 MiB + 4 KiB */
        samsa_record rec = {.value = v, .value_len = sizeof v};
        E(samsa_produce(w, "t", 0, &rec, 1));
        E(samsa_cursor_next(c, &m, 2000));
        ck_assert_int_eq(m.offset, next + i);
        ck_assert_uint_eq(m.value_len, sizeof v);
    }
    samsa_topic_config keep = {.retention_ms = 3600000};
    E(samsa_topic_alter(w, "t", &keep));
    E(samsa_topic_delete(w, "t"));
    EQ_RC(samsa_cursor_next(c, &m, 2000), SAMSA_EDELETED);
    E(samsa_cursor_close(c));
    E(samsa_close(r));
    E(samsa_close(w));
    test_dir_remove(dir);
}
END_TEST

Suite *
rdonly_suite(void)
{
    Suite *s = suite_create("rdonly");
    TCase *tc = tcase_create("rdonly");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_rdonly_reads_and_follows);
    tcase_add_test(tc, test_rdonly_write_calls_refused);
    tcase_add_test(tc, test_rdonly_changes_nothing);
    tcase_add_test(tc, test_rdonly_open_errors);
    tcase_add_test(tc, test_rdonly_waiter_counted_and_woken);
    tcase_add_test(tc, test_rdonly_spinning_not_counted);
    tcase_add_test(tc, test_rdonly_spins_once_a_wait);
    tcase_add_test(tc, test_rdonly_no_marker);
    tcase_add_test(tc, test_rdonly_damaged_marker_word);
    tcase_add_test(tc, test_rdonly_marker_not_ours);
    tcase_add_test(tc, test_rdonly_marker_inside_a_batch);
    tcase_add_test(tc, test_not_a_file_under_a_segment_name);
    tcase_add_test(tc, test_rdonly_processes_follow_a_killed_writer);
    tcase_add_test(tc, test_rdonly_behind_deletion);
    tcase_add_test(tc, test_rdonly_file_cut_short);
    tcase_add_test(tc, test_rdonly_altered_topic);
    tcase_add_test(tc, test_rdonly_index_past_the_largest_offset);
    tcase_add_test(tc, test_rdonly_missing_before_an_empty_last);
    suite_add_tcase(s, tc);
    return s;
}
