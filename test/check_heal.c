/*
 * check_heal.c - exhaustive corruption of a store with two copies (issue
 * 10's permanent class): damage on either copy, the leader's included,
 * is repaired from the other copy and never spread to it.
 *
 * A store on d0 (primary) and d1 holds topic "t", one partition with two
 * copies, a few batches in two segments (one sealed, one active), closed
 * cleanly.  Its files are saved once.  Then for every byte of every file
 * of the partition on either copy (.log, .index, .timeindex, and any
 * other file the partition directory holds), modified three ways (xor 0x01, xor
 * 0xff, set to 0x00; a modification that changes nothing is no case), each case
 * restores the saved files, damages the one byte, opens the store, runs the
 * repair pass (what the flusher runs) and samsa_scrub, and requires:
 *  - every record reads back exactly as produced, and the log end is the
 *    same;
 *  - after a clean close, both copies' partition files are byte for byte
 *    the saved ones: the damaged copy was repaired from the good one, and
 *    the good one was never overwritten with the damage.
 * Failing cases are counted (the first few printed) rather than stopping
 * at the first, and the count of cases run is printed.
 *
 * By default the positions are sampled: every byte of every batch header
 * and of the index files, and a stride through the records' bytes, so
 * that make check stays fast; SAMSA_LONG=1 (make check-long) enumerates
 * every byte.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

void samsa__replica_pause(samsa *s, bool paused);

#define MAX_FILES  64
#define RECORD_GAP 127 /* the sampled stride through records' bytes   */
#define INDEX_GAP  9   /* and through index files'                    */
#define HEADER_GAP 16  /* and through batch headers but the last's    */

/* One saved file of the store. */
typedef struct saved {
    char path[TEST_PATH_BUF]; /* absolute                                 */
    uint8_t *data;            /* its bytes                                */
    size_t len;               /* how many                                 */
    bool part;                /* a file of the partition t-0 (a target)   */
    bool log;                 /* a .log file                              */
} saved;

typedef struct store_img {
    char root[TEST_PATH_BUF];
    char d[2][TEST_PATH_BUF];
    saved f[MAX_FILES];
    int n;
    int64_t end; /* the log end */
} store_img;

static store_img *img_cur; /* for the nftw callback */

/* Is name a segment file's (.log, .index, .timeindex)? */
static bool
segment_file(const char *name)
{
    size_t n = strlen(name);
    return (n > 4 && strcmp(name + n - 4, ".log") == 0) ||
           (n > 5 && strcmp(name + n - 5, "index") == 0);
}

static int
save_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type != FTW_F)
        return 0;
    store_img *im = img_cur;
    ck_assert_int_lt(im->n, MAX_FILES);
    saved *f = &im->f[im->n++];
    snprintf(f->path, sizeof f->path, "%s", path);
    f->len = (size_t)st->st_size;
    f->data = malloc(f->len + 1);
    ck_assert_ptr_nonnull(f->data);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, f->data, f->len, 0), (ssize_t)f->len);
    close(fd);
    f->part = strstr(path, "/t-0/") != NULL;
    f->log = f->part && strstr(path, ".log") != NULL;
    return 0;
}

static samsa *
img_open(const store_img *im)
{
    const char *reps[] = {im->d[1], NULL};
    samsa_options o = {.replica_dirs = reps};
    samsa *s = NULL;
    E(samsa_open(im->d[0], &o, &s));
    return s;
}

/* Make the store, produce into two segments, close, save every file. */
static void
img_make(store_img *im)
{
    memset(im, 0, sizeof *im);
    /* Thousands of opens and closes, each syncing: on tmpfs, where a sync
     * costs nothing, when there is one (this process is the test's own). */
    struct stat st;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
        access("/dev/shm", W_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 1);
    snprintf(im->root, sizeof im->root, "%s", test_dir_make());
    test_pathf(im->d[0], im->root, "d0");
    test_pathf(im->d[1], im->root, "d1");
    ck_assert_int_eq(mkdir(im->d[0], 0755), 0);
    ck_assert_int_eq(mkdir(im->d[1], 0755), 0);
    samsa *s = img_open(im);
    samsa_topic_config c = test_small_cfg(1, 0);
    c.replicas = 2;
    E(samsa_topic_create(s, "t", &c));
    int64_t next = 0, bases[4];
    while (test_seg_bases(im->d[0], "t", 0, bases, 4) < 2)
        test_produce_next(s, "t", 0, &next, 1 + (size_t)(next % 4));
    for (int k = 0; k < 3; k++) /* a few batches in the active one */
        test_produce_next(s, "t", 0, &next, 2 + (size_t)k);
    E(samsa_close(s));
    ck_assert_uint_eq(test_seg_bases(im->d[0], "t", 0, bases, 4), 2);
    im->end = next;
    img_cur = im;
    ck_assert_int_eq(nftw(im->root, save_one, 16, FTW_PHYS), 0);
    int segfiles = 0; /* and any other file of the partition's is a target */
    for (int i = 0; i < im->n; i++)
        segfiles += im->f[i].part && segment_file(im->f[i].path);
    ck_assert_int_eq(segfiles, 12); /* 2 copies x 2 segments x 3 files */
}

