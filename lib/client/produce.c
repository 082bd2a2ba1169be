/*
 * produce.c - samsa_produce: check the records, pick partitions, encode one
 * batch per partition, hand each to its log.
 *
 * Everything that can be checked is checked before the first byte is
 * written, so a bad record changes nothing.  The batch is encoded and
 * checksummed here, outside any lock; the log only stamps the base offset
 * (which is outside the CRC) and copies the bytes under its lock.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "produce.h"
#include "storage/codec.h"

/* Records per call handled without malloc. */
#define STACK_RECORDS 64
#define STACK_BATCH   4096

/* A run of records bound for one partition: order[first..first+count). */
typedef struct group {
    int32_t partition; /* where they go                                    */
    size_t first;      /* index of the first in order[]                    */
    size_t count;      /* how many                                         */
    size_t bytes;      /* encoded batch size                               */
} group;

int
produce_record_check(const samsa_record *r)
{
    if ((r->key == NULL && r->key_len != 0) ||
        (r->value == NULL && r->value_len != 0) ||
        (r->headers == NULL && r->header_count != 0) || r->timestamp < 0 ||
        !SAMSA_RESERVED_ZERO(r->reserved))
        return SAMSA_EINVAL;
    if (r->key_len > INT32_MAX || r->value_len > INT32_MAX ||
        r->header_count > INT32_MAX)
        return SAMSA_ETOOBIG;
    for (size_t i = 0; i < r->header_count; i++) {
        const samsa_header *h = &r->headers[i];
        if (h->key == NULL || (h->value == NULL && h->value_len != 0) ||
            !SAMSA_RESERVED_ZERO(h->reserved))
            return SAMSA_EINVAL;
        if (h->value_len > INT32_MAX)
            return SAMSA_ETOOBIG;
    }
    return 0;
}

/* Kafka's default partitioner: a key's murmur2; keyless records of one call
 * all go to one partition, the next in round-robin order (a sticky
 * partition per call). */
static int32_t
pick_partition(topic *t, const samsa_record *r, int32_t *sticky)
{
    if (r->key != NULL)
        return samsa_partition_for_key(r->key, r->key_len, t->cfg.partitions);
    if (*sticky < 0)
        *sticky = (int32_t)(atomic_fetch_add_explicit(&t->sticky, 1,
                                                      memory_order_relaxed) %
                            (uint32_t)t->cfg.partitions);
    return *sticky;
}

/* The group of partition p in a table of cap (a power of two) slots,
 * each 0 or 1 + a group's index: its slot. */
static size_t
group_slot(const uint32_t *table, size_t cap, const group *groups, int32_t p)
{
    size_t h = ((uint32_t)p * 2654435761u) & (cap - 1);
    while (table[h] != 0 && groups[table[h] - 1].partition != p)
        h = (h + 1) & (cap - 1);
    return h;
}

/* group_records() for many records: a table from partition to group, so
 * that each record costs one look-up, not a scan of the groups so far
 * (100,000 keyed records over 2,048 partitions spent half their call
 * there; a topic may have 65,536).  Two passes: count, then place. */
static int
group_hashed(samsa_record *recs, size_t n, int32_t partitions,
             samsa_record **order, group *groups, size_t *ngroups)
{
    /* At most one group a partition: a table twice that, or twice n. */
    size_t most = n < (size_t)partitions ? n : (size_t)partitions, cap = 16;
    while (cap < 2 * most)
        cap *= 2;
    uint32_t *table = calloc(cap, sizeof *table);
    if (table == NULL)
        return SAMSA_ENOMEM;
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        size_t h = group_slot(table, cap, groups, recs[i].partition);
        if (table[h] == 0) {
            groups[ng] = (group){recs[i].partition, 0, 0, 0};
            table[h] = (uint32_t)++ng;
        }
        groups[table[h] - 1].count++;
    }
    for (size_t g = 0, first = 0; g < ng; g++) {
        groups[g].first = first;
        first += groups[g].count;
        groups[g].count = 0; /* counted again as they are placed */
    }
    for (size_t i = 0; i < n; i++) {
        group *gr =
            &groups[table[group_slot(table, cap, groups, recs[i].partition)] -
                    1];
        order[gr->first + gr->count++] = &recs[i];
    }
    free(table);
    *ngroups = ng;
    return 0;
}

/* Sort the records into groups by partition, in order of first appearance
 * (so each partition's records keep the caller's order), into *ngroups
 * groups: 0 or SAMSA_ENOMEM.  order[] and groups[] have room for n. */
