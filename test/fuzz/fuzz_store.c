/*
 * fuzz_store.c - the stores the fuzz targets start from and the seed
 * generator takes its files from, made with the library itself so that
 * the seeds are real samsa output and reproducible (fixed timestamps,
 * fixed sequence of calls).
 */
#include <string.h>

#include "fuzz.h"
#include "store/store.h"

/* Record i of the pattern, written into the caller's buffers. */
static void
pattern(int i, samsa_record *r, char *key, uint8_t *val, samsa_header *h)
{
    int kl = snprintf(key, 16, "key-%d", i);
    size_t vl = (size_t)(i % 7) * 13;
    for (size_t j = 0; j < vl; j++)
        val[j] = (uint8_t)(i + j);
    h[0] = (samsa_header){.key = "trace", .value = key, .value_len = 4};
    h[1] = (samsa_header){.key = "null", .value = NULL, .value_len = 0};
    *r = (samsa_record){
        .key = i % 3 == 0 ? NULL : key,
        .key_len = i % 3 == 0 ? 0 : (size_t)kl,
        .value = i % 11 == 5 ? NULL : val,
        .value_len = i % 11 == 5 ? 0 : vl,
        .headers = h,
        .header_count = (size_t)(i % 3),
        /* mostly rising, every fifth older than the one before */
        .timestamp = FUZZ_TS0 + i - (i % 5 == 4 ? 3 : 0),
    };
}

void
fuzz_store_log(const char *dir, bool create, int from, int to)
{
    samsa_options opt = {.flags = SAMSA_OPEN_CREATE};
    samsa_topic_config cfg = {.segment_bytes = 4096,
                              .max_message_bytes = 1024,
                              .index_interval_bytes = 256};
    samsa *s;
    FUZZ_CHECK(samsa_open(dir, &opt, &s) == 0);
    if (create)
        FUZZ_CHECK(samsa_topic_create(s, FUZZ_LOG_TOPIC, &cfg) == 0);
    for (int i = from; i < to;) {
        samsa_record r[4];
        char key[4][16];
        uint8_t val[4][100];
        samsa_header h[4][2];
        int n = 1 + i % 4;
        if (n > to - i)
            n = to - i;
        for (int k = 0; k < n; k++)
            pattern(i + k, &r[k], key[k], val[k], h[k]);
        FUZZ_CHECK(samsa_produce(s, FUZZ_LOG_TOPIC, 0, r, (size_t)n) == 0);
        FUZZ_CHECK(r[0].offset == i);
        i += n;
    }
    FUZZ_CHECK(samsa_close(s) == 0);
}

void
fuzz_store_queue(const char *dir)
{
    samsa_options opt = {.flags = SAMSA_OPEN_CREATE};
    samsa *s;
    FUZZ_CHECK(samsa_open(dir, &opt, &s) == 0);
    FUZZ_CHECK(samsa_topic_create(s, FUZZ_QUEUE_TOPIC, NULL) == 0);
    for (int i = 0; i < FUZZ_QUEUE_RECS; i++) {
        samsa_record r;
        char key[16];
        uint8_t val[100];
        samsa_header h[2];
        pattern(i, &r, key, val, h);
        FUZZ_CHECK(samsa_produce(s, FUZZ_QUEUE_TOPIC, 0, &r, 1) == 0);
    }
    FUZZ_CHECK(samsa_close(s) == 0);
}

size_t
fuzz_queue_work(samsa *s, size_t n)
{
    samsa_queue *q;
    FUZZ_CHECK(
        samsa_queue_open(s, FUZZ_QUEUE_GROUP, FUZZ_QUEUE_TOPIC, NULL, &q) == 0);
    size_t got = 0;
    while (got < n) {
        samsa_delivery d;
        size_t k;
        if (samsa_queue_receive(q, &d, 1, &k, 0) != 0)
            break;
        int64_t o = d.msg.offset;
        int how = o % 3 == 0   ? SAMSA_ACK_REJECT
                  : o % 7 == 0 ? SAMSA_ACK_RELEASE
                               : SAMSA_ACK_ACCEPT;
        FUZZ_CHECK(samsa_queue_ack(q, &d, 1, how) == 0);
        got++;
    }
    samsa_queue_close(q);
    return got;
}

void
fuzz_store_catalog(const char *dir)
{
    fuzz_store_queue(dir);
    samsa *s;
    FUZZ_CHECK(samsa_open(dir, NULL, &s) == 0);
    samsa_topic_config cfg = {.partitions = 2, .segment_bytes = 8192};
    FUZZ_CHECK(samsa_topic_create(s, "c", &cfg) == 0);
    for (int i = 0; i < 10; i++) {
        samsa_record r = {
            .value = "v", .value_len = 1, .timestamp = FUZZ_TS0 + i};
        FUZZ_CHECK(samsa_produce(s, "c", i % 2, &r, 1) == 0);
    }
    fuzz_queue_work(s, 12); /* checkpointed at close: a snapshot */
    samsa_consumer_config cc = {.group = "readers",
                                .topics = (const char *const[]){"c", NULL},
                                .offset_reset = SAMSA_RESET_EARLIEST};
    samsa_consumer *c;
    FUZZ_CHECK(samsa_consumer_open(s, &cc, &c) == 0);
    samsa_message m;
    for (int i = 0; i < 6; i++)
        FUZZ_CHECK(samsa_consumer_poll(c, &m, 1000) == 0);
    FUZZ_CHECK(samsa_consumer_commit(c, NULL, 0) == 0);
    FUZZ_CHECK(samsa_consumer_close(c) == 0);
    FUZZ_CHECK(samsa_close(s) == 0);
}

uint64_t
fuzz_topic_id(samsa *s, const char *name)
{
    pthread_rwlock_rdlock(&s->table_lock);
    topic *t = store_topic_find(s, name);
    uint64_t id = t != NULL ? t->id : 0;
    pthread_rwlock_unlock(&s->table_lock);
    FUZZ_CHECK(id != 0);
    return id;
}
