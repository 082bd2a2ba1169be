/*
 * bench_core.c - samsa alone under the standard workloads (bench.c lists
 * them), with and without sync: the quick figures of `make bench`.
 *
 *   build/bench/bench_core [DIR]
 *
 * The store lives in a fresh directory under DIR, $TMPDIR or /tmp, removed
 * at the end.  Each figure is the median of 5 runs after a warm-up, with
 * min and max, one line per figure, and a line of build/bench_core.csv
 * (SAMSA_BENCH_CSV to change; SAMSA_BENCH_QUICK=1 for a smoke run).
 * bench_peers runs the same workloads with more records, side by side with
 * the systems a user would pick instead.
 */
#include "bench.h"
#include "systems.h"

#include "samsa.h"

int
main(int argc, char **argv)
{
    bench_counts c;
    bench_init("bench_core", argc, argv);
    bench_counts_default(&c);
    if (!bench_quick()) {
        /* `make bench` is quick: a tenth of the records bench_peers uses. */
        c.produce_1 /= 10;
        c.produce_100 /= 10;
        c.produce_4t /= 10;
        c.lat_seconds_x10 /= 2;
    }
    bench_note("samsa %s; 16-byte keys, 100-byte and 1 KiB values\n\n",
               samsa_version_string());
    bench_system(&bench_samsa, &c);
    bench_system(&bench_samsa_sync, &c);
    bench_system(&bench_samsa_async, &c);
    bench_system(&bench_samsa_async_sync, &c);
    return bench_finish();
}
