/*
 * listener_rdkafka.c - librdkafka, a real Kafka client, against the
 * listener: run by make check (check-listener) when librdkafka is here.
 *
 * A producer sends N varied records to the three partitions of a topic,
 * each round in another codec (none, gzip, snappy, lz4, zstd), the last
 * two idempotent (enable.idempotence, acks=all); every
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

#include "interop.h"
#include "samsa.h"

#define N     20000
#define PARTS 3
#define TS0   1700000000000LL

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
        /* The last two rounds: an idempotent producer (InitProducerId,
         * sequence numbers per partition) with acks=all. */
        if (round >= 3 &&
            (rd_kafka_conf_set(conf, "enable.idempotence", "true", err,
                               sizeof err) ||
             rd_kafka_conf_set(conf, "acks", "all", err, sizeof err)))
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

/* ---- administration and committed offsets -------------------------------- */

/* The next event of q (an admin result), failing when none comes. */
static rd_kafka_event_t *
admin_result(rd_kafka_queue_t *q, const char *what)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (ev == NULL) {
        fail("%s: no result", what);
        exit(1);
    }
    if (rd_kafka_event_error(ev))
        fail("%s: %s", what, rd_kafka_event_error_string(ev));
    return ev;
}

static void
check_topic_results(const rd_kafka_topic_result_t **res, size_t n,
                    rd_kafka_resp_err_t want, const char *what)
{
    if (n != 1)
        fail("%s: %zu results", what, n);
    for (size_t i = 0; i < n; i++)
        if (rd_kafka_topic_result_error(res[i]) != want)
            fail("%s: %s, want %s", what,
                 rd_kafka_err2str(rd_kafka_topic_result_error(res[i])),
                 rd_kafka_err2str(want));
}

static void
create_topic(rd_kafka_t *rk, rd_kafka_queue_t *q, const char *config,
             const char *value, rd_kafka_resp_err_t want)
{
    char err[256];
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new("admin", 4, -1, err, sizeof err);
    rd_kafka_NewTopic_set_config(nt, config, value);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = admin_result(q, "CreateTopics");
    size_t n;
    const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(
        rd_kafka_event_CreateTopics_result(ev), &n);
    check_topic_results(res, n, want, "CreateTopics");
    rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(nt);
}

/* DescribeConfigs of topic "admin" (retention.ms as created, the rest
 * samsa's defaults) and of broker 0. */
static void
describe_configs(rd_kafka_t *rk, rd_kafka_queue_t *q)
{
    static const char *const want[][2] = {
        {"retention.ms", "3600000"},
        {"retention.bytes", "-1"},
        {"segment.bytes", "1073741824"},
        {"max.message.bytes", "1048588"},
        {"cleanup.policy", "delete"},
        {"compression.type", "uncompressed"},
        {"message.timestamp.type", "CreateTime"},
        {"min.insync.replicas", "1"}};
    const size_t nwant = sizeof want / sizeof want[0];
    rd_kafka_ConfigResource_t *cr[2] = {
        rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, "admin"),
        rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_BROKER, "0")};
    rd_kafka_DescribeConfigs(rk, cr, 2, NULL, q);
    rd_kafka_event_t *ev = admin_result(q, "DescribeConfigs");
    size_t nres, nc;
    const rd_kafka_ConfigResource_t **res =
        rd_kafka_DescribeConfigs_result_resources(
            rd_kafka_event_DescribeConfigs_result(ev), &nres);
    if (nres != 2)
        fail("DescribeConfigs: %zu resources", nres);
    for (size_t i = 0; i < nres; i++) {
        if (rd_kafka_ConfigResource_error(res[i]))
            fail("DescribeConfigs %s: %s", rd_kafka_ConfigResource_name(res[i]),
                 rd_kafka_ConfigResource_error_string(res[i]));
        const rd_kafka_ConfigEntry_t **ce =
            rd_kafka_ConfigResource_configs(res[i], &nc);
        bool topic =
            rd_kafka_ConfigResource_type(res[i]) == RD_KAFKA_RESOURCE_TOPIC;
        size_t matched = 0;
        for (size_t k = 0; k < nc; k++) {
            const char *name = rd_kafka_ConfigEntry_name(ce[k]);
            const char *value = rd_kafka_ConfigEntry_value(ce[k]);
            if (!topic) {
                matched += strcmp(name, "message.max.bytes") == 0 &&
                           strcmp(value, "1048588") == 0;
                continue;
            }
            for (size_t w = 0; w < nwant; w++)
                if (strcmp(name, want[w][0]) == 0) {
                    if (strcmp(value, want[w][1]) != 0)
                        fail("DescribeConfigs admin: %s=%s, want %s", name,
                             value, want[w][1]);
                    matched++;
                }
        }
        if (matched != (topic ? nwant : 1))
            fail("DescribeConfigs %s: %zu of the configs expected",
                 rd_kafka_ConfigResource_name(res[i]), matched);
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_ConfigResource_destroy_array(cr, 2);
}

