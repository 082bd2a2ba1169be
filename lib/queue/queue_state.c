/*
 * queue_state.c - a share-partition's window of in-flight records, kept in
 * memory, in a per-partition journal file, and in a snapshot in the LMDB
 * catalog.
 *
 * Why a journal.  Every acquisition (its delivery count must survive a
 * crash) and every acknowledgement changes the state; an LMDB write
 * transaction (an fsync) per change would cap a queue at a few thousand
 * records a second.  So, as Kafka's share coordinator appends state
 * changes to an internal log and snapshots them, each change is first
 * appended to a file, DIR/queues/GROUP/TOPICID-P.journal, through the
 * store's I/O table (s->io) like every file of samsa, but by its mapped
 * append: map_write() and map_sync() (io.h), which the POSIX table makes a
 * copy into a shared writable mapping of the file and an msync(2) of the
 * pages written (JOURNAL_BYTES of address space; the file itself is
 * allocated JOURNAL_GROW bytes at a time, ahead of the appends, so that a
 * full disk is an error code and never a SIGBUS).  So an append is a copy
 * of 24 bytes into the page cache, no system call (a write() per
 * acknowledgement would cost more than all the rest of it), and survives
 * kill -9 as soon as it is made (with the store's SAMSA_SYNC_ALWAYS the
 * page is msync'ed too); and the test tables see every byte and every
 * sync of it, as for the logs (test/faultio.c: failures, power cuts).
 * Every other call on a journal (open, size, allocate, truncate, map,
 * close) goes through the table too.  The whole window
 * is snapshotted into the catalog when the journal passes JOURNAL_LIMIT
 * bytes, at close, after which the journal starts again empty.
 *
 * Copies.  A store with replica directories keeps the journal on each of
 * them too (DIRn/queues/GROUP/TOPICID-P.journal, whatever the topic's
 * replica count, as every directory holds its own catalog with the
 * snapshots): each append copies the same 24 bytes to the same offset of
 * every copy, the checkpoint resets every copy, and SAMSA_SYNC_ALWAYS
 * msyncs each.  So a share-partition's state is on every directory, and
 * the store reopens from any one of them with nothing acknowledged lost.
 * With one directory the loop over copies costs one comparison.
 *
 * Journal file, little-endian:
 *
 *   header, 40 bytes           entry, 24 bytes, back to back after it
 *    0 u32 magic "SQJ2"          0 u32 CRC-32C of bytes 4..23
 *    4 u32 generation            4 u32 n: records offset..offset+n-1
 *    8 u32 CRC-32C of 0..7       8 i64 offset
 *   12 u32 zero                 16 u16 delivery count
 *   16 u64 boot word: u32       18 u8  state (QS_AVAILABLE, QS_ACCEPTED,
 *          CRC-32C of the boot         QS_REJECTED, QS_ARCHIVED)
 *          id of the kernel     19 u8  zero
 *          that wrote it        20 u32 generation (the header's)
 *   24 u64 end word: u32 entries
 *          acknowledged, bit 31
 *          set when each was msynced before it (SAMSA_SYNC_ALWAYS)
 *   32 u64 zero
 *
 * Each word's high 32 bits are the CRC-32C of its low 32 bits and the
 * generation (8 bytes): a damaged word, or one of another generation,
 * fails it.  40 + 169 * 24 = 4096: no entry crosses a page.  Version 1
 * ("SQJ1": a 16-byte header, no words, entries from byte 16) is still
 * read; a group loaded from one is checkpointed at once, which leaves a
 * version 2 journal.
 *
 * Snapshot, the catalog's "queues" value for (group, topic id, partition),
 * version 2:
 *
 *    0 u32 version (2)          28 u32 m: kept outcomes
 *    4 u32 generation of the    32 u32 CRC-32C of bytes 0..31 and 36..end
 *          journal that follows 36 n entries of 4 bytes, for offsets
 *    8 i64 start                      start..next-1: u16 delivery count,
 *   16 i64 next                       u8 state, u8 zero
 *   24 u32 n = next - start     36+4n m outcomes of 12 bytes: i64 offset,
 *                                     u16 delivery count, u8 state
 *                                     (ACCEPTED, REJECTED, ARCHIVED),
 *                                     u8 zero
 *
 * Version 1 (28-byte header: no m, no CRC, no outcomes) is still read.
 * A snapshot whose CRC, sizes or any field fails its check is
 * SAMSA_ECORRUPT: the group is refused, never loaded with wrong outcomes.
 *
 * Outcomes (issue 10: a sender must learn how its record ended, after the
 * fact).  A record that leaves the window (start moves past it, in apply(),
 * live and in replay alike) leaves its outcome in qp->done, a ring of
 * QUEUE_OUTCOMES (= SAMSA_QUEUE_OUTCOMES, 4096) entries where offset o
 * lives at o mod 4096, tagged with o.  So the outcome of a record is known
 * while it is in the window, and below it until start is QUEUE_OUTCOMES
 * past it; a slot whose tag is another offset means forgotten
 * (SAMSA_EFORGOTTEN), never another record's outcome.  Records the log's
 * start moved past unfinished (qstate_open) leave no outcome.  Durability
 * needs no new journal entry: the entries that finish records already
 * carry state and count, so replay rebuilds the ring's recent part, and
 * the snapshot carries the outcomes within QUEUE_OUTCOMES of its start.
 *
 * Invariants: start <= next <= start + QUEUE_MAX_INFLIGHT; the record at
 * start is never done (start moves past done records at once); every
 * record in [start, next) was delivered at least once (count >= 1);
 * navail counts the AVAILABLE ones.  An entry replayed sets the records'
 * state and count and moves next and start exactly as the live change
 * did, so replaying the journal over the snapshot rebuilds the window.
 *
 * Write-ahead order and what survives kill -9 at each step:
 *  - a change: the entry is written, then the window changes.  Killed
 *    before the write: the change did not happen (the call had not
 *    returned).  After it: replay applies it.  A torn or half-written
 *    entry fails its CRC: replay stops there and truncates it, unless
 *    the end word vouches for it (below: then it is damage).
 *  - a release (or an expired lock) is not written at all: on disk an
 *    acquired record is already AVAILABLE with the delivery count its
 *    acquisition wrote, which is exactly what a release leaves.
 *  - a checkpoint: (1) the snapshot of the whole window, with generation
 *    g+1, is committed to the catalog; (2) the journal is truncated and
 *    (3) its header rewritten with g+1.  Killed before (1): the old
 *    snapshot and the whole journal.  Between (1) and (3): the snapshot
 *    holds everything, and a journal whose header is not g+1 (old, empty
 *    or torn) is ignored and reset.
 *  - the load, before any change: under SAMSA_SYNC_ALWAYS the entries
 *    naming the journal (queues/, GROUP/, the file) are synced
 *    (journal_dirsync), since an msync makes the file's bytes durable but
 *    not its name.
 * So an accepted record never comes back, and an acquired one comes back
 * AVAILABLE with its delivery count kept.
 *
 * Damage (issue 10: every byte of a journal flipped must never lose an
 * acknowledgement silently).  A torn tail and a damaged last entry look
 * the same; what tells them apart is the end word.  Each append, once its
 * entry is in the file (and msynced under SAMSA_SYNC_ALWAYS), stores the
 * new entry count in the end word, one aligned 8-byte store into the
 * mapping as the log's end marker does (log.c): so every entry below the
 * count it holds was acknowledged.  The end word vouches for its count
 * when it is whole, of this generation, and either synced (its entries
 * were msynced before it was stored: a lower bound after a power cut
 * too) or the boot word names the running kernel (the process died, the
 * page cache did not).  At load:
 *  - an entry that fails its CRC or generation ends the journal (zeros,
 *    an older generation, a torn write) unless the end word vouches for
 *    more entries: then acknowledged entries are damaged;
 *  - a header that is not this generation's marks a stale journal (a
 *    checkpoint's reset cut short, a new file: the snapshot holds
 *    everything) unless the end word of this generation vouches for
 *    entries: then the header is damaged (the reset writes the end word
 *    of the new generation, vouching for none, before the header);
 *  - a CRC-valid entry no writer makes (a state, n or offset outside the
 *    window) is damage.
 * Damage is SAMSA_ECORRUPT.  With one directory the group is refused
 * (samsa_queue_open(), samsa_queue_ack_info(), samsa_queue_ack_wait()),
 * never loaded with acknowledgements lost; removing the journal file
 * accepts redelivery of the changes since the last checkpoint.  With
 * replica directories the copies are tried in order, and the first that
 * is whole and holds every entry the damaged journal's end word vouched
 * for is loaded and written over the primary (and then, as at every load,
 * over the other copies); a stale copy (one a directory that was down
 * missed) holds fewer and is passed over.  Damage to a word only makes
 * it vouch for less: the entries, undamaged, are all replayed.  What
 * the end word cannot cover is a power cut under SAMSA_SYNC_NONE, which
 * promises nothing for the journal's unsynced tail (as for the log's).
 * After a load, the file past the replayed entries is cut (and allocated
 * again), so that appends never run into entries of a lost past (a
 * power cut that kept later pages and not earlier ones); then the end
 * word is set to the replayed count and the boot word to this boot, in
 * that order, each one store.
 *
 * The copies (cfile[d] for dirs[d]), and what each failure leaves:
 *  - an append writes the copies before the primary, a reset resets them
 *    before it, each in the same order of steps as the primary, so a copy
 *    that is written holds every change the primary holds once the call
 *    returns; the checkpoint's snapshot goes to every directory's catalog
 *    (catalog_write) before any journal is reset, so a crash in between
 *    leaves, on each directory, its old snapshot and full journal or its
 *    new snapshot and a journal the generation check ignores.
 *  - at load (qstate_open, the first receiver or wait of the group in an
 *    open store): the journal read is the primary's (dirs[0]), or a
 *    copy written over it when it is damaged (see "Damage"); each copy
 *    on a directory that is up is then rewritten from it in place:
 *    truncated to the primary's valid bytes (what followed in the copy is
 *    a torn or unacknowledged tail, or an old generation), allocated to
 *    the same size, and the valid bytes copied over what it held.  A copy
 *    that kept up already holds those bytes, so a crash during the
 *    rewrite loses it nothing.  From then on every directory agrees.
 *  - a replica directory missing (down) at load gets no copy: it is not
 *    written until the group is loaded again with the directory up (the
 *    next open), which rewrites its copy.  Until then that directory alone
 *    holds only its snapshot, as a directory that was down misses records.
 *  - a directory that goes down while running: each append first looks at
 *    the catalog's down mask (one atomic load; the repair pass sets it for
 *    a vanished directory, a failed catalog write sets it at once) and
 *    closes (unmaps) the copies there for good; so does any failed call
 *    on a copy (map_write, map_sync, allocate; the primary's failures are
 *    the call's error).
 *    Between the directory vanishing and the pass noticing it (about a
 *    second), appends still go to the copy's mapping: a removed file stays
 *    mapped and allocated until unmapped, so these writes land in memory
 *    and go nowhere, harmlessly.  What a mapping can fault on is a page
 *    beyond the file's end (SIGBUS): no copy is ever shorter than jalloc
 *    (a copy that cannot grow with the primary is dropped before the
 *    append past it, and copies shrink only after the primary did), so
 *    that only happens if another process truncates a journal, which is
 *    as forbidden as for the primary; a device failing with I/O errors
 *    under an already allocated page is the one case left to the kernel.
 *  - reopened from a replica directory alone: that directory is dirs[0],
 *    its copy is the journal read, and its catalog holds the snapshot of
 *    the same generation, so it brings back every change acknowledged
 *    while the directory was up and its copy written, which is every one
 *    up to the failure of another directory.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue.h"

#define JOURNAL_MAGIC     0x324a5153u /* "SQJ2" little-endian */
#define JOURNAL_MAGIC_V1  0x314a5153u /* "SQJ1": no words, still read  */
#define JOURNAL_HEADER    40
#define JOURNAL_HEADER_V1 16
#define JOURNAL_ENTRY     24
#define BOOT_WORD         16 /* the words' places in the header */
#define END_WORD          24
#define END_SYNCED        0x80000000u /* the end word's synced bit       */
#define END_COUNT         0x7fffffffu
#define JOURNAL_LIMIT     (64u << 20) /* checkpoint past this             */
#define JOURNAL_BYTES     (JOURNAL_LIMIT + 4096) /* the mapping's size       */
#define HEADER_SPAN       (JOURNAL_HEADER + JOURNAL_ENTRY) /* what a reset writes */

