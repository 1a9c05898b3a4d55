#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Failover (DESIGN §3, §8; issue 3). Three nodes; a writer loop on a follower
# rewrites 20 files and appends to a log, recording every attempt and every
# acknowledgement outside the mount. kill -9 of the leader in the middle:
# writes succeed again within a few seconds (the time from the kill to the
# first successful write is printed), every acknowledged write is on both
# survivors, no append is applied twice (retries after a leader change are
# deduplicated), and the killed node, restarted with only --data and --mount,
# catches up to the same tree. Then SIGTERM of the leader: leadership is
# handed over at once, the daemon exits 0, writes go on.
# shellcheck disable=SC2016 # eval'ed conditions are quoted on purpose
source "$(dirname "$0")/lib.sh"

NFILES=20
# A leader that does not die at kill -9 is a failure, but the rest of the
# test still runs (lib.sh aborts its FUSE connection).
KILL9_CONTINUE=1
# A bound on failover, far above the target (about 1 s), only to catch hangs.
FAILOVER_MAX=10

cluster_start 3
ALL=("${CLUSTER[@]}")
wait_leader "${ALL[@]}"
OLD=$LEADER W=${FOLLOWERS[0]} S=${FOLLOWERS[1]}
MW=$(node_mount "$W")
say "leader $OLD (id ${NODE_ID[$OLD]}); the writer runs on follower $W, $S is the other survivor"
mkdir "$MW/fo"

# writer DIR ACK STOP: until STOP exists (at most 30000 iterations, 60 s):
# "try KIND N I" before each write, "ok KIND N I TIME" after its success,
# "fail KIND N I TIME" after its failure (and it goes on). KIND f: f$N gets
# "value I"; KIND l: the line I is appended to log.
writer() {
	local dir=$1 ack=$2 stop=$3 i n end=$((SECONDS + 60))
	for ((i = 1; i <= 30000 && SECONDS < end; i++)); do
		[ -e "$stop" ] && break
		n=$((i % NFILES))
		echo "try f $n $i $EPOCHREALTIME" >>"$ack"
		if echo "value $i" >"$dir/f$n"; then
			echo "ok f $n $i $EPOCHREALTIME" >>"$ack"
		else
			echo "fail f $n $i $EPOCHREALTIME" >>"$ack"
		fi
		echo "try l 0 $i $EPOCHREALTIME" >>"$ack"
		if echo "$i" >>"$dir/log"; then
			echo "ok l 0 $i $EPOCHREALTIME" >>"$ack"
		else
			echo "fail l 0 $i $EPOCHREALTIME" >>"$ack"
		fi
	done
	echo "end $i" >>"$ack"
}

# verify DIR ACK: print every violation; silent when all is well. A write
# that failed or was in flight may or may not have been applied (ETIMEDOUT:
# outcome unknown), but at most once; acknowledged ones must be there.
verify() {
	python3 - "$1" "$2" "$NFILES" <<'EOF'
import os, sys
d, ack, nfiles = sys.argv[1], sys.argv[2], int(sys.argv[3])
last_ok = {}                 # file number -> last acknowledged value
maybe_f = {}                 # file number -> values tried after the last ack
log_ok, log_maybe = [], set()
tried = None
for line in open(ack):
    w = line.split()
    if w[0] in ("try", "ok", "fail"):
        kind, n, i = w[1], int(w[2]), int(w[3])
    if w[0] == "try":
        tried = (kind, n, i)
        if kind == "f":
            maybe_f.setdefault(n, set()).add(i)
        else:
            log_maybe.add(i)
    elif w[0] == "ok":
        if kind == "f":
            last_ok[n] = i
            maybe_f[n] = set()
        else:
            log_ok.append(i)
            log_maybe.discard(i)
problems = []
for n in range(nfiles):
    allowed = {"value %d\n" % v for v in maybe_f.get(n, ())}
    if n in last_ok:
        allowed.add("value %d\n" % last_ok[n])
    try:
        with open(os.path.join(d, "f%d" % n)) as f:
            content = f.read()
    except FileNotFoundError:
        if n in last_ok:
            problems.append("f%d: missing, last acknowledged value %d" % (n, last_ok[n]))
        continue
    if content not in allowed:
        problems.append("f%d: content %r, acknowledged %s, maybe %s" % (
            n, content, last_ok.get(n), sorted(maybe_f.get(n, ()))))
try:
    with open(os.path.join(d, "log")) as f:
        text = f.read()
except FileNotFoundError:
    text = ""
if text and not text.endswith("\n"):
    problems.append("log: torn last line %r" % text[-20:])
lines = [x for x in text.split("\n") if x]
bad = [x for x in lines if not x.isdigit()]
if bad:
    problems.append("log: lines that are not numbers: %r" % bad[:5])
nums = [int(x) for x in lines if x.isdigit()]
dups = sorted({x for x in nums if nums.count(x) > 1})
if dups:
    problems.append("log: lines applied more than once: %s" % dups[:20])
missing = sorted(set(log_ok) - set(nums))
if missing:
    problems.append("log: %d acknowledged lines missing: %s" % (len(missing), missing[:20]))
unknown = sorted(set(nums) - set(log_ok) - log_maybe)
if unknown:
    problems.append("log: lines never written: %s" % unknown[:20])
acked_order = [x for x in nums if x in set(log_ok)]
if acked_order != sorted(acked_order):
    problems.append("log: acknowledged lines out of order")
for p in problems:
    print(p)
EOF
}

