/*
 * topic.c - topics: names, configs, create and delete.
 *
 * samsa deletes only what it can prove it made.  A partition directory is
 * removed only while the catalog names it: as a partition of a topic (a
 * copy caught up from scratch), or through a pending record
 * (catalog_pending_put: topic name -> partitions), which is committed
 * before a create makes its first directory and by the commit that
 * removes a topic.  A directory that merely looks like a partition's
 * (NAME-DIGITS) and that no record names is left alone, and a create that
 * finds one in its way fails with SAMSA_EEXIST before touching anything.
 * Inside a directory a record names, only the files samsa made go
 * (log_dir.c): anything else stays, and with it the directory and the
 * record, so each open and each create of the name tries again; such a
 * create fails with SAMSA_EEXIST, having changed nothing, until what is
 * left is moved away.
 *
 * Atomic create.  (1) No NAME-P may exist on a directory that is up (after
 * the leftovers a pending record of the same name proves were removed);
 * (2) the pending record is committed, durably; (3) the partition
 * directories, each with an empty first segment, are made and synced;
 * (4) the catalog commit that adds the topic, and drops the pending record
 * in the same transaction, is the moment the topic exists.  A crash
 * between (2) and (4) leaves directories only the pending record names:
 * the next open removes them (store.c), and drops the record.
 *
 * Atomic delete.  The catalog commit comes first and is the moment the topic
 * stops existing; it writes the pending record; the directories are removed
 * after it, and the record dropped once they are gone from every directory.
 * A crash in between, or a directory down, leaves the record, and the next
 * open (or a create of the same name) finishes the removal.
 * The same commit drops the groups' committed offsets and the share
 * groups' snapshots of the topic; the share groups' journal files go after
 * it (queue_topic_deleted), or, after a crash, at the next open.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "storage/codec.h"
#include "store.h"

#define DEFAULT_SEGMENT_BYTES       (1ll << 30)
#define DEFAULT_DIRTY_RATIO         0.5f /* Kafka's defaults */
#define DEFAULT_DELETE_RETENTION_MS 86400000
#define DEFAULT_MAX_MESSAGE_BYTES   1048588 /* Kafka's max.message.bytes */
#define DEFAULT_INDEX_INTERVAL      4096    /* Kafka's index.interval.bytes */

/* Kafka's legal characters: [a-zA-Z0-9._-]. */
static bool
topic_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* Every produce call checks its topic name (as opens do), so this is one
 * pass with a comparison a byte: strspn() built its 256-byte table on each
 * call, a fifth of the instructions of a one-record produce. */
