/*
 * check_catalog.c - the catalog under damage, a full disk and failing
 * LMDB calls (issue 10, findings 4 and 6).
 *
 *  - Damage: a real store's data.mdb mutated byte by byte (xor 0x01, xor
 *    0xFF, set 0x00: every byte of the meta pages' contents and a stride
 *    over the rest; every byte with SAMSA_LONG=1) and truncated at many
 *    lengths.  Each open runs in a forked child so that a crash is counted
 *    as a failure (never hidden): the open must give 0 with exactly the
 *    store's topics, records and committed offsets, or SAMSA_ECORRUPT
 *    with no file changed.  With two directories every damaged catalog
 *    is rebuilt from the other and the store opens whole.
 *  - A full disk: a real tmpfs filled to ENOSPC (root only; otherwise
 *    SKIPPED with the reason) and the same through the LMDB fault hook:
 *    SAMSA_ENOSPC, nothing changed, and everything works again once space
 *    is freed, without reopening.
 *  - LMDB faults: a workload (open, topic create and delete, produce,
 *    consumer commit, queue ack, sync, close) run once per LMDB call it
 *    makes, that call failing with MDB_MAP_FULL, EIO, ENOSPC or ENOMEM:
 *    the operation gives the matching code and changes nothing, a retry
 *    works, and reopening shows exactly what was acknowledged.
 *
 * Every case count is printed, so a run says how much it covered.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "test.h"

static bool
long_run(void)
{
    return test_long();
}

/* ---- a model of what the store must hold --------------------------------- */

#define MAXT 4
#define MAXP 3
#define MAXC 8

typedef struct model {
    struct {
        char name[16];     /* the topic                              */
        int np;            /* partitions; 0: does not exist          */
        int64_t end[MAXP]; /* each partition's log end               */
    } t[MAXT];
    struct {
        char group[8]; /* a consumer group                       */
        int topic;     /* index into t                           */
        int32_t p;     /* partition                              */
        int64_t off;   /* its committed offset                   */
    } c[MAXC];
    int nc;
    int64_t accepted; /* queue "q" on t[0]-0: offsets below are
                         accepted (acknowledged), -1: none      */
} model;

static int
find_topic(const model *m, const char *name)
{
    for (int i = 0; i < MAXT; i++)
        if (strcmp(m->t[i].name, name) == 0)
            return i;
    return -1;
}

static void
commit_model(model *m, const char *group, int topic, int32_t p, int64_t off)
{
    for (int i = 0; i < m->nc; i++)
        if (strcmp(m->c[i].group, group) == 0 && m->c[i].topic == topic &&
            m->c[i].p == p) {
            m->c[i].off = off;
            return;
        }
    ck_assert_int_lt(m->nc, MAXC);
    snprintf(m->c[m->nc].group, sizeof m->c[0].group, "%s", group);
    m->c[m->nc].topic = topic;
    m->c[m->nc].p = p;
    m->c[m->nc++].off = off;
}

static void
value_of(char *buf, size_t n, const char *topic, int32_t p, int64_t off)
{
    snprintf(buf, n, "%s-%d-%lld", topic, (int)p, (long long)off);
}

/* Produce n records to topic-p; on success the model's end moves. */
static int
produce(samsa *s, model *m, const char *topic, int32_t p, int n)
{
    int ti = find_topic(m, topic);
    char vals[8][48];
    samsa_record r[8];
    memset(r, 0, sizeof r);
    for (int i = 0; i < n; i++) {
        value_of(vals[i], sizeof vals[i], topic, p, m->t[ti].end[p] + i);
        r[i].value = vals[i];
        r[i].value_len = strlen(vals[i]);
    }
    int rc = samsa_produce(s, topic, p, r, (size_t)n);
    if (rc == 0) {
        ck_assert_int_eq(r[0].offset, m->t[ti].end[p]);
        m->t[ti].end[p] += n;
    }
    return rc;
}

typedef struct offs_seen {
    const model *m;
    const char *group;
    int found;
    const char *bad; /* the first mismatch, or NULL */
} offs_seen;

static int
offs_one(const samsa_group_offset *o, void *ctx)
{
    offs_seen *os = ctx;
    for (int i = 0; i < os->m->nc; i++) {
        if (strcmp(os->m->c[i].group, os->group) != 0 ||
            os->m->t[os->m->c[i].topic].np == 0 ||
            strcmp(os->m->t[os->m->c[i].topic].name, o->topic) != 0 ||
            os->m->c[i].p != o->partition)
            continue;
        os->found++;
        if (os->m->c[i].off != o->committed)
            os->bad = "a committed offset differs";
        return 0;
    }
    os->bad = "a committed offset that was never committed";
    return 0;
}

/* NULL when s holds exactly the model (records, topics, committed
 * offsets), else what differs.  Asserts nothing: it runs in forked
 * children too. */
static const char *
verify(samsa *s, const model *m)
{
    for (int i = 0; i < MAXT; i++) {
        if (m->t[i].name[0] == '\0')
            continue;
        samsa_topic_config cfg;
        int rc = samsa_topic_describe(s, m->t[i].name, &cfg);
        if (m->t[i].np == 0) {
            if (rc != SAMSA_ENOTOPIC)
                return "a deleted or never created topic exists";
            continue;
        }
        if (rc != 0 || cfg.partitions != m->t[i].np)
            return "a topic is missing or has other partitions";
        for (int32_t p = 0; p < m->t[i].np; p++) {
            int64_t first, end;
            if (samsa_offsets(s, m->t[i].name, p, &first, &end) != 0 ||
                first != 0 || end != m->t[i].end[p])
                return "a partition's offsets differ";
            samsa_cursor *c;
            if (samsa_cursor_open(s, m->t[i].name, p, 0, &c) != 0)
                return "a cursor does not open";
            for (int64_t o = 0; o < end; o++) {
                samsa_message msg;
                char want[48];
                value_of(want, sizeof want, m->t[i].name, p, o);
                if (samsa_cursor_next(c, &msg, 0) != 0 || msg.offset != o ||
                    msg.value_len != strlen(want) ||
                    memcmp(msg.value, want, msg.value_len) != 0) {
                    samsa_cursor_close(c);
                    return "a record differs";
                }
            }
            samsa_cursor_close(c);
        }
    }
    for (int i = 0; i < m->nc; i++) {
        offs_seen os = {m, m->c[i].group, 0, NULL};
        int want = 0;
        for (int j = 0; j < m->nc; j++)
            want += strcmp(m->c[j].group, m->c[i].group) == 0 &&
                    m->t[m->c[j].topic].np > 0;
        if (samsa_group_offsets(s, m->c[i].group, offs_one, &os) != 0)
            return "a group's offsets do not read";
        if (os.bad != NULL)
            return os.bad;
        if (os.found != want)
            return "a committed offset is missing";
    }
    return NULL;
}

