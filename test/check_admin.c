/*
 * check_admin.c - administering a store: offsets for a time, listing,
 * resetting and deleting groups, and the statistics (struct and JSON).
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"

/* Produce one record with value v and timestamp ts to topic-p. */
static int64_t
produce_ts(samsa *s, const char *topic, int32_t p, const char *v, int64_t ts)
{
    samsa_record r = {.value = v, .value_len = strlen(v), .timestamp = ts};
    E(samsa_produce(s, topic, p, &r, 1));
    return r.offset;
}

START_TEST(test_offsets_for_time)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 2};
    E(samsa_topic_create(s, "t", &cfg));
    /* Timestamps need not rise: 100, 300, 200, 300. */
    produce_ts(s, "t", 0, "a", 100);
    produce_ts(s, "t", 0, "b", 300);
    produce_ts(s, "t", 0, "c", 200);
    produce_ts(s, "t", 0, "d", 300);
    static const struct {
        int64_t ts, want;
    } cases[] = {{0, 0},   {100, 0}, {101, 1},  {150, 1},       {200, 1},
                 {250, 1}, {300, 1}, {301, -1}, {INT64_MAX, -1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t o = -7;
        E(samsa_offsets_for_time(s, "t", 0, cases[i].ts, &o));
        ck_assert_msg(o == cases[i].want, "ts %lld: got %lld want %lld",
                      (long long)cases[i].ts, (long long)o,
                      (long long)cases[i].want);
    }
    int64_t o = -7;
    E(samsa_offsets_for_time(s, "t", 1, 0, &o)); /* empty partition */
    ck_assert_int_eq(o, -1);
    EQ_RC(samsa_offsets_for_time(s, "t", 0, -1, &o), SAMSA_EINVAL);
    EQ_RC(samsa_offsets_for_time(s, "t", 0, 0, NULL), SAMSA_EINVAL);
    EQ_RC(samsa_offsets_for_time(NULL, "t", 0, 0, &o), SAMSA_EINVAL);
    EQ_RC(samsa_offsets_for_time(s, "nope", 0, 0, &o), SAMSA_ENOTOPIC);
    EQ_RC(samsa_offsets_for_time(s, "t", 2, 0, &o), SAMSA_ENOPARTITION);
    EQ_RC(samsa_offsets_for_time(s, "t", SAMSA_PARTITION_ANY, 0, &o),
          SAMSA_ENOPARTITION);
    /* Nothing moved: the end is still 4. */
    int64_t end;
    E(samsa_offsets(s, "t", 0, NULL, &end));
    ck_assert_int_eq(end, 4);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ---- groups ------------------------------------------------------------- */

typedef struct listed {
    char names[8][64];
    int types[8];
    int n;
} listed;

static int
list_fn(const char *name, samsa_group_type type, void *ctx)
{
    listed *l = ctx;
    ck_assert_int_lt(l->n, 8);
    snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
    l->types[l->n++] = (int)type;
    return 0;
}

static listed
list_groups(samsa *s)
{
    listed l = {0};
    E(samsa_group_list(s, list_fn, &l));
    return l;
}

static samsa_consumer *
consumer_open_with(samsa *s, const char *group, const char *topic, int assignor)
{
    const char *topics[] = {topic, NULL};
    samsa_consumer_config cc = {
        .group = group, .topics = topics, .assignor = assignor};
    samsa_consumer *c;
    E(samsa_consumer_open(s, &cc, &c));
    return c;
}

static samsa_consumer *
consumer_open(samsa *s, const char *group, const char *topic)
{
    return consumer_open_with(s, group, topic, SAMSA_ASSIGN_DEFAULT);
}

/* Commit offsets offs[0..n) of topic's partitions 0..n-1 for group. */
static void
commit(samsa *s, const char *group, const char *topic, const int64_t *offs,
       int n)
{
    samsa_consumer *c = consumer_open(s, group, topic);
    samsa_message m;
    (void)samsa_consumer_poll(c, &m, 0); /* take the partitions */
    samsa_topic_partition tp[4];
    for (int i = 0; i < n; i++)
        tp[i] = (samsa_topic_partition){topic, i, offs[i]};
    E(samsa_consumer_commit(c, tp, (size_t)n));
    E(samsa_consumer_close(c));
}

typedef struct offs {
    int64_t committed[4];
    int64_t lag[4];
    int n;
} offs;

static int
offs_fn(const samsa_group_offset *o, void *ctx)
{
    offs *f = ctx;
    ck_assert_int_lt(o->partition, 4);
    f->committed[o->partition] = o->committed;
    f->lag[o->partition] = o->lag;
    f->n++;
    return 0;
}

static offs
group_offs(samsa *s, const char *group)
{
    offs f;
    memset(&f, 0xff, sizeof f);
    f.n = 0;
    E(samsa_group_offsets(s, group, offs_fn, &f));
    return f;
}

START_TEST(test_group_list)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    listed l = list_groups(s);
    ck_assert_int_eq(l.n, 0);
    E(samsa_topic_create(s, "t", NULL));
    int64_t one = 0;
    commit(s, "beta", "t", &one, 1);
    commit(s, "alpha", "t", &one, 1);
    samsa_consumer *c = consumer_open(s, "gamma", "t"); /* no commit yet */
    samsa_queue *q;
    E(samsa_queue_open(s, "work", "t", NULL, &q));
    l = list_groups(s);
    ck_assert_int_eq(l.n, 4);
    ck_assert_str_eq(l.names[0], "alpha");
    ck_assert_str_eq(l.names[1], "beta");
    ck_assert_str_eq(l.names[2], "gamma");
    ck_assert_str_eq(l.names[3], "work");
    ck_assert_int_eq(l.types[0], SAMSA_GROUP_CONSUMER);
    ck_assert_int_eq(l.types[2], SAMSA_GROUP_CONSUMER);
    ck_assert_int_eq(l.types[3], SAMSA_GROUP_SHARE);
    E(samsa_consumer_close(c));
    E(samsa_queue_close(q));
    E(samsa_close(s));
    /* After reopening: gamma committed nothing and has no member, so it
     * is gone; the share group has its saved state. */
    s = test_open(dir);
    l = list_groups(s);
    ck_assert_int_eq(l.n, 3);
    ck_assert_str_eq(l.names[0], "alpha");
    ck_assert_str_eq(l.names[1], "beta");
    ck_assert_str_eq(l.names[2], "work");
    ck_assert_int_eq(l.types[2], SAMSA_GROUP_SHARE);
    EQ_RC(samsa_group_list(NULL, list_fn, &l), SAMSA_EINVAL);
    EQ_RC(samsa_group_list(s, NULL, &l), SAMSA_EINVAL);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_group_reset)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 2};
    E(samsa_topic_create(s, "t", &cfg));
    for (int i = 0; i < 10; i++)
        produce_ts(s, "t", 0, "x", 1000 + 10 * i); /* offsets 0..9 */
    for (int i = 0; i < 4; i++)
        produce_ts(s, "t", 1, "y", 1000); /* offsets 0..3 */
    int64_t start[2] = {5, 2};
    commit(s, "g", "t", start, 2);

    /* A member in this process: nothing may move. */
    samsa_consumer *c = consumer_open(s, "g", "t");
    EQ_RC(samsa_group_reset(s, "g", "t", 0, SAMSA_RESET_TO_EARLIEST, 0),
          SAMSA_EBUSY);
    EQ_RC(samsa_group_delete(s, "g"), SAMSA_EBUSY);
    E(samsa_consumer_close(c));
    offs f = group_offs(s, "g");
    ck_assert_int_eq(f.committed[0], 5);
    ck_assert_int_eq(f.committed[1], 2);

    static const struct {
        int32_t partition;
        samsa_reset_to to;
        int64_t value;
        int64_t want0, want1;
    } cases[] = {
        {0, SAMSA_RESET_TO_EARLIEST, 0, 0, 2},
        {SAMSA_PARTITION_ANY, SAMSA_RESET_TO_LATEST, 0, 10, 4},
        {0, SAMSA_RESET_TO_OFFSET, 7, 7, 4},
        {0, SAMSA_RESET_TO_OFFSET, 1000, 10, 4}, /* clamped to the end */
        {1, SAMSA_RESET_TO_OFFSET, -5, 10, 0},   /* and to the start */
        {0, SAMSA_RESET_BY_SHIFT, -3, 7, 0},
        {SAMSA_PARTITION_ANY, SAMSA_RESET_BY_SHIFT, 2, 9, 2},
        {0, SAMSA_RESET_BY_SHIFT, INT64_MIN, 0, 2}, /* no overflow */
        {0, SAMSA_RESET_BY_SHIFT, INT64_MAX, 10, 2},
        {0, SAMSA_RESET_TO_TIME, 1035, 4, 2},
        {SAMSA_PARTITION_ANY, SAMSA_RESET_TO_TIME, 2000, 10, 4}, /* none */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        E(samsa_group_reset(s, "g", "t", cases[i].partition, cases[i].to,
                            cases[i].value));
        f = group_offs(s, "g");
        ck_assert_msg(f.committed[0] == cases[i].want0 &&
                          f.committed[1] == cases[i].want1,
                      "case %zu: got %lld %lld", i, (long long)f.committed[0],
                      (long long)f.committed[1]);
    }
    /* A group that never committed starts from nothing: a shift counts
     * from the log start. */
    E(samsa_group_reset(s, "fresh", "t", 0, SAMSA_RESET_BY_SHIFT, 3));
    f = group_offs(s, "fresh");
    ck_assert_int_eq(f.n, 1);
    ck_assert_int_eq(f.committed[0], 3);
    ck_assert_int_eq(f.lag[0], 7);

    /* Bad calls change nothing. */
    EQ_RC(samsa_group_reset(NULL, "g", "t", 0, SAMSA_RESET_TO_EARLIEST, 0),
          SAMSA_EINVAL);
    EQ_RC(samsa_group_reset(s, "bad/name", "t", 0, SAMSA_RESET_TO_EARLIEST, 0),
          SAMSA_EINVAL);
    EQ_RC(samsa_group_reset(s, "g", "t", 0, (samsa_reset_to)0, 0),
          SAMSA_EINVAL);
    EQ_RC(samsa_group_reset(s, "g", "t", 0, (samsa_reset_to)6, 0),
          SAMSA_EINVAL);
    EQ_RC(samsa_group_reset(s, "g", "t", 0, SAMSA_RESET_TO_TIME, -1),
          SAMSA_EINVAL);
    EQ_RC(samsa_group_reset(s, "g", "nope", 0, SAMSA_RESET_TO_EARLIEST, 0),
          SAMSA_ENOTOPIC);
    EQ_RC(samsa_group_reset(s, "g", "t", 2, SAMSA_RESET_TO_EARLIEST, 0),
          SAMSA_ENOPARTITION);
    f = group_offs(s, "g");
    ck_assert_int_eq(f.committed[0], 10);
    ck_assert_int_eq(f.committed[1], 4);

    /* A new member starts where the reset put the group. */
    E(samsa_group_reset(s, "g", "t", 0, SAMSA_RESET_TO_OFFSET, 8));
    c = consumer_open(s, "g", "t");
    samsa_message m;
    int got = 0;
    for (int tries = 0; tries < 50 && got == 0; tries++)
        if (samsa_consumer_poll(c, &m, 100) == 0)
            got = 1;
    ck_assert_int_eq(got, 1);
    ck_assert_int_eq(m.partition, 0);
    ck_assert_int_eq(m.offset, 8);
    E(samsa_consumer_close(c));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_group_delete)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 2};
    E(samsa_topic_create(s, "t", &cfg));
    E(samsa_topic_create(s, "u", NULL));
    int64_t o[2] = {0, 0};
    commit(s, "g", "t", o, 2);
    commit(s, "g", "u", o, 1);
    commit(s, "h", "t", o, 1);
    EQ_RC(samsa_group_delete(s, "nope"), SAMSA_ENOGROUP);
    EQ_RC(samsa_group_delete(s, "bad/name"), SAMSA_EINVAL);
    EQ_RC(samsa_group_delete(NULL, "g"), SAMSA_EINVAL);
    E(samsa_group_delete(s, "g"));
    EQ_RC(samsa_group_delete(s, "g"), SAMSA_ENOGROUP);
    offs f = group_offs(s, "g");
    ck_assert_int_eq(f.n, 0);
    f = group_offs(s, "h"); /* the other group keeps its offsets */
    ck_assert_int_eq(f.n, 1);
    E(samsa_close(s));
    s = test_open(dir);
    listed l = list_groups(s);
    ck_assert_int_eq(l.n, 1);
    ck_assert_str_eq(l.names[0], "h");
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* Group i's name: long, so that a small catalog map fills fast. */
static const char *
full_name(char *b, int i)
{
    memset(b, 'g', 200);
    snprintf(b + 200, 16, "%05d", i);
    return b;
}

