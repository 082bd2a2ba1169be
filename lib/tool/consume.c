/*
 * consume.c - `samsa consume DIR TOPIC`: print records, as kcat -C.
 *
 * Without -g the command reads with one cursor per partition: with -e the
 * partitions one after the other, each to the end it has when reached;
 * following (no -e), the cursors in turn, waiting a little on one at a
 * time when none has a record, so a record is printed within about
 * WAIT_MS of its produce.  With -g it is a member of a consumer group and
 * commits what it printed after each batch, so the group resumes there.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define WAIT_MS    20 /* a wait on one cursor while following several  */
#define POLL_BATCH 64 /* records a group poll takes at most            */

static const char consume_help[] =
    "usage: samsa consume [OPTION]... DIR TOPIC\n"
    "Print the records of TOPIC, by default each value on a line, and\n"
    "wait for more (-e: exit at the end).\n"
    "  -p, --partition P      only partition P (default: every one)\n"
    "  -o, --offset WHERE     start at: beginning (default), end, an offset\n"
    "                         N, -N (N before the end), or @MS: the first\n"
    "                         record whose timestamp is at least MS\n"
    "  -c, --count N          exit after N records\n"
    "  -e, --exit             exit at the end of the partitions instead of\n"
    "                         waiting; without -g partition after partition\n"
    "  -f, --format FMT       print each record as FMT, as kcat: %t topic,\n"
    "                         %p partition, %o offset, %k key, %s value,\n"
    "                         %K key size, %S value size, %T timestamp,\n"
    "                         %h headers (k=v,...), %% a percent sign;\n"
    "                         \\n \\t \\r \\\\ escapes (default: %s\\n)\n"
    "  -g, --group GROUP      consume as a member of the consumer group,\n"
    "                         from its committed offsets (-o beginning or\n"
    "                         end: where it has none), committing\n"
    "  -R, --replica-dir DIR  a mirror directory (repeat, in order)\n";

typedef struct consumer {
    samsa *s;           /* the store                                */
    const char *topic;  /* the topic                                */
    const char *format; /* -f                                       */
    int64_t left;       /* -c: records still to print; -1: no limit */
    int exit_at_end;    /* -e                                       */
    int out_failed;     /* writing standard output failed           */
    int out_errno;      /* its errno                                */
} consumer;

/* 0 when every % and \ of fmt is one the printer knows. */
static int
format_check(const char *fmt)
{
    for (const char *f = fmt; *f; f++) {
        if (*f == '%' && (f[1] == '\0' || !strchr("tpokKsSTh%", f[1])))
            return -1;
        if (*f == '\\' && (f[1] == '\0' || !strchr("ntr\\", f[1])))
            return -1;
        if (*f == '%' || *f == '\\')
            f++;
    }
    return 0;
}

static void
put_headers(const samsa_message *m)
{
    size_t pos = 0;
    for (size_t i = 0; i < m->header_count; i++) {
        const char *k;
        const void *v;
        size_t kl, vl;
        if (samsa_message_header_next(m, &pos, &k, &kl, &v, &vl) != 0)
            break;
        if (i > 0)
            putchar(',');
        fwrite(k, 1, kl, stdout);
        if (v != NULL) {
            putchar('=');
            fwrite(v, 1, vl, stdout);
        }
    }
}

