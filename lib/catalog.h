/*
 * catalog.h - the store's LMDB catalog (catalog.c): topics, their configs,
 * and each partition's log start offset and recovery point.
 */
#ifndef SAMSA_CATALOG_H
#define SAMSA_CATALOG_H

#include "samsa_int.h"

typedef struct MDB_env MDB_env;

typedef struct catalog {
    MDB_env *env;    /* DIR/catalog                                      */
    unsigned meta;   /* MDB_dbi: format version, id counter              */
    unsigned topics; /* MDB_dbi: name -> topic record                    */
    unsigned parts;  /* MDB_dbi: (topic id, partition) -> state          */
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

/* Share-group state snapshots, opaque here (queue_state.c encodes them).
 * get: *buf gets a malloc'ed copy the caller frees, *len its size;
 * SAMSA_ENOTOPIC when there is none.  put: one synced transaction. */
int catalog_queue_get(catalog *c, const char *group, uint64_t topic_id,
                      int32_t partition, void **buf, size_t *len);
int catalog_queue_put(catalog *c, const char *group, uint64_t topic_id,
                      int32_t partition, const void *buf, size_t len);

#endif
