/*
 * codec.c - gzip, snappy, lz4 and zstd for Kafka's record batches, through
 * zlib, libsnappy, liblz4 and libzstd (codec.h).
 *
 * The formats are Kafka's, not merely each library's: a batch compressed
 * by Kafka's Java producer, librdkafka or kafkajs must read here, and
 * theirs must read what samsa writes.
 *
 *  - gzip: a gzip member (RFC 1952), as java.util.zip.GZIPOutputStream
 *    writes it.  Reading also takes several members back to back, and a
 *    zlib stream, as zlib's automatic header detection does.
 *  - snappy: Kafka's Java client writes xerial's framing (an 8-byte magic
 *    "\x82SNAPPY\0", version and compatible-version words, then blocks,
 *    each a big-endian 32-bit length and a raw snappy block); some
 *    clients write one raw snappy block.  Reading takes both (the magic
 *    decides); writing uses the framing with 32 KiB blocks, as xerial
 *    does, since that is what every Kafka client reads.
 *  - lz4: the LZ4 frame format.  Kafka's reader wants independent blocks
 *    of 64 KiB to 4 MiB and no dictionary; samsa writes 64 KiB blocks,
 *    without content size or checksum, as librdkafka does.
 *  - zstd: one zstd frame; its content size may be absent (streaming
 *    producers), so reading streams into a growing buffer.
 *
 * A decompressed records area is bounded by the caller's max: a small
 * batch that inflates without end (a "bomb", or damage the CRC missed)
 * is SAMSA_ECORRUPT, never an allocation of whatever it claims.
 */
#include "codec.h"

#include <lz4frame.h>
#include <pthread.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

static const uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
#define XERIAL_HEADER 16    /* magic, version, compatible version     */
#define XERIAL_BLOCK  32768 /* uncompressed bytes per block written   */
#define FIRST_GUESS   4     /* start the output at 4 times the input  */
#define FIRST_MIN     4096

void
codec_buf_free(codec_buf *b)
{
    free(b->data);
    *b = (codec_buf){0};
}

int
codec_buf_reserve(codec_buf *b, size_t need, size_t max)
{
    if (need > max)
        return SAMSA_ECORRUPT;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap > FIRST_MIN ? b->cap : FIRST_MIN;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > max)
        cap = max;
    uint8_t *d = realloc(b->data, cap);
    if (d == NULL)
        return SAMSA_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

/* More room in out for a stream that filled it: FIRST_GUESS times the
 * input at first, then twice as much, never past max (full at max is a
 * records area larger than any batch may hold). */
static int
buf_grow(codec_buf *out, size_t in_len, size_t max)
{
    if (out->len >= max)
        return SAMSA_ECORRUPT;
    size_t want = out->cap == 0 ? in_len * FIRST_GUESS : out->cap * 2;
    if (want < FIRST_MIN)
        want = FIRST_MIN;
    return codec_buf_reserve(out, want < max ? want : max, max);
}

/* Room left in out for a stream: within its allocation and within max
 * (a buffer reused from a larger batch may hold more than max). */
static size_t
buf_room(const codec_buf *out, size_t max)
{
    return (out->cap < max ? out->cap : max) - out->len;
}

/* ---- gzip ---------------------------------------------------------------- */

static int
gzip_decompress(const uint8_t *in, size_t len, size_t max, codec_buf *out)
{
    z_stream zs = {0};
    if (inflateInit2(&zs, 15 + 32) != Z_OK) /* gzip or zlib, detected */
        return SAMSA_ENOMEM;
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    int rc = len == 0 || len > UINT_MAX ? SAMSA_ECORRUPT : 0;
    while (rc == 0) {
        if (buf_room(out, max) == 0 && (rc = buf_grow(out, len, max)) != 0)
            break;
        size_t room = buf_room(out, max);
        zs.next_out = out->data + out->len;
        zs.avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
        uInt before = zs.avail_out;
        int z = inflate(&zs, Z_NO_FLUSH);
        out->len += before - zs.avail_out;
        if (z == Z_STREAM_END && zs.avail_in == 0)
            break;
        if (z == Z_STREAM_END) /* another member follows */
            rc = inflateReset(&zs) == Z_OK ? 0 : SAMSA_ECORRUPT;
        else if (z == Z_BUF_ERROR && zs.avail_in == 0)
            rc = SAMSA_ECORRUPT; /* the input ends inside the stream */
        else if (z != Z_OK && z != Z_BUF_ERROR)
            rc = z == Z_MEM_ERROR ? SAMSA_ENOMEM : SAMSA_ECORRUPT;
    }
    inflateEnd(&zs);
    return rc;
}

