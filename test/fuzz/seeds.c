/*
 * seeds.c - writes the seed corpora of the fuzz targets from files the
 * library itself makes (the stores of fuzz_store.c), so that the seeds are
 * real samsa output and anyone can make them again:
 *
 *   build/fuzz/seeds test/fuzz/corpus      (make fuzz-seeds)
 *
 * writes OUT/TARGET/seed-NAME for each target, in the input formats the
 * targets' header comments describe.  Crash inputs that the fuzzers
 * found live beside them as OUT/TARGET/crash-NAME and are not touched.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "listener/listener.h"
#include "storage/batch.h"
#include "store/store.h"

static const char *out_root; /* OUT */

/* OUT/target/seed-name, opened for writing, starting with flags (or no
 * flags byte when flags < 0). */
static FILE *
seed_open(const char *target, const char *name, int flags)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", out_root, target);
    FUZZ_CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
    snprintf(path, sizeof path, "%s/%s/seed-%s", out_root, target, name);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL);
    if (flags >= 0)
        FUZZ_CHECK(fputc(flags, f) == flags);
    return f;
}

static void
seed_close(FILE *f)
{
    FUZZ_CHECK(fclose(f) == 0);
}

/* ---- the log: batch decoder and recovery --------------------------------- */

#define MAX_SEGS 64

typedef struct seg_files {
    int64_t base;     /* the segment's base offset */
    uint8_t *file[3]; /* .log, .index, .timeindex  */
    size_t len[3];    /* their sizes               */
} seg_files;

static const char *const exts[3] = {".log", ".index", ".timeindex"};

static int
cmp_seg(const void *a, const void *b)
{
    int64_t x = ((const seg_files *)a)->base, y = ((const seg_files *)b)->base;
    return (x > y) - (x < y);
}

/* The segments of dir/f-0, sorted; returns their count. */
static size_t
read_segments(const char *dir, seg_files *segs)
{
    char part[600], path[800];
    fuzz_path(part, sizeof part, dir, FUZZ_LOG_TOPIC "-0");
    DIR *d = opendir(part);
    FUZZ_CHECK(d != NULL);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l != 24 || strcmp(e->d_name + 20, ".log") != 0)
            continue;
        FUZZ_CHECK(n < MAX_SEGS);
        seg_files *s = &segs[n++];
        s->base = strtoll(e->d_name, NULL, 10);
        for (int k = 0; k < 3; k++) {
            snprintf(path, sizeof path, "%s/%020" PRId64 "%s", part, s->base,
                     exts[k]);
            if (!fuzz_read_file(path, &s->file[k], &s->len[k])) {
                s->file[k] = NULL;
                s->len[k] = 0;
            }
        }
    }
    closedir(d);
    qsort(segs, n, sizeof *segs, cmp_seg);
    return n;
}

static void
free_segments(seg_files *segs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            free(segs[i].file[k]);
}

/* Add delta to the baseOffset of every batch of a .log file (the field
 * is outside the CRC, so the batches stay valid). */
static void
rebase(uint8_t *log, size_t len, int64_t delta)
{
    for (size_t pos = 0; pos + 12 <= len;) {
        uint64_t base = 0, blen = 0;
        for (int i = 0; i < 8; i++)
            base = base << 8 | log[pos + i];
        for (int i = 8; i < 12; i++)
            blen = blen << 8 | log[pos + i];
        base += (uint64_t)delta;
        for (int i = 7; i >= 0; i--, base >>= 8)
            log[pos + i] = (uint8_t)base;
        pos += 12 + blen;
    }
}

/* A recovery input: every segment's files of the kinds in mask (bit k:
 * exts[k]); the last .log cut by cut bytes and followed by zeros bytes of
 * zeros (a torn tail, preallocated space). */
