/*
 * Forwarding: a follower's requests sent on to the leader, and the leader
 * serving them.
 *
 * Follower side. One persistent node-protocol connection to the current
 * leader (node_track_leader, from the tick) carries PEER_FORWARD and
 * PEER_BARRIER requests; an answer carries the FSM's result and the entry's
 * index. When the connection drops or the answer says the leader moved, the
 * request goes back to the queue and is sent again, with the same request
 * id, once the new leader is known (propose.c explains why that is safe).
 *
 * Serving. Every node accepts node-protocol connections (transport.c); a
 * node that does not lead answers PEER_REDIRECT with the leader's address.
 * The leader serves forwarded entries and barriers here, and hands joins,
 * promotions and removals to membership.c.
 *
 * Owned by the libuv loop thread.
 */
#include <errno.h>
#include <raft.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "node_internal.h"
#include "stages.h"
#include "tunnel.h"

/* --- the connection to the leader (follower side) --------------------------------- */

int node_dispatch_forward(struct node_req *r)
{
	struct node *n = r->n;
	struct peer_msg m = {
	    .type = r->is_barrier ? PEER_BARRIER : PEER_FORWARD,
	    .seq = r->seq,
	    .data = r->entry,
	    .len = (uint32_t)r->len,
	};
	int rv = peer_conn_send(n->lconn, &m);

	log_debug("forwarding request %llu to node %llu", (unsigned long long)r->seq,
		  (unsigned long long)n->lconn_leader);
	if (rv == 0) {
		r->state = RS_FORWARDED;
		r->reached = true;
		n->metrics.forwarded++;
	}
	return rv;
}

static void lconn_msg(struct peer_conn *c, const struct peer_msg *m)
{
	struct node *n = peer_conn_data(c);
	struct node_req *r;

	if (!m->response)
		return;
	if (m->type == PEER_HEALTH) {
		node_view_answer(n, m);
		return;
	}
	for (r = n->head; r != NULL; r = r->next)
		if (r->seq == m->seq && r->state == RS_FORWARDED)
			break;
	if (r == NULL)
		return; /* answered already (timeout) */
	log_debug("forwarded request %llu: status %lld, index %llu (applied here: %llu)",
		  (unsigned long long)r->seq, (long long)m->status, (unsigned long long)m->value,
		  (unsigned long long)node_applied_index(n));
	if (m->value == 0) {
		/* Not committed: the leader moved or lost its leadership. Try
		 * again (same request id) once we know the new leader. */
		if (m->status == PEER_REDIRECT || m->status == -EROFS || m->status == -ETIMEDOUT) {
			r->state = RS_QUEUED;
			return;
		}
		node_req_finish(r, m->status < 0 ? m->status : -EIO);
		return;
	}
	node_req_committed(r, m->value, m->status);
}

static void lconn_closed(struct peer_conn *c)
{
	struct node *n = peer_conn_data(c);
	struct node_req *r;

	if (n->lconn == c) {
		n->lconn = NULL;
		n->lconn_connecting = false;
		n->lconn_next_ms = node_now_ms() + NODE_RETRY_MS;
	}
	/* What was sent may or may not commit: send it again (same id). */
	for (r = n->head; r != NULL; r = r->next)
		if (r->state == RS_FORWARDED)
			r->state = RS_QUEUED;
}

static void lconn_connected(void *arg, struct tunnel *tun, uint64_t id, const char *address,
			    int status)
{
	struct node *n = arg;

	(void)id;
	n->lconn_connecting = false;
	if (status != 0 || n->closing) {
		if (tun != NULL)
			tunnel_end(tun);
		log_debug("cannot reach the leader at %s: %s", address, strerror(-status));
		n->lconn_next_ms = node_now_ms() + NODE_RETRY_MS;
		return;
	}
	n->lconn = peer_conn_new(tun, n->lconn_leader, lconn_msg, lconn_closed, n);
	if (n->lconn != NULL)
		node_dispatch_all(n);
}

