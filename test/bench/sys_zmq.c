/*
 * sys_zmq.c - ZeroMQ inproc PUB/SUB between two threads of one process:
 * the latency floor of a hand-off that persists nothing.  One message per
 * record (the value followed by the 16-byte key), no high-water mark (so
 * nothing is dropped at 100,000/s), latency workloads only.
 */
#include "bench.h"
#include "systems.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

static void *ctx;

typedef struct zlog {
    void *pub;
    char endpoint[160];
    size_t vlen;
    unsigned char buf[BENCH_MAX_VALUE + BENCH_KEY_LEN];
} zlog;

typedef struct zcons {
    void *sub;
    int timeout; /* ZMQ_RCVTIMEO now set                     */
    unsigned char buf[BENCH_MAX_VALUE + BENCH_KEY_LEN];
} zcons;

#define CHECK(call)                                                            \
    do {                                                                       \
        if ((call) != 0)                                                       \
            bench_die("%s:%d: %s: %s", __FILE__, __LINE__, #call,              \
                      zmq_strerror(zmq_errno()));                              \
    } while (0)

static int
z_setup(bench_sys *sys)
{
    (void)sys;
    ctx = zmq_ctx_new();
    BENCH_CHECK(ctx != NULL, "zmq: %s", zmq_strerror(zmq_errno()));
    return 0;
}

static void
z_teardown(bench_sys *sys)
{
    (void)sys;
    zmq_ctx_term(ctx);
    ctx = NULL;
}

static void *
z_open(bench_sys *sys, const char *name, int parts, size_t vlen)
{
    zlog *l = calloc(1, sizeof *l);
    int zero = 0;
    BENCH_CHECK(l != NULL && parts == 1, "zmq: one partition");
    l->vlen = vlen;
    snprintf(l->endpoint, sizeof l->endpoint, "inproc://%s-%s", sys->name,
             name);
    l->pub = zmq_socket(ctx, ZMQ_PUB);
    BENCH_CHECK(l->pub != NULL, "zmq: %s", zmq_strerror(zmq_errno()));
    CHECK(zmq_setsockopt(l->pub, ZMQ_SNDHWM, &zero, sizeof zero));
    CHECK(zmq_setsockopt(l->pub, ZMQ_LINGER, &zero, sizeof zero));
    CHECK(zmq_bind(l->pub, l->endpoint));
    return l;
}

static void
z_drop(void *log)
{
    zlog *l = log;
    zmq_close(l->pub);
    free(l);
}

static void *
z_producer(void *log)
{
    return log;
}

static void
z_produce(void *prod, int part, unsigned char *const *keys,
          unsigned char *const *values, size_t n)
{
    zlog *l = prod;
    (void)part;
    for (size_t i = 0; i < n; i++) {
        memcpy(l->buf, values[i], l->vlen);
        memcpy(l->buf + l->vlen, keys[i], BENCH_KEY_LEN);
        if (zmq_send(l->pub, l->buf, l->vlen + BENCH_KEY_LEN, 0) < 0)
            bench_die("zmq: send: %s", zmq_strerror(zmq_errno()));
    }
}

static void
z_producer_close(void *prod)
{
    (void)prod;
}

static void *
z_consumer(void *log, int part)
{
    zlog *l = log;
    zcons *c = calloc(1, sizeof *c);
    int zero = 0;
    BENCH_CHECK(c != NULL && part == 0, "zmq: out of memory");
    c->sub = zmq_socket(ctx, ZMQ_SUB);
    BENCH_CHECK(c->sub != NULL, "zmq: %s", zmq_strerror(zmq_errno()));
    CHECK(zmq_setsockopt(c->sub, ZMQ_RCVHWM, &zero, sizeof zero));
    CHECK(zmq_setsockopt(c->sub, ZMQ_LINGER, &zero, sizeof zero));
    CHECK(zmq_setsockopt(c->sub, ZMQ_SUBSCRIBE, "", 0));
    CHECK(zmq_connect(c->sub, l->endpoint));
    c->timeout = -2;
    return c;
}

static int
z_next(void *cons, int wait, const unsigned char **key,
       const unsigned char **value, size_t *vlen)
{
    zcons *c = cons;
    int timeout = wait ? 10000 : 0;
    if (c->timeout != timeout) {
        CHECK(zmq_setsockopt(c->sub, ZMQ_RCVTIMEO, &timeout, sizeof timeout));
        c->timeout = timeout;
    }
    int n = zmq_recv(c->sub, c->buf, sizeof c->buf, 0);
    if (n < 0 && zmq_errno() == EAGAIN)
        return 0;
    BENCH_CHECK(n >= BENCH_KEY_LEN && (size_t)n <= sizeof c->buf,
                "zmq: recv: %s", n < 0 ? zmq_strerror(zmq_errno()) : "size");
    *value = c->buf;
    *vlen = (size_t)n - BENCH_KEY_LEN;
    *key = c->buf + *vlen;
    return 1;
}

static void
z_consumer_close(void *cons)
{
    zcons *c = cons;
    zmq_close(c->sub);
    free(c);
}

bench_sys bench_zmq = {"zmq-inproc",
                       "none",
                       BENCH_CAN_LATENCY | BENCH_PIN,
                       1,
                       1,
                       NULL,
                       z_setup,
                       z_teardown,
                       z_open,
                       z_drop,
                       z_producer,
                       z_produce,
                       NULL,
                       z_producer_close,
                       z_consumer,
                       z_next,
                       z_consumer_close};
