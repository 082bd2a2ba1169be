/*
 * cursor.h - what cursor.c offers the library besides the public cursor
 * calls.
 */
#ifndef SAMSA_CURSOR_H
#define SAMSA_CURSOR_H

#include "storage/codec.h"
#include "store/store.h"

/* samsa_cursor_next(), except that the records it returns from
 * compressed batches stay valid until cursor_release() (a consumer's
 * poll_batch holds many at once), not only until the next call. */
int cursor_next_held(samsa_cursor *c, samsa_message *msg, int timeout_ms);
/* The caller holds no record of c any more: free what cursor_next_held()
 * kept. */
void cursor_release(samsa_cursor *c);
/* Move a cursor to offset, keeping its place in the segment when offset is
 * a little ahead (the queue's many short hops). */
int cursor_goto(samsa_cursor *c, int64_t offset);
/* The next whole batch as stored (log overhead included, CRC checked,
 * not decompressed): *batch points into the segment's mapping and stays
 * valid until the cursor's next call, or, with hold, until the caller
 * drops the reference *hold gets (segment_unref(seg->io, seg)).  The
 * batch holds the cursor's offset, possibly after records below it; the
 * cursor moves past it.  SAMSA_ETIMEDOUT at the end (no waiting),
 * SAMSA_EOFFSET below the start, SAMSA_ECORRUPT, SAMSA_EDELETED. */
int cursor_next_batch(samsa_cursor *c, const uint8_t **batch, size_t *len,
                      segment **hold);
/* The first offset in log, from its start, whose record has a timestamp
 * >= ts: 0 and *out; 1 when no record below the end has one (*out: the
 * end); SAMSA_ECORRUPT when a damaged batch might hold the answer,
 * SAMSA_EDELETED, SAMSA_ENOTSUP. */
int cursor_offset_for_time(samsa_log *log, int64_t ts, int64_t *out);
/* The partition c reads (one topic's: a topic created again under the
 * name has other partitions). */
const samsa_partition *cursor_partition(const samsa_cursor *c);

#endif
