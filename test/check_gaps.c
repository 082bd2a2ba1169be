/*
 * check_gaps.c - logs whose offsets skip (issue 14): a Kafka-written or
 * compacted log, encoded here batch by batch as Kafka writes them (gaps
 * between batches, records dropped inside a batch that keeps its
 * lastOffsetDelta, a segment starting past its base, compressed
 * batches), read exactly through a cursor, seeks, a consumer group and
 * a share group, recovered after a torn tail; and the same bytes in a
 * dense topic, where a gap or a flipped base offset is damage.
 */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "storage/codec.h"
#include "faultio.h"
#include "store/store.h"
#include "test.h"

/* ---- a Kafka-written partition, by hand ---------------------------------- */

static int
find_id(const char *name, uint64_t id, const samsa_topic_config *cfg, void *ctx)
{
    (void)cfg;
    if (strcmp(name, "k") == 0)
        *(uint64_t *)ctx = id;
    return 0;
}

/* Make topic k (one partition) in dir, then replace its files by the
 * Kafka-written log above and its catalog record by one starting at
 * TEST_KAFKA_START, with the gaps flag when gaps (adoption's record, by hand).
 */
static void
kafka_store(const char *dir, bool gaps)
{
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 1};
    E(samsa_topic_create(s, "k", &cfg));
    E(samsa_close(s));
    char path[TEST_PATH_BUF];
    DIR *d = opendir(test_pathf(path, dir, "k-0"));
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char rel[300];
        snprintf(rel, sizeof rel, "k-0/%s", e->d_name);
        if (e->d_name[0] != '.')
            ck_assert_int_eq(unlink(test_pathf(path, dir, rel)), 0);
    }
    closedir(d);
    test_kafka_log(test_pathf(path, dir, "k-0"));
    catalog c;
    const char *paths[] = {test_pathf(path, dir, "catalog")};
    E(catalog_open(&c, paths, 1, 1 << 30));
    uint64_t id = 0;
    E(catalog_topic_foreach(&c, find_id, &id));
    catalog_partition cp;
    E(catalog_partition_get(&c, id, 0, &cp));
    cp.start = TEST_KAFKA_START;
    cp.recovery_point = 0; /* every segment scanned at open */
    cp.flags = gaps ? CATALOG_PART_GAPS : 0;
    int32_t p0 = 0;
    E(catalog_partitions_put(&c, id, &p0, &cp, 1));
    catalog_close(&c);
}

/* kafka_store() in a new directory (*dir), opened. */
static samsa *
kopen(const char **dir, bool gaps)
{
    *dir = test_dir_make();
    kafka_store(*dir, gaps);
    return test_open(*dir);
}

static void
kclose(samsa *s, const char *dir)
{
    E(samsa_close(s));
    test_dir_remove(dir);
}

/* A cursor from from reads exactly the records of test_kafka_offsets at or
 * past from, then finds nothing. */
static void
read_from(samsa *s, int64_t from)
{
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "k", 0, from, &c));
    for (size_t i = 0; i < TEST_KAFKA_NREC; i++) {
        if (test_kafka_offsets[i] < from)
            continue;
        E(samsa_cursor_next(c, &m, 0));
        TEST_CHECK_GEN(&m, test_kafka_offsets[i]);
        ck_assert_int_eq(samsa_cursor_offset(c), test_kafka_offsets[i] + 1);
    }
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
    E(samsa_cursor_close(c));
}

/* ---- reading ------------------------------------------------------------- */

START_TEST(test_read_exact)
{
    const char *dir;
    samsa *s = kopen(&dir, true);
    int64_t first, end;
    E(samsa_offsets(s, "k", 0, &first, &end));
    ck_assert_int_eq(first, TEST_KAFKA_START);
    ck_assert_int_eq(end, TEST_KAFKA_END);
    read_from(s, SAMSA_OFFSET_BEGINNING);
    E(samsa_close(s));
    /* Reopened (the close moved the recovery point): the same. */
    s = test_open(dir);
    read_from(s, SAMSA_OFFSET_BEGINNING);
    /* Produce goes on after the log's end, densely. */
    ck_assert_int_eq(test_produce_str(s, "k", 0, NULL, "after"),
                     TEST_KAFKA_END);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "k", 0, 1036, &c));
    for (int64_t o = 1040; o < TEST_KAFKA_END; o++) {
        E(samsa_cursor_next(c, &m, 0));
        TEST_CHECK_GEN(&m, o);
    }
    E(samsa_cursor_next(c, &m, 0));
    ck_assert_int_eq(m.offset, TEST_KAFKA_END);
    ck_assert_uint_eq(m.value_len, 5);
    ck_assert_int_eq(memcmp(m.value, "after", 5), 0);
    E(samsa_cursor_close(c));
    kclose(s, dir);
}
END_TEST

static int
stats_flags(const samsa_partition_stats *st, void *ctx)
{
    *(uint32_t *)ctx = st->flags;
    return 0;
}

/* The stats say which partitions have gaps, and the JSON too (only
 * there: a dense partition's object is as before). */
START_TEST(test_stats_flag)
{
    const char *dir;
    samsa *s = kopen(&dir, true);
    samsa_topic_config cfg = {.partitions = 1};
    E(samsa_topic_create(s, "dense", &cfg));
    uint32_t flags = 99;
    E(samsa_stats_partitions(s, "k", stats_flags, &flags));
    ck_assert_uint_eq(flags, SAMSA_PARTITION_GAPS);
    E(samsa_stats_partitions(s, "dense", stats_flags, &flags));
    ck_assert_uint_eq(flags, 0);
    char *json;
    E(samsa_stats_json(s, &json));
    const char *k = strstr(json, "{\"topic\":\"k\"");
    const char *d = strstr(json, "{\"topic\":\"dense\"");
    ck_assert_ptr_nonnull(k);
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(strstr(k, "\"open_files\":2,\"gaps\":true}"));
    ck_assert_ptr_nonnull(strstr(d, "\"open_files\":1}"));
    free(json);
    kclose(s, dir);
}
END_TEST

/* Every offset from the start to the end, gaps included: a seek lands on
 * the first record at or past it. */
