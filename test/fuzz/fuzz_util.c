/*
 * fuzz_util.c - the helpers of fuzz.h, shared by the targets and the seed
 * generator.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static char *tmp_root; /* fuzz_tmpdir()'s directory, removed at exit */

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void
rm_tree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
tmp_cleanup(void)
{
    if (tmp_root != NULL)
        rm_tree(tmp_root);
    free(tmp_root);
    tmp_root = NULL;
}

char *
fuzz_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char buf[512];
    snprintf(buf, sizeof buf, "%s/samsa-fuzz.XXXXXX",
             base != NULL && *base != '\0' ? base : "/tmp");
    FUZZ_CHECK(mkdtemp(buf) != NULL);
    FUZZ_CHECK(tmp_root == NULL); /* one per process */
    tmp_root = strdup(buf);
    FUZZ_CHECK(tmp_root != NULL);
    atexit(tmp_cleanup);
    return strdup(buf);
}

char *
fuzz_store_dir(char *mdb, size_t cap)
{
    char *dir = fuzz_tmpdir();
    fuzz_path(mdb, cap, dir, "catalog/data.mdb");
    return dir;
}

const char *
fuzz_path(char *buf, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    FUZZ_CHECK(n > 0 && (size_t)n < cap);
    return buf;
}

void
fuzz_write_file(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    FUZZ_CHECK(fd >= 0);
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        FUZZ_CHECK(w > 0);
        p += w;
        len -= (size_t)w;
    }
    FUZZ_CHECK(close(fd) == 0);
}

bool
fuzz_read_file(const char *path, uint8_t **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return false;
    bool ok = fstat(fd, &st) == 0;
    *buf = ok ? malloc((size_t)st.st_size + 1) : NULL;
    *len = 0;
    ok = *buf != NULL;
    while (ok && *len < (size_t)st.st_size) {
        ssize_t r = read(fd, *buf + *len, (size_t)st.st_size - *len);
        ok = r > 0;
        *len += ok ? (size_t)r : 0;
    }
    close(fd);
    if (!ok) {
        free(*buf);
        *buf = NULL;
    }
    return ok;
}

void
fuzz_empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        rm_tree(fuzz_path(path, sizeof path, dir, e->d_name));
    }
    closedir(d);
}

typedef struct tree_entry {
    char *rel;    /* path below the tree's root             */
    uint8_t *buf; /* contents (files), NULL for a directory */
    size_t len;   /* their size                             */
} tree_entry;

struct fuzz_tree {
    tree_entry *e; /* in nftw's pre-order: parents first */
    size_t n, cap; /* used and allocated                 */
};

static fuzz_tree *saving;  /* nftw() has no context argument */
static size_t saving_root; /* strlen of the root + 1         */

static int
save_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    if (ftw->level == 0)
        return 0;
    fuzz_tree *t = saving;
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        t->e = realloc(t->e, t->cap * sizeof *t->e);
        FUZZ_CHECK(t->e != NULL);
    }
    tree_entry *e = &t->e[t->n++];
    e->rel = strdup(path + saving_root);
    e->buf = NULL;
    e->len = 0;
    FUZZ_CHECK(e->rel != NULL);
    if (flag == FTW_F)
        FUZZ_CHECK(fuzz_read_file(path, &e->buf, &e->len));
    else
        FUZZ_CHECK(flag == FTW_D);
    return 0;
}

fuzz_tree *
fuzz_tree_save(const char *dir)
{
    fuzz_tree *t = calloc(1, sizeof *t);
    FUZZ_CHECK(t != NULL);
    saving = t;
    saving_root = strlen(dir) + 1;
    FUZZ_CHECK(nftw(dir, save_one, 16, FTW_PHYS) == 0);
    saving = NULL;
    return t;
}

void
fuzz_tree_restore(const char *dir, const fuzz_tree *t)
{
    char path[1024];
    fuzz_empty_dir(dir);
    for (size_t i = 0; i < t->n; i++) {
        fuzz_path(path, sizeof path, dir, t->e[i].rel);
        if (t->e[i].buf == NULL)
            FUZZ_CHECK(mkdir(path, 0755) == 0);
        else
            fuzz_write_file(path, t->e[i].buf, t->e[i].len);
    }
}

bool
fuzz_section_next(const uint8_t **p, size_t *left, fuzz_section *out)
{
    if (*left < 5)
        return false;
    const uint8_t *b = *p;
    out->kind = b[0];
    out->id = (uint16_t)(b[1] << 8 | b[2]);
    size_t len = (size_t)(b[3] << 8 | b[4]);
    if (len > *left - 5)
        len = *left - 5;
    out->buf = b + 5;
    out->len = len;
    *p += 5 + len;
    *left -= 5 + len;
    return true;
}

void
fuzz_section_put(FILE *f, uint8_t kind, uint16_t id, const void *buf,
                 size_t len)
{
    FUZZ_CHECK(len <= 0xffff);
    uint8_t h[5] = {kind, (uint8_t)(id >> 8), (uint8_t)id, (uint8_t)(len >> 8),
                    (uint8_t)len};
    FUZZ_CHECK(fwrite(h, 1, 5, f) == 5);
    FUZZ_CHECK(len == 0 || fwrite(buf, 1, len, f) == len);
}

/* Touch every byte of a message (so that ASan sees any out-of-bounds
 * pointer) and its headers; returns a checksum nobody looks at. */
