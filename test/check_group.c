/*
 * check_group.c - consumer groups: the assignors, exact ownership after
 * every rebalance, polling, pause/resume/seek, committed offsets (kill -9
 * included) and lag, session timeouts, topics that come and go, and
 * samsa_close() under blocked members.  Threaded; the Makefile runs it
 * under ThreadSanitizer as well.
 *
 * Worker threads never call ck_assert: they record their first failure in
 * an err buffer that the test checks after joining.  Nothing here asserts
 * on time: waits are bounded only by generous timeouts that fail the test
 * when a wake-up never comes.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "group/group.h"
#include "test.h"

#define LONG_MS 30000 /* a wait that only a bug makes this long */

static samsa_consumer *
member(samsa *s, const char *gname, int assignor, const char *tname)
{
    const char *topics[] = {tname, NULL};
    samsa_consumer_config cfg = {.group = gname,
                                 .topics = topics,
                                 .assignor = assignor,
                                 .offset_reset = SAMSA_RESET_EARLIEST};
    samsa_consumer *c = NULL;
    E(samsa_consumer_open(s, &cfg, &c));
    return c;
}

static void
produce_n(samsa *s, const char *tname, int32_t p, int n)
{
    char v[32];
    for (int i = 0; i < n; i++) {
        snprintf(v, sizeof v, "%d-%d", (int)p, i);
        test_produce_str(s, tname, p, NULL, v);
    }
}

/* ---- the assignors, alone ------------------------------------------------ */

static void
check_exact(const assign_input *in, int32_t **out)
{
    for (size_t t = 0; t < in->ntopics; t++) {
        bool any = false;
        for (size_t m = 0; m < in->nmembers; m++)
            any |= in->eligible[m * in->ntopics + t];
        for (int32_t p = 0; p < in->parts[t]; p++) {
            int32_t m = out[t][p];
            if (!any) {
                ck_assert_int_eq(m, -1);
                continue;
            }
            ck_assert_int_ge(m, 0);
            ck_assert_int_lt(m, (int)in->nmembers);
            ck_assert(in->eligible[(size_t)m * in->ntopics + t]);
        }
    }
}

START_TEST(test_assignors)
{
    /* Kafka's documented layouts: 2 members, topics of 3 and 2 partitions */
    int32_t parts[2] = {3, 2};
    bool el[4] = {true, true, true, true};
    int32_t o0[3], o1[2], *out[2] = {o0, o1};
    assign_input in = {2, 2, parts, el, NULL};
    assign_compute(SAMSA_ASSIGN_RANGE, &in, out);
    ck_assert(o0[0] == 0 && o0[1] == 0 && o0[2] == 1);
    ck_assert(o1[0] == 0 && o1[1] == 1);
    assign_compute(SAMSA_ASSIGN_ROUNDROBIN, &in, out);
    ck_assert(o0[0] == 0 && o0[1] == 1 && o0[2] == 0);
    ck_assert(o1[0] == 1 && o1[1] == 0);
    /* member 1 does not subscribe topic 1 */
    el[3] = false;
    for (int a = SAMSA_ASSIGN_RANGE; a <= SAMSA_ASSIGN_STICKY; a++) {
        assign_compute(a, &in, out);
        check_exact(&in, out);
        ck_assert(o1[0] == 0 && o1[1] == 0);
    }
    /* sticky keeps what members had, and balances */
    int32_t p0[3] = {0, 0, 0}, p1[2] = {0, 0};
    const int32_t *prev[2] = {p0, p1};
    el[3] = true;
    in.prev = prev;
    assign_compute(SAMSA_ASSIGN_STICKY, &in, out);
    check_exact(&in, out);
    int load0 = (o0[0] == 0) + (o0[1] == 0) + (o0[2] == 0) + (o1[0] == 0) +
                (o1[1] == 0);
    ck_assert(load0 == 2 || load0 == 3);
    int kept = 0; /* partitions that stayed with member 0 */
    for (int p = 0; p < 3; p++)
        kept += o0[p] == 0;
    for (int p = 0; p < 2; p++)
        kept += o1[p] == 0;
    ck_assert_int_eq(kept, load0); /* member 0 only lost, never swapped */
    /* no member subscribes: -1 */
    el[0] = el[1] = el[2] = el[3] = false;
    assign_compute(SAMSA_ASSIGN_STICKY, &in, out);
    check_exact(&in, out);
}
END_TEST

/* ---- exact ownership through joins and leaves -----------------------------
 */

#define NM 5
#define NP 7

/* Poll every member (timeout 0) until the group is settled: then every
 * partition is owned by exactly one member. */
static void
settle_and_check(samsa_consumer **ms, int n, bool balanced)
{
    samsa_message m;
    samsa_topic_partition tp[NP];
    int owners[NP];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < n; i++)
            if (ms[i] != NULL) {
                int rc = samsa_consumer_poll(ms[i], &m, 0);
                ck_assert_msg(rc == SAMSA_ETIMEDOUT, "%s", samsa_strerror(rc));
            }
    }
    memset(owners, 0, sizeof owners);
    size_t most = 0, least = NP;
    int live = 0;
    for (int i = 0; i < n; i++) {
        if (ms[i] == NULL)
            continue;
        size_t k;
        E(samsa_consumer_assignment(ms[i], tp, NP, &k));
        ck_assert_uint_le(k, NP);
        for (size_t j = 0; j < k; j++) {
            ck_assert_str_eq(tp[j].topic, "t");
            owners[tp[j].partition]++;
        }
        most = k > most ? k : most;
        least = k < least ? k : least;
        live++;
    }
    for (int p = 0; p < NP; p++)
        ck_assert_msg(owners[p] == (live > 0), "partition %d has %d owners", p,
                      owners[p]);
    if (balanced && live > 0)
        ck_assert_uint_le(most - least, 1);
}

START_TEST(test_ownership_exact)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = NP};
    E(samsa_topic_create(s, "t", &cfg));
    int assignor = SAMSA_ASSIGN_RANGE + _i;
    samsa_consumer *ms[NM] = {0};
    unsigned seed = 7;
    for (int step = 0; step < 40; step++) {
        int i = (int)(rand_r(&seed) % NM);
        if (ms[i] == NULL)
            ms[i] = member(s, "g", assignor, "t");
        else {
            E(samsa_consumer_close(ms[i]));
            ms[i] = NULL;
        }
        settle_and_check(ms, NM, assignor != SAMSA_ASSIGN_RANGE);
    }
    for (int i = 0; i < NM; i++)
        E(samsa_consumer_close(ms[i]));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ---- polling ------------------------------------------------------------- */

START_TEST(test_poll_fair_and_ordered)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 4};
    E(samsa_topic_create(s, "t", &cfg));
    for (int p = 0; p < 4; p++)
        produce_n(s, "t", p, 10);
    samsa_consumer *c = member(s, "g", 0, "t");
    samsa_message m;
    int64_t next[4] = {0};
    int seen_first4 = 0;
    for (int i = 0; i < 40; i++) {
        E(samsa_consumer_poll(c, &m, 0));
        ck_assert_str_eq(m.topic, "t");
        ck_assert_int_eq(m.offset, next[m.partition]++);
        if (i < 4)
            seen_first4 |= 1 << m.partition; /* one record per partition */
    }
    ck_assert_int_eq(seen_first4, 0xf);
    EQ_RC(samsa_consumer_poll(c, &m, 0), SAMSA_ETIMEDOUT);
    EQ_RC(samsa_consumer_poll(c, &m, 10), SAMSA_ETIMEDOUT);
    /* batch: runs per partition, each in order */
    for (int p = 0; p < 4; p++)
        produce_n(s, "t", p, 5);
    samsa_message ms[64];
    size_t n, total = 0;
    while (total < 20) {
        E(samsa_consumer_poll_batch(c, ms, 64, &n, 0));
        for (size_t i = 0; i < n; i++)
            ck_assert_int_eq(ms[i].offset, next[ms[i].partition]++);
        total += n;
    }
    ck_assert_uint_eq(total, 20);
    EQ_RC(samsa_consumer_poll_batch(c, ms, 64, &n, 0), SAMSA_ETIMEDOUT);
    ck_assert_uint_eq(n, 0);
    /* bad arguments */
    EQ_RC(samsa_consumer_poll(NULL, &m, 0), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_poll(c, NULL, 0), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_poll(c, &m, -2), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_poll_batch(c, ms, 0, &n, 0), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_poll_batch(c, NULL, 1, &n, 0), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_poll_batch(c, ms, 1, NULL, 0), SAMSA_EINVAL);
    E(samsa_consumer_close(c));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_offset_reset)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "t", NULL));
    produce_n(s, "t", 0, 3);
    const char *topics[] = {"t", NULL};
    samsa_consumer_config cfg = {.group = "late", .topics = topics};
    samsa_consumer *c;
    E(samsa_consumer_open(s, &cfg, &c)); /* default: latest */
    samsa_message m;
    EQ_RC(samsa_consumer_poll(c, &m, 0), SAMSA_ETIMEDOUT);
    test_produce_str(s, "t", 0, NULL, "new");
    E(samsa_consumer_poll(c, &m, 0));
    ck_assert_int_eq(m.offset, 3);
    E(samsa_consumer_close(c));
    cfg.group = "early";
    cfg.offset_reset = SAMSA_RESET_EARLIEST;
    E(samsa_consumer_open(s, &cfg, &c));
    E(samsa_consumer_poll(c, &m, 0));
    ck_assert_int_eq(m.offset, 0);
    E(samsa_consumer_close(c));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_pause_seek)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 2};
    E(samsa_topic_create(s, "t", &cfg));
    test_gen_ts(0);
    for (int i = 0; i < 10; i++) {
        samsa_record r = {
            .value = "v", .value_len = 1, .timestamp = TEST_TS0 + i * 1000};
        E(samsa_produce(s, "t", 0, &r, 1));
        E(samsa_produce(s, "t", 1, &r, 1));
    }
    samsa_consumer *c = member(s, "g", 0, "t");
    samsa_message m;
    E(samsa_consumer_poll(c, &m, 0)); /* joins; one record */
    int64_t pos;
    E(samsa_consumer_seek(c, "t", 0, 0));
    E(samsa_consumer_seek(c, "t", 1, 0));
    E(samsa_consumer_pause(c, "t", 0));
    for (int i = 0; i < 10; i++) {
        E(samsa_consumer_poll(c, &m, 0));
        ck_assert_int_eq(m.partition, 1);
        ck_assert_int_eq(m.offset, i);
    }
    EQ_RC(samsa_consumer_poll(c, &m, 0), SAMSA_ETIMEDOUT);
    E(samsa_consumer_position(c, "t", 0, &pos));
    ck_assert_int_eq(pos, 0); /* paused: did not move */
    E(samsa_consumer_resume(c, "t", 0));
    E(samsa_consumer_seek(c, "t", 0, 7));
    E(samsa_consumer_poll(c, &m, 0));
    ck_assert(m.partition == 0 && m.offset == 7);
    E(samsa_consumer_seek(c, "t", 0, SAMSA_OFFSET_BEGINNING));
    E(samsa_consumer_position(c, "t", 0, &pos));
    ck_assert_int_eq(pos, 0);
    E(samsa_consumer_seek(c, "t", 0, SAMSA_OFFSET_END));
    E(samsa_consumer_position(c, "t", 0, &pos));
    ck_assert_int_eq(pos, 10);
    E(samsa_consumer_seek_time(c, "t", 0, TEST_TS0 + 4500));
    E(samsa_consumer_position(c, "t", 0, &pos));
    ck_assert_int_eq(pos, 5);
    E(samsa_consumer_poll(c, &m, 0));
    ck_assert(m.partition == 0 && m.offset == 5);
    /* errors, and the position unchanged */
    EQ_RC(samsa_consumer_seek(c, "t", 0, 11), SAMSA_EOFFSET);
    EQ_RC(samsa_consumer_seek(c, "t", 0, -3), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_seek(c, "t", 2, 0), SAMSA_ENOTASSIGNED);
    EQ_RC(samsa_consumer_seek(c, "u", 0, 0), SAMSA_ENOTASSIGNED);
    EQ_RC(samsa_consumer_seek(c, NULL, 0, 0), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_seek_time(c, "t", 0, -1), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_seek_time(c, "t", 5, 0), SAMSA_ENOTASSIGNED);
    EQ_RC(samsa_consumer_pause(c, "t", 9), SAMSA_ENOTASSIGNED);
    EQ_RC(samsa_consumer_resume(NULL, "t", 0), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_position(c, "t", 0, NULL), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_position(c, "t", 3, &pos), SAMSA_ENOTASSIGNED);
    E(samsa_consumer_position(c, "t", 0, &pos));
    ck_assert_int_eq(pos, 6);
    size_t n;
    EQ_RC(samsa_consumer_assignment(c, NULL, 1, &n), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_assignment(c, NULL, 0, NULL), SAMSA_EINVAL);
    E(samsa_consumer_assignment(c, NULL, 0, &n));
    ck_assert_uint_eq(n, 2);
    E(samsa_consumer_close(c));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A corrupt batch stops its partition only; the others go on. */
