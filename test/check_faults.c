/*
 * check_faults.c - the engine under a failing disk, through faultio
 * (test/faultio.h): writes that fail or come up short, allocation that runs
 * out of space, segment rolls and topic creates that break at every step,
 * fdatasync failures (the partition stops until the store is reopened), and
 * power cuts that drop or tear every write not yet synced.
 *
 * The common check: a call that fails changes nothing a reader can see,
 * the offsets of the failed batch are handed to the next one, and after a
 * reopen with plain POSIX I/O every acknowledged record is there, intact,
 * with nothing but whole records around it.
 *
 * The store's flusher thread syncs sealed segments in the background once a
 * second, and its calls go through faultio too.  So before arming a fault
 * that counts calls, a test calls samsa_sync(): with every segment synced
 * the flusher makes no I/O call, and the fault fires where the test means.
 *
 * Every record is a pure function of its offset (test_gen(), test/gen.c),
 * so whatever a cursor returns can be checked in full.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "faultio.h"
#include "test.h"

/* lib/store/store.h: open a store with a given I/O layer.  (Declared here
 * rather than by including store.h, whose type names clash with the names used
 * below.) */
int samsa__open_io(const char *dir, const samsa_options *opt, samsa_io *io,
                   samsa **out);

/* ------------------------------------------------------------------------ */
/* Records (test_gen(), test/gen.c) and the checks on them                 */
/* ------------------------------------------------------------------------ */

static int64_t
log_end(samsa *s, const char *topic, int32_t p)
{
    int64_t first = -7, end = -7;
    E(samsa_offsets(s, topic, p, &first, &end));
    ck_assert_int_eq(first, 0);
    return end;
}

/* The partition holds exactly test_gen(0..end-1), end being its log end. */
static void
check_exact(samsa *s, const char *topic, int32_t p, int64_t end)
{
    ck_assert_int_eq(log_end(s, topic, p), end);
    test_read_range(s, topic, p, 0, end);
}

/* A store on dir whose file I/O goes through fi. */
static samsa *
open_faulty(const char *dir, faultio *fi, int sync)
{
    samsa_options o = {.sync = sync};
    samsa *s = NULL;
    E(samsa__open_io(dir, &o, faultio_io(fi), &s));
    ck_assert_ptr_nonnull(s);
    return s;
}

/* A new directory (*dir), a store on it whose I/O goes through a new
 * faultio (*fi) with the store-wide sync policy sync, and topic "t" of
 * test_small_cfg(partitions, tsync). */
static samsa *
faulty_t(const char **dir, faultio **fi, int sync, int32_t partitions,
         int tsync)
{
    *dir = test_dir_make();
    *fi = faultio_new();
    samsa *s = open_faulty(*dir, *fi, sync);
    samsa_topic_config cfg = test_small_cfg(partitions, tsync);
    E(samsa_topic_create(s, "t", &cfg));
    return s;
}

/* Reopen dir with plain I/O: t-p holds exactly records 0..end-1. */
static void
reopen_exact(const char *dir, int32_t p, int64_t end)
{
    samsa *s = test_open(dir);
    check_exact(s, "t", p, end);
    E(samsa_close(s));
}

/* The end of a test: t-0 holds exactly records 0..end-1 before s is closed
 * (and fi freed) and after dir is reopened with plain I/O; dir is removed. */
static void
finish_exact(samsa *s, faultio *fi, const char *dir, int64_t end)
{
    check_exact(s, "t", 0, end);
    E(samsa_close(s));
    faultio_free(fi);
    reopen_exact(dir, 0, end);
    test_dir_remove(dir);
}

/* After a failed sync: t-0 holds exactly records 0..end-1, and closing s
 * reports the failure; fi is freed. */
static void
close_failed(samsa *s, faultio *fi, int64_t end)
{
    check_exact(s, "t", 0, end);
    ck_assert_int_ne(samsa_close(s), 0);
    faultio_free(fi);
}

/* Reopen dir with plain I/O: t-0 holds exactly records 0..*next-1 and takes
 * one more at *next, which is there before the close and after another
 * reopen. */
static void
reopen_extend(const char *dir, int64_t *next)
{
    samsa *s = test_open(dir);
    check_exact(s, "t", 0, *next);
    test_produce_next(s, "t", 0, next, 1);
    check_exact(s, "t", 0, *next);
    E(samsa_close(s));
    reopen_exact(dir, 0, *next);
}

/* t-0 ends at end and takes writes again, densely: two more records there,
 * read back before s is closed and after dir is reopened with plain I/O. */
static void
close_writable(samsa *s, const char *dir, int64_t end)
{
    test_produce_gen(s, "t", 0, end, 2);
    test_read_range(s, "t", 0, 0, end + 2);
    E(samsa_close(s));
    reopen_exact(dir, 0, end + 2);
}

/* ------------------------------------------------------------------------ */
/* Files                                                                    */
/* ------------------------------------------------------------------------ */

/* Bytes of whole batches in the active segment of dir/topic-p (its file
 * ends in preallocated zeros, which stop the walk). */
static uint64_t
active_size(const char *dir, const char *topic, int p)
{
    int64_t bases[512];
    size_t nb = test_seg_bases(dir, topic, p, bases, 512);
    char path[TEST_PATH_BUF];
    int len = snprintf(path, sizeof path, "%s/%s-%d/%020lld.log", dir, topic, p,
                       (long long)bases[nb - 1]);
    ck_assert(len > 0 && len < TEST_PATH_BUF);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    uint64_t pos = 0;
    uint8_t h[12];
    while (pread(fd, h, sizeof h, (off_t)pos) == (ssize_t)sizeof h &&
           test_be32(h + 8) != 0)
        pos += 12 + test_be32(h + 8);
    close(fd);
    return pos;
}

/* Bytes the batch test_gen(first..first+n-1) takes. */
static size_t
gen_batch_size(int64_t first, size_t n)
{
    test_grec g[TEST_GEN_MAXB];
    samsa_record *ptrs[TEST_GEN_MAXB];
    size_t bodies[TEST_GEN_MAXB];
    for (size_t j = 0; j < n; j++) {
        test_gen(&g[j], first + (int64_t)j);
        ptrs[j] = &g[j].r;
    }
    return batch_encoded_size(ptrs, n, bodies);
}

/* Produce single records until a batch of n more would roll the active
 * segment. */
static void
fill_to_roll(samsa *s, const char *dir, const char *topic, int32_t p,
             int64_t *next, size_t n)
{
    for (;;) {
        uint64_t used = active_size(dir, topic, p);
        if (used > 0 && used + gen_batch_size(*next, n) > TEST_SEGMENT_BYTES)
            return;
        test_produce_next(s, topic, p, next, 1);
    }
}

/* Produce single records until a batch of n more fits in the active
 * segment without a roll. */
static void
fill_to_fit(samsa *s, const char *dir, const char *topic, int32_t p,
            int64_t *next, size_t n)
{
    for (;;) {
        uint64_t used = active_size(dir, topic, p);
        if (used == 0 || used + gen_batch_size(*next, n) <= TEST_SEGMENT_BYTES)
            return;
        test_produce_next(s, topic, p, next, 1);
    }
}

/* ------------------------------------------------------------------------ */
/* Failing writes                                                           */
/* ------------------------------------------------------------------------ */

/* A write of the batch fails (EIO, ENOSPC) or comes up short, mid-segment
 * or as the first write after a roll: produce fails with the matching code,
 * nothing of the batch is visible, the next batch gets its offsets, and
 * after a reopen exactly the acknowledged records are there. */
