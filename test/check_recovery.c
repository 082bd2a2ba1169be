/*
 * check_recovery.c - what samsa_open() finds after a clean close, a kill -9,
 * a torn write or damaged files: reopening, crash recovery in a loop, torn
 * tails, corruption in the middle of a log, lost or damaged index files,
 * partition directories without a catalog record, and the directory lock
 * against another process.
 *
 * Every record written here is a pure function of its offset (test_gen(),
 * test/gen.c): key (some null, some empty), value (some null, some empty),
 * headers and an explicit timestamp, so any record read back can be checked
 * in full wherever it was read.
 *
 * Tests that need a second process make it with test_fork(); the child
 * never asserts (it reports through its exit code or a pipe) and always
 * leaves with _exit(), never returning into Check (test.h says why).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultio.h"
#include "test.h"

/* lib/store/store.h: open a store with a given I/O layer. */
int samsa__open_io(const char *dir, const samsa_options *opt, samsa_io *io,
                   samsa **out);

/* ------------------------------------------------------------------------ */
/* Records (test_gen(), test/gen.c) and the checks on them                 */
/* ------------------------------------------------------------------------ */

static void
check_offsets(samsa *s, const char *topic, int32_t p, int64_t first,
              int64_t end)
{
    int64_t f = -7, e = -7;
    E(samsa_offsets(s, topic, p, &f, &e));
    ck_assert_int_eq(f, first);
    ck_assert_int_eq(e, end);
}

/* A store on a new directory (*dir) with topic "t" of
 * test_small_cfg(partitions). */
static samsa *
open_with_t(const char **dir, int32_t partitions)
{
    *dir = test_dir_make();
    samsa *s = test_open(*dir);
    samsa_topic_config cfg = test_small_cfg(partitions, 0);
    E(samsa_topic_create(s, "t", &cfg));
    return s;
}

/* A new store at path (its directory created) with topic "t" of
 * test_small_cfg(1). */
static samsa *
create_with_t(const char *path)
{
    samsa_options o = {.flags = SAMSA_OPEN_CREATE};
    samsa *s;
    E(samsa_open(path, &o, &s));
    samsa_topic_config cfg = test_small_cfg(1, 0);
    E(samsa_topic_create(s, "t", &cfg));
    return s;
}

/* A new store at path as create_with_t, whose I/O goes through a new
 * faultio (*fi): another boot (faultio.h), so that what it leaves behind
 * after crash_machine() is what a power cut leaves. */
static samsa *
create_with_t_booted(const char *path, faultio **fi)
{
    samsa_options o = {.flags = SAMSA_OPEN_CREATE};
    samsa *s;
    *fi = faultio_new();
    E(samsa__open_io(path, &o, faultio_io(*fi), &s));
    samsa_topic_config cfg = test_small_cfg(1, 0);
    E(samsa_topic_create(s, "t", &cfg));
    return s;
}

/* The machine goes down with every write kept (the page cache had made it
 * to disk): nothing is sealed or recorded, and the next open is in a new
 * boot, so only what the recovery point covers counts as acknowledged. */
static void
crash_machine(samsa *s, faultio *fi)
{
    E(faultio_power_cut(fi, FAULTIO_KEEP_ALL, 0));
    (void)samsa_close(s);
    faultio_free(fi);
}

/* ------------------------------------------------------------------------ */
/* Files                                                                    */
/* ------------------------------------------------------------------------ */

/* dir/topic-p/<base>.ext */
static const char *
seg_file(char *buf, const char *dir, const char *topic, int p, int64_t base,
         const char *ext)
{
    int n = snprintf(buf, TEST_PATH_BUF, "%s/%s-%d/%020lld%s", dir, topic, p,
                     (long long)base, ext);
    ck_assert(n > 0 && n < TEST_PATH_BUF);
    return buf;
}

static uint64_t
file_size(const char *path)
{
    struct stat st;
    ck_assert_msg(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
    return (uint64_t)st.st_size;
}

/* Flip bits of the byte at off. */
static void
flip_byte(const char *path, uint64_t off)
{
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t b;
    ck_assert_int_eq(pread(fd, &b, 1, (off_t)off), 1);
    b ^= 0x5a;
    ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)off), 1);
    close(fd);
}

static int64_t
be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)test_be32(p) << 32 | test_be32(p + 4));
}

/* A batch as the .log file holds it. */
typedef struct fbatch {
    uint64_t pos;  /* where it starts in the file                         */
    uint64_t size; /* bytes, log overhead included                        */
    int64_t base;  /* its first offset                                    */
    int32_t count; /* records                                             */
} fbatch;

/* The batches of a .log file, up to the first zero length or the end
 * (a live segment ends in preallocated zeros). */
static size_t
file_batches(const char *path, fbatch *out, size_t max)
{
    size_t len, n = 0;
    uint8_t *buf = test_slurp(path, &len);
    uint64_t pos = 0;
    while (pos + BATCH_HEADER_SIZE <= len) {
        uint32_t blen = test_be32(buf + pos + 8);
        if (blen == 0 || pos + BATCH_LOG_OVERHEAD + blen > len)
            break;
        ck_assert_uint_lt(n, max);
        out[n].pos = pos;
        out[n].size = BATCH_LOG_OVERHEAD + blen;
        out[n].base = be64(buf + pos);
        out[n].count = (int32_t)test_be32(buf + pos + 57);
        pos += out[n++].size;
    }
    free(buf);
    return n;
}

/* The batches of the segment at base of dir/t-0, at least min of them,
 * into fb (room for 256); the segment's path into log. */
static size_t
seg_batches(char *log, const char *dir, int64_t base, fbatch *fb, size_t min)
{
    size_t n = file_batches(seg_file(log, dir, "t", 0, base, ".log"), fb, 256);
    ck_assert_uint_ge(n, min);
    return n;
}

/* Copy the tree at src to dst (which must not exist). */
static void
copy_tree(const char *src, const char *dst)
{
    ck_assert_msg(mkdir(dst, 0755) == 0, "mkdir %s: %s", dst, strerror(errno));
    DIR *d = opendir(src);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char s[TEST_PATH_BUF], t[TEST_PATH_BUF];
        test_pathf(s, src, e->d_name);
        test_pathf(t, dst, e->d_name);
        struct stat st;
        ck_assert_int_eq(lstat(s, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            copy_tree(s, t);
        } else {
            size_t len;
            uint8_t *buf = test_slurp(s, &len);
            test_spew(t, buf, len, O_EXCL);
            free(buf);
        }
    }
    closedir(d);
}

/* ------------------------------------------------------------------------ */
/* Reopen                                                                   */
/* ------------------------------------------------------------------------ */

/* Everything produced before a close is read back after it, field by
 * field, and producing goes on at the next offset. */
