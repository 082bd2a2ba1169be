/*
 * check_store.c - samsa_open/close/sync, options, the directory lock,
 * strerror and versions.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "catalog/catalog.h"
#include "faultio.h"
#include "store/store.h"
#include "test.h"

START_TEST(test_open_close)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    struct stat st;
    ck_assert_int_eq(stat(test_path(dir, "catalog"), &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(stat(test_path(dir, "lock"), &st), 0);
    E(samsa_sync(s));
    E(samsa_close(s));
    E(samsa_close(NULL));
    s = test_open(dir); /* reopen */
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_open_bad_args)
{
    const char *dir = test_dir_make();
    samsa *s = (samsa *)0x1;
    EQ_RC(samsa_open(NULL, NULL, &s), SAMSA_EINVAL);
    EQ_RC(samsa_open("", NULL, &s), SAMSA_EINVAL);
    EQ_RC(samsa_open(dir, NULL, NULL), SAMSA_EINVAL);
    samsa_options o = {.sync = 7};
    EQ_RC(samsa_open(dir, &o, &s), SAMSA_EINVAL);
    o = (samsa_options){.flags = 0x100};
    EQ_RC(samsa_open(dir, &o, &s), SAMSA_EINVAL);
    o = (samsa_options){.reserved = {[3] = 1}};
    EQ_RC(samsa_open(dir, &o, &s), SAMSA_EINVAL);
    o = (samsa_options){.catalog_map_bytes = 1000};
    EQ_RC(samsa_open(dir, &o, &s), SAMSA_EINVAL);
    const char *empty[] = {"", NULL};
    o = (samsa_options){.replica_dirs = empty};
    EQ_RC(samsa_open(dir, &o, &s), SAMSA_EINVAL);
    const char *many[] = {"a", "b", "c", "d", "e", "f", "g", "h", NULL};
    o = (samsa_options){.replica_dirs = many}; /* more than 7 */
    EQ_RC(samsa_open(dir, &o, &s), SAMSA_EINVAL);
    const char *none[] = {NULL};
    o = (samsa_options){.replica_dirs = none};
    E(samsa_open(dir, &o, &s));
    E(samsa_close(s));
    s = (samsa *)0x1;
    EQ_RC(samsa_open(test_path(dir, "missing"), NULL, &s), -ENOENT);
    ck_assert_ptr_eq(s, (samsa *)0x1); /* untouched on failure */
    /* a file where a directory should be */
    FILE *f = fopen(test_path(dir, "afile"), "w");
    fclose(f);
    EQ_RC(samsa_open(test_path(dir, "afile"), NULL, &s), -ENOTDIR);
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_open_create)
{
    const char *dir = test_dir_make();
    samsa_options o = {.flags = SAMSA_OPEN_CREATE};
    samsa *s;
    E(samsa_open(test_path(dir, "new"), &o, &s));
    E(samsa_close(s));
    E(samsa_open(test_path(dir, "new"), &o, &s)); /* exists: fine too */
    E(samsa_close(s));
    /* Missing parents are made, as mkdir -p does, for replicas too; a
     * trailing or doubled slash changes nothing. */
    char p[TEST_PATH_BUF], r[TEST_PATH_BUF];
    snprintf(p, sizeof p, "%s/a/b//c/", dir);
    snprintf(r, sizeof r, "%s/r/s/t", dir);
    const char *reps[] = {r, NULL};
    o.replica_dirs = reps;
    E(samsa_open(p, &o, &s));
    samsa_topic_config cfg = {.partitions = 1, .replicas = 2};
    E(samsa_topic_create(s, "t", &cfg));
    E(samsa_close(s));
    struct stat st;
    ck_assert_int_eq(stat(test_path(dir, "a/b/c/t-0"), &st), 0);
    ck_assert_int_eq(stat(test_path(dir, "r/s/t/t-0"), &st), 0);
    /* A file on the way: -ENOTDIR, and nothing made past it. */
    FILE *f = fopen(test_path(dir, "file"), "w");
    fclose(f);
    snprintf(p, sizeof p, "%s/file/x", dir);
    o.replica_dirs = NULL;
    s = NULL;
    EQ_RC(samsa_open(p, &o, &s), -ENOTDIR);
    ck_assert_ptr_null(s);
    test_dir_remove(dir);
}
END_TEST

/* A second handle on the same directory, in this process, is refused; the
 * lock goes with the first handle's close. */
