/*
 * clock.c - the one clock of samsa: CLOCK_MONOTONIC in nanoseconds, the
 * deadlines made from it, and condition variables that wait on it.
 *
 * Every timeout, lock expiry and session deadline is a CLOCK_MONOTONIC
 * instant, so that a change of the wall clock (NTP, an administrator)
 * neither fires nor delays any of them.  Timestamps of records and time
 * retention use wall time, samsa__wall_ms(), which a test can set so that
 * retention_ms and segment_ms are tested without sleeping.
 */
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "samsa_int.h"

void
samsa__cond_init_monotonic(pthread_cond_t *cond)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &ca);
    pthread_condattr_destroy(&ca);
}

static int64_t
clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
samsa__now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* The coarse clock (a few ms resolution, no system call): for stamps
 * taken on every call whose deadlines are counted in seconds, such as a
 * group member's last heartbeat. */
int64_t
samsa__now_coarse_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC_COARSE);
}

int64_t
samsa__deadline_after(int timeout_ms)
{
    if (timeout_ms < 0)
        return -1;
    return samsa__now_ns() + (int64_t)timeout_ms * 1000000;
}

int
samsa__cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock,
                       int64_t deadline_ns)
{
    if (deadline_ns < 0)
        return pthread_cond_wait(cond, lock);
    struct timespec ts = {.tv_sec = deadline_ns / 1000000000,
                          .tv_nsec = deadline_ns % 1000000000};
    return pthread_cond_timedwait(cond, lock, &ts);
}

/* ---- the wall clock, cheaply ----------------------------------------------
 *
 * Record timestamps read the wall clock once per produce call or send.
 * clock_gettime(CLOCK_REALTIME) costs 25-50 ns on a virtual machine
 * whose clock source is kvm-clock (31 ns on the machine samsa is built
 * on, against 12 ns for rdtsc): a tenth of a one-record produce.  So on
 * x86-64 with an invariant TSC (CPUID 0x80000007 EDX bit 8: it ticks at
 * one rate whatever the core's frequency or sleep state), each thread
 * keeps an anchor, a TSC reading and the wall time taken with it, and
 * the time is the anchor's plus the ticks since, times the TSC's period.
 *
 * The period is learnt from two readings of one thread, each a
 * clock_gettime() between two rdtsc's that are close (tsc_pair: a
 * preemption between them would shift the reading), at least CAL_MIN_NS
 * apart.  Its error is at most the readings' (a few microseconds) over
 * the time between them, so an anchor serves at most 16 times that time
 * (a stamp is then off by under 0.2 ms), up to 2^31 ticks (under a
 * second at any TSC of 2.1 GHz or more; a TSC under 1 GHz is not used, so
 * the product below cannot overflow).  Then the wall clock is read
 * again: a step of it (an administrator, NTP) shows within a second, and
 * a slew (at most 500 ppm) moves a stamp by under 0.5 ms.  The period is
 * learnt again at each new anchor from readings as far apart as any
 * before (up to CAL_MAX_NS), so that a step of the wall clock between
 * the two readings it was learnt from, which skews it, stays in it for
 * about a second, not for the life of the process.
 * A thread moved to a core whose TSC is behind sees a huge tick count
 * (unsigned) and reads the wall clock.  Nothing that orders events or
 * times a wait reads this clock: those use CLOCK_MONOTONIC above. */

static _Atomic int64_t wall_set;  /* tests: the wall time; 0: the real one */
static _Atomic int64_t wall_step; /* tests: ns added to CLOCK_REALTIME     */

