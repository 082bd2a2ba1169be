/*
 * check_cursor.c - reading: open positions, next, seek, seek by time,
 * message contents and headers, and the error codes.
 */
#include <string.h>

#include "test.h"

/* A topic "t" whose partition 0 holds n records with value "v<i>", key
 * "k<i>" (every third key null), timestamp 1000 + 10 i, small segments
 * and a dense index so that lookups cross many of both. */
static samsa *
open_filled(const char *dir, int n)
{
    samsa *s = test_open(dir);
    samsa_topic_config c = {
        .partitions = 2, .segment_bytes = 4096, .index_interval_bytes = 128};
    E(samsa_topic_create(s, "t", &c));
    for (int i = 0; i < n; i++) {
        char k[16], v[16];
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "v%d", i);
        samsa_header h[2] = {{.key = "first", .value = "1", .value_len = 1},
                             {.key = "second"}};
        samsa_record r = {.key = i % 3 ? k : NULL,
                          .key_len = i % 3 ? strlen(k) : 0,
                          .value = v,
                          .value_len = strlen(v),
                          .headers = h,
                          .header_count = (size_t)(i % 3),
                          .timestamp = 1000 + 10 * i};
        E(samsa_produce(s, "t", 0, &r, 1));
    }
    return s;
}

static void
check_message(const samsa_message *m, int i)
{
    char k[16], v[16];
    snprintf(k, sizeof k, "k%d", i);
    snprintf(v, sizeof v, "v%d", i);
    ck_assert_int_eq(m->offset, i);
    ck_assert_str_eq(m->topic, "t");
    ck_assert_int_eq(m->partition, 0);
    ck_assert_int_eq(m->timestamp, 1000 + 10 * i);
    ck_assert_int_eq(m->value_len, strlen(v));
    ck_assert_mem_eq(m->value, v, m->value_len);
    if (i % 3 == 0) {
        ck_assert_ptr_null(m->key);
        ck_assert_int_eq(m->key_len, 0);
    } else {
        ck_assert_int_eq(m->key_len, strlen(k));
        ck_assert_mem_eq(m->key, k, m->key_len);
    }
    ck_assert_int_eq(m->header_count, i % 3);
    const char *hk;
    const void *hv;
    size_t hkl, hvl;
    if (m->header_count >= 1) {
        E(samsa_message_header(m, 0, &hk, &hkl, &hv, &hvl));
        ck_assert_int_eq(hkl, 5);
        ck_assert_mem_eq(hk, "first", 5);
        ck_assert_int_eq(hvl, 1);
        ck_assert_mem_eq(hv, "1", 1);
    }
    if (m->header_count >= 2) {
        E(samsa_message_header(m, 1, &hk, &hkl, &hv, &hvl));
        ck_assert_int_eq(hkl, 6);
        ck_assert_ptr_null(hv);
        ck_assert_int_eq(hvl, 0);
    }
    EQ_RC(samsa_message_header(m, m->header_count, &hk, &hkl, &hv, &hvl),
          SAMSA_EINVAL);
    /* The same headers in one pass, and nothing past the last. */
    size_t pos = 0;
    for (size_t j = 0; j < m->header_count; j++) {
        const char *k1;
        const void *v1;
        size_t k1l, v1l;
        E(samsa_message_header(m, j, &hk, &hkl, &hv, &hvl));
        E(samsa_message_header_next(m, &pos, &k1, &k1l, &v1, &v1l));
        ck_assert(k1 == hk && k1l == hkl && v1 == hv && v1l == hvl);
    }
    size_t end = pos;
    EQ_RC(samsa_message_header_next(m, &pos, &hk, &hkl, &hv, &hvl),
          SAMSA_EINVAL);
    ck_assert_uint_eq(pos, end);
}

/* A record of 200,000 headers (a 1 MB record may hold half a million)
 * read in one pass: each header exactly, then SAMSA_EINVAL; and the
 * calls' argument checks.  By index, reading them all walks 2e10
 * headers: what made `samsa dump --deep`, the Kafka listener's produce,
 * a dead letter and the mirror take minutes on one such record. */