START_TEST(test_write_faults)
{
    static const struct {
        int err;      /* errno, or 0 for a short write                   */
        size_t keep;  /* a short write's bytes                           */
        bool at_roll; /* the first write into a new segment              */
        int want;
    } v[] = {
        {EIO, 0, false, SAMSA_EIO},       {ENOSPC, 0, false, SAMSA_ENOSPC},
        {EDQUOT, 0, false, SAMSA_ENOSPC}, {0, 0, false, SAMSA_EIO},
        {0, 7, false, SAMSA_EIO},         {0, 100, false, SAMSA_EIO},
        {EIO, 0, true, SAMSA_EIO},        {ENOSPC, 0, true, SAMSA_ENOSPC},
        {0, 61, true, SAMSA_EIO},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        const char *dir;
        faultio *fi;
        samsa *s = faulty_t(&dir, &fi, 0, 1, 0);
        int64_t next = 0;
        test_produce_upto(s, "t", 0, &next, 10, 0);
        if (v[i].at_roll)
            fill_to_roll(s, dir, "t", 0, &next, 3);
        ck_assert_uint_lt(v[i].keep, gen_batch_size(next, 3));
        int64_t bases[64];
        size_t nsegs = test_seg_bases(dir, "t", 0, bases, 64);
        E(samsa_sync(s));

        faultio_filter(fi, ".log");
        if (v[i].err != 0)
            faultio_fail(fi, FAULTIO_WRITE, 1, v[i].err, false);
        else
            faultio_short_write(fi, 1, v[i].keep);
        test_produce_gen_rc(s, "t", 0, next, 3, v[i].want);
        ck_assert_uint_eq(faultio_injected(fi), 1);
        check_exact(s, "t", 0, next);
        ck_assert_uint_eq(test_seg_bases(dir, "t", 0, bases, 64),
                          nsegs + (v[i].at_roll ? 1 : 0));

        faultio_clear(fi);
        faultio_filter(fi, NULL);
        test_produce_next(s, "t", 0, &next, 3); /* the same offsets again */
        check_exact(s, "t", 0, next);
        test_produce_upto(s, "t", 0, &next, next + 20, 0);
        finish_exact(s, fi, dir, next);
    }
}
END_TEST

/* fallocate() running out of space: in a fresh segment, and in the one a
 * roll just started. */
