/*
 * replica.c - a partition's copies: placement, the in-sync set, leader
 * failover, catch-up, and reconciling the copies when the store opens.
 *
 * Placement.  Partition p with n copies lives on directories p, p+1, ...,
 * p+n-1 (mod the number of directories); the first is its leader while all
 * is well, so the leaders are spread over the directories.  The catalog
 * keeps, per partition, the disk id of each copy, the in-sync set, the
 * leader and the leader epoch (catalog.c), on every directory.
 *
 * The in-sync set (ISR).  A copy is in it while it holds every record the
 * log has published: every write reaches every in-sync copy before the log
 * end moves (replica_io.c), so the log end is the high watermark and a
 * cursor never reads a record that is not on every in-sync copy.  A copy
 * leaves on any failure on it alone, with the reason kept for
 * samsa_replica_status() and reported to samsa_options.on_replica; the
 * change is saved in the catalog before the call that met it returns, so
 * that a later open never takes a copy that missed writes for a good one.
 * The last in-sync copy never leaves: a failure there is the log's to
 * handle, as without replicas.
 *
 * Leader failover.  When the leader leaves, the other in-sync copy with
 * the most offsets proven good in the active segment (the next in
 * placement order on a tie) leads at once, with the next epoch: a copy
 * damaged there must not become what readers read and catch-up copies.  Its
 * files hold the same bytes up to the log end, so offsets stay dense and
 * readers go on (the views move, replica_io.c); the write that failed on the
 * old leader succeeded on it.
 *
 * Catch-up.  An out copy whose directory is usable is rebuilt from scratch.
 * Its partition directory must hold only files samsa made (log_dir.c): a
 * file of any other name, a directory, FIFO or symbolic link, or a stray
 * file under a segment's name that the open would refuse (log.c, "Foreign
 * files"; a copy the open took out for one has reason SAMSA_ECORRUPT)
 * stops the rebuild before anything is read or removed.  The copy stays
 * out, its reason SAMSA_ECORRUPT, and the partition goes on with the other
 * copies, as a store without copies refuses to open and removes nothing.
 * Catch-up is tried again at each repair pass, the flusher's (about once
 * a second from the open on) and samsa_replica_catchup()'s (store/disks.c);
 * the open sets the reason at once.  So once the file is moved away, the
 * next pass rebuilds the copy.  (Damage that looks like such a file, a
 * bit flip raising a batch's base offset past the next name, is taken for
 * one as the open takes it; removing the copy's partition directory has it
 * rebuilt.)  Otherwise the leader is healed first (scrub.c)
 * from every copy holding a good version of a batch the leader has
 * damaged, this copy's old files included, so that damage is never copied
 * over a good batch; then the copy's files are removed (checked again as
 * they go: all of them, or none when a foreign file came meanwhile) and
 * its directory made anew, every segment is copied from the
 * leader's files and read back, without the log's locks (sealed segments
 * do not change; the active one only grows);
 * then, with producers held for a moment (log.lock and fsync_lock), the
 * bytes written meanwhile are copied, everything is synced, the copy's
 * handles of the open files are opened and it rejoins.  Rebuilding from
 * scratch, never reusing the old files, is also what makes a failed fsync
 * safe: the pages the kernel may have dropped belong to files no longer
 * used.
 *
 * Open.  Only copies the catalog lists as in sync may lead (unclean
 * election stays off; with none of them present, the open fails with
 * SAMSA_ENOTENOUGHREPLICAS).  Each present in-sync copy is recovered on
 * its own; the best is the one with the most offsets proven good (every
 * batch of the segments not wholly below the recovery point parsed,
 * chained and CRC-checked), then the longest, then the catalog's leader:
 * it has every acknowledged record, since an acknowledgement needed every
 * in-sync copy.  When the copies' segment lists or sizes differ, one may
 * be damage the probe trusts (a sealed segment below the recovery point
 * cut short): then every segment of every copy is checked and the best
 * chosen again by offsets proven good from the log start.  Copies with
 * the best one's segment list and sizes hold
 * the same records: they are healed from one another batch by batch
 * (scrub.c: a proven good version wins, never a damaged one), the segments
 * not wholly below the recovery point and every segment's index files (the
 * older segments are scrub's), and stay in sync; healed whole, they are
 * alike and the catalog's leader stays.  A copy is taken out (and caught
 * up from the leader) only when it lacks records the best one has (or
 * holds unsynced ones it lost), or holds different damage where no copy
 * has a good version.
 *
 * A copy whose directory id is none of the store's (the store was opened
 * without that directory, which forgets its id, and then with an empty
 * directory in its place, which gets a new one) moves to a directory of
 * the store that holds no other copy of the partition, placement's first
 * choice if it can, and is rebuilt there: otherwise it would stay out
 * for good and the partition short of a copy.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replica.h"

#define COPY_CHUNK (1u << 20)

/* Pending events, reported by rset_after_change without rs->lock. */
typedef struct rset_ev {
    int type, copy, reason;
    int64_t offset;
    int32_t epoch;
} rset_ev;

