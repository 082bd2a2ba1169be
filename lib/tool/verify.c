/*
 * verify.c - `samsa verify DIR`: check every batch of every copy of every
 * partition, changing nothing; `--repair` first runs samsa_scrub().
 *
 * samsa_scrub() repairs what it finds, and samsa.h has no check-only
 * variant, so the check is the command's own: it reads each in-sync copy's
 * segment files where samsa(7) says they are (DIR/TOPIC-P/BASE.log on the
 * copy's directory) with segfile.c's parser and requires of each copy that
 * every batch parses and passes its CRC, that the batches' offsets follow
 * each other from the first file's base offset (in a partition with
 * SAMSA_PARTITION_GAPS: rise, and stay below the next file's base; a raised
 * base offset there shows only as copies that differ), that the copy reaches
 * the partition's end offset, and that its files hold the same bytes as the
 * first in-sync copy's.  A copy out of the in-sync set is a problem too.
 * The store is opened as usual (its lock keeps writers away), which runs
 * the open's recovery first: that cuts only unacknowledged tails.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

#define MAX_COPIES (SAMSA_MAX_REPLICA_DIRS + 1)

static const char verify_help[] =
    "usage: samsa verify [--repair] [-R REPLICA_DIR]... DIR\n"
    "Check every record batch of every copy of every partition: it parses,\n"
    "passes its CRC-32C, has the offsets that follow the batch before it;\n"
    "every in-sync copy reaches the end offset and holds the same bytes.\n"
    "Prints each problem, then a summary; changes nothing.\n"
    "  --repair               first catch up out-of-sync copies and run\n"
    "                         samsa_scrub(3), which rewrites damaged or\n"
    "                         missing files from a good copy\n"
    "  -R, --replica-dir DIR  a mirror directory (repeat, in order)\n"
    "Exit status: 0 when all is intact, 1 otherwise, 2 for a usage error.\n";

/* One segment file of a copy, as walked. */
typedef struct seg_file {
    char name[32]; /* BASE.log                                     */
    size_t len;    /* bytes of batches (zeros ahead not counted)  */
    uint32_t crc;  /* CRC-32C of those bytes, to compare copies    */
} seg_file;

typedef struct verifier {
    const char *dir;           /* DIR                                  */
    const tool_store *ts;      /* the -R directories                   */
    uint64_t partitions_total; /* for the progress line                */
    uint64_t partitions_done;  /* partitions checked so far            */
    uint64_t copies;           /* copies checked                       */
    uint64_t files;            /* segment files read                   */
    uint64_t batches;          /* batches checked                      */
    uint64_t bytes;            /* bytes read                           */
    uint64_t problems;         /* problems printed                     */
    int progress;              /* standard error is a terminal         */
    int gaps;                  /* this partition's offsets may skip    */
} verifier;

static void __attribute__((format(printf, 2, 3)))
problem(verifier *v, const char *fmt, ...)
{
    va_list ap;
    if (v->progress)
        fputs("\r\033[K", stderr);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    v->problems++;
}

static void
show_progress(const verifier *v, const char *topic, int32_t p)
{
    if (!v->progress)
        return;
    int width = 30;
    int fill =
        v->partitions_total
            ? (int)(v->partitions_done * (uint64_t)width / v->partitions_total)
            : width;
    fprintf(stderr,
            "\r\033[Kverify: [%.*s%*s] %" PRIu64 "/%" PRIu64
            " partitions, %" PRIu64 " MiB  %s-%" PRId32,
            fill, "==============================", width - fill, "",
            v->partitions_done, v->partitions_total, v->bytes >> 20, topic, p);
}

static int
is_segment(const struct dirent *d)
{
    return strlen(d->d_name) == 24 && strspn(d->d_name, "0123456789") == 20 &&
           strcmp(d->d_name + 20, ".log") == 0;
}

/* Walk one file of a copy; *next is the offset its first batch must have
 * (-1: any, for the first file) and becomes where the file ends. */
static void
verify_file(verifier *v, const char *path, seg_file *f, int64_t *next)
{
    const uint8_t *p;
    size_t n, pos = 0;
    int rc = seg_map(path, &p, &n);
    if (rc != 0) {
        problem(v, "%s: cannot read: %s", path, seg_strerror(rc));
        return;
    }
    int64_t base = strtoll(f->name, NULL, 10);
    if (*next >= 0 && (v->gaps ? base < *next : base != *next))
        problem(v,
                "%s: starts at offset %" PRId64 ", the file before ends "
                "at %" PRId64,
                path, base, *next);
    *next = base;
    v->files++;
    seg_batch b;
    int st;
    while ((st = seg_next(p, n, pos, &b)) == SEG_BATCH) {
        v->batches++;
        if (!b.crc_valid)
            problem(v,
                    "%s: batch at position %zu (offset %" PRId64
                    "): CRC invalid",
                    path, pos, b.base_offset);
        else if (v->gaps ? b.base_offset < *next : b.base_offset != *next)
            problem(v,
                    "%s: batch at position %zu has offset %" PRId64 ", %" PRId64
                    " expected",
                    path, pos, b.base_offset, *next);
        *next = (int64_t)((uint64_t)b.base_offset +
                          (uint64_t)b.last_offset_delta + 1);
        pos = (size_t)(b.end - p);
    }
    if (st == SEG_INVALID)
        problem(v, "%s: %zu bytes at position %zu are no record batch", path,
                n - pos, pos);
    f->len = pos;
    f->crc = seg_crc(p, pos);
    v->bytes += n;
    seg_unmap(p, n);
}

