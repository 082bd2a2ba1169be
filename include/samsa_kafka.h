/*
 * samsa_kafka.h - the bridge between a samsa store and an Apache Kafka
 * cluster, through librdkafka: libsamsa-kafka.
 *
 * An optional part, built when librdkafka is present; libsamsa itself never
 * depends on librdkafka.  Link a program that uses it with
 * -lsamsa-kafka -lsamsa -lrdkafka (and samsa's own libraries).  The bridge
 * uses nothing of samsa but the public API of samsa.h, as an application
 * would.
 *
 * Two directions:
 *  - a mirror (samsa_mirror_start()) is a thread in the application's own
 *    process that reads topics of a store with cursors and produces every
 *    record to the same partition number of a Kafka topic of the same name
 *    (key, null and empty kept apart; value, null and empty; headers in
 *    order; timestamps as CreateTime) through an idempotent producer with
 *    acks=all, resumably: see "Resuming" below;
 *  - an import (samsa_kafka_import()) reads a Kafka topic with a
 *    librdkafka consumer and produces it into a samsa topic, same
 *    partitions, keys, headers and timestamps.
 *
 * Resuming.  Kafka's own log end is the truth of how far a mirror got: with
 * one idempotent producer per partition Kafka holds a prefix of what was
 * sent, in order, never a record twice.  Beside it the mirror keeps a small
 * state file (samsa_mirror_config.state_path): for each partition where
 * the samsa offset and the Kafka offset of its first mirrored record are
 * (the mapping, written and synced before the first record is sent), and
 * the last pair Kafka acknowledged (written, by atomic rename, only after
 * the delivery report).  On start the mirror asks Kafka for the end E of
 * each partition: E below the acknowledged Kafka offset means the Kafka
 * topic lost acknowledged records or was recreated, and the mirror refuses
 * (SAMSA_ECONFLICT) rather than guess; E above it means records reached
 * Kafka after the last save (a kill -9 between the acknowledgement and the
 * save), and the mirror skips exactly that many records of the store
 * before it goes on.  So a mirror killed at any point, restarted, leaves
 * nothing missing and nothing twice.  The file is kept outside the store's
 * catalog on purpose: the mirror reads a store that another process may
 * have open for writing (SAMSA_OPEN_RDONLY), and a read-only handle writes
 * nothing.
 */
#ifndef SAMSA_KAFKA_H
#define SAMSA_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include "samsa.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Mirror: a store's topics to a Kafka cluster                              */
/* ------------------------------------------------------------------------ */

/** A running mirror (samsa_mirror_start()). */
typedef struct samsa_mirror samsa_mirror;

/**
 * Called when the mirror stops on an error: rc is a SAMSA_E* code and msg
 * says what happened in words (Kafka's own message included), valid during
 * the call only.  It runs on the mirror's thread (or, for an error found by
 * samsa_mirror_start(), on the caller's, before that returns); it may not
 * call samsa_mirror_stop() of its own mirror.
 */
typedef void (*samsa_mirror_error_fn)(int rc, const char *msg, void *ctx);

/** What a mirror copies and how.  Zero-initialise; 0 means the default. */
typedef struct samsa_mirror_config {
    const char *bootstrap;          /**< Kafka's bootstrap.servers,
                                         HOST:PORT[,...]; required            */
    const char *const *topics;      /**< NULL-terminated topic names; NULL or
                                         empty: every topic of the store    */
    const char *state_path;         /**< the mirror's state file (see
                                         "Resuming"); required: one file per
                                         store and cluster                  */
    int follow;                     /**< 1: keep mirroring what is produced
                                         after the start, until stopped; 0:
                                         stop once every partition's end at
                                         the start is in Kafka              */
    int groups;                     /**< 1: once caught up, commit every
                                         consumer group's committed offsets
                                         of the mirrored topics to Kafka,
                                         translated to Kafka's offsets
                                         (following: whenever caught up,
                                         at most every 5 s)                 */
    const char *const *kafka_conf;  /**< NULL-terminated "name=value"
                                         librdkafka properties, applied last
                                         (security, timeouts); or NULL.
                                         enable.idempotence and acks cannot
                                         be changed                           */
    samsa_mirror_error_fn on_error; /**< or NULL                            */
    void *ctx;                      /**< passed to on_error                 */
    uint64_t reserved[8];           /**< must be zero                       */
} samsa_mirror_config;

/** One partition of a mirror (samsa_mirror_status()). */
typedef struct samsa_mirror_partition {
    const char *topic;    /**< valid until samsa_mirror_stop()          */
    int32_t partition;    /**< the same number in the store and Kafka   */
    int32_t reserved32;   /**< zero                                     */
    int64_t mirrored;     /**< the store's next offset not yet
                               acknowledged by Kafka                    */
    int64_t kafka_next;   /**< the Kafka offset that record will get    */
    int64_t end;          /**< the store's log end, last seen           */
    int64_t lag;          /**< records of the store not yet in Kafka    */
    uint64_t reserved[2]; /**< zero                                     */
} samsa_mirror_partition;

/** A mirror's figures (samsa_mirror_status()). */
typedef struct samsa_mirror_stats {
    uint64_t records;     /**< records Kafka acknowledged since the start */
    uint64_t bytes;       /**< their keys, values and headers, in bytes   */
    int64_t lag;          /**< sum of the partitions' lag                 */
    size_t partitions;    /**< partitions mirrored                        */
    int caught_up;        /**< 1 once every partition's lag was 0         */
    int error;            /**< 0, or the error that stopped the mirror    */
    uint64_t reserved[4]; /**< zero                                       */
} samsa_mirror_stats;

