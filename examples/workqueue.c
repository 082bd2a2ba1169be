/*
 * workqueue.c - a work queue on samsa's share groups.
 *
 *   build/examples/workqueue DIR
 *
 * A producer thread submits JOBS jobs to the topic "jobs" and learns the
 * outcome of each.  WORKERS threads, each a receiver of the share
 * group "workers", take jobs off the queue and accept them.  One worker
 * "crashes": it takes a few jobs and stops without acknowledging them; when
 * their locks expire they are delivered to the other workers.  One job is
 * poison: every worker that gets it gives it back (RELEASE), so after
 * max_attempts deliveries it is archived into the dead-letter topic
 * "jobs.dlq".  At the end the program checks that every job was accepted
 * exactly once or dead-lettered, and says so.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <samsa.h>

#define JOBS    200
#define WORKERS 4
#define POISON  77 /* the job no worker can do */

static samsa *store;
static const samsa_queue_config queue_cfg = {
    .lock_ms = 300,    /* a crashed worker's jobs come back
                          after 0.3 s                      */
    .max_attempts = 3, /* the poison job is tried 3 times  */
    .dead_letter_topic = "jobs.dlq",
};
static atomic_int accepted[JOBS]; /* accepts of each job, by the workers */
static atomic_int outcome_accept; /* what the producer was told          */
static atomic_int outcome_reject;
static atomic_int waited_accept; /* what the producer's waits said      */
static atomic_int left = JOBS;   /* jobs not yet finished               */
static samsa_queue *crashed;     /* the crashed worker's receiver       */

static void
check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "workqueue: %s: %s\n", what, samsa_strerror(rc));
        exit(1);
    }
}

/* Called in the acknowledging thread for each finished job. */
static void
on_ack(const char *topic, int32_t partition, int64_t offset, int outcome,
       void *ctx)
{
    (void)topic, (void)partition, (void)offset, (void)ctx;
    atomic_fetch_add(
        outcome == SAMSA_ACK_ACCEPT ? &outcome_accept : &outcome_reject, 1);
    atomic_fetch_sub(&left, 1);
}

static void *
producer(void *arg)
{
    samsa_record r[JOBS];
    char text[JOBS][16];
    (void)arg;
    memset(r, 0, sizeof r);
    for (int i = 0; i < JOBS; i++) {
        snprintf(text[i], sizeof text[i], "%d", i);
        r[i].key = text[i];
        r[i].key_len = strlen(text[i]);
        r[i].value = text[i];
        r[i].value_len = strlen(text[i]);
    }
    check(samsa_produce(store, "jobs", SAMSA_PARTITION_ANY, r, JOBS),
          "samsa_produce");
    /* Wait for each job's outcome, the blocking form of the callback.
     * Most jobs are finished long before their turn comes: their
     * outcomes are kept (SAMSA_QUEUE_OUTCOMES per partition), so each
     * wait still says how the job ended and after how many deliveries. */
    for (int i = 0; i < JOBS; i++) {
        samsa_ack_info info;
        check(samsa_queue_ack_info(store, "workers", "jobs", r[i].partition,
                                   r[i].offset, 30000, &info),
              "samsa_queue_ack_info");
        if (info.outcome == SAMSA_ACK_ACCEPT)
            atomic_fetch_add(&waited_accept, 1);
        else if (info.outcome == SAMSA_ACK_ARCHIVED)
            printf("producer: job %d dead-lettered after %d deliveries\n", i,
                   (int)info.delivery_count);
    }
    printf("producer: all %d jobs finished, %d accepted\n", JOBS,
           atomic_load(&waited_accept));
    return NULL;
}

