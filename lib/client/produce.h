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

#endif
