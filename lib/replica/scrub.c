/*
 * scrub.c - batch-by-batch healing of a partition's copies, and
 * samsa_scrub, which reads every copy of every segment from disk and heals
 * what it finds damaged or missing.
 *
 * Proven good.  A batch is proven good on a copy when it parses, starts
 * at the offset the chain of the batches before it says (the segment's
 * base first, then each good batch's last offset plus one) and passes its
 * CRC.  The CRC does not cover a batch's first 21 bytes (base offset,
 * length, leader epoch, magic, the CRC itself): the chain checks the base
 * offset, the CRC's own range the length, the parser the magic, and the
 * leader epoch must lie between the previous batch's and the partition's
 * current one.  Nothing else is trusted: not which copy leads, not which
 * copy is longest.
 *
 * Healing (heal_segment).  The copies of a segment are walked together,
 * batch by batch, from byte 0 to the size the log knows.  At each
 * position the version to keep is a proven good one: the one whose epoch
 * fits, then the one most in-sync copies hold, then the leader's.  Every
 * in-sync copy whose bytes there differ from it gets it written over them.
 * A batch that verifies is never overwritten by one that does not, so a
 * flipped byte on one copy is repaired from another whichever copy leads,
 * and two copies damaged in different batches are both repaired.  Where no
 * copy holds a good version the bytes stay as they are and readers get
 * SAMSA_ECORRUPT there, on every copy.
 *
 * Copies out of the in-sync set (their directory is up, their files are
 * whatever they were when they left) are sources only, and only for a
 * batch they provably share with the damaged one: the damaged batch's
 * header still names the same base offset, length and CRC (its records
 * are damaged), or its CRC-covered bytes are the same (its header is).
 * An out copy may hold other records at the same offsets (writes it got
 * that the others lost in a power cut), which this rules out.
 *
 * Index files are derived from the .log: when the copies' index files of
 * a sealed segment differ, each is compared with what the engine writes
 * for the (healed) batches - an entry for the batch at pos once pos is
 * index_interval bytes past the last entry (segment.c) - and rewritten
 * where it differs.
 *
 * Who heals.  At open (replica.c) the segments not wholly below the
 * recovery point, and every segment's index files, through plain file
 * writes (nothing is open yet).  samsa_scrub every segment, through each
 * in-sync copy's open handle with the log's locks held while it writes,
 * so that no append runs on the same file (the bytes below the log end
 * never change, so the views read without the lock are still right); each
 * copy written is synced, and a copy whose sync fails leaves the in-sync
 * set (it is then rebuilt from scratch, never synced again).  Catch-up
 * (replica.c) heals the leader, with the copy it is about to rebuild as a
 * source, before it copies anything.  A file missing from an in-sync copy
 * cannot be fixed through the handle (that inode has no name any more):
 * the copy leaves the in-sync set and is rebuilt, as catch-up does.
 *
 * The files are read through read-only mappings of their own, made here
 * with plain POSIX calls: scrub never writes through them, and the I/O
 * layer is for the engine's writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replica.h"

#define CRC_END 21 /* bytes of a batch before the CRC's range */

/* ---- healing ------------------------------------------------------------- */

/* Is the batch at pos of c proven good (see above, epoch aside)?  *h gets
 * its header. */
static bool
batch_good(const hcopy *c, uint64_t pos, uint64_t size, int64_t expected,
           bool gaps, batch_header *h)
{
    uint64_t end = c->len < size ? c->len : size;
    return c->p != NULL && pos < end &&
           batch_parse_header(c->p + pos, end - pos, h) == 0 &&
           batch_follows(h, expected, gaps) &&
           batch_verify_crc(c->p + pos, h) == 0;
}

/* May g (a good batch of len bytes from a copy out of sync) replace the
 * bytes at pos of t?  Only when they provably are the same batch. */
