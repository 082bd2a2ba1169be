/*
 * check_io.c - the posix I/O table (io_posix.c) and the fault-injecting one
 * the engine's tests use (faultio.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "faultio.h"
#include "storage/pretouch.h"
#include "test.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* Non-zero bytes that differ with seed and position. */
static void
fill(unsigned char *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)((seed * 31u + i * 7u) % 251u + 1u);
}

/* The whole file at path, read with plain syscalls (not through any io
 * table); *len gets its size.  Free the result. */
static unsigned char *
slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    *len = (size_t)st.st_size;
    unsigned char *buf = malloc(*len + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(pread(fd, buf, *len, 0), (ssize_t)*len);
    close(fd);
    return buf;
}

static uint64_t
file_size(samsa_io *io, samsa_io_file *f)
{
    uint64_t size = 0;
    E(io->size(io, f, &size));
    return size;
}

/* dir/name in buf, which has PATH_BUF bytes: test_path() has only four
 * static buffers, too few for the paths some tests keep. */
#define PATH_BUF 512
static const char *
pathbuf(char *buf, const char *dir, const char *name)
{
    snprintf(buf, PATH_BUF, "%s/%s", dir, name);
    return buf;
}

static bool
exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Write syscalls this process made so far (/proc/self/io), or -1 where the
 * kernel does not say.  Tells the mapped write path from pwrite(). */
static long
syscw(void)
{
    FILE *fp = fopen("/proc/self/io", "r");
    long n = -1;
    char line[128];
    if (fp == NULL)
        return -1;
    while (fgets(line, sizeof line, fp) != NULL)
        if (sscanf(line, "syscw: %ld", &n) == 1)
            break;
    fclose(fp);
    return n;
}

/* Whether the count means anything here: two readings in a row must agree.
 * Under valgrind they do not (its scheduler writes to a pipe around every
 * system call). */
static bool
syscw_usable(void)
{
    long a = syscw(), b = syscw();
    return a >= 0 && a == b;
}

/* WRITES(n, stmt): stmt makes exactly n write syscalls (unchecked where
 * they cannot be counted).  No assertion may run inside stmt: Check reports
 * passed assertions to the runner by writing to a file. */
#define WRITES(n, stmt)                                                        \
    do {                                                                       \
        bool ok_ = syscw_usable();                                             \
        long w0_ = syscw();                                                    \
        stmt;                                                                  \
        long w1_ = syscw();                                                    \
        if (ok_)                                                               \
            ck_assert_msg(w1_ - w0_ == (n), "%s: %ld writes, want %d", #stmt,  \
                          w1_ - w0_, (n));                                     \
    } while (0)

/* ------------------------------------------------------------------------ */
/* io_posix                                                                 */
/* ------------------------------------------------------------------------ */

/* In a preallocated, mapped file small writes are a memcpy (large ones
 * pwrite); the bytes are the same through the view, read() and another
 * descriptor either way. */
START_TEST(posix_mapped_write)
{
    const char *dir = test_dir_make();
    const char *path = test_path(dir, "a.log");
    samsa_io *io = samsa__io_posix();
    samsa_io_file *f;
    const void *view;
    unsigned char buf[8192], back[8192];
    ssize_t n1, n2;

    E(io->open(io, path, SAMSA_IO_CREATE | SAMSA_IO_EXCL, &f));
    E(io->allocate(io, f, 0, 8192));
    ck_assert_uint_eq(file_size(io, f), 8192);
    E(io->map(io, f, 8192, &view));

    fill(buf, sizeof buf, 1);
    WRITES(0, n1 = io->write(io, f, buf, 100, 0);
           n2 = io->write(io, f, buf + 7192, 1000, 7192));
    ck_assert_int_eq(n1, 100);
    ck_assert_int_eq(n2, 1000);
    n1 = io->write(io, f, buf + 1000, 6192, 1000); /* large: pwrite */
    ck_assert_int_eq(n1, 6192);
    ck_assert_mem_eq(view, buf, 100);
    ck_assert_mem_eq((const char *)view + 1000, buf + 1000, 7192);
    ck_assert_int_eq(io->read(io, f, back, 100, 0), 100);
    ck_assert_mem_eq(back, buf, 100);
    ck_assert_int_eq(io->read(io, f, back, 7192, 1000), 7192);
    ck_assert_mem_eq(back, buf + 1000, 7192);

    size_t len;
    unsigned char *disk = slurp(path, &len);
    ck_assert_uint_eq(len, 8192);
    ck_assert_mem_eq(disk, buf, 100);
    ck_assert_mem_eq(disk + 1000, buf + 1000, 7192);
    free(disk);

    /* Past the end of the file (and of the view): pwrite, which extends. */
    WRITES(1, n1 = io->write(io, f, buf, 100, 8192));
    ck_assert_int_eq(n1, 100);
    ck_assert_uint_eq(file_size(io, f), 8292);
    ck_assert_int_eq(io->read(io, f, back, 100, 8192), 100);
    ck_assert_mem_eq(back, buf, 100);
    ck_assert_int_eq(io->read(io, f, back, 100, 8292), 0); /* EOF */
    E(io->sync(io, f));
    E(io->close(io, f));
    test_dir_remove(dir);
}
END_TEST

/* KiB of the mapping at view that this process has in its page tables
 * (the Rss line of /proc/self/smaps): a copy into a page maps that page,
 * and populating maps every page of its range.  (Page cache residency,
 * mincore(2), would not tell: a fault reads ahead around it.) */
static long
mapped_kib(const void *view)
{
    FILE *fp = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(fp);
    char line[512], start[32];
    snprintf(start, sizeof start, "%lx-", (unsigned long)(uintptr_t)view);
    bool in = false;
    long kib = -1;
    while (fgets(line, sizeof line, fp) != NULL) {
        if (strncmp(line, start, strlen(start)) == 0)
            in = true;
        else if (in && sscanf(line, "Rss: %ld kB", &kib) == 1)
            break;
    }
    fclose(fp);
    ck_assert_msg(kib >= 0, "no mapping at %p in smaps", view);
    return kib;
}

/* Whether this kernel populates a shared mapping on request (Linux 5.14):
 * without it io_posix copies and faults page by page, which is correct,
 * only slower. */
static bool
populate_supported(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(p, MAP_FAILED);
    bool ok = madvise(p, page, 23 /* MADV_POPULATE_WRITE */) == 0;
    munmap(p, page);
    return ok;
}

