/*
 * Raft's links: raft's messages on our own connections; see raft_link.h.
 * Loop thread only.
 */
#include "raft_link.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "peer.h"
#include "raft_wire.h"
#include "transport.h"
#include "tunnel.h"

/* A message raft gave us: its frame is our head (the frame's and raft's
 * headers) and raft's own payloads, not copied (raft keeps them until its
 * callback). Queued until its connection is up (unsent), then in flight
 * until its bytes are out, then waiting for its callback. req NULL: raft
 * was called back at close, and the write's callback only frees it. */
struct pending {
	struct raft_io_send *req;
	int status;
	bool unsent;
	int iovcnt;
	struct link_out *o; /* in flight on its connection */
	struct pending *next;
	struct iovec iov[]; /* our head (after the array), then raft's payloads */
};

struct pending_list {
	struct pending *head, **tail;
	unsigned n;
};

/* Our connection to one node, which we only write. */
struct link_out {
	struct raft_link *l;
	struct link_out *next;
	uint64_t id;
	char address[RAFT_WIRE_ADDRESS_MAX + 1];
	char connecting_to[RAFT_WIRE_ADDRESS_MAX + 1]; /* "": no handshake in flight */
	struct peer_conn *conn;			       /* up */
	uv_timer_t retry;			       /* after a failed attempt */
	bool retry_open;
	struct pending_list queue;    /* waiting for the connection */
	struct pending_list inflight; /* written, not all out yet */
	bool broken;		      /* lost: the next message fails (see out_closed) */
	bool loss_reported;	      /* a message in flight failed with it */
	unsigned draining;	      /* connections to a former address, closing */
};

/* A connection another node opened, which we only read. */
struct link_in {
	struct raft_link *l;
	struct link_in *next, *prev;
	struct peer_conn *conn;
	uint64_t id;
	char address[RAFT_WIRE_ADDRESS_MAX + 1]; /* as its handshake proved */
};

struct raft_link {
	uv_loop_t *loop;
	struct raft_uv_transport *rt;
	raft_link_recv_cb recv;
	void *arg;
	struct link_out *outs;
	struct link_in *ins;
	struct pending_list done; /* callbacks for the next loop iteration */
	uv_idle_t idle;		  /* runs them */
	bool idle_open;
	bool closing;
};

static void list_init(struct pending_list *q)
{
	q->head = NULL;
	q->tail = &q->head;
	q->n = 0;
}

static void list_push(struct pending_list *q, struct pending *p)
{
	p->next = NULL;
	*q->tail = p;
	q->tail = &p->next;
	q->n++;
}

static void list_remove(struct pending_list *q, struct pending *p)
{
	struct pending **pp = &q->head, *prev = NULL;

	while (*pp != NULL && *pp != p) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (*pp == NULL)
		return;
	*pp = p->next;
	if (q->tail == &p->next)
		q->tail = prev != NULL ? &prev->next : &q->head;
	q->n--;
}

static struct pending *list_pop(struct pending_list *q)
{
	struct pending *p = q->head;

	if (p == NULL)
		return NULL;
	q->head = p->next;
	if (q->head == NULL)
		q->tail = &q->head;
	q->n--;
	return p;
}

/* --- freeing --------------------------------------------------------------- */

static void link_maybe_free(struct raft_link *l)
{
	if (l->closing && l->outs == NULL && l->ins == NULL && !l->idle_open)
		free(l);
}

/* An outbound link with nothing left that calls back is freed at close. */
static void out_maybe_free(struct link_out *o)
{
	struct raft_link *l = o->l;
	struct link_out **p;

	if (!l->closing || o->conn != NULL || o->connecting_to[0] != '\0' || o->retry_open ||
	    o->draining > 0)
		return;
	for (p = &l->outs; *p != o; p = &(*p)->next)
		;
	*p = o->next;
	free(o);
	link_maybe_free(l);
}

/* --- callbacks to raft ----------------------------------------------------- */

static void done_run(uv_idle_t *idle)
{
	struct raft_link *l = idle->data;
	struct pending_list batch = l->done;
	struct pending *p;

	/* Callbacks may send more: those wait for the next iteration. */
	list_init(&l->done);
	uv_idle_stop(&l->idle);
	while ((p = list_pop(&batch)) != NULL) {
		struct raft_io_send *req = p->req;
		int status = p->status;

		free(p);
		if (req->cb != NULL)
			req->cb(req, status);
	}
}

/* Raft hears about @p (its frame sent, dropped or never sent) on the next
 * loop iteration. */
