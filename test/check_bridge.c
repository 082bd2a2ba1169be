/*
 * check_bridge.c - the Kafka bridge (libsamsa-kafka, samsa_kafka.h) against
 * librdkafka's mock cluster: records mirrored and read back with a
 * librdkafka consumer field by field, a mirror that follows a store while
 * it is written, kill -9 of a `samsa mirror` process at random points,
 * consumer groups carried with their offsets translated, import back into
 * a store, and a broker that goes away.
 *
 * Only built with librdkafka (the Makefile leaves this file out without
 * it, and test.h the suite).  The mock cluster lives in the test's process;
 * a child `samsa mirror` reaches it over loopback.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "samsa_kafka.h"
#include "test.h"

/* A mock cluster of one broker and the handle that owns it. */
typedef struct mock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    const char *bootstrap;
} mock;

static void
mock_start(mock *mk)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "2", err, sizeof err);
    mk->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    ck_assert_ptr_nonnull(mk->rk);
    mk->mc = rd_kafka_mock_cluster_new(mk->rk, 1);
    ck_assert_ptr_nonnull(mk->mc);
    mk->bootstrap = rd_kafka_mock_cluster_bootstraps(mk->mc);
}

static void
mock_stop(mock *mk)
{
    if (mk->mc != NULL)
        rd_kafka_mock_cluster_destroy(mk->mc);
    rd_kafka_destroy(mk->rk);
    mk->mc = NULL;
}

/* A consumer of the mock cluster, in group (or none). */
static rd_kafka_t *
consumer_new(const mock *mk, const char *group)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", mk->bootstrap, err,
                      sizeof err);
    rd_kafka_conf_set(conf, "log_level", "2", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    /* librdkafka's consumer needs a group even to be assigned
     * partitions; nothing is committed to "check". */
    rd_kafka_conf_set(conf, "group.id", group != NULL ? group : "check", err,
                      sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    ck_assert_msg(rk != NULL, "%s", err);
    return rk;
}

static int64_t
kafka_end(rd_kafka_t *rk, const char *topic, int32_t p)
{
    int64_t lo, hi;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
    ck_assert_msg(err == 0, "watermarks: %s", rd_kafka_err2str(err));
    return hi;
}

static bool
bytes_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    if ((a == NULL) != (b == NULL) || alen != blen)
        return false;
    return alen == 0 || memcmp(a, b, alen) == 0;
}

/* NULL when Kafka's message m is record i of test_gen(), else what
 * differs. */
static const char *
kafka_mismatch(const rd_kafka_message_t *m, int64_t i)
{
    test_grec g;
    test_gen(&g, i);
    const samsa_record *r = &g.r;
    if (!bytes_eq(m->key, m->key_len, r->key, r->key_len))
        return "key";
    if (!bytes_eq(m->payload, m->len, r->value, r->value_len))
        return "value";
    rd_kafka_timestamp_type_t tt;
    if (rd_kafka_message_timestamp(m, &tt) != r->timestamp ||
        tt != RD_KAFKA_TIMESTAMP_CREATE_TIME)
        return "timestamp";
    rd_kafka_headers_t *h = NULL;
    size_t nh = 0;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR)
        nh = rd_kafka_header_cnt(h);
    if (nh != r->header_count)
        return "header count";
    for (size_t j = 0; j < nh; j++) {
        const char *name;
        const void *v;
        size_t vl;
        rd_kafka_header_get_all(h, j, &name, &v, &vl);
        if (strcmp(name, r->headers[j].key) != 0)
            return "header key";
        if (!bytes_eq(v, vl, r->headers[j].value, r->headers[j].value_len))
            return "header value";
    }
    return NULL;
}

/* Kafka's topic-p must hold exactly records from..to-1 of test_gen(), at
 * Kafka offsets kfrom.. (read with a consumer from kfrom to its end). */
