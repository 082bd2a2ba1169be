/*
 * io_posix.c - the default I/O table: plain POSIX calls, plus a write path
 * that copies into a shared mapping instead of making a system call.
 *
 * The log engine appends millions of small batches a second, and a pwrite(2)
 * per batch would cost more than encoding the batch.  So once map() has been
 * called on a file opened read-write, this file keeps its own writable
 * MAP_SHARED mapping of it (the caller is handed the same mapping as const)
 * and write() is a memcpy() into it whenever that is safe.  A store to a
 * MAP_SHARED page lands in the page cache exactly like pwrite() would, so it
 * survives kill -9 of the process, and fdatasync(2) on Linux writes back
 * pages dirtied through a mapping as well, so sync() covers both paths.
 *
 * "Safe" means two things.  The bytes must lie inside the file: a store past
 * EOF raises SIGBUS.  And the disk blocks must already exist: a store into a
 * hole makes the kernel allocate a block in the page fault, and when the disk
 * is full that is a SIGBUS too, where pwrite() would have said ENOSPC.  Hence
 * mem_end below: the length of a prefix of the file known to be both inside
 * EOF and backed by blocks.  fallocate() and writes grow it, truncation
 * shrinks it, and anything it does not cover goes through pwrite().
 *
 * Faults.  A store to a page the mapping has not used yet faults, and the
 * kernel allocates and zeroes a page-cache page for it; on this project's
 * virtual machine that fault costs more than a dozen microseconds, about as
 * much as storing the 20 to 30 small batches the page holds.  So the memcpy
 * path populates the pages ahead of the writer, PREFAULT_BYTES at a time,
 * with one madvise(MADV_POPULATE_WRITE): the same faults, taken in one
 * system call instead of one trap each (a million one-record produce
 * calls took 46,000 page faults before and 583 after, and ran 30-40%
 * faster).  The writer populates its first window itself; the pages
 * after it, up to PREFAULT_BYTES ahead, it asks of the pretoucher
 * (pretouch.c), a thread that populates them and touches each once from
 * user space, which is the other half of a new page's cost on this
 * machine, so that the writer finds them ready; where the pretoucher is
 * behind, the writer populates what is left itself.  Only
 * pages inside mem_end are populated, so it takes no space the writes
 * would not, and the populate call reports a failure instead of raising
 * SIGBUS.  The pages populated are zeros until the writer fills them, the
 * bytes an allocated tail reads as anyway, so what a crash leaves is the
 * same.
 *
 * Files synced as they are written.  Under SAMSA_SYNC_ALWAYS every
 * append is followed by an fdatasync, which cleans the pages it writes
 * back and write-protects them in every mapping (a TLB flush on each CPU
 * the process runs on), so the next copy into the same page faults again.
 * pwrite(2) touches no page table and pays neither: one record a call
 * with sync ran about 15% faster through pwrite on this project's
 * machine.
 * So a file whose last sync came after at most SYNC_OFTEN writes takes
 * pwrite for every write, and is not populated either (each sync would
 * write the populated zeros out); a sync after more writes (the
 * background flusher, samsa_flush() now and then) turns the copy path
 * back on.  The counts are only a guess at what comes next: either path
 * stores the same bytes.
 *
 * Copy-on-write filesystems (btrfs, ZFS) allocate on every overwrite, so on
 * those a full disk can still end a mapped write with SIGBUS; this is written
 * for ext4 and XFS, where fallocate() reserves the blocks for good.
 *
 * Calls that change one file (write, truncate, allocate, map, close) must not
 * run concurrently on it: the log engine serialises them under its append
 * lock.  read() and the mapped view may be used by any thread meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "pretouch.h"

/* A mapping replaced by a larger one; kept until close, see io_map(). */
typedef struct io_old_map {
    void *addr;              /* as mmap() returned it                        */
    size_t len;              /* as passed to mmap()                          */
    struct io_old_map *next; /* older ones                                   */
} io_old_map;