#define EV_MAX 32
typedef struct rset_evq {
    rset_ev ev[EV_MAX];
    int n;
} rset_evq;

/* The queue lives beside the set (one allocation). */
typedef struct rset_box {
    rset rs;
    rset_evq q;
    uint64_t topic_id;
} rset_box;

#define BOX(rs) ((rset_box *)(void *)(rs))

static void
ev_push(rset *rs, int type, int copy, int reason)
{
    rset_evq *q = &BOX(rs)->q;
    if (q->n == EV_MAX)
        return; /* the status call still tells the whole story */
    q->ev[q->n++] =
        (rset_ev){type, copy, reason, rs->log ? atomic_load(&rs->log->end) : 0,
                  rs->epoch};
}

char *
rset_path(rset *rs, int i, const char *path)
{
    int d = rs->copy[i].disk;
    size_t vl = strlen(rs->vroot);
    if (d < 0 || strncmp(path, rs->vroot, vl) != 0)
        return NULL;
    const char *root = rs->env->dirs[d];
    size_t n = strlen(root) + strlen(path + vl) + 1;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s%s", root, path + vl);
    return p;
}

samsa_io *
rset_io(rset *rs)
{
    return rs->n > 1 ? &rs->io : rs->base;
}

void
rset_fill(rset *rs, catalog_partition *cp)
{
    samsa__lock(&rs->lock, SAMSA_RANK_RSET);
    cp->start = atomic_load(&rs->start);
    cp->recovery_point = atomic_load(&rs->saved_rp);
    cp->leader_epoch = rs->epoch;
    cp->leader = rs->leader;
    cp->ncopies = rs->n;
    cp->flags = rs->gaps ? CATALOG_PART_GAPS : 0;
    cp->isr = 0;
    for (int i = 0; i < rs->n; i++) {
        cp->disk[i] = rs->disk_id[i];
        if (rs->copy[i].insync)
            cp->isr |= 1u << i;
    }
    rs->dirty = false;
    samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
}

int
rset_persist(rset *rs, uint64_t topic_id)
{
    if (topic_id != 0)
        BOX(rs)->topic_id = topic_id;
    samsa__lock(&rs->lock, SAMSA_RANK_RSET);
    bool dirty = rs->dirty;
    samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
    if (!dirty || BOX(rs)->topic_id == 0)
        return 0;
    catalog_partition cp;
    rset_fill(rs, &cp);
    return catalog_partitions_put(rs->env->cat, BOX(rs)->topic_id,
                                  &rs->partition, &cp, 1);
}

int
rset_admit(rset *rs)
{
    return rs->acks_all && atomic_load(&rs->ninsync) < rs->min_insync
               ? SAMSA_ENOTENOUGHREPLICAS
               : 0;
}

void
rset_mark_out_locked(rset *rs, int i, int reason)
{
    replica_copy *c = &rs->copy[i];
    if (!c->insync || atomic_load(&rs->ninsync) <= 1)
        return;
    c->insync = false;
    c->reason = reason != 0 ? reason : SAMSA_EIO;
    c->since = rs->log ? atomic_load(&rs->log->end) : 0;
    atomic_fetch_sub(&rs->ninsync, 1);
    rs->dirty = true;
    ev_push(rs, SAMSA_REPLICA_EV_OUT, i, c->reason);
    if (i != rs->leader)
        return;
    /* The in-sync copy with the most offsets proven good in the active
     * segment leads (the next in placement order on a tie): the copies
     * hold the same bytes, unless one is damaged, and a damaged copy must
     * not become what readers read and catch-up copies. */
    int next = -1, cands = 0;
    int64_t best = -1;
    for (int j = 1; j < rs->n; j++)
        cands += rs->copy[(i + j) % rs->n].insync;
    for (int j = 1; j < rs->n; j++) {
        int k = (i + j) % rs->n;
        if (!rs->copy[k].insync)
            continue;
        int64_t v = cands > 1 ? rset_io_valid(rs, k) : 0;
        if (v > best) {
            best = v;
            next = k;
        }
    }
    if (next >= 0) {
        rs->leader = next;
        rs->epoch++;
        rset_io_remap(rs);
        ev_push(rs, SAMSA_REPLICA_EV_LEADER, next, 0);
    }
}

void
rset_after_change(rset *rs)
{
    rset_evq q;
    samsa__lock(&rs->lock, SAMSA_RANK_RSET);
    q = BOX(rs)->q;
    BOX(rs)->q.n = 0;
    samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
    const replica_env *env = rs->env;
    for (int k = 0; k < q.n && env->on_replica != NULL; k++) {
        samsa_replica_event ev = {
            .type = q.ev[k].type,
            .topic = rs->topic,
            .partition = rs->partition,
            .dir = rs->copy[q.ev[k].copy].disk,
            .reason = q.ev[k].reason,
            .offset = q.ev[k].offset,
            .leader_epoch = q.ev[k].epoch,
        };
        env->on_replica(&ev, env->on_replica_ctx);
    }
    (void)rset_persist(rs, 0); /* a failed disk is marked down by it */
}

