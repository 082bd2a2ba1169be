/*
 * fuzz.h - what the libFuzzer targets of test/fuzz/ share: a scratch store
 * directory, whole-file writes, a section reader for inputs that carry
 * several files, and the check that stops a run on a broken promise.
 *
 * Each target is a program built with clang -fsanitize=fuzzer,address,
 * undefined against the library compiled the same way (the Makefile's
 * `fuzz` and `check-fuzz` targets).  A target must not crash, leak or read
 * out of bounds on any input; where an input decodes, what it decodes to
 * must also keep the library's promises (offsets dense and increasing, a
 * record produced after recovery read back as written, an acknowledged
 * queue record never delivered again): FUZZ_CHECK aborts otherwise, so
 * libFuzzer keeps the input as a crash.
 *
 * Inputs that stand for several files are sections (fuzz_section()):
 *   kind u8, id u16 BE, length u16 BE, then length bytes
 * the last one cut short at the end of the input.  test/fuzz/seeds.c
 * writes the seed corpora in these formats from files the library made.
 */
#ifndef SAMSA_FUZZ_H
#define SAMSA_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "samsa.h"

/* Stop the run (libFuzzer records the input) when cond is false. */
#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: broken: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* The codes a call may give on a damaged store: a clear samsa code or
 * -errno, never a positive number. */
#define FUZZ_CHECK_RC(rc) FUZZ_CHECK((rc) <= 0)

/* The base of the recovery target's segments of kinds 3 to 5: room for
 * 65536 more segments below INT64_MAX, and for few offsets after them. */
#define FUZZ_HUGE_BASE (INT64_MAX - (1 << 20))

/* The timestamps of every record the seeds and the targets produce. */
#define FUZZ_TS0 1600000000000LL

/* libFuzzer's entry points, which each target defines (Initialize when
 * it has a store to make first). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fresh directory under $TMPDIR (or /tmp), removed with everything in
 * it when the process exits; returns a malloc'ed path. */
char *fuzz_tmpdir(void);
/* fuzz_tmpdir() for a target's store, with the path of its catalog's
 * data.mdb in mdb (cap bytes). */
char *fuzz_store_dir(char *mdb, size_t cap);
/* path: "dir/name" in buf of cap bytes (aborts when it does not fit). */
const char *fuzz_path(char *buf, size_t cap, const char *dir, const char *name);
/* Replace path's contents with len bytes of buf. */
void fuzz_write_file(const char *path, const void *buf, size_t len);
/* The whole of path, malloc'ed, in *buf and *len; false when unreadable. */
bool fuzz_read_file(const char *path, uint8_t **buf, size_t *len);
/* Remove everything inside dir (not dir itself), recursively. */
void fuzz_empty_dir(const char *dir);

/* A directory tree held in memory, to put back byte for byte before each
 * iteration (regular files and directories only). */
typedef struct fuzz_tree fuzz_tree;
fuzz_tree *fuzz_tree_save(const char *dir);
/* Empty dir and make it what fuzz_tree_save() saw. */
void fuzz_tree_restore(const char *dir, const fuzz_tree *t);

/* One section of an input; *p and *left move past it.  false at the end. */
typedef struct fuzz_section {
    uint8_t kind;       /* what the bytes are, per target              */
    uint16_t id;        /* which one (a segment's base offset, ...)    */
    const uint8_t *buf; /* its bytes, inside the input                 */
    size_t len;         /* how many                                    */
} fuzz_section;

bool fuzz_section_next(const uint8_t **p, size_t *left, fuzz_section *out);
/* Append a section to f (the seed generator). */
void fuzz_section_put(FILE *f, uint8_t kind, uint16_t id, const void *buf,
                      size_t len);

/* Read a partition from its start with a cursor, stepping over damaged
 * offsets, then look up a few timestamps: everything returned must be in
 * offset order, inside [first, end).  Returns the records read. */
size_t fuzz_read_partition(samsa *s, const char *topic, int32_t partition);
/* Produce one record and read it back: it must come back as written, at
 * the offset produce gave it (skipped when produce fails cleanly). */
void fuzz_produce_readback(samsa *s, const char *topic, int32_t partition);

/* ---- the stores the targets and the seeds start from (fuzz_store.c) ---- */

#define FUZZ_LOG_TOPIC   "f" /* fuzz_store_log()'s topic, one partition */
#define FUZZ_QUEUE_TOPIC "q" /* fuzz_store_queue()'s, one partition     */
#define FUZZ_QUEUE_GROUP "g" /* its share group                          */
#define FUZZ_QUEUE_RECS  50  /* records of FUZZ_QUEUE_TOPIC              */

/* fuzz_kafka's SASL/PLAIN user and its password (the seeds log in). */
#define FUZZ_SASL_USER "fuzz"
#define FUZZ_SASL_PASS "fuzz:pass"

/* Open dir (creating it), create FUZZ_LOG_TOPIC (small segments) when
 * create says so, produce records from..to-1 in batches of 1 to 4 with keys,
 * headers and values of varied sizes, and close it. */
void fuzz_store_log(const char *dir, bool create, int from, int to);
/* dir with FUZZ_QUEUE_TOPIC holding FUZZ_QUEUE_RECS records, closed. */
void fuzz_store_queue(const char *dir);
/* The catalog id of topic in s. */
uint64_t fuzz_topic_id(samsa *s, const char *topic);
/* Receive up to n records of the group and acknowledge them (every third
 * rejected, every seventh released); returns how many were received. */
size_t fuzz_queue_work(samsa *s, size_t n);
/* dir with two topics, records, a consumer group's committed offsets and
 * a share group's snapshot: a catalog with something in every table. */
void fuzz_store_catalog(const char *dir);

#endif
