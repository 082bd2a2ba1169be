/*
 * produce.h - what produce.c offers the rest of the client layer (the
 * asynchronous producer, producer.c) besides samsa_produce().
 */
#ifndef SAMSA_PRODUCE_H
#define SAMSA_PRODUCE_H

#include "store/store.h"

/* Is r a record samsa_produce() takes: 0, SAMSA_EINVAL (NULL pointers
 * with lengths, a negative timestamp, reserved fields set), or
 * SAMSA_ETOOBIG (a length past INT32_MAX)?  Reads r only. */
int produce_record_check(const samsa_record *r);

/* Store an encoded batch (batch_finish()ed, count records, largest
 * timestamp max_ts) in topic_name's partition, compressed as the topic
 * says: as samsa_produce() stores one partition's records, *base getting
 * the first offset (-1 when nothing was stored).  topic_id, when not 0,
 * is the id of the topic the records were sent to: a topic of that name
 * with another (deleted and made again since) is SAMSA_ENOTOPIC.
 * keyless: a record of the batch has no key, which a compacted topic
 * refuses (SAMSA_EINVAL, as samsa_produce()).  SAMSA_ENOTOPIC,
 * SAMSA_ENOPARTITION, SAMSA_ETOOBIG (len past max_message_bytes), and
 * samsa_produce()'s errors. */
int produce_encoded(samsa *s, const char *topic_name, uint64_t topic_id,
                    int32_t partition, uint8_t *batch, size_t len,
                    int32_t count, bool keyless, int64_t max_ts, int64_t *base);

/* Tests: how many sends and flushes are inside a call of p now.  A test
 * that closes p under waiting calls must see them inside first: a call
 * that has not begun when close frees p would use a freed handle, which
 * no caller may do. */
int samsa__producer_inside(samsa_producer *p);

#endif
