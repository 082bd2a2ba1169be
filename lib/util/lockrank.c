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
static _Thread_local const char *held_name[HELD_MAX];
static _Thread_local int nheld;

void
samsa__rank_take(int rank, const char *name)
{
    for (int i = 0; i < nheld; i++)
        if (held[i] >= rank || held[i] == SAMSA_RANK_LEAF) {
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
    held[nheld++] = rank;
}

void
samsa__rank_drop(int rank)
{
    /* Locks are let go in any order: drop the innermost of this rank. */
    for (int i = nheld - 1; i >= 0; i--)
        if (held[i] == rank) {
            for (int k = i; k + 1 < nheld; k++) {
                held[k] = held[k + 1];
                held_name[k] = held_name[k + 1];
            }
            nheld--;
            return;
        }
    fprintf(stderr, "samsa: lock order: rank %d let go but not held\n", rank);
    abort();
}

#endif