static int
group_records(topic *t, int32_t partition, samsa_record *recs, size_t n,
              samsa_record **order, group *groups, size_t *ngroups_out)
{
    int32_t sticky = -1;
    size_t ngroups = 0, placed = 0;
    for (size_t i = 0; i < n; i++)
        recs[i].partition = partition != SAMSA_PARTITION_ANY
                                ? partition
                                : pick_partition(t, &recs[i], &sticky);
    if (n > STACK_RECORDS && partition == SAMSA_PARTITION_ANY &&
        t->cfg.partitions > 1)
        return group_hashed(recs, n, t->cfg.partitions, order, groups,
                            ngroups_out);
    for (size_t i = 0; i < n; i++) {
        size_t g = 0;
        while (g < ngroups && groups[g].partition != recs[i].partition)
            g++;
        if (g < ngroups)
            continue; /* already gathered with its group */
        groups[g] = (group){recs[i].partition, placed, 0, 0};
        for (size_t j = i; j < n; j++)
            if (recs[j].partition == recs[i].partition)
                order[placed + groups[g].count++] = &recs[j];
        placed += groups[g].count;
        ngroups++;
    }
    *ngroups_out = ngroups;
    return 0;
}

/* With the topic's compression, the batch of len bytes at buf
 * compressed into *packed (the caller frees it): its size, or 0 when it
 * is stored as it is (no compression, or the codec made it no smaller:
 * the stored batch never outgrows the uncompressed one, which
 * max_message_bytes bounds and the segment's view is sized for), or
 * SAMSA_ENOMEM. */
static int
produce_compress(const topic *t, const uint8_t *buf, size_t len,
                 uint8_t **packed)
{
    int codec = t->cfg.compression;
    *packed = NULL;
    if (codec == SAMSA_COMPRESSION_NONE)
        return 0;
    size_t n;
    uint8_t *p =
        malloc(BATCH_HEADER_SIZE + codec_bound(codec, len - BATCH_HEADER_SIZE));
    if (p == NULL)
        return SAMSA_ENOMEM;
    int rc = batch_compress(buf, len, codec, t->cfg.compression_level, p, &n);
    if (rc != 0 || n >= len) {
        free(p);
        return rc;
    }
    *packed = p;
    return (int)n;
}

/* Append the encoded batch (len bytes at buf) to partition p of t,
 * compressed as t says. */
static int
append_batch(topic *t, int32_t p, uint8_t *buf, size_t len, int32_t count,
             int64_t max_ts, int64_t *base)
{
    uint8_t *packed = NULL, *out = buf;
    if (t->cfg.timestamp_type == SAMSA_TIMESTAMP_LOG_APPEND_TIME) {
        /* Stamped here, just before the append (the log's lock is not
         * held yet; a batch appended after another may so carry a time a
         * few microseconds older, as batches of two Kafka brokers' threads
         * may). */
        max_ts = samsa__wall_ms();
        batch_set_log_append_time(buf, len, max_ts);
    }
    int rc = produce_compress(t, buf, len, &packed);
    if (rc > 0) { /* smaller compressed: stored so */
        out = packed;
        len = (size_t)rc;
        rc = 0;
    }
    *base = -1;
    if (rc == 0)
        rc = partition_append(t->parts[p], out, len, count, max_ts, base);
    free(packed);
    return rc;
}

int
produce_encoded(samsa *s, const char *topic_name, uint64_t topic_id,
                int32_t partition, uint8_t *batch, size_t len, int32_t count,
                bool keyless, int64_t max_ts, int64_t *base)
{
    *base = -1;
    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    topic *t;
    int rc = topic_lookup(s, topic_name, SAMSA_PARTITION_ANY, true, &t);
    if (rc == 0 && topic_id != 0 && t->id != topic_id)
        rc = SAMSA_ENOTOPIC; /* the one they were sent to is gone */
    else if (rc == 0 && (partition < 0 || partition >= t->cfg.partitions))
        rc = SAMSA_ENOPARTITION;
    if (rc == 0 && len > (size_t)t->cfg.max_message_bytes)
        rc = SAMSA_ETOOBIG; /* lowered since the records were sent */
    /* Checked here, at the append, as samsa_produce() checks: a topic
     * made compacted after the records were sent (the asynchronous
     * producer), or an idempotent Kafka batch, held keyless records. */
    if (rc == 0 && keyless && (t->cfg.cleanup_policy & SAMSA_CLEANUP_COMPACT))
        rc = SAMSA_EINVAL;
    if (rc == 0)
        rc = append_batch(t, partition, batch, len, count, max_ts, base);
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    if (*base >= 0)
        store_notify(s);
    return rc;
}