/* The catalog's LMDB map full of groups' offsets: the commit that does not
 * fit fails with SAMSA_ENOSPC and changes nothing, every earlier one reads
 * back exactly, a member's commit that needs the same room fails the same
 * way; deletes work or fail alone; and with a larger map (reopened) the
 * catalog holds exactly what was acknowledged. */
START_TEST(test_group_map_full)
{
    const char *dir = test_dir_make();
    samsa_options opt = {.catalog_map_bytes = 1u << 20};
    samsa *s;
    E(samsa_open(dir, &opt, &s));
    samsa_topic_config cfg = {.partitions = 2};
    E(samsa_topic_create(s, "t", &cfg));
    for (int i = 0; i < 20; i++)
        produce_ts(s, "t", i % 2, "x", 1000);
    char name[256];
    int n = 0, rc = 0;
    for (; n < 20000; n++) {
        rc = samsa_group_reset(s, full_name(name, n), "t", SAMSA_PARTITION_ANY,
                               SAMSA_RESET_TO_OFFSET, n % 11);
        if (rc != 0)
            break;
    }
    EQ_RC(rc, SAMSA_ENOSPC);
    ck_assert_int_gt(n, 100);
    offs f = group_offs(s, full_name(name, n));
    ck_assert_int_eq(f.n, 0);
    /* a member of that group: its commit does not fit either */
    samsa_consumer *c = consumer_open(s, full_name(name, n), "t");
    samsa_message m;
    (void)samsa_consumer_poll(c, &m, 0);
    samsa_topic_partition tp[2] = {{"t", 0, 9}, {"t", 1, 8}};
    EQ_RC(samsa_consumer_commit(c, tp, 2), SAMSA_ENOSPC);
    f = group_offs(s, full_name(name, n));
    ck_assert_int_eq(f.n, 0);
    for (int i = 0; i < n; i += 97) {
        f = group_offs(s, full_name(name, i));
        ck_assert_int_eq(f.n, 2);
        ck_assert_int_eq(f.committed[0], i % 11);
        ck_assert_int_eq(f.committed[1], i % 11);
    }
    /* Deleting groups: each delete works or fails alone (LMDB needs
     * pages to free pages, so a full map refuses some deletes too). */
    bool gone[50];
    for (int i = 0; i < 50; i++) {
        rc = samsa_group_delete(s, full_name(name, i));
        ck_assert_msg(rc == 0 || rc == SAMSA_ENOSPC, "delete %d: %s", i,
                      samsa_strerror(rc));
        gone[i] = rc == 0;
    }
    E(samsa_consumer_close(c));
    E(samsa_close(s));
    /* A larger map: everything as acknowledged, and room for the commit. */
    opt.catalog_map_bytes = 4u << 20;
    E(samsa_open(dir, &opt, &s));
    for (int i = 0; i < n; i += i < 50 ? 1 : 97) {
        f = group_offs(s, full_name(name, i));
        ck_assert_int_eq(f.n, i < 50 && gone[i] ? 0 : 2);
        if (f.n == 2)
            ck_assert_int_eq(f.committed[1], i % 11);
    }
    f = group_offs(s, full_name(name, n));
    ck_assert_int_eq(f.n, 0);
    c = consumer_open(s, full_name(name, n), "t");
    (void)samsa_consumer_poll(c, &m, 0);
    E(samsa_consumer_commit(c, tp, 2));
    E(samsa_consumer_close(c));
    f = group_offs(s, full_name(name, n));
    ck_assert_int_eq(f.committed[0], 9);
    ck_assert_int_eq(f.committed[1], 8);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

static int
rows_fn_any(const samsa_group_member *m, void *ctx)
{
    (void)m;
    (void)ctx;
    return 0;
}

static int
count_fn(const char *name, samsa_group_type type, void *ctx)
{
    (void)type;
    *(int *)ctx += strlen(name) == SAMSA_MAX_TOPIC_NAME;
    return 0;
}

/* Group names at the limit work in every group call; one byte longer, or
 * empty, is SAMSA_EINVAL from each, and changes nothing. */
START_TEST(test_group_name_limits)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "t", NULL));
    produce_ts(s, "t", 0, "x", 1000);
    produce_ts(s, "t", 0, "y", 1000);
    char longest[SAMSA_MAX_TOPIC_NAME + 1], over[SAMSA_MAX_TOPIC_NAME + 2];
    memset(longest, 'a', SAMSA_MAX_TOPIC_NAME);
    longest[SAMSA_MAX_TOPIC_NAME] = '\0';
    memset(over, 'a', SAMSA_MAX_TOPIC_NAME + 1);
    over[SAMSA_MAX_TOPIC_NAME + 1] = '\0';
    int64_t one = 1;
    commit(s, longest, "t", &one, 1);
    offs f = group_offs(s, longest);
    ck_assert_int_eq(f.n, 1);
    ck_assert_int_eq(f.committed[0], 1);
    E(samsa_group_reset(s, longest, "t", 0, SAMSA_RESET_TO_LATEST, 0));
    f = group_offs(s, longest);
    ck_assert_int_eq(f.committed[0], 2);
    int n = 0;
    E(samsa_group_list(s, count_fn, &n));
    ck_assert_int_eq(n, 1);
    const char *bad[] = {over, ""};
    for (int i = 0; i < 2; i++) {
        const char *topics[] = {"t", NULL};
        samsa_consumer_config cc = {.group = bad[i], .topics = topics};
        samsa_consumer *c = NULL;
        EQ_RC(samsa_consumer_open(s, &cc, &c), SAMSA_EINVAL);
        ck_assert_ptr_null(c);
        offs g = {.n = 0};
        EQ_RC(samsa_group_offsets(s, bad[i], offs_fn, &g), SAMSA_EINVAL);
        EQ_RC(samsa_group_reset(s, bad[i], "t", 0, SAMSA_RESET_TO_EARLIEST, 0),
              SAMSA_EINVAL);
        EQ_RC(samsa_group_delete(s, bad[i]), SAMSA_EINVAL);
        EQ_RC(samsa_group_members(s, bad[i], rows_fn_any, NULL), SAMSA_EINVAL);
    }
    E(samsa_group_delete(s, longest));
    f = group_offs(s, longest);
    ck_assert_int_eq(f.n, 0);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

