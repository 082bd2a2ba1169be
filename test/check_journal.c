/*
 * check_journal.c - exhaustive damage of the share groups' journals
 * (DIR/queues/GROUP/TOPICID-P.journal, queue_state.c; issue 10,
 * "Exhaustive corruption").
 *
 * A child process runs one fixed queue workload, leaving records of every
 * state in the journal: accepted, rejected (dead-lettered), archived
 * (delivered max_attempts times), released and delivered again (counts of
 * 2 and 3), some still acquired, some never delivered.  It ends with a
 * clean close or with kill -9 (no close: the journal alone holds what it
 * did since the group was loaded).  Then every byte of the journal is
 * damaged three ways (xor 0x01, xor 0xFF, set 0x00), one case at a time,
 * on a fresh copy of the store, which is opened, its group loaded and
 * drained.  Each case must end in one of two ways:
 *
 *  - intact: every record finished before the damage reports its outcome
 *    and delivery count (samsa_queue_ack_info) and is never delivered
 *    again; every unfinished record is delivered exactly once, with its
 *    own bytes at its own offset and the delivery count it had plus one;
 *  - refused: samsa_queue_open() returns SAMSA_ECORRUPT (one directory
 *    only: the journal lost acknowledged changes and says so).
 *
 * Anything else is a lost or wrong acknowledgement and fails the test.
 * With a replica directory every case, damage to the primary's journal
 * or to the copy's, must be intact: repaired from the other copy, and
 * after the case both journals are the same bytes again.  The kill -9
 * run is repeated under SAMSA_SYNC_ALWAYS (the end word's synced bit).
 *
 * The journal file is preallocated (1 MiB of zeros after the entries); the
 * cases cover every byte up to two entries past the last non-zero one, and
 * one byte in every 64 KiB of the rest.  make check takes every fifth
 * byte of the first part (fixed, so that a failure repeats); SAMSA_LONG=1
 * (make check-long) takes them all.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#define RECORDS 12 /* records of topic t, test_gen(0..11)              */
#define OPTS(o, rep)                                                           \
    samsa_options o = {.replica_dirs = (rep)[0] != NULL ? (rep) : NULL,        \
                       .sync = sync_policy}

/* The stores' sync policy (the workload's, and each case's). */
static int sync_policy = SAMSA_SYNC_NONE;

static const samsa_queue_config cfg = {
    .lock_ms = 600000, .max_attempts = 3, .dead_letter_topic = "dlq"};

/* What the workload leaves: per offset the outcome (0: not finished) and
 * the delivery count. */
static struct {
    int outcome;
    int32_t count;
} want[RECORDS] = {
    {SAMSA_ACK_ACCEPT, 1},
    {SAMSA_ACK_REJECT, 1},
    {SAMSA_ACK_ACCEPT, 2},
    {SAMSA_ACK_ARCHIVED, 3},
    {SAMSA_ACK_ACCEPT, 1},
    {0, 2}, /* acquired */
    {SAMSA_ACK_REJECT, 1},
    {SAMSA_ACK_ACCEPT, 1},
    {0, 1}, /* acquired */
    {0, 0},
    {0, 0},
    {0, 0}, /* never    */
};

/* The workload (in the child): 0 when every step did what it must. */
static int
workload(samsa *s)
{
    samsa_queue *q;
    samsa_delivery d[8];
    if (samsa_queue_open(s, "g", "t", &cfg, &q) != 0)
        return 1;
    bool ok =
        test_queue_take(q, d, 6, (int64_t[]){0, 1, 2, 3, 4, 5},
                        (int32_t[]){1, 1, 1, 1, 1, 1}) &&
        samsa_queue_ack(q, d, 1, SAMSA_ACK_ACCEPT) == 0 &&
        samsa_queue_ack(q, d + 1, 1, SAMSA_ACK_REJECT) == 0 &&
        samsa_queue_ack(q, d + 2, 2, SAMSA_ACK_RELEASE) == 0 &&
        samsa_queue_ack(q, d + 4, 1, SAMSA_ACK_ACCEPT) == 0 &&
        samsa_queue_ack(q, d + 5, 1, SAMSA_ACK_RELEASE) == 0 &&
        test_queue_take(q, d, 3, (int64_t[]){2, 3, 5}, (int32_t[]){2, 2, 2}) &&
        samsa_queue_ack(q, d, 1, SAMSA_ACK_ACCEPT) == 0 &&
        samsa_queue_ack(q, d + 1, 1, SAMSA_ACK_RELEASE) == 0 &&
        test_queue_take(q, d, 3, (int64_t[]){3, 6, 7}, (int32_t[]){3, 1, 1}) &&
        samsa_queue_ack(q, d, 1, SAMSA_ACK_RELEASE) == 0 &&
        samsa_queue_ack(q, d + 1, 1, SAMSA_ACK_REJECT) == 0 &&
        samsa_queue_ack(q, d + 2, 1, SAMSA_ACK_ACCEPT) == 0 &&
        /* 3 is archived on the way (count 3 = max_attempts) */
        test_queue_take(q, d, 1, (int64_t[]){8}, (int32_t[]){1});
    return ok ? 0 : 2;
}

