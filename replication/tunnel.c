/*
 * The tunnel between a program and an authenticated TCP stream; see
 * tunnel.h. Frames are sealed.c's.
 *
 * A struct tunnel owns the stream (malloc'd, freed on close) and two
 * buffers: the ciphertext read but not yet opened (at most one frame and a
 * partial one: whole frames are opened as soon as they are complete) and
 * the plaintext of the frame just opened, handed to on_data. Each write has
 * its own request carrying its bytes. The tunnel is freed once its stream
 * has closed and its owner started it (on_end runs then) or ended it
 * without starting it; pending writes are cancelled (and freed) first.
 *
 * Loop thread only.
 */
#include "tunnel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"

struct tunnel {
	uv_loop_t *loop;
	uv_stream_t *stream;
	bool plain; /* no keys: bytes pass unsealed */
	tunnel_data_cb on_data;
	tunnel_end_cb on_end;
	void *arg;
	bool started; /* tunnel_start ran: the owner waits for on_end */
	bool dropped; /* ended before it was started: nobody waits */
	bool gone;    /* the stream closed before the owner decided */
	bool closing;
	bool ending;	  /* tunnel_end ran: nothing more is accepted */
	bool final_sent; /* the final frame (or the shutdown) is under way */
	uv_shutdown_t shutdown;
	struct tunnel_out *out_head, **out_tail; /* messages not yet all sealed */
	struct sealed_tx tx;
	struct sealed_rx rx;
	bool rx_ready; /* the peer's header arrived */
	uint8_t rx_key[SEALED_KEY_SIZE];
	char who[96];
	size_t net_len;
	uint8_t net[SEALED_MAX_FRAME];	 /* read, not yet opened */
	uint8_t plain_buf[SEALED_MAX_PLAIN]; /* the frame just opened */
	uint8_t seal_buf[SEALED_MAX_PLAIN];  /* the next frame to seal */
};

/* A message being sent: the caller's bytes (valid until @sent runs),
 * sealed and written TUNNEL_STEP at a time while the socket keeps up. */
struct tunnel_out {
	struct tunnel_out *next;
	tunnel_sent_cb sent;
	void *arg;
	size_t left; /* bytes not sealed yet */
	int cur;     /* iov[cur] + off is the next byte */
	size_t off;
	int iovcnt;
	struct iovec iov[];
};

struct tunnel_write {
	uv_write_t req;
	struct tunnel *t;
	bool final;
	tunnel_sent_cb sent; /* tunnel_send's caller hears how it went */
	void *sent_arg;
	uint8_t data[];
};

/* Tell the sender of @w how its bytes went, then free @w. */
static void write_free(struct tunnel_write *w, int status)
{
	if (w->sent != NULL)
		w->sent(w->sent_arg, status);
	free(w);
}

static int tunnels_open;

int tunnel_count(void)
{
	return tunnels_open;
}

/* One warning per refused connection, at most TUNNEL_LOG_PER_S a second. */
static void tunnel_warn(struct tunnel *t, const char *why)
{
	static uint64_t window;
	static unsigned in_window, suppressed;
	uint64_t now = uv_now(t->loop) / 1000;

	if (now != window) {
		window = now;
		in_window = 0;
	}
	if (in_window++ >= TUNNEL_LOG_PER_S) {
		suppressed++;
		return;
	}
	if (suppressed > 0)
		log_warn("dropped the connection with %s: %s (and %u more dropped since, not "
			 "logged)",
			 t->who, why, suppressed);
	else
		log_warn("dropped the connection with %s: %s", t->who, why);
	suppressed = 0;
}

static void tunnel_free(struct tunnel *t)
{
	sodium_memzero(t, sizeof(*t));
	free(t);
	tunnels_open--;
}

static void stream_closed(uv_handle_t *h)
{
	struct tunnel *t = h->data;

	free(h);
	if (t->started) {
		if (t->on_end != NULL)
			t->on_end(t->arg);
		tunnel_free(t);
	} else if (t->dropped) {
		tunnel_free(t);
	} else {
		t->gone = true; /* tunnel_start or tunnel_end frees it */
	}
}