/* Walk a copy's files into files (*nfiles of them, malloc'd). */
static void
verify_copy(verifier *v, const char *dir, const char *topic, int32_t part,
            int64_t end, seg_file **files, int *nfiles)
{
    char pdir[4096];
    struct dirent **names;
    snprintf(pdir, sizeof pdir, "%s/%s-%" PRId32, dir, topic, part);
    int n = scandir(pdir, &names, is_segment, alphasort);
    *files = NULL;
    *nfiles = 0;
    if (n < 0) {
        problem(v, "%s: cannot list: %s", pdir, samsa_strerror(-errno));
        return;
    }
    *files = calloc((size_t)n + 1, sizeof **files);
    int64_t next = -1;
    for (int i = 0; i < n; i++) {
        if (*files != NULL) {
            char path[4352];
            seg_file *f = &(*files)[i];
            memcpy(f->name, names[i]->d_name, 25); /* is_segment: 24 */
            snprintf(path, sizeof path, "%s/%s", pdir, f->name);
            verify_file(v, path, f, &next);
        }
        free(names[i]);
    }
    free(names);
    if (*files == NULL) {
        problem(v, "%s: %s", pdir, samsa_strerror(SAMSA_ENOMEM));
        return;
    }
    *nfiles = n;
    v->copies++;
    if (next < end)
        problem(v, "%s: ends at offset %" PRId64 ", the partition at %" PRId64,
                pdir, next < 0 ? 0 : next, end);
}

/* Compare a copy's files with the first in-sync copy's. */
static void
compare(verifier *v, const char *topic, int32_t p, int dir, int ref,
        const seg_file *a, int na, const seg_file *b, int nb)
{
    for (int i = 0, j = 0; i < na || j < nb;) {
        int c = i == na ? 1 : j == nb ? -1 : strcmp(a[i].name, b[j].name);
        if (c != 0 || a[i].len != b[j].len || a[i].crc != b[j].crc)
            problem(v,
                    "%s-%" PRId32 ": %s: the copy on dir %d %s the one "
                    "on dir %d",
                    topic, p, c <= 0 ? a[i].name : b[j].name, dir,
                    c < 0   ? "lacks a file of"
                    : c > 0 ? "has a file not in"
                            : "differs from",
                    ref);
        i += c <= 0;
        j += c >= 0;
    }
}

static const char *
copy_dir(const verifier *v, int dir)
{
    if (dir == 0)
        return v->dir;
    if (dir > 0 && dir <= v->ts->nreplicas)
        return v->ts->replicas[dir - 1];
    return NULL;
}

/* samsa_stats_partitions()'s callback: whether the partition ctx names
 * has gaps; 1 (stop) once found. */
typedef struct part_flags {
    int32_t partition; /* the one looked for */
    int gaps;          /* out               */
} part_flags;

static int
take_flags(const samsa_partition_stats *st, void *ctx)
{
    part_flags *f = ctx;
    if (st->partition != f->partition)
        return 0;
    f->gaps = (st->flags & SAMSA_PARTITION_GAPS) != 0;
    return 1;
}

static int
verify_partition(verifier *v, samsa *s, const char *topic, int32_t p)
{
    samsa_replica_info info[MAX_COPIES];
    size_t n;
    int64_t end;
    part_flags pf = {p, 0};
    int rc = samsa_stats_partitions(s, topic, take_flags, &pf);
    v->gaps = pf.gaps;
    rc = rc == 1 ? 0 : rc == 0 ? SAMSA_ENOPARTITION : rc;
    if (rc == 0)
        rc = samsa_offsets(s, topic, p, NULL, &end);
    if (rc == 0)
        rc = samsa_replica_status(s, topic, p, info, MAX_COPIES, &n);
    if (rc != 0)
        return tool_fail(rc, "topic \"%s\" partition %" PRId32, topic, p);
    show_progress(v, topic, p);
    seg_file *ref = NULL;
    int nref = 0, refdir = -1;
    for (size_t i = 0; i < n && i < MAX_COPIES; i++) {
        const char *d = copy_dir(v, info[i].dir);
        if (d == NULL) {
            problem(v,
                    "%s-%" PRId32 ": a copy is on a directory not opened "
                    "now (give the store's mirrors with -R)",
                    topic, p);
            continue;
        }
        if (info[i].state != SAMSA_REPLICA_INSYNC) {
            problem(v,
                    "%s-%" PRId32 ": the copy on dir %d is out of the "
                    "in-sync set: %s",
                    topic, p, info[i].dir, samsa_strerror(info[i].reason));
            continue;
        }
        seg_file *files;
        int nfiles;
        verify_copy(v, d, topic, p, end, &files, &nfiles);
        if (ref == NULL) {
            ref = files;
            nref = nfiles;
            refdir = info[i].dir;
            continue;
        }
        compare(v, topic, p, info[i].dir, refdir, ref, nref, files, nfiles);
        free(files);
    }
    free(ref);
    v->partitions_done++;
    return TOOL_OK;
}

