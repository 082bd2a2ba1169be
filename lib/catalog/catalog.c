/*
 * catalog.c - the store's small transactional state, in LMDB.
 *
 * DIR/catalog/ is one LMDB environment with five named databases.  Every
 * value in them (format 2) ends in a 4-byte CRC-32C, little-endian, of a
 * one-byte tag naming its database ('m', 't', 'p', 'g', 'q'), its key and
 * its bytes (catalog__put/catalog__get); the layouts below are of the
 * bytes before it:
 *
 *   meta        "format"        u32 LE   CATALOG_FORMAT (2); 1, stored as a
 *                                        bare 4-byte value, is the format
 *                                        before CRCs, upgraded in place at
 *                                        open; another value means another,
 *                                        incompatible version wrote it
 *               "next_topic_id" u64 LE   ids are never reused, so a topic
 *                                        deleted and created again never
 *                                        meets its predecessor's state
 *               "next_producer_id" u64 LE  the Kafka listener's producer ids
 *                                        (catalog_counter_take): reserved
 *                                        in blocks, durably, before any is
 *                                        handed out, so none repeats after
 *                                        a restart or a crash
 *               "gen"           u64 LE   write transactions committed; the
 *                                        same on every disk that saw them all
 *               "disk_id"       u64 LE   this disk's identity (per disk)
 *               "disks"         n x u64  every disk's id, in option order
 *   topics      name (no NUL) -> topic record, little-endian:
 *                 0 u32 record version (1)    4 u64 topic id
 *                12 i32 partitions           16 i32 replicas
 *                20 i64 segment_bytes        28 i32 max_message_bytes
 *                32 i32 index_interval_bytes 36 i32 sync
 *                40 i32 min_insync           44 i32 acks
 *                48 i64 retention_ms         56 i64 retention_bytes
 *                64 i64 segment_ms           72 i32 compression
 *                76 i32 compression_level    80 i32 timestamp_type
 *                84 i32 cleanup_policy       88 f32 min_cleanable_dirty_
 *                                                   ratio (IEEE bits)
 *                92 i64 delete_retention_ms 100 i64 min_compaction_lag_ms
 *                                                             (108 bytes;
 *                                 84 from before compaction (the
 *                                 delete policy and Kafka's defaults),
 *                                 80 from before timestamp_type, 72 from
 *                                 before compression, 48 from
 *                                 before retention, 40 from before
 *                                 replicas: the fields missing take their
 *                                 defaults, so an old catalog opens as
 *                                 it was)
 *   partitions  topic id (u64 BE) . partition (u32 BE) -> partition record,
 *               little-endian:
 *                 0 i64 log start offset      8 i64 recovery point
 *                16 i32 leader epoch         20 u32 in-sync copies (bits)
 *                24 i32 leader copy          28 i32 copies n
 *                32 n x u64 disk id of each copy          (32 + 8n bytes)
 *              32+8n u32 flags, only when not 0 (CATALOG_PART_GAPS: the
 *                    offsets may skip, catalog.h)   (36 + 8n bytes then)
 *               (big-endian keys sort by topic, then partition; a 16-byte
 *               record, from before replicas, is one copy on disk 0)
 *   groups      consumer groups' committed offsets (catalog_group.c); a
 *               topic's are deleted in the transaction that removes it
 *   queues      group name . 0x00 . topic id (u64 BE) . partition (u32 BE)
 *               -> a share-partition snapshot, opaque here: its layout is
 *               in queue_state.c; a topic's are deleted in the transaction
 *               that removes it (catalog_group.c)
 *   pending     name (no NUL) -> u32 LE record version (1), i32 LE
 *               partitions (8 bytes), or version 2 with an i32 LE first
 *               partition after it (12 bytes; samsa_topic_add_partitions):
 *               the partition directories NAME-P, first <= P < partitions,
 *               a create (or growth) is about to make or a removed topic
 *               left behind; the proof
 *               that they are samsa's to remove (topic.c).  Written before
 *               a create's first mkdir and deleted by the commit that adds
 *               the topic; written by the commit that removes a topic and
 *               deleted once its directories are gone from every directory.
 *
 * Damage.  LMDB trusts its file: a damaged page can crash it, and it
 * checks no value.  So before LMDB maps a disk's file, catalog_check.c
 * walks its structure (read, not mapped; its essay says what and why), and
 * the transaction that opens it checks every value's CRC; decoded records
 * are then held to the ranges samsa itself writes (topic_decode,
 * part_decode, the "disks" list), and a meta value that cannot be read is
 * an error, never a default.  A damaged disk is rebuilt from the newest
 * whole disk that held a catalog before this open (never from a catalog
 * just made in an empty directory, which would replace the topics by
 * nothing); with none, the open fails with SAMSA_ECORRUPT having changed
 * no file.
 *
 * Disks.  Each directory of the store holds this environment, and every
 * write transaction runs once per healthy disk (catalog_write), under one
 * mutex so that all disks see the same transactions in the same order and
 * their "gen" counters agree.  A crash between two disks' commits leaves
 * one disk a generation ahead; catalog_open copies the newest disk over the
 * older ones, so the commit on the first healthy disk is the commit point.
 * A disk whose write fails while another's commits is behind, and down:
 * skipped until rebuilt from a healthy one (catalog_disk_rebuild), after
 * which it is identical but for its id.  A write that fails on every disk
 * (a full disk under a one-directory store: ENOSPC, or MDB_MAP_FULL) left
 * every disk as it was, since a failed LMDB commit changes nothing; no disk
 * is marked down, the error is returned, and the next write works once
 * there is space again.  After a failed meta page write LMDB refuses every
 * transaction (MDB_PANIC): the environment is reopened (disk_reopen).
 *
 * A topic and its partition records are written and deleted in one write
 * transaction: that commit is the moment a topic comes to exist or ceases
 * to, so a crash leaves the old state or the new, never half a topic (the
 * partition directories are made before it and removed after it; topic.c).
 * That commit is synced inside the commit (write_all's durable), so a
 * failed sync fails it rather than leaving a topic made but reported not.
 *
 * Every LMDB call goes through catalog_mdb.h's wrappers, which a test can
 * make fail one at a time (catalog__fault, catalog.h).  LMDB's error codes
 * are translated here and never leave the catalog's files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "catalog_mdb.h"
#include "storage/codec.h"

#define CATALOG_FORMAT    2u /* 1: values without their CRC */
#define TOPIC_RECORD_SIZE 108
#define TOPIC_RECORD_V5   84 /* before compaction */
#define TOPIC_RECORD_V4   80 /* before timestamp_type */
#define TOPIC_RECORD_V3   72 /* before compression */
#define TOPIC_RECORD_V2   48 /* before retention and segment_ms */
#define TOPIC_RECORD_V1   40 /* before acks and min_insync */
#define PART_RECORD_MIN   32 /* without the disk ids */

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
part_key(uint8_t key[12], uint64_t id, int32_t partition)
{
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(id >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        key[8 + i] = (uint8_t)((uint32_t)partition >> (24 - 8 * i));
}

/* ---- fault injection (tests only; catalog.h) ----------------------------- */

catalog_fault catalog__fault;

int
catalog__fault_check(bool write)
{
    catalog_fault *f = &catalog__fault;
    if (atomic_load_explicit(&f->armed, memory_order_relaxed) == 0 ||
        !pthread_equal(f->thread, pthread_self()))
        return 0;
    long n = ++f->calls;
    long last = f->fail_at + (f->fail_count > 0 ? f->fail_count : 1);
    return f->fail_at > 0 && n >= f->fail_at && n < last &&
                   (write || !f->writes_only)
               ? f->error
               : 0;
}

/* ---- checksummed values -------------------------------------------------- */

uint32_t
catalog__value_crc(char tag, const MDB_val *k, const void *v, size_t n)
{
    uint32_t crc = samsa__crc32c(0, &tag, 1);
    crc = samsa__crc32c(crc, k->mv_data, k->mv_size);
    return samsa__crc32c(crc, v, n);
}

int
catalog__put(MDB_txn *txn, unsigned dbi, char tag, MDB_val *k, const void *v,
             size_t n, unsigned flags)
{
    /* MDB_RESERVE: LMDB makes room, the value and its CRC go straight in. */
    MDB_val dv = {n + CATALOG_CRC, NULL};
    int rc = cm_put(txn, dbi, k, &dv, flags | MDB_RESERVE);
    if (rc == 0) {
        memcpy(dv.mv_data, v, n);
        samsa__le_put((uint8_t *)dv.mv_data + n,
                      catalog__value_crc(tag, k, v, n), CATALOG_CRC);
    }
    return rc;
}

bool
catalog__value_ok(char tag, const MDB_val *k, MDB_val *v)
{
    if (v->mv_size < CATALOG_CRC)
        return false;
    size_t n = v->mv_size - CATALOG_CRC;
    const uint8_t *crc = (const uint8_t *)v->mv_data + n;
    if (samsa__le_get(crc, CATALOG_CRC) !=
        catalog__value_crc(tag, k, v->mv_data, n))
        return false;
    v->mv_size = n;
    return true;
}

int
catalog__get(MDB_txn *txn, unsigned dbi, char tag, MDB_val *k, MDB_val *v)
{
    int rc = cm_get(txn, dbi, k, v);
    return rc != 0 || catalog__value_ok(tag, k, v) ? rc : MDB_CORRUPTED;
}

/* ---- disks -------------------------------------------------------------- */

/* *out gets meta value key, or dflt when there is none.  A failed read
 * is an error, never the default: a topic id counter read as 1 would
 * give a new topic the id, partitions and offsets of an old one. */
static int
meta_u64(MDB_txn *txn, unsigned dbi, const char *key, uint64_t dflt,
         uint64_t *out)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = catalog__get(txn, dbi, TAG_META, &k, &v);
    *out = dflt;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return from_mdb(rc);
    if (v.mv_size != 8)
        return SAMSA_ECORRUPT;
    *out = samsa__le_get(v.mv_data, 8);
    return 0;
}

