/*
 * topic_alter.c - changing a topic: samsa_topic_alter() and
 * samsa_topic_add_partitions().
 *
 * Alter.  One durable catalog commit rewrites the topic's record (its id
 * kept): a crash leaves the old config or the new.  The live objects then
 * take the new values under the table lock held for writing, so no call
 * of the topic runs meanwhile: retention reads the topic's config at its
 * next pass, the logs take their new segment and batch sizes under their
 * own lock (log_reconfigure), the copies their acks and min_insync.  The
 * sync policy of a live log is not switched (its group commit and end
 * marker assume one policy while open): the new one applies from the next
 * samsa_open(), and samsa_topic_describe() reports it at once.
 *
 * Growth, as an atomic create (topic.c) for the new partitions only:
 * (1) no NAME-P of a new partition may be on a directory that is up
 * (SAMSA_EEXIST: samsa cannot prove it made it); (2) a pending record
 * naming NAME-first..NAME-(n-1) is committed durably; (3) the new
 * partitions are made, each with its empty first segment, and synced;
 * (4) one catalog commit rewrites the topic record with the new count,
 * adds the partition records and drops the pending record: the moment
 * the partitions exist.  A crash between (2) and (4) leaves a pending
 * record whose first is the topic's partition count: the next open
 * removes those directories (store.c, finish_pending) and the record.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store.h"

SAMSA_API int
samsa_topic_alter(samsa *s, const char *name, const samsa_topic_config *cfg)
{
    if (s == NULL || cfg == NULL || !topic_name_valid(name))
        return SAMSA_EINVAL;
    if (s->rdonly)
        return SAMSA_ERDONLY;
    samsa__wrlock(&s->table_lock, SAMSA_RANK_TABLE);
    topic *t = store_topic_find(s, name);
    int rc = t == NULL ? SAMSA_ENOTOPIC : 0;
    samsa_topic_config c;
    if (rc == 0) {
        c = t->cfg;
        if ((cfg->partitions != 0 && cfg->partitions != c.partitions) ||
            (cfg->replicas != 0 && cfg->replicas != c.replicas))
            rc = SAMSA_EINVAL;
#define TAKE(f)                                                                \
    if (cfg->f != 0)                                                           \
        c.f = cfg->f;
        TAKE(segment_bytes)
        TAKE(max_message_bytes)
        TAKE(index_interval_bytes)
        TAKE(sync)
        TAKE(min_insync)
        TAKE(acks)
        TAKE(retention_ms)
        TAKE(retention_bytes)
        TAKE(segment_ms)
        TAKE(compression)
        TAKE(compression_level)
        TAKE(timestamp_type)
        TAKE(cleanup_policy)
        TAKE(min_cleanable_dirty_ratio)
        TAKE(delete_retention_ms)
        TAKE(min_compaction_lag_ms)
#undef TAKE
        if (cfg->compression != 0 && cfg->compression_level == 0)
            c.compression_level = 0; /* a new codec: its default level */
    }
    samsa_topic_config checked;
    if (rc == 0)
        rc = topic_config_resolve(s, &c, &checked);
    if (rc == 0) /* the commit point */
        rc = catalog_topic_update(&s->cat, name, &checked, c.partitions, NULL);
    if (rc == 0) {
        t->cfg = c = checked;
        log_config lc = topic_log_config(s, &c);
        for (int32_t p = 0; p < c.partitions; p++) {
            samsa_partition *pt = t->parts[p];
            int lrc = log_reconfigure(pt->log, &lc);
            if (rc == 0)
                rc = lrc; /* the config is committed: the log reports */
            atomic_store(&pt->rs->acks_all, lc.acks_all);
            atomic_store(&pt->rs->min_insync, lc.min_insync);
        }
    }
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    return rc;
}

/* Step (1): SAMSA_EEXIST when NAME-P, first <= P < n, is on a directory
 * that is up. */
static int
new_dirs_clear(samsa *s, const char *name, int32_t first, int32_t n)
{
    char dir[4096];
    struct stat st;
    for (int d = 0; d < s->ndirs; d++)
        for (int32_t p = first; s->disk_up[d] && p < n; p++) {
            topic_part_dir(dir, sizeof dir, s->dirs[d], name, p);
            if (lstat(dir, &st) == 0)
                return SAMSA_EEXIST;
        }
    return 0;
}

SAMSA_API int
samsa_topic_add_partitions(samsa *s, const char *name, int32_t partitions)
{
    if (s == NULL || !topic_name_valid(name) || partitions < 1 ||
        partitions > SAMSA_MAX_PARTITIONS)
        return SAMSA_EINVAL;
    if (s->rdonly)
        return SAMSA_ERDONLY;
    samsa__wrlock(&s->table_lock, SAMSA_RANK_TABLE);
    topic *t = store_topic_find(s, name);
    int rc = t == NULL ? SAMSA_ENOTOPIC : 0;
    int32_t first = t != NULL ? t->cfg.partitions : 0;
    if (rc == 0 && partitions <= first)
        rc = SAMSA_EINVAL;
    if (rc == 0)
        rc = new_dirs_clear(s, name, first, partitions);
    samsa_partition **parts = NULL, **grown = NULL;
    catalog_partition *cps = NULL;
    size_t add = rc == 0 ? (size_t)(partitions - first) : 0;
    if (rc == 0 && ((parts = calloc(add, sizeof *parts)) == NULL ||
                    (cps = calloc(add, sizeof *cps)) == NULL))
        rc = SAMSA_ENOMEM;
    bool made = false; /* the pending record is written: undo by it */
    if (rc == 0)
        made =
            (rc = catalog_pending_put(&s->cat, name, first, partitions)) == 0;
    samsa_topic_config c = rc == 0 ? t->cfg : (samsa_topic_config){0};
    c.partitions = partitions;
    log_config lc = rc == 0 ? topic_log_config(s, &t->cfg) : (log_config){0};
    for (size_t i = 0; rc == 0 && i < add; i++) {
        int32_t p = first + (int32_t)i;
        topic_placement(s, t, p, &cps[i]);
        rc = partition_open(&s->renv, name, t->id, p, &cps[i], &lc, true,
                            &parts[i]);
    }
    for (int d = 0; rc == 0 && d < s->ndirs; d++)
        if (s->disk_up[d])
            rc = samsa__from_errno(s->io->dirsync(s->io, s->dirs[d]));
    for (size_t i = 0; rc == 0 && i < add; i++)
        partition_fill(parts[i], 0, &cps[i]);
    if (rc == 0 &&
        (grown = realloc(t->parts, (size_t)partitions * sizeof *grown)) == NULL)
        rc = SAMSA_ENOMEM;
    if (grown != NULL)
        t->parts = grown; /* bigger either way; the count says what is used */
    if (rc == 0)          /* the commit point */
        rc = catalog_topic_update(&s->cat, name, &c, first, cps);
    if (rc == 0) {
        for (size_t i = 0; i < add; i++) {
            (void)partition_persist(parts[i], t->id);
            t->parts[first + (int32_t)i] = parts[i];
        }
        t->cfg.partitions = partitions;
        atomic_fetch_add(&s->topic_changes, 1);
    } else {
        for (size_t i = 0; parts != NULL && i < add; i++)
            partition_unref(parts[i]);
        if (made)
            topic_pending_finish(s, name, first, partitions, NULL);
    }
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    free(parts);
    free(cps);
    if (rc == 0)
        store_notify(s); /* pollers of the topic may take the new ones */
    return rc;
}