/* The queue "q" on t[0]: the accepted records never come again, every
 * other one does.  Releases what it receives. */
static const char *
verify_queue(samsa *s, const model *m)
{
    if (m->accepted < 0 || m->t[0].np == 0)
        return NULL;
    samsa_queue_config qc = {.lock_ms = 1, .max_attempts = 1000};
    samsa_queue *q;
    if (samsa_queue_open(s, "q", m->t[0].name, &qc, &q) != 0)
        return "the queue does not open";
    int64_t want = 0, got = 0;
    for (int32_t p = 0; p < m->t[0].np; p++)
        want += m->t[0].end[p];
    want -= m->accepted;
    const char *bad = NULL;
    samsa_delivery d[64];
    size_t n;
    while (bad == NULL && got < want &&
           samsa_queue_receive(q, d, 64, &n, 0) == 0) {
        for (size_t i = 0; i < n; i++)
            if (d[i].msg.partition == 0 && d[i].msg.offset < m->accepted)
                bad = "an accepted record was delivered again";
        got += (int64_t)n;
        samsa_queue_ack(q, d, n, SAMSA_ACK_RELEASE);
    }
    samsa_queue_close(q);
    return bad != NULL ? bad : got == want ? NULL : "queue records are missing";
}

/* A test directory, on a tmpfs of its own when the test may mount one:
 * the damage sweeps open a store thousands of times, and each open
 * fsyncs the catalog; on tmpfs that costs nothing.  (Elsewhere they run
 * as well, only slower.)  *mounted says whether to unmount. */
static const char *
sweep_dir(bool *mounted)
{
    const char *dir = test_dir_make();
    *mounted =
        geteuid() == 0 && mount("tmpfs", dir, "tmpfs", 0, "size=256m") == 0;
    return dir;
}

/* The four directories of a sweep in base: the store's template and its
 * replica directory's, and the copies each case damages. */
static void
sweep_paths(const char *base, char *tmpl, char *rtmpl, char *work, char *rwork)
{
    test_pathf(tmpl, base, "tmpl");
    test_pathf(rtmpl, base, "rtmpl");
    test_pathf(work, base, "work");
    test_pathf(rwork, base, "rwork");
}

static void
sweep_dir_done(const char *dir, bool mounted)
{
    if (mounted)
        umount2(dir, MNT_DETACH);
    test_dir_remove(dir);
}

/* ---- the store the damage tests start from --------------------------------
 */

static void
build_store(const char *dir, const char *const *replicas, model *m)
{
    memset(m, 0, sizeof *m);
    m->accepted = -1;
    samsa_options o = {.replica_dirs = replicas};
    samsa *s;
    E(samsa_open(dir, &o, &s));
    const char *names[] = {"alpha", "beta", "gamma"};
    for (int i = 0; i < 3; i++) {
        samsa_topic_config cfg = {.partitions = i + 1,
                                  .replicas = replicas ? 2 : 1,
                                  .segment_bytes = 4096};
        E(samsa_topic_create(s, names[i], &cfg));
        snprintf(m->t[i].name, sizeof m->t[i].name, "%s", names[i]);
        m->t[i].np = i + 1;
        for (int32_t p = 0; p <= i; p++)
            E(produce(s, m, names[i], p, 2 + p));
    }
    const char *topics[] = {"alpha", "gamma", NULL};
    samsa_consumer_config cc = {
        .group = "g1", .topics = topics, .offset_reset = SAMSA_RESET_EARLIEST};
    samsa_consumer *c;
    E(samsa_consumer_open(s, &cc, &c));
    samsa_message msg;
    E(samsa_consumer_poll(c, &msg, 0));
    samsa_topic_partition tp[] = {{"alpha", 0, 1}, {"gamma", 2, 3}};
    E(samsa_consumer_commit(c, tp, 2));
    commit_model(m, "g1", 0, 0, 1);
    commit_model(m, "g1", 2, 2, 3);
    E(samsa_consumer_close(c));
    E(samsa_close(s));
}

static uint8_t *
read_file(const char *path, size_t *n)
{
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    uint8_t *b = malloc((size_t)st.st_size + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
    close(fd);
    *n = (size_t)st.st_size;
    return b;
}

static void
write_file(const char *path, const uint8_t *b, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, b, n), (ssize_t)n);
    close(fd);
}

/* The outcomes of one damaged open, as a forked child's exit status. */
enum { OUT_OK, OUT_CORRUPT, OUT_WRONG, OUT_OTHER, OUT_CLOSE, OUT_N };

/* Open dir (with replicas) in a child and judge it against m. */
static int
open_in_child(const char *dir, const char *const *replicas, const model *m,
              int *sig)
{
    fflush(stdout);
    pid_t pid = test_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        alarm(20); /* a loop over a damaged page is a failure too */
        samsa_options o = {.replica_dirs = replicas};
        samsa *s;
        int rc = samsa_open(dir, &o, &s);
        if (rc == SAMSA_ECORRUPT)
            _exit(OUT_CORRUPT);
        if (rc != 0) {
            fprintf(stderr, "open: %s\n", samsa_strerror(rc));
            _exit(OUT_OTHER);
        }
        const char *bad = verify(s, m);
        if (bad != NULL)
            fprintf(stderr, "%s: %s\n", dir, bad);
        rc = samsa_close(s);
        _exit(bad != NULL ? OUT_WRONG : rc != 0 ? OUT_CLOSE : OUT_OK);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    *sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
copy_file(const char *from, const char *to)
{
    size_t n;
    uint8_t *b = read_file(from, &n);
    write_file(to, b, n);
    free(b);
}

/* Copy the store at src (files, and directories of files) to dst. */
static void
copy_tree(const char *src, const char *dst)
{
    test_dir_remove(dst);
    ck_assert_int_eq(mkdir(dst, 0755), 0);
    DIR *d = opendir(src);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char a[TEST_PATH_BUF], b[TEST_PATH_BUF];
        test_pathf(a, src, e->d_name);
        test_pathf(b, dst, e->d_name);
        struct stat st;
        ck_assert_int_eq(stat(a, &st), 0);
        if (!S_ISDIR(st.st_mode)) {
            copy_file(a, b);
            continue;
        }
        ck_assert_int_eq(mkdir(b, 0755), 0);
        DIR *sub = opendir(a);
        ck_assert_ptr_nonnull(sub);
        struct dirent *f;
        while ((f = readdir(sub)) != NULL) {
            char fa[TEST_PATH_BUF], fb[TEST_PATH_BUF];
            if (f->d_name[0] != '.')
                copy_file(test_pathf(fa, a, f->d_name),
                          test_pathf(fb, b, f->d_name));
        }
        closedir(sub);
    }
    closedir(d);
}

