/*
 * faultio.h - a samsa_io that breaks on demand, for testing the engine.
 *
 * A faultio wraps the posix table (samsa__io_posix()) and passes every call
 * through, while it
 *
 *  - counts the calls, in total and per operation, so a test can run a
 *    workload once, see how many calls it made, and then fail each of them
 *    in turn;
 *  - fails chosen calls: "the 3rd write from now returns -ENOSPC", "every
 *    sync from the next one on returns -EIO", "the next write writes only 7
 *    bytes", optionally only for files whose path contains a substring;
 *  - keeps, per file, an undo journal of the changes made since the file's
 *    last successful sync, so that faultio_power_cut() can rewrite the files
 *    as a machine crash could have left them.
 *
 * Typical crash test:
 *
 *     faultio *fi = faultio_new();
 *     opts.io = faultio_io(fi);           (however the store takes its io)
 *     samsa_open(dir, &opts, &s);
 *     ... produce, some of it synced ...
 *     E(faultio_power_cut(fi, FAULTIO_DROP_ALL, 0));
 *     samsa_close(s);                      every call fails with -EIO now;
 *     faultio_free(fi);                    the files are not touched
 *     samsa_open(dir, NULL, &s);           plain posix: recovery runs
 *     ... everything synced is there ...
 *
 * Thread safety: every function, and every call through the table, may be
 * made from any thread.  Calls through the table run concurrently with each
 * other (the real I/O is done outside faultio's lock).
 *
 * Boots: each faultio presents a boot id of its own (samsa_io.boot_id),
 * never the machine's.  So files written through one faultio and reopened
 * through the posix table or another faultio look like files from before a
 * reboot: the engine trusts only what was synced (log.c, "The end
 * marker"), which is what a power cut calls for.
 *
 * Limitations of the crash model:
 *
 *  - Directory entries are not simulated: a file created, renamed or
 *    unlinked since its directory's last dirsync keeps its new name after a
 *    power cut, as if the dirsync had happened.  Only file contents and file
 *    sizes are reverted.
 *  - Files are known by the path string they were opened with; the same
 *    file reached by two spellings (relative and absolute, symlinks) gets two
 *    journals.
 *  - The journal starts with the first change made through this faultio:
 *    whatever state a file had before is taken to be durable.
 *  - Only changes made through the table are journaled.  Bytes stored into
 *    a mapping directly (the table hands out read-only views) are not;
 *    map_write() is journaled as a write.
 *  - map_sync() makes durable, of the changes made before it started, the
 *    bytes written to the pages it covers (4096-byte pages, so a write
 *    across its ends stays unsynced outside) and every size change (as
 *    msync(2) on Linux, an fdatasync of a range, makes the size durable);
 *    a write older than a size change it makes durable loses its part
 *    past a truncation's size (that part of the file is gone for good).
 *  - faultio_power_cut() changes the files under any mapping still open.
 *    A handle abandoned after the cut must not be read through: its views
 *    show the reverted bytes, and past a shortened EOF they raise SIGBUS.
 */
#ifndef SAMSA_FAULTIO_H
#define SAMSA_FAULTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/log.h"

typedef struct faultio faultio;

/* The operations of samsa_io, one per function pointer. */
typedef enum faultio_op {
    FAULTIO_OPEN,
    FAULTIO_CLOSE,
    FAULTIO_WRITE,
    FAULTIO_READ,
    FAULTIO_MAP,
    FAULTIO_SYNC,
    FAULTIO_TRUNCATE,
    FAULTIO_ALLOCATE,
    FAULTIO_SIZE,
    FAULTIO_RENAME,
    FAULTIO_UNLINK,
    FAULTIO_MKDIR,
    FAULTIO_RMDIR,
    FAULTIO_DIRSYNC,
    FAULTIO_MAP_WRITE, /* the mapped append (io.h)                          */
    FAULTIO_MAP_SYNC,  /* its msync: a sync of a range of pages             */
    FAULTIO_NOPS, /* how many there are                                   */
    FAULTIO_ANY = FAULTIO_NOPS /* faultio_fail(), faultio_calls(): any op */
} faultio_op;

/* What faultio_power_cut() does with the changes not yet synced. */
typedef enum faultio_cut {
    FAULTIO_KEEP_ALL, /* nothing is lost (the page cache was written back) */
    FAULTIO_DROP_ALL, /* every file goes back to its last synced contents
                         and size, exactly                                 */
    FAULTIO_RANDOM    /* each change kept, dropped or torn at random       */
} faultio_cut;

/* A new faultio with no faults armed and no filter.  Aborts when out of
 * memory (it is test code). */
faultio *faultio_new(void);

/* Free f.  Every file opened through it must have been closed first (after
 * a power cut too: close still releases the handle); aborts otherwise. */
void faultio_free(faultio *f);

/* The table to hand to the code under test; valid until faultio_free(). */
samsa_io *faultio_io(faultio *f);

/* Calls made through the table since faultio_new(): of one operation, or of
 * all with FAULTIO_ANY.  Every call counts, failed and filtered ones too. */
uint64_t faultio_calls(faultio *f, faultio_op op);

/* The calls of faultio_calls() that passed the filter (faultio_filter())
 * while the power was on: those an armed fault counts. */
uint64_t faultio_calls_passing(faultio *f, faultio_op op);

