/*
 * check_damage.c - damage the fuzz targets (test/fuzz/) found, kept as
 * unit tests where the fuzz target's own check no longer tells the fixed
 * code from the broken one, so that the plain unit run (no clang) catches
 * it again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

/* A store in dir: topic t, one partition of small segments, written in
 * batches of 4 (0..3, 4..7, ...) from *next until it has two segments. */
static samsa *
two_segments(const char *dir, int64_t *next)
{
    samsa *s = test_open(dir);
    samsa_topic_config cfg = test_small_cfg(1, 0);
    E(samsa_topic_create(s, "t", &cfg));
    int64_t bases[4];
    while (test_seg_bases(dir, "t", 0, bases, 4) < 2)
        test_produce_next(s, "t", 0, next, 4);
    return s;
}

/* A batch whose lastOffsetDelta (inside its CRC) is damaged claims
 * offsets that the batches after it hold.  A cursor that walks into it
 * must go on to the batch that really holds the offset, not report the
 * rest of the segment as damaged: only the damaged batch's own records
 * are SAMSA_ECORRUPT. */
START_TEST(test_damaged_last_offset_delta)
{
    const char *dir = test_dir_make();
    /* segment 0 sealed: its scan at open reads headers only, so nothing
     * there adds an index entry past the damage */
    int64_t next = 0;
    E(samsa_close(two_segments(dir, &next)));

    /* lastOffsetDelta (bytes 23..26) of batch 0 := 65535; and no index
     * files, so that a cursor at 4 starts its walk at batch 0. */
    char part[TEST_PATH_BUF], path[TEST_PATH_BUF];
    test_pathf(part, dir, "t-0");
    test_pathf(path, part, "00000000000000000000.log");
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    static const uint8_t lod[4] = {0, 0, 0xff, 0xff};
    ck_assert_int_eq(pwrite(fd, lod, 4, 23), 4);
    close(fd);
    unlink(test_pathf(path, part, "00000000000000000000.index"));
    unlink(test_pathf(path, part, "00000000000000000000.timeindex"));

    samsa *s = test_open(dir);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "t", 0, 4, &c));
    int rc = samsa_cursor_next(c, &m, 0);
    ck_assert_msg(rc == 0, "offset 4: %s", samsa_strerror(rc));
    TEST_CHECK_GEN(&m, 4);
    samsa_cursor_close(c);
    test_read_range(s, "t", 0, 5, next);
    /* batch 0's own records are damaged, and said so */
    E(samsa_cursor_open(s, "t", 0, 0, &c));
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ECORRUPT);
    samsa_cursor_close(c);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ---- names that are samsa's but files that are not ----------------------- */

static const char outside_data[] = "not samsa's: must stay as it is\n";

/* Fail unless the file at path still holds outside_data alone. */
static void
outside_same(const char *path, const char *what)
{
    size_t n;
    uint8_t *b = test_slurp(path, &n);
    ck_assert_msg(
        n == sizeof outside_data - 1 && memcmp(b, outside_data, n) == 0,
        "%s: the file outside the store changed (%zu bytes)", what, n);
    free(b);
}

/* Put dir back as sn holds it, with the file at rel (in the partition)
 * replaced by a symlink to a fresh file outside the store. */
static void
symlink_case(const test_snap *sn, const char *dir, const char *rel,
             const char *out)
{
    char path[TEST_PATH_BUF];
    test_snap_put(sn, dir);
    unlink(out);
    test_spew(out, outside_data, sizeof outside_data - 1, O_EXCL);
    unlink(test_pathf(path, dir, rel));
    ck_assert_int_eq(symlink(out, path), 0);
}

/* A symlink where samsa keeps a file of its own (the active segment's
 * index files, the end marker, a segment) names a file samsa did not
 * make, maybe outside the store: samsa must not write through it.  It
 * did: recovery rewrote the index through the link, opened the marker
 * through it (cut to 64 bytes), and took a link named as a segment inside
 * the last one's offsets for the active segment, cutting the file it
 * names as a torn tail and appending batches to it.  Now the index is
 * not rewritten (derived data: nothing is lost), and a marker or a
 * segment that is a link stops the open with -ELOOP (one under a name
 * inside the last segment's records with SAMSA_ECORRUPT, as any file
 * there). */