typedef struct sweep {
    long cases;         /* opens judged                        */
    long out[OUT_N];    /* by outcome                          */
    long crashes;       /* children killed by a signal         */
    long unchanged_bad; /* ECORRUPT and a file changed         */
    size_t first_ok;    /* shortest image opened whole, +1 (0: none) */
    size_t last_bad;    /* longest image refused, +1 (0: none)       */
} sweep;

static void
sweep_report(const char *what, const sweep *sw)
{
    printf("catalog: %s: %ld cases: %ld whole, %ld SAMSA_ECORRUPT, "
           "%ld wrong content, %ld other errors, %ld close failures, "
           "%ld crashes, %ld files changed by a refused open\n",
           what, sw->cases, sw->out[OUT_OK], sw->out[OUT_CORRUPT],
           sw->out[OUT_WRONG], sw->out[OUT_OTHER], sw->out[OUT_CLOSE],
           sw->crashes, sw->unchanged_bad);
}

/* One damaged data.mdb (img, n bytes) in a copy of the store at tmpl:
 * open it in a child and count the outcome.  With a replica directory
 * (rtmpl) the damaged copy is the primary's, and the open must rebuild it
 * from the replica's and come up whole. */
static void
one_case(sweep *sw, const char *tmpl, const char *rtmpl, const char *work,
         const char *rwork, const model *m, const uint8_t *img, size_t n)
{
    char path[TEST_PATH_BUF];
    copy_tree(tmpl, work);
    if (rtmpl != NULL)
        copy_tree(rtmpl, rwork);
    test_pathf(path, work, "catalog/data.mdb");
    write_file(path, img, n);
    const char *reps[] = {rwork, NULL};
    int sig;
    int out = open_in_child(work, rtmpl ? reps : NULL, m, &sig);
    if (getenv("CATALOG_DEBUG"))
        fprintf(stderr, "case %ld: %zu bytes: outcome %d signal %d\n",
                sw->cases, n, out, sig);
    sw->cases++;
    if (out < 0 || out >= OUT_N) {
        sw->crashes++;
        fprintf(stderr, "catalog: open crashed (signal %d) on %s\n", sig, path);
        return;
    }
    sw->out[out]++;
    if (out == OUT_OK && (sw->first_ok == 0 || n + 1 < sw->first_ok))
        sw->first_ok = n + 1;
    if (out == OUT_CORRUPT && n + 1 > sw->last_bad)
        sw->last_bad = n + 1;
    if (out == OUT_CORRUPT) { /* nothing may have changed */
        size_t n2;
        uint8_t *b = read_file(path, &n2);
        if (n2 != n || memcmp(b, img, n) != 0)
            sw->unchanged_bad++;
        free(b);
    }
}

static void
sweep_assert(const sweep *sw, bool rebuild)
{
    ck_assert_int_eq(sw->crashes, 0);
    ck_assert_int_eq(sw->out[OUT_OTHER], 0);
    ck_assert_int_eq(sw->out[OUT_CLOSE], 0);
    ck_assert_int_eq(sw->out[OUT_WRONG], 0);
    ck_assert_int_eq(sw->unchanged_bad, 0);
    if (rebuild) /* every damaged primary was rebuilt from the replica */
        ck_assert_int_eq(sw->out[OUT_CORRUPT], 0);
}

/* Mutate data.mdb three ways (xor 0x01, xor 0xFF, set 0x00) at every
 * byte of the meta pages' contents (the 152 bytes LMDB reads of each) and
 * at a stride over the rest; with two directories, by default, every
 * fourth meta byte one way (in turn) and a wider stride; SAMSA_LONG=1:
 * every byte of both meta pages, a stride of 7 over the rest, each three
 * ways. */
static void
mutate_sweep(bool two_dirs)
{
    bool mounted;
    const char *base = sweep_dir(&mounted);
    char tmpl[TEST_PATH_BUF], rtmpl[TEST_PATH_BUF], work[TEST_PATH_BUF],
        rwork[TEST_PATH_BUF], path[TEST_PATH_BUF];
    sweep_paths(base, tmpl, rtmpl, work, rwork);
    const char *reps[] = {rtmpl, NULL};
    model m;
    ck_assert_int_eq(mkdir(tmpl, 0755), 0);
    if (two_dirs)
        ck_assert_int_eq(mkdir(rtmpl, 0755), 0);
    build_store(tmpl, two_dirs ? reps : NULL, &m);
    size_t n;
    uint8_t *img = read_file(test_pathf(path, tmpl, "catalog/data.mdb"), &n);
    uint8_t *mut = malloc(n);
    ck_assert_ptr_nonnull(mut);
    /* The undamaged store opens whole: the judge itself is right. */
    sweep sw = {0};
    one_case(&sw, tmpl, two_dirs ? rtmpl : NULL, work, rwork, &m, img, n);
    ck_assert_int_eq(sw.out[OUT_OK], 1);
    memset(&sw, 0, sizeof sw);
    const size_t psize = 4096, meta_bytes = 152;
    bool lng = long_run();
    size_t stride = lng ? 7 : (two_dirs ? 1999 : 509) * test_sweep_thin();
    size_t meta_step = lng ? 1 : (two_dirs ? 4 : 1) * test_sweep_thin();
    static const int ops[3] = {0x01, 0xFF, -1};
    for (size_t at = 0; at < n; at++) {
        bool meta = at < 2 * psize && (lng || at % psize < meta_bytes);
        if (meta ? at % meta_step != 0 : at % stride != 0)
            continue;
        for (int k = 0; k < 3; k++) {
            if (meta && !lng && two_dirs && k != (int)(at / meta_step % 3))
                continue; /* one way per meta byte, in turn */
            memcpy(mut, img, n);
            mut[at] = ops[k] < 0 ? 0 : (uint8_t)(mut[at] ^ ops[k]);
            if (mut[at] == img[at])
                continue; /* set 0 on a 0 byte: no damage */
            if (getenv("CATALOG_DEBUG"))
                fprintf(stderr, "byte %zu op %d\n", at, ops[k]);
            one_case(&sw, tmpl, two_dirs ? rtmpl : NULL, work, rwork, &m, mut,
                     n);
        }
    }
    sweep_report(two_dirs ? "byte damage, two directories"
                          : "byte damage, one directory",
                 &sw);
    free(mut);
    free(img);
    sweep_dir_done(base, mounted);
    sweep_assert(&sw, two_dirs);
}

