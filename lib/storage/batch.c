/*
 * batch.c - Apache Kafka's record batch, format v2 (magic 2), byte for byte.
 *
 * A segment file is nothing but these batches back to back, so Kafka's own
 * tools and any Kafka client's batch decoder read samsa's segments, and samsa
 * reads Kafka's (uncompressed) ones.  All integers are big-endian.
 *
 *   offset size field
 *        0    8 baseOffset            first record's offset
 *        8    4 batchLength           bytes from partitionLeaderEpoch to end
 *       12    4 partitionLeaderEpoch  0 until replicas elect leaders
 *       16    1 magic                 2
 *       17    4 crc                   CRC-32C of bytes 21..end
 *       21    2 attributes            bits 0-2 compression (0 = none),
 *                                     3 timestamp type (0 = CreateTime),
 *                                     4 transactional, 5 control
 *       23    4 lastOffsetDelta       record count - 1 for samsa's batches
 *       27    8 baseTimestamp         first record's timestamp
 *       35    8 maxTimestamp          largest timestamp in the batch
 *       43    8 producerId            -1
 *       51    2 producerEpoch         -1
 *       53    4 baseSequence          -1
 *       57    4 records count
 *       61    . records
 *
 * Each record (varint = zig-zag LEB128, as protobuf's sint32/sint64):
 *
 *   length varint (bytes after this field), attributes int8 (0),
 *   timestampDelta varlong, offsetDelta varint,
 *   keyLength varint (-1: null key), key,
 *   valueLength varint (-1: null value), value,
 *   headerCount varint, then per header:
 *     keyLength varint, key (UTF-8), valueLength varint (-1: null), value.
 *
 * baseOffset, batchLength, partitionLeaderEpoch and magic are outside the
 * CRC, which is why the log can encode and checksum a batch before it takes
 * the partition lock and learns the offset (batch_set_base_offset()).
 */
#include <assert.h>
#include <string.h>

#include "batch.h"

#include "codec.h"

/* ---- big-endian fixed-width fields --------------------------------------- */

static void
put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
    samsa__be32_put(p, v);
}

/* One swap and one store where the byte order allows (as bytes or as two
 * put_be32(), the compiler spent some thirty instructions on each of the
 * header's 64-bit fields). */
static void
put_be64(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
    memcpy(p, &v, sizeof v);
#else
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
#endif
}

static uint16_t
get_be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t
get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static uint64_t
get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* ---- zig-zag varints ----------------------------------------------------- */

/* A zigzag varint carries 7 bits a byte: its size from the highest bit
 * set, without a loop (every record's size is taken on the produce
 * path).  ceil(bits / 7) is (9 * bits + 64) / 64 for bits 1..64 (checked
 * for each in check_batch.c): a multiply-add and a shift, where the
 * division by 7 took six instructions, and a record sizes six varints. */
static size_t
varint_size(int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    unsigned bits = 64u - (unsigned)__builtin_clzll(z | 1);
    return (9 * bits + 64) >> 6;
}

static uint8_t *
varint_put(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        *p++ = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    *p++ = (uint8_t)z;
    return p;
}

static int64_t
unzigzag(uint64_t z)
{
    return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
}

/* Decode a varint of at most max_bytes (5 for int32, 10 for int64);
 * NULL when it runs past end or is too long.  The long form, out of line:
 * see varint_get_as(). */
static __attribute__((noinline)) const uint8_t *
varint_get_long(const uint8_t *p, const uint8_t *end, int max_bytes,
                int64_t *out)
{
    uint64_t z = 0;
    for (int i = 0; i < max_bytes && p < end; i++) {
        uint8_t b = *p++;
        z |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *out = unzigzag(z);
            return p;
        }
    }
    return NULL;
}

/* The same, with the one- and two-byte forms inline.  Most of a record's
 * varints (attributes aside: its length, deltas, key and value lengths)
 * take one or two bytes, and decoding them is most of the cost of reading
 * a record; the loop, inlined at each of a record's six varints, made the
 * decoder four times the size of its hot path (2026-12-05: 198
 * instructions a record before, see batch_iter_next()).  short_only: give
 * NULL for a longer one rather than call the long form (record_next()). */