/* A store in dir (with replica directory rep[0] unless NULL) holding t
 * (RECORDS records) and dlq, the workload run on it in a child that ends
 * with samsa_close() or kill -9. */
static void
fixture(const char *dir, const char *const *rep, bool kill9)
{
    OPTS(o, rep);
    samsa *s;
    E(samsa_open(dir, &o, &s));
    /* small segments: each case's open scans little */
    samsa_topic_config c = test_small_cfg(1, 0);
    c.replicas = rep[0] != NULL ? 2 : 1;
    E(samsa_topic_create(s, "t", &c));
    E(samsa_topic_create(s, "dlq", &c));
    for (int64_t i = 0; i < RECORDS; i += 4)
        test_produce_gen(s, "t", 0, i, 4);
    E(samsa_close(s));
    pid_t pid = test_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (samsa_open(dir, &o, &s) != 0)
            _exit(10);
        int rc = workload(s);
        if (rc != 0)
            _exit(rc);
        if (!kill9)
            _exit(samsa_close(s) == 0 ? 0 : 11);
        kill(getpid(), SIGKILL);
        _exit(12);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    if (kill9)
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %d",
                      st);
    else
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
}

/* One case's end. */
enum { INTACT, REFUSED, LOST };

/* Open the store (dir, replica directory rep[0]) and its group and check
 * the state it has (see the top of the file): INTACT or REFUSED, or LOST
 * with what is wrong in why. */
static int
check_store(const char *dir, const char *const *rep, char *why, size_t cap)
{
    OPTS(o, rep);
    samsa *s;
    int rc = samsa_open(dir, &o, &s);
    if (rc != 0) {
        snprintf(why, cap, "samsa_open: %s", samsa_strerror(rc));
        return LOST;
    }
    samsa_queue *q;
    rc = samsa_queue_open(s, "g", "t", &cfg, &q);
    if (rc != 0) {
        snprintf(why, cap, "samsa_queue_open: %s", samsa_strerror(rc));
        E(samsa_close(s));
        return rc == SAMSA_ECORRUPT ? REFUSED : LOST;
    }
    int res = INTACT;
    for (int64_t i = 0; i < RECORDS && res == INTACT; i++) {
        samsa_ack_info info;
        rc = samsa_queue_ack_info(s, "g", "t", 0, i, 0, &info);
        if (want[i].outcome != 0 ? rc != 0 || info.outcome != want[i].outcome ||
                                       info.delivery_count != want[i].count
                                 : rc != SAMSA_ETIMEDOUT) {
            snprintf(why, cap, "offset %lld: %s, outcome %d count %d",
                     (long long)i, samsa_strerror(rc), rc ? 0 : info.outcome,
                     rc ? 0 : info.delivery_count);
            res = LOST;
        }
    }
    bool seen[RECORDS] = {false};
    samsa_delivery d[16];
    size_t n;
    while (res == INTACT && (rc = samsa_queue_receive(q, d, 16, &n, 0)) == 0)
        for (size_t i = 0; i < n && res == INTACT; i++) {
            int64_t at = d[i].msg.offset;
            const char *bad = test_gen_mismatch(&d[i].msg, at);
            if (at < 0 || at >= RECORDS || want[at].outcome != 0 || seen[at] ||
                d[i].delivery_count != want[at].count + 1 || bad != NULL) {
                snprintf(why, cap, "delivered %lld count %d (%s)",
                         (long long)at, d[i].delivery_count,
                         bad != NULL ? bad : "again or finished");
                res = LOST;
            }
            if (at >= 0 && at < RECORDS)
                seen[at] = true;
        }
    if (res == INTACT && rc != SAMSA_ETIMEDOUT) {
        snprintf(why, cap, "receive: %s", samsa_strerror(rc));
        res = LOST;
    }
    for (int64_t i = 0; i < RECORDS && res == INTACT; i++)
        if (want[i].outcome == 0 && !seen[i]) {
            snprintf(why, cap, "offset %lld never delivered", (long long)i);
            res = LOST;
        }
    samsa_queue_close(q);
    E(samsa_close(s));
    return res;
}

