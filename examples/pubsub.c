/*
 * pubsub.c - publish-subscribe between threads with consumer groups.
 *
 *   build/examples/pubsub DIR
 *
 * Three producer threads publish 300000 keyed records to the topic
 * "events" (8 partitions).  Two groups read it at the same time, each on
 * its own: "billing" with three consumer threads and "audit" with two.
 * Every record reaches each group; within a group, each partition is read
 * by one thread at a time.  Consumers commit after each batch they have
 * processed, and when a partition is taken from them.
 *
 * One billing thread stops after a while without committing its last
 * batch, as a crashed worker would: its partitions move to the other two,
 * which start from its last commit, so the records of that one batch are
 * processed twice (at-least-once) and none is lost.  The program prints,
 * per group, how many records were processed, how many distinct ones, and
 * how many twice, and fails if any record was lost or processed twice
 * beyond that window.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <samsa.h>

#define TOPIC      "events"
#define PARTITIONS 8
#define PRODUCERS  3
#define PER_PROD   100000
#define TOTAL      (PRODUCERS * PER_PROD)
#define BATCH      256

static samsa *store;

typedef struct group_state {
    const char *name;
    _Atomic unsigned char *seen; /* per record: times processed         */
    _Atomic long distinct;       /* records processed at least once     */
    _Atomic long processed;      /* every processing, repeats included  */
} group_state;

typedef struct worker {
    group_state *g;
    long stop_after; /* > 0: stop, uncommitted, after this many records */
} worker;

static void
check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "pubsub: %s: %s\n", what, samsa_strerror(rc));
        exit(1);
    }
}

static void *
producer(void *arg)
{
    int id = (int)(intptr_t)arg;
    char keys[100][16], values[100][16];
    samsa_record recs[100];
    for (int seq = 0; seq < PER_PROD; seq += 100) {
        for (int i = 0; i < 100; i++) {
            int rec = id * PER_PROD + seq + i;
            snprintf(keys[i], sizeof keys[i], "k%d", rec % 1000);
            snprintf(values[i], sizeof values[i], "%d", rec);
            recs[i] = (samsa_record){.key = keys[i],
                                     .key_len = strlen(keys[i]),
                                     .value = values[i],
                                     .value_len = strlen(values[i])};
        }
        check(samsa_produce(store, TOPIC, SAMSA_PARTITION_ANY, recs, 100),
              "produce");
    }
    return NULL;
}

/* Commit what was processed before a partition goes to another member. */
static void
on_rebalance(samsa_consumer *c, int event, const samsa_topic_partition *tp,
             size_t n, void *ctx)
{
    (void)ctx;
    if (event == SAMSA_REBALANCE_REVOKED)
        check(samsa_consumer_commit(c, tp, n), "commit on revoke");
}

static void *
consumer(void *arg)
{
    worker *w = arg;
    const char *topics[] = {TOPIC, NULL};
    samsa_consumer_config cfg = {.group = w->g->name,
                                 .topics = topics,
                                 .offset_reset = SAMSA_RESET_EARLIEST,
                                 .on_rebalance = on_rebalance};
    samsa_consumer *c;
    samsa_message msgs[BATCH];
    long mine = 0;
    check(samsa_consumer_open(store, &cfg, &c), "consumer open");
    while (atomic_load(&w->g->distinct) < TOTAL) {
        size_t n;
        int rc = samsa_consumer_poll_batch(c, msgs, BATCH, &n, 100);
        if (rc == SAMSA_ETIMEDOUT)
            continue;
        check(rc, "poll");
        for (size_t i = 0; i < n; i++) { /* "process" the record */
            long id = strtol(msgs[i].value, NULL, 10);
            if (atomic_fetch_add(&w->g->seen[id], 1) == 0)
                atomic_fetch_add(&w->g->distinct, 1);
            atomic_fetch_add(&w->g->processed, 1);
        }
        mine += (long)n;
        if (w->stop_after > 0 && mine >= w->stop_after)
            break; /* dies with its last batch uncommitted */
        check(samsa_consumer_commit(c, NULL, 0), "commit");
    }
    samsa_consumer_close(c);
    return NULL;
}

int
main(int argc, char *argv[])
{
    samsa_options opt = {.flags = SAMSA_OPEN_CREATE};
    samsa_topic_config tcfg = {.partitions = PARTITIONS};
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    check(samsa_open(argv[1], &opt, &store), "open");
    int rc = samsa_topic_delete(store, TOPIC); /* a fresh run each time */
    if (rc != SAMSA_ENOTOPIC)
        check(rc, "delete");
    check(samsa_topic_create(store, TOPIC, &tcfg), "create");

    group_state groups[2] = {{.name = "billing"}, {.name = "audit"}};
    worker workers[5] = {
        {&groups[0], TOTAL / 10}, {&groups[0], 0}, {&groups[0], 0},
        {&groups[1], 0},          {&groups[1], 0},
    };
    pthread_t prod[PRODUCERS], cons[5];
    for (int g = 0; g < 2; g++)
        groups[g].seen = calloc(TOTAL, sizeof *groups[g].seen);
    for (int i = 0; i < 5; i++)
        pthread_create(&cons[i], NULL, consumer, &workers[i]);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&prod[i], NULL, producer, (void *)(intptr_t)i);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(prod[i], NULL);
    for (int i = 0; i < 5; i++)
        pthread_join(cons[i], NULL);

    int failed = 0;
    for (int g = 0; g < 2; g++) {
        long twice = 0, lost = 0;
        for (long id = 0; id < TOTAL; id++) {
            lost += groups[g].seen[id] == 0;
            twice += groups[g].seen[id] > 1;
        }
        /* Only the stopped billing thread's last batch may come twice. */
        long window = g == 0 ? BATCH : 0;
        printf("%-8s %ld records published, %ld processed, %ld distinct, "
               "%ld lost, %ld twice (allowed: %ld)\n",
               groups[g].name, (long)TOTAL, (long)groups[g].processed,
               (long)groups[g].distinct, lost, twice, window);
        failed |= lost != 0 || twice > window;
        free((void *)groups[g].seen);
    }
    check(samsa_close(store), "close");
    printf(failed ? "FAILED\n" : "ok: every record reached both groups\n");
    return failed;
}
