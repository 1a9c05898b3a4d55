/*
 * Proposals: node_submit and node_barrier, and the life of a request until
 * it is answered.
 *
 * node_submit() keeps a copy of the encoded entry in a struct node_req and
 * dispatches it: on the leader, raft_apply() (stamping the leader's clock
 * first); on a follower, a PEER_FORWARD to the leader (forward.c), whose
 * answer carries the FSM's result and the entry's index — the request then
 * waits until this node has applied that index (read-your-writes). If the
 * leader changes, the connection drops, or raft reports the leadership lost,
 * the request is dispatched again with the same request id: the FSM
 * remembers the outcome of every (node, request id), so a retry never
 * applies twice. A request ends with the FSM's result, ETIMEDOUT at the
 * commit timeout, or EROFS if no leader was known for
 * NODE_NO_LEADER_GRACE_MS. A barrier is a request without an entry.
 *
 * Owned by the libuv loop thread; the tick (node.c) retries and expires.
 */
#include <errno.h>
#include <raft.h>
#include <stdlib.h>
#include <string.h>

#include "node_internal.h"
#include "stages.h"

static void req_link(struct node *n, struct node_req *r)
{
	r->prev = n->tail;
	r->next = NULL;
	if (n->tail != NULL)
		n->tail->next = r;
	else
		n->head = r;
	n->tail = r;
}

static void req_unlink(struct node *n, struct node_req *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		n->head = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	else
		n->tail = r->prev;
	r->prev = r->next = NULL;
}

static void req_free(struct node_req *r)
{
	free(r->entry);
	free(r);
}

const double node_latency_bounds_s[NODE_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5,
};

static void metrics_count(struct node *n, const struct node_req *r, int64_t result)
{
	struct node_metrics *m = &n->metrics;
	double secs;
	int i;

	if (r->is_barrier)
		return;
	if (result == -EROFS || result == -ETIMEDOUT || result == -ESHUTDOWN || result == -ENOMEM) {
		m->proposals_failed++;
		return;
	}
	if (result >= 0)
		m->proposals_applied++;
	else
		m->proposals_refused++;
	secs = (double)(node_now_ns() - r->submitted_ns) / 1e9;
	for (i = 0; i < NODE_LATENCY_BUCKETS && secs > node_latency_bounds_s[i]; i++)
		;
	m->latency_buckets[i]++;
	m->latency_count++;
	m->latency_sum_s += secs;
}

/* Answer a request once; it is freed now unless raft still holds it. */
void node_req_finish(struct node_req *r, int64_t result)
{
	struct node *n = r->n;
	node_done_cb cb = r->cb;
	void *arg = r->arg;

	if (r->answered)
		return;
	metrics_count(n, r, result);
	if (!r->is_barrier && r->proposed_index != 0)
		stages_answered(r->proposed_index, (int64_t)node_now_ns());
	else if (!r->is_barrier && result >= 0)
		stages_forwarded((int64_t)r->submitted_ns, (int64_t)node_now_ns());
	if (r->state == RS_APPLYING)
		n->applying--;
	r->answered = true;
	req_unlink(n, r);
	if (!r->in_raft)
		req_free(r);
	cb(arg, result);
}

/* Map a raft status to the errno the user sees. */
int64_t node_raft_errno(int status)
{
	switch (status) {
	case 0:
		return 0;
	case RAFT_NOTLEADER:
		return -EROFS;
	case RAFT_LEADERSHIPLOST:
		/* outcome unknown: the entry may still commit (DESIGN §3) */
		return -ETIMEDOUT;
	case RAFT_NOSPACE:
		return -ENOSPC;
	case RAFT_NOMEM:
		return -ENOMEM;
	case RAFT_TOOBIG:
		return -EFBIG;
	case RAFT_SHUTDOWN:
		return -ESHUTDOWN;
	default:
		return -EIO;
	}
}

bool node_is_retryable(int status)
{
	return status == RAFT_NOTLEADER || status == RAFT_LEADERSHIPLOST;
}

