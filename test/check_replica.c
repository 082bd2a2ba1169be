/*
 * check_replica.c - replicas: copies on three directories, with faults
 * injected on one of them through faultio (test/faultio.h), whose filter
 * picks the directory ("/d1/").
 *
 * The common checks: every acknowledged record stays readable, exactly
 * (records are a function of their offset, test/gen.c); the store keeps
 * taking writes with dense offsets; a copy that left the in-sync set
 * rejoins after samsa_replica_catchup() with files identical, byte for
 * byte, to the others'; and each directory alone reopens with every
 * acknowledged record.
 *
 * The flusher's background repair pass is paused in these tests
 * (samsa__replica_pause), so that a copy taken out stays out until the test
 * says; the flusher's syncs are kept out of fault counts by a samsa_sync()
 * before each fault is armed, as in check_faults.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faultio.h"
#include "replica/replica.h"
#include "test.h"

int samsa__open_io(const char *dir, const samsa_options *opt, samsa_io *io,
                   samsa **out);
void samsa__replica_pause(samsa *s, bool paused);

#define NDIRS 3

/* A store over root/d0 (primary), root/d1, root/d2. */
typedef struct rig {
    const char *root;
    char d[NDIRS][TEST_PATH_BUF];
    faultio *fi; /* NULL: plain POSIX */
    samsa *s;
    _Atomic int events[4]; /* counted by type (any thread) */
} rig;

static void
on_event(const samsa_replica_event *ev, void *ctx)
{
    rig *r = ctx;
    ck_assert(ev->type >= 1 && ev->type <= 3);
    ck_assert_ptr_nonnull(ev->topic);
    atomic_fetch_add(&r->events[ev->type], 1);
}

static void
rig_open(rig *r, int sync)
{
    const char *reps[] = {r->d[1], r->d[2], NULL};
    samsa_options o = {.replica_dirs = reps,
                       .sync = sync,
                       .flags = SAMSA_OPEN_CREATE,
                       .on_replica = on_event,
                       .on_replica_ctx = r};
    samsa_io *io = r->fi != NULL ? faultio_io(r->fi) : NULL;
    r->s = NULL;
    if (io != NULL)
        E(samsa__open_io(r->d[0], &o, io, &r->s));
    else
        E(samsa_open(r->d[0], &o, &r->s));
    samsa__replica_pause(r->s, true);
}

static void
rig_make(rig *r, bool faulty, int sync)
{
    memset(r, 0, sizeof *r);
    r->root = test_dir_make();
    for (int i = 0; i < NDIRS; i++) {
        char name[8];
        snprintf(name, sizeof name, "d%c", (char)('0' + i));
        test_pathf(r->d[i], r->root, name);
        ck_assert_int_eq(mkdir(r->d[i], 0755), 0);
    }
    r->fi = faulty ? faultio_new() : NULL;
    rig_open(r, sync);
}

static void
rig_close(rig *r)
{
    E(samsa_close(r->s));
    r->s = NULL;
    if (r->fi != NULL)
        faultio_free(r->fi);
    r->fi = NULL;
}

/* Topic "t": small segments, replicas copies. */
static void
make_topic(rig *r, int32_t partitions, int32_t replicas, int sync)
{
    samsa_topic_config c = test_small_cfg(partitions, sync);
    c.replicas = replicas;
    E(samsa_topic_create(r->s, "t", &c));
}

/* A rig (faulty: through faultio) with topic "t" of one partition with 3
 * copies, holding records 0..upto-1 (produced in pattern k): the log end. */
static int64_t
rig_t3(rig *r, bool faulty, int sync, int64_t upto, size_t k)
{
    rig_make(r, faulty, sync);
    make_topic(r, 1, 3, 0);
    int64_t next = 0;
    test_produce_upto(r->s, "t", 0, &next, upto, k);
    return next;
}

/* A rig with topic "t" of one partition with `copies` copies, holding
 * records 0..upto-1 and a few more: the log end. */
static int64_t
rig_t1(rig *r, int32_t copies, int64_t upto)
{
    rig_make(r, false, SAMSA_SYNC_NONE);
    make_topic(r, 1, copies, 0);
    int64_t next = 0;
    test_produce_upto(r->s, "t", 0, &next, upto, 0);
    return next;
}

/* A rig with topic "t" of three partitions with 3 copies each, holding
 * records 0..29 and a few more: ends[p] gets each one's log end. */
static void
rig_t33(rig *r, int sync, int64_t *ends)
{
    rig_make(r, false, sync);
    make_topic(r, 3, 3, 0);
    for (int32_t p = 0; p < 3; p++) {
        ends[p] = 0;
        test_produce_upto(r->s, "t", p, &ends[p], 30, 0);
    }
}

static int64_t
end_of(samsa *s, int32_t p)
{
    int64_t first = -1, end = -1;
    E(samsa_offsets(s, "t", p, &first, &end));
    ck_assert_int_eq(first, 0);
    return end;
}

static void
check_exact(samsa *s, int32_t p, int64_t end)
{
    ck_assert_int_eq(end_of(s, p), end);
    test_read_range(s, "t", p, 0, end);
}

/* The copies of t-p: in-sync count, the leader's directory, and copy on
 * directory dir's state (or -1 to skip). */
static void
status(samsa *s, int32_t p, int want_insync, int leader_dir, int dir,
       int dir_state)
{
    samsa_replica_info info[NDIRS];
    size_t n = 0;
    int in = 0, leader = -1;
    E(samsa_replica_status(s, "t", p, info, NDIRS, &n));
    for (size_t i = 0; i < n; i++) {
        in += info[i].state == SAMSA_REPLICA_INSYNC;
        if (info[i].leader)
            leader = info[i].dir;
        if (info[i].dir == dir)
            ck_assert_int_eq(info[i].state, dir_state);
        if (info[i].state == SAMSA_REPLICA_OUT)
            ck_assert_int_ne(info[i].reason, 0);
        else
            ck_assert_int_eq(info[i].reason, 0);
    }
    ck_assert_int_eq(in, want_insync);
    if (leader_dir >= 0)
        ck_assert_int_eq(leader, leader_dir);
}

static bool
same_bytes(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    ck_assert_msg(fa != NULL && fb != NULL, "%s or %s missing", a, b);
    int ca, cb;
    do {
        ca = fgetc(fa);
        cb = fgetc(fb);
    } while (ca == cb && ca != EOF);
    fclose(fa);
    fclose(fb);
    return ca == cb;
}

/* Directory t-p holds the same files, byte for byte, on every directory
 * that has a copy of it. */
static void
copies_identical(rig *r, int32_t p, int copies)
{
    char part[32], a[TEST_PATH_BUF], b[TEST_PATH_BUF], fa[1024], fb[1024];
    snprintf(part, sizeof part, "t-%d", p);
    int first = p % NDIRS;
    test_pathf(a, r->d[first], part);
    DIR *d = opendir(a);
    ck_assert_ptr_nonnull(d);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        files++;
        for (int k = 1; k < copies; k++) {
            test_pathf(b, r->d[(first + k) % NDIRS], part);
            snprintf(fa, sizeof fa, "%s/%s", a, e->d_name);
            snprintf(fb, sizeof fb, "%s/%s", b, e->d_name);
            ck_assert_msg(same_bytes(fa, fb), "%s and %s differ", fa, fb);
        }
    }
    closedir(d);
    ck_assert_int_gt(files, 0);
    for (int k = 1; k < copies; k++) { /* and no file more */
        test_pathf(b, r->d[(first + k) % NDIRS], part);
        size_t n = 0;
        DIR *db = opendir(b);
        ck_assert_ptr_nonnull(db);
        while ((e = readdir(db)) != NULL)
            n += e->d_name[0] != '.';
        closedir(db);
        ck_assert_int_eq(n, files);
    }
}

/* Catch up (want copies rejoin), produce 3 more records to t-0 (end
 * next), check them, close, and compare the three copies; the rig's
 * directory goes. */
static void
rejoin_finish(rig *r, int want, int64_t next)
{
    size_t joined;
    E(samsa_replica_catchup(r->s, &joined));
    ck_assert_int_eq(joined, want);
    test_produce_next(r->s, "t", 0, &next, 3);
    check_exact(r->s, 0, next);
    rig_close(r);
    copies_identical(r, 0, 3);
    test_dir_remove(r->root);
}

/* Remove directory dir with everything in it, as a failed disk would
 * vanish.  A producer may create a file in it meanwhile (a segment roll),
 * which makes rm's last rmdir fail: try again. */