/* CLOCK_REALTIME, as a test may have stepped it. */
static int64_t
realtime_ns(void)
{
    return clock_ns(CLOCK_REALTIME) +
           atomic_load_explicit(&wall_step, memory_order_relaxed);
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>

#define WINDOW_MAX 31         /* log2 of the ticks an anchor may serve */
#define CAL_MIN_NS 10000000   /* the period's readings: at least apart  */
#define CAL_MAX_NS 1000000000 /* ... and at most (dns << 32 fits)     */
#define PAIR_TICKS 20000      /* a reading's two rdtsc's: at most apart */
#define TSC_NONE   UINT64_MAX /* tsc_cal: no usable TSC                */

/* What is learnt: ns per tick in 32.32 fixed point << 8, or'ed with the
 * log2 of the ticks an anchor may serve; 0 while nothing is. */
static _Atomic uint64_t tsc_cal;

typedef struct tsc_anchor {
    uint64_t tsc;    /* a TSC reading                          */
    int64_t ns;      /* CLOCK_REALTIME then                    */
    uint64_t mult;   /* ns per tick, 32.32                     */
    uint64_t window; /* ticks it serves; 0: no anchor          */
} tsc_anchor;

static _Thread_local tsc_anchor anchor;
static _Thread_local tsc_anchor cal; /* the period's first reading */

/* The wall clock in ns with the TSC reading *t that goes with it. */
static int64_t
tsc_pair(uint64_t *t)
{
    int64_t ns = 0;
    for (int i = 0; i < 3; i++) {
        uint64_t a = __rdtsc();
        ns = realtime_ns();
        uint64_t b = __rdtsc();
        *t = a + (b - a) / 2;
        if (b - a <= PAIR_TICKS)
            break;
    }
    return ns;
}

static bool
tsc_invariant(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8));
}

/* tsc_cal, learnt better from this thread's reading (t, ns) and its
 * first one when they are far enough apart; c: what was known. */
static uint64_t
tsc_learn(uint64_t t, int64_t ns, uint64_t c)
{
    /* asked once per thread: CPUID traps on a virtual machine */
    if (cal.tsc == 0 && !tsc_invariant()) {
        atomic_store(&tsc_cal, TSC_NONE);
        return TSC_NONE;
    }
    int64_t dns = ns - cal.ns;
    if (cal.tsc == 0 || t <= cal.tsc || dns < 0 || dns > CAL_MAX_NS) {
        cal = (tsc_anchor){.tsc = t, .ns = ns};
        return c;
    }
    if (dns < CAL_MIN_NS)
        return c;
    uint64_t ticks = t - cal.tsc;
    uint64_t m = ((uint64_t)dns << 32) / ticks;
    if (m == 0 || m >= 1ull << 32) { /* a TSC under 1 GHz, or nonsense */
        atomic_store(&tsc_cal, TSC_NONE);
        return TSC_NONE;
    }
    unsigned shift = 63 - (unsigned)__builtin_clzll(ticks) + 4; /* x16 */
    uint64_t nc = m << 8 | (shift < WINDOW_MAX ? shift : WINDOW_MAX);
    /* As wide a span as the one known, or wider: taken (the newest of
     * equals, so that an error stays no longer than the next learning). */
    while ((c & 0xff) <= (nc & 0xff) && c != TSC_NONE &&
           !atomic_compare_exchange_weak(&tsc_cal, &c, nc))
        ;
    return (c & 0xff) <= (nc & 0xff) ? nc : c;
}

static __attribute__((noinline)) int64_t
wall_ms_slow(void)
{
    uint64_t c = atomic_load_explicit(&tsc_cal, memory_order_relaxed);
    if (c == TSC_NONE)
        return realtime_ns() / 1000000;
    uint64_t t;
    int64_t ns = tsc_pair(&t);
    c = tsc_learn(t, ns, c);
    if (c != 0 && c != TSC_NONE)
        anchor = (tsc_anchor){
            .tsc = t, .ns = ns, .mult = c >> 8, .window = 1ull << (c & 0xff)};
    return ns / 1000000;
}

int64_t
samsa__wall_ms(void)
{
    int64_t ms = atomic_load_explicit(&wall_set, memory_order_relaxed);
    if (ms != 0)
        return ms;
    uint64_t d = __rdtsc() - anchor.tsc;
    if (d >= anchor.window)
        return wall_ms_slow();
    return (anchor.ns + (int64_t)((d * anchor.mult) >> 32)) / 1000000;
}

#else /* no TSC to read: the system's clock */

int64_t
samsa__wall_ms(void)
{
    int64_t ms = atomic_load_explicit(&wall_set, memory_order_relaxed);
    return ms != 0 ? ms : realtime_ns() / 1000000;
}

#endif

void
samsa__wall_ms_set(int64_t ms)
{
    atomic_store(&wall_set, ms);
}

void
samsa__wall_step(int64_t ns)
{
    atomic_fetch_add(&wall_step, ns);
}
