/*
 * kwire.h - Kafka's wire primitives, read with bounds and written into a
 * growable buffer (kwire.c).
 *
 * Reading.  A kread walks one request's bytes.  Every getter checks what
 * is left first; the first read past the end (or a length no request can
 * have) sets `bad` and every later getter returns zeros, so a decoder reads
 * a whole structure and checks `bad` once at the end: a short or hostile
 * request can never make it read outside the frame.  Strings and byte
 * strings point into the frame (not NUL-terminated); kread_str_dup copies.
 *
 * Writing.  A kwrite appends big-endian fields; a failed allocation sets
 * `bad` (the connection then closes).  kwrite_reserve32 leaves room for a
 * length or count known only later, filled by kwrite_patch32.
 *
 * Flexible versions (KIP-482) use unsigned varints for lengths (N+1, 0
 * for null) and end each structure with tagged fields; the `flex`
 * argument picks the encoding, so one decoder serves both.
 */
#ifndef SAMSA_KWIRE_H
#define SAMSA_KWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kread {
    const uint8_t *p;   /* next byte                    */
    const uint8_t *end; /* end of the frame             */
    bool bad;           /* a read ran past end          */
} kread;

typedef struct kstr {
    const char *p; /* NULL: a null string             */
    size_t len;
} kstr;

void kread_init(kread *r, const void *p, size_t len);
int8_t kread_i8(kread *r);
int16_t kread_i16(kread *r);
int32_t kread_i32(kread *r);
int64_t kread_i64(kread *r);
uint64_t kread_uvarint(kread *r);
/* A string (int16 length, -1 null; flex: uvarint length+1, 0 null). */
kstr kread_str(kread *r, bool flex);
/* Bytes (int32 length, -1 null; flex: uvarint length+1). */
kstr kread_bytes(kread *r, bool flex);
/* An array's element count: -1 for null; flex: uvarint count+1.  A count
 * larger than the bytes left could hold (min_size bytes per element) is
 * bad: a hostile count never drives an allocation. */
int32_t kread_array(kread *r, bool flex, size_t min_size);
/* Skip a structure's tagged fields (flex only; nothing otherwise). */
void kread_tags(kread *r, bool flex);
/* s as a NUL-terminated copy (malloc); NULL for null, for a string with
 * a NUL in it (no name has one), or no memory. */
char *kstr_dup(kstr s);
/* Mark the repeats among the n strings at s: each string after the first
 * equal to it gets len KSTR_REPEAT (which no string has), in n log n.  A
 * request naming one thing many times is answered once per thing (a
 * reply per name could cost far more than the name).  Returns the
 * strings left (distinct), -1 for no memory. */
#define KSTR_REPEAT SIZE_MAX
int32_t kstr_repeats(kstr *s, int32_t n);
/* s equals the NUL-terminated z. */
bool kstr_eq(kstr s, const char *z);

/* Bytes sent from where they are (zero-copy), between buf[at - 1] and
 * buf[at]: release(ctx) is called once when the writer lets go of them
 * (sent, or dropped with the kwrite). */
typedef struct ksplice {
    size_t at;
    const uint8_t *p;
    size_t len;
    void (*release)(void *ctx);
    void *ctx;
} ksplice;

typedef struct kwrite {
    uint8_t *buf;
    size_t len, cap;
    ksplice *sp; /* splices, by at                      */
    size_t nsp, sp_cap;
    size_t spliced; /* their bytes: the whole is len + this */
    bool bad;       /* an allocation failed                 */
} kwrite;

/* Release every splice and free the buffer. */
void kwrite_free(kwrite *w);
/* The bytes written so far, spliced ones included. */
size_t kwrite_total(const kwrite *w);
/* Splice len bytes at p here (kwrite.h: ksplice); bytes right after the
 * last splice from the same ctx extend it, and are released with it (the
 * caller's release is called at once for them).  On no memory the
 * release is called at once and bad set. */
void kwrite_splice(kwrite *w, const void *p, size_t len,
                   void (*release)(void *ctx), void *ctx);
/* Append src (bytes and splices) to dst; src's splices are dst's now. */
void kwrite_take(kwrite *dst, kwrite *src);
void kwrite_i8(kwrite *w, int8_t v);
void kwrite_i16(kwrite *w, int16_t v);
void kwrite_i32(kwrite *w, int32_t v);
void kwrite_i64(kwrite *w, int64_t v);
void kwrite_uvarint(kwrite *w, uint64_t v);
void kwrite_raw(kwrite *w, const void *p, size_t len);
void kwrite_str(kwrite *w, bool flex, const char *p, size_t len);
void kwrite_strz(kwrite *w, bool flex, const char *z);    /* NULL: null */
void kwrite_bytes_len(kwrite *w, bool flex, int64_t len); /* -1: null */
void kwrite_array(kwrite *w, bool flex, int32_t n);       /* -1: null */
void kwrite_tags(kwrite *w, bool flex);                   /* no tagged fields */
size_t kwrite_reserve32(kwrite *w);
void kwrite_patch32(kwrite *w, size_t at, int32_t v);

#endif
