#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Durability (DESIGN §3 commit per system call, §8): a writer loop rewrites
# 20 small files and appends to a log while the daemon is killed with -9 at a
# random moment. After a restart every acknowledged write is there, nothing
# is torn, the log has every acknowledged line exactly once and in order.
# Five rounds, each with its own directory; every round re-checks the
# earlier ones, so the data must also survive later crashes and restarts.
source "$(dirname "$0")/lib.sh"

ROUNDS=${CRASH_ROUNDS:-5}
ITERATIONS=${CRASH_ITERATIONS:-600}
NFILES=20

node_start a
M=$(node_mount a)

# writer DIR ACK: the loop. Before each operation it records "try KIND N I"
# and after its success "ok KIND N I" in ACK (outside the mount), so the
# check knows what was acknowledged and what may have been in flight.
writer() {
	local dir=$1 ack=$2 i n
	for ((i = 1; i <= ITERATIONS; i++)); do
		n=$((i % NFILES))
		echo "try f $n $i" >>"$ack"
		echo "value $i" >"$dir/f$n" || break
		echo "ok f $n $i" >>"$ack"
		echo "try l 0 $i" >>"$ack"
		echo "$i" >>"$dir/log" || break
		echo "ok l 0 $i" >>"$ack"
	done
	echo "end $i" >>"$ack"
}

# verify DIR ACK: print every violation; silent when all is well.
verify() {
	python3 - "$1" "$2" "$NFILES" <<'EOF'
import os, sys
d, ack, nfiles = sys.argv[1], sys.argv[2], int(sys.argv[3])
last_ok = {}          # file number -> last acknowledged value
log_ok = []           # acknowledged log lines, in order
inflight = None       # (kind, n, i) tried but not acknowledged
for line in open(ack):
    w = line.split()
    if w[0] == "try":
        inflight = (w[1], int(w[2]), int(w[3]))
    elif w[0] == "ok":
        kind, n, i = w[1], int(w[2]), int(w[3])
        assert inflight == (kind, n, i), (inflight, line)
        inflight = None
        if kind == "f":
            last_ok[n] = i
        else:
            log_ok.append(i)
problems = []
for n in range(nfiles):
    p = os.path.join(d, "f%d" % n)
    allowed = set()
    if n in last_ok:
        allowed.add("value %d\n" % last_ok[n])
    if inflight and inflight[0] == "f" and inflight[1] == n:
        allowed.add("value %d\n" % inflight[2])
    try:
        with open(p) as f:
            content = f.read()
    except FileNotFoundError:
        if n in last_ok:
            problems.append("f%d: missing, last acknowledged value %d" % (n, last_ok[n]))
        continue
    if content not in allowed:
        problems.append("f%d: content %r, expected one of %s" % (n, content, sorted(allowed)))
try:
    with open(os.path.join(d, "log")) as f:
        text = f.read()
except FileNotFoundError:
    text = ""
    if log_ok:
        problems.append("log: missing, %d lines acknowledged" % len(log_ok))
if text and not text.endswith("\n"):
    problems.append("log: torn last line %r" % text[-20:])
lines = [int(x) for x in text.split("\n") if x.strip().isdigit()]
if len(lines) != len([x for x in text.split("\n") if x]):
    problems.append("log: lines that are not numbers: %r" % [x for x in text.split("\n") if x and not x.strip().isdigit()][:5])
allowed_logs = [log_ok]
if inflight and inflight[0] == "l":
    allowed_logs.append(log_ok + [inflight[2]])
if lines not in allowed_logs:
    dup = sorted({x for x in lines if lines.count(x) > 1})
    missing = sorted(set(log_ok) - set(lines))
    problems.append("log: %d lines, %d acknowledged (+%s in flight); duplicates %s; missing %s; "
                    "first difference at line %d" % (
        len(lines), len(log_ok), inflight[2] if inflight and inflight[0] == "l" else "none",
        dup[:10], missing[:10],
        next((k for k, (a, b) in enumerate(zip(lines, log_ok)) if a != b), min(len(lines), len(log_ok)))))
for p in problems:
    print(p)
EOF
}

# verify_all ROUND: check every round up to ROUND.
verify_all() {
	local upto=$1 r out
	for ((r = 1; r <= upto; r++)); do
		out=$(verify "$M/round$r" "$TEST_TMP/ack$r")
		if [ -n "$out" ]; then
			say "round $r: acknowledged writes not found after restart:"
			printf '%s\n' "$out" >&2
			say "last lines of the acknowledgements:"
			tail -n 4 "$TEST_TMP/ack$r" >&2
			fail "round $r: an acknowledged write was lost or torn"
		fi
	done
}

# Like the daemon's stat(2) (basic fields only: coreutils' default format
# also asks for the birth time, which bypasses the kernel's attribute cache).
mount_is_dead() { ! stat -c %i "$M" >/dev/null 2>&1; }

ack_count() { local n; n=$(grep -c '^ok ' "$1" 2>/dev/null) || true; echo "${n:-0}"; }

for ((round = 1; round <= ROUNDS; round++)); do
	ack=$TEST_TMP/ack$round
	mkdir "$M/round$round"
	: >"$ack"
	# Kill after a random number of acknowledged operations (2 per iteration).
	target=$((50 + RANDOM % (ITERATIONS * 3 / 2)))
	say "round $round: killing the node after about $target acknowledged writes"
	writer "$M/round$round" "$ack" 2>"$TEST_TMP/writer$round.err" &
	wpid=$!
	EXTRA_PIDS+=("$wpid")
	# A tight bounded poll: the writer acknowledges about one write per ms.
	t_end=$((SECONDS + 30))
	for ((t = 0; t < 3000 && SECONDS < t_end; t++)); do
		[ "$(ack_count "$ack")" -ge "$target" ] && break
		grep -q '^end ' "$ack" && break
		sleep 0.005
	done
	node_kill9 a
	wait_exit "$wpid" 30
	[ "$EXIT_STATUS" != timeout ] || fail "round $round: the writer hangs after the kill"
	grep -q '^end ' "$ack" || fail "round $round: the writer did not finish"
	done_at=$(sed -n 's/^end //p' "$ack")
	say "round $round: killed with $(ack_count "$ack") writes acknowledged (writer stopped at iteration $done_at of $ITERATIONS)"
	if ((done_at > ITERATIONS)); then
		say "round $round: the writer finished before the kill; the check is weaker this round"
	fi
	# Restart once the kernel knows the old mount is dead (its cached
	# attributes of the root expire within a second): an immediate restart
	# is test_lifecycle's business; here only durability is checked.
	wait_for -t 10 mount_is_dead
	[ "$(grep -c " $M " /proc/mounts)" -eq 1 ] || fail "round $round: $M is mounted $(grep -c " $M " /proc/mounts) times before the restart"
	node_restart a
	verify_all "$round"
done

say "all rounds survive one more clean restart"
node_stop a
node_restart a
verify_all "$ROUNDS"
for ((r = 1; r <= ROUNDS; r++)); do
	for f in "$M/round$r"/f*; do
		assert_match '^value [0-9]+$' "$(cat "$f")" "content of $f"
	done
done
node_stop a