static inline __attribute__((always_inline)) const uint8_t *
varint_get_as(const uint8_t *p, const uint8_t *end, int max_bytes, int64_t *out,
              bool short_only)
{
    if (__builtin_expect(p < end && p[0] < 0x80, 1)) {
        *out = unzigzag(p[0]);
        return p + 1;
    }
    if (end - p >= 2 && p[1] < 0x80) {
        *out = unzigzag((uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7);
        return p + 2;
    }
    return short_only ? NULL : varint_get_long(p, end, max_bytes, out);
}

/* A varint that must be a length: -1 (null) .. bytes left.  Inlined: a
 * record has two, and the call cost as much as the decode. */
static inline __attribute__((always_inline)) const uint8_t *
length_get_as(const uint8_t *p, const uint8_t *end, int64_t *len,
              bool short_only)
{
    p = varint_get_as(p, end, 5, len, short_only);
    if (p == NULL || *len < -1 || *len > end - p)
        return NULL;
    return p;
}

static inline __attribute__((always_inline)) const uint8_t *
length_get(const uint8_t *p, const uint8_t *end, int64_t *len)
{
    return length_get_as(p, end, len, false);
}

/* ---- encoding ------------------------------------------------------------ */

static int64_t
opt_len(const void *ptr, size_t len)
{
    return ptr == NULL ? -1 : (int64_t)len;
}

/* The bytes of n headers.  Out of line, as headers_put(): most records
 * have none, and without the loop (and its call of strlen) the sizing of
 * one needs no stack frame. */
static __attribute__((noinline)) size_t
headers_size(const samsa_header *hs, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t kl = strlen(hs[i].key);
        bytes += varint_size((int64_t)kl) + kl;
        bytes += varint_size(opt_len(hs[i].value, hs[i].value_len)) +
                 hs[i].value_len;
    }
    return bytes;
}

size_t
batch_record_payload(const samsa_record *r)
{
    size_t n = varint_size(opt_len(r->key, r->key_len)) + r->key_len;
    n += varint_size(opt_len(r->value, r->value_len)) + r->value_len;
    n += varint_size((int64_t)r->header_count);
    if (r->header_count > 0)
        n += headers_size(r->headers, r->header_count);
    return n;
}

size_t
batch_record_size(const samsa_record *r, size_t payload, int64_t base_ts,
                  int32_t delta, size_t *body)
{
    /* the attributes byte, the two deltas, then the payload */
    *body =
        1 + varint_size(r->timestamp - base_ts) + varint_size(delta) + payload;
    return varint_size((int64_t)*body) + *body;
}

size_t
batch_encoded_size(samsa_record *const *recs, size_t n, size_t *bodies)
{
    size_t size = BATCH_HEADER_SIZE;
    for (size_t i = 0; i < n; i++)
        size += batch_record_size(recs[i], batch_record_payload(recs[i]),
                                  recs[0]->timestamp, (int32_t)i, &bodies[i]);
    return size;
}

static inline __attribute__((always_inline)) uint8_t *
bytes_put(uint8_t *p, const void *buf, size_t len)
{
    p = varint_put(p, opt_len(buf, len));
    if (len > 0)
        memcpy(p, buf, len);
    return p + len;
}

/* n headers at p; their end.  Out of line: see headers_size(). */
static __attribute__((noinline)) uint8_t *
headers_put(uint8_t *p, const samsa_header *hs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p = bytes_put(p, hs[i].key, strlen(hs[i].key));
        p = bytes_put(p, hs[i].value, hs[i].value_len);
    }
    return p;
}

static inline uint8_t *
record_put(uint8_t *p, const samsa_record *r, size_t body, int64_t base_ts,
           int32_t delta)
{
    p = varint_put(p, (int64_t)body);
    *p++ = 0; /* record attributes: unused in v2 */
    p = varint_put(p, r->timestamp - base_ts);
    p = varint_put(p, delta);
    p = bytes_put(p, r->key, r->key_len);
    p = bytes_put(p, r->value, r->value_len);
    p = varint_put(p, (int64_t)r->header_count);
    return r->header_count > 0 ? headers_put(p, r->headers, r->header_count)
                               : p;
}

