/*
 * listener_sasl.c - librdkafka logging in to the listener with SASL/PLAIN
 * (security.protocol=SASL_PLAINTEXT, sasl.mechanisms=PLAIN), run by make
 * check (check-listener) when librdkafka is here.
 *
 * The listener has a users file.  An idempotent producer logged in as a
 * user sends N records (acks=all): every delivery report must say stored,
 * at the next offset.  A consumer logged in as another user reads them
 * back, key and value exact.  A producer with a wrong password must get
 * librdkafka's authentication error carrying the listener's message, and
 * one that does not log in at all must store nothing: the store still
 * holds exactly the N records.  Exit 0 only when all of it holds.
 */
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interop.h"
#include "samsa.h"

#define N 1000

static const char users[] = "# listener_sasl's users\n"
                            "alice:alice-s3cret\n"
                            "bob:b0b:with:colons\n";

static int64_t next_offset;
static int reports, failed_reports;

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    reports++;
    if (m->err) {
        failed_reports++;
        return;
    }
    if (m->offset != next_offset)
        fail("stored at %lld, want %lld", (long long)m->offset,
             (long long)next_offset);
    next_offset++;
}

static rd_kafka_resp_err_t auth_err;
static char auth_msg[512];

static void
on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (auth_err == 0 && err == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
        auth_err = err;
        snprintf(auth_msg, sizeof auth_msg, "%s", reason);
    }
}

/* A client of kind logged in as user with pass (user NULL: no SASL);
 * extra: more settings, name-value pairs, NULL-terminated. */
static rd_kafka_t *
client(rd_kafka_type_t kind, const char *bootstrap, const char *user,
       const char *pass, const char *const *extra)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {{"bootstrap.servers", bootstrap},
                           {"security.protocol", "SASL_PLAINTEXT"},
                           {"sasl.mechanisms", "PLAIN"},
                           {"sasl.username", user},
                           {"sasl.password", pass}};
    for (size_t i = 0; i < (user != NULL ? 5u : 1u); i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof err))
            fail("conf %s: %s", kv[i][0], err);
    for (; extra != NULL && extra[0] != NULL; extra += 2)
        if (rd_kafka_conf_set(conf, extra[0], extra[1], err, sizeof err))
            fail("conf %s: %s", extra[0], err);
    if (kind == RD_KAFKA_PRODUCER)
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_t *rk = rd_kafka_new(kind, conf, err, sizeof err);
    if (rk == NULL) {
        fail("client: %s", err);
        exit(1);
    }
    return rk;
}

/* Produce records [from, to) with p: the number of delivery reports that
 * said stored. */
static int
produce(rd_kafka_t *p, int from, int to, int flush_ms)
{
    reports = failed_reports = 0;
    for (int i = from; i < to; i++) {
        char k[32], v[32];
        int kl = sprintf(k, "k%d", i), vl = sprintf(v, "value %d", i);
        if (rd_kafka_producev(p, RD_KAFKA_V_TOPIC("t"), RD_KAFKA_V_PARTITION(0),
                              RD_KAFKA_V_KEY(k, kl), RD_KAFKA_V_VALUE(v, vl),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_END) != 0)
            fail("producev %d", i);
    }
    (void)rd_kafka_flush(p, flush_ms);
    if (reports != to - from)
        fail("%d delivery reports, want %d", reports, to - from);
    return reports - failed_reports;
}

