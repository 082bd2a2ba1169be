/*
 * segcache.c - the store-wide cap on open sealed segments.
 *
 * A sealed segment takes no more writes, so it needs its file and mapping
 * only while someone reads or syncs it: it may be closed when idle and
 * opened again on demand.  The cache counts the sealed segments that are
 * open, keeps them in least recently used order, and closes the oldest
 * idle ones when the count passes the cap (samsa_options.max_open_files).
 * Closing loses nothing: the page cache keeps what was not yet synced, and
 * segment_sync() opens the file again to fdatasync it (Linux reports a
 * writeback error to a descriptor opened after it, while nobody has seen
 * it).  The active segment of each log is never closed here: the writer
 * uses its file without asking.
 *
 * Who may use seg->map and seg->file.  Whoever holds a reference and has
 * called segment_hold() since taking it (cursors through log_segment_for()
 * and co., which do it for them; replica catch-up and scrub themselves).
 * A segment is closed only while its only reference is its log's
 * (refs == 1 and not detached), checked under its open_lock, which
 * segment_hold() takes too: a reader that took its reference before the
 * check makes the segment untouchable, and one that took it after finds it
 * closed and opens it again.  A segment that retention or topic deletion
 * removed from its log is detached: the references left are readers', and
 * it is never closed under them (no SIGBUS, no use after unmap); the last
 * one frees it.
 *
 * Lock order: log.lock -> segment.open_lock -> segcache.lock; the eviction
 * takes other segments' open_locks with trylock only (one busy is passed
 * over), so no order between segments is needed.  The cap is soft: when
 * every open segment is in use, an open goes over it rather than fail.
 */
#include <stdlib.h>

#include "log.h"

struct segcache {
    pthread_mutex_t lock;   /* every field below, and the list links     */
    size_t cap;             /* most closable segments kept open          */
    size_t open;            /* closable segments open now (in the list)  */
    segment *head, *tail;   /* least recently used first                 */
    _Atomic uint64_t opens; /* reopens on demand, for tests and stats  */
};

segcache *
segcache_new(size_t cap)
{
    segcache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    c->cap = cap;
    return c;
}

void
segcache_free(segcache *c)
{
    if (c == NULL)
        return;
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static void
list_unlink(segcache *c, segment *seg)
{
    if (seg->lru_prev != NULL)
        seg->lru_prev->lru_next = seg->lru_next;
    else
        c->head = seg->lru_next;
    if (seg->lru_next != NULL)
        seg->lru_next->lru_prev = seg->lru_prev;
    else
        c->tail = seg->lru_prev;
    seg->lru_prev = seg->lru_next = NULL;
}

static void
list_append(segcache *c, segment *seg)
{
    seg->lru_prev = c->tail;
    seg->lru_next = NULL;
    if (c->tail != NULL)
        c->tail->lru_next = seg;
    else
        c->head = seg;
    c->tail = seg;
}

/* Close idle segments, oldest first, until the count is within the cap
 * (c->lock held; keep is the one the caller holds).  Each is closed
 * through the table it was opened through (a replica set's, maybe). */
static void
evict(segcache *c, segment *keep)
{
    segment *seg = c->head;
    while (c->open > c->cap && seg != NULL) {
        segment *next = seg->lru_next;
        if (seg != keep && pthread_mutex_trylock(&seg->open_lock) == 0) {
            if (atomic_load(&seg->refs) == 1 && !atomic_load(&seg->detached) &&
                atomic_load(&seg->sealed)) {
                list_unlink(c, seg);
                seg->in_cache = false;
                c->open--;
                seg->io->close(seg->io, seg->file);
                seg->file = NULL;
                seg->map = NULL;
            }
            pthread_mutex_unlock(&seg->open_lock);
        }
        seg = next;
    }
}

/* Count seg (open, closable) as most recently used; seg->open_lock held. */
static void
cache_touch(segment *seg)
{
    segcache *c = seg->cache;
    pthread_mutex_lock(&c->lock);
    if (seg->in_cache)
        list_unlink(c, seg);
    else
        c->open++;
    seg->in_cache = true;
    list_append(c, seg);
    evict(c, seg);
    pthread_mutex_unlock(&c->lock);
}

void
segcache_add(segment *seg)
{
    if (seg->cache == NULL)
        return;
    pthread_mutex_lock(&seg->open_lock);
    if (seg->file != NULL && atomic_load(&seg->sealed))
        cache_touch(seg);
    pthread_mutex_unlock(&seg->open_lock);
}

int
segment_hold(segment *seg)
{
    samsa_io *io = seg->io;
    if (seg->cache == NULL)
        return 0;
    pthread_mutex_lock(&seg->open_lock);
    int rc = 0;
    if (seg->file == NULL) {
        rc = io->open(io, seg->path, 0, &seg->file);
        if (rc == 0 && (rc = io->map(io, seg->file, seg->map_len,
                                     (const void **)&seg->map)) != 0) {
            io->close(io, seg->file);
            seg->file = NULL;
        }
        if (rc == 0)
            atomic_fetch_add(&seg->cache->opens, 1);
    }
    /* Only a sealed segment is closable: see the top of the file. */
    if (rc == 0 && atomic_load(&seg->sealed))
        cache_touch(seg);
    pthread_mutex_unlock(&seg->open_lock);
    return samsa__from_errno(rc);
}

void
segcache_forget(segment *seg)
{
    segcache *c = seg->cache;
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    if (seg->in_cache) {
        list_unlink(c, seg);
        c->open--;
        seg->in_cache = false;
    }
    pthread_mutex_unlock(&c->lock);
}

bool
segment_is_open(segment *seg)
{
    pthread_mutex_lock(&seg->open_lock);
    bool open = seg->file != NULL;
    pthread_mutex_unlock(&seg->open_lock);
    return open;
}

uint64_t
segcache_reopens(segcache *c)
{
    return atomic_load(&c->opens);
}
