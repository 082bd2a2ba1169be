/*
 * lockrank.c - the lock order of lib/store/store.h's table, checked.
 *
 * In debug builds (SAMSA_DEBUG: the sanitizer builds of make check) every
 * ranked lock is taken through samsa__lock(), which first asserts that the
 * thread holds no lock of the same or a later rank, and no leaf: a lock
 * taken out of order aborts at once, in the test that took it, instead of
 * deadlocking one run in a million.  Each thread keeps the ranks it holds
 * on a small stack.  Release builds compile the checks away (samsa_int.h).
 */
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>

#include "samsa_int.h"

#ifdef SAMSA_DEBUG

#define HELD_MAX 16

static _Thread_local int held[HELD_MAX];
static _Thread_local long held_nth[HELD_MAX];
static _Thread_local const char *held_name[HELD_MAX];
static _Thread_local int nheld;

/* May a lock of rank (nth) be taken while lock i is held? */
static bool
rank_ok(int i, int rank, long nth)
{
    if (held[i] == SAMSA_RANK_LEAF)
        return false;
    if (held[i] == rank) /* several of one rank: ascending only */
        return nth >= 0 && held_nth[i] >= 0 && held_nth[i] < nth;
    return held[i] < rank;
}

void
samsa__rank_take(int rank, long nth, const char *name)
{
    for (int i = 0; i < nheld; i++)
        if (!rank_ok(i, rank, nth)) {
            fprintf(stderr,
                    "samsa: lock order: %s (rank %d) taken while holding %s "
                    "(rank %d); see lib/store/store.h\n",
                    name, rank, held_name[i], held[i]);
            void *bt[32];
            backtrace_symbols_fd(bt, backtrace(bt, 32), 2);
            abort();
        }
    if (nheld == HELD_MAX) {
        fprintf(stderr, "samsa: lock order: more than %d locks held\n",
                HELD_MAX);
        abort();
    }
    held_name[nheld] = name;
    held_nth[nheld] = nth;
    held[nheld++] = rank;
}

void
samsa__rank_drop(int rank, long nth)
{
    /* Locks are let go in any order: drop the innermost of this rank (and
     * this nth, when it is one of several). */
    for (int i = nheld - 1; i >= 0; i--)
        if (held[i] == rank && (nth < 0 || held_nth[i] == nth)) {
            for (int k = i; k + 1 < nheld; k++) {
                held[k] = held[k + 1];
                held_nth[k] = held_nth[k + 1];
                held_name[k] = held_name[k + 1];
            }
            nheld--;
            return;
        }
    fprintf(stderr, "samsa: lock order: rank %d let go but not held\n", rank);
    abort();
}

#endif
