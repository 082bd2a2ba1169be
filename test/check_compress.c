/*
 * check_compress.c - compressed batches: every codec round-trips varied
 * records through produce, cursors, reopen, consumer groups and time
 * lookups; the formats other Kafka clients write (raw snappy, several
 * gzip members, zstd without a content size, lz4 frames with their
 * optional fields) read; damage inside a compressed batch, with or
 * without a matching CRC, is never returned as data; the config is
 * checked and kept.
 */
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "storage/batch.h"
#include "storage/codec.h"
#include "test.h"

#define PER_CALL 100

static const int codecs[] = {SAMSA_COMPRESSION_GZIP, SAMSA_COMPRESSION_SNAPPY,
                             SAMSA_COMPRESSION_LZ4, SAMSA_COMPRESSION_ZSTD};

/* Records first..first+n-1 of test_gen() in one produce call. */
static void
produce_gen_many(samsa *s, const char *topic, int64_t first, size_t n)
{
    static test_grec g[PER_CALL];
    samsa_record r[PER_CALL];
    ck_assert_uint_le(n, PER_CALL);
    for (size_t i = 0; i < n; i++) {
        test_gen(&g[i], first + (int64_t)i);
        r[i] = g[i].r;
    }
    E(samsa_produce(s, topic, 0, r, n));
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(r[i].offset, first + (int64_t)i);
}

/* Batches in dir/topic-0's segment files, and how many carry codec. */
static void
count_batches(const char *dir, const char *topic, int codec, size_t *all,
              size_t *packed)
{
    int64_t bases[4096];
    size_t nseg = test_seg_bases(dir, topic, 0, bases, 4096);
    *all = *packed = 0;
    for (size_t i = 0; i < nseg; i++) {
        char name[128], path[TEST_PATH_BUF];
        snprintf(name, sizeof name, "%s-0/%020lld.log", topic,
                 (long long)bases[i]);
        size_t len;
        uint8_t *f = test_slurp(test_pathf(path, dir, name), &len);
        batch_header h;
        for (size_t pos = 0;
             pos < len && batch_parse_header(f + pos, len - pos, &h) == 0;
             pos += BATCH_LOG_OVERHEAD + (size_t)h.length) {
            ++*all;
            *packed += (h.attributes & BATCH_ATTR_COMPRESSION) == codec;
        }
        free(f);
    }
}

/* The first record of 0..n-1 with a timestamp >= ts, by brute force. */
static int64_t
first_at(int64_t n, int64_t ts)
{
    for (int64_t i = 0; i < n; i++)
        if (test_gen_ts(i) >= ts)
            return i;
    return -1;
}

/* Every codec: 10,000 records of every shape produced in batches of 100,
 * read back exactly by a cursor, again after a reopen, by a consumer
 * group in polls of 500 that span several compressed batches (every
 * message of a poll checked after it returned), and found by time. */
START_TEST(test_roundtrip)
{
    int codec = codecs[_i];
    enum { N = 10000 };
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.compression = codec};
    E(samsa_topic_create(s, "z", &cfg));
    for (int64_t o = 0; o < N; o += PER_CALL)
        produce_gen_many(s, "z", o, PER_CALL);
    size_t all, packed;
    count_batches(dir, "z", codec, &all, &packed);
    ck_assert_uint_eq(all, N / PER_CALL);
    ck_assert_uint_eq(packed, all); /* each compresses: keys, headers */
    test_read_range(s, "z", 0, 0, N);
    E(samsa_close(s));

    s = test_open(dir);
    test_read_range(s, "z", 0, 0, N);
    test_read_range(s, "z", 0, 4321, N); /* a seek into a batch */
    const char *topics[] = {"z", NULL};
    samsa_consumer_config cc = {
        .group = "g", .topics = topics, .offset_reset = SAMSA_RESET_EARLIEST};
    samsa_consumer *c;
    E(samsa_consumer_open(s, &cc, &c));
    static samsa_message m[500];
    int64_t next = 0;
    while (next < N) {
        size_t n;
        E(samsa_consumer_poll_batch(c, m, 500, &n, 2000));
        for (size_t i = 0; i < n; i++)
            TEST_CHECK_GEN(&m[i], next + (int64_t)i);
        next += (int64_t)n;
    }
    E(samsa_consumer_close(c));
    for (int64_t ts = TEST_TS0 - 5; ts < TEST_TS0 + 10 * N; ts += 977) {
        int64_t off;
        E(samsa_offsets_for_time(s, "z", 0, ts, &off));
        ck_assert_int_eq(off, first_at(N, ts));
    }
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

