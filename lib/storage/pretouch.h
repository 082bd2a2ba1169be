/*
 * pretouch.h - a thread that gets a writer's next pages of a shared file
 * mapping ready before the writer reaches them (pretouch.c).
 */
#ifndef SAMSA_PRETOUCH_H
#define SAMSA_PRETOUCH_H

#include "util/samsa_int.h"

#include <sys/mman.h>

/* Both the writer (io_posix.c) and the pretoucher populate with it. */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older kernels say EINVAL */
#endif

/* One writer's requests, embedded in what it writes (io_posix.c's file).
 * Zeroed: nothing asked.  The writer owns it; the pretoucher reads and
 * advances it under the pretoucher's lock, and `done` without. */
typedef struct samsa__pretouch {
    char *base;                   /* the mapping                           */
    uint64_t want;                /* pages below this are asked for        */
    _Atomic uint64_t done;        /* pages below this are ready            */
    bool queued;                  /* on the pretoucher's list              */
    bool registered;              /* counted among the pretoucher's users  */
    struct samsa__pretouch *next; /* the list                              */
} samsa__pretouch;

/* Ask for the pages of [from, to) of the mapping at base to be populated
 * and touched; from is where the writer's own pages end (done starts
 * there, or where the last request got to).  Never waits; false when
 * there is no pretoucher (it could not be started), and the writer
 * populates for itself.  The range must lie inside the file and its
 * allocated blocks, and stay so until pretouch_cancel(): the pages are
 * read. */
bool pretouch_ask(samsa__pretouch *pt, char *base, uint64_t from, uint64_t to);

/* Where the pages ready end. */
uint64_t pretouch_done(const samsa__pretouch *pt);

/* Forget pt's requests, waiting for a range being touched to be done:
 * after it, nothing reads the mapping for pt, which may then be unmapped
 * or cut.  forget: pt goes too (its file closes); the last user's going
 * stops the thread. */
void pretouch_cancel(samsa__pretouch *pt, bool forget);

/* For tests: wait until every page asked for is ready (or the thread
 * could not take it), so that what is populated can be asserted. */
void pretouch_wait_idle(void);

#endif
