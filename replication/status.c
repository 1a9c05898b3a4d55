/*
 * What the node tells about itself: node_status (.cluster/status),
 * node_metrics (.cluster/metrics) and the .cluster/members lines (from
 * view.c's node_members).
 *
 * Called on the libuv loop thread; reads raft's state, changes nothing.
 */
#include <errno.h>
#include <raft.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/loop_watch.h"

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
	m->snapshots = n->snap_io.stats;
	m->loop_stall_longest_s = (double)loop_watch_longest_ms() / 1000;
}

/* A number, or "-" when it is not known. */
static const char *num(uint64_t v, char *buf, size_t cap)
{
	if (v == HEALTH_UNKNOWN)
		return "-";
	snprintf(buf, cap, "%llu", (unsigned long long)v);
	return buf;
}

/* One line per member: the four columns DESIGN §6 names, then key=value
 * fields a reader may ignore or pick by name:
 *   ID ADDRESS ROLE REACHABLE leader=yes|no contact_ms= match= lag=
 *   applied= term= store_bytes= version=
 * REACHABLE is yes, no or unknown; an unknown number is "-". */
int node_render_members(struct node *n, char *buf, size_t cap)
{
	struct node_member *m = calloc(HEALTH_MAX_MEMBERS, sizeof(*m));
	unsigned count;
	size_t used = 0;

	if (m == NULL)
		return -ENOMEM;
	count = node_members(n, m, HEALTH_MAX_MEMBERS);
	for (unsigned i = 0; i < count && used < cap; i++) {
		const struct node_member *b = &m[i];
		char c[24], ma[24], l[24], a[24], t[24], sb[24];
		int k;

		k = snprintf(buf + used, cap - used,
			     "%llu %s %s %s leader=%s contact_ms=%s match=%s lag=%s applied=%s "
			     "term=%s store_bytes=%s version=%s\n",
			     (unsigned long long)b->id, b->address, b->role,
			     b->reachable < 0 ? "unknown" : b->reachable ? "yes" : "no",
			     b->leader ? "yes" : "no", num(b->contact_ms, c, sizeof(c)),
			     num(b->match_index, ma, sizeof(ma)), num(b->lag, l, sizeof(l)),
			     num(b->reported ? b->report.applied_index : HEALTH_UNKNOWN, a, sizeof(a)),
			     num(b->reported ? b->report.term : HEALTH_UNKNOWN, t, sizeof(t)),
			     num(b->reported ? b->report.store_bytes : HEALTH_UNKNOWN, sb, sizeof(sb)),
			     b->reported && b->report.version[0] ? b->report.version : "-");
		if (k < 0) {
			free(m);
			return -EIO;
		}
		used += (size_t)k;
	}
	free(m);
	return (int)(used < cap ? used : cap);
}