static void
recovery_seed(const char *name, int flags, const seg_files *segs, size_t n,
              int mask, size_t cut, size_t zeros)
{
    FILE *f = seed_open("recovery", name, flags);
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) {
            if (!(mask & (1 << k)) || segs[i].file[k] == NULL)
                continue;
            size_t len = segs[i].len[k];
            if (k == 0 && i == n - 1 && (cut > 0 || zeros > 0)) {
                len = len > cut ? len - cut : 0;
                uint8_t *b = calloc(1, len + zeros);
                FUZZ_CHECK(b != NULL);
                memcpy(b, segs[i].file[k], len);
                fuzz_section_put(f, (uint8_t)k, (uint16_t)segs[i].base, b,
                                 len + zeros);
                free(b);
                continue;
            }
            fuzz_section_put(f, (uint8_t)k, (uint16_t)segs[i].base,
                             segs[i].file[k], len);
        }
    }
    seed_close(f);
}

static void
log_seeds(const char *dir)
{
    char store[700];
    fuzz_path(store, sizeof store, dir, "log");
    fuzz_store_log(store, true, 0, 200);
    seg_files segs[MAX_SEGS];
    size_t n = read_segments(store, segs);
    FUZZ_CHECK(n >= 3); /* several segments, sealed ones among them */

    /* batch: whole segments, with and without CRC repair */
    for (size_t i = 0; i < n; i += n - 1) {
        for (int fix = 0; fix < 2; fix++) {
            char name[64];
            snprintf(name, sizeof name, "segment-%" PRId64 "%s", segs[i].base,
                     fix ? "-fixcrc" : "");
            FILE *f = seed_open("batch", name, fix);
            FUZZ_CHECK(fwrite(segs[i].file[0], 1, segs[i].len[0], f) ==
                       segs[i].len[0]);
            seed_close(f);
        }
    }

    /* recovery: a clean close, a crash (no index files, recovery point
     * 0), a torn tail, preallocated zeros, index files alone */
    recovery_seed("clean", 1, segs, n, 7, 0, 0);
    recovery_seed("crash", 0, segs, n, 1, 0, 0);
    recovery_seed("crash-indexes", 0, segs, n, 7, 0, 0);
    recovery_seed("torn-tail", 0, segs, n, 1, 9, 0);
    recovery_seed("prealloc-zeros", 0, segs, n, 1, 0, 300);
    recovery_seed("clean-torn", 1, segs, n, 7, 30, 0);
    recovery_seed("last-segment", 0, segs + n - 1, 1, 7, 0, 0);

    /* the same store at offsets near INT64_MAX (kinds 3 to 5) */
    FILE *f = seed_open("recovery", "huge-offsets", 0);
    for (size_t i = 0; i < n; i++) {
        rebase(segs[i].file[0], segs[i].len[0], FUZZ_HUGE_BASE);
        for (int k = 0; k < 3; k++)
            if (segs[i].file[k] != NULL)
                fuzz_section_put(f, (uint8_t)(3 + k), (uint16_t)segs[i].base,
                                 segs[i].file[k], segs[i].len[k]);
    }
    seed_close(f);
    free_segments(segs, n);
}

/* ---- the queue journal --------------------------------------------------- */

/* The valid prefix of a journal file: the header and every entry that is
 * not all zeros (the file is allocated ahead, in zeros). */
static size_t
journal_used(const uint8_t *j, size_t len)
{
    size_t used = len >= 16 ? 16 : 0;
    static const uint8_t zero[24];
    while (used + 24 <= len && memcmp(j + used, zero, 24) != 0)
        used += 24;
    return used;
}

/* A journal input: the snapshot (if any) and the journal of the group's
 * partition 0, as the open store s has them now. */
static void
journal_seed(samsa *s, const char *dir, const char *name, int flags)
{
    uint64_t id = fuzz_topic_id(s, FUZZ_QUEUE_TOPIC);
    void *snap;
    size_t snap_len;
    int rc =
        catalog_queue_get(&s->cat, FUZZ_QUEUE_GROUP, id, 0, &snap, &snap_len);
    FUZZ_CHECK(rc == 0 || rc == SAMSA_ENOTOPIC);
    char path[800];
    snprintf(path, sizeof path, "%s/queues/%s/%" PRIu64 "-0.journal", dir,
             FUZZ_QUEUE_GROUP, id);
    uint8_t *j;
    size_t jlen;
    FUZZ_CHECK(fuzz_read_file(path, &j, &jlen));
    FILE *f = seed_open("journal", name, flags);
    if (rc == 0)
        fuzz_section_put(f, 0, 0, snap, snap_len);
    fuzz_section_put(f, 1, 0, j, journal_used(j, jlen));
    seed_close(f);
    if (rc == 0)
        free(snap);
    free(j);
}