START_TEST(test_seek_into_gaps)
{
    const char *dir;
    samsa *s = kopen(&dir, true);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "k", 0, SAMSA_OFFSET_BEGINNING, &c));
    for (int64_t o = TEST_KAFKA_START; o <= TEST_KAFKA_END; o++) {
        E(samsa_cursor_seek(c, o));
        size_t i = 0;
        while (i < TEST_KAFKA_NREC && test_kafka_offsets[i] < o)
            i++;
        if (i == TEST_KAFKA_NREC) {
            EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
            continue;
        }
        E(samsa_cursor_next(c, &m, 0));
        TEST_CHECK_GEN(&m, test_kafka_offsets[i]);
        /* and on from there, over the gaps after it */
        for (size_t j = i + 1; j < TEST_KAFKA_NREC; j++) {
            E(samsa_cursor_next(c, &m, 0));
            TEST_CHECK_GEN(&m, test_kafka_offsets[j]);
        }
        EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
    }
    EQ_RC(samsa_cursor_seek(c, TEST_KAFKA_START - 1), SAMSA_EOFFSET);
    EQ_RC(samsa_cursor_seek(c, TEST_KAFKA_END + 1), SAMSA_EOFFSET);
    E(samsa_cursor_close(c));
    kclose(s, dir);
}
END_TEST

/* Seek by time: the first record (in offset order) whose timestamp is
 * >= t, for every t around the records' timestamps, against a scan. */
START_TEST(test_seek_time_gaps)
{
    const char *dir;
    samsa *s = kopen(&dir, true);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "k", 0, SAMSA_OFFSET_BEGINNING, &c));
    int64_t lo = test_gen_ts(TEST_KAFKA_START) - 30,
            hi = test_gen_ts(TEST_KAFKA_END) + 30;
    for (int64_t t = lo; t <= hi; t += 3) {
        size_t i = 0;
        while (i < TEST_KAFKA_NREC && test_gen_ts(test_kafka_offsets[i]) < t)
            i++;
        int64_t off;
        E(samsa_offsets_for_time(s, "k", 0, t, &off));
        ck_assert_int_eq(off, i < TEST_KAFKA_NREC ? test_kafka_offsets[i] : -1);
        E(samsa_cursor_seek_time(c, t));
        if (i == TEST_KAFKA_NREC) {
            EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
            continue;
        }
        E(samsa_cursor_next(c, &m, 0));
        TEST_CHECK_GEN(&m, test_kafka_offsets[i]);
    }
    E(samsa_cursor_close(c));
    kclose(s, dir);
}
END_TEST

/* ---- groups and queues --------------------------------------------------- */

START_TEST(test_group_gaps)
{
    const char *dir;
    samsa *s = kopen(&dir, true);
    const char *topics[] = {"k", NULL};
    samsa_consumer_config cfg = {
        .group = "g", .topics = topics, .offset_reset = SAMSA_RESET_EARLIEST};
    samsa_consumer *c;
    samsa_message m;
    E(samsa_consumer_open(s, &cfg, &c));
    for (size_t i = 0; i < 5; i++) {
        E(samsa_consumer_poll(c, &m, 5000));
        TEST_CHECK_GEN(&m, test_kafka_offsets[i]);
    }
    /* A committed offset inside a gap (1010: dropped from its batch; the
     * next record is 1020) resumes at the next record. */
    samsa_topic_partition tp = {"k", 0, 1010};
    E(samsa_consumer_commit(c, &tp, 1));
    E(samsa_consumer_close(c));
    E(samsa_consumer_open(s, &cfg, &c));
    for (size_t i = 6; i < TEST_KAFKA_NREC; i++) {
        E(samsa_consumer_poll(c, &m, 5000));
        TEST_CHECK_GEN(&m, test_kafka_offsets[i]);
    }
    EQ_RC(samsa_consumer_poll(c, &m, 0), SAMSA_ETIMEDOUT);
    E(samsa_consumer_close(c));
    kclose(s, dir);
}
END_TEST

/* A share group gets every record once and no gap: the gaps' offsets
 * are archived as it meets them (Kafka's GAP acknowledgement). */
START_TEST(test_queue_gaps)
{
    const char *dir;
    samsa *s = kopen(&dir, true);
    samsa_queue *q;
    E(samsa_queue_open(s, "sg", "k", NULL, &q));
    samsa_delivery d[4];
    size_t n, got = 0;
    /* Four at a time: some looks find only gaps (1010..1019). */
    while (got < TEST_KAFKA_NREC) {
        E(samsa_queue_receive(q, d, 4, &n, 0));
        for (size_t i = 0; i < n; i++) {
            ck_assert_uint_lt(got, TEST_KAFKA_NREC);
            TEST_CHECK_GEN(&d[i].msg, test_kafka_offsets[got]);
            ck_assert_int_eq(d[i].delivery_count, 1);
            got++;
        }
        E(samsa_queue_ack(q, d, n, SAMSA_ACK_ACCEPT));
    }
    EQ_RC(samsa_queue_receive(q, d, 4, &n, 0), SAMSA_ETIMEDOUT);
    E(samsa_queue_close(q));
    /* Reopened from its saved state: nothing comes again. */
    E(samsa_close(s));
    s = test_open(dir);
    E(samsa_queue_open(s, "sg", "k", NULL, &q));
    EQ_RC(samsa_queue_receive(q, d, 4, &n, 0), SAMSA_ETIMEDOUT);
    ck_assert_int_eq(test_produce_str(s, "k", 0, "k", "v"), TEST_KAFKA_END);
    E(samsa_queue_receive(q, d, 4, &n, 0));
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(d[0].msg.offset, TEST_KAFKA_END);
    E(samsa_queue_close(q));
    kclose(s, dir);
}
END_TEST

/* ---- recovery ------------------------------------------------------------ */

/* A torn write after the gapped log (what a crash leaves: half a batch,
 * then the preallocated zeros) is cut at open; the gaps before it are
 * not damage, and nothing before it goes. */
