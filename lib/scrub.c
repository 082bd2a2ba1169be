/*
 * scrub.c - samsa_scrub: read every copy of every segment from disk, check
 * every batch, and repair what is damaged or missing from a good copy.
 *
 * A copy's segment file is good when it holds, from byte 0 to the size the
 * log knows, batches that parse, pass their CRC and carry dense offsets
 * from the segment's base.  The CRC does not cover a batch's first 17 bytes
 * (base offset, length, leader epoch, magic), so the good copies are also
 * compared byte for byte with the one taken as the reference (the leader's
 * when it is good): a copy that differs is damaged too.
 *
 * Repair rewrites, through the copy's own open handle, the 64 KiB blocks
 * that differ from the reference, then syncs it; the log's lock is held
 * meanwhile so that no append runs on the same file.  The bytes below the
 * log end never change, so the reference read without the lock is still
 * right.  A sync that fails takes the copy out (it is then rebuilt from
 * scratch, never synced again).  A file missing from a copy's directory
 * cannot be fixed through the handle (that inode has no name any more):
 * the copy leaves the in-sync set and is rebuilt at once, as catch-up does.
 *
 * The files are read through read-only mappings of their own, made here
 * with plain POSIX calls: scrub never writes through them, and the I/O
 * layer is for the engine's writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replica.h"
#include "store.h"

#define BLOCK 65536u

enum { COPY_OK, COPY_DAMAGED, COPY_MISSING };

typedef struct view {
    const uint8_t *p; /* the mapping, NULL when none                   */
    size_t len;       /* its length                                    */
    int state;        /* COPY_*                                        */
} view;

/* Map copy i's file of seg, size bytes of it, and check its batches. */
static void
view_check(rset *rs, int i, const segment *seg, uint64_t size, view *v,
           samsa_scrub_report *rep)
{
    *v = (view){NULL, 0, COPY_DAMAGED};
    char *path = rset_path(rs, i, seg->path);
    int fd = path == NULL ? -1 : open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    struct stat st;
    if (fd < 0) {
        v->state = COPY_MISSING;
        return;
    }
    rep->segments++;
    if (fstat(fd, &st) == 0 && (uint64_t)st.st_size >= size && size > 0) {
        void *a = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
        if (a != MAP_FAILED) {
            v->p = a;
            v->len = size;
        }
    }
    close(fd);
    if (size == 0) {
        v->state = COPY_OK;
        return;
    }
    if (v->p == NULL)
        return;
    uint64_t pos = 0;
    int64_t expected = seg->base;
    while (pos < size) {
        batch_header h;
        if (batch_parse_header(v->p + pos, size - pos, &h) != 0 ||
            h.base_offset != expected || batch_verify_crc(v->p + pos, &h) != 0)
            return;
        rep->batches++;
        expected = h.base_offset + h.last_offset_delta + 1;
        pos += BATCH_LOG_OVERHEAD + (uint64_t)h.length;
    }
    rep->bytes += size;
    v->state = COPY_OK;
}

/* Rewrite the blocks of copy i's file that differ from ref, then sync. */
static int
repair(rset *rs, int i, const segment *seg, const view *ref, const view *bad)
{
    samsa_log *log = rs->log;
    /* log.lock: no append on the file meanwhile; fsync_lock: no other
     * fdatasync of it at once (log.c says why). */
    pthread_mutex_lock(&log->lock);
    pthread_mutex_lock(&log->fsync_lock);
    pthread_mutex_lock(&rs->lock);
    samsa_io_file *f =
        rs->copy[i].insync ? rset_handle(rs, seg->path, i) : NULL;
    pthread_mutex_unlock(&rs->lock);
    int rc = f == NULL ? SAMSA_EIO : 0;
    for (size_t off = 0; rc == 0 && off < ref->len; off += BLOCK) {
        size_t n = ref->len - off < BLOCK ? ref->len - off : BLOCK;
        if (bad->p != NULL && off + n <= bad->len &&
            memcmp(bad->p + off, ref->p + off, n) == 0)
            continue;
        rc = samsa__io_write_all(rs->base, f, ref->p + off, n, off);
    }
    if (rc == 0 && (rc = rs->base->sync(rs->base, f)) != 0) {
        pthread_mutex_lock(&rs->lock);
        rset_mark_out_locked(rs, i, SAMSA_EFAILED); /* fsyncgate */
        pthread_mutex_unlock(&rs->lock);
    }
    pthread_mutex_unlock(&log->fsync_lock);
    pthread_mutex_unlock(&log->lock);
    rset_after_change(rs);
    return samsa__from_errno(rc);
}