static void
vanish(const char *dir)
{
    char cmd[TEST_PATH_BUF + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' 2>/dev/null", dir);
    int tries = 0;
    while (system(cmd) != 0 && ++tries < 100)
        usleep(1000);
    ck_assert(!test_exists(dir));
}

/* Copy directory d to root/solo (its path in solo) and open it alone (no
 * replica dirs). */
static samsa *
open_alone(rig *r, int d, char *solo)
{
    char cmd[3 * TEST_PATH_BUF];
    test_pathf(solo, r->root, "solo");
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", solo, r->d[d],
             solo);
    ck_assert_int_eq(system(cmd), 0);
    return test_open(solo);
}

/* Reopen a copy of directory d alone (no replica dirs): t-0..parts-1
 * hold exactly ends[]. */
static void
reopen_alone(rig *r, int d, int32_t parts, const int64_t *ends)
{
    char solo[TEST_PATH_BUF];
    samsa *s = open_alone(r, d, solo);
    for (int32_t p = 0; p < parts; p++)
        check_exact(s, p, ends[p]);
    int64_t next = ends[0]; /* and it takes writes */
    test_produce_next(s, "t", 0, &next, 1);
    check_exact(s, 0, next);
    E(samsa_close(s));
}

/* ------------------------------------------------------------------------ */

START_TEST(test_placement)
{
    rig r;
    rig_make(&r, false, SAMSA_SYNC_NONE);
    samsa_topic_config big = {.replicas = 4};
    EQ_RC(samsa_topic_create(r.s, "t", &big), SAMSA_EINVAL);
    make_topic(&r, 3, 3, 0);
    samsa_topic_config d;
    E(samsa_topic_describe(r.s, "t", &d));
    ck_assert_int_eq(d.replicas, 3);
    ck_assert_int_eq(d.min_insync, 1);
    ck_assert_int_eq(d.acks, SAMSA_ACKS_ALL);
    int64_t ends[3] = {0, 0, 0};
    for (int32_t p = 0; p < 3; p++) {
        test_produce_upto(r.s, "t", p, &ends[p], 40 + 10 * p, (size_t)p);
        status(r.s, p, 3, p, -1, 0); /* leaders spread: p on d<p> */
    }
    samsa_replica_info info[NDIRS];
    size_t n;
    E(samsa_replica_status(r.s, "t", 1, info, 1, &n)); /* room for one */
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(info[0].dir, 1);
    EQ_RC(samsa_replica_status(r.s, "t", 3, info, 3, &n), SAMSA_ENOPARTITION);
    EQ_RC(samsa_replica_status(r.s, "u", 0, info, 3, &n), SAMSA_ENOTOPIC);
    EQ_RC(samsa_replica_status(r.s, "t", 0, NULL, 3, &n), SAMSA_EINVAL);
    E(samsa_replica_status(r.s, "t", 0, NULL, 0, &n)); /* count only */
    ck_assert_int_eq(n, 3);
    EQ_RC(samsa_replica_status(NULL, "t", 0, info, 3, &n), SAMSA_EINVAL);
    EQ_RC(samsa_replica_catchup(NULL, NULL), SAMSA_EINVAL);
    for (int32_t p = 0; p < 3; p++)
        check_exact(r.s, p, ends[p]);
    rig_close(&r);
    for (int32_t p = 0; p < 3; p++)
        copies_identical(&r, p, 3);
    for (int d0 = 0; d0 < NDIRS; d0++)
        reopen_alone(&r, d0, 3, ends);
    /* two copies of each partition on three directories */
    rig_open(&r, SAMSA_SYNC_NONE);
    E(samsa_topic_delete(r.s, "t"));
    make_topic(&r, 3, 2, 0);
    for (int32_t p = 0; p < 3; p++) {
        ends[p] = 0;
        test_produce_upto(r.s, "t", p, &ends[p], 30, 0);
        status(r.s, p, 2, p, -1, 0);
    }
    rig_close(&r);
    for (int32_t p = 0; p < 3; p++)
        copies_identical(&r, p, 2);
    test_dir_remove(r.root);
}
END_TEST

/* The I/O calls a copy makes, each failed in turn on one copy. */
static const faultio_op sites[] = {
    FAULTIO_WRITE,    FAULTIO_SYNC,   FAULTIO_ALLOCATE, FAULTIO_OPEN,
    FAULTIO_TRUNCATE, FAULTIO_UNLINK, FAULTIO_DIRSYNC,  FAULTIO_MAP,
};
#define NSITES (sizeof sites / sizeof sites[0])

/* One run: t (one partition, 3 copies, sync) takes records; the nth call
 * of op on directory victim fails with err.  Returns whether it fired. */
static bool
fault_run(faultio_op op, uint64_t nth, int victim, int err)
{
    rig r;
    int64_t next = rig_t3(&r, true, SAMSA_SYNC_ALWAYS, 20, 0);
    E(samsa_sync(r.s));
    char filter[16];
    snprintf(filter, sizeof filter, "/d%d/", victim);
    faultio_filter(r.fi, filter);
    faultio_fail(r.fi, op, nth, err, false);
    test_produce_upto(r.s, "t", 0, &next, 120, 3);
    bool fired = faultio_injected(r.fi) > 0;
    if (getenv("REPLICA_DEBUG"))
        fprintf(stderr, "%s nth %llu on d%d: fired %d\n", faultio_op_name(op),
                (unsigned long long)nth, victim, fired);
    faultio_clear(r.fi);
    faultio_filter(r.fi, NULL);
    check_exact(r.s, 0, next);
    if (fired) {
        /* out, with the leader elsewhere when it was the leader */
        status(r.s, 0, 2, victim == 0 ? 1 : 0, victim, SAMSA_REPLICA_OUT);
        ck_assert_int_eq(r.events[SAMSA_REPLICA_EV_OUT], 1);
        ck_assert_int_eq(r.events[SAMSA_REPLICA_EV_LEADER], victim == 0);
        size_t joined = 99;
        E(samsa_replica_catchup(r.s, &joined));
        ck_assert_int_eq(joined, 1);
        ck_assert_int_eq(r.events[SAMSA_REPLICA_EV_JOINED], 1);
    }
    status(r.s, 0, 3, -1, victim, SAMSA_REPLICA_INSYNC);
    test_produce_upto(r.s, "t", 0, &next, next + 30, 5); /* usable, dense */
    check_exact(r.s, 0, next);
    rig_close(&r);
    copies_identical(&r, 0, 3);
    for (int d = 0; d < NDIRS; d++)
        reopen_alone(&r, d, 1, &next);
    test_dir_remove(r.root);
    return fired;
}

/* Every call site, on a follower (_i = 1) and on the leader (_i = 0). */
START_TEST(test_fault_each_site)
{
    int victim = _i;
    for (size_t k = 0; k < NSITES; k++) {
        uint64_t nth = 1, fired = 0;
        while (fault_run(sites[k], nth, victim, k % 2 ? ENOSPC : EIO)) {
            fired++;
            nth = nth < 4 ? nth + 1 : nth * 3; /* the first calls, then a few */
        }
        ck_assert_msg(fired > 0 || sites[k] == FAULTIO_MAP ||
                          sites[k] == FAULTIO_UNLINK,
                      "%s never fired", faultio_op_name(sites[k]));
    }
}
END_TEST

/* rig_t3 through faultio with sync, records 0..upto-1, then one more
 * whose fsync fails on directory d: that copy is out.  The log end. */
static int64_t
rig_sync_fails(rig *r, int d, int64_t upto)
{
    int64_t next = rig_t3(r, true, SAMSA_SYNC_ALWAYS, upto, 0);
    E(samsa_sync(r->s));
    char filter[16];
    snprintf(filter, sizeof filter, "/d%d/", d);
    faultio_filter(r->fi, filter);
    faultio_fail(r->fi, FAULTIO_SYNC, 1, EIO, false);
    test_produce_next(r->s, "t", 0, &next, 1);
    ck_assert_uint_eq(faultio_injected(r->fi), 1);
    return next;
}

/* A failed fsync takes the copy out for good: its file is not synced
 * again until it is rebuilt. */
START_TEST(test_fsync_not_retried)
{
    rig r;
    int64_t next = rig_sync_fails(&r, 2, 10);
    status(r.s, 0, 2, 0, 2, SAMSA_REPLICA_OUT);
    samsa_replica_info info[NDIRS];
    size_t n;
    E(samsa_replica_status(r.s, "t", 0, info, NDIRS, &n));
    ck_assert_int_eq(info[2].reason, SAMSA_EIO);
    /* every later sync on d2 would fail: none is made */
    faultio_fail(r.fi, FAULTIO_SYNC, 1, EIO, true);
    test_produce_upto(r.s, "t", 0, &next, 60, 1);
    E(samsa_sync(r.s));
    ck_assert_uint_eq(faultio_injected(r.fi), 1);
    faultio_clear(r.fi);
    size_t joined;
    E(samsa_replica_catchup(r.s, &joined));
    ck_assert_int_eq(joined, 1);
    check_exact(r.s, 0, next);
    rig_close(&r);
    copies_identical(&r, 0, 3);
    test_dir_remove(r.root);
}
END_TEST