START_TEST(test_damage_one_dir)
{
    mutate_sweep(false);
}
END_TEST

START_TEST(test_damage_two_dirs)
{
    mutate_sweep(true);
}
END_TEST

/* A data.mdb cut short at many lengths (0 included). */
START_TEST(test_truncated)
{
    bool mounted;
    const char *base = sweep_dir(&mounted);
    char tmpl[TEST_PATH_BUF], rtmpl[TEST_PATH_BUF], work[TEST_PATH_BUF],
        rwork[TEST_PATH_BUF], path[TEST_PATH_BUF];
    sweep_paths(base, tmpl, rtmpl, work, rwork);
    ck_assert_int_eq(mkdir(tmpl, 0755), 0);
    ck_assert_int_eq(mkdir(rtmpl, 0755), 0);
    const char *reps[] = {rtmpl, NULL};
    model m;
    build_store(tmpl, reps, &m);
    size_t n;
    uint8_t *img = read_file(test_pathf(path, tmpl, "catalog/data.mdb"), &n);
    sweep one = {0}, two = {0};
    size_t step = long_run() ? 1 : 509, k = 0;
    for (size_t len = 0; len < n; k++, len += long_run()   ? 1
                                              : len < 8192 ? 127
                                                           : step) {
        one_case(&one, tmpl, NULL, work, rwork, &m, img, len);
        if (long_run() || k % 2 == 0)
            one_case(&two, tmpl, rtmpl, work, rwork, &m, img, len);
    }
    sweep_report("truncated, one directory", &one);
    sweep_report("truncated, two directories", &two);
    free(img);
    sweep_dir_done(base, mounted);
    sweep_assert(&one, false);
    sweep_assert(&two, true);
    /* A cut is whole only when it keeps every page a tree uses: the pages
     * past them can only be free ones (LMDB's loose pages, freed in the
     * transaction that took them, are never written), which LMDB writes
     * before it reads.  So the outcomes switch once, from SAMSA_ECORRUPT
     * for every shorter cut to whole for every longer one. */
    ck_assert_int_gt(one.out[OUT_CORRUPT], 0);
    ck_assert(one.first_ok == 0 || one.last_bad < one.first_ok);
}
END_TEST

/* The store of build_store() in base/d0 with the replica directory
 * base/d1; reps gets the replica_dirs list. */
static void
two_dir_store(const char *base, char *d0, char *d1, const char **reps, model *m)
{
    test_pathf(d0, base, "d0");
    test_pathf(d1, base, "d1");
    ck_assert_int_eq(mkdir(d0, 0755), 0);
    ck_assert_int_eq(mkdir(d1, 0755), 0);
    reps[0] = d1;
    reps[1] = NULL;
    build_store(d0, reps, m);
}

/* Both directories damaged: SAMSA_ECORRUPT and neither file touched. */
START_TEST(test_both_damaged)
{
    const char *base = test_dir_make();
    char d0[TEST_PATH_BUF], d1[TEST_PATH_BUF], p0[TEST_PATH_BUF],
        p1[TEST_PATH_BUF];
    const char *reps[2];
    model m;
    two_dir_store(base, d0, d1, reps, &m);
    size_t n0, n1;
    uint8_t *a = read_file(test_pathf(p0, d0, "catalog/data.mdb"), &n0);
    uint8_t *b = read_file(test_pathf(p1, d1, "catalog/data.mdb"), &n1);
    /* The newer meta page's last page (the older one's is never read),
     * and meta page 0's page number. */
    uint64_t t0, t1;
    memcpy(&t0, a + 144, 8);
    memcpy(&t1, a + 4096 + 144, 8);
    a[(t1 > t0 ? 4096 : 0) + 136] ^= 0xFF;
    b[0] ^= 0x01;
    write_file(p0, a, n0);
    write_file(p1, b, n1);
    samsa_options o = {.replica_dirs = reps};
    samsa *s = NULL;
    EQ_RC(samsa_open(d0, &o, &s), SAMSA_ECORRUPT);
    ck_assert_ptr_null(s);
    size_t k0, k1;
    uint8_t *a2 = read_file(p0, &k0), *b2 = read_file(p1, &k1);
    ck_assert(k0 == n0 && memcmp(a, a2, n0) == 0);
    ck_assert(k1 == n1 && memcmp(b, b2, n1) == 0);
    /* The replica's repaired by hand: the store opens from it and the
     * primary's is rebuilt. */
    b[0] ^= 0x01;
    write_file(p1, b, n1);
    E(samsa_open(d0, &o, &s));
    ck_assert_ptr_null(verify(s, &m));
    E(samsa_close(s));
    bool held;
    char cdir[TEST_PATH_BUF];
    E(catalog_check_file(test_pathf(cdir, d0, "catalog"), &held));
    ck_assert(held);
    free(a), free(a2), free(b), free(b2);
    test_dir_remove(base);
}
END_TEST

/* The replica directory's catalog damaged (cut in half): rebuilt from the
 * primary's at open, whole afterwards. */
START_TEST(test_replica_damaged)
{
    const char *base = test_dir_make();
    char d0[TEST_PATH_BUF], d1[TEST_PATH_BUF], p1[TEST_PATH_BUF],
        cdir[TEST_PATH_BUF];
    const char *reps[2];
    model m;
    two_dir_store(base, d0, d1, reps, &m);
    size_t n;
    uint8_t *b = read_file(test_pathf(p1, d1, "catalog/data.mdb"), &n);
    write_file(p1, b, n / 2);
    bool held;
    EQ_RC(catalog_check_file(test_pathf(cdir, d1, "catalog"), &held),
          SAMSA_ECORRUPT);
    samsa_options o = {.replica_dirs = reps};
    samsa *s;
    E(samsa_open(d0, &o, &s));
    ck_assert_ptr_null(verify(s, &m));
    E(samsa_close(s));
    E(catalog_check_file(cdir, &held));
    ck_assert(held);
    /* And the store opens from the rebuilt directory alone. */
    E(samsa_open(d1, NULL, &s));
    ck_assert_ptr_null(verify(s, &m));
    E(samsa_close(s));
    free(b);
    test_dir_remove(base);
}
END_TEST

/* XOR mask into the first byte of every run of pat (len bytes) in the
 * file at path, in place (the page cache, which an open LMDB map reads);
 * how many runs there were. */
static int
flip_runs(const char *path, const void *pat, size_t len, uint8_t mask)
{
    size_t n;
    uint8_t *b = read_file(path, &n);
    int fd = open(path, O_RDWR), runs = 0;
    ck_assert_int_ge(fd, 0);
    for (size_t i = 0; i + len <= n; i++)
        if (memcmp(b + i, pat, len) == 0) {
            uint8_t x = b[i] ^ mask;
            ck_assert_int_eq(pwrite(fd, &x, 1, (off_t)i), 1);
            runs++;
        }
    close(fd);
    free(b);
    return runs;
}

