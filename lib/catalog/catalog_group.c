/*
 * catalog_group.c - consumer groups' committed offsets, in the catalog.
 *
 * One LMDB database of the catalog environment (catalog.c), "groups",
 * on every directory of the store: commits go through catalog_write(),
 * reads through catalog_read_begin() (catalog.h).
 *
 *   key    0 u64 BE  topic id (the catalog's, never reused)
 *          8 u32 BE  partition
 *         12 ...     group name, 1..249 bytes, no NUL
 *   value  0 i64 LE  committed offset: the next offset the group reads
 *
 * Keys lead with the topic id, not the group, so that deleting a topic
 * drops every group's offsets of it with one range delete inside the
 * transaction that removes the topic (catalog_topic_remove): a topic
 * created again under the same name gets a new id and never meets its
 * predecessor's offsets.  A group's offsets are found by point lookups of
 * (topic id, partition, group) for the topics that exist, which is what
 * both a member taking a partition and samsa_group_offsets() need.
 *
 * Atomicity and durability.  A commit of several partitions is one write
 * transaction: after a crash the group has either all of them or none.
 * LMDB (without MDB_WRITEMAP) writes a commit's pages with pwrite() before
 * it returns, so a committed offset is in the file (the page cache) and
 * survives kill -9 whatever the sync policy.  When the store does not sync
 * (SAMSA_SYNC_NONE), samsa_open() sets MDB_NOSYNC on the environment
 * (catalog_set_nosync): a group commit then skips the fsync and costs
 * microseconds, and a power cut may take back the last commits (the group
 * reads some records again: at-least-once still holds).  LMDB 0.9 has no
 * per-transaction MDB_NOSYNC, hence the environment flag; the commits whose
 * loss would matter more, topic creation and removal, clear it for their
 * own commit (write_all in catalog.c), which then fsyncs the file before
 * it writes the meta page, making every earlier commit durable too, and a
 * failed fsync fails the commit.  Recovery points written unsynced may come
 * back older after a power cut, which only makes recovery scan more.  LMDB's
 * own caveat applies: on a file system that reorders writes, a power cut with
 * unsynced commits outstanding can damage the environment; SAMSA_SYNC_ALWAYS is
 * the policy for power cuts, and under it every commit is fsync'ed before it
 * returns.
 */
#include <stdlib.h>
#include <string.h>

#include "catalog_mdb.h"

#define GROUP_KEY_MAX (12 + SAMSA_MAX_TOPIC_NAME)

static size_t
group_key(uint8_t *key, uint64_t id, int32_t partition, const char *group)
{
    size_t glen = strlen(group);
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(id >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        key[8 + i] = (uint8_t)((uint32_t)partition >> (24 - 8 * i));
    memcpy(key + 12, group, glen);
    return 12 + glen;
}

int
catalog_set_nosync(catalog *c)
{
    int rc = 0;
    for (int i = 0; rc == 0 && i < c->ndisks; i++)
        if (c->disk[i].env != NULL)
            rc = catalog_from_mdb(
                mdb_env_set_flags(c->disk[i].env, MDB_NOSYNC, 1));
    c->nosync = true; /* for environments a rebuild opens later */
    return rc;
}

typedef struct commit_ctx {
    const char *group;
    const catalog_group_offset *offs;
    size_t n;
} commit_ctx;

static int
commit_txn(catalog_txn *t, void *ctx)
{
    const commit_ctx *a = ctx;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < a->n; i++) {
        uint8_t key[GROUP_KEY_MAX], val[8];
        uint64_t v = (uint64_t)a->offs[i].offset;
        for (int b = 0; b < 8; b++)
            val[b] = (uint8_t)(v >> (8 * b));
        MDB_val k = {
            group_key(key, a->offs[i].topic_id, a->offs[i].partition, a->group),
            key};
        rc = catalog_from_mdb(
            catalog__put(t->txn, t->d->groups, TAG_GROUP, &k, val, 8, 0));
    }
    return rc;
}

int
catalog_group_commit(catalog *c, const char *group,
                     const catalog_group_offset *offs, size_t n)
{
    if (strlen(group) > SAMSA_MAX_TOPIC_NAME)
        return SAMSA_EINVAL;
    commit_ctx a = {group, offs, n};
    return catalog_write(c, commit_txn, &a); /* on every directory */
}

static int
group_get(catalog *c, const char *group, catalog_group_offset *offs, size_t n)
{
    catalog_txn t;
    int rc = catalog_read_begin(c, &t);
    if (rc != 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint8_t key[GROUP_KEY_MAX];
        MDB_val k = {group_key(key, offs[i].topic_id, offs[i].partition, group),
                     key},
                v;
        int mrc = catalog__get(t.txn, t.d->groups, TAG_GROUP, &k, &v);
        offs[i].offset = -1;
        if (mrc == MDB_NOTFOUND)
            continue;
        if (mrc == 0 && v.mv_size != 8)
            rc = SAMSA_ECORRUPT;
        else if (mrc != 0)
            rc = catalog_from_mdb(mrc);
        else {
            uint64_t o = 0;
            for (int b = 0; b < 8; b++)
                o |= (uint64_t)((const uint8_t *)v.mv_data)[b] << (8 * b);
            offs[i].offset = (int64_t)o;
            if (offs[i].offset < 0)
                rc = SAMSA_ECORRUPT;
        }
    }
    catalog_read_end(&t);
    return rc;
}

