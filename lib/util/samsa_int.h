/*
 * samsa_int.h - the util layer: private declarations every file of lib/ may
 * use.
 *
 * The layers of lib/, each a folder, lowest first; a file includes only
 * headers of its own folder and of those below it, and calls only what
 * they define (make lint checks both):
 *
 *   util/     errors, the one clock, paths, CRC-32C, murmur2, prefetching
 *             (this header)
 *   storage/  the I/O table (io.h), record batches (batch.h), segments and
 *             logs (log.h): one partition's files, knowing nothing of
 *             copies, topics or stores
 *   catalog/  LMDB: topics, partition state, offsets, snapshots (catalog.h)
 *   replica/  a partition's copies: placement, in-sync set, failover,
 *             mirroring I/O, healing and scrubbing (replica.h); sees the
 *             store only through a replica_env
 *   store/    the open store: directories, topics, the flusher, wake-ups,
 *             the repair pass, and the services above it (store.h)
 *   client/   samsa_produce and cursors (cursor.h)
 *   group/    consumer groups (group.h)     queue/  share groups (queue.h)
 *   samsa.c   samsa_open: the store with its services
 *
 * Nothing here is exported from libsamsa: the library is built with
 * -fvisibility=hidden, and libsamsa.a localizes every hidden symbol.
 */
#ifndef SAMSA_INT_H
#define SAMSA_INT_H

#include "samsa.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define SAMSA_HIDDEN __attribute__((visibility("hidden")))

/* ------------------------------------------------------------------------ */
/* Errors (error.c)                                                         */
/* ------------------------------------------------------------------------ */

/* Translate an errno value to samsa's convention: EIO and ENOSPC get their
 * own codes, ENOMEM too; anything else comes back as -errno. */
int samsa__from_errno(int err);

/* Whether a struct's reserved tail (an array of uint64_t) is all zero:
 * callers must leave it so, so that a later version can give it meaning
 * without an old caller's stack garbage being read as one. */
static inline bool
samsa__zero_words(const uint64_t *w, size_t n)
{
    uint64_t any = 0; /* no early exit: n is a constant, the loop unrolls */
    for (size_t i = 0; i < n; i++)
        any |= w[i];
    return any == 0;
}
#define SAMSA_RESERVED_ZERO(a)                                                 \
    samsa__zero_words((a), sizeof(a) / sizeof((a)[0]))

/* Make room for one more element in *arr (of *cap elements of size elem,
 * n of them used): doubles it, from first.  0 or SAMSA_ENOMEM (*arr left
 * as it was). */
static inline int
samsa__array_room(void *arr, size_t n, size_t *cap, size_t elem, size_t first)
{
    if (n < *cap)
        return 0;
    size_t want = *cap ? 2 * *cap : first;
    void *grown = realloc(*(void **)arr, want * elem);
    if (grown == NULL)
        return SAMSA_ENOMEM;
    *(void **)arr = grown;
    *cap = want;
    return 0;
}

/* Big-endian 32-bit fields, as Kafka's formats write them. */
static inline uint32_t
samsa__be32_get(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static inline void
samsa__be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Little-endian fields of 1 to 8 bytes, as the catalog's records, the
 * queue journals and the end markers hold them.  Where the byte order
 * allows, one copy: with a constant width the compiler makes it one load
 * or store, which it did not make of a loop over the bytes at -O2 (the
 * end marker's word is written at every produce). */
static inline void
samsa__le_put(uint8_t *p, uint64_t v, int bytes)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, (size_t)bytes);
#else
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
#endif
}

static inline uint64_t
samsa__le_get(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(&v, p, (size_t)bytes);
#else
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
#endif
    return v;
}

/* mkdir -p: create path and its missing parents with mode; 0 when it is a
 * directory, else -errno (path.c). */
int samsa__mkdir_p(const char *path, mode_t mode);
/* a followed by b, malloc'ed (the caller frees), or NULL (path.c). */
char *samsa__path_cat(const char *a, const char *b);

/* CLOCK_MONOTONIC ns timeout_ms from now; -1 (never) for a negative
 * timeout (clock.c). */
int64_t samsa__deadline_after(int timeout_ms);
/* CLOCK_MONOTONIC now, in ns (clock.c). */
int64_t samsa__now_ns(void);
/* The same clock, coarse (ms resolution) and cheaper. */
int64_t samsa__now_coarse_ns(void);
/* Wall time in ms since the epoch (CLOCK_REALTIME), as record timestamps
 * and time retention use it, or the time a test set (clock.c). */
int64_t samsa__wall_ms(void);
/* Tests: make samsa__wall_ms() return ms from now on; 0: the real clock
 * again.  Not part of the API (a hidden symbol tests reach through
 * libsamsa.a). */
void samsa__wall_ms_set(int64_t ms);
/* Tests: step the wall clock samsa reads by ns, as an administrator or
 * NTP steps the system's (clock.c). */
