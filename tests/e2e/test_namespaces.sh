#!/usr/bin/env bash
# Typed namespaces peers/ and config/, and .cluster/log, on three nodes
# (DESIGN §4): accepted values are normalized and replicated, rejected ones
# fail in write(2) and change nothing anywhere.
source "$(dirname "$0")/lib.sh"

node_start a
KEY=$(node_data a)/cluster.key
node_start b --join "$(node_addr a)" --cluster-key "$KEY"
node_start c --join "$(node_addr a)" --cluster-key "$KEY"
A=$(node_mount a) B=$(node_mount b) C=$(node_mount c)
sync_c() { ctl --mount "$C" sync; }

say "peers/: a valid peer, normalized, 0600, everywhere"
echo 'address=10.0.0.5:443 type=cloud enabled=yes oauth2.client_id=abc' >"$B/peers/cloud-1"
sync_c
assert_file_content "$C/peers/cloud-1" $'address=10.0.0.5:443\ntype=cloud\nenabled=true\noauth2.client_id=abc\n'
assert_eq 600 "$(stat -c %a "$C/peers/cloud-1")" "mode of a new peer"
printf 'address=[2001:db8::1]:7000\n\n  type=lan\n' >"$A/peers/v6"
printf 'address=gw.example.net:8443\n' >"$A/peers/by-name"
sync_c
assert_file_content "$C/peers/v6" $'address=[2001:db8::1]:7000\ntype=lan\n'
assert_file_content "$C/peers/by-name" $'address=gw.example.net:8443\n'

say "peers/: invalid values fail in write(2) and change nothing"
for bad in 'type=lan' 'address=10.0.0.5' 'address=10.0.0.300:1' 'address=h:1 type=wan' \
	'address=h:1 enabled=maybe' 'address=h:1 address=h:2' 'address=h:1 just-a-word' \
	'address=2001:db8::1:80'; do
	rev=$(revision_of "$A/peers/cloud-1")
	assert_cmd_fails -s 1 -e 'write error: Invalid argument' bash -c "echo '$bad' > '$A/peers/cloud-1'"
	assert_cmd_fails -s 1 -e 'write error: Invalid argument' bash -c "echo '$bad' > '$A/peers/new-peer'"
	assert_eq "$rev" "$(revision_of "$A/peers/cloud-1")" "revision after '$bad'"
done
sync_c
assert_file_content "$C/peers/cloud-1" $'address=10.0.0.5:443\ntype=cloud\nenabled=true\noauth2.client_id=abc\n'
assert_not_exists "$A/peers/new-peer"
assert_not_exists "$C/peers/new-peer"
assert_fails_with EINVAL mkdir "$A/peers/dir"
assert_fails_with EINVAL symlink x "$A/peers/link"
assert_cmd_fails -s 1 bash -c "echo address=h:1 > '$A/peers/.hidden'"
rm "$B/peers/by-name"
sync_c
assert_not_exists "$C/peers/by-name"

say "config/: deployment.type is local or maas; other keys are free-form"
echo ' maas ' >"$A/config/deployment.type"
sync_c
assert_file_content "$C/config/deployment.type" $'maas\n'
assert_cmd_fails -s 1 -e 'write error: Invalid argument' bash -c "echo cloud > '$B/config/deployment.type'"
assert_cmd_fails -s 1 -e 'write error: Invalid argument' bash -c "echo MAAS > '$B/config/deployment.type'"
echo local >"$B/config/deployment.type"
echo 'anything goes here' >"$B/config/site.name"
sync_c
assert_file_content "$C/config/deployment.type" $'local\n'
assert_file_content "$C/config/site.name" $'anything goes here\n'

