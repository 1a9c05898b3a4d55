#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# What an operator meets (issue 16): -h on every program; clusterfsd's log
# lines in a file when its output is redirected; the config file (a value
# used, a flag overriding it, a bad key refused with FILE:LINE and nothing
# mounted); what systemd is told (READY=1, STATUS=, watchdog pings from the
# event loop that stop when the loop stops); under systemd the lines go to
# the journal with their fields; the units pass
# `systemd-analyze verify`.
source "$(dirname "$0")/lib.sh"

# op_spawn NAME ARGS...: clusterfsd with its stdout and stderr both in
# NAME's log, as `clusterfsd ... > f 2>&1` would.
op_spawn() {
	local name=$1
	shift
	mkdir -p "$TEST_TMP/$name"
	"$CLUSTERFSD" "$@" >"$(node_log "$name")" 2>&1 &
	NODE_PID[$name]=$!
	echo "$! node-$name" >>"$SANITIZER_DIR/pids"
	node_wait_ready "$name"
}

say "-h and --help: usage on stdout, exit 0, every flag listed"
for prog in "$CLUSTERFSD" "$CLUSTERFSCTL" "$CLUSTERFS_WATCH"; do
	for h in -h --help; do
		out=$("$prog" "$h" 2>"$TEST_TMP/help.err") || fail "$prog $h exited $?: $(cat "$TEST_TMP/help.err")"
		[[ $out == usage:* ]] || fail "$prog $h: no usage on stdout: [$out]"
		[ ! -s "$TEST_TMP/help.err" ] || fail "$prog $h wrote to stderr: $(cat "$TEST_TMP/help.err")"
	done
done
# After a command too: help, not a usage error (nothing is contacted).
for args in "status -h" "members --help" "lease acquire -h" "remove --help"; do
	# shellcheck disable=SC2086 # the words are the arguments
	out=$("$CLUSTERFSCTL" --mount "$TEST_TMP/none" $args 2>"$TEST_TMP/help.err") ||
		fail "clusterfsctl $args exited $?: $(cat "$TEST_TMP/help.err")"
	[[ $out == usage:* ]] || fail "clusterfsctl $args: no usage on stdout: [$out]"
done
assert_cmd_fails -s 2 -e 'timeout needs a value' "$CLUSTERFSCTL" wait --timeout
assert_cmd_fails -s 2 -e 'holder needs a value' "$CLUSTERFSCTL" lease acquire x --holder
assert_cmd_fails -s 2 -e "bad option '-x'" "$CLUSTERFSCTL" status -x
[ "$(grep -c 'bad option\|invalid option' <<<"$CMD_STDERR")" = 1 ] ||
	fail "clusterfsctl status -x says what is wrong more than once: [$CMD_STDERR]"
# An option's value is not a request for help: the lease is tried (and
# fails here: nothing is mounted), never "help, exit 0".
assert_cmd_fails -e 'cannot acquire' "$CLUSTERFSCTL" --mount "$TEST_TMP/none" lease acquire x \
	--holder -h --ttl 5
usage=$("$CLUSTERFSD" -h)
for f in config mount data address bootstrap join join-token-file join-token cluster-key max-voters \
	commit-timeout election-timeout snapshot-threshold snapshot-trailing disk-reserve log-level \
	recover version help; do
	grep -q -- "--$f\b" <<<"$usage" || fail "clusterfsd -h does not list --$f"
done
usage=$("$CLUSTERFSCTL" -h)
for f in mount json timeout holder ttl wait cluster data address help version; do
	grep -q -- "--$f\b" <<<"$usage" || fail "clusterfsctl -h does not list --$f"
done
usage=$("$CLUSTERFS_WATCH" -h)
for f in mount config state log-level max-jobs check help version; do
	grep -q -- "--$f\b" <<<"$usage" || fail "clusterfs-watch -h does not list --$f"
done

say "a config file's values are used; its log lines go to the redirected output"
P1=$(free_port)
CONF=$TEST_TMP/clusterfsd.conf
cat >"$CONF" <<CONF
# a comment
[clusterfsd]
mount = $(node_mount a)
data = $(node_data a)
address = 127.0.0.1:$P1
log-level = debug
CONF
op_spawn a --config "$CONF"
LOG_A=$(node_log a)
grep -q "clusterfsd info: settings from $CONF" "$LOG_A" || fail "no 'settings from' line in the redirected output: $(head -5 "$LOG_A")"
grep -q "clusterfsd info: node [0-9]* serving $(node_mount a)" "$LOG_A" || fail "no 'serving' line in the redirected output"
grep -q "clusterfsd debug: " "$LOG_A" || fail "log-level = debug from the file: no debug line"
assert_eq "127.0.0.1:$P1" "$(status_field a address)" "address from the config file"
echo hello >"$(node_mount a)/f"
node_stop a
grep -q "clusterfsd info: stopped" "$LOG_A" || fail "no 'stopped' line in the redirected output"

say "a flag overrides the file"
P2=$(free_port)
op_spawn b --config "$CONF" --mount "$(node_mount b)" --data "$(node_data b)" \
	--address "127.0.0.1:$P2" --log-level info