/* Take copy i out and rebuild it from the leader. */
static int
rebuild(rset *rs, int i, int reason)
{
    pthread_mutex_lock(&rs->lock);
    rset_mark_out_locked(rs, i, reason);
    bool out = !rs->copy[i].insync;
    pthread_mutex_unlock(&rs->lock);
    rset_after_change(rs);
    return out ? rset_catchup(rs, i) : SAMSA_ECORRUPT;
}

static int
scrub_segment(rset *rs, segment *seg, uint64_t size, samsa_scrub_report *rep,
              bool *rebuild_copy)
{
    view v[REPLICA_MAX];
    int idx[REPLICA_MAX], n = 0, ref = -1, first = 0;
    pthread_mutex_lock(&rs->lock);
    for (int i = 0; i < rs->n; i++)
        if (rs->copy[i].insync)
            idx[n++] = i;
    int leader = rs->leader;
    pthread_mutex_unlock(&rs->lock);
    for (int k = 0; k < n; k++) {
        view_check(rs, idx[k], seg, size, &v[k], rep);
        if (v[k].state == COPY_OK && (ref < 0 || idx[k] == leader))
            ref = k;
    }
    for (int k = 0; k < n; k++) {
        if (ref >= 0 && k != ref && v[k].state == COPY_OK && size > 0 &&
            memcmp(v[k].p, v[ref].p, size) != 0)
            v[k].state = COPY_DAMAGED;
        if (v[k].state == COPY_OK)
            continue;
        if (v[k].state == COPY_MISSING)
            rep->missing++;
        else
            rep->damaged++;
        if (ref < 0)
            continue;
        if (v[k].state == COPY_MISSING) {
            rebuild_copy[idx[k]] = true;
            continue;
        }
        int rc = repair(rs, idx[k], seg, &v[ref], &v[k]);
        if (rc == 0)
            rep->repaired++;
        else if (first == 0)
            first = rc;
    }
    if (ref < 0)
        rep->unrepairable++;
    for (int k = 0; k < n; k++)
        if (v[k].p != NULL)
            munmap((void *)v[k].p, v[k].len);
    return first != 0 ? first : ref < 0 ? SAMSA_ECORRUPT : 0;
}

static int
scrub_partition(rset *rs, samsa_scrub_report *rep)
{
    samsa_log *log = rs->log;
    pthread_mutex_lock(&log->lock);
    size_t n = log->nsegs;
    segment **segs = malloc(n * sizeof *segs);
    uint64_t *sizes = malloc(n * sizeof *sizes);
    for (size_t k = 0; segs != NULL && sizes != NULL && k < n; k++) {
        segs[k] = log->segs[k];
        sizes[k] = atomic_load(&segs[k]->size);
        segment_ref(segs[k]);
    }
    pthread_mutex_unlock(&log->lock);
    if (segs == NULL || sizes == NULL) {
        free(segs);
        free(sizes);
        return SAMSA_ENOMEM;
    }
    bool again[REPLICA_MAX] = {false};
    int first = 0;
    for (size_t k = 0; k < n; k++) {
        int rc = scrub_segment(rs, segs[k], sizes[k], rep, again);
        if (first == 0)
            first = rc;
    }
    for (size_t k = 0; k < n; k++)
        segment_unref(rs->base, segs[k]);
    free(segs);
    free(sizes);
    for (int i = 0; i < rs->n; i++)
        if (again[i]) {
            int rc = rebuild(rs, i, -ENOENT);
            if (rc == 0)
                rep->repaired++;
            else if (first == 0)
                first = rc;
        }
    return first;
}

SAMSA_API int
samsa_scrub(samsa *s, const char *topic_name, samsa_scrub_report *rep)
{
    samsa_scrub_report r;
    memset(&r, 0, sizeof r);
    if (s == NULL || (topic_name != NULL && !topic_name_valid(topic_name)))
        return SAMSA_EINVAL;
    int first = 0;
    pthread_mutex_lock(&s->repair_lock);
    pthread_rwlock_rdlock(&s->table_lock);
    if (topic_name != NULL && store_topic_find(s, topic_name) == NULL)
        first = SAMSA_ENOTOPIC;
    for (size_t b = 0; first != SAMSA_ENOTOPIC && b < s->nbuckets; b++)
        for (topic *t = s->buckets[b]; t != NULL; t = t->next) {
            if (topic_name != NULL && strcmp(t->name, topic_name) != 0)
                continue;
            for (int32_t p = 0; p < t->cfg.partitions; p++) {
                int rc = scrub_partition(t->parts[p]->rs, &r);
                if (first == 0 || first == SAMSA_ECORRUPT)
                    first = rc != 0 ? rc : first;
            }
        }
    pthread_rwlock_unlock(&s->table_lock);
    pthread_mutex_unlock(&s->repair_lock);
    if (rep != NULL)
        *rep = r;
    return first != 0 ? first : r.unrepairable > 0 ? SAMSA_ECORRUPT : 0;
}
