/*
 * check_store.c - samsa_open/close/sync, options, the directory lock,
 * strerror and versions.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

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
    MDB_txn *txn;
    MDB_dbi dbi;
    ck_assert_int_eq(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 8);
    ck_assert_int_eq(mdb_env_open(env, test_path(dir, "catalog"), 0, 0644), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, db, 0, &dbi), 0);
    MDB_val k = {strlen(key), (void *)key}, v = {val_len, (void *)val};
    ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
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

START_TEST(test_sync_bad_args)
{
    EQ_RC(samsa_sync(NULL), SAMSA_EINVAL);
}
END_TEST

Suite *
store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_add_test(tc, test_open_close);
    tcase_add_test(tc, test_open_bad_args);
    tcase_add_test(tc, test_open_create);
    tcase_add_test(tc, test_locked);
    tcase_add_test(tc, test_version_mismatch);
    tcase_add_test(tc, test_catalog_corrupt);
    tcase_add_test(tc, test_strerror);
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_sync_bad_args);
    suite_add_tcase(s, tc);
    return s;
}