void
rset_disk_down(rset *rs, int d, int reason)
{
    samsa__lock(&rs->lock, SAMSA_RANK_RSET);
    for (int i = 0; i < rs->n; i++)
        if (rs->copy[i].disk == d)
            rset_mark_out_locked(rs, i, reason);
    samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
    rset_after_change(rs);
}

int
rset_flush(rset *rs)
{
    if (rs->n == 1 || rs->acks_all)
        return 0; /* every sync already covered every copy */
    samsa__lock(&rs->log->fsync_lock, SAMSA_RANK_LOG_FSYNC);
    int rc = rset_io_flush(rs);
    samsa__unlock(&rs->log->fsync_lock, SAMSA_RANK_LOG_FSYNC);
    return rc;
}

/* ---- open ---------------------------------------------------------------- */

/* Copy i of partition p is on no directory of the store: its directory
 * was removed and the store opened without it, which forgot the
 * directory's id, so that an empty directory made in its place comes
 * back under a new one.  The copy moves to a directory of the store that
 * holds no other copy of p (the placement's first choice, p + i, if it
 * can), where catch-up rebuilds it.  -1 when there is none. */
static int
replace_copy(const replica_env *env, int32_t p, const int *disk, int n, int i)
{
    for (int k = 0; k < env->ndirs; k++) {
        int d = (int)((p + i + k) % env->ndirs), used = 0;
        for (int j = 0; j < n; j++)
            used += j != i && disk[j] == d;
        if (used == 0)
            return d;
    }
    return -1;
}

static rset *
rset_new(const replica_env *env, const char *topic_name, int32_t partition,
         const catalog_partition *cp, const log_config *cfg)
{
    rset_box *box = calloc(1, sizeof *box);
    if (box == NULL)
        return NULL;
    rset *rs = &box->rs;
    if ((rs->topic = strdup(topic_name)) == NULL) {
        free(box);
        return NULL;
    }
    rs->base = env->io;
    rs->env = env;
    rs->partition = partition;
    rs->n = cp->ncopies;
    rs->leader = cp->leader;
    rs->epoch = cp->leader_epoch;
    rs->acks_all = cfg->acks_all;
    rs->min_insync = cfg->min_insync;
    rs->gaps = cfg->gaps;
    atomic_init(&rs->saved_rp, cp->recovery_point);
    atomic_init(&rs->start, cp->start);
    pthread_mutex_init(&rs->lock, NULL);
    int in = 0, disk[REPLICA_MAX];
    for (int i = 0; i < rs->n; i++)
        disk[i] = catalog_disk_index(env->cat, cp->disk[i]);
    for (int i = 0; i < rs->n; i++) {
        int d = disk[i];
        bool moved =
            d < 0 && (d = replace_copy(env, partition, disk, rs->n, i)) >= 0;
        disk[i] = d;
        rs->disk_id[i] = moved ? env->cat->disk[d].id : cp->disk[i];
        rs->dirty |= moved; /* its new home is saved with the state */
        rs->copy[i].disk = d;
        rs->copy[i].insync =
            (cp->isr & (1u << i)) && !moved && d >= 0 && env->disk_up[d];
        rs->copy[i].reason = rs->copy[i].insync                   ? 0
                             : d < 0 || !env->disk_up[d] || moved ? -ENOENT
                                                                  : SAMSA_EIO;
        in += rs->copy[i].insync;
    }
    atomic_init(&rs->ninsync, in);
    rset_io_init(rs);
    return rs;
}

void
rset_free(rset *rs)
{
    if (rs == NULL)
        return;
    pthread_mutex_destroy(&rs->lock);
    free(rs->topic);
    free(BOX(rs));
}

/* A copy's log, recovered on its own through the base I/O layer; its end
 * and segment files' sizes. */
typedef struct probe {
    int64_t valid; /* offsets below read cleanly (from the recovery point) */
    int64_t end;
    size_t nsegs;   /* segments                                       */
    int64_t *base;  /* each one's base offset (malloc'ed)             */
    uint64_t *size; /* and size                                       */
} probe;

/* The first offset whose batch is not proven good (it does not parse,
 * breaks the offsets' chain or fails its CRC), checked in every segment
 * not wholly below the recovery point (scrub checks those), or the log
 * end.  Every batch counts, not only those past rp: damage that leaves a
 * copy's length alone must still make it the worse copy. */