START_TEST(test_allocate_enospc)
{
    const char *dir;
    faultio *fi;
    samsa *s = faulty_t(&dir, &fi, 0, 1, 0);
    int64_t next = 0;

    faultio_filter(fi, ".log");
    /* No space at all: the allocation chunk fails, and so does the batch's
     * own size asked for after it. */
    faultio_fail(fi, FAULTIO_ALLOCATE, 1, ENOSPC, false);
    faultio_fail(fi, FAULTIO_ALLOCATE, 2, ENOSPC, false);
    test_produce_gen_rc(s, "t", 0, 0, 2, SAMSA_ENOSPC);
    ck_assert_uint_eq(faultio_injected(fi), 2);
    check_exact(s, "t", 0, 0);
    /* Space for the batch but not the chunk (a nearly full disk): it goes
     * in. */
    faultio_fail(fi, FAULTIO_ALLOCATE, 1, ENOSPC, false);
    test_produce_next(s, "t", 0, &next, 2);
    ck_assert_uint_eq(faultio_injected(fi), 3);
    check_exact(s, "t", 0, 2);

    test_produce_upto(s, "t", 0, &next, 30, 0);
    fill_to_roll(s, dir, "t", 0, &next, 4);
    E(samsa_sync(s));
    faultio_fail(fi, FAULTIO_ALLOCATE, 1, ENOSPC, false);
    faultio_fail(fi, FAULTIO_ALLOCATE, 2, ENOSPC, false);
    test_produce_gen_rc(s, "t", 0, next, 4, SAMSA_ENOSPC);
    ck_assert_uint_eq(faultio_injected(fi), 5);
    check_exact(s, "t", 0, next);
    /* Still no space: the same again, nothing moves. */
    faultio_fail(fi, FAULTIO_ALLOCATE, 1, ENOSPC, false);
    faultio_fail(fi, FAULTIO_ALLOCATE, 2, ENOSPC, false);
    test_produce_gen_rc(s, "t", 0, next, 1, SAMSA_ENOSPC);
    check_exact(s, "t", 0, next);
    /* Space again. */
    test_produce_next(s, "t", 0, &next, 4);
    test_produce_upto(s, "t", 0, &next, next + 30, 0);
    finish_exact(s, fi, dir, next);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Rolls                                                                    */
/* ------------------------------------------------------------------------ */

/* A produce that rolls the segment is made once to count its calls per
 * operation; then every one of those calls is failed in turn (creating the
 * new file, mapping it, truncating and indexing the old one, allocating
 * and writing the batch): the produce fails, nothing is visible, no
 * segment file is left but possibly the new empty one at the log end, and
 * the next produce (the same batch) succeeds with the same offsets. */
START_TEST(test_roll_faults)
{
    const char *dir;
    faultio *fi;
    samsa *s = faulty_t(&dir, &fi, 0, 1, 0);
    int64_t next = 0, bases[512];
    test_produce_upto(s, "t", 0, &next, 20, 0);

    /* The dry run, again if the flusher made calls in the window (it
     * begins with a sync, which a roll without the policy never makes). */
    uint64_t before[FAULTIO_NOPS], calls[FAULTIO_NOPS];
    size_t nsegs;
    /* The segment and index files only: the end marker's store (samsa.end)
     * is advisory, and a failed one fails no produce (log.c). */
    faultio_filter(fi, "/t-0/0");
    do {
        fill_to_roll(s, dir, "t", 0, &next, 3);
        E(samsa_sync(s));
        nsegs = test_seg_bases(dir, "t", 0, bases, 512);
        for (int op = 0; op < FAULTIO_NOPS; op++)
            before[op] = faultio_calls_passing(fi, (faultio_op)op);
        test_produce_next(s, "t", 0, &next, 3);
        for (int op = 0; op < FAULTIO_NOPS; op++)
            calls[op] = faultio_calls_passing(fi, (faultio_op)op) - before[op];
        ck_assert_uint_eq(test_seg_bases(dir, "t", 0, bases, 512), nsegs + 1);
    } while (calls[FAULTIO_SYNC] != 0 || calls[FAULTIO_DIRSYNC] != 0);
    /* A roll creates and maps a file, cuts the old one and writes its two
     * index files; the batch is then allocated and written. */
    ck_assert_uint_ge(calls[FAULTIO_OPEN], 3);
    ck_assert_uint_ge(calls[FAULTIO_MAP], 1);
    ck_assert_uint_ge(calls[FAULTIO_TRUNCATE], 1);
    ck_assert_uint_ge(calls[FAULTIO_WRITE], 3);
    ck_assert_uint_ge(calls[FAULTIO_ALLOCATE], 1);

    int tried = 0;
    for (int op = 0; op < FAULTIO_NOPS; op++)
        for (uint64_t nth = 1; nth <= calls[op]; nth++) {
            fill_to_roll(s, dir, "t", 0, &next, 3);
            E(samsa_sync(s));
            nsegs = test_seg_bases(dir, "t", 0, bases, 512);
            faultio_fail(fi, (faultio_op)op, nth, EIO, false);
            int rc = test_produce_gen_try(s, "t", 0, next, 3);
            ck_assert_msg(faultio_injected(fi) == (uint64_t)tried + 1,
                          "%s #%llu did not fire", faultio_op_name(op),
                          (unsigned long long)nth);
            ck_assert_msg(rc == SAMSA_EIO, "%s #%llu: %s", faultio_op_name(op),
                          (unsigned long long)nth, samsa_strerror(rc));
            size_t now = test_seg_bases(dir, "t", 0, bases, 512);
            ck_assert_msg(
                now == nsegs || (now == nsegs + 1 && bases[now - 1] == next),
                "%s #%llu: %zu segments, were %zu", faultio_op_name(op),
                (unsigned long long)nth, now, nsegs);
            check_exact(s, "t", 0, next);
            test_produce_next(s, "t", 0, &next, 3); /* the same batch */
            ck_assert_uint_eq(test_seg_bases(dir, "t", 0, bases, 512),
                              nsegs + 1);
            check_exact(s, "t", 0, next);
            tried++;
        }
    ck_assert_int_ge(tried, 10);
    finish_exact(s, fi, dir, next);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Topic create                                                             */
/* ------------------------------------------------------------------------ */

static void
check_no_topic(samsa *s, const char *dir)
{
    samsa_topic_config got;
    char p[TEST_PATH_BUF];
    EQ_RC(samsa_topic_describe(s, "t", &got), SAMSA_ENOTOPIC);
    EQ_RC(samsa_offsets(s, "t", 0, NULL, NULL), SAMSA_ENOTOPIC);
    ck_assert(!test_exists(test_pathf(p, dir, "t-0")));
    ck_assert(!test_exists(test_pathf(p, dir, "t-1")));
}

static void
check_new_topic(samsa *s)
{
    for (int32_t p = 0; p < 2; p++) {
        ck_assert_int_eq(log_end(s, "t", p), 0);
        test_produce_gen_rc(s, "t", p, 0, 2, 0);
        test_read_range(s, "t", p, 0, 2);
    }
}

/* Every I/O call a two-partition topic create makes (mkdir, open and map of
 * each first segment, the partition and store directory syncs), failed in
 * turn: the create fails, there is no topic and no directory, and the same
 * create then works.  With the cleanup failing too (unlink and rmdir stuck),
 * the directories left behind are removed by the next open, or by the next
 * create of that name. */
START_TEST(test_create_faults)
{
    const char *dir = test_dir_make();
    faultio *fi = faultio_new();
    samsa *s = open_faulty(dir, fi, 0);
    samsa_topic_config cfg = test_small_cfg(2, 0);
    E(samsa_topic_create(s, "other", &cfg)); /* an innocent bystander */
    int64_t other = 0;
    test_produce_upto(s, "other", 1, &other, 5, 0);
    E(samsa_sync(s));

    uint64_t before[FAULTIO_NOPS], calls[FAULTIO_NOPS];
    for (int op = 0; op < FAULTIO_NOPS; op++)
        before[op] = faultio_calls(fi, (faultio_op)op);
    E(samsa_topic_create(s, "dry", &cfg));
    for (int op = 0; op < FAULTIO_NOPS; op++)
        calls[op] = faultio_calls(fi, (faultio_op)op) - before[op];
    ck_assert_uint_eq(calls[FAULTIO_MKDIR], 2);
    ck_assert_uint_ge(calls[FAULTIO_OPEN], 2);
    ck_assert_uint_ge(calls[FAULTIO_DIRSYNC], 2);

    int tried = 0;
    for (int op = 0; op < FAULTIO_NOPS; op++)
        for (uint64_t nth = 1; nth <= calls[op]; nth++) {
            faultio_fail(fi, (faultio_op)op, nth, EIO, false);
            int rc = samsa_topic_create(s, "t", &cfg);
            ck_assert_msg(rc == SAMSA_EIO, "%s #%llu: %s", faultio_op_name(op),
                          (unsigned long long)nth, samsa_strerror(rc));
            ck_assert_uint_eq(faultio_injected(fi), (uint64_t)tried + 1);
            check_no_topic(s, dir);
            tried++;
        }
    ck_assert_int_ge(tried, 8);
    E(samsa_topic_create(s, "t", &cfg));
    check_new_topic(s);
    E(samsa_topic_delete(s, "t"));
    check_no_topic(s, dir);

    /* The cleanup fails too: strays stay until the next open... */
    char p[TEST_PATH_BUF];
    faultio_fail(fi, FAULTIO_DIRSYNC, 3, EIO, false); /* the store's */
    faultio_fail(fi, FAULTIO_UNLINK, 1, EIO, true);
    faultio_fail(fi, FAULTIO_RMDIR, 1, EIO, true);
    EQ_RC(samsa_topic_create(s, "t", &cfg), SAMSA_EIO);
    samsa_topic_config got;
    EQ_RC(samsa_topic_describe(s, "t", &got), SAMSA_ENOTOPIC);
    ck_assert(test_exists(test_pathf(p, dir, "t-0")));
    faultio_clear(fi);
    E(samsa_close(s));
    faultio_free(fi);
    s = test_open(dir);
    check_no_topic(s, dir);
    E(samsa_topic_create(s, "t", &cfg));
    check_new_topic(s);
    E(samsa_topic_delete(s, "t"));
    E(samsa_close(s));

    /* ... or the next create of the same name. */
    fi = faultio_new();
    s = open_faulty(dir, fi, 0);
    faultio_fail(fi, FAULTIO_MKDIR, 2, EIO, false);
    faultio_fail(fi, FAULTIO_UNLINK, 1, EIO, true);
    faultio_fail(fi, FAULTIO_RMDIR, 1, EIO, true);
    EQ_RC(samsa_topic_create(s, "t", &cfg), SAMSA_EIO);
    EQ_RC(samsa_topic_describe(s, "t", &got), SAMSA_ENOTOPIC);
    ck_assert(test_exists(test_pathf(p, dir, "t-0")));
    faultio_clear(fi);
    E(samsa_topic_create(s, "t", &cfg));
    check_new_topic(s);
    test_read_range(s, "other", 1, 0, other);
    E(samsa_close(s));
    faultio_free(fi);

    s = test_open(dir);
    for (int32_t q = 0; q < 2; q++)
        test_read_range(s, "t", q, 0, 2);
    test_read_range(s, "other", 1, 0, other);
    E(samsa_topic_describe(s, "dry", &got));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Sync failures                                                            */
/* ------------------------------------------------------------------------ */

/* Reopen with plain I/O after a failed sync: the partition takes writes
 * again; acked records are all there, and the batch whose sync failed
 * (never acknowledged, but written to the page cache) is there whole or
 * not at all.  Returns the log end. */
static int64_t
reopen_after_failed_sync(const char *dir, int64_t acked, size_t failed_n)
{
    samsa *s = test_open(dir);
    int64_t end = log_end(s, "t", 0);
    ck_assert_msg(end == acked || end == acked + (int64_t)failed_n,
                  "end %lld, acknowledged %lld", (long long)end,
                  (long long)acked);
    test_read_range(s, "t", 0, 0, end);
    close_writable(s, dir, end);
    return end;
}

/* SYNC_ALWAYS: the fdatasync of a produce fails.  That produce gets
 * SAMSA_EIO, every later one on the partition SAMSA_EFAILED (the fault is
 * gone, but a failed fdatasync is never retried), readers never see the
 * failed batch, and the other partition goes on. */
START_TEST(test_sync_fail_produce)
{
    const char *dir;
    faultio *fi;
    samsa *s = faulty_t(&dir, &fi, 0, 2, SAMSA_SYNC_ALWAYS);
    int64_t next = 0, next1 = 0;
    test_produce_upto(s, "t", 0, &next, 12, 0);
    test_produce_upto(s, "t", 1, &next1, 5, 0);
    E(samsa_sync(s));

    faultio_filter(fi, "/t-0/");
    faultio_fail(fi, FAULTIO_SYNC, 1, EIO, false);
    test_produce_gen_rc(s, "t", 0, next, 3, SAMSA_EIO);
    ck_assert_uint_eq(faultio_injected(fi), 1);
    check_exact(s, "t", 0, next);
    faultio_clear(fi);
    uint64_t writes = faultio_calls(fi, FAULTIO_WRITE);
    test_produce_gen_rc(s, "t", 0, next, 1, SAMSA_EFAILED);
    test_produce_gen_rc(s, "t", 0, next, 5, SAMSA_EFAILED);
    ck_assert_uint_eq(faultio_calls(fi, FAULTIO_WRITE), writes);
    check_exact(s, "t", 0, next);
    /* A cursor opened at the end waits there: the failed batch never
     * shows up. */
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "t", 0, SAMSA_OFFSET_END, &c));
    EQ_RC(samsa_cursor_next(c, &m, 50), SAMSA_ETIMEDOUT);
    EQ_RC(samsa_cursor_seek(c, next + 1), SAMSA_EOFFSET);
    samsa_cursor_close(c);
    EQ_RC(samsa_sync(s), SAMSA_EFAILED);
    check_exact(s, "t", 0, next);
    /* The other partition is not stopped. */
    test_produce_next(s, "t", 1, &next1, 2);
    check_exact(s, "t", 1, next1);
    ck_assert_int_ne(samsa_close(s), 0);
    faultio_free(fi);

    reopen_after_failed_sync(dir, next, 3);
    reopen_exact(dir, 1, next1);
    test_dir_remove(dir);
}
END_TEST

/* SYNC_ALWAYS: the syncs a roll makes (the old segment, its index files,
 * the directory) fail, each in turn. */
START_TEST(test_sync_fail_roll)
{
    static const struct {
        faultio_op op;
        const char *filter;
    } v[] = {
        {FAULTIO_SYNC, ".log"},       /* the old segment                */
        {FAULTIO_SYNC, ".index"},     /* its index                      */
        {FAULTIO_SYNC, ".timeindex"}, /* its time index                 */
        {FAULTIO_DIRSYNC, NULL},      /* the new name                   */
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        const char *dir;
        faultio *fi;
        samsa *s = faulty_t(&dir, &fi, SAMSA_SYNC_ALWAYS, 1, 0);
        int64_t next = 0;
        test_produce_upto(s, "t", 0, &next, 10, 0);
        fill_to_roll(s, dir, "t", 0, &next, 2);
        E(samsa_sync(s));
        faultio_filter(fi, v[i].filter);
        faultio_fail(fi, v[i].op, 1, EIO, false);
        test_produce_gen_rc(s, "t", 0, next, 2, SAMSA_EIO);
        ck_assert_uint_eq(faultio_injected(fi), 1);
        faultio_clear(fi);
        faultio_filter(fi, NULL);
        check_exact(s, "t", 0, next);
        test_produce_gen_rc(s, "t", 0, next, 2, SAMSA_EFAILED);
        close_failed(s, fi, next);
        /* The batch was not written: the roll failed before it. */
        reopen_after_failed_sync(dir, next, 0);
        test_dir_remove(dir);
    }
}
END_TEST

/* Without the sync policy: samsa_sync() failing stops the partition the
 * same way; what was visible stays visible. */
START_TEST(test_sync_fail_samsa_sync)
{
    const char *dir;
    faultio *fi;
    samsa *s = faulty_t(&dir, &fi, 0, 1, 0);
    int64_t next = 0;
    test_produce_upto(s, "t", 0, &next, 40, 0);
    E(samsa_sync(s));
    test_produce_upto(s, "t", 0, &next, next + 5, 0);
    faultio_fail(fi, FAULTIO_SYNC, 1, EIO, false);
    EQ_RC(samsa_sync(s), SAMSA_EIO);
    faultio_clear(fi);
    check_exact(s, "t", 0, next);
    test_produce_gen_rc(s, "t", 0, next, 1, SAMSA_EFAILED);
    EQ_RC(samsa_sync(s), SAMSA_EFAILED);
    close_failed(s, fi, next);

    reopen_extend(dir, &next);
    test_dir_remove(dir);
}
END_TEST

/* Without the sync policy: the background flusher's fdatasync of a rolled
 * segment fails; the next produce reports it (SAMSA_EFAILED). */
START_TEST(test_sync_fail_flusher)
{
    const char *dir;
    faultio *fi;
    samsa *s = faulty_t(&dir, &fi, 0, 1, 0);
    int64_t next = 0;
    test_produce_upto(s, "t", 0, &next, 10, 0);
    E(samsa_sync(s));
    /* Every sync of a segment fails from now on; producing rolls
     * segments, which the flusher then tries to sync. */
    faultio_filter(fi, ".log");
    faultio_fail(fi, FAULTIO_SYNC, 1, EIO, true);
    int rc = 0;
    for (int i = 0; i < 400 && rc == 0; i++) { /* up to 4 s */
        struct timespec d = {0, 10 * 1000 * 1000};
        nanosleep(&d, NULL);
        rc = test_produce_gen_try(s, "t", 0, next, 1);
        if (rc == 0)
            next++;
    }
    EQ_RC(rc, SAMSA_EFAILED);
    ck_assert_uint_ge(faultio_injected(fi), 1);
    faultio_clear(fi);
    close_failed(s, fi, next);

    reopen_extend(dir, &next); /* a kill, not a power cut: all there */
    test_dir_remove(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Power cuts                                                               */
/* ------------------------------------------------------------------------ */

#define SNAP_MAX 256

/* What a directory tree holds: each file's path, size and CRC. */
typedef struct snapshot {
    size_t n;
    struct {
        char path[TEST_PATH_BUF];
        uint64_t size;
        uint32_t crc;
    } f[SNAP_MAX];
} snapshot;

static void
snap_add(snapshot *sn, const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[TEST_PATH_BUF];
        test_pathf(p, dir, e->d_name);
        struct stat st;
        ck_assert_int_eq(stat(p, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            snap_add(sn, p);
            continue;
        }
        if (strcmp(e->d_name, "lock") == 0 ||
            strcmp(e->d_name, "lock.mdb") == 0)
            continue; /* lock files: not data */
        ck_assert_uint_lt(sn->n, SNAP_MAX);
        int fd = open(p, O_RDONLY);
        ck_assert_int_ge(fd, 0);
        uint8_t *buf = malloc((size_t)st.st_size + 1);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(pread(fd, buf, (size_t)st.st_size, 0),
                         (ssize_t)st.st_size);
        close(fd);
        memcpy(sn->f[sn->n].path, p, sizeof p);
        sn->f[sn->n].size = (uint64_t)st.st_size;
        sn->f[sn->n].crc = samsa__crc32c(0, buf, (size_t)st.st_size);
        sn->n++;
        free(buf);
    }
    closedir(d);
}

static void
snap_same(const snapshot *a, const snapshot *b)
{
    ck_assert_uint_eq(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        ck_assert_str_eq(a->f[i].path, b->f[i].path);
        ck_assert_msg(a->f[i].size == b->f[i].size &&
                          a->f[i].crc == b->f[i].crc,
                      "%s changed", a->f[i].path);
    }
}

/* Read n-0 (never synced by policy) from 0 for as long as it reads: every
 * record read must be its gen record; it may end early (torn) or stop at a
 * damaged batch.  Returns how many were read. */
static int64_t
read_prefix(samsa *s, const char *topic)
{
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, topic, 0, 0, &c));
    int64_t o = 0;
    int rc;
    while ((rc = samsa_cursor_next(c, &m, 0)) == 0) {
        TEST_CHECK_GEN(&m, o);
        o++;
    }
    ck_assert_msg(rc == SAMSA_ETIMEDOUT || rc == SAMSA_ECORRUPT, "at %lld: %s",
                  (long long)o, samsa_strerror(rc));
    samsa_cursor_close(c);
    return o;
}

/*
 * The store syncs by policy ("t"); topic "n" opts out.  Records are acked
 * on "t" singly and in batches across rolls; "n" gets records before and
 * after a samsa_sync().  Then a batch on "t" is written but its fdatasync
 * fails, so it is not acknowledged (mid-segment, or as the first batch of a
 * new segment whose allocation is not synced either).  Then the power goes:
 * the store is closed through the dead I/O (which must not crash or write),
 * and reopened with plain I/O.  "t" must hold every acknowledged record,
 * densely from 0, and the unacknowledged batch whole or not at all; "n"
 * everything samsa_sync() covered.
 */
static void
power_cut_run(faultio_cut mode, uint64_t seed, bool unacked_at_roll)
{
    const char *dir;
    faultio *fi;
    samsa *s = faulty_t(&dir, &fi, SAMSA_SYNC_ALWAYS, 1, 0);
    samsa_topic_config ncfg = test_small_cfg(1, SAMSA_SYNC_NONE);
    E(samsa_topic_create(s, "n", &ncfg));
    int64_t next = 0, nnext = 0, bases[64];

    test_produce_upto(s, "t", 0, &next, 110, 0);
    test_produce_upto(s, "n", 0, &nnext, 40, 0);
    ck_assert_uint_ge(test_seg_bases(dir, "t", 0, bases, 64), 3);
    if (unacked_at_roll)
        fill_to_roll(s, dir, "t", 0, &next, TEST_GEN_MAXB);
    else
        fill_to_fit(s, dir, "t", 0, &next, TEST_GEN_MAXB);
    E(samsa_sync(s));
    const int64_t nsynced = nnext;

    /* Not acknowledged: written, then the sync fails.  With a roll first,
     * the roll's own sync of the old segment goes through. */
    faultio_filter(fi, "/t-0/");
    faultio_fail(fi, FAULTIO_SYNC, unacked_at_roll ? 4 : 1, EIO, false);
    test_produce_gen_rc(s, "t", 0, next, TEST_GEN_MAXB, SAMSA_EIO);
    ck_assert_uint_eq(faultio_injected(fi), 1);
    faultio_clear(fi);
    faultio_filter(fi, NULL);
    test_produce_gen_rc(s, "t", 0, next, 1, SAMSA_EFAILED);
    check_exact(s, "t", 0, next);
    ck_assert_uint_ge(faultio_unsynced(fi, "/t-0/"), 1);

    /* Acknowledged without sync, some across a roll. */
    test_produce_upto(s, "n", 0, &nnext, nnext + 40, 0);
    ck_assert_uint_ge(faultio_unsynced(fi, "/n-0/"), 1);

    E(faultio_power_cut(fi, mode, seed));
    /* Closing through the dead I/O may fail, but must neither crash nor
     * change a byte: no file, and no recovery point in the catalog. */
    static snapshot before, after;
    memset(&before, 0, sizeof before);
    memset(&after, 0, sizeof after);
    snap_add(&before, dir);
    (void)samsa_close(s);
    faultio_free(fi);
    snap_add(&after, dir);
    snap_same(&before, &after);

    s = test_open(dir);
    int64_t end = log_end(s, "t", 0);
    if (mode == FAULTIO_DROP_ALL)
        ck_assert_int_eq(end, next);
    else if (mode == FAULTIO_KEEP_ALL)
        ck_assert_int_eq(end, next + TEST_GEN_MAXB);
    else
        ck_assert_msg(end == next || end == next + TEST_GEN_MAXB,
                      "seed %llu: end %lld, acknowledged %lld",
                      (unsigned long long)seed, (long long)end,
                      (long long)next);
    test_read_range(s, "t", 0, 0, end);

    int64_t nend = log_end(s, "n", 0);
    int64_t nread = read_prefix(s, "n");
    ck_assert_msg(nread >= nsynced, "seed %llu: n read %lld, synced %lld",
                  (unsigned long long)seed, (long long)nread,
                  (long long)nsynced);
    ck_assert_int_le(nread, nend);
    ck_assert_int_le(nend, nnext);
    if (mode == FAULTIO_KEEP_ALL) {
        ck_assert_int_eq(nend, nnext);
        ck_assert_int_eq(nread, nnext);
    }
    if (mode == FAULTIO_DROP_ALL) /* every unsynced byte gone: no holes */
        ck_assert_int_eq(nread, nend);

    /* Writable again, densely. */
    close_writable(s, dir, end);
    test_dir_remove(dir);
}

START_TEST(test_power_cut_drop_all)
{
    power_cut_run(FAULTIO_DROP_ALL, 0, false);
    power_cut_run(FAULTIO_DROP_ALL, 0, true);
}
END_TEST

START_TEST(test_power_cut_keep_all)
{
    power_cut_run(FAULTIO_KEEP_ALL, 0, false);
    power_cut_run(FAULTIO_KEEP_ALL, 0, true);
}
END_TEST

START_TEST(test_power_cut_random)
{
    for (uint64_t seed = 1; seed <= 12; seed++)
        power_cut_run(FAULTIO_RANDOM, seed, seed % 2 == 0);
}
END_TEST

/* No sync at all, and the page cache makes it to disk (KEEP_ALL): every
 * record is there, exactly. */
START_TEST(test_power_cut_nosync_keep_all)
{
    const char *dir;
    faultio *fi;
    samsa *s = faulty_t(&dir, &fi, 0, 2, 0);
    int64_t next = 0, next1 = 0, bases[64];
    test_produce_upto(s, "t", 0, &next, 150, 0);
    test_produce_upto(s, "t", 1, &next1, 20, 0);
    ck_assert_uint_ge(test_seg_bases(dir, "t", 0, bases, 64), 3);
    ck_assert_uint_ge(faultio_unsynced(fi, "/t-0/"), 1);
    E(faultio_power_cut(fi, FAULTIO_KEEP_ALL, 0));
    (void)samsa_close(s);
    faultio_free(fi);

    reopen_exact(dir, 1, next1);
    reopen_extend(dir, &next);
    test_dir_remove(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Queue journals (queue_state.c: map_write, map_sync, allocate)            */
/* ------------------------------------------------------------------------ */

extern uint64_t queue_journal_grow;  /* lib/queue/queue.h */
extern uint64_t queue_journal_limit; /* lib/queue/queue.h */

#define QREC 200 /* records of t for the queue cases */

/* Receive one record: offset at, delivery count count. */
static void
take_one(samsa_queue *q, int64_t at, int32_t count, samsa_delivery *d)
{
    size_t n = 0;
    E(samsa_queue_receive(q, d, 1, &n, 0));
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(d->msg.offset, at);
    ck_assert_int_eq(d->delivery_count, count);
    ck_assert_ptr_null(test_gen_mismatch(&d->msg, at));
}

/* A store under SAMSA_SYNC_ALWAYS through a new faultio, t holding QREC
 * records, and a receiver of share group g on it that received records
 * 0..n-1 into d (delivery count 1). */
static samsa *
queue_store(const char **dir, faultio **fi, samsa_queue **q, samsa_delivery *d,
            int64_t n)
{
    samsa *s = faulty_t(dir, fi, SAMSA_SYNC_ALWAYS, 1, 0);
    for (int64_t i = 0; i < QREC; i += 8)
        test_produce_gen(s, "t", 0, i, 8);
    E(samsa_queue_open(s, "g", "t", NULL, q));
    for (int64_t o = 0; o < n; o++)
        take_one(*q, o, 1, &d[o]);
    return s;
}

/* Reopen dir with plain I/O: records 0..nacc-1 are accepted, each
 * delivered once but record twice (-1: none), delivered twice; the records
 * from nacc on come again, in order, the first nheld of them (received,
 * never acknowledged) with delivery count 2, the rest with 1. */
static void
queue_reopen_check(const char *dir, int64_t nacc, int64_t twice, int64_t nheld)
{
    samsa *s = test_open(dir);
    for (int64_t o = 0; o < nacc; o++) {
        samsa_ack_info info;
        E(samsa_queue_ack_info(s, "g", "t", 0, o, 0, &info));
        ck_assert_int_eq(info.outcome, SAMSA_ACK_ACCEPT);
        ck_assert_int_eq(info.delivery_count, o == twice ? 2 : 1);
    }
    samsa_queue *q;
    samsa_delivery d;
    E(samsa_queue_open(s, "g", "t", NULL, &q));
    for (int64_t o = nacc; o < nacc + nheld + 2; o++)
        take_one(q, o, o < nacc + nheld ? 2 : 1, &d);
    samsa_queue_close(q);
    E(samsa_close(s));
}

/* End the queue case: close q and s cleanly (cut < 0), or cut the power
 * in mode cut with them open and leave the files as the cut left them
 * (the close that follows is undone: its checkpoint would go to the
 * catalog, which is not written through the table), as after kill -9;
 * then free fi. */
static void
queue_end(const char *dir, faultio *fi, samsa *s, samsa_queue *q, int cut)
{
    faultio_filter(fi, NULL);
    if (cut < 0) {
        samsa_queue_close(q);
        E(samsa_close(s));
    } else {
        E(faultio_power_cut(fi, (faultio_cut)cut, 0));
        test_snap sn = {.n = 0};
        test_snap_take(&sn, dir, "");
        samsa_queue_close(q);
        (void)samsa_close(s); /* every call fails now */
        test_snap_put(&sn, dir);
        test_snap_free(&sn);
    }
    faultio_free(fi);
}

/* A failing map_sync or map_write of the journal during an
 * acknowledgement (loop: the op, EIO or ENOSPC, then a clean close or a
 * power cut that drops everything unsynced): the call returns the error
 * and changes nothing (the record is still held, not finished), the same
 * acknowledgement then succeeds, and after a reopen every acknowledged
 * record is finished and the others come back. */
START_TEST(test_journal_ack_faults)
{
    faultio_op op = _i % 2 ? FAULTIO_MAP_WRITE : FAULTIO_MAP_SYNC;
    int err = _i / 2 % 2 ? ENOSPC : EIO;
    bool cut = _i >= 4;
    const char *dir;
    faultio *fi;
    samsa_queue *q;
    samsa_delivery d[5];
    samsa *s = queue_store(&dir, &fi, &q, d, 5);
    E(samsa_queue_ack(q, &d[0], 1, SAMSA_ACK_ACCEPT));
    faultio_filter(fi, ".journal");
    uint64_t calls = faultio_calls_passing(fi, op);
    faultio_fail(fi, op, 1, err, false);
    EQ_RC(samsa_queue_ack(q, &d[1], 1, SAMSA_ACK_ACCEPT),
          err == EIO ? SAMSA_EIO : SAMSA_ENOSPC);
    ck_assert_uint_eq(faultio_injected(fi), 1);
    ck_assert_uint_eq(faultio_calls_passing(fi, op), calls + 1);
    samsa_ack_info info;
    EQ_RC(samsa_queue_ack_info(s, "g", "t", 0, 1, 0, &info), SAMSA_ETIMEDOUT);
    E(samsa_queue_ack(q, &d[1], 1, SAMSA_ACK_ACCEPT));
    E(samsa_queue_ack(q, &d[2], 1, SAMSA_ACK_ACCEPT));
    queue_end(dir, fi, s, q, cut ? FAULTIO_DROP_ALL : -1);
    queue_reopen_check(dir, 3, -1, 2);
    test_dir_remove(dir);
}
END_TEST

/* The journal grows (allocate) during an acknowledgement, and the disk is
 * full: the acknowledgement fails with SAMSA_ENOSPC and changes nothing;
 * once there is room it succeeds, and a reopen finds every acknowledged
 * record finished. */
START_TEST(test_journal_grow_enospc)
{
    uint64_t saved = queue_journal_grow;
    queue_journal_grow = 4096; /* room for 169 entries, then a grow */
    const char *dir;
    faultio *fi;
    samsa_queue *q;
    samsa_delivery d;
    samsa *s = queue_store(&dir, &fi, &q, &d, 0);
    faultio_filter(fi, ".journal");
    faultio_fail(fi, FAULTIO_ALLOCATE, 1, ENOSPC, false);
    /* Two entries a record (its acquisition, its acceptance): the 170th,
     * record 84's acceptance, is the first past the first page. */
    int64_t o = 0;
    int rc = 0;
    for (; o < QREC && rc == 0; o++) {
        take_one(q, o, 1, &d);
        rc = samsa_queue_ack(q, &d, 1, SAMSA_ACK_ACCEPT);
    }
    queue_journal_grow = saved;
    EQ_RC(rc, SAMSA_ENOSPC);
    ck_assert_int_eq(o - 1, 84);
    ck_assert_uint_eq(faultio_injected(fi), 1);
    samsa_ack_info info;
    EQ_RC(samsa_queue_ack_info(s, "g", "t", 0, 84, 0, &info), SAMSA_ETIMEDOUT);
    E(samsa_queue_ack(q, &d, 1, SAMSA_ACK_ACCEPT));
    queue_end(dir, fi, s, q, -1);
    queue_reopen_check(dir, 85, -1, 0);
    test_dir_remove(dir);
}
END_TEST

/* A checkpoint (past queue_journal_limit) whose journal reset fails, the
 * new header's map_sync, after its snapshot of generation g+1 was
 * committed: the acknowledgement that ran it returns 0 all the same (its
 * entry is synced), the journal stays at g, behind the snapshot (a load
 * takes it as stale), and the next acknowledgement checkpoints again
 * before it is appended; after a cut that loses nothing, both are
 * finished.  Loop 1: the catalog refuses writes meanwhile, and that next
 * acknowledgement fails with its error and changes nothing, then works
 * (regression: it was appended to the stale journal and returned 0, its
 * checkpoint's failure ignored as "the journal still holds it all", and
 * after a kill -9 the accepted record was delivered again). */
START_TEST(test_journal_reset_fault)
{
    uint64_t saved = queue_journal_limit;
    queue_journal_limit = 100; /* a checkpoint at the third entry */
    const char *dir;
    faultio *fi;
    samsa_queue *q;
    samsa_delivery d[2];
    samsa *s = queue_store(&dir, &fi, &q, d, 2); /* entries 1 and 2 */
    faultio_filter(fi, ".journal");
    /* Entry 3's map_sync, then the reset's. */
    faultio_fail(fi, FAULTIO_MAP_SYNC, 2, EIO, false);
    E(samsa_queue_ack(q, &d[0], 1, SAMSA_ACK_ACCEPT)); /* it is in */
    ck_assert_uint_eq(faultio_injected(fi), 1);
    if (_i == 1) {
        catalog_fault *f = &catalog__fault;
        *f = (catalog_fault){.thread = pthread_self(),
                             .fail_at = 1,
                             .fail_count = 1000, /* every write, armed */
                             .error = ENOSPC,
                             .writes_only = true};
        atomic_store(&f->armed, 1);
        int rc = samsa_queue_ack(q, &d[1], 1, SAMSA_ACK_ACCEPT);
        atomic_store(&f->armed, 0);
        EQ_RC(rc, SAMSA_ENOSPC);
        samsa_ack_info info;
        EQ_RC(samsa_queue_ack_info(s, "g", "t", 0, 1, 0, &info),
              SAMSA_ETIMEDOUT);
    }
    E(samsa_queue_ack(q, &d[1], 1, SAMSA_ACK_ACCEPT));
    queue_journal_limit = saved;
    queue_end(dir, fi, s, q, FAULTIO_KEEP_ALL);
    queue_reopen_check(dir, 2, -1, 0);
    test_dir_remove(dir);
}
END_TEST

/* Each call on the journal in a workload of receives and
 * acknowledgements (checkpoints every few entries, the file growing)
 * fails in turn, with EIO or ENOSPC, then the power goes or the process
 * is killed: every record whose acknowledgement returned 0 is finished,
 * with its outcome; one whose acknowledgement failed is finished so or
 * not at all (its entry may be synced before the call failed, as a
 * failed produce's batch may be there after a reopen); every other one
 * is delivered again. */
START_TEST(test_journal_fault_each)
{
    uint64_t saved_limit = queue_journal_limit, saved_grow = queue_journal_grow;
    bool fired = true;
    for (uint64_t nth = 1; fired; nth++) {
        queue_journal_limit = 150; /* a checkpoint every few entries */
        queue_journal_grow = 4096;
        const char *dir;
        faultio *fi;
        samsa_queue *q;
        samsa_delivery d[3];
        samsa *s = queue_store(&dir, &fi, &q, d, 0);
        faultio_filter(fi, ".journal");
        faultio_fail(fi, FAULTIO_ANY, nth, nth % 2 ? EIO : ENOSPC, false);
        int outcome[QREC] = {0}; /* acknowledged: its type; failed: -it */
        for (int round = 0; round < 6; round++) {
            size_t n = 0;
            if (samsa_queue_receive(q, d, 3, &n, 0) != 0)
                continue;
            for (size_t i = 0; i < n; i++) {
                /* accepted, held (never acknowledged), rejected */
                int type = (int)(d[i].msg.offset % 3) + 1;
                if (type != SAMSA_ACK_RELEASE)
                    outcome[d[i].msg.offset] =
                        samsa_queue_ack(q, &d[i], 1, type) == 0 ? type : -type;
            }
        }
        fired = faultio_injected(fi) > 0;
        queue_journal_limit = saved_limit;
        queue_journal_grow = saved_grow;
        /* the four of EIO, ENOSPC and a cut, a kill -9 in turn */
        queue_end(dir, fi, s, q,
                  nth % 4 < 2 ? FAULTIO_DROP_ALL : FAULTIO_KEEP_ALL);
        s = test_open(dir);
        bool done[QREC];
        for (int64_t o = 0; o < QREC; o++) {
            samsa_ack_info info = {0};
            int rc = samsa_queue_ack_info(s, "g", "t", 0, o, 0, &info);
            done[o] = rc == 0;
            ck_assert_msg(outcome[o] > 0 ? done[o] && info.outcome == outcome[o]
                          : outcome[o] < 0
                              ? rc == SAMSA_ETIMEDOUT ||
                                    (done[o] && info.outcome == -outcome[o])
                              : rc == SAMSA_ETIMEDOUT,
                          "call %llu: offset %lld: %s, outcome %d, want %d",
                          (unsigned long long)nth, (long long)o,
                          samsa_strerror(rc), info.outcome, outcome[o]);
        }
        E(samsa_queue_open(s, "g", "t", NULL, &q));
        int64_t o = 0;
        for (size_t n = 1; n > 0;) {
            int rc = samsa_queue_receive(q, d, 3, &n, 0);
            ck_assert(rc == 0 || rc == SAMSA_ETIMEDOUT);
            n = rc == 0 ? n : 0;
            for (size_t i = 0; i < n; i++, o++) {
                while (done[o])
                    o++;
                ck_assert_msg(d[i].msg.offset == o,
                              "call %llu: got %lld, want %lld",
                              (unsigned long long)nth,
                              (long long)d[i].msg.offset, (long long)o);
            }
            E(samsa_queue_ack(q, d, n, SAMSA_ACK_ACCEPT));
        }
        while (o < QREC && done[o])
            o++;
        ck_assert_int_eq(o, QREC);
        samsa_queue_close(q);
        E(samsa_close(s));
        test_dir_remove(dir);
    }
}
END_TEST

/* A store on dir (and replica directory rep unless NULL) under
 * SAMSA_SYNC_ALWAYS through fi. */
static samsa *
load_open(const char *dir, const char *rep, faultio *fi)
{
    const char *reps[] = {rep, NULL};
    samsa_options o = {.sync = SAMSA_SYNC_ALWAYS,
                       .replica_dirs = rep != NULL ? reps : NULL};
    samsa *s = NULL;
    E(samsa__open_io(dir, &o, faultio_io(fi), &s));
    return s;
}

/* Cut the power (mode cut) under s and q, then close them with the files
 * of dir and rep kept as the cut left them (queue_end() for two
 * directories). */
static void
load_end(const char *dir, const char *rep, faultio *fi, samsa *s,
         samsa_queue *q, int cut)
{
    faultio_filter(fi, NULL);
    E(faultio_power_cut(fi, (faultio_cut)cut, 0));
    test_snap a = {.n = 0}, b = {.n = 0};
    test_snap_take(&a, dir, "");
    if (rep != NULL)
        test_snap_take(&b, rep, "");
    samsa_queue_close(q);
    (void)samsa_close(s); /* every call fails now */
    test_snap_put(&a, dir);
    test_snap_free(&a);
    if (rep != NULL) {
        test_snap_put(&b, rep);
        test_snap_free(&b);
    }
    faultio_free(fi);
}

/* Each call of a group's load (its directories, the journal's open,
 * size, first read, allocation, mapping, cut, words and syncs; loop 1:
 * and its copy's on a replica directory; loop 2: and the repair of the
 * primary, damaged, from the copy) fails in turn, with EIO or ENOSPC, on
 * a journal holding acknowledgements (no close: as after kill -9):
 * samsa_queue_open() returns that error or loads; loaded then, the
 * records acknowledged before are finished and the held ones come again;
 * and after a power cut (or a kill), nothing acknowledged is lost. */
START_TEST(test_journal_load_fault_each)
{
    bool fired = true;
    for (uint64_t nth = 1; fired; nth++) {
        const char *dir = test_dir_make();
        const char *rep = _i > 0 ? test_dir_make() : NULL;
        faultio *fi = faultio_new();
        samsa *s = load_open(dir, rep, fi);
        samsa_topic_config cfg = test_small_cfg(1, 0);
        cfg.replicas = rep != NULL ? 2 : 1; /* rep alone opens too */
        E(samsa_topic_create(s, "t", &cfg));
        for (int64_t i = 0; i < QREC; i += 8)
            test_produce_gen(s, "t", 0, i, 8);
        samsa_queue *q;
        samsa_delivery d[5];
        E(samsa_queue_open(s, "g", "t", NULL, &q));
        for (int64_t o = 0; o < 5; o++)
            take_one(q, o, 1, &d[o]);
        E(samsa_queue_ack(q, d, 3, SAMSA_ACK_ACCEPT));
        load_end(dir, rep, fi, s, q, FAULTIO_KEEP_ALL);
        if (_i == 2) { /* the second entry's offset, damaged */
            char p[TEST_PATH_BUF];
            int fd = open(test_pathf(p, dir, "queues/g/1-0.journal"), O_RDWR);
            uint8_t x;
            ck_assert_int_eq(pread(fd, &x, 1, 40 + 24 + 8), 1);
            x ^= 0xff;
            ck_assert_int_eq(pwrite(fd, &x, 1, 40 + 24 + 8), 1);
            close(fd);
        }

        fi = faultio_new();
        s = load_open(dir, rep, fi);
        faultio_filter(fi, "queues");
        int err = nth % 2 ? EIO : ENOSPC;
        faultio_fail(fi, FAULTIO_ANY, nth, err, false);
        int rc = samsa_queue_open(s, "g", "t", NULL, &q);
        fired = faultio_injected(fi) > 0;
        ck_assert_msg(rc == 0 || rc == (err == EIO ? SAMSA_EIO : SAMSA_ENOSPC),
                      "call %llu: %s", (unsigned long long)nth,
                      samsa_strerror(rc));
        faultio_clear(fi); /* past the load's calls: not fired */
        faultio_filter(fi, NULL);
        if (rc != 0) /* nothing was left half: it loads now */
            E(samsa_queue_open(s, "g", "t", NULL, &q));
        take_one(q, 3, 2, &d[0]);
        take_one(q, 4, 2, &d[1]);
        E(samsa_queue_ack(q, d, 1, SAMSA_ACK_ACCEPT)); /* 4 stays held */
        load_end(dir, rep, fi, s, q,
                 nth % 4 < 2 ? FAULTIO_DROP_ALL : FAULTIO_KEEP_ALL);
        /* The primary; and the copy alone, with what it held before the
         * load (a copy whose write failed is dropped: it misses what
         * follows, as a directory down does; queue_state.c, "Copies"). */
        for (int k = 0; k < (rep != NULL ? 2 : 1); k++) {
            s = test_open(k == 0 ? dir : rep);
            for (int64_t o = 0; o < (k == 0 ? 4 : 3); o++) {
                samsa_ack_info info;
                int orc = samsa_queue_ack_info(s, "g", "t", 0, o, 0, &info);
                ck_assert_msg(orc == 0, "call %llu, dir %d, offset %lld: %s",
                              (unsigned long long)nth, k, (long long)o,
                              samsa_strerror(orc));
                ck_assert_int_eq(info.outcome, SAMSA_ACK_ACCEPT);
                ck_assert_int_eq(info.delivery_count, o < 3 ? 1 : 2);
            }
            if (k == 0) {
                E(samsa_queue_open(s, "g", "t", NULL, &q));
                take_one(q, 4, 3, &d[0]);
                take_one(q, 5, 1, &d[0]);
                samsa_queue_close(q);
            }
            E(samsa_close(s));
        }
        test_dir_remove(dir);
        if (rep != NULL)
            test_dir_remove(rep);
    }
}
END_TEST

/* The bytes of group g's journal of t-0 under root (the one file in
 * root/queues/g); *len gets their count. */
static uint8_t *
journal_bytes(const char *root, size_t *len)
{
    char p[2 * TEST_PATH_BUF];
    snprintf(p, sizeof p, "%s/queues/g", root);
    DIR *d = opendir(p);
    ck_assert_ptr_nonnull(d);
    uint8_t *b = NULL;
    for (struct dirent *e; b == NULL && (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/queues/g/%s", root, e->d_name);
            b = test_slurp(p, len);
        }
    closedir(d);
    ck_assert_ptr_nonnull(b);
    return b;
}

/* With a replica directory, the map_sync of the journal's copy there
 * fails during an acknowledgement: the acknowledgement succeeds (the
 * primary has it), and the copy is dropped: the next acknowledgements do
 * not write it.  The next load writes the copy over from the primary,
 * and both hold the same bytes again. */
START_TEST(test_journal_copy_fault)
{
    char d0[256], d1[256];
    snprintf(d0, sizeof d0, "%s", test_dir_make());
    snprintf(d1, sizeof d1, "%s", test_dir_make());
    const char *reps[] = {d1, NULL};
    samsa_options o = {.replica_dirs = reps, .sync = SAMSA_SYNC_ALWAYS};
    faultio *fi = faultio_new();
    samsa *s;
    E(samsa__open_io(d0, &o, faultio_io(fi), &s));
    samsa_topic_config cfg = test_small_cfg(1, 0);
    E(samsa_topic_create(s, "t", &cfg));
    test_produce_gen(s, "t", 0, 0, 8);
    samsa_queue *q;
    E(samsa_queue_open(s, "g", "t", NULL, &q));
    samsa_delivery d[3];
    for (int64_t i = 0; i < 3; i++)
        take_one(q, i, 1, &d[i]);
    faultio_filter(fi, d1); /* the copy's calls only */
    uint64_t w0 = faultio_calls_passing(fi, FAULTIO_MAP_WRITE);
    faultio_fail(fi, FAULTIO_MAP_SYNC, 1, EIO, false);
    E(samsa_queue_ack(q, &d[0], 1, SAMSA_ACK_ACCEPT));
    ck_assert_uint_eq(faultio_injected(fi), 1);
    /* the copy got the entry, not the end word after the failed sync */
    uint64_t w1 = faultio_calls_passing(fi, FAULTIO_MAP_WRITE);
    ck_assert_uint_eq(w1, w0 + 1);
    E(samsa_queue_ack(q, &d[1], 1, SAMSA_ACK_ACCEPT));
    ck_assert_uint_eq(faultio_calls_passing(fi, FAULTIO_MAP_WRITE), w1);
    queue_end(d0, fi, s, q, FAULTIO_KEEP_ALL);

    size_t l0, l1;
    uint8_t *j0 = journal_bytes(d0, &l0), *j1 = journal_bytes(d1, &l1);
    ck_assert(l0 != l1 || memcmp(j0, j1, l0) != 0); /* the copy missed one */
    free(j0);
    free(j1);
    o.sync = 0;
    E(samsa_open(d0, &o, &s));
    samsa_ack_info info;
    for (int64_t i = 0; i < 2; i++) {
        E(samsa_queue_ack_info(s, "g", "t", 0, i, 0, &info));
        ck_assert_int_eq(info.outcome, SAMSA_ACK_ACCEPT);
    }
    E(samsa_queue_open(s, "g", "t", NULL, &q));
    take_one(q, 2, 2, &d[2]);
    samsa_queue_close(q);
    E(samsa_close(s));
    j0 = journal_bytes(d0, &l0);
    j1 = journal_bytes(d1, &l1);
    ck_assert_uint_eq(l0, l1);
    ck_assert_mem_eq(j0, j1, l0);
    free(j0);
    free(j1);
    test_dir_remove(d0);
    test_dir_remove(d1);
}
END_TEST

/* Loading a group whose journal holds changes (the store was cut off
 * without a close): its allocation (ENOSPC) or the sync of the replayed
 * entries (EIO) fails, and so does samsa_queue_open(), with that error;
 * the next open loads every acknowledged change. */
START_TEST(test_journal_open_faults)
{
    faultio_op op = _i ? FAULTIO_MAP_SYNC : FAULTIO_ALLOCATE;
    int err = _i ? EIO : ENOSPC;
    const char *dir;
    faultio *fi;
    samsa_queue *q;
    samsa_delivery d[4];
    samsa *s = queue_store(&dir, &fi, &q, d, 4);
    E(samsa_queue_ack(q, d, 3, SAMSA_ACK_ACCEPT));
    /* No close: the journal alone holds the changes (as after kill -9). */
    queue_end(dir, fi, s, q, FAULTIO_KEEP_ALL);

    fi = faultio_new();
    s = open_faulty(dir, fi, SAMSA_SYNC_ALWAYS);
    faultio_filter(fi, ".journal");
    faultio_fail(fi, op, 1, err, false);
    EQ_RC(samsa_queue_open(s, "g", "t", NULL, &q),
          err == EIO ? SAMSA_EIO : SAMSA_ENOSPC);
    ck_assert_uint_eq(faultio_injected(fi), 1);
    faultio_filter(fi, NULL);
    E(samsa_queue_open(s, "g", "t", NULL, &q));
    take_one(q, 3, 2, &d[0]); /* held at the cut: delivered again */
    E(samsa_queue_ack(q, d, 1, SAMSA_ACK_ACCEPT));
    queue_end(dir, fi, s, q, -1);
    queue_reopen_check(dir, 4, 3, 0);
    test_dir_remove(dir);
}
END_TEST

/* Deleting a topic whose logs are open reads none of its segments: the
 * open log's list says which abut (log_dir.c), and only the names are
 * looked at.  It used to open every segment but the last to find where
 * its records end, under the store's table lock (twice the time of the
 * unlinks).  Every file goes, and the directories. */
START_TEST(test_delete_reads_no_segment)
{
    const char *dir;
    faultio *fi;
    samsa *s = faulty_t(&dir, &fi, 0, 2, 0);
    int64_t next0 = 0, next1 = 0, bases[64];
    test_produce_upto(s, "t", 0, &next0, 300, 0);
    test_produce_upto(s, "t", 1, &next1, 200, 1);
    ck_assert_uint_ge(test_seg_bases(dir, "t", 0, bases, 64), 4);
    static const faultio_op ops[] = {FAULTIO_OPEN, FAULTIO_READ, FAULTIO_MAP};
    uint64_t before[3];
    for (int k = 0; k < 3; k++)
        before[k] = faultio_calls(fi, ops[k]);
    E(samsa_topic_delete(s, "t"));
    for (int k = 0; k < 3; k++)
        ck_assert_msg(
            faultio_calls(fi, ops[k]) == before[k], "%s: %llu calls",
            faultio_op_name(ops[k]),
            (unsigned long long)(faultio_calls(fi, ops[k]) - before[k]));
    char p[TEST_PATH_BUF];
    ck_assert(!test_exists(test_pathf(p, dir, "t-0")));
    ck_assert(!test_exists(test_pathf(p, dir, "t-1")));
    E(samsa_close(s));
    faultio_free(fi);
    test_dir_remove(dir);
}
END_TEST

Suite *
faults_suite(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_write_faults);
    tcase_add_test(tc, test_allocate_enospc);
    tcase_add_test(tc, test_roll_faults);
    tcase_add_test(tc, test_create_faults);
    tcase_add_test(tc, test_sync_fail_produce);
    tcase_add_test(tc, test_sync_fail_roll);
    tcase_add_test(tc, test_sync_fail_samsa_sync);
    tcase_add_test(tc, test_sync_fail_flusher);
    tcase_add_test(tc, test_power_cut_drop_all);
    tcase_add_test(tc, test_power_cut_keep_all);
    tcase_add_test(tc, test_power_cut_random);
    tcase_add_test(tc, test_power_cut_nosync_keep_all);
    tcase_add_loop_test(tc, test_journal_ack_faults, 0, 8);
    tcase_add_test(tc, test_journal_grow_enospc);
    tcase_add_loop_test(tc, test_journal_reset_fault, 0, 2);
    tcase_add_test(tc, test_journal_fault_each);
    tcase_add_test(tc, test_journal_copy_fault);
    tcase_add_test(tc, test_delete_reads_no_segment);
    tcase_add_loop_test(tc, test_journal_load_fault_each, 0, 3);
    tcase_add_loop_test(tc, test_journal_open_faults, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
