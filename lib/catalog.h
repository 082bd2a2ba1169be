/*
 * catalog.h - the store's LMDB catalog (catalog.c): topics, their configs,
 * and each partition's log start offset and recovery point; and consumer
 * groups' committed offsets (catalog_group.c).
 */
#ifndef SAMSA_CATALOG_H
#define SAMSA_CATALOG_H

#include "samsa_int.h"

typedef struct MDB_env MDB_env;
typedef struct MDB_txn MDB_txn;

typedef struct catalog {
    MDB_env *env;    /* DIR/catalog                                      */
    unsigned meta;   /* MDB_dbi: format version, id counter              */
    unsigned topics; /* MDB_dbi: name -> topic record                    */
    unsigned parts;  /* MDB_dbi: (topic id, partition) -> state          */
    unsigned groups; /* MDB_dbi: (topic id, partition, group) -> offset  */
    unsigned queues; /* MDB_dbi: (group, topic id, partition) -> share
                        state snapshot (queue_state.c)                  */
} catalog;

typedef struct catalog_partition {
    int64_t start;          /* log start offset                             */
    int64_t recovery_point; /* offsets below are on stable storage          */
} catalog_partition;

typedef int (*catalog_topic_fn)(const char *name, uint64_t id,
                                const samsa_topic_config *cfg, void *ctx);

int catalog_open(catalog *c, const char *path, size_t map_bytes);
void catalog_close(catalog *c);
/* Add a topic and its partition records (start 0) in one transaction;
 * *id gets its new id.  SAMSA_EEXIST when the name is taken. */
int catalog_topic_add(catalog *c, const char *name,
                      const samsa_topic_config *cfg, uint64_t *id);
/* Remove a topic and its partition records in one transaction. */
int catalog_topic_remove(catalog *c, const char *name);
/* Call fn for every topic in name order; stops at fn's non-zero return. */
int catalog_topic_foreach(catalog *c, catalog_topic_fn fn, void *ctx);
int catalog_partition_get(catalog *c, uint64_t id, int32_t partition,
                          catalog_partition *out);
/* Write n partitions' state in one transaction. */
int catalog_partitions_put(catalog *c, uint64_t id, const int32_t *partitions,
                           const catalog_partition *state, size_t n);

/* LMDB's code as samsa's (MDB_NOTFOUND: SAMSA_ENOTOPIC). */
int catalog_from_mdb(int rc);

/* ---- consumer groups (catalog_group.c) ----------------------------------- */

/* One partition's committed offset for a group. */
typedef struct catalog_group_offset {
    uint64_t topic_id; /* the topic's catalog id                          */
    int32_t partition; /* the partition                                   */
    int64_t offset;    /* the committed offset; get: -1 when none         */
} catalog_group_offset;

/* Commit without fsync from now on (the store does not sync): commits
 * are written through and survive kill -9; topic creation and removal
 * still sync (catalog_durable). */
int catalog_set_nosync(catalog *c);
/* After a commit that must be durable whatever the above: fsync. */
int catalog_durable(catalog *c);
/* Write n offsets of group in one transaction, synced unless
 * catalog_set_nosync() was called. */
int catalog_group_commit(catalog *c, const char *group,
                         const catalog_group_offset *offs, size_t n);
/* Read n offsets of group in one read transaction (-1 where none). */
int catalog_group_get(catalog *c, const char *group, catalog_group_offset *offs,
                      size_t n);
/* Delete every group's offsets of topic id, inside txn (topic removal). */
int catalog_group_drop_topic(catalog *c, MDB_txn *txn, uint64_t id);
/* Share-group state snapshots, opaque here (queue_state.c encodes them).
 * get: *buf gets a malloc'ed copy the caller frees, *len its size;
 * SAMSA_ENOTOPIC when there is none.  put: one synced transaction. */
int catalog_queue_get(catalog *c, const char *group, uint64_t topic_id,
                      int32_t partition, void **buf, size_t *len);
int catalog_queue_put(catalog *c, const char *group, uint64_t topic_id,
                      int32_t partition, const void *buf, size_t len);
/* Delete every snapshot whose topic id dead() says is gone: inside txn
 * (topic removal), or in a transaction of its own when txn is NULL
 * (stray snapshots, at open). */
typedef bool (*catalog_drop_fn)(uint64_t topic_id, void *ctx);
int catalog_queue_drop(catalog *c, MDB_txn *txn, catalog_drop_fn dead,
                       void *ctx);
/* A catalog_drop_fn: true for the one id *(uint64_t *)ctx. */
bool catalog_id_is(uint64_t topic_id, void *ctx);

#endif