static int64_t
valid_end(samsa_log *log, int64_t rp)
{
    for (size_t k = 0; k < log->nsegs; k++) {
        segment *seg = log->segs[k];
        if (k + 1 < log->nsegs && log->segs[k + 1]->base <= rp)
            continue;
        uint64_t pos = 0, size = atomic_load(&seg->size);
        int64_t expected = seg->base;
        while (pos < size) {
            batch_header h;
            if (batch_parse_header(seg->map + pos, size - pos, &h) != 0 ||
                !batch_follows(&h, expected, log->cfg.gaps) ||
                batch_verify_crc(seg->map + pos, &h) != 0)
                return expected;
            expected = h.base_offset + h.last_offset_delta + 1;
            pos += BATCH_LOG_OVERHEAD + (uint64_t)h.length;
        }
        /* Gaps may reach the next segment's base, never past it. */
        if (k + 1 < log->nsegs &&
            (log->cfg.gaps ? expected > log->segs[k + 1]->base
                           : expected != log->segs[k + 1]->base))
            return expected;
    }
    return log->next_offset;
}

static int
probe_copy(rset *rs, const char *dir, const log_config *cfg, probe *pr)
{
    samsa_log *log;
    /* The probe reads its segments' views directly: none is closed. */
    log_config pcfg = *cfg;
    pcfg.cache = NULL;
    int rc = log_open(rs->base, dir, &pcfg, atomic_load(&rs->start),
                      atomic_load(&rs->saved_rp), false, &log);
    if (rc != 0)
        return rc;
    /* No log_close: sealing would write index files for the active
     * segment that the copies rebuilt later would not have. */
    pr->end = log->next_offset;
    pr->valid = valid_end(log, atomic_load(&rs->saved_rp));
    pr->nsegs = log->nsegs;
    pr->base = malloc(log->nsegs * sizeof *pr->base);
    pr->size = malloc(log->nsegs * sizeof *pr->size);
    for (size_t k = 0; pr->base != NULL && pr->size != NULL && k < pr->nsegs;
         k++) {
        pr->base[k] = log->segs[k]->base;
        pr->size[k] = atomic_load(&log->segs[k]->size);
    }
    log_unref(log);
    return pr->base != NULL && pr->size != NULL ? 0 : SAMSA_ENOMEM;
}

/* Do files a and b hold the same bytes? */
static bool
same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    char *ba = malloc(65536), *bb = malloc(65536);
    bool same = fa != NULL && fb != NULL && ba != NULL && bb != NULL;
    while (same) {
        size_t na = fread(ba, 1, 65536, fa), nb = fread(bb, 1, 65536, fb);
        same = na == nb && memcmp(ba, bb, na) == 0;
        if (na == 0)
            break;
    }
    if (fa != NULL)
        fclose(fa);
    if (fb != NULL)
        fclose(fb);
    free(ba);
    free(bb);
    return same;
}

/* Does copy j hold the same bytes as copy i in every segment of pr not
 * wholly below the recovery point? */
static bool
same_bytes(rset *rs, const char *name, int i, int j, const probe *pr)
{
    int64_t rp = atomic_load(&rs->saved_rp);
    for (size_t k = 0; k < pr->nsegs; k++) {
        if (k + 1 < pr->nsegs && pr->base[k + 1] <= rp)
            continue;
        char a[4200], b[4200];
        snprintf(a, sizeof a, "%s/%s/%020" PRId64 ".log",
                 rs->env->dirs[rs->copy[i].disk], name, pr->base[k]);
        snprintf(b, sizeof b, "%s/%s/%020" PRId64 ".log",
                 rs->env->dirs[rs->copy[j].disk], name, pr->base[k]);
        if (!same_file(a, b))
            return false;
    }
    return true;
}

/* Do copies a and b have the same segments, of the same sizes? */
static bool
same_shape(const probe *a, const probe *b)
{
    if (a->end != b->end || a->nsegs != b->nsegs || a->nsegs == 0)
        return false;
    for (size_t k = 0; k < a->nsegs; k++)
        if (a->base[k] != b->base[k] || a->size[k] != b->size[k])
            return false;
    return true;
}

/* Heal, segment by segment, the copies in[0..n) (in[pref] leads), which
 * have the same shape as pr: the batches of every segment not wholly
 * below the recovery point, the index files of all.  Returns what is left
 * unhealed (0: they are now the same and good), or an error. */
static int
heal_copies(rset *rs, const char *name, const log_config *cfg, const int *in,
            int n, int pref, const probe *pr)
{
    int64_t rp = atomic_load(&rs->saved_rp);
    int left = 0;
    for (size_t k = 0; k < pr->nsegs && left >= 0; k++) {
        char path[REPLICA_MAX][4200];
        char *paths[REPLICA_MAX];
        for (int j = 0; j < n; j++) {
            snprintf(path[j], sizeof path[j], "%s/%s/%020" PRId64 ".log",
                     rs->env->dirs[rs->copy[in[j]].disk], name, pr->base[k]);
            paths[j] = path[j];
        }
        bool below = k + 1 < pr->nsegs && pr->base[k + 1] <= rp;
        int rc =
            heal_at_open(rs->base, paths, n, pref, pr->base[k], rs->gaps,
                         pr->size[k], rs->epoch, cfg->index_interval, !below);
        left = rc < 0 ? rc : left + rc;
    }
    return left;
}

