#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The fault run (issue 12, DESIGN §3, §8): nothing acknowledged is lost,
# nothing is invented, and the cluster keeps serving, while a nemesis
# kills -9 and restarts, pauses (SIGSTOP/SIGCONT) and partitions nodes.
#
# N daemons (3; 5 with FAULTS_NODES=5), each in a network namespace this
# test creates, wired by veth pairs to a bridge in another one (as
# test_partition.sh does); a partition moves the cut-off nodes' cables to a
# bridge of their own. Clients (tests/faults/client.py, two per node) write
# whole files, append lines, create files and read, through the mount of
# their node, and record every operation (start, end, result, errno) as
# JSON lines. The nemesis follows a plan derived from the seed
# (tests/faults/nemesis.py): at most a minority faulted at a time, every
# fault healed by the end of the fault phase. Then: a short quiet phase
# (the cluster must serve again), identical trees on every node (path,
# type, mode, owner, content, mtime, revision), each node's state dumped,
# kill -9 of all nodes and a restart with only --data and --mount, the
# same trees and states again, a clean SIGTERM of every node (exit 0), a
# scan of the logs (sanitizers, segfaults), and the checker
# (tests/faults/checker.py) over the history. docs/testing.md tells more.
#
# Environment (defaults: the bounded run of `meson test`):
#   FAULTS_SEED=S          the seed (default: a new one, printed)
#   FAULTS_NODES=3         3 or 5
#   FAULTS_DURATION=90     seconds of faults
#   FAULTS_CLIENTS=2       clients per node
#   FAULTS_KINDS=kill,pause,partition
#   FAULTS_SETTLE=8        seconds of load after the last fault healed
#   FAULTS_THINK_MS=30     mean pause between a client's operations
#   FAULTS_DAEMON_FLAGS    extra flags for the first start of each daemon
#                          (default: frequent snapshots, so that restarted
#                          nodes also catch up by snapshot)
#   FAULTS_RESULTS=DIR     copy the report and summary of the run to DIR/seed-S,
#                          and its history and node logs (run.tar.gz)
#   E2E_KEEP=1             keep the run directory even if the run passed
# A failing run prints its seed and keeps its directory (history, plan,
# faults, node logs and data), whose path it prints.
# shellcheck disable=SC2016 # eval'ed conditions are quoted on purpose
source "$(dirname "$0")/../e2e/lib.sh"

FAULTS_DIR=$(cd "$(dirname "$0")" && pwd)
command -v nsenter >/dev/null || skip "needs nsenter (util-linux)"
command -v ip >/dev/null || skip "needs ip (iproute2)"

SEED=${FAULTS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
NODES=${FAULTS_NODES:-3}
DURATION=${FAULTS_DURATION:-90}
CLIENTS_PER_NODE=${FAULTS_CLIENTS:-2}
KINDS=${FAULTS_KINDS:-kill,pause,partition}
SETTLE=${FAULTS_SETTLE:-8}
THINK_MS=${FAULTS_THINK_MS:-30}
DAEMON_FLAGS=${FAULTS_DAEMON_FLAGS:---snapshot-threshold 256 --snapshot-trailing 128}
REGISTERS=5
LOGS=2
# A restart under load and faults may take a while; a hang is still caught.
NODE_START_TIMEOUT=${FAULTS_START_TIMEOUT:-60}
# kill -9 must end the daemon within 1 s (issue 12); 10 s is "stuck".
KILL9_SLOW_MS=1000
KILL9_STUCK_S=10
case $NODES in 3 | 5) ;; *) fail "FAULTS_NODES must be 3 or 5, not $NODES" ;; esac

RUN=$TEST_TMP/run
mkdir -p "$RUN/history" "$RUN/final"
say "seed $SEED: $NODES nodes, ${DURATION}s of faults ($KINDS), $CLIENTS_PER_NODE clients per node; run directory $RUN"

# --- the exit path: a failing run keeps everything and says how to rerun ------------------

declare -A NODE_STATE=() # NAME -> up, down (killed), paused, cut (partitioned)
declare -a CLIENT_PIDS=()
declare -a ALL_DAEMON_PIDS=()

