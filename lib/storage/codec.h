/*
 * codec.h - Kafka's batch compression codecs (codec.c): gzip, snappy, lz4
 * and zstd, as record batch v2 carries them in its attributes' low three
 * bits.  Only the records area of a batch (everything after its 61-byte
 * header) is compressed; the header and its CRC stay as they are, so the
 * CRC vouches for the compressed bytes and scrub and copies never
 * decompress.
 */
#ifndef SAMSA_CODEC_H
#define SAMSA_CODEC_H

#include "util/samsa_int.h"

/* The codec numbers of Kafka's attributes (and of samsa_compression). */
#define CODEC_NONE   0
#define CODEC_GZIP   1
#define CODEC_SNAPPY 2
#define CODEC_LZ4    3
#define CODEC_ZSTD   4
#define CODEC_MAX    4

/* A growable output buffer, owned by whoever holds it (codec_buf_free). */
typedef struct codec_buf {
    uint8_t *data;
    size_t len, cap;
} codec_buf;

void codec_buf_free(codec_buf *b);
/* Room for at least need bytes in b (SAMSA_ECORRUPT past max,
 * SAMSA_ENOMEM); the capacity doubles as it grows. */
int codec_buf_reserve(codec_buf *b, size_t need, size_t max);

/* Decompress len bytes at in, compressed with codec, into out (its data
 * replaced; out->len set).  At most max bytes come out: more is
 * SAMSA_ECORRUPT, as is anything that does not decompress cleanly (a
 * flipped byte the CRC missed cannot become a record).  SAMSA_ENOTSUP for
 * a codec number Kafka does not define, SAMSA_ENOMEM. */
int codec_decompress(int codec, const uint8_t *in, size_t len, size_t max,
                     codec_buf *out);

/* An upper bound of codec_compress()'s output for len bytes. */
size_t codec_bound(int codec, size_t len);

/* Compress len bytes at in with codec at level (0: the codec's default)
 * into out, which has codec_bound(codec, len) bytes; *out_len gets the
 * size.  Written as Kafka's Java producer writes it: gzip with a gzip
 * header, snappy in xerial's framing, lz4 as an LZ4 frame of independent
 * 64 KiB blocks, zstd as one frame. */
int codec_compress(int codec, int level, const uint8_t *in, size_t len,
                   uint8_t *out, size_t *out_len);

/* The level range each codec takes (samsa_topic_config checks). */
bool codec_level_valid(int codec, int level);

#endif