/* The in-sync copy with the most offsets proven good in all its segments,
 * then the longest, then the catalog's leader; -1 when out of memory. */
static int
recheck_best(rset *rs, const char *name, const probe *pr)
{
    int best = -1;
    int64_t bv = -1;
    for (int i = 0; i < rs->n; i++) {
        if (!rs->copy[i].insync)
            continue;
        char **paths = calloc(pr[i].nsegs + 1, sizeof *paths);
        bool ok = paths != NULL;
        for (size_t k = 0; ok && k < pr[i].nsegs; k++) {
            size_t len =
                strlen(rs->env->dirs[rs->copy[i].disk]) + strlen(name) + 32;
            ok = (paths[k] = malloc(len)) != NULL;
            if (ok)
                snprintf(paths[k], len, "%s/%s/%020" PRId64 ".log",
                         rs->env->dirs[rs->copy[i].disk], name, pr[i].base[k]);
        }
        int64_t v = ok ? heal_valid_end(paths, pr[i].base, pr[i].size,
                                        pr[i].nsegs, rs->gaps)
                       : -1;
        for (size_t k = 0; paths != NULL && k < pr[i].nsegs; k++)
            free(paths[k]);
        free(paths);
        if (!ok)
            return -1;
        if (best < 0 || v > bv ||
            (v == bv && (pr[i].end > pr[best].end ||
                         (pr[i].end == pr[best].end && i == rs->leader)))) {
            best = i;
            bv = v;
        }
    }
    return best;
}

static void
probes_free(probe *pr, int n)
{
    for (int i = 0; i < n; i++) {
        free(pr[i].base);
        free(pr[i].size);
    }
    free(pr);
}

static int
rset_reconcile(rset *rs, const log_config *cfg)
{
    char name[SAMSA_MAX_TOPIC_NAME + 16];
    snprintf(name, sizeof name, "%s-%" PRId32, rs->topic, rs->partition);
    probe *pr = calloc((size_t)rs->n, sizeof *pr);
    if (pr == NULL)
        return SAMSA_ENOMEM;
    int best = -1, corrupt = 0, failed = 0;
    /* Out copies are not probed, and are rebuilt only later: their
     * segments below the start go now, as the in-sync copies' do (log.c,
     * "Deleting"), so that none is left the catalog does not account
     * for. */
    for (int i = 0; i < rs->n; i++) {
        int d = rs->copy[i].disk;
        if (d < 0 || !rs->env->disk_up[d])
            continue;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", rs->env->dirs[d], name);
        /* A compaction's swap is made copy after copy: a crash between
         * leaves a .cleaned file on some copies only (compact.c). */
        log_clean_leftovers(rs->base, dir);
        if (rs->copy[i].insync)
            continue;
        log_remove_below(rs->base, dir, cfg, atomic_load(&rs->start));
        /* One that holds a file samsa did not make is not rebuilt until
         * the file goes (rset_catchup): say so from the start. */
        if (log_dir_check(rs->base, dir, cfg, atomic_load(&rs->start)) ==
            SAMSA_ECORRUPT)
            rs->copy[i].reason = SAMSA_ECORRUPT;
    }
    for (int i = 0; i < rs->n; i++) {
        if (!rs->copy[i].insync)
            continue;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", rs->env->dirs[rs->copy[i].disk],
                 name);
        int rc = probe_copy(rs, dir, cfg, &pr[i]);
        if (rc != 0) {
            failed++;
            corrupt += rc == SAMSA_ECORRUPT;
            rs->copy[i].insync = false; /* unreadable: rebuilt later */
            rs->copy[i].reason = rc == SAMSA_ECORRUPT ? rc : SAMSA_EIO;
            atomic_fetch_sub(&rs->ninsync, 1);
            continue;
        }
        /* Kafka's rule, the longest valid log: proven good offsets first,
         * then the end, then the catalog's leader. */
        if (best < 0 || pr[i].valid > pr[best].valid ||
            (pr[i].valid == pr[best].valid &&
             (pr[i].end > pr[best].end ||
              (pr[i].end == pr[best].end && i == rs->leader))))
            best = i;
    }
    if (best < 0) {
        probes_free(pr, rs->n);
        /* Every copy holds a file samsa did not make (log.c, "Foreign
         * files"): the open says so as without copies, not that a copy
         * is missing. */
        return failed > 0 && corrupt == failed ? SAMSA_ECORRUPT
                                               : SAMSA_ENOTENOUGHREPLICAS;
    }
    /* Copies of other shapes: one of them may be the best one's damage
     * below the recovery point (a sealed segment cut short), which the
     * probe trusts.  Only then is every segment of every copy checked, and
     * the best chosen again by offsets proven good from the log start. */
    bool shapes = false;
    for (int i = 0; i < rs->n; i++)
        shapes |= rs->copy[i].insync && !same_shape(&pr[best], &pr[i]);
    if (shapes && (best = recheck_best(rs, name, pr)) < 0) {
        probes_free(pr, rs->n);
        return SAMSA_ENOMEM;
    }
    /* The copies shaped as the best one hold the same records: heal them
     * from one another, batch by batch.  The others lack records the best
     * has (or hold unsynced ones it lost): out, and rebuilt from it. */
    int in[REPLICA_MAX], n = 0, pref = 0;
    for (int i = 0; i < rs->n; i++) {
        if (!rs->copy[i].insync)
            continue;
        if (i == best || same_shape(&pr[best], &pr[i])) {
            pref = i == best ? n : pref;
            in[n++] = i;
            continue;
        }
        rs->copy[i].insync = false;
        rs->copy[i].reason = SAMSA_ECORRUPT; /* diverged: rebuilt later */
        atomic_fetch_sub(&rs->ninsync, 1);
    }
    int left = heal_copies(rs, name, cfg, in, n, pref, &pr[best]);
    /* Damage no copy holds a good version of stays; where the copies hold
     * different damage there, the best one's is kept and the others are
     * rebuilt from it (nothing good is lost: no copy had it). */
    for (int j = 0; j < n && left > 0; j++) {
        if (in[j] == best || same_bytes(rs, name, best, in[j], &pr[best]))
            continue;
        rs->copy[in[j]].insync = false;
        rs->copy[in[j]].reason = SAMSA_ECORRUPT;
        atomic_fetch_sub(&rs->ninsync, 1);
    }
    probes_free(pr, rs->n);
    if (left < 0)
        return left;
    /* Healed whole, the copies are alike: the catalog's leader stays. */
    bool keep = false;
    for (int j = 0; j < n && left == 0; j++)
        keep |= in[j] == rs->leader;
    if (!keep && best != rs->leader) {
        rs->leader = best;
        rs->epoch++;
        rs->dirty = true;
    }
    for (int i = 0; i < rs->n; i++)
        if (!rs->copy[i].insync)
            rs->dirty = true;
    return 0;
}

