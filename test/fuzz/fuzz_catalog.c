/*
 * fuzz_catalog.c - opening a store whose catalog (DIR/catalog/data.mdb,
 * the LMDB file) is the input: the promise is that nothing in a file
 * crashes the process, and a damaged catalog is SAMSA_ECORRUPT.
 *
 * The rest of the store (partition directories, lock files) is that of
 * fuzz_store_catalog(), put back byte for byte before every iteration;
 * the seeds are that store's data.mdb.  When the open succeeds, every
 * topic is described and read, a record produced to each and read back,
 * the group offsets listed, and the store closed and opened again.
 */
#include <string.h>

#include "fuzz.h"

static char *dir;       /* the store                          */
static char mdb[600];   /* dir/catalog/data.mdb               */
static fuzz_tree *tree; /* the store as fuzz_store_catalog() left it */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    dir = fuzz_store_dir(mdb, sizeof mdb);
    fuzz_store_catalog(dir);
    tree = fuzz_tree_save(dir);
    return 0;
}

static int
visit_topic(const char *name, void *ctx)
{
    samsa *s = ctx;
    samsa_topic_config cfg;
    int rc = samsa_topic_describe(s, name, &cfg);
    FUZZ_CHECK(rc == 0); /* it was listed */
    FUZZ_CHECK(cfg.partitions >= 1 && cfg.partitions <= SAMSA_MAX_PARTITIONS);
    for (int32_t p = 0; p < cfg.partitions && p < 4; p++) {
        fuzz_read_partition(s, name, p);
        fuzz_produce_readback(s, name, p);
    }
    return 0;
}

static int
visit_offset(const samsa_group_offset *o, void *ctx)
{
    (void)ctx;
    FUZZ_CHECK(o->topic != NULL && o->partition >= 0 && o->committed >= 0);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_tree_restore(dir, tree);
    fuzz_write_file(mdb, data, size);
    for (int round = 0; round < 2; round++) {
        samsa *s;
        int rc = samsa_open(dir, NULL, &s);
        FUZZ_CHECK_RC(rc);
        if (rc != 0)
            return 0;
        FUZZ_CHECK(samsa_topic_foreach(s, visit_topic, s) == 0);
        rc = samsa_group_offsets(s, "readers", visit_offset, NULL);
        FUZZ_CHECK_RC(rc);
        rc = samsa_close(s);
        FUZZ_CHECK_RC(rc);
    }
    return 0;
}
