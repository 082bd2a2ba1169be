/*
 * listener_rdkafka.c - librdkafka, a real Kafka client, against the
 * listener: run by make check (check-listener) when librdkafka is here.
 *
 * A producer sends N varied records to the three partitions of a topic,
 * each round in another codec (none, gzip, snappy, lz4, zstd); every
 * delivery report must say stored, at the next offset of its partition.
 * A consumer (librdkafka's simple consumer: no group) then reads each
 * partition from the beginning, and every record must equal what was
 * sent, field by field: key (null and empty kept apart), value (the
 * same), headers in order, timestamp, offset.  The store's own cursors
 * must read the same.  Exit 0 only when all of it holds.
 */
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "samsa.h"

#define N     20000
#define PARTS 3
#define TS0   1700000000000LL

static int failures;

static void
fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "listener_rdkafka: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (++failures > 20)
        exit(1);
}

/* Record i: its partition, key, value and header, as functions of i. */
static int32_t
part_of(int i)
{
    return i % PARTS;
}

static int
key_of(int i, char *buf) /* -1: null key */
{
    if (i % 7 == 0)
        return -1;
    if (i % 7 == 1)
        return 0;
    return sprintf(buf, "key-%d", i);
}

static int
value_of(int i, char *buf) /* -1: null value */
{
    if (i % 11 == 0)
        return -1;
    if (i % 11 == 1)
        return 0;
    int n = 1 + i % 300;
    for (int k = 0; k < n; k++)
        buf[k] = (char)('a' + (i + k) % 26);
    return n;
}

static int64_t offsets_seen[PARTS];
static int reports;

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    int i = (int)(intptr_t)m->_private;
    reports++;
    if (m->err) {
        fail("record %d: %s", i, rd_kafka_err2str(m->err));
        return;
    }
    if (m->partition != part_of(i) || m->offset != offsets_seen[m->partition])
        fail("record %d: stored at %d/%lld, want %d/%lld", i, m->partition,
             (long long)m->offset, part_of(i),
             (long long)offsets_seen[part_of(i)]);
    offsets_seen[m->partition]++;
}

static void
produce_all(const char *bootstrap)
{
    static const char *codecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    char err[512];
    for (int round = 0; round < 5; round++) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err,
                              sizeof err) ||
            rd_kafka_conf_set(conf, "compression.codec", codecs[round], err,
                              sizeof err) ||
            rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err))
            fail("conf: %s", err);
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        if (p == NULL) {
            fail("producer: %s", err);
            exit(1);
        }
        for (int i = round * N / 5; i < (round + 1) * N / 5; i++) {
            char k[32], v[320], h[32];
            int kl = key_of(i, k), vl = value_of(i, v);
            int hl = sprintf(h, "h%d", i);
            char *kp = kl < 0 ? NULL : k, *vp = vl < 0 ? NULL : v;
            size_t kn = kl < 0 ? 0 : (size_t)kl, vn = vl < 0 ? 0 : (size_t)vl;
            rd_kafka_resp_err_t e;
            do {
                e = rd_kafka_producev(
                    p, RD_KAFKA_V_TOPIC("t"), RD_KAFKA_V_PARTITION(part_of(i)),
                    RD_KAFKA_V_KEY(kp, kn), RD_KAFKA_V_VALUE(vp, vn),
                    RD_KAFKA_V_HEADER("n", h, hl),
                    RD_KAFKA_V_HEADER("null", NULL, 0),
                    RD_KAFKA_V_TIMESTAMP(TS0 + i),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_OPAQUE((void *)(intptr_t)i), RD_KAFKA_V_END);
                if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                    rd_kafka_poll(p, 10);
            } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
            if (e)
                fail("producev %d: %s", i, rd_kafka_err2str(e));
        }
        if (rd_kafka_flush(p, 60000) != 0)
            fail("flush timed out");
        rd_kafka_destroy(p);
    }
    if (reports != N)
        fail("%d delivery reports, want %d", reports, N);
}

/* The i of partition p's offset o: records went round-robin. */
static int
index_of(int32_t p, int64_t o)
{
    return (int)(o * PARTS + p);
}

