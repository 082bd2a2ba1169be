/*
 * store.h - the open store (store.c) and its topics (topic.c).
 *
 * The topic table maps names to topics under table_lock, a reader-writer
 * lock: produce, offsets and cursor_open hold it for reading while they use
 * a topic, topic create and delete take it for writing.  So a topic is never
 * freed under a producer; a cursor outlives a deleted topic by holding a
 * reference on its partition (replica/partition.h) instead.
 *
 * Locks.  Every lock of the library, outermost first: a thread holding
 * one may take only locks further down the table (the files' own "Lock
 * order" lines give the detail).  "leaf": nothing is taken under it.
 *
 *   lock                     guards                         file
 *   group registry.lock      consumers and groups lists     group/group.c
 *   consumer.lock            detached (checked, then let go) group/consumer.c
 *   samsa_queue.lock         a receiver's call, detached    queue/queue_group.c
 *   group.lock               a consumer group's state       group/group.c
 *   s->queue_lock            share groups, their receivers  queue/queue_group.c
 *   qpart.lock (ascending p) a share-partition's window     queue/queue.c
 *   save_lock                recovery points being saved;
 *                            retention, the cleaner          store/store.c
 *   repair_lock              one repair pass or scrub, or
 *                            a cleaner pass (swaps)         store/disks.c
 *   table_lock (rw)          the topic table                store/topic.c
 *   log.flush_lock           one log_sync at a time         storage/log.c
 *   log.lock                 appends, the segment list      storage/log.c
 *   log.sync_lock            group commit: synced, syncing;
 *                            taken with no other log lock;
 *                            the end marker is written
 *                            under it (rset.lock)           storage/log.c
 *   log.fsync_lock           fdatasyncs, one at a time      storage/log.c
 *   rset.lock                a partition's copies           replica/replica.c
 *   catalog.lock, readers    catalog writes; reads against
 *                            a rebuild                      catalog/catalog.c
 *   samsa_queue.wake_lock    gone: a wakeup against close;
 *                            notify_lock alone under it     queue/queue.c
 *   leaves: log.wait_lock (readers waiting for data), notify_lock,
 *   s->flush_lock (the flusher), ack_lock and cb_lock (ackwait.c), the
 *   sync pool's lock (replica/sync_pool.c).
 *
 * Debug builds (SAMSA_DEBUG, the sanitizer runs of make check) check this
 * order as every lock above is taken (samsa__lock(), samsa__rdlock(),
 * lib/util/lockrank.c), with the ranks of samsa_int.h: a lock taken while
 * one of the same or a later rank is held, or anything under a leaf,
 * aborts.  The qpart locks are the one rank held several at a time, in
 * ascending partition order (samsa__lock_nth()).  The leaves ranked are
 * notify_lock, flush_lock, ack_lock and log.wait_lock; cb_lock is held
 * across the ack callbacks (which may call samsa) and so is not a leaf,
 * and the sync pool's lock is taken only by the pool.
 *
 * No lock is held across a user callback (on_rebalance, on_replica, ack
 * callbacks run with every samsa lock released, cb_lock read-held aside),
 * and no fdatasync runs under anything but log.fsync_lock (and rset.lock
 * for acks=1 followers' flush).
 */
#ifndef SAMSA_STORE_H
#define SAMSA_STORE_H

#include <pthread.h>

#include "replica/partition.h"

/* samsa_options.max_open_files when 0 (store.c, store_open_cap()): a
 * quarter of RLIMIT_NOFILE over the store's directories, within these;
 * under the usual limit of 1024, 256, with room for a second copy's
 * descriptors and the catalog (active segments count in it, end markers
 * hold none: segcache.c). */
#define STORE_MAX_OPEN_FILES 256  /* the default's floor              */
#define STORE_MAX_OPEN_CEIL  4096 /* and its ceiling (store_open_cap) */

typedef struct topic {
    char *name;              /* validated, NUL-terminated                  */
    uint64_t id;             /* catalog id, never reused                   */
    samsa_topic_config cfg;  /* with every default filled in               */
    samsa_partition **parts; /* cfg.partitions partitions, referenced      */
    _Atomic uint32_t sticky; /* round-robin counter for keyless records    */
    struct topic *next;      /* hash chain                                 */
} topic;

/* A service the store carries for the layers above it (consumer groups,
 * share groups): the store calls these hooks, in table order, and never a
 * service by name, so that no file of the store includes a header above
 * it.  samsa.c lists the services.  Any hook may be NULL. */
typedef struct store_service {
    /* At open, once the topics are loaded; an error fails the open. */
    int (*open)(samsa *s);
    /* At close, once the closing gate has drained and before the topics'
     * logs close; only for a service whose open succeeded. */
    void (*close)(samsa *s);
    /* A topic was deleted: first with the table lock held for writing,
     * then again once it is released. */
    void (*topic_deleted_locked)(samsa *s, const char *name, uint64_t id);
    void (*topic_deleted)(samsa *s, const char *name, uint64_t id);
} store_service;

