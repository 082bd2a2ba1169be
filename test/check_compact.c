/*
 * check_compact.c - log compaction, as Kafka's cleanup.policy=compact
 * (issue 14, item 1): the config, the latest record of each key kept
 * exactly, tombstones and their delete horizon under the test's clock,
 * min_compaction_lag_ms and min_cleanable_dirty_ratio, compact+delete,
 * cursors, groups and queues over a cleaned partition, a reader holding
 * a segment while it is swapped, copies cleaned to identical bytes and
 * scrubbed clean, damage refused, a power cut (and kill -9) at every I/O
 * step of a cleaning, leftovers removed at open; each I/O step failing
 * while the process goes on (one segment file open at a time, one copy
 * or two), a real kill -9 mid-cleaning, random mixes of produces,
 * cleanings, deletions and reopens, and deletions whose I/O fails.
 *
 * The model.  Record o (one per produce call, so one batch each) has key
 * "k<key[o]>", value "v-<o>" padded to VLEN bytes (or null: a tombstone)
 * and timestamp TEST_TS0 + o.  A cleaning up to U (the active segment's
 * base) keeps o when o >= U, or when o is the last offset below U with
 * its key (and, a tombstone, when its horizon has not passed): the
 * expected offsets are worked out from that rule alone, and every read
 * checks offsets, keys, values and timestamps exactly.  The flusher's own
 * cleanings are off (samsa__cleaner_background), so each cleaning is the
 * test's and its count of records removed is exact.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "faultio.h"
#include "store/store.h"
#include "test.h"

#define NOW    (TEST_TS0 + 100000000) /* the test's wall clock       */
#define VLEN   100                    /* a value's bytes             */
#define MAXREC 1024                   /* records a model holds       */
#define TN     "c"                    /* the compacted topic         */

/* ---- the model ----------------------------------------------------------- */

typedef struct model {
    int key[MAXREC];    /* record o's key number                       */
    bool tomb[MAXREC];  /* record o is a tombstone                     */
    int64_t ts[MAXREC]; /* its timestamp                              */
    int64_t n;          /* records produced                            */
} model;

static void
value_of(int64_t o, char *v)
{
    memset(v, 'x', VLEN);
    snprintf(v, VLEN, "v-%lld", (long long)o);
}

/* Produce the next record of m with key k (a tombstone with tomb) and
 * timestamp ts (0: TEST_TS0 + its offset); it must get offset m->n. */
static void
put_ts(samsa *s, model *m, int k, bool tomb, int64_t ts)
{
    char key[16], v[VLEN];
    int64_t o = m->n;
    ck_assert_int_lt(o, MAXREC);
    snprintf(key, sizeof key, "k%d", k);
    value_of(o, v);
    m->key[o] = k;
    m->tomb[o] = tomb;
    m->ts[o] = ts != 0 ? ts : TEST_TS0 + o;
    samsa_record r = {.key = key,
                      .key_len = strlen(key),
                      .value = tomb ? NULL : v,
                      .value_len = tomb ? 0 : VLEN,
                      .timestamp = m->ts[o]};
    E(samsa_produce(s, TN, 0, &r, 1));
    ck_assert_int_eq(r.offset, o);
    m->n++;
}

static void
put(samsa *s, model *m, int k, bool tomb)
{
    put_ts(s, m, k, tomb, 0);
}

/* n records (at most 8) in one produce call, one batch, cycling over
 * nkeys keys; tomb_at: the one of them that is a tombstone (of key 99,
 * which no other record has), or -1. */
static void
put_batch(samsa *s, model *m, int nkeys, int n, int tomb_at)
{
    char key[8][16], v[8][VLEN];
    samsa_record r[8];
    ck_assert_int_le(n, 8);
    ck_assert_int_le(m->n + n, MAXREC);
    for (int i = 0; i < n; i++) {
        int64_t o = m->n + i;
        m->tomb[o] = i == tomb_at;
        m->key[o] = m->tomb[o] ? 99 : (int)(o % nkeys);
        m->ts[o] = TEST_TS0 + o;
        snprintf(key[i], sizeof key[i], "k%d", m->key[o]);
        value_of(o, v[i]);
        r[i] = (samsa_record){.key = key[i],
                              .key_len = strlen(key[i]),
                              .value = m->tomb[o] ? NULL : v[i],
                              .value_len = m->tomb[o] ? 0 : VLEN,
                              .timestamp = m->ts[o]};
    }
    E(samsa_produce(s, TN, 0, r, (size_t)n));
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(r[i].offset, m->n + i);
    m->n += n;
}

/* Records cycling over nkeys keys, n of them. */
static void
put_cycle(samsa *s, model *m, int nkeys, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        put(s, m, (int)(m->n % nkeys), false);
}

/* Whether a cleaning up to upto keeps o (drop_tombs: tombstones whose
 * horizon passed go); from: the log start (retention). */
static bool
kept(const model *m, int64_t o, int64_t from, int64_t upto, bool drop_tombs)
{
    if (o < from)
        return false;
    if (o >= upto)
        return true;
    for (int64_t j = o + 1; j < upto; j++)
        if (m->key[j] == m->key[o])
            return false; /* a later record of its key below upto */
    return !(m->tomb[o] && drop_tombs);
}

/* The offsets a cleaning keeps, into out; how many. */
static size_t
expect(const model *m, int64_t from, int64_t upto, bool drop_tombs,
       int64_t *out)
{
    size_t n = 0;
    for (int64_t o = 0; o < m->n; o++)
        if (kept(m, o, from, upto, drop_tombs))
            out[n++] = o;
    return n;
}

/* msg must be record o of m exactly. */
static void
check_rec(const model *m, const samsa_message *msg, int64_t o)
{
    char key[16], v[VLEN];
    ck_assert_int_eq(msg->offset, o);
    snprintf(key, sizeof key, "k%d", m->key[o]);
    ck_assert_uint_eq(msg->key_len, strlen(key));
    ck_assert(memcmp(msg->key, key, msg->key_len) == 0);
    ck_assert_int_eq(msg->timestamp, m->ts[o]);
    if (m->tomb[o]) {
        ck_assert_ptr_null(msg->value);
        return;
    }
    value_of(o, v);
    ck_assert_uint_eq(msg->value_len, VLEN);
    ck_assert(memcmp(msg->value, v, VLEN) == 0);
}

/* A cursor from the beginning reads exactly want[0..n), then nothing. */
static void
read_exact(samsa *s, const model *m, const int64_t *want, size_t n)
{
    samsa_cursor *c;
    samsa_message msg;
    E(samsa_cursor_open(s, TN, 0, SAMSA_OFFSET_BEGINNING, &c));
    for (size_t i = 0; i < n; i++) {
        E(samsa_cursor_next(c, &msg, 0));
        check_rec(m, &msg, want[i]);
    }
    EQ_RC(samsa_cursor_next(c, &msg, 0), SAMSA_ETIMEDOUT);
    samsa_cursor_close(c);
}

/* The base of dir's active segment (the last). */
static int64_t
active_base(const char *dir)
{
    int64_t b[256];
    size_t n = test_seg_bases(dir, TN, 0, b, 256);
    ck_assert_uint_ge(n, 1);
    return b[n - 1];
}

/* Segments of dir, into b; how many. */
static size_t
bases_of(const char *dir, int64_t *b)
{
    return test_seg_bases(dir, TN, 0, b, 256);
}

/* The files of dir/c-0 whose name ends in .cleaned. */
static int
cleaned_files(const char *dir)
{
    char pd[TEST_PATH_BUF];
    DIR *d = opendir(test_pathf(pd, dir, TN "-0"));
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strstr(e->d_name, ".cleaned") != NULL)
            n++;
    closedir(d);
    return n;
}

static samsa_topic_config
ccfg(int32_t replicas)
{
    samsa_topic_config c = test_small_cfg(1, 0);
    c.replicas = replicas;
    c.cleanup_policy = SAMSA_CLEANUP_COMPACT;
    c.min_cleanable_dirty_ratio = -1; /* any dirt: each pass cleans */
    return c;
}

/* Open the store of root: root itself, or root/d0 with root/d1. */
static samsa *
open_root(const char *root, bool copies, samsa_io *io)
{
    char d0[TEST_PATH_BUF], d1[TEST_PATH_BUF];
    const char *reps[] = {test_pathf(d1, root, "d1"), NULL};
    samsa_options o = {.replica_dirs = copies ? reps : NULL,
                       .flags = SAMSA_OPEN_CREATE};
    samsa *s;
    E(samsa__open_io(copies ? test_pathf(d0, root, "d0") : root, &o,
                     io != NULL ? io : samsa__io_posix(), &s));
    return s;
}

/* A fresh directory, with the test's clock and the cleaner's background
 * passes off: every test's start; finish() undoes it. */
static const char *
begin(void)
{
    samsa__wall_ms_set(NOW);
    samsa__cleaner_background(false);
    return test_dir_make();
}

/* The copies tests' store: root/d0 leading, root/d1 its copy, I/O through
 * fi, repair paused (the test says when copies catch up), with the
 * compacted topic TN on both. */
static samsa *
open_copies(const char *root, faultio *fi)
{
    samsa *s = open_root(root, true, faultio_io(fi));
    samsa__replica_pause(s, true);
    samsa_topic_config cfg = ccfg(2);
    E(samsa_topic_create(s, TN, &cfg));
    return s;
}

/* A store in a fresh directory with topic TN (cfg), the test's clock. */
static samsa *
start(const char **dir, const samsa_topic_config *cfg)
{
    *dir = begin();
    samsa *s = test_open(*dir);
    E(samsa_topic_create(s, TN, cfg));
    return s;
}

/* Close s (when not NULL), remove dir, and undo begin(). */
static void
finish(samsa *s, const char *dir)
{
    if (s != NULL)
        E(samsa_close(s));
    test_dir_remove(dir);
    samsa__wall_ms_set(0);
    samsa__cleaner_background(true);
}

static int64_t
compact(samsa *s)
{
    int64_t removed = -1;
    E(samsa__compact_run(s, &removed));
    return removed;
}

/* The file dir/c-0/<base>.log, whole. */
static uint8_t *
seg_bytes(const char *dir, int64_t base, size_t *len)
{
    char name[64], p[TEST_PATH_BUF];
    snprintf(name, sizeof name, TN "-0/%020lld.log", (long long)base);
    return test_slurp(test_pathf(p, dir, name), len);
}

