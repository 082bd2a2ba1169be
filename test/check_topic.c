/*
 * check_topic.c - topic names, configs, create, delete, describe, foreach.
 */
#include <string.h>
#include <sys/stat.h>

#include "test.h"

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
    const char *bad[] = {"",    ".",     "..", "a/b", "../x",
                         "a b", "tab\t", "ü",  "a:b", longest};
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
        {.reserved32 = 1},
        {.reserved = {[2] = 1}},
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
    suite_add_tcase(s, tc);
    return s;
}
