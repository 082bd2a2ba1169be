/*
 * consumer.c - samsa_consumer_*: a group member's handle, its part in
 * rebalances, polling, and where it reads (positions, seeks, pauses).
 *
 * A consumer owns a sorted array of partitions (owned), each read by a
 * plain samsa_cursor: polling is cursor reading spread over partitions, so
 * records are CRC-checked, zero-copy, and in offset order exactly as a
 * cursor gives them.  Partitions take turns (rr); a batch poll takes a run
 * from one partition, then from the next.
 *
 * Every call starts the same way (consumer_enter): under the consumer's
 * lock, check `detached` and enter the store (store_enter), so that
 * samsa_close() waits for the call, or the call sees SAMSA_ECLOSED and
 * never touches a freed store.  Then the call stores its heartbeat.
 *
 * Before a poll reads, it takes part in the group (maintain): every third of
 * the session timeout it looks for members that went silent; when the
 * group's generation, the store's topic changes, or a partition still to be
 * released by another member say so, it reconciles (consumer_rebalance, see
 * group.c): release what moved away (REVOKED callback first, while still
 * owned; auto-commit before that), drop what is already gone (LOST), take
 * what is free (ASSIGNED, each from its committed offset or the reset
 * policy).  The fast path is three loads and a comparison.
 *
 * Waiting follows notify.c: look, watch, look again, wait.  The wait is cut
 * to a third of the session timeout so that a member blocked for ever
 * still heartbeats and still expires silent members.
 */
#include <stdlib.h>
#include <string.h>

#include "client/cursor.h"
#include "group.h"

int
consumer_enter(samsa_consumer *c)
{
    samsa__lock(&c->lock, SAMSA_RANK_CONSUMER);
    int rc = c->detached ? SAMSA_ECLOSED : store_enter(c->s);
    samsa__unlock(&c->lock, SAMSA_RANK_CONSUMER);
    if (rc == 0)
        atomic_store_explicit(&c->heartbeat, samsa__now_coarse_ns(),
                              memory_order_relaxed);
    return rc;
}

void
consumer_leave(samsa_consumer *c)
{
    store_leave(c->s);
}

/* ---- owned partitions ---------------------------------------------------- */

static int
owned_cmp(const char *name, int32_t p, const owned *o)
{
    int d = strcmp(name, o->topic);
    return d != 0 ? d : (p > o->partition) - (p < o->partition);
}