static int
meta_put_u64(MDB_txn *txn, unsigned dbi, const char *key, uint64_t val)
{
    uint8_t buf[8];
    samsa__le_put(buf, val, 8);
    MDB_val k = {strlen(key), (void *)key};
    return from_mdb(catalog__put(txn, dbi, TAG_META, &k, buf, 8, 0));
}

/* The databases whose values carry a CRC, and the tag of each. */
static const char db_tags[] = {TAG_META,  TAG_TOPIC, TAG_PART,
                               TAG_GROUP, TAG_QUEUE, TAG_PENDING};

/* d's database of values tagged tag. */
static unsigned
db_of(const catalog_disk *d, char tag)
{
    switch (tag) {
    case TAG_META:
        return d->meta;
    case TAG_TOPIC:
        return d->topics;
    case TAG_PART:
        return d->parts;
    case TAG_GROUP:
        return d->groups;
    case TAG_QUEUE:
        return d->queues;
    default:
        return d->pending;
    }
}

/* 0 when every value of the database tagged tag checks in txn,
 * SAMSA_ECORRUPT when one does not, or the error that stopped the walk. */
static int
db_check(MDB_txn *txn, const catalog_disk *d, char tag)
{
    MDB_cursor *cur;
    int rc = from_mdb(cm_cursor_open(txn, db_of(d, tag), &cur));
    if (rc != 0)
        return rc;
    MDB_val k, v;
    int mrc = cm_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; mrc == 0 && rc == 0; mrc = cm_cursor_get(cur, &k, &v, MDB_NEXT))
        if (!catalog__value_ok(tag, &k, &v))
            rc = SAMSA_ECORRUPT;
    if (rc == 0 && mrc != MDB_NOTFOUND)
        rc = from_mdb(mrc);
    mdb_cursor_close(cur);
    return rc;
}

/* Rewrite every value of the database tagged tag with its CRC (format 1
 * had none), in txn. */
static int
db_upgrade(MDB_txn *txn, const catalog_disk *d, char tag)
{
    unsigned dbi = db_of(d, tag);
    MDB_cursor *cur;
    int rc = from_mdb(cm_cursor_open(txn, dbi, &cur));
    if (rc != 0)
        return rc;
    MDB_val k, v;
    int mrc = cm_cursor_get(cur, &k, &v, MDB_FIRST);
    while (mrc == 0 && rc == 0) {
        /* Copies: the put moves what the cursor points into. */
        uint8_t kb[512];
        void *vb = malloc(v.mv_size > 0 ? v.mv_size : 1);
        if (vb == NULL || k.mv_size > sizeof kb) {
            free(vb);
            rc = vb == NULL ? SAMSA_ENOMEM : SAMSA_ECORRUPT;
            break;
        }
        memcpy(kb, k.mv_data, k.mv_size);
        memcpy(vb, v.mv_data, v.mv_size);
        MDB_val kc = {k.mv_size, kb};
        size_t n = v.mv_size;
        rc = from_mdb(catalog__put(txn, dbi, tag, &kc, vb, n, 0));
        free(vb);
        if (rc == 0) { /* the cursor lost its place: find the next */
            mrc = cm_cursor_get(cur, &kc, &v, MDB_SET_RANGE);
            if (mrc == 0)
                mrc = cm_cursor_get(cur, &k, &v, MDB_NEXT);
        }
    }
    if (rc == 0 && mrc != MDB_NOTFOUND)
        rc = from_mdb(mrc);
    mdb_cursor_close(cur);
    return rc;
}

/* Walk every value of every database: with upgrade (a format 1 catalog),
 * rewrite each with its CRC (format 2) in this transaction; without,
 * check each one's CRC (at open: damage in a record read only later, or
 * looked up by a key that a flipped bit moved, is found now). */
static int
each_value(MDB_txn *txn, const catalog_disk *d, bool upgrade)
{
    int rc = 0;
    for (size_t i = 0; i < sizeof db_tags && rc == 0; i++)
        rc = upgrade ? db_upgrade(txn, d, db_tags[i])
                     : db_check(txn, d, db_tags[i]);
    return rc;
}

/* The "format" record: absent (a new catalog: written), 4 bytes (format
 * 1, from before values had CRCs: upgraded), or the current format with
 * its CRC. */
static int
meta_check(MDB_txn *txn, const catalog_disk *d)
{
    MDB_val k = {6, "format"}, v;
    uint8_t buf[4];
    samsa__le_put(buf, CATALOG_FORMAT, 4);
    int rc = cm_get(txn, d->meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return from_mdb(catalog__put(txn, d->meta, TAG_META, &k, buf, 4, 0));
    if (rc != 0)
        return from_mdb(rc);
    if (v.mv_size == 4 && samsa__le_get(v.mv_data, 4) == 1) {
        rc = each_value(txn, d, true); /* "format" too, as 4 + CRC */
        return rc != 0 ? rc
                       : from_mdb(catalog__put(txn, d->meta, TAG_META, &k, buf,
                                               4, 0));
    }
    if (v.mv_size == 4)
        return SAMSA_EVERSION;
    if (!catalog__value_ok(TAG_META, &k, &v) || v.mv_size != 4)
        return SAMSA_ECORRUPT;
    return samsa__le_get(v.mv_data, 4) == CATALOG_FORMAT
               ? each_value(txn, d, false)
               : SAMSA_EVERSION;
}

static uint64_t
new_disk_id(void)
{
    uint64_t id = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &id, sizeof id) != (ssize_t)sizeof id)
            id = 0;
        close(fd);
    }
    if (id == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        id = (uint64_t)ts.tv_nsec * 2654435761u ^ (uint64_t)ts.tv_sec ^
             (uint64_t)getpid() << 32;
    }
    return id | 1; /* never 0: that means "disk 0" in old records */
}

static void
disk_close(catalog_disk *d)
{
    if (d->env != NULL)
        mdb_env_close(d->env);
    d->env = NULL;
}

/* A full disk.  Deleting records or topics and changing retention are
 * how an application frees space, and each is a catalog commit, which
 * needs pages.  So the LMDB file keeps CATALOG_RESERVE bytes (or what
 * of it fits, disk_reserve()) allocated
 * (fallocate, KEEP_SIZE: the file's size, which LMDB reads, is unchanged)
 * past the pages it uses, topped up after each commit: when the disk
 * fills, the catalog's writes still land in blocks already its own.
 * Where the file system cannot allocate ahead, nothing is reserved and a
 * full disk fails catalog writes with SAMSA_ENOSPC, changing nothing.
 * Writes that take space (commits of offsets, topics created or grown,
 * recovery points) fail with SAMSA_ENOSPC once every disk is full
 * (write_txn), so that they never eat the reserve. */
#define CATALOG_RESERVE (2u << 20)

static void
disk_reserve(catalog_disk *d, size_t map_bytes)
{
    MDB_envinfo info;
    MDB_stat st;
    mdb_filehandle_t fd;
    if (d->env == NULL || mdb_env_info(d->env, &info) != 0 ||
        mdb_env_stat(d->env, &st) != 0 || mdb_env_get_fd(d->env, &fd) != 0)
        return;
    uint64_t used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
    if (used + CATALOG_RESERVE / 2 <= d->reserved)
        return; /* enough still ahead */
    /* On a file system too small for the whole reserve (a few MiB), as
     * much of it as fits, down to a 32nd: a store filled there by its own
     * records could otherwise not commit the topic deletion that frees
     * them. */
    for (uint64_t r = CATALOG_RESERVE; r >= CATALOG_RESERVE / 32; r /= 2) {
        uint64_t want = used + r > map_bytes ? map_bytes : used + r;
        if (want <= used || want <= d->reserved)
            return;
        if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)want) == 0) {
            d->reserved = want;
            return;
        }
        if (errno != ENOSPC)
            return;
    }
}