/* Checkpoint past this many bytes of journal (<= JOURNAL_LIMIT); tests
 * lower it to make checkpoints frequent. */
uint64_t queue_journal_limit = JOURNAL_LIMIT;
/* The file grows by this much (a multiple of the page size); tests lower
 * it to make the journal grow during a few acknowledgements. */
uint64_t queue_journal_grow = 1u << 20;
#define JOURNAL_GROW   queue_journal_grow
#define SNAP_HEADER_V1 28 /* version 1: no outcomes, no CRC         */
#define SNAP_HEADER    36
#define SNAP_VERSION   2
#define SNAP_OUTCOME   12 /* bytes of one kept outcome              */
#define WIN_MIN        1024

/* A header word: lo, and the CRC-32C of lo and the generation gen in the
 * high 32 bits, so that a damaged word or one of another generation fails
 * word_open(). */
static uint64_t
word_seal(uint32_t lo, uint32_t gen)
{
    uint8_t b[8];
    samsa__le_put(b, lo, 4);
    samsa__le_put(b + 4, gen, 4);
    return lo | (uint64_t)samsa__crc32c(0, b, 8) << 32;
}

/* The low half of the word at p when it is whole and of generation gen. */
static bool
word_open(const uint8_t *p, uint32_t gen, uint32_t *lo)
{
    uint64_t w = samsa__le_get(p, 8);
    *lo = (uint32_t)w;
    return word_seal(*lo, gen) == w;
}