int
rset_open(const replica_env *env, const char *topic_name, int32_t partition,
          const catalog_partition *cp, const log_config *cfg, bool create,
          rset **out, char *dir, size_t dirlen)
{
    rset *rs = rset_new(env, topic_name, partition, cp, cfg);
    if (rs == NULL)
        return SAMSA_ENOMEM;
    int rc = 0;
    if (atomic_load(&rs->ninsync) == 0)
        rc = SAMSA_ENOTENOUGHREPLICAS; /* no copy that may lead is here */
    else if (!rs->copy[rs->leader].insync) {
        for (int i = 0; i < rs->n; i++)
            if (rs->copy[i].insync) {
                rs->leader = i;
                rs->epoch++;
                break;
            }
        rs->dirty = true;
    }
    if (rc == 0 && !create && rs->n > 1)
        rc = rset_reconcile(rs, cfg);
    if (rc != 0) {
        rset_free(rs);
        return rc;
    }
    rs->vroot = env->dirs[rs->copy[rs->leader].disk];
    snprintf(dir, dirlen, "%s/%s-%" PRId32, rs->vroot, topic_name, partition);
    *out = rs;
    return 0;
}

/* ---- catch-up ------------------------------------------------------------ */

/* Copy [from, to) of seg from the leader's view to dst, then read it back
 * and compare, so that the copy is known to hold what the leader holds.
 * rset_catchup healed the leader first from every copy holding a good
 * version (the one being rebuilt included), so a batch that still fails
 * its CRC here has no good version anywhere: it is copied as it is (readers
 * get SAMSA_ECORRUPT there on every copy), since refusing it would leave
 * the partition short of a copy for good, and nothing good is lost. */
static int
copy_batches(rset *rs, segment *seg, samsa_io_file *dst, uint64_t from,
             uint64_t to)
{
    uint8_t *back = malloc(COPY_CHUNK);
    if (back == NULL)
        return SAMSA_ENOMEM;
    for (uint64_t pos = from; pos < to; pos += COPY_CHUNK) {
        size_t len = to - pos < COPY_CHUNK ? (size_t)(to - pos) : COPY_CHUNK;
        int rc = samsa__io_write_all(rs->base, dst, seg->map + pos, len, pos);
        if (rc == 0 &&
            rs->base->read(rs->base, dst, back, len, pos) != (ssize_t)len)
            rc = -EIO;
        if (rc == 0 && memcmp(back, seg->map + pos, len) != 0)
            rc = SAMSA_ECORRUPT; /* the copy's disk returns other bytes */
        if (rc != 0) {
            free(back);
            return samsa__from_errno(rc);
        }
    }
    free(back);
    return 0;
}

