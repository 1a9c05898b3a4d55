#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Three nodes on 127.0.0.1 (DESIGN §2, §3, §7; issue 3): joins with --join +
# --cluster-key and with --join-token; replication both ways; every kind of
# write made on a follower (echo, mkdir, mv, ln -s, ln, chmod, chown,
# setfattr, rm, rmdir, >>) visible on every node after a sync;
# read-your-writes on the follower that wrote; a refused gate value on a
# follower fails the write and changes nothing anywhere; 1000 writes spread
# over the three nodes, partly concurrent, leave identical trees everywhere
# and no append lost; .cluster/members and `members --json`; a node with
# another cluster's key is refused with a clear message and changes nothing.
# shellcheck disable=SC2016 # bash -c scripts take their values as "$1"...
source "$(dirname "$0")/lib.sh"

say "n1 bootstraps, n2 joins with --join and --cluster-key, n3 with --join-token"
node_start n1
M1=$(node_mount n1)
assert_eq 400 "$(stat -c %a "$M1/.cluster/join-token")" "mode of .cluster/join-token"
node_join n2 n1
token=$(ctl --mount "$M1" join-token)
assert_eq 1 "$(printf '%s\n' "$token" | grep -c .)" "lines in the join token"
node_start n3 --join-token "$token"
ALL=(n1 n2 n3)
wait_leader "${ALL[@]}"
L=$LEADER F1=${FOLLOWERS[0]} F2=${FOLLOWERS[1]}
ML=$(node_mount "$L") MF1=$(node_mount "$F1") MF2=$(node_mount "$F2")
say "leader $L (id ${NODE_ID[$L]}), followers $F1 (id ${NODE_ID[$F1]}) and $F2 (id ${NODE_ID[$F2]})"
ids="${NODE_ID[n1]} ${NODE_ID[n2]} ${NODE_ID[n3]}"
assert_eq 3 "$(tr ' ' '\n' <<<"$ids" | sort -u | grep -c .)" "distinct node ids ($ids)"
for n in "${ALL[@]}"; do
	assert_eq member "$(status_field "$n" phase)" "phase of $n"
	assert_eq voter "$(status_field "$n" role)" "role of $n"
done

# on_all CHECK ARGS...: CHECK with MOUNT replaced by each node's mount, after
# a sync on that node.
on_all() {
	local n args
	for n in "${ALL[@]}"; do
		node_sync "$n" || fail "clusterfsctl sync on $n failed"
		args=("${@//MOUNT/$(node_mount "$n")}")
		"${args[@]}"
	done
}

say "replication both ways: leader -> followers, follower -> leader and the other follower"
mkdir "$ML/both"
echo from-leader >"$ML/both/a"
on_all assert_file_content MOUNT/both/a $'from-leader\n'
echo from-follower >"$MF1/both/b"
# read-your-writes on the follower that wrote, without any sync
assert_file_content "$MF1/both/b" $'from-follower\n'
on_all assert_file_content MOUNT/both/b $'from-follower\n'
echo overwritten-on-f2 >"$MF2/both/a"
assert_file_content "$MF2/both/a" $'overwritten-on-f2\n'
on_all assert_file_content MOUNT/both/a $'overwritten-on-f2\n'

