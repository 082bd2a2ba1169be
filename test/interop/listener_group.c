/*
 * listener_group.c - a consumer group of three librdkafka consumers in
 * three processes against the listener, and a seek by time: run by make
 * check (check-listener) when librdkafka is here.
 *
 * The parent holds the store and the listener; each member is this
 * program again (--member), a KafkaConsumer of group "g3" on the six
 * partitions of "g6" that reports on its standard output, one line per
 * event: "A n p..." its assignment, "R p off" each record it reads, "C p
 * off" each commit the listener acknowledged (synchronous commits: after
 * every tenth record of a partition, and of every position when its
 * partitions are revoked).  The parent checks, in order:
 *
 *   1. the three members share the six partitions two by two;
 *   2. every record of a first round is read once, by the member that
 *      holds its partition;
 *   3. one member is killed (SIGKILL): the other two get its partitions
 *      once its session times out, three each, and read them from its
 *      last commit: exactly the records it read after that commit are
 *      read again (at-least-once with commits: nothing is lost, and what
 *      is read twice is what the commits allow, no more);
 *   4. a second round, then one member closes (LeaveGroup): the last
 *      gets all six before a session timeout could have passed, and
 *      reads a third round;
 *   5. it closes too: the group's committed offsets are the partitions'
 *      ends, and every record was read exactly once but those of 3.
 *
 * Seek by time: rd_kafka_offsets_for_times() gives the exact offset of
 * the first record at or after a time, and -1 past the last.
 */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "interop.h"
#include "samsa.h"

#define PARTS      6
#define MEMBERS    3
#define ROUND1     2970 /* 495 a partition: 5 past the last commit (490) */
#define ROUND2     3000
#define ROUND3     600
#define NREC       (ROUND1 + ROUND2 + ROUND3)
#define PER_PART   (NREC / PARTS)
#define SESSION_MS 3000
#define TSG        1700000000000LL

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- a member (a child process) ----------------------------------------- */

static volatile sig_atomic_t member_stop;

static void
on_term(int sig)
{
    (void)sig;
    member_stop = 1;
}

/* One report line, written whole (a pipe takes up to PIPE_BUF at once). */
static void
report(const char *fmt, ...)
{
    char b[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    if (write(STDOUT_FILENO, b, (size_t)n) != n)
        _exit(3);
}

/* Commit list (offsets >= 0 only) synchronously; report each. */
static void
commit_report(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *list)
{
    rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_new(6);
    for (int i = 0; i < list->cnt; i++)
        if (list->elems[i].offset >= 0)
            rd_kafka_topic_partition_list_add(c, "g6", list->elems[i].partition)
                ->offset = list->elems[i].offset;
    if (c->cnt > 0 && rd_kafka_commit(rk, c, 0) == 0)
        for (int i = 0; i < c->cnt; i++)
            report("C %d %lld\n", (int)c->elems[i].partition,
                   (long long)c->elems[i].offset);
    rd_kafka_topic_partition_list_destroy(c);
}

static void
member_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                 rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    (void)opaque;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        char b[128];
        int n = snprintf(b, sizeof b, "A %d", parts->cnt);
        for (int i = 0; i < parts->cnt; i++)
            n += snprintf(b + n, sizeof b - (size_t)n, " %d",
                          (int)parts->elems[i].partition);
        report("%s\n", b);
        return;
    }
    /* Revoked: commit where each partition's reading got to. */
    rd_kafka_position(rk, parts);
    commit_report(rk, parts);
    rd_kafka_assign(rk, NULL);
    report("A 0\n");
}

