/*
 * bridge.h - what the files of lib/bridge (libsamsa-kafka) share: making a
 * librdkafka handle from the caller's settings, turning librdkafka's errors
 * into samsa's codes, and the mirror's state file (state.c).
 *
 * The bridge sits above every layer of the library and, like the samsa
 * command, sees only the public API (samsa.h, samsa_kafka.h): lint's
 * layer check refuses any other header or call.
 */
#ifndef SAMSA_BRIDGE_H
#define SAMSA_BRIDGE_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "samsa.h"
#include "samsa_kafka.h"

/* How long one metadata, watermark or admin request to Kafka may take. */
#define BRIDGE_REQUEST_MS 10000

/* A message for the caller, built as errors are found. */
typedef struct bridge_err {
    int rc;        /* 0, or the SAMSA_E* code of the first error        */
    char msg[512]; /* what happened, in words                         */
} bridge_err;

/* Record the first error (later ones are the first's consequences);
 * returns rc. */
int bridge_fail(bridge_err *e, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* samsa's code for a librdkafka error: the broker-unreachable and timeout
 * family SAMSA_ETIMEDOUT, everything else SAMSA_EIO. */
int bridge_code(rd_kafka_resp_err_t err);

/* A configuration with bootstrap.servers, quiet logs, then each
 * "name=value" of extra; NULL after bridge_fail() on a bad entry. */
rd_kafka_conf_t *bridge_conf(const char *bootstrap, const char *const *extra,
                             bridge_err *e);

/* The number of partitions of a Kafka topic: 0 and *n (0 when the topic
 * does not exist), or an error after bridge_fail().  Asks for every topic,
 * so that a broker that creates topics on a metadata request (the mock
 * cluster does) creates none. */
int bridge_partitions(rd_kafka_t *rk, const char *topic, int *n, bridge_err *e);

/* An admin request's options (BRIDGE_REQUEST_MS timeouts) and its result
 * queue: bridge_admin_begin() makes them, bridge_admin_end() frees them. */
typedef struct bridge_admin {
    rd_kafka_AdminOptions_t *opt; /* the request's options */
    rd_kafka_queue_t *q;          /* where its answer comes  */
} bridge_admin;

void bridge_admin_begin(rd_kafka_t *rk, rd_kafka_admin_op_t op,
                        bridge_admin *a);
void bridge_admin_end(bridge_admin *a);
/* The answer to the admin request of a: the event (the caller destroys
 * it), or NULL after bridge_fail() when none came in time or the request
 * failed as a whole; what names the request in the message. */
rd_kafka_event_t *bridge_admin_result(bridge_admin *a, const char *what,
                                      bridge_err *e);

/* ---- the mirror's state file (state.c) ------------------------------------
 *
 * A text file, one line per partition ever mirrored:
 *
 *     samsa-mirror 1
 *     TOPIC PARTITION S_BASE K_BASE S_ACKED K_ACKED
 *
 * S_BASE and K_BASE: the store offset and the Kafka offset of the first
 * record this mirror sent to the partition (the offset mapping); S_ACKED
 * and K_ACKED: the store's next offset and Kafka's next offset after the
 * last record Kafka acknowledged.  Written whole to FILE.tmp, synced, and
 * renamed over FILE, then the directory synced: a crash leaves the old
 * file or the new, never a part.  A line is written before the first
 * record of its partition is sent (the mapping must survive a crash that
 * follows), and its acknowledged pair only ever moves after Kafka's
 * delivery report.
 */
typedef struct state_entry {
    char *topic;       /* owned                                   */
    int32_t partition; /* the partition                           */
    int64_t s_base;    /* store offset of the first mirrored record */
    int64_t k_base;    /* its Kafka offset                        */
    int64_t s_acked;   /* store's next offset past the last acked */
    int64_t k_acked;   /* Kafka's next offset past it             */
} state_entry;

typedef struct mirror_state {
    state_entry *e; /* entries, in file order   */
    size_t n, cap;  /* used and allocated       */
} mirror_state;

/* Read path into st (empty when the file does not exist): 0, SAMSA_EINVAL
 * (it does not parse), SAMSA_ENOMEM or -errno. */
int state_load(const char *path, mirror_state *st);
/* Write st to path atomically (above): 0 or -errno. */
int state_save(const char *path, const mirror_state *st);
/* The entry of (topic, partition), or NULL. */
state_entry *state_find(mirror_state *st, const char *topic, int32_t p);
/* Room for more entries without moving the array: 0 or SAMSA_ENOMEM. */
int state_reserve(mirror_state *st, size_t more);
/* Add an entry: it, or NULL when out of memory. */
state_entry *state_add(mirror_state *st, const char *topic, int32_t p);
void state_free(mirror_state *st);

/* Commit, for every consumer group of the store, its committed offsets of
 * the mirrored topics to the Kafka group of the same name, translated
 * through st's mapping (groups.c): 0 or an error after bridge_fail(). */
int bridge_carry_groups(samsa *s, rd_kafka_t *rk, mirror_state *st,
                        char **topics, size_t ntopics, bridge_err *e);

#endif
