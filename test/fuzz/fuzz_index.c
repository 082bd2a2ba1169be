/*
 * fuzz_index.c - the derived files of a partition: its segments' .index
 * and .timeindex files and its end marker (samsa.end), damaged in a store
 * whose logs are whole.  Their promise is stronger than "no crash": losing
 * or garbling them may only make recovery scan more (segment.c, "Index";
 * log.c, "The end marker"), so every record must come back exactly as it
 * was, at its offset, the log end must not move, and a time lookup must
 * land where it did on the undamaged store; a read-only handle opened on
 * the damaged files (the writer closed) must see the same records, up to
 * the end a sealed marker word gives it.  fuzz_recovery damages the .log
 * files too, so it can check only that what is returned is in order.
 *
 * Input: a flags byte, then sections (fuzz.h).  Flags bit 0 picks the
 * store: 0, closed cleanly (sealed segments trusted from their index); 1,
 * its writer killed after more records (the active segment recovered from
 * the index entry at the marker's end).  A section's kind says what it
 * does; for kinds 0 to 5, id >> 10 picks the segment (modulo their count)
 * and id & 1023 is a byte offset or a length:
 *   kind 0, 1: write its bytes into the .index, .timeindex at the offset
 *   kind 2:    write its bytes into the marker at offset id & 63
 *   kind 3, 4: cut the .index, .timeindex to the length
 *   kind 5:    cut the marker to id & 127 bytes
 *   kind 6:    remove the .index (id & 1 == 0) or the .timeindex
 *   kind 7:    set the marker's end word, sealed: end = the first 8 bytes
 *              (big-endian) modulo the true end + 1, synced when byte 8 is
 *              odd; a lower bound, as a marker may always hold
 * A marker left with a valid seal over an end past the log is skipped: the
 * writer trusts a sealed word of its own boot by design (log.c), and
 * random bytes that make one are not damage it can tell.
 */
#include <dirent.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"
#include "util/samsa_int.h"

#define TOPIC    FUZZ_LOG_TOPIC
#define MAX_SEGS 64
#define MAX_RECS 400
#define NTIMES   6

typedef struct state {
    fuzz_tree *tree;         /* the store's files                  */
    int64_t bases[MAX_SEGS]; /* the partition's segments           */
    size_t nsegs;            /* how many                           */
    int64_t end;             /* the log end                        */
    uint64_t sum[MAX_RECS];  /* each record's digest               */
    int64_t seek[NTIMES];    /* where the time lookups land        */
} state;

static const int64_t times[NTIMES] = {
    0, FUZZ_TS0, FUZZ_TS0 + 5, FUZZ_TS0 + 77, FUZZ_TS0 + 199, INT64_MAX};

static char *dir;      /* the store              */
static char part[600]; /* dir/f-0                */
static state st[2];    /* clean, killed          */

static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Everything a reader sees of m. */
static uint64_t
digest(const samsa_message *m)
{
    uint64_t h = fnv(1469598103934665603ull, &m->offset, sizeof m->offset);
    h = fnv(h, &m->timestamp, sizeof m->timestamp);
    h = fnv(h, &m->key_len, sizeof m->key_len);
    h = fnv(h, m->key, m->key != NULL ? m->key_len : 0);
    h = fnv(h, &m->value_len, sizeof m->value_len);
    h = fnv(h, m->value, m->value != NULL ? m->value_len : 0);
    h = fnv(h, &m->header_count, sizeof m->header_count);
    return h;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void
list_bases(state *s)
{
    DIR *d = opendir(part);
    FUZZ_CHECK(d != NULL);
    s->nsegs = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strlen(e->d_name) == 24 && strcmp(e->d_name + 20, ".log") == 0) {
            FUZZ_CHECK(s->nsegs < MAX_SEGS);
            s->bases[s->nsegs++] = strtoll(e->d_name, NULL, 10);
        }
    closedir(d);
    qsort(s->bases, s->nsegs, sizeof s->bases[0], cmp_i64);
}

/* The time lookups of partition 0 of s, into out. */
static void
seek_times(samsa *s, int64_t *out)
{
    samsa_cursor *c;
    FUZZ_CHECK(samsa_cursor_open(s, TOPIC, 0, SAMSA_OFFSET_BEGINNING, &c) == 0);
    for (int i = 0; i < NTIMES; i++) {
        FUZZ_CHECK(samsa_cursor_seek_time(c, times[i]) == 0);
        out[i] = samsa_cursor_offset(c);
    }
    samsa_cursor_close(c);
}

