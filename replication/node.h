/*
 * A node: this process's member of the cluster — its data directory, the
 * raft instance, the FSM and the store, its connections to other nodes —
 * and the one door through which the rest of the daemon proposes changes
 * (node_submit, node_barrier), whichever node leads.
 *
 * Everything here is owned by the libuv loop thread; no function may be
 * called from another thread.
 *
 * Data directory layout (DESIGN §2 --data):
 *   node.conf     id and address of this node (written at bootstrap/join)
 *   cluster.key   the shared cluster secret (64 hex characters)
 *   epoch         start counter, part of every inode number and request id
 *   lock          flock()ed while a daemon uses the directory
 *   raft/         raft_uv's log segments, metadata and snapshots
 *   store.db      the sqlite store (plus -wal/-shm)
 *   ballast       space set aside for a full disk's last writes (diskspace.c)
 */
#ifndef CFS_NODE_H
#define CFS_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "entry.h"
#include "fsm.h"
#include "health.h"
#include "snapshot.h"
#include "store.h"
#include "transport.h"

/* Defaults, all overridable in struct node_config. */
#define NODE_DEFAULT_ADDRESS "127.0.0.1:7440"
#define NODE_DEFAULT_COMMIT_TIMEOUT_MS 5000
/* Tuned for a LAN (raft's own defaults, 1000/100, made failover take ~3 s;
 * ../shared/notes/raft-0.15.md). */
#define NODE_DEFAULT_ELECTION_TIMEOUT_MS 300
#define NODE_DEFAULT_HEARTBEAT_MS 50
#define NODE_DEFAULT_SNAPSHOT_THRESHOLD 1024
#define NODE_DEFAULT_SNAPSHOT_TRAILING 2048
#define NODE_DEFAULT_MAX_VOTERS 3
/* How often the node looks at raft's state (leadership, retries). */
#define NODE_TICK_MS 50
/* A mutation waits this long for a leader to be known before EROFS. */
#define NODE_NO_LEADER_GRACE_MS 1500
/* Followers whose acknowledgements the leader tracks to nudge them (see
 * node_io_recv); more are nudged only by heartbeats. */
#define NODE_NUDGE_PEERS 16
/* raft 0.15's progress state of a follower that keeps up (progress.h,
 * REPLICATION/PROGRESS__PIPELINE; struct raft_progress is public). */
#define NODE_RAFT_PIPELINE 1
/* Free space kept on the data directory's disk (diskspace.c): below the
 * reserve, writes here that add data fail with ENOSPC; below the floor the
 * node stores no new entries. The floor leaves room for one new raft log
 * segment (8 MiB, preallocated) and the store's transactions; the reserve,
 * for the floor, a segment and the largest entry. */
#define NODE_DEFAULT_DISK_RESERVE_MB 32
#define NODE_DISK_FLOOR_MB 12
/* The ballast file kept in the data directory for a full disk's last
 * writes (diskspace.c). */
#define NODE_DISK_BALLAST_MB 2
/* Pause between attempts to reach a join target or the leader. */
#define NODE_RETRY_MS 200
/* Followers report themselves to the leader this often (view.c); a
 * follower shows the leader's table for this long after it came. */
#define NODE_HEALTH_REPORT_MS 1000
#define NODE_HEALTH_STALE_MS 3000
/* A member not heard from for max(this, 2 election timeouts) is
 * unreachable (logged by the leader, shown by members). */
#define NODE_UNREACHABLE_MIN_MS 1000

struct node_config {
	const char *data_dir;
	const char *address;  /* NULL: from node.conf, else the default */
	bool bootstrap;	      /* start a new cluster if the data dir is new */
	const char *join;     /* "HOST:PORT[,HOST:PORT…]" to join, or NULL */
	const char *key_file; /* NULL: DATA/cluster.key */
	const uint8_t *key;   /* or the key itself (from a join token) */
	unsigned max_voters;
	unsigned commit_timeout_ms;
	unsigned election_timeout_ms;
	unsigned heartbeat_ms;
	unsigned snapshot_threshold;
	unsigned snapshot_trailing;
	uint64_t disk_reserve_bytes; /* 0: no reserve (not advised) */
	const struct store_validator *validator;
};

void node_config_defaults(struct node_config *c);

struct node;

/* Open the data directory (creating it), the key, the store. On failure
 * returns a negative errno and a one-line reason in @err. */
int node_open(struct node **out, uv_loop_t *loop, const struct node_config *cfg, char *err,
	      size_t errlen);

/* Bootstrap or join if the data directory is new, then start raft. Joining
 * goes on in the loop; node_ready()/node_failed() tell how it ends. */
int node_start(struct node *n, char *err, size_t errlen);

/* Offline recovery after a majority was lost for good: force a
 * configuration in which this node is the only voter (raft_recover). */
int node_recover(struct node *n, char *err, size_t errlen);

/* True once this node knows a leader and has applied everything that was
 * committed when it became ready to serve (see node.c). */
bool node_ready(struct node *n);
/* A node that has never been a member yet: it is still joining, and has no
 * store worth serving. */
bool node_joining(struct node *n);
/* The node's mount is up: a standby may now ask to become a voter. */
void node_mounted(struct node *n);
/* Non-NULL once starting has failed for good (e.g. wrong cluster key). */
const char *node_failed(struct node *n);
/* The index up to which this node's store has applied what raft
 * committed (raft's applied index, less while the store is behind: see
 * fsm.h, deferred entries). */