static void
print_msg(consumer *co, const samsa_message *m)
{
    for (const char *f = co->format; *f; f++) {
        if (*f == '\\') {
            f++;
            putchar(*f == 'n'   ? '\n'
                    : *f == 't' ? '\t'
                    : *f == 'r' ? '\r'
                                : *f);
            continue;
        }
        if (*f != '%') {
            putchar(*f);
            continue;
        }
        switch (*++f) {
        case 't':
            fputs(m->topic, stdout);
            break;
        case 'p':
            printf("%" PRId32, m->partition);
            break;
        case 'o':
            printf("%" PRId64, m->offset);
            break;
        case 'k':
            if (m->key != NULL)
                fwrite(m->key, 1, m->key_len, stdout);
            break;
        case 's':
            if (m->value != NULL)
                fwrite(m->value, 1, m->value_len, stdout);
            break;
        case 'K':
            printf("%lld", m->key ? (long long)m->key_len : -1LL);
            break;
        case 'S':
            printf("%lld", m->value ? (long long)m->value_len : -1LL);
            break;
        case 'T':
            printf("%" PRId64, m->timestamp);
            break;
        case 'h':
            put_headers(m);
            break;
        default:
            putchar('%');
        }
    }
    if (ferror(stdout) && !co->out_failed) {
        co->out_failed = 1;
        co->out_errno = errno;
    }
    if (co->left > 0)
        co->left--;
}

/* True when the command should stop printing. */
static int
done(const consumer *co)
{
    return co->left == 0 || co->out_failed || tool_stop;
}

/* Where -o says to start. */
typedef struct start_at {
    enum { AT_BEGINNING, AT_END, AT_OFFSET, AT_BEFORE_END, AT_TIME } kind;
    int64_t value; /* the offset, the count before the end, or the time */
} start_at;

static int
parse_offset(const char *o, start_at *at)
{
    at->value = 0;
    if (strcmp(o, "beginning") == 0)
        at->kind = AT_BEGINNING;
    else if (strcmp(o, "end") == 0)
        at->kind = AT_END;
    else if (o[0] == '@') {
        at->kind = AT_TIME;
        return tool_int(o + 1, 0, INT64_MAX, &at->value);
    } else if (o[0] == '-') {
        at->kind = AT_BEFORE_END;
        return tool_int(o + 1, 1, INT64_MAX, &at->value);
    } else {
        at->kind = AT_OFFSET;
        return tool_int(o, 0, INT64_MAX, &at->value);
    }
    return 0;
}

/* Open partition p's cursor where -o says. */
static int
open_cursor(consumer *co, int32_t p, const start_at *at, samsa_cursor **out)
{
    int64_t first, end, start = SAMSA_OFFSET_BEGINNING;
    int rc = samsa_offsets(co->s, co->topic, p, &first, &end);
    if (rc == 0 && at->kind == AT_OFFSET &&
        (at->value < first || at->value > end)) {
        tool_msg("topic \"%s\" partition %" PRId32 ": offset %" PRId64
                 " is outside the log (%" PRId64 "..%" PRId64 ")",
                 co->topic, p, at->value, first, end);
        return TOOL_ERR;
    }
    if (at->kind == AT_END)
        start = SAMSA_OFFSET_END;
    else if (at->kind == AT_OFFSET)
        start = at->value;
    else if (at->kind == AT_BEFORE_END) /* kcat's -N, not before the start */
        start = end - first < at->value ? first : end - at->value;
    if (rc == 0)
        rc = samsa_cursor_open(co->s, co->topic, p, start, out);
    if (rc == 0 && at->kind == AT_TIME &&
        (rc = samsa_cursor_seek_time(*out, at->value)) != 0) {
        /* The caller closes every cursor it holds on an error too: this
         * one is gone, so it must not see it again. */
        samsa_cursor_close(*out);
        *out = NULL;
    }
    if (rc != 0)
        return tool_fail(rc, "topic \"%s\" partition %" PRId32, co->topic, p);
    return TOOL_OK;
}

static int
cursor_error(consumer *co, samsa_cursor *c, int32_t p, int rc)
{
    return tool_fail(rc, "topic \"%s\" partition %" PRId32 " offset %" PRId64,
                     co->topic, p, samsa_cursor_offset(c));
}

/* Before waiting for records: flush what was printed, and see whether
 * the reader of a pipe went away (consume | head), which a follower
 * would otherwise learn only at its next record.  True: stop. */