static void
put_le64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

/* A committed offset and a share-group snapshot damaged in the first
 * directory's catalog while it is open (a bit flip under the running
 * process): the reads heal them from the other directory's catalog and
 * return what was committed, and the healed catalog opens on its own,
 * every value checked.  Damaged in both catalogs, a value stays
 * SAMSA_ECORRUPT: there is no good copy.  (With one directory the damage
 * stays an error: check_group.c, test_commit_damaged_live.) */
START_TEST(test_heal_live)
{
    const char *base = test_dir_make();
    char a[TEST_PATH_BUF], b[TEST_PATH_BUF], ca[TEST_PATH_BUF],
        cb[TEST_PATH_BUF], fa[TEST_PATH_BUF], fb[TEST_PATH_BUF];
    ck_assert_int_eq(mkdir(test_pathf(a, base, "a"), 0755), 0);
    ck_assert_int_eq(mkdir(test_pathf(b, base, "b"), 0755), 0);
    const char *paths[] = {test_pathf(ca, a, "catalog"),
                           test_pathf(cb, b, "catalog")};
    test_pathf(fa, ca, "data.mdb");
    test_pathf(fb, cb, "data.mdb");
    catalog c;
    E(catalog_open(&c, paths, 2, 1 << 22));
    catalog_group_offset o[2] = {{7, 0, 123456789}, {7, 1, 42}};
    E(catalog_group_commit(&c, "grp", o, 2));
    static const char snap[] = "a share group's snapshot";
    E(catalog_queue_put(&c, "q", 7, 0, snap, sizeof snap));
    uint8_t v[8];
    put_le64(v, 123456789);
    ck_assert_int_ge(flip_runs(fa, v, 8, 0x10), 1);
    ck_assert_int_ge(flip_runs(fa, snap, sizeof snap, 0x01), 1);

    catalog_group_offset g[2] = {{7, 0, 0}, {7, 1, 0}};
    E(catalog_group_get(&c, "grp", g, 2));
    ck_assert_int_eq(g[0].offset, 123456789);
    ck_assert_int_eq(g[1].offset, 42);
    void *buf;
    size_t len;
    E(catalog_queue_get(&c, "q", 7, 0, &buf, &len));
    ck_assert_uint_eq(len, sizeof snap);
    ck_assert_int_eq(memcmp(buf, snap, len), 0);
    free(buf);
    catalog_close(&c);
    /* Healed in place: the first catalog alone opens (every value is
     * checked) and reads the same. */
    E(catalog_open(&c, paths, 1, 1 << 22));
    g[0].offset = g[1].offset = 0;
    E(catalog_group_get(&c, "grp", g, 2));
    ck_assert_int_eq(g[0].offset, 123456789);
    catalog_close(&c);

    E(catalog_open(&c, paths, 2, 1 << 22));
    catalog_group_offset o2 = {8, 0, 987654321};
    E(catalog_group_commit(&c, "other", &o2, 1));
    put_le64(v, 987654321);
    ck_assert_int_ge(flip_runs(fa, v, 8, 0x10), 1);
    ck_assert_int_ge(flip_runs(fb, v, 8, 0x10), 1);
    catalog_group_offset g2 = {8, 0, 0};
    EQ_RC(catalog_group_get(&c, "other", &g2, 1), SAMSA_ECORRUPT);
    EQ_RC(catalog_group_get(&c, "other", &g2, 1), SAMSA_ECORRUPT);
    E(catalog_group_get(&c, "grp", g, 2)); /* the rest reads on */
    ck_assert_int_eq(g[1].offset, 42);
    catalog_close(&c);
    test_dir_remove(base);
}
END_TEST

/* A catalog of several levels: hundreds of topics and groups, half of
 * them deleted (free pages), large values on overflow pages; the check
 * takes every state LMDB leaves it in for whole, at each reopen. */
START_TEST(test_big_catalog)
{
    bool mounted;
    const char *dir = sweep_dir(&mounted);
    samsa *s;
    E(samsa_open(dir, NULL, &s));
    char name[48];
    int n = long_run() ? 2000 : 200;
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "topic-with-a-long-name-%05d", i);
        samsa_topic_config cfg = {.partitions = 1 + i % 3};
        E(samsa_topic_create(s, name, &cfg));
        if (i % 50 == 49) { /* reopen now and then: the check runs */
            E(samsa_close(s));
            E(samsa_open(dir, NULL, &s));
        }
    }
    for (int i = 0; i < n; i += 2) {
        snprintf(name, sizeof name, "topic-with-a-long-name-%05d", i);
        E(samsa_topic_delete(s, name));
    }
    E(samsa_close(s));
    catalog c;
    char cpath[TEST_PATH_BUF];
    const char *paths[] = {test_pathf(cpath, dir, "catalog")};
    E(catalog_open(&c, paths, 1, 1 << 30));
    /* Values past a page's half go to overflow pages. */
    static uint8_t big[20000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "g%d", i);
        E(catalog_queue_put(&c, name, 1, 0, big, sizeof big - 997 * i));
    }
    /* smaller, still on overflow pages: LMDB reuses the run in place */
    E(catalog_queue_put(&c, "g3", 1, 0, big, 5000));
    catalog_close(&c);
    bool held;
    E(catalog_check_file(cpath, &held));
    ck_assert(held);
    E(catalog_open(&c, paths, 1, 1 << 30));
    void *buf;
    size_t len;
    E(catalog_queue_get(&c, "g7", 1, 0, &buf, &len));
    ck_assert_uint_eq(len, sizeof big - 997 * 7);
    ck_assert_int_eq(memcmp(buf, big, len), 0);
    free(buf);
    catalog_close(&c);
    E(samsa_open(dir, NULL, &s));
    samsa_topic_config cfg;
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "topic-with-a-long-name-%05d", i);
        EQ_RC(samsa_topic_describe(s, name, &cfg), i % 2 ? 0 : SAMSA_ENOTOPIC);
    }
    E(samsa_close(s));
    sweep_dir_done(dir, mounted);
}
END_TEST

/* A catalog of format 1 (values without their CRC, as samsa wrote before
 * format 2) opens with everything in it, and is upgraded in place. */