uint8_t *
batch_record_append(uint8_t *p, const samsa_record *r, size_t payload,
                    int64_t base_ts, int32_t delta)
{
    size_t body;
    (void)batch_record_size(r, payload, base_ts, delta, &body);
    return record_put(p, r, body, base_ts, delta);
}

int64_t
batch_encode(uint8_t *out, samsa_record *const *recs, size_t n,
             const size_t *bodies)
{
    assert(n > 0);
    int64_t base_ts = recs[0]->timestamp, max_ts = base_ts;
    for (size_t i = 1; i < n; i++)
        if (recs[i]->timestamp > max_ts)
            max_ts = recs[i]->timestamp;

    uint8_t *p = out + BATCH_HEADER_SIZE;
    for (size_t i = 0; i < n; i++)
        p = record_put(p, recs[i], bodies[i], base_ts, (int32_t)i);
    batch_finish(out, (size_t)(p - out), n, base_ts, max_ts);
    return max_ts;
}

void
batch_finish(uint8_t *out, size_t total, size_t n, int64_t base_ts,
             int64_t max_ts)
{
    put_be64(out + 0, 0); /* baseOffset: later */
    put_be32(out + 8, (uint32_t)(total - BATCH_LOG_OVERHEAD));
    put_be32(out + 12, 0); /* leader epoch      */
    out[16] = BATCH_MAGIC;
    put_be16(out + 21, 0);                 /* attributes        */
    put_be32(out + 23, (uint32_t)(n - 1)); /* lastOffsetDelta   */
    put_be64(out + 27, (uint64_t)base_ts);
    put_be64(out + 35, (uint64_t)max_ts);
    put_be64(out + 43, (uint64_t)-1); /* producerId        */
    put_be16(out + 51, (uint16_t)-1); /* producerEpoch     */
    put_be32(out + 53, (uint32_t)-1); /* baseSequence      */
    put_be32(out + 57, (uint32_t)n);
    put_be32(out + 17, samsa__crc32c(0, out + 21, total - 21));
}

int
batch_compress(const uint8_t *batch, size_t len, int codec, int level,
               uint8_t *out, size_t *out_len)
{
    size_t packed;
    int rc = codec_compress(codec, level, batch + BATCH_HEADER_SIZE,
                            len - BATCH_HEADER_SIZE, out + BATCH_HEADER_SIZE,
                            &packed);
    if (rc != 0)
        return rc;
    size_t total = BATCH_HEADER_SIZE + packed;
    memcpy(out, batch, BATCH_HEADER_SIZE);
    put_be32(out + 8, (uint32_t)(total - BATCH_LOG_OVERHEAD));
    put_be16(out + 21, (uint16_t)(get_be16(batch + 21) | codec));
    put_be32(out + 17, samsa__crc32c(0, out + 21, total - 21));
    *out_len = total;
    return 0;
}

void
batch_set_log_append_time(uint8_t *batch, size_t len, int64_t now)
{
    put_be16(batch + 21,
             (uint16_t)(get_be16(batch + 21) | BATCH_ATTR_LOG_TIME));
    put_be64(batch + 35, (uint64_t)now); /* maxTimestamp */
    put_be32(batch + 17, samsa__crc32c(0, batch + 21, len - 21));
}

void
batch_set_base_offset(uint8_t *batch, int64_t base_offset)
{
    put_be64(batch, (uint64_t)base_offset);
}

void
batch_set_leader_epoch(uint8_t *batch, int32_t epoch)
{
    put_be32(batch + 12, (uint32_t)epoch); /* partitionLeaderEpoch */
}

/* ---- decoding ------------------------------------------------------------ */

