#!/bin/sh
# kafkajs.sh - kafkajs (Node.js) against `samsa serve`: test/interop/
# kafkajs-listener.js creates topics, produces (acks=all, plain and gzip),
# consumes with a group of two, commits, resumes and deletes a topic; the
# records it read must be exactly those `samsa consume` reads in-process.
# Then the other way on disk: test/interop/kafkajs-encode.js writes a
# Kafka partition log with kafkajs's batch encoder (compressed with gzip,
# snappy and lz4, offsets with gaps as compaction leaves them) and `samsa
# adopt` must read every record of it exactly, seeks into a gap included.
#
# Usage, from the top directory, with kafkajs in NODE_PATH:
#   sh test/kafkajs.sh build/samsa

set -u
if [ $# -ne 1 ]; then
    echo "usage: sh test/kafkajs.sh build/samsa" >&2
    exit 2
fi
case $1 in /*) S=$1 ;; *) S=$(pwd)/$1 ;; esac
js=$(pwd)/test/interop/kafkajs-listener.js
encode=$(pwd)/test/interop/kafkajs-encode.js

tmp=$(mktemp -d "${TMPDIR:-/tmp}/samsa-kafkajs.XXXXXX") || exit 2
pid=
trap '[ -n "$pid" ] && kill $pid 2> /dev/null; rm -rf "$tmp"' EXIT
trap 'exit 2' HUP INT TERM
cd "$tmp" || exit 2

"$S" topic create st seed > /dev/null || exit 2   # the store
"$S" serve --listen 127.0.0.1:0 st > serve.out 2> serve.err &
pid=$!
i=0
while [ ! -s serve.out ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
port=$(sed -n 's/^serving st on 127\.0\.0\.1:\([0-9]*\)$/\1/p' serve.out)
[ -n "$port" ] || { echo "kafkajs.sh: samsa serve did not start: $(cat serve.err)" >&2; exit 1; }

node "$js" "127.0.0.1:$port" got.txt || exit 1
kill -TERM $pid
wait $pid || { echo "kafkajs.sh: samsa serve exited with $?" >&2; exit 1; }
pid=

"$S" consume -e -f '%p %o %k %s\n' st js > inproc.txt 2> inproc.err ||
    { echo "kafkajs.sh: samsa consume: $(cat inproc.err)" >&2; exit 1; }
if ! cmp -s got.txt inproc.txt; then
    echo "kafkajs.sh: kafkajs and samsa consume differ:" >&2
    diff got.txt inproc.txt | head -20 >&2
    exit 1
fi
"$S" topics st > topics.txt 2>&1
if grep -q gone topics.txt; then
    echo "kafkajs.sh: the deleted topic is still there: $(cat topics.txt)" >&2
    exit 1
fi
node "$encode" kj-0 > want-kj.txt || exit 1
"$S" adopt st kj kj-0 > /dev/null || exit 1
fmt='%o %T %K:%k %S:%s %h\n'
"$S" consume -e -f "$fmt" st kj > got-kj.txt 2> adopt.err ||
    { echo "kafkajs.sh: samsa consume kj: $(cat adopt.err)" >&2; exit 1; }
if ! cmp -s want-kj.txt got-kj.txt; then
    echo "kafkajs.sh: the log kafkajs wrote reads differently:" >&2
    diff want-kj.txt got-kj.txt >&2
    exit 1
fi
# 1011 and 1012 are a gap inside the snappy batch: a seek lands on 1013.
"$S" consume -e -o 1011 -c 1 -f '%o\n' st kj > seek.txt 2> seek.err
if [ "$(cat seek.txt)" != 1013 ]; then
    echo "kafkajs.sh: seek to 1011 gave '$(cat seek.txt)' $(cat seek.err), not 1013" >&2
    exit 1
fi
echo "kafkajs.sh: samsa adopted and read the $(wc -l < got-kj.txt) records of a compacted, compressed log kafkajs encoded, exactly"
echo "kafkajs.sh: kafkajs produced, consumed as a group, resumed and administered $(wc -l < got.txt) records through samsa serve exactly as samsa reads them"
