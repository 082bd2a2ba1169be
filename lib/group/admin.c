/*
 * admin.c - administering consumer groups from outside: listing, moving
 * their committed offsets, deleting them (kafka-consumer-groups' work).
 *
 * A group is changed only while it has no members, as Kafka requires: the
 * registry's lock is held from the check to the catalog commit, and a
 * consumer joins under that lock (group_join), so no member can read an
 * offset halfway through a reset.  The offsets of all the partitions a
 * reset names go in one catalog transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "client/cursor.h"
#include "group.h"

/* Does the group have members in this process (registry lock held)? */
static bool
group_live_locked(const group_registry *r, const char *name)
{
    for (const group *g = r->groups; g != NULL; g = g->next)
        if (strcmp(g->name, name) == 0)
            return true;
    return false;
}

int
group_list_names(samsa *s, char ***names, size_t *n)
{
    int rc = catalog_group_list(&s->cat, false, names, n);
    if (rc != 0)
        return rc;
    group_registry *r = s->groups;
    samsa__lock(&r->lock, SAMSA_RANK_GROUPS);
    for (const group *g = r->groups; rc == 0 && g != NULL; g = g->next)
        rc = catalog_names_add(names, n, g->name, strlen(g->name));
    samsa__unlock(&r->lock, SAMSA_RANK_GROUPS);
    return rc;
}

/* Where to moves partition pt's offset (committed: the group's, -1 when
 * none); clamped to [start, end]. */
static int
reset_target(samsa_partition *pt, samsa_reset_to to, int64_t value,
             int64_t committed, int64_t *out)
{
    int64_t start = partition_start(pt), end = partition_end(pt);
    int64_t o = start;
    int rc = 0;
    switch (to) {
    case SAMSA_RESET_TO_EARLIEST:
        break;
    case SAMSA_RESET_TO_LATEST:
        o = end;
        break;
    case SAMSA_RESET_TO_OFFSET:
        o = value;
        break;
    case SAMSA_RESET_TO_TIME:
        rc = cursor_offset_for_time(pt->log, value, &o);
        rc = rc == 1 ? 0 : rc; /* none that late: the end */
        break;
    case SAMSA_RESET_BY_SHIFT: {
        int64_t from = committed >= 0 ? committed : start;
        o = value > 0 && from > INT64_MAX - value   ? end
            : value < 0 && from < INT64_MIN - value ? start
                                                    : from + value;
        break;
    }
    }
    *out = o < start ? start : o > end ? end : o;
    return rc;
}

SAMSA_API int
samsa_group_reset(samsa *s, const char *group_name, const char *topic_name,
                  int32_t partition, samsa_reset_to to, int64_t value)
{
    if (s == NULL || !topic_name_valid(group_name) ||
        to < SAMSA_RESET_TO_EARLIEST || to > SAMSA_RESET_BY_SHIFT ||
        (to == SAMSA_RESET_TO_TIME && value < 0))
        return SAMSA_EINVAL;
    if (s->rdonly)
        return SAMSA_ERDONLY;
    group_registry *r = s->groups;
    samsa__lock(&r->lock, SAMSA_RANK_GROUPS);
    int rc = group_live_locked(r, group_name) ? SAMSA_EBUSY : 0;
    samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    topic *t = NULL;
    if (rc == 0)
        rc = topic_lookup(s, topic_name, partition, true, &t);
    int32_t first = 0, n = 0;
    catalog_group_offset *offs = NULL;
    if (rc == 0) {
        bool all = partition == SAMSA_PARTITION_ANY;
        first = all ? 0 : partition;
        n = all ? t->cfg.partitions : 1;
        if ((offs = calloc((size_t)n, sizeof *offs)) == NULL)
            rc = SAMSA_ENOMEM;
    }
    for (int32_t i = 0; rc == 0 && i < n; i++)
        offs[i] = (catalog_group_offset){t->id, first + i, -1};
    if (rc == 0 && to == SAMSA_RESET_BY_SHIFT)
        rc = catalog_group_get(&s->cat, group_name, offs, (size_t)n);
    for (int32_t i = 0; rc == 0 && i < n; i++)
        rc = reset_target(t->parts[first + i], to, value, offs[i].offset,
                          &offs[i].offset);
    if (rc == 0)
        rc = catalog_group_commit(&s->cat, group_name, offs, (size_t)n);
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    samsa__unlock(&r->lock, SAMSA_RANK_GROUPS);
    free(offs);
    return rc;
}