static void
strip_crcs(const char *dir)
{
    MDB_env *env;
    MDB_txn *txn = test_catalog_begin(dir, &env);
    static const char *const dbs[] = {"meta", "topics", "partitions", "groups",
                                      "queues"};
    for (int i = 0; i < 5; i++) {
        MDB_dbi dbi;
        MDB_cursor *cur;
        ck_assert_int_eq(mdb_dbi_open(txn, dbs[i], 0, &dbi), 0);
        ck_assert_int_eq(mdb_cursor_open(txn, dbi, &cur), 0);
        MDB_val k, v;
        int n = 0;
        for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
            /* Copies: the put moves what k and v point into. */
            uint8_t buf[4096], kb[512];
            ck_assert_uint_ge(v.mv_size, 4);
            ck_assert_uint_le(v.mv_size, sizeof buf);
            ck_assert_uint_le(k.mv_size, sizeof kb);
            memcpy(buf, v.mv_data, v.mv_size);
            memcpy(kb, k.mv_data, k.mv_size);
            MDB_val nk = {k.mv_size, kb}, nv = {v.mv_size - 4, buf};
            ck_assert_int_eq(mdb_cursor_put(cur, &nk, &nv, MDB_CURRENT), 0);
        }
        ck_assert(n > 0 || i == 4); /* no queue in this store */
        mdb_cursor_close(cur);
        if (i == 0) { /* format 1 */
            MDB_val k1 = {6, "format"}, v1 = {4, "\1\0\0\0"};
            ck_assert_int_eq(mdb_put(txn, dbi, &k1, &v1, 0), 0);
        }
    }
    test_catalog_commit(env, txn);
}

