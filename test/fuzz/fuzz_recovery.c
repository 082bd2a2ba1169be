/*
 * fuzz_recovery.c - the recovery scan: a partition directory whose files
 * come from the input, opened as a store (log_open, segment_open with its
 * index checks and torn-tail search), then read to the end with a cursor,
 * searched by time, and written to.  Read-only handles (log_follow.c)
 * read it too: before the writer's open, as the files are (no end
 * marker), and beside the writer, which then writes.
 *
 * Input: a flags byte, then sections (fuzz.h) whose kind says which file
 * of partition f-0 they are, id being the segment's base offset:
 *   kind 0: NNNN.log   kind 1: NNNN.index   kind 2: NNNN.timeindex
 *   kinds 3, 4, 5: the same, at base FUZZ_HUGE_BASE + id (offsets near
 *   the top of int64_t);
 *   kind 6: 99999999999999999999.log (a name past int64_t).
 * Flags bit 0 picks the catalog: 0, the topic as created (recovery point
 * 0: every segment is scanned with CRCs, as after a crash); 1, the
 * catalog a clean close of the seed store left (recovery point at its
 * end: sealed segments are trusted, as at a normal open).
 *
 * Every iteration starts from the same state: the partition directory
 * emptied and the catalog's data.mdb put back byte for byte.
 */
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define TOPIC FUZZ_LOG_TOPIC

static char *dir;         /* the store                               */
static char part[600];    /* dir/f-0                                 */
static char mdb[600];     /* dir/catalog/data.mdb                    */
static uint8_t *cat[2];   /* data.mdb: as created, after clean close */
static size_t cat_len[2]; /* their sizes                             */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    dir = fuzz_store_dir(mdb, sizeof mdb);
    fuzz_path(part, sizeof part, dir, TOPIC "-0");
    fuzz_store_log(dir, true, 0, 0);
    FUZZ_CHECK(fuzz_read_file(mdb, &cat[0], &cat_len[0]));
    /* The clean-close catalog: recovery point at the end. */
    fuzz_store_log(dir, false, 0, 200);
    FUZZ_CHECK(fuzz_read_file(mdb, &cat[1], &cat_len[1]));
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const ext[] = {".log", ".index", ".timeindex"};
    int which = data[0] & 1;
    const uint8_t *p = data + 1;
    size_t left = size - 1;
    fuzz_section sec;

    fuzz_empty_dir(part);
    fuzz_write_file(mdb, cat[which], cat_len[which]);
    while (fuzz_section_next(&p, &left, &sec)) {
        if (sec.kind > 6)
            continue;
        char name[64], path[700];
        int64_t base = sec.kind < 3 ? sec.id : FUZZ_HUGE_BASE + sec.id;
        snprintf(name, sizeof name, "%020" PRId64 "%s", base,
                 ext[sec.kind % 3]);
        if (sec.kind == 6)
            snprintf(name, sizeof name, "99999999999999999999.log");
        fuzz_write_file(fuzz_path(path, sizeof path, part, name), sec.buf,
                        sec.len);
    }

    static const samsa_options ro = {.flags = SAMSA_OPEN_RDONLY};
    samsa *s, *r;
    int rc = samsa_open(dir, &ro, &r);
    FUZZ_CHECK_RC(rc);
    if (rc == 0) {
        fuzz_read_partition(r, TOPIC, 0);
        FUZZ_CHECK(samsa_close(r) == 0);
    }
    rc = samsa_open(dir, NULL, &s);
    FUZZ_CHECK_RC(rc);
    if (rc != 0)
        return 0;
    if (samsa_open(dir, &ro, &r) == 0) {
        fuzz_read_partition(r, TOPIC, 0);
        fuzz_produce_readback(s, TOPIC, 0);
        fuzz_read_partition(r, TOPIC, 0);
        FUZZ_CHECK(samsa_close(r) == 0);
    }
    size_t got = fuzz_read_partition(s, TOPIC, 0);
    if (getenv("FUZZ_VERBOSE") != NULL) /* what a seed reaches */
        fprintf(stderr, "recovery: %zu records read\n", got);
    fuzz_produce_readback(s, TOPIC, 0);
    fuzz_read_partition(s, TOPIC, 0);
    rc = samsa_close(s);
    FUZZ_CHECK_RC(rc);
    /* What the close left must open again (the recovery of a recovered
     * log is a no-op, and must not fail where the first one did not). */
    rc = samsa_open(dir, NULL, &s);
    FUZZ_CHECK_RC(rc);
    if (rc == 0) {
        fuzz_read_partition(s, TOPIC, 0);
        FUZZ_CHECK(samsa_close(s) == 0);
    }
    return 0;
}
