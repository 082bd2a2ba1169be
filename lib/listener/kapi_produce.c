/*
 * kapi_produce.c - Produce (key 0): record batches from a Kafka client
 * into samsa_produce().
 *
 * Each partition's records in a request are one or more record batches
 * (v2: every client that speaks Produce 3+ writes them).  They are checked
 * whole before anything is stored: the header, the CRC, and every record
 * decoded (compressed batches decompressed, at most BATCH_INFLATE_MAX
 * bytes in all for a partition), so a batch that passes its CRC but whose
 * records do not parse can never reach the log, where every reader would stop
 * at it. Then the records go through samsa_produce() as one call: one samsa
 * batch, stored all or none, with the topic's own compression, timestamp
 * type, size limit, acks and sync.  A refused partition changes nothing
 * and gets its error; the other partitions of the request are stored.
 * One exception, as Kafka's: records stored whose copies fell below
 * min_insync during the append are NOT_ENOUGH_REPLICAS_AFTER_APPEND, with
 * their base offset (and an idempotent batch so stored is a duplicate
 * when retried).
 *
 * An idempotent producer's batch (producerId >= 0: one batch, each offset
 * a record) is first checked against the producer's sequences
 * (kapi_idem.c): a retry is answered with its first offset and not stored
 * again.  Otherwise its records are encoded here and stored through
 * produce_encoded(), as samsa_produce() stores them, but with the batch's
 * producer id, epoch and base sequence in the header, which is where
 * kapi_idem.c finds them after a restart.
 *
 * The records point into the request (and into the decompressed buffers),
 * which outlive the call; headers need NUL-terminated keys, so each
 * record's headers are copied into one block of their own.
 */
#include <stdlib.h>
#include <string.h>

#include "client/produce.h"
#include "listener.h"
#include "storage/batch.h"
#include "storage/codec.h"

#define BATCH_INFLATE_MAX        (64u << 20) /* a partition's, decompressed */
#define BATCH_ATTR_TRANSACTIONAL 0x10 /* a transaction's batch            */

void
kapi_batch_set_producer(uint8_t *b, size_t len, int64_t pid, int16_t epoch,
                        int32_t seq)
{
    samsa__be32_put(b + 43, (uint32_t)((uint64_t)pid >> 32));
    samsa__be32_put(b + 47, (uint32_t)pid);
    b[51] = (uint8_t)((uint16_t)epoch >> 8);
    b[52] = (uint8_t)epoch;
    samsa__be32_put(b + 53, (uint32_t)seq);
    samsa__be32_put(b + 17, samsa__crc32c(0, b + 21, len - 21));
}

/* The batch's maxTimestamp (header byte 35). */
static int64_t
batch_max_timestamp(const uint8_t *b)
{
    return (int64_t)((uint64_t)samsa__be32_get(b + 35) << 32 |
                     samsa__be32_get(b + 39));
}

typedef struct precs {
    samsa_record *recs;
    size_t n, cap;
    size_t inflated; /* bytes decompressed, all batches: at most
                        BATCH_INFLATE_MAX                          */
    void **blocks;   /* header blocks and decompressed buffers to free */
    size_t nblocks, blocks_cap;
} precs;

static void
precs_free(precs *pr)
{
    for (size_t i = 0; i < pr->nblocks; i++)
        free(pr->blocks[i]);
    free(pr->blocks);
    free(pr->recs);
}

static int
precs_keep(precs *pr, void *block)
{
    if (samsa__array_room(&pr->blocks, pr->nblocks, &pr->blocks_cap,
                          sizeof *pr->blocks, 8) != 0) {
        free(block);
        return SAMSA_ENOMEM;
    }
    pr->blocks[pr->nblocks++] = block;
    return 0;
}

/* m's headers as samsa_headers with NUL-terminated keys, in one block;
 * a key holding a NUL byte could not be kept whole: SAMSA_ECORRUPT. */
static int
record_headers(precs *pr, const samsa_message *m, samsa_record *r)
{
    samsa_header *h;
    int rc = batch_record_headers_copy(m, 0, false, &h);
    if (rc != 0)
        return rc;
    r->headers = h;
    r->header_count = m->header_count;
    return precs_keep(pr, h);
}