/* The case counts of one run. */
typedef struct tally {
    long cases[3];    /* by end: INTACT, REFUSED, LOST       */
    char first[1024]; /* the first LOST case, "" when none   */
} tally;

/* Are the files rel under a and under b the same size, with the same
 * first 8 KiB (the workload's entries; zeros after them)? */
static bool
same_file(const char *a, const char *b, const char *rel)
{
    char p[2][2 * TEST_PATH_BUF];
    uint8_t buf[2][8192];
    struct stat st[2];
    for (int i = 0; i < 2; i++) {
        snprintf(p[i], sizeof p[i], "%s/%s", i ? b : a, rel);
        int fd = open(p[i], O_RDONLY);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fstat(fd, &st[i]), 0);
        memset(buf[i], 0, sizeof buf[i]);
        ck_assert_int_ge(pread(fd, buf[i], sizeof buf[i], 0), 0);
        close(fd);
    }
    return st[0].st_size == st[1].st_size &&
           memcmp(buf[0], buf[1], sizeof buf[0]) == 0;
}

/* Every case of the journal file f of snapshot sn, put back at root
 * (other, the other directory's snapshot, is put back at oroot unless
 * NULL); the store opened is primary with replica directory replica. */
static void
damage_file(test_snap *sn, test_sfile *f, const char *root,
            const test_snap *other, const char *oroot, const char *primary,
            const char *replica, size_t stride, tally *t)
{
    static const char *const how[3] = {"xor 0x01", "xor 0xff", "set 0x00"};
    size_t dense = f->used + 2 * 24 < f->len ? f->used + 2 * 24 : f->len;
    for (size_t at = 0; at < f->len;
         at += at < dense ? stride : 65536 + (at % 7))
        for (int k = 0; k < 3; k++) {
            uint8_t was = f->data[at];
            f->data[at] = k == 0 ? was ^ 0x01 : k == 1 ? was ^ 0xff : 0;
            f->touched = at + 1;
            test_snap_put(sn, root);
            f->data[at] = was;
            f->touched = 0;
            if (other != NULL)
                test_snap_put(other, oroot);
            char why[400] = "";
            int res = check_store(primary, (const char *const[]){replica, NULL},
                                  why, sizeof why);
            if (res == INTACT && replica != NULL &&
                !same_file(primary, replica, f->path)) {
                snprintf(why, sizeof why, "the journal copies differ");
                res = LOST; /* the damaged one was not rewritten */
            }
            t->cases[res]++;
            if (res == LOST && t->first[0] == '\0')
                snprintf(t->first, sizeof t->first, "%s byte %zu %s: %s",
                         f->path, at, how[k], why);
        }
}

/* The journal files of sn. */
static test_sfile *
journal_of(test_snap *sn)
{
    for (size_t i = 0; i < sn->n; i++)
        if (!sn->f[i].dir && strncmp(sn->f[i].path, "queues/", 7) == 0 &&
            strstr(sn->f[i].path, ".journal") != NULL)
            return &sn->f[i];
    ck_abort_msg("no journal");
    return NULL;
}

/* A fresh directory in memory where there is a tmpfs: thousands of opens
 * and closes sync the catalog each. */
static void
shm_dir(char *buf, size_t cap)
{
    snprintf(buf, cap, "/dev/shm/samsa-jd-XXXXXX");
    if (mkdtemp(buf) == NULL)
        snprintf(buf, cap, "%s", test_dir_make());
}