faults_exit() {
	local rc=$? name
	set +e
	# a stopped daemon ignores SIGTERM until it is continued
	for name in "${!NODE_PID[@]}"; do
		kill -CONT "${NODE_PID[$name]}" 2>/dev/null
	done
	[ "$rc" -ne 0 ] || [ "${#CHECK_FAILURES[@]}" -eq 0 ] || rc=1
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		E2E_KEEP=1
		say "FAILED: seed $SEED ($NODES nodes, ${DURATION}s); history, plan, faults and node logs kept in $TEST_TMP"
		say "rerun: scripts/faults.sh -N $NODES -d $DURATION $SEED (or FAULTS_SEED=$SEED FAULTS_NODES=$NODES FAULTS_DURATION=$DURATION $0)"
		results_copy failed
	fi
	(exit "$rc")
	cleanup
}
trap faults_exit EXIT

results_copy() {
	local dir
	[ -n "${FAULTS_RESULTS:-}" ] || return 0
	dir=$FAULTS_RESULTS/seed-$SEED
	mkdir -p "$dir"
	cp "$RUN"/report.txt "$RUN"/summary.json "$RUN"/faults.jsonl "$RUN"/anomalies.jsonl "$RUN"/plan "$RUN"/logstats.txt "$dir"/ 2>/dev/null || true
	# the history and the node logs, for a look at anomalies of a run that passed
	(cd "$TEST_TMP" && tar czf "$dir/run.tar.gz" run n*/log) 2>/dev/null || true
	echo "$1 $TEST_TMP" >"$dir/status"
}

now_ns() { echo "${EPOCHREALTIME/./}000"; }

# anomaly KIND FATAL NODE DETAIL: what the driver saw go wrong, for the
# checker (fatal ones fail the run).
anomaly() {
	say "ANOMALY $1${3:+ on $3}: $4"
	python3 -c 'import json, sys
print(json.dumps({"kind": sys.argv[1], "fatal": sys.argv[2] == "1", "node": sys.argv[3], "detail": sys.argv[4]}))' \
		"$1" "$2" "$3" "$4" >>"$RUN/anomalies.jsonl"
}

# fault_event EVENT ID KIND TARGETS [DETAIL]: one line of faults.jsonl.
fault_event() {
	printf '{"real": %s, "event": "%s", "id": %s, "type": "%s", "targets": "%s", "detail": "%s"}\n' \
		"$(now_ns)" "$1" "$2" "$3" "$4" "${5:-}" >>"$RUN/faults.jsonl"
}

# --- the cluster: one network namespace per node -------------------------------------------

PORT=7440
PREFIX=cfsflt-$$
BR=$PREFIX-br
NET=10.232.0
if ! ip netns add "$BR" 2>"$TEST_TMP/netns.err"; then
	skip "cannot create network namespaces: $(cat "$TEST_TMP/netns.err")"
fi
NETNS_CREATED+=("$BR")
ip -n "$BR" link set lo up
ip -n "$BR" link add br0 type bridge
ip -n "$BR" link set br0 up
ALL=()
for ((i = 1; i <= NODES; i++)); do
	ns=$PREFIX-n$i
	netns_add "$ns"
	ip -n "$BR" link add "v$i" type veth peer name eth0 netns "$ns"
	ip -n "$BR" link set "v$i" master br0
	ip -n "$BR" link set "v$i" up
	ip -n "$ns" addr add "$NET.$i/24" dev eth0
	ip -n "$ns" link set eth0 up
	NODE_WRAP[n$i]="nsenter --net=/run/netns/$ns"
	ALL+=("n$i")
done

# start_in_ns I [FLAGS...]: node nI at $NET.I:$PORT in its namespace.
start_in_ns() {
	local i=$1
	shift
	NODE_ADDR[n$i]=$NET.$i:$PORT
	# shellcheck disable=SC2086 # DAEMON_FLAGS is a list of flags
	node_spawn "n$i" --mount "$(node_mount "n$i")" --data "$(node_data "n$i")" \
		--address "$NET.$i:$PORT" --log-level debug --max-voters "$NODES" $DAEMON_FLAGS "$@"
	ALL_DAEMON_PIDS+=("${NODE_PID[n$i]}")
	node_wait_ready "n$i"
	NODE_STATE[n$i]=up
}
start_in_ns 1
for ((i = 2; i <= NODES; i++)); do
	start_in_ns "$i" --join "$NET.1:$PORT" --cluster-key "$(node_data n1)/cluster.key"