/* ---- the config ---------------------------------------------------------- */

START_TEST(test_config)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config d, bad[] = {
                              {.cleanup_policy = 4},
                              {.cleanup_policy = -1},
                              {.min_cleanable_dirty_ratio = 1.5f},
                              {.min_cleanable_dirty_ratio = -0.5f},
                              {.min_cleanable_dirty_ratio = NAN},
                              {.delete_retention_ms = -2},
                              {.min_compaction_lag_ms = -2},
                          };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EQ_RC(samsa_topic_create(s, "x", &bad[i]), SAMSA_EINVAL);
        EQ_RC(samsa_topic_describe(s, "x", &d), SAMSA_ENOTOPIC);
    }
    /* Defaults: delete, Kafka's ratio, a day for tombstones, no lag. */
    E(samsa_topic_create(s, "d", NULL));
    E(samsa_topic_describe(s, "d", &d));
    ck_assert_int_eq(d.cleanup_policy, SAMSA_CLEANUP_DELETE);
    ck_assert(d.min_cleanable_dirty_ratio == 0.5f);
    ck_assert_int_eq(d.delete_retention_ms, 86400000);
    ck_assert_int_eq(d.min_compaction_lag_ms, 0);
    /* Altered to compact,delete with its settings, refused ones change
     * nothing, and all of it survives a reopen. */
    samsa_topic_config a = {.cleanup_policy = SAMSA_CLEANUP_COMPACT_DELETE,
                            .min_cleanable_dirty_ratio = 0.25f,
                            .delete_retention_ms = 5000,
                            .min_compaction_lag_ms = 700};
    E(samsa_topic_alter(s, "d", &a));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        EQ_RC(samsa_topic_alter(s, "d", &bad[i]), SAMSA_EINVAL);
    E(samsa_close(s));
    s = test_open(dir);
    E(samsa_topic_describe(s, "d", &d));
    ck_assert_int_eq(d.cleanup_policy, SAMSA_CLEANUP_COMPACT_DELETE);
    ck_assert(d.min_cleanable_dirty_ratio == 0.25f);
    ck_assert_int_eq(d.delete_retention_ms, 5000);
    ck_assert_int_eq(d.min_compaction_lag_ms, 700);
    /* -1: any dirt, no tombstone wait, no lag. */
    a = (samsa_topic_config){.min_cleanable_dirty_ratio = -1,
                             .delete_retention_ms = -1,
                             .min_compaction_lag_ms = -1};
    E(samsa_topic_alter(s, "d", &a));
    E(samsa_topic_describe(s, "d", &d));
    ck_assert(d.min_cleanable_dirty_ratio == -1);
    ck_assert_int_eq(d.delete_retention_ms, -1);
    ck_assert_int_eq(d.min_compaction_lag_ms, 0);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A topic record of the 84 bytes written before compaction existed
 * opens with the delete policy and Kafka's defaults, and takes the new
 * fields when altered. */
START_TEST(test_old_record)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "d", NULL));
    E(samsa_close(s));
    test_catalog_topic_shorten(dir, "d", 84);
    s = test_open(dir);
    samsa_topic_config d;
    E(samsa_topic_describe(s, "d", &d));
    ck_assert_int_eq(d.cleanup_policy, SAMSA_CLEANUP_DELETE);
    ck_assert(d.min_cleanable_dirty_ratio == 0.5f);
    ck_assert_int_eq(d.delete_retention_ms, 86400000);
    ck_assert_int_eq(d.min_compaction_lag_ms, 0);
    samsa_topic_config a = {.cleanup_policy = SAMSA_CLEANUP_COMPACT};
    E(samsa_topic_alter(s, "d", &a));
    E(samsa_close(s));
    s = test_open(dir);
    E(samsa_topic_describe(s, "d", &d));
    ck_assert_int_eq(d.cleanup_policy, SAMSA_CLEANUP_COMPACT);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A record without a key has no place in a compacted topic: refused,
 * nothing of the call stored. */
START_TEST(test_null_key)
{
    const char *dir;
    samsa_topic_config cfg = ccfg(1);
    samsa *s = start(&dir, &cfg);
    samsa_record r[2] = {
        {.key = "a", .key_len = 1, .value = "1", .value_len = 1},
        {.value = "2", .value_len = 1}};
    EQ_RC(samsa_produce(s, TN, 0, r, 2), SAMSA_EINVAL);
    ck_assert_int_eq(r[0].offset, -1);
    ck_assert_int_eq(r[1].offset, -1);
    EQ_RC(samsa_produce(s, TN, SAMSA_PARTITION_ANY, &r[1], 1), SAMSA_EINVAL);
    int64_t first, end;
    E(samsa_offsets(s, TN, 0, &first, &end));
    ck_assert_int_eq(first, 0);
    ck_assert_int_eq(end, 0);
    E(samsa_produce(s, TN, 0, r, 1)); /* with its key it goes in */
    ck_assert_int_eq(r[0].offset, 0);
    /* The asynchronous producer refuses it at the send, alone. */
    samsa_producer *p;
    E(samsa_producer_open(s, NULL, &p));
    EQ_RC(samsa_producer_send(p, TN, 0, &r[1], NULL, 0), SAMSA_EINVAL);
    E(samsa_producer_send(p, TN, 0, &r[0], NULL, 0));
    E(samsa_producer_close(p));
    E(samsa_offsets(s, TN, 0, &first, &end));
    ck_assert_int_eq(end, 2);
    finish(s, dir);
}
END_TEST

/* ---- cleaning ------------------------------------------------------------ */

/* Exactly the latest record per key below the active segment, the active
 * segment's bytes untouched, seeks into gaps, a reopen, and a second
 * cleaning over a cleaned log. */
START_TEST(test_latest)
{
    const char *dir;
    samsa_topic_config cfg = ccfg(1);
    samsa *s = start(&dir, &cfg);
    model m = {0};
    int64_t want[MAXREC];
    put_cycle(s, &m, 10, 300);
    int64_t upto = active_base(dir);
    ck_assert_int_gt(upto, 100);
    size_t alen, alen2;
    uint8_t *act = seg_bytes(dir, upto, &alen);
    size_t n = expect(&m, 0, upto, false, want);
    ck_assert_int_eq(compact(s), m.n - (int64_t)n);
    read_exact(s, &m, want, n);
    uint8_t *act2 = seg_bytes(dir, upto, &alen2);
    ck_assert_uint_eq(alen, alen2);
    ck_assert(memcmp(act, act2, alen) == 0);
    free(act);
    free(act2);
    int64_t first, end;
    E(samsa_offsets(s, TN, 0, &first, &end));
    ck_assert_int_eq(first, 0);
    ck_assert_int_eq(end, 300);
    /* Nothing dirty: a second pass changes nothing. */
    ck_assert_int_eq(compact(s), 0);
    /* A seek to an offset removed lands on the next record kept. */
    samsa_cursor *c;
    samsa_message msg;
    E(samsa_cursor_open(s, TN, 0, SAMSA_OFFSET_BEGINNING, &c));
    E(samsa_cursor_seek(c, 5));
    E(samsa_cursor_next(c, &msg, 0));
    check_rec(&m, &msg, want[0]);
    E(samsa_cursor_seek(c, want[0] - 1));
    E(samsa_cursor_next(c, &msg, 0));
    check_rec(&m, &msg, want[0]);
    E(samsa_cursor_next(c, &msg, 0));
    check_rec(&m, &msg, want[1]);
    samsa_cursor_close(c);
    /* Reopened: the same, and it goes on. */
    E(samsa_close(s));
    s = test_open(dir);
    read_exact(s, &m, want, n);
    put_cycle(s, &m, 10, 200);
    upto = active_base(dir);
    n = expect(&m, 0, upto, false, want);
    compact(s);
    read_exact(s, &m, want, n);
    E(samsa_offsets(s, TN, 0, &first, &end));
    ck_assert_int_eq(end, 500);
    finish(s, dir);
}
END_TEST

/* A tombstone stays delete_retention_ms after the cleaning that kept it
 * as its key's latest record (its timestamp read as produced), then goes
 * with every record of its key. */