START_TEST(test_poll_corrupt)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 2};
    E(samsa_topic_create(s, "t", &cfg));
    test_produce_str(s, "t", 0, NULL, "ZZZZ-damaged");
    test_produce_str(s, "t", 0, NULL, "after");
    test_produce_str(s, "t", 1, NULL, "fine");
    /* flip a byte of the first value in the file (the map shows it) */
    char path[TEST_PATH_BUF];
    snprintf(path, sizeof path, "%s/t-0/00000000000000000000.log", dir);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    char buf[512];
    size_t n = fread(buf, 1, sizeof buf, f);
    char *at = memmem(buf, n, "ZZZZ", 4);
    ck_assert_ptr_nonnull(at);
    fseek(f, (long)(at - buf), SEEK_SET);
    fputc('Y', f);
    fclose(f);
    samsa_consumer *c = member(s, "g", 0, "t");
    samsa_message m;
    int corrupt = 0, fine = 0;
    for (int i = 0; i < 4; i++) {
        int rc = samsa_consumer_poll(c, &m, 0);
        if (rc == SAMSA_ECORRUPT)
            corrupt++;
        else if (rc == 0 && m.partition == 1)
            fine++;
        else
            ck_abort_msg("poll %d: %s", i, samsa_strerror(rc));
    }
    ck_assert(corrupt == 3 && fine == 1);
    int64_t pos;
    E(samsa_consumer_position(c, "t", 0, &pos));
    ck_assert_int_eq(pos, 0); /* stays at the damaged batch */
    EQ_RC(samsa_consumer_seek_time(c, "t", 0, 0), SAMSA_ECORRUPT);
    E(samsa_consumer_seek(c, "t", 0, 1));
    E(samsa_consumer_poll(c, &m, 0));
    ck_assert(m.partition == 0 && m.offset == 1);
    E(samsa_consumer_close(c));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ---- configuration errors ------------------------------------------------ */

START_TEST(test_open_errors)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    const char *topics[] = {"t", NULL}, *bad[] = {"a/b", NULL};
    samsa_consumer_config cfg = {.group = "g", .topics = topics};
    samsa_consumer *c = NULL;
    EQ_RC(samsa_consumer_open(NULL, &cfg, &c), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_open(s, NULL, &c), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_open(s, &cfg, NULL), SAMSA_EINVAL);
    samsa_consumer_config b = cfg;
    b.group = NULL;
    EQ_RC(samsa_consumer_open(s, &b, &c), SAMSA_EINVAL);
    b.group = "..";
    EQ_RC(samsa_consumer_open(s, &b, &c), SAMSA_EINVAL);
    b = cfg;
    b.topics = bad;
    EQ_RC(samsa_consumer_open(s, &b, &c), SAMSA_EINVAL);
    b.topics = NULL;
    EQ_RC(samsa_consumer_open(s, &b, &c), SAMSA_EINVAL);
    b.pattern = "(unclosed";
    EQ_RC(samsa_consumer_open(s, &b, &c), SAMSA_EINVAL);
    b = cfg;
    b.assignor = 9;
    EQ_RC(samsa_consumer_open(s, &b, &c), SAMSA_EINVAL);
    b = cfg;
    b.offset_reset = 3;
    EQ_RC(samsa_consumer_open(s, &b, &c), SAMSA_EINVAL);
    b = cfg;
    b.session_timeout_ms = 5;
    EQ_RC(samsa_consumer_open(s, &b, &c), SAMSA_EINVAL);
    b = cfg;
    b.auto_commit_ms = -1;
    EQ_RC(samsa_consumer_open(s, &b, &c), SAMSA_EINVAL);
    b = cfg;
    b.reserved[7] = 1;
    EQ_RC(samsa_consumer_open(s, &b, &c), SAMSA_EINVAL);
    ck_assert_ptr_null(c);
    /* a group's members agree on the assignor */
    b = cfg;
    b.assignor = SAMSA_ASSIGN_RANGE;
    E(samsa_consumer_open(s, &b, &c));
    samsa_consumer *c2 = NULL;
    b.assignor = SAMSA_ASSIGN_ROUNDROBIN;
    EQ_RC(samsa_consumer_open(s, &b, &c2), SAMSA_ECONFLICT);
    b.group = "other"; /* another group may use another */
    E(samsa_consumer_open(s, &b, &c2));
    E(samsa_consumer_close(c2));
    E(samsa_consumer_close(c));
    E(samsa_consumer_close(NULL));
    /* the group is gone with its last member: any assignor again */
    b.group = "g";
    E(samsa_consumer_open(s, &b, &c));
    E(samsa_consumer_close(c));
    /* refused once closing has begun */
    atomic_store(&s->closing, true);
    EQ_RC(samsa_consumer_open(s, &cfg, &c), SAMSA_ECLOSED);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ---- commits, lag, resuming ---------------------------------------------- */

typedef struct lag_row {
    char topic[16];
    int32_t partition;
    int64_t committed, end, lag;
} lag_row;

typedef struct lag_list {
    lag_row rows[16];
    int n;
} lag_list;

static int
collect(const samsa_group_offset *o, void *ctx)
{
    lag_list *l = ctx;
    lag_row *r = &l->rows[l->n++];
    snprintf(r->topic, sizeof r->topic, "%s", o->topic);
    r->partition = o->partition;
    r->committed = o->committed;
    r->end = o->end;
    r->lag = o->lag;
    return l->n == 16;
}

START_TEST(test_commit_lag_resume)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 3};
    E(samsa_topic_create(s, "t", &cfg));
    for (int p = 0; p < 3; p++)
        produce_n(s, "t", p, 10 + p);
    samsa_consumer *c = member(s, "g", 0, "t");
    samsa_message m;
    E(samsa_consumer_poll(c, &m, 0));
    samsa_topic_partition offs[2] = {{"t", 0, 4}, {"t", 2, 9}};
    E(samsa_consumer_commit(c, offs, 2));
    lag_list l = {0};
    E(samsa_group_offsets(s, "g", collect, &l));
    ck_assert_int_eq(l.n, 2);
    ck_assert(l.rows[0].partition == 0 && l.rows[0].committed == 4 &&
              l.rows[0].end == 10 && l.rows[0].lag == 6);
    ck_assert(l.rows[1].partition == 2 && l.rows[1].committed == 9 &&
              l.rows[1].end == 12 && l.rows[1].lag == 3);
    /* the current positions: 1 record read from one partition */
    E(samsa_consumer_commit(c, NULL, 0));
    l.n = 0;
    E(samsa_group_offsets(s, "g", collect, &l));
    ck_assert_int_eq(l.n, 3);
    int64_t sum = 0;
    for (int i = 0; i < 3; i++)
        sum += l.rows[i].committed;
    ck_assert_int_eq(sum, 1);
    /* errors change nothing */
    samsa_topic_partition badp[2] = {{"t", 0, 5}, {"t", 3, 1}};
    EQ_RC(samsa_consumer_commit(c, badp, 2), SAMSA_ENOTASSIGNED);
    badp[1] = (samsa_topic_partition){"t", 1, -1};
    EQ_RC(samsa_consumer_commit(c, badp, 2), SAMSA_EINVAL);
    badp[1] = (samsa_topic_partition){NULL, 1, 1};
    EQ_RC(samsa_consumer_commit(c, badp, 2), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_commit(c, NULL, 1), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_commit(c, badp, 0), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_commit(NULL, NULL, 0), SAMSA_EINVAL);
    EQ_RC(samsa_group_offsets(s, "g", NULL, NULL), SAMSA_EINVAL);
    EQ_RC(samsa_group_offsets(s, "a/b", collect, &l), SAMSA_EINVAL);
    EQ_RC(samsa_group_offsets(NULL, "g", collect, &l), SAMSA_EINVAL);
    l.n = 0;
    E(samsa_group_offsets(s, "none", collect, &l));
    ck_assert_int_eq(l.n, 0);
    E(samsa_consumer_commit(c, offs, 2));
    E(samsa_consumer_close(c));
    /* a new member resumes exactly at the commits */
    c = member(s, "g", 0, "t");
    E(samsa_consumer_poll(c, &m, 0));
    int64_t pos[3];
    for (int p = 0; p < 3; p++)
        E(samsa_consumer_position(c, "t", p, &pos[p]));
    ck_assert_int_eq(pos[0] + pos[1] + pos[2] - 1, 4 + 0 + 9);
    E(samsa_consumer_close(c));
    /* deleting the topic takes its offsets along */
    E(samsa_topic_delete(s, "t"));
    E(samsa_topic_create(s, "t", &cfg));
    l.n = 0;
    E(samsa_group_offsets(s, "g", collect, &l));
    ck_assert_int_eq(l.n, 0);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A damaged committed offset in the catalog is reported, not returned. */