START_TEST(test_recover_torn_tail)
{
    const char *dir = test_dir_make();
    kafka_store(dir, true);
    char path[TEST_PATH_BUF];
    test_pathf(path, dir, "k-0/00000000000000001030.log");
    size_t len;
    uint8_t *old = test_slurp(path, &len);
    uint8_t tail[300];
    test_kbatch b = {1050, {0, 1}, 2, 1, 0};
    size_t blen = test_kbatch_encode(tail, &b);
    ck_assert_uint_lt(blen, sizeof tail);
    memset(tail + blen / 2, 0, sizeof tail - blen / 2);
    test_spew(path, tail, sizeof tail, O_APPEND);
    samsa *s = test_open(dir);
    int64_t end;
    E(samsa_offsets(s, "k", 0, NULL, &end));
    ck_assert_int_eq(end, TEST_KAFKA_END);
    read_from(s, SAMSA_OFFSET_BEGINNING);
    E(samsa_close(s));
    size_t now;
    uint8_t *cut = test_slurp(path, &now);
    ck_assert_uint_eq(now, len);
    ck_assert_int_eq(memcmp(cut, old, len), 0);
    free(cut);
    free(old);
    test_dir_remove(dir);
}
END_TEST

/* Records produced after the gapped log, then a crash: a kill (the page
 * cache kept everything: they stay) or a power cut (nothing was synced:
 * they go).  Either way the gapped log before them reads exactly, and the
 * next record gets the offset after what stayed. */
static void
crash_after(faultio_cut cut, int64_t want_end)
{
    const char *dir = test_dir_make();
    kafka_store(dir, true);
    faultio *fi = faultio_new();
    samsa *s;
    E(samsa__open_io(dir, NULL, faultio_io(fi), &s));
    for (int64_t o = TEST_KAFKA_END; o < TEST_KAFKA_END + 5; o++)
        ck_assert_int_eq(test_produce_str(s, "k", 0, NULL, "new"), o);
    E(faultio_power_cut(fi, cut, 7));
    (void)samsa_close(s);
    faultio_free(fi);
    s = test_open(dir);
    int64_t end;
    E(samsa_offsets(s, "k", 0, NULL, &end));
    ck_assert_int_eq(end, want_end);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "k", 0, SAMSA_OFFSET_BEGINNING, &c));
    for (size_t i = 0; i < TEST_KAFKA_NREC; i++) {
        E(samsa_cursor_next(c, &m, 0));
        TEST_CHECK_GEN(&m, test_kafka_offsets[i]);
    }
    for (int64_t o = TEST_KAFKA_END; o < want_end; o++) {
        E(samsa_cursor_next(c, &m, 0));
        ck_assert_int_eq(m.offset, o);
    }
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
    E(samsa_cursor_close(c));
    ck_assert_int_eq(test_produce_str(s, "k", 0, NULL, "again"), want_end);
    kclose(s, dir);
}

START_TEST(test_recover_kill)
{
    crash_after(FAULTIO_KEEP_ALL, TEST_KAFKA_END + 5);
}
END_TEST

START_TEST(test_recover_powercut)
{
    crash_after(FAULTIO_DROP_ALL, TEST_KAFKA_END);
}
END_TEST

/* ---- damage -------------------------------------------------------------- */

/* The same Kafka-written bytes in a partition without the flag: samsa's
 * own topics are dense, and the first gap is damage. */
START_TEST(test_dense_gap_is_damage)
{
    const char *dir;
    samsa *s = kopen(&dir, false);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "k", 0, SAMSA_OFFSET_BEGINNING, &c));
    for (size_t i = 0; i < 3; i++) {
        E(samsa_cursor_next(c, &m, 0));
        TEST_CHECK_GEN(&m, test_kafka_offsets[i]);
    }
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ECORRUPT);
    E(samsa_cursor_seek(c, 1003));
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ECORRUPT);
    E(samsa_cursor_close(c));
    kclose(s, dir);
}
END_TEST

/* Flip the base offset of the second batch (records 3..5) of a dense
 * topic samsa wrote: the cursor reaching it says SAMSA_ECORRUPT, raised
 * or lowered, and returns none of its records. */
static void
flip_dense(int64_t delta)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 1};
    E(samsa_topic_create(s, "d", &cfg));
    for (int64_t o = 0; o < 9; o += 3)
        test_produce_gen(s, "d", 0, o, 3);
    E(samsa_close(s));
    char path[TEST_PATH_BUF];
    test_pathf(path, dir, "d-0/00000000000000000000.log");
    size_t len;
    uint8_t *b = test_slurp(path, &len);
    size_t second = BATCH_LOG_OVERHEAD + test_be32(b + 8);
    ck_assert_uint_eq(b[second + 7], 3);
    b[second + 7] = (uint8_t)(3 + delta);
    test_spew(path, b, len, O_TRUNC);
    free(b);
    s = test_open(dir);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "d", 0, 0, &c));
    for (int64_t o = 0; o < 3; o++) {
        E(samsa_cursor_next(c, &m, 0));
        TEST_CHECK_GEN(&m, o);
    }
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ECORRUPT);
    E(samsa_cursor_seek(c, 4));
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ECORRUPT);
    E(samsa_cursor_close(c));
    E(samsa_close(s));
    test_dir_remove(dir);
}

START_TEST(test_dense_flip_up)
{
    flip_dense(+1);
}
END_TEST

START_TEST(test_dense_flip_down)
{
    flip_dense(-1);
}
END_TEST

/* In a log with gaps, what a flipped base offset does, exactly (see
 * batch_follows() in batch.h): one lowered into the batch before it is
 * damage there; one raised past the gap after it (1020 -> 1021) cannot
 * be told from a gap: the record moves to 1021, which only a copy's bytes
 * (scrub) can show; raised into the next segment (1020 -> 1030), the
 * batch claims another segment's offsets: damage. */
static samsa *
flip_gapped(const char *dir, int64_t to)
{
    kafka_store(dir, true);
    char path[TEST_PATH_BUF];
    test_pathf(path, dir, "k-0/00000000000000001000.log");
    size_t len;
    uint8_t *b = test_slurp(path, &len);
    size_t pos = 0;
    for (int i = 0; i < 2; i++)
        pos += BATCH_LOG_OVERHEAD + test_be32(b + pos + 8);
    ck_assert_uint_eq(test_be32(b + pos + 4), 1020);
    batch_set_base_offset(b + pos, to);
    test_spew(path, b, len, O_TRUNC);
    free(b);
    return test_open(dir);
}

