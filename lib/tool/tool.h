/*
 * tool.h - the `samsa` command's shared helpers (lib/tool).
 *
 * The command is the top layer: it uses the public API of include/samsa.h
 * and nothing else of the library (test/lint.sh check_layers refuses any
 * other header or call), as an application would.  Where it needs to know
 * the files of a store (dump, verify), it reads the layout samsa(7)
 * documents: DIR/TOPIC-P/BASE.log holding Kafka record batches v2.
 *
 * Exit status, for every subcommand: 0 success, 1 an error (one line on
 * stderr: "samsa: CMD: what: message (SYMBOL)"), 2 a usage error.
 */
#ifndef SAMSA_TOOL_H
#define SAMSA_TOOL_H

#include <stddef.h>
#include <stdint.h>

#include "samsa.h"

#define TOOL_OK    0 /* exit status: success                  */
#define TOOL_ERR   1 /* exit status: an error                 */
#define TOOL_USAGE 2 /* exit status: a usage error            */

/* getopt_long's value for --help, shared by every subcommand. */
#define OPT_HELP 1000

/* The subcommand running, for messages ("consume", "topic create"). */
extern const char *tool_cmd;

/* "samsa: CMD: " and the message on stderr, one line. */
void tool_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The message, then ": " and rc as "no such topic (SAMSA_ENOTOPIC)";
 * returns TOOL_ERR. */
