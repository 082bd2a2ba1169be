/*
 * store.c - opening and closing a store: the directory lock, the catalog,
 * the topic table, and the background flusher.
 *
 * DIR/lock is flock()ed exclusively for as long as the store is open, so a
 * second opener, in this process or another, gets SAMSA_ELOCKED; the kernel
 * drops the lock when the process dies, so a crash never leaves a stale
 * lock behind.
 *
 * The flusher.  Without the sync policy nothing is fdatasync'ed on the
 * produce path, and the recovery point, below which open trusts the log
 * without scanning it, would only move at close.  So a background thread
 * syncs each sealed segment soon after it is rolled (as Kafka's log flusher
 * does) and records the new recovery point in the catalog: after a crash,
 * only the active segment of each partition is scanned.  After each flush
 * it applies the topics' retention (retention.c).
 *
 * What samsa removes, and what proves it made it (DESIGN.md: samsa deletes
 * only files and directories it can prove it created).  Every directory
 * of the store first passed store_dir_check(): it holds samsa's catalog,
 * or nothing (a new store, a replacement disk); anything else is
 * SAMSA_ENOTSTORE at open and stays down when a replica directory comes
 * back (disks.c), with nothing written to it.  Then, inside such a
 * directory:
 *  - partition directories NAME-P: only those a catalog record names, a
 *    pending record (a create not committed, a delete not finished;
 *    topic.c) or a partition's copy on that directory being rebuilt from
 *    scratch (rset_catchup, replica.c);
 *  - segment and index files: inside a partition directory the catalog
 *    names (retention, a torn tail's later segments, a copy's index;
 *    log.c, segment.c, replica.c);
 *  - DIR/catalog/lock.mdb, DIR/catalog.new/: LMDB's own files, rebuilt
 *    from a healthy directory (catalog.c);
 *  - share-group journals DIR/queues/GROUP/ID-P.journal of topics that are
 *    gone: only files that start with a journal header samsa wrote, and
 *    then their group directory if it is empty (queue_group.c).
 * Nothing is removed because its name looks like samsa's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define FLUSH_INTERVAL_MS   1000
#define DEFAULT_CATALOG_MAP (1ull << 30)

/* The default cap on open segment files (samsa_options.max_open_files 0):
 * a quarter of the descriptors the process may have, shared by the
 * store's directories (each copy of an open segment holds its own), the
 * rest left to the application, sockets and the catalog; at least 256, at
 * most 4096 (each open sealed segment also holds a mapping, and Linux
 * allows 65,530 a process).  A fixed 256 made producing round-robin over
 * 1,000 partitions reopen a segment file for every batch: 2 to 8 us a
 * send against 0.2 to 0.3 with room for them all, where the limit was
 * 20,000. */
static size_t
store_open_cap(const samsa_options *opt)
{
    if (opt->max_open_files != 0)
        return opt->max_open_files;
    size_t dirs = 1;
    while (opt->replica_dirs != NULL && opt->replica_dirs[dirs - 1] != NULL)
        dirs++;
    struct rlimit rl;
    size_t cap = STORE_MAX_OPEN_CEIL;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        cap = STORE_MAX_OPEN_FILES;
    else if (rl.rlim_cur != RLIM_INFINITY)
        cap = (size_t)rl.rlim_cur / 4 / dirs;
    return cap < STORE_MAX_OPEN_FILES  ? STORE_MAX_OPEN_FILES
           : cap > STORE_MAX_OPEN_CEIL ? STORE_MAX_OPEN_CEIL
                                       : cap;
}

/* ---- the topic table ----------------------------------------------------- */

topic *
store_topic_find(const samsa *s, const char *name)
{
    topic *t = s->buckets[samsa__name_hash(name) & (s->nbuckets - 1)];
    while (t != NULL && strcmp(t->name, name) != 0)
        t = t->next;
    return t;
}

int
store_topic_insert(samsa *s, topic *t)
{
    if (s->ntopics + 1 > s->nbuckets) { /* keep the load factor <= 1 */
        size_t n = s->nbuckets * 2;
        topic **b = calloc(n, sizeof *b);
        if (b == NULL)
            return SAMSA_ENOMEM;
        for (size_t i = 0; i < s->nbuckets; i++)
            for (topic *x = s->buckets[i], *next; x != NULL; x = next) {
                next = x->next;
                x->next = b[samsa__name_hash(x->name) & (n - 1)];
                b[samsa__name_hash(x->name) & (n - 1)] = x;
            }
        free(s->buckets);
        s->buckets = b;
        s->nbuckets = n;
    }
    topic **head = &s->buckets[samsa__name_hash(t->name) & (s->nbuckets - 1)];
    t->next = *head;
    *head = t;
    s->ntopics++;
    return 0;
}