static unsigned
touch_message(const samsa_message *m)
{
    unsigned sum = 0;
    const uint8_t *k = m->key, *v = m->value;
    for (size_t i = 0; i < m->key_len; i++)
        sum += k[i];
    for (size_t i = 0; i < m->value_len; i++)
        sum += v[i];
    for (size_t i = 0; i < m->header_count && i < 64; i++) {
        const char *hk;
        const void *hv;
        size_t hkl, hvl;
        int rc = samsa_message_header(m, i, &hk, &hkl, &hv, &hvl);
        FUZZ_CHECK_RC(rc);
        if (rc != 0)
            continue;
        for (size_t j = 0; j < hkl; j++)
            sum += (uint8_t)hk[j];
        for (size_t j = 0; j < hvl; j++)
            sum += ((const uint8_t *)hv)[j];
    }
    return sum;
}

/* A cursor opened at m's offset must read the same record there: one
 * offset, one record, whichever way a reader comes to it.  Where the log
 * itself is damaged (damaged says the sequential read met damage before
 * m), the direct way may meet damage the sequential one stepped over, and
 * say so; with the data intact (damaged index files, say) it may not. */
static void
check_direct(samsa *s, const samsa_message *m, bool damaged)
{
    samsa_cursor *c;
    samsa_message d;
    FUZZ_CHECK(samsa_cursor_open(s, m->topic, m->partition, m->offset, &c) ==
               0);
    int rc = samsa_cursor_next(c, &d, 0);
    if (rc == SAMSA_ECORRUPT && damaged) {
        samsa_cursor_close(c);
        return;
    }
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(d.offset == m->offset && d.timestamp == m->timestamp);
    FUZZ_CHECK(d.key_len == m->key_len && d.value_len == m->value_len);
    FUZZ_CHECK((d.key == NULL) == (m->key == NULL) &&
               (d.value == NULL) == (m->value == NULL));
    FUZZ_CHECK(d.key_len == 0 || memcmp(d.key, m->key, d.key_len) == 0);
    FUZZ_CHECK(d.value_len == 0 || memcmp(d.value, m->value, d.value_len) == 0);
    samsa_cursor_close(c);
}

/* Read with c until the end; damaged offsets are stepped over. */
static size_t
read_all(samsa *s, samsa_cursor *c, int64_t first, int64_t end)
{
    size_t got = 0;
    int64_t last = -1;
    bool damaged = false;
    samsa_message m;
    volatile unsigned sink = 0;
    for (int steps = 0; steps < 100000; steps++) {
        int64_t want = samsa_cursor_offset(c);
        int rc = samsa_cursor_next(c, &m, 0);
        FUZZ_CHECK_RC(rc);
        if (rc == SAMSA_ETIMEDOUT)
            break;
        if (rc == 0) {
            /* dense, increasing, inside the log */
            FUZZ_CHECK(m.offset >= want && m.offset > last);
            FUZZ_CHECK(m.offset >= first && m.offset < end);
            last = m.offset;
            sink += touch_message(&m);
            check_direct(s, &m, damaged);
            got++;
            continue;
        }
        /* Damage: the rest of the log must stay readable past it. */
        damaged = true;
        if (want + 1 >= end || samsa_cursor_seek(c, want + 1) != 0)
            break;
    }
    (void)sink;
    return got;
}

size_t
fuzz_read_partition(samsa *s, const char *topic, int32_t partition)
{
    int64_t first, end;
    int rc = samsa_offsets(s, topic, partition, &first, &end);
    FUZZ_CHECK_RC(rc);
    if (rc != 0)
        return 0;
    FUZZ_CHECK(0 <= first && first <= end);
    samsa_cursor *c;
    rc = samsa_cursor_open(s, topic, partition, SAMSA_OFFSET_BEGINNING, &c);
    FUZZ_CHECK_RC(rc);
    if (rc != 0)
        return 0;
    size_t got = read_all(s, c, first, end);
    static const int64_t times[] = {
        0, FUZZ_TS0, FUZZ_TS0 + 5, FUZZ_TS0 + 77, INT64_MAX / 2, INT64_MAX};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        rc = samsa_cursor_seek_time(c, times[i]);
        FUZZ_CHECK_RC(rc);
        if (rc != 0)
            continue;
        int64_t at = samsa_cursor_offset(c);
        FUZZ_CHECK(at >= first && at <= end);
        samsa_message m;
        rc = samsa_cursor_next(c, &m, 0);
        FUZZ_CHECK_RC(rc);
        if (rc == 0)
            FUZZ_CHECK(m.offset >= at && m.offset < end);
    }
    samsa_cursor_close(c);
    return got;
}

void
fuzz_produce_readback(samsa *s, const char *topic, int32_t partition)
{
    static const char value[] = "after recovery";
    samsa_record r = {.key = "k",
                      .key_len = 1,
                      .value = value,
                      .value_len = sizeof value - 1,
                      .timestamp = FUZZ_TS0 + 1000};
    int64_t end_before, first;
    int rc = samsa_offsets(s, topic, partition, &first, &end_before);
    FUZZ_CHECK_RC(rc);
    if (rc != 0)
        return;
    rc = samsa_produce(s, topic, partition, &r, 1);
    FUZZ_CHECK_RC(rc);
    if (rc != 0)
        return;
    FUZZ_CHECK(r.offset == end_before && r.partition == partition);
    samsa_cursor *c;
    rc = samsa_cursor_open(s, topic, partition, r.offset, &c);
    FUZZ_CHECK(rc == 0);
    samsa_message m;
    rc = samsa_cursor_next(c, &m, 0);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(m.offset == r.offset && m.timestamp == r.timestamp);
    FUZZ_CHECK(m.key_len == 1 && memcmp(m.key, "k", 1) == 0);
    FUZZ_CHECK(m.value_len == r.value_len &&
               memcmp(m.value, value, r.value_len) == 0);
    samsa_cursor_close(c);
}
