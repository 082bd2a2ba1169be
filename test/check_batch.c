/*
 * check_batch.c - the record batch v2 codec against bytes computed by hand
 * from Kafka's specification, and against a batch a real client wrote.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"

static uint32_t
be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

/* One record, key "k", value "v", timestamp 1000, no headers.  Worked out
 * from the format (batch.c's header comment):
 *   record body: attributes 00, timestampDelta 00, offsetDelta 00,
 *                keyLength 02 (zig-zag 1), 6b, valueLength 02, 76,
 *                headerCount 00                          -> 8 bytes
 *   record: length 10 (zig-zag 8) + body                 -> 9 bytes
 *   batch: 61 + 9 = 70 bytes, batchLength 70 - 12 = 58. */
static const uint8_t one_record[] = {
    0,    0,    0,    0,    0,    0,    0,    0,    /* baseOffset          */
    0,    0,    0,    58,                           /* batchLength         */
    0,    0,    0,    0,                            /* leader epoch        */
    2,                                              /* magic               */
    0,    0,    0,    0,                            /* crc: checked apart  */
    0,    0,                                        /* attributes          */
    0,    0,    0,    0,                            /* lastOffsetDelta     */
    0,    0,    0,    0,    0,    0,    3,    0xe8, /* baseTimestamp 1000  */
    0,    0,    0,    0,    0,    0,    3,    0xe8, /* maxTimestamp        */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* producerId -1       */
    0xff, 0xff,                                     /* producerEpoch -1    */
    0xff, 0xff, 0xff, 0xff,                         /* baseSequence -1     */
    0,    0,    0,    1,                            /* records             */
    0x10, 0x00, 0x00, 0x00, 0x02, 0x6b, 0x02, 0x76, 0x00,
};

