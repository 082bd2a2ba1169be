/*
 * sys_nats.c - NATS JetStream with the file store, through libnats, on the
 * `nats-server -js` that peers.sh started on 127.0.0.1 (its port in
 * SAMSA_BENCH_NATS_PORT, its store on the same disk as the others).  One
 * stream per partition with one subject; the message is the value followed
 * by the 16-byte key.  One connection per thread.  Consumers are ordered
 * push consumers (js_SubscribeSync, Ordered) read with NextMsg.
 *
 *   nats-ack    a produce call returns once the server acknowledged all
 *               its records: js_Publish for one record, js_PublishAsync of
 *               all of them then js_PublishAsyncComplete for 100 (what a
 *               samsa produce call promises);
 *   nats-async  js_PublishAsync only; the producer waits for the
 *               acknowledgements once, at the end (what Kafka producers
 *               do).
 *
 * Durability: nats-server 2.9 writes an acknowledged message to its block
 * file soon after, and fsyncs every 2 minutes (sync_interval; no "sync
 * every message" setting before 2.10): it is comparable with samsa
 * without sync, not with samsa-sync.
 */
#include "bench.h"
#include "systems.h"

#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_PARTS 4

typedef struct nlog {
    char stream[MAX_PARTS][128], subject[MAX_PARTS][128];
    int parts;
    size_t vlen;
    int ack; /* nats-ack: every produce call waits      */
} nlog;

typedef struct nconn {
    natsConnection *nc;
    jsCtx *js;
} nconn;

static char url[64];

#define CHECK(call)                                                            \
    do {                                                                       \
        natsStatus s_ = (call);                                                \
        if (s_ != NATS_OK)                                                     \
            bench_die("%s:%d: %s: %s", __FILE__, __LINE__, #call,              \
                      natsStatus_GetText(s_));                                 \
    } while (0)

static void
n_puberr(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    (void)js;
    (void)closure;
    bench_die("nats: asynchronous publish failed: %s",
              pae->ErrText != NULL ? pae->ErrText
                                   : natsStatus_GetText(pae->Err));
}

static void
n_connect(nconn *c)
{
    jsOptions o;
    CHECK(natsConnection_ConnectTo(&c->nc, url));
    CHECK(jsOptions_Init(&o));
    o.Wait = 30000;
    o.PublishAsync.ErrHandler = n_puberr;
    o.PublishAsync.MaxPending = 4096;
    CHECK(natsConnection_JetStream(&c->js, c->nc, &o));
}

static void
n_disconnect(nconn *c)
{
    jsCtx_Destroy(c->js);
    natsConnection_Destroy(c->nc);
}

static int
n_setup(bench_sys *sys)
{
    const char *p = getenv("SAMSA_BENCH_NATS_PORT");
    if (p == NULL || atoi(p) <= 0) {
        bench_note("%s: skipped: SAMSA_BENCH_NATS_PORT not set "
                   "(make bench-peers starts nats-server)\n",
                   sys->name);
        return 1;
    }
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", atoi(p));
    return 0;
}

static void *
n_open(bench_sys *sys, const char *name, int parts, size_t vlen)
{
    nlog *l = calloc(1, sizeof *l);
    nconn c;
    BENCH_CHECK(l != NULL && parts <= MAX_PARTS, "nats: out of memory");
    l->parts = parts;
    l->vlen = vlen;
    l->ack = sys->cfg != NULL;
    n_connect(&c);
    for (int i = 0; i < parts; i++) {
        jsStreamConfig cfg;
        jsErrCode jerr = 0;
        const char *subj[1];
        snprintf(l->stream[i], sizeof l->stream[i], "%s_%s_%d", sys->name, name,
                 i);
        snprintf(l->subject[i], sizeof l->subject[i], "%s.%d", l->stream[i], i);
        subj[0] = l->subject[i];
        CHECK(jsStreamConfig_Init(&cfg));
        cfg.Name = l->stream[i];
        cfg.Subjects = subj;
        cfg.SubjectsLen = 1;
        cfg.Storage = js_FileStorage;
        natsStatus s = js_AddStream(NULL, c.js, &cfg, NULL, &jerr);
        if (s != NATS_OK)
            bench_die("nats: add stream %s: %s (%d)", l->stream[i],
                      natsStatus_GetText(s), (int)jerr);
    }
    n_disconnect(&c);
    return l;
}

static void
n_drop(void *log)
{
    nlog *l = log;
    nconn c;
    n_connect(&c);
    for (int i = 0; i < l->parts; i++)
        CHECK(js_DeleteStream(c.js, l->stream[i], NULL, NULL));
    n_disconnect(&c);
    free(l);
}