static int write_txn(catalog *c, catalog_write_fn fn, void *ctx, bool durable,
                     bool reserve_ok);

/* Open disk d's environment and databases; *gen gets its generation and
 * *fresh whether it held no data before. */
static int
disk_open(catalog_disk *d, size_t map_bytes, uint64_t *gen, bool *fresh)
{
    if (mkdir(d->path, 0755) != 0 && errno != EEXIST)
        return samsa__from_errno(errno);
    MDB_txn *txn = NULL;
    int rc = from_mdb(mdb_env_create(&d->env));
    if (rc == 0)
        rc = from_mdb(mdb_env_set_maxdbs(d->env, 8));
    if (rc == 0)
        rc = from_mdb(mdb_env_set_mapsize(d->env, map_bytes));
    /* MDB_NOTLS: read transactions are not tied to a thread's TLS slot, so
     * any application thread may call in. */
    if (rc == 0)
        rc = from_mdb(cm_env_open(d->env, d->path, MDB_NOTLS, 0644));
    if (rc == 0)
        rc = from_mdb(cm_txn_begin(d->env, NULL, 0, &txn));
    if (rc == 0)
        rc = from_mdb(cm_dbi_open(txn, "meta", MDB_CREATE, &d->meta));
    if (rc == 0)
        rc = from_mdb(cm_dbi_open(txn, "topics", MDB_CREATE, &d->topics));
    if (rc == 0)
        rc = from_mdb(cm_dbi_open(txn, "partitions", MDB_CREATE, &d->parts));
    if (rc == 0)
        rc = from_mdb(cm_dbi_open(txn, "groups", MDB_CREATE, &d->groups));
    if (rc == 0)
        rc = from_mdb(cm_dbi_open(txn, "queues", MDB_CREATE, &d->queues));
    if (rc == 0)
        rc = from_mdb(cm_dbi_open(txn, "pending", MDB_CREATE, &d->pending));
    if (rc == 0) {
        MDB_val k = {6, "format"}, v;
        int mrc = cm_get(txn, d->meta, &k, &v);
        *fresh = mrc == MDB_NOTFOUND;
        rc = *fresh ? 0 : from_mdb(mrc);
    }
    if (rc == 0) {
        rc = meta_check(txn, d);
    }
    uint64_t id = 0;
    if (rc == 0)
        rc = meta_u64(txn, d->meta, "gen", 0, gen);
    if (rc == 0)
        rc = meta_u64(txn, d->meta, "disk_id", 0, &id);
    if (rc == 0) {
        if (d->id == 0) /* keep the id a rebuild restores */
            d->id = id != 0 ? id : new_disk_id();
        if (id != d->id)
            rc = meta_put_u64(txn, d->meta, "disk_id", d->id);
    }
    if (rc == 0) {
        rc = from_mdb(cm_txn_commit(txn));
        txn = NULL;
    }
    if (txn != NULL)
        mdb_txn_abort(txn);
    d->reserved = 0;
    if (rc != 0)
        disk_close(d);
    else
        disk_reserve(d, map_bytes);
    return rc;
}

/* Replace disk i's environment with a copy of disk from's. */
static int
disk_copy(catalog *c, int from, int i)
{
    catalog_disk *d = &c->disk[i];
    char tmp[4200], a[4300], b[4300];
    snprintf(tmp, sizeof tmp, "%s.new", d->path);
    snprintf(a, sizeof a, "%s/data.mdb", tmp);
    unlink(a);
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return samsa__from_errno(errno);
    int rc = from_mdb(cm_env_copy2(c->disk[from].env, tmp, MDB_CP_COMPACT));
    disk_close(d);
    if (rc == 0) {
        snprintf(b, sizeof b, "%s/data.mdb", d->path);
        if (mkdir(d->path, 0755) != 0 && errno != EEXIST)
            rc = samsa__from_errno(errno);
        else if (rename(a, b) != 0)
            rc = samsa__from_errno(errno);
        snprintf(b, sizeof b, "%s/lock.mdb", d->path);
        unlink(b);
    }
    rmdir(tmp);
    uint64_t gen;
    bool fresh;
    if (rc == 0)
        rc = disk_open(d, c->map_bytes, &gen, &fresh); /* restores its id */
    if (rc == 0 && c->nosync)
        rc = from_mdb(mdb_env_set_flags(d->env, MDB_NOSYNC, 1));
    return rc;
}

int
catalog_disk_index(const catalog *c, uint64_t id)
{
    if (id == 0)
        return 0;
    for (int i = 0; i < c->ndisks; i++)
        if (c->disk[i].id == id)
            return i;
    return -1;
}

/* Record every disk's id, in order, on every disk: a directory that comes
 * back empty takes the id its position had. */
static int
put_disks(catalog_txn *t, void *ctx)
{
    const catalog *c = ctx;
    uint8_t buf[8 * CATALOG_MAX_DISKS];
    for (int i = 0; i < c->ndisks; i++)
        samsa__le_put(buf + 8 * i, c->disk[i].id, 8);
    MDB_val k = {5, "disks"};
    return from_mdb(catalog__put(t->txn, t->d->meta, TAG_META, &k, buf,
                                 8 * (size_t)c->ndisks, 0));
}

/* A disk that was missing or fresh takes the id its position had in the
 * newest disk's "disks" list, unless another open disk has it. */
static int
adopt_ids(catalog *c, int newest, const bool *fresh)
{
    MDB_txn *txn;
    int rc =
        from_mdb(cm_txn_begin(c->disk[newest].env, NULL, MDB_RDONLY, &txn));
    if (rc != 0)
        return rc;
    MDB_val k = {5, "disks"}, v;
    int mrc = catalog__get(txn, c->disk[newest].meta, TAG_META, &k, &v);
    if (mrc == 0 &&
        (v.mv_size % 8 != 0 || v.mv_size > 8 * (size_t)CATALOG_MAX_DISKS))
        rc = SAMSA_ECORRUPT;
    else if (mrc != 0 && mrc != MDB_NOTFOUND)
        rc = from_mdb(mrc);
    for (int i = 0;
         mrc == 0 && rc == 0 && i < c->ndisks && i < (int)(v.mv_size / 8);
         i++) {
        uint64_t id = samsa__le_get((uint8_t *)v.mv_data + 8 * i, 8);
        if (id != 0 && (fresh[i] || c->disk[i].env == NULL) &&
            catalog_disk_index(c, id) < 0)
            c->disk[i].id = id;
    }
    mdb_txn_abort(txn);
    return rc;
}

/* Which disks hold a catalog LMDB would trust (catalog_check_file):
 * damaged[i] for a damaged one, held[i] for a whole one that exists.
 * SAMSA_ECORRUPT when disk 0's is damaged and no other disk holds one to
 * rebuild it from: nothing has been opened or written yet. */
static int
check_disks(catalog *c, bool *damaged, bool *held)
{
    bool any_held = false;
    for (int i = 0; i < c->ndisks; i++) {
        int rc = catalog_check_file(c->disk[i].path, &held[i]);
        if (rc == SAMSA_ECORRUPT)
            damaged[i] = true;
        else if (rc != 0 && i == 0)
            return rc;
        any_held |= held[i];
    }
    return damaged[0] && !any_held ? SAMSA_ECORRUPT : 0;
}

