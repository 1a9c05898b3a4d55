# shellcheck shell=bash
#
# Helpers for the clusterfs-watch tests (DESIGN §6, issue 6): a fake
# `snapctl` and a `record` command on PATH, and watchers started per node.
# Sourced after lib.sh.
#
# The fake snapctl keeps one node's snap options in $FAKE_SNAP_DIR/config.json
# (set/unset/get -d, dotted keys nested as snapd does, values parsed as JSON
# when they are JSON), appends every call to $FAKE_SNAP_DIR/calls.log as a
# JSON line {"by": "watch"|"hook"|"operator", "argv": [...]}, and after a
# set or unset runs $FAKE_SNAP_HOOK (the example configure hook); a set or
# unset and its hook are one change, one change at a time, as with snapd. `record ARGS...` appends {"argv", "env"} to
# $FAKE_SNAP_DIR/record.log. Watcher of node NAME: env FAKE_SNAP_DIR =
# $TEST_TMP/NAME/snap, log $TEST_TMP/NAME/watch.log, state
# $TEST_TMP/NAME/wstate.

CLUSTERFS_WATCH=${CLUSTERFS_WATCH:-$E2E_DIR/../../build/clusterfs-watch}
[ -x "$CLUSTERFS_WATCH" ] || fail "CLUSTERFS_WATCH=$CLUSTERFS_WATCH is not executable (build first)"
EXAMPLES=$(cd "$E2E_DIR/../../examples" && pwd)
WATCH_BIN=$TEST_TMP/bin
declare -A WATCH_PID=()

mkdir -p "$WATCH_BIN"
cat >"$WATCH_BIN/snapctl" <<'EOF'
#!/usr/bin/env python3
import fcntl, json, os, subprocess, sys

d = os.environ["FAKE_SNAP_DIR"]
args = sys.argv[1:]
by = "hook" if os.environ.get("SNAP_HOOK") else (
    "watch" if "CLUSTERFS_EVENT" in os.environ else "operator")
with open(os.path.join(d, "calls.log"), "a") as f:
    f.write(json.dumps({"by": by, "argv": args}) + "\n")
cfgf = os.path.join(d, "config.json")

def load():
    try:
        with open(cfgf) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}

def save(cfg):
    with open(cfgf + ".tmp", "w") as f:
        json.dump(cfg, f)
    os.rename(cfgf + ".tmp", cfgf)

