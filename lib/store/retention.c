/*
 * retention.c - deleting old records: retention (Kafka's
 * cleanup.policy=delete) and samsa_delete_records().
 *
 * What goes.  A topic's retention_ms removes a sealed segment once its
 * newest record's timestamp is older than now minus retention_ms;
 * retention_bytes removes the oldest sealed segments while what is left
 * of the partition is still at least retention_bytes (Kafka's rule: the
 * partition never drops below the bound); segment_ms rolls the active
 * segment once its first batch is older than that, so that time retention
 * reaches a partition that stopped receiving.  Whole segments only, oldest
 * first, never the active segment: the log start moves to the base of the
 * first segment kept (log_retention_point, log.c).  samsa_delete_records()
 * moves the start to any offset up to the end; the segments wholly below it
 * go, and records below it in the segment that holds it stay on disk,
 * unseen, until retention or a later deletion takes that segment.
 *
 * The order, and why it is crash safe.  (1) The new start is committed to
 * the catalog (the partition record's start, synced whatever the sync
 * policy); (2) the log publishes it (log_advance_start): every reader's
 * next call sees it at once, cursors below it get SAMSA_EOFFSET;
 * (3) the whole segments below it are unlinked on every in-sync copy
 * (log_delete_before, through the copies' I/O table).  A crash after (1)
 * leaves files below the committed start: log_open removes them before
 * reading anything (log.c, "Deleting").  A crash before (1) changed
 * nothing.  A failed commit changes nothing either: the start is published
 * only once it is on disk.
 *
 * Who runs it.  The flusher thread, after each flush (store.c), runs
 * store_retention_pass() over every topic with a retention setting; tests
 * run it with samsa__retention_run() and set the clock it reads with
 * samsa__wall_ms_set() (clock.c).  Every start change runs under the
 * store's save_lock, as recovery point saves do, so that a save never
 * writes an older start back over a newer one, then the table lock held
 * for reading.
 */
#include <stdlib.h>

#include "store.h"

/* The config struct callers allocate keeps its size across versions: the
 * retention fields came out of the reserved tail. */
_Static_assert(sizeof(samsa_topic_config) == 96,
               "samsa_topic_config changed size: the ABI would break");

/* Move partition p's start to before (steps 1-3 above); save_lock and
 * the table lock held.  A start at or below the current one is a no-op. */
static int
set_start(samsa *s, topic *t, int32_t p, int64_t before)
{
    samsa_partition *pt = t->parts[p];
    if (before <= partition_start(pt))
        return 0;
    int64_t old = atomic_load(&pt->rs->start);
    catalog_partition cp;
    atomic_store(&pt->rs->start, before);
    rset_fill(pt->rs, &cp);
    int rc = catalog_partitions_put_durable(&s->cat, t->id, &p, &cp, 1);
    if (rc != 0) { /* nothing published: readers never saw it */
        atomic_store(&pt->rs->start, old);
        return rc;
    }
    log_advance_start(pt->log, before);
    (void)log_delete_before(pt->log);
    return 0;
}

/* Apply t's retention to each of its partitions; the first error. */
static int
topic_retention(samsa *s, topic *t, int64_t now)
{
    const samsa_topic_config *c = &t->cfg;
    int first = 0;
    for (int32_t p = 0; p < c->partitions; p++) {
        samsa_log *log = t->parts[p]->log;
        int rc = 0;
        if (c->segment_ms > 0)
            rc = log_roll_older(log, now - c->segment_ms);
        int64_t min_ts =
            c->retention_ms > 0 ? now - c->retention_ms : INT64_MIN;
        int64_t point = log_retention_point(log, min_ts, c->retention_bytes);
        if (rc == 0)
            rc = set_start(s, t, p, point);
        if (first == 0)
            first = rc;
    }
    return first;
}

int
store_retention_pass(samsa *s)
{
    int64_t now = samsa__wall_ms();
    int first = 0;
    samsa__lock(&s->save_lock, SAMSA_RANK_SAVE);
    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    for (size_t b = 0; b < s->nbuckets; b++)
        for (topic *t = s->buckets[b]; t != NULL; t = t->next) {
            const samsa_topic_config *c = &t->cfg;
            /* Retention is the delete policy's (Kafka: compact alone
             * keeps every key's latest record for ever). */
            if ((c->retention_ms == 0 && c->retention_bytes == 0 &&
                 c->segment_ms == 0) ||
                !(c->cleanup_policy & SAMSA_CLEANUP_DELETE))
                continue;
            int rc = topic_retention(s, t, now);
            if (first == 0)
                first = rc;
        }
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    int rc = store_cleaner_pass(s); /* compact topics: cleaner.c */
    if (first == 0)
        first = rc;
    samsa__unlock(&s->save_lock, SAMSA_RANK_SAVE);
    return first;
}

int
samsa__retention_run(samsa *s)
{
    return store_retention_pass(s);
}

SAMSA_API int
samsa_delete_records(samsa *s, const char *topic_name, int32_t partition,
                     int64_t before)
{
    if (s == NULL || before < 0)
        return SAMSA_EINVAL;
    if (s->rdonly)
        return SAMSA_ERDONLY;
    samsa__lock(&s->save_lock, SAMSA_RANK_SAVE);
    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    topic *t;
    int rc = topic_lookup(s, topic_name, partition, false, &t);
    if (rc == 0 && before > partition_end(t->parts[partition]))
        rc = SAMSA_EOFFSET;
    if (rc == 0)
        rc = set_start(s, t, partition, before);
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    samsa__unlock(&s->save_lock, SAMSA_RANK_SAVE);
    if (rc == 0)
        store_notify(s); /* share groups may skip what went */
    return rc;
}
