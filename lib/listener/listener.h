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
    KERR_COORDINATOR_NOT_AVAILABLE = 15,
    KERR_ILLEGAL_GENERATION = 22,
    KERR_INCONSISTENT_GROUP_PROTOCOL = 23,
    KERR_INVALID_GROUP_ID = 24,
    KERR_UNKNOWN_MEMBER_ID = 25,
    KERR_INVALID_SESSION_TIMEOUT = 26,
    KERR_REBALANCE_IN_PROGRESS = 27,
    KERR_MESSAGE_TOO_LARGE = 10,
    KERR_NOT_ENOUGH_REPLICAS = 19,
    KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20,
    KERR_INVALID_REQUIRED_ACKS = 21,
    KERR_UNSUPPORTED_SASL_MECHANISM = 33,
    KERR_ILLEGAL_SASL_STATE = 34,
    KERR_UNSUPPORTED_VERSION = 35,
    KERR_INVALID_REQUEST = 42,
    KERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
    KERR_INVALID_PRODUCER_EPOCH = 47,
    KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
    KERR_KAFKA_STORAGE_ERROR = 56,
    KERR_SASL_AUTHENTICATION_FAILED = 58,
    KERR_MEMBER_ID_REQUIRED = 79,
    KERR_INVALID_RECORD = 87,
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
    KAPI_JOIN_GROUP = 11,
    KAPI_HEARTBEAT = 12,
    KAPI_LEAVE_GROUP = 13,
    KAPI_SYNC_GROUP = 14,
    KAPI_DESCRIBE_GROUPS = 15,
    KAPI_LIST_GROUPS = 16,
    KAPI_SASL_HANDSHAKE = 17,
    KAPI_API_VERSIONS = 18,
    KAPI_INIT_PRODUCER_ID = 22,
    KAPI_DESCRIBE_CONFIGS = 32,
    KAPI_CREATE_TOPICS = 19,
    KAPI_DELETE_TOPICS = 20,
    KAPI_DELETE_RECORDS = 21,
    KAPI_SASL_AUTHENTICATE = 36,
    KAPI_CREATE_PARTITIONS = 37,
};

/* One request being answered: its header and body. */
typedef struct kreq {
    int16_t key, version;
    int32_t correlation;
    kstr client; /* the header's client id */
    kread body;  /* after the header */
} kreq;

/* A request whose answer waits (a fetch for data, a JoinGroup or a
 * SyncGroup for the rest of its group); the connection owns it, and the
 * requests after it wait behind it (replies go in request order).  Each
 * kind embeds a kpark first and gives its operations. */
typedef struct kpark kpark;
typedef struct kpark_ops {
    /* Answer p into out if it can be now (KANS_DONE), else KANS_PARKED
     * with *deadline_ns (CLOCK_MONOTONIC) when it must be, -1 for no
     * time of its own (it is made ready by another request or a timer). */
    int (*retry)(samsa_listener *l, kpark *p, kwrite *out,
                 int64_t *deadline_ns);
    /* Let go of p (answered, or its connection closed). */
    void (*free)(samsa_listener *l, kpark *p);
} kpark_ops;
struct kpark {
    const kpark_ops *ops;
    int16_t key, version;
    int32_t correlation;
};

/* A fetch waiting for data (kapi_fetch.c). */
typedef struct kfetch kfetch;
/* Idempotent producers' state, and one (topic, partition, producer)
 * entry of it (kapi_idem.c). */
typedef struct kidem kidem;
typedef struct kprod kprod;
/* The consumer groups coordinated here (kapi_join.c). */
typedef struct kgroups kgroups;
/* The users of SASL/PLAIN, from the users file (ksasl.c). */
typedef struct ksasl ksasl;

/* The largest frame a connection not yet logged in may send (Kafka's
 * sasl.server.max.receive.size): until then it is no one, and must not
 * make the listener hold max_request_bytes for it. */
#define KSASL_MAX_RECEIVE (512 << 10)

/* Where a connection is in SASL authentication (ksasl.c): with no users
 * file every connection starts KAUTH_DONE. */
enum {
    KAUTH_NONE = 0, /* ApiVersions and SaslHandshake only        */
    KAUTH_MECH = 1, /* PLAIN chosen: SaslAuthenticate next       */
    KAUTH_DONE = 2, /* authenticated, or no authentication asked */
    KAUTH_RAW = 3,  /* PLAIN chosen by a v0 handshake: the next
                       frame is the bare token (ksasl_raw())     */
};

typedef struct kconn {
    int fd;
    uint8_t *in; /* bytes read, not yet answered: whole frames first */
    size_t in_len, in_cap;
    kwrite out;    /* replies not yet sent, from byte `sent` on */
    size_t sent;   /* bytes of out sent (splices counted)       */
    kpark *parked; /* a reply waiting: the next requests wait behind it */
    char host[48]; /* the peer's address, for DescribeGroups      */
    uint8_t auth;  /* KAUTH_*                                     */
    bool closing;  /* a last reply queued: read nothing more, close
                      once it is sent (a failed authentication)   */
    struct kconn *prev, *next;
} kconn;

