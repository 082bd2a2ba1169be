/*
 * check_partitioner.c - Kafka's murmur2 and samsa_partition_for_key()
 * against the values Kafka and librdkafka test themselves with.
 */
#include <string.h>

#include "test.h"

/* Kafka's UtilsTest.testMurmur2 (clients/src/test/java/org/apache/kafka/
 * common/utils/UtilsTest.java): Utils.murmur2 as a Java int. */
static const struct {
    const char *key;
    int32_t hash;
} kafka_vectors[] = {
    {"21", -973932308},
    {"foobar", -790332482},
    {"a-little-bit-long-string", -985981536},
    {"a-little-bit-longer-string", -1486304829},
    {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
    {"abc", 479470107}, /* new byte[] {'a', 'b', 'c'} */
};

START_TEST(test_murmur2_kafka)
{
    for (size_t i = 0; i < sizeof kafka_vectors / sizeof kafka_vectors[0];
         i++) {
        const char *k = kafka_vectors[i].key;
        ck_assert_msg(samsa__murmur2(k, strlen(k)) == kafka_vectors[i].hash,
                      "\"%s\": got %d, want %d", k,
                      samsa__murmur2(k, strlen(k)), kafka_vectors[i].hash);
    }
}
END_TEST

/* librdkafka's unittest_murmur2 (src/rdmurmur2.c): the same hash as an
 * unsigned value, with keys at odd offsets of one string to catch
 * alignment-dependent reads. */
START_TEST(test_murmur2_librdkafka)
{
    static const char short_unaligned[] = "1234";
    static const char unaligned[] = "PreAmbleWillBeRemoved,ThePrePartThatIs";
    static const struct {
        const char *key;
        uint32_t hash;
    } v[] = {
        {"kafka", 0xd067cf64},
        {"giberish123456789", 0x8f552b0c},
        {short_unaligned, 0x9fc97b14},
        {short_unaligned + 1, 0xe7c009ca},
        {short_unaligned + 2, 0x873930da},
        {short_unaligned + 3, 0x5a4b5ca1},
        {unaligned, 0x78424f1c},
        {unaligned + 1, 0x4a62b377},
        {unaligned + 2, 0xe0e4e09e},
        {unaligned + 3, 0x62b8b43f},
        {"", 0x106e08d9},
    };

    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint32_t h = (uint32_t)samsa__murmur2(v[i].key, strlen(v[i].key));
        ck_assert_msg(h == v[i].hash, "\"%s\": got %08x, want %08x", v[i].key,
                      h, v[i].hash);
    }
    /* The empty key hashes the same with or without a pointer. */
    ck_assert_uint_eq((uint32_t)samsa__murmur2(NULL, 0), 0x106e08d9u);
}
END_TEST

/* The hash reads bytes, so where a key sits in memory cannot matter. */
START_TEST(test_murmur2_alignment)
{
    const char *k = kafka_vectors[4].key;
    size_t n = strlen(k);
    char buf[64 + 8];

    for (size_t off = 0; off < 8; off++) {
        memcpy(buf + off, k, n);
        ck_assert_int_eq(samsa__murmur2(buf + off, n), kafka_vectors[4].hash);
    }
}
END_TEST

/* (murmur2 & 0x7fffffff) % n worked out from the verified hashes above:
 * "21" is 1173551340 once positive, "foobar" 1357151166, "abc" 479470107,
 * "lkjh..." 2088585677, and the empty key 275646681. */
START_TEST(test_partition_for_key)
{
    ck_assert_int_eq(samsa_partition_for_key("21", 2, 1), 0);
    ck_assert_int_eq(samsa_partition_for_key("21", 2, 7), 3);
    ck_assert_int_eq(samsa_partition_for_key("21", 2, 17), 13);
    ck_assert_int_eq(samsa_partition_for_key("21", 2, 100), 40);
    ck_assert_int_eq(samsa_partition_for_key("foobar", 6, 17), 9);
    ck_assert_int_eq(samsa_partition_for_key("foobar", 6, 100), 66);
    ck_assert_int_eq(samsa_partition_for_key("abc", 3, 7), 4);
    ck_assert_int_eq(samsa_partition_for_key("abc", 3, 17), 16);
    const char *l = kafka_vectors[4].key;
    ck_assert_int_eq(samsa_partition_for_key(l, strlen(l), 3), 2);
    ck_assert_int_eq(samsa_partition_for_key(l, strlen(l), 100), 77);
    /* With INT32_MAX partitions the positive hash itself comes back. */
    ck_assert_int_eq(samsa_partition_for_key("21", 2, INT32_MAX), 1173551340);
    ck_assert_int_eq(samsa_partition_for_key(l, strlen(l), INT32_MAX),
                     2088585677);
    /* A negative hash is masked, not negated: abs() would give 973932308. */
    ck_assert_int_ne(samsa_partition_for_key("21", 2, INT32_MAX), 973932308);
}
END_TEST

