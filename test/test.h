/*
 * test.h - what every test file shares: the assert helper, a temporary store
 * directory, and the suite declarations the runner calls.
 */
#ifndef SAMSA_TEST_H
#define SAMSA_TEST_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>

#include "samsa.h"
#include "samsa_int.h"

/* E(expr): expr must return 0; otherwise fail naming the error (LMDB's E). */
#define E(expr)                                                                \
    do {                                                                       \
        int e_rc_ = (expr);                                                    \
        ck_assert_msg(e_rc_ == 0, "%s: %s", #expr, samsa_strerror(e_rc_));     \
    } while (0)

/* EQ_RC(expr, code): expr must return exactly code. */
#define EQ_RC(expr, code)                                                      \
    do {                                                                       \
        int e_rc_ = (expr);                                                    \
        ck_assert_msg(e_rc_ == (code), "%s: got %s, want %s", #expr,           \
                      samsa_strerror(e_rc_), samsa_strerror(code));            \
    } while (0)

/* A fresh directory under $TMPDIR (or /tmp) for one test; test_dir_remove()
 * deletes it with everything in it.  Returns a static buffer per call slot. */
const char *test_dir_make(void);
void test_dir_remove(const char *dir);
/* Path of name inside the current test directory (static buffer). */
const char *test_path(const char *dir, const char *name);

/* Open a store in dir with default options, failing the test on error. */
samsa *test_open(const char *dir);

/* Produce one record with a string value to an explicit partition and
 * return its offset (fails the test on error). */
int64_t test_produce_str(samsa *s, const char *topic, int32_t partition,
                         const char *key, const char *value);

/* IBM/sarama's "uncompressed record" v2 batch (record_test.go): one record
 * with key {1,2,3,4}, value {5,6,7}, header {8,9,10}={11,12}; a batch that
 * another Kafka client wrote, for the codec and CRC tests. */
#define TEST_SARAMA_BATCH_SIZE 82
extern const uint8_t test_sarama_batch[TEST_SARAMA_BATCH_SIZE];

/* The runner's suites, one per test/check_<name>.c.  To add a suite, add
 * XX(name) here and define Suite *name_suite(void) in its file. */
#define TEST_SUITES(XX)                                                        \
    XX(crc32c)                                                                 \
    XX(partitioner)                                                            \
    XX(io)                                                                     \
    XX(batch)                                                                  \
    XX(store)                                                                  \
    XX(topic)                                                                  \
    XX(produce)                                                                \
    XX(cursor)                                                                 \
    XX(recovery)                                                               \
    XX(faults)                                                                 \
    XX(threads)

#define TEST_DECLARE(name) Suite *name##_suite(void);
TEST_SUITES(TEST_DECLARE)
#undef TEST_DECLARE

#endif