struct samsa_io_file {
    int fd;             /* O_RDWR, or O_RDONLY when opened SAMSA_IO_RDONLY;
                           -1 while shut (io_shut)                            */
    dev_t dev;          /* the file's device and inode, learnt at shut: a    */
    ino_t ino;          /* reopen must find the same file                     */
    bool writable;      /* opened read-write: the mapping is writable too     */
    void *map;          /* the mapping map() returned, NULL before the call   */
    size_t map_len;     /* its length                                         */
    uint64_t mem_end;   /* writes below this may memcpy: inside EOF and on
                           allocated blocks (see the top of the file)         */
    io_old_map *old;    /* mappings a larger map() replaced                   */
    uint64_t touched;   /* the mapping's pages below this are populated, or
                           asked of the pretoucher (pretouch.c)               */
    uint64_t own;       /* of those, populated by the writer below this      */
    uint64_t checked;   /* the pretoucher's progress was looked at up to here */
    samsa__pretouch pt; /* the requests (see "Faults" at the top)           */
    uint64_t page;      /* the page size, asked once at open                  */
    bool no_prefault;   /* populating failed once: an old kernel              */
    /* See "Files synced as they are written".  Atomic because a sync may
     * run beside a write (the log syncs outside its append lock). */
    _Atomic uint32_t since_sync; /* writes since the last sync, at most
                                    SYNC_OFTEN + 1                       */
    _Atomic bool synced_often;   /* the last sync followed <= SYNC_OFTEN */
};

/* The calls below retry on EINTR: a signal handler installed by the
 * application must not turn into a failed produce. */

/* 0 when fd is a regular file, *st its status, and fd made blocking
 * again.  Only a regular file is samsa's: a directory under one of its
 * names is -EISDIR, anything else (a FIFO, a socket, a device) damage,
 * SAMSA_ECORRUPT.  Files are opened O_NONBLOCK to find that out: a FIFO
 * opened for reading waits for a writer, for ever. */
static int
regular_file(int fd, struct stat *st)
{
    if (fstat(fd, st) != 0)
        return -errno;
    if (S_ISDIR(st->st_mode))
        return -EISDIR;
    if (!S_ISREG(st->st_mode))
        return SAMSA_ECORRUPT;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
        return -errno;
    return 0;
}

static int
io_open(samsa_io *io, const char *path, int flags, samsa_io_file **out)
{
    (void)io;
    int oflags = O_CLOEXEC;
    oflags |= (flags & SAMSA_IO_RDONLY) ? O_RDONLY : O_RDWR;
    /* A symlink under one of samsa's names (a segment, its index, a
     * marker) is not a file samsa made: a write through it (recovery's
     * cut of a torn tail, an append, a rewritten index) would change a
     * file that may lie outside the store.  Refused with -ELOOP; reading
     * through one harms nothing, and what is read is checked anyway. */
    if (!(flags & SAMSA_IO_RDONLY))
        oflags |= O_NOFOLLOW;
    if (flags & SAMSA_IO_CREATE)
        oflags |= O_CREAT;
    if (flags & SAMSA_IO_EXCL)
        oflags |= O_EXCL;

    oflags |= O_NONBLOCK; /* see regular_file() */
    samsa_io_file *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -ENOMEM;
    do
        f->fd = open(path, oflags, 0644);
    while (f->fd < 0 && errno == EINTR);
    struct stat st;
    int rc = f->fd < 0 ? -errno : regular_file(f->fd, &st);
    if (rc != 0) {
        if (f->fd >= 0)
            close(f->fd);
        free(f);
        return rc;
    }
    f->writable = !(flags & SAMSA_IO_RDONLY);
    f->page = (uint64_t)sysconf(_SC_PAGESIZE);

    /* An existing file may be used through the mapping from byte 0 when it
     * has as many blocks as bytes, i.e. no holes (a file preallocated in an
     * earlier run).  A sparse one starts at 0 and earns mem_end by writes
     * and allocate() like a new file. */
    if (f->writable && (uint64_t)st.st_blocks * 512 >= (uint64_t)st.st_size)
        f->mem_end = (uint64_t)st.st_size;
    *out = f;
    return 0;
}