static int
before_wait(consumer *co)
{
    struct pollfd pfd = {.fd = 1, .events = 0};
    if (fflush(stdout) != 0 && !co->out_failed) {
        co->out_failed = 1;
        co->out_errno = errno;
    }
    if (!co->out_failed && poll(&pfd, 1, 0) > 0 &&
        (pfd.revents & (POLLERR | POLLHUP))) {
        co->out_failed = 1;
        co->out_errno = EPIPE;
    }
    return co->out_failed;
}

/* Read the cursors: to their ends in turn (-e), or following them all. */
static int
read_cursors(consumer *co, samsa_cursor **cs, const int32_t *parts, int n)
{
    samsa_message m;
    int rc;
    for (int turn = 0; !done(co); turn = (turn + 1) % n) {
        int got = 0;
        for (int i = 0; i < n && !done(co); i++) {
            rc = 0;
            while (!done(co) && (rc = samsa_cursor_next(cs[i], &m, 0)) == 0) {
                print_msg(co, &m);
                got = 1;
            }
            if (rc != SAMSA_ETIMEDOUT && rc != 0)
                return cursor_error(co, cs[i], parts[i], rc);
        }
        /* -e: each partition was read to the end it had when reached. */
        if (co->exit_at_end)
            break;
        if (got || done(co))
            continue;
        if (before_wait(co))
            break;
        /* Nothing anywhere: wait on one cursor (in turn), briefly when
         * others need a look too, and short enough to see a signal. */
        rc = samsa_cursor_next(cs[turn], &m, n == 1 ? 200 : WAIT_MS);
        if (rc == 0)
            print_msg(co, &m);
        else if (rc != SAMSA_ETIMEDOUT)
            return cursor_error(co, cs[turn], parts[turn], rc);
    }
    return TOOL_OK;
}

static int
consume_cursors(consumer *co, int32_t only, const char *offset)
{
    samsa_topic_config cfg;
    start_at at;
    int rc = samsa_topic_describe(co->s, co->topic, &cfg);
    if (rc != 0)
        return tool_fail(rc, "topic \"%s\"", co->topic);
    parse_offset(offset, &at);
    int n = only >= 0 ? 1 : cfg.partitions;
    samsa_cursor **cs = calloc((size_t)n, sizeof *cs);
    int32_t *parts = calloc((size_t)n, sizeof *parts);
    int st = cs && parts ? TOOL_OK : tool_fail(SAMSA_ENOMEM, "cursors");
    for (int i = 0; i < n && st == TOOL_OK; i++) {
        parts[i] = only >= 0 ? only : i;
        st = open_cursor(co, parts[i], &at, &cs[i]);
    }
    if (st == TOOL_OK)
        st = read_cursors(co, cs, parts, n);
    for (int i = 0; cs && i < n; i++)
        samsa_cursor_close(cs[i]);
    free(cs);
    free(parts);
    return st;
}

/* -e for a group member: every partition it owns is at its end. */
static int
member_at_end(consumer *co, samsa_consumer *c)
{
    samsa_topic_partition parts[256];
    size_t n;
    if (samsa_consumer_assignment(c, parts, 256, &n) != 0 || n > 256)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int64_t end;
        if (samsa_offsets(co->s, parts[i].topic, parts[i].partition, NULL,
                          &end) != 0 ||
            parts[i].offset < end)
            return 0;
    }
    return 1;
}

