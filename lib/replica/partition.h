/*
 * partition.h - one partition of a topic: its log and the set of its
 * copies, as one object (partition.c).
 *
 * Everything above the replica layer (produce, cursors, consumer groups,
 * share groups, the store's topic table) talks to a partition, never to
 * the replica set inside it: a produce is partition_append(), a reader
 * holds a partition reference and reads its log through the storage API.
 * Only the store's disk code (store/disks.c: failover, catch-up, scrub)
 * reaches the copies, through partition->rs.
 *
 * Lifetime.  The topic holds one reference, each cursor and share-group
 * partition one more; a deleted topic's partitions live on until their
 * last reader lets go.  The last reference frees the log first and the
 * replica set after it, because the log's files are closed through the
 * set's mirroring I/O table (replica_io.c).
 */
#ifndef SAMSA_PARTITION_H
#define SAMSA_PARTITION_H

#include "replica.h"

typedef struct samsa_partition {
    samsa_log *log;   /* its log (the leader's files); the partition's own
                         reference                                      */
    rset *rs;         /* its copies; freed after the log (see above);
                         NULL on a read-only handle                     */
    int64_t saved_rp; /* the recovery point in the catalog: written under
                         the store's save_lock with its table lock, or at
                         close                                         */
    _Atomic int refs; /* the topic's, plus one per reader               */
} samsa_partition;

/* Open (create: make) partition p of a topic from its catalog record cp:
 * the set of copies first (at load, reconciled: leader picked, stale
 * copies out), then the log on the leader's directory.  At load the
 * copies' state is saved in the catalog under topic_id. */
int partition_open(const replica_env *env, const char *topic, uint64_t topic_id,
                   int32_t p, const catalog_partition *cp, const log_config *lc,
                   bool create, samsa_partition **out);
/* Open a partition read-only (SAMSA_OPEN_RDONLY) from the copy in dir:
 * its log follows the writer's (log_follow.c); it has no replica set
 * (rs NULL). */
int partition_open_follow(samsa_io *io, const char *dir,
                          const catalog_partition *cp, const log_config *lc,
                          samsa_partition **out);
void partition_ref(samsa_partition *pt);
/* Drop a reference; the last frees the log, then the copies (NULL: no-op). */
void partition_unref(samsa_partition *pt);

/* Append one encoded batch of count records (Kafka's appendAsLeader): the
 * batch is stamped with the current leader epoch; *base gets its first
 * offset once it is stored, else -1.  SAMSA_ENOTENOUGHREPLICAS before the
 * append when too few copies are in sync for acks=all (*base -1), or
 * after it (stored: Kafka's NOT_ENOUGH_REPLICAS_AFTER_APPEND, *base set). */
int partition_append(samsa_partition *pt, uint8_t *batch, size_t len,
                     int32_t count, int64_t max_ts, int64_t *base);
/* Sync (close: seal and sync) the log, all: the active segment too, then
 * the followers acks=1 left unsynced; *rp gets the new recovery point. */
int partition_flush(samsa_partition *pt, bool all, bool close, int64_t *rp);
/* The catalog record of the partition with recovery point rp (the copies'
 * state and the log start ride along). */
void partition_fill(samsa_partition *pt, int64_t rp, catalog_partition *cp);
/* Save the copies' state in the catalog under topic_id if it changed. */
int partition_persist(samsa_partition *pt, uint64_t topic_id);
/* The topic was deleted: wake and turn away every reader. */
void partition_mark_deleted(samsa_partition *pt);
/* The figures of samsa_partition_stats but the names (topic, partition):
 * the log's lock and then the copies' are taken, one after the other. */
void partition_stats(samsa_partition *pt, samsa_partition_stats *st);
/* The log start and end offsets, as readers see them. */
int64_t partition_start(const samsa_partition *pt);
int64_t partition_end(const samsa_partition *pt);

#endif
