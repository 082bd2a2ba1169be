/*
 * cleaner.c - when and what to compact: Kafka's cleanup.policy=compact
 * for the topics that ask for it (the rewriting itself is storage's,
 * storage/compact.c).
 *
 * Who runs it.  The flusher's retention pass (retention.c), after
 * retention, every topic whose cleanup_policy has SAMSA_CLEANUP_COMPACT;
 * tests run it with samsa__compact_run() and the clock of clock.c
 * (samsa__wall_ms_set()).  It runs under the store's save_lock, as
 * retention does, so that retention, samsa_delete_records() and the
 * cleaner never change one log's segment array at once; under the
 * repair_lock, so that no scrub or catch-up (disks.c) reads a sealed
 * segment's copies while a swap has renamed one and not yet the other
 * (they take sealed segments to be immutable); and under the table lock
 * held for reading, so that no topic is deleted or altered under it.
 * Producers and readers go on: the cleaning takes the log's lock only to
 * list the segments and to swap one in.
 *
 * Which partitions.  Those whose cleanable part (the sealed segments up
 * to the first whose newest record is younger than min_compaction_lag_ms:
 * log_clean_range) holds dirty bytes (written since the last pass that
 * cleaned it, samsa_log.cleaned, in memory: after a restart the whole log
 * counts as dirty once) at least min_cleanable_dirty_ratio of it.
 *
 * Durable first.  A cleaning removes records that later records of
 * their keys replace, and each swap is synced: its removals are durable
 * at once.  Without the sync policy the records that replace them may
 * not be yet (the flusher syncs sealed segments about once a second): a
 * power cut after the swap would take them, and their keys would read
 * as never written, though older records of them were durable.  So the
 * sealed segments, the whole range a cleaning reads, are synced first
 * (on every copy), as the flusher would (the recovery point it saves
 * next moves with them).
 *
 * Gaps.  Before the first cleaning of a partition whose catalog record
 * does not yet say that its offsets may skip (a topic altered to compact:
 * those created compacted have it from the start, topic.c), the flag is
 * committed durably and then set in the log, so that no reader and no
 * reopen ever meets a gap in a partition that says it has none.
 */
#include "store.h"

/* Make sure partition p of t says it has gaps (see "Gaps"). */
static int
ensure_gaps(samsa *s, topic *t, int32_t p)
{
    samsa_partition *pt = t->parts[p];
    if (pt->log->cfg.gaps)
        return 0;
    catalog_partition cp;
    pt->rs->gaps = true;
    rset_fill(pt->rs, &cp);
    int rc = catalog_partitions_put_durable(&s->cat, t->id, &p, &cp, 1);
    if (rc != 0) {
        pt->rs->gaps = false;
        return rc;
    }
    samsa__lock(&pt->log->lock, SAMSA_RANK_LOG);
    pt->log->cfg.gaps = true; /* the segments it makes from now on too */
    samsa__unlock(&pt->log->lock, SAMSA_RANK_LOG);
    return 0;
}

/* Clean partition p of t if its dirty part is large enough. */
static int
clean_partition(samsa *s, topic *t, int32_t p, int64_t now, int64_t *removed)
{
    const samsa_topic_config *c = &t->cfg;
    samsa_log *log = t->parts[p]->log;
    int64_t max_ts = c->min_compaction_lag_ms > 0
                         ? now - c->min_compaction_lag_ms
                         : INT64_MAX;
    int64_t upto, gone = 0;
    uint64_t dirty, total;
    log_clean_range(log, max_ts, &upto, &dirty, &total);
    double ratio = c->min_cleanable_dirty_ratio > 0
                       ? (double)c->min_cleanable_dirty_ratio
                       : 0.0;           /* -1: any dirty byte */
    bool due = log_clean_due(log, now); /* a tombstone's time is up */
    if (!due && (dirty == 0 || (double)dirty < ratio * (double)total))
        return 0;
    int rc = ensure_gaps(s, t, p);
    int64_t rp;
    if (rc == 0) /* see "Durable first" */
        rc = partition_flush(t->parts[p], false, false, &rp);
    if (rc == 0)
        rc = log_clean(log, upto, now, c->delete_retention_ms, &gone);
    *removed += gone;
    return rc;
}

/* Every compacted topic once (save_lock and the table lock held). */
static int
clean_all(samsa *s, int64_t now, int64_t *removed)
{
    int first = 0;
    for (size_t b = 0; b < s->nbuckets; b++)
        for (topic *t = s->buckets[b]; t != NULL; t = t->next) {
            if (!(t->cfg.cleanup_policy & SAMSA_CLEANUP_COMPACT))
                continue;
            for (int32_t p = 0; p < t->cfg.partitions; p++) {
                int rc = clean_partition(s, t, p, now, removed);
                if (first == 0)
                    first = rc;
            }
        }
    return first;
}

/* Tests: the flusher's passes leave the cleaning to the test's calls. */
static _Atomic bool background_off;

void
samsa__cleaner_background(bool on)
{
    atomic_store(&background_off, !on);
}

/* One pass with the locks of "Who runs it" (save_lock held). */
static int
clean_locked(samsa *s, int64_t *removed)
{
    samsa__lock(&s->repair_lock, SAMSA_RANK_REPAIR);
    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    int rc = clean_all(s, samsa__wall_ms(), removed);
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    samsa__unlock(&s->repair_lock, SAMSA_RANK_REPAIR);
    if (*removed > 0)
        store_notify(s); /* share groups may skip what went */
    return rc;
}

int
store_cleaner_pass(samsa *s)
{
    int64_t removed = 0;
    if (atomic_load(&background_off))
        return 0;
    return clean_locked(s, &removed);
}

int
samsa__compact_run(samsa *s, int64_t *removed)
{
    int64_t gone = 0;
    samsa__lock(&s->save_lock, SAMSA_RANK_SAVE);
    int rc = clean_locked(s, &gone);
    samsa__unlock(&s->save_lock, SAMSA_RANK_SAVE);
    if (removed != NULL)
        *removed = gone;
    return rc;
}
