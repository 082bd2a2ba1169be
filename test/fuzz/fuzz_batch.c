/*
 * fuzz_batch.c - the record batch decoder (batch.c) as the cursor drives
 * it: parse a batch header, check its CRC, iterate its records and decode
 * every header of each.
 *
 * Input: one flags byte, then the bytes of a segment (batches back to
 * back).  Flags bit 0: recompute each batch's CRC before checking it, so
 * that mutations of the CRC-covered bytes reach the record decoder
 * instead of stopping at the CRC.
 *
 * Each batch is copied into a buffer of exactly its own size, so that
 * AddressSanitizer catches a decoder that reads past the batch (inside
 * the input, the next batch's bytes would hide it).  A compressed batch
 * is decompressed (codec.c: every codec's decoder meets the input) and
 * its records, copied likewise to a buffer of their exact size, iterated
 * as the cursor does.
 */
#include <string.h>

#include "fuzz.h"
#include "storage/codec.h"
#include "storage/log.h"

/* Decode one whole batch (h parsed from it, len bytes); returns the
 * records it held. */
static int32_t
decode_batch(uint8_t *b, size_t len, const batch_header *h, bool fix_crc)
{
    batch_header h2;
    memset(&h2, 0, sizeof h2); /* memcmp below: the padding too */
    /* Parsing the exact-size copy gives the same answer. */
    FUZZ_CHECK(batch_parse_header(b, len, &h2) == 0);
    FUZZ_CHECK(memcmp(&h2, h, sizeof h2) == 0);
    if (fix_crc) {
        uint32_t crc = samsa__crc32c(0, b + 21, len - 21);
        for (int i = 0; i < 4; i++) /* big-endian, at byte 17 */
            b[17 + i] = (uint8_t)(crc >> (24 - 8 * i));
        FUZZ_CHECK(batch_parse_header(b, len, &h2) == 0);
        h = &h2;
    }
    if (batch_verify_crc(b, h) != 0)
        return 0;
    batch_iter it;
    samsa_message m;
    int rc;
    int32_t n = 0;
    volatile unsigned sink = 0;
    const uint8_t *lo = b, *end = b + len; /* where records may point */
    uint8_t *recs = NULL;
    if (h->attributes & BATCH_ATTR_COMPRESSION) {
        codec_buf z = {0};
        rc = codec_decompress(h->attributes & BATCH_ATTR_COMPRESSION,
                              b + BATCH_HEADER_SIZE, len - BATCH_HEADER_SIZE,
                              1u << 22, &z);
        FUZZ_CHECK(rc == 0 || rc == SAMSA_ECORRUPT || rc == SAMSA_ENOTSUP);
        recs = rc == 0 ? malloc(z.len ? z.len : 1) : NULL;
        if (recs != NULL && z.len > 0)
            memcpy(recs, z.data, z.len);
        if (recs != NULL) {
            lo = recs;
            end = recs + z.len;
            batch_iter_init_records(&it, h, recs, z.len);
        }
        codec_buf_free(&z);
        if (recs == NULL)
            return 0;
    } else
        batch_iter_init(&it, b, h);
    while ((rc = batch_iter_next(&it, &m)) == 0) {
        n++;
        FUZZ_CHECK(n <= h->record_count);
        /* every pointer inside the batch (or its records) */
        FUZZ_CHECK(m.key == NULL ||
                   ((const uint8_t *)m.key >= lo &&
                    (const uint8_t *)m.key + m.key_len <= end));
        FUZZ_CHECK(m.value == NULL ||
                   ((const uint8_t *)m.value >= lo &&
                    (const uint8_t *)m.value + m.value_len <= end));
        for (size_t i = 0; i < m.key_len; i++)
            sink += ((const uint8_t *)m.key)[i];
        for (size_t i = 0; i < m.value_len; i++)
            sink += ((const uint8_t *)m.value)[i];
        for (size_t i = 0; i < m.header_count && i < 64; i++) {
            const char *hk;
            const void *hv;
            size_t hkl, hvl;
            int hr = samsa_message_header(&m, i, &hk, &hkl, &hv, &hvl);
            /* headers_skip() checked them all when the record decoded */
            FUZZ_CHECK(hr == 0);
            FUZZ_CHECK((const uint8_t *)hk >= lo &&
                       (const uint8_t *)hk + hkl <= end);
            FUZZ_CHECK(hv == NULL || ((const uint8_t *)hv >= lo &&
                                      (const uint8_t *)hv + hvl <= end));
            for (size_t j = 0; j < hvl; j++)
                sink += ((const uint8_t *)hv)[j];
        }
        FUZZ_CHECK(samsa_message_header(&m, m.header_count, &(const char *){0},
                                        &(size_t){0}, &(const void *){0},
                                        &(size_t){0}) == SAMSA_EINVAL);
    }
    FUZZ_CHECK(rc == 1 || rc == SAMSA_ECORRUPT);
    FUZZ_CHECK(rc != 1 || n == h->record_count);
    free(recs);
    (void)sink;
    return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool fix_crc = data[0] & 1;
    const uint8_t *p = data + 1;
    size_t left = size - 1;
    while (left > 0) {
        batch_header h;
        memset(&h, 0, sizeof h);
        int rc = batch_parse_header(p, left, &h);
        FUZZ_CHECK(rc == 0 || rc == 1 || rc == SAMSA_ECORRUPT);
        if (rc != 0)
            break; /* the cursor reports both as damage */
        size_t len = BATCH_LOG_OVERHEAD + (size_t)h.length;
        FUZZ_CHECK(len <= left);
        uint8_t *b = malloc(len);
        FUZZ_CHECK(b != NULL);
        memcpy(b, p, len);
        decode_batch(b, len, &h, fix_crc);
        free(b);
        p += len;
        left -= len;
    }
    return 0;
}