START_TEST(test_tombstones)
{
    const char *dir;
    samsa_topic_config cfg = ccfg(1);
    cfg.delete_retention_ms = 1000;
    samsa *s = start(&dir, &cfg);
    model m = {0};
    int64_t want[MAXREC];
    put_cycle(s, &m, 10, 40);
    put(s, &m, 3, true); /* offset 40: k3 deleted */
    int64_t tomb = 40;
    for (int64_t i = 0; i < 120; i++)
        put(s, &m, (int)(i % 9 < 3 ? i % 9 : i % 9 + 1), false); /* no k3 */
    int64_t upto = active_base(dir);
    ck_assert_int_gt(upto, tomb);
    size_t n = expect(&m, 0, upto, false, want);
    compact(s);
    read_exact(s, &m, want, n);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= want[i] == tomb;
    ck_assert(found);
    /* 999 ms later, with new dirt: kept. */
    samsa__wall_ms_set(NOW + 999);
    put_cycle(s, &m, 2, 60);
    upto = active_base(dir);
    n = expect(&m, 0, upto, false, want);
    compact(s);
    read_exact(s, &m, want, n);
    /* At the horizon, with nothing dirty: due all the same, and gone. */
    samsa__wall_ms_set(NOW + 1000);
    int64_t before = (int64_t)n;
    n = expect(&m, 0, upto, true, want);
    ck_assert_int_eq((int64_t)n, before - 1);
    ck_assert_int_eq(compact(s), 1);
    read_exact(s, &m, want, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_ne(m.key[want[i]], 3);
    /* And after a reopen too. */
    E(samsa_close(s));
    s = test_open(dir);
    read_exact(s, &m, want, n);
    finish(s, dir);
}
END_TEST

/* A delete_retention_ms so long that now + it passes INT64_MAX keeps
 * tombstones for ever: the horizon once wrapped to a time long past, and
 * the next cleaning dropped them. */
START_TEST(test_tombstones_forever)
{
    const char *dir;
    samsa_topic_config cfg = ccfg(1);
    cfg.delete_retention_ms = INT64_MAX;
    samsa *s = start(&dir, &cfg);
    model m = {0};
    int64_t want[MAXREC];
    put_cycle(s, &m, 10, 40);
    put(s, &m, 3, true); /* offset 40: k3 deleted */
    for (int64_t i = 0; i < 120; i++)
        put(s, &m, (int)(i % 9 < 3 ? i % 9 : i % 9 + 1), false); /* no k3 */
    int64_t upto = active_base(dir);
    size_t n = expect(&m, 0, upto, false, want);
    compact(s);
    read_exact(s, &m, want, n);
    samsa__wall_ms_set(NOW + 1000000);
    put_cycle(s, &m, 2, 60);
    upto = active_base(dir);
    n = expect(&m, 0, upto, false, want);
    compact(s);
    read_exact(s, &m, want, n); /* the tombstone at 40 among them */
    E(samsa_close(s));
    s = test_open(dir);
    compact(s);
    read_exact(s, &m, want, n);
    finish(s, dir);
}
END_TEST

static int
stats_flags(const samsa_partition_stats *st, void *ctx)
{
    *(uint32_t *)ctx = st->flags;
    return 0;
}

/* A topic created compacted has gaps from the start; one altered to
 * compact gets the flag, durably, at its first cleaning, and reads the
 * same after a reopen. */
START_TEST(test_altered)
{
    const char *dir;
    samsa_topic_config cfg = ccfg(1);
    samsa *s = start(&dir, &cfg);
    uint32_t flags = 99;
    E(samsa_stats_partitions(s, TN, stats_flags, &flags));
    ck_assert_uint_eq(flags, SAMSA_PARTITION_GAPS);
    samsa_topic_config plain = test_small_cfg(1, 0);
    E(samsa_topic_create(s, "p", &plain));
    model m = {0};
    int64_t want[MAXREC];
    char key[16], v[VLEN];
    for (int64_t o = 0; o < 200; o++) { /* the model's records, in "p" */
        m.key[o] = (int)(o % 10);
        m.ts[o] = TEST_TS0 + o;
        snprintf(key, sizeof key, "k%d", m.key[o]);
        value_of(o, v);
        samsa_record r = {.key = key,
                          .key_len = strlen(key),
                          .value = v,
                          .value_len = VLEN,
                          .timestamp = m.ts[o]};
        E(samsa_produce(s, "p", 0, &r, 1));
    }
    m.n = 200;
    ck_assert_int_eq(compact(s), 0); /* delete policy: nothing */
    E(samsa_stats_partitions(s, "p", stats_flags, &flags));
    ck_assert_uint_eq(flags, 0);
    samsa_topic_config a = {.cleanup_policy = SAMSA_CLEANUP_COMPACT,
                            .min_cleanable_dirty_ratio = -1};
    E(samsa_topic_alter(s, "p", &a));
    int64_t b[256];
    size_t nb = test_seg_bases(dir, "p", 0, b, 256);
    size_t n = expect(&m, 0, b[nb - 1], false, want);
    ck_assert_int_eq(compact(s), m.n - (int64_t)n);
    E(samsa_stats_partitions(s, "p", stats_flags, &flags));
    ck_assert_uint_eq(flags, SAMSA_PARTITION_GAPS);
    for (int pass = 0; pass < 2; pass++) {
        samsa_cursor *c;
        samsa_message msg;
        E(samsa_cursor_open(s, "p", 0, SAMSA_OFFSET_BEGINNING, &c));
        for (size_t i = 0; i < n; i++) {
            E(samsa_cursor_next(c, &msg, 0));
            check_rec(&m, &msg, want[i]);
        }
        EQ_RC(samsa_cursor_next(c, &msg, 0), SAMSA_ETIMEDOUT);
        samsa_cursor_close(c);
        E(samsa_close(s));
        s = test_open(dir); /* the flag is in the catalog */
        E(samsa_stats_partitions(s, "p", stats_flags, &flags));
        ck_assert_uint_eq(flags, SAMSA_PARTITION_GAPS);
    }
    finish(s, dir);
}
END_TEST

/* min_compaction_lag_ms: segments with a record younger than it stay as
 * they are; min_cleanable_dirty_ratio: too little dirt, no cleaning. */
START_TEST(test_lag_ratio)
{
    const char *dir;
    samsa_topic_config cfg = ccfg(1);
    cfg.min_compaction_lag_ms = 5000;
    samsa *s = start(&dir, &cfg);
    model m = {0};
    int64_t want[MAXREC], b[256];
    for (int64_t i = 0; i < 100; i++)
        put_ts(s, &m, (int)(i % 5), false, NOW - 10000 + i);
    for (int64_t i = 0; i < 100; i++)
        put_ts(s, &m, (int)(i % 5), false, NOW - 4000);
    /* Cleanable: the segments before the one holding offset 100. */
    size_t nb = bases_of(dir, b);
    int64_t upto = 0;
    for (size_t i = 0; i < nb; i++)
        if (b[i] <= 100)
            upto = b[i];
    ck_assert_int_gt(upto, 20);
    size_t n = expect(&m, 0, upto, false, want);
    compact(s);
    read_exact(s, &m, want, n);
    /* The lag passed: the rest is cleaned. */
    samsa__wall_ms_set(NOW + 1000);
    upto = active_base(dir);
    n = expect(&m, 0, upto, false, want);
    compact(s);
    read_exact(s, &m, want, n);
    /* Ratio 0.9: one new segment is not dirt enough. */
    samsa_topic_config a = {.min_cleanable_dirty_ratio = 0.9f};
    E(samsa_topic_alter(s, TN, &a));
    int64_t act = active_base(dir);
    while (active_base(dir) == act)
        put(s, &m, 1, false);
    ck_assert_int_eq(compact(s), 0);
    read_exact(s, &m, want, expect(&m, 0, upto, false, want));
    a.min_cleanable_dirty_ratio = -1;
    E(samsa_topic_alter(s, TN, &a));
    upto = active_base(dir);
    n = expect(&m, 0, upto, false, want);
    ck_assert_int_gt(compact(s), 0);
    read_exact(s, &m, want, n);
    finish(s, dir);
}
END_TEST

/* compact,delete: retention first, then compaction of what is left; a
 * compact-only topic is not touched by retention. */
START_TEST(test_compact_delete)
{
    const char *dir;
    samsa_topic_config cfg = ccfg(1);
    cfg.retention_ms = 1000;
    samsa *s = start(&dir, &cfg);
    model m = {0};
    int64_t want[MAXREC];
    put_cycle(s, &m, 10, 200); /* timestamps of 1600000000000: old */
    E(samsa__retention_run(s));
    int64_t first, end;
    E(samsa_offsets(s, TN, 0, &first, &end));
    ck_assert_int_eq(first, 0); /* compact alone: retention does nothing */
    samsa_topic_config a = {.cleanup_policy = SAMSA_CLEANUP_COMPACT_DELETE};
    E(samsa_topic_alter(s, TN, &a));
    int64_t b[256];
    size_t nb = bases_of(dir, b);
    ck_assert_uint_ge(nb, 4);
    E(samsa__retention_run(s));
    E(samsa_offsets(s, TN, 0, &first, &end));
    ck_assert_int_eq(first, b[nb - 1]); /* every sealed segment was old */
    /* Newer records to clean above the start. */
    for (int64_t i = 0; i < 150; i++)
        put_ts(s, &m, (int)(i % 7), false, NOW);
    int64_t upto = active_base(dir);
    size_t n = expect(&m, first, upto, false, want);
    compact(s);
    read_exact(s, &m, want, n);
    finish(s, dir);
}
END_TEST

/* Compressed batches are compacted too, recompressed with their own
 * codec (a tombstone's delete horizon among them), and read exactly. */
START_TEST(test_compressed)
{
    static const int codecs[] = {SAMSA_COMPRESSION_GZIP,
                                 SAMSA_COMPRESSION_SNAPPY,
                                 SAMSA_COMPRESSION_LZ4, SAMSA_COMPRESSION_ZSTD};
    const int codec = codecs[_i];
    const char *dir;
    samsa_topic_config cfg = ccfg(1);
    cfg.compression = codec;
    cfg.delete_retention_ms = 1000;
    samsa *s = start(&dir, &cfg);
    model m = {0};
    int64_t want[MAXREC];
    for (int i = 0; i < 60; i++)
        put_batch(s, &m, 11, 7, i == 20 ? 3 : -1);
    int64_t upto = active_base(dir);
    ck_assert_int_gt(upto, 100);
    size_t n = expect(&m, 0, upto, false, want);
    ck_assert_int_eq(compact(s), m.n - (int64_t)n);
    read_exact(s, &m, want, n);
    ck_assert_int_eq(want[0], 143); /* the tombstone, kept: key 99's last */
    /* Every batch on disk still carries the codec. */
    size_t len;
    uint8_t *b = seg_bytes(dir, 0, &len);
    for (size_t pos = 0; pos < len;) {
        ck_assert_int_eq(b[pos + 22] & 7, codec); /* attributes, low byte */
        pos += 12 + test_be32(b + pos + 8);
    }
    free(b);
    /* Past the horizon, the tombstone (if still its key's latest) goes. */
    samsa__wall_ms_set(NOW + 1000);
    size_t before = n;
    n = expect(&m, 0, upto, true, want);
    ck_assert_uint_eq(n, before - 1);
    ck_assert_int_eq(compact(s), 1);
    read_exact(s, &m, want, n);
    finish(s, dir);
}
END_TEST

/* A consumer group and a share group read a cleaned partition exactly. */
START_TEST(test_group_queue)
{
    const char *dir;
    samsa_topic_config cfg = ccfg(1);
    samsa *s = start(&dir, &cfg);
    model m = {0};
    int64_t want[MAXREC];
    put_cycle(s, &m, 7, 250);
    size_t n = expect(&m, 0, active_base(dir), false, want);
    compact(s);
    const char *topics[] = {TN, NULL};
    samsa_consumer_config gc = {
        .group = "g", .topics = topics, .offset_reset = SAMSA_RESET_EARLIEST};
    samsa_consumer *c;
    samsa_message msg;
    E(samsa_consumer_open(s, &gc, &c));
    for (size_t i = 0; i < n; i++) {
        E(samsa_consumer_poll(c, &msg, 5000));
        check_rec(&m, &msg, want[i]);
    }
    EQ_RC(samsa_consumer_poll(c, &msg, 0), SAMSA_ETIMEDOUT);
    E(samsa_consumer_close(c));
    samsa_queue *q;
    samsa_delivery d[8];
    size_t got = 0, k;
    E(samsa_queue_open(s, "sg", TN, NULL, &q));
    while (got < n) {
        E(samsa_queue_receive(q, d, 8, &k, 0));
        for (size_t i = 0; i < k; i++) {
            ck_assert_uint_lt(got, n);
            check_rec(&m, &d[i].msg, want[got++]);
        }
        E(samsa_queue_ack(q, d, k, SAMSA_ACK_ACCEPT));
    }
    EQ_RC(samsa_queue_receive(q, d, 8, &k, 0), SAMSA_ETIMEDOUT);
    E(samsa_queue_close(q));
    finish(s, dir);
}
END_TEST

/* Read on from a held segment 0: the old segment from..seg1-1, then the
 * cleaned segments up to upto, then the rest, then nothing. */
static void
read_on(samsa_cursor *c, const model *m, int64_t from, int64_t seg1,
        int64_t upto)
{
    int64_t want[MAXREC];
    samsa_message msg;
    for (int64_t o = from; o < seg1; o++) {
        E(samsa_cursor_next(c, &msg, 0));
        check_rec(m, &msg, o);
    }
    size_t n = expect(m, 0, upto, false, want);
    for (size_t i = 0; i < n; i++) {
        if (want[i] < seg1)
            continue;
        E(samsa_cursor_next(c, &msg, 0));
        check_rec(m, &msg, want[i]);
    }
    EQ_RC(samsa_cursor_next(c, &msg, 0), SAMSA_ETIMEDOUT);
}

/* A cursor inside a segment when it is swapped reads on in the old file
 * (its mapping stays valid), then the cleaned segments after it. */
START_TEST(test_reader_holds)
{
    const char *dir;
    samsa_topic_config cfg = ccfg(1);
    samsa *s = start(&dir, &cfg);
    model m = {0};
    int64_t b[256];
    put_cycle(s, &m, 10, 200);
    bases_of(dir, b);
    int64_t seg1 = b[1], upto = active_base(dir);
    samsa_cursor *c;
    samsa_message msg;
    E(samsa_cursor_open(s, TN, 0, SAMSA_OFFSET_BEGINNING, &c));
    E(samsa_cursor_next(c, &msg, 0));
    check_rec(&m, &msg, 0);
    ck_assert_int_gt(compact(s), 0);
    read_on(c, &m, 1, seg1, upto); /* segment 0 as it was, then cleaned */
    samsa_cursor_close(c);
    finish(s, dir);
}
END_TEST

/* The leader copy fails after a swap while a cursor holds the segment it
 * replaced: the cursor's view stays on the old file (a leader change
 * re-points views by path, and the path names the new file now:
 * replica_io.c, "replaced"), so it reads on exactly. */
START_TEST(test_failover_held)
{
    const char *root = begin();
    faultio *fi = faultio_new();
    samsa *s = open_copies(root, fi);
    model m = {0};
    int64_t b[256];
    char d0[TEST_PATH_BUF];
    put_cycle(s, &m, 10, 200);
    bases_of(test_pathf(d0, root, "d0"), b);
    int64_t upto = active_base(d0);
    samsa_cursor *c;
    samsa_message msg;
    E(samsa_cursor_open(s, TN, 0, SAMSA_OFFSET_BEGINNING, &c));
    E(samsa_cursor_next(c, &msg, 0));
    check_rec(&m, &msg, 0);
    ck_assert_int_gt(compact(s), 0);
    faultio_filter(fi, "/d0/");
    faultio_fail(fi, FAULTIO_WRITE, 1, EIO, true); /* d0 is gone for good */
    put(s, &m, 1, false);
    samsa_replica_info info[2];
    size_t n;
    E(samsa_replica_status(s, TN, 0, info, 2, &n));
    ck_assert(info[1].leader && !info[0].leader);
    read_on(c, &m, 1, b[1], upto);
    samsa_cursor_close(c);
    E(samsa_close(s));
    faultio_free(fi);
    finish(NULL, root);
}
END_TEST

/* ---- concurrency --------------------------------------------------------- */

typedef struct race {
    samsa *s;
    model *m;
    _Atomic bool done; /* the producer has finished               */
    _Atomic int reads; /* whole passes the reader made            */
} race;

static void *
race_produce(void *arg)
{
    race *x = arg;
    put_cycle(x->s, x->m, 10, 300);
    atomic_store(&x->done, true);
    return NULL;
}

/* Read from the beginning again and again while the log is produced
 * and cleaned: offsets rise, every record is the one produced there. */
static void *
race_read(void *arg)
{
    race *x = arg;
    samsa_message msg;
    while (!atomic_load(&x->done) || atomic_load(&x->reads) < 2) {
        samsa_cursor *c;
        E(samsa_cursor_open(x->s, TN, 0, SAMSA_OFFSET_BEGINNING, &c));
        int64_t last = -1;
        int rc;
        while ((rc = samsa_cursor_next(c, &msg, 0)) == 0) {
            ck_assert_int_gt(msg.offset, last);
            check_rec(x->m, &msg, msg.offset);
            last = msg.offset;
        }
        EQ_RC(rc, SAMSA_ETIMEDOUT);
        samsa_cursor_close(c);
        atomic_fetch_add(&x->reads, 1);
    }
    return NULL;
}

/* A producer, a reader and the cleaner at once on s (topic TN in dir);
 * the cleaning after them is exact.  Closes s and removes dir. */
static void
race_run(samsa *s, const char *dir)
{
    model m = {0};
    int64_t want[MAXREC];
    race x = {.s = s, .m = &m};
    pthread_t pt, rt;
    ck_assert_int_eq(pthread_create(&pt, NULL, race_produce, &x), 0);
    ck_assert_int_eq(pthread_create(&rt, NULL, race_read, &x), 0);
    while (!atomic_load(&x.done))
        (void)compact(s);
    ck_assert_int_eq(pthread_join(pt, NULL), 0);
    ck_assert_int_eq(pthread_join(rt, NULL), 0);
    compact(s);
    read_exact(s, &m, want, expect(&m, 0, active_base(dir), false, want));
    finish(s, dir);
}

/* race_run() on a store of one's own (TSan runs this suite). */
START_TEST(test_race)
{
    const char *dir;
    samsa_topic_config cfg = ccfg(1);
    samsa *s = start(&dir, &cfg);
    race_run(s, dir);
}
END_TEST

/* test_race with one segment file open at a time: every segment the
 * reader or the cleaner takes is closed and opened again meanwhile. */
START_TEST(test_race_evict)
{
    const char *dir = begin();
    samsa_options o = {.flags = SAMSA_OPEN_CREATE, .max_open_files = 1};
    samsa *s;
    E(samsa__open_io(dir, &o, samsa__io_posix(), &s));
    samsa_topic_config cfg = ccfg(1);
    E(samsa_topic_create(s, TN, &cfg));
    race_run(s, dir);
}
END_TEST

/* Read on while the log is produced, cleaned and its oldest segments
 * deleted: offsets rise, every record is the one produced there; a
 * cursor below the start goes back to it. */
static void *
race_read_start(void *arg)
{
    race *x = arg;
    samsa_message msg;
    samsa_cursor *c;
    E(samsa_cursor_open(x->s, TN, 0, SAMSA_OFFSET_BEGINNING, &c));
    int64_t last = -1;
    while (!atomic_load(&x->done) || atomic_load(&x->reads) < 2) {
        int rc = samsa_cursor_next(c, &msg, 0);
        if (rc == 0) {
            ck_assert_int_gt(msg.offset, last);
            check_rec(x->m, &msg, msg.offset);
            last = msg.offset;
        } else if (rc == SAMSA_EOFFSET) {
            E(samsa_cursor_seek(c, SAMSA_OFFSET_BEGINNING));
            ck_assert_int_ge(samsa_cursor_offset(c), last + 1);
        } else {
            EQ_RC(rc, SAMSA_ETIMEDOUT);
            atomic_fetch_add(&x->reads, 1);
        }
    }
    samsa_cursor_close(c);
    return NULL;
}

/* Compaction and retention (compact,delete) beside a producer and a
 * reader, with one segment file open at a time. */
START_TEST(test_race_retention)
{
    const char *dir = begin();
    samsa_options o = {.flags = SAMSA_OPEN_CREATE, .max_open_files = 1};
    samsa *s;
    E(samsa__open_io(dir, &o, samsa__io_posix(), &s));
    samsa_topic_config cfg = ccfg(1);
    cfg.cleanup_policy = SAMSA_CLEANUP_COMPACT | SAMSA_CLEANUP_DELETE;
    cfg.retention_bytes = 3 * TEST_SEGMENT_BYTES;
    E(samsa_topic_create(s, TN, &cfg));
    model m = {0};
    race x = {.s = s, .m = &m};
    pthread_t pt, rt;
    ck_assert_int_eq(pthread_create(&pt, NULL, race_produce, &x), 0);
    ck_assert_int_eq(pthread_create(&rt, NULL, race_read_start, &x), 0);
    while (!atomic_load(&x.done))
        E(samsa__retention_run(s));
    ck_assert_int_eq(pthread_join(pt, NULL), 0);
    ck_assert_int_eq(pthread_join(rt, NULL), 0);
    E(samsa__retention_run(s));
    E(samsa_close(s));
    s = test_open(dir);
    samsa_cursor *c;
    samsa_message msg;
    int rc, got = 0;
    E(samsa_cursor_open(s, TN, 0, SAMSA_OFFSET_BEGINNING, &c));
    while ((rc = samsa_cursor_next(c, &msg, 0)) == 0) {
        check_rec(&m, &msg, msg.offset);
        got++;
    }
    EQ_RC(rc, SAMSA_ETIMEDOUT);
    ck_assert_int_gt(got, 0);
    samsa_cursor_close(c);
    finish(s, dir);
}
END_TEST

/* A read-only handle of the store (as another process opens it) reads a
 * compacted partition exactly; one opened before the compaction reads
 * the segments it had opened as they were. */
START_TEST(test_rdonly)
{
    const char *dir;
    samsa_topic_config cfg = ccfg(1);
    samsa *s = start(&dir, &cfg);
    model m = {0};
    int64_t want[MAXREC], all[MAXREC];
    put_cycle(s, &m, 10, 200);
    samsa_options ro = {.flags = SAMSA_OPEN_RDONLY};
    samsa *before, *after;
    E(samsa_open(dir, &ro, &before));
    size_t nall = expect(&m, 0, 0, false, all);
    read_exact(before, &m, all, nall); /* every segment opened */
    size_t n = expect(&m, 0, active_base(dir), false, want);
    ck_assert_int_gt(compact(s), 0);
    E(samsa_open(dir, &ro, &after));
    read_exact(after, &m, want, n);
    read_exact(before, &m, all, nall);
    E(samsa_close(after));
    E(samsa_close(before));
    finish(s, dir);
}
END_TEST

/* ---- copies, scrub, damage ----------------------------------------------- */

/* Every file of d0/c-0 and d1/c-0 but the end marker: the same bytes. */
static void
copies_identical(const char *d0, const char *d1)
{
    char p0[TEST_PATH_BUF], p1[TEST_PATH_BUF], name[TEST_PATH_BUF];
    DIR *d = opendir(test_pathf(p0, d0, TN "-0"));
    ck_assert_ptr_nonnull(d);
    int files = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "samsa.end") == 0)
            continue;
        snprintf(name, sizeof name, TN "-0/%.200s", e->d_name);
        test_same_bytes(test_pathf(p0, d0, name), test_pathf(p1, d1, name));
        files++;
    }
    closedir(d);
    ck_assert_int_ge(files, 9);
}

