/*
 * prefetch.c - whether the processor can prefetch a line for writing
 * (samsa__prefetch_write() in samsa_int.h says why samsa does).
 *
 * PREFETCHW has its own CPUID bit (PRFCHW, leaf 0x80000001, ECX bit 8):
 * Intel processors before Broadwell lack it.  Asked once: CPUID traps into
 * the host on a virtual machine.  Two threads asking at once both store
 * the same answer.
 */
#include "samsa_int.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

_Atomic int samsa__prefetchw_ok = -1;

int
samsa__prefetchw_probe(void)
{
    int ok = 0;
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    ok = __get_cpuid(0x80000001, &a, &b, &c, &d) && (c & (1u << 8)) != 0;
#endif
    atomic_store_explicit(&samsa__prefetchw_ok, ok, memory_order_relaxed);
    return ok;
}