/* min_insync: with two copies of three out, acks=all refuses; acks=1
 * does not look. */
START_TEST(test_min_insync)
{
    rig r;
    rig_make(&r, true, SAMSA_SYNC_NONE);
    samsa_topic_config c = test_small_cfg(1, 0);
    c.replicas = 3;
    c.min_insync = 2;
    E(samsa_topic_create(r.s, "t", &c));
    c.acks = SAMSA_ACKS_LEADER;
    E(samsa_topic_create(r.s, "one", &c));
    int64_t next = 0;
    test_produce_next(r.s, "t", 0, &next, 3);
    E(samsa_sync(r.s));
    faultio_filter(r.fi, "/d1/");
    faultio_fail(r.fi, FAULTIO_WRITE, 1, EIO, false);
    test_produce_next(r.s, "t", 0, &next, 2); /* two copies left: enough */
    faultio_filter(r.fi, "/d2/");
    faultio_fail(r.fi, FAULTIO_WRITE, 1, EIO, false);
    /* stored on the leader, but one copy is not enough: refused after,
     * with the offsets the records got (Kafka's
     * NOT_ENOUGH_REPLICAS_AFTER_APPEND) */
    test_grec g[2];
    samsa_record recs[2];
    for (int k = 0; k < 2; k++) {
        test_gen(&g[k], next + k);
        recs[k] = g[k].r;
    }
    EQ_RC(samsa_produce(r.s, "t", 0, recs, 2), SAMSA_ENOTENOUGHREPLICAS);
    ck_assert_int_eq(recs[1].offset, next + 1);
    ck_assert_int_eq(end_of(r.s, 0), next + 2);
    next += 2;
    status(r.s, 0, 1, 0, 2, SAMSA_REPLICA_OUT);
    /* now refused before anything is written */
    test_produce_gen_rc(r.s, "t", 0, next, 3, SAMSA_ENOTENOUGHREPLICAS);
    ck_assert_int_eq(end_of(r.s, 0), next);
    faultio_clear(r.fi);
    rejoin_finish(&r, 2, next);
}
END_TEST

/* The partitionLeaderEpoch of the first (last: of the last) batch of the
 * segment of t-0 on directory d at base. */
static int32_t
batch_epoch(rig *r, int d, int64_t base, bool last)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/t-0/%020lld.log", r->d[d], (long long)base);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f), pos = 0, at = 0;
    fclose(f);
    while (last && pos + 12 <= n && test_be32(buf + pos + 8) != 0) {
        at = pos;
        pos += 12 + test_be32(buf + pos + 8);
    }
    ck_assert_uint_ge(n, at + 16);
    return (int32_t)test_be32(buf + at + 12);
}

/* The leader fails under a cursor: the cursor goes on, offsets stay dense. */
START_TEST(test_failover_cursor)
{
    rig r;
    int64_t next = rig_t3(&r, true, SAMSA_SYNC_NONE, 50, 0);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(r.s, "t", 0, 0, &c));
    for (int64_t o = 0; o < 25; o++) {
        E(samsa_cursor_next(c, &m, 0));
        TEST_CHECK_GEN(&m, o);
    }
    E(samsa_sync(r.s));
    faultio_filter(r.fi, "/d0/");
    faultio_fail(r.fi, FAULTIO_WRITE, 1, EIO, true); /* d0 is gone for good */
    test_produce_upto(r.s, "t", 0, &next, 200, 2);
    status(r.s, 0, 2, 1, 0, SAMSA_REPLICA_OUT);
    for (int64_t o = 25; o < next; o++) {
        E(samsa_cursor_next(c, &m, 0));
        TEST_CHECK_GEN(&m, o);
    }
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
    samsa_cursor_close(c);
    /* catch-up fails while d0 still fails, and succeeds once it is well */
    ck_assert_int_ne(samsa_replica_catchup(r.s, NULL), 0);
    status(r.s, 0, 2, 1, 0, SAMSA_REPLICA_OUT);
    faultio_clear(r.fi);
    size_t joined;
    E(samsa_replica_catchup(r.s, &joined));
    ck_assert_int_eq(joined, 1);
    status(r.s, 0, 3, 1, 0, SAMSA_REPLICA_INSYNC); /* the leader stays */
    check_exact(r.s, 0, next);
    rig_close(&r);
    copies_identical(&r, 0, 3);
    /* batches carry the epoch of the leader that appended them */
    int64_t bases[64];
    size_t nb = test_seg_bases(r.d[1], "t", 0, bases, 64);
    ck_assert_int_eq(batch_epoch(&r, 1, bases[0], false), 0);
    ck_assert_int_eq(batch_epoch(&r, 1, bases[nb - 1], true), 1);
    /* the new leader's epoch and ISR are in every catalog */
    rig_open(&r, SAMSA_SYNC_NONE);
    status(r.s, 0, 3, 1, -1, 0);
    check_exact(r.s, 0, next);
    rig_close(&r);
    test_dir_remove(r.root);
}
END_TEST

/* A directory removed while producing, then made again (empty). */
START_TEST(test_dir_vanishes)
{
    rig r;
    int64_t ends[3];
    rig_t33(&r, SAMSA_SYNC_ALWAYS, ends);
    vanish(r.d[2]);
    /* with sync, the next produce finds it gone */
    for (int32_t p = 0; p < 3; p++)
        test_produce_upto(r.s, "t", p, &ends[p], 60, 1);
    size_t joined = 99;
    E(samsa_replica_catchup(r.s, &joined)); /* not back yet */
    ck_assert_int_eq(joined, 0);
    for (int32_t p = 0; p < 3; p++) {
        status(r.s, p, 2, p == 2 ? 0 : p, 2, SAMSA_REPLICA_OUT);
        check_exact(r.s, p, ends[p]);
    }
    ck_assert_int_eq(mkdir(r.d[2], 0755), 0);
    E(samsa_replica_catchup(r.s, &joined));
    ck_assert_int_eq(joined, 3);
    for (int32_t p = 0; p < 3; p++) {
        status(r.s, p, 3, -1, 2, SAMSA_REPLICA_INSYNC);
        test_produce_upto(r.s, "t", p, &ends[p], 90, 2);
    }
    rig_close(&r);
    for (int32_t p = 0; p < 3; p++)
        copies_identical(&r, p, 3);
    for (int d = 0; d < NDIRS; d++)
        reopen_alone(&r, d, 3, ends);
    test_dir_remove(r.root);
}
END_TEST

/* Flip a byte in a segment of each copy in turn; scrub finds and repairs. */
START_TEST(test_scrub_repairs)
{
    rig r;
    int64_t next = rig_t3(&r, false, SAMSA_SYNC_NONE, 300, 0);
    int64_t bases[16];
    size_t nb = test_seg_bases(r.d[0], "t", 0, bases, 16);
    ck_assert_uint_ge(nb, 3);
    samsa_scrub_report rep;
    E(samsa_scrub(r.s, NULL, &rep));
    ck_assert_uint_eq(rep.damaged + rep.missing + rep.repaired, 0);
    ck_assert_uint_eq(rep.segments, 3 * nb);
    ck_assert_uint_gt(rep.batches, 0);
    for (int d = 0; d < NDIRS; d++) {
        for (size_t k = 0; k < nb; k += nb - 1) { /* first and active */
            char path[1024];
            snprintf(path, sizeof path, "%s/t-0/%020lld.log", r.d[d],
                     (long long)bases[k]);
            int fd = open(path, O_RDWR);
            ck_assert_int_ge(fd, 0);
            off_t at = 8 + 17 * (d + 1) + (off_t)k; /* inside or outside
                                                        the CRC's range */
            uint8_t b;
            ck_assert_int_eq(pread(fd, &b, 1, at), 1);
            b ^= 0x40;
            ck_assert_int_eq(pwrite(fd, &b, 1, at), 1);
            close(fd);
            E(samsa_scrub(r.s, "t", &rep));
            ck_assert_uint_eq(rep.damaged, 1);
            ck_assert_uint_eq(rep.repaired, 1);
            ck_assert_uint_eq(rep.unrepairable, 0);
            E(samsa_scrub(r.s, "t", &rep));
            ck_assert_uint_eq(rep.damaged, 0);
            check_exact(r.s, 0, next);
        }
    }
    /* a missing file: the copy is rebuilt */
    char path[1024];
    snprintf(path, sizeof path, "%s/t-0/%020lld.log", r.d[1],
             (long long)bases[1]);
    ck_assert_int_eq(unlink(path), 0);
    E(samsa_scrub(r.s, "t", &rep));
    ck_assert_uint_eq(rep.missing, 1);
    ck_assert_uint_eq(rep.repaired, 1);
    status(r.s, 0, 3, 0, 1, SAMSA_REPLICA_INSYNC);
    EQ_RC(samsa_scrub(r.s, "nope", &rep), SAMSA_ENOTOPIC);
    EQ_RC(samsa_scrub(r.s, "../x", &rep), SAMSA_EINVAL);
    EQ_RC(samsa_scrub(NULL, NULL, &rep), SAMSA_EINVAL);
    test_produce_next(r.s, "t", 0, &next, 4);
    check_exact(r.s, 0, next);
    rig_close(&r);
    copies_identical(&r, 0, 3);
    test_dir_remove(r.root);
}
END_TEST

