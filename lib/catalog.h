/*
 * catalog.h - the store's LMDB catalog (catalog.c): topics, their configs,
 * and each partition's log start offset, recovery point and copies.
 *
 * One catalog per directory ("disk"): the primary and every replica
 * directory hold the same LMDB environment, so the store reopens from any
 * one of them.  Every write goes to every healthy disk through one helper,
 * catalog_write(), which runs a callback once per disk, each time in a
 * write transaction on that disk's environment.  A disk whose transaction
 * fails is marked down and gets no more reads or writes until
 * catalog_disk_rebuild() copies a healthy disk over it.
 *
 * Adding state of your own (group offsets, queue state, ...):
 *  - add your MDB_dbi to catalog_disk and open it in disk_open() (catalog.c),
 *    so that every disk has it;
 *  - write with catalog_write(c, fn, ctx): fn gets a catalog_txn, uses
 *    t->txn and t->d->your_dbi, and must do the same thing on every disk
 *    (decide what to write before the call, put results in ctx); a non-zero
 *    return on the first disk aborts everything and is returned;
 *  - read with catalog_read_begin()/catalog_read_end(), which pick a healthy
 *    disk (they all hold the same data).
 */
#ifndef SAMSA_CATALOG_H
#define SAMSA_CATALOG_H

#include <pthread.h>

#include "samsa_int.h"

typedef struct MDB_env MDB_env;
typedef struct MDB_txn MDB_txn;

#define CATALOG_MAX_DISKS 8 /* the primary and up to 7 replica dirs     */

typedef struct catalog_disk {
    MDB_env *env;    /* DIR/catalog, NULL while the disk is down          */
    unsigned meta;   /* MDB_dbi: format, id counter, generation, disk ids  */
    unsigned topics; /* MDB_dbi: name -> topic record                    */
    unsigned parts;  /* MDB_dbi: (topic id, partition) -> state          */
    uint64_t id;     /* this disk's identity, kept across rebuilds        */
    char *path;      /* DIR/catalog                                      */
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
} catalog_partition;

typedef int (*catalog_topic_fn)(const char *name, uint64_t id,
                                const samsa_topic_config *cfg, void *ctx);

/* Open the catalogs at paths[0..n) (n <= CATALOG_MAX_DISKS).  paths[0] must
 * open; another that cannot is marked down.  Disks that missed writes (a
 * lower generation) are rebuilt from the newest one. */
int catalog_open(catalog *c, const char *const *paths, int n, size_t map_bytes);
void catalog_close(catalog *c);
/* Run fn on every healthy disk in a write transaction each (see above). */
int catalog_write(catalog *c, catalog_write_fn fn, void *ctx);
/* A read transaction on a healthy disk; SAMSA_EIO when none is.  Every
 * successful begin must be ended (it holds off catalog_disk_rebuild). */
int catalog_read_begin(catalog *c, catalog_txn *t);
void catalog_read_end(catalog_txn *t);
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
/* Call fn for every topic in name order; stops at fn's non-zero return. */
int catalog_topic_foreach(catalog *c, catalog_topic_fn fn, void *ctx);
int catalog_partition_get(catalog *c, uint64_t id, int32_t partition,
                          catalog_partition *out);
/* Write n partitions' state in one transaction. */
int catalog_partitions_put(catalog *c, uint64_t id, const int32_t *partitions,
                           const catalog_partition *state, size_t n);

#endif
