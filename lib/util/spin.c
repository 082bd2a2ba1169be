/*
 * spin.c - how a reader that reached the end of what it reads waits: it
 * polls on its CPU for a while, then sleeps until woken.
 *
 * A wake-up costs a system call on both sides (a futex wake by the
 * writer, the sleeper's return from its wait): about 5 us each on this
 * project's machine.  A reader still polling when the record comes costs
 * neither and has it within a fraction of a microsecond.  Polling costs
 * its CPU for as long as it lasts, so how long to poll is a bet on when
 * the next record comes.
 *
 * The spinner keeps the bet honest: it remembers how long this reader's
 * recent waits lasted (an average that moves an eighth of the way
 * towards a longer wait and half way towards a shorter one, so that one
 * late record does not stop the polling and an idle second is forgotten
 * after a few records; a wait counts as at most four times the longest
 * spin), and polls for twice that (at least SAMSA__SPIN_MIN_NS), or not
 * at all when records come more slowly than the longest spin would
 * cover.  So a reader of 10,000 records/s polls through each 100 us gap
 * and makes no system call, one of 1,000/s sleeps at once and spends
 * nothing on polling, and a reader whose records stop polls once more
 * and then sleeps.
 *
 * And at most one reader less than there are CPUs polls at once, in the
 * whole process (the others sleep at once): readers polling on every CPU
 * would starve the writers they wait for.
 */
#include <unistd.h>

#include "samsa_int.h"

/* The CPU's hint that this is a spin-wait loop (x86's pause): it yields
 * the core's resources to a sibling hyperthread and saves power. */
static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Readers polling now, process-wide, and how many may: one less than the
 * CPUs, at least one, so that polling readers never take every CPU from
 * the writers they wait for (0 until first asked). */
static _Atomic int spin_busy;
static _Atomic int spin_slots;
static _Atomic uint64_t spin_begun; /* polls begun: for the tests */

static int
spin_slots_get(void)
{
    int n = atomic_load_explicit(&spin_slots, memory_order_relaxed);
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 2 ? (int)(cpus > 4096 ? 4095 : cpus - 1) : 1;
        atomic_store_explicit(&spin_slots, n, memory_order_relaxed);
    }
    return n;
}

/* A slot to poll in, or false: every slot is taken. */
static bool
spin_slot_take(void)
{
    int max = spin_slots_get();
    int n = atomic_load_explicit(&spin_busy, memory_order_relaxed);
    do
        if (n >= max)
            return false;
    while (!atomic_compare_exchange_weak(&spin_busy, &n, n + 1));
    return true;
}

/* The clock is read every 16 polls: a pause is tens of cycles, a clock
 * read about as many ns, so the spin overshoots spin_ns by well under a
 * microsecond. */
bool
samsa__spin(bool (*ready)(const void *arg), const void *arg, int64_t spin_ns,
            int64_t deadline_ns)
{
    if (spin_ns <= 0 || !spin_slot_take())
        return ready(arg);
    atomic_fetch_add_explicit(&spin_begun, 1, memory_order_relaxed);
    int64_t until = samsa__now_ns() + spin_ns;
    if (deadline_ns >= 0 && deadline_ns < until)
        until = deadline_ns;
    bool got;
    for (unsigned i = 1;; i++) {
        if ((got = ready(arg)))
            break;
        cpu_relax();
        if (i % 16 == 0 && samsa__now_ns() >= until) {
            got = ready(arg);
            break;
        }
    }
    atomic_fetch_sub(&spin_busy, 1);
    return got;
}

int
samsa__spin_busy(void)
{
    return atomic_load(&spin_busy);
}

uint64_t
samsa__spin_begun(void)
{
    return atomic_load(&spin_begun);
}

int64_t
samsa__spinner_budget(const samsa__spinner *sp, int64_t max_ns)
{
    if (max_ns <= 0)
        return 0;
    if (atomic_load_explicit(&sp->waits, memory_order_relaxed) == 0)
        return max_ns; /* nothing learnt: the longest, as a fixed spin */
    int64_t avg = atomic_load_explicit(&sp->avg_ns, memory_order_relaxed);
    if (avg > max_ns)
        return 0; /* records come more slowly than a spin would cover */
    if (avg > max_ns / 2)
        return max_ns;
    int64_t least = max_ns < SAMSA__SPIN_MIN_NS ? max_ns : SAMSA__SPIN_MIN_NS;
    return 2 * avg < least ? least : 2 * avg;
}

void
samsa__spinner_learn(samsa__spinner *sp, int64_t waited_ns, int64_t max_ns)
{
    int64_t w = waited_ns < 0 ? 0 : waited_ns;
    if (max_ns > 0 && w > 4 * max_ns)
        w = 4 * max_ns;
    uint32_t n = atomic_load_explicit(&sp->waits, memory_order_relaxed);
    int64_t avg = atomic_load_explicit(&sp->avg_ns, memory_order_relaxed);
    /* Slow to rise, quick to fall: one late record (the producer held
     * up a moment) must not stop the polling for the records after it. */
    int64_t next = n == 0 ? w : w > avg ? (7 * avg + w) / 8 : (avg + w) / 2;
    atomic_store_explicit(&sp->avg_ns, next, memory_order_relaxed);
    if (n < UINT32_MAX)
        atomic_store_explicit(&sp->waits, n + 1, memory_order_relaxed);
}
