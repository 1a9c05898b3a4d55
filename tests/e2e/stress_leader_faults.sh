#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Crash hunt (issue 12, part 3): drive the commit-timeout, ENOSPC and
# leadership-change paths of three daemons hard, for a bounded time, and
# fail if any daemon dies without being killed by this script or any
# sanitizer reports an error. Meant for a sanitizer build (docs/testing.md
# "Sanitizers"):
#
#   CLUSTERFSD=build-asan/clusterfsd CLUSTERFSCTL=build-asan/clusterfsctl \
#       STRESS_SECONDS=120 tests/e2e/stress_leader_faults.sh
#
# What runs at the same time, until STRESS_SECONDS (default 90) are up:
#   - one filler per node writes 1 MiB files into fill/ until the store
#     limit (256 MiB) refuses them with ENOSPC, then removes a few of its
#     oldest and goes on: the store stays near its limit;
#   - three lease campaigners, one per node, take, renew and release one
#     lease (leases/one, short ttl), so expiries and lease writes race;
#   - a nemesis that, every 2-5 s, picks the leader and either pauses it
#     (SIGSTOP) for longer than the commit timeout (2 s) — creates then get
#     ETIMEDOUT and another node takes over — or kills it (-9) and restarts
#     it; now and then it pauses a follower instead.
# Every client call through a mount runs under `timeout` (a paused daemon
# holds its clients). STRESS_SEED makes the nemesis's choices repeatable
# (the timing never is). At the end every node is resumed or restarted and
# must agree on one tree.
# Hashing three trees of 256 MiB through the mounts, and restarting a node
# of such a cluster, take a while under ASan.
MOUNT_CALL_TIMEOUT=${MOUNT_CALL_TIMEOUT:-120}
NODE_START_TIMEOUT=${NODE_START_TIMEOUT:-120}
source "$(dirname "$0")/lib.sh"

STRESS_SECONDS=${STRESS_SECONDS:-90}
# A daemon that outlives kill -9 (issue 12, part 1: a notifier thread stuck
# in the kernel) fails the run at its end, after its FUSE connection is
# aborted, so that the hunt goes on.
KILL9_CONTINUE=1
STRESS_SEED=${STRESS_SEED:-$RANDOM}
COMMIT_TIMEOUT=2
RANDOM=$STRESS_SEED
say "seed $STRESS_SEED, ${STRESS_SECONDS}s"

cluster_start 3 --commit-timeout "$COMMIT_TIMEOUT" --election-timeout 1000 --snapshot-threshold 32 \
	--snapshot-trailing 16 --log-level info
wait_leader "${CLUSTER[@]}"
mkdir "$(node_mount n1)/fill"
head -c 1048576 /dev/urandom >"$TEST_TMP/blob"
STOP=$TEST_TMP/stop
declare -A PAUSED=() # NAME -> 1 while SIGSTOPped by the nemesis
declare -A KILLED=() # NAME -> 1 between our kill -9 and its restart

# filler NAME: 1 MiB files until ENOSPC, then make room; counts outcomes.
filler() {
	local name=$1 m i=0 first=0 err out
	m=$(node_mount "$name")
	while [ ! -e "$STOP" ]; do
		out=$(timeout -k 5 20 dd if="$TEST_TMP/blob" of="$m/fill/$name-$i" bs=1M status=none 2>&1) &&
			err=ok || err=$out
		case $err in
		ok) i=$((i + 1)) ;;
		*"No space left"*)
			echo enospc
			for ((k = 0; k < 3 && first < i; k++, first++)); do
				timeout -k 5 20 rm -f "$m/fill/$name-$first" 2>/dev/null || true
			done
			;;
		*"timed out"*) echo etimedout ;;
		*"Read-only"*) echo erofs ;;
		*"not connected"* | *"No such file"*) echo enotconn; sleep 0.5 ;;
		*) echo "other: $err" ;;
		esac
		[ "$err" = ok ] && echo ok
	done >"$TEST_TMP/filler.$name"
}

# campaigner NAME: take, renew, release leases/one as holder c-NAME.
campaigner() {
	local name=$1 m j=0 ttl
	m=$(node_mount "$name")
	while [ ! -e "$STOP" ]; do
		j=$((j + 1))
		ttl=$((j % 7 == 0 ? 0 : 1 + j % 2))
		if timeout -k 5 10 bash -c "echo 'holder=c-$name ttl=$ttl' > '$m/leases/one'" 2>/dev/null; then
			echo "ok ttl=$ttl"
		else
			echo "refused"
		fi
		sleep 0.$((RANDOM % 5))
	done >"$TEST_TMP/campaigner.$name"
}