def lock(name):
    fd = os.open(os.path.join(d, name), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd

cmd, rest = args[0], args[1:]
if cmd in ("set", "unset"):
    # One change at a time, its configure hook included: snapd serializes
    # a snap's configuration changes, and the hook sees one snapshot.
    change = lock("change.lock")
if cmd == "get":
    keys = [a for a in rest if not a.startswith("-")]
    key = keys[-1]
    fd = lock("config.lock")
    node = load()
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            print('error: snap has no "%s" configuration option' % key, file=sys.stderr)
            sys.exit(1)
        node = node[part]
    print(json.dumps({key: node}) if "-d" in rest else json.dumps(node))
    sys.exit(0)
if cmd == "set":
    if rest and "=" not in rest[0]:
        rest = rest[1:]  # the snap name
    fd = lock("config.lock")
    cfg = load()
    for kv in rest:
        k, v = kv.split("=", 1)
        try:
            v = json.loads(v)
        except ValueError:
            pass
        node = cfg
        parts = k.split(".")
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[parts[-1]] = v
    save(cfg)
    os.close(fd)
elif cmd == "unset":
    if len(rest) > 1 and "." not in rest[0]:
        rest = rest[1:]  # the snap name
    fd = lock("config.lock")
    cfg = load()
    for k in rest:
        parts = k.split(".")
        chain = [cfg]
        for p in parts[:-1]:
            nxt = chain[-1].get(p)
            if not isinstance(nxt, dict):
                break
            chain.append(nxt)
        else:
            chain[-1].pop(parts[-1], None)
            for i in range(len(chain) - 1, 0, -1):  # prune empty parents
                if not chain[i]:
                    chain[i - 1].pop(parts[i - 1], None)
    save(cfg)
    os.close(fd)
else:
    print("fake snapctl: unknown command " + cmd, file=sys.stderr)
    sys.exit(2)
hook = os.environ.get("FAKE_SNAP_HOOK")
if hook:
    env = dict(os.environ, SNAP_HOOK="configure", SNAP_DATA=d)
    sys.exit(subprocess.run([hook], env=env).returncode)
EOF
cat >"$WATCH_BIN/record" <<'EOF'
#!/usr/bin/env python3
import json, os, sys
env = {k: os.environ[("CLUSTERFS_" + k)] for k in ("MOUNT", "RULE", "PATH", "NAME", "VALUE", "EVENT")
       if "CLUSTERFS_" + k in os.environ}
with open(os.path.join(os.environ["FAKE_SNAP_DIR"], "record.log"), "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "env": env, "cwd": os.getcwd()}) + "\n")
EOF
# flaky NAME: fails the first time it is called for NAME (a name starting
# with "hang" hangs instead, until the watcher's timeout kills it), then
# records like `record flaky NAME`.
cat >"$WATCH_BIN/flaky" <<'EOF'
#!/bin/sh
mark="$FAKE_SNAP_DIR/flaky.$1"
if [ ! -e "$mark" ]; then
	: >"$mark"
	case $1 in hang*) exec sleep 30 ;; esac
	exit 1
fi
exec record flaky "$@"
EOF
chmod +x "$WATCH_BIN/snapctl" "$WATCH_BIN/record" "$WATCH_BIN/flaky"

watch_log() { echo "$TEST_TMP/$1/watch.log"; }
snap_dir() { echo "$TEST_TMP/$1/snap"; }

# watch_start NAME CONFIG [FLAGS...]: start clusterfs-watch on node NAME's
# mount; returns once its first reconcile is done (its watches are set).
watch_start() {
	local name=$1 conf=$2 log i before n end
	shift 2
	log=$(watch_log "$name")
	mkdir -p "$(snap_dir "$name")"
	touch "$log"
	before=$(grep -c 'reconciled' "$log" || true)
	before=${before:-0}
	echo "=== $(date +%T.%N) clusterfs-watch $*" >>"$log"
	PATH="$WATCH_BIN:$PATH" FAKE_SNAP_DIR=$(snap_dir "$name") \
		FAKE_SNAP_HOOK="$EXAMPLES/snap/configure" \
		"$CLUSTERFS_WATCH" --mount "$(node_mount "$name")" --config "$conf" \
		--state "$TEST_TMP/$name/wstate" --log-level debug "$@" 2>>"$log" &
	WATCH_PID[$name]=$!
	EXTRA_PIDS+=("$!")
	echo "$! watch-$name" >>"$SANITIZER_DIR/pids"
	end=$(($(now_ms) + 30000)) # 200 tries, but 30 s at most when grep is slow
	for ((i = 0; i < 200; i++)); do
		n=$(grep -c 'reconciled' "$log" || true)
		[ "${n:-0}" -gt "$before" ] && return 0
		pid_alive "${WATCH_PID[$name]}" || fail "clusterfs-watch on $name exited: $(tail -n 5 "$log")"
		(($(now_ms) < end)) || break
		sleep 0.05
	done
	fail "clusterfs-watch on $name did not reconcile in $i tries (10 s, at most 30 s under load): $(tail -n 5 "$log")"
}

# watch_stop NAME: SIGTERM, exit status 0 within 10 s.
watch_stop() {
	local name=$1 pid=${WATCH_PID[$1]}
	kill -TERM "$pid"
	wait_exit "$pid" 10
	[ "$EXIT_STATUS" = 0 ] || fail "clusterfs-watch on $name: exit status $EXIT_STATUS after SIGTERM"
}

# calls NAME [BY]: node NAME's snapctl calls made by BY (default: watch),
# one JSON argv per line.
calls() {
	python3 - "$(snap_dir "$1")/calls.log" "${2:-watch}" <<'EOF'
import json, sys
try:
    lines = open(sys.argv[1]).read().splitlines()
except FileNotFoundError:
    lines = []
for line in lines:
    try:
        c = json.loads(line)
    except ValueError:
        continue  # the last line, still being written
    if c["by"] == sys.argv[2]:
        print(json.dumps(c["argv"]))
EOF
}

# _a_count VALUE WHAT: print VALUE if it is a count; else say so and return
# 1. (A count came out empty once, under load, and `[ "" -ge 1 ]` only
# printed "integer expression expected": that happens when the pipeline's
# processes are killed, e.g. by meson's timeout signal to the whole test.)
_a_count() {
	if [[ $1 =~ ^[0-9]+$ ]]; then
		echo "$1"
		return 0
	fi
	say "counting $2 gave [$1], not a number"
	return 1
}

# count_calls NAME JSON_ARGV: how many times the watcher of NAME made exactly
# that call, e.g. '["set", "openstack", "feature.a=true", "clusterfs.feature.a=true"]'.
count_calls() {
	local want n
	want=$(python3 -c 'import json, sys; print(json.dumps(json.loads(sys.argv[1])))' "$2") ||
		fail "count_calls: $2 is not a JSON argv"
	n=$(calls "$1" | grep -cxF -- "$want") || true
	_a_count "$n" "calls of $1"
}
has_call() {
	local n
	n=$(count_calls "$@") || return 1
	[ "$n" -ge 1 ]
}

# records NAME: node NAME's `record` argvs, one JSON list per line.
records() {
	python3 - "$(snap_dir "$1")/record.log" <<'EOF'
import json, sys
try:
    lines = open(sys.argv[1]).read().splitlines()
except FileNotFoundError:
    lines = []
for line in lines:
    try:
        print(json.dumps(json.loads(line)["argv"]))
    except ValueError:
        pass  # the last line, still being written
EOF
}
count_records() {
	local want n
	want=$(python3 -c 'import json, sys; print(json.dumps(json.loads(sys.argv[1])))' "$2") ||
		fail "count_records: $2 is not a JSON argv"
	n=$(records "$1" | grep -cxF -- "$want") || true
	_a_count "$n" "records of $1"
}
has_record() {
	local n
	n=$(count_records "$@") || return 1
	[ "$n" -ge 1 ]
}

# record_field NAME JSON_ARGV FIELD: a field ("env", "cwd") of the first
# record with that argv, as JSON.
record_field() {
	python3 - "$(snap_dir "$1")/record.log" "$2" "$3" <<'EOF'
import json, sys
want = json.loads(sys.argv[2])
for line in open(sys.argv[1]).read().splitlines():
    try:
        r = json.loads(line)
    except ValueError:
        continue  # the last line, still being written
    if r["argv"] == want:
        print(json.dumps(r[sys.argv[3]], sort_keys=True))
        break
EOF
}

# snap_option NAME KEY: node NAME's snap option KEY (dotted), as JSON, or
# "absent".
snap_option() {
	python3 - "$(snap_dir "$1")/config.json" "$2" <<'EOF'
import json, sys
try:
    node = json.load(open(sys.argv[1]))
except FileNotFoundError:
    node = {}
for p in sys.argv[2].split("."):
    if not isinstance(node, dict) or p not in node:
        print("absent")
        sys.exit(0)
    node = node[p]
print(json.dumps(node))
EOF
}

# operator_snap_set NAME ARGS...: `snapctl set ARGS` as an operator on node
# NAME would run it (`snap set`): the configure hook runs and pushes.
operator_snapctl() {
	local name=$1
	shift
	PATH="$WATCH_BIN:$PATH" FAKE_SNAP_DIR=$(snap_dir "$name") \
		FAKE_SNAP_HOOK="$EXAMPLES/snap/configure" CLUSTERFS_MOUNT=$(node_mount "$name") \
		"$WATCH_BIN/snapctl" "$@"
}

# log_writes NAME PATH: how many changes of PATH the replicated
# .cluster/log of node NAME lists.
log_writes() {
	awk -v p="$2" '$NF == p { n++ } END { print n + 0 }' "$(node_mount "$1")/.cluster/log"
}
