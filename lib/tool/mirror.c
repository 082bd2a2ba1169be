/*
 * mirror.c - `samsa mirror DIR --bootstrap HOST:PORT [TOPIC...]` and
 * `samsa import --bootstrap HOST:PORT TOPIC DIR`: the Kafka bridge
 * (samsa_kafka.h) from the shell.  Built only with librdkafka.
 *
 * mirror opens the store read-only, so it runs beside the application
 * that writes it; its position is Kafka's end plus the state file
 * (default DIR/kafka-mirror.state), so a mirror killed at any point and
 * started again sends nothing twice and misses nothing (samsa_kafka.h,
 * "Resuming").  import writes the store, so it needs it closed.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "samsa_kafka.h"
#include "tool.h"

#define MAX_CONF 64 /* -X properties at most */

static const char mirror_help[] =
    "usage: samsa mirror [OPTION]... DIR --bootstrap HOST:PORT [TOPIC]...\n"
    "Copy the TOPICs (default: every topic) of the store in DIR to the\n"
    "Kafka cluster, each record to the same partition of the same topic,\n"
    "then exit (--follow: keep copying what is produced).  Killed or\n"
    "stopped at any point, it resumes exactly where Kafka has the records.\n"
    "  -b, --bootstrap HOSTS  Kafka's bootstrap servers (required)\n"
    "  -f, --follow           keep mirroring until SIGINT or SIGTERM\n"
    "  -g, --groups           once caught up, commit the consumer groups'\n"
    "                         offsets to Kafka, translated\n"
    "  -s, --state FILE       the mirror's state (default\n"
    "                         DIR/kafka-mirror.state)\n"
    "  -X NAME=VALUE          a librdkafka property (repeat)\n"
    "  -q, --quiet            no progress line on a terminal\n"
    "  -R, --replica-dir DIR  a mirror directory (repeat, in order)\n";

static void
on_error(int rc, const char *msg, void *ctx)
{
    (void)rc;
    (void)ctx;
    tool_msg("%s", msg);
}

static void
progress(samsa_mirror *m, int last)
{
    samsa_mirror_stats st;
    if (samsa_mirror_status(m, &st, NULL, 0) != 0)
        return;
    fprintf(stderr,
            "\rmirrored %" PRIu64 " records, %" PRIu64 " bytes; lag %" PRId64
            "   %s",
            st.records, st.bytes, st.lag, last ? "\n" : "");
}

int
cmd_mirror(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"bootstrap", required_argument, NULL, 'b'},
        {"follow", no_argument, NULL, 'f'},
        {"groups", no_argument, NULL, 'g'},
        {"state", required_argument, NULL, 's'},
        {"quiet", no_argument, NULL, 'q'},
        {"replica-dir", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0}};
    tool_store ts = {.nreplicas = 0};
    const char *conf[MAX_CONF + 1] = {NULL};
    int nconf = 0, quiet = 0, c, st;
    samsa_mirror_config cfg = {.on_error = on_error};
    while ((c = getopt_long(argc, argv, ":b:fgs:X:qR:", longopts, NULL)) !=
           -1) {
        if (c == 'b')
            cfg.bootstrap = optarg;
        else if (c == 'f')
            cfg.follow = 1;
        else if (c == 'g')
            cfg.groups = 1;
        else if (c == 's')
            cfg.state_path = optarg;
        else if (c == 'q')
            quiet = 1;
        else if (c == 'X') {
            if (nconf == MAX_CONF)
                return tool_usage("-X: at most %d", MAX_CONF);
            conf[nconf++] = optarg;
        } else if ((st = tool_option(c, argv, &ts, mirror_help)) != TOOL_MORE)
            return st;
    }
    if (optind == argc)
        return tool_usage("no DIR given");
    if (cfg.bootstrap == NULL)
        return tool_usage("--bootstrap is required");
    const char *dir = argv[optind];
    char state[PATH_MAX];
    if (cfg.state_path == NULL) {
        snprintf(state, sizeof state, "%s/kafka-mirror.state", dir);
        cfg.state_path = state;
    }
    cfg.topics =
        optind + 1 < argc ? (const char *const *)&argv[optind + 1] : NULL;
    cfg.kafka_conf = conf;
    samsa *s;
    if ((st = tool_open(dir, &ts, TOOL_READ, &s)) != TOOL_OK)
        return st;
    tool_signals();
    samsa_mirror *m;
    int rc = samsa_mirror_start(s, &cfg, &m);
    if (rc != 0) {
        tool_close(s);
        return TOOL_ERR; /* on_error said why */
    }
    int tty = !quiet && isatty(2);
    while (!tool_stop && (rc = samsa_mirror_wait(m, 500)) == SAMSA_ETIMEDOUT)
        if (tty)
            progress(m, 0);
    if (tty)
        progress(m, 1);
    samsa_mirror_stats ms;
    samsa_mirror_status(m, &ms, NULL, 0);
    int src = samsa_mirror_stop(m);
    st = tool_close(s);
    if ((rc != 0 && rc != SAMSA_ETIMEDOUT) || src != 0)
        return TOOL_ERR;
    if (!quiet)
        printf("mirrored %" PRIu64 " records (%" PRIu64 " bytes) to %s\n",
               ms.records, ms.bytes, cfg.bootstrap);
    return st;
}