/* The copy path keeps the pages up to 1 MiB ahead of the writer
 * populated, only inside what allocate() reserved and never in a file
 * synced while written: the first window itself, the pages after it by
 * the pretoucher's thread (waited for here, as it runs beside the
 * writer).  The pages populated read as zeros, and take no disk blocks
 * the allocation had not.  The residency asserts fail when each page is
 * faulted in by its own copy, or when the pretoucher does not ready the
 * pages past the writer's own window. */
START_TEST(posix_prefault)
{
    const char *dir = test_dir_make();
    char p1[PATH_BUF], p2[PATH_BUF];
    samsa_io *io = samsa__io_posix();
    samsa_io_file *f;
    const void *view;
    unsigned char buf[100];
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const uint64_t mib = 1u << 20, alloc = mib + mib / 2 + 100;
    bool pop = populate_supported();
    struct stat st0, st1;

    fill(buf, sizeof buf, 9);
    E(io->open(io, pathbuf(p1, dir, "a.log"), SAMSA_IO_CREATE, &f));
    E(io->allocate(io, f, 0, alloc));
    E(io->map(io, f, 4 * mib, &view));
    ck_assert_int_eq(stat(p1, &st0), 0);
    ck_assert_int_eq(mapped_kib(view), 0);
    ck_assert_int_eq(io->write(io, f, buf, 100, 0), 100);
    pretouch_wait_idle();
    ck_assert_int_eq(mapped_kib(view), pop ? 1024 : (long)page / 1024);
    /* 80 KiB on: the pretoucher readies the pages up to 1 MiB past its
     * end, beyond the writer's own first window. */
    ck_assert_int_eq(io->write(io, f, buf, 100, 4096 * 20), 100);
    pretouch_wait_idle();
    ck_assert_int_eq(mapped_kib(view),
                     pop ? (long)((4096 * 20 + 100 + mib) / page * page / 1024)
                         : 2 * (long)page / 1024);
    /* Across the first window's edge: the pages ahead stop at the last
     * whole page inside the allocation. */
    ck_assert_int_eq(io->write(io, f, buf, 100, mib - 50), 100);
    pretouch_wait_idle();
    if (pop)
        ck_assert_int_eq(mapped_kib(view), 1536);
    ck_assert_int_eq(stat(p1, &st1), 0);
    ck_assert_int_eq(st1.st_blocks, st0.st_blocks);
    ck_assert_uint_eq(file_size(io, f), alloc);
    E(io->close(io, f));

    size_t len;
    unsigned char *disk = slurp(p1, &len);
    ck_assert_uint_eq(len, alloc);
    ck_assert_mem_eq(disk, buf, 100);
    ck_assert_mem_eq(disk + 4096 * 20, buf, 100);
    ck_assert_mem_eq(disk + mib - 50, buf, 100);
    /* One check of the first byte not zero: a check a byte took 8 s of
     * make check's ASan run. */
    size_t nz = len;
    for (size_t i = 100; i < len && nz == len; i++)
        if ((i < 4096 * 20 || i >= 4096 * 20 + 100) &&
            (i < mib - 50 || i >= mib + 50) && disk[i] != 0)
            nz = i;
    ck_assert_msg(nz == len, "byte %zu is %u", nz, nz < len ? disk[nz] : 0);
    free(disk);

    /* Synced as written: no copy into the mapping, nothing populated. */
    E(io->open(io, pathbuf(p2, dir, "b.log"), SAMSA_IO_CREATE, &f));
    E(io->allocate(io, f, 0, mib));
    E(io->map(io, f, mib, &view));
    E(io->sync(io, f));
    ck_assert_int_eq(io->write(io, f, buf, 100, 0), 100);
    ck_assert_int_eq(mapped_kib(view), 0);
    ck_assert_mem_eq(view, buf, 100);
    E(io->close(io, f));
    test_dir_remove(dir);
}
END_TEST

/* The pretoucher reads the pages it readies, so nothing may move EOF
 * below them or unmap them while it is in them: truncate(), a new map()
 * and close() wait for it first.  Each round asks it for a megabyte and
 * at once cuts the file to nothing (a read there would be SIGBUS), maps
 * it again larger, or closes it (the last file's close stops the thread;
 * the next round's write starts another).  Without the waits this dies
 * within a few rounds; the bytes written are all there after each. */
START_TEST(posix_pretouch_cancel)
{
    const char *dir = test_dir_make();
    const char *path = test_path(dir, "a.log");
    samsa_io *io = samsa__io_posix();
    const uint64_t mib = 1u << 20;
    unsigned char buf[100], back[100];
    fill(buf, sizeof buf, 3);
    for (int round = 0; round < 60; round++) {
        samsa_io_file *f;
        const void *view;
        E(io->open(io, path, SAMSA_IO_CREATE, &f));
        E(io->truncate(io, f, 0));
        E(io->allocate(io, f, 0, 8 * mib));
        E(io->map(io, f, 8 * mib, &view));
        /* Past the writer's own first window: the next megabyte is the
         * pretoucher's. */
        for (uint64_t off = 0; off < 2 * mib; off += 64 << 10)
            ck_assert_int_eq(io->write(io, f, buf, 100, off), 100);
        switch (round % 3) {
        case 0:
            E(io->truncate(io, f, 100));
            ck_assert_uint_eq(file_size(io, f), 100);
            break;
        case 1:
            E(io->map(io, f, 16 * mib, &view));
            break;
        }
        ck_assert_int_eq(io->read(io, f, back, 100, 0), 100);
        ck_assert_mem_eq(back, buf, 100);
        E(io->close(io, f));
    }
    pretouch_wait_idle();
    test_dir_remove(dir);
}
END_TEST

/* A file whose last sync followed at most 64 writes is written with
 * pwrite (each fdatasync write-protects the pages a copy would fault on
 * again); a sync after more writes turns the copy path back on.  The
 * bytes are the same either way. */
