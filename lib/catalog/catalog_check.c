/*
 * catalog_check.c - check a catalog's LMDB file before LMDB maps it.
 *
 * LMDB trusts its pages: it follows page numbers, node offsets and sizes
 * from the file without checking them, so one flipped byte in data.mdb
 * can make it read past the map (SIGSEGV, or SIGBUS past the end of a
 * truncated file), copy past a page into the heap, or trip an assertion.
 * samsa promises that nothing in a file crashes the process, so every
 * catalog file is checked here, with pread() into memory (never mapped, so
 * a short file is a short read, not a SIGBUS), before LMDB opens it; a
 * file that fails is SAMSA_ECORRUPT, and catalog_open() rebuilds it from
 * another directory's catalog or refuses to open the store.
 *
 * Why a check of the structure and not a walk in a fork()ed child: a child
 * that reads every record through LMDB catches only the damage that
 * crashes a read.  Damage that makes a later write transaction overflow a
 * heap copy of a page (a node offset off by two, a P_DIRTY flag set on
 * disk so that LMDB writes into its read-only map), or that hands a page
 * to two owners through the free list, does not crash a reader; it crashes
 * or corrupts the parent later.  A structural check decides on the bytes,
 * the same way every time, needs no fork() in an application full of
 * threads, and runs in well under a millisecond on a catalog's few pages.
 *
 * What is checked (LMDB 0.9's data format, 64-bit: page numbers and sizes
 * are 8 bytes, host order; the layout is mdb.c's):
 *
 *   page header   0 u64 page number   8 u16 pad   10 u16 flags
 *                12 u16 lower (end of the node offsets)   14 u16 upper
 *                (overflow pages: 12 u32 page count)
 *   meta page     16 u32 magic 0xBEEFC0DE   20 u32 version 1
 *   (pages 0, 1)  24 address  32 map size  40 free db  88 main db
 *                136 u64 last page  144 u64 txnid
 *   db record     0 u32 pad (the free db's: the page size)  4 u16 flags
 *   (48 bytes)    6 u16 depth  8 branch pages  16 leaf pages
 *                24 overflow pages  32 entries  40 root (~0: empty)
 *   node           0 u16 lo  2 u16 hi  4 u16 flags  6 u16 key size  8 key
 *                 then data; leaf: data size lo|hi<<16, branch: child
 *                 page lo|hi<<16|flags<<32; F_BIGDATA: data is the first
 *                 overflow page's number
 *
 *  - both meta pages: magic, version, the same power-of-two page size,
 *    flags, and transaction ids that LMDB's alternation can produce (meta
 *    page i holds the commits with txnid % 2 == i, and the two are
 *    consecutive: a flipped txnid cannot silently select the older tree);
 *  - from the newer meta: the free list tree, the main tree and every
 *    named database in it, each walked from its root: every page number
 *    below the last page and in the file, each page's own number, type
 *    and depth as its parent says (all leaves at the recorded depth),
 *    node offsets that tile the page from upper to its end exactly as
 *    LMDB packs them, key sizes within LMDB's limit, keys strictly sorted
 *    within each page and within the bounds its parent's separators give,
 *    overflow runs that fit the data and the file, and the recorded page
 *    and entry counts;
 *  - free list records: page lists strictly descending, in range;
 *  - and LMDB's own invariant (mdb.c, MDB_page): every page from 2 to the
 *    last page is used exactly once, by a tree or by the free list.  This
 *    catches damage that points a tree at a stale or foreign page, and a
 *    free list that would hand out a page still in use.
 *
 * Bytes LMDB never reads (unused space between lower and upper, the
 * older meta's trees, the file past the last page) are not checked; a
 * file a crash left longer than its last page is whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog_mdb.h"

#define PAGEHDR      16u
#define NODEHDR      8u
#define P_BRANCH     0x01u
#define P_LEAF       0x02u
#define P_OVERFLOW   0x04u
#define P_META       0x08u
#define F_BIGDATA    0x01u
#define F_SUBDATA    0x02u
#define MAGIC        0xBEEFC0DEu
#define DB_SIZE      48u
#define META_FREE    40u /* the free db's record in a meta page */
#define META_MAIN    88u
#define META_LAST    136u
#define META_TXNID   144u
#define MAX_KEY      511u /* LMDB's MDB_MAXKEYSIZE */
#define MAX_DEPTH    32   /* LMDB's CURSOR_STACK */
#define INVALID_PAGE UINT64_MAX

