/*
 * What happens to the cluster, logged as it is seen from this node: an
 * election started here, won or lost, leadership lost, and (on the leader)
 * a member that stopped answering or came back. raft 0.15 has no callback
 * for any of these, so the tick compares raft's state with what was last
 * logged (an election shorter than a tick is logged as won or lost at
 * once). Leader changes seen by a follower are logged by node_track_leader
 * (forward.c); snapshots by snapshot.c.
 *
 * Owned by the libuv loop thread (called from the tick).
 */
#include <raft.h>

#include "../common/log.h"
#include "node_internal.h"

/* The term an election is for: with pre-vote (node.c turns it on) a
 * candidate first asks for votes without raising its term. */
static uint64_t campaign_term(struct node *n, int state)
{
	return n->raft.current_term +
	       (state == RAFT_CANDIDATE && n->raft.candidate_state.in_pre_vote ? 1 : 0);
}

static void log_elections(struct node *n, int state, uint64_t now)
{
	uint64_t term = campaign_term(n, state);
	int was = n->ev_state;
	raft_id leader = 0;
	const char *laddr = NULL;

	if (state == was && term == n->ev_term)
		return;
	raft_leader(&n->raft, &leader, &laddr);
	if (state == RAFT_CANDIDATE && (was != RAFT_CANDIDATE || term != n->ev_term)) {
		n->metrics.elections_started++;
		if (was == RAFT_CANDIDATE) {
			n->metrics.elections_lost++;
			log_info_at(term, 0, "election for term %llu ended without a leader; campaigning again "
				 "for term %llu",
				 (unsigned long long)n->ev_term, (unsigned long long)term);
		} else {
			log_info_at(term, 0, "election started: campaigning for term %llu (no leader heard "
				 "from)",
				 (unsigned long long)term);
		}
		n->ev_since_ms = now;
	} else if (state == RAFT_LEADER && was != RAFT_LEADER) {
		if (was != RAFT_CANDIDATE) {
			n->metrics.elections_started++; /* a campaign shorter than a tick */
			n->ev_since_ms = now;
		}
		n->metrics.elections_won++;
		if (was == RAFT_CANDIDATE)
			log_info_at(term, 0, "election won: leader for term %llu after %llu ms of campaign",
				 (unsigned long long)term, (unsigned long long)(now - n->ev_since_ms));
		else
			log_info_at(term, 0, "election won: leader for term %llu", (unsigned long long)term);
		/* Every member gets a fresh start before it can be called
		 * unreachable: the leader has not heard from any yet. */
		for (unsigned i = 0; i < HEALTH_MAX_MEMBERS; i++)
			n->contacts[i].unreachable = false;
	} else if (was == RAFT_CANDIDATE && state == RAFT_FOLLOWER) {
		n->metrics.elections_lost++;
		if (leader != 0)
			log_info_at(term, 0, "election lost: node %llu leads term %llu",
				 (unsigned long long)leader, (unsigned long long)term);
		else
			log_info_at(term, 0, "election for term %llu lost: another node's term or vote came "
				 "first",
				 (unsigned long long)n->ev_term);
	} else if (was == RAFT_LEADER && state != RAFT_LEADER) {
		log_warn_at(term, 0, "no longer the leader (term %llu, now %llu): %s",
			 (unsigned long long)n->ev_term, (unsigned long long)term,
			 term != n->ev_term ? "a member has a newer term"
					    : "a majority stopped answering");
	}
	n->ev_state = state;
	n->ev_term = term;
}

/* On the leader: a member not heard from for node_view_unreachable_ms is
 * logged once as unreachable, and once more when it is heard again. */
static void log_members(struct node *n, uint64_t now)
{
	const struct raft_configuration *cf = &n->raft.configuration;
	uint64_t limit = node_view_unreachable_ms(n);
	uint64_t last = raft_last_index(&n->raft);

	/* Nobody has had the time to answer a new leader yet. */
	if (now - n->ev_since_ms < limit)
		return;
	for (unsigned i = 0; i < cf->n; i++) {
		const struct raft_server *s = &cf->servers[i];
		struct node_contact *c;
		uint64_t match = n->raft.leader_state.progress[i].match_index;
		uint64_t behind = last > match ? last - match : 0;
		uint64_t quiet;

		/* Spares get no log; nobody expects them to answer. */
		if (s->id == n->id || s->role == RAFT_SPARE ||
		    (c = node_view_contact(n, s->id, true)) == NULL)
			continue;
		quiet = c->heard_ms != 0 ? now - c->heard_ms : HEALTH_UNKNOWN;
		if (!c->unreachable && (quiet == HEALTH_UNKNOWN || quiet >= limit)) {
			c->unreachable = true;
			if (quiet == HEALTH_UNKNOWN)
				log_warn("member %llu at %s (%s) unreachable: never heard from since "
					 "this node leads; %llu entries behind",
					 (unsigned long long)s->id, s->address,
					 s->role == RAFT_VOTER ? "voter" : "standby",
					 (unsigned long long)behind);
			else
				log_warn("member %llu at %s (%s) unreachable: nothing heard for %llu "
					 "ms; %llu entries behind",
					 (unsigned long long)s->id, s->address,
					 s->role == RAFT_VOTER ? "voter" : "standby",
					 (unsigned long long)quiet, (unsigned long long)behind);
		} else if (c->unreachable && quiet < limit) {
			c->unreachable = false;
			log_info("member %llu at %s is back; %llu entries behind",
				 (unsigned long long)s->id, s->address,
				 (unsigned long long)behind);
		}
	}
}

void node_events_tick(struct node *n)
{
	uint64_t now = node_now_ms();
	int state;

	if (!n->raft_started || n->closing)
		return;
	state = raft_state(&n->raft);
	log_elections(n, state, now);
	if (state == RAFT_LEADER)
		log_members(n, now);
}
