/*
 * log_dir.c - a partition directory as a whole: which of its entries are
 * samsa's, and removing those.  For the two places that remove a whole
 * directory: a deleted topic's (store/topic.c) and a copy about to be
 * rebuilt from scratch (replica/replica.c, catch-up).
 *
 * samsa deletes only what it can prove it made.  What it makes in a
 * partition directory is regular files under these names, and nothing
 * else:
 *
 *   NNNNNNNNNNNNNNNNNNNN.log          a segment, named by its base offset
 *   NNNNNNNNNNNNNNNNNNNN.index        its offset index (segment.c)
 *   NNNNNNNNNNNNNNNNNNNN.timeindex    its time index
 *   NNNNNNNNNNNNNNNNNNNN.log.cleaned  a compaction's swap file (compact.c)
 *   samsa.end                         the end marker (log.c)
 *
 * Any other name, and a directory, symbolic link, FIFO or socket under
 * one of those names, is not samsa's.  A name is no proof for a segment,
 * though: a stray file may sit under one (log.c, "Foreign files").  So a
 * .log is taken as samsa's as the open takes it:
 *  - in a dense log its records end at or before the next .log's name;
 *    where they run past it, which of the two files is the stray cannot be
 *    told, and neither is samsa's (nor the index files beside them);
 *  - one wholly below the log start (the next .log's name at or below
 *    it, when the caller knows the start) begins as samsa makes a segment
 *    (segment_file_made()), the rule for a file removed by its name alone.
 * Damage does not make a file foreign: the open keeps a damaged segment as
 * the log's (readers are told where), so it is samsa's to remove.
 *
 * A deleted topic's logs were open until the deletion: two segments that
 * follow each other in an open log abut (the open refused a stray between
 * them; the writer rolled from one to the next), so for those the removal
 * does not read where the first ends.  It used to, for every segment,
 * under the store's table lock: deleting 2,100 segments took 1.6-1.8 s
 * there against 0.7-0.8 s by name alone.
 *
 * Removal unlinks samsa's files, index files before their .log (a crash
 * part way leaves the .log, by which the rest is found again), and then
 * the directory, which stays (rmdir fails with ENOTEMPTY) while anything
 * else is in it.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

enum { KIND_LOG, KIND_SIDE, KIND_MARKER }; /* what a samsa name is */

/* An entry under one of samsa's names. */
typedef struct dir_entry {
    char name[40]; /* the longest is 20 digits + ".log.cleaned"      */
    int kind;      /* KIND_*                                          */
    int64_t base;  /* a segment file's base offset; -1: the marker   */
    bool ours;     /* a regular file, proven samsa's                  */
} dir_entry;

/* A directory's entries as dir_scan() found them. */
typedef struct dir_list {
    dir_entry *e;   /* the entries under samsa's names (malloc'ed)   */
    size_t n, cap;  /* used and allocated                              */
    size_t foreign; /* entries not samsa's, those in e and the others */
} dir_list;

/* The kind of samsa's file name is, or -1.  Twenty digits past INT64_MAX
 * name no offset, so no file samsa made (strtoll() would read them as
 * INT64_MAX, the last segment, which nothing checks); fixed-width digits
 * compare as strings. */
static int
name_kind(const char *name)
{
    if (strncmp(name, "09223372036854775807", 20) > 0 &&
        strspn(name, "0123456789") >= 20)
        return -1;
    if (log_segment_name(name, ".log"))
        return KIND_LOG;
    if (log_segment_name(name, ".index") ||
        log_segment_name(name, ".timeindex") ||
        log_segment_name(name, ".log.cleaned"))
        return KIND_SIDE;
    return strcmp(name, LOG_MARKER) == 0 ? KIND_MARKER : -1;
}

static int
list_push(dir_list *l, const char *name, int kind, bool regular)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        dir_entry *e = realloc(l->e, cap * sizeof *e);
        if (e == NULL)
            return SAMSA_ENOMEM;
        l->e = e;
        l->cap = cap;
    }
    dir_entry *e = &l->e[l->n++];
    size_t len = strlen(name); /* at most 32: name_kind() said which */
    assert(len < sizeof e->name);
    memcpy(e->name, name, len + 1);
    e->kind = kind;
    e->base = kind == KIND_MARKER ? -1 : strtoll(name, NULL, 10);
    e->ours = regular;
    return 0;
}

/* Segments first, by base; a base's .log first. */
static int
cmp_entry(const void *a, const void *b)
{
    const dir_entry *x = a, *y = b;
    if (x->base != y->base)
        return (x->base > y->base) - (x->base < y->base);
    return (x->kind != KIND_LOG) - (y->kind != KIND_LOG);
}

/* Read dir's entries into l, by name and type.  A missing dir is empty;
 * a path that is not a directory (a symbolic link to one included) is
 * one entry not samsa's. */