static void *
worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    samsa_queue *q;
    samsa_delivery d[8];
    size_t n;
    check(samsa_queue_open(store, "workers", "jobs", &queue_cfg, &q),
          "samsa_queue_open");
    if (id == 0) {
        /* The crash: take jobs and stop, acknowledging nothing. */
        int rc = samsa_queue_receive(q, d, 5, &n, 5000);
        printf("worker 0: took %zu jobs and crashed\n",
               rc == 0 ? n : (size_t)0);
        crashed = q; /* closed by main, after samsa_close() */
        return NULL;
    }
    while (atomic_load(&left) > 0) {
        int rc = samsa_queue_receive(q, d, 8, &n, 100);
        if (rc == SAMSA_ETIMEDOUT)
            continue;
        check(rc, "samsa_queue_receive");
        for (size_t i = 0; i < n; i++) {
            int job = atoi((const char *)d[i].msg.value);
            int type = SAMSA_ACK_ACCEPT;
            if (job == POISON)
                type = SAMSA_ACK_RELEASE; /* cannot do it: give it back */
            rc = samsa_queue_ack(q, &d[i], 1, type);
            if (rc == SAMSA_ENOTACQUIRED)
                continue; /* held past its lock (a slow or descheduled
                             worker): it went back to the queue, and
                             another worker does it */
            check(rc, "samsa_queue_ack");
            if (type == SAMSA_ACK_ACCEPT)
                atomic_fetch_add(&accepted[job], 1);
        }
    }
    samsa_queue_close(q);
    return NULL;
}

int
main(int argc, char *argv[])
{
    samsa_options opt = {.flags = SAMSA_OPEN_CREATE};
    samsa_topic_config cfg = {.partitions = 3};
    pthread_t prod, work[WORKERS];

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    check(samsa_open(argv[1], &opt, &store), "samsa_open");
    check(samsa_topic_create(store, "jobs", &cfg), "samsa_topic_create");
    check(samsa_topic_create(store, "jobs.dlq", NULL), "samsa_topic_create");
    check(samsa_queue_on_ack(store, "workers", "jobs", on_ack, NULL),
          "samsa_queue_on_ack");

    /* Worker 0 takes the first jobs and crashes before the others start,
     * so its jobs must come back through lock expiry. */
    pthread_create(&work[0], NULL, worker, (void *)(intptr_t)0);
    pthread_create(&prod, NULL, producer, NULL);
    pthread_join(work[0], NULL);
    for (int i = 1; i < WORKERS; i++)
        pthread_create(&work[i], NULL, worker, (void *)(intptr_t)i);
    pthread_join(prod, NULL);
    for (int i = 1; i < WORKERS; i++)
        pthread_join(work[i], NULL);

    /* The dead-letter topic holds the poison job, saying why. */
    samsa_cursor *c;
    samsa_message m;
    int dead = 0, bad = 0;
    check(samsa_cursor_open(store, "jobs.dlq", 0, SAMSA_OFFSET_BEGINNING, &c),
          "samsa_cursor_open");
    while (samsa_cursor_next(c, &m, 0) == 0) {
        int job = atoi((const char *)m.value);
        size_t pos = 0;
        for (size_t i = 0; i < m.header_count; i++) {
            const char *k;
            const void *v;
            size_t kl, vl;
            check(samsa_message_header_next(&m, &pos, &k, &kl, &v, &vl),
                  "samsa_message_header_next");
            if (kl == strlen(SAMSA_DLQ_REASON) &&
                memcmp(k, SAMSA_DLQ_REASON, kl) == 0)
                printf("dead letter: job %d, reason %.*s\n", job, (int)vl,
                       (const char *)v);
        }
        dead += job == POISON;
        bad += job != POISON;
    }
    samsa_cursor_close(c);
    for (int i = 0; i < JOBS; i++)
        bad += accepted[i] != (i == POISON ? 0 : 1);
    check(samsa_queue_on_ack(store, "workers", "jobs", NULL, NULL),
          "samsa_queue_on_ack");
    check(samsa_close(store), "samsa_close");
    samsa_queue_close(crashed);

    printf("%d jobs: %d accepted exactly once, %d dead-lettered; producer "
           "told %d accepted, %d rejected\n",
           JOBS, JOBS - 1 - (bad > 0), dead, atomic_load(&outcome_accept),
           atomic_load(&outcome_reject));
    if (bad != 0 || dead != 1 || atomic_load(&outcome_accept) != JOBS - 1 ||
        atomic_load(&outcome_reject) != 1 ||
        atomic_load(&waited_accept) != JOBS - 1) {
        printf("workqueue: FAILED\n");
        return 1;
    }
    printf("every job was accepted exactly once or dead-lettered\n");
    return 0;
}
