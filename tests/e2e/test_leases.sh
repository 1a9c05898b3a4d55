#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# leases/ on three nodes (DESIGN §4, issue 5), through the mounts with shell
# tools and clusterfsctl: acquire, read back everywhere, EBUSY for another
# holder (nothing changes), renew, release, expiry committed by the leader
# and seen as IN_DELETE on every node, expiry after a kill -9 of the leader,
# multi-lease all or nothing under two competing holders, --wait, --json,
# and clusterfsctl's exit codes (1 busy, 2 usage, 3 no quorum).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_inotify.sh"

KILL9_CONTINUE=1
cluster_start 3
wait_leader "${CLUSTER[@]}"
A=$(node_mount n1) B=$(node_mount n2) C=$(node_mount n3)

# lease_field MOUNT NAME KEY: one key of a lease file.
lease_field() { sed -n "s/^$3=//p" "$1/leases/$2"; }
# ms RFC3339: milliseconds since the epoch.
ms() { python3 -c 'import sys,datetime; print(int(datetime.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()*1000))' "$1"; }

say "acquire with echo on n1; the same lease on every node"
echo 'holder=solo-1 ttl=60' >"$A/leases/net-a"
iw_sync n2 n3
for m in "$A" "$B" "$C"; do
	assert_eq solo-1 "$(lease_field "$m" net-a holder)" "holder on $m"
	assert_eq 60 "$(lease_field "$m" net-a ttl)" "ttl on $m"
done
assert_eq "$(cat "$A/leases/net-a")" "$(cat "$C/leases/net-a")" "the same lease on n1 and n3"
acq=$(ms "$(lease_field "$A" net-a acquired)") exp=$(ms "$(lease_field "$A" net-a expires)")
assert_eq 60000 $((exp - acq)) "expires - acquired"
now=$(date +%s%3N)
((acq > now - 10000 && acq <= now + 1000)) || fail "acquired $acq is not about now ($now)"
assert_match '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$' "$(lease_field "$C" net-a expires)"

say "another holder, on another node: EBUSY, nothing changes anywhere"
before=$(cat "$A/leases/net-a") rev=$(revision_of "$A/leases/net-a")
assert_cmd_fails -s 1 -e 'write error: Device or resource busy' bash -c "echo 'holder=solo-2 ttl=60' > '$B/leases/net-a'"
assert_cmd_fails -s 1 -e 'Device or resource busy' bash -c "echo 'holder=solo-2 ttl=0' > '$C/leases/net-a'"
iw_sync n1 n2 n3
for m in "$A" "$B" "$C"; do
	assert_eq "$before" "$(cat "$m/leases/net-a")" "lease on $m after EBUSY"
done
assert_eq "$rev" "$(revision_of "$A/leases/net-a")" "revision after EBUSY"

say "the same holder renews from n3: acquired kept, expires moved"
echo 'holder=solo-1 ttl=120' >"$C/leases/net-a"
iw_sync n1
assert_eq "$(lease_field "$A" net-a acquired)" "$(lease_field "$C" net-a acquired)"
assert_eq "$acq" "$(ms "$(lease_field "$A" net-a acquired)")" "acquired after renewal"
exp2=$(ms "$(lease_field "$A" net-a expires)")
((exp2 >= exp + 60000)) || fail "renewal did not move expires ($exp -> $exp2)"
# what cat shows can be written back (a renewal)
cat "$A/leases/net-a" >"$TEST_TMP/lease" && cat "$TEST_TMP/lease" >"$B/leases/net-a"

say "invalid values and names: EINVAL, nothing replicated"
for bad in 'holder=x' 'ttl=5' 'holder=x ttl=5s' 'holder=x ttl=-1' 'holder=x ttl=99999999999' \
	'holder=a b ttl=5' 'holder=x ttl=5 color=red' 'holder=x ttl=5 ttl=6' 'holder=caf\xc3\xa9 ttl=5'; do
	assert_cmd_fails -s 1 -e 'Invalid argument' bash -c "printf '$bad' > '$A/leases/fresh'"
done
assert_cmd_fails -s 1 -e 'Invalid argument' bash -c "printf 'holder=a\0 ttl=5' > '$A/leases/fresh'"
assert_cmd_fails -s 1 -e 'Invalid argument' bash -c "echo 'holder=x ttl=5' > '$A/leases/.dot'"
assert_cmd_fails -s 1 -e 'Invalid argument' bash -c "echo 'holder=x ttl=5' > '$A/leases/a:b'"
assert_fails_with EINVAL mkdir "$A/leases/dir"
assert_cmd_fails -s 1 -e 'No such file' bash -c "echo 'holder=x ttl=0' > '$A/leases/fresh'"
iw_sync n3
assert_not_exists "$C/leases/fresh"
assert_not_exists "$A/leases/fresh"
assert_fails_with EPERM rmdir "$A/leases"

