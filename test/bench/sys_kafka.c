/*
 * sys_kafka.c - librdkafka's producer and consumer against librdkafka's
 * built-in mock cluster (rdkafka_mock.h), the stand-in for talking to a
 * Kafka broker: the client does all it does with a real broker (batching,
 * the wire protocol over a loopback TCP socket, acks=all), but the "broker"
 * keeps the log in memory, so nothing is persistent.  A fresh one-broker
 * cluster per log.  One producer per thread, linger.ms=0 (what a user who
 * cares about latency sets; under load librdkafka still batches); produce
 * calls are rd_kafka_producev per record and return before the record is
 * stored: the producer waits for the delivery reports once, at the end
 * (rd_kafka_flush), which counts them.  The consumer assigns the partition
 * from the beginning, fetch.wait.max.ms=1.
 */
#include "bench.h"
#include "systems.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct klog {
    rd_kafka_t *host; /* the handle the mock cluster lives in            */
    rd_kafka_mock_cluster_t *mc;
    char topic[128], bootstraps[256];
    size_t vlen;
} klog;

typedef struct kprod {
    klog *l;
    rd_kafka_t *rk;
    uint64_t sent;           /* records handed to producev           */
    atomic_ullong delivered; /* delivery reports without an error    */
} kprod;

typedef struct kcons {
    klog *l;
    rd_kafka_t *rk;
    rd_kafka_message_t *msg;   /* the last message returned, or NULL     */
    rd_kafka_message_t *first; /* polled while starting, not yet returned */
} kcons;

static void
k_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char err[256];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof err) !=
        RD_KAFKA_CONF_OK)
        bench_die("kafka: %s=%s: %s", name, value, err);
}

static rd_kafka_t *
k_new(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (rk == NULL)
        bench_die("kafka: rd_kafka_new: %s", err);
    return rk;
}

static void *
k_open(bench_sys *sys, const char *name, int parts, size_t vlen)
{
    klog *l = calloc(1, sizeof *l);
    BENCH_CHECK(l != NULL, "out of memory");
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    k_set(conf, "log_level", "3");
    l->host = k_new(RD_KAFKA_PRODUCER, conf);
    l->mc = rd_kafka_mock_cluster_new(l->host, 1);
    BENCH_CHECK(l->mc != NULL, "kafka: no mock cluster");
    snprintf(l->bootstraps, sizeof l->bootstraps, "%s",
             rd_kafka_mock_cluster_bootstraps(l->mc));
    snprintf(l->topic, sizeof l->topic, "%s-%s", sys->name, name);
    l->vlen = vlen;
    rd_kafka_resp_err_t e =
        rd_kafka_mock_topic_create(l->mc, l->topic, parts, 1);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        e = rd_kafka_mock_topic_create(l->mc, "warm-up", 1, 1);
    BENCH_CHECK(e == RD_KAFKA_RESP_ERR_NO_ERROR, "kafka: topic: %s",
                rd_kafka_err2str(e));
    return l;
}

static void
k_drop(void *log)
{
    klog *l = log;
    rd_kafka_mock_cluster_destroy(l->mc);
    rd_kafka_destroy(l->host);
    free(l);
}

static void
k_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    kprod *p = opaque;
    (void)rk;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
        bench_die("kafka: delivery failed: %s", rd_kafka_err2str(m->err));
    atomic_fetch_add_explicit(&p->delivered, 1, memory_order_relaxed);
}

static void *
k_producer(void *log)
{
    kprod *p = calloc(1, sizeof *p);
    BENCH_CHECK(p != NULL, "out of memory");
    p->l = log;
    atomic_init(&p->delivered, 0);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    k_set(conf, "bootstrap.servers", p->l->bootstraps);
    k_set(conf, "linger.ms", "0");
    k_set(conf, "acks", "all");
    k_set(conf, "enable.idempotence", "true"); /* keeps the order */
    k_set(conf, "log_level", "3");
    rd_kafka_conf_set_dr_msg_cb(conf, k_dr);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = k_new(RD_KAFKA_PRODUCER, conf);
    /* Connected, with a producer id and the topic's metadata, before the
     * clock starts: one record to another topic, and the metadata. */
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, p->l->topic, NULL);
    rd_kafka_resp_err_t e =
        rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC("warm-up"),
                          RD_KAFKA_V_VALUE("", 0), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        e = rd_kafka_flush(p->rk, 30000);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        e = rd_kafka_metadata(p->rk, 0, rkt, &md, 30000);
    BENCH_CHECK(e == RD_KAFKA_RESP_ERR_NO_ERROR, "kafka: warm-up: %s",
                rd_kafka_err2str(e));
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    atomic_store(&p->delivered, 0);
    return p;
}

