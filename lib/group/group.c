/*
 * group.c - consumer groups in memory: membership, the assignment, session
 * timeouts, and detaching every consumer when the store closes.
 *
 * A group exists while at least one consumer names it (refs); its committed
 * offsets are in the catalog and outlive it (catalog_group.c).  All of a
 * group's state is under its own lock, so groups never contend with each
 * other, and members of one group meet only when the assignment changes or
 * they commit.
 *
 * The assignment has two layers per partition (gtopic):
 *
 *   target  who the assignor wants to have it (recomputed on every join,
 *           leave, expiry and topic change, which bumps `generation`);
 *   owner   who has it now.
 *
 * A member notices a new generation at its next call and reconciles in its
 * own thread (consumer.c): it lets go of the partitions whose target is
 * another member (telling the application first, while it still owns them,
 * so that it can commit), then takes those whose target is itself and whose
 * owner is NULL.  So owner never names two members: a partition moves only
 * after its old owner released it, as in Kafka's cooperative protocol.
 * Release wakes pollers (store_notify), so the new owner takes it at once.
 *
 * Session timeout.  Each call of a member stores a coarse timestamp
 * (heartbeat); a member blocked in poll refreshes it at least every third
 * of its timeout.  The other members look every third of their own timeout;
 * one whose heartbeat is older than its timeout is expelled: taken out of
 * the member list, its partitions' owner cleared, the group rebalanced.  Its
 * next call finds `expelled`, reports its partitions LOST (a commit for them
 * is refused: their owner is no longer this member) and joins again.
 *
 * What survives a crash: nothing of this file; only committed offsets.
 * After a restart members join afresh and start from those.
 *
 * Closing.  samsa_close() calls group_store_close() once store_close_gate()
 * has drained every call: each consumer still open is detached under its
 * own lock (its cursors closed), and the groups are freed.  A detached
 * consumer's calls return SAMSA_ECLOSED and samsa_consumer_close() only
 * frees its memory.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "group.h"

/* ---- the registry -------------------------------------------------------- */

const store_service group_service = {
    .open = group_store_init,
    .close = group_store_close,
};

int
group_store_init(samsa *s)
{
    group_registry *r = calloc(1, sizeof *r);
    if (r == NULL)
        return SAMSA_ENOMEM;
    pthread_mutex_init(&r->lock, NULL);
    s->groups = r;
    /* Offsets left under removed topics' ids (catalog_group.c): best
     * effort, what stays is found at the next open. */
    if (!s->rdonly)
        (void)catalog_group_drop_strays(&s->cat, store_topic_id_gone, s);
    return 0;
}

static void
topics_free(gtopic *ts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ts[i].name);
        free(ts[i].target);
        free(ts[i].owner);
    }
    free(ts);
}

static void
group_free(group *g)
{
    topics_free(g->topics, g->ntopics);
    pthread_mutex_destroy(&g->lock);
    free(g->name);
    free(g);
}

void
group_store_close(samsa *s)
{
    group_registry *r = s->groups;
    if (r == NULL)
        return;
    samsa__lock(&r->lock, SAMSA_RANK_GROUPS);
    for (samsa_consumer *c = r->consumers, *next; c != NULL; c = next) {
        next = c->reg_next; /* c may be freed once its lock is let go */
        samsa__lock(&c->lock, SAMSA_RANK_CONSUMER);
        consumer_drop_all(c);
        c->detached = true;
        c->reg_next = NULL;
        pthread_cond_broadcast(&c->detach_cond);
        samsa__unlock(&c->lock, SAMSA_RANK_CONSUMER);
    }
    for (group *g = r->groups, *next; g != NULL; g = next) {
        next = g->next;
        group_free(g);
    }
    samsa__unlock(&r->lock, SAMSA_RANK_GROUPS);
    pthread_mutex_destroy(&r->lock);
    free(r);
    s->groups = NULL;
}

/* ---- subscriptions and topics -------------------------------------------- */

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
subscribes(const samsa_consumer *c, const char *name)
{
    if (c->ntopics > 0 &&
        bsearch(&name, c->topics, c->ntopics, sizeof *c->topics, name_cmp))
        return true;
    return c->has_re && regexec(&c->re, name, 0, NULL, 0) == 0;
}

static int
gtopic_cmp(const void *a, const void *b)
{
    return strcmp(((const gtopic *)a)->name, ((const gtopic *)b)->name);
}

gtopic *
group_topic_find(group *g, const char *name, uint64_t id)
{
    if (g->ntopics == 0)
        return NULL;
    gtopic key = {.name = (char *)name};
    gtopic *t = bsearch(&key, g->topics, g->ntopics, sizeof key, gtopic_cmp);
    return t != NULL && t->id == id ? t : NULL;
}

/* Does a member still own a partition of t (it has not let go yet)? */
static bool
gtopic_owned(const gtopic *t)
{
    for (int32_t p = 0; t != NULL && p < t->partitions; p++)
        if (t->owner[p] != NULL)
            return true;
    return false;
}