START_TEST(test_locked)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir), *s2 = NULL;
    EQ_RC(samsa_open(dir, NULL, &s2), SAMSA_ELOCKED);
    ck_assert_ptr_null(s2);
    E(samsa_close(s));
    E(samsa_open(dir, NULL, &s2));
    E(samsa_close(s2));
    test_dir_remove(dir);
}
END_TEST

/* Write key = val (val_len bytes) into the named database of the store's
 * catalog, behind samsa's back, to damage or age it. */
static void
catalog_poke(const char *dir, const char *db, const char *key, const void *val,
             size_t val_len)
{
    MDB_env *env;
    MDB_txn *txn = test_catalog_begin(dir, &env);
    MDB_dbi dbi;
    ck_assert_int_eq(mdb_dbi_open(txn, db, 0, &dbi), 0);
    MDB_val k = {strlen(key), (void *)key}, v = {val_len, (void *)val};
    ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    test_catalog_commit(env, txn);
}

/* A catalog from an incompatible version is refused, not misread. */
START_TEST(test_version_mismatch)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_close(s));
    const uint8_t v[4] = {99, 0, 0, 0};
    catalog_poke(dir, "meta", "format", v, sizeof v);
    EQ_RC(samsa_open(dir, NULL, &s), SAMSA_EVERSION);
    test_dir_remove(dir);
}
END_TEST

/* A damaged catalog is refused with SAMSA_ECORRUPT, not read: garbage in
 * place of LMDB's file, and a topic record of the wrong size. */
START_TEST(test_catalog_corrupt)
{
    const char *dir = test_dir_make();
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "t", NULL));
    E(samsa_close(s));

    catalog_poke(dir, "topics", "t", "bad", 3);
    EQ_RC(samsa_open(dir, NULL, &s), SAMSA_ECORRUPT);

    FILE *f = fopen(test_path(dir, "catalog/data.mdb"), "r+b");
    ck_assert_ptr_nonnull(f);
    char junk[8192];
    memset(junk, 0x5a, sizeof junk);
    ck_assert_uint_eq(fwrite(junk, 1, sizeof junk, f), sizeof junk);
    ck_assert_int_eq(fclose(f), 0);
    EQ_RC(samsa_open(dir, NULL, &s), SAMSA_ECORRUPT);
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_strerror)
{
    ck_assert_str_eq(samsa_strerror(0), "success");
    ck_assert_str_eq(samsa_strerror(SAMSA_ENOTOPIC),
                     "SAMSA_ENOTOPIC: no such topic");
    /* every code has a message starting with its symbol */
    for (int rc = SAMSA_EINVAL; rc > SAMSA_ELAST; rc--) {
        const char *m = samsa_strerror(rc);
        ck_assert_msg(strncmp(m, "SAMSA_E", 7) == 0, "%d: %s", rc, m);
    }
    ck_assert_str_eq(samsa_strerror(-ENOENT),
                     "ENOENT: No such file or directory");
    ck_assert_str_eq(samsa_strerror(SAMSA_ELAST),
                     "SAMSA_UNKNOWN: unknown error");
    ck_assert_str_eq(samsa_strerror(12345), "SAMSA_UNKNOWN: unknown error");
}
END_TEST

START_TEST(test_version)
{
    ck_assert_uint_eq(samsa_version(), SAMSA_VERSION_NUM);
    ck_assert_uint_eq(samsa_version() >> 16, SAMSA_VERSION_MAJOR);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", SAMSA_VERSION_MAJOR,
             SAMSA_VERSION_MINOR, SAMSA_VERSION_PATCH);
    ck_assert_str_eq(samsa_version_string(), want);
}
END_TEST

/* ---- samsa deletes only what it can prove it made ----------------------- */

static void
put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* The file at path holds exactly text. */
static void
check_file(const char *path, const char *text)
{
    char buf[256] = {0};
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s is gone", path);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    ck_assert_uint_eq(n, strlen(text));
    ck_assert_str_eq(buf, text);
}

/* Entries in dir, "." and ".." aside. */
static int
entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* A Kafka broker's log directory: what samsa must never touch. */
static const char *const kafka_files[] = {
    "meta.properties",
    "recovery-point-offset-checkpoint",
    "orders-0/00000000000000000000.log",
    "orders-0/00000000000000000000.index",
    "orders-0/00000000000000000000.timeindex",
    "orders-0/leader-epoch-checkpoint",
    "orders-1/00000000000000000000.log",
    "__consumer_offsets-7/00000000000000000000.log",
};
#define NKAFKA (sizeof kafka_files / sizeof kafka_files[0])

