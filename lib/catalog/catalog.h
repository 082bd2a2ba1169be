/*
 * catalog.h - the store's LMDB catalog (catalog.c): topics, their configs,
 * and each partition's log start offset, recovery point and copies; and
 * consumer groups' committed offsets (catalog_group.c) and share-group
 * snapshots.
 *
 * One catalog per directory ("disk"): the primary and every replica
 * directory hold the same LMDB environment, so the store reopens from any
 * one of them.  Every write goes to every healthy disk through one helper,
 * catalog_write(), which runs a callback once per disk, each time in a
 * write transaction on that disk's environment.  A disk whose transaction
 * fails while another disk's commits is behind: it is marked down and gets
 * no more reads or writes until catalog_disk_rebuild() copies a healthy
 * disk over it.  When the transaction fails on every disk, nothing changed
 * anywhere: the error (SAMSA_ENOSPC for a full disk) is returned and no
 * disk is marked down, so the next write, once space is freed, works.
 *
 * Adding state of your own (as group offsets and queue snapshots do):
 *  - add your MDB_dbi to catalog_disk and open it in disk_open() (catalog.c),
 *    so that every disk has it;
 *  - write with catalog_write(c, fn, ctx): fn gets a catalog_txn, uses
 *    t->txn and t->d->your_dbi, and must do the same thing on every disk
 *    (decide what to write before the call, put results in ctx); a non-zero
 *    return on the first disk aborts everything and is returned;
 *  - read with catalog_read_begin()/catalog_read_end(), which pick a healthy
 *    disk (they all hold the same data);
 *  - store and read values with catalog__put()/catalog__get() and a tag of
 *    its own (catalog_mdb.h): every value carries a CRC that catalog_open
 *    checks, and add the database to each_value() (catalog.c).
 */
#ifndef SAMSA_CATALOG_H
#define SAMSA_CATALOG_H

#include <pthread.h>

#include "util/samsa_int.h"

typedef struct MDB_env MDB_env;
typedef struct MDB_txn MDB_txn;

#define CATALOG_MAX_DISKS 8 /* the primary and up to 7 replica dirs     */

typedef struct catalog_disk {
    MDB_env *env;      /* DIR/catalog, NULL while the disk is down          */
    unsigned meta;     /* MDB_dbi: format, id counter, generation, disk ids  */
    unsigned topics;   /* MDB_dbi: name -> topic record                    */
    unsigned parts;    /* MDB_dbi: (topic id, partition) -> state          */
    unsigned groups;   /* MDB_dbi: (topic id, partition, group) -> offset  */
    unsigned queues;   /* MDB_dbi: (group, topic id, partition) -> share
                          state snapshot (queue_state.c)                  */
    unsigned pending;  /* MDB_dbi: topic name -> partitions whose
                          directories samsa made and may have to remove  */
    uint64_t id;       /* this disk's identity, kept across rebuilds        */
    uint64_t reserved; /* bytes of data.mdb allocated ahead (disk_reserve) */
    char *path;        /* DIR/catalog                                      */
} catalog_disk;

typedef struct catalog {
    catalog_disk disk[CATALOG_MAX_DISKS]; /* in samsa_options order       */
    int ndisks;                           /* 1 + replica directories      */
    size_t map_bytes;                     /* LMDB map size of each        */
    pthread_mutex_t lock;     /* one write at a time, so every disk sees the
                                 same sequence of transactions              */
    pthread_rwlock_t readers; /* read transactions (read lock) against a
                                 rebuild closing an environment (write)  */
    _Atomic uint32_t down;    /* bit i: disk i gets no reads or writes      */
    bool nosync;              /* catalog_set_nosync(): MDB_NOSYNC on each */
    bool rdonly;              /* catalog_open_rdonly(): writes refused    */
} catalog;

/* A transaction on one disk, as catalog_write()'s callback gets it. */
typedef struct catalog_txn {
    MDB_txn *txn;          /* the LMDB transaction                        */
    const catalog_disk *d; /* its disk: the dbi handles                   */
    struct catalog *c;     /* the catalog                                 */
} catalog_txn;

typedef int (*catalog_write_fn)(catalog_txn *t, void *ctx);

/* A partition's state.  Copy i lives on the disk whose id is disk[i];
 * isr has bit i set while copy i holds every acknowledged record. */
typedef struct catalog_partition {
    int64_t start;          /* log start offset                             */
    int64_t recovery_point; /* offsets below are on stable storage          */
    int32_t leader_epoch;   /* bumped at every leader change                */
    uint32_t isr;           /* in-sync copies, one bit per copy             */
    int32_t leader;         /* the copy that takes the writes               */
    int32_t ncopies;        /* copies, 1..CATALOG_MAX_DISKS                 */
    uint64_t disk[CATALOG_MAX_DISKS]; /* disk id of each copy; 0: disk 0   */
    uint32_t flags; /* CATALOG_PART_*                               */
} catalog_partition;

/* catalog_partition.flags.  GAPS: its offsets may skip between batches
 * (an adopted Kafka log; a compacted topic), so a gap is no damage
 * (log_config.gaps).  Set once, for the partition's life: a dense
 * partition's gap stays SAMSA_ECORRUPT. */
