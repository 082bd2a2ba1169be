/*
 * assignor.c - how a group spreads partitions over its members: Kafka's
 * range, round-robin and (cooperative) sticky assignors.
 *
 * Pure functions of their input: the members in join order, the topics in
 * name order, which member subscribes which topic, and, for sticky, who had
 * each partition before.  The same input always gives the same output, so
 * a rebalance moves nothing that did not have to move under range and
 * round-robin either, as long as membership is unchanged.
 *
 * Invariant (checked by the tests after every rebalance): every partition
 * of a topic that at least one member subscribes is given to exactly one
 * member that subscribes it; partitions of other topics get -1.
 *
 *  range       per topic, its subscribers in join order each get a run of
 *              consecutive partitions, the first (P mod M) one more
 *              (Kafka's RangeAssignor);
 *  round-robin all partitions of all topics in (topic, partition) order are
 *              dealt to the members in turn, skipping a member that does
 *              not subscribe the topic (Kafka's RoundRobinAssignor);
 *  sticky      a partition stays with the member that had it when that
 *              member still subscribes it; the rest go to the least loaded
 *              subscriber; then partitions move one at a time from a member
 *              that has two or more more than another subscriber of their
 *              topic, until none does.  Few partitions move on a join or a
 *              leave, which is what the cooperative protocol needs
 *              (Kafka's CooperativeStickyAssignor, simplified).
 */
#include <stdlib.h>

#include "group.h"

static bool
can(const assign_input *in, size_t m, size_t t)
{
    return in->eligible[m * in->ntopics + t];
}

static void
assign_range(const assign_input *in, int32_t **out)
{
    for (size_t t = 0; t < in->ntopics; t++) {
        int32_t subs = 0;
        for (size_t m = 0; m < in->nmembers; m++)
            subs += can(in, m, t);
        int32_t p = 0, k = 0;
        for (size_t m = 0; m < in->nmembers && subs > 0; m++) {
            if (!can(in, m, t))
                continue;
            int32_t take = in->parts[t] / subs + (k < in->parts[t] % subs);
            for (int32_t i = 0; i < take; i++)
                out[t][p++] = (int32_t)m;
            k++;
        }
        for (; p < in->parts[t]; p++)
            out[t][p] = -1;
    }
}

static void
assign_roundrobin(const assign_input *in, int32_t **out)
{
    size_t next = 0;
    for (size_t t = 0; t < in->ntopics; t++)
        for (int32_t p = 0; p < in->parts[t]; p++) {
            out[t][p] = -1;
            for (size_t i = 0; i < in->nmembers; i++) {
                size_t m = (next + i) % in->nmembers;
                if (can(in, m, t)) {
                    out[t][p] = (int32_t)m;
                    next = m + 1;
                    break;
                }
            }
        }
}

/* The subscriber of topic t with the fewest partitions (first in join
 * order among equals), or -1. */
static int32_t
least_loaded(const assign_input *in, const size_t *load, size_t t)
{
    int32_t best = -1;
    for (size_t m = 0; m < in->nmembers; m++)
        if (can(in, m, t) && (best < 0 || load[m] < load[best]))
            best = (int32_t)m;
    return best;
}

static void
assign_sticky(const assign_input *in, int32_t **out)
{
    size_t *load = calloc(in->nmembers + 1, sizeof *load);
    if (load == NULL) { /* still a valid assignment, just not sticky */
        assign_roundrobin(in, out);
        return;
    }
    /* Keep what a member had and still subscribes. */
    for (size_t t = 0; t < in->ntopics; t++)
        for (int32_t p = 0; p < in->parts[t]; p++) {
            int32_t m = in->prev != NULL ? in->prev[t][p] : -1;
            if (m >= 0 && (size_t)m < in->nmembers && can(in, (size_t)m, t)) {
                out[t][p] = m;
                load[m]++;
            } else {
                out[t][p] = -1;
            }
        }
    /* Give the rest to the least loaded subscribers. */
    for (size_t t = 0; t < in->ntopics; t++)
        for (int32_t p = 0; p < in->parts[t]; p++)
            if (out[t][p] < 0 && (out[t][p] = least_loaded(in, load, t)) >= 0)
                load[out[t][p]]++;
    /* Move partitions from the loaded to the idle until balanced.  Each
     * move lowers the sum of squared loads, so the loop ends. */
    bool moved = true;
    while (moved) {
        moved = false;
        for (size_t t = 0; t < in->ntopics; t++)
            for (int32_t p = 0; p < in->parts[t]; p++) {
                int32_t from = out[t][p], to = least_loaded(in, load, t);
                if (from >= 0 && to >= 0 && load[from] > load[to] + 1) {
                    out[t][p] = to;
                    load[from]--;
                    load[to]++;
                    moved = true;
                }
            }
    }
    free(load);
}

void
assign_compute(int assignor, const assign_input *in, int32_t **out)
{
    switch (assignor) {
    case SAMSA_ASSIGN_RANGE:
        assign_range(in, out);
        break;
    case SAMSA_ASSIGN_ROUNDROBIN:
        assign_roundrobin(in, out);
        break;
    default:
        assign_sticky(in, out);
        break;
    }
}