START_TEST(test_encode_by_hand)
{
    samsa_record r = {.key = "k",
                      .key_len = 1,
                      .value = "v",
                      .value_len = 1,
                      .timestamp = 1000};
    samsa_record *rp = &r;
    size_t bodies[1];
    ck_assert_uint_eq(batch_encoded_size(&rp, 1, bodies), sizeof one_record);
    ck_assert_uint_eq(bodies[0], 8);
    uint8_t buf[sizeof one_record];
    ck_assert_int_eq(batch_encode(buf, &rp, 1, bodies), 1000);
    ck_assert_mem_eq(buf, one_record, 17);
    ck_assert_mem_eq(buf + 21, one_record + 21, sizeof one_record - 21);
    ck_assert_uint_eq(be32(buf + 17),
                      samsa__crc32c_sw(0, buf + 21, sizeof buf - 21));
    batch_set_base_offset(buf, 0x0102030405060708);
    const uint8_t want[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    ck_assert_mem_eq(buf, want, 8);
}
END_TEST

/* Null key, null value, a header with a null value, two records with
 * different timestamps: deltas are zig-zag varints, negative allowed. */
START_TEST(test_encode_nulls_and_deltas)
{
    samsa_header h = {.key = "h", .value = NULL};
    samsa_record r[2] = {
        {.value = "ab", .value_len = 2, .timestamp = 500},
        {.key = "",
         .key_len = 0,
         .headers = &h,
         .header_count = 1,
         .timestamp = 499},
    };
    samsa_record *rp[2] = {&r[0], &r[1]};
    size_t bodies[2];
    size_t n = batch_encoded_size(rp, 2, bodies);
    uint8_t *buf = malloc(n);
    ck_assert_int_eq(batch_encode(buf, rp, 2, bodies), 500);
    /* record 0: len, attr, tsΔ 0, offΔ 0, key -1 (01), value 2 (04) a b,
     * 0 headers */
    const uint8_t r0[] = {0x10, 0, 0, 0, 0x01, 0x04, 'a', 'b', 0};
    /* record 1: tsΔ -1 (01), offΔ 1 (02), key "" (00), value -1 (01),
     * 1 header (02): key 1 (02) 'h', value -1 (01) */
    const uint8_t r1[] = {0x12, 0,    0x01, 0x02, 0x00,
                          0x01, 0x02, 0x02, 'h',  0x01};
    ck_assert_uint_eq(n, 61 + sizeof r0 + sizeof r1);
    ck_assert_mem_eq(buf + 61, r0, sizeof r0);
    ck_assert_mem_eq(buf + 61 + sizeof r0, r1, sizeof r1);
    ck_assert_uint_eq(be32(buf + 23), 1); /* lastOffsetDelta */

    batch_header hd;
    ck_assert_int_eq(batch_parse_header(buf, n, &hd), 0);
    E(batch_verify_crc(buf, &hd));
    batch_iter it;
    samsa_message m;
    batch_iter_init(&it, buf, &hd);
    E(batch_iter_next(&it, &m));
    ck_assert_ptr_null(m.key);
    ck_assert_int_eq(m.value_len, 2);
    ck_assert_int_eq(m.timestamp, 500);
    E(batch_iter_next(&it, &m));
    ck_assert_ptr_nonnull(m.key);
    ck_assert_int_eq(m.key_len, 0);
    ck_assert_ptr_null(m.value);
    ck_assert_int_eq(m.offset, 1);
    ck_assert_int_eq(m.timestamp, 499);
    ck_assert_int_eq(m.header_count, 1);
    const char *k;
    const void *v;
    size_t kl, vl;
    E(samsa_message_header(&m, 0, &k, &kl, &v, &vl));
    ck_assert_int_eq(kl, 1);
    ck_assert_int_eq(k[0], 'h');
    ck_assert_ptr_null(v);
    EQ_RC(samsa_message_header(&m, 1, &k, &kl, &v, &vl), SAMSA_EINVAL);
    ck_assert_int_eq(batch_iter_next(&it, &m), 1);
    free(buf);
}
END_TEST

START_TEST(test_decode_sarama)
{
    batch_header h;
    ck_assert_int_eq(
        batch_parse_header(test_sarama_batch, sizeof test_sarama_batch, &h), 0);
    E(batch_verify_crc(test_sarama_batch, &h));
    ck_assert_int_eq(h.record_count, 1);
    ck_assert_int_eq(h.base_timestamp, 1479847795000);
    batch_iter it;
    samsa_message m;
    batch_iter_init(&it, test_sarama_batch, &h);
    E(batch_iter_next(&it, &m));
    const uint8_t key[] = {1, 2, 3, 4}, val[] = {5, 6, 7};
    ck_assert_int_eq(m.key_len, 4);
    ck_assert_mem_eq(m.key, key, 4);
    ck_assert_int_eq(m.value_len, 3);
    ck_assert_mem_eq(m.value, val, 3);
    ck_assert_int_eq(m.timestamp, 1479847795000 + 5); /* tsΔ 10 = zig-zag 5 */
    ck_assert_int_eq(m.offset, 0);
    ck_assert_int_eq(m.header_count, 1);
    const char *k;
    const void *v;
    size_t kl, vl;
    E(samsa_message_header(&m, 0, &k, &kl, &v, &vl));
    ck_assert_int_eq(kl, 3);
    ck_assert_mem_eq(k, "\x08\x09\x0a", 3);
    ck_assert_int_eq(vl, 2);
    ck_assert_mem_eq(v, "\x0b\x0c", 2);
}
END_TEST

/* Any flipped bit is caught by the CRC or the parser; truncation is
 * "incomplete", never data. */
START_TEST(test_damage_detected)
{
    uint8_t buf[sizeof test_sarama_batch];
    batch_header h;
    for (size_t i = 8; i < sizeof buf; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, test_sarama_batch, sizeof buf);
            buf[i] ^= (uint8_t)(1 << bit);
            int rc = batch_parse_header(buf, sizeof buf, &h);
            if (i >= 12 && i < 17 && rc == 0)
                continue; /* leader epoch and magic's bit flips below */
            ck_assert_msg(rc != 0 || batch_verify_crc(buf, &h) != 0,
                          "byte %zu bit %d not detected", i, bit);
        }
    for (size_t n = 0; n < sizeof test_sarama_batch; n++) {
        int rc = batch_parse_header(test_sarama_batch, n, &h);
        ck_assert_int_eq(rc, 1);
    }
}
END_TEST

/* A record whose varints run past the batch end is SAMSA_ECORRUPT. */
START_TEST(test_bad_varints)
{
    uint8_t buf[sizeof test_sarama_batch];
    batch_header h;
    batch_iter it;
    samsa_message m;
    memcpy(buf, test_sarama_batch, sizeof buf);
    buf[61] = 0x7e; /* record length 63: past the end */
    ck_assert_int_eq(batch_parse_header(buf, sizeof buf, &h), 0);
    batch_iter_init(&it, buf, &h);
    EQ_RC(batch_iter_next(&it, &m), SAMSA_ECORRUPT);
    memcpy(buf, test_sarama_batch, sizeof buf);
    buf[65] = 0x40; /* key length 32: past the record */
    batch_iter_init(&it, buf, &h);
    EQ_RC(batch_iter_next(&it, &m), SAMSA_ECORRUPT);
    memcpy(buf, test_sarama_batch, sizeof buf);
    buf[62] = 0x80; /* attributes fine, then an unterminated varint */
    buf[63] = 0x80;
    buf[64] = 0x80;
    buf[65] = 0x80;
    buf[66] = 0x80;
    batch_iter_init(&it, buf, &h);
    EQ_RC(batch_iter_next(&it, &m), SAMSA_ECORRUPT);
}
END_TEST