static int
io_close(samsa_io *io, samsa_io_file *f)
{
    (void)io;
    pretouch_cancel(&f->pt, true);
    if (f->map != NULL)
        munmap(f->map, f->map_len);
    for (io_old_map *m = f->old, *next; m != NULL; m = next) {
        next = m->next;
        munmap(m->addr, m->len);
        free(m);
    }
    /* No retry on EINTR: Linux has released the descriptor either way, and
     * a second close() could close one another thread just opened. */
    int rc = f->fd < 0 || close(f->fd) == 0 || errno == EINTR ? 0 : -errno;
    free(f);
    return rc;
}

/* Writes shorter than this copy into the mapping (see io_write). */
#define MEMCPY_MAX 2048

/* The memcpy path keeps this much of the mapping ahead of the writer
 * populated or asked of the pretoucher (see "Faults" at the top), and
 * looks at the pretoucher's progress once per PRETOUCH_CHECK bytes. */
#define PREFAULT_BYTES (1u << 20)
#define PRETOUCH_CHECK (64u << 10)

/* A sync after at most this many writes makes the file "synced often"
 * (see the top): a group commit covers one write per producer waiting. */
#define SYNC_OFTEN 64

/* The pages of [from, to), populated by the writer itself.  A failure
 * (an old kernel, no memory) only turns populating off; the copies then
 * fault as before. */
static void
populate(samsa_io_file *f, uint64_t from, uint64_t to)
{
    if (to <= from)
        return;
    if (madvise((char *)f->map + from, (size_t)(to - from),
                MADV_POPULATE_WRITE) != 0)
        f->no_prefault = true;
    if (to > f->own)
        f->own = to;
}

/* Before a copy to [off, end), inside lim (the prefix both mapped and
 * inside mem_end): make sure the pages up to PREFAULT_BYTES past it are
 * populated or asked for.  Pages nobody asked for yet the writer
 * populates itself, up to PREFAULT_BYTES ahead, as it did before the
 * pretoucher; beyond, it asks the pretoucher for them, and each time it
 * enters a new PRETOUCH_CHECK bytes it looks whether the pretoucher got
 * there first, and populates the rest of them itself if not. */
static void
io_prefault(samsa_io_file *f, uint64_t off, uint64_t end, uint64_t lim)
{
    if (end <= f->checked || f->no_prefault)
        return;
    uint64_t page = f->page;
    uint64_t here = off - off % page;
    uint64_t edge = lim - lim % page; /* whole pages only */
    uint64_t check = end - end % PRETOUCH_CHECK + PRETOUCH_CHECK;
    if (check > edge)
        check = edge;
    if (end > f->touched) { /* nothing asked here */
        uint64_t from = here > f->touched ? here : f->touched;
        uint64_t to =
            from + PREFAULT_BYTES < edge ? from + PREFAULT_BYTES : edge;
        populate(f, from, to);
        f->touched = to > from ? to : f->touched;
    } else {
        uint64_t ready = pretouch_done(&f->pt);
        if (ready < f->own)
            ready = f->own;
        if (ready < check) /* the pretoucher is behind: do them now */
            populate(f, ready > here ? ready : here, check);
    }
    f->checked = check > end ? check : end;
    uint64_t ahead = end + PREFAULT_BYTES < edge ? end + PREFAULT_BYTES : edge;
    ahead -= ahead % page;
    if (ahead > f->touched && !f->no_prefault &&
        pretouch_ask(&f->pt, f->map, f->touched, ahead))
        f->touched = ahead;
}

/* Forget every page populated or asked for, the pretoucher's request
 * first (it returns once the thread is out of the file's pages): a new
 * mapping has none yet, and a cut took those past it. */
static void
prefault_forget(samsa_io_file *f)
{
    pretouch_cancel(&f->pt, false);
    f->touched = f->own = f->checked = 0;
}

/* Whether [off, off+len) may be stored through the writable mapping:
 * mapped, inside EOF and on allocated blocks (see the top of the file).
 * *lim gets the end of that prefix. */
