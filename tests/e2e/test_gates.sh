#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# gates/feature.NAME (DESIGN §4): values normalized to true/false, bad values
# and bad names refused with EINVAL without leaving anything behind, rm unsets.
# shellcheck disable=SC2012 # listing with ls is what these tests exercise
# shellcheck disable=SC2016 # bash -c scripts take their values as "$1"...
source "$(dirname "$0")/lib.sh"

node_start a
M=$(node_mount a)
G=$M/gates

# gate_names: the names under gates/, space separated.
gate_names() { ls -A "$G" | tr '\n' ' ' | sed 's/ $//'; }

say "echo yes reads back true"
echo yes >"$G/feature.multi-region"
assert_file_content "$G/feature.multi-region" $'true\n'
assert_eq 5 "$(stat -c %s "$G/feature.multi-region")" "size of a true gate"

say "every accepted spelling normalizes"
for v in true 1 yes on TRUE True YES On ON ' yes ' $'\tOn\t'; do
	printf '%s\n' "$v" >"$G/feature.spell"
	assert_file_content "$G/feature.spell" $'true\n'
	echo false >"$G/feature.spell"
	assert_file_content "$G/feature.spell" $'false\n'
done
for v in false 0 no off FALSE False NO Off OFF '  off  '; do
	echo true >"$G/feature.spell"
	printf '%s\n' "$v" >"$G/feature.spell"
	assert_file_content "$G/feature.spell" $'false\n'
done
printf 'on' >"$G/feature.spell" # no trailing newline
assert_file_content "$G/feature.spell" $'true\n'
# A new gate, every spelling (the create path is not the overwrite path).
i=0
for v in true 1 yes on TRUE Yes; do
	i=$((i + 1))
	echo "$v" >"$G/feature.new-t$i"
	assert_file_content "$G/feature.new-t$i" $'true\n'
done
for v in false 0 no off FALSE oFF; do
	i=$((i + 1))
	echo "$v" >"$G/feature.new-f$i"
	assert_file_content "$G/feature.new-f$i" $'false\n'
done
rm -f "$G"/feature.new-*

say "a bad value on an existing gate: write error, exit 1, value unchanged"
echo on >"$G/feature.x"
rev=$(revision_of "$G/feature.x")
for bad in maybe 2 tru yess 'true false' '' enabled; do
	assert_cmd_fails -s 1 -e 'write error: Invalid argument' bash -c 'echo "$1" >"$2"' _ "$bad" "$G/feature.x"
	assert_file_content "$G/feature.x" $'true\n'
done
assert_fails_with EINVAL write "$G/feature.x" wronly,trunc maybe
assert_fails_with EINVAL write "$G/feature.x" wronly,append yes
assert_file_content "$G/feature.x" $'true\n'
assert_eq "$rev" "$(revision_of "$G/feature.x")" "revision after refused writes"

say "a bad value on a new name leaves no file behind"
assert_cmd_fails -s 1 -e 'write error: Invalid argument' bash -c 'echo maybe >"$1"' _ "$G/feature.newbad"
assert_not_exists "$G/feature.newbad"
assert_fails_with EINVAL write "$G/feature.newbad2" wronly,creat,trunc perhaps
assert_not_exists "$G/feature.newbad2"
# An empty value is not a value either: nothing may stay behind.
touch "$G/feature.empty" 2>/dev/null || true
assert_not_exists "$G/feature.empty"
assert_eq "feature.multi-region feature.spell feature.x" "$(gate_names)" "gates after refused creates"

say "bad names: EINVAL, nothing created"
for name in foo feature. feature.UPPER feature.-x feature..x feature.a_b 'feature.a b' \
	Feature.x feature.é .hidden; do
	assert_fails_with EINVAL write "$G/$name" wronly,creat,trunc true
	assert_not_exists "$G/$name"
done
assert_cmd_fails -e 'Invalid argument' bash -c 'echo true >"$1"' _ "$G/feature.UPPER"
assert_cmd_fails -e 'Invalid argument' touch "$G/foo"
assert_not_exists "$G/foo"
assert_not_exists "$G/feature.UPPER"

say "only regular files in gates/: mkdir, symlink, link, mknod give EINVAL or EXDEV"
assert_fails_with EINVAL mkdir "$G/feature.dir"
assert_cmd_fails -e 'Invalid argument' mkdir "$G/sub"
assert_fails_with EINVAL symlink true "$G/feature.link"
assert_fails_with EPERM mkfifo "$G/feature.fifo"
echo yes >"$M/outside"
assert_fails_with EXDEV link "$M/outside" "$G/feature.hard"
assert_eq "feature.multi-region feature.spell feature.x" "$(gate_names)" "gates after refused objects"

say "dotted names are allowed"
echo 1 >"$G/feature.storage.ceph"
assert_file_content "$G/feature.storage.ceph" $'true\n'
echo off >"$G/feature.0-a.b-9"
assert_file_content "$G/feature.0-a.b-9" $'false\n'

say "rename inside gates/ validates the new name"
echo yes >"$G/feature.old"
mv "$G/feature.old" "$G/feature.renamed"
assert_file_content "$G/feature.renamed" $'true\n'
assert_not_exists "$G/feature.old"
assert_fails_with EINVAL rename "$G/feature.renamed" "$G/Bad_Name"
assert_file_content "$G/feature.renamed" $'true\n'

say "mv from outside copies and validates"
echo yes >"$M/value"
mv "$M/value" "$G/feature.moved"
assert_file_content "$G/feature.moved" $'true\n'
assert_not_exists "$M/value"
echo maybe >"$M/badvalue"
assert_cmd_fails mv "$M/badvalue" "$G/feature.badmove"
assert_not_exists "$G/feature.badmove"
assert_file_content "$M/badvalue" $'maybe\n'
assert_fails_with EXDEV rename "$G/feature.moved" "$M/out-of-gates"
assert_file_content "$G/feature.moved" $'true\n'

say "rm unsets"
rm "$G/feature.x"
assert_not_exists "$G/feature.x"
assert_cmd_fails -e 'No such file' cat "$G/feature.x"
echo no >"$G/feature.x"
assert_file_content "$G/feature.x" $'false\n'

say "a no-op rewrite of a gate (another spelling of the same value) keeps its revision"
echo true >"$G/feature.same"
rev=$(revision_of "$G/feature.same")
echo yes >"$G/feature.same"
echo ON >"$G/feature.same"
assert_file_content "$G/feature.same" $'true\n'
assert_eq "$rev" "$(revision_of "$G/feature.same")" "revision of feature.same after equivalent writes"
echo no >"$G/feature.same"
rev2=$(revision_of "$G/feature.same")
((rev2 > rev)) || fail "revision did not grow on a real change ($rev -> $rev2)"

say "gates survive a restart"
node_stop a
node_restart a
assert_file_content "$G/feature.multi-region" $'true\n'
assert_file_content "$G/feature.storage.ceph" $'true\n'
assert_file_content "$G/feature.x" $'false\n'
assert_file_content "$G/feature.same" $'false\n'
node_stop a
