/*
 * test.h - what every test file shares: the assert helper, a temporary store
 * directory, and the suite declarations the runner calls.
 */
#ifndef SAMSA_TEST_H
#define SAMSA_TEST_H

#include <check.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "samsa.h"
#include "storage/log.h"

/* ---- Forked children (util.c) ------------------------------------------
 *
 * Check, in its fork mode, reports even a passing assertion by writing to
 * the current test's message file.  A child that the test forks shares
 * that file, and the two writing at once garble it (the runner then stops
 * with "Bad message type"); without fork mode, a failing assertion in the
 * child jumps into a second copy of the runner.  So a test forks with
 * test_fork(), never fork() (test/lint.sh checks), and its child never
 * asserts: it checks and reports through its exit code or a pipe, leaves
 * with _exit() (never returning into Check), and the test asserts its exit
 * status.  E(), EQ_RC(), TEST_CHECK_GEN() and the helpers of this file that
 * assert refuse to run in such a child: they say where on stderr and
 * _exit(TEST_CHILD_ASSERTED), so that a child that would assert fails its
 * test every time instead of garbling a run now and then.  Check's own
 * ck_assert*() cannot be caught so: a child's code calls none. */
#define TEST_CHILD_ASSERTED 99
extern bool test_in_child; /* set in a child of test_fork() */
/* fork(), the child marked test_in_child. */
pid_t test_fork(void);
/* What E() and co. call first: in such a child, say what was called
 * where, and _exit(TEST_CHILD_ASSERTED). */
_Noreturn void test_child_asserted(const char *what, const char *file,
                                   int line);
#define TEST_NOT_IN_CHILD(what)                                                \
    ((void)(test_in_child ? (test_child_asserted(what, __FILE__, __LINE__), 0) \
                          : 0))

