/*
 * queue.h - share groups (queue.c), their saved state (queue_state.c) and
 * the acknowledgements senders wait for (ackwait.c).
 *
 * A share group on a topic is a qgroup; it holds one qpart per partition
 * (Kafka's "share-partition"): the window of in-flight records between
 * `start` (everything below is done) and `next` (nothing at or above was
 * ever delivered), each with a state and a delivery count.  Receivers
 * (samsa_queue) of the group share every qpart.
 *
 * Lock order: samsa_queue.lock -> s->queue_lock -> qpart.lock (ascending
 * partition) -> the store's table_lock (dead-letter produce; read by a
 * checkpoint around its snapshot) -> log locks -> catalog.  s->ack_lock
 * (ackwait.c) is a leaf: samsa_topic_delete() takes it under table_lock,
 * and takes queue_lock only after letting table_lock go.
 */
#ifndef SAMSA_QUEUE_H
#define SAMSA_QUEUE_H

#include "client/cursor.h"
#include "store/store.h"

/* A record's state in the window.  Only AVAILABLE, ACCEPTED, REJECTED and
 * ARCHIVED are ever written to disk: an acquired record whose receiver
 * crashed is available again, so on disk "acquired" and "available" are
 * the same state (AVAILABLE, with the delivery count the acquisition
 * raised). */
enum {
    QS_AVAILABLE = 0, /* may be delivered (again)                     */
    QS_ACQUIRED = 1,  /* locked to one receiver (memory only)         */
    QS_ACCEPTED = 2,  /* done                                         */
    QS_REJECTED = 3,  /* done, dead-lettered                          */
    QS_ARCHIVED = 4   /* done: delivered max_attempts times           */
};

#define QS_DONE(st) ((st) >= QS_ACCEPTED)

/* The largest window: a partition never has more records in flight than
 * this; a receive offers no new record of it until start moves. */
#define QUEUE_MAX_INFLIGHT (1 << 16)

/* Outcomes kept after their records leave the window: the record at
 * offset o, finished, is found at done[o & (QUEUE_OUTCOMES - 1)] until the
 * window's start has moved QUEUE_OUTCOMES offsets past it (samsa(7),
 * QUEUES: the outcome window). */
#define QUEUE_OUTCOMES SAMSA_QUEUE_OUTCOMES

/* A finished record's outcome, kept below the window. */
typedef struct qdone {
    int64_t offset; /* the record's offset; -1: none kept here          */
    uint16_t count; /* deliveries it took                              */
    uint8_t state;  /* QS_ACCEPTED, QS_REJECTED or QS_ARCHIVED          */
} qdone;

/* One record of the window. */
typedef struct qrec {
    int64_t expires; /* ACQUIRED: CLOCK_MONOTONIC ns its lock ends     */
    uint32_t holder; /* ACQUIRED: the receiver's id                    */
    uint16_t count;  /* deliveries so far                              */
    uint8_t state;   /* QS_*                                           */
} qrec;

typedef struct qpart {
    pthread_mutex_t lock;   /* everything below                          */
    samsa_partition *part;  /* referenced                                */
    samsa_log *log;         /* part->log, read through storage calls     */
    int32_t partition;      /* its number                                */
    int64_t start;          /* offsets below are done                    */
    int64_t next;           /* offsets at or above were never delivered  */
    qrec *win;              /* ring of cap entries: offset o at o & mask */
    uint32_t cap;           /* a power of two >= next - start            */
    int64_t navail;         /* AVAILABLE records in the window           */
    qdone *done;            /* ring of QUEUE_OUTCOMES finished records
                               below start, or NULL until the first      */
    _Atomic int64_t expiry; /* no lock expires before this (ns; INT64_MAX
                               when none is held): a lower bound         */
    /* the journal (queue_state.c) */
    samsa_io_file *jf;   /* DIR/queues/GROUP/TOPICID-P.journal (s->io),
                            or NULL                                 */
    const uint8_t *jmap; /* its mapping (JOURNAL_BYTES), read only:
                            written through s->io->map_write()      */
    uint64_t jsize;      /* bytes of valid journal                    */
    uint64_t jalloc;     /* bytes of file allocated (<= JOURNAL_BYTES) */
    uint32_t gen;        /* generation: the snapshot's and the file's */
    bool behind;         /* a checkpoint's snapshot (gen + 1) is in the
                            catalog but the journal's reset failed, or
                            the window moved past deleted records and
                            its checkpoint failed: the journal, stale to
                            a load or behind the window, takes no entry
                            until a checkpoint succeeds              */
    uint32_t boot;       /* CRC-32C of the running kernel's boot id (0:
                            unknown), as the journal's boot word holds it */
    /* its copies on the replica directories: cfile[d] for dirs[d], d >= 1
       (cfile[0] unused), NULL when not written (directory down, missing
       at load, or a write there failed) */
    samsa_io_file *cfile[CATALOG_MAX_DISKS]; /* opened and mapped as jf,
                                                >= jalloc bytes         */
} qpart;