owned *
consumer_find(samsa_consumer *c, const char *name, int32_t partition)
{
    size_t lo = 0, hi = c->nparts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = owned_cmp(name, partition, &c->parts[mid]);
        if (d == 0)
            return &c->parts[mid];
        if (d < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Insert in order; takes topic (allocated) and cur. */
static int
owned_insert(samsa_consumer *c, char *name, uint64_t id, int32_t p,
             samsa_cursor *cur)
{
    if (samsa__array_room(&c->parts, c->nparts, &c->cap, sizeof *c->parts, 8) !=
        0)
        return SAMSA_ENOMEM;
    size_t i = c->nparts;
    while (i > 0 && owned_cmp(name, p, &c->parts[i - 1]) < 0)
        i--;
    memmove(&c->parts[i + 1], &c->parts[i], (c->nparts - i) * sizeof *c->parts);
    c->parts[i] = (owned){.topic = name,
                          .topic_id = id,
                          .partition = p,
                          .cur = cur,
                          .committed = -1};
    c->nparts++;
    return 0;
}

/* Close and remove the entries whose `drop` flag is set. */
static void
owned_compact(samsa_consumer *c, const bool *drop)
{
    size_t j = 0;
    for (size_t i = 0; i < c->nparts; i++) {
        if (drop[i]) {
            samsa_cursor_close(c->parts[i].cur);
            free(c->parts[i].topic);
        } else {
            c->parts[j++] = c->parts[i];
        }
    }
    c->nparts = j;
    c->rr = 0;
}

void
consumer_drop_all(samsa_consumer *c)
{
    for (size_t i = 0; i < c->nparts; i++) {
        samsa_cursor_close(c->parts[i].cur);
        free(c->parts[i].topic);
    }
    free(c->parts);
    c->parts = NULL;
    c->nparts = c->cap = 0;
}

/* ---- rebalancing --------------------------------------------------------- */

static void
tell(samsa_consumer *c, int event, const samsa_topic_partition *tp, size_t n)
{
    if (c->on_rebalance == NULL || n == 0)
        return;
    c->in_callback = true;
    c->on_rebalance(c, event, tp, n, c->ctx);
    c->in_callback = false;
}

/* Let go of what moved away or is gone; returns the auto-commit's error. */
static int
release(samsa_consumer *c, samsa_topic_partition *tp, size_t *idx, bool *drop)
{
    group *g = c->g;
    size_t nrev = 0, nlost = 0, n = c->nparts;
    samsa__lock(&g->lock, SAMSA_RANK_GROUP);
    for (size_t i = 0; i < n; i++) {
        owned *o = &c->parts[i];
        gtopic *t = group_topic_find(g, o->topic, o->topic_id);
        drop[i] = t == NULL || t->owner[o->partition] != c ||
                  t->target[o->partition] != c;
        if (drop[i] && t != NULL && t->owner[o->partition] == c)
            idx[nrev++] = i; /* revoked: still ours until released */
        else if (drop[i])
            idx[n - ++nlost] = i; /* lost: gone already */
    }
    samsa__unlock(&g->lock, SAMSA_RANK_GROUP);
    if (nrev + nlost == 0)
        return 0;
    int rc =
        nrev > 0 && c->auto_commit_ns > 0 ? commit_positions(c, idx, nrev) : 0;
    for (size_t k = 0; k < nrev; k++) {
        owned *o = &c->parts[idx[k]];
        tp[k] = (samsa_topic_partition){o->topic, o->partition,
                                        samsa_cursor_offset(o->cur)};
    }
    tell(c, SAMSA_REBALANCE_REVOKED, tp, nrev);
    for (size_t k = 0; k < nlost; k++) {
        owned *o = &c->parts[idx[n - 1 - k]];
        tp[k] = (samsa_topic_partition){o->topic, o->partition,
                                        samsa_cursor_offset(o->cur)};
    }
    tell(c, SAMSA_REBALANCE_LOST, tp, nlost);
    samsa__lock(&g->lock, SAMSA_RANK_GROUP);
    for (size_t k = 0; k < nrev; k++) {
        owned *o = &c->parts[idx[k]];
        gtopic *t = group_topic_find(g, o->topic, o->topic_id);
        if (t != NULL && t->owner[o->partition] == c)
            t->owner[o->partition] = NULL;
    }
    samsa__unlock(&g->lock, SAMSA_RANK_GROUP);
    owned_compact(c, drop);
    if (nrev > 0)
        store_notify(c->s); /* the new owners may be waiting */
    return rc;
}

/* Open a cursor on a gained partition: at the committed offset, or where
 * the reset policy says when there is none or it left the log. */
static int
open_at(samsa_consumer *c, const char *name, int32_t p, int64_t committed,
        samsa_cursor **cur)
{
    int64_t reset = c->reset == SAMSA_RESET_EARLIEST ? SAMSA_OFFSET_BEGINNING
                                                     : SAMSA_OFFSET_END;
    int rc = SAMSA_EOFFSET;
    if (committed >= 0)
        rc = samsa_cursor_open(c->s, name, p, committed, cur);
    if (rc == SAMSA_EOFFSET)
        rc = samsa_cursor_open(c->s, name, p, reset, cur);
    return rc;
}

/* Is cur, opened by name, on partition p of the topic of this id?  A take
 * works from the group's view of the topics, which learns of a topic
 * deleted and created again under its name only at a rebalance: the
 * cursor, opened by name, may be on the new topic, and the committed
 * offset it started from the old one's. */
static bool
cursor_on(samsa *s, const samsa_cursor *cur, const char *name, uint64_t id,
          int32_t p)
{
    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    const topic *t = store_topic_find(s, name);
    bool on = t != NULL && t->id == id && p < t->cfg.partitions &&
              t->parts[p] == cursor_partition(cur);
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    return on;
}

/* Take the target partitions that are free. */
static int
take(samsa_consumer *c)
{
    group *g = c->g;
    size_t n = 0, cap = 0;
    catalog_group_offset *offs = NULL;
    char **names = NULL;
    bool pending = false;
    int rc = 0;
    samsa__lock(&g->lock, SAMSA_RANK_GROUP);
    uint64_t gen = atomic_load(&g->generation);
    for (size_t t = 0; rc == 0 && t < g->ntopics; t++) {
        gtopic *gt = &g->topics[t];
        for (int32_t p = 0; rc == 0 && p < gt->partitions; p++) {
            if (gt->target[p] != c || gt->owner[p] == c)
                continue;
            if (gt->owner[p] != NULL) {
                pending = true;
                continue;
            }
            if (n == cap) {
                cap = cap ? 2 * cap : 8;
                void *a = realloc(offs, cap * sizeof *offs);
                void *b = a ? realloc(names, cap * sizeof *names) : NULL;
                offs = a ? a : offs;
                names = b ? b : names;
                if (a == NULL || b == NULL) {
                    rc = SAMSA_ENOMEM;
                    break;
                }
            }
            if ((names[n] = strdup(gt->name)) == NULL) {
                rc = SAMSA_ENOMEM;
                break;
            }
            offs[n++] = (catalog_group_offset){gt->id, p, -1};
            gt->owner[p] = c;
        }
    }
    /* The assignment may have changed since release() looked: then some
     * partition held is no longer ours, and the next poll must release it
     * even though `gen` is the latest. */
    for (size_t i = 0; !pending && i < c->nparts; i++) {
        const owned *o = &c->parts[i];
        gtopic *gt = group_topic_find(g, o->topic, o->topic_id);
        pending = gt == NULL || gt->target[o->partition] != c ||
                  gt->owner[o->partition] != c;
    }
    samsa__unlock(&g->lock, SAMSA_RANK_GROUP);
    if (rc == 0 && n > 0)
        rc = catalog_group_get(&c->s->cat, g->name, offs, n);
    samsa_topic_partition *tp = calloc(n + 1, sizeof *tp);
    size_t ntp = 0;
    if (rc == 0 && tp == NULL)
        rc = SAMSA_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        samsa_cursor *cur = NULL;
        int orc = rc == 0 ? open_at(c, names[i], offs[i].partition,
                                    offs[i].offset, &cur)
                          : rc;
        if (orc == 0 && !cursor_on(c->s, cur, names[i], offs[i].topic_id,
                                   offs[i].partition))
            orc = SAMSA_ENOTOPIC; /* the old topic is gone */
        if (orc == 0 && (orc = owned_insert(c, names[i], offs[i].topic_id,
                                            offs[i].partition, cur)) == 0) {
            tp[ntp++] = (samsa_topic_partition){names[i], offs[i].partition,
                                                samsa_cursor_offset(cur)};
            continue;
        }
        /* Not taken: give it back (a topic deleted since is fine; the
         * topic change rebalances the group). */
        samsa_cursor_close(cur);
        samsa__lock(&g->lock, SAMSA_RANK_GROUP);
        gtopic *gt = group_topic_find(g, names[i], offs[i].topic_id);
        if (gt != NULL && gt->owner[offs[i].partition] == c)
            gt->owner[offs[i].partition] = NULL;
        samsa__unlock(&g->lock, SAMSA_RANK_GROUP);
        free(names[i]);
        if (orc != SAMSA_ENOTOPIC && orc != SAMSA_ENOPARTITION && rc == 0)
            rc = orc;
    }
    tell(c, SAMSA_REBALANCE_ASSIGNED, tp, ntp);
    free(tp);
    free(names);
    free(offs);
    if (rc == 0) {
        c->generation = gen;
        c->pending = pending;
    }
    return rc;
}

/* Reconcile with the group: expel the silent, rejoin if expelled, release,
 * take. */
static int
consumer_rebalance(samsa_consumer *c)
{
    samsa *s = c->s;
    group *g = c->g;
    size_t n = c->nparts;
    samsa_topic_partition *tp = malloc((n + 1) * sizeof *tp);
    size_t *idx = malloc((n + 1) * sizeof *idx);
    bool *drop = malloc((n + 1) * sizeof *drop);
    int rc = tp && idx && drop ? 0 : SAMSA_ENOMEM;
    uint64_t changes = atomic_load(&s->topic_changes);
    if (rc == 0) {
        samsa__lock(&g->lock, SAMSA_RANK_GROUP);
        if (c->expelled)
            group_rejoin_locked(s, g, c); /* rebuilds the topics too */
        else if (changes != g->topic_changes)
            group_rebalance_locked(s, g);
        samsa__unlock(&g->lock, SAMSA_RANK_GROUP);
        c->topic_changes = changes;
        rc = release(c, tp, idx, drop);
    }
    free(tp);
    free(idx);
    free(drop);
    int trc = take(c);
    return rc != 0 ? rc : trc;
}

static bool
must_rebalance(const samsa_consumer *c)
{
    return atomic_load_explicit(&c->g->generation, memory_order_acquire) !=
               c->generation ||
           c->pending ||
           atomic_load_explicit(&c->s->topic_changes, memory_order_relaxed) !=
               c->topic_changes;
}

/* The group work a poll does before it reads. */
static int
maintain(samsa_consumer *c)
{
    int64_t now = samsa__now_coarse_ns();
    if (now >= c->next_check) {
        samsa__lock(&c->g->lock, SAMSA_RANK_GROUP);
        group_expire_locked(c->s, c->g, c, now);
        samsa__unlock(&c->g->lock, SAMSA_RANK_GROUP);
        c->next_check = now + c->session_ns / 3;
    }
    int rc = must_rebalance(c) ? consumer_rebalance(c) : 0;
    if (rc == 0 && c->auto_commit_ns > 0 && now >= c->next_commit) {
        rc = commit_positions(c, NULL, 0);
        c->next_commit = now + c->auto_commit_ns;
    }
    return rc;
}

/* ---- reading ------------------------------------------------------------- */

/* Up to max records of partition o into msgs; 0 with *got, or an error. */
static int
read_part(samsa_consumer *c, owned *o, samsa_message *msgs, size_t max,
          size_t *got)
{
    *got = 0;
    if (o->paused || o->deleted)
        return 0;
    while (*got < max) {
        int rc = cursor_next_held(o->cur, &msgs[*got], 0);
        if (rc == 0) {
            ++*got;
            continue;
        }
        if (rc == SAMSA_ETIMEDOUT)
            return 0;
        if (rc == SAMSA_EDELETED) { /* dropped at the next rebalance */
            o->deleted = true;
            return 0;
        }
        if (rc == SAMSA_EOFFSET) { /* fell below the log start */
            rc = samsa_cursor_seek(o->cur, c->reset == SAMSA_RESET_EARLIEST
                                               ? SAMSA_OFFSET_BEGINNING
                                               : SAMSA_OFFSET_END);
            if (rc == 0)
                continue;
        }
        return rc;
    }
    return 0;
}

/* Fill up to max records, a run per partition in turn: 0 with *n > 0,
 * SAMSA_ETIMEDOUT when there were none, or an error. */
static int
read_some(samsa_consumer *c, samsa_message *msgs, size_t max, size_t *n)
{
    size_t np = c->nparts, run = max / (np ? np : 1);
    if (run == 0)
        run = 1;
    *n = 0;
    for (size_t i = 0; i < np && *n < max; i++) {
        size_t k = (c->rr + i) % np, got;
        size_t want = max - *n < run ? max - *n : run;
        int rc = read_part(c, &c->parts[k], msgs + *n, want, &got);
        *n += got;
        if (rc != 0 && *n > 0) {
            c->deferred = rc; /* keep what was read; report it next */
            rc = 0;
        }
        if (rc != 0 || *n == max || c->deferred != 0) {
            c->rr = (k + 1) % np;
            return rc;
        }
    }
    /* A second pass lets partitions with more fill what others left. */
    for (size_t i = 0; i<np && * n> 0 && *n < max; i++) {
        size_t k = (c->rr + i) % np, got;
        int rc = read_part(c, &c->parts[k], msgs + *n, max - *n, &got);
        *n += got;
        if (rc != 0) {
            c->deferred = rc;
            break;
        }
    }
    if (np > 0)
        c->rr = (c->rr + 1) % np;
    return *n > 0 ? 0 : SAMSA_ETIMEDOUT;
}

static int
poll_common(samsa_consumer *c, samsa_message *msgs, size_t max, size_t *n,
            int timeout_ms)
{
    *n = 0;
    int rc = consumer_enter(c);
    if (rc != 0)
        return rc;
    if (c->in_callback) {
        consumer_leave(c);
        return SAMSA_EINVAL;
    }
    if ((rc = c->deferred) != 0) {
        c->deferred = 0;
        consumer_leave(c);
        return rc;
    }
    if (atomic_exchange(&c->wakeup, false)) {
        consumer_leave(c);
        return SAMSA_EWAKEUP;
    }
    for (size_t i = 0; i < c->nparts; i++) /* the last poll's records */
        cursor_release(c->parts[i].cur);
    int64_t deadline = samsa__deadline_after(timeout_ms);
    /* Wake at least this often to heartbeat and expire silent members. */
    int beat_ms = (int)(c->session_ns / 3000000);
    samsa *s = c->s;
    for (;;) {
        if ((rc = maintain(c)) != 0)
            break;
        if ((rc = read_some(c, msgs, max, n)) != SAMSA_ETIMEDOUT ||
            timeout_ms == 0 ||
            (deadline >= 0 && samsa__deadline_after(0) >= deadline))
            break;
        uint64_t seen = store_watch(s);
        bool again = must_rebalance(c); /* then go round without waiting */
        if (!again && (rc = read_some(c, msgs, max, n)) == SAMSA_ETIMEDOUT &&
            atomic_exchange(&c->wakeup, false)) /* see samsa_queue_wakeup */
            rc = SAMSA_EWAKEUP;
        else if (!again && rc == SAMSA_ETIMEDOUT) {
            int64_t wake = samsa__deadline_after(beat_ms);
            rc = store_wait(s, seen,
                            deadline >= 0 && deadline < wake ? deadline : wake,
                            &c->spin);
            again = rc == 0 || rc == SAMSA_ETIMEDOUT;
        }
        store_unwatch(s);
        atomic_store_explicit(&c->heartbeat, samsa__now_coarse_ns(),
                              memory_order_relaxed);
        if (!again)
            break;
    }
    consumer_leave(c);
    return rc;
}

SAMSA_API int
samsa_consumer_poll(samsa_consumer *c, samsa_message *msg, int timeout_ms)
{
    size_t n;
    if (c == NULL || msg == NULL || timeout_ms < -1)
        return SAMSA_EINVAL;
    return poll_common(c, msg, 1, &n, timeout_ms);
}

SAMSA_API int
samsa_consumer_poll_batch(samsa_consumer *c, samsa_message *msgs, size_t max,
                          size_t *n, int timeout_ms)
{
    if (n != NULL)
        *n = 0;
    if (c == NULL || msgs == NULL || max == 0 || n == NULL || timeout_ms < -1)
        return SAMSA_EINVAL;
    return poll_common(c, msgs, max, n, timeout_ms);
}

SAMSA_API int
samsa_consumer_wakeup(samsa_consumer *c)
{
    if (c == NULL)
        return SAMSA_EINVAL;
    atomic_store(&c->wakeup, true);
    /* c->lock is held only briefly by calls (consumer_enter), never while
     * they wait; under it, a consumer not detached has a live store. */
    samsa__lock(&c->lock, SAMSA_RANK_CONSUMER);
    bool detached = c->detached;
    if (!detached)
        store_notify(c->s);
    samsa__unlock(&c->lock, SAMSA_RANK_CONSUMER);
    return detached ? SAMSA_ECLOSED : 0;
}

/* ---- open and close ------------------------------------------------------ */

static int
str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
config_check(const samsa_consumer_config *cfg)
{
    if (!SAMSA_RESERVED_ZERO(cfg->reserved))
        return SAMSA_EINVAL;
    size_t n = 0;
    for (; cfg->topics != NULL && cfg->topics[n] != NULL; n++)
        if (!topic_name_valid(cfg->topics[n]))
            return SAMSA_EINVAL;
    if (!topic_name_valid(cfg->group) || (n == 0 && cfg->pattern == NULL) ||
        cfg->assignor < SAMSA_ASSIGN_DEFAULT ||
        cfg->assignor > SAMSA_ASSIGN_STICKY ||
        cfg->offset_reset < SAMSA_RESET_DEFAULT ||
        cfg->offset_reset > SAMSA_RESET_EARLIEST ||
        (cfg->session_timeout_ms != 0 &&
         (cfg->session_timeout_ms < 10 || cfg->session_timeout_ms > 3600000)) ||
        cfg->auto_commit_ms < 0)
        return SAMSA_EINVAL;
    return 0;
}

/* What a member subscribes to (its part of samsa_consumer). */
typedef struct subscription {
    char **topics;  /* sorted, or NULL */
    size_t ntopics; /* entries in topics */
    regex_t re;     /* anchored, when has_re */
    bool has_re;
} subscription;

static void
subscription_free(subscription *sub)
{
    for (size_t i = 0; i < sub->ntopics; i++)
        free(sub->topics[i]);
    free(sub->topics);
    if (sub->has_re)
        regfree(&sub->re);
    memset(sub, 0, sizeof *sub);
}

/* Swap the member's subscription with *sub. */
static void
subscription_swap(samsa_consumer *c, subscription *sub)
{
    subscription old = {c->topics, c->ntopics, c->re, c->has_re};
    c->topics = sub->topics;
    c->ntopics = sub->ntopics;
    c->re = sub->re;
    c->has_re = sub->has_re;
    *sub = old;
}

static void
consumer_free(samsa_consumer *c)
{
    consumer_drop_all(c);
    subscription sub = {0};
    subscription_swap(c, &sub);
    subscription_free(&sub);
    pthread_cond_destroy(&c->detach_cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Copy a subscription into *sub: names sorted, the pattern anchored (on
 * error, what was made is in *sub for subscription_free()). */
static int
subscription_copy(subscription *sub, const char *const *topics,
                  const char *pattern)
{
    size_t n = 0;
    while (topics != NULL && topics[n] != NULL)
        n++;
    if (n > 0 && (sub->topics = calloc(n, sizeof *sub->topics)) == NULL)
        return SAMSA_ENOMEM;
    for (; sub->ntopics < n; sub->ntopics++)
        if ((sub->topics[sub->ntopics] = strdup(topics[sub->ntopics])) == NULL)
            return SAMSA_ENOMEM;
    if (n > 0)
        qsort(sub->topics, n, sizeof *sub->topics, str_cmp);
    if (pattern == NULL)
        return 0;
    size_t len = strlen(pattern);
    char *re = malloc(len + 5);
    if (re == NULL)
        return SAMSA_ENOMEM;
    memcpy(re, "^(", 2);
    memcpy(re + 2, pattern, len);
    memcpy(re + 2 + len, ")$", 3);
    int rrc = regcomp(&sub->re, re, REG_EXTENDED | REG_NOSUB);
    free(re);
    sub->has_re = rrc == 0;
    return rrc == 0 ? 0 : rrc == REG_ESPACE ? SAMSA_ENOMEM : SAMSA_EINVAL;
}

SAMSA_API int
samsa_consumer_open(samsa *s, const samsa_consumer_config *cfg,
                    samsa_consumer **out)
{
    if (s == NULL || cfg == NULL || out == NULL)
        return SAMSA_EINVAL;
    if (s->rdonly)
        return SAMSA_ERDONLY;
    int rc = config_check(cfg);
    if (rc != 0)
        return rc;
    samsa_consumer *c = calloc(1, sizeof *c);
    if (c == NULL)
        return SAMSA_ENOMEM;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->detach_cond, NULL);
    c->s = s;
    c->reset = cfg->offset_reset == SAMSA_RESET_EARLIEST ? SAMSA_RESET_EARLIEST
                                                         : SAMSA_RESET_LATEST;
    c->session_ns =
        (int64_t)(cfg->session_timeout_ms ? cfg->session_timeout_ms : 10000) *
        1000000;
    c->auto_commit_ns = (int64_t)cfg->auto_commit_ms * 1000000;
    c->on_rebalance = cfg->on_rebalance;
    c->ctx = cfg->ctx;
    subscription sub = {0};
    rc = subscription_copy(&sub, cfg->topics, cfg->pattern);
    subscription_swap(c, &sub); /* c's was empty: sub is now */
    if (rc != 0) {
        consumer_free(c);
        return rc;
    }
    int64_t now = samsa__now_coarse_ns();
    c->next_check = now + c->session_ns / 3;
    c->next_commit = now + c->auto_commit_ns;
    if ((rc = store_enter(s)) != 0) {
        consumer_free(c);
        return rc;
    }
    rc = group_join(s, c, cfg->group,
                    cfg->assignor ? cfg->assignor : SAMSA_ASSIGN_STICKY);
    store_leave(s);
    if (rc != 0) {
        consumer_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

SAMSA_API int
samsa_consumer_close(samsa_consumer *c)
{
    if (c == NULL)
        return 0;
    /* Enter the store, or wait until samsa_close() has detached c. */
    samsa__lock(&c->lock, SAMSA_RANK_CONSUMER);
    while (!c->detached && store_enter(c->s) != 0)
        pthread_cond_wait(&c->detach_cond, &c->lock);
    bool attached = !c->detached;
    samsa__unlock(&c->lock, SAMSA_RANK_CONSUMER);
    if (attached && c->in_callback) {
        /* The poll that called back goes on with c after the callback:
         * freeing c here would pull it from under that poll. */
        store_leave(c->s);
        return SAMSA_EINVAL;
    }
    int rc = 0;
    if (attached) {
        samsa *s = c->s;
        if (c->auto_commit_ns > 0)
            rc = commit_positions(c, NULL, 0);
        group_leave(s, c);
        store_leave(s);
    }
    consumer_free(c);
    return rc;
}

/* ---- changing the subscription ------------------------------------------ */

/* Give c the subscription sub (or none, NULL), rebalance the group, and
 * let c release and take partitions now. */
static int
resubscribe(samsa_consumer *c, const char *const *topics, const char *pattern)
{
    if (c == NULL)
        return SAMSA_EINVAL;
    for (size_t i = 0; topics != NULL && topics[i] != NULL; i++)
        if (!topic_name_valid(topics[i]))
            return SAMSA_EINVAL;
    subscription sub = {0};
    int rc = subscription_copy(&sub, topics, pattern);
    if (rc != 0) {
        subscription_free(&sub);
        return rc;
    }
    if ((rc = consumer_enter(c)) != 0) {
        subscription_free(&sub);
        return rc;
    }
    if (c->in_callback) {
        consumer_leave(c);
        subscription_free(&sub);
        return SAMSA_EINVAL;
    }
    /* Other members read c's subscription under the group's lock. */
    samsa__lock(&c->g->lock, SAMSA_RANK_GROUP);
    subscription_swap(c, &sub);
    group_rebalance_locked(c->s, c->g);
    samsa__unlock(&c->g->lock, SAMSA_RANK_GROUP);
    rc = maintain(c); /* revoked first, with their callbacks */
    consumer_leave(c);
    subscription_free(&sub); /* the old one */
    return rc;
}

SAMSA_API int
samsa_consumer_subscribe(samsa_consumer *c, const char *const *topics,
                         const char *pattern)
{
    if ((topics == NULL || topics[0] == NULL) && pattern == NULL)
        return SAMSA_EINVAL;
    return resubscribe(c, topics, pattern);
}

SAMSA_API int
samsa_consumer_unsubscribe(samsa_consumer *c)
{
    return resubscribe(c, NULL, NULL);
}

/* ---- positions, seeks, pauses, the assignment ----------------------------
 *
 * Each owned partition's position is its cursor's offset, so a seek is a
 * cursor seek and the position a later commit writes is wherever the seek
 * left it.  These act only on partitions the member owns now
 * (SAMSA_ENOTASSIGNED otherwise) and never wait. */

/* Enter c and find an owned partition: 0 with *o set (then leave after),
 * or the error (then nothing to leave). */
static int
enter_owned(samsa_consumer *c, const char *name, int32_t partition, owned **o)
{
    if (c == NULL || name == NULL)
        return SAMSA_EINVAL;
    int rc = consumer_enter(c);
    if (rc != 0)
        return rc;
    *o = consumer_find(c, name, partition);
    if (*o != NULL && !(*o)->deleted)
        return 0;
    consumer_leave(c);
    return SAMSA_ENOTASSIGNED;
}

SAMSA_API int
samsa_consumer_assignment(samsa_consumer *c, samsa_topic_partition *parts,
                          size_t cap, size_t *n)
{
    if (c == NULL || n == NULL || (parts == NULL && cap > 0))
        return SAMSA_EINVAL;
    int rc = consumer_enter(c);
    if (rc != 0)
        return rc;
    *n = 0;
    for (size_t i = 0; i < c->nparts; i++) {
        const owned *o = &c->parts[i];
        if (o->deleted)
            continue;
        if (*n < cap)
            parts[*n] = (samsa_topic_partition){o->topic, o->partition,
                                                samsa_cursor_offset(o->cur)};
        ++*n;
    }
    consumer_leave(c);
    return 0;
}

SAMSA_API int
samsa_consumer_position(samsa_consumer *c, const char *topic_name,
                        int32_t partition, int64_t *offset)
{
    owned *o;
    if (offset == NULL)
        return SAMSA_EINVAL;
    int rc = enter_owned(c, topic_name, partition, &o);
    if (rc != 0)
        return rc;
    *offset = samsa_cursor_offset(o->cur);
    consumer_leave(c);
    return 0;
}

SAMSA_API int
samsa_consumer_seek(samsa_consumer *c, const char *topic_name,
                    int32_t partition, int64_t offset)
{
    owned *o;
    if (offset < SAMSA_OFFSET_BEGINNING)
        return SAMSA_EINVAL;
    int rc = enter_owned(c, topic_name, partition, &o);
    if (rc != 0)
        return rc;
    rc = samsa_cursor_seek(o->cur, offset);
    consumer_leave(c);
    return rc;
}

SAMSA_API int
samsa_consumer_seek_time(samsa_consumer *c, const char *topic_name,
                         int32_t partition, int64_t timestamp_ms)
{
    owned *o;
    if (timestamp_ms < 0)
        return SAMSA_EINVAL;
    int rc = enter_owned(c, topic_name, partition, &o);
    if (rc != 0)
        return rc;
    rc = samsa_cursor_seek_time(o->cur, timestamp_ms);
    consumer_leave(c);
    return rc;
}

static int
set_paused(samsa_consumer *c, const char *topic_name, int32_t partition,
           bool paused)
{
    owned *o;
    int rc = enter_owned(c, topic_name, partition, &o);
    if (rc != 0)
        return rc;
    o->paused = paused;
    consumer_leave(c);
    return 0;
}

SAMSA_API int
samsa_consumer_pause(samsa_consumer *c, const char *topic_name,
                     int32_t partition)
{
    return set_paused(c, topic_name, partition, true);
}

SAMSA_API int
samsa_consumer_resume(samsa_consumer *c, const char *topic_name,
                      int32_t partition)
{
    return set_paused(c, topic_name, partition, false);
}
