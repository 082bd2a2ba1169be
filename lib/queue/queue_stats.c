/*
 * queue_stats.c - the figures of the share groups loaded in this process
 * (samsa_stats_shares(), samsa_stats_json()).
 *
 * Counted under each share-partition's lock, one partition at a time, by a
 * walk of its window (at most QUEUE_MAX_INFLIGHT records) and of the
 * outcomes kept below it: a monitoring call, never on the data path.
 */
#include <stdlib.h>
#include <string.h>

#include "queue.h"

static bool
dead(uint8_t state)
{
    return state == QS_REJECTED || state == QS_ARCHIVED;
}

/* One share-partition's counts (its lock held). */
static void
qpart_count(qpart *qp, samsa_share_stats *st)
{
    int64_t acquired = 0, deadn = 0;
    for (int64_t o = qp->start; o < qp->next; o++) {
        uint8_t state = qstate_rec(qp, o)->state;
        acquired += state == QS_ACQUIRED;
        deadn += dead(state);
    }
    for (size_t i = 0; qp->done != NULL && i < QUEUE_OUTCOMES; i++)
        deadn += qp->done[i].offset >= 0 && dead(qp->done[i].state);
    int64_t end = partition_end(qp->part);
    st->start = qp->start;
    st->acquired = acquired;
    st->available = qp->navail + (end > qp->next ? end - qp->next : 0);
    st->dead_lettered = deadn;
}

void
queue_stats_free(samsa_share_stats *st, size_t n)
{
    for (size_t i = 0; st != NULL && i < n; i++) {
        free((char *)st[i].group);
        free((char *)st[i].topic);
    }
    free(st);
}

int
queue_stats_collect(samsa *s, samsa_share_stats **out, size_t *nout)
{
    samsa_share_stats *st = NULL;
    size_t n = 0;
    int rc = 0;
    samsa__lock(&s->queue_lock, SAMSA_RANK_QUEUES);
    for (qgroup *g = s->qgroups; rc == 0 && g != NULL; g = g->next) {
        if (g->deleted)
            continue;
        uint32_t receivers = 0;
        for (const samsa_queue *q = g->receivers; q != NULL; q = q->next)
            receivers++;
        samsa_share_stats *m = realloc(st, (n + (size_t)g->nparts) * sizeof *m);
        if (m == NULL) {
            rc = SAMSA_ENOMEM;
            break;
        }
        st = m;
        for (int32_t p = 0; rc == 0 && p < g->nparts; p++) {
            samsa_share_stats *e = &st[n];
            memset(e, 0, sizeof *e);
            e->group = strdup(g->name);
            e->topic = strdup(g->topic);
            n++;
            if (e->group == NULL || e->topic == NULL) {
                rc = SAMSA_ENOMEM;
                break;
            }
            e->partition = p;
            e->receivers = receivers;
            qpart *qp = &g->parts[p];
            samsa__lock_nth(&qp->lock, SAMSA_RANK_QPART, qp->partition);
            qpart_count(qp, e);
            samsa__unlock_nth(&qp->lock, SAMSA_RANK_QPART, qp->partition);
        }
    }
    samsa__unlock(&s->queue_lock, SAMSA_RANK_QUEUES);
    if (rc != 0) {
        queue_stats_free(st, n);
        return rc;
    }
    *out = st;
    *nout = n;
    return 0;
}