static void
img_free(store_img *im)
{
    test_dir_remove(im->root);
    for (int i = 0; i < im->n; i++)
        free(im->f[i].data);
}

/* Put every saved file back as it was, and nothing else. */
static void
img_restore(const store_img *im)
{
    test_dir_remove(im->d[0]);
    test_dir_remove(im->d[1]);
    for (int i = 0; i < im->n; i++) {
        char dir[TEST_PATH_BUF];
        snprintf(dir, sizeof dir, "%s", im->f[i].path);
        for (char *p = dir + strlen(im->root) + 1; (p = strchr(p, '/')); p++) {
            *p = '\0';
            mkdir(dir, 0755);
            *p = '/';
        }
        int fd = open(im->f[i].path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, im->f[i].data, im->f[i].len),
                         (ssize_t)im->f[i].len);
        close(fd);
    }
}

/* Where pos of saved .log file f is: *batch gets the index of the batch
 * it is in, *last whether that is the file's last; returns its position
 * in the batch. */
static size_t
locate(const saved *f, size_t pos, int *batch, bool *last)
{
    size_t at = 0;
    *batch = 0;
    while (at + 12 <= f->len) {
        size_t len = 12 + test_be32(f->data + at + 8);
        if (pos < at + len) {
            *last = at + len >= f->len;
            return pos - at;
        }
        at += len;
        ++*batch;
    }
    *last = true;
    return pos - at;
}

/* Does the case at byte pos of f run by default?  Every header byte of
 * each segment's last batch (where damage looks most like a torn tail);
 * of the other batches' headers, every HEADER_GAP-th byte, rotating with
 * the batch so that every header field is hit; every INDEX_GAP-th index
 * file byte, rotating with the entry; a stride through the records. */
static bool
sampled(const saved *f, size_t pos)
{
    if (test_long())
        return true;
    if (pos / 7 % test_sweep_thin() != 0) /* sanitizer runs: thinner */
        return false;
    if (!f->log)
        return pos % INDEX_GAP == (pos / 12) % INDEX_GAP;
    int batch;
    bool last;
    size_t in = locate(f, pos, &batch, &last);
    if (in < 61)
        return last || in % HEADER_GAP == (size_t)batch % HEADER_GAP;
    return pos % RECORD_GAP == 0;
}

/* NULL when the store reads back exactly, else what is wrong. */
static const char *
reads_back(samsa *s, int64_t end)
{
    static char why[256];
    int64_t first, last;
    int rc = samsa_offsets(s, "t", 0, &first, &last);
    if (rc != 0 || first != 0 || last != end) {
        snprintf(why, sizeof why, "offsets %lld..%lld (%s), want 0..%lld",
                 (long long)first, (long long)last, samsa_strerror(rc),
                 (long long)end);
        return why;
    }
    samsa_cursor *c;
    if ((rc = samsa_cursor_open(s, "t", 0, 0, &c)) != 0)
        return "cursor open failed";
    const char *w = NULL;
    for (int64_t o = 0; o < end && w == NULL; o++) {
        samsa_message m;
        rc = samsa_cursor_next(c, &m, 0);
        if (rc != 0) {
            snprintf(why, sizeof why, "at %lld: %s", (long long)o,
                     samsa_strerror(rc));
            w = why;
        } else if ((w = test_gen_mismatch(&m, o)) != NULL) {
            snprintf(why, sizeof why, "at %lld: %s", (long long)o, w);
            w = why;
        }
    }
    samsa_cursor_close(c);
    return w;
}

