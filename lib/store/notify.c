/*
 * notify.c - store-wide wake-ups for callers that wait on many partitions,
 * and the gate that lets samsa_close() end calls blocked inside the store.
 *
 * Why a second wake-up besides log_wait().  A cursor waits on one log's
 * condition variable.  A consumer-group member or a queue receiver waits for
 * "anything new on any of my partitions, or a record given back, or a change
 * of topics"; it cannot sleep on several condition variables at once.  So
 * such events bump one store-wide counter, `events`, and a waiter sleeps
 * until the counter differs from the value it read before it looked at its
 * partitions:
 *
 *     seen = store_watch(s);           producer:  log_append() publishes
 *     look at every partition;                    the new end, then
 *     nothing? store_wait(s, seen, d);            store_notify(s): if
 *     store_unwatch(s);                           anyone watches, bump
 *                                                 events and broadcast
 *
 * store_watch() counts the caller in `watchers` (seq_cst) before it looks;
 * the producer publishes the end (seq_cst) before it loads `watchers`.  So
 * either the look sees the new records, or the producer sees the watcher and
 * bumps events, and store_wait() returns at once: no wake-up is lost.  When
 * nobody watches, a notify costs one atomic load, so producers pay nothing
 * for a feature they do not use.  Waking is a broadcast: every watcher
 * re-checks.  A poller should look once before it watches, so that a
 * backlog is read without touching the shared counters at all.
 *
 * The closing gate.  samsa_close() may be called while other threads are
 * blocked in store_wait() (a member polling with timeout -1).  Blocking
 * calls go through store_enter()/store_leave(); samsa_close() sets
 * `closing`, wakes every waiter, and waits until no call is inside before
 * it frees anything.  store_wait() returns SAMSA_ECLOSED once closing is
 * set.  The handle a blocked caller holds (a member, a receiver) must then
 * stop touching the store: each module detaches its handles at close, under
 * the handle's own lock, before the gate drains (see its file).
 */
#include "store.h"

void
store_notify_init(samsa *s)
{
    samsa__cond_init_monotonic(&s->notify_cond);
    pthread_mutex_init(&s->notify_lock, NULL);
}

void
store_notify_destroy(samsa *s)
{
    pthread_cond_destroy(&s->notify_cond);
    pthread_mutex_destroy(&s->notify_lock);
}

uint64_t
store_watch(samsa *s)
{
    atomic_fetch_add(&s->watchers, 1);
    return atomic_load(&s->events);
}

void
store_unwatch(samsa *s)
{
    atomic_fetch_sub(&s->watchers, 1);
}

/* events moves under notify_lock, so a waiter that found it unchanged under
 * the lock is asleep before the broadcast can be sent. */
void
store_notify(samsa *s)
{
    if (atomic_load(&s->watchers) > 0) {
        samsa__lock(&s->notify_lock, SAMSA_RANK_LEAF);
        atomic_fetch_add(&s->events, 1);
        pthread_cond_broadcast(&s->notify_cond);
        samsa__unlock(&s->notify_lock, SAMSA_RANK_LEAF);
    }
}

typedef struct events_past {
    samsa *s;
    uint64_t seen;
} events_past;

static bool
events_moved(const void *arg)
{
    const events_past *e = arg;
    return atomic_load(&e->s->events) != e->seen || atomic_load(&e->s->closing);
}

int64_t
store_spin_ns(samsa *s, const samsa__spinner *sp)
{
    /* A wait with no spinner has learnt nothing: the longest spin, which
     * is what a fresh spinner would choose. */
    if (!s->spin_adaptive || sp == NULL)
        return s->spin_ns;
    return samsa__spinner_budget(sp, s->spin_ns);
}

void
store_spin_learn(samsa *s, samsa__spinner *sp, int64_t began_ns)
{
    if (s->spin_adaptive && sp != NULL)
        samsa__spinner_learn(sp, samsa__now_ns() - began_ns, s->spin_ns);
}

/* A watcher first polls events (store_spin_ns()): a producer meanwhile
 * bumps it under notify_lock and broadcasts to nobody, neither side
 * making a system call; then it sleeps. */
int
store_wait(samsa *s, uint64_t seen, int64_t deadline_ns, samsa__spinner *sp)
{
    events_past e = {s, seen};
    int64_t began = samsa__now_ns();
    (void)samsa__spin(events_moved, &e, store_spin_ns(s, sp), deadline_ns);
    int rc = 0;
    samsa__lock(&s->notify_lock, SAMSA_RANK_LEAF);
    while (atomic_load(&s->events) == seen && !atomic_load(&s->closing) &&
           rc == 0)
        rc = samsa__cond_wait_until(&s->notify_cond, &s->notify_lock,
                                    deadline_ns);
    samsa__unlock(&s->notify_lock, SAMSA_RANK_LEAF);
    store_spin_learn(s, sp, began);
    if (atomic_load(&s->closing))
        return SAMSA_ECLOSED;
    return atomic_load(&s->events) != seen ? 0 : SAMSA_ETIMEDOUT;
}

int
store_enter(samsa *s)
{
    atomic_fetch_add(&s->inside, 1);
    if (atomic_load(&s->closing)) {
        store_leave(s);
        return SAMSA_ECLOSED;
    }
    return 0;
}

void
store_leave(samsa *s)
{
    /* The last one out while closing wakes samsa_close() in
     * store_close_gate(); the broadcast is under the lock so it cannot
     * fall between that function's check and its wait. */
    if (atomic_fetch_sub(&s->inside, 1) == 1 && atomic_load(&s->closing)) {
        samsa__lock(&s->notify_lock, SAMSA_RANK_LEAF);
        pthread_cond_broadcast(&s->notify_cond);
        samsa__unlock(&s->notify_lock, SAMSA_RANK_LEAF);
    }
}

void
store_close_gate(samsa *s)
{
    samsa__lock(&s->notify_lock, SAMSA_RANK_LEAF);
    atomic_store(&s->closing, true);
    pthread_cond_broadcast(&s->notify_cond);
    while (atomic_load(&s->inside) > 0)
        pthread_cond_wait(&s->notify_cond, &s->notify_lock);
    samsa__unlock(&s->notify_lock, SAMSA_RANK_LEAF);
}