/* Damage on the only copy: found, reported, never returned as data. */
START_TEST(test_scrub_unrepairable)
{
    rig r;
    rig_t1(&r, 1, 20);
    char path[1024];
    snprintf(path, sizeof path, "%s/t-0/%020d.log", r.d[0], 0);
    int fd = open(path, O_RDWR);
    uint8_t b = 0xff;
    ck_assert_int_eq(pwrite(fd, &b, 1, 70), 1);
    close(fd);
    samsa_scrub_report rep;
    EQ_RC(samsa_scrub(r.s, NULL, &rep), SAMSA_ECORRUPT);
    ck_assert_uint_eq(rep.damaged, 1);
    ck_assert_uint_eq(rep.unrepairable, 1);
    ck_assert_uint_eq(rep.repaired, 0);
    rig_close(&r);
    test_dir_remove(r.root);
}
END_TEST

/* At open, a copy whose files differ from the leader's (here: its active
 * segment lost its tail while the store was closed) is taken out and
 * caught up; the longest copy leads. */
START_TEST(test_reconcile_on_open)
{
    rig r;
    int64_t next = rig_t3(&r, false, SAMSA_SYNC_NONE, 100, 0);
    rig_close(&r);
    int64_t bases[16];
    size_t nb = test_seg_bases(r.d[0], "t", 0, bases, 16);
    char path[1024];
    struct stat st;
    /* the leader's copy (d0) is shorter: d1, longest, must lead */
    snprintf(path, sizeof path, "%s/t-0/%020lld.log", r.d[0],
             (long long)bases[nb - 1]);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(truncate(path, st.st_size - 1), 0);
    rig_open(&r, SAMSA_SYNC_NONE);
    status(r.s, 0, 2, 1, 0, SAMSA_REPLICA_OUT);
    check_exact(r.s, 0, next);
    size_t joined;
    E(samsa_replica_catchup(r.s, &joined));
    ck_assert_int_eq(joined, 1);
    test_produce_next(r.s, "t", 0, &next, 5);
    rig_close(&r);
    copies_identical(&r, 0, 3);
    /* opening without the in-sync directories: refused (no unclean
     * leader) when none of the copies that may lead is there */
    rig_open(&r, SAMSA_SYNC_NONE);
    samsa_topic_config c = test_small_cfg(1, 0);
    E(samsa_topic_create(r.s, "solo", &c)); /* one copy, on d0 */
    rig_close(&r);
    samsa *s = NULL;
    const char *reps[] = {r.d[0], NULL};
    samsa_options o = {.replica_dirs = reps};
    E(samsa_open(r.d[1], &o, &s)); /* d1 first: order is the user's */
    E(samsa_close(s));
    test_dir_remove(r.root);
}
END_TEST

/* Issue 10, finding 7: a directory removed while the store was closed,
 * the store opened from the primary alone (which forgets the removed
 * directory's id), then opened with every directory again: the directory
 * gets its catalog back and its copies are rebuilt there and rejoin. */
START_TEST(test_removed_dir_comes_back)
{
    rig r;
    int64_t ends[3];
    rig_t33(&r, SAMSA_SYNC_NONE, ends);
    rig_close(&r);
    vanish(r.d[1]);
    samsa *s = test_open(r.d[0]); /* the primary alone */
    for (int32_t p = 0; p < 3; p++)
        test_produce_upto(s, "t", p, &ends[p], 40, 1);
    E(samsa_close(s));
    rig_open(&r, SAMSA_SYNC_NONE); /* all three; d1 made again, empty */
    for (int32_t p = 0; p < 3; p++)
        status(r.s, p, 1, 0, 1, SAMSA_REPLICA_OUT);
    size_t joined = 99;
    E(samsa_replica_catchup(r.s, &joined));
    ck_assert_int_eq(joined, 6); /* d1's copies and d2's stale ones */
    for (int32_t p = 0; p < 3; p++) {
        status(r.s, p, 3, -1, 1, SAMSA_REPLICA_INSYNC);
        check_exact(r.s, p, ends[p]);
        test_produce_upto(r.s, "t", p, &ends[p], 50, 2);
    }
    samsa_replica_info info[NDIRS];
    size_t n;
    E(samsa_replica_status(r.s, "t", 1, info, NDIRS, &n));
    for (size_t i = 0; i < n; i++) /* back where placement put them */
        ck_assert_int_eq(info[i].dir, (1 + i) % NDIRS);
    rig_close(&r);
    for (int32_t p = 0; p < 3; p++)
        copies_identical(&r, p, 3);
    /* and it stays: a plain reopen keeps every copy in sync */
    rig_open(&r, SAMSA_SYNC_NONE);
    for (int32_t p = 0; p < 3; p++)
        status(r.s, p, 3, -1, -1, 0);
    rig_close(&r);
    reopen_alone(&r, 1, 3, ends);
    test_dir_remove(r.root);
}
END_TEST

/* The leader's segment file goes right after it was created (its
 * directory removed while the log rolled): the descriptors the copies
 * opened still work, but the leader's read view, opened by path, cannot
 * be.  That copy leaves the set and the next leads; the produce that
 * rolled succeeds (it once returned ENOENT: found by TSan's timing in
 * test_background_catchup). */
typedef struct unlink_ctx {
    const char *dir; /* the leader's directory                  */
    int done;        /* files unlinked                          */
} unlink_ctx;

static void
unlink_new_segment(void *ctx, const char *path)
{
    unlink_ctx *u = ctx;
    size_t n = strlen(path), d = strlen(u->dir);
    if (u->done == 0 && strncmp(path, u->dir, d) == 0 && n > 4 &&
        strcmp(path + n - 4, ".log") == 0 &&
        strstr(path, "00000000000000000000.log") == NULL) {
        ck_assert_int_eq(unlink(path), 0);
        u->done++;
    }
}

START_TEST(test_leader_file_gone_after_create)
{
    rig r;
    int64_t end = rig_t3(&r, true, SAMSA_SYNC_NONE, 10, 0);
    status(r.s, 0, 3, 0, 0, SAMSA_REPLICA_INSYNC);
    unlink_ctx u = {.dir = r.d[0]};
    faultio_on_open(r.fi, unlink_new_segment, &u);
    /* Past the first segment: small segments, so a roll comes soon. */
    while (u.done == 0)
        test_produce_upto(r.s, "t", 0, &end, end + 10, 0);
    faultio_on_open(r.fi, NULL, NULL);
    status(r.s, 0, 2, -1, 0, SAMSA_REPLICA_OUT);
    test_produce_upto(r.s, "t", 0, &end, end + 20, 1);
    check_exact(r.s, 0, end);
    status(r.s, 0, 2, -1, 0, SAMSA_REPLICA_OUT);
    rig_close(&r);
    test_dir_remove(r.root);
}
END_TEST

/* Save d0's t-0 segment files (closed) to root/keep (its path in keep):
 * the files whose bytes are the records and their indexes. */
static void
keep_t0(rig *r, char *keep)
{
    char cmd[3 * TEST_PATH_BUF];
    test_pathf(keep, r->root, "keep");
    snprintf(cmd, sizeof cmd,
             "mkdir '%s' && cp -a '%s/t-0/'*.*index '%s/t-0/'*.log '%s'", keep,
             r->d[0], r->d[0], keep);
    ck_assert_int_eq(system(cmd), 0);
}

