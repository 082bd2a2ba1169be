/*
 * topics.c - `samsa topics DIR [--describe]`, `samsa topic create DIR NAME`
 * and `samsa topic delete DIR NAME`.
 *
 * --describe prints what kafka-topics --describe does, in its layout (tab
 * separated "Field: value"), with samsa's directories standing for
 * Kafka's brokers: 0 is DIR, i the i-th -R directory.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

static const char topics_help[] =
    "usage: samsa topics [--describe] [-R REPLICA_DIR]... DIR\n"
    "List the topics of the store in DIR, one name a line, sorted.\n"
    "  -d, --describe         each topic's partition count, replicas and\n"
    "                         config, then per partition its first and end\n"
    "                         offsets and copies (0: DIR, i: the i-th -R)\n"
    "  -R, --replica-dir DIR  a mirror directory, as the application opens\n"
    "                         the store with (repeat, in the same order)\n";

static const char topic_help[] =
    "usage: samsa topic create [OPTION]... DIR NAME\n"
    "       samsa topic delete [-R REPLICA_DIR]... DIR NAME\n"
    "Create a topic (and the store, when DIR does not exist), or delete\n"
    "a topic with all its records and its groups' offsets.\n"
    "  -p, --partitions N       partitions (default 1)\n"
    "  -r, --replicas N         copies of each partition, on distinct\n"
    "                           directories (default 1)\n"
    "      --segment-bytes N    roll segments past N bytes (default 1 GiB)\n"
    "      --sync always|none   fdatasync before a produce returns, or not\n"
    "                           (default: the store's, none)\n"
    "  -R, --replica-dir DIR    a mirror directory (repeat, in order)\n";

static const char *
sync_name(int sync)
{
    return sync == SAMSA_SYNC_ALWAYS ? "always"
           : sync == SAMSA_SYNC_NONE ? "none"
                                     : "default";
}

typedef struct topics_ctx {
    samsa *s;     /* the store                                */
    int describe; /* --describe                               */
    int rc;       /* the first failure, as an exit status     */
} topics_ctx;

/* The copies of a partition as "0,1" (all, or only the in-sync ones). */
static void
put_dirs(const samsa_replica_info *info, size_t n, int insync_only)
{
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (insync_only && info[i].state != SAMSA_REPLICA_INSYNC)
            continue;
        printf(first ? "%d" : ",%d", info[i].dir);
        first = 0;
    }
}

static int
describe_partition(topics_ctx *t, const char *name, int32_t p)
{
    int64_t first, end;
    samsa_replica_info info[SAMSA_MAX_REPLICA_DIRS + 1];
    size_t n;
    int rc = samsa_offsets(t->s, name, p, &first, &end);
    if (rc == 0)
        rc = samsa_replica_status(t->s, name, p, info,
                                  SAMSA_MAX_REPLICA_DIRS + 1, &n);
    if (rc != 0)
        return tool_fail(rc, "topic \"%s\" partition %" PRId32, name, p);
    if (n > SAMSA_MAX_REPLICA_DIRS + 1)
        n = SAMSA_MAX_REPLICA_DIRS + 1;
    int leader = -1;
    for (size_t i = 0; i < n; i++)
        if (info[i].leader)
            leader = info[i].dir;
    printf("\tTopic: %s\tPartition: %" PRId32 "\tFirstOffset: %" PRId64
           "\tEndOffset: %" PRId64 "\tLeader: %d\tReplicas: ",
           name, p, first, end, leader);
    put_dirs(info, n, 0);
    fputs("\tIsr: ", stdout);
    put_dirs(info, n, 1);
    putchar('\n');
    return TOOL_OK;
}

static int
topic_line(const char *name, void *ctx)
{
    topics_ctx *t = ctx;
    if (!t->describe) {
        printf("%s\n", name);
        return 0;
    }
    samsa_topic_config cfg;
    int rc = samsa_topic_describe(t->s, name, &cfg);
    if (rc != 0) {
        t->rc = tool_fail(rc, "topic \"%s\"", name);
        return 1;
    }
    printf("Topic: %s\tPartitionCount: %" PRId32 "\tReplicationFactor: %" PRId32
           "\tConfigs: segment.bytes=%" PRId64 ",max.message.bytes=%" PRId32
           ",index.interval.bytes=%" PRId32 ",min.insync.replicas=%" PRId32
           ",acks=%s,sync=%s\n",
           name, cfg.partitions, cfg.replicas, cfg.segment_bytes,
           cfg.max_message_bytes, cfg.index_interval_bytes, cfg.min_insync,
           cfg.acks == SAMSA_ACKS_LEADER ? "1" : "all", sync_name(cfg.sync));
    for (int32_t p = 0; p < cfg.partitions; p++)
        if ((t->rc = describe_partition(t, name, p)) != TOOL_OK)
            return 1;
    return 0;
}