START_TEST(test_gapped_flip)
{
    samsa_cursor *c;
    samsa_message m;
    /* lowered below 1011, where the batch before it ends */
    const char *dir = test_dir_make();
    samsa *s = flip_gapped(dir, 1008);
    E(samsa_cursor_open(s, "k", 0, 1009, &c));
    E(samsa_cursor_next(c, &m, 0));
    TEST_CHECK_GEN(&m, 1009);
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ECORRUPT);
    E(samsa_cursor_close(c));
    E(samsa_close(s));
    test_dir_remove(dir);
    /* raised within the gap: the record reads at 1021 */
    dir = test_dir_make();
    s = flip_gapped(dir, 1021);
    E(samsa_cursor_open(s, "k", 0, 1011, &c));
    E(samsa_cursor_next(c, &m, 0));
    ck_assert_int_eq(m.offset, 1021);
    E(samsa_cursor_next(c, &m, 0));
    TEST_CHECK_GEN(&m, 1034);
    E(samsa_cursor_close(c));
    E(samsa_close(s));
    test_dir_remove(dir);
    /* raised to the next segment's base */
    dir = test_dir_make();
    s = flip_gapped(dir, 1030);
    E(samsa_cursor_open(s, "k", 0, 1011, &c));
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ECORRUPT);
    E(samsa_cursor_close(c));
    kclose(s, dir);
}
END_TEST

/* ---- the time index, as Kafka reads it (item 5) ------------------------- */

/* Record i's timestamp for the time index cases: rising in steps, with
 * repeats, small steps back and, every 97th, a big one. */
static int64_t
tix_ts(int64_t i)
{
    if (i % 97 == 50)
        return TEST_TS0 - 5000;
    return TEST_TS0 + 400 * (i / 60) + 10 * ((i * 13) % 40);
}

#define TIX_RECORDS 1500

/* One segment's files, read. */
typedef struct kseg {
    int64_t base;
    uint8_t *log, *ix, *tx;
    size_t loglen, nix, ntx;
} kseg;

static int64_t
be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)test_be32(p) << 32 | test_be32(p + 4));
}

/* Kafka's answer for t (UnifiedLog.fetchOffsetByTimestamp, on the files):
 * the first segment whose largest timestamp (its time index's last entry)
 * is >= t; there the last time entry <= t (TimeIndex.lookup, else the
 * base), the offset index's last entry <= its offset (OffsetIndex.lookup,
 * else position 0), and from that position the first record whose
 * timestamp is >= t (LogSegment.findOffsetByTimestamp).  -1: none. */
static int64_t
kafka_lookup(const kseg *sg, size_t n, int64_t t)
{
    for (size_t k = 0; k < n; k++) {
        const kseg *g = &sg[k];
        if (g->ntx == 0 || be64(g->tx + 12 * (g->ntx - 1)) < t)
            continue;
        int64_t target = g->base;
        for (size_t e = 0; e < g->ntx && be64(g->tx + 12 * e) <= t; e++)
            target = g->base + test_be32(g->tx + 12 * e + 8);
        uint64_t pos = 0;
        for (size_t e = 0;
             e < g->nix && g->base + test_be32(g->ix + 8 * e) <= target; e++)
            pos = test_be32(g->ix + 8 * e + 4);
        while (pos < g->loglen) {
            batch_header h;
            ck_assert_int_eq(
                batch_parse_header(g->log + pos, g->loglen - pos, &h), 0);
            if (h.max_timestamp >= t) {
                batch_iter it;
                samsa_message m;
                batch_iter_init(&it, g->log + pos, &h);
                while (batch_iter_next(&it, &m) == 0)
                    if (m.timestamp >= t)
                        return m.offset;
            }
            pos += BATCH_LOG_OVERHEAD + (uint64_t)h.length;
        }
        ck_abort_msg("segment %lld: largest timestamp >= %lld, no record",
                     (long long)g->base, (long long)t);
    }
    return -1;
}

static size_t
kseg_load(const char *dir, kseg *sg, size_t max)
{
    int64_t bases[128];
    size_t n = test_seg_bases(dir, "x", 0, bases, 128);
    ck_assert_uint_le(n, max);
    for (size_t k = 0; k < n; k++) {
        char name[64], path[TEST_PATH_BUF];
        size_t len;
        sg[k].base = bases[k];
        snprintf(name, sizeof name, "x-0/%020lld.log", (long long)bases[k]);
        sg[k].log = test_slurp(test_pathf(path, dir, name), &sg[k].loglen);
        snprintf(name, sizeof name, "x-0/%020lld.index", (long long)bases[k]);
        sg[k].ix = test_slurp(test_pathf(path, dir, name), &len);
        sg[k].nix = len / 8;
        snprintf(name, sizeof name, "x-0/%020lld.timeindex",
                 (long long)bases[k]);
        sg[k].tx = test_slurp(test_pathf(path, dir, name), &len);
        sg[k].ntx = len / 12;
    }
    return n;
}

static void
kseg_free(kseg *sg, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        free(sg[k].log);
        free(sg[k].ix);
        free(sg[k].tx);
    }
}

/* Every segment's time index: timestamps strictly rising (Kafka writes
 * no repeat), offsets rising inside the segment; Kafka's lookup and
 * samsa_offsets_for_time() give the same offset for every t around the
 * timestamps; *entries gets the time entries. */
static void
kafka_agrees(const char *dir, size_t *entries)
{
    kseg sg[128];
    size_t n = kseg_load(dir, sg, 128);
    *entries = 0;
    for (size_t k = 0; k < n; k++) {
        *entries += sg[k].ntx;
        for (size_t e = 1; e < sg[k].ntx; e++) {
            ck_assert_int_gt(be64(sg[k].tx + 12 * e),
                             be64(sg[k].tx + 12 * (e - 1)));
            ck_assert_uint_gt(test_be32(sg[k].tx + 12 * e + 8),
                              test_be32(sg[k].tx + 12 * (e - 1) + 8));
        }
    }
    samsa *s = test_open(dir);
    for (int64_t t = TEST_TS0 - 5010; t <= tix_ts(TIX_RECORDS) + 500; t++) {
        if (t > TEST_TS0 - 4990 && t < TEST_TS0 - 10)
            t = TEST_TS0 - 10; /* nothing between */
        int64_t off;
        E(samsa_offsets_for_time(s, "x", 0, t, &off));
        ck_assert_msg(off == kafka_lookup(sg, n, t),
                      "t %lld: samsa %lld, Kafka %lld", (long long)t,
                      (long long)off, (long long)kafka_lookup(sg, n, t));
    }
    E(samsa_close(s));
    kseg_free(sg, n);
}