void samsa__wall_step(int64_t ns);
/* Poll ready(arg) on this CPU until it is true (returns true), or spin_ns
 * or the deadline (-1: none) has passed (returns false): a reader that
 * finds what it waits for this way costs its writer no wake-up.  At most
 * one less than the CPUs (at least one) poll at once, process-wide: past
 * that, ready(arg) is asked once (spin.c). */
bool samsa__spin(bool (*ready)(const void *arg), const void *arg,
                 int64_t spin_ns, int64_t deadline_ns);
/* Tests: how many threads poll in samsa__spin() now, and how many polls
 * have begun in the process. */
int samsa__spin_busy(void);
uint64_t samsa__spin_begun(void);
/* One reader's recent waits, which choose how long it polls before its
 * next sleep (spin.c).  Zeroed: nothing learnt yet.  Owned by the
 * reader; atomic (relaxed) because two threads may poll one consumer at
 * once, when a lost update only makes the guess a little older. */
typedef struct samsa__spinner {
    _Atomic int64_t avg_ns; /* the recent waits' weighted average  */
    _Atomic uint32_t waits; /* waits learnt, up to UINT32_MAX      */
} samsa__spinner;
/* The shortest poll the spinner chooses when it polls at all: readers of
 * records that come every few microseconds poll for nearly all of their
 * time anyway, and a longer floor lets them ride out a producer's
 * hiccup without a wake-up (2026-12-05: hand-off p99 at 100,000/s
 * 27-29 us with a 10 us floor, 19-26 us with this one). */
#define SAMSA__SPIN_MIN_NS 50000
/* How long to poll before the next sleep, 0..max_ns: max_ns while
 * nothing is learnt, twice the average wait (at least
 * SAMSA__SPIN_MIN_NS), max_ns when that is over max_ns but the average
 * is not, 0 when the average is over max_ns. */
int64_t samsa__spinner_budget(const samsa__spinner *sp, int64_t max_ns);
/* Learn a wait that lasted waited_ns (counted as at most 4 * max_ns),
 * whether it ended polling, woken or timed out. */
void samsa__spinner_learn(samsa__spinner *sp, int64_t waited_ns,
                          int64_t max_ns);
/* A condition variable whose timed waits take CLOCK_MONOTONIC deadlines,
 * as samsa__deadline_after() makes. */
void samsa__cond_init_monotonic(pthread_cond_t *cond);
/* Wait on cond until signalled or deadline_ns (-1: never) passes: 0 or
 * ETIMEDOUT, as pthread_cond_timedwait(); callers loop on their
 * condition. */
int samsa__cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock,
                           int64_t deadline_ns);

/* ------------------------------------------------------------------------ */
/* Lock ranks (lockrank.c): the order of lib/store/store.h's table          */
/* ------------------------------------------------------------------------ */

/* A lock may be taken only while every lock held has a lower rank; a leaf
 * only while holding no leaf, and nothing is taken under a leaf. */
enum samsa_lock_rank {
    SAMSA_RANK_GROUPS = 10,    /* the group registry's lock            */
    SAMSA_RANK_CONSUMER = 11,  /* consumer.lock                        */
    SAMSA_RANK_RECEIVER = 12,  /* samsa_queue.lock                     */
    SAMSA_RANK_GROUP = 13,     /* group.lock                           */
    SAMSA_RANK_QUEUES = 14,    /* s->queue_lock                        */
    SAMSA_RANK_QPART = 15,     /* qpart.lock: several, ascending by
                                  partition (samsa__lock_nth)          */
    SAMSA_RANK_SAVE = 20,      /* s->save_lock                         */
    SAMSA_RANK_REPAIR = 21,    /* s->repair_lock                       */
    SAMSA_RANK_TABLE = 22,     /* s->table_lock (read or write)        */
    SAMSA_RANK_LOG_FLUSH = 30, /* log.flush_lock                       */
    SAMSA_RANK_LOG = 31,       /* log.lock                             */
    SAMSA_RANK_LOG_SYNC = 32,  /* log.sync_lock: publish_end writes the
                                  end marker under it, through the
                                  replica set (rset.lock)              */
    SAMSA_RANK_LOG_FSYNC = 33, /* log.fsync_lock                       */
    SAMSA_RANK_RSET = 34,      /* rset.lock                            */
    SAMSA_RANK_CATALOG = 35,   /* catalog.lock                         */
    SAMSA_RANK_WAKE = 900,     /* samsa_queue.wake_lock: only the
                                  wake-up (notify_lock) under it       */
    SAMSA_RANK_LEAF = 1000     /* log.wait_lock and the other leaves   */
};

#ifdef SAMSA_DEBUG
/* nth >= 0: one of several locks of a rank, which may be held together
 * when taken in ascending nth; -1: the only one of its rank. */
void samsa__rank_take(int rank, long nth, const char *name);
void samsa__rank_drop(int rank, long nth);
#else
static inline void
samsa__rank_take(int rank, long nth, const char *name)
{
    (void)rank;
    (void)nth;
    (void)name;
}
static inline void
samsa__rank_drop(int rank, long nth)
{
    (void)rank;
    (void)nth;
}
#endif