static bool
same_batch(const hcopy *t, const uint8_t *g, uint64_t pos, size_t len)
{
    if (t->p == NULL || pos + CRC_END > t->len)
        return false;
    const uint8_t *b = t->p + pos;
    if (memcmp(b, g, BATCH_LOG_OVERHEAD) == 0 && memcmp(b + 17, g + 17, 4) == 0)
        return true; /* same base offset, length and CRC */
    return pos + len <= t->len &&
           memcmp(b + CRC_END, g + CRC_END, len - CRC_END) == 0;
}

/* The copy whose batch at pos is kept: proven good, epoch in [lo, hi],
 * held by most in-sync copies, pref's; in-sync copies before others. */
static int
pick_version(const hcopy *c, int n, int pref, uint64_t pos, const bool *ok,
             const batch_header *h, int32_t lo, int32_t hi)
{
    int pick = -1, best = -1;
    for (int k = 0; k < n; k++) {
        if (!ok[k])
            continue;
        size_t len = BATCH_LOG_OVERHEAD + (size_t)h[k].length;
        int votes = 0;
        for (int j = 0; j < n; j++)
            votes += ok[j] && c[j].target && h[j].length == h[k].length &&
                     memcmp(c[j].p + pos, c[k].p + pos, len) == 0;
        bool fits = h[k].leader_epoch >= lo && h[k].leader_epoch <= hi;
        int score = (c[k].target ? 4 * REPLICA_MAX * REPLICA_MAX : 0) +
                    (fits ? 4 * REPLICA_MAX : 0) + 2 * votes + (k == pref);
        if (score > best) {
            best = score;
            pick = k;
        }
    }
    return pick;
}

int
heal_segment(hcopy *c, int n, int pref, int64_t base, bool gaps, uint64_t size,
             int32_t max_epoch, heal_write_fn write, void *ctx)
{
    uint64_t pos = 0;
    int64_t expected = base;
    int32_t lo = 0;
    int lost = 0;
    while (pos < size) {
        batch_header h[REPLICA_MAX];
        bool ok[REPLICA_MAX];
        for (int k = 0; k < n; k++)
            ok[k] = batch_good(&c[k], pos, size, expected, gaps, &h[k]);
        int g = pick_version(c, n, pref, pos, ok, h, lo, max_epoch);
        if (g < 0) {
            /* No good version anywhere: the damage stays.  Go on past it
             * by a header that still names the expected offset, so that
             * later batches are healed too. */
            lost++;
            uint64_t skip = 0;
            for (int k = 0; k < n && skip == 0; k++) {
                batch_header bh;
                uint64_t end = c[k].len < size ? c[k].len : size;
                if (c[k].p != NULL && pos < end &&
                    batch_parse_header(c[k].p + pos, end - pos, &bh) == 0 &&
                    batch_follows(&bh, expected, gaps)) {
                    skip = BATCH_LOG_OVERHEAD + (uint64_t)bh.length;
                    expected = bh.base_offset + bh.last_offset_delta + 1;
                }
            }
            for (int k = 0; k < n; k++)
                c[k].bad = c[k].left = c[k].bad || c[k].target;
            if (skip == 0)
                break;
            pos += skip;
            continue;
        }
        size_t len = BATCH_LOG_OVERHEAD + (size_t)h[g].length;
        const uint8_t *src = c[g].p + pos;
        for (int k = 0; k < n; k++) {
            if (!c[k].target || k == g ||
                (c[k].p != NULL && pos + len <= c[k].len &&
                 memcmp(c[k].p + pos, src, len) == 0))
                continue;
            c[k].bad = true;
            if ((!c[g].target && !same_batch(&c[k], src, pos, len)) ||
                write(ctx, k, pos, src, len) != 0)
                c[k].left = true;
        }
        if (h[g].leader_epoch > lo)
            lo = h[g].leader_epoch;
        expected = h[g].base_offset + h[g].last_offset_delta + 1;
        pos += len;
    }
    return lost;
}

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void
put_time(uint8_t *b, int64_t ts, uint32_t rel)
{
    put32(b, (uint32_t)((uint64_t)ts >> 32));
    put32(b + 4, (uint32_t)ts);
    put32(b + 8, rel);
}