/* Decode the records of one checked batch (p, header h) into pr. */
static int
batch_records(precs *pr, const uint8_t *p, const batch_header *h)
{
    batch_iter it;
    int codec = h->attributes & BATCH_ATTR_COMPRESSION;
    if (codec != 0) {
        /* The bound is the partition's, not each batch's: every batch is
         * held until all are stored, and a batch of 2 KB can inflate to
         * 60 MB, so a bound per batch let a 32 KB request hold a GB. */
        codec_buf zb = {0};
        int rc = codec_decompress(codec, p + BATCH_HEADER_SIZE,
                                  (size_t)h->length + BATCH_LOG_OVERHEAD -
                                      BATCH_HEADER_SIZE,
                                  BATCH_INFLATE_MAX - pr->inflated, &zb);
        if (rc != 0) {
            codec_buf_free(&zb);
            return rc;
        }
        pr->inflated += zb.len;
        if ((rc = precs_keep(pr, zb.data)) != 0)
            return rc;
        batch_iter_init_records(&it, h, zb.data, zb.len);
    } else {
        batch_iter_init(&it, p, h);
    }
    samsa_message m;
    int rc;
    while ((rc = batch_iter_next(&it, &m)) == 0) {
        if (samsa__array_room(&pr->recs, pr->n, &pr->cap, sizeof *pr->recs,
                              64) != 0)
            return SAMSA_ENOMEM;
        samsa_record *r = &pr->recs[pr->n++];
        memset(r, 0, sizeof *r);
        r->key = m.key;
        r->key_len = m.key_len;
        r->value = m.value;
        r->value_len = m.value_len;
        /* CreateTime as the client set it; none (-1) is "now", as a
         * broker stamps a record that has no time. */
        r->timestamp = m.timestamp > 0 ? m.timestamp : 0;
        if (m.header_count > 0 && (rc = record_headers(pr, &m, r)) != 0)
            return rc;
    }
    return rc == 1 ? 0 : rc;
}

/* Check and decode every batch of a partition's records; *first gets
 * the first batch's header. */
static int
partition_records(precs *pr, kstr data, batch_header *first)
{
    const uint8_t *p = (const uint8_t *)data.p;
    size_t left = data.len;
    if (p == NULL || left == 0)
        return SAMSA_ECORRUPT;
    while (left > 0) {
        batch_header h;
        if (batch_parse_header(p, left, &h) != 0 || h.magic != BATCH_MAGIC ||
            batch_verify_crc(p, &h) != 0 ||
            (h.attributes & BATCH_ATTR_CONTROL) != 0)
            return SAMSA_ECORRUPT;
        if (p == (const uint8_t *)data.p)
            *first = h;
        int rc = batch_records(pr, p, &h);
        if (rc != 0)
            return rc;
        size_t whole = BATCH_LOG_OVERHEAD + (size_t)h.length;
        p += whole;
        left -= whole;
    }
    return pr->n > 0 ? 0 : SAMSA_ECORRUPT;
}

/* Store the records of an idempotent batch (header h) as one batch that
 * keeps h's producer id, epoch and base sequence, as Kafka's log does
 * (kapi_idem.c reads them back after a restart): what samsa_produce()
 * does for one partition, through produce_encoded().  *base gets the
 * first offset, *ts the first record's timestamp. */
static int
produce_idem(samsa_listener *l, const char *tname, int32_t p, precs *pr,
             const batch_header *h, int64_t *base, int64_t *ts)
{
    int64_t now = -1;
    for (size_t i = 0; i < pr->n; i++) {
        int rc = produce_record_check(&pr->recs[i]);
        if (rc != 0)
            return rc;
        if (pr->recs[i].timestamp == 0)
            pr->recs[i].timestamp = now < 0 ? (now = samsa__wall_ms()) : now;
    }
    samsa_record **rp = malloc(pr->n * sizeof *rp);
    size_t *bodies = malloc(pr->n * sizeof *bodies);
    uint8_t *buf = NULL;
    int rc = SAMSA_ENOMEM;
    if (rp != NULL && bodies != NULL) {
        for (size_t i = 0; i < pr->n; i++)
            rp[i] = &pr->recs[i];
        size_t len = batch_encoded_size(rp, pr->n, bodies);
        if ((buf = malloc(len)) != NULL) {
            int64_t max_ts = batch_encode(buf, rp, pr->n, bodies);
            kapi_batch_set_producer(buf, len, h->producer_id, h->producer_epoch,
                                    h->base_sequence);
            bool keyless = false;
            for (size_t i = 0; i < pr->n; i++)
                keyless |= pr->recs[i].key == NULL;
            rc = produce_encoded(l->s, tname, 0, p, buf, len, (int32_t)pr->n,
                                 keyless, max_ts, base);
            /* LogAppendTime: the batch's max timestamp, set at the
             * append (produce.c). */
            *ts = batch_max_timestamp(buf);
        }
    }
    free(buf);
    free(bodies);
    free(rp);
    return rc;
}

/* Store one partition's records: the Kafka error, *base and *append_time
 * set for the reply. */