struct samsa {
    char *dir; /* the store directory (dirs[0])            */
    const store_service *const *services; /* NULL-terminated (samsa.c) */
    int services_open; /* services[0..services_open) opened       */
    int lock_fd;       /* DIR/lock, flock()ed exclusively          */
    int ndirs;         /* dir and the replica directories          */
    char *dirs[CATALOG_MAX_DISKS];       /* each root, in option order  */
    int dir_fd[CATALOG_MAX_DISKS];       /* its lock file, -1: none     */
    uint64_t dir_ino[CATALOG_MAX_DISKS]; /* the lock file's inode and
                                            device: a vanished or replaced
                                            directory no longer has it  */
    uint64_t dir_dev[CATALOG_MAX_DISKS];
    bool disk_up[CATALOG_MAX_DISKS]; /* usable: copies there may be in
                                        sync (changed by the repair pass
                                        under repair_lock and table_lock
                                        held for writing, or at open)   */
    samsa_replica_fn on_replica;     /* samsa_options.on_replica    */
    void *on_replica_ctx;            /* its ctx                      */
    replica_env renv; /* what replica sets see of the store (disks.c) */
    sync_pool syncs;  /* copies' parallel fdatasyncs (with replicas)  */
    bool syncs_started;
    pthread_mutex_t repair_lock; /* one repair pass at a time    */
    _Atomic bool repair_paused;  /* tests: no background repair  */
    samsa_io *io;                /* every log file operation goes here       */
    segcache *segs;              /* the cap on open sealed segments (every
                                    log's: segcache.c)                      */
    catalog cat;                 /* DIR/catalog                              */
    int sync;                    /* the store's samsa_sync_policy            */
    bool rdonly;                 /* SAMSA_OPEN_RDONLY: follow.c; nothing is
                                    written, every write call refused      */
    _Atomic int64_t follow_seen; /* follow.c: when the catalog was last
                                    looked at (CLOCK_MONOTONIC ns)          */
    struct store_unloaded *unloaded; /* follow.c: the catalog's topics that
                                        did not load, and why (table_lock) */

    pthread_mutex_t save_lock;   /* one store_sync_all at a time (samsa_sync,
                                    the flusher): saved_rp, recovery points */
    pthread_rwlock_t table_lock; /* the topic table below                   */
    topic **buckets;             /* hash table of topics by name             */
    size_t nbuckets, ntopics;    /* nbuckets is a power of two               */
    _Atomic uint64_t topic_changes; /* bumped by every topic create and
                                       delete (under table_lock for writing),
                                       so subscribers can tell cheaply
                                       whether to look at the table again  */

    pthread_t flusher;          /* syncs sealed segments in the background  */
    pthread_mutex_t flush_lock; /* flush_stop, flush_cond                   */
    pthread_cond_t flush_cond;  /* wakes the flusher early (roll, close)    */
    bool flush_stop;            /* set by samsa_close                       */
    bool flusher_running;       /* the thread was started                   */

    /* notify.c: store-wide wake-ups and the closing gate */
    pthread_mutex_t notify_lock; /* notify_cond                              */
    pthread_cond_t notify_cond;  /* events moved, closing, or inside hit 0   */
    int64_t spin_ns;             /* readers poll this long before they sleep:
                                    always (spin_adaptive false), or at
                                    most                                   */
    bool spin_adaptive;          /* spin_ns was left 0: each reader's
                                    spinner chooses (store_spin_ns())      */
    _Atomic uint64_t events;     /* bumped by store_notify() while watched   */
    _Atomic int watchers;        /* between store_watch and store_unwatch:
                                    notify costs a load when there are none */
    _Atomic bool closing;        /* samsa_close() has begun                  */
    _Atomic int inside;          /* calls between store_enter/store_leave    */

    struct group_registry *groups; /* group.c: consumer groups and every
                                      open consumer, detached at close    */
    /* listener.c: the Kafka listeners open on this store, stopped at
     * close (listener_service) */
    pthread_mutex_t listen_lock;
    struct samsa_listener *listeners;
    /* queue.c and ackwait.c: share groups and acknowledgement waits */
    pthread_mutex_t queue_lock; /* qgroups and each group's receivers      */
    struct qgroup *qgroups;     /* share groups loaded in this store        */
    struct ackwait *acks;       /* sender waits and callbacks (ackwait.c)   */
    _Atomic int ack_watchers;   /* waits + callbacks: the ack path costs
                                   one load when there are none            */
};

