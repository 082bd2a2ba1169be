/*
 * faultio.c - the fault-injecting samsa_io of faultio.h.
 *
 * Every call goes through enter() (count it, refuse it when the power is
 * off, fire the armed faults) and, when it went ahead, ends with done().
 * The real I/O runs between the two, outside the lock; faultio_power_cut()
 * waits for the calls in flight before it touches any file.
 *
 * The crash model is an undo journal per file.  Before a write, truncate or
 * allocate goes through, the file's size and the bytes the change is about
 * to destroy are read back (through the posix table, so bytes stored through
 * the mapping are seen too) and kept in a change record.  A successful sync
 * discards the records made before it started.  A power cut walks each
 * journal newest first and undoes the changes it decides were lost; undoing
 * all of them lands exactly on the state of the last sync, because each
 * record restores the state just before its change.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultio.h"
#include "storage/pretouch.h"

#define MAX_ARMED 16  /* faults armed at once                               */
#define SECTOR    512 /* what a torn write keeps a whole number of           */
#define CHUNK     65536 /* read and zero-fill buffer size                      */
#define PAGE      4096  /* what map_sync() makes durable a whole number of   */

typedef enum change_kind { CH_WRITE, CH_TRUNCATE, CH_ALLOCATE } change_kind;

/* One change to a file not yet synced, and what undoes it. */
typedef struct change {
    change_kind kind;     /* what the change was                           */
    uint64_t seq;         /* order in the file's journal (see io_sync)     */
    uint64_t gseq;        /* order among every file's changes              */
    uint64_t off;         /* write, allocate: first byte; truncate: the
                             size it set                                   */
    uint64_t len;         /* write: bytes written; allocate: bytes asked   */
    uint64_t size_before; /* the file's size just before the change        */
    uint64_t old_len;     /* bytes at off the change overwrote (a write:
                             up to the old EOF) or cut off (a truncate)    */
    uint64_t old_keep;    /* old holds the first old_keep of them; the
                             rest were zeros                               */
    unsigned char *old;   /* old_keep bytes; NULL when old_keep is 0       */
    struct change *prev;  /* older change of the same file                 */
    struct change *next;  /* newer one                                     */
} change;

/* A file, known by path.  Its journal outlives the handles on it: a crash
 * loses the unsynced changes of closed files too. */
typedef struct fnode {
    char *path;         /* as opened, or as renamed to since             */
    bool gone;          /* unlinked or replaced: no longer found by path
                           and left alone by a power cut                 */
    change *head;       /* oldest unsynced change                        */
    change *tail;       /* newest                                        */
    size_t nchanges;    /* length of the list                            */
    uint64_t next_seq;  /* seq the next change gets                      */
    struct fnode *next; /* all files, in order of first open             */
} fnode;

/* An armed fault. */
typedef struct fault {
    faultio_op op; /* the operation it counts, or FAULTIO_ANY              */
    uint64_t left; /* matching calls until it fires, that one included;
                      a sticky fault stays at 1 once it fired              */
    int err;       /* positive errno to fail with; 0: a short write        */
    size_t keep;   /* short write: bytes actually written                  */
    bool sticky;   /* keeps firing after the first time                    */
} fault;

struct samsa_io_file {
    void *inner; /* the posix table's handle (its struct samsa_io_file
                    is private to io_posix.c, so it stays opaque here)  */
    fnode *node; /* the file's journal                                   */
    bool shut;   /* its descriptor closed (fio_shut): the journal reads
                    the file through a handle of its own                 */
};

struct faultio {
    samsa_io io;                        /* handed out; io.ctx points here     */
    samsa_io *posix;                    /* where every call really goes       */
    pthread_mutex_t lock;               /* guards every field below           */
    pthread_cond_t idle;                /* broadcast when inflight drops to 0 */
    uint64_t calls[FAULTIO_NOPS + 1];   /* per op; [FAULTIO_ANY]: all         */
    uint64_t passing[FAULTIO_NOPS + 1]; /* those that passed the filter     */
    fault armed[MAX_ARMED];             /* in the order they were armed       */
    size_t narmed;                      /* entries used in armed              */
    uint64_t injected;                  /* calls a fault failed or shortened  */
    char *filter;                       /* path substring, or NULL            */
    fnode *nodes;                       /* every file seen, oldest first      */
    fnode *last_node;                   /* the newest, to append to           */
    size_t open_files;                  /* handles not yet closed             */
    unsigned inflight;                  /* calls between enter() and done()   */
    bool off;                           /* faultio_power_cut() was called     */
    uint64_t gseq;                      /* the next change's gseq             */
    faultio_sync_fn on_sync;            /* called before each sync, or NULL   */
    void *on_sync_ctx;                  /* its argument                       */
    faultio_sync_fn on_dirsync;         /* called after each dirsync, or NULL */
    faultio_sync_fn on_open;            /* called after each open, or NULL    */
    void *on_open_ctx;                  /* its argument                       */
    void *on_dirsync_ctx;               /* its argument                       */
    char boot[SAMSA_IO_BOOT_ID];        /* the boot it presents (faultio.h)   */
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

static void *
xmalloc(size_t n)
{
    void *p = malloc(n > 0 ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "faultio: out of memory\n");
        abort();
    }
    return p;
}

static void *
xcalloc(size_t n)
{
    void *p = xmalloc(n);
    memset(p, 0, n);
    return p;
}

static char *
xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

static uint64_t
min64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static uint64_t
max64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static bool
all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