int
catalog_open(catalog *c, const char *const *paths, int n, size_t map_bytes)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    pthread_rwlock_init(&c->readers, NULL);
    c->ndisks = n;
    c->map_bytes = map_bytes;
    uint64_t gen[CATALOG_MAX_DISKS] = {0};
    bool fresh[CATALOG_MAX_DISKS] = {false};
    bool damaged[CATALOG_MAX_DISKS] = {false}, held[CATALOG_MAX_DISKS] = {0};
    int rc = 0, newest = -1;
    for (int i = 0; i < n && rc == 0; i++)
        if ((c->disk[i].path = strdup(paths[i])) == NULL)
            rc = SAMSA_ENOMEM;
    /* Every file is checked before LMDB maps any: LMDB trusts its pages,
     * and a damaged one crashes it (catalog_check.c). */
    if (rc == 0)
        rc = check_disks(c, damaged, held);
    for (int i = 0; i < n && rc == 0; i++) {
        if (damaged[i])
            continue; /* rebuilt below from a whole disk */
        int drc = disk_open(&c->disk[i], map_bytes, &gen[i], &fresh[i]);
        if (drc == SAMSA_ECORRUPT)
            damaged[i] = true;
        else if (drc != 0 && i == 0)
            rc = drc;
        else if (drc == SAMSA_EVERSION)
            rc = drc; /* another version's catalog is never replaced */
        else if (drc != 0)
            atomic_fetch_or(&c->down, 1u << i);
        else if (newest < 0 || gen[i] > gen[newest])
            newest = i;
    }
    /* A damaged catalog is rebuilt only from one that held data before
     * this open: never from a catalog just created in an empty directory,
     * which would replace the topics by nothing. */
    bool any_damaged = false;
    for (int i = 0; i < n; i++)
        any_damaged |= damaged[i];
    if (rc == 0 && (newest < 0 || (!held[newest] && any_damaged)))
        rc = SAMSA_ECORRUPT;
    if (rc == 0)
        rc = adopt_ids(c, newest, fresh);
    for (int i = 0; i < n && rc == 0; i++) {
        if (i == newest ||
            (!damaged[i] && (c->disk[i].env == NULL || gen[i] == gen[newest])))
            continue;
        /* Behind (it missed commits: a crash between disks, or it was
         * away) or damaged: replace it by the newest. */
        if (disk_copy(c, newest, i) != 0)
            atomic_fetch_or(&c->down, 1u << i);
    }
    if (rc == 0)
        rc = write_txn(c, put_disks, c, false, true); /* open on a full disk */
    if (rc != 0)
        catalog_close(c);
    return rc;
}

/* The disk ids of every directory, from disk 0's list (put_disks). */
static int
rdonly_ids(catalog *c, MDB_txn *txn)
{
    MDB_val k = {5, "disks"}, v;
    int mrc = catalog__get(txn, c->disk[0].meta, TAG_META, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return 0;
    if (mrc != 0)
        return from_mdb(mrc);
    if (v.mv_size % 8 != 0 || v.mv_size > 8 * (size_t)CATALOG_MAX_DISKS)
        return SAMSA_ECORRUPT;
    for (int i = 1; i < c->ndisks && i < (int)(v.mv_size / 8); i++)
        c->disk[i].id = samsa__le_get((uint8_t *)v.mv_data + 8 * i, 8);
    return 0;
}

int
catalog_open_rdonly(catalog *c, const char *const *paths, int n,
                    size_t map_bytes)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    pthread_rwlock_init(&c->readers, NULL);
    c->ndisks = n;
    c->map_bytes = map_bytes;
    c->rdonly = true;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        if ((c->disk[i].path = strdup(paths[i])) == NULL)
            rc = SAMSA_ENOMEM;
    atomic_store(&c->down, ((1u << n) - 1) & ~1u);
    catalog_disk *d = &c->disk[0];
    /* Checked before LMDB maps it, as at a writer's open.  A writer may be
     * committing meanwhile: a page the check saw half-written is looked
     * at again before it counts as damage. */
    bool held = false;
    for (int tries = 0; rc == 0 && tries < 3; tries++)
        if ((rc = catalog_check_file(d->path, &held)) != SAMSA_ECORRUPT)
            break;
        else if (tries < 2)
            rc = 0;
    if (rc == 0 && !held)
        rc = SAMSA_ENOTSTORE;
    MDB_txn *txn = NULL;
    if (rc == 0)
        rc = from_mdb(mdb_env_create(&d->env));
    if (rc == 0)
        rc = from_mdb(mdb_env_set_maxdbs(d->env, 8));
    if (rc == 0)
        rc = from_mdb(mdb_env_set_mapsize(d->env, map_bytes));
    if (rc == 0)
        rc = from_mdb(
            cm_env_open(d->env, d->path, MDB_NOTLS | MDB_RDONLY, 0644));
    if (rc == 0)
        rc = from_mdb(cm_txn_begin(d->env, NULL, MDB_RDONLY, &txn));
    if (rc == 0)
        rc = from_mdb(cm_dbi_open(txn, "meta", 0, &d->meta));
    if (rc == 0)
        rc = from_mdb(cm_dbi_open(txn, "topics", 0, &d->topics));
    if (rc == 0)
        rc = from_mdb(cm_dbi_open(txn, "partitions", 0, &d->parts));
    if (rc == 0)
        rc = from_mdb(cm_dbi_open(txn, "groups", 0, &d->groups));
    if (rc == 0)
        rc = from_mdb(cm_dbi_open(txn, "queues", 0, &d->queues));
    if (rc == 0)
        rc = from_mdb(cm_dbi_open(txn, "pending", 0, &d->pending));
    if (rc == 0) {
        MDB_val k = {6, "format"}, v;
        int mrc = cm_get(txn, d->meta, &k, &v);
        if (mrc != 0)
            rc = mrc == MDB_NOTFOUND ? SAMSA_ENOTSTORE : from_mdb(mrc);
        else if (v.mv_size == 4)
            rc = SAMSA_EVERSION; /* format 1: the writer upgrades it */
        else if (!catalog__value_ok(TAG_META, &k, &v))
            rc = SAMSA_ECORRUPT;
        else if (samsa__le_get(v.mv_data, 4) != CATALOG_FORMAT)
            rc = SAMSA_EVERSION;
    }
    if (rc == 0)
        rc = meta_u64(txn, d->meta, "disk_id", 0, &d->id);
    if (rc == 0)
        rc = rdonly_ids(c, txn);
    if (rc == 0) { /* a read-only commit keeps the database handles */
        rc = from_mdb(cm_txn_commit(txn));
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
    for (int i = 0; i < c->ndisks; i++) {
        disk_close(&c->disk[i]);
        free(c->disk[i].path);
        c->disk[i].path = NULL;
    }
    if (c->ndisks > 0) {
        pthread_mutex_destroy(&c->lock);
        pthread_rwlock_destroy(&c->readers);
    }
    c->ndisks = 0;
}

void
catalog_disk_down(catalog *c, int i)
{
    atomic_fetch_or(&c->down, 1u << i);
}

int
catalog_disk_rebuild(catalog *c, int i)
{
    samsa__lock(&c->lock, SAMSA_RANK_CATALOG);
    uint32_t down = atomic_load(&c->down);
    int from = -1;
    for (int j = 0; j < c->ndisks && from < 0; j++)
        if (!(down & (1u << j)) && c->disk[j].env != NULL)
            from = j;
    pthread_rwlock_wrlock(&c->readers); /* no reader left on disk i */
    int rc = from < 0 ? SAMSA_EIO : disk_copy(c, from, i);
    if (rc == 0)
        atomic_fetch_and(&c->down, ~(1u << i));
    pthread_rwlock_unlock(&c->readers);
    samsa__unlock(&c->lock, SAMSA_RANK_CATALOG);
    return rc;
}

/* ---- transactions -------------------------------------------------------- */

/* Close and reopen disk i's environment (c->lock held): after a failed
 * meta page write LMDB refuses every transaction (MDB_PANIC) until the
 * environment is opened again, which reads the last meta page that was
 * written whole. */
static int
disk_reopen(catalog *c, int i)
{
    catalog_disk *d = &c->disk[i];
    uint64_t gen;
    bool fresh;
    pthread_rwlock_wrlock(&c->readers); /* no reader left on disk i */
    disk_close(d);
    bool held;
    int rc = catalog_check_file(d->path, &held);
    if (rc == 0)
        rc = disk_open(d, c->map_bytes, &gen, &fresh);
    if (rc == 0 && c->nosync)
        rc = from_mdb(mdb_env_set_flags(d->env, MDB_NOSYNC, 1));
    if (rc != 0)
        disk_close(d);
    pthread_rwlock_unlock(&c->readers);
    return rc;
}

/* Is every healthy disk full (less than CATALOG_FULL bytes free)?  Then
 * only writes that free space may commit (see disk_reserve). */
#define CATALOG_FULL (64u << 10)

static bool
disks_full(catalog *c)
{
    bool any = false;
    uint32_t down = atomic_load(&c->down);
    for (int i = 0; i < c->ndisks; i++) {
        struct statvfs v;
        if ((down & (1u << i)) || c->disk[i].env == NULL)
            continue;
        if (statvfs(c->disk[i].path, &v) != 0 ||
            (uint64_t)v.f_bavail * v.f_frsize >= CATALOG_FULL)
            return false;
        any = true;
    }
    return any;
}

/* catalog_write(), and with durable each commit fsync'ed before it is
 * made, whatever catalog_set_nosync() said.  Unless reserve_ok,
 * SAMSA_ENOSPC when every disk is full, so that the space kept ahead of
 * the catalog (disk_reserve) stays for the writes that may use it: those
 * that free space (a log start moved, a topic removed, a config altered)
 * and those that keep existing state current (partition records: the
 * recovery points and copies; the disks list at open), which overwrite
 * records of a fixed size rather than add new ones. */
static int
write_txn(catalog *c, catalog_write_fn fn, void *ctx, bool durable,
          bool reserve_ok)
{
    if (c->rdonly)
        return SAMSA_ERDONLY;
    if (!reserve_ok && disks_full(c))
        return SAMSA_ENOSPC;
    samsa__lock(&c->lock, SAMSA_RANK_CATALOG);
    int first = 0, done = 0;
    uint32_t missed = 0; /* disks whose transaction failed */
    for (int i = 0; i < c->ndisks; i++) {
        catalog_disk *d = &c->disk[i];
        if (atomic_load(&c->down) & (1u << i))
            continue;
        catalog_txn t = {NULL, d, c};
        int mrc =
            d->env != NULL ? cm_txn_begin(d->env, NULL, 0, &t.txn) : MDB_PANIC;
        if (mrc == MDB_PANIC && disk_reopen(c, i) == 0)
            mrc = cm_txn_begin(d->env, NULL, 0, &t.txn);
        int rc = from_mdb(mrc);
        uint64_t gen = 0;
        if (rc == 0)
            rc = meta_u64(t.txn, d->meta, "gen", 0, &gen);
        if (rc == 0)
            rc = meta_put_u64(t.txn, d->meta, "gen", gen + 1);
        int frc = rc == 0 ? fn(&t, ctx) : 0;
        if (frc != 0 && done == 0) {
            /* The callback refused on the first disk: nothing happens
             * anywhere (every disk holds the same data, so it would refuse
             * on each). */
            mdb_txn_abort(t.txn);
            samsa__unlock(&c->lock, SAMSA_RANK_CATALOG);
            return frc;
        }
        /* LMDB 0.9 has no per-transaction sync: the environment's flag is
         * cleared for this commit (c->lock keeps every other commit out),
         * so that it syncs the data before it writes the meta page and a
         * failed sync fails the commit, changing nothing.  (A sync after a
         * commit could fail with the commit made: a topic created on disk
         * while the call reports an error.) */
        bool unsync = durable && c->nosync && rc == 0 && frc == 0;
        if (unsync)
            mdb_env_set_flags(d->env, MDB_NOSYNC, 0);
        if (rc == 0 && frc == 0)
            rc = from_mdb(cm_txn_commit(t.txn)); /* frees txn either way */
        else if (t.txn != NULL)
            mdb_txn_abort(t.txn);
        if (unsync)
            mdb_env_set_flags(d->env, MDB_NOSYNC, 1);
        if (rc == 0 && frc == 0) {
            done++;
            disk_reserve(d, c->map_bytes);
        } else {
            missed |= 1u << i;
            if (first == 0)
                first = rc != 0 ? rc : frc;
        }
    }
    /* A disk that failed while another committed is behind by a commit:
     * down until rebuilt.  When none committed, every disk still holds
     * the state before this write (an aborted or failed LMDB commit
     * changes nothing), so none is marked down: a full disk gives
     * SAMSA_ENOSPC now and works again once space is freed. */
    if (done > 0)
        atomic_fetch_or(&c->down, missed);
    samsa__unlock(&c->lock, SAMSA_RANK_CATALOG);
    return done > 0 ? 0 : first != 0 ? first : SAMSA_EIO;
}

static int
write_all(catalog *c, catalog_write_fn fn, void *ctx, bool durable)
{
    return write_txn(c, fn, ctx, durable, false);
}

int
catalog_write(catalog *c, catalog_write_fn fn, void *ctx)
{
    return write_all(c, fn, ctx, false);
}

int
catalog_read_begin(catalog *c, catalog_txn *t)
{
    pthread_rwlock_rdlock(&c->readers);
    uint32_t down = atomic_load(&c->down);
    for (int i = 0; i < c->ndisks; i++)
        if (!(down & (1u << i)) && c->disk[i].env != NULL) {
            t->c = c;
            t->d = &c->disk[i];
            int rc = from_mdb(
                cm_txn_begin(c->disk[i].env, NULL, MDB_RDONLY, &t->txn));
            if (rc != 0)
                pthread_rwlock_unlock(&c->readers);
            return rc;
        }
    pthread_rwlock_unlock(&c->readers);
    return SAMSA_EIO;
}

void
catalog_read_end(catalog_txn *t)
{
    mdb_txn_abort(t->txn);
    pthread_rwlock_unlock(&t->c->readers);
}

/* ---- healing a database from another disk --------------------------------
 *
 * A value whose CRC fails while the store is open (a bit flipped in
 * data.mdb under the running process: the open checked every value,
 * each_value()) is an error at every read of it, until something
 * overwrites the record.  With more than one disk there is a good copy:
 * every healthy disk holds the same records (catalog_write), so a disk on
 * which every value of the database checks holds a good version of each.
 * catalog_heal() gives each disk on which a value fails the records of
 * the first clean one, in one write transaction that empties the damaged
 * database and copies every record over, CRCs as they are.  c->lock is
 * held throughout, as by every write, so no commit comes between reading
 * the clean copy and writing it: the disks stay alike.  The generation is
 * not moved: the healed disk holds what the others hold, as it did before
 * the damage.  With one disk, or none clean, nothing changes.
 */

/* Copy every record of the database tagged tag from (a read transaction
 * on disk fd) into to's (on disk td), emptied first. */
static int
db_copy(MDB_txn *from, const catalog_disk *fd, MDB_txn *to,
        const catalog_disk *td, char tag)
{
    unsigned dbi = db_of(td, tag);
    int rc = from_mdb(cm_drop(to, dbi, 0));
    MDB_cursor *cur;
    if (rc == 0)
        rc = from_mdb(cm_cursor_open(from, db_of(fd, tag), &cur));
    if (rc != 0)
        return rc;
    MDB_val k, v;
    int mrc = cm_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; mrc == 0 && rc == 0; mrc = cm_cursor_get(cur, &k, &v, MDB_NEXT))
        rc = from_mdb(cm_put(to, dbi, &k, &v, MDB_APPEND));
    if (rc == 0 && mrc != MDB_NOTFOUND)
        rc = from_mdb(mrc);
    mdb_cursor_close(cur);
    return rc;
}