int
cmd_topics(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"describe", no_argument, NULL, 'd'},
        {"replica-dir", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0}};
    tool_store ts = {.nreplicas = 0};
    topics_ctx t = {.rc = TOOL_OK};
    int c, st;
    while ((c = getopt_long(argc, argv, ":dR:", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            t.describe = 1;
            break;
        default:
            if ((st = tool_option(c, argv, &ts, topics_help)) != TOOL_MORE)
                return st;
        }
    }
    if ((st = tool_open_arg(argc, argv, &ts, TOOL_READ, &t.s)) != TOOL_OK)
        return st;
    int rc = samsa_topic_foreach(t.s, topic_line, &t);
    if (rc < 0)
        t.rc = tool_fail(rc, "topics");
    if (tool_close(t.s) != TOOL_OK)
        return TOOL_ERR;
    return t.rc;
}

/* Create the topic (with cfg) or delete it (cfg NULL): DIR and NAME are
 * what is left of argv. */
static int
topic_admin(int argc, char **argv, const tool_store *ts,
            samsa_topic_config *cfg)
{
    if (argc - optind != 2)
        return tool_usage("DIR and NAME needed");
    const char *name = argv[optind + 1];
    samsa *s;
    if (tool_open(argv[optind], ts, cfg != NULL ? TOOL_CREATE : TOOL_WRITE,
                  &s) != TOOL_OK)
        return TOOL_ERR;
    int rc =
        cfg ? samsa_topic_create(s, name, cfg) : samsa_topic_delete(s, name);
    int st = rc != 0 ? tool_fail(rc, "topic \"%s\"", name) : TOOL_OK;
    if (rc == 0 && cfg == NULL)
        printf("deleted topic %s\n", name);
    else if (rc == 0 && samsa_topic_describe(s, name, cfg) == 0)
        printf("created topic %s: %" PRId32 " partition%s, %" PRId32
               " replica%s\n",
               name, cfg->partitions, cfg->partitions == 1 ? "" : "s",
               cfg->replicas, cfg->replicas == 1 ? "" : "s");
    if (tool_close(s) != TOOL_OK)
        return TOOL_ERR;
    return st;
}

static int
topic_create(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"partitions", required_argument, NULL, 'p'},
        {"replicas", required_argument, NULL, 'r'},
        {"segment-bytes", required_argument, NULL, 's'},
        {"sync", required_argument, NULL, 'S'},
        {"replica-dir", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0}};
    samsa_topic_config cfg = {.partitions = 0};
    tool_store ts = {.nreplicas = 0};
    int64_t v;
    int c, st;
    while ((c = getopt_long(argc, argv, ":p:r:R:", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (tool_int(optarg, 1, SAMSA_MAX_PARTITIONS, &v) != 0)
                return tool_usage("-p %s: not a partition count", optarg);
            cfg.partitions = (int32_t)v;
            break;
        case 'r':
            if (tool_int(optarg, 1, SAMSA_MAX_REPLICA_DIRS + 1, &v) != 0)
                return tool_usage("-r %s: not a replica count", optarg);
            cfg.replicas = (int32_t)v;
            break;
        case 's':
            if (tool_int(optarg, 1, INT64_MAX, &v) != 0)
                return tool_usage("--segment-bytes %s: not a size", optarg);
            cfg.segment_bytes = v;
            break;
        case 'S':
            if (strcmp(optarg, "always") == 0)
                cfg.sync = SAMSA_SYNC_ALWAYS;
            else if (strcmp(optarg, "none") == 0)
                cfg.sync = SAMSA_SYNC_NONE;
            else
                return tool_usage("--sync %s: always or none", optarg);
            break;
        default:
            if ((st = tool_option(c, argv, &ts, topic_help)) != TOOL_MORE)
                return st;
        }
    }
    return topic_admin(argc, argv, &ts, &cfg);
}

static int
topic_delete(int argc, char **argv)
{
    tool_store ts = {.nreplicas = 0};
    int st = tool_options_plain(argc, argv, &ts, topic_help);
    return st != TOOL_MORE ? st : topic_admin(argc, argv, &ts, NULL);
}

int
cmd_topic(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "create") == 0) {
        tool_cmd = "topic create";
        return topic_create(argc - 1, argv + 1);
    }
    if (argc >= 2 && strcmp(argv[1], "delete") == 0) {
        tool_cmd = "topic delete";
        return topic_delete(argc - 1, argv + 1);
    }
    if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
        fputs(topic_help, stdout);
        return TOOL_OK;
    }
    if (argc < 2)
        return tool_usage("create or delete?");
    return tool_usage("%s: create or delete?", argv[1]);
}
