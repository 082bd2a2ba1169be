/*
 * catalog.c - the store's small transactional state, in LMDB.
 *
 * DIR/catalog/ is one LMDB environment with four named databases:
 *
 *   meta        "format"        u32 LE   CATALOG_FORMAT; another value means
 *                                        another, incompatible version wrote it
 *               "next_topic_id" u64 LE   ids are never reused, so a topic
 *                                        deleted and created again never
 *                                        meets its predecessor's state
 *   topics      name (no NUL) -> topic record, little-endian:
 *                 0 u32 record version (1)    4 u64 topic id
 *                12 i32 partitions           16 i32 replicas
 *                20 i64 segment_bytes        28 i32 max_message_bytes
 *                32 i32 index_interval_bytes 36 i32 sync         (40 bytes)
 *   partitions  topic id (u64 BE) . partition (u32 BE) -> partition record:
 *                 0 i64 log start offset      8 i64 recovery point  (16 LE)
 *               (big-endian keys sort by topic, then partition)
 *   groups      consumer groups' committed offsets (catalog_group.c); a
 *               topic's are deleted in the transaction that removes it
 *   queues      group name . 0x00 . topic id (u64 BE) . partition (u32 BE)
 *               -> a share-partition snapshot, opaque here: its layout is
 *               in queue_state.c; a topic's are deleted in the transaction
 *               that removes it (catalog_group.c)
 *
 * A topic and its partition records are written and deleted in one write
 * transaction: that commit is the moment a topic comes to exist or ceases
 * to, so a crash leaves the old state or the new, never half a topic (the
 * partition directories are made before it and removed after it; topic.c).
 * LMDB's error codes are translated here and never leave this file.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog.h"

#define CATALOG_FORMAT    1u
#define TOPIC_RECORD_SIZE 40

static int
from_mdb(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return 0;
    case MDB_NOTFOUND:
        return SAMSA_ENOTOPIC;
    case MDB_MAP_FULL:
        return SAMSA_ENOSPC;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
        return SAMSA_ECORRUPT;
    case MDB_VERSION_MISMATCH:
        return SAMSA_EVERSION;
    default:
        return rc > 0 ? samsa__from_errno(rc) : SAMSA_EIO;
    }
}

int
catalog_from_mdb(int rc)
{
    return from_mdb(rc);
}

static void
le_put(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
le_get(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void
part_key(uint8_t key[12], uint64_t id, int32_t partition)
{
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(id >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        key[8 + i] = (uint8_t)((uint32_t)partition >> (24 - 8 * i));
}

/* ---- open and close ------------------------------------------------------ */

static int
meta_check(catalog *c, MDB_txn *txn)
{
    MDB_val k = {6, "format"}, v;
    int rc = mdb_get(txn, c->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        uint8_t buf[4];
        le_put(buf, CATALOG_FORMAT, 4);
        v = (MDB_val){4, buf};
        return from_mdb(mdb_put(txn, c->meta, &k, &v, 0));
    }
    if (rc != 0)
        return from_mdb(rc);
    return v.mv_size == 4 && le_get(v.mv_data, 4) == CATALOG_FORMAT
               ? 0
               : SAMSA_EVERSION;
}

int
catalog_open(catalog *c, const char *path, size_t map_bytes)
{
    memset(c, 0, sizeof *c);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return samsa__from_errno(errno);
    MDB_txn *txn = NULL;
    int rc = from_mdb(mdb_env_create(&c->env));
    if (rc == 0)
        rc = from_mdb(mdb_env_set_maxdbs(c->env, 8));
    if (rc == 0)
        rc = from_mdb(mdb_env_set_mapsize(c->env, map_bytes));
    /* MDB_NOTLS: read transactions are not tied to a thread's TLS slot, so
     * any application thread may call in. */
    if (rc == 0)
        rc = from_mdb(mdb_env_open(c->env, path, MDB_NOTLS, 0644));
    if (rc == 0)
        rc = from_mdb(mdb_txn_begin(c->env, NULL, 0, &txn));
    if (rc == 0)
        rc = from_mdb(mdb_dbi_open(txn, "meta", MDB_CREATE, &c->meta));
    if (rc == 0)
        rc = from_mdb(mdb_dbi_open(txn, "topics", MDB_CREATE, &c->topics));
    if (rc == 0)
        rc = from_mdb(mdb_dbi_open(txn, "partitions", MDB_CREATE, &c->parts));
    if (rc == 0)
        rc = from_mdb(mdb_dbi_open(txn, "groups", MDB_CREATE, &c->groups));
    if (rc == 0)
        rc = from_mdb(mdb_dbi_open(txn, "queues", MDB_CREATE, &c->queues));
    if (rc == 0)
        rc = meta_check(c, txn);
    if (rc == 0) {
        rc = from_mdb(mdb_txn_commit(txn));
        txn = NULL;
    }
    if (txn != NULL)
        mdb_txn_abort(txn);
    if (rc != 0)
        catalog_close(c);
    return rc;
}

