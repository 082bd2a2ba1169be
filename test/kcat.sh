#!/bin/sh
# kcat.sh - kcat, the Kafka command-line client, against `samsa serve`, as
# a user would run it: metadata, produce with keys, consume back exactly,
# and the same records read in-process by `samsa consume`; then against
# `samsa serve --users`: logged in with SASL/PLAIN it consumes and produces,
# with a wrong password it gets nothing.
#
# Usage, from the top directory:  sh test/kcat.sh build/samsa

set -u
if [ $# -ne 1 ]; then
    echo "usage: sh test/kcat.sh build/samsa" >&2
    exit 2
fi
case $1 in /*) S=$1 ;; *) S=$(pwd)/$1 ;; esac
command -v kcat > /dev/null || { echo "kcat.sh: kcat is not installed" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/samsa-kcat.XXXXXX") || exit 2
pid=
trap '[ -n "$pid" ] && kill $pid 2> /dev/null; rm -rf "$tmp"' EXIT
trap 'exit 2' HUP INT TERM
cd "$tmp" || exit 2
failed=0
fail() { echo "kcat.sh: FAIL: $*" >&2; failed=$((failed + 1)); }

# serve [OPTION...]: start `samsa serve` on store st and a free port;
# sets pid and b (its HOST:PORT).
serve() {
    rm -f serve.out
    "$S" serve --listen 127.0.0.1:0 "$@" st > serve.out 2> serve.err &
    pid=$!
    i=0
    while [ ! -s serve.out ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    port=$(sed -n 's/^serving st on 127\.0\.0\.1:\([0-9]*\)$/\1/p' serve.out)
    [ -n "$port" ] || { echo "kcat.sh: samsa serve did not start: $(cat serve.err)" >&2; exit 1; }
    b=127.0.0.1:$port
}

"$S" topic create --partitions 2 st t > /dev/null || exit 2
serve

kcat -b "$b" -L -t t > meta.txt 2>&1 || fail "kcat -L: $(cat meta.txt)"
grep -q 'topic "t" with 2 partitions' meta.txt || fail "metadata: $(cat meta.txt)"

printf 'k1:first\nk2:second\n:no key\nk3:\n' |
    kcat -b "$b" -P -t t -p 1 -K: 2> produce.err || fail "produce: $(cat produce.err)"
cat > want.txt << 'EOF'
0 k1 first
1 k2 second
2  no key
3 k3 
EOF
kcat -b "$b" -C -t t -p 1 -o beginning -e -q -f '%o %k %s\n' > got.txt 2> consume.err ||
    fail "consume: $(cat consume.err)"
cmp -s want.txt got.txt || fail "kcat consume: $(diff want.txt got.txt)"

kill -TERM $pid
wait $pid || fail "samsa serve exited with $?"
pid=
"$S" consume -e -p 1 -f '%o %k %s\n' st t > inproc.txt 2> inproc.err ||
    fail "samsa consume: $(cat inproc.err)"
cmp -s want.txt inproc.txt || fail "samsa consume: $(diff want.txt inproc.txt)"

# With a users file: kcat logged in with SASL/PLAIN reads the same records
# and adds one; a wrong password gets no metadata.
printf '# kcat.sh\nkc:pa:ss word\n' > users
serve --users users
sasl="-X security.protocol=SASL_PLAINTEXT -X sasl.mechanisms=PLAIN -X sasl.username=kc"
kcat -b "$b" $sasl -X "sasl.password=pa:ss word" -C -t t -p 1 -o beginning -e -q \
    -f '%o %k %s\n' > got.txt 2> consume.err || fail "SASL consume: $(cat consume.err)"
cmp -s want.txt got.txt || fail "SASL consume: $(diff want.txt got.txt)"
echo 'k4:logged in' | kcat -b "$b" $sasl -X "sasl.password=pa:ss word" -P -t t -p 1 -K: \
    2> produce.err || fail "SASL produce: $(cat produce.err)"
echo '4 k4 logged in' >> want.txt
kcat -b "$b" $sasl -X "sasl.password=pa:ss word" -C -t t -p 1 -o beginning -e -q \
    -f '%o %k %s\n' > got.txt 2> consume.err || fail "SASL consume: $(cat consume.err)"
cmp -s want.txt got.txt || fail "SASL consume after produce: $(diff want.txt got.txt)"
if kcat -b "$b" $sasl -X "sasl.password=pa:ss" -m 2 -L > meta.txt 2>&1; then
    fail "kcat -L with a wrong password: $(cat meta.txt)"
fi
grep -q 'Invalid username or password' meta.txt ||
    fail "kcat -L with a wrong password: $(cat meta.txt)"
kill -TERM $pid
wait $pid || fail "samsa serve --users exited with $?"
pid=

if [ "$failed" -ne 0 ]; then
    echo "kcat.sh: $failed checks FAILED" >&2
    exit 1
fi
echo "kcat.sh: kcat listed, produced and consumed 4 records through samsa serve exactly," \
    "and logged in with SASL/PLAIN to samsa serve --users"