static void
k_produce(void *prod, int part, unsigned char *const *keys,
          unsigned char *const *values, size_t n)
{
    kprod *p = prod;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(p->l->topic),
                                      RD_KAFKA_V_PARTITION(part),
                                      RD_KAFKA_V_KEY(keys[i], BENCH_KEY_LEN),
                                      RD_KAFKA_V_VALUE(values[i], p->l->vlen),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                      RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p->rk, 10);
        BENCH_CHECK(e == RD_KAFKA_RESP_ERR_NO_ERROR, "kafka: produce: %s",
                    rd_kafka_err2str(e));
        p->sent++;
    }
    rd_kafka_poll(p->rk, 0);
}

static void
k_flush(void *prod)
{
    kprod *p = prod;
    rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, 60000);
    BENCH_CHECK(e == RD_KAFKA_RESP_ERR_NO_ERROR, "kafka: flush: %s",
                rd_kafka_err2str(e));
    BENCH_CHECK(atomic_load(&p->delivered) == p->sent,
                "kafka: %llu delivered of %llu sent",
                (unsigned long long)atomic_load(&p->delivered),
                (unsigned long long)p->sent);
}

static void
k_producer_close(void *prod)
{
    kprod *p = prod;
    rd_kafka_destroy(p->rk);
    free(p);
}

static void *
k_consumer(void *log, int part)
{
    kcons *c = calloc(1, sizeof *c);
    BENCH_CHECK(c != NULL, "out of memory");
    c->l = log;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    k_set(conf, "bootstrap.servers", c->l->bootstraps);
    k_set(conf, "group.id", "bench");
    k_set(conf, "enable.auto.commit", "false");
    k_set(conf, "fetch.wait.max.ms", "1");
    k_set(conf, "log_level", "3");
    c->rk = k_new(RD_KAFKA_CONSUMER, conf);
    rd_kafka_poll_set_consumer(c->rk);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tp, c->l->topic, part)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(c->rk, tp);
    rd_kafka_topic_partition_list_destroy(tp);
    BENCH_CHECK(e == RD_KAFKA_RESP_ERR_NO_ERROR, "kafka: assign: %s",
                rd_kafka_err2str(e));
    /* Fetching before it is "ready": a consumer takes most of a second to
     * find the partition's leader and start offset. */
    c->first = rd_kafka_consumer_poll(c->rk, 1000);
    return c;
}

static int
k_next(void *cons, int wait, const unsigned char **key,
       const unsigned char **value, size_t *vlen)
{
    kcons *c = cons;
    if (c->msg != NULL)
        rd_kafka_message_destroy(c->msg);
    c->msg = c->first != NULL
                 ? c->first
                 : rd_kafka_consumer_poll(c->rk, wait ? 10000 : 200);
    c->first = NULL;
    if (c->msg == NULL)
        return 0;
    if (c->msg->err != RD_KAFKA_RESP_ERR_NO_ERROR)
        bench_die("kafka: consume: %s", rd_kafka_message_errstr(c->msg));
    BENCH_CHECK(c->msg->key_len == BENCH_KEY_LEN, "kafka: key of %zu bytes",
                c->msg->key_len);
    *key = c->msg->key;
    *value = c->msg->payload;
    *vlen = c->msg->len;
    return 1;
}

static void
k_consumer_close(void *cons)
{
    kcons *c = cons;
    if (c->msg != NULL)
        rd_kafka_message_destroy(c->msg);
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    free(c);
}

bench_sys bench_kafka_mock = {"kafka-mock",
                              "memory",
                              BENCH_CAN_PRODUCE | BENCH_CAN_READ |
                                  BENCH_CAN_LATENCY | BENCH_ASYNC,
                              400,
                              400,
                              NULL,
                              NULL,
                              NULL,
                              k_open,
                              k_drop,
                              k_producer,
                              k_produce,
                              k_flush,
                              k_producer_close,
                              k_consumer,
                              k_next,
                              k_consumer_close};