static void
count_reports(const samsa_delivery_report *r, size_t n, void *ctx)
{
    int64_t *next = ctx;
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(r[i].error, 0);
        ck_assert_int_eq(r[i].offset, (int64_t)(uintptr_t)r[i].opaque);
        ck_assert_int_eq(r[i].offset, (*next)++);
    }
}

/* The asynchronous producer's batches (encoded as records are sent) are
 * compressed as the topic says, and read back exactly. */
START_TEST(test_producer)
{
    enum { N = 5000 };
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.compression = SAMSA_COMPRESSION_LZ4};
    E(samsa_topic_create(s, "z", &cfg));
    int64_t next = 0;
    samsa_producer_config pc = {.on_delivery = count_reports, .ctx = &next};
    samsa_producer *p;
    E(samsa_producer_open(s, &pc, &p));
    for (int64_t i = 0; i < N; i++) {
        test_grec g;
        test_gen(&g, i);
        E(samsa_producer_send(p, "z", 0, &g.r, (void *)(uintptr_t)i, -1));
    }
    E(samsa_producer_close(p));
    ck_assert_int_eq(next, N);
    size_t all, packed;
    count_batches(dir, "z", SAMSA_COMPRESSION_LZ4, &all, &packed);
    ck_assert_uint_gt(packed, 0);
    test_read_range(s, "z", 0, 0, N);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A share group over a compressed topic: every record delivered exactly
 * (a receive of many spans several compressed batches), the released ones
 * again, and acknowledged. */
START_TEST(test_queue)
{
    enum { N = 1000 };
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.compression = SAMSA_COMPRESSION_ZSTD};
    E(samsa_topic_create(s, "z", &cfg));
    for (int64_t o = 0; o < N; o += PER_CALL)
        produce_gen_many(s, "z", o, PER_CALL);
    samsa_queue *q;
    E(samsa_queue_open(s, "g", "z", NULL, &q));
    static samsa_delivery d[N];
    size_t got = 0, n;
    while (got < N) {
        E(samsa_queue_receive(q, d + got, 250, &n, 1000));
        for (size_t i = 0; i < n; i++)
            TEST_CHECK_GEN(&d[got + i].msg, (int64_t)(got + i));
        got += n;
    }
    /* Give every tenth back: delivered again, from their batches. */
    for (size_t i = 0; i < N; i += 10)
        E(samsa_queue_ack(q, &d[i], 1, SAMSA_ACK_RELEASE));
    size_t again = 0;
    while (again < N / 10) {
        E(samsa_queue_receive(q, d, 250, &n, 1000));
        for (size_t i = 0; i < n; i++) {
            ck_assert_int_eq(d[i].msg.offset % 10, 0);
            ck_assert_int_eq(d[i].delivery_count, 2);
            TEST_CHECK_GEN(&d[i].msg, d[i].msg.offset);
        }
        E(samsa_queue_ack(q, d, n, SAMSA_ACK_ACCEPT));
        again += n;
    }
    E(samsa_queue_close(q));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A batch the codec would not make smaller is stored as it is, and a
 * compressed topic still takes it. */
