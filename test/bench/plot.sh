#!/bin/sh
# plot.sh - charts from a bench CSV (system,durability,workload,value_bytes,
# unit,median,min,max,runs,records) with gnuplot:
#
#   sh test/bench/plot.sh CSV OUTDIR
#
#   OUTDIR/throughput-100.png, throughput-1024.png: records per second by
#       system and workload (log scale; median, bars from min to max);
#   OUTDIR/latency-100.png, latency-1024.png: p50, p99 and p99.9 of the
#       producer-to-consumer latency by system, at 10,000 and 100,000
#       records per second (log scale).
set -eu
csv=$1
out=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One row per system (in the CSV's order), one column per figure: the
# median of each, "-" where the system has none.
pivot() { # value_bytes figure... > file
    size=$1
    shift
    awk -F, -v size="$size" -v figs="$*" '
        BEGIN { n = split(figs, f, " ") }
        NR > 1 && $4 == size {
            if (!($1 in seen)) { seen[$1] = 1; order[++ns] = $1 }
            v[$1, $3] = $6; lo[$1, $3] = $7; hi[$1, $3] = $8
        }
        END {
            printf "system"
            for (i = 1; i <= n; i++) printf " %s", f[i]
            printf "\n"
            for (s = 1; s <= ns; s++) {
                any = 0
                for (i = 1; i <= n; i++) if ((order[s], f[i]) in v) any = 1
                if (!any) continue
                printf "%s", order[s]
                for (i = 1; i <= n; i++)
                    printf " %s", ((order[s], f[i]) in v) ? v[order[s], f[i]] : "-"
                printf "\n"
            }
        }' "$csv"
}

for size in 100 1024; do
    pivot $size produce_1 produce_100 produce_4t read > "$tmp/t$size"
    pivot $size lat10k_p50 lat10k_p99 lat10k_p99.9 \
        lat100k_p50 lat100k_p99 lat100k_p99.9 > "$tmp/l$size"
    gnuplot <<GP
set terminal pngcairo size 1400,620 font "sans,10" noenhanced
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set grid ytics
set key top right
set xtics rotate by -30
set ylabel "records per second (median of the runs)"
set output "$out/throughput-$size.png"
set title "Throughput, 16-byte keys, $size-byte values (higher is better)"
plot for [i=2:5] "$tmp/t$size" using i:xtic(1) title columnheader(i)

set terminal pngcairo size 1400,900 font "sans,10" noenhanced
set output "$out/latency-$size.png"
set multiplot layout 2,1
set ylabel "microseconds (median of the runs)"
set title "Producer thread to consumer thread at 10,000 records/s, $size-byte values (lower is better)"
plot for [i=2:4] "$tmp/l$size" using i:xtic(1) title columnheader(i)
set title "Producer thread to consumer thread at 100,000 records/s, $size-byte values (lower is better)"
plot for [i=5:7] "$tmp/l$size" using i:xtic(1) title columnheader(i)
unset multiplot
GP
done
echo "plot.sh: charts in $out"