START_TEST(test_group_offsets_corrupt)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "t", NULL));
    pthread_rwlock_rdlock(&s->table_lock);
    uint64_t id = store_topic_find(s, "t")->id;
    pthread_rwlock_unlock(&s->table_lock);
    catalog_group_offset bad = {id, 0, -5}; /* no commit writes this */
    E(catalog_group_commit(&s->cat, "g", &bad, 1));
    lag_list l = {0};
    EQ_RC(samsa_group_offsets(s, "g", collect, &l), SAMSA_ECORRUPT);
    ck_assert_int_eq(l.n, 0);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* The byte offset in f of the committed offset stored under key k (k
 * followed by the value), or -1. */
static long
value_at(const char *f, const uint8_t *k, size_t klen, int64_t want)
{
    FILE *fp = fopen(f, "rb");
    ck_assert_ptr_nonnull(fp);
    static uint8_t img[1 << 20];
    size_t n = fread(img, 1, sizeof img, fp);
    fclose(fp);
    for (size_t i = 0; i + klen + 8 <= n; i++)
        if (memcmp(img + i, k, klen) == 0 &&
            (int64_t)samsa__le_get(img + i + klen, 8) == want)
            return (long)(i + klen);
    return -1;
}

/* Topic "t" with 10 records, offset 6 committed by group "g" for its
 * partition 0, then that offset damaged in the catalog file f (the
 * store's first directory's) while the store is open: a bit flip the
 * page cache hands LMDB, turning 6 into 2. */
static void
commit_damaged(samsa *s, const char *f)
{
    E(samsa_topic_create(s, "t", NULL));
    produce_n(s, "t", 0, 10);
    samsa_consumer *c = member(s, "g", 0, "t");
    samsa_message m;
    E(samsa_consumer_poll(c, &m, 0));
    samsa_topic_partition tp = {"t", 0, 6};
    E(samsa_consumer_commit(c, &tp, 1));
    E(samsa_consumer_close(c));
    pthread_rwlock_rdlock(&s->table_lock);
    uint64_t id = store_topic_find(s, "t")->id;
    pthread_rwlock_unlock(&s->table_lock);
    uint8_t key[13] = {0};
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(id >> (56 - 8 * i));
    key[12] = 'g';
    long at = value_at(f, key, sizeof key, 6);
    ck_assert_int_ge(at, 0);
    int fd = open(f, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t b = 6 ^ 0x04; /* 6 reads as 2 */
    ck_assert_int_eq(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

/* A committed offset damaged in the catalog file while the store is open
 * (a bit flip the page cache hands LMDB): read as an error, never as an
 * offset, by samsa_group_offsets() and by a member taking the partition,
 * which must not start it from the reset policy instead. */
START_TEST(test_commit_damaged_live)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    char f[TEST_PATH_BUF];
    commit_damaged(s, test_pathf(f, dir, "catalog/data.mdb"));
    lag_list l = {0};
    EQ_RC(samsa_group_offsets(s, "g", collect, &l), SAMSA_ECORRUPT);
    ck_assert_int_eq(l.n, 0);
    samsa_message m;
    samsa_consumer *c = member(s, "g", 0, "t");
    EQ_RC(samsa_consumer_poll(c, &m, 0), SAMSA_ECORRUPT);
    EQ_RC(samsa_consumer_poll(c, &m, 0), SAMSA_ECORRUPT);
    size_t n;
    E(samsa_consumer_assignment(c, NULL, 0, &n));
    ck_assert_uint_eq(n, 0);
    E(samsa_consumer_close(c));
    /* samsa_group_reset() overwrites it, without reading it */
    E(samsa_group_reset(s, "g", "t", 0, SAMSA_RESET_TO_OFFSET, 6));
    c = member(s, "g", 0, "t");
    E(samsa_consumer_poll(c, &m, 0));
    ck_assert_int_eq(m.offset, 6);
    E(samsa_consumer_close(c));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* The same damage in a store with a second directory, whose catalog holds
 * the offset whole: the first read heals the first catalog from it, and
 * the member resumes exactly at the committed offset (it once failed
 * every poll with SAMSA_ECORRUPT until samsa_group_reset()).  The healed
 * directory then opens on its own. */
START_TEST(test_commit_damaged_healed)
{
    const char *dir = test_dir_make();
    char d0[TEST_PATH_BUF], d1[TEST_PATH_BUF], f[TEST_PATH_BUF];
    test_pathf(d0, dir, "d0");
    const char *reps[] = {test_pathf(d1, dir, "d1"), NULL};
    samsa_options o = {.replica_dirs = reps, .flags = SAMSA_OPEN_CREATE};
    samsa *s;
    E(samsa_open(d0, &o, &s));
    commit_damaged(s, test_pathf(f, d0, "catalog/data.mdb"));
    samsa_consumer *c = member(s, "g", 0, "t");
    samsa_message m;
    E(samsa_consumer_poll(c, &m, 0));
    ck_assert_int_eq(m.offset, 6);
    E(samsa_consumer_close(c));
    lag_list l = {0};
    E(samsa_group_offsets(s, "g", collect, &l));
    ck_assert_int_eq(l.n, 1);
    ck_assert_int_eq(l.rows[0].committed, 6);
    E(samsa_close(s));
    bool held;
    char cdir[TEST_PATH_BUF];
    E(catalog_check_file(test_pathf(cdir, d0, "catalog"), &held));
    catalog cat;
    const char *paths[] = {cdir};
    E(catalog_open(&cat, paths, 1, 1 << 22)); /* every value checked */
    catalog_close(&cat);
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_commit_survives_kill9)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 4};
    E(samsa_topic_create(s, "t", &cfg));
    for (int p = 0; p < 4; p++)
        produce_n(s, "t", p, 20);
    E(samsa_close(s));
    /* The parent kills the child once it has committed: a child that
     * raise()s SIGKILL on itself while it has another thread spins for
     * ever under valgrind. */
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t pid = test_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* the child: read a little, commit, and die without closing */
        samsa *cs;
        if (samsa_open(dir, NULL, &cs) != 0)
            _exit(2);
        const char *topics[] = {"t", NULL};
        samsa_consumer_config cc = {.group = "g",
                                    .topics = topics,
                                    .offset_reset = SAMSA_RESET_EARLIEST};
        samsa_consumer *c;
        samsa_message m;
        if (samsa_consumer_open(cs, &cc, &c) != 0 ||
            samsa_consumer_poll(c, &m, 0) != 0)
            _exit(3);
        samsa_topic_partition offs[4] = {
            {"t", 0, 3}, {"t", 1, 7}, {"t", 2, 20}, {"t", 3, 11}};
        if (samsa_consumer_commit(c, offs, 4) != 0)
            _exit(4);
        if (write(ready[1], "c", 1) != 1)
            _exit(5);
        for (;;)
            pause();
    }
    close(ready[1]);
    char b;
    if (read(ready[0], &b, 1) == 1) /* else it exited: waitpid says why */
        kill(pid, SIGKILL);
    close(ready[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "child exited with %d", WEXITSTATUS(status));
    s = test_open(dir);
    lag_list l = {0};
    E(samsa_group_offsets(s, "g", collect, &l));
    ck_assert_int_eq(l.n, 4);
    int64_t want[4] = {3, 7, 20, 11};
    for (int p = 0; p < 4; p++) {
        ck_assert_int_eq(l.rows[p].partition, p);
        ck_assert_int_eq(l.rows[p].committed, want[p]);
        ck_assert_int_eq(l.rows[p].lag, 20 - want[p]);
    }
    /* and the group resumes exactly there */
    samsa_consumer *c = member(s, "g", 0, "t");
    samsa_message m;
    int64_t next[4];
    memcpy(next, want, sizeof next);
    int got = 0;
    while (samsa_consumer_poll(c, &m, 0) == 0) {
        ck_assert_int_eq(m.offset, next[m.partition]++);
        got++;
    }
    ck_assert_int_eq(got, 80 - 41);
    E(samsa_consumer_close(c));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* The catalog's consumer groups, named by samsa_group_list(), into
 * names (up to 4, each "name,"), or the error. */
static int
list_one(const char *name, samsa_group_type type, void *ctx)
{
    char *names = ctx;
    if (type == SAMSA_GROUP_CONSUMER && strlen(names) + strlen(name) + 2 < 64)
        strcat(strcat(names, name), ",");
    return 0;
}

/* A group's name damaged in its catalog key while the store is open: no
 * call reports the damaged name as a group (the key is under the value's
 * CRC, which the listing did not check). */
START_TEST(test_group_name_damaged_live)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "t", NULL));
    produce_n(s, "t", 0, 10);
    samsa_consumer *c = member(s, "grp", 0, "t");
    samsa_message m;
    E(samsa_consumer_poll(c, &m, 0));
    samsa_topic_partition tp = {"t", 0, 6};
    E(samsa_consumer_commit(c, &tp, 1));
    E(samsa_consumer_close(c));
    char names[64] = "";
    E(samsa_group_list(s, list_one, names));
    ck_assert_str_eq(names, "grp,");
    pthread_rwlock_rdlock(&s->table_lock);
    uint64_t id = store_topic_find(s, "t")->id;
    pthread_rwlock_unlock(&s->table_lock);
    uint8_t key[15] = {0};
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(id >> (56 - 8 * i));
    memcpy(key + 12, "grp", 3);
    char f[TEST_PATH_BUF];
    test_pathf(f, dir, "catalog/data.mdb");
    long at = value_at(f, key, sizeof key, 6);
    ck_assert_int_ge(at, 0);
    int fd = open(f, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t b = 'p' ^ 0x02; /* "grp" reads as "grr" */
    ck_assert_int_eq(pwrite(fd, &b, 1, at - 1), 1);
    close(fd);
    names[0] = '\0';
    EQ_RC(samsa_group_list(s, list_one, names), SAMSA_ECORRUPT);
    ck_assert_str_eq(names, "");
    EQ_RC(samsa_group_delete(s, "grr"), SAMSA_ECORRUPT);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* kill -9 at a random moment of a child committing two partitions in a
 * loop, telling the parent each commit that returned 0: after reopening
 * the two offsets are equal (one transaction) and are the last commit
 * acknowledged or the one in flight, under each sync policy and with a
 * mirror directory. */
START_TEST(test_commit_kill9_loop)
{
    const char *dir = test_dir_make();
    char mirror[TEST_PATH_BUF];
    test_pathf(mirror, dir, "mirror");
    char store[TEST_PATH_BUF];
    test_pathf(store, dir, "store");
    const char *mirrors[] = {mirror, NULL};
    samsa_options opt = {.sync = SAMSA_SYNC_NONE + _i % 2,
                         .replica_dirs = _i >= 2 ? mirrors : NULL,
                         .flags = SAMSA_OPEN_CREATE};
    samsa *s;
    E(samsa_open(store, &opt, &s));
    samsa_topic_config cfg = {.partitions = 2};
    E(samsa_topic_create(s, "t", &cfg));
    E(samsa_close(s));
    for (int round = 0; round < 4; round++) {
        int acks[2];
        ck_assert_int_eq(pipe(acks), 0);
        pid_t pid = test_fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(acks[0]);
            samsa *cs;
            if (samsa_open(store, &opt, &cs) != 0)
                _exit(2);
            const char *topics[] = {"t", NULL};
            samsa_consumer_config cc = {.group = "g", .topics = topics};
            samsa_consumer *c;
            samsa_message m;
            if (samsa_consumer_open(cs, &cc, &c) != 0 ||
                samsa_consumer_poll(c, &m, 0) != SAMSA_ETIMEDOUT)
                _exit(3);
            for (int32_t i = 1;; i++) {
                int64_t v = 1000 * (round + 1) + i;
                samsa_topic_partition tp[2] = {{"t", 0, v}, {"t", 1, v}};
                if (samsa_consumer_commit(c, tp, 2) != 0)
                    _exit(4);
                if (write(acks[1], &v, sizeof v) != sizeof v)
                    _exit(5);
            }
        }
        close(acks[1]);
        int64_t v, last = -1;
        int want = 5 + round * 37 + _i * 11, got = 0;
        while (got < want && read(acks[0], &v, sizeof v) == sizeof v)
            last = v, got++;
        kill(pid, SIGKILL);
        while (read(acks[0], &v, sizeof v) == sizeof v)
            last = v;
        close(acks[0]);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "child exited with %d", WEXITSTATUS(status));
        ck_assert_int_eq(got, want);
        E(samsa_open(store, &opt, &s));
        lag_list l = {0};
        E(samsa_group_offsets(s, "g", collect, &l));
        ck_assert_int_eq(l.n, 2);
        ck_assert_int_eq(l.rows[0].committed, l.rows[1].committed);
        ck_assert_msg(l.rows[0].committed == last ||
                          l.rows[0].committed == last + 1,
                      "round %d: committed %lld, last acknowledged %lld", round,
                      (long long)l.rows[0].committed, (long long)last);
        E(samsa_close(s));
    }
    test_dir_remove(dir);
}
END_TEST