static void
journal_seeds(const char *dir)
{
    char store[700];
    fuzz_path(store, sizeof store, dir, "queue");
    fuzz_store_queue(store);
    samsa *s;
    /* a new group: generation 0, no snapshot, the journal alone */
    FUZZ_CHECK(samsa_open(store, NULL, &s) == 0);
    FUZZ_CHECK(fuzz_queue_work(s, 10) == 10);
    journal_seed(s, store, "journal-only", 0);
    FUZZ_CHECK(samsa_close(s) == 0); /* checkpoint: snapshot, gen 1 */
    /* a snapshot and the journal of the changes since */
    FUZZ_CHECK(samsa_open(store, NULL, &s) == 0);
    FUZZ_CHECK(fuzz_queue_work(s, 15) == 15);
    journal_seed(s, store, "snapshot-journal", 0);
    journal_seed(s, store, "snapshot-journal-fixcrc", 1);
    FUZZ_CHECK(samsa_close(s) == 0);
    /* the snapshot alone, journal reset (header only) */
    FUZZ_CHECK(samsa_open(store, NULL, &s) == 0);
    FUZZ_CHECK(fuzz_queue_work(s, 0) == 0);
    journal_seed(s, store, "snapshot-only", 0);
    FUZZ_CHECK(samsa_close(s) == 0);
}

/* ---- the catalog --------------------------------------------------------- */

static void
catalog_seeds(const char *dir)
{
    char store[700], mdb[800];
    fuzz_path(store, sizeof store, dir, "catalog");
    fuzz_store_catalog(store);
    uint8_t *b;
    size_t len;
    FUZZ_CHECK(fuzz_read_file(
        fuzz_path(mdb, sizeof mdb, store, "catalog/data.mdb"), &b, &len));
    FILE *f = seed_open("catalog", "store", -1);
    FUZZ_CHECK(fwrite(b, 1, len, f) == len);
    seed_close(f);
    free(b);
}

/* ---- the listener: one request of each API served ---------------------- */

/* A request's header (v1; flex adds the tagged fields) into w. */
static void
kafka_header(kwrite *w, int16_t key, int16_t version, bool flex)
{
    kwrite_i16(w, key);
    kwrite_i16(w, version);
    kwrite_i32(w, 1);
    kwrite_strz(w, false, "seeds");
    kwrite_tags(w, flex);
}

static void
kafka_seed(const char *name, kwrite *w)
{
    FUZZ_CHECK(!w->bad);
    FILE *f = seed_open("kafka", name, -1);
    FUZZ_CHECK(fwrite(w->buf, 1, w->len, f) == w->len);
    seed_close(f);
    kwrite_free(w);
}

/* A v2 batch of two records (keys, a header) as a client sends it. */
static size_t
kafka_batch(uint8_t *out)
{
    samsa_header h = {.key = "trace", .value = "ab", .value_len = 2};
    samsa_record r[2] = {{.key = "k",
                          .key_len = 1,
                          .value = "v0",
                          .value_len = 2,
                          .timestamp = FUZZ_TS0},
                         {.value = "v1",
                          .value_len = 2,
                          .headers = &h,
                          .header_count = 1,
                          .timestamp = FUZZ_TS0 + 1}};
    samsa_record *rp[2] = {&r[0], &r[1]};
    size_t bodies[2];
    size_t n = batch_encoded_size(rp, 2, bodies);
    FUZZ_CHECK(n <= 256);
    (void)batch_encode(out, rp, 2, bodies);
    return n;
}

/* A Produce v8 of the batch (blen bytes) to partition 0. */
static void
kafka_produce_seed(const char *name, const uint8_t *batch, size_t blen)
{
    kwrite w = {0};
    kafka_header(&w, KAPI_PRODUCE, 8, false);
    kwrite_strz(&w, false, NULL);
    kwrite_i16(&w, -1);
    kwrite_i32(&w, 1000);
    kwrite_array(&w, false, 1);
    kwrite_strz(&w, false, FUZZ_LOG_TOPIC);
    kwrite_array(&w, false, 1);
    kwrite_i32(&w, 0);
    kwrite_bytes_len(&w, false, (int64_t)blen);
    kwrite_raw(&w, batch, blen);
    kafka_seed(name, &w);
}