/* A closed rig with t-0 on two copies (d0 leads) in at least two
 * segments (bases[0..*nb)), saved in keep: the log end. */
static int64_t
rig_t1_kept(rig *r, int64_t *bases, size_t *nb, char *keep)
{
    int64_t next = rig_t1(r, 2, 60);
    rig_close(r);
    *nb = test_seg_bases(r->d[0], "t", 0, bases, 16);
    ck_assert_uint_ge(*nb, 2);
    keep_t0(r, keep);
    return next;
}

/* Both copies of t-0 (d0 and d1, closed) hold the kept segment files,
 * byte for byte, and no other. */
static void
both_as_kept(rig *r, const char *keep)
{
    for (int d = 0; d < 2; d++) {
        char got[TEST_PATH_BUF], cmd[3 * TEST_PATH_BUF];
        test_pathf(got, r->d[d], "t-0");
        snprintf(cmd, sizeof cmd,
                 "cd '%s' && for f in *; do cmp -s \"$f\" '%s'/\"$f\" || "
                 "exit 1; done && test $(ls | wc -l) = $(ls '%s' | grep -c "
                 "-e '[.]log$' -e 'index$')",
                 keep, got, got);
        ck_assert_msg(system(cmd) == 0, "copy on d%d differs", d);
    }
}

/* Flip one byte of copy d's active segment of t-0 (two copies, on d0 and
 * d1), at pos. */
static void
flip(rig *r, int d, int64_t base, off_t pos, uint8_t x)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/t-0/%020lld.log", r->d[d], (long long)base);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t b;
    ck_assert_int_eq(pread(fd, &b, 1, pos), 1);
    b ^= x;
    ck_assert_int_eq(pwrite(fd, &b, 1, pos), 1);
    close(fd);
}

/* Issue 10, finding 1: with two copies, damage on the leader's active
 * segment (or on each copy, in different batches) is repaired from the
 * other copy at open, and the flusher's catch-up never spreads it; a
 * leader whose sealed segment was cut short does not lead. */
START_TEST(test_leader_damage_healed)
{
    rig r;
    int64_t bases[16];
    size_t nb;
    char keep[TEST_PATH_BUF];
    int64_t next = rig_t1_kept(&r, bases, &nb, keep);
    if (_i == 0) {
        flip(&r, 0, bases[nb - 1], 100, 0x01); /* the leader only */
    } else if (_i == 1) {
        flip(&r, 0, bases[nb - 1], 30, 0xff); /* each, another batch */
        flip(&r, 1, bases[nb - 1], 300, 0xff);
    } else { /* the leader's sealed segment cut short: trusted by recovery */
        char path[1024];
        struct stat st;
        snprintf(path, sizeof path, "%s/t-0/%020lld.log", r.d[0],
                 (long long)bases[0]);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(truncate(path, st.st_size - 1), 0);
    }
    rig_open(&r, SAMSA_SYNC_NONE);
    samsa__replica_pause(r.s, false);
    size_t joined;
    E(samsa_replica_catchup(r.s, &joined));
    status(r.s, 0, 2, -1, -1, 0);
    samsa_scrub_report rep;
    E(samsa_scrub(r.s, "t", &rep));
    ck_assert_uint_eq(rep.unrepairable, 0);
    check_exact(r.s, 0, next);
    rig_close(&r);
    both_as_kept(&r, keep);
    test_dir_remove(r.root);
}
END_TEST

/* Issue 10, finding 1, catch-up: the follower is out (it lost its last
 * batch while the store was closed) but its old files hold a good sealed
 * segment the leader has since damaged.  Catch-up heals the leader from
 * them before it rebuilds the follower, so neither copy ends damaged. */
START_TEST(test_catchup_heals_leader_first)
{
    rig r;
    int64_t bases[16];
    size_t nb;
    char keep[TEST_PATH_BUF], path[1024];
    int64_t next = rig_t1_kept(&r, bases, &nb, keep);
    /* the follower's active segment loses its tail: it lacks records */
    snprintf(path, sizeof path, "%s/t-0/%020lld.log", r.d[1],
             (long long)bases[nb - 1]);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(truncate(path, st.st_size - 1), 0);
    rig_open(&r, SAMSA_SYNC_NONE);
    status(r.s, 0, 1, 0, 1, SAMSA_REPLICA_OUT);
    /* now the leader's sealed first segment is damaged, in a record */
    flip(&r, 0, bases[0], 200, 0x01);
    size_t joined;
    E(samsa_replica_catchup(r.s, &joined));
    ck_assert_int_eq(joined, 1);
    status(r.s, 0, 2, 0, 1, SAMSA_REPLICA_INSYNC);
    samsa_scrub_report rep;
    E(samsa_scrub(r.s, "t", &rep));
    ck_assert_uint_eq(rep.damaged + rep.unrepairable, 0);
    check_exact(r.s, 0, next);
    rig_close(&r);
    both_as_kept(&r, keep);
    test_dir_remove(r.root);
}
END_TEST

/* Issue 10, finding 1, failover: when the leader leaves, the in-sync copy
 * with the most offsets proven good leads, not the next in placement
 * order when that one is damaged. */
START_TEST(test_failover_prefers_valid)
{
    rig r;
    int64_t next = rig_t3(&r, false, SAMSA_SYNC_ALWAYS, 100, 0);
    int64_t bases[16];
    size_t nb = test_seg_bases(r.d[0], "t", 0, bases, 16);
    flip(&r, 1, bases[nb - 1], 40, 0xff); /* d1, next in line, damaged */
    vanish(r.d[0]);
    test_produce_next(r.s, "t", 0, &next, 3); /* the sync finds d0 gone */
    status(r.s, 0, 2, 2, 0, SAMSA_REPLICA_OUT);
    check_exact(r.s, 0, next);
    samsa_scrub_report rep;
    E(samsa_scrub(r.s, "t", &rep));
    ck_assert_uint_eq(rep.damaged, 1);
    ck_assert_uint_eq(rep.repaired, 1);
    ck_assert_int_eq(mkdir(r.d[0], 0755), 0);
    rejoin_finish(&r, 1, next);
}
END_TEST

/* Threads: a producer and a reader run while the leader's directory is
 * removed and made again; the flusher's repair pass (not paused here)
 * catches it up.  The reader reads across the leader move. */
typedef struct bg {
    samsa *s;
    _Atomic int64_t acked; /* offsets below were acknowledged */
    atomic_bool stop;
} bg;

static void *
bg_producer(void *arg)
{
    bg *b = arg;
    int64_t next = 0;
    while (!atomic_load(&b->stop)) {
        test_produce_next(b->s, "t", 0, &next, 1 + (size_t)(next % 3));
        atomic_store(&b->acked, next);
    }
    return NULL;
}

static void *
bg_reader(void *arg)
{
    bg *b = arg;
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(b->s, "t", 0, 0, &c));
    int64_t o = 0;
    for (;;) {
        int rc = samsa_cursor_next(c, &m, 50);
        if (rc == SAMSA_ETIMEDOUT && atomic_load(&b->stop) &&
            o >= atomic_load(&b->acked))
            break;
        if (rc == SAMSA_ETIMEDOUT)
            continue;
        E(rc);
        TEST_CHECK_GEN(&m, o);
        o++;
    }
    samsa_cursor_close(c);
    return NULL;
}

static bool
wait_insync(samsa *s, int want, int ms)
{
    for (int i = 0; i < ms / 20; i++) {
        samsa_replica_info info[NDIRS];
        size_t n;
        int in = 0;
        E(samsa_replica_status(s, "t", 0, info, NDIRS, &n));
        for (size_t k = 0; k < n; k++)
            in += info[k].state == SAMSA_REPLICA_INSYNC;
        if (in == want)
            return true;
        usleep(20000);
    }
    return false;
}

START_TEST(test_background_catchup)
{
    rig r;
    rig_make(&r, false, SAMSA_SYNC_ALWAYS);
    samsa__replica_pause(r.s, false);
    make_topic(&r, 1, 3, 0);
    bg b = {.s = r.s};
    pthread_t pt, rt;
    ck_assert_int_eq(pthread_create(&pt, NULL, bg_producer, &b), 0);
    ck_assert_int_eq(pthread_create(&rt, NULL, bg_reader, &b), 0);
    while (atomic_load(&b.acked) < 100)
        usleep(1000);
    vanish(r.d[0]);
    ck_assert(wait_insync(r.s, 2, 10000));
    status(r.s, 0, 2, 1, 0, SAMSA_REPLICA_OUT);
    int64_t mid = atomic_load(&b.acked);
    while (atomic_load(&b.acked) < mid + 100)
        usleep(1000);
    ck_assert_int_eq(mkdir(r.d[0], 0755), 0);
    ck_assert(wait_insync(r.s, 3, 20000));
    int64_t after = atomic_load(&b.acked);
    while (atomic_load(&b.acked) < after + 50)
        usleep(1000);
    atomic_store(&b.stop, true);
    pthread_join(pt, NULL);
    pthread_join(rt, NULL);
    int64_t end = atomic_load(&b.acked);
    check_exact(r.s, 0, end);
    ck_assert_int_ge(r.events[SAMSA_REPLICA_EV_LEADER], 1);
    ck_assert_int_ge(r.events[SAMSA_REPLICA_EV_JOINED], 1);
    rig_close(&r);
    copies_identical(&r, 0, 3);
    for (int d = 0; d < NDIRS; d++)
        reopen_alone(&r, d, 1, &end);
    test_dir_remove(r.root);
}
END_TEST

