#!/bin/sh
# peers.sh - run bench_peers with the servers it needs, then draw charts.
#
#   sh test/bench/peers.sh BENCH_PEERS OUTDIR [DIR]
#
# Starts redis-server (appendonly yes, no RDB snapshots; bench_peers sets
# appendfsync) and nats-server -js (file store) on 127.0.0.1, on ports
# picked here, with their data in a fresh directory under DIR ($TMPDIR or
# /tmp by default: the disk the other systems write to).  Both are stopped,
# and their data removed, whatever happens.  Writes OUTDIR/peers.csv,
# OUTDIR/peers.txt (what bench_peers printed) and the charts (plot.sh).
set -eu
bench=$1
out=$2
base=${3:-${TMPDIR:-/tmp}}
mkdir -p "$out"
data=$(mktemp -d "$base/samsa-peers-XXXXXX")
pids=
stop() {
    for p in $pids; do kill "$p" 2>/dev/null || :; done
    for p in $pids; do wait "$p" 2>/dev/null || :; done
    rm -rf "$data"
}
trap stop EXIT
trap 'exit 130' INT TERM HUP

# A port nothing listens on (bash-less: ask ss).
free_port() {
    while :; do
        p=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 30000 ))
        ss -Hltn "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return; }
    done
}
# Wait until something listens on 127.0.0.1:$1 (at most 10 s).
wait_port() {
    i=0
    until ss -Hltn "sport = :$1" | grep -q .; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "peers.sh: nothing listens on $1" >&2; exit 1; }
        sleep 0.1
    done
}

redis_port=$(free_port)
mkdir "$data/redis"
redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$data/redis" \
    --appendonly yes --appendfsync everysec --save '' --daemonize no \
    --protected-mode yes --logfile "$data/redis/log" &
pids="$pids $!"
nats_port=$(free_port)
nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$data/nats" \
    -l "$data/nats.log" &
pids="$pids $!"
wait_port "$redis_port"
wait_port "$nats_port"
echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on 127.0.0.1:$redis_port," \
    "$(nats-server --version) on 127.0.0.1:$nats_port; data in $data"

# tee would hide the benchmark's exit status: it goes through a file.
{ SAMSA_BENCH_REDIS_PORT=$redis_port SAMSA_BENCH_NATS_PORT=$nats_port \
  SAMSA_BENCH_CSV="$out/peers.csv" "$bench" "$base"; echo $? > "$data/rc"; } |
    tee "$out/peers.txt"
rc=$(cat "$data/rc")
[ "$rc" -eq 0 ] || { echo "peers.sh: $bench failed ($rc)" >&2; exit "$rc"; }
sh "$(dirname "$0")/plot.sh" "$out/peers.csv" "$out"
sh "$(dirname "$0")/table.sh" "$out/peers.csv" > "$out/peers-table.txt"