/* Auto-commit commits what earlier polls returned, at a later poll and at
 * close; under SYNC_ALWAYS commits work the same (synced). */
START_TEST(test_auto_commit_synced)
{
    const char *dir = test_dir_make();
    samsa_options opt = {.sync = SAMSA_SYNC_ALWAYS};
    samsa *s;
    E(samsa_open(dir, &opt, &s));
    E(samsa_topic_create(s, "t", NULL));
    produce_n(s, "t", 0, 10);
    const char *topics[] = {"t", NULL};
    samsa_consumer_config cfg = {.group = "g",
                                 .topics = topics,
                                 .offset_reset = SAMSA_RESET_EARLIEST,
                                 .auto_commit_ms = 1};
    samsa_consumer *c;
    E(samsa_consumer_open(s, &cfg, &c));
    samsa_message m;
    for (int i = 0; i < 3; i++)
        E(samsa_consumer_poll(c, &m, 0));
    usleep(20000); /* past the interval: the next poll commits 3 first */
    E(samsa_consumer_poll(c, &m, 0));
    lag_list l = {0};
    E(samsa_group_offsets(s, "g", collect, &l));
    ck_assert_int_eq(l.n, 1);
    ck_assert_int_eq(l.rows[0].committed, 3);
    ck_assert_int_eq(l.rows[0].lag, 7);
    E(samsa_consumer_close(c)); /* commits 4 */
    l.n = 0;
    E(samsa_group_offsets(s, "g", collect, &l));
    ck_assert_int_eq(l.rows[0].committed, 4);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ---- rebalance callbacks ------------------------------------------------- */

typedef struct events {
    int assigned, revoked, lost; /* partitions told, by event */
    int commit_rc;               /* samsa_consumer_commit() in REVOKED */
    int poll_rc;                 /* samsa_consumer_poll() in the callback */
} events;

static void
on_rebalance(samsa_consumer *c, int event, const samsa_topic_partition *tp,
             size_t n, void *ctx)
{
    events *e = ctx;
    samsa_message m;
    e->poll_rc = samsa_consumer_poll(c, &m, 0);
    if (event == SAMSA_REBALANCE_ASSIGNED)
        e->assigned += (int)n;
    else if (event == SAMSA_REBALANCE_REVOKED) {
        e->revoked += (int)n;
        e->commit_rc = samsa_consumer_commit(c, tp, n);
    } else
        e->lost += (int)n;
}

static samsa_consumer *
member_cb(samsa *s, const char *gname, const char *tname, events *e,
          int session_ms)
{
    const char *topics[] = {tname, NULL};
    samsa_consumer_config cfg = {.group = gname,
                                 .topics = topics,
                                 .offset_reset = SAMSA_RESET_EARLIEST,
                                 .session_timeout_ms = session_ms,
                                 .on_rebalance = on_rebalance,
                                 .ctx = e};
    samsa_consumer *c = NULL;
    E(samsa_consumer_open(s, &cfg, &c));
    return c;
}

START_TEST(test_rebalance_callbacks)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 4};
    E(samsa_topic_create(s, "t", &cfg));
    for (int p = 0; p < 4; p++)
        produce_n(s, "t", p, 5);
    events ea = {0}, eb = {0};
    samsa_consumer *a = member_cb(s, "g", "t", &ea, 0);
    samsa_message m;
    E(samsa_consumer_poll(a, &m, 0));
    ck_assert_int_eq(ea.assigned, 4);
    EQ_RC(ea.poll_rc, SAMSA_EINVAL); /* no polling from the callback */
    samsa_consumer *b = member_cb(s, "g", "t", &eb, 0);
    /* b's targets are still a's: b waits, a revokes (committing), b takes */
    EQ_RC(samsa_consumer_poll(b, &m, 0), SAMSA_ETIMEDOUT);
    ck_assert_int_eq(eb.assigned, 0);
    E(samsa_consumer_poll(a, &m, 0));
    ck_assert_int_eq(ea.revoked, 2);
    E(ea.commit_rc);
    E(samsa_consumer_poll(b, &m, 0));
    ck_assert_int_eq(eb.assigned, 2);
    size_t na, nb;
    E(samsa_consumer_assignment(a, NULL, 0, &na));
    E(samsa_consumer_assignment(b, NULL, 0, &nb));
    ck_assert(na == 2 && nb == 2);
    /* a commit for a partition that moved away is refused */
    samsa_topic_partition tp[4];
    E(samsa_consumer_assignment(b, tp, 4, &nb));
    samsa_topic_partition moved = {"t", tp[0].partition, 1};
    EQ_RC(samsa_consumer_commit(a, &moved, 1), SAMSA_ENOTASSIGNED);
    E(samsa_consumer_close(b));
    E(samsa_consumer_poll(a, &m, 0));
    ck_assert_int_eq(ea.assigned, 6);
    E(samsa_consumer_close(a));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ---- a silent member's partitions move ----------------------------------- */

/* samsa_consumer_close() from inside the rebalance callback would free
 * the consumer under the poll that called back: it is refused, and the
 * member goes on. */
typedef struct closer {
    int rc;    /* what the close in the callback returned */
    int calls; /* callbacks */
} closer;

static void
close_in_callback(samsa_consumer *c, int event, const samsa_topic_partition *tp,
                  size_t n, void *ctx)
{
    (void)event;
    (void)tp;
    (void)n;
    closer *k = ctx;
    k->calls++;
    k->rc = samsa_consumer_close(c);
}