bool
topic_name_valid(const char *name)
{
    if (name == NULL)
        return false;
    size_t n = 0;
    for (; name[n] != '\0'; n++)
        if (n == SAMSA_MAX_TOPIC_NAME || !topic_name_char(name[n]))
            return false;
    return n > 0 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* Fill in the defaults of cfg (NULL: all defaults) and check the ranges. */
bool
topic_cleanup_valid(const samsa_topic_config *c)
{
    float r = c->min_cleanable_dirty_ratio;
    /* r == r: a NaN compares false with everything, so it fails both. */
    return c->cleanup_policy >= SAMSA_CLEANUP_DELETE &&
           c->cleanup_policy <= SAMSA_CLEANUP_COMPACT_DELETE &&
           (r == -1 || (r == r && r > 0 && r <= 1)) &&
           (c->delete_retention_ms == -1 || c->delete_retention_ms > 0) &&
           c->min_compaction_lag_ms >= 0;
}

int
topic_config_resolve(const samsa *s, const samsa_topic_config *in,
                     samsa_topic_config *out)
{
    static const samsa_topic_config zero;
    *out = in != NULL ? *in : zero;
    if (out->partitions == 0)
        out->partitions = 1;
    if (out->replicas == 0)
        out->replicas = 1;
    if (out->segment_bytes == 0)
        out->segment_bytes = DEFAULT_SEGMENT_BYTES;
    if (out->max_message_bytes == 0)
        out->max_message_bytes = DEFAULT_MAX_MESSAGE_BYTES;
    if (out->index_interval_bytes == 0)
        out->index_interval_bytes = DEFAULT_INDEX_INTERVAL;
    if (out->min_insync == 0)
        out->min_insync = 1;
    if (out->acks == 0)
        out->acks = SAMSA_ACKS_ALL;
    /* -1 is Kafka's "no limit" for these; samsa stores it as 0, so that
     * samsa_topic_alter() (where 0 keeps a field) can lift a limit. */
    if (out->retention_ms == -1)
        out->retention_ms = 0;
    if (out->retention_bytes == -1)
        out->retention_bytes = 0;
    if (out->segment_ms == -1)
        out->segment_ms = 0;
    if (out->compression == -1)
        out->compression = SAMSA_COMPRESSION_NONE;
    if (out->timestamp_type == -1)
        out->timestamp_type = SAMSA_TIMESTAMP_CREATE_TIME;
    if (out->cleanup_policy == 0)
        out->cleanup_policy = SAMSA_CLEANUP_DELETE;
    /* The ratio's and the tombstones' -1 ("none") are stored as they
     * are: 0 is their default, which is not none (cleaner.c reads them). */
    if (out->min_cleanable_dirty_ratio == 0)
        out->min_cleanable_dirty_ratio = DEFAULT_DIRTY_RATIO;
    if (out->delete_retention_ms == 0)
        out->delete_retention_ms = DEFAULT_DELETE_RETENTION_MS;
    if (out->min_compaction_lag_ms == -1)
        out->min_compaction_lag_ms = 0;
    if (!topic_cleanup_valid(out))
        return SAMSA_EINVAL;
    if (out->partitions < 1 || out->partitions > SAMSA_MAX_PARTITIONS ||
        out->replicas < 1 || out->segment_bytes < 4096 ||
        out->segment_bytes > INT32_MAX || out->max_message_bytes < 64 ||
        out->max_message_bytes > (256 << 20) ||
        out->index_interval_bytes < 64 ||
        out->index_interval_bytes > (1 << 20) ||
        out->sync < SAMSA_SYNC_DEFAULT || out->sync > SAMSA_SYNC_ALWAYS ||
        (out->timestamp_type != SAMSA_TIMESTAMP_CREATE_TIME &&
         out->timestamp_type != SAMSA_TIMESTAMP_LOG_APPEND_TIME) ||
        out->replicas > s->ndirs || out->retention_ms < 0 ||
        out->retention_bytes < 0 || out->segment_ms < 0 ||
        out->compression < 0 || out->compression > CODEC_MAX ||
        !codec_level_valid(out->compression, out->compression_level) ||
        out->min_insync < 1 || out->min_insync > out->replicas ||
        (out->acks != SAMSA_ACKS_ALL && out->acks != SAMSA_ACKS_LEADER))
        return SAMSA_EINVAL;
    return 0;
}

log_config
topic_log_config(const samsa *s, const samsa_topic_config *cfg)
{
    int sync = cfg->sync != SAMSA_SYNC_DEFAULT ? cfg->sync : s->sync;
    return (log_config){
        .segment_bytes = (uint64_t)cfg->segment_bytes,
        .max_batch_bytes = (uint32_t)cfg->max_message_bytes,
        .index_interval = (uint32_t)cfg->index_interval_bytes,
        .sync = sync == SAMSA_SYNC_ALWAYS,
        .acks_all = cfg->acks != SAMSA_ACKS_LEADER,
        .min_insync = cfg->min_insync,
        .cache = s->segs,
    };
}

void
topic_part_dir(char *buf, size_t n, const char *root, const char *name,
               int32_t p)
{
    snprintf(buf, n, "%s/%s-%" PRId32, root, name, p);
}

/* Where a new topic's partition p goes: copy i on directory (p + i) mod
 * the number of directories, so the leaders (copy 0) are spread. */
void
topic_placement(const samsa *s, const topic *t, int32_t p,
                catalog_partition *cp)
{
    memset(cp, 0, sizeof *cp);
    /* A compacted topic's offsets will skip: say so from the start, so
     * that its readers never see a dense log turn into one with gaps
     * (catalog.h, CATALOG_PART_GAPS; cleaner.c for a topic altered). */
    if (t->cfg.cleanup_policy & SAMSA_CLEANUP_COMPACT)
        cp->flags = CATALOG_PART_GAPS;
    cp->ncopies = t->cfg.replicas;
    for (int i = 0; i < cp->ncopies; i++) {
        int d = (int)((p + i) % s->ndirs);
        cp->disk[i] = s->cat.disk[d].id;
        if (s->disk_up[d])
            cp->isr |= 1u << i;
    }
    for (int i = 0; i < cp->ncopies; i++)
        if (cp->isr & (1u << i)) { /* the first copy that is up leads */
            cp->leader = i;
            break;
        }
}

static topic *
topic_new(const char *name, uint64_t id, const samsa_topic_config *cfg)
{
    topic *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->name = strdup(name);
    t->parts = calloc((size_t)cfg->partitions, sizeof *t->parts);
    t->id = id;
    t->cfg = *cfg;
    if (t->name == NULL || t->parts == NULL) {
        free(t->name);
        free(t->parts);
        free(t);
        return NULL;
    }
    return t;
}

/* Drop the topic's references on its partitions and free it. */
static void
topic_free(topic *t)
{
    for (int32_t p = 0; p < t->cfg.partitions; p++)
        partition_unref(t->parts[p]);
    free(t->parts);
    free(t->name);
    free(t);
}

/* Open (create: make) every partition. */
static int
topic_open_parts(samsa *s, topic *t, bool create)
{
    log_config lc = topic_log_config(s, &t->cfg);
    for (int32_t p = 0; s->rdonly && p < t->cfg.partitions; p++) {
        int rc = store_follow_part(s, t, p, &lc, &t->parts[p]);
        if (rc != 0)
            return rc;
    }
    for (int32_t p = 0; !s->rdonly && p < t->cfg.partitions; p++) {
        catalog_partition st;
        int rc = 0;
        if (create)
            topic_placement(s, t, p, &st);
        else
            rc = catalog_partition_get(&s->cat, t->id, p, &st);
        if (rc == 0)
            rc = partition_open(&s->renv, t->name, t->id, p, &st, &lc, create,
                                &t->parts[p]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int
topic_load(samsa *s, const char *name, uint64_t id,
           const samsa_topic_config *cfg, topic **out)
{
    topic *t = topic_new(name, id, cfg);
    if (t == NULL)
        return SAMSA_ENOMEM;
    int rc = topic_open_parts(s, t, false);
    if (rc != 0) {
        topic_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* Sync or close (close) every partition of t, then save the recovery
 * points. */
static int
topic_flush(samsa *s, topic *t, bool all, bool close)
{
    int first = 0;
    int64_t *rps = calloc((size_t)t->cfg.partitions, sizeof *rps);
    if (rps == NULL)
        return SAMSA_ENOMEM;
    for (int32_t p = 0; p < t->cfg.partitions; p++) {
        int rc = 0;
        rps[p] = t->parts[p]->saved_rp;
        rc = partition_flush(t->parts[p], all, close, &rps[p]);
        if (first == 0)
            first = rc;
    }
    int rc = store_save_recovery_points(s, t, rps);
    free(rps);
    return first != 0 ? first : rc;
}

int
topic_sync(samsa *s, topic *t, bool all)
{
    return topic_flush(s, t, all, false);
}

void
topic_close(samsa *s, topic *t, int *first_err)
{
    int rc = s->rdonly ? 0 : topic_flush(s, t, true, true);
    if (*first_err == 0)
        *first_err = rc;
    topic_free(t);
}

int
topic_lookup(samsa *s, const char *name, int32_t partition, bool any_ok,
             topic **out)
{
    /* The name is checked only when it is not found: every name in the
     * table passed the check (samsa_topic_create(), or the catalog's
     * name_ok() at load), and a produce of one record paid 25
     * instructions for it. */
    topic *t = name != NULL ? store_topic_find(s, name) : NULL;
    if (t == NULL && !topic_name_valid(name))
        return SAMSA_EINVAL;
    if (t == NULL) {
        int why = s->rdonly ? store_follow_why(s, name) : 0;
        return why != 0 ? why : SAMSA_ENOTOPIC;
    }
    if (!(any_ok && partition == SAMSA_PARTITION_ANY) &&
        (partition < 0 || partition >= t->cfg.partitions))
        return SAMSA_ENOPARTITION;
    *out = t;
    return 0;
}

void
topic_pending_finish(samsa *s, const char *name, int32_t first,
                     int32_t partitions, topic *live)
{
    char dir[4096];
    struct stat st;
    bool gone = true;
    /* The segments are read only to learn where their records end (a
     * dense log's rule, the stricter one): the defaults do. */
    samsa_topic_config c;
    (void)topic_config_resolve(s, NULL, &c);
    log_config lc = topic_log_config(s, &c);
    for (int d = 0; d < s->ndirs; d++) {
        if (!s->disk_up[d]) {
            gone = false; /* the record stays: it is the proof there */
            continue;
        }
        for (int32_t p = first; p < partitions; p++) {
            topic_part_dir(dir, sizeof dir, s->dirs[d], name, p);
            log_segments segs = {0};
            bool known = live != NULL && p < live->cfg.partitions &&
                         log_segments_get(live->parts[p]->log, &segs) == 0;
            /* Only the files samsa made: what else is there stays, and
             * with it the directory and the record. */
            (void)log_dir_remove(s->io, dir, &lc, INT64_MIN, false,
                                 known ? &segs : NULL);
            free(segs.bases);
            if (lstat(dir, &st) == 0 || errno != ENOENT)
                gone = false;
        }
        s->io->dirsync(s->io, s->dirs[d]);
    }
    if (gone)
        (void)catalog_pending_del(&s->cat, name);
}

/* Step (1) of a create: leftovers a pending record of the name proves are
 * samsa's go; then SAMSA_EEXIST if any NAME-P is still in the way. */
int
topic_dirs_clear(samsa *s, const char *name, int32_t partitions)
{
    int32_t old;
    if (catalog_pending_get(&s->cat, name, &old) == 0)
        topic_pending_finish(s, name, 0, old, NULL);
    char dir[4096];
    struct stat st;
    for (int d = 0; d < s->ndirs; d++)
        for (int32_t p = 0; s->disk_up[d] && p < partitions; p++) {
            topic_part_dir(dir, sizeof dir, s->dirs[d], name, p);
            if (lstat(dir, &st) == 0)
                return SAMSA_EEXIST;
        }
    return 0;
}

int
topic_create_args(samsa *s, const char *name, const samsa_topic_config *cfg,
                  samsa_topic_config *out)
{
    if (s == NULL || !topic_name_valid(name))
        return SAMSA_EINVAL;
    if (s->rdonly)
        return SAMSA_ERDONLY;
    return topic_config_resolve(s, cfg, out);
}

SAMSA_API int
samsa_topic_create(samsa *s, const char *name, const samsa_topic_config *cfg)
{
    samsa_topic_config c;
    int rc = topic_create_args(s, name, cfg, &c);
    if (rc != 0)
        return rc;
    samsa__wrlock(&s->table_lock, SAMSA_RANK_TABLE);
    topic *t = NULL;
    if (store_topic_find(s, name) != NULL)
        rc = SAMSA_EEXIST;
    else if ((t = topic_new(name, 0, &c)) == NULL)
        rc = SAMSA_ENOMEM;
    catalog_partition *cps = NULL;
    if (rc == 0)
        rc = topic_dirs_clear(s, name, c.partitions);
    bool made = false; /* the pending record is written: undo by it */
    if (rc == 0)
        made = (rc = catalog_pending_put(&s->cat, name, 0, c.partitions)) == 0;
    if (rc == 0)
        rc = topic_open_parts(s, t, true);
    for (int d = 0; rc == 0 && d < s->ndirs; d++)
        if (s->disk_up[d])
            rc = samsa__from_errno(s->io->dirsync(s->io, s->dirs[d]));
    if (rc == 0 && (cps = calloc((size_t)c.partitions, sizeof *cps)) == NULL)
        rc = SAMSA_ENOMEM;
    for (int32_t p = 0; rc == 0 && p < c.partitions; p++)
        partition_fill(t->parts[p], t->parts[p]->saved_rp, &cps[p]);
    if (rc == 0) /* the commit point */
        rc = catalog_topic_add(&s->cat, name, &c, cps, &t->id);
    for (int32_t p = 0; rc == 0 && p < c.partitions; p++)
        (void)partition_persist(t->parts[p], t->id); /* names the topic */
    free(cps);
    if (rc == 0)
        rc = store_topic_insert(s, t);
    if (rc == 0)
        atomic_fetch_add(&s->topic_changes, 1);
    if (rc != 0 && t != NULL) {
        /* Undo the directories, unless the catalog still names the topic
         * (committed, then the table insert and the undo both failed): then
         * it comes back at the next open, whole. */
        bool committed = t->id != 0 && catalog_topic_remove(&s->cat, name) != 0;
        if (!committed && made)
            topic_pending_finish(s, name, 0, c.partitions, NULL);
        topic_free(t);
    }
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    if (rc == 0) /* pollers subscribed by pattern may want it */
        store_notify(s);
    return rc;
}

SAMSA_API int
samsa_topic_delete(samsa *s, const char *name)
{
    if (s == NULL || !topic_name_valid(name))
        return SAMSA_EINVAL;
    if (s->rdonly)
        return SAMSA_ERDONLY;
    samsa__wrlock(&s->table_lock, SAMSA_RANK_TABLE);
    topic *t = store_topic_find(s, name);
    int rc = t == NULL ? SAMSA_ENOTOPIC : catalog_topic_remove(&s->cat, name);
    uint64_t id = rc == 0 ? t->id : 0;
    if (rc == 0) {
        store_topic_remove(s, t);
        for (int32_t p = 0; p < t->cfg.partitions; p++)
            partition_mark_deleted(t->parts[p]);
        topic_pending_finish(s, t->name, 0, t->cfg.partitions, t);
        topic_free(t); /* cursors keep their own references */
        atomic_fetch_add(&s->topic_changes, 1);
        store_topic_deleted(s, name, id, true);
    }
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    if (rc == 0) {
        store_topic_deleted(s, name, id, false); /* may take their locks */
        store_notify(s); /* pollers of its partitions must let go of them */
    }
    return rc;
}

SAMSA_API int
samsa_topic_describe(samsa *s, const char *name, samsa_topic_config *cfg)
{
    if (s == NULL || cfg == NULL)
        return SAMSA_EINVAL;
    if (s->rdonly)
        (void)store_follow_catalog(s, false);
    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    topic *t;
    int rc = topic_lookup(s, name, SAMSA_PARTITION_ANY, true, &t);
    if (rc == 0) {
        *cfg = t->cfg;
        if (cfg->sync == SAMSA_SYNC_DEFAULT)
            cfg->sync = s->sync;
    }
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    return rc;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

SAMSA_API int
samsa_topic_foreach(samsa *s, int (*fn)(const char *name, void *ctx), void *ctx)
{
    if (s == NULL || fn == NULL)
        return SAMSA_EINVAL;
    if (s->rdonly)
        (void)store_follow_catalog(s, false);
    /* Copy the names so that fn runs without the table lock held. */
    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    size_t n = 0, nun = store_follow_nunloaded(s);
    int rc = 0;
    char **names = malloc((s->ntopics + nun + 1) * sizeof *names);
    for (size_t b = 0; names != NULL && b < s->nbuckets; b++)
        for (topic *t = s->buckets[b]; t != NULL; t = t->next)
            if ((names[n] = strdup(t->name)) != NULL)
                n++;
            else
                rc = SAMSA_ENOMEM;
    /* A read-only handle lists the catalog's topics it could not load
     * too (a file it cannot open under a segment's name): they are the
     * store's, and their lookup says what is wrong; left out, a walk
     * such as samsa verify's would call a damaged store intact. */
    if (names != NULL && rc == 0)
        rc = store_follow_unloaded_names(s, names, s->ntopics + nun, &n);
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    if (names == NULL)
        return SAMSA_ENOMEM;
    qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = fn(names[i], ctx);
        free(names[i]);
    }
    free(names);
    return rc;
}