/* Records 0.. that a cursor reads before it stops (end, or damage). */
static int64_t
read_prefix(samsa *s)
{
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, "t", 0, 0, &c));
    int64_t o = 0;
    int rc;
    while ((rc = samsa_cursor_next(c, &m, 0)) == 0) {
        TEST_CHECK_GEN(&m, o);
        o++;
    }
    ck_assert_msg(rc == SAMSA_ETIMEDOUT || rc == SAMSA_ECORRUPT, "at %lld: %s",
                  (long long)o, samsa_strerror(rc));
    samsa_cursor_close(c);
    return o;
}

/* A power cut drops or tears, at random, what no copy had synced, each
 * copy losing something else.  At open the longest in-sync copy leads and
 * the others, where they differ, are caught up: everything samsa_sync()
 * covered is there, intact (past it, as without replicas, what survived
 * of unsynced writes may hold damage, reported, never returned), and the
 * copies end identical.  Seeds _i. */
START_TEST(test_power_cut_reconcile)
{
    rig r;
    int64_t next = rig_t3(&r, true, SAMSA_SYNC_NONE, 150, 0);
    E(samsa_sync(r.s));
    int64_t synced = next;
    test_produce_upto(r.s, "t", 0, &next, 260, 4);
    E(faultio_power_cut(r.fi, FAULTIO_RANDOM, (uint64_t)_i + 1));
    ck_assert_int_ne(samsa_close(r.s), 0);
    faultio_free(r.fi);
    r.fi = NULL;
    rig_open(&r, SAMSA_SYNC_NONE);
    int64_t end = end_of(r.s, 0), got = read_prefix(r.s);
    ck_assert_int_ge(got, synced);
    ck_assert_int_le(got, end);
    ck_assert_int_le(end, next);
    size_t joined;
    E(samsa_replica_catchup(r.s, &joined));
    status(r.s, 0, 3, -1, -1, 0);
    ck_assert_int_eq(read_prefix(r.s), got);
    rig_close(&r);
    copies_identical(&r, 0, 3);
    test_dir_remove(r.root);
}
END_TEST

/* A clean close and open keeps every copy in sync, however many segments
 * (regression: copies of logs past 64 segments were taken out). */
START_TEST(test_reopen_keeps_isr)
{
    rig r;
    int64_t next = rig_t3(&r, false, SAMSA_SYNC_NONE, 3200, 0);
    int64_t bases[128];
    ck_assert_uint_gt(test_seg_bases(r.d[0], "t", 0, bases, 128), 64);
    rig_close(&r);
    rig_open(&r, SAMSA_SYNC_NONE);
    status(r.s, 0, 3, 0, -1, 0);
    ck_assert_int_eq(r.events[SAMSA_REPLICA_EV_OUT], 0);
    check_exact(r.s, 0, next);
    rig_close(&r);
    test_dir_remove(r.root);
}
END_TEST

/* Another module's catalog state goes to every directory too: a consumer
 * group's committed offset is there when each directory is opened alone. */
static int
committed_of(const samsa_group_offset *o, void *ctx)
{
    *(int64_t *)ctx = o->committed;
    return 0;
}

START_TEST(test_group_offsets_everywhere)
{
    rig r;
    int64_t next = rig_t3(&r, false, SAMSA_SYNC_NONE, 20, 0);
    const char *topics[] = {"t", NULL};
    samsa_consumer_config cc = {
        .group = "g", .topics = topics, .offset_reset = SAMSA_RESET_EARLIEST};
    samsa_consumer *c;
    E(samsa_consumer_open(r.s, &cc, &c));
    samsa_message m;
    for (int64_t o = 0; o < 5; o++) {
        E(samsa_consumer_poll(c, &m, 1000));
        ck_assert_int_eq(m.offset, o);
    }
    E(samsa_consumer_commit(c, NULL, 0));
    E(samsa_consumer_close(c));
    rig_close(&r);
    for (int d = 0; d < NDIRS; d++) {
        reopen_alone(&r, d, 1, &next);
        char solo[TEST_PATH_BUF];
        samsa *s = test_open(test_pathf(solo, r.root, "solo"));
        int64_t committed = -1;
        E(samsa_group_offsets(s, "g", committed_of, &committed));
        ck_assert_int_eq(committed, 5);
        E(samsa_close(s));
    }
    test_dir_remove(r.root);
}
END_TEST

/* ---- share-group journals on every directory ---------------------------- */

enum {
    QC_LOAD = 0,   /* only load the group (rewriting the journal copies) */
    QC_WORK = 1,   /* receive records 0..end-1 of t, accept the even ones */
    QC_VANISH = 2, /* QC_WORK, with d1 removed (and noticed) between the
                      receive and the accepts                             */
};

/* In a child killed with SIGKILL once it is done (so no close and no
 * checkpoint: the journals alone hold what it did): open the rig's
 * directories with sync, load share group g on t and do what. */
static void
queue_crash(rig *r, int sync, int what, int64_t end)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = test_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        const char *reps[] = {r->d[1], r->d[2], NULL};
        samsa_options o = {.replica_dirs = reps, .sync = sync};
        samsa *s;
        samsa_queue *q;
        samsa_delivery d[256];
        size_t n = 0;
        char cmd[TEST_PATH_BUF + 32];
        if (samsa_open(r->d[0], &o, &s) != 0 ||
            samsa_queue_open(s, "g", "t", NULL, &q) != 0)
            _exit(2);
        while (what != QC_LOAD &&
               n < (size_t)end) { /* may stop at a segment end */
            size_t got = 0;
            if (samsa_queue_receive(q, d + n, 256 - n, &got, 0) != 0)
                _exit(3);
            n += got;
        }
        if (n != (what == QC_LOAD ? 0 : (size_t)end))
            _exit(3);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->d[1]);
        if (what == QC_VANISH &&
            (system(cmd) != 0 || samsa_replica_catchup(s, NULL) != 0))
            _exit(4);
        for (size_t i = 0; i < n; i++)
            if (d[i].msg.offset % 2 == 0 &&
                samsa_queue_ack(q, &d[i], 1, SAMSA_ACK_ACCEPT) != 0)
                _exit(5);
        if (write(fds[1], "x", 1) != 1)
            _exit(6);
        pause();
        _exit(7);
    }
    close(fds[1]);
    char c;
    ssize_t got = read(fds[0], &c, 1); /* 0: the child failed */
    close(fds[0]);
    if (got == 1)
        kill(pid, SIGKILL);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFSIGNALED(st), "child exit %d", WEXITSTATUS(st));
}

/* Directory d opened alone: of t's records 0..end-1, the accepted (even)
 * ones never come back, the acquired ones (odd) do, delivered once before. */
static void
queue_check_alone(rig *r, int d, int64_t end)
{
    char solo[TEST_PATH_BUF];
    samsa *s = open_alone(r, d, solo);
    samsa_queue *q;
    E(samsa_queue_open(s, "g", "t", NULL, &q));
    samsa_delivery dl[256];
    size_t n = 0, got;
    while (samsa_queue_receive(q, dl + n, 256 - n, &got, 0) == 0)
        n += got;
    ck_assert_uint_eq(n, (size_t)end / 2);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(dl[i].msg.offset % 2, 1);
        ck_assert_int_eq(dl[i].delivery_count, 2);
    }
    samsa_queue_close(q);
    E(samsa_close(s));
}

/* The path of directory d's journal of g on t-0 (t, the store's first
 * topic, has id 1). */
static void
journal_of(rig *r, int d, char *path)
{
    test_pathf(path, r->d[d], "queues/g/1-0.journal");
}

/* Acknowledgements and acquisitions made since the last checkpoint are in
 * the journal of every directory: each one alone, after kill -9, brings
 * back the acquired records with their delivery counts and never the
 * accepted ones. */