static int
consume_group(consumer *co, const char *group, const char *offset)
{
    const char *topics[] = {co->topic, NULL};
    samsa_consumer_config cfg = {.group = group,
                                 .topics = topics,
                                 .offset_reset = strcmp(offset, "end") == 0
                                                     ? SAMSA_RESET_LATEST
                                                     : SAMSA_RESET_EARLIEST};
    samsa_topic_config tc;
    samsa_consumer *c;
    int rc = samsa_topic_describe(co->s, co->topic, &tc);
    if (rc != 0)
        return tool_fail(rc, "topic \"%s\"", co->topic);
    if ((rc = samsa_consumer_open(co->s, &cfg, &c)) != 0)
        return tool_fail(rc, "group \"%s\"", group);
    static samsa_message msgs[POLL_BATCH];
    int st = TOOL_OK;
    while (!done(co)) {
        size_t n, max = co->left > 0 && co->left < POLL_BATCH ? (size_t)co->left
                                                              : POLL_BATCH;
        fflush(stdout);
        rc = samsa_consumer_poll_batch(c, msgs, max, &n, 100);
        if (rc == SAMSA_ETIMEDOUT) {
            if ((co->exit_at_end && member_at_end(co, c)) || before_wait(co))
                break;
            continue;
        }
        if (rc != 0) {
            st = tool_fail(rc, "group \"%s\"", group);
            break;
        }
        for (size_t i = 0; i < n; i++)
            print_msg(co, &msgs[i]);
        /* Printed, so committed: the group resumes after them. */
        if (fflush(stdout) == 0 && !co->out_failed &&
            (rc = samsa_consumer_commit(c, NULL, 0)) != 0) {
            st = tool_fail(rc, "group \"%s\": commit", group);
            break;
        }
    }
    samsa_consumer_close(c);
    return st;
}

int
cmd_consume(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"partition", required_argument, NULL, 'p'},
        {"offset", required_argument, NULL, 'o'},
        {"count", required_argument, NULL, 'c'},
        {"exit", no_argument, NULL, 'e'},
        {"format", required_argument, NULL, 'f'},
        {"group", required_argument, NULL, 'g'},
        {"replica-dir", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0}};
    consumer co = {.format = "%s\\n", .left = -1};
    tool_store ts = {.nreplicas = 0};
    const char *offset = "beginning", *group = NULL;
    int32_t only = -1;
    start_at at;
    int64_t v;
    int c, st;
    while ((c = getopt_long(argc, argv, ":p:o:c:ef:g:R:", longopts, NULL)) !=
           -1) {
        switch (c) {
        case 'p':
            if (tool_int(optarg, 0, SAMSA_MAX_PARTITIONS - 1, &v) != 0)
                return tool_usage("-p %s: not a partition", optarg);
            only = (int32_t)v;
            break;
        case 'o':
            if (parse_offset(optarg, &at) != 0)
                return tool_usage("-o %s: beginning, end, N, -N or @MS",
                                  optarg);
            offset = optarg;
            break;
        case 'c':
            if (tool_int(optarg, 1, INT64_MAX, &co.left) != 0)
                return tool_usage("-c %s: not a count", optarg);
            break;
        case 'e':
            co.exit_at_end = 1;
            break;
        case 'f':
            if (format_check(optarg) != 0)
                return tool_usage("-f %s: unknown %% or \\ sequence", optarg);
            co.format = optarg;
            break;
        case 'g':
            group = optarg;
            break;
        default:
            if ((st = tool_option(c, argv, &ts, consume_help)) != TOOL_MORE)
                return st;
        }
    }
    if (argc - optind != 2)
        return tool_usage("DIR and TOPIC needed");
    if (group != NULL && (only >= 0 || (strcmp(offset, "beginning") != 0 &&
                                        strcmp(offset, "end") != 0)))
        return tool_usage("-g: a group reads every partition from its "
                          "committed offsets (-o beginning or end only)");
    co.topic = argv[optind + 1];
    if (tool_open(argv[optind], &ts, group != NULL ? TOOL_WRITE : TOOL_READ,
                  &co.s) != TOOL_OK)
        return TOOL_ERR;
    tool_signals();
    st = group ? consume_group(&co, group, offset)
               : consume_cursors(&co, only, offset);
    /* A reader that went away (consume | head) is no error. */
    if (fflush(stdout) != 0 && !co.out_failed) {
        co.out_failed = 1;
        co.out_errno = errno;
    }
    if (co.out_failed && co.out_errno != EPIPE && st == TOOL_OK)
        st = tool_fail(-co.out_errno, "standard output");
    if (co.out_failed && co.out_errno == EPIPE)
        clearerr(stdout); /* dealt with: main() must not see it again */
    if (tool_close(co.s) != TOOL_OK)
        return TOOL_ERR;
    return st;
}
