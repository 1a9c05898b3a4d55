/*
 * Where the time of a write goes: stage timestamps of each change, summed
 * per stage, shown in .cluster/metrics (clusterfs_write_stage_seconds) and
 * printed by scripts/bench-peers.sh as a mean per write.
 *
 * On the node that leads, an entry (its own or one a follower forwarded)
 * is followed by its raft index:
 *   propose      node_submit (a forwarded entry: its arrival) -> raft_apply
 *                returned (raft's append, the AppendEntries sent)
 *   disk         raft_apply -> this node's log write done (raft_uv, fsync)
 *   follower     raft_apply -> the first follower's answer that it stored it
 *   to_apply     the later of those two (a majority of 3 has it) -> the FSM
 *                starts applying it (raft's commit and apply turn)
 *   apply        the FSM's apply of the entry: the sqlite transaction and
 *                the front end's hook (fs_applied: invalidations, replays)
 *   answer       applied -> the request answered (node_req_finish)
 * on a follower, a change it forwarded:
 *   forward      node_submit -> the leader's answer here and this node's own
 *                apply of the entry (read-your-writes)
 * and in the FUSE front end, on every node:
 *   fuse_in      the request taken from /dev/fuse -> node_submit
 *   fuse_reply   the change's outcome -> the reply written to /dev/fuse
 * The kernel's own time (the FUSE queue, waking the caller) and the other
 * requests of a shell write (OPEN, GETXATTR, RELEASE) are what the client's
 * figure has beyond these. "follower" counts voters' answers only, and
 * "to_apply" starts at the later of "disk" and "follower": the moment a
 * majority has the entry in a cluster of 3 voters (with 5, the second
 * follower's answer is that moment and "to_apply" includes the wait).
 *
 * Process-wide state, loop thread only (every caller runs in the libuv
 * loop). An entry's stages are counted once all of its leader stages were
 * seen; the ring holds the last STAGES_RING entries.
 */
#ifndef CFS_STAGES_H
#define CFS_STAGES_H

#include <stdint.h>

#define STAGES_RING 4096

enum stage {
	STAGE_PROPOSE,
	STAGE_DISK,
	STAGE_FOLLOWER,
	STAGE_TO_APPLY,
	STAGE_APPLY,
	STAGE_ANSWER,
	STAGE_FORWARD,
	STAGE_FUSE_IN,
	STAGE_FUSE_REPLY,
	STAGE_N
};

struct stages_totals {
	double sum_s[STAGE_N];
	uint64_t count[STAGE_N];
	/* raft's log writes on this node: entries stored, and the loop turns
	 * in which some were (raft_uv writes what was appended while a write
	 * was in flight as one: entries per turn is the batching). */
	uint64_t log_entries, log_turns;
};

/* The name of @s as the metrics label shows it. */
const char *stages_name(enum stage s);

/* The leader's marks of the entry at @index (CLOCK_MONOTONIC ns). */
void stages_proposed(uint64_t index, int64_t submit_ns, int64_t now_ns);
void stages_stored(uint64_t last_index, int64_t now_ns);
void stages_replicated(uint64_t last_index, int64_t now_ns);
void stages_applied(uint64_t index, int64_t start_ns, int64_t end_ns);
/* The request of @index is answered: its stages are counted if complete. */
void stages_answered(uint64_t index, int64_t now_ns);

void stages_forwarded(int64_t submit_ns, int64_t now_ns);
/* @n entries of a log write are stored (io_guard's append callback). */
void stages_log_stored(unsigned n);
/* A loop turn ends (the node's check handle). */
void stages_turn(void);
void stages_fuse(int64_t in_ns, int64_t submit_ns, int64_t outcome_ns, int64_t replied_ns);

void stages_totals(struct stages_totals *out);
/* Forget everything (tests). */
void stages_reset(void);

#endif