typedef struct chk {
    uint8_t *file;   /* the file's first bytes, as read             */
    uint64_t size;   /* bytes in file                               */
    uint32_t psize;  /* page size                                   */
    uint64_t npages; /* pages the newer meta says exist (last + 1)  */
    uint8_t *seen;   /* bit per page: used by a tree or free        */
    uint64_t nseen;  /* pages marked in seen                        */
    uint16_t *offs;  /* room for one page's node offsets, sorted    */
} chk;

typedef struct tree {
    bool intkey;       /* keys are u64 in host order (the free db)     */
    int kind;          /* 0: free db, 1: main db, 2: named database    */
    uint64_t branch;   /* counted while walking                        */
    uint64_t leaf;     /* counted while walking                        */
    uint64_t overflow; /* counted while walking                        */
    uint64_t entries;  /* counted while walking                        */
    uint64_t *free;    /* free db: page numbers its records list       */
    uint64_t nfree;    /* how many                                     */
    uint64_t capfree;  /* room in free                                 */
} tree;

typedef struct key {
    const uint8_t *p; /* NULL: no bound */
    size_t n;
} key;

static uint64_t
get(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    memcpy(&v, p, (size_t)bytes); /* host order, as LMDB writes */
    return v;
}

/* Mark pages [pg, pg+n) as used once; in_file: they must be in the file. */
static bool
mark(chk *k, uint64_t pg, uint64_t n, bool in_file)
{
    if (pg < 2 || n == 0 || pg >= k->npages || n > k->npages - pg)
        return false;
    if (in_file && (pg + n) > k->size / k->psize)
        return false;
    for (uint64_t i = pg; i < pg + n; i++) {
        if (k->seen[i / 8] & (1u << (i % 8)))
            return false;
        k->seen[i / 8] |= (uint8_t)(1u << (i % 8));
    }
    k->nseen += n;
    return true;
}

/* LMDB's order: memcmp then length (mdb_cmp_memn), or u64 (free db). */
static int
cmp(const tree *t, key a, key b)
{
    if (t->intkey) {
        uint64_t x = get(a.p, 8), y = get(b.p, 8);
        return x < y ? -1 : x > y;
    }
    int c = memcmp(a.p, b.p, a.n < b.n ? a.n : b.n);
    return c != 0 ? c : a.n < b.n ? -1 : a.n > b.n;
}

static bool
free_record(chk *k, tree *t, const uint8_t *d, uint64_t n)
{
    if (n < 8 || n % 8 != 0)
        return false;
    uint64_t count = get(d, 8);
    if (count > n / 8 - 1)
        return false;
    for (uint64_t i = 1; i <= count; i++) {
        uint64_t pg = get(d + 8 * i, 8);
        if (pg < 2 || pg >= k->npages ||
            (i > 1 && pg >= get(d + 8 * (i - 1), 8)))
            return false;
        if (t->nfree == t->capfree) {
            uint64_t cap = t->capfree ? 2 * t->capfree : 64;
            uint64_t *m = realloc(t->free, cap * sizeof *m);
            if (m == NULL)
                return false;
            t->free = m;
            t->capfree = cap;
        }
        t->free[t->nfree++] = pg;
    }
    return true;
}

/* The named database record a main db leaf holds. */
static bool walk_db(chk *k, const uint8_t *db, int kind, tree *free_tree);

static bool
leaf_node(chk *k, tree *t, const uint8_t *node, uint32_t room)
{
    unsigned flags = (unsigned)get(node + 4, 2);
    uint64_t dsize = get(node, 2) | get(node + 2, 2) << 16;
    uint32_t ksize = (uint32_t)get(node + 6, 2);
    const uint8_t *data = node + NODEHDR + ksize;
    t->entries++;
    if (t->kind == 1) /* the main db holds named databases only */
        return flags == F_SUBDATA && dsize == DB_SIZE &&
               NODEHDR + ksize + DB_SIZE <= room && walk_db(k, data, 2, NULL);
    if (flags != 0 && flags != F_BIGDATA)
        return false;
    if (flags == 0)
        return NODEHDR + ksize + dsize <= room &&
               (t->kind != 0 || free_record(k, t, data, dsize));
    if (NODEHDR + ksize + 8 > room)
        return false;
    uint64_t ov = get(data, 8);
    uint64_t need = (PAGEHDR - 1 + dsize) / k->psize + 1; /* OVPAGES */
    if (ov >= k->npages || ov >= k->size / k->psize)
        return false;
    const uint8_t *op = k->file + ov * k->psize;
    uint64_t pages = get(op + 12, 4);
    if (get(op, 8) != ov || get(op + 10, 2) != P_OVERFLOW || pages < need ||
        !mark(k, ov, pages, true))
        return false;
    t->overflow += pages;
    return t->kind != 0 || free_record(k, t, op + PAGEHDR, dsize);
}

