/*
 * import.c - samsa_kafka_import(): a Kafka topic into a store, through a
 * librdkafka consumer assigned to each partition (no group: nothing is
 * committed in Kafka).
 *
 * Each partition is read from its start position up to its end at the
 * call (the high watermark then), and its records are produced to the
 * same partition of the store in batches of up to BATCH records, each
 * batch one samsa_produce() call.  The Kafka messages of a batch are kept
 * until it is stored: the samsa_record fields point into them.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"

#define BATCH 256

typedef struct ibatch {
    rd_kafka_message_t *msgs[BATCH]; /* held until stored           */
    samsa_record recs[BATCH];        /* pointing into msgs          */
    samsa_header *hdrs[BATCH];       /* each record's headers       */
    size_t n;                        /* records held                */
} ibatch;

static void
batch_clear(ibatch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        rd_kafka_message_destroy(b->msgs[i]);
        free(b->hdrs[i]);
    }
    b->n = 0;
}

/* Add msg to b (taking it): 0 or SAMSA_ENOMEM. */
static int
batch_add(ibatch *b, rd_kafka_message_t *msg)
{
    rd_kafka_headers_t *h = NULL;
    size_t nh = 0;
    if (rd_kafka_message_headers(msg, &h) == RD_KAFKA_RESP_ERR_NO_ERROR)
        nh = rd_kafka_header_cnt(h);
    samsa_header *hv = NULL;
    if (nh > 0 && (hv = calloc(nh, sizeof *hv)) == NULL) {
        rd_kafka_message_destroy(msg);
        return SAMSA_ENOMEM;
    }
    for (size_t i = 0; i < nh; i++)
        rd_kafka_header_get_all(h, i, &hv[i].key, &hv[i].value,
                                &hv[i].value_len);
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(msg, &tt);
    b->msgs[b->n] = msg;
    b->hdrs[b->n] = hv;
    b->recs[b->n] = (samsa_record){.key = msg->key,
                                   .key_len = msg->key ? msg->key_len : 0,
                                   .value = msg->payload,
                                   .value_len = msg->payload ? msg->len : 0,
                                   .headers = hv,
                                   .header_count = nh,
                                   .timestamp = ts > 0 ? ts : 0};
    b->n++;
    return 0;
}

/* One partition being imported. */
typedef struct ipart {
    int32_t p;         /* the partition                          */
    int64_t next;      /* the next Kafka offset wanted           */
    int64_t hi;        /* its end at the call: stop there        */
    int64_t from_time; /* > 0: skip records until one this late */
    ibatch b;          /* records read, not yet stored           */
} ipart;

/* Where partition ip starts (cfg's offset or time, within the log) and
 * where it ends. */
static int
import_range(rd_kafka_t *rk, const char *topic, ipart *ip,
             const samsa_import_config *cfg, bridge_err *e)
{
    int64_t lo, hi;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        rk, topic, ip->p, &lo, &hi, BRIDGE_REQUEST_MS);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        return bridge_fail(e, bridge_code(err), "Kafka %s/%" PRId32 ": %s",
                           topic, ip->p, rd_kafka_err2str(err));
    ip->hi = hi;
    ip->next = cfg->start_offset > lo ? cfg->start_offset : lo;
    /* A start time is found by reading, not by Kafka's ListOffsets: the
     * first record at least that late, timestamps need not rise (samsa's
     * own definition, samsa_offsets_for_time()), and it needs nothing of
     * the broker but Fetch. */
    ip->from_time = cfg->start_time;
    return 0;
}

/* Store what ip holds. */
static int
import_flush(samsa *s, const char *topic, ipart *ip, int64_t *records,
             bridge_err *e)
{
    int rc = 0;
    if (ip->b.n > 0) {
        rc = samsa_produce(s, topic, ip->p, ip->b.recs, ip->b.n);
        if (rc != 0)
            bridge_fail(e, rc, "%s/%" PRId32 ": %s", topic, ip->p,
                        samsa_strerror(rc));
        else
            *records += (int64_t)ip->b.n;
    }
    batch_clear(&ip->b);
    return rc;
}

