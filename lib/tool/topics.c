/*
 * topics.c - `samsa topics DIR [--describe]` and `samsa topic
 * create|alter|delete DIR NAME`.
 *
 * --describe prints what kafka-topics --describe does, in its layout (tab
 * separated "Field: value"), with samsa's directories standing for
 * Kafka's brokers: 0 is DIR, i the i-th -R directory.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
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
    "       samsa topic alter [OPTION]... DIR NAME\n"
    "       samsa topic delete [-R REPLICA_DIR]... DIR NAME\n"
    "Create a topic (and the store, when DIR does not exist), change an\n"
    "existing topic's config or grow its partitions, or delete a topic\n"
    "with all its records and its groups' offsets.\n"
    "  -p, --partitions N         partitions (default 1); alter: grow to N\n"
    "  -r, --replicas N           copies of each partition, on distinct\n"
    "                             directories (default 1; create only)\n"
    "      --segment-bytes N      roll segments past N bytes (default 1 GiB)\n"
    "      --segment-ms MS        roll the active segment once its first\n"
    "                             record is MS old (-1: never, the default)\n"
    "      --retention-ms MS      delete sealed segments whose newest\n"
    "                             record is older (-1: keep, the default)\n"
    "      --retention-bytes N    delete the oldest sealed segments while a\n"
    "                             partition keeps N bytes without them\n"
    "                             (-1: no limit, the default)\n"
    "      --max-message-bytes N  largest batch of one produce (1048588)\n"
    "      --acks all|1           acknowledge from every in-sync copy or\n"
    "                             from the leader (default all)\n"
    "      --min-insync N         in-sync copies an acks=all produce\n"
    "                             needs (default 1)\n"
    "      --sync always|none     fdatasync before a produce returns, or not\n"
    "                             (default: the store's, none)\n"
    "      --compression none|gzip|snappy|lz4|zstd\n"
    "                             compress each batch (default none)\n"
    "      --compression-level N  the codec's level (default its own)\n"
    "      --timestamp-type CreateTime|LogAppendTime\n"
    "                             the producer's timestamps, or the time\n"
    "                             each batch is appended (default Create)\n"
    "      --cleanup-policy delete|compact|compact,delete\n"
    "                             delete by retention, keep each key's\n"
    "                             latest record, or both (default delete)\n"
    "      --min-cleanable-dirty-ratio R\n"
    "                             clean once R of the log is new since\n"
    "                             the last cleaning (0 < R <= 1, or -1:\n"
    "                             any; default 0.5)\n"
    "      --delete-retention-ms MS\n"
    "                             keep a tombstone MS after the cleaning\n"
    "                             that kept it (-1: none; default a day)\n"
    "      --min-compaction-lag-ms MS\n"
    "                             clean a segment only once its newest\n"
    "                             record is MS old (-1: at once, the\n"
    "                             default)\n"
    "  -R, --replica-dir DIR      a mirror directory (repeat, in order)\n";

static const char *
sync_name(int sync)
{
    return sync == SAMSA_SYNC_ALWAYS ? "always"
           : sync == SAMSA_SYNC_NONE ? "none"
                                     : "default";
}

/* Kafka's compression.type names, by samsa_compression. */
static const char *const codec_names[] = {"none", "gzip", "snappy", "lz4",
                                          "zstd"};

/* Kafka's cleanup.policy names, by samsa_cleanup_policy. */
static const char *const policy_names[] = {"?", "delete", "compact",
                                           "compact,delete"};

/* samsa keeps "no limit" as 0; Kafka writes it -1 (0 would mean "keep
 * nothing"), and so does the tool, in and out. */
