/*
 * check_produce.c - samsa_produce and samsa_offsets: partitions, batches,
 * timestamps, and every bad input changing nothing.
 */
#include <string.h>
#include <time.h>

#include "test.h"

static samsa *
open_with_topic(const char *dir, int32_t partitions, int32_t max_message)
{
    samsa *s = test_open(dir);
    samsa_topic_config c = {.partitions = partitions,
                            .max_message_bytes = max_message};
    E(samsa_topic_create(s, "t", &c));
    return s;
}

static int64_t
end_of(samsa *s, int32_t p)
{
    int64_t first, end;
    E(samsa_offsets(s, "t", p, &first, &end));
    ck_assert_int_eq(first, 0);
    return end;
}

START_TEST(test_explicit_partition_batch)
{
    const char *dir = test_dir_make();
    samsa *s = open_with_topic(dir, 2, 0);
    samsa_record r[5];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 5; i++) {
        r[i].value = "v";
        r[i].value_len = 1;
    }
    E(samsa_produce(s, "t", 1, r, 5));
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(r[i].partition, 1);
        ck_assert_int_eq(r[i].offset, i);
    }
    E(samsa_produce(s, "t", 1, r, 2));
    ck_assert_int_eq(r[0].offset, 5);
    ck_assert_int_eq(r[1].offset, 6);
    ck_assert_int_eq(end_of(s, 0), 0);
    ck_assert_int_eq(end_of(s, 1), 7);
    E(samsa_produce(s, "t", 0, r, 0)); /* n = 0: nothing */
    ck_assert_int_eq(end_of(s, 0), 0);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* Keys go where Kafka's partitioner sends them; keyless records of one
 * call stay together, and the next call moves on. */