static int
member(const char *bootstrap)
{
    signal(SIGTERM, on_term);
    char err[512], session[16];
    snprintf(session, sizeof session, "%d", SESSION_MS);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {
        {"bootstrap.servers", bootstrap}, {"group.id", "g3"},
        {"enable.auto.commit", "false"},  {"auto.offset.reset", "earliest"},
        {"heartbeat.interval.ms", "200"}, {"session.timeout.ms", session}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof err) !=
            RD_KAFKA_CONF_OK) {
            fprintf(stderr, "member: conf %s: %s\n", kv[i][0], err);
            return 1;
        }
    rd_kafka_conf_set_rebalance_cb(conf, member_rebalance);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == NULL) {
        fprintf(stderr, "member: %s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, "g6", RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(rk, t) != 0)
        return 1;
    rd_kafka_topic_partition_list_destroy(t);
    while (!member_stop) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
        if (m == NULL)
            continue;
        if (m->err == 0) {
            report("R %d %lld\n", (int)m->partition, (long long)m->offset);
            if (m->offset % 10 == 9) {
                rd_kafka_topic_partition_list_t *c =
                    rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(c, "g6", m->partition)
                    ->offset = m->offset + 1;
                commit_report(rk, c);
                rd_kafka_topic_partition_list_destroy(c);
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk); /* revokes (commits), then LeaveGroup */
    rd_kafka_destroy(rk);
    return 0;
}

/* ---- the parent -----------------------------------------------------------
 */

typedef struct child {
    pid_t pid;
    int fd;         /* its reports          */
    char buf[8192]; /* a line not yet whole */
    size_t len;
    int nparts; /* its assignment       */
    int parts[PARTS];
    bool alive;
} child;

static child kids[MEMBERS];
static unsigned char reads[PARTS][PER_PART]; /* times each record was read */
static int64_t committed[PARTS];             /* the last commit reported   */
static int64_t read_max[MEMBERS][PARTS];     /* the highest offset read + 1 */
static int distinct;

/* No member outlives the parent, whatever way it ends. */
static void
kill_kids(void)
{
    for (int k = 0; k < MEMBERS; k++)
        if (kids[k].pid > 0) {
            kill(kids[k].pid, SIGKILL);
            (void)waitpid(kids[k].pid, NULL, 0);
        }
}

static void
spawn(int k, const char *self, const char *bootstrap)
{
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(1);
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(self, self, "--member", bootstrap, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    kids[k] = (child){.pid = pid, .fd = fds[0], .alive = true};
}

static void
line(int k, char *l)
{
    child *c = &kids[k];
    int p;
    long long off;
    if (l[0] == 'A') {
        char *s = l + 2, *end;
        c->nparts = (int)strtol(s, &end, 10);
        for (int i = 0; i < c->nparts && i < PARTS; i++)
            c->parts[i] = (int)strtol(end, &end, 10);
    } else if (sscanf(l, "R %d %lld", &p, &off) == 2) {
        if (p < 0 || p >= PARTS || off < 0 || off >= PER_PART) {
            fail("member %d read g6-%d@%lld, no record produced", k, p, off);
            return;
        }
        if (reads[p][off]++ == 0)
            distinct++;
        if (off + 1 > read_max[k][p])
            read_max[k][p] = off + 1;
    } else if (sscanf(l, "C %d %lld", &p, &off) == 2 && p >= 0 && p < PARTS) {
        committed[p] = off;
    } else {
        fail("member %d said \"%s\"", k, l);
    }
}

/* Read what member k said (once): false at its end. */
static bool
take(int k)
{
    child *c = &kids[k];
    ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len - 1);
    if (n <= 0)
        return false;
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    char *s = c->buf, *nl;
    while ((nl = strchr(s, '\n')) != NULL) {
        *nl = '\0';
        line(k, s);
        s = nl + 1;
    }
    c->len -= (size_t)(s - c->buf);
    memmove(c->buf, s, c->len);
    return true;
}

/* Read what the members said for up to ms milliseconds. */
static void
pump(int ms)
{
    struct pollfd pf[MEMBERS];
    for (int k = 0; k < MEMBERS; k++)
        pf[k] = (struct pollfd){.fd = kids[k].alive ? kids[k].fd : -1,
                                .events = POLLIN};
    if (poll(pf, MEMBERS, ms) <= 0)
        return;
    for (int k = 0; k < MEMBERS; k++)
        if ((pf[k].revents & (POLLIN | POLLHUP)) && !take(k))
            kids[k].alive = false;
}

/* Pump until done() or ms pass; false on time out. */
static bool
until(bool (*done)(void), int ms, const char *what)
{
    int64_t end = now_ms() + ms;
    while (!done()) {
        if (now_ms() > end) {
            fail("timed out waiting for %s", what);
            return false;
        }
        pump(50);
    }
    return true;
}

static int want_split; /* partitions each live member must hold */

static bool
split_done(void)
{
    int total = 0;
    for (int k = 0; k < MEMBERS; k++)
        if (kids[k].pid > 0) {
            if (kids[k].nparts != want_split)
                return false;
            total += kids[k].nparts;
        }
    return total == PARTS;
}

static int want_distinct;

static bool
read_done(void)
{
    return distinct >= want_distinct;
}

static void
produce_round(samsa *s, int from, int to)
{
    for (int i = from; i < to; i++) {
        char v[16];
        int n = snprintf(v, sizeof v, "%d", i);
        samsa_record r = {
            .value = v, .value_len = (size_t)n, .timestamp = TSG + i};
        if (samsa_produce(s, "g6", i % PARTS, &r, 1) != 0) {
            fail("produce %d", i);
            return;
        }
    }
}

static void
stop_member(int k, int sig)
{
    kill(kids[k].pid, sig);
    int st;
    if (waitpid(kids[k].pid, &st, 0) < 0)
        fail("waitpid");
    else if (sig == SIGTERM && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        fail("member %d did not close cleanly (status %d)", k, st);
    /* What it said before it went (its last commits, on a close). */
    while (take(k))
        ;
    close(kids[k].fd);
    kids[k].alive = false;
    kids[k].pid = -1;
    kids[k].nparts = 0;
}

/* Seek by time: record i of g6 is at offset i / 6 of partition i % 6,
 * with timestamp TSG + i. */
static void
seek_by_time(const char *bootstrap)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(3);
    /* 601 is in partition 1: partition 2's first at or after it is 602
     * (offset 100); partition 1's is 601 itself (offset 100); past the
     * last record: -1. */
    rd_kafka_topic_partition_list_add(l, "g6", 2)->offset = TSG + 601;
    rd_kafka_topic_partition_list_add(l, "g6", 1)->offset = TSG + 601;
    rd_kafka_topic_partition_list_add(l, "g6", 0)->offset = TSG + NREC;
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, l, 10000);
    static const int64_t want[] = {100, 100, -1};
    if (e != 0)
        fail("offsets_for_times: %s", rd_kafka_err2str(e));
    for (int i = 0; e == 0 && i < 3; i++)
        if (l->elems[i].err != 0 || l->elems[i].offset != want[i])
            fail("offsets_for_times g6-%d: %lld (%s), want %lld",
                 (int)l->elems[i].partition, (long long)l->elems[i].offset,
                 rd_kafka_err2str(l->elems[i].err), (long long)want[i]);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
}

static int
group_offset(const samsa_group_offset *o, void *ctx)
{
    int64_t *got = ctx;
    if (strcmp(o->topic, "g6") == 0 && o->partition >= 0 &&
        o->partition < PARTS)
        got[o->partition] = o->committed;
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--member") == 0)
        return member(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: listener_group DIR\n");
        return 2;
    }
    samsa *s;
    samsa_listener *l;
    char bootstrap[64];
    interop_serve("listener_group", argv[1], "g6", PARTS, &s, &l, bootstrap,
                  sizeof bootstrap);
    atexit(kill_kids);
    for (int k = 0; k < MEMBERS; k++)
        spawn(k, "/proc/self/exe", bootstrap);

    /* 1, 2: two partitions each, then every record read once. */
    want_split = 2;
    if (until(split_done, 30000, "a 2-2-2 assignment")) {
        produce_round(s, 0, ROUND1);
        want_distinct = ROUND1;
        until(read_done, 30000, "round 1");
        pump(300); /* the last commits' reports */
    }
    for (int k = 0; k < MEMBERS; k++)
        for (int i = 0; i < kids[k].nparts; i++)
            if (read_max[k][kids[k].parts[i]] != ROUND1 / PARTS)
                fail("member %d read g6-%d to %lld, not %d", k,
                     kids[k].parts[i], (long long)read_max[k][kids[k].parts[i]],
                     ROUND1 / PARTS);

    /* 3: member 2 is killed; what it read past its partitions' last
     * commits is read again, by the others. */
    int64_t again_from[PARTS], again_to[PARTS];
    for (int p = 0; p < PARTS; p++)
        again_from[p] = again_to[p] = 0;
    for (int i = 0; i < kids[2].nparts; i++) {
        int p = kids[2].parts[i];
        again_from[p] = committed[p];
        again_to[p] = read_max[2][p];
    }
    stop_member(2, SIGKILL);
    int64_t killed_at = now_ms();
    want_split = 3;
    until(split_done, 30000, "3-3 after the kill");
    /* Its session ends SESSION_MS after its last heartbeat, at most 200
     * ms before the kill: not before half of it, whatever the timers. */
    if (now_ms() - killed_at < SESSION_MS / 2)
        fail("the dead member's partitions moved after %lld ms, before its "
             "session could end",
             (long long)(now_ms() - killed_at));
    produce_round(s, ROUND1, ROUND1 + ROUND2);
    want_distinct = ROUND1 + ROUND2;
    until(read_done, 30000, "round 2");

    /* 4: member 1 closes: LeaveGroup, so member 0 gets all six at once. */
    stop_member(1, SIGTERM);
    int64_t left_at = now_ms();
    want_split = PARTS;
    until(split_done, 30000, "member 0 alone");
    if (now_ms() - left_at >= SESSION_MS)
        fail("the rebalance after a LeaveGroup took %lld ms",
             (long long)(now_ms() - left_at));
    produce_round(s, ROUND1 + ROUND2, NREC);
    want_distinct = NREC;
    until(read_done, 30000, "round 3");
    seek_by_time(bootstrap);

    /* 5: member 0 closes; the commits reach the ends. */
    stop_member(0, SIGTERM);
    int64_t got[PARTS];
    for (int p = 0; p < PARTS; p++)
        got[p] = -1;
    if (samsa_group_offsets(s, "g3", group_offset, got) != 0)
        fail("samsa_group_offsets g3");
    for (int p = 0; p < PARTS; p++)
        if (got[p] != PER_PART)
            fail("g3 committed %lld for g6-%d, not its end %d",
                 (long long)got[p], p, PER_PART);
    int twice = 0, want_twice = 0;
    for (int p = 0; p < PARTS; p++) {
        want_twice += (int)(again_to[p] - again_from[p]);
        for (int64_t off = 0; off < PER_PART; off++) {
            int want = off >= again_from[p] && off < again_to[p] ? 2 : 1;
            if (reads[p][off] != want)
                fail("g6-%d@%lld read %d times, want %d", p, (long long)off,
                     reads[p][off], want);
            twice += reads[p][off] == 2;
            if (failures > 20)
                exit(1);
        }
    }
    /* 495 a partition, commits up to 490: 5 of each of its two. */
    if (twice != want_twice || want_twice != 10)
        fail("%d records read twice, %d expected, 10 planned", twice,
             want_twice);
    samsa_listener_close(l);
    samsa_close(s);
    if (failures == 0)
        printf("check-listener: 3 librdkafka consumers in 3 processes "
               "shared 6 partitions; after a SIGKILL the other two took "
               "them over from the last commits (%d records read again, "
               "as committed), after a LeaveGroup the last took all 6; "
               "%d records each read once but those; offsets_for_times "
               "exact\n",
               twice, NREC - twice);
    return failures == 0 ? 0 : 1;
}
