/*
 * replica.h - the copies of a partition (replica.c, replica_io.c,
 * scrub.c).
 *
 * Each partition has a replica set: its copies, one per directory it was
 * placed on, which of them are in sync, and which one leads.  With more than
 * one copy, the partition's log does its file I/O through the set's own
 * samsa_io table (replica_io.c), which hands each call to every in-sync copy
 * through the store's I/O layer, so the log engine (log.c, segment.c) is the
 * same with or without replicas and the copies stay byte for byte alike.
 *
 * Lock order: log.lock -> log.fsync_lock -> rset.lock -> catalog.  The
 * event callback and catalog writes run after rset.lock is released.
 */
#ifndef SAMSA_REPLICA_H
#define SAMSA_REPLICA_H

#include "catalog/catalog.h"
#include "storage/log.h"

#define REPLICA_MAX CATALOG_MAX_DISKS

typedef struct mfile mfile;
typedef struct rset rset;

/* ---- sync_pool.c --------------------------------------------------------- */

/* One fdatasync of one copy's file, run by a pool thread or the caller. */
typedef struct sync_job {
    void (*fn)(struct sync_job *j); /* does it, and sets rc               */
    rset *rs;                       /* the set the file belongs to        */
    samsa_io_file *f;               /* the copy's handle                  */
    int disk;                       /* the copy's directory               */
    int rc;                         /* 0 or -errno                        */
    struct sync_job *next;          /* the pool's queue (its lock)        */
    int state;                      /* queued, running, done (its lock)   */
} sync_job;

/* Threads that run the jobs callers queue; see sync_pool.c. */
typedef struct sync_pool {
    pthread_mutex_t lock; /* head, stop, each queued job's next, state */
    pthread_cond_t work;  /* a job was queued, or stop                 */
    pthread_cond_t done;  /* a job is done                             */
    sync_job *head;       /* queued jobs, oldest first                 */
    bool stop;            /* sync_pool_stop: workers leave             */
    int nthreads;
    pthread_t th[REPLICA_MAX];
} sync_pool;

/* Start up to threads workers (fewer when threads cannot be made, even
 * none: callers then run every job themselves). */
void sync_pool_start(sync_pool *p, int threads);
/* Let the workers finish what is queued and join them. */
void sync_pool_stop(sync_pool *p);
/* Run jobs[0..n) in parallel, the first on this thread, and return once
 * all are done (p may be NULL: all run here, one after another). */
void sync_pool_run(sync_pool *p, sync_job *jobs, int n);

/* What a replica set needs of the store that holds it, and no more: the
 * directories, the I/O layer, the catalog and the event callback.  The
 * store embeds one (store.h) and fills it at open; disk_up changes only
 * under the store's repair lock with its table lock held for writing. */
typedef struct replica_env {
    samsa_io *io;        /* every file operation of every copy     */
    catalog *cat;        /* the store's catalog                    */
    int ndirs;           /* directories of the store               */
    char *const *dirs;   /* their roots, in option order           */
    const bool *disk_up; /* usable: copies there may be in sync    */
    /* Is directory d still the one the store locked (not removed or
     * replaced)?  Asked before each sync of a copy. */
    bool (*disk_alive)(const struct replica_env *env, int d);
    void *owner;                 /* the store, for disk_alive      */
    sync_pool *syncs;            /* parallel syncs of copies, or NULL */
    samsa_replica_fn on_replica; /* samsa_options.on_replica       */
    void *on_replica_ctx;
} replica_env;

typedef struct replica_copy {
    int disk;      /* index of its directory in the store, -1: not open  */
    bool insync;   /* holds every acknowledged record, takes the writes   */
    int reason;    /* why it left the in-sync set; 0 while in it          */
    int64_t since; /* log end when its state last changed                 */
} replica_copy;

struct rset {
    samsa_io io;            /* the mirror table the log uses (n > 1)       */
    samsa_io *base;         /* the store's I/O layer                       */
    const replica_env *env; /* the store's directories, catalog, events */
    char *topic;            /* the topic's name                            */
    int32_t partition;      /* the partition                               */
    samsa_log *log;         /* the log this set serves (both are owned by
                               their partition, partition.h)             */
    const char *vroot;      /* the directory the log's paths start with    */
    int n;                  /* copies                                      */
    uint64_t disk_id[REPLICA_MAX]; /* catalog disk id of each copy        */
    _Atomic bool acks_all;         /* SAMSA_ACKS_ALL: min_insync applies;
                                      samsa_topic_alter may change it     */
    _Atomic int min_insync;        /* in-sync copies a produce needs (too)   */
    bool gaps;                     /* offsets may skip (log_config.gaps):
                                      how batches chain (batch_follows)     */

    pthread_mutex_t lock;           /* the fields below and the file list     */
    replica_copy copy[REPLICA_MAX]; /* placement order                    */
    int leader;                     /* the copy the log reads                 */
    _Atomic int32_t epoch;          /* bumped at every leader change; stamped
                                       in each batch appended (log.c)     */
    _Atomic int ninsync;            /* copies in sync                         */
    mfile *files;                   /* files open through io                  */
    bool dirty;                     /* state not yet saved in the catalog     */
    _Atomic int64_t saved_rp;       /* the recovery point in the catalog      */
    _Atomic int64_t start;          /* the log start in the catalog           */
};

/* ---- replica.c ----------------------------------------------------------- */