static bool
io_copy_fits(const samsa_io_file *f, uint64_t off, size_t len, uint64_t *lim)
{
    *lim = f->mem_end < f->map_len ? f->mem_end : f->map_len;
    return f->writable && f->map != NULL && off <= *lim && len <= *lim - off;
}

static ssize_t
io_write(samsa_io *io, samsa_io_file *f, const void *buf, size_t len,
         uint64_t off)
{
    (void)io;
    /* Only the writer stores the count; a sync resets it meanwhile at
     * worst one write late, which the guess can bear. */
    uint32_t w = atomic_load_explicit(&f->since_sync, memory_order_relaxed);
    if (w <= SYNC_OFTEN)
        atomic_store_explicit(&f->since_sync, w + 1, memory_order_relaxed);
    /* The hot path: [off, off+len) inside both the mapping and mem_end.
     * Only small writes take it: a copy into the mapping first faults each
     * new page in, and the kernel zero-fills it, while pwrite(2) of whole
     * pages fills them directly; a page's worth of small writes pays one
     * fault, but a large write would pay one per page and the zeroing.
     * Nor do files synced often (see the top). */
    uint64_t lim;
    if (len < MEMCPY_MAX && io_copy_fits(f, off, len, &lim) &&
        !atomic_load_explicit(&f->synced_often, memory_order_relaxed)) {
        io_prefault(f, off, off + len, lim);
        memcpy((char *)f->map + off, buf, len);
        return (ssize_t)len;
    }

    ssize_t n;
    do
        n = pwrite(f->fd, buf, len, (off_t)off);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    /* Bytes written contiguously from inside the known prefix extend it:
     * they are in the file and have blocks now.  A write that leaves a hole
     * before it extends nothing. */
    if (off <= f->mem_end && off + (uint64_t)n > f->mem_end)
        f->mem_end = off + (uint64_t)n;
    return n;
}

