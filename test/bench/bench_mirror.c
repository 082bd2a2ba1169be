/*
 * bench_mirror.c - what the bridge to Kafka costs (run by make bench-peers,
 * when librdkafka is here).
 *
 *   build/bench/bench_mirror [DIR]
 *
 * Figures (bench_figure(): median of the runs after a warm-up, min, max),
 * at 100-byte and 1 KiB values (16-byte keys), n records in one partition:
 *
 *  samsa-mirror    samsa_mirror_start() to samsa_mirror_wait(): the
 *                  records of a store topic copied to a fresh topic of
 *                  librdkafka's mock cluster (one broker, on loopback)
 *                  through the bridge's idempotent producer, acks=all,
 *                  every delivery acknowledged and the state file saved:
 *                  records/s and MB/s (keys and values).
 *  kafka-producer  librdkafka's own producer, configured the same
 *                  (idempotent, acks=all), rd_kafka_producev of the same
 *                  records to a fresh mock cluster topic, then
 *                  rd_kafka_flush(): the floor the bridge's cost sits on.
 *
 * The mock cluster keeps its log in memory: both figures measure the
 * client side and the loopback protocol, not a broker's disk.
 */
#include "bench.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "samsa.h"
#include "samsa_kafka.h"

#define KEY_LEN 16

typedef struct mrun {
    samsa *s;
    const char *dir; /* where the state files go            */
    char topic[32];  /* the store's topic of this value size */
    size_t vlen;
    uint64_t n;
} mrun;

/* A one-broker mock cluster with topic (one partition) in it. */
typedef struct mock {
    rd_kafka_t *host;
    rd_kafka_mock_cluster_t *mc;
    char bootstrap[256];
} mock;

static void
mock_start(mock *m, const char *topic)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    BENCH_CHECK(rd_kafka_conf_set(conf, "log_level", "2", err, sizeof err) ==
                    RD_KAFKA_CONF_OK,
                "kafka: %s", err);
    m->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    BENCH_CHECK(m->host != NULL, "kafka: %s", err);
    m->mc = rd_kafka_mock_cluster_new(m->host, 1);
    BENCH_CHECK(m->mc != NULL, "kafka: no mock cluster");
    snprintf(m->bootstrap, sizeof m->bootstrap, "%s",
             rd_kafka_mock_cluster_bootstraps(m->mc));
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(m->mc, topic, 1, 1);
    BENCH_CHECK(e == RD_KAFKA_RESP_ERR_NO_ERROR, "kafka: topic: %s",
                rd_kafka_err2str(e));
}

static void
mock_stop(mock *m)
{
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->host);
}

/* Record i's key: "key-" and 12 digits, KEY_LEN bytes, no NUL kept. */
static void
key_of(uint8_t *key, uint64_t i)
{
    char b[32];
    snprintf(b, sizeof b, "key-%012llu",
             (unsigned long long)(i % 1000000000000ULL));
    memcpy(key, b, KEY_LEN);
}

static void
fill(uint8_t *v, size_t len, uint64_t i)
{
    for (size_t k = 0; k < len; k++)
        v[k] = (uint8_t)(i * 31 + k);
}

static void
mirror_run(void *ctx, unsigned run, double *out)
{
    mrun *w = ctx;
    mock m;
    mock_start(&m, w->topic);
    char state[4200];
    snprintf(state, sizeof state, "%s/%s.state", w->dir, w->topic);
    unlink(state);
    const char *topics[] = {w->topic, NULL};
    samsa_mirror_config cfg = {
        .bootstrap = m.bootstrap, .topics = topics, .state_path = state};
    samsa_mirror *mi;
    uint64_t t0 = bench_now_ns();
    BENCH_SAMSA(samsa_mirror_start(w->s, &cfg, &mi));
    BENCH_SAMSA(samsa_mirror_wait(mi, -1));
    uint64_t t1 = bench_now_ns();
    samsa_mirror_stats st;
    BENCH_SAMSA(samsa_mirror_status(mi, &st, NULL, 0));
    BENCH_CHECK(st.records == w->n, "mirror: %llu records, want %llu",
                (unsigned long long)st.records, (unsigned long long)w->n);
    BENCH_SAMSA(samsa_mirror_stop(mi));
    mock_stop(&m);
    (void)run;
    double secs = (double)(t1 - t0) / 1e9;
    out[0] = (double)w->n / secs;
    out[1] = (double)w->n * (double)(KEY_LEN + w->vlen) / secs / 1e6;
}

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    BENCH_CHECK(msg->err == 0, "kafka: delivery: %s",
                rd_kafka_err2str(msg->err));
}

