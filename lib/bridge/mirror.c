/*
 * mirror.c - samsa_mirror_*: a thread that reads topics of a store with
 * cursors and produces every record to the same partition of a Kafka topic
 * through an idempotent librdkafka producer (acks=all).
 *
 * Positions.  Each partition has a cursor (the next store record to send)
 * and a ring of the store offsets sent but not yet acknowledged, in send
 * order.  Kafka acknowledges a partition's records in that order (the
 * idempotent producer keeps order and never writes a record twice), so a
 * delivery report pops the ring's front: the acknowledged pair (store's
 * next offset, Kafka's next offset) moves only then, and only that pair is
 * ever saved to the state file.  A report whose Kafka offset is not the
 * next one expected means another producer writes to the partition: the
 * mirror stops with SAMSA_ECONFLICT rather than record a wrong mapping.
 *
 * Start.  Kafka's end E of each partition is compared with the saved pair
 * (s, k): E < k is a Kafka topic that lost acknowledged records, refused;
 * E > k are records that reached Kafka after the last save (the process
 * died between the report and the save), so the cursor opens at s and
 * skips E - k records.  Skipping counts records rather than adding to the
 * offset, so a log with gaps in its offsets resumes exactly too.
 *
 * Threads.  Everything but samsa_mirror_status() and the stop flag runs on
 * the mirror's thread: delivery reports come from rd_kafka_poll() there.
 * The figures status reads are under mu.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge.h"

/* Records in flight (sent, not acknowledged) per partition, at most. */
#define RING_CAP 16384
/* Records read from one partition before the next gets a turn. */
#define BURST 512
/* How long a stop waits for Kafka to acknowledge what was sent (ms); what
 * is not acknowledged by then is sent again by the next start. */
#define STOP_FLUSH_MS 5000
/* Following with groups: carry them at most this often (ms). */
#define GROUPS_MS 5000
/* Save the acknowledged positions this often while running (ms). */
#define SAVE_MS 200

typedef struct mpart {
    samsa_mirror *m;       /* the mirror                                */
    const char *topic;     /* the name, owned by the mirror's topics    */
    int32_t partition;     /* the partition                             */
    samsa_cursor *cur;     /* the next record to send                   */
    rd_kafka_topic_t *rkt; /* Kafka's handle of the topic (shared)      */
    state_entry *st;       /* its state entry (mapping, acked pair)     */
    int64_t stop_end;      /* without follow: the store's end at start  */
    int64_t end_seen;      /* the store's end, last looked at           */
    int64_t *ring;         /* store offsets sent, oldest at head        */
    uint32_t *ring_bytes;  /* their sizes                               */
    size_t head, count;    /* ring's front and length (RING_CAP slots)  */
} mpart;

struct samsa_mirror {
    samsa *s;                /* the store                          */
    samsa_mirror_config cfg; /* the caller's, pointers borrowed    */
    char *state_path;        /* copy of cfg.state_path             */
    char **topics;           /* the topics mirrored, owned         */
    size_t ntopics;          /* count                              */
    rd_kafka_topic_t **rkts; /* Kafka handles, one per topic       */
    mpart *parts;            /* every partition, topic order       */
    size_t nparts;           /* count                              */
    mirror_state state;      /* the state file's contents          */
    rd_kafka_t *rk;          /* the producer                       */
    pthread_t thread;        /* the mirror's thread                */
    int started;             /* thread was started                 */
    atomic_int stop;         /* set by samsa_mirror_stop()         */
    bridge_err err;          /* the error that stopped it          */
    int dirty;               /* acked pairs changed since the save */
    int save_rc;             /* last state_save() error            */
    pthread_mutex_t mu;      /* guards the figures below, and err  */
    pthread_cond_t cond;     /* signalled when done or failed      */
    uint64_t records, bytes; /* acknowledged since start           */
    int done;                /* caught up and groups carried (!follow) */
    int caught_up;           /* every lag was 0 once               */
    int finished;            /* the thread has left its loop       */
};

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Record an error and tell the caller once (mirror thread, or start). */
static int mirror_fail(samsa_mirror *m, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
mirror_fail(samsa_mirror *m, int rc, const char *fmt, ...)
{
    pthread_mutex_lock(&m->mu);
    int first = m->err.rc == 0;
    if (first) {
        m->err.rc = rc;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m->err.msg, sizeof m->err.msg, fmt, ap);
        va_end(ap);
    }
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->mu);
    if (first && m->cfg.on_error != NULL)
        m->cfg.on_error(m->err.rc, m->err.msg, m->cfg.ctx);
    return m->err.rc;
}

