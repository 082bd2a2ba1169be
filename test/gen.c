/*
 * gen.c - records as a pure function of their offset, and the checks and
 * file helpers built on them, shared by check_recovery.c and check_faults.c
 * (declared in test.h).
 *
 * test_gen(i) makes every shape a record can take: no key, an empty key
 * (which is not "no key") and a plain one; a null value (tombstone), an
 * empty one, short ones and a long one; no header, one, or two (one with a
 * null value); and an explicit timestamp that mostly rises but goes back
 * every fourth record, so that time lookups cannot assume order.  Whatever
 * a cursor returns can then be checked in full, wherever it was read.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test.h"

int64_t
test_gen_ts(int64_t i)
{
    return TEST_TS0 + i * 10 - (i % 4 == 3 ? 25 : 0);
}

void
test_gen(test_grec *g, int64_t i)
{
    memset(g, 0, sizeof *g);
    samsa_record *r = &g->r;
    if (i % 7 == 0) {
        r->key = NULL; /* no key */
    } else if (i % 11 == 0) {
        r->key = g->key; /* an empty key, which is not "no key" */
    } else {
        r->key_len =
            (size_t)snprintf(g->key, sizeof g->key, "key-%lld", (long long)i);
        r->key = g->key;
    }
    if (i % 5 != 3) { /* else a null value (tombstone) */
        size_t len = i % 13 == 0   ? 0
                     : i % 17 == 0 ? 300
                                   : 1 + (size_t)(i * 37 % 90);
        for (size_t j = 0; j < len; j++)
            g->val[j] = (uint8_t)(i * 131 + (int64_t)j * 7 + 1);
        r->value = g->val;
        r->value_len = len;
    }
    snprintf(g->hv, sizeof g->hv, "hv-%lld", (long long)i);
    if (i % 3 == 1) {
        g->h[0] = (samsa_header){
            .key = "h1", .value = g->hv, .value_len = strlen(g->hv)};
        r->header_count = 1;
    } else if (i % 3 == 2) {
        g->h[0] = (samsa_header){.key = "a"};
        g->h[1] = (samsa_header){.key = "bb", .value = g->hv, .value_len = 3};
        r->header_count = 2;
    }
    r->headers = r->header_count > 0 ? g->h : NULL;
    r->timestamp = test_gen_ts(i);
}

/* Equal bytes, and null only where the other is null too. */
static bool
bytes_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    if ((a == NULL) != (b == NULL) || alen != blen)
        return false;
    return alen == 0 || memcmp(a, b, alen) == 0;
}

const char *
test_gen_mismatch(const samsa_message *m, int64_t i)
{
    test_grec g;
    test_gen(&g, i);
    const samsa_record *r = &g.r;
    if (m->offset != i)
        return "offset";
    if (m->timestamp != r->timestamp)
        return "timestamp";
    if (!bytes_eq(m->key, m->key_len, r->key, r->key_len))
        return "key";
    if (!bytes_eq(m->value, m->value_len, r->value, r->value_len))
        return "value";
    if (m->header_count != r->header_count)
        return "header count";
    for (size_t k = 0; k < r->header_count; k++) {
        const char *hk;
        const void *hv;
        size_t hkl, hvl;
        if (samsa_message_header(m, k, &hk, &hkl, &hv, &hvl) != 0)
            return "header decode";
        if (!bytes_eq(hk, hkl, r->headers[k].key, strlen(r->headers[k].key)))
            return "header key";
        if (!bytes_eq(hv, hvl, r->headers[k].value, r->headers[k].value_len))
            return "header value";
    }
    return NULL;
}

/* Produce records first..first+n-1 (n <= TEST_GEN_MAXB) in one call, its
 * code into *rc; true when each record came back as test_produce_gen_try()
 * says, else false with what differs in why.  Asserts nothing: forked
 * children call it too (test_produce_gen_child()). */
static bool
produce_gen(samsa *s, const char *topic, int32_t p, int64_t first, size_t n,
            int *rc, char *why, size_t cap)
{
    test_grec g[TEST_GEN_MAXB];
    samsa_record recs[TEST_GEN_MAXB];
    for (size_t j = 0; j < n; j++) {
        test_gen(&g[j], first + (int64_t)j);
        recs[j] = g[j].r;
    }
    *rc = samsa_produce(s, topic, p, recs, n);
    for (size_t j = 0; j < n; j++) {
        int64_t o = first + (int64_t)j, got, want;
        const char *what;
        if (recs[j].offset != (*rc == 0 ? o : -1))
            what = "offset", got = recs[j].offset, want = *rc == 0 ? o : -1;
        else if (*rc == 0 && recs[j].partition != p)
            what = "partition", got = recs[j].partition, want = p;
        else if (*rc == 0 && recs[j].timestamp != test_gen_ts(o))
            what = "timestamp", got = recs[j].timestamp, want = test_gen_ts(o);
        else
            continue;
        snprintf(why, cap, "record %zu's %s %lld, want %lld", j, what,
                 (long long)got, (long long)want);
        return false;
    }
    return true;
}

int
test_produce_gen_try(samsa *s, const char *topic, int32_t p, int64_t first,
                     size_t n)
{
    TEST_NOT_IN_CHILD(__func__);
    ck_assert_uint_le(n, TEST_GEN_MAXB);
    char why[96];
    int rc;
    bool ok = produce_gen(s, topic, p, first, n, &rc, why, sizeof why);
    ck_assert_msg(ok, "produce %s-%d at %lld (%s): %s", topic, p,
                  (long long)first, samsa_strerror(rc), why);
    return rc;
}

