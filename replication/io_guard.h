/*
 * Guards around raft 0.15's libuv I/O (raft_uv) against faults of raft
 * itself that would crash the daemon.
 *
 * A follower answers an AppendEntries (or a snapshot install) only once
 * the entries (the snapshot) are on disk, and then sends the answer to the
 * leader it knows *at that moment*: raft's sendAppendEntriesResult takes
 * follower_state.current_leader, and raft_uv's send copies the address
 * with strlen(). Two ways that crashed the daemon in strlen, both seen
 * under tests/e2e/stress_leader_faults.sh:
 *   - the node learned of a new term in between (a candidate's
 *     RequestVote): still a follower, but no leader known, the address is
 *     NULL -- the "segfault in libc" seen in a former leader a few seconds
 *     after a commit timed out, when elections follow each other while slow
 *     disk writes (1 MiB entries, a store near its limit) are in flight;
 *   - the node is no longer a follower at all (a snapshot install that
 *     ends while it campaigns): raft reads the address from the
 *     candidate's (or leader's) state, which shares its memory -- 0x100 for
 *     a candidate in its pre-vote phase.
 * io_guard makes such a send fail (RAFT_NOCONNECTION, which raft handles by
 * dropping the answer: there is no leader to tell). What passes goes to
 * raft_link.c (io_guard_route), or to raft_uv's send if none is set.
 *
 * A follower ahead of the leader's snapshot. raft 0.15 rejects an
 * AppendEntries whose previous entry its own snapshot covers ("no entry at
 * index"), and answers a snapshot older than its own with "matched up to
 * that snapshot's index". A leader whose snapshot is older than the first
 * entry such a follower still has can then never catch it up: after the
 * snapshot it probes from the snapshot's index, each probe rejected, one
 * index lower per heartbeat down to the first entry of its own log, then
 * sends its snapshot again -- a loop (about 50 s a turn with 1024 entries
 * per segment and a 50 ms heartbeat) in which the follower stays
 * read-only. A new leader gets there when its first sends to a follower
 * fail (a node still starting: raft_link drops what waits for a
 * connection), as raft then probes from match_index + 1 = 1. Everything up
 * to the follower's snapshot was applied, so committed: the leader's log
 * holds the same entries (or its own newer snapshot covers them). So such
 * an answer (a rejection of an index the snapshot covers, or a match lower
 * than it) is sent as "matched up to my snapshot", and the leader goes on
 * from there (io_guard_snapshot_answer).
 *
 * Loop thread only (raft calls send from the loop).
 */
#ifndef CFS_IO_GUARD_H
#define CFS_IO_GUARD_H

#include <raft.h>

/* Wrap @io (set up by raft_uv_init; raft_init later points io->data at
 * the raft) so that a message to no valid address fails instead of
 * crashing. 0, or -EINVAL if @io's send is not raft_uv's. */
int io_guard_wrap(struct raft_io *io);

/* From now on, send what raft sends on @io (wrapped) by @l (raft_link.h)
 * instead of raft_uv's streams; NULL: raft_uv's again. One @io at a time
 * (one node per process). */
struct raft_link;
void io_guard_route(const struct raft_io *io, struct raft_link *l);

/* Log appends handed to raft_uv and not yet called back. raft 0.15 crashes
 * (a NULL read in its log's reference counting, in the failure path of a
 * leader's append callback) when it is closed with appends in flight, whose
 * writes the close cancels: node_close waits for this to be 0 first. */
unsigned io_guard_appends_in_flight(void);

/* For a follower @r about to send @m: if @m is an AppendEntries result that
 * tells less than @r's snapshot covers, make it "matched up to the
 * snapshot" and return true (see above). */
bool io_guard_snapshot_answer(const struct raft *r, struct raft_message *m);

#endif
