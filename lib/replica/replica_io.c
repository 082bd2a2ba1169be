/*
 * replica_io.c - the I/O table of a partition with several copies: every
 * call goes to every in-sync copy.
 *
 * The log engine names its files under one directory (rset.vroot, the root
 * of the copy that led when the log was opened); each call is made again
 * on every in-sync copy with that prefix swapped for the copy's own root,
 * through the store's I/O layer (so tests inject faults per directory).
 * Since every copy gets the same calls in the same order, the files stay
 * byte for byte alike, preallocated zeros included.
 *
 * The rule for each call ("fan out"): the in-sync copies are taken under
 * rs->lock, the call runs on each without the lock, then
 *  - every copy it failed on while it succeeded on another leaves the
 *    in-sync set, with the error as the reason; if that was the leader,
 *    the next in-sync copy leads from now on;
 *  - when it failed on every copy, nothing leaves: the error goes back to
 *    the log engine, which handles it as it would with one copy (a produce
 *    fails and changes nothing; a failed fsync stops the log).
 * A copy whose fsync failed is out, and stays out until it is rebuilt from
 * scratch (replica.c): its file is never synced again, so pages the kernel
 * dropped after the failed writeback cannot be taken for durable (the 2018
 * PostgreSQL "fsyncgate" lesson).
 *
 * Reads.  map() gives the log a read-only view of the leader's file, a
 * mapping this file makes itself (the copies' own mappings serve the I/O
 * layer's fast write path).  When the leader changes, every view is
 * re-pointed at the new leader's file with MAP_FIXED, which swaps the pages
 * under readers atomically; below the published log end the two files hold
 * the same bytes, so a reader cannot tell.
 *
 * Syncs run on every copy at once, one thread per copy beyond the first,
 * so a sync costs the slowest disk, not the sum.  A directory that vanished
 * is noticed there too: writes to a file whose directory is gone succeed
 * (the inode lives on), so before a sync counts, each copy's root must
 * still be the directory the store opened.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replica.h"

struct mfile {
    samsa_io_file *f[REPLICA_MAX]; /* per copy; NULL where not open       */
    _Atomic bool unsynced[REPLICA_MAX]; /* written since its last sync  */
    char *path;         /* as the log named it, under vroot    */
    int flags;          /* open flags, CREATE and EXCL removed  */
    bool shut;          /* descriptors closed (rio_shut), under rs->lock */
    bool replaced;      /* a rename put another file at path (a
                           compaction's swap, storage/compact.c): the
                           view stays on the file it shows, never
                           re-pointed by path; under rs->lock      */
    void *view;         /* read-only view of the leader's file */
    size_t view_len;    /* its length; 0 before map()          */
    mfile *next, *prev; /* rs->files                           */
};

#define MF(f) ((mfile *)(void *)(f))

/* The in-sync copies, leader first, under rs->lock. */
static int
insync_copies(rset *rs, int *idx)
{
    int n = 0;
    samsa__lock(&rs->lock, SAMSA_RANK_RSET);
    idx[n++] = rs->leader;
    for (int i = 0; i < rs->n; i++)
        if (i != rs->leader && rs->copy[i].insync)
            idx[n++] = i;
    samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
    return n;
}

/* Apply the fan-out rule to rc[0..n) (0 or -errno, per idx[], leader
 * first).  The reference result is success when any copy succeeded, else
 * the error most copies met (the leader's on a tie); a copy whose result
 * differs from it has diverged and leaves the in-sync set.  Returns the
 * reference. */
static int
fan_end(rset *rs, int n, const int *idx, const int *rc)
{
    int ref = rc[0], best = 0;
    for (int k = 0; k < n; k++) {
        int same = 0;
        for (int j = 0; j < n; j++)
            same += rc[j] == rc[k];
        if (rc[k] == 0 || (ref != 0 && same > best)) {
            ref = rc[k];
            best = rc[k] == 0 ? n : same;
        }
    }
    bool differ = false;
    for (int k = 0; k < n; k++)
        differ |= rc[k] != ref;
    if (!differ)
        return ref;
    samsa__lock(&rs->lock, SAMSA_RANK_RSET);
    for (int k = 0; k < n; k++)
        if (rc[k] != ref && rs->copy[idx[k]].insync)
            rset_mark_out_locked(rs, idx[k], samsa__from_errno(rc[k]));
    samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
    rset_after_change(rs);
    return ref;
}

