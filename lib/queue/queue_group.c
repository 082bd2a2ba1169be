/*
 * queue_group.c - share groups of a store: finding or loading a group,
 * receivers joining and leaving it, and what samsa_close() does to both.
 *
 * A group is loaded the first time a receiver (or a sender's wait) names it
 * in an open store: each of its share-partitions loads its snapshot and
 * replays its journal (queue_state.c).  It then stays loaded, with or
 * without receivers, until samsa_close(), which checkpoints every
 * share-partition (a clean close leaves empty journals) and frees it.
 * Groups are keyed by (name, topic id): a topic deleted and created again
 * under the same name is a new topic, whose group starts afresh.
 *
 * Deleting the topic drops its groups' snapshots in the catalog commit
 * that removes it, then (queue_topic_deleted) frees their windows and
 * removes their journal files, with their copies on every directory that
 * is up; a group that still has receivers stays, marked deleted, until
 * the last one closes, and their calls get SAMSA_EDELETED.  Journals and
 * snapshots of topics that no longer exist (a crash after the commit, or
 * a directory down at the delete) are removed at the next open.
 *
 * A group's config comes from its first receiver (or the defaults); a
 * later receiver passing another config gets SAMSA_ECONFLICT, so receivers
 * never disagree on lock duration or attempts.  The config is not saved:
 * after reopening, the first receiver sets it again.
 */
#include <assert.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue.h"

static void
group_free(samsa *s, qgroup *g, bool checkpoint)
{
    for (int32_t p = 0; g->parts != NULL && p < g->nparts; p++) {
        qpart *qp = &g->parts[p];
        if (checkpoint && qp->jmap != NULL)
            (void)qstate_checkpoint(s, g, qp); /* else the journal has it */
        qstate_close(s, qp);
        if (qp->part != NULL) {
            partition_unref(qp->part);
            pthread_mutex_destroy(&qp->lock);
        }
    }
    free(g->parts);
    free(g->name);
    free(g->topic);
    free(g->dlq);
    free(g);
}

/* Load group (name, topic t) from the catalog and the journals. */
static int
group_load(samsa *s, const char *name, topic *t, qgroup **out)
{
    qgroup *g = calloc(1, sizeof *g);
    if (g == NULL)
        return SAMSA_ENOMEM;
    g->name = strdup(name);
    g->topic = strdup(t->name);
    g->topic_id = t->id;
    g->nparts = t->cfg.partitions;
    g->parts = calloc((size_t)g->nparts, sizeof *g->parts);
    g->cfg.lock_ms = 30000;
    g->cfg.max_attempts = 5;
    int rc = g->name == NULL || g->topic == NULL || g->parts == NULL
                 ? SAMSA_ENOMEM
                 : 0;
    for (int32_t p = 0; rc == 0 && p < g->nparts; p++) {
        qpart *qp = &g->parts[p];
        qp->partition = p;
        qp->part = t->parts[p];
        partition_ref(qp->part);
        qp->log = qp->part->log;
        pthread_mutex_init(&qp->lock, NULL);
        rc = qstate_open(s, g, qp, atomic_load(&qp->log->start));
    }
    if (rc != 0) {
        group_free(s, g, false);
        return rc;
    }
    *out = g;
    return 0;
}

int
queue_group_get(samsa *s, const char *name, const char *topic_name,
                qgroup **out)
{
    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    topic *t;
    int rc = topic_lookup(s, topic_name, 0, false, &t);
    qgroup *g = NULL;
    if (rc == 0) {
        for (g = s->qgroups; g != NULL; g = g->next)
            if (g->topic_id == t->id && strcmp(g->name, name) == 0)
                break;
        if (g == NULL && (rc = group_load(s, name, t, &g)) == 0) {
            g->next = s->qgroups;
            s->qgroups = g;
        }
    }
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    if (rc == 0)
        *out = g;
    return rc;
}

/* Fill in cfg's defaults and check it. */
static int
config_resolve(const samsa_queue_config *in, samsa_queue_config *out)
{
    static const samsa_queue_config zero;
    *out = in != NULL ? *in : zero;
    if (!SAMSA_RESERVED_ZERO(out->reserved))
        return SAMSA_EINVAL;
    if (out->lock_ms == 0)
        out->lock_ms = 30000;
    if (out->max_attempts == 0)
        out->max_attempts = 5;
    if (out->lock_ms < 1 || out->lock_ms > 3600000 || out->max_attempts < 1 ||
        out->max_attempts > 1000 ||
        (out->dead_letter_topic != NULL &&
         !topic_name_valid(out->dead_letter_topic)))
        return SAMSA_EINVAL;
    return 0;
}

