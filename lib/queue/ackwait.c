/*
 * ackwait.c - the sender's side of a queue: waiting for, or being called
 * back on, the acknowledgement of a record it produced.
 *
 * Cost when unused.  The acknowledgement path (queue.c) loads
 * s->ack_watchers, the number of waits in progress plus callbacks
 * registered, and calls ackwait_notify() only when it is not zero: a
 * queue nobody waits on pays one atomic load per acknowledgement call.
 *
 * No lost wake-up.  A waiter registers itself (under ack_lock, counted in
 * ack_watchers) and only then looks at the record's state in its group.
 * An acknowledgement changes the state under the share-partition's lock
 * and afterwards loads ack_watchers: either the look sees the new state,
 * or the acknowledger sees the waiter and sets its outcome.  Waiters sleep
 * on the store's event counter (notify.c), which ackwait_notify() bumps,
 * so samsa_close() wakes them like any other blocked call.
 *
 * Callbacks are called under cb_lock held for reading, which registration
 * takes for writing: a callback is never called after it was replaced or
 * removed (samsa_queue_on_ack() returned).  Hence a callback must not
 * register callbacks itself.
 *
 * Lock order: ack_lock and cb_lock are leaves; neither is held while
 * queue or store locks are taken.
 */
#include <stdlib.h>
#include <string.h>

#include "queue.h"

typedef struct waiter {
    const char *group, *topic; /* what it waits for (the caller's strings) */
    int32_t partition;         /* ...                                      */
    int64_t offset;            /* ...                                      */
    int32_t count;             /* the delivery count, set before outcome */
    _Atomic int outcome;       /* 0 until acknowledged; SAMSA_EDELETED when
                                  the topic was deleted first,
                                  SAMSA_EFORGOTTEN when the log's start
                                  passed it unfinished (ackwait_forget)  */
    struct waiter *next;       /* the list                                 */
} waiter;

typedef struct callback {
    char *group, *topic;   /* whose acknowledgements                     */
    samsa_ack_fn fn;       /* called with each                           */
    void *ctx;             /* passed to fn                               */
    struct callback *next; /* the list                                   */
} callback;

struct ackwait {
    pthread_mutex_t ack_lock; /* waiters                                 */
    waiter *waiters;          /* waits in progress                       */
    pthread_rwlock_t cb_lock; /* callbacks; read while calling them      */
    callback *callbacks;      /* registered callbacks                    */
};

void
ackwait_init(samsa *s)
{
    static struct ackwait zero;
    s->acks = malloc(sizeof *s->acks);
    if (s->acks == NULL)
        return; /* samsa__open_io checks */
    *s->acks = zero;
    pthread_mutex_init(&s->acks->ack_lock, NULL);
    pthread_rwlock_init(&s->acks->cb_lock, NULL);
}

void
ackwait_destroy(samsa *s)
{
    if (s->acks == NULL)
        return;
    for (callback *c = s->acks->callbacks, *next; c != NULL; c = next) {
        next = c->next;
        free(c->group);
        free(c->topic);
        free(c);
    }
    pthread_mutex_destroy(&s->acks->ack_lock);
    pthread_rwlock_destroy(&s->acks->cb_lock);
    free(s->acks);
    s->acks = NULL;
}

void
ackwait_notify(samsa *s, const char *group, const char *tname,
               int32_t partition, int64_t offset, int outcome, int32_t count)
{
    struct ackwait *a = s->acks;
    bool woke = false;
    samsa__lock(&a->ack_lock, SAMSA_RANK_LEAF);
    for (waiter *w = a->waiters; w != NULL; w = w->next)
        if (w->offset == offset && w->partition == partition &&
            strcmp(w->topic, tname) == 0 && strcmp(w->group, group) == 0) {
            w->count = count;
            atomic_store(&w->outcome, outcome);
            woke = true;
        }
    samsa__unlock(&a->ack_lock, SAMSA_RANK_LEAF);
    if (woke)
        store_notify(s);
    pthread_rwlock_rdlock(&a->cb_lock);
    for (callback *c = a->callbacks; c != NULL; c = c->next)
        if (strcmp(c->topic, tname) == 0 && strcmp(c->group, group) == 0)
            c->fn(tname, partition, offset, outcome, c->ctx);
    pthread_rwlock_unlock(&a->cb_lock);
}

void
ackwait_forget(samsa *s, const char *group, const char *tname,
               int32_t partition, int64_t below)
{
    struct ackwait *a = s->acks;
    bool woke = false;
    samsa__lock(&a->ack_lock, SAMSA_RANK_LEAF);
    for (waiter *w = a->waiters; w != NULL; w = w->next)
        if (w->offset < below && w->partition == partition &&
            strcmp(w->topic, tname) == 0 && strcmp(w->group, group) == 0) {
            int none = 0; /* an outcome it already has stands */
            woke |= atomic_compare_exchange_strong(&w->outcome, &none,
                                                   SAMSA_EFORGOTTEN);
        }
    samsa__unlock(&a->ack_lock, SAMSA_RANK_LEAF);
    if (woke)
        store_notify(s);
}

void
ackwait_topic_deleted(samsa *s, const char *tname)
{
    struct ackwait *a = s->acks;
    samsa__lock(&a->ack_lock, SAMSA_RANK_LEAF);
    for (waiter *w = a->waiters; w != NULL; w = w->next)
        if (strcmp(w->topic, tname) == 0) {
            int none = 0; /* an outcome it already has stands */
            atomic_compare_exchange_strong(&w->outcome, &none, SAMSA_EDELETED);
        }
    samsa__unlock(&a->ack_lock, SAMSA_RANK_LEAF);
}