static rset *
rs_of(samsa_io *io)
{
    return io->ctx;
}

/* ---- path calls ------------------------------------------------------ */

static int
fan_path(rset *rs, const char *path, int op)
{
    int idx[REPLICA_MAX], rc[REPLICA_MAX];
    int n = insync_copies(rs, idx);
    for (int k = 0; k < n; k++) {
        char *p = rset_path(rs, idx[k], path);
        samsa_io *b = rs->base;
        rc[k] = p == NULL ? -ENOMEM
                : op == 0 ? b->unlink(b, p)
                : op == 1 ? b->mkdir(b, p)
                : op == 2 ? b->rmdir(b, p)
                          : b->dirsync(b, p);
        free(p);
    }
    return fan_end(rs, n, idx, rc);
}

static int
rio_unlink(samsa_io *io, const char *path)
{
    return fan_path(rs_of(io), path, 0);
}

static int
rio_mkdir(samsa_io *io, const char *path)
{
    return fan_path(rs_of(io), path, 1);
}

static int
rio_rmdir(samsa_io *io, const char *path)
{
    return fan_path(rs_of(io), path, 2);
}

static int
rio_dirsync(samsa_io *io, const char *path)
{
    return fan_path(rs_of(io), path, 3);
}

static int
rio_rename(samsa_io *io, const char *from, const char *to)
{
    rset *rs = rs_of(io);
    int idx[REPLICA_MAX], rc[REPLICA_MAX];
    int n = insync_copies(rs, idx);
    for (int k = 0; k < n; k++) {
        char *a = rset_path(rs, idx[k], from), *b = rset_path(rs, idx[k], to);
        rc[k] =
            a == NULL || b == NULL ? -ENOMEM : rs->base->rename(rs->base, a, b);
        free(a);
        free(b);
    }
    /* The files open at `to` are no longer what the path names on a copy
     * whose rename was made: a reader of one (the segment a swap
     * replaced) keeps its view of the old file, which a leader change
     * must not re-point at the new one.  Marked before fan_end(), whose
     * leader change (a copy whose rename failed leaves) re-points the
     * views: after it, an old segment's view showed the new, shorter
     * file at the old one's positions (SIGBUS). */
    bool any = false;
    for (int k = 0; k < n; k++)
        any |= rc[k] == 0;
    samsa__lock(&rs->lock, SAMSA_RANK_RSET);
    for (mfile *m = rs->files; any && m != NULL; m = m->next)
        if (strcmp(m->path, to) == 0)
            m->replaced = true;
    samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
    return fan_end(rs, n, idx, rc);
}

/* ---- files ----------------------------------------------------------- */

static void
mfile_free(rset *rs, mfile *m)
{
    for (int i = 0; i < rs->n; i++)
        if (m->f[i] != NULL)
            rs->base->close(rs->base, m->f[i]);
    if (m->view != NULL)
        munmap(m->view, m->view_len);
    free(m->path);
    free(m);
}

static int
rio_open(samsa_io *io, const char *path, int flags, samsa_io_file **out)
{
    rset *rs = rs_of(io);
    mfile *m = calloc(1, sizeof *m);
    if (m == NULL || (m->path = strdup(path)) == NULL) {
        free(m);
        return -ENOMEM;
    }
    m->flags = flags & ~(SAMSA_IO_CREATE | SAMSA_IO_EXCL);
    int idx[REPLICA_MAX], rc[REPLICA_MAX];
    int n = insync_copies(rs, idx);
    for (int k = 0; k < n; k++) {
        char *p = rset_path(rs, idx[k], path);
        rc[k] = p == NULL ? -ENOMEM
                          : rs->base->open(rs->base, p, flags, &m->f[idx[k]]);
        free(p);
    }
    int r = fan_end(rs, n, idx, rc);
    if (r != 0) {
        mfile_free(rs, m);
        return r;
    }
    samsa__lock(&rs->lock, SAMSA_RANK_RSET);
    m->next = rs->files;
    if (rs->files != NULL)
        rs->files->prev = m;
    rs->files = m;
    samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
    *out = (samsa_io_file *)(void *)m;
    return 0;
}