static void
tix_store(const char *dir)
{
    samsa *s = test_open(dir);
    samsa_topic_config cfg = test_small_cfg(1, 0);
    cfg.index_interval_bytes = 64;
    E(samsa_topic_create(s, "x", &cfg));
    for (int64_t i = 0; i < TIX_RECORDS; i += 3) {
        samsa_record r[3];
        char v[3][16];
        for (int j = 0; j < 3; j++) {
            int len = snprintf(v[j], sizeof v[j], "v%lld", (long long)(i + j));
            r[j] = (samsa_record){.value = v[j],
                                  .value_len = (size_t)len,
                                  .timestamp = tix_ts(i + j)};
        }
        E(samsa_produce(s, "x", 0, r, 3));
    }
    E(samsa_close(s));
}

/* Walk the batches of sg's log from *pos to at, raising *max to their
 * largest timestamp. */
static void
max_ts_upto(const kseg *sg, uint32_t at, uint64_t *pos, int64_t *max)
{
    while (*pos < at) {
        batch_header h;
        ck_assert_int_eq(
            batch_parse_header(sg->log + *pos, sg->loglen - *pos, &h), 0);
        *max = h.max_timestamp > *max ? h.max_timestamp : *max;
        *pos += BATCH_LOG_OVERHEAD + (uint64_t)h.length;
    }
}

/* The active segment's .timeindex grows by appends, each flush's entries
 * after the last (timeindex_encode() resumes its scan where the previous
 * flush ended): while the store is open, after dozens of flushes, the
 * file holds exactly the entries the rule gives for the .index's entries
 * (one where the largest timestamp before it rose), as the .log says. */
START_TEST(test_timeindex_appended)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = test_small_cfg(1, 0);
    cfg.segment_bytes = 64 << 20;
    E(samsa_topic_create(s, "x", &cfg));
    static char v[200];
    memset(v, 'v', sizeof v);
    for (int64_t i = 0; i < 40000; i += 2) {
        samsa_record r[2] = {
            {.value = v, .value_len = sizeof v, .timestamp = tix_ts(i)},
            {.value = v, .value_len = sizeof v, .timestamp = tix_ts(i + 1)}};
        E(samsa_produce(s, "x", 0, r, 2));
    }
    kseg sg[2];
    ck_assert_uint_eq(kseg_load(dir, sg, 2), 1);
    ck_assert_uint_gt(sg[0].nix, 1000);
    uint8_t *want = malloc(sg[0].nix * 12);
    uint64_t pos = 0;
    int64_t max = -1, last = -1;
    size_t n = 0;
    for (size_t e = 0; e < sg[0].nix; e++) {
        max_ts_upto(&sg[0], test_be32(sg[0].ix + 8 * e + 4), &pos, &max);
        if (max <= last)
            continue;
        last = max;
        samsa__be32_put(want + 12 * n, (uint32_t)((uint64_t)max >> 32));
        samsa__be32_put(want + 12 * n + 4, (uint32_t)max);
        samsa__be32_put(want + 12 * n + 8, test_be32(sg[0].ix + 8 * e) - 1);
        n++;
    }
    ck_assert_uint_gt(n, 100);
    ck_assert_uint_eq(sg[0].ntx, n);
    ck_assert_mem_eq(sg[0].tx, want, n * 12);
    free(want);
    kseg_free(sg, 1);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_timeindex_kafka)
{
    const char *dir = test_dir_make();
    tix_store(dir);
    size_t entries;
    kafka_agrees(dir, &entries);
    ck_assert_uint_gt(entries, 30);
    test_dir_remove(dir);
}
END_TEST

/* A store written before the rule: a time entry per .index entry, the
 * largest timestamp before it at the offset before it, repeats and all.
 * It opens and seeks by time as before; the open writes each time index
 * again in the new form, and then Kafka reads them right. */
START_TEST(test_timeindex_old_form)
{
    const char *dir = test_dir_make();
    tix_store(dir);
    kseg sg[128];
    size_t n = kseg_load(dir, sg, 128), repeats = 0;
    for (size_t k = 0; k < n; k++) {
        uint8_t *tx = malloc(sg[k].nix * 12 + 1);
        uint64_t pos = 0;
        int64_t max = -1;
        for (size_t e = 0; e < sg[k].nix; e++) {
            uint32_t rel = test_be32(sg[k].ix + 8 * e);
            max_ts_upto(&sg[k], test_be32(sg[k].ix + 8 * e + 4), &pos, &max);
            if (e > 0 && be64(tx + 12 * (e - 1)) == max)
                repeats++;
            for (int b = 0; b < 8; b++)
                tx[12 * e + (size_t)b] =
                    (uint8_t)((uint64_t)max >> (56 - 8 * b));
            for (int b = 0; b < 4; b++)
                tx[12 * e + 8 + (size_t)b] =
                    (uint8_t)((rel - 1) >> (24 - 8 * b));
        }
        char name[64], path[TEST_PATH_BUF];
        snprintf(name, sizeof name, "x-0/%020lld.timeindex",
                 (long long)sg[k].base);
        test_spew(test_pathf(path, dir, name), tx, sg[k].nix * 12, O_TRUNC);
        free(tx);
    }
    ck_assert_uint_gt(repeats, 10); /* what Kafka's lookup trips on */
    kseg_free(sg, n);
    /* Opens and answers as the new form does (samsa's seeks do not read
     * the repeats as Kafka does). */
    samsa *s = test_open(dir);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "x", 0, 0, &c));
    for (int64_t t = TEST_TS0 - 20; t < tix_ts(TIX_RECORDS); t += 7) {
        int64_t want = -1;
        for (int64_t i = 0; i < TIX_RECORDS && want < 0; i++)
            if (tix_ts(i) >= t)
                want = i;
        E(samsa_cursor_seek_time(c, t));
        if (want < 0) {
            EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
            continue;
        }
        E(samsa_cursor_next(c, &m, 0));
        ck_assert_int_eq(m.offset, want);
    }
    E(samsa_cursor_close(c));
    /* The open wrote the sealed segments' time indexes again, the active
     * one's too, and the close sealed that. */
    E(samsa_close(s));
    size_t entries;
    kafka_agrees(dir, &entries);
    test_dir_remove(dir);
}
END_TEST