say "release with ttl=0 from the holder: IN_DELETE on the other nodes, gone everywhere"
iw_start IWB "$TEST_TMP/iw-b" "$B/leases"
iw_start IWC "$TEST_TMP/iw-c" "$C/leases"
echo 'holder=solo-1 ttl=0' >"$A/leases/net-a"
iw_wait "$TEST_TMP/iw-b" "$B/leases/net-a" "^DELETE$"
iw_wait "$TEST_TMP/iw-c" "$C/leases/net-a" "^DELETE$"
for m in "$A" "$B" "$C"; do assert_not_exists "$m/leases/net-a"; done

say "expiry: the leader removes the lease; every node sees IN_DELETE"
echo 'holder=short ttl=2' >"$B/leases/short"
iw_wait "$TEST_TMP/iw-c" "$C/leases/short" "^CLOSE_WRITE,CLOSE$"
T_EXP=$(ms "$(lease_field "$C" short expires)")
iw_wait -t 10 "$TEST_TMP/iw-b" "$B/leases/short" "^DELETE$"
iw_wait -t 10 "$TEST_TMP/iw-c" "$C/leases/short" "^DELETE$"
T_SEEN=$(date +%s%3N)
((T_SEEN >= T_EXP)) || fail "the lease went at $T_SEEN, before it expired at $T_EXP"
say "expired at $T_EXP, DELETE seen $((T_SEEN - T_EXP)) ms later"
for m in "$A" "$B" "$C"; do assert_not_exists "$m/leases/short"; done
assert_match 'expire leases/short' "$(cat "$A/.cluster/log")"

say "clusterfsctl: multi-lease, all or nothing, under two competing holders"
for round in 1 2 3 4 5; do
	ctl --mount "$A" lease acquire m1 m2 m3 --holder alice --ttl 30 >"$TEST_TMP/ra" 2>&1 &
	pa=$!
	ctl --mount "$B" lease acquire m3 m2 m1 --holder bob --ttl 30 >"$TEST_TMP/rb" 2>&1 &
	pb=$!
	ra=0 rb=0
	wait_child "$pa" 60 "round $round: alice's lease acquire" || ra=$?
	wait_child "$pb" 60 "round $round: bob's lease acquire" || rb=$?
	[ $((ra + rb)) = 1 ] || fail "round $round: exit statuses $ra and $rb; exactly one must win ($(cat "$TEST_TMP/ra" "$TEST_TMP/rb"))"
	winner=alice loser_out=$TEST_TMP/rb
	[ "$ra" = 0 ] || winner=bob loser_out=$TEST_TMP/ra
	iw_sync n3
	for l in m1 m2 m3; do
		assert_eq "$winner" "$(lease_field "$C" "$l" holder)" "round $round: holder of $l"
	done
	assert_match "is held by $winner until" "$(cat "$loser_out")"
	for l in m1 m2 m3; do
		assert_cmd_ok ctl --mount "$C" lease release "$l" --holder "$winner"
	done
done
iw_sync n1 n2
for l in m1 m2 m3; do assert_not_exists "$A/leases/$l"; done

say "clusterfsctl: busy report, --json, --wait, exit codes"
assert_cmd_ok ctl --mount "$A" lease acquire x y --holder alice --ttl 30
assert_cmd_fails -s 1 -e 'lease y is held by alice until .* \(retry in [0-9]+ s\)' \
	ctl --mount "$B" lease acquire y z --holder bob --ttl 30
assert_not_exists "$B/leases/z"
json=$(ctl --mount "$B" --json lease acquire y --holder bob --ttl 30 || true)
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["acquired"] is False and d["busy"][0]["holder"]=="alice" and d["busy"][0]["name"]=="y", d' "$json" ||
	fail "lease --json: $json"
