#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Node traffic is encrypted and authenticated (docs/security.md; issue 14).
# Part 1: a raw capture on lo of every byte of a 3-node cluster's ports while
# a marker is written into peers/ and into a plain file finds no marker (and
# the same capture of a cluster run with the benchmark-only plaintext switch
# does find it: the capture sees what crosses the wire).
# Part 2: node n2 lives in a network namespace of its own and reaches the
# others only through a relay in this test (mitm_relay.py); the relay flips
# one bit inside encrypted frames: the connection is dropped with a logged
# reason, and once it stops the cluster commits writes on every node again.
# Part 3: key rotation with no downtime: a new key as cluster.key.next
# everywhere, then promoted (the old one kept as cluster.key.prev), then the
# old one dropped, writes committing at every step; a restarted node and the
# join token use the new key; a node with only the old key is refused.
# shellcheck disable=SC2016
source "$(dirname "$0")/lib.sh"

command -v nsenter >/dev/null || skip "needs nsenter (util-linux)"
command -v ip >/dev/null || skip "needs ip (iproute2)"
HERE=$(dirname "$0")
MARKER="s3cr3t-marker-$$-$RANDOM"

# capture_start NAME PORT...: capture those ports' payloads on lo into
# $TEST_TMP/NAME.cap (bounded: 60 s at most).
capture_start() {
	local name=$1
	shift
	python3 "$HERE/capture.py" "$TEST_TMP/$name.cap" "$TEST_TMP/$name.stop" 60 "$@" \
		>"$TEST_TMP/$name.out" 2>&1 &
	EXTRA_PIDS+=($!)
	CAPTURE_PID=$!
	wait_for -t 10 grep -q ready "$TEST_TMP/$name.out"
}
capture_stop() {
	touch "$TEST_TMP/$1.stop"
	wait_exit "$CAPTURE_PID" 10
	[ "$EXIT_STATUS" = 0 ] || fail "capture $1: exit status $EXIT_STATUS: $(cat "$TEST_TMP/$1.out")"
	say "capture $1: $(tail -n 1 "$TEST_TMP/$1.out")"
}
# write_markers NODE...: the marker into peers/site-x and a plain file on
# the first node, synced on all.
write_markers() {
	local m
	m=$(node_mount "$1")
	echo "address=10.9.9.9:443 type=cloud oauth2.client_secret=$MARKER" >"$m/peers/site-x" ||
		fail "write peers/site-x"
	echo "plain $MARKER" >"$m/plain-$MARKER" || fail "write the plain file"
	for n in "$@"; do
		node_sync "$n" || fail "sync on $n"
		assert_file_content "$(node_mount "$n")/plain-$MARKER" "plain $MARKER"$'\n'
	done
}

say "part 1: control: a cluster with CFS_BENCH_PLAINTEXT=1 (benchmark only) shows the marker"
CFS_BENCH_PLAINTEXT=1 node_start p1
CFS_BENCH_PLAINTEXT=1 node_join p2 p1
wait_leader p1 p2
capture_start plain "${NODE_ADDR[p1]##*:}" "${NODE_ADDR[p2]##*:}"
write_markers p1 p2
capture_stop plain
grep -qa "$MARKER" "$TEST_TMP/plain.cap" || fail "the capture did not see the plaintext cluster's marker"
grep -q 'NOT encrypted' "$(node_log p1)" || fail "p1 did not warn that its traffic is not encrypted"
node_stop p2
node_stop p1