START_TEST(test_queue_journal_everywhere)
{
    static const int syncs[] = {SAMSA_SYNC_NONE, SAMSA_SYNC_ALWAYS};
    rig r;
    int64_t end = rig_t3(&r, false, syncs[_i], 20, 0);
    rig_close(&r);
    queue_crash(&r, syncs[_i], QC_WORK, end);
    char a[TEST_PATH_BUF], b[TEST_PATH_BUF];
    journal_of(&r, 0, a);
    for (int d = 1; d < NDIRS; d++)
        ck_assert(same_bytes(a, (journal_of(&r, d, b), b)));
    for (int d = 0; d < NDIRS; d++)
        queue_check_alone(&r, d, end);
    test_dir_remove(r.root);
}
END_TEST

/* A directory that vanishes while the store runs gets no more journal
 * writes and crashes nothing; the other copies keep every change. */
START_TEST(test_queue_journal_dir_vanishes)
{
    rig r;
    int64_t end = rig_t3(&r, false, SAMSA_SYNC_NONE, 20, 0);
    rig_close(&r);
    queue_crash(&r, SAMSA_SYNC_NONE, QC_VANISH, end);
    ck_assert(!test_exists(r.d[1]));
    queue_check_alone(&r, 0, end);
    queue_check_alone(&r, 2, end);
    test_dir_remove(r.root);
}
END_TEST

/* A replica directory missing when the group is loaded has no journal
 * copy; back, it gets one rewritten from the primary's at the next load,
 * and then opens alone with nothing lost. */
START_TEST(test_queue_journal_rewritten)
{
    rig r;
    int64_t end = rig_t3(&r, false, SAMSA_SYNC_NONE, 20, 0);
    rig_close(&r);
    vanish(r.d[2]);
    queue_crash(&r, SAMSA_SYNC_NONE, QC_WORK, end);
    char a[TEST_PATH_BUF], b[TEST_PATH_BUF];
    journal_of(&r, 0, a);
    journal_of(&r, 2, b);
    ck_assert(!test_exists(b));
    ck_assert_int_eq(mkdir(r.d[2], 0755), 0);
    rig_open(&r, SAMSA_SYNC_NONE); /* the log copy is rebuilt, not the */
    size_t joined = 99;            /* journal: no group is loaded      */
    E(samsa_replica_catchup(r.s, &joined));
    ck_assert_int_eq(joined, 1);
    rig_close(&r);
    ck_assert(!test_exists(b));
    queue_crash(&r, SAMSA_SYNC_NONE, QC_LOAD, end);
    ck_assert(test_exists(b));
    ck_assert(same_bytes(a, b));
    for (int d = 0; d < NDIRS; d++)
        queue_check_alone(&r, d, end);
    test_dir_remove(r.root);
}
END_TEST

/* Deleting the topic removes its share groups' journals from every
 * directory, the copies with the primary's. */
START_TEST(test_queue_journal_deleted_everywhere)
{
    rig r;
    int64_t end = rig_t3(&r, false, SAMSA_SYNC_NONE, 20, 0);
    rig_close(&r);
    queue_crash(&r, SAMSA_SYNC_NONE, QC_WORK, end);
    char b[TEST_PATH_BUF];
    for (int d = 0; d < NDIRS; d++)
        ck_assert(test_exists((journal_of(&r, d, b), b)));
    rig_open(&r, SAMSA_SYNC_NONE);
    samsa_queue *q;
    E(samsa_queue_open(r.s, "g", "t", NULL, &q));
    E(samsa_topic_delete(r.s, "t"));
    samsa_queue_close(q);
    for (int d = 0; d < NDIRS; d++)
        ck_assert(!test_exists((journal_of(&r, d, b), b)));
    rig_close(&r);
    test_dir_remove(r.root);
}
END_TEST

/* ---- the sync pool ----------------------------------------------------------
 */

static _Thread_local int pool_caller; /* set by each calling thread */
static _Atomic long pool_runs;

/* A job: count it, say whether the caller ran it (2) or a worker (1),
 * and take a little time, so that workers are busy when others queue. */
static void
pool_job(sync_job *j)
{
    atomic_fetch_add(&pool_runs, 1);
    j->rc = pool_caller ? 2 : 1;
    if (j->disk == 1)
        usleep(200);
}

typedef struct pool_arg {
    sync_pool *p;
    int calls;
    long by_caller; /* jobs after the first that the caller ran itself */
} pool_arg;

static void *
pool_caller_main(void *arg)
{
    pool_arg *a = arg;
    pool_caller = 1;
    for (int c = 0; c < a->calls; c++) {
        sync_job jobs[3];
        for (int k = 0; k < 3; k++)
            jobs[k] = (sync_job){.fn = pool_job, .disk = k, .rc = 0};
        sync_pool_run(a->p, jobs, 3);
        ck_assert_int_eq(jobs[0].rc, 2); /* the first: always the caller */
        for (int k = 1; k < 3; k++) {
            ck_assert(jobs[k].rc == 1 || jobs[k].rc == 2); /* done */
            a->by_caller += jobs[k].rc == 2;
        }
    }
    return NULL;
}

/* Every job runs exactly once and is done when sync_pool_run returns,
 * with workers, with none, and when the workers are busy with other
 * callers' jobs (the caller takes its own back). */
START_TEST(test_sync_pool)
{
    for (int workers = 0; workers <= 2; workers += 2) {
        sync_pool p;
        sync_pool_start(&p, workers);
        ck_assert_int_eq(p.nthreads, workers);
        atomic_store(&pool_runs, 0);
        enum { CALLERS = 6, CALLS = 150 };
        pool_arg a[CALLERS];
        pthread_t th[CALLERS];
        for (int i = 0; i < CALLERS; i++) {
            a[i] = (pool_arg){&p, CALLS, 0};
            ck_assert_int_eq(
                pthread_create(&th[i], NULL, pool_caller_main, &a[i]), 0);
        }
        long by_caller = 0;
        for (int i = 0; i < CALLERS; i++) {
            pthread_join(th[i], NULL);
            by_caller += a[i].by_caller;
        }
        sync_pool_stop(&p);
        ck_assert_int_eq(atomic_load(&pool_runs), (long)CALLERS * CALLS * 3);
        if (workers == 0)
            ck_assert_int_eq(by_caller, (long)CALLERS * CALLS * 2);
        else /* six callers, two workers: some jobs are taken back */
            ck_assert_int_gt(by_caller, 0);
    }
    sync_pool_run(NULL, NULL, 0); /* nothing to do */
}
END_TEST

/* The bytes of the file at path are exactly want (a file samsa did not
 * make, which nothing may remove or change). */
static void
check_bytes(const char *path, const char *want)
{
    size_t len;
    uint8_t *got = test_slurp(path, &len);
    ck_assert_uint_eq(len, strlen(want));
    ck_assert(memcmp(got, want, len) == 0);
    free(got);
}

/* Copy on directory dir of t-0 is out, for why. */
static void
out_for(samsa *s, int dir, int why)
{
    samsa_replica_info info[NDIRS];
    size_t n = 0;
    E(samsa_replica_status(s, "t", 0, info, NDIRS, &n));
    for (size_t i = 0; i < n; i++)
        if (info[i].dir == dir) {
            ck_assert_int_eq(info[i].state, SAMSA_REPLICA_OUT);
            EQ_RC(info[i].reason, why);
            return;
        }
    ck_abort_msg("no copy on d%d", dir);
}

#define STRAY "not a segment: the user's\n"

/* A file under a segment's name inside the records of the segment
 * before it, in every copy (log.c, "Foreign files"): the open fails with
 * SAMSA_ECORRUPT, as without copies, and removes nothing (regression: it
 * said SAMSA_ENOTENOUGHREPLICAS, which sends one looking for a missing
 * directory).  In one copy only, that copy is taken out (the reason
 * SAMSA_ECORRUPT, not SAMSA_EIO: its disk reads well) and every record is
 * read from the others; the copy is not rebuilt while the file is there
 * (regression: catch-up emptied the directory, the stray file with it),
 * neither by samsa_replica_catchup() nor by the background pass, and
 * stays out for SAMSA_ECORRUPT with its files as they were.  Once the
 * file is moved away the background pass rebuilds it. */