START_TEST(test_replicas)
{
    const char *root = begin();
    char d0[TEST_PATH_BUF], d1[TEST_PATH_BUF];
    test_pathf(d0, root, "d0");
    test_pathf(d1, root, "d1");
    const char *reps[] = {d1, NULL};
    samsa_options o = {.replica_dirs = reps, .flags = SAMSA_OPEN_CREATE};
    samsa *s;
    E(samsa_open(d0, &o, &s));
    samsa_topic_config cfg = ccfg(2);
    E(samsa_topic_create(s, TN, &cfg));
    model m = {0};
    int64_t want[MAXREC];
    put_cycle(s, &m, 10, 150);
    put(s, &m, 4, true);
    put_cycle(s, &m, 9, 100);
    size_t n = expect(&m, 0, active_base(d0), false, want);
    ck_assert_int_gt(compact(s), 0);
    read_exact(s, &m, want, n);
    E(samsa_sync(s));
    copies_identical(d0, d1);
    samsa_scrub_report rep;
    E(samsa_scrub(s, TN, &rep));
    ck_assert_uint_gt(rep.segments, 0);
    ck_assert_uint_eq(rep.damaged, 0);
    ck_assert_uint_eq(rep.missing, 0);
    ck_assert_uint_eq(rep.repaired, 0);
    ck_assert_uint_eq(rep.unrepairable, 0);
    finish(s, root);
}
END_TEST

