/*
 * sys_samsa.c - samsa under the standard workloads: one store per system
 * (with or without sync), a fresh topic per run, one samsa_produce() per
 * produce call to an explicit partition, a cursor per consumer.
 *
 *   samsa       SAMSA_SYNC_NONE: produce returns once the batch is in the
 *               page cache (survives kill -9, not a power cut);
 *   samsa-sync  SAMSA_SYNC_ALWAYS: produce returns once fdatasync() made
 *               it durable; concurrent producers share one sync.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "bench.h"
#include "systems.h"

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