START_TEST(test_incompressible)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.compression = SAMSA_COMPRESSION_LZ4};
    E(samsa_topic_create(s, "z", &cfg));
    uint8_t noise[2000];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof noise; i++) {
        x = x * 1103515245 + 12345;
        noise[i] = (uint8_t)(x >> 16);
    }
    samsa_record r = {.value = noise, .value_len = sizeof noise};
    E(samsa_produce(s, "z", 0, &r, 1));
    size_t all, packed;
    count_batches(dir, "z", SAMSA_COMPRESSION_LZ4, &all, &packed);
    ck_assert_uint_eq(all, 1);
    ck_assert_uint_eq(packed, 0);
    samsa_cursor *cur;
    samsa_message m;
    E(samsa_cursor_open(s, "z", 0, SAMSA_OFFSET_BEGINNING, &cur));
    E(samsa_cursor_next(cur, &m, 0));
    ck_assert_uint_eq(m.value_len, sizeof noise);
    ck_assert(memcmp(m.value, noise, sizeof noise) == 0);
    E(samsa_cursor_close(cur));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* Rewrite byte at of the only segment of dir/z-0 with v, and when fix_crc
 * the first batch's CRC to match. */
static void
poke_segment(const char *dir, size_t at, uint8_t v, bool fix_crc)
{
    char path[TEST_PATH_BUF];
    test_pathf(path, dir, "z-0/00000000000000000000.log");
    size_t len;
    uint8_t *f = test_slurp(path, &len);
    ck_assert_uint_lt(at, len);
    f[at] ^= v;
    if (fix_crc) {
        batch_header h;
        ck_assert_int_eq(batch_parse_header(f, len, &h), 0);
        uint32_t crc = samsa__crc32c(
            0, f + 21, (size_t)h.length + BATCH_LOG_OVERHEAD - 21);
        for (int i = 0; i < 4; i++)
            f[17 + i] = (uint8_t)(crc >> (24 - 8 * i));
    }
    test_spew(path, f, len, 0);
    free(f);
}

/* Damage inside a compressed batch: a flipped byte the CRC catches, and
 * bytes that no longer decompress under a CRC made to match (as a bad
 * writer would leave them).  Neither is ever returned as records. */
START_TEST(test_damage)
{
    int codec = codecs[_i];
    for (int fix = 0; fix <= 1; fix++) {
        const char *dir = test_dir_make();
        samsa *s = test_open(dir);
        samsa_topic_config cfg = {.compression = codec};
        E(samsa_topic_create(s, "z", &cfg));
        produce_gen_many(s, "z", 0, PER_CALL);
        E(samsa_close(s));
        /* Inside the compressed data, past its framing headers (the CRC
         * catches it); or, under a CRC made to match, the codec's magic
         * (the codec catches it: snappy and lz4 check no more than
         * that of their data). */
        poke_segment(dir, BATCH_HEADER_SIZE + (fix ? 0 : 40), 0xff, fix);
        s = test_open(dir);
        samsa_cursor *cur;
        samsa_message m;
        E(samsa_cursor_open(s, "z", 0, SAMSA_OFFSET_BEGINNING, &cur));
        int rc = samsa_cursor_next(cur, &m, 0);
        ck_assert_msg(rc == SAMSA_ECORRUPT, "codec %d fix %d: rc %d", codec,
                      fix, rc);
        EQ_RC(samsa_cursor_next(cur, &m, 0), SAMSA_ECORRUPT); /* stays */
        ck_assert_int_eq(samsa_cursor_offset(cur), 0);
        E(samsa_cursor_close(cur));
        E(samsa_close(s));
        test_dir_remove(dir);
    }
}
END_TEST

/* in (len bytes) with codec must decompress to exactly want. */
static void
inflates_to(int codec, const void *in, size_t len, const void *want,
            size_t wlen)
{
    codec_buf b = {0};
    E(codec_decompress(codec, in, len, 1 << 20, &b));
    ck_assert_uint_eq(b.len, wlen);
    ck_assert(memcmp(b.data, want, wlen) == 0);
    /* Cut short, or with a byte too many, it must not read. */
    EQ_RC(codec_decompress(codec, in, len - 1, 1 << 20, &b), SAMSA_ECORRUPT);
    /* More than max comes out: refused, not allocated. */
    int rc = codec_decompress(codec, in, len, wlen - 1, &b);
    ck_assert_msg(rc == SAMSA_ECORRUPT, "codec %d: max: %d", codec, rc);
    codec_buf_free(&b);
}

