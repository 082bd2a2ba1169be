/*
 * io.h - the I/O table every file operation of the engine goes through
 * (io_posix.c is the POSIX one; tests wrap it, see test/faultio.c).
 */
#ifndef SAMSA_IO_H
#define SAMSA_IO_H

#include "util/samsa_int.h"

/* ------------------------------------------------------------------------ */
/* The I/O layer (io_posix.c; tests wrap it, see test/faultio.c)            */
/* ------------------------------------------------------------------------ */

/*
 * Every file operation of the log engine goes through one samsa_io table, so
 * that tests can make any call fail (EIO, ENOSPC, a short write) and can
 * simulate a power cut by dropping or tearing the writes not yet synced.
 *
 * Contract:
 *  - All calls return 0 (write/read: the byte count) or -errno; open()
 *    also SAMSA_ECORRUPT for a path that is not a regular file or a
 *    directory (a FIFO, a socket, a device under a segment's name).
 *  - File contents change only through write() and map_write(); the
 *    address map() returns is a read-only view of the file (MAP_SHARED, so
 *    it shows every write at once).  Readers never touch the view past the
 *    bytes they know were written, so a view longer than the file is fine.
 *  - map_write() is the mapped append of the files written by stores into
 *    a mapping (the queue journals, lib/queue/queue_state.c): it copies buf
 *    to [off, off+len) of the file, which map() must have mapped and
 *    allocate() given blocks, and is as durable as write() (the page
 *    cache; kill -9 loses nothing of it).  8 bytes at an 8-byte aligned
 *    offset are one store, after every store before it: a killed process
 *    leaves the old word or the new one, never half of each.  The POSIX
 *    table copies into the mapping, no system call, so a caller may make
 *    one per change.
 *  - map_sync() makes the bytes of [off, off+len) durable (msync(2) of the
 *    pages holding them) with the file's size, whichever call wrote them;
 *    sync() makes the whole file durable.  Both are NULL in the replica
 *    set's table (replica_io.c): the log never maps-writes, and the
 *    journals keep their copies themselves, through the store's table.
 *  - write() may write fewer bytes than asked (a short write); the caller
 *    treats that as an error.
 *  - allocate() reserves disk blocks for [off, off+len) and extends the file
 *    to at least off+len, so later writes there cannot fail for space.
 *  - shut() closes the file's descriptor and keeps the rest: the view
 *    map() gave stays valid, and write() and map_write() still work where
 *    the I/O layer can store into its mapping (the POSIX table: inside
 *    the mapping and the file's allocated blocks); every call that needs
 *    the descriptor fails with -EBADF until reopen() opens path again as
 *    the file's descriptor (-ESTALE when path is no longer the same
 *    file).  A mapping does not count against RLIMIT_NOFILE, a descriptor
 *    does: the store's cap on open files (segcache.c) and the end markers
 *    (log.c) keep files mapped with their descriptors closed.  Shutting
 *    a shut file, or reopening an open one, does nothing.
 */
typedef struct samsa_io samsa_io;
typedef struct samsa_io_file samsa_io_file; /* defined by each implementation */

#define SAMSA_IO_CREATE 0x1 /* create when missing                         */
#define SAMSA_IO_EXCL   0x2 /* with CREATE: fail with -EEXIST if it exists   */
/* Open for reading only.  Without it a symlink is refused (-ELOOP), so
 * that nothing is written through one (io_posix.c, io_open). */
#define SAMSA_IO_RDONLY 0x4

#define SAMSA_IO_BOOT_ID 40 /* bytes of a boot id: 36 characters, NULs     */

struct samsa_io {
    int (*open)(samsa_io *io, const char *path, int flags, samsa_io_file **out);
    int (*close)(samsa_io *io, samsa_io_file *f);
    ssize_t (*write)(samsa_io *io, samsa_io_file *f, const void *buf,
                     size_t len, uint64_t off);
    ssize_t (*read)(samsa_io *io, samsa_io_file *f, void *buf, size_t len,
                    uint64_t off);
    int (*map)(samsa_io *io, samsa_io_file *f, size_t len, const void **addr);
    int (*map_write)(samsa_io *io, samsa_io_file *f, uint64_t off,
                     const void *buf, size_t len); /* see above     */
    int (*map_sync)(samsa_io *io, samsa_io_file *f, uint64_t off,
                    uint64_t len); /* msync of the pages            */
    int (*sync)(samsa_io *io, samsa_io_file *f); /* fdatasync      */
    int (*truncate)(samsa_io *io, samsa_io_file *f, uint64_t size);
    int (*allocate)(samsa_io *io, samsa_io_file *f, uint64_t off, uint64_t len);
    int (*size)(samsa_io *io, samsa_io_file *f, uint64_t *size);
    int (*rename)(samsa_io *io, const char *from, const char *to);
    int (*unlink)(samsa_io *io, const char *path);
    int (*mkdir)(samsa_io *io, const char *path);
    int (*rmdir)(samsa_io *io, const char *path);
    int (*dirsync)(samsa_io *io, const char *path);
    int (*shut)(samsa_io *io, samsa_io_file *f); /* see above      */
    int (*reopen)(samsa_io *io, samsa_io_file *f, const char *path);
    /* The running kernel's boot id (/proc/sys/kernel/random/boot_id) into
     * out, NUL-padded: it tells a process crash, which loses nothing in the
     * page cache, from a machine crash, which may (log.c, "The end
     * marker").  A test table simulating a power cut presents a boot of its
     * own.  -errno when unknown; then nothing unsynced is trusted. */
    int (*boot_id)(samsa_io *io, char out[SAMSA_IO_BOOT_ID]);
    void *ctx; /* the implementation's own state                             */
};

/* The default table: plain POSIX calls.  Static, shared, never freed. */
samsa_io *samsa__io_posix(void);

/* Write all of buf at off through io; a short write becomes -EIO. */
int samsa__io_write_all(samsa_io *io, samsa_io_file *f, const void *buf,
                        size_t len, uint64_t off);

#endif