void
catalog_close(catalog *c)
{
    if (c->env != NULL)
        mdb_env_close(c->env);
    c->env = NULL;
}

/* ---- topics -------------------------------------------------------------- */

static void
topic_encode(uint8_t *b, uint64_t id, const samsa_topic_config *cfg)
{
    le_put(b + 0, 1, 4);
    le_put(b + 4, id, 8);
    le_put(b + 12, (uint32_t)cfg->partitions, 4);
    le_put(b + 16, (uint32_t)cfg->replicas, 4);
    le_put(b + 20, (uint64_t)cfg->segment_bytes, 8);
    le_put(b + 28, (uint32_t)cfg->max_message_bytes, 4);
    le_put(b + 32, (uint32_t)cfg->index_interval_bytes, 4);
    le_put(b + 36, (uint32_t)cfg->sync, 4);
}

static int
topic_decode(const MDB_val *v, uint64_t *id, samsa_topic_config *cfg)
{
    const uint8_t *b = v->mv_data;
    if (v->mv_size != TOPIC_RECORD_SIZE || le_get(b, 4) != 1)
        return SAMSA_ECORRUPT;
    memset(cfg, 0, sizeof *cfg);
    *id = le_get(b + 4, 8);
    cfg->partitions = (int32_t)le_get(b + 12, 4);
    cfg->replicas = (int32_t)le_get(b + 16, 4);
    cfg->segment_bytes = (int64_t)le_get(b + 20, 8);
    cfg->max_message_bytes = (int32_t)le_get(b + 28, 4);
    cfg->index_interval_bytes = (int32_t)le_get(b + 32, 4);
    cfg->sync = (int)le_get(b + 36, 4);
    return cfg->partitions > 0 ? 0 : SAMSA_ECORRUPT;
}

static int
next_topic_id(catalog *c, MDB_txn *txn, uint64_t *id)
{
    MDB_val k = {13, "next_topic_id"}, v;
    int rc = mdb_get(txn, c->meta, &k, &v);
    *id = rc == 0 && v.mv_size == 8 ? le_get(v.mv_data, 8) : 1;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return from_mdb(rc);
    uint8_t buf[8];
    le_put(buf, *id + 1, 8);
    v = (MDB_val){8, buf};
    return from_mdb(mdb_put(txn, c->meta, &k, &v, 0));
}

int
catalog_topic_add(catalog *c, const char *name, const samsa_topic_config *cfg,
                  uint64_t *id)
{
    MDB_txn *txn;
    int rc = from_mdb(mdb_txn_begin(c->env, NULL, 0, &txn));
    if (rc != 0)
        return rc;
    uint8_t rec[TOPIC_RECORD_SIZE], zero[16] = {0};
    MDB_val k = {strlen(name), (void *)name}, v = {sizeof rec, rec};
    uint64_t new_id;
    rc = next_topic_id(c, txn, &new_id);
    if (rc == 0) {
        topic_encode(rec, new_id, cfg);
        int mrc = mdb_put(txn, c->topics, &k, &v, MDB_NOOVERWRITE);
        rc = mrc == MDB_KEYEXIST ? SAMSA_EEXIST : from_mdb(mrc);
    }
    for (int32_t p = 0; rc == 0 && p < cfg->partitions; p++) {
        uint8_t key[12];
        part_key(key, new_id, p);
        MDB_val pk = {12, key}, pv = {16, zero};
        rc = from_mdb(mdb_put(txn, c->parts, &pk, &pv, 0));
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    /* mdb_txn_commit frees txn whether or not it succeeds */
    if ((rc = from_mdb(mdb_txn_commit(txn))) == 0)
        rc = catalog_durable(c);
    if (rc == 0)
        *id = new_id; /* set only once the topic exists */
    return rc;
}

int
catalog_topic_remove(catalog *c, const char *name)
{
    MDB_txn *txn;
    int rc = from_mdb(mdb_txn_begin(c->env, NULL, 0, &txn));
    if (rc != 0)
        return rc;
    MDB_val k = {strlen(name), (void *)name}, v;
    uint64_t id;
    samsa_topic_config cfg;
    rc = from_mdb(mdb_get(txn, c->topics, &k, &v));
    if (rc == 0)
        rc = topic_decode(&v, &id, &cfg);
    if (rc == 0)
        rc = from_mdb(mdb_del(txn, c->topics, &k, NULL));
    for (int32_t p = 0; rc == 0 && p < cfg.partitions; p++) {
        uint8_t key[12];
        part_key(key, id, p);
        MDB_val pk = {12, key};
        int mrc = mdb_del(txn, c->parts, &pk, NULL);
        rc = mrc == MDB_NOTFOUND ? 0 : from_mdb(mrc);
    }
    if (rc == 0)
        rc = catalog_group_drop_topic(c, txn, id);
    if (rc == 0) /* its share groups' snapshots go with it */
        rc = catalog_queue_drop(c, txn, catalog_id_is, &id);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = from_mdb(mdb_txn_commit(txn));
    return rc == 0 ? catalog_durable(c) : rc;
}

int
catalog_topic_foreach(catalog *c, catalog_topic_fn fn, void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = from_mdb(mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn));
    if (rc != 0)
        return rc;
    if ((rc = from_mdb(mdb_cursor_open(txn, c->topics, &cur))) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    MDB_val k, v;
    int mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    char name[SAMSA_MAX_TOPIC_NAME + 1];
    for (; mrc == 0 && rc == 0; mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t id;
        samsa_topic_config cfg;
        if (k.mv_size == 0 || k.mv_size > SAMSA_MAX_TOPIC_NAME ||
            (rc = topic_decode(&v, &id, &cfg)) != 0) {
            rc = SAMSA_ECORRUPT;
            break;
        }
        memcpy(name, k.mv_data, k.mv_size);
        name[k.mv_size] = '\0';
        rc = fn(name, id, &cfg, ctx);
    }
    if (rc == 0 && mrc != MDB_NOTFOUND)
        rc = from_mdb(mrc);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc;
}

/* ---- partitions ---------------------------------------------------------- */

int
catalog_partition_get(catalog *c, uint64_t id, int32_t partition,
                      catalog_partition *out)
{
    MDB_txn *txn;
    int rc = from_mdb(mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn));
    if (rc != 0)
        return rc;
    uint8_t key[12];
    part_key(key, id, partition);
    MDB_val k = {12, key}, v;
    int mrc = mdb_get(txn, c->parts, &k, &v);
    if (mrc == 0 && v.mv_size == 16) {
        out->start = (int64_t)le_get(v.mv_data, 8);
        out->recovery_point = (int64_t)le_get((uint8_t *)v.mv_data + 8, 8);
    }
    rc = mrc == MDB_NOTFOUND || (mrc == 0 && v.mv_size != 16) ? SAMSA_ECORRUPT
                                                              : from_mdb(mrc);
    mdb_txn_abort(txn);
    return rc;
}

