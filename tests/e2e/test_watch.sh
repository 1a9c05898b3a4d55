#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# clusterfs-watch (DESIGN §6, issue 6) on 3 daemons, a watcher per node, a
# fake snapctl on PATH that records its calls and runs the example
# configure hook after each set/unset (as snapd would):
#  - bad configs (unknown key, bad glob, missing run, unknown section, bad
#    placeholder) exit 2 with one message naming the problem;
#  - a gate set on node 1 reaches every node's snapctl as exactly one call,
#    with the example's arguments; rm -> on-delete (snapctl unset) everywhere;
#    the hook pushes nothing back (the gate is written once);
#  - MAAS: with config/deployment.type=maas no snapctl call is made; set
#    back to local, the skipped gate is applied everywhere (level-triggered);
#  - a leader-only rule runs on exactly one node, the leader;
#  - a value that looks like a shell command is passed as one argument and
#    runs nothing; the same value is in CLUSTERFS_VALUE; commands run in the
#    mount;
#  - debounce: a burst of 15 writes becomes one call with the last value
#    (debounce 1s: the burst takes a few ms per write);
#  - a failing command is retried (backoff) and a hanging one is killed at
#    its timeout and retried, while other rules go on;
#  - a watcher that was down catches up on start: new, changed and deleted
#    gates, and nothing already applied runs again;
#  - SIGHUP with a bad config keeps the old one; with a good one adds a rule;
#  - the daemon of node 3 stops and restarts under a running watcher: the
#    watcher sees the mount come back and applies what changed meanwhile.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_inotify.sh"
source "$(dirname "$0")/lib_watch.sh"

T=$TEST_TMP
ALL=(n1 n2 n3)

say "bad configs exit 2 with a message"
bad_config() {
	local re=$1
	printf '%b' "$2" >"$T/bad.conf"
	assert_cmd_fails -s 2 -e "$re" "$CLUSTERFS_WATCH" --config "$T/bad.conf" \
		--mount "$T/nowhere" --state "$T/bad-state"
	assert_eq 1 "$(printf '%s\n' "$CMD_STDERR" | grep -c .)" "lines of the message [$CMD_STDERR]"
}
bad_config "bad.conf:4: unknown key 'colour'" '[rule a]\nmatch = gates/*\nrun = true\ncolour = red\n'
bad_config "bad.conf:2: bad glob 'gates/\[feature' .*not closed" '[rule a]\nmatch = gates/[feature\nrun = true\n'
bad_config "bad.conf:1: \[rule a\] has no 'run'" '[rule a]\nmatch = gates/*\non-delete = true\n'
bad_config "bad.conf:1: unknown section \[rules\]" '[rules]\nmatch = x\n'
bad_config "unknown placeholder" '[rule a]\nmatch = gates/*\nrun = echo {vlaue}\n'
bad_config "no \[rule NAME\] section" '; nothing\n'
bad_config "bad only-on" '[rule a]\nmatch = x/*\nrun = true\nonly-on = sometimes\n'
assert_not_exists "$T/bad-state"

iw_cluster3
wait_leader "${ALL[@]}"
say "leader is $LEADER"
M1=$(node_mount n1)
M2=$(node_mount n2)
mkdir "$M1/inject" "$M1/burst" "$M1/fence" "$M1/flaky"
echo true >"$M1/gates/feature.stable"
cat "$EXAMPLES/snap/watch.conf" >"$T/watch.conf"
cat >>"$T/watch.conf" <<'EOF'