/* What other clients write: raw snappy, gzip members back to back, zstd
 * without a content size, lz4 frames with content size and checksums;
 * and what samsa writes reads back. */
START_TEST(test_formats)
{
    enum { LEN = 100000 };
    static uint8_t data[LEN], out[2 * LEN + 1024];
    for (size_t i = 0; i < LEN; i++)
        data[i] = (uint8_t)("samsa and kafka "[i % 16] + (i / 1000) % 3);
    size_t n = sizeof out;

    /* Raw snappy (no xerial framing), as some clients write. */
    ck_assert_int_eq(snappy_compress((const char *)data, LEN, (char *)out, &n),
                     SNAPPY_OK);
    inflates_to(CODEC_SNAPPY, out, n, data, LEN);

    /* Two gzip members back to back. */
    uLongf a = sizeof out;
    z_stream zs;
    size_t at = 0;
    for (int m = 0; m < 2; m++) {
        memset(&zs, 0, sizeof zs);
        ck_assert_int_eq(
            deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY),
            Z_OK);
        zs.next_in = data + m * (LEN / 2);
        zs.avail_in = LEN / 2;
        zs.next_out = out + at;
        zs.avail_out = (uInt)(sizeof out - at);
        ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
        at += zs.total_out;
        deflateEnd(&zs);
    }
    (void)a;
    inflates_to(CODEC_GZIP, out, at, data, LEN);

    /* zstd as a streaming producer writes it: no content size. */
    ZSTD_CCtx *z = ZSTD_createCCtx();
    ck_assert(
        !ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_contentSizeFlag, 0)));
    ZSTD_inBuffer zi = {data, LEN, 0};
    ZSTD_outBuffer zo = {out, sizeof out, 0};
    ck_assert_uint_eq(ZSTD_compressStream2(z, &zo, &zi, ZSTD_e_end), 0);
    ZSTD_freeCCtx(z);
    ck_assert(ZSTD_getFrameContentSize(out, zo.pos) ==
              ZSTD_CONTENTSIZE_UNKNOWN);
    inflates_to(CODEC_ZSTD, out, zo.pos, data, LEN);

    /* lz4 with content size, block and content checksums. */
    LZ4F_preferences_t p;
    memset(&p, 0, sizeof p);
    p.frameInfo.contentSize = LEN;
    p.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    p.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
    n = LZ4F_compressFrame(out, sizeof out, data, LEN, &p);
    ck_assert(!LZ4F_isError(n));
    inflates_to(CODEC_LZ4, out, n, data, LEN);

    /* samsa's own, every codec and a level. */
    for (size_t c = 0; c < sizeof codecs / sizeof codecs[0]; c++) {
        ck_assert_uint_le(codec_bound(codecs[c], LEN), sizeof out);
        E(codec_compress(codecs[c], 0, data, LEN, out, &n));
        ck_assert_uint_lt(n, LEN / 4);
        inflates_to(codecs[c], out, n, data, LEN);
    }
    E(codec_compress(CODEC_ZSTD, 19, data, LEN, out, &n));
    inflates_to(CODEC_ZSTD, out, n, data, LEN);
    /* The xerial framing samsa writes: magic, then 32 KiB blocks. */
    E(codec_compress(CODEC_SNAPPY, 0, data, LEN, out, &n));
    ck_assert(memcmp(out, "\x82SNAPPY\0", 8) == 0);

    codec_buf b = {0};
    /* An empty raw snappy block, into an empty buffer (found by the
     * fuzzer: a write at NULL + 0). */
    n = sizeof out;
    ck_assert_int_eq(snappy_compress("", 0, (char *)out, &n), SNAPPY_OK);
    E(codec_decompress(CODEC_SNAPPY, out, n, 1 << 20, &b));
    ck_assert_uint_eq(b.len, 0);
    EQ_RC(codec_decompress(5, out, n, 1 << 20, &b), SAMSA_ENOTSUP);
    EQ_RC(codec_decompress(CODEC_GZIP, (const uint8_t *)"junk", 4, 1 << 20, &b),
          SAMSA_ECORRUPT);
    EQ_RC(codec_decompress(CODEC_LZ4, (const uint8_t *)"junk", 4, 1 << 20, &b),
          SAMSA_ECORRUPT);
    EQ_RC(codec_decompress(CODEC_ZSTD, (const uint8_t *)"junk", 4, 1 << 20, &b),
          SAMSA_ECORRUPT);
    EQ_RC(
        codec_decompress(CODEC_SNAPPY, (const uint8_t *)"junk", 4, 1 << 20, &b),
        SAMSA_ECORRUPT);
    codec_buf_free(&b);
}
END_TEST