SAMSA_API int
samsa_group_delete(samsa *s, const char *group_name)
{
    if (s == NULL || !topic_name_valid(group_name))
        return SAMSA_EINVAL;
    if (s->rdonly)
        return SAMSA_ERDONLY;
    group_registry *r = s->groups;
    char **names;
    size_t n;
    samsa__lock(&r->lock, SAMSA_RANK_GROUPS);
    int rc = group_live_locked(r, group_name)
                 ? SAMSA_EBUSY
                 : catalog_group_list(&s->cat, false, &names, &n);
    if (rc == 0) {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(names[i], group_name) == 0;
        catalog_names_free(names, n);
        rc = known ? catalog_group_delete(&s->cat, group_name) : SAMSA_ENOGROUP;
    }
    samsa__unlock(&r->lock, SAMSA_RANK_GROUPS);
    return rc;
}

/* A copy of one row of a group's assignment. */
typedef struct mrow {
    uint64_t member;
    char *topic; /* NULL: the member owns nothing */
    int32_t partition;
} mrow;

static int
mrow_add(mrow **rows, size_t *n, uint64_t member, const char *tname,
         int32_t partition)
{
    mrow *m = realloc(*rows, (*n + 1) * sizeof *m);
    if (m == NULL)
        return SAMSA_ENOMEM;
    *rows = m;
    m[*n] = (mrow){member, NULL, partition};
    if (tname != NULL && (m[*n].topic = strdup(tname)) == NULL)
        return SAMSA_ENOMEM;
    (*n)++;
    return 0;
}

/* The rows of group g: each member in join order, the partitions it
 * owns in topic (the group's topics are sorted) and partition order
 * (g->lock held). */
static int
group_rows_locked(const group *g, mrow **rows, size_t *n)
{
    int rc = 0;
    for (const samsa_consumer *c = g->members; rc == 0 && c != NULL;
         c = c->member_next) {
        size_t before = *n;
        for (size_t t = 0; rc == 0 && t < g->ntopics; t++)
            for (int32_t p = 0; rc == 0 && p < g->topics[t].partitions; p++)
                if (g->topics[t].owner[p] == c)
                    rc = mrow_add(rows, n, c->member_id, g->topics[t].name, p);
        if (rc == 0 && *n == before)
            rc = mrow_add(rows, n, c->member_id, NULL, -1);
    }
    return rc;
}

SAMSA_API int
samsa_group_members(samsa *s, const char *group_name,
                    int (*fn)(const samsa_group_member *m, void *ctx),
                    void *ctx)
{
    if (s == NULL || fn == NULL || !topic_name_valid(group_name))
        return SAMSA_EINVAL;
    group_registry *r = s->groups;
    mrow *rows = NULL;
    size_t n = 0;
    int rc = SAMSA_ENOGROUP;
    samsa__lock(&r->lock, SAMSA_RANK_GROUPS);
    for (group *g = r->groups; g != NULL; g = g->next)
        if (strcmp(g->name, group_name) == 0) {
            samsa__lock(&g->lock, SAMSA_RANK_GROUP);
            rc = group_rows_locked(g, &rows, &n);
            samsa__unlock(&g->lock, SAMSA_RANK_GROUP);
            break;
        }
    samsa__unlock(&r->lock, SAMSA_RANK_GROUPS);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        samsa_group_member m = {.member = rows[i].member + 1, /* from 1 */
                                .topic = rows[i].topic,
                                .partition = rows[i].partition};
        rc = fn(&m, ctx);
    }
    for (size_t i = 0; i < n; i++)
        free(rows[i].topic);
    free(rows);
    return rc;
}