/* The .index (*ix, 8 bytes an entry, *n of them) and .timeindex (*tx, 12,
 * *nt of them) the engine writes for the batches p[0..size) of a sealed
 * segment at base (segment.c's rule, "Index": a time entry only where the
 * largest timestamp grows, and the segment's largest at its last offset
 * when it grew after the last).  Both malloc'ed; SAMSA_ECORRUPT when a
 * batch does not parse. */
static int
index_expected(const uint8_t *p, uint64_t size, int64_t base, uint32_t interval,
               uint8_t **ix, uint8_t **tx, size_t *n, size_t *nt)
{
    size_t cap = (size_t)(size / (interval > 0 ? interval : 1)) + 2;
    *ix = malloc(cap * 8);
    *tx = malloc((cap + 1) * 12);
    *n = *nt = 0;
    if (*ix == NULL || *tx == NULL)
        return SAMSA_ENOMEM;
    uint64_t pos = 0, last = 0;
    int64_t max_ts = -1, written = -1, end = base;
    while (pos < size) {
        batch_header h;
        if (batch_parse_header(p + pos, size - pos, &h) != 0)
            return SAMSA_ECORRUPT;
        if (pos > 0 && pos - last >= interval && *n < cap) {
            uint32_t rel = (uint32_t)(h.base_offset - base);
            put32(*ix + 8 * *n, rel);
            put32(*ix + 8 * *n + 4, (uint32_t)pos);
            (*n)++;
            if (max_ts > written)
                put_time(*tx + 12 * (*nt)++, written = max_ts, rel - 1);
            last = pos;
        }
        if (h.max_timestamp > max_ts)
            max_ts = h.max_timestamp;
        end = h.base_offset + h.last_offset_delta + 1;
        pos += BATCH_LOG_OVERHEAD + (uint64_t)h.length;
    }
    if (max_ts > written && end > base)
        put_time(*tx + 12 * (*nt)++, max_ts, (uint32_t)(end - 1 - base));
    return 0;
}

/* The whole file at path (malloc'ed, *len bytes), or NULL. */
static uint8_t *
slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    uint8_t *buf = NULL;
    if (fd >= 0 && fstat(fd, &st) == 0 &&
        (buf = malloc((size_t)st.st_size + 1)) != NULL &&
        pread(fd, buf, (size_t)st.st_size, 0) != (ssize_t)st.st_size) {
        free(buf);
        buf = NULL;
    }
    if (buf != NULL)
        *len = (size_t)st.st_size;
    if (fd >= 0)
        close(fd);
    return buf;
}

/* Replace the file at path by len bytes of buf, synced. */
static int
rewrite_file(samsa_io *b, const char *path, const uint8_t *buf, size_t len)
{
    samsa_io_file *f;
    int rc = b->open(b, path, SAMSA_IO_CREATE, &f);
    if (rc != 0)
        return samsa__from_errno(rc);
    rc = len > 0 ? samsa__io_write_all(b, f, buf, len, 0) : 0;
    if (rc == 0)
        rc = b->truncate(b, f, len);
    if (rc == 0)
        rc = b->sync(b, f);
    b->close(b, f);
    return samsa__from_errno(rc);
}