/* Keep one connection to the current leader while we are a follower. */
void node_track_leader(struct node *n)
{
	raft_id leader = 0;
	const char *addr = NULL;

	if (!n->raft_started || n->closing)
		return;
	raft_leader(&n->raft, &leader, &addr);
	if (leader != 0 &&
	    (leader != n->metrics_leader || n->raft.current_term != n->leader_term)) {
		log_info_at(n->raft.current_term, 0, "leader: node %llu at %s (term %llu)",
			    (unsigned long long)leader, addr != NULL ? addr : "?",
			    (unsigned long long)n->raft.current_term);
		n->leader_term = n->raft.current_term;
	}
	if (leader != 0 && leader != n->metrics_leader) {
		n->metrics_leader = leader;
		n->metrics.leader_changes++;
	}
	if (n->lconn != NULL && (leader != n->lconn_leader || leader == n->id)) {
		peer_conn_close(n->lconn); /* lconn_closed requeues */
		n->lconn = NULL;
	}
	if (leader == 0 || leader == n->id || n->lconn != NULL || n->lconn_connecting ||
	    node_now_ms() < n->lconn_next_ms || addr == NULL)
		return;
	n->lconn_leader = leader;
	n->lconn_connecting = true;
	if (transport_connect_peer(&n->transport, n->id, n->address, addr, lconn_connected, n) !=
	    0) {
		n->lconn_connecting = false;
		n->lconn_next_ms = node_now_ms() + NODE_RETRY_MS;
	}
}

/* --- serving other nodes ---------------------------------------------------------- */

static void inbound_put(struct inbound *in)
{
	if (--in->refs > 0 || !in->closed)
		return;
	free(in);
}

void node_serve_reply(struct serve *s, int64_t status, uint64_t value, const char *data)
{
	node_serve_reply_bytes(s, status, value, data, data ? (uint32_t)strlen(data) : 0);
}

void node_serve_reply_bytes(struct serve *s, int64_t status, uint64_t value, const void *data,
			    uint32_t len)
{
	struct peer_msg m = {
	    .type = s->type,
	    .response = true,
	    .seq = s->seq,
	    .status = status,
	    .value = value,
	    .data = data,
	    .len = len,
	};

	if (!s->in->closed)
		peer_conn_send(s->in->c, &m);
	inbound_put(s->in);
	free(s);
}

/* Answer a forwarded entry or barrier once raft lets go of it: the index it
 * committed at, or why not (a lost leadership is ETIMEDOUT: the follower
 * asks again, with the same request id). */
static void serve_committed(struct serve *s, int status, int64_t result, uint64_t index)
{
	struct node *n = s->n;

	if (status != 0)
		node_serve_reply(
		    s, node_is_retryable(status) ? -ETIMEDOUT : node_raft_errno(status), 0, NULL);
	else
		node_serve_reply(s, result, index, NULL);
	node_nudge(n);
}

static void serve_apply_cb(struct raft_apply *req, int status, void *result)
{
	uint64_t index = req->index;

	serve_committed(req->data, status, status == 0 ? fsm_result(result) : 0, index);
	if (status == 0)
		stages_answered(index, (int64_t)node_now_ns());
}

static void serve_barrier_cb(struct raft_barrier *req, int status)
{
	serve_committed(req->data, status, 0, req->index);
}