/* A copy out while the leader compacts is rebuilt from the compacted
 * files when it catches up: the copies are identical again. */
START_TEST(test_catchup)
{
    const char *root = begin();
    char d0[TEST_PATH_BUF], d1[TEST_PATH_BUF];
    test_pathf(d0, root, "d0");
    test_pathf(d1, root, "d1");
    faultio *fi = faultio_new();
    samsa *s = open_copies(root, fi);
    model m = {0};
    int64_t want[MAXREC];
    put_cycle(s, &m, 10, 150);
    faultio_filter(fi, "/d1/");
    faultio_fail(fi, FAULTIO_WRITE, 1, EIO, true); /* d1 goes out */
    put_cycle(s, &m, 10, 100);
    samsa_replica_info info[2];
    size_t n;
    E(samsa_replica_status(s, TN, 0, info, 2, &n));
    ck_assert_int_eq(info[1].state, SAMSA_REPLICA_OUT);
    size_t nw = expect(&m, 0, active_base(d0), false, want);
    ck_assert_int_gt(compact(s), 0);
    faultio_clear(fi);
    size_t joined;
    E(samsa_replica_catchup(s, &joined));
    ck_assert_uint_eq(joined, 1);
    read_exact(s, &m, want, nw);
    E(samsa_sync(s));
    copies_identical(d0, d1);
    E(samsa_close(s));
    faultio_free(fi);
    finish(NULL, root);
}
END_TEST

/* A log whose sync failed takes no write until the store is reopened:
 * no compaction either (SAMSA_EFAILED, no file changed). */
START_TEST(test_failed_log)
{
    const char *dir = begin();
    faultio *fi = faultio_new();
    samsa *s = open_root(dir, false, faultio_io(fi));
    samsa_topic_config cfg = ccfg(1);
    cfg.sync = SAMSA_SYNC_ALWAYS;
    E(samsa_topic_create(s, TN, &cfg));
    model m = {0};
    put_cycle(s, &m, 10, 120);
    size_t len0, len1;
    uint8_t *before = seg_bytes(dir, 0, &len0);
    faultio_fail(fi, FAULTIO_SYNC, 1, EIO, true);
    samsa_record r = {.key = "k1", .key_len = 2, .value = "v", .value_len = 1};
    ck_assert_int_ne(samsa_produce(s, TN, 0, &r, 1), 0);
    int64_t removed = -1;
    EQ_RC(samsa__compact_run(s, &removed), SAMSA_EFAILED);
    ck_assert_int_eq(removed, 0);
    ck_assert_int_eq(cleaned_files(dir), 0);
    uint8_t *after = seg_bytes(dir, 0, &len1);
    ck_assert_uint_eq(len0, len1);
    ck_assert(memcmp(before, after, len0) == 0);
    free(before);
    free(after);
    (void)samsa_close(s);
    faultio_free(fi);
    finish(NULL, dir);
}
END_TEST

/* A flipped byte in a sealed segment: the cleaner refuses, changes no
 * file, and says SAMSA_ECORRUPT. */
START_TEST(test_damage)
{
    const char *dir;
    samsa_topic_config cfg = ccfg(1);
    samsa *s = start(&dir, &cfg);
    model m = {0};
    int64_t b[256];
    put_cycle(s, &m, 10, 200);
    E(samsa_close(s));
    size_t nb = bases_of(dir, b);
    ck_assert_uint_ge(nb, 4);
    char name[64], p[TEST_PATH_BUF];
    snprintf(name, sizeof name, TN "-0/%020lld.log", (long long)b[1]);
    size_t len;
    uint8_t *buf = test_slurp(test_pathf(p, dir, name), &len);
    buf[len / 2] ^= 0x10; /* inside some record of a middle batch */
    test_spew(p, buf, len, O_TRUNC);
    free(buf);
    test_snap sn = {0}, after = {0};
    test_snap_take(&sn, dir, TN "-0");
    s = test_open(dir);
    int64_t removed = -1;
    uint32_t flags = 0;
    E(samsa_stats_partitions(s, TN, stats_flags, &flags));
    ck_assert_uint_eq(flags, SAMSA_PARTITION_GAPS);
    EQ_RC(samsa__compact_run(s, &removed), SAMSA_ECORRUPT);
    ck_assert_int_eq(removed, 0);
    ck_assert_int_eq(cleaned_files(dir), 0);
    E(samsa_stats_partitions(s, TN, stats_flags, &flags)); /* reported */
    ck_assert_uint_eq(flags,
                      SAMSA_PARTITION_GAPS | SAMSA_PARTITION_UNCLEANABLE);
    E(samsa_close(s));
    test_snap_take(&after, dir, TN "-0");
    for (size_t i = 0; i < sn.n; i++) {
        if (strstr(sn.f[i].path, ".log") == NULL)
            continue;
        bool same = false;
        for (size_t j = 0; j < after.n; j++)
            if (strcmp(sn.f[i].path, after.f[j].path) == 0)
                same = sn.f[i].used == after.f[j].used &&
                       memcmp(sn.f[i].data, after.f[j].data, sn.f[i].used) == 0;
        ck_assert_msg(same, "%s changed", sn.f[i].path);
    }
    test_snap_free(&sn);
    test_snap_free(&after);
    finish(NULL, dir);
}
END_TEST

/* ---- crashes ------------------------------------------------------------- */

/* What s reads after a cleaning up to upto that may have stopped at any
 * step: each segment's records as before the cleaning or as after it,
 * never a mix and never without a key's latest record, and nothing
 * else (no SAMSA_ECORRUPT). */
static void
check_segments(samsa *s, const model *m, const int64_t *b, size_t nb,
               int64_t upto)
{
    int64_t clean[MAXREC], got[MAXREC];
    size_t nc = expect(m, 0, upto, false, clean), ng = 0;
    samsa_cursor *c;
    samsa_message msg;
    int rc;
    E(samsa_cursor_open(s, TN, 0, SAMSA_OFFSET_BEGINNING, &c));
    while ((rc = samsa_cursor_next(c, &msg, 0)) == 0) {
        ck_assert_uint_lt(ng, MAXREC);
        check_rec(m, &msg, msg.offset);
        got[ng++] = msg.offset;
    }
    EQ_RC(rc, SAMSA_ETIMEDOUT);
    samsa_cursor_close(c);
    /* Segment i (the last: the active one, never cleaned) holds all of
     * b[i]..b[i+1]-1 or exactly the cleaned ones there. */
    size_t gi = 0, ci = 0;
    for (size_t i = 0; i < nb; i++) {
        int64_t lo = b[i], hi = i + 1 < nb ? b[i + 1] : m->n;
        size_t g0 = gi, c0 = ci;
        while (gi < ng && got[gi] < hi)
            gi++;
        while (ci < nc && clean[ci] < hi)
            ci++;
        bool old = gi - g0 == (size_t)(hi - lo);
        for (size_t k = g0; old && k < gi; k++)
            old = got[k] == lo + (int64_t)(k - g0);
        bool cleaned = gi - g0 == ci - c0;
        for (size_t k = 0; cleaned && k < gi - g0; k++)
            cleaned = got[g0 + k] == clean[c0 + k];
        ck_assert_msg(old || cleaned, "segment %lld: neither old nor cleaned",
                      (long long)lo);
    }
    ck_assert_uint_eq(gi, ng);
}

/* The segment files (.log) of d0 and d1 hold the same bytes. */
static void
same_logs(const char *d0, const char *d1)
{
    char p0[TEST_PATH_BUF], p1[TEST_PATH_BUF], name[TEST_PATH_BUF];
    int64_t b0[256], b1[256];
    size_t n0 = bases_of(d0, b0), n1 = bases_of(d1, b1);
    ck_assert_uint_eq(n0, n1);
    for (size_t i = 0; i < n0; i++) {
        ck_assert_int_eq(b0[i], b1[i]);
        snprintf(name, sizeof name, TN "-0/%020lld.log", (long long)b0[i]);
        test_same_bytes(test_pathf(p0, d0, name), test_pathf(p1, d1, name));
    }
}