static int
failed(samsa_mirror *m)
{
    pthread_mutex_lock(&m->mu);
    int rc = m->err.rc;
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* Delivery report: runs inside rd_kafka_poll()/rd_kafka_flush() on the
 * mirror's thread. */
static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    mpart *p = msg->_private;
    samsa_mirror *m = p->m;
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* The idempotent producer fails this record's successors too;
         * nothing moves, so the next start sends them again. */
        mirror_fail(m, bridge_code(msg->err), "%s/%" PRId32 ": Kafka: %s",
                    p->topic, p->partition, rd_kafka_err2str(msg->err));
        return;
    }
    if (p->count == 0 || msg->offset != p->st->k_acked) {
        mirror_fail(m, SAMSA_ECONFLICT,
                    "%s/%" PRId32 ": Kafka stored a record at offset %" PRId64
                    " where %" PRId64 " was next: another producer writes to "
                    "this partition",
                    p->topic, p->partition, (int64_t)msg->offset,
                    p->st->k_acked);
        return;
    }
    if (failed(m))
        return; /* positions after an error are not trusted */
    int64_t s = p->ring[p->head];
    uint32_t bytes = p->ring_bytes[p->head];
    p->head = (p->head + 1) % RING_CAP;
    p->count--;
    pthread_mutex_lock(&m->mu);
    p->st->s_acked = s + 1;
    p->st->k_acked = msg->offset + 1;
    m->records++;
    m->bytes += bytes;
    pthread_mutex_unlock(&m->mu);
    m->dirty = 1;
}

static void
on_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    samsa_mirror *m = opaque;
    char fatal[256];
    /* Only a fatal error (the idempotent producer's state is lost) stops
     * the mirror here; the passing ones (a broker down) surface as
     * delivery errors once message.timeout.ms runs out. */
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_resp_err_t orig =
            rd_kafka_fatal_error(rk, fatal, sizeof fatal);
        mirror_fail(m, bridge_code(orig), "Kafka: fatal: %s", fatal);
    } else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && reason) {
        /* Reported through the delivery reports, with the records. */
    }
}

static void
save(samsa_mirror *m)
{
    pthread_mutex_lock(&m->mu);
    int rc = state_save(m->state_path, &m->state);
    pthread_mutex_unlock(&m->mu);
    if (rc != 0) {
        m->save_rc = rc;
        mirror_fail(m, rc, "%s: %s", m->state_path, samsa_strerror(rc));
    } else {
        m->dirty = 0;
    }
}

/* The bytes of a record counted in the figures: key, value, headers. */
static uint32_t
record_bytes(const samsa_message *msg)
{
    size_t n = msg->key_len + msg->value_len, pos = 0;
    for (size_t i = 0; i < msg->header_count; i++) {
        const char *k;
        const void *v;
        size_t kl, vl;
        if (samsa_message_header_next(msg, &pos, &k, &kl, &v, &vl) == 0)
            n += kl + vl;
    }
    return (uint32_t)(n > UINT32_MAX ? UINT32_MAX : n);
}

/* Hand one record to librdkafka; 0, 1 when its queue is full (try again
 * after a poll), or an error after mirror_fail(). */