int
batch_parse_header(const uint8_t *p, size_t avail, batch_header *h)
{
    if (avail < BATCH_LOG_OVERHEAD)
        return 1;
    h->base_offset = (int64_t)get_be64(p);
    h->length = (int32_t)get_be32(p + 8);
    if (h->length < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD ||
        h->base_offset < 0)
        return SAMSA_ECORRUPT;
    if (avail < BATCH_HEADER_SIZE)
        return 1;
    h->leader_epoch = (int32_t)get_be32(p + 12);
    h->magic = (int8_t)p[16];
    if (h->magic != BATCH_MAGIC)
        return SAMSA_ECORRUPT;
    h->crc = get_be32(p + 17);
    h->attributes = (int16_t)get_be16(p + 21);
    h->last_offset_delta = (int32_t)get_be32(p + 23);
    h->base_timestamp = (int64_t)get_be64(p + 27);
    h->max_timestamp = (int64_t)get_be64(p + 35);
    h->producer_id = (int64_t)get_be64(p + 43);
    h->producer_epoch = (int16_t)get_be16(p + 51);
    h->base_sequence = (int32_t)get_be32(p + 53);
    h->record_count = (int32_t)get_be32(p + 57);
    /* Each record takes an offset of its own within the batch; baseOffset
     * is outside the CRC: its last offset must still be one that a next
     * offset can follow, or the sums below overflow. */
    if (h->last_offset_delta < 0 || h->record_count < 0 ||
        h->record_count > (int64_t)h->last_offset_delta + 1 ||
        h->base_offset >= INT64_MAX - h->last_offset_delta)
        return SAMSA_ECORRUPT;
    if ((uint64_t)h->length + BATCH_LOG_OVERHEAD > avail)
        return 1;
    return 0;
}

int
batch_verify_crc(const uint8_t *p, const batch_header *h)
{
    size_t n = (size_t)h->length + BATCH_LOG_OVERHEAD - 21;
    return samsa__crc32c(0, p + 21, n) == h->crc ? 0 : SAMSA_ECORRUPT;
}

void
batch_prefetch(const uint8_t *p, size_t len)
{
    __builtin_prefetch(p);
    if (len > 21)
        samsa__crc32c_prefetch(p + 21, len - 21);
}

void
batch_iter_init(batch_iter *it, const uint8_t *batch, const batch_header *h)
{
    it->next = batch + BATCH_HEADER_SIZE;
    it->end = batch + BATCH_LOG_OVERHEAD + h->length;
    it->base_offset = h->base_offset;
    it->base_timestamp = h->base_timestamp;
    /* LogAppendTime batches (attribute bit 3) give every record the batch's
     * maxTimestamp, as Kafka's DefaultRecordBatch does. */
    it->log_append_time = (h->attributes & 0x08) != 0 ? h->max_timestamp : -1;
    it->left = h->record_count;
    it->last_delta = h->last_offset_delta;
    it->prev_delta = -1;
}

void
batch_iter_init_records(batch_iter *it, const batch_header *h,
                        const uint8_t *records, size_t len)
{
    batch_iter_init(it, records - BATCH_HEADER_SIZE, h);
    it->next = records;
    it->end = records + len;
}

/* The header at p (below end) into its four outputs; the end of it, or
 * NULL when it does not parse. */
static const uint8_t *
header_get(const uint8_t *p, const uint8_t *end, const char **key,
           size_t *key_len, const void **value, size_t *value_len)
{
    int64_t kl, vl;
    if (p == NULL || (p = length_get(p, end, &kl)) == NULL || kl < 0)
        return NULL;
    *key = (const char *)p;
    *key_len = (size_t)kl;
    if ((p = length_get(p + kl, end, &vl)) == NULL)
        return NULL;
    *value = vl < 0 ? NULL : p;
    *value_len = vl < 0 ? 0 : (size_t)vl;
    return vl > 0 ? p + vl : p;
}

/* Walk n headers from p; the end of the last, or NULL when they do not
 * parse within end. */