bool
store_topic_id_gone(uint64_t id, void *ctx)
{
    const samsa *s = ctx;
    for (size_t b = 0; b < s->nbuckets; b++)
        for (const topic *t = s->buckets[b]; t != NULL; t = t->next)
            if (t->id == id)
                return false;
    return true;
}

void
store_topic_remove(samsa *s, topic *t)
{
    topic **p = &s->buckets[samsa__name_hash(t->name) & (s->nbuckets - 1)];
    while (*p != t)
        p = &(*p)->next;
    *p = t->next;
    s->ntopics--;
}

int
store_save_recovery_points(samsa *s, topic *t, const int64_t *rps)
{
    /* One transaction for all the partitions that moved: a catalog commit
     * is an fsync, so per-partition commits would make close and the
     * flusher cost one fsync per partition. */
    int32_t n = t->cfg.partitions, moved = 0;
    for (int32_t p = 0; p < n; p++)
        moved += rps[p] != t->parts[p]->saved_rp;
    if (moved == 0) /* the flusher's usual case: nothing to write */
        return 0;
    int32_t *parts = malloc((size_t)moved * sizeof *parts);
    catalog_partition *st = malloc((size_t)moved * sizeof *st);
    int rc = parts == NULL || st == NULL ? SAMSA_ENOMEM : 0;
    moved = 0;
    for (int32_t p = 0; rc == 0 && p < n; p++)
        if (rps[p] != t->parts[p]->saved_rp) {
            parts[moved] = p; /* the copies' state rides along */
            partition_fill(t->parts[p], rps[p], &st[moved++]);
        }
    if (rc == 0 && moved > 0)
        rc = catalog_partitions_put(&s->cat, t->id, parts, st, (size_t)moved);
    for (int32_t i = 0; rc == 0 && i < moved; i++)
        t->parts[parts[i]]->saved_rp = st[i].recovery_point;
    free(parts);
    free(st);
    return rc;
}

/* Sync every partition of every topic: all, or only sealed segments. */
static int
store_sync_all(samsa *s, bool all)
{
    int first = 0;
    /* samsa_sync() may run alongside the flusher: one saves at a time. */
    samsa__lock(&s->save_lock, SAMSA_RANK_SAVE);
    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    for (size_t b = 0; b < s->nbuckets; b++)
        for (topic *t = s->buckets[b]; t != NULL; t = t->next) {
            int rc = topic_sync(s, t, all);
            if (first == 0)
                first = rc;
        }
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    samsa__unlock(&s->save_lock, SAMSA_RANK_SAVE);
    return first;
}

/* ---- the flusher --------------------------------------------------------- */

static void *
flusher_main(void *arg)
{
    samsa *s = arg;
    samsa__lock(&s->flush_lock, SAMSA_RANK_LEAF);
    while (!s->flush_stop) {
        samsa__cond_wait_until(&s->flush_cond, &s->flush_lock,
                               samsa__deadline_after(FLUSH_INTERVAL_MS));
        if (s->flush_stop)
            break;
        samsa__unlock(&s->flush_lock, SAMSA_RANK_LEAF);
        /* Errors mark the log failed (log.c); producers report them.
         * Copies that failed or came back are the repair pass's. */
        (void)store_sync_all(s, false);
        (void)store_retention_pass(s); /* errors: the next pass retries */
        if (!atomic_load(&s->repair_paused))
            (void)store_replica_pass(s, NULL);
        samsa__lock(&s->flush_lock, SAMSA_RANK_LEAF);
    }
    samsa__unlock(&s->flush_lock, SAMSA_RANK_LEAF);
    return NULL;
}

static int
flusher_start(samsa *s)
{
    samsa__cond_init_monotonic(&s->flush_cond);
    pthread_mutex_init(&s->flush_lock, NULL);
    int rc = pthread_create(&s->flusher, NULL, flusher_main, s);
    s->flusher_running = rc == 0;
    return rc == 0 ? 0 : samsa__from_errno(rc);
}

static void
flusher_stop(samsa *s)
{
    if (!s->flusher_running)
        return;
    samsa__lock(&s->flush_lock, SAMSA_RANK_LEAF);
    s->flush_stop = true;
    pthread_cond_signal(&s->flush_cond);
    samsa__unlock(&s->flush_lock, SAMSA_RANK_LEAF);
    pthread_join(s->flusher, NULL);
    pthread_cond_destroy(&s->flush_cond);
    pthread_mutex_destroy(&s->flush_lock);
    s->flusher_running = false;
}