static void done_later(struct raft_link *l, struct pending *p, int status)
{
	p->unsent = false;
	p->status = status;
	list_push(&l->done, p);
	if (l->done.n == 1 && l->idle_open)
		uv_idle_start(&l->idle, done_run);
}

/* At close: every callback now, with @status for those never sent. */
static void done_now(struct pending_list *q, int status)
{
	struct pending *p;

	while ((p = list_pop(q)) != NULL) {
		struct raft_io_send *req = p->req;
		int st = p->unsent ? status : p->status;

		free(p);
		if (req->cb != NULL)
			req->cb(req, st);
	}
}

/* --- outbound -------------------------------------------------------------- */

static void out_connect(struct link_out *o);

/* The bytes of @arg (a pending message) are out, or the connection failed
 * first (tunnel_sent_cb). */
static void out_sent(void *arg, int status)
{
	struct pending *p = arg;

	if (p->req == NULL) { /* raft heard at close */
		free(p);
		return;
	}
	list_remove(&p->o->inflight, p);
	if (status != 0)
		p->o->loss_reported = true;
	done_later(p->o->l, p, status == 0 ? 0 : RAFT_NOCONNECTION);
}

/* Write @p on @o's connection. raft hears once every byte is handed to the
 * kernel, or that the connection failed first (then it goes back to
 * probing: a snapshot that never arrived is sent again), as with raft_uv. */
static void out_write(struct link_out *o, struct pending *p)
{
	p->unsent = false;
	p->o = o;
	list_push(&o->inflight, p);
	if (peer_conn_sendv(o->conn, p->iov, p->iovcnt, out_sent, p) != 0) {
		list_remove(&o->inflight, p);
		done_later(o->l, p, RAFT_NOCONNECTION);
	}
}

static void out_flush(struct link_out *o)
{
	struct pending *p;

	while (o->conn != NULL && (p = list_pop(&o->queue)) != NULL)
		out_write(o, p);
}

static void out_msg(struct peer_conn *c, const struct peer_msg *m)
{
	struct link_out *o = peer_conn_data(c);

	(void)m;
	log_warn("node %llu wrote to the raft connection we opened to it; closing it",
		 (unsigned long long)o->id);
	peer_conn_close(c);
}

static void out_closed(struct peer_conn *c)
{
	struct link_out *o = peer_conn_data(c);

	if (o->conn == c) {
		o->conn = NULL;
		/* raft learns that a connection broke only from a send that
		 * fails, as with raft_uv, whose next write to it failed. A
		 * leader waiting for a snapshot's answer then sends it again
		 * at once instead of after its snapshot timeout (raft 0.15
		 * ignores the rejections of a node installing a snapshot).
		 * A message in flight that failed told it already. */
		o->broken = !o->loss_reported;
		o->loss_reported = false;
	} else {
		o->draining--; /* to a former address (out_get) */
	}
	if (o->l->closing) {
		out_maybe_free(o);
		return;
	}
	/* Messages raft sends meanwhile reopen it. */
	if (o->queue.n > 0)
		out_connect(o);
}

static void retry_closed(uv_handle_t *h)
{
	struct link_out *o = h->data;

	o->retry_open = false;
	out_maybe_free(o);
}

static void retry_fired(uv_timer_t *t)
{
	struct link_out *o = t->data;

	if (o->queue.n > 0 && o->conn == NULL && o->connecting_to[0] == '\0')
		out_connect(o);
}

static void out_connected(void *arg, struct tunnel *tun, uint64_t id, const char *address,
			  int status)
{
	struct link_out *o = arg;
	struct raft_link *l = o->l;
	bool same = strcmp(o->connecting_to, o->address) == 0;

	(void)id;
	(void)address;
	o->connecting_to[0] = '\0';
	if (status != 0 || l->closing || !same) {
		if (tun != NULL)
			tunnel_end(tun);
		if (l->closing) {
			out_maybe_free(o);
			return;
		}
		if (!same) { /* raft moved it meanwhile: the new address now */
			out_connect(o);
			return;
		}
		log_debug("raft connection to node %llu at %s failed: %s", (unsigned long long)o->id,
			  o->address, strerror(-status));
		/* What raft sends until the retry waits in the queue. */
		uv_timer_start(&o->retry, retry_fired, RAFT_LINK_RETRY_MS, 0);
		return;
	}
	o->loss_reported = false; /* of a former connection */
	o->conn = peer_conn_new(tun, o->id, out_msg, out_closed, o);
	if (o->conn == NULL) { /* gone already: as a failed attempt */
		uv_timer_start(&o->retry, retry_fired, RAFT_LINK_RETRY_MS, 0);
		return;
	}
	out_flush(o);
}