/* Records 0..end-1 of s must be those of want, exactly, and (last) no
 * other after them. */
static void
read_exact(samsa *s, const state *want, int64_t end, bool last)
{
    samsa_cursor *c;
    samsa_message m;
    FUZZ_CHECK(samsa_cursor_open(s, TOPIC, 0, 0, &c) == 0);
    int64_t o = 0;
    for (; o < end; o++) {
        int rc = samsa_cursor_next(c, &m, 0);
        if (rc != 0)
            fprintf(stderr, "offset %" PRId64 ": %s\n", o, samsa_strerror(rc));
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(m.offset == o && digest(&m) == want->sum[o]);
    }
    if (last)
        FUZZ_CHECK(samsa_cursor_next(c, &m, 0) == SAMSA_ETIMEDOUT);
    samsa_cursor_close(c);
}

/* Save the store as it is into s, then learn its records (the open
 * recovers a killed writer's store: the tree is taken first). */
static void
take(state *s)
{
    s->tree = fuzz_tree_save(dir);
    list_bases(s);
    samsa *h;
    FUZZ_CHECK(samsa_open(dir, NULL, &h) == 0);
    int64_t first;
    FUZZ_CHECK(samsa_offsets(h, TOPIC, 0, &first, &s->end) == 0);
    FUZZ_CHECK(first == 0 && s->end > 0 && s->end <= MAX_RECS);
    samsa_cursor *c;
    samsa_message m;
    FUZZ_CHECK(samsa_cursor_open(h, TOPIC, 0, 0, &c) == 0);
    for (int64_t o = 0; o < s->end; o++) {
        FUZZ_CHECK(samsa_cursor_next(c, &m, 0) == 0 && m.offset == o);
        s->sum[o] = digest(&m);
    }
    samsa_cursor_close(c);
    seek_times(h, s->seek);
    FUZZ_CHECK(samsa_close(h) == 0);
    fuzz_tree_restore(dir, s->tree);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char mdb[600];
    dir = fuzz_store_dir(mdb, sizeof mdb);
    fuzz_path(part, sizeof part, dir, TOPIC "-0");
    fuzz_store_log(dir, true, 0, 200);
    take(&st[0]);
    /* A writer killed after 60 more records: no close, no seal. */
    fflush(NULL);
    pid_t pid = fork();
    FUZZ_CHECK(pid >= 0);
    if (pid == 0) {
        samsa *h;
        if (samsa_open(dir, NULL, &h) != 0)
            _exit(1);
        for (int i = 200; i < 260; i++) {
            char v[64];
            int n = snprintf(v, sizeof v, "killed-%d", i);
            samsa_record r = {
                .value = v, .value_len = (size_t)n, .timestamp = FUZZ_TS0 + i};
            if (samsa_produce(h, TOPIC, 0, &r, 1) != 0)
                _exit(1);
        }
        _exit(0);
    }
    int status;
    FUZZ_CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
               WEXITSTATUS(status) == 0);
    take(&st[1]);
    FUZZ_CHECK(st[1].end == 260);
    return 0;
}

static void
file_path(char *buf, size_t cap, const state *s, uint16_t id, const char *ext)
{
    snprintf(buf, cap, "%s/%020" PRId64 "%s", part,
             s->bases[(id >> 10) % s->nsegs], ext);
}

static void
patch(const char *path, size_t off, const uint8_t *b, size_t n)
{
    uint8_t *old = NULL, *buf;
    size_t len = 0;
    if (!fuzz_read_file(path, &old, &len))
        len = 0;
    size_t size = off + n > len ? off + n : len;
    buf = calloc(1, size + 1);
    FUZZ_CHECK(buf != NULL);
    if (len > 0)
        memcpy(buf, old, len);
    memcpy(buf + off, b, n);
    fuzz_write_file(path, buf, size);
    free(buf);
    free(old);
}

static uint64_t
seal(uint64_t v)
{
    uint8_t b[6];
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return v | (uint64_t)(samsa__crc32c(0, b, 6) & 0xffff) << 48;
}

/* The end the marker's word vouches for when sealed, else -1; with
 * magic, only when the file also begins with the marker's magic (a
 * read-only handle takes no word from a file that does not). */
static int64_t
marker_end(const char *path, bool magic)
{
    uint8_t *b;
    size_t len;
    int64_t end = -1;
    if (!fuzz_read_file(path, &b, &len))
        return -1;
    if (len >= 64 && (!magic || memcmp(b, "SAMSAEND", 8) == 0)) {
        uint64_t w = 0;
        for (int i = 0; i < 8; i++)
            w |= (uint64_t)b[56 + i] << (8 * i);
        if (seal(w & ((UINT64_C(1) << 48) - 1)) == w)
            end = (int64_t)(w & ((UINT64_C(1) << 47) - 1));
    }
    free(b);
    return end;
}