/* Read every partition of ips at once, up to its end. */
static int
import_all(samsa *s, rd_kafka_t *rk, const char *topic, ipart *ips, size_t n,
           int64_t *records, bridge_err *e)
{
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new((int)n);
    size_t left = 0;
    for (size_t i = 0; i < n; i++)
        if (ips[i].next < ips[i].hi) {
            rd_kafka_topic_partition_list_add(l, topic, ips[i].p)->offset =
                ips[i].next;
            left++;
        }
    rd_kafka_resp_err_t err =
        left > 0 ? rd_kafka_assign(rk, l) : RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_destroy(l);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        return bridge_fail(e, bridge_code(err), "Kafka %s: %s", topic,
                           rd_kafka_err2str(err));
    int rc = 0;
    while (rc == 0 && left > 0) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, BRIDGE_REQUEST_MS);
        if (msg == NULL) {
            rc = bridge_fail(e, SAMSA_ETIMEDOUT,
                             "Kafka %s: no records for %d ms", topic,
                             BRIDGE_REQUEST_MS);
            break;
        }
        ipart *ip = NULL;
        for (size_t i = 0; i < n && ip == NULL; i++)
            if (ips[i].p == msg->partition)
                ip = &ips[i];
        if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR || ip == NULL ||
            msg->offset < ip->next || ip->next >= ip->hi) {
            if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR &&
                msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                rc = bridge_fail(e, bridge_code(msg->err), "Kafka %s: %s",
                                 topic, rd_kafka_message_errstr(msg));
            rd_kafka_message_destroy(msg);
            continue;
        }
        int64_t off = msg->offset;
        rd_kafka_timestamp_type_t tt;
        if (off < ip->hi && ip->from_time > 0 &&
            rd_kafka_message_timestamp(msg, &tt) < ip->from_time) {
            rd_kafka_message_destroy(msg); /* before the start time */
            ip->next = off + 1;
        } else if (off >= ip->hi) {
            rd_kafka_message_destroy(msg);
            ip->next = ip->hi;
        } else {
            ip->from_time = 0; /* from here on, every record */
            if ((rc = batch_add(&ip->b, msg)) != 0) {
                bridge_fail(e, rc, "out of memory");
                break;
            }
            ip->next = off + 1;
        }
        if (ip->b.n == BATCH || ip->next >= ip->hi)
            rc = import_flush(s, topic, ip, records, e);
        if (ip->next >= ip->hi)
            left--;
    }
    for (size_t i = 0; i < n; i++)
        batch_clear(&ips[i].b);
    rd_kafka_assign(rk, NULL);
    return rc;
}

int
samsa_kafka_import(samsa *s, const char *topic, const samsa_import_config *cfg,
                   int64_t *records)
{
    if (s == NULL || topic == NULL || cfg == NULL || cfg->bootstrap == NULL ||
        (cfg->partitions == NULL && cfg->npartitions > 0) ||
        (cfg->start_offset < 0 &&
         cfg->start_offset != SAMSA_OFFSET_BEGINNING) ||
        cfg->start_time < 0)
        return SAMSA_EINVAL;
    for (size_t i = 0; i < sizeof cfg->reserved / sizeof cfg->reserved[0]; i++)
        if (cfg->reserved[i] != 0)
            return SAMSA_EINVAL;
    int64_t count = 0;
    bridge_err e = {0};
    char err[256];
    rd_kafka_conf_t *conf = bridge_conf(cfg->bootstrap, cfg->kafka_conf, &e);
    if (conf == NULL)
        return e.rc;
    /* No group is joined and nothing committed: the consumer is assigned
     * partitions directly (librdkafka still wants a group.id for that). */
    if (rd_kafka_conf_set(conf, "group.id", "samsa-import", err, sizeof err) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err,
                          sizeof err) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", err,
                          sizeof err) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return SAMSA_EINVAL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return SAMSA_EINVAL;
    }
    int kparts = 0;
    int rc = bridge_partitions(rk, topic, &kparts, &e);
    if (rc == 0 && kparts == 0)
        rc = SAMSA_ENOTOPIC;
    samsa_topic_config tc;
    if (rc == 0 &&
        (rc = samsa_topic_describe(s, topic, &tc)) == SAMSA_ENOTOPIC) {
        samsa_topic_config nc = {.partitions = kparts};
        rc = samsa_topic_create(s, topic, &nc);
        tc.partitions = kparts;
    }
    if (rc == 0 && tc.partitions < kparts)
        rc = SAMSA_ENOPARTITION;
    size_t n = cfg->partitions != NULL ? cfg->npartitions : (size_t)kparts;
    ipart *ips = rc == 0 ? calloc(n ? n : 1, sizeof *ips) : NULL;
    if (rc == 0 && ips == NULL)
        rc = SAMSA_ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        ips[i].p = cfg->partitions != NULL ? cfg->partitions[i] : (int32_t)i;
        if (ips[i].p < 0 || ips[i].p >= kparts)
            rc = SAMSA_ENOPARTITION;
        else
            rc = import_range(rk, topic, &ips[i], cfg, &e);
    }
    if (rc == 0)
        rc = import_all(s, rk, topic, ips, n, &count, &e);
    free(ips);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (records != NULL)
        *records = count;
    return rc;
}