static void
run(bool kill9, bool replica, int sync)
{
    sync_policy = sync;
    size_t stride = test_long() ? 1 : 5 * test_sweep_thin();
    char dir[TEST_PATH_BUF], rdir[TEST_PATH_BUF], work[TEST_PATH_BUF],
        rwork[TEST_PATH_BUF];
    shm_dir(dir, sizeof dir);
    shm_dir(rdir, sizeof rdir);
    shm_dir(work, sizeof work);
    shm_dir(rwork, sizeof rwork);
    fixture(dir, (const char *const[]){replica ? rdir : NULL, NULL}, kill9);
    static test_snap sn, rsn;
    memset(&sn, 0, sizeof sn);
    memset(&rsn, 0, sizeof rsn);
    test_snap_take(&sn, dir, "");
    if (replica)
        test_snap_take(&rsn, rdir, "");
    tally t = {{0, 0, 0}, ""};
    char why[400];
    /* Undamaged, the state is all there. */
    test_snap_put(&sn, work);
    if (replica)
        test_snap_put(&rsn, rwork);
    ck_assert_msg(
        check_store(work, (const char *const[]){replica ? rwork : NULL, NULL},
                    why, sizeof why) == INTACT,
        "undamaged: %s", why);
    test_sfile *j = journal_of(&sn);
    const char *r = replica ? rwork : NULL;
    damage_file(&sn, j, work, replica ? &rsn : NULL, rwork, work, r, stride,
                &t);
    if (replica) /* the copy's journal */
        damage_file(&rsn, journal_of(&rsn), rwork, &sn, work, work, r, stride,
                    &t);
    printf("journal damage (%s%s, %s): %ld cases (every %zu. byte of the "
           "first %zu, 3 ways), %ld intact, %ld refused (SAMSA_ECORRUPT), "
           "%ld lost\n",
           kill9 ? "after kill -9" : "after close",
           sync == SAMSA_SYNC_ALWAYS ? ", SAMSA_SYNC_ALWAYS" : "",
           replica ? "two directories" : "one directory",
           t.cases[INTACT] + t.cases[REFUSED] + t.cases[LOST], stride,
           j->used + 48, t.cases[INTACT], t.cases[REFUSED], t.cases[LOST]);
    ck_assert_msg(t.cases[LOST] == 0, "%ld lost, first: %s", t.cases[LOST],
                  t.first);
    if (replica || !kill9) /* nothing to refuse: the copy, or the snapshot */
        ck_assert_int_eq(t.cases[REFUSED], 0);
    else
        ck_assert_int_gt(t.cases[REFUSED], 0);
    test_snap_free(&sn);
    test_snap_free(&rsn);
    test_dir_remove(dir);
    test_dir_remove(rdir);
    test_dir_remove(work);
    test_dir_remove(rwork);
    sync_policy = SAMSA_SYNC_NONE;
}

/* ---- the rules one at a time --------------------------------------------- */

/* The journal of the kill -9 fixture in a new directory *dir: its bytes
 * (*len of them, up to the first all-zero entry after the last one) and
 * its path. */
static uint8_t *
killed_journal(const char **dir, char *path, size_t *len)
{
    *dir = test_dir_make();
    fixture(*dir, (const char *const[]){NULL}, true);
    test_pathf(path, *dir, "queues/g/1-0.journal");
    size_t all;
    uint8_t *j = test_slurp(path, &all);
    static const uint8_t zero[24];
    for (*len = 40; memcmp(j + *len, zero, 24) != 0; *len += 24)
        ;
    ck_assert_uint_ge(*len, 40 + 10 * 24); /* the workload's changes */
    return j;
}

/* Seal lo as a header word of the journal j's generation, at j + at. */
static void
put_word(uint8_t *j, size_t at, uint32_t lo)
{
    uint8_t b[8];
    memcpy(b, &lo, 4);
    memcpy(b + 4, j + 4, 4); /* the generation, little-endian both */
    uint32_t crc = samsa__crc32c(0, b, 8);
    memcpy(j + at, &lo, 4);
    memcpy(j + at + 4, &crc, 4);
}

/* Put j's first len bytes back over the file at path. */
static void
put_back(const char *path, const uint8_t *j, size_t len)
{
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, j, len, 0), (ssize_t)len);
    close(fd);
}

static int
check_one(const char *dir)
{
    char why[400] = "";
    int res = check_store(dir, (const char *const[]){NULL}, why, sizeof why);
    ck_assert_msg(res != LOST, "%s", why);
    return res;
}