/* Write len bytes of buf at off of the journal file f: the mapped
 * append of the I/O table (io.h), a copy into the page cache. */
static int
jwrite(samsa *s, samsa_io_file *f, uint64_t off, const void *buf, size_t len)
{
    int rc = s->io->map_write(s->io, f, off, buf, len);
    return rc == 0 ? 0 : samsa__from_errno(rc);
}

/* Store the word w at off (8-byte aligned) of f in one store, after every
 * store before it (map_write's promise for a word): a process killed at
 * any point leaves the old word or the new one, and the new one only over
 * what it vouches for. */
static int
word_put(samsa *s, samsa_io_file *f, uint64_t off, uint64_t w)
{
    uint8_t b[8];
    samsa__le_put(b, w, 8);
    return jwrite(s, f, off, b, 8);
}

/* The end word of a journal jsize bytes long, synced or not. */
static uint64_t
end_word(uint64_t jsize, bool synced, uint32_t gen)
{
    uint32_t n = (uint32_t)((jsize - JOURNAL_HEADER) / JOURNAL_ENTRY);
    return word_seal(n | (synced ? END_SYNCED : 0), gen);
}

qrec *
qstate_rec(qpart *qp, int64_t offset)
{
    assert(offset >= qp->start && offset < qp->next);
    return &qp->win[(uint64_t)offset & (qp->cap - 1)];
}

int
qstate_reserve(qpart *qp, int64_t upto)
{
    assert(upto - qp->start <= QUEUE_MAX_INFLIGHT);
    uint64_t need = (uint64_t)(upto - qp->start);
    if (need <= qp->cap)
        return 0;
    uint32_t cap = qp->cap ? qp->cap : WIN_MIN;
    while (cap < need)
        cap *= 2;
    qrec *w = calloc(cap, sizeof *w);
    if (w == NULL)
        return SAMSA_ENOMEM;
    for (int64_t o = qp->start; o < qp->next; o++)
        w[(uint64_t)o & (cap - 1)] = qp->win[(uint64_t)o & (qp->cap - 1)];
    free(qp->win);
    qp->win = w;
    qp->cap = cap;
    return 0;
}

/* Keep the outcome of the finished record r at offset as it leaves the
 * window.  Out of memory, it is not kept: the sender gets
 * SAMSA_EFORGOTTEN, never a wrong outcome. */
static void
outcome_keep(qpart *qp, int64_t offset, const qrec *r)
{
    if (qp->done == NULL) {
        qp->done = malloc(QUEUE_OUTCOMES * sizeof *qp->done);
        if (qp->done == NULL)
            return;
        for (int i = 0; i < QUEUE_OUTCOMES; i++)
            qp->done[i].offset = -1;
    }
    qp->done[(uint64_t)offset & (QUEUE_OUTCOMES - 1)] =
        (qdone){offset, r->count, r->state};
}

int
qstate_outcome(const qpart *qp, int64_t offset, uint8_t *state, uint16_t *count)
{
    if (offset >= qp->next)
        return 1;
    if (offset >= qp->start) {
        const qrec *r = &qp->win[(uint64_t)offset & (qp->cap - 1)];
        *state = r->state;
        *count = r->count;
        return QS_DONE(r->state) ? 0 : 1;
    }
    const qdone *d = qp->done != NULL
                         ? &qp->done[(uint64_t)offset & (QUEUE_OUTCOMES - 1)]
                         : NULL;
    if (d == NULL || d->offset != offset || qp->start - offset > QUEUE_OUTCOMES)
        return SAMSA_EFORGOTTEN;
    *state = d->state;
    *count = d->count;
    return 0;
}

/* Apply a change to the window (the live path and replay both). */
static void
apply(qpart *qp, int64_t offset, uint32_t n, uint8_t state, uint16_t count)
{
    assert(offset >= qp->start && offset <= qp->next);
    for (int64_t o = offset; o < offset + (int64_t)n; o++) {
        if (o == qp->next) {
            qp->next++;
            /* not yet AVAILABLE, for navail's sake */
            *qstate_rec(qp, o) = (qrec){0, 0, 0, QS_ACQUIRED};
        }
        qrec *r = qstate_rec(qp, o);
        qp->navail -= r->state == QS_AVAILABLE;
        qp->navail += state == QS_AVAILABLE;
        r->state = state;
        r->count = count;
    }
    while (qp->start < qp->next && QS_DONE(qstate_rec(qp, qp->start)->state)) {
        outcome_keep(qp, qp->start, qstate_rec(qp, qp->start));
        qp->start++;
    }
}

static void
entry_encode(uint8_t *e, int64_t offset, uint32_t n, uint8_t state,
             uint16_t count, uint32_t gen)
{
    memset(e, 0, JOURNAL_ENTRY);
    samsa__le_put(e + 4, n, 4);
    samsa__le_put(e + 8, (uint64_t)offset, 8);
    samsa__le_put(e + 16, count, 2);
    e[18] = state;
    samsa__le_put(e + 20, gen, 4);
    samsa__le_put(e, samsa__crc32c(0, e + 4, JOURNAL_ENTRY - 4), 4);
}

/* Make bytes [from, from + len) of f durable: an msync of the pages
 * holding them in the POSIX table. */
static int
sync_range(samsa *s, samsa_io_file *f, uint64_t from, uint64_t len)
{
    int rc = s->io->map_sync(s->io, f, from, len);
    return rc == 0 ? 0 : samsa__from_errno(rc);
}

/* Stop writing the copy on dirs[d] for good (until the group is loaded
 * again, which rewrites it from the primary). */
static void
copy_drop(samsa *s, qpart *qp, int d)
{
    s->io->close(s->io, qp->cfile[d]);
    qp->cfile[d] = NULL;
}

/* The copies to write: drops those whose directory the catalog marked
 * down (it vanished, or a catalog write there failed) and returns the
 * number of directories to look at (0 when there are no copies). */
static int
copies_live(samsa *s, qpart *qp)
{
    if (s->ndirs == 1)
        return 0;
    uint32_t down = atomic_load(&s->cat.down);
    for (int d = 1; d < s->ndirs; d++)
        if (qp->cfile[d] != NULL && (down & (1u << d)))
            copy_drop(s, qp, d);
    return s->ndirs;
}