static int
rio_close(samsa_io *io, samsa_io_file *f)
{
    rset *rs = rs_of(io);
    mfile *m = MF(f);
    samsa__lock(&rs->lock, SAMSA_RANK_RSET);
    if (m->prev != NULL)
        m->prev->next = m->next;
    else
        rs->files = m->next;
    if (m->next != NULL)
        m->next->prev = m->prev;
    samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
    mfile_free(rs, m);
    return 0;
}

/* The handles of the in-sync copies that have this file open. */
static int
file_copies(rset *rs, mfile *m, int *idx)
{
    int all[REPLICA_MAX], n = insync_copies(rs, all), k = 0;
    for (int j = 0; j < n; j++)
        if (m->f[all[j]] != NULL)
            idx[k++] = all[j];
    return k;
}

static ssize_t
rio_write(samsa_io *io, samsa_io_file *f, const void *buf, size_t len,
          uint64_t off)
{
    rset *rs = rs_of(io);
    mfile *m = MF(f);
    int idx[REPLICA_MAX], rc[REPLICA_MAX];
    int n = file_copies(rs, m, idx);
    if (n == 0)
        return -EIO;
    for (int k = 0; k < n; k++) {
        ssize_t w = rs->base->write(rs->base, m->f[idx[k]], buf, len, off);
        /* A short write on one copy is a failed copy; on every copy it is
         * the engine's to see. */
        rc[k] = w == (ssize_t)len ? 0 : w < 0 ? (int)w : -EIO;
        m->unsynced[idx[k]] = true;
    }
    int r = fan_end(rs, n, idx, rc);
    return r == 0 ? (ssize_t)len : r;
}

static ssize_t
rio_read(samsa_io *io, samsa_io_file *f, void *buf, size_t len, uint64_t off)
{
    rset *rs = rs_of(io);
    mfile *m = MF(f);
    int idx[REPLICA_MAX];
    int n = file_copies(rs, m, idx);
    ssize_t r = -EIO;
    for (int k = 0; k < n; k++)
        if ((r = rs->base->read(rs->base, m->f[idx[k]], buf, len, off)) >= 0)
            break;
    return r;
}

static int
rio_size(samsa_io *io, samsa_io_file *f, uint64_t *size)
{
    rset *rs = rs_of(io);
    mfile *m = MF(f);
    int idx[REPLICA_MAX], r = -EIO;
    int n = file_copies(rs, m, idx);
    for (int k = 0; k < n && r != 0; k++)
        r = rs->base->size(rs->base, m->f[idx[k]], size);
    return r;
}

static int
rio_truncate(samsa_io *io, samsa_io_file *f, uint64_t size)
{
    rset *rs = rs_of(io);
    mfile *m = MF(f);
    int idx[REPLICA_MAX], rc[REPLICA_MAX];
    int n = file_copies(rs, m, idx);
    for (int k = 0; k < n; k++) {
        rc[k] = rs->base->truncate(rs->base, m->f[idx[k]], size);
        m->unsynced[idx[k]] = true;
    }
    return n == 0 ? -EIO : fan_end(rs, n, idx, rc);
}

static int
rio_allocate(samsa_io *io, samsa_io_file *f, uint64_t off, uint64_t len)
{
    rset *rs = rs_of(io);
    mfile *m = MF(f);
    int idx[REPLICA_MAX], rc[REPLICA_MAX];
    int n = file_copies(rs, m, idx);
    for (int k = 0; k < n; k++) {
        rc[k] = rs->base->allocate(rs->base, m->f[idx[k]], off, len);
        m->unsynced[idx[k]] = true;
    }
    return n == 0 ? -EIO : fan_end(rs, n, idx, rc);
}