START_TEST(test_close_in_callback)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "t", NULL));
    produce_n(s, "t", 0, 3);
    const char *topics[] = {"t", NULL};
    closer k = {0, 0};
    samsa_consumer_config cfg = {.group = "g",
                                 .topics = topics,
                                 .offset_reset = SAMSA_RESET_EARLIEST,
                                 .auto_commit_ms = 1,
                                 .on_rebalance = close_in_callback,
                                 .ctx = &k};
    samsa_consumer *c;
    E(samsa_consumer_open(s, &cfg, &c));
    samsa_message m;
    E(samsa_consumer_poll(c, &m, 0)); /* assigned: the close is refused */
    ck_assert_int_eq(k.calls, 1);
    EQ_RC(k.rc, SAMSA_EINVAL);
    ck_assert_int_eq(m.offset, 0);
    E(samsa_consumer_unsubscribe(c)); /* revoked: refused again */
    ck_assert_int_eq(k.calls, 2);
    EQ_RC(k.rc, SAMSA_EINVAL);
    E(samsa_consumer_close(c)); /* commits 1 */
    lag_list l = {0};
    E(samsa_group_offsets(s, "g", collect, &l));
    ck_assert_int_eq(l.n, 1);
    ck_assert_int_eq(l.rows[0].committed, 1);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A topic deleted and created again under its name while the member is
 * between its group's view and opening its cursors (here: from the
 * REVOKED callback of the same rebalance).  The member must not take the
 * old topic's partition by opening the new topic's: that gave it records
 * of a partition the group never assigned it (and a committed offset of
 * the old topic read just before the swap would have placed the cursor
 * in the new one).  It takes the new topic's partition once the group
 * knows it: one ASSIGNED, no LOST. */
typedef struct swapper {
    samsa *s;
    bool swap;       /* delete and create t at the next REVOKED */
    char events[64]; /* 'A', 'R', 'L' per partition told          */
    size_t n;
} swapper;

static void
swap_on_revoke(samsa_consumer *c, int event, const samsa_topic_partition *tp,
               size_t n, void *ctx)
{
    (void)c;
    swapper *w = ctx;
    for (size_t i = 0; i < n && w->n + 1 < sizeof w->events; i++)
        w->events[w->n++] = event == SAMSA_REBALANCE_ASSIGNED  ? 'A'
                            : event == SAMSA_REBALANCE_REVOKED ? 'R'
                                                               : 'L';
    (void)tp;
    if (event == SAMSA_REBALANCE_REVOKED && w->swap) {
        w->swap = false;
        if (samsa_topic_delete(w->s, "t") == 0 &&
            samsa_topic_create(w->s, "t", NULL) == 0)
            (void)test_produce_str(w->s, "t", 0, NULL, "new");
    }
}

START_TEST(test_topic_swapped_during_take)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "u", NULL));
    E(samsa_topic_create(s, "t", NULL));
    produce_n(s, "t", 0, 3);
    const char *topics[] = {"u", NULL};
    swapper w = {.s = s};
    samsa_consumer_config cfg = {.group = "g",
                                 .topics = topics,
                                 .offset_reset = SAMSA_RESET_EARLIEST,
                                 .on_rebalance = swap_on_revoke,
                                 .ctx = &w};
    samsa_consumer *c;
    E(samsa_consumer_open(s, &cfg, &c));
    samsa_message m;
    EQ_RC(samsa_consumer_poll(c, &m, 0), SAMSA_ETIMEDOUT);
    ck_assert_str_eq(w.events, "A");
    w.swap = true;
    const char *to_t[] = {"t", NULL};
    E(samsa_consumer_subscribe(c, to_t, NULL));
    E(samsa_consumer_poll(c, &m, 0));
    ck_assert_str_eq(m.topic, "t");
    ck_assert_int_eq(m.offset, 0);
    ck_assert_int_eq(m.value_len, 3);
    ck_assert(memcmp(m.value, "new", 3) == 0);
    EQ_RC(samsa_consumer_poll(c, &m, 0), SAMSA_ETIMEDOUT);
    ck_assert_str_eq(w.events, "ARA");
    E(samsa_consumer_close(c));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* The usual REVOKED callback, samsa_consumer_commit(c, NULL, 0), in a
 * rebalance that also loses a partition of a deleted topic: the positions
 * of the partitions still owned are committed; the lost one is skipped,
 * not a reason to refuse the whole commit. */
typedef struct revoke_commit {
    int rc;      /* the commit in REVOKED, 1 before */
    int revoked; /* partitions told REVOKED         */
    int lost;    /* partitions told LOST            */
} revoke_commit;

static void
commit_on_revoke(samsa_consumer *c, int event, const samsa_topic_partition *tp,
                 size_t n, void *ctx)
{
    (void)tp;
    revoke_commit *r = ctx;
    if (event == SAMSA_REBALANCE_LOST)
        r->lost += (int)n;
    if (event == SAMSA_REBALANCE_REVOKED) {
        r->revoked += (int)n;
        r->rc = samsa_consumer_commit(c, NULL, 0);
    }
}

START_TEST(test_commit_on_revoke_with_lost)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config two = {.partitions = 2};
    E(samsa_topic_create(s, "a", &two));
    E(samsa_topic_create(s, "b", NULL));
    produce_n(s, "a", 0, 5);
    produce_n(s, "a", 1, 5);
    const char *topics[] = {"a", "b", NULL};
    revoke_commit r = {1, 0, 0};
    samsa_consumer_config cfg = {.group = "g",
                                 .topics = topics,
                                 .offset_reset = SAMSA_RESET_EARLIEST,
                                 .on_rebalance = commit_on_revoke,
                                 .ctx = &r};
    samsa_consumer *c;
    E(samsa_consumer_open(s, &cfg, &c));
    samsa_message m;
    for (int i = 0; i < 4; i++) /* two records of each a partition */
        E(samsa_consumer_poll(c, &m, 0));
    E(samsa_topic_delete(s, "b"));
    samsa_consumer *c2 = member(s, "g", 0, "a"); /* takes one of a */
    EQ_RC(samsa_consumer_poll(c, &m, 0), 0);
    ck_assert_int_eq(r.revoked, 1);
    ck_assert_int_eq(r.lost, 1);
    EQ_RC(r.rc, 0);
    lag_list l = {0};
    E(samsa_group_offsets(s, "g", collect, &l));
    ck_assert_int_eq(l.n, 2);
    ck_assert_int_eq(l.rows[0].committed, 2);
    ck_assert_int_eq(l.rows[1].committed, 2);
    E(samsa_consumer_close(c2));
    E(samsa_consumer_close(c));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_session_timeout_takeover)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 4};
    E(samsa_topic_create(s, "t", &cfg));
    events ea = {0}, eb = {0};
    /* Sessions long enough that no load makes a member that still polls
     * miss one (valgrind, TSan, a busy machine). */
    samsa_consumer *a = member_cb(s, "g", "t", &ea, 1000);
    samsa_consumer *b = member_cb(s, "g", "t", &eb, 1000);
    samsa_message m;
    for (int i = 0; i < 4; i++) { /* settle: two partitions each */
        EQ_RC(samsa_consumer_poll(a, &m, 0), SAMSA_ETIMEDOUT);
        EQ_RC(samsa_consumer_poll(b, &m, 0), SAMSA_ETIMEDOUT);
    }
    ck_assert(ea.assigned == 2 && eb.assigned == 2);
    for (int p = 0; p < 4; p++)
        produce_n(s, "t", p, 3);
    /* b polls a last time (its last heartbeat comes after t0), then goes
     * silent; a polls until it has read every record */
    int64_t t0 = samsa__deadline_after(0);
    EQ_RC(samsa_consumer_poll(b, &m, 0), 0);
    int got = 0;
    while (got < 12) { /* b's one record again: it never committed */
        int rc = samsa_consumer_poll(a, &m, LONG_MS);
        ck_assert_msg(rc == 0, "%s", samsa_strerror(rc));
        got++;
    }
    /* b's half could only come once b's 1000 ms session timed out after
     * its last poll (the coarse clock of heartbeats lags by a tick, a few
     * ms; 950 ms is a bound it cannot break) */
    ck_assert_int_ge(samsa__deadline_after(0) - t0, 950 * 1000000ll);
    ck_assert_int_eq(ea.assigned, 4);
    /* b is fenced: its commit is refused; its next poll reports the loss
     * and joins again */
    samsa_topic_partition tp[4];
    size_t nb;
    E(samsa_consumer_assignment(b, tp, 4, &nb));
    ck_assert_uint_eq(nb, 2);
    EQ_RC(samsa_consumer_commit(b, NULL, 0), SAMSA_ENOTASSIGNED);
    EQ_RC(samsa_consumer_poll(b, &m, 0), SAMSA_ETIMEDOUT);
    ck_assert_int_eq(eb.lost, 2);
    E(samsa_consumer_close(a));
    E(samsa_consumer_close(b));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ---- topics that come and go ----------------------------------------------
 */

typedef struct poller {
    samsa_consumer *c;
    int want; /* records to read before returning */
    int rc;   /* the last poll's code */
    int got;  /* records read */
    _Atomic int started;
} poller;

static void *
poller_main(void *arg)
{
    poller *p = arg;
    samsa_message m;
    atomic_store(&p->started, 1);
    while (p->got < p->want || p->want < 0) {
        if ((p->rc = samsa_consumer_poll(p->c, &m, -1)) != 0)
            break;
        p->got++;
    }
    return NULL;
}