/* What a crash at any step must leave, read after a reopen: as
 * check_segments(), and no .cleaned file. */
static void
check_after_crash(const char *root, bool copies, const model *m,
                  const int64_t *b, size_t nb, int64_t upto)
{
    char d0[TEST_PATH_BUF], d1[TEST_PATH_BUF];
    samsa *s = open_root(root, copies, NULL); /* removes what a crash left */
    if (copies) {
        ck_assert_int_eq(cleaned_files(test_pathf(d0, root, "d0")), 0);
        ck_assert_int_eq(cleaned_files(test_pathf(d1, root, "d1")), 0);
    } else
        ck_assert_int_eq(cleaned_files(root), 0);
    check_segments(s, m, b, nb, upto);
    if (copies) /* the copy the open left out is rebuilt */
        E(samsa_replica_catchup(s, NULL));
    E(samsa_close(s));
    if (copies) /* either copy may lead later: both must be right */
        same_logs(test_pathf(d0, root, "d0"), test_pathf(d1, root, "d1"));
}

/* The power goes (or the process is killed: KEEP_ALL, the page cache
 * survives) at I/O step k of a cleaning, for every k. */
static void
crash_sweep(faultio_cut mode, bool copies, int32_t acks)
{
    const char *dir = begin();
    char d0[TEST_PATH_BUF];
    const char *seg_dir = copies ? test_pathf(d0, dir, "d0") : dir;
    samsa *s = open_root(dir, copies, NULL);
    samsa_topic_config cfg = ccfg(copies ? 2 : 1);
    cfg.acks = acks;
    E(samsa_topic_create(s, TN, &cfg));
    model m = {0};
    int64_t b[256];
    /* Two segments to clean (a tombstone in the second), the steps of
     * each swap: every step of a swap, and of the one after a swap. */
    put_cycle(s, &m, 6, 40);
    put(s, &m, 2, true);
    put_cycle(s, &m, 6, 10);
    E(samsa_close(s));
    size_t nb = bases_of(seg_dir, b);
    int64_t upto = b[nb - 1];
    ck_assert_uint_eq(nb, 3);
    test_snap sn = {0};
    test_snap_take(&sn, dir, "");
    /* The steps one whole cleaning takes in the partition's directory. */
    faultio *fi = faultio_new();
    faultio_filter(fi, "/" TN "-0"); /* its dirsyncs too */
    s = open_root(dir, copies, faultio_io(fi));
    uint64_t c0 = faultio_calls_passing(fi, FAULTIO_ANY);
    E(samsa__compact_run(s, NULL));
    uint64_t steps = faultio_calls_passing(fi, FAULTIO_ANY) - c0;
    E(samsa_close(s));
    faultio_free(fi);
    ck_assert_uint_gt(steps, 10);
    check_after_crash(dir, copies, &m, b, nb, upto);
    unsigned thin = test_sweep_thin();
    /* With copies, the first swap's steps (about half: the second swap
     * repeats them), every step with SAMSA_LONG=1. */
    uint64_t last = copies && !test_long() ? steps / 2 + 1 : steps;
    for (uint64_t k = 1; k <= last; k += thin) {
        test_snap_put(&sn, dir);
        fi = faultio_new();
        faultio_filter(fi, "/" TN "-0");
        s = open_root(dir, copies, faultio_io(fi));
        /* A copy that a failed step takes out is not caught up in the
         * background meanwhile: a catch-up reading the files the power
         * cut shortens would take SIGBUS (faultio.h). */
        samsa__replica_pause(s, true);
        faultio_fail(fi, FAULTIO_ANY, k, EIO, true);
        (void)samsa__compact_run(s, NULL);
        E(faultio_power_cut(fi, mode, 0));
        (void)samsa_close(s);
        faultio_free(fi);
        check_after_crash(dir, copies, &m, b, nb, upto);
    }
    test_snap_free(&sn);
    finish(NULL, dir);
}

START_TEST(test_powercut)
{
    crash_sweep(FAULTIO_DROP_ALL, false, 0);
}
END_TEST

START_TEST(test_kill)
{
    crash_sweep(FAULTIO_KEEP_ALL, false, 0);
}
END_TEST

/* Two copies: a swap is made on one, then the other; a power cut between
 * leaves them different, each whole: the open takes one and rebuilds the
 * other, and no .cleaned file stays on either. */
START_TEST(test_powercut_copies)
{
    crash_sweep(FAULTIO_DROP_ALL, true, 0);
}
END_TEST

/* The same with acks=1, where the log's syncs reach the leader copy
 * alone until the flusher's. */
START_TEST(test_powercut_acks1)
{
    crash_sweep(FAULTIO_DROP_ALL, true, SAMSA_ACKS_LEADER);
}
END_TEST

/* One I/O call of a cleaning fails (EIO, ENOSPC), for each call in
 * turn, and the process goes on: with one segment file open at a time,
 * so that every segment is closed and opened again between reads, the
 * partition reads as check_segments() says, before and after a second
 * cleaning, and again after a reopen.  A swap whose rename was made
 * while a later step failed left the old segment's sizes and index over
 * the new file: opened again by its name, it was read past the file's
 * end (SIGBUS). */
static void
fail_sweep(int err, bool copies)
{
    const char *dir = begin();
    char d0[TEST_PATH_BUF], d1[TEST_PATH_BUF];
    const char *seg_dir = copies ? test_pathf(d0, dir, "d0") : dir;
    const char *reps[] = {test_pathf(d1, dir, "d1"), NULL};
    samsa *s = open_root(dir, copies, NULL);
    samsa_topic_config cfg = ccfg(copies ? 2 : 1);
    E(samsa_topic_create(s, TN, &cfg));
    model m = {0};
    int64_t b[256];
    put_cycle(s, &m, 6, 40);
    put(s, &m, 2, true);
    put_cycle(s, &m, 6, 10);
    E(samsa_close(s));
    size_t nb = bases_of(seg_dir, b);
    int64_t upto = b[nb - 1];
    ck_assert_uint_eq(nb, 3);
    test_snap sn = {0};
    test_snap_take(&sn, dir, "");
    samsa_options o = {.flags = SAMSA_OPEN_CREATE,
                       .max_open_files = 1,
                       .replica_dirs = copies ? reps : NULL};
    faultio *fi = faultio_new();
    faultio_filter(fi, "/" TN "-0"); /* the directory's syncs too */
    E(samsa__open_io(seg_dir, &o, faultio_io(fi), &s));
    uint64_t c0 = faultio_calls_passing(fi, FAULTIO_ANY);
    E(samsa__compact_run(s, NULL));
    uint64_t steps = faultio_calls_passing(fi, FAULTIO_ANY) - c0;
    E(samsa_close(s));
    faultio_free(fi);
    for (uint64_t k = 1; k <= steps; k++) {
        test_snap_put(&sn, dir);
        fi = faultio_new();
        faultio_filter(fi, "/" TN "-0");
        E(samsa__open_io(seg_dir, &o, faultio_io(fi), &s));
        if (copies)
            samsa__replica_pause(s, true);
        faultio_fail(fi, FAULTIO_ANY, k, err, false);
        (void)samsa__compact_run(s, NULL);
        check_segments(s, &m, b, nb, upto);
        int rc = samsa__compact_run(s, NULL);
        ck_assert_msg(rc == 0 || rc == SAMSA_EFAILED, "step %llu: %s",
                      (unsigned long long)k, samsa_strerror(rc));
        check_segments(s, &m, b, nb, upto);
        (void)samsa_close(s);
        faultio_free(fi);
        check_after_crash(dir, copies, &m, b, nb, upto);
    }
    test_snap_free(&sn);
    finish(NULL, dir);
}

START_TEST(test_step_eio)
{
    fail_sweep(EIO, false);
}
END_TEST

/* With two copies: a step failed on one takes it out; the other goes
 * on, and the copy is rebuilt after the reopen. */
START_TEST(test_step_copies)
{
    fail_sweep(EIO, true);
}
END_TEST

START_TEST(test_step_enospc)
{
    fail_sweep(ENOSPC, false);
}
END_TEST

/* Produce records of keys key, key + 1, ... into m until the partition
 * has nsegs segments; the next key. */
static int
put_until(samsa *s, model *m, const char *dir, int key, size_t nsegs)
{
    int64_t b[256];
    while (bases_of(dir, b) < nsegs)
        put(s, m, key++, false);
    return key;
}

/* Without the sync policy, a cleaning removes records that later records
 * of their keys replace: the removal must not become durable before
 * those records are.  Segment 0 holds keys 0..5, synced; segment 1 their
 * newer records and others, not synced, and unchanged by the cleaning
 * (each record there is its key's latest): the cleaning empties segment
 * 0, and a power cut then took segment 1's unsynced records with it, so
 * that keys 0..5 read as never written, though records of them were
 * durable before the cleaning. */
START_TEST(test_clean_unsynced)
{
    const char *dir = begin();
    faultio *fi = faultio_new();
    samsa *s = open_root(dir, false, faultio_io(fi));
    samsa_topic_config cfg = ccfg(1);
    E(samsa_topic_create(s, TN, &cfg));
    model m = {0};
    int64_t b[256];
    for (int k = 0; bases_of(dir, b) < 2; k = (k + 1) % 6)
        put(s, &m, k, false);
    int first = m.key[m.n - 1]; /* segment 1's first record's key */
    E(samsa_sync(s));
    for (int k = 0; k < 6; k++)
        if (k != first)
            put(s, &m, k, false);
    (void)put_until(s, &m, dir, 200, 3);
    int64_t removed = -1;
    E(samsa__compact_run(s, &removed));
    ck_assert_int_gt(removed, 0);
    E(faultio_power_cut(fi, FAULTIO_DROP_ALL, 0));
    (void)samsa_close(s);
    faultio_free(fi);
    s = open_root(dir, false, NULL);
    bool seen[6] = {false};
    samsa_cursor *c;
    samsa_message msg;
    int rc;
    E(samsa_cursor_open(s, TN, 0, SAMSA_OFFSET_BEGINNING, &c));
    while ((rc = samsa_cursor_next(c, &msg, 0)) == 0) {
        check_rec(&m, &msg, msg.offset);
        if (m.key[msg.offset] < 6)
            seen[m.key[msg.offset]] = true;
    }
    EQ_RC(rc, SAMSA_ETIMEDOUT);
    samsa_cursor_close(c);
    for (int k = 0; k < 6; k++)
        ck_assert_msg(seen[k], "key k%d lost", k);
    finish(s, dir);
}
END_TEST