static int
read_entries(const char *dir, dir_list *l)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && (errno == ENOTDIR || errno == ELOOP)) {
        l->foreign++;
        return 0;
    }
    if (fd < 0)
        return errno == ENOENT ? 0 : samsa__from_errno(errno);
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int rc = samsa__from_errno(errno);
        close(fd);
        return rc;
    }
    int rc = 0;
    struct dirent *de;
    struct stat st;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        int kind = name_kind(name);
        if (kind < 0) {
            l->foreign++;
            continue;
        }
        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            rc = errno == ENOENT ? 0 : samsa__from_errno(errno);
        else
            rc = list_push(l, name, kind, S_ISREG(st.st_mode));
    }
    closedir(d);
    return rc;
}

/* Whether the open log's segments had next right after base. */
static bool
live_abut(const log_segments *live, int64_t base, int64_t next)
{
    if (live == NULL)
        return false;
    size_t lo = 0, hi = live->n; /* the first base >= base */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (live->bases[mid] < base)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo + 1 < live->n && live->bases[lo] == base &&
           live->bases[lo + 1] == next;
}

/* Take from the .log files of l (sorted) those the open would refuse, or
 * not remove by name below start: see the comment at the top. */
static int
check_segments(samsa_io *io, const char *dir, const log_config *cfg,
               int64_t start, const log_segments *live, dir_list *l)
{
    size_t prev = SIZE_MAX; /* the .log before, regular */
    for (size_t k = 0; k < l->n; k++) {
        dir_entry *e = &l->e[k];
        if (e->kind != KIND_LOG || !e->ours)
            continue;
        if (prev != SIZE_MAX) {
            dir_entry *p = &l->e[prev];
            if (e->base <= start && !segment_file_made(io, dir, p->base))
                p->ours = false;
            /* One that does not open as a segment is refused by the open
             * as well (SAMSA_ECORRUPT); other errors say nothing. */
            int64_t end = INT64_MAX;
            bool abut = cfg->gaps || live_abut(live, p->base, e->base);
            int rc = abut ? 0 : segment_end(io, dir, p->base, cfg, &end);
            if (rc != 0 && rc != SAMSA_ECORRUPT)
                return rc;
            if (!abut && end > e->base)
                p->ours = e->ours = false;
        }
        prev = k;
    }
    /* Index files beside a .log that is not samsa's are not either. */
    int64_t base = -1;
    bool ours = true;
    for (size_t k = 0; k < l->n; k++) {
        dir_entry *e = &l->e[k];
        if (e->base != base) {
            ours = true;
            base = e->base;
        }
        if (e->kind == KIND_LOG)
            ours = e->ours;
        else if (e->kind == KIND_SIDE && !ours &&
                 !log_segment_name(e->name, ".log.cleaned"))
            e->ours = false;
    }
    return 0;
}

/* Read dir and sort out which entries are samsa's; any: only whether
 * one is not (the segments are not read once the names say so: a repair
 * pass asks about a copy kept out by one about once a second). */
static int
dir_scan(samsa_io *io, const char *dir, const log_config *cfg, int64_t start,
         bool any, const log_segments *live, dir_list *l)
{
    /* The probe reads the segments' views directly and is no writer's. */
    log_config pcfg = *cfg;
    pcfg.cache = NULL;
    pcfg.writer = NULL;
    int rc = read_entries(dir, l);
    if (rc == 0 && l->n > 1)
        qsort(l->e, l->n, sizeof *l->e, cmp_entry);
    if (rc == 0 && !(any && l->foreign > 0))
        rc = check_segments(io, dir, &pcfg, start, live, l);
    for (size_t k = 0; rc == 0 && k < l->n; k++)
        l->foreign += !l->e[k].ours;
    return rc;
}

int
log_dir_check(samsa_io *io, const char *dir, const log_config *cfg,
              int64_t start)
{
    dir_list l = {0};
    int rc = dir_scan(io, dir, cfg, start, true, NULL, &l);
    free(l.e);
    return rc == 0 && l.foreign > 0 ? SAMSA_ECORRUPT : rc;
}

int
log_dir_remove(samsa_io *io, const char *dir, const log_config *cfg,
               int64_t start, bool whole, const log_segments *live)
{
    dir_list l = {0};
    int rc = dir_scan(io, dir, cfg, start, whole, live, &l);
    if (rc == 0 && whole && l.foreign > 0)
        rc = SAMSA_ECORRUPT; /* nothing removed */
    int first = 0;
    for (int logs = 0; rc == 0 && logs < 2; logs++)
        for (size_t k = 0; k < l.n; k++) {
            if (!l.e[k].ours || (l.e[k].kind == KIND_LOG) != logs)
                continue;
            char path[4200];
            snprintf(path, sizeof path, "%s/%s", dir, l.e[k].name);
            int u = io->unlink(io, path);
            if (first == 0 && u != 0 && u != -ENOENT)
                first = samsa__from_errno(u);
        }
    if (rc == 0 && l.foreign == 0) {
        int r = io->rmdir(io, dir);
        if (r != 0 && r != -ENOENT && first == 0)
            first = samsa__from_errno(r);
    }
    free(l.e);
    if (rc != 0)
        return rc;
    return l.foreign > 0 ? SAMSA_ECORRUPT : first;
}