typedef struct topic_list {
    char **names; /* the topics, in name order       */
    size_t n;     /* names                           */
} topic_list;

static int
collect(const char *name, void *ctx)
{
    topic_list *l = ctx;
    char **nn = realloc(l->names, (l->n + 1) * sizeof *nn);
    if (nn == NULL || (nn[l->n] = strdup(name)) == NULL) {
        if (nn != NULL)
            l->names = nn;
        return SAMSA_ENOMEM;
    }
    l->names = nn;
    l->n++;
    return 0;
}

static int
verify_store(verifier *v, samsa *s)
{
    topic_list l = {NULL, 0};
    int32_t *parts = NULL;
    int rc = samsa_topic_foreach(s, collect, &l);
    int st = rc != 0 ? tool_fail(rc, "topics") : TOOL_OK;
    if (st == TOOL_OK && l.n > 0 &&
        (parts = calloc(l.n, sizeof *parts)) == NULL)
        st = tool_fail(SAMSA_ENOMEM, "topics");
    for (size_t i = 0; st == TOOL_OK && i < l.n; i++) {
        samsa_topic_config cfg;
        /* A topic the read-only open could not load (a file it cannot
         * open under a segment's name) is damage to report, among the
         * rest, not the end of the walk. */
        if ((rc = samsa_topic_describe(s, l.names[i], &cfg)) != 0)
            problem(v, "topic \"%s\": cannot be read: %s", l.names[i],
                    samsa_strerror(rc));
        else
            v->partitions_total += (uint64_t)(parts[i] = cfg.partitions);
    }
    for (size_t i = 0; st == TOOL_OK && i < l.n; i++)
        for (int32_t p = 0; st == TOOL_OK && p < parts[i] && !tool_stop; p++)
            st = verify_partition(v, s, l.names[i], p);
    if (v->progress)
        fputs("\r\033[K", stderr);
    if (st == TOOL_OK && tool_stop)
        st = tool_fail(-EINTR, "interrupted");
    if (st == TOOL_OK)
        printf("verified %zu topic%s, %" PRIu64 " partition%s, %" PRIu64
               " cop%s, %" PRIu64 " segment files, %" PRIu64
               " batches, %" PRIu64 " bytes: %s\n",
               l.n, l.n == 1 ? "" : "s", v->partitions_done,
               v->partitions_done == 1 ? "" : "s", v->copies,
               v->copies == 1 ? "y" : "ies", v->files, v->batches, v->bytes,
               v->problems ? "PROBLEMS FOUND" : "all intact");
    for (size_t i = 0; i < l.n; i++)
        free(l.names[i]);
    free(l.names);
    free(parts);
    return st;
}

static int
repair(samsa *s)
{
    size_t rejoined = 0;
    samsa_scrub_report rep = {0};
    int rc = samsa_replica_catchup(s, &rejoined);
    if (rc != 0)
        return tool_fail(rc, "catching up the copies");
    rc = samsa_scrub(s, NULL, &rep);
    printf("repair: %zu cop%s caught up; scrub checked %" PRIu64
           " segment files, %" PRIu64 " batches: %" PRIu64 " damaged, %" PRIu64
           " missing, %" PRIu64 " repaired, %" PRIu64 " unrepairable\n",
           rejoined, rejoined == 1 ? "y" : "ies", rep.segments, rep.batches,
           rep.damaged, rep.missing, rep.repaired, rep.unrepairable);
    if (rc != 0 && rc != SAMSA_ECORRUPT)
        return tool_fail(rc, "scrub");
    return TOOL_OK;
}

int
cmd_verify(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"repair", no_argument, NULL, 'r'},
        {"replica-dir", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0}};
    tool_store ts = {.nreplicas = 0};
    int do_repair = 0, c, st;
    while ((c = getopt_long(argc, argv, ":R:", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            do_repair = 1;
            break;
        default:
            if ((st = tool_option(c, argv, &ts, verify_help)) != TOOL_MORE)
                return st;
        }
    }
    samsa *s;
    if ((st = tool_open_arg(argc, argv, &ts, do_repair ? TOOL_WRITE : TOOL_READ,
                            &s)) != TOOL_OK)
        return st;
    verifier v = {.dir = argv[optind], .ts = &ts, .progress = isatty(2)};
    tool_signals();
    st = do_repair ? repair(s) : TOOL_OK;
    if (st == TOOL_OK)
        st = verify_store(&v, s);
    if (tool_close(s) != TOOL_OK)
        return TOOL_ERR;
    if (st == TOOL_OK && v.problems > 0) {
        tool_msg("%s: %" PRIu64 " problem%s found", v.dir, v.problems,
                 v.problems == 1 ? "" : "s");
        return TOOL_ERR;
    }
    return st;
}
