/*
 * check_topic.c - topic names, configs, create, delete, describe, foreach.
 */
#include <string.h>
#include <sys/stat.h>

#include "test.h"
#include "util/samsa_int.h"

START_TEST(test_create_describe)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config c = {.partitions = 3, .segment_bytes = 65536};
    E(samsa_topic_create(s, "orders", &c));
    samsa_topic_config d;
    E(samsa_topic_describe(s, "orders", &d));
    ck_assert_int_eq(d.partitions, 3);
    ck_assert_int_eq(d.replicas, 1);
    ck_assert_int_eq(d.segment_bytes, 65536);
    ck_assert_int_eq(d.max_message_bytes, 1048588);
    ck_assert_int_eq(d.index_interval_bytes, 4096);
    ck_assert_int_eq(d.sync, SAMSA_SYNC_NONE);
    struct stat st;
    for (int p = 0; p < 3; p++) {
        char name[64];
        snprintf(name, sizeof name, "orders-%d/00000000000000000000.log", p);
        ck_assert_int_eq(stat(test_path(dir, name), &st), 0);
    }
    ck_assert_int_ne(stat(test_path(dir, "orders-3"), &st), 0);
    E(samsa_topic_create(s, "defaults", NULL));
    E(samsa_topic_describe(s, "defaults", &d));
    ck_assert_int_eq(d.partitions, 1);
    ck_assert_int_eq(d.segment_bytes, 1 << 30);
    EQ_RC(samsa_topic_create(s, "orders", NULL), SAMSA_EEXIST);
    E(samsa_close(s));
    s = test_open(dir); /* configs survive reopen */
    E(samsa_topic_describe(s, "orders", &d));
    ck_assert_int_eq(d.partitions, 3);
    ck_assert_int_eq(d.segment_bytes, 65536);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_names)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    char longest[SAMSA_MAX_TOPIC_NAME + 2];
    memset(longest, 'x', sizeof longest);
    longest[SAMSA_MAX_TOPIC_NAME] = '\0';
    E(samsa_topic_create(s, longest, NULL));
    E(samsa_topic_create(s, "a.b_c-D9", NULL));
    E(samsa_topic_create(s, "...", NULL));
    longest[SAMSA_MAX_TOPIC_NAME] = 'x';
    longest[SAMSA_MAX_TOPIC_NAME + 1] = '\0';
    /* The characters just outside each of the ranges a-z, A-Z, 0-9 too. */
    const char *bad[] = {"",      ".",   "..",  "a/b",  "../x", "a b",
                         "tab\t", "ü",   "a:b", "a@b",  "a[b",  "a`b",
                         "a{b",   "a,b", "a+b", longest};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EQ_RC(samsa_topic_create(s, bad[i], NULL), SAMSA_EINVAL);
        EQ_RC(samsa_topic_delete(s, bad[i]), SAMSA_EINVAL);
        samsa_topic_config d;
        EQ_RC(samsa_topic_describe(s, bad[i], &d), SAMSA_EINVAL);
    }
    EQ_RC(samsa_topic_create(s, NULL, NULL), SAMSA_EINVAL);
    EQ_RC(samsa_topic_create(NULL, "x", NULL), SAMSA_EINVAL);
    struct stat st;
    ck_assert_int_ne(stat(test_path(dir, "a"), &st), 0); /* nothing made */
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_bad_configs)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config bad[] = {
        {.partitions = -1},
        {.partitions = SAMSA_MAX_PARTITIONS + 1},
        {.replicas = -2},
        {.segment_bytes = 100},
        {.segment_bytes = (int64_t)1 << 31},
        {.max_message_bytes = 10},
        {.max_message_bytes = (256 << 20) + 1},
        {.index_interval_bytes = 1},
        {.sync = 3},
        {.timestamp_type = 2},
        {.cleanup_policy = 4},
        {.retention_ms = -2},
        {.retention_bytes = -2},
        {.segment_ms = INT64_MIN},
        {.replicas = 2}, /* more copies than the store has directories */
        {.min_insync = -1},
        {.min_insync = 2}, /* more than the copies */
        {.acks = 2},
        {.acks = -2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        EQ_RC(samsa_topic_create(s, "t", &bad[i]), SAMSA_EINVAL);
    samsa_topic_config d;
    EQ_RC(samsa_topic_describe(s, "t", &d), SAMSA_ENOTOPIC);
    EQ_RC(samsa_topic_describe(s, "t", NULL), SAMSA_EINVAL);
    EQ_RC(samsa_topic_describe(NULL, "t", &d), SAMSA_EINVAL);
    /* -1 is Kafka's "no limit", stored as samsa's 0. */
    samsa_topic_config unlimited = {
        .retention_ms = -1, .retention_bytes = -1, .segment_ms = -1};
    E(samsa_topic_create(s, "t", &unlimited));
    E(samsa_topic_describe(s, "t", &d));
    ck_assert_int_eq(d.retention_ms, 0);
    ck_assert_int_eq(d.retention_bytes, 0);
    ck_assert_int_eq(d.segment_ms, 0);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_delete)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config c = {.partitions = 2};
    E(samsa_topic_create(s, "gone", &c));
    test_produce_str(s, "gone", 0, "k", "v");
    test_produce_str(s, "gone", 0, "k", "v");
    E(samsa_topic_delete(s, "gone"));
    EQ_RC(samsa_topic_delete(s, "gone"), SAMSA_ENOTOPIC);
    EQ_RC(samsa_topic_delete(NULL, "gone"), SAMSA_EINVAL);
    struct stat st;
    ck_assert_int_ne(stat(test_path(dir, "gone-0"), &st), 0);
    ck_assert_int_ne(stat(test_path(dir, "gone-1"), &st), 0);
    samsa_record r = {.value = "x", .value_len = 1};
    EQ_RC(samsa_produce(s, "gone", 0, &r, 1), SAMSA_ENOTOPIC);
    /* created again: a new, empty topic */
    E(samsa_topic_create(s, "gone", NULL));
    int64_t first, end;
    E(samsa_offsets(s, "gone", 0, &first, &end));
    ck_assert_int_eq(end, 0);
    E(samsa_close(s));
    s = test_open(dir);
    E(samsa_offsets(s, "gone", 0, &first, &end));
    ck_assert_int_eq(end, 0);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

static int
collect(const char *name, void *ctx)
{
    char *buf = ctx;
    strcat(buf, name);
    strcat(buf, ",");
    return strcmp(name, "stop") == 0 ? 42 : 0;
}

START_TEST(test_foreach)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    char buf[256] = "";
    E(samsa_topic_foreach(s, collect, buf));
    ck_assert_str_eq(buf, "");
    E(samsa_topic_create(s, "b", NULL));
    E(samsa_topic_create(s, "a", NULL));
    E(samsa_topic_create(s, "c", NULL));
    E(samsa_topic_foreach(s, collect, buf));
    ck_assert_str_eq(buf, "a,b,c,");
    E(samsa_topic_create(s, "stop", NULL));
    buf[0] = '\0';
    EQ_RC(samsa_topic_foreach(s, collect, buf), 42);
    ck_assert_str_eq(buf, "a,b,c,stop,");
    EQ_RC(samsa_topic_foreach(s, NULL, buf), SAMSA_EINVAL);
    EQ_RC(samsa_topic_foreach(NULL, collect, buf), SAMSA_EINVAL);
    /* many topics: the table grows */
    for (int i = 0; i < 100; i++) {
        char name[32];
        snprintf(name, sizeof name, "many.%03d", i);
        E(samsa_topic_create(s, name, NULL));
    }
    for (int i = 0; i < 100; i += 7) {
        char name[32];
        snprintf(name, sizeof name, "many.%03d", i);
        test_produce_str(s, name, 0, NULL, "x");
    }
    E(samsa_close(s));
    s = test_open(dir);
    samsa_topic_config d;
    E(samsa_topic_describe(s, "many.099", &d));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* Read partition 0 of topic from offset 0: n records whose timestamps
 * must be ts[i] and types type[i]. */
static void
times_are(samsa *s, const char *topic, size_t n, const int64_t *ts,
          const int *type)
{
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, topic, 0, 0, &c));
    for (size_t i = 0; i < n; i++) {
        E(samsa_cursor_next(c, &m, 0));
        ck_assert_int_eq(m.timestamp, ts[i]);
        ck_assert_int_eq(m.timestamp_type, type[i]);
    }
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
    E(samsa_cursor_close(c));
}