#define K9_KEYS 7 /* test_kill9_real: record o has key o % K9_KEYS */

/* test_kill9_real's child: from the partition's end, produce one record
 * and clean, step after step, each step once the parent says go (a
 * byte on in), reporting the acknowledged end on out.  Never returns. */
static void
k9_child(const char *dir, int in, int out)
{
    samsa *s;
    if (samsa_open(dir, NULL, &s) != 0)
        _exit(2);
    int64_t first, end;
    if (samsa_offsets(s, TN, 0, &first, &end) != 0)
        _exit(3);
    for (int64_t o = end; o < MAXREC; o++) {
        char key[16], v[VLEN], go;
        if (read(in, &go, 1) != 1)
            _exit(4);
        snprintf(key, sizeof key, "k%d", (int)(o % K9_KEYS));
        value_of(o, v);
        samsa_record r = {.key = key,
                          .key_len = strlen(key),
                          .value = v,
                          .value_len = VLEN,
                          .timestamp = TEST_TS0 + o};
        if (samsa_produce(s, TN, 0, &r, 1) != 0 || r.offset != o)
            _exit(5);
        if (samsa__compact_run(s, NULL) != 0)
            _exit(6);
        int64_t ack = o + 1;
        if (write(out, &ack, sizeof ack) != (ssize_t)sizeof ack)
            _exit(7);
    }
    for (;;)
        pause();
}

/* kill -9 of a process that produces and cleans, at a random moment of
 * a step, again and again: after each, nothing acknowledged is lost,
 * every key's latest record reads back exactly, every record read is the
 * one produced at its offset, and no .cleaned file stays. */
START_TEST(test_kill9_real)
{
    const char *dir;
    samsa_topic_config cfg = ccfg(1);
    samsa *s = start(&dir, &cfg);
    E(samsa_close(s));
    samsa__wall_ms_set(0); /* the children's clock is the real one */
    model m = {0};
    for (int64_t o = 0; o < MAXREC; o++) {
        m.key[o] = (int)(o % K9_KEYS);
        m.ts[o] = TEST_TS0 + o;
    }
    int64_t acked = 0;
    int runs = test_long() ? 40 : 5;
    for (int run = 0; run < runs && acked < MAXREC - 200; run++) {
        int down[2], up[2];
        ck_assert_int_eq(pipe(down), 0);
        ck_assert_int_eq(pipe(up), 0);
        pid_t pid = test_fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(down[1]);
            close(up[0]);
            k9_child(dir, down[0], up[1]);
        }
        close(down[0]);
        close(up[1]);
        int steps = 20 + (run * 37) % 80;
        for (int i = 0; i < steps; i++) {
            int64_t ack;
            ck_assert_int_eq(write(down[1], "g", 1), 1);
            ck_assert_int_eq(read(up[0], &ack, sizeof ack),
                             (ssize_t)sizeof ack);
            acked = ack;
        }
        ck_assert_int_eq(write(down[1], "g", 1), 1);
        usleep((useconds_t)((run * 7919) % 3000)); /* mid-step, somewhere */
        kill(pid, SIGKILL);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "child exited with %d", WEXITSTATUS(status));
        close(down[1]);
        close(up[0]);
        s = test_open(dir);
        ck_assert_int_eq(cleaned_files(dir), 0);
        int64_t first, end, last = -1, latest[K9_KEYS];
        E(samsa_offsets(s, TN, 0, &first, &end));
        ck_assert_int_ge(end, acked);
        ck_assert_int_le(end, MAXREC);
        for (int k = 0; k < K9_KEYS; k++)
            latest[k] = -1;
        samsa_cursor *c;
        samsa_message msg;
        int rc;
        E(samsa_cursor_open(s, TN, 0, SAMSA_OFFSET_BEGINNING, &c));
        while ((rc = samsa_cursor_next(c, &msg, 0)) == 0) {
            ck_assert_int_gt(msg.offset, last);
            check_rec(&m, &msg, msg.offset);
            last = msg.offset;
            latest[msg.offset % K9_KEYS] = msg.offset;
        }
        EQ_RC(rc, SAMSA_ETIMEDOUT);
        samsa_cursor_close(c);
        ck_assert_int_eq(last, end - 1);
        for (int64_t o = end - 1; o >= 0 && o >= end - K9_KEYS; o--)
            ck_assert_msg(latest[o % K9_KEYS] == o,
                          "run %d: key k%d's latest, %lld, not read", run,
                          (int)(o % K9_KEYS), (long long)o);
        E(samsa_close(s));
        acked = end;
    }
    finish(NULL, dir);
}
END_TEST

/* What a reader of s must see after cleanings up to at most upto: every
 * record the one produced at its offset, in order, none below the start;
 * each key's latest record that is not a tombstone; every record at or
 * past upto. */
static void
check_invariants(samsa *s, const model *m, int64_t upto, unsigned seed)
{
    int64_t first, end, last = -1, latest[100];
    bool *seen = calloc((size_t)m->n + 1, sizeof *seen);
    ck_assert_ptr_nonnull(seen);
    E(samsa_offsets(s, TN, 0, &first, &end));
    ck_assert_int_eq(end, m->n);
    samsa_cursor *c;
    samsa_message msg;
    int rc;
    E(samsa_cursor_open(s, TN, 0, SAMSA_OFFSET_BEGINNING, &c));
    while ((rc = samsa_cursor_next(c, &msg, 0)) == 0) {
        ck_assert_int_gt(msg.offset, last);
        ck_assert_int_ge(msg.offset, first);
        check_rec(m, &msg, msg.offset);
        seen[msg.offset] = true;
        last = msg.offset;
    }
    EQ_RC(rc, SAMSA_ETIMEDOUT);
    samsa_cursor_close(c);
    for (int k = 0; k < 100; k++)
        latest[k] = -1;
    for (int64_t o = first; o < m->n; o++)
        latest[m->key[o]] = o;
    for (int k = 0; k < 100; k++)
        ck_assert_msg(latest[k] < 0 || m->tomb[latest[k]] || seen[latest[k]],
                      "seed %u: key k%d's latest, %lld, not read", seed, k,
                      (long long)latest[k]);
    for (int64_t o = upto > first ? upto : first; o < m->n; o++)
        ck_assert_msg(seen[o], "seed %u: %lld not read", seed, (long long)o);
    free(seen);
}

/* Random produces (single records and batches, tombstones among them),
 * cleanings, deletions, reopens and clock jumps past the tombstones'
 * horizon, the invariants of check_invariants() after each. */
START_TEST(test_random_ops)
{
    int seeds = test_long() ? 60 : 8;
    for (unsigned seed = 1; seed <= (unsigned)seeds; seed++) {
        const char *dir;
        samsa_topic_config cfg = ccfg(1);
        cfg.delete_retention_ms = 1000;
        /* Odd seeds: compressed batches, one segment file open at a time. */
        if (seed % 2 == 1)
            cfg.compression = 1 + (int32_t)(seed / 2 % 4);
        /* Seeds 3, 6, ...: every record synced, a power cut at the end. */
        bool cut = seed % 3 == 0;
        faultio *fi = cut ? faultio_new() : NULL;
        if (cut)
            cfg.sync = SAMSA_SYNC_ALWAYS;
        samsa *s = start(&dir, &cfg);
        if (seed % 2 == 1 || cut) {
            samsa_options o = {.max_open_files = seed % 2 == 1 ? 1 : 0};
            E(samsa_close(s));
            E(samsa__open_io(dir, &o, cut ? faultio_io(fi) : samsa__io_posix(),
                             &s));
        }
        model m = {0};
        unsigned r = seed * 2654435761u;
        int64_t upto = 0, now = NOW;
        while (m.n < MAXREC - 16) {
            r = r * 1103515245u + 12345u;
            unsigned op = (r >> 16) % 100;
            if (op < 60)
                put(s, &m, (int)((r >> 8) % 12), (r >> 4) % 10 == 0);
            else if (op < 80)
                put_batch(s, &m, 2 + (int)((r >> 8) % 9),
                          2 + (int)((r >> 4) % 7), (r >> 12) % 3 == 0 ? 1 : -1);
            else if (op < 90) {
                upto = active_base(dir);
                (void)compact(s);
                check_invariants(s, &m, upto, seed);
            } else if (op < 93) {
                int64_t first, end;
                E(samsa_offsets(s, TN, 0, &first, &end));
                int64_t before = first + (int64_t)((r >> 8) % 20);
                if (before <= end)
                    E(samsa_delete_records(s, TN, 0, before));
            } else if (op < 96 && !cut) {
                E(samsa_close(s));
                s = test_open(dir);
                check_invariants(s, &m, upto, seed);
            } else {
                now += 600;
                samsa__wall_ms_set(now);
            }
        }
        upto = active_base(dir);
        (void)compact(s);
        check_invariants(s, &m, upto, seed);
        if (cut) {
            E(faultio_power_cut(fi, FAULTIO_RANDOM, seed));
            (void)samsa_close(s);
            faultio_free(fi);
            s = test_open(dir);
            ck_assert_int_eq(cleaned_files(dir), 0);
            check_invariants(s, &m, upto, seed);
        }
        finish(s, dir);
    }
}
END_TEST

/* s reads exactly the records of m from first on, and says first. */
static void
reads_from(samsa *s, const model *m, int64_t first)
{
    int64_t f, end, want[MAXREC];
    E(samsa_offsets(s, TN, 0, &f, &end));
    ck_assert_int_eq(f, first);
    ck_assert_int_eq(end, m->n);
    read_exact(s, m, want, expect(m, first, 0, false, want));
}

/* samsa_delete_records with each of its I/O calls failing in turn: the
 * call fails and nothing moved, or it succeeded; either way the store
 * reads exactly from the start it says, in this process (one segment
 * file open at a time) and after a reopen, which keeps a start that was
 * acknowledged, and leaves no segment wholly below the start. */
