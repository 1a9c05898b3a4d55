#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Quorum loss (DESIGN §3 errors, §8; issue 3). Three nodes; the two
# followers are stopped (one kill -9, one SIGTERM) and the leader is left
# alone. On it: reads keep working; every kind of mutation fails with EROFS
# or ETIMEDOUT within a bounded time; nothing is half-applied (the tree is
# exactly as before); status and sync report the lost quorum. The stopped
# nodes come back one by one: writes work again, the trees are identical,
# and a mutation that failed with EROFS ("no quorum") was not applied later
# (ETIMEDOUT means "outcome unknown": applied whole or not at all).
# shellcheck disable=SC2016 # eval'ed conditions are quoted on purpose
# shellcheck disable=SC2012 # listing with ls is what this test checks
source "$(dirname "$0")/lib.sh"

COMMIT_TIMEOUT=5 # the default
KILL9_CONTINUE=1 # see node_kill9
# A failing mutation must return within the commit timeout plus this slack.
SLACK=3

cluster_start 3
ALL=("${CLUSTER[@]}")
wait_leader "${ALL[@]}"
L=$LEADER K=${FOLLOWERS[0]} T=${FOLLOWERS[1]}
ML=$(node_mount "$L")
say "leader $L survives; $K gets kill -9, $T SIGTERM"

say "seed: files, a directory, a symlink, an xattr"
# namespace operations each in a directory of their own: the kernel
# serialises creates, removals and renames in one directory.
mkdir "$ML/q" "$ML/q/cr" "$ML/q/mk" "$ML/q/rm" "$ML/q/rm/dir" "$ML/q/ul" "$ML/q/rn" "$ML/q/sl"
for i in 1 2 5 6 7 8; do echo "v$i" >"$ML/q/f$i"; done
echo v3 >"$ML/q/ul/f3"
echo v4 >"$ML/q/rn/f4"
ln -s f1 "$ML/q/link"
setfattr -n user.seed -v s "$ML/q/f1"
echo true >"$ML/gates/feature.q"
wait_same_tree "${ALL[@]}"
BEFORE=$TREE_HASH
cp "$TEST_TMP/tree.$L" "$TEST_TMP/tree.before"

T_STOP=$EPOCHREALTIME
node_kill9 "$K"
node_stop "$T"
say "two of three stopped, in $(awk -v a="$T_STOP" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }') s"

# The mutations tried without a quorum: NAME -> errno_probe arguments.
declare -A OPS=(
	[write]="write $ML/q/f1 wronly,trunc changed"
	[append]="write $ML/q/f2 wronly,append more"
	[create]="write $ML/q/cr/new wronly,creat,excl new"
	[mkdir]="mkdir $ML/q/mk/newdir"
	[rmdir]="rmdir $ML/q/rm/dir"
	[unlink]="unlink $ML/q/ul/f3"
	[rename]="rename $ML/q/rn/f4 $ML/q/rn/f4.moved"
	[chmod]="chmod $ML/q/f5 600"
	[setxattr]="setxattr $ML/q/f6 user.k v"
	[removexattr]="removexattr $ML/q/f1 user.seed"
	[symlink]="symlink f7 $ML/q/sl/newlink"
	[truncate]="truncate $ML/q/f8 1"
	[gate]="write $ML/gates/feature.q wronly,trunc false"
)

# content FILE: set CONTENT to the exact content of FILE (trailing newlines
# kept), or to "<none>" if it cannot be read.
CONTENT=""
content() {
	local c
	if c=$(cat -- "$1" 2>/dev/null && printf x); then
		CONTENT=${c%x}
	else
		CONTENT="<none>"
	fi
}