/* The config: codecs and levels checked, kept across a reopen, changed
 * by alter (-1 turns compression off). */
START_TEST(test_config)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config bad[] = {
        {.compression = 5},
        {.compression = -2},
        {.compression = SAMSA_COMPRESSION_GZIP, .compression_level = 10},
        {.compression = SAMSA_COMPRESSION_SNAPPY, .compression_level = 1},
        {.compression = SAMSA_COMPRESSION_LZ4, .compression_level = 13},
        {.compression = SAMSA_COMPRESSION_ZSTD, .compression_level = 23},
        {.compression_level = 3}, /* a level without a codec */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        EQ_RC(samsa_topic_create(s, "z", &bad[i]), SAMSA_EINVAL);
    samsa_topic_config cfg = {.compression = SAMSA_COMPRESSION_ZSTD,
                              .compression_level = 19};
    E(samsa_topic_create(s, "z", &cfg));
    produce_gen_many(s, "z", 0, PER_CALL);
    E(samsa_close(s));
    s = test_open(dir);
    samsa_topic_config d;
    E(samsa_topic_describe(s, "z", &d));
    ck_assert_int_eq(d.compression, SAMSA_COMPRESSION_ZSTD);
    ck_assert_int_eq(d.compression_level, 19);
    /* A new codec without a level takes its default level. */
    samsa_topic_config a = {.compression = SAMSA_COMPRESSION_GZIP};
    E(samsa_topic_alter(s, "z", &a));
    E(samsa_topic_describe(s, "z", &d));
    ck_assert_int_eq(d.compression, SAMSA_COMPRESSION_GZIP);
    ck_assert_int_eq(d.compression_level, 0);
    produce_gen_many(s, "z", PER_CALL, PER_CALL);
    a = (samsa_topic_config){.compression = -1};
    E(samsa_topic_alter(s, "z", &a));
    E(samsa_topic_describe(s, "z", &d));
    ck_assert_int_eq(d.compression, SAMSA_COMPRESSION_NONE);
    produce_gen_many(s, "z", 2 * PER_CALL, PER_CALL);
    size_t all, gz, none;
    count_batches(dir, "z", SAMSA_COMPRESSION_GZIP, &all, &gz);
    count_batches(dir, "z", SAMSA_COMPRESSION_NONE, &all, &none);
    ck_assert_uint_eq(all, 3);
    ck_assert_uint_eq(gz, 1);
    ck_assert_uint_eq(none, 1); /* and the first is zstd */
    test_read_range(s, "z", 0, 0, 3 * PER_CALL);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

Suite *
compress_suite(void)
{
    Suite *s = suite_create("compress");
    TCase *tc = tcase_create("compress");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_roundtrip, 0,
                        (int)(sizeof codecs / sizeof codecs[0]));
    tcase_add_test(tc, test_incompressible);
    tcase_add_test(tc, test_producer);
    tcase_add_test(tc, test_queue);
    tcase_add_loop_test(tc, test_damage, 0,
                        (int)(sizeof codecs / sizeof codecs[0]));
    tcase_add_test(tc, test_formats);
    tcase_add_test(tc, test_config);
    suite_add_tcase(s, tc);
    return s;
}