static bool
config_same(const samsa_queue_config *a, const qgroup *g)
{
    const char *d = a->dead_letter_topic;
    return a->lock_ms == g->cfg.lock_ms &&
           a->max_attempts == g->cfg.max_attempts &&
           (d == NULL ? g->dlq == NULL : g->dlq != NULL && !strcmp(d, g->dlq));
}

/* Join g (queue_lock held) with config cfg (NULL: the group's). */
static int
group_join(qgroup *g, const samsa_queue_config *in,
           const samsa_queue_config *cfg, samsa_queue *q)
{
    if (in != NULL && g->cfg_set && !config_same(cfg, g))
        return SAMSA_ECONFLICT;
    if (!g->cfg_set) {
        char *dlq = NULL;
        if (cfg->dead_letter_topic != NULL &&
            (dlq = strdup(cfg->dead_letter_topic)) == NULL)
            return SAMSA_ENOMEM;
        g->cfg = *cfg;
        g->dlq = dlq;
        g->cfg.dead_letter_topic = dlq;
        g->cfg_set = true;
    }
    q->g = g;
    q->id = ++g->next_id;
    q->rr = (int32_t)(q->id % (uint32_t)g->nparts);
    q->next = g->receivers;
    g->receivers = q;
    return 0;
}

SAMSA_API int
samsa_queue_open(samsa *s, const char *group, const char *tname,
                 const samsa_queue_config *cfg, samsa_queue **out)
{
    samsa_queue_config c;
    if (s == NULL || out == NULL || !topic_name_valid(group) ||
        !topic_name_valid(tname))
        return SAMSA_EINVAL;
    if (s->rdonly)
        return SAMSA_ERDONLY;
    int rc = config_resolve(cfg, &c);
    if (rc != 0)
        return rc;
    samsa_queue *q = calloc(1, sizeof *q);
    if (q == NULL)
        return SAMSA_ENOMEM;
    q->s = s;
    pthread_mutex_init(&q->lock, NULL);
    pthread_mutex_init(&q->wake_lock, NULL);
    if ((rc = store_enter(s)) != 0) {
        pthread_mutex_destroy(&q->lock);
        pthread_mutex_destroy(&q->wake_lock);
        free(q);
        return rc;
    }
    samsa__lock(&s->queue_lock, SAMSA_RANK_QUEUES);
    qgroup *g = NULL;
    rc = queue_group_get(s, group, tname, &g);
    if (rc == 0 &&
        (q->cursors = calloc((size_t)g->nparts, sizeof *q->cursors)) == NULL)
        rc = SAMSA_ENOMEM;
    if (rc == 0)
        rc = group_join(g, cfg, &c, q);
    samsa__unlock(&s->queue_lock, SAMSA_RANK_QUEUES);
    store_leave(s);
    if (rc != 0) {
        free(q->cursors);
        pthread_mutex_destroy(&q->lock);
        pthread_mutex_destroy(&q->wake_lock);
        free(q);
        return rc;
    }
    *out = q;
    return 0;
}

/* Close q's cursors and free it (its lock is not held). */
static void
receiver_free(samsa_queue *q, int32_t nparts)
{
    for (int32_t p = 0; q->cursors != NULL && p < nparts; p++)
        samsa_cursor_close(q->cursors[p]);
    free(q->cursors);
    q->cursors = NULL;
}

/* Unlink g (queue_lock held) from the store's list and free it. */
static void
group_unlink_free(samsa *s, qgroup *g)
{
    qgroup **pg = &s->qgroups;
    while (*pg != g)
        pg = &(*pg)->next;
    *pg = g->next;
    group_free(s, g, false);
}

SAMSA_API int
samsa_queue_close(samsa_queue *q)
{
    if (q == NULL)
        return 0;
    for (;;) {
        samsa__lock(&q->lock, SAMSA_RANK_RECEIVER);
        if (q->detached)
            break;
        if (store_enter(q->s) == 0) {
            samsa *s = q->s;
            qgroup *g = q->g;
            for (int32_t p = 0; p < g->nparts; p++) {
                samsa__lock_nth(&g->parts[p].lock, SAMSA_RANK_QPART, p);
                queue_release_all(q, &g->parts[p]);
                samsa__unlock_nth(&g->parts[p].lock, SAMSA_RANK_QPART, p);
            }
            store_notify(s);
            receiver_free(q, g->nparts);
            samsa__lock(&s->queue_lock, SAMSA_RANK_QUEUES);
            samsa_queue **pp = &g->receivers;
            while (*pp != q)
                pp = &(*pp)->next;
            *pp = q->next;
            if (g->deleted && g->receivers == NULL)
                group_unlink_free(s, g); /* its topic's last receiver */
            samsa__unlock(&s->queue_lock, SAMSA_RANK_QUEUES);
            store_leave(s);
            break;
        }
        /* samsa_close() has begun and will detach q: wait for it, since
         * it walks the list q is still on. */
        samsa__unlock(&q->lock, SAMSA_RANK_RECEIVER);
        usleep(1000);
    }
    samsa__unlock(&q->lock, SAMSA_RANK_RECEIVER);
    queue_arena_free(q);
    pthread_mutex_destroy(&q->lock);
    pthread_mutex_destroy(&q->wake_lock);
    free(q);
    return 0;
}