/* Damage met here (a value whose CRC fails) is healed from another
 * directory's catalog where one holds a good copy, and read again
 * (catalog.c, "healing"); so are the two reads below. */
int
catalog_group_get(catalog *c, const char *group, catalog_group_offset *offs,
                  size_t n)
{
    if (strlen(group) > SAMSA_MAX_TOPIC_NAME)
        return SAMSA_EINVAL;
    int rc = group_get(c, group, offs, n);
    if (rc == SAMSA_ECORRUPT && catalog_heal(c, TAG_GROUP) == 0)
        rc = group_get(c, group, offs, n);
    return rc;
}

int
catalog_group_drop_topic(catalog_txn *t, uint64_t id)
{
    MDB_cursor *cur;
    int rc = catalog_from_mdb(cm_cursor_open(t->txn, t->d->groups, &cur));
    if (rc != 0)
        return rc;
    uint8_t prefix[8];
    for (int i = 0; i < 8; i++)
        prefix[i] = (uint8_t)(id >> (56 - 8 * i));
    MDB_val k = {8, prefix}, v;
    int mrc = cm_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (mrc == 0 && k.mv_size >= 8 && memcmp(k.mv_data, prefix, 8) == 0) {
        if ((mrc = cm_cursor_del(cur, 0)) != 0)
            break;
        k = (MDB_val){8, prefix};
        mrc = cm_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    return mrc == MDB_NOTFOUND || mrc == 0 ? 0 : catalog_from_mdb(mrc);
}

/* ---- offsets and share-group snapshots of dropped topics -----------------
 *
 * A topic's removal drops its offsets (a range: the "groups" database is
 * keyed by topic id first) and its share-group snapshots in its own
 * transaction.  The "queues" database is keyed by group first
 * (catalog.c), so the snapshots of one topic are not a range: they are
 * found by a scan, which is cheap (one key per group and partition) and
 * rare (topic removal, and open).  And a catalog written before commits
 * were checked against the live topics (commit.c) may hold offsets
 * committed after the removal, under the dead id: they would list their
 * group for ever.  Both are found by the same scan at open.
 */

/* The topic id of a key of the groups database (consumer groups: id,
 * partition, name) or the queues one (share groups: name, NUL, id,
 * partition), in *id; false for a key of neither shape, which samsa did
 * not write: left to the code that reads it. */
static bool
key_topic(bool share, const MDB_val *k, uint64_t *id)
{
    if (share ? k->mv_size < 14 : k->mv_size <= 12)
        return false;
    const uint8_t *b = share ? (const uint8_t *)k->mv_data + k->mv_size - 12
                             : (const uint8_t *)k->mv_data;
    *id = 0;
    for (int i = 0; i < 8; i++)
        *id = *id << 8 | b[i];
    return true;
}

/* Does any key of the groups (share: queues) database have a topic id
 * dead() says is gone?  With del, delete every such key. */
static int
dead_scan(const catalog_txn *t, bool share, catalog_drop_fn dead, void *ctx,
          bool del, bool *found)
{
    MDB_cursor *cur;
    int rc = catalog_from_mdb(
        cm_cursor_open(t->txn, share ? t->d->queues : t->d->groups, &cur));
    if (rc != 0)
        return rc;
    MDB_val k, v;
    uint64_t id, last = 0;
    bool asked = false, gone = false;
    int mrc = cm_cursor_get(cur, &k, &v, MDB_FIRST);
    while (mrc == 0) {
        /* A topic's keys come together (the groups database is ordered
         * by id, the queues one by group, then id): dead() is asked once
         * a run of them, not for every partition of every group. */
        bool ours = key_topic(share, &k, &id);
        if (ours && (!asked || id != last)) {
            gone = dead(id, ctx);
            last = id;
            asked = true;
        }
        if (ours && gone) {
            *found = true;
            if (!del)
                break;
            if ((mrc = cm_cursor_del(cur, 0)) != 0)
                break;
        }
        mrc = cm_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    return mrc == 0 || mrc == MDB_NOTFOUND ? 0 : catalog_from_mdb(mrc);
}

int
catalog_queue_drop(catalog_txn *t, catalog_drop_fn dead, void *ctx)
{
    bool found = false;
    return dead_scan(t, true, dead, ctx, true, &found);
}

typedef struct drop_arg {
    bool share;           /* which database */
    catalog_drop_fn dead; /* what to drop   */
    void *ctx;            /* dead's ctx     */
} drop_arg;

static int
drop_txn(catalog_txn *t, void *ctx)
{
    const drop_arg *a = ctx;
    bool found = false;
    return dead_scan(t, a->share, a->dead, a->ctx, true, &found);
}

/* Delete every key of the database whose topic dead() says is gone, in a
 * write of its own when a read finds any. */
static int
drop_strays(catalog *c, bool share, catalog_drop_fn dead, void *ctx)
{
    /* Look first: a write transaction at every open would bump every
     * disk's generation for nothing. */
    catalog_txn t;
    bool found = false;
    int rc = catalog_read_begin(c, &t);
    if (rc == 0) {
        rc = dead_scan(&t, share, dead, ctx, false, &found);
        catalog_read_end(&t);
    }
    drop_arg a = {share, dead, ctx};
    return rc == 0 && found ? catalog_write(c, drop_txn, &a) : rc;
}

int
catalog_group_drop_strays(catalog *c, catalog_drop_fn dead, void *ctx)
{
    return drop_strays(c, false, dead, ctx);
}

int
catalog_queue_drop_strays(catalog *c, catalog_drop_fn dead, void *ctx)
{
    return drop_strays(c, true, dead, ctx);
}

bool
catalog_id_is(uint64_t topic_id, void *ctx)
{
    return topic_id == *(const uint64_t *)ctx;
}

/* ---- listing and deleting groups ------------------------------------------
 *
 * Both are scans of a whole database: a group's keys are spread over the
 * topics (consumer groups) or follow each other only by name (share
 * groups).  They serve administration (samsa_group_list(),
 * samsa_group_delete()), not the data path.
 */

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
catalog_names_add(char ***names, size_t *n, const void *p, size_t len)
{
    for (size_t i = 0; i < *n; i++)
        if (strlen((*names)[i]) == len && memcmp((*names)[i], p, len) == 0)
            return 0;
    char **m = realloc(*names, (*n + 1) * sizeof *m);
    if (m == NULL)
        return SAMSA_ENOMEM;
    *names = m;
    char *s = malloc(len + 1);
    if (s == NULL)
        return SAMSA_ENOMEM;
    memcpy(s, p, len);
    s[len] = '\0';
    (*names)[(*n)++] = s;
    return 0;
}

void
catalog_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int
group_list(catalog *c, bool share, char ***names, size_t *n)
{
    catalog_txn t;
    *names = NULL;
    *n = 0;
    int rc = catalog_read_begin(c, &t);
    if (rc != 0)
        return rc;
    MDB_cursor *cur = NULL;
    rc = catalog_from_mdb(
        cm_cursor_open(t.txn, share ? t.d->queues : t.d->groups, &cur));
    MDB_val k, v;
    int mrc = rc == 0 ? cm_cursor_get(cur, &k, &v, MDB_FIRST) : MDB_NOTFOUND;
    while (rc == 0 && mrc == 0) {
        const uint8_t *p = k.mv_data;
        /* The value's CRC covers the key: a name damaged since the open
         * checked every value is not listed as a group. */
        if (!catalog__value_ok(share ? TAG_QUEUE : TAG_GROUP, &k, &v)) {
            rc = SAMSA_ECORRUPT;
            break;
        }
        /* consumer: id, partition, name; share: name, NUL, id, partition.
         * A key of neither shape is not one samsa wrote: skipped. */
        if (!share && k.mv_size > 12)
            rc = catalog_names_add(names, n, p + 12, k.mv_size - 12);
        else if (share && k.mv_size >= 14 && p[k.mv_size - 13] == 0)
            rc = catalog_names_add(names, n, p, k.mv_size - 13);
        mrc = cm_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (cur != NULL)
        mdb_cursor_close(cur);
    catalog_read_end(&t);
    if (rc == 0 && mrc != MDB_NOTFOUND)
        rc = catalog_from_mdb(mrc);
    if (rc != 0) {
        catalog_names_free(*names, *n);
        *names = NULL;
        *n = 0;
        return rc;
    }
    if (*n > 1)
        qsort(*names, *n, sizeof **names, name_cmp);
    return 0;
}

int
catalog_group_list(catalog *c, bool share, char ***names, size_t *n)
{
    int rc = group_list(c, share, names, n);
    if (rc == SAMSA_ECORRUPT &&
        catalog_heal(c, share ? TAG_QUEUE : TAG_GROUP) == 0)
        rc = group_list(c, share, names, n);
    return rc;
}

static int
group_delete_txn(catalog_txn *t, void *ctx)
{
    const char *group = ctx;
    size_t glen = strlen(group);
    MDB_cursor *cur;
    int rc = catalog_from_mdb(cm_cursor_open(t->txn, t->d->groups, &cur));
    if (rc != 0)
        return rc;
    MDB_val k, v;
    int mrc = cm_cursor_get(cur, &k, &v, MDB_FIRST);
    while (mrc == 0) {
        if (k.mv_size == 12 + glen &&
            memcmp((const uint8_t *)k.mv_data + 12, group, glen) == 0 &&
            (mrc = cm_cursor_del(cur, 0)) != 0)
            break;
        mrc = cm_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    return mrc == MDB_NOTFOUND ? 0 : catalog_from_mdb(mrc);
}

int
catalog_group_delete(catalog *c, const char *group)
{
    if (strlen(group) > SAMSA_MAX_TOPIC_NAME)
        return SAMSA_EINVAL;
    return catalog_write(c, group_delete_txn, (void *)group);
}
