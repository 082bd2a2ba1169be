/*
 * check_powercut.c - power cuts at scale: a store producing under
 * SAMSA_SYNC_ALWAYS loses power just before each of its syncs, and every
 * way the unsynced writes of that moment could have reached the disk
 * (kept, dropped, torn at a sector boundary: faultio_crash_apply()) is
 * recovered and checked.  Every acknowledged record must be there, intact,
 * at its offset; the batch being written is all there or not at all;
 * nothing else appears.
 *
 * How a state is built: the files of the live store as they are at the
 * sync (everything written kept) are read once per sync point; for each
 * state they are written to a fresh directory and the chosen writes undone
 * there, then the store is opened with the posix table (another boot: the
 * end marker's unsynced values do not count, as after a real power cut).
 *
 * Scope and hook.  Every file the engine writes through the I/O table
 * under the store (segments, index files, end markers, and the queue
 * journals once a workload here makes them) is part of the states.  The
 * catalog (LMDB) does not go through the table: each state takes the
 * catalog as it was when the topic was created (a recovery point of 0, the
 * most that a lagging catalog can lag), from base_catalog().  A catalog
 * that journals through faultio, or a queue workload, plugs in by adding
 * its writes to workload() and its checks to check_state().
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "faultio.h"
#include "test.h"

int samsa__open_io(const char *dir, const samsa_options *opt, samsa_io *io,
                   samsa **out);

#define MAX_FILES 64
#define STATES_PER_CUT                                                         \
    96                   /* states tried at each sync point, at most           \
                            (ten times that with SAMSA_LONG=1)       */
#define MIN_STATES 10000 /* the run must try at least this many       */
#define RECORDS    260   /* records the workload acknowledges         */

/* A file of the store, relative to its root, held in memory. */
typedef struct mfile {
    char rel[256]; /* path under the root                              */
    uint8_t *data; /* its bytes up to the last one that is not zero     */
    size_t len;    /* how many                                          */
    uint64_t size; /* the file's size (zeros after len)                 */
    bool dir;      /* a directory                                       */
} mfile;

typedef struct image {
    mfile f[MAX_FILES];
    size_t n;
} image;

typedef struct cut {
    faultio *fi;
    pthread_t producer;       /* only its syncs are crash points          */
    char live[TEST_PATH_BUF]; /* the store producing                    */
    char work[TEST_PATH_BUF]; /* where each state is built              */
    image base;               /* the catalog at topic creation            */
    image now;                /* the live files at this sync point        */
    int64_t acked;            /* records acknowledged so far              */
    int64_t inflight;         /* records of the produce call under way    */
    long points, states;      /* sync points and states tried             */
    char why[320];            /* the first failure, "" when none          */
} cut;

static void
image_free(image *im)
{
    for (size_t i = 0; i < im->n; i++)
        free(im->f[i].data);
    im->n = 0;
}

/* Read the tree at root/rel into im, skipping the lock file and, with
 * catalog false, the catalog (or, with only_catalog, all but it). */
static void
image_read(image *im, const char *root, const char *rel, bool catalog,
           bool only_catalog)
{
    char p[2 * TEST_PATH_BUF];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    DIR *d = opendir(p);
    ck_assert_msg(d != NULL, "opendir %s: %s", p, strerror(errno));
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        const char *name = e->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
            strcmp(name, "lock") == 0)
            continue;
        bool is_cat = *rel == '\0' && strcmp(name, "catalog") == 0;
        if (*rel == '\0' && (is_cat ? !catalog : only_catalog))
            continue;
        ck_assert_uint_lt(im->n, MAX_FILES);
        mfile *f = &im->f[im->n++];
        memset(f, 0, sizeof *f);
        snprintf(f->rel, sizeof f->rel, "%.120s%s%.120s", rel, *rel ? "/" : "",
                 name);
        snprintf(p, sizeof p, "%s/%s", root, f->rel);
        struct stat st;
        ck_assert_int_eq(lstat(p, &st), 0);
        f->dir = S_ISDIR(st.st_mode);
        if (f->dir) {
            image_read(im, root, f->rel, catalog, only_catalog);
            continue;
        }
        f->size = (uint64_t)st.st_size;
        f->data = malloc(f->size + 1);
        ck_assert_ptr_nonnull(f->data);
        int fd = open(p, O_RDONLY);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(pread(fd, f->data, f->size, 0), (ssize_t)f->size);
        close(fd);
        f->len = f->size;
        while (f->len > 0 && f->data[f->len - 1] == 0)
            f->len--;
    }
    closedir(d);
}

static void
image_write(const image *im, const char *root)
{
    char p[2 * TEST_PATH_BUF];
    for (size_t i = 0; i < im->n; i++) {
        const mfile *f = &im->f[i];
        snprintf(p, sizeof p, "%s/%s", root, f->rel);
        if (f->dir) {
            ck_assert_int_eq(mkdir(p, 0755), 0);
            continue;
        }
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
        ck_assert_msg(fd >= 0, "open %s: %s", p, strerror(errno));
        ck_assert_int_eq(write(fd, f->data, f->len), (ssize_t)f->len);
        ck_assert_int_eq(ftruncate(fd, (off_t)f->size), 0);
        close(fd);
    }
}

static void
cut_fail(cut *c, const char *what, uint64_t state, int64_t at, int rc)
{
    if (c->why[0] == '\0')
        snprintf(c->why, sizeof c->why,
                 "sync point %ld, state %llu: %s at %lld: %s (acked %lld, "
                 "in flight %lld)",
                 c->points, (unsigned long long)state, what, (long long)at,
                 samsa_strerror(rc), (long long)c->acked,
                 (long long)c->inflight);
}