typedef struct qgroup {
    char *name;             /* the group's name                          */
    char *topic;            /* the topic's name                          */
    uint64_t topic_id;      /* the topic's catalog id                    */
    samsa_queue_config cfg; /* defaults filled in; dead_letter_topic
                               points at dlq below                       */
    char *dlq;              /* copy of the dead-letter topic, or NULL    */
    bool cfg_set;           /* a receiver set cfg (a waiter may load a
                               group before any receiver opens it)       */
    int32_t nparts;         /* partitions                                */
    qpart *parts;           /* nparts of them                            */
    struct samsa_queue *receivers; /* open receivers (under queue_lock)    */
    uint32_t next_id;    /* the next receiver id (under queue_lock)   */
    bool deleted;        /* its topic was deleted: the windows and
                            journals are gone, and the group is freed
                            when its last receiver closes (under
                            queue_lock)                               */
    struct qgroup *next; /* the store's list                          */
} qgroup;

/* Memory the deliveries of one receive point into. */
typedef struct chunk {
    struct chunk *next; /* the next chunk                               */
    size_t cap, used;   /* bytes in data, and used since the last reset */
    uint8_t data[];     /* the bytes                                     */
} chunk;

struct samsa_queue {
    pthread_mutex_t lock;      /* every call; detached                      */
    bool detached;             /* samsa_close() ran: calls get ECLOSED      */
    pthread_mutex_t wake_lock; /* gone, against samsa_queue_wakeup()     */
    bool gone;                 /* detached: s may be freed (wake_lock)     */
    _Atomic bool wakeup;       /* samsa_queue_wakeup() was called          */
    samsa__spinner spin;       /* its receives' waits: how long it polls   */
    samsa *s;                  /* the store                                 */
    qgroup *g;                 /* the group                                 */
    uint32_t id;               /* holder id of the records it acquires      */
    int32_t rr;                /* partition the next receive starts at      */
    samsa_cursor **cursors;    /* per partition, opened on first use        */
    chunk *chunks;             /* the arena                                 */
    struct samsa_queue *next;  /* the group's receivers                     */
};

/* queue.c */
/* Free a receiver's arena. */
void queue_arena_free(samsa_queue *q);
/* Give back every record q holds in qp (locked): memory only, since on
 * disk an acquired record is an available one, so it cannot fail. */
void queue_release_all(samsa_queue *q, qpart *qp);

/* Find or load the group (name, topic) for a call: s->queue_lock held. */
int queue_group_get(samsa *s, const char *group, const char *tname,
                    qgroup **out);
/* samsa_close(), after the gate drained: detach every receiver, save and
 * free every group. */
void queue_store_close(samsa *s);
/* The share groups as the store's service (store.h; queue_group.c). */
extern const store_service queue_service;
/* samsa_topic_delete(), after the catalog dropped topic id (and with it
 * its groups' snapshots) and its logs were marked deleted, table_lock not
 * held: free the windows of its groups, remove their journal files. */
void queue_topic_deleted(samsa *s, uint64_t id);
/* The share groups with saved state, journals or receivers now, each
 * once, unsorted (free with catalog_names_free(), whatever the return). */
int queue_list_names(samsa *s, char ***names, size_t *n);

