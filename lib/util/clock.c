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

static _Atomic int64_t wall_set; /* tests: the wall time; 0: the real one */

int64_t
samsa__wall_ms(void)
{
    int64_t ms = atomic_load_explicit(&wall_set, memory_order_relaxed);
    return ms != 0 ? ms : clock_ns(CLOCK_REALTIME) / 1000000;
}

void
samsa__wall_ms_set(int64_t ms)
{
    atomic_store(&wall_set, ms);
}
