/*
 * follow.c - read-only handles (SAMSA_OPEN_RDONLY): a store opened beside
 * the process that writes it, or with none.
 *
 * Nothing here writes a byte.  No lock file is taken (DIR/lock is the
 * writer's, disks.c), the catalog is opened with MDB_RDONLY
 * (catalog_open_rdonly), each partition's log follows the writer's files
 * (storage/log_follow.c), no recovery runs, no pending create or delete is
 * finished, no flusher, retention or repair pass starts, and samsa_close()
 * seals and syncs nothing.  Every public call that would write checks
 * s->rdonly first and returns SAMSA_ERDONLY; the catalog refuses writes
 * too (catalog.c), as a second line.
 *
 * What the files cannot tell a follower, the catalog does: topics created
 * after the open (loaded here when a lookup misses, or when a waiting
 * cursor looks), topics deleted (marked deleted: cursors get
 * SAMSA_EDELETED, as in the writer's process), made again under the same
 * name (a new catalog id: the old one is deleted), grown (reloaded), and
 * each partition's log start after retention or samsa_delete_records()
 * (the writer commits the start before it removes a segment, so a
 * follower never looks for a file below the start it knows).  That look
 * costs a catalog read transaction per topic and partition, so it runs at
 * most every STORE_FOLLOW_MS, unless a lookup missed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store.h"

#define STORE_FOLLOW_MS 50

int
store_follow_dirs_open(samsa *s, const samsa_options *opt)
{
    const char *paths[CATALOG_MAX_DISKS];
    char cpath[CATALOG_MAX_DISKS][4096];
    for (int d = 0; d < s->ndirs; d++) {
        struct stat st;
        snprintf(cpath[d], sizeof cpath[d], "%s/catalog", s->dirs[d]);
        paths[d] = cpath[d];
        s->disk_up[d] = d == 0 || stat(s->dirs[d], &st) == 0;
    }
    return catalog_open_rdonly(&s->cat, paths, s->ndirs,
                               opt->catalog_map_bytes ? opt->catalog_map_bytes
                                                      : (1ull << 30));
}

int
store_follow_part(samsa *s, topic *t, int32_t p, const log_config *lc,
                  samsa_partition **out)
{
    catalog_partition cp;
    int rc = catalog_partition_get(&s->cat, t->id, p, &cp);
    if (rc != 0)
        return rc;
    /* The leader's copy is the one the writer publishes and wakes on
     * (log.c); failing that, any in-sync copy on a directory given. */
    int d = -1;
    for (int k = -1; d < 0 && k < cp.ncopies; k++) {
        int i = k < 0 ? cp.leader : k;
        int x = catalog_disk_index(&s->cat, cp.disk[i]);
        if ((k < 0 || (cp.isr & (1u << i))) && x >= 0 && x < s->ndirs &&
            s->disk_up[x])
            d = x;
    }
    if (d < 0)
        return SAMSA_ENOTENOUGHREPLICAS; /* pass the writer's replica_dirs */
    char dir[4096];
    topic_part_dir(dir, sizeof dir, s->dirs[d], t->name, p);
    return partition_open_follow(s->io, dir, &cp, lc, out);
}

typedef struct seen_topic {
    char *name;
    uint64_t id;
    samsa_topic_config cfg;
} seen_topic;

typedef struct seen_list {
    seen_topic *v; /* the catalog's topics, n of them */
    size_t n;
} seen_list;

static int
collect(const char *name, uint64_t id, const samsa_topic_config *cfg, void *ctx)
{
    seen_list *l = ctx;
    seen_topic *v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (v == NULL)
        return SAMSA_ENOMEM;
    l->v = v;
    if ((v[l->n].name = strdup(name)) == NULL)
        return SAMSA_ENOMEM;
    l->v[l->n].id = id;
    l->v[l->n++].cfg = *cfg;
    return 0;
}

/* Drop t from the table (the caller holds it for writing); deleted: its
 * readers are told. */
static void
follow_drop(samsa *s, topic *t, bool deleted)
{
    int ignored = 0;
    store_topic_remove(s, t);
    for (int32_t p = 0; deleted && p < t->cfg.partitions; p++)
        partition_mark_deleted(t->parts[p]);
    topic_close(s, t, &ignored); /* read-only: frees; cursors keep theirs */
    atomic_fetch_add(&s->topic_changes, 1);
}

/* Altered, not grown: the same partitions take the new config, so that
 * cursors on them go on seeing new segments, starts and a deletion. */
static void
follow_alter(samsa *s, topic *t, const samsa_topic_config *cfg)
{
    t->cfg = *cfg;
    log_config lc = topic_log_config(s, cfg);
    for (int32_t p = 0; p < cfg->partitions; p++)
        log_follow_reconfigure(t->parts[p]->log, &lc);
    atomic_fetch_add(&s->topic_changes, 1);
}

static void
follow_starts(samsa *s, topic *t)
{
    for (int32_t p = 0; p < t->cfg.partitions; p++) {
        catalog_partition cp;
        samsa_log *log = t->parts[p]->log;
        if (catalog_partition_get(&s->cat, t->id, p, &cp) != 0 ||
            cp.start <= atomic_load(&log->start))
            continue;
        /* The follower's end may be older than the catalog's start: look
         * at the writer's end first; a start still past it waits for the
         * next look (a start never passes the end). */
        if (cp.start > atomic_load(&log->end))
            (void)log_follow_refresh(log, true);
        if (cp.start <= atomic_load(&log->end)) {
            log_advance_start(log, cp.start);
            (void)log_follow_drop_below(log);
        }
    }
}

