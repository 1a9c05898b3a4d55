/*
 * What this node knows of every member: when it last heard from each (any
 * raft message, node_view_heard from the receive wrapper), what each
 * follower reports of itself to the leader every NODE_HEALTH_REPORT_MS,
 * and, on a follower, the leader's table that answers the report. From
 * these node_members() gives each member's reachability, last contact,
 * match index and lag, applied index, term, store size and version
 * (.cluster/members, `clusterfsctl members`, the per-member metrics).
 *
 * raft 0.15 keeps what the leader knows of a follower's log in its
 * progress array (match index), but not when it last heard from it, and a
 * follower knows nothing of the others: hence the contacts kept here and
 * the reports and tables on the node protocol (health.h).
 *
 * Owned by the libuv loop thread.
 */
#include <errno.h>
#include <raft.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "node_internal.h"

uint64_t node_view_unreachable_ms(struct node *n)
{
	uint64_t two = 2 * (uint64_t)n->cfg.election_timeout_ms;

	return two > NODE_UNREACHABLE_MIN_MS ? two : NODE_UNREACHABLE_MIN_MS;
}

static bool in_configuration(struct node *n, uint64_t id)
{
	const struct raft_configuration *c = &n->raft.configuration;

	for (unsigned i = 0; i < c->n; i++)
		if (c->servers[i].id == id)
			return true;
	return false;
}

/* The slot of member @id; with @create, a free one (or one of a node that
 * left the configuration) if it has none. NULL if there is no room. */
struct node_contact *node_view_contact(struct node *n, uint64_t id, bool create)
{
	struct node_contact *spare = NULL;

	if (id == 0)
		return NULL;
	for (unsigned i = 0; i < HEALTH_MAX_MEMBERS; i++) {
		struct node_contact *c = &n->contacts[i];

		if (c->id == id)
			return c;
		if (spare == NULL && (c->id == 0 || (n->raft_started && !in_configuration(n, c->id))))
			spare = c;
	}
	if (!create || spare == NULL)
		return NULL;
	memset(spare, 0, sizeof(*spare));
	spare->id = id;
	return spare;
}

void node_view_heard(struct node *n, uint64_t id)
{
	struct node_contact *c = node_view_contact(n, id, true);

	if (c != NULL)
		c->heard_ms = node_now_ms();
}

static void own_report(struct node *n, struct health_report *r)
{
	memset(r, 0, sizeof(*r));
	r->applied_index = node_applied_index(n);
	r->term = n->raft_started ? n->raft.current_term : 0;
	r->last_index = n->raft_started ? raft_last_index(&n->raft) : 0;
	r->store_bytes = store_used_bytes(n->store);
	snprintf(r->version, sizeof(r->version), "%s", CFS_VERSION);
}

/* --- follower: report to the leader, keep its table -------------------------------- */

void node_view_tick(struct node *n)
{
	struct health_report r;
	uint8_t data[HEALTH_REPORT_SIZE];
	uint64_t now = node_now_ms();
	struct peer_msg m = {.type = PEER_HEALTH, .data = data, .len = sizeof(data)};

	if (n->lconn == NULL || now < n->report_next_ms)
		return;
	n->report_next_ms = now + NODE_HEALTH_REPORT_MS;
	own_report(n, &r);
	health_report_encode(&r, data);
	m.value = r.applied_index;
	if (peer_conn_send(n->lconn, &m) != 0)
		log_debug("cannot send a health report to the leader");
}

void node_view_answer(struct node *n, const struct peer_msg *m)
{
	int rows;

	if (m->status != 0)
		return; /* not the leader any more: the next report finds the new one */
	rows = health_rows_decode(m->data, m->len, n->table, HEALTH_MAX_MEMBERS);
	if (rows < 0) {
		log_warn("the leader's member table is malformed (%u bytes): ignored", m->len);
		n->table_n = 0;
		return;
	}
	n->table_n = (unsigned)rows;
	n->table_ms = node_now_ms();
	n->table_leader = n->lconn_leader;
	n->table_last_index = m->value;
}

/* --- leader: take reports, answer with the table --------------------------------- */

/* The leader's row for configuration entry @i. */
static void leader_row(struct node *n, unsigned i, uint64_t now, struct health_row *w)
{
	const struct raft_server *s = &n->raft.configuration.servers[i];
	struct node_contact *c = node_view_contact(n, s->id, false);

	memset(w, 0, sizeof(*w));
	w->id = s->id;
	w->contact_ms = HEALTH_UNKNOWN;
	w->match_index = HEALTH_UNKNOWN;
	w->report_age_ms = HEALTH_UNKNOWN;
	if (s->id == n->id) {
		w->flags = HEALTH_REACHABLE | HEALTH_REPORTED;
		w->contact_ms = 0;
		w->report_age_ms = 0;
		own_report(n, &w->report);
		w->match_index = w->report.last_index;
		return;
	}
	w->match_index = n->raft.leader_state.progress[i].match_index;
	if (c == NULL)
		return;
	if (c->heard_ms != 0) {
		w->contact_ms = now - c->heard_ms;
		if (w->contact_ms < node_view_unreachable_ms(n))
			w->flags |= HEALTH_REACHABLE;
	}
	if (c->reported_ms != 0) {
		w->flags |= HEALTH_REPORTED;
		w->report = c->report;
		w->report_age_ms = now - c->reported_ms;
	}
}

