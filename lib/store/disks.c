/*
 * disks.c - the store's directories: the primary one and the replica
 * directories, each meant to be its own device.
 *
 * Each directory has a lock file, flock()ed for as long as the store is
 * open, whose device and inode numbers are the directory's identity: a
 * directory that was removed (or removed and made again) no longer holds
 * that inode, which is how a vanished disk is told from a working one even
 * though writes to files already open there still succeed.
 *
 * The repair pass (store_replica_pass, run by the flusher about once a
 * second and by samsa_replica_catchup): a directory that vanished, or whose
 * catalog missed a write, goes down and every copy on it leaves the
 * in-sync set; a directory that is back (it exists again, even empty) gets
 * a fresh lock file and a copy of a healthy catalog and comes up; then
 * every out copy on a directory that is up is rebuilt (replica.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

int
store_disk_lock(samsa *s, int d)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/lock", s->dirs[d]);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return samsa__from_errno(errno);
    struct stat st;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        close(fd);
        return err == EWOULDBLOCK ? SAMSA_ELOCKED : samsa__from_errno(err);
    }
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return samsa__from_errno(err);
    }
    if (s->dir_fd[d] >= 0)
        close(s->dir_fd[d]);
    s->dir_fd[d] = fd;
    s->dir_ino[d] = (uint64_t)st.st_ino;
    s->dir_dev[d] = (uint64_t)st.st_dev;
    return 0;
}

bool
store_disk_alive(samsa *s, int d)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/lock", s->dirs[d]);
    return stat(path, &st) == 0 && (uint64_t)st.st_ino == s->dir_ino[d] &&
           (uint64_t)st.st_dev == s->dir_dev[d];
}

static bool
env_disk_alive(const replica_env *env, int d)
{
    return store_disk_alive(env->owner, d);
}

void
store_replica_env_init(samsa *s)
{
    /* One worker per directory but the caller's: a sync of every copy
     * runs whole in parallel, whatever else is syncing. */
    if (s->ndirs > 1 && !s->syncs_started) {
        sync_pool_start(&s->syncs, s->ndirs - 1);
        s->syncs_started = true;
    }
    s->renv = (replica_env){
        .io = s->io,
        .cat = &s->cat,
        .ndirs = s->ndirs,
        .dirs = s->dirs,
        .disk_up = s->disk_up,
        .disk_alive = env_disk_alive,
        .owner = s,
        .on_replica = s->on_replica,
        .on_replica_ctx = s->on_replica_ctx,
        .syncs = s->syncs_started ? &s->syncs : NULL,
    };
}

/* Call fn on every partition's replica set (table_lock held). */
static void
each_rset(samsa *s, void (*fn)(rset *rs, void *ctx), void *ctx)
{
    for (size_t b = 0; b < s->nbuckets; b++)
        for (topic *t = s->buckets[b]; t != NULL; t = t->next)
            for (int32_t p = 0; p < t->cfg.partitions; p++)
                fn(t->parts[p]->rs, ctx);
}

static void
down_one(rset *rs, void *ctx)
{
    rset_disk_down(rs, *(int *)ctx, -ENOENT);
}

/* A down directory that exists again: lock it and give it a catalog. */
static void
revive(samsa *s, int d)
{
    struct stat st;
    if (stat(s->dirs[d], &st) != 0 || !S_ISDIR(st.st_mode) ||
        store_dir_check(s->dirs[d]) != 0)
        return; /* not a store nor empty: samsa writes nothing there */
    if (store_disk_lock(s, d) == 0 && catalog_disk_rebuild(&s->cat, d) == 0)
        s->disk_up[d] = true;
}

typedef struct pass {
    int rejoined; /* copies that rejoined         */
    int first;    /* the first error              */
} pass;

static void
catch_one(rset *rs, void *ctx)
{
    pass *ps = ctx;
    for (int i = 0; i < rs->n; i++) {
        samsa__lock(&rs->lock, SAMSA_RANK_RSET);
        bool out = !rs->copy[i].insync;
        samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
        if (!out || rs->copy[i].disk < 0 || !rs->env->disk_up[rs->copy[i].disk])
            continue;
        int rc = rset_catchup(rs, i);
        if (rc == 0)
            ps->rejoined++;
        else if (ps->first == 0)
            ps->first = rc;
    }
}

/* Has a directory gone, or one that is down come back?  (repair_lock held:
 * disk_up changes only under it.) */
