/*
 * group.h - consumer groups: the in-memory group state (group.c), the
 * assignors (assignor.c), and the consumer handle (consumer.c, commit.c).
 *
 * Lock order: registry.lock -> consumer.lock (only to detach at close);
 * group.lock -> store table_lock -> catalog (LMDB's).  A consumer's own
 * lock is held only around its check of `detached` and store_enter(), never
 * while it waits or calls back, so a rebalance callback may call the
 * consumer again.  notify_lock (store_notify) is a leaf.
 */
#ifndef SAMSA_GROUP_H
#define SAMSA_GROUP_H

#include <regex.h>

#include "store/store.h"

/* ---- assignor.c ---------------------------------------------------------- */

/* What an assignor sees: members 0..nmembers-1 in join order, topics
 * 0..ntopics-1 in name order, and who may read what. */
typedef struct assign_input {
    size_t nmembers;            /* members of the group                     */
    size_t ntopics;             /* topics any member subscribes to           */
    const int32_t *parts;       /* per topic: its partition count            */
    const bool *eligible;       /* [m * ntopics + t]: member m subscribes t  */
    const int32_t *const *prev; /* per topic, per partition: the member that
                                   had it before, or -1 (sticky only)     */
} assign_input;

/* Fill out[t][p] with a member index, or -1 where no member subscribes the
 * topic, by the assignor (a samsa_assignor other than DEFAULT).  Every
 * partition of a topic that some member subscribes gets exactly one
 * eligible member. */
void assign_compute(int assignor, const assign_input *in, int32_t **out);

/* ---- group.c ------------------------------------------------------------- */

/* A topic the group reads, and who has each partition. */
typedef struct gtopic {
    char *name;                     /* the topic's name                      */
    uint64_t id;                    /* its catalog id: re-created topics get
                                       a new one, hence a new gtopic        */
    int32_t partitions;             /* its partition count                   */
    struct samsa_consumer **target; /* per partition: the assignor's choice */
    struct samsa_consumer **owner;  /* per partition: the member holding it
                                       now, or NULL; at most one member, and
                                       a member takes a partition only once
                                       its owner let go of it               */
} gtopic;

typedef struct group {
    char *name;                     /* the group's name                    */
    pthread_mutex_t lock;           /* every field below                   */
    int assignor;                   /* every member's samsa_assignor       */
    struct samsa_consumer *members; /* by join order, via member_next      */
    size_t nmembers;                /* length of that list                 */
    uint64_t next_member_id;        /* join order                          */
    _Atomic uint64_t generation;    /* bumped by every new assignment;
                                       members compare without the lock   */
    uint64_t topic_changes;         /* s->topic_changes the topics match   */
    gtopic *topics;                 /* subscribed topics, by name          */
    size_t ntopics;                 /* entries in topics                   */
    struct group *next;             /* the registry's list                 */
} group;

typedef struct group_registry {
    pthread_mutex_t lock;             /* the two lists                        */
    group *groups;                    /* groups with at least one member      */
    struct samsa_consumer *consumers; /* open, attached consumers (reg_next) */
} group_registry;

/* One partition a member owns. */
typedef struct owned {
    char *topic;       /* the topic's name (owned copy)                   */
    uint64_t topic_id; /* its catalog id                                  */
    int32_t partition; /* the partition                                   */
    samsa_cursor *cur; /* reads it; its offset is the position            */
    bool paused;       /* polls skip it                                   */
    bool deleted;      /* the topic is gone: skip it until it is dropped  */
    int64_t committed; /* what this member last committed, or -1          */
} owned;

struct samsa_consumer {
    samsa *s;               /* the store (not to be touched once
                               detached)                               */
    group *g;               /* its group (idem)                        */
    char **topics;          /* subscribed names, sorted, or NULL        */
    size_t ntopics;         /* entries in topics                       */
    regex_t re;             /* the pattern, anchored, when has_re      */
    bool has_re;            /* a pattern was given                     */
    int reset;              /* SAMSA_RESET_LATEST or _EARLIEST          */
    int64_t session_ns;     /* session timeout                         */
    int64_t auto_commit_ns; /* auto-commit interval, 0: off            */
    samsa_rebalance_fn on_rebalance; /* or NULL                           */
    void *ctx; /* for on_rebalance                        */