START_TEST(test_reopen)
{
    const char *dir;
    samsa *s = open_with_t(&dir, 2);
    int64_t next[2] = {0, 0};
    test_produce_upto(s, "t", 0, &next[0], 400, 0);
    test_produce_upto(s, "t", 1, &next[1], 150, 5);
    int64_t bases[256];
    ck_assert_uint_ge(test_seg_bases(dir, "t", 0, bases, 256), 4);
    ck_assert_uint_ge(test_seg_bases(dir, "t", 1, bases, 256), 2);
    for (int p = 0; p < 2; p++) {
        check_offsets(s, "t", p, 0, next[p]);
        test_read_range(s, "t", p, 0, next[p]);
    }
    E(samsa_close(s));

    s = test_open(dir);
    samsa_topic_config got;
    E(samsa_topic_describe(s, "t", &got));
    ck_assert_int_eq(got.partitions, 2);
    ck_assert_int_eq(got.segment_bytes, 4096);
    ck_assert_int_eq(got.index_interval_bytes, 128);
    for (int p = 0; p < 2; p++) {
        check_offsets(s, "t", p, 0, next[p]);
        test_read_range(s, "t", p, 0, next[p]);
        test_read_range(s, "t", p, next[p] / 3, next[p]); /* from the middle */
    }
    /* More records continue the offsets densely, across more rolls. */
    test_produce_upto(s, "t", 0, &next[0], next[0] + 120, 3);
    test_produce_upto(s, "t", 1, &next[1], next[1] + 10, 0);
    for (int p = 0; p < 2; p++) {
        check_offsets(s, "t", p, 0, next[p]);
        test_read_range(s, "t", p, 0, next[p]);
    }
    E(samsa_close(s));

    /* And once more, closing right after the reopen. */
    s = test_open(dir);
    E(samsa_close(s));
    s = test_open(dir);
    for (int p = 0; p < 2; p++) {
        check_offsets(s, "t", p, 0, next[p]);
        test_read_range(s, "t", p, 0, next[p]);
    }
    test_produce_gen(s, "t", 0, next[0], 1);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* kill -9 in a loop                                                        */
/* ------------------------------------------------------------------------ */

#define CRASH_ROUNDS 20

/* What the child reports for each record once samsa_produce() returned. */
typedef struct ack {
    int64_t offset;
    uint32_t crc; /* CRC-32C of the value                                */
    int32_t len;  /* value length, -1 for a null value                   */
} ack;

static uint32_t
value_crc(const void *v, size_t len)
{
    return v == NULL ? 0 : samsa__crc32c(0, v, len);
}

/* The producing child: appends gen records from the log end on, one to four
 * per call, and acknowledges each record on fd right after the call
 * returned, until it is killed.  Never returns. */
static void
crash_child(const char *dir, int fd, unsigned seed, bool sync)
{
    samsa_options o = {.sync = sync ? SAMSA_SYNC_ALWAYS : SAMSA_SYNC_NONE};
    samsa *s;
    int64_t next;
    if (samsa_open(dir, &o, &s) != 0)
        _exit(20);
    if (samsa_offsets(s, "t", 0, NULL, &next) != 0)
        _exit(21);
    for (;;) {
        size_t n = rand_r(&seed) % 2 ? 1 : 1 + rand_r(&seed) % 4;
        test_grec g[TEST_GEN_MAXB];
        samsa_record recs[TEST_GEN_MAXB];
        ack acks[TEST_GEN_MAXB];
        for (size_t j = 0; j < n; j++) {
            test_gen(&g[j], next + (int64_t)j);
            recs[j] = g[j].r;
        }
        if (samsa_produce(s, "t", 0, recs, n) != 0)
            _exit(22);
        for (size_t j = 0; j < n; j++) {
            if (recs[j].offset != next + (int64_t)j)
                _exit(23);
            acks[j] = (ack){
                recs[j].offset, value_crc(recs[j].value, recs[j].value_len),
                recs[j].value == NULL ? -1 : (int32_t)recs[j].value_len};
        }
        /* One write, under PIPE_BUF: all of it or none reaches the pipe. */
        if (write(fd, acks, n * sizeof *acks) != (ssize_t)(n * sizeof *acks))
            _exit(24);
        next += (int64_t)n;
    }
}

/* Read whole acks from fd into *acks (grown), until *n >= want or EOF;
 * false at EOF. */
static bool
read_acks(int fd, ack **acks, size_t *n, size_t *cap, size_t want)
{
    while (*n < want) {
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 1024;
            *acks = realloc(*acks, *cap * sizeof **acks);
            ck_assert_ptr_nonnull(*acks);
        }
        ssize_t r = read(fd, *acks + *n, sizeof **acks);
        if (r == 0)
            return false;
        if (r < 0 && errno == EINTR)
            continue;
        ck_assert_int_eq(r, (ssize_t)sizeof **acks);
        (*n)++;
    }
    return true;
}

/*
 * A child produces and is killed with SIGKILL at a random moment (after a
 * random number of acknowledged records and a random delay, so mid-batch,
 * mid-roll or mid-ack); the parent reopens the store and checks that every
 * acknowledged record is there and intact at its offset, and that the log
 * holds nothing but whole gen records densely from 0.  Round after round on
 * the same store, so recovery runs on logs that recovery already touched.
 * Every fourth round the child uses the sync policy.
 */