int
heal_index_files(samsa_io *b, char *const *logpath, int n, const uint8_t *p,
                 uint64_t size, int64_t base, uint32_t interval, int *fixed)
{
    static const char *const exts[] = {".index", ".timeindex"};
    uint8_t *want[2] = {NULL, NULL}, *have[2][REPLICA_MAX] = {{NULL}};
    size_t wlen[2] = {0, 0}, hlen[2][REPLICA_MAX] = {{0}}, entries = 0;
    size_t tentries = 0;
    char path[2][REPLICA_MAX][4200];
    bool differ = false;
    int rc = 0;
    *fixed = 0;
    for (int e = 0; e < 2; e++)
        for (int k = 0; k < n; k++) {
            size_t stem = strlen(logpath[k]) - 4;
            snprintf(path[e][k], sizeof path[e][k], "%.*s%s", (int)stem,
                     logpath[k], exts[e]);
            have[e][k] = slurp(path[e][k], &hlen[e][k]);
            differ |= have[e][k] == NULL || hlen[e][k] != hlen[e][0] ||
                      (have[e][0] != NULL &&
                       memcmp(have[e][k], have[e][0], hlen[e][k]) != 0);
        }
    /* Copies that agree are trusted (the engine checks them when it loads
     * them); only a disagreement needs the .log to settle it. */
    if (differ)
        rc = index_expected(p, size, base, interval, &want[0], &want[1],
                            &entries, &tentries);
    wlen[0] = entries * 8;
    wlen[1] = tentries * 12;
    for (int k = 0; differ && rc == 0 && k < n; k++) {
        bool wrote = false;
        for (int e = 0; rc == 0 && e < 2; e++)
            if (have[e][k] == NULL || hlen[e][k] != wlen[e] ||
                memcmp(have[e][k], want[e], wlen[e]) != 0) {
                rc = rewrite_file(b, path[e][k], want[e], wlen[e]);
                wrote = true;
            }
        *fixed += wrote && rc == 0;
    }
    for (int e = 0; e < 2; e++) {
        free(want[e]);
        for (int k = 0; k < n; k++)
            free(have[e][k]);
    }
    return rc;
}

/* Open-time writes: to each copy's file by its path. */
typedef struct pathw {
    samsa_io *b;
    char *const *path; /* per heal index */
} pathw;

static int
path_write(void *ctx, int k, uint64_t pos, const uint8_t *src, size_t len)
{
    pathw *w = ctx;
    samsa_io_file *f;
    int rc = w->b->open(w->b, w->path[k], 0, &f);
    if (rc != 0)
        return samsa__from_errno(rc);
    rc = samsa__io_write_all(w->b, f, src, len, pos);
    if (rc == 0)
        rc = w->b->sync(w->b, f);
    w->b->close(w->b, f);
    return samsa__from_errno(rc);
}