/* ---- adopting a Kafka partition directory (item 4) ---------------------- */

/* The store beside it: dir/store (static); store_dir() makes it. */
static const char *
store_dir_path(const char *dir)
{
    static char sd[TEST_PATH_BUF];
    return test_pathf(sd, dir, "store");
}

static const char *
store_dir(const char *dir)
{
    const char *sd = store_dir_path(dir);
    ck_assert_int_eq(mkdir(sd, 0755), 0);
    return sd;
}

/* Are a and b one file (two names)? */
static bool
same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    ck_assert_int_eq(stat(a, &sa), 0);
    ck_assert_int_eq(stat(b, &sb), 0);
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Every file of kd, kept to compare: Kafka's directory is never changed. */
typedef struct kfiles {
    char name[8][64];
    uint8_t *data[8];
    size_t len[8], n;
} kfiles;

static void
kfiles_take(const char *kd, kfiles *k)
{
    DIR *d = opendir(kd);
    struct dirent *e;
    k->n = 0;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        char path[TEST_PATH_BUF];
        if (e->d_name[0] == '.')
            continue;
        ck_assert_uint_lt(k->n, 8);
        snprintf(k->name[k->n], sizeof k->name[0], "%.63s", e->d_name);
        k->data[k->n] =
            test_slurp(test_pathf(path, kd, e->d_name), &k->len[k->n]);
        k->n++;
    }
    closedir(d);
}

static void
kfiles_same(const char *kd, kfiles *k)
{
    kfiles now;
    kfiles_take(kd, &now);
    ck_assert_uint_eq(now.n, k->n);
    for (size_t i = 0; i < k->n; i++) {
        size_t j = 0;
        while (j < now.n && strcmp(now.name[j], k->name[i]) != 0)
            j++;
        ck_assert_msg(j < now.n, "%s gone", k->name[i]);
        ck_assert_uint_eq(now.len[j], k->len[i]);
        ck_assert_int_eq(memcmp(now.data[j], k->data[i], k->len[i]), 0);
        free(now.data[j]);
    }
    for (size_t i = 0; i < k->n; i++)
        free(k->data[i]);
}

START_TEST(test_adopt_exact)
{
    const char *dir = test_dir_make();
    const char *kd = test_kafka_dir(dir);
    kfiles before;
    kfiles_take(kd, &before);
    const char *sd = store_dir(dir);
    samsa *s = test_open(sd);
    E(samsa_topic_adopt(s, "k", kd, NULL));
    int64_t first, end;
    E(samsa_offsets(s, "k", 0, &first, &end));
    ck_assert_int_eq(first, TEST_KAFKA_START);
    ck_assert_int_eq(end, TEST_KAFKA_END);
    read_from(s, SAMSA_OFFSET_BEGINNING);
    uint32_t flags = 0;
    E(samsa_stats_partitions(s, "k", stats_flags, &flags));
    ck_assert_uint_eq(flags, SAMSA_PARTITION_GAPS);
    EQ_RC(samsa_topic_adopt(s, "k", kd, NULL), SAMSA_EEXIST);
    /* Another process's reader sees the whole log at once (the end
     * marker says it: log_mark_end). */
    samsa_options ro = {.flags = SAMSA_OPEN_RDONLY};
    samsa *r;
    E(samsa_open(sd, &ro, &r));
    read_from(r, SAMSA_OFFSET_BEGINNING);
    E(samsa_close(r));
    /* One copy, one filesystem: a second name for Kafka's file. */
    char a[TEST_PATH_BUF], b[TEST_PATH_BUF];
    ck_assert(same_file(test_pathf(a, kd, "00000000000000001000.log"),
                        test_pathf(b, sd, "k-0/00000000000000001000.log")));
    /* samsa writes its own segment, from the end on. */
    ck_assert_int_eq(test_produce_str(s, "k", 0, NULL, "after"),
                     TEST_KAFKA_END);
    ck_assert(test_exists(test_pathf(b, sd, "k-0/00000000000000001043.log")));
    E(samsa_close(s));
    s = test_open(sd);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "k", 0, 1041, &c));
    E(samsa_cursor_next(c, &m, 0));
    TEST_CHECK_GEN(&m, 1041);
    E(samsa_cursor_next(c, &m, 0));
    TEST_CHECK_GEN(&m, 1042);
    E(samsa_cursor_next(c, &m, 0));
    ck_assert_int_eq(m.offset, TEST_KAFKA_END);
    E(samsa_cursor_close(c));
    /* Retention unlinks samsa's names only. */
    E(samsa_delete_records(s, "k", 0, 1034));
    E(samsa_close(s));
    kfiles_same(kd, &before);
    test_dir_remove(dir);
}
END_TEST

/* A store in dir with a mirror directory (made at mirror, o naming it)
 * and the Kafka directory adopted as topic "k" with two copies; *kd (if
 * wanted) the Kafka directory. */
static samsa *
adopt_mirrored(const char *dir, char *mirror, samsa_options *o,
               int32_t min_insync, const char **kd)
{
    test_pathf(mirror, dir, "mirror");
    ck_assert_int_eq(mkdir(mirror, 0755), 0);
    const char *k = test_kafka_dir(dir);
    samsa *s;
    E(samsa_open(store_dir(dir), o, &s));
    samsa_topic_config cfg = {.replicas = 2, .min_insync = min_insync};
    E(samsa_topic_adopt(s, "k", k, &cfg));
    if (kd != NULL)
        *kd = k;
    return s;
}