/* The end word (see "Damage" in queue_state.c), on the kill -9 fixture's
 * journal, whose last entry is offset 8's acquisition:
 *  0: kill -9 between that entry and the end word that counts it: the
 *     entry is replayed all the same;
 *  1: the same with the entry damaged: a torn tail (the call had not
 *     returned), not damage: the change is lost, nothing refused;
 *  2: the entry damaged with the end word counting it: refused;
 *  3: the same with the boot word another kernel's under SAMSA_SYNC_NONE
 *     (a power cut promises nothing for the unsynced tail): a torn tail;
 *  4: the same under SAMSA_SYNC_ALWAYS: the end word, written after the
 *     entries it counts were msynced, vouches in any boot: refused;
 *  5: the magic damaged into version 1's ("SQJ1"), whose header has no
 *     words: the end word is read all the same, and vouches: refused. */
START_TEST(test_end_word)
{
    const char *dir;
    char path[TEST_PATH_BUF];
    size_t len;
    sync_policy = _i == 4 ? SAMSA_SYNC_ALWAYS : SAMSA_SYNC_NONE;
    uint8_t *j = killed_journal(&dir, path, &len);
    if (_i <= 1)
        put_word(j, 24, (uint32_t)((len - 40) / 24 - 1));
    if (_i == 3 || _i == 4)
        put_word(j, 16, 12345);
    if (_i >= 1 && _i <= 4)
        j[len - 24 + 8] ^= 0x01; /* the entry's offset */
    if (_i == 5)
        j[3] ^= '2' ^ '1';
    put_back(path, j, len);
    if (_i == 1 || _i == 3)
        want[8].count = 0; /* its acquisition never was */
    int res = check_one(dir);
    want[8].count = 1;
    sync_policy = SAMSA_SYNC_NONE;
    ck_assert_int_eq(res, _i == 2 || _i >= 4 ? REFUSED : INTACT);
    free(j);
    test_dir_remove(dir);
}
END_TEST

/* A version 1 journal ("SQJ1", 16-byte header, no words) is replayed,
 * and left in this version's layout. */
START_TEST(test_journal_v1)
{
    const char *dir;
    char path[TEST_PATH_BUF];
    size_t len;
    uint8_t *j = killed_journal(&dir, path, &len);
    uint8_t *v1 = calloc(1, len);
    ck_assert_ptr_nonnull(v1);
    memcpy(v1, "SQJ1", 4);
    memcpy(v1 + 4, j + 4, 4);
    uint32_t crc = samsa__crc32c(0, v1, 8);
    memcpy(v1 + 8, &crc, 4);
    memcpy(v1 + 16, j + 40, len - 40);
    put_back(path, v1, len);
    ck_assert_int_eq(check_one(dir), INTACT);
    free(j);
    j = test_slurp(path, &len);
    ck_assert_int_eq(memcmp(j, "SQJ2", 4), 0);
    free(j);
    free(v1);
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_journal_damage_close)
{
    run(false, false, SAMSA_SYNC_NONE);
}
END_TEST

START_TEST(test_journal_damage_kill)
{
    run(true, false, SAMSA_SYNC_NONE);
}
END_TEST

START_TEST(test_journal_damage_kill_sync)
{
    run(true, false, SAMSA_SYNC_ALWAYS);
}
END_TEST

START_TEST(test_journal_damage_close_copies)
{
    run(false, true, SAMSA_SYNC_NONE);
}
END_TEST

START_TEST(test_journal_damage_kill_copies)
{
    run(true, true, SAMSA_SYNC_NONE);
}
END_TEST

Suite *
journal_suite(void)
{
    Suite *s = suite_create("journal");
    TCase *tc = tcase_create("journal");
    tcase_set_timeout(tc, 3600);
    tcase_add_test(tc, test_journal_damage_close);
    tcase_add_test(tc, test_journal_damage_kill);
    tcase_add_test(tc, test_journal_damage_kill_sync);
    tcase_add_test(tc, test_journal_damage_close_copies);
    tcase_add_test(tc, test_journal_damage_kill_copies);
    suite_add_tcase(s, tc);
    TCase *rules = tcase_create("rules");
    tcase_add_loop_test(rules, test_end_word, 0, 6);
    tcase_add_test(rules, test_journal_v1);
    suite_add_tcase(s, rules);
    return s;
}