static int
wait_outcome(samsa *s, waiter *w, int timeout_ms)
{
    int64_t deadline = samsa__deadline_after(timeout_ms);
    uint64_t seen = store_watch(s);
    /* Other events wake this loop too (any record, any ack): each wait
     * teaches the spinner, so that a long wait for the outcome does not
     * poll afresh after every one of them. */
    samsa__spinner spin = {0};
    int rc;
    for (;;) {
        if (atomic_load(&w->outcome) != 0) {
            rc = 0;
            break;
        }
        if (timeout_ms == 0) {
            rc = SAMSA_ETIMEDOUT;
            break;
        }
        if ((rc = store_wait(s, seen, deadline, &spin)) != 0)
            break;
        seen = atomic_load(&s->events);
    }
    store_unwatch(s);
    if (rc == SAMSA_ETIMEDOUT && atomic_load(&w->outcome) != 0)
        rc = 0; /* came with the deadline */
    return rc;
}

SAMSA_API int
samsa_queue_ack_info(samsa *s, const char *group, const char *tname,
                     int32_t partition, int64_t offset, int timeout_ms,
                     samsa_ack_info *info)
{
    if (s == NULL || info == NULL || !topic_name_valid(group) ||
        !topic_name_valid(tname) || offset < 0 || timeout_ms < -1)
        return SAMSA_EINVAL;
    /* Loading the group opens, cuts and writes its journals (and makes
     * them): what a read-only handle never does (samsa.h); and its window
     * would never see the writer's changes. */
    if (s->rdonly)
        return SAMSA_ERDONLY;
    int rc = store_enter(s);
    if (rc != 0)
        return rc;
    struct ackwait *a = s->acks;
    waiter w = {.group = group,
                .topic = tname,
                .partition = partition,
                .offset = offset};
    samsa__lock(&a->ack_lock, SAMSA_RANK_LEAF);
    w.next = a->waiters;
    a->waiters = &w;
    atomic_fetch_add(&s->ack_watchers, 1);
    samsa__unlock(&a->ack_lock, SAMSA_RANK_LEAF);

    /* Finished before the call (by now, or long ago: the outcome is kept
     * for a window, queue_state.c) or not yet, then woken by
     * ackwait_notify(). */
    samsa_ack_info now = {0};
    rc = queue_record_outcome(s, group, tname, partition, offset, &now);
    if (rc == 0 && now.outcome != 0) {
        samsa__lock(&a->ack_lock, SAMSA_RANK_LEAF);
        w.count = now.delivery_count;
        atomic_store(&w.outcome, now.outcome);
        samsa__unlock(&a->ack_lock, SAMSA_RANK_LEAF);
    }
    if (rc == 0)
        rc = wait_outcome(s, &w, timeout_ms);

    samsa__lock(&a->ack_lock, SAMSA_RANK_LEAF);
    waiter **p = &a->waiters;
    while (*p != &w)
        p = &(*p)->next;
    *p = w.next;
    atomic_fetch_sub(&s->ack_watchers, 1);
    int o = atomic_load(&w.outcome);
    int32_t count = w.count;
    samsa__unlock(&a->ack_lock, SAMSA_RANK_LEAF);
    store_leave(s);
    if (rc == 0 && o < 0)
        rc = o; /* SAMSA_EDELETED */
    else if (rc == 0)
        *info = (samsa_ack_info){.outcome = o, .delivery_count = count};
    return rc;
}

SAMSA_API int
samsa_queue_ack_wait(samsa *s, const char *group, const char *tname,
                     int32_t partition, int64_t offset, int timeout_ms,
                     int *outcome)
{
    samsa_ack_info info;
    if (outcome == NULL)
        return SAMSA_EINVAL;
    int rc = samsa_queue_ack_info(s, group, tname, partition, offset,
                                  timeout_ms, &info);
    if (rc == 0)
        *outcome = info.outcome;
    return rc;
}

SAMSA_API int
samsa_queue_on_ack(samsa *s, const char *group, const char *tname,
                   samsa_ack_fn fn, void *ctx)
{
    if (s == NULL || !topic_name_valid(group) || !topic_name_valid(tname))
        return SAMSA_EINVAL;
    struct ackwait *a = s->acks;
    callback *n = NULL;
    if (fn != NULL) {
        n = calloc(1, sizeof *n);
        if (n == NULL || (n->group = strdup(group)) == NULL ||
            (n->topic = strdup(tname)) == NULL) {
            if (n != NULL)
                free(n->group);
            free(n);
            return SAMSA_ENOMEM;
        }
        n->fn = fn;
        n->ctx = ctx;
    }
    pthread_rwlock_wrlock(&a->cb_lock);
    callback **p = &a->callbacks;
    while (*p != NULL &&
           (strcmp((*p)->group, group) != 0 || strcmp((*p)->topic, tname) != 0))
        p = &(*p)->next;
    callback *old = *p;
    if (old != NULL) {
        *p = old->next;
        atomic_fetch_sub(&s->ack_watchers, 1);
    }
    if (n != NULL) {
        n->next = a->callbacks;
        a->callbacks = n;
        atomic_fetch_add(&s->ack_watchers, 1);
    }
    pthread_rwlock_unlock(&a->cb_lock);
    if (old != NULL) {
        free(old->group);
        free(old->topic);
        free(old);
    }
    return 0;
}