/* Make t's arrays hold t->partitions entries, the ones from was on NULL. */
static int
gtopic_grow(gtopic *t, int32_t was)
{
    size_t np = (size_t)t->partitions, from = (size_t)was;
    samsa_consumer **tg = realloc(t->target, np * sizeof *tg);
    if (tg != NULL)
        t->target = tg;
    samsa_consumer **ow =
        tg == NULL ? NULL : realloc(t->owner, np * sizeof *ow);
    if (ow != NULL)
        t->owner = ow;
    if (ow == NULL)
        return SAMSA_ENOMEM;
    for (size_t p = from; p < np; p++)
        t->target[p] = t->owner[p] = NULL;
    return 0;
}

/* The topics of the store some member subscribes, keeping the target and
 * owner arrays of those the group had already (same name and id).  A
 * topic no member subscribes any more stays while a member still owns a
 * partition of it, with no target: that member revokes it (commit and
 * callback, not "lost"), and no other member can take it meanwhile. */
static int
topics_rebuild(samsa *s, group *g)
{
    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    uint64_t changes = atomic_load(&s->topic_changes);
    gtopic *ts = calloc(s->ntopics + 1, sizeof *ts);
    size_t n = 0;
    int rc = ts == NULL ? SAMSA_ENOMEM : 0;
    for (size_t b = 0; rc == 0 && b < s->nbuckets; b++)
        for (topic *t = s->buckets[b]; rc == 0 && t != NULL; t = t->next) {
            bool wanted = gtopic_owned(group_topic_find(g, t->name, t->id));
            for (samsa_consumer *m = g->members; m && !wanted;
                 m = m->member_next)
                wanted = subscribes(m, t->name);
            if (!wanted)
                continue;
            gtopic *nt = &ts[n++];
            nt->name = strdup(t->name);
            nt->id = t->id;
            nt->partitions = t->cfg.partitions;
            gtopic *old = group_topic_find(g, t->name, t->id);
            if (old != NULL) { /* move its arrays over */
                nt->target = old->target;
                nt->owner = old->owner;
                old->target = old->owner = NULL;
                /* samsa_topic_add_partitions grew it: room for the new
                 * partitions, unassigned and unowned. */
                if (rc == 0 && old->partitions < nt->partitions)
                    rc = gtopic_grow(nt, old->partitions);
            } else {
                size_t np = (size_t)nt->partitions;
                nt->target = calloc(np, sizeof *nt->target);
                nt->owner = calloc(np, sizeof *nt->owner);
            }
            if (nt->name == NULL || nt->target == NULL || nt->owner == NULL)
                rc = SAMSA_ENOMEM;
        }
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    if (rc != 0) { /* give the moved arrays back before freeing */
        for (size_t i = 0; ts != NULL && i < n; i++) {
            gtopic *old =
                group_topic_find(g, ts[i].name ? ts[i].name : "", ts[i].id);
            if (old != NULL && old->target == NULL) {
                old->target = ts[i].target;
                old->owner = ts[i].owner;
                ts[i].target = NULL;
                ts[i].owner = NULL;
            }
        }
        if (ts != NULL)
            topics_free(ts, n);
        return rc;
    }
    qsort(ts, n, sizeof *ts, gtopic_cmp);
    topics_free(g->topics, g->ntopics);
    g->topics = ts;
    g->ntopics = n;
    g->topic_changes = changes;
    return 0;
}

/* ---- the assignment ------------------------------------------------------ */

static int
member_index(samsa_consumer **ms, size_t n, const samsa_consumer *c)
{
    for (size_t i = 0; c != NULL && i < n; i++)
        if (ms[i] == c)
            return (int)i;
    return -1;
}

static int
assign(group *g)
{
    size_t nm = g->nmembers, nt = g->ntopics, np = 0;
    for (size_t t = 0; t < nt; t++)
        np += (size_t)g->topics[t].partitions;
    samsa_consumer **ms = calloc(nm + 1, sizeof *ms);
    bool *el = calloc(nm * nt + 1, sizeof *el);
    int32_t *parts = calloc(nt + 1, sizeof *parts);
    int32_t **prev = calloc(nt + 1, sizeof *prev);
    int32_t **out = calloc(nt + 1, sizeof *out);
    int32_t *cells = calloc(2 * np + 1, sizeof *cells);
    int rc = ms && el && parts && prev && out && cells ? 0 : SAMSA_ENOMEM;
    if (rc == 0) {
        size_t i = 0;
        for (samsa_consumer *m = g->members; m != NULL; m = m->member_next)
            ms[i++] = m;
        int32_t *cell = cells;
        for (size_t t = 0; t < nt; t++) {
            gtopic *gt = &g->topics[t];
            parts[t] = gt->partitions;
            prev[t] = cell;
            out[t] = cell + gt->partitions;
            cell += 2 * gt->partitions;
            for (int32_t p = 0; p < gt->partitions; p++)
                prev[t][p] = member_index(ms, nm, gt->target[p]);
            for (size_t m = 0; m < nm; m++)
                el[m * nt + t] = subscribes(ms[m], gt->name);
        }
        assign_input in = {nm, nt, parts, el, (const int32_t *const *)prev};
        assign_compute(g->assignor, &in, out);
        for (size_t t = 0; t < nt; t++)
            for (int32_t p = 0; p < g->topics[t].partitions; p++)
                g->topics[t].target[p] = out[t][p] >= 0 ? ms[out[t][p]] : NULL;
    }
    free(ms);
    free(el);
    free(parts);
    free(prev);
    free(out);
    free(cells);
    return rc;
}