START_TEST(test_delete_fails)
{
    const char *dir = begin();
    samsa *s = open_root(dir, false, NULL);
    samsa_topic_config cfg = ccfg(1);
    E(samsa_topic_create(s, TN, &cfg));
    model m = {0};
    int64_t b[256];
    put_cycle(s, &m, 1000, 120); /* every key once: nothing cleaned */
    E(samsa_close(s));
    size_t nb = bases_of(dir, b);
    ck_assert_uint_ge(nb, 5);
    int64_t before = b[3] + 2;
    test_snap sn = {0};
    test_snap_take(&sn, dir, "");
    samsa_options o = {.flags = SAMSA_OPEN_CREATE, .max_open_files = 1};
    faultio *fi = faultio_new();
    E(samsa__open_io(dir, &o, faultio_io(fi), &s));
    uint64_t c0 = faultio_calls(fi, FAULTIO_ANY);
    E(samsa_delete_records(s, TN, 0, before));
    uint64_t steps = faultio_calls(fi, FAULTIO_ANY) - c0;
    E(samsa_close(s));
    faultio_free(fi);
    ck_assert_uint_gt(steps, 3);
    for (uint64_t k = 1; k <= steps; k++) {
        test_snap_put(&sn, dir);
        fi = faultio_new();
        E(samsa__open_io(dir, &o, faultio_io(fi), &s));
        faultio_fail(fi, FAULTIO_ANY, k, EIO, false);
        int rc = samsa_delete_records(s, TN, 0, before);
        faultio_clear(fi);
        int64_t first = rc == 0 ? before : 0;
        reads_from(s, &m, first);
        (void)samsa_close(s);
        faultio_free(fi);
        s = test_open(dir);
        int64_t f, end;
        E(samsa_offsets(s, TN, 0, &f, &end));
        ck_assert_msg(f == first || (rc != 0 && f == before),
                      "step %llu: rc %d, start %lld", (unsigned long long)k, rc,
                      (long long)f);
        reads_from(s, &m, f);
        size_t n = bases_of(dir, b);
        ck_assert(n == 1 || b[1] > f);
        E(samsa_close(s));
    }
    test_snap_free(&sn);
    finish(NULL, dir);
}
END_TEST

/* A cleaning whose new index files could not be made (on every copy),
 * then a copy out: its catch-up copies the sealed segments' index files
 * from the leader, and found none there. */
START_TEST(test_catchup_no_index)
{
    const char *root = begin();
    faultio *fi = faultio_new();
    samsa *s = open_copies(root, fi);
    model m = {0};
    put_cycle(s, &m, 10, 200);
    char d0[TEST_PATH_BUF], d1[TEST_PATH_BUF];
    int64_t upto = active_base(test_pathf(d0, root, "d0"));
    E(samsa_sync(s)); /* the cleaning's own flush has nothing to do */
    faultio_filter(fi, "00000000000000000000.index");
    faultio_fail(fi, FAULTIO_OPEN, 1, EIO, true);
    ck_assert_int_gt(compact(s), 0);
    faultio_clear(fi);
    faultio_filter(fi, "/d1/");
    faultio_fail(fi, FAULTIO_WRITE, 1, EIO, true); /* d1 out */
    put(s, &m, 1, false);
    faultio_clear(fi);
    faultio_filter(fi, NULL);
    size_t rejoined = 0;
    E(samsa_replica_catchup(s, &rejoined));
    ck_assert_uint_eq(rejoined, 1);
    int64_t want[MAXREC];
    read_exact(s, &m, want, expect(&m, 0, upto, false, want));
    E(samsa_close(s));
    faultio_free(fi);
    same_logs(d0, test_pathf(d1, root, "d1"));
    /* The next open makes them, on both copies. */
    s = open_root(root, true, NULL);
    read_exact(s, &m, want, expect(&m, 0, upto, false, want));
    E(samsa_close(s));
    char p0[TEST_PATH_BUF], p1[TEST_PATH_BUF];
    const char *idx = TN "-0/00000000000000000000.index";
    ck_assert(test_exists(test_pathf(p0, d0, idx)));
    test_same_bytes(p0, test_pathf(p1, d1, idx));
    finish(NULL, root);
}
END_TEST

/* A .cleaned file at open is the cleaner's, left by a crash: removed;
 * names it does not own stay. */
START_TEST(test_leftovers)
{
    const char *dir;
    samsa_topic_config cfg = ccfg(1);
    samsa *s = start(&dir, &cfg);
    model m = {0};
    put_cycle(s, &m, 3, 10);
    E(samsa_close(s));
    char p[TEST_PATH_BUF];
    const char *mine = TN "-0/00000000000000000000.log.cleaned";
    const char *other[] = {TN "-0/0000000000000000000.log.cleaned",
                           TN "-0/00000000000000000000.log.cleaned.x",
                           TN "-0/x0000000000000000000.log.cleaned"};
    test_spew(test_pathf(p, dir, mine), "junk", 4, O_EXCL);
    for (size_t i = 0; i < 3; i++)
        test_spew(test_pathf(p, dir, other[i]), "mine", 4, O_EXCL);
    s = test_open(dir);
    ck_assert(!test_exists(test_pathf(p, dir, mine)));
    for (size_t i = 0; i < 3; i++)
        ck_assert(test_exists(test_pathf(p, dir, other[i])));
    int64_t want[MAXREC];
    read_exact(s, &m, want, expect(&m, 0, 0, false, want));
    finish(s, dir);
}
END_TEST

/* Under the cleaner's names, what it did not make: a directory (with a
 * file in it) and a symbolic link to a segment stay, the partition opens
 * and reads whole, a cleaning goes on; a .cleaned file beside no segment
 * (past the last one) is the cleaner's by its name, and goes. */
START_TEST(test_leftovers_foreign)
{
    const char *dir;
    samsa_topic_config cfg = ccfg(1);
    samsa *s = start(&dir, &cfg);
    model m = {0};
    put_cycle(s, &m, 6, 60);
    E(samsa_close(s));
    char p[TEST_PATH_BUF], q[TEST_PATH_BUF], t[TEST_PATH_BUF];
    const char *d = TN "-0/00000000000000000000.log.cleaned";
    const char *f = TN "-0/00000000000000000000.log.cleaned/x";
    const char *l = TN "-0/00000000000000000001.log.cleaned";
    const char *far = TN "-0/00000000000000099999.log.cleaned";
    ck_assert_int_eq(mkdir(test_pathf(p, dir, d), 0755), 0);
    test_spew(test_pathf(p, dir, f), "mine", 4, O_EXCL);
    ck_assert_int_eq(
        symlink(test_pathf(q, dir, TN "-0/00000000000000000000.log"),
                test_pathf(t, dir, l)),
        0);
    test_spew(test_pathf(p, dir, far), "junk", 4, O_EXCL);
    size_t len0, len1;
    uint8_t *before = seg_bytes(dir, 0, &len0);
    s = test_open(dir);
    ck_assert(test_exists(test_pathf(p, dir, f)));
    ck_assert(!test_exists(test_pathf(p, dir, far)));
    int64_t want[MAXREC];
    read_exact(s, &m, want, expect(&m, 0, 0, false, want));
    /* The directory holds segment 0's swap name: no cleaning until it
     * goes, nothing changed meanwhile. */
    int64_t upto = active_base(dir), removed = -1;
    EQ_RC(samsa__compact_run(s, &removed), -EEXIST);
    ck_assert_int_eq(removed, 0);
    read_exact(s, &m, want, expect(&m, 0, 0, false, want));
    uint8_t *after = seg_bytes(dir, 0, &len1);
    ck_assert_uint_eq(len0, len1);
    ck_assert(memcmp(before, after, len0) == 0);
    free(after);
    ck_assert(test_exists(test_pathf(p, dir, f)));
    ck_assert_int_eq(unlink(test_pathf(p, dir, f)), 0);
    ck_assert_int_eq(rmdir(test_pathf(p, dir, d)), 0);
    ck_assert_int_gt(compact(s), 0);
    read_exact(s, &m, want, expect(&m, 0, upto, false, want));
    E(samsa_close(s));
    s = test_open(dir);
    read_exact(s, &m, want, expect(&m, 0, upto, false, want));
    after = seg_bytes(dir, 0, &len1);
    ck_assert(len1 < len0);
    free(before);
    free(after);
    finish(s, dir);
}
END_TEST

Suite *
compact_suite(void)
{
    Suite *s = suite_create("compact");
    TCase *tc = tcase_create("compact");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_config);
    tcase_add_test(tc, test_old_record);
    tcase_add_test(tc, test_null_key);
    tcase_add_test(tc, test_latest);
    tcase_add_test(tc, test_tombstones);
    tcase_add_test(tc, test_tombstones_forever);
    tcase_add_test(tc, test_random_ops);
    tcase_add_test(tc, test_lag_ratio);
    tcase_add_test(tc, test_altered);
    tcase_add_test(tc, test_compact_delete);
    tcase_add_test(tc, test_group_queue);
    tcase_add_test(tc, test_reader_holds);
    tcase_add_test(tc, test_failover_held);
    tcase_add_test(tc, test_rdonly);
    tcase_add_test(tc, test_replicas);
    tcase_add_test(tc, test_catchup);
    tcase_add_test(tc, test_damage);
    tcase_add_test(tc, test_failed_log);
    tcase_add_test(tc, test_leftovers);
    tcase_add_test(tc, test_leftovers_foreign);
    suite_add_tcase(s, tc);
    TCase *codecs = tcase_create("codecs");
    tcase_add_loop_test(codecs, test_compressed, 0, 4);
    suite_add_tcase(s, codecs);
    TCase *threads = tcase_create("race"); /* threads: TSan runs it */
    tcase_set_timeout(threads, 120);
    tcase_add_test(threads, test_race);
    tcase_add_test(threads, test_race_evict);
    tcase_add_test(threads, test_race_retention);
    suite_add_tcase(s, threads);
    TCase *crash = tcase_create("crash");
    tcase_set_timeout(crash, 300);
    tcase_add_test(crash, test_powercut);
    tcase_add_test(crash, test_kill);
    tcase_add_test(crash, test_kill9_real);
    tcase_add_test(crash, test_powercut_copies);
    tcase_add_test(crash, test_powercut_acks1);
    tcase_add_test(crash, test_step_eio);
    tcase_add_test(crash, test_step_enospc);
    tcase_add_test(crash, test_step_copies);
    tcase_add_test(crash, test_delete_fails);
    tcase_add_test(crash, test_catchup_no_index);
    tcase_add_test(crash, test_clean_unsynced);
    suite_add_tcase(s, crash);
    return s;
}
