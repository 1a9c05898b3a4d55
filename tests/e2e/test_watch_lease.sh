#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# clusterfs-watch `only-on = lease:NAME` (DESIGN §6, §4 leases/) on 3
# daemons, a watcher per node:
#  - the three watchers campaign for leases/cloud-peers; exactly one holds
#    it (holder=node-ID in the file) and only that node runs the rule;
#  - its watcher stops (SIGTERM releases the lease: ttl=0): another watcher
#    sees the lease file go (IN_DELETE), takes the lease and runs the rule
#    for the whole tree (it takes over);
#  - that one is killed with SIGKILL (no release): at expiry the leader
#    removes the lease file and the last watcher takes over.
# Needs the lease semantics of leases/ in the daemon (EBUSY for another
# holder, expiry by the leader): skipped (77) with a message on a daemon
# without them, where every watcher would "hold" the lease.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_inotify.sh"
source "$(dirname "$0")/lib_watch.sh"

T=$TEST_TMP
ALL=(n1 n2 n3)
TTL=6

iw_cluster3
wait_leader "${ALL[@]}"
M1=$(node_mount n1)
echo 'holder=probe-a ttl=30' >"$M1/leases/probe"
if echo 'holder=probe-b ttl=30' 2>/dev/null >"$M1/leases/probe"; then
	skip "this clusterfsd has no lease semantics in leases/ (a second holder was not refused with EBUSY)"
fi
echo 'holder=probe-a ttl=0' >"$M1/leases/probe"
# the release reaches this node's kernel like any removal: a moment later
wait_for test ! -e "$M1/leases/probe"
mkdir "$M1/fence"
cat >"$T/watch.conf" <<EOF
[rule cloud]
match     = peers/*
run       = record cloud {name}
only-on   = lease:cloud-peers
lease-ttl = ${TTL}s

[rule fence]
match = fence/*
run   = record fence {name}
EOF
echo 'address=10.0.0.1:443 type=cloud' >"$M1/peers/cloud-1"
iw_sync "${ALL[@]}"
for n in "${ALL[@]}"; do
	watch_start "$n" "$T/watch.conf"
done

fence() {
	local n
	echo "$1" >"$M1/fence/$1"
	for n in "${ALL[@]}"; do
		[ -n "${WATCH_PID[$n]:-}" ] && pid_alive "${WATCH_PID[$n]}" || continue
		wait_for -t 10 has_record "$n" "[\"fence\", \"$1\"]"
	done
}

# holder: the node name holding leases/cloud-peers (from the file).
HOLDER=""
lease_held() {
	local line id
	line=$(grep '^holder=' "$M1/leases/cloud-peers" 2>/dev/null) || return 1
	id=${line#holder=node-}
	HOLDER=$(node_name_of "$id")
	[ -n "$HOLDER" ]
}

# holders_running: how many watchers say they hold the lease now.
watchers_holding() {
	local n c=0
	for n in "${ALL[@]}"; do
		pid_alive "${WATCH_PID[$n]}" || continue
		[ "$(grep -c 'lease cloud-peers: held by this node' "$(watch_log "$n")")" -gt \
			"$(grep -c 'lease cloud-peers: \(lost\|released\)' "$(watch_log "$n")")" ] && c=$((c + 1))
	done
	echo "$c"
}

say "one watcher holds the lease, only it runs the rule"
wait_for -t 10 lease_held
first=$HOLDER
say "holder: $first"
fence f1
assert_eq 1 "$(watchers_holding)" "watchers that say they hold the lease"
for n in "${ALL[@]}"; do
	want=0
	[ "$n" = "$first" ] && want=1
	assert_eq "$want" "$(count_records "$n" '["cloud", "cloud-1"]')" "cloud records on $n"
done

say "the holder's watcher stops (releases): another takes over and runs the rule"
watch_stop "$first"
wait_for -t $((TTL + 5)) eval 'lease_held && [ "$HOLDER" != "$first" ]'
second=$HOLDER
say "new holder: $second"
wait_for -t 10 has_record "$second" '["cloud", "cloud-1"]'
echo 'address=10.0.0.2:443 type=cloud' >"$M1/peers/cloud-2"
fence f2
for n in "${ALL[@]}"; do
	want=0
	[ "$n" = "$second" ] && want=1
	assert_eq "$want" "$(count_records "$n" '["cloud", "cloud-2"]')" "cloud-2 records on $n"
done

say "the new holder's watcher is killed (no release): at expiry the last one takes over"
kill -KILL "${WATCH_PID[$second]}"
wait_exit "${WATCH_PID[$second]}" 5
for n in "${ALL[@]}"; do
	[ "$n" != "$first" ] && [ "$n" != "$second" ] && third=$n
done
wait_for -t $((TTL * 3 + 5)) eval 'lease_held && [ "$HOLDER" = "$third" ]'
wait_for -t 10 has_record "$third" '["cloud", "cloud-1"]'
wait_for -t 10 has_record "$third" '["cloud", "cloud-2"]'
watch_stop "$third"