/* ---- opening ------------------------------------------------------------- */

static int
options_check(const samsa_options *opt)
{
    if (!SAMSA_RESERVED_ZERO(opt->reserved))
        return SAMSA_EINVAL;
    if (opt->sync < SAMSA_SYNC_DEFAULT || opt->sync > SAMSA_SYNC_ALWAYS ||
        (opt->flags & ~(SAMSA_OPEN_CREATE | SAMSA_OPEN_RDONLY)) != 0 ||
        (opt->flags & SAMSA_OPEN_CREATE && opt->flags & SAMSA_OPEN_RDONLY) ||
        (opt->catalog_map_bytes != 0 && opt->catalog_map_bytes < (1u << 20)) ||
        opt->spin_ns < -1 || opt->spin_ns > 1000000000)
        return SAMSA_EINVAL;
    for (size_t i = 0; opt->replica_dirs != NULL && opt->replica_dirs[i]; i++)
        if (i >= SAMSA_MAX_REPLICA_DIRS || *opt->replica_dirs[i] == '\0')
            return SAMSA_EINVAL;
    return 0;
}

static int
load_topic(const char *name, uint64_t id, const samsa_topic_config *cfg,
           void *ctx)
{
    samsa *s = ctx;
    topic *t;
    int rc = topic_load(s, name, id, cfg, &t);
    if (rc == 0 && (rc = store_topic_insert(s, t)) != 0)
        topic_close(s, t, &rc);
    /* Read-only: a topic the writer is deleting meanwhile (its catalog
     * record is gone before its files) is skipped; follow.c looks
     * again.  A lookup of one that did not load says why. */
    if (s->rdonly && rc != 0)
        store_follow_unloaded(s, name, rc);
    return s->rdonly && rc != SAMSA_ENOMEM ? 0 : rc;
}

/* Finish what a crash interrupted between a topic's directories and its
 * catalog record: a create that had not committed, a delete whose
 * directories were not all removed.  Only the directories a pending record
 * names are touched (catalog.c): a directory whose name merely looks like
 * a partition's is none of samsa's business. */
static void
finish_pending(samsa *s)
{
    char **names;
    int32_t *firsts, *parts;
    size_t n;
    (void)catalog_pending_list(&s->cat, &names, &firsts, &parts, &n);
    for (size_t i = 0; i < n; i++) {
        topic *t = store_topic_find(s, names[i]);
        /* A growth (samsa_topic_add_partitions) that did not commit: the
         * topic still has exactly the partitions below first. */
        if (t == NULL || (firsts[i] > 0 && t->cfg.partitions == firsts[i]))
            topic_pending_finish(s, names[i], firsts[i], parts[i], NULL);
        else
            (void)catalog_pending_del(&s->cat, names[i]); /* not its dirs */
        free(names[i]);
    }
    free(names);
    free(firsts);
    free(parts);
}

/* An entry of a directory with no catalog that samsa itself makes before
 * the catalog exists (the lock file, the catalog directory while LMDB has
 * not created its data file yet, or, with empty_data, has created it but
 * not yet written a byte to it). */
static bool
own_entry(const char *dir, const char *name, bool empty_data)
{
    if (strcmp(name, "lock") == 0)
        return true;
    if (strcmp(name, "catalog") != 0)
        return false;
    char path[4096];
    snprintf(path, sizeof path, "%s/catalog", dir);
    DIR *d = opendir(path);
    if (d == NULL)
        return false;
    struct dirent *e;
    bool ok = true;
    while (ok && (e = readdir(d)) != NULL)
        ok = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
             strcmp(e->d_name, "lock.mdb") == 0 ||
             (empty_data && strcmp(e->d_name, "data.mdb") == 0);
    closedir(d);
    return ok;
}

/* Whether dir holds nothing but what samsa makes before its catalog
 * holds data (own_entry). */
static int
only_own_entries(const char *dir, bool empty_data)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return samsa__from_errno(errno);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            !own_entry(dir, e->d_name, empty_data))
            rc = SAMSA_ENOTSTORE;
    closedir(d);
    return rc;
}

/* A create that stopped (a failed call, a kill) between LMDB creating
 * the catalog's data file and writing its first page leaves an empty
 * data.mdb, which catalog_check_file() must take for damage: a catalog
 * cut to nothing would otherwise reopen as a new store with every topic
 * gone.  In a directory holding nothing else of a store (no partition
 * directory, no other file) it is that unfinished create, and holds no
 * byte to lose: it goes, and the create runs again.  Called with the
 * directory's lock held, so no other handle is creating it meanwhile. */