/* Create "admin" (4 partitions, retention.ms), refuse it twice and with
 * a config samsa does not keep, grow it to 6, delete records below 5 of
 * partition 0, and delete it: each checked in the store too. */
static void
administer(samsa *s, const char *bootstrap)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);

    create_topic(rk, q, "retention.ms", "3600000", RD_KAFKA_RESP_ERR_NO_ERROR);
    samsa_topic_config cfg;
    if (samsa_topic_describe(s, "admin", &cfg) != 0 || cfg.partitions != 4 ||
        cfg.retention_ms != 3600000)
        fail("CreateTopics: the store's topic differs");
    create_topic(rk, q, "retention.ms", "1",
                 RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS);
    create_topic(rk, q, "frobnication.ms", "1",
                 RD_KAFKA_RESP_ERR_INVALID_CONFIG);

    rd_kafka_NewPartitions_t *np =
        rd_kafka_NewPartitions_new("admin", 6, err, sizeof err);
    rd_kafka_CreatePartitions(rk, &np, 1, NULL, q);
    rd_kafka_event_t *ev = admin_result(q, "CreatePartitions");
    size_t n;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreatePartitions_result_topics(
            rd_kafka_event_CreatePartitions_result(ev), &n);
    check_topic_results(res, n, RD_KAFKA_RESP_ERR_NO_ERROR, "CreatePartitions");
    rd_kafka_event_destroy(ev);
    rd_kafka_NewPartitions_destroy(np);
    if (samsa_topic_describe(s, "admin", &cfg) != 0 || cfg.partitions != 6)
        fail("CreatePartitions: the store has %d partitions", cfg.partitions);
    describe_configs(rk, q);

    for (int i = 0; i < 10; i++) {
        samsa_record r = {.value = "x", .value_len = 1};
        if (samsa_produce(s, "admin", 0, &r, 1) != 0)
            fail("produce to admin");
    }
    rd_kafka_topic_partition_list_t *before =
        rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(before, "admin", 0)->offset = 5;
    rd_kafka_DeleteRecords_t *dr = rd_kafka_DeleteRecords_new(before);
    rd_kafka_DeleteRecords(rk, &dr, 1, NULL, q);
    ev = admin_result(q, "DeleteRecords");
    const rd_kafka_topic_partition_list_t *low =
        rd_kafka_DeleteRecords_result_offsets(
            rd_kafka_event_DeleteRecords_result(ev));
    if (low == NULL || low->cnt != 1 || low->elems[0].err ||
        low->elems[0].offset != 5)
        fail("DeleteRecords: low watermark differs");
    rd_kafka_event_destroy(ev);
    rd_kafka_DeleteRecords_destroy(dr);
    rd_kafka_topic_partition_list_destroy(before);
    int64_t first, end;
    if (samsa_offsets(s, "admin", 0, &first, &end) != 0 || first != 5 ||
        end != 10)
        fail("DeleteRecords: the store's start is not 5");

    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new("admin");
    rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
    ev = admin_result(q, "DeleteTopics");
    res = rd_kafka_DeleteTopics_result_topics(
        rd_kafka_event_DeleteTopics_result(ev), &n);
    check_topic_results(res, n, RD_KAFKA_RESP_ERR_NO_ERROR, "DeleteTopics");
    rd_kafka_event_destroy(ev);
    rd_kafka_DeleteTopic_destroy(dt);
    if (samsa_topic_describe(s, "admin", &cfg) != SAMSA_ENOTOPIC)
        fail("DeleteTopics: the topic is still in the store");
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}