START_TEST(test_format1_upgrade)
{
    const char *dir = test_dir_make();
    model m;
    build_store(dir, NULL, &m);
    strip_crcs(dir);
    bool held;
    char cdir[TEST_PATH_BUF];
    E(catalog_check_file(test_pathf(cdir, dir, "catalog"), &held));
    samsa *s;
    E(samsa_open(dir, NULL, &s));
    ck_assert_ptr_null(verify(s, &m));
    E(samsa_close(s));
    E(samsa_open(dir, NULL, &s)); /* format 2 now: every CRC checks */
    ck_assert_ptr_null(verify(s, &m));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* ---- the workload the fault tests run ---------------------------------------
 */

typedef struct wl {
    const char *dir;
    model m;
    samsa *s;
    samsa_consumer *c;
    int step;    /* steps done */
    long failed; /* steps that failed (the injected fault) */
} wl;

/* The code an injected LMDB error must come back as. */
static int
expect_rc(int err)
{
    switch (err) {
    case MDB_MAP_FULL:
    case ENOSPC:
        return SAMSA_ENOSPC;
    case ENOMEM:
        return SAMSA_ENOMEM;
    default:
        return SAMSA_EIO;
    }
}

#define NSTEPS 11

/* Step i of the workload; the model moves only when it returns 0. */
static int
wl_step(wl *w, int i)
{
    model *m = &w->m;
    samsa_topic_config two = {.partitions = 2, .segment_bytes = 4096};
    samsa_message msg;
    int rc;
    switch (i) {
    case 0:
        return samsa_open(w->dir, NULL, &w->s);
    case 1:
        if ((rc = samsa_topic_create(w->s, "a", &two)) == 0) {
            snprintf(m->t[0].name, sizeof m->t[0].name, "a");
            m->t[0].np = 2;
        }
        return rc;
    case 2:
        if ((rc = produce(w->s, m, "a", 0, 3)) == 0)
            rc = produce(w->s, m, "a", 1, 2);
        return rc;
    case 3: {
        const char *topics[] = {"a", NULL};
        samsa_consumer_config cc = {.group = "g",
                                    .topics = topics,
                                    .offset_reset = SAMSA_RESET_EARLIEST};
        rc = samsa_consumer_open(w->s, &cc, &w->c);
        if (rc == 0 && (rc = samsa_consumer_poll(w->c, &msg, 0)) != 0) {
            samsa_consumer_close(w->c);
            w->c = NULL;
        }
        return rc;
    }
    case 4: {
        samsa_topic_partition tp[] = {{"a", 0, 2}, {"a", 1, 1}};
        if ((rc = samsa_consumer_commit(w->c, tp, 2)) == 0) {
            commit_model(m, "g", 0, 0, 2);
            commit_model(m, "g", 0, 1, 1);
        }
        return rc;
    }
    case 5:
        if ((rc = samsa_topic_create(w->s, "b", NULL)) == 0) {
            snprintf(m->t[1].name, sizeof m->t[1].name, "b");
            m->t[1].np = 1;
        }
        return rc;
    case 6:
        return produce(w->s, m, "b", 0, 2);
    case 7:
        if ((rc = samsa_topic_delete(w->s, "b")) == 0)
            memset(m->t[1].end, 0, sizeof m->t[1].end), m->t[1].np = 0;
        return rc;
    case 8: {
        samsa_queue_config qc = {.lock_ms = 1, .max_attempts = 1000};
        samsa_queue *q;
        samsa_delivery d;
        size_t n;
        if ((rc = samsa_queue_open(w->s, "q", "a", &qc, &q)) != 0)
            return rc;
        rc = samsa_queue_receive(q, &d, 1, &n, 0);
        if (rc == 0 && d.msg.partition == 0 && d.msg.offset == 0 &&
            (rc = samsa_queue_ack(q, &d, 1, SAMSA_ACK_ACCEPT)) == 0)
            m->accepted = 1;
        else if (rc == 0)
            samsa_queue_ack(q, &d, 1, SAMSA_ACK_RELEASE);
        samsa_queue_close(q);
        return rc;
    }
    case 9:
        return samsa_sync(w->s);
    default: {
        /* close: the handle is gone whatever it returns */
        samsa_consumer_close(w->c);
        w->c = NULL;
        rc = samsa_close(w->s);
        w->s = NULL;
        return rc;
    }
    }
}

/* Run the whole workload in a fresh directory with the fault armed at
 * call fail_at (0: none); return the LMDB calls the test thread made. */
static long
wl_run(int fail_at, int err, long *failures)
{
    const char *dir = test_dir_make();
    wl w = {.dir = dir};
    w.m.accepted = -1;
    catalog_fault *f = &catalog__fault;
    f->thread = pthread_self();
    f->calls = 0;
    f->fail_at = fail_at;
    f->fail_count = 1;
    f->error = err;
    atomic_store(&f->armed, 1);
    for (int i = 0; i < NSTEPS; i++) {
        model before = w.m;
        int rc = wl_step(&w, i);
        if (rc == 0)
            continue;
        (*failures)++;
        if (getenv("CATALOG_DEBUG"))
            fprintf(stderr, "call %d: step %d: %s\n", fail_at, i,
                    samsa_strerror(rc));
        ck_assert_msg(rc == expect_rc(err),
                      "call %d (%d) failing: step %d gave %s", fail_at, err, i,
                      samsa_strerror(rc));
        ck_assert_msg(memcmp(&before, &w.m, sizeof before) == 0,
                      "step %d changed the model", i);
        if (w.s != NULL) { /* the failed step changed nothing */
            const char *bad = verify(w.s, &w.m);
            ck_assert_msg(bad == NULL, "call %d, step %d: %s", fail_at, i, bad);
        }
        if (i == NSTEPS - 1)
            break; /* a failed close: the handle is gone; reopen below */
        /* The store is usable again: the same step now works. */
        rc = wl_step(&w, i);
        ck_assert_msg(rc == 0, "call %d, step %d retried: %s", fail_at, i,
                      samsa_strerror(rc));
    }
    atomic_store(&f->armed, 0);
    long calls = f->calls;
    /* Reopened: exactly what was acknowledged. */
    samsa *s = test_open(dir);
    const char *bad = verify(s, &w.m);
    ck_assert_msg(bad == NULL, "call %d after reopen: %s", fail_at, bad);
    bad = verify_queue(s, &w.m);
    ck_assert_msg(bad == NULL, "call %d after reopen: %s", fail_at, bad);
    E(samsa_close(s));
    test_dir_remove(dir);
    return calls;
}

START_TEST(test_lmdb_faults)
{
    long failures = 0;
    long n = wl_run(0, 0, &failures);
    ck_assert_int_eq(failures, 0);
    ck_assert_int_gt(n, 20);
    static const int errs[] = {MDB_MAP_FULL, EIO, ENOSPC, ENOMEM};
    long cases = 0;
    for (long k = 1; k <= n; k++)
        for (int e = 0; e < 4; e++) {
            if (!long_run() && e != k % 4)
                continue;
            long before = failures;
            wl_run((int)k, errs[e], &failures);
            if (failures == before && getenv("CATALOG_DEBUG"))
                fprintf(stderr, "call %ld (%d): no operation failed\n", k,
                        errs[e]);
            cases++;
        }
    printf("catalog: LMDB faults: %ld LMDB calls in the workload, %ld cases, "
           "%ld operations failed with the injected code and changed "
           "nothing\n",
           n, cases, failures);
    ck_assert_int_gt(failures, n / 2);
}
END_TEST

/* ---- a full disk
 * -------------------------------------------------------------- */

/* Fill the file system of dir until a write fails with ENOSPC. */
static void
fill(const char *dir)
{
    char path[TEST_PATH_BUF];
    int fd = open(test_pathf(path, dir, "filler"), O_WRONLY | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    static char buf[65536];
    memset(buf, 0x5a, sizeof buf);
    size_t chunk = sizeof buf;
    for (;;) {
        ssize_t w = write(fd, buf, chunk);
        if (w < 0) {
            ck_assert_int_eq(errno, ENOSPC);
            if (chunk == 1)
                break;
            chunk /= 2;
        }
    }
    close(fd);
}

static void
unfill(const char *dir)
{
    char path[TEST_PATH_BUF];
    ck_assert_int_eq(unlink(test_pathf(path, dir, "filler")), 0);
}

/* With the disk full (real, or injected through the fault hook): every
 * operation gives 0 (and takes effect) or SAMSA_ENOSPC (and changes
 * nothing), and a catalog write fails at least once; then, space freed,
 * everything works without reopening, and a reopen shows exactly the
 * state acknowledged. */
static void
full_disk(const char *dir, bool real)
{
    wl w = {.dir = dir};
    w.m.accepted = -1;
    char store[TEST_PATH_BUF];
    w.dir = test_pathf(store, dir, "store");
    ck_assert_int_eq(mkdir(store, 0755), 0);
    for (int i = 0; i < 5; i++)
        E(wl_step(&w, i)); /* open, topic a, produce, consumer, commit */
    catalog_fault *f = &catalog__fault;
    if (real) {
        fill(dir);
    } else {
        f->thread = pthread_self();
        f->calls = 0;
        f->fail_at = 1;
        f->fail_count = 1L << 40; /* every call fails: a full disk */
        f->error = ENOSPC;
        f->writes_only = true;
        atomic_store(&f->armed, 1);
    }
    int nospc = 0, catalog_nospc = 0, produce_nospc = 0;
    /* Consumer commits, new groups' commits, topic create, produce, sync:
     * each 0 or SAMSA_ENOSPC, never SAMSA_EIO. */
    for (int round = 0; round < 200 && catalog_nospc < 3; round++) {
        model before = w.m;
        samsa_topic_partition tp[] = {{"a", 0, round % 3}, {"a", 1, round % 2}};
        int rc = samsa_consumer_commit(w.c, tp, 2);
        ck_assert_msg(rc == 0 || rc == SAMSA_ENOSPC, "commit: %s",
                      samsa_strerror(rc));
        if (rc == 0) {
            commit_model(&w.m, "g", 0, 0, round % 3);
            commit_model(&w.m, "g", 0, 1, round % 2);
        } else {
            catalog_nospc++;
            const char *bad = verify(w.s, &before);
            ck_assert_msg(bad == NULL, "after a failed commit: %s", bad);
        }
        char name[16];
        snprintf(name, sizeof name, "t%d", round);
        rc = samsa_topic_create(w.s, name, NULL);
        ck_assert_msg(rc == 0 || rc == SAMSA_ENOSPC, "create: %s",
                      samsa_strerror(rc));
        samsa_topic_config cfg;
        if (rc == 0) {
            E(samsa_topic_delete(w.s, name)); /* keep the model small */
        } else {
            nospc++;
            EQ_RC(samsa_topic_describe(w.s, name, &cfg), SAMSA_ENOTOPIC);
        }
        rc = produce(w.s, &w.m, "a", round % 2, 2);
        ck_assert_msg(rc == 0 || rc == SAMSA_ENOSPC, "produce: %s",
                      samsa_strerror(rc));
        produce_nospc += rc != 0;
        rc = samsa_sync(w.s);
        ck_assert_msg(rc == 0 || rc == SAMSA_ENOSPC, "sync: %s",
                      samsa_strerror(rc));
        ck_assert_ptr_null(verify(w.s, &w.m));
    }
    /* Produce may go on here: a roll frees the old segment's preallocated
     * tail, and a batch takes just its own bytes when a whole allocation
     * chunk cannot be had (segment.c); check_retention's test_full_disk
     * fills a disk with records. */
    ck_assert_int_ge(catalog_nospc, 1);
    printf("catalog: full disk (%s): %d consumer commits, %d topic creates "
           "and %d produces gave SAMSA_ENOSPC and changed nothing\n",
           real ? "tmpfs" : "injected", catalog_nospc, nospc, produce_nospc);
    /* Space again: everything works, without reopening. */
    if (real)
        unfill(dir);
    else
        atomic_store(&f->armed, 0), f->writes_only = false;
    samsa_topic_partition tp[] = {{"a", 0, 3}, {"a", 1, 2}};
    E(samsa_consumer_commit(w.c, tp, 2));
    commit_model(&w.m, "g", 0, 0, 3);
    commit_model(&w.m, "g", 0, 1, 2);
    E(samsa_topic_create(w.s, "after", NULL));
    snprintf(w.m.t[2].name, sizeof w.m.t[2].name, "after");
    w.m.t[2].np = 1;
    E(produce(w.s, &w.m, "after", 0, 2));
    E(produce(w.s, &w.m, "a", 0, 1));
    E(samsa_sync(w.s));
    for (int i = 8; i < NSTEPS; i++)
        E(wl_step(&w, i)); /* queue ack, sync, close */
    samsa *s = test_open(w.dir);
    ck_assert_ptr_null(verify(s, &w.m));
    ck_assert_ptr_null(verify_queue(s, &w.m));
    E(samsa_close(s));
}

START_TEST(test_full_disk_injected)
{
    const char *dir = test_dir_make();
    full_disk(dir, false);
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_full_disk_tmpfs)
{
    /* The file system is unmounted whatever the checks find (which run
     * here: a child must not assert).  Skipped: the injected variant ran. */
    test_mount m;
    const char *dir = test_tmpfs("16m", "catalog: full disk (tmpfs)", &m);
    if (dir == NULL)
        return;
    full_disk(dir, true);
    test_unmount(&m); /* a busy mount is detached: not what this checks */
}
END_TEST

/* On a full disk, deleting a topic is how space comes back: a store
 * filled by its own records on a small file system (2 MiB, less than the
 * catalog's reserve) must close, open again, and delete the topic (its
 * catalog commit included), freeing its files.  Then produce works
 * again without anything else freed, and a reopen shows the topic gone
 * and the other one whole.  The delete once failed with SAMSA_ENOSPC:
 * the whole reserve did not fit, so none was kept. */
START_TEST(test_full_disk_delete_frees)
{
    test_mount m;
    const char *dir = test_tmpfs("2m", "catalog: delete on a full disk", &m);
    if (dir == NULL)
        return;
    char store[TEST_PATH_BUF];
    test_pathf(store, dir, "store");
    ck_assert_int_eq(mkdir(store, 0755), 0);
    samsa *s = test_open(store);
    samsa_topic_config one = {.partitions = 1};
    E(samsa_topic_create(s, "big", &one));
    E(samsa_topic_create(s, "a", &one));
    samsa_record r = {.value = "kept", .value_len = 4};
    E(samsa_produce(s, "a", 0, &r, 1));
    /* The disk filled by the records themselves, then by anything. */
    static char v[65536];
    memset(v, 'b', sizeof v);
    int rc, n = 0;
    do {
        samsa_record big = {.value = v, .value_len = sizeof v};
        rc = samsa_produce(s, "big", 0, &big, 1);
        n += rc == 0;
    } while (rc == 0);
    EQ_RC(rc, SAMSA_ENOSPC);
    ck_assert_int_ge(n, 8);
    fill(dir);
    E(samsa_close(s)); /* its last recovery points: on the reserve */
    s = test_open(store);
    E(samsa_topic_delete(s, "big"));
    struct statvfs fs;
    ck_assert_int_eq(statvfs(dir, &fs), 0);
    ck_assert_uint_ge((uint64_t)fs.f_bavail * fs.f_frsize,
                      (uint64_t)n * sizeof v);
    E(samsa_produce(s, "a", 0, &r, 1));
    ck_assert_int_eq(r.offset, 1);
    E(samsa_close(s));
    s = test_open(store);
    samsa_topic_config cfg;
    EQ_RC(samsa_topic_describe(s, "big", &cfg), SAMSA_ENOTOPIC);
    int64_t first, end;
    E(samsa_offsets(s, "a", 0, &first, &end));
    ck_assert_int_eq(first, 0);
    ck_assert_int_eq(end, 2);
    E(samsa_close(s));
    test_unmount(&m);
}
END_TEST

/* A create that stopped after LMDB made data.mdb and before it wrote to
 * it (a failed first open, a kill) leaves an empty file.  Alone in the
 * directory it is that unfinished create: the next open makes the store.
 * Beside anything else of a store it is a catalog cut to nothing:
 * SAMSA_ECORRUPT, and nothing deleted. */
START_TEST(test_unfinished_create)
{
    const char *base = test_dir_make();
    char dir[TEST_PATH_BUF], path[TEST_PATH_BUF];
    test_pathf(dir, base, "s");
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(mkdir(test_pathf(path, dir, "catalog"), 0755), 0);
    write_file(test_pathf(path, dir, "catalog/data.mdb"), NULL, 0);
    samsa_options o = {.flags = SAMSA_OPEN_CREATE};
    samsa *s;
    E(samsa_open(dir, &o, &s));
    samsa_topic_config cfg = {.partitions = 1};
    E(samsa_topic_create(s, "t", &cfg));
    E(samsa_close(s));
    /* The same empty file beside a partition directory. */
    write_file(test_pathf(path, dir, "catalog/data.mdb"), NULL, 0);
    s = NULL;
    EQ_RC(samsa_open(dir, &o, &s), SAMSA_ECORRUPT);
    ck_assert_ptr_null(s);
    struct stat st;
    ck_assert_int_eq(stat(test_pathf(path, dir, "catalog/data.mdb"), &st), 0);
    ck_assert_int_eq(st.st_size, 0);
    ck_assert_int_eq(stat(test_pathf(path, dir, "t-0"), &st), 0);
    test_dir_remove(base);
}
END_TEST

Suite *
catalog_suite(void)
{
    Suite *s = suite_create("catalog");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"both_damaged", test_both_damaged},
        {"unfinished_create", test_unfinished_create},
        {"format1_upgrade", test_format1_upgrade},
        {"replica_damaged", test_replica_damaged},
        {"heal_live", test_heal_live},
        {"big_catalog", test_big_catalog},
        {"full_disk_injected", test_full_disk_injected},
        {"full_disk_tmpfs", test_full_disk_tmpfs},
        {"full_disk_delete_frees", test_full_disk_delete_frees},
        {"lmdb_faults", test_lmdb_faults},
        {"truncated", test_truncated},
        {"damage_one_dir", test_damage_one_dir},
        {"damage_two_dirs", test_damage_two_dirs},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, long_run() ? 36000 : 240);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}
