/*
 * Node protocol framing and connections; see peer.h.
 */
#include "peer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/le.h"
#include "../common/log.h"
#include "tunnel.h"

struct peer_conn {
	struct tunnel *tun; /* carries the connection (tunnel.h) */
	uint64_t peer_id;
	peer_msg_cb on_msg;
	peer_close_cb on_close;
	void *data;
	uint8_t *rbuf;
	size_t rlen, rcap;
	size_t max_frame; /* longest body accepted (PEER_MAX_FRAME unless set) */
	bool closing;
};

/* The longest body a frame of @type may have. */
static size_t frame_max(uint8_t type)
{
	return type == PEER_RAFT ? PEER_MAX_RAFT_FRAME : PEER_MAX_FRAME;
}

/* The length prefix and header of a frame of @m with @len bytes of data. */
static void frame_head(const struct peer_msg *m, size_t len, uint8_t *p)
{
	le_put(p, PEER_HEADER_SIZE + len, 4);
	p[4] = m->type;
	p[5] = m->response ? 1 : 0;
	le_put(p + 6, 0, 2);
	le_put(p + 8, m->seq, 8);
	le_put(p + 16, (uint64_t)m->status, 8);
	le_put(p + 24, m->value, 8);
	le_put(p + 32, len, 4);
}

int peer_encode(const struct peer_msg *m, void **out, size_t *out_len)
{
	uint8_t *p;

	if (m->type == 0 || m->type >= PEER_TYPE_MAX ||
	    PEER_HEADER_SIZE + (size_t)m->len > frame_max(m->type))
		return -EINVAL;
	p = malloc(PEER_FRAME_HEAD + m->len);
	if (p == NULL)
		return -ENOMEM;
	frame_head(m, m->len, p);
	if (m->len > 0)
		memcpy(p + PEER_FRAME_HEAD, m->data, m->len);
	*out = p;
	*out_len = PEER_FRAME_HEAD + m->len;
	return 0;
}

int peer_frame_head(uint8_t type, size_t len, uint8_t out[PEER_FRAME_HEAD])
{
	struct peer_msg m = {.type = type};

	if (type == 0 || type >= PEER_TYPE_MAX || len > frame_max(type) - PEER_HEADER_SIZE)
		return -EINVAL;
	frame_head(&m, len, out);
	return 0;
}

int peer_decode(const void *buf, size_t len, struct peer_msg *m)
{
	const uint8_t *p = buf;

	memset(m, 0, sizeof(*m));
	if (len < PEER_HEADER_SIZE)
		return -EINVAL;
	m->type = p[0];
	if (m->type == 0 || m->type >= PEER_TYPE_MAX || len > frame_max(m->type) || p[1] > 1 ||
	    le_get(p + 2, 2) != 0)
		return -EINVAL;
	m->response = p[1] == 1;
	m->seq = le_get(p + 4, 8);
	m->status = (int64_t)le_get(p + 12, 8);
	m->value = le_get(p + 20, 8);
	m->len = (uint32_t)le_get(p + 28, 4);
	if ((size_t)m->len != len - PEER_HEADER_SIZE)
		return -EINVAL;
	m->data = m->len > 0 ? p + 32 : NULL;
	return 0;
}

/* The tunnel ended (tunnel_end_cb): the connection goes. */
static void conn_tunnel_ended(void *arg)
{
	struct peer_conn *c = arg;

	c->closing = true;
	if (c->on_close != NULL)
		c->on_close(c);
	free(c->rbuf);
	free(c);
}

void peer_conn_close(struct peer_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	tunnel_end(c->tun);
}

/* The read buffer grows when less than PEER_READ_MIN bytes are free: to
 * the size of the frame being read once its length is known, else to at
 * least twice its size, so that a large frame arriving in many reads is
 * copied a logarithmic number of times, not once per read. */
#define PEER_READ_MIN 4096
#define PEER_READ_CHUNK 65536
#define PEER_READ_KEEP (1u << 20)

static void conn_alloc_for(struct peer_conn *c, uv_buf_t *buf)
{
	if (c->rcap - c->rlen < PEER_READ_MIN) {
		size_t cap = c->rcap * 2;
		uint8_t *grown;

		if (cap < c->rlen + PEER_READ_CHUNK)
			cap = c->rlen + PEER_READ_CHUNK;
		/* The first frame's length is known (frames start at 0): a
		 * large one (a snapshot) gets exactly its size, not up to
		 * twice it. */
		if (c->rlen >= 4) {
			size_t need = 4 + (size_t)le_get(c->rbuf, 4);

			if (need > c->rcap && need <= 4 + c->max_frame)
				cap = need > c->rlen + PEER_READ_CHUNK ? need : c->rlen + PEER_READ_CHUNK;
		}
		grown = realloc(c->rbuf, cap);

		if (grown == NULL) {
			buf->base = NULL;
			buf->len = 0;
			return;
		}
		c->rbuf = grown;
		c->rcap = cap;
	}
	buf->base = (char *)c->rbuf + c->rlen;
	buf->len = c->rcap - c->rlen;
}