static void out_connect(struct link_out *o)
{
	int rv;

	if (o->conn != NULL || o->connecting_to[0] != '\0' || uv_is_active((uv_handle_t *)&o->retry))
		return;
	strcpy(o->connecting_to, o->address);
	rv = transport_connect_raft(o->l->rt, o->address, out_connected, o);
	if (rv != 0) {
		/* The callback will not run. */
		o->connecting_to[0] = '\0';
		uv_timer_start(&o->retry, retry_fired, RAFT_LINK_RETRY_MS, 0);
	}
}

static struct link_out *out_get(struct raft_link *l, uint64_t id, const char *address)
{
	struct link_out *o;

	for (o = l->outs; o != NULL; o = o->next)
		if (o->id == id)
			break;
	if (o == NULL) {
		o = calloc(1, sizeof(*o));
		if (o == NULL)
			return NULL;
		o->l = l;
		o->id = id;
		list_init(&o->queue);
		list_init(&o->inflight);
		uv_timer_init(l->loop, &o->retry);
		o->retry.data = o;
		o->retry_open = true;
		o->next = l->outs;
		l->outs = o;
	}
	if (strcmp(o->address, address) != 0) {
		/* A node that moved (or the first message): connect anew. */
		strcpy(o->address, address);
		uv_timer_stop(&o->retry);
		if (o->conn != NULL) {
			struct peer_conn *c = o->conn;

			o->conn = NULL;
			o->draining++; /* out_closed still comes, with @o */
			peer_conn_drop(c); /* raft hears of what it had not sent */
		}
	}
	return o;
}

/* @m as a pending message: our head, then raft's payloads. NULL if it
 * cannot be (out of memory, or longer than a frame can be). */
static struct pending *pending_new(const struct raft_message *m)
{
	size_t head = raft_wire_head_size(m), total = raft_wire_size(m);
	unsigned n = raft_wire_payloads(m, NULL, 0);
	/* One allocation: the pending, its iovecs, then the head they start
	 * with. */
	struct pending *p =
	    calloc(1, sizeof(*p) + (n + 1) * sizeof(p->iov[0]) + PEER_FRAME_HEAD + head);
	uint8_t *hd;

	if (p == NULL)
		return NULL;
	hd = (uint8_t *)&p->iov[n + 1];
	if (peer_frame_head(PEER_RAFT, total, hd) != 0) {
		log_warn("a raft message to node %llu is %zu bytes, more than a frame holds: not "
			 "sent",
			 (unsigned long long)m->server_id, total);
		free(p);
		return NULL;
	}
	raft_wire_encode_head(m, hd + PEER_FRAME_HEAD);
	p->iov[0] = (struct iovec){.iov_base = hd, .iov_len = PEER_FRAME_HEAD + head};
	raft_wire_payloads(m, p->iov + 1, n);
	p->iovcnt = (int)n + 1;
	p->unsent = true;
	return p;
}

/* Every failure is RAFT_NOCONNECTION: raft 0.15 takes any other error of a
 * send made while it handles a message as fatal (it becomes unavailable). */
int raft_link_send(struct raft_link *l, struct raft_io_send *req, const struct raft_message *m,
		   raft_io_send_cb cb)
{
	size_t alen;
	struct link_out *o;
	struct pending *p;

	if (l->closing || raft_wire_head_size(m) == 0)
		return RAFT_NOCONNECTION;
	alen = strlen(m->server_address);
	if (m->server_id == 0 || alen == 0 || alen > RAFT_WIRE_ADDRESS_MAX)
		return RAFT_NOCONNECTION;
	p = pending_new(m);
	if (p == NULL)
		return RAFT_NOCONNECTION;
	o = out_get(l, m->server_id, m->server_address);
	if (o == NULL) {
		free(p);
		return RAFT_NOCONNECTION;
	}
	req->cb = cb;
	p->req = req;
	if (o->broken) {
		o->broken = false;
		done_later(l, p, RAFT_NOCONNECTION);
		out_connect(o);
		return 0;
	}
	if (o->conn != NULL) {
		out_write(o, p);
		return 0;
	}
	if (o->queue.n == RAFT_LINK_QUEUE)
		done_later(l, list_pop(&o->queue), RAFT_NOCONNECTION);
	list_push(&o->queue, p);
	out_connect(o);
	return 0;
}

/* --- inbound --------------------------------------------------------------- */