/* The outcome to answer for @r, committed with @result and now applied
 * here: a result the leader could not know yet (its store deferred the
 * entry, see fsm.h) is read back from this node's store, which applied the
 * same entry to the same state. Unknown then: ETIMEDOUT ("re-read"). */
static int64_t req_outcome(struct node_req *r, int64_t result)
{
	struct entry e;
	int64_t stored;

	if (result != FSM_DEFERRED)
		return result;
	if (r->is_barrier)
		return 0;
	if (entry_decode(r->entry, r->len, &e) == 0 &&
	    store_request_outcome(r->n->store, e.node_id, e.request_id, &stored) == 0)
		return stored;
	return -ETIMEDOUT;
}

/* The entry (or barrier) at @index is committed with @result: answer now if
 * this node has applied it, else wait (node_check_applied). */
void node_req_committed(struct node_req *r, uint64_t index, int64_t result)
{
	struct node *n = r->n;

	if (node_applied_index(n) >= index) {
		node_req_finish(r, req_outcome(r, result));
		return;
	}
	r->state = RS_APPLYING;
	r->wait_index = index;
	r->result = result;
	n->applying++;
}

/* Raft let go of a request: true if it is to be answered now, false if
 * it was answered already (freed now) or goes back to the queue. */
static bool req_back_from_raft(struct node_req *r, int status)
{
	r->in_raft = false;
	if (r->answered) {
		req_free(r);
		return false;
	}
	if (node_is_retryable(status)) {
		r->state = RS_QUEUED;  /* same request id: the FSM dedups */
		r->proposed_index = 0; /* its stages start over (stages.h) */
		return false;
	}
	return true;
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
	struct node_req *r = req->data;

	if (!req_back_from_raft(r, status))
		return;
	if (status != 0) {
		node_req_finish(r, node_raft_errno(status));
		return;
	}
	/* Raft applied it here before calling, unless the store deferred it
	 * (then this waits for the store). */
	node_req_committed(r, req->index, fsm_result(result));
}

static void barrier_cb(struct raft_barrier *req, int status)
{
	struct node_req *r = req->data;

	if (!req_back_from_raft(r, status))
		return;
	if (status != 0) {
		node_req_finish(r, node_raft_errno(status));
		return;
	}
	node_req_committed(r, req->index, 0);
}

static int dispatch_local(struct node_req *r)
{
	struct node *n = r->n;
	struct raft_buffer buf;
	int rv;

	if (r->is_barrier) {
		r->barrier.data = r;
		rv = raft_barrier(&n->raft, &r->barrier, barrier_cb);
	} else {
		struct entry_buf b = {.base = raft_malloc(r->len), .len = r->len};

		if (b.base == NULL)
			return RAFT_NOMEM;
		memcpy(b.base, r->entry, r->len);
		entry_set_stamp(&b, node_wall_ns());
		buf.base = b.base;
		buf.len = b.len;
		r->apply.data = r;
		rv = raft_apply(&n->raft, &r->apply, &buf, 1, apply_cb);
		if (rv != 0) {
			raft_free(buf.base);
		} else {
			r->proposed_index = r->apply.index;
			stages_proposed(r->apply.index, (int64_t)r->submitted_ns,
					(int64_t)node_now_ns());
		}
	}
	if (rv == 0) {
		r->state = RS_RAFT;
		r->in_raft = true;
		r->reached = true;
	}
	return rv;
}

/* Try to move a queued request on: to raft if we lead, to the leader if
 * we are connected to it. Otherwise it stays queued for the next tick. */
static void req_dispatch(struct node_req *r)
{
	struct node *n = r->n;
	int rv;

	if (r->state != RS_QUEUED || n->closing)
		return;
	if (n->raft_started && raft_state(&n->raft) == RAFT_LEADER) {
		rv = dispatch_local(r);
		if (rv != 0 && !node_is_retryable(rv))
			node_req_finish(r, node_raft_errno(rv));
		return;
	}
	if (n->lconn != NULL && !n->lconn_connecting) {
		raft_id leader = 0;
		const char *addr = NULL;

		raft_leader(&n->raft, &leader, &addr);
		if (leader == n->lconn_leader)
			node_dispatch_forward(r);
	}
}

