/*
 * pretouch.c - one thread per process that readies the pages a writer of
 * a shared file mapping will store into next, so that the writer does not
 * wait for them (Chronicle Queue and Aeron call theirs a pretoucher).
 *
 * Why.  The first store into a page of a new mapping costs twice over: the
 * kernel has to allocate and zero a page-cache page (io_posix.c populates
 * a megabyte at a time with one madvise(MADV_POPULATE_WRITE) for that),
 * and the processor has to learn the new page table entry.  On this
 * project's machine (a virtual machine with shadow page tables) the second
 * is a trap into the host on the first access of each page from user
 * space, about 5 us a page, whoever populated it: measured with 170-byte
 * copies into a fresh mapping, the populate cost 52 ns a copy and the
 * first touch of each page 200-210 ns a copy, and after a touch the copies
 * themselves ran at memory speed.  A one-record produce spent 30-45% of its
 * time in that copy.  Both costs are the page's, not the writer's: any
 * thread of the process can pay them, as long as it does so first.
 *
 * How.  The writer (io_posix.c, under the log's append lock) asks for the
 * pages up to some distance ahead of it; this thread populates them a
 * chunk at a time and reads one byte of each page from user space, then
 * publishes how far it got (done).  The writer never waits: a page not
 * ready when the writer reaches it is faulted by the writer, as before.
 *
 * Safety.  Reading a page of a shared mapping raises SIGBUS past EOF, so
 * the writer only asks for pages inside the file and its allocated blocks
 * (the prefix io_posix.c may copy into), and everything that could move
 * EOF below them or unmap them (truncate, a new mapping, close) first
 * calls pretouch_cancel(), which waits until this thread is out of the
 * range.  The read is of pages the writer is about to store into anyway,
 * so it adds no fault the write would not take.  The byte read is thrown
 * away; it may race with the writer's store to the same page when the
 * writer catches up, which on the hardware is a load that sees either
 * byte, and which ThreadSanitizer would rightly call a data race in C: its
 * builds populate and do not touch.
 *
 * The thread starts with the first request and stops when the last file
 * that asked is closed (pretouch_cancel(pt, true)), so a process without
 * an open store runs no thread of samsa's.  If it cannot be started,
 * pretouch_ask() says so and the writer populates for itself.
 *
 * Lock order: pt_lock is a leaf, taken under the log's append lock.
 */
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pretouch.h"

#if defined(__SANITIZE_THREAD__)
#define PRETOUCH_READS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PRETOUCH_READS 0
#endif
#endif
#ifndef PRETOUCH_READS
#define PRETOUCH_READS 1
#endif

/* Pages are readied this much at a time: a request is served a chunk per
 * turn, so that several writers advance together. */
#define PRETOUCH_CHUNK (64u << 10)

static pthread_mutex_t pt_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pt_work = PTHREAD_COND_INITIALIZER; /* a request   */
static pthread_cond_t pt_idle = PTHREAD_COND_INITIALIZER; /* busy cleared */
static samsa__pretouch *pt_head, *pt_tail; /* requests with pages to do  */
static samsa__pretouch *pt_busy; /* whose range the thread is in, unlocked */
static int pt_users;             /* requests registered (files that asked) */
static bool pt_running;          /* a thread of generation pt_gen runs      */
static uintptr_t pt_gen;         /* a thread of an older one stops          */
static pthread_t pt_thread;

static void
queue_push(samsa__pretouch *pt)
{
    pt->next = NULL;
    if (pt_tail != NULL)
        pt_tail->next = pt;
    else
        pt_head = pt;
    pt_tail = pt;
    pt->queued = true;
}

static void
queue_remove(samsa__pretouch *pt)
{
    samsa__pretouch **pp = &pt_head, *prev = NULL;
    while (*pp != NULL && *pp != pt) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp == NULL)
        return;
    *pp = pt->next;
    if (pt_tail == pt)
        pt_tail = prev;
    pt->next = NULL;
    pt->queued = false;
}

/* Ready [from, to) of the mapping at base: populate, then read a byte of
 * each page.  A populate that fails (no memory, an old kernel) leaves the
 * pages to the writer's own faults, and they are not read: a page the
 * kernel could not bring in is no page to touch. */
static void
ready_pages(char *base, uint64_t from, uint64_t to)
{
    if (madvise(base + from, (size_t)(to - from), MADV_POPULATE_WRITE) != 0)
        return;
#if PRETOUCH_READS
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    for (uint64_t p = from; p < to; p += page)
        (void)*(volatile const char *)(base + p);
#endif
}

