/*
 * What the node tells about itself: node_status (.cluster/status),
 * node_metrics (.cluster/metrics) and the .cluster/members lines.
 *
 * Called on the libuv loop thread; reads raft's state, changes nothing.
 */
#include <errno.h>
#include <raft.h>
#include <stdio.h>
#include <string.h>

#include "node_internal.h"

static const char *state_name(int state)
{
	switch (state) {
	case RAFT_LEADER:
		return "leader";
	case RAFT_FOLLOWER:
		return "follower";
	case RAFT_CANDIDATE:
		return "candidate";
	default:
		return "unavailable";
	}
}

static const char *role_name(int role)
{
	return role == RAFT_VOTER ? "voter" : role == RAFT_STANDBY ? "standby" : "spare";
}

void node_status(struct node *n, struct node_status *st)
{
	const char *leader_address = NULL;
	raft_id leader = 0;
	int role;

	memset(st, 0, sizeof(*st));
	st->id = n->id;
	st->address = n->address;
	st->leader_address = "";
	st->state = "unavailable";
	st->role = "spare";
	st->phase = node_joining(n) ? "joining" : n->ready ? "member" : "read-only";
	if (!n->raft_started)
		return;
	st->state = state_name(raft_state(&n->raft));
	role = node_server_role(n, n->id);
	st->role = role < 0 ? "spare" : role_name(role);
	st->voters = node_count_role(n, RAFT_VOTER);
	st->term = n->raft.current_term;
	st->commit_index = n->raft.commit_index;
	st->applied_index = node_applied_index(n);
	st->last_index = raft_last_index(&n->raft);
	raft_leader(&n->raft, &leader, &leader_address);
	st->leader_id = leader;
	st->leader_address = leader_address != NULL ? leader_address : "";
	/* raft keeps a leader only while a majority answers within an election
	 * timeout; a follower commits through a known leader. */
	st->quorum = leader != 0 && n->ready;
}

void node_metrics(struct node *n, struct node_metrics *m)
{
	*m = n->metrics;
}

int node_render_members(struct node *n, char *buf, size_t cap)
{
	const struct raft_configuration *c = &n->raft.configuration;
	raft_id leader = 0;
	const char *laddr = NULL;
	bool lead;
	size_t used = 0;

	if (!n->raft_started)
		return 0;
	lead = raft_state(&n->raft) == RAFT_LEADER;
	raft_leader(&n->raft, &leader, &laddr);
	for (unsigned i = 0; i < c->n && used < cap; i++) {
		const struct raft_server *s = &c->servers[i];
		const char *reach;
		int k;

		if (s->id == n->id)
			reach = "yes";
		else if (lead)
			reach = n->raft.leader_state.progress[i].recent_recv ? "yes" : "no";
		else if (s->id == leader)
			reach = "yes";
		else
			reach = "unknown";
		k = snprintf(buf + used, cap - used, "%llu %s %s %s%s\n", (unsigned long long)s->id,
			     s->address, role_name(s->role), reach,
			     s->id == leader ? " leader" : "");
		if (k < 0)
			return -EIO;
		used += (size_t)k;
	}
	return (int)(used < cap ? used : cap);
}