static void
check_record(int i, const void *key, size_t key_len, bool key_null,
             const void *val, size_t val_len, bool val_null, int64_t ts)
{
    char k[32], v[320];
    int kl = key_of(i, k), vl = value_of(i, v);
    if ((kl < 0) != key_null ||
        (kl >= 0 && ((size_t)kl != key_len || memcmp(k, key, key_len) != 0)))
        fail("record %d: key differs", i);
    if ((vl < 0) != val_null ||
        (vl >= 0 && ((size_t)vl != val_len || memcmp(v, val, val_len) != 0)))
        fail("record %d: value differs", i);
    if (ts != TS0 + i)
        fail("record %d: timestamp %lld", i, (long long)ts);
}

static void
consume_all(const char *bootstrap)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    rd_kafka_topic_t *t = rd_kafka_topic_new(c, "t", NULL);
    int got = 0;
    for (int32_t p = 0; p < PARTS; p++) {
        int64_t next = 0, want = offsets_seen[p];
        rd_kafka_consume_start(t, p, RD_KAFKA_OFFSET_BEGINNING);
        for (int idle = 0; next < want && idle < 600;) {
            rd_kafka_message_t *ms[500];
            ssize_t n = rd_kafka_consume_batch(t, p, 100, ms, 500);
            idle = n > 0 ? 0 : idle + 1;
            for (ssize_t j = 0; j < n; j++) {
                rd_kafka_message_t *m = ms[j];
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                } else if (m->err) {
                    fail("consume %d: %s", p, rd_kafka_message_errstr(m));
                } else if (m->offset != next) {
                    fail("partition %d: offset %lld, want %lld", p,
                         (long long)m->offset, (long long)next);
                } else {
                    int i = index_of(p, m->offset);
                    rd_kafka_timestamp_type_t tt;
                    check_record(i, m->key, m->key_len, m->key == NULL,
                                 m->payload, m->len, m->payload == NULL,
                                 rd_kafka_message_timestamp(m, &tt));
                    rd_kafka_headers_t *hs;
                    const void *hv;
                    size_t hlen;
                    char h[32];
                    int hl = sprintf(h, "h%d", i);
                    if (rd_kafka_message_headers(m, &hs) ||
                        rd_kafka_header_cnt(hs) != 2 ||
                        rd_kafka_header_get(hs, 0, "n", &hv, &hlen) ||
                        hlen != (size_t)hl || memcmp(hv, h, hlen) != 0 ||
                        rd_kafka_header_get(hs, 0, "null", &hv, &hlen) ||
                        hv != NULL)
                        fail("record %d: headers differ", i);
                    next++;
                    got++;
                }
                rd_kafka_message_destroy(m);
            }
        }
        rd_kafka_consume_stop(t, p);
    }
    rd_kafka_topic_destroy(t);
    rd_kafka_destroy(c);
    if (got != N)
        fail("consumed %d, want %d", got, N);
}

/* The store's own cursors read what librdkafka sent. */
static void
check_store(samsa *s)
{
    int got = 0;
    for (int32_t p = 0; p < PARTS; p++) {
        samsa_cursor *c;
        samsa_message m;
        if (samsa_cursor_open(s, "t", p, 0, &c) != 0) {
            fail("cursor");
            return;
        }
        while (samsa_cursor_next(c, &m, 0) == 0) {
            check_record(index_of(p, m.offset), m.key, m.key_len, m.key == NULL,
                         m.value, m.value_len, m.value == NULL, m.timestamp);
            got++;
        }
        samsa_cursor_close(c);
    }
    if (got != N)
        fail("the store holds %d records, want %d", got, N);
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: listener_rdkafka DIR\n");
        return 2;
    }
    samsa_options o = {.flags = SAMSA_OPEN_CREATE};
    samsa *s;
    samsa_listener *l;
    samsa_topic_config cfg = {.partitions = PARTS};
    if (samsa_open(argv[1], &o, &s) != 0 ||
        samsa_topic_create(s, "t", &cfg) != 0 ||
        samsa_listener_open(s, NULL, &l) != 0) {
        fprintf(stderr, "listener_rdkafka: cannot set up the store\n");
        return 1;
    }
    char bootstrap[64];
    snprintf(bootstrap, sizeof bootstrap, "127.0.0.1:%d",
             samsa_listener_port(l));
    produce_all(bootstrap);
    consume_all(bootstrap);
    check_store(s);
    samsa_listener_close(l);
    samsa_close(s);
    if (failures == 0)
        printf("check-listener: librdkafka %s produced %d records in 5 "
               "codecs and consumed them back exactly\n",
               rd_kafka_version_str(), N);
    return failures == 0 ? 0 : 1;
}