say ".cluster/log: who changed what, the same on every node"
echo on >"$A/gates/feature.logged"
sync_c
log=$(cat "$C/.cluster/log")
id_a=$(cat "$A/.cluster/self")
id_b=$(cat "$B/.cluster/self")
assert_match "node=$id_b uid=0 create peers/cloud-1" "$log" "log line for B's peer"
assert_match "node=$id_a uid=0 create gates/feature.logged" "$log" "log line for A's gate"
assert_match "node=$id_b uid=0 unlink peers/by-name" "$log" "log line for B's rm"
assert_match '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z [0-9]+ node=' "$log" "log line format"
ctl --mount "$A" sync
assert_eq "$(grep -c . <<<"$log")" "$(head -n "$(grep -c . <<<"$log")" "$A/.cluster/log" | grep -c .)" "log length on A"
assert_eq "$(head -n 5 "$C/.cluster/log")" "$(head -n 5 "$A/.cluster/log")" "the same log on A and C"
if grep -q 'write error\|maybe\|cloud$' <<<"$(grep 'deployment.type' <<<"$log" | tail -n 1)"; then
	fail "a refused value appears in the log"
fi

say "routing/: cut-overs on A while readers on B and C read whole tables"
# Each table is 200 lines "vshard K -> group VERSION" and an "end VERSION"
# line. The writer on A publishes versions by rename (write table.new, mv it
# over table) and by symlink swap (current -> vN directory); the readers on
# B and C read continuously and every read must be one complete version.
# (The readers pause 0.3 ms between reads: two readers spinning flat out on
# this 2-core machine starved the daemons into multi-second commit stalls.)
mk_table() { # VERSION DEST: written in one write(2), as cp or an editor would
	local k t=""
	for ((k = 0; k < 200; k++)); do t+="vshard $k -> group $1"$'\n'; done
	printf '%s' "${t}end $1"$'\n' >"$TEST_TMP/table"
	cat "$TEST_TMP/table" >"$2"
}
mkdir "$A/routing/v0"
mk_table 0 "$A/routing/table"
mk_table 0 "$A/routing/v0/table"
ln -s v0 "$A/routing/current"
ctl --mount "$B" sync && sync_c
STOP=$TEST_TMP/routing.stop
reader() { # MOUNT OUT
	python3 - "$1" "$STOP" >"$2" 2>&1 <<'PY'
import os, sys, time
mount, stop = sys.argv[1], sys.argv[2]
reads = bad = 0
seen = set()
end = time.monotonic() + 60
while not os.path.exists(stop) and time.monotonic() < end and reads < 200000:
    for rel in ("routing/table", "routing/current/table"):
        try:
            with open(os.path.join(mount, rel)) as f:
                lines = f.read().split("\n")
        except FileNotFoundError:
            bad += 1
            print("missing", rel)
            continue
        reads += 1
        v = lines[-2].split()[-1] if len(lines) >= 2 else "?"
        want = ["vshard %d -> group %s" % (k, v) for k in range(200)] + ["end " + v, ""]
        if lines != want:
            bad += 1
            print("mixed or partial read of", rel, "version", v, "lines", len(lines))
        seen.add(v)
        time.sleep(0.0003)
print("reads", reads, "bad", bad, "versions", len(seen))
PY
}
reader "$B" "$TEST_TMP/reader-b" &
RB=$!
reader "$C" "$TEST_TMP/reader-c" &
RC=$!
# fsync of routing/ on B meanwhile: it holds the directory's lock while the
# node answers, and the replays of A's changes need that lock (an fsync
# that waited for them deadlocked once)
timeout 120 python3 - "$B/routing" "$STOP" >"$TEST_TMP/syncer" 2>&1 <<'PY' &
import os, sys, time
d, stop = sys.argv[1], sys.argv[2]
n = 0
while not os.path.exists(stop) and n < 100000:
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)
    n += 1
print("fsyncs", n)
PY
RS=$!
EXTRA_PIDS+=("$RB" "$RC" "$RS")
for ((v = 1; v <= 120; v++)); do
	mk_table "$v" "$A/routing/table.new"
	mv "$A/routing/table.new" "$A/routing/table"
	mkdir "$A/routing/v$v"
	mk_table "$v" "$A/routing/v$v/table"
	ln -s "v$v" "$A/routing/current.new"
	mv -T "$A/routing/current.new" "$A/routing/current"
