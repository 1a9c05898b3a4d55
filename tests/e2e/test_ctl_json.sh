#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# clusterfsctl --json (DESIGN §2; issue 14 part 5): every command and every
# error prints exactly one valid JSON document on stdout (one line, ASCII),
# with "error" (a string) exactly when the exit status is not 0, and the
# types of docs/operations.md (healthy and quorum booleans, term and ids
# integers, no leader null). Run against a real three-node cluster: status,
# wait, members, status --cluster, sync, join-token, lease acquire (free,
# busy, --wait that gives up) and release, remove of an unknown id, backup
# (good and bad path), restore, usage errors, --help, --version; a mount
# that does not exist, and one whose path holds '"', '\', a newline, a byte
# that is not UTF-8 and a non-ASCII letter; then a node without quorum.
# shellcheck disable=SC2016 # the python expressions are not shell
source "$(dirname "$0")/lib.sh"

# jctl WANT EXPR ARGS...: clusterfsctl --json ARGS exits with WANT ("!0":
# any failure); its stdout is one line holding one JSON document d, with
# "error" a string iff the exit status is not 0, and the python expression
# EXPR holds for d (P is the path given as $JPATH, as the tool shows it).
JPATH=""
jctl() {
	local want=$1 expr=$2 rc=0 out=$TEST_TMP/jctl.out err=$TEST_TMP/jctl.err
	shift 2
	mount_timeout "$CLUSTERFSCTL" --json "$@" >"$out" 2>"$err" </dev/null || rc=$?
	case $want in
	'!0') [ "$rc" -ne 0 ] || fail "clusterfsctl --json $*: exit 0, expected a failure (stdout [$(cat "$out")])" ;;
	*) [ "$rc" -eq "$want" ] || fail "clusterfsctl --json $*: exit $rc, expected $want (stdout [$(cat "$out")] stderr [$(cat "$err")])" ;;
	esac
	python3 - "$out" "$rc" "$expr" "$JPATH" <<'EOF' || fail "clusterfsctl --json $*: stdout [$(cat -A "$out")] stderr [$(cat "$err")]"
import json, os, sys
raw = open(sys.argv[1], "rb").read()
rc, expr = int(sys.argv[2]), sys.argv[3]
text = raw.decode("ascii")  # ENSURE_ASCII: anything else is a bug
assert text.endswith("\n") and text.count("\n") == 1, "not one line: %r" % text
d = json.loads(text)  # "Extra data" if there are two documents
if rc != 0:
    assert isinstance(d, dict) and isinstance(d.get("error"), str), "no error: %r" % d
else:
    assert not (isinstance(d, dict) and "error" in d), "error with exit 0: %r" % d
P = os.fsencode(sys.argv[4]).decode("utf-8", "replace")
assert eval("(" + expr + ")", {"d": d, "P": P}), "%s does not hold for %r" % (expr, d)
EOF
}

say "three nodes"
cluster_start 3
wait_leader n1 n2 n3
M=$(node_mount "$LEADER")
MF=$(node_mount "${FOLLOWERS[0]}")
INT='(lambda v: type(v) is int)'
# (each member reports its state every second: until then it shows unknown)
all_heard() {
	mount_timeout "$CLUSTERFSCTL" --mount "$1" status --cluster >/dev/null 2>&1
}
wait_for -t 20 all_heard "$M"
wait_for -t 20 all_heard "$MF"

say "status, wait, members, status --cluster, sync, join-token"
for m in "$M" "$MF"; do
	jctl 0 "d['healthy'] is True and d['quorum'] is True and $INT(d['term']) and d['term'] > 0
		and $INT(d['id']) and $INT(d['leader']) and isinstance(d['leader_address'], str)
		and all($INT(d[k]) for k in ('commit_index', 'applied_index', 'last_index', 'voters'))
		and d['phase'] == 'member' and d['role'] == 'voter'" --mount "$m" status
	jctl 0 "d['healthy'] is True and d['quorum'] is True and $INT(d['term'])" \
		--mount "$m" wait --timeout 10
	jctl 0 "len(d) == 3 and all($INT(x['id']) and x['reachable'] in (True, False, None)
		and type(x['leader']) is bool and x['role'] == 'voter' for x in d)
		and sum(x['leader'] for x in d) == 1" --mount "$m" members
	jctl 0 "d['healthy'] is True and $INT(d['node_id']) and $INT(d['leader'])
		and len(d['members']) == 3 and all(x['healthy'] is True for x in d['members'])
		and all($INT(x['term']) for x in d['members'])" --mount "$m" status --cluster
	jctl 0 "d['synced'] is True and $INT(d['applied_index'])" --mount "$m" sync
	jctl 0 "d['token'].startswith('cfs1:') and '\\n' not in d['token']" --mount "$m" join-token
done

say "lease acquire (free, busy, --wait giving up) and release"
jctl 0 "d['acquired'] is True and d['holder'] == 'alice' and d['leases'][0]['name'] == 'x'
	and isinstance(d['leases'][0]['expires'], str)" --mount "$M" lease acquire x --holder alice --ttl 30