static void
kafka_seeds(void)
{
    kwrite w = {0};
    kafka_header(&w, KAPI_API_VERSIONS, 3, true);
    kwrite_strz(&w, true, "seeds");
    kwrite_strz(&w, true, "1");
    kwrite_tags(&w, true);
    kafka_seed("api-versions", &w);

    kafka_header(&w, KAPI_METADATA, 8, false);
    kwrite_array(&w, false, 1);
    kwrite_strz(&w, false, FUZZ_LOG_TOPIC);
    kwrite_i8(&w, 0);
    kwrite_i8(&w, 0);
    kwrite_i8(&w, 0);
    kafka_seed("metadata", &w);

    uint8_t batch[256];
    size_t blen = kafka_batch(batch);
    kafka_produce_seed("produce", batch, blen);

    kafka_header(&w, KAPI_LIST_OFFSETS, 5, false);
    kwrite_i32(&w, -1);
    kwrite_i8(&w, 0);
    kwrite_array(&w, false, 1);
    kwrite_strz(&w, false, FUZZ_LOG_TOPIC);
    kwrite_array(&w, false, 3);
    for (int i = 0; i < 3; i++) {
        kwrite_i32(&w, 0);
        kwrite_i32(&w, -1);
        kwrite_i64(&w, i == 0 ? -1 : i == 1 ? -2 : FUZZ_TS0 + 10);
    }
    kafka_seed("list-offsets", &w);

    kafka_header(&w, KAPI_FETCH, 11, false);
    kwrite_i32(&w, -1);
    kwrite_i32(&w, 0); /* max_wait 0: answered at once */
    kwrite_i32(&w, 1);
    kwrite_i32(&w, 1 << 20);
    kwrite_i8(&w, 0);
    kwrite_i32(&w, 0);
    kwrite_i32(&w, -1);
    kwrite_array(&w, false, 1);
    kwrite_strz(&w, false, FUZZ_LOG_TOPIC);
    kwrite_array(&w, false, 1);
    kwrite_i32(&w, 0);
    kwrite_i32(&w, -1);
    kwrite_i64(&w, 5);
    kwrite_i64(&w, -1);
    kwrite_i32(&w, 4096);
    kwrite_array(&w, false, 0);
    kwrite_strz(&w, false, NULL);
    kafka_seed("fetch", &w);

    kafka_header(&w, KAPI_FIND_COORDINATOR, 2, false);
    kwrite_strz(&w, false, "g");
    kwrite_i8(&w, 0);
    kafka_seed("find-coordinator", &w);

    kafka_header(&w, KAPI_OFFSET_COMMIT, 7, false);
    kwrite_strz(&w, false, "g");
    kwrite_i32(&w, -1);
    kwrite_strz(&w, false, "");
    kwrite_strz(&w, false, NULL);
    kwrite_array(&w, false, 1);
    kwrite_strz(&w, false, FUZZ_LOG_TOPIC);
    kwrite_array(&w, false, 1);
    kwrite_i32(&w, 0);
    kwrite_i64(&w, 3);
    kwrite_i32(&w, -1);
    kwrite_strz(&w, false, NULL);
    kafka_seed("offset-commit", &w);

    kafka_header(&w, KAPI_OFFSET_FETCH, 5, false);
    kwrite_strz(&w, false, "g");
    kwrite_array(&w, false, -1);
    kafka_seed("offset-fetch", &w);

    kafka_header(&w, KAPI_CREATE_TOPICS, 4, false);
    kwrite_array(&w, false, 1);
    kwrite_strz(&w, false, "c");
    kwrite_i32(&w, 2);
    kwrite_i16(&w, -1);
    kwrite_array(&w, false, 0);
    kwrite_array(&w, false, 1);
    kwrite_strz(&w, false, "retention.ms");
    kwrite_strz(&w, false, "60000");
    kwrite_i32(&w, 1000);
    kwrite_i8(&w, 0);
    kafka_seed("create-topics", &w);

    kafka_header(&w, KAPI_CREATE_PARTITIONS, 1, false);
    kwrite_array(&w, false, 1);
    kwrite_strz(&w, false, "c");
    kwrite_i32(&w, 3);
    kwrite_array(&w, false, -1);
    kwrite_i32(&w, 1000);
    kwrite_i8(&w, 1);
    kafka_seed("create-partitions", &w);

    kafka_header(&w, KAPI_DELETE_RECORDS, 1, false);
    kwrite_array(&w, false, 1);
    kwrite_strz(&w, false, FUZZ_LOG_TOPIC);
    kwrite_array(&w, false, 1);
    kwrite_i32(&w, 0);
    kwrite_i64(&w, 2);
    kwrite_i32(&w, 1000);
    kafka_seed("delete-records", &w);

    kafka_header(&w, KAPI_DELETE_TOPICS, 3, false);
    kwrite_array(&w, false, 1);
    kwrite_strz(&w, false, "c");
    kwrite_i32(&w, 1000);
    kafka_seed("delete-topics", &w);
    /* The group protocol: a v0 join completes at once (one member), a
     * v5 join gets MEMBER_ID_REQUIRED; the others meet no such group. */
    for (int16_t v = 0; v <= 5; v += 5) {
        kafka_header(&w, KAPI_JOIN_GROUP, v, false);
        kwrite_strz(&w, false, "g");
        kwrite_i32(&w, 10000);
        if (v >= 1)
            kwrite_i32(&w, 10000);
        kwrite_strz(&w, false, "");
        if (v >= 5)
            kwrite_strz(&w, false, NULL);
        kwrite_strz(&w, false, "consumer");
        kwrite_array(&w, false, 2);
        kwrite_strz(&w, false, "range");
        kwrite_bytes_len(&w, false, 3);
        kwrite_raw(&w, "abc", 3);
        kwrite_strz(&w, false, "roundrobin");
        kwrite_bytes_len(&w, false, -1);
        kafka_seed(v == 0 ? "join-group-0" : "join-group-5", &w);
    }

    kafka_header(&w, KAPI_SYNC_GROUP, 3, false);
    kwrite_strz(&w, false, "g");
    kwrite_i32(&w, 1);
    kwrite_strz(&w, false, "seeds-1");
    kwrite_strz(&w, false, NULL);
    kwrite_array(&w, false, 1);
    kwrite_strz(&w, false, "seeds-1");
    kwrite_bytes_len(&w, false, 2);
    kwrite_raw(&w, "xy", 2);
    kafka_seed("sync-group", &w);

    kafka_header(&w, KAPI_HEARTBEAT, 3, false);
    kwrite_strz(&w, false, "g");
    kwrite_i32(&w, 1);
    kwrite_strz(&w, false, "seeds-1");
    kwrite_strz(&w, false, NULL);
    kafka_seed("heartbeat", &w);

    kafka_header(&w, KAPI_LEAVE_GROUP, 3, false);
    kwrite_strz(&w, false, "g");
    kwrite_array(&w, false, 1);
    kwrite_strz(&w, false, "seeds-1");
    kwrite_strz(&w, false, NULL);
    kafka_seed("leave-group", &w);

    kafka_header(&w, KAPI_LIST_GROUPS, 2, false);
    kafka_seed("list-groups", &w);

    kafka_header(&w, KAPI_DESCRIBE_GROUPS, 4, false);
    kwrite_array(&w, false, 1);
    kwrite_strz(&w, false, "g");
    kwrite_i8(&w, 1);
    kafka_seed("describe-groups", &w);

    kafka_header(&w, KAPI_INIT_PRODUCER_ID, 1, false);
    kwrite_strz(&w, false, NULL);
    kwrite_i32(&w, 60000);
    kafka_seed("init-producer-id", &w);

    /* An idempotent batch: producer 0 (the id the seed above gets). */
    kapi_batch_set_producer(batch, blen, 0, 0, 0);
    kafka_produce_seed("produce-idempotent", batch, blen);

    kafka_header(&w, KAPI_DESCRIBE_CONFIGS, 3, false);
    kwrite_array(&w, false, 2);
    kwrite_i8(&w, 2);
    kwrite_strz(&w, false, FUZZ_LOG_TOPIC);
    kwrite_array(&w, false, -1);
    kwrite_i8(&w, 4);
    kwrite_strz(&w, false, "0");
    kwrite_array(&w, false, 1);
    kwrite_strz(&w, false, "num.partitions");
    kwrite_i8(&w, 1);
    kwrite_i8(&w, 0);
    kafka_seed("describe-configs", &w);

    /* SASL (fuzz_kafka.c: these keys go to the listener with users). */
    for (int16_t v = 0; v <= 1; v++) {
        kafka_header(&w, KAPI_SASL_HANDSHAKE, v, false);
        kwrite_strz(&w, false, "PLAIN");
        kafka_seed(v == 0 ? "sasl-handshake-0" : "sasl-handshake-1", &w);
    }
    static const char tok[] = "\0" FUZZ_SASL_USER "\0" FUZZ_SASL_PASS;
    static const char authz[] =
        FUZZ_SASL_USER "\0" FUZZ_SASL_USER "\0" FUZZ_SASL_PASS;
    for (int16_t v = 0; v <= 2; v++) {
        static const char *const names[] = {"sasl-authenticate-0",
                                            "sasl-authenticate-1",
                                            "sasl-authenticate-2"};
        bool flex = v >= 2;
        kafka_header(&w, KAPI_SASL_AUTHENTICATE, v, flex);
        const char *t = v == 1 ? authz : tok;
        size_t n = v == 1 ? sizeof authz - 1 : sizeof tok - 1;
        kwrite_bytes_len(&w, flex, (int64_t)n);
        kwrite_raw(&w, t, n);
        kwrite_tags(&w, flex);
        kafka_seed(names[v], &w);
    }
    /* The bare token after a v0 handshake (every input is one too). */
    kwrite_raw(&w, tok, sizeof tok - 1);
    kafka_seed("sasl-raw-token", &w);
}