START_TEST(test_symlinks_not_written_through)
{
    const char *dir = test_dir_make();
    /* two segments, the last one with index entries */
    int64_t next = 0, bases[8];
    samsa *s = two_segments(dir, &next);
    for (int i = 0; i < 6; i++)
        test_produce_next(s, "t", 0, &next, 4);
    E(samsa_close(s));
    size_t n = test_seg_bases(dir, "t", 0, bases, 8);
    char idx[64], tidx[64], inside[64], path[TEST_PATH_BUF];
    snprintf(idx, sizeof idx, "t-0/%020lld.index", (long long)bases[n - 1]);
    snprintf(tidx, sizeof tidx, "t-0/%020lld.timeindex",
             (long long)bases[n - 1]);
    snprintf(inside, sizeof inside, "t-0/%020lld.log",
             (long long)bases[n - 1] + 1);
    struct stat st;
    ck_assert_int_eq(stat(test_pathf(path, dir, idx), &st), 0);
    ck_assert_int_ge(st.st_size, 8);
    test_snap sn = {0};
    test_snap_take(&sn, dir, "");
    char out[TEST_PATH_BUF];
    snprintf(out, sizeof out, "%s.outside", dir);

    const char *index_files[] = {idx, tidx};
    for (int k = 0; k < 2; k++) {
        symlink_case(&sn, dir, index_files[k], out);
        s = test_open(dir);
        test_read_range(s, "t", 0, 0, next);
        test_produce_gen(s, "t", 0, next, 3);
        E(samsa_close(s));
        outside_same(out, index_files[k]);
        s = test_open(dir);
        test_read_range(s, "t", 0, 0, next + 3);
        E(samsa_close(s));
        outside_same(out, index_files[k]);
    }

    /* A name inside the last segment's records is not samsa's whatever
     * it is (test_file_inside_the_segment_before). */
    char last[64];
    snprintf(last, sizeof last, "t-0/%020lld.log", (long long)bases[n - 1]);
    const char *stop[] = {"t-0/samsa.end", last, inside};
    const int stop_rc[] = {-ELOOP, -ELOOP, SAMSA_ECORRUPT};
    for (int k = 0; k < 3; k++) {
        symlink_case(&sn, dir, stop[k], out);
        EQ_RC(samsa_open(dir, NULL, &s), stop_rc[k]);
        outside_same(out, stop[k]);
        ck_assert_int_eq(lstat(test_pathf(path, dir, stop[k]), &st), 0);
        ck_assert(S_ISLNK(st.st_mode));
    }
    unlink(out);
    test_snap_free(&sn);
    test_dir_remove(dir);
}
END_TEST

/* ---- a file under a name inside the records of the segment before ------- */

/* Fail unless every .log of sn is on disk under root with its bytes (the
 * preallocated zeros past them may be cut). */
static void
logs_as_snapped(const test_snap *sn, const char *root, const char *what)
{
    for (size_t i = 0; i < sn->n; i++) {
        const test_sfile *f = &sn->f[i];
        size_t len = strlen(f->path), n;
        if (f->dir || len < 4 || strcmp(f->path + len - 4, ".log") != 0)
            continue;
        char path[TEST_PATH_BUF];
        uint8_t *b = test_slurp(test_pathf(path, root, f->path), &n);
        ck_assert_msg(n >= f->used && memcmp(b, f->data, f->used) == 0,
                      "%s: %s changed", what, f->path);
        free(b);
    }
}

/* A file named as a segment whose base lies inside the records of the
 * segment before it is not samsa's: samsa names a segment by the end of
 * the one before.  Trusting the name, a reader stopped at it, the writer
 * appended its batches to it, and an open whose log start had passed the
 * name removed the segment before, with the start's records in it.  Now
 * the open says SAMSA_ECORRUPT and changes nothing; without the file the
 * store opens as it was. */