/* Write the header of an empty journal of generation gen (and no first
 * entry) at the start of f: the end word first, so that while the rest
 * is written it vouches for no entry of gen (and an old header is not
 * gen's: stale, ignored). */
static int
header_write(samsa *s, samsa_io_file *f, uint32_t gen, uint32_t boot,
             bool synced)
{
    static const uint8_t zeros[8 + JOURNAL_ENTRY];
    uint8_t b[16] = {0};
    samsa__le_put(b, JOURNAL_MAGIC, 4);
    samsa__le_put(b + 4, gen, 4);
    samsa__le_put(b + 8, samsa__crc32c(0, b, 8), 4);
    int rc = word_put(s, f, END_WORD, end_word(JOURNAL_HEADER, synced, gen));
    if (rc == 0)
        rc = word_put(s, f, BOOT_WORD, word_seal(boot, gen));
    if (rc == 0) /* no first entry */
        rc = jwrite(s, f, 32, zeros, sizeof zeros);
    return rc == 0 ? jwrite(s, f, 0, b, sizeof b) : rc;
}

/* Empty the journal and its copies and give them generation gen.  Entries
 * of older generations left in the files are ignored by replay.  When the
 * primary's header cannot be written (or synced), the journal stays at its
 * generation and size, behind the snapshot a checkpoint just committed:
 * the next change checkpoints again before it is appended (qstate_set). */
static int
journal_reset(samsa *s, qpart *qp, uint32_t gen)
{
    int ndirs = copies_live(s, qp);
    bool synced = s->sync == SAMSA_SYNC_ALWAYS;
    for (int d = 1; d < ndirs; d++)
        if (qp->cfile[d] != NULL &&
            (header_write(s, qp->cfile[d], gen, qp->boot, synced) != 0 ||
             (synced && sync_range(s, qp->cfile[d], 0, HEADER_SPAN) != 0)))
            copy_drop(s, qp, d); /* its header may be torn: stale, not wrong */
    int rc = header_write(s, qp->jf, gen, qp->boot, synced);
    if (rc == 0 && synced)
        rc = sync_range(s, qp->jf, 0, HEADER_SPAN);
    if (rc != 0)
        return rc;
    if (qp->jalloc > JOURNAL_GROW &&
        s->io->truncate(s->io, qp->jf, JOURNAL_GROW) == 0) {
        qp->jalloc = JOURNAL_GROW; /* give the space back */
        /* copies only after the primary: each stays >= jalloc bytes */
        for (int d = 1; d < ndirs; d++)
            if (qp->cfile[d] != NULL)
                (void)s->io->truncate(s->io, qp->cfile[d], JOURNAL_GROW);
    }
    qp->gen = gen;
    qp->jsize = JOURNAL_HEADER;
    return 0;
}

/* Append one entry (the caller made room) to the journal and its copies,
 * at the same offset in each. */
static int
journal_append(samsa *s, qpart *qp, const uint8_t *e)
{
    samsa_io *io = s->io;
    int ndirs = copies_live(s, qp);
    if (qp->jsize + JOURNAL_ENTRY > qp->jalloc) {
        int rc = io->allocate(io, qp->jf, qp->jalloc, JOURNAL_GROW);
        if (rc != 0)
            return samsa__from_errno(rc);
        /* A copy shorter than jalloc would SIGBUS on the next appends. */
        for (int d = 1; d < ndirs; d++)
            if (qp->cfile[d] != NULL &&
                io->allocate(io, qp->cfile[d], qp->jalloc, JOURNAL_GROW) != 0)
                copy_drop(s, qp, d);
        qp->jalloc += JOURNAL_GROW;
    }
    /* Each file's end word after its entry (and its msync): it vouches
     * only for entries that are there. */
    bool synced = s->sync == SAMSA_SYNC_ALWAYS;
    uint64_t end = end_word(qp->jsize + JOURNAL_ENTRY, synced, qp->gen);
    for (int d = 1; d < ndirs; d++)
        if (qp->cfile[d] != NULL &&
            (jwrite(s, qp->cfile[d], qp->jsize, e, JOURNAL_ENTRY) != 0 ||
             (synced &&
              sync_range(s, qp->cfile[d], qp->jsize, JOURNAL_ENTRY) != 0) ||
             word_put(s, qp->cfile[d], END_WORD, end) != 0))
            copy_drop(s, qp, d);
    int rc = jwrite(s, qp->jf, qp->jsize, e, JOURNAL_ENTRY);
    if (rc == 0 && synced)
        rc = sync_range(s, qp->jf, qp->jsize, JOURNAL_ENTRY);
    if (rc == 0)
        rc = word_put(s, qp->jf, END_WORD, end);
    if (rc != 0)
        return rc; /* jsize unchanged: the next append writes over it */
    qp->jsize += JOURNAL_ENTRY;
    return 0;
}

int
qstate_set(samsa *s, qgroup *g, qpart *qp, int64_t offset, uint32_t n,
           uint8_t state, uint16_t count)
{
    if (n == 0)
        return 0;
    if (state != QS_AVAILABLE) {
        int rc = 0;
        if (qp->jsize + JOURNAL_ENTRY > JOURNAL_BYTES &&
            (rc = qstate_checkpoint(s, g, qp)) != 0)
            return rc;
        /* A journal behind the catalog's snapshot is stale to a load: an
         * entry appended there, its checkpoint failing, was lost to a
         * crash (an accepted record delivered again).  So the checkpoint
         * comes first, and its failure is the call's. */
        if (qp->behind && (rc = qstate_checkpoint(s, g, qp)) != 0)
            return rc;
        uint8_t e[JOURNAL_ENTRY];
        uint8_t disk = state == QS_ACQUIRED ? QS_AVAILABLE : state;
        entry_encode(e, offset, n, disk, count, qp->gen);
        if ((rc = journal_append(s, qp, e)) != 0)
            return rc;
    }
    apply(qp, offset, n, state, count);
    if (qp->jsize > queue_journal_limit)
        (void)qstate_checkpoint(s, g, qp); /* the journal still holds it all */
    return 0;
}

/* ---- snapshot -------------------------------------------------------------
 */

/* CRC-32C of a version 2 snapshot: every byte but the CRC's own. */
static uint32_t
snap_crc(const uint8_t *b, size_t len)
{
    return samsa__crc32c(samsa__crc32c(0, b, 32), b + SNAP_HEADER,
                         len - SNAP_HEADER);
}

/* The kept outcomes a snapshot holds: those still within QUEUE_OUTCOMES
 * of start (older ones are forgotten, whatever the ring still has). */
static bool
outcome_saved(const qpart *qp, const qdone *d)
{
    return d->offset >= 0 && d->offset < qp->start &&
           qp->start - d->offset <= QUEUE_OUTCOMES;
}

