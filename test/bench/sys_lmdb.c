/*
 * sys_lmdb.c - LMDB used as a queue: one env per log, one MDB_INTEGERKEY
 * DB per partition whose keys are the records' sequence numbers (uint64),
 * put with MDB_APPEND, one write transaction per produce call.  The value
 * is the record's value followed by its 16-byte key, so each record
 * carries the same bytes as in samsa.
 *
 *   lmdb       MDB_NOSYNC: a commit writes its pages with pwrite() but does
 *              not fsync: survives kill -9, not a power cut (as samsa);
 *   lmdb-sync  LMDB's default: fdatasync at every commit (as samsa-sync;
 *              LMDB has one writer at a time, so threads do not share
 *              syncs).
 *
 * LMDB has no way to wait for new data: a consumer that reaches the end
 * polls, renewing its read transaction, on its own CPU.
 */
#include "bench.h"
#include "systems.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define MAP_BYTES ((size_t)16 << 30)
#define MAX_PARTS 4

#define CHECK(call)                                                            \
    do {                                                                       \
        int rc_ = (call);                                                      \
        if (rc_ != 0)                                                          \
            bench_die("%s:%d: %s: %s", __FILE__, __LINE__, #call,              \
                      mdb_strerror(rc_));                                      \
    } while (0)

typedef struct llog {
    MDB_env *env;
    MDB_dbi dbi[MAX_PARTS];
    size_t vlen;
    char path[4200];
} llog;

typedef struct lcons {
    llog *l;
    int part;
    MDB_txn *txn;
    MDB_cursor *cur;
    size_t next; /* the sequence number it returns next                */
} lcons;

static void *
l_open(bench_sys *sys, const char *name, int parts, size_t vlen)
{
    unsigned flags = *(unsigned *)sys->cfg;
    llog *l = calloc(1, sizeof *l);
    MDB_txn *txn;
    BENCH_CHECK(l != NULL && parts <= MAX_PARTS, "lmdb: out of memory");
    char dir[160];
    snprintf(dir, sizeof dir, "%s-%s", sys->name, name);
    bench_path(l->path, sizeof l->path, dir);
    BENCH_CHECK(mkdir(l->path, 0755) == 0, "mkdir %s: %s", l->path,
                strerror(errno));
    l->vlen = vlen;
    CHECK(mdb_env_create(&l->env));
    CHECK(mdb_env_set_mapsize(l->env, MAP_BYTES));
    CHECK(mdb_env_set_maxdbs(l->env, MAX_PARTS));
    CHECK(mdb_env_open(l->env, l->path, flags, 0644));
    CHECK(mdb_txn_begin(l->env, NULL, 0, &txn));
    for (int i = 0; i < parts; i++) {
        char db[16];
        snprintf(db, sizeof db, "p%d", i);
        CHECK(mdb_dbi_open(txn, db, MDB_CREATE | MDB_INTEGERKEY, &l->dbi[i]));
    }
    CHECK(mdb_txn_commit(txn));
    return l;
}

static void
l_drop(void *log)
{
    llog *l = log;
    mdb_env_close(l->env);
    bench_rm_tree(l->path);
    free(l);
}

static void *
l_producer(void *log)
{
    return log;
}

static void
l_producer_close(void *prod)
{
    (void)prod;
}

static void
l_produce(void *prod, int part, unsigned char *const *keys,
          unsigned char *const *values, size_t n)
{
    llog *l = prod;
    unsigned char rec[BENCH_MAX_VALUE + BENCH_KEY_LEN];
    MDB_txn *txn;
    MDB_val k, v;
    size_t seq; /* MDB_INTEGERKEY: a native size_t */

    _Static_assert(sizeof(size_t) == 8, "64-bit size_t for uint64 keys");
    CHECK(mdb_txn_begin(l->env, NULL, 0, &txn));
    for (size_t i = 0; i < n; i++) {
        memcpy(rec, values[i], l->vlen);
        memcpy(rec + l->vlen, keys[i], BENCH_KEY_LEN);
        seq = bench_get_u64(keys[i]);
        k.mv_size = sizeof seq;
        k.mv_data = &seq;
        v.mv_size = l->vlen + BENCH_KEY_LEN;
        v.mv_data = rec;
        CHECK(mdb_put(txn, l->dbi[part], &k, &v, MDB_APPEND));
    }
    CHECK(mdb_txn_commit(txn));
}

static void *
l_consumer(void *log, int part)
{
    lcons *c = calloc(1, sizeof *c);
    BENCH_CHECK(c != NULL, "out of memory");
    c->l = log;
    c->part = part;
    CHECK(mdb_txn_begin(c->l->env, NULL, MDB_RDONLY, &c->txn));
    CHECK(mdb_cursor_open(c->txn, c->l->dbi[part], &c->cur));
    return c;
}

static int
l_next(void *cons, int wait, const unsigned char **key,
       const unsigned char **value, size_t *vlen)
{
    lcons *c = cons;
    MDB_val k, v;
    int rc =
        mdb_cursor_get(c->cur, &k, &v, c->next == 0 ? MDB_FIRST : MDB_NEXT);
    if (rc == MDB_NOTFOUND) {
        /* At the end of this snapshot: a fresh one may have more. */
        uint64_t deadline = wait ? bench_now_ns() + 10000000000u : 0;
        do {
            mdb_txn_reset(c->txn);
            CHECK(mdb_txn_renew(c->txn));
            CHECK(mdb_cursor_renew(c->txn, c->cur));
            k.mv_size = sizeof c->next;
            k.mv_data = &c->next;
            rc = mdb_cursor_get(c->cur, &k, &v, MDB_SET_KEY);
        } while (rc == MDB_NOTFOUND && bench_now_ns() < deadline);
        if (rc == MDB_NOTFOUND)
            return 0;
    }
    CHECK(rc);
    BENCH_CHECK(v.mv_size == c->l->vlen + BENCH_KEY_LEN,
                "lmdb: record of %zu bytes", v.mv_size);
    c->next++;
    *value = v.mv_data;
    *key = (const unsigned char *)v.mv_data + c->l->vlen;
    *vlen = c->l->vlen;
    return 1;
}

static void
l_consumer_close(void *cons)
{
    lcons *c = cons;
    mdb_cursor_close(c->cur);
    mdb_txn_abort(c->txn);
    free(c);
}

static unsigned nosync = MDB_NOSYNC, always = 0;

#define LMDB_SYS(name, durability, caps, slow, batch, cfg)                     \
    {                                                                          \
        name, durability, caps, slow, batch, cfg, NULL, NULL, l_open, l_drop,  \
            l_producer, l_produce, NULL, l_producer_close, l_consumer, l_next, \
            l_consumer_close                                                   \
    }

bench_sys bench_lmdb =
    LMDB_SYS("lmdb", "process",
             BENCH_CAN_PRODUCE | BENCH_CAN_READ | BENCH_CAN_LATENCY | BENCH_PIN,
             10, 1, &nosync);
bench_sys bench_lmdb_sync = LMDB_SYS(
    "lmdb-sync", "fsync", BENCH_CAN_PRODUCE | BENCH_CAN_LATENCY | BENCH_PIN,
    1000, 1000, &always);