/* Copy the leader's file at path (an index file) whole to copy i. */
static int
copy_whole(rset *rs, const char *path, int i)
{
    samsa_io *b = rs->base;
    char *src = rset_path(rs, rs->leader, path), *dst = rset_path(rs, i, path);
    samsa_io_file *f = NULL, *g = NULL;
    uint64_t size = 0;
    uint8_t *buf = NULL;
    int rc = src == NULL || dst == NULL ? -ENOMEM : 0;
    if (rc == 0 && (rc = b->open(b, src, SAMSA_IO_RDONLY, &f)) == 0 &&
        (rc = b->size(b, f, &size)) == 0 && (buf = malloc(size + 1)) == NULL)
        rc = -ENOMEM;
    if (rc == 0 && size > 0 && b->read(b, f, buf, size, 0) != (ssize_t)size)
        rc = -EIO;
    if (rc == 0) {
        b->unlink(b, dst);
        rc = b->open(b, dst, SAMSA_IO_CREATE | SAMSA_IO_EXCL, &g);
    }
    if (rc == 0 && size > 0)
        rc = samsa__io_write_all(b, g, buf, size, 0);
    if (rc == 0)
        rc = b->sync(b, g);
    if (g != NULL)
        b->close(b, g);
    if (f != NULL)
        b->close(b, f);
    free(buf);
    free(src);
    free(dst);
    return samsa__from_errno(rc);
}

/* What catch-up copied of one segment so far. */
typedef struct copied {
    int64_t base;
    uint64_t size; /* bytes of .log copied                      */
    bool sealed;   /* its index files were copied too            */
} copied;

/* Bring copy i's files of seg up to its current size (and its index files
 * once sealed), from what c says was copied. */
static int
catch_segment(rset *rs, int i, segment *seg, copied *c, bool final)
{
    samsa_io *b = rs->base;
    char *dst = rset_path(rs, i, seg->path);
    samsa_io_file *f;
    if (dst == NULL)
        return SAMSA_ENOMEM;
    int rc = b->open(b, dst, c->size == 0 ? SAMSA_IO_CREATE : 0, &f);
    free(dst);
    if (rc != 0)
        return samsa__from_errno(rc);
    uint64_t size = atomic_load(&seg->size);
    bool sealed = atomic_load(&seg->sealed);
    rc = copy_batches(rs, seg, f, c->size, size);
    /* The leader's active file is preallocated past its end; the copy
     * must have the same zeros to be the same file. */
    if (rc == 0 && final && !sealed && seg->alloc > size)
        rc = samsa__from_errno(b->allocate(b, f, size, seg->alloc - size));
    if (rc == 0 && sealed)
        rc = samsa__from_errno(b->truncate(b, f, size));
    if (rc == 0)
        rc = samsa__from_errno(b->sync(b, f));
    b->close(b, f);
    if (rc == 0)
        c->size = size;
    /* Index files: a sealed segment's, once; the active segment's too
     * when an earlier close left them (stale until the next seal rewrites
     * them, but the copy must hold the same files). */
    static const char *const exts[] = {".index", ".timeindex"};
    bool want = (sealed && !c->sealed) || (final && !sealed);
    for (int k = 0; rc == 0 && want && k < 2; k++) {
        size_t stem = strlen(seg->path) - 4;
        char p[4096];
        snprintf(p, sizeof p, "%.*s%s", (int)stem, seg->path, exts[k]);
        rc = copy_whole(rs, p, i);
        /* None on the leader: none on the copy either.  An active
         * segment's come at its seal; a sealed one's may be missing
         * too, when a cleaning could not make its new ones (compact.c,
         * "The swap"): derived data, which an open makes from the
         * batches (segment.c).  Failing here kept the copy out for
         * good. */
        if (rc == -ENOENT) {
            char *gone = rset_path(rs, i, p);
            rc = gone == NULL ? SAMSA_ENOMEM : 0;
            if (gone != NULL)
                (void)b->unlink(b, gone);
            free(gone);
        }
    }
    if (rc == 0)
        c->sealed = sealed;
    return rc;
}