START_TEST(test_message_header_next)
{
    enum { N = 200000 };
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 1, .max_message_bytes = 8 << 20};
    E(samsa_topic_create(s, "t", &cfg));
    samsa_header *h = calloc(N, sizeof *h);
    char(*keys)[16] = calloc(N, sizeof *keys);
    ck_assert(h != NULL && keys != NULL);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        h[i].key = keys[i];
        h[i].value = i % 5 == 0 ? NULL : keys[i] + 1;
        h[i].value_len = i % 5 == 0 ? 0 : strlen(keys[i] + 1);
    }
    samsa_record r = {
        .value = "v", .value_len = 1, .headers = h, .header_count = N};
    E(samsa_produce(s, "t", 0, &r, 1));
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "t", 0, 0, &c));
    E(samsa_cursor_next(c, &m, 0));
    ck_assert_uint_eq(m.header_count, N);
    size_t pos = 0, kl, vl;
    const char *k;
    const void *v;
    for (int i = 0; i < N; i++) {
        E(samsa_message_header_next(&m, &pos, &k, &kl, &v, &vl));
        ck_assert_uint_eq(kl, strlen(keys[i]));
        ck_assert_mem_eq(k, keys[i], kl);
        if (i % 5 == 0) {
            ck_assert_ptr_null(v);
            ck_assert_uint_eq(vl, 0);
        } else {
            ck_assert_uint_eq(vl, kl - 1);
            ck_assert_mem_eq(v, keys[i] + 1, vl);
        }
    }
    EQ_RC(samsa_message_header_next(&m, &pos, &k, &kl, &v, &vl), SAMSA_EINVAL);
    size_t zero = 0;
    EQ_RC(samsa_message_header_next(NULL, &zero, &k, &kl, &v, &vl),
          SAMSA_EINVAL);
    EQ_RC(samsa_message_header_next(&m, NULL, &k, &kl, &v, &vl), SAMSA_EINVAL);
    EQ_RC(samsa_message_header_next(&m, &zero, NULL, &kl, &v, &vl),
          SAMSA_EINVAL);
    EQ_RC(samsa_message_header_next(&m, &zero, &k, &kl, &v, NULL),
          SAMSA_EINVAL);
    ck_assert_uint_eq(zero, 0);
    /* And the last one by index, which walks all before it once. */
    E(samsa_message_header(&m, N - 1, &k, &kl, &v, &vl));
    ck_assert_mem_eq(k, keys[N - 1], kl);
    samsa_cursor_close(c);
    free(h);
    free(keys);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_read_all)
{
    const char *dir = test_dir_make();
    samsa *s = open_filled(dir, 300);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "t", 0, SAMSA_OFFSET_BEGINNING, &c));
    for (int i = 0; i < 300; i++) {
        ck_assert_int_eq(samsa_cursor_offset(c), i);
        E(samsa_cursor_next(c, &m, 0));
        check_message(&m, i);
    }
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
    EQ_RC(samsa_cursor_next(c, &m, 20), SAMSA_ETIMEDOUT);
    ck_assert_int_eq(samsa_cursor_offset(c), 300);
    test_produce_str(s, "t", 0, NULL, "late");
    E(samsa_cursor_next(c, &m, 0));
    ck_assert_int_eq(m.offset, 300);
    ck_assert_mem_eq(m.value, "late", 4);
    samsa_cursor_close(c);
    samsa_cursor_close(NULL);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* Every offset can be sought, from either side, after reopen too. */
