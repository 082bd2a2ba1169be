/*
 * quickstart.c - the first samsa program.
 *
 * Opens (or creates) a store, creates the topic "greetings" with three
 * partitions, produces a few records, then reads every partition back.
 *
 *   make run                     builds it and runs it on
 * build/quickstart-store build/examples/quickstart DIR
 *
 * Every samsa function returns 0 or a negative error code that
 * samsa_strerror() turns into a message; this program stops at the first one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <samsa.h>

static const char *TOPIC = "greetings";

/* Stop with a message when a samsa call failed. */
static void
check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "quickstart: %s: %s\n", what, samsa_strerror(rc));
        exit(1);
    }
}

/* A record with a string key (or none, for NULL) and a string value. */
static samsa_record
record(const char *key, const char *value)
{
    samsa_record r = {0};

    r.key = key;
    r.key_len = key != NULL ? strlen(key) : 0;
    r.value = value;
    r.value_len = strlen(value);
    return r;
}

/* Print bytes that may be NULL (Kafka's null) or not NUL-terminated. */
static void
print_bytes(const void *p, size_t len)
{
    if (p == NULL)
        printf("(null)");
    else
        printf("\"%.*s\"", (int)len, (const char *)p);
}

/* Print where each record went. */
static void
print_stored(const samsa_record *recs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        printf("  stored ");
        print_bytes(recs[i].value, recs[i].value_len);
        printf(" at partition %" PRId32 ", offset %" PRId64 "\n",
               recs[i].partition, recs[i].offset);
    }
}

/* Read one partition from its first record to its end. */
static void
read_partition(samsa *s, int32_t partition)
{
    samsa_cursor *c;
    samsa_message m;
    int rc;

    check(samsa_cursor_open(s, TOPIC, partition, SAMSA_OFFSET_BEGINNING, &c),
          "samsa_cursor_open");
    printf("partition %" PRId32 ":\n", partition);

    /* Timeout 0: do not wait for new records; SAMSA_ETIMEDOUT means the
     * cursor reached the end of the partition. */
    while ((rc = samsa_cursor_next(c, &m, 0)) == 0) {
        printf("  offset %" PRId64 " key ", m.offset);
        print_bytes(m.key, m.key_len);
        printf(" value ");
        print_bytes(m.value, m.value_len);

        size_t pos = 0; /* headers in one pass */
        for (size_t i = 0; i < m.header_count; i++) {
            const char *hkey;
            const void *hval;
            size_t hkey_len, hval_len;

            check(samsa_message_header_next(&m, &pos, &hkey, &hkey_len, &hval,
                                            &hval_len),
                  "samsa_message_header_next");
            printf(" header %.*s=", (int)hkey_len, hkey);
            print_bytes(hval, hval_len);
        }
        printf("\n");
        /* m's pointers are valid only until the next samsa_cursor_next(). */
    }
    if (rc != SAMSA_ETIMEDOUT)
        check(rc, "samsa_cursor_next");
    samsa_cursor_close(c);
}

int
main(int argc, char **argv)
{
    samsa *s;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }

    /* 1. Open the store, creating its directory the first time. */
    samsa_options opt = {.flags = SAMSA_OPEN_CREATE};
    check(samsa_open(argv[1], &opt, &s), "samsa_open");

    /* 2. Create the topic; it may exist from an earlier run. */
    samsa_topic_config cfg = {.partitions = 3};
    rc = samsa_topic_create(s, TOPIC, &cfg);
    if (rc != SAMSA_EEXIST)
        check(rc, "samsa_topic_create");
    check(samsa_topic_describe(s, TOPIC, &cfg), "samsa_topic_describe");

    /* 3. Produce keyed records with a header; the partitioner picks the
     *    partition from the key (Kafka's murmur2), so equal keys always
     *    land in the same partition, in order. */
    samsa_header from = {.key = "from",
                         .value = "quickstart",
                         .value_len = strlen("quickstart")};
    samsa_record greetings[] = {
        record("alice", "hello, alice"),
        record("carol", "bonjour, carol"),
        record("dave", "hallo, dave"),
        record("alice", "hello again, alice"),
    };
    size_t n = sizeof greetings / sizeof greetings[0];
    for (size_t i = 0; i < n; i++) {
        greetings[i].headers = &from;
        greetings[i].header_count = 1;
    }
    check(samsa_produce(s, TOPIC, SAMSA_PARTITION_ANY, greetings, n),
          "samsa_produce");
    printf("produced with SAMSA_PARTITION_ANY:\n");
    print_stored(greetings, n);

    /* 4. Produce one batch to partition 0: its records are stored all or
     *    none, with consecutive offsets. */
    samsa_record batch[] = {
        record(NULL, "one"),
        record(NULL, "two"),
        record(NULL, "three"),
    };
    n = sizeof batch / sizeof batch[0];
    check(samsa_produce(s, TOPIC, 0, batch, n), "samsa_produce");
    printf("produced one batch to partition 0:\n");
    print_stored(batch, n);

    /* 5. Read every partition back from the beginning. */
    for (int32_t p = 0; p < cfg.partitions; p++)
        read_partition(s, p);

    /* 6. Close: seals the segments and releases the store's lock. */
    check(samsa_close(s), "samsa_close");
    return 0;
}
