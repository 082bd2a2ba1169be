/*
 * kwire.c - Kafka's wire primitives (see kwire.h).
 */
#include "kwire.h"

#include <stdlib.h>
#include <string.h>

void
kread_init(kread *r, const void *p, size_t len)
{
    r->p = p;
    r->end = r->p + len;
    r->bad = false;
}

/* The next n bytes, or NULL (and bad) when fewer are left. */
static const uint8_t *
take(kread *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *q = r->p;
    r->p += n;
    return q;
}

static uint64_t
be(const uint8_t *q, int n)
{
    uint64_t v = 0;
    for (int i = 0; q != NULL && i < n; i++)
        v = v << 8 | q[i];
    return v;
}

int8_t
kread_i8(kread *r)
{
    return (int8_t)be(take(r, 1), 1);
}

int16_t
kread_i16(kread *r)
{
    return (int16_t)be(take(r, 2), 2);
}

int32_t
kread_i32(kread *r)
{
    return (int32_t)be(take(r, 4), 4);
}

int64_t
kread_i64(kread *r)
{
    return (int64_t)be(take(r, 8), 8);
}

uint64_t
kread_uvarint(kread *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        const uint8_t *q = take(r, 1);
        if (q == NULL)
            return 0;
        v |= (uint64_t)(*q & 0x7f) << shift;
        if (!(*q & 0x80))
            return v;
    }
    r->bad = true; /* more than ten bytes: no varint */
    return 0;
}

/* A length read as int16/int32 (-1 null) or flex uvarint (0 null). */
static kstr
sized(kread *r, int64_t len)
{
    kstr s = {NULL, 0};
    if (len < -1)
        r->bad = true;
    if (r->bad || len == -1)
        return s;
    const uint8_t *q = take(r, (size_t)len);
    if (q != NULL) {
        s.p = (const char *)q;
        s.len = (size_t)len;
    }
    return s;
}

kstr
kread_str(kread *r, bool flex)
{
    return sized(r, flex ? (int64_t)kread_uvarint(r) - 1 : kread_i16(r));
}

kstr
kread_bytes(kread *r, bool flex)
{
    if (flex) {
        uint64_t n = kread_uvarint(r);
        if (n > INT32_MAX)
            r->bad = true;
        return sized(r, r->bad ? 0 : (int64_t)n - 1);
    }
    return sized(r, kread_i32(r));
}

int32_t
kread_array(kread *r, bool flex, size_t min_size)
{
    int64_t n = flex ? (int64_t)kread_uvarint(r) - 1 : kread_i32(r);
    if (r->bad)
        return 0;
    if (n < -1 || (n > 0 && (size_t)n > (size_t)(r->end - r->p) /
                                            (min_size ? min_size : 1))) {
        r->bad = true;
        return 0;
    }
    return (int32_t)n;
}

void
kread_tags(kread *r, bool flex)
{
    if (!flex)
        return;
    uint64_t n = kread_uvarint(r);
    for (uint64_t i = 0; i < n && !r->bad; i++) {
        (void)kread_uvarint(r); /* tag */
        uint64_t len = kread_uvarint(r);
        if (len > (uint64_t)(r->end - r->p))
            r->bad = true;
        else
            r->p += len;
    }
}

char *
kstr_dup(kstr s)
{
    if (s.p == NULL || memchr(s.p, '\0', s.len) != NULL)
        return NULL;
    char *z = malloc(s.len + 1);
    if (z != NULL) {
        memcpy(z, s.p, s.len);
        z[s.len] = '\0';
    }
    return z;
}

bool
kstr_eq(kstr s, const char *z)
{
    return s.p != NULL && strlen(z) == s.len && memcmp(s.p, z, s.len) == 0;
}

/* Order of two strings (null first, then by length, then bytes): any
 * total order will do. */
static int
kstr_cmp(const void *a, const void *b)
{
    const kstr *x = *(const kstr *const *)a, *y = *(const kstr *const *)b;
    if ((x->p == NULL) != (y->p == NULL))
        return x->p == NULL ? -1 : 1;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->len ? memcmp(x->p, y->p, x->len) : 0;
}

int32_t
kstr_repeats(kstr *s, int32_t n)
{
    if (n < 2)
        return n < 0 ? 0 : n;
    kstr **by = malloc((size_t)n * sizeof *by);
    if (by == NULL)
        return -1;
    for (int32_t i = 0; i < n; i++)
        by[i] = &s[i];
    qsort(by, (size_t)n, sizeof *by, kstr_cmp);
    /* Of each run of equals, the first in s stays: the lowest address. */
    int32_t once = 0;
    for (int32_t i = 0, j; i < n; i = j) {
        kstr *keep = by[i];
        for (j = i + 1; j < n && kstr_cmp(&by[i], &by[j]) == 0; j++)
            if (by[j] < keep)
                keep = by[j];
        for (int32_t k = i; k < j; k++)
            if (by[k] != keep)
                by[k]->len = KSTR_REPEAT;
        once++;
    }
    free(by);
    return once;
}

/* ---- writing ----------------------------------------------------------- */