done
touch "$STOP"
wait_child "$RB" 60 "reader on B" || fail "reader on B failed: $(tail -n 3 "$TEST_TMP/reader-b")"
wait_child "$RC" 60 "reader on C" || fail "reader on C failed: $(tail -n 3 "$TEST_TMP/reader-c")"
wait_child "$RS" 130 "fsync of routing/ on B" || fail "fsync of routing/ on B failed or hung: $(cat "$TEST_TMP/syncer")"
say "B: $(cat "$TEST_TMP/syncer") during the cut-overs"
for r in reader-b reader-c; do
	sum=$(tail -n 1 "$TEST_TMP/$r")
	say "$r: $sum"
	assert_match '^reads [0-9]+ bad 0 versions' "$sum" "$r: $(sort "$TEST_TMP/$r" | uniq -c | head -n 5)"
	[ "$(awk '{print $6}' <<<"$sum")" -ge 3 ] || fail "$r saw too few versions to test anything: $sum"
done
sync_c
assert_eq "end 120" "$(tail -n 1 "$C/routing/current/table")" "final table on C"
assert_eq "end 120" "$(tail -n 1 "$B/routing/table")" "final table on B"

say ".cluster/metrics: Prometheus text format, counters that move"
metrics_check() { # MOUNT: parse, check the format; print "name{labels} value" lines
	python3 - "$1/.cluster/metrics" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
assert text.endswith("\n"), "no final newline"
types, seen, buckets = {}, {}, []
current = None  # the metric whose TYPE came last: its samples follow it, together
for line in text.splitlines():
    if line.startswith("# HELP "):
        continue
    m = re.match(r"# TYPE (clusterfs_\w+) (gauge|counter|histogram|summary)$", line)
    if m:
        assert m.group(1) not in types, "TYPE given twice: " + line
        types[m.group(1)] = m.group(2)
        current = m.group(1)
        continue
    m = re.match(r'(clusterfs_\w+?)(_bucket|_sum|_count)?(\{[a-z]+="[^"]*"\})? (\S+)$', line)
    assert m, "bad line: " + line
    base = m.group(1) if m.group(1) in types else m.group(1) + (m.group(2) or "")
    assert base in types, "sample without TYPE: " + line
    assert base == current, "sample away from its metric's group: " + line
    value = float(m.group(4))
    if m.group(2) == "_bucket":
        buckets.append(value)
    seen[m.group(1) + (m.group(2) or "") + (m.group(3) or "")] = value
assert buckets == sorted(buckets), "histogram buckets not cumulative"
assert buckets[-1] == seen["clusterfs_commit_latency_seconds_count"]
for k, v in sorted(seen.items()):
    print(k, int(v) if v == int(v) else v)
PY
}
mval() { metrics_check "$1" | awk -v k="$2" '$1 == k { print $2 }'; }
for m in "$A" "$B" "$C"; do metrics_check "$m" >/dev/null || fail "metrics of $m"; done
leaders=0
for m in "$A" "$B" "$C"; do leaders=$((leaders + $(mval "$m" clusterfs_is_leader))); done
assert_eq 1 "$leaders" "nodes reporting is_leader 1"
before=$(mval "$B" 'clusterfs_proposals_total{outcome="applied"}')
refused=$(mval "$B" 'clusterfs_proposals_total{outcome="refused"}')
count=$(mval "$B" clusterfs_commit_latency_seconds_count)
for i in 1 2 3; do echo "$i" >"$B/metric-$i"; done
assert_cmd_fails bash -c "echo maybe > '$B/gates/feature.metric'"
assert_eq $((before + 6)) "$(mval "$B" 'clusterfs_proposals_total{outcome="applied"}')" "applied proposals on B (a create and a write each)"
assert_eq $((refused + 1)) "$(mval "$B" 'clusterfs_proposals_total{outcome="refused"}')" "refused proposals on B"
assert_eq $((count + 7)) "$(mval "$B" clusterfs_commit_latency_seconds_count)" "latency samples on B"
sync_c
st=$(status_field c applied_index)
mt=$(mval "$C" clusterfs_applied_index)
((mt >= st && mt <= st + 5)) || fail "applied index: status said $st, metrics just after $mt"
