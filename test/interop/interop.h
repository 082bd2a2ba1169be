/*
 * interop.h - what the listener's client programs (listener_rdkafka.c,
 * listener_group.c) share: a store with one topic served on loopback.
 */
#ifndef SAMSA_INTEROP_H
#define SAMSA_INTEROP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "samsa.h"

static const char *interop_prog; /* the program's name, for messages */
static int failures;             /* checks failed                     */

/* A check failed: say so (and give up past 20). */
static inline void
fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", interop_prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (++failures > 20)
        exit(1);
}

/* Open (create) the store at dir with topic (parts partitions) and a
 * listener on loopback (lc: its config, NULL the defaults); bootstrap gets its "host:port".  Exits the
 * program (status 1, a message naming prog) when any of it fails. */
static inline void
interop_serve_cfg(const char *prog, const char *dir, const char *topic,
                  int32_t parts, const samsa_listener_config *lc, samsa **s,
                  samsa_listener **l, char *bootstrap, size_t cap)
{
    samsa_options o = {.flags = SAMSA_OPEN_CREATE};
    interop_prog = prog;
    samsa_topic_config cfg = {.partitions = parts};
    if (samsa_open(dir, &o, s) != 0 || samsa_topic_create(*s, topic, &cfg) ||
        samsa_listener_open(*s, lc, l) != 0) {
        fprintf(stderr, "%s: cannot set up the store\n", prog);
        exit(1);
    }
    snprintf(bootstrap, cap, "127.0.0.1:%d", samsa_listener_port(*l));
}

/* The same with the listener's defaults. */
static inline void
interop_serve(const char *prog, const char *dir, const char *topic,
              int32_t parts, samsa **s, samsa_listener **l, char *bootstrap,
              size_t cap)
{
    interop_serve_cfg(prog, dir, topic, parts, NULL, s, l, bootstrap, cap);
}

#endif