/* Damage the files of s as sec says (see the top of the file). */
static void
apply(const state *s, const fuzz_section *sec)
{
    static const char *const ext[] = {".index", ".timeindex"};
    char path[700], marker[700];
    snprintf(marker, sizeof marker, "%s/samsa.end", part);
    switch (sec->kind) {
    case 0:
    case 1:
        file_path(path, sizeof path, s, sec->id, ext[sec->kind]);
        patch(path, sec->id & 1023, sec->buf, sec->len);
        break;
    case 2:
        patch(marker, sec->id & 63, sec->buf, sec->len);
        break;
    case 3:
    case 4:
        file_path(path, sizeof path, s, sec->id, ext[sec->kind - 3]);
        (void)truncate(path, sec->id & 1023);
        break;
    case 5:
        (void)truncate(marker, sec->id & 127);
        break;
    case 6:
        file_path(path, sizeof path, s, sec->id, ext[sec->id & 1]);
        (void)unlink(path);
        break;
    case 7: {
        if (sec->len < 8)
            break;
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
            v = v << 8 | sec->buf[i];
        uint64_t end = v % (uint64_t)(s->end + 1);
        bool synced = sec->len > 8 && (sec->buf[8] & 1);
        uint64_t w = seal(end | (synced ? UINT64_C(1) << 47 : 0));
        uint8_t b[8];
        for (int i = 0; i < 8; i++)
            b[i] = (uint8_t)(w >> (8 * i));
        patch(marker, 56, b, 8);
        break;
    }
    default:
        break;
    }
}

/* A read-only handle on the damaged files: the records up to its end
 * exactly, and that end the log's unless a sealed word says less; then
 * the start of the batch the word's end falls in (a batch it does not
 * wholly cover shows none of its records: log_follow.c), and the store's
 * batches hold at most 4 records (fuzz_store_log()). */
static void
check_rdonly(const state *s, int64_t marked)
{
    samsa_options ro = {.flags = SAMSA_OPEN_RDONLY};
    samsa *h;
    FUZZ_CHECK(samsa_open(dir, &ro, &h) == 0);
    int64_t first, end;
    FUZZ_CHECK(samsa_offsets(h, TOPIC, 0, &first, &end) == 0);
    FUZZ_CHECK(first == 0 && end <= s->end);
    if (marked < 0 || marked >= s->end)
        FUZZ_CHECK(end == s->end);
    else
        FUZZ_CHECK(end <= marked && end > marked - 4);
    read_exact(h, s, end, true);
    FUZZ_CHECK(samsa_close(h) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const state *s = &st[data[0] & 1];
    const uint8_t *p = data + 1;
    size_t left = size - 1;
    fuzz_section sec;
    char marker[700];
    snprintf(marker, sizeof marker, "%s/samsa.end", part);

    fuzz_tree_restore(dir, s->tree);
    while (fuzz_section_next(&p, &left, &sec))
        apply(s, &sec);
    int64_t marked = marker_end(marker, false);
    if (marked > s->end)
        return 0; /* see the top of the file */

    check_rdonly(s, marker_end(marker, true));
    samsa *h;
    FUZZ_CHECK(samsa_open(dir, NULL, &h) == 0);
    int64_t first, end, seek[NTIMES];
    FUZZ_CHECK(samsa_offsets(h, TOPIC, 0, &first, &end) == 0);
    FUZZ_CHECK(first == 0 && end == s->end);
    read_exact(h, s, s->end, true);
    seek_times(h, seek);
    for (int i = 0; i < NTIMES; i++)
        FUZZ_CHECK(seek[i] == s->seek[i]);
    fuzz_produce_readback(h, TOPIC, 0);
    FUZZ_CHECK(samsa_close(h) == 0);
    /* What recovery wrote (fresh index files, the marker) opens again to
     * the same records, and the one produced after them. */
    FUZZ_CHECK(samsa_open(dir, NULL, &h) == 0);
    FUZZ_CHECK(samsa_offsets(h, TOPIC, 0, &first, &end) == 0);
    FUZZ_CHECK(first == 0 && end == s->end + 1);
    read_exact(h, s, s->end, false);
    FUZZ_CHECK(samsa_close(h) == 0);
    return 0;
}