/* The share groups as a service of the store (store.h): the receivers'
 * registry and the acknowledgement waits come and go with the store, and
 * journals of topics gone are removed at open. */
static int
queue_service_open(samsa *s)
{
    pthread_mutex_init(&s->queue_lock, NULL);
    ackwait_init(s);
    if (s->acks == NULL) {
        pthread_mutex_destroy(&s->queue_lock);
        return SAMSA_ENOMEM;
    }
    if (!s->rdonly) /* read-only: changes nothing */
        queue_remove_strays(s);
    return 0;
}

static void
queue_service_close(samsa *s)
{
    queue_store_close(s);
    ackwait_destroy(s);
    pthread_mutex_destroy(&s->queue_lock);
}

static void
queue_service_deleted_locked(samsa *s, const char *name, uint64_t id)
{
    (void)id;
    ackwait_topic_deleted(s, name); /* waits learn at once */
}

static void
queue_service_deleted(samsa *s, const char *name, uint64_t id)
{
    (void)name;
    queue_topic_deleted(s, id); /* takes queue_lock: not under table_lock */
}

const store_service queue_service = {
    .open = queue_service_open,
    .close = queue_service_close,
    .topic_deleted_locked = queue_service_deleted_locked,
    .topic_deleted = queue_service_deleted,
};

void
queue_store_close(samsa *s)
{
    /* The gate has drained: no call is inside, none can enter, so the
     * lists are walked without queue_lock (taking it here, before the
     * receivers' locks, would invert the order calls take them in). */
    for (qgroup *g = s->qgroups, *next; g != NULL; g = next) {
        next = g->next;
        for (samsa_queue *q = g->receivers; q != NULL; q = q->next) {
            samsa__lock(&q->lock, SAMSA_RANK_RECEIVER);
            receiver_free(q, g->nparts);
            q->detached = true;
            samsa__lock(&q->wake_lock, SAMSA_RANK_WAKE);
            q->gone = true; /* the store is freed after this */
            samsa__unlock(&q->wake_lock, SAMSA_RANK_WAKE);
            samsa__unlock(&q->lock, SAMSA_RANK_RECEIVER);
        }
        group_free(s, g, true);
    }
    s->qgroups = NULL;
}

/* Remove the journal files (ROOT/queues/GROUP/ID-P.journal) of the topic
 * ids dead() says are gone, and the group directories that leaves empty.
 * Only files with a journal header samsa wrote go: a name that looks like
 * a journal's proves nothing.  (A journal whose header a crash left
 * unwritten, a fresh file's zeros, stays: a leak, never a loss.) */
static void
remove_journals_in(samsa *s, const char *root, catalog_drop_fn dead, void *ctx)
{
    char path[4096], gdir[4096 + 256], file[4096 + 512];
    snprintf(path, sizeof path, "%s/queues", root);
    DIR *d = opendir(path);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(gdir, sizeof gdir, "%s/%s", path, e->d_name);
        DIR *gd = opendir(gdir);
        if (gd == NULL)
            continue;
        bool removed = false;
        struct dirent *f;
        while ((f = readdir(gd)) != NULL) {
            char *dash, *end;
            unsigned long long id = strtoull(f->d_name, &dash, 10);
            if (dash == f->d_name || *dash != '-' || dash[1] < '0' ||
                dash[1] > '9')
                continue;
            (void)strtol(dash + 1, &end, 10);
            if (strcmp(end, ".journal") != 0 || !dead((uint64_t)id, ctx))
                continue;
            snprintf(file, sizeof file, "%s/%s", gdir, f->d_name);
            if (!qstate_is_journal(file))
                continue; /* not proven samsa's: left alone */
            s->io->unlink(s->io, file);
            removed = true;
        }
        closedir(gd);
        if (removed)
            s->io->rmdir(s->io, gdir); /* fails while others remain */
    }
    closedir(d);
}

/* The same on every directory the catalog has up (the journal and its
 * copies, queue_state.c; the down mask is atomic, as table_lock may not be
 * held); one that is down has its strays removed at a later open. */