/* Map up to size bytes of the file at path: *p (NULL when none), *len. */
static void
map_path(const char *path, uint64_t size, const uint8_t **p, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    *p = NULL;
    *len = 0;
    if (fd >= 0 && fstat(fd, &st) == 0) {
        size_t l = (uint64_t)st.st_size < size ? (size_t)st.st_size : size;
        void *a =
            l > 0 ? mmap(NULL, l, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
        if (a != MAP_FAILED) {
            *p = a;
            *len = l;
        }
    }
    if (fd >= 0)
        close(fd);
}

int64_t
heal_valid_end(char *const *logpath, const int64_t *bases,
               const uint64_t *sizes, size_t nsegs, bool gaps)
{
    int64_t expected = nsegs > 0 ? bases[0] : 0;
    for (size_t k = 0; k < nsegs; k++) {
        hcopy c = {NULL, 0, true, false, false};
        map_path(logpath[k], sizes[k], &c.p, &c.len);
        uint64_t pos = 0;
        batch_header h;
        /* A segment may begin past where the one before ends only where
         * gaps are allowed. */
        bool ok = gaps ? expected <= bases[k] : expected == bases[k];
        if (ok)
            expected = bases[k];
        while (ok && pos < sizes[k] &&
               (ok = batch_good(&c, pos, sizes[k], expected, gaps, &h))) {
            expected = h.base_offset + h.last_offset_delta + 1;
            pos += BATCH_LOG_OVERHEAD + (uint64_t)h.length;
        }
        if (c.p != NULL)
            munmap((void *)c.p, c.len);
        if (!ok)
            break;
    }
    return expected;
}

int
heal_at_open(samsa_io *b, char *const *logpath, int n, int pref, int64_t base,
             bool gaps, uint64_t size, int32_t max_epoch, uint32_t interval,
             bool check_log)
{
    hcopy c[REPLICA_MAX];
    bool differ = false;
    for (int k = 0; k < n; k++) {
        c[k] = (hcopy){NULL, 0, true, false, false};
        map_path(logpath[k], size, &c[k].p, &c[k].len);
        differ |= c[k].len != size || (size > 0 && c[0].p != NULL &&
                                       memcmp(c[k].p, c[0].p, size) != 0);
    }
    /* Copies that are the same hold nothing to heal from one another
     * (damage on all of them is the readers' to meet); a single copy is
     * checked by the recovery scan alone. */
    int lost = 0;
    if (check_log && differ) {
        pathw w = {b, logpath};
        lost = heal_segment(c, n, pref, base, gaps, size, max_epoch, path_write,
                            &w);
        for (int k = 0; k < n; k++)
            lost += c[k].left;
    } else if (differ)
        lost = 1; /* below the recovery point: scrub's to settle */
    int fixed, rc = 0;
    if (lost == 0 && n > 1 && c[pref].len == size)
        rc = heal_index_files(b, logpath, n, c[pref].p, size, base, interval,
                              &fixed);
    for (int k = 0; k < n; k++)
        if (c[k].p != NULL)
            munmap((void *)c[k].p, c[k].len);
    return rc != 0 ? rc : lost;
}

/* ---- samsa_scrub and catch-up's healing ---------------------------------- */

enum { COPY_OK, COPY_DAMAGED, COPY_MISSING };

typedef struct view {
    const uint8_t *p; /* the mapping, NULL when none                   */
    size_t len;       /* its length                                    */
    int state;        /* COPY_*                                        */
} view;

/* Map up to size bytes of copy i's file of seg. */
static void
view_map(rset *rs, int i, const segment *seg, uint64_t size, view *v)
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
    if (fstat(fd, &st) == 0) {
        size_t len = (uint64_t)st.st_size < size ? (size_t)st.st_size : size;
        void *a = len > 0 ? mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0)
                          : MAP_FAILED;
        if (a != MAP_FAILED) {
            v->p = a;
            v->len = len;
        }
    }
    close(fd);
    if (size == 0)
        v->state = COPY_OK;
}

/* Check an in-sync copy's batches (counted in rep). */
static void
view_check(view *v, const segment *seg, uint64_t size, samsa_scrub_report *rep)
{
    rep->segments++;
    if (v->state != COPY_DAMAGED || v->len < size)
        return;
    uint64_t pos = 0;
    int64_t expected = seg->base;
    while (pos < size) {
        batch_header h;
        if (batch_parse_header(v->p + pos, size - pos, &h) != 0 ||
            !batch_follows(&h, expected, seg->gaps) ||
            batch_verify_crc(v->p + pos, &h) != 0)
            return;
        rep->batches++;
        expected = h.base_offset + h.last_offset_delta + 1;
        pos += BATCH_LOG_OVERHEAD + (uint64_t)h.length;
    }
    rep->bytes += size;
    v->state = COPY_OK;
}

/* Writes through each in-sync copy's open handle of the segment. */
typedef struct handles {
    rset *rs;
    samsa_io_file *f[REPLICA_MAX]; /* per heal index                     */
    bool written[REPLICA_MAX];     /* needs a sync                       */
} handles;

static int
handle_write(void *ctx, int k, uint64_t pos, const uint8_t *src, size_t len)
{
    handles *hs = ctx;
    if (hs->f[k] == NULL)
        return SAMSA_EIO;
    hs->written[k] = true;
    return samsa__io_write_all(hs->rs->base, hs->f[k], src, len, pos);
}

/* Heal the copies of seg (idx[0..n): in-sync ones first, nin of them, then
 * sources) under the log's locks; rep counts. */
