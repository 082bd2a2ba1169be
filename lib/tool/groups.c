/*
 * groups.c - `samsa groups DIR` and `samsa group describe|reset|delete DIR
 * GROUP`: kafka-consumer-groups on a store.
 *
 * describe prints, as kafka-consumer-groups --describe does, one line per
 * partition the group has committed: topic, partition, committed offset,
 * log end offset and lag, then the member owning it in this process (a
 * store opened by this command has none: members live in the process
 * that runs them, so "-").
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

static const char groups_help[] =
    "usage: samsa groups [-R REPLICA_DIR]... DIR\n"
    "List the groups of the store in DIR: consumer groups, then share\n"
    "groups, each in name order, as \"consumer NAME\" or \"share NAME\".\n"
    "  -R, --replica-dir DIR  a mirror directory (repeat, in order)\n";

static const char group_help[] =
    "usage: samsa group describe [-R REPLICA_DIR]... DIR GROUP\n"
    "       samsa group reset [-R REPLICA_DIR]... --topic TOPIC\n"
    "                   [--partition P] --to-earliest|--to-latest|\n"
    "                   --to-offset N|--to-datetime MS|--shift-by N DIR GROUP\n"
    "       samsa group delete [-R REPLICA_DIR]... DIR GROUP\n"
    "Describe a consumer group (committed offsets and lag per partition),\n"
    "move its committed offsets, or delete it.  reset and delete need a\n"
    "group with no members (no application has the store open).\n"
    "  -t, --topic TOPIC       the topic whose offsets reset moves\n"
    "  -p, --partition P       one partition (default: all of the topic)\n"
    "      --to-earliest       to the log start\n"
    "      --to-latest         to the log end\n"
    "      --to-offset N       to N (clamped to the log)\n"
    "      --to-datetime MS    to the first record at or after MS (ms\n"
    "                          since the epoch)\n"
    "      --shift-by N        by N (negative: back)\n"
    "  -R, --replica-dir DIR   a mirror directory (repeat, in order)\n";

static int
group_line(const char *name, samsa_group_type type, void *ctx)
{
    (void)ctx;
    printf("%s %s\n", type == SAMSA_GROUP_CONSUMER ? "consumer" : "share",
           name);
    return 0;
}

int
cmd_groups(int argc, char **argv)
{
    tool_store ts = {.nreplicas = 0};
    int st = tool_options_plain(argc, argv, &ts, groups_help);
    if (st != TOOL_MORE)
        return st;
    samsa *s;
    if ((st = tool_open_arg(argc, argv, &ts, TOOL_READ, &s)) != TOOL_OK)
        return st;
    int rc = samsa_group_list(s, group_line, NULL);
    st = rc != 0 ? tool_fail(rc, "groups") : TOOL_OK;
    if (tool_close(s) != TOOL_OK)
        return TOOL_ERR;
    return st;
}

static int
offset_line(const samsa_group_offset *o, void *ctx)
{
    int *n = ctx;
    if ((*n)++ == 0)
        printf("TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\n");
    printf("%s\t%" PRId32 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n", o->topic,
           o->partition, o->committed, o->end, o->lag);
    return 0;
}

/* What group reset was asked to do. */
typedef struct reset_args {
    const char *topic;
    int32_t partition;
    samsa_reset_to to; /* 0: not given */
    int64_t value;
} reset_args;

/* Run the subcommand (sub) on DIR GROUP, what is left of argv. */
static int
group_run(int argc, char **argv, const tool_store *ts, const char *sub,
          const reset_args *ra)
{
    if (argc - optind != 2)
        return tool_usage("DIR and GROUP needed");
    const char *name = argv[optind + 1];
    samsa *s;
    if (tool_open(argv[optind], ts,
                  strcmp(sub, "describe") == 0 ? TOOL_READ : TOOL_WRITE,
                  &s) != TOOL_OK)
        return TOOL_ERR;
    int rc, n = 0;
    if (strcmp(sub, "describe") == 0) {
        rc = samsa_group_offsets(s, name, offset_line, &n);
        if (rc == 0 && n == 0)
            printf("group %s has no committed offsets\n", name);
    } else if (strcmp(sub, "reset") == 0) {
        rc = samsa_group_reset(s, name, ra->topic, ra->partition, ra->to,
                               ra->value);
        if (rc == 0)
            rc = samsa_group_offsets(s, name, offset_line, &n);
    } else {
        rc = samsa_group_delete(s, name);
        if (rc == 0)
            printf("deleted group %s\n", name);
    }
    int st = rc != 0 ? tool_fail(rc, "group \"%s\"", name) : TOOL_OK;
    if (tool_close(s) != TOOL_OK)
        return TOOL_ERR;
    return st;
}

