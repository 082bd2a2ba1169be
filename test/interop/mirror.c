/*
 * mirror.c - the Kafka bridge read by a second, independent client: mirror
 * the store test/interop/dump.c wrote to librdkafka's mock cluster (on
 * loopback), then let kafkajs-consume.js consume every topic back with
 * kafkajs, a Kafka client that shares no code with librdkafka or samsa,
 * printing dump.c's canonical lines, which must equal what samsa's cursor
 * printed.  Usage: mirror DIR OUT (OUT: what kafkajs printed); the exit
 * status is node's.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>

#include "samsa_kafka.h"

/* dump.c's topics, in the order it prints them. */
static const char *const topics[] = {"interop",        "interop-gzip",
                                     "interop-snappy", "interop-lz4",
                                     "interop-zstd",   NULL};

static void
on_error(int rc, const char *msg, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "mirror: %s (%s)\n", msg, samsa_strerror(rc));
}

int
main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DIR OUT\n", argv[0]);
        return 2;
    }
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "2", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    rd_kafka_mock_cluster_t *mc =
        rd_kafka_mock_cluster_new(rk, 1); /* lives as long as rk */
    const char *bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
    samsa *s;
    samsa_options opt = {.flags = SAMSA_OPEN_RDONLY};
    int rc = samsa_open(argv[1], &opt, &s);
    for (size_t i = 0; rc == 0 && topics[i] != NULL; i++) {
        samsa_topic_config tc;
        if ((rc = samsa_topic_describe(s, topics[i], &tc)) == 0)
            rd_kafka_mock_topic_create(mc, topics[i], tc.partitions, 1);
    }
    char state[4096];
    snprintf(state, sizeof state, "%s.mirror-state", argv[2]);
    remove(state);
    samsa_mirror_config cfg = {.bootstrap = bootstrap,
                               .topics = topics,
                               .state_path = state,
                               .on_error = on_error};
    samsa_mirror *m = NULL;
    if (rc == 0)
        rc = samsa_mirror_start(s, &cfg, &m);
    if (rc == 0)
        rc = samsa_mirror_wait(m, 60000);
    int stop = samsa_mirror_stop(m);
    samsa_close(s);
    if (rc != 0 || stop != 0) {
        fprintf(stderr, "mirror: %s\n", samsa_strerror(rc ? rc : stop));
        return 1;
    }
    char cmd[8192];
    int n = snprintf(cmd, sizeof cmd, "node test/interop/kafkajs-consume.js %s",
                     bootstrap);
    for (size_t i = 0; topics[i] != NULL; i++)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " %s", topics[i]);
    snprintf(cmd + n, sizeof cmd - (size_t)n, " > %s", argv[2]);
    int st = system(cmd);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return st == 0 ? 0 : 1;
}