static int
heal_live(rset *rs, const segment *seg, uint64_t size, view *v, const int *idx,
          int n, int nin, samsa_scrub_report *rep)
{
    samsa_log *log = rs->log;
    hcopy c[REPLICA_MAX];
    handles hs = {.rs = rs};
    /* log.lock: no append on the file meanwhile; fsync_lock: no other
     * fdatasync of it at once (log.c says why). */
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    /* The handles need their descriptors: the store's cache may have shut
     * the active segment's (segcache.c); the lock keeps them open. */
    int arc = segment_attach((segment *)seg);
    samsa__lock(&log->fsync_lock, SAMSA_RANK_LOG_FSYNC);
    samsa__lock(&rs->lock, SAMSA_RANK_RSET);
    int pref = 0;
    for (int k = 0; k < n; k++) {
        c[k] = (hcopy){v[k].p, v[k].len, k < nin, false, false};
        if (k < nin && rs->copy[idx[k]].insync && arc == 0)
            hs.f[k] = rset_handle(rs, seg->path, idx[k]);
        if (idx[k] == rs->leader)
            pref = k;
    }
    int32_t epoch = atomic_load(&rs->epoch);
    samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
    int lost = heal_segment(c, n, pref, seg->base, rs->gaps, size, epoch,
                            handle_write, &hs);
    int first = 0;
    for (int k = 0; k < nin; k++) {
        int rc = hs.written[k] ? rs->base->sync(rs->base, hs.f[k]) : 0;
        if (rc != 0) {
            c[k].left = true;
            first = first != 0 ? first : samsa__from_errno(rc);
            samsa__lock(&rs->lock, SAMSA_RANK_RSET);
            rset_mark_out_locked(rs, idx[k], SAMSA_EFAILED); /* fsyncgate */
            samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
        }
        rep->damaged += c[k].bad;
        rep->repaired += c[k].bad && !c[k].left;
    }
    samsa__unlock(&log->fsync_lock, SAMSA_RANK_LOG_FSYNC);
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    rset_after_change(rs);
    if (lost > 0)
        rep->unrepairable++;
    return first != 0 ? first : lost > 0 ? SAMSA_ECORRUPT : 0;
}

/* The index files of a sealed segment, on the in-sync copies idx[0..n),
 * healed from the batches of good (a healed view). */
static int
heal_live_index(rset *rs, const segment *seg, const view *good, const int *idx,
                int n, samsa_scrub_report *rep)
{
    char *paths[REPLICA_MAX];
    int rc = 0, fixed = 0;
    for (int k = 0; k < n; k++)
        if ((paths[k] = rset_path(rs, idx[k], seg->path)) == NULL)
            rc = SAMSA_ENOMEM;
    samsa__lock(&rs->log->lock,
                SAMSA_RANK_LOG); /* no seal rewrites them meanwhile */
    if (rc == 0)
        rc = heal_index_files(rs->base, paths, n, good->p, good->len, seg->base,
                              rs->log->cfg.index_interval, &fixed);
    samsa__unlock(&rs->log->lock, SAMSA_RANK_LOG);
    for (int k = 0; k < n; k++)
        free(paths[k]);
    rep->damaged += (uint64_t)fixed;
    rep->repaired += (uint64_t)fixed;
    return rc;
}

/* Check and heal every copy of seg; copies with the file missing are
 * marked in rebuild_copy (NULL: catch-up's healing, no rebuilds). */