void
group_rebalance_locked(samsa *s, group *g)
{
    /* Out of memory keeps the previous assignment (owners are still
     * exclusive), and every member tries again at its next poll: a
     * topic_changes that the store's counter never reaches makes
     * consumer_rebalance() call this again, and the generation bump sends
     * every member there.  Waiting for the next change instead left a
     * consumer that joined an otherwise quiet group without partitions
     * for good (its polls timed out). */
    if (topics_rebuild(s, g) != 0 || assign(g) != 0)
        g->topic_changes = UINT64_MAX;
    atomic_fetch_add(&g->generation, 1);
    store_notify(s);
}

/* ---- membership ---------------------------------------------------------- */

static void
member_add(group *g, samsa_consumer *c)
{
    samsa_consumer **p = &g->members;
    while (*p != NULL)
        p = &(*p)->member_next;
    *p = c;
    c->member_next = NULL;
    c->member_id = g->next_member_id++;
    c->expelled = false;
    atomic_store(&c->heartbeat, samsa__now_coarse_ns());
    g->nmembers++;
}

/* Take c out of the member list and clear what it owns or is meant to. */
static void
member_remove(group *g, samsa_consumer *c)
{
    samsa_consumer **p = &g->members;
    while (*p != NULL && *p != c)
        p = &(*p)->member_next;
    if (*p == c) {
        *p = c->member_next;
        g->nmembers--;
    }
    c->member_next = NULL;
    for (size_t t = 0; t < g->ntopics; t++)
        for (int32_t i = 0; i < g->topics[t].partitions; i++) {
            if (g->topics[t].owner[i] == c)
                g->topics[t].owner[i] = NULL;
            if (g->topics[t].target[i] == c)
                g->topics[t].target[i] = NULL;
        }
}

int
group_join(samsa *s, samsa_consumer *c, const char *name, int assignor)
{
    group_registry *r = s->groups;
    samsa__lock(&r->lock, SAMSA_RANK_GROUPS);
    group *g = r->groups;
    while (g != NULL && strcmp(g->name, name) != 0)
        g = g->next;
    if (g != NULL && g->assignor != assignor) {
        samsa__unlock(&r->lock, SAMSA_RANK_GROUPS);
        return SAMSA_ECONFLICT;
    }
    if (g == NULL) {
        if ((g = calloc(1, sizeof *g)) == NULL ||
            (g->name = strdup(name)) == NULL) {
            free(g);
            samsa__unlock(&r->lock, SAMSA_RANK_GROUPS);
            return SAMSA_ENOMEM;
        }
        pthread_mutex_init(&g->lock, NULL);
        g->assignor = assignor;
        g->next = r->groups;
        r->groups = g;
    }
    samsa__lock(&g->lock, SAMSA_RANK_GROUP);
    member_add(g, c);
    group_rebalance_locked(s, g);
    c->topic_changes = g->topic_changes;
    samsa__unlock(&g->lock, SAMSA_RANK_GROUP);
    c->g = g;
    c->reg_next = r->consumers;
    r->consumers = c;
    samsa__unlock(&r->lock, SAMSA_RANK_GROUPS);
    return 0;
}

void
group_leave(samsa *s, samsa_consumer *c)
{
    group_registry *r = s->groups;
    group *g = c->g;
    samsa__lock(&r->lock, SAMSA_RANK_GROUPS);
    samsa__lock(&g->lock, SAMSA_RANK_GROUP);
    member_remove(g, c);
    bool last = true; /* does any other consumer still name the group? */
    for (samsa_consumer *o = r->consumers; o != NULL && last; o = o->reg_next)
        last = o == c || o->g != g;
    if (!last)
        group_rebalance_locked(s, g);
    samsa__unlock(&g->lock, SAMSA_RANK_GROUP);
    if (last) {
        group **p = &r->groups;
        while (*p != g)
            p = &(*p)->next;
        *p = g->next;
        group_free(g);
    }
    samsa_consumer **p = &r->consumers;
    while (*p != NULL && *p != c)
        p = &(*p)->reg_next;
    if (*p == c)
        *p = c->reg_next;
    c->g = NULL;
    samsa__unlock(&r->lock, SAMSA_RANK_GROUPS);
}

void
group_rejoin_locked(samsa *s, group *g, samsa_consumer *c)
{
    member_add(g, c);
    group_rebalance_locked(s, g);
}

bool
group_expire_locked(samsa *s, group *g, const samsa_consumer *self, int64_t now)
{
    bool any = false;
    for (samsa_consumer *m = g->members, *next; m != NULL; m = next) {
        next = m->member_next;
        if (m != self && now - atomic_load(&m->heartbeat) > m->session_ns) {
            member_remove(g, m);
            m->expelled = true;
            any = true;
        }
    }
    if (any)
        group_rebalance_locked(s, g);
    return any;
}