/* qstate_checkpoint(), table_lock held (read) by the caller when
 * locked. */
static int
checkpoint(samsa *s, qgroup *g, qpart *qp, bool locked)
{
    if (qp->jmap == NULL)
        return 0;
    uint32_t n = (uint32_t)(qp->next - qp->start), m = 0;
    for (int i = 0; qp->done != NULL && i < QUEUE_OUTCOMES; i++)
        m += outcome_saved(qp, &qp->done[i]);
    size_t len = SNAP_HEADER + (size_t)n * 4 + (size_t)m * SNAP_OUTCOME;
    uint8_t *b = malloc(len);
    if (b == NULL)
        return SAMSA_ENOMEM;
    samsa__le_put(b, SNAP_VERSION, 4);
    samsa__le_put(b + 4, qp->gen + 1, 4);
    samsa__le_put(b + 8, (uint64_t)qp->start, 8);
    samsa__le_put(b + 16, (uint64_t)qp->next, 8);
    samsa__le_put(b + 24, n, 4);
    samsa__le_put(b + 28, m, 4);
    for (uint32_t i = 0; i < n; i++) {
        const qrec *r = qstate_rec(qp, qp->start + i);
        uint8_t *e = b + SNAP_HEADER + 4 * (size_t)i;
        samsa__le_put(e, r->count, 2);
        e[2] = r->state == QS_ACQUIRED ? QS_AVAILABLE : r->state;
        e[3] = 0;
    }
    uint8_t *e = b + SNAP_HEADER + 4 * (size_t)n;
    for (int i = 0; qp->done != NULL && i < QUEUE_OUTCOMES; i++) {
        const qdone *d = &qp->done[i];
        if (!outcome_saved(qp, d))
            continue;
        samsa__le_put(e, (uint64_t)d->offset, 8);
        samsa__le_put(e + 8, d->count, 2);
        e[10] = d->state;
        e[11] = 0;
        e += SNAP_OUTCOME;
    }
    samsa__le_put(b + 32, snap_crc(b, len), 4);
    /* Under table_lock, which samsa_topic_delete() holds across the commit
     * that drops the topic's snapshots and log_mark_deleted(): a snapshot
     * is never written back after that commit. */
    if (!locked)
        samsa__rdlock(&s->table_lock, SAMSA_RANK_TABLE);
    int rc = QPART_DELETED(qp)
                 ? SAMSA_EDELETED
                 : catalog_queue_put(&s->cat, g->name, g->topic_id,
                                     qp->partition, b, len);
    if (!locked)
        samsa__rwunlock(&s->table_lock, SAMSA_RANK_TABLE);
    free(b);
    if (rc == 0) {
        rc = journal_reset(s, qp, qp->gen + 1);
        qp->behind = rc != 0;
    }
    return rc;
}

int
qstate_checkpoint(samsa *s, qgroup *g, qpart *qp)
{
    return checkpoint(s, g, qp, false);
}

int
qstate_skip_deleted(samsa *s, qgroup *g, qpart *qp, bool locked)
{
    int64_t log_start = atomic_load(&qp->log->start);
    if (qp->start >= log_start)
        return 0;
    while (qp->start < log_start && qp->start < qp->next) {
        qp->navail -= qstate_rec(qp, qp->start)->state == QS_AVAILABLE;
        qp->start++;
    }
    if (qp->next < log_start)
        qp->start = qp->next = log_start;
    /* Their waits learn now: no acknowledgement will wake them. */
    if (atomic_load(&s->ack_watchers) > 0)
        ackwait_forget(s, g->name, g->topic, qp->partition, log_start);
    /* Failed, the journal must take no entry until a checkpoint succeeds
     * (behind): one about the moved window, replayed over the old
     * snapshot, would lie past its next, and the group would be refused
     * as damaged; and no later call comes back here to retry. */
    int rc = checkpoint(s, g, qp, locked);
    if (rc != 0)
        qp->behind = true;
    return rc;
}

/* Check a snapshot's layout (version 1 or 2): *hdr gets its header size,
 * *n its window entries, *m its kept outcomes. */
static int
snapshot_check(const uint8_t *b, size_t len, size_t *hdr, uint32_t *n,
               uint32_t *m)
{
    uint32_t v = len >= 4 ? (uint32_t)samsa__le_get(b, 4) : 0;
    *hdr = v == 1 ? SNAP_HEADER_V1 : SNAP_HEADER;
    if ((v != 1 && v != SNAP_VERSION) || len < *hdr)
        return SAMSA_ECORRUPT;
    *n = (uint32_t)samsa__le_get(b + 24, 4);
    *m = v == 1 ? 0 : (uint32_t)samsa__le_get(b + 28, 4);
    int64_t start = (int64_t)samsa__le_get(b + 8, 8),
            next = (int64_t)samsa__le_get(b + 16, 8);
    if (start < 0 || next < start || next - start != (int64_t)*n ||
        *n > QUEUE_MAX_INFLIGHT || *m > QUEUE_OUTCOMES ||
        len != *hdr + (size_t)*n * 4 + (size_t)*m * SNAP_OUTCOME ||
        (v == SNAP_VERSION && samsa__le_get(b + 32, 4) != snap_crc(b, len)))
        return SAMSA_ECORRUPT;
    return 0;
}

static int
snapshot_load(samsa *s, qgroup *g, qpart *qp)
{
    void *buf;
    size_t len, hdr;
    uint32_t n, m;
    int rc = catalog_queue_get(&s->cat, g->name, g->topic_id, qp->partition,
                               &buf, &len);
    if (rc == SAMSA_ENOTOPIC)
        return 0; /* a new group: gen 0, an empty window */
    if (rc != 0)
        return rc;
    const uint8_t *b = buf;
    rc = snapshot_check(b, len, &hdr, &n, &m);
    int64_t start = rc == 0 ? (int64_t)samsa__le_get(b + 8, 8) : 0;
    if (rc == 0) {
        qp->gen = (uint32_t)samsa__le_get(b + 4, 4);
        qp->start = qp->next = start;
        rc = qstate_reserve(qp, start + n);
    }
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        const uint8_t *e = b + hdr + 4 * (size_t)i;
        if (e[2] > QS_ARCHIVED || e[2] == QS_ACQUIRED || e[3] != 0)
            rc = SAMSA_ECORRUPT;
        else
            apply(qp, start + i, 1, e[2], (uint16_t)samsa__le_get(e, 2));
    }
    /* Outcomes below the window: each at most QUEUE_OUTCOMES below start,
     * one per slot of the ring, finished. */
    for (uint32_t i = 0; rc == 0 && i < m; i++) {
        const uint8_t *e = b + hdr + 4 * (size_t)n + SNAP_OUTCOME * (size_t)i;
        int64_t off = (int64_t)samsa__le_get(e, 8);
        qrec r = {0, 0, (uint16_t)samsa__le_get(e + 8, 2), e[10]};
        if (off < 0 || off >= qp->start || qp->start - off > QUEUE_OUTCOMES ||
            !QS_DONE(r.state) || r.state > QS_ARCHIVED || r.count == 0 ||
            e[11] != 0 ||
            (qp->done != NULL &&
             qp->done[(uint64_t)off & (QUEUE_OUTCOMES - 1)].offset >= 0))
            rc = SAMSA_ECORRUPT;
        else
            outcome_keep(qp, off, &r);
    }
    free(buf);
    return rc;
}