START_TEST(test_topics_change)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 2};
    E(samsa_topic_create(s, "ev-a", &cfg));
    E(samsa_topic_create(s, "other", &cfg));
    samsa_consumer_config cc = {
        .group = "g", .pattern = "ev-.*", .offset_reset = SAMSA_RESET_EARLIEST};
    events e = {0};
    cc.on_rebalance = on_rebalance;
    cc.ctx = &e;
    samsa_consumer *c;
    E(samsa_consumer_open(s, &cc, &c));
    samsa_message m;
    EQ_RC(samsa_consumer_poll(c, &m, 0), SAMSA_ETIMEDOUT);
    ck_assert_int_eq(e.assigned, 2); /* ev-a only */
    /* a member blocked for ever wakes for a matching topic's records */
    poller p = {.c = c, .want = 1};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, poller_main, &p), 0);
    while (!atomic_load(&p.started))
        usleep(1000);
    test_produce_str(s, "other", 0, NULL, "not for us");
    E(samsa_topic_create(s, "ev-b", &cfg));
    test_produce_str(s, "ev-b", 1, NULL, "x");
    pthread_join(th, NULL);
    E(p.rc);
    ck_assert_int_eq(e.assigned, 4);
    /* deleting a subscribed topic: its partitions are lost, nothing else */
    E(samsa_topic_delete(s, "ev-a"));
    EQ_RC(samsa_consumer_seek(c, "ev-a", 0, 0), SAMSA_EDELETED);
    EQ_RC(samsa_consumer_seek_time(c, "ev-a", 1, 0), SAMSA_EDELETED);
    EQ_RC(samsa_consumer_poll(c, &m, 0), SAMSA_ETIMEDOUT);
    ck_assert_int_eq(e.lost, 2);
    samsa_topic_partition tp[4];
    size_t n;
    E(samsa_consumer_assignment(c, tp, 4, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(tp[0].topic, "ev-b");
    EQ_RC(samsa_consumer_seek(c, "ev-a", 0, 0), SAMSA_ENOTASSIGNED);
    /* a topic named in a list is read once created */
    const char *topics[] = {"later", NULL};
    samsa_consumer_config lc = {
        .group = "h", .topics = topics, .offset_reset = SAMSA_RESET_EARLIEST};
    samsa_consumer *l;
    E(samsa_consumer_open(s, &lc, &l));
    EQ_RC(samsa_consumer_poll(l, &m, 0), SAMSA_ETIMEDOUT);
    E(samsa_topic_create(s, "later", NULL));
    test_produce_str(s, "later", 0, NULL, "y");
    E(samsa_consumer_poll(l, &m, 0));
    ck_assert_str_eq(m.topic, "later");
    E(samsa_consumer_close(l));
    E(samsa_consumer_close(c));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* Count the consumer groups samsa_group_list() names. */
static int
count_group(const char *name, samsa_group_type type, void *ctx)
{
    (void)name;
    *(int *)ctx += type == SAMSA_GROUP_CONSUMER;
    return 0;
}

/* A topic deleted (and created again under its name) between a poll and a
 * commit: the commit of the old topic's partition, explicit or of the
 * positions (auto-commit at close), is refused and writes nothing; no
 * offset of the old topic lands in the catalog under its dead id (where it
 * would stay for ever, listing the group), and none applies to the new
 * topic. */
START_TEST(test_commit_deleted_topic)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 2};
    E(samsa_topic_create(s, "t", &cfg));
    for (int p = 0; p < 2; p++)
        produce_n(s, "t", p, 5);
    pthread_rwlock_rdlock(&s->table_lock);
    uint64_t old = store_topic_find(s, "t")->id;
    pthread_rwlock_unlock(&s->table_lock);
    const char *topics[] = {"t", NULL};
    samsa_consumer_config cc = {.group = "g",
                                .topics = topics,
                                .offset_reset = SAMSA_RESET_EARLIEST,
                                .auto_commit_ms = 3600000};
    samsa_consumer *c;
    E(samsa_consumer_open(s, &cc, &c));
    samsa_message m;
    E(samsa_consumer_poll(c, &m, 0));
    E(samsa_consumer_poll(c, &m, 0));
    E(samsa_topic_delete(s, "t"));
    E(samsa_topic_create(s, "t", &cfg));
    produce_n(s, "t", 0, 5);
    samsa_topic_partition tp = {"t", 0, 3};
    EQ_RC(samsa_consumer_commit(c, &tp, 1), SAMSA_ENOTASSIGNED);
    E(samsa_consumer_commit(c, NULL, 0)); /* the positions: left out */
    catalog_group_offset got[2] = {{old, 0, 0}, {old, 1, 0}};
    E(catalog_group_get(&s->cat, "g", got, 2));
    ck_assert_int_eq(got[0].offset, -1);
    ck_assert_int_eq(got[1].offset, -1);
    int groups = 0;
    E(samsa_group_list(s, count_group, &groups));
    ck_assert_int_eq(groups, 1); /* g, by its member only */
    E(samsa_consumer_close(c));  /* auto-commit of the old positions */
    E(catalog_group_get(&s->cat, "g", got, 2));
    ck_assert_int_eq(got[0].offset, -1);
    ck_assert_int_eq(got[1].offset, -1);
    groups = 0;
    E(samsa_group_list(s, count_group, &groups));
    ck_assert_int_eq(groups, 0);
    EQ_RC(samsa_group_delete(s, "g"), SAMSA_ENOGROUP);
    /* the new topic starts where the reset policy says */
    cc.auto_commit_ms = 0;
    E(samsa_consumer_open(s, &cc, &c));
    E(samsa_consumer_poll(c, &m, 0));
    ck_assert_int_eq(m.partition, 0);
    ck_assert_int_eq(m.offset, 0);
    E(samsa_consumer_close(c));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* Offsets a catalog holds under a removed topic's id (as commits wrote
 * them before test_commit_deleted_topic's fix) are dropped at open: they
 * no longer list their group; other offsets stay. */
START_TEST(test_stray_offsets_dropped)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "t", NULL));
    E(samsa_topic_create(s, "u", NULL));
    produce_n(s, "u", 0, 5);
    pthread_rwlock_rdlock(&s->table_lock);
    uint64_t dead = store_topic_find(s, "t")->id;
    uint64_t live = store_topic_find(s, "u")->id;
    pthread_rwlock_unlock(&s->table_lock);
    E(samsa_topic_delete(s, "t"));
    catalog_group_offset stray = {dead, 0, 5}, kept = {live, 0, 3};
    E(catalog_group_commit(&s->cat, "ghost", &stray, 1));
    E(catalog_group_commit(&s->cat, "real", &kept, 1));
    int groups = 0;
    E(samsa_group_list(s, count_group, &groups));
    ck_assert_int_eq(groups, 2);
    E(samsa_close(s));
    s = test_open(dir);
    groups = 0;
    E(samsa_group_list(s, count_group, &groups));
    ck_assert_int_eq(groups, 1);
    EQ_RC(samsa_group_delete(s, "ghost"), SAMSA_ENOGROUP);
    lag_list l = {0};
    E(samsa_group_offsets(s, "real", collect, &l));
    ck_assert_int_eq(l.n, 1);
    ck_assert_int_eq(l.rows[0].committed, 3);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ---- samsa_close() under blocked members ----------------------------------
 */

START_TEST(test_close_while_blocked)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 3};
    E(samsa_topic_create(s, "t", &cfg));
    poller p[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        p[i] = (poller){.c = member(s, i < 2 ? "g" : "h", 0, "t"), .want = -1};
        ck_assert_int_eq(pthread_create(&th[i], NULL, poller_main, &p[i]), 0);
    }
    for (int i = 0; i < 3; i++)
        while (!atomic_load(&p[i].started))
            usleep(1000);
    usleep(20000); /* most likely asleep in the poll; either way must work */
    E(samsa_close(s));
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        EQ_RC(p[i].rc, SAMSA_ECLOSED);
        samsa_message m;
        EQ_RC(samsa_consumer_poll(p[i].c, &m, -1), SAMSA_ECLOSED);
        EQ_RC(samsa_consumer_commit(p[i].c, NULL, 0), SAMSA_ECLOSED);
        size_t n;
        EQ_RC(samsa_consumer_assignment(p[i].c, NULL, 0, &n), SAMSA_ECLOSED);
        EQ_RC(samsa_consumer_seek(p[i].c, "t", 0, 0), SAMSA_ECLOSED);
        E(samsa_consumer_close(p[i].c)); /* frees only */
    }
    test_dir_remove(dir);
}
END_TEST

/* ---- wakeup ----------------------------------------------------------------
 */

START_TEST(test_wakeup)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "t", NULL));
    samsa_consumer *c = member(s, "g", 0, "t");
    samsa_message m;
    EQ_RC(samsa_consumer_poll(c, &m, 0), SAMSA_ETIMEDOUT);
    /* A member blocked for ever, woken from another thread, three times. */
    for (int round = 0; round < 3; round++) {
        poller p = {.c = c, .want = 1};
        pthread_t th;
        ck_assert_int_eq(pthread_create(&th, NULL, poller_main, &p), 0);
        while (!atomic_load(&p.started))
            usleep(1000);
        usleep(round * 10000); /* asleep in the poll, or about to be */
        E(samsa_consumer_wakeup(c));
        pthread_join(th, NULL);
        EQ_RC(p.rc, SAMSA_EWAKEUP);
        ck_assert_int_eq(p.got, 0);
    }
    /* One wakeup is consumed by one poll, records or not; then the
     * records come. */
    test_produce_str(s, "t", 0, NULL, "a");
    E(samsa_consumer_wakeup(c));
    E(samsa_consumer_wakeup(c)); /* still one */
    EQ_RC(samsa_consumer_poll(c, &m, 0), SAMSA_EWAKEUP);
    E(samsa_consumer_poll(c, &m, LONG_MS));
    ck_assert_int_eq(m.offset, 0);
    EQ_RC(samsa_consumer_poll(c, &m, 0), SAMSA_ETIMEDOUT);
    EQ_RC(samsa_consumer_wakeup(NULL), SAMSA_EINVAL);

    /* A queue receiver: the same. */
    samsa_queue *q;
    E(samsa_queue_open(s, "w", "t", NULL, &q));
    samsa_delivery d;
    size_t n;
    E(samsa_queue_receive(q, &d, 1, &n, LONG_MS)); /* offset 0 */
    E(samsa_queue_ack(q, &d, 1, SAMSA_ACK_ACCEPT));
    E(samsa_queue_wakeup(q));
    EQ_RC(samsa_queue_receive(q, &d, 1, &n, LONG_MS), SAMSA_EWAKEUP);
    ck_assert_uint_eq(n, 0);
    EQ_RC(samsa_queue_receive(q, &d, 1, &n, 0), SAMSA_ETIMEDOUT);
    EQ_RC(samsa_queue_wakeup(NULL), SAMSA_EINVAL);
    E(samsa_close(s));
    /* After samsa_close(): nothing to wake, and nothing touched. */
    EQ_RC(samsa_consumer_wakeup(c), SAMSA_ECLOSED);
    EQ_RC(samsa_queue_wakeup(q), SAMSA_ECLOSED);
    E(samsa_consumer_close(c));
    E(samsa_queue_close(q));
    test_dir_remove(dir);
}
END_TEST