static int
send_one(mpart *p, const samsa_message *msg)
{
    rd_kafka_headers_t *h = NULL;
    if (msg->header_count > 0) {
        h = rd_kafka_headers_new(msg->header_count);
        size_t pos = 0;
        for (size_t i = 0; i < msg->header_count; i++) {
            const char *k;
            const void *v;
            size_t kl, vl;
            int rc = samsa_message_header_next(msg, &pos, &k, &kl, &v, &vl);
            if (rc != 0) {
                rd_kafka_headers_destroy(h);
                return mirror_fail(
                    p->m, rc, "%s/%" PRId32 " offset %" PRId64 ": %s", p->topic,
                    p->partition, msg->offset, samsa_strerror(rc));
            }
            rd_kafka_header_add(h, k, (ssize_t)kl, v, (ssize_t)vl);
        }
    }
    /* A NULL key or value is Kafka's null; a non-NULL one of length 0 is
     * empty, and librdkafka keeps the two apart as long as the pointer
     * is not NULL. */
    rd_kafka_resp_err_t err = rd_kafka_producev(
        p->m->rk, RD_KAFKA_V_RKT(p->rkt), RD_KAFKA_V_PARTITION(p->partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(msg->key, msg->key_len),
        RD_KAFKA_V_VALUE((void *)msg->value, msg->value_len),
        RD_KAFKA_V_TIMESTAMP(msg->timestamp), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        size_t tail = (p->head + p->count) % RING_CAP;
        p->ring[tail] = msg->offset;
        p->ring_bytes[tail] = record_bytes(msg);
        p->count++;
        return 0;
    }
    if (h != NULL)
        rd_kafka_headers_destroy(h);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        return 1;
    return mirror_fail(p->m, bridge_code(err), "%s/%" PRId32 ": Kafka: %s",
                       p->topic, p->partition, rd_kafka_err2str(err));
}

/* Send what partition p has, up to BURST records; the count sent, or an
 * error. */
static int
pump(mpart *p)
{
    samsa_mirror *m = p->m;
    int sent = 0;
    while (sent < BURST && p->count < RING_CAP && !atomic_load(&m->stop)) {
        int64_t at = samsa_cursor_offset(p->cur);
        if (!m->cfg.follow && at >= p->stop_end)
            break;
        samsa_message msg;
        int rc = samsa_cursor_next(p->cur, &msg, 0);
        if (rc == SAMSA_ETIMEDOUT)
            break;
        if (rc != 0)
            return mirror_fail(m, rc, "%s/%" PRId32 " offset %" PRId64 ": %s",
                               p->topic, p->partition, at, samsa_strerror(rc));
        while ((rc = send_one(p, &msg)) == 1) {
            rd_kafka_poll(m->rk, 10);
            if (failed(m))
                return failed(m);
        }
        if (rc != 0)
            return rc;
        sent++;
    }
    return sent;
}

static int
all_sent(samsa_mirror *m)
{
    for (size_t i = 0; i < m->nparts; i++)
        if (samsa_cursor_offset(m->parts[i].cur) < m->parts[i].stop_end)
            return 0;
    return 1;
}

/* Look at every partition's end; 1 when Kafka has acknowledged all. */
static int
update_ends(samsa_mirror *m)
{
    int zero = 1;
    for (size_t i = 0; i < m->nparts; i++) {
        mpart *p = &m->parts[i];
        int64_t end;
        if (samsa_offsets(m->s, p->topic, p->partition, NULL, &end) != 0)
            continue;
        pthread_mutex_lock(&m->mu);
        p->end_seen = end;
        if (p->st->s_acked < end)
            zero = 0;
        pthread_mutex_unlock(&m->mu);
    }
    if (zero) {
        pthread_mutex_lock(&m->mu);
        m->caught_up = 1;
        pthread_mutex_unlock(&m->mu);
    }
    return zero;
}

static void
carry_groups(samsa_mirror *m)
{
    bridge_err ge = {0};
    if (bridge_carry_groups(m->s, m->rk, &m->state, m->topics, m->ntopics,
                            &ge) != 0)
        mirror_fail(m, ge.rc, "%s", ge.msg);
}

static void *
mirror_thread(void *arg)
{
    samsa_mirror *m = arg;
    int64_t last_save = now_ms(), last_ends = 0, last_groups = -GROUPS_MS;
    while (!atomic_load(&m->stop) && !failed(m)) {
        int busy = 0;
        for (size_t i = 0; i < m->nparts && !failed(m); i++) {
            int n = pump(&m->parts[i]);
            if (n > 0)
                busy = 1;
        }
        rd_kafka_poll(m->rk, busy ? 0 : 10);
        int64_t t = now_ms();
        if (m->dirty && t - last_save >= SAVE_MS) {
            save(m);
            last_save = t;
        }
        if (t - last_ends >= 100) {
            int zero = update_ends(m);
            last_ends = t;
            /* Following, the groups go across whenever the mirror is
             * caught up, at most every GROUPS_MS: a committed offset is
             * only carried once Kafka has the records below it. */
            if (zero && m->cfg.follow && m->cfg.groups &&
                t - last_groups >= GROUPS_MS) {
                carry_groups(m);
                last_groups = t;
            }
        }
        if (!m->cfg.follow && !failed(m) && all_sent(m)) {
            /* Short waits, so that a stop is not held up by a broker
             * that went away (message.timeout.ms ends that). */
            while (rd_kafka_outq_len(m->rk) > 0 && !atomic_load(&m->stop) &&
                   !failed(m))
                rd_kafka_flush(m->rk, 100);
            if (atomic_load(&m->stop))
                break;
            if (failed(m))
                break;
            save(m);
            update_ends(m);
            if (m->cfg.groups && !failed(m))
                carry_groups(m);
            pthread_mutex_lock(&m->mu);
            m->done = 1;
            pthread_cond_broadcast(&m->cond);
            pthread_mutex_unlock(&m->mu);
            break;
        }
    }
    /* Stopping or failed: what Kafka still acknowledges is kept; a failed
     * mirror does not wait out librdkafka's retries. */
    if (!failed(m))
        rd_kafka_flush(m->rk, STOP_FLUSH_MS);
    if (m->dirty && m->save_rc == 0)
        save(m);
    pthread_mutex_lock(&m->mu);
    m->finished = 1;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* ---- start ------------------------------------------------------------- */

static int
add_topic(const char *name, void *ctx)
{
    samsa_mirror *m = ctx;
    char **t = realloc(m->topics, (m->ntopics + 1) * sizeof *t);
    if (t == NULL)
        return SAMSA_ENOMEM;
    m->topics = t;
    if ((t[m->ntopics] = strdup(name)) == NULL)
        return SAMSA_ENOMEM;
    m->ntopics++;
    return 0;
}

/* Make sure Kafka has topic with at least n partitions, creating it with
 * n when absent. */
static int
ensure_topic(samsa_mirror *m, const char *topic, int32_t n)
{
    int have;
    int rc = bridge_partitions(m->rk, topic, &have, &m->err);
    if (rc != 0)
        return rc;
    if (have >= n)
        return 0;
    if (have > 0)
        return bridge_fail(&m->err, SAMSA_ENOPARTITION,
                           "Kafka topic %s has %d partitions, the store's "
                           "has %" PRId32 ": add partitions in Kafka first",
                           topic, have, n);
    char err[256];
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(topic, n, -1, err, sizeof err);
    if (nt == NULL)
        return bridge_fail(&m->err, SAMSA_EINVAL, "%s: %s", topic, err);
    bridge_admin ad;
    bridge_admin_begin(m->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, &ad);
    rd_kafka_CreateTopics(m->rk, &nt, 1, ad.opt, ad.q);
    char what[SAMSA_MAX_TOPIC_NAME + 64];
    snprintf(what, sizeof what, "creating Kafka topic %s", topic);
    rd_kafka_event_t *ev = bridge_admin_result(&ad, what, &m->err);
    rc = ev == NULL ? m->err.rc : 0;
    if (ev != NULL) {
        size_t cnt;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(
                rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (size_t i = 0; i < cnt; i++)
            if (rd_kafka_topic_result_error(tr[i]) !=
                RD_KAFKA_RESP_ERR_NO_ERROR)
                rc = bridge_fail(
                    &m->err, bridge_code(rd_kafka_topic_result_error(tr[i])),
                    "creating Kafka topic %s: %s", topic,
                    rd_kafka_topic_result_error_string(tr[i]));
    }
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    bridge_admin_end(&ad);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

/* Where partition p resumes: its state entry made or checked against
 * Kafka's end, and its cursor opened there. */
static int
place(samsa_mirror *m, mpart *p)
{
    int64_t lo, hi, first, end;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        m->rk, p->topic, p->partition, &lo, &hi, BRIDGE_REQUEST_MS);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        return bridge_fail(&m->err, bridge_code(err),
                           "Kafka end of %s/%" PRId32 ": %s", p->topic,
                           p->partition, rd_kafka_err2str(err));
    int rc = samsa_offsets(m->s, p->topic, p->partition, &first, &end);
    if (rc != 0)
        return bridge_fail(&m->err, rc, "%s/%" PRId32 ": %s", p->topic,
                           p->partition, samsa_strerror(rc));
    p->stop_end = end;
    p->end_seen = end;
    state_entry *e = state_find(&m->state, p->topic, p->partition);
    if (e == NULL) {
        /* First run for this partition: the mapping starts at the store's
         * log start and Kafka's end (0 for a topic that started empty),
         * and is saved before a record is sent. */
        if ((e = state_add(&m->state, p->topic, p->partition)) == NULL)
            return bridge_fail(&m->err, SAMSA_ENOMEM, "out of memory");
        e->s_base = e->s_acked = first;
        e->k_base = e->k_acked = hi;
        m->dirty = 1;
    } else if (hi < e->k_acked) {
        return bridge_fail(
            &m->err, SAMSA_ECONFLICT,
            "Kafka %s/%" PRId32 " ends at %" PRId64 ", below offset %" PRId64
            " it acknowledged (%s): truncated or recreated; "
            "refusing to guess a position",
            p->topic, p->partition, hi, e->k_acked, m->state_path);
    }
    if (e->s_acked < first)
        return bridge_fail(&m->err, SAMSA_EOFFSET,
                           "%s/%" PRId32 ": the store's records from %" PRId64
                           " to %" PRId64 " were deleted before they were "
                           "mirrored",
                           p->topic, p->partition, e->s_acked, first);
    p->st = e;
    rc = samsa_cursor_open(m->s, p->topic, p->partition, e->s_acked, &p->cur);
    if (rc != 0)
        return bridge_fail(&m->err, rc, "%s/%" PRId32 " offset %" PRId64 ": %s",
                           p->topic, p->partition, e->s_acked,
                           samsa_strerror(rc));
    /* Records Kafka has past the saved pair were acknowledged after the
     * last save: skip as many store records, one by one. */
    for (int64_t k = e->k_acked; k < hi; k++) {
        samsa_message msg;
        rc = samsa_cursor_next(p->cur, &msg, 0);
        if (rc != 0)
            return bridge_fail(&m->err, SAMSA_ECONFLICT,
                               "Kafka %s/%" PRId32 " holds %" PRId64
                               " records past offset %" PRId64
                               " but the store has fewer: %s",
                               p->topic, p->partition, hi - e->k_acked,
                               e->k_acked, samsa_strerror(rc));
    }
    if (hi > e->k_acked) {
        e->s_acked = samsa_cursor_offset(p->cur);
        e->k_acked = hi;
        m->dirty = 1;
    }
    return 0;
}

static void
mirror_free(samsa_mirror *m)
{
    for (size_t i = 0; i < m->nparts; i++) {
        samsa_cursor_close(m->parts[i].cur);
        free(m->parts[i].ring);
        free(m->parts[i].ring_bytes);
    }
    free(m->parts);
    for (size_t i = 0; i < m->ntopics; i++) {
        if (m->rkts != NULL && m->rkts[i] != NULL)
            rd_kafka_topic_destroy(m->rkts[i]);
        free(m->topics[i]);
    }
    free(m->rkts);
    free(m->topics);
    if (m->rk != NULL)
        rd_kafka_destroy(m->rk);
    state_free(&m->state);
    free(m->state_path);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cond);
    free(m);
}

static int
setup(samsa_mirror *m)
{
    const samsa_mirror_config *cfg = &m->cfg;
    int rc;
    if (cfg->topics != NULL && cfg->topics[0] != NULL) {
        for (size_t i = 0; cfg->topics[i] != NULL; i++)
            if ((rc = add_topic(cfg->topics[i], m)) != 0)
                return bridge_fail(&m->err, rc, "out of memory");
    } else if ((rc = samsa_topic_foreach(m->s, add_topic, m)) != 0) {
        return bridge_fail(&m->err, rc, "listing topics: %s",
                           samsa_strerror(rc));
    }
    rc = state_load(m->state_path, &m->state);
    if (rc != 0)
        return bridge_fail(&m->err, rc, "%s: %s", m->state_path,
                           rc == SAMSA_EINVAL ? "not a mirror state file"
                                              : samsa_strerror(rc));
    rd_kafka_conf_t *conf =
        bridge_conf(cfg->bootstrap, cfg->kafka_conf, &m->err);
    if (conf == NULL)
        return m->err.rc;
    char err[256];
    /* Set last, over the caller's: the resume reasoning needs them. */
    if (rd_kafka_conf_set(conf, "enable.idempotence", "true", err,
                          sizeof err) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "acks", "all", err, sizeof err) !=
            RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return bridge_fail(&m->err, SAMSA_EINVAL, "%s", err);
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_kafka_error);
    rd_kafka_conf_set_opaque(conf, m);
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (m->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return bridge_fail(&m->err, SAMSA_EINVAL, "Kafka producer: %s", err);
    }
    if ((m->rkts = calloc(m->ntopics, sizeof *m->rkts)) == NULL)
        return bridge_fail(&m->err, SAMSA_ENOMEM, "out of memory");
    size_t total = 0;
    int32_t *counts = calloc(m->ntopics + 1, sizeof *counts);
    if (counts == NULL)
        return bridge_fail(&m->err, SAMSA_ENOMEM, "out of memory");
    for (size_t i = 0; i < m->ntopics && rc == 0; i++) {
        samsa_topic_config tc;
        if ((rc = samsa_topic_describe(m->s, m->topics[i], &tc)) != 0) {
            rc = bridge_fail(&m->err, rc, "%s: %s", m->topics[i],
                             samsa_strerror(rc));
            break;
        }
        counts[i] = tc.partitions;
        total += (size_t)tc.partitions;
        if ((rc = ensure_topic(m, m->topics[i], tc.partitions)) != 0)
            break;
        m->rkts[i] = rd_kafka_topic_new(m->rk, m->topics[i], NULL);
        if (m->rkts[i] == NULL)
            rc = bridge_fail(&m->err, SAMSA_ENOMEM, "Kafka topic %s",
                             m->topics[i]);
    }
    if (rc == 0 && (m->parts = calloc(total, sizeof *m->parts)) == NULL)
        rc = bridge_fail(&m->err, SAMSA_ENOMEM, "out of memory");
    /* Room for every partition's entry now: the parts point into the
     * array, which must not move. */
    if (rc == 0 && state_reserve(&m->state, total) != 0)
        rc = bridge_fail(&m->err, SAMSA_ENOMEM, "out of memory");
    for (size_t i = 0; i < m->ntopics && rc == 0; i++)
        for (int32_t p = 0; p < counts[i] && rc == 0; p++) {
            mpart *mp = &m->parts[m->nparts++];
            *mp = (mpart){.m = m,
                          .topic = m->topics[i],
                          .partition = p,
                          .rkt = m->rkts[i]};
            mp->ring = malloc(RING_CAP * sizeof *mp->ring);
            mp->ring_bytes = malloc(RING_CAP * sizeof *mp->ring_bytes);
            if (mp->ring == NULL || mp->ring_bytes == NULL)
                rc = bridge_fail(&m->err, SAMSA_ENOMEM, "out of memory");
            else
                rc = place(m, mp);
        }
    free(counts);
    if (rc != 0)
        return rc;
    /* The mapping of a new partition must be on disk before its first
     * record can reach Kafka. */
    if ((rc = state_save(m->state_path, &m->state)) != 0)
        return bridge_fail(&m->err, rc, "%s: %s", m->state_path,
                           samsa_strerror(rc));
    m->dirty = 0;
    return 0;
}

int
samsa_mirror_start(samsa *s, const samsa_mirror_config *cfg, samsa_mirror **out)
{
    if (s == NULL || cfg == NULL || out == NULL || cfg->bootstrap == NULL ||
        cfg->state_path == NULL || cfg->bootstrap[0] == '\0' ||
        cfg->state_path[0] == '\0')
        return SAMSA_EINVAL;
    for (size_t i = 0; i < sizeof cfg->reserved / sizeof cfg->reserved[0]; i++)
        if (cfg->reserved[i] != 0)
            return SAMSA_EINVAL;
    samsa_mirror *m = calloc(1, sizeof *m);
    if (m == NULL)
        return SAMSA_ENOMEM;
    m->s = s;
    m->cfg = *cfg;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cond, NULL);
    int rc = 0;
    if ((m->state_path = strdup(cfg->state_path)) == NULL)
        rc = bridge_fail(&m->err, SAMSA_ENOMEM, "out of memory");
    if (rc == 0)
        rc = setup(m);
    if (rc == 0 &&
        (rc = pthread_create(&m->thread, NULL, mirror_thread, m)) != 0)
        rc = bridge_fail(&m->err, -rc, "starting the mirror thread");
    if (rc != 0) {
        if (cfg->on_error != NULL)
            cfg->on_error(m->err.rc, m->err.msg, cfg->ctx);
        mirror_free(m);
        return rc;
    }
    m->started = 1;
    *out = m;
    return 0;
}