static const uint8_t *
headers_skip(const uint8_t *p, const uint8_t *end, int64_t n)
{
    const char *k;
    const void *v;
    size_t kl, vl;
    for (int64_t i = 0; i < n && p != NULL; i++)
        p = header_get(p, end, &k, &kl, &v, &vl);
    return p;
}

/* record_next()'s answer when the common form would not do. */
#define RECORD_NOT_COMMON 2

/* Decode the record at it->next into m; 0, or 1 past the last.  common:
 * decode only the common record (every varint of one or two bytes, no
 * headers) and answer RECORD_NOT_COMMON for anything else, damage
 * included, without calling anything: batch_iter_next() is then a leaf
 * function that saves no registers (2026-12-05: 187 instructions a
 * 100-byte record before, 165 after), and hands the rest to the whole
 * decoder, record_next_any(). */
static inline __attribute__((always_inline)) int
record_next(batch_iter *it, samsa_message *m, bool common)
{
    const int bad = common ? RECORD_NOT_COMMON : SAMSA_ECORRUPT;
    if (it->left == 0)
        return 1;
    const uint8_t *p = it->next, *end;
    int64_t len, ts_delta, off_delta, kl, vl, hc;
    p = varint_get_as(p, it->end, 5, &len, common);
    if (p == NULL || len < 1 || len > it->end - p)
        return bad;
    end = p + len;
    p++; /* record attributes */
    if ((p = varint_get_as(p, end, 10, &ts_delta, common)) == NULL ||
        (p = varint_get_as(p, end, 5, &off_delta, common)) == NULL ||
        (p = length_get_as(p, end, &kl, common)) == NULL)
        return bad;
    m->key = kl < 0 ? NULL : p;
    m->key_len = kl < 0 ? 0 : (size_t)kl;
    p += m->key_len;
    if ((p = length_get_as(p, end, &vl, common)) == NULL)
        return bad;
    m->value = vl < 0 ? NULL : p;
    m->value_len = vl < 0 ? 0 : (size_t)vl;
    p += m->value_len;
    if ((p = varint_get_as(p, end, 5, &hc, common)) == NULL || hc < 0 ||
        (hc == 0  ? p
         : common ? NULL
                  : headers_skip(p, end, hc)) != end)
        return bad;
    /* Offsets rise within a batch and stay inside the batch's range (Kafka
     * keeps the batch's lastOffsetDelta when compaction removes records):
     * a foreign writer's batch (its CRC is its own) cannot claim others. */
    if (off_delta <= it->prev_delta || off_delta > it->last_delta)
        return bad;
    it->prev_delta = off_delta;
    m->offset = it->base_offset + off_delta;
    /* Wrapping, not overflowing: a timestamp is data, checked by no one. */
    m->timestamp =
        it->log_append_time >= 0
            ? it->log_append_time
            : (int64_t)((uint64_t)it->base_timestamp + (uint64_t)ts_delta);
    m->header_count = (size_t)hc;
    m->headers_ = p;
    m->headers_end_ = end;
    m->timestamp_type = it->log_append_time >= 0
                            ? SAMSA_TIMESTAMP_LOG_APPEND_TIME
                            : SAMSA_TIMESTAMP_CREATE_TIME;
    m->reserved32 = 0;
    memset(m->reserved, 0, sizeof m->reserved);
    it->next = end;
    it->left--;
    return 0;
}

static __attribute__((noinline)) int
record_next_any(batch_iter *it, samsa_message *m)
{
    return record_next(it, m, false);
}

int
batch_iter_next(batch_iter *it, samsa_message *m)
{
    int rc = record_next(it, m, true);
    return rc == RECORD_NOT_COMMON ? record_next_any(it, m) : rc;
}

int
batch_record_header(const samsa_message *m, size_t i, const char **key,
                    size_t *key_len, const void **value, size_t *value_len)
{
    const uint8_t *end = m->headers_end_;
    const uint8_t *p = headers_skip(m->headers_, end, (int64_t)i);
    return header_get(p, end, key, key_len, value, value_len) != NULL
               ? 0
               : SAMSA_ECORRUPT;
}

