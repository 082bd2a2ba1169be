#!/bin/sh
# tool.sh - the samsa command (lib/tool), every subcommand, against exact
# expected output, exit status and error line.
#
# Usage, from the top directory:  sh test/tool.sh build/samsa
#
# Each case runs one command and compares its exit status, its standard
# output and its standard error with what the case expects (empty unless
# given).  Timestamps are fixed with produce -T, so every output is known
# byte for byte, the segment dumps included.  A failing case prints the
# differences; the script exits 1 when any case failed.

set -u

if [ $# -ne 1 ]; then
    echo "usage: sh test/tool.sh build/samsa" >&2
    exit 2
fi
case $1 in /*) S=$1 ;; *) S=$(pwd)/$1 ;; esac
[ -x "$S" ] || { echo "tool.sh: $S: not built (make $1)" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/samsa-tool.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 2' HUP INT TERM
cd "$tmp" || exit 2

cases=0
failed=0
: > want.out
: > want.err

# out/err: the next case's expected standard output / error (a heredoc).
out() { cat > want.out; }
err() { cat > want.err; }

# run NAME STATUS COMMAND...: run it with standard input from in.txt
# when there is one, and compare.
run() {
    name=$1 want=$2
    shift 2
    cases=$((cases + 1))
    if [ -f in.txt ]; then
        "$@" < in.txt > got.out 2> got.err
    else
        "$@" < /dev/null > got.out 2> got.err
    fi
    rc=$?
    bad=0
    if [ "$rc" -ne "$want" ]; then
        echo "tool.sh: FAIL: $name: exit status $rc, $want expected" >&2
        bad=1
    fi
    for f in out err; do
        if ! cmp -s "want.$f" "got.$f"; then
            echo "tool.sh: FAIL: $name: standard $f differs (- expected, + got):" >&2
            diff -u "want.$f" "got.$f" | tail -n +3 | sed 's/^/    /' >&2
            bad=1
        fi
    done
    [ "$bad" -eq 0 ] || failed=$((failed + 1))
    : > want.out
    : > want.err
    rm -f in.txt
}

# Set byte number POS (from 0) of FILE to the character C.
poke() {
    printf '%s' "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2> /dev/null
}

# ---- usage and help --------------------------------------------------------

err <<'EOF'
samsa: no command (see samsa --help)
EOF
run "no command" 2 "$S"

err <<'EOF'
samsa: frob: no such command (see samsa --help)
EOF
run "unknown command" 2 "$S" frob

for c in topics produce consume dump verify "topic create" "topic alter" "topic delete"; do
    # shellcheck disable=SC2086 # "topic create" is two words
    "$S" $c --help > help.txt 2>&1
    rc=$?
    cases=$((cases + 1))
    if [ "$rc" -ne 0 ] || ! head -n 1 help.txt | grep -q "^usage: samsa ${c%% *}"; then
        echo "tool.sh: FAIL: $c --help: status $rc, $(head -n 1 help.txt)" >&2
        failed=$((failed + 1))
    fi
done

err <<'EOF'
samsa: consume: -x: unknown option (see samsa consume --help)
EOF
run "bad option" 2 "$S" consume -x st t

err <<'EOF'
samsa: consume: --nope: unknown option (see samsa consume --help)
EOF
run "bad long option" 2 "$S" consume --nope st t

err <<'EOF'
samsa: consume: -p: needs a value (see samsa consume --help)
EOF
run "missing value" 2 "$S" consume st t -p

err <<'EOF'
samsa: topics: no DIR given (see samsa topics --help)
EOF
run "missing DIR" 2 "$S" topics

err <<'EOF'
samsa: consume: DIR and TOPIC needed (see samsa consume --help)
EOF
run "missing TOPIC" 2 "$S" consume st

err <<'EOF'
samsa: consume: -f %x: unknown % or \ sequence (see samsa consume --help)
EOF
run "bad format" 2 "$S" consume -f '%x' st t

err <<'EOF'
samsa: consume: -o soon: beginning, end, N, -N or @MS (see samsa consume --help)
EOF
run "bad offset" 2 "$S" consume -o soon st t

err <<'EOF'
samsa: produce: -H novalue: KEY=VALUE expected (see samsa produce --help)
EOF
run "bad header" 2 "$S" produce -H novalue st t

err <<'EOF'
samsa: topic create: --sync sometimes: always or none (see samsa topic create --help)
EOF
run "bad sync" 2 "$S" topic create --sync sometimes st t

err <<'EOF'
samsa: topic: rename: create, alter or delete? (see samsa topic --help)
EOF
run "bad topic subcommand" 2 "$S" topic rename st t

err <<'EOF'
samsa: dump: no FILE given (see samsa dump --help)
EOF
run "dump without FILE" 2 "$S" dump

# ---- stores that are not there ------------------------------------------------

err <<'EOF'
samsa: topics: nowhere: No such file or directory (ENOENT)
EOF
run "no such DIR" 1 "$S" topics nowhere

mkdir empty
err <<'EOF'
samsa: consume: empty: no samsa store there (no catalog/data.mdb) (SAMSA_ENOTSTORE)
EOF
run "DIR without a store" 1 "$S" consume empty t
[ -z "$(ls empty)" ] || { echo "tool.sh: FAIL: consume wrote into an empty directory" >&2; failed=$((failed + 1)); }

# ---- topics ------------------------------------------------------------------

out <<'EOF'
created topic t: 2 partitions, 1 replica
EOF
run "topic create" 0 "$S" topic create st t -p 2

out <<'EOF'
created topic logs: 1 partition, 1 replica
EOF
run "topic create with options" 0 "$S" topic create --segment-bytes 4096 \
    --sync always st logs

err <<'EOF'
samsa: topic create: topic "t": topic already exists (SAMSA_EEXIST)
EOF
run "topic create twice" 1 "$S" topic create st t

err <<'EOF'
samsa: topic create: topic "a/b": invalid argument (SAMSA_EINVAL)
EOF
run "topic create bad name" 1 "$S" topic create st a/b

out <<'EOF'
logs
t
EOF
run "topics" 0 "$S" topics st

# ---- produce -------------------------------------------------------------------

printf 'alice:hello\nbob:world:again\nno key\n\n' > in.txt
run "produce with keys and headers" 0 "$S" produce -p 0 -k : -H src=cli \
    -H trace= -T 1700000000000 st t

printf 'one\ntwo\nthree' > in.txt
run "produce, last line without newline" 0 "$S" produce -p 1 \
    -T 1700000001000 st t

awk 'BEGIN { for (i = 0; i < 2500; i++) print "line " i }' > in.txt
run "produce 2500 lines" 0 "$S" produce -T 1700000002000 st logs

err <<'EOF'
samsa: produce: topic "nope": no such topic (SAMSA_ENOTOPIC)
EOF
run "produce to no topic" 1 "$S" produce st nope

err <<'EOF'
samsa: produce: topic "t": no such partition (SAMSA_ENOPARTITION)
EOF
run "produce to no partition" 1 "$S" produce -p 2 st t

# ---- consume -------------------------------------------------------------------

out <<'EOF'
t 0 0 [alice] [hello] [src=cli,trace=] 1700000000000 5 5
t 0 1 [bob] [world:again] [src=cli,trace=] 1700000000000 3 11
t 0 2 [] [no key] [src=cli,trace=] 1700000000000 -1 6
t 0 3 [] [] [src=cli,trace=] 1700000000000 -1 0
t 1 0 [] [one] [] 1700000001000 -1 3
t 1 1 [] [two] [] 1700000001000 -1 3
t 1 2 [] [three] [] 1700000001000 -1 5
EOF
run "consume -e -f" 0 "$S" consume -e -f '%t %p %o [%k] [%s] [%h] %T %K %S\n' \
    st t

out <<'EOF'
two
three
EOF
run "consume -p -o N" 0 "$S" consume -e -p 1 -o 1 st t

out <<'EOF'
three
EOF
run "consume -o -1" 0 "$S" consume -e -p 1 -o -1 st t

run "consume -o end" 0 "$S" consume -e -o end st t

out <<'EOF'
1:0:one
1:1:two
1:2:three
EOF
run "consume -o @MS" 0 "$S" consume -e -o @1700000000500 -f '%p:%o:%s\n' \
    st t

printf 'hello\tworld:again\t' > want.out
run "consume -c, escapes" 0 "$S" consume -e -c 2 -f '%s\t' -p 0 st t

err <<'EOF'
samsa: consume: topic "t" partition 1: offset 9 is outside the log (0..3)
EOF
run "consume -o past the end" 1 "$S" consume -e -p 1 -o 9 st t

err <<'EOF'
samsa: consume: topic "nope": no such topic (SAMSA_ENOTOPIC)
EOF
run "consume no topic" 1 "$S" consume st nope

"$S" consume -e st logs > logs.txt
cases=$((cases + 1))
if ! awk 'BEGIN { for (i = 0; i < 2500; i++) print "line " i }' |
    cmp -s - logs.txt; then
    echo "tool.sh: FAIL: consume logs: the 2500 lines do not come back" >&2
    failed=$((failed + 1))
fi

# Without -e it follows; -c stops it.
out <<'EOF'
hello
world:again
EOF
run "consume -c, following" 0 "$S" consume -c 2 st t

# A consumer group commits what it printed, and resumes after it.
out <<'EOF'
0:0:hello
1:0:one
EOF
run "consume -g, first" 0 "$S" consume -g g1 -c 2 -f '%p:%o:%s\n' st t
out <<'EOF'
0:1:world:again
0:2:no key
0:3:
1:1:two
1:2:three
EOF
run "consume -g, the rest" 0 "$S" consume -g g1 -e -f '%p:%o:%s\n' st t
run "consume -g, nothing left" 0 "$S" consume -g g1 -e st t

err <<'EOF'
samsa: consume: -g: a group reads every partition from its committed offsets (-o beginning or end only) (see samsa consume --help)
EOF
run "consume -g -p" 2 "$S" consume -g g1 -p 0 st t

# Following, then SIGTERM: prints everything, closes the store, exits 0.
: > follow.out # before the job: the loop below reads it at once
"$S" consume st t > follow.out 2> follow.err &
pid=$!
# It has the store once it printed what is there (up to 10 s under ASan).
k=0
while [ "$(wc -l < follow.out)" -lt 7 ] && [ "$k" -lt 100 ]; do
    sleep 0.1
    k=$((k + 1))
done
kill -TERM "$pid"
wait "$pid"
rc=$?
cases=$((cases + 1))
if [ "$rc" -ne 0 ] || [ "$(wc -l < follow.out)" -ne 7 ] || [ -s follow.err ]; then
    echo "tool.sh: FAIL: consume following, SIGTERM: status $rc, $(wc -l < follow.out) lines: $(cat follow.err)" >&2
    failed=$((failed + 1))
fi

# A store an application has open (here a producer that holds it while it
# reads a pipe, storing each line as it comes): commands that only read
# open it read-only and work beside it, a follower prints each record
# once it is acknowledged, and commands that write get SAMSA_ELOCKED.
"$S" topic create lv live > /dev/null
rm -f live.fifo
mkfifo live.fifo
"$S" produce lv live < live.fifo > live.prod 2>&1 &
ppid=$!
exec 3> live.fifo
echo first >&3
: > live.out
"$S" consume lv live > live.out 2> live.err 3>&- &
pid=$!
k=0
while [ "$(wc -l < live.out)" -lt 1 ] && [ "$k" -lt 100 ]; do
    sleep 0.1
    k=$((k + 1))
done
echo second >&3
while [ "$(wc -l < live.out)" -lt 2 ] && [ "$k" -lt 200 ]; do
    sleep 0.1
    k=$((k + 1))
done
out <<'EOF'
live
EOF
run "topics while an application writes" 0 "$S" topics lv
err <<'EOF'
samsa: topic create: lv: the store is open in another process (SAMSA_ELOCKED); commands that write need it closed: stop that process first
EOF
run "store open elsewhere" 1 "$S" topic create lv other
exec 3>&-
wait "$ppid"
prc=$?
kill -TERM "$pid"
wait "$pid"
rc=$?
cases=$((cases + 1))
if [ "$prc" -ne 0 ] || [ "$rc" -ne 0 ] || [ "$(cat live.out)" != "$(printf 'first\nsecond')" ] ||
    [ -s live.err ] || [ -s live.prod ]; then
    echo "tool.sh: FAIL: following a store being written: status $prc $rc, $(cat live.out) $(cat live.err) $(cat live.prod)" >&2
    failed=$((failed + 1))
fi
out <<'EOF'
first
second
EOF
run "consume after the application closed" 0 "$S" consume -e lv live

# A follower whose reader went away (consume | head) stops, exit 0.
rm -f rc.txt
timeout 20 sh -c "(\"$S\" consume st t 2> head.err; echo \$? > rc.txt) | head -n 1 > head.out"
cases=$((cases + 1))
if [ "$(cat rc.txt 2> /dev/null)" != 0 ] || [ "$(cat head.out)" != hello ] ||
    [ -s head.err ]; then
    echo "tool.sh: FAIL: consume | head: status $(cat rc.txt 2> /dev/null), $(cat head.out) $(cat head.err)" >&2
    failed=$((failed + 1))
fi

# ---- topics --describe -----------------------------------------------------------

out <<'EOF'
Topic: logs	PartitionCount: 1	ReplicationFactor: 1	Configs: segment.bytes=4096,max.message.bytes=1048588,index.interval.bytes=4096,min.insync.replicas=1,acks=all,sync=always,retention.ms=-1,retention.bytes=-1,segment.ms=-1,compression.type=none,message.timestamp.type=CreateTime,cleanup.policy=delete,min.cleanable.dirty.ratio=0.5,delete.retention.ms=86400000,min.compaction.lag.ms=0
	Topic: logs	Partition: 0	FirstOffset: 0	EndOffset: 2500	Leader: 0	Replicas: 0	Isr: 0
Topic: t	PartitionCount: 2	ReplicationFactor: 1	Configs: segment.bytes=1073741824,max.message.bytes=1048588,index.interval.bytes=4096,min.insync.replicas=1,acks=all,sync=none,retention.ms=-1,retention.bytes=-1,segment.ms=-1,compression.type=none,message.timestamp.type=CreateTime,cleanup.policy=delete,min.cleanable.dirty.ratio=0.5,delete.retention.ms=86400000,min.compaction.lag.ms=0
	Topic: t	Partition: 0	FirstOffset: 0	EndOffset: 4	Leader: 0	Replicas: 0	Isr: 0
	Topic: t	Partition: 1	FirstOffset: 0	EndOffset: 3	Leader: 0	Replicas: 0	Isr: 0
EOF
run "topics --describe" 0 "$S" topics --describe st

# ---- dump ------------------------------------------------------------------------

seg=st/t-0/00000000000000000000.log
out <<EOF
Dumping $seg
Log starting offset: 0
baseOffset: 0 lastOffset: 3 count: 4 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false position: 0 baseTimestamp: 1700000000000 CreateTime: 1700000000000 size: 179 magic: 2 compresscodec: none crcValid: true
EOF
run "dump" 0 "$S" dump "$seg"

out <<EOF
Dumping $seg
Log starting offset: 0
baseOffset: 0 lastOffset: 3 count: 4 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false position: 0 baseTimestamp: 1700000000000 CreateTime: 1700000000000 size: 179 magic: 2 compresscodec: none crcValid: true
| offset: 0 CreateTime: 1700000000000 keySize: 5 valueSize: 5 sequence: -1 headers: [src=cli, trace=] key: alice payload: hello
| offset: 1 CreateTime: 1700000000000 keySize: 3 valueSize: 11 sequence: -1 headers: [src=cli, trace=] key: bob payload: world:again
| offset: 2 CreateTime: 1700000000000 keySize: -1 valueSize: 6 sequence: -1 headers: [src=cli, trace=] payload: no key
| offset: 3 CreateTime: 1700000000000 keySize: -1 valueSize: 0 sequence: -1 headers: [src=cli, trace=] payload: 
EOF
run "dump --deep" 0 "$S" dump --deep "$seg"

# Two segments, one after the other in a file: a batch each.
cat st/t-1/00000000000000000000.log st/t-1/00000000000000000000.log > two.log
out <<'EOF'
Dumping two.log
baseOffset: 0 lastOffset: 2 count: 3 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false position: 0 baseTimestamp: 1700000001000 CreateTime: 1700000001000 size: 93 magic: 2 compresscodec: none crcValid: true
baseOffset: 0 lastOffset: 2 count: 3 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false position: 93 baseTimestamp: 1700000001000 CreateTime: 1700000001000 size: 93 magic: 2 compresscodec: none crcValid: true
EOF
run "dump two batches" 0 "$S" dump two.log

# A byte of a value flipped: the CRC says so, the walk goes on.
cp two.log flip.log
poke flip.log 78 X
out <<'EOF'
Dumping flip.log
baseOffset: 0 lastOffset: 2 count: 3 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false position: 0 baseTimestamp: 1700000001000 CreateTime: 1700000001000 size: 93 magic: 2 compresscodec: none crcValid: false
| offset: 0 CreateTime: 1700000001000 keySize: -1 valueSize: 3 sequence: -1 headers: [] payload: one
| offset: 1 CreateTime: 1700000001000 keySize: -1 valueSize: 3 sequence: -1 headers: [] payload: tXo
| offset: 2 CreateTime: 1700000001000 keySize: -1 valueSize: 5 sequence: -1 headers: [] payload: three
baseOffset: 0 lastOffset: 2 count: 3 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false position: 93 baseTimestamp: 1700000001000 CreateTime: 1700000001000 size: 93 magic: 2 compresscodec: none crcValid: true
| offset: 0 CreateTime: 1700000001000 keySize: -1 valueSize: 3 sequence: -1 headers: [] payload: one
| offset: 1 CreateTime: 1700000001000 keySize: -1 valueSize: 3 sequence: -1 headers: [] payload: two
| offset: 2 CreateTime: 1700000001000 keySize: -1 valueSize: 5 sequence: -1 headers: [] payload: three
EOF
err <<'EOF'
samsa: dump: flip.log: damaged: 1 batch, 0 invalid bytes at the end
EOF
run "dump a flipped byte" 1 "$S" dump --deep flip.log

# The second batch's length made huge: no batch there, the walk stops.
cp two.log len.log
poke len.log 102 "$(printf '\177')"
out <<'EOF'
Dumping len.log
baseOffset: 0 lastOffset: 2 count: 3 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false position: 0 baseTimestamp: 1700000001000 CreateTime: 1700000001000 size: 93 magic: 2 compresscodec: none crcValid: true
Found 93 invalid bytes at the end of len.log
EOF
err <<'EOF'
samsa: dump: len.log: damaged: 0 batches, 93 invalid bytes at the end
EOF
run "dump a damaged length" 1 "$S" dump len.log

# Cut short in the second batch; and zeros after the batches (the space an
# active segment allocates ahead) are no damage.
head -c 150 two.log > cut.log
out <<'EOF'
Dumping cut.log
baseOffset: 0 lastOffset: 2 count: 3 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false position: 0 baseTimestamp: 1700000001000 CreateTime: 1700000001000 size: 93 magic: 2 compresscodec: none crcValid: true
Found 57 invalid bytes at the end of cut.log
EOF
err <<'EOF'
samsa: dump: cut.log: damaged: 0 batches, 57 invalid bytes at the end
EOF
run "dump a batch cut short" 1 "$S" dump cut.log

{ cat st/t-1/00000000000000000000.log; head -c 4096 /dev/zero; } > zeros.log
out <<'EOF'
Dumping zeros.log
baseOffset: 0 lastOffset: 2 count: 3 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false position: 0 baseTimestamp: 1700000001000 CreateTime: 1700000001000 size: 93 magic: 2 compresscodec: none crcValid: true
Found 4096 zero bytes at the end of zeros.log: space allocated ahead of writes
EOF
run "dump zeros at the end" 0 "$S" dump zeros.log

err <<'EOF'
samsa: dump: nofile.log: No such file or directory (ENOENT)
EOF
run "dump no file" 1 "$S" dump nofile.log

# Garbage, and a segment with random bytes changed: any status but a
# crash, at most one line on standard error.
i=0
while [ "$i" -lt 40 ]; do
    if [ $((i % 2)) -eq 0 ]; then
        head -c $((i * 37 + 1)) /dev/urandom > junk.log
    else
        cp two.log junk.log
        # Three random bytes at random places (of the 186).
        for k in 1 2 3; do
            pos=$(od -An -N2 -tu2 /dev/urandom | awk '{ print $1 % 186 }')
            poke junk.log "$pos" "$(head -c 1 /dev/urandom | od -An -c | awk '{ print $1 }' | cut -c1)"
        done
    fi
    "$S" dump --deep junk.log > /dev/null 2> junk.err
    rc=$?
    cases=$((cases + 1))
    if [ "$rc" -gt 1 ] || [ "$(wc -l < junk.err)" -gt 1 ]; then
        echo "tool.sh: FAIL: dump of random bytes: status $rc: $(cat junk.err)" >&2
        cp junk.log "${TMPDIR:-/tmp}/samsa-tool-junk-$i.log"
        failed=$((failed + 1))
    fi
    i=$((i + 1))
done

# ---- verify --------------------------------------------------------------------------

out <<'EOF'
verified 2 topics, 3 partitions, 3 copies, 5 segment files, 5 batches, 41653 bytes: all intact
EOF
run "verify" 0 "$S" verify st

# Mirrored: a damaged copy is found; --repair heals it from the other.
# The damage is in a sealed segment: opening the store (as every command
# does) heals the copies' active segments already.
"$S" topic create -R m2 -r 2 --segment-bytes 4096 m q > /dev/null
awk 'BEGIN { for (i = 0; i < 400; i++) print "record " i }' > in.txt
run "produce to a mirrored topic" 0 "$S" produce -R m2 -T 1700000003000 m q
echo last > in.txt
run "produce, a second segment" 0 "$S" produce -R m2 -T 1700000003000 m q
poke m2/q-0/00000000000000000000.log 70 Z
out <<'EOF'
m2/q-0/00000000000000000000.log: batch at position 0 (offset 0): CRC invalid
q-0: 00000000000000000000.log: the copy on dir 1 differs from the one on dir 0
verified 1 topic, 1 partition, 2 copies, 4 segment files, 4 batches, 14318 bytes: PROBLEMS FOUND
EOF
err <<'EOF'
samsa: verify: m: 2 problems found
EOF
run "verify finds damage" 1 "$S" verify -R m2 m
out <<'EOF'
repair: 0 copies caught up; scrub checked 4 segment files, 3 batches: 1 damaged, 0 missing, 1 repaired, 0 unrepairable
verified 1 topic, 1 partition, 2 copies, 4 segment files, 4 batches, 14318 bytes: all intact
EOF
run "verify --repair" 0 "$S" verify --repair -R m2 m
out <<'EOF'
record 399
last
EOF
run "consume a mirrored topic" 0 "$S" consume -e -o -2 -R m2 m q

# Opened without its mirror, verify (read-only) says where the copy is
# not, and changes nothing: --repair with the mirror finds it in sync.
out <<'EOF'
q-0: a copy is on a directory not opened now (give the store's mirrors with -R)
verified 1 topic, 1 partition, 1 copy, 2 segment files, 2 batches, 7159 bytes: PROBLEMS FOUND
EOF
err <<'EOF'
samsa: verify: m: 1 problem found
EOF
run "verify without the mirror" 1 "$S" verify m
out <<'EOF'
repair: 0 copies caught up; scrub checked 4 segment files, 4 batches: 0 damaged, 0 missing, 0 repaired, 0 unrepairable
verified 1 topic, 1 partition, 2 copies, 4 segment files, 4 batches, 14318 bytes: all intact
EOF
run "verify --repair with the mirror again" 0 "$S" verify --repair -R m2 m

# One copy only, damaged: reported, and --repair cannot help.
poke st/t-1/00000000000000000000.log 80 X
out <<'EOF'
st/t-1/00000000000000000000.log: batch at position 0 (offset 0): CRC invalid
verified 2 topics, 3 partitions, 3 copies, 5 segment files, 5 batches, 41653 bytes: PROBLEMS FOUND
EOF
err <<'EOF'
samsa: verify: st: 1 problem found
EOF
run "verify a lone damaged copy" 1 "$S" verify st

# ---- groups, group, stats ----------------------------------------------------

"$S" topic create gs g -p 2 > /dev/null
printf 'a\nb\nc\n' > in.txt
run "produce for groups" 0 "$S" produce -p 0 -T 1000 gs g
out <<'EOF'
a
b
EOF
run "consume as g1" 0 "$S" consume -e -g g1 -c 2 gs g
out <<'EOF'
consumer g1
EOF
run "groups" 0 "$S" groups gs
out <<'EOF'
TOPIC	PARTITION	CURRENT-OFFSET	LOG-END-OFFSET	LAG
g	0	2	3	1
g	1	0	0	0
EOF
run "group describe" 0 "$S" group describe gs g1
out <<'EOF'
TOPIC	PARTITION	CURRENT-OFFSET	LOG-END-OFFSET	LAG
g	0	0	3	3
g	1	0	0	0
EOF
run "group reset to earliest" 0 "$S" group reset --topic g --to-earliest gs g1
out <<'EOF'
TOPIC	PARTITION	CURRENT-OFFSET	LOG-END-OFFSET	LAG
g	0	2	3	1
g	1	0	0	0
EOF
run "group reset shift" 0 "$S" group reset -t g -p 0 --shift-by 2 gs g1
out <<'EOF'
TOPIC	PARTITION	CURRENT-OFFSET	LOG-END-OFFSET	LAG
g	0	3	3	0
g	1	0	0	0
EOF
run "group reset to offset (clamped)" 0 "$S" group reset -t g -p 0 --to-offset 99 gs g1
out <<'EOF'
TOPIC	PARTITION	CURRENT-OFFSET	LOG-END-OFFSET	LAG
g	0	0	3	3
g	1	0	0	0
EOF
run "group reset to a time" 0 "$S" group reset -t g --to-datetime 1000 gs g1
out <<'EOF'
topics 1, partitions 2, records 3, bytes 85, segments 2, open files 2, under-replicated 0, consumer groups 1, share groups 0
TOPIC	PARTITION	START	END	RECORDS	BYTES	SEGMENTS	OPEN-FILES	IN-SYNC
g	0	0	3	3	85	1	1	1/1
g	1	0	0	0	0	1	1	1/1
EOF
run "stats" 0 "$S" stats gs
out <<'EOF'
{"topics":1,"partitions":2,"segments":2,"records":3,"bytes":85,"open_files":2,"under_replicated":0,"topic_partitions":[{"topic":"g","partition":0,"segments":1,"start":0,"end":3,"records":3,"bytes":85,"copies":1,"insync":1,"open_files":1},{"topic":"g","partition":1,"segments":1,"start":0,"end":0,"records":0,"bytes":0,"copies":1,"insync":1,"open_files":1}],"consumer_groups":[{"group":"g1","offsets":[{"topic":"g","partition":0,"committed":0,"end":3,"lag":3},{"topic":"g","partition":1,"committed":0,"end":0,"lag":0}]}],"share_groups":[]}
EOF
run "stats --json" 0 "$S" stats --json gs
err <<'EOF'
samsa: group reset: reset needs --topic and one --to-* or --shift-by (see samsa group reset --help)
EOF
run "group reset without a target" 2 "$S" group reset gs g1
err <<'EOF'
samsa: group reset: one --to-* or --shift-by only (see samsa group reset --help)
EOF
run "group reset with two targets" 2 "$S" group reset -t g --to-latest --to-earliest gs g1
err <<'EOF'
samsa: group reset: group "g1": no such topic (SAMSA_ENOTOPIC)
EOF
run "group reset, no such topic" 1 "$S" group reset -t nope --to-latest gs g1
err <<'EOF'
samsa: group: frob: describe, reset or delete? (see samsa group --help)
EOF
run "group frob" 2 "$S" group frob
out <<'EOF'
deleted group g1
EOF
run "group delete" 0 "$S" group delete gs g1
err <<'EOF'
samsa: group delete: group "g1": no such group (SAMSA_ENOGROUP)
EOF
run "group delete twice" 1 "$S" group delete gs g1
run "groups after delete" 0 "$S" groups gs
out <<'EOF'
group g1 has no committed offsets
EOF
run "group describe after delete" 0 "$S" group describe gs g1

# ---- topic alter ---------------------------------------------------------------------
# (logs' records are older than segment.ms, and lowering max.message.bytes
# below its batches must leave them readable: it binds what comes next.)

out <<'EOF'
altered topic logs
EOF
run "topic alter config" 0 "$S" topic alter --retention-ms 3153600000000 \
    --segment-ms 3600000 --acks 1 --max-message-bytes 2000 st logs
out <<'EOF'
altered topic t
EOF
run "topic alter partitions" 0 "$S" topic alter -p 3 st t
out <<'EOF'
Topic: logs	PartitionCount: 1	ReplicationFactor: 1	Configs: segment.bytes=4096,max.message.bytes=2000,index.interval.bytes=4096,min.insync.replicas=1,acks=1,sync=always,retention.ms=3153600000000,retention.bytes=-1,segment.ms=3600000,compression.type=none,message.timestamp.type=CreateTime,cleanup.policy=delete,min.cleanable.dirty.ratio=0.5,delete.retention.ms=86400000,min.compaction.lag.ms=0
	Topic: logs	Partition: 0	FirstOffset: 0	EndOffset: 2500	Leader: 0	Replicas: 0	Isr: 0
Topic: t	PartitionCount: 3	ReplicationFactor: 1	Configs: segment.bytes=1073741824,max.message.bytes=1048588,index.interval.bytes=4096,min.insync.replicas=1,acks=all,sync=none,retention.ms=-1,retention.bytes=-1,segment.ms=-1,compression.type=none,message.timestamp.type=CreateTime,cleanup.policy=delete,min.cleanable.dirty.ratio=0.5,delete.retention.ms=86400000,min.compaction.lag.ms=0
	Topic: t	Partition: 0	FirstOffset: 0	EndOffset: 4	Leader: 0	Replicas: 0	Isr: 0
	Topic: t	Partition: 1	FirstOffset: 0	EndOffset: 3	Leader: 0	Replicas: 0	Isr: 0
	Topic: t	Partition: 2	FirstOffset: 0	EndOffset: 0	Leader: 0	Replicas: 0	Isr: 0
EOF
run "topics --describe after alter" 0 "$S" topics --describe st
out <<'EOF'
altered topic logs
EOF
run "topic alter lifts a limit" 0 "$S" topic alter --retention-ms -1 st logs
err <<'EOF'
samsa: topic alter: topic "t" has 3 partitions; -p can only grow it
EOF
run "topic alter shrink" 1 "$S" topic alter -p 2 st t
err <<'EOF'
samsa: topic alter: -r: the replicas of a topic cannot change (see samsa topic alter --help)
EOF
run "topic alter replicas" 2 "$S" topic alter -r 2 st t
err <<'EOF'
samsa: topic alter: --retention-ms 0: -1 or a positive number (see samsa topic alter --help)
EOF
run "topic alter retention 0" 2 "$S" topic alter --retention-ms 0 st t
err <<'EOF'
samsa: topic alter: --acks 2: all or 1 (see samsa topic alter --help)
EOF
run "topic alter bad acks" 2 "$S" topic alter --acks 2 st t
err <<'EOF'
samsa: topic alter: topic "t": invalid argument (SAMSA_EINVAL)
EOF
run "topic alter min-insync above replicas" 1 "$S" topic alter --min-insync 2 st t
err <<'EOF'
samsa: topic alter: topic "nope": no such topic (SAMSA_ENOTOPIC)
EOF
run "topic alter no topic" 1 "$S" topic alter --acks 1 st nope
out <<'EOF'
created topic packed: 1 partition, 1 replica
EOF
run "topic create compressed" 0 "$S" topic create --compression zstd \
    --compression-level 19 st packed
for i in 1 2 3 4 5 6 7 8; do echo "the same line, again and again"; done > in.txt
run "produce compressed" 0 "$S" produce -T 1700000000000 st packed
out <<'EOF'
7:the same line, again and again
EOF
run "consume compressed" 0 "$S" consume -e -o 7 -f '%o:%s\n' st packed
out <<'EOF'
Dumping st/packed-0/00000000000000000000.log
Log starting offset: 0
baseOffset: 0 lastOffset: 7 count: 8 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false position: 0 baseTimestamp: 1700000000000 CreateTime: 1700000000000 size: 135 magic: 2 compresscodec: zstd crcValid: true
EOF
run "dump compressed" 0 "$S" dump st/packed-0/00000000000000000000.log
out <<'EOF'
altered topic packed
EOF
run "topic alter compression off" 0 "$S" topic alter --compression none st packed
err <<'EOF'
samsa: topic create: --compression lz5: none, gzip, snappy, lz4 or zstd (see samsa topic create --help)
EOF
run "topic create bad compression" 2 "$S" topic create --compression lz5 st x
err <<'EOF'
samsa: topic alter: topic "packed": invalid argument (SAMSA_EINVAL)
EOF
run "topic alter level without codec" 1 "$S" topic alter --compression-level 3 st packed
out <<'EOF'
altered topic packed
EOF
run "topic alter timestamp type" 0 "$S" topic alter --timestamp-type LogAppendTime st packed
err <<'EOF'
samsa: topic alter: --timestamp-type Now: CreateTime or LogAppendTime (see samsa topic alter --help)
EOF
run "topic alter bad timestamp type" 2 "$S" topic alter --timestamp-type Now st packed
out <<'EOF'
deleted topic packed
EOF
run "topic delete compressed" 0 "$S" topic delete st packed
out <<'EOF'
created topic kv: 1 partition, 1 replica
EOF
run "topic create compacted" 0 "$S" topic create --cleanup-policy compact \
    --min-cleanable-dirty-ratio 0.25 --delete-retention-ms 5000 \
    --min-compaction-lag-ms 700 st kv
out <<'EOF'
altered topic kv
EOF
run "topic alter compact,delete" 0 "$S" topic alter --cleanup-policy \
    compact,delete --delete-retention-ms -1 st kv
out <<'EOF'
Topic: kv	PartitionCount: 1	ReplicationFactor: 1	Configs: segment.bytes=1073741824,max.message.bytes=1048588,index.interval.bytes=4096,min.insync.replicas=1,acks=all,sync=none,retention.ms=-1,retention.bytes=-1,segment.ms=-1,compression.type=none,message.timestamp.type=CreateTime,cleanup.policy=compact,delete,min.cleanable.dirty.ratio=0.25,delete.retention.ms=0,min.compaction.lag.ms=700
	Topic: kv	Partition: 0	FirstOffset: 0	EndOffset: 0	Leader: 0	Replicas: 0	Isr: 0
EOF
run "topics --describe compacted" 0 sh -c "\"$S\" topics --describe st | grep kv"
err <<'EOF'
samsa: topic alter: --cleanup-policy shred: delete, compact or compact,delete (see samsa topic alter --help)
EOF
run "topic alter bad policy" 2 "$S" topic alter --cleanup-policy shred st kv
err <<'EOF'
samsa: topic alter: --min-cleanable-dirty-ratio 1.5: above 0 and at most 1, or -1 (see samsa topic alter --help)
EOF
run "topic alter bad ratio" 2 "$S" topic alter --min-cleanable-dirty-ratio 1.5 st kv
err <<'EOF'
samsa: topic alter: --delete-retention-ms 0: -1 or a positive number (see samsa topic alter --help)
EOF
run "topic alter delete retention 0" 2 "$S" topic alter --delete-retention-ms 0 st kv
out <<'EOF'
deleted topic kv
EOF
run "topic delete compacted" 0 "$S" topic delete st kv

# ---- topic delete --------------------------------------------------------------------

out <<'EOF'
deleted topic logs
EOF
run "topic delete" 0 "$S" topic delete st logs
err <<'EOF'
samsa: topic delete: topic "logs": no such topic (SAMSA_ENOTOPIC)
EOF
run "topic delete twice" 1 "$S" topic delete st logs
out <<'EOF'
t
EOF
run "topics after delete" 0 "$S" topics st

# ---- serve ---------------------------------------------------------------------------

err <<'EOF'
samsa: serve: --listen takes HOST:PORT, not 'nope' (see samsa serve --help)
EOF
run "serve bad listen" 2 "$S" serve --listen nope st
err <<'EOF'
samsa: serve: cannot listen on ::g: invalid argument (SAMSA_EINVAL)
EOF
run "serve bad host" 1 "$S" serve --listen '[::g]:0' st
# A users file that is not one, or is not there: no listener, the file
# named (its contents are not: they may hold passwords).
printf 'alice:s3cret\nbob\n' > users.bad
err <<'EOF'
samsa: serve: cannot listen on 127.0.0.1 with users file users.bad: invalid argument (SAMSA_EINVAL)
EOF
run "serve malformed users" 1 "$S" serve --listen 127.0.0.1:0 --users users.bad st
err <<'EOF'
samsa: serve: cannot listen on 127.0.0.1 with users file users.none: No such file or directory (ENOENT)
EOF
run "serve missing users" 1 "$S" serve --listen 127.0.0.1:0 -u users.none st
# A FIFO under the name blocked the open for ever, SIGTERM and all.
mkfifo users.fifo
err <<'EOF'
samsa: serve: cannot listen on 127.0.0.1 with users file users.fifo: invalid argument (SAMSA_EINVAL)
EOF
run "serve, a FIFO as users file" 1 timeout -s KILL 10 "$S" serve \
    --listen 127.0.0.1:0 -u users.fifo st
rm -f users.bad users.fifo
# Serving, then SIGTERM: the line with the port, exit 0, the store closed
# (a writer can open it again at once).
cases=$((cases + 1))
"$S" serve --listen 127.0.0.1:0 st > serve.out 2> serve.err &
pid=$!
i=0
while [ ! -s serve.out ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
kill -TERM $pid
wait $pid
rc=$?
if [ "$rc" -ne 0 ] || [ -s serve.err ] ||
    ! grep -q '^serving st on 127\.0\.0\.1:[1-9][0-9]*$' serve.out; then
    echo "tool.sh: FAIL: serve: status $rc, output: $(cat serve.out serve.err)" >&2
    failed=$((failed + 1))
fi
out <<'EOF'
t
EOF
run "topics after serve" 0 "$S" topics st

# ---- adopt ---------------------------------------------------------------------------

# A Kafka partition directory: a segment of record batches v2 (samsa's own,
# the same format) with its base offsets set by hand (outside the CRC) to
# 1000, 1005 and 1020, in a file named 1000: a log with gaps that starts at
# 1000, as Kafka's compaction leaves them.
be32() { od -An -tu1 -j"$2" -N4 "$1" | awk '{ print (($1 * 256 + $2) * 256 + $3) * 256 + $4 }'; }
"$S" topic create ksrc src > /dev/null
for i in 1 2 3; do
    echo "rec $i" | "$S" produce -T 1700000004000 ksrc src > /dev/null
done
mkdir -p kafka/orders-0
kl=kafka/orders-0/00000000000000001000.log
cp ksrc/src-0/00000000000000000000.log "$kl"
p2=$((12 + $(be32 "$kl" 8)))
p3=$((p2 + 12 + $(be32 "$kl" $((p2 + 8)))))
printf '\000\000\000\000\000\000\003\350' | dd of="$kl" bs=1 seek=0 conv=notrunc 2> /dev/null
printf '\000\000\000\000\000\000\003\355' | dd of="$kl" bs=1 seek="$p2" conv=notrunc 2> /dev/null
printf '\000\000\000\000\000\000\003\374' | dd of="$kl" bs=1 seek="$p3" conv=notrunc 2> /dev/null
echo "0" > kafka/orders-0/leader-epoch-checkpoint
cksum kafka/orders-0/* > kafka.sum
out <<'EOF'
adopted kafka/orders-0 as topic "orders": offsets 1000..1021
EOF
run "adopt" 0 "$S" adopt ad orders kafka/orders-0
out <<'EOF'
1000 rec 1
1005 rec 2
1020 rec 3
EOF
run "consume an adopted log" 0 "$S" consume -e -f '%o %s\n' ad orders
out <<'EOF'
verified 1 topic, 1 partition, 1 copy, 2 segment files, 3 batches, 219 bytes: all intact
EOF
run "verify an adopted log (gaps)" 0 "$S" verify ad
err <<'EOF'
samsa: adopt: kafka/orders-0 as topic "orders": topic already exists (SAMSA_EEXIST)
EOF
run "adopt twice" 1 "$S" adopt ad orders kafka/orders-0
# A damaged batch refuses the whole directory: nothing is made.
cp -r kafka/orders-0 kafka/bad-0
poke kafka/bad-0/00000000000000001000.log $((p2 + 70)) Z
err <<'EOF'
samsa: adopt: kafka/bad-0 as topic "bad": data on disk is corrupt (SAMSA_ECORRUPT)
EOF
run "adopt a damaged log" 1 "$S" adopt ad bad kafka/bad-0
out <<'EOF'
orders
EOF
run "topics after a refused adopt" 0 "$S" topics ad
err <<'EOF'
samsa: adopt: DIR, TOPIC and KAFKA_DIR expected (see samsa adopt --help)
EOF
run "adopt usage" 2 "$S" adopt ad orders
cases=$((cases + 1))
if ! cksum kafka/orders-0/* | cmp -s - kafka.sum; then
    echo "tool.sh: FAIL: adopt changed the Kafka directory" >&2
    failed=$((failed + 1))
fi
# The same gaps in a topic samsa made (dense) are damage to verify.
cp "$kl" ksrc/src-0/00000000000000000000.log
rm -f ksrc/src-0/*.index ksrc/src-0/*.timeindex
out <<'EOF'
ksrc/src-0/00000000000000000000.log: batch at position 0 has offset 1000, 0 expected
ksrc/src-0/00000000000000000000.log: batch at position 73 has offset 1005, 1001 expected
ksrc/src-0/00000000000000000000.log: batch at position 146 has offset 1020, 1006 expected
verified 1 topic, 1 partition, 1 copy, 1 segment files, 3 batches, 219 bytes: PROBLEMS FOUND
EOF
err <<'EOF'
samsa: verify: ksrc: 3 problems found
EOF
run "verify gaps in a dense topic" 1 "$S" verify ksrc

# ---- hostile stores ------------------------------------------------------------

# A sealed segment whose first batch's length is damaged: seeking by time
# fails there, and the command says so and exits 1 (the cursor it opened
# is closed once, not again with the cursors still open).
"$S" topic create hs t --segment-bytes 4096 > /dev/null
for ts in 5 6 7; do
    awk 'BEGIN { s = sprintf("%2000s", ""); gsub(/ /, "a", s); print s }' |
        "$S" produce -T "$ts" hs t
done
poke hs/t-0/00000000000000000000.log 8 "$(printf '\377')"
err <<'EOF'
samsa: consume: topic "t" partition 0: data on disk is corrupt (SAMSA_ECORRUPT)
EOF
run "consume -o @MS, a damaged segment" 1 "$S" consume -e -o @6 hs t

# A create or adopt refused where there was no store leaves none behind:
# not the store's files, nor the directories the open made (DIR, its
# missing parents, a new mirror); an empty DIR that was there stays, empty.
err <<'EOF'
samsa: topic create: topic "a/b": invalid argument (SAMSA_EINVAL)
EOF
run "topic create bad name, new DIR" 1 "$S" topic create new/st a/b
mkdir was
err <<'EOF'
samsa: topic create: topic "x": invalid argument (SAMSA_EINVAL)
EOF
run "topic create bad config, empty DIR" 1 "$S" topic create -r 2 \
    -R new2/mirror --segment-bytes 1 was x
err <<'EOF'
samsa: adopt: nowhere as topic "t": No such file or directory (ENOENT)
EOF
run "adopt no Kafka directory, new DIR" 1 "$S" adopt new3 t nowhere
cases=$((cases + 1))
if [ -e new ] || [ -e new2 ] || [ -e new3 ] || [ -n "$(ls -A was)" ]; then
    echo "tool.sh: FAIL: a refused create left files:" $(ls -dA new* was/*) >&2
    failed=$((failed + 1))
fi

# What is not a regular file under a segment's name: a FIFO blocked the
# open for ever (no writer), and a pipe or device passed for an empty,
# intact segment.
mkfifo fifo.log
err <<'EOF'
samsa: dump: fifo.log: not a regular file
EOF
run "dump a FIFO" 1 timeout 10 "$S" dump fifo.log
err <<'EOF'
samsa: dump: /dev/null: not a regular file
EOF
run "dump a device" 1 "$S" dump /dev/null
err <<'EOF'
samsa: dump: /dev/stdin: not a regular file
EOF
run "dump a pipe" 1 sh -c ": | '$S' dump /dev/stdin"

# A partition file that cannot be opened (a directory under a segment's
# name): the read-only open cannot load the topic, and commands that walk
# the topics list it all the same; verify reports it, not "all intact".
"$S" topic create hd t > /dev/null
echo x | "$S" produce hd t
rm hd/t-0/00000000000000000000.log
mkdir hd/t-0/00000000000000000000.log
out <<'EOF'
t
EOF
run "topics, a topic that does not load" 0 "$S" topics hd
out <<'EOF'
topic "t": cannot be read: EISDIR: Is a directory
verified 1 topic, 0 partitions, 0 copies, 0 segment files, 0 batches, 0 bytes: PROBLEMS FOUND
EOF
err <<'EOF'
samsa: verify: hd: 1 problem found
EOF
run "verify, a topic that does not load" 1 "$S" verify hd

# A mirror given with -R that is someone else's directory: the error
# names it, not DIR, and nothing is written there.
mkdir foreign
echo mine > foreign/file
err <<'EOF'
samsa: produce: foreign: directory is not empty and holds no samsa store (SAMSA_ENOTSTORE)
EOF
run "produce -R a foreign directory" 1 "$S" produce -R foreign st t
cases=$((cases + 1))
if [ "$(ls -A foreign)" != file ]; then
    echo "tool.sh: FAIL: produce wrote into a foreign directory" >&2
    failed=$((failed + 1))
fi

# Output that cannot be written (a full disk) is an error, whatever the
# command: a listing cut short must not exit 0.
err <<'EOF'
samsa: topics: standard output: No space left on device (ENOSPC)
EOF
run "topics > /dev/full" 1 sh -c "'$S' topics st > /dev/full"
err <<'EOF'
samsa: stats: standard output: No space left on device (ENOSPC)
EOF
run "stats --json > /dev/full" 1 sh -c "'$S' stats --json st > /dev/full"

# stats reads a Kafka mirror's state file in DIR (built with librdkafka):
# a line the mirror would refuse is skipped (its lag overflowed), and a
# FIFO under the name blocked the command for ever.
if "$S" --help | grep -q '^  mirror'; then
    "$S" topic create ms t > /dev/null
    echo a | "$S" produce ms t
    printf 'samsa-mirror 1\nt 0 0 0 -9223372036854775808 0\nt 0 0 0 1 1\n' \
        > ms/kafka-mirror.state
    out <<'EOF'
MIRROR	TOPIC	PARTITION	MIRRORED	KAFKA-NEXT	LAG
mirror	t	0	1	1	0
EOF
    run "stats, a hostile mirror state file" 0 sh -c \
        "'$S' stats ms | grep '^mirror\|^MIRROR'"
    rm ms/kafka-mirror.state
    mkfifo ms/kafka-mirror.state
    err <<'EOF'
samsa: stats: ms/kafka-mirror.state: not a regular file
EOF
    run "stats, a FIFO as the mirror state file" 1 sh -c \
        "timeout 10 '$S' stats ms > /dev/null"
fi

# A FIFO in place of the catalog's data file: LMDB's open blocked on it
# for ever; the command says the directory holds no store.
"$S" topic create hf t > /dev/null
rm hf/catalog/data.mdb
mkfifo hf/catalog/data.mdb
err <<'EOF'
samsa: topics: hf: no samsa store there (catalog/data.mdb is not a regular file) (SAMSA_ENOTSTORE)
EOF
run "topics, a FIFO as the catalog" 1 timeout -s KILL 10 "$S" topics hf

if [ "$failed" -ne 0 ]; then
    echo "tool.sh: $failed of $cases cases FAILED" >&2
    exit 1
fi
echo "tool.sh: all $cases cases passed"