/**
 * @brief Start mirroring topics of a store to a Kafka cluster, on a thread
 *        of its own.
 *
 * Before it returns it connects to Kafka, checks every topic (a Kafka topic
 * of the same name must have at least as many partitions; a missing one is
 * created with the store topic's count through CreateTopics), reads the
 * state file and each partition's Kafka end, and decides where each
 * partition resumes (samsa_kafka.h, "Resuming").
 *
 * @param[in]  s   the store, writable or read-only (SAMSA_OPEN_RDONLY:
 *                 then the mirror follows what another process produces);
 *                 must outlive the mirror.
 * @param[in]  cfg the configuration; bootstrap and state_path required.
 * @param[out] out receives the mirror; stop it with samsa_mirror_stop().
 * @return 0, or
 *   - SAMSA_EINVAL: a NULL argument, no bootstrap or state_path, a reserved
 *     field not zero, a bad kafka_conf entry, a state file that does not
 *     parse;
 *   - SAMSA_ENOTOPIC: a topic named is not in the store;
 *   - SAMSA_ENOPARTITION: a Kafka topic has fewer partitions than the
 *     store's;
 *   - SAMSA_ECONFLICT: a Kafka partition ends below what the state file
 *     says Kafka acknowledged, or holds more records than the store can
 *     account for: the mirror will not guess a position;
 *   - SAMSA_ETIMEDOUT: Kafka did not answer (no broker reachable, or a
 *     topic could not be created);
 *   - SAMSA_EIO, SAMSA_ENOMEM, -errno (the state file).
 *   cfg->on_error is called with the same code and a message first.
 */
SAMSA_API int samsa_mirror_start(samsa *s, const samsa_mirror_config *cfg,
                                 samsa_mirror **out);

/**
 * @brief Wait until a mirror without follow has copied every record that
 *        was in its partitions when it started (and carried the groups),
 *        or has stopped on an error.
 * @param[in] m          the mirror.
 * @param[in] timeout_ms -1: as long as it takes; else at most this long.
 * @return 0 (done), SAMSA_ETIMEDOUT (not yet; for a following mirror,
 *         always once timeout_ms passed), SAMSA_EINVAL (m NULL), or the
 *         error that stopped it.
 */
SAMSA_API int samsa_mirror_wait(samsa_mirror *m, int timeout_ms);

/**
 * @brief A mirror's progress: totals, and optionally each partition.
 * @param[in]  m      the mirror.
 * @param[out] st     receives the totals.
 * @param[out] parts  receives up to nparts partitions, in topic, then
 *                    partition, order; or NULL.
 * @param[in]  nparts room at parts.
 * @return 0, SAMSA_EINVAL (m or st NULL, or parts NULL with nparts > 0).
 */
SAMSA_API int samsa_mirror_status(samsa_mirror *m, samsa_mirror_stats *st,
                                  samsa_mirror_partition *parts, size_t nparts);

/**
 * @brief Stop a mirror: stop reading, wait (up to 5 seconds) for Kafka to
 *        acknowledge what was sent, save the state file, and free the
 *        mirror.
 *
 * What Kafka did not acknowledge is sent again by the next start, after
 * the Kafka end check: nothing is lost or doubled.
 *
 * @param[in] m the mirror, or NULL (then nothing happens).
 * @return 0, or the error that stopped the mirror earlier, or the state
 *         file's last write error (-errno); the mirror is freed either way.
 */
SAMSA_API int samsa_mirror_stop(samsa_mirror *m);

/* ------------------------------------------------------------------------ */
/* Import: a Kafka topic into a store                                       */
/* ------------------------------------------------------------------------ */

/** What samsa_kafka_import() reads.  Zero-initialise; 0 means the default. */
typedef struct samsa_import_config {
    const char *bootstrap;         /**< Kafka's bootstrap.servers; required */
    const int32_t *partitions;     /**< npartitions partitions; NULL: all    */
    size_t npartitions;            /**< entries at partitions                */
    int64_t start_offset;          /**< first offset of each partition, or
                                        SAMSA_OFFSET_BEGINNING (0 too)     */
    int64_t start_time;            /**< > 0: then start at the first record
                                        at least this late (ms since the
                                        epoch), found by reading (after
                                        start_offset): timestamps need not
                                        rise                               */
    const char *const *kafka_conf; /**< as samsa_mirror_config.kafka_conf   */
    uint64_t reserved[8];          /**< must be zero                        */
} samsa_import_config;

/**
 * @brief Copy a Kafka topic, up to each partition's end at the call, into
 *        the samsa topic of the same name.
 *
 * The samsa topic is created with the Kafka topic's partition count when
 * absent; an existing one needs at least as many.  Each record goes to the
 * same partition number with its key, value (null and empty kept apart),
 * headers and timestamp; compressed Kafka batches arrive decompressed and
 * are stored as the samsa topic's compression says.  A samsa topic that
 * was empty and a Kafka partition that starts at 0 give equal offsets.
 *
 * @param[in]  s       the store, writable.
 * @param[in]  topic   the topic, in Kafka and in the store.
 * @param[in]  cfg     what to read.
 * @param[out] records receives how many records were stored, or NULL.
 * @return 0, SAMSA_EINVAL, SAMSA_ENOTOPIC (no such Kafka topic),
 *         SAMSA_ENOPARTITION (the samsa topic has fewer partitions, or a
 *         partition named is not in Kafka), SAMSA_ETIMEDOUT (Kafka did not
 *         answer), SAMSA_EIO (a consume error), SAMSA_ERDONLY, or a
 *         samsa_produce() error.  Records stored before an error stay.
 */
SAMSA_API int samsa_kafka_import(samsa *s, const char *topic,
                                 const samsa_import_config *cfg,
                                 int64_t *records);

#ifdef __cplusplus
}
#endif

#endif