typedef struct rows {
    char line[8][64];
    int n;
} rows;

static int
rows_fn(const samsa_group_member *m, void *ctx)
{
    rows *r = ctx;
    ck_assert_int_lt(r->n, 8);
    snprintf(r->line[r->n++], sizeof r->line[0], "%llu %s %d",
             (unsigned long long)m->member, m->topic ? m->topic : "-",
             (int)m->partition);
    return 0;
}

/* Poll c until it owns want partitions (a poll takes what the group
 * assigned it). */
static void
settle(samsa_consumer *c, size_t want)
{
    samsa_topic_partition tp[8];
    size_t n = 0;
    for (int tries = 0; tries < 100; tries++) {
        samsa_message m;
        (void)samsa_consumer_poll(c, &m, 10);
        E(samsa_consumer_assignment(c, tp, 8, &n));
        if (n == want)
            return;
    }
    ck_abort_msg("the member owns %zu partitions, not %zu", n, want);
}

START_TEST(test_group_members)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 3};
    E(samsa_topic_create(s, "t", &cfg));
    rows r = {0};
    EQ_RC(samsa_group_members(s, "g", rows_fn, &r), SAMSA_ENOGROUP);
    samsa_consumer *a = consumer_open_with(s, "g", "t", SAMSA_ASSIGN_RANGE);
    settle(a, 3);
    E(samsa_group_members(s, "g", rows_fn, &r));
    ck_assert_int_eq(r.n, 3);
    ck_assert_str_eq(r.line[0], "1 t 0");
    ck_assert_str_eq(r.line[1], "1 t 1");
    ck_assert_str_eq(r.line[2], "1 t 2");
    /* A second member: the range assignor gives it the last partition
     * once the first has let go of it. */
    samsa_consumer *b = consumer_open_with(s, "g", "t", SAMSA_ASSIGN_RANGE);
    settle(a, 2);
    settle(b, 1);
    memset(&r, 0, sizeof r);
    E(samsa_group_members(s, "g", rows_fn, &r));
    ck_assert_int_eq(r.n, 3);
    ck_assert_str_eq(r.line[0], "1 t 0");
    ck_assert_str_eq(r.line[1], "1 t 1");
    ck_assert_str_eq(r.line[2], "2 t 2");
    /* A member of a group on a topic with no partitions free. */
    samsa_consumer *c = consumer_open_with(s, "g", "t", SAMSA_ASSIGN_RANGE);
    settle(a, 1);
    settle(b, 1);
    settle(c, 1);
    samsa_consumer *d = consumer_open_with(s, "g", "t", SAMSA_ASSIGN_RANGE);
    settle(d, 0);
    memset(&r, 0, sizeof r);
    E(samsa_group_members(s, "g", rows_fn, &r));
    ck_assert_int_eq(r.n, 4);
    ck_assert_str_eq(r.line[3], "4 - -1");
    EQ_RC(samsa_group_members(s, "bad/name", rows_fn, &r), SAMSA_EINVAL);
    EQ_RC(samsa_group_members(s, "g", NULL, &r), SAMSA_EINVAL);
    E(samsa_consumer_close(d));
    E(samsa_consumer_close(c));
    E(samsa_consumer_close(b));
    E(samsa_consumer_close(a));
    EQ_RC(samsa_group_members(s, "g", rows_fn, &r), SAMSA_ENOGROUP);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ---- statistics --------------------------------------------------------- */

