#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The cluster key never on a command line (DESIGN §2, §7; issue 14 part 2).
# A node joins with --join-token-file FILE, with --join-token-file - (the
# token on standard input), with CLUSTERFS_JOIN_TOKEN, and with --join-token
# TOKEN on argv: that one works but warns, and the running daemon's
# /proc/PID/cmdline no longer holds the key; the environment variable is
# gone from /proc/PID/environ too. Bad token files (open to others, missing,
# empty, two lines, not a token, a directory) and two token flags at once
# are refused with a clear message and exit status 2, without echoing the
# key and without leaving a data directory behind: the same node then
# joins with a good file.
source "$(dirname "$0")/lib.sh"

say "n1 bootstraps; its join token"
node_start n1
M1=$(node_mount n1)
token=$(ctl --mount "$M1" join-token)
key=${token#cfs1:}
key=${key%%@*}
assert_match '^[0-9a-f]{64}$' "$key" "the key in the join token"

# no_key_in FILE WHAT: FILE (a /proc file, NULs and all) does not hold the key.
no_key_in() {
	if tr '\0' ' ' <"$1" | grep -q "$key"; then
		fail "$2 shows the cluster key: $(tr '\0' ' ' <"$1")"
	fi
}

# refused WHAT STDERR_REGEX ARGS...: clusterfsd with ARGS (as node n2) exits 2,
# says STDERR_REGEX, never shows the key, and leaves no data directory.
refused() {
	local what=$1 re=$2 rc=0 err
	shift 2
	err=$(timeout -k 5 30 "$CLUSTERFSD" --data "$(node_data n2)" --mount "$(node_mount n2)" \
		--address "127.0.0.1:$(free_port)" "$@" 2>&1 >/dev/null </dev/null) || rc=$?
	assert_eq 2 "$rc" "exit status of clusterfsd with $what (stderr [$err])"
	[[ $err =~ $re ]] || fail "clusterfsd with $what: stderr should match /$re/, got [$err]"
	[[ $err != *"$key"* ]] || fail "clusterfsd with $what printed the key: [$err]"
	[ ! -e "$(node_data n2)" ] || fail "clusterfsd with $what left $(node_data n2) behind: $(ls -la "$(node_data n2)")"
	say "refused, $what: $err"
}

say "bad token files are refused, nothing is left behind"
mkdir -p "$(node_mount n2)"
T=$TEST_TMP/tokens
mkdir -m 700 "$T"
printf '%s\n' "$token" >"$T/open"
chmod 644 "$T/open"
refused "a token file mode 0644" 'open to group or others \(mode 0644\).*chmod 600' \
	--join-token-file "$T/open"
chmod 640 "$T/open"
refused "a token file mode 0640" 'open to group or others \(mode 0640\)' --join-token-file "$T/open"
refused "a missing token file" "cannot open $T/missing: No such file or directory" \
	--join-token-file "$T/missing"
install -m 600 /dev/null "$T/empty"
refused "an empty token file" 'is empty' --join-token-file "$T/empty"
printf '\n  \n' >"$T/blank"
chmod 600 "$T/blank"
refused "a token file of blank lines" 'is empty' --join-token-file "$T/blank"
printf '%s\n%s\n' "$token" "$token" >"$T/two"
chmod 600 "$T/two"
refused "a token file of two lines" 'more than one line' --join-token-file "$T/two"
printf 'cfs1:%s\n' "$key" >"$T/noat"
chmod 600 "$T/noat"
refused "a token without members" "the line in $T/noat is not a join token" \
	--join-token-file "$T/noat"
printf 'hello\n' >"$T/junk"
chmod 600 "$T/junk"
refused "a file that is no token" 'is not a join token' --join-token-file "$T/junk"
refused "a directory as token file" 'is a directory' --join-token-file "$T"
printf '%s\n' "$token" >"$T/good"
chmod 600 "$T/good"
refused "--join-token and --join-token-file" 'not both' \
	--join-token-file "$T/good" --join-token "$token"
CLUSTERFS_JOIN_TOKEN=nonsense refused "a bad CLUSTERFS_JOIN_TOKEN" \
	'CLUSTERFS_JOIN_TOKEN is not a join token'

say "n2 joins with --join-token-file (trailing blanks trimmed)"
printf '%s  \n\n' "$token" >"$T/good"
node_start n2 --join-token-file "$T/good"
no_key_in "/proc/$(node_pid n2)/cmdline" "n2's cmdline"

say "n3 joins with --join-token-file - (the token on standard input)"
cat >"$TEST_TMP/stdin_from" <<'EOF'
#!/bin/sh
# stdin_from FILE CMD ARGS...: CMD with its standard input from FILE.
f=$1
shift
exec "$@" <"$f"
EOF
chmod +x "$TEST_TMP/stdin_from"
NODE_WRAP[n3]="$TEST_TMP/stdin_from $T/good"
node_start n3 --join-token-file -
no_key_in "/proc/$(node_pid n3)/cmdline" "n3's cmdline"

say "n4 joins with CLUSTERFS_JOIN_TOKEN; the daemon's environment no longer holds it"
CLUSTERFS_JOIN_TOKEN=$token node_start n4
no_key_in "/proc/$(node_pid n4)/environ" "n4's environment"
no_key_in "/proc/$(node_pid n4)/cmdline" "n4's cmdline"

say "n5 joins with --join-token on argv: a warning, and the key wiped from its cmdline"
node_start n5 --join-token "$token"
grep -q 'join-token puts the cluster key on the command line' "$(node_log n5)" ||
	fail "no warning about --join-token in n5's log: $(tail -n 20 "$(node_log n5)")"
no_key_in "/proc/$(node_pid n5)/cmdline" "n5's cmdline (--join-token TOKEN)"
grep -q -- '--join-token' "/proc/$(node_pid n5)/cmdline" ||
	fail "n5's cmdline lost the flag itself: $(tr '\0' ' ' <"/proc/$(node_pid n5)/cmdline")"

say "every node is a member and sees a write made on n1"
for n in n2 n3 n4 n5; do
	assert_eq member "$(status_field "$n" phase)" "phase of $n"
done
echo joined >"$M1/joined"
for n in n2 n3 n4 n5; do
	node_sync "$n" || fail "clusterfsctl sync on $n failed"
	assert_eq joined "$(mount_timeout cat "$(node_mount "$n")/joined")" "joined on $n"
done
assert_eq 5 "$(grep -c . "$M1/.cluster/members")" "members in n1's .cluster/members"
