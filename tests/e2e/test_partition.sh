#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Network partitions (DESIGN §3, §8; issue 3). Three nodes, each in a network
# namespace this test creates, wired by veth pairs to a bridge in a fourth
# one (10.231.0.0/24; no traffic leaves these namespaces). The daemons run
# under `nsenter --net` (only the network namespace: their FUSE mounts stay
# visible here). A node is cut off by taking its cable (the bridge's end of
# its veth) down.
# Round 1 cuts a follower, round 2 the leader. Each time the minority node
# keeps serving reads but its mutations fail with EROFS or ETIMEDOUT in a
# bounded time (one tried at once, while it still believes in its leader,
# one once it knows it has none); the majority elects a leader if needed and
# writes on both of its nodes; after healing, every tree is identical, and a
# mutation that failed with EROFS on the minority was not applied.
# shellcheck disable=SC2016 # eval'ed conditions are quoted on purpose
# shellcheck disable=SC2012 # listing with ls is what this test checks
source "$(dirname "$0")/lib.sh"

command -v nsenter >/dev/null || skip "needs nsenter (util-linux)"
command -v ip >/dev/null || skip "needs ip (iproute2)"

COMMIT_TIMEOUT=5 # the default
SLACK=3
PORT=7440 # each node has a network namespace of its own
PREFIX=cfse2e-$$
BR=$PREFIX-br
NET=10.231.0

say "network namespaces $PREFIX-n1..3 and $BR (bridge)"
if ! ip netns add "$BR" 2>"$TEST_TMP/netns.err"; then
	skip "cannot create network namespaces: $(cat "$TEST_TMP/netns.err")"
fi
NETNS_CREATED+=("$BR")
ip -n "$BR" link set lo up
ip -n "$BR" link add br0 type bridge
ip -n "$BR" link set br0 up
for i in 1 2 3; do
	ns=$PREFIX-n$i
	netns_add "$ns"
	ip -n "$BR" link add "v$i" type veth peer name eth0 netns "$ns"
	ip -n "$BR" link set "v$i" master br0
	ip -n "$BR" link set "v$i" up
	ip -n "$ns" addr add "$NET.$i/24" dev eth0
	ip -n "$ns" link set eth0 up
	NODE_WRAP[n$i]="nsenter --net=/run/netns/$ns"
done

# start_in_ns N [FLAGS...]: node nN at $NET.N:$PORT in its namespace.
start_in_ns() {
	local i=$1
	shift
	NODE_ADDR[n$i]=$NET.$i:$PORT
	node_spawn "n$i" --mount "$(node_mount "n$i")" --data "$(node_data "n$i")" \
		--address "$NET.$i:$PORT" --log-level debug "$@"
	node_wait_ready "n$i"
}
start_in_ns 1
start_in_ns 2 --join "$NET.1:$PORT" --cluster-key "$(node_data n1)/cluster.key"
start_in_ns 3 --join "$NET.1:$PORT" --cluster-key "$(node_data n1)/cluster.key"
ALL=(n1 n2 n3)
wait_leader "${ALL[@]}"
mkdir "$(node_mount n1)/p"
for n in "${ALL[@]}"; do
	echo "from $n" >"$(node_mount "$n")/p/start.$n" || fail "write on $n failed"
done
wait_same_tree "${ALL[@]}"

cut_off() { ip -n "$BR" link set "v${1#n}" down; }
heal_link() { ip -n "$BR" link set "v${1#n}" up; }

# attempt NAME FILE TAG: `echo TAG > FILE` on NAME's mount through
# errno_probe; records "TAG FILE ERRNO SECONDS" in $TEST_TMP/attempts.
attempt() {
	local name=$1 file=$2 tag=$3 t0=$EPOCHREALTIME out
	out=$(probe write "$(node_mount "$name")/$file" wronly,trunc "$tag\n")
	echo "$tag $file $out $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')" >>"$TEST_TMP/attempts"
	say "  on $name: echo $tag > $file: $out after $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s"
}