static void
unfinished_create(const char *dir)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/catalog/data.mdb", dir);
    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0 &&
        only_own_entries(dir, true) == 0)
        (void)unlink(path);
}

int
store_dir_check(const char *dir)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/catalog/data.mdb", dir);
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        return 0; /* a store: open it */
    return only_own_entries(dir, false);
}

/* Lock every directory and open their catalogs.  The first directory
 * must be there; a replica directory that is missing (and not created) or
 * cannot be locked for I/O reasons starts down, and comes up when the
 * repair pass finds it back. */
static int
store_dirs_open(samsa *s, const samsa_options *opt)
{
    const char *paths[CATALOG_MAX_DISKS];
    char cpath[CATALOG_MAX_DISKS][4096];
    s->dirs[s->ndirs++] = s->dir;
    for (size_t i = 0; opt->replica_dirs != NULL && opt->replica_dirs[i]; i++)
        if ((s->dirs[s->ndirs++] = strdup(opt->replica_dirs[i])) == NULL)
            return SAMSA_ENOMEM;
    if (s->rdonly) /* no lock, nothing created: follow.c */
        return store_follow_dirs_open(s, opt);
    /* Before any lock file: nothing is written to any directory while
     * one of them is neither a store nor empty (a replica directory's
     * replacement disk is empty). */
    int checked[CATALOG_MAX_DISKS];
    for (int d = 0; d < s->ndirs; d++) {
        checked[d] = store_dir_check(s->dirs[d]);
        if (checked[d] == SAMSA_ENOTSTORE || (checked[d] != 0 && d == 0))
            return checked[d];
    }
    for (int d = 0; d < s->ndirs; d++) {
        if (d > 0 && (opt->flags & SAMSA_OPEN_CREATE) && checked[d] == -ENOENT)
            (void)samsa__mkdir_p(s->dirs[d], 0755); /* else: down */
        snprintf(cpath[d], sizeof cpath[d], "%s/catalog", s->dirs[d]);
        paths[d] = cpath[d];
        struct stat st;
        if (d > 0 && stat(s->dirs[d], &st) != 0)
            continue; /* down until it comes back */
        int rc = store_disk_lock(s, d);
        if (rc == SAMSA_ELOCKED || (rc != 0 && d == 0))
            return rc;
        s->disk_up[d] = rc == 0;
        if (rc == 0)
            unfinished_create(s->dirs[d]);
    }
    s->lock_fd = s->dir_fd[0];
    int rc = catalog_open(&s->cat, paths, s->ndirs,
                          opt->catalog_map_bytes ? opt->catalog_map_bytes
                                                 : DEFAULT_CATALOG_MAP);
    uint32_t down = atomic_load(&s->cat.down);
    for (int d = 0; rc == 0 && d < s->ndirs; d++)
        if (down & (1u << d))
            s->disk_up[d] = false;
        else if (!s->disk_up[d])
            catalog_disk_down(&s->cat, d);
    /* LMDB syncs data.mdb's bytes, never the names: sync catalog/ (its
     * data.mdb, made or renamed into place by a rebuild) and the
     * directory (catalog/ itself), or a power cut could take the whole
     * catalog back, every topic with it, after a synced topic creation
     * (issue 10, found by check_powercut.c). */
    for (int d = 0; rc == 0 && d < s->ndirs; d++) {
        if (!s->disk_up[d])
            continue;
        int src = s->io->dirsync(s->io, cpath[d]);
        if (src == 0)
            src = s->io->dirsync(s->io, s->dirs[d]);
        if (src != 0 && d == 0)
            rc = samsa__from_errno(-src);
    }
    if (rc == 0)
        store_replica_env_init(s);
    return rc;
}

/* Open the services in order; on a failure the open fails and
 * samsa_close() closes those that opened. */
static int
services_open(samsa *s)
{
    for (const store_service *const *sv = s->services; *sv != NULL; sv++) {
        int rc = (*sv)->open != NULL ? (*sv)->open(s) : 0;
        if (rc != 0)
            return rc;
        s->services_open++;
    }
    return 0;
}

void
store_topic_deleted(samsa *s, const char *name, uint64_t id, bool locked)
{
    for (const store_service *const *sv = s->services; *sv != NULL; sv++) {
        void (*fn)(samsa *, const char *, uint64_t) =
            locked ? (*sv)->topic_deleted_locked : (*sv)->topic_deleted;
        if (fn != NULL)
            fn(s, name, id);
    }
}