int
samsa_mirror_wait(samsa_mirror *m, int timeout_ms)
{
    if (m == NULL || timeout_ms < -1)
        return SAMSA_EINVAL;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    if (timeout_ms > 0) {
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
    }
    pthread_mutex_lock(&m->mu);
    int rc = 0;
    while (m->err.rc == 0 && !m->done && !m->finished && rc == 0) {
        if (timeout_ms == -1)
            pthread_cond_wait(&m->cond, &m->mu);
        else if (timeout_ms == 0 ||
                 pthread_cond_timedwait(&m->cond, &m->mu, &until) == ETIMEDOUT)
            rc = SAMSA_ETIMEDOUT;
    }
    if (m->err.rc != 0)
        rc = m->err.rc;
    else if (!m->done)
        rc = SAMSA_ETIMEDOUT;
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int
samsa_mirror_status(samsa_mirror *m, samsa_mirror_stats *st,
                    samsa_mirror_partition *parts, size_t nparts)
{
    if (m == NULL || st == NULL || (parts == NULL && nparts > 0))
        return SAMSA_EINVAL;
    pthread_mutex_lock(&m->mu);
    *st = (samsa_mirror_stats){.records = m->records,
                               .bytes = m->bytes,
                               .partitions = m->nparts,
                               .caught_up = m->caught_up,
                               .error = m->err.rc};
    for (size_t i = 0; i < m->nparts; i++) {
        const mpart *p = &m->parts[i];
        int64_t lag = p->end_seen - p->st->s_acked;
        lag = lag < 0 ? 0 : lag;
        st->lag += lag;
        if (i < nparts)
            parts[i] = (samsa_mirror_partition){.topic = p->topic,
                                                .partition = p->partition,
                                                .mirrored = p->st->s_acked,
                                                .kafka_next = p->st->k_acked,
                                                .end = p->end_seen,
                                                .lag = lag};
    }
    pthread_mutex_unlock(&m->mu);
    return 0;
}

int
samsa_mirror_stop(samsa_mirror *m)
{
    if (m == NULL)
        return 0;
    atomic_store(&m->stop, 1);
    if (m->started)
        pthread_join(m->thread, NULL);
    int rc = m->err.rc != 0 ? m->err.rc : m->save_rc;
    mirror_free(m);
    return rc;
}