/* Recover the state in c->work and check it. */
static void
check_state(cut *c, uint64_t state)
{
    samsa *s;
    int rc = samsa_open(c->work, NULL, &s);
    if (rc != 0) {
        cut_fail(c, "open", state, 0, rc);
        return;
    }
    int64_t first = -1, end = -1;
    rc = samsa_offsets(s, "t", 0, &first, &end);
    if (rc != 0 || first != 0 ||
        (end != c->acked && end != c->acked + c->inflight))
        cut_fail(c, "log end", state, end, rc);
    samsa_cursor *cur;
    samsa_message m;
    if (c->why[0] == '\0' &&
        (rc = samsa_cursor_open(s, "t", 0, 0, &cur)) == 0) {
        for (int64_t o = 0; o < end && c->why[0] == '\0'; o++) {
            rc = samsa_cursor_next(cur, &m, 0);
            if (rc != 0 || test_gen_mismatch(&m, o) != NULL)
                cut_fail(c, rc != 0 ? "next" : test_gen_mismatch(&m, o), state,
                         o, rc);
        }
        samsa_cursor_close(cur);
    }
    if ((rc = samsa_close(s)) != 0)
        cut_fail(c, "close", state, 0, rc);
}

typedef struct state_job {
    cut *c;
    uint64_t state;
} state_job;

static void *
state_main(void *arg)
{
    state_job *j = arg;
    check_state(j->c, j->state);
    return NULL;
}

/* check_state() on a thread of its own: on_sync runs inside the live
 * store's fdatasync, under its log.fsync_lock, and opening another store
 * on that thread would take locks the debug build's lock-order check
 * (lib/util/lockrank.c) rightly refuses under it. */
static void
check_state_apart(cut *c, uint64_t state)
{
    state_job j = {c, state};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, state_main, &j), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
}

/* The power goes just before this sync: try the states of the moment. */
static void
on_sync(void *ctx, const char *path)
{
    cut *c = ctx;
    (void)path;
    if (!pthread_equal(pthread_self(), c->producer) || c->why[0] != '\0')
        return;
    c->points++;
    image_free(&c->now);
    image_read(&c->now, c->live, "", false, false);
    uint64_t n = faultio_crash_states(c->fi, c->live);
    const char *lng = getenv("SAMSA_LONG");
    uint64_t cap =
        STATES_PER_CUT * (lng != NULL && *lng != '\0' && *lng != '0' ? 10 : 1);
    for (uint64_t st = 0; st < n && st < cap; st++) {
        test_dir_remove(c->work);
        ck_assert_int_eq(mkdir(c->work, 0755), 0);
        image_write(&c->base, c->work);
        image_write(&c->now, c->work);
        int rc = faultio_crash_apply(c->fi, c->live, c->work, st);
        if (rc != 0)
            cut_fail(c, "faultio_crash_apply", st, 0, rc);
        else
            check_state_apart(c, st);
        c->states++;
        if (c->why[0] != '\0')
            return;
    }
}

/* A directory on tmpfs when there is one: every state opens and closes a
 * store, and real fsyncs would cost minutes. */
static void
fast_dir(char *buf)
{
    snprintf(buf, TEST_PATH_BUF, "/dev/shm/samsa-cut-XXXXXX");
    if (mkdtemp(buf) == NULL)
        snprintf(buf, TEST_PATH_BUF, "%s", test_dir_make());
}

START_TEST(test_power_cuts_at_scale)
{
    static cut c;
    memset(&c, 0, sizeof c);
    char root[TEST_PATH_BUF];
    fast_dir(root);
    snprintf(c.live, sizeof c.live, "%.400s/live", root);
    snprintf(c.work, sizeof c.work, "%.400s/work", root);

    samsa_options o = {.flags = SAMSA_OPEN_CREATE};
    samsa *s;
    E(samsa_open(c.live, &o, &s));
    samsa_topic_config cfg = test_small_cfg(1, SAMSA_SYNC_ALWAYS);
    E(samsa_topic_create(s, "t", &cfg));
    E(samsa_close(s));
    image_read(&c.base, c.live, "", true, true);

    c.fi = faultio_new();
    c.producer = pthread_self();
    o = (samsa_options){.sync = SAMSA_SYNC_ALWAYS};
    E(samsa__open_io(c.live, &o, faultio_io(c.fi), &s));
    faultio_on_sync(c.fi, on_sync, &c);
    for (size_t k = 0; c.acked < RECORDS && c.why[0] == '\0'; k++) {
        c.inflight = 1 + (int64_t)(k % 4);
        test_produce_gen(s, "t", 0, c.acked, (size_t)c.inflight);
        c.acked += c.inflight;
        c.inflight = 0;
    }
    faultio_on_sync(c.fi, NULL, NULL);
    ck_assert_msg(c.why[0] == '\0', "%s", c.why);
    E(samsa_close(s));
    faultio_free(c.fi);
    int64_t bases[64];
    char livedir[TEST_PATH_BUF];
    snprintf(livedir, sizeof livedir, "%s", c.live);
    ck_assert_uint_ge(test_seg_bases(livedir, "t", 0, bases, 64), 4);
    printf("power cuts: %ld crash states at %ld sync points, 0 acknowledged "
           "records lost\n",
           c.states, c.points);
    ck_assert_int_ge(c.states, MIN_STATES);
    image_free(&c.base);
    image_free(&c.now);
    test_dir_remove(root);
}
END_TEST

Suite *
powercut_suite(void)
{
    Suite *s = suite_create("powercut");
    TCase *tc = tcase_create("powercut");
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, test_power_cuts_at_scale);
    suite_add_tcase(s, tc);
    return s;
}