assert_cmd_fails -s 1 -e 'gave up after 0.5 s' ctl --mount "$B" lease acquire y --holder bob --ttl 30 --wait --timeout 0.5
ctl --mount "$B" lease acquire y --holder bob --ttl 30 --wait --timeout 20 >"$TEST_TMP/wait.out" 2>&1 &
pw=$!
EXTRA_PIDS+=("$pw")
sleep 0.3
pid_alive "$pw" || fail "lease acquire --wait returned while the lease was held: $(cat "$TEST_TMP/wait.out")"
assert_cmd_ok ctl --mount "$C" lease release y --holder alice
wait_exit "$pw" 10
assert_eq 0 "$EXIT_STATUS" "lease acquire --wait after the release ($(cat "$TEST_TMP/wait.out"))"
assert_match 'lease y held by bob until' "$(cat "$TEST_TMP/wait.out")"
assert_cmd_fails -s 1 -e 'held by bob' ctl --mount "$A" lease release y --holder alice
out=$(ctl --mount "$A" lease release never-held --holder alice) || fail "release of a free lease"
assert_match 'was not held' "$out"
assert_cmd_fails -s 2 ctl --mount "$A" lease acquire x --holder alice
assert_cmd_fails -s 2 ctl --mount "$A" lease acquire x --ttl 5
assert_cmd_fails -s 2 ctl --mount "$A" lease acquire --holder a --ttl 5
assert_cmd_fails -s 2 ctl --mount "$A" lease acquire x --holder a --ttl 5s
assert_cmd_fails -s 2 ctl --mount "$A" lease grab x --holder a
assert_cmd_fails -s 2 -e 'not a lease name' ctl --mount "$A" lease acquire 'bad/name' --holder a --ttl 5
assert_cmd_fails -s 2 -e 'not a lease name' ctl --mount "$A" lease acquire ok 'bad name' --holder a --ttl 5
assert_cmd_fails -s 2 -e 'not a lease name' ctl --mount "$A" lease release ../routing/current --holder a
assert_cmd_fails -s 2 -e 'not a holder' ctl --mount "$A" lease acquire ok --holder "$(printf 'h%.0s' {1..200})" --ttl 5
assert_cmd_fails -s 2 ctl --mount "$A" lease acquire ok --holder a --ttl 5 --wait --timeout nan
assert_fails_with EINVAL setxattr "$A/leases" user.clusterfs.acquire 'holder=alice ttl=0 names=x'
assert_eq alice "$(lease_field "$A" x holder)" "x after a refused multi-lease release"
assert_fails_with EINVAL setxattr "$A/leases" user.clusterfs.acquire $'holder=a ttl=5 names=q\x01'
assert_fails_with ENOENT setxattr "$A/leases" user.clusterfs.acquire 'holder=a ttl=0 names=q'
say "mv and ln inside leases/ would bypass the holder check: EPERM"
echo 'holder=one ttl=60' >"$A/leases/mine"
echo 'holder=two ttl=60' >"$A/leases/theirs"
assert_fails_with EPERM rename "$A/leases/mine" "$A/leases/theirs"
assert_fails_with EPERM rename "$A/leases/mine" "$A/leases/fresh-name"
assert_fails_with EPERM link "$A/leases/mine" "$A/leases/copy"
assert_eq two "$(lease_field "$A" theirs holder)" "holder of theirs after mv attempts"
rm "$A/leases/mine" "$A/leases/theirs"
iw_sync n3
assert_not_exists "$C/leases/ok"
assert_fails_with EINVAL setxattr "$A/routing" user.clusterfs.acquire 'holder=a ttl=5 names=q'

say "expiry after kill -9 of the leader: the new leader commits it"
wait_leader "${CLUSTER[@]}"
OLD=$LEADER
SURV=("${FOLLOWERS[@]}")
M1=$(node_mount "${SURV[0]}") M2=$(node_mount "${SURV[1]}")
echo 'holder=dies ttl=3' >"$M1/leases/orphaned"
iw_sync "${SURV[@]}"
assert_exists "$M2/leases/orphaned"
node_kill9 "$OLD"
wait_leader -t 20 "${SURV[@]}"
say "new leader ${LEADER}"
wait_for -t 20 test ! -e "$M1/leases/orphaned"
wait_for -t 10 test ! -e "$M2/leases/orphaned"

say "no quorum: clusterfsctl exits 3"
node_stop "${FOLLOWERS[0]}"
LAST=$LEADER
ML=$(node_mount "$LAST")
assert_cmd_fails -s 3 ctl --mount "$ML" lease acquire q --holder a --ttl 5
assert_cmd_fails -s 3 ctl --mount "$ML" status
assert_cmd_fails -s 3 ctl --mount "$ML" wait --timeout 0.5
say "ok"
