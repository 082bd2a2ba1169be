/*
 * segfile.c - a standalone reader of segment files: Kafka's record batch
 * v2 (magic 2), for `samsa dump` and `samsa verify`.
 *
 * The command may use only samsa's public API, which has no batch parser
 * and no CRC, so this file has its own, written for hostile input: every
 * length is checked against the bytes that remain before anything is read
 * (a file may be damaged, truncated, or not a segment at all).
 *
 *   offset size field (big-endian)          offset size field
 *     0     8   baseOffset                    27     8   baseTimestamp
 *     8     4   batchLength (bytes after it)  35     8   maxTimestamp
 *    12     4   partitionLeaderEpoch          43     8   producerId
 *    16     1   magic (2)                     51     2   producerEpoch
 *    17     4   CRC-32C of bytes 21..end      53     4   baseSequence
 *    21     2   attributes                    57     4   records count
 *    23     4   lastOffsetDelta               61         records
 *
 * A record: length, attributes (1 byte), timestampDelta, offsetDelta,
 * keyLength, key, valueLength, value, header count, then per header
 * keyLength, key, valueLength, value; every number but the attributes a
 * zigzag varint, a length of -1 meaning null.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tool.h"

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), a table a byte:
 * samsa.h offers no CRC, and a dump is not where speed matters. */
static uint32_t crc_table[256];

uint32_t
seg_crc(const uint8_t *p, size_t n)
{
    if (crc_table[1] == 0)
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            crc_table[i] = c;
        }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static uint64_t
be(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

int
seg_next(const uint8_t *p, size_t n, size_t pos, seg_batch *b)
{
    memset(b, 0, sizeof *b);
    b->position = pos;
    if (pos >= n)
        return SEG_END;
    size_t left = n - pos;
    const uint8_t *q = p + pos;
    size_t z = 0;
    while (z < left && q[z] == 0)
        z++;
    if (z == left)
        return SEG_ZEROS;
    if (left < SEG_HEADER_SIZE)
        return SEG_INVALID;
    b->base_offset = (int64_t)be(q, 8);
    b->length = (int32_t)be(q + 8, 4);
    b->leader_epoch = (int32_t)be(q + 12, 4);
    b->magic = (int8_t)q[16];
    if (b->magic != 2 || b->length < SEG_HEADER_SIZE - 12 ||
        (uint64_t)b->length > left - 12)
        return SEG_INVALID;
    b->crc = (uint32_t)be(q + 17, 4);
    b->attributes = (int16_t)be(q + 21, 2);
    b->last_offset_delta = (int32_t)be(q + 23, 4);
    b->base_timestamp = (int64_t)be(q + 27, 8);
    b->max_timestamp = (int64_t)be(q + 35, 8);
    b->producer_id = (int64_t)be(q + 43, 8);
    b->producer_epoch = (int16_t)be(q + 51, 2);
    b->base_sequence = (int32_t)be(q + 53, 4);
    b->record_count = (int32_t)be(q + 57, 4);
    b->records = q + SEG_HEADER_SIZE;
    b->end = q + 12 + b->length;
    b->crc_valid = seg_crc(q + 21, (size_t)(b->end - (q + 21))) == b->crc;
    return SEG_BATCH;
}

/* A zigzag varint of at most 10 bytes below end; 0 or -1. */
static int
varint(const uint8_t **pp, const uint8_t *end, int64_t *out)
{
    uint64_t v = 0;
    const uint8_t *p = *pp;
    for (int shift = 0; shift < 70; shift += 7) {
        if (p >= end)
            return -1;
        uint8_t c = *p++;
        v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            *pp = p;
            return 0;
        }
    }
    return -1;
}

/* A length (-1: null) and its bytes, inside [*pp, end). */
static int
bytes(const uint8_t **pp, const uint8_t *end, const uint8_t **out, int64_t *len)
{
    if (varint(pp, end, len) != 0 || *len < -1 || *len > end - *pp)
        return -1;
    *out = *len < 0 ? NULL : *pp;
    if (*len > 0)
        *pp += *len;
    return 0;
}

int
seg_record_next(const seg_batch *b, const uint8_t **pos, seg_record *r)
{
    const uint8_t *p = *pos;
    int64_t len, ts_delta, off_delta;
    if (varint(&p, b->end, &len) != 0 || len < 1 || len > b->end - p)
        return -1;
    const uint8_t *end = p + len;
    p++; /* attributes, unused in v2 */
    if (varint(&p, end, &ts_delta) != 0 || varint(&p, end, &off_delta) != 0 ||
        bytes(&p, end, &r->key, &r->key_len) != 0 ||
        bytes(&p, end, &r->value, &r->value_len) != 0 ||
        varint(&p, end, &r->header_count) != 0 || r->header_count < 0)
        return -1;
    /* Unsigned sums: a hostile delta must not overflow into undefined
     * behaviour; the value printed is what the bytes say. */
    r->offset = (int64_t)((uint64_t)b->base_offset + (uint64_t)off_delta);
    r->offset_delta = off_delta;
    r->timestamp = (int64_t)((uint64_t)b->base_timestamp + (uint64_t)ts_delta);
    r->hdrs = p;
    r->rec_end = end;
    /* Walk the headers now, so that seg_header() cannot fail on a record
     * that was accepted, and no bytes are left over. */
    for (int64_t i = 0; i < r->header_count; i++) {
        const uint8_t *k, *v;
        int64_t kl, vl;
        if (bytes(&p, end, &k, &kl) != 0 || kl < 0 ||
            bytes(&p, end, &v, &vl) != 0)
            return -1;
    }
    if (p != end)
        return -1;
    *pos = end;
    return 0;
}

int
seg_header_next(const seg_record *r, const uint8_t **pos, const uint8_t **key,
                int64_t *key_len, const uint8_t **value, int64_t *value_len)
{
    const uint8_t *p = *pos;
    if (bytes(&p, r->rec_end, key, key_len) != 0 || *key_len < 0 ||
        bytes(&p, r->rec_end, value, value_len) != 0)
        return -1;
    *pos = p;
    return 0;
}

/* Read, not mmap: a file that shrinks under a mapping (a segment sealed
 * by the application meanwhile) would kill the command with SIGBUS.
 * O_NONBLOCK and regular files only: a FIFO under a segment's name would
 * block the open for ever (no writer), and a FIFO or device has no size
 * to read up to (a pipe's 0 would pass for an empty, intact file). */
int
seg_map(const char *path, const uint8_t **p, size_t *n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = 0;
    uint8_t *buf = NULL;
    size_t got = 0;
    if (fstat(fd, &st) != 0)
        rc = -errno;
    else if (S_ISDIR(st.st_mode))
        rc = -EISDIR;
    else if (!S_ISREG(st.st_mode))
        rc = SEG_ENOTREG;
    else if (st.st_size > 0 && (buf = malloc((size_t)st.st_size)) == NULL)
        rc = SAMSA_ENOMEM;
    while (rc == 0 && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = -errno;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *p = buf;
    *n = got;
    return 0;
}

const char *
seg_strerror(int rc)
{
    return rc == SEG_ENOTREG ? "not a regular file" : samsa_strerror(rc);
}

void
seg_unmap(const uint8_t *p, size_t n)
{
    (void)n;
    free((void *)p);
}