int
store_open(const char *dir, const samsa_options *opt, samsa_io *io,
           const store_service *const *services, samsa **out)
{
    static const samsa_options defaults;
    if (dir == NULL || *dir == '\0' || out == NULL)
        return SAMSA_EINVAL;
    if (opt == NULL)
        opt = &defaults;
    int rc = options_check(opt);
    if (rc != 0)
        return rc;
    if (opt->flags & SAMSA_OPEN_CREATE) {
        rc = samsa__mkdir_p(dir, 0755);
        if (rc != 0)
            return samsa__from_errno(rc);
    }
    struct stat st;
    if (stat(dir, &st) != 0)
        return samsa__from_errno(errno);
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;

    samsa *s = calloc(1, sizeof *s);
    if (s == NULL || (s->dir = strdup(dir)) == NULL ||
        (s->buckets = calloc(16, sizeof *s->buckets)) == NULL) {
        if (s != NULL)
            free(s->dir);
        free(s);
        return SAMSA_ENOMEM;
    }
    s->nbuckets = 16;
    s->io = io;
    s->services = services;
    s->lock_fd = -1;
    s->sync =
        opt->sync == SAMSA_SYNC_ALWAYS ? SAMSA_SYNC_ALWAYS : SAMSA_SYNC_NONE;
    s->on_replica = opt->on_replica;
    s->on_replica_ctx = opt->on_replica_ctx;
    s->spin_ns = opt->spin_ns == 0    ? SAMSA_SPIN_NS_DEFAULT
                 : opt->spin_ns == -1 ? 0
                                      : opt->spin_ns;
    s->spin_adaptive = opt->spin_ns == 0;
    pthread_mutex_init(&s->save_lock, NULL);
    pthread_mutex_init(&s->repair_lock, NULL);
    pthread_rwlock_init(&s->table_lock, NULL);
    store_notify_init(s);
    for (int d = 0; d < CATALOG_MAX_DISKS; d++)
        s->dir_fd[d] = -1;
    s->rdonly = (opt->flags & SAMSA_OPEN_RDONLY) != 0;
    s->segs = segcache_new(store_open_cap(opt));
    rc = s->segs != NULL ? store_dirs_open(s, opt) : SAMSA_ENOMEM;
    /* Catalog commits skip the fsync when the store does not sync
     * (catalog_group.c says which still sync and why). */
    if (rc == 0 && s->sync == SAMSA_SYNC_NONE && !s->rdonly)
        rc = catalog_set_nosync(&s->cat);
    if (rc == 0)
        rc = catalog_topic_foreach(&s->cat, load_topic, s);
    if (rc == 0 && !s->rdonly)
        finish_pending(s);
    if (rc == 0)
        rc = services_open(s);
    if (rc == 0 && !s->rdonly)
        rc = flusher_start(s);
    if (rc != 0) {
        samsa_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

SAMSA_API int
samsa_close(samsa *s)
{
    if (s == NULL)
        return 0;
    int first = 0;
    store_close_gate(s);
    /* Consumers and receivers let go of their cursors before the topics'
     * logs close. */
    for (int i = 0; i < s->services_open; i++)
        if (s->services[i]->close != NULL)
            s->services[i]->close(s);
    flusher_stop(s);
    for (size_t b = 0; s->buckets != NULL && b < s->nbuckets; b++)
        for (topic *t = s->buckets[b], *next; t != NULL; t = next) {
            next = t->next;
            topic_close(s, t, &first);
        }
    if (s->syncs_started) /* after the logs: their closes sync */
        sync_pool_stop(&s->syncs);
    catalog_close(&s->cat);
    store_follow_forget(s);
    for (int d = 0; d < CATALOG_MAX_DISKS; d++)
        if (s->dir_fd[d] >= 0)
            close(s->dir_fd[d]); /* releases the flock */
    for (int d = 1; d < s->ndirs; d++)
        free(s->dirs[d]);
    segcache_free(s->segs); /* after the logs: their segments count here */
    pthread_rwlock_destroy(&s->table_lock);
    pthread_mutex_destroy(&s->save_lock);
    pthread_mutex_destroy(&s->repair_lock);
    store_notify_destroy(s);
    free(s->buckets);
    free(s->dir);
    free(s);
    return first;
}

SAMSA_API int
samsa_sync(samsa *s)
{
    if (s == NULL)
        return SAMSA_EINVAL;
    if (s->rdonly)
        return SAMSA_ERDONLY;
    return store_sync_all(s, true);
}
