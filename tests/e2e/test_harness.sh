#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The harness itself (lib.sh): a failed assertion must end a test with
# status 1 and a FAIL line that says what differed, whatever the values.
# A mismatch of two large values once ended test_corrupt_store.sh with
# SIGPIPE (status 141, pipefail) inside show(), before its FAIL line.
source "$(dirname "$0")/lib.sh"

# expect_fail_line SCRIPT: SCRIPT, run by a fresh bash that sources lib.sh
# (with errexit of its own, as in a test), exits 1 with a FAIL line.
expect_fail_line() {
	local rc=0 err=$TEST_TMP/child.err
	E2E_DIR=$E2E_DIR \
		timeout -k 5 60 bash -c "source \"\$E2E_DIR/lib.sh\"; $1" child 2>"$err" || rc=$?
	[ "$rc" = 1 ] || fail "[$1] exited with $rc, expected 1: $(tail -c 600 "$err")"
	grep -q ': FAIL: ' "$err" || fail "[$1] printed no FAIL line: $(tail -c 600 "$err")"
	say "ok: $1 ($(wc -c <"$err") bytes of report)"
}

expect_fail_line 'big=$(head -c 49152 /dev/urandom | base64 -w 0); assert_eq "$big" "${big}b" "a large value"'
expect_fail_line 'assert_eq "x" "y" "a small value"'
f=$TEST_TMP/nl
printf 'last byte a newline\n' >"$f"
expect_fail_line "assert_file_content $f 'last byte a newline'"
