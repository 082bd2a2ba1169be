/*
 * scrub.c - check every copy of every record batch of a store, and repair
 * what is damaged or missing from a good copy.
 *
 *   build/examples/scrub DIR [REPLICA_DIR...]
 *
 * Give the directories as the application opens them (the store must not
 * be open elsewhere: samsa_open() takes its lock).  First rebuilds the
 * copies that are out of the in-sync set (samsa_replica_catchup(): for
 * example those on a directory that was opened alone since), then prints
 * what samsa_scrub() found and fixed, and the state of every partition's
 * copies; exits 1 when something could not be repaired.
 */
#include <inttypes.h>
#include <stdio.h>

#include <samsa.h>

static samsa *store;

static int
print_topic(const char *name, void *ctx)
{
    (void)ctx;
    samsa_topic_config cfg;
    int rc = samsa_topic_describe(store, name, &cfg);
    for (int32_t p = 0; rc == 0 && p < cfg.partitions; p++) {
        samsa_replica_info info[8];
        size_t n;
        rc = samsa_replica_status(store, name, p, info, 8, &n);
        printf("  %s-%" PRId32 ":", name, p);
        for (size_t i = 0; rc == 0 && i < n && i < 8; i++)
            printf(" dir %d%s%s", info[i].dir,
                   info[i].leader ? " (leader)" : "",
                   info[i].state == SAMSA_REPLICA_INSYNC ? "" : " (out)");
        printf("\n");
    }
    return rc;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [REPLICA_DIR...]\n", argv[0]);
        return 2;
    }
    samsa_options opt = {.replica_dirs = (const char *const *)argv + 2};
    int rc = samsa_open(argv[1], &opt, &store);
    if (rc != 0) {
        fprintf(stderr, "scrub: open %s: %s\n", argv[1], samsa_strerror(rc));
        return 2;
    }
    size_t rejoined = 0;
    rc = samsa_replica_catchup(store, &rejoined);
    printf("caught up %zu copies%s%s\n", rejoined, rc != 0 ? ": " : "",
           rc != 0 ? samsa_strerror(rc) : "");
    samsa_scrub_report rep;
    int src = samsa_scrub(store, NULL, &rep);
    rc = rc != 0 ? rc : src;
    printf("checked %" PRIu64 " segment files, %" PRIu64 " batches, %" PRIu64
           " bytes\n",
           rep.segments, rep.batches, rep.bytes);
    printf("damaged %" PRIu64 ", missing %" PRIu64 ", repaired %" PRIu64
           ", unrepairable %" PRIu64 "\n",
           rep.damaged, rep.missing, rep.repaired, rep.unrepairable);
    if (rc != 0)
        fprintf(stderr, "scrub: %s\n", samsa_strerror(rc));
    printf("copies:\n");
    samsa_topic_foreach(store, print_topic, NULL);
    int crc = samsa_close(store);
    return rc != 0 || crc != 0;
}
