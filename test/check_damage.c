/*
 * check_damage.c - damage the fuzz targets (test/fuzz/) found, kept as
 * unit tests where the fuzz target's own check no longer tells the fixed
 * code from the broken one, so that the plain unit run (no clang) catches
 * it again.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "test.h"

/* A batch whose lastOffsetDelta (inside its CRC) is damaged claims
 * offsets that the batches after it hold.  A cursor that walks into it
 * must go on to the batch that really holds the offset, not report the
 * rest of the segment as damaged: only the damaged batch's own records
 * are SAMSA_ECORRUPT. */
START_TEST(test_damaged_last_offset_delta)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = test_small_cfg(1, 0);
    E(samsa_topic_create(s, "t", &cfg));
    /* batches of 4 (0..3, 4..7, ...) until segment 0 is sealed: its
     * scan at open reads headers only, so nothing there adds an index
     * entry past the damage */
    int64_t next = 0, bases[4];
    while (test_seg_bases(dir, "t", 0, bases, 4) < 2)
        test_produce_next(s, "t", 0, &next, 4);
    E(samsa_close(s));

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

    s = test_open(dir);
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

Suite *
damage_suite(void)
{
    Suite *s = suite_create("damage");
    TCase *tc = tcase_create("damage");
    tcase_add_test(tc, test_damaged_last_offset_delta);
    suite_add_tcase(s, tc);
    return s;
}
