/*
 * kafka_log.c - a partition log as Kafka writes it after compaction
 * (offsets from 1000, gaps between and inside batches, an LZ4 batch), for
 * the tests of reading gaps (check_gaps.c) and of carrying offsets of a
 * log with gaps to Kafka (check_bridge.c).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "storage/batch.h"
#include "storage/codec.h"
#include "util/samsa_int.h"
#include "test.h"

/* Encode b into out (room enough): record i is test_gen(base + delta i),
 * so that test_gen_mismatch() checks what a cursor returns, offset and
 * all.  Returns the bytes. */
size_t
test_kbatch_encode(uint8_t *out, const test_kbatch *b)
{
    TEST_NOT_IN_CHILD(__func__);
    test_grec g[4];
    size_t body, total = BATCH_HEADER_SIZE;
    int64_t base_ts = test_gen_ts(b->base + b->deltas[0]), max_ts = base_ts;
    for (size_t i = 0; i < b->n; i++) {
        test_gen(&g[i], b->base + b->deltas[i]);
        g[i].r.timestamp = test_gen_ts(b->base + b->deltas[i]);
        if (g[i].r.timestamp > max_ts)
            max_ts = g[i].r.timestamp;
        total += batch_record_size(&g[i].r, batch_record_payload(&g[i].r),
                                   base_ts, b->deltas[i], &body);
    }
    uint8_t *p = out + BATCH_HEADER_SIZE;
    for (size_t i = 0; i < b->n; i++)
        p = batch_record_append(p, &g[i].r, batch_record_payload(&g[i].r),
                                base_ts, b->deltas[i]);
    batch_finish(out, total, b->n, base_ts, max_ts);
    /* Kafka's cleaner keeps lastOffsetDelta when it drops the last
     * records: the header says so, and the CRC covers it. */
    uint8_t *l = out + 23;
    l[0] = (uint8_t)(b->last >> 24);
    l[1] = (uint8_t)(b->last >> 16);
    l[2] = (uint8_t)(b->last >> 8);
    l[3] = (uint8_t)b->last;
    uint32_t crc = samsa__crc32c(0, out + 21, total - 21);
    for (int i = 0; i < 4; i++)
        out[17 + i] = (uint8_t)(crc >> (24 - 8 * i));
    batch_set_base_offset(out, b->base);
    if (b->codec == 0)
        return total;
    uint8_t *z = malloc(BATCH_HEADER_SIZE +
                        codec_bound(b->codec, total - BATCH_HEADER_SIZE));
    size_t zlen;
    ck_assert_ptr_nonnull(z);
    E(batch_compress(out, total, b->codec, 0, z, &zlen));
    memcpy(out, z, zlen);
    free(z);
    return zlen;
}

/* The log of most cases: two segments, 12 records between offsets 1000
 * and 1043, with every kind of gap. */
static const test_kbatch kseg1000[] = {
    {1000, {0, 1, 2}, 3, 2, 0}, /* 1000-1002, dense                 */
    {1005, {0, 2, 4}, 3, 5, 0}, /* 1005 1007 1009; 1010 dropped      */
    {1020, {0}, 1, 0, 0},       /* 1020                              */
};
static const test_kbatch kseg1030[] = {
    {1034, {0, 1}, 2, 1, SAMSA_COMPRESSION_LZ4}, /* 1034 1035: the segment
                                                    starts past its base */
    {1040, {0, 1, 2}, 3, 2, 0},                  /* 1040-1042          */
};
const int64_t test_kafka_offsets[TEST_KAFKA_NREC] = {
    1000, 1001, 1002, 1005, 1007, 1009, 1020, 1034, 1035, 1040, 1041, 1042};

/* Write the segment at base of the partition directory pdir holding
 * bs[0..n); its size. */
size_t
test_kafka_segment(const char *pdir, int64_t base, const test_kbatch *bs,
                   size_t n)
{
    static uint8_t buf[1 << 16];
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += test_kbatch_encode(buf + len, &bs[i]);
    char name[64], path[TEST_PATH_BUF];
    snprintf(name, sizeof name, "%020lld.log", (long long)base);
    test_spew(test_pathf(path, pdir, name), buf, len, O_TRUNC);
    return len;
}

/* The two segments of the Kafka-written log into pdir. */
void
test_kafka_log(const char *pdir)
{
    test_kafka_segment(pdir, 1000, kseg1000,
                       sizeof kseg1000 / sizeof kseg1000[0]);
    test_kafka_segment(pdir, 1030, kseg1030,
                       sizeof kseg1030 / sizeof kseg1030[0]);
}

/* A Kafka partition directory under dir: the log above, with Kafka's
 * other files (an offset index of last offsets, a time index, the leader
 * epochs), which adoption leaves alone.  Returns its path (static). */
const char *
test_kafka_dir(const char *dir)
{
    static char kd[TEST_PATH_BUF];
    char path[TEST_PATH_BUF];
    test_pathf(kd, dir, "kafka-orders-3");
    ck_assert_int_eq(mkdir(kd, 0755), 0);
    test_kafka_log(kd);
    static const uint8_t ix[8] = {0, 0, 0, 2, 0, 0, 0, 0};
    test_spew(test_pathf(path, kd, "00000000000000001000.index"), ix, 8,
              O_TRUNC);
    test_spew(test_pathf(path, kd, "00000000000000001000.timeindex"), "", 0,
              O_TRUNC);
    test_spew(test_pathf(path, kd, "leader-epoch-checkpoint"), "0\n1\n0 1000\n",
              11, O_TRUNC);
    return kd;
}