/* store.c: the topic table (callers hold table_lock). */
topic *store_topic_find(const samsa *s, const char *name);
int store_topic_insert(samsa *s, topic *t);
void store_topic_remove(samsa *s, topic *t);
/* A catalog_drop_fn for the strays found at open (the store, ctx, not yet
 * shared): no topic of the store has this id. */
bool store_topic_id_gone(uint64_t id, void *ctx);
/* Open a store with a given I/O layer (tests inject faults with it) and
 * the services above it (samsa.c). */
int store_open(const char *dir, const samsa_options *opt, samsa_io *io,
               const store_service *const *services, samsa **out);
/* samsa_open() with a given I/O layer (samsa.c). */
int samsa__open_io(const char *dir, const samsa_options *opt, samsa_io *io,
                   samsa **out);
/* The services' topic_deleted hooks, locked or not (store.c). */
void store_topic_deleted(samsa *s, const char *name, uint64_t id, bool locked);
/* Persist the recovery points (one per partition) that moved, in one
 * catalog transaction (store.c). */
int store_save_recovery_points(samsa *s, topic *t, const int64_t *rps);
/* May dir be used as a store directory: 0 when it holds a catalog
 * (DIR/catalog/data.mdb) or nothing but what samsa makes before its
 * catalog (lock, an empty catalog/); SAMSA_ENOTSTORE otherwise, -errno
 * when it cannot be read.  Looks only: changes nothing. */
int store_dir_check(const char *dir);

/* disks.c: the store's directories. */
/* Lock directory d (flock its lock file) and remember its identity. */
int store_disk_lock(samsa *s, int d);
/* Is directory d still the one locked (not removed or replaced)? */
bool store_disk_alive(samsa *s, int d);
/* Fill s->renv from the store's directories (after they are open), and
 * with several directories start the sync pool. */
void store_replica_env_init(samsa *s);
/* Notice vanished and returned directories, then rebuild every out copy
 * that can be; *rejoined (may be NULL) counts the copies that rejoined. */
int store_replica_pass(samsa *s, int *rejoined);
/* Tests: stop (or restart) the flusher's repair pass, so that a copy taken
 * out stays out until the test calls samsa_replica_catchup(). */
void samsa__replica_pause(samsa *s, bool paused);

/* notify.c: see its header comment for the protocol. */
void store_notify_init(samsa *s);
void store_notify_destroy(samsa *s);
/* Count the caller as a watcher and return the event counter to pass to
 * store_wait(); call it before looking, and store_unwatch() after. */
uint64_t store_watch(samsa *s);
void store_unwatch(samsa *s);
/* Something a poller may wait for happened: records were appended, a
 * record was given back, a topic was created or deleted. */
void store_notify(samsa *s);
/* Wait until the event counter differs from seen, or the deadline
 * (CLOCK_MONOTONIC ns, -1: never) passes: 0, SAMSA_ETIMEDOUT, or
 * SAMSA_ECLOSED once samsa_close() has begun. */
int store_wait(samsa *s, uint64_t seen, int64_t deadline_ns,
               samsa__spinner *sp);
/* How long a reader polls before its next sleep (ns, 0: not at all):
 * spin_ns as samsa_open() was given it, or, when it was left to the
 * default, what the reader's spinner sp chooses (util/spin.c; NULL: a
 * wait with nothing learnt).  After the wait, store_spin_learn() with the
 * time the wait began (samsa__now_ns()) teaches sp how long it lasted. */
int64_t store_spin_ns(samsa *s, const samsa__spinner *sp);
void store_spin_learn(samsa *s, samsa__spinner *sp, int64_t began_ns);
/* Bracket a call that may block: SAMSA_ECLOSED once closing has begun (then
 * store_leave() must not be called). */
int store_enter(samsa *s);
void store_leave(samsa *s);
/* samsa_close(): refuse new calls, wake the waiters, wait for those inside
 * to leave. */
void store_close_gate(samsa *s);

/* follow.c: read-only handles (SAMSA_OPEN_RDONLY). */
/* The catalog of a read-only open (s->dirs set): no lock, nothing
 * created. */
int store_follow_dirs_open(samsa *s, const samsa_options *opt);
/* Open partition p of t read-only from the directory of its leader copy. */
int store_follow_part(samsa *s, topic *t, int32_t p, const log_config *lc,
                      samsa_partition **out);
/* Bring the topic table up to the catalog: topics created since are
 * loaded, those deleted (or deleted and made again) are marked deleted
 * and dropped, every partition's start moves to the catalog's.  Called by
 * lookups that miss and by waiting cursors, at most every
 * STORE_FOLLOW_MS unless force. */
int store_follow_catalog(samsa *s, bool force);
/* samsa_replica_status() on a read-only handle: the copies as the
 * writer's catalog records them (reason 0, since -1: not recorded). */
int store_follow_copies(samsa *s, topic *t, int32_t p,
                        samsa_replica_info *copies, size_t max, size_t *n);
