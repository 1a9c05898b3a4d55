# shellcheck shell=bash
#
# Helpers for the tests of DESIGN §5 (changes made on other nodes are real
# inotify events): real inotifywait processes (inotify-tools) recording what
# the kernel reports on a node's mount, and a normalizer that cuts their
# logs into one segment per operation. Sourced after lib.sh; uses only what
# lib.sh has had from the start (node_start, EXTRA_PIDS, wait_for, fail).
#
# An event log has one line per event, "PATH|EVENTS" (inotifywait --format
# '%w%f|%e'): PATH is absolute, with a trailing / for events of a watched
# directory about itself (DELETE_SELF, MOVE_SELF); EVENTS is inotifywait's
# comma list (CREATE,ISDIR; CLOSE_WRITE,CLOSE; ...).

command -v inotifywait >/dev/null || skip "needs inotifywait (package inotify-tools)"

IW_FORMAT='%w%f|%e'

# iw_cluster3 [FLAGS...]: nodes n1 (bootstraps), n2 and n3 (join through n1
# with its cluster key), each ready when this returns.
iw_cluster3() {
	local n
	node_start n1 "$@"
	for n in n2 n3; do
		node_start "$n" --join "$(node_addr n1)" --cluster-key "$(node_data n1)/cluster.key" "$@"
	done
}

# iw_sync NAME...: clusterfsctl sync on each (a linearizable read point:
# the node has applied everything committed before it returns).
iw_sync() {
	local n
	for n in "$@"; do
		ctl --mount "$(node_mount "$n")" sync >/dev/null || fail "clusterfsctl sync on $n failed"
	done
}

# iw_start VAR LOG [INOTIFYWAIT OPTIONS...] PATH...: start `inotifywait -m`
# with the log format, events to LOG, its messages to LOG.err; returns once
# it says its watches are established. Sets VAR to its PID (also added to
# EXTRA_PIDS: killed at exit whatever happens).
iw_start() {
	local var=$1 log=$2 pid
	shift 2
	: >"$log"
	inotifywait -m --format "$IW_FORMAT" "$@" >"$log" 2>"$log.err" &
	pid=$!
	EXTRA_PIDS+=("$pid")
	printf -v "$var" '%s' "$pid"
	iw_wait_established "$pid" "$log.err"
}

iw_established() { grep -q 'Watches established' "$1"; }

# iw_wait_established PID ERRFILE: bounded wait for "Watches established".
iw_wait_established() {
	local pid=$1 err=$2 i end=$((SECONDS + 30))
	for ((i = 0; i < 200 && SECONDS < end; i++)); do
		iw_established "$err" && return 0
		pid_alive "$pid" || fail "inotifywait (pid $pid) exited: $(cat "$err")"
		sleep 0.05
	done
	fail "inotifywait (pid $pid) did not establish its watches in $i tries (10 s, at most 30 s under load): $(cat "$err")"
}

# iw_stop PID: stop one inotifywait (by PID) and reap it.
iw_stop() {
	local pid=$1
	if pid_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# iw_has LOG PATH EVENTREGEX: LOG has a line for exactly PATH whose event
# list matches EVENTREGEX (an ERE on the comma list, e.g. '(^|,)CREATE(,|$)').
iw_has() {
	awk -F'|' -v p="$2" -v re="$3" '$1 == p && $2 ~ re { found = 1 } END { exit !found }' "$1"
}

# iw_count LOG PATH EVENTREGEX: how many such lines.
iw_count() {
	awk -F'|' -v p="$2" -v re="$3" '$1 == p && $2 ~ re { n++ } END { print n + 0 }' "$1"
}

# iw_wait [-t SECONDS] LOG PATH EVENTREGEX: wait until LOG has that event
# (fails the test when the time is up).
iw_wait() {
	local t=10
	if [ "$1" = -t ]; then
		t=$2
		shift 2
	fi
	wait_for -t "$t" iw_has "$@"
}

# iw_wait_scanned LOG DIR: after CREATE,ISDIR (or MOVED_TO,ISDIR) of DIR,
# wait until the inotifywait -r writing LOG watches DIR too. inotifywait adds
# the watch, then reads the directory (to watch what is already in it) and
# closes it: the parent's watch reports that CLOSE_NOWRITE of DIR, and by
# the time it is in the log the watch on DIR exists. Bounded: if it never
# shows (another inotify-tools version), go on after a short settle.
iw_wait_scanned() {
	local log=$1 dir=$2 i end=$((SECONDS + 15))
	for ((i = 0; i < 100 && SECONDS < end; i++)); do
		iw_has "$log" "$dir" '^CLOSE_NOWRITE,CLOSE,ISDIR$' && return 0
		sleep 0.05
	done
	say "no CLOSE_NOWRITE of $dir in $log after 5s: settling 0.5s instead"
	sleep 0.5
}

# iw_segments LOG ROOT MARKS [FROM=TO...]: cut LOG into segments at the
# CREATE events of the marker names in directory MARKS (absolute path); one
# output line per marker, "MARKER<TAB>EVENTS" where EVENTS are the events of
# the segment before that marker as "PATH EVENT[,ISDIR]" separated by " ; ":
#   - PATH relative to ROOT, then each FROM=TO applied as a plain string
#     substitution (to compare the same operations made in two directories);
#   - only the events that say something changed: CREATE, MODIFY,
#     CLOSE_WRITE, DELETE, DELETE_SELF, MOVED_FROM, MOVED_TO, MOVE_SELF,
#     ATTRIB (OPEN, ACCESS, CLOSE_NOWRITE come from readers and from
#     inotifywait itself reading new directories);
#   - consecutive repeats of the same event on the same path are counted
#     once (a local `echo x > f` is MODIFY for the O_TRUNC and MODIFY for
#     the write);
#   - events on MARKS itself are left out.
iw_segments() {
	python3 - "$@" <<'EOF'
import sys

log, root, marks = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3].rstrip("/")
subs = [a.split("=", 1) for a in sys.argv[4:]]
KEEP = ["CREATE", "MODIFY", "CLOSE_WRITE", "DELETE", "DELETE_SELF", "MOVED_FROM",
        "MOVED_TO", "MOVE_SELF", "ATTRIB"]
cur = []
with open(log, errors="replace") as f:
    for line in f:
        line = line.rstrip("\n")
        if "|" not in line:
            continue
        path, evs = line.rsplit("|", 1)
        evs = evs.split(",")
        if path.startswith(marks + "/") and path != marks + "/":
            if "CREATE" in evs:
                print("%s\t%s" % (path[len(marks) + 1:], " ; ".join(cur)))
                cur = []
            continue
        if path in (marks, marks + "/"):
            continue
        main = [e for e in KEEP if e in evs]
        if not main:
            continue
        rel = path[len(root) + 1:] if path.startswith(root + "/") else path
        for a, b in subs:
            rel = rel.replace(a, b)
        item = "%s %s%s" % (rel or ".", main[0], ",ISDIR" if "ISDIR" in evs else "")
        if not cur or cur[-1] != item:
            cur.append(item)
if cur:
    print("(after the last marker)\t%s" % " ; ".join(cur))
EOF
}

