/*
 * bench_listener.c - librdkafka against samsa's Kafka listener, beside the
 * same client against librdkafka's mock cluster (run by make bench-peers,
 * when librdkafka is here).
 *
 *   build/bench/bench_listener [DIR]
 *
 * Figures (bench_figure(): median of the runs after a warm-up, min, max),
 * at 100-byte and 1 KiB values (16-byte keys), n records to a fresh
 * one-partition topic each run, everything on loopback:
 *
 *  produce   a librdkafka producer (acks=1, its default batching),
 *            rd_kafka_producev of n records then rd_kafka_flush(): every
 *            delivery acknowledged; records/s.
 *  consume   a librdkafka consumer (assigned, no group) reading the n
 *            records from offset 0 to the last; records/s.
 *  e2e       end-to-end latency: one record produced (linger.ms=0) and
 *            timed until the consumer, waiting at the end of the topic,
 *            has it; the next only then; p50 and p99 in microseconds.
 *
 * Systems: samsa-listener (samsa_listener_open() on a store in DIR, the
 * store's default sync: the page cache, "process") and kafka-mock
 * (rd_kafka_mock_cluster_new(), one broker, its log in memory: "none").
 * Both consumers use fetch.wait.max.ms=5, so a broker that answers an
 * empty fetch only at max_wait costs the same in both.
 *
 * A run that stops making progress for NO_PROGRESS_S seconds stops the
 * program with a message saying where (an earlier attempt hung on the
 * mock cluster at 200,000 records; the counts here are 50,000 at 100 B
 * and 20,000 at 1 KiB, 2,000 under SAMSA_BENCH_QUICK).
 */
#include "bench.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "samsa.h"

#define KEY_LEN       16
#define NO_PROGRESS_S 10
#define E2E_N         1000 /* round trips per latency run */

typedef struct lrun {
    const char *system;
    samsa *s;              /* samsa-listener: the store       */
    rd_kafka_t *mock_host; /* kafka-mock: the cluster's host  */
    rd_kafka_mock_cluster_t *mc;
    char bootstrap[256];
    size_t vlen;
    uint64_t n;
    unsigned topics; /* made so far: each run its own */
    uint64_t failed; /* deliveries that failed         */
} lrun;

static void
topic_new(lrun *w, char *name, size_t cap)
{
    snprintf(name, cap, "b%zu-%u", w->vlen, w->topics++);
    if (w->s != NULL) {
        samsa_topic_config cfg = {.partitions = 1};
        BENCH_SAMSA(samsa_topic_create(w->s, name, &cfg));
    } else {
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(w->mc, name, 1, 1);
        BENCH_CHECK(e == 0, "mock: topic: %s", rd_kafka_err2str(e));
    }
}

/* Deliveries that failed are counted in the lrun (the opaque). */
static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    lrun *w = opaque;
    if (msg->err != 0 && w->failed++ == 0)
        fprintf(stderr, "%s: delivery: %s\n", w->system,
                rd_kafka_err2str(msg->err));
}

/* A client of w's broker with the settings kv[0..nkv). */
static rd_kafka_t *
client(lrun *w, rd_kafka_type_t type, const char *const (*kv)[2], size_t nkv)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (type == RD_KAFKA_PRODUCER) {
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_opaque(conf, w);
    }
    BENCH_CHECK(rd_kafka_conf_set(conf, "bootstrap.servers", w->bootstrap, err,
                                  sizeof err) == RD_KAFKA_CONF_OK,
                "kafka: %s", err);
    for (size_t i = 0; i < nkv; i++)
        BENCH_CHECK(rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err,
                                      sizeof err) == RD_KAFKA_CONF_OK,
                    "kafka: %s: %s", kv[i][0], err);
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    BENCH_CHECK(rk != NULL, "kafka: %s", err);
    return rk;
}

/* A producer that already knows topic's leader, so that no figure
 * times a first metadata request (the mock cluster's first answer for a
 * new topic can take a second). */
