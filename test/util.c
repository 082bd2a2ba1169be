/*
 * util.c - the fixture helpers declared in test.h.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

const char *
test_dir_make(void)
{
    static char bufs[4][256];
    static int next;
    char *buf = bufs[next++ % 4];
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, sizeof bufs[0], "%s/samsa-test-XXXXXX",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(buf));
    return buf;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void
test_dir_remove(const char *dir)
{
    if (dir != NULL)
        nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
test_path(const char *dir, const char *name)
{
    static char buf[4][512];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

samsa *
test_open(const char *dir)
{
    samsa *s = NULL;
    E(samsa_open(dir, NULL, &s));
    ck_assert_ptr_nonnull(s);
    return s;
}

int64_t
test_produce_str(samsa *s, const char *topic, int32_t partition,
                 const char *key, const char *value)
{
    samsa_record r = {0};
    r.key = key;
    r.key_len = key != NULL ? strlen(key) : 0;
    r.value = value;
    r.value_len = value != NULL ? strlen(value) : 0;
    E(samsa_produce(s, topic, partition, &r, 1));
    ck_assert_int_ge(r.offset, 0);
    return r.offset;
}

/*
 * A v2 record batch as a real client writes it: IBM/sarama's "uncompressed
 * record" test case (record_test.go), one record with a key, a value and a
 * header.  The CRC field (bytes 17..20, big-endian) covers bytes 21..end.
 */
const uint8_t test_sarama_batch[TEST_SARAMA_BATCH_SIZE] = {
    0,  0,   0,  0,   0,   0,   0,  0,  /* base offset                   */
    0,  0,   0,  70,                    /* batch length                  */
    0,  0,   0,  0,                     /* partition leader epoch        */
    2,                                  /* magic                         */
    84, 121, 97, 253,                   /* CRC                           */
    0,  0,                              /* attributes                    */
    0,  0,   0,  0,                     /* last offset delta             */
    0,  0,   1,  88,  141, 205, 89, 56, /* base timestamp                */
    0,  0,   0,  0,   0,   0,   0,  0,  /* max timestamp                 */
    0,  0,   0,  0,   0,   0,   0,  0,  /* producer id                   */
    0,  0,                              /* producer epoch                */
    0,  0,   0,  0,                     /* base sequence                 */
    0,  0,   0,  1,                     /* record count                  */
    40, 0,   10, 0,                     /* length, attrs, ts/off delta   */
    8,  1,   2,  3,   4,                /* key                           */
    6,  5,   6,  7,                     /* value                         */
    2,  6,   8,  9,   10,  4,   11, 12, /* one header                    */
};