int tool_fail(int rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A usage error: the message and a pointer to --help; returns TOOL_USAGE. */
int tool_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The usage error for getopt's last failure c (':' or '?'). */
int tool_bad_option(char **argv, int c);

/* Parse a decimal integer in min..max; 0, or -1 when it is not one. */
int tool_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* The directories a store is opened with: DIR and its -R mirrors. */
typedef struct tool_store {
    const char *replicas[SAMSA_MAX_REPLICA_DIRS + 1]; /* NULL-terminated */
    int nreplicas;                                    /* -R given        */
} tool_store;

/* Take one -R DIR; TOOL_OK or TOOL_USAGE (too many). */
int tool_add_replica(tool_store *ts, const char *dir);

/* The options every store command shares, for getopt's answer c: -R DIR
 * (ts), --help (prints help); anything else is a usage error.  Returns
 * TOOL_MORE to go on parsing, else the exit status to return. */
#define TOOL_MORE (-1)
int tool_option(int c, char **argv, tool_store *ts, const char *help);
/* How a command opens its store: TOOL_READ read-only (SAMSA_OPEN_RDONLY:
 * beside a running application, changing nothing), TOOL_WRITE with the
 * store's lock, TOOL_CREATE the same, making it when absent (topic
 * create). */
enum { TOOL_READ = 0, TOOL_WRITE = 1, TOOL_CREATE = 2 };
/* Open DIR as a store in mode (above); TOOL_OK, or TOOL_ERR after saying
 * why, plainly for SAMSA_ELOCKED. */
int tool_open(const char *dir, const tool_store *ts, int mode, samsa **out);
/* Parse the options of a command that has only the shared ones (-R,
 * --help): TOOL_MORE when they are all taken, else the exit status. */
int tool_options_plain(int argc, char **argv, tool_store *ts, const char *help);
/* The one argument left after the options, argv[optind], is DIR: open it
 * in mode (TOOL_READ or TOOL_WRITE); TOOL_OK, TOOL_USAGE (none or more),
 * or TOOL_ERR. */
int tool_open_arg(int argc, char **argv, const tool_store *ts, int mode,
                  samsa **out);
/* Close the store; TOOL_OK, or TOOL_ERR after saying why. */
int tool_close(samsa *s);
/* Close a store opened with TOOL_CREATE by a command whose exit status is
 * st: when st is not TOOL_OK, the open's new store (its files, and the
 * directories it made, empty) is removed, so that a failed command leaves
 * nothing behind.  Returns st, or TOOL_ERR when the close failed. */
int tool_close_made(samsa *s, int st);

/* Set by SIGINT, SIGTERM: long work stops, closes the store, exits. */
extern volatile int tool_stop;
void tool_signals(void);

/* The subcommands (topics.c, produce.c, consume.c, dump.c, verify.c). */
int cmd_topics(int argc, char **argv);
int cmd_topic(int argc, char **argv);
int cmd_produce(int argc, char **argv);
int cmd_consume(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_groups(int argc, char **argv); /* groups.c */
int cmd_group(int argc, char **argv);
int cmd_stats(int argc, char **argv); /* stats.c */
int cmd_serve(int argc, char **argv); /* serve.c */
#ifdef SAMSA_KAFKA
int cmd_mirror(int argc, char **argv); /* mirror.c, with librdkafka */
int cmd_import(int argc, char **argv);
/* For samsa stats: a line per partition of the mirror's default state
 * file in dir, with its lag against the store s (nothing without one);
 * TOOL_OK, or TOOL_ERR after saying why (not a regular file). */
int tool_mirror_stats(samsa *s, const char *dir);
#endif
int cmd_adopt(int argc, char **argv); /* adopt.c */

/* ---- segment files (segfile.c) ------------------------------------------ */

/* The fixed fields of a record batch v2, as the file holds them. */
typedef struct seg_batch {
    size_t position;           /* byte position of the batch in the file   */
    int64_t base_offset;       /* offset of the first record               */
    int32_t length;            /* bytes after the batchLength field        */
    int32_t leader_epoch;      /* partitionLeaderEpoch                     */
    int8_t magic;              /* 2                                        */
    uint32_t crc;              /* CRC-32C of attributes..end, as stored    */
    int crc_valid;             /* 1 when the CRC matches the bytes         */
    int16_t attributes;        /* codec, timestamp type, flags             */
    int32_t last_offset_delta; /* offsets in the batch minus one           */
    int64_t base_timestamp;    /* first record's timestamp                 */
    int64_t max_timestamp;     /* largest timestamp in the batch           */
    int64_t producer_id;       /* -1: no idempotent producer               */
    int16_t producer_epoch;    /* -1                                       */
    int32_t base_sequence;     /* -1                                       */
    int32_t record_count;      /* records that follow                      */
    const uint8_t *records;    /* the records' bytes                       */
    const uint8_t *end;        /* end of the batch                         */
} seg_batch;

#define SEG_HEADER_SIZE 61 /* a batch's fixed fields, log overhead included */

/* What seg_next() found at a position. */
enum seg_status {
    SEG_BATCH = 0, /* a batch, whole in the file (CRC valid or not)      */
    SEG_END,       /* the end of the file                                 */
    SEG_ZEROS,     /* only zeros from here: space allocated ahead         */
    SEG_INVALID    /* bytes that are no batch (bad length or magic, or a
                      batch cut short): the rest cannot be walked         */
};

/* CRC-32C of n bytes (samsa.h has none to offer; a table a byte). */
uint32_t seg_crc(const uint8_t *p, size_t n);

/* Parse the batch at pos of the n bytes at p into b (every field bounds
 * checked, the CRC computed); returns an enum seg_status.  Never reads
 * outside p[0..n). */
int seg_next(const uint8_t *p, size_t n, size_t pos, seg_batch *b);

/* One record of a batch, its pointers into the batch. */
typedef struct seg_record {
    int64_t offset;         /* base offset + offsetDelta               */
    int64_t offset_delta;   /* offsetDelta, as stored                  */
    int64_t timestamp;      /* base timestamp + timestampDelta         */
    const uint8_t *key;     /* NULL: a null key                        */
    int64_t key_len;        /* -1 for a null key                       */
    const uint8_t *value;   /* NULL: a null value                      */
    int64_t value_len;      /* -1 for a null value                     */
    const uint8_t *hdrs;    /* the encoded headers                     */
    int64_t header_count;   /* headers at hdrs                         */
    const uint8_t *rec_end; /* end of this record                     */
} seg_record;

/* Decode the record at *pos (below end) of batch b and move *pos past it;
 * 0, or -1 when it does not parse (nothing outside [*pos, end) is read). */
int seg_record_next(const seg_batch *b, const uint8_t **pos, seg_record *r);

/* The header of r at *pos (r->hdrs for the first), and *pos past it: 0,
 * or -1 when it does not parse.  One pass: a record may hold hundreds of
 * thousands of headers, and finding each by index would walk those
 * before it. */
int seg_header_next(const seg_record *r, const uint8_t **pos,
                    const uint8_t **key, int64_t *key_len,
                    const uint8_t **value, int64_t *value_len);

/* Read a whole file: 0 and *p, *n (p NULL for an empty file), or -errno,
 * SAMSA_ENOMEM, or SEG_ENOTREG for what is not a regular file (a FIFO, a
 * device).  seg_unmap() frees it; seg_strerror() says what rc means. */
#define SEG_ENOTREG (-100000)
int seg_map(const char *path, const uint8_t **p, size_t *n);
void seg_unmap(const uint8_t *p, size_t n);
const char *seg_strerror(int rc);

/* Write n bytes with C escapes (\\, \n, \t, \xNN) for the unprintable. */
void tool_put_escaped(const uint8_t *p, size_t n);

#endif