typedef struct pstats {
    samsa_partition_stats p[8];
    char topic[8][32];
    int n;
} pstats;

static int
pstats_fn(const samsa_partition_stats *p, void *ctx)
{
    pstats *ps = ctx;
    ck_assert_int_lt(ps->n, 8);
    ps->p[ps->n] = *p;
    snprintf(ps->topic[ps->n], sizeof ps->topic[0], "%s", p->topic);
    ps->n++;
    return 0;
}

/* A record with a 3-byte value, no key, no headers, alone in its batch:
 * the 61-byte batch header and a 10-byte record (length 1, attributes 1,
 * timestamp delta 1, offset delta 1, key length 1, value length 1, value
 * 3, header count 1). */
#define ONE_RECORD_BATCH 71

START_TEST(test_stats)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 2, .segment_bytes = 4096};
    E(samsa_topic_create(s, "b", &cfg));
    E(samsa_topic_create(s, "a", NULL));
    for (int i = 0; i < 70; i++) /* 70 * 71 bytes: two segments */
        produce_ts(s, "b", 1, "abc", 1000);
    produce_ts(s, "a", 0, "abc", 1000);

    pstats ps = {0};
    E(samsa_stats_partitions(s, NULL, pstats_fn, &ps));
    ck_assert_int_eq(ps.n, 3);
    ck_assert_str_eq(ps.topic[0], "a");
    ck_assert_str_eq(ps.topic[1], "b");
    ck_assert_str_eq(ps.topic[2], "b");
    ck_assert_int_eq(ps.p[1].partition, 0);
    ck_assert_int_eq(ps.p[2].partition, 1);
    ck_assert_int_eq(ps.p[0].records, 1);
    ck_assert_int_eq(ps.p[0].bytes, ONE_RECORD_BATCH);
    ck_assert_int_eq(ps.p[0].segments, 1);
    ck_assert_int_eq(ps.p[1].records, 0);
    ck_assert_int_eq(ps.p[1].bytes, 0);
    ck_assert_int_eq(ps.p[2].start, 0);
    ck_assert_int_eq(ps.p[2].end, 70);
    ck_assert_int_eq(ps.p[2].records, 70);
    ck_assert_int_eq(ps.p[2].bytes, 70 * ONE_RECORD_BATCH);
    /* 4096 bytes hold 57 batches of 71: the 58th rolled. */
    ck_assert_int_eq(ps.p[2].segments, 2);
    ck_assert_int_eq(ps.p[2].copies, 1);
    ck_assert_int_eq(ps.p[2].insync, 1);
    /* Two segments' .log files (the end marker is mapped, with no
     * descriptor: log.c). */
    ck_assert_int_eq(ps.p[2].open_files, 2);
    ck_assert_int_eq(ps.p[0].open_files, 1);

    memset(&ps, 0, sizeof ps);
    E(samsa_stats_partitions(s, "a", pstats_fn, &ps));
    ck_assert_int_eq(ps.n, 1);
    EQ_RC(samsa_stats_partitions(s, "nope", pstats_fn, &ps), SAMSA_ENOTOPIC);
    EQ_RC(samsa_stats_partitions(s, "bad/name", pstats_fn, &ps), SAMSA_EINVAL);
    EQ_RC(samsa_stats_partitions(s, NULL, NULL, &ps), SAMSA_EINVAL);

    int64_t zero = 0;
    commit(s, "g", "a", &zero, 1);
    samsa_store_stats st;
    E(samsa_stats(s, &st));
    ck_assert_int_eq(st.topics, 2);
    ck_assert_int_eq(st.partitions, 3);
    ck_assert_int_eq(st.segments, 4);
    ck_assert_int_eq(st.records, 71);
    ck_assert_int_eq(st.bytes, 71 * ONE_RECORD_BATCH);
    ck_assert_int_eq(st.open_files, 1 + 1 + 2); /* .log files only */
    ck_assert_int_eq(st.under_replicated, 0);
    ck_assert_int_eq(st.consumer_groups, 1);
    ck_assert_int_eq(st.share_groups, 0);
    EQ_RC(samsa_stats(NULL, &st), SAMSA_EINVAL);
    EQ_RC(samsa_stats(s, NULL), SAMSA_EINVAL);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