static void
send_one(samsa_producer *p, const char *topic, int64_t ts)
{
    samsa_record r = {.value = "v", .value_len = 1, .timestamp = ts};
    E(samsa_producer_send(p, topic, 0, &r, NULL, -1));
    E(samsa_producer_flush(p, -1));
}

/* LogAppendTime topics: every record reads the time its batch was
 * appended (the store's clock, the test's here), whatever the producer
 * said, through samsa_produce(), the producer, compression, a time lookup
 * and a reopen; altering back to CreateTime (-1) binds later batches. */
START_TEST(test_log_append_time)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    enum {
        C = SAMSA_TIMESTAMP_CREATE_TIME,
        L = SAMSA_TIMESTAMP_LOG_APPEND_TIME
    };
    samsa_topic_config cfg = {.timestamp_type = L};
    E(samsa_topic_create(s, "la", &cfg));
    cfg.compression = SAMSA_COMPRESSION_GZIP;
    E(samsa_topic_create(s, "lz", &cfg));
    samsa__wall_ms_set(5000000);
    samsa_record r[2] = {{.value = "a", .value_len = 1, .timestamp = 100},
                         {.value = "b", .value_len = 1, .timestamp = 200}};
    E(samsa_produce(s, "la", 0, r, 2));
    samsa_record big[40];
    for (int i = 0; i < 40; i++)
        big[i] = (samsa_record){.value = "compress me, compress me",
                                .value_len = 24,
                                .timestamp = 7};
    E(samsa_produce(s, "lz", 0, big, 40));
    samsa__wall_ms_set(6000000);
    samsa_producer *p;
    E(samsa_producer_open(s, NULL, &p));
    send_one(p, "la", 300);
    samsa_topic_config back = {.timestamp_type = -1};
    E(samsa_topic_alter(s, "la", &back));
    send_one(p, "la", 400);
    E(samsa_producer_close(p));
    samsa__wall_ms_set(0);
    int64_t ts[4] = {5000000, 5000000, 6000000, 400};
    int type[4] = {L, L, L, C};
    times_are(s, "la", 4, ts, type);
    int64_t off;
    E(samsa_offsets_for_time(s, "la", 0, 5500000, &off));
    ck_assert_int_eq(off, 2);
    int64_t zts[40];
    int ztype[40];
    for (int i = 0; i < 40; i++) {
        zts[i] = 5000000;
        ztype[i] = L;
    }
    E(samsa_close(s));
    s = test_open(dir);
    times_are(s, "la", 4, ts, type);
    times_are(s, "lz", 40, zts, ztype);
    samsa_topic_config d;
    E(samsa_topic_describe(s, "la", &d));
    ck_assert_int_eq(d.timestamp_type, C);
    E(samsa_topic_describe(s, "lz", &d));
    ck_assert_int_eq(d.timestamp_type, L);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

Suite *
topic_suite(void)
{
    Suite *s = suite_create("topic");
    TCase *tc = tcase_create("topic");
    tcase_add_test(tc, test_create_describe);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_bad_configs);
    tcase_add_test(tc, test_delete);
    tcase_add_test(tc, test_foreach);
    tcase_add_test(tc, test_log_append_time);
    suite_add_tcase(s, tc);
    return s;
}
