/*
 * check_crc32c.c - CRC-32C: published vectors, continuation, and the
 * hardware code against the portable code.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test.h"

typedef uint32_t crc_fn(uint32_t crc, const void *buf, size_t len);

/* The implementations under test: the portable one always, the SSE4.2 one
 * when this CPU has it, and the dispatcher the library calls. */
static const struct impl {
    const char *name;
    crc_fn *fn;
    bool hw;
} impls[] = {
    {"sw", samsa__crc32c_sw, false},
    {"hw", samsa__crc32c_hw, true},
    {"dispatch", samsa__crc32c, false},
};
#define NIMPLS (sizeof impls / sizeof impls[0])

static bool
impl_usable(const struct impl *im)
{
    static bool said;

    if (!im->hw || samsa__crc32c_hw_available())
        return true;
    if (!said) {
        fprintf(stderr, "note: no hardware CRC-32C (SSE4.2) here; only "
                        "the portable code is tested\n");
        said = true;
    }
    return false;
}

/* xorshift64: fixed seed, so a failure repeats. */
static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void
rnd_fill(uint64_t *s, unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(rnd(s) >> 56);
}

START_TEST(test_check_value)
{
    const struct impl *im = &impls[_i];

    if (!impl_usable(im))
        return;
    /* The catalogued "check" value of CRC-32C, and Kafka's own
     * Crc32CTest.testValue. */
    ck_assert_msg(im->fn(0, "123456789", 9) == 0xe3069283u, "%s", im->name);
    ck_assert_msg(im->fn(0, "Some String", 11) == 608512271u, "%s", im->name);
    ck_assert_msg(im->fn(0, "", 0) == 0, "%s", im->name);
    ck_assert_msg(im->fn(0, NULL, 0) == 0, "%s", im->name);
    /* Nothing to add leaves any running value alone. */
    ck_assert_msg(im->fn(0xdeadbeef, "", 0) == 0xdeadbeef, "%s", im->name);
}
END_TEST

/* RFC 3720 (iSCSI), appendix B.4. */
START_TEST(test_rfc3720)
{
    const struct impl *im = &impls[_i];
    unsigned char buf[32];

    if (!impl_usable(im))
        return;
    memset(buf, 0x00, sizeof buf);
    ck_assert_uint_eq(im->fn(0, buf, 32), 0x8a9136aau);
    memset(buf, 0xff, sizeof buf);
    ck_assert_uint_eq(im->fn(0, buf, 32), 0x62a8ab43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)i;
    ck_assert_uint_eq(im->fn(0, buf, 32), 0x46dd794eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)(31 - i);
    ck_assert_uint_eq(im->fn(0, buf, 32), 0x113fdb5cu);
}
END_TEST

START_TEST(test_kafka_batch)
{
    const struct impl *im = &impls[_i];
    const unsigned char *p = test_sarama_batch;
    uint32_t want = (uint32_t)p[17] << 24 | (uint32_t)p[18] << 16 |
                    (uint32_t)p[19] << 8 | p[20];

    if (!impl_usable(im))
        return;
    ck_assert_uint_eq(sizeof test_sarama_batch, 12 + 70);
    ck_assert_uint_eq(im->fn(0, p + 21, sizeof test_sarama_batch - 21), want);
}
END_TEST

/* Any split point gives the one-shot value.  The buffer is long enough to
 * reach the three-stream paths of the hardware code on both sides of a
 * split. */
START_TEST(test_continuation)
{
    const struct impl *im = &impls[_i];
    enum { N = 3 * 4096 + 3 * 256 + 77 };
    unsigned char *buf = malloc(N);
    uint64_t s = 0x9e3779b97f4a7c15u;

    if (!impl_usable(im)) {
        free(buf);
        return;
    }
    ck_assert_ptr_nonnull(buf);
    rnd_fill(&s, buf, N);
    uint32_t whole = im->fn(0, buf, N);
    ck_assert_uint_eq(whole, samsa__crc32c_sw(0, buf, N));
    for (size_t i = 0; i <= N; i++) {
        uint32_t c = im->fn(0, buf, i);
        ck_assert_msg(im->fn(c, buf + i, N - i) == whole, "%s: split at %zu",
                      im->name, i);
    }
    /* Three pieces, the middle one of every length up to 1 KiB. */
    for (size_t n = 0; n <= 1024; n++) {
        uint32_t c = im->fn(0, buf, 5);
        c = im->fn(c, buf + 5, n);
        c = im->fn(c, buf + 5 + n, N - 5 - n);
        ck_assert_msg(c == whole, "%s: middle %zu", im->name, n);
    }
    free(buf);
}
END_TEST

