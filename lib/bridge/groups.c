/*
 * groups.c - carrying consumer groups' committed offsets to Kafka (the
 * mirror's groups option).
 *
 * A store offset o of a mirrored partition is Kafka offset
 * o - S_BASE + K_BASE (the state file's mapping) where the store's offsets
 * are dense: the mirror sends every record from S_BASE on, in order, and
 * Kafka gives them consecutive offsets from K_BASE.  A Kafka topic that
 * started empty, mirrored from a store partition whose log starts at 0,
 * has the same offsets.  A partition with gaps (SAMSA_PARTITION_GAPS: an
 * adopted Kafka log, a compacted topic) holds fewer records than offsets,
 * and Kafka's are dense again, so there the records from o up to the
 * acknowledged pair (S_ACKED, K_ACKED) are counted: o is K_ACKED minus
 * them.  Where they cannot be counted (retention removed some since), it
 * is K_ACKED minus S_ACKED - o, as if every offset from o up held a
 * record: never past the true one, so a group may then read again, never
 * skip (the dense formula from S_BASE would be past it).  A committed
 * offset below S_BASE points at records never mirrored: it becomes K_BASE,
 * the first record Kafka has of them; one past what Kafka acknowledged
 * becomes Kafka's end.  The commit is Kafka's OffsetCommit, sent through the
 * admin API (AlterConsumerGroupOffsets), which Kafka accepts only while the
 * group has no members there.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"

typedef struct carry {
    samsa *s;                              /* the store               */
    rd_kafka_t *rk;                        /* the producer, for admin */
    mirror_state *st;                      /* mapping                 */
    char **topics;                         /* mirrored topics         */
    size_t ntopics;                        /* count                   */
    rd_kafka_topic_partition_list_t *list; /* the group's offsets     */
    bridge_err *e;                         /* the first error         */
} carry;

static int
mirrored(const carry *c, const char *topic)
{
    for (size_t i = 0; i < c->ntopics; i++)
        if (strcmp(c->topics[i], topic) == 0)
            return 1;
    return 0;
}

static int
gaps_flag(const samsa_partition_stats *p, void *ctx)
{
    const samsa_group_offset *o = ctx;
    if (p->partition != o->partition)
        return 0;
    return (p->flags & SAMSA_PARTITION_GAPS) ? 2 : 1;
}

/* The records of a partition with gaps from store offset o up to e's
 * acknowledged pair, or -1 where they cannot all be read. */
static int64_t
records_before_acked(samsa *s, const samsa_group_offset *o,
                     const state_entry *e)
{
    samsa_cursor *cur;
    if (samsa_cursor_open(s, o->topic, o->partition, o->committed, &cur) != 0)
        return -1;
    int64_t n = 0;
    samsa_message m;
    int rc;
    while ((rc = samsa_cursor_next(cur, &m, 0)) == 0 && m.offset < e->s_acked)
        n++;
    samsa_cursor_close(cur);
    return rc == 0 || rc == SAMSA_ETIMEDOUT ? n : -1;
}

/* Kafka's offset of store offset o->committed (see the top). */
static int64_t
kafka_offset(samsa *s, const samsa_group_offset *o, const state_entry *e)
{
    if (o->committed <= e->s_base)
        return e->k_base;
    if (o->committed >= e->s_acked)
        return e->k_acked;
    if (samsa_stats_partitions(s, o->topic, gaps_flag, (void *)o) != 2)
        return o->committed - e->s_base + e->k_base;
    int64_t n = records_before_acked(s, o, e);
    if (n < 0) /* the most records there could be: the lowest offset */
        n = e->s_acked - o->committed;
    return e->k_acked - n > e->k_base ? e->k_acked - n : e->k_base;
}

static int
add_offset(const samsa_group_offset *o, void *ctx)
{
    carry *c = ctx;
    if (!mirrored(c, o->topic))
        return 0;
    state_entry *e = state_find(c->st, o->topic, o->partition);
    if (e == NULL)
        return 0;
    int64_t k = kafka_offset(c->s, o, e);
    rd_kafka_topic_partition_list_add(c->list, o->topic, o->partition)->offset =
        k;
    return 0;
}

/* Commit c->list for group through the admin API. */
static int
commit(carry *c, const char *group)
{
    rd_kafka_AlterConsumerGroupOffsets_t *a =
        rd_kafka_AlterConsumerGroupOffsets_new(group, c->list);
    bridge_admin ad;
    bridge_admin_begin(c->rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS, &ad);
    rd_kafka_AlterConsumerGroupOffsets(c->rk, &a, 1, ad.opt, ad.q);
    char what[SAMSA_MAX_TOPIC_NAME + 64];
    snprintf(what, sizeof what, "committing group %s to Kafka", group);
    rd_kafka_event_t *ev = bridge_admin_result(&ad, what, c->e);
    int rc = ev == NULL ? c->e->rc : 0;
    if (ev != NULL) {
        size_t n;
        const rd_kafka_group_result_t **gr =
            rd_kafka_AlterConsumerGroupOffsets_result_groups(
                rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
        for (size_t i = 0; i < n && rc == 0; i++) {
            const rd_kafka_error_t *ge = rd_kafka_group_result_error(gr[i]);
            const rd_kafka_topic_partition_list_t *pl =
                rd_kafka_group_result_partitions(gr[i]);
            if (ge != NULL)
                rc = bridge_fail(c->e, bridge_code(rd_kafka_error_code(ge)),
                                 "committing group %s to Kafka: %s", group,
                                 rd_kafka_error_string(ge));
            for (int j = 0; pl != NULL && j < pl->cnt && rc == 0; j++)
                if (pl->elems[j].err != RD_KAFKA_RESP_ERR_NO_ERROR)
                    rc = bridge_fail(
                        c->e, bridge_code(pl->elems[j].err),
                        "committing group %s, %s/%" PRId32 " to Kafka: %s",
                        group, pl->elems[j].topic, pl->elems[j].partition,
                        rd_kafka_err2str(pl->elems[j].err));
        }
    }
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    bridge_admin_end(&ad);
    rd_kafka_AlterConsumerGroupOffsets_destroy(a);
    return rc;
}

static int
carry_group(const char *name, samsa_group_type type, void *ctx)
{
    carry *c = ctx;
    if (type != SAMSA_GROUP_CONSUMER)
        return 0; /* share groups' in-flight state has no Kafka form */
    c->list = rd_kafka_topic_partition_list_new(16);
    int rc = samsa_group_offsets(c->s, name, add_offset, c);
    if (rc != 0)
        rc = bridge_fail(c->e, rc, "group %s: %s", name, samsa_strerror(rc));
    else if (c->list->cnt > 0)
        rc = commit(c, name);
    rd_kafka_topic_partition_list_destroy(c->list);
    c->list = NULL;
    return rc;
}

int
bridge_carry_groups(samsa *s, rd_kafka_t *rk, mirror_state *st, char **topics,
                    size_t ntopics, bridge_err *e)
{
    carry c = {.s = s,
               .rk = rk,
               .st = st,
               .topics = topics,
               .ntopics = ntopics,
               .e = e};
    int rc = samsa_group_list(s, carry_group, &c);
    if (rc != 0 && e->rc == 0)
        bridge_fail(e, rc, "listing groups: %s", samsa_strerror(rc));
    return rc != 0 ? e->rc : 0;
}