# verify_on NAME...: verify the writer's directory on each node (after a sync).
verify_on() {
	local n out
	for n in "$@"; do
		node_sync "$n" || fail "sync on $n failed"
		out=$(verify "$(node_mount "$n")/fo" "$ACK")
		if [ -n "$out" ]; then
			printf '%s\n' "$out" >&2
			fail "on $n: acknowledged writes lost, or writes applied twice"
		fi
	done
}

ack_count() { local n; n=$(grep -c '^ok ' "$ACK" 2>/dev/null) || true; echo "${n:-0}"; }

ACK=$TEST_TMP/ack
STOP=$TEST_TMP/stop
: >"$ACK"
writer "$MW/fo" "$ACK" "$STOP" 2>"$TEST_TMP/writer.err" &
WRITER=$!
EXTRA_PIDS+=("$WRITER")
wait_for -t 20 eval '[ "$(ack_count)" -ge 200 ]'
say "kill -9 of the leader $OLD with $(ack_count) writes acknowledged"
T_KILL=$EPOCHREALTIME
node_kill9 "$OLD"

# first_ok_after T: the first acknowledgement of a write tried after T, as
# "SECONDS_AFTER_T LINE" (empty if none yet).
first_ok_after() {
	awk -v t="$1" '
		$1 == "try" && $5 > t { started[$2 " " $4] = 1 }
		$1 == "ok" && started[$2 " " $4] { printf "%.3f %s\n", $5 - t, $0; exit }' "$ACK"
}
wait_for -t $((FAILOVER_MAX + 10)) eval '[ -n "$(first_ok_after "$T_KILL")" ] || grep -q "^end " "$ACK"'
first=$(first_ok_after "$T_KILL")
[ -n "$first" ] || fail "the writer stopped without a successful write after the kill"
failover=${first%% *}
fails=$(awk -v t="$T_KILL" '$1 == "fail" && $5 > t' "$ACK" | grep -c . || true)
say "FAILOVER: first successful write on $W ${failover} s after kill -9 of the leader ($fails writes failed meanwhile)"
awk -v f="$failover" -v max="$FAILOVER_MAX" 'BEGIN { exit !(f <= max) }' ||
	fail "writes succeeded again only ${failover} s after the kill (bound ${FAILOVER_MAX} s)"
# a little more load under the new leader, then stop the writer
# shellcheck disable=SC2034 # used in the eval below
target=$(($(ack_count) + 200))
wait_for -t 20 eval '[ "$(ack_count)" -ge "$target" ] || grep -q "^end " "$ACK"'
touch "$STOP"
wait_exit "$WRITER" 30
[ "$EXIT_STATUS" != timeout ] || fail "the writer hangs"
grep -q '^end ' "$ACK" || fail "the writer did not finish"
say "the writer stopped: $(ack_count) writes acknowledged, $(grep -c '^fail ' "$ACK" || true) failed"
if grep -q '^fail ' "$ACK"; then
	say "errors seen by the writer: $(sort "$TEST_TMP/writer.err" | uniq -c | head -5 | tr '\n' ';')"
