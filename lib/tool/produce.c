/*
 * produce.c - `samsa produce DIR TOPIC`: one record per line of standard
 * input, as kcat -P.
 *
 * Lines are read in large chunks and go to samsa_produce() together, up
 * to BATCH_LINES a call: one record batch per call and partition, so a
 * file of lines goes in at the library's batch speed, while a line typed
 * on a terminal, or written now and then into a pipe, is stored as soon
 * as it is read (what is gathered is produced before a read that waits).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

#define BATCH_LINES 1000
#define MAX_HEADERS 64
#define CHUNK       (1u << 20)

static const char produce_help[] =
    "usage: samsa produce [OPTION]... DIR TOPIC\n"
    "Store each line of standard input as a record of TOPIC (its value;\n"
    "without the newline).\n"
    "  -p, --partition P      the partition (default: by key as Kafka's\n"
    "                         partitioner, else one chosen per batch)\n"
    "  -k, --key-separator S  the text before the first S of a line is the\n"
    "                         record's key, the rest its value (a line\n"
    "                         without S has no key)\n"
    "  -H, --header K=V       add a header to every record (repeat)\n"
    "  -T, --timestamp MS     the records' timestamp, ms since the epoch\n"
    "                         (default: now)\n"
    "  -R, --replica-dir DIR  a mirror directory (repeat, in order)\n";

typedef struct producer {
    samsa *s;          /* the store                            */
    const char *topic; /* the topic                            */
    int32_t partition; /* -p, or SAMSA_PARTITION_ANY           */
    const char *sep;   /* -k, or NULL                          */
    size_t sep_len;    /* strlen(sep)                          */
    samsa_header headers[MAX_HEADERS]; /* -H                           */
    size_t nheaders;                /* -H given                             */
    int64_t timestamp;              /* -T, or 0: now                        */
    samsa_record recs[BATCH_LINES]; /* the batch being filled          */
    size_t n;                       /* records in recs                      */
    uint64_t stored;                /* records stored so far                */
} producer;

/* Produce the records gathered; TOOL_OK or TOOL_ERR. */
static int
flush(producer *pr)
{
    if (pr->n == 0)
        return TOOL_OK;
    int rc = samsa_produce(pr->s, pr->topic, pr->partition, pr->recs, pr->n);
    if (rc != 0)
        return tool_fail(rc, "topic \"%s\": after %" PRIu64 " records",
                         pr->topic, pr->stored);
    pr->stored += pr->n;
    pr->n = 0;
    return TOOL_OK;
}

static int
add_line(producer *pr, const char *line, size_t len)
{
    samsa_record *r = &pr->recs[pr->n++];
    memset(r, 0, sizeof *r);
    r->value = line;
    r->value_len = len;
    r->headers = pr->nheaders ? pr->headers : NULL;
    r->header_count = pr->nheaders;
    r->timestamp = pr->timestamp;
    const char *k = pr->sep ? memmem(line, len, pr->sep, pr->sep_len) : NULL;
    if (k != NULL) {
        r->key = line;
        r->key_len = (size_t)(k - line);
        r->value = k + pr->sep_len;
        r->value_len = len - r->key_len - pr->sep_len;
    }
    return pr->n == BATCH_LINES ? flush(pr) : TOOL_OK;
}

/* True when a read of standard input would return at once. */
static int
input_ready(void)
{
    struct pollfd pfd = {.fd = 0, .events = POLLIN};
    return poll(&pfd, 1, 0) > 0;
}

/* Read standard input to its end (or a signal) and produce every line.
 * Records point into buf, so they are produced before it moves (it is
 * full) and before a read that would wait (what was typed is stored at
 * once); otherwise batches grow to BATCH_LINES. */
