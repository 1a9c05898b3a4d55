/*
 * The node module's private parts: struct node, the requests it tracks and
 * the helpers one of its files calls in another. Only the node's own files
 * include this; everyone else uses node.h.
 *
 * The module, one concern per file:
 *   node.c        lifecycle (open, start, recover, close), the tick, readiness
 *   datadir.c     the data directory: node.conf, cluster.key, epoch, lock
 *   propose.c     proposals and barriers: submit, stamp, raft_apply, answer
 *   forward.c     followers' requests sent on to the leader, and the leader
 *                 serving them (node-protocol connections)
 *   membership.c  join, promote, remove; join tokens
 *   nudge.c       raft_uv's start/recv wrapped: followers told of commits
 *   expiry.c      the leader committing the removal of expired leases
 *   status.c      status, metrics and .cluster/members rendering
 *   view.c        what this node knows of every member: last contact,
 *                 reports to and tables from the leader (PEER_HEALTH)
 *   events.c      elections, leadership and members lost or back, logged
 *   diskspace.c   a low disk: writes refused, no new entries stored
 *
 * Everything here is owned by the libuv loop thread (see node.h).
 */
#ifndef CFS_NODE_INTERNAL_H
#define CFS_NODE_INTERNAL_H

#include <limits.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "node.h"
#include "peer.h"
#include "snapshot.h"

#define NODE_CONF	 "node.conf"
/* How long a close waits for raft's log writes in flight, for snapshot
 * work in a worker (a WAL sync, an install: snapshot.h), and how often it
 * looks (node.c, io_guard.h). */
#define NODE_CLOSE_WAIT_MS 2000
#define NODE_CLOSE_SNAPSHOT_WAIT_MS 30000
#define NODE_CLOSE_POLL_MS 5
/* How often the leader tells the same removed node that it was removed. */
#define NODE_TELL_AGAIN_MS 2000
#define NODE_KEY	 "cluster.key"
#define NODE_EPOCH	 "epoch"
#define NODE_LOCK	 "lock"
#define NODE_RAFT_DIR	 "raft"
#define NODE_STORE	 "store.db"
#define NODE_BALLAST	 "ballast"
#define NODE_ADDRESS_MAX TRANSPORT_ADDRESS_MAX
/* What to do about a damaged data directory, in the one line that says so. */
#define NODE_RESEED_ADVICE                                                    \
	"move the data directory away and re-seed this node from the cluster " \
	"(docs/operations.md, \"A damaged data directory\")"

enum req_state {
	RS_QUEUED,    /* waiting for a leader or a connection to it */
	RS_RAFT,      /* in raft on this node (the leader) */
	RS_FORWARDED, /* sent to the leader */
	RS_APPLYING,  /* committed; waiting for this node to apply it */
};

struct node_req {
	union {
		struct raft_apply apply;
		struct raft_barrier barrier;
	};
	struct node *n;
	node_done_cb cb;
	void *arg;
	bool is_barrier;
	void *entry; /* our copy of the encoded entry, for retries */
	size_t len;
	uint64_t seq; /* matches forwarded answers */
	uint64_t submitted_ms, deadline_ms;
	uint64_t submitted_ns; /* for the latency histogram */
	enum req_state state;
	bool in_raft;  /* raft holds the raft_apply/raft_barrier struct */
	bool answered; /* cb has run; free when raft lets go */
	bool reached;  /* was in a log once: the outcome is unknown, never EROFS */
	uint64_t proposed_index; /* raft_apply's index here (stages.h), or 0 */
	uint64_t wait_index;
	int64_t result;
	struct node_req *prev, *next;
};

/* An accepted node-protocol connection. */
struct inbound {
	struct node *n;
	struct peer_conn *c;
	int refs; /* serve requests in flight */
	bool closed;
	struct inbound *prev, *next;
};

/* A request another node sent us, being served. */
struct serve {
	union {
		struct raft_apply apply;
		struct raft_barrier barrier;
		struct raft_change change;
	};
	struct node *n;
	struct inbound *in;
	uint8_t type;
	uint64_t seq;
	uint64_t value;
	int64_t result;
	bool standby_only; /* PEER_PROMOTE of a joining node: standby first */
	char address[NODE_ADDRESS_MAX + 1];
};

enum node_disk_level {
	NODE_DISK_OK,
	NODE_DISK_LOW,	/* below the reserve: writes that add data refused */
	NODE_DISK_FULL, /* below the floor, or the store cannot write: no new entries */
};

/* A join: connect, ask for an id (JOIN_ASKED), start raft and ask to be a
 * standby (JOIN_STANDBY: it receives the log but does not vote), then,
 * once caught up and mounted, to be a voter (JOIN_PROMOTING; also a
 * standby's later start while voters are missing). */