static int64_t
kafka_limit(int64_t v)
{
    return v == 0 ? -1 : v;
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
    printf(
        "Topic: %s\tPartitionCount: %" PRId32 "\tReplicationFactor: %" PRId32
        "\tConfigs: segment.bytes=%" PRId64 ",max.message.bytes=%" PRId32
        ",index.interval.bytes=%" PRId32 ",min.insync.replicas=%" PRId32
        ",acks=%s,sync=%s,retention.ms=%" PRId64 ",retention.bytes=%" PRId64
        ",segment.ms=%" PRId64 ",compression.type=%s,message.timestamp.type=%s"
        ",cleanup.policy=%s,min.cleanable.dirty.ratio=%g"
        ",delete.retention.ms=%" PRId64 ",min.compaction.lag.ms=%" PRId64 "\n",
        name, cfg.partitions, cfg.replicas, cfg.segment_bytes,
        cfg.max_message_bytes, cfg.index_interval_bytes, cfg.min_insync,
        cfg.acks == SAMSA_ACKS_LEADER ? "1" : "all", sync_name(cfg.sync),
        kafka_limit(cfg.retention_ms), kafka_limit(cfg.retention_bytes),
        kafka_limit(cfg.segment_ms),
        cfg.compression >= 0 && cfg.compression <= 4
            ? codec_names[cfg.compression]
            : "?",
        cfg.timestamp_type == SAMSA_TIMESTAMP_LOG_APPEND_TIME ? "LogAppendTime"
                                                              : "CreateTime",
        policy_names[cfg.cleanup_policy & 3],
        /* samsa's -1 ("none") is Kafka's 0 for these two */
        cfg.min_cleanable_dirty_ratio > 0
            ? (double)cfg.min_cleanable_dirty_ratio
            : 0.0,
        cfg.delete_retention_ms > 0 ? cfg.delete_retention_ms : 0,
        cfg.min_compaction_lag_ms);
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

/* What `topic` does to NAME: create it, change its config, delete it. */
typedef enum { TOPIC_CREATE, TOPIC_ALTER, TOPIC_DELETE } topic_op;

static void
print_created(samsa *s, const char *name)
{
    samsa_topic_config cfg;
    if (samsa_topic_describe(s, name, &cfg) == 0)
        printf("created topic %s: %" PRId32 " partition%s, %" PRId32
               " replica%s\n",
               name, cfg.partitions, cfg.partitions == 1 ? "" : "s",
               cfg.replicas, cfg.replicas == 1 ? "" : "s");
}

/* Alter: grow the partitions first (so that a config the new count makes
 * valid is not refused), then change the config when any field is set. */
static int
topic_alter_run(samsa *s, const char *name, samsa_topic_config *cfg)
{
    static const samsa_topic_config none;
    int32_t grow = cfg->partitions;
    cfg->partitions = 0;
    int rc = grow != 0 ? samsa_topic_add_partitions(s, name, grow) : 0;
    if (rc == 0 && memcmp(cfg, &none, sizeof none) != 0)
        rc = samsa_topic_alter(s, name, cfg);
    if (rc == 0)
        printf("altered topic %s\n", name);
    return rc;
}

/* Run op on NAME: DIR and NAME are what is left of argv. */
static int
topic_admin(int argc, char **argv, const tool_store *ts, topic_op op,
            samsa_topic_config *cfg)
{
    if (argc - optind != 2)
        return tool_usage("DIR and NAME needed");
    const char *name = argv[optind + 1];
    samsa *s;
    if (tool_open(argv[optind], ts,
                  op == TOPIC_CREATE ? TOOL_CREATE : TOOL_WRITE, &s) != TOOL_OK)
        return TOOL_ERR;
    int rc;
    if (op == TOPIC_CREATE) {
        if ((rc = samsa_topic_create(s, name, cfg)) == 0)
            print_created(s, name);
    } else if (op == TOPIC_ALTER) {
        samsa_topic_config now;
        rc = samsa_topic_describe(s, name, &now);
        if (rc == 0 && cfg->partitions != 0 &&
            cfg->partitions <= now.partitions) {
            tool_msg("topic \"%s\" has %" PRId32
                     " partitions; -p can only grow it",
                     name, now.partitions);
            tool_close(s);
            return TOOL_ERR;
        }
        if (rc == 0)
            rc = topic_alter_run(s, name, cfg);
    } else if ((rc = samsa_topic_delete(s, name)) == 0) {
        printf("deleted topic %s\n", name);
    }
    int st = rc != 0 ? tool_fail(rc, "topic \"%s\"", name) : TOOL_OK;
    /* A create refused in a new store takes the store away with it. */
    return tool_close_made(s, st);
}

/* The numeric options of create and alter: where each goes in the config
 * and its range.  A "limit" option takes -1 (Kafka's "no limit") or a
 * positive number, never 0 (which samsa_topic_alter() reads as "keep"). */
typedef struct int_option {
    int c;            /* getopt's code                          */
    const char *name; /* as the usage error names it            */
    const char *what; /* "not a ..." in the usage error         */
    int64_t min, max; /* the range                              */
    size_t off;       /* the field in samsa_topic_config        */
    bool wide;        /* int64_t (else int32_t)                 */
} int_option;

#define CFG_FIELD(f) offsetof(samsa_topic_config, f)
static const int_option int_options[] = {
    {'p', "-p", "not a partition count", 1, SAMSA_MAX_PARTITIONS,
     CFG_FIELD(partitions), false},
    {'r', "-r", "not a replica count", 1, SAMSA_MAX_REPLICA_DIRS + 1,
     CFG_FIELD(replicas), false},
    {'s', "--segment-bytes", "not a size", 1, INT64_MAX,
     CFG_FIELD(segment_bytes), true},
    {'M', "--max-message-bytes", "not a size", 1, INT32_MAX,
     CFG_FIELD(max_message_bytes), false},
    {'I', "--min-insync", "not a count", 1, INT32_MAX, CFG_FIELD(min_insync),
     false},
    {'T', "--retention-ms", NULL, -1, INT64_MAX, CFG_FIELD(retention_ms), true},
    {'B', "--retention-bytes", NULL, -1, INT64_MAX, CFG_FIELD(retention_bytes),
     true},
    {'G', "--segment-ms", NULL, -1, INT64_MAX, CFG_FIELD(segment_ms), true},
    {'L', "--compression-level", "not a level", 1, 22,
     CFG_FIELD(compression_level), false},
    {'E', "--delete-retention-ms", NULL, -1, INT64_MAX,
     CFG_FIELD(delete_retention_ms), true},
    {'g', "--min-compaction-lag-ms", NULL, -1, INT64_MAX,
     CFG_FIELD(min_compaction_lag_ms), true},
};

/* One config option of create and alter into cfg: TOOL_MORE when taken,
 * NOT_CONFIG when c is not one of them, or a usage error's exit status. */
#define NOT_CONFIG (-2)
static int
config_option(int c, const char *arg, samsa_topic_config *cfg)
{
    for (size_t i = 0; i < sizeof int_options / sizeof int_options[0]; i++) {
        const int_option *o = &int_options[i];
        int64_t v;
        if (o->c != c)
            continue;
        if (tool_int(arg, o->min, o->max, &v) != 0 || (o->min < 0 && v == 0))
            return o->what != NULL
                       ? tool_usage("%s %s: %s", o->name, arg, o->what)
                       : tool_usage("%s %s: -1 or a positive number", o->name,
                                    arg);
        char *field = (char *)cfg + o->off;
        if (o->wide)
            *(int64_t *)(void *)field = v;
        else
            *(int32_t *)(void *)field = (int32_t)v;
        return TOOL_MORE;
    }
    if (c == 'A' && strcmp(arg, "all") == 0)
        cfg->acks = SAMSA_ACKS_ALL;
    else if (c == 'A' && strcmp(arg, "1") == 0)
        cfg->acks = SAMSA_ACKS_LEADER;
    else if (c == 'A')
        return tool_usage("--acks %s: all or 1", arg);
    else if (c == 'S' && strcmp(arg, "always") == 0)
        cfg->sync = SAMSA_SYNC_ALWAYS;
    else if (c == 'S' && strcmp(arg, "none") == 0)
        cfg->sync = SAMSA_SYNC_NONE;
    else if (c == 'S')
        return tool_usage("--sync %s: always or none", arg);
    else if (c == 'Y' && strcmp(arg, "CreateTime") == 0)
        cfg->timestamp_type = -1; /* CreateTime, also in alter */
    else if (c == 'Y' && strcmp(arg, "LogAppendTime") == 0)
        cfg->timestamp_type = SAMSA_TIMESTAMP_LOG_APPEND_TIME;
    else if (c == 'Y')
        return tool_usage("--timestamp-type %s: CreateTime or LogAppendTime",
                          arg);
    else if (c == 'C') {
        size_t i = 0;
        while (i < 5 && strcmp(arg, codec_names[i]) != 0)
            i++;
        if (i == 5)
            return tool_usage("--compression %s: none, gzip, snappy, lz4 "
                              "or zstd",
                              arg);
        cfg->compression = i == 0 ? -1 : (int32_t)i; /* -1: none, in alter */
    } else if (c == 'P') {
        int32_t i = 1;
        while (i < 4 && strcmp(arg, policy_names[i]) != 0)
            i++;
        if (i == 4 && strcmp(arg, "delete,compact") != 0)
            return tool_usage("--cleanup-policy %s: delete, compact or "
                              "compact,delete",
                              arg);
        cfg->cleanup_policy = i == 4 ? SAMSA_CLEANUP_COMPACT_DELETE : i;
    } else if (c == 'D') {
        char *end;
        double r = strtod(arg, &end);
        if (*arg == '\0' || *end != '\0' || !(r == -1 || (r > 0 && r <= 1)))
            return tool_usage("--min-cleanable-dirty-ratio %s: above 0 and "
                              "at most 1, or -1",
                              arg);
        cfg->min_cleanable_dirty_ratio = (float)r;
    } else
        return NOT_CONFIG;
    return TOOL_MORE;
}

/* create and alter: their options, then the work. */
static int
topic_configure(int argc, char **argv, topic_op op)
{
    static const struct option longopts[] = {
        {"partitions", required_argument, NULL, 'p'},
        {"replicas", required_argument, NULL, 'r'},
        {"segment-bytes", required_argument, NULL, 's'},
        {"segment-ms", required_argument, NULL, 'G'},
        {"retention-ms", required_argument, NULL, 'T'},
        {"retention-bytes", required_argument, NULL, 'B'},
        {"max-message-bytes", required_argument, NULL, 'M'},
        {"min-insync", required_argument, NULL, 'I'},
        {"acks", required_argument, NULL, 'A'},
        {"sync", required_argument, NULL, 'S'},
        {"compression", required_argument, NULL, 'C'},
        {"compression-level", required_argument, NULL, 'L'},
        {"timestamp-type", required_argument, NULL, 'Y'},
        {"cleanup-policy", required_argument, NULL, 'P'},
        {"min-cleanable-dirty-ratio", required_argument, NULL, 'D'},
        {"delete-retention-ms", required_argument, NULL, 'E'},
        {"min-compaction-lag-ms", required_argument, NULL, 'g'},
        {"replica-dir", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0}};
    samsa_topic_config cfg = {.partitions = 0};
    tool_store ts = {.nreplicas = 0};
    int c, st;
    while ((c = getopt_long(argc, argv, ":p:r:R:", longopts, NULL)) != -1) {
        if (op == TOPIC_ALTER && c == 'r')
            return tool_usage("-r: the replicas of a topic cannot change");
        if ((st = config_option(c, optarg, &cfg)) == NOT_CONFIG)
            st = tool_option(c, argv, &ts, topic_help);
        if (st != TOOL_MORE)
            return st;
    }
    return topic_admin(argc, argv, &ts, op, &cfg);
}

static int
topic_delete(int argc, char **argv)
{
    tool_store ts = {.nreplicas = 0};
    int st = tool_options_plain(argc, argv, &ts, topic_help);
    return st != TOOL_MORE ? st
                           : topic_admin(argc, argv, &ts, TOPIC_DELETE, NULL);
}

int
cmd_topic(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "create") == 0) {
        tool_cmd = "topic create";
        return topic_configure(argc - 1, argv + 1, TOPIC_CREATE);
    }
    if (argc >= 2 && strcmp(argv[1], "alter") == 0) {
        tool_cmd = "topic alter";
        return topic_configure(argc - 1, argv + 1, TOPIC_ALTER);
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
        return tool_usage("create, alter or delete?");
    return tool_usage("%s: create, alter or delete?", argv[1]);
}