START_TEST(posix_synced_often)
{
    const char *dir = test_dir_make();
    const char *path = test_path(dir, "a.log");
    samsa_io *io = samsa__io_posix();
    samsa_io_file *f;
    const void *view;
    unsigned char buf[100 * 70];
    ssize_t n = 0;

    fill(buf, sizeof buf, 5);
    E(io->open(io, path, SAMSA_IO_CREATE | SAMSA_IO_EXCL, &f));
    E(io->allocate(io, f, 0, sizeof buf));
    E(io->map(io, f, sizeof buf, &view));
    WRITES(0, n = io->write(io, f, buf, 100, 0));
    ck_assert_int_eq(n, 100);
    E(io->sync(io, f)); /* after 1 write: synced often */
    WRITES(1, n = io->write(io, f, buf + 100, 100, 100));
    ck_assert_int_eq(n, 100);
    E(io->sync(io, f));
    /* 65 writes before the next sync: the copy path again after it. */
    size_t off = 200;
    for (int i = 0; i < 65; i++, off += 100)
        ck_assert_int_eq(io->write(io, f, buf + off, 100, off), 100);
    E(io->sync(io, f));
    WRITES(0, n = io->write(io, f, buf + off, 100, off));
    ck_assert_int_eq(n, 100);
    off += 100;
    ck_assert_mem_eq(view, buf, off);
    E(io->close(io, f));

    size_t len;
    unsigned char *disk = slurp(path, &len);
    ck_assert_uint_eq(len, sizeof buf);
    ck_assert_mem_eq(disk, buf, off);
    free(disk);
    test_dir_remove(dir);
}
END_TEST

/* The mapped append (the queue journals): map_write is a copy into the
 * mapping, no system call, at any length inside the allocated size, and a
 * pwrite past it; map_sync syncs the pages of a range of the mapping. */
START_TEST(posix_map_append)
{
    const char *dir = test_dir_make();
    const char *path = test_path(dir, "a.journal");
    samsa_io *io = samsa__io_posix();
    samsa_io_file *f;
    const void *view;
    unsigned char buf[8192];
    int r1 = -1, r2 = -1, r3 = -1;

    E(io->open(io, path, SAMSA_IO_CREATE | SAMSA_IO_EXCL, &f));
    E(io->allocate(io, f, 0, 8192));
    E(io->map(io, f, 16384, &view)); /* longer than the file, as journals */
    fill(buf, sizeof buf, 3);
    WRITES(0, r1 = io->map_write(io, f, 40, buf, 24);
           r2 = io->map_write(io, f, 24, buf + 24, 8);
           r3 = io->map_write(io, f, 100, buf + 100, 5000));
    E(r1);
    E(r2);
    E(r3);
    ck_assert_mem_eq((const char *)view + 24, buf + 24, 8);
    ck_assert_mem_eq((const char *)view + 40, buf, 24);
    ck_assert_mem_eq((const char *)view + 100, buf + 100, 5000);
    E(io->map_sync(io, f, 40, 24));
    E(io->map_sync(io, f, 100, 5000));
    EQ_RC(io->map_sync(io, f, 16000, 1000), -EINVAL); /* past the view */
    /* Past the allocated size: pwrite, which extends the file. */
    WRITES(1, r1 = io->map_write(io, f, 8192, buf, 100));
    E(r1);
    ck_assert_uint_eq(file_size(io, f), 8292);
    ck_assert_mem_eq((const char *)view + 8192, buf, 100);
    E(io->close(io, f));

    size_t len;
    unsigned char *disk = slurp(path, &len);
    ck_assert_uint_eq(len, 8292);
    ck_assert_mem_eq(disk + 40, buf, 24);
    ck_assert_mem_eq(disk + 100, buf + 100, 5000);
    free(disk);
    test_dir_remove(dir);
}
END_TEST

/* The mapped path is taken only inside the size the file is known to have
 * and to have blocks for; elsewhere pwrite, never SIGBUS. */
START_TEST(posix_known_size)
{
    const char *dir = test_dir_make();
    const char *path = test_path(dir, "b.log");
    samsa_io *io = samsa__io_posix();
    samsa_io_file *f;
    const volatile unsigned char *view;
    unsigned char buf[4096], back[4096];
    ssize_t n;

    fill(buf, sizeof buf, 2);
    E(io->open(io, path, SAMSA_IO_CREATE, &f));
    E(io->map(io, f, 65536, (const void **)&view));

    /* Empty file: pwrite, which makes [0, 100) known. */
    WRITES(1, n = io->write(io, f, buf, 100, 0));
    ck_assert_int_eq(n, 100);
    ck_assert_uint_eq(file_size(io, f), 100);
    ck_assert_mem_eq((const void *)view, buf, 100);
    /* Inside it: memcpy. */
    WRITES(0, n = io->write(io, f, buf + 200, 30, 50));
    ck_assert_int_eq(n, 30);
    ck_assert_int_eq(io->read(io, f, back, 30, 50), 30);
    ck_assert_mem_eq(back, buf + 200, 30);

    /* Shrunk: the cut-off part is past EOF again. */
    E(io->truncate(io, f, 60));
    ck_assert_uint_eq(file_size(io, f), 60);
    WRITES(1, n = io->write(io, f, buf, 10, 70));
    ck_assert_int_eq(n, 10);
    ck_assert_uint_eq(file_size(io, f), 80);
    ck_assert_int_eq(io->read(io, f, back, 20, 60), 20);
    for (int i = 0; i < 10; i++)
        ck_assert_uint_eq(back[i], 0);
    ck_assert_mem_eq(back + 10, buf, 10);

    /* Grown by truncate: a hole, no blocks, so pwrite. */
    E(io->truncate(io, f, 8192));
    ck_assert_uint_eq(file_size(io, f), 8192);
    WRITES(1, n = io->write(io, f, buf, 100, 1000));
    ck_assert_int_eq(n, 100);

    /* Allocated: blocks and size, memcpy from there on. */
    E(io->allocate(io, f, 0, 16384));
    ck_assert_uint_eq(file_size(io, f), 16384);
    WRITES(0, n = io->write(io, f, buf, 1000, 15384));
    ck_assert_int_eq(n, 1000);
    ck_assert_mem_eq((const void *)(view + 15384), buf, 1000);
    /* Allocating inside the file changes no size. */
    E(io->allocate(io, f, 0, 100));
    ck_assert_uint_eq(file_size(io, f), 16384);
    E(io->close(io, f));

    /* Reopened preallocated file: memcpy at once. */
    E(io->open(io, path, 0, &f));
    E(io->map(io, f, 16384, (const void **)&view));
    WRITES(0, n = io->write(io, f, buf + 100, 64, 16000));
    ck_assert_int_eq(n, 64);
    E(io->close(io, f));

    size_t len;
    unsigned char *disk = slurp(path, &len);
    ck_assert_uint_eq(len, 16384);
    ck_assert_mem_eq(disk + 15384, buf, 616);
    ck_assert_mem_eq(disk + 16000, buf + 100, 64);
    free(disk);
    test_dir_remove(dir);
}
END_TEST

