/*
 * sys_redis.c - Redis Streams through hiredis, on the redis-server that
 * peers.sh started on 127.0.0.1 (its port in SAMSA_BENCH_REDIS_PORT) with
 * appendonly yes and no RDB snapshots.  One stream per partition, XADD
 * with automatic IDs and two fields (k: the key, v: the value); a produce
 * call of n records is n XADDs pipelined, then their n replies.  One
 * connection per thread.  Consumers XREAD COUNT 1000 from the last ID
 * (with BLOCK when waiting).
 *
 *   redis-everysec  appendfsync everysec: the AOF is written before the
 *                   reply and synced once a second (survives a crash of
 *                   the server process: samsa without sync);
 *   redis-always    appendfsync always: synced before the reply; the
 *                   server shares one fsync among the clients it serves in
 *                   one event-loop turn (samsa-sync).
 */
#include "bench.h"
#include "systems.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_PARTS 4

typedef struct rlog {
    char key[MAX_PARTS][128]; /* the stream of each partition            */
    int parts;
    size_t vlen;
} rlog;

typedef struct rcons {
    rlog *l;
    int part;
    redisContext *c;
    redisReply *reply; /* the last XREAD's reply, or NULL              */
    size_t i;          /* the next entry of it to return               */
    char last[64];     /* the ID of the last entry returned            */
} rcons;

static int port;

static redisContext *
r_connect(void)
{
    struct timeval tv = {30, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c == NULL || c->err)
        bench_die("redis: connect to 127.0.0.1:%d: %s", port,
                  c != NULL ? c->errstr : "out of memory");
    BENCH_CHECK(redisSetTimeout(c, tv) == REDIS_OK, "redis: timeout");
    return c;
}

static redisReply *
r_command(redisContext *c, const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(c, fmt, arg);
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        bench_die("redis: %s %s: %s", fmt, arg, r != NULL ? r->str : c->errstr);
    return r;
}

static int
r_setup(bench_sys *sys)
{
    const char *p = getenv("SAMSA_BENCH_REDIS_PORT");
    if (p == NULL || (port = atoi(p)) <= 0) {
        bench_note("%s: skipped: SAMSA_BENCH_REDIS_PORT not set "
                   "(make bench-peers starts redis-server)\n",
                   sys->name);
        return 1;
    }
    redisContext *c = r_connect();
    freeReplyObject(r_command(c, "CONFIG SET appendonly %s", "yes"));
    freeReplyObject(r_command(c, "CONFIG SET appendfsync %s", sys->cfg));
    freeReplyObject(r_command(c, "INFO %s", "server"));
    redisFree(c);
    return 0;
}

static void *
r_open(bench_sys *sys, const char *name, int parts, size_t vlen)
{
    rlog *l = calloc(1, sizeof *l);
    BENCH_CHECK(l != NULL && parts <= MAX_PARTS, "redis: out of memory");
    l->parts = parts;
    l->vlen = vlen;
    redisContext *c = r_connect();
    for (int i = 0; i < parts; i++) {
        snprintf(l->key[i], sizeof l->key[i], "%s-%s-%d", sys->name, name, i);
        freeReplyObject(r_command(c, "DEL %s", l->key[i]));
    }
    redisFree(c);
    return l;
}

static void
r_drop(void *log)
{
    rlog *l = log;
    redisContext *c = r_connect();
    for (int i = 0; i < l->parts; i++)
        freeReplyObject(r_command(c, "DEL %s", l->key[i]));
    redisFree(c);
    free(l);
}

typedef struct rprod {
    rlog *l;
    redisContext *c;
} rprod;

static void *
r_producer(void *log)
{
    rprod *p = calloc(1, sizeof *p);
    BENCH_CHECK(p != NULL, "out of memory");
    p->l = log;
    p->c = r_connect();
    return p;
}

