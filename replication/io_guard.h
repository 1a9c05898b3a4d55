/*
 * Guards around raft 0.15's libuv I/O (raft_uv) against faults of raft
 * itself that would crash the daemon.
 *
 * A follower answers an AppendEntries (or a snapshot install) only once
 * the entries are on disk, and then sends the answer to the leader it
 * knows *at that moment*: raft's sendAppendEntriesResult takes
 * follower_state.current_leader, and raft_uv's send copies the address
 * with strlen(). When the follower learned of a new term in between (a
 * candidate's RequestVote: no leader known yet), that address is NULL and
 * the daemon died in strlen(NULL) -- seen as a segfault in libc, in a
 * former leader a few seconds after a commit timed out, when elections
 * follow each other while slow disk writes (1 MiB entries, a store near
 * its limit) are in flight. io_guard makes such a send fail (RAFT_NOCONNECTION,
 * which raft handles by dropping the answer: there is no leader to tell).
 *
 * Loop thread only (raft calls send from the loop).
 */
#ifndef CFS_IO_GUARD_H
#define CFS_IO_GUARD_H

#include <raft.h>

/* Wrap @io (set up by raft_uv_init) so that a message to no address fails
 * instead of crashing. 0, or -EINVAL if @io has no send. */
int io_guard_wrap(struct raft_io *io);

#endif
