/*
 * listener.h - the Kafka listener's insides: the connection and the
 * request handlers' interface (listener.c runs the loop, kapi_*.c answer
 * the requests).
 */
#ifndef SAMSA_LISTENER_H
#define SAMSA_LISTENER_H

#include <pthread.h>
#include <stdatomic.h>

#include "kwire.h"
#include "store/store.h"

/* Kafka's error codes the listener answers with. */
enum {
    KERR_NONE = 0,
    KERR_UNKNOWN = -1,
    KERR_OFFSET_OUT_OF_RANGE = 1,
    KERR_CORRUPT_MESSAGE = 2,
    KERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
    KERR_REQUEST_TIMED_OUT = 7,
    KERR_MESSAGE_TOO_LARGE = 10,
    KERR_NOT_ENOUGH_REPLICAS = 19,
    KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20,
    KERR_INVALID_REQUIRED_ACKS = 21,
    KERR_UNSUPPORTED_VERSION = 35,
    KERR_INVALID_REQUEST = 42,
    KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
    KERR_KAFKA_STORAGE_ERROR = 56,
};

/* Kafka's API keys the listener serves. */
enum {
    KAPI_PRODUCE = 0,
    KAPI_FETCH = 1,
    KAPI_LIST_OFFSETS = 2,
    KAPI_METADATA = 3,
    KAPI_OFFSET_COMMIT = 8,
    KAPI_OFFSET_FETCH = 9,
    KAPI_FIND_COORDINATOR = 10,
    KAPI_API_VERSIONS = 18,
    KAPI_CREATE_TOPICS = 19,
    KAPI_DELETE_TOPICS = 20,
    KAPI_DELETE_RECORDS = 21,
    KAPI_CREATE_PARTITIONS = 37,
};

/* One request being answered: its header and body. */
typedef struct kreq {
    int16_t key, version;
    int32_t correlation;
    kread body; /* after the header */
} kreq;

/* A fetch waiting for data (kapi_fetch.c); the connection owns it. */
typedef struct kfetch kfetch;

typedef struct kconn {
    int fd;
    uint8_t *in; /* bytes read, not yet answered: whole frames first */
    size_t in_len, in_cap;
    kwrite out;     /* replies not yet sent, from byte `sent` on */
    size_t sent;    /* bytes of out sent (splices counted)       */
    kfetch *parked; /* a fetch waiting: the next requests wait behind it */
    struct kconn *prev, *next;
} kconn;

struct samsa_listener {
    samsa *s;
    samsa_listener_config cfg;
    char *advertised; /* the host told to clients                    */
    int port;
    int lfd, epfd, evfd; /* listening socket, epoll, eventfd (wake-ups) */
    pthread_t loop, waker;
    _Atomic bool stop;
    kconn *conns;
    int nconns;
    /* The waker (listener.c) watches the store while fetches wait. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int parked; /* fetches waiting, under lock                     */
};

/* What a handler did: answered (the reply is in out), parked (a fetch
 * waits; kapi_fetch_retry answers later), or the connection must close. */
enum { KANS_DONE = 0, KANS_PARKED = 1, KANS_CLOSE = -1 };

/* Handlers: decode req, answer into out (the body only: listener.c
 * frames it).  May park (fetch). */
int kapi_api_versions(samsa_listener *l, kconn *c, kreq *req, kwrite *out);
int kapi_metadata(samsa_listener *l, kconn *c, kreq *req, kwrite *out);
int kapi_produce(samsa_listener *l, kconn *c, kreq *req, kwrite *out);
int kapi_list_offsets(samsa_listener *l, kconn *c, kreq *req, kwrite *out);
int kapi_fetch(samsa_listener *l, kconn *c, kreq *req, kwrite *out);
int kapi_find_coordinator(samsa_listener *l, kconn *c, kreq *req, kwrite *out);
int kapi_offset_commit(samsa_listener *l, kconn *c, kreq *req, kwrite *out);
int kapi_offset_fetch(samsa_listener *l, kconn *c, kreq *req, kwrite *out);
int kapi_create_topics(samsa_listener *l, kconn *c, kreq *req, kwrite *out);
int kapi_delete_topics(samsa_listener *l, kconn *c, kreq *req, kwrite *out);
int kapi_create_partitions(samsa_listener *l, kconn *c, kreq *req, kwrite *out);
int kapi_delete_records(samsa_listener *l, kconn *c, kreq *req, kwrite *out);

/* A parked fetch: answer it into out if it has enough now or its time
 * is up (KANS_DONE), else KANS_PARKED; *deadline_ns gets when it ends. */
int kapi_fetch_retry(samsa_listener *l, kfetch *f, kwrite *out,
                     int64_t *deadline_ns);
/* The parked fetch's correlation id and version, to frame its answer. */
void kapi_fetch_header(const kfetch *f, int32_t *correlation, int16_t *version);
void kapi_fetch_free(kfetch *f);

/* The versions served of key: false when none; the table ApiVersions
 * sends (kapi_meta.c). */
bool kapi_supported(int16_t key, int16_t version);

/* The head of a topic's entry in the per-partition APIs: read its name
 * and partition count (min_part: the fewest bytes a partition entry
 * takes) and echo both into the reply; *name gets a NUL-terminated copy,
 * NULL for a null name, one with a NUL in it, or no memory (the caller
 * answers its partitions UNKNOWN_TOPIC_OR_PARTITION and frees it).
 * Returns the partition count, 0 for a null array. */
int32_t kapi_topic_echo(kread *r, kwrite *out, size_t min_part, char **name);

/* The Kafka error code for a samsa error. */
int16_t kapi_error(int rc);

/* Answer the request of len bytes at p (a frame without its size): the
 * reply framed into c->out, or c->parked set; KANS_*.  The loop's, and
 * the fuzz target's (test/fuzz/fuzz_kafka.c), which has no socket. */
int listener_answer(samsa_listener *l, kconn *c, const uint8_t *p, size_t len);

/* Producers (in-process or not) woke the store: the loop re-checks its
 * parked fetches (listener.c). */
void listener_parked_add(samsa_listener *l, int delta);

#endif
