/*
 * adopt.c - samsa_topic_adopt(): a Kafka partition directory becomes a
 * samsa topic's partition, offsets and bytes as Kafka wrote them.
 *
 * What is read.  A Kafka partition directory (TOPIC-N) holds segments
 * BASE.log (record batches v2, named by their first offset, as samsa's),
 * BASE.index and BASE.timeindex (Kafka's offset index maps a batch's last
 * offset, not its first, to its position: samsa's loader would distrust
 * every entry), and leader-epoch-checkpoint (Kafka's leader history;
 * samsa keeps its own epochs, from 0).  Only the .log files are taken;
 * samsa builds its own index files from them at the first open.  Every
 * batch of every .log is checked before anything is made: it is whole,
 * its magic is 2, its CRC-32C matches, its records parse (decompressed
 * when compressed) and are as many as its header says, within its
 * lastOffsetDelta; base offsets strictly increase from file to file, each
 * batch at or past its file's base and ending below the next file's.  The
 * first failure refuses the whole directory with SAMSA_ECORRUPT, having
 * made nothing.
 *
 * What is made.  DIR/NAME-0 on each directory that holds a copy, with
 * each non-empty .log hard-linked there (a second name for Kafka's file;
 * samsa never writes a sealed segment) when the topic has one copy and
 * the two directories share a filesystem, else copied (copies must be
 * files of their own: scrub compares them and heals one from another).
 * A new empty segment named by the log's end offset takes samsa's writes,
 * so no adopted file is ever appended to, cut or rewritten: Kafka's
 * directory is never modified.  The partition's catalog record says
 * where the log starts (the first segment's base: a log that starts at
 * 1000 starts at 1000), that its offsets may skip (CATALOG_PART_GAPS:
 * Kafka's compaction leaves gaps), and a recovery point at the start, so
 * the first open scans every adopted segment with its CRCs and writes
 * its .index and .timeindex.
 *
 * Crash safety.  As samsa_topic_create() (topic.c): the pending record is
 * written first, then the directories and files, synced, then the catalog
 * commit that adds the topic, which is the moment it exists.  A crash
 * before it leaves directories that the pending record proves are samsa's,
 * removed at the next open (their links go; Kafka's files keep their own
 * names); after it, the whole topic.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/codec.h"
#include "store.h"

#define ADOPT_INFLATE_MAX (256u << 20) /* as a cursor's (cursor.c) */

/* One .log file of the source directory. */
typedef struct adopt_seg {
    int64_t base; /* its name                       */
    uint64_t len; /* bytes                          */
} adopt_seg;

/* Map path read-only: 0 and *p, *len (*p NULL when empty). */
static int
map_file(const char *path, const uint8_t **p, uint64_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int rc = -errno;
        if (fd >= 0)
            close(fd);
        return rc;
    }
    *len = (uint64_t)st.st_size;
    *p = NULL;
    void *a = *len > 0 ? mmap(NULL, (size_t)*len, PROT_READ, MAP_SHARED, fd, 0)
                       : NULL;
    close(fd);
    if (a == MAP_FAILED)
        return -errno;
    *p = a;
    return 0;
}

/* Its records parse, as many as the header says (decompressed first). */
static int
records_check(const uint8_t *p, const batch_header *h)
{
    int codec = h->attributes & BATCH_ATTR_COMPRESSION;
    if (codec > CODEC_MAX)
        return SAMSA_ECORRUPT;
    batch_iter it;
    codec_buf z = {0};
    int rc = 0;
    if (codec != 0) {
        rc = codec_decompress(codec, p + BATCH_HEADER_SIZE,
                              (size_t)h->length + BATCH_LOG_OVERHEAD -
                                  BATCH_HEADER_SIZE,
                              ADOPT_INFLATE_MAX, &z);
        if (rc == 0)
            batch_iter_init_records(&it, h, z.data, z.len);
    } else
        batch_iter_init(&it, p, h);
    samsa_message m;
    int32_t n = 0;
    while (rc == 0 && (rc = batch_iter_next(&it, &m)) == 0)
        n++;
    if (rc == 1)
        rc = n == h->record_count && it.next == it.end ? 0 : SAMSA_ECORRUPT;
    codec_buf_free(&z);
    return rc < 0 ? (rc == SAMSA_ENOMEM ? rc : SAMSA_ECORRUPT) : 0;
}