static bool
disks_changed(samsa *s)
{
    uint32_t down = atomic_load(&s->cat.down);
    struct stat st;
    for (int d = 0; d < s->ndirs; d++)
        if (s->disk_up[d] ? (down & (1u << d)) || !store_disk_alive(s, d)
                          : stat(s->dirs[d], &st) == 0)
            return true;
    return false;
}

int
store_replica_pass(samsa *s, int *rejoined)
{
    pass ps = {0, 0};
    if (s->ndirs > 1) {
        samsa__lock(&s->repair_lock, SAMSA_RANK_REPAIR);
        if (!disks_changed(s))
            goto catch_up; /* the usual case: no write lock on the table */
        /* disk_up changes with the table locked for writing, so code that
         * holds it for reading (topic create, status) sees it steady. */
        samsa__wrlock(&s->table_lock, SAMSA_RANK_TABLE);
        uint32_t down = atomic_load(&s->cat.down);
        for (int d = 0; d < s->ndirs; d++) {
            if (s->disk_up[d] &&
                ((down & (1u << d)) || !store_disk_alive(s, d))) {
                s->disk_up[d] = false;
                catalog_disk_down(&s->cat, d);
                each_rset(s, down_one, &d);
            }
            if (!s->disk_up[d])
                revive(s, d);
        }
        samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    catch_up:
        samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
        each_rset(s, catch_one, &ps);
        samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
        samsa__unlock(&s->repair_lock, SAMSA_RANK_REPAIR);
    }
    if (rejoined != NULL)
        *rejoined = ps.rejoined;
    return ps.first;
}

void
samsa__replica_pause(samsa *s, bool paused)
{
    atomic_store(&s->repair_paused, paused);
}

/* ---- the public calls: copies and scrubbing, topic by topic ------------ */

SAMSA_API int
samsa_replica_status(samsa *s, const char *topic_name, int32_t partition,
                     samsa_replica_info *copies, size_t max, size_t *n)
{
    if (s == NULL || n == NULL || (copies == NULL && max > 0))
        return SAMSA_EINVAL;
    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    topic *t;
    int rc = topic_lookup(s, topic_name, partition, false, &t);
    if (rc == 0 && s->rdonly)
        rc = store_follow_copies(s, t, partition, copies, max, n);
    else if (rc == 0) {
        rset *rs = t->parts[partition]->rs;
        samsa__lock(&rs->lock, SAMSA_RANK_RSET);
        *n = (size_t)rs->n;
        for (int i = 0; i < rs->n && (size_t)i < max; i++)
            copies[i] = (samsa_replica_info){
                .dir = rs->copy[i].disk,
                .state = rs->copy[i].insync ? SAMSA_REPLICA_INSYNC
                                            : SAMSA_REPLICA_OUT,
                .leader = i == rs->leader,
                .reason = rs->copy[i].reason,
                .since = rs->copy[i].since,
            };
        samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
    }
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    return rc;
}

SAMSA_API int
samsa_replica_catchup(samsa *s, size_t *rejoined)
{
    if (s == NULL)
        return SAMSA_EINVAL;
    if (s->rdonly)
        return SAMSA_ERDONLY;
    int r = 0;
    int rc = store_replica_pass(s, &r);
    if (rejoined != NULL)
        *rejoined = (size_t)r;
    return rc;
}

SAMSA_API int
samsa_scrub(samsa *s, const char *topic_name, samsa_scrub_report *rep)
{
    samsa_scrub_report r;
    memset(&r, 0, sizeof r);
    if (s == NULL || (topic_name != NULL && !topic_name_valid(topic_name)))
        return SAMSA_EINVAL;
    if (s->rdonly)
        return SAMSA_ERDONLY;
    int first = 0;
    samsa__lock(&s->repair_lock, SAMSA_RANK_REPAIR);
    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    if (topic_name != NULL && store_topic_find(s, topic_name) == NULL)
        first = SAMSA_ENOTOPIC;
    for (size_t b = 0; first != SAMSA_ENOTOPIC && b < s->nbuckets; b++)
        for (topic *t = s->buckets[b]; t != NULL; t = t->next) {
            if (topic_name != NULL && strcmp(t->name, topic_name) != 0)
                continue;
            for (int32_t p = 0; p < t->cfg.partitions; p++) {
                int rc = rset_scrub(t->parts[p]->rs, &r, true);
                if (first == 0 || first == SAMSA_ECORRUPT)
                    first = rc != 0 ? rc : first;
            }
        }
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    samsa__unlock(&s->repair_lock, SAMSA_RANK_REPAIR);
    if (rep != NULL)
        *rep = r;
    return first != 0 ? first : r.unrepairable > 0 ? SAMSA_ECORRUPT : 0;
}