# outcome NAME: whether mutation NAME is visible on $ML: "unchanged",
# "applied", or "BROKEN: ..." for anything in between.
outcome() {
	local m=$ML/q c
	case $1 in
	write) content "$m/f1" ;;
	append) content "$m/f2" ;;
	create) content "$m/cr/new" ;;
	truncate) content "$m/f8" ;;
	gate) content "$ML/gates/feature.q" ;;
	esac
	[ "$1" = rename ] || c=$CONTENT
	case $1 in
	write) case $c in $'v1\n') echo unchanged ;; changed) echo applied ;; *) echo "BROKEN: f1 holds [$c]" ;; esac ;;
	append) case $c in $'v2\n') echo unchanged ;; $'v2\nmore') echo applied ;; *) echo "BROKEN: f2 holds [$c]" ;; esac ;;
	create) case $c in "<none>") echo unchanged ;; new) echo applied ;; *) echo "BROKEN: cr/new holds [$c]" ;; esac ;;
	mkdir) [ -d "$m/mk/newdir" ] && echo applied || echo unchanged ;;
	rmdir) [ -d "$m/rm/dir" ] && echo unchanged || echo applied ;;
	unlink) [ -e "$m/ul/f3" ] && echo unchanged || echo applied ;;
	rename)
		content "$m/rn/f4"
		c=$CONTENT
		content "$m/rn/f4.moved"
		if [ "$c" = $'v4\n' ] && [ "$CONTENT" = "<none>" ]; then echo unchanged
		elif [ "$c" = "<none>" ] && [ "$CONTENT" = $'v4\n' ]; then echo applied
		else echo "BROKEN: rn/ holds $(cd "$m/rn" && echo *)"; fi ;;
	chmod) case $(stat -c %a "$m/f5") in 644) echo unchanged ;; 600) echo applied ;; *) echo "BROKEN: mode $(stat -c %a "$m/f5")" ;; esac ;;
	setxattr) if getfattr --absolute-names -n user.k "$m/f6" >/dev/null 2>&1; then echo applied; else echo unchanged; fi ;;
	removexattr) if getfattr --absolute-names -n user.seed "$m/f1" >/dev/null 2>&1; then echo unchanged; else echo applied; fi ;;
	symlink) [ -L "$m/sl/newlink" ] && echo applied || echo unchanged ;;
	truncate) case $c in $'v8\n') echo unchanged ;; v) echo applied ;; *) echo "BROKEN: f8 holds [$c]" ;; esac ;;
	gate) case $c in $'true\n') echo unchanged ;; $'false\n') echo applied ;; *) echo "BROKEN: gate holds [$c]" ;; esac ;;
	esac
}

# try_op NAME: run mutation NAME, record "NAME ERRNO SECONDS" in $TEST_TMP/ops.
try_op() {
	local t0=$EPOCHREALTIME out
	# shellcheck disable=SC2086 # the arguments are words
	out=$(probe ${OPS[$1]})
	echo "$1 $out $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')" >>"$TEST_TMP/ops"
}

say "the first mutation, at once (the leader may not know yet that it lost its quorum)"
: >"$TEST_TMP/ops"
try_op write
say "  $(cat "$TEST_TMP/ops")"
say "every other kind of mutation, concurrently"
declare -a OP_PIDS=()
for op in "${!OPS[@]}"; do
	[ "$op" = write ] && continue
	try_op "$op" &
	OP_PIDS+=("$!")
	EXTRA_PIDS+=("$!")
done
for pid in "${OP_PIDS[@]}"; do
	wait_exit "$pid" $((COMMIT_TIMEOUT + SLACK + 10))
	[ "$EXIT_STATUS" != timeout ] || fail "a mutation without quorum is still blocked after $((COMMIT_TIMEOUT + SLACK + 10)) s"
done
say "bash: echo > file fails with exit status 1"
t0=$EPOCHREALTIME
rc=0
# shellcheck disable=SC2016
bash -c 'echo by-bash > "$1"' _ "$ML/q/f7" 2>"$TEST_TMP/bash.err" || rc=$?
el=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
say "  echo by-bash > q/f7: exit $rc after $el s: $(cat "$TEST_TMP/bash.err")"
assert_eq 1 "$rc" "exit status of echo > file without quorum"
assert_match 'Read-only file system|timed out' "$(cat "$TEST_TMP/bash.err")" "bash's error without quorum"
echo "bash-write $([[ $(cat "$TEST_TMP/bash.err") =~ Read-only ]] && echo EROFS || echo ETIMEDOUT) $el" >>"$TEST_TMP/ops"