#define CATALOG_PART_GAPS 0x1u

typedef int (*catalog_topic_fn)(const char *name, uint64_t id,
                                const samsa_topic_config *cfg, void *ctx);

/* Open the catalogs at paths[0..n) (n <= CATALOG_MAX_DISKS).  paths[0] must
 * open; another that cannot is marked down.  Disks that missed writes (a
 * lower generation) are rebuilt from the newest one. */
int catalog_open(catalog *c, const char *const *paths, int n, size_t map_bytes);
void catalog_close(catalog *c);
/* Open the catalog of paths[0] read-only (SAMSA_OPEN_RDONLY), beside the
 * writer's handle or with none: LMDB with MDB_RDONLY, so its only store
 * is its reader table in lock.mdb, shared memory.  The disk ids of
 * paths[1..n) are taken from its list (as the writer put it, in option
 * order); those disks stay down.  Every write gives SAMSA_ERDONLY.
 * SAMSA_ENOTSTORE when there is no catalog, SAMSA_EVERSION for another
 * format (an older one is upgraded by the writer's open only). */
int catalog_open_rdonly(catalog *c, const char *const *paths, int n,
                        size_t map_bytes);
/* Run fn on every healthy disk in a write transaction each (see above). */
int catalog_write(catalog *c, catalog_write_fn fn, void *ctx);
/* A read transaction on a healthy disk; SAMSA_EIO when none is.  Every
 * successful begin must be ended (it holds off catalog_disk_rebuild). */
int catalog_read_begin(catalog *c, catalog_txn *t);
void catalog_read_end(catalog_txn *t);
/* Heal the database of values tagged tag (catalog_mdb.h: TAG_GROUP,
 * TAG_QUEUE, ...) on every healthy disk where a value's CRC fails, from a
 * disk where every value checks (catalog.c, "healing").  0 when no value
 * fails any more; SAMSA_ECORRUPT when one still does (one disk, or none
 * clean), or the write's error. */
int catalog_heal(catalog *c, char tag);
/* Mark disk i down (its directory vanished). */
void catalog_disk_down(catalog *c, int i);
/* Copy a healthy disk's catalog over disk i (its directory came back) and
 * bring it back up. */
int catalog_disk_rebuild(catalog *c, int i);
/* The index of the disk with this id (0: disk 0), or -1. */
int catalog_disk_index(const catalog *c, uint64_t id);

/* Add a topic and its partition records (parts[0..cfg->partitions)) in one
 * transaction; *id gets its new id.  SAMSA_EEXIST when the name is taken. */
int catalog_topic_add(catalog *c, const char *name,
                      const samsa_topic_config *cfg,
                      const catalog_partition *parts, uint64_t *id);
/* Remove a topic and its partition records in one transaction. */
int catalog_topic_remove(catalog *c, const char *name);
/* Pending directories: a record naming a topic whose partition
 * directories NAME-first..NAME-(partitions-1) samsa made and that may
 * still be on some directory while no topic (first 0), or no such
 * partitions of the topic (first > 0: samsa_topic_add_partitions), exist:
 * written before a create or growth makes them (dropped by the commit that
 * adds them), and by the commit that removes a topic (first 0; dropped
 * once they are gone everywhere).  get gives partitions only.  list gives
 * firsts too.
 * It is the proof that lets samsa remove such a directory (topic.c).
 * put is durable; get gives SAMSA_ENOTOPIC when there is none; list gives
 * every name (malloc'ed array of malloc'ed names, *n of them) and its
 * partition count. */
int catalog_pending_put(catalog *c, const char *name, int32_t first,
                        int32_t partitions);
int catalog_pending_get(catalog *c, const char *name, int32_t *partitions);
int catalog_pending_del(catalog *c, const char *name);
int catalog_pending_list(catalog *c, char ***names, int32_t **firsts,
                         int32_t **partitions, size_t *n);
/* Call fn for every topic in name order; stops at fn's non-zero return. */
int catalog_topic_foreach(catalog *c, catalog_topic_fn fn, void *ctx);
int catalog_partition_get(catalog *c, uint64_t id, int32_t partition,
                          catalog_partition *out);
/* Write n partitions' state in one transaction.  _durable: synced even
 * under catalog_set_nosync() (a log start that must be on disk before
 * the files below it are unlinked). */
int catalog_partitions_put(catalog *c, uint64_t id, const int32_t *partitions,
                           const catalog_partition *state, size_t n);
int catalog_partitions_put_durable(catalog *c, uint64_t id,
                                   const int32_t *partitions,
                                   const catalog_partition *state, size_t n);
/* Rewrite topic name's config as cfg (its id kept) and, with parts, add
 * the records of partitions first..cfg->partitions-1 and drop the pending
 * record, in one durable transaction: the moment a topic's new config or
 * partitions take effect.  SAMSA_ENOTOPIC when there is no such topic. */
int catalog_topic_update(catalog *c, const char *name,
                         const samsa_topic_config *cfg, int32_t first,
                         const catalog_partition *parts);