enum { OPT_EARLIEST = 1001, OPT_LATEST, OPT_OFFSET, OPT_DATETIME, OPT_SHIFT };

/* Take a --to-* or --shift-by option into ra; TOOL_MORE or a status. */
static int
reset_option(int c, reset_args *ra)
{
    int64_t v = 0;
    if (ra->to != 0)
        return tool_usage("one --to-* or --shift-by only");
    if ((c == OPT_OFFSET || c == OPT_SHIFT || c == OPT_DATETIME) &&
        tool_int(optarg, c == OPT_SHIFT ? INT64_MIN : 0, INT64_MAX, &v) != 0)
        return tool_usage("%s: not a number", optarg);
    ra->value = v;
    ra->to = c == OPT_EARLIEST   ? SAMSA_RESET_TO_EARLIEST
             : c == OPT_LATEST   ? SAMSA_RESET_TO_LATEST
             : c == OPT_OFFSET   ? SAMSA_RESET_TO_OFFSET
             : c == OPT_DATETIME ? SAMSA_RESET_TO_TIME
                                 : SAMSA_RESET_BY_SHIFT;
    return TOOL_MORE;
}

int
cmd_group(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"topic", required_argument, NULL, 't'},
        {"partition", required_argument, NULL, 'p'},
        {"to-earliest", no_argument, NULL, OPT_EARLIEST},
        {"to-latest", no_argument, NULL, OPT_LATEST},
        {"to-offset", required_argument, NULL, OPT_OFFSET},
        {"to-datetime", required_argument, NULL, OPT_DATETIME},
        {"shift-by", required_argument, NULL, OPT_SHIFT},
        {"replica-dir", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0}};
    if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
        fputs(group_help, stdout);
        return TOOL_OK;
    }
    const char *sub = argc >= 2 ? argv[1] : "";
    if (strcmp(sub, "describe") != 0 && strcmp(sub, "reset") != 0 &&
        strcmp(sub, "delete") != 0)
        return tool_usage("%s%sdescribe, reset or delete?", sub,
                          *sub ? ": " : "");
    static char cmd[32];
    snprintf(cmd, sizeof cmd, "group %s", sub);
    tool_cmd = cmd;
    argc--;
    argv++;
    tool_store ts = {.nreplicas = 0};
    reset_args ra = {.partition = SAMSA_PARTITION_ANY};
    int c, st;
    int64_t v;
    bool reset = strcmp(sub, "reset") == 0;
    while ((c = getopt_long(argc, argv, ":t:p:R:", longopts, NULL)) != -1) {
        if (!reset && c != 'R' && c != OPT_HELP && c != ':' && c != '?')
            return tool_usage("%s takes no such option", sub);
        switch (c) {
        case 't':
            ra.topic = optarg;
            break;
        case 'p':
            if (tool_int(optarg, 0, INT32_MAX, &v) != 0)
                return tool_usage("-p %s: not a partition", optarg);
            ra.partition = (int32_t)v;
            break;
        case OPT_EARLIEST:
        case OPT_LATEST:
        case OPT_OFFSET:
        case OPT_DATETIME:
        case OPT_SHIFT:
            if ((st = reset_option(c, &ra)) != TOOL_MORE)
                return st;
            break;
        default:
            if ((st = tool_option(c, argv, &ts, group_help)) != TOOL_MORE)
                return st;
        }
    }
    if (reset && (ra.topic == NULL || ra.to == 0))
        return tool_usage("reset needs --topic and one --to-* or --shift-by");
    return group_run(argc, argv, &ts, sub, &ra);
}
