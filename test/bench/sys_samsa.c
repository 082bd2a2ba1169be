/*
 * sys_samsa.c - samsa under the standard workloads: one store per system
 * (with or without sync), a fresh topic per run, one samsa_produce() per
 * produce call to an explicit partition, a cursor per consumer.
 *
 *   samsa       SAMSA_SYNC_NONE: produce returns once the batch is in the
 *               page cache (survives kill -9, not a power cut);
 *   samsa-sync  SAMSA_SYNC_ALWAYS: produce returns once fdatasync() made
 *               it durable; concurrent producers share one sync.
 *   samsa-async, samsa-async-sync
 *               the asynchronous producer (samsa_producer_send() per
 *               record, linger_ms -1: no waiting, as the kafka-mock
 *               line's linger.ms=0; batches form while the sender thread
 *               is busy), one producer per producing thread, delivery
 *               reports on (counted); flush waits for every report.  Not
 *               pinned: the sender thread would share the producing
 *               thread's CPU.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "bench.h"
#include "systems.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "samsa.h"

typedef struct sstore {
    int sync; /* a samsa_sync_policy                           */
    samsa *s; /* open between setup and teardown               */
    char dir[4200];
} sstore;

typedef struct slog {
    sstore *st;
    char topic[96];
    size_t vlen;
} slog;

typedef struct scons {
    samsa_cursor *c;
    samsa_message m;
} scons;

static int
s_setup(bench_sys *sys)
{
    sstore *st = sys->cfg;
    samsa_options opt;
    memset(&opt, 0, sizeof opt);
    opt.sync = st->sync;
    opt.flags = SAMSA_OPEN_CREATE;
    bench_path(st->dir, sizeof st->dir, sys->name);
    BENCH_SAMSA(samsa_open(st->dir, &opt, &st->s));
    return 0;
}

static void
s_teardown(bench_sys *sys)
{
    sstore *st = sys->cfg;
    BENCH_SAMSA(samsa_close(st->s));
    st->s = NULL;
    bench_rm_tree(st->dir);
}

static void *
s_open(bench_sys *sys, const char *name, int parts, size_t vlen)
{
    sstore *st = sys->cfg;
    slog *l = calloc(1, sizeof *l);
    BENCH_CHECK(l != NULL, "out of memory");
    samsa_topic_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.partitions = parts;
    l->st = st;
    l->vlen = vlen;
    snprintf(l->topic, sizeof l->topic, "%s", name);
    BENCH_SAMSA(samsa_topic_create(st->s, l->topic, &cfg));
    return l;
}

static void
s_drop(void *log)
{
    slog *l = log;
    BENCH_SAMSA(samsa_topic_delete(l->st->s, l->topic));
    free(l);
}

static void *
s_producer(void *log)
{
    return log;
}

static void
s_producer_close(void *prod)
{
    (void)prod;
}

static void
s_produce(void *prod, int part, unsigned char *const *keys,
          unsigned char *const *values, size_t n)
{
    slog *l = prod;
    samsa_record recs[BENCH_BATCH];
    memset(recs, 0, n * sizeof recs[0]);
    for (size_t i = 0; i < n; i++) {
        recs[i].key = keys[i];
        recs[i].key_len = BENCH_KEY_LEN;
        recs[i].value = values[i];
        recs[i].value_len = l->vlen;
    }
    BENCH_SAMSA(samsa_produce(l->st->s, l->topic, part, recs, n));
}

static void *
s_consumer(void *log, int part)
{
    slog *l = log;
    scons *c = calloc(1, sizeof *c);
    BENCH_CHECK(c != NULL, "out of memory");
    BENCH_SAMSA(samsa_cursor_open(l->st->s, l->topic, part,
                                  SAMSA_OFFSET_BEGINNING, &c->c));
    return c;
}

static int
s_next(void *cons, int wait, const unsigned char **key,
       const unsigned char **value, size_t *vlen)
{
    scons *c = cons;
    int rc = samsa_cursor_next(c->c, &c->m, wait ? 10000 : 0);
    if (rc == SAMSA_ETIMEDOUT)
        return 0;
    BENCH_SAMSA(rc);
    BENCH_CHECK(c->m.key_len == BENCH_KEY_LEN, "samsa: key of %zu bytes",
                c->m.key_len);
    *key = c->m.key;
    *value = c->m.value;
    *vlen = c->m.value_len;
    return 1;
}