/* "write", "sync", ... for messages; "any" for FAULTIO_ANY. */
const char *faultio_op_name(faultio_op op);

/*
 * Arm a fault: the nth call of op from now (1 is the next one; op may be
 * FAULTIO_ANY) fails with -err, err being a positive errno such as EIO or
 * ENOSPC.  With sticky, every later call of op fails the same way too, until
 * faultio_clear().  Only calls that pass the filter count.
 *
 * A failed call does nothing (the real call is not made), except close,
 * which releases the handle anyway and then returns -err.
 *
 * Several faults may be armed at once (up to 16); each counts calls on its
 * own.  When two fire on the same call, the one armed first decides what
 * happens, and both are spent (unless sticky).
 */
void faultio_fail(faultio *f, faultio_op op, uint64_t nth, int err,
                  bool sticky);

/* Arm a short write: the nth write from now (passing the filter) writes only
 * its first keep_bytes bytes (all of them if it has no more) and returns
 * that count.  samsa__io_write_all() turns it into -EIO. */
void faultio_short_write(faultio *f, uint64_t nth, size_t keep_bytes);

/* Only calls on paths containing substr (a file's path for calls on an open
 * file, either path of a rename) count toward and trigger the armed faults;
 * NULL removes the filter.  The string is copied.  Counting by
 * faultio_calls() and the power-cut journal ignore the filter. */
void faultio_filter(faultio *f, const char *substr);

/* Disarm every pending and sticky fault.  Counters and filter stay. */
void faultio_clear(faultio *f);

/* How many calls an armed fault has failed or shortened so far. */
uint64_t faultio_injected(faultio *f);

/* How many changes (writes, truncations, allocations) are journaled as not
 * yet synced, over the files whose path contains substr (NULL: all). */
size_t faultio_unsynced(faultio *f, const char *substr);

/*
 * Pull the plug.  Waits for the calls in flight to finish, then rewrites the
 * files as a crash could have left them, per mode:
 *
 *  KEEP_ALL  nothing changes on disk.
 *  DROP_ALL  every unsynced change is undone, newest first: every file is
 *            back to the contents and size it had at its last sync.
 *  RANDOM    each unsynced change, newest first, is independently kept,
 *            dropped, or (a write only) torn: only a prefix of whole,
 *            aligned 512-byte sectors of it kept.  A write inside one sector
 *            cannot tear and is dropped instead.  Choices come from seed:
 *            the same seed and the same calls give the same files.  Synced
 *            bytes are never lost; a dropped write that a later kept change
 *            made the file grow past reads as zeros.
 *
 * Afterwards the machine is off: every call through the table fails with
 * -EIO and changes nothing (close still releases the handle), so a store
 * still open on f cannot write anything more.  f cannot be powered back on;
 * reopen the files with the posix table or a new faultio.
 *
 * Returns 0, or -errno if rewriting a file failed.
 */
int faultio_power_cut(faultio *f, faultio_cut mode, uint64_t seed);

/*
 * Enumerating crash states without pulling the plug.  The unsynced changes
 * of the files under root (a directory path as the files were opened
 * under) can end a crash in faultio_crash_states() ways: each write kept,
 * dropped, or torn after any sector boundary strictly inside it; each
 * size change kept or dropped (saturating at UINT64_MAX).  *low (unless
 * NULL) gets the ways of the `newest` newest changes alone: the states
 * below it vary only those, and state number l + *low * h is state l of
 * those with state h of the older ones.
 *
 * faultio_crash_apply() writes state number `state` (0 .. states-1, the
 * newest change varying fastest) into the files under `to`, which must
 * hold byte-for-byte copies of the files under root as they are now (the
 * state where everything is kept): the same undo as faultio_power_cut(),
 * on the copies.  Nothing under root changes and the power stays on, so a
 * test can try many states of one moment and then let the workload go on.
 * Returns 0 or -errno.
 *
 * faultio_on_sync() sets fn (NULL: none) to be called with the file's path
 * on the thread of each sync or map_sync call through the table, before
 * the sync is made: "the power goes just before this sync".  It runs outside
 * faultio's lock and may call faultio_crash_*(), but must not call through the
 * table.
 *
 * faultio_on_dirsync() sets fn (NULL: none) to be called with the
 * directory's path after each dirsync through the table succeeded: the
 * entries the directory held when it ran are durable from then on, which
 * a test that models lost directory entries (faultio itself does not, see
 * above) needs to know.  Same rules as faultio_on_sync()'s fn.
 *
 * faultio_on_open() sets fn (NULL: none) to be called with the path after
 * each open through the table succeeded, before the caller has the handle:
 * a test can change the file system under a file just opened (a directory
 * removed while a segment is being created).  Same rules.
 */
typedef void (*faultio_sync_fn)(void *ctx, const char *path);
uint64_t faultio_crash_states(faultio *f, const char *root, size_t newest,
                              uint64_t *low);
int faultio_crash_apply(faultio *f, const char *root, const char *to,
                        uint64_t state);
void faultio_on_sync(faultio *f, faultio_sync_fn fn, void *ctx);
void faultio_on_dirsync(faultio *f, faultio_sync_fn fn, void *ctx);
void faultio_on_open(faultio *f, faultio_sync_fn fn, void *ctx);

#endif