/* Every copy's descriptor goes, the mappings stay (io.h).  Under
 * rs->lock, so that rset_io_flush() and rset_io_attach() see the copies'
 * handles either all open or all shut. */
static int
rio_shut(samsa_io *io, samsa_io_file *f)
{
    rset *rs = rs_of(io);
    mfile *m = MF(f);
    samsa__lock(&rs->lock, SAMSA_RANK_RSET);
    for (int i = 0; i < rs->n; i++)
        if (m->f[i] != NULL)
            (void)rs->base->shut(rs->base, m->f[i]);
    m->shut = true;
    samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
    return 0;
}

/* The in-sync copies' descriptors again; a copy out of sync keeps its
 * handle shut (a rebuild replaces it: rset_io_attach).  A copy that
 * cannot reopen while another could leaves the set (fan_end). */
static int
rio_reopen(samsa_io *io, samsa_io_file *f, const char *path)
{
    rset *rs = rs_of(io);
    mfile *m = MF(f);
    int idx[REPLICA_MAX], rc[REPLICA_MAX];
    int n = file_copies(rs, m, idx);
    char *p[REPLICA_MAX];
    for (int k = 0; k < n; k++)
        p[k] = rset_path(rs, idx[k], path);
    samsa__lock(&rs->lock, SAMSA_RANK_RSET);
    for (int k = 0; k < n; k++)
        rc[k] = p[k] == NULL ? -ENOMEM
                             : rs->base->reopen(rs->base, m->f[idx[k]], p[k]);
    m->shut = false;
    samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
    for (int k = 0; k < n; k++)
        free(p[k]);
    return n == 0 ? -EIO : fan_end(rs, n, idx, rc);
}

/* Map copy i's file at view (MAP_FIXED) or anywhere (view NULL). */
static void *
view_map(rset *rs, mfile *m, int i, void *view, size_t len)
{
    char *p = rset_path(rs, i, m->path);
    int fd = p == NULL ? -1 : open(p, O_RDONLY | O_CLOEXEC);
    free(p);
    if (fd < 0)
        return MAP_FAILED;
    void *a = mmap(view, len, PROT_READ,
                   MAP_SHARED | (view != NULL ? MAP_FIXED : 0), fd, 0);
    close(fd);
    return a;
}

static int
rio_map(samsa_io *io, samsa_io_file *f, size_t len, const void **addr)
{
    rset *rs = rs_of(io);
    mfile *m = MF(f);
    if (m->view != NULL) {
        if (len > m->view_len)
            return -EINVAL; /* the engine maps each file once */
        *addr = m->view;
        return 0;
    }
    int idx[REPLICA_MAX], rc[REPLICA_MAX];
    int n = file_copies(rs, m, idx);
    const void *a;
    for (int k = 0; k < n; k++) /* the I/O layer's own (write) mappings */
        rc[k] = rs->base->map(rs->base, m->f[idx[k]], len, &a);
    int r = n == 0 ? -EIO : fan_end(rs, n, idx, rc);
    if (r != 0)
        return r;
    /* The view is opened by path, the copies' descriptors were not: a
     * leader whose file went after it was opened (its directory removed
     * while the log rolled) fails here alone.  It leaves the set, as a
     * copy failing any call does, and the next leader's file is mapped. */
    samsa__lock(&rs->lock, SAMSA_RANK_RSET);
    void *v;
    int err = 0;
    bool moved = false;
    while ((v = view_map(rs, m, rs->leader, NULL, len)) == MAP_FAILED) {
        err = errno;
        if (err == EMFILE || err == ENFILE || err == ENOMEM)
            break; /* the process's limits, not the copy's fault */
        int old = rs->leader;
        rset_mark_out_locked(rs, old, samsa__from_errno(-err));
        if (rs->leader == old)
            break; /* the last copy: its error is the caller's */
        moved = true;
    }
    if (v != MAP_FAILED) {
        m->view = v;
        m->view_len = len;
    }
    samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
    if (moved)
        rset_after_change(rs);
    if (v == MAP_FAILED)
        return -err;
    *addr = v;
    return 0;
}