int
catalog_partitions_put(catalog *c, uint64_t id, const int32_t *partitions,
                       const catalog_partition *state, size_t n)
{
    MDB_txn *txn = NULL;
    int rc = from_mdb(mdb_txn_begin(c->env, NULL, 0, &txn));
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint8_t key[12], val[16];
        part_key(key, id, partitions[i]);
        le_put(val, (uint64_t)state[i].start, 8);
        le_put(val + 8, (uint64_t)state[i].recovery_point, 8);
        MDB_val k = {12, key}, v = {16, val};
        rc = from_mdb(mdb_put(txn, c->parts, &k, &v, 0));
    }
    if (rc == 0)
        return from_mdb(mdb_txn_commit(txn));
    if (txn != NULL)
        mdb_txn_abort(txn);
    return rc;
}

/* ---- share-group snapshots ----------------------------------------------- */

static size_t
queue_key(uint8_t *key, size_t cap, const char *group, uint64_t id,
          int32_t partition)
{
    size_t n = strlen(group);
    if (n + 13 > cap)
        return 0;
    memcpy(key, group, n);
    key[n] = 0;
    part_key(key + n + 1, id, partition);
    return n + 13;
}

int
catalog_queue_get(catalog *c, const char *group, uint64_t topic_id,
                  int32_t partition, void **buf, size_t *len)
{
    uint8_t key[SAMSA_MAX_TOPIC_NAME + 16];
    size_t klen = queue_key(key, sizeof key, group, topic_id, partition);
    if (klen == 0)
        return SAMSA_EINVAL;
    MDB_txn *txn;
    int rc = from_mdb(mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn));
    if (rc != 0)
        return rc;
    MDB_val k = {klen, key}, v;
    rc = from_mdb(mdb_get(txn, c->queues, &k, &v));
    if (rc == 0) {
        *buf = malloc(v.mv_size > 0 ? v.mv_size : 1);
        if (*buf == NULL)
            rc = SAMSA_ENOMEM;
        else {
            memcpy(*buf, v.mv_data, v.mv_size);
            *len = v.mv_size;
        }
    }
    mdb_txn_abort(txn);
    return rc;
}

int
catalog_queue_put(catalog *c, const char *group, uint64_t topic_id,
                  int32_t partition, const void *buf, size_t len)
{
    uint8_t key[SAMSA_MAX_TOPIC_NAME + 16];
    size_t klen = queue_key(key, sizeof key, group, topic_id, partition);
    if (klen == 0)
        return SAMSA_EINVAL;
    MDB_txn *txn;
    int rc = from_mdb(mdb_txn_begin(c->env, NULL, 0, &txn));
    if (rc != 0)
        return rc;
    MDB_val k = {klen, key}, v = {len, (void *)buf};
    rc = from_mdb(mdb_put(txn, c->queues, &k, &v, 0));
    if (rc == 0)
        return from_mdb(mdb_txn_commit(txn));
    mdb_txn_abort(txn);
    return rc;
}
