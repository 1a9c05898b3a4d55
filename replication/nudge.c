/*
 * Nudges: followers learn of a commit at once, not a heartbeat later.
 * raft_uv's start and receive callback are wrapped so that the leader can
 * run raft's tick once more after a commit, and see from acknowledgements
 * which followers hold committed entries they were not told about.
 *
 * Owned by the libuv loop thread: node_nudge asks, node_nudge_now (from the
 * check handle, after each loop iteration) sends.
 */
#include <raft.h>
#include <raft/uv.h>
#include <stddef.h>

#include "../common/loop_watch.h"
#include "node_internal.h"
#include "raft_wire.h"
#include "stages.h"

/* Followers learn that an entry is committed only from the leader's next
 * AppendEntries — a heartbeat away (raft 0.15 does not send one when the
 * commit index moves). That delays both a follower waiting to apply its own
 * forwarded write and every other node's view (and inotify events) of the
 * leader's writes. So after a commit the leader runs raft's tick once more,
 * at the end of this loop iteration (node_nudge_now), with the last send to
 * each follower that keeps up (raft's pipeline state) made to look a
 * heartbeat old: each of those gets an empty AppendEntries carrying the new
 * commit index at once, and applies without writing anything. Followers
 * that are down or catching up (probe, snapshot) keep raft's pace of one
 * message per heartbeat. (A barrier entry did the same at the price of a
 * disk write on every node before the follower could apply, and of a
 * queued log write ahead of the leader's next entry.) */
void node_nudge(struct node *n)
{
	if (n->closing || raft_state(&n->raft) != RAFT_LEADER ||
	    node_count_role(n, RAFT_VOTER) + node_count_role(n, RAFT_STANDBY) < 2)
		return;
	n->nudge_wanted = true;
}

/* Record that follower @id can apply up to @upto; true if that is more than
 * it was known to be told (a nudge would tell it something new). */
static bool node_told(struct node *n, raft_id id, raft_index upto)
{
	int i, free_slot = -1;

	for (i = 0; i < NODE_NUDGE_PEERS && n->nudged[i].id != id; i++)
		if (n->nudged[i].id == 0 && free_slot < 0)
			free_slot = i;
	if (i == NODE_NUDGE_PEERS) {
		if (free_slot < 0)
			return false; /* more peers than slots: heartbeats tell them */
		i = free_slot;
		n->nudged[i].id = id;
		n->nudged[i].told = 0;
	}
	if (upto <= n->nudged[i].told)
		return false;
	n->nudged[i].told = upto;
	return true;
}

void node_nudge_now(struct node *n)
{
	if (!n->nudge_wanted)
		return;
	n->nudge_wanted = false;
	if (n->closing || n->raft_tick == NULL || !n->raft_started ||
	    raft_state(&n->raft) != RAFT_LEADER)
		return;
	{
		struct raft *r = &n->raft;
		raft_time now = n->io.time(&n->io);

		/* Only followers that keep up (raft's pipeline state) get the
		 * extra heartbeat: their last send is made to look a heartbeat
		 * old. One that is catching up or down (probe, snapshot) keeps
		 * raft's pace of one message per heartbeat — each of those may
		 * carry the whole log tail or a snapshot. They are then told the
		 * commit index they can apply, so that their acknowledgement of
		 * this heartbeat nudges nothing (node_io_recv). */
		if (now < n->cfg.heartbeat_ms)
			return;
		for (unsigned i = 0; i < r->configuration.n; i++) {
			struct raft_progress *p = &r->leader_state.progress[i];
			raft_id id = r->configuration.servers[i].id;

			if (id == n->id || p->state != NODE_RAFT_PIPELINE)
				continue;
			p->last_send = now - n->cfg.heartbeat_ms;
			node_told(n, id,
				  p->match_index < r->commit_index ? p->match_index
								   : r->commit_index);
		}
		n->raft_tick(&n->io);
	}
}

/* The term a raft message speaks for: a pre-vote asks for the term after
 * its sender's own. */
static raft_term message_term(const struct raft_message *m)
{
	switch (m->type) {
	case RAFT_IO_APPEND_ENTRIES:
		return m->append_entries.term;
	case RAFT_IO_APPEND_ENTRIES_RESULT:
		return m->append_entries_result.term;
	case RAFT_IO_REQUEST_VOTE:
		return m->request_vote.pre_vote && m->request_vote.term > 0
			   ? m->request_vote.term - 1
			   : m->request_vote.term;
	case RAFT_IO_REQUEST_VOTE_RESULT:
		return m->request_vote_result.term;
	case RAFT_IO_INSTALL_SNAPSHOT:
		return m->install_snapshot.term;
	case RAFT_IO_TIMEOUT_NOW:
		return m->timeout_now.term;
	default:
		return 0;
	}
}

/* Every message to raft passes here: it tells view.c that its sender is
 * alive, and membership.c that a non-member (a removed node) speaks.
 *
 * A follower that acknowledges an entry
 * the leader had already committed (the slower of two followers) stored it
 * too late for the heartbeat that carried the commit index: it can apply it
 * only at the next AppendEntries. So when an acknowledgement shows that a
 * follower holds committed entries it has not been told about, nudge again;
 * the acknowledgements of heartbeats tell nothing new and nudge nothing. */
static void node_io_recv(struct raft_io *io, struct raft_message *m)
{
	struct node *n = node_of_io(io);
	raft_index stored = 0, upto;
	raft_id from = m->server_id;

	node_view_heard(n, from);
	node_heard_stranger(n, from, m->server_address, message_term(m));
	/* A node whose disk is low stores no new entries (diskspace.c). */
	if (node_disk_filter(n, m))
		return;
	if (m->type == RAFT_IO_APPEND_ENTRIES_RESULT && m->append_entries_result.rejected == 0) {
		stored = m->append_entries_result.last_log_index;
		if (node_is_voter(n, from)) /* stages.h: "follower" */
			stages_replicated(stored, (int64_t)node_now_ns());
	}
	{
		const char *prev = loop_watch_enter(m->type == RAFT_IO_INSTALL_SNAPSHOT
							? "raft: installing a snapshot"
							: "raft: handling a message");

		n->raft_recv(io, m);
		loop_watch_leave(prev);
	}
	if (stored == 0 || n->closing || raft_state(&n->raft) != RAFT_LEADER)
		return;
	upto = stored < n->raft.commit_index ? stored : n->raft.commit_index;
	if (node_told(n, from, upto))
		node_nudge(n);
}

void node_raft_deliver(void *arg, struct raft_message *m)
{
	struct node *n = arg;

	if (n->raft_recv == NULL || n->io_closed) { /* not started, or closed */
		raft_wire_release(m);
		return;
	}
	node_io_recv(&n->io, m);
}

/* raft_uv's start, with raft's tick kept for node_nudge_now and its
 * receive callback wrapped by node_io_recv. */
int node_io_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv)
{
	struct node *n = node_of_io(io);

	n->raft_tick = tick;
	n->raft_recv = recv;
	return n->io_start(io, msecs, tick, node_io_recv);
}