static void
s_consumer_close(void *cons)
{
    scons *c = cons;
    samsa_cursor_close(c->c);
    free(c);
}

/* ---- the asynchronous producer ------------------------------------------ */

typedef struct aprod {
    slog *l;
    samsa_producer *p;
    _Atomic uint64_t reported; /* by the delivery callback */
    _Atomic uint64_t failed;
} aprod;

static void
a_delivered(const samsa_delivery_report *r, size_t n, void *ctx)
{
    aprod *a = ctx;
    uint64_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += r[i].error != 0;
    atomic_fetch_add(&a->failed, bad);
    atomic_fetch_add(&a->reported, n);
}

static void *
a_producer(void *log)
{
    aprod *a = calloc(1, sizeof *a);
    BENCH_CHECK(a != NULL, "out of memory");
    a->l = log;
    samsa_producer_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.linger_ms = -1;
    cfg.on_delivery = a_delivered;
    cfg.ctx = a;
    BENCH_SAMSA(samsa_producer_open(a->l->st->s, &cfg, &a->p));
    return a;
}

static void
a_produce(void *prod, int part, unsigned char *const *keys,
          unsigned char *const *values, size_t n)
{
    aprod *a = prod;
    for (size_t i = 0; i < n; i++) {
        samsa_record r;
        memset(&r, 0, sizeof r);
        r.key = keys[i];
        r.key_len = BENCH_KEY_LEN;
        r.value = values[i];
        r.value_len = a->l->vlen;
        BENCH_SAMSA(samsa_producer_send(a->p, a->l->topic, part, &r, NULL, -1));
    }
}

static void
a_flush(void *prod)
{
    aprod *a = prod;
    BENCH_SAMSA(samsa_producer_flush(a->p, -1));
    BENCH_CHECK(atomic_load(&a->failed) == 0, "samsa-async: %llu not stored",
                (unsigned long long)atomic_load(&a->failed));
}

static void
a_producer_close(void *prod)
{
    aprod *a = prod;
    BENCH_SAMSA(samsa_producer_close(a->p));
    free(a);
}

static sstore nosync = {SAMSA_SYNC_NONE, NULL, ""};
static sstore always = {SAMSA_SYNC_ALWAYS, NULL, ""};

#define SAMSA_SYS(name, durability, caps, slow, batch, cfg)                    \
    {                                                                          \
        name, durability, caps, slow, batch, cfg, s_setup, s_teardown, s_open, \
            s_drop, s_producer, s_produce, NULL, s_producer_close, s_consumer, \
            s_next, s_consumer_close                                           \
    }

bench_sys bench_samsa = SAMSA_SYS("samsa", "process",
                                  BENCH_CAN_PRODUCE | BENCH_CAN_READ |
                                      BENCH_CAN_LATENCY | BENCH_PIN,
                                  1, 1, &nosync);
bench_sys bench_samsa_sync = SAMSA_SYS(
    "samsa-sync", "fsync", BENCH_CAN_PRODUCE | BENCH_CAN_LATENCY | BENCH_PIN,
    1000, 1000, &always);

static sstore async_nosync = {SAMSA_SYNC_NONE, NULL, ""};
static sstore async_always = {SAMSA_SYNC_ALWAYS, NULL, ""};

#define SAMSA_ASYNC_SYS(name, durability, caps, slow, batch, cfg)              \
    {                                                                          \
        name, durability, caps, slow, batch, cfg, s_setup, s_teardown, s_open, \
            s_drop, a_producer, a_produce, a_flush, a_producer_close,          \
            s_consumer, s_next, s_consumer_close                               \
    }

bench_sys bench_samsa_async = SAMSA_ASYNC_SYS(
    "samsa-async", "process",
    BENCH_CAN_PRODUCE | BENCH_CAN_LATENCY | BENCH_ASYNC, 1, 1, &async_nosync);
bench_sys bench_samsa_async_sync = SAMSA_ASYNC_SYS(
    "samsa-async-sync", "fsync",
    BENCH_CAN_PRODUCE | BENCH_CAN_LATENCY | BENCH_ASYNC, 10, 10, &async_always);
