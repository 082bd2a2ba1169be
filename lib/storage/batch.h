/*
 * batch.h - Kafka's record batch v2: encoding, parsing, iterating
 * (batch.c).
 */
#ifndef SAMSA_BATCH_H
#define SAMSA_BATCH_H

#include "util/samsa_int.h"

/* ------------------------------------------------------------------------ */
/* Record batch v2 (batch.c)                                                */
/* ------------------------------------------------------------------------ */

#define BATCH_LOG_OVERHEAD 12 /* baseOffset(8) + batchLength(4)             */
#define BATCH_HEADER_SIZE  61 /* through the record count                   */
#define BATCH_MAGIC        2

/* The fixed fields of a batch, decoded. */
typedef struct batch_header {
    int64_t base_offset;       /* offset of the first record                */
    int32_t length;            /* bytes after the batchLength field         */
    int32_t leader_epoch;      /* partitionLeaderEpoch                      */
    int8_t magic;              /* 2                                         */
    uint32_t crc;              /* CRC-32C of attributes..end                */
    int16_t attributes;        /* compression, timestamp type, flags        */
    int32_t last_offset_delta; /* offsets in the batch minus one            */
    int64_t base_timestamp;    /* first record's timestamp                  */
    int64_t max_timestamp;     /* largest timestamp in the batch            */
    int64_t producer_id;       /* -1: no idempotent producer                */
    int16_t producer_epoch;    /* -1                                        */
    int32_t base_sequence;     /* -1                                        */
    int32_t record_count;      /* records that follow                       */
} batch_header;

/* The record batch attributes bits samsa looks at. */
#define BATCH_ATTR_COMPRESSION 0x07
#define BATCH_ATTR_LOG_TIME    0x08 /* timestamps are the append time */
#define BATCH_ATTR_CONTROL     0x20
#define BATCH_ATTR_HORIZON                                                     \
    0x40 /* firstTimestamp is the delete horizon                               \
            (Kafka's KIP-534): compact.c  */

/* Bytes one batch of these records takes, whole (log overhead included);
 * bodies[i] gets record i's size for batch_encode().  Timestamps must be
 * resolved (no 0 = now left). */
size_t batch_encoded_size(samsa_record *const *recs, size_t n, size_t *bodies);

/* Encode a batch into out (batch_encoded_size() bytes), with baseOffset 0,
 * leader epoch 0 and the CRC filled in; returns the largest timestamp.  The
 * base offset is outside the CRC, so the log sets it afterwards with
 * batch_set_base_offset(). */
int64_t batch_encode(uint8_t *out, samsa_record *const *recs, size_t n,
                     const size_t *bodies);
/* Compress the records of the encoded batch at batch (len bytes, as
 * batch_encode() made it) with codec at level into out, which has
 * BATCH_HEADER_SIZE + codec_bound(codec, len - BATCH_HEADER_SIZE) bytes:
 * the same header with the codec in its attributes, its length and CRC
 * made anew; *out_len gets the whole size. */
int batch_compress(const uint8_t *batch, size_t len, int codec, int level,
                   uint8_t *out, size_t *out_len);
/* One record at a time, for a writer that gathers a batch as records
 * come (the asynchronous producer): batch_record_payload() is the bytes
 * of r's key, value and headers as encoded (the part of a record that
 * does not depend on its place in a batch; taken once a record);
 * batch_record_size() the bytes r takes as the batch's record delta
 * (base_ts: the batch's first timestamp), *body getting the part after
 * its length; batch_record_append() writes it at p and returns its end
 * (at most BATCH_RECORD_BOUND(payload) bytes); batch_finish() fills in the
 * header (and CRC) of the n records in the total bytes at out, which start
 * BATCH_HEADER_SIZE in.  batch_encode() is these. */
size_t batch_record_payload(const samsa_record *r);
size_t batch_record_size(const samsa_record *r, size_t payload, int64_t base_ts,
                         int32_t delta, size_t *body);
uint8_t *batch_record_append(uint8_t *p, const samsa_record *r, size_t payload,
                             int64_t base_ts, int32_t delta);
/* A record's length varint, its attributes byte and its two deltas at
 * their longest (10 bytes a varint), then its payload. */
#define BATCH_RECORD_BOUND(payload) (10 + 1 + 2 * 10 + (payload))
void batch_finish(uint8_t *out, size_t total, size_t n, int64_t base_ts,
                  int64_t max_ts);
/* Make the encoded batch (len bytes) a LogAppendTime batch appended at
 * now, as Kafka's broker does: the attribute, maxTimestamp (which every
 * record then reads as its timestamp) and the CRC. */
void batch_set_log_append_time(uint8_t *batch, size_t len, int64_t now);
void batch_set_base_offset(uint8_t *batch, int64_t base_offset);
/* The partitionLeaderEpoch field, also outside the CRC: the epoch of the
 * leader copy that appended the batch (replica.c). */
void batch_set_leader_epoch(uint8_t *batch, int32_t epoch);