static void
r_produce(void *prod, int part, unsigned char *const *keys,
          unsigned char *const *values, size_t n)
{
    rprod *p = prod;
    const char *argv[7] = {"XADD", p->l->key[part], "*", "k", NULL, "v", NULL};
    size_t lens[7] = {
        4, strlen(p->l->key[part]), 1, 1, BENCH_KEY_LEN, 1, p->l->vlen};
    for (size_t i = 0; i < n; i++) {
        argv[4] = (const char *)keys[i];
        argv[6] = (const char *)values[i];
        if (redisAppendCommandArgv(p->c, 7, argv, lens) != REDIS_OK)
            bench_die("redis: XADD: %s", p->c->errstr);
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *r;
        if (redisGetReply(p->c, (void **)&r) != REDIS_OK || r == NULL)
            bench_die("redis: XADD: %s", p->c->errstr);
        if (r->type != REDIS_REPLY_STRING)
            bench_die("redis: XADD: %s",
                      r->type == REDIS_REPLY_ERROR ? r->str : "no ID");
        freeReplyObject(r);
    }
}

static void
r_producer_close(void *prod)
{
    rprod *p = prod;
    redisFree(p->c);
    free(p);
}

static void *
r_consumer(void *log, int part)
{
    rcons *c = calloc(1, sizeof *c);
    BENCH_CHECK(c != NULL, "out of memory");
    c->l = log;
    c->part = part;
    c->c = r_connect();
    snprintf(c->last, sizeof c->last, "0-0");
    return c;
}

/* The entries of an XREAD reply: [[stream, [[id, [f, v, ...]], ...]]]. */
static redisReply *
r_entries(redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
        r->element[0]->type != REDIS_REPLY_ARRAY ||
        r->element[0]->elements != 2)
        bench_die("redis: XREAD: unexpected reply");
    return r->element[0]->element[1];
}

static int
r_next(void *cons, int wait, const unsigned char **key,
       const unsigned char **value, size_t *vlen)
{
    rcons *c = cons;
    if (c->reply == NULL || c->i == r_entries(c->reply)->elements) {
        freeReplyObject(c->reply);
        c->reply = NULL;
        c->i = 0;
        const char *argv[8] = {"XREAD",
                               "COUNT",
                               "1000",
                               "BLOCK",
                               "10000",
                               "STREAMS",
                               c->l->key[c->part],
                               c->last};
        const char *nb[6] = {
            "XREAD", "COUNT", "1000", "STREAMS", c->l->key[c->part], c->last};
        redisReply *r = wait ? redisCommandArgv(c->c, 8, argv, NULL)
                             : redisCommandArgv(c->c, 6, nb, NULL);
        if (r == NULL || r->type == REDIS_REPLY_ERROR)
            bench_die("redis: XREAD: %s", r != NULL ? r->str : c->c->errstr);
        if (r->type == REDIS_REPLY_NIL) {
            freeReplyObject(r);
            return 0;
        }
        c->reply = r;
        if (r_entries(r)->elements == 0)
            return 0;
    }
    redisReply *e = r_entries(c->reply)->element[c->i++];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[1]->elements != 4 ||
        e->element[1]->element[1]->len != BENCH_KEY_LEN)
        bench_die("redis: XREAD: unexpected entry");
    snprintf(c->last, sizeof c->last, "%s", e->element[0]->str);
    *key = (const unsigned char *)e->element[1]->element[1]->str;
    *value = (const unsigned char *)e->element[1]->element[3]->str;
    *vlen = e->element[1]->element[3]->len;
    return 1;
}

static void
r_consumer_close(void *cons)
{
    rcons *c = cons;
    freeReplyObject(c->reply);
    redisFree(c->c);
    free(c);
}

#define REDIS_SYS(name, durability, caps, slow, batch, cfg)                    \
    {                                                                          \
        name, durability, caps, slow, batch, cfg, r_setup, NULL, r_open,       \
            r_drop, r_producer, r_produce, NULL, r_producer_close, r_consumer, \
            r_next, r_consumer_close                                           \
    }

bench_sys bench_redis_everysec =
    REDIS_SYS("redis-everysec", "process",
              BENCH_CAN_PRODUCE | BENCH_CAN_READ | BENCH_CAN_LATENCY, 100, 50,
              "everysec");
bench_sys bench_redis_always =
    REDIS_SYS("redis-always", "fsync", BENCH_CAN_PRODUCE | BENCH_CAN_LATENCY,
              1000, 1000, "always");