int
store_follow_catalog(samsa *s, bool force)
{
    int64_t now = samsa__now_ns();
    int64_t last = atomic_load(&s->follow_seen);
    if (!force && now - last < STORE_FOLLOW_MS * 1000000ll)
        return 0;
    if (!atomic_compare_exchange_strong(&s->follow_seen, &last, now) && !force)
        return 0; /* another thread is looking */
    seen_list l = {0};
    int rc = catalog_topic_foreach(&s->cat, collect, &l);
    samsa__wrlock(&s->table_lock, SAMSA_RANK_TABLE);
    /* Gone from the catalog, or another topic under the name: deleted. */
    for (size_t b = 0; rc == 0 && b < s->nbuckets; b++)
        for (topic *t = s->buckets[b], *next; t != NULL; t = next) {
            next = t->next;
            size_t i = 0;
            while (i < l.n && strcmp(l.v[i].name, t->name) != 0)
                i++;
            if (i == l.n || l.v[i].id != t->id)
                follow_drop(s, t, true);
            else if (l.v[i].cfg.partitions != t->cfg.partitions)
                follow_drop(s, t, false); /* grown: loaded again below */
            else if (memcmp(&l.v[i].cfg, &t->cfg, sizeof t->cfg) != 0)
                follow_alter(s, t, &l.v[i].cfg);
        }
    if (rc == 0)
        store_follow_forget(s); /* each is tried again below */
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        topic *t = store_topic_find(s, l.v[i].name);
        if (t != NULL) {
            follow_starts(s, t);
            continue;
        }
        /* A topic that does not load (being created: its directories not
         * all made yet) is tried again at the next look. */
        int lrc = topic_load(s, l.v[i].name, l.v[i].id, &l.v[i].cfg, &t);
        if (lrc != 0) {
            store_follow_unloaded(s, l.v[i].name, lrc);
            continue;
        }
        if (store_topic_insert(s, t) != 0) {
            int ignored = 0;
            topic_close(s, t, &ignored);
        } else
            atomic_fetch_add(&s->topic_changes, 1);
    }
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i].name);
    free(l.v);
    return rc;
}

struct store_unloaded {
    struct store_unloaded *next;
    int rc;
    char name[]; /* NUL-terminated */
};

void
store_follow_unloaded(samsa *s, const char *name, int rc)
{
    if (rc == -ENOENT || rc == SAMSA_ENOMEM)
        return;
    size_t len = strlen(name) + 1;
    struct store_unloaded *u = malloc(sizeof *u + len);
    if (u == NULL)
        return; /* SAMSA_ENOTOPIC, as before it was kept */
    u->rc = rc;
    memcpy(u->name, name, len);
    u->next = s->unloaded;
    s->unloaded = u;
}

int
store_follow_why(const samsa *s, const char *name)
{
    for (const struct store_unloaded *u = s->unloaded; u != NULL; u = u->next)
        if (strcmp(u->name, name) == 0)
            return u->rc;
    return 0;
}

size_t
store_follow_nunloaded(const samsa *s)
{
    size_t n = 0;
    for (const struct store_unloaded *u = s->unloaded; u != NULL; u = u->next)
        n++;
    return n;
}

int
store_follow_unloaded_names(const samsa *s, char **names, size_t max, size_t *n)
{
    for (const struct store_unloaded *u = s->unloaded; u != NULL && *n < max;
         u = u->next)
        if ((names[*n] = strdup(u->name)) == NULL)
            return SAMSA_ENOMEM;
        else
            (*n)++;
    return 0;
}

void
store_follow_forget(samsa *s)
{
    while (s->unloaded != NULL) {
        struct store_unloaded *u = s->unloaded;
        s->unloaded = u->next;
        free(u);
    }
}

int
store_follow_wait(samsa *s, samsa_partition *pt, int64_t offset,
                  int64_t deadline_ns, int64_t spin_ns)
{
    for (;;) {
        int64_t until = samsa__now_ns() + STORE_FOLLOW_MS * 1000000ll;
        if (deadline_ns >= 0 && deadline_ns < until)
            until = deadline_ns;
        int rc = log_follow_wait(pt->log, offset, until, spin_ns);
        spin_ns = 0; /* once a wait, not once a slice */
        if (rc != SAMSA_ETIMEDOUT ||
            (deadline_ns >= 0 && samsa__now_ns() >= deadline_ns))
            return rc;
        (void)store_follow_catalog(s, false); /* deleted? a new start? */
    }
}

int
store_follow_copies(samsa *s, topic *t, int32_t p, samsa_replica_info *copies,
                    size_t max, size_t *n)
{
    catalog_partition cp;
    int rc = catalog_partition_get(&s->cat, t->id, p, &cp);
    if (rc != 0)
        return rc;
    *n = (size_t)cp.ncopies;
    for (int i = 0; i < cp.ncopies && (size_t)i < max; i++) {
        int d = catalog_disk_index(&s->cat, cp.disk[i]);
        copies[i] = (samsa_replica_info){
            .dir = d >= 0 && d < s->ndirs ? d : -1,
            .state =
                cp.isr & (1u << i) ? SAMSA_REPLICA_INSYNC : SAMSA_REPLICA_OUT,
            .leader = i == cp.leader,
            .since = -1, /* the writer's memory, not the catalog's */
        };
    }
    return 0;
}
