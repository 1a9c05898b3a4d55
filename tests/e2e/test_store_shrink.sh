#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The store gives freed space back (issue 11): a node is filled with 60 x
# 1 MiB files, everything is deleted, and store.db shrinks back to a few MiB
# (it stayed at its largest size before: sqlite keeps freed pages). A restart
# after that finds the same (empty) tree.
source "$(dirname "$0")/lib.sh"

FILES=60
MIB=$((1 << 20))
BLOB=$TEST_TMP/blob # one write(2) of 1 MiB: one entry
head -c "$MIB" /dev/urandom >"$BLOB"
SMALL=$((8 * MIB)) # what is left of an empty store with its free-page slack

store_bytes() { stat -c %s "$(node_data n1)/store.db"; }
store_small() { (($(store_bytes) < SMALL)); }

node_start n1
M=$(node_mount n1)
mkdir "$M/fill"
say "writing $FILES x 1 MiB"
for ((i = 0; i < FILES; i++)); do
	dd if="$BLOB" of="$M/fill/f$i" bs=1M status=none || fail "write $i failed"
done
node_sync n1
full=$(store_bytes)
say "  store.db: $full bytes"
((full > FILES * MIB / 2)) || fail "store.db is only $full bytes after $FILES MiB of writes"

say "deleting everything"
rm -r "$M/fill"
echo after >"$M/after" # a change after the removal
say "store.db must shrink below $SMALL bytes"
wait_for -t 60 store_small
say "  store.db: $(store_bytes) bytes"

node_stop n1
node_restart n1
assert_not_exists "$M/fill"
assert_file_content "$M/after" $'after\n'
store_small || fail "store.db grew back to $(store_bytes) bytes after a restart"
node_stop n1