void
rset_io_remap(rset *rs)
{
    for (mfile *m = rs->files; m != NULL; m = m->next)
        if (m->view != NULL && !m->replaced &&
            view_map(rs, m, rs->leader, m->view, m->view_len) == MAP_FAILED) {
            /* The old view stays: it shows what was written before the
             * leader left, which is all a reader may read until a write
             * through the new leader, and that write fails over again. */
        }
}

/* ---- sync ------------------------------------------------------------ */

static void
sync_one(sync_job *j)
{
    const replica_env *env = j->rs->env;
    j->rc = env->disk_alive(env, j->disk) ? j->rs->base->sync(j->rs->base, j->f)
                                          : -ENOENT;
}

/* fdatasync the copies idx[0..n) of m in parallel (the store's sync
 * pool), through the handles h[0..n) (NULL: m's own); rc[] gets each
 * result. */
static void
sync_parallel(rset *rs, mfile *m, const int *idx, int n, int *rc,
              samsa_io_file *const *h)
{
    sync_job job[REPLICA_MAX];
    for (int k = 0; k < n; k++)
        job[k] = (sync_job){.fn = sync_one,
                            .rs = rs,
                            .f = h != NULL ? h[k] : m->f[idx[k]],
                            .disk = rs->copy[idx[k]].disk};
    sync_pool_run(rs->env->syncs, job, n);
    for (int k = 0; k < n; k++) {
        rc[k] = job[k].rc;
        if (rc[k] == 0)
            m->unsynced[idx[k]] = false;
    }
}

static int
rio_sync(samsa_io *io, samsa_io_file *f)
{
    rset *rs = rs_of(io);
    mfile *m = MF(f);
    int idx[REPLICA_MAX], rc[REPLICA_MAX];
    int n = file_copies(rs, m, idx);
    if (n == 0)
        return -EIO;
    /* acks=1: the leader alone before the acknowledgement; the others
     * when rset_flush() runs (the flusher, samsa_sync(), close). */
    if (!rs->acks_all)
        n = 1;
    sync_parallel(rs, m, idx, n, rc, NULL);
    return fan_end(rs, n, idx, rc);
}

int
rset_io_flush(rset *rs)
{
    /* rs->lock is held throughout: the file list changes under it (index
     * files come and go), and this runs only for acks=1 topics. */
    int first = 0;
    samsa__lock(&rs->lock, SAMSA_RANK_RSET);
    for (mfile *m = rs->files; m != NULL; m = m->next) {
        int idx[REPLICA_MAX], rc[REPLICA_MAX], k = 0;
        for (int i = 0; i < rs->n; i++)
            if (rs->copy[i].insync && m->f[i] != NULL && m->unsynced[i])
                idx[k++] = i;
        if (k == 0)
            continue;
        /* A shut file (the end marker, an idle active segment) is synced
         * through a descriptor opened for it: Linux writes back the file's
         * pages whichever descriptor dirtied them, and reports an error
         * nobody has seen to a descriptor opened after it. */
        samsa_io_file *own[REPLICA_MAX] = {NULL};
        for (int j = 0; m->shut && j < k; j++) {
            char *p = rset_path(rs, idx[j], m->path);
            int orc = p == NULL
                          ? -ENOMEM
                          : rs->base->open(rs->base, p, m->flags, &own[j]);
            free(p);
            if (orc != 0)
                own[j] = m->f[idx[j]]; /* shut: its sync fails, EBADF */
        }
        sync_parallel(rs, m, idx, k, rc, m->shut ? own : NULL);
        for (int j = 0; m->shut && j < k; j++)
            if (own[j] != m->f[idx[j]])
                rs->base->close(rs->base, own[j]);
        for (int j = 0; j < k; j++)
            if (rc[j] != 0 && rs->copy[idx[j]].insync) {
                rset_mark_out_locked(rs, idx[j], samsa__from_errno(rc[j]));
                if (first == 0)
                    first = samsa__from_errno(rc[j]);
            }
    }
    samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
    rset_after_change(rs);
    return first;
}

