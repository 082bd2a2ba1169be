/*
 * adopt.c - `samsa adopt DIR TOPIC KAFKA_PARTITION_DIR`: a Kafka partition
 * directory becomes a new one-partition topic, with samsa_topic_adopt(3).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "tool.h"

static const char adopt_help[] =
    "usage: samsa adopt [-r N] [-R REPLICA_DIR]... DIR TOPIC KAFKA_DIR\n"
    "Make TOPIC, a topic of one partition, from KAFKA_DIR, a directory Kafka\n"
    "wrote for one partition (TOPIC-N, with its BASE.log segments): offsets\n"
    "and record batches as Kafka wrote them, gaps and compression included.\n"
    "Every batch is checked first (CRC-32C, records, offsets); a damaged\n"
    "one refuses the directory and nothing is made.  KAFKA_DIR is never\n"
    "modified: its .log files are hard-linked (one copy, one filesystem)\n"
    "or copied.\n"
    "  -r, --replicas N       copies of the partition (default 1)\n"
    "  -R, --replica-dir DIR  a mirror directory (repeat, in order)\n"
    "Exit status: 0 when adopted, 1 otherwise, 2 for a usage error.\n";

int
cmd_adopt(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"replicas", required_argument, NULL, 'r'},
        {"replica-dir", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0}};
    tool_store ts = {.nreplicas = 0};
    samsa_topic_config cfg = {.partitions = 1};
    int64_t v;
    int c, st;
    while ((c = getopt_long(argc, argv, ":r:R:", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            if (tool_int(optarg, 1, SAMSA_MAX_REPLICA_DIRS + 1, &v) != 0)
                return tool_usage("-r %s: a number of copies expected", optarg);
            cfg.replicas = (int32_t)v;
            break;
        default:
            if ((st = tool_option(c, argv, &ts, adopt_help)) != TOOL_MORE)
                return st;
        }
    }
    if (argc - optind != 3)
        return tool_usage("DIR, TOPIC and KAFKA_DIR expected");
    const char *topic = argv[optind + 1], *kdir = argv[optind + 2];
    samsa *s;
    if ((st = tool_open(argv[optind], &ts, TOOL_CREATE, &s)) != TOOL_OK)
        return st;
    int rc = samsa_topic_adopt(s, topic, kdir, &cfg);
    /* A refused adopt made nothing (samsa_topic_adopt(3)): in a new store,
     * not the store either. */
    int refused = rc != 0;
    int64_t first = 0, end = 0;
    if (rc == 0)
        rc = samsa_offsets(s, topic, 0, &first, &end);
    if (rc == 0)
        printf("adopted %s as topic \"%s\": offsets %" PRId64 "..%" PRId64 "\n",
               kdir, topic, first, end);
    st = rc == 0 ? TOOL_OK : tool_fail(rc, "%s as topic \"%s\"", kdir, topic);
    if (tool_close_made(s, refused ? TOOL_ERR : TOOL_OK) != TOOL_OK)
        return TOOL_ERR;
    return st;
}