static void
make_kafka_dir(const char *dir)
{
    char p[TEST_PATH_BUF];
    const char *dirs[] = {"orders-0", "orders-1", "__consumer_offsets-7"};
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(mkdir(test_pathf(p, dir, dirs[i]), 0755), 0);
    for (size_t i = 0; i < NKAFKA; i++)
        put_file(test_pathf(p, dir, kafka_files[i]), kafka_files[i]);
}

static void
check_kafka_dir(const char *dir)
{
    char p[TEST_PATH_BUF];
    for (size_t i = 0; i < NKAFKA; i++)
        check_file(test_pathf(p, dir, kafka_files[i]), kafka_files[i]);
    ck_assert_int_eq(entries(dir), 5); /* nothing added either */
}

/* Opening a directory that holds something but no samsa catalog fails with
 * SAMSA_ENOTSTORE and changes nothing: a photo, a Kafka log directory
 * (issue 10, finding 5: both were deleted), with or without
 * SAMSA_OPEN_CREATE, as the store or as a replica directory. */
START_TEST(test_open_foreign_dir)
{
    const char *dir = test_dir_make();
    char d[TEST_PATH_BUF], p[TEST_PATH_BUF], r[TEST_PATH_BUF];
    samsa *s = NULL;
    samsa_options create = {.flags = SAMSA_OPEN_CREATE};

    test_pathf(d, dir, "photos");
    ck_assert_int_eq(mkdir(d, 0755), 0);
    ck_assert_int_eq(mkdir(test_pathf(p, d, "photos-2019"), 0755), 0);
    put_file(test_pathf(p, d, "photos-2019/a"), "x\n");
    EQ_RC(samsa_open(d, NULL, &s), SAMSA_ENOTSTORE);
    EQ_RC(samsa_open(d, &create, &s), SAMSA_ENOTSTORE);
    ck_assert_ptr_null(s);
    check_file(test_pathf(p, d, "photos-2019/a"), "x\n");
    ck_assert_int_eq(entries(d), 1);

    test_pathf(d, dir, "kafka");
    ck_assert_int_eq(mkdir(d, 0755), 0);
    make_kafka_dir(d);
    EQ_RC(samsa_open(d, NULL, &s), SAMSA_ENOTSTORE);
    EQ_RC(samsa_open(d, &create, &s), SAMSA_ENOTSTORE);
    check_kafka_dir(d);

    /* As a replica directory: the whole open fails before any directory
     * is written, the empty primary included. */
    const char *reps[] = {d, NULL};
    samsa_options o = {.replica_dirs = reps};
    test_pathf(p, dir, "primary");
    ck_assert_int_eq(mkdir(p, 0755), 0);
    EQ_RC(samsa_open(p, &o, &s), SAMSA_ENOTSTORE);
    ck_assert_int_eq(entries(p), 0);
    check_kafka_dir(d);

    /* An empty replica directory is a replacement disk: it is used. */
    test_pathf(r, dir, "replica");
    ck_assert_int_eq(mkdir(r, 0755), 0);
    reps[0] = r;
    E(samsa_open(p, &o, &s));
    E(samsa_topic_create(s, "t", &(samsa_topic_config){.replicas = 2}));
    E(samsa_close(s));
    ck_assert(test_exists(test_pathf(d, r, "t-0")));
    /* A store reopens whatever else lies in it. */
    put_file(test_pathf(d, p, "notes"), "mine\n");
    E(samsa_open(p, &o, &s));
    E(samsa_close(s));
    check_file(test_pathf(d, p, "notes"), "mine\n");
    test_dir_remove(dir);
}
END_TEST

/* What a first open killed before its catalog existed leaves (the lock
 * file, an empty catalog directory) is samsa's own: the store opens. */
