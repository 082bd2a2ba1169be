/*
 * dump.c - write a store with records of every shape, then print each record
 * as samsa's cursor reads it, one canonical line per record:
 *
 *   FILE OFFSET TIMESTAMP KEY VALUE HEADERS
 *
 * (bytes in hex, "-" for null, headers as key=value joined by ","), so that
 * test/interop/kafkajs-decode.js can print the same from the segment files
 * with a Kafka client's own decoder and the two outputs can be compared.
 * With COMPACTED, it also writes two compacted topics (cleanup.policy
 * compact, one of them zstd-compressed), cleans them (the cleaner's pass,
 * as the tests run it), and prints their records into that file: offsets
 * with gaps, batches rewritten by samsa's cleaner, for Kafka's decoder.
 * Usage: dump DIR [COMPACTED]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "samsa.h"

#define CHECK(expr)                                                            \
    do {                                                                       \
        int rc_ = (expr);                                                      \
        if (rc_ != 0) {                                                        \
            fprintf(stderr, "%s: %s\n", #expr, samsa_strerror(rc_));           \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

static void
hex(const void *p, size_t n)
{
    if (p == NULL) {
        fputs("-", stdout);
        return;
    }
    if (n == 0)
        fputs("''", stdout);
    for (size_t i = 0; i < n; i++)
        printf("%02x", ((const unsigned char *)p)[i]);
}

/* The cleaner's pass over every compacted topic (store/cleaner.c): not
 * in the API, reached in libsamsa.a as the tests reach it. */
int samsa__compact_run(samsa *s, int64_t *removed);

static const char *const compacted[] = {"interop-compact",
                                        "interop-compact-zstd"};
#define NCOMPACTED (sizeof compacted / sizeof compacted[0])

/* 400 records over 40 keys, some values null (tombstones), in batches of
 * 1 to 7: after a cleaning, each key's latest record is left, and the
 * offsets between are gaps, inside batches and between them. */
static void
produce_keys(samsa *s, const char *topic)
{
    samsa_header h = {.key = "k", .value = "v", .value_len = 1};
    for (int i = 0; i < 400;) {
        char k[7][16], v[7][32];
        samsa_record b[7];
        size_t n = 1 + (size_t)(i % 7);
        for (size_t j = 0; j < n; j++, i++) {
            snprintf(k[j], sizeof k[j], "key-%02d", (i * 7) % 40);
            snprintf(v[j], sizeof v[j], "value %d", i);
            b[j] = (samsa_record){.key = k[j],
                                  .key_len = strlen(k[j]),
                                  .value = i % 11 == 0 ? NULL : v[j],
                                  .value_len = i % 11 == 0 ? 0 : strlen(v[j]),
                                  .headers = &h,
                                  .header_count = (size_t)(i % 2),
                                  .timestamp = 1700000000000 + i};
        }
        CHECK(samsa_produce(s, topic, 0, b, n));
    }
}

/* The topics, in the order the records are printed: one per codec. */
static const char *const topics[] = {
    "interop", "interop-gzip", "interop-snappy", "interop-lz4", "interop-zstd"};
#define NTOPICS (sizeof topics / sizeof topics[0])

