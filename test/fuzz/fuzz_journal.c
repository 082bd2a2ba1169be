/*
 * fuzz_journal.c - a share group's saved state read back (queue_state.c):
 * the snapshot in the catalog and the journal file replayed over it, then
 * every record the state offers received and acknowledged, and the store
 * reopened: an acknowledged record must never be delivered again.
 *
 * Input: a flags byte, then sections (fuzz.h):
 *   kind 0: the snapshot, put in the catalog for (group "g", topic "q",
 *           partition 0) before the group loads;
 *   kind 1: the journal file DIR/queues/g/ID-0.journal.
 * Flags bit 0: recompute the CRCs of the journal's header, words and entries
 * (the fuzzer cannot), so that mutations reach the replay's checks.
 *
 * The store (topic "q", one partition of RECORDS records) is made once;
 * every iteration puts its catalog back byte for byte and removes the
 * journals.
 */
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "store/store.h"

#define TOPIC   FUZZ_QUEUE_TOPIC
#define GROUP   FUZZ_QUEUE_GROUP
#define RECORDS FUZZ_QUEUE_RECS

static char *dir;         /* the store                    */
static char queues[600];  /* dir/queues                   */
static char mdb[600];     /* dir/catalog/data.mdb         */
static uint8_t *cat;      /* its bytes after the setup    */
static size_t cat_len;    /* their count                  */
static uint64_t topic_id; /* the catalog id of TOPIC      */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    dir = fuzz_store_dir(mdb, sizeof mdb);
    fuzz_path(queues, sizeof queues, dir, "queues");
    fuzz_store_queue(dir);
    samsa *s;
    FUZZ_CHECK(samsa_open(dir, NULL, &s) == 0);
    topic_id = fuzz_topic_id(s, TOPIC);
    FUZZ_CHECK(samsa_close(s) == 0);
    FUZZ_CHECK(fuzz_read_file(mdb, &cat, &cat_len));
    return 0;
}

static void
put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The journal's header CRC, its words' seals ("SQJ2": the boot word at
 * 16 and the end word at 24, each sealed with the generation) and every
 * whole entry's CRC, recomputed. */
static void
fix_crcs(uint8_t *j, size_t len)
{
    size_t first = 16;
    if (len >= 12)
        put_le32(j + 8, samsa__crc32c(0, j, 8));
    if (len >= 40 && memcmp(j, "SQJ2", 4) == 0) {
        for (size_t w = 16; w <= 24; w += 8) {
            uint8_t b[8];
            memcpy(b, j + w, 4);
            memcpy(b + 4, j + 4, 4);
            put_le32(j + w + 4, samsa__crc32c(0, b, 8));
        }
        first = 40;
    }
    for (size_t pos = first; pos + 24 <= len; pos += 24)
        put_le32(j + pos, samsa__crc32c(0, j + pos + 4, 20));
}

/* Receive and acknowledge everything q offers (accept, every fifth
 * rejected); none may be one done[] already holds. */
static void
drain(samsa_queue *q, bool *done)
{
    samsa_delivery d[16];
    size_t n;
    for (int round = 0; round < 1000; round++) {
        int rc = samsa_queue_receive(q, d, 16, &n, 0);
        FUZZ_CHECK_RC(rc);
        if (rc != 0)
            return;
        FUZZ_CHECK(n >= 1 && n <= 16);
        for (size_t i = 0; i < n; i++) {
            int64_t o = d[i].msg.offset;
            FUZZ_CHECK(o >= 0 && o < RECORDS);
            FUZZ_CHECK(!done[o]); /* acknowledged, yet delivered again */
            FUZZ_CHECK(d[i].delivery_count >= 1);
            int how = o % 5 == 0 ? SAMSA_ACK_REJECT : SAMSA_ACK_ACCEPT;
            rc = samsa_queue_ack(q, &d[i], 1, how);
            FUZZ_CHECK_RC(rc);
            if (rc == 0)
                done[o] = true;
        }
    }
}

/* Open the store and the group, drain it into done[]. */
static int
session(const fuzz_section *snap, bool *done)
{
    samsa *s;
    int rc = samsa_open(dir, NULL, &s);
    FUZZ_CHECK(rc == 0); /* the log and catalog are intact */
    if (snap != NULL) {
        rc = catalog_queue_put(&s->cat, GROUP, topic_id, 0, snap->buf,
                               snap->len);
        FUZZ_CHECK(rc == 0);
    }
    samsa_queue *q;
    rc = samsa_queue_open(s, GROUP, TOPIC, NULL, &q);
    FUZZ_CHECK_RC(rc);
    if (rc == 0) {
        drain(q, done);
        samsa_queue_close(q);
    }
    FUZZ_CHECK(samsa_close(s) == 0);
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool fix = data[0] & 1;
    const uint8_t *p = data + 1;
    size_t left = size - 1;
    fuzz_section sec, snap = {0}, journal = {0};
    bool have_snap = false;
    while (fuzz_section_next(&p, &left, &sec)) {
        if (sec.kind == 0) {
            snap = sec;
            have_snap = true;
        } else if (sec.kind == 1) {
            journal = sec;
        }
    }

    fuzz_empty_dir(queues);
    fuzz_write_file(mdb, cat, cat_len);
    char path[700];
    mkdir(queues, 0755);
    FUZZ_CHECK(mkdir(fuzz_path(path, sizeof path, queues, GROUP), 0755) == 0);
    snprintf(path, sizeof path, "%s/" GROUP "/%llu-0.journal", queues,
             (unsigned long long)topic_id);
    uint8_t *j = malloc(journal.len + 1);
    FUZZ_CHECK(j != NULL);
    if (journal.len > 0)
        memcpy(j, journal.buf, journal.len);
    if (fix)
        fix_crcs(j, journal.len);
    fuzz_write_file(path, j, journal.len);
    free(j);

    bool done[RECORDS] = {false};
    if (session(have_snap ? &snap : NULL, done) == 0)
        session(NULL, done); /* nothing acknowledged comes back */
    return 0;
}