static int
group_offset(const samsa_group_offset *o, void *ctx)
{
    int64_t *seen = ctx;
    if (strcmp(o->topic, "t") == 0 && o->partition >= 0 && o->partition < PARTS)
        seen[o->partition] = o->committed;
    return 0;
}

/* A consumer of group "g" that assigns itself the partitions commits
 * offsets; the store's group then has them, and the client reads them
 * back as committed. */
static void
commit_offsets(samsa *s, const char *bootstrap)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "g", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(3);
    for (int32_t p = 0; p < PARTS; p++)
        rd_kafka_topic_partition_list_add(l, "t", p)->offset = 100 + p;
    rd_kafka_resp_err_t e = rd_kafka_assign(c, l);
    if (!e)
        e = rd_kafka_commit(c, l, 0);
    if (e)
        fail("commit: %s", rd_kafka_err2str(e));
    for (int32_t p = 0; p < PARTS; p++)
        l->elems[p].offset = -1;
    e = rd_kafka_committed(c, l, 30000);
    for (int32_t p = 0; !e && p < PARTS; p++)
        if (l->elems[p].err || l->elems[p].offset != 100 + p)
            fail("committed %d: %lld", p, (long long)l->elems[p].offset);
    if (e)
        fail("committed: %s", rd_kafka_err2str(e));
    int64_t seen[PARTS] = {-1, -1, -1};
    if (samsa_group_offsets(s, "g", group_offset, seen) != 0)
        fail("samsa_group_offsets");
    for (int32_t p = 0; p < PARTS; p++)
        if (seen[p] != 100 + p)
            fail("the store's group g has %lld for t-%d", (long long)seen[p],
                 p);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

/* ---- a consumer group of two ---------------------------------------------
 *
 * Two high-level consumers (rd_kafka_subscribe) of group "hg" share "t":
 * the listener coordinates them (JoinGroup, SyncGroup, Heartbeat), the
 * leader's assignment splits the partitions.  A consumer given all three
 * (it is alone) pauses them until the other has joined, so both take
 * part; each commits what it read when partitions are taken from it, so
 * the new owner starts right after: every record is read exactly once.
 */

typedef struct member {
    rd_kafka_t *rk;
    int got;     /* records read */
    int assigns; /* assignments with partitions */
} member;

static void
on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
             rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    member *m = opaque;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (rd_kafka_assign(rk, parts) != 0)
            fail("assign");
        if (parts->cnt == PARTS) /* alone: wait for the other */
            rd_kafka_pause_partitions(rk, parts);
        else
            rd_kafka_resume_partitions(rk, parts);
        m->assigns += parts->cnt > 0;
        return;
    }
    rd_kafka_resp_err_t ce = rd_kafka_commit(rk, NULL, 0);
    if (ce != 0 && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
        fail("commit on revoke: %s", rd_kafka_err2str(ce));
    rd_kafka_assign(rk, NULL);
}