int
batch_record_header_next(const samsa_message *m, size_t *pos, const char **key,
                         size_t *key_len, const void **value, size_t *value_len)
{
    const uint8_t *start = m->headers_, *end = m->headers_end_;
    if (start == NULL || end == NULL || *pos >= (size_t)(end - start))
        return SAMSA_EINVAL; /* past the last header */
    const uint8_t *p =
        header_get(start + *pos, end, key, key_len, value, value_len);
    if (p == NULL)
        return SAMSA_ECORRUPT;
    *pos = (size_t)(p - start);
    return 0;
}

int
batch_record_headers_copy(const samsa_message *m, size_t extra, bool nul_ok,
                          samsa_header **out)
{
    /* Two passes, each over every header once (a record may hold
     * hundreds of thousands: by index, each would walk those before it):
     * the size, then the copy. */
    size_t n = m->header_count, bytes = (n + extra) * sizeof(samsa_header);
    size_t pos = 0, kl, vl;
    const char *k;
    const void *v;
    for (size_t i = 0; i < n; i++) {
        if (batch_record_header_next(m, &pos, &k, &kl, &v, &vl) != 0 ||
            (!nul_ok && memchr(k, '\0', kl) != NULL))
            return SAMSA_ECORRUPT;
        bytes += kl + 1;
    }
    samsa_header *h = calloc(1, bytes);
    if (h == NULL)
        return SAMSA_ENOMEM;
    char *keys = (char *)(h + n + extra);
    pos = 0;
    for (size_t i = 0; i < n; i++) {
        (void)batch_record_header_next(m, &pos, &k, &kl, &h[i].value,
                                       &h[i].value_len);
        memcpy(keys, k, kl);
        keys[kl] = '\0';
        h[i].key = keys;
        keys += kl + 1;
    }
    *out = h;
    return 0;
}

/* ---- re-encoding (the cleaner, compact.c) -------------------------------- */

/* Bytes of m's record after its length varint, with these deltas. */
static size_t
record_rebody_size(const samsa_message *m, int64_t ts_delta, int64_t off_delta)
{
    size_t hb = (size_t)((const uint8_t *)m->headers_end_ -
                         (const uint8_t *)m->headers_);
    return 1 + varint_size(ts_delta) + varint_size(off_delta) +
           varint_size(opt_len(m->key, m->key_len)) + m->key_len +
           varint_size(opt_len(m->value, m->value_len)) + m->value_len +
           varint_size((int64_t)m->header_count) + hb;
}

size_t
batch_record_resize(const samsa_message *m, int64_t ts_delta, int64_t off_delta)
{
    size_t body = record_rebody_size(m, ts_delta, off_delta);
    return varint_size((int64_t)body) + body;
}

uint8_t *
batch_record_reput(uint8_t *p, const samsa_message *m, int64_t ts_delta,
                   int64_t off_delta)
{
    size_t hb = (size_t)((const uint8_t *)m->headers_end_ -
                         (const uint8_t *)m->headers_);
    p = varint_put(p, (int64_t)record_rebody_size(m, ts_delta, off_delta));
    *p++ = 0; /* record attributes: unused by Kafka, always 0 */
    p = varint_put(p, ts_delta);
    p = varint_put(p, off_delta);
    p = bytes_put(p, m->key, m->key_len);
    p = bytes_put(p, m->value, m->value_len);
    p = varint_put(p, (int64_t)m->header_count);
    if (hb > 0)
        memcpy(p, m->headers_, hb);
    return p + hb;
}

void
batch_rewrite_header(uint8_t *out, size_t total, int16_t attributes,
                     int64_t base_ts, int64_t max_ts, int32_t count)
{
    put_be32(out + 8, (uint32_t)(total - BATCH_LOG_OVERHEAD));
    put_be16(out + 21, (uint16_t)attributes);
    put_be64(out + 27, (uint64_t)base_ts);
    put_be64(out + 35, (uint64_t)max_ts);
    put_be32(out + 57, (uint32_t)count);
    put_be32(out + 17, samsa__crc32c(0, out + 21, total - 21));
}