START_TEST(test_open_after_crashed_first_open)
{
    const char *dir = test_dir_make();
    char p[TEST_PATH_BUF];
    put_file(test_pathf(p, dir, "lock"), "");
    ck_assert_int_eq(mkdir(test_pathf(p, dir, "catalog"), 0755), 0);
    samsa *s = test_open(dir);
    E(samsa_topic_create(s, "t", NULL));
    E(samsa_close(s));
    /* But a catalog directory holding something else is not. */
    const char *dir2 = test_dir_make();
    ck_assert_int_eq(mkdir(test_pathf(p, dir2, "catalog"), 0755), 0);
    put_file(test_pathf(p, dir2, "catalog/mine"), "x");
    EQ_RC(samsa_open(dir2, NULL, &s), SAMSA_ENOTSTORE);
    check_file(p, "x");
    test_dir_remove(dir);
    test_dir_remove(dir2);
}
END_TEST

/* Directories in a store that look like partitions of a topic that was
 * deleted (and whose removal finished) are no longer samsa's: they stay,
 * and a create of that name refuses to take them over. */
START_TEST(test_unknown_dirs_kept)
{
    const char *dir = test_dir_make();
    char p[TEST_PATH_BUF];
    samsa *s = test_open(dir);
    samsa_topic_config two = {.partitions = 2};
    E(samsa_topic_create(s, "orders", &two));
    test_produce_str(s, "orders", 1, "k", "v");
    E(samsa_topic_delete(s, "orders"));
    ck_assert(!test_exists(test_pathf(p, dir, "orders-0")));
    ck_assert(!test_exists(test_pathf(p, dir, "orders-1")));
    int32_t parts;
    EQ_RC(catalog_pending_get(&s->cat, "orders", &parts), SAMSA_ENOTOPIC);
    E(samsa_close(s));

    make_kafka_dir(dir); /* orders-0, orders-1 and more, not samsa's */
    s = test_open(dir);
    for (size_t i = 0; i < NKAFKA; i++)
        check_file(test_pathf(p, dir, kafka_files[i]), kafka_files[i]);
    EQ_RC(samsa_topic_create(s, "orders", &two), SAMSA_EEXIST);
    samsa_topic_config got;
    EQ_RC(samsa_topic_describe(s, "orders", &got), SAMSA_ENOTOPIC);
    E(samsa_topic_create(s, "other", &two));
    E(samsa_topic_delete(s, "other"));
    E(samsa_close(s));
    s = test_open(dir);
    E(samsa_close(s));
    for (size_t i = 0; i < NKAFKA; i++)
        check_file(test_pathf(p, dir, kafka_files[i]), kafka_files[i]);
    test_dir_remove(dir);
}
END_TEST

/* An I/O table that kills the process at the first call of one kind: a
 * crash at that exact point. */
static samsa_io crash_io;

static int
crash_unlink(samsa_io *io, const char *path)
{
    (void)io;
    (void)path;
    _exit(0);
}

static int
crash_dirsync(samsa_io *io, const char *path)
{
    (void)io;
    (void)path;
    _exit(0);
}

/* Run the step in a child whose store dies at the first unlink (delete)
 * or dirsync (create) of a topic "t" with 2 partitions. */
static void
crash_child(const char *dir, bool delete)
{
    pid_t pid = test_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        samsa *s;
        crash_io = *samsa__io_posix();
        if (samsa__open_io(dir, NULL, &crash_io, &s) != 0)
            _exit(2);
        if (delete) {
            if (samsa_topic_create(s, "t",
                                   &(samsa_topic_config){.partitions = 2}) != 0)
                _exit(3);
            samsa_record r = {
                .key = "k", .key_len = 1, .value = "lost", .value_len = 4};
            if (samsa_produce(s, "t", 1, &r, 1) != 0 || r.offset < 0)
                _exit(5);
            crash_io.unlink = crash_unlink;
            samsa_topic_delete(s, "t");
        } else {
            crash_io.dirsync = crash_dirsync;
            samsa_topic_create(s, "t", &(samsa_topic_config){.partitions = 2});
        }
        _exit(4); /* did not reach the crash point */
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0);
}

/* A crash between a topic delete's catalog commit and the removal of its
 * directories, or in a create before its commit, leaves directories that
 * the catalog's pending record proves are samsa's: the next open removes
 * them, and the name is free again. */