static void in_msg(struct peer_conn *c, const struct peer_msg *pm)
{
	struct link_in *in = peer_conn_data(c);
	struct raft_link *l = in->l;
	struct raft_message m;
	int rv;

	if (pm->type != PEER_RAFT || pm->response) {
		log_warn("node %llu sent a frame of type %u on a raft connection; closing it",
			 (unsigned long long)in->id, pm->type);
		peer_conn_close(c);
		return;
	}
	rv = raft_wire_decode(pm->data, pm->len, &m);
	if (rv != 0) {
		log_warn("node %llu sent a raft message that cannot be decoded (%s); closing the "
			 "connection",
			 (unsigned long long)in->id, strerror(-rv));
		peer_conn_close(c);
		return;
	}
	m.server_id = in->id;
	m.server_address = in->address;
	if (l->closing || l->recv == NULL) {
		raft_wire_release(&m);
		return;
	}
	l->recv(l->arg, &m);
}

static void in_closed(struct peer_conn *c)
{
	struct link_in *in = peer_conn_data(c);
	struct raft_link *l = in->l;

	if (in->prev != NULL)
		in->prev->next = in->next;
	else
		l->ins = in->next;
	if (in->next != NULL)
		in->next->prev = in->prev;
	free(in);
	link_maybe_free(l);
}

static void in_accepted(void *arg, struct tunnel *tun, uint64_t id, const char *address,
			int status)
{
	struct raft_link *l = arg;
	struct link_in *in;

	if (status != 0 || tun == NULL)
		return;
	in = l->closing || strlen(address) > RAFT_WIRE_ADDRESS_MAX ? NULL : calloc(1, sizeof(*in));
	if (in == NULL) {
		tunnel_end(tun);
		return;
	}
	in->l = l;
	in->id = id;
	strcpy(in->address, address);
	in->next = l->ins;
	if (l->ins != NULL)
		l->ins->prev = in;
	l->ins = in;
	in->conn = peer_conn_new(tun, id, in_msg, in_closed, in);
	if (in->conn == NULL) {
		l->ins = in->next;
		if (l->ins != NULL)
			l->ins->prev = NULL;
		free(in);
		return;
	}
	peer_conn_set_max_frame(in->conn, PEER_MAX_RAFT_FRAME);
}

/* --- life ------------------------------------------------------------------ */

struct raft_link *raft_link_new(uv_loop_t *loop, struct raft_uv_transport *rt,
				raft_link_recv_cb recv, void *arg)
{
	struct raft_link *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->loop = loop;
	l->rt = rt;
	l->recv = recv;
	l->arg = arg;
	list_init(&l->done);
	uv_idle_init(loop, &l->idle);
	l->idle.data = l;
	l->idle_open = true;
	transport_set_raft_cb(rt, in_accepted, l);
	return l;
}

static void idle_closed(uv_handle_t *h)
{
	struct raft_link *l = h->data;

	l->idle_open = false;
	link_maybe_free(l);
}

void raft_link_close(struct raft_link *l)
{
	struct link_out *o, *next_out;
	struct link_in *in, *next_in;

	if (l == NULL || l->closing)
		return;
	l->closing = true;
	transport_set_raft_cb(l->rt, NULL, NULL);
	for (in = l->ins; in != NULL; in = next_in) {
		next_in = in->next;
		peer_conn_close(in->conn);
	}
	for (o = l->outs; o != NULL; o = next_out) {
		struct pending *p;

		next_out = o->next;
		/* What is not sealed yet is dropped now (to l->done): raft may
		 * free its payloads once called back. */
		if (o->conn != NULL)
			peer_conn_drop(o->conn);
		done_now(&o->queue, RAFT_CANCELED);
		/* All sealed: their writes still call back, later, only to
		 * free them. */
		while ((p = list_pop(&o->inflight)) != NULL) {
			struct raft_io_send *req = p->req;

			p->req = NULL;
			if (req->cb != NULL)
				req->cb(req, RAFT_CANCELED);
		}
		uv_close((uv_handle_t *)&o->retry, retry_closed);
	}
	done_now(&l->done, RAFT_CANCELED);
	uv_close((uv_handle_t *)&l->idle, idle_closed);
}

int raft_link_connections(const struct raft_link *l)
{
	const struct link_out *o;
	const struct link_in *in;
	int n = 0;

	for (o = l->outs; o != NULL; o = o->next)
		n += o->conn != NULL;
	for (in = l->ins; in != NULL; in = in->next)
		n++;
	return n;
}