/* One pass over the log's segments; final: under the log's locks. */
static int
catch_pass(rset *rs, int i, copied **cp, size_t *ncp, bool final)
{
    samsa_log *log = rs->log;
    if (!final)
        samsa__lock(&log->lock, SAMSA_RANK_LOG);
    size_t n = log->nsegs;
    segment **segs = malloc(n * sizeof *segs);
    for (size_t k = 0; segs != NULL && k < n; k++) {
        segs[k] = log->segs[k];
        segment_ref(segs[k]);
    }
    if (!final)
        samsa__unlock(&log->lock, SAMSA_RANK_LOG);
    if (segs == NULL)
        return SAMSA_ENOMEM;
    int rc = 0;
    for (size_t k = 0; k < n; k++) {
        size_t j = 0;
        while (j < *ncp && (*cp)[j].base != segs[k]->base)
            j++;
        if (j == *ncp) {
            copied *g = realloc(*cp, (*ncp + 1) * sizeof *g);
            if (g == NULL)
                rc = SAMSA_ENOMEM;
            else
                g[(*ncp)++] = (copied){segs[k]->base, 0, false};
            *cp = g != NULL ? g : *cp;
        }
        /* Opened (the store's cache may have closed it: segcache.c) and
         * let go one at a time, so a pass over many segments stays within
         * the cap on open files.  One retention removed meanwhile is not
         * copied. */
        int hrc = rc == 0 ? segment_hold(segs[k]) : 0;
        if (hrc != 0 && !atomic_load(&segs[k]->detached))
            rc = hrc;
        if (rc == 0 && hrc == 0)
            rc = catch_segment(rs, i, segs[k], &(*cp)[j], final);
        segment_unref(rs->base, segs[k]);
        segs[k] = NULL;
    }
    for (size_t k = 0; k < n; k++)
        segment_unref(rs->base, segs[k]);
    free(segs);
    return rc;
}

int
rset_catchup(rset *rs, int i)
{
    samsa_log *log = rs->log;
    int d = rs->copy[i].disk;
    if (rs->n == 1 || rs->copy[i].insync || d < 0 || !rs->env->disk_up[d])
        return 0;
    char *dir = rset_path(rs, i, log->dir);
    if (dir == NULL)
        return SAMSA_ENOMEM;
    /* A file samsa did not make in the copy's directory stops the rebuild
     * before anything is read or removed: the copy stays out for
     * SAMSA_ECORRUPT, as a store without copies refuses to open (see
     * "Catch-up"). */
    int64_t start = atomic_load(&rs->start);
    int rc = log_dir_check(rs->base, dir, &log->cfg, start);
    /* Never copy damage over a good batch: heal the leader first, from the
     * other in-sync copies and from this copy's old files, which may hold
     * the only good version of a batch the leader lost (scrub.c says when
     * such an out copy is believed). */
    if (rc == 0)
        rc = rset_heal(rs);
    /* From scratch: nothing of the old copy is trusted or reused.  Checked
     * again as it is removed: all of it or, when a file not samsa's came
     * meanwhile, none. */
    if (rc == 0)
        rc = log_dir_remove(rs->base, dir, &log->cfg, start, true, NULL);
    if (rc == 0)
        rc = samsa__from_errno(rs->base->mkdir(rs->base, dir));
    copied *cp = NULL;
    size_t ncp = 0;
    if (rc == 0)
        rc = catch_pass(rs, i, &cp, &ncp, false);
    if (rc == 0) {
        samsa__lock(&log->lock, SAMSA_RANK_LOG);
        samsa__lock(&log->fsync_lock, SAMSA_RANK_LOG_FSYNC);
        rc = atomic_load(&log->failed);
        if (rc == 0)
            rc = catch_pass(rs, i, &cp, &ncp, true);
        /* Segments retention removed meanwhile (log.c, "Deleting"): its
         * unlinks reached the in-sync copies only. */
        for (size_t j = 0; rc == 0 && j < ncp; j++)
            if (cp[j].base < log->segs[0]->base)
                segment_remove_files(rs->base, dir, cp[j].base);
        if (rc == 0) { /* the end marker (log.c), open like the segments */
            char mp[4096];
            snprintf(mp, sizeof mp, "%s/%s", log->dir, LOG_MARKER);
            rc = copy_whole(rs, mp, i);
        }
        if (rc == 0)
            rc = samsa__from_errno(rs->base->dirsync(rs->base, dir));
        samsa__lock(&rs->lock, SAMSA_RANK_RSET);
        if (rc == 0)
            rc = rset_io_attach(rs, i);
        if (rc == 0) {
            rs->copy[i].insync = true;
            rs->copy[i].reason = 0;
            rs->copy[i].since = atomic_load(&log->end);
            atomic_fetch_add(&rs->ninsync, 1);
            rs->dirty = true;
            ev_push(rs, SAMSA_REPLICA_EV_JOINED, i, 0);
        }
        samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
        samsa__unlock(&log->fsync_lock, SAMSA_RANK_LOG_FSYNC);
        samsa__unlock(&log->lock, SAMSA_RANK_LOG);
        rset_after_change(rs);
    }
    if (rc != 0) {
        samsa__lock(&rs->lock, SAMSA_RANK_RSET);
        rs->copy[i].reason = rc;
        samsa__unlock(&rs->lock, SAMSA_RANK_RSET);
    }
    free(cp);
    free(dir);
    return rc;
}