say "part 1: an encrypted cluster: the marker never crosses the wire"
node_start n1
node_join n3 n1
P1=${NODE_ADDR[n1]##*:} P3=${NODE_ADDR[n3]##*:}

say "part 2 set-up: n2 in a network namespace, reachable only through the relay"
NS=cfse2e-enc-$$
netns_add "$NS"
P2=$(free_port)
mkdir -p "$TEST_TMP/relay"
python3 "$HERE/mitm_relay.py" "$NS" "$TEST_TMP/relay" "$P2:$P2" -- "$P1" "$P3" \
	>"$TEST_TMP/relay/out" 2>&1 &
EXTRA_PIDS+=($!)
RELAY_PID=$!
wait_for -t 10 test -e "$TEST_TMP/relay/ready"
NODE_WRAP[n2]="nsenter --net=/run/netns/$NS"
NODE_ADDR[n2]=127.0.0.1:$P2
node_spawn n2 --mount "$(node_mount n2)" --data "$(node_data n2)" --address "127.0.0.1:$P2" \
	--join "127.0.0.1:$P1" --cluster-key "$(node_data n1)/cluster.key" --log-level debug
node_wait_ready n2
ALL=(n1 n2 n3)
wait_leader "${ALL[@]}"

capture_start enc "$P1" "$P2" "$P3"
write_markers n1 n1 n2 n3
write_markers n2 n1 n2 n3
capture_stop enc
bytes=$(stat -c %s "$TEST_TMP/enc.cap")
[ "$bytes" -gt 1000 ] || fail "the capture saw only $bytes bytes of node traffic"
if grep -qa "$MARKER" "$TEST_TMP/enc.cap"; then
	fail "the marker crossed the wire in plaintext"
fi
for word in site-x client_secret plain-; do
	if grep -qa "$word" "$TEST_TMP/enc.cap"; then
		fail "'$word' crossed the wire in plaintext"
	fi
done

# unix_streams PID: how many AF_UNIX stream sockets the process holds (a
# tunnel's socketpair; the remote-change notifier's is SOCK_SEQPACKET).
unix_streams() {
	local pid=$1 n=0 fd target inode inodes
	inodes=$(awk 'NR > 1 && $5 == "0001" {print $7}' "/proc/$pid/net/unix")
	for fd in /proc/"$pid"/fd/*; do
		target=$(readlink "$fd") || continue
		case $target in
		socket:\[*\])
			inode=${target#socket:[}
			inode=${inode%]}
			if grep -qx "$inode" <<<"$inodes"; then n=$((n + 1)); fi
			;;
		esac
	done
	echo "$n"
}
say "part 1: raft's messages are sealed straight onto TCP: no socketpair in any node"
for n in "${ALL[@]}"; do
	count=$(unix_streams "$(node_pid "$n")")
	# Each raft connection used to be one end of a socketpair, pumped by
	# the tunnel (2 sockets per connection, 8 per node here).
	[ "$count" = 0 ] || fail "$n holds $count Unix stream sockets (raft's messages through a socketpair?)"
done

say "part 2: the relay flips one bit inside a frame"
declare -A lines_before
for n in "${ALL[@]}"; do lines_before[$n]=$(wc -l <"$(node_log "$n")"); done
dropped_logged() {
	local n
	for n in "${ALL[@]}"; do
		tail -n +"${lines_before[$n]}" "$(node_log "$n")" |
			grep -E 'dropped the connection with .*: a frame (that failed authentication|with an impossible length)' &&
			return 0
	done
	return 1
}
touch "$TEST_TMP/relay/flip"
# traffic through the relay: writes on n2 go to the leader, raft goes back
for i in $(seq 1 20); do
	mount_timeout sh -c "echo during-$i > '$(node_mount n2)/flip-$i'" 2>/dev/null || true
	[ -s "$TEST_TMP/relay/flips" ] && break
done
wait_for -t 10 test -s "$TEST_TMP/relay/flips"
rm -f "$TEST_TMP/relay/flip"
say "relay: $(head -n 1 "$TEST_TMP/relay/flips") ($(wc -l <"$TEST_TMP/relay/flips") flip(s))"
wait_for -t 15 dropped_logged
say "logged: $(dropped_logged | head -n 1)"

say "part 2: the cluster recovers once the relay stops flipping"
wait_leader -t 30 "${ALL[@]}"
for n in "${ALL[@]}"; do
	echo "after-$n" >"$(node_mount "$n")/after-flip-$n" || fail "write on $n after the flips"
done
for n in "${ALL[@]}"; do
	node_sync "$n" || fail "sync on $n after the flips"
	for w in "${ALL[@]}"; do
		assert_file_content "$(node_mount "$n")/after-flip-$w" "after-$w"$'\n'
	done
done
wait_same_tree "${ALL[@]}"

say "part 3: key rotation, no downtime"
OLD_KEY=$TEST_TMP/old.key
cp "$(node_data n1)/cluster.key" "$OLD_KEY"
python3 -c 'import secrets; print(secrets.token_hex(32))' >"$TEST_TMP/new.key"
NEW_HEX=$(cat "$TEST_TMP/new.key")
step=0
# commit_everywhere: a write on each node commits (no downtime).
commit_everywhere() {
	local n
	step=$((step + 1))
	for n in "${ALL[@]}"; do
		echo "step $step" >"$(node_mount "$n")/rot-$step-$n" || fail "rotation step $step: a write on $n failed"
	done
	for n in "${ALL[@]}"; do node_sync "$n" || fail "rotation step $step: sync on $n failed"; done
}
# reconnect_all: restart n3 (new connections in both directions, each
# proving the key in use at this step).
reconnect_all() {
	node_stop n3
	node_restart n3
	wait_leader -t 30 "${ALL[@]}"
}
for n in "${ALL[@]}"; do install -m 0600 "$TEST_TMP/new.key" "$(node_data "$n")/cluster.key.next"; done
commit_everywhere
reconnect_all
commit_everywhere
for n in "${ALL[@]}"; do
	d=$(node_data "$n")
	cp -p "$d/cluster.key" "$d/cluster.key.prev"
	mv "$d/cluster.key.next" "$d/cluster.key"
	commit_everywhere # one node on the new key, the others not yet
done
reconnect_all
commit_everywhere
for n in "${ALL[@]}"; do rm "$(node_data "$n")/cluster.key.prev"; done
reconnect_all
commit_everywhere
token=$(ctl --mount "$(node_mount n1)" join-token)
case $token in cfs1:"$NEW_HEX"@*) ;; *) fail "the join token does not carry the new key: $token" ;; esac
grep -q 'cluster keys: now proving with cluster.key, accepting 2 keys' "$(node_log n1)" ||
	fail "n1 did not log the key change"

say "part 3: a node with only the old key is refused"
mkdir -p "$TEST_TMP/old"
rc=0
timeout -k 5 40 "$CLUSTERFSD" --mount "$TEST_TMP/old/m" --data "$TEST_TMP/old/d" \
	--address "127.0.0.1:$(free_port)" --join "127.0.0.1:$P1" --cluster-key "$OLD_KEY" \
	>"$TEST_TMP/old/out" 2>"$TEST_TMP/old/err" || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "a node with the old key: exit status $rc"
grep -qi 'key' "$TEST_TMP/old/err" || fail "the old-key error does not mention the key: $(cat "$TEST_TMP/old/err")"
wait_same_tree "${ALL[@]}"

touch "$TEST_TMP/relay/stop"
wait_exit "$RELAY_PID" 10
say "ok"