/* splitmix64: small, and the same sequence everywhere for a seed. */
static uint64_t
rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Read exactly len bytes at off through the posix table. */
static int
read_full(samsa_io *p, samsa_io_file *h, void *buf, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = p->read(p, h, buf, len, off);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EIO; /* the file shrank under us */
        buf = (char *)buf + n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Write len zero bytes at off through the posix table. */
static int
write_zeros(samsa_io *p, samsa_io_file *h, uint64_t off, uint64_t len)
{
    static const unsigned char zeros[CHUNK];
    while (len > 0) {
        size_t n = (size_t)min64(len, CHUNK);
        int rc = samsa__io_write_all(p, h, zeros, n, off);
        if (rc < 0)
            return rc;
        off += n;
        len -= n;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Journals                                                                 */
/* ------------------------------------------------------------------------ */

static void
change_free(change *c)
{
    if (c != NULL) {
        free(c->old);
        free(c);
    }
}

/* Drop the changes of n made before seq `upto` (all: UINT64_MAX). */
static void
journal_drop(fnode *n, uint64_t upto)
{
    while (n->head != NULL && n->head->seq < upto) {
        change *c = n->head;
        n->head = c->next;
        if (n->head != NULL)
            n->head->prev = NULL;
        else
            n->tail = NULL;
        n->nchanges--;
        change_free(c);
    }
}

static void
journal_append(fnode *n, change *c)
{
    c->seq = n->next_seq++;
    c->prev = n->tail;
    c->next = NULL;
    if (n->tail != NULL)
        n->tail->next = c;
    else
        n->head = c;
    n->tail = c;
    n->nchanges++;
}

/* Take c out of n's journal and free it. */
static void
journal_remove(fnode *n, change *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        n->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        n->tail = c->prev;
    n->nchanges--;
    change_free(c);
}

/* The write c no longer changes [from, to) (that part became durable, or
 * was cut off for good): trim it, split it in two around a hole in the
 * middle (the second part right after it, with the same seq and gseq), or
 * remove it.  Under the lock. */
static void
write_clip(fnode *n, change *c, uint64_t from, uint64_t to)
{
    uint64_t end = c->off + c->len;
    from = max64(from, c->off);
    to = min64(to, end);
    if (from >= to)
        return;
    if (from == c->off && to == end) {
        journal_remove(n, c);
        return;
    }
    if (from > c->off && to < end) { /* the part after the hole */
        change *t = xcalloc(sizeof *t);
        *t = *c;
        uint64_t k = to - c->off; /* bytes of c before t */
        t->off = to;
        t->len = end - to;
        t->old_len = c->old_len > k ? c->old_len - k : 0;
        t->old_keep = c->old_keep > k ? c->old_keep - k : 0;
        t->old = NULL;
        if (t->old_keep > 0) {
            t->old = xmalloc(t->old_keep);
            memcpy(t->old, c->old + k, t->old_keep);
        }
        t->prev = c;
        if (c->next != NULL)
            c->next->prev = t;
        else
            n->tail = t;
        c->next = t;
        n->nchanges++;
        to = end; /* c keeps what lies before the hole */
    }
    if (to == end) { /* keep the front */
        c->len = from - c->off;
        c->old_len = min64(c->old_len, c->len);
        c->old_keep = min64(c->old_keep, c->len);
        return;
    }
    uint64_t k = to - c->off; /* drop the front */
    c->off = to;
    c->len = end - to;
    c->old_len = c->old_len > k ? c->old_len - k : 0;
    uint64_t keep = c->old_keep > k ? c->old_keep - k : 0;
    if (keep > 0)
        memmove(c->old, c->old + k, keep);
    c->old_keep = keep;
}

/* A map_sync() of [off, off+len) that started when n's next seq was upto
 * succeeded: of the changes before it, the writes' bytes in its pages and
 * every size change are durable (faultio.h).  Under the lock. */
static void
journal_sync_range(fnode *n, uint64_t upto, uint64_t off, uint64_t len)
{
    uint64_t from = off / PAGE * PAGE,
             to = (off + len + PAGE - 1) / PAGE * PAGE;
    change *c = n->head;
    while (c != NULL && c->seq < upto) {
        change *next = c->next;
        if (c->kind == CH_WRITE) {
            write_clip(n, c, from, to);
        } else {
            /* A truncation made durable cuts off for good what older
             * writes put past its size. */
            for (change *w = c->prev, *wp; c->kind == CH_TRUNCATE && w != NULL;
                 w = wp) {
                wp = w->prev;
                if (w->kind == CH_WRITE)
                    write_clip(n, w, c->off, UINT64_MAX);
            }
            journal_remove(n, c);
        }
        c = next;
    }
}

/* The live file at path, made on first sight.  Under the lock. */
static fnode *
node_get(faultio *f, const char *path)
{
    for (fnode *n = f->nodes; n != NULL; n = n->next)
        if (!n->gone && strcmp(n->path, path) == 0)
            return n;
    fnode *n = xcalloc(sizeof *n);
    n->path = xstrdup(path);
    if (f->last_node != NULL)
        f->last_node->next = n;
    else
        f->nodes = n;
    f->last_node = n;
    return n;
}

/* Whether path is dir itself or lies under it. */
static bool
path_under(const char *path, const char *dir, size_t dirlen)
{
    return strncmp(path, dir, dirlen) == 0 &&
           (path[dirlen] == '\0' || path[dirlen] == '/');
}

/* The name at path (and, for a directory, every name under it) is gone.
 * Under the lock. */
static void
nodes_remove(faultio *f, const char *path)
{
    size_t len = strlen(path);
    for (fnode *n = f->nodes; n != NULL; n = n->next)
        if (!n->gone && path_under(n->path, path, len)) {
            n->gone = true;
            journal_drop(n, UINT64_MAX);
        }
}

/* rename(from, to) succeeded: whatever was at to is replaced, and the files
 * at or under from carry their journals to their new names.  Under the
 * lock. */
static void
nodes_rename(faultio *f, const char *from, const char *to)
{
    if (strcmp(from, to) == 0)
        return;
    nodes_remove(f, to);
    size_t flen = strlen(from), tlen = strlen(to);
    for (fnode *n = f->nodes; n != NULL; n = n->next) {
        if (n->gone || !path_under(n->path, from, flen))
            continue;
        size_t rest = strlen(n->path + flen);
        char *p = xmalloc(tlen + rest + 1);
        memcpy(p, to, tlen);
        memcpy(p + tlen, n->path + flen, rest + 1);
        free(n->path);
        n->path = p;
    }
}

/* ------------------------------------------------------------------------ */
/* Entering and leaving a call                                              */
/* ------------------------------------------------------------------------ */

static bool
passes_filter(const faultio *f, const char *p1, const char *p2)
{
    return f->filter == NULL || (p1 != NULL && strstr(p1, f->filter)) ||
           (p2 != NULL && strstr(p2, f->filter));
}

/* Count this call against the armed faults and fire those it completes.
 * Returns the errno to fail with, or 0; lowers *keep for a short write.
 * Under the lock. */
static int
fire(faultio *f, faultio_op op, size_t *keep)
{
    bool hit = false;
    int err = 0;
    size_t i = 0;
    while (i < f->narmed) {
        fault *a = &f->armed[i];
        if ((a->op != op && a->op != FAULTIO_ANY) || --a->left > 0) {
            i++;
            continue;
        }
        if (!hit) { /* the first armed decides */
            err = a->err;
            if (a->err == 0 && keep != NULL && a->keep < *keep)
                *keep = a->keep;
        }
        hit = true;
        if (a->sticky) {
            a->left = 1;
            i++;
        } else {
            memmove(a, a + 1, (f->narmed - i - 1) * sizeof *a);
            f->narmed--;
        }
    }
    if (hit)
        f->injected++;
    return err;
}

/*
 * Begin a call: count it, refuse it once the power is off, fire the faults
 * it matches.  The path the filter looks at is n's (a call on an open file)
 * or p1 and p2.  Returns 0 when the call goes ahead, which it then does
 * until done(); otherwise the -errno to return as is.  keep (writes only,
 * else NULL) holds the length asked and comes back lowered by a short write.
 */
static int
enter(faultio *f, faultio_op op, const fnode *n, const char *p1, const char *p2,
      size_t *keep)
{
    int err = EIO;
    pthread_mutex_lock(&f->lock);
    f->calls[op]++;
    f->calls[FAULTIO_ANY]++;
    if (!f->off) {
        err = 0;
        if (passes_filter(f, n != NULL ? n->path : p1, p2)) {
            f->passing[op]++;
            f->passing[FAULTIO_ANY]++;
            err = fire(f, op, keep);
        }
        if (err == 0)
            f->inflight++;
    }
    pthread_mutex_unlock(&f->lock);
    return -err;
}

/* End a call enter() let through, adding c (or nothing, NULL) to n's
 * journal. */
static void
done(faultio *f, fnode *n, change *c)
{
    pthread_mutex_lock(&f->lock);
    if (c != NULL) {
        if (n->gone) { /* unlinked while open: nothing to revert */
            change_free(c);
        } else {
            c->gseq = f->gseq++;
            journal_append(n, c);
        }
    }
    if (--f->inflight == 0)
        pthread_cond_broadcast(&f->idle);
    pthread_mutex_unlock(&f->lock);
}

/* ------------------------------------------------------------------------ */
/* Capturing what a change destroys                                         */
/* ------------------------------------------------------------------------ */

static change *
change_new(change_kind kind, uint64_t off, uint64_t len, uint64_t size_before)
{
    change *c = xcalloc(sizeof *c);
    c->kind = kind;
    c->off = off;
    c->len = len;
    c->size_before = size_before;
    return c;
}

/* Before a write of len bytes at off: the size, and the old bytes up to the
 * old EOF.  In a preallocated segment those are zeros, which are not kept. */
static int
capture_write(faultio *f, samsa_io_file *w, uint64_t off, size_t len,
              change **out)
{
    uint64_t size;
    samsa_io_file *h = w->inner;
    int rc = 0;
    if (w->shut) { /* the write may still go through the mapping */
        pthread_mutex_lock(&f->lock);
        char *path = xstrdup(w->node->path);
        pthread_mutex_unlock(&f->lock);
        rc = f->posix->open(f->posix, path, SAMSA_IO_RDONLY, &h);
        free(path);
        if (rc < 0)
            return rc;
    }
    rc = f->posix->size(f->posix, h, &size);
    if (rc < 0) {
        if (h != w->inner)
            f->posix->close(f->posix, h);
        return rc;
    }
    change *c = change_new(CH_WRITE, off, len, size);
    c->old_len = off < size ? min64(len, size - off) : 0;
    if (c->old_len > 0) {
        c->old = xmalloc(c->old_len);
        rc = read_full(f->posix, h, c->old, c->old_len, off);
        if (rc < 0) {
            change_free(c);
            c = NULL;
        }
    }
    if (h != w->inner)
        f->posix->close(f->posix, h);
    if (rc < 0)
        return rc;
    if (c->old_len > 0) {
        if (all_zero(c->old, c->old_len)) {
            free(c->old);
            c->old = NULL;
        } else {
            c->old_keep = c->old_len;
        }
    }
    *out = c;
    return 0;
}

/* Before a truncate to size: the old size, and the bytes cut off up to the
 * last non-zero one.  The zeros after it come back by themselves when the
 * undo extends the file again; a segment preallocated to its full size and
 * cut back when it rolls has nothing else there. */
static int
capture_cut(faultio *f, samsa_io_file *w, uint64_t size, change **out)
{
    uint64_t before;
    int rc = f->posix->size(f->posix, w->inner, &before);
    if (rc < 0)
        return rc;
    change *c = change_new(CH_TRUNCATE, size, 0, before);
    if (size < before) {
        c->old_len = before - size;
        unsigned char *buf = xmalloc(CHUNK);
        uint64_t keep = 0;
        for (uint64_t at = 0; at < c->old_len && rc == 0; at += CHUNK) {
            size_t n = (size_t)min64(CHUNK, c->old_len - at);
            rc = read_full(f->posix, w->inner, buf, n, size + at);
            for (size_t i = n; rc == 0 && i > 0; i--)
                if (buf[i - 1] != 0) {
                    keep = at + i;
                    break;
                }
        }
        free(buf);
        if (rc == 0 && keep > 0) {
            c->old = xmalloc(keep);
            c->old_keep = keep;
            rc = read_full(f->posix, w->inner, c->old, keep, size);
        }
        if (rc < 0) {
            change_free(c);
            return rc;
        }
    }
    *out = c;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The table                                                                */
/* ------------------------------------------------------------------------ */

static int
fio_open(samsa_io *io, const char *path, int flags, samsa_io_file **out)
{
    faultio *f = io->ctx;
    int rc = enter(f, FAULTIO_OPEN, NULL, path, NULL, NULL);
    if (rc < 0)
        return rc;
    samsa_io_file *inner;
    rc = f->posix->open(f->posix, path, flags, &inner);
    if (rc == 0) {
        samsa_io_file *w = xcalloc(sizeof *w);
        w->inner = inner;
        pthread_mutex_lock(&f->lock);
        w->node = node_get(f, path);
        f->open_files++;
        pthread_mutex_unlock(&f->lock);
        *out = w;
    }
    done(f, NULL, NULL);
    pthread_mutex_lock(&f->lock);
    faultio_sync_fn fn = f->on_open;
    void *ctx = f->on_open_ctx;
    pthread_mutex_unlock(&f->lock);
    if (rc == 0 && fn != NULL)
        fn(ctx, path);
    return rc;
}

/* Closing changes no file, so the real close is made even when the call
 * "fails" (power off, injected error): the handle is released whatever
 * close returns, as the caller cannot retry it. */
static int
fio_close(samsa_io *io, samsa_io_file *w)
{
    faultio *f = io->ctx;
    int rc = enter(f, FAULTIO_CLOSE, w->node, NULL, NULL, NULL);
    int prc = f->posix->close(f->posix, w->inner);
    pthread_mutex_lock(&f->lock);
    f->open_files--;
    pthread_mutex_unlock(&f->lock);
    if (rc == 0)
        done(f, NULL, NULL);
    free(w);
    return rc < 0 ? rc : prc;
}

static ssize_t
fio_write(samsa_io *io, samsa_io_file *w, const void *buf, size_t len,
          uint64_t off)
{
    faultio *f = io->ctx;
    size_t keep = len;
    int rc = enter(f, FAULTIO_WRITE, w->node, NULL, NULL, &keep);
    if (rc < 0)
        return rc;
    change *c = NULL;
    ssize_t n = capture_write(f, w, off, keep, &c);
    if (n == 0)
        n = f->posix->write(f->posix, w->inner, buf, keep, off);
    if (n > 0) { /* a short count changed only that many bytes */
        c->len = (uint64_t)n;
        c->old_len = min64(c->old_len, c->len);
        c->old_keep = min64(c->old_keep, c->len);
    } else {
        change_free(c);
        c = NULL;
    }
    done(f, w->node, c);
    return n;
}

static ssize_t
fio_read(samsa_io *io, samsa_io_file *w, void *buf, size_t len, uint64_t off)
{
    faultio *f = io->ctx;
    int rc = enter(f, FAULTIO_READ, w->node, NULL, NULL, NULL);
    if (rc < 0)
        return rc;
    ssize_t n = f->posix->read(f->posix, w->inner, buf, len, off);
    done(f, NULL, NULL);
    return n;
}

static int
fio_map(samsa_io *io, samsa_io_file *w, size_t len, const void **addr)
{
    faultio *f = io->ctx;
    int rc = enter(f, FAULTIO_MAP, w->node, NULL, NULL, NULL);
    if (rc < 0)
        return rc;
    rc = f->posix->map(f->posix, w->inner, len, addr);
    done(f, NULL, NULL);
    return rc;
}

/* Shutting changes no file: no fault, and made even with the power off
 * (as close). */
static int
fio_shut(samsa_io *io, samsa_io_file *w)
{
    faultio *f = io->ctx;
    w->shut = true;
    return f->posix->shut(f->posix, w->inner);
}

/* Counted and failed as an open. */
static int
fio_reopen(samsa_io *io, samsa_io_file *w, const char *path)
{
    faultio *f = io->ctx;
    int rc = enter(f, FAULTIO_OPEN, w->node, path, NULL, NULL);
    if (rc < 0)
        return rc;
    rc = f->posix->reopen(f->posix, w->inner, path);
    if (rc == 0)
        w->shut = false;
    done(f, NULL, NULL);
    return rc;
}

/* Before a sync of w: the hook (the power may go just before it), then
 * the seq of w's next change: the sync covers those before it. */
static uint64_t
sync_begin(faultio *f, samsa_io_file *w)
{
    pthread_mutex_lock(&f->lock);
    faultio_sync_fn fn = f->on_sync;
    void *ctx = f->on_sync_ctx;
    pthread_mutex_unlock(&f->lock);
    if (fn != NULL)
        fn(ctx, w->node->path);
    pthread_mutex_lock(&f->lock);
    uint64_t upto = w->node->next_seq;
    pthread_mutex_unlock(&f->lock);
    return upto;
}

/* A sync makes durable what was written before it started; changes made
 * while it runs (other threads) may or may not be covered, so they stay in
 * the journal. */
static int
fio_sync(samsa_io *io, samsa_io_file *w)
{
    faultio *f = io->ctx;
    int rc = enter(f, FAULTIO_SYNC, w->node, NULL, NULL, NULL);
    if (rc < 0)
        return rc;
    uint64_t upto = sync_begin(f, w);
    rc = f->posix->sync(f->posix, w->inner);
    if (rc == 0) {
        pthread_mutex_lock(&f->lock);
        journal_drop(w->node, upto);
        pthread_mutex_unlock(&f->lock);
    }
    done(f, NULL, NULL);
    return rc;
}

/* End a call that made the change c on w when rc is 0 (c freed
 * otherwise); returns rc. */
static int
change_done(faultio *f, samsa_io_file *w, int rc, change *c)
{
    if (rc < 0) {
        change_free(c);
        c = NULL;
    }
    done(f, w->node, c);
    return rc;
}

/* As fio_write(), through the posix table's mapped append (no short
 * writes: a mapped copy is all or nothing). */
static int
fio_map_write(samsa_io *io, samsa_io_file *w, uint64_t off, const void *buf,
              size_t len)
{
    faultio *f = io->ctx;
    int rc = enter(f, FAULTIO_MAP_WRITE, w->node, NULL, NULL, NULL);
    if (rc < 0)
        return rc;
    change *c = NULL;
    rc = capture_write(f, w, off, len, &c);
    if (rc == 0)
        rc = f->posix->map_write(f->posix, w->inner, off, buf, len);
    return change_done(f, w, rc, c);
}

/* As fio_sync(), but what becomes durable is the range's pages and the
 * size changes (journal_sync_range()). */
static int
fio_map_sync(samsa_io *io, samsa_io_file *w, uint64_t off, uint64_t len)
{
    faultio *f = io->ctx;
    int rc = enter(f, FAULTIO_MAP_SYNC, w->node, NULL, NULL, NULL);
    if (rc < 0)
        return rc;
    uint64_t upto = sync_begin(f, w);
    rc = f->posix->map_sync(f->posix, w->inner, off, len);
    if (rc == 0) {
        pthread_mutex_lock(&f->lock);
        journal_sync_range(w->node, upto, off, len);
        pthread_mutex_unlock(&f->lock);
    }
    done(f, NULL, NULL);
    return rc;
}

static int
fio_truncate(samsa_io *io, samsa_io_file *w, uint64_t size)
{
    faultio *f = io->ctx;
    int rc = enter(f, FAULTIO_TRUNCATE, w->node, NULL, NULL, NULL);
    if (rc < 0)
        return rc;
    change *c = NULL;
    rc = capture_cut(f, w, size, &c);
    if (rc == 0)
        rc = f->posix->truncate(f->posix, w->inner, size);
    return change_done(f, w, rc, c);
}

static int
fio_allocate(samsa_io *io, samsa_io_file *w, uint64_t off, uint64_t len)
{
    faultio *f = io->ctx;
    int rc = enter(f, FAULTIO_ALLOCATE, w->node, NULL, NULL, NULL);
    if (rc < 0)
        return rc;
    change *c = NULL;
    uint64_t size;
    rc = f->posix->size(f->posix, w->inner, &size);
    if (rc == 0)
        rc = f->posix->allocate(f->posix, w->inner, off, len);
    if (rc == 0)
        c = change_new(CH_ALLOCATE, off, len, size);
    done(f, w->node, c);
    return rc;
}

static int
fio_size(samsa_io *io, samsa_io_file *w, uint64_t *size)
{
    faultio *f = io->ctx;
    int rc = enter(f, FAULTIO_SIZE, w->node, NULL, NULL, NULL);
    if (rc < 0)
        return rc;
    rc = f->posix->size(f->posix, w->inner, size);
    done(f, NULL, NULL);
    return rc;
}

static int
fio_rename(samsa_io *io, const char *from, const char *to)
{
    faultio *f = io->ctx;
    int rc = enter(f, FAULTIO_RENAME, NULL, from, to, NULL);
    if (rc < 0)
        return rc;
    rc = f->posix->rename(f->posix, from, to);
    if (rc == 0) {
        pthread_mutex_lock(&f->lock);
        nodes_rename(f, from, to);
        pthread_mutex_unlock(&f->lock);
    }
    done(f, NULL, NULL);
    return rc;
}

static int
fio_unlink(samsa_io *io, const char *path)
{
    faultio *f = io->ctx;
    int rc = enter(f, FAULTIO_UNLINK, NULL, path, NULL, NULL);
    if (rc < 0)
        return rc;
    rc = f->posix->unlink(f->posix, path);
    if (rc == 0) {
        pthread_mutex_lock(&f->lock);
        nodes_remove(f, path);
        pthread_mutex_unlock(&f->lock);
    }
    done(f, NULL, NULL);
    return rc;
}

/* mkdir, rmdir and dirsync only pass through: directory entries are not
 * part of the crash model (see faultio.h). */
static int
pass_path(samsa_io *io, faultio_op op, const char *path,
          int (*call)(samsa_io *, const char *))
{
    faultio *f = io->ctx;
    int rc = enter(f, op, NULL, path, NULL, NULL);
    if (rc < 0)
        return rc;
    rc = call(f->posix, path);
    done(f, NULL, NULL);
    return rc;
}

static int
fio_mkdir(samsa_io *io, const char *path)
{
    return pass_path(io, FAULTIO_MKDIR, path,
                     ((faultio *)io->ctx)->posix->mkdir);
}

static int
fio_rmdir(samsa_io *io, const char *path)
{
    return pass_path(io, FAULTIO_RMDIR, path,
                     ((faultio *)io->ctx)->posix->rmdir);
}

static int
fio_dirsync(samsa_io *io, const char *path)
{
    faultio *f = io->ctx;
    int rc = pass_path(io, FAULTIO_DIRSYNC, path, f->posix->dirsync);
    pthread_mutex_lock(&f->lock);
    faultio_sync_fn fn = f->on_dirsync;
    void *ctx = f->on_dirsync_ctx;
    pthread_mutex_unlock(&f->lock);
    if (rc == 0 && fn != NULL) /* the directory's entries are durable now */
        fn(ctx, path);
    return rc;
}

/* The boot id is the faultio's own and never the machine's, and is not
 * counted or failed: what it says must not depend on faults armed. */
static int
fio_boot_id(samsa_io *io, char out[SAMSA_IO_BOOT_ID])
{
    memcpy(out, ((faultio *)io->ctx)->boot, SAMSA_IO_BOOT_ID);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The power cut                                                            */
/* ------------------------------------------------------------------------ */

/* What became of one change in the crash. */
typedef enum fate { KEPT, DROPPED, TORN } fate;

static fate
choose(const change *c, faultio_cut mode, uint64_t *rng, uint64_t *tear_at)
{
    if (mode == FAULTIO_DROP_ALL)
        return DROPPED;
    uint64_t r = rng_next(rng);
    if (c->kind != CH_WRITE)
        return r % 2 ? KEPT : DROPPED;
    if (r % 3 == 0)
        return KEPT;
    if (r % 3 == 1)
        return DROPPED;
    /* Torn after one of the sector boundaries strictly inside the write. */
    uint64_t first = (c->off / SECTOR + 1) * SECTOR, end = c->off + c->len;
    if (first >= end)
        return DROPPED; /* inside one sector: all or nothing */
    uint64_t nbounds = (end - 1 - first) / SECTOR + 1;
    *tear_at = first + SECTOR * (rng_next(rng) % nbounds);
    return TORN;
}

/* Put c's old bytes back over [from, to), clipped to where it had them. */
static int
put_old(samsa_io *p, samsa_io_file *h, const change *c, uint64_t from,
        uint64_t to)
{
    from = max64(from, c->off);
    to = min64(to, c->off + c->old_len);
    if (from >= to)
        return 0;
    uint64_t keep_end = c->off + c->old_keep;
    if (from < keep_end) {
        uint64_t n = min64(to, keep_end) - from;
        int rc = samsa__io_write_all(p, h, c->old + (from - c->off), (size_t)n,
                                     from);
        if (rc < 0)
            return rc;
        from += n;
    }
    return from < to ? write_zeros(p, h, from, to - from) : 0;
}

static int
set_size(samsa_io *p, samsa_io_file *h, uint64_t size, uint64_t *cur)
{
    if (size == *cur)
        return 0;
    int rc = p->truncate(p, h, size);
    if (rc == 0)
        *cur = size;
    return rc;
}

/*
 * Undo the write c from kept_end on (c->off: all of it).  *cur is the file's
 * size now, after the undos of the newer changes.
 *
 * Its size change is undone only if no newer change that survived left the
 * file longer than this write reached: filesystems journal size changes in
 * order, so a newer one on disk means this one is too.  Where the write went
 * past the old EOF and the file still reaches, the bytes read as zeros (the
 * blocks never got the data).
 */
static int
undo_write(samsa_io *p, samsa_io_file *h, const change *c, uint64_t kept_end,
           uint64_t *cur)
{
    uint64_t end = c->off + c->len;
    int rc = 0;
    if (*cur <= end) {
        uint64_t size = kept_end > c->off ? max64(c->size_before, kept_end)
                                          : c->size_before;
        if (size < *cur)
            rc = set_size(p, h, size, cur);
    }
    uint64_t to = min64(end, *cur);
    if (rc == 0)
        rc = put_old(p, h, c, kept_end, to);
    uint64_t hole = max64(kept_end, c->off + c->old_len);
    if (rc == 0 && hole < to)
        rc = write_zeros(p, h, hole, to - hole);
    return rc;
}

/* Undo a truncation or an allocation, when the file still has the size it
 * set (else a newer size change survived, and by the ordering above so did
 * this one). */
static int
undo_size(samsa_io *p, samsa_io_file *h, const change *c, uint64_t *cur)
{
    uint64_t after = c->kind == CH_TRUNCATE
                         ? c->off
                         : max64(c->size_before, c->off + c->len);
    if (*cur != after || after == c->size_before)
        return 0;
    int rc = set_size(p, h, c->size_before, cur);
    if (rc == 0 && c->kind == CH_TRUNCATE) /* the rest is zeros already */
        rc = put_old(p, h, c, c->off, c->off + c->old_keep);
    return rc;
}

/* Rewrite n's file per mode, undoing its journal newest first. */
static int
node_crash(faultio *f, fnode *n, faultio_cut mode, uint64_t *rng)
{
    samsa_io *p = f->posix;
    samsa_io_file *h;
    int rc = p->open(p, n->path, 0, &h);
    if (rc == -ENOENT)
        return 0; /* removed behind faultio's back: nothing to revert */
    if (rc < 0)
        return rc;
    uint64_t cur;
    rc = p->size(p, h, &cur);
    for (change *c = n->tail; c != NULL && rc == 0; c = c->prev) {
        uint64_t tear_at = 0;
        switch (choose(c, mode, rng, &tear_at)) {
        case KEPT:
            break;
        case DROPPED:
            rc = c->kind == CH_WRITE ? undo_write(p, h, c, c->off, &cur)
                                     : undo_size(p, h, c, &cur);
            break;
        case TORN:
            rc = undo_write(p, h, c, tear_at, &cur);
            break;
        }
    }
    int crc = p->close(p, h);
    return rc < 0 ? rc : crc;
}

/* ---- enumerating crash states ---------------------------------------- */

/* The fates change c can have: kept, dropped, and for a write torn after
 * each sector boundary strictly inside it. */
static uint64_t
fates(const change *c)
{
    if (c->kind != CH_WRITE)
        return 2;
    uint64_t first = (c->off / SECTOR + 1) * SECTOR, end = c->off + c->len;
    return first >= end ? 2 : 2 + (end - 1 - first) / SECTOR + 1;
}

/* The unsynced changes of the files under root, newest first (by gseq),
 * into a malloc'ed array; *n gets the count.  Under the lock. */
static change **
changes_under(faultio *f, const char *root, size_t *n)
{
    size_t len = strlen(root), k = 0, cap = 0;
    for (fnode *nd = f->nodes; nd != NULL; nd = nd->next)
        if (!nd->gone && path_under(nd->path, root, len))
            cap += nd->nchanges;
    change **all = xmalloc(cap * sizeof *all);
    for (fnode *nd = f->nodes; nd != NULL; nd = nd->next)
        if (!nd->gone && path_under(nd->path, root, len))
            for (change *c = nd->head; c != NULL; c = c->next)
                all[k++] = c;
    /* Insertion sort by gseq, descending: journals are short. */
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && all[j - 1]->gseq < all[j]->gseq; j--) {
            change *t = all[j];
            all[j] = all[j - 1];
            all[j - 1] = t;
        }
    *n = k;
    return all;
}

uint64_t
faultio_crash_states(faultio *f, const char *root, size_t newest, uint64_t *low)
{
    size_t n;
    pthread_mutex_lock(&f->lock);
    change **all = changes_under(f, root, &n);
    uint64_t total = 1;
    for (size_t i = 0; i < n; i++) {
        if (i == newest && low != NULL)
            *low = total;
        uint64_t k = fates(all[i]);
        total = total > UINT64_MAX / k ? UINT64_MAX : total * k;
    }
    if (n <= newest && low != NULL)
        *low = total;
    pthread_mutex_unlock(&f->lock);
    free(all);
    return total;
}

int
faultio_crash_apply(faultio *f, const char *root, const char *to,
                    uint64_t state)
{
    size_t n, rlen = strlen(root);
    int rc = 0;
    pthread_mutex_lock(&f->lock);
    change **all = changes_under(f, root, &n);
    /* Mixed radix, the newest change the lowest digit: the first states
     * vary what was written last, which is what a crash most often
     * catches. */
    uint64_t *digit = xmalloc((n + 1) * sizeof *digit);
    for (size_t i = 0; i < n; i++) {
        uint64_t k = fates(all[i]);
        digit[i] = state % k;
        state /= k;
    }
    samsa_io *p = f->posix;
    for (fnode *nd = f->nodes; nd != NULL && rc == 0; nd = nd->next) {
        if (nd->gone || nd->tail == NULL || !path_under(nd->path, root, rlen))
            continue;
        char *path = xmalloc(strlen(to) + strlen(nd->path + rlen) + 1);
        strcpy(path, to);
        strcat(path, nd->path + rlen);
        samsa_io_file *h;
        rc = p->open(p, path, 0, &h);
        free(path);
        if (rc == -ENOENT) {
            rc = 0;
            continue;
        }
        if (rc < 0)
            break;
        uint64_t cur;
        rc = p->size(p, h, &cur);
        for (change *c = nd->tail; c != NULL && rc == 0; c = c->prev) {
            size_t i = 0;
            while (all[i] != c)
                i++;
            uint64_t d = digit[i];
            if (d == 1)
                rc = c->kind == CH_WRITE ? undo_write(p, h, c, c->off, &cur)
                                         : undo_size(p, h, c, &cur);
            else if (d >= 2)
                rc = undo_write(
                    p, h, c, (c->off / SECTOR + 1) * SECTOR + (d - 2) * SECTOR,
                    &cur);
        }
        int crc = p->close(p, h);
        rc = rc < 0 ? rc : crc;
    }
    pthread_mutex_unlock(&f->lock);
    free(digit);
    free(all);
    return rc;
}

static void
hook_set(faultio *f, faultio_sync_fn *slot, void **slot_ctx, faultio_sync_fn fn,
         void *ctx)
{
    pthread_mutex_lock(&f->lock);
    *slot = fn;
    *slot_ctx = ctx;
    pthread_mutex_unlock(&f->lock);
}

void
faultio_on_sync(faultio *f, faultio_sync_fn fn, void *ctx)
{
    hook_set(f, &f->on_sync, &f->on_sync_ctx, fn, ctx);
}

void
faultio_on_dirsync(faultio *f, faultio_sync_fn fn, void *ctx)
{
    hook_set(f, &f->on_dirsync, &f->on_dirsync_ctx, fn, ctx);
}

void
faultio_on_open(faultio *f, faultio_sync_fn fn, void *ctx)
{
    hook_set(f, &f->on_open, &f->on_open_ctx, fn, ctx);
}

int
faultio_power_cut(faultio *f, faultio_cut mode, uint64_t seed)
{
    uint64_t rng = seed;
    int rc = 0;
    pthread_mutex_lock(&f->lock);
    f->off = true; /* from here on enter() lets nothing through */
    while (f->inflight > 0)
        pthread_cond_wait(&f->idle, &f->lock);
    /* Nothing goes through the table any more, so nothing asks for pages
     * ahead: let the pretoucher finish reading those asked for before the
     * files shrink under it (a read past EOF is SIGBUS, pretouch.c). */
    pretouch_wait_idle();
    for (fnode *n = f->nodes; n != NULL; n = n->next) {
        if (mode != FAULTIO_KEEP_ALL && !n->gone && n->tail != NULL) {
            int r = node_crash(f, n, mode, &rng);
            if (rc == 0)
                rc = r;
        }
        journal_drop(n, UINT64_MAX);
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The rest of the API                                                      */
/* ------------------------------------------------------------------------ */

faultio *
faultio_new(void)
{
    faultio *f = xcalloc(sizeof *f);
    f->posix = samsa__io_posix();
    f->io = (samsa_io){
        .open = fio_open,
        .close = fio_close,
        .write = fio_write,
        .read = fio_read,
        .map = fio_map,
        .map_write = fio_map_write,
        .map_sync = fio_map_sync,
        .sync = fio_sync,
        .truncate = fio_truncate,
        .allocate = fio_allocate,
        .size = fio_size,
        .rename = fio_rename,
        .unlink = fio_unlink,
        .mkdir = fio_mkdir,
        .rmdir = fio_rmdir,
        .dirsync = fio_dirsync,
        .shut = fio_shut,
        .reopen = fio_reopen,
        .boot_id = fio_boot_id,
        .ctx = f,
    };
    static _Atomic unsigned boots;
    snprintf(f->boot, sizeof f->boot, "faultio-%ld-%u", (long)getpid(),
             atomic_fetch_add(&boots, 1));
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->idle, NULL);
    return f;
}

void
faultio_free(faultio *f)
{
    if (f == NULL)
        return;
    if (f->open_files > 0) {
        fprintf(stderr, "faultio_free: %zu files still open\n", f->open_files);
        abort();
    }
    for (fnode *n = f->nodes, *next; n != NULL; n = next) {
        next = n->next;
        journal_drop(n, UINT64_MAX);
        free(n->path);
        free(n);
    }
    free(f->filter);
    pthread_cond_destroy(&f->idle);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

samsa_io *
faultio_io(faultio *f)
{
    return &f->io;
}

uint64_t
faultio_calls(faultio *f, faultio_op op)
{
    pthread_mutex_lock(&f->lock);
    uint64_t n = (unsigned)op <= FAULTIO_ANY ? f->calls[op] : 0;
    pthread_mutex_unlock(&f->lock);
    return n;
}

uint64_t
faultio_calls_passing(faultio *f, faultio_op op)
{
    pthread_mutex_lock(&f->lock);
    uint64_t n = (unsigned)op <= FAULTIO_ANY ? f->passing[op] : 0;
    pthread_mutex_unlock(&f->lock);
    return n;
}

const char *
faultio_op_name(faultio_op op)
{
    static const char *const names[FAULTIO_NOPS + 1] = {
        "open",     "close",    "write",     "read",     "map",    "sync",
        "truncate", "allocate", "size",      "rename",   "unlink", "mkdir",
        "rmdir",    "dirsync",  "map_write", "map_sync", "any",
    };
    return (unsigned)op <= FAULTIO_ANY ? names[op] : "?";
}

static void
arm(faultio *f, faultio_op op, uint64_t nth, int err, size_t keep, bool sticky)
{
    /* Misuse is a bug in the test: stop it loudly. */
    if ((unsigned)op > FAULTIO_ANY || nth == 0 || err < 0) {
        fprintf(stderr, "faultio: bad fault (op %d, nth %llu, err %d)\n",
                (int)op, (unsigned long long)nth, err);
        abort();
    }
    pthread_mutex_lock(&f->lock);
    if (f->narmed == MAX_ARMED) {
        fprintf(stderr, "faultio: more than %d faults armed\n", MAX_ARMED);
        abort();
    }
    f->armed[f->narmed++] = (fault){op, nth, err, keep, sticky};
    pthread_mutex_unlock(&f->lock);
}

void
faultio_fail(faultio *f, faultio_op op, uint64_t nth, int err, bool sticky)
{
    if (err <= 0) {
        fprintf(stderr, "faultio_fail: err must be a positive errno\n");
        abort();
    }
    arm(f, op, nth, err, 0, sticky);
}

void
faultio_short_write(faultio *f, uint64_t nth, size_t keep_bytes)
{
    arm(f, FAULTIO_WRITE, nth, 0, keep_bytes, false);
}

void
faultio_filter(faultio *f, const char *substr)
{
    char *copy = substr != NULL ? xstrdup(substr) : NULL;
    pthread_mutex_lock(&f->lock);
    free(f->filter);
    f->filter = copy;
    pthread_mutex_unlock(&f->lock);
}

void
faultio_clear(faultio *f)
{
    pthread_mutex_lock(&f->lock);
    f->narmed = 0;
    pthread_mutex_unlock(&f->lock);
}

uint64_t
faultio_injected(faultio *f)
{
    pthread_mutex_lock(&f->lock);
    uint64_t n = f->injected;
    pthread_mutex_unlock(&f->lock);
    return n;
}

size_t
faultio_unsynced(faultio *f, const char *substr)
{
    size_t total = 0;
    pthread_mutex_lock(&f->lock);
    for (const fnode *n = f->nodes; n != NULL; n = n->next)
        if (!n->gone && (substr == NULL || strstr(n->path, substr)))
            total += n->nchanges;
    pthread_mutex_unlock(&f->lock);
    return total;
}