enum join_state {
	JOIN_NONE,
	JOIN_CONNECTING,
	JOIN_ASKED,
	JOIN_STANDBY,
	JOIN_PROMOTING,
	JOIN_DONE
};
/* The byte a PEER_PROMOTE carries to ask for standby only. */
#define NODE_PROMOTE_STANDBY 's'

struct node {
	uv_loop_t *loop;
	struct node_config cfg;
	char data_dir[PATH_MAX];
	char address[NODE_ADDRESS_MAX + 1];
	uint64_t id;
	/* Mounted (node_mounted); asked once per start to be a voter. */
	unsigned close_waited_ms; /* node_close_raft: for log writes, snapshot work */
	bool mounted, promote_asked;
	/* Telling a removed node that it was removed (membership.c): one at a
	 * time, best effort. */
	struct peer_conn *tconn;
	bool tconn_connecting;
	uint64_t tell_id, tell_term; /* whom it tells, and in which term */
	/* The last non-member heard from, and when to tell it again. */
	uint64_t stranger_id, stranger_next_ms;
	bool removed; /* this node was told it was removed: node_failed says so */
	uint32_t epoch;
	int lock_fd;
	bool fresh;    /* the data directory held no node */
	bool restored; /* seeded by `clusterfsctl restore`: bootstrap from it */
	uint8_t key[TRANSPORT_KEY_SIZE];

	struct store *store;
	struct fsm fsm;
	struct raft raft;
	struct raft_io io;
	struct snapshot_io snap_io; /* markers become images for followers */
	struct raft_uv_transport transport;
	struct raft_link *link; /* raft's messages (raft_link.h) */
	bool transport_ready, raft_inited, raft_started;

	uv_timer_t tick;
	uv_check_t check; /* after each loop iteration: applied-index waiters */
	bool handles_ready;
	struct node_req *head, *tail;
	uint64_t seq;
	unsigned applying;	   /* requests in RS_APPLYING */
	uint64_t leaderless_since; /* when the node last saw no leader (0: has one) */

	/* Follower → leader connection. */
	struct peer_conn *lconn;
	uint64_t lconn_leader;
	bool lconn_connecting;
	uint64_t lconn_next_ms;

	struct inbound *inbound;

	/* Joining a cluster. */
	enum join_state join;
	char join_targets[1024];
	char join_target[NODE_ADDRESS_MAX + 1];
	size_t join_next;
	struct peer_conn *jconn;
	bool jconn_connecting;
	uint64_t join_retry_ms;
	unsigned join_refused;
	char failure[512];

	/* Readiness. */
	uint64_t barrier_term;
	bool barrier_pending;
	bool ready;

	fsm_applied_cb user_hook;
	void *user_arg;
	void (*restored_cb)(void *arg);
	void *restored_arg;

	/* Nudging followers to learn a commit (see node_nudge). */
	bool nudge_wanted;
	int (*io_start)(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
			raft_io_recv_cb recv); /* raft_uv's */
	raft_io_tick_cb raft_tick;	       /* raft's tick, captured at start */
	raft_io_recv_cb raft_recv;	       /* raft's receive callback */
	/* raft_uv's close, and raft's callback for it, which must run once
	 * (node_io_closed). */
	void (*io_close)(struct raft_io *io, raft_io_close_cb cb);
	raft_io_close_cb raft_io_closed;
	bool io_closed;
	/* The commit index each follower is known to have been able to apply
	 * (node_io_recv). */
	struct {
		raft_id id;
		raft_index told;
	} nudged[NODE_NUDGE_PEERS];

	/* What this node knows of every member (view.c). */
	struct node_contact {
		uint64_t id;	      /* 0: a free slot */
		uint64_t heard_ms;    /* its last raft message to us (0: none) */
		uint64_t reported_ms; /* its last PEER_HEALTH report (0: none) */
		struct health_report report;
		bool unreachable;     /* logged as such (events.c) */
	} contacts[HEALTH_MAX_MEMBERS];
	struct health_row table[HEALTH_MAX_MEMBERS]; /* the leader's, on a follower */
	unsigned table_n;
	uint64_t table_ms, table_leader, table_last_index;
	uint64_t report_next_ms;

	/* Elections and leadership, as last logged (events.c). */
	int ev_state;
	uint64_t ev_term, ev_leader, ev_since_ms;

	struct node_metrics metrics;
	uint64_t metrics_leader; /* the leader last seen, for leader_changes */
	uint64_t leader_term;	 /* the term of the last leader logged */

	/* Expiring leases: the leader commits their removal (node_reap_expired). */
	bool expiry_dirty;	/* rescan the leases for the next expiry */
	uint64_t expiry_term;	/* the term in which we last scanned */
	int64_t expiry_next_ns; /* earliest expiry known (0: none) */
	unsigned expiring;	/* EXPIRE entries in flight */