/* fuzz_index: damage to the derived files, as its header says (the
 * store is the target's own, so these carry only what to do to it). */
static void
index_seed(const char *name, int flags, uint8_t kind, uint16_t id,
           const void *buf, size_t len)
{
    FILE *f = seed_open("index", name, flags);
    fuzz_section_put(f, kind, id, buf, len);
    seed_close(f);
}

static void
index_seeds(void)
{
    static const uint8_t entry[] = {0, 0, 0, 5, 0, 0, 0xff, 0xff};
    static const uint8_t backwards[] = {0, 0, 0, 9, 0, 0, 1, 0,
                                        0, 0, 0, 3, 0, 0, 0, 0x40};
    static const uint8_t huge_ts[] = {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0,    0,    0,    1};
    static const uint8_t word[] = {0, 0, 0, 0, 0, 0, 0, 150, 1};
    static const uint8_t junk[] = {0x11, 0x22, 0x33, 0x44,
                                   0x55, 0x66, 0x77, 0x88};
    seed_close(seed_open("index", "clean", 0)); /* no damage at all */
    seed_close(seed_open("index", "killed", 1));
    index_seed("index-entry", 0, 0, 1 << 10 | 8, entry, sizeof entry);
    index_seed("index-backwards", 1, 0, 63 << 10, backwards, sizeof backwards);
    index_seed("timeindex-cut", 1, 4, 63 << 10 | 13, NULL, 0);
    index_seed("timeindex-huge", 0, 1, 2 << 10, huge_ts, sizeof huge_ts);
    index_seed("marker-word", 1, 7, 0, word, sizeof word);
    index_seed("marker-bytes", 1, 2, 56, junk, sizeof junk);
    index_seed("marker-cut", 1, 5, 63, NULL, 0);
    FILE *f = seed_open("index", "no-index", 1);
    fuzz_section_put(f, 6, 63 << 10, NULL, 0);
    fuzz_section_put(f, 6, 63 << 10 | 1, NULL, 0);
    seed_close(f);
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    out_root = argv[1];
    FUZZ_CHECK(mkdir(out_root, 0755) == 0 || errno == EEXIST);
    char *dir = fuzz_tmpdir();
    log_seeds(dir);
    journal_seeds(dir);
    catalog_seeds(dir);
    kafka_seeds();
    index_seeds();
    free(dir);
    return 0;
}