# iw_compare SPEC LOCAL_A REMOTE_A LOCAL_B REMOTE_B: compare, operation by
# operation, the segments (iw_segments output) of the same operations made
# on node A (seen locally by A's watcher, remotely by B's) and then on node
# B (seen locally by B's, remotely by A's). SPEC has one line per operation:
#   ID<TAB>REQUIRED<TAB>IGNORE<TAB>KIND
# REQUIRED: " ; " list of the events that must appear in every view, in this
# order; IGNORE: events (names, space separated, or -) left out of every view
# before comparing (what a local writer causes that is not a change, e.g.
# the CLOSE_WRITE of `touch`); KIND: same (the remote views equal the local
# one), noop (no change: the remote views are empty; REQUIRED is then what
# the local views show) or perwrite (as same, except that a file written
# with several write(2) calls in one open shows one MODIFY, CLOSE_WRITE pair
# per write on other nodes: each write is its own entry, and an entry does
# not say whether more writes of the same open follow — a known limitation,
# see docs/architecture.md). Local views must be
# identical on both nodes: a node never replays its own changes. Prints
# "OK<TAB>ID<TAB>EVENTS" or "FAIL<TAB>ID<TAB>WHY" per check; exit 0.
iw_compare() {
	python3 - "$@" <<'EOF'
import sys

spec, files = sys.argv[1], sys.argv[2:6]
names = ["local on A", "A's change seen on B", "local on B", "B's change seen on A"]
views = []
for fn in files:
    d = {}
    with open(fn) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            d[k] = [x for x in v.split(" ; ") if x]
    views.append(d)

def drop(items, ign):
    out = []
    for x in items:
        if x.rsplit(" ", 1)[-1].split(",")[0] in ign:
            continue
        if not out or out[-1] != x:
            out.append(x)
    return out

def subseq(req, act):
    i = 0
    for a in act:
        if i < len(req) and a == req[i]:
            i += 1
    return i == len(req)

def collapse_pairs(items):
    out = []
    for x in items:
        out.append(x)
        if len(out) >= 4 and out[-2:] == out[-4:-2]:
            del out[-2:]
    return out

def show(items):
    return "[" + " ; ".join(items) + "]"

with open(spec) as f:
    for line in f:
        if not line.strip():
            continue
        oid, req, ign, kind = line.rstrip("\n").split("\t")
        req = [x for x in req.split(" ; ") if x and x != "-"]
        ign = set(ign.split()) - {"-"}
        v = []
        for i, d in enumerate(views):
            if oid not in d:
                print("FAIL\t%s\tno segment for it in the view '%s'" % (oid, names[i]))
                v = None
                break
            v.append(drop(d[oid], ign))
        if v is None:
            continue
        la, ra, lb, rb = v
        ok = True
        if la != lb:
            ok = False
            print("FAIL\t%s\tlocal views differ: on A %s, on B %s (a node replayed its own change?)"
                  % (oid, show(la), show(lb)))
        if not subseq(req, la):
            ok = False
            print("FAIL\t%s\tlocal view %s lacks %s (the test's expectation is wrong?)"
                  % (oid, show(la), show(req)))
        want = [] if kind == "noop" else la
        if kind == "perwrite":
            ra, rb = collapse_pairs(ra), collapse_pairs(rb)
        for name, got in ((names[1], ra), (names[3], rb)):
            if got != want:
                ok = False
                print("FAIL\t%s\t%s: %s, expected %s%s"
                      % (oid, name, show(got), show(want),
                         " (as the local watcher saw it)" if kind != "noop"
                         else " (a no-op write changes nothing)"))
            elif kind != "noop" and not subseq(req, got):
                ok = False
                print("FAIL\t%s\t%s: %s lacks %s" % (oid, name, show(got), show(req)))
        if ok:
            print("OK\t%s\t%s" % (oid, show(ra)))
EOF
}