	/* The disk holding the data directory (diskspace.c). */
	enum node_disk_level disk_level; /* at the last look */
	uint64_t disk_free;		 /* free bytes at the last look */
	struct raft_transfer disk_transfer;
	bool disk_transfer_pending;
	uint64_t disk_transfer_next_ms;

	struct raft_transfer transfer;
	uv_timer_t transfer_timer;
	void (*close_cb)(void *arg);
	void *close_arg;
	bool closing;
	int closing_handles;
};

/* Clocks: monotonic for deadlines, retries and latencies; the wall clock
 * only for the stamps the leader puts on entries. */
static inline uint64_t node_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static inline uint64_t node_now_ms(void)
{
	return node_now_ns() / 1000000;
}

static inline int64_t node_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The node whose raft_io is @io (raft_uv's callbacks get the io). */
static inline struct node *node_of_io(struct raft_io *io)
{
	return (struct node *)((char *)io - offsetof(struct node, io));
}

/* Shared between the module's files; each is explained where it is defined. */

/* node.c */
int node_raft_setup(struct node *n, char *err, size_t errlen);
int node_raft_start(struct node *n, char *err, size_t errlen);

/* datadir.c */
int node_path_join(char *out, size_t len, const char *dir, const char *name);
int node_conf_load(struct node *n, char *err, size_t errlen);
int node_conf_save(struct node *n, bool joining);
int node_check_raft_metadata(struct node *n, char *err, size_t errlen);
bool node_has_state(struct node *n);
int node_bump_epoch(struct node *n);
int node_lock_dir(struct node *n, char *err, size_t errlen);
int node_mkdir_p(const char *path, mode_t mode);
void node_wipe_unfinished(struct node *n);
int node_load_key(struct node *n, char *err, size_t errlen);
int node_check_same_cluster(struct node *n, char *err, size_t errlen);
int node_conf_save_removed(struct node *n);

/* propose.c */
void node_req_finish(struct node_req *r, int64_t result);
int64_t node_raft_errno(int status);
bool node_is_retryable(int status);
void node_req_committed(struct node_req *r, uint64_t index, int64_t result);
void node_dispatch_all(struct node *n);
void node_expire(struct node *n);
void node_check_applied(struct node *n);

/* forward.c */
int node_dispatch_forward(struct node_req *r);
void node_track_leader(struct node *n);
void node_serve_reply(struct serve *s, int64_t status, uint64_t value, const char *data);
void node_serve_reply_bytes(struct serve *s, int64_t status, uint64_t value, const void *data,
			    uint32_t len);
void node_inbound_accept(void *arg, struct tunnel *tun, uint64_t id, const char *address,
			 int status);

/* membership.c */
unsigned node_count_role(struct node *n, int role);
/* Whether server @id is a voter of the current configuration. */
bool node_is_voter(struct node *n, raft_id id);
int node_server_role(struct node *n, uint64_t id);
int node_serve_join(struct serve *s);
int node_serve_promote(struct serve *s);
int node_serve_remove(struct serve *s);
/* PEER_REMOVED for @id from a leader of the term in @data (u64 BE): if it
 * is this node, fail it (node_failed) and remember it in node.conf. 0;
 * -EINVAL for another id or a malformed message, -ESTALE from a leader of
 * an older term than this node's. */
int node_removed(struct node *n, uint64_t id, const void *data, uint32_t len);
/* A raft message for @term from @id: tell it if it is no member. */
void node_heard_stranger(struct node *n, uint64_t id, const char *address, uint64_t term);
void node_join_connect(struct node *n);

/* nudge.c */
void node_nudge(struct node *n);
void node_nudge_now(struct node *n);
int node_io_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv);
/* raft_link_recv_cb: a message from raft_link for raft (arg: the node). */
void node_raft_deliver(void *arg, struct raft_message *m);

/* view.c */
void node_view_heard(struct node *n, uint64_t id);
void node_view_tick(struct node *n);
void node_view_serve(struct serve *s, const struct peer_msg *m);
void node_view_answer(struct node *n, const struct peer_msg *m);
uint64_t node_view_unreachable_ms(struct node *n);
struct node_contact *node_view_contact(struct node *n, uint64_t id, bool create);

/* events.c */
void node_events_tick(struct node *n);

/* expiry.c */
void node_reap_expired(struct node *n);

/* diskspace.c */
void node_disk_start(struct node *n);
enum node_disk_level node_disk_level(struct node *n);
int node_disk_admit(struct node *n, const void *entry, size_t len);
bool node_disk_filter(struct node *n, struct raft_message *m);
void node_disk_tick(struct node *n);
int64_t node_disk_refusal(struct node *n);

#endif