START_TEST(test_crash_loop)
{
    const char *dir;
    samsa *s = open_with_t(&dir, 1);
    E(samsa_close(s));

    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid() << 8;
    const unsigned seed0 = seed;
    ack *acks = NULL;
    size_t cap = 0;
    int64_t prev_end = 0;
    int64_t total_acked = 0;
    for (int round = 0; round < CRASH_ROUNDS; round++) {
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        bool sync = round % 4 == 3;
        unsigned child_seed = (unsigned)rand_r(&seed);
        pid_t pid = test_fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            crash_child(dir, fds[1], child_seed, sync);
        }
        close(fds[1]);

        size_t n = 0;
        size_t want = 1 + (size_t)rand_r(&seed) % (sync ? 40 : 400);
        bool alive = read_acks(fds[0], &acks, &n, &cap, want);
        if (alive) {
            struct timespec d = {0, (long)(rand_r(&seed) % 3000) * 1000};
            nanosleep(&d, NULL);
            kill(pid, SIGKILL);
        }
        read_acks(fds[0], &acks, &n, &cap, SIZE_MAX); /* the rest, to EOF */
        close(fds[0]);
        int st;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
                      "round %d (seed %u): the child exited by itself, "
                      "status %d",
                      round, seed0, WIFEXITED(st) ? WEXITSTATUS(st) : -1);

        s = test_open(dir);
        int64_t first, end;
        E(samsa_offsets(s, "t", 0, &first, &end));
        ck_assert_int_eq(first, 0);
        ck_assert_msg(end >= prev_end, "round %d (seed %u): end %lld < %lld",
                      round, seed0, (long long)end, (long long)prev_end);
        if (n > 0)
            ck_assert_msg(acks[n - 1].offset < end,
                          "round %d (seed %u): acknowledged %lld lost, end "
                          "%lld",
                          round, seed0, (long long)acks[n - 1].offset,
                          (long long)end);
        if (n > 0)
            ck_assert_int_eq(acks[0].offset, prev_end);

        /* Dense from 0: every offset holds its gen record, whole. */
        ack *seen = calloc((size_t)end + 1, sizeof *seen);
        ck_assert_ptr_nonnull(seen);
        samsa_cursor *c;
        samsa_message m;
        E(samsa_cursor_open(s, "t", 0, 0, &c));
        for (int64_t o = 0; o < end; o++) {
            int rc = samsa_cursor_next(c, &m, 0);
            ck_assert_msg(rc == 0, "round %d (seed %u): next at %lld: %s",
                          round, seed0, (long long)o, samsa_strerror(rc));
            TEST_CHECK_GEN(&m, o);
            seen[o] = (ack){m.offset, value_crc(m.value, m.value_len),
                            m.value == NULL ? -1 : (int32_t)m.value_len};
        }
        EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
        samsa_cursor_close(c);
        /* Every acknowledgement matches what is stored at its offset. */
        for (size_t i = 0; i < n; i++) {
            ck_assert_int_lt(acks[i].offset, end);
            const ack *a = &acks[i], *b = &seen[a->offset];
            ck_assert_msg(a->crc == b->crc && a->len == b->len,
                          "round %d: offset %lld differs from its ack", round,
                          (long long)a->offset);
            if (i > 0)
                ck_assert_int_eq(a->offset, acks[i - 1].offset + 1);
        }
        free(seen);
        total_acked += (int64_t)n;
        prev_end = end;
        E(samsa_close(s));
    }
    free(acks);
    ck_assert_int_ge(total_acked, CRASH_ROUNDS);
    int64_t bases[4096];
    ck_assert_uint_ge(test_seg_bases(dir, "t", 0, bases, 4096), 2);
    test_dir_remove(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Torn tails                                                               */
/* ------------------------------------------------------------------------ */

/* The fixture of the torn-tail tests, under a new directory dir: the store
 * orig, whose topic "t" has several segments, the last holding several
 * batches, the last of them three records; the path work, where each
 * variant copies orig; and the last segment's .log in each. */
typedef struct torn {
    const char *dir;
    char orig[TEST_PATH_BUF], work[TEST_PATH_BUF];
    char orig_log[TEST_PATH_BUF], log[TEST_PATH_BUF];
    fbatch last; /* the last batch                                    */
    int64_t end; /* the log end                                       */
} torn;

/* A new directory holding the paths orig (a store built once) and work (a
 * copy of it, made afresh for each variant); returns the directory. */
static const char *
orig_work(char *orig, char *work)
{
    const char *dir = test_dir_make();
    test_pathf(orig, dir, "orig");
    test_pathf(work, dir, "work");
    return dir;
}

/* The store is left by a machine crash (crash_machine()): a torn tail is
 * only possible in what no sync covered, and the last segment is still
 * active, its preallocated zeros after the last batch. */
static void
torn_fixture(torn *t)
{
    t->dir = orig_work(t->orig, t->work);
    faultio *fi;
    samsa *s = create_with_t_booted(t->orig, &fi);
    int64_t next = 0, bases[64];
    fbatch fb[256];
    size_t nb, n;
    test_produce_upto(s, "t", 0, &next, 100, 0);
    /* Until a batch of three lands as the fourth or later batch of the
     * last segment. */
    for (;;) {
        test_produce_next(s, "t", 0, &next, 3);
        nb = test_seg_bases(t->orig, "t", 0, bases, 64);
        n = seg_batches(t->orig_log, t->orig, bases[nb - 1], fb, 0);
        if (n >= 4)
            break;
        test_produce_next(s, "t", 0, &next, 1);
    }
    crash_machine(s, fi);

    nb = test_seg_bases(t->orig, "t", 0, bases, 64);
    ck_assert_uint_ge(nb, 3);
    n = seg_batches(t->orig_log, t->orig, bases[nb - 1], fb, 4);
    ck_assert_int_eq(fb[n - 1].count, 3);
    ck_assert_int_eq(fb[n - 1].base + 3, next);
    ck_assert_uint_lt(fb[n - 1].pos + fb[n - 1].size, file_size(t->orig_log));
    seg_file(t->log, t->work, "t", 0, bases[nb - 1], ".log");
    t->last = fb[n - 1];
    t->end = next;
}

/* Open work; the log must end at want_end with everything before it
 * intact, and the next record must get want_end. */
static void
torn_check(const char *work, int64_t want_end, bool reopen)
{
    samsa *s;
    E(samsa_open(work, NULL, &s));
    check_offsets(s, "t", 0, 0, want_end);
    test_read_range(s, "t", 0, 0, want_end);
    test_produce_gen(s, "t", 0, want_end, 1);
    check_offsets(s, "t", 0, 0, want_end + 1);
    E(samsa_close(s));
    if (reopen) {
        E(samsa_open(work, NULL, &s));
        check_offsets(s, "t", 0, 0, want_end + 1);
        test_read_range(s, "t", 0, 0, want_end + 1);
        E(samsa_close(s));
    }
}

/* The last batch cut at every byte: exactly the batches before it are left,
 * the log ends at its base offset, and a new record gets that offset. */
START_TEST(test_torn_last_batch)
{
    torn t;
    torn_fixture(&t);

    for (uint64_t k = t.last.pos; k < t.last.pos + t.last.size; k++) {
        test_dir_remove(t.work);
        copy_tree(t.orig, t.work);
        ck_assert_int_eq(truncate(t.log, (off_t)k), 0);
        /* A full check, reopen included, at the edges and now and then. */
        bool full =
            k == t.last.pos || k == t.last.pos + t.last.size - 1 || k % 16 == 0;
        torn_check(t.work, t.last.base, full);
    }
    test_dir_remove(t.dir);
}
END_TEST

/* Garbage after the last batch is cut off: random bytes, zeros (as a live
 * segment's preallocated tail), a header with nothing after it, a copy of
 * the last batch (a base offset that goes back), and a copy with a base
 * offset that fits but a broken CRC. */
START_TEST(test_torn_garbage)
{
    torn t;
    torn_fixture(&t);
    uint64_t size0 = t.last.pos + t.last.size;

    size_t len;
    uint8_t *lastbuf;
    uint8_t *all = test_slurp(t.orig_log, &len);
    lastbuf = malloc(t.last.size);
    memcpy(lastbuf, all + t.last.pos, t.last.size);
    free(all);
    uint8_t garbage[4096];
    unsigned seed = 7;
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (uint8_t)(1 + rand_r(&seed) % 255);

    for (int v = 0; v < 6; v++) {
        test_dir_remove(t.work);
        copy_tree(t.orig, t.work);
        uint8_t *buf = garbage;
        size_t n = 0;
        uint8_t zeros[8192] = {0};
        switch (v) {
        case 0:
            n = 100;
            break; /* random bytes   */
        case 1:
            buf = zeros;
            n = sizeof zeros;
            break; /* zeros          */
        case 2:
            buf = lastbuf;
            n = 40;
            break; /* a torn header  */
        case 3:
            buf = lastbuf;
            n = t.last.size;
            break; /* goes back      */
        case 4:    /* bad CRC        */
            buf = lastbuf;
            n = t.last.size;
            for (int b = 0; b < 8; b++) /* base offset = the log end */
                lastbuf[b] = (uint8_t)((uint64_t)t.end >> (56 - 8 * b));
            lastbuf[t.last.size - 1] ^= 0x01;
            break;
        case 5:
            buf = garbage;
            n = 3000;
            break; /* longer than a batch */
        }
        ck_assert_int_eq(truncate(t.log, (off_t)size0), 0);
        test_spew(t.log, buf, n, O_APPEND);
        ck_assert_uint_eq(file_size(t.log), size0 + n);
        samsa *s;
        E(samsa_open(t.work, NULL, &s));
        ck_assert_msg(file_size(t.log) == size0, "variant %d: size %llu", v,
                      (unsigned long long)file_size(t.log));
        check_offsets(s, "t", 0, 0, t.end);
        test_read_range(s, "t", 0, 0, t.end);
        E(samsa_close(s));
        torn_check(t.work, t.end, true);
    }
    free(lastbuf);
    test_dir_remove(t.dir);
}
END_TEST

/* A segment that a roll had just started, torn inside its only batch: it is
 * left empty, at its base offset. */
START_TEST(test_torn_first_batch)
{
    char orig[TEST_PATH_BUF], work[TEST_PATH_BUF], log[TEST_PATH_BUF];
    const char *dir = orig_work(orig, work);
    faultio *fi;
    samsa *s = create_with_t_booted(orig, &fi);
    int64_t next = 0, bases[64];
    size_t nb = 1;
    while ((nb = test_seg_bases(orig, "t", 0, bases, 64)) < 2) {
        test_produce_next(s, "t", 0, &next, 2);
    }
    ck_assert_int_eq(bases[1], next - 2); /* the roll took that batch */
    crash_machine(s, fi);
    fbatch fb[4];
    ck_assert_uint_eq(
        file_batches(seg_file(log, orig, "t", 0, bases[1], ".log"), fb, 4), 1);
    seg_file(log, work, "t", 0, bases[1], ".log");
    for (uint64_t k = 0; k < fb[0].size; k += k < 70 ? 1 : 5) {
        test_dir_remove(work);
        copy_tree(orig, work);
        ck_assert_int_eq(truncate(log, (off_t)k), 0);
        torn_check(work, bases[1], k % 20 == 0);
        ck_assert(test_exists(log));
    }
    test_dir_remove(dir);
}
END_TEST

/* A torn tail in a segment that is not the last: the segments after it
 * follow records the Kafka rule cuts, so they go, but only those that
 * begin as samsa makes a segment.  A file among them that does not (not
 * samsa's: its name alone proves nothing) stops the open with
 * SAMSA_ECORRUPT, and it and the segments after the tail stay.  The
 * torn tail is cut first, as recovery cuts it: once the file is moved
 * away, nothing is torn, and the records after it stay (whole, in
 * order, never acknowledged: kept rather than cut, nothing lost). */
START_TEST(test_torn_then_foreign)
{
    torn t;
    torn_fixture(&t);
    int64_t bases[64];
    size_t nb = test_seg_bases(t.orig, "t", 0, bases, 64);
    char mid[TEST_PATH_BUF], last[TEST_PATH_BUF], stray[TEST_PATH_BUF];
    static const char text[] = "not samsa's: must stay as it is\n";
    for (int k = 0; k < 3; k++) {
        test_dir_remove(t.work);
        copy_tree(t.orig, t.work);
        seg_file(mid, t.work, "t", 0, bases[nb - 2], ".log");
        seg_file(last, t.work, "t", 0, bases[nb - 1], ".log");
        seg_file(stray, t.work, "t", 0, t.end + 100, ".log");
        /* garbage after the sealed segment's last batch: a torn tail */
        size_t mid_len;
        uint8_t *mid_was = test_slurp(mid, &mid_len);
        static const uint8_t junk[40] = {0x55, 0x66, 0x77};
        test_spew(mid, junk, sizeof junk, O_APPEND);
        if (k == 1) /* zeros: as a roll's file with nothing in it yet */
            test_spew(stray, (uint8_t[64]){0}, 64, O_EXCL);
        if (k == 2)
            test_spew(stray, text, sizeof text - 1, O_EXCL);
        samsa *s = NULL;
        if (k == 2) {
            EQ_RC(samsa_open(t.work, NULL, &s), SAMSA_ECORRUPT);
            ck_assert(test_exists(last));
            size_t n;
            uint8_t *b = test_slurp(stray, &n);
            ck_assert(n == sizeof text - 1 && memcmp(b, text, n) == 0);
            free(b);
            ck_assert_int_eq(unlink(stray), 0);
        }
        size_t n;
        uint8_t *b = test_slurp(mid, &n);
        if (k < 2) {
            /* cut; the segment the last again, taking the next record */
            torn_check(t.work, bases[nb - 1], true);
            free(b);
            b = test_slurp(mid, &n);
            ck_assert(n > mid_len && memcmp(b, mid_was, mid_len) == 0);
            ck_assert(!test_exists(last));
        } else {
            ck_assert(n == mid_len && memcmp(b, mid_was, mid_len) == 0);
            torn_check(t.work, t.end, true);
        }
        free(b);
        free(mid_was);
        ck_assert(!test_exists(stray));
    }
    test_dir_remove(t.dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Corruption in the middle                                                 */
/* ------------------------------------------------------------------------ */

/* Read from 0 across corrupt batches bad[0..nbad) (ascending): every record
 * before each is read, next stops at its first offset with SAMSA_ECORRUPT
 * and stays there, and a seek past it reads on, to end.  The batches may
 * be damaged or gone, timestamps and all. */
static void
read_across_corruption(samsa *s, const fbatch *bad, size_t nbad, int64_t end)
{
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "t", 0, 0, &c));
    int64_t o = 0;
    for (size_t b = 0; b <= nbad; b++) {
        int64_t stop = b < nbad ? bad[b].base : end;
        for (; o < stop; o++) {
            int rc = samsa_cursor_next(c, &m, 0);
            ck_assert_msg(rc == 0, "next at %lld: %s", (long long)o,
                          samsa_strerror(rc));
            TEST_CHECK_GEN(&m, o);
        }
        if (b == nbad)
            break;
        EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ECORRUPT);
        ck_assert_int_eq(samsa_cursor_offset(c), bad[b].base);
        EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ECORRUPT);
        ck_assert_int_eq(samsa_cursor_offset(c), bad[b].base);
        o = bad[b].base + bad[b].count;
        E(samsa_cursor_seek(c, o));
        ck_assert_int_eq(samsa_cursor_offset(c), o);
    }
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
    samsa_cursor_close(c);

    for (size_t b = 0; b < nbad; b++) {
        /* Opened right at it, or inside it. */
        for (int32_t d = 0; d < bad[b].count; d++) {
            E(samsa_cursor_open(s, "t", 0, bad[b].base + d, &c));
            EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ECORRUPT);
            ck_assert_int_eq(samsa_cursor_offset(c), bad[b].base + d);
            samsa_cursor_close(c);
        }
        /* Right after it: the next record is read. */
        E(samsa_cursor_open(s, "t", 0, bad[b].base + bad[b].count, &c));
        if (bad[b].base + bad[b].count < end) {
            E(samsa_cursor_next(c, &m, 0));
            TEST_CHECK_GEN(&m, bad[b].base + bad[b].count);
        }
        /* Just before it: that record, then the corrupt batch. */
        if (bad[b].base > 0) {
            E(samsa_cursor_seek(c, bad[b].base - 1));
            E(samsa_cursor_next(c, &m, 0));
            TEST_CHECK_GEN(&m, bad[b].base - 1);
            EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ECORRUPT);
            ck_assert_int_eq(samsa_cursor_offset(c), bad[b].base);
        }
        /* A time seek that must look inside it fails and moves nothing;
         * one that is answered before it does not look at it.  Records
         * that are gone might have held the answer too: a seek that has
         * to pass them fails the same way, never skips them. */
        int64_t t = test_gen_ts(bad[b].base + bad[b].count - 1), want = -1;
        for (int64_t i = 0; want < 0 && i < end; i++)
            if (test_gen_ts(i) >= t)
                want = i;
        E(samsa_cursor_seek(c, 0));
        if (want >= bad[b].base) {
            int rc = samsa_cursor_seek_time(c, t);
            ck_assert_msg(rc == SAMSA_ECORRUPT,
                          "seek_time %lld, first >= at %lld in the corrupt "
                          "batch at %lld: %s, at %lld",
                          (long long)t, (long long)want, (long long)bad[b].base,
                          samsa_strerror(rc),
                          (long long)samsa_cursor_offset(c));
            ck_assert_int_eq(samsa_cursor_offset(c), 0);
        } else {
            E(samsa_cursor_seek_time(c, t));
            ck_assert_int_eq(samsa_cursor_offset(c), want);
        }
        samsa_cursor_close(c);
    }
}