START_TEST(test_crash_leaves_proven_dirs)
{
    for (int delete = 0; delete < 2; delete ++) {
        const char *dir = test_dir_make();
        char p[TEST_PATH_BUF];
        crash_child(dir, delete);
        ck_assert(test_exists(test_pathf(p, dir, "t-0")));
        if (delete)
            ck_assert(test_exists(test_pathf(p, dir, "t-1")));
        samsa *s = test_open(dir);
        ck_assert(!test_exists(test_pathf(p, dir, "t-0")));
        ck_assert(!test_exists(test_pathf(p, dir, "t-1")));
        samsa_topic_config got;
        EQ_RC(samsa_topic_describe(s, "t", &got), SAMSA_ENOTOPIC);
        int32_t parts;
        EQ_RC(catalog_pending_get(&s->cat, "t", &parts), SAMSA_ENOTOPIC);
        E(samsa_topic_create(s, "t", &(samsa_topic_config){.partitions = 2}));
        int64_t first, end;
        E(samsa_offsets(s, "t", 1, &first, &end));
        ck_assert_int_eq(first, 0);
        ck_assert_int_eq(end, 0);
        E(samsa_close(s));
        test_dir_remove(dir);
    }
}
END_TEST

/* A replica directory that vanished and comes back holding something other
 * than a store (another disk mounted there) stays out and untouched, in the
 * open store and at the next open; back empty, it is a replacement disk. */