say "follower writes with shell tools: mkdir, echo, mv, ln -s, ln, chmod, chown, setfattr, >>, rm, rmdir"
(
	cd "$MF1"
	mkdir -p app/conf app/gone
	echo 'port=80' >app/conf/web
	mv app/conf/web app/conf/web.conf
	ln -s web.conf app/conf/current
	ln app/conf/web.conf app/conf/hard
	chmod 640 app/conf/web.conf
	chown 1000:1001 app/conf/web.conf
	setfattr -n user.owner -v team-a app/conf/web.conf
	echo 'tls=on' >>app/conf/web.conf
	echo temporary >app/tmp
	rm app/tmp
	rmdir app/gone
	mkdir -m 700 app/private
	ln -s v1 routing/current.new
	mv -T routing/current.new routing/current
) || fail "a shell command on follower $F1 failed"
# read-your-writes on F1 for each of them, before any sync
assert_file_content "$MF1/app/conf/web.conf" $'port=80\ntls=on\n'
assert_eq "web.conf" "$(readlink "$MF1/app/conf/current")" "symlink on $F1"
check_tree() {
	local m=$1
	assert_not_exists "$m/app/conf/web"
	assert_file_content "$m/app/conf/web.conf" $'port=80\ntls=on\n'
	assert_file_content "$m/app/conf/current" $'port=80\ntls=on\n'
	assert_eq "web.conf" "$(readlink "$m/app/conf/current")" "readlink $m/app/conf/current"
	assert_eq "640 1000 1001 2" "$(stat -c '%a %u %g %h' "$m/app/conf/web.conf")" "mode, owner, links of $m/app/conf/web.conf"
	assert_eq "$(stat -c %i "$m/app/conf/web.conf")" "$(stat -c %i "$m/app/conf/hard")" "hard link inode on $m"
	assert_eq team-a "$(getfattr --absolute-names --only-values -n user.owner "$m/app/conf/web.conf")" "xattr user.owner on $m"
	assert_not_exists "$m/app/tmp"
	assert_not_exists "$m/app/gone"
	assert_eq "directory 700" "$(stat -c '%F %a' "$m/app/private")" "app/private on $m"
	assert_eq v1 "$(readlink "$m/routing/current")" "routing/current on $m"
	assert_not_exists "$m/routing/current.new"
}
on_all check_tree MOUNT

say "the other follower changes what the first one made: mv, rm, chmod, setfattr -x"
(
	cd "$MF2"
	mv app/conf/hard app/hard2
	chmod 600 app/conf/web.conf
	setfattr -x user.owner app/conf/web.conf
	rm app/conf/current
	echo 'from f2' >app/f2
) || fail "a shell command on follower $F2 failed"
check_tree2() {
	local m=$1
	assert_not_exists "$m/app/conf/hard"
	assert_not_exists "$m/app/conf/current"
	assert_file_content "$m/app/hard2" $'port=80\ntls=on\n'
	assert_eq 600 "$(stat -c %a "$m/app/conf/web.conf")" "mode of $m/app/conf/web.conf"
	if getfattr --absolute-names -n user.owner "$m/app/conf/web.conf" >/dev/null 2>&1; then
		fail "user.owner still set on $m/app/conf/web.conf"
	fi
	assert_file_content "$m/app/f2" $'from f2\n'
}
on_all check_tree2 MOUNT
wait_same_tree "${ALL[@]}"
say "tree hash on all nodes: ${TREE_HASH:0:16}"

say "a gate value the gate refuses, written on a follower: bash write error, nothing changes anywhere"
echo true >"$MF1/gates/feature.y"
wait_same_tree "${ALL[@]}"
before=$TREE_HASH
rc=0
bash -c 'echo maybe > "$1"' _ "$MF2/gates/feature.x" 2>"$TEST_TMP/gate.err" || rc=$?
assert_eq 1 "$rc" "exit status of echo maybe > gates/feature.x on $F2"
assert_match 'write error' "$(cat "$TEST_TMP/gate.err")" "bash's message"
rc=0
bash -c 'echo maybe > "$1"' _ "$MF2/gates/feature.y" 2>"$TEST_TMP/gate.err" || rc=$?
assert_eq 1 "$rc" "exit status of echo maybe > gates/feature.y (set) on $F2"
assert_file_content "$MF2/gates/feature.y" $'true\n'
assert_fails_with EINVAL write "$MF2/gates/feature.z" wronly,creat,trunc 'maybe\n'
on_all assert_not_exists MOUNT/gates/feature.x
on_all assert_not_exists MOUNT/gates/feature.z
on_all assert_file_content MOUNT/gates/feature.y $'true\n'
wait_same_tree "${ALL[@]}"
assert_eq "$before" "$TREE_HASH" "tree hash after the refused gate writes"

say "1000 writes over the three nodes: 300 in turn, then 3 concurrent writers of 234"
mkdir "$ML/load"
t0=$SECONDS
for ((i = 0; i < 300; i++)); do
	n=${ALL[i % 3]}
	m=$(node_mount "$n")
	case $((i % 10)) in
	0) mkdir "$m/load/d$i" ;;
	1) echo "seq $i" >>"$m/load/seq.log" ;;
	*) echo "seq $i from $n" >"$m/load/s$((i % 37))" ;;
	esac || fail "sequential write $i on $n failed"