jctl 1 "d['acquired'] is False and d['busy'][0]['holder'] == 'alice'
	and type(d['busy'][0]['retry_in']) in (int, float) and 'held by alice' in d['error']" \
	--mount "$M" lease acquire x y --holder bob --ttl 30
jctl 1 "d['acquired'] is False and d['error'] == 'gave up after 0.3 s' and len(d['busy']) == 1" \
	--mount "$M" lease acquire x --holder bob --ttl 30 --wait --timeout 0.3
jctl 1 "d['released'] is False and d['busy'][0]['holder'] == 'alice'" \
	--mount "$M" lease release x --holder bob
jctl 0 "d == {'released': True, 'name': 'x', 'was_held': True}" --mount "$M" lease release x --holder alice
jctl 0 "d == {'released': True, 'name': 'x', 'was_held': False}" --mount "$M" lease release x --holder alice
jctl 2 "d['usage'] is True and 'not a lease name' in d['error']" \
	--mount "$M" lease acquire ../x --holder alice --ttl 5
jctl 2 "d['usage'] is True" --mount "$M" lease acquire x --holder alice
jctl 2 "d['usage'] is True" --mount "$M" lease grab x --holder alice
jctl 2 "d['usage'] is True" --mount "$M" lease

say "remove of an unknown id, backup and restore"
jctl '!0' "'could not remove node 4242' in d['error'] and d['removed'] is False and d['id'] == 4242" \
	--mount "$M" remove 4242
jctl 2 "d['usage'] is True" --mount "$M" remove abc
jctl 1 "'$TEST_TMP/no/such/dir/b.db' in d['error']" --mount "$M" backup "$TEST_TMP/no/such/dir/b.db"
jctl 0 "d['backup'] == '$TEST_TMP/b.db' and $INT(d['bytes']) and d['bytes'] > 0" \
	--mount "$M" backup "$TEST_TMP/b.db"
jctl 0 "d['restored'] is True and $INT(d['node_id'])" restore "$TEST_TMP/b.db" --data "$TEST_TMP/r"
jctl 1 "'already holds a node' in d['error']" restore "$TEST_TMP/b.db" --data "$TEST_TMP/r"
jctl 2 "d['usage'] is True" restore "$TEST_TMP/b.db"

say "usage errors, --help, --version"
jctl 2 "d['usage'] is True and 'bogus' in d['error']" --mount "$M" bogus
jctl 2 "d['usage'] is True" --mount "$M" status extra
jctl 2 "d['usage'] is True" --mount "$M" members --cluster
jctl 2 "d['usage'] is True" --mount "$M" wait --timeout soon
jctl 2 "d['usage'] is True" --no-such-option status
jctl 2 "d['usage'] is True and d['error'] == 'no command given'"
jctl 0 "'usage: clusterfsctl' in d['help']" --help
jctl 0 "isinstance(d['version'], str)" --version
# --json after the command, and given twice, is the same
out=$(ctl --mount "$M" status --json --json) || fail "status --json --json"
python3 -c 'import json, sys; assert json.loads(sys.argv[1])["healthy"] is True' "$out" ||
	fail "status --json after the command: [$out]"

say "a mount that does not exist, and one with '\"', '\\', a newline, a non-UTF-8 byte and 'é'"
NOMOUNT=$TEST_TMP/not-mounted
mkdir "$NOMOUNT"
W=$(printf '%s/x"q\\y\nz\377\303\251' "$TEST_TMP")
for JPATH in "$NOMOUNT" "$W"; do
	jctl 3 "d['healthy'] is False and d['error'].startswith(P + ' is not mounted')" --mount "$JPATH" status
	jctl 3 "d['healthy'] is False and P in d['error']" --mount "$JPATH" wait --timeout 0.2
	jctl 3 "d['healthy'] is False and P in d['error']" --mount "$JPATH" status --cluster
	jctl '!0' "P in d['error']" --mount "$JPATH" members
	jctl 3 "d['synced'] is False and P in d['error']" --mount "$JPATH" sync
	jctl 1 "P in d['error']" --mount "$JPATH" join-token
	jctl 1 "P in d['error']" --mount "$JPATH" remove 5
	jctl 1 "P in d['error']" --mount "$JPATH" backup "$TEST_TMP/b2.db"
	jctl '!0' "d['acquired'] is False" --mount "$JPATH" lease acquire x --holder a --ttl 5
	jctl 3 "d['released'] is False and P in d['error']" --mount "$JPATH" lease release x --holder a
done
JPATH=""

say "a node without quorum: status and status --cluster are still one document each"
for n in "${FOLLOWERS[@]}"; do
	node_stop "$n"
done
no_quorum() { ! mount_timeout "$CLUSTERFSCTL" --mount "$M" status >/dev/null 2>&1; }
wait_for -t 30 no_quorum
jctl 3 "d['healthy'] is False and d['quorum'] in (False, None) and isinstance(d['error'], str)
	and $INT(d['term'])" --mount "$M" status
jctl 3 "d['healthy'] is False and len(d['members']) == 3" --mount "$M" status --cluster
jctl 3 "d['healthy'] is False and 'not ready' in d['error']" --mount "$M" wait --timeout 0.3