static int
run(producer *pr)
{
    size_t cap = CHUNK, len = 0, start = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return tool_fail(SAMSA_ENOMEM, "reading");
    int st = TOOL_OK;
    for (;;) {
        char *nl;
        while (st == TOOL_OK &&
               (nl = memchr(buf + start, '\n', len - start)) != NULL) {
            st = add_line(pr, buf + start, (size_t)(nl - (buf + start)));
            start = (size_t)(nl - buf) + 1;
        }
        if (st != TOOL_OK)
            break;
        if (len == cap) {
            if ((st = flush(pr)) != TOOL_OK)
                break;
            memmove(buf, buf + start, len - start);
            len -= start;
            start = 0;
        }
        if (len == cap) {
            char *b = realloc(buf, cap * 2);
            if (b == NULL) {
                st = tool_fail(SAMSA_ENOMEM, "a line of %zu bytes", len);
                break;
            }
            buf = b;
            cap *= 2;
        }
        if (!input_ready() && (st = flush(pr)) != TOOL_OK)
            break;
        ssize_t got = read(0, buf + len, cap - len);
        if (got < 0 && errno == EINTR && !tool_stop)
            continue;
        if (got < 0 && !tool_stop)
            st = tool_fail(-errno, "standard input");
        if (got > 0) {
            len += (size_t)got;
            continue;
        }
        /* The end, or a signal: a last line without a newline is a record
         * too (unless interrupted: it may be half a line). */
        if (st == TOOL_OK && len > start && !tool_stop)
            st = add_line(pr, buf + start, len - start);
        if (st == TOOL_OK)
            st = flush(pr);
        break;
    }
    free(buf);
    return st;
}

int
cmd_produce(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"partition", required_argument, NULL, 'p'},
        {"key-separator", required_argument, NULL, 'k'},
        {"header", required_argument, NULL, 'H'},
        {"timestamp", required_argument, NULL, 'T'},
        {"replica-dir", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0}};
    static producer pr; /* large: the batch */
    tool_store ts = {.nreplicas = 0};
    pr.partition = SAMSA_PARTITION_ANY;
    int64_t v;
    int c, st;
    while ((c = getopt_long(argc, argv, ":p:k:H:T:R:", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (tool_int(optarg, 0, SAMSA_MAX_PARTITIONS - 1, &v) != 0)
                return tool_usage("-p %s: not a partition", optarg);
            pr.partition = (int32_t)v;
            break;
        case 'k':
            if (optarg[0] == '\0')
                return tool_usage("-k: an empty separator");
            pr.sep = optarg;
            pr.sep_len = strlen(optarg);
            break;
        case 'H': {
            char *eq = strchr(optarg, '=');
            if (eq == NULL)
                return tool_usage("-H %s: KEY=VALUE expected", optarg);
            if (pr.nheaders == MAX_HEADERS)
                return tool_usage("-H: at most %d headers", MAX_HEADERS);
            *eq = '\0';
            pr.headers[pr.nheaders++] = (samsa_header){
                .key = optarg, .value = eq + 1, .value_len = strlen(eq + 1)};
            break;
        }
        case 'T':
            if (tool_int(optarg, 1, INT64_MAX, &v) != 0)
                return tool_usage("-T %s: not a timestamp in ms", optarg);
            pr.timestamp = v;
            break;
        default:
            if ((st = tool_option(c, argv, &ts, produce_help)) != TOOL_MORE)
                return st;
        }
    }
    if (argc - optind != 2)
        return tool_usage("DIR and TOPIC needed");
    pr.topic = argv[optind + 1];
    if (tool_open(argv[optind], &ts, TOOL_WRITE, &pr.s) != TOOL_OK)
        return TOOL_ERR;
    tool_signals();
    /* n = 0 checks the topic and partition before any input is read. */
    int rc = samsa_produce(pr.s, pr.topic, pr.partition, pr.recs, 0);
    st = rc != 0 ? tool_fail(rc, "topic \"%s\"", pr.topic) : run(&pr);
    if (tool_close(pr.s) != TOOL_OK)
        return TOOL_ERR;
    return st;
}