static void
kafka_check(const mock *mk, const char *topic, int32_t p, int64_t kfrom,
            int64_t from, int64_t to)
{
    rd_kafka_t *c = consumer_new(mk, NULL);
    ck_assert_int_eq(kafka_end(c, topic, p), kfrom + (to - from));
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, p)->offset = kfrom;
    ck_assert_int_eq(rd_kafka_assign(c, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
    for (int64_t i = from; i < to;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 10000);
        ck_assert_msg(m != NULL, "%s/%d: no record at %" PRId64, topic, p, i);
        if (m->err != 0) {
            ck_assert_msg(m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF, "%s",
                          rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        ck_assert_int_eq(m->partition, p);
        ck_assert_int_eq(m->offset, kfrom + (i - from));
        const char *w = kafka_mismatch(m, i);
        ck_assert_msg(w == NULL, "%s/%d record %" PRId64 ": %s differs", topic,
                      p, i, w);
        rd_kafka_message_destroy(m);
        i++;
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

static samsa *
open_rdonly(const char *dir)
{
    samsa_options o = {.flags = SAMSA_OPEN_RDONLY};
    samsa *s = NULL;
    E(samsa_open(dir, &o, &s));
    return s;
}

typedef struct errs {
    int rc;
    char msg[512];
    int calls;
} errs;

static void
on_err(int rc, const char *msg, void *ctx)
{
    errs *e = ctx;
    e->rc = rc;
    e->calls++;
    snprintf(e->msg, sizeof e->msg, "%s", msg);
}

/* A mock cluster with topic (partitions partitions) in Kafka and in a new
 * store, open for writing, and the mirror's state file's path. */
typedef struct fixture {
    mock mk;
    const char *dir;
    samsa *w;
    char state[PATH_MAX];
} fixture;

static void
fixture_start(fixture *f, const char *topic, int32_t partitions)
{
    mock_start(&f->mk);
    ck_assert_int_eq(rd_kafka_mock_topic_create(f->mk.mc, topic, partitions, 1),
                     0);
    f->dir = test_dir_make();
    f->w = test_open(f->dir);
    samsa_topic_config cfg = {.partitions = partitions};
    E(samsa_topic_create(f->w, topic, &cfg));
    snprintf(f->state, sizeof f->state, "%s/mirror.state", f->dir);
}

static void
fixture_end(fixture *f)
{
    E(samsa_close(f->w));
    mock_stop(&f->mk);
    test_dir_remove(f->dir);
}

/* Wait (up to 10 s) until Kafka acknowledged n records of m; its stats. */
static samsa_mirror_stats
wait_records(samsa_mirror *m, uint64_t n)
{
    samsa_mirror_stats st;
    for (int i = 0; i < 1000; i++) {
        E(samsa_mirror_status(m, &st, NULL, 0));
        if (st.records >= n)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ck_assert_uint_eq(st.records, n);
    return st;
}

/* samsa_mirror_start() with cfg (whose ctx is er) must fail with want,
 * telling on_error once, with needle in its message. */
static void
start_fails(samsa *s, samsa_mirror_config *cfg, errs *er, int want,
            const char *needle)
{
    samsa_mirror *m = NULL;
    *er = (errs){0};
    cfg->on_error = on_err;
    cfg->ctx = er;
    EQ_RC(samsa_mirror_start(s, cfg, &m), want);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(er->calls, 1);
    ck_assert_int_eq(er->rc, want);
    ck_assert_msg(strstr(er->msg, needle) != NULL, "%s", er->msg);
}

/* Partition p of topic t of s holds exactly records from..to-1 of
 * test_gen(), from offset 0 (imported from Kafka offset from on). */
static void
check_imported(samsa *s, int32_t p, int64_t from, int64_t to)
{
    samsa_cursor *cur;
    samsa_message msg;
    E(samsa_cursor_open(s, "t", p, 0, &cur));
    for (int64_t i = from; i < to; i++) {
        E(samsa_cursor_next(cur, &msg, 0));
        ck_assert_int_eq(msg.offset, i - from);
        msg.offset = i; /* the content is record i's */
        TEST_CHECK_GEN(&msg, i);
    }
    EQ_RC(samsa_cursor_next(cur, &msg, 0), SAMSA_ETIMEDOUT);
    samsa_cursor_close(cur);
}

/* ---- 20,000 records across 8 partitions, there and back -------------- */

#define NPART    8
#define PER_PART (test_long() ? 10000 : 2500)

START_TEST(test_mirror_exact_and_import)
{
    fixture f;
    fixture_start(&f, "t", NPART);
    mock mk = f.mk;
    samsa *w = f.w;
    ck_assert_int_eq(rd_kafka_mock_topic_create(mk.mc, "few", 2, 1), 0);
    /* Exactly PER_PART records a partition (test_produce_upto() may
     * overshoot), 20,000 in all. */
    int64_t per = PER_PART;
    for (int32_t p = 0; p < NPART; p++) {
        int64_t next = 0;
        test_produce_upto(w, "t", p, &next, per - 8, (size_t)p);
        while (next < per)
            test_produce_next(w, "t", p, &next, 1);
    }
    const char *state = f.state;

    /* Bad arguments, and a Kafka topic with too few partitions. */
    samsa_mirror *m = NULL;
    errs er = {0};
    samsa_mirror_config bad = {.bootstrap = mk.bootstrap};
    EQ_RC(samsa_mirror_start(w, &bad, &m), SAMSA_EINVAL);
    const char *few_topics[] = {"few", NULL};
    samsa_topic_config fc = {.partitions = 3};
    E(samsa_topic_create(w, "few", &fc));
    samsa_mirror_config fcfg = {
        .bootstrap = mk.bootstrap, .state_path = state, .topics = few_topics};
    start_fails(w, &fcfg, &er, SAMSA_ENOPARTITION, "has 2 partitions");
    const char *bogus[] = {"compression.codec=bogus", NULL};
    fcfg.kafka_conf = bogus;
    start_fails(w, &fcfg, &er, SAMSA_EINVAL, "compression.codec=bogus");
    fcfg.kafka_conf = NULL;
    char junk[PATH_MAX];
    snprintf(junk, sizeof junk, "%s/junk.state", f.dir);
    FILE *jf = fopen(junk, "w");
    ck_assert_ptr_nonnull(jf);
    fputs("samsa-mirror 1\nfew 0 1 2\n", jf); /* a line cut short */
    fclose(jf);
    fcfg.state_path = junk;
    start_fails(w, &fcfg, &er, SAMSA_EINVAL, "not a mirror state file");
    fcfg.state_path = state;
    const char *nosuch[] = {"nosuch", NULL};
    fcfg.topics = nosuch;
    start_fails(w, &fcfg, &er, SAMSA_ENOTOPIC, "nosuch");

    const char *topics[] = {"t", NULL};
    /* Kafka gets lz4 batches (a property passed through), so the import
     * below reads compressed batches back. */
    const char *lz4[] = {"compression.codec=lz4", NULL};
    samsa_mirror_config mc = {.bootstrap = mk.bootstrap,
                              .state_path = state,
                              .topics = topics,
                              .kafka_conf = lz4,
                              .on_error = on_err,
                              .ctx = &er};
    er = (errs){0};
    E(samsa_mirror_start(w, &mc, &m));
    E(samsa_mirror_wait(m, 60000));
    samsa_mirror_stats st;
    samsa_mirror_partition parts[NPART + 1];
    E(samsa_mirror_status(m, &st, parts, NPART + 1));
    ck_assert_uint_eq(st.records, (uint64_t)(per * NPART));
    ck_assert_int_eq(st.lag, 0);
    ck_assert_uint_eq(st.partitions, NPART);
    ck_assert_int_eq(st.error, 0);
    for (int32_t p = 0; p < NPART; p++) {
        ck_assert_str_eq(parts[p].topic, "t");
        ck_assert_int_eq(parts[p].partition, p);
        ck_assert_int_eq(parts[p].mirrored, per);
        ck_assert_int_eq(parts[p].kafka_next, per);
    }
    E(samsa_mirror_stop(m));
    ck_assert_int_eq(er.calls, 0);
    for (int32_t p = 0; p < NPART; p++)
        kafka_check(&mk, "t", p, 0, 0, per);

    /* Started again with nothing new: nothing is sent twice. */
    E(samsa_mirror_start(w, &mc, &m));
    E(samsa_mirror_wait(m, 60000));
    E(samsa_mirror_status(m, &st, NULL, 0));
    ck_assert_uint_eq(st.records, 0);
    E(samsa_mirror_stop(m));
    rd_kafka_t *c = consumer_new(&mk, NULL);
    for (int32_t p = 0; p < NPART; p++)
        ck_assert_int_eq(kafka_end(c, "t", p), per);
    rd_kafka_destroy(c);

    /* And back: import into another store gives the same records at the
     * same offsets; one partition from an offset. */
    const char *dir2 = test_dir_make();
    samsa *s2 = test_open(dir2);
    samsa_import_config ic = {.bootstrap = mk.bootstrap};
    int64_t n = 0;
    E(samsa_kafka_import(s2, "t", &ic, &n));
    ck_assert_int_eq(n, per * NPART);
    for (int32_t p = 0; p < NPART; p++)
        test_read_range(s2, "t", p, 0, per);
    const char *dir3 = test_dir_make();
    samsa *s3 = test_open(dir3);
    int32_t one = 5;
    samsa_import_config ic1 = {.bootstrap = mk.bootstrap,
                               .partitions = &one,
                               .npartitions = 1,
                               .start_offset = 100};
    E(samsa_kafka_import(s3, "t", &ic1, &n));
    ck_assert_int_eq(n, per - 100);
    check_imported(s3, 5, 100, per);
    int64_t end;
    E(samsa_offsets(s3, "t", 0, NULL, &end));
    ck_assert_int_eq(end, 0);
    EQ_RC(samsa_kafka_import(s3, "nosuch", &ic, &n), SAMSA_ENOTOPIC);
    /* From a time: the first record at least that late is record 1000
     * (test_gen_ts() goes back every fourth record, never that far). */
    const char *dir4 = test_dir_make();
    samsa *s4 = test_open(dir4);
    samsa_import_config ic2 = {.bootstrap = mk.bootstrap,
                               .partitions = &one,
                               .npartitions = 1,
                               .start_time = test_gen_ts(1000)};
    E(samsa_kafka_import(s4, "t", &ic2, &n));
    ck_assert_int_eq(n, per - 1000);
    check_imported(s4, 5, 1000, per);
    E(samsa_close(s4));
    test_dir_remove(dir4);
    E(samsa_close(s3));
    E(samsa_close(s2));
    test_dir_remove(dir3);
    test_dir_remove(dir2);
    fixture_end(&f);
}
END_TEST

/* ---- following a store while it is written ----------------------------- */

START_TEST(test_mirror_follow)
{
    fixture f;
    fixture_start(&f, "f", 3);
    mock mk = f.mk;
    samsa *w = f.w;
    const char *dir = f.dir;
    int64_t next[3] = {0, 0, 0};
    for (int32_t p = 0; p < 3; p++)
        test_produce_upto(w, "f", p, &next[p], 200, 0);
    /* The mirror reads through a read-only handle, as beside another
     * process; the writer goes on producing. */
    E(samsa_group_reset(w, "fg", "f", 0, SAMSA_RESET_TO_OFFSET, 150));
    samsa *r = open_rdonly(dir);
    const char *state = f.state;
    samsa_mirror_config mc = {.bootstrap = mk.bootstrap,
                              .state_path = state,
                              .follow = 1,
                              .groups = 1};
    samsa_mirror *m;
    E(samsa_mirror_start(r, &mc, &m));
    for (int round = 0; round < 20; round++) {
        for (int32_t p = 0; p < 3; p++)
            test_produce_upto(w, "f", p, &next[p], next[p] + 50, (size_t)round);
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    EQ_RC(samsa_mirror_wait(m, 100), SAMSA_ETIMEDOUT); /* follows for ever */
    wait_records(m, (uint64_t)(next[0] + next[1] + next[2]));
    /* Caught up, the following mirror carries the group across. */
    rd_kafka_t *gc = consumer_new(&mk, "fg");
    int64_t committed = -1;
    for (int i = 0; i < 100 && committed != 150; i++) {
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, "f", 0);
        ck_assert_int_eq(rd_kafka_committed(gc, l, 10000), 0);
        committed = l->elems[0].offset;
        rd_kafka_topic_partition_list_destroy(l);
        struct timespec ts = {0, 50 * 1000 * 1000};
        if (committed != 150)
            nanosleep(&ts, NULL);
    }
    ck_assert_int_eq(committed, 150);
    rd_kafka_destroy(gc);
    E(samsa_mirror_stop(m));
    for (int32_t p = 0; p < 3; p++)
        kafka_check(&mk, "f", p, 0, 0, next[p]);
    E(samsa_close(r));
    fixture_end(&f);
}
END_TEST

/* ---- kill -9 of `samsa mirror` at random points -------------------------- */

/* The samsa command built beside this runner. */
static const char *
tool_path(void)
{
    static char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 16);
    ck_assert_int_gt(n, 0);
    path[n] = '\0';
    strcpy(strrchr(path, '/') + 1, "samsa");
    ck_assert_msg(access(path, X_OK) == 0, "%s: build it first", path);
    return path;
}

/* Run the samsa command with argv (argv[0] "samsa"), its standard output
 * to /dev/null; its pid. */
static pid_t
spawn_tool(const char *tool, const char *const *argv)
{
    pid_t pid = test_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        execv(tool, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Wait for pid, which must exit with status 0. */
static void
wait_ok(pid_t pid, const char *what)
{
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "%s: status %d", what, status);
}

START_TEST(test_mirror_kill9)
{
    const char *tool = tool_path();
    fixture f;
    fixture_start(&f, "k", 4);
    mock mk = f.mk;
    samsa *w = f.w;
    const char *dir = f.dir;
    const char *mirror_argv[] = {"samsa",      "mirror", "-q", "--bootstrap",
                                 mk.bootstrap, dir,      "k",  NULL};
    int64_t next[4] = {0};
    int rounds = test_long() ? 20 : 3, more = 0;
    int64_t per_round = 1500;
    unsigned seed = (unsigned)time(NULL);
    srand(seed);
    rd_kafka_t *c = consumer_new(&mk, NULL);
    int cut = 0; /* rounds killed with part of their records in Kafka */
    for (int round = 0; round < rounds; round++) {
        /* New records each round, so every run has work to be cut. */
        int64_t before = 0, total = 0, now = 0;
        for (int32_t p = 0; p < 4; p++) {
            before += kafka_end(c, "k", p);
            test_produce_upto(w, "k", p, &next[p], next[p] + per_round,
                              (size_t)round);
            total += next[p];
        }
        pid_t pid = spawn_tool(tool, mirror_argv);
        /* Kill it at a random point once it has begun to send (or
         * right away, one round in four: before it even connected);
         * the first round as soon as Kafka has its first records, so
         * that at least one kill surely cuts a run in the middle. */
        int wait_send = round == 0 || rand() % 4 != 0;
        int status;
        bool ended = false;
        while (wait_send && now <= before && !ended) {
            now = 0;
            for (int32_t p = 0; p < 4; p++)
                now += kafka_end(c, "k", p);
            ended = waitpid(pid, &status, WNOHANG) == pid;
        }
        /* Done before this process looked again (a loaded machine
         * stalls it between polls, regression: that failed the test):
         * it must have done all of it; one more round, with more
         * records, while no kill has cut a run yet. */
        if (ended) {
            ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                          "mirror: status %d", status);
            if (cut == 0 && more++ < 6) {
                rounds++;
                per_round *= 2;
            }
            continue;
        }
        struct timespec ts = {
            0, round == 0 ? 0 : (long)(rand() % 20) * 1000 * 1000};
        nanosleep(&ts, NULL);
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        now = 0;
        for (int32_t p = 0; p < 4; p++)
            now += kafka_end(c, "k", p);
        if (now > before && now < total)
            cut++;
    }
    rd_kafka_destroy(c);
    /* A last run to the end: exactly every record, once. */
    wait_ok(spawn_tool(tool, mirror_argv), "final mirror");
    for (int32_t p = 0; p < 4; p++)
        kafka_check(&mk, "k", p, 0, 0, next[p]);
    /* The point of the test: some kill fell while records flowed. */
    ck_assert_msg(cut > 0, "no kill cut a run short (seed %u)", seed);

    /* samsa stats shows where the mirror is: every record, no lag. */
    char cmd[2 * PATH_MAX], line[256];
    snprintf(cmd, sizeof cmd, "%s stats %s", tool, dir);
    FILE *out = popen(cmd, "r");
    ck_assert_ptr_nonnull(out);
    int rows = 0;
    while (fgets(line, sizeof line, out) != NULL) {
        if (strncmp(line, "mirror\t", 7) != 0)
            continue;
        char want[128];
        snprintf(want, sizeof want,
                 "mirror\tk\t%d\t%" PRId64 "\t%" PRId64 "\t0\n", rows,
                 next[rows], next[rows]);
        ck_assert_str_eq(line, want);
        rows++;
    }
    ck_assert_int_eq(pclose(out), 0);
    ck_assert_int_eq(rows, 4);

    /* And back with `samsa import`: a new store, equal records at equal
     * offsets. */
    const char *dir2 = test_dir_make();
    const char *import_argv[] = {"samsa", "import", "--bootstrap", mk.bootstrap,
                                 "k",     dir2,     NULL};
    wait_ok(spawn_tool(tool, import_argv), "samsa import");
    samsa *s2 = test_open(dir2);
    for (int32_t p = 0; p < 4; p++)
        test_read_range(s2, "k", p, 0, next[p]);
    E(samsa_close(s2));
    test_dir_remove(dir2);
    fixture_end(&f);
}
END_TEST

/* `samsa mirror --follow` in its own process, while this one produces;
 * SIGTERM ends it cleanly. */
START_TEST(test_mirror_follow_command)
{
    const char *tool = tool_path();
    fixture f;
    fixture_start(&f, "ft", 2);
    int64_t next[2] = {0, 0};
    for (int32_t p = 0; p < 2; p++)
        test_produce_upto(f.w, "ft", p, &next[p], 100, 0);
    const char *argv[] = {"samsa",       "mirror",       "--follow", "-q",
                          "--bootstrap", f.mk.bootstrap, f.dir,      NULL};
    pid_t pid = spawn_tool(tool, argv);
    for (int round = 0; round < 20; round++) {
        for (int32_t p = 0; p < 2; p++)
            test_produce_upto(f.w, "ft", p, &next[p], next[p] + 40,
                              (size_t)round);
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    rd_kafka_t *c = consumer_new(&f.mk, NULL);
    for (int i = 0; i < 1000; i++) {
        if (kafka_end(c, "ft", 0) == next[0] &&
            kafka_end(c, "ft", 1) == next[1])
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    rd_kafka_destroy(c);
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    wait_ok(pid, "samsa mirror --follow");
    for (int32_t p = 0; p < 2; p++)
        kafka_check(&f.mk, "ft", p, 0, 0, next[p]);
    fixture_end(&f);
}
END_TEST

/* ---- consumer groups, translated --------------------------------------- */

START_TEST(test_mirror_groups)
{
    fixture f;
    fixture_start(&f, "g", 2);
    mock mk = f.mk;
    samsa *w = f.w;
    /* Kafka's partition 1 did not start empty: 7 foreign records. */
    rd_kafka_t *pr;
    {
        char err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", mk.bootstrap, err,
                          sizeof err);
        pr = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        for (int i = 0; i < 7; i++)
            ck_assert_int_eq(rd_kafka_producev(pr, RD_KAFKA_V_TOPIC("g"),
                                               RD_KAFKA_V_PARTITION(1),
                                               RD_KAFKA_V_VALUE("x", 1),
                                               RD_KAFKA_V_END),
                             0);
        ck_assert_int_eq(rd_kafka_flush(pr, 10000), 0);
        rd_kafka_destroy(pr);
    }
    int64_t next[2] = {0, 0};
    test_produce_upto(w, "g", 0, &next[0], 300, 0);
    test_produce_upto(w, "g", 1, &next[1], 200, 1);
    E(samsa_group_reset(w, "app", "g", 0, SAMSA_RESET_TO_OFFSET, 120));
    E(samsa_group_reset(w, "app", "g", 1, SAMSA_RESET_TO_OFFSET, 50));
    E(samsa_group_reset(w, "other", "g", 0, SAMSA_RESET_TO_OFFSET, next[0]));
    const char *state = f.state;
    samsa_mirror_config mc = {
        .bootstrap = mk.bootstrap, .state_path = state, .groups = 1};
    samsa_mirror *m;
    E(samsa_mirror_start(w, &mc, &m));
    E(samsa_mirror_wait(m, 60000));
    E(samsa_mirror_stop(m));
    kafka_check(&mk, "g", 0, 0, 0, next[0]);
    kafka_check(&mk, "g", 1, 7, 0, next[1]);

    /* Kafka's committed offsets: 120 as is, 50 moved by the 7. */
    struct {
        const char *group;
        int32_t p;
        int64_t want;
    } want[] = {{"app", 0, 120}, {"app", 1, 57}, {"other", 0, 300}};
    rd_kafka_t *c = consumer_new(&mk, NULL);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        rd_kafka_t *gc = consumer_new(&mk, want[i].group);
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, "g", want[i].p);
        ck_assert_int_eq(rd_kafka_committed(gc, l, 10000), 0);
        ck_assert_int_eq(l->elems[0].err, 0);
        ck_assert_msg(l->elems[0].offset == want[i].want,
                      "%s g/%d: %" PRId64 ", want %" PRId64, want[i].group,
                      want[i].p, l->elems[0].offset, want[i].want);
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(gc);
    }
    rd_kafka_destroy(c);
    fixture_end(&f);
}
END_TEST

/* A partition with gaps (a Kafka log adopted, offsets 1000..1042 holding
 * 12 records): Kafka's offsets are dense, so a committed offset becomes
 * the Kafka offset of the record it points at, counted, not shifted: 1007
 * is the 5th record (Kafka's 4), 1010 falls in a gap before 1020, the 7th
 * (6).  Shifted, they would be 7 and 10: a group moving to Kafka would
 * skip records it never read. */
START_TEST(test_mirror_groups_gaps)
{
    fixture f;
    fixture_start(&f, "g", 1);
    ck_assert_int_eq(rd_kafka_mock_topic_create(f.mk.mc, "kg", 1, 1), 0);
    E(samsa_topic_adopt(f.w, "kg", test_kafka_dir(f.dir), NULL));
    static const struct {
        const char *group;
        int64_t committed, want;
    } want[] = {{"at-record", 1007, 4},
                {"in-gap", 1010, 6},
                {"at-end", TEST_KAFKA_END, TEST_KAFKA_NREC},
                {"at-start", TEST_KAFKA_START, 0}};
    size_t n = sizeof want / sizeof want[0];
    for (size_t i = 0; i < n; i++)
        E(samsa_group_reset(f.w, want[i].group, "kg", 0, SAMSA_RESET_TO_OFFSET,
                            want[i].committed));
    samsa_mirror_config mc = {
        .bootstrap = f.mk.bootstrap, .state_path = f.state, .groups = 1};
    samsa_mirror *m;
    E(samsa_mirror_start(f.w, &mc, &m));
    E(samsa_mirror_wait(m, 60000));
    E(samsa_mirror_stop(m));
    for (size_t i = 0; i < n; i++) {
        rd_kafka_t *gc = consumer_new(&f.mk, want[i].group);
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, "kg", 0);
        ck_assert_int_eq(rd_kafka_committed(gc, l, 10000), 0);
        ck_assert_int_eq(l->elems[0].err, 0);
        ck_assert_msg(l->elems[0].offset == want[i].want,
                      "%s: Kafka has %" PRId64 ", want %" PRId64, want[i].group,
                      l->elems[0].offset, want[i].want);
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(gc);
    }
    fixture_end(&f);
}
END_TEST

/* ---- a broker that goes away, and comes back --------------------------- */

START_TEST(test_mirror_broker_gone)
{
    fixture f;
    fixture_start(&f, "b", 1);
    mock mk = f.mk;
    samsa *w = f.w;
    int64_t next = 0;
    while (next < 500)
        test_produce_next(w, "b", 0, &next, 1);
    const char *state = f.state;
    const char *conf[] = {"message.timeout.ms=500", NULL};
    errs er = {0};
    samsa_mirror_config mc = {.bootstrap = mk.bootstrap,
                              .state_path = state,
                              .follow = 1,
                              .kafka_conf = conf,
                              .on_error = on_err,
                              .ctx = &er};
    samsa_mirror *m;
    E(samsa_mirror_start(w, &mc, &m));
    samsa_mirror_stats st = wait_records(m, 500);
    ck_assert_int_eq(rd_kafka_mock_broker_set_down(mk.mc, 1), 0);
    test_produce_upto(w, "b", 0, &next, 800, 0);
    /* The records after the broker left time out: a clear error, and the
     * position stays at what Kafka acknowledged. */
    EQ_RC(samsa_mirror_wait(m, 20000), SAMSA_ETIMEDOUT);
    for (int i = 0; i < 2000 && st.error == 0; i++) {
        E(samsa_mirror_status(m, &st, NULL, 0));
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ck_assert_int_eq(st.error, SAMSA_ETIMEDOUT);
    ck_assert_int_eq(er.rc, SAMSA_ETIMEDOUT);
    ck_assert_msg(strstr(er.msg, "timed out") != NULL, "%s", er.msg);
    ck_assert_uint_eq(st.records, 500);
    EQ_RC(samsa_mirror_stop(m), SAMSA_ETIMEDOUT);
    char buf[256];
    FILE *sf = fopen(state, "r");
    ck_assert_ptr_nonnull(sf);
    ck_assert_ptr_nonnull(fgets(buf, sizeof buf, sf));
    ck_assert_str_eq(buf, "samsa-mirror 1\n");
    ck_assert_ptr_nonnull(fgets(buf, sizeof buf, sf));
    ck_assert_str_eq(buf, "b 0 0 0 500 500\n");
    fclose(sf);

    /* The broker back: the mirror resumes from the state and Kafka's end,
     * and Kafka ends with every record once. */
    ck_assert_int_eq(rd_kafka_mock_broker_set_up(mk.mc, 1), 0);
    mc.follow = 0;
    er = (errs){0};
    E(samsa_mirror_start(w, &mc, &m));
    E(samsa_mirror_wait(m, 20000));
    E(samsa_mirror_stop(m));
    kafka_check(&mk, "b", 0, 0, 0, next);

    /* A Kafka topic that lost acknowledged records (here: a state file
     * that says Kafka acknowledged more than it has): the mirror refuses
     * rather than guess, and changes nothing. */
    sf = fopen(state, "w");
    ck_assert_ptr_nonnull(sf);
    fprintf(sf, "samsa-mirror 1\nb 0 0 0 %" PRId64 " %" PRId64 "\n", next,
            next + 5);
    fclose(sf);
    char want[64];
    snprintf(want, sizeof want, "ends at %" PRId64 ", below offset %" PRId64,
             next, next + 5);
    start_fails(w, &mc, &er, SAMSA_ECONFLICT, want);
    rd_kafka_t *c = consumer_new(&mk, NULL);
    ck_assert_int_eq(kafka_end(c, "b", 0), next);
    rd_kafka_destroy(c);
    fixture_end(&f);
}
END_TEST

Suite *
bridge_suite(void)
{
    Suite *s = suite_create("bridge");
    TCase *tc = tcase_create("mirror");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_mirror_exact_and_import);
    tcase_add_test(tc, test_mirror_follow);
    tcase_add_test(tc, test_mirror_groups);
    tcase_add_test(tc, test_mirror_groups_gaps);
    tcase_add_test(tc, test_mirror_broker_gone);
    suite_add_tcase(s, tc);
    TCase *tk = tcase_create("kill9");
    tcase_set_timeout(tk, 600);
    tcase_add_test(tk, test_mirror_kill9);
    tcase_add_test(tk, test_mirror_follow_command);
    suite_add_tcase(s, tk);
    return s;
}
