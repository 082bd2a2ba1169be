/*
 * catalog_mdb.h - the LMDB calls of the catalog (catalog.c,
 * catalog_group.c), each through a wrapper that a test can make fail.
 *
 * Every LMDB call that can fail goes through cm_<name>(), which first asks
 * catalog__fault_check() (catalog.c), telling it whether the call writes,
 * whether this call is the one a test chose to fail; when it is, the wrapper
 * returns the chosen code without calling LMDB, exactly as LMDB returns a
 * failure: cm_txn_commit() aborts the transaction (mdb_txn_commit frees it on
 * failure too), cm_txn_begin() and cm_cursor_open() leave no handle behind. Off
 * (the default, and always outside tests) the check is one relaxed atomic load.
 *
 * Only this header includes lmdb.h besides the catalog's .c files: LMDB
 * stays an implementation detail of the catalog layer.
 */
#ifndef SAMSA_CATALOG_MDB_H
#define SAMSA_CATALOG_MDB_H

#include <lmdb.h>

#include "catalog.h"

static inline int
cm_txn_begin(MDB_env *env, MDB_txn *parent, unsigned flags, MDB_txn **txn)
{
    int e = catalog__fault_check((flags & MDB_RDONLY) == 0);
    return e != 0 ? e : mdb_txn_begin(env, parent, flags, txn);
}

static inline int
cm_txn_commit(MDB_txn *txn)
{
    int e = catalog__fault_check(true);
    if (e != 0) {
        mdb_txn_abort(txn); /* as a failed commit: the txn is gone */
        return e;
    }
    return mdb_txn_commit(txn);
}

static inline int
cm_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
    int e = catalog__fault_check(false);
    return e != 0 ? e : mdb_get(txn, dbi, k, v);
}

static inline int
cm_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v, unsigned flags)
{
    int e = catalog__fault_check(true);
    return e != 0 ? e : mdb_put(txn, dbi, k, v, flags);
}

static inline int
cm_del(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
    int e = catalog__fault_check(true);
    return e != 0 ? e : mdb_del(txn, dbi, k, v);
}

static inline int
cm_drop(MDB_txn *txn, MDB_dbi dbi, int del)
{
    int e = catalog__fault_check(true);
    return e != 0 ? e : mdb_drop(txn, dbi, del);
}

static inline int
cm_cursor_open(MDB_txn *txn, MDB_dbi dbi, MDB_cursor **cur)
{
    int e = catalog__fault_check(false);
    return e != 0 ? e : mdb_cursor_open(txn, dbi, cur);
}

static inline int
cm_cursor_get(MDB_cursor *cur, MDB_val *k, MDB_val *v, MDB_cursor_op op)
{
    int e = catalog__fault_check(false);
    return e != 0 ? e : mdb_cursor_get(cur, k, v, op);
}

static inline int
cm_cursor_del(MDB_cursor *cur, unsigned flags)
{
    int e = catalog__fault_check(true);
    return e != 0 ? e : mdb_cursor_del(cur, flags);
}

static inline int
cm_dbi_open(MDB_txn *txn, const char *name, unsigned flags, MDB_dbi *dbi)
{
    int e = catalog__fault_check(false);
    return e != 0 ? e : mdb_dbi_open(txn, name, flags, dbi);
}

static inline int
cm_env_sync(MDB_env *env, int force)
{
    int e = catalog__fault_check(true);
    return e != 0 ? e : mdb_env_sync(env, force);
}

static inline int
cm_env_copy2(MDB_env *env, const char *path, unsigned flags)
{
    int e = catalog__fault_check(true);
    return e != 0 ? e : mdb_env_copy2(env, path, flags);
}

static inline int
cm_env_open(MDB_env *env, const char *path, unsigned flags, mdb_mode_t mode)
{
    int e = catalog__fault_check(false);
    return e != 0 ? e : mdb_env_open(env, path, flags, mode);
}

/* ---- values with their CRC (catalog.c) ------------------------------------
 *
 * Every value the catalog writes ends in a CRC-32C (4 bytes, little-endian)
 * of a tag naming its database, its key and the value: LMDB checks none of
 * its data, and a flipped bit in a committed offset or a log start would
 * otherwise be read as a value. */
#define CATALOG_CRC 4
/* The databases' tags in each value's CRC: a value copied to another
 * database, or under another key, does not check. */
#define TAG_META    'm'
#define TAG_TOPIC   't'
#define TAG_PART    'p'
#define TAG_GROUP   'g'
#define TAG_QUEUE   'q'
#define TAG_PENDING 'd'

uint32_t catalog__value_crc(char tag, const MDB_val *k, const void *v,
                            size_t n);
/* mdb_put of v[0..n) and its CRC; an MDB_* code. */
int catalog__put(MDB_txn *txn, unsigned dbi, char tag, MDB_val *k,
                 const void *v, size_t n, unsigned flags);
/* mdb_get, then the CRC checked and cut off (MDB_CORRUPTED when it does
 * not match); an MDB_* code. */
int catalog__get(MDB_txn *txn, unsigned dbi, char tag, MDB_val *k, MDB_val *v);
/* Check v's CRC and cut it off v (a cursor's record). */
bool catalog__value_ok(char tag, const MDB_val *k, MDB_val *v);

#endif