static int16_t
produce_partition(samsa_listener *l, const char *tname, int32_t p, kstr data,
                  int64_t *base, int64_t *append_time)
{
    precs pr = {0};
    samsa_topic_config cfg;
    batch_header h = {.producer_id = -1};
    int rc = tname == NULL ? SAMSA_ENOTOPIC
                           : samsa_topic_describe(l->s, tname, &cfg);
    if (rc == 0 && (p < 0 || p >= cfg.partitions))
        rc = SAMSA_ENOPARTITION;
    if (rc == 0)
        rc = partition_records(&pr, data, &h);
    if (rc == 0 && h.producer_id >= 0) {
        /* Idempotent: one batch per partition (as Kafka holds Produce 3+),
         * each offset of it a record (the sequences count them), no
         * transactions. */
        if ((size_t)h.length + BATCH_LOG_OVERHEAD != data.len ||
            (int64_t)pr.n != (int64_t)h.last_offset_delta + 1) {
            precs_free(&pr);
            return KERR_CORRUPT_MESSAGE;
        }
        if ((h.attributes & BATCH_ATTR_TRANSACTIONAL) != 0) {
            precs_free(&pr);
            return KERR_INVALID_REQUEST;
        }
        kprod *e;
        int16_t err =
            kidem_check(l, tname, p, h.producer_id, h.producer_epoch,
                        h.base_sequence, h.last_offset_delta + 1, &e, base);
        if (err != KERR_NONE || *base >= 0) { /* refused, or a retry */
            precs_free(&pr);
            return err;
        }
        int64_t ts = -1;
        rc = produce_idem(l, tname, p, &pr, &h, base, &ts);
        /* Stored (*base set) is in the producer's state even when the
         * copies fell short after the append: the client retries, and
         * its retry must be found a duplicate, not stored again. */
        if (*base >= 0) {
            kidem_stored(e, h.producer_epoch, h.base_sequence,
                         h.last_offset_delta + 1, *base);
            if (cfg.timestamp_type == SAMSA_TIMESTAMP_LOG_APPEND_TIME)
                *append_time = ts;
        }
    } else if (rc == 0) {
        rc = samsa_produce(l->s, tname, p, pr.recs, pr.n);
        if (pr.recs[0].offset >= 0) { /* stored, if not acknowledged */
            *base = pr.recs[0].offset;
            if (cfg.timestamp_type == SAMSA_TIMESTAMP_LOG_APPEND_TIME)
                *append_time = pr.recs[0].timestamp;
        }
    }
    precs_free(&pr);
    /* The copies fell below min_insync during the append: the records
     * are stored, and the reply says so with their offsets, as Kafka's
     * NOT_ENOUGH_REPLICAS_AFTER_APPEND (NOT_ENOUGH_REPLICAS says nothing
     * was stored). */
    if (rc == SAMSA_ENOTENOUGHREPLICAS && *base >= 0)
        return KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND;
    /* Records that do not check are CORRUPT_MESSAGE; the record-size and
     * replica errors as Kafka names them. */
    if (rc == SAMSA_ENOTSUP)
        return KERR_CORRUPT_MESSAGE;
    /* A record without a key for a compacted topic: Kafka's answer. */
    if (rc == SAMSA_EINVAL && (cfg.cleanup_policy & SAMSA_CLEANUP_COMPACT))
        return KERR_INVALID_RECORD;
    return kapi_error(rc);
}

int
kapi_produce(samsa_listener *l, kconn *c, kreq *req, kwrite *out)
{
    (void)c;
    int16_t v = req->version;
    kread *r = &req->body;
    (void)kread_str(r, false); /* transactional id: no transactions */
    int16_t acks = kread_i16(r);
    (void)kread_i32(r); /* timeout: samsa_produce() does not wait on
                           other brokers */
    int32_t nt = kread_array(r, false, 6);
    kwrite_array(out, false, nt < 0 ? 0 : nt);
    for (int32_t t = 0; t < nt && !r->bad; t++) {
        char *tname;
        int32_t np = kapi_topic_echo(r, out, 8, &tname);
        for (int32_t i = 0; i < np && !r->bad; i++) {
            int32_t p = kread_i32(r);
            kstr data = kread_bytes(r, false);
            int64_t base = -1, append_time = -1;
            int16_t err = KERR_INVALID_REQUIRED_ACKS;
            if (r->bad)
                break;
            if (acks == 0 || acks == 1 || acks == -1)
                err = produce_partition(l, tname, p, data, &base, &append_time);
            kwrite_i32(out, p);
            kwrite_i16(out, err);
            kwrite_i64(out, base);
            kwrite_i64(out, append_time);
            if (v >= 5) {
                int64_t first = -1, end;
                if (tname == NULL ||
                    samsa_offsets(l->s, tname, p, &first, &end) != 0)
                    first = -1;
                kwrite_i64(out, first);
            }
            if (v >= 8) {
                kwrite_array(out, false, 0); /* record errors */
                kwrite_strz(out, false, NULL);
            }
        }
        free(tname);
    }
    kwrite_i32(out, 0); /* throttle_time_ms */
    if (r->bad)
        return KANS_CLOSE;
    if (acks == 0)
        out->len = 0; /* acks=0: Kafka sends no reply at all */
    return KANS_DONE;
}