done
wait_leader -t 30 "${ALL[@]}"
say "cluster of $NODES up, leader $LEADER"
python3 "$FAULTS_DIR/client.py" setup "$(node_mount n1)" --registers "$REGISTERS" --logs "$LOGS" ||
	fail "could not create the workload's files"
wait_same_tree -t 30 "${ALL[@]}"

python3 "$FAULTS_DIR/nemesis.py" --seed "$SEED" --nodes "$NODES" --duration "$DURATION" --kinds "$KINDS" >"$RUN/plan" ||
	fail "nemesis.py could not make a plan"
python3 - "$RUN/meta.json" "$SEED" "$NODES" "$DURATION" "$KINDS" "$CLIENTS_PER_NODE" "$REGISTERS" "$LOGS" "$DAEMON_FLAGS" <<'EOF'
import json, sys
out, seed, nodes, duration, kinds, cpn, regs, logs, flags = sys.argv[1:]
json.dump({"seed": seed, "nodes": int(nodes), "duration": float(duration), "kinds": kinds,
           "clients_per_node": int(cpn), "daemon_flags": flags,
           "registers": {"r/k%d" % i: "init" for i in range(int(regs))},
           "logs": ["a/log%d" % i for i in range(int(logs))]}, open(out, "w"), indent=1)
EOF

# --- the nemesis's faults ----------------------------------------------------------------------

cable() { echo "v${1#n}"; }

# kill9 NAME: kill -9; the daemon must be gone at once. One still there
# after KILL9_STUCK_S (issue 12, part 1: a thread stuck in the kernel on its
# own mount) is an anomaly: its FUSE connection is aborted so that it dies.
kill9() {
	local name=$1 pid=${NODE_PID[$1]} t0 ms stuck
	t0=$EPOCHREALTIME
	kill -KILL "$pid" 2>/dev/null || true
	# (bash's "Killed" job notice says nothing here)
	wait_exit "$pid" "$KILL9_STUCK_S" 2>/dev/null
	ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
	if [ "$EXIT_STATUS" = timeout ]; then
		stuck=$(pid_stuck_threads "$pid")
		fuse_abort "${NODE_FUSE[$name]:-}"
		wait_exit "$pid" 10
		[ "$EXIT_STATUS" != timeout ] || fail "node $name (pid $pid) survives kill -9 even after its FUSE connection was aborted: $(pid_stuck_threads "$pid")"
		anomaly kill9-stuck 0 "$name" "pid $pid still ran ${KILL9_STUCK_S}s after kill -9, until its FUSE connection was aborted (issue 12 part 1): $stuck"
	elif [ "$EXIT_STATUS" != 137 ]; then
		anomaly exit-status 1 "$name" "pid $pid exited with status $EXIT_STATUS at kill -9 (expected 137: it had died before?)"
	elif ((ms > KILL9_SLOW_MS)); then
		anomaly kill9-slow 0 "$name" "pid $pid took $ms ms to die after kill -9"
	fi
	NODE_STATE[$name]=down
}

mount_is_dead() { ! timeout -s KILL 5 stat -c %i "$(node_mount "$1")" >/dev/null 2>&1; }

# restart NAME: with only --data and --mount (DESIGN §2), once the kernel
# knows the old mount is dead.
restart() {
	local name=$1
	wait_for -t 15 mount_is_dead "$name"
	node_spawn "$name" --mount "$(node_mount "$name")" --data "$(node_data "$name")"
	ALL_DAEMON_PIDS+=("${NODE_PID[$name]}")
	node_wait_ready "$name"
	NODE_STATE[$name]=up
}

# the leader as the nodes that are not faulted see it (most votes), or empty
current_leader() {
	local name id
	declare -A votes=()
	for name in "${ALL[@]}"; do
		[ "${NODE_STATE[$name]}" = up ] || continue
		id=$(timeout -s KILL 5 sed -n 's/^leader=//p' "$(node_mount "$name")/.cluster/status" 2>/dev/null) || continue
		case $id in "" | 0) continue ;; esac
		votes[$id]=$((${votes[$id]:-0} + 1))
	done
	local best="" n=0
	for id in "${!votes[@]}"; do
		if ((votes[$id] > n)); then
			best=$id
			n=${votes[$id]}
		fi
	done
	[ -n "$best" ] && node_name_of "$best"
	return 0
}