void
kwrite_free(kwrite *w)
{
    for (size_t i = 0; i < w->nsp; i++)
        w->sp[i].release(w->sp[i].ctx);
    free(w->sp);
    free(w->buf);
    memset(w, 0, sizeof *w);
}

size_t
kwrite_total(const kwrite *w)
{
    return w->len + w->spliced;
}

void
kwrite_splice(kwrite *w, const void *p, size_t len, void (*release)(void *ctx),
              void *ctx)
{
    ksplice *last = w->nsp > 0 ? &w->sp[w->nsp - 1] : NULL;
    if (!w->bad && last != NULL && last->at == w->len && last->ctx == ctx &&
        last->p + last->len == (const uint8_t *)p) {
        last->len += len; /* contiguous in the same mapping: one splice */
        w->spliced += len;
        release(ctx);
        return;
    }
    if (w->bad || w->nsp == w->sp_cap) {
        size_t cap = w->sp_cap ? w->sp_cap * 2 : 8;
        ksplice *sp = w->bad ? NULL : realloc(w->sp, cap * sizeof *sp);
        if (sp == NULL) {
            w->bad = true;
            release(ctx);
            return;
        }
        w->sp = sp;
        w->sp_cap = cap;
    }
    w->sp[w->nsp++] = (ksplice){w->len, p, len, release, ctx};
    w->spliced += len;
}

void
kwrite_take(kwrite *dst, kwrite *src)
{
    size_t base = dst->len;
    kwrite_raw(dst, src->buf, src->len);
    for (size_t i = 0; i < src->nsp; i++) {
        ksplice *q = &src->sp[i];
        if (dst->bad) {
            q->release(q->ctx);
            continue;
        }
        /* Room first, then the splice at its place in dst. */
        size_t len = dst->len;
        dst->len = base + q->at;
        kwrite_splice(dst, q->p, q->len, q->release, q->ctx);
        dst->len = len;
    }
    src->nsp = 0;
    src->spliced = 0;
}

/* Room for n more bytes, or NULL (and bad). */
static uint8_t *
room(kwrite *w, size_t n)
{
    if (w->bad)
        return NULL;
    if (w->cap - w->len < n) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap - w->len < n)
            cap *= 2;
        uint8_t *b = realloc(w->buf, cap);
        if (b == NULL) {
            w->bad = true;
            return NULL;
        }
        w->buf = b;
        w->cap = cap;
    }
    uint8_t *q = w->buf + w->len;
    w->len += n;
    return q;
}

static void
put_be(kwrite *w, uint64_t v, int n)
{
    uint8_t *q = room(w, (size_t)n);
    for (int i = n - 1; q != NULL && i >= 0; i--, v >>= 8)
        q[i] = (uint8_t)v;
}

void
kwrite_i8(kwrite *w, int8_t v)
{
    put_be(w, (uint8_t)v, 1);
}

void
kwrite_i16(kwrite *w, int16_t v)
{
    put_be(w, (uint16_t)v, 2);
}

void
kwrite_i32(kwrite *w, int32_t v)
{
    put_be(w, (uint32_t)v, 4);
}

void
kwrite_i64(kwrite *w, int64_t v)
{
    put_be(w, (uint64_t)v, 8);
}

void
kwrite_uvarint(kwrite *w, uint64_t v)
{
    do {
        uint8_t b = (uint8_t)(v & 0x7f);
        v >>= 7;
        kwrite_raw(w, &(uint8_t){(uint8_t)(b | (v ? 0x80 : 0))}, 1);
    } while (v != 0);
}

void
kwrite_raw(kwrite *w, const void *p, size_t len)
{
    uint8_t *q = room(w, len);
    if (q != NULL && len > 0)
        memcpy(q, p, len);
}

void
kwrite_str(kwrite *w, bool flex, const char *p, size_t len)
{
    if (p == NULL) {
        if (flex)
            kwrite_uvarint(w, 0);
        else
            kwrite_i16(w, -1);
        return;
    }
    if (flex)
        kwrite_uvarint(w, len + 1);
    else
        kwrite_i16(w, (int16_t)len);
    kwrite_raw(w, p, len);
}

void
kwrite_strz(kwrite *w, bool flex, const char *z)
{
    kwrite_str(w, flex, z, z != NULL ? strlen(z) : 0);
}

void
kwrite_bytes_len(kwrite *w, bool flex, int64_t len)
{
    if (flex)
        kwrite_uvarint(w, (uint64_t)(len + 1));
    else
        kwrite_i32(w, (int32_t)len);
}

void
kwrite_array(kwrite *w, bool flex, int32_t n)
{
    if (flex)
        kwrite_uvarint(w, (uint64_t)((int64_t)n + 1));
    else
        kwrite_i32(w, n);
}

void
kwrite_tags(kwrite *w, bool flex)
{
    if (flex)
        kwrite_uvarint(w, 0);
}

size_t
kwrite_reserve32(kwrite *w)
{
    size_t at = w->len;
    put_be(w, 0, 4);
    return at;
}

void
kwrite_patch32(kwrite *w, size_t at, int32_t v)
{
    if (w->bad)
        return;
    for (int i = 3; i >= 0; i--, v = (int32_t)((uint32_t)v >> 8))
        w->buf[at + (size_t)i] = (uint8_t)v;
}