/* NULL when both copies' partition directories hold exactly the saved
 * segment files, else the first that differs.  (Other files of the
 * directory, such as a marker rewritten at every open, are damaged as
 * targets but are not data: they need not come back as saved.) */
static const char *
files_back(const store_img *im)
{
    int want = 0;
    for (int i = 0; i < im->n; i++) {
        const saved *f = &im->f[i];
        if (!f->part || !segment_file(f->path))
            continue;
        want++;
        int fd = open(f->path, O_RDONLY);
        struct stat st;
        bool same =
            fd >= 0 && fstat(fd, &st) == 0 && (size_t)st.st_size == f->len;
        uint8_t *b = same ? malloc(f->len + 1) : NULL;
        same = same && b != NULL &&
               pread(fd, b, f->len, 0) == (ssize_t)f->len &&
               memcmp(b, f->data, f->len) == 0;
        free(b);
        if (fd >= 0)
            close(fd);
        if (!same)
            return f->path;
    }
    int have = 0;
    for (int d = 0; d < 2; d++) {
        char dir[TEST_PATH_BUF];
        DIR *dp = opendir(test_pathf(dir, im->d[d], "t-0"));
        struct dirent *e;
        while (dp != NULL && (e = readdir(dp)) != NULL)
            have += segment_file(e->d_name);
        if (dp != NULL)
            closedir(dp);
    }
    return have == want ? NULL : "a file more or less";
}

/* One case: f's byte at pos modified by mode (0 xor 0x01, 1 xor 0xff,
 * 2 set 0).  False when the modification changes nothing.  A failure
 * goes to *why. */
static bool
run_case(const store_img *im, const saved *f, size_t pos, int mode,
         const char **why)
{
    uint8_t b = f->data[pos];
    uint8_t nb = mode == 0 ? b ^ 0x01 : mode == 1 ? b ^ 0xff : 0;
    if (nb == b)
        return false;
    img_restore(im);
    int fd = open(f->path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, &nb, 1, (off_t)pos), 1);
    close(fd);
    samsa *s = img_open(im);
    samsa__replica_pause(s, true); /* the pass runs here, once, in full */
    size_t joined;
    samsa_scrub_report rep;
    *why = NULL;
    if (samsa_replica_catchup(s, &joined) != 0)
        *why = "catch-up failed";
    else if (samsa_scrub(s, NULL, &rep) != 0 || rep.unrepairable != 0)
        *why = "scrub left damage";
    else
        *why = reads_back(s, im->end);
    if (samsa_close(s) != 0 && *why == NULL)
        *why = "close failed";
    if (*why == NULL)
        *why = files_back(im);
    return true;
}

START_TEST(test_every_byte_two_copies)
{
    store_img im;
    img_make(&im);
    long cases = 0, failed = 0, kinds[3] = {0, 0, 0};
    for (int i = 0; i < im.n; i++) {
        const saved *f = &im.f[i];
        for (size_t pos = 0; f->part && pos < f->len; pos++) {
            if (!sampled(f, pos))
                continue;
            for (int mode = 0; mode < 3; mode++) {
                const char *why;
                if (!run_case(&im, f, pos, mode, &why))
                    continue;
                cases++;
                if (!f->log)
                    kinds[2]++;
                else {
                    int bt;
                    bool last;
                    kinds[locate(f, pos, &bt, &last) < 61 ? 0 : 1]++;
                }
                if (why != NULL && failed++ < 10)
                    fprintf(stderr, "heal: %s byte %zu mode %d: %s\n",
                            f->path + strlen(im.root), pos, mode, why);
            }
        }
    }
    fprintf(stderr,
            "heal: %ld single-byte cases on two copies (%ld in batch headers, "
            "%ld in records, %ld in other files), %ld failed\n",
            cases, kinds[0], kinds[1], kinds[2], failed);
    img_free(&im);
    ck_assert_int_gt(cases, 0);
    ck_assert_int_eq(failed, 0);
}
END_TEST

Suite *
heal_suite(void)
{
    Suite *s = suite_create("heal");
    TCase *tc = tcase_create("heal");
    tcase_set_timeout(tc, 3600);
    tcase_add_test(tc, test_every_byte_two_copies);
    suite_add_tcase(s, tc);
    return s;
}