int
test_produce_gen_child(samsa *s, const char *topic, int32_t p, int64_t first,
                       size_t n)
{
    char why[96] = "";
    int rc = SAMSA_EINVAL;
    bool ok = n <= TEST_GEN_MAXB &&
              produce_gen(s, topic, p, first, n, &rc, why, sizeof why);
    if (ok && rc == 0)
        return 0;
    fprintf(stderr, "produce %s-%d at %lld in a child: %s %s\n", topic, p,
            (long long)first, samsa_strerror(rc), why);
    return rc != 0 ? rc : SAMSA_EINVAL;
}

void
test_produce_gen_rc(samsa *s, const char *topic, int32_t p, int64_t first,
                    size_t n, int want)
{
    int rc = test_produce_gen_try(s, topic, p, first, n);
    ck_assert_msg(rc == want, "produce %s-%d at %lld: got %s, want %s", topic,
                  p, (long long)first, samsa_strerror(rc),
                  samsa_strerror(want));
}

void
test_produce_gen(samsa *s, const char *topic, int32_t p, int64_t first,
                 size_t n)
{
    test_produce_gen_rc(s, topic, p, first, n, 0);
}

void
test_produce_next(samsa *s, const char *topic, int32_t p, int64_t *next,
                  size_t n)
{
    test_produce_gen(s, topic, p, *next, n);
    *next += (int64_t)n;
}

/* Batch sizes cycle through this pattern. */
static const size_t batch_pattern[] = {1, 3, 2, 5, 1, 1, 4, 8, 2, 1, 6};
#define NPATTERN (sizeof batch_pattern / sizeof batch_pattern[0])

void
test_produce_upto(samsa *s, const char *topic, int32_t p, int64_t *next,
                  int64_t upto, size_t k)
{
    while (*next < upto)
        test_produce_next(s, topic, p, next, batch_pattern[k++ % NPATTERN]);
}

void
test_read_range(samsa *s, const char *topic, int32_t p, int64_t from,
                int64_t to)
{
    TEST_NOT_IN_CHILD(__func__);
    samsa_cursor *c;
    samsa_message m;
    E(samsa_cursor_open(s, topic, p, from, &c));
    for (int64_t o = from; o < to; o++) {
        int rc = samsa_cursor_next(c, &m, 0);
        ck_assert_msg(rc == 0, "%s-%d next at %lld: %s", topic, p, (long long)o,
                      samsa_strerror(rc));
        TEST_CHECK_GEN(&m, o);
        ck_assert_str_eq(m.topic, topic);
        ck_assert_int_eq(m.partition, p);
    }
    EQ_RC(samsa_cursor_next(c, &m, 0), SAMSA_ETIMEDOUT);
    ck_assert_int_eq(samsa_cursor_offset(c), to);
    samsa_cursor_close(c);
}

samsa_topic_config
test_small_cfg(int32_t partitions, int sync)
{
    return (samsa_topic_config){.partitions = partitions,
                                .segment_bytes = TEST_SEGMENT_BYTES,
                                .index_interval_bytes = 128,
                                .max_message_bytes = 16384,
                                .sync = sync};
}

/* ------------------------------------------------------------------------ */
/* Files                                                                    */
/* ------------------------------------------------------------------------ */

const char *
test_pathf(char *buf, const char *dir, const char *name)
{
    TEST_NOT_IN_CHILD(__func__);
    int n = snprintf(buf, TEST_PATH_BUF, "%s/%s", dir, name);
    ck_assert(n > 0 && n < TEST_PATH_BUF);
    return buf;
}

bool
test_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

size_t
test_seg_bases(const char *dir, const char *topic, int p, int64_t *bases,
               size_t max)
{
    TEST_NOT_IN_CHILD(__func__);
    char pd[TEST_PATH_BUF];
    int len = snprintf(pd, sizeof pd, "%s/%s-%d", dir, topic, p);
    ck_assert(len > 0 && len < TEST_PATH_BUF);
    DIR *d = opendir(pd);
    ck_assert_msg(d != NULL, "opendir %s: %s", pd, strerror(errno));
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strlen(e->d_name) == 24 && strcmp(e->d_name + 20, ".log") == 0) {
            ck_assert_uint_lt(n, max);
            bases[n++] = strtoll(e->d_name, NULL, 10);
        }
    closedir(d);
    qsort(bases, n, sizeof *bases, cmp_i64);
    return n;
}

uint32_t
test_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

void
test_check_headers(const samsa_message *m, const samsa_header *want, size_t n)
{
    TEST_NOT_IN_CHILD(__func__);
    size_t pos = 0, kl, vl;
    const char *k;
    const void *v;
    for (size_t j = 0; j < n; j++) {
        E(samsa_message_header_next(m, &pos, &k, &kl, &v, &vl));
        ck_assert_uint_eq(kl, strlen(want[j].key));
        ck_assert_mem_eq(k, want[j].key, kl);
        ck_assert_uint_eq(vl, want[j].value_len);
        if (want[j].value == NULL)
            ck_assert_ptr_null(v);
        else
            ck_assert_mem_eq(v, want[j].value, vl);
    }
}