/* librdkafka's tests/0048-partitioner.c: the partition its "murmur2"
 * partitioner picks on a real cluster, for 17 and 7 partitions. */
START_TEST(test_partition_librdkafka)
{
    static const char unaligned[] = "123456";
    static const struct {
        const char *key;
        uint32_t positive;
    } v[] = {
        {"", 0x106e08d9},
        {unaligned + 1, 0x058d780f},
        {"this is another string with more length to it perhaps", 0x4f7703da},
        {"hejsan", 0x5ec19395},
    };

    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t n = strlen(v[i].key);
        ck_assert_int_eq(samsa_partition_for_key(v[i].key, n, 17),
                         (int32_t)(v[i].positive % 17));
        ck_assert_int_eq(samsa_partition_for_key(v[i].key, n, 7),
                         (int32_t)(v[i].positive % 7));
    }
}
END_TEST

START_TEST(test_partition_empty_key)
{
    /* Kafka hashes an empty key like any other (only a null key is spread
     * without hashing); NULL with length 0 is that empty key. */
    ck_assert_int_eq(samsa_partition_for_key(NULL, 0, 1), 0);
    ck_assert_int_eq(samsa_partition_for_key(NULL, 0, 7), 2);
    ck_assert_int_eq(samsa_partition_for_key(NULL, 0, 17), 11);
    ck_assert_int_eq(samsa_partition_for_key("", 0, 100), 81);
}
END_TEST

START_TEST(test_partition_einval)
{
    EQ_RC(samsa_partition_for_key("k", 1, 0), SAMSA_EINVAL);
    EQ_RC(samsa_partition_for_key("k", 1, -1), SAMSA_EINVAL);
    EQ_RC(samsa_partition_for_key("k", 1, INT32_MIN), SAMSA_EINVAL);
    EQ_RC(samsa_partition_for_key(NULL, 1, 3), SAMSA_EINVAL);
    EQ_RC(samsa_partition_for_key(NULL, 0, 0), SAMSA_EINVAL);
    /* Longer than any Java byte[]; the key is not read. */
    EQ_RC(samsa_partition_for_key("k", (size_t)INT32_MAX + 1, 3), SAMSA_EINVAL);
    EQ_RC(samsa_partition_for_key("k", SIZE_MAX, 3), SAMSA_EINVAL);
}
END_TEST

/* Every result is a valid partition. */
START_TEST(test_partition_range)
{
    uint64_t s = 88172645463325252u;
    unsigned char key[40];

    for (int i = 0; i < 10000; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        size_t n = s % sizeof key;
        for (size_t j = 0; j < n; j++)
            key[j] = (unsigned char)(s >> (j % 8 * 8)) ^ (unsigned char)j;
        int32_t parts = (int32_t)(s >> 40) % 1000 + 1;
        int32_t p = samsa_partition_for_key(key, n, parts);
        ck_assert_int_ge(p, 0);
        ck_assert_int_lt(p, parts);
    }
}
END_TEST

Suite *
partitioner_suite(void)
{
    Suite *s = suite_create("partitioner");
    TCase *tc = tcase_create("partitioner");

    tcase_add_test(tc, test_murmur2_kafka);
    tcase_add_test(tc, test_murmur2_librdkafka);
    tcase_add_test(tc, test_murmur2_alignment);
    tcase_add_test(tc, test_partition_for_key);
    tcase_add_test(tc, test_partition_librdkafka);
    tcase_add_test(tc, test_partition_empty_key);
    tcase_add_test(tc, test_partition_einval);
    tcase_add_test(tc, test_partition_range);
    suite_add_tcase(s, tc);
    return s;
}