/* The thread of generation arg.  It stops when a newer one is asked for:
 * the last user's cancel moves pt_gen on, with the list empty and nothing
 * busy (every user's cancel waited for that), so a thread started right
 * after never shares a request with the one stopping. */
static void *
pretouch_main(void *arg)
{
    uintptr_t gen = (uintptr_t)arg;
    /* The lowest priority: it is worth running on a CPU nothing else
     * wants.  At normal priority, woken beside a reader spinning for its
     * next record, it preempted the reader for the length of a chunk, and
     * the hand-off's p99 at 100,000 records/s grew (see "Why" above).
     * Linux's nice is per thread, addressed by its id. */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
    samsa__lock(&pt_lock, SAMSA_RANK_LEAF);
    while (gen == pt_gen) {
        samsa__pretouch *pt = pt_head;
        if (pt == NULL) {
            pthread_cond_wait(&pt_work, &pt_lock);
            continue;
        }
        queue_remove(pt);
        char *base = pt->base;
        uint64_t from = atomic_load_explicit(&pt->done, memory_order_relaxed);
        uint64_t to = pt->want;
        if (to > from + PRETOUCH_CHUNK)
            to = from + PRETOUCH_CHUNK;
        pt_busy = pt;
        samsa__unlock(&pt_lock, SAMSA_RANK_LEAF);
        ready_pages(base, from, to);
        samsa__lock(&pt_lock, SAMSA_RANK_LEAF);
        pt_busy = NULL;
        pthread_cond_broadcast(&pt_idle);
        /* The writer may have moved the request on meanwhile (a gap: it
         * populated past it itself): what was readied is then not where
         * done says. */
        if (atomic_load_explicit(&pt->done, memory_order_relaxed) == from &&
            pt->base == base && pt->want >= to) {
            atomic_store_explicit(&pt->done, to, memory_order_release);
            if (pt->want > to)
                queue_push(pt); /* at the end: writers take turns */
        }
    }
    samsa__unlock(&pt_lock, SAMSA_RANK_LEAF);
    return NULL;
}

bool
pretouch_ask(samsa__pretouch *pt, char *base, uint64_t from, uint64_t to)
{
    samsa__lock(&pt_lock, SAMSA_RANK_LEAF);
    if (!pt_running)
        pt_running = pthread_create(&pt_thread, NULL, pretouch_main,
                                    (void *)pt_gen) == 0;
    bool ok = pt_running;
    if (ok) {
        if (!pt->registered) {
            pt->registered = true;
            pt_users++;
        }
        if (pt->base != base || pt->want < from) { /* a new run of pages */
            pt->base = base;
            pt->want = from;
            atomic_store_explicit(&pt->done, from, memory_order_relaxed);
        }
        if (to > pt->want) {
            pt->want = to;
            if (!pt->queued && pt_busy != pt)
                queue_push(pt);
            pthread_cond_signal(&pt_work);
        }
    }
    samsa__unlock(&pt_lock, SAMSA_RANK_LEAF);
    return ok;
}

uint64_t
pretouch_done(const samsa__pretouch *pt)
{
    return atomic_load_explicit(&pt->done, memory_order_acquire);
}

void
pretouch_cancel(samsa__pretouch *pt, bool forget)
{
    if (!pt->registered)
        return; /* never asked: the thread has never seen it */
    pthread_t stopping;
    bool join = false;
    samsa__lock(&pt_lock, SAMSA_RANK_LEAF);
    queue_remove(pt);
    while (pt_busy == pt)
        pthread_cond_wait(&pt_idle, &pt_lock);
    pt->want = 0;
    atomic_store_explicit(&pt->done, 0, memory_order_relaxed);
    pt->base = NULL;
    if (forget) {
        pt->registered = false;
        if (--pt_users == 0 && pt_running) {
            join = true;
            stopping = pt_thread;
            pt_running = false;
            pt_gen++;
            pthread_cond_broadcast(&pt_work);
        }
    }
    samsa__unlock(&pt_lock, SAMSA_RANK_LEAF);
    if (join)
        pthread_join(stopping, NULL);
}

void
pretouch_wait_idle(void)
{
    samsa__lock(&pt_lock, SAMSA_RANK_LEAF);
    while (pt_running && (pt_head != NULL || pt_busy != NULL))
        pthread_cond_wait(&pt_idle, &pt_lock);
    samsa__unlock(&pt_lock, SAMSA_RANK_LEAF);
}