/* Drop every message not yet all sealed: their senders hear -ECANCELED
 * now, and none of their bytes is read again. The list is detached first:
 * a sender told may send again (that goes to a fresh queue). */
static void out_cancel(struct tunnel *t)
{
	struct tunnel_out *o = t->out_head, *next;

	t->out_head = NULL;
	t->out_tail = &t->out_head;
	for (; o != NULL; o = next) {
		next = o->next;
		if (o->sent != NULL)
			o->sent(o->arg, -ECANCELED);
		free(o);
	}
}

static void tunnel_close(struct tunnel *t)
{
	if (t->closing)
		return;
	t->closing = true;
	out_cancel(t);
	/* A program tearing its loop down may have closed our stream itself
	 * (uv_walk): then it is not ours to close again. */
	if (!uv_is_closing((uv_handle_t *)t->stream))
		uv_close((uv_handle_t *)t->stream, stream_closed);
}

static void out_pump(struct tunnel *t);

static void write_done(uv_write_t *req, int status)
{
	struct tunnel_write *w = req->data;
	struct tunnel *t = w->t;
	bool final = w->final;

	write_free(w, status);
	if (t->closing)
		return;
	if (status != 0) {
		log_debug("connection with %s: write failed: %s", t->who, uv_strerror(status));
		tunnel_close(t);
	} else if (final) {
		tunnel_close(t); /* the final frame is out: we are done */
	} else {
		out_pump(t); /* the socket took more: the next step */
	}
}

static struct tunnel_write *write_new(struct tunnel *t, size_t len)
{
	struct tunnel_write *w = malloc(sizeof(*w) + len);

	if (w != NULL) {
		w->t = t;
		w->final = false;
		w->sent = NULL;
		w->sent_arg = NULL;
		w->req.data = w;
	}
	return w;
}

/* Write @len bytes of @w and free @w once they are out. What the socket
 * takes at once is written now (uv_try_write: no request, no callback on a
 * later loop turn); only a remainder is queued. */
static void write_out(struct tunnel *t, struct tunnel_write *w, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
	int n = uv_try_write(t->stream, &b, 1);

	if (n == (int)len) {
		bool final = w->final;

		write_free(w, 0);
		if (final)
			tunnel_close(t); /* the final frame is out: we are done */
		return;
	}
	if (n < 0 && n != UV_EAGAIN) {
		write_free(w, n);
		log_debug("connection with %s: write failed: %s", t->who, uv_strerror(n));
		tunnel_close(t);
		return;
	}
	if (n > 0) {
		b.base += n;
		b.len -= (size_t)n;
	}
	n = uv_write(&w->req, t->stream, &b, 1, write_done);
	if (n != 0) {
		write_free(w, n);
		tunnel_close(t);
	}
}

/* --- reading ---------------------------------------------------------------- */

static void net_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct tunnel *t = h->data;

	(void)suggested;
	buf->base = (char *)t->net + t->net_len;
	buf->len = sizeof(t->net) - t->net_len;
}

/* Open one complete frame at @p (@size bytes) and pass its plaintext on. */
static bool open_frame(struct tunnel *t, const uint8_t *p, size_t size)
{
	long n = sealed_open(&t->rx, p, size, t->plain_buf);

	if (n < 0) {
		tunnel_warn(t, sealed_strerror((int)n));
		tunnel_close(t);
		return false;
	}
	if (n > 0 && !t->ending)
		t->on_data(t->arg, t->plain_buf, (size_t)n);
	return !t->closing;
}

/* Consume what is complete in t->net: the header, then whole frames. */
static void net_consume(struct tunnel *t)
{
	size_t off = 0;

	while (!t->closing) {
		size_t avail = t->net_len - off;
		long size;

		if (!t->rx_ready) {
			if (avail < SEALED_HEADER_SIZE)
				break;
			if (sealed_rx_init(&t->rx, t->rx_key, t->net + off) != 0) {
				tunnel_warn(t, "a bad stream header");
				tunnel_close(t);
				return;
			}
			sodium_memzero(t->rx_key, sizeof(t->rx_key));
			t->rx_ready = true;
			off += SEALED_HEADER_SIZE;
			continue;
		}
		if (avail > 0 && t->rx.finished) {
			tunnel_warn(t, sealed_strerror(SEALED_E_AFTER_FINAL));
			tunnel_close(t);
			return;
		}
		if (avail < SEALED_PREFIX_SIZE)
			break;
		size = sealed_frame_size(t->net + off);
		if (size < 0) {
			tunnel_warn(t, sealed_strerror((int)size));
			tunnel_close(t);
			return;
		}
		if (avail < (size_t)size)
			break;
		if (!open_frame(t, t->net + off, (size_t)size))
			return;
		off += (size_t)size;
	}
	if (off > 0 && !t->closing) {
		memmove(t->net, t->net + off, t->net_len - off);
		t->net_len -= off;
	}
}