typedef struct nprod {
    nlog *l;
    nconn c;
    unsigned char buf[BENCH_MAX_VALUE + BENCH_KEY_LEN];
} nprod;

static void *
n_producer(void *log)
{
    nprod *p = calloc(1, sizeof *p);
    BENCH_CHECK(p != NULL, "out of memory");
    p->l = log;
    n_connect(&p->c);
    return p;
}

static void
n_produce(void *prod, int part, unsigned char *const *keys,
          unsigned char *const *values, size_t n)
{
    nprod *p = prod;
    int len = (int)(p->l->vlen + BENCH_KEY_LEN);
    for (size_t i = 0; i < n; i++) {
        memcpy(p->buf, values[i], p->l->vlen);
        memcpy(p->buf + p->l->vlen, keys[i], BENCH_KEY_LEN);
        if (p->l->ack && n == 1) {
            jsPubAck *pa = NULL;
            CHECK(js_Publish(&pa, p->c.js, p->l->subject[part], p->buf, len,
                             NULL, NULL));
            jsPubAck_Destroy(pa);
        } else {
            CHECK(js_PublishAsync(p->c.js, p->l->subject[part], p->buf, len,
                                  NULL));
        }
    }
    if (p->l->ack && n > 1)
        CHECK(js_PublishAsyncComplete(p->c.js, NULL));
}

static void
n_flush(void *prod)
{
    nprod *p = prod;
    CHECK(js_PublishAsyncComplete(p->c.js, NULL));
}

static void
n_producer_close(void *prod)
{
    nprod *p = prod;
    n_disconnect(&p->c);
    free(p);
}

typedef struct ncons {
    nconn c;
    natsSubscription *sub;
    natsMsg *msg; /* the last message returned, or NULL                */
    size_t vlen;
} ncons;

static void *
n_consumer(void *log, int part)
{
    nlog *l = log;
    ncons *c = calloc(1, sizeof *c);
    jsSubOptions so;
    jsErrCode jerr = 0;
    BENCH_CHECK(c != NULL, "out of memory");
    c->vlen = l->vlen;
    n_connect(&c->c);
    CHECK(jsSubOptions_Init(&so));
    so.Stream = l->stream[part];
    so.Ordered = true;
    natsStatus s =
        js_SubscribeSync(&c->sub, c->c.js, l->subject[part], NULL, &so, &jerr);
    if (s != NATS_OK)
        bench_die("nats: subscribe %s: %s (%d)", l->subject[part],
                  natsStatus_GetText(s), (int)jerr);
    CHECK(natsSubscription_SetPendingLimits(c->sub, -1, -1));
    return c;
}

static int
n_next(void *cons, int wait, const unsigned char **key,
       const unsigned char **value, size_t *vlen)
{
    ncons *c = cons;
    natsMsg_Destroy(c->msg);
    c->msg = NULL;
    natsStatus s = natsSubscription_NextMsg(&c->msg, c->sub, wait ? 10000 : 50);
    if (s == NATS_TIMEOUT)
        return 0;
    CHECK(s);
    int len = natsMsg_GetDataLength(c->msg);
    BENCH_CHECK(len >= BENCH_KEY_LEN, "nats: message of %d bytes", len);
    *value = (const unsigned char *)natsMsg_GetData(c->msg);
    *vlen = (size_t)len - BENCH_KEY_LEN;
    *key = *value + *vlen;
    return 1;
}

static void
n_consumer_close(void *cons)
{
    ncons *c = cons;
    natsMsg_Destroy(c->msg);
    natsSubscription_Unsubscribe(c->sub);
    natsSubscription_Destroy(c->sub);
    n_disconnect(&c->c);
    free(c);
}

#define NATS_SYS(name, caps, slow, batch, cfg)                                 \
    {                                                                          \
        name, "buffered", caps, slow, batch, cfg, n_setup, NULL, n_open,       \
            n_drop, n_producer, n_produce, n_flush, n_producer_close,          \
            n_consumer, n_next, n_consumer_close                               \
    }

static int yes = 1;
bench_sys bench_nats_ack = NATS_SYS(
    "nats-ack", BENCH_CAN_PRODUCE | BENCH_CAN_LATENCY, 1000, 100, &yes);
bench_sys bench_nats_async = NATS_SYS("nats-async",
                                      BENCH_CAN_PRODUCE | BENCH_CAN_READ |
                                          BENCH_CAN_LATENCY | BENCH_ASYNC,
                                      100, 100, NULL);