static rd_kafka_t *
hg_member(const char *bootstrap, member *m)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {
        {"bootstrap.servers", bootstrap}, {"group.id", "hg"},
        {"enable.auto.commit", "false"},  {"auto.offset.reset", "earliest"},
        {"heartbeat.interval.ms", "100"}, {"session.timeout.ms", "6000"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof err) !=
            RD_KAFKA_CONF_OK)
            fail("conf %s: %s", kv[i][0], err);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_opaque(conf, m);
    m->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (m->rk == NULL) {
        fail("consumer: %s", err);
        exit(1);
    }
    rd_kafka_poll_set_consumer(m->rk);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, "t", RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(m->rk, t) != 0)
        fail("subscribe");
    rd_kafka_topic_partition_list_destroy(t);
    return m->rk;
}

static void
consume_group(samsa *s, const char *bootstrap)
{
    static unsigned char seen[N];
    member ms[2] = {{0}};
    hg_member(bootstrap, &ms[0]);
    hg_member(bootstrap, &ms[1]);
    int total = 0, dups = 0;
    for (int rounds = 0; total < N && rounds < 3000 && failures == 0;
         rounds++) {
        for (int k = 0; k < 2; k++) {
            rd_kafka_message_t *msg = rd_kafka_consumer_poll(ms[k].rk, 10);
            for (int burst = 0; msg != NULL; burst++) {
                if (msg->err) {
                    if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        fail("group poll: %s", rd_kafka_message_errstr(msg));
                } else {
                    int i = index_of(msg->partition, msg->offset);
                    if (i < 0 || i >= N)
                        fail("group: t-%d@%lld is no record sent",
                             (int)msg->partition, (long long)msg->offset);
                    else if (seen[i]++)
                        dups++;
                    else
                        total++;
                    ms[k].got++;
                }
                rd_kafka_message_destroy(msg);
                msg = burst < 500 ? rd_kafka_consumer_poll(ms[k].rk, 0) : NULL;
            }
        }
    }
    if (total != N || dups != 0)
        fail("group: %d of %d records read, %d twice", total, N, dups);
    if (ms[0].got == 0 || ms[1].got == 0)
        fail("group: one member read nothing (%d, %d)", ms[0].got, ms[1].got);
    for (int k = 0; k < 2; k++) {
        rd_kafka_resp_err_t ce = rd_kafka_commit(ms[k].rk, NULL, 0);
        if (ce != 0 && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
            fail("group commit: %s", rd_kafka_err2str(ce));
    }
    int64_t got[PARTS] = {-1, -1, -1};
    if (samsa_group_offsets(s, "hg", group_offset, got) != 0)
        fail("samsa_group_offsets hg");
    for (int32_t p = 0; p < PARTS; p++) {
        int64_t first, end;
        if (samsa_offsets(s, "t", p, &first, &end) != 0 || got[p] != end)
            fail("group hg committed %lld for t-%d, not its end",
                 (long long)got[p], p);
    }
    for (int k = 0; k < 2; k++) {
        rd_kafka_consumer_close(ms[k].rk);
        rd_kafka_destroy(ms[k].rk);
    }
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: listener_rdkafka DIR\n");
        return 2;
    }
    samsa *s;
    samsa_listener *l;
    char bootstrap[64];
    interop_serve("listener_rdkafka", argv[1], "t", PARTS, &s, &l, bootstrap,
                  sizeof bootstrap);
    produce_all(bootstrap);
    consume_all(bootstrap);
    check_store(s);
    administer(s, bootstrap);
    commit_offsets(s, bootstrap);
    consume_group(s, bootstrap);
    samsa_listener_close(l);
    samsa_close(s);
    if (failures == 0)
        printf("check-listener: librdkafka %s produced %d records in 5 "
               "codecs (2 idempotent) and consumed them back exactly; "
               "created, grew, described, trimmed and deleted a topic; "
               "committed offsets; a group of "
               "2 consumers read each record once and committed the ends\n",
               rd_kafka_version_str(), N);
    return failures == 0 ? 0 : 1;
}