declare -A FAULT_NODES=() # fault id -> the nodes it hit
fault_start() {
	local id=$1 kind=$2 targets=$3 fallback=$4 name lead=""
	local -a nodes=()
	if [ "$targets" = @leader ]; then
		lead=$(current_leader)
		if [ -n "$lead" ] && [ "${NODE_STATE[$lead]}" = up ]; then
			nodes=("$lead")
		elif [ "${NODE_STATE[$fallback]}" = up ]; then
			nodes=("$fallback")
		else
			fault_event skip "$id" "$kind" "$targets" "no leader and $fallback is faulted"
			return 0
		fi
	else
		IFS=, read -r -a nodes <<<"$targets"
		for name in "${nodes[@]}"; do
			if [ "${NODE_STATE[$name]}" != up ]; then
				fault_event skip "$id" "$kind" "$targets" "$name is ${NODE_STATE[$name]}"
				return 0
			fi
		done
	fi
	FAULT_NODES[$id]="${nodes[*]}"
	say "fault $id: $kind ${nodes[*]}${lead:+ (the leader)}"
	fault_event start "$id" "$kind" "${nodes[*]}" "${lead:+leader}"
	case $kind in
	kill)
		for name in "${nodes[@]}"; do kill9 "$name"; done
		;;
	pause)
		for name in "${nodes[@]}"; do
			kill -STOP "${NODE_PID[$name]}"
			NODE_STATE[$name]=paused
		done
		;;
	partition)
		ip -n "$BR" link add "br$id" type bridge
		ip -n "$BR" link set "br$id" up
		for name in "${nodes[@]}"; do
			ip -n "$BR" link set "$(cable "$name")" master "br$id"
			NODE_STATE[$name]="cut"
		done
		;;
	esac
}

fault_stop() {
	local id=$1 kind=$2 name
	local -a nodes=()
	[ -n "${FAULT_NODES[$id]:-}" ] || return 0 # skipped
	read -r -a nodes <<<"${FAULT_NODES[$id]}"
	unset "FAULT_NODES[$id]"
	case $kind in
	kill)
		for name in "${nodes[@]}"; do restart "$name"; done
		;;
	pause)
		for name in "${nodes[@]}"; do
			kill -CONT "${NODE_PID[$name]}"
			NODE_STATE[$name]=up
		done
		;;
	partition)
		for name in "${nodes[@]}"; do
			ip -n "$BR" link set "$(cable "$name")" master br0
			NODE_STATE[$name]=up
		done
		ip -n "$BR" link delete "br$id"
		;;
	esac
	fault_event stop "$id" "$kind" "${nodes[*]}"
	say "fault $id: $kind ${nodes[*]} healed"
}

# check_daemons: a daemon that should run and does not has crashed; it is
# recorded and restarted so that the run goes on.
check_daemons() {
	local name pid
	for name in "${ALL[@]}"; do
		[ "${NODE_STATE[$name]}" != down ] || continue
		pid=${NODE_PID[$name]}
		pid_alive "$pid" && continue
		wait_exit "$pid" 5
		anomaly crash 1 "$name" "pid $pid exited with status $EXIT_STATUS while ${NODE_STATE[$name]}; last lines of its log: $(tail -n 5 "$(node_log "$name")" | tr '\n' '|')"
		NODE_STATE[$name]=down
		restart "$name"
	done
}

# sleep_until T: sleep until T seconds after T_FAULTS, watching the daemons.
sleep_until() {
	local until=$1
	while awk -v s="$T_FAULTS" -v n="$EPOCHREALTIME" -v u="$until" 'BEGIN { exit !(n - s < u) }'; do
		check_daemons
		sleep 0.1
	done
}

# --- clients ----------------------------------------------------------------------------------