done
# writer NAME: 234 writes on NAME's mount; exits 1 at the first failure.
writer() {
	local name=$1 m j
	m=$(node_mount "$name")
	mkdir "$m/load/$name" || exit 1
	for ((j = 1; j <= 234; j++)); do
		case $((j % 6)) in
		0) echo "$name $j" >>"$m/load/shared.log" ;;
		1) echo "$name $j" >"$m/load/contended" ;;
		2) mv "$m/load/$name/f$((j % 20))" "$m/load/$name/r$((j % 20))" 2>/dev/null ||
			echo "$name $j" >"$m/load/$name/r$((j % 20))" ;;
		*) echo "$name $j" >"$m/load/$name/f$((j % 20))" ;;
		esac || {
			echo "writer $name: write $j failed" >&2
			exit 1
		}
	done
}
declare -A WPID=()
for n in "${ALL[@]}"; do
	writer "$n" 2>"$TEST_TMP/writer.$n.err" &
	WPID[$n]=$!
	EXTRA_PIDS+=("$!")
done
for n in "${ALL[@]}"; do
	wait_exit "${WPID[$n]}" 60
	[ "$EXIT_STATUS" = 0 ] || fail "writer on $n: status $EXIT_STATUS: $(cat "$TEST_TMP/writer.$n.err")"
done
say "1000 writes took $((SECONDS - t0)) s"
wait_same_tree -t 30 "${ALL[@]}"
say "identical trees after the load: ${TREE_HASH:0:16} ($(grep -c . "$TEST_TMP/tree.n1") entries)"
expected_log=$(for n in "${ALL[@]}"; do for ((j = 6; j <= 234; j += 6)); do echo "$n $j"; done; done | sort)
for n in "${ALL[@]}"; do
	actual_log=$(sort "$(node_mount "$n")/load/shared.log")
	[ "$actual_log" = "$expected_log" ] ||
		fail "load/shared.log on $n: appends from 3 nodes lost or doubled: $(diff <(echo "$expected_log") <(echo "$actual_log") | head -5)"
	assert_eq 30 "$(grep -c . "$(node_mount "$n")/load/seq.log")" "lines of load/seq.log on $n"
done
# each writer's own appends stay in its order
for n in "${ALL[@]}"; do
	order=$(grep "^$n " "$ML/load/shared.log" | awk '{print $2}')
	assert_eq "$(sort -n <<<"$order")" "$order" "order of $n's appends"
done

say ".cluster/members: 3 voters, one leader, the same on every node"
check_members_file() {
	local m=$1 f
	f=$(cat "$m/.cluster/members")
	assert_eq 3 "$(grep -c . <<<"$f")" "lines of $m/.cluster/members [$f]"
	assert_eq 3 "$(awk '$3 == "voter"' <<<"$f" | grep -c .)" "voters in $m/.cluster/members [$f]"
	assert_eq "${NODE_ID[$L]}" "$(awk '/ leader=yes / { print $1 }' <<<"$f")" "leader in $m/.cluster/members [$f]"
	assert_eq "$(tr ' ' '\n' <<<"$ids" | sort -n)" "$(awk '{print $1}' <<<"$f" | sort -n)" "ids in $m/.cluster/members"
	assert_eq "${NODE_ID[$L]}" "$(awk '{print $1}' "$m/.cluster/leader")" "$m/.cluster/leader"
}
on_all check_members_file MOUNT
for n in "${ALL[@]}"; do
	assert_eq "${NODE_ID[$n]}" "$(cat "$(node_mount "$n")/.cluster/self")" ".cluster/self of $n"
done