/* The byte to flip: in the middle of the batch's records. */
static uint64_t
record_byte(const fbatch *b)
{
    return b->pos + BATCH_HEADER_SIZE + (b->size - BATCH_HEADER_SIZE) / 2;
}

/* A closed store on a new directory (*dir) whose t-0 holds records from 0
 * to at least 159 (in batches of the pattern from index k) in at least
 * three segments, whose bases go to bases[64]; returns the log end. */
static int64_t
sealed_fixture(const char **dir, size_t k, int64_t *bases)
{
    samsa *s = open_with_t(dir, 1);
    int64_t end = 0;
    test_produce_upto(s, "t", 0, &end, 160, k);
    E(samsa_close(s));
    ck_assert_uint_ge(test_seg_bases(*dir, "t", 0, bases, 64), 3);
    return end;
}

/* A flipped byte in a sealed segment below the recovery point: open does
 * not read it, cursors report it, and nothing is cut. */
START_TEST(test_corrupt_sealed)
{
    const char *dir;
    int64_t bases[64];
    int64_t end = sealed_fixture(&dir, 2, bases);
    samsa *s;

    char log[TEST_PATH_BUF];
    fbatch fb[256];
    size_t n = seg_batches(log, dir, bases[0], fb, 5);
    fbatch bad = fb[n / 2];
    uint64_t size = file_size(log);
    flip_byte(log, record_byte(&bad));

    s = test_open(dir);
    check_offsets(s, "t", 0, 0, end);
    ck_assert_uint_eq(file_size(log), size);
    read_across_corruption(s, &bad, 1, end);
    test_produce_gen(s, "t", 0, end, 2);
    end += 2;
    E(samsa_close(s));

    /* Still there, still reported, after another open. */
    s = test_open(dir);
    check_offsets(s, "t", 0, 0, end);
    ck_assert_uint_eq(file_size(log), size);
    read_across_corruption(s, &bad, 1, end);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A child writes and dies without closing (its last segment still has its
 * preallocated tail, and no recovery point was saved); bytes flipped in a
 * middle batch of the first segment and of the active one are kept through
 * recovery and reported by cursors, and the records between and after them
 * are all still there. */
static void
corrupt_after_kill(bool header)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = test_small_cfg(1, 0);
    /* Sparse enough that a lookup past the bad batch needs the entry the
     * recovery scan adds right after it. */
    if (header)
        cfg.index_interval_bytes = 2048;
    E(samsa_topic_create(s, "t", &cfg));
    E(samsa_close(s));
    /* The child writes single records, at least 150 and until the last
     * segment holds at least six, and reports how many through a pipe. */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = test_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        if (samsa_open(dir, NULL, &s) != 0)
            _exit(20);
        int64_t i = 0, since_roll = 0;
        size_t nsegs = 1;
        for (; i < 150 || since_roll < 6; i++) {
            test_grec g;
            test_gen(&g, i);
            if (samsa_produce(s, "t", 0, &g.r, 1) != 0 || g.r.offset != i)
                _exit(21);
            char pd[TEST_PATH_BUF];
            snprintf(pd, sizeof pd, "%s/t-0", dir);
            DIR *d = opendir(pd);
            size_t k = 0;
            for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
                k += strstr(e->d_name, ".log") != NULL;
            if (d != NULL)
                closedir(d);
            since_roll = k != nsegs ? 1 : since_roll + 1;
            nsegs = k;
        }
        if (write(fds[1], &i, sizeof i) != sizeof i)
            _exit(22);
        kill(getpid(), SIGKILL); /* no samsa_close: killed */
        _exit(23);
    }
    close(fds[1]);
    int64_t total = -1;
    ck_assert_int_eq(read(fds[0], &total, sizeof total), sizeof total);
    close(fds[0]);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
                  "child did not die by SIGKILL (status %d)", st);
    ck_assert_int_ge(total, 150);

    int64_t bases[64];
    size_t nb = test_seg_bases(dir, "t", 0, bases, 64);
    ck_assert_uint_ge(nb, 3);
    char log0[TEST_PATH_BUF], logn[TEST_PATH_BUF];
    fbatch fb[256], bad[2];
    size_t n = seg_batches(log0, dir, bases[0], fb, 5);
    bad[0] = fb[n / 2];
    n = seg_batches(logn, dir, bases[nb - 1], fb, 6);
    ck_assert_int_eq(fb[n - 1].base + fb[n - 1].count, total);
    ck_assert_uint_gt(file_size(logn), fb[n - 1].pos + fb[n - 1].size);
    bad[1] = fb[n / 2];
    if (!header) {
        /* In the records: the first segment may have been recovered or
         * trusted (the child's flusher may have synced it and saved a
         * recovery point past it), which must not matter. */
        flip_byte(log0, record_byte(&bad[0]));
        flip_byte(logn, record_byte(&bad[1]));
    } else {
        /* In the high byte of batchLength, which then points far past the
         * end of the file: nothing says where the next batch starts but
         * the recovery scan's search for it.  Both in the last segment,
         * the one recovery always scans. */
        bad[0] = fb[1];
        bad[1] = fb[3];
        flip_byte(logn, bad[0].pos + 8);
        flip_byte(logn, bad[1].pos + 8);
    }

    /* A batch whose header is unreadable has no timestamps to find, as
     * if it were gone. */
    s = test_open(dir);
    check_offsets(s, "t", 0, 0, total);
    read_across_corruption(s, bad, 2, total);
    test_produce_gen(s, "t", 0, total, 3);
    E(samsa_close(s));
    s = test_open(dir);
    check_offsets(s, "t", 0, 0, total + 3);
    read_across_corruption(s, bad, 2, total + 3);
    E(samsa_close(s));
    test_dir_remove(dir);
}