/* ---- subscriptions that change ----------------------------------------------
 */

/* The member's assignment as "topic-p topic-p ...". */
static const char *
assignment_str(samsa_consumer *c)
{
    static char buf[256];
    samsa_topic_partition tp[16];
    size_t n;
    E(samsa_consumer_assignment(c, tp, 16, &n));
    buf[0] = '\0';
    for (size_t i = 0; i < n && i < 16; i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s-%d",
                 i ? " " : "", tp[i].topic, (int)tp[i].partition);
    return buf;
}

START_TEST(test_resubscribe)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 2};
    E(samsa_topic_create(s, "a", &cfg));
    E(samsa_topic_create(s, "b", &cfg));
    produce_n(s, "a", 0, 1);
    produce_n(s, "b", 1, 1);
    events e = {0};
    samsa_consumer *c = member_cb(s, "g", "a", &e, 0);
    samsa_message m;
    E(samsa_consumer_poll(c, &m, LONG_MS));
    ck_assert_str_eq(m.topic, "a");
    ck_assert_str_eq(assignment_str(c), "a-0 a-1");
    ck_assert_int_eq(e.assigned, 2);

    /* To b: a's partitions are revoked within the call (committed in the
     * callback), b's assigned. */
    const char *tb[] = {"b", NULL};
    E(samsa_consumer_subscribe(c, tb, NULL));
    ck_assert_int_eq(e.revoked, 2);
    E(e.commit_rc);
    ck_assert_int_eq(e.assigned, 4);
    ck_assert_str_eq(assignment_str(c), "b-0 b-1");
    E(samsa_consumer_poll(c, &m, LONG_MS));
    ck_assert_str_eq(m.topic, "b");
    ck_assert_int_eq(m.partition, 1);

    /* Unsubscribe: nothing owned, nothing read. */
    E(samsa_consumer_unsubscribe(c));
    ck_assert_int_eq(e.revoked, 4);
    ck_assert_str_eq(assignment_str(c), "");
    produce_n(s, "b", 0, 1);
    EQ_RC(samsa_consumer_poll(c, &m, 0), SAMSA_ETIMEDOUT);

    /* A pattern: both topics; a resumes after its commit (offset 1, none
     * left), b-0 from the start (nothing committed there). */
    E(samsa_consumer_subscribe(c, NULL, "a|b"));
    ck_assert_str_eq(assignment_str(c), "a-0 a-1 b-0 b-1");
    E(samsa_consumer_poll(c, &m, LONG_MS));
    ck_assert_str_eq(m.topic, "b");
    ck_assert_int_eq(m.partition, 0);

    /* Bad calls change nothing. */
    const char *bad[] = {"bad/name", NULL};
    EQ_RC(samsa_consumer_subscribe(c, bad, NULL), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_subscribe(c, NULL, "(unclosed"), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_subscribe(c, NULL, NULL), SAMSA_EINVAL);
    const char *none[] = {NULL};
    EQ_RC(samsa_consumer_subscribe(c, none, NULL), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_subscribe(NULL, tb, NULL), SAMSA_EINVAL);
    EQ_RC(samsa_consumer_unsubscribe(NULL), SAMSA_EINVAL);
    ck_assert_str_eq(assignment_str(c), "a-0 a-1 b-0 b-1");
    E(samsa_consumer_close(c));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* Two members; one moves to another topic: the other takes all of the
 * first topic once the mover let go (in its subscribe call). */
START_TEST(test_resubscribe_moves_partitions)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = 4};
    E(samsa_topic_create(s, "a", &cfg));
    E(samsa_topic_create(s, "b", &cfg));
    samsa_consumer *x = member(s, "g", SAMSA_ASSIGN_RANGE, "a");
    samsa_consumer *y = member(s, "g", SAMSA_ASSIGN_RANGE, "a");
    samsa_message m;
    for (int i = 0; i < 3; i++) {
        (void)samsa_consumer_poll(x, &m, 0);
        (void)samsa_consumer_poll(y, &m, 0);
    }
    ck_assert_str_eq(assignment_str(x), "a-0 a-1");
    ck_assert_str_eq(assignment_str(y), "a-2 a-3");
    const char *tb[] = {"b", NULL};
    E(samsa_consumer_subscribe(y, tb, NULL));
    ck_assert_str_eq(assignment_str(y), "b-0 b-1 b-2 b-3");
    EQ_RC(samsa_consumer_poll(x, &m, 0), SAMSA_ETIMEDOUT);
    ck_assert_str_eq(assignment_str(x), "a-0 a-1 a-2 a-3");
    E(samsa_consumer_close(x));
    E(samsa_consumer_close(y));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ---- many members, two groups, every record once per group -----------------
 */

#define PG_TOPIC_PARTS 6
#define PG_RECORDS     3000

typedef struct counter {
    samsa *s;
    const char *group;
    _Atomic int *seen;  /* per record id: deliveries to this group */
    _Atomic int *total; /* records delivered to the group */
    _Atomic int *stop;  /* set when the group has them all */
    int quit_after;     /* > 0: close after this many records */
    char err[128];
} counter;

static void *
counter_main(void *arg)
{
    counter *k = arg;
    const char *topics[] = {"t", NULL};
    samsa_consumer_config cfg = {.group = k->group,
                                 .topics = topics,
                                 .offset_reset = SAMSA_RESET_EARLIEST,
                                 .auto_commit_ms = 5};
    samsa_consumer *c;
    int rc = samsa_consumer_open(k->s, &cfg, &c), mine = 0;
    if (rc != 0) {
        snprintf(k->err, sizeof k->err, "open: %s", samsa_strerror(rc));
        return NULL;
    }
    samsa_message ms[32];
    while (!atomic_load(k->stop)) {
        size_t n;
        rc = samsa_consumer_poll_batch(c, ms, 32, &n, 20);
        if (rc == SAMSA_ETIMEDOUT)
            continue;
        if (rc != 0) {
            snprintf(k->err, sizeof k->err, "poll: %s", samsa_strerror(rc));
            break;
        }
        for (size_t i = 0; i < n; i++) {
            int id = atoi(ms[i].value);
            if (id < 0 || id >= PG_RECORDS) {
                snprintf(k->err, sizeof k->err, "bad record %d", id);
                break;
            }
            atomic_fetch_add(&k->seen[id], 1);
            if (atomic_fetch_add(k->total, 1) + 1 == PG_RECORDS)
                atomic_store(k->stop, 1);
        }
        if (k->quit_after > 0 && (mine += (int)n) >= k->quit_after)
            break;
    }
    rc = samsa_consumer_close(c); /* auto-commit: nothing read twice */
    if (rc != 0 && k->err[0] == '\0')
        snprintf(k->err, sizeof k->err, "close: %s", samsa_strerror(rc));
    return NULL;
}

START_TEST(test_groups_every_record_once)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = PG_TOPIC_PARTS};
    E(samsa_topic_create(s, "t", &cfg));
    static _Atomic int seen[2][PG_RECORDS];
    _Atomic int total[2] = {0, 0}, stop[2] = {0, 0};
    memset(seen, 0, sizeof seen);
    counter k[6];
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        int g = i < 4 ? 0 : 1;
        k[i] = (counter){.s = s,
                         .group = g ? "g2" : "g1",
                         .seen = seen[g],
                         .total = &total[g],
                         .stop = &stop[g],
                         .quit_after = i == 0 ? PG_RECORDS / 8 : 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, counter_main, &k[i]), 0);
    }
    char v[16];
    for (int id = 0; id < PG_RECORDS; id++) {
        snprintf(v, sizeof v, "%d", id);
        test_produce_str(s, "t", id % PG_TOPIC_PARTS, NULL, v);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(k[i].err[0] == '\0', "member %d: %s", i, k[i].err);
    }
    for (int g = 0; g < 2; g++)
        for (int id = 0; id < PG_RECORDS; id++)
            ck_assert_msg(atomic_load(&seen[g][id]) == 1,
                          "group %d record %d delivered %d times", g, id,
                          atomic_load(&seen[g][id]));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ---- churn: members joining, leaving, resubscribing at once ---------------
 *
 * Each worker runs one member after another and does random things with
 * it: polls, commits, subscribes again (the same topic, or nothing and
 * then the topic), wakes itself, closes and opens again.  A shared table
 * says who holds each partition, kept by the rebalance callbacks: a
 * partition assigned while another member holds it, revoked from a member
 * that does not, or a record returned to a member that does not hold its
 * partition, is a failure.  At the end every committed offset is one the
 * group had read up to (at-least-once). */

#define CH_PARTS   6
#define CH_RECORDS 200 /* per partition */
#define CH_WORKERS 4

typedef struct churn {
    _Atomic int owner[CH_PARTS];            /* member id, or -1        */
    _Atomic int seen[CH_PARTS][CH_RECORDS]; /* deliveries per record   */
    _Atomic int held;                       /* rebalance errors so far */
    _Atomic int lost;                       /* partitions told LOST    */
    char err[CH_WORKERS][160];              /* per worker              */
    bool expiry; /* members stall past short session timeouts: a member
                    expelled learns it only at its next call, so the
                    table is not kept; each member checks its records
                    against its own assignment instead */
} churn;

typedef struct churn_member {
    churn *ch;
    int id; /* unique per member */
    char *err;
} churn_member;

static void
churn_fail(churn_member *cm, const char *what, int p, int other)
{
    if (cm->err[0] == '\0')
        snprintf(cm->err, 160, "member %d: %s partition %d (held by %d)",
                 cm->id, what, p, other);
    atomic_fetch_add(&cm->ch->held, 1);
}