struct samsa_listener {
    samsa *s;
    samsa_listener_config cfg;
    char *advertised; /* the host told to clients                    */
    int port;
    int lfd, epfd, evfd; /* listening socket, epoll, eventfd (wake-ups) */
    int spare;           /* a descriptor kept to refuse a connection when
                            the process has no other (conn_accept)     */
    pthread_t loop, waker;
    _Atomic bool stop;
    kconn *conns;
    int nconns;
    /* The waker (listener.c) watches the store while fetches wait. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int parked;      /* fetches waiting, under lock                     */
    kgroups *groups; /* the loop's: only its thread touches them      */
    kidem *idem;     /* the loop's too; NULL until a producer needs it */
    ksasl *sasl;     /* the users file's users; NULL: no authentication */
    /* The store's list (s->listen_lock); stopped: its threads joined and
     * its sockets closed, by samsa_listener_close() or samsa_close(). */
    struct samsa_listener *next_in_store;
    bool stopped;
};

/* Stops every listener of the store at samsa_close() (samsa.c). */
extern const store_service listener_service;

/* What a handler did: answered (the reply is in out), parked (c->parked
 * set: its retry answers later), or the connection must close; KANS_LAST:
 * answered, and the connection closes once the reply is sent (handlers
 * only: listener_answer() makes it KANS_DONE with c->closing set). */
enum { KANS_DONE = 0, KANS_PARKED = 1, KANS_CLOSE = -1, KANS_LAST = 2 };

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
int kapi_init_producer_id(samsa_listener *l, kconn *c, kreq *req, kwrite *out);
int kapi_describe_configs(samsa_listener *l, kconn *c, kreq *req, kwrite *out);
int kapi_sasl_handshake(samsa_listener *l, kconn *c, kreq *req, kwrite *out);
int kapi_sasl_authenticate(samsa_listener *l, kconn *c, kreq *req, kwrite *out);

/* Read and check the users file at path (ksasl.c's header says its
 * format): 0 with *out set; SAMSA_EINVAL for a malformed one, -errno for
 * one that cannot be read, SAMSA_ENOMEM. */
int ksasl_open(const char *path, ksasl **out);
/* Wipe and free the users (NULL: nothing). */
void ksasl_free(ksasl *k);
/* May c, not yet authenticated, send a request of this key? */
bool ksasl_allowed(const kconn *c, int16_t key);
/* The frame (len bytes at p) after a v0 SaslHandshake: PLAIN's message
 * alone.  KANS_DONE with an empty frame queued to c when it
 * authenticates, else KANS_CLOSE. */
int ksasl_raw(samsa_listener *l, kconn *c, const uint8_t *p, size_t len);

/* May the idempotent batch of producer pid at epoch, its count records
 * from sequence first_seq, be stored in topic's partition p (kapi_idem.c)?
 * KERR_NONE with *entry set: store it, then kidem_stored(); KERR_NONE
 * with *dup_base >= 0: a retry of a batch stored at *dup_base, not to be
 * stored again; else the Kafka error (OUT_OF_ORDER_SEQUENCE_NUMBER,
 * INVALID_PRODUCER_EPOCH, INVALID_REQUEST, UNKNOWN for no memory). */
int16_t kidem_check(samsa_listener *l, const char *tname, int32_t p,
                    int64_t pid, int16_t epoch, int32_t first_seq,
                    int32_t count, kprod **entry, int64_t *dup_base);
/* The batch kidem_check() let through is stored from offset base. */
void kidem_stored(kprod *e, int16_t epoch, int32_t first_seq, int32_t count,
                  int64_t base);
/* Give the encoded batch (len bytes, batch_encode()'s) a producer: id,
 * epoch and base sequence (header bytes 43, 51, 53, inside the CRC,
 * which is made anew) (kapi_produce.c). */
void kapi_batch_set_producer(uint8_t *b, size_t len, int64_t pid, int16_t epoch,
                             int32_t seq);
/* Free the producers' state (the listener closes). */
void kidem_free(samsa_listener *l);

int kapi_join_group(samsa_listener *l, kconn *c, kreq *req, kwrite *out);
int kapi_sync_group(samsa_listener *l, kconn *c, kreq *req, kwrite *out);
int kapi_heartbeat(samsa_listener *l, kconn *c, kreq *req, kwrite *out);
int kapi_leave_group(samsa_listener *l, kconn *c, kreq *req, kwrite *out);
int kapi_list_groups(samsa_listener *l, kconn *c, kreq *req, kwrite *out);
int kapi_describe_groups(samsa_listener *l, kconn *c, kreq *req, kwrite *out);

/* The coordinator's checks of an OffsetCommit (kapi_join.c): the Kafka
 * error for a commit by (generation, member) to group, KERR_NONE when it
 * may go on to the store. */
int16_t kgroups_commit_check(samsa_listener *l, const char *group,
                             int32_t generation, kstr member);
/* The coordinator's timers (session and rebalance timeouts): act on those
 * due; returns the next one's time (CLOCK_MONOTONIC ns), -1 for none. */
int64_t kgroups_tick(samsa_listener *l);
/* Are parked group replies ready (to be sent by the next pass)? */
bool kgroups_ready(samsa_listener *l);
/* Free every group (the listener closes; connections are gone). */
void kgroups_free(samsa_listener *l);

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
/* Join the listener's threads and close every connection: it touches
 * the store no more, and answers only what listener_answer() is given
 * (the fuzz target's way: no thread of the listener's runs beside it).
 * samsa_listener_close() then only unlists and frees it. */
void listener_stop(samsa_listener *l);

/* Producers (in-process or not) woke the store: the loop re-checks its
 * parked fetches (listener.c). */
void listener_parked_add(samsa_listener *l, int delta);

#endif