STOP=$RUN/stop
declare -A CLIENT_NODE=()
cid=0
for ((c = 0; c < CLIENTS_PER_NODE; c++)); do
	for name in "${ALL[@]}"; do
		cid=$((cid + 1))
		python3 "$FAULTS_DIR/client.py" run --id "$cid" --node "$name" --mount "$(node_mount "$name")" \
			--out "$RUN/history/c$cid.jsonl" --seed "$SEED" --stop "$STOP" \
			--duration $((DURATION + SETTLE + 300)) --think "$THINK_MS" \
			--registers "$REGISTERS" --logs "$LOGS" 2>"$RUN/history/c$cid.err" &
		CLIENT_PIDS+=($!)
		CLIENT_NODE[$!]=$name
		EXTRA_PIDS+=($!)
	done
done
say "$cid clients started"

# --- the fault phase ----------------------------------------------------------------------------

T_FAULTS=$EPOCHREALTIME
mapfile -t PLAN <"$RUN/plan"
say "fault phase: ${#PLAN[@]} events planned over ${DURATION}s"
for line in "${PLAN[@]}"; do
	read -r at ev id kind targets fallback <<<"$line"
	sleep_until "$at"
	case $ev in
	start) fault_start "$id" "$kind" "$targets" "$fallback" ;;
	stop) fault_stop "$id" "$kind" ;;
	esac
done
sleep_until "$DURATION"
for name in "${ALL[@]}"; do
	[ "${NODE_STATE[$name]}" = up ] || fail "node $name is still ${NODE_STATE[$name]} after the plan (a plan that does not heal)"
done
say "all faults healed; ${SETTLE}s of load on a healthy cluster"
wait_leader -t 30 "${ALL[@]}"
T_HEALED=$EPOCHREALTIME
sleep_until "$(awk -v s="$T_FAULTS" -v h="$T_HEALED" -v d="$SETTLE" 'BEGIN { printf "%.2f", h - s + d }')"

# every client stops; one that does not within 30 s is stuck in a system call
touch "$STOP"
for pid in "${CLIENT_PIDS[@]}"; do
	wait_exit "$pid" 30
	if [ "$EXIT_STATUS" = timeout ]; then
		anomaly client-hung 1 "${CLIENT_NODE[$pid]}" "client pid $pid still in a system call 30 s after the stop: $(pid_stuck_threads "$pid")"
		kill -KILL "$pid" 2>/dev/null
		wait_exit "$pid" 10
		if [ "$EXIT_STATUS" = timeout ]; then
			fuse_abort "${NODE_FUSE[${CLIENT_NODE[$pid]}]:-}"
			wait_exit "$pid" 10
		fi
	elif [ "$EXIT_STATUS" != 0 ]; then
		anomaly client-error 1 "${CLIENT_NODE[$pid]}" "client pid $pid exited with status $EXIT_STATUS: $(tail -n 3 "$RUN/history/"*.err | tr '\n' '|')"
	fi
done
say "clients stopped: $(cat "$RUN"/history/*.jsonl | grep -c '"end"' || true) operations ended"

# --- the end state -------------------------------------------------------------------------------

# dump STAGE: every node's state of the workload's files, for the checker
dump() {
	local stage=$1 name
	mkdir -p "$RUN/final/$stage"
	for name in "${ALL[@]}"; do
		node_sync "$name" >/dev/null 2>&1 || true
		python3 "$FAULTS_DIR/client.py" dump "$(node_mount "$name")" >"$RUN/final/$stage/$name.json" ||
			anomaly dump-failed 1 "$name" "could not read the workload's files at $stage"
	done
}

