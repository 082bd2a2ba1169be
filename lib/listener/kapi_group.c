/*
 * kapi_group.c - a consumer's committed offsets over Kafka's protocol:
 * FindCoordinator (key 10), OffsetCommit (key 8) and OffsetFetch (key 9).
 *
 * The offsets are the store's own: the same catalog entries that
 * samsa_consumer_commit() writes and samsa_group_offsets() reads, so a
 * Kafka client and the application's threads see one set of committed
 * offsets per group name.  A member of a group joined through the
 * listener (kapi_join.c) commits with its generation and member id, which
 * the coordinator checks first (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
 * REBALANCE_IN_PROGRESS, as Kafka).  A client that assigns itself
 * partitions commits with generation -1, which is taken while the group
 * has no member, here or in-process (as Kafka takes it only for a group in
 * the Empty state); otherwise it is refused with UNKNOWN_MEMBER_ID, as
 * Kafka refuses a commit from outside the group.
 *
 * Each partition's commit is its own transaction (samsa_group_reset(),
 * which clamps the offset to the log): a request with several partitions
 * is not all-or-none, which Kafka does not promise either.
 */
#include <stdlib.h>
#include <string.h>

#include "listener.h"

int
kapi_find_coordinator(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    (void)c;
    int16_t v = req->version;
    (void)kread_str(&req->body, false); /* the group or transaction id */
    int8_t type = v >= 1 ? kread_i8(&req->body) : 0;
    if (req->body.bad)
        return KANS_CLOSE;
    /* Groups (0) only: transactions (1) have no coordinator here. */
    int16_t err = type == 0 ? KERR_NONE : KERR_COORDINATOR_NOT_AVAILABLE;
    if (v >= 1)
        kwrite_i32(out, 0); /* throttle_time_ms */
    kwrite_i16(out, err);
    if (v >= 1)
        kwrite_strz(out, false, NULL); /* error message */
    kwrite_i32(out, err == KERR_NONE ? 0 : -1);
    kwrite_strz(out, false, err == KERR_NONE ? l->advertised : "");
    kwrite_i32(out, err == KERR_NONE ? l->port : -1);
    return KANS_DONE;
}

/* The Kafka error of one partition's commit. */
static int16_t
commit_one(samsa *s, const char *group, const char *topic_name, int32_t p,
           int64_t offset, int16_t member_err)
{
    if (group == NULL)
        return KERR_INVALID_GROUP_ID;
    if (member_err != KERR_NONE)
        return member_err; /* the coordinator's: kgroups_commit_check */
    if (topic_name == NULL)
        return KERR_UNKNOWN_TOPIC_OR_PARTITION;
    if (offset < 0)
        return KERR_OFFSET_OUT_OF_RANGE;
    int rc = samsa_group_reset(s, group, topic_name, p, SAMSA_RESET_TO_OFFSET,
                               offset);
    if (rc == SAMSA_EBUSY)
        return KERR_UNKNOWN_MEMBER_ID;
    if (rc == SAMSA_EINVAL)
        return KERR_INVALID_GROUP_ID;
    return kapi_error(rc);
}

int
kapi_offset_commit(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    (void)c;
    int16_t v = req->version;
    kread *r = &req->body;
    char *group = kstr_dup(kread_str(r, false));
    int32_t generation = kread_i32(r);
    kstr member = kread_str(r, false);
    if (v >= 7)
        (void)kread_str(r, false); /* group instance id */
    if (v >= 2 && v <= 4)
        (void)kread_i64(r); /* retention time: offsets stay */
    /* A member of a group joined here must be one of its current
     * generation; a commit from outside any group (generation -1, no
     * member) only to a group with no member. */
    int16_t member_err = kgroups_commit_check(l, group, generation, member);
    if (v >= 3)
        kwrite_i32(out, 0); /* throttle_time_ms */
    int32_t nt = kread_array(r, false, 6);
    kwrite_array(out, false, nt < 0 ? 0 : nt);
    for (int32_t t = 0; t < nt && !r->bad; t++) {
        char *tname;
        int32_t np = kapi_topic_echo(r, out, 14, &tname);
        for (int32_t i = 0; i < np && !r->bad; i++) {
            int32_t p = kread_i32(r);
            int64_t offset = kread_i64(r);
            if (v >= 6)
                (void)kread_i32(r);    /* committed leader epoch */
            (void)kread_str(r, false); /* metadata: not kept */
            if (r->bad)
                break;
            kwrite_i32(out, p);
            kwrite_i16(out,
                       commit_one(l->s, group, tname, p, offset, member_err));
        }
        free(tname);
    }
    free(group);
    return r->bad ? KANS_CLOSE : KANS_DONE;
}