LOG_B=$(node_log b)
assert_eq "127.0.0.1:$P2" "$(status_field b address)" "--address over the file's"
is_mounted "$(node_mount b)" || fail "--mount over the file's: $(node_mount b) not mounted"
if grep -q "clusterfsd debug: " "$LOG_B"; then
	fail "--log-level info over the file's debug: debug lines logged"
fi
grep -q "clusterfsd info: node [0-9]* serving" "$LOG_B" || fail "no 'serving' line with --log-level info"
node_stop b

say "a bad key or value: one line naming FILE:LINE, exit 2, nothing mounted or created"
BAD=$TEST_TMP/bad.conf
mkdir -p "$TEST_TMP/bad"
for body in 'colour = blue' 'max-voters = 2' 'join-token = cfs1:x@h:1' 'log-level = loud'; do
	printf '[clusterfsd]\nmount = %s\ndata = %s\n%s\n' "$TEST_TMP/bad/m" "$TEST_TMP/bad/d" "$body" >"$BAD"
	assert_cmd_fails -s 2 -e "^clusterfsd: $BAD:4: " timeout -k 5 20 "$CLUSTERFSD" --config "$BAD"
	n=$(printf '%s\n' "$CMD_STDERR" | grep -c .)
	[ "$n" -eq 1 ] || fail "bad config ($body): $n lines on stderr: [$CMD_STDERR]"
	if is_mounted "$TEST_TMP/bad/m"; then
		umount -l "$TEST_TMP/bad/m"
		fail "bad config ($body): something was mounted"
	fi
	[ ! -e "$TEST_TMP/bad/d" ] || fail "bad config ($body): the data dir was created"
done
printf '[elsewhere]\n' >"$BAD"
assert_cmd_fails -s 2 -e "$BAD:1: unknown section" "$CLUSTERFSD" --config "$BAD"
assert_cmd_fails -s 2 -e "$TEST_TMP/missing.conf: cannot read" "$CLUSTERFSD" --config "$TEST_TMP/missing.conf"
assert_cmd_fails -s 2 -e "^clusterfsd: --max-voters must be odd" "$CLUSTERFSD" --config "$CONF" --max-voters 4

say "systemd: READY=1, STATUS=, watchdog pings from the loop; none while it is stopped"
P3=$(free_port)
mkdir -p "$TEST_TMP/w"
python3 "$E2E_DIR/sd_notify_check.py" "$TEST_TMP/w/notify.sock" -- "$CLUSTERFSD" \
	--config /dev/null --mount "$(node_mount w)" --data "$(node_data w)" \
	--address "127.0.0.1:$P3" 2>>"$(node_log w)" || fail "sd_notify_check failed (log: $(tail -5 "$(node_log w)"))"
is_mounted "$(node_mount w)" && fail "$(node_mount w) still mounted after the watchdog check"

say "under systemd (JOURNAL_STREAM is stderr): entries on the journal's socket with fields"
# A mount namespace with a tmpfs on /run/systemd: the test's own journal
# socket, nothing of the machine's touched.
P4=$(free_port)
mkdir -p "$TEST_TMP/j"
timeout -k 5 120 unshare -m --propagation private \
	bash -c 'mount -t tmpfs clusterfs-test /run/systemd && exec python3 "$0" "$@"' \
	"$E2E_DIR/journal_check.py" "$TEST_TMP/j/stderr" -- "$CLUSTERFSD" --config /dev/null \
	--mount "$TEST_TMP/j/m" --data "$TEST_TMP/j/d" --address "127.0.0.1:$P4" --log-level debug ||
	fail "journal_check failed (stderr: $(tail -5 "$TEST_TMP/j/stderr"))"

say "the units pass systemd-analyze verify"
command -v systemd-analyze >/dev/null || skip "no systemd-analyze"
mkdir -p "$TEST_TMP/units"
# The installed paths do not exist on a build machine: verify copies that
# run the build's programs instead. The man pages are checked only where
# they are installed.
for u in clusterfsd.service clusterfs-watch.service; do
	[ -f "$UNIT_DIR/$u" ] || fail "$UNIT_DIR/$u was not generated"
	sed -E -e "s#ExecStart=[^ ]*/clusterfsd( |\$)#ExecStart=$CLUSTERFSD\\1#" \
		-e "s#=[^ ]*/clusterfs-watch #=$CLUSTERFS_WATCH #g" "$UNIT_DIR/$u" >"$TEST_TMP/units/$u"
done
grep -q '^Type=notify$' "$TEST_TMP/units/clusterfsd.service" || fail "clusterfsd.service is not Type=notify"
grep -q '^WatchdogSec=' "$TEST_TMP/units/clusterfsd.service" || fail "clusterfsd.service has no WatchdogSec"
grep -Eq "^ExecStart=$CLUSTERFSD\$" "$TEST_TMP/units/clusterfsd.service" || fail "clusterfsd.service's ExecStart has arguments"
man=no
man -w clusterfsd >/dev/null 2>&1 && man=yes
(cd "$TEST_TMP/units" && systemd-analyze verify --man="$man" ./clusterfsd.service ./clusterfs-watch.service) \
	>"$TEST_TMP/verify.out" 2>&1 || fail "systemd-analyze verify: $(cat "$TEST_TMP/verify.out")"
[ ! -s "$TEST_TMP/verify.out" ] || fail "systemd-analyze verify complained: $(cat "$TEST_TMP/verify.out")"
say "verified (man pages checked: $man)"