    pthread_mutex_t lock;       /* detached, against samsa_close()          */
    pthread_cond_t detach_cond; /* broadcast when detached is set          */
    bool detached;              /* samsa_close() ran: only free memory      */
    struct samsa_consumer *reg_next; /* the registry's list (its lock)    */

    /* Membership, under g->lock. */
    uint64_t member_id; /* join order in the group                 */
    bool expelled;      /* removed for missing its session timeout */
    struct samsa_consumer *member_next; /* the group's member list         */
    _Atomic int64_t heartbeat; /* coarse monotonic ns of its last call    */

    /* The member's own state: its thread only. */
    uint64_t generation;    /* the group generation it took part in     */
    uint64_t topic_changes; /* s->topic_changes it last looked at       */
    bool pending;           /* a target partition is not yet released   */
    owned *parts;           /* owned partitions, by topic then partition */
    size_t nparts, cap;     /* used and allocated entries of parts      */
    size_t rr;              /* the partition whose turn it is          */
    int64_t next_check;     /* when to look for expired members next   */
    int64_t next_commit;    /* when to auto-commit next                */
    bool in_callback;       /* inside on_rebalance                      */
    _Atomic bool wakeup;    /* samsa_consumer_wakeup() was called: the
                               next poll, or the one blocked, returns
                               SAMSA_EWAKEUP (any thread sets it)       */
    int deferred;           /* an error met after a batch had records  */
    samsa__spinner spin;    /* its polls' waits: how long it polls     */
};

/* The store's registry (samsa_open) and its teardown (samsa_close, after
 * store_close_gate(): detach every consumer, free every group). */
int group_store_init(samsa *s);
void group_store_close(samsa *s);
/* Both, as the store's service (store.h). */
extern const store_service group_service;
/* Join c to the group named in c->g's place (c->g is set); SAMSA_ECONFLICT
 * when its members use another assignor. */
int group_join(samsa *s, samsa_consumer *c, const char *name, int assignor);
/* Leave: release every partition c owns, drop it from the group and the
 * registry, and rebalance the others. */
void group_leave(samsa *s, samsa_consumer *c);
/* Under g->lock: rejoin an expelled member. */
void group_rejoin_locked(samsa *s, group *g, samsa_consumer *c);
/* Under g->lock: rebuild the topic list if topics changed, recompute the
 * assignment, bump the generation (and wake pollers). */
void group_rebalance_locked(samsa *s, group *g);
/* Under g->lock: expel the members other than self whose last call is
 * older than their session timeout; true when any was. */
bool group_expire_locked(samsa *s, group *g, const samsa_consumer *self,
                         int64_t now);
/* Under g->lock: the group's entry for a topic of this id, or NULL. */
gtopic *group_topic_find(group *g, const char *name, uint64_t id);

/* ---- consumer.c ---------------------------------------------------------- */

/* Begin a call on c: SAMSA_ECLOSED once detached or closing, else inside
 * the store (consumer_leave() to end it) with the heartbeat stored. */
int consumer_enter(samsa_consumer *c);
void consumer_leave(samsa_consumer *c);

/* Close c's cursors and free its partitions (detach, close). */
void consumer_drop_all(samsa_consumer *c);
/* The owned entry of (topic, partition), or NULL. */
owned *consumer_find(samsa_consumer *c, const char *topic, int32_t partition);

/* ---- admin.c ------------------------------------------------------------- */

/* The consumer groups with committed offsets or members now, each once,
 * unsorted (free with catalog_names_free()). */
int group_list_names(samsa *s, char ***names, size_t *n);

/* ---- commit.c ------------------------------------------------------------ */

/* Auto-commit, c entered in the store: the positions of the owned
 * partitions whose index is in idx (n of them; idx NULL: all), skipping
 * those committed there already and those the member no longer owns. */
int commit_positions(samsa_consumer *c, const size_t *idx, size_t n);

#endif