START_TEST(test_stray_file_in_copies)
{
    for (int all = 0; all < 2; all++) {
        rig r;
        int64_t next = rig_t3(&r, false, 0, 200, 0);
        rig_close(&r);
        int64_t bases[64];
        ck_assert_uint_ge(test_seg_bases(r.d[0], "t", 0, bases, 64), 3);
        char name[64], path[TEST_PATH_BUF], aside[TEST_PATH_BUF];
        snprintf(name, sizeof name, "t-0/%020lld.log",
                 (long long)(bases[1] + 1));
        for (int c = all ? 0 : 1; c < (all ? NDIRS : 2); c++)
            test_spew(test_pathf(path, r.d[c], name), STRAY, strlen(STRAY),
                      O_EXCL);
        const char *reps[] = {r.d[1], r.d[2], NULL};
        samsa_options o = {.replica_dirs = reps};
        if (all) {
            samsa *s = NULL;
            EQ_RC(samsa_open(r.d[0], &o, &s), SAMSA_ECORRUPT);
            ck_assert_ptr_null(s);
            for (int c = 0; c < NDIRS; c++) { /* left, then moved away */
                check_bytes(test_pathf(path, r.d[c], name), STRAY);
                ck_assert_int_eq(unlink(path), 0);
            }
        }
        E(samsa_open(r.d[0], &o, &r.s));
        samsa__replica_pause(r.s, true); /* out until looked at */
        status(r.s, 0, all ? 3 : 2, 0, 1,
               all ? SAMSA_REPLICA_INSYNC : SAMSA_REPLICA_OUT);
        if (!all) /* why: the file, not the disk */
            out_for(r.s, 1, SAMSA_ECORRUPT);
        test_read_range(r.s, "t", 0, 0, next);
        if (!all) {
            char part[TEST_PATH_BUF], before[8192], after[8192];
            test_dir_list(test_pathf(part, r.d[1], "t-0"), true, before,
                          sizeof before);
            size_t joined = 99;
            EQ_RC(samsa_replica_catchup(r.s, &joined), SAMSA_ECORRUPT);
            ck_assert_int_eq(joined, 0);
            samsa__replica_pause(r.s, false); /* the pass: the same */
            ck_assert(!wait_insync(r.s, 3, 1500));
            samsa__replica_pause(r.s, true);
            out_for(r.s, 1, SAMSA_ECORRUPT);
            test_dir_list(part, true, after, sizeof after);
            ck_assert_str_eq(after, before);
            check_bytes(test_pathf(path, r.d[1], name), STRAY);
            test_produce_next(r.s, "t", 0, &next, 3); /* two copies take it */
            test_read_range(r.s, "t", 0, 0, next);
            test_pathf(aside, r.root, "stray");
            ck_assert_int_eq(rename(path, aside), 0);
        }
        samsa__replica_pause(r.s, false);
        ck_assert(wait_insync(r.s, 3, 20000));
        test_read_range(r.s, "t", 0, 0, next);
        E(samsa_close(r.s));
        r.s = NULL;
        copies_identical(&r, 0, 3);
        if (!all)
            check_bytes(aside, STRAY);
        test_dir_remove(r.root);
    }
}
END_TEST

/* A file samsa did not make (notes.txt) in an out copy's partition
 * directory: catch-up removes nothing and does not rebuild the copy, which
 * stays out for SAMSA_ECORRUPT (what samsa_replica_catchup() returns), its
 * directory as it was, while the other copies take and serve every record;
 * the same after a reopen (regression: the rebuild emptied the directory,
 * notes.txt with it).  Moved away, the next samsa_replica_catchup()
 * rebuilds the copy and it rejoins. */
START_TEST(test_foreign_file_keeps_copy_out)
{
    rig r;
    int64_t next = rig_sync_fails(&r, 1, 60);
    faultio_clear(r.fi);
    faultio_filter(r.fi, NULL);
    out_for(r.s, 1, SAMSA_EIO);
    static const char notes[] = "samsa must not remove this\n";
    char part[TEST_PATH_BUF], path[TEST_PATH_BUF], aside[TEST_PATH_BUF];
    char before[8192], after[8192];
    test_pathf(part, r.d[1], "t-0");
    test_spew(test_pathf(path, part, "notes.txt"), notes, strlen(notes),
              O_EXCL);
    test_dir_list(part, true, before, sizeof before);
    for (int reopen = 0; reopen < 2; reopen++) {
        if (reopen) {
            rig_close(&r);
            rig_open(&r, SAMSA_SYNC_ALWAYS);
            status(r.s, 0, 2, 0, 1, SAMSA_REPLICA_OUT);
            out_for(r.s, 1, SAMSA_ECORRUPT); /* known at open */
        }
        size_t joined = 99;
        EQ_RC(samsa_replica_catchup(r.s, &joined), SAMSA_ECORRUPT);
        ck_assert_int_eq(joined, 0);
        status(r.s, 0, 2, 0, 1, SAMSA_REPLICA_OUT);
        out_for(r.s, 1, SAMSA_ECORRUPT);
        test_dir_list(part, true, after, sizeof after);
        ck_assert_str_eq(after, before);
        check_bytes(path, notes);
        test_produce_next(r.s, "t", 0, &next, 5);
        check_exact(r.s, 0, next);
    }
    test_pathf(aside, r.root, "notes.txt");
    ck_assert_int_eq(rename(path, aside), 0);
    size_t joined = 99;
    E(samsa_replica_catchup(r.s, &joined));
    ck_assert_int_eq(joined, 1);
    status(r.s, 0, 3, 0, 1, SAMSA_REPLICA_INSYNC);
    check_bytes(aside, notes);
    rejoin_finish(&r, 0, next);
}
END_TEST

/* An out copy's partition directory that is a symbolic link (to the
 * copy's old files moved elsewhere): catch-up neither follows it nor
 * removes anything behind it (regression: the files behind the link were
 * unlinked, then the mkdir failed with -EEXIST); the copy stays out for
 * SAMSA_ECORRUPT.  With the link gone, it is rebuilt. */
START_TEST(test_catchup_dir_symlink)
{
    rig r;
    int64_t next = rig_sync_fails(&r, 1, 40);
    faultio_clear(r.fi);
    faultio_filter(r.fi, NULL);
    char part[TEST_PATH_BUF], away[TEST_PATH_BUF], before[8192], after[8192];
    test_pathf(part, r.d[1], "t-0");
    test_pathf(away, r.root, "moved");
    ck_assert_int_eq(rename(part, away), 0);
    ck_assert_int_eq(symlink(away, part), 0);
    test_dir_list(away, true, before, sizeof before);
    size_t joined = 99;
    EQ_RC(samsa_replica_catchup(r.s, &joined), SAMSA_ECORRUPT);
    ck_assert_int_eq(joined, 0);
    out_for(r.s, 1, SAMSA_ECORRUPT);
    test_dir_list(away, true, after, sizeof after);
    ck_assert_str_eq(after, before);
    check_exact(r.s, 0, next);
    ck_assert_int_eq(unlink(part), 0);
    rejoin_finish(&r, 1, next);
}
END_TEST

Suite *
replica_suite(void)
{
    Suite *s = suite_create("replica");
    TCase *tc = tcase_create("replica");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_placement);
    tcase_add_test(tc, test_stray_file_in_copies);
    tcase_add_test(tc, test_foreign_file_keeps_copy_out);
    tcase_add_test(tc, test_catchup_dir_symlink);
    tcase_add_test(tc, test_sync_pool);
    tcase_add_test(tc, test_reopen_keeps_isr);
    tcase_add_test(tc, test_group_offsets_everywhere);
    tcase_add_loop_test(tc, test_queue_journal_everywhere, 0, 2);
    tcase_add_test(tc, test_queue_journal_dir_vanishes);
    tcase_add_test(tc, test_queue_journal_rewritten);
    tcase_add_test(tc, test_queue_journal_deleted_everywhere);
    tcase_add_loop_test(tc, test_fault_each_site, 0, 2);
    tcase_add_test(tc, test_fsync_not_retried);
    tcase_add_test(tc, test_min_insync);
    tcase_add_test(tc, test_failover_cursor);
    tcase_add_test(tc, test_dir_vanishes);
    tcase_add_test(tc, test_scrub_repairs);
    tcase_add_test(tc, test_scrub_unrepairable);
    tcase_add_test(tc, test_reconcile_on_open);
    tcase_add_test(tc, test_background_catchup);
    tcase_add_loop_test(tc, test_power_cut_reconcile, 0, 8);
    tcase_add_test(tc, test_removed_dir_comes_back);
    tcase_add_test(tc, test_leader_file_gone_after_create);
    tcase_add_loop_test(tc, test_leader_damage_healed, 0, 3);
    tcase_add_test(tc, test_catchup_heals_leader_first);
    tcase_add_test(tc, test_failover_prefers_valid);
    suite_add_tcase(s, tc);
    return s;
}