/* Disk i's database, damaged, rewritten from src (a read transaction on
 * disk good); c->lock held. */
static int
heal_disk(catalog *c, int i, MDB_txn *src, int good, char tag)
{
    MDB_txn *w;
    int rc = from_mdb(cm_txn_begin(c->disk[i].env, NULL, 0, &w));
    if (rc != 0)
        return rc;
    rc = db_copy(src, &c->disk[good], w, &c->disk[i], tag);
    if (rc == 0)
        return from_mdb(cm_txn_commit(w)); /* frees w either way */
    mdb_txn_abort(w);
    return rc;
}

int
catalog_heal(catalog *c, char tag)
{
    if (c->rdonly || c->ndisks < 2)
        return SAMSA_ECORRUPT;
    samsa__lock(&c->lock, SAMSA_RANK_CATALOG);
    uint32_t down = atomic_load(&c->down);
    MDB_txn *rd[CATALOG_MAX_DISKS] = {NULL};
    int state[CATALOG_MAX_DISKS], good = -1, first = 0;
    bool damaged = false;
    for (int i = 0; i < c->ndisks; i++) {
        state[i] = SAMSA_EIO; /* down, or unreadable: left alone */
        if ((down & (1u << i)) || c->disk[i].env == NULL ||
            cm_txn_begin(c->disk[i].env, NULL, MDB_RDONLY, &rd[i]) != 0)
            continue;
        state[i] = db_check(rd[i], &c->disk[i], tag);
        if (state[i] == 0 && good < 0)
            good = i;
        damaged |= state[i] == SAMSA_ECORRUPT;
    }
    for (int i = 0; i < c->ndisks; i++) {
        if (state[i] != SAMSA_ECORRUPT)
            continue;
        mdb_txn_abort(rd[i]);
        rd[i] = NULL;
        int rc =
            good < 0 ? SAMSA_ECORRUPT : heal_disk(c, i, rd[good], good, tag);
        if (first == 0)
            first = rc;
    }
    for (int i = 0; i < c->ndisks; i++)
        if (rd[i] != NULL)
            mdb_txn_abort(rd[i]);
    samsa__unlock(&c->lock, SAMSA_RANK_CATALOG);
    return damaged ? first : 0;
}

/* ---- topics -------------------------------------------------------------- */