static ssize_t
io_read(samsa_io *io, samsa_io_file *f, void *buf, size_t len, uint64_t off)
{
    (void)io;
    ssize_t n;
    do
        n = pread(f->fd, buf, len, (off_t)off);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

/*
 * One mapping per file.  Callers map a file once, with the length they will
 * ever read through it (a segment's maximum size), and the view stays valid
 * until close.  A later call with a length no larger returns the same view;
 * a larger one makes a new mapping, and the old one is kept mapped until
 * close so that pointers handed out earlier stay valid (cursors may still be
 * reading through them).
 */
static int
io_map(samsa_io *io, samsa_io_file *f, size_t len, const void **addr)
{
    (void)io;
    if (f->map != NULL && len <= f->map_len) {
        *addr = f->map;
        return 0;
    }
    if (len == 0)
        return -EINVAL;
    io_old_map *old = NULL;
    if (f->map != NULL && (old = malloc(sizeof *old)) == NULL)
        return -ENOMEM;

    int prot = PROT_READ | (f->writable ? PROT_WRITE : 0);
    void *p = mmap(NULL, len, prot, MAP_SHARED, f->fd, 0);
    if (p == MAP_FAILED) {
        int err = errno;
        free(old);
        return -err;
    }
    if (old != NULL) {
        old->addr = f->map;
        old->len = f->map_len;
        old->next = f->old;
        f->old = old;
    }
    f->map = p;
    f->map_len = len;
    prefault_forget(f); /* a new mapping has no pages yet */
    *addr = p;
    return 0;
}

/*
 * The mapped append (the queue journals): a plain copy into the writable
 * mapping map() made, with no system call, whenever the bytes are safe to
 * store there (inside the mapping and mem_end, as for io_write(), but at
 * any length: the caller allocated them and stores into them a page at a
 * time).  An aligned word is one atomic store, released after the stores
 * before it (io.h).  Anything else takes io_write()'s path, which reports
 * ENOSPC rather than raising SIGBUS (a filesystem without fallocate).
 */
static int
io_map_write(samsa_io *io, samsa_io_file *f, uint64_t off, const void *buf,
             size_t len)
{
    uint64_t lim;
    if (io_copy_fits(f, off, len, &lim)) {
        char *to = (char *)f->map + off;
        if (len == 8 && off % 8 == 0) {
            uint64_t v;
            memcpy(&v, buf, 8);
            __atomic_store_n((uint64_t *)(void *)to, v, __ATOMIC_RELEASE);
        } else {
            memcpy(to, buf, len);
        }
        return 0;
    }
    return samsa__io_write_all(io, f, buf, len, off);
}

/* msync(2) of the pages holding [off, off+len): on Linux it writes back
 * the file's dirty pages in that range, however they were dirtied, and
 * the metadata needed to read them (the size), as fdatasync(2) does. */
static int
io_map_sync(samsa_io *io, samsa_io_file *f, uint64_t off, uint64_t len)
{
    (void)io;
    if (f->map == NULL || off > f->map_len || len > f->map_len - off)
        return -EINVAL;
    uint64_t a = off - off % (uint64_t)sysconf(_SC_PAGESIZE);
    int rc;
    do
        rc = msync((char *)f->map + a, (size_t)(off + len - a), MS_SYNC);
    while (rc < 0 && errno == EINTR);
    return rc < 0 ? -errno : 0;
}

static int
io_sync(samsa_io *io, samsa_io_file *f)
{
    (void)io;
    int rc;
    do
        rc = fdatasync(f->fd);
    while (rc < 0 && errno == EINTR);
    /* See "Files synced as they are written". */
    uint32_t n =
        atomic_exchange_explicit(&f->since_sync, 0, memory_order_relaxed);
    atomic_store_explicit(&f->synced_often, n <= SYNC_OFTEN,
                          memory_order_relaxed);
    return rc < 0 ? -errno : 0;
}

static int
io_truncate(samsa_io *io, samsa_io_file *f, uint64_t size)
{
    (void)io;
    /* The pages past the new EOF are gone: nothing may read them, the
     * pretoucher first (it would take SIGBUS), and none counts as
     * populated. */
    if (size < f->touched)
        prefault_forget(f);
    int rc;
    do
        rc = ftruncate(f->fd, (off_t)size);
    while (rc < 0 && errno == EINTR);
    if (rc < 0)
        return -errno;
    /* Shrinking moves EOF under mem_end; growing adds a hole, not blocks. */
    if (size < f->mem_end)
        f->mem_end = size;
    return 0;
}

static int
io_allocate(samsa_io *io, samsa_io_file *f, uint64_t off, uint64_t len)
{
    (void)io;
    int rc;
    do
        rc = fallocate(f->fd, 0, (off_t)off, (off_t)len);
    while (rc < 0 && errno == EINTR);
    if (rc == 0) {
        if (off <= f->mem_end && off + len > f->mem_end)
            f->mem_end = off + len;
        return 0;
    }
    if (errno != EOPNOTSUPP && errno != ENOSYS)
        return -errno;

    /* No fallocate here (NFS, some FUSE filesystems): extend the file so
     * that its size is what the caller expects, without reserving blocks.
     * mem_end stays put, so writes there take pwrite() and report ENOSPC
     * as an error rather than as SIGBUS. */
    struct stat st;
    if (fstat(f->fd, &st) < 0)
        return -errno;
    if ((uint64_t)st.st_size >= off + len)
        return 0;
    do
        rc = ftruncate(f->fd, (off_t)(off + len));
    while (rc < 0 && errno == EINTR);
    return rc < 0 ? -errno : 0;
}

static int
io_size(samsa_io *io, samsa_io_file *f, uint64_t *size)
{
    (void)io;
    struct stat st;
    if (fstat(f->fd, &st) < 0)
        return -errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

static int
io_rename(samsa_io *io, const char *from, const char *to)
{
    (void)io;
    return rename(from, to) < 0 ? -errno : 0;
}

static int
io_unlink(samsa_io *io, const char *path)
{
    (void)io;
    return unlink(path) < 0 ? -errno : 0;
}

static int
io_mkdir(samsa_io *io, const char *path)
{
    (void)io;
    return mkdir(path, 0755) < 0 ? -errno : 0;
}

static int
io_rmdir(samsa_io *io, const char *path)
{
    (void)io;
    return rmdir(path) < 0 ? -errno : 0;
}

/* Make the directory's entries durable: the names of files created, renamed
 * or removed in it. */
static int
io_dirsync(samsa_io *io, const char *path)
{
    (void)io;
    int fd;
    do
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -errno;
    int rc;
    do
        rc = fsync(fd);
    while (rc < 0 && errno == EINTR);
    int err = rc < 0 ? errno : 0;
    close(fd);
    return -err;
}

/* Close the descriptor, keep the mapping (io.h).  What only the
 * descriptor can tell is learnt first: which file it is, and whether it
 * has blocks for all its bytes (as io_open asks), so that writes inside
 * it still take the copy into the mapping without a descriptor. */
static int
io_shut(samsa_io *io, samsa_io_file *f)
{
    (void)io;
    if (f->fd < 0)
        return 0;
    struct stat st;
    if (fstat(f->fd, &st) == 0) {
        f->dev = st.st_dev;
        f->ino = st.st_ino;
        if (f->writable &&
            (uint64_t)st.st_blocks * 512 >= (uint64_t)st.st_size &&
            (uint64_t)st.st_size > f->mem_end)
            f->mem_end = (uint64_t)st.st_size;
    }
    int rc = close(f->fd) == 0 || errno == EINTR ? 0 : -errno;
    f->fd = -1;
    return rc;
}

static int
io_reopen(samsa_io *io, samsa_io_file *f, const char *path)
{
    (void)io;
    if (f->fd >= 0)
        return 0;
    int fd;
    do
        fd = open(path, (f->writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_dev != f->dev || st.st_ino != f->ino) {
        close(fd);
        return -ESTALE; /* replaced: not the file the mapping shows */
    }
    f->fd = fd;
    return 0;
}

/* Read once: the boot id cannot change while the process runs. */
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;
static char boot_buf[SAMSA_IO_BOOT_ID];
static int boot_rc;

static void
boot_read(void)
{
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        boot_rc = -errno;
        return;
    }
    ssize_t n = read(fd, boot_buf, sizeof boot_buf - 1);
    boot_rc = n < 0 ? -errno : n < 16 ? -EIO : 0;
    close(fd);
    for (ssize_t i = 0; i < n; i++) /* the trailing newline, and after it */
        if (boot_buf[i] == '\n')
            memset(boot_buf + i, 0, sizeof boot_buf - (size_t)i);
}

static int
io_boot_id(samsa_io *io, char out[SAMSA_IO_BOOT_ID])
{
    (void)io;
    pthread_once(&boot_once, boot_read);
    if (boot_rc == 0)
        memcpy(out, boot_buf, SAMSA_IO_BOOT_ID);
    return boot_rc;
}

static samsa_io io_posix = {
    .open = io_open,
    .close = io_close,
    .write = io_write,
    .read = io_read,
    .map = io_map,
    .map_write = io_map_write,
    .map_sync = io_map_sync,
    .sync = io_sync,
    .truncate = io_truncate,
    .allocate = io_allocate,
    .size = io_size,
    .rename = io_rename,
    .unlink = io_unlink,
    .mkdir = io_mkdir,
    .rmdir = io_rmdir,
    .dirsync = io_dirsync,
    .shut = io_shut,
    .reopen = io_reopen,
    .boot_id = io_boot_id,
    .ctx = NULL,
};

samsa_io *
samsa__io_posix(void)
{
    return &io_posix;
}

int
samsa__io_write_all(samsa_io *io, samsa_io_file *f, const void *buf, size_t len,
                    uint64_t off)
{
    ssize_t n = io->write(io, f, buf, len, off);
    if (n < 0)
        return (int)n;
    /* No retry: a short write means the disk is full or failing, and the
     * caller has to deal with the partial bytes (truncate them away)
     * anyway. */
    return (size_t)n == len ? 0 : -EIO;
}
