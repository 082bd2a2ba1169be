/*
 * commit.c - a group's committed offsets: samsa_consumer_commit(),
 * auto-commit, and samsa_group_offsets() with the lag.
 *
 * Fencing.  A member commits only partitions it owns, and ownership is
 * checked under the group's lock held across the catalog transaction
 * (group.lock -> catalog, group.h).  So a member expelled for missing its
 * session timeout cannot overwrite, with a stale position, an offset its
 * successor committed: once the partition moved, its commit gets
 * SAMSA_ENOTASSIGNED (auto-commit skips it).  Commits of different groups
 * do not wait for each other, only for LMDB's single writer.
 *
 * What a commit promises is catalog_group.c's: one transaction for all the
 * partitions, written through before it returns (kill -9 safe), fsync'ed
 * only under SAMSA_SYNC_ALWAYS.
 */
#include <stdlib.h>
#include <string.h>

#include "group.h"

/* What a commit finds of a partition the member had. */
enum { OWNED, GONE, MOVED };

/* Does the member still own o: its group says so, and its topic (this
 * one, not another created since under the name) still exists?  GONE: the
 * topic was deleted (the group learns of it only at some member's next
 * rebalance, until then its entry still names the owner); MOVED: the group
 * gave it to another member, or expelled this one.  g->lock and the table
 * lock held. */
static int
still_owned(samsa_consumer *c, const owned *o)
{
    const topic *st = store_topic_find(c->s, o->topic);
    if (st == NULL || st->id != o->topic_id)
        return GONE;
    gtopic *t = group_topic_find(c->g, o->topic, o->topic_id);
    return t != NULL && t->owner[o->partition] == c ? OWNED : MOVED;
}

/* How a commit treats partitions the member no longer owns. */
typedef enum commit_mode {
    COMMIT_SKIP,  /* leave them out (auto-commit)                     */
    COMMIT_OWNED, /* leave out those of deleted topics, as the member
                     itself does; one moved fails the commit
                     (samsa_consumer_commit() of the positions)       */
    COMMIT_STRICT /* any fails the commit (offsets the caller named) */
} commit_mode;

/* Write offs[0..n-1], which belong to the owned entries at idx[] (the
 * member's own partitions), leaving out or refusing (SAMSA_ENOTASSIGNED,
 * nothing written) those the member no longer owns, as mode says.
 * The table lock, held across the catalog commit, keeps a topic's removal
 * (which drops its offsets in its own catalog commit) from passing between
 * the check and the write: an offset committed to a removed topic's id
 * would stay in the catalog for ever, listing the group. */
static int
commit_write(samsa_consumer *c, catalog_group_offset *offs, size_t *idx,
             size_t n, commit_mode mode)
{
    group *g = c->g;
    int rc = 0;
    size_t m = 0;
    samsa__lock(&g->lock, SAMSA_RANK_GROUP);
    samsa__rdlock(&c->s->table_lock, SAMSA_RANK_TABLE);
    for (size_t i = 0; i < n; i++) {
        int own = still_owned(c, &c->parts[idx[i]]);
        if (own == OWNED) {
            offs[m] = offs[i];
            idx[m++] = idx[i];
        } else if (mode == COMMIT_STRICT ||
                   (mode == COMMIT_OWNED && own == MOVED)) {
            rc = SAMSA_ENOTASSIGNED;
        }
    }
    if (rc == 0 && m > 0)
        rc = catalog_group_commit(&c->s->cat, g->name, offs, m);
    samsa__rwunlock(&c->s->table_lock, SAMSA_RANK_TABLE);
    samsa__unlock(&g->lock, SAMSA_RANK_GROUP);
    for (size_t i = 0; rc == 0 && i < m; i++)
        c->parts[idx[i]].committed = offs[i].offset;
    return rc;
}

int
commit_positions(samsa_consumer *c, const size_t *which, size_t n)
{
    if (which == NULL)
        n = c->nparts;
    catalog_group_offset *offs = malloc((n + 1) * sizeof *offs);
    size_t *idx = malloc((n + 1) * sizeof *idx), k = 0;
    int rc = offs && idx ? 0 : SAMSA_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t j = which != NULL ? which[i] : i;
        owned *o = &c->parts[j];
        int64_t pos = samsa_cursor_offset(o->cur);
        if (o->deleted || pos == o->committed)
            continue;
        offs[k] = (catalog_group_offset){o->topic_id, o->partition, pos};
        idx[k++] = j;
    }
    if (rc == 0 && k > 0)
        rc = commit_write(c, offs, idx, k, COMMIT_SKIP);
    free(offs);
    free(idx);
    return rc;
}