static void
produce_shapes(samsa *s, const char *topic)
{
    static char big[3000];
    memset(big, 'b', sizeof big);
    samsa_header hs[3] = {{.key = "trace", .value = "abc", .value_len = 3},
                          {.key = "empty", .value = "", .value_len = 0},
                          {.key = "null", .value = NULL, .value_len = 0}};
    samsa_record r[6] = {
        {.key = "alice",
         .key_len = 5,
         .value = "hello",
         .value_len = 5,
         .headers = hs,
         .header_count = 3,
         .timestamp = 1700000000000},
        {.key = NULL,
         .value = "no key",
         .value_len = 6,
         .timestamp = 1700000000001},
        {.key = "tomb",
         .key_len = 4,
         .value = NULL,
         .timestamp = 1699999999999}, /* earlier than the batch's first */
        {.key = "",
         .key_len = 0,
         .value = "",
         .value_len = 0,
         .timestamp = 1700000000002},
        {.key = "big",
         .key_len = 3,
         .value = big,
         .value_len = sizeof big,
         .timestamp = 1700000000003},
        {.value = "now", .value_len = 3}, /* timestamp 0: now */
    };
    CHECK(samsa_produce(s, topic, 0, r, 6));
    /* Many small batches, several segments: of 1 record (stored as they
     * are even in a compressed topic: too small to shrink) and of 10. */
    for (int i = 0; i < 300; i += i < 100 ? 1 : 10) {
        char v[10][32];
        samsa_record b[10];
        size_t n = i < 100 ? 1 : 10;
        for (size_t j = 0; j < n; j++) {
            snprintf(v[j], sizeof v[j], "value %d", i + (int)j);
            b[j] = (samsa_record){.key = v[j],
                                  .key_len = 5,
                                  .value = v[j],
                                  .value_len = strlen(v[j]),
                                  .headers = hs,
                                  .header_count = (size_t)((i + (int)j) % 3)};
        }
        CHECK(samsa_produce(s, topic, 0, b, n));
    }
}

/* Every record of topic's partition 0 as a canonical line. */
static void
print_topic(samsa *s, const char *topic)
{
    samsa_cursor *c;
    samsa_message m;
    int rc;
    CHECK(samsa_cursor_open(s, topic, 0, SAMSA_OFFSET_BEGINNING, &c));
    while ((rc = samsa_cursor_next(c, &m, 0)) == 0) {
        printf("%" PRId64 " %" PRId64 " ", m.offset, m.timestamp);
        hex(m.key, m.key_len);
        putchar(' ');
        hex(m.value, m.value_len);
        putchar(' ');
        for (size_t i = 0; i < m.header_count; i++) {
            const char *k;
            const void *v;
            size_t kl, vl;
            CHECK(samsa_message_header(&m, i, &k, &kl, &v, &vl));
            printf("%s%.*s=", i ? "," : "", (int)kl, k);
            hex(v, vl);
        }
        putchar('\n');
    }
    if (rc != SAMSA_ETIMEDOUT)
        CHECK(rc);
    samsa_cursor_close(c);
}

int
main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: %s DIR [COMPACTED]\n", argv[0]);
        return 2;
    }
    samsa *s;
    samsa_options opt = {.flags = SAMSA_OPEN_CREATE};
    CHECK(samsa_open(argv[1], &opt, &s));
    for (size_t t = 0; t < NTOPICS; t++) {
        samsa_topic_config cfg = {.segment_bytes = 8192,
                                  .compression = (int32_t)t};
        CHECK(samsa_topic_create(s, topics[t], &cfg));
        produce_shapes(s, topics[t]);
    }
    for (size_t t = 0; argc == 3 && t < NCOMPACTED; t++) {
        samsa_topic_config cfg = {.segment_bytes = 4096,
                                  .cleanup_policy = SAMSA_CLEANUP_COMPACT,
                                  .compression = t == 0
                                                     ? SAMSA_COMPRESSION_NONE
                                                     : SAMSA_COMPRESSION_ZSTD};
        CHECK(samsa_topic_create(s, compacted[t], &cfg));
        produce_keys(s, compacted[t]);
    }
    if (argc == 3) {
        int64_t removed = 0;
        CHECK(samsa__compact_run(s, &removed));
        if (removed == 0) {
            fprintf(stderr, "dump: the cleaner removed nothing\n");
            return 1;
        }
    }
    CHECK(samsa_close(s)); /* seals: segment files hold only batches */

    CHECK(samsa_open(argv[1], NULL, &s));
    for (size_t t = 0; t < NTOPICS; t++)
        print_topic(s, topics[t]);
    if (argc == 3) {
        FILE *f = freopen(argv[2], "w", stdout);
        if (f == NULL) {
            perror(argv[2]);
            return 1;
        }
        for (size_t t = 0; t < NCOMPACTED; t++)
            print_topic(s, compacted[t]);
    }
    CHECK(samsa_close(s));
    return 0;
}