int
rset_io_attach(rset *rs, int i)
{
    for (mfile *m = rs->files; m != NULL; m = m->next) {
        if (m->f[i] != NULL) /* the stale handle of the copy it replaced */
            rs->base->close(rs->base, m->f[i]);
        m->f[i] = NULL;
        m->unsynced[i] = false;
        if (m->replaced)
            continue; /* its path names another file now: none to open */
        char *p = rset_path(rs, i, m->path);
        int rc = p == NULL ? -ENOMEM
                           : rs->base->open(rs->base, p, m->flags, &m->f[i]);
        free(p);
        const void *a;
        if (rc == 0 && m->view != NULL)
            rc = rs->base->map(rs->base, m->f[i], m->view_len, &a);
        if (rc == 0 && m->shut) /* as the other copies' handles */
            (void)rs->base->shut(rs->base, m->f[i]);
        if (rc != 0)
            return samsa__from_errno(rc);
    }
    return 0;
}

int64_t
rset_io_valid(rset *rs, int i)
{
    /* The active segment is the open .log file with the highest base. */
    const mfile *act = NULL;
    int64_t base = -1;
    for (const mfile *m = rs->files; m != NULL; m = m->next) {
        size_t len = strlen(m->path);
        if (len < 24 || strcmp(m->path + len - 4, ".log") != 0)
            continue;
        int64_t b = strtoll(m->path + len - 24, NULL, 10);
        if (b > base) {
            base = b;
            act = m;
        }
    }
    char *p = act != NULL ? rset_path(rs, i, act->path) : NULL;
    int fd = p == NULL ? -1 : open(p, O_RDONLY | O_CLOEXEC);
    free(p);
    struct stat st;
    int64_t expected = base;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
        if (fd >= 0)
            close(fd);
        return expected;
    }
    size_t size = (size_t)st.st_size;
    const uint8_t *v = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (v == MAP_FAILED)
        return expected;
    for (size_t pos = 0; pos < size;) {
        batch_header h;
        if (batch_parse_header(v + pos, size - pos, &h) != 0 ||
            !batch_follows(&h, expected, rs->gaps) ||
            batch_verify_crc(v + pos, &h) != 0)
            break; /* damage, or the preallocated zeros past the end */
        expected = h.base_offset + h.last_offset_delta + 1;
        pos += BATCH_LOG_OVERHEAD + (size_t)h.length;
    }
    munmap((void *)v, size);
    return expected;
}

samsa_io_file *
rset_handle(rset *rs, const char *path, int i)
{
    for (mfile *m = rs->files; m != NULL; m = m->next)
        if (strcmp(m->path, path) == 0)
            return m->f[i];
    return NULL;
}

/* Every copy lives under the same kernel: the base table knows the boot
 * (a test's may present a simulated one). */
static int
rio_boot_id(samsa_io *io, char out[SAMSA_IO_BOOT_ID])
{
    samsa_io *b = rs_of(io)->base;
    return b->boot_id(b, out);
}

void
rset_io_init(rset *rs)
{
    rs->io = (samsa_io){
        .open = rio_open,
        .close = rio_close,
        .write = rio_write,
        .read = rio_read,
        .map = rio_map,
        .sync = rio_sync,
        .truncate = rio_truncate,
        .allocate = rio_allocate,
        .size = rio_size,
        .rename = rio_rename,
        .unlink = rio_unlink,
        .mkdir = rio_mkdir,
        .rmdir = rio_rmdir,
        .dirsync = rio_dirsync,
        .shut = rio_shut,
        .reopen = rio_reopen,
        .boot_id = rio_boot_id,
        .ctx = rs,
    };
}

uint32_t
rset_io_open_files(rset *rs)
{
    uint32_t n = 0;
    for (const mfile *m = rs->files; m != NULL; m = m->next)
        for (int i = 0; i < rs->n; i++)
            n += m->f[i] != NULL && !m->shut;
    return n;
}