START_TEST(test_seek_every_offset)
{
    const char *dir = test_dir_make();
    samsa *s = open_filled(dir, 400);
    for (int round = 0; round < 2; round++) {
        samsa_cursor *c;
        samsa_message m;
        E(samsa_cursor_open(s, "t", 0, 399, &c));
        for (int i = 399; i >= 0; i -= 1) {
            E(samsa_cursor_seek(c, i));
            E(samsa_cursor_next(c, &m, 0));
            check_message(&m, i);
        }
        samsa_cursor_close(c);
        E(samsa_close(s));
        s = test_open(dir);
    }
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_open_positions)
{
    const char *dir = test_dir_make();
    samsa *s = open_filled(dir, 10);
    samsa_cursor *c = NULL;
    samsa_message m;
    E(samsa_cursor_open(s, "t", 0, SAMSA_OFFSET_END, &c));
    ck_assert_int_eq(samsa_cursor_offset(c), 10);
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
    samsa_cursor_close(c);
    E(samsa_cursor_open(s, "t", 0, 10, &c)); /* the end itself is valid */
    samsa_cursor_close(c);
    E(samsa_cursor_open(s, "t", 0, 4, &c));
    E(samsa_cursor_next(c, &m, 0));
    check_message(&m, 4);
    samsa_cursor_close(c);
    E(samsa_cursor_open(s, "t", 1, SAMSA_OFFSET_BEGINNING, &c)); /* empty */
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
    samsa_cursor_close(c);

    c = NULL;
    EQ_RC(samsa_cursor_open(s, "t", 0, 11, &c), SAMSA_EOFFSET);
    EQ_RC(samsa_cursor_open(s, "t", 0, -3, &c), SAMSA_EINVAL);
    EQ_RC(samsa_cursor_open(s, "t", 2, 0, &c), SAMSA_ENOPARTITION);
    EQ_RC(samsa_cursor_open(s, "t", SAMSA_PARTITION_ANY, 0, &c),
          SAMSA_ENOPARTITION);
    EQ_RC(samsa_cursor_open(s, "x", 0, 0, &c), SAMSA_ENOTOPIC);
    EQ_RC(samsa_cursor_open(s, "x", SAMSA_PARTITION_ANY, 0, &c),
          SAMSA_ENOTOPIC);
    EQ_RC(samsa_cursor_open(s, NULL, SAMSA_PARTITION_ANY, 0, &c), SAMSA_EINVAL);
    EQ_RC(samsa_cursor_open(s, "../t", 0, 0, &c), SAMSA_EINVAL);
    EQ_RC(samsa_cursor_open(s, NULL, 0, 0, &c), SAMSA_EINVAL);
    EQ_RC(samsa_cursor_open(NULL, "t", 0, 0, &c), SAMSA_EINVAL);
    EQ_RC(samsa_cursor_open(s, "t", 0, 0, NULL), SAMSA_EINVAL);
    ck_assert_ptr_null(c);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_seek_errors_keep_position)
{
    const char *dir = test_dir_make();
    samsa *s = open_filled(dir, 10);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "t", 0, 3, &c));
    EQ_RC(samsa_cursor_seek(c, 11), SAMSA_EOFFSET);
    EQ_RC(samsa_cursor_seek(c, -3), SAMSA_EINVAL);
    ck_assert_int_eq(samsa_cursor_offset(c), 3);
    E(samsa_cursor_next(c, &m, 0));
    check_message(&m, 3);
    E(samsa_cursor_seek(c, SAMSA_OFFSET_END));
    ck_assert_int_eq(samsa_cursor_offset(c), 10);
    E(samsa_cursor_seek(c, SAMSA_OFFSET_BEGINNING));
    ck_assert_int_eq(samsa_cursor_offset(c), 0);
    EQ_RC(samsa_cursor_seek(NULL, 0), SAMSA_EINVAL);
    EQ_RC(samsa_cursor_seek_time(NULL, 0), SAMSA_EINVAL);
    EQ_RC(samsa_cursor_seek_time(c, -1), SAMSA_EINVAL);
    EQ_RC(samsa_cursor_next(NULL, &m, 0), SAMSA_EINVAL);
    EQ_RC(samsa_cursor_next(c, NULL, 0), SAMSA_EINVAL);
    EQ_RC(samsa_cursor_next(c, &m, -2), SAMSA_EINVAL);
    ck_assert_int_eq(samsa_cursor_offset(NULL), SAMSA_EINVAL);
    EQ_RC(samsa_message_header(NULL, 0, NULL, NULL, NULL, NULL), SAMSA_EINVAL);
    samsa_cursor_close(c);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* The first record whose timestamp is >= t, across segments; timestamps
 * 1000 + 10 i, so t = 1000 + 10 i - 5 lands on i. */
START_TEST(test_seek_time)
{
    const char *dir = test_dir_make();
    samsa *s = open_filled(dir, 300);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "t", 0, SAMSA_OFFSET_END, &c));
    for (int i = 0; i < 300; i += 7) {
        E(samsa_cursor_seek_time(c, 1000 + 10 * i - 5));
        ck_assert_int_eq(samsa_cursor_offset(c), i);
        E(samsa_cursor_seek_time(c, 1000 + 10 * i));
        E(samsa_cursor_next(c, &m, 0));
        check_message(&m, i);
    }
    E(samsa_cursor_seek_time(c, 0));
    ck_assert_int_eq(samsa_cursor_offset(c), 0);
    E(samsa_cursor_seek_time(c, 999999));
    ck_assert_int_eq(samsa_cursor_offset(c), 300); /* none: the end */
    samsa_cursor_close(c);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* Out-of-order timestamps: still the first offset whose timestamp is >= t. */