/* Pass on every whole frame in the read buffer. */
static void conn_consume(struct peer_conn *c)
{
	size_t off = 0;

	while (!c->closing && c->rlen - off >= 4) {
		uint64_t body = le_get(c->rbuf + off, 4);
		struct peer_msg m;

		if (body > c->max_frame || body < PEER_HEADER_SIZE) {
			log_warn("node %llu sent a malformed frame; closing",
				 (unsigned long long)c->peer_id);
			peer_conn_close(c);
			return;
		}
		if (c->rlen - off < 4 + body)
			break;
		if (peer_decode(c->rbuf + off + 4, (size_t)body, &m) != 0) {
			log_warn("node %llu sent an undecodable frame; closing",
				 (unsigned long long)c->peer_id);
			peer_conn_close(c);
			return;
		}
		c->on_msg(c, &m);
		off += 4 + (size_t)body;
	}
	if (off > 0 && !c->closing) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
		/* A buffer grown for one large frame (a snapshot: up to the
		 * whole store) is given back once that frame is consumed. */
		if (c->rcap > PEER_READ_KEEP && c->rlen <= PEER_READ_CHUNK) {
			uint8_t *shrunk = realloc(c->rbuf, PEER_READ_CHUNK);

			if (shrunk != NULL) {
				c->rbuf = shrunk;
				c->rcap = PEER_READ_CHUNK;
			}
		}
	}
}

/* Plaintext from the tunnel (tunnel_data_cb): into the read buffer, then
 * every whole frame on. */
static void conn_tunnel_data(void *arg, const uint8_t *data, size_t len)
{
	struct peer_conn *c = arg;

	if (c->closing)
		return;
	while (len > 0) {
		uv_buf_t b;
		size_t n;

		/* Whole frames first: a buffer sized for one large frame then
		 * has room for the next instead of doubling. */
		if (c->rlen == c->rcap && c->rlen > 0) {
			conn_consume(c);
			if (c->closing)
				return;
		}
		conn_alloc_for(c, &b);
		if (b.base == NULL) {
			peer_conn_close(c);
			return;
		}
		n = len < b.len ? len : b.len;
		memcpy(b.base, data, n);
		c->rlen += n;
		data += n;
		len -= n;
	}
	conn_consume(c);
}

struct peer_conn *peer_conn_new(struct tunnel *tun, uint64_t peer_id, peer_msg_cb on_msg,
				peer_close_cb on_close, void *data)
{
	struct peer_conn *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		tunnel_end(tun);
		return NULL;
	}
	c->tun = tun;
	c->peer_id = peer_id;
	c->on_msg = on_msg;
	c->on_close = on_close;
	c->data = data;
	c->max_frame = PEER_MAX_FRAME;
	if (tunnel_start(tun, conn_tunnel_data, conn_tunnel_ended, c) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

/* A frame peer_conn_send encoded, freed once the tunnel is done with it
 * (tunnel_sent_cb). */
static void frame_sent(void *arg, int status)
{
	(void)status;
	free(arg);
}

int peer_conn_send(struct peer_conn *c, const struct peer_msg *m)
{
	void *frame;
	size_t len;
	int rv;

	if (c->closing)
		return -ENOTCONN;
	rv = peer_encode(m, &frame, &len);
	if (rv != 0)
		return rv;
	rv = tunnel_send(c->tun, frame, len, frame_sent, frame);
	if (rv != 0) {
		free(frame);
		peer_conn_close(c);
	}
	return rv;
}

int peer_conn_sendv(struct peer_conn *c, const struct iovec *iov, int iovcnt, tunnel_sent_cb sent,
		    void *arg)
{
	int rv;

	if (c->closing)
		return -ENOTCONN;
	rv = tunnel_sendv(c->tun, iov, iovcnt, sent, arg);
	if (rv != 0)
		peer_conn_close(c);
	return rv;
}

void peer_conn_drop(struct peer_conn *c)
{
	/* Also when already closing: an orderly end still sends what is
	 * queued, which its owner is about to free. */
	tunnel_cancel(c->tun);
	peer_conn_close(c);
}

size_t peer_conn_read_capacity(const struct peer_conn *c)
{
	return c->rcap;
}

void peer_conn_set_max_frame(struct peer_conn *c, size_t max)
{
	c->max_frame = max;
}

void *peer_conn_data(struct peer_conn *c)
{
	return c->data;
}

uint64_t peer_conn_id(struct peer_conn *c)
{
	return c->peer_id;
}