# The leader as a running, unpaused node sees it (empty if none).
current_leader() {
	local name id
	for name in "${CLUSTER[@]}"; do
		if [ -n "${PAUSED[$name]:-}" ] || [ -n "${KILLED[$name]:-}" ]; then continue; fi
		id=$(timeout 2 sed -n 's/^leader=//p' "$(node_mount "$name")/.cluster/status" 2>/dev/null) || continue
		case $id in "" | 0) continue ;; esac
		node_name_of "$id"
		return 0
	done
}

# A daemon that died without our kill -9 is the crash we hunt.
check_alive() {
	local name rc
	for name in "${CLUSTER[@]}"; do
		[ -z "${KILLED[$name]:-}" ] || continue
		pid_alive "${NODE_PID[$name]}" && continue
		rc=0
		wait "${NODE_PID[$name]}" 2>/dev/null || rc=$?
		say "--- log of node $name ---"
		tail -n 60 "$(node_log "$name")" >&2
		fail "node $name (pid ${NODE_PID[$name]}) died by itself with status $rc ($((rc > 128 ? rc - 128 : 0)) = signal if > 0); seed $STRESS_SEED"
	done
}

# Most of the store is filled before the faults start (a filler alone,
# under faults, fills slowly): STRESS_PREFILL_MIB (default 200) of the 256
# MiB, for at most STRESS_PREFILL_SECONDS (default 240; a slow machine then
# hunts with a less full store rather than not at all). A write may time
# out even so (an election, when a slow apply stalls a node's loop past the
# election timeout): it is tried again, a few times.
prefill=${STRESS_PREFILL_MIB:-200}
prefill_end=$((SECONDS + ${STRESS_PREFILL_SECONDS:-240}))
for ((i = 0; i < prefill && SECONDS < prefill_end; i++)); do
	for ((try = 1; ; try++)); do
		timeout -k 5 60 dd if="$TEST_TMP/blob" of="$(node_mount "$LEADER")/fill/pre-$i" bs=1M \
			status=none && break
		((try < 5)) || fail "prefill: 1 MiB write $i failed $try times"
		wait_leader "${CLUSTER[@]}"
	done
done
say "prefilled $i of ${prefill} MiB in $((SECONDS - prefill_end + ${STRESS_PREFILL_SECONDS:-240})) s; used, free: $(timeout 10 df -h --output=used,avail "$(node_mount "$LEADER")" | tail -n 1)"
for n in "${CLUSTER[@]}"; do
	filler "$n" &
	EXTRA_PIDS+=("$!")
	campaigner "$n" &
	EXTRA_PIDS+=("$!")
done

declare -A FAULTS=()
deadline=$((SECONDS + STRESS_SECONDS))
for ((round = 0; round < STRESS_SECONDS && SECONDS < deadline; round++)); do
	sleep $((2 + RANDOM % 4))
	check_alive
	victim=$(current_leader)
	action=$((RANDOM % 10))
	if [ -z "$victim" ]; then
		FAULTS[no-leader-seen]=$((${FAULTS[no-leader-seen]:-0} + 1))
		continue
	fi
	if [ "$action" -ge 8 ]; then # a follower instead
		for n in "${CLUSTER[@]}"; do
			[ "$n" != "$victim" ] && victim=$n && break
		done
		action=0
	fi
	if [ "$action" -lt 6 ]; then
		secs=$((COMMIT_TIMEOUT + 1 + RANDOM % 4))
		say "round $round: pause $victim for ${secs}s"
		PAUSED[$victim]=1
		kill -STOP "${NODE_PID[$victim]}"
		sleep "$secs"
		kill -CONT "${NODE_PID[$victim]}"
		unset "PAUSED[$victim]"
		FAULTS[pause]=$((${FAULTS[pause]:-0} + 1))
	else
		say "round $round: kill -9 leader $victim, restart it"
		KILLED[$victim]=1
		node_kill9 "$victim"
		sleep 1
		node_restart "$victim"
		unset "KILLED[$victim]"
		FAULTS[kill9]=$((${FAULTS[kill9]:-0} + 1))
	fi
done
touch "$STOP"
check_alive
say "faults: $(for k in "${!FAULTS[@]}"; do printf '%s=%s ' "$k" "${FAULTS[$k]}"; done)"
for n in "${CLUSTER[@]}"; do
	say "filler $n: $(sort "$TEST_TMP/filler.$n" | cut -c1-40 | uniq -c | tr '\n' ' ')"
	say "campaigner $n: $(sort "$TEST_TMP/campaigner.$n" | uniq -c | tr '\n' ' ')"
done
# The clients end within their timeouts once STOP exists.
for pid in "${EXTRA_PIDS[@]}"; do
	wait_exit "$pid" 60
	[ "$EXIT_STATUS" != timeout ] || fail "a client (pid $pid) did not stop 60 s after the run ended"
done
wait_leader -t 60 "${CLUSTER[@]}"
wait_same_tree -t 120 "${CLUSTER[@]}"
check_alive
say "stopping the nodes (a sanitizer's exit-time report would show now)"
for n in "${CLUSTER[@]}"; do
	node_stop "$n"
done