SAMSA_API int
samsa_consumer_commit(samsa_consumer *c, const samsa_topic_partition *offsets,
                      size_t n)
{
    if (c == NULL || (offsets == NULL) != (n == 0))
        return SAMSA_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (offsets[i].topic == NULL || offsets[i].offset < 0)
            return SAMSA_EINVAL;
    int rc = consumer_enter(c);
    if (rc != 0)
        return rc;
    size_t cnt = offsets != NULL ? n : c->nparts, k = 0;
    catalog_group_offset *offs = malloc((cnt + 1) * sizeof *offs);
    size_t *idx = malloc((cnt + 1) * sizeof *idx);
    if (offs == NULL || idx == NULL)
        rc = SAMSA_ENOMEM;
    for (size_t i = 0; rc == 0 && i < cnt; i++) {
        owned *o = offsets != NULL ? consumer_find(c, offsets[i].topic,
                                                   offsets[i].partition)
                                   : &c->parts[i];
        if (o == NULL) {
            rc = SAMSA_ENOTASSIGNED;
            break;
        }
        if (offsets == NULL && o->deleted)
            continue;
        int64_t off =
            offsets != NULL ? offsets[i].offset : samsa_cursor_offset(o->cur);
        offs[k] = (catalog_group_offset){o->topic_id, o->partition, off};
        idx[k++] = (size_t)(o - c->parts);
    }
    if (rc == 0 && k > 0)
        rc = commit_write(c, offs, idx, k,
                          offsets != NULL ? COMMIT_STRICT : COMMIT_OWNED);
    free(offs);
    free(idx);
    consumer_leave(c);
    return rc;
}

/* ---- samsa_group_offsets ------------------------------------------------- */

typedef struct lag_topic {
    char *name;    /* the topic's name                              */
    uint64_t id;   /* its catalog id                                */
    int32_t parts; /* its partition count                           */
    int64_t *ends; /* per partition: the log end when looked at     */
} lag_topic;

static int
lag_cmp(const void *a, const void *b)
{
    return strcmp(((const lag_topic *)a)->name, ((const lag_topic *)b)->name);
}

static void
lag_free(lag_topic *ts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ts[i].name);
        free(ts[i].ends);
    }
    free(ts);
}

/* Every topic with its log ends, sorted by name; *np gets the partitions. */
static int
lag_snapshot(samsa *s, lag_topic **out, size_t *nt, size_t *np)
{
    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    lag_topic *ts = calloc(s->ntopics + 1, sizeof *ts);
    size_t n = 0;
    int rc = ts == NULL ? SAMSA_ENOMEM : 0;
    *np = 0;
    for (size_t b = 0; rc == 0 && b < s->nbuckets; b++)
        for (topic *t = s->buckets[b]; rc == 0 && t != NULL; t = t->next) {
            lag_topic *l = &ts[n++];
            l->name = strdup(t->name);
            l->id = t->id;
            l->parts = t->cfg.partitions;
            l->ends = malloc((size_t)l->parts * sizeof *l->ends);
            if (l->name == NULL || l->ends == NULL) {
                rc = SAMSA_ENOMEM;
                break;
            }
            for (int32_t p = 0; p < l->parts; p++)
                l->ends[p] = partition_end(t->parts[p]);
            *np += (size_t)l->parts;
        }
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    if (rc != 0) {
        lag_free(ts, n);
        return rc;
    }
    qsort(ts, n, sizeof *ts, lag_cmp);
    *out = ts;
    *nt = n;
    return 0;
}

SAMSA_API int
samsa_group_offsets(samsa *s, const char *group_name,
                    int (*fn)(const samsa_group_offset *o, void *ctx),
                    void *ctx)
{
    if (s == NULL || fn == NULL || !topic_name_valid(group_name))
        return SAMSA_EINVAL;
    lag_topic *ts;
    size_t nt, np;
    int rc = lag_snapshot(s, &ts, &nt, &np);
    if (rc != 0)
        return rc;
    catalog_group_offset *offs = malloc((np + 1) * sizeof *offs);
    size_t k = 0;
    if (offs == NULL)
        rc = SAMSA_ENOMEM;
    for (size_t t = 0; rc == 0 && t < nt; t++)
        for (int32_t p = 0; p < ts[t].parts; p++)
            offs[k++] = (catalog_group_offset){ts[t].id, p, -1};
    if (rc == 0)
        rc = catalog_group_get(&s->cat, group_name, offs, np);
    k = 0;
    for (size_t t = 0; rc == 0 && t < nt; t++)
        for (int32_t p = 0; rc == 0 && p < ts[t].parts; p++, k++) {
            if (offs[k].offset < 0)
                continue;
            int64_t end = ts[t].ends[p], lag = end - offs[k].offset;
            samsa_group_offset o = {ts[t].name, p, offs[k].offset, end,
                                    lag > 0 ? lag : 0};
            rc = fn(&o, ctx);
        }
    free(offs);
    lag_free(ts, nt);
    return rc;
}