typedef struct sstats {
    samsa_share_stats q[4];
    int n;
} sstats;

static int
sstats_fn(const samsa_share_stats *q, void *ctx)
{
    sstats *ss = ctx;
    ck_assert_int_lt(ss->n, 4);
    ck_assert_str_eq(q->group, "w");
    ck_assert_str_eq(q->topic, "a");
    ss->q[ss->n++] = *q;
    return 0;
}

START_TEST(test_stats_json)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "a", NULL));
    for (int i = 0; i < 5; i++)
        produce_ts(s, "a", 0, "abc", 1000);
    int64_t two = 2;
    commit(s, "g", "a", &two, 1);
    samsa_queue_config qc = {.max_attempts = 1};
    samsa_queue *q;
    E(samsa_queue_open(s, "w", "a", &qc, &q));
    samsa_delivery d[3];
    size_t n = 0;
    E(samsa_queue_receive(q, d, 3, &n, 1000));
    ck_assert_uint_eq(n, 3);
    E(samsa_queue_ack(q, &d[0], 1, SAMSA_ACK_REJECT));
    E(samsa_queue_ack(q, &d[1], 1, SAMSA_ACK_RELEASE));

    sstats ss = {0};
    E(samsa_stats_shares(s, sstats_fn, &ss));
    ck_assert_int_eq(ss.n, 1);
    ck_assert_int_eq(ss.q[0].receivers, 1);
    ck_assert_int_eq(ss.q[0].start, 1);     /* offset 0 is done */
    ck_assert_int_eq(ss.q[0].acquired, 1);  /* offset 2 */
    ck_assert_int_eq(ss.q[0].available, 3); /* 1 released, 3 and 4 */
    ck_assert_int_eq(ss.q[0].dead_lettered, 1);
    EQ_RC(samsa_stats_shares(s, NULL, NULL), SAMSA_EINVAL);

    char *json = NULL;
    E(samsa_stats_json(s, &json));
    ck_assert_str_eq(
        json,
        "{\"topics\":1,\"partitions\":1,\"segments\":1,\"records\":5,"
        "\"bytes\":355,\"open_files\":1,\"under_replicated\":0,"
        "\"topic_partitions\":[{\"topic\":\"a\",\"partition\":0,"
        "\"segments\":1,\"start\":0,\"end\":5,\"records\":5,\"bytes\":355,"
        "\"copies\":1,\"insync\":1,\"open_files\":1}],"
        "\"consumer_groups\":[{\"group\":\"g\",\"offsets\":[{\"topic\":\"a\","
        "\"partition\":0,\"committed\":2,\"end\":5,\"lag\":3}]}],"
        "\"share_groups\":[{\"group\":\"w\",\"topic\":\"a\",\"partition\":0,"
        "\"receivers\":1,\"start\":1,\"acquired\":1,\"available\":3,"
        "\"dead_lettered\":1}]}");
    free(json);
    EQ_RC(samsa_stats_json(s, NULL), SAMSA_EINVAL);
    EQ_RC(samsa_stats_json(NULL, &json), SAMSA_EINVAL);
    E(samsa_queue_close(q));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_stats_copies)
{
    const char *dir = test_dir_make();
    const char *dir2 = test_dir_make();
    const char *mirrors[] = {dir2, NULL};
    samsa_options opt = {.replica_dirs = mirrors};
    samsa *s;
    E(samsa_open(dir, &opt, &s));
    samsa_topic_config cfg = {.replicas = 2};
    E(samsa_topic_create(s, "r", &cfg));
    produce_ts(s, "r", 0, "abc", 1000);
    pstats ps = {0};
    E(samsa_stats_partitions(s, "r", pstats_fn, &ps));
    ck_assert_int_eq(ps.n, 1);
    ck_assert_int_eq(ps.p[0].copies, 2);
    ck_assert_int_eq(ps.p[0].insync, 2);
    ck_assert_int_eq(ps.p[0].bytes, ONE_RECORD_BATCH);
    ck_assert_int_eq(ps.p[0].open_files, 2); /* the .log, twice */
    E(samsa_close(s));
    test_dir_remove(dir);
    test_dir_remove(dir2);
}
END_TEST

Suite *
admin_suite(void)
{
    Suite *s = suite_create("admin");
    TCase *tc = tcase_create("admin");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_offsets_for_time);
    tcase_add_test(tc, test_group_list);
    tcase_add_test(tc, test_group_reset);
    tcase_add_test(tc, test_group_delete);
    tcase_add_test(tc, test_group_map_full);
    tcase_add_test(tc, test_group_name_limits);
    tcase_add_test(tc, test_group_members);
    tcase_add_test(tc, test_stats);
    tcase_add_test(tc, test_stats_json);
    tcase_add_test(tc, test_stats_copies);
    suite_add_tcase(s, tc);
    return s;
}