/* Every varint length boundary (1 to 10 bytes, both signs, as zig-zag
 * makes them): the size batch_record_size() gives is exactly what
 * batch_record_append() writes, and the record decodes back with those
 * deltas and lengths.  varint_size() counts bits; a size off by one byte
 * would misplace every record after it in a batch. */
START_TEST(test_varint_sizes)
{
    static const int64_t ts_deltas[] = {0,
                                        63,
                                        64,
                                        -64,
                                        -65,
                                        8191,
                                        8192,
                                        -8193,
                                        (int64_t)1 << 34,
                                        -((int64_t)1 << 41),
                                        ((int64_t)1 << 55) - 1,
                                        (int64_t)1 << 62,
                                        INT64_MAX / 2 + 1};
    static const size_t key_lens[] = {0, 63, 64, 8191, 8192, 1048575, 1048576};
    static uint8_t key[1048576 + 1];
    uint8_t *out = malloc(BATCH_HEADER_SIZE + sizeof key + 256);
    ck_assert_ptr_nonnull(out);
    static const int32_t deltas[] = {0, 63, 64, 8192, INT32_MAX};
    for (size_t t = 0; t < sizeof ts_deltas / sizeof *ts_deltas; t++)
        for (size_t k = 0; k < sizeof key_lens / sizeof *key_lens; k++) {
            int32_t delta = deltas[(t + k) % 5];
            samsa_record r = {.key = key,
                              .key_len = key_lens[k],
                              .value = "v",
                              .value_len = 1,
                              .timestamp = 1 + ts_deltas[t]};
            size_t body, payload = batch_record_payload(&r);
            size_t len = batch_record_size(&r, payload, 1, delta, &body);
            uint8_t *end = batch_record_append(out + BATCH_HEADER_SIZE, &r,
                                               payload, 1, delta);
            ck_assert_uint_eq((size_t)(end - out), BATCH_HEADER_SIZE + len);
            ck_assert_uint_le(len, BATCH_RECORD_BOUND(payload));
            if (delta != 0) /* a batch of one record has offset delta 0 */
                continue;
            batch_finish(out, BATCH_HEADER_SIZE + len, 1, 1, r.timestamp);
            batch_header h;
            batch_iter it;
            samsa_message m;
            ck_assert_int_eq(
                batch_parse_header(out, BATCH_HEADER_SIZE + len, &h), 0);
            batch_iter_init(&it, out, &h);
            ck_assert_int_eq(batch_iter_next(&it, &m), 0);
            ck_assert_int_eq(m.timestamp, r.timestamp);
            ck_assert_uint_eq(m.key_len, key_lens[k]);
            ck_assert_uint_eq(m.value_len, 1);
        }
    free(out);
}
END_TEST

/* batch_iter_next() decodes the common record (every varint of one or
 * two bytes, no headers) in a fast path and hands anything else to the
 * whole decoder, which starts the record again.  A batch that alternates
 * them must come out exactly, field by field: a record the fast path
 * began and gave up on must leave nothing of itself in the message, and
 * the iterator must go on from where the whole decoder ended. */