# same_trees STAGE: wait_same_tree, recorded for the checker if it fails
same_trees() {
	local before=${#CHECK_FAILURES[@]}
	check wait_same_tree -t 60 "${ALL[@]}"
	if [ "${#CHECK_FAILURES[@]}" -gt "$before" ]; then
		anomaly divergence 1 "" "the nodes' trees still differ 60 s after $1 (the diff is above)"
	fi
}

say "every node ends with the same tree"
same_trees "the faults"
cp "$TEST_TMP/tree.n1" "$RUN/tree.after-faults"
dump 1-after-faults

say "kill -9 of every node, then a restart with only --data and --mount"
for name in "${ALL[@]}"; do
	kill -KILL "${NODE_PID[$name]}" 2>/dev/null || true
done
for name in "${ALL[@]}"; do
	kill9 "$name" # already killed: collects it, deals with a stuck one
done
for name in "${ALL[@]}"; do
	wait_for -t 15 mount_is_dead "$name"
	node_spawn "$name" --mount "$(node_mount "$name")" --data "$(node_data "$name")"
	ALL_DAEMON_PIDS+=("${NODE_PID[$name]}")
done
for name in "${ALL[@]}"; do
	node_wait_ready "$name"
	NODE_STATE[$name]=up
done
same_trees "the restart"
cp "$TEST_TMP/tree.n1" "$RUN/tree.after-restart"
if ! cmp -s "$RUN/tree.after-faults" "$RUN/tree.after-restart"; then
	anomaly tree-changed 1 "" "the tree after kill -9 of all nodes and a restart differs from the one before: $(diff "$RUN/tree.after-faults" "$RUN/tree.after-restart" | head -n 6 | tr '\n' '|')"
fi
dump 2-after-restart

say "SIGTERM: every node exits 0"
for name in "${ALL[@]}"; do
	kill -TERM "${NODE_PID[$name]}"
done
for name in "${ALL[@]}"; do
	wait_exit "${NODE_PID[$name]}" "$NODE_STOP_TIMEOUT"
	if [ "$EXIT_STATUS" = timeout ]; then
		anomaly hung-at-stop 1 "$name" "pid ${NODE_PID[$name]} did not exit ${NODE_STOP_TIMEOUT}s after SIGTERM: $(pid_stuck_threads "${NODE_PID[$name]}")"
	elif [ "$EXIT_STATUS" != 0 ]; then
		anomaly exit-status 1 "$name" "pid ${NODE_PID[$name]} exited with status $EXIT_STATUS after SIGTERM"
	fi
	NODE_STATE[$name]=down
done

# --- logs: sanitizers, crashes ----------------------------------------------------------------------

CRASH_RE='AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|Segmentation fault|SIGSEGV|SIGABRT|SIGBUS|Assertion .* failed|double free|corrupted size|stack smashing'
for name in "${ALL[@]}"; do
	if grep -qE "$CRASH_RE" "$(node_log "$name")"; then
		anomaly crash-in-log 1 "$name" "$(grep -nE "$CRASH_RE" "$(node_log "$name")" | head -n 3 | tr '\n' '|')"
	fi
done
for name in "${ALL[@]}"; do
	awk -v n="$name" '
		/ error: / { e++ } / warn: / { w++ }
		/event loop stalled [0-9]+ ms/ { for (i = 1; i < NF; i++) if ($i == "stalled" && $(i + 1) > s) s = $(i + 1) }
		/^=== / { starts++ }
		END { printf "%s: %d starts, %d warnings, %d errors, longest event-loop stall %d ms\n", n, starts, w, e, s }' \
		"$(node_log "$name")"
done >"$RUN/logstats.txt"
say "node logs: $(tr '\n' ';' <"$RUN/logstats.txt")"
if dmesg >/dev/null 2>&1; then
	daemon_pids=$(IFS="|"; echo "${ALL_DAEMON_PIDS[*]}")
	if dmesg | grep -E "clusterfsd\[($daemon_pids)\]" >"$RUN/dmesg" 2>/dev/null; then
		anomaly kernel-report 1 "" "$(head -n 3 "$RUN/dmesg" | tr '\n' '|')"
	fi
fi

# --- the checker -------------------------------------------------------------------------------------

rc=0
python3 "$FAULTS_DIR/checker.py" "$RUN" --json "$RUN/summary.json" >"$RUN/report.txt" || rc=$?
cat "$RUN/report.txt" >&2
python3 - "$RUN" "$SEED" <<'EOF' >&2 || true
import json, sys
run, seed = sys.argv[1:]
s = json.load(open(run + "/summary.json"))
st = s["stats"]
print("faults: seed %s: %d operations, faults %s, %d violations, %d anomalies (%s)" % (
    seed, st["operations"], st["faults"], len(s["violations"]), len(s["anomalies"]),
    ", ".join(sorted({a["kind"] for a in s["anomalies"]})) or "none"))
EOF
case $rc in
0) ;;
1) fail "the checker found violations (seed $SEED)" ;;
*) fail "the checker could not run (status $rc)" ;;
esac
results_copy passed
