/*
 * cursor.h - what cursor.c offers the library besides the public cursor
 * calls.
 */
#ifndef SAMSA_CURSOR_H
#define SAMSA_CURSOR_H

#include "store/store.h"

/* Move a cursor to offset, keeping its place in the segment when offset is
 * a little ahead (the queue's many short hops). */
int cursor_goto(samsa_cursor *c, int64_t offset);

#endif