START_TEST(test_iter_common_and_rest)
{
    static uint8_t big[20000]; /* a length of three varint bytes */
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    samsa_header hs[2] = {{.key = "trace", .value = "abc", .value_len = 3},
                          {.key = "n", .value = NULL}};
    samsa_record r[6] = {
        {.key = "k0",
         .key_len = 2,
         .value = "v0",
         .value_len = 2,
         .timestamp = 5000},
        {.key = "k1",
         .key_len = 2,
         .value = "v1",
         .value_len = 2,
         .headers = hs,
         .header_count = 2,
         .timestamp = 5001},
        {.key = big,
         .key_len = sizeof big,
         .value = "v2",
         .value_len = 2,
         .timestamp = 5002},
        {.value = big, .value_len = 100, .timestamp = 5003},
        {.key = "k4",
         .key_len = 2,
         .value = big,
         .value_len = sizeof big,
         .timestamp = 5000 + ((int64_t)1 << 20)}, /* a 4-byte delta */
        {.key = "k5", .key_len = 2, .timestamp = 4999},
    };
    samsa_record *rp[6];
    for (size_t i = 0; i < 6; i++)
        rp[i] = &r[i];
    size_t bodies[6];
    size_t n = batch_encoded_size(rp, 6, bodies);
    uint8_t *buf = malloc(n);
    ck_assert_ptr_nonnull(buf);
    /* batch_encode() gives the largest timestamp */
    ck_assert_int_eq(batch_encode(buf, rp, 6, bodies), r[4].timestamp);
    batch_header h;
    ck_assert_int_eq(batch_parse_header(buf, n, &h), 0);
    batch_iter it;
    batch_iter_init(&it, buf, &h);
    for (size_t i = 0; i < 6; i++) {
        samsa_message m;
        memset(&m, 0xa5, sizeof m); /* what a stale message would hold */
        ck_assert_int_eq(batch_iter_next(&it, &m), 0);
        ck_assert_int_eq(m.offset, (int64_t)i);
        ck_assert_int_eq(m.timestamp, r[i].timestamp);
        ck_assert_int_eq(m.timestamp_type, SAMSA_TIMESTAMP_CREATE_TIME);
        ck_assert_uint_eq(m.key_len, r[i].key_len);
        ck_assert_uint_eq(m.value_len, r[i].value_len);
        if (r[i].key == NULL)
            ck_assert_ptr_null(m.key);
        else
            ck_assert_mem_eq(m.key, r[i].key, r[i].key_len);
        if (r[i].value == NULL)
            ck_assert_ptr_null(m.value);
        else
            ck_assert_mem_eq(m.value, r[i].value, r[i].value_len);
        ck_assert_uint_eq(m.header_count, r[i].header_count);
        ck_assert_int_eq(m.reserved32, 0);
        for (size_t j = 0; j < 3; j++)
            ck_assert_uint_eq(m.reserved[j], 0);
        test_check_headers(&m, hs, r[i].header_count);
    }
    samsa_message m;
    ck_assert_int_eq(batch_iter_next(&it, &m), 1);

    /* Damage the fast path gives up on is the whole decoder's to name,
     * and it leaves the iterator where it was: record 3's offset delta
     * made equal to record 2's (offsets must rise). */
    uint8_t *p = buf + BATCH_HEADER_SIZE;
    for (size_t i = 0; i <= 3; i++) /* to record 3's attributes */
        p += (bodies[i] < 64     ? 1
              : bodies[i] < 8192 ? 2
                                 : 3) +
             (i < 3 ? bodies[i] : 0);
    ck_assert_uint_eq(p[0], 0);     /* attributes */
    ck_assert_uint_eq(p[1], 2 * 3); /* timestamp delta 3, zig-zag */
    ck_assert_uint_eq(p[2], 2 * 3); /* offset delta 3 */
    p[2] = 2 * 2;
    batch_iter_init(&it, buf, &h);
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(batch_iter_next(&it, &m), 0);
    EQ_RC(batch_iter_next(&it, &m), SAMSA_ECORRUPT);
    EQ_RC(batch_iter_next(&it, &m), SAMSA_ECORRUPT);
    free(buf);
}
END_TEST

/* varint_size() computes ceil(bits / 7) by a multiply and a shift: for
 * every width a zig-zag value can have (1 to 64 bits, both signs, either
 * side of each power of two), the size batch_record_size() gives is the
 * size batch_record_append()'s byte loop writes. */
START_TEST(test_varint_every_width)
{
    uint8_t out[BATCH_HEADER_SIZE + 64];
    for (int k = 0; k <= 63; k++) {
        int64_t p = k == 63 ? INT64_MAX : (int64_t)((uint64_t)1 << k);
        int64_t vs[] = {p - 1, p, -p, k == 63 ? INT64_MIN : -p - 1};
        for (size_t i = 0; i < 4; i++) {
            samsa_record r = {.value = "v", .value_len = 1, .timestamp = vs[i]};
            size_t body, payload = batch_record_payload(&r);
            size_t len = batch_record_size(&r, payload, 0, 0, &body);
            uint8_t *end =
                batch_record_append(out + BATCH_HEADER_SIZE, &r, payload, 0, 0);
            ck_assert_uint_eq((size_t)(end - out), BATCH_HEADER_SIZE + len);
        }
    }
}
END_TEST

Suite *
batch_suite(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, test_encode_by_hand);
    tcase_add_test(tc, test_encode_nulls_and_deltas);
    tcase_add_test(tc, test_decode_sarama);
    tcase_add_test(tc, test_damage_detected);
    tcase_add_test(tc, test_bad_varints);
    tcase_add_test(tc, test_varint_sizes);
    tcase_add_test(tc, test_varint_every_width);
    tcase_add_test(tc, test_iter_common_and_rest);
    suite_add_tcase(s, tc);
    return s;
}