/* Take or let go of a ranked mutex (the check costs nothing in release
 * builds). */
#define samsa__lock(m, rank)                                                   \
    (samsa__rank_take((rank), -1, #m), pthread_mutex_lock(m))
#define samsa__lock_nth(m, rank, nth)                                          \
    (samsa__rank_take((rank), (nth), #m), pthread_mutex_lock(m))
#define samsa__unlock(m, rank)                                                 \
    (pthread_mutex_unlock(m), samsa__rank_drop((rank), -1))
#define samsa__unlock_nth(m, rank, nth)                                        \
    (pthread_mutex_unlock(m), samsa__rank_drop((rank), (nth)))
/* The same for a reader-writer lock (a read lock counts as the lock). */
#define samsa__rdlock(l, rank)                                                 \
    (samsa__rank_take((rank), -1, #l), pthread_rwlock_rdlock(l))
#define samsa__wrlock(l, rank)                                                 \
    (samsa__rank_take((rank), -1, #l), pthread_rwlock_wrlock(l))
#define samsa__rwunlock(l, rank)                                               \
    (pthread_rwlock_unlock(l), samsa__rank_drop((rank), -1))

/* ------------------------------------------------------------------------ */
/* CRC-32C (crc32c.c)                                                       */
/* ------------------------------------------------------------------------ */

/* CRC-32C (Castagnoli) of buf, continuing from crc (0 to start), as Kafka's
 * Crc32C: crc32c(0, "123456789", 9) == 0xE3069283.  Uses SSE4.2 when the
 * CPU has it (checked once), else the portable table code. */
uint32_t samsa__crc32c(uint32_t crc, const void *buf, size_t len);
/* Ask for the lines samsa__crc32c(0, buf, len) reads first (the start of
 * each of the streams it reads side by side): a hint, never a fault.  A
 * reader asks for the next batch's while it decodes the one before. */
void samsa__crc32c_prefetch(const void *buf, size_t len);
/* The two implementations, for tests; _hw must only be called when
 * samsa__crc32c_hw_available() says so. */
uint32_t samsa__crc32c_sw(uint32_t crc, const void *buf, size_t len);
uint32_t samsa__crc32c_hw(uint32_t crc, const void *buf, size_t len);
bool samsa__crc32c_hw_available(void);

/* ------------------------------------------------------------------------ */
/* Partitioner (partitioner.c)                                              */
/* ------------------------------------------------------------------------ */

/* Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2, seed
 * 0x9747b28c), as a signed 32-bit value like the Java code returns. */
int32_t samsa__murmur2(const void *key, size_t len);

/* FNV-1a of len bytes: the bucket of a name in the store's table of
 * topics, a producer's, and the Kafka listener's table of groups. */
static inline size_t
samsa__bytes_hash(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return (size_t)h;
}

/* The same of a NUL-terminated name. */
static inline size_t
samsa__name_hash(const char *name)
{
    return samsa__bytes_hash(name, strlen(name));
}

/* ------------------------------------------------------------------------ */
/* Writing ahead of the writer (prefetch.c)                                 */
/* ------------------------------------------------------------------------ */

/* Whether the processor has PREFETCHW: 1, 0, or -1 until
 * samsa__prefetchw_probe() asked CPUID (once per process). */
extern _Atomic int samsa__prefetchw_ok;
int samsa__prefetchw_probe(void);

/* Ask for the cache lines of [p, p+len) in a state the next stores into
 * them need no wait for: a hint, never a fault, and no store.
 *
 * Why.  A store commits only once its core owns the line.  A line last
 * read by another core (a batch buffer the producer's sender thread
 * copied into the log) is taken from it first, which on this project's
 * machine (two virtual processors, often on different dies of the host:
 * a line's round trip between them takes 400-700 ns) is hundreds of
 * nanoseconds a line.  The stores wait in the store buffer, which the
 * writer's next locked instruction (its mutex) drains: profiles put
 * 30-60% of an asynchronous send's time on that unlock.  Asked a few
 * records ahead, the lines are owned by the time the copy comes.
 *
 * PREFETCHW (x86, where CPUID says so; a plain read prefetch otherwise,
 * which brings the line but not its ownership); PRFM PSTL1KEEP through
 * __builtin_prefetch elsewhere. */
static inline void
samsa__prefetch_write(const void *p, size_t len)
{
    const char *c = (const char *)((uintptr_t)p & ~(uintptr_t)63);
    const char *end = (const char *)p + len;
#if defined(__x86_64__) || defined(__i386__)
    int ok = atomic_load_explicit(&samsa__prefetchw_ok, memory_order_relaxed);
    if (ok < 0)
        ok = samsa__prefetchw_probe();
    if (ok) {
        for (; c < end; c += 64)
            __asm__ volatile("prefetchw %0" : : "m"(*c));
        return;
    }
#endif
    for (; c < end; c += 64)
        __builtin_prefetch(c, 1, 3);
}

#endif /* SAMSA_INT_H */