static void
producer_run(void *ctx, unsigned run, double *out)
{
    mrun *w = ctx;
    mock m;
    mock_start(&m, w->topic);
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    BENCH_CHECK(rd_kafka_conf_set(conf, "bootstrap.servers", m.bootstrap, err,
                                  sizeof err) == RD_KAFKA_CONF_OK &&
                    rd_kafka_conf_set(conf, "enable.idempotence", "true", err,
                                      sizeof err) == RD_KAFKA_CONF_OK &&
                    rd_kafka_conf_set(conf, "acks", "all", err, sizeof err) ==
                        RD_KAFKA_CONF_OK,
                "kafka: %s", err);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    BENCH_CHECK(p != NULL, "kafka: %s", err);
    uint8_t key[KEY_LEN], *v = malloc(w->vlen);
    BENCH_CHECK(v != NULL, "out of memory");
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < w->n; i++) {
        key_of(key, i);
        fill(v, w->vlen, i);
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(
                    p, RD_KAFKA_V_TOPIC(w->topic), RD_KAFKA_V_PARTITION(0),
                    RD_KAFKA_V_KEY(key, KEY_LEN), RD_KAFKA_V_VALUE(v, w->vlen),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p, 1);
        BENCH_CHECK(e == 0, "kafka: producev: %s", rd_kafka_err2str(e));
    }
    BENCH_CHECK(rd_kafka_flush(p, 120000) == 0, "kafka: flush timed out");
    uint64_t t1 = bench_now_ns();
    free(v);
    rd_kafka_destroy(p);
    mock_stop(&m);
    (void)run;
    double secs = (double)(t1 - t0) / 1e9;
    out[0] = (double)w->n / secs;
    out[1] = (double)w->n * (double)(KEY_LEN + w->vlen) / secs / 1e6;
}

/* The store's topic of this value size, holding n records. */
static void
make_topic(mrun *w)
{
    samsa_topic_config cfg = {.partitions = 1};
    BENCH_SAMSA(samsa_topic_create(w->s, w->topic, &cfg));
    uint8_t keys[100][KEY_LEN], *vals = malloc(100 * w->vlen);
    BENCH_CHECK(vals != NULL, "out of memory");
    samsa_record r[100];
    for (uint64_t i = 0; i < w->n; i += 100) {
        for (int k = 0; k < 100; k++) {
            key_of(keys[k], i + (uint64_t)k);
            fill(vals + (size_t)k * w->vlen, w->vlen, i + (uint64_t)k);
            r[k] = (samsa_record){.key = keys[k],
                                  .key_len = KEY_LEN,
                                  .value = vals + (size_t)k * w->vlen,
                                  .value_len = w->vlen};
        }
        BENCH_SAMSA(samsa_produce(w->s, w->topic, 0, r, 100));
    }
    free(vals);
}

int
main(int argc, char **argv)
{
    bench_init("bench_mirror", argc, argv);
    char dir[4200];
    bench_path(dir, sizeof dir, "store");
    samsa_options opt = {.flags = SAMSA_OPEN_CREATE};
    samsa *s;
    BENCH_SAMSA(samsa_open(dir, &opt, &s));
    bench_note("bench_mirror: a store topic mirrored to librdkafka's mock "
               "cluster, beside librdkafka's own producer\n\n");
    static const size_t sizes[] = {100, 1024};
    for (int k = 0; k < 2; k++) {
        mrun w = {.s = s, .dir = dir, .vlen = sizes[k]};
        w.n = (bench_quick() ? 20000 : 200000) / (k == 0 ? 1 : 4);
        snprintf(w.topic, sizeof w.topic, "m%zu", w.vlen);
        make_topic(&w);
        bench_fig f = {.system = "samsa-mirror",
                       .workload = "mirror",
                       .value_len = w.vlen,
                       .unit = "rec/s",
                       .nfigs = 2,
                       .fig = {"mirror", "mirror_mb"},
                       .units = {NULL, "MB/s"},
                       .records = w.n,
                       .durability = "kafka-acks-all"};
        bench_figure(&f, mirror_run, &w);
        bench_fig g = f;
        g.system = "kafka-producer";
        bench_figure(&g, producer_run, &w);
    }
    BENCH_SAMSA(samsa_close(s));
    return bench_finish();
}