say "clusterfsctl members --json parses and says the same"
check_members_json() {
	members_json "$1" | python3 -c '
import json, sys
m = json.load(sys.stdin)
ids = sorted(int(x) for x in sys.argv[1].split())
addrs = sorted(sys.argv[2].split())
leader = int(sys.argv[3])
assert isinstance(m, list) and len(m) == 3, "3 members expected: %r" % m
assert sorted(x["id"] for x in m) == ids, "ids %r, expected %r" % ([x["id"] for x in m], ids)
assert sorted(x["address"] for x in m) == addrs, "addresses %r" % [x["address"] for x in m]
assert all(x["role"] == "voter" for x in m), "roles %r" % [x["role"] for x in m]
assert [x["id"] for x in m if x["leader"] is True] == [leader], "leader flags %r" % m
' "$ids" "${NODE_ADDR[n1]} ${NODE_ADDR[n2]} ${NODE_ADDR[n3]}" "${NODE_ID[$L]}" ||
		fail "members --json on $1: $(members_json "$1")"
}
for n in "${ALL[@]}"; do
	check_members_json "$n"
done

say "a node with another cluster's key is refused, says why, and changes nothing"
node_start other
OTHER_KEY=$(node_data other)/cluster.key
node_stop other
cmp -s "$OTHER_KEY" "$(node_data n1)/cluster.key" && fail "two clusters generated the same key"
members_before=$(members_summary "$L")
log_lines_before=$(wc -l <"$(node_log "$L")")
port=$(free_port)
mkdir -p "$TEST_TMP/wrong"
t0=$SECONDS
rc=0
# stderr: the log and the one line that says why it stopped
timeout -k 5 40 "$CLUSTERFSD" --mount "$TEST_TMP/wrong/m" --data "$TEST_TMP/wrong/d" \
	--address "127.0.0.1:$port" --join "$(node_addr "$F1")" --cluster-key "$OTHER_KEY" \
	>"$TEST_TMP/wrong/out" 2>"$TEST_TMP/wrong/err" || rc=$?
say "the node with the wrong key exited with status $rc after $((SECONDS - t0)) s: $(cat "$TEST_TMP/wrong/err")"
[ "$rc" -ne 0 ] || fail "a node with the wrong key exited 0"
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
	fail "a node with the wrong key was still running after 40 s"
fi
grep -qi 'key' "$TEST_TMP/wrong/err" || fail "the wrong-key error does not mention the key: [$(cat "$TEST_TMP/wrong/err")]"
if is_mounted "$TEST_TMP/wrong/m"; then
	umount -l "$TEST_TMP/wrong/m"
	fail "the refused node left its mount behind"
fi
for n in "${ALL[@]}"; do
	node_sync "$n"
	assert_eq "$members_before" "$(members_summary "$n")" "members on $n after the refused join"
done
check grep -q 'dropped a connection' <(tail -n +"$log_lines_before" "$(node_log "$F1")")
echo still-works >"$MF2/after-refusal"
on_all assert_file_content MOUNT/after-refusal $'still-works\n'
wait_same_tree "${ALL[@]}"

say "clusterfsctl sync: afterwards this node's kernel shows nothing older (names cached just before)"
mkdir "$ML/fresh"
NAMES=$(printf 'l%d,' {1..60})
for ((i = 1; i <= 30; i++)); do
	echo "old $i" >"$ML/fresh/gone"
	echo "old $i" >"$ML/fresh/swapped"
	node_sync "$F2"
	# the follower's kernel caches both names and their attributes
	[ "$(cat "$MF2/fresh/swapped")" = "old $i" ] || fail "round $i: swapped before: $(cat "$MF2/fresh/swapped")"
	stat "$MF2/fresh/gone" >/dev/null || fail "round $i: gone is not there before its removal"
	# one entry that is 60 replays on every other node: the changes below
	# reach the follower's kernel behind them
	setfattr -n user.clusterfs.acquire -v "holder=h ttl=600 names=${NAMES%,}" "$ML/leases"
	rm "$ML/fresh/gone"
	echo "new $i" >"$ML/fresh/swapped.tmp"
	mv "$ML/fresh/swapped.tmp" "$ML/fresh/swapped"
	node_sync "$F2"
	[ ! -e "$MF2/fresh/gone" ] || fail "round $i: a removed name still shows on $F2 right after clusterfsctl sync"
	got=$(cat "$MF2/fresh/swapped")
	[ "$got" = "new $i" ] || fail "round $i: $F2 read '$got' right after clusterfsctl sync, expected 'new $i'"
done

for n in "${ALL[@]}"; do
	node_stop "$n"
done
