/*
 * dump.c - `samsa dump FILE.log...`: every record batch of segment files,
 * as Kafka's `kafka-dump-log --print-data-log` prints them, read with the
 * command's own parser (segfile.c), so it works on a store that is open
 * elsewhere, on a copy, or on Kafka's own segments.
 *
 * Damage is reported, never fatal: a batch whose CRC does not match, or
 * whose records do not parse, is printed with crcValid: false (or a "|"
 * line saying what does not parse) and the dump goes on with the next
 * batch, whose position the batch's length gives; bytes that are no batch
 * at all (a bad length or magic, a batch cut short) end the walk, as
 * Kafka's "Found N invalid bytes at the end".  Zeros at the end are the
 * space an active segment allocates ahead of its writes, not damage.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

static const char dump_help[] =
    "usage: samsa dump [--deep] FILE.log...\n"
    "Print every record batch of segment files, as kafka-dump-log does:\n"
    "offsets, count, producer id and epoch, leader epoch, position, the\n"
    "largest timestamp (CreateTime), size and whether the CRC is valid.\n"
    "  -d, --deep   also every record: offset, timestamp, key, value and\n"
    "               headers (unprintable bytes as \\xNN)\n"
    "Exit status: 0 when every batch is intact, 1 when one is damaged or\n"
    "the file cannot be read, 2 for a usage error.\n";

static const char *const codecs[8] = {"none", "gzip", "snappy", "lz4",
                                      "zstd", "5",    "6",      "7"};

/* Prints the records of b; returns 1 when they do not parse. */
static int
dump_records(const seg_batch *b)
{
    if (b->attributes & 0x07) {
        printf("| records compressed with %s: not decoded\n",
               codecs[b->attributes & 0x07]);
        return 0;
    }
    const uint8_t *pos = b->records;
    const char *ts_name = b->attributes & 0x08 ? "LogAppendTime" : "CreateTime";
    for (int64_t i = 0; i < b->record_count; i++) {
        seg_record r;
        size_t at = (size_t)(pos - (b->records - SEG_HEADER_SIZE));
        if (pos >= b->end || seg_record_next(b, &pos, &r) != 0) {
            printf("| record %" PRId64 " of %" PRId32
                   " does not parse (at byte %zu of the batch)\n",
                   i, b->record_count, at);
            return 1;
        }
        int64_t seq = b->base_sequence < 0
                          ? -1
                          : (int64_t)((uint64_t)b->base_sequence +
                                      (uint64_t)r.offset_delta);
        printf("| offset: %" PRId64 " %s: %" PRId64 " keySize: %" PRId64
               " valueSize: %" PRId64 " sequence: %" PRId64 " headers: [",
               r.offset, ts_name,
               b->attributes & 0x08 ? b->max_timestamp : r.timestamp, r.key_len,
               r.value_len, seq);
        const uint8_t *hp = r.hdrs;
        for (int64_t h = 0; h < r.header_count; h++) {
            const uint8_t *k, *v;
            int64_t kl, vl;
            seg_header_next(&r, &hp, &k, &kl, &v, &vl);
            if (h > 0)
                fputs(", ", stdout);
            tool_put_escaped(k, (size_t)kl);
            if (v != NULL) {
                putchar('=');
                tool_put_escaped(v, (size_t)vl);
            }
        }
        putchar(']');
        if (r.key != NULL) {
            fputs(" key: ", stdout);
            tool_put_escaped(r.key, (size_t)r.key_len);
        }
        if (r.value != NULL) {
            fputs(" payload: ", stdout);
            tool_put_escaped(r.value, (size_t)r.value_len);
        }
        putchar('\n');
    }
    if (pos != b->end) {
        printf("| %td bytes after the last record\n", b->end - pos);
        return 1;
    }
    return 0;
}

static void
print_batch(const seg_batch *b)
{
    int64_t last_seq = b->base_sequence < 0
                           ? -1
                           : (int64_t)b->base_sequence + b->last_offset_delta;
    printf("baseOffset: %" PRId64 " lastOffset: %" PRId64 " count: %" PRId32
           " baseSequence: %" PRId32 " lastSequence: %" PRId64
           " producerId: %" PRId64 " producerEpoch: %d"
           " partitionLeaderEpoch: %" PRId32
           " isTransactional: %s isControl: %s position: %zu"
           " baseTimestamp: %" PRId64 " %s: %" PRId64 " size: %zu"
           " magic: %d compresscodec: %s crcValid: %s\n",
           b->base_offset,
           (int64_t)((uint64_t)b->base_offset + (uint64_t)b->last_offset_delta),
           b->record_count, b->base_sequence, last_seq, b->producer_id,
           b->producer_epoch, b->leader_epoch,
           b->attributes & 0x10 ? "true" : "false",
           b->attributes & 0x20 ? "true" : "false", b->position,
           b->base_timestamp,
           b->attributes & 0x08 ? "LogAppendTime" : "CreateTime",
           b->max_timestamp, (size_t)b->length + 12, b->magic,
           codecs[b->attributes & 0x07], b->crc_valid ? "true" : "false");
}

/* Dump one file; TOOL_OK, or TOOL_ERR after one line on stderr. */
static int
dump_file(const char *path, int deep)
{
    const uint8_t *p;
    size_t n;
    int rc = seg_map(path, &p, &n);
    if (rc == SEG_ENOTREG) {
        tool_msg("%s: %s", path, seg_strerror(rc));
        return TOOL_ERR;
    }
    if (rc != 0)
        return tool_fail(rc, "%s", path);
    printf("Dumping %s\n", path);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (strlen(base) == 24 && strspn(base, "0123456789") == 20 &&
        strcmp(base + 20, ".log") == 0)
        printf("Log starting offset: %lld\n", strtoll(base, NULL, 10));
    size_t pos = 0, damaged = 0, invalid = 0;
    seg_batch b;
    for (;;) {
        int st = seg_next(p, n, pos, &b);
        if (st == SEG_END)
            break;
        if (st == SEG_ZEROS) {
            printf("Found %zu zero bytes at the end of %s: space allocated "
                   "ahead of writes\n",
                   n - pos, path);
            break;
        }
        if (st == SEG_INVALID) {
            invalid = n - pos;
            printf("Found %zu invalid bytes at the end of %s\n", invalid, path);
            break;
        }
        print_batch(&b);
        int bad = !b.crc_valid;
        if (deep)
            bad |= dump_records(&b);
        damaged += (size_t)bad;
        pos = (size_t)(b.end - p);
    }
    seg_unmap(p, n);
    if (fflush(stdout) != 0)
        return tool_fail(SAMSA_EIO, "standard output");
    if (damaged == 0 && invalid == 0)
        return TOOL_OK;
    tool_msg("%s: damaged: %zu batch%s, %zu invalid bytes at the end", path,
             damaged, damaged == 1 ? "" : "es", invalid);
    return TOOL_ERR;
}

int
cmd_dump(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"deep", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0}};
    int deep = 0, c, st;
    while ((c = getopt_long(argc, argv, ":d", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            deep = 1;
            break;
        default: /* no -R here: ts is not used */
            if ((st = tool_option(c, argv, NULL, dump_help)) != TOOL_MORE)
                return st;
        }
    }
    if (optind == argc)
        return tool_usage("no FILE given");
    int rc = TOOL_OK;
    for (int i = optind; i < argc; i++)
        if (dump_file(argv[i], deep) != TOOL_OK)
            rc = TOOL_ERR;
    return rc;
}