/* Check every batch of the file at path (base: its name; limit: the next
 * file's base, or INT64_MAX) after *next (the lowest offset its first
 * batch may have); *next becomes where its last batch ends. */
static int
check_file(const char *path, int64_t base, int64_t limit, int64_t *next)
{
    const uint8_t *p;
    uint64_t len, pos = 0;
    int rc = map_file(path, &p, &len);
    if (rc != 0)
        return samsa__from_errno(rc);
    if (*next < base)
        *next = base;
    while (rc == 0 && pos < len) {
        batch_header h;
        /* Whole, chained (batch_follows() as a log with gaps: rising,
         * at or past the file's base), inside the file's offsets (a
         * relative offset fits the index's u32), CRC, records. */
        if (batch_parse_header(p + pos, len - pos, &h) != 0 ||
            !batch_follows(&h, *next, true) ||
            h.base_offset + h.last_offset_delta >= limit ||
            h.base_offset + h.last_offset_delta - base > INT32_MAX ||
            batch_verify_crc(p + pos, &h) != 0)
            rc = SAMSA_ECORRUPT;
        else
            rc = records_check(p + pos, &h);
        if (rc == 0) {
            *next = h.base_offset + h.last_offset_delta + 1;
            pos += BATCH_LOG_OVERHEAD + (uint64_t)h.length;
        }
    }
    if (p != NULL)
        munmap((void *)p, (size_t)len);
    return rc;
}

static int
is_log(const struct dirent *d)
{
    return log_segment_name(d->d_name, ".log");
}

/* List and check the source's segments: *segs (malloc'ed, *n, ascending),
 * *end the log end offset. */
static int
adopt_scan(const char *src, adopt_seg **segs, size_t *n, int64_t *end)
{
    struct dirent **names;
    int k = scandir(src, &names, is_log, alphasort);
    if (k < 0)
        return samsa__from_errno(-errno);
    *segs = calloc((size_t)k + 1, sizeof **segs);
    *n = 0;
    *end = 0;
    int rc = *segs == NULL ? SAMSA_ENOMEM : 0;
    for (int i = 0; i < k; i++) {
        if (rc == 0) {
            (*segs)[i].base = strtoll(names[i]->d_name, NULL, 10);
            (*n)++;
        }
        free(names[i]);
    }
    free(names);
    int64_t next = *n > 0 ? (*segs)[0].base : 0;
    for (size_t i = 0; rc == 0 && i < *n; i++) {
        char path[4200];
        struct stat st;
        snprintf(path, sizeof path, "%s/%020" PRId64 ".log", src,
                 (*segs)[i].base);
        rc = stat(path, &st) == 0 ? 0 : samsa__from_errno(-errno);
        (*segs)[i].len = rc == 0 ? (uint64_t)st.st_size : 0;
        int64_t limit = i + 1 < *n ? (*segs)[i + 1].base : INT64_MAX;
        if (rc == 0)
            rc = check_file(path, (*segs)[i].base, limit, &next);
    }
    /* The end: after the last batch, or an empty last file's base (Kafka's
     * active segment starts at the log end offset). */
    *end = next;
    return rc;
}

/* Copy the file src to dst (made, must not exist) through s's table. */
static int
copy_file(samsa *s, const char *src, const char *dst)
{
    const uint8_t *p;
    uint64_t len;
    samsa_io_file *f;
    int rc = map_file(src, &p, &len);
    if (rc != 0)
        return samsa__from_errno(rc);
    rc = s->io->open(s->io, dst, SAMSA_IO_CREATE | SAMSA_IO_EXCL, &f);
    if (rc == 0) {
        if (len > 0)
            rc = samsa__io_write_all(s->io, f, p, (size_t)len, 0);
        if (rc == 0)
            rc = s->io->sync(s->io, f);
        int rc2 = s->io->close(s->io, f);
        rc = rc != 0 ? rc : rc2;
    }
    if (p != NULL)
        munmap((void *)p, (size_t)len);
    return samsa__from_errno(rc);
}

/* Make dir (one copy of the partition) hold the adopted segments and an
 * empty one at end. */