static void
topic_encode(uint8_t *b, uint64_t id, const samsa_topic_config *cfg)
{
    samsa__le_put(b + 0, 1, 4);
    samsa__le_put(b + 4, id, 8);
    samsa__le_put(b + 12, (uint32_t)cfg->partitions, 4);
    samsa__le_put(b + 16, (uint32_t)cfg->replicas, 4);
    samsa__le_put(b + 20, (uint64_t)cfg->segment_bytes, 8);
    samsa__le_put(b + 28, (uint32_t)cfg->max_message_bytes, 4);
    samsa__le_put(b + 32, (uint32_t)cfg->index_interval_bytes, 4);
    samsa__le_put(b + 36, (uint32_t)cfg->sync, 4);
    samsa__le_put(b + 40, (uint32_t)cfg->min_insync, 4);
    samsa__le_put(b + 44, (uint32_t)cfg->acks, 4);
    samsa__le_put(b + 48, (uint64_t)cfg->retention_ms, 8);
    samsa__le_put(b + 56, (uint64_t)cfg->retention_bytes, 8);
    samsa__le_put(b + 64, (uint64_t)cfg->segment_ms, 8);
    samsa__le_put(b + 72, (uint32_t)cfg->compression, 4);
    samsa__le_put(b + 76, (uint32_t)cfg->compression_level, 4);
    samsa__le_put(b + 80, (uint32_t)cfg->timestamp_type, 4);
    uint32_t ratio;
    memcpy(&ratio, &cfg->min_cleanable_dirty_ratio, 4);
    samsa__le_put(b + 84, (uint32_t)cfg->cleanup_policy, 4);
    samsa__le_put(b + 88, ratio, 4);
    samsa__le_put(b + 92, (uint64_t)cfg->delete_retention_ms, 8);
    samsa__le_put(b + 100, (uint64_t)cfg->min_compaction_lag_ms, 8);
}

/* A topic name as samsa_topic_create() allows them: it becomes a path. */
static bool
name_ok(const MDB_val *k)
{
    const char *n = k->mv_data;
    if (k->mv_size == 0 || k->mv_size > SAMSA_MAX_TOPIC_NAME ||
        (k->mv_size <= 2 && memcmp(n, "..", k->mv_size) == 0))
        return false;
    for (size_t i = 0; i < k->mv_size; i++)
        if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z') ||
              (n[i] >= '0' && n[i] <= '9') || n[i] == '.' || n[i] == '_' ||
              n[i] == '-'))
            return false;
    return true;
}

static int
topic_decode(const MDB_val *v, uint64_t *id, samsa_topic_config *cfg)
{
    const uint8_t *b = v->mv_data;
    if ((v->mv_size != TOPIC_RECORD_SIZE && v->mv_size != TOPIC_RECORD_V5 &&
         v->mv_size != TOPIC_RECORD_V4 && v->mv_size != TOPIC_RECORD_V3 &&
         v->mv_size != TOPIC_RECORD_V2 && v->mv_size != TOPIC_RECORD_V1) ||
        samsa__le_get(b, 4) != 1)
        return SAMSA_ECORRUPT;
    memset(cfg, 0, sizeof *cfg);
    *id = samsa__le_get(b + 4, 8);
    cfg->partitions = (int32_t)samsa__le_get(b + 12, 4);
    cfg->replicas = (int32_t)samsa__le_get(b + 16, 4);
    cfg->segment_bytes = (int64_t)samsa__le_get(b + 20, 8);
    cfg->max_message_bytes = (int32_t)samsa__le_get(b + 28, 4);
    cfg->index_interval_bytes = (int32_t)samsa__le_get(b + 32, 4);
    cfg->sync = (int)samsa__le_get(b + 36, 4);
    cfg->min_insync = 1;
    cfg->acks = SAMSA_ACKS_ALL;
    if (v->mv_size >= TOPIC_RECORD_V2) {
        cfg->min_insync = (int32_t)samsa__le_get(b + 40, 4);
        cfg->acks = (int32_t)samsa__le_get(b + 44, 4);
    }
    if (v->mv_size >= TOPIC_RECORD_V3) {
        cfg->retention_ms = (int64_t)samsa__le_get(b + 48, 8);
        cfg->retention_bytes = (int64_t)samsa__le_get(b + 56, 8);
        cfg->segment_ms = (int64_t)samsa__le_get(b + 64, 8);
    }
    if (v->mv_size >= TOPIC_RECORD_V4) {
        cfg->compression = (int32_t)samsa__le_get(b + 72, 4);
        cfg->compression_level = (int32_t)samsa__le_get(b + 76, 4);
    }
    if (v->mv_size >= TOPIC_RECORD_V5)
        cfg->timestamp_type = (int32_t)samsa__le_get(b + 80, 4);
    cfg->cleanup_policy = SAMSA_CLEANUP_DELETE;
    cfg->min_cleanable_dirty_ratio = 0.5f;
    cfg->delete_retention_ms = 86400000;
    if (v->mv_size >= TOPIC_RECORD_SIZE) {
        uint32_t ratio = (uint32_t)samsa__le_get(b + 88, 4);
        cfg->cleanup_policy = (int32_t)samsa__le_get(b + 84, 4);
        memcpy(&cfg->min_cleanable_dirty_ratio, &ratio, 4);
        cfg->delete_retention_ms = (int64_t)samsa__le_get(b + 92, 8);
        cfg->min_compaction_lag_ms = (int64_t)samsa__le_get(b + 100, 8);
    }
    float r = cfg->min_cleanable_dirty_ratio;
    /* Every field within what samsa_topic_create() accepts: a partition
     * count of 2^31 from a damaged record would be an allocation. */
    bool ok =
        *id != 0 && cfg->partitions >= 1 &&
        cfg->partitions <= SAMSA_MAX_PARTITIONS && cfg->replicas >= 1 &&
        cfg->replicas <= CATALOG_MAX_DISKS && cfg->segment_bytes >= 4096 &&
        cfg->segment_bytes <= INT32_MAX && cfg->max_message_bytes >= 64 &&
        cfg->max_message_bytes <= (256 << 20) &&
        cfg->index_interval_bytes >= 64 &&
        cfg->index_interval_bytes <= (1 << 20) &&
        cfg->sync >= SAMSA_SYNC_DEFAULT && cfg->sync <= SAMSA_SYNC_ALWAYS &&
        cfg->min_insync >= 1 && cfg->min_insync <= cfg->replicas &&
        (cfg->acks == SAMSA_ACKS_ALL || cfg->acks == SAMSA_ACKS_LEADER) &&
        cfg->retention_ms >= 0 && cfg->retention_bytes >= 0 &&
        cfg->segment_ms >= 0 && cfg->compression >= 0 &&
        cfg->compression <= CODEC_MAX &&
        codec_level_valid(cfg->compression, cfg->compression_level) &&
        (cfg->timestamp_type == SAMSA_TIMESTAMP_CREATE_TIME ||
         cfg->timestamp_type == SAMSA_TIMESTAMP_LOG_APPEND_TIME) &&
        cfg->cleanup_policy >= SAMSA_CLEANUP_DELETE &&
        cfg->cleanup_policy <= SAMSA_CLEANUP_COMPACT_DELETE &&
        (r == -1 || (r > 0 && r <= 1)) &&
        (cfg->delete_retention_ms == -1 || cfg->delete_retention_ms > 0) &&
        cfg->min_compaction_lag_ms >= 0;
    return ok ? 0 : SAMSA_ECORRUPT;
}

static int
next_topic_id(MDB_txn *txn, const catalog_disk *d, uint64_t *id)
{
    int rc = meta_u64(txn, d->meta, "next_topic_id", 1, id);
    return rc != 0 ? rc : meta_put_u64(txn, d->meta, "next_topic_id", *id + 1);
}

typedef struct counter_ctx {
    const char *key;
    uint64_t n, first;
} counter_ctx;

static int
counter_txn(catalog_txn *t, void *ctx)
{
    counter_ctx *a = ctx;
    int rc = meta_u64(t->txn, t->d->meta, a->key, 0, &a->first);
    if (rc == 0 && a->first > UINT64_MAX - a->n)
        rc = SAMSA_EINVAL; /* a counter that would wrap gives no more */
    return rc != 0 ? rc
                   : meta_put_u64(t->txn, t->d->meta, a->key, a->first + a->n);
}

int
catalog_counter_take(catalog *c, const char *key, uint64_t n, uint64_t *first)
{
    counter_ctx a = {key, n, 0};
    int rc = write_all(c, counter_txn, &a, true);
    *first = a.first;
    return rc;
}

static size_t
part_encode(uint8_t *b, const catalog_partition *p)
{
    samsa__le_put(b, (uint64_t)p->start, 8);
    samsa__le_put(b + 8, (uint64_t)p->recovery_point, 8);
    samsa__le_put(b + 16, (uint32_t)p->leader_epoch, 4);
    samsa__le_put(b + 20, p->isr, 4);
    samsa__le_put(b + 24, (uint32_t)p->leader, 4);
    samsa__le_put(b + 28, (uint32_t)p->ncopies, 4);
    for (int i = 0; i < p->ncopies; i++)
        samsa__le_put(b + PART_RECORD_MIN + 8 * i, p->disk[i], 8);
    size_t n = PART_RECORD_MIN + 8 * (size_t)p->ncopies;
    /* The flags word only when a flag is set: a dense partition's record
     * stays as older versions wrote and read it. */
    if (p->flags != 0)
        samsa__le_put(b + n, p->flags, 4);
    return n + (p->flags != 0 ? 4 : 0);
}