static void
remove_journals(samsa *s, catalog_drop_fn dead, void *ctx)
{
    uint32_t down = atomic_load(&s->cat.down);
    for (int d = 0; d < s->ndirs; d++)
        if (!(down & (1u << d)))
            remove_journals_in(s, s->dirs[d], dead, ctx);
}

void
queue_topic_deleted(samsa *s, uint64_t id)
{
    samsa__lock(&s->queue_lock, SAMSA_RANK_QUEUES);
    for (qgroup *g = s->qgroups, *next; g != NULL; g = next) {
        next = g->next;
        if (g->topic_id != id)
            continue;
        for (int32_t p = 0; p < g->nparts; p++) {
            qpart *qp = &g->parts[p];
            samsa__lock_nth(&qp->lock, SAMSA_RANK_QPART, qp->partition);
            assert(QPART_DELETED(qp));
            qstate_close(s, qp); /* no checkpoint: the snapshot is gone */
            qp->start = qp->next = qp->navail = 0;
            qp->cap = 0;
            atomic_store(&qp->expiry, INT64_MAX);
            samsa__unlock_nth(&qp->lock, SAMSA_RANK_QPART, qp->partition);
        }
        g->deleted = true;
        if (g->receivers == NULL)
            group_unlink_free(s, g);
    }
    /* Every group's, loaded or not. */
    remove_journals(s, catalog_id_is, &id);
    samsa__unlock(&s->queue_lock, SAMSA_RANK_QUEUES);
}

void
queue_remove_strays(samsa *s)
{
    /* Best effort, as remove_strays(): what stays is found next time. */
    (void)catalog_queue_drop_strays(&s->cat, store_topic_id_gone, s);
    remove_journals(s, store_topic_id_gone, s);
}

/* The outcome a sender learns for a finished record's state. */
static int
outcome_of(uint8_t state)
{
    return state == QS_ACCEPTED   ? SAMSA_ACK_ACCEPT
           : state == QS_REJECTED ? SAMSA_ACK_REJECT
                                  : SAMSA_ACK_ARCHIVED;
}

int
queue_record_outcome(samsa *s, const char *group, const char *tname,
                     int32_t partition, int64_t offset, samsa_ack_info *info)
{
    /* queue_lock held throughout: a deleted group may be freed under it. */
    samsa__lock(&s->queue_lock, SAMSA_RANK_QUEUES);
    qgroup *g;
    int rc = queue_group_get(s, group, tname, &g);
    if (rc == 0 && (partition < 0 || partition >= g->nparts))
        rc = SAMSA_ENOPARTITION;
    if (rc != 0) {
        samsa__unlock(&s->queue_lock, SAMSA_RANK_QUEUES);
        return rc;
    }
    qpart *qp = &g->parts[partition];
    samsa__lock_nth(&qp->lock, SAMSA_RANK_QPART, qp->partition);
    uint8_t state;
    uint16_t count;
    info->outcome = 0;
    if (QPART_DELETED(qp))
        rc = SAMSA_EDELETED;
    else if (offset >= atomic_load(&qp->log->end))
        rc = SAMSA_EOFFSET;
    else if ((rc = qstate_outcome(qp, offset, &state, &count)) == 0) {
        info->outcome = outcome_of(state);
        info->delivery_count = count;
    } else if (rc == 1 && offset < atomic_load(&qp->log->start))
        rc = SAMSA_EFORGOTTEN; /* deleted unfinished, the window not yet
                                  moved past it (qstate_skip_deleted) */
    else if (rc == 1)
        rc = 0; /* not finished yet */
    samsa__unlock_nth(&qp->lock, SAMSA_RANK_QPART, qp->partition);
    samsa__unlock(&s->queue_lock, SAMSA_RANK_QUEUES);
    return rc;
}

int
queue_list_names(samsa *s, char ***names, size_t *n)
{
    /* Saved state (snapshots), journals (a group that never snapshotted:
     * DIR/queues/GROUP/), and groups loaded now. */
    int rc = catalog_group_list(&s->cat, true, names, n);
    char path[4096];
    snprintf(path, sizeof path, "%s/queues", s->dir);
    DIR *d = rc == 0 ? opendir(path) : NULL;
    for (struct dirent *e; d != NULL && rc == 0 && (e = readdir(d)) != NULL;)
        if (topic_name_valid(e->d_name))
            rc = catalog_names_add(names, n, e->d_name, strlen(e->d_name));
    if (d != NULL)
        closedir(d);
    samsa__lock(&s->queue_lock, SAMSA_RANK_QUEUES);
    for (qgroup *g = s->qgroups; rc == 0 && g != NULL; g = g->next)
        rc = catalog_names_add(names, n, g->name, strlen(g->name));
    samsa__unlock(&s->queue_lock, SAMSA_RANK_QUEUES);
    return rc;
}