sort "$TEST_TMP/ops" | while read -r op err secs; do say "  $op: $err after $secs s"; done
while read -r op err secs; do
	check assert_match '^(EROFS|ETIMEDOUT)$' "$err" "errno of $op without quorum"
	awk -v s="$secs" -v max=$((COMMIT_TIMEOUT + SLACK)) 'BEGIN { exit !(s <= max) }' </dev/null ||
		check fail "$op took $secs s to fail (bound $((COMMIT_TIMEOUT + SLACK)) s)"
done <"$TEST_TMP/ops"

say "reads work without quorum, and nothing is half-applied"
assert_file_content "$ML/q/f1" $'v1\n'
assert_eq f1 "$(readlink "$ML/q/link")" "readlink without quorum"
assert_eq s "$(getfattr --absolute-names --only-values -n user.seed "$ML/q/f1")" "getfattr without quorum"
assert_eq "cr f1 f2 f5 f6 f7 f8 link mk rm rn sl ul" "$(ls "$ML/q" | tr '\n' ' ' | sed 's/ $//')" "ls without quorum"
assert_file_content "$ML/gates/feature.q" $'true\n'
for op in "${!OPS[@]}"; do
	check assert_eq unchanged "$(outcome "$op")" "outcome of $op on $L without quorum"
done
tree_manifest "$ML" >"$TEST_TMP/tree.during" || fail "cannot read the tree without quorum"
if ! cmp -s "$TEST_TMP/tree.before" "$TEST_TMP/tree.during"; then
	diff "$TEST_TMP/tree.before" "$TEST_TMP/tree.during" >&2
	fail "the tree changed without quorum"
fi
wait_for -t 10 eval '! ctl --mount "$ML" status >/dev/null 2>&1'
grep -q '^quorum=no' "$ML/.cluster/status" || check fail ".cluster/status does not say quorum=no: $(tr '\n' ' ' <"$ML/.cluster/status")"
rc=0
timeout -k 2 $((COMMIT_TIMEOUT + SLACK + 5)) "$CLUSTERFSCTL" --mount "$ML" sync 2>"$TEST_TMP/sync.err" || rc=$?
say "clusterfsctl sync without quorum: exit $rc: $(cat "$TEST_TMP/sync.err")"
[ "$rc" -ne 0 ] || fail "clusterfsctl sync succeeded without quorum"
[ "$rc" -ne 124 ] || fail "clusterfsctl sync blocked for $((COMMIT_TIMEOUT + SLACK + 5)) s without quorum"

say "$K comes back (with $L: a quorum again); writes work"
mount_is_dead() { ! stat -c %i "$(node_mount "$K")" >/dev/null 2>&1; }
wait_for -t 10 mount_is_dead
node_restart "$K"
wait_leader "$L" "$K"
say "leader now: $LEADER"
node_sync "$L"
say "outcomes of the failed mutations once the quorum is back:"
while read -r op err secs; do
	[ "$op" = bash-write ] && continue
	o=$(outcome "$op")
	say "  $op ($err): $o"
	case $o in BROKEN*) check fail "$op is half-applied: $o" ;; esac
	if [ "$err" = EROFS ] && [ "$o" = applied ]; then
		check fail "$op failed with EROFS without quorum, but was applied once the quorum came back"
	fi
done <"$TEST_TMP/ops"
echo back >"$ML/q/back"
echo back-on-k >"$(node_mount "$K")/q/back-k"
wait_same_tree "$L" "$K"

say "$T comes back too: identical trees, writes everywhere"
node_restart "$T"
for n in "${ALL[@]}"; do
	echo "from $n" >"$(node_mount "$n")/q/last-$n" || fail "write on $n after recovery failed"
done
wait_same_tree "${ALL[@]}"
assert_ne "$BEFORE" "$TREE_HASH" "tree hash after recovery"
for n in "${ALL[@]}"; do
	assert_file_content "$(node_mount "$n")/q/back-k" $'back-on-k\n'
done
for n in "${ALL[@]}"; do
	node_stop "$n"
done
