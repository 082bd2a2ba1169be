/*
 * segcache.c - the store-wide cap on open segment files.
 *
 * A sealed segment takes no more writes, so it needs its file and mapping
 * only while someone reads or syncs it: it may be closed when idle and
 * opened again on demand.  An active segment's readers use only its view,
 * so while nobody writes or syncs it, its descriptor may go and the view
 * stay (samsa_io.shut: a mapping does not count against RLIMIT_NOFILE, a
 * descriptor does); the writer opens it again before its next append,
 * seal or truncate (segment_attach, under the log's lock), a sync outside
 * that lock pins it (segment_pin).  The cache counts the segments whose
 * descriptor is open, keeps them in least recently used order, and closes
 * the oldest idle ones when the count passes the cap
 * (samsa_options.max_open_files).  A writer marks its segment used on each
 * append without a lock; the eviction gives a used one a second chance
 * (CLOCK), so a busy partition keeps its descriptor.  Closing loses
 * nothing: the page cache keeps what was not yet synced, and a sync opens
 * the file again to fdatasync it (Linux reports a writeback error to a
 * descriptor opened after it, while nobody has seen it).
 *
 * Who may use seg->map and seg->file.  Whoever holds a reference and has
 * called segment_hold() since taking it (cursors through log_segment_for()
 * and co., which do it for them; replica catch-up and scrub themselves).
 * A sealed segment is closed only while its only reference is its log's
 * (refs == 1 and not detached), checked under its open_lock, which
 * segment_hold() takes too: a reader that took its reference before the
 * check makes the segment untouchable, and one that took it after finds it
 * closed and opens it again.  A segment that retention or topic deletion
 * removed from its log is detached: the references left are readers', and
 * it is never closed under them (no SIGBUS, no use after unmap); the last
 * one frees it.  An active segment's descriptor is shut only with its
 * log's lock taken (trylock) and no pin: no write, seal, truncate or sync
 * is using it; its view is never unmapped here.
 *
 * Lock order: log.lock -> segment.open_lock -> segcache.lock; the eviction
 * takes other segments' open_locks and logs' locks with trylock only (one
 * busy is passed over), so no order between segments is needed.  The cap
 * is soft: when every open segment is in use, an open goes over it rather
 * than fail.
 */
#include <stdlib.h>

#include "log.h"

