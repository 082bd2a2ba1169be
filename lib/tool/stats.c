/*
 * stats.c - `samsa stats DIR [--json]`: the store's figures
 * (samsa_stats(3)), as a table or as the JSON samsa_stats_json() makes.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "tool.h"

static const char stats_help[] =
    "usage: samsa stats [--json] [-R REPLICA_DIR]... DIR\n"
    "Print the figures of the store in DIR: totals, then a line per\n"
    "partition (log start and end, records, bytes, segments, open files,\n"
    "copies in sync).\n"
    "  -j, --json             one JSON object instead (samsa_stats_json)\n"
    "  -R, --replica-dir DIR  a mirror directory (repeat, in order)\n";

static int
partition_line(const samsa_partition_stats *p, void *ctx)
{
    int *n = ctx;
    if ((*n)++ == 0)
        printf("TOPIC\tPARTITION\tSTART\tEND\tRECORDS\tBYTES\tSEGMENTS\t"
               "OPEN-FILES\tIN-SYNC\n");
    printf("%s\t%" PRId32 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRIu64
           "\t%" PRIu32 "\t%" PRIu32 "\t%" PRIu32 "/%" PRIu32 "\n",
           p->topic, p->partition, p->start, p->end, p->records, p->bytes,
           p->segments, p->open_files, p->insync, p->copies);
    return 0;
}

int
cmd_stats(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"replica-dir", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0}};
    tool_store ts = {.nreplicas = 0};
    int c, st, json = 0;
    while ((c = getopt_long(argc, argv, ":jR:", longopts, NULL)) != -1) {
        if (c == 'j')
            json = 1;
        else if ((st = tool_option(c, argv, &ts, stats_help)) != TOOL_MORE)
            return st;
    }
    samsa *s;
    if ((st = tool_open_arg(argc, argv, &ts, TOOL_READ, &s)) != TOOL_OK)
        return st;
    int rc, mst = TOOL_OK;
    if (json) {
        char *text;
        if ((rc = samsa_stats_json(s, &text)) == 0) {
            puts(text);
            free(text);
        }
    } else {
        samsa_store_stats t;
        int n = 0;
        if ((rc = samsa_stats(s, &t)) == 0) {
            printf("topics %" PRIu32 ", partitions %" PRIu32
                   ", records %" PRId64 ", bytes %" PRIu64 ", segments %" PRIu64
                   ", open files %" PRIu32 ", under-replicated %" PRIu32
                   ", consumer groups %" PRIu32 ", share groups %" PRIu32 "\n",
                   t.topics, t.partitions, t.records, t.bytes, t.segments,
                   t.open_files, t.under_replicated, t.consumer_groups,
                   t.share_groups);
            rc = samsa_stats_partitions(s, NULL, partition_line, &n);
#ifdef SAMSA_KAFKA
            if (rc == 0)
                mst = tool_mirror_stats(s, argv[optind]);
#endif
        }
    }
    st = rc != 0 ? tool_fail(rc, "stats") : mst;
    if (tool_close(s) != TOOL_OK)
        return TOOL_ERR;
    return st;
}
