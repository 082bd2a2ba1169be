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
 *
 * SASL.  SaslHandshake and SaslAuthenticate are served only by a listener
 * with a users file (ksasl.c), so inputs of those keys go to a second one
 * that has one (user FUZZ_SASL_USER), on a connection at the step that
 * request belongs to: a handshake from the start, an authenticate after a
 * PLAIN handshake.  Every input is also given to that listener as the
 * bare token that follows a v0 handshake.
 */
#include <string.h>

#include "fuzz.h"
#include "listener/listener.h"

static char *dir; /* the store's, kept for the run */
static samsa *store;
static samsa_listener *lsn;
static samsa_listener *lsn_sasl; /* with a users file: SASL above */

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
    char users[700];
    fuzz_path(users, sizeof users, dir, "users");
    static const char text[] = FUZZ_SASL_USER ":" FUZZ_SASL_PASS "\n";
    fuzz_write_file(users, text, sizeof text - 1);
    cfg.users_file = users;
    FUZZ_CHECK(samsa_listener_open(store, &cfg, &lsn_sasl) == 0);
    /* Their loops would run the groups' timers and parked replies beside
     * this thread's answers (a fetch that parks wakes them): stopped,
     * only this thread touches them. */
    listener_stop(lsn);
    listener_stop(lsn_sasl);
    return 0;
}

/* Answer data on l from a connection at SASL step auth: what must hold of
 * any answer (the header above). */
static void
answer(samsa_listener *l, uint8_t auth, const uint8_t *data, size_t size)
{
    kconn c;
    memset(&c, 0, sizeof c);
    c.fd = -1;
    c.auth = auth;
    int rc = listener_answer(l, &c, data, size);
    FUZZ_CHECK(rc == KANS_DONE || rc == KANS_PARKED || rc == KANS_CLOSE);
    FUZZ_CHECK(!c.closing || rc == KANS_DONE);
    if (c.out.len > 0) {
        FUZZ_CHECK(c.out.len >= 4);
        uint32_t n = (uint32_t)c.out.buf[0] << 24 |
                     (uint32_t)c.out.buf[1] << 16 |
                     (uint32_t)c.out.buf[2] << 8 | c.out.buf[3];
        FUZZ_CHECK(n == kwrite_total(&c.out) - 4);
        /* Only a raw token's answer is the empty frame. */
        FUZZ_CHECK(n >= 4 || auth == KAUTH_RAW);
    }
    if (c.parked != NULL) {
        FUZZ_CHECK(rc == KANS_PARKED);
        c.parked->ops->free(l, c.parked); /* as a closed connection's */
    }
    kwrite_free(&c.out);
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
    int16_t key = size >= 2 ? (int16_t)(data[0] << 8 | data[1]) : -1;
    if (key == KAPI_SASL_HANDSHAKE)
        answer(lsn_sasl, KAUTH_NONE, data, size);
    else if (key == KAPI_SASL_AUTHENTICATE)
        answer(lsn_sasl, KAUTH_MECH, data, size);
    else
        answer(lsn, KAUTH_DONE, data, size);
    answer(lsn_sasl, KAUTH_RAW, data, size);
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
