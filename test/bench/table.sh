#!/bin/sh
# table.sh - the figures of a bench CSV as text tables (for the README):
# throughput by system and workload, then latency by system, each cell
# "median (min-max)" over the runs.
#
#   sh test/bench/table.sh CSV
set -eu
awk -F, '
    function k(x) {    # 1234567 -> "1.23M", 12345 -> "12.3k"
        if (x >= 1e6) return sprintf("%.2fM", x / 1e6)
        if (x >= 1e4) return sprintf("%.1fk", x / 1e3)
        if (x >= 1e3) return sprintf("%.2fk", x / 1e3)
        return sprintf("%.0f", x)
    }
    function us(x) {
        if (x >= 10000) return sprintf("%.0fms", x / 1000)
        if (x >= 1000) return sprintf("%.1fms", x / 1000)
        if (x >= 100) return sprintf("%.0f", x)
        return sprintf("%.1f", x)
    }
    NR > 1 {
        if (!($1 in seen)) { seen[$1] = 1; order[++ns] = $1; dur[$1] = $2 }
        key = $1 SUBSEP $3 SUBSEP $4
        med[key] = $6; lo[key] = $7; hi[key] = $8
    }
    function cell(s, w, size, fmt,   key) {
        key = s SUBSEP w SUBSEP size
        if (!(key in med)) return "-"
        if (fmt == "k") return k(med[key]) " (" k(lo[key]) "-" k(hi[key]) ")"
        return us(med[key]) " (" us(lo[key]) "-" us(hi[key]) ")"
    }
    END {
        split("produce_1 produce_100 produce_4t read", tw, " ")
        for (z = 1; z <= 2; z++) {
            size = z == 1 ? 100 : 1024
            printf "Throughput, records/s, %d-byte values: median (min-max)\n", size
            printf "%-15s %-9s", "system", "durable"
            for (i = 1; i <= 4; i++) printf " %-26s", tw[i]
            printf "\n"
            for (s = 1; s <= ns; s++) {
                line = sprintf("%-15s %-9s", order[s], dur[order[s]]); any = 0
                for (i = 1; i <= 4; i++) {
                    c = cell(order[s], tw[i], size, "k"); if (c != "-") any = 1
                    line = line sprintf(" %-26s", c)
                }
                if (any) { sub(/ +$/, "", line); print line }
            }
            printf "\n"
        }
        split("p50 p99 p99.9 max rate", lw, " ")
        for (z = 1; z <= 2; z++) {
            size = z == 1 ? 100 : 1024
            for (r = 1; r <= 2; r++) {
                rate = r == 1 ? "lat10k" : "lat100k"
                printf "Latency producer thread -> consumer thread, us, at %s/s, %d-byte values: median (min-max)\n", r == 1 ? "10,000" : "100,000", size
                printf "%-15s", "system"
                for (i = 1; i <= 5; i++) printf " %-21s", lw[i] (i == 5 ? " (rec/s)" : "")
                printf "\n"
                for (s = 1; s <= ns; s++) {
                    line = sprintf("%-15s", order[s]); any = 0
                    for (i = 1; i <= 5; i++) {
                        c = cell(order[s], rate "_" lw[i], size, i == 5 ? "k" : "u")
                        if (c != "-") any = 1
                        line = line sprintf(" %-21s", c)
                    }
                    if (any) { sub(/ +$/, "", line); print line }
                }
                printf "\n"
            }
        }
    }' "$1"