/* Node i's size as LMDB packs it (mdb_node_del): header, key, data,
 * rounded up to even. */
static uint32_t
node_size(const uint8_t *node, bool leaf)
{
    uint64_t n = NODEHDR + get(node + 6, 2);
    if (leaf)
        n += (get(node + 4, 2) & F_BIGDATA)
                 ? 8
                 : (get(node, 2) | get(node + 2, 2) << 16);
    return n > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)((n + 1) & ~1ull);
}

static int
cmp_u16(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static bool
walk(chk *k, tree *t, uint64_t pg, int depth, int want, key lo, key hi)
{
    if (depth > want || !mark(k, pg, 1, true))
        return false;
    const uint8_t *p = k->file + pg * k->psize;
    bool leaf = depth == want;
    uint32_t lower = (uint32_t)get(p + 12, 2), upper = (uint32_t)get(p + 14, 2);
    if (get(p, 8) != pg || get(p + 10, 2) != (leaf ? P_LEAF : P_BRANCH) ||
        lower < PAGEHDR + 2 || lower % 2 != 0 || lower > upper ||
        upper > k->psize)
        return false;
    uint32_t n = (lower - PAGEHDR) / 2;
    uint16_t *offs = k->offs;
    /* The nodes tile [upper, psize) exactly, as LMDB packs them. */
    for (uint32_t i = 0; i < n; i++) {
        offs[i] = (uint16_t)get(p + PAGEHDR + 2 * i, 2);
        if (offs[i] < upper || offs[i] % 2 != 0 || offs[i] + NODEHDR > k->psize)
            return false;
    }
    qsort(offs, n, sizeof offs[0], cmp_u16);
    uint32_t at = upper;
    for (uint32_t i = 0; i < n; i++) {
        if (offs[i] != at)
            return false;
        at += node_size(p + offs[i], leaf);
    }
    if (at != k->psize)
        return false;
    t->leaf += leaf;
    t->branch += !leaf;
    key prev = lo;
    bool first = true;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *node = p + get(p + PAGEHDR + 2 * i, 2);
        uint32_t room = k->psize - (uint32_t)(node - p);
        key kk = {node + NODEHDR, (size_t)get(node + 6, 2)};
        if (kk.n > MAX_KEY || NODEHDR + kk.n > room)
            return false;
        /* Branch node 0's key is never read (its lower bound is lo). */
        bool has_key = leaf || i > 0;
        if (has_key && t->intkey && kk.n != 8)
            return false;
        /* The first key may equal the lower bound, the next must grow. */
        if (has_key && ((prev.p != NULL && cmp(t, kk, prev) < !first) ||
                        (hi.p != NULL && cmp(t, kk, hi) >= 0)))
            return false;
        if (has_key) {
            prev = kk;
            first = false;
        }
        if (leaf) {
            if (!leaf_node(k, t, node, room))
                return false;
            continue;
        }
        uint64_t child =
            get(node, 2) | get(node + 2, 2) << 16 | get(node + 4, 2) << 32;
        key clo = i == 0 ? lo : kk, chi = hi;
        if (i + 1 < n) {
            const uint8_t *next = p + get(p + PAGEHDR + 2 * (i + 1), 2);
            chi = (key){next + NODEHDR, (size_t)get(next + 6, 2)};
            if (chi.n > MAX_KEY ||
                NODEHDR + chi.n > k->psize - (uint32_t)(next - p) ||
                (t->intkey && chi.n != 8))
                return false;
        }
        if (!walk(k, t, child, depth + 1, want, clo, chi))
            return false;
    }
    return true;
}