static int
gzip_compress(int level, const uint8_t *in, size_t len, uint8_t *out,
              size_t *out_len, size_t room)
{
    z_stream zs = {0};
    if (deflateInit2(&zs, level ? level : Z_DEFAULT_COMPRESSION, Z_DEFLATED,
                     15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return SAMSA_ENOMEM;
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)room;
    int z = deflate(&zs, Z_FINISH);
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return z == Z_STREAM_END ? 0 : SAMSA_ENOMEM;
}

/* ---- snappy -------------------------------------------------------------- */

/* Append the raw snappy block at in to out. */
static int
snappy_block(const uint8_t *in, size_t len, size_t max, codec_buf *out)
{
    size_t n;
    if (snappy_uncompressed_length((const char *)in, len, &n) != SNAPPY_OK ||
        n > max - out->len)
        return SAMSA_ECORRUPT;
    if (n == 0) /* nothing to write (out->data may still be NULL) */
        return snappy_validate_compressed_buffer((const char *)in, len) ==
                       SNAPPY_OK
                   ? 0
                   : SAMSA_ECORRUPT;
    int rc = codec_buf_reserve(out, out->len + n, max);
    if (rc != 0)
        return rc;
    size_t got = n;
    if (snappy_uncompress((const char *)in, len, (char *)out->data + out->len,
                          &got) != SNAPPY_OK ||
        got != n)
        return SAMSA_ECORRUPT;
    out->len += n;
    return 0;
}

static int
snappy_decompress(const uint8_t *in, size_t len, size_t max, codec_buf *out)
{
    if (len < XERIAL_HEADER || memcmp(in, xerial_magic, 8) != 0)
        return snappy_block(in, len, max, out);
    size_t pos = XERIAL_HEADER;
    while (pos < len) {
        if (len - pos < 4)
            return SAMSA_ECORRUPT;
        size_t n = samsa__be32_get(in + pos);
        pos += 4;
        if (n > len - pos)
            return SAMSA_ECORRUPT;
        int rc = snappy_block(in + pos, n, max, out);
        if (rc != 0)
            return rc;
        pos += n;
    }
    return 0;
}

static size_t
snappy_bound(size_t len)
{
    size_t blocks = (len + XERIAL_BLOCK - 1) / XERIAL_BLOCK;
    return XERIAL_HEADER +
           blocks * (4 + snappy_max_compressed_length(XERIAL_BLOCK));
}

static int
snappy_compress_framed(const uint8_t *in, size_t len, uint8_t *out,
                       size_t *out_len)
{
    memcpy(out, xerial_magic, 8);
    samsa__be32_put(out + 8, 1);  /* version */
    samsa__be32_put(out + 12, 1); /* compatible version */
    size_t pos = XERIAL_HEADER;
    for (size_t at = 0; at < len; at += XERIAL_BLOCK) {
        size_t n = len - at < XERIAL_BLOCK ? len - at : XERIAL_BLOCK;
        size_t got = snappy_max_compressed_length(n);
        if (snappy_compress((const char *)in + at, n, (char *)out + pos + 4,
                            &got) != SNAPPY_OK)
            return SAMSA_ENOMEM;
        samsa__be32_put(out + pos, (uint32_t)got);
        pos += 4 + got;
    }
    *out_len = pos;
    return 0;
}

/* ---- per-thread decompression contexts ----------------------------------
 * A zstd or lz4 context costs allocations of a hundred KiB or so; a cursor
 * over small compressed batches would make and free one per batch.  Each
 * thread keeps one of each (freed when the thread exits). */

#define ZSTD_WINDOW_LOG_MAX 24 /* 16 MiB: refuse frames wanting more memory */

static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

typedef struct thread_ctx {
    ZSTD_DCtx *zstd;
    LZ4F_dctx *lz4;
} thread_ctx;

static void
thread_ctx_free(void *p)
{
    thread_ctx *t = p;
    ZSTD_freeDCtx(t->zstd);
    if (t->lz4 != NULL)
        LZ4F_freeDecompressionContext(t->lz4);
    free(t);
}

static void
ctx_key_make(void)
{
    (void)pthread_key_create(&ctx_key, thread_ctx_free);
}

/* This thread's contexts (made on first use), or NULL when out of memory. */
static thread_ctx *
thread_ctx_get(void)
{
    pthread_once(&ctx_once, ctx_key_make);
    thread_ctx *t = pthread_getspecific(ctx_key);
    if (t == NULL && (t = calloc(1, sizeof *t)) != NULL &&
        pthread_setspecific(ctx_key, t) != 0) {
        free(t);
        t = NULL;
    }
    return t;
}

/* ---- lz4 ----------------------------------------------------------------- */

static int
lz4_decompress(const uint8_t *in, size_t len, size_t max, codec_buf *out)
{
    thread_ctx *t = thread_ctx_get();
    if (t != NULL && t->lz4 == NULL &&
        LZ4F_isError(LZ4F_createDecompressionContext(&t->lz4, LZ4F_VERSION)))
        t->lz4 = NULL;
    if (t == NULL || t->lz4 == NULL)
        return SAMSA_ENOMEM;
    LZ4F_dctx *dctx = t->lz4;
    LZ4F_resetDecompressionContext(dctx); /* a failed frame's state */
    size_t pos = 0, hint = 1;
    int rc = 0;
    while (rc == 0 && hint != 0) {
        if (buf_room(out, max) == 0 && (rc = buf_grow(out, len, max)) != 0)
            break;
        size_t dst = buf_room(out, max), src = len - pos;
        hint = LZ4F_decompress(dctx, out->data + out->len, &dst, in + pos, &src,
                               NULL);
        out->len += dst;
        pos += src;
        if (LZ4F_isError(hint) ||
            (hint != 0 && pos == len && dst == 0 && src == 0))
            rc = SAMSA_ECORRUPT; /* bad, or the input ends inside a frame */
    }
    if (rc == 0 && pos != len)
        rc = SAMSA_ECORRUPT; /* bytes after the frame */
    return rc;
}

static LZ4F_preferences_t
lz4_prefs(int level)
{
    LZ4F_preferences_t p;
    memset(&p, 0, sizeof p);
    p.frameInfo.blockSizeID = LZ4F_max64KB;
    p.frameInfo.blockMode = LZ4F_blockIndependent;
    p.compressionLevel = level;
    return p;
}

/* ---- zstd ---------------------------------------------------------------- */

static int
zstd_decompress(const uint8_t *in, size_t len, size_t max, codec_buf *out)
{
    thread_ctx *t = thread_ctx_get();
    if (t != NULL && t->zstd == NULL && (t->zstd = ZSTD_createDCtx()) != NULL)
        ZSTD_DCtx_setParameter(t->zstd, ZSTD_d_windowLogMax,
                               ZSTD_WINDOW_LOG_MAX);
    if (t == NULL || t->zstd == NULL)
        return SAMSA_ENOMEM;
    ZSTD_DCtx *d = t->zstd;
    ZSTD_DCtx_reset(d, ZSTD_reset_session_only); /* a failed frame's state */
    ZSTD_inBuffer src = {in, len, 0};
    size_t left = 1;
    int rc = 0;
    while (rc == 0 && (left != 0 || src.pos < src.size)) {
        if (buf_room(out, max) == 0 && (rc = buf_grow(out, len, max)) != 0)
            break;
        ZSTD_outBuffer dst = {out->data, out->len + buf_room(out, max),
                              out->len};
        size_t before = src.pos;
        left = ZSTD_decompressStream(d, &dst, &src);
        out->len = dst.pos;
        if (ZSTD_isError(left) ||
            (left != 0 && src.pos == before && dst.pos < dst.size))
            rc = SAMSA_ECORRUPT; /* bad, or the input ends in a frame */
    }
    return rc;
}

/* ---- the codec table ----------------------------------------------------- */

int
codec_decompress(int codec, const uint8_t *in, size_t len, size_t max,
                 codec_buf *out)
{
    out->len = 0;
    switch (codec) {
    case CODEC_GZIP:
        return gzip_decompress(in, len, max, out);
    case CODEC_SNAPPY:
        return snappy_decompress(in, len, max, out);
    case CODEC_LZ4:
        return lz4_decompress(in, len, max, out);
    case CODEC_ZSTD:
        return zstd_decompress(in, len, max, out);
    }
    return SAMSA_ENOTSUP;
}

size_t
codec_bound(int codec, size_t len)
{
    switch (codec) {
    case CODEC_GZIP:
        return compressBound((uLong)len) + 32; /* + gzip header, trailer */
    case CODEC_SNAPPY:
        return snappy_bound(len);
    case CODEC_LZ4: {
        LZ4F_preferences_t p = lz4_prefs(0);
        return LZ4F_compressFrameBound(len, &p);
    }
    case CODEC_ZSTD:
        return ZSTD_compressBound(len);
    }
    return len;
}

int
codec_compress(int codec, int level, const uint8_t *in, size_t len,
               uint8_t *out, size_t *out_len)
{
    size_t room = codec_bound(codec, len);
    switch (codec) {
    case CODEC_GZIP:
        return gzip_compress(level, in, len, out, out_len, room);
    case CODEC_SNAPPY:
        return snappy_compress_framed(in, len, out, out_len);
    case CODEC_LZ4: {
        LZ4F_preferences_t p = lz4_prefs(level);
        size_t n = LZ4F_compressFrame(out, room, in, len, &p);
        if (LZ4F_isError(n))
            return SAMSA_ENOMEM;
        *out_len = n;
        return 0;
    }
    case CODEC_ZSTD: {
        size_t n = ZSTD_compress(out, room, in, len, level ? level : 3);
        if (ZSTD_isError(n))
            return SAMSA_ENOMEM;
        *out_len = n;
        return 0;
    }
    }
    return SAMSA_ENOTSUP;
}

bool
codec_level_valid(int codec, int level)
{
    if (level == 0)
        return true;
    switch (codec) {
    case CODEC_GZIP:
        return level >= 1 && level <= 9;
    case CODEC_LZ4:
        return level >= 1 && level <= 12;
    case CODEC_ZSTD:
        return level >= 1 && level <= ZSTD_maxCLevel();
    }
    return false; /* none and snappy take no level */
}