/* Hardware against portable: every length to 4 KiB at every alignment, then
 * lengths around the block sizes of the three-stream code. */
START_TEST(test_hw_matches_sw)
{
    enum { MAXLEN = 4096, MAXOFF = 16, BIG = 64 * 1024 + 64 };
    unsigned char *buf = malloc(BIG);
    uint64_t s = 12345;

    ck_assert_ptr_nonnull(buf);
    if (!samsa__crc32c_hw_available()) {
        fprintf(stderr, "note: no hardware CRC-32C (SSE4.2) here; "
                        "hw == sw not tested\n");
        free(buf);
        return;
    }
    rnd_fill(&s, buf, BIG);
    for (size_t off = 0; off < MAXOFF; off++)
        for (size_t len = 0; len <= MAXLEN; len++) {
            uint32_t seed = (uint32_t)rnd(&s);
            uint32_t sw = samsa__crc32c_sw(seed, buf + off, len);
            uint32_t hw = samsa__crc32c_hw(seed, buf + off, len);
            ck_assert_msg(hw == sw, "len %zu off %zu: hw %08x sw %08x", len,
                          off, hw, sw);
        }
    static const size_t lens[] = {
        3 * 256 - 1,        3 * 256,          3 * 256 + 1,
        3 * 4096 - 1,       3 * 4096,         3 * 4096 + 1,
        3 * 4096 + 3 * 256, 2 * 3 * 4096 + 7, 64 * 1024,
    };
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (size_t off = 0; off < MAXOFF; off++) {
            size_t len = lens[i];
            ck_assert_uint_le(off + len, BIG);
            ck_assert_msg(samsa__crc32c_hw(0, buf + off, len) ==
                              samsa__crc32c_sw(0, buf + off, len),
                          "len %zu off %zu", len, off);
        }
    free(buf);
}
END_TEST

/* The dispatcher picks the hardware exactly when it is there; either way it
 * agrees with the portable code. */
START_TEST(test_dispatch)
{
    unsigned char buf[1000];
    uint64_t s = 7;

    rnd_fill(&s, buf, sizeof buf);
    ck_assert_uint_eq(samsa__crc32c(0, buf, sizeof buf),
                      samsa__crc32c_sw(0, buf, sizeof buf));
#if !defined(__x86_64__)
    ck_assert(!samsa__crc32c_hw_available());
#endif
    /* _hw must answer right even where there is no hardware. */
    ck_assert_uint_eq(samsa__crc32c_hw(0, "123456789", 9), 0xe3069283u);
}
END_TEST

/* samsa__crc32c_prefetch() is a hint, as a cursor gives it a guessed
 * length: over a range running into a page that may not be read and past
 * the mapping's end it neither faults nor changes the CRC of the bytes
 * before (every length on the way, short, streamed and long). */
START_TEST(test_prefetch_is_a_hint)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t len = 4 * (size_t)page;
    unsigned char *m =
        mmap(NULL, len + 2 * (size_t)page, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    uint64_t seed = 11;
    rnd_fill(&seed, m, len);
    ck_assert_int_eq(mprotect(m + len, (size_t)page, PROT_NONE), 0);
    ck_assert_int_eq(munmap(m + len + page, (size_t)page), 0);
    uint32_t want = samsa__crc32c_sw(0, m, len);
    for (size_t off = 0; off < len; off += 509)
        samsa__crc32c_prefetch(m + off, 40 * (size_t)page);
    samsa__crc32c_prefetch(m, 0);
    ck_assert_uint_eq(samsa__crc32c(0, m, len), want);
    ck_assert_int_eq(munmap(m, len + (size_t)page), 0);
}
END_TEST

Suite *
crc32c_suite(void)
{
    Suite *s = suite_create("crc32c");
    TCase *tc = tcase_create("crc32c");

    tcase_add_loop_test(tc, test_check_value, 0, NIMPLS);
    tcase_add_loop_test(tc, test_rfc3720, 0, NIMPLS);
    tcase_add_loop_test(tc, test_kafka_batch, 0, NIMPLS);
    tcase_add_loop_test(tc, test_continuation, 0, NIMPLS);
    tcase_add_test(tc, test_hw_matches_sw);
    tcase_add_test(tc, test_dispatch);
    tcase_add_test(tc, test_prefetch_is_a_hint);
    suite_add_tcase(s, tc);
    return s;
}