/* ---- OffsetFetch ----------------------------------------------------------
 */

/* A committed offset of a group (samsa_group_offsets). */
typedef struct centry {
    char *topic;
    int32_t partition;
    int64_t offset;
} centry;

/* A group's committed offsets, gathered, then sorted by topic and
 * partition: each requested partition is found by a binary search (a
 * scan made 100,000 requested against 1,024 committed cost 0.03 s, and
 * grew with the product), and a topic's partitions are next to each
 * other for the answer that lists them all. */
typedef struct committed {
    centry *e;
    size_t n, cap;
    bool failed;
} committed;

static int
gather(const samsa_group_offset *o, void *ctx)
{
    committed *cm = ctx;
    if (samsa__array_room(&cm->e, cm->n, &cm->cap, sizeof *cm->e, 16) != 0 ||
        (cm->e[cm->n].topic = strdup(o->topic)) == NULL) {
        cm->failed = true;
        return 1;
    }
    cm->e[cm->n].partition = o->partition;
    cm->e[cm->n++].offset = o->committed;
    return 0;
}

static int
centry_cmp(const void *a, const void *b)
{
    const centry *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c != 0
               ? c
               : (x->partition > y->partition) - (x->partition < y->partition);
}

static void
committed_free(committed *cm)
{
    for (size_t i = 0; i < cm->n; i++)
        free(cm->e[i].topic);
    free(cm->e);
}

/* The committed offset of topic-p, -1 for none. */
static int64_t
committed_find(const committed *cm, const char *topic_name, int32_t p)
{
    centry key = {.topic = (char *)topic_name, .partition = p};
    const centry *e =
        cm->n > 0 ? bsearch(&key, cm->e, cm->n, sizeof *cm->e, centry_cmp)
                  : NULL;
    return e != NULL ? e->offset : -1;
}

static void
fetched_partition(kwrite *out, int16_t v, int32_t p, int64_t offset)
{
    kwrite_i32(out, p);
    kwrite_i64(out, offset);
    if (v >= 5)
        kwrite_i32(out, -1);                         /* leader epoch */
    kwrite_strz(out, false, offset < 0 ? NULL : ""); /* metadata */
    kwrite_i16(out, KERR_NONE);
}

int
kapi_offset_fetch(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    (void)c;
    int16_t v = req->version;
    kread *r = &req->body;
    char *group = kstr_dup(kread_str(r, false));
    committed cm = {0};
    int rc = group == NULL ? SAMSA_EINVAL
                           : samsa_group_offsets(l->s, group, gather, &cm);
    free(group);
    if (cm.n > 1)
        qsort(cm.e, cm.n, sizeof *cm.e, centry_cmp);
    int16_t err = cm.failed            ? KERR_UNKNOWN
                  : rc == SAMSA_EINVAL ? KERR_INVALID_GROUP_ID
                                       : kapi_error(rc);
    if (v >= 3)
        kwrite_i32(out, 0); /* throttle_time_ms */
    int32_t nt = kread_array(r, false, 6);
    if (nt == -1 && v >= 2) { /* null: every partition committed */
        size_t at = kwrite_reserve32(out);
        int32_t topics = 0;
        for (size_t i = 0; i < cm.n; i++) {
            if (i > 0 && strcmp(cm.e[i].topic, cm.e[i - 1].topic) == 0)
                continue;
            size_t j = i;
            while (j < cm.n && strcmp(cm.e[j].topic, cm.e[i].topic) == 0)
                j++;
            kwrite_strz(out, false, cm.e[i].topic);
            kwrite_array(out, false, (int32_t)(j - i));
            for (size_t k = i; k < j; k++)
                fetched_partition(out, v, cm.e[k].partition, cm.e[k].offset);
            topics++;
        }
        kwrite_patch32(out, at, topics);
    } else {
        kwrite_array(out, false, nt < 0 ? 0 : nt);
        for (int32_t t = 0; t < nt && !r->bad; t++) {
            char *tname;
            int32_t np = kapi_topic_echo(r, out, 4, &tname);
            for (int32_t i = 0; i < np && !r->bad; i++) {
                int32_t p = kread_i32(r);
                fetched_partition(
                    out, v, p,
                    tname == NULL ? -1 : committed_find(&cm, tname, p));
            }
            free(tname);
        }
    }
    if (v >= 2)
        kwrite_i16(out, err);
    committed_free(&cm);
    return r->bad ? KANS_CLOSE : KANS_DONE;
}