static void
consume(const char *bootstrap)
{
    rd_kafka_t *c =
        client(RD_KAFKA_CONSUMER, bootstrap, "bob", "b0b:with:colons", NULL);
    rd_kafka_topic_t *t = rd_kafka_topic_new(c, "t", NULL);
    rd_kafka_consume_start(t, 0, RD_KAFKA_OFFSET_BEGINNING);
    int next = 0;
    for (int idle = 0; next < N && idle < 100;) {
        rd_kafka_message_t *ms[100];
        ssize_t n = rd_kafka_consume_batch(t, 0, 100, ms, 100);
        idle = n > 0 ? 0 : idle + 1;
        for (ssize_t j = 0; j < n; j++) {
            rd_kafka_message_t *m = ms[j];
            char k[32], v[32];
            int kl = sprintf(k, "k%d", next), vl = sprintf(v, "value %d", next);
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            } else if (m->err) {
                fail("consume: %s", rd_kafka_message_errstr(m));
            } else if (m->offset != next || m->key_len != (size_t)kl ||
                       memcmp(m->key, k, (size_t)kl) != 0 ||
                       m->len != (size_t)vl ||
                       memcmp(m->payload, v, (size_t)vl) != 0) {
                fail("offset %lld: not record %d", (long long)m->offset, next);
                next++;
            } else {
                next++;
            }
            rd_kafka_message_destroy(m);
        }
    }
    if (next != N)
        fail("consumed %d records, want %d", next, N);
    rd_kafka_consume_stop(t, 0);
    rd_kafka_topic_destroy(t);
    rd_kafka_destroy(c);
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: listener_sasl DIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s.users", argv[1]);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(users, f) == EOF || fclose(f) != 0) {
        fprintf(stderr, "listener_sasl: cannot write %s\n", path);
        return 1;
    }
    samsa *s;
    samsa_listener *l;
    char bootstrap[64];
    samsa_listener_config lc = {.users_file = path};
    interop_serve_cfg("listener_sasl", argv[1], "t", 1, &lc, &s, &l, bootstrap,
                      sizeof bootstrap);
    unlink(path); /* read at open: not needed any more */

    /* Logged in: an idempotent producer, acks=all, every record stored
     * in order. */
    static const char *const idem[] = {
        "enable.idempotence", "true", "acks", "all", "linger.ms", "5", NULL};
    rd_kafka_t *p =
        client(RD_KAFKA_PRODUCER, bootstrap, "alice", "alice-s3cret", idem);
    if (produce(p, 0, N, 30000) != N)
        fail("%d of %d records not stored", failed_reports, N);
    rd_kafka_destroy(p);
    consume(bootstrap);

    /* A wrong password: librdkafka's authentication error, with the
     * listener's words in it; nothing stored. */
    /* (Their failures are expected: librdkafka's log stays quiet.) */
    static const char *const quick[] = {"message.timeout.ms", "1000",
                                        "log_level", "0", NULL};
    p = client(RD_KAFKA_PRODUCER, bootstrap, "alice", "alice-s3cre", quick);
    if (produce(p, N, N + 1, 5000) != 0)
        fail("a producer with a wrong password stored a record");
    if (auth_err != RD_KAFKA_RESP_ERR__AUTHENTICATION ||
        strstr(auth_msg, "Invalid username or password") == NULL)
        fail("wrong password: error %d \"%s\", want an authentication error",
             (int)auth_err, auth_msg);
    rd_kafka_destroy(p);

    /* No login at all: its requests past ApiVersions close the
     * connection; nothing stored. */
    p = client(RD_KAFKA_PRODUCER, bootstrap, NULL, NULL, quick);
    if (produce(p, N, N + 1, 5000) != 0)
        fail("a producer that did not log in stored a record");
    rd_kafka_destroy(p);

    int64_t first, end;
    if (samsa_offsets(s, "t", 0, &first, &end) != 0 || first != 0 || end != N)
        fail("the store holds offsets %lld..%lld, want 0..%d", (long long)first,
             (long long)end, N);
    samsa_listener_close(l);
    samsa_close(s);
    if (failures == 0)
        printf("check-listener: librdkafka %s logged in with SASL/PLAIN, "
               "produced %d records idempotently and consumed them back "
               "exactly; a wrong password got \"%s\"; a client that did "
               "not log in stored nothing\n",
               rd_kafka_version_str(), N, auth_msg);
    return failures == 0 ? 0 : 1;
}