/* A second map() returns the same view, or a larger one while the first
 * stays valid until close. */
START_TEST(posix_map_again)
{
    const char *dir = test_dir_make();
    samsa_io *io = samsa__io_posix();
    samsa_io_file *f;
    const void *v1, *v2, *v3;
    unsigned char buf[100];

    fill(buf, sizeof buf, 3);
    E(io->open(io, test_path(dir, "m"), SAMSA_IO_CREATE, &f));
    E(samsa__io_write_all(io, f, buf, sizeof buf, 0));
    E(io->map(io, f, 4096, &v1));
    E(io->map(io, f, 100, &v2));
    ck_assert_ptr_eq(v1, v2);
    E(io->map(io, f, 1 << 20, &v3));
    ck_assert_mem_eq(v1, buf, sizeof buf);
    ck_assert_mem_eq(v3, buf, sizeof buf);
    E(io->close(io, f));
    test_dir_remove(dir);
}
END_TEST

START_TEST(posix_errors)
{
    const char *dir = test_dir_make();
    samsa_io *io = samsa__io_posix();
    samsa_io_file *f;
    const void *view;
    char file[PATH_BUF], sub[PATH_BUF];
    pathbuf(file, dir, "f");
    pathbuf(sub, dir, "sub");

    EQ_RC(io->open(io, file, 0, &f), -ENOENT);
    E(io->open(io, file, SAMSA_IO_CREATE | SAMSA_IO_EXCL, &f));
    E(io->close(io, f));
    EQ_RC(io->open(io, file, SAMSA_IO_CREATE | SAMSA_IO_EXCL, &f), -EEXIST);

    E(io->open(io, file, SAMSA_IO_RDONLY, &f));
    ck_assert_int_eq(io->write(io, f, "x", 1, 0), -EBADF);
    EQ_RC(io->map(io, f, 0, &view), -EINVAL);
    E(io->map(io, f, 4096, &view)); /* a read-only view of a read-only file */
    /* Read-only and mapped: still no way to write. */
    ck_assert_int_eq(io->write(io, f, "x", 1, 0), -EBADF);
    EQ_RC(io->truncate(io, f, 10), -EINVAL);
    E(io->close(io, f));

    EQ_RC(io->rename(io, test_path(dir, "nope"), file), -ENOENT);
    EQ_RC(io->unlink(io, test_path(dir, "nope")), -ENOENT);
    EQ_RC(io->rmdir(io, sub), -ENOENT);
    EQ_RC(io->dirsync(io, sub), -ENOENT);
    EQ_RC(io->dirsync(io, file), -ENOTDIR);
    EQ_RC(io->mkdir(io, test_path(sub, "x")), -ENOENT);
    E(io->mkdir(io, sub));
    EQ_RC(io->mkdir(io, sub), -EEXIST);
    E(io->dirsync(io, sub));
    E(io->rename(io, file, test_path(sub, "g")));
    ck_assert(!exists(file));
    EQ_RC(io->rmdir(io, sub), -ENOTEMPTY);
    E(io->unlink(io, test_path(sub, "g")));
    E(io->rmdir(io, sub));
    E(io->dirsync(io, dir));
    ck_assert(!exists(sub));
    test_dir_remove(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* faultio: counting and injected failures                                  */
/* ------------------------------------------------------------------------ */

START_TEST(fault_nth_once)
{
    const char *dir = test_dir_make();
    const char *path = test_path(dir, "a.log");
    faultio *fi = faultio_new();
    samsa_io *io = faultio_io(fi);
    samsa_io_file *f;

    E(io->open(io, path, SAMSA_IO_CREATE, &f));
    faultio_fail(fi, FAULTIO_WRITE, 2, EIO, false);
    ck_assert_int_eq(io->write(io, f, "aa", 2, 0), 2);
    ck_assert_int_eq(io->write(io, f, "bb", 2, 2), -EIO);
    ck_assert_int_eq(io->write(io, f, "cc", 2, 4), 2);
    ck_assert_int_eq(io->write(io, f, "dd", 2, 6), 2);
    ck_assert_uint_eq(faultio_injected(fi), 1);
    ck_assert_uint_eq(faultio_calls(fi, FAULTIO_WRITE), 4);
    ck_assert_uint_eq(faultio_calls(fi, FAULTIO_OPEN), 1);
    ck_assert_uint_eq(faultio_calls(fi, FAULTIO_SYNC), 0);
    ck_assert_uint_eq(faultio_calls(fi, FAULTIO_ANY), 5);
    E(io->close(io, f));
    ck_assert_uint_eq(faultio_calls(fi, FAULTIO_CLOSE), 1);

    /* The failed write did nothing. */
    size_t len;
    unsigned char *disk = slurp(path, &len);
    ck_assert_uint_eq(len, 8);
    ck_assert_mem_eq(disk, "aa\0\0ccdd", 8);
    free(disk);

    ck_assert_str_eq(faultio_op_name(FAULTIO_WRITE), "write");
    ck_assert_str_eq(faultio_op_name(FAULTIO_DIRSYNC), "dirsync");
    ck_assert_str_eq(faultio_op_name(FAULTIO_MAP_WRITE), "map_write");
    ck_assert_str_eq(faultio_op_name(FAULTIO_MAP_SYNC), "map_sync");
    ck_assert_str_eq(faultio_op_name(FAULTIO_ANY), "any");
    faultio_free(fi);
    test_dir_remove(dir);
}
END_TEST

START_TEST(fault_sticky)
{
    const char *dir = test_dir_make();
    faultio *fi = faultio_new();
    samsa_io *io = faultio_io(fi);
    samsa_io_file *f;

    E(io->open(io, test_path(dir, "s"), SAMSA_IO_CREATE, &f));
    faultio_fail(fi, FAULTIO_SYNC, 2, ENOSPC, true);
    E(io->sync(io, f));
    for (int i = 0; i < 5; i++)
        EQ_RC(io->sync(io, f), -ENOSPC);
    ck_assert_uint_eq(faultio_injected(fi), 5);
    E(io->size(io, f, &(uint64_t){0})); /* other ops unaffected */
    faultio_clear(fi);
    E(io->sync(io, f));
    ck_assert_uint_eq(faultio_calls(fi, FAULTIO_SYNC), 7);
    E(io->close(io, f));
    faultio_free(fi);
    test_dir_remove(dir);
}
END_TEST

/* FAULTIO_ANY counts calls of every kind; an injected open creates
 * nothing; an injected close releases the handle anyway. */
START_TEST(fault_any_open_close)
{
    const char *dir = test_dir_make();
    const char *path = test_path(dir, "x");
    faultio *fi = faultio_new();
    samsa_io *io = faultio_io(fi);
    samsa_io_file *f;
    char c;

    faultio_fail(fi, FAULTIO_OPEN, 1, EACCES, false);
    EQ_RC(io->open(io, path, SAMSA_IO_CREATE, &f), -EACCES);
    ck_assert(!exists(path));

    E(io->open(io, path, SAMSA_IO_CREATE, &f));
    faultio_fail(fi, FAULTIO_ANY, 3, EIO, false);
    E(io->size(io, f, &(uint64_t){0}));
    ck_assert_int_eq(io->read(io, f, &c, 1, 0), 0);
    ck_assert_int_eq(io->write(io, f, "x", 1, 0), -EIO);
    ck_assert_int_eq(io->write(io, f, "x", 1, 0), 1);

    faultio_fail(fi, FAULTIO_CLOSE, 1, EIO, false);
    EQ_RC(io->close(io, f), -EIO);
    ck_assert_uint_eq(faultio_injected(fi), 3);
    faultio_free(fi); /* would abort if the close had kept the file open */
    test_dir_remove(dir);
}
END_TEST

START_TEST(fault_short_write)
{
    const char *dir = test_dir_make();
    const char *path = test_path(dir, "w");
    faultio *fi = faultio_new();
    samsa_io *io = faultio_io(fi);
    samsa_io_file *f;

    E(io->open(io, path, SAMSA_IO_CREATE, &f));
    faultio_short_write(fi, 1, 3);
    ck_assert_int_eq(io->write(io, f, "0123456789", 10, 0), 3);
    ck_assert_uint_eq(file_size(io, f), 3);
    faultio_short_write(fi, 2, 4);
    E(samsa__io_write_all(io, f, "abc", 3, 3));
    EQ_RC(samsa__io_write_all(io, f, "0123456789", 10, 6), -EIO);
    ck_assert_uint_eq(file_size(io, f), 10);
    /* Not short when the write has no more than keep_bytes. */
    faultio_short_write(fi, 1, 100);
    ck_assert_int_eq(io->write(io, f, "xy", 2, 10), 2);
    ck_assert_uint_eq(faultio_injected(fi), 3);
    E(io->close(io, f));

    size_t len;
    unsigned char *disk = slurp(path, &len);
    ck_assert_uint_eq(len, 12);
    ck_assert_mem_eq(disk, "012abc0123xy", 12);
    free(disk);
    faultio_free(fi);
    test_dir_remove(dir);
}
END_TEST

START_TEST(fault_filter)
{
    const char *dir = test_dir_make();
    faultio *fi = faultio_new();
    samsa_io *io = faultio_io(fi);
    samsa_io_file *log, *idx;

    E(io->open(io, test_path(dir, "0.log"), SAMSA_IO_CREATE, &log));
    E(io->open(io, test_path(dir, "0.index"), SAMSA_IO_CREATE, &idx));
    faultio_filter(fi, ".log");

    /* Only writes to .log files count toward the 2nd. */
    faultio_fail(fi, FAULTIO_WRITE, 2, EIO, false);
    ck_assert_int_eq(io->write(io, idx, "i", 1, 0), 1);
    ck_assert_int_eq(io->write(io, log, "l", 1, 0), 1);
    ck_assert_int_eq(io->write(io, idx, "i", 1, 1), 1);
    ck_assert_int_eq(io->write(io, log, "l", 1, 1), -EIO);
    ck_assert_uint_eq(faultio_calls(fi, FAULTIO_WRITE), 4);

    faultio_fail(fi, FAULTIO_SYNC, 1, EIO, true);
    E(io->sync(io, idx));
    EQ_RC(io->sync(io, log), -EIO);
    E(io->sync(io, idx));
    EQ_RC(io->sync(io, log), -EIO);
    faultio_clear(fi);

    /* Path operations: either path of a rename matches. */
    faultio_fail(fi, FAULTIO_RENAME, 1, EXDEV, true);
    faultio_fail(fi, FAULTIO_UNLINK, 1, EPERM, false);
    E(io->rename(io, test_path(dir, "0.index"), test_path(dir, "1.index")));
    EQ_RC(io->rename(io, test_path(dir, "1.index"), test_path(dir, "1.log")),
          -EXDEV);
    EQ_RC(io->rename(io, test_path(dir, "0.log"), test_path(dir, "2.idx")),
          -EXDEV);
    E(io->unlink(io, test_path(dir, "1.index")));
    EQ_RC(io->unlink(io, test_path(dir, "0.log")), -EPERM);
    ck_assert(exists(test_path(dir, "0.log")));
    ck_assert_uint_eq(faultio_injected(fi), 3 + 3);

    faultio_filter(fi, NULL);
    faultio_clear(fi);
    faultio_fail(fi, FAULTIO_WRITE, 1, EIO, false);
    ck_assert_int_eq(io->write(io, idx, "i", 1, 2), -EIO);
    E(io->close(io, log));
    E(io->close(io, idx));
    faultio_free(fi);
    test_dir_remove(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* faultio: power cuts                                                      */
/* ------------------------------------------------------------------------ */

/*
 * A file synced once, then changed every way there is: overwritten through
 * the mapping, truncated into the synced bytes, extended by pwrite, written
 * past a hole.  The bytes it had at the sync go to synced (3000), the bytes
 * it has just before the cut to final (*final_len).  Returns the handle,
 * still open: the store is running when the power goes.
 */
static samsa_io_file *
mess_up(samsa_io *io, const char *path, unsigned char *synced,
        unsigned char **final, size_t *final_len)
{
    samsa_io_file *f;
    const void *view;
    unsigned char buf[4000];

    E(io->open(io, path, SAMSA_IO_CREATE, &f));
    fill(synced, 3000, 10);
    E(samsa__io_write_all(io, f, synced, 3000, 0));
    E(io->sync(io, f));

    E(io->allocate(io, f, 0, 16384));
    E(io->map(io, f, 16384, &view));
    fill(buf, sizeof buf, 11);
    E(samsa__io_write_all(io, f, buf, 2000, 1000)); /* mapped: memcpy */
    fill(buf, sizeof buf, 12);
    E(samsa__io_write_all(io, f, buf, 1000, 2500));
    E(io->truncate(io, f, 1500));
    fill(buf, sizeof buf, 13);
    E(samsa__io_write_all(io, f, buf, 4000, 1500)); /* past EOF: pwrite */
    fill(buf, sizeof buf, 14);
    E(samsa__io_write_all(io, f, buf, 700, 10000)); /* leaves a hole */
    *final = slurp(path, final_len);
    ck_assert_uint_eq(*final_len, 10700);
    return f;
}

START_TEST(cut_drop_all)
{
    const char *dir = test_dir_make();
    char seg[PATH_BUF], fresh[PATH_BUF], quiet[PATH_BUF], sub[PATH_BUF];
    pathbuf(seg, dir, "0.log");
    pathbuf(fresh, dir, "fresh.log");
    pathbuf(quiet, dir, "quiet.log");
    pathbuf(sub, dir, "d");
    faultio *fi = faultio_new();
    samsa_io *io = faultio_io(fi);
    samsa_io_file *f, *g, *h;
    unsigned char synced[3000], *final, *disk;
    size_t final_len, len;

    /* Never synced: comes back empty.  Synced, then only read: unchanged. */
    E(io->open(io, fresh, SAMSA_IO_CREATE, &g));
    E(samsa__io_write_all(io, g, "fresh", 5, 0));
    E(io->open(io, quiet, SAMSA_IO_CREATE, &h));
    E(samsa__io_write_all(io, h, "quiet", 5, 0));
    E(io->sync(io, h));
    ck_assert_uint_eq(faultio_unsynced(fi, "quiet"), 0);

    f = mess_up(io, seg, synced, &final, &final_len);
    free(final);
    ck_assert_uint_eq(faultio_unsynced(fi, "0.log"), 6);
    ck_assert_uint_eq(faultio_unsynced(fi, NULL), 7);

    E(faultio_power_cut(fi, FAULTIO_DROP_ALL, 0));
    ck_assert_uint_eq(faultio_unsynced(fi, NULL), 0);

    disk = slurp(seg, &len);
    ck_assert_uint_eq(len, sizeof synced);
    ck_assert_mem_eq(disk, synced, sizeof synced);
    free(disk);
    disk = slurp(fresh, &len);
    ck_assert_uint_eq(len, 0);
    free(disk);
    disk = slurp(quiet, &len);
    ck_assert_uint_eq(len, 5);
    ck_assert_mem_eq(disk, "quiet", 5);
    free(disk);

    /* The machine is off: nothing gets through, nothing changes. */
    uint64_t size;
    samsa_io_file *x;
    ck_assert_int_eq(io->write(io, f, "x", 1, 0), -EIO);
    EQ_RC(io->sync(io, f), -EIO);
    EQ_RC(io->size(io, f, &size), -EIO);
    EQ_RC(io->truncate(io, f, 0), -EIO);
    EQ_RC(io->open(io, seg, 0, &x), -EIO);
    EQ_RC(io->unlink(io, seg), -EIO);
    EQ_RC(io->mkdir(io, sub), -EIO);
    EQ_RC(io->close(io, f), -EIO);
    EQ_RC(io->close(io, g), -EIO);
    EQ_RC(io->close(io, h), -EIO);
    faultio_free(fi);
    ck_assert(!exists(sub));
    disk = slurp(seg, &len);
    ck_assert_uint_eq(len, sizeof synced);
    ck_assert_mem_eq(disk, synced, sizeof synced);
    free(disk);

    /* What the next run sees through the posix table. */
    samsa_io *px = samsa__io_posix();
    unsigned char back[3000];
    E(px->open(px, seg, 0, &f));
    ck_assert_uint_eq(file_size(px, f), 3000);
    ck_assert_int_eq(px->read(px, f, back, sizeof back, 0), 3000);
    ck_assert_mem_eq(back, synced, sizeof synced);
    E(px->close(px, f));
    test_dir_remove(dir);
}
END_TEST

START_TEST(cut_keep_all)
{
    const char *dir = test_dir_make();
    char seg[PATH_BUF];
    pathbuf(seg, dir, "0.log");
    faultio *fi = faultio_new();
    samsa_io *io = faultio_io(fi);
    samsa_io_file *f;
    unsigned char synced[3000], *final, *disk;
    size_t final_len, len;

    f = mess_up(io, seg, synced, &final, &final_len);
    E(faultio_power_cut(fi, FAULTIO_KEEP_ALL, 0));
    disk = slurp(seg, &len);
    ck_assert_uint_eq(len, final_len);
    ck_assert_mem_eq(disk, final, final_len);
    free(disk);
    free(final);
    samsa_io_file *x;
    EQ_RC(io->open(io, seg, 0, &x), -EIO);
    EQ_RC(io->close(io, f), -EIO);
    faultio_free(fi);
    disk = slurp(seg, &len);
    ck_assert_uint_eq(len, final_len);
    free(disk);
    test_dir_remove(dir);
}
END_TEST

/* An append-only log like the engine's: 4 KiB synced, then appends of odd
 * sizes, some synced.  Returns the bytes synced last. */
static size_t
append_log(samsa_io *io, const char *path)
{
    samsa_io_file *f;
    const void *view;
    unsigned char buf[3000];
    uint64_t end = 0, synced = 0;

    E(io->open(io, path, SAMSA_IO_CREATE, &f));
    E(io->allocate(io, f, 0, 65536));
    E(io->map(io, f, 65536, &view));
    for (unsigned i = 0; i < 40; i++) {
        size_t n = 100 + (i * 397) % 2900;
        fill(buf, n, i);
        E(samsa__io_write_all(io, f, buf, n, end));
        end += n;
        if (i == 5 || i == 20) {
            E(io->sync(io, f));
            synced = end;
        }
    }
    E(io->close(io, f));
    return (size_t)synced;
}

START_TEST(cut_random)
{
    const char *d1 = test_dir_make(), *d2 = test_dir_make();
    char p1[PATH_BUF], p2[PATH_BUF];
    pathbuf(p1, d1, "0.log");
    pathbuf(p2, d2, "0.log");
    size_t synced = 0, len1, len2;
    unsigned char *ref = NULL, *a, *b;
    int differs = 0;

    for (uint64_t seed = 1; seed <= 20; seed++) {
        /* The same calls and seed twice: the same files. */
        faultio *f1 = faultio_new(), *f2 = faultio_new();
        synced = append_log(faultio_io(f1), p1);
        append_log(faultio_io(f2), p2);
        if (ref == NULL) {
            ref = slurp(p1, &len1); /* everything written */
            ck_assert_uint_eq(len1, 65536);
        }
        E(faultio_power_cut(f1, FAULTIO_RANDOM, seed));
        E(faultio_power_cut(f2, FAULTIO_RANDOM, seed));
        faultio_free(f1);
        faultio_free(f2);
        a = slurp(p1, &len1);
        b = slurp(p2, &len2);
        ck_assert_uint_eq(len1, len2);
        ck_assert_mem_eq(a, b, len1);

        /* Synced bytes all there; the rest either written or zero. */
        ck_assert_uint_ge(len1, synced);
        ck_assert_mem_eq(a, ref, synced);
        for (size_t i = synced; i < len1; i++)
            ck_assert(a[i] == ref[i] || a[i] == 0);
        differs += memcmp(a, ref, len1) != 0;
        free(a);
        free(b);
        ck_assert_int_eq(unlink(p1), 0);
        ck_assert_int_eq(unlink(p2), 0);
    }
    ck_assert_int_gt(differs, 0);
    free(ref);
    test_dir_remove(d1);
    test_dir_remove(d2);
}
END_TEST

/* One unsynced 8-sector write over synced bytes: kept, dropped, or torn
 * after a whole number of sectors, and every outcome happens. */
START_TEST(cut_torn)
{
    const char *dir = test_dir_make();
    char path[PATH_BUF];
    pathbuf(path, dir, "t.log");
    unsigned char olds[4096], news[4096];
    int seen[9] = {0};

    memset(olds, 'a', sizeof olds);
    memset(news, 'b', sizeof news);
    for (uint64_t seed = 1; seed <= 64; seed++) {
        faultio *fi = faultio_new();
        samsa_io *io = faultio_io(fi);
        samsa_io_file *f;
        E(io->open(io, path, SAMSA_IO_CREATE, &f));
        E(samsa__io_write_all(io, f, olds, sizeof olds, 0));
        E(io->sync(io, f));
        E(samsa__io_write_all(io, f, news, sizeof news, 0));
        E(io->close(io, f));
        E(faultio_power_cut(fi, FAULTIO_RANDOM, seed));
        faultio_free(fi);

        size_t len, k = 0;
        unsigned char *disk = slurp(path, &len);
        ck_assert_uint_eq(len, 4096);
        while (k < len && disk[k] == 'b')
            k++;
        ck_assert_uint_eq(k % 512, 0);
        ck_assert_mem_eq(disk + k, olds + k, len - k);
        seen[k / 512]++;
        free(disk);
    }
    ck_assert_int_gt(seen[0], 0);            /* dropped */
    ck_assert_int_gt(seen[8], 0);            /* kept */
    ck_assert_int_lt(seen[0] + seen[8], 64); /* torn */
    test_dir_remove(dir);
}
END_TEST

/* A sync empties the file's journal; a failed one does not. */
START_TEST(cut_after_sync)
{
    const char *dir = test_dir_make();
    const char *path = test_path(dir, "s.log");
    faultio *fi = faultio_new();
    samsa_io *io = faultio_io(fi);
    samsa_io_file *f;

    E(io->open(io, path, SAMSA_IO_CREATE, &f));
    E(samsa__io_write_all(io, f, "synced", 6, 0));
    ck_assert_uint_eq(faultio_unsynced(fi, NULL), 1);
    E(io->sync(io, f));
    ck_assert_uint_eq(faultio_unsynced(fi, NULL), 0);
    E(samsa__io_write_all(io, f, "LOST", 4, 2));
    E(samsa__io_write_all(io, f, "more", 4, 6));
    faultio_fail(fi, FAULTIO_SYNC, 1, EIO, false);
    EQ_RC(io->sync(io, f), -EIO);
    ck_assert_uint_eq(faultio_unsynced(fi, NULL), 2);
    E(io->close(io, f));
    E(faultio_power_cut(fi, FAULTIO_DROP_ALL, 0));
    faultio_free(fi);

    size_t len;
    unsigned char *disk = slurp(path, &len);
    ck_assert_uint_eq(len, 6);
    ck_assert_mem_eq(disk, "synced", 6);
    free(disk);
    test_dir_remove(dir);
}
END_TEST

/* map_sync makes durable the writes to the pages it covers (a write
 * across its edge only in part) and the size changes before it; a
 * truncation made durable cuts off for good what older writes put past
 * it.  Power cut (DROP_ALL): the rest is undone. */
START_TEST(cut_map_sync)
{
    const char *dir = test_dir_make();
    const char *path = test_path(dir, "m.journal");
    faultio *fi = faultio_new();
    samsa_io *io = faultio_io(fi);
    samsa_io_file *f;
    const void *view;
    unsigned char span[200];
    memset(span, 'S', sizeof span);

    E(io->open(io, path, SAMSA_IO_CREATE, &f));
    E(io->allocate(io, f, 0, 12288));
    E(io->map(io, f, 12288, &view));
    E(io->map_write(io, f, 9000, "D", 1));
    E(io->map_sync(io, f, 9000, 1)); /* D durable, and the allocation */
    ck_assert_uint_eq(faultio_unsynced(fi, NULL), 0);
    E(io->map_write(io, f, 10, "A", 1));      /* page 0               */
    E(io->map_write(io, f, 4000, span, 200)); /* pages 0 and 1        */
    E(io->map_write(io, f, 4300, "B", 1));    /* page 1               */
    E(io->map_write(io, f, 9000, "C", 1));    /* page 2, over D       */
    E(io->map_sync(io, f, 4300, 1));
    /* A, the span's first 96 bytes, C */
    ck_assert_uint_eq(faultio_unsynced(fi, NULL), 3);
    E(io->truncate(io, f, 8192));
    E(io->allocate(io, f, 0, 12288));
    ck_assert_uint_eq(faultio_calls(fi, FAULTIO_MAP_WRITE), 5);
    ck_assert_uint_eq(faultio_calls(fi, FAULTIO_MAP_SYNC), 2);
    E(io->map_sync(io, f, 0, 1)); /* A, the span's front, the sizes */
    /* and C, older than the durable cut: gone for good */
    ck_assert_uint_eq(faultio_unsynced(fi, NULL), 0);
    faultio_fail(fi, FAULTIO_MAP_SYNC, 1, EIO, false);
    E(io->map_write(io, f, 20, "E", 1));
    EQ_RC(io->map_sync(io, f, 20, 1), -EIO);
    faultio_fail(fi, FAULTIO_MAP_WRITE, 1, ENOSPC, false);
    EQ_RC(io->map_write(io, f, 30, "F", 1), -ENOSPC);
    ck_assert_uint_eq(faultio_unsynced(fi, NULL), 1); /* E */
    E(io->close(io, f));
    E(faultio_power_cut(fi, FAULTIO_DROP_ALL, 0));
    faultio_free(fi);

    size_t len;
    unsigned char *disk = slurp(path, &len);
    ck_assert_uint_eq(len, 12288);
    ck_assert_int_eq(disk[10], 'A');
    ck_assert_mem_eq(disk + 4000, span, 200);
    ck_assert_int_eq(disk[4300], 'B');
    ck_assert_int_eq(disk[9000], 0); /* cut off for good: not D again */
    ck_assert_int_eq(disk[20], 0);   /* E: its sync failed            */
    ck_assert_int_eq(disk[30], 0);   /* F: never written              */
    free(disk);
    test_dir_remove(dir);
}
END_TEST

/* A renamed file takes its journal along; an unlinked one is left alone. */
START_TEST(cut_rename_unlink)
{
    const char *dir = test_dir_make();
    char tmp[PATH_BUF], fin[PATH_BUF], gone[PATH_BUF], sub[PATH_BUF];
    char moved[PATH_BUF];
    pathbuf(tmp, dir, "x.tmp");
    pathbuf(fin, dir, "x.log");
    pathbuf(gone, dir, "y.log");
    pathbuf(sub, dir, "topic-0");
    pathbuf(moved, dir, "topic-0.deleted");
    faultio *fi = faultio_new();
    samsa_io *io = faultio_io(fi);
    samsa_io_file *f;
    unsigned char *disk;
    size_t len;

    E(io->open(io, tmp, SAMSA_IO_CREATE, &f));
    E(samsa__io_write_all(io, f, "base", 4, 0));
    E(io->sync(io, f));
    E(samsa__io_write_all(io, f, "unsynced", 8, 4));
    E(io->close(io, f));
    E(io->rename(io, tmp, fin));
    ck_assert_uint_eq(faultio_unsynced(fi, "x.log"), 1);
    ck_assert_uint_eq(faultio_unsynced(fi, "x.tmp"), 0);

    E(io->open(io, gone, SAMSA_IO_CREATE, &f));
    E(samsa__io_write_all(io, f, "bye", 3, 0));
    E(io->close(io, f));
    E(io->unlink(io, gone));

    /* Files under a renamed directory move with it. */
    E(io->mkdir(io, sub));
    E(io->open(io, test_path(sub, "0.log"), SAMSA_IO_CREATE, &f));
    E(samsa__io_write_all(io, f, "abc", 3, 0));
    E(io->close(io, f));
    E(io->rename(io, sub, moved));
    ck_assert_uint_eq(faultio_unsynced(fi, "topic-0.deleted/0.log"), 1);

    E(faultio_power_cut(fi, FAULTIO_DROP_ALL, 0));
    faultio_free(fi);
    disk = slurp(fin, &len);
    ck_assert_uint_eq(len, 4);
    ck_assert_mem_eq(disk, "base", 4);
    free(disk);
    ck_assert(!exists(tmp));
    ck_assert(!exists(gone));
    disk = slurp(test_path(moved, "0.log"), &len);
    ck_assert_uint_eq(len, 0);
    free(disk);
    test_dir_remove(dir);
}
END_TEST

/* samsa__prefetch_write() is a hint: over a range that runs into a page
 * that may not be touched (PROT_NONE) and past the end of the mapping, it
 * neither faults nor changes a byte, and whether it uses PREFETCHW is
 * what CPUID says. */
START_TEST(posix_prefetch_write)
{
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *m = mmap(NULL, (size_t)page * 3, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    fill(m, (size_t)page, 3);
    unsigned char copy[65536];
    ck_assert_int_le(page, (long)sizeof copy);
    memcpy(copy, m, (size_t)page);
    ck_assert_int_eq(mprotect(m + page, (size_t)page, PROT_NONE), 0);
    ck_assert_int_eq(munmap(m + 2 * page, (size_t)page), 0);
    for (size_t off = 0; off < (size_t)page; off += 61)
        samsa__prefetch_write(m + off, 3 * (size_t)page - off);
    samsa__prefetch_write(m + 5, 0);
    ck_assert_mem_eq(m, copy, (size_t)page);
    int ok = samsa__prefetchw_probe();
    ck_assert_int_eq(atomic_load(&samsa__prefetchw_ok), ok);
#if defined(__x86_64__)
    unsigned a, b, c, d;
    ck_assert_int_eq(ok, __get_cpuid(0x80000001, &a, &b, &c, &d) &&
                             (c & (1u << 8)) != 0);
#else
    ck_assert_int_eq(ok, 0);
#endif
    ck_assert_int_eq(munmap(m, (size_t)page * 2), 0);
}
END_TEST

Suite *
io_suite(void)
{
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("posix");
    tcase_add_test(tc, posix_mapped_write);
    tcase_add_test(tc, posix_known_size);
    tcase_add_test(tc, posix_map_again);
    tcase_add_test(tc, posix_prefault);
    tcase_add_test(tc, posix_pretouch_cancel);
    tcase_add_test(tc, posix_synced_often);
    tcase_add_test(tc, posix_map_append);
    tcase_add_test(tc, posix_errors);
    tcase_add_test(tc, posix_prefetch_write);
    suite_add_tcase(s, tc);

    tc = tcase_create("faults");
    tcase_add_test(tc, fault_nth_once);
    tcase_add_test(tc, fault_sticky);
    tcase_add_test(tc, fault_any_open_close);
    tcase_add_test(tc, fault_short_write);
    tcase_add_test(tc, fault_filter);
    suite_add_tcase(s, tc);

    tc = tcase_create("power_cut");
    tcase_add_test(tc, cut_drop_all);
    tcase_add_test(tc, cut_keep_all);
    tcase_add_test(tc, cut_random);
    tcase_add_test(tc, cut_torn);
    tcase_add_test(tc, cut_after_sync);
    tcase_add_test(tc, cut_rename_unlink);
    tcase_add_test(tc, cut_map_sync);
    suite_add_tcase(s, tc);
    return s;
}