START_TEST(test_file_inside_the_segment_before)
{
    const char *dir = test_dir_make();
    int64_t next = 0, bases[8];
    samsa *s = two_segments(dir, &next);
    size_t n;
    while ((n = test_seg_bases(dir, "t", 0, bases, 8)) < 4)
        test_produce_next(s, "t", 0, &next, 4);
    for (int i = 0; i < 3; i++) /* the active segment holds some */
        test_produce_next(s, "t", 0, &next, 4);
    /* the oldest segment goes; the start lies inside the next one */
    int64_t start = bases[1] + 2;
    E(samsa_delete_records(s, "t", 0, start));
    E(samsa_close(s));
    ck_assert_uint_eq(test_seg_bases(dir, "t", 0, bases, 8), n - 1);
    n--;
    test_snap sn = {0};
    test_snap_take(&sn, dir, "");

    /* Inside: the sealed segment holding the start (the open's removal
     * below the start goes by the next name), a sealed one, the active
     * one; empty, and holding a copy of the segment before. */
    int64_t inside[] = {start, bases[0] + 1, bases[n - 2] + 3,
                        bases[n - 1] + 1};
    for (size_t k = 0; k < 2 * sizeof inside / sizeof *inside; k++) {
        test_snap_put(&sn, dir);
        char name[64], path[TEST_PATH_BUF], what[96];
        snprintf(name, sizeof name, "t-0/%020lld.log",
                 (long long)inside[k / 2]);
        snprintf(what, sizeof what, "%s, %s", name, k % 2 ? "a copy" : "empty");
        test_pathf(path, dir, name);
        size_t len = 0;
        uint8_t *copy = NULL;
        if (k % 2) {
            char before[64], bpath[TEST_PATH_BUF];
            snprintf(before, sizeof before, "t-0/%020lld.log",
                     (long long)bases[0]);
            copy = test_slurp(test_pathf(bpath, dir, before), &len);
        }
        test_spew(path, copy, len, O_EXCL);
        samsa *s2 = NULL;
        int rc = samsa_open(dir, NULL, &s2);
        ck_assert_msg(rc == SAMSA_ECORRUPT, "%s: %s", what, samsa_strerror(rc));
        ck_assert_ptr_null(s2);
        /* a read-only handle: the topic says so, hiding nothing */
        samsa_options ro = {.flags = SAMSA_OPEN_RDONLY};
        samsa_cursor *c;
        E(samsa_open(dir, &ro, &s2));
        rc = samsa_cursor_open(s2, "t", 0, start, &c);
        ck_assert_msg(rc == SAMSA_ECORRUPT, "%s, read-only: %s", what,
                      samsa_strerror(rc));
        E(samsa_close(s2));
        logs_as_snapped(&sn, dir, what);
        size_t m;
        uint8_t *b = test_slurp(path, &m); /* left as it was */
        ck_assert_msg(m == len && (len == 0 || memcmp(b, copy, len) == 0),
                      "%s: the stray file changed", what);
        free(b);
        free(copy);
        ck_assert_int_eq(unlink(path), 0);
        s = test_open(dir);
        test_read_range(s, "t", 0, start, next);
        test_produce_gen(s, "t", 0, next, 2);
        test_read_range(s, "t", 0, start, next + 2);
        E(samsa_close(s));
    }

    /* Below the start, where the open removes what a crash left of a
     * deletion: an empty file goes (as a roll's that nothing reached), a
     * file that does not begin as a segment stops the open. */
    for (int k = 0; k < 2; k++) {
        test_snap_put(&sn, dir);
        char path[TEST_PATH_BUF];
        test_pathf(path, dir, "t-0/00000000000000000000.log");
        static const char text[] = "not samsa's\n";
        test_spew(path, text, k ? sizeof text - 1 : 0, O_EXCL);
        samsa *s2 = NULL;
        if (k == 1) {
            EQ_RC(samsa_open(dir, NULL, &s2), SAMSA_ECORRUPT);
            logs_as_snapped(&sn, dir, "below the start");
            ck_assert(test_exists(path));
            ck_assert_int_eq(unlink(path), 0);
        }
        s = test_open(dir);
        ck_assert(!test_exists(path));
        test_read_range(s, "t", 0, start, next);
        E(samsa_close(s));
    }
    test_snap_free(&sn);
    test_dir_remove(dir);
}
END_TEST

Suite *
damage_suite(void)
{
    Suite *s = suite_create("damage");
    TCase *tc = tcase_create("damage");
    tcase_add_test(tc, test_damaged_last_offset_delta);
    tcase_add_test(tc, test_symlinks_not_written_through);
    tcase_add_test(tc, test_file_inside_the_segment_before);
    suite_add_tcase(s, tc);
    return s;
}