/* Parse the fixed header at p, with avail bytes readable there.
 * 0: h is filled and the whole batch (BATCH_LOG_OVERHEAD + h->length bytes)
 *    fits in avail;
 * 1: the header or the batch extends past avail (incomplete: torn, or not
 *    yet written);
 * SAMSA_ECORRUPT: a length or magic that no valid batch has. */
int batch_parse_header(const uint8_t *p, size_t avail, batch_header *h);

/* Whether the batch h may come where the batches before it end (next,
 * the offset after the last one's lastOffsetDelta, or a segment's base).
 *
 * A dense log (samsa's own topics: every offset holds a record) needs
 * base == next.  baseOffset is outside the CRC, so this is what catches
 * a flipped bit there, whichever way it flips.  A log with gaps (an
 * adopted Kafka log, a compacted topic: log_config.gaps) takes any base
 * >= next: base offsets still strictly increase, so damage that lowers
 * one into the batches before it is still caught, and the caller still
 * holds each batch below the next segment's base (its file name).  A
 * flip that raises a base offset there, and stays below the next batch's
 * and segment's bases, moves the batch's records to higher offsets and
 * no header can tell: only comparing bytes with a copy (replica scrub,
 * catch-up) finds it.  Only gaps within a batch (compaction keeps a
 * batch's lastOffsetDelta when it drops its last records) are the same
 * for both: batch_iter_next() holds record deltas increasing and within
 * lastOffsetDelta. */
static inline bool
batch_follows(const batch_header *h, int64_t next, bool gaps)
{
    return gaps ? h->base_offset >= next : h->base_offset == next;
}

/* 0 when the CRC of the batch at p (already parsed into h) matches. */
int batch_verify_crc(const uint8_t *p, const batch_header *h);
/* Ask for what checking a batch at p of about len bytes reads first: its
 * header and the start of each stream of its CRC (a hint, never a fault,
 * so p and len may be a guess). */
void batch_prefetch(const uint8_t *p, size_t len);

/* Iterates the records of one verified batch. */
typedef struct batch_iter {
    const uint8_t *next; /* the next record's length varint              */
    const uint8_t *end;  /* end of the batch                              */
    int64_t base_offset; /* from the header                               */
    int64_t base_timestamp;
    int64_t log_append_time; /* the batch's max timestamp when it uses
                                LogAppendTime, else -1                     */
    int32_t left;            /* records not yet returned                      */
    int32_t last_delta;      /* the batch's lastOffsetDelta               */
    int64_t prev_delta;      /* the last record's offsetDelta, -1 first   */
} batch_iter;

void batch_iter_init(batch_iter *it, const uint8_t *batch,
                     const batch_header *h);
/* The same for a compressed batch: its records area, decompressed
 * (codec.h), len bytes at records; h is the batch's header. */
void batch_iter_init_records(batch_iter *it, const batch_header *h,
                             const uint8_t *records, size_t len);
/* Decode the next record into m (offset, timestamp, key, value, headers);
 * 0, 1 when no records are left, SAMSA_ECORRUPT when it does not parse. */
int batch_iter_next(batch_iter *it, samsa_message *m);

/* The cleaner (compact.c) re-encodes the records it keeps: the bytes
 * record m (from batch_iter_next()) takes with these timestamp and
 * offset deltas, its key, value and headers as they are; and
 * batch_record_reput() writes it at p, returning its end. */
size_t batch_record_resize(const samsa_message *m, int64_t ts_delta,
                           int64_t off_delta);
uint8_t *batch_record_reput(uint8_t *p, const samsa_message *m,
                            int64_t ts_delta, int64_t off_delta);
/* A batch whose header (the first BATCH_HEADER_SIZE bytes at out) was
 * copied from another and whose records were written after it (total
 * bytes in all): its length, attributes, firstTimestamp, maxTimestamp
 * and record count set, and its CRC made anew.  baseOffset,
 * lastOffsetDelta, the leader epoch and the producer fields stay. */
void batch_rewrite_header(uint8_t *out, size_t total, int16_t attributes,
                          int64_t base_ts, int64_t max_ts, int32_t count);

/* Decode header i of a message (see samsa_message_header()). */
int batch_record_header(const samsa_message *m, size_t i, const char **key,
                        size_t *key_len, const void **value, size_t *value_len);
/* m's headers as samsa_headers with NUL-terminated keys, followed by
 * extra zeroed ones for the caller to fill, in one block (*out) the
 * caller frees: 0, SAMSA_ECORRUPT (headers that do not parse, or, unless
 * nul_ok, a key holding a NUL byte, which a samsa_header cannot carry
 * whole; with nul_ok such a key ends at its NUL), SAMSA_ENOMEM. */
int batch_record_headers_copy(const samsa_message *m, size_t extra, bool nul_ok,
                              samsa_header **out);
/* Decode the header at byte *pos of a message's headers and move *pos
 * past it (see samsa_message_header_next()): all of them in one pass. */
int batch_record_header_next(const samsa_message *m, size_t *pos,
                             const char **key, size_t *key_len,
                             const void **value, size_t *value_len);

#endif