START_TEST(test_corrupt_after_kill)
{
    corrupt_after_kill(false);
}
END_TEST

/* The same with the batch length destroyed. */
START_TEST(test_corrupt_header_after_kill)
{
    corrupt_after_kill(true);
}
END_TEST

/* A record whose value holds a whole, valid Kafka batch (as a mirroring tool
 * might store) must not be taken for the log's next batch when the batch
 * around it is damaged: recovery skips the damaged batch by its own length,
 * reports it, and keeps the real batch after it. */
START_TEST(test_embedded_batch_not_taken)
{
    const char *dir;
    samsa *s = open_with_t(&dir, 1);
    E(samsa_close(s)); /* recovery point 0: the crash below is scanned */

    /* A valid batch whose base offset (7) is past the outer record's. */
    samsa_record inner = {.value = "inner", .value_len = 5, .timestamp = 5};
    samsa_record *ip = &inner;
    size_t bodies[1];
    size_t ilen = batch_encoded_size(&ip, 1, bodies);
    uint8_t value[256] = "XX";
    ck_assert_uint_le(ilen + 2, sizeof value);
    batch_encode(value + 2, &ip, 1, bodies);
    batch_set_base_offset(value + 2, 7);

    pid_t pid = test_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        samsa *cs;
        samsa_record r[3] = {
            {.value = "first", .value_len = 5, .timestamp = 1},
            {.value = value, .value_len = ilen + 2, .timestamp = 2},
            {.value = "after", .value_len = 5, .timestamp = 3},
        };
        if (samsa_open(dir, NULL, &cs) != 0)
            _exit(20);
        for (int i = 0; i < 3; i++)
            if (samsa_produce(cs, "t", 0, &r[i], 1) != 0 || r[i].offset != i)
                _exit(21);
        kill(getpid(), SIGKILL); /* no close: the tail is recovered */
        _exit(22);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    /* Damage the "XX" before the inner batch: the outer CRC fails, its
     * header stays good. */
    char log[TEST_PATH_BUF];
    snprintf(log, sizeof log, "%s/t-0/%020d.log", dir, 0);
    FILE *f = fopen(log, "r+b");
    ck_assert_ptr_nonnull(f);
    uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    uint8_t *xx = memmem(buf, n, "XX", 2);
    ck_assert_ptr_nonnull(xx);
    ck_assert_int_eq(fseek(f, (long)(xx - buf), SEEK_SET), 0);
    ck_assert_int_eq(fputc('Y', f), 'Y');
    ck_assert_int_eq(fclose(f), 0);

    s = test_open(dir);
    int64_t first, end;
    E(samsa_offsets(s, "t", 0, &first, &end));
    ck_assert_int_eq(end, 3); /* "after" kept, nothing from the value */
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "t", 0, 0, &c));
    E(samsa_cursor_next(c, &m, 0));
    ck_assert_int_eq(m.offset, 0);
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ECORRUPT);
    ck_assert_int_eq(samsa_cursor_offset(c), 1);
    E(samsa_cursor_seek(c, 2));
    E(samsa_cursor_next(c, &m, 0));
    ck_assert_int_eq(m.offset, 2);
    ck_assert_mem_eq(m.value, "after", 5);
    samsa_cursor_close(c);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A sealed segment below the recovery point that lost its last batch (the
 * file got shorter behind samsa's back): open does not notice, the log end
 * stays, and cursors report the missing offsets as corrupt instead of
 * skipping them to the next segment. */
START_TEST(test_lost_sealed_tail)
{
    const char *dir;
    int64_t bases[64];
    int64_t end = sealed_fixture(&dir, 4, bases);
    samsa *s;

    char log[TEST_PATH_BUF];
    fbatch fb[256];
    size_t n = seg_batches(log, dir, bases[1], fb, 3);
    fbatch lost = fb[n - 1];
    ck_assert_int_eq(lost.base + lost.count, bases[2]);
    ck_assert_int_eq(truncate(log, (off_t)lost.pos), 0);

    s = test_open(dir);
    check_offsets(s, "t", 0, 0, end);
    read_across_corruption(s, &lost, 1, end);
    test_produce_gen(s, "t", 0, end, 1);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Index files                                                              */
/* ------------------------------------------------------------------------ */

/* Every offset seeks to itself, and every timestamp to the first record at
 * or after it, whatever the index files said. */
static void
check_seeks(samsa *s, int64_t end)
{
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "t", 0, SAMSA_OFFSET_END, &c));
    for (int64_t o = end; o >= 0; o--) {
        E(samsa_cursor_seek(c, o));
        if (o == end) {
            EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
            continue;
        }
        int rc = samsa_cursor_next(c, &m, 0);
        ck_assert_msg(rc == 0, "seek %lld: %s", (long long)o,
                      samsa_strerror(rc));
        TEST_CHECK_GEN(&m, o);
    }
    for (int64_t t = test_gen_ts(0) - 3; t <= test_gen_ts(end - 1) + 3;
         t += 3) {
        int64_t want = end;
        for (int64_t i = 0; i < end; i++)
            if (test_gen_ts(i) >= t) {
                want = i;
                break;
            }
        E(samsa_cursor_seek_time(c, t));
        ck_assert_msg(samsa_cursor_offset(c) == want,
                      "seek_time %lld: at %lld, want %lld", (long long)t,
                      (long long)samsa_cursor_offset(c), (long long)want);
        if (want < end) {
            E(samsa_cursor_next(c, &m, 0));
            TEST_CHECK_GEN(&m, want);
        }
    }
    samsa_cursor_close(c);
}

/* What is done to the index files of each segment. */
enum {
    IX_NONE,         /* left alone (the control)                         */
    IX_DELETE_BOTH,  /* both removed                                     */
    IX_DELETE_INDEX, /* .index removed                                   */
    IX_DELETE_TIME,  /* .timeindex removed                               */
    IX_ZERO,         /* .index zeroed, same size                         */
    IX_ODD,          /* .index cut to a size no entry size divides       */
    IX_GARBAGE,      /* both overwritten with random bytes               */
    IX_LAST_POS,     /* the last .index entry points one byte off        */
    IX_ONE_LESS,     /* .index one entry shorter than .timeindex         */
    IX_HALF,         /* both cut to their first half: valid, sparser     */
    IX_TIME_GARBAGE, /* .timeindex timestamps scrambled                  */
    IX_NVARIANTS
};

static void
damage_index(const char *ipath, const char *tpath, int v, unsigned *seed)
{
    size_t ilen, tlen;
    uint8_t *ib = test_slurp(ipath, &ilen), *tb = test_slurp(tpath, &tlen);
    /* A time entry only where the largest timestamp grows, and the
     * seal's last one (segment.c, "Index"). */
    ck_assert_uint_le(tlen / 12, ilen / 8 + 1);
    switch (v) {
    case IX_NONE:
        break;
    case IX_DELETE_BOTH:
        ck_assert_int_eq(unlink(ipath), 0);
        ck_assert_int_eq(unlink(tpath), 0);
        break;
    case IX_DELETE_INDEX:
        ck_assert_int_eq(unlink(ipath), 0);
        break;
    case IX_DELETE_TIME:
        ck_assert_int_eq(unlink(tpath), 0);
        break;
    case IX_ZERO:
        memset(ib, 0, ilen);
        test_spew(ipath, ib, ilen, O_TRUNC);
        break;
    case IX_ODD:
        if (ilen > 0)
            ck_assert_int_eq(truncate(ipath, (off_t)ilen - 3), 0);
        break;
    case IX_GARBAGE:
        for (size_t i = 0; i < ilen; i++)
            ib[i] = (uint8_t)rand_r(seed);
        for (size_t i = 0; i < tlen; i++)
            tb[i] = (uint8_t)rand_r(seed);
        test_spew(ipath, ib, ilen, O_TRUNC);
        test_spew(tpath, tb, tlen, O_TRUNC);
        break;
    case IX_LAST_POS:
        if (ilen > 0) {
            ib[ilen - 1] = (uint8_t)(ib[ilen - 1] + 1);
            test_spew(ipath, ib, ilen, O_TRUNC);
        }
        break;
    case IX_ONE_LESS:
        if (ilen > 0)
            ck_assert_int_eq(truncate(ipath, (off_t)ilen - 8), 0);
        break;
    case IX_HALF:
        ck_assert_int_eq(truncate(ipath, (off_t)(ilen / 8 / 2 * 8)), 0);
        ck_assert_int_eq(truncate(tpath, (off_t)(tlen / 12 / 2 * 12)), 0);
        break;
    case IX_TIME_GARBAGE:
        for (size_t i = 0; i + 12 <= tlen; i += 12)
            for (size_t b = 0; b < 8; b++)
                tb[i + b] = (uint8_t)rand_r(seed);
        test_spew(tpath, tb, tlen, O_TRUNC);
        break;
    }
    free(ib);
    free(tb);
}

