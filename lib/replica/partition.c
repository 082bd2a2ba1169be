/*
 * partition.c - a partition: its log and its copies (see partition.h).
 *
 * The order of a produce, and why: the copies are asked first whether
 * enough of them are in sync (acks=all and min_insync), so that a refused
 * produce writes nothing; the log then appends the batch stamped with the
 * leader epoch read under the log's lock, and its I/O table (the set's
 * mirror when there are copies) puts the same bytes into every in-sync
 * copy; finally the copies are asked again, since one may have left during
 * the append.
 */
#include <stdlib.h>

#include "partition.h"

int
partition_open(const replica_env *env, const char *topic, uint64_t topic_id,
               int32_t p, const catalog_partition *cp, const log_config *lc,
               bool create, samsa_partition **out)
{
    char dir[4096];
    samsa_partition *pt = calloc(1, sizeof *pt);
    if (pt == NULL)
        return SAMSA_ENOMEM;
    atomic_init(&pt->refs, 1);
    pt->saved_rp = cp->recovery_point;
    /* Whether offsets may skip is the partition's, not the topic's: its
     * catalog record says (catalog.h, CATALOG_PART_GAPS). */
    log_config plc = *lc;
    plc.gaps = (cp->flags & CATALOG_PART_GAPS) != 0;
    int rc =
        rset_open(env, topic, p, cp, &plc, create, &pt->rs, dir, sizeof dir);
    if (rc == 0)
        rc = log_open(rset_io(pt->rs), dir, &plc, cp->start, cp->recovery_point,
                      create, &pt->log);
    if (rc == 0) {
        pt->rs->log = pt->log;
        if (!create)
            rc = rset_persist(pt->rs, topic_id);
    }
    if (rc != 0) {
        partition_unref(pt);
        return rc;
    }
    *out = pt;
    return 0;
}

int
partition_open_follow(samsa_io *io, const char *dir,
                      const catalog_partition *cp, const log_config *lc,
                      samsa_partition **out)
{
    samsa_partition *pt = calloc(1, sizeof *pt);
    if (pt == NULL)
        return SAMSA_ENOMEM;
    atomic_init(&pt->refs, 1);
    pt->saved_rp = cp->recovery_point;
    log_config plc = *lc;
    plc.gaps = (cp->flags & CATALOG_PART_GAPS) != 0;
    int rc = log_open_follow(io, dir, &plc, cp->start, &pt->log);
    if (rc != 0) {
        free(pt);
        return rc;
    }
    *out = pt;
    return 0;
}

void
partition_ref(samsa_partition *pt)
{
    atomic_fetch_add_explicit(&pt->refs, 1, memory_order_relaxed);
}

void
partition_unref(samsa_partition *pt)
{
    if (pt == NULL ||
        atomic_fetch_sub_explicit(&pt->refs, 1, memory_order_acq_rel) != 1)
        return;
    log_unref(pt->log); /* closes its files through rs's table: first */
    rset_free(pt->rs);
    free(pt);
}

int
partition_append(samsa_partition *pt, uint8_t *batch, size_t len, int32_t count,
                 int64_t max_ts, int64_t *base)
{
    *base = -1;
    int rc = rset_admit(pt->rs);
    if (rc == 0 && (rc = log_append(pt->log, batch, len, count, max_ts,
                                    &pt->rs->epoch, base)) != 0)
        *base = -1; /* not stored */
    if (rc == 0)
        rc = rset_admit(pt->rs);
    return rc;
}

int
partition_flush(samsa_partition *pt, bool all, bool close, int64_t *rp)
{
    int rc = close ? log_close(pt->log, rp) : log_sync(pt->log, all, rp);
    /* acks=1 left the followers unsynced: sync them before the recovery
     * point that counts on them is saved. */
    if (rc == 0)
        rc = rset_flush(pt->rs);
    return rc;
}

void
partition_fill(samsa_partition *pt, int64_t rp, catalog_partition *cp)
{
    atomic_store(&pt->rs->start, atomic_load(&pt->log->start));
    atomic_store(&pt->rs->saved_rp, rp);
    rset_fill(pt->rs, cp);
}

int
partition_persist(samsa_partition *pt, uint64_t topic_id)
{
    return rset_persist(pt->rs, topic_id);
}

void
partition_mark_deleted(samsa_partition *pt)
{
    log_mark_deleted(pt->log);
}

int64_t
partition_start(const samsa_partition *pt)
{
    return atomic_load(&pt->log->start);
}

int64_t
partition_end(const samsa_partition *pt)
{
    /* Read-only: the writer's end now (no system call unless it moved). */
    if (pt->log->follow != NULL)
        (void)log_follow_refresh(pt->log, false);
    return atomic_load(&pt->log->end);
}

void
partition_stats(samsa_partition *pt, samsa_partition_stats *st)
{
    samsa_log *log = pt->log;
    uint64_t bytes = 0;
    if (log->follow != NULL)
        (void)log_follow_refresh(log, false);
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    size_t nsegs = log->nsegs, nopen = 0;
    for (size_t i = 0; i < nsegs; i++) {
        bytes += atomic_load(&log->segs[i]->size);
        nopen += segment_is_open(log->segs[i]); /* segcache.c */
    }
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    rset *rs = pt->rs;
    /* One copy: the log's files are its own (a segment's .log; the end
     * marker is mapped, its descriptor closed: log.c); several: the
     * mirror's handles with a descriptor, counted on every copy. */
    uint32_t open = (uint32_t)nopen;
    if (rs != NULL && rs->n > 1) {
        samsa__lock(&rs->lock, SAMSA_RANK_RSET);
        open = rset_io_open_files(rs);
        samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
    }
    st->segments = (uint32_t)nsegs;
    st->start = partition_start(pt);
    st->end = partition_end(pt);
    st->records = st->end - st->start;
    st->bytes = bytes;
    /* Read-only: the one copy it reads; the writer's view of the others
     * is its own. */
    st->copies = rs != NULL ? (uint32_t)rs->n : 1;
    st->insync = rs != NULL ? (uint32_t)atomic_load(&rs->ninsync) : 1;
    st->open_files = open;
    st->flags =
        (pt->log->cfg.gaps ? SAMSA_PARTITION_GAPS : 0) |
        (atomic_load(&pt->log->unclean) ? SAMSA_PARTITION_UNCLEANABLE : 0);
}