static rd_kafka_t *
producer(lrun *w, const char *linger, const char *topic)
{
    const char *const kv[][2] = {{"acks", "1"}, {"linger.ms", linger}};
    rd_kafka_t *p = client(w, RD_KAFKA_PRODUCER, kv, 2);
    rd_kafka_topic_t *t = rd_kafka_topic_new(p, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    for (int tries = 0; tries < 100; tries++) {
        BENCH_CHECK(rd_kafka_metadata(p, 0, t, &md, 5000) == 0, "%s: metadata",
                    w->system);
        bool led = md->topic_cnt == 1 && md->topics[0].partition_cnt == 1 &&
                   md->topics[0].partitions[0].leader >= 0;
        rd_kafka_metadata_destroy(md);
        if (led)
            break;
        rd_kafka_poll(p, 100);
    }
    rd_kafka_topic_destroy(t);
    return p;
}

/* A consumer of topic's partition 0 from offset (no group). */
static rd_kafka_t *
consumer(lrun *w, const char *topic, int64_t offset)
{
    static const char *const kv[][2] = {{"fetch.wait.max.ms", "5"},
                                        {"enable.partition.eof", "false"},
                                        {"group.id", "bench"},
                                        {"enable.auto.commit", "false"}};
    rd_kafka_t *c = client(w, RD_KAFKA_CONSUMER, kv, 4);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = offset;
    BENCH_CHECK(rd_kafka_assign(c, l) == 0, "kafka: assign");
    rd_kafka_topic_partition_list_destroy(l);
    return c;
}

/* Record i's key: "bench-k-" and i, KEY_LEN bytes. */
static void
key_of(uint8_t *key, uint64_t i)
{
    memcpy(key, "bench-k-", 8);
    bench_put_u64(key + 8, i);
}

static void
produce_one(rd_kafka_t *p, const char *topic, const uint8_t *key, const void *v,
            size_t vlen)
{
    rd_kafka_resp_err_t e;
    while ((e = rd_kafka_producev(
                p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                RD_KAFKA_V_KEY(key, KEY_LEN), RD_KAFKA_V_VALUE((void *)v, vlen),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(p, 1);
    BENCH_CHECK(e == 0, "kafka: producev: %s", rd_kafka_err2str(e));
}

/* rd_kafka_flush(), giving up when nothing is delivered for
 * NO_PROGRESS_S seconds. */
static void
flush_guarded(rd_kafka_t *p, const lrun *w, const char *what)
{
    int last = rd_kafka_outq_len(p);
    uint64_t since = bench_now_ns();
    while (rd_kafka_flush(p, 100) != 0) {
        int now = rd_kafka_outq_len(p);
        if (now < last) {
            last = now;
            since = bench_now_ns();
        } else if (bench_now_ns() - since > NO_PROGRESS_S * 1000000000ull) {
            bench_die("%s %s %zu B: no delivery for %d s, %d records "
                      "still queued: giving up",
                      w->system, what, w->vlen, NO_PROGRESS_S, now);
        }
    }
}

/* The next record of c; dies after NO_PROGRESS_S seconds without one. */
static rd_kafka_message_t *
next_guarded(rd_kafka_t *c, const lrun *w, const char *what, uint64_t got)
{
    uint64_t since = bench_now_ns();
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m != NULL) {
            BENCH_CHECK(m->err == 0, "%s %s: %s", w->system, what,
                        rd_kafka_message_errstr(m));
            return m;
        }
        if (bench_now_ns() - since > NO_PROGRESS_S * 1000000000ull)
            bench_die("%s %s %zu B: no record for %d s after %llu: giving up",
                      w->system, what, w->vlen, NO_PROGRESS_S,
                      (unsigned long long)got);
    }
}

static void
throughput_run(void *ctx, unsigned run, double *out)
{
    lrun *w = ctx;
    char topic[64];
    topic_new(w, topic, sizeof topic);
    uint64_t n = run == 0 ? w->n / 4 : w->n;
    uint8_t key[KEY_LEN], *v = malloc(w->vlen);
    BENCH_CHECK(v != NULL, "out of memory");
    memset(v, 'v', w->vlen);
    rd_kafka_t *p = producer(w, "5", topic);
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        key_of(key, i);
        produce_one(p, topic, key, v, w->vlen);
    }
    flush_guarded(p, w, "produce");
    BENCH_CHECK(w->failed == 0, "%s: %llu deliveries failed", w->system,
                (unsigned long long)w->failed);
    uint64_t t1 = bench_now_ns();
    rd_kafka_destroy(p);
    free(v);

    /* The mock cluster keeps a bounded log in memory and drops its
     * oldest records past it: the read is of what it kept, from its
     * start (samsa's is 0), and counts those. */
    int64_t lo = 0, hi = 0;
    rd_kafka_t *c = consumer(w, topic, 0);
    BENCH_CHECK(
        rd_kafka_query_watermark_offsets(c, topic, 0, &lo, &hi, 10000) == 0 &&
            hi == (int64_t)n && lo >= 0 && lo < hi,
        "%s: watermarks %lld..%lld of %llu records", w->system, (long long)lo,
        (long long)hi, (unsigned long long)n);
    if (lo > 0) {
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
        c = consumer(w, topic, lo);
    }
    uint64_t t2 = bench_now_ns(), got = (uint64_t)lo;
    while (got < n) {
        rd_kafka_message_t *m = next_guarded(c, w, "consume", got);
        BENCH_CHECK(m->offset == (int64_t)got && m->len == w->vlen,
                    "%s consume: offset %lld of %zu bytes, want %llu",
                    w->system, (long long)m->offset, m->len,
                    (unsigned long long)got);
        got++;
        rd_kafka_message_destroy(m);
    }
    uint64_t t3 = bench_now_ns();
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    out[0] = (double)n / ((double)(t1 - t0) / 1e9);
    out[1] = (double)(n - (uint64_t)lo) / ((double)(t3 - t2) / 1e9);
}

static void
latency_run(void *ctx, unsigned run, double *out)
{
    lrun *w = ctx;
    char topic[64];
    topic_new(w, topic, sizeof topic);
    size_t rounds = run == 0 ? E2E_N / 10 : E2E_N;
    if (bench_quick())
        rounds /= 5;
    uint64_t *ns = malloc(rounds * sizeof *ns);
    uint8_t key[KEY_LEN], *v = malloc(w->vlen);
    BENCH_CHECK(ns != NULL && v != NULL, "out of memory");
    memset(v, 'v', w->vlen);
    rd_kafka_t *p = producer(w, "0", topic);
    rd_kafka_t *c = consumer(w, topic, 0);
    for (size_t i = 0; i < rounds; i++) {
        key_of(key, i);
        uint64_t t0 = bench_now_ns();
        produce_one(p, topic, key, v, w->vlen);
        rd_kafka_poll(p, 0);
        rd_kafka_message_t *m = next_guarded(c, w, "e2e", i);
        ns[i] = bench_now_ns() - t0;
        BENCH_CHECK(m->offset == (int64_t)i, "%s e2e: offset %lld, want %zu",
                    w->system, (long long)m->offset, i);
        rd_kafka_message_destroy(m);
        rd_kafka_poll(p, 0);
    }
    flush_guarded(p, w, "e2e");
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    rd_kafka_destroy(p);
    double pc[4];
    bench_percentiles(ns, rounds, pc);
    out[0] = pc[0];
    out[1] = pc[1];
    free(ns);
    free(v);
}

static void
measure(lrun *w, const char *durability)
{
    bench_fig f = {.system = w->system,
                   .workload = "kafka",
                   .value_len = w->vlen,
                   .unit = "rec/s",
                   .nfigs = 2,
                   .fig = {"kafka_produce", "kafka_consume"},
                   .records = w->n,
                   .durability = durability};
    bench_figure(&f, throughput_run, w);
    bench_fig g = {.system = w->system,
                   .workload = "kafka",
                   .value_len = w->vlen,
                   .unit = "us",
                   .nfigs = 2,
                   .fig = {"kafka_e2e_p50", "kafka_e2e_p99"},
                   .records = E2E_N,
                   .durability = durability};
    bench_figure(&g, latency_run, w);
}

int
main(int argc, char **argv)
{
    bench_init("bench_listener", argc, argv);
    char dir[4200];
    bench_path(dir, sizeof dir, "store");
    samsa_options opt = {.flags = SAMSA_OPEN_CREATE};
    samsa *s;
    samsa_listener *l;
    BENCH_SAMSA(samsa_open(dir, &opt, &s));
    BENCH_SAMSA(samsa_listener_open(s, NULL, &l));
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    BENCH_CHECK(rd_kafka_conf_set(conf, "log_level", "2", err, sizeof err) ==
                    RD_KAFKA_CONF_OK,
                "kafka: %s", err);
    rd_kafka_t *host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    BENCH_CHECK(host != NULL, "kafka: %s", err);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(host, 1);
    BENCH_CHECK(mc != NULL, "kafka: no mock cluster");
    bench_note("bench_listener: librdkafka against samsa's listener and "
               "against librdkafka's mock cluster, on loopback\n\n");
    static const size_t sizes[] = {100, 1024};
    for (int k = 0; k < 2; k++) {
        uint64_t n = bench_quick() ? 2000 : k == 0 ? 50000 : 20000;
        lrun sw = {
            .system = "samsa-listener", .s = s, .vlen = sizes[k], .n = n};
        snprintf(sw.bootstrap, sizeof sw.bootstrap, "127.0.0.1:%d",
                 samsa_listener_port(l));
        measure(&sw, "process");
        lrun mw = {.system = "kafka-mock",
                   .mock_host = host,
                   .mc = mc,
                   .vlen = sizes[k],
                   .n = n};
        snprintf(mw.bootstrap, sizeof mw.bootstrap, "%s",
                 rd_kafka_mock_cluster_bootstraps(mc));
        measure(&mw, "none");
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(host);
    BENCH_SAMSA(samsa_listener_close(l));
    BENCH_SAMSA(samsa_close(s));
    return bench_finish();
}