/* ---- journal replay -------------------------------------------------------
 */

/* Apply the valid entries of the journal buf (len bytes of file) to the
 * window, checking them as "Damage" above says.  *valid gets the bytes
 * they end at, 0 when the journal is not this generation's (stale: the
 * snapshot holds everything); *need the bytes the end word vouches for
 * (0: none), or on damage, the bytes a whole copy must have.  *v1 is set
 * for a version 1 journal.  SAMSA_ECORRUPT: damaged. */
static int
journal_replay(qpart *qp, const uint8_t *buf, uint64_t len, uint64_t *valid,
               uint64_t *need, bool *v1)
{
    *valid = *need = 0;
    *v1 = false;
    if (len < JOURNAL_HEADER)
        return 0; /* a file cut short: never one samsa wrote entries to */
    uint32_t magic = (uint32_t)samsa__le_get(buf, 4), end, boot;
    *v1 = magic == JOURNAL_MAGIC_V1;
    uint64_t pos = *v1 ? JOURNAL_HEADER_V1 : JOURNAL_HEADER;
    /* Read whatever the magic says: a damaged one may read "SQJ1". */
    if (word_open(buf + END_WORD, qp->gen, &end) &&
        ((end & END_SYNCED) ||
         (qp->boot != 0 && word_open(buf + BOOT_WORD, qp->gen, &boot) &&
          boot == qp->boot)))
        *need = JOURNAL_HEADER + (uint64_t)(end & END_COUNT) * JOURNAL_ENTRY;
    if ((magic != JOURNAL_MAGIC && !*v1) ||
        samsa__le_get(buf + 4, 4) != qp->gen ||
        samsa__le_get(buf + 8, 4) != samsa__crc32c(0, buf, 8))
        /* not this generation's, unless its end word vouches for entries */
        return *need > JOURNAL_HEADER ? SAMSA_ECORRUPT : 0;
    if (*v1)
        *need = 0; /* whole version 1 header: bytes 16..31 are an entry */
    int rc = 0;
    /* No snapshot (an empty window, generation 0): the window began where
     * the first entry is, which may be below today's log start (retention
     * moved it since); qstate_open moves it up afterwards. */
    const uint8_t *e0 = buf + pos;
    if (qp->gen == 0 && qp->cap == 0 && qp->start == qp->next &&
        pos + JOURNAL_ENTRY <= len &&
        samsa__le_get(e0, 4) == samsa__crc32c(0, e0 + 4, JOURNAL_ENTRY - 4) &&
        samsa__le_get(e0 + 20, 4) == 0 &&
        (int64_t)samsa__le_get(e0 + 8, 8) < qp->start &&
        (int64_t)samsa__le_get(e0 + 8, 8) >= 0)
        qp->start = qp->next = (int64_t)samsa__le_get(e0 + 8, 8);
    for (; pos + JOURNAL_ENTRY <= len; pos += JOURNAL_ENTRY) {
        const uint8_t *e = buf + pos;
        uint32_t n = (uint32_t)samsa__le_get(e + 4, 4);
        int64_t off = (int64_t)samsa__le_get(e + 8, 8);
        if (samsa__le_get(e, 4) != samsa__crc32c(0, e + 4, JOURNAL_ENTRY - 4) ||
            samsa__le_get(e + 20, 4) != qp->gen)
            break; /* the end: zeros, an older generation, torn, damaged */
        if (e[18] > QS_ARCHIVED || e[18] == QS_ACQUIRED || n == 0 ||
            off < qp->start || off > qp->next ||
            off + n - qp->start > QUEUE_MAX_INFLIGHT) {
            /* CRC-valid yet impossible: not a torn write but damage */
            rc = SAMSA_ECORRUPT;
            break;
        }
        if ((rc = qstate_reserve(qp, off + n)) != 0)
            break;
        apply(qp, off, n, e[18], (uint16_t)samsa__le_get(e + 16, 2));
    }
    *valid = pos;
    if (rc == SAMSA_ECORRUPT && *need < pos + JOURNAL_ENTRY)
        *need = pos + JOURNAL_ENTRY; /* a copy must have that entry whole */
    else if (rc == 0 && pos < *need)
        rc = SAMSA_ECORRUPT; /* acknowledged entries fail their CRC */
    return rc;
}

/* 0 when the file f (size bytes) begins as a journal samsa writes: empty,
 * a header (magic), zeros where a crash came before the header (written
 * last, header_write()), or a damaged header whose words are sealed with
 * the generation it names.  SAMSA_ECORRUPT for anything else: another's
 * file under a journal's name, which a load would cut and overwrite (as
 * for the logs' "Foreign files", log.c, the open refuses, changing
 * nothing; moving the file away lets the group load). */
static int
journal_foreign(samsa *s, samsa_io_file *f, uint64_t size)
{
    static const uint8_t zeros[JOURNAL_HEADER_V1];
    uint8_t b[END_WORD + 8];
    size_t len = size < sizeof b ? (size_t)size : sizeof b;
    if (len == 0)
        return 0;
    ssize_t got = s->io->read(s->io, f, b, len, 0);
    if (got != (ssize_t)len)
        return got < 0 ? samsa__from_errno((int)-got) : SAMSA_EIO;
    uint32_t magic = (uint32_t)samsa__le_get(b, len < 4 ? len : 4), lo;
    uint32_t gen = len < 8 ? 0 : (uint32_t)samsa__le_get(b + 4, 4);
    if ((len >= 4 && (magic == JOURNAL_MAGIC || magic == JOURNAL_MAGIC_V1)) ||
        memcmp(b, zeros, len < sizeof zeros ? len : sizeof zeros) == 0 ||
        (len == sizeof b && (word_open(b + END_WORD, gen, &lo) ||
                             word_open(b + BOOT_WORD, gen, &lo))))
        return 0;
    return SAMSA_ECORRUPT;
}

/* Open (creating) the journal file, allocate at least its first
 * JOURNAL_GROW bytes, and map it; SAMSA_ECORRUPT, unmapped, when the file
 * is not samsa's (journal_foreign()). */