static void net_ended(struct tunnel *t, ssize_t nread)
{
	if (nread != UV_EOF)
		log_debug("connection with %s: %s", t->who, uv_strerror((int)nread));
	else if (t->rx.finished || t->plain)
		; /* an orderly end */
	else if (t->net_len > 0)
		tunnel_warn(t, "the stream was cut inside a frame");
	else
		log_info("connection with %s ended without its final frame (the peer stopped, "
			 "or the connection was cut)",
			 t->who);
	tunnel_close(t);
}

static void net_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct tunnel *t = s->data;

	(void)buf;
	if (t->closing || nread == 0)
		return;
	if (nread < 0) {
		net_ended(t, nread);
		return;
	}
	if (t->plain) {
		if (!t->ending)
			t->on_data(t->arg, t->net, (size_t)nread);
		return;
	}
	t->net_len += (size_t)nread;
	net_consume(t);
}

/* --- setup, sending, ending ------------------------------------------------------ */

static void free_handle(uv_handle_t *h)
{
	free(h);
}

struct tunnel *tunnel_new(uv_loop_t *loop, uv_stream_t *stream, const uint8_t *tx_key,
			  const uint8_t *rx_key, const char *who)
{
	struct tunnel *t = calloc(1, sizeof(*t));
	struct tunnel_write *w;

	if (t == NULL) {
		uv_close((uv_handle_t *)stream, free_handle);
		return NULL;
	}
	t->loop = loop;
	t->stream = stream;
	stream->data = t;
	t->plain = tx_key == NULL || rx_key == NULL;
	t->out_tail = &t->out_head;
	snprintf(t->who, sizeof(t->who), "%s", who);
	tunnels_open++;
	if (t->plain)
		return t;
	memcpy(t->rx_key, rx_key, SEALED_KEY_SIZE);
	w = write_new(t, SEALED_HEADER_SIZE);
	if (w == NULL) {
		tunnel_close(t); /* its owner sees it end */
		return t;
	}
	sealed_tx_init(&t->tx, tx_key, w->data);
	write_out(t, w, SEALED_HEADER_SIZE);
	return t;
}

int tunnel_start(struct tunnel *t, tunnel_data_cb on_data, tunnel_end_cb on_end, void *arg)
{
	if (t->gone) {
		tunnel_free(t);
		return -ENOTCONN;
	}
	t->started = true;
	t->on_data = on_data;
	t->on_end = on_end;
	t->arg = arg;
	if (!t->closing)
		uv_read_start(t->stream, net_alloc, net_read);
	return 0;
}

/* A plain tunnel's end: everything written, then the socket shut down. */
static void shutdown_done(uv_shutdown_t *req, int status)
{
	(void)status;
	tunnel_close(req->data);
}

/* The final frame, or a plain tunnel's shutdown, once nothing is queued. */
static void send_final(struct tunnel *t)
{
	struct tunnel_write *w;

	if (t->closing || t->final_sent || t->out_head != NULL)
		return;
	t->final_sent = true;
	if (t->plain) {
		t->shutdown.data = t;
		if (uv_shutdown(&t->shutdown, t->stream, shutdown_done) != 0)
			tunnel_close(t);
		return;
	}
	w = write_new(t, SEALED_PREFIX_SIZE + SEALED_ABYTES);
	if (w == NULL) {
		tunnel_close(t);
		return;
	}
	w->final = true;
	write_out(t, w, sealed_seal(&t->tx, NULL, 0, true, w->data));
}