void node_view_serve(struct serve *s, const struct peer_msg *m)
{
	struct node *n = s->n;
	struct health_report r;
	struct node_contact *c;
	struct health_row *rows;
	uint8_t *data;
	unsigned count = n->raft.configuration.n;
	uint64_t now = node_now_ms();

	if (health_report_decode(m->data, m->len, m->value, &r) != 0) {
		node_serve_reply(s, -EINVAL, 0, NULL);
		return;
	}
	c = node_view_contact(n, peer_conn_id(s->in->c), true);
	if (c != NULL) {
		/* A report is contact too: spares get no raft traffic. */
		c->report = r;
		c->reported_ms = now;
		c->heard_ms = now;
	}
	if (count > HEALTH_MAX_MEMBERS)
		count = HEALTH_MAX_MEMBERS;
	rows = calloc(count ? count : 1, sizeof(*rows));
	data = malloc(count ? (size_t)count * HEALTH_ROW_SIZE : 1);
	if (rows == NULL || data == NULL) {
		free(rows);
		free(data);
		node_serve_reply(s, -ENOMEM, 0, NULL);
		return;
	}
	for (unsigned i = 0; i < count; i++)
		leader_row(n, i, now, &rows[i]);
	health_rows_encode(rows, count, data);
	node_serve_reply_bytes(s, 0, raft_last_index(&n->raft), data,
			       (uint32_t)(count * HEALTH_ROW_SIZE));
	free(rows);
	free(data);
}

/* --- members ------------------------------------------------------------------ */

static const char *role_name(int role)
{
	return role == RAFT_VOTER ? "voter" : role == RAFT_STANDBY ? "standby" : "spare";
}

static const struct health_row *table_row(struct node *n, uint64_t id)
{
	for (unsigned i = 0; i < n->table_n; i++)
		if (n->table[i].id == id)
			return &n->table[i];
	return NULL;
}

static void member_from_row(struct node_member *mb, const struct health_row *w,
			    uint64_t last_index, uint64_t age_ms)
{
	mb->reachable = (w->flags & HEALTH_REACHABLE) != 0;
	mb->contact_ms = w->contact_ms == HEALTH_UNKNOWN ? HEALTH_UNKNOWN : w->contact_ms + age_ms;
	mb->match_index = w->match_index;
	if (w->match_index != HEALTH_UNKNOWN && last_index != HEALTH_UNKNOWN)
		mb->lag = last_index > w->match_index ? last_index - w->match_index : 0;
	if (w->flags & HEALTH_REPORTED) {
		mb->reported = true;
		mb->report = w->report;
	}
}

unsigned node_members(struct node *n, struct node_member *out, unsigned max)
{
	const struct raft_configuration *cf = &n->raft.configuration;
	raft_id leader = 0;
	const char *laddr = NULL;
	uint64_t now = node_now_ms();
	bool lead, fresh;
	unsigned count = 0;

	if (!n->raft_started)
		return 0;
	lead = raft_state(&n->raft) == RAFT_LEADER;
	raft_leader(&n->raft, &leader, &laddr);
	fresh = !lead && leader != 0 && n->table_n > 0 && n->table_leader == leader &&
		now - n->table_ms < NODE_HEALTH_STALE_MS;
	for (unsigned i = 0; i < cf->n && count < max; i++) {
		const struct raft_server *s = &cf->servers[i];
		struct node_member *mb = &out[count++];

		memset(mb, 0, sizeof(*mb));
		mb->id = s->id;
		snprintf(mb->address, sizeof(mb->address), "%s", s->address);
		mb->role = role_name(s->role);
		mb->leader = s->id == leader;
		mb->self = s->id == n->id;
		mb->reachable = -1;
		mb->contact_ms = HEALTH_UNKNOWN;
		mb->match_index = HEALTH_UNKNOWN;
		mb->lag = HEALTH_UNKNOWN;
		if (lead) {
			struct health_row w;

			leader_row(n, i, now, &w);
			member_from_row(mb, &w, raft_last_index(&n->raft), 0);
		} else if (fresh && table_row(n, s->id) != NULL) {
			member_from_row(mb, table_row(n, s->id), n->table_last_index,
					now - n->table_ms);
		} else if (s->id == leader) {
			struct node_contact *c = node_view_contact(n, s->id, false);

			/* What a follower knows first hand: the leader talks to it. */
			if (c != NULL && c->heard_ms != 0) {
				mb->contact_ms = now - c->heard_ms;
				mb->reachable = mb->contact_ms < node_view_unreachable_ms(n);
			}
		}
		if (mb->self) {
			mb->reachable = 1;
			mb->reported = true;
			own_report(n, &mb->report);
		}
	}
	return count;
}