static int
adopt_place(samsa *s, const char *dir, const char *src, const adopt_seg *segs,
            size_t n, int64_t end, bool link_ok)
{
    int rc = samsa__from_errno(s->io->mkdir(s->io, dir));
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (segs[i].len == 0)
            continue; /* holds nothing: the end covers it */
        char from[4200], to[4200];
        snprintf(from, sizeof from, "%s/%020" PRId64 ".log", src, segs[i].base);
        snprintf(to, sizeof to, "%s/%020" PRId64 ".log", dir, segs[i].base);
        if (!link_ok || link(from, to) != 0)
            rc = copy_file(s, from, to);
    }
    if (rc == 0) { /* the active segment: samsa's own file */
        char path[4200];
        samsa_io_file *f;
        snprintf(path, sizeof path, "%s/%020" PRId64 ".log", dir, end);
        rc = s->io->open(s->io, path, SAMSA_IO_CREATE | SAMSA_IO_EXCL, &f);
        if (rc == 0)
            rc = s->io->close(s->io, f);
        rc = samsa__from_errno(rc);
    }
    if (rc == 0)
        rc = samsa__from_errno(s->io->dirsync(s->io, dir));
    return rc;
}

/* Two paths on one filesystem (a hard link can join them). */
static bool
same_fs(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev;
}

SAMSA_API int
samsa_topic_adopt(samsa *s, const char *name, const char *kafka_dir,
                  const samsa_topic_config *cfg)
{
    samsa_topic_config c;
    if (s == NULL || kafka_dir == NULL || (cfg != NULL && cfg->partitions > 1))
        return SAMSA_EINVAL;
    int rc = topic_create_args(s, name, cfg, &c);
    if (rc != 0)
        return rc;
    adopt_seg *segs = NULL;
    size_t n = 0;
    int64_t end = 0;
    rc = adopt_scan(kafka_dir, &segs, &n, &end);
    if (rc == 0 && n == 0)
        rc = SAMSA_EINVAL; /* no segment: not a Kafka partition directory */
    if (rc != 0) {
        free(segs);
        return rc;
    }
    samsa__wrlock(&s->table_lock, SAMSA_RANK_TABLE);
    topic pt = {.cfg = c}; /* for the placement: its replicas */
    catalog_partition cp;
    topic *t = NULL;
    uint64_t id = 0;
    rc = store_topic_find(s, name) != NULL ? SAMSA_EEXIST
                                           : topic_dirs_clear(s, name, 1);
    bool made = false; /* the pending record is written: undo by it */
    if (rc == 0)
        made = (rc = catalog_pending_put(&s->cat, name, 0, 1)) == 0;
    if (rc == 0)
        topic_placement(s, &pt, 0, &cp);
    for (int i = 0; rc == 0 && i < cp.ncopies; i++) {
        int d = catalog_disk_index(&s->cat, cp.disk[i]);
        if (d < 0 || !s->disk_up[d])
            continue; /* out of the in-sync set: caught up later */
        char dir[4096];
        topic_part_dir(dir, sizeof dir, s->dirs[d], name, 0);
        rc = adopt_place(s, dir, kafka_dir, segs, n, end,
                         c.replicas == 1 && same_fs(kafka_dir, s->dirs[d]));
        if (rc == 0)
            rc = samsa__from_errno(s->io->dirsync(s->io, s->dirs[d]));
    }
    cp.start = segs[0].base;
    cp.recovery_point = cp.start; /* the first open checks and indexes all */
    cp.flags = CATALOG_PART_GAPS;
    if (rc == 0) /* the commit point */
        rc = catalog_topic_add(&s->cat, name, &c, &cp, &id);
    if (rc == 0)
        rc = topic_load(s, name, id, &c, &t);
    /* Every batch was checked: the whole log is the partition's, for the
     * marker (other processes' readers) and the recovery point. */
    if (rc == 0) {
        log_mark_end(t->parts[0]->log);
        rc = topic_sync(s, t, true);
        if (rc != 0)
            topic_close(s, t, &(int){0});
    }
    if (rc == 0 && (rc = store_topic_insert(s, t)) != 0)
        topic_close(s, t, &(int){0});
    if (rc == 0)
        atomic_fetch_add(&s->topic_changes, 1);
    if (rc != 0) {
        /* As samsa_topic_create(): the directories go unless the catalog
         * still names the topic (then it comes back whole at the next
         * open). */
        bool committed = id != 0 && catalog_topic_remove(&s->cat, name) != 0;
        if (!committed && made)
            topic_pending_finish(s, name, 0, 1, NULL);
    }
    samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    free(segs);
    if (rc == 0)
        store_notify(s);
    return rc;
}