START_TEST(test_index_files)
{
    char orig[TEST_PATH_BUF], work[TEST_PATH_BUF];
    const char *dir = orig_work(orig, work);
    samsa *s = create_with_t(orig);
    int64_t end = 0, bases[64];
    test_produce_upto(s, "t", 0, &end, 300, 1);
    E(samsa_close(s));
    size_t nb = test_seg_bases(orig, "t", 0, bases, 64);
    ck_assert_uint_ge(nb, 4);
    {
        char p[TEST_PATH_BUF];
        ck_assert_uint_ge(
            file_size(seg_file(p, orig, "t", 0, bases[0], ".index")),
            8 * 8); /* several entries per segment */
    }

    unsigned seed = 99;
    for (int v = 0; v < IX_NVARIANTS; v++) {
        test_dir_remove(work);
        copy_tree(orig, work);
        /* Every segment, the last (active once reopened) included. */
        for (size_t i = 0; i < nb; i++) {
            char ip[TEST_PATH_BUF], tp[TEST_PATH_BUF];
            damage_index(seg_file(ip, work, "t", 0, bases[i], ".index"),
                         seg_file(tp, work, "t", 0, bases[i], ".timeindex"), v,
                         &seed);
        }
        E(samsa_open(work, NULL, &s));
        check_offsets(s, "t", 0, 0, end);
        check_seeks(s, end);
        /* The log goes on, and a second open agrees. */
        test_produce_gen(s, "t", 0, end, 1);
        E(samsa_close(s));
        E(samsa_open(work, NULL, &s));
        check_offsets(s, "t", 0, 0, end + 1);
        check_seeks(s, end + 1);
        E(samsa_close(s));
    }
    test_dir_remove(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Catalog and directories                                                  */
/* ------------------------------------------------------------------------ */

/* Directories that look like partitions (of a topic that does not exist,
 * past a real topic's count, an old "-delete" name) but that no catalog
 * record proves samsa made are left alone at open (samsa deletes only what
 * it can prove it made; crashed creates and deletes are proven by their
 * pending records, check_store.c); a create they are in the way of fails
 * with SAMSA_EEXIST, and once their owner removed them it starts from
 * offset 0. */
START_TEST(test_stray_directories)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config one = test_small_cfg(1, 0);
    E(samsa_topic_create(s, "real", &one));
    test_produce_str(s, "real", 0, "k", "kept");
    E(samsa_close(s));

    char p[TEST_PATH_BUF], f[TEST_PATH_BUF];
    const char *strays[] = {"ghost-0", "ghost-1", "real-1", "real-delete"};
    for (size_t i = 0; i < sizeof strays / sizeof strays[0]; i++) {
        ck_assert_int_eq(mkdir(test_pathf(p, dir, strays[i]), 0755), 0);
        /* A whole valid batch that must not show up anywhere. */
        test_spew(test_pathf(f, p, "00000000000000000000.log"),
                  test_sarama_batch, TEST_SARAMA_BATCH_SIZE, O_EXCL);
        test_spew(test_pathf(f, p, "00000000000000000000.index"), "", 0,
                  O_EXCL);
    }
    /* Files that merely look alike are none of its business. */
    test_spew(test_pathf(f, dir, "notes-txt"), "x", 1, O_EXCL);
    ck_assert_int_eq(mkdir(test_pathf(p, dir, "keep-me"), 0755), 0);

    s = test_open(dir);
    for (size_t i = 0; i < sizeof strays / sizeof strays[0]; i++)
        ck_assert_msg(test_exists(test_pathf(f, test_pathf(p, dir, strays[i]),
                                             "00000000000000000000.log")),
                      "%s removed", strays[i]);
    ck_assert(test_exists(test_pathf(p, dir, "real-0")));
    ck_assert(test_exists(test_pathf(p, dir, "notes-txt")));
    ck_assert(test_exists(test_pathf(p, dir, "keep-me")));
    samsa_topic_config got;
    EQ_RC(samsa_topic_describe(s, "ghost", &got), SAMSA_ENOTOPIC);
    check_offsets(s, "real", 0, 0, 1);
    EQ_RC(samsa_offsets(s, "real", 1, NULL, NULL), SAMSA_ENOPARTITION);

    samsa_topic_config two = test_small_cfg(2, 0);
    EQ_RC(samsa_topic_create(s, "ghost", &two), SAMSA_EEXIST);
    ck_assert(test_exists(test_pathf(p, dir, "ghost-1")));
    EQ_RC(samsa_topic_describe(s, "ghost", &got), SAMSA_ENOTOPIC);
    for (int i = 0; i < 2; i++) /* their owner removes them */
        test_dir_remove(test_pathf(p, dir, strays[i]));
    E(samsa_topic_create(s, "ghost", &two));
    for (int32_t q = 0; q < 2; q++) {
        check_offsets(s, "ghost", q, 0, 0);
        test_produce_gen(s, "ghost", q, 0, 2);
    }
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "ghost", 1, 0, &c));
    E(samsa_cursor_next(c, &m, 0));
    TEST_CHECK_GEN(&m, 0);
    E(samsa_cursor_next(c, &m, 0));
    TEST_CHECK_GEN(&m, 1);
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
    samsa_cursor_close(c);
    E(samsa_close(s));

    s = test_open(dir);
    for (int32_t q = 0; q < 2; q++)
        test_read_range(s, "ghost", q, 0, 2);
    E(samsa_cursor_open(s, "real", 0, 0, &c));
    E(samsa_cursor_next(c, &m, 0));
    ck_assert_int_eq(m.value_len, 4);
    ck_assert_mem_eq(m.value, "kept", 4);
    samsa_cursor_close(c);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* Another process cannot open a store that is open here; once it is closed
 * here, it can.  The child is forked before the store is opened, so that it
 * holds none of this process's descriptors on it. */
START_TEST(test_locked_other_process)
{
    const char *dir;
    samsa *s = open_with_t(&dir, 1);
    test_produce_gen(s, "t", 0, 0, 3);
    E(samsa_close(s));

    int go[2], done[2];
    ck_assert_int_eq(pipe(go), 0);
    ck_assert_int_eq(pipe(done), 0);
    pid_t pid = test_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char b;
        samsa *cs = NULL;
        int64_t e = -1;
        close(go[1]);
        close(done[0]);
        if (read(go[0], &b, 1) != 1)
            _exit(10);
        int rc = samsa_open(dir, NULL, &cs);
        if (rc != SAMSA_ELOCKED || cs != NULL)
            _exit(11);
        if (write(done[1], "x", 1) != 1 || read(go[0], &b, 1) != 1)
            _exit(12);
        if (samsa_open(dir, NULL, &cs) != 0)
            _exit(13);
        if (samsa_offsets(cs, "t", 0, NULL, &e) != 0 || e != 3)
            _exit(14);
        if (samsa_close(cs) != 0)
            _exit(15);
        _exit(0);
    }
    close(go[0]);
    close(done[1]);
    s = test_open(dir);
    ck_assert_int_eq(write(go[1], "1", 1), 1);
    char b;
    ck_assert_int_eq(read(done[0], &b, 1), 1); /* it tried, and was refused */
    /* Still ours: it changed nothing. */
    check_offsets(s, "t", 0, 0, 3);
    E(samsa_close(s));
    ck_assert_int_eq(write(go[1], "2", 1), 1);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st));
    ck_assert_msg(WEXITSTATUS(st) == 0, "child failed at step %d",
                  WEXITSTATUS(st));
    close(go[1]);
    close(done[0]);
    /* And ours again after the child closed it. */
    s = test_open(dir);
    test_read_range(s, "t", 0, 0, 3);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Damage below the acknowledged end (issue 10, findings 2 and 3)           */
/* ------------------------------------------------------------------------ */