void node_dispatch_all(struct node *n)
{
	struct node_req *r, *next;

	for (r = n->head; r != NULL; r = next) {
		next = r->next;
		req_dispatch(r);
	}
}

static struct node_req *req_new(struct node *n, node_done_cb cb, void *arg)
{
	struct node_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->n = n;
	r->cb = cb;
	r->arg = arg;
	r->seq = ++n->seq;
	r->submitted_ns = node_now_ns();
	r->submitted_ms = r->submitted_ns / 1000000;
	r->deadline_ms = r->submitted_ms + n->cfg.commit_timeout_ms;
	r->state = RS_QUEUED;
	return r;
}

static bool long_leaderless(struct node *n);

int node_submit(struct node *n, struct entry_buf *b, node_done_cb cb, void *arg)
{
	struct node_req *r;

	if (n->closing || long_leaderless(n)) {
		raft_free(b->base);
		return n->closing ? -ESHUTDOWN : -EROFS;
	}
	if (node_disk_admit(n, b->base, b->len) != 0) {
		/* This node cannot persist it (diskspace.c). */
		raft_free(b->base);
		return -ENOSPC;
	}
	r = req_new(n, cb, arg);
	if (r != NULL)
		r->entry = malloc(b->len);
	if (r == NULL || r->entry == NULL) {
		free(r);
		raft_free(b->base);
		return -ENOMEM;
	}
	memcpy(r->entry, b->base, b->len);
	r->len = b->len;
	raft_free(b->base);
	req_link(n, r);
	req_dispatch(r);
	return 0;
}

int node_barrier(struct node *n, node_done_cb cb, void *arg)
{
	struct node_req *r;

	if (n->closing || long_leaderless(n))
		return n->closing ? -ESHUTDOWN : -EROFS;
	if (node_disk_admit(n, NULL, 0) != 0)
		return -ENOSPC; /* it could not apply what it waits for */
	r = req_new(n, cb, arg);
	if (r == NULL)
		return -ENOMEM;
	r->is_barrier = true;
	req_link(n, r);
	req_dispatch(r);
	return 0;
}

/* Deadlines: ETIMEDOUT; or EROFS if no leader is known and the request
 * never reached a log (one that did may still commit: its outcome is
 * unknown, DESIGN §3). */
void node_expire(struct node *n)
{
	uint64_t now = node_now_ms();
	raft_id leader = 0;
	const char *addr = NULL;
	struct node_req *r, *next;

	if (n->raft_started)
		raft_leader(&n->raft, &leader, &addr);
	if (leader != 0)
		n->leaderless_since = 0;
	else if (n->leaderless_since == 0)
		n->leaderless_since = now;
	for (r = n->head; r != NULL; r = next) {
		next = r->next;
		if (r->state == RS_QUEUED && leader == 0 && !r->reached &&
		    now >= r->submitted_ms + NODE_NO_LEADER_GRACE_MS)
			node_req_finish(r, -EROFS);
		else if (now >= r->deadline_ms)
			node_req_finish(r, -ETIMEDOUT);
	}
}

/* No leader for a while already: a new mutation fails at once, rather
 * than each waiting out the grace period in turn. */
static bool long_leaderless(struct node *n)
{
	return n->raft_started && n->leaderless_since != 0 &&
	       node_now_ms() >= n->leaderless_since + NODE_NO_LEADER_GRACE_MS;
}

/* Requests committed elsewhere wait for this node to apply their index. */
void node_check_applied(struct node *n)
{
	uint64_t applied;
	struct node_req *r, *next;

	if (n->applying == 0 || !n->raft_started)
		return;
	applied = node_applied_index(n);
	for (r = n->head; r != NULL && n->applying > 0; r = next) {
		next = r->next;
		if (r->state == RS_APPLYING && applied >= r->wait_index)
			node_req_finish(r, req_outcome(r, r->result));
	}
}