START_TEST(test_replica_dir_comes_back_foreign)
{
    const char *dir = test_dir_make();
    char p[TEST_PATH_BUF], r[TEST_PATH_BUF], k[TEST_PATH_BUF], f[TEST_PATH_BUF];
    test_pathf(p, dir, "primary");
    test_pathf(r, dir, "replica");
    const char *reps[] = {r, NULL};
    samsa_options o = {.flags = SAMSA_OPEN_CREATE, .replica_dirs = reps};
    samsa *s;
    E(samsa_open(p, &o, &s));
    samsa__replica_pause(s, true); /* only the passes called below */
    E(samsa_topic_create(s, "t", &(samsa_topic_config){.replicas = 2}));
    test_produce_str(s, "t", 0, "k", "v");
    test_dir_remove(r);
    size_t rejoined = 99;
    E(samsa_replica_catchup(s, &rejoined));
    ck_assert_int_eq(rejoined, 0);
    /* made aside, then put in place at once */
    test_pathf(k, dir, "kafka");
    ck_assert_int_eq(mkdir(k, 0755), 0);
    make_kafka_dir(k);
    ck_assert_int_eq(rename(k, r), 0);
    E(samsa_replica_catchup(s, &rejoined));
    ck_assert_int_eq(rejoined, 0);
    check_kafka_dir(r);
    E(samsa_close(s));
    check_kafka_dir(r);
    EQ_RC(samsa_open(p, &o, &s), SAMSA_ENOTSTORE);
    check_kafka_dir(r);

    /* Emptied, it is taken as a new disk and the copy is rebuilt. */
    test_dir_remove(r);
    ck_assert_int_eq(mkdir(r, 0755), 0);
    E(samsa_open(p, &o, &s));
    samsa__replica_pause(s, true);
    E(samsa_replica_catchup(s, &rejoined));
    ck_assert_int_eq(rejoined, 1);
    ck_assert(test_exists(test_pathf(f, r, "t-0/00000000000000000000.log")));
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* A delete whose removals fail leaves its pending record: the next create
 * of the name finishes the removal first (the old topic's partition past
 * the new count goes too), then starts afresh. */
START_TEST(test_failed_removal_finished_by_create)
{
    const char *dir = test_dir_make();
    char p[TEST_PATH_BUF];
    faultio *fi = faultio_new();
    samsa *s;
    E(samsa__open_io(dir, NULL, faultio_io(fi), &s));
    E(samsa_topic_create(s, "t", &(samsa_topic_config){.partitions = 2}));
    test_produce_str(s, "t", 0, "k", "old");
    faultio_fail(fi, FAULTIO_UNLINK, 1, EIO, true);
    E(samsa_topic_delete(s, "t"));
    faultio_clear(fi);
    ck_assert(test_exists(test_pathf(p, dir, "t-0")));
    ck_assert(test_exists(test_pathf(p, dir, "t-1")));
    int32_t parts = 0;
    E(catalog_pending_get(&s->cat, "t", &parts));
    ck_assert_int_eq(parts, 2);
    E(samsa_topic_create(s, "t", NULL)); /* one partition now */
    ck_assert(!test_exists(test_pathf(p, dir, "t-1")));
    EQ_RC(catalog_pending_get(&s->cat, "t", &parts), SAMSA_ENOTOPIC);
    int64_t first, end;
    E(samsa_offsets(s, "t", 0, &first, &end));
    ck_assert_int_eq(end, 0);
    E(samsa_close(s));
    faultio_free(fi);
    test_dir_remove(dir);
}
END_TEST

/* Deleting a topic removes only the files samsa made in its partition
 * directories (regression: every entry went).  In t-0, notes.txt, a
 * directory and a symbolic link under an index file's name stay, and so
 * does t-0; in t-1, a stray file under a segment's name inside the records
 * of the segment before it (log.c, "Foreign files") stays, with that
 * segment's files (which of the two is samsa's cannot be proven), and
 * every other file goes.  The catalog's pending record stays while they
 * do: each open and each create of the name tries the removal again, and
 * a create of "t" fails with SAMSA_EEXIST and changes nothing.  Once they
 * are moved away, the create finishes the removal and makes the topic
 * afresh. */
START_TEST(test_delete_keeps_foreign_files)
{
    const char *dir = test_dir_make(), *aside = test_dir_make();
    char p[TEST_PATH_BUF], q[TEST_PATH_BUF], t0[TEST_PATH_BUF];
    char t1[TEST_PATH_BUF], stray[64], want0[256], want1[256], got[1024];
    samsa *s = test_open(dir);
    samsa_topic_config c = test_small_cfg(2, 0);
    E(samsa_topic_create(s, "t", &c));
    int64_t next = 0, bases[64];
    test_produce_upto(s, "t", 1, &next, 200, 0);
    test_produce_str(s, "t", 0, "k", "v");
    ck_assert_uint_ge(test_seg_bases(dir, "t", 1, bases, 64), 3);
    test_pathf(t0, dir, "t-0");
    test_pathf(t1, dir, "t-1");
    put_file(test_pathf(p, t0, "notes.txt"), "the user's notes\n");
    ck_assert_int_eq(mkdir(test_pathf(p, t0, "sub"), 0755), 0);
    put_file(test_pathf(p, t0, "sub/inner"), "inner\n");
    put_file(test_pathf(p, dir, "outside"), "outside\n");
    ck_assert_int_eq(
        symlink("../outside", test_pathf(p, t0, "00000000000000099999.index")),
        0);
    snprintf(stray, sizeof stray, "%020lld.log", (long long)(bases[1] + 1));
    put_file(test_pathf(p, t1, stray), "stray\n");
    snprintf(want0, sizeof want0, "00000000000000099999.index notes.txt sub ");
    snprintf(
        want1, sizeof want1, "%020lld.index %020lld.log %020lld.timeindex %s ",
        (long long)bases[1], (long long)bases[1], (long long)bases[1], stray);

    E(samsa_topic_delete(s, "t"));
    for (int round = 0; round < 3; round++) {
        if (round == 2) { /* the next open tries again, and keeps them */
            E(samsa_close(s));
            s = test_open(dir);
        }
        if (round > 0) /* a create of the name: refused, nothing changed */
            EQ_RC(samsa_topic_create(s, "t", &c), SAMSA_EEXIST);
        test_dir_list(t0, false, got, sizeof got);
        ck_assert_str_eq(got, want0);
        test_dir_list(t1, false, got, sizeof got);
        ck_assert_str_eq(got, want1);
        check_file(test_pathf(p, t0, "notes.txt"), "the user's notes\n");
        check_file(test_pathf(p, t0, "sub/inner"), "inner\n");
        check_file(test_pathf(p, t0, "00000000000000099999.index"),
                   "outside\n");
        check_file(test_pathf(p, t1, stray), "stray\n");
        int32_t parts = 0;
        E(catalog_pending_get(&s->cat, "t", &parts));
        ck_assert_int_eq(parts, 2);
        samsa_topic_config got_cfg;
        EQ_RC(samsa_topic_describe(s, "t", &got_cfg), SAMSA_ENOTOPIC);
    }

    /* Moved away, the name is free again. */
    const char *moved[][2] = {{"t-0/notes.txt", "notes.txt"},
                              {"t-0/sub", "sub"},
                              {"t-0/00000000000000099999.index", "link"},
                              {"t-1/", "stray"}};
    for (size_t i = 0; i < 4; i++) {
        test_pathf(p, dir, moved[i][0]);
        if (i == 3)
            strcat(p, stray);
        ck_assert_int_eq(rename(p, test_pathf(q, aside, moved[i][1])), 0);
    }
    E(samsa_topic_create(s, "t", &c));
    int32_t parts;
    EQ_RC(catalog_pending_get(&s->cat, "t", &parts), SAMSA_ENOTOPIC);
    for (int32_t k = 0; k < 2; k++) {
        int64_t first, end;
        E(samsa_offsets(s, "t", k, &first, &end));
        ck_assert_int_eq(first, 0);
        ck_assert_int_eq(end, 0);
    }
    test_dir_list(t1, false, got, sizeof got);
    ck_assert_str_eq(got, "00000000000000000000.log samsa.end ");
    E(samsa_close(s));
    check_file(test_pathf(p, aside, "notes.txt"), "the user's notes\n");
    check_file(test_pathf(p, aside, "sub/inner"), "inner\n");
    check_file(test_pathf(p, aside, "stray"), "stray\n");
    check_file(test_pathf(p, dir, "outside"), "outside\n");
    test_dir_remove(dir);
    test_dir_remove(aside);
}
END_TEST

/* A symbolic link under a sealed segment's .timeindex name, to a file
 * outside whose entries check out but are not as the engine writes them
 * (one more, with the time before): the deletion reads where the segment
 * ends, and that read must change nothing.  It went through the sealed
 * segment's open, which writes such a .timeindex again (unlinking the
 * link), so the link was gone and the create after it succeeded. */
START_TEST(test_delete_keeps_timeindex_link)
{
    const char *dir = test_dir_make();
    char p[TEST_PATH_BUF], t0[TEST_PATH_BUF], name[64], got[1024];
    samsa *s = test_open(dir);
    samsa_topic_config c = test_small_cfg(1, 0);
    E(samsa_topic_create(s, "t", &c));
    int64_t next = 0, bases[64];
    test_produce_upto(s, "t", 0, &next, 200, 0);
    ck_assert_uint_ge(test_seg_bases(dir, "t", 0, bases, 64), 3);
    test_pathf(t0, dir, "t-0");
    snprintf(name, sizeof name, "%020lld.timeindex", (long long)bases[0]);
    /* The segment's own entries, and after the first one more with its
     * time, an offset on: each index entry's time before it is as it was,
     * so the file checks out, but the engine would not write it so. */
    size_t len;
    uint8_t *tb = test_slurp(test_pathf(p, t0, name), &len);
    ck_assert_uint_ge(len, 24);
    ck_assert_uint_lt(test_be32(tb + 8) + 1, test_be32(tb + 20));
    uint8_t *ob = malloc(len + 12);
    ck_assert_ptr_nonnull(ob);
    memcpy(ob, tb, 12);
    memcpy(ob + 12, tb, 8);
    uint32_t rel = test_be32(tb + 8) + 1;
    uint8_t be[4] = {rel >> 24, rel >> 16, rel >> 8, rel};
    memcpy(ob + 20, be, 4);
    memcpy(ob + 24, tb + 12, len - 12);
    test_spew(test_pathf(p, dir, "outside"), ob, len + 12, O_TRUNC);
    ck_assert_int_eq(unlink(test_pathf(p, t0, name)), 0);
    ck_assert_int_eq(symlink("../outside", p), 0);

    E(samsa_topic_delete(s, "t"));
    EQ_RC(samsa_topic_create(s, "t", &c), SAMSA_EEXIST);
    /* The segment was samsa's and went; the link is what stays. */
    test_dir_list(t0, false, got, sizeof got);
    ck_assert_str_eq(got, "00000000000000000000.timeindex ");
    struct stat st;
    ck_assert_int_eq(lstat(test_pathf(p, t0, name), &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    free(tb);
    tb = test_slurp(test_pathf(p, dir, "outside"), &len);
    ck_assert_mem_eq(tb, ob, len);
    free(tb);
    free(ob);
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

/* Twenty digits name a segment only up to INT64_MAX: samsa never makes
 * "99999999999999999999.log" (nor its index files), so a deletion keeps
 * such files.  It unlinked them: the name read as base INT64_MAX, the
 * last segment, which nothing checks. */
START_TEST(test_delete_keeps_names_past_int64)
{
    const char *dir = test_dir_make();
    char p[TEST_PATH_BUF], t0[TEST_PATH_BUF], got[1024];
    samsa *s = test_open(dir);
    samsa_topic_config c = test_small_cfg(1, 0);
    E(samsa_topic_create(s, "t", &c));
    test_produce_str(s, "t", 0, "k", "v");
    test_pathf(t0, dir, "t-0");
    put_file(test_pathf(p, t0, "99999999999999999999.log"), "mine\n");
    put_file(test_pathf(p, t0, "09223372036854775808.index"), "mine too\n");
    E(samsa_topic_delete(s, "t"));
    EQ_RC(samsa_topic_create(s, "t", &c), SAMSA_EEXIST);
    test_dir_list(t0, false, got, sizeof got);
    ck_assert_str_eq(got,
                     "09223372036854775808.index 99999999999999999999.log ");
    check_file(test_pathf(p, t0, "99999999999999999999.log"), "mine\n");
    check_file(test_pathf(p, t0, "09223372036854775808.index"), "mine too\n");
    E(samsa_close(s));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_sync_bad_args)
{
    EQ_RC(samsa_sync(NULL), SAMSA_EINVAL);
}
END_TEST

/* The debug builds' lock-order check (lib/util/lockrank.c) aborts on a
 * lock taken out of the table's order, and lets the right order through;
 * release builds compile it away. */
START_TEST(test_lock_rank)
{
    samsa__rank_take(SAMSA_RANK_QPART, 1, "qpart.lock");
    samsa__rank_take(SAMSA_RANK_QPART, 3, "qpart.lock"); /* ascending */
    samsa__rank_take(SAMSA_RANK_TABLE, -1, "table_lock");
    samsa__rank_take(SAMSA_RANK_LOG, -1, "log.lock");
    samsa__rank_take(SAMSA_RANK_RSET, -1, "rset.lock");
    samsa__rank_take(SAMSA_RANK_LEAF, -1, "log.wait_lock");
    samsa__rank_drop(SAMSA_RANK_LEAF, -1);
    samsa__rank_drop(SAMSA_RANK_LOG, -1); /* let go in any order */
    samsa__rank_drop(SAMSA_RANK_RSET, -1);
    samsa__rank_drop(SAMSA_RANK_TABLE, -1);
    samsa__rank_drop(SAMSA_RANK_QPART, 1);
    samsa__rank_drop(SAMSA_RANK_QPART, 3);
    /* Each wrong order, in a child that must abort in debug builds. */
    static const struct {
        int first, first_nth, second, second_nth;
    } wrong[] = {
        {SAMSA_RANK_RSET, -1, SAMSA_RANK_LOG, -1},     /* backwards       */
        {SAMSA_RANK_TABLE, -1, SAMSA_RANK_GROUP, -1},  /* group under table */
        {SAMSA_RANK_QPART, 3, SAMSA_RANK_QPART, 1},    /* descending       */
        {SAMSA_RANK_QPART, 2, SAMSA_RANK_QPART, 2},    /* the same twice   */
        {SAMSA_RANK_TABLE, -1, SAMSA_RANK_TABLE, -1},  /* read lock again  */
        {SAMSA_RANK_LEAF, -1, SAMSA_RANK_CATALOG, -1}, /* under a leaf    */
    };
    fflush(stderr);
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        pid_t pid = test_fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            samsa__rank_take(wrong[i].first, wrong[i].first_nth, "first");
            samsa__rank_take(wrong[i].second, wrong[i].second_nth, "second");
            _exit(0);
        }
        int st;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
#ifdef SAMSA_DEBUG
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "case %zu",
                      i);
#else
        ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
#endif
    }
}
END_TEST

Suite *
store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_add_test(tc, test_open_close);
    tcase_add_test(tc, test_lock_rank);
    tcase_add_test(tc, test_open_bad_args);
    tcase_add_test(tc, test_open_create);
    tcase_add_test(tc, test_locked);
    tcase_add_test(tc, test_version_mismatch);
    tcase_add_test(tc, test_catalog_corrupt);
    tcase_add_test(tc, test_strerror);
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_sync_bad_args);
    tcase_add_test(tc, test_open_foreign_dir);
    tcase_add_test(tc, test_open_after_crashed_first_open);
    tcase_add_test(tc, test_unknown_dirs_kept);
    tcase_add_test(tc, test_crash_leaves_proven_dirs);
    tcase_add_test(tc, test_replica_dir_comes_back_foreign);
    tcase_add_test(tc, test_failed_removal_finished_by_create);
    tcase_add_test(tc, test_delete_keeps_foreign_files);
    tcase_add_test(tc, test_delete_keeps_timeindex_link);
    tcase_add_test(tc, test_delete_keeps_names_past_int64);
    suite_add_tcase(s, tc);
    return s;
}