START_TEST(test_partitioner)
{
    const char *dir = test_dir_make();
    samsa *s = open_with_topic(dir, 4, 0);
    char keys[40][16];
    samsa_record r[40];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 40; i++) {
        snprintf(keys[i], sizeof keys[i], "key-%d", i);
        r[i].key = keys[i];
        r[i].key_len = strlen(keys[i]);
    }
    E(samsa_produce(s, "t", SAMSA_PARTITION_ANY, r, 40));
    int64_t count[4] = {0};
    for (int i = 0; i < 40; i++) {
        ck_assert_int_eq(r[i].partition,
                         samsa_partition_for_key(keys[i], strlen(keys[i]), 4));
        /* each partition's records are one batch in the caller's order */
        ck_assert_int_eq(r[i].offset, count[r[i].partition]++);
    }
    for (int p = 0; p < 4; p++)
        ck_assert_int_eq(end_of(s, p), count[p]);

    samsa_record nokey[3] = {{.value = "a", .value_len = 1},
                             {.value = "b", .value_len = 1},
                             {.value = "c", .value_len = 1}};
    E(samsa_produce(s, "t", SAMSA_PARTITION_ANY, nokey, 3));
    int32_t p0 = nokey[0].partition;
    ck_assert_int_eq(nokey[1].partition, p0);
    ck_assert_int_eq(nokey[2].partition, p0);
    ck_assert_int_eq(nokey[1].offset, nokey[0].offset + 1);
    E(samsa_produce(s, "t", SAMSA_PARTITION_ANY, nokey, 1));
    ck_assert_int_eq(nokey[0].partition, (p0 + 1) % 4);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* One call of 3,000 records over 37 partitions, every seventh without a
 * key (those share one partition, the call's sticky one): each record
 * goes where Kafka's partitioner sends it, each partition's records are
 * stored in the caller's order at dense offsets, and reading each
 * partition back gives exactly them.  Calls of more than 64 records are
 * grouped through a table (produce.c, group_hashed()). */
START_TEST(test_partitioner_many)
{
    enum { N = 3000, P = 37 };
    const char *dir = test_dir_make();
    samsa *s = open_with_topic(dir, P, 0);
    static char vals[N][16];
    static samsa_record r[N];
    memset(r, 0, sizeof r);
    for (int i = 0; i < N; i++) {
        snprintf(vals[i], sizeof vals[i], "v%d", i);
        r[i].value = vals[i];
        r[i].value_len = strlen(vals[i]);
        if (i % 7 != 3) {
            r[i].key = vals[i] + 1;
            r[i].key_len = r[i].value_len - 1;
        }
    }
    E(samsa_produce(s, "t", SAMSA_PARTITION_ANY, r, N));
    int64_t count[P] = {0};
    int32_t sticky = r[3].partition;
    for (int i = 0; i < N; i++) {
        int32_t want = r[i].key == NULL
                           ? sticky
                           : samsa_partition_for_key(r[i].key, r[i].key_len, P);
        ck_assert_int_eq(r[i].partition, want);
        ck_assert_int_eq(r[i].offset, count[want]++);
    }
    for (int32_t p = 0; p < P; p++) {
        ck_assert_int_eq(end_of(s, p), count[p]);
        samsa_cursor *c;
        samsa_message m;
        E(samsa_cursor_open(s, "t", p, 0, &c));
        for (int i = 0; i < N; i++) {
            if (r[i].partition != p)
                continue;
            E(samsa_cursor_next(c, &m, 0));
            ck_assert_int_eq(m.offset, r[i].offset);
            ck_assert_uint_eq(m.value_len, r[i].value_len);
            ck_assert_mem_eq(m.value, vals[i], m.value_len);
        }
        EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
        samsa_cursor_close(c);
    }
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_timestamps)
{
    const char *dir = test_dir_make();
    samsa *s = open_with_topic(dir, 1, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t before = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    samsa_record r[2] = {{.value = "a", .value_len = 1, .timestamp = 0},
                         {.value = "b", .value_len = 1, .timestamp = 12345}};
    E(samsa_produce(s, "t", 0, r, 2));
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t after = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    ck_assert_int_ge(r[0].timestamp, before);
    ck_assert_int_le(r[0].timestamp, after);
    ck_assert_int_eq(r[1].timestamp, 12345);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "t", 0, 0, &c));
    E(samsa_cursor_next(c, &m, 0));
    ck_assert_int_eq(m.timestamp, r[0].timestamp);
    memset(&m, 0xAB, sizeof m); /* the reserved tail comes back zero */
    E(samsa_cursor_next(c, &m, 0));
    ck_assert_int_eq(m.timestamp, 12345);
    for (size_t i = 0; i < sizeof m.reserved / sizeof m.reserved[0]; i++)
        ck_assert_uint_eq(m.reserved[i], 0);
    ck_assert_int_eq(samsa_cursor_close(c), 0);
    ck_assert_int_eq(samsa_cursor_close(NULL), 0);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* Every rejected call leaves the log as it was. */
START_TEST(test_bad_input_changes_nothing)
{
    const char *dir = test_dir_make();
    samsa *s = open_with_topic(dir, 2, 1024);
    test_produce_str(s, "t", 0, "k", "v");
    samsa_header h_nokey = {.key = NULL};
    samsa_header h_badval = {.key = "x", .value = NULL, .value_len = 3};
    samsa_header h_reserved = {.key = "x", .reserved = {0, 1}};
    samsa_record bad[] = {
        {.value = "v", .value_len = 1, .reserved = {[3] = 1}},
        {.headers = &h_reserved, .header_count = 1},
        {.key = NULL, .key_len = 1},
        {.value = NULL, .value_len = 1},
        {.headers = NULL, .header_count = 1},
        {.headers = &h_nokey, .header_count = 1},
        {.headers = &h_badval, .header_count = 1},
        {.timestamp = -5},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* the bad record comes second: the good first one is not stored */
        samsa_record two[2] = {{.value = "ok", .value_len = 2}, bad[i]};
        EQ_RC(samsa_produce(s, "t", 0, two, 2), SAMSA_EINVAL);
    }
    samsa_record ok = {.value = "v", .value_len = 1};
    EQ_RC(samsa_produce(NULL, "t", 0, &ok, 1), SAMSA_EINVAL);
    EQ_RC(samsa_produce(s, NULL, 0, &ok, 1), SAMSA_EINVAL);
    EQ_RC(samsa_produce(s, "t", 0, NULL, 1), SAMSA_EINVAL);
    EQ_RC(samsa_produce(s, "nope", 0, &ok, 1), SAMSA_ENOTOPIC);
    EQ_RC(samsa_produce(s, "a/b", 0, &ok, 1), SAMSA_EINVAL);
    EQ_RC(samsa_produce(s, "t", 2, &ok, 1), SAMSA_ENOPARTITION);
    EQ_RC(samsa_produce(s, "t", -7, &ok, 1), SAMSA_ENOPARTITION);

    /* max_message_bytes 1024: one big record, or many that together make
     * a batch over the limit */
    static char big[2000];
    samsa_record r_big = {.value = big, .value_len = sizeof big};
    EQ_RC(samsa_produce(s, "t", 0, &r_big, 1), SAMSA_ETOOBIG);
    samsa_record many[20];
    for (int i = 0; i < 20; i++)
        many[i] = (samsa_record){.value = big, .value_len = 60};
    EQ_RC(samsa_produce(s, "t", 0, many, 20), SAMSA_ETOOBIG);
    ck_assert_int_eq(many[0].offset, -1);
    /* across partitions: the check happens before either batch is written */
    many[0].key = "a";
    many[0].key_len = 1;
    EQ_RC(samsa_produce(s, "t", SAMSA_PARTITION_ANY, many, 20), SAMSA_ETOOBIG);
    /* just under the limit is fine */
    E(samsa_produce(s, "t", 1, many, 10));

    ck_assert_int_eq(end_of(s, 0), 1);
    ck_assert_int_eq(end_of(s, 1), 10);
    int64_t first, end;
    EQ_RC(samsa_offsets(NULL, "t", 0, &first, &end), SAMSA_EINVAL);
    EQ_RC(samsa_offsets(s, NULL, 0, &first, &end), SAMSA_EINVAL);
    EQ_RC(samsa_offsets(s, "nope", 0, &first, &end), SAMSA_ENOTOPIC);
    EQ_RC(samsa_offsets(s, "t", 2, &first, &end), SAMSA_ENOPARTITION);
    EQ_RC(samsa_offsets(s, "t", SAMSA_PARTITION_ANY, &first, &end),
          SAMSA_ENOPARTITION);
    /* a bad name is reported before a bad partition, and an unknown topic
     * before it too */
    EQ_RC(samsa_offsets(s, NULL, SAMSA_PARTITION_ANY, &first, &end),
          SAMSA_EINVAL);
    EQ_RC(samsa_offsets(s, "nope", SAMSA_PARTITION_ANY, &first, &end),
          SAMSA_ENOTOPIC);
    /* n = 0 writes nothing but still checks the topic */
    E(samsa_produce(s, "t", 0, NULL, 0));
    EQ_RC(samsa_produce(s, "nope", 0, NULL, 0), SAMSA_ENOTOPIC);
    E(samsa_offsets(s, "t", 0, NULL, NULL));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_partition_for_key)
{
    /* Kafka's UtilsTest murmur2 values, made positive, modulo n */
    ck_assert_int_eq(samsa_partition_for_key("21", 2, 1), 0);
    ck_assert_int_eq(samsa_partition_for_key("foobar", 6, 1000),
                     (-790332482 & 0x7fffffff) % 1000);
    EQ_RC(samsa_partition_for_key("k", 1, 0), SAMSA_EINVAL);
    EQ_RC(samsa_partition_for_key(NULL, 3, 4), SAMSA_EINVAL);
}
END_TEST

/* Segments roll at segment_bytes; offsets continue across them. */
START_TEST(test_roll)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config c = {.segment_bytes = 4096, .index_interval_bytes = 256};
    E(samsa_topic_create(s, "t", &c));
    char val[100];
    memset(val, 'x', sizeof val);
    for (int i = 0; i < 500; i++) {
        samsa_record r = {.value = val, .value_len = sizeof val};
        E(samsa_produce(s, "t", 0, &r, 1));
        ck_assert_int_eq(r.offset, i);
    }
    E(samsa_close(s));
    /* sealed segments (all, after close) are at most segment_bytes */
    int segments = 0;
    for (int64_t base = 0; base < 500; base++) {
        char name[64];
        snprintf(name, sizeof name, "t-0/%020lld.log", (long long)base);
        FILE *f = fopen(test_path(dir, name), "r");
        if (f == NULL)
            continue;
        fseek(f, 0, SEEK_END);
        ck_assert_int_le(ftell(f), 4096);
        fclose(f);
        segments++;
    }
    ck_assert_int_ge(segments, 10);
    test_dir_remove(dir);
}
END_TEST

Suite *
produce_suite(void)
{
    Suite *s = suite_create("produce");
    TCase *tc = tcase_create("produce");
    tcase_add_test(tc, test_explicit_partition_batch);
    tcase_add_test(tc, test_partitioner);
    tcase_add_test(tc, test_partitioner_many);
    tcase_add_test(tc, test_timestamps);
    tcase_add_test(tc, test_bad_input_changes_nothing);
    tcase_add_test(tc, test_partition_for_key);
    tcase_add_test(tc, test_roll);
    suite_add_tcase(s, tc);
    return s;
}