fi

say "every acknowledged write is on both survivors, none applied twice"
wait_leader "$W" "$S"
NEW=$LEADER
say "new leader: $NEW (id ${NODE_ID[$NEW]})"
assert_ne "$OLD" "$NEW" "new leader"
wait_same_tree "$W" "$S"
verify_on "$W" "$S"
# the survivors' view of the dead node
reachable_of_old() {
	members_json "$NEW" | python3 -c '
import json, sys
r = [m["reachable"] for m in json.load(sys.stdin) if m["id"] == int(sys.argv[1])][0]
print({True: "yes", False: "no", None: "unknown"}[r])' "${NODE_ID[$OLD]}"
}
end=$((SECONDS + 30)) # 100 tries, 10 s when the check is quick
for ((i = 0; i < 100 && SECONDS < end; i++)); do
	[ "$(reachable_of_old)" = no ] && break
	sleep 0.1
done
[ "$(reachable_of_old)" = no ] ||
	fail "the new leader's members --json does not show the killed node unreachable: $(members_json "$NEW")"

say "the killed node restarts with only --data and --mount and catches up"
mount_is_dead() { ! stat -c %i "$(node_mount "$OLD")" >/dev/null 2>&1; }
wait_for -t 10 mount_is_dead
node_restart "$OLD"
wait_same_tree "${ALL[@]}"
verify_on "$OLD"
assert_eq member "$(status_field "$OLD" phase)" "phase of the restarted node"
echo after-restart >"$(node_mount "$OLD")/fo/after-restart"
wait_same_tree "${ALL[@]}"
say "identical trees on all three: ${TREE_HASH:0:16}"

say "SIGTERM of the leader: leadership handed over, exit status 0"
wait_leader "${ALL[@]}"
L2=$LEADER
SURV=("${FOLLOWERS[@]}")
L2_PID=${NODE_PID[$L2]}
log_lines=$(wc -l <"$(node_log "$L2")")
new_leader_elsewhere() {
	local id
	id=$(leader_seen_by "${SURV[0]}")
	case $id in "" | 0 | "${NODE_ID[$L2]}") return 1 ;; esac
	[ "$(leader_seen_by "${SURV[1]}")" = "$id" ]
}
T_TERM=$EPOCHREALTIME
kill -TERM "$L2_PID"
wait_for -t 10 new_leader_elsewhere
T_NEW=$EPOCHREALTIME
echo after-term >"$(node_mount "${SURV[0]}")/fo/after-term" || fail "a write on ${SURV[0]} after SIGTERM of the leader failed"
T_WRITE=$EPOCHREALTIME
say "TRANSFER: new leader $(node_name_of "$(leader_seen_by "${SURV[0]}")") known on both survivors $(awk -v a="$T_TERM" -v b="$T_NEW" 'BEGIN { printf "%.3f", b - a }') s after SIGTERM; first write done after $(awk -v a="$T_TERM" -v b="$T_WRITE" 'BEGIN { printf "%.3f", b - a }') s"
wait_exit "$L2_PID" "$NODE_STOP_TIMEOUT"
assert_eq 0 "$EXIT_STATUS" "exit status of the leader after SIGTERM"
is_mounted "$(node_mount "$L2")" && fail "the stopped leader's mount is still in /proc/mounts"
tail -n +"$log_lines" "$(node_log "$L2")" | grep -q 'handed leadership over' ||
	fail "the leader did not hand leadership over on SIGTERM (no 'handed leadership over' in its log)"
wait_same_tree "${SURV[@]}"
node_restart "$L2"
wait_same_tree "${ALL[@]}"
assert_file_content "$(node_mount "$L2")/fo/after-term" $'after-term\n'
for n in "${ALL[@]}"; do
	node_stop "$n"
done
