/*
 * fuzz_kafka.c - the listener's request decoders (lib/listener): one
 * Kafka request, its frame without the size (header: api key, version,
 * correlation id, client id; then the body), answered as the loop answers
 * it but into memory.
 *
 * Every API and version the listener serves goes through the same entry
 * (listener_answer), so one target covers them all (the group protocol's
 * too); the seeds (test/fuzz/seeds.c) hold a valid request of each.  What
 * must hold: no crash, no sanitizer report, and a reply, when there is
 * one, framed with its own length.  A produce that passes its checks is
 * stored (the store grows a little); a fetch or join that would wait is
 * freed unanswered, as a closed connection's; topics an input created are
 * deleted after it, and the groups it joined and the producers' sequences
 * are forgotten, so each input starts from no group (a JoinGroup v0 seed
 * completes a one-member rebalance on its own).
 */
#include <string.h>

#include "fuzz.h"
#include "listener/listener.h"

static char *dir; /* the store's, kept for the run */
static samsa *store;
static samsa_listener *lsn;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char mdb[600];
    dir = fuzz_store_dir(mdb, sizeof mdb);
    fuzz_store_log(dir, true, 0, 40);
    FUZZ_CHECK(samsa_open(dir, NULL, &store) == 0);
    /* Few partitions per topic: an input asking for thousands would make
     * the process spend its mappings on one topic, which the listener's
     * bound (tested in check_listener) prevents at any setting. */
    samsa_listener_config cfg = {.max_partitions = 16};
    FUZZ_CHECK(samsa_listener_open(store, &cfg, &lsn) == 0);
    /* This thread answers every input: the loop's thread, which alone
     * touches the groups and producers' state on a real listener, must
     * not run beside it (its group timers did: a use after free of a
     * group an input's end had freed, found by a long run). */
    listener_stop(lsn);
    return 0;
}

static int
drop_topic(const char *name, void *ctx)
{
    (void)ctx;
    if (strcmp(name, FUZZ_LOG_TOPIC) != 0)
        FUZZ_CHECK(samsa_topic_delete(store, name) == 0);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kconn c;
    memset(&c, 0, sizeof c);
    c.fd = -1;
    int rc = listener_answer(lsn, &c, data, size);
    FUZZ_CHECK(rc == KANS_DONE || rc == KANS_PARKED || rc == KANS_CLOSE);
    if (c.out.len > 0) {
        FUZZ_CHECK(c.out.len >= 8);
        uint32_t n = (uint32_t)c.out.buf[0] << 24 |
                     (uint32_t)c.out.buf[1] << 16 |
                     (uint32_t)c.out.buf[2] << 8 | c.out.buf[3];
        FUZZ_CHECK(n == kwrite_total(&c.out) - 4);
    }
    if (c.parked != NULL) {
        FUZZ_CHECK(rc == KANS_PARKED);
        c.parked->ops->free(lsn, c.parked); /* as a closed connection's */
    }
    kwrite_free(&c.out);
    /* Groups an input joined go too, and idempotent producers' state:
     * each input starts from none. */
    kgroups_free(lsn);
    kidem_free(lsn);
    /* Topics the input created go, and "f" comes back if it deleted it:
     * the store stays the size it started at, whatever ran before. */
    FUZZ_CHECK(samsa_topic_foreach(store, drop_topic, NULL) == 0);
    samsa_topic_config cfg;
    if (samsa_topic_describe(store, FUZZ_LOG_TOPIC, &cfg) == SAMSA_ENOTOPIC)
        FUZZ_CHECK(samsa_topic_create(store, FUZZ_LOG_TOPIC, NULL) == 0);
    return 0;
}
