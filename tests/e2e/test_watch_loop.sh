#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The loop test of issue 6: Sunbeam's two-way feature-gate sync, built from
# examples/snap/watch.conf and examples/snap/configure, converges with no
# sleep-based loop breaker. 3 daemons, a watcher per node, a fake snapctl
# whose set/unset runs the example configure hook (which writes into the
# mount), as snapd would:
#  - the snaps of the three nodes start from different values (an operator's
#    `snap set` on each node, in turn, while no watcher runs: each hook
#    pushes its node's value into the mount); the watchers start; every
#    node's snap ends with the value written last, the mount is not written
#    again, and then nothing happens any more (calls counted);
#  - operators on the three nodes set conflicting values at the same time
#    while the watchers run: every snap and every mount end up with one
#    value, the same everywhere, with a bounded number of calls and writes,
#    and then quiet; a later set on one node wins everywhere;
#  - an operator's unset on one node removes the gate from the cluster and
#    from every snap;
#  - the hook pushes nothing while the node's .cluster/status says
#    phase=joining.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_inotify.sh"
source "$(dirname "$0")/lib_watch.sh"

T=$TEST_TMP
ALL=(n1 n2 n3)
CONF=$EXAMPLES/snap/watch.conf
G=gates/feature.loop

iw_cluster3
wait_leader "${ALL[@]}"
for n in "${ALL[@]}"; do
	mkdir -p "$(snap_dir "$n")"
done

# converged KEY: the gate file has one value on every node (after a sync)
# and every node's snap option KEY and its record clusterfs.KEY hold it
# ("absent" everywhere counts too).
converged() {
	local key=$1 n want="" got
	for n in "${ALL[@]}"; do
		node_sync "$n" >/dev/null || return 1
		if [ -e "$(node_mount "$n")/gates/$key" ]; then
			got=$(cat "$(node_mount "$n")/gates/$key") || return 1
		else
			got=absent
		fi
		[ -z "$want" ] && want=$got
		[ "$got" = "$want" ] || return 1
		[ "$(snap_option "$n" "$key")" = "$want" ] || return 1
		[ "$(snap_option "$n" "clusterfs.$key")" = "$want" ] || return 1
	done
	CONVERGED_VALUE=$want
}

# activity: one line summing up everything that could still move: the
# watchers' snapctl calls per node, the hooks' runs, the changes of the
# gates in .cluster/log.
activity() {
	local n
	for n in "${ALL[@]}"; do
		printf '%s:%s:%s ' "$n" "$(calls "$n" watch | wc -l)" "$(calls "$n" hook | wc -l)"
	done
	printf 'log:%s\n' "$(grep -c ' gates/' "$(node_mount n1)/.cluster/log")"
}

# quiet SECONDS: nothing moves for that long (a window of observation, not
# a loop breaker: the system under test has no timer of its own).
quiet() {
	local before after
	before=$(activity)
	sleep "$1"
	after=$(activity)
	assert_eq "$before" "$after" "activity over ${1}s once converged (no ping-pong)"
}

say "different values on different nodes, pushed by each node's hook in turn (no watcher yet)"
operator_snapctl n1 set openstack feature.loop=true feature.from1=true
operator_snapctl n2 set openstack feature.loop=false
operator_snapctl n3 set openstack feature.loop=true feature.from3=false
iw_sync "${ALL[@]}"
assert_file_content "$(node_mount n2)/$G" $'true\n'
assert_eq false "$(snap_option n2 feature.loop)" "n2's snap before the watchers"
assert_eq 3 "$(log_writes n1 "$G")" "writes of $G by the three hooks"

say "watchers start: everything converges to the last written value, then goes quiet"
for n in "${ALL[@]}"; do
	watch_start "$n" "$CONF"
done
wait_for -t 20 converged feature.loop
assert_eq true "$CONVERGED_VALUE" "converged value of feature.loop (n3's, written last)"
wait_for -t 20 converged feature.from1
wait_for -t 20 converged feature.from3
assert_eq false "$CONVERGED_VALUE" "converged value of feature.from3"
quiet 2
assert_eq 3 "$(log_writes n1 "$G")" "writes of $G (the watchers' sets pushed nothing back)"
for n in "${ALL[@]}"; do
	c=$(calls "$n" watch | wc -l)
	[ "$c" -le 3 ] || fail "$n's watcher made $c snapctl calls for 3 gates: $(calls "$n" watch)"
done
say "activity: $(activity)"

say "conflicting operator sets on the three nodes at once, watchers running"
writes_before=$(log_writes n1 "$G")
declare -a ops=()
operator_snapctl n1 set openstack feature.loop=false &
ops+=("$!")
operator_snapctl n2 set openstack feature.loop=true &
ops+=("$!")
operator_snapctl n3 set openstack feature.loop=false &
ops+=("$!")
for p in "${ops[@]}"; do
	wait_child "$p" 60 "an operator's snapctl set" || fail "an operator's snapctl set failed"
done
wait_for -t 30 converged feature.loop
say "converged to $CONVERGED_VALUE: $(activity)"
quiet 2
writes=$(($(log_writes n1 "$G") - writes_before))
[ "$writes" -le 6 ] || fail "$writes writes of $G for 3 operator sets (ping-pong?)"
for n in "${ALL[@]}"; do
	c=$(calls "$n" watch | grep -c 'feature.loop' || true)
	[ "$c" -le 10 ] || fail "$n's watcher made $c snapctl calls for feature.loop (ping-pong?)"
done

say "a later set on one node wins everywhere"
if [ "$CONVERGED_VALUE" = true ]; then next=false; else next=true; fi
operator_snapctl n2 set openstack "feature.loop=$next"
wait_for -t 20 converged feature.loop
assert_eq "$next" "$CONVERGED_VALUE" "feature.loop after n2's set"
quiet 1

say "an operator's unset on node 3 removes the gate everywhere"
operator_snapctl n3 unset openstack feature.from1
wait_for -t 20 converged feature.from1
assert_eq absent "$CONVERGED_VALUE" "feature.from1 after the unset"
for n in "${ALL[@]}"; do
	wait_for has_call "$n" '["unset", "openstack", "feature.from1", "clusterfs.feature.from1"]'
done
quiet 1

say "the hook pushes nothing while the node is joining"
F=$T/fake-mount
mkdir -p "$F/.cluster" "$F/gates" "$T/hooksnap"
printf 'state=follower\nphase=joining\n' >"$F/.cluster/status"
PATH="$WATCH_BIN:$PATH" FAKE_SNAP_DIR=$T/hooksnap FAKE_SNAP_HOOK="$EXAMPLES/snap/configure" \
	CLUSTERFS_MOUNT=$F "$WATCH_BIN/snapctl" set openstack feature.j=true
assert_not_exists "$F/gates/feature.j"
printf 'state=follower\nphase=member\n' >"$F/.cluster/status"
PATH="$WATCH_BIN:$PATH" FAKE_SNAP_DIR=$T/hooksnap FAKE_SNAP_HOOK="$EXAMPLES/snap/configure" \
	CLUSTERFS_MOUNT=$F "$WATCH_BIN/snapctl" set openstack feature.k=false
assert_file_content "$F/gates/feature.j" $'true\n'
assert_file_content "$F/gates/feature.k" $'false\n'

for n in "${ALL[@]}"; do
	watch_stop "$n"
done