/* Copy the next @n bytes of @o into @dst. */
static void out_take(struct tunnel_out *o, uint8_t *dst, size_t n)
{
	while (n > 0) {
		const struct iovec *v = &o->iov[o->cur];
		size_t k = v->iov_len - o->off < n ? v->iov_len - o->off : n;

		memcpy(dst, (const uint8_t *)v->iov_base + o->off, k);
		dst += k;
		n -= k;
		o->left -= k;
		o->off += k;
		if (o->off == v->iov_len) {
			o->cur++;
			o->off = 0;
		}
	}
}

/* Seal and write the queued messages, a step (TUNNEL_STEP bytes, in frames
 * of at most SEALED_MAX_PLAIN) at a time, for as long as the socket takes
 * them: a message as large as the whole store neither stalls the loop
 * while it is sealed nor sits sealed in memory at once. A message's sender
 * is told with the write of its last step. Then the final frame, if
 * tunnel_end asked for it. */
static void out_pump(struct tunnel *t)
{
	while (t->out_head != NULL && !t->closing &&
	       uv_stream_get_write_queue_size(t->stream) < TUNNEL_STEP) {
		struct tunnel_out *o = t->out_head;
		size_t n = o->left < TUNNEL_STEP ? o->left : TUNNEL_STEP;
		size_t frames = t->plain ? 0 : n / SEALED_MAX_PLAIN + (n % SEALED_MAX_PLAIN != 0);
		struct tunnel_write *w = write_new(t, n + frames * (SEALED_PREFIX_SIZE + SEALED_ABYTES));
		size_t off = 0;

		if (w == NULL) {
			tunnel_close(t);
			return;
		}
		if (t->plain) {
			out_take(o, w->data, n);
			off = n;
		}
		while (!t->plain && n > 0) {
			size_t k = n < SEALED_MAX_PLAIN ? n : SEALED_MAX_PLAIN;

			out_take(o, t->seal_buf, k);
			off += sealed_seal(&t->tx, t->seal_buf, k, false, w->data + off);
			n -= k;
		}
		if (o->left == 0) {
			t->out_head = o->next;
			if (t->out_head == NULL)
				t->out_tail = &t->out_head;
			w->sent = o->sent;
			w->sent_arg = o->arg;
			free(o);
		}
		write_out(t, w, off);
	}
	if (t->ending)
		send_final(t);
}

int tunnel_sendv(struct tunnel *t, const struct iovec *iov, int iovcnt, tunnel_sent_cb sent,
		 void *arg)
{
	struct tunnel_out *o;
	size_t total = 0;

	if (t->closing || t->ending)
		return -ENOTCONN;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total == 0) {
		if (sent != NULL)
			sent(arg, 0);
		return 0;
	}
	o = malloc(sizeof(*o) + (size_t)iovcnt * sizeof(o->iov[0]));
	if (o == NULL)
		return -ENOMEM;
	o->next = NULL;
	o->sent = sent;
	o->arg = arg;
	o->left = total;
	o->cur = 0;
	o->off = 0;
	o->iovcnt = iovcnt;
	memcpy(o->iov, iov, (size_t)iovcnt * sizeof(o->iov[0]));
	while (o->iov[o->cur].iov_len == 0) /* total > 0: one is not empty */
		o->cur++;
	*t->out_tail = o;
	t->out_tail = &o->next;
	out_pump(t);
	return 0; /* @sent was told, or will be */
}

int tunnel_send(struct tunnel *t, const void *data, size_t len, tunnel_sent_cb sent, void *arg)
{
	struct iovec v = {.iov_base = (void *)data, .iov_len = len};

	return tunnel_sendv(t, &v, 1, sent, arg);
}

size_t tunnel_queued(const struct tunnel *t)
{
	return uv_stream_get_write_queue_size(t->stream);
}

void tunnel_cancel(struct tunnel *t)
{
	/* A message may have been cut short on the wire: nothing may follow
	 * it but the end. */
	t->ending = true;
	out_cancel(t);
	send_final(t);
}

void tunnel_end(struct tunnel *t)
{
	if (!t->started) {
		t->dropped = true;
		if (t->gone) {
			tunnel_free(t);
			return;
		}
	}
	if (t->closing || t->ending)
		return;
	t->ending = true;
	send_final(t);
}