static int
part_decode(const MDB_val *v, catalog_partition *p)
{
    const uint8_t *b = v->mv_data;
    memset(p, 0, sizeof *p);
    if (v->mv_size == 16) { /* from before replicas: one copy on disk 0 */
        p->ncopies = 1;
        p->isr = 1;
    } else if (v->mv_size >= PART_RECORD_MIN) {
        p->leader_epoch = (int32_t)samsa__le_get(b + 16, 4);
        p->isr = (uint32_t)samsa__le_get(b + 20, 4);
        p->leader = (int32_t)samsa__le_get(b + 24, 4);
        p->ncopies = (int32_t)samsa__le_get(b + 28, 4);
        size_t n = PART_RECORD_MIN + 8 * (size_t)p->ncopies;
        if (p->ncopies < 1 || p->ncopies > CATALOG_MAX_DISKS ||
            (v->mv_size != n && v->mv_size != n + 4) || p->leader < 0 ||
            p->leader >= p->ncopies)
            return SAMSA_ECORRUPT;
        for (int i = 0; i < p->ncopies; i++)
            p->disk[i] = samsa__le_get(b + PART_RECORD_MIN + 8 * i, 8);
        /* Flags: none unknown, and the word is written only when not 0. */
        if (v->mv_size == n + 4 &&
            ((p->flags = (uint32_t)samsa__le_get(b + n, 4)) == 0 ||
             (p->flags & ~CATALOG_PART_GAPS) != 0))
            return SAMSA_ECORRUPT;
    } else {
        return SAMSA_ECORRUPT;
    }
    p->start = (int64_t)samsa__le_get(b, 8);
    p->recovery_point = (int64_t)samsa__le_get(b + 8, 8);
    return p->start >= 0 && p->recovery_point >= 0 && p->leader_epoch >= 0 &&
                   (p->isr >> p->ncopies) == 0
               ? 0
               : SAMSA_ECORRUPT;
}

static int
part_put(catalog_txn *t, uint64_t id, int32_t partition,
         const catalog_partition *p)
{
    uint8_t key[12], val[PART_RECORD_MIN + 8 * CATALOG_MAX_DISKS + 4];
    part_key(key, id, partition);
    MDB_val k = {12, key};
    return from_mdb(catalog__put(t->txn, t->d->parts, TAG_PART, &k, val,
                                 part_encode(val, p), 0));
}

typedef struct topic_add_ctx {
    const char *name;
    const samsa_topic_config *cfg;
    const catalog_partition *parts;
    uint64_t id; /* out: the new id (the same on every disk) */
} topic_add_ctx;

static int
topic_add_txn(catalog_txn *t, void *ctx)
{
    topic_add_ctx *a = ctx;
    uint8_t rec[TOPIC_RECORD_SIZE];
    MDB_val k = {strlen(a->name), (void *)a->name};
    int rc = next_topic_id(t->txn, t->d, &a->id);
    if (rc == 0) {
        topic_encode(rec, a->id, a->cfg);
        int mrc = catalog__put(t->txn, t->d->topics, TAG_TOPIC, &k, rec,
                               sizeof rec, MDB_NOOVERWRITE);
        rc = mrc == MDB_KEYEXIST ? SAMSA_EEXIST : from_mdb(mrc);
    }
    for (int32_t p = 0; rc == 0 && p < a->cfg->partitions; p++)
        rc = part_put(t, a->id, p, &a->parts[p]);
    if (rc == 0) { /* its directories now belong to the topic */
        int mrc = cm_del(t->txn, t->d->pending, &k, NULL);
        rc = mrc == MDB_NOTFOUND ? 0 : from_mdb(mrc);
    }
    return rc;
}

int
catalog_topic_add(catalog *c, const char *name, const samsa_topic_config *cfg,
                  const catalog_partition *parts, uint64_t *id)
{
    topic_add_ctx a = {name, cfg, parts, 0};
    int rc = write_all(c, topic_add_txn, &a, true);
    if (rc == 0)
        *id = a.id; /* set only once the topic exists */
    return rc;
}

/* ---- pending directories ------------------------------------------------ */

static int
pending_put(catalog_txn *t, const char *name, int32_t first, int32_t partitions)
{
    uint8_t rec[12];
    size_t n = first > 0 ? 12 : 8; /* version 1 when it can be */
    samsa__le_put(rec, first > 0 ? 2 : 1, 4);
    samsa__le_put(rec + 4, (uint32_t)partitions, 4);
    samsa__le_put(rec + 8, (uint32_t)first, 4);
    MDB_val k = {strlen(name), (void *)name};
    return from_mdb(
        catalog__put(t->txn, t->d->pending, TAG_PENDING, &k, rec, n, 0));
}

static int
pending_decode(const MDB_val *v, int32_t *first, int32_t *partitions)
{
    const uint8_t *b = v->mv_data;
    if (!(v->mv_size == 8 && samsa__le_get(b, 4) == 1) &&
        !(v->mv_size == 12 && samsa__le_get(b, 4) == 2))
        return SAMSA_ECORRUPT;
    *partitions = (int32_t)samsa__le_get(b + 4, 4);
    *first = v->mv_size == 12 ? (int32_t)samsa__le_get(b + 8, 4) : 0;
    return *partitions > 0 && *partitions <= SAMSA_MAX_PARTITIONS &&
                   *first >= 0 && *first < *partitions
               ? 0
               : SAMSA_ECORRUPT;
}

typedef struct pending_ctx {
    const char *name;   /* the topic name          */
    int32_t first;      /* put: the first partition it names */
    int32_t partitions; /* put: its partitions; del: -1 */
} pending_ctx;

static int
pending_txn(catalog_txn *t, void *ctx)
{
    const pending_ctx *a = ctx;
    if (a->partitions > 0)
        return pending_put(t, a->name, a->first, a->partitions);
    MDB_val k = {strlen(a->name), (void *)a->name};
    int mrc = cm_del(t->txn, t->d->pending, &k, NULL);
    return mrc == MDB_NOTFOUND ? 0 : from_mdb(mrc);
}

int
catalog_pending_put(catalog *c, const char *name, int32_t first,
                    int32_t partitions)
{
    /* Durable: the record must be on disk before the mkdir it licenses. */
    pending_ctx a = {name, first, partitions};
    return write_all(c, pending_txn, &a, true);
}

int
catalog_pending_del(catalog *c, const char *name)
{
    pending_ctx a = {name, 0, -1};
    return write_txn(c, pending_txn, &a, false, true);
}

int
catalog_pending_get(catalog *c, const char *name, int32_t *partitions)
{
    int32_t first;
    catalog_txn t;
    int rc = catalog_read_begin(c, &t);
    if (rc != 0)
        return rc;
    MDB_val k = {strlen(name), (void *)name}, v;
    rc = from_mdb(catalog__get(t.txn, t.d->pending, TAG_PENDING, &k, &v));
    if (rc == 0)
        rc = pending_decode(&v, &first, partitions);
    catalog_read_end(&t);
    return rc;
}

int
catalog_pending_list(catalog *c, char ***names, int32_t **firsts,
                     int32_t **partitions, size_t *n)
{
    catalog_txn t;
    MDB_cursor *cur;
    *names = NULL;
    *firsts = NULL;
    *partitions = NULL;
    *n = 0;
    int rc = catalog_read_begin(c, &t);
    if (rc != 0)
        return rc;
    if ((rc = from_mdb(cm_cursor_open(t.txn, t.d->pending, &cur))) != 0) {
        catalog_read_end(&t);
        return rc;
    }
    MDB_val k, v;
    int mrc = cm_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; mrc == 0 && rc == 0; mrc = cm_cursor_get(cur, &k, &v, MDB_NEXT)) {
        int32_t parts, first;
        char **nn = realloc(*names, (*n + 1) * sizeof *nn);
        int32_t *np =
            nn == NULL ? NULL : realloc(*partitions, (*n + 1) * sizeof *np);
        int32_t *nf =
            np == NULL ? NULL : realloc(*firsts, (*n + 1) * sizeof *nf);
        *names = nn != NULL ? nn : *names;
        *partitions = np != NULL ? np : *partitions;
        *firsts = nf != NULL ? nf : *firsts;
        if (nf == NULL)
            rc = SAMSA_ENOMEM;
        else if (k.mv_size == 0 || k.mv_size > SAMSA_MAX_TOPIC_NAME ||
                 !catalog__value_ok(TAG_PENDING, &k, &v) ||
                 (rc = pending_decode(&v, &first, &parts)) != 0)
            rc = SAMSA_ECORRUPT;
        else if (((*names)[*n] = strndup(k.mv_data, k.mv_size)) == NULL)
            rc = SAMSA_ENOMEM;
        else {
            (*firsts)[*n] = first;
            (*partitions)[(*n)++] = parts;
        }
    }
    if (rc == 0 && mrc != MDB_NOTFOUND)
        rc = from_mdb(mrc);
    mdb_cursor_close(cur);
    catalog_read_end(&t);
    return rc;
}