/* Encode one group's batch and append it; sets the records' offsets. */
static int
produce_group(topic *t, samsa_record **order, const size_t *bodies,
              const group *g)
{
    uint8_t stack[STACK_BATCH];
    uint8_t *buf = g->bytes <= sizeof stack ? stack : malloc(g->bytes);
    if (buf == NULL)
        return SAMSA_ENOMEM;
    samsa_record **recs = order + g->first;
    int64_t max_ts = batch_encode(buf, recs, g->count, bodies + g->first);
    int64_t base;
    int rc = append_batch(t, g->partition, buf, g->bytes, (int32_t)g->count,
                          max_ts, &base);
    /* Stored, even when a copy left during the call and too few are in
     * sync to count it safe: the offsets are set, the records are there
     * (partition.h). */
    if (base >= 0)
        for (size_t i = 0; i < g->count; i++)
            recs[i]->offset = base + (int64_t)i;
    if (buf != stack)
        free(buf);
    return rc;
}

SAMSA_API int
samsa_produce(samsa *s, const char *topic_name, int32_t partition,
              samsa_record *recs, size_t n)
{
    if (s == NULL || topic_name == NULL || (recs == NULL && n > 0))
        return SAMSA_EINVAL;
    int64_t now = -1;
    for (size_t i = 0; i < n; i++)
        recs[i].offset = -1;
    if (s->rdonly)
        return SAMSA_ERDONLY;
    for (size_t i = 0; i < n; i++) {
        int rc = produce_record_check(&recs[i]);
        if (rc != 0)
            return rc;
        if (recs[i].timestamp == 0)
            now = now < 0 ? samsa__wall_ms() : now;
    }

    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    topic *t;
    int rc = topic_lookup(s, topic_name, partition, true, &t);
    /* A compacted topic keeps the latest record of each key: one without
     * a key has no place in it (Kafka refuses them too), and nothing of
     * the call is stored. */
    for (size_t i = 0; rc == 0 && i < n; i++)
        if ((t->cfg.cleanup_policy & SAMSA_CLEANUP_COMPACT) &&
            recs[i].key == NULL)
            rc = SAMSA_EINVAL;
    samsa_record *order_stack[STACK_RECORDS], **order = order_stack;
    group groups_stack[STACK_RECORDS], *groups = groups_stack;
    size_t bodies_stack[STACK_RECORDS], *bodies = bodies_stack;
    if (rc == 0 && n > STACK_RECORDS) {
        order = malloc(n * sizeof *order);
        groups = malloc(n * sizeof *groups);
        bodies = malloc(n * sizeof *bodies);
        if (order == NULL || groups == NULL || bodies == NULL)
            rc = SAMSA_ENOMEM;
    }
    size_t ngroups = 0;
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            if (recs[i].timestamp == 0)
                recs[i].timestamp = now;
        rc = group_records(t, partition, recs, n, order, groups, &ngroups);
    }
    for (size_t g = 0; rc == 0 && g < ngroups; g++) {
        groups[g].bytes = batch_encoded_size(
            order + groups[g].first, groups[g].count, bodies + groups[g].first);
        if (groups[g].bytes > (size_t)t->cfg.max_message_bytes)
            rc = SAMSA_ETOOBIG;
    }
    for (size_t g = 0; rc == 0 && g < ngroups; g++)
        rc = produce_group(t, order, bodies, &groups[g]);
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    if (ngroups > 0) /* wake pollers of many partitions (notify.c) */
        store_notify(s);
    if (order != order_stack)
        free(order);
    if (groups != groups_stack)
        free(groups);
    if (bodies != bodies_stack)
        free(bodies);
    return rc;
}

SAMSA_API int
samsa_offsets(samsa *s, const char *topic_name, int32_t partition,
              int64_t *first, int64_t *end)
{
    if (s == NULL)
        return SAMSA_EINVAL;
    if (s->rdonly)
        (void)store_follow_catalog(s, false);
    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    topic *t;
    int rc = topic_lookup(s, topic_name, partition, false, &t);
    if (rc == 0) {
        if (first != NULL)
            *first = partition_start(t->parts[partition]);
        if (end != NULL)
            *end = partition_end(t->parts[partition]);
    }
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    return rc;
}