/* With two copies every file is copied: copies are files of their own. */
START_TEST(test_adopt_copies)
{
    const char *dir = test_dir_make();
    char mirror[TEST_PATH_BUF];
    const char *const reps[] = {mirror, NULL};
    samsa_options o = {.replica_dirs = reps};
    const char *kd;
    samsa *s = adopt_mirrored(dir, mirror, &o, 0, &kd);
    read_from(s, SAMSA_OFFSET_BEGINNING);
    samsa_scrub_report rep;
    E(samsa_scrub(s, "k", &rep));
    ck_assert_msg(rep.damaged == 0 && rep.unrepairable == 0 &&
                      rep.missing == 0 && rep.batches == 2 * 5,
                  "scrub: %llu batches, %llu damaged",
                  (unsigned long long)rep.batches,
                  (unsigned long long)rep.damaged);
    E(samsa_close(s));
    char a[TEST_PATH_BUF], b[TEST_PATH_BUF], c[TEST_PATH_BUF];
    test_pathf(a, kd, "00000000000000001030.log");
    ck_assert(
        !same_file(a, test_pathf(b, mirror, "k-0/00000000000000001030.log")));
    ck_assert(!same_file(
        a, test_pathf(c, dir, "store/k-0/00000000000000001030.log")));
    /* A record byte of the mirror's first segment damaged: scrub walks
     * both copies over the gaps and heals it from the primary. */
    size_t len;
    test_pathf(b, mirror, "k-0/00000000000000001000.log");
    uint8_t *m = test_slurp(b, &len);
    size_t second = BATCH_LOG_OVERHEAD + test_be32(m + 8);
    m[second + BATCH_HEADER_SIZE + 2] ^= 0x40;
    test_spew(b, m, len, O_TRUNC);
    free(m);
    E(samsa_open(store_dir_path(dir), &o, &s));
    E(samsa_scrub(s, "k", &rep));
    ck_assert_uint_eq(rep.damaged, 1);
    ck_assert_uint_eq(rep.repaired, 1);
    ck_assert_uint_eq(rep.unrepairable, 0);
    read_from(s, SAMSA_OFFSET_BEGINNING);
    E(samsa_close(s));
    test_same_bytes(b,
                    test_pathf(c, dir, "store/k-0/00000000000000001000.log"));
    test_dir_remove(dir);
}
END_TEST

/* The mirror of an adopted (gapped) topic vanishes (a failed disk) while
 * records are produced, comes back empty, and catch-up makes it the same
 * bytes again, the gaps included. */
