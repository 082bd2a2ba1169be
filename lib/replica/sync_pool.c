/*
 * sync_pool.c - long-lived threads that fdatasync the copies of a file in
 * parallel.
 *
 * Why threads at all.  An acks=all produce under SAMSA_SYNC_ALWAYS is
 * acknowledged once every in-sync copy is on its disk; syncing the copies
 * one after another would add their latencies, and the copies are on
 * separate disks precisely so that they can work at once.  Why a pool.
 * Starting a thread per copy per sync cost a clone(), a stack mapping and
 * a join on every acknowledged produce; the pool's threads start with the
 * store and wait on a condition variable between syncs.
 *
 * The protocol.  A caller with n syncs to make queues n - 1 of them, runs
 * the first itself, then, while any of its jobs is still queued (every
 * worker busy with other partitions' syncs), takes it back and runs it
 * too: so a call never waits for a worker to become free, and the pool
 * bounds only how many syncs run beside callers, never whether a call
 * makes progress.  Workers mark a job done under the pool's lock and
 * broadcast `done`; a caller sleeps on it until its jobs are all done.
 * Jobs live on the caller's stack: a job is touched by a worker only
 * between taking it from the queue and marking it done, and the caller
 * returns only after that.
 *
 * Lock order: the pool's lock is a leaf; the job's function (an fdatasync
 * through the I/O table) runs with it released.
 */
#include <stdlib.h>

#include "replica.h"

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

static void *
worker_main(void *arg)
{
    sync_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->head == NULL && !p->stop)
            pthread_cond_wait(&p->work, &p->lock);
        if (p->head == NULL) /* stopping, and nothing left queued */
            break;
        sync_job *j = p->head;
        p->head = j->next;
        j->state = JOB_RUNNING;
        pthread_mutex_unlock(&p->lock);
        j->fn(j);
        pthread_mutex_lock(&p->lock);
        j->state = JOB_DONE;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

void
sync_pool_start(sync_pool *p, int threads)
{
    *p = (sync_pool){0};
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 0; i < threads && i < REPLICA_MAX; i++) {
        if (pthread_create(&p->th[i], NULL, worker_main, p) != 0)
            break; /* fewer workers: callers run more jobs themselves */
        p->nthreads++;
    }
}

void
sync_pool_stop(sync_pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
}

/* Unlink j from the queue (pool lock held); false when a worker has it. */
static bool
take_back(sync_pool *p, sync_job *j)
{
    for (sync_job **pj = &p->head; *pj != NULL; pj = &(*pj)->next)
        if (*pj == j) {
            *pj = j->next;
            return true;
        }
    return false;
}

void
sync_pool_run(sync_pool *p, sync_job *jobs, int n)
{
    if (n <= 0)
        return;
    bool queue = p != NULL && p->nthreads > 0 && n > 1;
    if (queue) {
        pthread_mutex_lock(&p->lock);
        for (int k = 1; k < n; k++) { /* FIFO: append at the tail */
            jobs[k].state = JOB_QUEUED;
            jobs[k].next = NULL;
            sync_job **pj = &p->head;
            while (*pj != NULL)
                pj = &(*pj)->next;
            *pj = &jobs[k];
        }
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->lock);
    }
    jobs[0].fn(&jobs[0]);
    if (!queue) {
        for (int k = 1; k < n; k++)
            jobs[k].fn(&jobs[k]);
        return;
    }
    pthread_mutex_lock(&p->lock);
    for (int k = 1; k < n; k++) {
        if (jobs[k].state == JOB_QUEUED && take_back(p, &jobs[k])) {
            pthread_mutex_unlock(&p->lock);
            jobs[k].fn(&jobs[k]);
            pthread_mutex_lock(&p->lock);
            jobs[k].state = JOB_DONE;
        }
        while (jobs[k].state != JOB_DONE)
            pthread_cond_wait(&p->done, &p->lock);
    }
    pthread_mutex_unlock(&p->lock);
}