/* What a full read of t-0 made of a store whose records are test_gen(0..
 * want_end-1): why it is wrong (a record returned at the wrong offset or
 * with the wrong contents, an acknowledged record neither returned nor
 * reported SAMSA_ECORRUPT, a wrong log end, a time seek landing on the
 * wrong offset with rc 0), or NULL; and which offsets were reported
 * corrupt (status[o] = 1; status may be NULL). */
typedef struct sweep {
    char why[256];     /* the first thing wrong, "" when none          */
    int64_t ncorrupt;  /* offsets reported SAMSA_ECORRUPT              */
    int64_t nseek_bad; /* time seeks answered SAMSA_ECORRUPT           */
} sweep;

static bool
sweep_fail(sweep *w, const char *what, int64_t at, int rc)
{
    if (w->why[0] == '\0')
        snprintf(w->why, sizeof w->why, "%s at %lld: %s", what, (long long)at,
                 samsa_strerror(rc));
    return false;
}

static bool
sweep_read(samsa *s, int64_t want_end, sweep *w, uint8_t *status)
{
    int64_t first = -7, end = -7;
    int rc = samsa_offsets(s, "t", 0, &first, &end);
    if (rc != 0 || first != 0 || end != want_end)
        return sweep_fail(w, "log end", end, rc);
    samsa_cursor *c;
    samsa_message m;
    if ((rc = samsa_cursor_open(s, "t", 0, 0, &c)) != 0)
        return sweep_fail(w, "cursor_open", 0, rc);
    bool ok = true;
    for (int64_t o = 0; ok && o < end; o++) {
        rc = samsa_cursor_next(c, &m, 0);
        if (rc == 0 && test_gen_mismatch(&m, o) != NULL)
            ok = sweep_fail(w, test_gen_mismatch(&m, o), o, 0);
        else if (rc == SAMSA_ECORRUPT) {
            w->ncorrupt++;
            if (status != NULL)
                status[o] = 1;
            if (samsa_cursor_offset(c) != o)
                ok = sweep_fail(w, "corrupt, cursor moved", o, rc);
            else if ((rc = samsa_cursor_seek(c, o + 1)) != 0)
                ok = sweep_fail(w, "seek past damage", o + 1, rc);
        } else if (rc != 0)
            ok = sweep_fail(w, "next", o, rc);
    }
    if (ok && (rc = samsa_cursor_next(c, &m, 0)) != SAMSA_ETIMEDOUT)
        ok = sweep_fail(w, "next after the end", end, rc);
    /* Every time seek is right or says SAMSA_ECORRUPT. */
    for (int64_t t = test_gen_ts(0) - 2; ok && t <= test_gen_ts(end) + 2;
         t += 7) {
        int64_t want = end;
        for (int64_t i = end - 1; i >= 0; i--)
            if (test_gen_ts(i) >= t)
                want = i;
        rc = samsa_cursor_seek_time(c, t);
        if (rc == SAMSA_ECORRUPT)
            w->nseek_bad++;
        else if (rc != 0 || samsa_cursor_offset(c) != want)
            ok = sweep_fail(w, "seek_time lands", samsa_cursor_offset(c), rc);
    }
    samsa_cursor_close(c);
    return ok;
}

/* sweep_read() on the store at dir, then one more record, which must get
 * the offset want_end; the store is closed after. */
static bool
sweep_store(const char *dir, int64_t want_end, sweep *w, uint8_t *status)
{
    samsa *s;
    int rc = samsa_open(dir, NULL, &s);
    if (rc != 0)
        return sweep_fail(w, "open", 0, rc);
    bool ok = sweep_read(s, want_end, w, status);
    test_grec g;
    test_gen(&g, want_end);
    if (ok && ((rc = samsa_produce(s, "t", 0, &g.r, 1)) != 0 ||
               g.r.offset != want_end))
        ok = sweep_fail(w, "next produce got", g.r.offset, rc);
    rc = samsa_close(s);
    if (ok && rc != 0)
        ok = sweep_fail(w, "close", 0, rc);
    return ok;
}

/* How the fixture store of the damage tests ends. */
typedef enum ending {
    END_CLOSE,     /* samsa_close()                                       */
    END_KILL,      /* kill -9 of the producing process, SAMSA_SYNC_NONE   */
    END_KILL_SYNC, /* kill -9, SAMSA_SYNC_ALWAYS                          */
    END_CLOSE_SYNC /* samsa_close() after producing with SYNC_ALWAYS      */
} ending;

/* A store on a new directory (*dir) whose t-0 holds test_gen(0..end-1) in
 * two or more segments, the last with at least four batches, ended as
 * said; returns the log end. */
static int64_t
damage_fixture(const char **dir, ending how)
{
    samsa *s = open_with_t(dir, 1);
    E(samsa_close(s));
    /* After each produce the child sends its log end on fds and waits for
     * the word on more: the files are looked at here, as the child must
     * not assert. */
    int fds[2], more[2];
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(pipe(more), 0);
    pid_t pid = test_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        bool sync = how == END_KILL_SYNC || how == END_CLOSE_SYNC;
        samsa_options o = {.sync = sync ? SAMSA_SYNC_ALWAYS : SAMSA_SYNC_NONE};
        int64_t next = 0;
        char go = 1;
        close(fds[0]);
        close(more[1]);
        if (samsa_open(*dir, &o, &s) != 0)
            _exit(20);
        for (size_t k = 0; go; k++) {
            test_grec g[3];
            samsa_record r[3];
            size_t n = 1 + k % 3;
            for (size_t j = 0; j < n; j++) {
                test_gen(&g[j], next + (int64_t)j);
                r[j] = g[j].r;
            }
            if (samsa_produce(s, "t", 0, r, n) != 0 || r[0].offset != next)
                _exit(21);
            next += (int64_t)n;
            if (write(fds[1], &next, sizeof next) != sizeof next ||
                read(more[0], &go, 1) != 1)
                _exit(22);
        }
        if (how == END_CLOSE || how == END_CLOSE_SYNC)
            _exit(samsa_close(s) == 0 ? 0 : 23);
        kill(getpid(), SIGKILL); /* no close */
        _exit(24);
    }
    close(fds[1]);
    close(more[0]);
    /* Until the last of two or more segments holds four batches. */
    int64_t end = -1, bases[64];
    char log[TEST_PATH_BUF];
    fbatch fb[256];
    for (char go = 1; go;) {
        if (read(fds[0], &end, sizeof end) != sizeof end)
            break; /* the child failed: its status says how */
        size_t nb = test_seg_bases(*dir, "t", 0, bases, 64);
        go = nb < 2 ||
             file_batches(seg_file(log, *dir, "t", 0, bases[nb - 1], ".log"),
                          fb, 256) < 4;
        ck_assert_int_eq(write(more[1], &go, 1), 1);
    }
    close(fds[0]);
    close(more[1]);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    if (how == END_CLOSE || how == END_CLOSE_SYNC)
        ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    else
        ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    return end;
}

/* A byte of the last batch of the active segment is damaged after the
 * records were acknowledged: nothing is cut.  The log end stays, exactly
 * that batch's offsets are reported SAMSA_ECORRUPT, everything else is
 * read, and the next record gets a fresh offset, in this open and the
 * next.  at: where in the batch (0: baseOffset, 8: batchLength, 16: magic,
 * -1: the records). */
static void
flip_last(ending how, int at)
{
    const char *dir;
    int64_t end = damage_fixture(&dir, how), bases[64];
    size_t nb = test_seg_bases(dir, "t", 0, bases, 64);
    ck_assert_uint_ge(nb, 2);
    char log[TEST_PATH_BUF];
    fbatch fb[256];
    size_t n = seg_batches(log, dir, bases[nb - 1], fb, 4);
    fbatch last = fb[n - 1];
    ck_assert_int_eq(last.base + last.count, end);
    flip_byte(log, at < 0 ? record_byte(&last) : last.pos + (uint64_t)at);

    for (int round = 0; round < 2; round++) {
        uint8_t status[512] = {0};
        sweep w = {.why = ""};
        ck_assert_int_lt(end + 1, (int64_t)sizeof status);
        bool ok = sweep_store(dir, end + round, &w, status);
        ck_assert_msg(ok, "ending %d, byte %d, round %d: %s", (int)how, at,
                      round, w.why);
        for (int64_t o = 0; o < end + round; o++)
            ck_assert_msg(status[o] == (o >= last.base && o < end),
                          "ending %d, byte %d: offset %lld %s", (int)how, at,
                          (long long)o, status[o] ? "reported" : "read");
    }
    samsa *s = test_open(dir);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "t", 0, end, &c));
    E(samsa_cursor_next(c, &m, 0));
    TEST_CHECK_GEN(&m, end);
    samsa_cursor_close(c);
    E(samsa_close(s));
    test_dir_remove(dir);
}