/* E(expr): expr must return 0; otherwise fail naming the error (LMDB's E). */
#define E(expr)                                                                \
    do {                                                                       \
        TEST_NOT_IN_CHILD("E(" #expr ")");                                     \
        int e_rc_ = (expr);                                                    \
        ck_assert_msg(e_rc_ == 0, "%s: %s", #expr, samsa_strerror(e_rc_));     \
    } while (0)

/* EQ_RC(expr, code): expr must return exactly code. */
#define EQ_RC(expr, code)                                                      \
    do {                                                                       \
        TEST_NOT_IN_CHILD("EQ_RC(" #expr ")");                                 \
        int e_rc_ = (expr);                                                    \
        ck_assert_msg(e_rc_ == (code), "%s: got %s, want %s", #expr,           \
                      samsa_strerror(e_rc_), samsa_strerror(code));            \
    } while (0)

/* Whether one receive from q (not waiting) gives exactly n deliveries
 * into d: the offsets at[] with the delivery counts counts[].  Asserts
 * nothing, for forked children. */
bool test_queue_take(samsa_queue *q, samsa_delivery *d, size_t n,
                     const int64_t *at, const int32_t *counts);

/* A file system mounted at mnt for one test, unmounted whatever the test's
 * checks find: test_mount_guard() forks a child that waits until the test
 * calls test_unmount() or ends (a failed check ends it), then unmounts mnt
 * (detaches it if umount(2) fails) and removes the tree rm (NULL: none).
 * The checks run in the test itself, not in a child.  test_unmount():
 * that now; true when umount(2) itself succeeded. */
typedef struct test_mount {
    pid_t pid; /* the child                                        */
    int fd;    /* closing it (or ending) tells the child to go on   */
} test_mount;
void test_mount_guard(test_mount *m, const char *mnt, const char *rm);
bool test_unmount(test_mount *m);
/* A fresh test directory with a tmpfs of size ("2m") mounted on it and
 * guarded by m; or NULL, having printed "what: SKIPPED: why", when this
 * is not root or the mount fails. */
const char *test_tmpfs(const char *size, const char *what, test_mount *m);

/* A fresh directory under $TMPDIR (or /tmp) for one test; test_dir_remove()
 * deletes it with everything in it.  Returns a static buffer per call slot. */
const char *test_dir_make(void);
void test_dir_remove(const char *dir);
/* Path of name inside the current test directory (static buffer). */
const char *test_path(const char *dir, const char *name);

/* How much of an exhaustive sweep (every byte damaged, every crash state)
 * a run takes: 0 with SAMSA_LONG=1 (make check-long: everything); else
 * a sample, each sweep its own, taken test_sweep_thin() times thinner in
 * the sanitizer builds (SAMSA_DEBUG), which run the same sweeps three to
 * ten times slower and are there for memory and thread errors, not for
 * coverage the plain run already has. */
bool test_long(void);
/* The clock id (CLOCK_MONOTONIC, CLOCK_REALTIME) in ms. */
int64_t test_clock_ms(clockid_t id);
unsigned test_sweep_thin(void);

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

/* ---- Records as a function of their offset (gen.c) ---------------------- */

#define TEST_TS0           1600000000000LL /* timestamps start here        */
#define TEST_GEN_MAXB      8    /* most records one produce call here holds */
#define TEST_SEGMENT_BYTES 4096 /* test_small_cfg()'s segments             */
#define TEST_PATH_BUF      512  /* the buffers test_pathf() and co. fill    */

/* Record i: key (none, empty or "key-<i>"), value (null, empty, 1..90 or
 * 300 bytes), zero to two headers, and test_gen_ts(i). */
typedef struct test_grec {
    samsa_record r; /* points into the fields below: never copy a grec    */
    char key[32];
    uint8_t val[320];
    char hv[32];
    samsa_header h[2];
} test_grec;

void test_gen(test_grec *g, int64_t i);
/* Record i's timestamp: mostly rising, but every fourth record is older
 * than the one before, so that time lookups cannot assume order. */
int64_t test_gen_ts(int64_t i);
/* NULL when m is exactly record i (offset included), else what differs. */
const char *test_gen_mismatch(const samsa_message *m, int64_t i);

/* The first n headers of m, read in one pass (samsa_message_header_next()),
 * must be exactly want[0..n): keys, values, null values. */
void test_check_headers(const samsa_message *m, const samsa_header *want,
                        size_t n);

/* TEST_CHECK_GEN(m, i): message m must be exactly record i. */
#define TEST_CHECK_GEN(m, i)                                                   \
    do {                                                                       \
        TEST_NOT_IN_CHILD("TEST_CHECK_GEN");                                   \
        const char *w_ = test_gen_mismatch((m), (i));                          \
        ck_assert_msg(w_ == NULL, "offset %lld: %s differs", (long long)(i),   \
                      w_);                                                     \
    } while (0)

/* Produce records first..first+n-1 (n <= TEST_GEN_MAXB) in one call and
 * return its code.  On success they must have exactly those offsets, the
 * partition p and their own timestamps; on failure offset -1 each. */
int test_produce_gen_try(samsa *s, const char *topic, int32_t p, int64_t first,
                         size_t n);
/* The same, and the call must return want. */
void test_produce_gen_rc(samsa *s, const char *topic, int32_t p, int64_t first,
                         size_t n, int want);
/* The same, and the call must succeed. */
void test_produce_gen(samsa *s, const char *topic, int32_t p, int64_t first,
                      size_t n);
/* The same in a forked child, asserting nothing: 0 when the call succeeded
 * with the records as said, else non-zero, and what went wrong on stderr. */
int test_produce_gen_child(samsa *s, const char *topic, int32_t p,
                           int64_t first, size_t n);
/* Produce n records at *next and move *next past them. */
void test_produce_next(samsa *s, const char *topic, int32_t p, int64_t *next,
                       size_t n);
/* Produce records from *next until at least upto, in batches of a fixed
 * pattern of sizes starting at its index k; *next ends past the last. */
void test_produce_upto(samsa *s, const char *topic, int32_t p, int64_t *next,
                       int64_t upto, size_t k);
/* A cursor at from reads records from..to-1 of topic-p, then finds
 * nothing. */
void test_read_range(samsa *s, const char *topic, int32_t p, int64_t from,
                     int64_t to);
/* The topic config of those suites: small segments, a dense index. */
samsa_topic_config test_small_cfg(int32_t partitions, int sync);

/* dir/name in buf (TEST_PATH_BUF bytes); returns buf. */
const char *test_pathf(char *buf, const char *dir, const char *name);
bool test_exists(const char *path);
/* The sorted base offsets of the segments of dir/topic-p, at most max. */
size_t test_seg_bases(const char *dir, const char *topic, int p, int64_t *bases,
                      size_t max);
/* A big-endian 32-bit number. */
uint32_t test_be32(const uint8_t *p);

/* ---- Files, and whole stores kept in memory (util.c) -------------------- */

/* The bytes of the file at path (malloc'ed, one spare byte), *len their
 * count; fails the test when it cannot be read. */
uint8_t *test_slurp(const char *path, size_t *len);
/* Write len bytes to path, opened O_WRONLY | O_CREAT | flags. */
void test_spew(const char *path, const void *buf, size_t len, int flags);
/* Fail the test unless the files at a and b hold the same bytes (copies
 * of a segment must be identical). */
void test_same_bytes(const char *a, const char *b);
/* The entries of directory path ("." and ".." aside), sorted, each as
 * "name " or, with sizes, "name:size " (lstat's), into buf (cap bytes):
 * a listing to compare, nothing added, removed or resized. */
void test_dir_list(const char *path, bool sizes, char *buf, size_t cap);
/* The catalog of the store directory dir (closed), opened with LMDB
 * itself and a write transaction begun, for a test to rewrite records as
 * older versions or damage wrote them; test_catalog_commit() commits and
 * closes. */
MDB_txn *test_catalog_begin(const char *dir, MDB_env **env);
void test_catalog_commit(MDB_env *env, MDB_txn *txn);
/* Rewrite topic's record in the catalog of the store directory dir (now
 * 108 bytes) as its first old_len bytes with their CRC: the record an
 * older version wrote (48 before retention, 84 before compaction). */
void test_catalog_topic_shorten(const char *dir, const char *topic,
                                size_t old_len);

/* A store's files, kept in memory to put back before each case. */
typedef struct test_sfile {
    char path[TEST_PATH_BUF]; /* relative to the store                    */
    uint8_t *data;            /* its bytes                                */
    size_t len;               /* how many                                 */
    size_t used;              /* up to the last one that is not zero      */
    size_t touched;           /* a case changed data[touched - 1], or 0   */
    bool dir;                 /* a directory (data NULL)                  */
} test_sfile;

typedef struct test_snap {
    test_sfile f[64];
    size_t n;
} test_snap;

/* Add the tree root/rel (rel "" for all of root) to sn, the store's lock
 * file left out. */
void test_snap_take(test_snap *sn, const char *root, const char *rel);
void test_snap_free(test_snap *sn);
/* Make root hold exactly the snapshot (what was there is removed). */
void test_snap_put(const test_snap *sn, const char *root);

/* The runner's suites, one per test/check_<name>.c.  To add a suite, add
 * XX(name) here and define Suite *name_suite(void) in its file. */
#define TEST_SUITES(XX)                                                        \
    XX(crc32c)                                                                 \
    XX(partitioner)                                                            \
    XX(io)                                                                     \
    XX(batch)                                                                  \
    XX(compress)                                                               \
    XX(store)                                                                  \
    XX(topic)                                                                  \
    XX(produce)                                                                \
    XX(cursor)                                                                 \
    XX(recovery)                                                               \
    XX(powercut)                                                               \
    XX(faults)                                                                 \
    XX(alloc)                                                                  \
    XX(damage)                                                                 \
    XX(threads)                                                                \
    XX(notify)                                                                 \
    XX(group)                                                                  \
    XX(queue)                                                                  \
    XX(replica)                                                                \
    XX(heal)                                                                   \
    XX(catalog)                                                                \
    XX(journal)                                                                \
    XX(admin)                                                                  \
    XX(producer)                                                               \
    XX(retention)                                                              \
    XX(bounded)                                                                \
    XX(rdonly)                                                                 \
    XX(listener)                                                               \
    XX(gaps)                                                                   \
    XX(compact)                                                                \
    TEST_SUITES_KAFKA(XX)

/* The Kafka bridge's suite, built only with librdkafka (the Makefile
 * defines SAMSA_KAFKA then). */
#ifdef SAMSA_KAFKA
#define TEST_SUITES_KAFKA(XX) XX(bridge)
#else
#define TEST_SUITES_KAFKA(XX)
#endif

#define TEST_DECLARE(name) Suite *name##_suite(void);
TEST_SUITES(TEST_DECLARE)
#undef TEST_DECLARE

/* ---- A log as Kafka writes it, with gaps (kafka_log.c) ------------------ */

/* One batch: its base offset, its records' offset deltas (rising), its
 * lastOffsetDelta (>= the last delta: compaction keeps it), a codec. */
typedef struct test_kbatch {
    int64_t base;
    int32_t deltas[4];
    size_t n;
    int32_t last;
    int codec;
} test_kbatch;

/* Encode b into out (room enough): record i is test_gen(base + delta i),
 * so that test_gen_mismatch() checks what a cursor returns, offset and
 * all.  Returns the bytes. */
size_t test_kbatch_encode(uint8_t *out, const test_kbatch *b);
/* Write the segment at base of the partition directory pdir holding
 * bs[0..n); its size. */
size_t test_kafka_segment(const char *pdir, int64_t base, const test_kbatch *bs,
                          size_t n);
/* The log of most cases into pdir: two segments, the TEST_KAFKA_NREC
 * records test_kafka_offsets between TEST_KAFKA_START and TEST_KAFKA_END,
 * with every kind of gap. */
void test_kafka_log(const char *pdir);
/* A Kafka partition directory under dir: that log, with Kafka's other
 * files (an offset index, a time index, the leader epochs).  Returns its
 * path (static). */
const char *test_kafka_dir(const char *dir);
#define TEST_KAFKA_NREC  12
#define TEST_KAFKA_START 1000
#define TEST_KAFKA_END   1043
extern const int64_t test_kafka_offsets[TEST_KAFKA_NREC];

#endif