START_TEST(test_adopt_catchup)
{
    const char *dir = test_dir_make();
    char mirror[TEST_PATH_BUF];
    const char *const reps[] = {mirror, NULL};
    samsa_options o = {.replica_dirs = reps};
    samsa *s = adopt_mirrored(dir, mirror, &o, 1, NULL);
    test_dir_remove(mirror);
    for (int64_t o2 = TEST_KAFKA_END; o2 < TEST_KAFKA_END + 3; o2++)
        ck_assert_int_eq(test_produce_str(s, "k", 0, NULL, "new"), o2);
    ck_assert_int_eq(mkdir(mirror, 0755), 0);
    size_t joined;
    E(samsa_replica_catchup(s, &joined));
    ck_assert_uint_eq(joined, 1);
    samsa_replica_info info[2];
    size_t n;
    E(samsa_replica_status(s, "k", 0, info, 2, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(info[1].state, SAMSA_REPLICA_INSYNC);
    E(samsa_close(s));
    static const char *const files[] = {"00000000000000001000.log",
                                        "00000000000000001030.log",
                                        "00000000000000001043.log"};
    for (size_t i = 0; i < 3; i++) {
        char a[TEST_PATH_BUF], b[TEST_PATH_BUF], rel[64];
        snprintf(rel, sizeof rel, "k-0/%s", files[i]);
        test_same_bytes(test_pathf(a, store_dir_path(dir), rel),
                        test_pathf(b, mirror, rel));
    }
    test_dir_remove(dir);
}
END_TEST

/* Damaged input: refused with SAMSA_ECORRUPT, nothing made, nothing of
 * Kafka's changed. */
static void
adopt_refused(void (*damage)(const char *kd), int want)
{
    const char *dir = test_dir_make();
    const char *kd = test_kafka_dir(dir);
    damage(kd);
    kfiles before;
    kfiles_take(kd, &before);
    const char *sd = store_dir(dir);
    samsa *s = test_open(sd);
    EQ_RC(samsa_topic_adopt(s, "k", kd, NULL), want);
    samsa_topic_config c;
    EQ_RC(samsa_topic_describe(s, "k", &c), SAMSA_ENOTOPIC);
    char path[TEST_PATH_BUF];
    ck_assert(!test_exists(test_pathf(path, sd, "k-0")));
    E(samsa_close(s));
    kfiles_same(kd, &before);
    test_dir_remove(dir);
}

/* A byte of a record of the lz4 batch (inside its CRC). */
static void
flip_record(const char *kd)
{
    char path[TEST_PATH_BUF];
    size_t len;
    uint8_t *b =
        test_slurp(test_pathf(path, kd, "00000000000000001030.log"), &len);
    b[BATCH_HEADER_SIZE + 3] ^= 0x10;
    test_spew(path, b, len, O_TRUNC);
    free(b);
}

/* The last batch cut short (Kafka's own recovery would cut it). */
static void
cut_tail(const char *kd)
{
    char path[TEST_PATH_BUF];
    size_t len;
    uint8_t *b =
        test_slurp(test_pathf(path, kd, "00000000000000001030.log"), &len);
    test_spew(path, b, len - 5, O_TRUNC);
    free(b);
}

/* The first segment's last batch (1020) claims offsets of the next file. */
static void
cross_file(const char *kd)
{
    static const test_kbatch bs[] = {{1000, {0, 1, 2}, 3, 2, 0},
                                     {1020, {0, 5}, 2, 12, 0}};
    test_kafka_segment(kd, 1000, bs, 2);
}

/* Base offsets going back: a batch below the one before it. */
static void
goes_back(const char *kd)
{
    static const test_kbatch bs[] = {{1005, {0, 1}, 2, 1, 0},
                                     {1001, {0}, 1, 0, 0}};
    test_kafka_segment(kd, 1000, bs, 2);
}

/* A compressed batch whose records are fewer than its header says. */
static void
miscounted(const char *kd)
{
    uint8_t buf[2048];
    test_kbatch b = {1000, {0, 1, 2}, 3, 2, 0};
    size_t len = test_kbatch_encode(buf, &b);
    buf[60] = 4; /* recordCount 3 -> 4 */
    uint32_t crc = samsa__crc32c(0, buf + 21, len - 21);
    for (int i = 0; i < 4; i++)
        buf[17 + i] = (uint8_t)(crc >> (24 - 8 * i));
    char path[TEST_PATH_BUF];
    test_spew(test_pathf(path, kd, "00000000000000001000.log"), buf, len,
              O_TRUNC);
}

static void
no_logs(const char *kd)
{
    char path[TEST_PATH_BUF];
    ck_assert_int_eq(unlink(test_pathf(path, kd, "00000000000000001000.log")),
                     0);
    ck_assert_int_eq(unlink(test_pathf(path, kd, "00000000000000001030.log")),
                     0);
}

START_TEST(test_adopt_refused)
{
    adopt_refused(flip_record, SAMSA_ECORRUPT);
    adopt_refused(cut_tail, SAMSA_ECORRUPT);
    adopt_refused(cross_file, SAMSA_ECORRUPT);
    adopt_refused(goes_back, SAMSA_ECORRUPT);
    adopt_refused(miscounted, SAMSA_ECORRUPT);
    adopt_refused(no_logs, SAMSA_EINVAL);
}
END_TEST

START_TEST(test_adopt_args)
{
    const char *dir = test_dir_make();
    const char *kd = test_kafka_dir(dir);
    const char *sd = store_dir(dir);
    samsa *s = test_open(sd);
    samsa_topic_config two = {.partitions = 2};
    EQ_RC(samsa_topic_adopt(NULL, "k", kd, NULL), SAMSA_EINVAL);
    EQ_RC(samsa_topic_adopt(s, "k", NULL, NULL), SAMSA_EINVAL);
    EQ_RC(samsa_topic_adopt(s, "../k", kd, NULL), SAMSA_EINVAL);
    EQ_RC(samsa_topic_adopt(s, "k", kd, &two), SAMSA_EINVAL);
    char path[TEST_PATH_BUF];
    EQ_RC(samsa_topic_adopt(s, "k", test_pathf(path, dir, "none"), NULL),
          -ENOENT);
    samsa_topic_config c = {.partitions = 1};
    E(samsa_topic_create(s, "taken", &c));
    EQ_RC(samsa_topic_adopt(s, "taken", kd, NULL), SAMSA_EEXIST);
    E(samsa_close(s));
    samsa_options ro = {.flags = SAMSA_OPEN_RDONLY};
    E(samsa_open(sd, &ro, &s));
    EQ_RC(samsa_topic_adopt(s, "k", kd, NULL), SAMSA_ERDONLY);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A crash at every I/O call of an adoption (each later call fails, then
 * the power goes: what was not synced is lost): the store reopens with no
 * topic and no directory of it, or the whole topic, read exactly; Kafka's
 * files as they were. */
START_TEST(test_adopt_crash)
{
    const char *dir = test_dir_make();
    const char *kd = test_kafka_dir(dir);
    kfiles before;
    kfiles_take(kd, &before);
    char work[TEST_PATH_BUF];
    test_pathf(work, dir, "store");
    /* How many calls an adoption makes. */
    faultio *fi = faultio_new();
    samsa *s;
    ck_assert_int_eq(mkdir(work, 0755), 0);
    E(samsa__open_io(work, NULL, faultio_io(fi), &s));
    uint64_t c0 = faultio_calls(fi, FAULTIO_ANY);
    E(samsa_topic_adopt(s, "k", kd, NULL));
    uint64_t calls = faultio_calls(fi, FAULTIO_ANY) - c0;
    E(samsa_close(s));
    faultio_free(fi);
    test_dir_remove(work);
    size_t whole = 0, none = 0;
    for (uint64_t k = 1; k <= calls; k++) {
        fi = faultio_new();
        ck_assert_int_eq(mkdir(work, 0755), 0);
        E(samsa__open_io(work, NULL, faultio_io(fi), &s));
        faultio_fail(fi, FAULTIO_ANY, k, EIO, true);
        int rc = samsa_topic_adopt(s, "k", kd, NULL);
        ck_assert_int_ne(rc, 0);
        E(faultio_power_cut(fi, FAULTIO_DROP_ALL, k));
        (void)samsa_close(s);
        faultio_free(fi);
        s = test_open(work);
        samsa_topic_config c;
        char path[TEST_PATH_BUF];
        if (samsa_topic_describe(s, "k", &c) == 0) {
            read_from(s, SAMSA_OFFSET_BEGINNING);
            whole++;
        } else {
            ck_assert(!test_exists(test_pathf(path, work, "k-0")));
            none++;
        }
        E(samsa_close(s));
        test_dir_remove(work);
    }
    ck_assert_uint_gt(none, 0);
    kfiles_same(kd, &before);
    test_dir_remove(dir);
}
END_TEST

Suite *
gaps_suite(void)
{
    Suite *s = suite_create("gaps");
    TCase *tc = tcase_create("read");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_read_exact);
    tcase_add_test(tc, test_seek_into_gaps);
    tcase_add_test(tc, test_seek_time_gaps);
    tcase_add_test(tc, test_stats_flag);
    suite_add_tcase(s, tc);
    tc = tcase_create("timeindex");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_timeindex_kafka);
    tcase_add_test(tc, test_timeindex_old_form);
    tcase_add_test(tc, test_timeindex_appended);
    suite_add_tcase(s, tc);
    tc = tcase_create("adopt");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_adopt_exact);
    tcase_add_test(tc, test_adopt_copies);
    tcase_add_test(tc, test_adopt_catchup);
    tcase_add_test(tc, test_adopt_refused);
    tcase_add_test(tc, test_adopt_args);
    tcase_add_test(tc, test_adopt_crash);
    suite_add_tcase(s, tc);
    tc = tcase_create("groups");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_group_gaps);
    tcase_add_test(tc, test_queue_gaps);
    suite_add_tcase(s, tc);
    tc = tcase_create("recovery");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_recover_torn_tail);
    tcase_add_test(tc, test_recover_kill);
    tcase_add_test(tc, test_recover_powercut);
    suite_add_tcase(s, tc);
    tc = tcase_create("damage");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_dense_gap_is_damage);
    tcase_add_test(tc, test_dense_flip_up);
    tcase_add_test(tc, test_dense_flip_down);
    tcase_add_test(tc, test_gapped_flip);
    suite_add_tcase(s, tc);
    return s;
}