# round R X: cut node X off, check both sides, heal, check convergence.
round() {
	local r=$1 x=$2 n mx maj1 maj2 err secs rc=0
	local -a majority=()
	for n in "${ALL[@]}"; do
		[ "$n" = "$x" ] || majority+=("$n")
	done
	maj1=${majority[0]} maj2=${majority[1]}
	mx=$(node_mount "$x")
	echo "before $r" >"$mx/p/r$r.a"
	echo "before $r" >"$mx/p/r$r.b"
	echo "before $r" >"$mx/p/r$r.c"
	wait_same_tree "${ALL[@]}"
	: >"$TEST_TMP/attempts"

	say "round $r: $x cut off"
	cut_off "$x"
	say "a mutation on $x at once (it may still believe in its leader)"
	attempt "$x" "p/r$r.a" "minority-$r-a"
	say "$x knows it has no leader: status fails, reads work, mutations fail"
	wait_for -t 10 eval '! ctl --mount "$mx" status >/dev/null 2>&1'
	assert_file_content "$mx/p/start.n1" $'from n1\n'
	assert_file_content "$mx/p/r$r.b" "before $r"$'\n'
	assert_eq "start.n1 start.n2 start.n3" "$(cd "$mx/p" && ls start.* | tr '\n' ' ' | sed 's/ $//')" "ls on $x"
	attempt "$x" "p/r$r.b" "minority-$r-b"
	while read -r _ file err secs; do
		check assert_match '^(EROFS|ETIMEDOUT)$' "$err" "errno of a write to $file on the cut-off node"
		awk -v s="$secs" -v max=$((COMMIT_TIMEOUT + SLACK)) 'BEGIN { exit !(s <= max) }' </dev/null ||
			check fail "a write to $file on the cut-off node took $secs s to fail (bound $((COMMIT_TIMEOUT + SLACK)) s)"
	done <"$TEST_TMP/attempts"
	assert_file_content "$mx/p/r$r.a" "before $r"$'\n'
	assert_file_content "$mx/p/r$r.b" "before $r"$'\n'
	assert_file_content "$mx/p/r$r.c" "before $r"$'\n'

	say "the majority ($maj1, $maj2) has a leader and writes on both nodes"
	wait_leader "$maj1" "$maj2"
	say "  leader of the majority: $LEADER"
	for n in "$maj1" "$maj2"; do
		echo "majority $r from $n" >"$(node_mount "$n")/p/r$r.maj.$n" || fail "write on $n (majority) failed"
	done
	echo "majority $r" >"$(node_mount "$maj1")/p/r$r.b"
	echo "majority $r" >"$(node_mount "$maj2")/p/r$r.c"
	wait_same_tree "$maj1" "$maj2"
	assert_not_exists "$mx/p/r$r.maj.$maj1"

	say "just before healing, bash on $x: echo > file fails"
	rc=0
	t0=$EPOCHREALTIME
	# shellcheck disable=SC2016
	bash -c 'echo by-bash > "$1"' _ "$mx/p/r$r.c" 2>"$TEST_TMP/bash.err" || rc=$?
	say "  on $x: bash: echo by-bash > p/r$r.c: exit $rc after $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s: $(cat "$TEST_TMP/bash.err")"
	assert_eq 1 "$rc" "exit status of echo > file on the cut-off node"
	assert_match 'Read-only file system|timed out' "$(cat "$TEST_TMP/bash.err")" "bash's error on the cut-off node"
	assert_file_content "$mx/p/r$r.c" "before $r"$'\n'

	say "heal: every tree identical"
	heal_link "$x"
	wait_leader -t 20 "${ALL[@]}"
	wait_same_tree -t 30 "${ALL[@]}"
	assert_file_content "$mx/p/r$r.maj.$maj2" "majority $r from $maj2"$'\n'
	echo "by-bash p/r$r.c $(grep -q Read-only "$TEST_TMP/bash.err" && echo EROFS || echo ETIMEDOUT) -" >>"$TEST_TMP/attempts"
	while read -r tag file err _; do
		content=$(read_exact "$mx/$file"; printf .)
		content=${content%.}
		say "  after healing, $file holds $(printf %q "$content") (the minority's write '$tag' failed with $err)"
		if [ "$err" = EROFS ] && [ "$content" = "$tag"$'\n' ]; then
			check fail "the write '$tag' to $file failed with EROFS on the cut-off node $x, but was applied after healing"
		fi
		case $content in
		"before $r"$'\n' | "majority $r"$'\n' | "$tag"$'\n') ;;
		"") check fail "round $r: $file is EMPTY on every node after healing: the failed '$tag > $file' on the cut-off node $x (O_TRUNC held on the handle, write failed with $err) was committed later as a truncation, over the majority's write" ;;
		*) check fail "round $r: $file holds $(printf %q "$content")" ;;
		esac
	done <"$TEST_TMP/attempts"
	echo "healed $r" >"$mx/p/healed.$r" || fail "write on $x after healing failed"
	wait_same_tree "${ALL[@]}"
}

wait_leader "${ALL[@]}"
round 1 "${FOLLOWERS[0]}"
wait_leader "${ALL[@]}"
round 2 "$LEADER"
for n in "${ALL[@]}"; do
	node_stop "$n"
done