/* queue_stats.c: the figures of every share-partition of the groups
 * loaded now, in list order, names copied (queue_stats_free()). */
int queue_stats_collect(samsa *s, samsa_share_stats **out, size_t *n);
void queue_stats_free(samsa_share_stats *st, size_t n);
/* samsa_open(), topics loaded: remove the snapshots and journal files of
 * topics that no longer exist (a crash, or a store from before topic
 * removal dropped them). */
void queue_remove_strays(samsa *s);
/* A qpart whose topic was deleted: every call on it gets SAMSA_EDELETED
 * (checked under its lock; log_mark_deleted() comes before the window is
 * freed). */
#define QPART_DELETED(qp) atomic_load(&(qp)->log->deleted)

/* queue_state.c: the window, the journal and the snapshot. */
extern uint64_t queue_journal_limit;
extern uint64_t queue_journal_grow;
/* Load a qpart's state (snapshot, then journal) and open its journal;
 * log_start clamps start. */
int qstate_open(samsa *s, qgroup *g, qpart *qp, int64_t log_start);
/* Records below the log start (retention, samsa_delete_records) are gone:
 * move the window up to it, dropping what it held there (in flight
 * records included: their acknowledgements get SAMSA_ENOTACQUIRED, their
 * outcome SAMSA_EFORGOTTEN), and checkpoint, so that the journal never
 * holds entries past a window it cannot replay to.  locked: table_lock
 * held for reading.  0 when nothing moved. */
int qstate_skip_deleted(samsa *s, qgroup *g, qpart *qp, bool locked);
/* Save a snapshot and empty the journal; then close it and free the
 * window (close) or go on. */
int qstate_checkpoint(samsa *s, qgroup *g, qpart *qp);
void qstate_close(samsa *s, qpart *qp);
/* Does the file at path start with a journal header samsa wrote (magic
 * and CRC)?  The proof that a stray journal is samsa's to remove. */
bool qstate_is_journal(const char *path);
/* Set records [offset, offset+n) to state with delivery count count: the
 * journal first (unless state is QS_ACQUIRED... see the file), then the
 * window.  Checkpoints when the journal grew past its limit. */
int qstate_set(samsa *s, qgroup *g, qpart *qp, int64_t offset, uint32_t n,
               uint8_t state, uint16_t count);
/* The outcome of the record at offset: 0 and its state (QS_ACCEPTED,
 * QS_REJECTED, QS_ARCHIVED) and count when it is finished and kept; 1
 * when it is not finished (in the window, or at or past next);
 * SAMSA_EFORGOTTEN when it is below start and its outcome is not kept
 * (more than QUEUE_OUTCOMES offsets below, or never finished: the log's
 * start moved past it). */
int qstate_outcome(const qpart *qp, int64_t offset, uint8_t *state,
                   uint16_t *count);
/* The window entry of offset (start <= offset < next). */
qrec *qstate_rec(qpart *qp, int64_t offset);
/* Make room in the window for next + n (n <= what is allowed). */
int qstate_reserve(qpart *qp, int64_t upto);

/* ackwait.c */
void ackwait_init(samsa *s);
void ackwait_destroy(samsa *s);
/* samsa_topic_delete(), under table_lock: waits on the topic's records end
 * with SAMSA_EDELETED. */
void ackwait_topic_deleted(samsa *s, const char *tname);
/* The window of (group, topic, partition) moved past the records below
 * below, which the log no longer holds: waits on those not finished end
 * with SAMSA_EFORGOTTEN. */
void ackwait_forget(samsa *s, const char *group, const char *tname,
                    int32_t partition, int64_t below);
/* A record of (group, topic) was finished with outcome: wake its waiters,
 * call the group's callback.  Callers check s->ack_watchers first. */
void ackwait_notify(samsa *s, const char *group, const char *tname,
                    int32_t partition, int64_t offset, int outcome,
                    int32_t count);
/* samsa_queue_ack_info's look at a record's state (queue_group.c), with
 * the waiter already registered: info->outcome 0 while it is not
 * finished. */
int queue_record_outcome(samsa *s, const char *group, const char *tname,
                         int32_t partition, int64_t offset,
                         samsa_ack_info *info);

#endif