/* Take n values of the meta counter key (starting at 0) in one durable
 * transaction: *first gets the first, and no later call (after a restart
 * or a crash too) gives any of first..first+n-1 again.  The Kafka
 * listener's producer ids ("next_producer_id").  SAMSA_EINVAL when the
 * counter would wrap; the catalog's write errors (SAMSA_ERDONLY, ...). */
int catalog_counter_take(catalog *c, const char *key, uint64_t n,
                         uint64_t *first);

/* LMDB's code as samsa's (MDB_NOTFOUND: SAMSA_ENOTOPIC). */
int catalog_from_mdb(int rc);

/* Check the LMDB file dir/data.mdb (catalog_check.c) before LMDB maps it:
 * 0 when it is absent (*held false) or whole (*held true), SAMSA_ECORRUPT
 * when any page LMDB would read is damaged, SAMSA_EIO or -errno when it
 * cannot be read.  Reads only: changes no file. */
int catalog_check_file(const char *dir, bool *held);

/* ---- fault injection (tests only) ----------------------------------------
 *
 * Every LMDB call of the catalog goes through a wrapper (catalog_mdb.h)
 * that asks catalog__fault_check() first.  A test sets the fields below
 * and then armed = 1: from then on, each LMDB call made by that thread is
 * counted in calls, and the calls numbered fail_at .. fail_at+fail_count-1
 * (1-based; fail_count 0 counts as 1) return error instead of running.
 * fail_at 0 only counts.  Not part of the library's API: a hidden symbol
 * the tests reach by linking libsamsa.a. */
typedef struct catalog_fault {
    _Atomic int armed; /* 0: off (the wrappers cost one load)            */
    pthread_t thread;  /* only this thread's calls count and fail        */
    long calls;        /* calls counted since armed                      */
    long fail_at;      /* the first call that fails; 0: none             */
    long fail_count;   /* how many fail from there; 0: 1                 */
    int error;         /* an MDB_* code or a positive errno              */
    bool writes_only;  /* only calls that write may fail (a full disk:
                          reads still work); all are counted          */
} catalog_fault;
extern catalog_fault catalog__fault;
/* 0, or the code the current LMDB call (write: one that writes) must
 * fail with. */
int catalog__fault_check(bool write);

/* ---- consumer groups (catalog_group.c) ----------------------------------- */

/* One partition's committed offset for a group. */
typedef struct catalog_group_offset {
    uint64_t topic_id; /* the topic's catalog id                          */
    int32_t partition; /* the partition                                   */
    int64_t offset;    /* the committed offset; get: -1 when none         */
} catalog_group_offset;

/* Commit without fsync from now on (the store does not sync): commits
 * are written through and survive kill -9; topic creation and removal
 * still sync. */
int catalog_set_nosync(catalog *c);
/* Write n offsets of group in one transaction, synced unless
 * catalog_set_nosync() was called. */
int catalog_group_commit(catalog *c, const char *group,
                         const catalog_group_offset *offs, size_t n);
/* Read n offsets of group in one read transaction (-1 where none). */
int catalog_group_get(catalog *c, const char *group, catalog_group_offset *offs,
                      size_t n);
/* The names of the consumer groups with committed offsets (share: of the
 * share groups with snapshots), sorted, each once: *names and its strings
 * malloc'ed, freed with catalog_names_free(). */
int catalog_group_list(catalog *c, bool share, char ***names, size_t *n);
void catalog_names_free(char **names, size_t n);
/* Add a copy of the len bytes at p to names[0..n) unless there already. */
int catalog_names_add(char ***names, size_t *n, const void *p, size_t len);
/* Delete every committed offset of group, on every directory. */
int catalog_group_delete(catalog *c, const char *group);
/* Delete every group's offsets of topic id, inside t (topic removal). */
int catalog_group_drop_topic(catalog_txn *t, uint64_t id);
/* Share-group state snapshots, opaque here (queue_state.c encodes them).
 * get: *buf gets a malloc'ed copy the caller frees, *len its size;
 * SAMSA_ENOTOPIC when there is none.  put: one synced transaction. */
int catalog_queue_get(catalog *c, const char *group, uint64_t topic_id,
                      int32_t partition, void **buf, size_t *len);
int catalog_queue_put(catalog *c, const char *group, uint64_t topic_id,
                      int32_t partition, const void *buf, size_t len);
/* Delete every snapshot whose topic id dead() says is gone, inside t
 * (topic removal); catalog_queue_drop_strays() in a write of its own, on
 * every disk, when a read finds any (stray snapshots, at open). */
typedef bool (*catalog_drop_fn)(uint64_t topic_id, void *ctx);
int catalog_queue_drop(catalog_txn *t, catalog_drop_fn dead, void *ctx);
int catalog_queue_drop_strays(catalog *c, catalog_drop_fn dead, void *ctx);
/* Delete every group offset whose topic id dead() says is gone, in a
 * write of its own when a read finds any (at open). */
int catalog_group_drop_strays(catalog *c, catalog_drop_fn dead, void *ctx);
/* A catalog_drop_fn: true for the one id *(uint64_t *)ctx. */
bool catalog_id_is(uint64_t topic_id, void *ctx);

#endif