struct segcache {
    pthread_mutex_t lock;   /* every field below, and the list links     */
    size_t cap;             /* most closable segments kept open          */
    size_t open;            /* segments with a descriptor open (listed)  */
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

/* Close seg if it is idle (c->lock and seg->open_lock held): a sealed
 * one's file and view, through the table it was opened through (a
 * replica set's, maybe); an active one's descriptor. */
static bool
close_idle(segment *seg)
{
    if (atomic_load(&seg->pins) > 0)
        return false;
    if (atomic_load(&seg->sealed)) {
        if (atomic_load(&seg->refs) != 1 || atomic_load(&seg->detached))
            return false;
        seg->io->close(seg->io, seg->file);
        seg->file = NULL;
        seg->map = NULL;
        return true;
    }
    if (seg->writer == NULL || pthread_mutex_trylock(seg->writer) != 0)
        return false;
    bool idle = !atomic_load(&seg->sealed); /* a seal may have come first */
    if (idle) {
        (void)seg->io->shut(seg->io, seg->file);
        atomic_store(&seg->shut, true);
    }
    pthread_mutex_unlock(seg->writer);
    return idle;
}

/* Close idle segments, oldest first, until the count is within the cap
 * (c->lock held; keep is the one the caller holds).  Each is looked at
 * at most twice: one written since the last look goes to the back. */
static void
evict(segcache *c, segment *keep)
{
    segment *seg = c->head;
    for (size_t left = 2 * c->open; c->open > c->cap && seg != NULL && left > 0;
         left--) {
        segment *next = seg->lru_next;
        if (seg == keep) {
        } else if (atomic_exchange(&seg->used, false)) {
            list_unlink(c, seg);
            list_append(c, seg);
        } else if (pthread_mutex_trylock(&seg->open_lock) == 0) {
            if (close_idle(seg)) {
                list_unlink(c, seg);
                seg->in_cache = false;
                c->open--;
            }
            pthread_mutex_unlock(&seg->open_lock);
        }
        seg = next != NULL ? next : c->head;
    }
}

/* Count seg (its descriptor open) as most recently used; seg->open_lock
 * held. */
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

/* Open seg's file and view again if the cache closed them, and its
 * descriptor if it shut it (open_lock held). */
static int
reopen_locked(segment *seg, bool fd)
{
    samsa_io *io = seg->io;
    int rc = 0;
    if (seg->file == NULL) {
        rc = io->open(io, seg->path, 0, &seg->file);
        if (rc == 0 && (rc = io->map(io, seg->file, seg->map_len,
                                     (const void **)&seg->map)) != 0) {
            io->close(io, seg->file);
            seg->file = NULL;
        }
        if (rc == 0) {
            atomic_store(&seg->shut, false);
            atomic_fetch_add(&seg->cache->opens, 1);
            cache_touch(seg);
        }
    } else if (fd && atomic_load(&seg->shut)) {
        rc = io->reopen(io, seg->file, seg->path);
        if (rc == 0) {
            /* Release: the writer's check without the lock (segment_
             * attach) then sees the descriptor too. */
            atomic_store_explicit(&seg->shut, false, memory_order_release);
            atomic_fetch_add(&seg->cache->opens, 1);
            cache_touch(seg);
        }
    }
    return samsa__from_errno(rc);
}

/* reopen_locked(seg, true) under seg->open_lock. */
static int
reopen(segment *seg)
{
    pthread_mutex_lock(&seg->open_lock);
    int rc = reopen_locked(seg, true);
    pthread_mutex_unlock(&seg->open_lock);
    return rc;
}

void
segcache_add(segment *seg)
{
    if (seg->cache == NULL)
        return;
    pthread_mutex_lock(&seg->open_lock);
    if (seg->file != NULL && !atomic_load(&seg->shut))
        cache_touch(seg);
    pthread_mutex_unlock(&seg->open_lock);
}

/* segment_hold(), and with pin the descriptor too, until unpinned. */
static int
hold(segment *seg, bool pin)
{
    if (seg->cache == NULL)
        return 0;
    pthread_mutex_lock(&seg->open_lock);
    int rc = reopen_locked(seg, pin);
    if (rc == 0 && pin)
        atomic_fetch_add(&seg->pins, 1);
    /* A sealed one read is used; an active one's view needs nothing. */
    if (rc == 0 && atomic_load(&seg->sealed))
        cache_touch(seg);
    pthread_mutex_unlock(&seg->open_lock);
    return rc;
}

int
segment_hold(segment *seg)
{
    return hold(seg, false);
}

int
segment_attach(segment *seg)
{
    if (seg->cache == NULL)
        return 0;
    /* Shut only under the writer's lock, which the caller holds: open
     * now, it stays open until the caller lets go. */
    if (!atomic_load_explicit(&seg->shut, memory_order_acquire)) {
        if (!atomic_load_explicit(&seg->used, memory_order_relaxed))
            atomic_store_explicit(&seg->used, true, memory_order_relaxed);
        return 0;
    }
    return reopen(seg);
}

int
segment_pin(segment *seg)
{
    return hold(seg, true);
}

void
segment_unpin(segment *seg)
{
    if (seg->cache != NULL)
        atomic_fetch_sub(&seg->pins, 1);
}

int
segment_unseal(segment *seg)
{
    /* Unsealed, it is closed no more (the caller holds the writer's
     * lock); closed before, it is opened again here. */
    atomic_store(&seg->sealed, false);
    atomic_store(&seg->flushed, false);
    return seg->cache != NULL ? reopen(seg) : 0;
}

void
segment_disown(segment *seg)
{
    if (seg->cache == NULL)
        return;
    pthread_mutex_lock(&seg->open_lock);
    seg->writer = NULL;
    atomic_store(&seg->detached, true); /* readers' now */
    if (seg->file != NULL && !atomic_load(&seg->sealed) &&
        !atomic_load(&seg->shut)) { /* nobody writes it again */
        (void)seg->io->shut(seg->io, seg->file);
        atomic_store(&seg->shut, true);
    }
    pthread_mutex_unlock(&seg->open_lock);
    segcache_forget(seg);
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
    bool open = seg->file != NULL && !atomic_load(&seg->shut);
    pthread_mutex_unlock(&seg->open_lock);
    return open;
}

uint64_t
segcache_reopens(segcache *c)
{
    return atomic_load(&c->opens);
}