static int
scrub_segment(rset *rs, segment *seg, uint64_t size, samsa_scrub_report *rep,
              bool *rebuild_copy)
{
    view all[REPLICA_MAX], v[REPLICA_MAX];
    int ids[REPLICA_MAX], idx[REPLICA_MAX], n = 0, nin = 0, m = 0, kin = 0;
    samsa__lock(&rs->lock, SAMSA_RANK_RSET);
    for (int i = 0; i < rs->n; i++)
        if (rs->copy[i].insync)
            ids[nin++] = i;
    n = nin;
    for (int i = 0; i < rs->n; i++) {
        int d = rs->copy[i].disk;
        if (!rs->copy[i].insync && d >= 0 && rs->env->disk_up[d])
            ids[n++] = i; /* a source, when it provably holds the batch */
    }
    samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
    for (int k = 0; k < n; k++) {
        view_map(rs, ids[k], seg, size, &all[k]);
        if (k < nin && all[k].state == COPY_MISSING) {
            /* Out of the healing: the caller rebuilds the copy. */
            rep->missing++;
            if (rebuild_copy != NULL)
                rebuild_copy[ids[k]] = true;
        } else if (all[k].state != COPY_MISSING) {
            if (k < nin)
                view_check(&all[k], seg, size, rep);
            kin += k < nin;
            v[m] = all[k];
            idx[m++] = ids[k];
        }
    }
    bool differ = false;
    for (int k = 0; k < kin; k++)
        differ |= v[k].state != COPY_OK ||
                  (size > 0 && memcmp(v[k].p, v[0].p, size) != 0);
    int first = 0;
    if (differ)
        first = heal_live(rs, seg, size, v, idx, m, kin, rep);
    const view *good = NULL; /* a healed view of the whole file */
    for (int k = 0; k < kin && good == NULL; k++)
        good = v[k].len == size ? &v[k] : NULL;
    if (first == 0 && kin > 1 && good != NULL && atomic_load(&seg->sealed))
        first = heal_live_index(rs, seg, good, idx, kin, rep);
    for (int k = 0; k < n; k++)
        if (all[k].p != NULL)
            munmap((void *)all[k].p, all[k].len);
    return first;
}

/* Take copy i out and rebuild it from the leader. */
static int
rebuild(rset *rs, int i, int reason)
{
    samsa__lock(&rs->lock, SAMSA_RANK_RSET);
    rset_mark_out_locked(rs, i, reason);
    bool out = !rs->copy[i].insync;
    samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
    rset_after_change(rs);
    return out ? rset_catchup(rs, i) : SAMSA_ECORRUPT;
}

/* Scrub every segment of rs (rebuild: rebuild the copies missing a file,
 * counting them repaired; without, catch-up's healing). */
int
rset_scrub(rset *rs, samsa_scrub_report *rep, bool rebuild_missing)
{
    samsa_log *log = rs->log;
    samsa__lock(&log->lock, SAMSA_RANK_LOG);
    size_t n = log->nsegs;
    segment **segs = malloc(n * sizeof *segs);
    uint64_t *sizes = malloc(n * sizeof *sizes);
    for (size_t k = 0; segs != NULL && sizes != NULL && k < n; k++) {
        segs[k] = log->segs[k];
        sizes[k] = atomic_load(&segs[k]->size);
        segment_ref(segs[k]);
    }
    samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    if (segs == NULL || sizes == NULL) {
        free(segs);
        free(sizes);
        return SAMSA_ENOMEM;
    }
    bool again[REPLICA_MAX] = {false};
    int first = 0;
    for (size_t k = 0; k < n; k++) {
        /* Open (a heal writes through the segment's handles; the store's
         * cache may have closed it: segcache.c), and let go at once, so a
         * scrub of many segments stays within the cap on open files.  One
         * retention removed meanwhile is not scrubbed. */
        int rc = segment_hold(segs[k]);
        if (rc == 0)
            rc = scrub_segment(rs, segs[k], sizes[k], rep,
                               rebuild_missing ? again : NULL);
        else if (atomic_load(&segs[k]->detached))
            rc = 0;
        segment_unref(rs->base, segs[k]);
        segs[k] = NULL;
        if (first == 0 || first == SAMSA_ECORRUPT)
            first = rc != 0 ? rc : first;
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

int
rset_heal(rset *rs)
{
    samsa_scrub_report rep;
    memset(&rep, 0, sizeof rep);
    int rc = rset_scrub(rs, &rep, false);
    return rc == SAMSA_ECORRUPT ? 0 : rc; /* what stays is the readers' */
}