static int
journal_map(samsa *s, qpart *qp, const char *path)
{
    samsa_io *io = s->io;
    uint64_t size = 0;
    const void *m;
    int rc = io->open(io, path, SAMSA_IO_CREATE, &qp->jf);
    if (rc == 0)
        rc = io->size(io, qp->jf, &size);
    if (rc == 0 && (rc = journal_foreign(s, qp->jf, size)) != 0)
        return rc;
    qp->jalloc = size > JOURNAL_BYTES ? JOURNAL_BYTES : size;
    if (rc == 0 && qp->jalloc < JOURNAL_GROW &&
        (rc = io->allocate(io, qp->jf, 0, JOURNAL_GROW)) == 0)
        qp->jalloc = JOURNAL_GROW;
    if (rc == 0 && (rc = io->map(io, qp->jf, JOURNAL_BYTES, &m)) == 0)
        qp->jmap = m;
    return samsa__from_errno(rc);
}

/* Make DIR/queues/GROUP under dirs[d] and put the journal's path in
 * path. */
static int
journal_path(samsa *s, int d, const qgroup *g, const qpart *qp, char *path,
             size_t cap)
{
    snprintf(path, cap, "%s/queues", s->dirs[d]);
    int rc = s->io->mkdir(s->io, path);
    snprintf(path, cap, "%s/queues/%s", s->dirs[d], g->name);
    if (rc == 0 || rc == -EEXIST)
        rc = s->io->mkdir(s->io, path);
    if (rc != 0 && rc != -EEXIST)
        return samsa__from_errno(-rc);
    snprintf(path, cap, "%s/queues/%s/%" PRIu64 "-%" PRId32 ".journal",
             s->dirs[d], g->name, g->topic_id, qp->partition);
    return 0;
}

/* Make the names of the journal on dirs[d] durable: the entries of
 * queues/, of GROUP/ and of the file (made by journal_path() and the
 * open).  Under SAMSA_SYNC_ALWAYS an acknowledgement returns once its page
 * is msync'ed, but msync makes the file's bytes durable, not the entries
 * naming it: without this, a power cut could take the whole new journal
 * back, and every change since the last snapshot with it (issue 10, found
 * by check_powercut.c).  Once per load, not per change. */
static int
journal_dirsync(samsa *s, int d, const qgroup *g)
{
    if (s->sync != SAMSA_SYNC_ALWAYS)
        return 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/queues/%s", s->dirs[d], g->name);
    int rc = s->io->dirsync(s->io, path);
    snprintf(path, sizeof path, "%s/queues", s->dirs[d]);
    if (rc == 0)
        rc = s->io->dirsync(s->io, path);
    if (rc == 0)
        rc = s->io->dirsync(s->io, s->dirs[d]);
    return rc == 0 ? 0 : samsa__from_errno(-rc);
}

/* Rewrite the copy on dirs[d] from the primary journal (replayed, jsize
 * and jalloc set) and map it; a failure leaves the copy unwritten. */
static void
copy_open(samsa *s, const qgroup *g, qpart *qp, int d)
{
    char path[4096];
    samsa_io *io = s->io;
    samsa_io_file *f;
    const void *m;
    qp->cfile[d] = NULL;
    if (journal_path(s, d, g, qp, path, sizeof path) != 0 ||
        io->open(io, path, SAMSA_IO_CREATE, &f) != 0)
        return;
    /* In place: bytes past jsize go (zeros: the end of replay); those
     * before are overwritten with the primary's, which a copy that kept
     * up already holds, so a crash here loses nothing it had.  A file
     * that is not samsa's is left alone, and the copy unwritten. */
    uint64_t size = 0;
    if (io->size(io, f, &size) == 0 && journal_foreign(s, f, size) == 0 &&
        journal_dirsync(s, d, g) == 0 && io->truncate(io, f, qp->jsize) == 0 &&
        io->allocate(io, f, 0, qp->jalloc) == 0 &&
        io->map(io, f, JOURNAL_BYTES, &m) == 0 &&
        jwrite(s, f, 0, qp->jmap, qp->jsize) == 0 &&
        (s->sync != SAMSA_SYNC_ALWAYS || sync_range(s, f, 0, qp->jsize) == 0))
        qp->cfile[d] = f;
    else
        io->close(io, f);
}

/* Forget the window, before a journal is replayed over the snapshot
 * again. */
static void
window_clear(qpart *qp, int64_t log_start)
{
    free(qp->win);
    free(qp->done);
    qp->win = NULL;
    qp->done = NULL;
    qp->cap = 0;
    qp->navail = 0;
    qp->gen = 0;
    qp->start = qp->next = log_start;
}

/* The window from the snapshot and the journal buf (len bytes) replayed
 * over it; the results are journal_replay()'s. */
static int
state_load(samsa *s, qgroup *g, qpart *qp, int64_t log_start,
           const uint8_t *buf, uint64_t len, uint64_t *valid, uint64_t *need,
           bool *v1)
{
    *valid = *need = 0;
    *v1 = false;
    window_clear(qp, log_start);
    int rc = snapshot_load(s, g, qp);
    return rc != 0 ? rc : journal_replay(qp, buf, len, valid, need, v1);
}

/* Write the journal src (valid bytes, whole) over the primary's. */
static int
journal_overwrite(samsa *s, qpart *qp, const uint8_t *src, uint64_t valid)
{
    if (valid > qp->jalloc) {
        uint64_t size =
            (valid + JOURNAL_GROW - 1) / JOURNAL_GROW * JOURNAL_GROW;
        size = size < JOURNAL_BYTES ? size : JOURNAL_BYTES;
        int rc = s->io->allocate(s->io, qp->jf, 0, size);
        if (rc != 0)
            return samsa__from_errno(rc);
        qp->jalloc = size;
    }
    return jwrite(s, qp->jf, 0, src, valid);
}

/* Open and map the copy of qp's journal on dirs[d] read only: 0, or 1
 * when there is none to read (no file, or too short for a header), or
 * the error that kept it from being read. */
static int
copy_map(samsa *s, const qgroup *g, const qpart *qp, int d, samsa_io_file **f,
         const void **m, uint64_t *len)
{
    char path[4096];
    samsa_io *io = s->io;
    int rc = journal_path(s, d, g, qp, path, sizeof path);
    if (rc != 0)
        return rc;
    if ((rc = io->open(io, path, SAMSA_IO_RDONLY, f)) != 0)
        return rc == -ENOENT ? 1 : samsa__from_errno(rc);
    *len = 0;
    if ((rc = io->size(io, *f, len)) == 0) {
        *len = *len < JOURNAL_BYTES ? *len : JOURNAL_BYTES;
        rc = *len < JOURNAL_HEADER ? 1 : io->map(io, *f, *len, m);
    }
    if (rc != 0)
        io->close(io, *f);
    return rc <= 0 ? samsa__from_errno(rc) : rc;
}