int
tool_mirror_stats(samsa *s, const char *dir)
{
    char path[PATH_MAX], line[SAMSA_MAX_TOPIC_NAME + 128];
    snprintf(path, sizeof path, "%s/kafka-mirror.state", dir);
    /* O_NONBLOCK and a regular file only: a FIFO under the name would
     * block the open for ever. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return TOOL_OK; /* never mirrored (with the default state file) */
    struct stat st;
    FILE *f = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (f = fdopen(fd, "r")) == NULL) {
        close(fd);
        tool_msg("%s: not a regular file", path);
        return TOOL_ERR;
    }
    int rows = 0;
    /* The state file's lines (samsa_kafka.h, "Resuming"): TOPIC
     * PARTITION S_BASE K_BASE S_ACKED K_ACKED after a version line. */
    while (fgets(line, sizeof line, f) != NULL) {
        char topic[SAMSA_MAX_TOPIC_NAME + 1];
        int32_t p;
        int64_t sb, kb, sa, ka, end;
        if (sscanf(line,
                   "%249s %" SCNd32 " %" SCNd64 " %" SCNd64 " %" SCNd64
                   " %" SCNd64,
                   topic, &p, &sb, &kb, &sa, &ka) != 6)
            continue;
        /* What the mirror itself would refuse (bridge/state.c): a line
         * that holds no position, and whose lag below would overflow. */
        if (p < 0 || sb < 0 || kb < 0 || sa < sb || ka < kb)
            continue;
        if (samsa_offsets(s, topic, p, NULL, &end) != 0)
            continue; /* a topic deleted since */
        if (rows++ == 0)
            printf("MIRROR\tTOPIC\tPARTITION\tMIRRORED\tKAFKA-NEXT\tLAG\n");
        printf("mirror\t%s\t%" PRId32 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64
               "\n",
               topic, p, sa, ka, end > sa ? end - sa : 0);
    }
    fclose(f);
    return TOOL_OK;
}

static const char import_help[] =
    "usage: samsa import [OPTION]... --bootstrap HOST:PORT TOPIC DIR\n"
    "Copy the Kafka topic TOPIC, up to its end now, into the topic of\n"
    "the same name of the store in DIR (created with Kafka's partition\n"
    "count when absent): same partitions, keys, headers, timestamps.\n"
    "  -b, --bootstrap HOSTS  Kafka's bootstrap servers (required)\n"
    "  -p, --partition P      only partition P (repeat)\n"
    "  -o, --offset N         start each partition at offset N\n"
    "  -t, --time MS          start at the first record at least MS late\n"
    "  -X NAME=VALUE          a librdkafka property (repeat)\n"
    "  -R, --replica-dir DIR  a mirror directory (repeat, in order)\n";

int
cmd_import(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"bootstrap", required_argument, NULL, 'b'},
        {"partition", required_argument, NULL, 'p'},
        {"offset", required_argument, NULL, 'o'},
        {"time", required_argument, NULL, 't'},
        {"replica-dir", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0}};
    tool_store ts = {.nreplicas = 0};
    const char *conf[MAX_CONF + 1] = {NULL};
    int32_t parts[256];
    int nconf = 0, c, st;
    samsa_import_config cfg = {.kafka_conf = conf};
    int64_t v;
    while ((c = getopt_long(argc, argv, ":b:p:o:t:X:R:", longopts, NULL)) !=
           -1) {
        if (c == 'b')
            cfg.bootstrap = optarg;
        else if (c == 'p') {
            if (tool_int(optarg, 0, SAMSA_MAX_PARTITIONS - 1, &v) != 0)
                return tool_usage("-p %s: not a partition", optarg);
            if (cfg.npartitions == sizeof parts / sizeof parts[0])
                return tool_usage("-p: at most %zu", cfg.npartitions);
            parts[cfg.npartitions++] = (int32_t)v;
            cfg.partitions = parts;
        } else if (c == 'o') {
            if (tool_int(optarg, 0, INT64_MAX, &cfg.start_offset) != 0)
                return tool_usage("-o %s: not an offset", optarg);
        } else if (c == 't') {
            if (tool_int(optarg, 1, INT64_MAX, &cfg.start_time) != 0)
                return tool_usage("-t %s: not a time in ms", optarg);
        } else if (c == 'X') {
            if (nconf == MAX_CONF)
                return tool_usage("-X: at most %d", MAX_CONF);
            conf[nconf++] = optarg;
        } else if ((st = tool_option(c, argv, &ts, import_help)) != TOOL_MORE)
            return st;
    }
    if (argc - optind != 2)
        return tool_usage("needs TOPIC and DIR");
    if (cfg.bootstrap == NULL)
        return tool_usage("--bootstrap is required");
    const char *topic = argv[optind];
    samsa *s;
    if ((st = tool_open(argv[optind + 1], &ts, TOOL_CREATE, &s)) != TOOL_OK)
        return st;
    int64_t n = 0;
    int rc = samsa_kafka_import(s, topic, &cfg, &n);
    if (rc != 0)
        tool_fail(rc, "%s", topic);
    else
        printf("imported %" PRId64 " records into %s\n", n, topic);
    st = tool_close(s);
    return rc != 0 ? TOOL_ERR : st;
}