uint64_t node_applied_index(struct node *n);
/* True while the node stores no new entries for want of disk space (or
 * because its store cannot write): see replication/diskspace.c. */
bool node_disk_full(struct node *n);

/* The outcome of a proposal: >= 0 success (the FSM's result), < 0 -errno:
 * EROFS (no leader known), ETIMEDOUT (no outcome within the commit timeout:
 * it may still commit), or the FSM's refusal. */
typedef void (*node_done_cb)(void *arg, int64_t result);

/* Propose an encoded entry, on the leader or forwarded to it. Takes
 * ownership of b->base in every case. The callback runs once the entry is
 * applied on this node (or failed), never from within this call. Returns 0,
 * or -errno if it could not be proposed (the callback will then not run). */
int node_submit(struct node *n, struct entry_buf *b, node_done_cb cb, void *arg);

/* Linearizable sync: cb runs once this node has applied everything that was
 * committed anywhere before the call. Same return contract as submit. */
int node_barrier(struct node *n, node_done_cb cb, void *arg);

void node_set_applied_hook(struct node *n, fsm_applied_cb cb, void *arg);
/* Called after a snapshot replaced the store's content. */
void node_set_restored_hook(struct node *n, void (*cb)(void *arg), void *arg);

struct node_status {
	uint64_t id;
	const char *address;
	const char *state; /* leader, follower, candidate, unavailable */
	const char *role;  /* voter, standby, spare */
	/* joining (never a member yet), read-only (a member that has not
	 * reached a leader since it started: it serves its local store,
	 * mutations get EROFS), member */
	const char *phase;
	uint64_t term;
	uint64_t commit_index, applied_index, last_index;
	uint64_t leader_id;
	const char *leader_address;
	bool quorum;
	unsigned voters;
};

void node_status(struct node *n, struct node_status *st);

/* Counters for .cluster/metrics. Proposal latency is from node_submit to
 * the outcome on this node (committed and applied here, or refused by the
 * FSM); bucket i counts latencies <= node_latency_bounds_s[i], the last
 * bucket the rest. */
#define NODE_LATENCY_BUCKETS 12
extern const double node_latency_bounds_s[NODE_LATENCY_BUCKETS];

struct node_metrics {
	uint64_t latency_buckets[NODE_LATENCY_BUCKETS + 1];
	uint64_t latency_count;
	double latency_sum_s;
	uint64_t proposals_applied; /* committed and applied, FSM said yes */
	uint64_t proposals_refused; /* committed, FSM said no (EINVAL, EBUSY…) */
	uint64_t proposals_failed;  /* no outcome: EROFS, ETIMEDOUT… */
	uint64_t forwarded;	    /* requests sent on to the leader */
	uint64_t leader_changes;    /* a different leader became known */
	uint64_t expirations;	    /* EXPIRE entries this node proposed */
	/* Elections this node ran (events.c): started, and how they ended. */
	uint64_t elections_started, elections_won, elections_lost;
	/* Snapshots (snapshot.c): taken here, installed from the leader,
	 * images made for a follower; the last one's duration of each. */
	struct snapshot_stats snapshots;
	/* The longest busy loop iteration since start (common/loop_watch.h). */
	double loop_stall_longest_s;
};

void node_metrics(struct node *n, struct node_metrics *m);

/* One member as this node sees it (.cluster/members, `clusterfsctl
 * members`, the per-member metrics). The leader knows it first hand: when
 * it last heard from each member (any raft message), how much of the log
 * each holds (raft's match index) and what each reported of itself
 * (applied index, term, store size, version: every NODE_HEALTH_REPORT_MS).
 * A follower shows the leader's last table (kept for NODE_HEALTH_STALE_MS,
 * its contact times aged by the table's age) and its own figures; without
 * a fresh table it knows only itself and whether it hears the leader. */
struct node_member {
	uint64_t id;
	char address[TRANSPORT_ADDRESS_MAX + 1];
	const char *role; /* voter, standby, spare */
	bool leader, self;
	int reachable;	     /* 1, 0, or -1: unknown */
	uint64_t contact_ms; /* since the leader last heard from it (HEALTH_UNKNOWN) */
	uint64_t match_index, lag; /* entries of the leader's log it holds, and lacks */
	bool reported;		   /* report holds what the member said of itself */
	struct health_report report;
};

/* Fill @out (room for @max) with the members in configuration order;
 * returns how many. */
unsigned node_members(struct node *n, struct node_member *out, unsigned max);

/* .cluster/members: one line per member, "ID ADDRESS ROLE REACHABLE"
 * followed by key=value fields (see status.c). Returns the length written
 * or -errno. */
int node_render_members(struct node *n, char *buf, size_t cap);
/* The line `clusterfsd --join-token` accepts: key and member addresses. */
int node_render_join_token(struct node *n, char *buf, size_t cap);

uint64_t node_id(struct node *n);
uint32_t node_epoch(struct node *n);
struct store *node_store(struct node *n);

/* Hand leadership away if we lead, fail every request still waiting, then
 * close raft; @cb runs when everything is closed. */
void node_close(struct node *n, void (*cb)(void *arg), void *arg);
/* Free a node that node_open made, once its loop has run the last close
 * callbacks (uv_run has returned): raft_uv may still call back after
 * node_close's @cb (node.c, node_io_closed). */
void node_free(struct node *n);

/* Join tokens: "cfs1:<64 hex key>@HOST:PORT[,HOST:PORT…]". */
int node_parse_join_token(const char *token, uint8_t key[TRANSPORT_KEY_SIZE], char *members,
			  size_t members_len);

#endif