/* The primary journal is damaged: load the window from the first copy, on
 * a directory that is up, that is whole and holds at least need bytes
 * (every entry the primary's end word vouched for), and write that copy
 * over the primary.  SAMSA_ECORRUPT when no copy will do; the error of
 * one that could not be read when that one might have (a failed read is
 * no proof of damage: the journal must not be taken for lost). */
static int
repair_from_copies(samsa *s, qgroup *g, qpart *qp, int64_t log_start,
                   uint64_t need, uint64_t *valid, bool *v1)
{
    int ioerr = 0;
    for (int d = 1; d < s->ndirs; d++) {
        samsa_io_file *f;
        const void *m;
        uint64_t len;
        if (!s->disk_up[d])
            continue;
        int rc = copy_map(s, g, qp, d, &f, &m, &len);
        if (rc != 0) {
            ioerr = ioerr == 0 && rc < 0 ? rc : ioerr;
            continue;
        }
        uint64_t cneed;
        rc = state_load(s, g, qp, log_start, m, len, valid, &cneed, v1);
        if (rc == 0 && (*valid == 0 || *valid < need))
            rc = SAMSA_ECORRUPT; /* stale: it missed changes */
        if (rc == 0)
            rc = journal_overwrite(s, qp, m, *valid);
        s->io->close(s->io, f);
        if (rc != SAMSA_ECORRUPT)
            return rc;
    }
    return ioerr != 0 ? ioerr : SAMSA_ECORRUPT;
}

/* Cut the primary journal's file past keep bytes and allocate it again
 * (zeros): a journal loaded is followed by nothing of a lost past, and is
 * then byte for byte what copy_open() makes of each copy. */
static int
journal_cut(samsa *s, qpart *qp, uint64_t keep)
{
    int rc = s->io->truncate(s->io, qp->jf, keep);
    /* Until this succeeds nothing touches the mapping past keep. */
    if (rc == 0)
        rc = s->io->allocate(s->io, qp->jf, 0, qp->jalloc);
    return samsa__from_errno(rc);
}

/* The journal replayed (valid bytes, this version's) is the one appended
 * to from now on: the file past it is cut, so that appends never run into
 * entries of a lost past; what is kept is synced under SAMSA_SYNC_ALWAYS;
 * then the end word vouches for it and the boot word names this boot (in
 * that order: see "Damage"). */
static int
journal_adopt(samsa *s, qpart *qp, uint64_t valid)
{
    bool synced = s->sync == SAMSA_SYNC_ALWAYS;
    int rc = journal_cut(s, qp, valid);
    if (rc == 0 && synced)
        rc = sync_range(s, qp->jf, 0, valid);
    if (rc == 0)
        rc = word_put(s, qp->jf, END_WORD, end_word(valid, synced, qp->gen));
    if (rc == 0)
        rc = word_put(s, qp->jf, BOOT_WORD, word_seal(qp->boot, qp->gen));
    if (rc == 0)
        qp->jsize = valid;
    return rc;
}

int
qstate_open(samsa *s, qgroup *g, qpart *qp, int64_t log_start)
{
    char path[4096], boot[SAMSA_IO_BOOT_ID];
    qp->jf = NULL;
    qp->boot = 0;
    if (s->io->boot_id(s->io, boot) == 0)
        qp->boot = samsa__crc32c(0, boot, sizeof boot) | 1; /* never 0 */
    int rc = journal_path(s, 0, g, qp, path, sizeof path);
    if (rc != 0)
        return rc;
    uint64_t valid = 0, need = 0;
    bool v1 = false;
    rc = journal_map(s, qp, path);
    if (rc == 0)
        rc = journal_dirsync(s, 0, g);
    if (rc == 0)
        rc = state_load(s, g, qp, log_start, qp->jmap, qp->jalloc, &valid,
                        &need, &v1);
    /* A repair writes over the primary: never over a file not samsa's
     * (journal_map() refused it before mapping). */
    if (rc == SAMSA_ECORRUPT && s->ndirs > 1 && qp->jmap != NULL)
        rc = repair_from_copies(s, g, qp, log_start, need, &valid, &v1);
    if (rc == 0 && valid == 0 && (rc = journal_cut(s, qp, 0)) == 0)
        rc = journal_reset(s, qp, qp->gen); /* stale: the snapshot has all */
    else if (rc == 0 && v1)                 /* into this version's layout */
        rc = checkpoint(s, g, qp, true);
    else if (rc == 0)
        rc = journal_adopt(s, qp, valid);
    if (rc != 0)
        return rc;
    /* The copies become the primary's (disk_up is steady: the caller
     * holds table_lock); a directory down now gets its copy next time. */
    for (int d = 1; d < s->ndirs; d++)
        if (s->disk_up[d])
            copy_open(s, g, qp, d);
    /* Records the log no longer holds cannot be delivered: done. */
    if ((rc = qstate_skip_deleted(s, g, qp, true)) != 0)
        return rc;
    /* Records past the log end (a tail the log lost in a power cut,
     * with the journal's changes about them) no longer exist. */
    int64_t end = atomic_load(&qp->log->end);
    bool cut = qp->next > end;
    while (qp->next > end && qp->next > qp->start) {
        qp->navail -= qstate_rec(qp, qp->next - 1)->state == QS_AVAILABLE;
        qp->next--;
    }
    if (qp->start > end)
        qp->start = qp->next = end;
    atomic_store(&qp->expiry, INT64_MAX);
    /* Saved so at once: the log hands those offsets out again, to new
     * records, and a snapshot or journal still speaking of the old ones
     * would, replayed after a crash, finish the new ones unseen (old
     * states past the end) or skip them (a start past it), or refuse
     * the group (their new entries below that start). */
    return cut ? checkpoint(s, g, qp, true) : 0;
}

bool
qstate_is_journal(const char *path)
{
    uint8_t h[JOURNAL_HEADER_V1]; /* the part both versions share */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    bool ok = read(fd, h, sizeof h) == (ssize_t)sizeof h &&
              (samsa__le_get(h, 4) == JOURNAL_MAGIC ||
               samsa__le_get(h, 4) == JOURNAL_MAGIC_V1) &&
              samsa__le_get(h + 8, 4) == samsa__crc32c(0, h, 8);
    close(fd);
    return ok;
}

void
qstate_close(samsa *s, qpart *qp)
{
    if (qp->jf != NULL)
        s->io->close(s->io, qp->jf); /* unmaps jmap */
    qp->jmap = NULL;
    qp->jf = NULL;
    for (int d = 1; d < CATALOG_MAX_DISKS; d++)
        if (qp->cfile[d] != NULL)
            copy_drop(s, qp, d);
    free(qp->win);
    qp->win = NULL;
    free(qp->done);
    qp->done = NULL;
}
