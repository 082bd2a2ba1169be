/*
 * util.c - the fixture helpers declared in test.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog_mdb.h"

#include "test.h"

/* ---- forked children ----------------------------------------------------- */

bool test_in_child;

pid_t
test_fork(void)
{
    /* What stdio holds would otherwise be written by both processes. */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0)
        test_in_child = true;
    return pid;
}

void
test_child_asserted(const char *what, const char *file, int line)
{
    fprintf(stderr,
            "%s:%d: %s in a forked child, which must not assert (test.h): "
            "exit %d\n",
            file, line, what, TEST_CHILD_ASSERTED);
    _exit(TEST_CHILD_ASSERTED);
}

const char *
test_tmpfs(const char *size, const char *what, test_mount *m)
{
    if (geteuid() != 0) {
        printf("%s: SKIPPED: not root, cannot mount\n", what);
        return NULL;
    }
    const char *dir = test_dir_make();
    char opts[64];
    snprintf(opts, sizeof opts, "size=%s", size);
    if (mount("tmpfs", dir, "tmpfs", 0, opts) != 0) {
        printf("%s: SKIPPED: mount: %s\n", what, strerror(errno));
        test_dir_remove(dir);
        return NULL;
    }
    test_mount_guard(m, dir, dir);
    return dir;
}

void
test_mount_guard(test_mount *m, const char *mnt, const char *rm)
{
    TEST_NOT_IN_CHILD(__func__);
    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    m->pid = test_fork();
    ck_assert_int_ge(m->pid, 0);
    if (m->pid == 0) {
        /* Out of the test's process group, which Check kills when the
         * test ends (both processes say so: the test may end first). */
        setpgid(0, 0);
        close(fds[1]);
        char b;
        while (read(fds[0], &b, 1) < 0 && errno == EINTR)
            ;
        int rc = umount(mnt) == 0 ? 0 : 1;
        if (rc != 0)
            umount2(mnt, MNT_DETACH);
        test_dir_remove(rm);
        _exit(rc);
    }
    setpgid(m->pid, m->pid);
    close(fds[0]);
    m->fd = fds[1];
}

bool
test_unmount(test_mount *m)
{
    TEST_NOT_IN_CHILD(__func__);
    close(m->fd);
    int st;
    ck_assert_int_eq(waitpid(m->pid, &st, 0), m->pid);
    ck_assert_msg(WIFEXITED(st), "the unmounting child: status %d", st);
    return WEXITSTATUS(st) == 0;
}