/* Walk the tree whose 48-byte record is db; kind as in tree. */
static bool
walk_db(chk *k, const uint8_t *db, int kind, tree *out)
{
    tree t = {.intkey = kind == 0, .kind = kind};
    unsigned flags = (unsigned)get(db + 4, 2);
    int depth = (int)get(db + 6, 2);
    uint64_t root = get(db + 40, 8);
    bool ok = flags == (kind == 0 ? MDB_INTEGERKEY : 0u);
    if (ok && root == INVALID_PAGE)
        ok = depth == 0;
    else if (ok)
        ok = depth >= 1 && depth <= MAX_DEPTH &&
             walk(k, &t, root, 1, depth, (key){NULL, 0}, (key){NULL, 0});
    ok = ok && t.branch == get(db + 8, 8) && t.leaf == get(db + 16, 8) &&
         t.overflow == get(db + 24, 8) && t.entries == get(db + 32, 8);
    if (out != NULL)
        *out = t;
    else
        free(t.free);
    return ok;
}

static bool
meta_ok(const uint8_t *m, uint64_t pg, uint32_t psize)
{
    return get(m, 8) == pg && get(m + 10, 2) == P_META &&
           get(m + 16, 4) == MAGIC && get(m + 20, 4) == 1 &&
           get(m + META_FREE, 4) == psize;
}

static bool
check(chk *k)
{
    if (k->size < PAGEHDR + META_TXNID + 8)
        return false;
    k->psize = (uint32_t)get(k->file + META_FREE, 4);
    uint32_t ps = k->psize;
    if (ps < 512 || ps > 65536 || (ps & (ps - 1)) != 0 || k->size < 2 * ps)
        return false;
    const uint8_t *m0 = k->file, *m1 = k->file + ps;
    if (!meta_ok(m0, 0, ps) || !meta_ok(m1, 1, ps))
        return false;
    uint64_t t0 = get(m0 + META_TXNID, 8), t1 = get(m1 + META_TXNID, 8);
    if (!(t0 == 0 && t1 == 0) &&
        !(t0 % 2 == 0 && t1 % 2 == 1 && (t0 == t1 + 1 || t1 == t0 + 1)))
        return false;
    const uint8_t *m = t1 > t0 ? m1 : m0;
    uint64_t last = get(m + META_LAST, 8);
    /* Pages past the file's end can only be free ones, each listed in a
     * free record of 8 bytes: bound the count before allocating for it. */
    if (last < 1 || last >= k->size / ps + k->size / 8)
        return false;
    k->npages = last + 1;
    k->seen = calloc(k->npages / 8 + 1, 1);
    k->offs = malloc(ps / 2 * sizeof *k->offs);
    if (k->seen == NULL || k->offs == NULL)
        return false;
    tree ft;
    bool ok =
        walk_db(k, m + META_FREE, 0, &ft) && walk_db(k, m + META_MAIN, 1, NULL);
    for (uint64_t i = 0; ok && i < ft.nfree; i++)
        ok = mark(k, ft.free[i], 1, false);
    free(ft.free);
    return ok && k->nseen == k->npages - 2;
}

int
catalog_check_file(const char *dir, bool *held)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    *held = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : samsa__from_errno(errno);
    struct stat st;
    int rc = 0;
    chk k = {0};
    if (fstat(fd, &st) != 0)
        rc = samsa__from_errno(errno);
    else if ((k.file = malloc(st.st_size > 0 ? (size_t)st.st_size : 1)) == NULL)
        rc = SAMSA_ENOMEM;
    while (rc == 0 && k.size < (uint64_t)st.st_size) {
        ssize_t r = pread(fd, k.file + k.size, (size_t)st.st_size - k.size,
                          (off_t)k.size);
        if (r < 0 && errno != EINTR)
            rc = samsa__from_errno(errno);
        else if (r == 0)
            break; /* shrank meanwhile: check what was read */
        else if (r > 0)
            k.size += (uint64_t)r;
    }
    close(fd);
    /* An empty file is damage too: LMDB writes both meta pages when it
     * creates the file, and would otherwise take it for a new, empty
     * catalog: every topic gone without a word. */
    if (rc == 0 && !check(&k))
        rc = SAMSA_ECORRUPT;
    *held = rc == 0;
    free(k.seen);
    free(k.offs);
    free(k.file);
    return rc;
}