[rule peers]
match   = peers/*
run     = record peers {name} {event}
only-on = leader

[rule inject]
match = inject/*
run   = record inject {value} "{name} is {value}" '{value}'

[rule burst]
match    = burst/*
run      = record burst {value}
debounce = 1s

[rule fence]
match = fence/*
run   = record fence {name}

[rule flaky]
match   = flaky/*
run     = flaky {name}
timeout = 1s
EOF
iw_sync "${ALL[@]}"
for n in "${ALL[@]}"; do
	watch_start "$n" "$T/watch.conf"
done

# fence ID: a change made on node 1 after the ones before, recorded by every
# node's watcher (rules run in the order of their events).
fence() {
	echo "$1" >"$M1/fence/$1"
	for n in "${ALL[@]}"; do
		wait_for -t 10 has_record "$n" "[\"fence\", \"$1\"]"
	done
}

say "the start reconciles: the gate set before the watchers reaches every snap once"
for n in "${ALL[@]}"; do
	wait_for has_call "$n" '["set", "openstack", "feature.stable=true", "clusterfs.feature.stable=true"]'
	assert_eq true "$(snap_option "$n" feature.stable)" "feature.stable in $n's snap"
done

say "a gate set on node 1 reaches every node's snapctl"
echo yes >"$M1/gates/feature.alpha"
for n in "${ALL[@]}"; do
	wait_for has_call "$n" '["set", "openstack", "feature.alpha=true", "clusterfs.feature.alpha=true"]'
done
fence f1
for n in "${ALL[@]}"; do
	assert_eq 1 "$(count_calls "$n" '["set", "openstack", "feature.alpha=true", "clusterfs.feature.alpha=true"]')" "set calls for feature.alpha on $n"
	assert_eq true "$(snap_option "$n" feature.alpha)" "feature.alpha in $n's snap"
done
assert_eq 1 "$(log_writes n1 gates/feature.alpha)" "changes of gates/feature.alpha in .cluster/log (the hook pushed nothing back)"

say "rm of the gate: snapctl unset on every node"
rm "$M1/gates/feature.alpha"
for n in "${ALL[@]}"; do
	wait_for has_call "$n" '["unset", "openstack", "feature.alpha", "clusterfs.feature.alpha"]'
	assert_eq absent "$(snap_option "$n" feature.alpha)" "feature.alpha in $n's snap after unset"
done

say "MAAS: no snapctl call while config/deployment.type=maas"
echo maas >"$M1/config/deployment.type"
echo true >"$M2/gates/feature.beta"
fence f2
for n in "${ALL[@]}"; do
	assert_eq 0 "$(calls "$n" | grep -c feature.beta || true)" "snapctl calls for feature.beta on $n (MAAS)"
done
say "back to local: the skipped gate is applied everywhere"
echo local >"$M1/config/deployment.type"
for n in "${ALL[@]}"; do
	wait_for has_call "$n" '["set", "openstack", "feature.beta=true", "clusterfs.feature.beta=true"]'
done

say "a leader-only rule runs on exactly one node, the leader ($LEADER)"
leader_before=$LEADER
echo 'address=10.0.0.9:443 type=cloud' >"$M1/peers/cloud-1"
wait_for -t 10 has_record "$LEADER" '["peers", "cloud-1", "create"]'
fence f3
wait_leader "${ALL[@]}"
if [ "$LEADER" = "$leader_before" ]; then
	for n in "${ALL[@]}"; do
		want=0
		[ "$n" = "$LEADER" ] && want=1
		assert_eq "$want" "$(count_records "$n" '["peers", "cloud-1", "create"]')" "peers records on $n"
	done
else
	# A new leader takes over: it runs the rule for every peer (docs/watch.md).
	say "leadership moved from $leader_before to $LEADER during the check (machine under load)"
	wait_for -t 10 has_record "$LEADER" '["peers", "cloud-1", "create"]'
fi

say "a value that looks like a shell command is one argument and runs nothing"
VAL="\$(touch $T/pwned); x \`touch $T/pwned2\` | rm -rf / \"q\" 'q'"
printf '%s\n' "$VAL" >"$M1/inject/v"
WANT=$(python3 -c 'import json, sys; v = sys.argv[1]; print(json.dumps(["inject", v, "v is " + v, "{value}"]))' "$VAL")
for n in "${ALL[@]}"; do
	wait_for has_record "$n" "$WANT"
	env_json=$(record_field "$n" "$WANT" env)
	assert_eq "$(python3 -c 'import json, sys; print(json.dumps({"EVENT": "create", "MOUNT": sys.argv[2], "NAME": "v", "PATH": "inject/v", "RULE": "inject", "VALUE": sys.argv[1]}, sort_keys=True))' "$VAL" "$(node_mount "$n")")" \
		"$env_json" "CLUSTERFS_* environment on $n"
	assert_eq "\"$(node_mount "$n")\"" "$(record_field "$n" "$WANT" cwd)" "working directory on $n"
done
assert_not_exists "$T/pwned"
assert_not_exists "$T/pwned2"

say "debounce: a burst of 15 writes is one call with the last value"
for i in $(seq 1 15); do
	echo "v$i" >"$M1/burst/b"
done
for n in "${ALL[@]}"; do
	wait_for has_record "$n" '["burst", "v15"]'
done
fence f4
for n in "${ALL[@]}"; do
	assert_eq '["burst", "v15"]' "$(records "$n" | grep burst)" "burst calls on $n"
done

say "a failing command is retried, a hanging one killed at its timeout and retried; others go on"
echo 1 >"$M1/flaky/fails"
echo 1 >"$M1/flaky/hangs"
fence f5
for n in "${ALL[@]}"; do
	wait_for -t 15 has_record "$n" '["flaky", "fails"]'
	wait_for -t 15 has_record "$n" '["flaky", "hangs"]'
	assert_match 'flaky/fails: the command exited with status 1' "$(cat "$(watch_log "$n")")" "log of $n"
	assert_match 'flaky/hangs: the command was killed by signal 15 \(timeout\)' "$(cat "$(watch_log "$n")")" "log of $n"
	assert_match 'retrying in 1.0s' "$(cat "$(watch_log "$n")")" "log of $n"
done

say "a watcher that was down catches up on start, deletions included"
echo true >"$M1/gates/feature.delta"
echo true >"$M1/gates/feature.gamma"
for n in "${ALL[@]}"; do
	wait_for has_call "$n" '["set", "openstack", "feature.delta=true", "clusterfs.feature.delta=true"]'
	wait_for has_call "$n" '["set", "openstack", "feature.gamma=true", "clusterfs.feature.gamma=true"]'
done
# Both calls have been made; the fence (an event after them, debounced like
# them) lets each watcher finish and record them as applied before n3's
# stops: a call still running at the stop is not applied, and its gate's
# removal would then have nothing to undo.
fence f5b
watch_stop n3
rm "$M1/gates/feature.delta"
echo false >"$M1/gates/feature.gamma"
echo on >"$M1/gates/feature.epsilon"
echo 'address=10.0.0.10:443' >"$M1/peers/cloud-2"
iw_sync n3
before=$(calls n3 | wc -l)
watch_start n3 "$T/watch.conf"
wait_for has_call n3 '["unset", "openstack", "feature.delta", "clusterfs.feature.delta"]'
wait_for has_call n3 '["set", "openstack", "feature.gamma=false", "clusterfs.feature.gamma=false"]'
wait_for has_call n3 '["set", "openstack", "feature.epsilon=true", "clusterfs.feature.epsilon=true"]'
fence f6
assert_eq 3 "$(($(calls n3 | wc -l) - before))" "snapctl calls of n3's watcher on restart (only what changed)"
assert_eq 1 "$(count_calls n3 '["set", "openstack", "feature.stable=true", "clusterfs.feature.stable=true"]')" "set calls of feature.stable on n3"

say "SIGHUP: a bad config is refused and the old one kept; a good one is loaded"
cp "$T/watch.conf" "$T/watch.conf.good"
printf '[rule x]\nmatch = [\nrun = true\n' >"$T/watch.conf"
kill -HUP "${WATCH_PID[n1]}"
wait_for grep -q "SIGHUP: .*bad glob.*; keeping the previous config" "$(watch_log n1)"
pid_alive "${WATCH_PID[n1]}" || fail "the watcher of n1 died on a bad config at SIGHUP"
cp "$T/watch.conf.good" "$T/watch.conf"
printf '\n[rule extra]\nmatch = extra/*\nrun = record extra {name}\n' >>"$T/watch.conf"
mkdir "$M1/extra"
echo x >"$M1/extra/e1"
kill -HUP "${WATCH_PID[n1]}"
wait_for has_record n1 '["extra", "e1"]'

say "node 3's daemon stops and restarts under its watcher: it catches up"
node_stop n3
wait_for grep -q "is gone" "$(watch_log n3)"
echo true >"$M1/gates/feature.zeta"
rm "$M1/gates/feature.epsilon"
node_restart n3
wait_for -t 15 has_call n3 '["set", "openstack", "feature.zeta=true", "clusterfs.feature.zeta=true"]'
wait_for -t 15 has_call n3 '["unset", "openstack", "feature.epsilon", "clusterfs.feature.epsilon"]'
fence f7

say "watchers stop cleanly"
for n in "${ALL[@]}"; do
	watch_stop "$n"
	if grep -q ' error: ' "$(watch_log "$n")"; then
		grep ' error: ' "$(watch_log "$n")" | grep -v 'SIGHUP' >&2 && fail "errors in the log of $n's watcher"
	fi
done