bool
test_queue_take(samsa_queue *q, samsa_delivery *d, size_t n, const int64_t *at,
                const int32_t *counts)
{
    size_t got;
    if (samsa_queue_receive(q, d, n, &got, 0) != 0 || got != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (d[i].msg.offset != at[i] || d[i].delivery_count != counts[i])
            return false;
    return true;
}

/* ---- test directories ---------------------------------------------------- */

const char *
test_dir_make(void)
{
    TEST_NOT_IN_CHILD(__func__);
    static char bufs[4][256];
    static int next;
    char *buf = bufs[next++ % 4];
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, sizeof bufs[0], "%s/samsa-test-XXXXXX",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(buf));
    return buf;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void
test_dir_remove(const char *dir)
{
    if (dir != NULL)
        nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
test_path(const char *dir, const char *name)
{
    static char buf[4][512];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

int64_t
test_clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool
test_long(void)
{
    const char *v = getenv("SAMSA_LONG");
    return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

/* A sixth, not the third it was until 2026-12-05: make check then ran 15
 * minutes on two cores, and the sweeps under ASan (powercut, catalog,
 * recovery) were 150 s of it alone; at a sixth, 68 s. */
unsigned
test_sweep_thin(void)
{
#ifdef SAMSA_DEBUG
    return test_long() ? 1 : 6;
#else
    return 1;
#endif
}

samsa *
test_open(const char *dir)
{
    TEST_NOT_IN_CHILD(__func__);
    samsa *s = NULL;
    E(samsa_open(dir, NULL, &s));
    ck_assert_ptr_nonnull(s);
    return s;
}

int64_t
test_produce_str(samsa *s, const char *topic, int32_t partition,
                 const char *key, const char *value)
{
    TEST_NOT_IN_CHILD(__func__);
    samsa_record r = {0};
    r.key = key;
    r.key_len = key != NULL ? strlen(key) : 0;
    r.value = value;
    r.value_len = value != NULL ? strlen(value) : 0;
    E(samsa_produce(s, topic, partition, &r, 1));
    ck_assert_int_ge(r.offset, 0);
    return r.offset;
}

/*
 * A v2 record batch as a real client writes it: IBM/sarama's "uncompressed
 * record" test case (record_test.go), one record with a key, a value and a
 * header.  The CRC field (bytes 17..20, big-endian) covers bytes 21..end.
 */
const uint8_t test_sarama_batch[TEST_SARAMA_BATCH_SIZE] = {
    0,  0,   0,  0,   0,   0,   0,  0,  /* base offset                   */
    0,  0,   0,  70,                    /* batch length                  */
    0,  0,   0,  0,                     /* partition leader epoch        */
    2,                                  /* magic                         */
    84, 121, 97, 253,                   /* CRC                           */
    0,  0,                              /* attributes                    */
    0,  0,   0,  0,                     /* last offset delta             */
    0,  0,   1,  88,  141, 205, 89, 56, /* base timestamp                */
    0,  0,   0,  0,   0,   0,   0,  0,  /* max timestamp                 */
    0,  0,   0,  0,   0,   0,   0,  0,  /* producer id                   */
    0,  0,                              /* producer epoch                */
    0,  0,   0,  0,                     /* base sequence                 */
    0,  0,   0,  1,                     /* record count                  */
    40, 0,   10, 0,                     /* length, attrs, ts/off delta   */
    8,  1,   2,  3,   4,                /* key                           */
    6,  5,   6,  7,                     /* value                         */
    2,  6,   8,  9,   10,  4,   11, 12, /* one header                    */
};

/* ---- files and whole stores kept in memory ------------------------------ */

uint8_t *
test_slurp(const char *path, size_t *len)
{
    TEST_NOT_IN_CHILD(__func__);
    int fd = open(path, O_RDONLY);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    *len = (size_t)st.st_size;
    uint8_t *buf = malloc(*len + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(pread(fd, buf, *len, 0), (ssize_t)*len);
    close(fd);
    return buf;
}

void
test_spew(const char *path, const void *buf, size_t len, int flags)
{
    TEST_NOT_IN_CHILD(__func__);
    int fd = open(path, O_WRONLY | O_CREAT | flags, 0644);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

void
test_dir_list(const char *path, bool sizes, char *buf, size_t cap)
{
    TEST_NOT_IN_CHILD(__func__);
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    ck_assert_msg(n >= 0, "scandir %s: %s", path, strerror(errno));
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char full[TEST_PATH_BUF];
        struct stat st;
        if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
            ck_assert_int_eq(lstat(test_pathf(full, path, name), &st), 0);
            used +=
                (size_t)(sizes ? snprintf(buf + used, cap - used, "%s:%lld ",
                                          name, (long long)st.st_size)
                               : snprintf(buf + used, cap - used, "%s ", name));
            ck_assert_uint_lt(used, cap);
        }
        free(names[i]);
    }
    free(names);
}

void
test_same_bytes(const char *a, const char *b)
{
    TEST_NOT_IN_CHILD(__func__);
    size_t la, lb;
    uint8_t *pa = test_slurp(a, &la);
    uint8_t *pb = test_slurp(b, &lb);
    ck_assert_msg(la == lb && memcmp(pa, pb, la) == 0,
                  "%s (%zu bytes) and %s (%zu bytes) differ", a, la, b, lb);
    free(pa);
    free(pb);
}

MDB_txn *
test_catalog_begin(const char *dir, MDB_env **env)
{
    TEST_NOT_IN_CHILD(__func__);
    MDB_txn *txn;
    char path[TEST_PATH_BUF];
    ck_assert_int_eq(mdb_env_create(env), 0);
    mdb_env_set_maxdbs(*env, 8);
    ck_assert_int_eq(
        mdb_env_open(*env, test_pathf(path, dir, "catalog"), 0, 0644), 0);
    ck_assert_int_eq(mdb_txn_begin(*env, NULL, 0, &txn), 0);
    return txn;
}

void
test_catalog_commit(MDB_env *env, MDB_txn *txn)
{
    TEST_NOT_IN_CHILD(__func__);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

void
test_catalog_topic_shorten(const char *dir, const char *topic, size_t old_len)
{
    TEST_NOT_IN_CHILD(__func__);
    MDB_env *env;
    MDB_txn *txn = test_catalog_begin(dir, &env);
    MDB_dbi dbi;
    ck_assert_int_eq(mdb_dbi_open(txn, "topics", 0, &dbi), 0);
    MDB_val k = {strlen(topic), (void *)topic}, v;
    ck_assert_int_eq(mdb_get(txn, dbi, &k, &v), 0);
    ck_assert_uint_eq(v.mv_size, 108 + CATALOG_CRC);
    uint8_t rec[108 + CATALOG_CRC];
    ck_assert_uint_lt(old_len, 108);
    memcpy(rec, v.mv_data, old_len);
    uint32_t crc = catalog__value_crc(TAG_TOPIC, &k, rec, old_len);
    for (int i = 0; i < 4; i++)
        rec[old_len + (size_t)i] = (uint8_t)(crc >> (8 * i));
    MDB_val nv = {old_len + CATALOG_CRC, rec};
    ck_assert_int_eq(mdb_put(txn, dbi, &k, &nv, 0), 0);
    test_catalog_commit(env, txn);
}

void
test_snap_take(test_snap *sn, const char *root, const char *rel)
{
    TEST_NOT_IN_CHILD(__func__);
    char p[2 * TEST_PATH_BUF + 2];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    DIR *d = opendir(p);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, "lock") == 0)
            continue;
        ck_assert_uint_lt(sn->n, 64);
        test_sfile *f = &sn->f[sn->n++];
        ck_assert_uint_lt(strlen(rel) + strlen(e->d_name) + 2, sizeof f->path);
        snprintf(f->path, sizeof f->path, "%.200s%s%.200s", rel,
                 *rel ? "/" : "", e->d_name);
        char full[2 * TEST_PATH_BUF + 2];
        snprintf(full, sizeof full, "%s/%s", root, f->path);
        struct stat st;
        ck_assert_int_eq(lstat(full, &st), 0);
        f->dir = S_ISDIR(st.st_mode);
        f->data = NULL;
        if (f->dir)
            test_snap_take(sn, root, f->path);
        else
            f->data = test_slurp(full, &f->len);
        for (f->used = f->len; f->used > 0 && f->data[f->used - 1] == 0;)
            f->used--;
    }
    closedir(d);
}

void
test_snap_free(test_snap *sn)
{
    for (size_t i = 0; i < sn->n; i++)
        free(sn->f[i].data);
    sn->n = 0;
}

/* Make root hold exactly the snapshot. */
void
test_snap_put(const test_snap *sn, const char *root)
{
    TEST_NOT_IN_CHILD(__func__);
    test_dir_remove(root);
    ck_assert_int_eq(mkdir(root, 0755), 0);
    for (size_t i = 0; i < sn->n; i++) {
        char full[2 * TEST_PATH_BUF + 2];
        snprintf(full, sizeof full, "%s/%s", root, sn->f[i].path);
        const test_sfile *f = &sn->f[i];
        if (f->dir) {
            ck_assert_int_eq(mkdir(full, 0755), 0);
            continue;
        }
        /* The zeros of a preallocated tail by truncate, not write. */
        size_t n = f->touched > f->used ? f->touched : f->used;
        test_spew(full, f->data, n, O_EXCL);
        ck_assert_int_eq(truncate(full, (off_t)f->len), 0);
    }
}