START_TEST(test_damage_after_close)
{
    flip_last(END_CLOSE, -1);
    flip_last(END_CLOSE, 8);
    flip_last(END_CLOSE, 16);
}
END_TEST

START_TEST(test_damage_after_close_sync)
{
    flip_last(END_CLOSE_SYNC, -1);
    flip_last(END_CLOSE_SYNC, 8);
}
END_TEST

START_TEST(test_damage_after_kill)
{
    flip_last(END_KILL, -1);
    flip_last(END_KILL, 8);
    flip_last(END_KILL, 16);
}
END_TEST

START_TEST(test_damage_after_kill_sync)
{
    flip_last(END_KILL_SYNC, -1);
    flip_last(END_KILL_SYNC, 8);
}
END_TEST

/* A flipped bit in a batch's baseOffset (outside the CRC): its records are
 * never returned at other offsets.  Every batch's low byte in turn, sealed
 * segment and active one. */
START_TEST(test_base_offset_flip)
{
    const char *dir;
    int64_t end = damage_fixture(&dir, END_CLOSE), bases[64];
    char log[TEST_PATH_BUF];
    static test_snap sn;
    memset(&sn, 0, sizeof sn);
    test_snap_take(&sn, dir, "");
    size_t nb = test_seg_bases(dir, "t", 0, bases, 64);
    int cases = 0;
    for (size_t k = 0; k < nb; k++) {
        fbatch fb[256];
        test_snap_put(&sn, dir);
        size_t n = seg_batches(log, dir, bases[k], fb, 1);
        for (size_t b = 0; b < n; b++) {
            test_snap_put(&sn, dir);
            flip_byte(log, fb[b].pos + 7); /* 0x5a: bits 1, 3, 4, 6 */
            sweep w = {.why = ""};
            uint8_t status[512] = {0};
            ck_assert_msg(sweep_store(dir, end, &w, status),
                          "segment %lld, batch at %lld: %s", (long long)k,
                          (long long)fb[b].base, w.why);
            ck_assert_int_eq(status[fb[b].base], 1);
            cases++;
        }
    }
    ck_assert_int_ge(cases, 8);
    test_snap_free(&sn);
    test_dir_remove(dir);
}
END_TEST

/* A time seek over a batch whose maxTimestamp (inside the CRC, but read
 * to skip the batch) was damaged: SAMSA_ECORRUPT or the right offset,
 * never a wrong one. */
START_TEST(test_seek_time_damaged)
{
    const char *dir;
    int64_t end = damage_fixture(&dir, END_CLOSE), bases[64];
    test_seg_bases(dir, "t", 0, bases, 64);
    char log[TEST_PATH_BUF];
    fbatch fb[256];
    size_t n = seg_batches(log, dir, bases[0], fb, 3);
    /* maxTimestamp's high bytes: the batch then claims to be older than
     * all it holds, and a seek that trusted it would skip it. */
    flip_byte(log, fb[n / 2].pos + 35 + 3); /* 0x74 ^ 0x5a: older */
    samsa *s = test_open(dir);
    samsa_cursor *c;
    E(samsa_cursor_open(s, "t", 0, 0, &c));
    /* A timestamp whose first record lies in that batch. */
    const fbatch *bad = &fb[n / 2];
    int64_t t = -1, want = end;
    for (int64_t r = bad->base; t < 0 && r < bad->base + bad->count; r++) {
        want = end;
        for (int64_t i = end - 1; i >= 0; i--)
            if (test_gen_ts(i) >= test_gen_ts(r))
                want = i;
        if (want >= bad->base)
            t = test_gen_ts(r);
    }
    ck_assert_int_ge(t, 0);
    EQ_RC(samsa_cursor_seek_time(c, t), SAMSA_ECORRUPT);
    ck_assert_int_eq(samsa_cursor_offset(c), 0);
    samsa_cursor_close(c);
    sweep w = {.why = ""};
    ck_assert_msg(sweep_read(s, end, &w, NULL), "%s", w.why);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/*
 * Every byte of every file of a small partition (two segments, the sealed
 * one and the active one, their index files, the end marker) modified
 * three ways (xor 0x01, xor 0xFF, set 0x00), one case at a time, each
 * reopened and read in full with cursors and time seeks: no record is ever
 * returned wrong, no acknowledged record goes missing without
 * SAMSA_ECORRUPT, the log end stays, the next record gets the next offset,
 * nothing crashes.  Once after a clean close, once after kill -9 (the
 * active segment unsealed, its preallocated zeros after the data: the
 * bytes up to 16 past the data are tried; the end marker is what keeps the
 * acknowledged end).  make check takes every fifth byte (fixed, so that a
 * failure repeats), all of them with SAMSA_LONG=1 (make check-long).
 */
static void
exhaustive(ending ending_how)
{
    const char *dir;
    int64_t end = damage_fixture(&dir, ending_how);
    static test_snap sn;
    memset(&sn, 0, sizeof sn);
    test_snap_take(&sn, dir, "");
    /* The cases run in memory where there is a tmpfs: each open and close
     * syncs, and thousands of fsyncs would cost minutes, not the test. */
    char store[TEST_PATH_BUF];
    snprintf(store, sizeof store, "/dev/shm/samsa-exh-XXXXXX");
    if (mkdtemp(store) == NULL)
        snprintf(store, sizeof store, "%s", dir);
    size_t stride = test_long() ? 1 : 5 * test_sweep_thin();
    static const char *const how[3] = {"xor 0x01", "xor 0xff", "set 0x00"};
    long cases = 0, reported = 0, files = 0;
    for (size_t i = 0; i < sn.n; i++) {
        test_sfile *f = &sn.f[i];
        if (f->dir || strncmp(f->path, "t-0/", 4) != 0)
            continue;
        files++;
        size_t upto = f->used + 16 < f->len ? f->used + 16 : f->len;
        for (size_t at = 0; at < upto; at += stride)
            for (int k = 0; k < 3; k++) {
                uint8_t was = f->data[at];
                f->data[at] = k == 0 ? was ^ 0x01 : k == 1 ? was ^ 0xff : 0;
                f->touched = at + 1;
                test_snap_put(&sn, store);
                f->data[at] = was;
                f->touched = 0;
                sweep w = {.why = ""};
                ck_assert_msg(sweep_store(store, end, &w, NULL),
                              "ending %d: %s byte %zu %s: %s", (int)ending_how,
                              f->path, at, how[k], w.why);
                reported += w.ncorrupt > 0 || w.nseek_bad > 0;
                cases++;
            }
    }
    printf("exhaustive corruption (%s): %ld cases over %ld files (every "
           "%zu. byte, 3 ways), %ld reported damage, 0 wrong\n",
           ending_how == END_CLOSE ? "after close" : "after kill -9", cases,
           files, stride, reported);
    ck_assert_int_ge(files, ending_how == END_CLOSE ? 7 : 5);
    ck_assert_int_gt(reported, 0);
    test_snap_free(&sn);
    test_dir_remove(store);
    test_dir_remove(dir);
}

START_TEST(test_exhaustive_corruption)
{
    exhaustive(END_CLOSE);
}
END_TEST

START_TEST(test_exhaustive_corruption_kill)
{
    exhaustive(END_KILL);
}
END_TEST

Suite *
recovery_suite(void)
{
    Suite *s = suite_create("recovery");
    TCase *tc = tcase_create("recovery");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_reopen);
    tcase_add_test(tc, test_crash_loop);
    tcase_add_test(tc, test_torn_last_batch);
    tcase_add_test(tc, test_torn_garbage);
    tcase_add_test(tc, test_torn_first_batch);
    tcase_add_test(tc, test_torn_then_foreign);
    tcase_add_test(tc, test_corrupt_sealed);
    tcase_add_test(tc, test_corrupt_after_kill);
    tcase_add_test(tc, test_corrupt_header_after_kill);
    tcase_add_test(tc, test_embedded_batch_not_taken);
    tcase_add_test(tc, test_lost_sealed_tail);
    tcase_add_test(tc, test_index_files);
    tcase_add_test(tc, test_stray_directories);
    tcase_add_test(tc, test_locked_other_process);
    tcase_add_test(tc, test_damage_after_close);
    tcase_add_test(tc, test_damage_after_close_sync);
    tcase_add_test(tc, test_damage_after_kill);
    tcase_add_test(tc, test_damage_after_kill_sync);
    tcase_add_test(tc, test_base_offset_flip);
    tcase_add_test(tc, test_seek_time_damaged);
    suite_add_tcase(s, tc);
    TCase *ex = tcase_create("exhaustive");
    tcase_set_timeout(ex, 3600);
    tcase_add_test(ex, test_exhaustive_corruption);
    tcase_add_test(ex, test_exhaustive_corruption_kill);
    suite_add_tcase(s, ex);
    return s;
}