START_TEST(test_seek_time_unordered)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.index_interval_bytes = 64};
    E(samsa_topic_create(s, "t", &cfg));
    const int64_t ts[] = {50, 10, 40, 20, 90, 30, 60, 5, 70};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        samsa_record r = {.value = "x", .value_len = 1, .timestamp = ts[i]};
        E(samsa_produce(s, "t", 0, &r, 1));
    }
    samsa_cursor *c;
    E(samsa_cursor_open(s, "t", 0, 0, &c));
    for (int64_t t = 0; t <= 100; t++) {
        int64_t want = sizeof ts / sizeof ts[0];
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            if (ts[i] >= t) {
                want = (int64_t)i;
                break;
            }
        E(samsa_cursor_seek_time(c, t));
        ck_assert_msg(samsa_cursor_offset(c) == want, "t=%lld: %lld, want %lld",
                      (long long)t, (long long)samsa_cursor_offset(c),
                      (long long)want);
    }
    samsa_cursor_close(c);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A deleted topic's cursor reports it, and still closes cleanly. */
START_TEST(test_deleted_topic)
{
    const char *dir = test_dir_make();
    samsa *s = open_filled(dir, 5);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "t", 0, 0, &c));
    E(samsa_cursor_next(c, &m, 0));
    E(samsa_topic_delete(s, "t"));
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_EDELETED);
    EQ_RC(samsa_cursor_seek(c, 0), SAMSA_EDELETED);
    EQ_RC(samsa_cursor_seek_time(c, 0), SAMSA_EDELETED);
    samsa_cursor_close(c);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* Append a batch of one record with the given attributes (CRC recomputed)
 * to the end of t-0's only segment, as another Kafka writer might have. */
static void
append_batch_with_attributes(const char *dir, int64_t base, uint16_t attrs)
{
    samsa_record r = {.value = "zz", .value_len = 2, .timestamp = 77};
    samsa_record *rp = &r;
    size_t bodies[1];
    size_t n = batch_encoded_size(&rp, 1, bodies);
    uint8_t buf[256];
    ck_assert_uint_le(n, sizeof buf);
    batch_encode(buf, &rp, 1, bodies);
    batch_set_base_offset(buf, base);
    buf[21] = (uint8_t)(attrs >> 8);
    buf[22] = (uint8_t)attrs;
    uint32_t crc = samsa__crc32c(0, buf + 21, n - 21);
    buf[17] = (uint8_t)(crc >> 24);
    buf[18] = (uint8_t)(crc >> 16);
    buf[19] = (uint8_t)(crc >> 8);
    buf[20] = (uint8_t)crc;
    FILE *f = fopen(test_path(dir, "t-0/00000000000000000000.log"), "ab");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* Batches samsa does not write: one whose codec number Kafka does not
 * define is refused with SAMSA_ENOTSUP, and one marked gzip whose records
 * are not gzip is SAMSA_ECORRUPT (neither returned as data); a control
 * batch (a transaction marker) takes its offset but is not a record. */
START_TEST(test_foreign_batches)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "t", NULL));
    test_produce_str(s, "t", 0, NULL, "a");
    E(samsa_close(s));
    append_batch_with_attributes(dir, 1, BATCH_ATTR_CONTROL);
    append_batch_with_attributes(dir, 2, 0);
    append_batch_with_attributes(dir, 3, 5 /* no such codec */);
    append_batch_with_attributes(dir, 4, 1 /* gzip, but not gzip */);
    s = test_open(dir);
    int64_t first, end;
    E(samsa_offsets(s, "t", 0, &first, &end));
    ck_assert_int_eq(end, 5);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "t", 0, 0, &c));
    E(samsa_cursor_next(c, &m, 0));
    ck_assert_int_eq(m.offset, 0);
    E(samsa_cursor_next(c, &m, 0)); /* offset 1, the marker, skipped */
    ck_assert_int_eq(m.offset, 2);
    ck_assert_int_eq(m.timestamp, 77);
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ENOTSUP);
    ck_assert_int_eq(samsa_cursor_offset(c), 3);
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ENOTSUP); /* stays */
    E(samsa_cursor_seek(c, 4));
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ECORRUPT);
    ck_assert_int_eq(samsa_cursor_offset(c), 4);
    E(samsa_cursor_seek(c, 5));
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
    samsa_cursor_close(c);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

Suite *
cursor_suite(void)
{
    Suite *s = suite_create("cursor");
    TCase *tc = tcase_create("cursor");
    tcase_add_test(tc, test_read_all);
    tcase_add_test(tc, test_message_header_next);
    tcase_add_test(tc, test_seek_every_offset);
    tcase_add_test(tc, test_open_positions);
    tcase_add_test(tc, test_seek_errors_keep_position);
    tcase_add_test(tc, test_seek_time);
    tcase_add_test(tc, test_seek_time_unordered);
    tcase_add_test(tc, test_deleted_topic);
    tcase_add_test(tc, test_foreign_batches);
    suite_add_tcase(s, tc);
    return s;
}