static void inbound_msg(struct peer_conn *c, const struct peer_msg *m)
{
	struct inbound *in = peer_conn_data(c);
	struct node *n = in->n;
	raft_id leader = 0;
	const char *laddr = NULL;
	struct serve *s;
	int rv = 0;

	if (m->response)
		return;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return;
	s->n = n;
	s->in = in;
	s->type = m->type;
	s->seq = m->seq;
	s->value = m->value;
	in->refs++;
	if (m->type == PEER_REMOVED) {
		node_serve_reply(s, node_removed(n, m->value, m->data, m->len), 0, NULL);
		return;
	}
	if (!n->raft_started || raft_state(&n->raft) != RAFT_LEADER || n->closing) {
		if (n->raft_started)
			raft_leader(&n->raft, &leader, &laddr);
		if (leader != 0 && leader != n->id && laddr != NULL)
			node_serve_reply(s, PEER_REDIRECT, 0, laddr);
		else
			node_serve_reply(s, -EROFS, 0, NULL);
		return;
	}
	/* What this leader's disk cannot take (diskspace.c). */
	if (m->type == PEER_JOIN && node_disk_level(n) != NODE_DISK_OK) {
		node_serve_reply(s, -ENOSPC, 0, NULL);
		return;
	}
	if ((m->type == PEER_FORWARD && node_disk_admit(n, m->data, m->len) != 0) ||
	    (m->type == PEER_BARRIER && node_disk_admit(n, NULL, 0) != 0)) {
		node_serve_reply(s, node_disk_refusal(n), 0, NULL);
		return;
	}
	switch (m->type) {
	case PEER_FORWARD: {
		struct entry e;
		struct raft_buffer buf;

		if (entry_decode(m->data, m->len, &e) != 0) {
			rv = -EINVAL;
			break;
		}
		buf.base = raft_malloc(m->len);
		if (buf.base == NULL) {
			rv = -ENOMEM;
			break;
		}
		memcpy(buf.base, m->data, m->len);
		buf.len = m->len;
		entry_set_stamp(&(struct entry_buf){buf.base, buf.len}, node_wall_ns());
		s->apply.data = s;
		{
			int64_t t0 = (int64_t)node_now_ns();

			rv = raft_apply(&n->raft, &s->apply, &buf, 1, serve_apply_cb);
			if (rv == 0)
				stages_proposed(s->apply.index, t0, (int64_t)node_now_ns());
		}
		if (rv != 0) {
			raft_free(buf.base);
			rv = node_is_retryable(rv) ? -ETIMEDOUT : (int)node_raft_errno(rv);
		}
		break;
	}
	case PEER_BARRIER:
		s->barrier.data = s;
		rv = raft_barrier(&n->raft, &s->barrier, serve_barrier_cb);
		if (rv != 0)
			rv = node_is_retryable(rv) ? -ETIMEDOUT : (int)node_raft_errno(rv);
		break;
	case PEER_JOIN:
		if (m->len == 0 || m->len > NODE_ADDRESS_MAX) {
			rv = -EINVAL;
			break;
		}
		memcpy(s->address, m->data, m->len);
		s->address[m->len] = '\0';
		rv = node_serve_join(s);
		break;
	case PEER_PROMOTE:
		s->standby_only = m->len == 1 && ((const char *)m->data)[0] == NODE_PROMOTE_STANDBY;
		rv = node_serve_promote(s);
		break;
	case PEER_REMOVE:
		rv = node_serve_remove(s);
		break;
	case PEER_HEALTH:
		node_view_serve(s, m);
		return;
	default:
		rv = -EOPNOTSUPP;
	}
	if (rv != 0)
		node_serve_reply(s, rv, 0, NULL);
}

static void inbound_closed(struct peer_conn *c)
{
	struct inbound *in = peer_conn_data(c);
	struct node *n = in->n;

	if (in->prev != NULL)
		in->prev->next = in->next;
	else
		n->inbound = in->next;
	if (in->next != NULL)
		in->next->prev = in->prev;
	in->closed = true;
	in->refs++;
	inbound_put(in);
}

void node_inbound_accept(void *arg, struct tunnel *tun, uint64_t id, const char *address,
			 int status)
{
	struct node *n = arg;
	struct inbound *in;

	(void)address;
	if (status != 0)
		return;
	in = calloc(1, sizeof(*in));
	if (in == NULL || n->closing) {
		free(in);
		tunnel_end(tun);
		return;
	}
	in->n = n;
	in->c = peer_conn_new(tun, id, inbound_msg, inbound_closed, in);
	if (in->c == NULL) {
		free(in);
		return;
	}
	in->next = n->inbound;
	if (n->inbound != NULL)
		n->inbound->prev = in;
	n->inbound = in;
}