/* ---- topic removal ------------------------------------------------------- */

static int
topic_remove_txn(catalog_txn *t, void *ctx)
{
    const char *name = ctx;
    MDB_val k = {strlen(name), (void *)name}, v;
    uint64_t id;
    samsa_topic_config cfg;
    int rc = from_mdb(catalog__get(t->txn, t->d->topics, TAG_TOPIC, &k, &v));
    if (rc == 0)
        rc = topic_decode(&v, &id, &cfg);
    if (rc == 0)
        rc = from_mdb(cm_del(t->txn, t->d->topics, &k, NULL));
    for (int32_t p = 0; rc == 0 && p < cfg.partitions; p++) {
        uint8_t key[12];
        part_key(key, id, p);
        MDB_val pk = {12, key};
        int mrc = cm_del(t->txn, t->d->parts, &pk, NULL);
        rc = mrc == MDB_NOTFOUND ? 0 : from_mdb(mrc);
    }
    if (rc == 0) /* every group's offsets of it go in the same commit */
        rc = catalog_group_drop_topic(t, id);
    if (rc == 0) /* and its share groups' snapshots */
        rc = catalog_queue_drop(t, catalog_id_is, &id);
    if (rc == 0) /* its directories are samsa's to remove */
        rc = pending_put(t, name, 0, cfg.partitions);
    return rc;
}

int
catalog_topic_remove(catalog *c, const char *name)
{
    return write_txn(c, topic_remove_txn, (void *)name, true, true);
}

int
catalog_topic_foreach(catalog *c, catalog_topic_fn fn, void *ctx)
{
    catalog_txn t;
    MDB_cursor *cur;
    int rc = catalog_read_begin(c, &t);
    if (rc != 0)
        return rc;
    if ((rc = from_mdb(cm_cursor_open(t.txn, t.d->topics, &cur))) != 0) {
        catalog_read_end(&t);
        return rc;
    }
    MDB_val k, v;
    int mrc = cm_cursor_get(cur, &k, &v, MDB_FIRST);
    char name[SAMSA_MAX_TOPIC_NAME + 1];
    for (; mrc == 0 && rc == 0; mrc = cm_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t id;
        samsa_topic_config cfg;
        if (!name_ok(&k) || !catalog__value_ok(TAG_TOPIC, &k, &v) ||
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
    catalog_read_end(&t);
    return rc;
}

/* ---- partitions ---------------------------------------------------------- */

int
catalog_partition_get(catalog *c, uint64_t id, int32_t partition,
                      catalog_partition *out)
{
    catalog_txn t;
    int rc = catalog_read_begin(c, &t);
    if (rc != 0)
        return rc;
    uint8_t key[12];
    part_key(key, id, partition);
    MDB_val k = {12, key}, v;
    int mrc = catalog__get(t.txn, t.d->parts, TAG_PART, &k, &v);
    rc = mrc == MDB_NOTFOUND ? SAMSA_ECORRUPT
         : mrc != 0          ? from_mdb(mrc)
                             : part_decode(&v, out);
    catalog_read_end(&t);
    return rc;
}

typedef struct parts_put_ctx {
    uint64_t id;
    const int32_t *partitions;
    const catalog_partition *state;
    size_t n;
} parts_put_ctx;

static int
parts_put_txn(catalog_txn *t, void *ctx)
{
    const parts_put_ctx *a = ctx;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < a->n; i++)
        rc = part_put(t, a->id, a->partitions[i], &a->state[i]);
    return rc;
}

int
catalog_partitions_put(catalog *c, uint64_t id, const int32_t *partitions,
                       const catalog_partition *state, size_t n)
{
    parts_put_ctx a = {id, partitions, state, n};
    return write_txn(c, parts_put_txn, &a, false, true);
}

int
catalog_partitions_put_durable(catalog *c, uint64_t id,
                               const int32_t *partitions,
                               const catalog_partition *state, size_t n)
{
    parts_put_ctx a = {id, partitions, state, n};
    return write_txn(c, parts_put_txn, &a, true, true);
}

/* ---- changing a topic ---------------------------------------------------- */

typedef struct topic_update_ctx {
    const char *name;
    const samsa_topic_config *cfg;
    int32_t first;                  /* partitions from here are new        */
    const catalog_partition *parts; /* their records, or NULL: none        */
} topic_update_ctx;

static int
topic_update_txn(catalog_txn *t, void *ctx)
{
    const topic_update_ctx *a = ctx;
    MDB_val k = {strlen(a->name), (void *)a->name}, v;
    uint64_t id;
    samsa_topic_config old;
    int rc = from_mdb(catalog__get(t->txn, t->d->topics, TAG_TOPIC, &k, &v));
    if (rc == 0)
        rc = topic_decode(&v, &id, &old);
    uint8_t rec[TOPIC_RECORD_SIZE];
    if (rc == 0) {
        topic_encode(rec, id, a->cfg);
        rc = from_mdb(catalog__put(t->txn, t->d->topics, TAG_TOPIC, &k, rec,
                                   sizeof rec, 0));
    }
    for (int32_t p = a->first;
         rc == 0 && a->parts != NULL && p < a->cfg->partitions; p++)
        rc = part_put(t, id, p, &a->parts[p - a->first]);
    if (rc == 0 && a->parts != NULL) { /* the new directories are the topic's */
        int mrc = cm_del(t->txn, t->d->pending, &k, NULL);
        rc = mrc == MDB_NOTFOUND ? 0 : from_mdb(mrc);
    }
    return rc;
}

int
catalog_topic_update(catalog *c, const char *name,
                     const samsa_topic_config *cfg, int32_t first,
                     const catalog_partition *parts)
{
    topic_update_ctx a = {name, cfg, first, parts};
    /* Altering a config may free space (a lower retention); growing a
     * topic takes some. */
    return write_txn(c, topic_update_txn, &a, true, parts == NULL);
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

static int
queue_get(catalog *c, const uint8_t *key, size_t klen, void **buf, size_t *len)
{
    catalog_txn t;
    int rc = catalog_read_begin(c, &t);
    if (rc != 0)
        return rc;
    MDB_val k = {klen, (void *)key}, v;
    rc = from_mdb(catalog__get(t.txn, t.d->queues, TAG_QUEUE, &k, &v));
    if (rc == 0) {
        *buf = malloc(v.mv_size > 0 ? v.mv_size : 1);
        if (*buf == NULL)
            rc = SAMSA_ENOMEM;
        else {
            memcpy(*buf, v.mv_data, v.mv_size);
            *len = v.mv_size;
        }
    }
    catalog_read_end(&t);
    return rc;
}

int
catalog_queue_get(catalog *c, const char *group, uint64_t topic_id,
                  int32_t partition, void **buf, size_t *len)
{
    uint8_t key[SAMSA_MAX_TOPIC_NAME + 16];
    size_t klen = queue_key(key, sizeof key, group, topic_id, partition);
    if (klen == 0)
        return SAMSA_EINVAL;
    /* As catalog_group_get(): damage healed from a good copy, then read
     * again. */
    int rc = queue_get(c, key, klen, buf, len);
    if (rc == SAMSA_ECORRUPT && catalog_heal(c, TAG_QUEUE) == 0)
        rc = queue_get(c, key, klen, buf, len);
    return rc;
}

typedef struct queue_put_ctx {
    const uint8_t *key; /* the record's key and its length      */
    size_t klen;
    const void *buf; /* the snapshot                         */
    size_t len;
} queue_put_ctx;

static int
queue_put_txn(catalog_txn *t, void *ctx)
{
    const queue_put_ctx *q = ctx;
    MDB_val k = {q->klen, (void *)q->key};
    return from_mdb(
        catalog__put(t->txn, t->d->queues, TAG_QUEUE, &k, q->buf, q->len, 0));
}

int
catalog_queue_put(catalog *c, const char *group, uint64_t topic_id,
                  int32_t partition, const void *buf, size_t len)
{
    uint8_t key[SAMSA_MAX_TOPIC_NAME + 16];
    size_t klen = queue_key(key, sizeof key, group, topic_id, partition);
    if (klen == 0)
        return SAMSA_EINVAL;
    queue_put_ctx q = {key, klen, buf, len};
    return catalog_write(c, queue_put_txn, &q);
}