/* Build the set of a partition from its catalog state; at load (!create),
 * reconcile the copies first (pick the leader, take stale copies out).
 * *dir gets the partition directory the log opens (under the leader's
 * root).  SAMSA_ENOTENOUGHREPLICAS when no in-sync copy is present. */
int rset_open(const replica_env *env, const char *topic_name, int32_t partition,
              const catalog_partition *cp, const log_config *cfg, bool create,
              rset **out, char *dir, size_t dirlen);
void rset_free(rset *rs);
/* The io the log must use: the mirror with several copies, else base. */
samsa_io *rset_io(rset *rs);
/* The catalog record of the set (start and recovery point included). */
void rset_fill(rset *rs, catalog_partition *cp);
/* Save the state in the catalog if it changed. */
int rset_persist(rset *rs, uint64_t topic_id);
/* Before a produce: SAMSA_ENOTENOUGHREPLICAS when too few copies are in
 * sync for acks=all; after it (after != 0) the same check again. */
int rset_admit(rset *rs);
/* Take copy i out (reason) under rs->lock; moves the leader if it was. The
 * caller then calls rset_after_change(). */
void rset_mark_out_locked(rset *rs, int i, int reason);
/* Report and save what rset_mark_out_locked changed (rs->lock not held). */
void rset_after_change(rset *rs);
/* Rebuild copy i from the leader and let it rejoin. */
int rset_catchup(rset *rs, int i);
/* Path of the file path (under vroot) on copy i's directory (caller frees),
 * NULL when out of memory or copy i has no open directory. */
char *rset_path(rset *rs, int i, const char *path);
/* Sync the followers' files that acks=1 left unsynced. */
int rset_flush(rset *rs);
/* Take the copies on disk d out (its directory vanished). */
void rset_disk_down(rset *rs, int d, int reason);
/* Copy i's open handle of the file at path (under vroot), or NULL. */
samsa_io_file *rset_handle(rset *rs, const char *path, int i);

/* ---- replica_io.c -------------------------------------------------------- */

void rset_io_init(rset *rs);
/* Move every read-only view to the leader's files (rs->lock held). */
void rset_io_remap(rset *rs);
/* Open copy i's handles of every open file (after a rebuild; rs->lock and
 * the log's locks held). */
int rset_io_attach(rset *rs, int i);
/* Descriptors the mirror holds open, over every copy (rs->lock held). */
uint32_t rset_io_open_files(rset *rs);
/* Sync copy i's unsynced files (acks=1 followers), fsync_lock held. */
int rset_io_flush(rset *rs);
/* The offsets proven good (parsed, chained, CRC-checked from its start) in
 * copy i's file of the active segment, as the offset past them (rs->lock
 * held): what failover compares. */
int64_t rset_io_valid(rset *rs, int i);

/* ---- scrub.c ------------------------------------------------------------- */

/* One copy's bytes of a segment file, as heal_segment sees them. */
typedef struct hcopy {
    const uint8_t *p; /* its bytes, NULL when none                       */
    size_t len;       /* how many (may be short of the segment's size)    */
    bool target;      /* in sync: votes, and is rewritten where it is bad */
    bool bad;         /* out: some batch of it was bad or differed        */
    bool left;        /* out: such a batch was not rewritten              */
} hcopy;

/* Write len bytes of src at pos of copy k (heal index); 0 or an error. */
typedef int (*heal_write_fn)(void *ctx, int k, uint64_t pos, const uint8_t *src,
                             size_t len);

/* Walk the batches of a segment at base over copies c[0..n) to size,
 * keeping at each position a proven good version (pref's on a tie) and
 * writing it over every target copy whose bytes differ.  Returns the
 * batches no copy holds a good version of (left as they are). */
int heal_segment(hcopy *c, int n, int pref, int64_t base, bool gaps,
                 uint64_t size, int32_t max_epoch, heal_write_fn write,
                 void *ctx);
/* When the index files of the segments at logpath[0..n) (.log paths)
 * differ, rewrite each that differs from what the engine derives from the
 * good batches p[0..size); *fixed gets the copies rewritten. */
int heal_index_files(samsa_io *b, char *const *logpath, int n, const uint8_t *p,
                     uint64_t size, int64_t base, uint32_t interval,
                     int *fixed);
/* At open, before the log is: heal the copies' files of one segment
 * (check_log: its batches too, not only its index files), writing by
 * path.  Returns what is left unhealed (0: the copies are the same and
 * good), or a negative error. */
int heal_at_open(samsa_io *b, char *const *logpath, int n, int pref,
                 int64_t base, bool gaps, uint64_t size, int32_t max_epoch,
                 uint32_t interval, bool check_log);
/* The offset of the first batch not proven good in a copy's segments
 * (their .log paths, bases and sizes), from the first segment's start
 * (gaps: batches chain as batch_follows() says). */
int64_t heal_valid_end(char *const *logpath, const int64_t *bases,
                       const uint64_t *sizes, size_t nsegs, bool gaps);
/* Heal the in-sync copies of every segment from any copy holding a good
 * version (out copies included), as catch-up does before it copies. */
int rset_heal(rset *rs);
/* Scrub every segment of rs, adding to *rep (rebuild_missing: rebuild the
 * copies missing a file, counting them repaired; without, catch-up's
 * healing).  SAMSA_ECORRUPT when a batch no copy holds good stays. */
int rset_scrub(rset *rs, samsa_scrub_report *rep, bool rebuild_missing);

#endif
