#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The harness itself (lib.sh): a failed assertion must end a test with
# status 1 and a FAIL line, and say where the values differ, whatever they
# are.
# A mismatch of two large values once ended test_corrupt_store.sh with
# SIGPIPE (status 141, pipefail) inside show(), before its FAIL line.
source "$(dirname "$0")/lib.sh"

# expect_fail_line SCRIPT SAYS: SCRIPT, run by a fresh bash that sources
# lib.sh (with errexit of its own, as in a test), exits 1 with a FAIL line,
# and its report has the line SAYS (where the values differ), and stays
# short (values are cut to 200 characters).
expect_fail_line() {
	local rc=0 err=$TEST_TMP/child.err
	E2E_DIR=$E2E_DIR \
		timeout -k 5 60 bash -c "source \"\$E2E_DIR/lib.sh\"; $1" child 2>"$err" || rc=$?
	[ "$rc" = 1 ] || fail "[$1] exited with $rc, expected 1: $(tail -c 600 "$err")"
	grep -q ': FAIL: ' "$err" || fail "[$1] printed no FAIL line: $(tail -c 600 "$err")"
	grep -qxF "$2" "$err" || fail "[$1] does not say [$2]: $(tail -c 1200 "$err")"
	(($(wc -c <"$err") < 4000)) || fail "[$1] wrote a report of $(wc -c <"$err") bytes"
	say "ok: $1 ($(wc -c <"$err") bytes of report)"
}

expect_fail_line 'big=$(head -c 49152 /dev/urandom | base64 -w 0); assert_eq "$big" "${big}b" "a large value"' \
	'expected 65536 bytes, got 65537; first difference at byte 65537'
expect_fail_line 'assert_eq "x" "y" "a small value"' \
	'expected 1 bytes, got 1; first difference at byte 1'
f=$TEST_TMP/nl
printf 'last byte a newline\n' >"$f"
expect_fail_line "assert_file_content $f 'last byte a newline'" \
	'expected 19 bytes, got 20; first difference at byte 20'