/* A cursor's wait on a read-only handle: log_follow_wait, polling for
 * spin_ns first, with the catalog looked at between slices (deletion,
 * retention). */
int store_follow_wait(samsa *s, samsa_partition *pt, int64_t offset,
                      int64_t deadline_ns, int64_t spin_ns);
/* A topic of the catalog that did not load on a read-only handle, and
 * why (rc): a lookup of its name gives rc, not SAMSA_ENOTOPIC (a file
 * under a segment's name that cannot be opened, say).  Not kept for
 * -ENOENT: a topic being created, its directories not all made yet,
 * which the next look loads.  table_lock held for writing, or alone. */
void store_follow_unloaded(samsa *s, const char *name, int rc);
/* Why name did not load, or 0 (table_lock held). */
int store_follow_why(const samsa *s, const char *name);
/* Forget every one (table_lock held for writing, or alone). */
void store_follow_forget(samsa *s);
/* How many there are; copies of their names, into names[*n..] (at most
 * max in all; *n moves on): 0 or SAMSA_ENOMEM (table_lock held). */
size_t store_follow_nunloaded(const samsa *s);
int store_follow_unloaded_names(const samsa *s, char **names, size_t max,
                                size_t *n);

/* retention.c: apply every topic's retention_ms, retention_bytes and
 * segment_ms once (the flusher, after each flush); the first error. */
int store_retention_pass(samsa *s);
/* Tests: the same pass, now, on the caller's thread. */
int samsa__retention_run(samsa *s);

/* cleaner.c: compact every topic whose cleanup_policy has
 * SAMSA_CLEANUP_COMPACT once, as its config says (store_retention_pass
 * runs it after retention, under its locks); the first error. */
int store_cleaner_pass(samsa *s);
/* Tests: the same pass, now, on the caller's thread; *removed (may be
 * NULL) gets the records it removed. */
int samsa__compact_run(samsa *s, int64_t *removed);
/* Tests: whether the flusher's passes clean too (on by default), so that
 * a test's samsa__compact_run() does each cleaning and counts it. */
void samsa__cleaner_background(bool on);

/* topic.c: what topic_alter.c shares of it.  Fill in the defaults of cfg
 * (NULL: all) and check the ranges (SAMSA_EINVAL); the log config a topic
 * config makes; partition p's directory under root; where a new
 * partition p of t goes (copy i on directory (p + i) mod the directories).
 */
int topic_config_resolve(const samsa *s, const samsa_topic_config *in,
                         samsa_topic_config *out);
log_config topic_log_config(const samsa *s, const samsa_topic_config *cfg);
/* The cleanup fields of a resolved config are in range. */
bool topic_cleanup_valid(const samsa_topic_config *c);
void topic_part_dir(char *buf, size_t n, const char *root, const char *name,
                    int32_t p);
void topic_placement(const samsa *s, const topic *t, int32_t p,
                     catalog_partition *cp);

/* topic.c */
/* Remove the partition directories NAME-first..NAME-(partitions-1) that
 * a pending record names from every directory that is up, then drop the
 * record if every directory was (table_lock held for writing, or open).
 * live: the topic being deleted, whose logs were open (their segments'
 * order then spares the removal reading them: log_dir.c), or NULL. */
void topic_pending_finish(samsa *s, const char *name, int32_t first,
                          int32_t partitions, topic *live);
bool topic_name_valid(const char *name);
/* Before a create (or adoption, adopt.c) makes NAME-0..partitions-1:
 * leftovers a pending record proves samsa's are removed; SAMSA_EEXIST
 * when one is still there (table_lock held for writing). */
int topic_dirs_clear(samsa *s, const char *name, int32_t partitions);
/* The checks a create's arguments get (SAMSA_EINVAL, SAMSA_ERDONLY, the
 * config's ranges), and the config resolved into *out. */
int topic_create_args(samsa *s, const char *name, const samsa_topic_config *cfg,
                      samsa_topic_config *out);
/* Load a topic from the catalog at open: recover its partitions' logs. */
int topic_load(samsa *s, const char *name, uint64_t id,
               const samsa_topic_config *cfg, topic **out);
/* Sync its logs (all: the active segments too) and save the recovery
 * points. */
int topic_sync(samsa *s, topic *t, bool all);
/* Close its logs (flushing them) and free it; *first_err gets the first
 * error met. */
void topic_close(samsa *s, topic *t, int *first_err);
/* Find a topic and check a partition for a call (table_lock held for
 * reading): SAMSA_EINVAL for a bad name, SAMSA_ENOTOPIC, then
 * SAMSA_ENOPARTITION (SAMSA_PARTITION_ANY passes when any_ok). */
int topic_lookup(samsa *s, const char *name, int32_t partition, bool any_ok,
                 topic **t);

#endif