static void
churn_rebalance(samsa_consumer *c, int event, const samsa_topic_partition *tp,
                size_t n, void *ctx)
{
    (void)c;
    churn_member *cm = ctx;
    if (event == SAMSA_REBALANCE_LOST)
        atomic_fetch_add(&cm->ch->lost, (int)n);
    for (size_t i = 0; !cm->ch->expiry && i < n; i++) {
        int p = tp[i].partition;
        int want = event == SAMSA_REBALANCE_ASSIGNED ? -1 : cm->id;
        int to = event == SAMSA_REBALANCE_ASSIGNED ? cm->id : -1;
        if (!atomic_compare_exchange_strong(&cm->ch->owner[p], &want, to))
            churn_fail(
                cm, event == SAMSA_REBALANCE_ASSIGNED ? "assigned" : "released",
                p, want);
    }
}

typedef struct churn_worker {
    samsa *s;
    churn *ch;
    int w;
} churn_worker;

/* Let go of the table's partitions of cm before its close (close gives
 * them away with no callback; until it does, no one else can take them). */
static void
churn_close(samsa_consumer *c, churn_member *cm)
{
    for (int p = 0; p < CH_PARTS; p++) {
        int me = cm->id;
        atomic_compare_exchange_strong(&cm->ch->owner[p], &me, -1);
    }
    int rc = samsa_consumer_close(c);
    if (rc != 0 && cm->err[0] == '\0')
        snprintf(cm->err, 160, "close: %s", samsa_strerror(rc));
}

static void *
churn_main(void *arg)
{
    churn_worker *w = arg;
    char *err = w->ch->err[w->w];
    const char *topics[] = {"t", NULL};
    churn_member cm = {w->ch, w->w * 1000, err};
    samsa_consumer_config cfg = {.group = "g",
                                 .topics = topics,
                                 .offset_reset = SAMSA_RESET_EARLIEST,
                                 .on_rebalance = churn_rebalance,
                                 .ctx = &cm,
                                 .session_timeout_ms = w->ch->expiry ? 20 : 0};
    samsa_consumer *c = NULL;
    unsigned seed = (unsigned)w->w * 7919u + 1;
    samsa_message ms[16];
    for (int step = 0; step < 400 && err[0] == '\0'; step++) {
        int rc = 0;
        if (c == NULL) {
            cm.id++;
            cfg.auto_commit_ms = (int)(rand_r(&seed) % 3); /* 0, 1, 2 ms */
            rc = samsa_consumer_open(w->s, &cfg, &c);
            if (rc != 0)
                break;
        }
        size_t n = 0;
        switch (rand_r(&seed) % 8) {
        case 0:
            rc = samsa_consumer_subscribe(c, topics, NULL);
            break;
        case 1:
            rc = samsa_consumer_unsubscribe(c);
            if (rc == 0)
                rc = samsa_consumer_subscribe(c, topics, NULL);
            break;
        case 2:
            rc = samsa_consumer_wakeup(c);
            if (rc == 0 && (rc = samsa_consumer_poll_batch(
                                c, ms, 16, &n, 50)) != SAMSA_EWAKEUP)
                snprintf(err, 160, "poll after wakeup: %s", samsa_strerror(rc));
            rc = 0;
            break;
        case 3:
            churn_close(c, &cm);
            c = NULL;
            break;
        case 4:
            rc = samsa_consumer_commit(c, NULL, 0);
            if (w->ch->expiry && rc == SAMSA_ENOTASSIGNED)
                rc = 0; /* expelled since its last call */
            if (w->ch->expiry)
                usleep(rand_r(&seed) % 40000); /* past its session, or not */
            break;
        default:
            rc = samsa_consumer_poll_batch(c, ms, 16, &n, 2);
            if (rc == SAMSA_ETIMEDOUT)
                rc = 0;
            samsa_topic_partition own[CH_PARTS];
            size_t nown = 0;
            if (rc == 0 && n > 0)
                rc = samsa_consumer_assignment(c, own, CH_PARTS, &nown);
            for (size_t i = 0; rc == 0 && i < n; i++) {
                int p = ms[i].partition;
                int held = atomic_load(&w->ch->owner[p]);
                bool mine = false;
                for (size_t k = 0; k < nown; k++)
                    mine |= own[k].partition == p;
                if (!mine || (!w->ch->expiry && held != cm.id))
                    churn_fail(&cm, "record from", p, held);
                if (ms[i].offset >= 0 && ms[i].offset < CH_RECORDS)
                    atomic_fetch_add(&w->ch->seen[p][ms[i].offset], 1);
            }
        }
        if (rc != 0 && err[0] == '\0')
            snprintf(err, 160, "step %d: %s", step, samsa_strerror(rc));
    }
    if (c != NULL)
        churn_close(c, &cm);
    return NULL;
}

static int
churn_offsets(const samsa_group_offset *o, void *ctx)
{
    int64_t *committed = ctx;
    committed[o->partition] = o->committed;
    return 0;
}

START_TEST(test_churn_exclusive)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    samsa_topic_config cfg = {.partitions = CH_PARTS};
    E(samsa_topic_create(s, "t", &cfg));
    for (int p = 0; p < CH_PARTS; p++)
        produce_n(s, "t", p, CH_RECORDS);
    static churn ch;
    memset(&ch, 0, sizeof ch);
    ch.expiry = _i == 1;
    for (int p = 0; p < CH_PARTS; p++)
        atomic_store(&ch.owner[p], -1);
    churn_worker w[CH_WORKERS];
    pthread_t th[CH_WORKERS];
    for (int i = 0; i < CH_WORKERS; i++) {
        w[i] = (churn_worker){s, &ch, i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, churn_main, &w[i]), 0);
    }
    for (int i = 0; i < CH_WORKERS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < CH_WORKERS; i++)
        ck_assert_msg(ch.err[i][0] == '\0', "worker %d: %s", i, ch.err[i]);
    ck_assert_int_eq(atomic_load(&ch.held), 0);
    for (int p = 0; p < CH_PARTS; p++)
        ck_assert_int_eq(atomic_load(&ch.owner[p]), -1);
    int64_t committed[CH_PARTS];
    for (int p = 0; p < CH_PARTS; p++)
        committed[p] = -1;
    E(samsa_group_offsets(s, "g", churn_offsets, committed));
    long got = 0, sum = 0;
    for (int p = 0; p < CH_PARTS; p++) {
        sum += committed[p] > 0 ? committed[p] : 0;
        for (int o = 0; o < CH_RECORDS; o++)
            got += atomic_load(&ch.seen[p][o]);
    }
    printf("group: churn%s: %ld records delivered, %ld committed, %d "
           "partitions lost\n",
           ch.expiry ? " with expiry" : "", got, sum, atomic_load(&ch.lost));
    ck_assert(ch.expiry || atomic_load(&ch.lost) == 0);
    ck_assert_int_gt(got, 0);
    for (int p = 0; p < CH_PARTS; p++)
        for (int64_t o = 0; o < committed[p]; o++)
            ck_assert_msg(atomic_load(&ch.seen[p][o]) > 0,
                          "partition %d: committed %lld, never read %lld", p,
                          (long long)committed[p], (long long)o);
    /* and the group settles: every partition owned exactly once */
    samsa_consumer *ms[2] = {member(s, "g", 0, "t"), member(s, "g", 0, "t")};
    samsa_message m;
    for (int round = 0; round < 3 * CH_PARTS * CH_RECORDS; round++)
        if (samsa_consumer_poll(ms[round % 2], &m, 0) == SAMSA_ETIMEDOUT &&
            samsa_consumer_poll(ms[1 - round % 2], &m, 0) == SAMSA_ETIMEDOUT)
            break;
    int owners[CH_PARTS] = {0};
    for (int i = 0; i < 2; i++) {
        samsa_topic_partition tp[CH_PARTS];
        size_t k;
        E(samsa_consumer_assignment(ms[i], tp, CH_PARTS, &k));
        ck_assert_uint_eq(k, CH_PARTS / 2);
        for (size_t j = 0; j < k; j++)
            owners[tp[j].partition]++;
    }
    for (int p = 0; p < CH_PARTS; p++)
        ck_assert_int_eq(owners[p], 1);
    E(samsa_consumer_close(ms[0]));
    E(samsa_consumer_close(ms[1]));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

Suite *
group_suite(void)
{
    Suite *su = suite_create("group");
    TCase *tc = tcase_create("group");
    tcase_add_test(tc, test_assignors);
    tcase_add_loop_test(tc, test_ownership_exact, 0, 3);
    tcase_add_test(tc, test_poll_fair_and_ordered);
    tcase_add_test(tc, test_offset_reset);
    tcase_add_test(tc, test_poll_corrupt);
    tcase_add_test(tc, test_pause_seek);
    tcase_add_test(tc, test_open_errors);
    tcase_add_test(tc, test_commit_lag_resume);
    tcase_add_test(tc, test_group_offsets_corrupt);
    tcase_add_test(tc, test_commit_survives_kill9);
    tcase_add_test(tc, test_commit_damaged_live);
    tcase_add_test(tc, test_commit_damaged_healed);
    tcase_add_test(tc, test_group_name_damaged_live);
    tcase_add_loop_test(tc, test_commit_kill9_loop, 0, 4);
    tcase_add_test(tc, test_auto_commit_synced);
    tcase_add_test(tc, test_rebalance_callbacks);
    tcase_add_test(tc, test_close_in_callback);
    tcase_add_test(tc, test_topic_swapped_during_take);
    tcase_add_test(tc, test_commit_on_revoke_with_lost);
    tcase_add_test(tc, test_session_timeout_takeover);
    tcase_add_test(tc, test_topics_change);
    tcase_add_test(tc, test_commit_deleted_topic);
    tcase_add_test(tc, test_stray_offsets_dropped);
    tcase_add_test(tc, test_close_while_blocked);
    tcase_add_test(tc, test_wakeup);
    tcase_add_test(tc, test_resubscribe);
    tcase_add_test(tc, test_resubscribe_moves_partitions);
    tcase_add_test(tc, test_groups_every_record_once);
    tcase_add_loop_test(tc, test_churn_exclusive, 0, 2);
    suite_add_tcase(su, tc);
    return su;
}
